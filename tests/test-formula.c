/* Tests of the formula language and its token grammar (core/formula.c). */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <check.h>
#include <derl/derl.h>
#include "test-util.h"

/* Check's ck_assert records its location on every call, which costs a
 * write per assertion; the property loops below assert with these, which
 * call into Check only on failure. */
#define ASSERT(expr) do { if (G_UNLIKELY (!(expr))) ck_abort_msg ("Assertion '%s' failed", #expr); } while (0)
#define ASSERT_MSG(expr, ...) do { if (G_UNLIKELY (!(expr))) ck_abort_msg (__VA_ARGS__); } while (0)

/* Under `make check-valgrind` (DERL_TEST_SHORT set) the property tests run
 * fewer cases. */
static guint
scaled (guint n)
{
  return g_getenv ("DERL_TEST_SHORT") ? MAX (n / 20, 1) : n;
}

static const char *const names4[] = { "success", "early", "middle", "late" };

static DerlFormula *
parse_ok (const char *text, guint n_vars, const char *const *names)
{
  GError *error = NULL;
  DerlFormula *f = derl_formula_parse (text, -1, n_vars, names, &error);
  ASSERT_MSG (f != NULL, "'%s': %s", text, error ? error->message : "");
  return f;
}

/* Parsing @len bytes of @text fails with @code and a message holding
 * @needle. */
static void
assert_parse_fails_len (const char *text, gssize len, guint n_vars, const char *const *names, int code,
                        const char *needle)
{
  GError *error = NULL;
  DerlFormula *f = derl_formula_parse (text, len, n_vars, names, &error);
  ck_assert_msg (f == NULL, "'%s' was accepted", text);
  ck_assert_ptr_nonnull (error);
  ck_assert_msg (error->domain == DERL_FORMULA_ERROR && error->code == code, "'%s': code %d, not %d: %s", text,
                 error->code, code, error->message);
  ck_assert_msg (strstr (error->message, needle), "'%s': '%s' not in: %s", text, needle, error->message);
  g_error_free (error);
}

static void
assert_parse_fails (const char *text, int code, const char *needle)
{
  assert_parse_fails_len (text, -1, 4, names4, code, needle);
}

static gboolean
same_bits (double a, double b)
{
  if (isnan (a) || isnan (b))
    return isnan (a) && isnan (b);
  return memcmp (&a, &b, sizeof a) == 0;
}

/* ---------------------------------------------------------------- parsing and values */

START_TEST (test_precedence)
{
  static const double g[] = { 2, 3, 5, 7 };
  volatile double seven = 7, two = 2, three = 3; /* no constant folding in the expected values */
  const struct { const char *text; double expected; } cases[] = {
    { "g1 + g2 * g3", 17 },
    { "(g1 + g2) * g3", 25 },
    { "g1 - g2 - g3", -6 },
    { "g1 - (g2 - g3)", 4 },
    { "g4 / g1 / g2", seven / two / three },
    { "g4 / (g1 / g2)", seven / (two / three) },
    { "g1 * g2 / g4", two * three / seven },
    { "g1 - g2 + g3", 4 },
    { "-g1 * g2", -6 },
    { "-g1 + g2", 1 },
    { "g1 * -g2", -6 },
    { "-(g1 + g2)", -5 },
    { "g1 - -g2", 5 },
    { "-(-g1)", 2 },
    { "g1 + -g2 * g3", -13 },
    { "g1+g2*g3-g4/g1", 2 + 15 - 3.5 },
    { ".5 * g1", 1 },
    { "2. * g1", 4 },
    { "1e-3 * g4", 1e-3 * seven },
    { "2.5E+2 + g1", 252 },
    { "1e2 / g1", 50 },
    { "0e7 * g1", 0 },
    { "success + 0.5 * early", 3.5 },
    { "late - middle", 2 },
    { "g1 + (g2 * (g3 / 2)) - (g4 / 3)", 2 + 3 * (5 / 2.0) - seven / 3 },
    { "g1 + 0.5*g2 + 0.1*(g3 + g4)", 2 + 1.5 + 0.1 * 12 },
    { " \tg1\n*\r\ng2 ", 6 },
  };
  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autoptr (DerlFormula) f = parse_ok (cases[i].text, 4, names4);
      double v = derl_formula_eval (f, g);
      ck_assert_msg (same_bits (v, cases[i].expected), "'%s' = %.17g, expected %.17g", cases[i].text, v,
                     cases[i].expected);
    }
  /* -0: a negated zero keeps its sign */
  g_autoptr (DerlFormula) z = parse_ok ("-0 * g1", 4, NULL);
  ck_assert (signbit (derl_formula_eval (z, g)));
}
END_TEST

START_TEST (test_accessors)
{
  g_autoptr (DerlFormula) f = parse_ok ("g1 + (g3) * success", 4, names4);
  ck_assert_uint_eq (derl_formula_get_n_tokens (f), 7);
  ck_assert_uint_eq (derl_formula_get_n_vars (f), 4);
  ck_assert (derl_formula_uses (f, 0));
  ck_assert (!derl_formula_uses (f, 1));
  ck_assert (derl_formula_uses (f, 2));
  ck_assert (!derl_formula_uses (f, 3));
  ck_assert (!derl_formula_uses (f, 64));
  g_autoptr (DerlFormula) c = parse_ok ("(2)", 0, NULL);
  ck_assert_uint_eq (derl_formula_get_n_tokens (c), 3);
  ck_assert_double_eq (derl_formula_eval (c, (const double[]) { 0 }), 2);
}
END_TEST

START_TEST (test_print)
{
  const struct { const char *text, *canonical; } cases[] = {
    { "(g1 + g2) + g3", "g1 + g2 + g3" },
    { "g1 + (g2 + g3)", "g1 + (g2 + g3)" },
    { "g1 - (g2 - g3)", "g1 - (g2 - g3)" },
    { "g1 - (g2 + g3)", "g1 - (g2 + g3)" },
    { "(g1 - g2) - g3", "g1 - g2 - g3" },
    { "(g1 * g2) + g3", "g1 * g2 + g3" },
    { "g1 + (g2 * g3)", "g1 + g2 * g3" },
    { "g1 * (g2 + g3)", "g1 * (g2 + g3)" },
    { "(g1 + g2) * g3", "(g1 + g2) * g3" },
    { "g1 / (g2 * g3)", "g1 / (g2 * g3)" },
    { "(g1 / g2) * g3", "g1 / g2 * g3" },
    { "g1 * (g2 / g3)", "g1 * (g2 / g3)" },
    { "((((g1))))", "g1" },
    { "-(g1)", "-g1" },
    { "-(2)", "-2" },
    { "-(g1 * g2)", "-(g1 * g2)" },
    { "(-g1) * g2", "-g1 * g2" },
    { "-(-g1)", "-(-g1)" },
    { "g1--g2", "g1 - -g2" },
    { "g1*-g2", "g1 * -g2" },
    { "g1 * (-g2)", "g1 * -g2" },
    { "-(g1 + g2) / -(g3)", "-(g1 + g2) / -g3" },
    { "success+0.5*early", "g1 + 0.5 * g2" },
    { "g1 + (g2 * (g3 / 2)) - (g4 / 3)", "g1 + g2 * (g3 / 2) - g4 / 3" },
    { "g1 + 0.5*g2 + 0.1*(g3+g4)", "g1 + 0.5 * g2 + 0.1 * (g3 + g4)" },
    { ".5", "0.5" },
    { "2.50", "2.5" },
    { "2.", "2" },
    { "1e-3", "0.001" },
    { "1E+2", "100" },
    { "1e6", "1000000" },
    { "0.000001", "0.000001" },
    { "1.5e-6", "0.0000015" },
    { "0.1", "0.1" },
    { "0.30000000000000004", "0.30000000000000004" },
    { "0.3000000000000000000001", "0.3" },
    { "123456.789", "123456.789" },
    { "999999.9999999999", "999999.9999999999" },
    { "0e9", "0" },
    { "007", "7" },
  };
  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autoptr (DerlFormula) f = parse_ok (cases[i].text, 4, names4);
      g_autofree char *s = derl_formula_to_string (f);
      ck_assert_msg (strcmp (s, cases[i].canonical) == 0, "'%s' printed '%s', expected '%s'", cases[i].text, s,
                     cases[i].canonical);
      g_autoptr (DerlFormula) back = parse_ok (s, 4, NULL);
      ck_assert (derl_formula_equal (f, back));
    }
  /* the same tree whatever the spelling; a different tree is not equal */
  g_autoptr (DerlFormula) a = parse_ok ("g1+g2+g3", 4, NULL);
  g_autoptr (DerlFormula) b = parse_ok ("((success + (early))) + middle", 4, names4);
  g_autoptr (DerlFormula) c = parse_ok ("g1 + (g2 + g3)", 4, NULL);
  g_autoptr (DerlFormula) d = parse_ok ("g1 + g2 + 3", 4, NULL);
  ck_assert (derl_formula_equal (a, b));
  ck_assert (!derl_formula_equal (a, c));
  ck_assert (!derl_formula_equal (a, d));
}
END_TEST

START_TEST (test_aliases)
{
  static const char *const odd[] = { "format-ok", "g2", "_x9", "success", "success" };
  static const double g[] = { 1, 10, 100, 1000, 10000 };

  /* a name that is not an identifier, or is of the form gN, is no alias */
  g_autoptr (DerlFormula) f = parse_ok ("_x9 + g2 + success", 5, odd);
  ck_assert_double_eq (derl_formula_eval (f, g), 100 + 10 + 1000);
  g_autofree char *s = derl_formula_to_string (f);
  ck_assert_str_eq (s, "g3 + g2 + g4");
  assert_parse_fails_len ("format-ok", -1, 5, odd, DERL_FORMULA_ERROR_UNKNOWN_NAME, "'format' at column 1");
  /* names are case-sensitive; the suggestion names the closest */
  assert_parse_fails ("Success", DERL_FORMULA_ERROR_UNKNOWN_NAME, "did you mean 'success'?");
  assert_parse_fails ("g1 + eraly", DERL_FORMULA_ERROR_UNKNOWN_NAME, "unknown name 'eraly' at column 6 (did you mean 'early'?)");
  assert_parse_fails ("g1 + eraly", DERL_FORMULA_ERROR_UNKNOWN_NAME, "success (g1), early (g2)");
  assert_parse_fails ("G1", DERL_FORMULA_ERROR_UNKNOWN_NAME, "did you mean 'g1'?");
  /* without names only gN */
  assert_parse_fails_len ("success", -1, 4, NULL, DERL_FORMULA_ERROR_UNKNOWN_NAME,
                          "unknown name 'success' at column 1; the primitives are g1..g4");
}
END_TEST

START_TEST (test_errors)
{
  const struct { const char *text; int code; const char *needle; } cases[] = {
    { "", DERL_FORMULA_ERROR_SYNTAX, "empty formula at column 1" },
    { "  \t ", DERL_FORMULA_ERROR_SYNTAX, "empty formula at column 5" },
    { "g1 +", DERL_FORMULA_ERROR_SYNTAX, "unexpected end of formula at column 5: expected a primitive, a number, '(' or '-'" },
    { "g1 + * g2", DERL_FORMULA_ERROR_SYNTAX, "unexpected '*' at column 6" },
    { "*g1", DERL_FORMULA_ERROR_SYNTAX, "unexpected '*' at column 1" },
    { "()", DERL_FORMULA_ERROR_SYNTAX, "unexpected ')' at column 2" },
    { "(g1 + g2", DERL_FORMULA_ERROR_SYNTAX, "unbalanced parentheses: '(' at column 1 is never closed" },
    { "((g1) + g2", DERL_FORMULA_ERROR_SYNTAX, "'(' at column 1 is never closed" },
    { "g1 + g2)", DERL_FORMULA_ERROR_SYNTAX, "unbalanced parentheses: ')' at column 8 has no matching '('" },
    { "g1 g2", DERL_FORMULA_ERROR_SYNTAX, "unexpected 'g2' at column 4: expected an operator or the end of the formula" },
    { "(g1 g2)", DERL_FORMULA_ERROR_SYNTAX, "unexpected 'g2' at column 5: expected an operator or ')'" },
    { "g1 (g2)", DERL_FORMULA_ERROR_SYNTAX, "unexpected '(' at column 4" },
    { "--g1", DERL_FORMULA_ERROR_SYNTAX, "'-' at column 2 cannot follow a unary minus" },
    { "g1 * - -g2", DERL_FORMULA_ERROR_SYNTAX, "'-' at column 8 cannot follow a unary minus" },
    { "g1 - -", DERL_FORMULA_ERROR_SYNTAX, "unexpected end of formula at column 7: expected a primitive, a number or '('" },
    { "g1 ^ 2", DERL_FORMULA_ERROR_SYNTAX, "unexpected character '^' at column 4" },
    { "g1 + \x01", DERL_FORMULA_ERROR_SYNTAX, "control character 0x01 at column 6" },
    { "g1 \xc3\x97 g2", DERL_FORMULA_ERROR_SYNTAX, "non-ASCII byte 0xc3 at column 4" },
    { "1.2.3", DERL_FORMULA_ERROR_SYNTAX, "malformed number '1.2.3' at column 1" },
    { "g1 * 1e", DERL_FORMULA_ERROR_SYNTAX, "malformed number '1e' at column 6" },
    { "1e+ + g1", DERL_FORMULA_ERROR_SYNTAX, "malformed number '1e+' at column 1" },
    { "2g1", DERL_FORMULA_ERROR_SYNTAX, "malformed number '2g1' at column 1" },
    { "g1 + .", DERL_FORMULA_ERROR_SYNTAX, "malformed number '.' at column 6" },
    { "1e5e5", DERL_FORMULA_ERROR_SYNTAX, "malformed number '1e5e5'" },
    { "0x10", DERL_FORMULA_ERROR_SYNTAX, "malformed number '0x10'" },
    { "g1 * 1e999", DERL_FORMULA_ERROR_LIMIT, "constant '1e999' at column 6 is out of range" },
    { "1000001 * g1", DERL_FORMULA_ERROR_LIMIT, "constant '1000001' at column 1 is out of range" },
    { "0.0000009 * g1", DERL_FORMULA_ERROR_LIMIT, "constant '0.0000009' at column 1" },
    { "1e-400 * g1", DERL_FORMULA_ERROR_LIMIT, "constant '1e-400' at column 1" },
    { "nan", DERL_FORMULA_ERROR_UNKNOWN_NAME, "'nan' at column 1: a formula has no nan or inf constants" },
    { "g1 + Inf", DERL_FORMULA_ERROR_UNKNOWN_NAME, "'Inf' at column 6" },
    { "g0", DERL_FORMULA_ERROR_UNKNOWN_NAME, "unknown name 'g0' at column 1; the primitives are g1..g4" },
    { "g1 + g5", DERL_FORMULA_ERROR_UNKNOWN_NAME, "unknown name 'g5' at column 6; the primitives are g1..g4" },
    { "g999", DERL_FORMULA_ERROR_UNKNOWN_NAME, "unknown name 'g999'" },
    { "g01", DERL_FORMULA_ERROR_UNKNOWN_NAME, "unknown name 'g01'" },
    { "g99999999999999999999999", DERL_FORMULA_ERROR_UNKNOWN_NAME, "unknown name 'g99999999999999999999999'" },
    { "sucess", DERL_FORMULA_ERROR_UNKNOWN_NAME, "unknown name 'sucess' at column 1 (did you mean 'success'?)" },
  };
  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    assert_parse_fails (cases[i].text, cases[i].code, cases[i].needle);
  assert_parse_fails_len ("g1\0+g2", 5, 4, NULL, DERL_FORMULA_ERROR_SYNTAX, "NUL byte at column 3");
  assert_parse_fails_len ("x", -1, 0, NULL, DERL_FORMULA_ERROR_UNKNOWN_NAME, "this formula has no primitives");
  /* a long token is shortened in the message */
  g_autofree char *digits = g_strnfill (300, '9');
  assert_parse_fails (digits, DERL_FORMULA_ERROR_LIMIT, "'99999999999999999999999999999999...' at column 1");
}
END_TEST

START_TEST (test_limits)
{
  /* text length */
  g_autoptr (GString) s = g_string_new ("g1");
  while (s->len < DERL_FORMULA_MAX_LENGTH)
    g_string_append_c (s, ' ');
  g_autoptr (DerlFormula) longest = parse_ok (s->str, 4, NULL);
  g_string_append_c (s, ' ');
  assert_parse_fails (s->str, DERL_FORMULA_ERROR_LIMIT, "formula too long: 4097 bytes; the limit is 4096");

  /* tokens: g1 then 127 x "+g1" is 255 tokens; "+1" more is 257 */
  g_string_assign (s, "g1");
  for (guint i = 0; i < 127; i++)
    g_string_append (s, "+g1");
  g_autoptr (DerlFormula) many = parse_ok (s->str, 4, NULL);
  ck_assert_uint_eq (derl_formula_get_n_tokens (many), 255);
  ck_assert_double_eq (derl_formula_eval (many, (const double[]) { 1, 0, 0, 0 }), 128);
  g_string_append (s, "+(");
  assert_parse_fails (s->str, DERL_FORMULA_ERROR_LIMIT, "too many tokens: '(' at column 385 is token 257; the limit is 256");

  /* nesting */
  g_autofree char *open32 = g_strnfill (DERL_FORMULA_MAX_DEPTH, '('), *close32 = g_strnfill (DERL_FORMULA_MAX_DEPTH, ')');
  g_autofree char *deep = g_strconcat (open32, "g1", close32, NULL);
  g_autoptr (DerlFormula) deepest = parse_ok (deep, 4, NULL);
  g_autofree char *deeper = g_strconcat ("-(", open32, "g1", close32, ")", NULL);
  assert_parse_fails (deeper, DERL_FORMULA_ERROR_LIMIT, "nesting too deep: '(' at column 34 opens level 33; the limit is 32");

  /* constants: 0 or a magnitude in [1e-6, 1e6] */
  g_autoptr (DerlFormula) big = parse_ok ("1000000 * g1 + 0.000001 + 0", 4, NULL);
  ck_assert_double_eq (derl_formula_eval (big, (const double[]) { 2, 0, 0, 0 }), 2e6 + 1e-6);
  assert_parse_fails ("1000000.1", DERL_FORMULA_ERROR_LIMIT, "out of range");
  assert_parse_fails ("0.00000099", DERL_FORMULA_ERROR_LIMIT, "out of range");
}
END_TEST

/* ---------------------------------------------------------------- validity */

START_TEST (test_check)
{
  static const gboolean outcome[] = { TRUE, FALSE, FALSE, FALSE };
  static const gboolean outcome2[] = { FALSE, TRUE, FALSE, FALSE };
  const struct {
    const char *text;
    const gboolean *outcome;
    int code;          /* -1: valid */
    const char *needle;
  } cases[] = {
    { "g1", outcome, -1, NULL },
    { "g1 + 0.5*g2 + 0.1*(g3 + g4)", outcome, -1, NULL },
    { "g1 + (g2 * (g3 / 2)) - (g4 / 3)", NULL, -1, NULL },
    { "2 * 3", outcome, DERL_FORMULA_ERROR_NO_PRIMITIVE, "names no primitive (g1..g4)" },
    { "g1 / (g2 - g2)", outcome, DERL_FORMULA_ERROR_NOT_FINITE, "'/' at column 4 divides by zero at probe point 1" },
    { "g2 / (g1 - 1)", outcome, DERL_FORMULA_ERROR_NOT_FINITE, "divides by zero at probe point 1 (outcome-like primitives at 1, the others at 1e-6)" },
    { "g2 / (g1 - 1)", NULL, -1, NULL },
    { "g2 / (g1 - 1)", outcome2, -1, NULL },
    { "g1 / (g3 - 0.000001)", outcome, DERL_FORMULA_ERROR_NOT_FINITE, "probe point 1" },
    { "g1 / (g3 - 1.000001)", outcome, DERL_FORMULA_ERROR_NOT_FINITE, "at probe point 2 (outcome-like primitives at 1, the others at 1 + 1e-6)" },
    { "g1 / (g3 - 1)", outcome, -1, NULL },
    { "(g2 - g2) / (g3 - g4)", outcome, DERL_FORMULA_ERROR_NOT_FINITE, "'/' at column 11 divides by zero" },
    /* an infinity on the way makes a formula invalid even when the result is finite */
    { "g1 / (g1 / (g2 - g2))", outcome, DERL_FORMULA_ERROR_NOT_FINITE, "'/' at column 10 divides by zero" },
    { "0 * g1", outcome, -1, NULL },
    { "g1 - g1", outcome, -1, NULL },
  };
  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autoptr (DerlFormula) f = parse_ok (cases[i].text, 4, NULL);
      GError *error = NULL;
      gboolean ok = derl_formula_check (f, cases[i].outcome, &error);
      if (cases[i].code < 0)
        ck_assert_msg (ok && !error, "'%s': %s", cases[i].text, error ? error->message : "");
      else
        {
          ck_assert_msg (!ok && error, "'%s' was valid", cases[i].text);
          ck_assert_msg (error->domain == DERL_FORMULA_ERROR && error->code == cases[i].code, "'%s': %s",
                         cases[i].text, error->message);
          ck_assert_msg (strstr (error->message, cases[i].needle), "'%s': '%s' not in: %s", cases[i].text,
                         cases[i].needle, error->message);
          g_error_free (error);
        }
    }

  /* the probe values themselves */
  g_autoptr (DerlFormula) lo = parse_ok ("g2 - 0.000001", 2, NULL);
  g_autoptr (DerlFormula) hi = parse_ok ("g2 - 1.000001", 2, NULL);
  ck_assert_double_eq (derl_formula_eval (lo, (const double[]) { 0, DERL_FORMULA_PROBE_LOW }), 0);
  ck_assert_double_eq (derl_formula_eval (hi, (const double[]) { 0, DERL_FORMULA_PROBE_HIGH }), 0);
  ck_assert (DERL_FORMULA_PROBE_HIGH == 1.0 + 1e-6);

  /* overflow: 1e6^52 */
  g_autoptr (GString) s = g_string_new ("g1");
  for (guint i = 0; i < 52; i++)
    g_string_append (s, " * 1000000");
  g_autoptr (DerlFormula) f = parse_ok (s->str, 1, NULL);
  GError *error = NULL;
  ck_assert (!derl_formula_check (f, NULL, &error));
  ck_assert_int_eq (error->code, DERL_FORMULA_ERROR_NOT_FINITE);
  ck_assert_msg (strstr (error->message, "'*' at column 514 overflows at probe point 2"), "%s", error->message);
  g_error_free (error);
}
END_TEST

/* ---------------------------------------------------------------- random trees */

/* A formula tree of the test's own, with its own recursive evaluator: the
 * oracle the library's parser, printer and compiled program are held to. */
typedef struct TNode TNode;
struct TNode {
  char op;        /* 'g', 'c', 'n' (negation), '+', '-', '*', '/' */
  guint var;
  double value;
  TNode *a, *b;
};

static double
random_constant (DerlRng *rng)
{
  static const double nice[] = { 0, 0.1, 0.2, 0.5, 1, 2, 3, 10, 1e6, 1e-6, 0.3, 123.456, 7e-5 };
  if (derl_rng_below (rng, 2))
    return nice[derl_rng_below (rng, G_N_ELEMENTS (nice))];
  return exp2 (derl_rng_uniform_range (rng, -19.9, 19.9)); /* 17 significant digits */
}

static TNode *
random_tree (DerlRng *rng, TNode *pool, guint *n, guint size, guint n_vars)
{
  TNode *node = &pool[(*n)++];
  guint r = derl_rng_below (rng, 10);
  if (size <= 1 || r == 0)
    {
      gboolean var = derl_rng_below (rng, 3) > 0;
      node->op = var ? 'g' : 'c';
      node->var = derl_rng_below (rng, n_vars);
      node->value = var ? 0 : random_constant (rng);
    }
  else if (r == 1)
    {
      node->op = 'n';
      node->a = random_tree (rng, pool, n, size - 1, n_vars);
    }
  else
    {
      node->op = "+-*/"[derl_rng_below (rng, 4)];
      guint left = 1 + derl_rng_below (rng, size - 1);
      node->a = random_tree (rng, pool, n, left, n_vars);
      node->b = random_tree (rng, pool, n, size - left, n_vars);
    }
  return node;
}

static double
tree_eval (const TNode *node, const double *g)
{
  switch (node->op)
    {
    case 'g': return g[node->var];
    case 'c': return node->value;
    case 'n': return -tree_eval (node->a, g);
    case '+': return tree_eval (node->a, g) + tree_eval (node->b, g);
    case '-': return tree_eval (node->a, g) - tree_eval (node->b, g);
    case '*': return tree_eval (node->a, g) * tree_eval (node->b, g);
    default: return tree_eval (node->a, g) / tree_eval (node->b, g);
    }
}

/* Fully parenthesised text with random spacing; constants as %.17g (so
 * with exponents at times). */
static void
tree_print (GString *s, const TNode *node, DerlRng *rng)
{
  const char *space = derl_rng_below (rng, 2) ? " " : "";
  char buf[G_ASCII_DTOSTR_BUF_SIZE];
  switch (node->op)
    {
    case 'g':
      g_string_append_printf (s, "g%u", node->var + 1);
      break;
    case 'c':
      g_string_append (s, g_ascii_formatd (buf, sizeof buf, "%.17g", node->value));
      break;
    case 'n':
      g_string_append (s, "-(");
      tree_print (s, node->a, rng);
      g_string_append_c (s, ')');
      break;
    default:
      g_string_append_c (s, '(');
      tree_print (s, node->a, rng);
      g_string_append_printf (s, "%s%c%s", space, node->op, space);
      tree_print (s, node->b, rng);
      g_string_append_c (s, ')');
    }
}

static double
random_g (DerlRng *rng)
{
  static const double special[] = { 0, -0.0, 1, -1, 1e308, -1e308, 1e-308, 5e-324, INFINITY, -INFINITY, NAN };
  if (derl_rng_below (rng, 20) == 0)
    return special[derl_rng_below (rng, G_N_ELEMENTS (special))];
  return derl_rng_uniform_range (rng, -10, 10);
}

START_TEST (test_eval_matches_tree)
{
  DerlRng rng;
  TNode pool[64];
  double g[6];
  derl_rng_init (&rng, 11, 0, 0, 0, 0);

  for (guint i = 0; i < scaled (20000); i++)
    {
      guint n = 0;
      memset (pool, 0, sizeof pool);
      TNode *root = random_tree (&rng, pool, &n, 1 + derl_rng_below (&rng, 30), 6);
      g_autoptr (GString) text = g_string_new (NULL);
      tree_print (text, root, &rng);
      g_autoptr (DerlFormula) f = parse_ok (text->str, 6, NULL);
      for (guint k = 0; k < 4; k++)
        {
          for (guint v = 0; v < 6; v++)
            g[v] = random_g (&rng);
          double want = tree_eval (root, g), got = derl_formula_eval (f, g);
          ASSERT_MSG (same_bits (want, got), "'%s': %.17g != %.17g", text->str, got, want);
        }
    }
}
END_TEST

/* Each pair of parentheses of @canonical is needed: without it the text
 * does not parse or means another tree. */
static void
assert_parentheses_needed (const DerlFormula *f, const char *canonical)
{
  gsize len = strlen (canonical);
  for (gsize open = 0; open < len; open++)
    {
      if (canonical[open] != '(')
        continue;
      gsize close = open + 1;
      for (int level = 1; level > 0; close++)
        level += canonical[close] == '(' ? 1 : canonical[close] == ')' ? -1 : 0;
      close--;
      g_autofree char *without = g_strdup (canonical);
      without[open] = ' ';
      without[close] = ' ';
      g_autoptr (DerlFormula) other = derl_formula_parse (without, -1, 6, NULL, NULL);
      ASSERT_MSG (!other || !derl_formula_equal (f, other), "'%s': the parentheses at %u are not needed",
                     canonical, (guint) open + 1);
    }
}

START_TEST (test_print_round_trip)
{
  DerlRng rng;
  TNode pool[64];
  double g[6];
  derl_rng_init (&rng, 12, 0, 0, 0, 0);

  for (guint i = 0; i < scaled (10000); i++)
    {
      guint n = 0;
      memset (pool, 0, sizeof pool);
      TNode *root = random_tree (&rng, pool, &n, 1 + derl_rng_below (&rng, 30), 6);
      g_autoptr (GString) text = g_string_new (NULL);
      tree_print (text, root, &rng);
      g_autoptr (DerlFormula) f = parse_ok (text->str, 6, NULL);
      g_autofree char *canonical = derl_formula_to_string (f);
      g_autoptr (DerlFormula) back = parse_ok (canonical, 6, NULL);
      ASSERT_MSG (derl_formula_equal (f, back), "'%s' printed as '%s'", text->str, canonical);
      g_autofree char *again = derl_formula_to_string (back);
      ASSERT (strcmp (again, canonical) == 0);
      ASSERT (!strstr (canonical, "  ") && !strstr (canonical, "--") && !strchr (canonical, 'e'));
      for (guint v = 0; v < 6; v++)
        g[v] = random_g (&rng);
      ASSERT (same_bits (derl_formula_eval (f, g), derl_formula_eval (back, g)));
      if (i % 8 == 0)
        assert_parentheses_needed (f, canonical);
    }
}
END_TEST

/* ---------------------------------------------------------------- fuzz */

static void
fuzz_one (const char *text, gssize len)
{
  GError *error = NULL;
  DerlFormula *f = derl_formula_parse (text, len, 4, names4, &error);
  if (!f)
    {
      ASSERT (error != NULL);
      ASSERT (error->domain == DERL_FORMULA_ERROR);
      ASSERT_MSG (error->message && strstr (error->message, "column"), "no column in: %s",
                     error->message ? error->message : "(null)");
      g_error_free (error);
      return;
    }
  ASSERT (error == NULL);
  g_autofree char *canonical = derl_formula_to_string (f);
  g_autoptr (DerlFormula) back = parse_ok (canonical, 4, NULL);
  ASSERT (derl_formula_equal (f, back));
  static const double g[] = { 0.5, -2, 3, 1e-3 };
  ASSERT (same_bits (derl_formula_eval (f, g), derl_formula_eval (back, g)));
  gboolean ok = derl_formula_check (f, NULL, &error);
  ASSERT (ok == (error == NULL));
  g_clear_error (&error);
  derl_formula_free (f);
}

START_TEST (test_fuzz)
{
  static const char *const soup[] = {
    "g1", "g2", "g4", "g0", "g5", "g999", "g01", "success", "early", "sucess", "x", "_", "(", ")", "((((((((",
    "))))", "+", "-", "--", "*", "/", "^", "1", "0", "0.5", ".5", "5.", ".", "1e3", "1e-3", "1E+2", "1e", "1e+",
    "1e999", "1e-999", "1000001", "1e6", "nan", "NaN", "inf", "-inf", "0x1p3", "\xc3\xa9", "\xc3\x97",
    "\xe2\x88\x92", "\xff", "\x01", " ", "\t", "\n", "", "  ", "99999999999999999999999999999",
  };
  DerlRng rng;
  char bytes[80];
  derl_rng_init (&rng, 13, 0, 0, 0, 0);

  fuzz_one ("", -1);
  fuzz_one ("   \t\n", -1);
  fuzz_one (NULL, 0);
  for (guint i = 0; i < scaled (20000); i++)
    {
      /* random bytes, NUL included (with an explicit length) */
      guint len = derl_rng_below (&rng, sizeof bytes);
      for (guint k = 0; k < len; k++)
        bytes[k] = derl_rng_below (&rng, 4) ? " g12()+-*/.e0123456789"[derl_rng_below (&rng, 22)]
                                            : (char) derl_rng_below (&rng, 256);
      fuzz_one (bytes, len);

      /* token soup */
      g_autoptr (GString) s = g_string_new (NULL);
      guint n = derl_rng_below (&rng, 40);
      for (guint k = 0; k < n; k++)
        {
          g_string_append (s, soup[derl_rng_below (&rng, G_N_ELEMENTS (soup))]);
          if (derl_rng_below (&rng, 2))
            g_string_append_c (s, ' ');
        }
      fuzz_one (s->str, -1);
    }
  /* deep nesting and long inputs */
  g_autofree char *deep = g_strnfill (3000, '(');
  fuzz_one (deep, -1);
  g_autofree char *minus = g_strnfill (3000, '-');
  fuzz_one (minus, -1);
  g_autofree char *huge = g_strnfill (5000, '1');
  fuzz_one (huge, -1);
}
END_TEST

/* ---------------------------------------------------------------- grammar */

START_TEST (test_grammar_vocabulary)
{
  GError *error = NULL;
  static const gboolean outcome[] = { TRUE, FALSE, FALSE };
  g_autoptr (DerlFormulaGrammar) g = derl_formula_grammar_new (3, outcome, NULL, 0, 20, &error);
  ck_assert_ptr_nonnull (g);
  ck_assert_uint_eq (derl_formula_grammar_get_n_vocab (g), 7 + 3 + 8);
  ck_assert_uint_eq (derl_formula_grammar_get_max_tokens (g), 20);
  const char *expected[] = { "END", "+", "-", "*", "/", "(", ")", "g1", "g2", "g3",
                             "0.1", "0.2", "0.5", "1", "2", "3", "5", "10" };
  for (guint t = 0; t < G_N_ELEMENTS (expected); t++)
    ck_assert_str_eq (derl_formula_grammar_token_text (g, t), expected[t]);
  ck_assert_ptr_null (derl_formula_grammar_token_text (g, 18));
  ck_assert_str_eq (derl_formula_grammar_token_text (g, DERL_FORMULA_TOKEN_VAR (2)), "g3");

  /* custom constants print in canonical form */
  static const double mine[] = { 0.25, 1e6, 0.000001 };
  g_autoptr (DerlFormulaGrammar) h = derl_formula_grammar_new (1, NULL, mine, 3, 5, &error);
  ck_assert_str_eq (derl_formula_grammar_token_text (h, DERL_FORMULA_TOKEN_VAR (1)), "0.25");
  ck_assert_str_eq (derl_formula_grammar_token_text (h, DERL_FORMULA_TOKEN_VAR (2)), "1000000");
  ck_assert_str_eq (derl_formula_grammar_token_text (h, DERL_FORMULA_TOKEN_VAR (3)), "0.000001");

  /* out of range */
  const struct { guint n_vars, n_constants, max_tokens; const double *constants; const char *needle; } bad[] = {
    { 0, 0, 10, NULL, "0 primitives" },
    { 65, 0, 10, NULL, "65 primitives" },
    { 2, 0, 0, NULL, "budget of 0 tokens" },
    { 2, 0, 39, NULL, "budget of 39 tokens; a grammar allows 1 to 38" },
    { 2, 3, 10, NULL, "3 constants asked for but none given" },
    { 2, 0, 10, mine, "0 constants" },
    { 2, 17, 10, mine, "17 constants" },
    { 2, 1, 10, (const double[]) { 0 }, "constant 0 is out of range" },
    { 2, 1, 10, (const double[]) { -1 }, "constant -1 is out of range" },
    { 2, 1, 10, (const double[]) { 2e6 }, "out of range" },
    { 2, 1, 10, (const double[]) { NAN }, "out of range" },
    { 2, 2, 10, (const double[]) { 2, 2 }, "constant 2 appears twice" },
  };
  for (guint i = 0; i < G_N_ELEMENTS (bad); i++)
    {
      DerlFormulaGrammar *none = derl_formula_grammar_new (bad[i].n_vars, NULL, bad[i].constants,
                                                           bad[i].n_constants, bad[i].max_tokens, &error);
      ck_assert_ptr_null (none);
      ck_assert_int_eq (error->code, DERL_FORMULA_ERROR_LIMIT);
      ck_assert_msg (strstr (error->message, bad[i].needle), "'%s' not in: %s", bad[i].needle, error->message);
      g_clear_error (&error);
    }
}
END_TEST

static void
assert_push_fails (const DerlFormulaGrammar *g, DerlFormulaGrammarState *s, guint token, int code,
                   const char *needle)
{
  GError *error = NULL;
  DerlFormulaGrammarState before = *s;
  guint8 mask[64];
  if (token < derl_formula_grammar_get_n_vocab (g))
    {
      derl_formula_grammar_mask (g, s, mask);
      ck_assert_msg (!mask[token], "the mask allows '%s'", derl_formula_grammar_token_text (g, token));
    }
  ck_assert (!derl_formula_grammar_push (g, s, token, &error));
  ck_assert_ptr_nonnull (error);
  ck_assert_msg (error->code == code, "code %d: %s", error->code, error->message);
  ck_assert_msg (strstr (error->message, needle), "'%s' not in: %s", needle, error->message);
  g_error_free (error);
  ck_assert (s->n_tokens == before.n_tokens && s->depth == before.depth
             && s->expect_operand == before.expect_operand && s->remaining == before.remaining);
}

static void
push_ok (const DerlFormulaGrammar *g, DerlFormulaGrammarState *s, guint token)
{
  GError *error = NULL;
  ASSERT_MSG (derl_formula_grammar_push (g, s, token, &error), "%s", error ? error->message : "");
}

enum { END = DERL_FORMULA_TOKEN_END, ADD, SUB, MUL, DIV, OPEN, CLOSE, G1, G2, G3 };

START_TEST (test_grammar_push)
{
  static const gboolean outcome[] = { TRUE, FALSE, FALSE };
  g_autoptr (DerlFormulaGrammar) g = derl_formula_grammar_new (3, outcome, NULL, 0, 12, NULL);
  const guint one = DERL_FORMULA_TOKEN_VAR (3 + 3);
  DerlFormulaGrammarState s;
  guint8 mask[32];

  derl_formula_grammar_start (g, &s);
  ck_assert (s.expect_operand && s.depth == 0 && s.n_tokens == 0 && s.remaining == 12 && !s.var_used);
  assert_push_fails (g, &s, ADD, DERL_FORMULA_ERROR_SYNTAX, "token '+' at position 1: expected a primitive");
  assert_push_fails (g, &s, END, DERL_FORMULA_ERROR_SYNTAX, "expected a primitive");
  assert_push_fails (g, &s, CLOSE, DERL_FORMULA_ERROR_SYNTAX, "expected a primitive");
  assert_push_fails (g, &s, 99, DERL_FORMULA_ERROR_SYNTAX, "token 99 is not in the vocabulary of 18 tokens");
  push_ok (g, &s, SUB);
  assert_push_fails (g, &s, SUB, DERL_FORMULA_ERROR_SYNTAX, "'-' at position 2 cannot follow a unary minus");
  push_ok (g, &s, G2);
  push_ok (g, &s, DIV);
  push_ok (g, &s, OPEN);
  ck_assert (s.expect_operand && s.depth == 1 && s.n_tokens == 4 && s.remaining == 8 && s.var_used
             && s.in_divisor == 1);
  push_ok (g, &s, G1);
  push_ok (g, &s, SUB);
  push_ok (g, &s, one);
  /* -g2 / (g1 - 1: g1 is outcome-like, the divisor is 0 at both probe points */
  assert_push_fails (g, &s, CLOSE, DERL_FORMULA_ERROR_NOT_FINITE,
                     "token ')' at position 8 would close a divisor that is zero at probe point 1");
  assert_push_fails (g, &s, END, DERL_FORMULA_ERROR_SYNTAX, "1 parentheses are open");
  ck_assert (!s.expect_operand);
  /* a `+ x` repairs it; `+ -(` would need 3 more tokens where 2 are left */
  push_ok (g, &s, ADD);
  push_ok (g, &s, SUB);
  assert_push_fails (g, &s, OPEN, DERL_FORMULA_ERROR_LIMIT,
                     "token '(' at position 10 leaves no valid formula within the budget of 12 tokens");
  push_ok (g, &s, G3);
  ck_assert_uint_eq (derl_formula_grammar_mask (g, &s, mask), 1);
  ck_assert (mask[CLOSE]);
  push_ok (g, &s, CLOSE);
  ck_assert (s.depth == 0 && s.in_divisor == 0);
  push_ok (g, &s, END);
  ck_assert (s.finished);
  ck_assert_uint_eq (derl_formula_grammar_mask (g, &s, mask), 0);
  assert_push_fails (g, &s, G1, DERL_FORMULA_ERROR_SYNTAX, "after END");

  /* divisors zero at one probe point only: g1 - 0.000001 at the first,
   * g1 - 1.000001 at the second */
  g_autoptr (DerlFormulaGrammar) probes = derl_formula_grammar_new (1, NULL, (const double[]) { 0.000001, 1.000001 },
                                                                    2, 20, NULL);
  for (guint p = 0; p < 2; p++)
    {
      derl_formula_grammar_start (probes, &s);
      const guint prefix[] = { G1, DIV, OPEN, G1, SUB, DERL_FORMULA_TOKEN_VAR (1 + p) };
      for (guint k = 0; k < G_N_ELEMENTS (prefix); k++)
        push_ok (probes, &s, prefix[k]);
      assert_push_fails (probes, &s, CLOSE, DERL_FORMULA_ERROR_NOT_FINITE,
                         p == 0 ? "zero at probe point 1" : "zero at probe point 2");
    }

  /* END before any variable */
  derl_formula_grammar_start (g, &s);
  push_ok (g, &s, one);
  assert_push_fails (g, &s, END, DERL_FORMULA_ERROR_NO_PRIMITIVE, "names no primitive");
  /* a budget of 2: g1, -g1 */
  g_autoptr (DerlFormulaGrammar) tiny = derl_formula_grammar_new (3, outcome, NULL, 0, 2, NULL);
  derl_formula_grammar_start (tiny, &s);
  derl_formula_grammar_mask (tiny, &s, mask);
  ck_assert (mask[G1] && mask[SUB] && !mask[OPEN] && !mask[one]);
  push_ok (tiny, &s, SUB);
  assert_push_fails (tiny, &s, one, DERL_FORMULA_ERROR_LIMIT, "leaves no valid formula");
  push_ok (tiny, &s, G3);
  push_ok (tiny, &s, END);

  /* build */
  GError *error = NULL;
  const guint tokens[] = { SUB, G2, DIV, OPEN, G1, SUB, one, ADD, SUB, G3, CLOSE, END };
  g_autoptr (DerlFormula) f = derl_formula_grammar_build (g, tokens, G_N_ELEMENTS (tokens), &error);
  ck_assert_ptr_nonnull (f);
  g_autofree char *text = derl_formula_to_string (f);
  ck_assert_str_eq (text, "-g2 / (g1 - 1 + -g3)");
  ck_assert_uint_eq (derl_formula_get_n_tokens (f), 11);
  const guint early_end[] = { G1, END, ADD, G2 };
  ck_assert_ptr_null (derl_formula_grammar_build (g, early_end, 4, &error));
  ck_assert_msg (strstr (error->message, "token END at position 2 is not the last"), "%s", error->message);
  g_clear_error (&error);
  const guint outside[] = { G1, ADD, 40 };
  ck_assert_ptr_null (derl_formula_grammar_build (g, outside, 3, &error));
  ck_assert_msg (strstr (error->message, "token 40 at position 3 is not in the vocabulary"), "%s", error->message);
  g_clear_error (&error);
  const guint unfinished[] = { G1, ADD };
  ck_assert_ptr_null (derl_formula_grammar_build (g, unfinished, 2, &error));
  ck_assert_int_eq (error->code, DERL_FORMULA_ERROR_SYNTAX);
  g_clear_error (&error);
}
END_TEST

/* Samples a sequence under the mask; @bias > 0 prefers divisions,
 * subtractions and parentheses (to look for overflow and zero divisors). */
static guint
sample (const DerlFormulaGrammar *g, DerlRng *rng, guint *tokens, gboolean bias)
{
  DerlFormulaGrammarState s;
  guint8 mask[128];
  guint n = 0, vocab = derl_formula_grammar_get_n_vocab (g);

  derl_formula_grammar_start (g, &s);
  while (TRUE)
    {
      guint allowed = derl_formula_grammar_mask (g, &s, mask);
      ASSERT (allowed > 0);
      guint pick = derl_rng_below (rng, allowed), t = 0;
      if (bias && derl_rng_below (rng, 2))
        {
          static const guint preferred[] = { DIV, SUB, OPEN, MUL };
          for (guint k = 0; k < G_N_ELEMENTS (preferred); k++)
            if (mask[preferred[k]])
              {
                pick = G_MAXUINT;
                t = preferred[k];
                break;
              }
        }
      if (pick != G_MAXUINT)
        for (t = 0; t < vocab; t++)
          if (mask[t] && pick-- == 0)
            break;
      ASSERT (t < vocab);
      guint before = s.n_tokens;
      push_ok (g, &s, t);
      tokens[n++] = t;
      if (t == END)
        {
          ASSERT (s.finished);
          ASSERT (derl_formula_grammar_mask (g, &s, mask) == 0);
          return n;
        }
      ASSERT (s.n_tokens == before + 1);
      ASSERT (s.n_tokens + s.remaining == derl_formula_grammar_get_max_tokens (g));
    }
}

START_TEST (test_grammar_samples)
{
  DerlRng rng;
  guint tokens[DERL_FORMULA_GRAMMAR_MAX_TOKENS + 1];
  static const double few[] = { 0.5, 2 };
  guint64 total_tokens = 0;
  derl_rng_init (&rng, 14, 0, 0, 0, 0);

  for (guint round = 0; round < scaled (100); round++)
    {
      gboolean outcome[6];
      guint n_vars = 1 + derl_rng_below (&rng, 6);
      for (guint v = 0; v < n_vars; v++)
        outcome[v] = derl_rng_below (&rng, 2);
      guint max_tokens = derl_rng_below (&rng, 3) ? DERL_FORMULA_GRAMMAR_MAX_TOKENS - derl_rng_below (&rng, 20)
                                                  : 1 + derl_rng_below (&rng, DERL_FORMULA_GRAMMAR_MAX_TOKENS);
      gboolean custom = derl_rng_below (&rng, 4) == 0;
      g_autoptr (DerlFormulaGrammar) g = derl_formula_grammar_new (n_vars, outcome, custom ? few : NULL,
                                                                   custom ? 2 : 0, max_tokens, NULL);
      for (guint i = 0; i < 1000; i++)
        {
          guint n = sample (g, &rng, tokens, round % 2);
          ASSERT (n - 1 <= max_tokens);
          total_tokens += n;
          GError *error = NULL;
          g_autoptr (DerlFormula) f = derl_formula_grammar_build (g, tokens, n, &error);
          ASSERT_MSG (f != NULL, "%s", error ? error->message : "");
          ASSERT (derl_formula_get_n_tokens (f) == n - 1);
          ASSERT_MSG (derl_formula_check (f, outcome, &error), "%s", error ? error->message : "");
          g_autofree char *text = derl_formula_to_string (f);
          g_autoptr (DerlFormula) back = parse_ok (text, n_vars, NULL);
          ASSERT (derl_formula_equal (f, back));
          ASSERT (derl_formula_check (back, outcome, NULL));
        }
    }
  ck_assert_uint_gt (total_tokens, scaled (100) * 1000 * 8);
}
END_TEST

/* Random token strings that parse and are valid, pushed with a budget of
 * exactly their length: the mask allows every one of their tokens (it is
 * never conservative, even where the budget is tightest). */
START_TEST (test_grammar_complete)
{
  DerlRng rng;
  guint accepted = 0, cancelling = 0;
  derl_rng_init (&rng, 15, 0, 0, 0, 0);

  for (guint i = 0; i < scaled (25000); i++)
    {
      gboolean outcome[4];
      guint n_vars = 1 + derl_rng_below (&rng, 4), len = 1 + derl_rng_below (&rng, DERL_FORMULA_GRAMMAR_MAX_TOKENS);
      for (guint v = 0; v < n_vars; v++)
        outcome[v] = derl_rng_below (&rng, 2);
      g_autoptr (DerlFormulaGrammar) g = derl_formula_grammar_new (n_vars, outcome, NULL, 0, len, NULL);
      /* A random walk of at most @len tokens that keeps to the syntax and
       * draws its operands from few (the variables and the constants 0.5
       * and 1), so that divisors cancel to zero now and then. */
      guint tokens[DERL_FORMULA_GRAMMAR_MAX_TOKENS];
      guint n = 0, depth = 0;
      gboolean operand = TRUE, negated = FALSE;
      while (n < len)
        {
          guint need = depth + operand, left = len - n, t;
          if (operand)
            {
              guint r = derl_rng_below (&rng, 8);
              if (r == 0 && !negated && left > need)
                t = SUB;
              else if (r == 1 && left > need + 1)
                t = OPEN;
              else if (derl_rng_below (&rng, 2))
                t = DERL_FORMULA_TOKEN_VAR (derl_rng_below (&rng, n_vars));
              else /* 0.5 or 1 */
                t = DERL_FORMULA_TOKEN_VAR (n_vars + 2 + derl_rng_below (&rng, 2));
              negated = t == SUB;
              depth += t == OPEN;
              operand = t == SUB || t == OPEN;
            }
          else if (depth == 0 && (left < 2 || derl_rng_below (&rng, 5) == 0))
            break;
          else if (depth > 0 && (left < need + 2 || derl_rng_below (&rng, 3) == 0))
            t = CLOSE, depth--;
          else
            t = ADD + derl_rng_below (&rng, 4), operand = TRUE;
          tokens[n++] = t;
        }
      g_autoptr (GString) text = g_string_new (NULL);
      for (guint k = 0; k < n; k++)
        g_string_append_printf (text, "%s ", derl_formula_grammar_token_text (g, tokens[k]));
      g_autoptr (DerlFormula) f = derl_formula_parse (text->str, -1, n_vars, NULL, NULL);
      GError *error = NULL;
      if (!f || !derl_formula_check (f, outcome, &error))
        {
          cancelling += error && error->code == DERL_FORMULA_ERROR_NOT_FINITE;
          g_clear_error (&error);
          continue;
        }
      g_autoptr (DerlFormulaGrammar) tight = derl_formula_grammar_new (n_vars, outcome, NULL, 0, n, NULL);
      DerlFormulaGrammarState s;
      derl_formula_grammar_start (tight, &s);
      for (guint k = 0; k < n; k++)
        ASSERT_MSG (derl_formula_grammar_push (tight, &s, tokens[k], &error), "'%s' token %u: %s", text->str, k + 1,
                    error->message);
      push_ok (tight, &s, END);
      accepted++;
    }
  ck_assert_uint_gt (accepted, scaled (25000) / 3);
  ck_assert_uint_gt (cancelling, scaled (25000) / 1000);
}
END_TEST

/* Hand-picked formulas pushed with a budget of exactly their length:
 * nested divisors that cancel and are repaired, where the bounds are
 * tightest.  Valid ones go through; invalid ones are stopped. */
START_TEST (test_grammar_tight)
{
  static const gboolean outcome[] = { TRUE, FALSE, FALSE };
  const struct { const char *tokens; gboolean valid; } cases[] = {
    { "g2 / ( g2 / ( g3 - g3 + g3 ) )", TRUE },
    { "g2 / ( g1 - 1 + g3 )", TRUE },
    { "g2 / ( - ( g1 - 1 ) + 0.1 )", TRUE },
    { "g2 / ( g3 / ( g1 - 1 + 0.5 ) - 1 )", TRUE },
    { "- g2 / ( ( g3 - g3 ) * g1 + 2 )", TRUE },
    { "g2 / ( g2 / ( g2 / ( g3 - g2 + 1 ) ) )", TRUE },
    { "g1 / ( g2 - g3 - ( g1 - 1 ) + ( g3 - g2 ) * 2 + 0.1 )", TRUE },
    { "g2 / ( 1 - g1 + ( g2 - g2 ) )", FALSE },
    { "g2 / ( g3 / ( g1 - 1 ) + 1 )", FALSE },
    { "g2 / ( g2 / ( g3 - g3 ) )", FALSE },
    { "1 / ( 2 - 2 ) * g1", FALSE },
  };
  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_auto (GStrv) words = g_strsplit (cases[i].tokens, " ", -1);
      guint n = g_strv_length (words);
      g_autoptr (DerlFormula) f = parse_ok (cases[i].tokens, 3, NULL);
      ck_assert_msg (derl_formula_check (f, outcome, NULL) == cases[i].valid, "'%s'", cases[i].tokens);
      g_autoptr (DerlFormulaGrammar) g = derl_formula_grammar_new (3, outcome, NULL, 0, n, NULL);
      DerlFormulaGrammarState s;
      derl_formula_grammar_start (g, &s);
      gboolean pushed = TRUE;
      for (guint k = 0; k <= n && pushed; k++)
        {
          guint t = 0;
          while (k < n && strcmp (derl_formula_grammar_token_text (g, t), words[k]) != 0)
            t++;
          pushed = derl_formula_grammar_push (g, &s, t, NULL);
        }
      ck_assert_msg (pushed == cases[i].valid, "'%s' %s", cases[i].tokens, pushed ? "pushed" : "stopped");
    }
}
END_TEST

/* Exactness by enumeration: every token string up to the budget, over the
 * whole (small) vocabulary, is reachable under the mask exactly when it
 * parses and is valid; and the mask never strands a sequence. */
typedef struct {
  const DerlFormulaGrammar *g;
  const gboolean *outcome;
  guint n_vars, vocab, max_len;
  guint tokens[16];
  guint64 n_valid, n_invalid_checked, n_nodes;
} Exact;

static gboolean
exact_oracle (Exact *e, guint len)
{
  g_autoptr (GString) text = g_string_new (NULL);
  for (guint k = 0; k < len; k++)
    g_string_append_printf (text, "%s ", derl_formula_grammar_token_text (e->g, e->tokens[k]));
  g_autoptr (DerlFormula) f = derl_formula_parse (text->str, -1, e->n_vars, NULL, NULL);
  if (!f)
    return FALSE;
  gboolean valid = derl_formula_check (f, e->outcome, NULL);
  e->n_invalid_checked += !valid;
  return valid;
}

static void
exact_walk (Exact *e, guint len, gboolean operand, guint balance, const DerlFormulaGrammarState *state)
{
  guint8 mask[32] = { 0 };
  e->n_nodes++;
  if (state)
    ASSERT (derl_formula_grammar_mask (e->g, state, mask) > 0);
  if (!operand && balance == 0)
    {
      gboolean valid = exact_oracle (e, len);
      e->n_valid += valid;
      if (valid != (state && mask[END]))
        {
          g_autoptr (GString) text = g_string_new (NULL);
          for (guint k = 0; k < len; k++)
            g_string_append_printf (text, "%s ", derl_formula_grammar_token_text (e->g, e->tokens[k]));
          ck_abort_msg ("'%s' is %s but %s under the mask", text->str, valid ? "valid" : "invalid",
                        state && mask[END] ? "reachable" : "not reachable");
        }
    }
  else
    ASSERT (!mask[END]);
  for (guint t = 1; t < e->vocab; t++)
    {
      /* the test's own syntax automaton: a superset of what parses */
      gboolean next_operand = operand;
      guint next_balance = balance;
      if (operand)
        {
          if (t == OPEN)
            next_balance++;
          else if (t >= DERL_FORMULA_TOKEN_N_FIXED)
            next_operand = FALSE;
          else if (t != SUB)
            {
              ASSERT (!mask[t]);
              continue;
            }
        }
      else if (t == CLOSE && balance > 0)
        next_balance--;
      else if (t >= ADD && t <= DIV)
        next_operand = TRUE;
      else
        {
          ASSERT (!mask[t]);
          continue;
        }
      if (len == e->max_len)
        {
          ASSERT (!mask[t]);
          continue;
        }
      e->tokens[len] = t;
      DerlFormulaGrammarState next;
      if (state && mask[t])
        {
          next = *state;
          push_ok (e->g, &next, t);
        }
      exact_walk (e, len + 1, next_operand, next_balance, state && mask[t] ? &next : NULL);
    }
}

static void
assert_exact (guint n_vars, const gboolean *outcome, const double *constants, guint n_constants, guint max_len)
{
  g_autoptr (DerlFormulaGrammar) g = derl_formula_grammar_new (n_vars, outcome, constants, n_constants, max_len, NULL);
  Exact e = { .g = g, .outcome = outcome, .n_vars = n_vars, .vocab = derl_formula_grammar_get_n_vocab (g),
              .max_len = max_len };
  DerlFormulaGrammarState s;
  derl_formula_grammar_start (g, &s);
  exact_walk (&e, 0, TRUE, 0, &s);
  ck_assert_uint_gt (e.n_valid, 100);
  ck_assert_uint_gt (e.n_invalid_checked, 10); /* strings that parse but divide by zero or name no primitive */
}

START_TEST (test_grammar_exact)
{
  guint short_run = g_getenv ("DERL_TEST_SHORT") ? 1 : 0;
  static const gboolean outcome_yes[] = { TRUE }, outcome_mixed[] = { TRUE, FALSE }, outcome_no[] = { FALSE, FALSE };
  assert_exact (1, outcome_yes, (const double[]) { 1 }, 1, 9 - short_run);
  assert_exact (2, outcome_mixed, (const double[]) { 1 }, 1, 8 - short_run);
  assert_exact (2, outcome_no, (const double[]) { 0.5, 2 }, 2, 7 - short_run);
  /* constants equal to the probe values: divisors zero at one probe point only */
  assert_exact (1, NULL, (const double[]) { 0.000001, 1.000001 }, 2, 8 - short_run);
}
END_TEST

/* No overflow within the budget: biased samples of the longest budget
 * (always dividing, subtracting, nesting when allowed) stay finite at the
 * probe points, and so does the largest value the vocabulary can reach by
 * a quotient chain. */
START_TEST (test_grammar_no_overflow)
{
  DerlRng rng;
  guint tokens[DERL_FORMULA_GRAMMAR_MAX_TOKENS + 1];
  static const gboolean outcome[] = { FALSE, TRUE };
  g_autoptr (DerlFormulaGrammar) g = derl_formula_grammar_new (2, outcome, (const double[]) { 1e6, 0.000001, 1 },
                                                               3, DERL_FORMULA_GRAMMAR_MAX_TOKENS, NULL);
  derl_rng_init (&rng, 16, 0, 0, 0, 0);
  for (guint i = 0; i < scaled (20000); i++)
    {
      guint n = sample (g, &rng, tokens, TRUE);
      GError *error = NULL;
      g_autoptr (DerlFormula) f = derl_formula_grammar_build (g, tokens, n, &error);
      ASSERT_MSG (derl_formula_check (f, outcome, &error), "%s", error->message);
    }
  /* 1000000 / g1 / g1 ... (37 tokens): 1e6 * 1e6^18 = 1e114 at probe point 1 */
  g_autoptr (GString) s = g_string_new ("1000000");
  for (guint k = 0; k < 18; k++)
    g_string_append (s, " / g1");
  g_autoptr (DerlFormula) f = parse_ok (s->str, 2, NULL);
  ASSERT (derl_formula_check (f, outcome, NULL));
  double v = derl_formula_eval (f, (const double[]) { DERL_FORMULA_PROBE_LOW, 1 });
  ASSERT (v > 1e113 && v < 1e115);
}
END_TEST

static Suite *
formula_suite (void)
{
  Suite *s = suite_create ("formula");
  TCase *tc = tcase_create ("language");
  tcase_add_test (tc, test_precedence);
  tcase_add_test (tc, test_accessors);
  tcase_add_test (tc, test_print);
  tcase_add_test (tc, test_aliases);
  tcase_add_test (tc, test_errors);
  tcase_add_test (tc, test_limits);
  tcase_add_test (tc, test_check);
  tcase_add_test (tc, test_eval_matches_tree);
  tcase_add_test (tc, test_print_round_trip);
  tcase_add_test (tc, test_fuzz);
  suite_add_tcase (s, tc);
  TCase *grammar = tcase_create ("grammar");
  tcase_add_test (grammar, test_grammar_vocabulary);
  tcase_add_test (grammar, test_grammar_push);
  tcase_add_test (grammar, test_grammar_samples);
  tcase_add_test (grammar, test_grammar_complete);
  tcase_add_test (grammar, test_grammar_tight);
  tcase_add_test (grammar, test_grammar_exact);
  tcase_add_test (grammar, test_grammar_no_overflow);
  suite_add_tcase (s, grammar);
  return s;
}

DERL_TEST_MAIN (formula_suite)
