/* derl - `mode = evaluate`: episodes of the uniform-random policy, in parallel. */
#include "config.h"

#include <math.h>
#include "derl-private.h"

typedef struct {
  const DerlExperiment *experiment;
  guint64 seed;
  guint split;
  guint n_episodes;
  DerlEpisodeResult *results;
  gint next;       /* next episode to claim (atomic) */
  gint done;       /* episodes finished (atomic) */
  GMutex lock;
  GCond cond;
  guint running;   /* workers still running, under lock */
  const DerlPolicy *policy; /* NULL: the uniform-random policy */
  gboolean greedy; /* [evaluate] greedy: the policy acts greedily, else samples */
  GError *error;   /* first failure, under lock */
} EvalJob;

/* A uniformly random admissible action; the mask always has at least one. */
static guint
random_admissible (DerlRng *rng, const guint8 *mask, guint n_actions)
{
  guint n_ok = 0;
  for (guint a = 0; a < n_actions; a++)
    n_ok += mask[a] != 0;
  if (n_ok == 0)
    return G_MAXUINT;
  guint pick = derl_rng_below (rng, n_ok);
  for (guint a = 0; a < n_actions; a++)
    if (mask[a] && pick-- == 0)
      return a;
  return G_MAXUINT;
}

/* The action of @policy for the step @s shows: greedy, or (with @rng, the
 * episode's stream) sampled from its distribution. */
static guint
policy_action (DerlPolicy *policy, const DerlEnvStep *s, DerlRng *rng)
{
  DerlDecisions d = { 1, s->obs, s->candidates, s->action_mask };
  double uniform = rng ? derl_rng_uniform (rng) : 0.0;
  guint32 action;
  derl_policy_act (policy, &d, rng ? &uniform : NULL, &action, NULL, NULL);
  return action;
}

static gboolean
run_episode (DerlEnv *env, DerlPolicy *policy, EvalJob *job, guint64 episode, DerlEpisodeResult *r,
             GError **error)
{
  const DerlEnvSpec *spec = derl_env_get_spec (env);
  DerlRng rng;
  const DerlEnvStep *s;

  derl_rng_init (&rng, job->seed, DERL_RNG_STREAM_EPISODE, 0, 0, episode);
  s = derl_env_reset (env, job->split, episode, &rng, error);
  if (!s)
    return FALSE;
  r->episode = episode;
  r->task_index = episode % spec->splits[job->split].n_tasks;
  r->episode_return = 0.0;
  r->length = 0;
  while (!s->terminated && !s->truncated)
    {
      guint action = policy ? policy_action (policy, s, job->greedy ? NULL : &rng)
                            : random_admissible (&rng, s->action_mask, spec->n_actions);
      if (action == G_MAXUINT || r->length >= spec->max_steps)
        {
          g_set_error (error, DERL_RUN_ERROR, DERL_RUN_ERROR_ENV_CONTRACT,
                       action == G_MAXUINT ? "env '%s': no admissible action at step %u of episode %"
                                             G_GUINT64_FORMAT
                                           : "env '%s': episode did not end within max_steps (%u) "
                                             "at episode %" G_GUINT64_FORMAT,
                       derl_feature_get_name (derl_experiment_get_feature (job->experiment,
                                                                           DERL_FEATURE_ENV)),
                       action == G_MAXUINT ? r->length : spec->max_steps, episode);
          return FALSE;
        }
      s = derl_env_step (env, action, error);
      if (!s)
        return FALSE;
      r->episode_return += s->reward;
      r->length++;
    }
  r->terminated = s->terminated;
  r->truncated = s->truncated;
  r->success = s->success;
  return TRUE;
}

static gpointer
worker (gpointer data)
{
  EvalJob *job = data;
  const DerlExperiment *e = job->experiment;
  g_autoptr (GError) err = NULL;
  g_autoptr (DerlEnv) env = derl_env_new (derl_experiment_get_feature (e, DERL_FEATURE_ENV),
                                          derl_experiment_get_params (e, "env"), &err);
  /* Each worker acts with its own copy: acting uses the policy's scratch. */
  g_autoptr (DerlPolicy) policy = env && job->policy ? derl_policy_clone (job->policy, &err) : NULL;
  for (;;)
    {
      if (!env || (job->policy && !policy))
        break;
      guint i = (guint) g_atomic_int_add (&job->next, 1);
      if (i >= job->n_episodes)
        break;
      if (!run_episode (env, policy, job, i, &job->results[i], &err))
        break;
      g_atomic_int_inc (&job->done);
    }
  g_mutex_lock (&job->lock);
  if (err && !job->error)
    job->error = g_steal_pointer (&err);
  if (job->error)
    g_atomic_int_set (&job->next, (gint) job->n_episodes); /* stop the others */
  job->running--;
  g_cond_signal (&job->cond);
  g_mutex_unlock (&job->lock);
  return NULL;
}

static JsonObject *
episode_event (const DerlEpisodeResult *r)
{
  JsonObject *o = json_object_new ();
  json_object_set_string_member (o, "event", "episode");
  json_object_set_int_member (o, "episode", (gint64) r->episode);
  json_object_set_int_member (o, "task", (gint64) r->task_index);
  derl_metrics_set_double (o, "return", r->episode_return);
  json_object_set_int_member (o, "length", r->length);
  json_object_set_boolean_member (o, "terminated", r->terminated);
  json_object_set_boolean_member (o, "truncated", r->truncated);
  json_object_set_boolean_member (o, "success", r->success);
  return o;
}

void
derl_evaluate_summarize (const DerlEpisodeResult *results, guint n, DerlEvaluateSummary *summary)
{
  double sum = 0, sum_len = 0, successes = 0;

  *summary = (DerlEvaluateSummary) { 0 };
  summary->n_episodes = n;
  if (n == 0)
    return;
  summary->min_return = summary->max_return = results[0].episode_return;
  for (guint i = 0; i < n; i++)
    {
      sum += results[i].episode_return;
      sum_len += results[i].length;
      successes += results[i].success;
      summary->total_steps += results[i].length;
      summary->min_return = MIN (summary->min_return, results[i].episode_return);
      summary->max_return = MAX (summary->max_return, results[i].episode_return);
    }
  summary->mean_return = sum / n;
  summary->mean_length = sum_len / n;
  summary->success_rate = successes / n;
  double var = 0;
  for (guint i = 0; i < n; i++)
    var += (results[i].episode_return - summary->mean_return)
           * (results[i].episode_return - summary->mean_return);
  summary->std_return = sqrt (var / n);
}

gboolean
derl_evaluate_run (const DerlExperiment *experiment, const DerlPolicy *policy, guint n_threads,
                   DerlMetrics *metrics, DerlProgressFunc progress, gpointer user_data,
                   DerlEvaluateSummary *summary, GError **error)
{
  const DerlParams *ev = derl_experiment_get_params (experiment, "evaluate");
  const DerlParams *ex = derl_experiment_get_params (experiment, "experiment");
  EvalJob job = { 0 };
  g_autoptr (GPtrArray) threads = g_ptr_array_new ();
  gboolean ok = TRUE;

  g_return_val_if_fail (experiment != NULL && summary != NULL, FALSE);
  g_return_val_if_fail (derl_experiment_get_feature (experiment, DERL_FEATURE_ENV) != NULL, FALSE);

  /* The split index, from a throw-away instance (validated at load time). */
  {
    g_autoptr (DerlEnv) env = derl_env_new (derl_experiment_get_feature (experiment, DERL_FEATURE_ENV),
                                            derl_experiment_get_params (experiment, "env"), error);
    if (!env)
      return FALSE;
    int split = derl_env_find_split (env, derl_params_get_string (ev, "split"));
    g_return_val_if_fail (split >= 0, FALSE);
    job.split = (guint) split;
  }
  job.experiment = experiment;
  job.policy = policy;
  job.greedy = derl_params_get_bool (ev, "greedy");
  job.seed = (guint64) derl_params_get_int (ex, "seed");
  job.n_episodes = (guint) derl_params_get_int (ev, "episodes");
  job.results = g_new0 (DerlEpisodeResult, job.n_episodes);
  g_mutex_init (&job.lock);
  g_cond_init (&job.cond);

  n_threads = CLAMP (n_threads, 1, job.n_episodes);
  job.running = n_threads;
  for (guint t = 0; t < n_threads; t++)
    g_ptr_array_add (threads, g_thread_new ("derl-evaluate", worker, &job));

  /* Progress every 100 ms until the workers are done; the log is written
   * afterwards in episode order, so that it is the same on any number of
   * threads. */
  g_mutex_lock (&job.lock);
  while (job.running > 0)
    {
      gint64 until = g_get_monotonic_time () + 100 * G_TIME_SPAN_MILLISECOND;
      while (job.running > 0 && g_cond_wait_until (&job.cond, &job.lock, until))
        ;
      if (progress && job.running > 0)
        {
          g_mutex_unlock (&job.lock);
          progress ((guint) g_atomic_int_get (&job.done), job.n_episodes, user_data);
          g_mutex_lock (&job.lock);
        }
    }
  g_mutex_unlock (&job.lock);
  for (guint t = 0; t < threads->len; t++)
    g_thread_join (threads->pdata[t]);
  if (progress)
    progress ((guint) g_atomic_int_get (&job.done), job.n_episodes, user_data);

  if (job.error)
    {
      g_propagate_error (error, job.error);
      ok = FALSE;
    }
  for (guint i = 0; ok && metrics && i < job.n_episodes; i++)
    {
      g_autoptr (JsonObject) o = episode_event (&job.results[i]);
      ok = derl_metrics_write (metrics, o, error);
    }
  if (ok)
    derl_evaluate_summarize (job.results, job.n_episodes, summary);
  g_free (job.results);
  g_mutex_clear (&job.lock);
  g_cond_clear (&job.cond);
  return ok;
}
