/* derl - optimizer plugins: advantage estimation and the policy update. */
#pragma once

#include <glib.h>
#include <derl/param.h>
#include <derl/plugin.h>
#include <derl/policy.h>
#include <derl/rng.h>

G_BEGIN_DECLS

/**
 * DerlRolloutKind:
 * @DERL_ROLLOUT_SEGMENTS: n_envs environments run continuously (resetting
 *   as episodes end) and every update sees the last n_steps steps of each
 *   (PPO).  Row t * n_envs + e of the batch is step t of env e.
 * @DERL_ROLLOUT_GROUPS: every update sees n_groups groups of group_size
 *   whole episodes, the episodes of a group started from the same task
 *   (GRPO).  Rows are the episodes' steps, episode after episode.
 */
typedef enum {
  DERL_ROLLOUT_SEGMENTS,
  DERL_ROLLOUT_GROUPS,
} DerlRolloutKind;

/**
 * DerlRolloutPlan:
 * What an optimizer wants collected for each update; filled by its plan().
 * @minibatch_rows: the most rows it evaluates at once (the policy's max_rows)
 * @needs_values: whether it needs the value head's estimates
 */
typedef struct {
  DerlRolloutKind kind;
  guint n_envs;
  guint n_steps;
  guint n_groups;
  guint group_size;
  guint minibatch_rows;
  gboolean needs_values;
  /*< private >*/
  gpointer _reserved[4];
} DerlRolloutPlan;

/**
 * DerlBatch:
 * @n: the number of decisions (rows)
 * @decisions: their inputs, on the host
 * @inputs: the same, already uploaded to the policy's backend
 * @actions: @logp: @values: the action taken, its log-probability and the
 *   value estimate (NULL unless the plan asked for values) when it was taken
 * @rewards: the reward of each step
 * @terminated: @truncated: whether the step ended its episode, and how
 * @next_values: SEGMENTS: for a truncated step, the value of the
 *   observation it ended in (to bootstrap from); otherwise 0.  NULL
 *   without values (always, for GROUPS)
 * @last_values: SEGMENTS: per env, the value of the observation after its
 *   last step: the next episode's first observation where that step ended
 *   one (use @terminated and @truncated to tell)
 * @episode: SEGMENTS: the env each row comes from; GROUPS: the index of
 *   the row's episode within the batch
 * @group: GROUPS: the group of each row's episode
 * @n_envs: @n_steps: SEGMENTS geometry
 * @n_episodes: GROUPS: episodes in the batch; @episode_start[i] is the
 *   first row of episode i and @episode_start[n_episodes] = n
 *
 * One update's worth of decisions, collected as the optimizer's plan said.
 * Everything is owned by the trainer and valid during update() only.
 */
typedef struct {
  guint n;
  DerlDecisions decisions;
  DerlPolicyInputs *inputs;
  const guint32 *actions;
  const float *logp;
  const float *values;
  const float *rewards;
  const guint8 *terminated;
  const guint8 *truncated;
  const float *next_values;
  const float *last_values;
  const guint32 *episode;
  const guint32 *group;
  guint n_envs;
  guint n_steps;
  guint n_episodes;
  const guint32 *episode_start;
  /*< private >*/
  gpointer _reserved[4];
} DerlBatch;

/**
 * DERL_STATS_MAX:
 * The most statistics one update reports.
 */
#define DERL_STATS_MAX 16

/**
 * DerlStats:
 * Named numbers an update reports (losses, KL, entropy, ...), logged as
 * members of the "update" event of metrics.jsonl.  Add with derl_stats_add().
 */
typedef struct {
  guint n;
  const char *names[DERL_STATS_MAX];
  double values[DERL_STATS_MAX];
} DerlStats;

/**
 * derl_stats_add:
 * Appends @name = @value.  @name must be static and not one of the members
 * the trainer writes itself (event, update, step, episodes, mean_return,
 * success_rate, mean_return_20, wall_seconds, steps_per_second).  A value
 * that is not finite is logged as null.
 */
void derl_stats_add (DerlStats *stats, const char *name, double value);

/**
 * DerlUpdateContext:
 * @progress: the fraction of the training budget already used, in [0, 1),
 *   for learning-rate annealing
 * @rng: a stream of its own for this update (minibatch shuffles)
 */
typedef struct {
  double progress;
  DerlRng *rng;
  /*< private >*/
  gpointer _reserved[4];
} DerlUpdateContext;

/**
 * DerlOptimizerVTable:
 * @create: makes the optimizer's state from validated @params
 * @destroy: frees it
 * @plan: says what to collect for each update
 * @update: estimates advantages from @batch and updates @policy; fills
 *   @stats; FALSE with @error on failure (a non-finite loss, say)
 * @set_reference: (nullable): for optimizers with a KL penalty to a
 *   reference policy: makes a copy of @reference the reference from now on
 *   (instead of the policy as it is at the first update)
 */
typedef struct {
  gboolean (*create) (const DerlParams *params, gpointer *state, GError **error);
  void (*destroy) (gpointer state);
  void (*plan) (gpointer state, DerlRolloutPlan *plan);
  gboolean (*update) (gpointer state, DerlPolicy *policy, const DerlBatch *batch,
                      const DerlUpdateContext *context, DerlStats *stats, GError **error);
  gboolean (*set_reference) (gpointer state, const DerlPolicy *reference, GError **error);
  /*< private >*/
  gpointer _reserved[7];
} DerlOptimizerVTable;

/**
 * derl_plugin_register_optimizer:
 * Registers an optimizer, as derl_plugin_register_env() does an env.
 */
gboolean derl_plugin_register_optimizer (DerlPlugin *plugin, const char *name, const char *description,
                                         const DerlOptimizerVTable *vtable, const DerlParamSpec *params,
                                         GError **error);

/**
 * derl_shuffle:
 * Fills @indices with a uniformly random permutation of 0..@n-1 drawn
 * from @rng (Fisher-Yates).
 */
void derl_shuffle (guint32 *indices, guint n, DerlRng *rng);

G_END_DECLS
