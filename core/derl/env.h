/* derl - the environment interface. */
#pragma once

#include <glib.h>
#include <derl/param.h>
#include <derl/plugin.h>
#include <derl/rng.h>

G_BEGIN_DECLS

/**
 * DerlEnvSplit:
 * @name: the split's name ("train", "val", "test", ...)
 * @n_tasks: how many distinct tasks it holds; task indices are taken modulo it
 *
 * A named set of tasks.  The same (split, task index) is the same task on
 * every machine.
 */
typedef struct {
  const char *name;
  guint64 n_tasks;
} DerlEnvSplit;

/**
 * DerlEnvSpec:
 * @obs_size: floats in an observation (the context vector)
 * @n_actions: size of the action set (of the candidate slots, for
 *   candidate-feature envs)
 * @candidate_size: floats describing one admissible action, or 0 for a
 *   plain action set
 * @max_steps: the episode length at which the env truncates
 * @n_signals: @signals: the named per-step signals the env emits, for
 *   reward primitives (@signals is an array of @n_signals names)
 * @n_splits: @splits: the task splits (an array of @n_splits)
 * @state_size: doubles in the env's physical state (see get_state), or 0
 * @target_return: (nullable): the return at which the env counts as solved
 *   (CartPole-v1: 475), the default of the experiment's [train]
 *   target_return; NULL when the env has none (then a run reports no
 *   target unless the experiment sets one).  Since API 1.1.
 *
 * What an env instance tells the core about itself.  The env's create()
 * fills it; the strings and arrays it points to must live as long as the
 * instance.
 */
typedef struct {
  guint obs_size;
  guint n_actions;
  guint candidate_size;
  guint max_steps;
  guint n_signals;
  const char *const *signals;
  guint n_splits;
  const DerlEnvSplit *splits;
  guint state_size;
  const double *target_return;
  /*< private >*/
  gpointer _reserved[3];
} DerlEnvSpec;

/**
 * DerlEnvStep:
 * @obs: (out): the observation, spec.obs_size floats
 * @action_mask: (out): 1 for each admissible action, else 0; spec.n_actions
 * @candidates: (out): spec.n_actions x spec.candidate_size floats (rows of
 *   masked actions are zero), or NULL when candidate_size is 0
 * @signals: (out): spec.n_signals values for this step
 * @reward: (out): the env's own reward for this step
 * @terminated: (out): the episode ended in a terminal state
 * @truncated: (out): the episode hit max_steps without terminating
 * @success: (out): the task was accomplished (meaningful at episode end)
 *
 * Caller-owned buffers that reset() and step() write into.  The core
 * allocates them once per env instance (derl_env_new()); envs never
 * allocate per step.
 *
 * The step contract.  Before every reset(), step() and set_state() the
 * core sets @reward, @terminated, @truncated, @success and every signal to
 * zero, so an env writes a signal (or a flag, or a reward) only when its
 * event happens.  It must write @obs, @action_mask and @candidates every
 * time: the core does not clear them.  After each call the core checks every
 * output: @obs, every row of @candidates (masked ones too), @signals and
 * @reward finite, each mask byte exactly 0 or 1, and at least one admissible
 * action unless @terminated or @truncated.  A violation fails the call with
 * %DERL_RUN_ERROR_ENV_CONTRACT naming the env, the field and its index, the
 * split, the task and the step.
 */
typedef struct {
  float *obs;
  guint8 *action_mask;
  float *candidates;
  double *signals;
  double reward;
  gboolean terminated;
  gboolean truncated;
  gboolean success;
} DerlEnvStep;

/**
 * DerlEnvVTable:
 * @create: makes an instance from validated @params, fills @spec and sets
 *   @state; returns FALSE with @error set on failure, having freed whatever
 *   it allocated (destroy is not called then)
 * @destroy: frees an instance
 * @reset: starts task @task_index of split @split (an index into
 *   spec.splits); @rng is the episode's own stream, for envs whose start
 *   state is random; writes the first observation, mask and candidates
 *   into @out (reward, flags and signals arrive zeroed)
 * @step: applies @action (admissible by the last mask) and writes the
 *   observation, mask and candidates into @out, and the reward, flags and
 *   signals whose events happen (they arrive zeroed: see #DerlEnvStep)
 * @get_state: (nullable): copies the physical state (spec.state_size
 *   doubles) into @values, for replay tests and debugging
 * @set_state: (nullable): sets the physical state from @values and
 *   rewrites the observation and mask in @out
 *
 * The functions of an environment feature.  One instance is used by one
 * thread at a time; instances share nothing.
 */
typedef struct {
  gboolean (*create) (const DerlParams *params, DerlEnvSpec *spec, gpointer *state, GError **error);
  void (*destroy) (gpointer state);
  void (*reset) (gpointer state, guint split, guint64 task_index, DerlRng *rng, DerlEnvStep *out);
  void (*step) (gpointer state, guint action, DerlEnvStep *out);
  void (*get_state) (gpointer state, double *values);
  void (*set_state) (gpointer state, const double *values, DerlEnvStep *out);
  /*< private >*/
  gpointer _reserved[8];
} DerlEnvVTable;

/**
 * derl_plugin_register_env:
 * @plugin: the plugin being initialised
 * @name: the env's name, unique among envs (lower case, digits, '-' and '_')
 * @description: what the env is, shown by derl-inspect (may span lines)
 * @vtable: the env's functions; static, outlives the plugin
 * @params: the env's parameter specs, NULL-name terminated; static
 *
 * Registers an environment.  Call only from the plugin's init function.
 * Returns FALSE with a %DERL_PLUGIN_ERROR when the name is taken, the
 * vtable lacks a required function or the specs are malformed.
 */
gboolean derl_plugin_register_env (DerlPlugin *plugin, const char *name, const char *description,
                                   const DerlEnvVTable *vtable, const DerlParamSpec *params,
                                   GError **error);

/**
 * DerlEnv:
 * An environment instance together with its spec and step buffers.
 */
typedef struct _DerlEnv DerlEnv;
typedef struct _DerlFeature DerlFeature;

/**
 * derl_env_new:
 * @feature: an available env feature
 * @params: values validated against the feature's specs
 *
 * Creates an instance.  Returns NULL with @error set when the env's
 * create() fails or it reports an inconsistent spec.
 */
DerlEnv *derl_env_new (const DerlFeature *feature, const DerlParams *params, GError **error);
void derl_env_free (DerlEnv *env);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (DerlEnv, derl_env_free)

/** derl_env_get_spec: Returns the instance's spec. */
const DerlEnvSpec *derl_env_get_spec (const DerlEnv *env);

/**
 * derl_env_find_split:
 * Returns the index of the split named @name, or -1.
 */
int derl_env_find_split (const DerlEnv *env, const char *name);

/**
 * derl_env_reset:
 * Starts task @task_index (taken modulo the split's size) of split @split
 * with the episode stream @rng.  Returns the step buffers holding the first
 * observation; they stay valid until the env is freed.  Returns NULL with
 * %DERL_RUN_ERROR_ENV_CONTRACT when an output breaks the step contract
 * (see #DerlEnvStep).
 */
const DerlEnvStep *derl_env_reset (DerlEnv *env, guint split, guint64 task_index, DerlRng *rng,
                                   GError **error);

/**
 * derl_env_step:
 * Applies @action, which must be admissible under the last mask, and
 * returns the step buffers holding the result, or NULL with
 * %DERL_RUN_ERROR_ENV_CONTRACT when an output breaks the step contract.
 * Steps are counted from the last reset for the error messages.
 */
const DerlEnvStep *derl_env_step (DerlEnv *env, guint action, GError **error);

/**
 * derl_env_get_state:
 * @values: spec.state_size doubles
 * Returns FALSE when the env does not expose its physical state.
 */
gboolean derl_env_get_state (DerlEnv *env, double *values);

/**
 * derl_env_set_state:
 * Sets the physical state and returns the step buffers with the matching
 * observation.  Returns NULL with %DERL_RUN_ERROR_FAILED when the env does
 * not support it, or with %DERL_RUN_ERROR_ENV_CONTRACT when an output breaks
 * the step contract.
 */
const DerlEnvStep *derl_env_set_state (DerlEnv *env, const double *values, GError **error);

G_END_DECLS
