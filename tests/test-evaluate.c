/* Tests of `mode = evaluate` (core/evaluate.c) and the metrics log
 * (core/metrics.c): numbers independent of the thread count. */
#include "config.h"

#include <math.h>
#include <stdlib.h>
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
  registry = derl_test_registry ();
  tmpdir = g_dir_make_tmp ("derl-eval-XXXXXX", NULL);
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

/* Runs @e on @threads threads, returns the metrics log's text. */
static char *
run (DerlExperiment *e, guint threads, DerlEvaluateSummary *summary)
{
  GError *error = NULL;
  char *path = g_strdup_printf ("%s/metrics-%u.jsonl", tmpdir, threads);
  char *text = NULL;
  DerlMetrics *m = derl_metrics_open (path, &error);
  ck_assert_ptr_nonnull (m);
  ck_assert_msg (derl_evaluate_run (e, NULL, threads, m, NULL, NULL, summary, &error), "%s",
                 error ? error->message : "");
  ck_assert (derl_metrics_close (m, &error));
  ck_assert (g_file_get_contents (path, &text, NULL, NULL));
  g_free (path);
  return text;
}

/* As run(), with @policy acting. */
static char *
run_policy (DerlExperiment *e, const DerlPolicy *policy, guint threads, DerlEvaluateSummary *summary)
{
  GError *error = NULL;
  char *path = g_strdup_printf ("%s/policy-%u.jsonl", tmpdir, threads);
  char *text = NULL;
  DerlMetrics *m = derl_metrics_open (path, &error);
  ck_assert_ptr_nonnull (m);
  ck_assert_msg (derl_evaluate_run (e, policy, threads, m, NULL, NULL, summary, &error), "%s",
                 error ? error->message : "");
  ck_assert (derl_metrics_close (m, &error));
  ck_assert (g_file_get_contents (path, &text, NULL, NULL));
  g_remove (path);
  g_free (path);
  return text;
}

/* [evaluate] greedy = false: a policy's actions are sampled with each
 * episode's stream, so the numbers are the same on any thread count, and
 * the same through derl_policy_evaluate_episodes() (train mode's
 * evaluations).  A fresh policy is near uniform over CartPole's two
 * actions: sampled, it does what the random policy does (about 22 steps);
 * greedy, it pushes mostly one way and drops the pole within about 10. */
START_TEST (test_sampled_policy)
{
  const char *ini = "[experiment]\nseed = 5\n[evaluate]\nepisodes = 200\nsplit = val\n"
                    "greedy = %s\n[env]\nname = cartpole\n";
  g_autofree char *sampled_ini = g_strdup_printf (ini, "false");
  g_autofree char *greedy_ini = g_strdup_printf (ini, "true");
  DerlExperiment *sampled = experiment (sampled_ini);
  DerlExperiment *greedy = experiment (greedy_ini);
  DerlBackend *backend = derl_backend_new_cpu ();
  DerlPolicyConfig c = { 4, 2, 0, 2, { 64, 64 }, DERL_ACTIVATION_TANH, FALSE, DERL_DTYPE_F32 };
  GError *error = NULL;
  DerlPolicy *policy = derl_policy_new (backend, &c, 64, 3, &error);
  ck_assert_msg (policy != NULL, "%s", error ? error->message : "");
  DerlEvaluateSummary s1, s2, s5, g1, g2;

  char *one = run_policy (sampled, policy, 1, &s1);
  char *two = run_policy (sampled, policy, 2, &s2);
  char *five = run_policy (sampled, policy, 5, &s5);
  ck_assert_str_eq (one, two);
  ck_assert_str_eq (one, five);
  ck_assert (memcmp (&s1, &s5, sizeof s1) == 0);
  char *gone = run_policy (greedy, policy, 1, &g1);
  char *gtwo = run_policy (greedy, policy, 3, &g2);
  ck_assert_str_eq (gone, gtwo);
  ck_assert_msg (s1.mean_return > g1.mean_return + 5.0, "sampled %f, greedy %f", s1.mean_return, g1.mean_return);
  ck_assert_msg (s1.mean_return > 17.0 && s1.mean_return < 28.0, "sampled %f", s1.mean_return);

  /* The same episodes through train mode's evaluation, sampled and greedy. */
  const DerlFeature *env = derl_experiment_get_feature (sampled, DERL_FEATURE_ENV);
  const DerlParams *env_params = derl_experiment_get_params (sampled, "env");
  DerlEvalResult r;
  ck_assert (derl_policy_evaluate_episodes (policy, env, env_params, 1, 200, 5, FALSE, &r, &error));
  ck_assert_double_eq (r.mean_return, s1.mean_return);
  ck_assert_double_eq (r.success_rate, s1.success_rate);
  ck_assert (derl_policy_evaluate_episodes (policy, env, env_params, 1, 200, 5, TRUE, &r, &error));
  ck_assert_double_eq (r.mean_return, g1.mean_return);

  g_free (one);
  g_free (two);
  g_free (five);
  g_free (gone);
  g_free (gtwo);
  derl_policy_free (policy);
  derl_backend_free (backend);
  derl_experiment_free (sampled);
  derl_experiment_free (greedy);
}
END_TEST

START_TEST (test_same_numbers_on_any_thread_count)
{
  DerlExperiment *e = experiment ("[experiment]\nseed = 11\n[evaluate]\nepisodes = 300\n[env]\nname = cartpole\n");
  DerlEvaluateSummary s1, s2, s5;
  char *one = run (e, 1, &s1);
  char *two = run (e, 2, &s2);
  char *five = run (e, 5, &s5);

  ck_assert_str_eq (one, two);
  ck_assert_str_eq (one, five);
  ck_assert (memcmp (&s1, &s2, sizeof s1) == 0);
  ck_assert (memcmp (&s1, &s5, sizeof s1) == 0);
  ck_assert_uint_eq (s1.n_episodes, 300);
  /* One "episode" line per episode, in episode order. */
  char **lines = g_strsplit (one, "\n", -1);
  ck_assert_uint_eq (g_strv_length (lines), 301);
  ck_assert (g_str_has_prefix (lines[0], "{\"event\":\"episode\",\"episode\":0,"));
  ck_assert (g_str_has_prefix (lines[299], "{\"event\":\"episode\",\"episode\":299,"));
  g_strfreev (lines);
  g_free (one);
  g_free (two);
  g_free (five);
  derl_experiment_free (e);
}
END_TEST

/* A uniform-random policy keeps CartPole-v1 up for about 22 steps
 * (Gymnasium's random agent: 22.3 +- 12 over many episodes). */
START_TEST (test_random_cartpole_return)
{
  DerlExperiment *e = experiment ("[experiment]\nseed = 1\n[evaluate]\nepisodes = 2000\n[env]\nname = cartpole\n");
  DerlEvaluateSummary s;
  char *log = run (e, 2, &s);
  ck_assert_msg (s.mean_return > 20.5 && s.mean_return < 24.0, "mean return %f", s.mean_return);
  ck_assert_msg (s.std_return > 9.0 && s.std_return < 14.0, "std %f", s.std_return);
  ck_assert_double_eq (s.mean_return, s.mean_length); /* reward 1 per step */
  ck_assert (s.min_return >= 8.0);                     /* fewest steps to tip over from near upright */
  ck_assert (s.max_return < 500.0);
  ck_assert_double_eq (s.success_rate, 0.0);
  ck_assert_uint_eq (s.total_steps, (guint64) llround (s.mean_length * 2000));
  g_free (log);
  derl_experiment_free (e);
}
END_TEST

START_TEST (test_seed_changes_numbers)
{
  DerlExperiment *a = experiment ("[experiment]\nseed = 1\n[evaluate]\nepisodes = 50\n[env]\nname = cartpole\n");
  DerlExperiment *b = experiment ("[experiment]\nseed = 2\n[evaluate]\nepisodes = 50\n[env]\nname = cartpole\n");
  DerlEvaluateSummary sa, sb;
  char *la = run (a, 1, &sa);
  char *lb = run (b, 3, &sb);
  ck_assert_str_ne (la, lb);
  ck_assert (sa.total_steps != sb.total_steps || sa.std_return != sb.std_return);
  g_free (la);
  g_free (lb);
  derl_experiment_free (a);
  derl_experiment_free (b);
}
END_TEST

START_TEST (test_deterministic_env_numbers)
{
  DerlExperiment *e = experiment ("[evaluate]\nepisodes = 7\nsplit = train\n"
                                  "[env]\nname = fixture-env\ntoken = t\nlength = 4\n");
  DerlEvaluateSummary s;
  char *log = run (e, 3, &s);
  ck_assert_uint_eq (s.n_episodes, 7);
  ck_assert_double_eq (s.mean_return, 4.0);
  ck_assert_double_eq (s.std_return, 0.0);
  ck_assert_double_eq (s.success_rate, 1.0);
  ck_assert_uint_eq (s.total_steps, 28);
  ck_assert (strstr (log, "{\"event\":\"episode\",\"episode\":6,\"task\":6,\"return\":4.0,\"length\":4,"
                          "\"terminated\":true,\"truncated\":false,\"success\":true}\n"));
  g_free (log);
  derl_experiment_free (e);
}
END_TEST

START_TEST (test_summarize)
{
  DerlEpisodeResult r[4] = { { .episode_return = 1, .length = 2, .success = TRUE },
                             { .episode_return = 3, .length = 4 },
                             { .episode_return = 5, .length = 6, .success = TRUE },
                             { .episode_return = 7, .length = 8 } };
  DerlEvaluateSummary s;
  derl_evaluate_summarize (r, 4, &s);
  ck_assert_double_eq (s.mean_return, 4.0);
  ck_assert_double_eq_tol (s.std_return, sqrt (5.0), 1e-15);
  ck_assert_double_eq (s.min_return, 1.0);
  ck_assert_double_eq (s.max_return, 7.0);
  ck_assert_double_eq (s.mean_length, 5.0);
  ck_assert_double_eq (s.success_rate, 0.5);
  ck_assert_uint_eq (s.total_steps, 20);
  derl_evaluate_summarize (r, 0, &s);
  ck_assert_uint_eq (s.n_episodes, 0);
}
END_TEST

START_TEST (test_metrics_refuses_to_overwrite)
{
  GError *error = NULL;
  char *path = g_build_filename (tmpdir, "keep.jsonl", NULL);
  char *text = NULL;
  ck_assert (g_file_set_contents (path, "precious\n", -1, NULL));
  ck_assert_ptr_null (derl_metrics_open (path, &error));
  ck_assert (g_error_matches (error, DERL_RUN_ERROR, DERL_RUN_ERROR_EXISTS));
  ck_assert (g_file_get_contents (path, &text, NULL, NULL));
  ck_assert_str_eq (text, "precious\n");
  g_clear_error (&error);
  g_free (text);
  g_free (path);
}
END_TEST

static Suite *
evaluate_suite (void)
{
  Suite *s = suite_create ("evaluate");
  TCase *tc = tcase_create ("core");
  tcase_add_checked_fixture (tc, setup, teardown);
  tcase_add_test (tc, test_same_numbers_on_any_thread_count);
  tcase_add_test (tc, test_sampled_policy);
  tcase_add_test (tc, test_random_cartpole_return);
  tcase_add_test (tc, test_seed_changes_numbers);
  tcase_add_test (tc, test_deterministic_env_numbers);
  tcase_add_test (tc, test_summarize);
  tcase_add_test (tc, test_metrics_refuses_to_overwrite);
  suite_add_tcase (s, tc);
  return s;
}

DERL_TEST_MAIN (evaluate_suite)
