/* derl - `mode = train`: training a policy on an env with an optimizer. */
#pragma once

#include <glib.h>
#include <derl/experiment.h>
#include <derl/metrics.h>
#include <derl/policy.h>

G_BEGIN_DECLS

/**
 * DerlEvalResult:
 * Greedy-policy statistics over a split.
 */
typedef struct {
  guint n_episodes;
  double mean_return;
  double std_return;
  double mean_length;
  double success_rate;
} DerlEvalResult;

/**
 * DERL_TRAIN_MAX_SPLITS:
 * The most splits [evaluate] splits lists.
 */
#define DERL_TRAIN_MAX_SPLITS 8

/**
 * DerlTrainSummary:
 * What a training run did.
 * @steps: environment steps taken for training
 * @episodes: training episodes completed
 * @updates: optimizer updates
 * @final_mean_return_20: the mean return of the last 20 training episodes
 * @first_step_target: the first step at which the mean of the last 20
 *   training returns reached [train] target_return, or 0 (checked after
 *   every environment step with SEGMENTS, after every update with GROUPS,
 *   whose episodes count in episode order)
 * @eval: the final greedy evaluation
 * @seconds: wall time of training (not of the final evaluation)
 * @n_splits: @splits: @split_eval: the final greedy evaluations on the
 *   splits of [evaluate] splits, in that order, [evaluate] episodes each
 *   (@splits[i] is owned by the experiment)
 */
typedef struct {
  guint64 steps;
  guint64 episodes;
  guint64 updates;
  double final_mean_return_20;
  guint64 first_step_target;
  DerlEvalResult eval;
  double seconds;
  guint n_splits;
  const char *splits[DERL_TRAIN_MAX_SPLITS];
  DerlEvalResult split_eval[DERL_TRAIN_MAX_SPLITS];
} DerlTrainSummary;

/**
 * derl_train_run:
 * @experiment: an experiment in mode train
 * @metrics: (nullable): where "update" and "eval" events go
 * @progress: (nullable): called about every 100 ms with (steps, total)
 * @checkpoint: (nullable): where to write the final policy
 * @summary: (out): what the run did
 *
 * Trains a fresh policy for [train] total_steps environment steps with the
 * experiment's optimizer and backend, evaluating it greedily on [train]
 * eval_split every eval_interval steps and at the end.  The numbers are a
 * function of the experiment (seed included) alone.
 */
gboolean derl_train_run (const DerlExperiment *experiment, DerlMetrics *metrics,
                         void (*progress) (guint64 done, guint64 total, gpointer user_data),
                         gpointer user_data, const char *checkpoint, DerlTrainSummary *summary,
                         GError **error);

/**
 * derl_policy_evaluate_greedy:
 * @policy: a policy for @env's spec
 * @split: @n_episodes: @seed: which episodes: episode i resets task i of
 *   the split with the stream (seed, DERL_RNG_STREAM_EPISODE, 0, 0, i), the
 *   episodes of evaluate mode
 *
 * Runs @n_episodes episodes with greedy actions, @policy's max_rows at a
 * time, and returns their statistics.
 */
gboolean derl_policy_evaluate_greedy (DerlPolicy *policy, const DerlFeature *env, const DerlParams *env_params,
                                      guint split, guint n_episodes, guint64 seed, DerlEvalResult *result,
                                      GError **error);

/**
 * derl_policy_evaluate_episodes:
 * @greedy: TRUE for greedy actions (as derl_policy_evaluate_greedy());
 *   FALSE to sample each action from @policy's distribution with a uniform
 *   drawn from the episode's stream, after its reset's draws: the numbers
 *   are those of evaluate mode with [evaluate] greedy = false, on any
 *   number of threads
 *
 * As derl_policy_evaluate_greedy(), greedy or sampled.  Since API 1.1.
 */
gboolean derl_policy_evaluate_episodes (DerlPolicy *policy, const DerlFeature *env, const DerlParams *env_params,
                                        guint split, guint n_episodes, guint64 seed, gboolean greedy,
                                        DerlEvalResult *result, GError **error);

G_END_DECLS
