/* derl - the bilevel DERL loop (DESIGN.md section 1).
 *
 * Each outer step samples [meta] group_size formulas from the
 * Meta-Optimizer (uniformly under the grammar mask for random search),
 * trains one inner policy per formula on the train split ([train]
 * total_steps, fresh for derl and random, warm-started from the previous
 * step's best for derl-pop) on a pool of worker threads, scores each by its
 * greedy success on [train] eval_split, and updates the Meta-Optimizer with
 * GRPO on those scores.  A formula sampled more than once is ranked by its
 * mean score over its evaluations.  Then the final stage: the [meta]
 * final_candidates formulas ranked first are each trained [meta] final_runs
 * times (the same seeds for each; afresh, or for derl-pop from the
 * population's policy, pop.ckpt), the formula with the best mean
 * validation score of those runs is the one found, and the final policy is
 * its run with the best validation score, evaluated on [evaluate] splits
 * (every run of the stage is).  One validation
 * score of a short training is noisy: a single lucky or unlucky seed
 * decides neither the formula nor the policy.  Mode fixed and [evaluate]
 * baselines go through the same final stage with their one formula, from
 * scratch: a baseline is what a training with it alone gives.
 *
 * Every random number comes from a stream named by (seed, outer step,
 * candidate): the inner runs' results do not depend on which worker runs
 * them or when, and a run resumed from its last completed outer step ends
 * as the uninterrupted run does (the cold start is deterministic and is
 * redone; the Meta-Optimizer's parameters and Adam state come from
 * meta.ckpt).  An outer step's lines reach formulas.jsonl and metrics.jsonl
 * before state.json says the step is done; a resumed run drops the lines of
 * unfinished steps. */
#include "config.h"

#include <errno.h>
#include <math.h>
#include <string.h>
#include <glib/gstdio.h>
#include "derl-private.h"

typedef enum { MODE_DERL, MODE_DERL_POP, MODE_RANDOM, MODE_FIXED } Mode;

static const char *const mode_names[] = { "derl", "derl-pop", "random", "fixed" };

/* A formula's validation scores in the search. */
typedef struct {
  char *formula; /* canonical text */
  double sum;
  guint n;
  guint first_step, first_candidate;
} Tally;

/* One inner training, run by a worker. */
typedef struct {
  const DerlExperiment *experiment;
  guint index;
  DerlFormula *formula;
  guint64 seed;
  const double *init;
  gsize n_init;
  const gint *cancel;
  char *checkpoint;       /* derl-pop and the final stage: where to keep the trained policy */
  gboolean splits;        /* the final stage: evaluate on [evaluate] splits too */
  DerlMetrics *metrics;   /* the final stage: its events, kept in memory */
  /* results */
  DerlTrainSummary summary;
  GError *error;
  double seconds;
  GAsyncQueue *done;
} Candidate;

typedef struct {
  const DerlExperiment *experiment;
  const char *dir;
  Mode mode;
  guint64 seed;
  guint outer_steps, group_size, threads;
  const gint *cancel;
  DerlBackend *backend;
  DerlMeta *meta;
  DerlMetrics *metrics, *formulas;
  /* the search's formulas, in order of first appearance, and the best */
  GPtrArray *tally;
  GHashTable *tally_index; /* formula text -> its Tally */
  const Tally *best;
  double final_units;      /* the final stage's trainings, in outer steps */
  guint done;             /* outer steps completed */
  guint done_at_start;    /* ... when this invocation started */
  double inner_seconds, outer_seconds;
  char *meta_sha256, *pop_sha256; /* of the checkpoints of the last completed outer step */
  JsonObject *cold_start;  /* the cold start's event, for metrics.jsonl */
  gint64 start;
  void (*progress) (const DerlBilevelProgress *p, gpointer user_data);
  gpointer user_data;
} Bilevel;

void
derl_bilevel_summary_clear (DerlBilevelSummary *summary)
{
  g_clear_pointer (&summary->best_formula, g_free);
  for (guint i = 0; i < summary->n_baselines; i++)
    g_clear_pointer (&summary->baseline_formulas[i], g_free);
  summary->n_baselines = 0;
}

static char *
path_in (const Bilevel *b, const char *name)
{
  return g_build_filename (b->dir, name, NULL);
}

/* The inner run's seed: its own 53-bit number from (seed, step, candidate). */
static guint64
inner_seed (guint64 seed, guint step, guint candidate)
{
  DerlRng rng;
  derl_rng_init (&rng, seed, DERL_RNG_STREAM_OUTER, step, candidate, 1);
  return derl_rng_next_u64 (&rng) >> 11;
}

static void
run_candidate (gpointer data, gpointer user_data)
{
  Candidate *c = data;
  /* scored on [train] eval_split only: [evaluate] splits are for the final policy */
  DerlTrainOptions options = { c->seed, c->formula, c->init, c->n_init, c->cancel, !c->splits };
  gint64 t0 = g_get_monotonic_time ();

  _derl_train (c->experiment, &options, c->metrics, NULL, NULL, c->checkpoint, &c->summary, &c->error);
  c->seconds = (g_get_monotonic_time () - t0) / 1e6;
  g_async_queue_push (c->done, c);
}

static double
tally_mean (const Tally *t)
{
  return t->sum / t->n;
}

/* Whether @a ranks before @b: a higher mean score, then more evaluations,
 * then the earlier first appearance. */
static gboolean
tally_before (const Tally *a, const Tally *b)
{
  double ma = tally_mean (a), mb = tally_mean (b);
  if (ma != mb)
    return ma > mb;
  if (a->n != b->n)
    return a->n > b->n;
  return a->first_step != b->first_step ? a->first_step < b->first_step : a->first_candidate < b->first_candidate;
}

static gint
tally_order (gconstpointer a, gconstpointer b)
{
  const Tally *x = *(const Tally *const *) a, *y = *(const Tally *const *) b;
  return tally_before (x, y) ? -1 : tally_before (y, x) ? 1 : 0;
}

static void
tally_free (gpointer p)
{
  Tally *t = p;
  g_free (t->formula);
  g_free (t);
}

static void
tally_add (Bilevel *b, const char *formula, double score, guint step, guint candidate)
{
  Tally *t = g_hash_table_lookup (b->tally_index, formula);
  if (!t)
    {
      t = g_new0 (Tally, 1);
      t->formula = g_strdup (formula);
      t->first_step = step;
      t->first_candidate = candidate;
      g_ptr_array_add (b->tally, t);
      g_hash_table_insert (b->tally_index, t->formula, t);
    }
  t->sum += score;
  t->n++;
  b->best = NULL;
  for (guint i = 0; i < b->tally->len; i++)
    if (!b->best || tally_before (b->tally->pdata[i], b->best))
      b->best = b->tally->pdata[i];
}

/* Progress: @step is the outer step under way (@b->outer_steps: the final
 * stage), @done of @of its trainings are done. */
static void
report (Bilevel *b, guint step, guint done, guint of)
{
  if (!b->progress)
    return;
  double elapsed = (g_get_monotonic_time () - b->start) / 1e6;
  /* the outer steps of this invocation, and the final stage's trainings */
  double units_done = step < b->outer_steps ? (step - MIN (step, b->done_at_start)) + (double) done / of
                                            : (b->outer_steps - b->done_at_start) + b->final_units * done / MAX (of, 1);
  double units_total = (b->outer_steps - b->done_at_start) + b->final_units;
  DerlBilevelProgress p = { step, b->outer_steps, done, of, b->best ? b->best->formula : NULL,
                            b->best ? tally_mean (b->best) : NAN, elapsed,
                            units_done > 0 ? elapsed * (units_total - units_done) / units_done : -1.0 };
  b->progress (&p, b->user_data);
}

/* Runs @n inner trainings on the pool of workers; each lands in its
 * Candidate.  Progress is reported as they end. */
static void
run_batch (Bilevel *b, Candidate *cand, guint n, guint step)
{
  g_autoptr (GAsyncQueue) done = g_async_queue_new ();
  GThreadPool *pool = g_thread_pool_new (run_candidate, NULL, (gint) b->threads, FALSE, NULL);
  for (guint i = 0; i < n; i++)
    {
      cand[i].done = done;
      g_thread_pool_push (pool, &cand[i], NULL);
    }
  for (guint i = 0; i < n; i++)
    {
      g_async_queue_pop (done);
      report (b, step, i + 1, n);
    }
  g_thread_pool_free (pool, FALSE, TRUE);
}

/* The first error of a batch, in candidate order: "stopped during @where"
 * for a cancelled run, the error prefixed with @where and the run
 * otherwise. */
static gboolean
batch_ok (const Bilevel *b, Candidate *cand, guint n, const char *where, const char *noun, GError **error)
{
  for (guint i = 0; i < n; i++)
    if (cand[i].error)
      {
        if (g_error_matches (cand[i].error, DERL_RUN_ERROR, DERL_RUN_ERROR_CANCELLED))
          g_set_error (error, DERL_RUN_ERROR, DERL_RUN_ERROR_CANCELLED, "stopped during %s; %u outer steps are saved",
                       where, b->done);
        else
          g_propagate_prefixed_error (error, g_steal_pointer (&cand[i].error), "%s, %s %u: ", where, noun, i + 1);
        return FALSE;
      }
  return TRUE;
}

/* ---- state and resume ---- */

static gboolean
write_json (const char *path, JsonObject *o, GError **error)
{
  g_autoptr (JsonGenerator) gen = json_generator_new ();
  g_autoptr (JsonNode) root = json_node_alloc ();
  json_node_init_object (root, o);
  json_generator_set_root (gen, root);
  json_generator_set_pretty (gen, TRUE);
  g_autofree char *text = json_generator_to_data (gen, NULL);
  g_autofree char *with_nl = g_strconcat (text, "\n", NULL);
  if (!g_file_set_contents (path, with_nl, -1, error))
    return FALSE;
  return TRUE;
}

/* The SHA-256 of the file at @path, or NULL with an error. */
static char *
file_sha256 (const char *path, GError **error)
{
  g_autofree char *data = NULL;
  gsize length = 0;
  if (!_derl_file_read (path, DERL_POLICY_CHECKPOINT_MAX_SIZE, "policy checkpoint", &data, &length, error))
    return NULL;
  return g_compute_checksum_for_data (G_CHECKSUM_SHA256, (const guchar *) data, length);
}

/* state.json is the commit point of an outer step: it names the step and
 * the checksums of its checkpoints, written before as meta.ckpt.new and
 * pop.ckpt.new and renamed once it is saved (see commit_checkpoints()). */
static gboolean
save_state (Bilevel *b, GError **error)
{
  g_autofree char *path = path_in (b, "state.json");
  g_autoptr (JsonObject) o = json_object_new ();
  json_object_set_string_member (o, "mode", mode_names[b->mode]);
  json_object_set_int_member (o, "outer_steps_done", b->done);
  if (b->best)
    {
      json_object_set_string_member (o, "best_formula", b->best->formula);
      derl_metrics_set_double (o, "best_score", tally_mean (b->best));
      json_object_set_int_member (o, "best_evaluations", b->best->n);
    }
  derl_metrics_set_double (o, "inner_seconds", b->inner_seconds);
  derl_metrics_set_double (o, "outer_seconds", b->outer_seconds);
  if (b->meta_sha256)
    json_object_set_string_member (o, "meta_sha256", b->meta_sha256);
  if (b->pop_sha256)
    json_object_set_string_member (o, "pop_sha256", b->pop_sha256);
  return write_json (path, o, error);
}

static gboolean G_GNUC_PRINTF (3, 4)
corrupt (GError **error, const char *path, const char *format, ...)
{
  va_list args;
  g_autofree char *why = NULL;

  va_start (args, format);
  why = g_strdup_vprintf (format, args);
  va_end (args);
  g_set_error (error, DERL_RUN_ERROR, DERL_RUN_ERROR_BAD_FILE, "%s: cannot resume: %s", path, why);
  return FALSE;
}

static gboolean
load_state (Bilevel *b, GError **error)
{
  g_autofree char *path = path_in (b, "state.json");
  g_autoptr (JsonParser) parser = json_parser_new ();
  g_autoptr (GError) err = NULL;
  g_autofree char *text = NULL;
  gsize length = 0;

  /* Stopped before its first outer step was saved: start over in place. */
  if (!g_file_test (path, G_FILE_TEST_EXISTS))
    {
      b->done = 0;
      return TRUE;
    }
  if (!_derl_file_read (path, DERL_RUN_JSON_MAX_SIZE, "run state", &text, &length, error))
    return FALSE;
  if (!json_parser_load_from_data (parser, text, (gssize) length, &err))
    return corrupt (error, path, "%s", err->message);
  JsonNode *root = json_parser_get_root (parser);
  JsonObject *o = root && JSON_NODE_HOLDS_OBJECT (root) ? json_node_get_object (root) : NULL;
  JsonNode *done_node = o ? json_object_get_member (o, "outer_steps_done") : NULL;
  if (!o || !done_node || json_node_get_value_type (done_node) != G_TYPE_INT64
      || g_strcmp0 (json_object_get_string_member_with_default (o, "mode", ""), mode_names[b->mode]) != 0)
    return corrupt (error, path, "not the state of a %s run", mode_names[b->mode]);
  gint64 done = json_node_get_int (done_node);
  if (done < 0 || done > b->outer_steps)
    return corrupt (error, path, "outer_steps_done = %" G_GINT64_FORMAT " (the run has %u)", done, b->outer_steps);
  b->done = (guint) done; /* the best comes back with formulas.jsonl */
  b->inner_seconds = json_object_get_double_member_with_default (o, "inner_seconds", 0);
  b->outer_seconds = json_object_get_double_member_with_default (o, "outer_seconds", 0);
  b->meta_sha256 = g_strdup (json_object_get_string_member_with_default (o, "meta_sha256", NULL));
  b->pop_sha256 = g_strdup (json_object_get_string_member_with_default (o, "pop_sha256", NULL));
  return TRUE;
}

/* After state.json: NAME.new becomes NAME.  On resume, NAME.new is the
 * checkpoint of the completed step when its checksum is the one state.json
 * records (stopped between state.json and the rename), else of a step
 * that did not complete (dropped); NAME must then be the recorded one. */
static gboolean
commit_checkpoint (Bilevel *b, const char *name, const char *sha, gboolean resume, GError **error)
{
  g_autofree char *path = path_in (b, name);
  g_autofree char *next = g_strconcat (path, ".new", NULL);

  if (resume && g_file_test (next, G_FILE_TEST_EXISTS))
    {
      g_autofree char *actual = sha ? file_sha256 (next, NULL) : NULL;
      if (!actual || strcmp (actual, sha) != 0)
        g_unlink (next);
    }
  if (g_file_test (next, G_FILE_TEST_EXISTS) && g_rename (next, path) != 0)
    {
      g_set_error (error, DERL_RUN_ERROR, DERL_RUN_ERROR_IO, "%s: cannot save: %s", path, g_strerror (errno));
      return FALSE;
    }
  if (resume && sha)
    {
      g_autoptr (GError) err = NULL;
      g_autofree char *actual = file_sha256 (path, &err);
      if (!actual)
        {
          g_set_error (error, DERL_RUN_ERROR, DERL_RUN_ERROR_BAD_FILE, "cannot resume: %s", err->message);
          return FALSE;
        }
      if (strcmp (actual, sha) != 0)
        return corrupt (error, path, "not the checkpoint of outer step %u (state.json records another checksum)",
                        b->done);
    }
  return TRUE;
}

/* Removes what an interrupted invocation may have left: the temporary
 * files of atomic writes (NAME.XXXXXX), the final stage's and the
 * candidates' checkpoints. */
static void
remove_leftovers (Bilevel *b)
{
  static const char *const names[] = { "state.json", "meta.ckpt.new", "pop.ckpt.new", "policy.ckpt",
                                       "best-formula.txt", "results.md", "summary.json", "metrics.jsonl",
                                       "formulas.jsonl", NULL };
  const char *dirs[] = { b->dir, "inner" };
  for (guint d = 0; d < G_N_ELEMENTS (dirs); d++)
    {
      g_autofree char *dir = d == 0 ? g_strdup (b->dir) : path_in (b, dirs[d]);
      g_autoptr (GDir) it = g_dir_open (dir, 0, NULL);
      const char *name;
      while (it && (name = g_dir_read_name (it)))
        {
          gsize len = strlen (name);
          gboolean stale = g_str_has_prefix (name, ".final-") || (d == 1 && g_str_has_prefix (name, "candidate-"));
          if (!stale && len > 7 && name[len - 7] == '.')
            {
              g_autofree char *base = g_strndup (name, len - 7);
              stale = g_strv_contains (names, base);
            }
          if (stale)
            {
              g_autofree char *p = g_build_filename (dir, name, NULL);
              g_unlink (p);
            }
        }
    }
}

/* The lines of @name that belong to completed outer steps (an
 * "outer_step" member below @done) or to no step (the cold start); drops
 * the others and any half-written line.  Checks that the completed steps
 * are all there (state.json says they are): in formulas.jsonl, one line per
 * (outer step, candidate); in metrics.jsonl, one "outer" event per step.
 * With @tally, the kept lines' formulas and scores are tallied again. */
static gboolean
read_log (Bilevel *b, const char *name, gboolean tally, GString *kept, GError **error)
{
  g_autofree char *path = path_in (b, name);
  g_autofree char *text = NULL;
  const gboolean formulas = tally;
  const guint64 expected = formulas ? (guint64) b->done * b->group_size : b->done;
  g_autofree guint8 *seen = g_new0 (guint8, MAX (expected, 1));
  guint64 records = 0;

  if (!g_file_test (path, G_FILE_TEST_EXISTS))
    text = g_strdup ("");
  else if (!_derl_file_read (path, DERL_RUN_LOG_MAX_SIZE, "run log", &text, NULL, error))
    return FALSE;
  g_auto (GStrv) lines = g_strsplit (text, "\n", -1);
  for (guint i = 0; lines[i]; i++)
    {
      if (!lines[i + 1])
        break; /* the text after the last newline: nothing, or half a line */
      g_autoptr (JsonParser) parser = json_parser_new ();
      if (!json_parser_load_from_data (parser, lines[i], -1, NULL))
        continue;
      JsonNode *root = json_parser_get_root (parser);
      if (!root || !JSON_NODE_HOLDS_OBJECT (root))
        continue;
      JsonObject *o = json_node_get_object (root);
      const char *event = json_object_get_string_member_with_default (o, "event", "");
      JsonNode *at_node = json_object_get_member (o, "outer_step");
      gint64 at = at_node && json_node_get_value_type (at_node) == G_TYPE_INT64 ? json_node_get_int (at_node) : -1;
      if (at_node ? at >= 0 && at < b->done : strcmp (event, "cold_start") == 0 && b->done > 0)
        {
          g_string_append_printf (kept, "%s\n", lines[i]);
          if (!at_node)
            continue;
          gint64 candidate = json_object_get_int_member_with_default (o, "candidate", -1);
          guint64 slot;
          if (formulas)
            {
              const char *formula = json_object_get_string_member_with_default (o, "formula", NULL);
              if (!formula || candidate < 0 || candidate >= b->group_size)
                return corrupt (error, path, "line %u is not the record of a formula", i + 1);
              slot = (guint64) at * b->group_size + (guint64) candidate;
              tally_add (b, formula, json_object_get_double_member_with_default (o, "score", 0), (guint) at,
                         (guint) candidate);
            }
          else if (strcmp (event, "outer") == 0)
            slot = (guint64) at;
          else
            continue;
          if (seen[slot]++)
            return corrupt (error, path, "line %u repeats outer step %" G_GINT64_FORMAT "%s", i + 1, at + 1,
                            formulas ? "'s candidate" : "");
          records++;
        }
    }
  if (records != expected)
    return corrupt (error, path,
                    "%" G_GUINT64_FORMAT " %s of the %u completed outer steps, %" G_GUINT64_FORMAT
                    " expected (state.json says they are done): the run directory is damaged",
                    records, formulas ? "formula records" : "outer events", b->done, expected);
  return TRUE;
}

/* Replaces @name with @kept and opens it to append. */
static DerlMetrics *
rewrite_log (Bilevel *b, const char *name, const GString *kept, GError **error)
{
  g_autofree char *path = path_in (b, name);
  if (!g_file_set_contents (path, kept->str, (gssize) kept->len, error))
    return NULL;
  return derl_metrics_open_append (path, error);
}

/* ---- the Meta-Optimizer ---- */

/* The cold-start formulas: [meta] cold_start, or those installed with
 * derl.  Run uninstalled (libderl loaded from a build tree), the source
 * tree's data/: the build tree's own, or, in a VPATH build whose build tree
 * has no data/, that of the source tree it was configured from. */
static char *
cold_start_path (const DerlParams *mp)
{
  const char *given = derl_params_get_string (mp, "cold_start");
  if (given && *given)
    return g_strdup (given);
  g_autofree char *top = _derl_build_tree_top ();
  const char *const tops[] = { top, DERL_SOURCE_DIR };
  for (guint i = 0; top && i < G_N_ELEMENTS (tops); i++)
    {
      char *p = g_build_filename (tops[i], "data", "formulas", "cold-start.txt", NULL);
      if (g_file_test (p, G_FILE_TEST_EXISTS))
        return p;
      g_free (p);
    }
  return g_build_filename (DERL_PKGDATADIR, "formulas", "cold-start.txt", NULL);
}

static gboolean
meta_init (Bilevel *b, GError **error)
{
  const DerlExperiment *e = b->experiment;
  const DerlParams *mp = derl_experiment_get_params (e, "meta");
  guint K = derl_experiment_get_n_primitives (e);
  gboolean outcome_like[DERL_EXPERIMENT_MAX_PRIMITIVES];
  const DerlFeature *opt = _derl_experiment_get_meta_optimizer (e);
  g_autoptr (DerlParams) op = NULL;

  for (guint i = 0; i < K; i++)
    outcome_like[i] = derl_feature_get_primitive_vtable (derl_experiment_get_primitive (e, i))->outcome_like;
  DerlMetaConfig c = { 0 };
  c.backend = b->backend;
  c.n_vars = K;
  c.outcome_like = outcome_like;
  c.max_tokens = (guint) derl_params_get_int (mp, "max_tokens");
  c.group_size = b->group_size;
  const char *const *hidden = derl_params_get_list (mp, "hidden");
  for (c.n_hidden = 0; hidden[c.n_hidden]; c.n_hidden++)
    c.hidden[c.n_hidden] = (guint) g_ascii_strtoull (hidden[c.n_hidden], NULL, 10);
  c.temperature = derl_params_get_double (mp, "temperature");
  c.seed = b->seed;
  if (b->mode != MODE_RANDOM)
    {
      op = derl_params_new (derl_feature_get_params (opt));
      g_autofree char *gs = g_strdup_printf ("%u", b->group_size);
      g_autofree char *mb = g_strdup_printf ("%u", b->group_size * (c.max_tokens + 1));
      const char *keys[][2] = {
        { "n_groups", "1" }, { "group_size", gs }, { "minibatch_size", mb }, { "anneal_lr", "false" },
        { "learning_rate", derl_params_get_text (mp, "learning_rate") },
        { "update_epochs", derl_params_get_text (mp, "update_epochs") },
        { "clip_coef", derl_params_get_text (mp, "clip_coef") }, { "beta", derl_params_get_text (mp, "beta") },
      };
      for (guint i = 0; i < G_N_ELEMENTS (keys); i++)
        if (!derl_params_set (op, keys[i][0], keys[i][1], error))
          return FALSE;
      c.optimizer = derl_feature_get_optimizer_vtable (opt);
      c.optimizer_params = op;
    }
  b->meta = _derl_meta_new (&c, error);
  if (!b->meta)
    return FALSE;
  if (b->mode == MODE_RANDOM)
    return TRUE;

  /* The cold start, redone on resume: it is deterministic. */
  g_autofree char *path = cold_start_path (mp);
  DerlMetaColdStart cs;
  gint64 t0 = g_get_monotonic_time ();
  if (!_derl_meta_cold_start (b->meta, path, (guint) derl_params_get_int (mp, "cold_start_epochs"),
                              derl_params_get_double (mp, "cold_start_lr"), &cs, error))
    return FALSE;
  double seconds = (g_get_monotonic_time () - t0) / 1e6;
  if (b->done == 0)
    {
      b->outer_seconds += seconds;
      g_autoptr (JsonObject) o = json_object_new ();
      json_object_set_string_member (o, "event", "cold_start");
      json_object_set_string_member (o, "file", path);
      json_object_set_int_member (o, "formulas", cs.n_formulas);
      json_object_set_int_member (o, "skipped", cs.n_skipped);
      json_object_set_int_member (o, "tokens", cs.n_tokens);
      derl_metrics_set_double (o, "initial_nll", cs.initial_nll);
      derl_metrics_set_double (o, "final_nll", cs.final_nll);
      derl_metrics_set_double (o, "wall_seconds", seconds);
      b->cold_start = g_steal_pointer (&o); /* written once the logs are open */
    }
  else
    {
      g_autofree char *ckpt = path_in (b, "meta.ckpt");
      if (!_derl_meta_load (b->meta, ckpt, error))
        return FALSE;
    }
  return TRUE;
}

/* ---- one outer step ---- */

/* derl-pop: the parameters of the population's policy (pop.ckpt), which
 * the trainings of @what start from. */
static double *
load_population (Bilevel *b, const char *what, gsize *n, GError **error)
{
  g_autofree char *pop = path_in (b, "pop.ckpt");
  g_autoptr (DerlPolicy) policy = derl_policy_load (b->backend, pop, 1, NULL, error);
  if (!policy)
    {
      g_prefix_error (error, "%s starts from the population's policy: ", what);
      return NULL;
    }
  *n = derl_policy_n_parameters (policy);
  double *values = g_new (double, *n);
  derl_policy_get_parameters (policy, values);
  return values;
}

static gboolean
outer_step (Bilevel *b, guint step, GError **error)
{
  const guint n = b->group_size;
  g_autofree Candidate *cand = g_new0 (Candidate, n);
  g_autofree DerlFormula **formulas = g_new0 (DerlFormula *, n);
  g_autofree double *scores = g_new0 (double, n);
  g_autofree double *init = NULL;
  gsize n_init = 0;
  g_autofree char *pop = path_in (b, "pop.ckpt");
  g_autofree char *inner_dir = path_in (b, "inner");
  g_autofree char *where = NULL;
  g_autoptr (JsonObject) o = NULL;
  gboolean ok = FALSE;
  DerlStats stats = { 0 };

  gint64 t0 = g_get_monotonic_time ();
  if (!_derl_meta_sample (b->meta, b->seed, step, b->mode == MODE_RANDOM, formulas, error))
    return FALSE;
  double gen_seconds = (g_get_monotonic_time () - t0) / 1e6;

  if (b->mode == MODE_DERL_POP && step > 0)
    {
      g_autofree char *what = g_strdup_printf ("outer step %u", step + 1);
      if (!(init = load_population (b, what, &n_init, error)))
        goto out;
    }
  if (b->mode == MODE_DERL_POP && g_mkdir_with_parents (inner_dir, 0755) != 0)
    {
      g_set_error (error, DERL_RUN_ERROR, DERL_RUN_ERROR_IO, "%s: cannot create: %s", inner_dir, g_strerror (errno));
      goto out;
    }

  /* The inner trainings, on the pool; results land in their candidate. */
  t0 = g_get_monotonic_time ();
  for (guint i = 0; i < n; i++)
    cand[i] = (Candidate) { b->experiment, i, formulas[i], inner_seed (b->seed, step, i), init, n_init, b->cancel,
                            b->mode == MODE_DERL_POP ? g_strdup_printf ("%s/candidate-%u.ckpt", inner_dir, i) : NULL,
                            FALSE, NULL, { 0 }, NULL, 0, NULL };
  run_batch (b, cand, n, step);
  double inner = (g_get_monotonic_time () - t0) / 1e6;
  where = g_strdup_printf ("outer step %u", step + 1);
  if (!batch_ok (b, cand, n, where, "candidate", error))
    goto out;

  /* Scores, the best, formulas.jsonl, in candidate order. */
  guint step_best = 0;
  double sum = 0, max = -1;
  for (guint i = 0; i < n; i++)
    {
      scores[i] = cand[i].summary.eval.success_rate;
      sum += scores[i];
      if (scores[i] > max)
        {
          max = scores[i];
          step_best = i;
        }
      g_autofree char *text = derl_formula_to_string (formulas[i]);
      tally_add (b, text, scores[i], step, i);
      g_autoptr (JsonObject) line = json_object_new ();
      json_object_set_int_member (line, "outer_step", step);
      json_object_set_int_member (line, "candidate", i);
      json_object_set_string_member (line, "formula", text);
      json_object_set_boolean_member (line, "valid", TRUE);
      derl_metrics_set_double (line, "score", scores[i]);
      derl_metrics_set_double (line, "train_mean_return_20", cand[i].summary.final_mean_return_20);
      json_object_set_int_member (line, "steps", (gint64) cand[i].summary.steps);
      derl_metrics_set_double (line, "inner_seconds", cand[i].seconds);
      if (!derl_metrics_write (b->formulas, line, error))
        goto out;
    }

  /* The Meta-Optimizer learns from the scores. */
  t0 = g_get_monotonic_time ();
  if (b->mode == MODE_DERL || b->mode == MODE_DERL_POP)
    if (!_derl_meta_update (b->meta, scores, (double) step / b->outer_steps, b->seed, step, &stats, error))
      goto out;
  double update_seconds = (g_get_monotonic_time () - t0) / 1e6;
  b->inner_seconds += inner;
  b->outer_seconds += gen_seconds + update_seconds;

  double mean = sum / n, var = 0;
  for (guint i = 0; i < n; i++)
    var += (scores[i] - mean) * (scores[i] - mean);
  o = json_object_new ();
  json_object_set_string_member (o, "event", "outer");
  json_object_set_int_member (o, "outer_step", step);
  derl_metrics_set_double (o, "mean_score", mean);
  derl_metrics_set_double (o, "std_score", sqrt (var / n));
  derl_metrics_set_double (o, "max_score", max);
  derl_metrics_set_double (o, "best_score", tally_mean (b->best));
  json_object_set_int_member (o, "best_evaluations", b->best->n);
  json_object_set_string_member (o, "best_formula", b->best->formula);
  for (guint i = 0; i < stats.n; i++)
    derl_metrics_set_double (o, stats.names[i], stats.values[i]);
  derl_metrics_set_double (o, "generate_seconds", gen_seconds);
  derl_metrics_set_double (o, "update_seconds", update_seconds);
  derl_metrics_set_double (o, "inner_seconds", inner);
  if (!derl_metrics_write (b->metrics, o, error))
    goto out;

  /* Saved in this order, so state.json never runs ahead of the rest. */
  if (!derl_metrics_flush (b->formulas, error) || !derl_metrics_flush (b->metrics, error))
    goto out;
  if (b->mode == MODE_DERL || b->mode == MODE_DERL_POP)
    {
      g_autofree char *ckpt = path_in (b, "meta.ckpt.new");
      g_free (b->meta_sha256);
      if (!_derl_meta_save (b->meta, ckpt, error) || !(b->meta_sha256 = file_sha256 (ckpt, error)))
        goto out;
    }
  if (b->mode == MODE_DERL_POP)
    {
      g_autofree char *next = g_strconcat (pop, ".new", NULL);
      if (g_rename (cand[step_best].checkpoint, next) != 0)
        {
          g_set_error (error, DERL_RUN_ERROR, DERL_RUN_ERROR_IO, "%s: cannot save: %s", next, g_strerror (errno));
          goto out;
        }
      for (guint i = 0; i < n; i++)
        g_unlink (cand[i].checkpoint);
      g_free (b->pop_sha256);
      if (!(b->pop_sha256 = file_sha256 (next, error)))
        goto out;
    }
  b->done = step + 1;
  if (!save_state (b, error) || !commit_checkpoint (b, "meta.ckpt", NULL, FALSE, error)
      || !commit_checkpoint (b, "pop.ckpt", NULL, FALSE, error))
    goto out;
  ok = TRUE;

out:
  for (guint i = 0; i < n; i++)
    {
      derl_formula_free (formulas[i]);
      g_free (cand[i].checkpoint);
      g_clear_error (&cand[i].error);
    }
  return ok;
}

/* ---- the final policy and the results ---- */

/* The search's trajectory, from formulas.jsonl: per outer step the mean
 * and best score of its formulas, how many distinct ones, and the best. */
static void
append_trajectory (Bilevel *b, GString *t)
{
  g_autofree char *path = path_in (b, "formulas.jsonl");
  g_autofree char *text = NULL;
  if (b->outer_steps == 0 || !_derl_file_read (path, DERL_RUN_LOG_MAX_SIZE, "run log", &text, NULL, NULL))
    return;
  g_auto (GStrv) lines = g_strsplit (text, "\n", -1);
  g_autoptr (GHashTable) distinct = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  g_autofree char *best = NULL;
  double sum = 0, max = -1;
  guint n = 0;
  gint64 step = -1;

  g_string_append (t, "\nThe search, per outer step (validation success of its formulas):\n\n"
                      "| outer step | mean | best | distinct | best formula of the step |\n|---|---|---|---|---|\n");
  for (guint i = 0;; i++)
    {
      JsonNode *node = lines[i] && *lines[i] ? json_from_string (lines[i], NULL) : NULL;
      JsonObject *o = node && JSON_NODE_HOLDS_OBJECT (node) ? json_node_get_object (node) : NULL;
      gint64 at = o ? json_object_get_int_member_with_default (o, "outer_step", -1) : -1;
      if ((at != step || !lines[i]) && n > 0)
        {
          g_string_append_printf (t, "| %" G_GINT64_FORMAT " | %.3f | %.3f | %u | `%s` |\n", step + 1, sum / n, max,
                                  g_hash_table_size (distinct), best);
          g_hash_table_remove_all (distinct);
          g_clear_pointer (&best, g_free);
          sum = 0, max = -1, n = 0;
        }
      if (o && at >= 0)
        {
          const char *formula = json_object_get_string_member_with_default (o, "formula", "");
          double score = json_object_get_double_member_with_default (o, "score", 0);
          step = at;
          sum += score;
          n++;
          g_hash_table_add (distinct, g_strdup (formula));
          if (score > max)
            {
              max = score;
              g_free (best);
              best = g_strdup (formula);
            }
        }
      if (node)
        json_node_unref (node);
      if (!lines[i])
        break;
    }
}

static gboolean
write_results (Bilevel *b, const DerlBilevelSummary *s, GError **error)
{
  g_autofree char *path = path_in (b, "results.md");
  g_autoptr (GString) t = g_string_new (NULL);
  const DerlParams *ex = derl_experiment_get_params (b->experiment, "experiment");
  const DerlParams *tr = derl_experiment_get_params (b->experiment, "train");
  const char *acting = derl_params_get_bool (derl_experiment_get_params (b->experiment, "evaluate"), "greedy")
                         ? "greedy" : "sampled";

  g_string_append_printf (t, "# %s, seed %" G_GINT64_FORMAT "\n\n", mode_names[b->mode],
                          derl_params_get_int (ex, "seed"));
  g_string_append_printf (t, "Formula: `%s`", s->best_formula);
  if (b->mode != MODE_FIXED)
    g_string_append_printf (t,
                            " (search: mean validation success %.3f over %u evaluation%s, first at outer step %u, "
                            "candidate %u of %u outer steps x %u; final stage: %.3f over %u runs, ranked %u of the %u "
                            "best)",
                            s->best_score, s->best_evaluations, s->best_evaluations == 1 ? "" : "s",
                            s->best_step + 1, s->best_candidate + 1, b->outer_steps, b->group_size, s->final_score,
                            s->final_runs, s->best_rank + 1, s->final_candidates);
  else
    g_string_append_printf (t, " (mean validation success %.3f over %u runs)", s->final_score, s->final_runs);
  g_string_append_printf (t,
                          "\n\nFinal policy: run %u of %u (the best validation score), %" G_GUINT64_FORMAT
                          " steps, %s evaluation:\n\n",
                          s->final_run + 1, s->final_runs, s->final.steps, acting);
  g_string_append (t, "| split | episodes | success | return | length |\n|---|---|---|---|---|\n");
  g_string_append_printf (t, "| %s | %u | %.3f | %.3f +- %.3f | %.1f |\n", derl_params_get_string (tr, "eval_split"),
                          s->final.eval.n_episodes, s->final.eval.success_rate, s->final.eval.mean_return,
                          s->final.eval.std_return, s->final.eval.mean_length);
  for (guint i = 0; i < s->final.n_splits; i++)
    {
      const DerlEvalResult *r = &s->final.split_eval[i];
      g_string_append_printf (t, "| %s | %u | %.3f | %.3f +- %.3f | %.1f |\n", s->final.splits[i], r->n_episodes,
                              r->success_rate, r->mean_return, r->std_return, r->mean_length);
    }
  if (s->n_baselines)
    {
      g_string_append_printf (t, "\nBeside the baselines, each through the same final stage (the same budget, runs "
                                 "and seeds; %s success of the run with the best validation score)", acting);
      if (b->mode == MODE_DERL_POP)
        g_string_append (t, ", trained afresh where the found formula's runs went on from the population's policy");
      g_string_append (t, ":\n\n| reward | ");
      g_string_append (t, derl_params_get_string (tr, "eval_split"));
      for (guint k = 0; k < s->final.n_splits; k++)
        g_string_append_printf (t, " | %s", s->final.splits[k]);
      g_string_append (t, " |\n|---|---");
      for (guint k = 0; k < s->final.n_splits; k++)
        g_string_append (t, "|---");
      g_string_append (t, "|\n");
      for (guint i = 0; i <= s->n_baselines; i++)
        {
          const DerlTrainSummary *r = i == 0 ? &s->final : &s->baselines[i - 1];
          g_string_append_printf (t, "| %s`%s` | %.3f", i > 0 ? "" : b->mode == MODE_FIXED ? "given: " : "found: ",
                                  i == 0 ? s->best_formula
                                                                                        : s->baseline_formulas[i - 1],
                                  r->eval.success_rate);
          for (guint k = 0; k < r->n_splits; k++)
            g_string_append_printf (t, " | %.3f", r->split_eval[k].success_rate);
          g_string_append (t, " |\n");
        }
    }
  append_trajectory (b, t);
  g_string_append_printf (t, "\nWall time: %.1f s (inner trainings %.1f s, Meta-Optimizer %.2f s).\n", s->seconds,
                          s->inner_seconds, s->outer_seconds);
  return g_file_set_contents (path, t->str, (gssize) t->len, error);
}

/* The seed of final run @run: the same for every formula of the final
 * stage, so that they are compared on equal terms (no outer step has the
 * index G_MAXUINT32). */
static guint64
final_seed (guint64 seed, guint run)
{
  return inner_seed (seed, G_MAXUINT32, run);
}

/* The final stage for @n formulas: each trained @runs times on the pool,
 * from the @n_init parameters @init (NULL: afresh), each evaluated on
 * [evaluate] splits too; the formula with the best mean validation score
 * (the first on a tie), and its run with the best score, is the result:
 * its policy goes to @checkpoint, its summary to @out, and (unless
 * @baseline) its training's events to metrics.jsonl, as if it had been
 * trained once more there (it would give the same numbers: its seed is
 * the run's).  The choices go to metrics.jsonl. */
static gboolean
final_stage (Bilevel *b, DerlFormula *const *formulas, guint n, guint runs, const double *init, gsize n_init,
             gboolean baseline, const char *checkpoint, DerlTrainSummary *out, guint *chosen, guint *chosen_run,
             double *mean, GError **error)
{
  const guint total = n * runs;
  g_autofree Candidate *cand = g_new0 (Candidate, total);
  gboolean ok = FALSE;

  for (guint f = 0; f < n; f++)
    for (guint r = 0; r < runs; r++)
      {
        g_autofree char *name = g_strdup_printf (".final-%u-%u.ckpt", f, r);
        cand[f * runs + r] = (Candidate) { b->experiment, f * runs + r, formulas[f], final_seed (b->seed, r), init,
                                           n_init, b->cancel, checkpoint ? path_in (b, name) : NULL, TRUE,
                                           baseline ? NULL : _derl_metrics_new_memory (), { 0 }, NULL, 0, NULL };
      }
  run_batch (b, cand, total, b->outer_steps);
  if (!batch_ok (b, cand, total, baseline ? "the baseline's final trainings" : "the final trainings", "run", error))
    goto out;

  *chosen = 0;
  *mean = -1;
  for (guint f = 0; f < n; f++)
    {
      g_autoptr (JsonObject) o = json_object_new ();
      g_autofree char *text = derl_formula_to_string (formulas[f]);
      JsonArray *a = json_array_new ();
      double sum = 0;
      for (guint r = 0; r < runs; r++)
        {
          sum += cand[f * runs + r].summary.eval.success_rate;
          derl_json_array_add_double (a, cand[f * runs + r].summary.eval.success_rate);
        }
      json_object_set_string_member (o, "event", baseline ? "final_baseline" : "final_candidate");
      json_object_set_int_member (o, "rank", f);
      json_object_set_string_member (o, "formula", text);
      json_object_set_array_member (o, "scores", a);
      derl_metrics_set_double (o, "mean_score", sum / runs);
      if (!derl_metrics_write (b->metrics, o, error))
        goto out;
      if (sum / runs > *mean)
        {
          *mean = sum / runs;
          *chosen = f;
        }
    }
  *chosen_run = 0;
  for (guint r = 1; r < runs; r++)
    if (cand[*chosen * runs + r].summary.eval.success_rate > cand[*chosen * runs + *chosen_run].summary.eval.success_rate)
      *chosen_run = r;

  /* The chosen run is the result: its events, policy and summary. */
  Candidate *best = &cand[*chosen * runs + *chosen_run];
  if (best->metrics && !_derl_metrics_copy_lines (b->metrics, best->metrics, error))
    goto out;
  if (checkpoint && g_rename (best->checkpoint, checkpoint) != 0)
    {
      g_set_error (error, DERL_RUN_ERROR, DERL_RUN_ERROR_IO, "%s: cannot save: %s", checkpoint, g_strerror (errno));
      goto out;
    }
  *out = best->summary;
  ok = TRUE;

out:
  for (guint i = 0; i < total; i++)
    {
      if (cand[i].checkpoint)
        g_unlink (cand[i].checkpoint);
      g_free (cand[i].checkpoint);
      derl_metrics_close (cand[i].metrics, NULL);
      g_clear_error (&cand[i].error);
    }
  return ok;
}

static gboolean
final_policy (Bilevel *b, DerlBilevelSummary *s, GError **error)
{
  const DerlExperiment *e = b->experiment;
  const DerlParams *mp = derl_experiment_get_params (e, "meta");
  guint K = derl_experiment_get_n_primitives (e);
  const char *names[DERL_EXPERIMENT_MAX_PRIMITIVES];
  const guint runs = (guint) derl_params_get_int (mp, "final_runs");
  g_autoptr (GPtrArray) ranked = NULL;
  g_autoptr (GPtrArray) owned = g_ptr_array_new_with_free_func ((GDestroyNotify) derl_formula_free);
  g_autofree DerlFormula **formulas = NULL;
  guint n = 1, chosen = 0, run = 0;
  double mean;

  for (guint i = 0; i < K; i++)
    names[i] = derl_feature_get_name (derl_experiment_get_primitive (e, i));
  if (b->mode == MODE_FIXED)
    {
      formulas = g_new0 (DerlFormula *, 1);
      formulas[0] = (DerlFormula *) derl_experiment_get_formula (e); /* NULL: the env's own reward */
    }
  else
    {
      /* The search's formulas, best first. */
      ranked = g_ptr_array_sized_new (b->tally->len); /* not owning */
      for (guint i = 0; i < b->tally->len; i++)
        g_ptr_array_add (ranked, b->tally->pdata[i]);
      g_ptr_array_sort (ranked, tally_order);
      n = MIN ((guint) derl_params_get_int (mp, "final_candidates"), ranked->len);
      if (n == 0)
        {
          g_set_error (error, DERL_RUN_ERROR, DERL_RUN_ERROR_FAILED, "the search has no formula to train");
          return FALSE;
        }
      formulas = g_new0 (DerlFormula *, n);
      for (guint i = 0; i < n; i++)
        {
          const Tally *t = ranked->pdata[i];
          if (!(formulas[i] = derl_formula_parse (t->formula, -1, K, names, error)))
            return FALSE;
          g_ptr_array_add (owned, formulas[i]);
        }
    }
  /* derl-pop's final runs go on from the population's policy, as its
   * search's did: its scores say how a formula continues that policy, not
   * how it trains one from scratch. */
  g_autofree double *init = NULL;
  gsize n_init = 0;
  if (b->mode == MODE_DERL_POP && !(init = load_population (b, "the final stage", &n_init, error)))
    return FALSE;
  report (b, b->outer_steps, 0, n * runs);
  g_autofree char *ckpt = path_in (b, "policy.ckpt");
  gint64 t0 = g_get_monotonic_time ();
  if (!final_stage (b, formulas, n, runs, init, n_init, FALSE, ckpt, &s->final, &chosen, &run, &mean, error))
    return FALSE;
  s->best_formula = formulas[chosen] ? derl_formula_to_string (formulas[chosen]) : g_strdup ("");
  s->final_score = mean;
  s->final_runs = runs;
  s->final_run = run;
  s->final_candidates = n;
  s->best_rank = chosen;
  s->best_score = NAN;
  if (ranked)
    {
      const Tally *t = ranked->pdata[chosen];
      s->best_score = tally_mean (t);
      s->best_evaluations = t->n;
      s->best_step = t->first_step;
      s->best_candidate = t->first_candidate;
    }
  g_autoptr (JsonObject) o = json_object_new ();
  json_object_set_string_member (o, "event", "final_choice");
  json_object_set_string_member (o, "formula", s->best_formula);
  json_object_set_int_member (o, "rank", chosen);
  json_object_set_int_member (o, "run", run);
  derl_metrics_set_double (o, "mean_score", mean);
  derl_metrics_set_double (o, "eval_success_rate", s->final.eval.success_rate);
  if (!derl_metrics_write (b->metrics, o, error))
    return FALSE;
  g_autofree char *best_path = path_in (b, "best-formula.txt");
  g_autofree char *best_text = g_strconcat (s->best_formula, "\n", NULL);
  if (!g_file_set_contents (best_path, best_text, -1, error))
    return FALSE;

  /* The baselines, through the same final stage, for the comparison. */
  for (guint i = 0; i < derl_experiment_get_n_baselines (e); i++)
    {
      DerlFormula *bf = (DerlFormula *) derl_experiment_get_baseline (e, i);
      guint bc, brun;
      double bmean;
      s->baseline_formulas[i] = derl_formula_to_string (bf);
      s->n_baselines = i + 1;
      if (!final_stage (b, &bf, 1, runs, NULL, 0, TRUE, NULL, &s->baselines[i], &bc, &brun, &bmean, error))
        return FALSE;
      g_autoptr (JsonObject) bo = json_object_new ();
      json_object_set_string_member (bo, "event", "baseline");
      json_object_set_string_member (bo, "formula", s->baseline_formulas[i]);
      json_object_set_int_member (bo, "run", brun);
      derl_metrics_set_double (bo, "mean_score", bmean);
      derl_metrics_set_double (bo, "eval_success_rate", s->baselines[i].eval.success_rate);
      for (guint k = 0; k < s->baselines[i].n_splits; k++)
        {
          g_autofree char *key = g_strdup_printf ("%s_success_rate", s->baselines[i].splits[k]);
          derl_metrics_set_double (bo, key, s->baselines[i].split_eval[k].success_rate);
        }
      if (!derl_metrics_write (b->metrics, bo, error))
        return FALSE;
    }
  b->inner_seconds += (g_get_monotonic_time () - t0) / 1e6;
  return TRUE;
}

static Mode
mode_of (const DerlExperiment *e)
{
  const char *m = derl_params_get_string (derl_experiment_get_params (e, "experiment"), "mode");
  for (guint i = 0; i < G_N_ELEMENTS (mode_names); i++)
    if (strcmp (m, mode_names[i]) == 0)
      return (Mode) i;
  return MODE_FIXED;
}

gboolean
derl_bilevel_run (const DerlExperiment *experiment, const char *dir, gboolean resume, guint threads,
                  const gint *cancel, void (*progress) (const DerlBilevelProgress *p, gpointer user_data),
                  gpointer user_data, DerlBilevelSummary *summary, GError **error)
{
  const DerlParams *mp = derl_experiment_get_params (experiment, "meta");
  Bilevel b = { 0 };
  gboolean ok = FALSE;

  g_return_val_if_fail (experiment != NULL && dir != NULL && summary != NULL, FALSE);
  *summary = (DerlBilevelSummary) { 0 };
  b.experiment = experiment;
  b.dir = dir;
  b.mode = mode_of (experiment);
  b.seed = (guint64) derl_params_get_int (derl_experiment_get_params (experiment, "experiment"), "seed");
  b.outer_steps = b.mode == MODE_FIXED ? 0 : (guint) derl_params_get_int (mp, "outer_steps");
  b.group_size = b.mode == MODE_FIXED ? 1 : (guint) derl_params_get_int (mp, "group_size");
  b.threads = MAX (threads, 1);
  b.cancel = cancel;
  b.progress = progress;
  b.user_data = user_data;
  b.start = g_get_monotonic_time ();
  b.tally = g_ptr_array_new_with_free_func (tally_free);
  b.tally_index = g_hash_table_new (g_str_hash, g_str_equal);
  {
    guint nf = b.mode == MODE_FIXED ? 1 : (guint) derl_params_get_int (mp, "final_candidates");
    guint runs = (guint) derl_params_get_int (mp, "final_runs");
    guint w = b.threads, nb = derl_experiment_get_n_baselines (experiment);
    /* in trainings one after another, as an outer step takes them */
    b.final_units = (double) ((nf * runs + w - 1) / w + nb * ((runs + w - 1) / w))
                    / ((b.group_size + w - 1) / w);
  }

  g_autofree char *mpath = path_in (&b, "metrics.jsonl");
  g_autofree char *fpath = path_in (&b, "formulas.jsonl");
  g_autoptr (GString) mkept = g_string_new (NULL);
  g_autoptr (GString) fkept = g_string_new (NULL);
  /* On resume, everything the run directory holds is checked before
   * anything in it changes: a damaged one is refused as it is. */
  if (resume && (!load_state (&b, error) || !read_log (&b, "metrics.jsonl", FALSE, mkept, error)
                 || !read_log (&b, "formulas.jsonl", TRUE, fkept, error)))
    goto out;
  summary->resumed_from = b.done;
  b.done_at_start = b.done;
  if (resume)
    {
      remove_leftovers (&b);
      if (!commit_checkpoint (&b, "meta.ckpt", b.meta_sha256, TRUE, error)
          || !commit_checkpoint (&b, "pop.ckpt", b.pop_sha256, TRUE, error))
        goto out;
    }

  if (b.mode != MODE_FIXED)
    {
      const DerlFeature *bf = derl_experiment_get_feature (experiment, DERL_FEATURE_BACKEND);
      b.backend = derl_backend_new (bf, derl_experiment_get_params (experiment, "backend"), error);
      if (!b.backend || !meta_init (&b, error))
        goto out;
    }
  if (resume && b.mode == MODE_DERL_POP && b.done > 0)
    {
      gsize n_pop;
      g_autofree double *pop = load_population (&b, "the resumed run", &n_pop, error);
      if (!pop)
        goto out;
    }
  if (resume ? !(b.metrics = rewrite_log (&b, "metrics.jsonl", mkept, error))
                 || !(b.formulas = rewrite_log (&b, "formulas.jsonl", fkept, error))
             : !(b.metrics = derl_metrics_open (mpath, error)) || !(b.formulas = derl_metrics_open (fpath, error)))
    goto out;
  if (b.cold_start && !derl_metrics_write (b.metrics, b.cold_start, error))
    goto out;
  for (guint step = b.done; step < b.outer_steps; step++)
    {
      if (cancel && g_atomic_int_get (cancel))
        {
          g_set_error (error, DERL_RUN_ERROR, DERL_RUN_ERROR_CANCELLED, "stopped after %u outer steps", b.done);
          goto out;
        }
      report (&b, step, 0, b.group_size);
      if (!outer_step (&b, step, error))
        goto out;
    }

  if (!final_policy (&b, summary, error))
    goto out;
  summary->outer_steps = b.done;
  summary->inner_seconds = b.inner_seconds;
  summary->outer_seconds = b.outer_seconds;
  summary->seconds = (g_get_monotonic_time () - b.start) / 1e6;
  if (!write_results (&b, summary, error))
    goto out;
  ok = TRUE;

out:
  if (b.metrics && !derl_metrics_close (b.metrics, ok ? error : NULL))
    ok = FALSE;
  if (b.formulas && !derl_metrics_close (b.formulas, ok ? error : NULL))
    ok = FALSE;
  _derl_meta_free (b.meta);
  derl_backend_free (b.backend);
  g_clear_pointer (&b.cold_start, json_object_unref);
  g_free (b.meta_sha256);
  g_free (b.pop_sha256);
  g_clear_pointer (&b.tally_index, g_hash_table_unref);
  g_clear_pointer (&b.tally, g_ptr_array_unref);
  return ok;
}
