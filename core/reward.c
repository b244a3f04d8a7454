/* derl - the trajectory reward a trainer hands its optimizer: the env's own
 * per-step reward, or a Meta-Reward formula over the experiment's bound
 * primitives, computed when an episode ends and placed on its last step.
 *
 * Per env slot it keeps the episode's signals so far (signal-major, so a
 * primitive's signal is one contiguous array); nothing is allocated per
 * step. */
#include "config.h"

#include <math.h>
#include <string.h>
#include "derl-private.h"

struct _DerlReward {
  const DerlFormula *formula; /* NULL: the env's own reward */
  guint n_prims;
  const DerlPrimitiveVTable **prims;
  char **member;               /* "g1_success", ...: the metrics members */
  guint *sig_index;            /* [prim * MAX_SIGNALS + k]: the env signal */
  guint n_signals, max_steps, n_slots;
  double *history;             /* [slot][signal][step] */
  guint *length;
  double *env_return;
  double *g;                   /* one episode's primitive values */
  /* since the last _derl_reward_stats () */
  double *g_sum;
  double value_sum;
  guint64 n_episodes, n_nonfinite;
};

DerlReward *
_derl_reward_new (const DerlExperiment *experiment, const DerlFormula *formula, const DerlEnvSpec *spec,
                  guint n_slots)
{
  guint K = derl_experiment_get_n_primitives (experiment);
  DerlReward *r;

  if (K == 0 && !formula)
    return NULL;
  r = g_new0 (DerlReward, 1);
  r->formula = formula;
  r->n_prims = K;
  r->prims = g_new0 (const DerlPrimitiveVTable *, K);
  r->member = g_new0 (char *, K + 1);
  r->sig_index = g_new0 (guint, (gsize) K * DERL_PRIMITIVE_MAX_SIGNALS);
  for (guint i = 0; i < K; i++)
    {
      const DerlFeature *f = derl_experiment_get_primitive (experiment, i);
      r->prims[i] = derl_feature_get_primitive_vtable (f);
      r->member[i] = g_strdup_printf ("g%u_%s", i + 1, derl_feature_get_name (f));
      /* The experiment checked that the env emits every signal. */
      for (guint k = 0; r->prims[i]->signals && r->prims[i]->signals[k]; k++)
        for (guint s = 0; s < spec->n_signals; s++)
          if (strcmp (spec->signals[s], r->prims[i]->signals[k]) == 0)
            r->sig_index[i * DERL_PRIMITIVE_MAX_SIGNALS + k] = s;
    }
  r->n_signals = spec->n_signals;
  r->max_steps = spec->max_steps;
  r->n_slots = n_slots;
  r->history = g_new0 (double, (gsize) n_slots * MAX (spec->n_signals, 1) * spec->max_steps);
  r->length = g_new0 (guint, n_slots);
  r->env_return = g_new0 (double, n_slots);
  r->g = g_new0 (double, MAX (K, 1));
  r->g_sum = g_new0 (double, MAX (K, 1));
  return r;
}

void
_derl_reward_free (DerlReward *r)
{
  if (!r)
    return;
  g_free (r->prims);
  g_strfreev (r->member);
  g_free (r->sig_index);
  g_free (r->history);
  g_free (r->length);
  g_free (r->env_return);
  g_free (r->g);
  g_free (r->g_sum);
  g_free (r);
}

void
_derl_reward_begin (DerlReward *r, guint slot)
{
  r->length[slot] = 0;
  r->env_return[slot] = 0;
}

static double *
signal_row (DerlReward *r, guint slot, guint signal)
{
  return r->history + ((gsize) slot * r->n_signals + signal) * r->max_steps;
}

/* The primitives of slot's finished episode into r->g. */
static void
compute_primitives (DerlReward *r, guint slot, const DerlEnvStep *last)
{
  const double *signals[DERL_PRIMITIVE_MAX_SIGNALS];
  DerlTrajectory t = { r->length[slot], r->max_steps, last->success, last->terminated,
                       last->truncated && !last->terminated, r->env_return[slot], signals, { NULL } };

  for (guint i = 0; i < r->n_prims; i++)
    {
      for (guint k = 0; r->prims[i]->signals && r->prims[i]->signals[k]; k++)
        signals[k] = signal_row (r, slot, r->sig_index[i * DERL_PRIMITIVE_MAX_SIGNALS + k]);
      r->g[i] = r->prims[i]->compute (&t);
      r->g_sum[i] += r->g[i];
    }
}

double
_derl_reward_step (DerlReward *r, guint slot, const DerlEnvStep *s)
{
  guint t = r->length[slot]++;

  g_return_val_if_fail (t < r->max_steps, 0.0);
  for (guint k = 0; k < r->n_signals; k++)
    signal_row (r, slot, k)[t] = s->signals[k];
  r->env_return[slot] += s->reward;
  if (!(s->terminated || s->truncated))
    return r->formula ? 0.0 : s->reward;

  compute_primitives (r, slot, s);
  r->n_episodes++;
  if (!r->formula)
    return s->reward;
  double value = derl_formula_eval (r->formula, r->g);
  if (!isfinite (value))
    {
      r->n_nonfinite++;
      value = 0.0;
    }
  r->value_sum += value;
  return value;
}

void
_derl_reward_stats (DerlReward *r, JsonObject *o)
{
  if (r->n_episodes)
    {
      for (guint i = 0; i < r->n_prims; i++)
        derl_metrics_set_double (o, r->member[i], r->g_sum[i] / r->n_episodes);
      if (r->formula)
        derl_metrics_set_double (o, "formula_mean", r->value_sum / r->n_episodes);
    }
  if (r->formula)
    json_object_set_int_member (o, "formula_nonfinite", (gint64) r->n_nonfinite);
  memset (r->g_sum, 0, sizeof (double) * MAX (r->n_prims, 1));
  r->value_sum = 0;
  r->n_episodes = r->n_nonfinite = 0;
}
