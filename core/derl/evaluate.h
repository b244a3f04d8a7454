/* derl - `mode = evaluate`: running episodes of a policy and summarising them. */
#pragma once

#include <glib.h>
#include <derl/experiment.h>
#include <derl/metrics.h>
#include <derl/policy.h>

G_BEGIN_DECLS

/**
 * DerlEpisodeResult:
 * What one episode did.
 */
typedef struct {
  guint64 episode;
  guint64 task_index;
  double episode_return;
  guint length;
  gboolean terminated;
  gboolean truncated;
  gboolean success;
} DerlEpisodeResult;

/**
 * DerlEvaluateSummary:
 * Episode statistics; the standard deviation is the population one.
 */
typedef struct {
  guint n_episodes;
  double mean_return;
  double std_return;
  double min_return;
  double max_return;
  double mean_length;
  double success_rate;
  guint64 total_steps;
} DerlEvaluateSummary;

/**
 * DerlProgressFunc:
 * Called from the calling thread about every 100 ms while episodes run, and
 * once at the end.
 */
typedef void (*DerlProgressFunc) (guint done, guint total, gpointer user_data);

/**
 * derl_evaluate_run:
 * @experiment: an experiment with an env selected
 * @policy: (nullable): the policy to act with, greedily or, with
 *   [evaluate] greedy = false, sampling its actions with a uniform drawn
 *   from the episode's stream at each step; NULL for the uniform-random
 *   policy over admissible actions
 * @n_threads: worker threads (>= 1); the results do not depend on it
 * @metrics: (nullable): where one "episode" event per episode is written,
 *   in episode order
 * @progress: (nullable): progress callback
 * @summary: (out): the statistics
 *
 * Runs [evaluate] episodes of @policy on the experiment's env and split.
 * Episode e resets task e of the split and draws from the stream
 * (seed, DERL_RNG_STREAM_EPISODE, 0, 0, e),
 * so the numbers are a function of the experiment alone.  Returns FALSE with
 * an error when the env cannot be created, breaks the step contract
 * (%DERL_RUN_ERROR_ENV_CONTRACT) or the log cannot be written.
 */
gboolean derl_evaluate_run (const DerlExperiment *experiment, const DerlPolicy *policy, guint n_threads,
                            DerlMetrics *metrics,
                            DerlProgressFunc progress, gpointer user_data,
                            DerlEvaluateSummary *summary, GError **error);

/**
 * derl_evaluate_summarize:
 * Computes the statistics of @n results.
 */
void derl_evaluate_summarize (const DerlEpisodeResult *results, guint n, DerlEvaluateSummary *summary);

G_END_DECLS
