/* derl - an environment instance with its spec and step buffers. */
#include "config.h"

#include <math.h>
#include <string.h>
#include "derl-private.h"

struct _DerlEnv {
  const DerlFeature *feature;
  const DerlEnvVTable *vtable;
  gpointer state;
  DerlEnvSpec spec;
  DerlEnvStep step;
  /* where the env is, for the messages of the boundary checks */
  guint split;
  guint64 task;
  guint n_steps;
};

static gboolean
check_spec (const DerlFeature *feature, const DerlEnvSpec *spec, GError **error)
{
  const char *problem = NULL;

  if (spec->n_actions == 0)
    problem = "no actions";
  else if (spec->max_steps == 0)
    problem = "max_steps is 0";
  else if (spec->n_splits == 0 || !spec->splits)
    problem = "no task splits";
  else if (spec->n_signals > 0 && !spec->signals)
    problem = "signal names missing";
  else if (spec->target_return && !isfinite (*spec->target_return))
    problem = "target_return is not a finite number";
  for (guint i = 0; !problem && i < spec->n_splits; i++)
    if (!spec->splits[i].name || spec->splits[i].n_tasks == 0)
      problem = "a split without a name or without tasks";
  for (guint i = 0; !problem && i < spec->n_signals; i++)
    if (!spec->signals[i])
      problem = "a signal without a name";
  if (problem)
    {
      g_set_error (error, DERL_RUN_ERROR, DERL_RUN_ERROR_FAILED,
                   "env '%s' reported an invalid spec: %s", feature->name, problem);
      return FALSE;
    }
  return TRUE;
}

DerlEnv *
derl_env_new (const DerlFeature *feature, const DerlParams *params, GError **error)
{
  g_autoptr (DerlEnv) env = NULL;

  g_return_val_if_fail (feature != NULL && feature->kind == DERL_FEATURE_ENV, NULL);
  g_return_val_if_fail (params != NULL, NULL);

  env = g_new0 (DerlEnv, 1);
  env->feature = feature;
  env->vtable = feature->vtable;
  if (!env->vtable->create (params, &env->spec, &env->state, error))
    {
      if (error && !*error)
        g_set_error (error, DERL_RUN_ERROR, DERL_RUN_ERROR_FAILED,
                     "env '%s' could not be created", feature->name);
      env->state = NULL;
      return NULL;
    }
  if (!check_spec (feature, &env->spec, error))
    return NULL;

  env->step.obs = g_new0 (float, MAX (env->spec.obs_size, 1));
  env->step.action_mask = g_new0 (guint8, env->spec.n_actions);
  if (env->spec.candidate_size > 0)
    env->step.candidates = g_new0 (float, (gsize) env->spec.n_actions * env->spec.candidate_size);
  env->step.signals = g_new0 (double, MAX (env->spec.n_signals, 1));
  return g_steal_pointer (&env);
}

void
derl_env_free (DerlEnv *env)
{
  if (!env)
    return;
  if (env->state)
    env->vtable->destroy (env->state);
  g_free (env->step.obs);
  g_free (env->step.action_mask);
  g_free (env->step.candidates);
  g_free (env->step.signals);
  g_free (env);
}

const DerlEnvSpec *
derl_env_get_spec (const DerlEnv *env)
{
  return &env->spec;
}

int
derl_env_find_split (const DerlEnv *env, const char *name)
{
  for (guint i = 0; i < env->spec.n_splits; i++)
    if (strcmp (env->spec.splits[i].name, name) == 0)
      return (int) i;
  return -1;
}

/* The step contract: reward, flags and signals are zero unless the env
 * writes them.  n_signals is small; this is a few stores per step. */
static void
clear_step (DerlEnv *env)
{
  env->step.reward = 0.0;
  env->step.terminated = FALSE;
  env->step.truncated = FALSE;
  env->step.success = FALSE;
  memset (env->step.signals, 0, sizeof (double) * env->spec.n_signals);
}

/* Whether any of @n floats is NaN or infinite: an exponent of all ones,
 * that is (bits & 0x7f800000) + 0x00800000 reaching bit 31.  Branch-free
 * over integers, 16 floats a turn in vectors of 8 where the compiler has
 * GNU C vector extensions (no per-CPU clones: a plain build's vectors);
 * the index of the culprit is looked for only when there is one. */
#define EXP_MASK 0x7f800000u
#define EXP_ONE 0x00800000u

/* The bits of floats @from .. @n-1 folded as above, one at a time. */
static guint32
floats_bits (const float *x, gsize from, gsize n)
{
  guint32 bad = 0;
  for (gsize i = from; i < n; i++)
    {
      guint32 u;
      memcpy (&u, x + i, sizeof u);
      bad |= (u & EXP_MASK) + EXP_ONE;
    }
  return bad;
}

#if defined(__GNUC__)
typedef guint32 U32x8 __attribute__ ((vector_size (32)));

static gboolean
floats_bad (const float *x, gsize n)
{
  const U32x8 mask = { EXP_MASK, EXP_MASK, EXP_MASK, EXP_MASK, EXP_MASK, EXP_MASK, EXP_MASK, EXP_MASK };
  const U32x8 one = { EXP_ONE, EXP_ONE, EXP_ONE, EXP_ONE, EXP_ONE, EXP_ONE, EXP_ONE, EXP_ONE };
  U32x8 acc0 = { 0 }, acc1 = { 0 };
  guint32 bad = 0;
  gsize i = 0;
  for (; i + 16 <= n; i += 16)
    {
      U32x8 u0, u1;
      memcpy (&u0, x + i, sizeof u0);
      memcpy (&u1, x + i + 8, sizeof u1);
      acc0 |= (u0 & mask) + one;
      acc1 |= (u1 & mask) + one;
    }
  acc0 |= acc1;
  for (guint k = 0; k < 8; k++)
    bad |= acc0[k];
  bad |= floats_bits (x, i, n);
  return (bad & 0x80000000u) != 0;
}
#else
static gboolean
floats_bad (const float *x, gsize n)
{
  return (floats_bits (x, 0, n) & 0x80000000u) != 0;
}
#endif

static gboolean
doubles_bad (const double *x, gsize n)
{
  guint64 bad = 0;
  for (gsize i = 0; i < n; i++)
    {
      guint64 u;
      memcpy (&u, x + i, sizeof u);
      bad |= (u & G_GUINT64_CONSTANT (0x7ff0000000000000)) == G_GUINT64_CONSTANT (0x7ff0000000000000);
    }
  return bad != 0;
}

static const char *
nonfinite_name (double x)
{
  return isnan (x) ? "nan" : x > 0 ? "+inf" : "-inf";
}

static gsize
first_nonfinite_float (const float *x, gsize n)
{
  gsize i = 0;
  while (i < n && isfinite (x[i]))
    i++;
  return i;
}

#define WHY_FINITE "an env's outputs must be finite"
#define WHY_MASK "a mask byte is 0 or 1, and an episode that is not over has an admissible action"

/* Sets the contract error: "env 'NAME': WHAT at split 'S', task T, step N
 * (WHY; see derl-plugin(7))". */
G_GNUC_PRINTF (4, 5) static void
contract_error (const DerlEnv *env, GError **error, const char *why, const char *format, ...)
{
  va_list ap;
  va_start (ap, format);
  g_autofree char *what = g_strdup_vprintf (format, ap);
  va_end (ap);
  g_set_error (error, DERL_RUN_ERROR, DERL_RUN_ERROR_ENV_CONTRACT,
               "env '%s': %s at split '%s', task %" G_GUINT64_FORMAT ", step %u (%s; see derl-plugin(7))",
               env->feature->name, what, env->spec.splits[env->split].name, env->task, env->n_steps, why);
}

/* The boundary check of every output after reset, step and set_state. */
static gboolean
check_outputs (const DerlEnv *env, GError **error)
{
  const DerlEnvSpec *spec = &env->spec;
  const DerlEnvStep *s = &env->step;
  gsize n_cand = (gsize) spec->n_actions * spec->candidate_size;
  gboolean over_one, any;

  /* the mask 8 bytes at a time: a byte above 1 has a bit of 0xfe set */
  guint64 bits = 0, ones = 0;
  guint a = 0;
  for (; a + 8 <= spec->n_actions; a += 8)
    {
      guint64 w;
      memcpy (&w, s->action_mask + a, sizeof w);
      bits |= w & G_GUINT64_CONSTANT (0xfefefefefefefefe);
      ones |= w;
    }
  for (; a < spec->n_actions; a++)
    {
      bits |= s->action_mask[a] & 0xfe;
      ones |= s->action_mask[a];
    }
  over_one = bits != 0;
  any = ones != 0;
  if (G_LIKELY (!floats_bad (s->obs, spec->obs_size) && !(n_cand && floats_bad (s->candidates, n_cand))
                && !doubles_bad (s->signals, spec->n_signals) && isfinite (s->reward) && !over_one
                && (any || s->terminated || s->truncated)))
    return TRUE;

  /* Slow path: name the first culprit. */
  gsize i = first_nonfinite_float (s->obs, spec->obs_size);
  if (i < spec->obs_size)
    {
      contract_error (env, error, WHY_FINITE, "observation[%" G_GSIZE_FORMAT "] is %s", i,
                      nonfinite_name (s->obs[i]));
      return FALSE;
    }
  i = n_cand ? first_nonfinite_float (s->candidates, n_cand) : 0;
  if (i < n_cand)
    {
      contract_error (env, error, WHY_FINITE,
                      "candidates[%" G_GSIZE_FORMAT "][%" G_GSIZE_FORMAT "] (%s action) is %s",
                      i / spec->candidate_size, i % spec->candidate_size,
                      s->action_mask[i / spec->candidate_size] ? "an admissible" : "a masked",
                      nonfinite_name (s->candidates[i]));
      return FALSE;
    }
  for (guint k = 0; k < spec->n_signals; k++)
    if (!isfinite (s->signals[k]))
      {
        contract_error (env, error, WHY_FINITE, "signal[%u] '%s' is %s", k, spec->signals[k],
                        nonfinite_name (s->signals[k]));
        return FALSE;
      }
  if (!isfinite (s->reward))
    {
      contract_error (env, error, WHY_FINITE, "reward is %s", nonfinite_name (s->reward));
      return FALSE;
    }
  for (a = 0; a < spec->n_actions; a++)
    if (s->action_mask[a] > 1)
      {
        contract_error (env, error, WHY_MASK, "action_mask[%u] is %u", a, s->action_mask[a]);
        return FALSE;
      }
  contract_error (env, error, WHY_MASK, "action_mask has no admissible action and the episode is not over");
  return FALSE;
}

const DerlEnvStep *
derl_env_reset (DerlEnv *env, guint split, guint64 task_index, DerlRng *rng, GError **error)
{
  g_return_val_if_fail (env != NULL && rng != NULL, NULL);
  g_return_val_if_fail (split < env->spec.n_splits, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  env->split = split;
  env->task = task_index % env->spec.splits[split].n_tasks;
  env->n_steps = 0;
  clear_step (env);
  env->vtable->reset (env->state, split, env->task, rng, &env->step);
  return check_outputs (env, error) ? &env->step : NULL;
}

const DerlEnvStep *
derl_env_step (DerlEnv *env, guint action, GError **error)
{
  g_return_val_if_fail (env != NULL, NULL);
  g_return_val_if_fail (action < env->spec.n_actions && env->step.action_mask[action], NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  env->n_steps++;
  clear_step (env);
  env->vtable->step (env->state, action, &env->step);
  return check_outputs (env, error) ? &env->step : NULL;
}

gboolean
derl_env_get_state (DerlEnv *env, double *values)
{
  g_return_val_if_fail (env != NULL && values != NULL, FALSE);
  if (!env->vtable->get_state || env->spec.state_size == 0)
    return FALSE;
  env->vtable->get_state (env->state, values);
  return TRUE;
}

const DerlEnvStep *
derl_env_set_state (DerlEnv *env, const double *values, GError **error)
{
  g_return_val_if_fail (env != NULL && values != NULL, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);
  if (!env->vtable->set_state || env->spec.state_size == 0)
    {
      g_set_error (error, DERL_RUN_ERROR, DERL_RUN_ERROR_FAILED, "env '%s' does not support set_state",
                   env->feature->name);
      return NULL;
    }
  clear_step (env);
  env->vtable->set_state (env->state, values, &env->step);
  return check_outputs (env, error) ? &env->step : NULL;
}
