/* derl - the bilevel DERL loop: a Meta-Optimizer writes reward formulas, an
 * inner loop trains a policy with each, the policies' validation success
 * trains the Meta-Optimizer. */
#pragma once

#include <glib.h>
#include <derl/experiment.h>
#include <derl/train.h>

G_BEGIN_DECLS

/**
 * DerlBilevelProgress:
 * @outer_step: the outer step under way (0-based), or @outer_steps for
 *   the final stage
 * @outer_steps: outer steps in the run
 * @candidates_done: trainings of the step (or of the final stage) done
 * @group_size: trainings in the step (or in the final stage's batch)
 * @best_formula: (nullable): the best formula so far, canonical text
 * @best_score: its mean validation score
 * @elapsed: seconds since the run (or the resumed run) started
 * @remaining: estimated seconds to the end, or a negative number when
 *   there is nothing to estimate from yet
 *
 * Where a bilevel run stands, for a progress display.
 */
typedef struct {
  guint outer_step;
  guint outer_steps;
  guint candidates_done;
  guint group_size;
  const char *best_formula;
  double best_score;
  double elapsed;
  double remaining;
} DerlBilevelProgress;

/**
 * DerlBilevelSummary:
 * @outer_steps: outer steps completed (all of them, for a finished run)
 * @resumed_from: the outer steps already done when the run was resumed (0
 *   for a fresh run)
 * @best_formula: (transfer full): the formula found (the given one for
 *   mode fixed), canonical text: of the [meta] final_candidates formulas
 *   with the best mean validation score in the search, the one with the
 *   best mean over its [meta] final_runs trainings (afresh; for derl-pop
 *   from the population's policy)
 * @best_score: its mean validation score in the search (NaN for mode
 *   fixed)
 * @best_evaluations: how many search evaluations that mean is over
 * @best_step: @best_candidate: where it first appeared
 * @best_rank: its place in the search's ranking (0: the first)
 * @final_candidates: the formulas of the final stage (1 for mode fixed)
 * @final_runs: trainings of each in the final stage
 * @final_score: the found formula's mean validation score over them
 * @final_run: the run of the final policy (the best validation score)
 * @final: the final policy's training (run @final_run of the found
 *   formula), with its evaluations on [evaluate] splits
 * @inner_seconds: wall time of the inner trainings of the outer loop
 * @outer_seconds: wall time of formula generation and Meta-Optimizer
 *   updates (the cold start included)
 * @seconds: wall time of the whole run (of this invocation, when resumed)
 * @n_baselines: @baseline_formulas: @baselines: the formulas of [evaluate]
 *   baselines (canonical text, owned), each through the same final stage
 *   (same budget, runs and seeds) and evaluated on the same splits
 */
typedef struct {
  guint outer_steps;
  guint resumed_from;
  char *best_formula;
  double best_score;
  guint best_evaluations;
  guint best_step;
  guint best_candidate;
  guint best_rank;
  guint final_candidates;
  guint final_runs;
  double final_score;
  guint final_run;
  DerlTrainSummary final;
  double inner_seconds;
  double outer_seconds;
  double seconds;
  guint n_baselines;
  char *baseline_formulas[DERL_EXPERIMENT_MAX_BASELINES];
  DerlTrainSummary baselines[DERL_EXPERIMENT_MAX_BASELINES];
} DerlBilevelSummary;

/** derl_bilevel_summary_clear: Frees what @summary owns. */
void derl_bilevel_summary_clear (DerlBilevelSummary *summary);

/**
 * derl_bilevel_run:
 * @experiment: an experiment in mode derl, derl-pop, random or fixed
 * @dir: the run directory (it exists; the experiment is written in it)
 * @resume: continue the run in @dir from its last completed outer step
 * @threads: worker threads for the inner trainings of an outer step
 * @cancel: (nullable): the run stops at the next chance, having saved
 *   everything up to the last completed outer step, once *@cancel is
 *   non-zero (set it from a SIGINT handler, say); FALSE with
 *   %DERL_RUN_ERROR_CANCELLED
 * @progress: (nullable): called from the calling thread as candidates finish
 * @summary: (out): what the run did
 *
 * Runs the bilevel loop (see derl-experiment(5), modes derl, derl-pop,
 * random, fixed) into @dir: metrics.jsonl, formulas.jsonl, the
 * Meta-Optimizer's checkpoint meta.ckpt after every outer step, state.json,
 * then the final stage (the best formulas of the search trained again, the
 * final policy the best-scoring run of the best of them: policy.ckpt),
 * best-formula.txt and results.md.  The numbers depend on the experiment
 * and its seed only: not on @threads, nor on whether the run was
 * interrupted and resumed.
 */
gboolean derl_bilevel_run (const DerlExperiment *experiment, const char *dir, gboolean resume, guint threads,
                           const gint *cancel, void (*progress) (const DerlBilevelProgress *p, gpointer user_data),
                           gpointer user_data, DerlBilevelSummary *summary, GError **error);

G_END_DECLS
