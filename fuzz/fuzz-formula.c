/* derl - fuzz the formula parser and the token grammar.
 *
 * Input: one byte choosing K (1..DERL_FORMULA_MAX_VARS), one choosing the
 * mode, then the rest.  Mode even: the rest is formula text, parsed over K
 * primitives with names; a formula that parses must print canonically,
 * read back equal and print the same again, and check and evaluate without
 * crashing.  Mode odd: the rest picks tokens among those the grammar's mask
 * allows; the sequence must push, build a formula that passes
 * derl_formula_check() and round-trip through text. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <math.h>
#include <derl/derl.h>
#include "fuzz.h"

static const char *const names[] = { "success", "progress", "early", "late", "format", "length", "g", "_x", NULL };

static void
check_round_trip (const DerlFormula *f, guint k)
{
  g_autofree char *text = derl_formula_to_string (f);
  g_autoptr (GError) error = NULL;
  g_autoptr (DerlFormula) again = derl_formula_parse (text, -1, k, NULL, &error);

  FUZZ_ASSERT (again != NULL, "canonical text '%s' does not parse: %s", text, error->message);
  FUZZ_ASSERT (derl_formula_equal (f, again), "'%s' reads back as another formula", text);
  g_autofree char *text2 = derl_formula_to_string (again);
  FUZZ_ASSERT (strcmp (text, text2) == 0, "'%s' prints as '%s' the second time", text, text2);
}

static void
fuzz_text (const uint8_t *data, size_t size, guint k)
{
  g_autoptr (GError) error = NULL;
  /* Names stand for the first few primitives; the rest are written gN. */
  g_autofree const char **bound = g_new0 (const char *, k + 1);
  for (guint i = 0; i < k; i++)
    bound[i] = i < G_N_ELEMENTS (names) - 1 ? names[i] : "";

  g_autoptr (DerlFormula) f = derl_formula_parse ((const char *) data, (gssize) size, k, bound, &error);
  if (!f)
    {
      FUZZ_ASSERT (error != NULL && error->domain == DERL_FORMULA_ERROR, "a refusal without a formula error");
      return;
    }
  FUZZ_ASSERT (derl_formula_get_n_vars (f) == k, "K changed");
  check_round_trip (f, k);

  double g[DERL_FORMULA_MAX_VARS];
  for (guint i = 0; i < k; i++)
    g[i] = (i % 3 == 0) ? 1.0 : 0.25 * (double) i;
  (void) derl_formula_eval (f, g);
  g_autofree gboolean *outcome = g_new0 (gboolean, k);
  outcome[0] = TRUE;
  g_autoptr (GError) check_error = NULL;
  if (!derl_formula_check (f, outcome, &check_error))
    FUZZ_ASSERT (check_error != NULL, "an invalid formula without a reason");
}

static void
fuzz_grammar (const uint8_t *data, size_t size, guint k)
{
  g_autoptr (GError) error = NULL;
  guint max_tokens = 1 + (size > 0 ? data[0] % DERL_FORMULA_GRAMMAR_MAX_TOKENS : 0);
  g_autofree gboolean *outcome = g_new0 (gboolean, k);
  outcome[0] = TRUE;
  g_autoptr (DerlFormulaGrammar) grammar = derl_formula_grammar_new (k, outcome, NULL, 0, max_tokens, &error);
  FUZZ_ASSERT (grammar != NULL, "grammar refused: %s", error ? error->message : "?");

  guint n_vocab = derl_formula_grammar_get_n_vocab (grammar);
  g_autofree guint8 *mask = g_new0 (guint8, n_vocab);
  guint tokens[DERL_FORMULA_GRAMMAR_MAX_TOKENS + 1];
  guint n = 0;
  DerlFormulaGrammarState state;
  derl_formula_grammar_start (grammar, &state);
  for (size_t at = 1; !state.finished; at++)
    {
      guint allowed = derl_formula_grammar_mask (grammar, &state, mask);
      FUZZ_ASSERT (allowed > 0, "the mask allows nothing after %u tokens", n);
      guint pick = (at < size ? data[at] : 0) % allowed, token = 0;
      for (guint t = 0; t < n_vocab; t++)
        if (mask[t] && pick-- == 0)
          {
            token = t;
            break;
          }
      g_autoptr (GError) push_error = NULL;
      FUZZ_ASSERT (derl_formula_grammar_push (grammar, &state, token, &push_error),
                   "a token the mask allows is refused: %s", push_error->message);
      FUZZ_ASSERT (n <= max_tokens, "more than %u tokens pushed", max_tokens);
      tokens[n++] = token;
      /* A token the mask forbids must be refused, leaving the state as is. */
      if (!state.finished && at < size && (data[at] & 0x80) && derl_formula_grammar_mask (grammar, &state, mask))
        for (guint t = 0; t < n_vocab; t++)
          if (!mask[t])
            {
              DerlFormulaGrammarState copy = state;
              g_autoptr (GError) refused = NULL;
              FUZZ_ASSERT (!derl_formula_grammar_push (grammar, &copy, t, &refused) && refused,
                           "token %u is taken where the mask forbids it", t);
              FUZZ_ASSERT (copy.depth == state.depth && copy.expect_operand == state.expect_operand
                           && copy.n_tokens == state.n_tokens && copy.remaining == state.remaining
                           && copy.var_used == state.var_used && copy.in_divisor == state.in_divisor
                           && copy.finished == state.finished,
                           "a refused token changed the state");
              break;
            }
    }
  g_autoptr (DerlFormula) f = derl_formula_grammar_build (grammar, tokens, n, &error);
  FUZZ_ASSERT (f != NULL, "a sequence sampled under the mask does not build: %s", error->message);
  g_autoptr (GError) check_error = NULL;
  FUZZ_ASSERT (derl_formula_check (f, outcome, &check_error), "a sampled formula is invalid: %s",
               check_error->message);
  FUZZ_ASSERT (derl_formula_get_n_tokens (f) == n - 1, "%u tokens sampled, the formula has %u", n - 1,
               derl_formula_get_n_tokens (f));
  check_round_trip (f, k);
}

int
LLVMFuzzerInitialize (int *argc, char ***argv)
{
  fuzz_init_glib ();
  return 0;
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  if (size < 2)
    return 0;
  guint k = 1 + data[0] % DERL_FORMULA_MAX_VARS;
  if (data[1] & 1)
    fuzz_grammar (data + 2, size - 2, k);
  else
    fuzz_text (data + 2, size - 2, k);
  return 0;
}
