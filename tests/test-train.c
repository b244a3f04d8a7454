/* Tests of `mode = train` (core/train.c) with the PPO and GRPO plugins:
 * learning CartPole to a stated score, determinism, checkpoints that
 * evaluate as trained, and train-mode validation. */
#include "config.h"

#include <math.h>
#include <string.h>
#include <glib/gstdio.h>
#include <check.h>
#include <derl/derl.h>
#include "test-util.h"

static DerlRegistry *registry;
static char *tmpdir;

/* Under `make check-valgrind` (DERL_TEST_SHORT set) the learning tests run
 * a short budget and check the mechanics, not the score: a full PPO run
 * under memcheck takes many minutes. */
static gboolean
short_run (void)
{
  return g_getenv ("DERL_TEST_SHORT") != NULL;
}

static void
setup (void)
{
  registry = derl_test_registry ();
  derl_registry_add_path (registry, DERL_TEST_PLUGIN_DIR "/optimizers/ppo");
  derl_registry_add_path (registry, DERL_TEST_PLUGIN_DIR "/optimizers/grpo");
  derl_registry_scan (registry);
  tmpdir = g_dir_make_tmp ("derl-train-XXXXXX", NULL);
}

static void
teardown (void)
{
  derl_test_remove_dir (tmpdir);
  derl_registry_free (registry);
}

static DerlExperiment *
experiment (const char *text)
{
  return derl_test_experiment (registry, text);
}

/* Trains; returns the metrics log's text without its timing members. */
static char *
train (DerlExperiment *e, const char *name, DerlTrainSummary *s)
{
  GError *error = NULL;
  char *path = g_build_filename (tmpdir, name, NULL);
  char *ckpt = g_strconcat (path, ".ckpt", NULL);
  DerlMetrics *m = derl_metrics_open (path, &error);
  char *text = NULL;

  ck_assert_ptr_nonnull (m);
  ck_assert_msg (derl_train_run (e, m, NULL, NULL, ckpt, s, &error), "%s", error ? error->message : "");
  ck_assert (derl_metrics_close (m, &error));
  ck_assert (g_file_get_contents (path, &text, NULL, NULL));
  GRegex *timing = g_regex_new (",\"(wall_seconds|steps_per_second)\":[-0-9.e+]+", 0, 0, NULL);
  char *stripped = g_regex_replace_literal (timing, text, -1, 0, "", 0, NULL);
  g_regex_unref (timing);
  g_free (text);
  g_free (ckpt);
  g_free (path);
  return stripped;
}

#define PPO "[experiment]\nmode = train\nseed = 1\n[env]\nname = cartpole\n[optimizer]\nname = ppo\n" \
            "[train]\neval_episodes = 50\n"

/* PPO with CleanRL's defaults solves CartPole within the 500k steps of
 * CleanRL's setting: the mean of 20 training returns reaches 475 (the
 * PyTorch reference: at 122k-194k steps) and the greedy policy balances
 * the pole for the full 500 steps. */
START_TEST (test_ppo_learns_cartpole)
{
  guint64 budget = short_run () ? 4096 : 500000;
  char *text = g_strdup_printf ("%s[train]\ntotal_steps = %" G_GUINT64_FORMAT "\n", PPO, budget);
  DerlExperiment *e = experiment (text);
  DerlTrainSummary s;
  char *log = train (e, "ppo.jsonl", &s);
  if (!short_run ())
    {
      ck_assert_msg (s.eval.mean_return >= 475.0, "greedy return %f after %" G_GUINT64_FORMAT " steps",
                     s.eval.mean_return, s.steps);
      ck_assert (s.first_step_target > 0 && s.first_step_target <= 500000);
    }
  ck_assert_uint_eq (s.updates, (budget + 511) / 512);
  ck_assert_uint_eq (s.steps, s.updates * 512);
  ck_assert (strstr (log, "\"event\":\"update\",\"update\":1,\"step\":512,"));
  ck_assert (strstr (log, "\"policy_loss\":") && strstr (log, "\"approx_kl\":") && strstr (log, "\"explained_variance\":"));
  ck_assert (strstr (log, "\"event\":\"eval\""));
  g_free (log);
  g_free (text);
  derl_experiment_free (e);
}
END_TEST

/* GRPO: groups of 8 episodes from a shared start state, 8 groups per update. */
START_TEST (test_grpo_learns_cartpole)
{
  char *text = g_strdup_printf ("[experiment]\nmode = train\nseed = 1\n[train]\ntotal_steps = %d\n"
                                "eval_episodes = 50\n[env]\nname = cartpole\n[optimizer]\nname = grpo\n",
                                short_run () ? 2000 : 300000);
  DerlExperiment *e = experiment (text);
  DerlTrainSummary s;
  char *log = train (e, "grpo.jsonl", &s);
  g_free (text);
  if (!short_run ())
    {
      ck_assert_msg (s.eval.mean_return >= 475.0, "greedy return %f", s.eval.mean_return);
      ck_assert (s.first_step_target > 0 && s.first_step_target <= 300000);
    }
  ck_assert_uint_eq (s.episodes, s.updates * 64);
  ck_assert (strstr (log, "\"kl_ref\":") && strstr (log, "\"group_mean_return\":"));
  g_free (log);
  derl_experiment_free (e);
}
END_TEST

START_TEST (test_same_seed_same_numbers)
{
  char *text = g_strdup_printf ("[experiment]\nmode = train\nseed = 4\n[train]\ntotal_steps = %d\n"
                                "eval_interval = 5000\neval_episodes = 10\n[env]\nname = cartpole\n",
                                short_run () ? 6000 : 20000);
  DerlExperiment *a = experiment (text), *b = experiment (text);
  g_free (text);
  DerlTrainSummary sa, sb;
  char *la = train (a, "a.jsonl", &sa), *lb = train (b, "b.jsonl", &sb);
  ck_assert_str_eq (la, lb);
  ck_assert_double_eq (sa.eval.mean_return, sb.eval.mean_return);
  /* the checkpoints are byte for byte the same */
  char *ca = NULL, *cb = NULL;
  gsize na, nb;
  char *pa = g_build_filename (tmpdir, "a.jsonl.ckpt", NULL), *pb = g_build_filename (tmpdir, "b.jsonl.ckpt", NULL);
  ck_assert (g_file_get_contents (pa, &ca, &na, NULL) && g_file_get_contents (pb, &cb, &nb, NULL));
  ck_assert (na == nb && memcmp (ca, cb, na) == 0);
  /* another seed, other numbers */
  DerlExperiment *c = experiment ("[experiment]\nmode = train\nseed = 5\n[train]\ntotal_steps = 6000\n"
                                  "eval_interval = 5000\neval_episodes = 10\n[env]\nname = cartpole\n");
  DerlTrainSummary sc;
  char *lc = train (c, "c.jsonl", &sc);
  ck_assert_str_ne (la, lc);
  ck_assert_int_eq (g_strstr_len (la, -1, "\"event\":\"eval\"") != NULL, 1);
  g_free (la);
  g_free (lb);
  g_free (lc);
  g_free (ca);
  g_free (cb);
  g_free (pa);
  g_free (pb);
  derl_experiment_free (a);
  derl_experiment_free (b);
  derl_experiment_free (c);
}
END_TEST

/* Two threads (the critic beside the actor) give the numbers of one. */
START_TEST (test_threads_same_numbers)
{
  int steps = short_run () ? 3000 : 30000;
  char *t1 = g_strdup_printf ("[experiment]\nmode = train\nseed = 6\nthreads = 1\n[train]\ntotal_steps = %d\n"
                              "eval_interval = 1000\neval_episodes = 10\n[env]\nname = cartpole\n", steps);
  char *t2 = g_strdup_printf ("[experiment]\nmode = train\nseed = 6\nthreads = 2\n[train]\ntotal_steps = %d\n"
                              "eval_interval = 1000\neval_episodes = 10\n[env]\nname = cartpole\n", steps);
  DerlExperiment *one = experiment (t1);
  DerlExperiment *two = experiment (t2);
  g_free (t1);
  g_free (t2);
  DerlTrainSummary s1, s2;
  char *l1 = train (one, "one.jsonl", &s1), *l2 = train (two, "two.jsonl", &s2);
  ck_assert_str_eq (l1, l2);
  ck_assert_double_eq (s1.eval.mean_return, s2.eval.mean_return);
  g_free (l1);
  g_free (l2);
  derl_experiment_free (one);
  derl_experiment_free (two);
}
END_TEST

/* The checkpoint holds the trained policy: loaded and run greedily it
 * scores what the run's own evaluation did. */
START_TEST (test_checkpoint_evaluates_as_trained)
{
  char *text = g_strdup_printf ("[experiment]\nmode = train\nseed = 2\n[train]\ntotal_steps = %d\n"
                                "eval_episodes = 20\n[env]\nname = cartpole\n", short_run () ? 3000 : 30000);
  DerlExperiment *e = experiment (text);
  g_free (text);
  DerlTrainSummary s;
  char *log = train (e, "t.jsonl", &s);
  char *ckpt = g_build_filename (tmpdir, "t.jsonl.ckpt", NULL);
  GError *error = NULL;
  DerlBackend *backend = derl_backend_new_cpu ();
  char *stored = NULL;
  DerlPolicy *policy = derl_policy_load (backend, ckpt, 20, &stored, &error);
  ck_assert_msg (policy != NULL, "%s", error ? error->message : "");
  ck_assert (strstr (stored, short_run () ? "total_steps=3000" : "total_steps=30000"));
  DerlEvalResult r;
  const DerlFeature *env = derl_experiment_get_feature (e, DERL_FEATURE_ENV);
  ck_assert (derl_policy_evaluate_greedy (policy, env, derl_experiment_get_params (e, "env"), 1, 20, 2, &r, &error));
  ck_assert_double_eq (r.mean_return, s.eval.mean_return);
  ck_assert_double_eq (r.success_rate, s.eval.success_rate);
  /* evaluate mode plays the same episodes, one decision at a time */
  DerlExperiment *ev = experiment ("[experiment]\nseed = 2\nthreads = 2\n[evaluate]\nepisodes = 20\nsplit = val\n"
                                   "[env]\nname = cartpole\n");
  DerlEvaluateSummary es;
  ck_assert (derl_evaluate_run (ev, policy, 2, NULL, NULL, NULL, &es, &error));
  ck_assert_double_eq_tol (es.mean_return, s.eval.mean_return, 1e-9);
  derl_experiment_free (ev);
  derl_policy_free (policy);
  derl_backend_free (backend);
  g_free (stored);
  g_free (ckpt);
  g_free (log);
  derl_experiment_free (e);
}
END_TEST

static void
assert_invalid (const char *text, const char *needle)
{
  GError *error = NULL;
  DerlExperiment *e = derl_experiment_load_data (registry, text, strlen (text), "t.ini", NULL, &error);
  ck_assert_msg (e == NULL, "accepted: %s", text);
  ck_assert_msg (strstr (error->message, needle), "'%s' not in: %s", needle, error->message);
  g_error_free (error);
}

START_TEST (test_train_validation)
{
  assert_invalid ("[experiment]\nmode = train\n[train]\neval_split = tset\n[env]\nname = cartpole\n",
                  "t.ini: [train] eval_split = tset: env 'cartpole' has no such split (expected one of: train, val, "
                  "test); did you mean 'test'?");
  assert_invalid ("[experiment]\nmode = train\n[policy]\nhidden = 64,0\n[env]\nname = cartpole\n",
                  "t.ini: [policy] hidden: '0' is not a layer width (expected an integer in [1, 65536])");
  assert_invalid ("[experiment]\nmode = train\n[policy]\nhidden = 1,2,3,4,5,6,7,8,9\n[env]\nname = cartpole\n",
                  "[policy] hidden: 9 layers (expected at most 8)");
  assert_invalid ("[experiment]\nmode = train\n[optimizer]\nname = pop\n[env]\nname = cartpole\n",
                  "[optimizer] name: no optimizer named 'pop'; did you mean 'ppo'?");
  assert_invalid ("[experiment]\nmode = train\n[optimizer]\nname = ppo\nclip_coeff = 0.1\n[env]\nname = cartpole\n",
                  "[optimizer] clip_coeff: unknown key for optimizer 'ppo'; did you mean 'clip_coef'?");
  assert_invalid ("[experiment]\nmode = train\n[backend]\nname = cpu\nblas_threads = 1\n[env]\nname = cartpole\n",
                  "[backend] blas_threads: unknown key for backend 'cpu'");
  /* The optimizer itself refuses a combination of valid values. */
  assert_invalid ("[experiment]\nmode = train\n[optimizer]\nn_envs = 1\nn_steps = 2\nn_minibatches = 4\n"
                  "[env]\nname = cartpole\n",
                  "t.ini: [optimizer] n_minibatches = 4: more minibatches than the 2 rows of a batch");

  /* Defaults: optimizer ppo, backend cpu; [evaluate] with no final splits. */
  DerlExperiment *e = experiment ("[experiment]\nmode = train\n[env]\nname = cartpole\n");
  ck_assert_str_eq (derl_feature_get_name (derl_experiment_get_feature (e, DERL_FEATURE_OPTIMIZER)), "ppo");
  ck_assert_str_eq (derl_feature_get_name (derl_experiment_get_feature (e, DERL_FEATURE_BACKEND)), "cpu");
  ck_assert_uint_eq (g_strv_length ((char **) derl_params_get_list (derl_experiment_get_params (e, "evaluate"),
                                                                     "splits")), 0);
  ck_assert_uint_eq (derl_experiment_get_n_primitives (e), 0);
  ck_assert_ptr_null (derl_experiment_get_formula (e));
  char *text = derl_experiment_to_data (e, NULL);
  ck_assert (strstr (text, "[optimizer]\n") && strstr (text, "name=ppo") && strstr (text, "n_envs=4")
             && strstr (text, "[backend]\n") && strstr (text, "hidden=64,64") && strstr (text, "splits=\n")
             && strstr (text, "[reward]\n") && !strstr (text, "\n[primitives]\n"));
  g_free (text);
  derl_experiment_free (e);
}
END_TEST

/* Statistics that are not finite are logged as null, keeping the log JSON. */
START_TEST (test_non_finite_stats_are_null)
{
  DerlExperiment *e = experiment ("[experiment]\nmode = train\n[train]\ntotal_steps = 512\neval_episodes = 1\n"
                                  "[env]\nname = cartpole\n[optimizer]\ngamma = 0\ngae_lambda = 0\n");
  DerlTrainSummary s;
  char *log = train (e, "nan.jsonl", &s);
  ck_assert_msg (strstr (log, "\"explained_variance\":null"), "%s", log);
  ck_assert (!strstr (log, "nan") && !strstr (log, "inf"));
  g_free (log);
  derl_experiment_free (e);
}
END_TEST

static Suite *
train_suite (void)
{
  Suite *s = suite_create ("train");
  TCase *tc = tcase_create ("learning");
  tcase_add_checked_fixture (tc, setup, teardown);
  tcase_set_timeout (tc, 300);
  tcase_add_test (tc, test_ppo_learns_cartpole);
  tcase_add_test (tc, test_grpo_learns_cartpole);
  tcase_add_test (tc, test_same_seed_same_numbers);
  tcase_add_test (tc, test_threads_same_numbers);
  tcase_add_test (tc, test_checkpoint_evaluates_as_trained);
  tcase_add_test (tc, test_train_validation);
  tcase_add_test (tc, test_non_finite_stats_are_null);
  suite_add_tcase (s, tc);
  return s;
}

DERL_TEST_MAIN (train_suite)
