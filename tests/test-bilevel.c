/* Tests of the bilevel loop (core/bilevel.c, core/meta.c): the same numbers
 * on 1 and 2 worker threads, a run stopped and resumed ends as an
 * uninterrupted one, the modes' outputs, the Meta-Optimizer's samples are
 * valid formulas, and bad experiments and cold-start files are refused. */
#include "config.h"

#include <math.h>
#include <string.h>
#include <glib/gstdio.h>
#include <check.h>
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
  "[meta]\nouter_steps = 3\ngroup_size = 3\ncold_start = " DERL_TEST_SOURCE_DIR "/data/formulas/cold-start.txt\n" \
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

/* mode fixed trains the given formula; results.md and summary agree. */
START_TEST (test_fixed)
{
  DerlExperiment *e = load (SMALL ("fixed") "[reward]\nformula = success + late / 2\n");
  char *dir = run_dir ("fixed");
  DerlBilevelSummary s;
  run (e, dir, FALSE, 1, NULL, &s);
  ck_assert_str_eq (s.best_formula, "g1 + g3 / 2");
  ck_assert_uint_eq (s.outer_steps, 0);
  ck_assert (isnan (s.best_score));
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
    { NULL, "cold-start formulas: " },
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
}
END_TEST

static Suite *
bilevel_suite (void)
{
  Suite *s = suite_create ("bilevel");
  TCase *tc = tcase_create ("bilevel");
  tcase_add_checked_fixture (tc, setup, teardown);
  tcase_set_timeout (tc, 300);
  tcase_add_test (tc, test_threads_same_numbers);
  tcase_add_test (tc, test_resume_derl);
  tcase_add_test (tc, test_resume_derl_pop);
  tcase_add_test (tc, test_resume_before_first_step);
  tcase_add_test (tc, test_resume_random);
  tcase_add_test (tc, test_fixed);
  tcase_add_test (tc, test_bad_experiments);
  tcase_add_test (tc, test_bad_cold_start);
  suite_add_tcase (s, tc);
  return s;
}

DERL_TEST_MAIN (bilevel_suite)
