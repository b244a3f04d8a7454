/* Tests of the bilevel loop (core/bilevel.c, core/meta.c): the same numbers
 * on 1 and 2 worker threads, a run stopped and resumed ends as an
 * uninterrupted one, the modes' outputs, derl-pop's final stage going on
 * from its population's policy, the Meta-Optimizer's samples are
 * valid formulas, and bad experiments and cold-start files are refused. */
#include "config.h"

#include <math.h>
#include <string.h>
#include <glib/gstdio.h>
#include <check.h>
#include <json-glib/json-glib.h>
#include <derl/derl.h>
#include "test-util.h"

static DerlRegistry *registry;
static char *tmpdir;

static void
setup (void)
{
  registry = derl_test_registry_rewards ();
  tmpdir = g_dir_make_tmp ("derl-bilevel-XXXXXX", NULL);
}

/* Removes @dir and everything under it (one level of subdirectories). */
static void
remove_tree (const char *dir)
{
  GDir *d = g_dir_open (dir, 0, NULL);
  const char *name;
  while (d && (name = g_dir_read_name (d)))
    {
      char *path = g_build_filename (dir, name, NULL);
      if (g_file_test (path, G_FILE_TEST_IS_DIR))
        remove_tree (path);
      else
        g_unlink (path);
      g_free (path);
    }
  if (d)
    g_dir_close (d);
  g_rmdir (dir);
}

static void
teardown (void)
{
  remove_tree (tmpdir);
  g_free (tmpdir);
  derl_registry_free (registry);
}

#define SMALL(mode) "[experiment]\nmode = " mode "\nseed = 5\n" \
  "[meta]\nouter_steps = 3\ngroup_size = 3\nfinal_candidates = 2\nfinal_runs = 2\ncold_start = " DERL_TEST_SOURCE_DIR "/data/formulas/cold-start.txt\n" \
  "[train]\ntotal_steps = 3000\neval_episodes = 20\n[evaluate]\nsplits = test_seen\nepisodes = 20\n" \
  "[primitives]\ng1 = success\ng2 = early\ng3 = late\n[env]\nname = household\n" \
  "[optimizer]\nname = grpo\nn_groups = 2\ngroup_size = 4\nlearning_rate = 0.01\n"

/* Loads an experiment that must be valid; under `make check-valgrind`
 * (DERL_TEST_SHORT set) with a tiny inner budget: the mechanics, not the
 * learning, are under test here. */
static DerlExperiment *
load (const char *text)
{
  static const char *const short_run[] = { "train.total_steps=400", "train.eval_episodes=4", "evaluate.episodes=4",
                                           NULL };
  return derl_test_experiment_short (registry, text, short_run);
}

static char *
run_dir (const char *name)
{
  char *dir = g_build_filename (tmpdir, name, NULL);
  g_mkdir_with_parents (dir, 0755);
  return dir;
}

static char *
read_file (const char *dir, const char *name)
{
  char *path = g_build_filename (dir, name, NULL);
  char *text = NULL;
  ck_assert_msg (g_file_get_contents (path, &text, NULL, NULL), "cannot read %s", path);
  g_free (path);
  return text;
}

/* A log without its timing members. */
static char *
read_log (const char *dir, const char *name)
{
  char *text = read_file (dir, name);
  GRegex *re = g_regex_new (",\"(wall_seconds|steps_per_second|inner_seconds|generate_seconds|update_seconds"
                            "|file)\":(\"[^\"]*\"|[-0-9.e+]+)", 0, 0, NULL);
  char *stripped = g_regex_replace_literal (re, text, -1, 0, "", 0, NULL);
  g_regex_unref (re);
  g_free (text);
  return stripped;
}

static gboolean
files_equal (const char *a, const char *b, const char *name)
{
  gsize na, nb;
  char *pa = g_build_filename (a, name, NULL), *pb = g_build_filename (b, name, NULL);
  char *ta = NULL, *tb = NULL;
  gboolean same = g_file_get_contents (pa, &ta, &na, NULL) && g_file_get_contents (pb, &tb, &nb, NULL) && na == nb
                  && memcmp (ta, tb, na) == 0;
  g_free (pa);
  g_free (pb);
  g_free (ta);
  g_free (tb);
  return same;
}

static void
run (DerlExperiment *e, const char *dir, gboolean resume, guint threads, const gint *cancel,
     DerlBilevelSummary *s)
{
  GError *error = NULL;
  gboolean ok = derl_bilevel_run (e, dir, resume, threads, cancel, NULL, NULL, s, &error);
  ck_assert_msg (ok, "%s", error ? error->message : "");
}

/* The lines of a JSON-lines log, parsed. */
static GPtrArray *
read_events (const char *dir, const char *name)
{
  char *text = read_file (dir, name);
  gchar **lines = g_strsplit (text, "\n", -1);
  GPtrArray *events = g_ptr_array_new_with_free_func ((GDestroyNotify) json_node_unref);
  for (guint i = 0; lines[i]; i++)
    if (*lines[i])
      {
        JsonNode *node = json_from_string (lines[i], NULL);
        ck_assert_msg (node && JSON_NODE_HOLDS_OBJECT (node), "%s: line %u is not a JSON object", name, i + 1);
        g_ptr_array_add (events, node);
      }
  g_strfreev (lines);
  g_free (text);
  return events;
}

typedef struct {
  const char *formula;
  double sum;
  guint n, first;
} Tally;

static gint
tally_rank (gconstpointer a, gconstpointer b)
{
  const Tally *x = *(Tally *const *) a, *y = *(Tally *const *) b;
  double mx = x->sum / x->n, my = y->sum / y->n;
  if (mx != my)
    return mx > my ? -1 : 1;
  if (x->n != y->n)
    return x->n > y->n ? -1 : 1;
  return x->first < y->first ? -1 : x->first > y->first;
}

/* The final stage as formulas.jsonl and metrics.jsonl record it agrees with
 * the summary: the search's formulas ranked by mean score (then
 * evaluations, then first appearance), the first final_candidates of them
 * trained final_runs times each, the found formula the best mean of those,
 * the final policy its best run trained again (the same validation score). */
static void
check_final_stage (const char *dir, const DerlBilevelSummary *s, guint final_candidates, guint final_runs)
{
  GPtrArray *formulas = read_events (dir, "formulas.jsonl"), *metrics = read_events (dir, "metrics.jsonl");
  GHashTable *by_text = g_hash_table_new_full (g_str_hash, g_str_equal, NULL, g_free);
  GPtrArray *ranking = g_ptr_array_new ();
  for (guint i = 0; i < formulas->len; i++)
    {
      JsonObject *o = json_node_get_object (formulas->pdata[i]);
      const char *text = json_object_get_string_member (o, "formula");
      Tally *t = g_hash_table_lookup (by_text, text);
      if (!t)
        {
          t = g_new0 (Tally, 1);
          t->formula = text;
          t->first = i;
          g_hash_table_insert (by_text, (gpointer) text, t);
          g_ptr_array_add (ranking, t);
        }
      t->sum += json_object_get_double_member (o, "score");
      t->n++;
    }
  g_ptr_array_sort (ranking, tally_rank);
  ck_assert_uint_eq (s->final_candidates, MIN (final_candidates, ranking->len));
  ck_assert_uint_eq (s->final_runs, final_runs);
  const Tally *found = ranking->pdata[s->best_rank];
  ck_assert_str_eq (found->formula, s->best_formula);
  ck_assert_uint_eq (found->n, s->best_evaluations);
  ck_assert_double_eq_tol (found->sum / found->n, s->best_score, 1e-12);

  guint n_candidates = 0, choices = 0;
  double best_mean = -1;
  for (guint i = 0; i < metrics->len; i++)
    {
      JsonObject *o = json_node_get_object (metrics->pdata[i]);
      const char *event = json_object_get_string_member (o, "event");
      if (strcmp (event, "final_candidate") == 0)
        {
          guint rank = (guint) json_object_get_int_member (o, "rank");
          JsonArray *scores = json_object_get_array_member (o, "scores");
          double mean = json_object_get_double_member (o, "mean_score");
          ck_assert_uint_eq (rank, n_candidates++);
          ck_assert_str_eq (json_object_get_string_member (o, "formula"),
                            ((Tally *) ranking->pdata[rank])->formula);
          ck_assert_uint_eq (json_array_get_length (scores), final_runs);
          if (rank == s->best_rank)
            {
              ck_assert_double_eq_tol (mean, s->final_score, 1e-12);
              for (guint r = 0; r < final_runs; r++)
                ck_assert (json_array_get_double_element (scores, r)
                           <= json_array_get_double_element (scores, s->final_run));
              /* the final policy is that run again */
              ck_assert_double_eq (json_array_get_double_element (scores, s->final_run),
                                   s->final.eval.success_rate);
            }
          if (rank < s->best_rank)
            ck_assert (mean < s->final_score);
          best_mean = MAX (best_mean, mean);
        }
      else if (strcmp (event, "final_choice") == 0)
        {
          choices++;
          ck_assert_str_eq (json_object_get_string_member (o, "formula"), s->best_formula);
        }
    }
  ck_assert_uint_eq (n_candidates, s->final_candidates);
  ck_assert_uint_eq (choices, 1);
  ck_assert_double_eq (best_mean, s->final_score);
  g_ptr_array_unref (ranking);
  g_hash_table_unref (by_text);
  g_ptr_array_unref (formulas);
  g_ptr_array_unref (metrics);
}

/* The numbers do not depend on the number of worker threads. */
START_TEST (test_threads_same_numbers)
{
  DerlExperiment *e = load (SMALL ("derl"));
  char *a = run_dir ("t1"), *b = run_dir ("t2");
  DerlBilevelSummary sa, sb;
  run (e, a, FALSE, 1, NULL, &sa);
  run (e, b, FALSE, 2, NULL, &sb);
  char *fa = read_log (a, "formulas.jsonl"), *fb = read_log (b, "formulas.jsonl");
  char *ma = read_log (a, "metrics.jsonl"), *mb = read_log (b, "metrics.jsonl");
  ck_assert_str_eq (fa, fb);
  ck_assert_str_eq (ma, mb);
  ck_assert (files_equal (a, b, "meta.ckpt"));
  ck_assert_str_eq (sa.best_formula, sb.best_formula);
  ck_assert_double_eq (sa.final.split_eval[0].success_rate, sb.final.split_eval[0].success_rate);
  /* three outer steps of three candidates, every one a valid formula */
  ck_assert_uint_eq (sa.outer_steps, 3);
  gchar **lines = g_strsplit (fa, "\n", -1);
  ck_assert_uint_eq (g_strv_length (lines), 3 * 3 + 1);
  g_strfreev (lines);
  ck_assert (strstr (ma, "\"event\":\"cold_start\"") && strstr (ma, "\"event\":\"outer\"")
             && strstr (ma, "\"kl_ref\":"));
  check_final_stage (a, &sa, 2, 2);
  /* results.md reports the search step by step */
  char *results = read_file (a, "results.md");
  char *table = strstr (results, "| outer step | mean | best | distinct | best formula of the step |");
  ck_assert_msg (table, "%s", results);
  for (guint k = 1; k <= 3; k++)
    {
      char *row = g_strdup_printf ("\n| %u | ", k);
      ck_assert_msg (strstr (table, row), "no row for outer step %u in:\n%s", k, results);
      g_free (row);
    }
  ck_assert (!strstr (table, "\n| 4 | "));
  g_free (results);
  g_free (fa);
  g_free (fb);
  g_free (ma);
  g_free (mb);
  derl_bilevel_summary_clear (&sa);
  derl_bilevel_summary_clear (&sb);
  g_free (a);
  g_free (b);
  derl_experiment_free (e);
}
END_TEST

typedef struct {
  gint *cancel;
  guint at_step;
} Stopper;

static void
stop_at (const DerlBilevelProgress *p, gpointer user_data)
{
  Stopper *s = user_data;
  if (p->outer_step == s->at_step && p->candidates_done == 1)
    g_atomic_int_set (s->cancel, 1);
}

/* Stopped during an outer step, then resumed: the run ends as the
 * uninterrupted one, and nothing of the unfinished step stays behind. */
static void
check_resume_at (const char *mode, guint at_step)
{
  char *text = g_strdup_printf (SMALL ("%s"), mode);
  DerlExperiment *e = load (text);
  char *a = run_dir ("whole"), *b = run_dir ("stopped");
  DerlBilevelSummary sa, sb;
  GError *error = NULL;
  gint cancel = 0;
  Stopper stopper = { &cancel, at_step };

  run (e, a, FALSE, 2, NULL, &sa);
  ck_assert (!derl_bilevel_run (e, b, FALSE, 2, &cancel, stop_at, &stopper, &sb, &error));
  ck_assert_msg (g_error_matches (error, DERL_RUN_ERROR, DERL_RUN_ERROR_CANCELLED), "%s", error->message);
  g_clear_error (&error);
  derl_bilevel_summary_clear (&sb);
  char *state_path = g_build_filename (b, "state.json", NULL);
  if (at_step == 0)
    ck_assert (!g_file_test (state_path, G_FILE_TEST_EXISTS));
  else
    {
      char *state = read_file (b, "state.json");
      ck_assert_msg (strstr (state, "\"outer_steps_done\" : 1"), "%s", state);
      g_free (state);
    }
  g_free (state_path);
  run (e, b, TRUE, 1, NULL, &sb);
  ck_assert_uint_eq (sb.resumed_from, at_step);
  char *fa = read_log (a, "formulas.jsonl"), *fb = read_log (b, "formulas.jsonl");
  char *ma = read_log (a, "metrics.jsonl"), *mb = read_log (b, "metrics.jsonl");
  ck_assert_str_eq (fa, fb);
  ck_assert_str_eq (ma, mb);
  ck_assert_str_eq (sa.best_formula, sb.best_formula);
  ck_assert (files_equal (a, b, "best-formula.txt"));
  if (strcmp (mode, "random") != 0)
    ck_assert (files_equal (a, b, "meta.ckpt"));
  ck_assert_double_eq (sa.final.eval.success_rate, sb.final.eval.success_rate);
  ck_assert_double_eq (sa.final.split_eval[0].mean_return, sb.final.split_eval[0].mean_return);
  check_final_stage (b, &sb, 2, 2);
  g_free (fa);
  g_free (fb);
  g_free (ma);
  g_free (mb);
  derl_bilevel_summary_clear (&sa);
  derl_bilevel_summary_clear (&sb);
  g_free (a);
  g_free (b);
  g_free (text);
  derl_experiment_free (e);
}

static void
check_resume (const char *mode)
{
  check_resume_at (mode, 1);
}

START_TEST (test_resume_derl)
{
  check_resume ("derl");
}
END_TEST

/* Stopped before its first outer step was saved: resumed, it starts over. */
START_TEST (test_resume_before_first_step)
{
  check_resume_at ("derl", 0);
}
END_TEST

START_TEST (test_resume_derl_pop)
{
  check_resume ("derl-pop");
}
END_TEST

START_TEST (test_resume_random)
{
  check_resume ("random");
}
END_TEST

static void
copy_file (const char *from_dir, const char *from, const char *to_dir, const char *to)
{
  char *text = NULL;
  gsize n = 0;
  char *src = g_build_filename (from_dir, from, NULL), *dst = g_build_filename (to_dir, to, NULL);
  ck_assert_msg (g_file_get_contents (src, &text, &n, NULL), "cannot read %s", src);
  ck_assert (g_file_set_contents (dst, text, (gssize) n, NULL));
  g_free (text);
  g_free (src);
  g_free (dst);
}

/* Records in @dir/state.json the checksum of @dir/pop.ckpt as it is now:
 * a run directory whose population was replaced on purpose. */
static void
record_population (const char *dir)
{
  char *state = g_build_filename (dir, "state.json", NULL), *pop = g_build_filename (dir, "pop.ckpt", NULL);
  char *data = NULL;
  gsize n = 0;
  JsonParser *parser = json_parser_new ();
  ck_assert (json_parser_load_from_file (parser, state, NULL));
  ck_assert (g_file_get_contents (pop, &data, &n, NULL));
  char *sha = g_compute_checksum_for_data (G_CHECKSUM_SHA256, (const guchar *) data, n);
  json_object_set_string_member (json_node_get_object (json_parser_get_root (parser)), "pop_sha256", sha);
  JsonGenerator *gen = json_generator_new ();
  json_generator_set_root (gen, json_parser_get_root (parser));
  ck_assert (json_generator_to_file (gen, state, NULL));
  g_object_unref (gen);
  g_object_unref (parser);
  g_free (sha);
  g_free (data);
  g_free (state);
  g_free (pop);
}

/* Writes to @to_dir/@to the policy of @from_dir/@from with every
 * parameter moved by 0.05: another policy of the same shape. */
static void
write_other_policy (const char *from_dir, const char *from, const char *to_dir, const char *to)
{
  GError *error = NULL;
  char *src = g_build_filename (from_dir, from, NULL), *dst = g_build_filename (to_dir, to, NULL);
  DerlBackend *backend = derl_backend_new_cpu ();
  char *stored = NULL;
  DerlPolicy *policy = derl_policy_load (backend, src, 1, &stored, &error);
  ck_assert_msg (policy != NULL, "%s", error ? error->message : "");
  gsize n = derl_policy_n_parameters (policy);
  double *values = g_new (double, n);
  derl_policy_get_parameters (policy, values);
  for (gsize i = 0; i < n; i++)
    values[i] += i % 2 ? 0.05 : -0.05;
  derl_policy_set_parameters (policy, values);
  ck_assert_msg (derl_policy_save (policy, dst, stored, &error), "%s", error ? error->message : "");
  g_free (values);
  g_free (stored);
  derl_policy_free (policy);
  derl_backend_free (backend);
  g_free (src);
  g_free (dst);
}

/* metrics.jsonl from the final stage on (timings stripped). */
static char *
final_stage_log (const char *dir)
{
  char *log = read_log (dir, "metrics.jsonl");
  const char *at = strstr (log, "\"event\":\"final_candidate\"");
  ck_assert_msg (at, "no final_candidate event in %s", dir);
  char *tail = g_strdup (at);
  g_free (log);
  return tail;
}

/* derl-pop's final stage goes on from the population's policy: a run
 * resumed after its last outer step ends as the whole run did, and one
 * resumed with another policy in pop.ckpt trains its final runs from that
 * policy (and derl's, which trains afresh, does not look at it). */
START_TEST (test_derl_pop_final_continues)
{
  const char *modes[] = { "derl-pop", "derl" };
  const char *files[] = { "formulas.jsonl", "metrics.jsonl", "state.json", "meta.ckpt", "experiment.ini" };
  for (guint m = 0; m < G_N_ELEMENTS (modes); m++)
    {
      char *text = g_strdup_printf (SMALL ("%s"), modes[m]);
      DerlExperiment *e = load (text);
      char *name_a = g_strdup_printf ("%s-whole", modes[m]), *name_b = g_strdup_printf ("%s-same", modes[m]);
      char *name_c = g_strdup_printf ("%s-other", modes[m]);
      char *a = run_dir (name_a), *b = run_dir (name_b), *c = run_dir (name_c);
      DerlBilevelSummary sa, sb, sc;
      run (e, a, FALSE, 2, NULL, &sa);
      for (guint i = 0; i < G_N_ELEMENTS (files); i++)
        {
          char *path = g_build_filename (a, files[i], NULL);
          if (g_file_test (path, G_FILE_TEST_EXISTS))
            {
              copy_file (a, files[i], b, files[i]);
              copy_file (a, files[i], c, files[i]);
            }
          g_free (path);
        }
      if (m == 0)
        {
          /* the same population, and another policy of the same shape */
          copy_file (a, "pop.ckpt", b, "pop.ckpt");
          write_other_policy (a, "pop.ckpt", c, "pop.ckpt");
          record_population (c);
        }
      else
        {
          char *pop = g_build_filename (a, "pop.ckpt", NULL);
          ck_assert (!g_file_test (pop, G_FILE_TEST_EXISTS));
          g_free (pop);
          write_other_policy (a, "policy.ckpt", c, "pop.ckpt");
        }
      run (e, b, TRUE, 1, NULL, &sb);
      run (e, c, TRUE, 1, NULL, &sc);
      ck_assert_uint_eq (sb.resumed_from, 3);
      ck_assert_uint_eq (sc.resumed_from, 3);
      char *la = final_stage_log (a), *lb = final_stage_log (b), *lc = final_stage_log (c);
      ck_assert_str_eq (la, lb);
      ck_assert (files_equal (a, b, "policy.ckpt"));
      if (m == 0)
        ck_assert_msg (strcmp (la, lc) != 0 && !files_equal (a, c, "policy.ckpt"),
                       "derl-pop's final stage does not start from pop.ckpt");
      else
        ck_assert_str_eq (la, lc);
      check_final_stage (c, &sc, 2, 2);
      if (m == 0)
        {
          /* without its population, derl-pop's final stage cannot start */
          char *pop = g_build_filename (c, "pop.ckpt", NULL);
          DerlBilevelSummary sd;
          GError *error = NULL;
          g_unlink (pop);
          copy_file (a, "state.json", c, "state.json");
          ck_assert (!derl_bilevel_run (e, c, TRUE, 1, NULL, NULL, NULL, &sd, &error));
          ck_assert_msg (strstr (error->message, "cannot resume: ") && strstr (error->message, "pop.ckpt")
                         && error->code == DERL_RUN_ERROR_BAD_FILE, "%s", error->message);
          g_error_free (error);
          derl_bilevel_summary_clear (&sd);
          g_free (pop);
        }
      g_free (la);
      g_free (lb);
      g_free (lc);
      derl_bilevel_summary_clear (&sa);
      derl_bilevel_summary_clear (&sb);
      derl_bilevel_summary_clear (&sc);
      g_free (a);
      g_free (b);
      g_free (c);
      g_free (name_a);
      g_free (name_b);
      g_free (name_c);
      g_free (text);
      derl_experiment_free (e);
    }
}
END_TEST

/* mode fixed trains the given formula through the final stage: final_runs
 * fresh runs, the final policy the one with the best validation score
 * (the first of the best), trained again; results.md and summary agree. */
START_TEST (test_fixed)
{
  GString *text = g_string_new (SMALL ("fixed") "[reward]\nformula = success + late / 2\n");
  /* a budget and seed where the four runs' scores differ, the best not first */
  g_string_replace (text, "final_runs = 2\n", "final_runs = 4\n", 1);
  g_string_replace (text, "seed = 5\n", "seed = 4\n", 1);
  g_string_replace (text, "total_steps = 3000\neval_episodes = 20\n", "total_steps = 20000\neval_episodes = 40\n", 1);
  g_string_replace (text, "learning_rate = 0.01\n", "learning_rate = 0.03\n", 1);
  DerlExperiment *e = load (text->str);
  g_string_free (text, TRUE);
  char *dir = run_dir ("fixed");
  DerlBilevelSummary s;
  run (e, dir, FALSE, 2, NULL, &s);
  ck_assert_str_eq (s.best_formula, "g1 + g3 / 2");
  ck_assert_uint_eq (s.outer_steps, 0);
  ck_assert (isnan (s.best_score));
  ck_assert_uint_eq (s.final_candidates, 1);
  ck_assert_uint_eq (s.final_runs, 4);
  GPtrArray *metrics = read_events (dir, "metrics.jsonl");
  guint seen = 0;
  for (guint i = 0; i < metrics->len; i++)
    {
      JsonObject *o = json_node_get_object (metrics->pdata[i]);
      if (strcmp (json_object_get_string_member (o, "event"), "final_candidate") != 0)
        continue;
      JsonArray *scores = json_object_get_array_member (o, "scores");
      double sum = 0, max = -1, min = 2;
      guint argmax = 0;
      for (guint r = 0; r < 4; r++)
        {
          double v = json_array_get_double_element (scores, r);
          sum += v;
          min = MIN (min, v);
          if (v > max)
            {
              max = v;
              argmax = r;
            }
        }
      if (!g_getenv ("DERL_TEST_SHORT"))
        ck_assert_msg (max > min && argmax > 0, "the runs do not tell the choice apart");
      ck_assert_double_eq_tol (s.final_score, sum / 4, 1e-12);
      ck_assert_uint_eq (s.final_run, argmax);
      /* trained again with its seed, the chosen run is the same policy */
      ck_assert_double_eq (s.final.eval.success_rate, max);
      seen++;
    }
  ck_assert_uint_eq (seen, 1);
  g_ptr_array_unref (metrics);
  char *results = read_file (dir, "results.md");
  ck_assert_msg (strstr (results, "Formula: `g1 + g3 / 2`") && strstr (results, "| test_seen | "), "%s", results);
  g_free (results);
  derl_bilevel_summary_clear (&s);
  g_free (dir);
  derl_experiment_free (e);
}
END_TEST

static void
assert_refused_set (const char *text, const char *set, const char *expected)
{
  GError *error = NULL;
  const char *overrides[] = { set, NULL };
  DerlExperiment *e = derl_experiment_load_data (registry, text, strlen (text), "t.ini", set ? overrides : NULL,
                                                 &error);
  ck_assert_msg (e == NULL, "accepted:\n%s", text);
  ck_assert_msg (strstr (error->message, expected), "expected '%s' in:\n%s", expected, error->message);
  g_error_free (error);
}

static void
assert_refused (const char *text, const char *expected)
{
  assert_refused_set (text, NULL, expected);
}

START_TEST (test_bad_experiments)
{
  assert_refused ("[experiment]\nmode = derl\n[env]\nname = household\n[optimizer]\nname = grpo\n",
                  "t.ini: [primitives]: mode = derl searches formulas over primitives; bind at least g1");
  assert_refused (SMALL ("derl") "[reward]\nformula = g1\n",
                  "t.ini: [reward] formula = g1: mode = derl searches for the formula (use mode = fixed");
  assert_refused (SMALL ("fixed"), "t.ini: [reward] formula: missing (mode = fixed trains the formula it gives)");
  assert_refused_set (SMALL ("derl"), "meta.max_tokens=39", "[meta] max_tokens = 39: 39 is out of range");
  assert_refused_set (SMALL ("derl"), "meta.hidden=64,x", "[meta] hidden: 'x' is not a layer width");
  assert_refused_set (SMALL ("derl"), "meta.temperature=0", "[meta] temperature = 0");
  assert_refused_set (SMALL ("train"), "meta.outer_stepz=3", "[meta] outer_stepz: unknown key; did you mean");
}
END_TEST

/* A cold-start file that is missing or not in the grammar's tokens stops
 * the run with a message naming the file and the line. */
START_TEST (test_bad_cold_start)
{
  const char *cases[][2] = {
    { "g1 + 0.5 * g2\ng1 + 0.3 * g2\n", "cold.txt:2: '0.3 * g2' at column 6 is not a token of the formula grammar" },
    { "g1 +\n", "cold.txt:1: token 3 ('END'): " },
    { "g1 / (g2 - g2)\n", "cold.txt:1: token 7 (')'): " },
    { "# only comments\n\n", "no cold-start formula over g1..g3" },
  };
  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      char *path = g_build_filename (tmpdir, "cold.txt", NULL);
      g_unlink (path);
      if (cases[i][0])
        g_file_set_contents (path, cases[i][0], -1, NULL);
      char *text = g_strdup_printf ("[experiment]\nmode = derl\n[meta]\nouter_steps = 1\ngroup_size = 2\n"
                                    "cold_start = %s\n[train]\ntotal_steps = 100\n[primitives]\ng1 = success\n"
                                    "g2 = early\ng3 = late\n[env]\nname = household\n[optimizer]\nname = grpo\n",
                                    path);
      DerlExperiment *e = derl_test_experiment (registry, text);
      char *name = g_strdup_printf ("cold%u", i);
      char *dir = run_dir (name);
      DerlBilevelSummary s;
      GError *error = NULL;
      ck_assert (!derl_bilevel_run (e, dir, FALSE, 1, NULL, NULL, NULL, &s, &error));
      ck_assert_msg (strstr (error->message, cases[i][1]), "case %u: expected '%s' in: %s", i, cases[i][1],
                     error->message);
      g_error_free (error);
      derl_bilevel_summary_clear (&s);
      derl_experiment_free (e);
      g_free (dir);
      g_free (name);
      g_free (text);
      g_free (path);
    }
  /* A file that is missing, a directory or too large is refused with the
   * experiment, before any run directory: exit 2 and nothing to clean. */
  char *missing = g_build_filename (tmpdir, "none.txt", NULL), *big = g_build_filename (tmpdir, "big.txt", NULL);
  char *huge = g_strnfill (DERL_EXPERIMENT_MAX_SIZE + 1, '#');
  ck_assert (g_file_set_contents (big, huge, -1, NULL));
  const char *refused[][2] = { { missing, "none.txt: cannot read the file of cold-start formulas" },
                               { tmpdir, "is a directory, not a file of cold-start formulas" },
                               { big, "big.txt: too large for a file of cold-start formulas" } };
  for (guint i = 0; i < G_N_ELEMENTS (refused); i++)
    {
      char *text = g_strdup_printf ("[experiment]\nmode = derl\n[meta]\ncold_start = %s\n[primitives]\n"
                                    "g1 = success\n[env]\nname = household\n[optimizer]\nname = grpo\n", refused[i][0]);
      GError *error = NULL;
      ck_assert (!derl_experiment_load_data (registry, text, strlen (text), "t.ini", NULL, &error));
      ck_assert_msg (strstr (error->message, "t.ini: [meta] cold_start: ") && strstr (error->message, refused[i][1]),
                     "expected '%s' in: %s", refused[i][1], error->message);
      g_error_free (error);
      g_free (text);
    }
  g_free (missing);
  g_free (big);
  g_free (huge);
}
END_TEST

/* --resume refuses a run directory whose logs do not hold the outer steps
 * state.json says are done, before anything in it changes. */
START_TEST (test_resume_damaged)
{
  DerlExperiment *e = load ("[experiment]\nmode = derl\nseed = 4\n[meta]\nouter_steps = 2\ngroup_size = 2\n"
                            "final_candidates = 1\nfinal_runs = 1\n[train]\ntotal_steps = 200\neval_episodes = 4\n"
                            "[primitives]\ng1 = success\ng2 = early\n[env]\nname = household\n"
                            "[optimizer]\nname = grpo\nn_groups = 2\ngroup_size = 2\n");
  char *whole = run_dir ("whole");
  DerlBilevelSummary s;
  run (e, whole, FALSE, 1, NULL, &s);
  derl_bilevel_summary_clear (&s);
  const char *files[] = { "formulas.jsonl", "metrics.jsonl", "state.json", "meta.ckpt" };
  /* formulas.jsonl: missing, empty, its last record dropped, one repeated */
  const char *cases[][2] = { { NULL, "formulas.jsonl: cannot resume: 0 formula records of the 2 completed outer "
                                     "steps, 4 expected" },
                             { "", "formulas.jsonl: cannot resume: 0 formula records" },
                             { "-1", "formulas.jsonl: cannot resume: 3 formula records" },
                             { "+1", "formulas.jsonl: cannot resume: line 5 repeats outer step 2" } };
  char *text = NULL;
  gsize n = 0;
  char *fpath = g_build_filename (whole, "formulas.jsonl", NULL);
  ck_assert (g_file_get_contents (fpath, &text, &n, NULL));
  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      char *name = g_strdup_printf ("damaged%u", i);
      char *dir = run_dir (name);
      for (guint k = 0; k < G_N_ELEMENTS (files); k++)
        copy_file (whole, files[k], dir, files[k]);
      char *path = g_build_filename (dir, "formulas.jsonl", NULL);
      char *last = g_strrstr_len (text, (gssize) n - 1, "\n") + 1;
      if (!cases[i][0])
        g_unlink (path);
      else if (strcmp (cases[i][0], "-1") == 0)
        ck_assert (g_file_set_contents (path, text, last - text, NULL));
      else if (strcmp (cases[i][0], "+1") == 0)
        {
          char *more = g_strconcat (text, last, NULL);
          ck_assert (g_file_set_contents (path, more, -1, NULL));
          g_free (more);
        }
      else
        ck_assert (g_file_set_contents (path, cases[i][0], -1, NULL));
      char *before = NULL, *after = NULL;
      g_file_get_contents (path, &before, NULL, NULL);
      GError *error = NULL;
      ck_assert (!derl_bilevel_run (e, dir, TRUE, 1, NULL, NULL, NULL, &s, &error));
      ck_assert_msg (error->code == DERL_RUN_ERROR_BAD_FILE && strstr (error->message, cases[i][1]),
                     "case %u: expected '%s' in: %s", i, cases[i][1], error->message);
      g_file_get_contents (path, &after, NULL, NULL);
      ck_assert_str_eq (before ? before : "(none)", after ? after : "(none)");
      ck_assert (files_equal (whole, dir, "metrics.jsonl"));
      g_error_free (error);
      derl_bilevel_summary_clear (&s);
      g_free (before);
      g_free (after);
      g_free (path);
      g_free (dir);
      g_free (name);
    }
  g_free (fpath);
  g_free (text);
  g_free (whole);
  derl_experiment_free (e);
}
END_TEST

static TCase *
bilevel_case (Suite *s, const char *name)
{
  TCase *tc = tcase_create (name);
  tcase_add_checked_fixture (tc, setup, teardown);
  tcase_set_timeout (tc, 300);
  suite_add_tcase (s, tc);
  return tc;
}

/* Cases by concern, so that one can run alone (CK_RUN_CASE=final, say). */
static Suite *
bilevel_suite (void)
{
  Suite *s = suite_create ("bilevel");
  TCase *tc = bilevel_case (s, "threads");
  tcase_add_test (tc, test_threads_same_numbers);
  tc = bilevel_case (s, "resume");
  tcase_add_test (tc, test_resume_derl);
  tcase_add_test (tc, test_resume_derl_pop);
  tcase_add_test (tc, test_resume_before_first_step);
  tcase_add_test (tc, test_resume_random);
  tc = bilevel_case (s, "final");
  tcase_add_test (tc, test_derl_pop_final_continues);
  tcase_add_test (tc, test_fixed);
  tc = bilevel_case (s, "refused");
  tcase_add_test (tc, test_bad_experiments);
  tcase_add_test (tc, test_bad_cold_start);
  tcase_add_test (tc, test_resume_damaged);
  return s;
}

DERL_TEST_MAIN (bilevel_suite)
