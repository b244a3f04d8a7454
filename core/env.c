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

static void
clear_step (DerlEnv *env)
{
  env->step.reward = 0.0;
  env->step.terminated = FALSE;
  env->step.truncated = FALSE;
  env->step.success = FALSE;
  memset (env->step.signals, 0, sizeof (double) * env->spec.n_signals);
}

const DerlEnvStep *
derl_env_reset (DerlEnv *env, guint split, guint64 task_index, DerlRng *rng)
{
  g_return_val_if_fail (env != NULL && rng != NULL, NULL);
  g_return_val_if_fail (split < env->spec.n_splits, NULL);

  clear_step (env);
  env->vtable->reset (env->state, split, task_index % env->spec.splits[split].n_tasks, rng, &env->step);
  return &env->step;
}

const DerlEnvStep *
derl_env_step (DerlEnv *env, guint action)
{
  g_return_val_if_fail (env != NULL, NULL);
  g_return_val_if_fail (action < env->spec.n_actions && env->step.action_mask[action], NULL);

  /* step() writes every field of the step buffers (env.h), so nothing is
   * cleared here: this is the innermost loop of training. */
  env->vtable->step (env->state, action, &env->step);
  return &env->step;
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
derl_env_set_state (DerlEnv *env, const double *values)
{
  g_return_val_if_fail (env != NULL && values != NULL, NULL);
  if (!env->vtable->set_state || env->spec.state_size == 0)
    return NULL;
  clear_step (env);
  env->vtable->set_state (env->state, values, &env->step);
  return &env->step;
}
