/* derl - reward primitives for math-answer tasks (an arithmetic env writes
 * its answer token by token, or in reasoning steps): the outcome, the
 * answer's format, the correctness of the intermediate steps, and whether
 * the right answer appeared at all.
 *
 * The signals they read, to be emitted after each step by such an env:
 *     format          1 when the output so far is a well-formed answer
 *     step_ok         1 when the step's intermediate result is right
 *     contains_answer 1 when the output so far contains the right answer
 * An env that does not emit one of them cannot be used with the primitive
 * that reads it: the experiment is refused when it loads. */
#include "config.h"

#include <derl/derl.h>

static const char *const format_signal[] = { "format", NULL };
static const char *const step_signal[] = { "step_ok", NULL };
static const char *const answer_signal[] = { "contains_answer", NULL };

static double
outcome_compute (const DerlTrajectory *t)
{
  return t->success ? 1.0 : 0.0;
}

/* The signal after the last step. */
static double
last_value (const DerlTrajectory *t)
{
  return t->signals[0][t->length - 1];
}

static double
mean_value (const DerlTrajectory *t)
{
  double sum = 0;
  for (guint i = 0; i < t->length; i++)
    sum += t->signals[0][i];
  return sum / t->length;
}

/* 1 when the signal was set after any step. */
static double
any_value (const DerlTrajectory *t)
{
  for (guint i = 0; i < t->length; i++)
    if (t->signals[0][i] != 0)
      return 1.0;
  return 0.0;
}

static const DerlPrimitiveVTable outcome_vt = { NULL, TRUE, outcome_compute, { NULL } };
static const DerlPrimitiveVTable format_vt = { format_signal, FALSE, last_value, { NULL } };
static const DerlPrimitiveVTable steps_vt = { step_signal, FALSE, mean_value, { NULL } };
static const DerlPrimitiveVTable contains_vt = { answer_signal, TRUE, any_value, { NULL } };

static gboolean
math_init (DerlPlugin *plugin, GError **error)
{
  return derl_plugin_register_primitive (plugin, "outcome",
           "1 if the final answer is right (the episode's success), else 0.", &outcome_vt, NULL, error)
         && derl_plugin_register_primitive (plugin, "format",
              "The env's 'format' signal after the last step: 1 when the answer is well formed.",
              &format_vt, NULL, error)
         && derl_plugin_register_primitive (plugin, "steps",
              "The mean of the env's 'step_ok' signal over the episode: the fraction of steps\n"
              "whose intermediate result is right.", &steps_vt, NULL, error)
         && derl_plugin_register_primitive (plugin, "contains_answer",
              "1 if the env's 'contains_answer' signal was set after any step: the right answer\n"
              "appeared in the output, wherever it was.", &contains_vt, NULL, error);
}

DERL_PLUGIN_DEFINE ("math", "reward primitives for math answers: outcome, format, steps, contains_answer",
                    math_init, PACKAGE_VERSION, "LGPL-2.1-or-later")
