/* derl - reward primitives for agentic (multi-step, tool-using) tasks, the
 * DERL paper's ALFWorld primitives: the outcome, and how well the agent did
 * in each third of its episode.
 *
 * The per-step score reads three env signals (the household env emits all
 * three; see derl-inspect household):
 *     s_t = (2 progress_t + explore_t + valid_t) / 4        in [0, 1]
 * progress (a subgoal reached) counts double: it is the signal that says the
 * task moved forward; explore (a first visit) and valid (the action changed
 * the world) say the step was not wasted.
 *
 * Thirds of an episode of L steps: the first floor(L/3) steps, the next
 * floor((L+1)/3), the last floor((L+2)/3) (these add up to L); so the last
 * third is never the shorter one, and an episode of 1 step has only a last
 * third.  The mean over an empty third is 0. */
#include "config.h"

#include <derl/derl.h>

enum { SIG_PROGRESS, SIG_EXPLORE, SIG_VALID };
static const char *const score_signals[] = { "progress", "explore", "valid", NULL };
static const char *const valid_signal[] = { "valid", NULL };
static const char *const explore_signal[] = { "explore", NULL };

static double
step_score (const DerlTrajectory *t, guint step)
{
  return (2.0 * t->signals[SIG_PROGRESS][step] + t->signals[SIG_EXPLORE][step] + t->signals[SIG_VALID][step])
         / 4.0;
}

/* The mean per-step score over steps [from, to). */
static double
mean_score (const DerlTrajectory *t, guint from, guint to)
{
  double sum = 0;
  for (guint i = from; i < to; i++)
    sum += step_score (t, i);
  return to > from ? sum / (to - from) : 0.0;
}

/* Where the middle and the last third begin. */
static guint
mid_start (guint length)
{
  return length / 3;
}

static guint
late_start (guint length)
{
  return length / 3 + (length + 1) / 3;
}

static double
success_compute (const DerlTrajectory *t)
{
  return t->success ? 1.0 : 0.0;
}

static double
early_compute (const DerlTrajectory *t)
{
  return mean_score (t, 0, mid_start (t->length));
}

static double
mid_compute (const DerlTrajectory *t)
{
  return mean_score (t, mid_start (t->length), late_start (t->length));
}

static double
late_compute (const DerlTrajectory *t)
{
  return mean_score (t, late_start (t->length), t->length);
}

static double
signal_mean (const DerlTrajectory *t)
{
  double sum = 0;
  for (guint i = 0; i < t->length; i++)
    sum += t->signals[0][i];
  return sum / t->length;
}

static double
length_compute (const DerlTrajectory *t)
{
  return (double) t->length / t->max_steps;
}

static const DerlPrimitiveVTable success_vt = { NULL, TRUE, success_compute, { NULL } };
static const DerlPrimitiveVTable early_vt = { score_signals, FALSE, early_compute, { NULL } };
static const DerlPrimitiveVTable mid_vt = { score_signals, FALSE, mid_compute, { NULL } };
static const DerlPrimitiveVTable late_vt = { score_signals, FALSE, late_compute, { NULL } };
static const DerlPrimitiveVTable valid_rate_vt = { valid_signal, FALSE, signal_mean, { NULL } };
static const DerlPrimitiveVTable explore_rate_vt = { explore_signal, FALSE, signal_mean, { NULL } };
static const DerlPrimitiveVTable length_vt = { NULL, FALSE, length_compute, { NULL } };

#define SCORE_DOC \
  "The per-step score is s_t = (2 progress_t + explore_t + valid_t) / 4, from the env's\n" \
  "signals.  Thirds of an episode of L steps: the first floor(L/3) steps, the next\n" \
  "floor((L+1)/3), the last floor((L+2)/3); the mean over an empty third is 0."

static const struct {
  const char *name;
  const char *description;
  const DerlPrimitiveVTable *vtable;
} primitives[] = {
  { "success", "1 if the episode accomplished its task, else 0 (the outcome reward).", &success_vt },
  { "early", "The mean per-step score over the first third of the episode.\n" SCORE_DOC, &early_vt },
  { "mid", "The mean per-step score over the middle third of the episode.\n" SCORE_DOC, &mid_vt },
  { "late", "The mean per-step score over the last third of the episode.\n" SCORE_DOC, &late_vt },
  { "valid_rate", "The fraction of the episode's steps whose action changed the world (signal 'valid').",
    &valid_rate_vt },
  { "explore_rate", "The fraction of the episode's steps that visited a place for the first time\n"
                    "(signal 'explore').", &explore_rate_vt },
  { "length", "The episode's length divided by the env's max_steps, in (0, 1].", &length_vt },
};

static gboolean
agentic_init (DerlPlugin *plugin, GError **error)
{
  for (guint i = 0; i < G_N_ELEMENTS (primitives); i++)
    if (!derl_plugin_register_primitive (plugin, primitives[i].name, primitives[i].description,
                                         primitives[i].vtable, NULL, error))
      return FALSE;
  return TRUE;
}

DERL_PLUGIN_DEFINE ("agentic", "reward primitives for agentic tasks: success, early, mid, late, ...",
                    agentic_init, PACKAGE_VERSION, "LGPL-2.1-or-later")
