/* Tests of parameter specs and value parsing (core/param.c). */
#include <stdlib.h>
#include <string.h>
#include <check.h>
#include <derl/derl.h>
#include "test-util.h"

static const char *const fruit[] = { "apple", "banana", "cherry", NULL };

static const DerlParamSpec specs[] = {
  DERL_PARAM_INT_RANGE ("count", "3", 1, 10, "an int"),
  DERL_PARAM_INT_MIN ("big", "0", 0, "an int >= 0"),
  DERL_PARAM_DOUBLE_RANGE ("ratio", "0.25", 0, 1, "a double"),
  DERL_PARAM_BOOL ("flag", "yes", "a bool"),
  DERL_PARAM_STRING ("text", "hello world", "a string"),
  DERL_PARAM_ENUM ("fruit", "banana", fruit, "an enum"),
  DERL_PARAM_LIST ("basket", "apple; cherry", fruit, "a list"),
  { "must", DERL_PARAM_INT, DERL_PARAM_REQUIRED, NULL, 0, 0, NULL, "required", { NULL } },
  DERL_PARAM_END
};

static void
assert_set_fails (DerlParams *p, const char *name, const char *text, const char *needle)
{
  GError *error = NULL;
  ck_assert_msg (!derl_params_set (p, name, text, &error), "%s = '%s' was accepted", name, text);
  ck_assert_ptr_nonnull (error);
  ck_assert_msg (strstr (error->message, needle), "'%s' not in: %s", needle, error->message);
  g_error_free (error);
}

START_TEST (test_defaults)
{
  GError *error = NULL;
  ck_assert (derl_param_specs_check (specs, "test", &error));
  DerlParams *p = derl_params_new (specs);
  ck_assert_int_eq (derl_params_get_int (p, "count"), 3);
  ck_assert_double_eq (derl_params_get_double (p, "ratio"), 0.25);
  ck_assert (derl_params_get_bool (p, "flag"));
  ck_assert_str_eq (derl_params_get_text (p, "flag"), "true");
  ck_assert_str_eq (derl_params_get_string (p, "text"), "hello world");
  ck_assert_str_eq (derl_params_get_string (p, "fruit"), "banana");
  ck_assert_uint_eq (derl_params_get_enum (p, "fruit"), 1);
  const char *const *basket = derl_params_get_list (p, "basket");
  ck_assert_str_eq (basket[0], "apple");
  ck_assert_str_eq (basket[1], "cherry");
  ck_assert_ptr_null (basket[2]);
  ck_assert_str_eq (derl_params_get_text (p, "basket"), "apple,cherry");
  ck_assert (!derl_params_is_set (p, "must"));
  ck_assert_ptr_null (derl_params_get_text (p, "must"));
  derl_params_free (p);
}
END_TEST

START_TEST (test_parse_values)
{
  DerlParams *p = derl_params_new (specs);
  GError *error = NULL;
  ck_assert (derl_params_set (p, "count", " 10 ", &error));
  ck_assert_int_eq (derl_params_get_int (p, "count"), 10);
  ck_assert (derl_params_set (p, "big", "9223372036854775807", &error));
  ck_assert_int_eq (derl_params_get_int (p, "big"), G_MAXINT64);
  ck_assert (derl_params_set (p, "ratio", "1e-3", &error));
  ck_assert_double_eq (derl_params_get_double (p, "ratio"), 1e-3);
  ck_assert (derl_params_set (p, "flag", "False", &error));
  ck_assert (!derl_params_get_bool (p, "flag"));
  ck_assert (derl_params_set (p, "flag", "1", &error));
  ck_assert (derl_params_get_bool (p, "flag"));
  ck_assert (derl_params_set (p, "fruit", "cherry", &error));
  ck_assert_uint_eq (derl_params_get_enum (p, "fruit"), 2);
  ck_assert (derl_params_set (p, "basket", "banana,,apple ;", &error));
  ck_assert_str_eq (derl_params_get_text (p, "basket"), "banana,apple");
  ck_assert (derl_params_set (p, "basket", "", &error));
  ck_assert_ptr_null (derl_params_get_list (p, "basket")[0]);
  ck_assert (derl_params_set (p, "must", "-4", &error));
  ck_assert (derl_params_is_set (p, "must"));
  ck_assert_ptr_null (error);
  derl_params_free (p);
}
END_TEST

START_TEST (test_reject_values)
{
  DerlParams *p = derl_params_new (specs);
  assert_set_fails (p, "count", "abc", "'abc' is not an integer (expected an integer in [1, 10])");
  assert_set_fails (p, "count", "0", "0 is out of range (expected an integer in [1, 10])");
  assert_set_fails (p, "count", "11", "out of range");
  assert_set_fails (p, "count", "3.5", "not an integer");
  assert_set_fails (p, "count", "", "not an integer");
  assert_set_fails (p, "big", "-1", "expected an integer >= 0");
  assert_set_fails (p, "big", "99999999999999999999", "not an integer");
  assert_set_fails (p, "ratio", "nan", "not a finite number");
  assert_set_fails (p, "ratio", "inf", "not a finite number");
  assert_set_fails (p, "ratio", "0.5x", "not a finite number");
  assert_set_fails (p, "ratio", "1.5", "out of range (expected a number in [0, 1])");
  assert_set_fails (p, "flag", "maybe", "not a boolean (expected true or false)");
  assert_set_fails (p, "fruit", "banan", "did you mean 'banana'?");
  assert_set_fails (p, "fruit", "kiwi", "expected one of: apple, banana, cherry");
  assert_set_fails (p, "basket", "apple,chery", "'chery' is not a valid choice");
  assert_set_fails (p, "text", "\xff\xfe", "not valid UTF-8");
  assert_set_fails (p, "nope", "1", "unknown key 'nope'");
  /* A failed set keeps the previous value. */
  ck_assert_int_eq (derl_params_get_int (p, "count"), 3);
  derl_params_free (p);
}
END_TEST

static void
assert_specs_invalid (const DerlParamSpec *bad, const char *needle)
{
  GError *error = NULL;
  ck_assert (!derl_param_specs_check (bad, "env 'x'", &error));
  ck_assert_int_eq (error->code, DERL_PLUGIN_ERROR_INVALID);
  ck_assert_msg (strstr (error->message, needle), "'%s' not in: %s", needle, error->message);
  g_error_free (error);
}

START_TEST (test_malformed_specs)
{
  const DerlParamSpec out_of_range[] = { DERL_PARAM_INT_RANGE ("n", "12", 1, 10, "doc"), DERL_PARAM_END };
  const DerlParamSpec twice[] = { DERL_PARAM_BOOL ("n", "true", "doc"), DERL_PARAM_BOOL ("n", "true", "doc"),
                                  DERL_PARAM_END };
  const DerlParamSpec no_choices[] = { DERL_PARAM_ENUM ("n", "a", NULL, "doc"), DERL_PARAM_END };
  const DerlParamSpec bad_name[] = { DERL_PARAM_BOOL ("Bad-Name", "true", "doc"), DERL_PARAM_END };
  const DerlParamSpec reserved[] = { DERL_PARAM_STRING ("name", "x", "doc"), DERL_PARAM_END };
  const DerlParamSpec no_doc[] = { DERL_PARAM_BOOL ("n", "true", ""), DERL_PARAM_END };
  const DerlParamSpec no_default[] = { DERL_PARAM_STRING ("n", NULL, "doc"), DERL_PARAM_END };
  const DerlParamSpec bad_type[] = { { "n", (DerlParamType) 77, 0, "1", 0, 0, NULL, "doc", { NULL } },
                                     DERL_PARAM_END };

  assert_specs_invalid (out_of_range, "bad default: 12 is out of range");
  assert_specs_invalid (twice, "declared twice");
  assert_specs_invalid (no_choices, "has no choices");
  assert_specs_invalid (bad_name, "'Bad-Name'");
  assert_specs_invalid (reserved, "'name' is reserved");
  assert_specs_invalid (no_doc, "no doc line");
  assert_specs_invalid (no_default, "neither required nor has a default");
  assert_specs_invalid (bad_type, "unknown type 77");
}
END_TEST

START_TEST (test_describe)
{
  const char *expected[] = {
    "an integer in [1, 10]", "an integer >= 0", "a number in [0, 1]", "true or false", "a string",
    "one of: apple, banana, cherry", "a list separated by ',' of: apple, banana, cherry", "an integer",
  };
  for (guint i = 0; i < G_N_ELEMENTS (expected); i++)
    {
      char *d = derl_param_spec_describe (&specs[i]);
      ck_assert_str_eq (d, expected[i]);
      g_free (d);
    }
  ck_assert_str_eq (derl_param_type_name (DERL_PARAM_LIST), "list");
}
END_TEST

static Suite *
param_suite (void)
{
  Suite *s = suite_create ("param");
  TCase *tc = tcase_create ("core");
  tcase_add_test (tc, test_defaults);
  tcase_add_test (tc, test_parse_values);
  tcase_add_test (tc, test_reject_values);
  tcase_add_test (tc, test_malformed_specs);
  tcase_add_test (tc, test_describe);
  suite_add_tcase (s, tc);
  return s;
}

DERL_TEST_MAIN (param_suite)
