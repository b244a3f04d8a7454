/* derl - `mode = train`: collect decisions from a fleet of env instances as
 * the optimizer's plan says, hand them to the optimizer, evaluate greedily. */
#include "config.h"

#include <math.h>
#include <string.h>
#include "derl-private.h"

#define RECENT 20 /* training returns averaged for "mean_return_20" */

/* ---- the batch's host buffers ---- */

typedef struct {
  guint cap;
  float *obs, *cand;
  guint8 *mask;
  guint32 *actions;
  float *logp, *values, *rewards, *next_values, *last_values;
  guint8 *terminated, *truncated;
  guint32 *episode, *group, *episode_start;
} Buffers;

static void
buffers_init (Buffers *b, const DerlEnvSpec *spec, guint cap, guint n_envs, guint n_episodes)
{
  b->cap = cap;
  b->obs = g_new0 (float, (gsize) cap * MAX (spec->obs_size, 1));
  b->cand = spec->candidate_size ? g_new0 (float, (gsize) cap * spec->n_actions * spec->candidate_size) : NULL;
  b->mask = g_new0 (guint8, (gsize) cap * spec->n_actions);
  b->actions = g_new0 (guint32, cap);
  b->logp = g_new0 (float, cap);
  b->values = g_new0 (float, cap);
  b->rewards = g_new0 (float, cap);
  b->next_values = g_new0 (float, cap);
  b->last_values = g_new0 (float, MAX (n_envs, 1));
  b->terminated = g_new0 (guint8, cap);
  b->truncated = g_new0 (guint8, cap);
  b->episode = g_new0 (guint32, cap);
  b->group = g_new0 (guint32, cap);
  b->episode_start = g_new0 (guint32, n_episodes + 1);
}

static void
buffers_clear (Buffers *b)
{
  g_free (b->obs);
  g_free (b->cand);
  g_free (b->mask);
  g_free (b->actions);
  g_free (b->logp);
  g_free (b->values);
  g_free (b->rewards);
  g_free (b->next_values);
  g_free (b->last_values);
  g_free (b->terminated);
  g_free (b->truncated);
  g_free (b->episode);
  g_free (b->group);
  g_free (b->episode_start);
}

/* Copies what @s shows (observation, mask, candidates) into row @row. */
static void
store_inputs (Buffers *b, const DerlEnvSpec *spec, guint row, const DerlEnvStep *s)
{
  memcpy (b->obs + (gsize) row * spec->obs_size, s->obs, sizeof (float) * spec->obs_size);
  memcpy (b->mask + (gsize) row * spec->n_actions, s->action_mask, spec->n_actions);
  if (spec->candidate_size)
    memcpy (b->cand + (gsize) row * spec->n_actions * spec->candidate_size, s->candidates,
            sizeof (float) * spec->n_actions * spec->candidate_size);
}

/* Moves row @from to row @to (from >= to). */
static void
move_row (Buffers *b, const DerlEnvSpec *spec, guint to, guint from)
{
  gsize o = spec->obs_size, a = spec->n_actions, c = (gsize) spec->n_actions * spec->candidate_size;
  if (to == from)
    return;
  memmove (b->obs + to * o, b->obs + from * o, sizeof (float) * o);
  memmove (b->mask + to * a, b->mask + from * a, a);
  if (c)
    memmove (b->cand + to * c, b->cand + from * c, sizeof (float) * c);
  b->actions[to] = b->actions[from];
  b->logp[to] = b->logp[from];
  b->values[to] = b->values[from];
  b->rewards[to] = b->rewards[from];
  b->next_values[to] = b->next_values[from];
  b->terminated[to] = b->terminated[from];
  b->truncated[to] = b->truncated[from];
  b->episode[to] = b->episode[from];
  b->group[to] = b->group[from];
}

static DerlDecisions
decisions_at (const Buffers *b, const DerlEnvSpec *spec, guint row, guint n)
{
  DerlDecisions d = {
    n, b->obs + (gsize) row * spec->obs_size,
    spec->candidate_size ? b->cand + (gsize) row * spec->n_actions * spec->candidate_size : NULL,
    b->mask + (gsize) row * spec->n_actions,
  };
  return d;
}

/* ---- the trainer ---- */

typedef struct {
  const DerlExperiment *experiment;
  guint64 seed;
  const DerlFeature *env_feature;
  const DerlParams *env_params;
  const DerlEnvSpec *spec;
  guint train_split, eval_split;
  DerlRolloutPlan plan;
  const DerlOptimizerVTable *opt;
  gpointer opt_state;
  DerlBackend *backend;
  DerlPolicy *policy;
  DerlPolicyInputs *inputs;
  Buffers buf;
  DerlReward *reward;       /* NULL: the env's own reward, no primitives */

  guint n_envs;
  DerlEnv **envs;
  const DerlEnvStep **now;  /* each env's latest step buffers */
  DerlRng *action_rng;
  guint64 *episodes_begun;  /* SEGMENTS: per env */
  double *ep_return;
  guint *ep_length;
  gboolean *ep_success;     /* GROUPS: how each episode of the update ended */
  double *uniform;
  guint32 *act_rows;
  float *final_obs;         /* obs of truncated episodes, for bootstrapping */
  guint32 *final_rows;

  /* statistics */
  guint64 steps, episodes, updates;
  double recent[RECENT];
  guint n_recent;
  double update_return_sum, update_success;
  guint update_episodes;
  guint64 first_step_target;
  double target_return;
} Trainer;

static void
episode_done (Trainer *t, double ret, gboolean success)
{
  t->recent[t->episodes % RECENT] = ret;
  t->n_recent = MIN (t->n_recent + 1, RECENT);
  t->episodes++;
  t->update_return_sum += ret;
  t->update_success += success;
  t->update_episodes++;
}

static double
mean_recent (const Trainer *t)
{
  double s = 0;
  for (guint i = 0; i < t->n_recent; i++)
    s += t->recent[i];
  return t->n_recent ? s / t->n_recent : 0.0;
}

/* The env broke its contract: no admissible action, or an episode longer
 * than its max_steps.  Checked on every step, so a broken plugin stops the
 * run with a message instead of overrunning a buffer. */
static gboolean
check_step (Trainer *t, guint32 action, guint length, GError **error)
{
  const char *name = derl_feature_get_name (t->env_feature);
  if (action == DERL_NO_ACTION)
    {
      g_set_error (error, DERL_RUN_ERROR, DERL_RUN_ERROR_ENV_CONTRACT,
                   "env '%s': no admissible action after %u steps of an episode", name, length);
      return FALSE;
    }
  if (length >= t->spec->max_steps)
    {
      g_set_error (error, DERL_RUN_ERROR, DERL_RUN_ERROR_ENV_CONTRACT,
                   "env '%s': an episode did not end within max_steps (%u)", name, t->spec->max_steps);
      return FALSE;
    }
  return TRUE;
}

/* A training diverged when a loss or the gradient norm an update reports
 * is not finite; the run stops there, before a checkpoint is written. */
static gboolean
check_diverged (const DerlStats *stats, GError **error)
{
  for (guint i = 0; i < stats->n; i++)
    if (!isfinite (stats->values[i])
        && (g_str_has_suffix (stats->names[i], "loss") || strcmp (stats->names[i], "grad_norm") == 0))
      {
        g_set_error (error, DERL_RUN_ERROR, DERL_RUN_ERROR_DIVERGED, "%s is not finite (diverged)",
                     strcmp (stats->names[i], "grad_norm") == 0 ? "the gradient norm" : stats->names[i]);
        return FALSE;
      }
  return TRUE;
}

/* Starts a new episode on env @e of the SEGMENTS fleet. */
static gboolean
segment_reset (Trainer *t, guint e, GError **error)
{
  DerlRng rng;
  derl_rng_init (&rng, t->seed, DERL_RNG_STREAM_RESET, e, t->episodes_begun[e]++, 0);
  guint64 task = derl_rng_next_u64 (&rng);
  t->now[e] = derl_env_reset (t->envs[e], t->train_split, task, &rng, error);
  if (!t->now[e])
    return FALSE;
  if (t->reward)
    _derl_reward_begin (t->reward, e);
  t->ep_return[e] = 0;
  t->ep_length[e] = 0;
  return TRUE;
}

static gboolean
collect_segments (Trainer *t, GError **error)
{
  const DerlEnvSpec *spec = t->spec;
  Buffers *b = &t->buf;
  guint E = t->plan.n_envs, T = t->plan.n_steps;

  for (guint step = 0; step < T; step++)
    {
      guint row0 = step * E, n_final = 0;
      for (guint e = 0; e < E; e++)
        {
          store_inputs (b, spec, row0 + e, t->now[e]);
          t->uniform[e] = derl_rng_uniform (&t->action_rng[e]);
        }
      DerlDecisions d = decisions_at (b, spec, row0, E);
      derl_policy_act (t->policy, &d, t->uniform, b->actions + row0, b->logp + row0,
                       t->plan.needs_values ? b->values + row0 : NULL);
      for (guint e = 0; e < E; e++)
        {
          guint row = row0 + e;
          if (!check_step (t, b->actions[row], t->ep_length[e], error))
            return FALSE;
          const DerlEnvStep *s = derl_env_step (t->envs[e], b->actions[row], error);
          if (!s)
            return FALSE;
          double reward = t->reward ? _derl_reward_step (t->reward, e, s) : s->reward;
          b->rewards[row] = (float) reward;
          b->terminated[row] = s->terminated;
          b->truncated[row] = s->truncated && !s->terminated;
          b->next_values[row] = 0;
          b->episode[row] = e;
          t->ep_return[e] += reward;
          t->ep_length[e]++;
          if (s->terminated || s->truncated)
            {
              if (b->truncated[row] && t->plan.needs_values)
                {
                  memcpy (t->final_obs + (gsize) n_final * spec->obs_size, s->obs, sizeof (float) * spec->obs_size);
                  t->final_rows[n_final++] = row;
                }
              episode_done (t, t->ep_return[e], s->success);
              if (!segment_reset (t, e, error))
                return FALSE;
            }
          else
            t->now[e] = s;
        }
      t->steps += E;
      if (t->first_step_target == 0 && t->n_recent == RECENT && mean_recent (t) >= t->target_return)
        t->first_step_target = t->steps;
      if (n_final)
        {
          float *v = (float *) t->uniform; /* doubles hold at least n_final floats */
          derl_policy_values (t->policy, n_final, t->final_obs, v);
          for (guint i = 0; i < n_final; i++)
            b->next_values[t->final_rows[i]] = v[i];
        }
    }
  if (t->plan.needs_values)
    {
      for (guint e = 0; e < E; e++)
        memcpy (t->final_obs + (gsize) e * spec->obs_size, t->now[e]->obs, sizeof (float) * spec->obs_size);
      derl_policy_values (t->policy, E, t->final_obs, b->last_values);
    }
  return TRUE;
}

/* GROUPS: n_groups x group_size whole episodes, run side by side; episode i
 * writes step k to row i * max_steps + k, compacted afterwards. */
static gboolean
collect_groups (Trainer *t, guint *n_rows, guint32 *n_episodes, GError **error)
{
  const DerlEnvSpec *spec = t->spec;
  Buffers *b = &t->buf;
  guint S = t->plan.group_size, N = t->plan.n_groups * S, L = spec->max_steps;
  guint n_active = N, rows = 0;

  for (guint i = 0; i < N; i++)
    {
      DerlRng rng;
      guint g = i / S;
      /* The members of a group share the reset stream, hence the task and
       * start state; each has its own action stream. */
      derl_rng_init (&rng, t->seed, DERL_RNG_STREAM_RESET, t->updates, g, 1);
      guint64 task = derl_rng_next_u64 (&rng);
      t->now[i] = derl_env_reset (t->envs[i], t->train_split, task, &rng, error);
      if (!t->now[i])
        return FALSE;
      if (t->reward)
        _derl_reward_begin (t->reward, i);
      derl_rng_init (&t->action_rng[i], t->seed, DERL_RNG_STREAM_ACTION, t->updates, i, 1);
      t->ep_return[i] = 0;
      t->ep_length[i] = 0;
    }
  while (n_active > 0)
    {
      guint k = 0;
      for (guint i = 0; i < N; i++)
        if (t->now[i])
          {
            guint row = i * L + t->ep_length[i];
            store_inputs (b, spec, row, t->now[i]);
            t->act_rows[k] = row;
            t->uniform[k++] = derl_rng_uniform (&t->action_rng[i]);
          }
      /* Gather the active rows' inputs into the scratch rows at the end. */
      guint scratch = N * L;
      for (guint j = 0; j < k; j++)
        move_row (b, spec, scratch + j, t->act_rows[j]);
      DerlDecisions d = decisions_at (b, spec, scratch, k);
      guint32 *actions = b->actions + scratch;
      float *logp = b->logp + scratch;
      derl_policy_act (t->policy, &d, t->uniform, actions, logp,
                       t->plan.needs_values ? b->values + scratch : NULL);
      for (guint i = 0, j = 0; i < N; i++)
        if (t->now[i])
          {
            guint row = t->act_rows[j];
            if (!check_step (t, actions[j], t->ep_length[i], error))
              return FALSE;
            b->actions[row] = actions[j];
            b->logp[row] = logp[j];
            b->values[row] = b->values[scratch + j];
            j++;
            const DerlEnvStep *s = derl_env_step (t->envs[i], b->actions[row], error);
            if (!s)
              return FALSE;
            double reward = t->reward ? _derl_reward_step (t->reward, i, s) : s->reward;
            b->rewards[row] = (float) reward;
            b->terminated[row] = s->terminated;
            b->truncated[row] = s->truncated && !s->terminated;
            b->next_values[row] = 0;
            b->episode[row] = i;
            b->group[row] = i / S;
            t->ep_return[i] += reward;
            t->ep_length[i]++;
            t->steps++;
            if (s->terminated || s->truncated)
              {
                t->ep_success[i] = s->success;
                t->now[i] = NULL;
                n_active--;
              }
            else
              t->now[i] = s;
          }
    }
  /* Finished episodes are recorded in episode order, not in the order they
   * ended: short episodes (early successes, say) end first, which would bias
   * the last-20 mean. */
  for (guint i = 0; i < N; i++)
    episode_done (t, t->ep_return[i], t->ep_success[i]);
  if (t->first_step_target == 0 && t->n_recent == RECENT && mean_recent (t) >= t->target_return)
    t->first_step_target = t->steps;
  /* Compact: episode after episode. */
  for (guint i = 0; i < N; i++)
    {
      b->episode_start[i] = rows;
      for (guint k = 0; k < t->ep_length[i]; k++)
        move_row (b, spec, rows++, i * L + k);
    }
  b->episode_start[N] = rows;
  *n_episodes = N;
  *n_rows = rows;
  return TRUE;
}

static gboolean
trainer_init (Trainer *t, const DerlExperiment *experiment, const DerlTrainOptions *options, GError **error)
{
  const DerlParams *ex = derl_experiment_get_params (experiment, "experiment");
  const DerlParams *tr = derl_experiment_get_params (experiment, "train");
  const DerlParams *pol = derl_experiment_get_params (experiment, "policy");
  const DerlFeature *opt = derl_experiment_get_feature (experiment, DERL_FEATURE_OPTIMIZER);
  const DerlFeature *backend = derl_experiment_get_feature (experiment, DERL_FEATURE_BACKEND);

  t->experiment = experiment;
  t->seed = options ? options->seed : (guint64) derl_params_get_int (ex, "seed");
  /* No target (the env has none and the experiment sets none): never reached. */
  t->target_return = derl_params_is_set (tr, "target_return") ? derl_params_get_double (tr, "target_return")
                                                              : INFINITY;
  t->env_feature = derl_experiment_get_feature (experiment, DERL_FEATURE_ENV);
  t->env_params = derl_experiment_get_params (experiment, "env");
  t->opt = derl_feature_get_optimizer_vtable (opt);
  if (!t->opt->create (derl_experiment_get_params (experiment, "optimizer"), &t->opt_state, error))
    return FALSE;
  t->opt->plan (t->opt_state, &t->plan);
  t->backend = derl_backend_new (backend, derl_experiment_get_params (experiment, "backend"), error);
  if (!t->backend)
    return FALSE;

  t->n_envs = t->plan.kind == DERL_ROLLOUT_SEGMENTS ? t->plan.n_envs : t->plan.n_groups * t->plan.group_size;
  t->envs = g_new0 (DerlEnv *, t->n_envs);
  for (guint i = 0; i < t->n_envs; i++)
    if (!(t->envs[i] = derl_env_new (t->env_feature, t->env_params, error)))
      return FALSE;
  t->spec = derl_env_get_spec (t->envs[0]);
  t->reward = _derl_reward_new (experiment, options && options->formula ? options->formula
                                                                      : derl_experiment_get_formula (experiment),
                                t->spec, t->n_envs);
  t->train_split = (guint) derl_env_find_split (t->envs[0], derl_params_get_string (tr, "train_split"));
  t->eval_split = (guint) derl_env_find_split (t->envs[0], derl_params_get_string (tr, "eval_split"));

  DerlPolicyConfig config = { 0 };
  const char *const *hidden = derl_params_get_list (pol, "hidden");
  config.obs_size = t->spec->obs_size;
  config.n_actions = t->spec->n_actions;
  config.candidate_size = t->spec->candidate_size;
  for (config.n_hidden = 0; hidden[config.n_hidden]; config.n_hidden++)
    config.hidden[config.n_hidden] = (guint) g_ascii_strtoull (hidden[config.n_hidden], NULL, 10);
  config.activation = strcmp (derl_params_get_string (pol, "activation"), "relu") == 0
                      ? DERL_ACTIVATION_RELU : DERL_ACTIVATION_TANH;
  config.value_head = t->plan.needs_values;
  config.dtype = DERL_DTYPE_F32;
  guint eval_rows = (guint) MIN (derl_params_get_int (tr, "eval_episodes"), 256);
  guint max_rows = MAX (MAX (t->plan.minibatch_rows, t->n_envs), eval_rows);
  t->policy = derl_policy_new (t->backend, &config, max_rows, t->seed, error);
  if (!t->policy)
    return FALSE;
  if (options && options->init)
    {
      if (options->n_init != derl_policy_n_parameters (t->policy))
        {
          g_set_error (error, DERL_RUN_ERROR, DERL_RUN_ERROR_FAILED,
                       "the policy to start from has %" G_GSIZE_FORMAT " parameters; [policy] and the env make "
                       "%" G_GSIZE_FORMAT, options->n_init, derl_policy_n_parameters (t->policy));
          return FALSE;
        }
      derl_policy_set_parameters (t->policy, options->init);
    }
  /* A run of the bilevel loop (options given) is one of several in parallel. */
  derl_policy_set_threads (t->policy, options ? 1 : derl_experiment_get_threads (experiment));

  guint cap, n_episodes;
  if (t->plan.kind == DERL_ROLLOUT_SEGMENTS)
    {
      cap = t->plan.n_envs * t->plan.n_steps;
      n_episodes = 0;
    }
  else
    {
      cap = t->n_envs * t->spec->max_steps + t->n_envs; /* + scratch rows for acting */
      n_episodes = t->n_envs;
    }
  buffers_init (&t->buf, t->spec, cap, t->n_envs, n_episodes);
  t->inputs = derl_policy_inputs_new (t->policy, cap, error);
  if (!t->inputs)
    return FALSE;
  t->now = g_new0 (const DerlEnvStep *, t->n_envs);
  t->action_rng = g_new0 (DerlRng, t->n_envs);
  t->episodes_begun = g_new0 (guint64, t->n_envs);
  t->ep_return = g_new0 (double, t->n_envs);
  t->ep_length = g_new0 (guint, t->n_envs);
  t->ep_success = g_new0 (gboolean, t->n_envs);
  t->uniform = g_new0 (double, t->n_envs);
  t->act_rows = g_new0 (guint32, t->n_envs);
  t->final_obs = g_new0 (float, (gsize) t->n_envs * MAX (t->spec->obs_size, 1));
  t->final_rows = g_new0 (guint32, t->n_envs);
  if (t->plan.kind == DERL_ROLLOUT_SEGMENTS)
    for (guint i = 0; i < t->n_envs; i++)
      {
        derl_rng_init (&t->action_rng[i], t->seed, DERL_RNG_STREAM_ACTION, i, 0, 0);
        if (!segment_reset (t, i, error))
          return FALSE;
      }
  return TRUE;
}

static void
trainer_clear (Trainer *t)
{
  if (t->opt_state)
    t->opt->destroy (t->opt_state);
  for (guint i = 0; t->envs && i < t->n_envs; i++)
    derl_env_free (t->envs[i]);
  g_free (t->envs);
  derl_policy_inputs_free (t->inputs);
  derl_policy_free (t->policy);
  derl_backend_free (t->backend);
  if (t->buf.obs)
    buffers_clear (&t->buf);
  g_free (t->now);
  g_free (t->action_rng);
  g_free (t->episodes_begun);
  g_free (t->ep_return);
  g_free (t->ep_length);
  g_free (t->ep_success);
  g_free (t->uniform);
  g_free (t->act_rows);
  g_free (t->final_obs);
  g_free (t->final_rows);
  _derl_reward_free (t->reward);
}

static JsonObject *
eval_event (const Trainer *t, const DerlEvalResult *r)
{
  JsonObject *o = json_object_new ();
  json_object_set_string_member (o, "event", "eval");
  json_object_set_int_member (o, "step", (gint64) t->steps);
  json_object_set_int_member (o, "episodes", r->n_episodes);
  derl_metrics_set_double (o, "mean_return", r->mean_return);
  derl_metrics_set_double (o, "std_return", r->std_return);
  derl_metrics_set_double (o, "mean_length", r->mean_length);
  derl_metrics_set_double (o, "success_rate", r->success_rate);
  return o;
}

/* [evaluate] greedy: how evaluations, and so the bilevel scores, act. */
static gboolean
eval_greedy (const Trainer *t)
{
  const DerlParams *ev = derl_experiment_get_params (t->experiment, "evaluate");
  return !ev || derl_params_get_bool (ev, "greedy");
}

static gboolean
evaluate (Trainer *t, DerlMetrics *metrics, DerlEvalResult *r, GError **error)
{
  const DerlParams *tr = derl_experiment_get_params (t->experiment, "train");
  if (!derl_policy_evaluate_episodes (t->policy, t->env_feature, t->env_params, t->eval_split,
                                      (guint) derl_params_get_int (tr, "eval_episodes"), t->seed,
                                      eval_greedy (t), r, error))
    return FALSE;
  if (!metrics)
    return TRUE;
  g_autoptr (JsonObject) o = eval_event (t, r);
  return derl_metrics_write (metrics, o, error);
}

/* The final policy on each split of [evaluate] splits. */
static gboolean
evaluate_splits (Trainer *t, DerlMetrics *metrics, DerlTrainSummary *summary, GError **error)
{
  const DerlParams *ev = derl_experiment_get_params (t->experiment, "evaluate");
  const char *const *splits = ev ? derl_params_get_list (ev, "splits") : NULL;

  for (guint i = 0; splits && splits[i] && i < DERL_TRAIN_MAX_SPLITS; i++)
    {
      DerlEvalResult *r = &summary->split_eval[i];
      guint split = (guint) derl_env_find_split (t->envs[0], splits[i]);
      if (!derl_policy_evaluate_episodes (t->policy, t->env_feature, t->env_params, split,
                                          (guint) derl_params_get_int (ev, "episodes"), t->seed,
                                          eval_greedy (t), r, error))
        return FALSE;
      summary->splits[i] = splits[i];
      summary->n_splits = i + 1;
      if (metrics)
        {
          g_autoptr (JsonObject) o = eval_event (t, r);
          json_object_set_string_member (o, "event", "final_eval");
          json_object_set_string_member (o, "split", splits[i]);
          if (!derl_metrics_write (metrics, o, error))
            return FALSE;
        }
    }
  return TRUE;
}

gboolean
derl_train_run (const DerlExperiment *experiment, DerlMetrics *metrics,
                void (*progress) (guint64 done, guint64 total, gpointer user_data), gpointer user_data,
                const char *checkpoint, DerlTrainSummary *summary, GError **error)
{
  return _derl_train (experiment, NULL, metrics, progress, user_data, checkpoint, summary, error);
}

gboolean
_derl_train (const DerlExperiment *experiment, const DerlTrainOptions *options, DerlMetrics *metrics,
             void (*progress) (guint64 done, guint64 total, gpointer user_data), gpointer user_data,
             const char *checkpoint, DerlTrainSummary *summary, GError **error)
{
  const DerlParams *tr = derl_experiment_get_params (experiment, "train");
  guint64 total = (guint64) derl_params_get_int (tr, "total_steps");
  guint64 eval_interval = (guint64) derl_params_get_int (tr, "eval_interval");
  guint64 next_eval = eval_interval ? eval_interval : G_MAXUINT64;
  Trainer t = { 0 };
  gboolean ok = FALSE;
  gint64 start = g_get_monotonic_time (), last_progress = 0;

  *summary = (DerlTrainSummary) { 0 };
  if (!trainer_init (&t, experiment, options, error))
    goto out;

  while (t.steps < total)
    {
      if (options && options->cancel && g_atomic_int_get (options->cancel))
        {
          g_set_error (error, DERL_RUN_ERROR, DERL_RUN_ERROR_CANCELLED, "training stopped on request");
          goto out;
        }
      DerlBatch batch = { 0 };
      DerlStats stats = { 0 };
      DerlRng rng;
      double progress_frac = (double) t.steps / total;
      guint32 n_episodes = 0;

      t.update_return_sum = t.update_success = 0;
      t.update_episodes = 0;
      if (t.plan.kind == DERL_ROLLOUT_SEGMENTS)
        {
          if (!collect_segments (&t, error))
            goto out;
          batch.n = t.plan.n_envs * t.plan.n_steps;
          batch.n_envs = t.plan.n_envs;
          batch.n_steps = t.plan.n_steps;
        }
      else
        {
          if (!collect_groups (&t, &batch.n, &n_episodes, error))
            goto out;
          batch.n_episodes = n_episodes;
          batch.episode_start = t.buf.episode_start;
        }
      batch.decisions = decisions_at (&t.buf, t.spec, 0, batch.n);
      derl_policy_inputs_upload (t.inputs, &batch.decisions);
      batch.inputs = t.inputs;
      batch.actions = t.buf.actions;
      batch.logp = t.buf.logp;
      batch.values = t.plan.needs_values ? t.buf.values : NULL;
      batch.rewards = t.buf.rewards;
      batch.terminated = t.buf.terminated;
      batch.truncated = t.buf.truncated;
      batch.next_values = t.plan.needs_values && t.plan.kind == DERL_ROLLOUT_SEGMENTS ? t.buf.next_values : NULL;
      batch.last_values = t.plan.needs_values ? t.buf.last_values : NULL;
      batch.episode = t.buf.episode;
      batch.group = t.buf.group;

      derl_rng_init (&rng, t.seed, DERL_RNG_STREAM_UPDATE, t.updates, 0, 0);
      DerlUpdateContext context = { progress_frac, &rng, { NULL } };
      t.updates++;
      GError *update_error = NULL;
      if (!t.opt->update (t.opt_state, t.policy, &batch, &context, &stats, &update_error)
          || !check_diverged (&stats, &update_error))
        {
          if (g_error_matches (update_error, DERL_RUN_ERROR, DERL_RUN_ERROR_DIVERGED))
            {
              char *message = update_error->message;
              update_error->message = g_strdup_printf ("train: update %" G_GUINT64_FORMAT ": %s; no checkpoint written",
                                                       (guint64) t.updates, message);
              g_free (message);
            }
          g_propagate_error (error, update_error);
          goto out;
        }

      double seconds = (g_get_monotonic_time () - start) / 1e6;
      if (metrics)
        {
          g_autoptr (JsonObject) o = json_object_new ();
          json_object_set_string_member (o, "event", "update");
          json_object_set_int_member (o, "update", (gint64) t.updates);
          json_object_set_int_member (o, "step", (gint64) t.steps);
          json_object_set_int_member (o, "episodes", (gint64) t.episodes);
          if (t.update_episodes)
            {
              derl_metrics_set_double (o, "mean_return", t.update_return_sum / t.update_episodes);
              derl_metrics_set_double (o, "success_rate", t.update_success / t.update_episodes);
            }
          derl_metrics_set_double (o, "mean_return_20", mean_recent (&t));
          if (t.reward)
            _derl_reward_stats (t.reward, o);
          /* JSON has no NaN or infinity: such a statistic is logged as null. */
          for (guint i = 0; i < stats.n; i++)
            derl_metrics_set_double (o, stats.names[i], stats.values[i]);
          derl_metrics_set_double (o, "wall_seconds", seconds);
          derl_metrics_set_double (o, "steps_per_second", seconds > 0 ? t.steps / seconds : 0);
          if (!derl_metrics_write (metrics, o, error))
            goto out;
        }
      if (t.steps >= next_eval && t.steps < total)
        {
          DerlEvalResult r;
          if (!evaluate (&t, metrics, &r, error))
            goto out;
          while (next_eval <= t.steps)
            next_eval += eval_interval;
        }
      gint64 now = g_get_monotonic_time ();
      if (progress && now - last_progress > 100 * G_TIME_SPAN_MILLISECOND)
        {
          progress (t.steps, total, user_data);
          last_progress = now;
        }
    }
  summary->seconds = (g_get_monotonic_time () - start) / 1e6;
  if (!evaluate (&t, metrics, &summary->eval, error))
    goto out;
  if (!(options && options->skip_splits) && !evaluate_splits (&t, metrics, summary, error))
    goto out;
  if (checkpoint)
    {
      g_autofree char *text = _derl_experiment_to_data_first (experiment);
      if (!derl_policy_save (t.policy, checkpoint, text, error))
        goto out;
    }
  summary->steps = t.steps;
  summary->episodes = t.episodes;
  summary->updates = t.updates;
  summary->final_mean_return_20 = mean_recent (&t);
  summary->first_step_target = t.first_step_target;
  if (progress)
    progress (t.steps, total, user_data);
  ok = TRUE;

out:
  trainer_clear (&t);
  return ok;
}

/* ---- evaluation ---- */

gboolean
derl_policy_evaluate_greedy (DerlPolicy *policy, const DerlFeature *env_feature, const DerlParams *env_params,
                             guint split, guint n_episodes, guint64 seed, DerlEvalResult *result,
                             GError **error)
{
  return derl_policy_evaluate_episodes (policy, env_feature, env_params, split, n_episodes, seed, TRUE, result,
                                        error);
}

gboolean
derl_policy_evaluate_episodes (DerlPolicy *policy, const DerlFeature *env_feature, const DerlParams *env_params,
                               guint split, guint n_episodes, guint64 seed, gboolean greedy,
                               DerlEvalResult *result, GError **error)
{
  guint k = MIN (n_episodes, derl_policy_get_max_rows (policy));
  g_autoptr (GPtrArray) envs = g_ptr_array_new_with_free_func ((GDestroyNotify) derl_env_free);
  double sum = 0, sum2 = 0, len = 0, success = 0;
  gboolean ok = TRUE;

  for (guint i = 0; i < k; i++)
    {
      DerlEnv *env = derl_env_new (env_feature, env_params, error);
      if (!env)
        return FALSE;
      g_ptr_array_add (envs, env);
    }
  const DerlEnvSpec *spec = derl_env_get_spec (envs->pdata[0]);
  gsize o = spec->obs_size, a = spec->n_actions, c = (gsize) spec->n_actions * spec->candidate_size;
  g_autofree float *obs = g_new0 (float, k * MAX (o, 1));
  g_autofree float *cand = c ? g_new0 (float, k * c) : NULL;
  g_autofree guint8 *mask = g_new0 (guint8, k * a);
  g_autofree guint32 *actions = g_new0 (guint32, k);
  g_autofree guint32 *which = g_new0 (guint32, k);
  g_autofree const DerlEnvStep **now = g_new0 (const DerlEnvStep *, k);
  g_autofree double *ret = g_new0 (double, k);
  g_autofree guint *length = g_new0 (guint, k);
  /* Each episode's stream: its reset, then (sampling) one uniform per step. */
  g_autofree DerlRng *rng = g_new0 (DerlRng, k);
  g_autofree double *uniform = greedy ? NULL : g_new0 (double, k);

  for (guint wave = 0; wave < n_episodes; wave += k)
    {
      guint n = MIN (k, n_episodes - wave), active = n;
      for (guint i = 0; i < n; i++)
        {
          derl_rng_init (&rng[i], seed, DERL_RNG_STREAM_EPISODE, 0, 0, wave + i);
          now[i] = derl_env_reset (envs->pdata[i], split, wave + i, &rng[i], error);
          if (!now[i])
            return FALSE;
          ret[i] = 0;
          length[i] = 0;
        }
      while (active > 0)
        {
          guint m = 0;
          for (guint i = 0; i < n; i++)
            if (now[i])
              {
                memcpy (obs + m * o, now[i]->obs, sizeof (float) * o);
                memcpy (mask + m * a, now[i]->action_mask, a);
                if (c)
                  memcpy (cand + m * c, now[i]->candidates, sizeof (float) * c);
                if (uniform)
                  uniform[m] = derl_rng_uniform (&rng[i]);
                which[m++] = i;
              }
          DerlDecisions d = { m, obs, cand, mask };
          derl_policy_act (policy, &d, uniform, actions, NULL, NULL);
          for (guint j = 0; j < m; j++)
            {
              guint i = which[j];
              if (actions[j] == DERL_NO_ACTION || length[i] >= spec->max_steps)
                {
                  g_set_error (error, DERL_RUN_ERROR, DERL_RUN_ERROR_ENV_CONTRACT,
                               actions[j] == DERL_NO_ACTION ? "env '%s': no admissible action after %u steps of an episode"
                                                            : "env '%s': an episode did not end within max_steps (%u)",
                               derl_feature_get_name (env_feature),
                               actions[j] == DERL_NO_ACTION ? length[i] : spec->max_steps);
                  return FALSE;
                }
              const DerlEnvStep *s = derl_env_step (envs->pdata[i], actions[j], error);
              if (!s)
                return FALSE;
              ret[i] += s->reward;
              length[i]++;
              if (s->terminated || s->truncated)
                {
                  sum += ret[i];
                  sum2 += ret[i] * ret[i];
                  len += length[i];
                  success += s->success;
                  now[i] = NULL;
                  active--;
                }
              else
                now[i] = s;
            }
        }
    }
  result->n_episodes = n_episodes;
  result->mean_return = sum / n_episodes;
  result->std_return = sqrt (MAX (0.0, sum2 / n_episodes - result->mean_return * result->mean_return));
  result->mean_length = len / n_episodes;
  result->success_rate = success / n_episodes;
  return ok;
}

/* ---- helpers of optimizer.h ---- */

void
derl_stats_add (DerlStats *stats, const char *name, double value)
{
  static const char *const reserved[] = { "event", "update", "step", "episodes", "mean_return", "success_rate",
                                          "mean_return_20", "wall_seconds", "steps_per_second", NULL };
  g_return_if_fail (stats->n < DERL_STATS_MAX);
  g_return_if_fail (name != NULL && !g_strv_contains (reserved, name));
  stats->names[stats->n] = name;
  stats->values[stats->n++] = value;
}

void
derl_shuffle (guint32 *indices, guint n, DerlRng *rng)
{
  for (guint i = 0; i < n; i++)
    indices[i] = i;
  for (guint i = n; i > 1; i--)
    {
      guint j = derl_rng_below (rng, i);
      guint32 tmp = indices[i - 1];
      indices[i - 1] = indices[j];
      indices[j] = tmp;
    }
}
