/* derl - experiment files: loading, validation, the resolved experiment. */
#pragma once

#include <glib.h>
#include <derl/param.h>
#include <derl/registry.h>
#include <derl/formula.h>

G_BEGIN_DECLS

/**
 * DerlExperiment:
 *
 * A validated experiment: every group and key of an experiment file checked
 * against the core's specs and the selected plugins' specs, overrides
 * applied and every default filled in.  See derl-experiment(5).
 */
typedef struct _DerlExperiment DerlExperiment;

/**
 * DERL_EXPERIMENT_MAX_SIZE:
 * The largest experiment file accepted, in bytes.
 */
#define DERL_EXPERIMENT_MAX_SIZE (1024 * 1024)

/**
 * derl_experiment_load:
 * @registry: where plugin features are looked up
 * @path: the experiment file
 * @overrides: (nullable): NULL-terminated "group.key=value" strings applied
 *   on top of the file, validated the same way; a string "-group.key"
 *   removes that key from the file instead (its default applies), and is an
 *   error when the file has no such key or another override sets it
 *
 * Reads and validates an experiment.  On failure returns NULL and sets a
 * %DERL_EXPERIMENT_ERROR whose message names the file, group, key, the
 * value and what was expected, one line per problem found.
 */
DerlExperiment *derl_experiment_load (DerlRegistry *registry, const char *path,
                                      const char *const *overrides, GError **error);

/**
 * derl_experiment_load_data:
 * @label: the name to give the data in messages (e.g. a file name)
 *
 * As derl_experiment_load(), from text in memory.
 */
DerlExperiment *derl_experiment_load_data (DerlRegistry *registry, const char *data, gsize length,
                                           const char *label, const char *const *overrides,
                                           GError **error);

void derl_experiment_free (DerlExperiment *experiment);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (DerlExperiment, derl_experiment_free)

/**
 * derl_experiment_get_label:
 * Returns the file name (or label) the experiment was read from.
 */
const char *derl_experiment_get_label (const DerlExperiment *experiment);

/**
 * derl_experiment_get_params:
 * @group: a group name, e.g. "experiment" or "env"
 *
 * Returns the validated values of @group (for a plugin group, the selected
 * feature's parameters, without its "name" key), or NULL for an unknown group.
 */
const DerlParams *derl_experiment_get_params (const DerlExperiment *experiment, const char *group);

/**
 * derl_experiment_get_feature:
 * Returns the feature selected for @kind by the "name" key of its group,
 * or NULL when the experiment selects none.
 */
const DerlFeature *derl_experiment_get_feature (const DerlExperiment *experiment, DerlFeatureKind kind);

/**
 * derl_experiment_get_threads:
 * Returns [experiment] threads, or the number of processors when it is 0.
 */
guint derl_experiment_get_threads (const DerlExperiment *experiment);

/**
 * DERL_EXPERIMENT_MAX_PRIMITIVES:
 * The most primitives an experiment binds (g1 .. g16).
 */
#define DERL_EXPERIMENT_MAX_PRIMITIVES 16

/**
 * derl_experiment_get_n_primitives:
 * Returns K, the number of primitives the [primitives] group binds to the
 * formula variables g1 .. gK (0 without the group).
 */
guint derl_experiment_get_n_primitives (const DerlExperiment *experiment);

/**
 * derl_experiment_get_primitive:
 * @index: 0 for g1, ..., K - 1 for gK
 *
 * Returns the primitive feature bound to g(@index + 1).  The experiment
 * checked that the env emits every signal it reads.
 */
const DerlFeature *derl_experiment_get_primitive (const DerlExperiment *experiment, guint index);

/**
 * derl_experiment_get_formula:
 * Returns the [reward] formula over g1 .. gK, parsed and checked valid, or
 * NULL when the experiment trains on the env's own reward.
 */
const DerlFormula *derl_experiment_get_formula (const DerlExperiment *experiment);

/**
 * derl_experiment_get_backend_note:
 *
 * Returns how "[backend] name = auto" was resolved: "picked NAME", then
 * in parentheses why each backend tried before it cannot run here, e.g.
 * "picked cpu (cudnn: cudaGetDeviceCount: no CUDA-capable device is
 * detected)"; NULL when the experiment names its backend.
 * derl_experiment_get_feature() returns the backend picked.
 */
const char *derl_experiment_get_backend_note (const DerlExperiment *experiment);

/**
 * DERL_EXPERIMENT_MAX_BASELINES:
 * The most formulas [evaluate] baselines lists.
 */
#define DERL_EXPERIMENT_MAX_BASELINES 4

/**
 * derl_experiment_get_n_baselines:
 * Returns how many formulas [evaluate] baselines lists (bilevel modes; 0
 * otherwise).
 */
guint derl_experiment_get_n_baselines (const DerlExperiment *experiment);

/**
 * derl_experiment_get_baseline:
 * Returns the @index-th formula of [evaluate] baselines, parsed and checked.
 */
const DerlFormula *derl_experiment_get_baseline (const DerlExperiment *experiment, guint index);

/**
 * derl_experiment_to_data:
 * @length: (out) (optional): the length of the text
 *
 * Returns the resolved experiment as key-file text: every group and key
 * with its value, defaults included, each key preceded by its doc line.
 * Loading that text gives the same experiment.  "[backend] name = auto"
 * is written as the backend picked, with the note in a comment.
 */
char *derl_experiment_to_data (const DerlExperiment *experiment, gsize *length);

/**
 * derl_experiment_get_core_specs:
 * @group: a core group name
 *
 * Returns the core's specs for @group (NULL-name terminated), or NULL when
 * @group is not a core group.  For plugin groups ("env", ...) the specs
 * hold only the "name" key.
 */
const DerlParamSpec *derl_experiment_get_core_specs (const char *group);

/**
 * derl_experiment_get_core_groups:
 * Returns the NULL-terminated names of the groups an experiment may hold.
 */
const char *const *derl_experiment_get_core_groups (void);

G_END_DECLS
