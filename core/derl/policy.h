/* derl - MLP policies over masked categorical actions, with an optional value head. */
#pragma once

#include <glib.h>
#include <derl/backend.h>

G_BEGIN_DECLS

#define DERL_POLICY_MAX_LAYERS 8

/**
 * DerlPolicyConfig:
 * @obs_size: floats of context per decision (the env's observation)
 * @n_actions: action slots per decision
 * @candidate_size: floats describing each action slot, or 0 for a plain
 *   action set.  With candidates, one shared network scores each
 *   admissible slot from [context, candidate features] (the context part
 *   of its first layer once per decision, the masked slots not at all) and
 *   a softmax runs over them (the candidate-scoring head); otherwise the
 *   network maps the context to one logit per action (the plain head)
 * @n_hidden: @hidden: the hidden layer widths
 * @activation: the hidden layers' nonlinearity
 * @value_head: whether to build a separate value network (context -> 1)
 * @dtype: the parameters' precision (float32 to train, float64 for checks)
 *
 * The architecture of a policy; stored in its checkpoints.
 */
typedef struct {
  guint obs_size;
  guint n_actions;
  guint candidate_size;
  guint n_hidden;
  guint hidden[DERL_POLICY_MAX_LAYERS];
  DerlActivation activation;
  gboolean value_head;
  DerlDType dtype;
} DerlPolicyConfig;

/**
 * DerlDecisions:
 * @n: how many decisions (rows)
 * @obs: n x obs_size floats
 * @candidates: n x n_actions x candidate_size floats, or NULL without candidates
 * @mask: n x n_actions bytes, non-zero where the action is admissible
 *
 * Host-side inputs of a batch of decisions, row-major.
 */
typedef struct {
  guint n;
  const float *obs;
  const float *candidates;
  const guint8 *mask;
} DerlDecisions;

/**
 * DerlPolicy:
 * An actor (and optionally a critic) whose parameters, gradients and Adam
 * moments live on a tensor backend.  Scratch space is allocated for a
 * maximum number of rows when the policy is made, so acting and training
 * allocate nothing.
 */
typedef struct _DerlPolicy DerlPolicy;

/**
 * derl_policy_new:
 * @backend: where the parameters live
 * @config: the architecture
 * @max_rows: the most decisions any one call will pass
 * @seed: the seed of the orthogonal initialisation (gain sqrt(2) for hidden
 *   layers, 0.01 for the policy output, 1 for the value output; zero biases)
 *
 * Returns a freshly initialised policy, or NULL with @error when the
 * config is invalid or the backend cannot hold it.
 */
DerlPolicy *derl_policy_new (DerlBackend *backend, const DerlPolicyConfig *config, guint max_rows,
                             guint64 seed, GError **error);

/**
 * derl_policy_clone:
 * Returns a policy with the same config and parameters (fresh gradients and
 * Adam moments), e.g. a frozen reference policy.
 */
DerlPolicy *derl_policy_clone (const DerlPolicy *policy, GError **error);

void derl_policy_free (DerlPolicy *policy);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (DerlPolicy, derl_policy_free)

/**
 * derl_policy_set_threads:
 * @n_threads: 1, or 2 or more threads for the policy's work: with a value
 *   head, one of them runs the critic's forward and backward passes of
 *   training (derl_policy_evaluate(), derl_policy_backward()) beside the
 *   actor's; the others (all of them without a value head) split each large
 *   op of the policy's backend (the built-in CPU backend; other backends
 *   ignore it)
 *
 * The numbers do not depend on it: every output element is computed by
 * the same operations in the same order either way.  The setting belongs
 * to the backend, so it holds for every policy sharing it.
 */
void derl_policy_set_threads (DerlPolicy *policy, guint n_threads);

/**
 * derl_policy_set_temperature:
 * @temperature: positive; 1 is the network's own distribution
 *
 * From now on the actor's distribution is softmax (logits / @temperature):
 * sampling, log-probabilities, entropies and gradients are those of the
 * tempered distribution (greedy actions do not change).  Not stored in
 * checkpoints; a clone keeps it.
 */
void derl_policy_set_temperature (DerlPolicy *policy, double temperature);

/** derl_policy_get_config: Returns the policy's architecture. */
const DerlPolicyConfig *derl_policy_get_config (const DerlPolicy *policy);

/** derl_policy_get_max_rows: Returns the most rows one call may pass. */
guint derl_policy_get_max_rows (const DerlPolicy *policy);

/** derl_policy_n_parameters: Returns the number of scalar parameters. */
gsize derl_policy_n_parameters (const DerlPolicy *policy);

/**
 * derl_policy_act:
 * @decisions: up to max_rows decisions
 * @uniform: (nullable): one uniform in [0, 1) per decision to sample with
 *   (inverse CDF); NULL for greedy actions (argmax)
 * @actions: (out): the chosen actions
 * @logp: (out) (optional): their log-probabilities
 * @values: (out) (optional): the value estimates (needs a value head)
 *
 * Chooses one action per decision; masked actions are never chosen.  A
 * decision with every action masked gets %DERL_NO_ACTION (and a log-
 * probability of -infinity).
 */
void derl_policy_act (DerlPolicy *policy, const DerlDecisions *decisions, const double *uniform,
                      guint32 *actions, float *logp, float *values);

/**
 * derl_policy_values:
 * @values: (out): the value estimates of @n contexts (@obs is n x obs_size)
 */
void derl_policy_values (DerlPolicy *policy, guint n, const float *obs, float *values);

/**
 * DerlPolicyInputs:
 *
 * Decisions already on the backend, for training: a whole batch is
 * uploaded once and minibatches are gathered from it.  Made by
 * derl_policy_inputs_new() for up to @capacity rows.
 */
typedef struct _DerlPolicyInputs DerlPolicyInputs;

DerlPolicyInputs *derl_policy_inputs_new (DerlPolicy *policy, guint capacity, GError **error);
void derl_policy_inputs_free (DerlPolicyInputs *inputs);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (DerlPolicyInputs, derl_policy_inputs_free)

/**
 * derl_policy_inputs_upload:
 * Copies @decisions (at most the capacity) to the backend.
 */
void derl_policy_inputs_upload (DerlPolicyInputs *inputs, const DerlDecisions *decisions);

/**
 * derl_policy_evaluate:
 * @inputs: uploaded decisions (by this policy or another of the same shapes
 *   on the same backend)
 * @rows: the @n rows of @inputs to evaluate (n <= max_rows)
 * @actions: the action taken at each of those rows
 * @logp: (out): log pi(action | row)
 * @entropy: (out) (optional): the entropy of pi(. | row)
 * @values: (out) (optional): the value estimates (needs a value head)
 *
 * The forward pass of a training minibatch.  It remembers what
 * derl_policy_backward() needs; the next evaluate replaces it.
 */
void derl_policy_evaluate (DerlPolicy *policy, const DerlPolicyInputs *inputs, const guint32 *rows,
                           guint n, const guint32 *actions, double *logp, double *entropy,
                           double *values);

/**
 * derl_policy_zero_grad:
 * Sets every gradient to zero.
 */
void derl_policy_zero_grad (DerlPolicy *policy);

/**
 * derl_policy_backward:
 * @dlogp: dLoss/dlogp for each row of the last evaluate
 * @dentropy: (nullable): dLoss/dentropy per row
 * @dvalues: (nullable): dLoss/dvalue per row (needs a value head)
 *
 * Adds the gradients of the loss with respect to every parameter, by the
 * chain rule through the last derl_policy_evaluate(), to the gradients.
 */
void derl_policy_backward (DerlPolicy *policy, const double *dlogp, const double *dentropy,
                           const double *dvalues);

/**
 * derl_policy_grad_norm:
 * Returns the global L2 norm of the gradients.
 */
double derl_policy_grad_norm (DerlPolicy *policy);

/**
 * derl_policy_step:
 * @lr: the learning rate of this step
 * @max_grad_norm: clip the global gradient norm to this (PyTorch's
 *   clip_grad_norm_: scale by max / (norm + 1e-6) when larger); <= 0: no clipping
 *
 * One Adam step (betas 0.9, 0.999, eps 1e-5) from the gradients.  Returns
 * the gradient norm before clipping.  When that norm is not finite (NaN or
 * infinity) nothing is changed and the norm is returned: the caller reports
 * the divergence.
 */
double derl_policy_step (DerlPolicy *policy, double lr, double max_grad_norm);

/**
 * derl_policy_get_parameters:
 * @values: (out): derl_policy_n_parameters() doubles, every parameter in
 *   a fixed order (layer by layer, weights then bias; actor then critic)
 */
void derl_policy_get_parameters (const DerlPolicy *policy, double *values);

/** derl_policy_set_parameters: The inverse of derl_policy_get_parameters(). */
void derl_policy_set_parameters (DerlPolicy *policy, const double *values);

/** derl_policy_get_gradients: As derl_policy_get_parameters(), for the gradients. */
void derl_policy_get_gradients (const DerlPolicy *policy, double *values);

/**
 * derl_policy_save:
 * @experiment: (nullable): the resolved experiment text that made the policy
 *
 * Writes a checkpoint atomically (a temporary file renamed over @path):
 * the magic "DERLCKPT", a format version, a JSON header (config, tensor
 * names and shapes, the experiment, a SHA-256 of the tensors) and the
 * tensors as little-endian binary.  Returns FALSE with an error if the
 * file cannot be written.
 */
gboolean derl_policy_save (const DerlPolicy *policy, const char *path, const char *experiment,
                           GError **error);

/**
 * DERL_POLICY_CHECKPOINT_MAX_SIZE:
 * The largest policy checkpoint derl_policy_load() reads, in bytes (1 GiB:
 * some 89 million float32 parameters with their Adam moments).
 * DERL_POLICY_CHECKPOINT_MAX_ROW_MEMORY:
 * The most scratch a checkpoint's config may take per row (bytes):
 * the dimensions a header claims are bounded by it before anything is
 * allocated.
 */
#define DERL_POLICY_CHECKPOINT_MAX_SIZE ((gsize) 1 << 30)
#define DERL_POLICY_CHECKPOINT_MAX_ROW_MEMORY ((guint64) 1 << 28)

/**
 * derl_policy_load:
 * @backend: where to put the parameters
 * @max_rows: as for derl_policy_new()
 * @experiment: (out) (optional) (transfer full): the experiment text stored with it
 *
 * Reads a checkpoint written by derl_policy_save().  A truncated, corrupt
 * or foreign file, one larger than %DERL_POLICY_CHECKPOINT_MAX_SIZE, one
 * whose header's shapes do not give the size of its tensors (checked
 * before anything is allocated), or one holding a value that is not finite
 * (NaN or infinity, in a parameter or an Adam moment), is refused with
 * %DERL_RUN_ERROR_BAD_FILE saying what is wrong.
 */
DerlPolicy *derl_policy_load (DerlBackend *backend, const char *path, guint max_rows,
                              char **experiment, GError **error);

G_END_DECLS
