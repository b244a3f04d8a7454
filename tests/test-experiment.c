/* Tests of experiment files: validation against the core's and plugins'
 * specs, every class of error message, --set overrides, the resolved
 * experiment, and hostile input (core/experiment.c). */
#include "config.h"

#include <stdlib.h>
#include <string.h>
#include <glib/gstdio.h>
#include <check.h>
#include <derl/derl.h>
#include "test-util.h"

static DerlRegistry *registry;

static void
setup (void)
{
  registry = derl_test_registry ();
}

static void
teardown (void)
{
  derl_registry_free (registry);
}

#define FIXTURE "[env]\nname = fixture-env\ntoken = t0\n"

static DerlExperiment *
load (const char *text, const char *const *overrides, GError **error)
{
  return derl_experiment_load_data (registry, text, strlen (text), "exp.ini", overrides, error);
}

/* Loading @text fails with @code and a message holding every needle. */
static void
assert_fails (const char *text, const char *const *overrides, int code, ...)
{
  GError *error = NULL;
  DerlExperiment *e = load (text, overrides, &error);
  va_list ap;
  const char *needle;

  ck_assert_msg (e == NULL, "accepted:\n%s", text);
  ck_assert_ptr_nonnull (error);
  ck_assert_msg (g_error_matches (error, DERL_EXPERIMENT_ERROR, code), "code %d, expected %d: %s",
                 error->code, code, error->message);
  va_start (ap, code);
  while ((needle = va_arg (ap, const char *)))
    ck_assert_msg (strstr (error->message, needle), "'%s' not in:\n%s", needle, error->message);
  va_end (ap);
  g_error_free (error);
}

START_TEST (test_minimal_gets_defaults)
{
  GError *error = NULL;
  DerlExperiment *e = load ("[env]\nname = cartpole\n", NULL, &error);
  ck_assert_msg (e != NULL, "%s", error ? error->message : "");
  const DerlParams *ex = derl_experiment_get_params (e, "experiment");
  ck_assert_str_eq (derl_params_get_string (ex, "mode"), "evaluate");
  ck_assert_int_eq (derl_params_get_int (ex, "seed"), 0);
  ck_assert_int_eq (derl_params_get_int (ex, "threads"), 0);
  ck_assert_uint_eq (derl_experiment_get_threads (e), MAX (g_get_num_processors (), 1));
  ck_assert_int_eq (derl_params_get_int (derl_experiment_get_params (e, "evaluate"), "episodes"), 100);
  ck_assert_int_eq (derl_params_get_int (derl_experiment_get_params (e, "env"), "max_steps"), 500);
  ck_assert_str_eq (derl_feature_get_name (derl_experiment_get_feature (e, DERL_FEATURE_ENV)), "cartpole");
  ck_assert_ptr_null (derl_experiment_get_feature (e, DERL_FEATURE_OPTIMIZER));
  ck_assert_ptr_null (derl_experiment_get_params (e, "nope"));
  ck_assert_str_eq (derl_experiment_get_label (e), "exp.ini");
  derl_experiment_free (e);
}
END_TEST

START_TEST (test_every_type_of_plugin_param)
{
  GError *error = NULL;
  DerlExperiment *e = load ("[experiment]\nseed = 12\n"
                            "[evaluate]\nsplit = train\n"
                            "[env]\nname = fixture-env\ntoken = abc\nlength = 7\nscale = 0.75\n"
                            "verbose = yes\nlabel = two words\ncolour = blue\nshapes = triangle;circle\n"
                            "tags = a, b\nrate = 2.5e2\n",
                            NULL, &error);
  ck_assert_msg (e != NULL, "%s", error ? error->message : "");
  const DerlParams *p = derl_experiment_get_params (e, "env");
  ck_assert_int_eq (derl_params_get_int (p, "length"), 7);
  ck_assert_double_eq (derl_params_get_double (p, "scale"), 0.75);
  ck_assert (derl_params_get_bool (p, "verbose"));
  ck_assert_str_eq (derl_params_get_string (p, "label"), "two words");
  ck_assert_uint_eq (derl_params_get_enum (p, "colour"), 2);
  ck_assert_str_eq (derl_params_get_text (p, "shapes"), "triangle,circle");
  ck_assert_str_eq (derl_params_get_list (p, "tags")[1], "b");
  ck_assert_double_eq (derl_params_get_double (p, "rate"), 250.0);
  ck_assert_str_eq (derl_params_get_string (p, "token"), "abc");
  derl_experiment_free (e);
}
END_TEST

START_TEST (test_unknown_group)
{
  assert_fails ("[evn]\nname = cartpole\n[env]\nname = cartpole\n", NULL, DERL_EXPERIMENT_ERROR_UNKNOWN_GROUP,
                "exp.ini: [evn]: unknown group; did you mean 'env'?", NULL);
  assert_fails ("[env]\nname = cartpole\n[zzzzzzzz]\n", NULL, DERL_EXPERIMENT_ERROR_UNKNOWN_GROUP,
                "exp.ini: [zzzzzzzz]: unknown group (groups: experiment, evaluate, train, policy, primitives, reward, meta, env, optimizer, backend)", NULL);
}
END_TEST

START_TEST (test_unknown_key)
{
  assert_fails ("[env]\nname = cartpole\nmax_stepz = 3\n", NULL, DERL_EXPERIMENT_ERROR_UNKNOWN_KEY,
                "exp.ini: [env] max_stepz: unknown key for env 'cartpole'; did you mean 'max_steps'?", NULL);
  assert_fails ("[experiment]\nsede = 3\n[env]\nname = cartpole\n", NULL, DERL_EXPERIMENT_ERROR_UNKNOWN_KEY,
                "exp.ini: [experiment] sede: unknown key; did you mean 'seed'?", NULL);
  /* A key of one env is unknown to another. */
  assert_fails ("[env]\nname = cartpole\ntoken = x\n", NULL, DERL_EXPERIMENT_ERROR_UNKNOWN_KEY,
                "[env] token: unknown key for env 'cartpole'", NULL);
}
END_TEST

START_TEST (test_wrong_type)
{
  assert_fails ("[evaluate]\nepisodes = lots\n[env]\nname = cartpole\n", NULL,
                DERL_EXPERIMENT_ERROR_INVALID_VALUE,
                "exp.ini: [evaluate] episodes = lots: 'lots' is not an integer "
                "(expected an integer in [1, 10000000])", NULL);
  assert_fails (FIXTURE "scale = half\n", NULL, DERL_EXPERIMENT_ERROR_INVALID_VALUE,
                "exp.ini: [env] scale = half: 'half' is not a finite number (expected a number in [0, 1])",
                NULL);
  assert_fails (FIXTURE "verbose = sometimes\n", NULL, DERL_EXPERIMENT_ERROR_INVALID_VALUE,
                "[env] verbose = sometimes: 'sometimes' is not a boolean (expected true or false)", NULL);
}
END_TEST

START_TEST (test_out_of_range)
{
  assert_fails ("[experiment]\nthreads = 1025\n[env]\nname = cartpole\n", NULL, DERL_EXPERIMENT_ERROR_INVALID_VALUE,
                "exp.ini: [experiment] threads = 1025: 1025 is out of range (expected an integer in [0, 1024])", NULL);
  assert_fails ("[experiment]\nseed = -1\n[env]\nname = cartpole\n", NULL, DERL_EXPERIMENT_ERROR_INVALID_VALUE,
                "[experiment] seed = -1: -1 is out of range", NULL);
  assert_fails (FIXTURE "rate = -0.5\n", NULL, DERL_EXPERIMENT_ERROR_INVALID_VALUE,
                "[env] rate = -0.5: -0.5 is out of range (expected a number >= 0)", NULL);
}
END_TEST

START_TEST (test_bad_enum)
{
  assert_fails ("[experiment]\nmode = evalute\n[env]\nname = cartpole\n", NULL, DERL_EXPERIMENT_ERROR_INVALID_VALUE,
                "exp.ini: [experiment] mode = evalute: 'evalute' is not a valid choice (expected one of: "
                "evaluate, train, derl, derl-pop, random, fixed); did you mean 'evaluate'?", NULL);
  assert_fails (FIXTURE "colour = purple\n", NULL, DERL_EXPERIMENT_ERROR_INVALID_VALUE,
                "[env] colour = purple: 'purple' is not a valid choice (expected one of: red, green, blue)",
                NULL);
  assert_fails (FIXTURE "shapes = circle,sqare\n", NULL, DERL_EXPERIMENT_ERROR_INVALID_VALUE,
                "'sqare' is not a valid choice", "did you mean 'square'?", NULL);
  assert_fails ("[evaluate]\nsplit = tset\n[env]\nname = cartpole\n", NULL, DERL_EXPERIMENT_ERROR_INVALID_VALUE,
                "exp.ini: [evaluate] split = tset: env 'cartpole' has no such split "
                "(expected one of: train, val, test); did you mean 'test'?", NULL);
}
END_TEST

START_TEST (test_missing_required)
{
  assert_fails ("[env]\nname = fixture-env\n", NULL, DERL_EXPERIMENT_ERROR_MISSING_KEY,
                "exp.ini: [env] token: missing required key for env 'fixture-env' (expected a string)", NULL);
  assert_fails ("[experiment]\nseed = 1\n", NULL, DERL_EXPERIMENT_ERROR_MISSING_KEY,
                "exp.ini: [env] name: missing required key (expected the name of an env: ", "cartpole", NULL);
  assert_fails ("[env]\nname =\n", NULL, DERL_EXPERIMENT_ERROR_INVALID_VALUE, "[env] name: empty", NULL);
}
END_TEST

START_TEST (test_unknown_feature)
{
  assert_fails ("[env]\nname = cartpol\n", NULL, DERL_EXPERIMENT_ERROR_UNKNOWN_FEATURE,
                "exp.ini: [env] name: no env named 'cartpol'; did you mean 'cartpole'? (available: ", NULL);
  /* Naming a plugin that failed to load says why. */
  assert_fails ("[env]\nname = initfail\n", NULL, DERL_EXPERIMENT_ERROR_UNKNOWN_FEATURE,
                "no env named 'initfail'", "is unavailable: ", "fixture device /dev/derl-fixture not found",
                NULL);
  /* An unknown name lists, after the available features, the plugins that
   * failed to load, by file name, with their reasons. */
  assert_fails ("[env]\nname = gridx\n", NULL, DERL_EXPERIMENT_ERROR_UNKNOWN_FEATURE,
                "no env named 'gridx' (available: ", "; not loaded: ",
                "abi.so: built for plugin ABI 42", "unresolved.so: cannot open plugin: ",
                "undefined symbol: derl_fixture_missing_function",
                "initfail.so: plugin 'fixture-initfail' failed to initialise: ", NULL);
  assert_fails ("[env]\nname = cartpole\n[primitives]\ng1 = nosuchprim\n", NULL,
                DERL_EXPERIMENT_ERROR_UNKNOWN_FEATURE, "no primitive named 'nosuchprim'",
                "; not loaded: ", "abi.so: built for plugin ABI 42", NULL);
}
END_TEST

START_TEST (test_all_errors_reported)
{
  assert_fails ("[experiment]\nseed = x\nthreads = -1\n[evaluate]\nepisodes = 0\n[env]\nname = cartpole\n"
                "max_steps = 0\nfoo = 1\n",
                NULL, DERL_EXPERIMENT_ERROR_MULTIPLE, "[experiment] seed = x", "[experiment] threads = -1",
                "[evaluate] episodes = 0", "[env] max_steps = 0", "[env] foo: unknown key", NULL);
}
END_TEST

START_TEST (test_overrides)
{
  const char *const sets[] = { "experiment.seed=7", "env.max_steps = 20", "evaluate.split=train", NULL };
  GError *error = NULL;
  DerlExperiment *e = load ("[env]\nname = cartpole\nmax_steps = 100\n", sets, &error);
  ck_assert_msg (e != NULL, "%s", error ? error->message : "");
  ck_assert_int_eq (derl_params_get_int (derl_experiment_get_params (e, "experiment"), "seed"), 7);
  ck_assert_int_eq (derl_params_get_int (derl_experiment_get_params (e, "env"), "max_steps"), 20);
  ck_assert_str_eq (derl_params_get_string (derl_experiment_get_params (e, "evaluate"), "split"), "train");
  derl_experiment_free (e);

  /* An override can select the env, and is validated like the file. */
  const char *const env[] = { "env.name=fixture-env", "env.token=x", NULL };
  e = load ("[env]\nname = cartpole\n", env, &error);
  ck_assert_msg (e != NULL, "%s", error ? error->message : "");
  derl_experiment_free (e);

  const char *const bad_value[] = { "env.max_steps=many", NULL };
  assert_fails ("[env]\nname = cartpole\n", bad_value, DERL_EXPERIMENT_ERROR_INVALID_VALUE,
                "--set env.max_steps=many: [env] max_steps = many: 'many' is not an integer", NULL);
  const char *const bad_key[] = { "env.max_stepz=3", NULL };
  assert_fails ("[env]\nname = cartpole\n", bad_key, DERL_EXPERIMENT_ERROR_UNKNOWN_KEY,
                "--set env.max_stepz=3: [env] max_stepz: unknown key", "did you mean 'max_steps'?", NULL);
  const char *const bad_group[] = { "evn.name=cartpole", NULL };
  assert_fails ("[env]\nname = cartpole\n", bad_group, DERL_EXPERIMENT_ERROR_UNKNOWN_GROUP,
                "[evn]: unknown group; did you mean 'env'?", NULL);
  const char *const malformed[] = { "seed=3", NULL };
  assert_fails ("[env]\nname = cartpole\n", malformed, DERL_EXPERIMENT_ERROR_PARSE,
                "--set seed=3: expected GROUP.KEY=VALUE", NULL);
  const char *const brackets[] = { "env.a[b]=3", NULL };
  assert_fails ("[env]\nname = cartpole\n", brackets, DERL_EXPERIMENT_ERROR_PARSE, "not a valid group or key name",
                NULL);
}
END_TEST

START_TEST (test_resolved_round_trip)
{
  GError *error = NULL;
  DerlExperiment *e = load ("[experiment]\nseed = 3\n[env]\nname = fixture-env\ntoken = a\\nb\n"
                            "label = \\sleading space\n", NULL, &error);
  ck_assert_msg (e != NULL, "%s", error ? error->message : "");
  char *first = derl_experiment_to_data (e, NULL);
  ck_assert (strstr (first, "[experiment]") && strstr (first, "seed=3") && strstr (first, "episodes=100")
             && strstr (first, "name=fixture-env") && strstr (first, "# reward per step"));
  DerlExperiment *again = load (first, NULL, &error);
  ck_assert_msg (again != NULL, "%s\n%s", error ? error->message : "", first);
  ck_assert_str_eq (derl_params_get_string (derl_experiment_get_params (again, "env"), "token"), "a\nb");
  ck_assert_str_eq (derl_params_get_string (derl_experiment_get_params (again, "env"), "label"),
                    "leading space");
  char *second = derl_experiment_to_data (again, NULL);
  /* Same text but for the label in the header comment. */
  ck_assert_str_eq (strchr (first, '['), strchr (second, '['));
  g_free (first);
  g_free (second);
  derl_experiment_free (e);
  derl_experiment_free (again);
}
END_TEST

START_TEST (test_not_a_key_file)
{
  assert_fails ("this is not an ini file\n", NULL, DERL_EXPERIMENT_ERROR_PARSE,
                "exp.ini:1: not a valid experiment file: 'this is not an ini file' is neither", NULL);
  assert_fails ("[env\nname = cartpole\n", NULL, DERL_EXPERIMENT_ERROR_PARSE, "not a valid experiment file", NULL);
  GError *error = NULL;
  ck_assert_ptr_null (derl_experiment_load_data (registry, "[env]\0name=x", 12, "bin.ini", NULL, &error));
  ck_assert (strstr (error->message, "bin.ini: not a text file (byte 5 is NUL)"));
  g_clear_error (&error);
  assert_fails ("[env]\nname = cartpole\n# caf\xc3\n", NULL, DERL_EXPERIMENT_ERROR_READ,
                "exp.ini:3: not valid UTF-8 text", NULL);
}
END_TEST

START_TEST (test_files)
{
  GError *error = NULL;
  char *dir = g_dir_make_tmp ("derl-test-XXXXXX", NULL);
  char *huge = g_build_filename (dir, "huge.ini", NULL);
  char *missing = g_build_filename (dir, "missing.ini", NULL);
  char *data = g_malloc (DERL_EXPERIMENT_MAX_SIZE + 10);

  memset (data, '#', DERL_EXPERIMENT_MAX_SIZE + 10);
  ck_assert (g_file_set_contents (huge, data, DERL_EXPERIMENT_MAX_SIZE + 10, NULL));
  ck_assert_ptr_null (derl_experiment_load (registry, huge, NULL, &error));
  ck_assert (g_error_matches (error, DERL_EXPERIMENT_ERROR, DERL_EXPERIMENT_ERROR_READ));
  ck_assert (strstr (error->message, "huge.ini: too large for an experiment file"));
  g_clear_error (&error);
  ck_assert_ptr_null (derl_experiment_load (registry, missing, NULL, &error));
  ck_assert (strstr (error->message, "missing.ini") && strstr (error->message, "No such file"));
  g_clear_error (&error);
  ck_assert_ptr_null (derl_experiment_load (registry, dir, NULL, &error));
  ck_assert (strstr (error->message, "is a directory"));
  g_clear_error (&error);

  g_unlink (huge);
  g_rmdir (dir);
  g_free (data);
  g_free (huge);
  g_free (missing);
  g_free (dir);
}
END_TEST

/* Mutated, truncated and random experiment texts: each either loads or
 * fails with an experiment error; nothing crashes. */
START_TEST (test_hostile_mutations)
{
  static const char base[] =
    "# comment\n[experiment]\nmode = evaluate\nseed = 5\nthreads = 2\n[evaluate]\nepisodes = 3\n"
    "split = test\n[env]\nname = fixture-env\ntoken = tok\nshapes = circle;square\nscale = 0.5\n";
  const char noise[] = "[]=;,#\\\n \t\xff\xc3\x80\0abz019.-eE+";
  DerlRng rng;
  gsize n = sizeof base - 1;
  char *buf = g_malloc (4 * n + 1);

  derl_rng_init (&rng, 2024, 0, 0, 0, 0);
  for (int iter = 0; iter < 3000; iter++)
    {
      gsize len = n;
      memcpy (buf, base, n);
      if (iter < (int) n)
        len = (gsize) iter; /* every truncation */
      else
        for (int k = 0, edits = 1 + (int) derl_rng_below (&rng, 8); k < edits; k++)
          {
            gsize at = derl_rng_below (&rng, (guint32) len);
            switch (derl_rng_below (&rng, 3))
              {
              case 0:
                buf[at] = noise[derl_rng_below (&rng, sizeof noise - 1)];
                break;
              case 1:
                memmove (buf + at, buf + at + 1, len - at - 1);
                len--;
                break;
              default:
                if (len < 4 * n)
                  {
                    memmove (buf + at + 1, buf + at, len - at);
                    buf[at] = noise[derl_rng_below (&rng, sizeof noise - 1)];
                    len++;
                  }
              }
          }
      GError *error = NULL;
      DerlExperiment *e = derl_experiment_load_data (registry, buf, len, "fuzz.ini", NULL, &error);
      if (e)
        {
          char *text = derl_experiment_to_data (e, NULL);
          ck_assert_ptr_nonnull (text);
          g_free (text);
          derl_experiment_free (e);
          ck_assert_ptr_null (error);
        }
      else
        {
          ck_assert_ptr_nonnull (error);
          ck_assert (error->domain == DERL_EXPERIMENT_ERROR);
          ck_assert (g_str_has_prefix (error->message, "fuzz.ini") || g_str_has_prefix (error->message, "--set"));
          g_error_free (error);
        }
    }
  g_free (buf);
}
END_TEST

/* [backend] name = auto picks cudnn where it can be created here, else
 * cpu, and says why; the resolved experiment names the backend picked. */
static void
check_auto (DerlRegistry *r, const char *expect_name, const char *expect_note)
{
  const char *text = "[env]\nname = cartpole\n[backend]\nname = auto\n";
  GError *error = NULL;
  DerlExperiment *e = derl_experiment_load_data (r, text, strlen (text), "auto.ini", NULL, &error);

  ck_assert_msg (e != NULL, "%s", error ? error->message : "");
  ck_assert_str_eq (derl_feature_get_name (derl_experiment_get_feature (e, DERL_FEATURE_BACKEND)), expect_name);
  ck_assert_msg (g_str_has_prefix (derl_experiment_get_backend_note (e), expect_note), "note '%s', expected '%s...'",
                 derl_experiment_get_backend_note (e), expect_note);

  char *resolved = derl_experiment_to_data (e, NULL);
  char *name_line = g_strdup_printf ("\nname=%s\n", expect_name);
  char *comment = g_strdup_printf ("# name = auto: %s", derl_experiment_get_backend_note (e));
  ck_assert_msg (strstr (resolved, name_line) && strstr (resolved, comment), "%s", resolved);
  DerlExperiment *again = derl_experiment_load_data (r, resolved, strlen (resolved), "resolved.ini", NULL, &error);
  ck_assert_msg (again != NULL, "%s", error ? error->message : "");
  ck_assert_str_eq (derl_feature_get_name (derl_experiment_get_feature (again, DERL_FEATURE_BACKEND)), expect_name);
  ck_assert_ptr_null (derl_experiment_get_backend_note (again));
  derl_experiment_free (again);
  g_free (comment);
  g_free (name_line);
  g_free (resolved);
  derl_experiment_free (e);
}

START_TEST (test_backend_auto)
{
  /* without a cudnn backend */
  check_auto (registry, "cpu", "picked cpu (cudnn: not installed)");

  /* with the build tree's, where configure built it: picked when it runs
   * here, else passed over with the reason it gave */
  DerlRegistry *r = derl_test_registry_with_backends ();
  const DerlFeature *cudnn = derl_registry_find (r, DERL_FEATURE_BACKEND, "cudnn");
  if (!cudnn)
    check_auto (r, "cpu", "picked cpu (cudnn: not installed)");
  else
    {
      DerlParams *params = derl_params_new (derl_feature_get_params (cudnn));
      GError *error = NULL;
      DerlBackend *b = derl_backend_new (cudnn, params, &error);
      if (b)
        check_auto (r, "cudnn", "picked cudnn");
      else
        {
          char *note = g_strdup_printf ("picked cpu (cudnn: %s)", error->message);
          check_auto (r, "cpu", note);
          g_free (note);
          g_error_free (error);
        }
      derl_backend_free (b);
      derl_params_free (params);
    }
  derl_registry_free (r);

  /* a named backend has no note */
  DerlExperiment *e = load ("[env]\nname = cartpole\n[backend]\nname = cpu\n", NULL, NULL);
  ck_assert_ptr_nonnull (e);
  ck_assert_ptr_null (derl_experiment_get_backend_note (e));
  derl_experiment_free (e);
}
END_TEST

static Suite *
experiment_suite (void)
{
  Suite *s = suite_create ("experiment");
  TCase *tc = tcase_create ("core");
  tcase_add_checked_fixture (tc, setup, teardown);
  tcase_add_test (tc, test_minimal_gets_defaults);
  tcase_add_test (tc, test_every_type_of_plugin_param);
  tcase_add_test (tc, test_unknown_group);
  tcase_add_test (tc, test_unknown_key);
  tcase_add_test (tc, test_wrong_type);
  tcase_add_test (tc, test_out_of_range);
  tcase_add_test (tc, test_bad_enum);
  tcase_add_test (tc, test_missing_required);
  tcase_add_test (tc, test_unknown_feature);
  tcase_add_test (tc, test_all_errors_reported);
  tcase_add_test (tc, test_overrides);
  tcase_add_test (tc, test_resolved_round_trip);
  tcase_add_test (tc, test_not_a_key_file);
  tcase_add_test (tc, test_files);
  tcase_add_test (tc, test_hostile_mutations);
  tcase_add_test (tc, test_backend_auto);
  suite_add_tcase (s, tc);
  return s;
}

DERL_TEST_MAIN (experiment_suite)
