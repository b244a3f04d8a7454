/* derl - declarations shared inside libderl, not installed. */
#pragma once

#include <derl/derl.h>
#include <derl/policy.h>

G_BEGIN_DECLS

/* backend-cpu.c: the same on the CPU backend's context. */
void _derl_backend_cpu_set_threads (gpointer ctx, guint n_threads);

/* suggest.c: the candidate closest to @name by edit distance when it is a
 * plausible typo (distance <= max(1, len/3)), else NULL.  Not copied. */
const char *_derl_suggest_closest (const char *name, const char *const *candidates, gsize n_candidates);

/* quote.c: @text (@length bytes, -1: NUL-terminated) as it may appear in a
 * message: at most DERL_QUOTE_MAX characters then "...", control bytes,
 * invisible characters (a byte order mark, say) and bytes that are not
 * UTF-8 escaped (\n, \x01, \ufeff), backslashes doubled. */
#define DERL_QUOTE_MAX 60
char *_derl_quote (const char *text, gssize length);

/* file.c: reads the whole of @path, the @what ("experiment file", "policy
 * checkpoint") a user or a run directory names, into @data (NUL-terminated,
 * @length bytes without the NUL): refused with %DERL_RUN_ERROR_BAD_FILE
 * naming the file when it cannot be opened or read, is a directory or a
 * device, or holds more than @max_bytes.  A FIFO without a writer reads as
 * empty (no wait); a pipe is read up to the limit only. */
gboolean _derl_file_read (const char *path, gsize max_bytes, const char *what, char **data, gsize *length,
                          GError **error);
/* The same, for a check: the contents are dropped. */
gboolean _derl_file_check (const char *path, gsize max_bytes, const char *what, GError **error);
/* The limits: a run directory's logs (metrics.jsonl, formulas.jsonl) and
 * its JSON files; cold-start formulas are held to DERL_EXPERIMENT_MAX_SIZE,
 * policy checkpoints to DERL_POLICY_CHECKPOINT_MAX_SIZE. */
#define DERL_RUN_LOG_MAX_SIZE ((gsize) 1 << 30)
#define DERL_RUN_JSON_MAX_SIZE ((gsize) 1 << 20)

/* param.c: a lower case letter, then lower case letters, digits and '_':
 * parameter names, and the signal and primitive names formulas spell. */
gboolean _derl_valid_key_name (const char *name);

/* edit distance (with adjacent transpositions) between two strings, in bytes */
guint _derl_edit_distance (const char *a, const char *b);

/* registry.c: internal plugin and feature structs. */
struct _DerlFeature {
  DerlFeatureKind kind;
  char *name;
  char *description;
  const DerlParamSpec *params;
  gconstpointer vtable;
  DerlPlugin *plugin;
};

struct _DerlPlugin {
  char *path;
  char *name;          /* from the descriptor, else the file's basename */
  char *description;
  char *version;
  char *license;
  guint abi_version, api_major, api_minor;
  GModule *module;     /* kept open while the plugin is usable */
  const DerlPluginDesc *desc;
  GError *error;       /* why it is unavailable, or NULL */
  DerlRegistry *registry;
  GPtrArray *pending;  /* features registered during init (DerlFeature *) */
  gboolean in_init;
};

/* plugin.c */
DerlPlugin *_derl_plugin_new (DerlRegistry *registry, const char *path);
void _derl_plugin_free (DerlPlugin *plugin);
/* Opens, checks and initialises; records and returns the error. */
gboolean _derl_plugin_load (DerlPlugin *plugin, GError **error);
void _derl_feature_free (DerlFeature *feature);
/* Starts a plugin compiled into libderl (no file to open). */
gboolean _derl_plugin_start_builtin (DerlPlugin *plugin, const DerlPluginDesc *desc, GError **error);

/* reward.c: the trajectory reward of a training run (the env's own reward
 * or the experiment's formula over its primitives); NULL from new() when
 * the experiment binds neither. */
typedef struct _DerlReward DerlReward;
DerlReward *_derl_reward_new (const DerlExperiment *experiment, const DerlFormula *formula, const DerlEnvSpec *spec,
                              guint n_slots);
void _derl_reward_free (DerlReward *reward);
/* An episode starts on env slot @slot. */
void _derl_reward_begin (DerlReward *reward, guint slot);
/* Records the step's signals; returns the reward of the step: with a
 * formula, 0 until the episode ends and then the formula's value (0 when
 * not finite, counted); without one, the env's reward. */
double _derl_reward_step (DerlReward *reward, guint slot, const DerlEnvStep *step);
/* Adds the means since the last call (per primitive, of the formula) and
 * the count of non-finite formula values to @o, and starts over. */
void _derl_reward_stats (DerlReward *reward, JsonObject *o);

/* metrics.c: a log that keeps its lines in memory (flush and close never
 * write), and the lines of one appended to another. */
DerlMetrics *_derl_metrics_new_memory (void);
gboolean _derl_metrics_copy_lines (DerlMetrics *to, const DerlMetrics *from, GError **error);

/* train.c: a training run as derl_train_run() does it, with the run's seed,
 * the formula (NULL: the experiment's) and the parameters to start from
 * (derl_policy_get_parameters() of a policy of the same architecture; NULL:
 * a fresh policy) given; it stops with DERL_RUN_ERROR_CANCELLED between
 * updates once *cancel is non-zero. */
typedef struct {
  guint64 seed;
  const DerlFormula *formula;
  const double *init;
  gsize n_init;
  const gint *cancel;
  gboolean skip_splits; /* no evaluation on [evaluate] splits at the end */
} DerlTrainOptions;
gboolean _derl_train (const DerlExperiment *experiment, const DerlTrainOptions *options, DerlMetrics *metrics,
                      void (*progress) (guint64 done, guint64 total, gpointer user_data), gpointer user_data,
                      const char *checkpoint, DerlTrainSummary *summary, GError **error);

/* meta.c: the Meta-Optimizer (see the file's comment). */
typedef struct _DerlMeta DerlMeta;
typedef struct {
  DerlBackend *backend;
  guint n_vars;                 /* K */
  const gboolean *outcome_like; /* K flags */
  guint max_tokens;             /* the formula budget */
  guint group_size;             /* formulas per sample (the GRPO group) */
  guint n_hidden;
  guint hidden[DERL_POLICY_MAX_LAYERS];
  double temperature;
  guint64 seed;                 /* of the initial parameters */
  const DerlOptimizerVTable *optimizer; /* NULL: sampling only (random search) */
  const DerlParams *optimizer_params;
} DerlMetaConfig;
typedef struct {
  guint n_formulas, n_skipped, n_tokens;
  double initial_nll, final_nll; /* mean negative log-likelihood per token */
} DerlMetaColdStart;
DerlMeta *_derl_meta_new (const DerlMetaConfig *config, GError **error);
void _derl_meta_free (DerlMeta *meta);
DerlFormulaGrammar *_derl_meta_get_grammar (DerlMeta *meta);
DerlPolicy *_derl_meta_get_policy (DerlMeta *meta);
/* Supervised warm start on the formulas of @path (cross-entropy, @epochs
 * passes over their tokens, one Adam step per chunk of max_rows tokens);
 * the result becomes the optimizer's reference. */
gboolean _derl_meta_cold_start (DerlMeta *meta, const char *path, guint epochs, double lr,
                                DerlMetaColdStart *result, GError **error);
/* Samples group_size formulas under the grammar mask, sequence i from the
 * OUTER stream (seed, step, i); uniformly among the allowed tokens when
 * @uniform_tokens.  @formulas receives group_size new formulas. */
gboolean _derl_meta_sample (DerlMeta *meta, guint64 seed, guint64 step, gboolean uniform_tokens,
                            DerlFormula **formulas, GError **error);
/* One optimizer update on the last sample, @scores[i] the reward of formula i. */
gboolean _derl_meta_update (DerlMeta *meta, const double *scores, double progress, guint64 seed, guint64 step,
                            DerlStats *stats, GError **error);
gboolean _derl_meta_save (DerlMeta *meta, const char *path, GError **error);
/* Restores parameters and Adam state saved by _derl_meta_save(). */
gboolean _derl_meta_load (DerlMeta *meta, const char *path, GError **error);

/* experiment.c: as derl_experiment_to_data(), naming the file the
 * experiment was first resolved from when it was read from a resolved
 * experiment (a run directory's experiment.ini): the text a checkpoint
 * stores, the same whether the run was resumed or not. */
char *_derl_experiment_to_data_first (const DerlExperiment *experiment);

/* experiment.c: the optimizer feature that trains the Meta-Optimizer
 * (modes derl and derl-pop), else NULL. */
const DerlFeature *_derl_experiment_get_meta_optimizer (const DerlExperiment *experiment);

/* registry.c: TOP when libderl was loaded from TOP/core/.libs (a libtool
 * build tree), else NULL. */
char *_derl_build_tree_top (void);

/* registry.c */
const DerlPlugin *_derl_registry_find_usable_plugin (const DerlRegistry *registry, const char *name);
const DerlFeature *_derl_registry_find_pending (const DerlRegistry *registry, DerlFeatureKind kind,
                                               const char *name, const DerlPlugin *also);

G_END_DECLS

G_BEGIN_DECLS

/* mlp.c: a multi-layer perceptron on a backend (used by policy.c). */
#define DERL_MLP_MAX_LAYERS (DERL_POLICY_MAX_LAYERS + 1)

typedef struct {
  DerlTensor *value, *grad, *m, *v;  /* the parameter, its gradient, Adam's moments */
} DerlMlpParam;

typedef struct {
  guint in, out;
  DerlActivation activation;
  DerlMlpParam w;       /* in x out */
  DerlMlpParam w_cand;  /* cand_size x out, first layer of a candidate scorer only */
  DerlMlpParam b;       /* 1 x out */
  DerlTensor *z, *h;    /* pre-activation and output, max rows */
  DerlTensor *dh, *dz;  /* their gradients */
} DerlMlpLayer;

typedef struct {
  guint ctx_size, cand_size, repeat, max_rows;
  guint n_layers;
  DerlMlpLayer layers[DERL_MLP_MAX_LAYERS];
  DerlTensor *zc, *dzc;       /* the context part of the first layer, per decision */
  guint n;                    /* rows (decisions) of the last forward */
  guint n_rows;               /* rows of the network in the last forward */
  const guint32 *row_decision;/* ragged forward: the decision of each row, else NULL */
  const guint32 *padded_rows; /* ragged: n x repeat rows, a decision's then n_rows (zeros) */
  DerlTensor in_ctx, in_cand; /* its inputs (views) */
  DerlTensor out;             /* its output (a view) */
} DerlMlp;

/* @repeat: action slots per decision when @cand_size > 0: the network then
 * runs on n x repeat rows, the context part of layer 0 on n rows. */
gboolean _derl_mlp_init (DerlMlp *mlp, DerlBackend *backend, DerlDType dtype, guint ctx_size,
                         guint cand_size, guint repeat, const guint *widths, guint n_widths,
                         DerlActivation hidden, guint max_rows, GError **error);
void _derl_mlp_clear (DerlMlp *mlp);
/* Orthogonal weights (gain for hidden layers, out_gain for the last), zero biases. */
void _derl_mlp_reset_parameters (DerlMlp *mlp, guint64 seed, guint64 net, double hidden_gain,
                                 double out_gain);
/* The parameters in a fixed order: per layer w, [w_cand], b.  @out holds
 * 3 x DERL_MLP_MAX_LAYERS entries. */
guint _derl_mlp_params (DerlMlp *mlp, DerlMlpParam **out);
/* @ctx: n x ctx_size; @cand: (n x repeat) x cand_size or NULL.  Returns the
 * (n x repeat) x out output, valid until the next forward. */
const DerlTensor *_derl_mlp_forward (DerlMlp *mlp, const DerlTensor *ctx, const DerlTensor *cand, guint n);
/* The same on @n_rows rows of candidates, not n x repeat: row q of @cand
 * belongs to decision @row_decision[q] (non-decreasing), so a decision has
 * as many rows as it has candidates, none of padding.  @padded_rows lays
 * the rows out as n x repeat again for the backward pass's per-decision
 * sums (n_rows standing for a row of zeros).  Each row's numbers are those
 * of the padded forward, and the backward pass's sums skip only the
 * padding's exact zeros: the same bits. */
const DerlTensor *_derl_mlp_forward_rows (DerlMlp *mlp, const DerlTensor *ctx, const DerlTensor *cand, guint n,
                                          guint n_rows, const guint32 *row_decision, const guint32 *padded_rows);
/* Adds the parameter gradients for dLoss/dout of the last forward. */
void _derl_mlp_backward (DerlMlp *mlp, const DerlTensor *dout);

G_END_DECLS

G_BEGIN_DECLS
/* policy.c, for checkpoint.c: every tensor worth saving, with names
 * ("param.I", and "adam_m.I", "adam_v.I" with moments); @out and @names
 * hold 3 x (2 x 3 x DERL_MLP_MAX_LAYERS) entries; names are newly allocated. */
#define DERL_POLICY_MAX_TENSORS (3 * 2 * 3 * DERL_MLP_MAX_LAYERS)
guint _derl_policy_tensors (DerlPolicy *policy, DerlTensor **out, char **names, gboolean with_moments);
guint64 _derl_policy_get_adam_step (const DerlPolicy *policy);
void _derl_policy_set_adam_step (DerlPolicy *policy, guint64 t);
/* Copies parameters, Adam moments and step of @src (same architecture and
 * backend) into @dst. */
gboolean _derl_policy_copy_state (DerlPolicy *dst, const DerlPolicy *src, GError **error);
DerlBackend *_derl_policy_get_backend (const DerlPolicy *policy);
/* A policy with the config's shapes and zero parameters. */
DerlPolicy *_derl_policy_alloc (DerlBackend *backend, const DerlPolicyConfig *config, guint max_rows,
                                GError **error);
G_END_DECLS
