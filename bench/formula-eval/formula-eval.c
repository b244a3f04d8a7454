/* bench/formula-eval: nanoseconds per derl_formula_eval() call.
 *
 *   bench/formula-eval/formula-eval [SECONDS]
 *
 * Evaluates a few formulas (the paper's two examples, a 20-token one and a
 * 42-token one) on 4096 different primitive vectors (K = 8, uniform in
 * [0, 1) from a Philox stream), cycling through them for about SECONDS
 * (default 1) per formula, and prints the time per evaluation.  The same
 * 20-token formula written as C is timed beside it for reference.
 *
 * Then samples formulas under the grammar mask (K = 4, the first primitive
 * outcome-like, the default constants; uniformly among the allowed tokens)
 * for about SECONDS per token budget, and prints the time per mask and per
 * sampled formula (masks and pushes, up to END). */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <derl/derl.h>

#define K 8
#define N_VECTORS 4096

static const char *const formulas[] = {
  "g1",
  "g1 + 0.5*g2 + 0.1*(g3 + g4)",
  "g1 + (g2 * (g3 / 2)) - (g4 / 3)",
  "g1 + 0.5 * g2 - (g3 + g4) / (g5 + 2) * -g6",
  "g1 + 0.5 * g2 - (g3 + g4) / (g5 + 2) * -g6 + 0.1 * g7 * (g8 - 3) / (g1 + g2 + 1) - 2 * g3",
};

/* The 20-token formula as a compiler writes it. */
static double
native (const double *g)
{
  return g[0] + 0.5 * g[1] - (g[2] + g[3]) / (g[4] + 2) * -g[5];
}

/* Runs @fn (or @formula) over the vectors for about @seconds. */
static double
time_ns (const DerlFormula *formula, double (*fn) (const double *), const double *g, double seconds,
         double *sink)
{
  guint64 n = 0;
  double acc = 0;
  gint64 start = g_get_monotonic_time (), deadline = start + (gint64) (seconds * G_USEC_PER_SEC), t = start;

  while (t < deadline)
    {
      if (formula)
        for (guint i = 0; i < N_VECTORS; i++)
          acc += derl_formula_eval (formula, g + i * K);
      else
        for (guint i = 0; i < N_VECTORS; i++)
          acc += fn (g + i * K);
      n += N_VECTORS;
      t = g_get_monotonic_time ();
    }
  *sink += acc;
  return (t - start) * 1e3 / (double) n;
}

/* Samples formulas under the mask for about @seconds. */
static void
bench_grammar (guint max_tokens, double seconds)
{
  static const gboolean outcome[] = { TRUE, FALSE, FALSE, FALSE };
  g_autoptr (DerlFormulaGrammar) grammar = derl_formula_grammar_new (4, outcome, NULL, 0, max_tokens, NULL);
  DerlFormulaGrammarState state;
  DerlRng rng;
  guint8 mask[64];
  guint64 n_formulas = 0, masks = 0;
  gint64 start = g_get_monotonic_time (), deadline = start + (gint64) (seconds * G_USEC_PER_SEC), t = start;

  derl_rng_init (&rng, 1, DERL_RNG_STREAM_PLUGIN, 1, 0, 0);
  while (t < deadline)
    {
      for (guint i = 0; i < 1024; i++, n_formulas++)
        {
          guint token = G_MAXUINT;
          derl_formula_grammar_start (grammar, &state);
          while (token != DERL_FORMULA_TOKEN_END)
            {
              guint pick = derl_rng_below (&rng, derl_formula_grammar_mask (grammar, &state, mask));
              masks++;
              for (token = 0; !mask[token] || pick-- > 0; token++)
                ;
              derl_formula_grammar_push (grammar, &state, token, NULL);
            }
        }
      t = g_get_monotonic_time ();
    }
  double elapsed = (t - start) * 1e3;
  printf ("budget %2u  %7.1f ns/mask  %7.2f us/formula  (%.1f tokens per formula with END)\n", max_tokens,
          elapsed / masks, elapsed / n_formulas / 1e3, (double) masks / n_formulas);
}

int
main (int argc, char **argv)
{
  double seconds = argc > 1 ? g_ascii_strtod (argv[1], NULL) : 1.0;
  g_autofree double *g = g_new (double, N_VECTORS * K);
  DerlRng rng;
  double sink = 0;

  if (!(seconds > 0))
    {
      fprintf (stderr, "usage: %s [SECONDS]\n", argv[0]);
      return 2;
    }
  derl_rng_init (&rng, 1, DERL_RNG_STREAM_PLUGIN, 0, 0, 0);
  for (guint i = 0; i < N_VECTORS * K; i++)
    g[i] = derl_rng_uniform (&rng);

  for (guint i = 0; i < G_N_ELEMENTS (formulas); i++)
    {
      g_autoptr (GError) error = NULL;
      g_autoptr (DerlFormula) f = derl_formula_parse (formulas[i], -1, K, NULL, &error);
      if (!f)
        {
          fprintf (stderr, "%s\n", error->message);
          return 1;
        }
      double ns = time_ns (f, NULL, g, seconds, &sink);
      printf ("%3u tokens %7.2f ns/eval  %s\n", derl_formula_get_n_tokens (f), ns, formulas[i]);
      if (derl_formula_get_n_tokens (f) == 20)
        {
          for (guint v = 0; v < N_VECTORS; v++)
            if (derl_formula_eval (f, g + v * K) != native (g + v * K))
              {
                fprintf (stderr, "derl and C disagree on vector %u\n", v);
                return 1;
              }
          printf ("%3s        %7.2f ns/eval  (the 20-token formula compiled as C)\n", "",
                  time_ns (NULL, native, g, seconds, &sink));
        }
    }
  printf ("sampling under the grammar mask, K = 4:\n");
  bench_grammar (20, seconds);
  bench_grammar (DERL_FORMULA_GRAMMAR_MAX_TOKENS, seconds);
  return sink == 42.0; /* keeps the sums alive */
}
