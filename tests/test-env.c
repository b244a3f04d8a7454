/* The step contract at the core's boundary: what the core zeroes before a
 * reset or step, and the error of each output out of contract, on the
 * faulty fixture env. */
#include "config.h"

#include "test-util.h"

static DerlRegistry *registry;
static const DerlFeature *feature;

static void
setup (void)
{
  registry = derl_test_registry_rewards ();
  feature = derl_registry_find (registry, DERL_FEATURE_ENV, "faulty");
  ck_assert_ptr_nonnull (feature);
}

static void
teardown (void)
{
  g_clear_pointer (&registry, derl_registry_free);
  feature = NULL;
}

/* An instance of the faulty env breaking its contract as @fault says at
 * step @fault_step. */
static DerlEnv *
faulty (const char *fault, guint fault_step)
{
  g_autoptr (DerlParams) params = derl_params_new (derl_feature_get_params (feature));
  g_autoptr (GError) error = NULL;
  g_autofree char *step = g_strdup_printf ("%u", fault_step);

  ck_assert (derl_params_set (params, "fault", fault, &error));
  ck_assert (derl_params_set (params, "fault_step", step, &error));
  DerlEnv *env = derl_env_new (feature, params, &error);
  ck_assert_msg (env != NULL, "%s", error ? error->message : "");
  return env;
}

/* The env writes "hit" only on the steps action 0 is taken, and the reward
 * and flags only when they happen: the core's zeroing makes the rest 0. */
START_TEST (test_zeroed_before_every_step)
{
  g_autoptr (DerlEnv) env = faulty ("none", 0);
  g_autoptr (GError) error = NULL;
  DerlRng rng;
  const DerlEnvStep *s;

  derl_rng_init (&rng, 1, DERL_RNG_STREAM_EPISODE, 0, 0, 0);
  s = derl_env_reset (env, 0, 0, &rng, &error);
  ck_assert_ptr_nonnull (s);
  ck_assert (s->signals[0] == 0.0 && s->signals[1] == 0.0 && s->reward == 0.0);
  s = derl_env_step (env, 0, &error);
  ck_assert_ptr_nonnull (s);
  ck_assert_double_eq (s->signals[0], 1.0);
  ck_assert_double_eq (s->signals[1], 1.0);
  s = derl_env_step (env, 1, &error);
  ck_assert_ptr_nonnull (s);
  ck_assert_double_eq (s->signals[0], 0.0); /* cleared by the core, not by the env */
  ck_assert_double_eq (s->signals[1], 2.0);
  /* x = -1 + 0: neither terminated nor truncated, a reward of -0.1 */
  ck_assert (!s->terminated && !s->truncated && !s->success);
  ck_assert_double_eq_tol (s->reward, -0.1, 1e-12);
  /* set_state clears them too */
  double state[3] = { 4.0, 0.0, 0.0 };
  s = derl_env_set_state (env, state, &error);
  ck_assert_ptr_nonnull (s);
  ck_assert (s->signals[1] == 0.0 && s->reward == 0.0);
  ck_assert_float_eq (s->obs[0], 4.0f);
}
END_TEST

static const struct {
  const char *fault;
  guint step;
  const char *message;
} violations[] = {
  { "nan-obs", 3, "env 'faulty': observation[3] is nan at split 'val', task 2, step 3 (an env's outputs must be "
                  "finite; see derl-plugin(7))" },
  { "nan-obs", 0, "env 'faulty': observation[3] is nan at split 'val', task 2, step 0 (" },
  { "inf-obs-tail", 1, "env 'faulty': observation[19] is -inf at split 'val', task 2, step 1 (" },
  { "nan-reward", 2, "env 'faulty': reward is nan at split 'val', task 2, step 2 (" },
  { "inf-signal", 4, "env 'faulty': signal[1] 'tick' is +inf at split 'val', task 2, step 4 (" },
  { "nan-candidate", 1, "env 'faulty': candidates[1][1] (an admissible action) is nan at split 'val', task 2, "
                        "step 1 (" },
  { "bad-mask", 5, "env 'faulty': action_mask[1] is 2 at split 'val', task 2, step 5 (a mask byte is 0 or 1, and "
                   "an episode that is not over has an admissible action; see derl-plugin(7))" },
  { "empty-mask", 2, "env 'faulty': action_mask has no admissible action and the episode is not over at split "
                     "'val', task 2, step 2 (" },
};

/* Each violation fails the call that returns it, naming the env, the
 * field and its index, the split, the task (taken modulo the split's 4
 * tasks) and the step. */
START_TEST (test_violation_message)
{
  g_autoptr (DerlEnv) env = faulty (violations[_i].fault, violations[_i].step);
  g_autoptr (GError) error = NULL;
  const DerlEnvStep *s;
  DerlRng rng;

  derl_rng_init (&rng, 1, DERL_RNG_STREAM_EPISODE, 0, 0, 0);
  s = derl_env_reset (env, 1, 6, &rng, &error);
  for (guint k = 0; s && k < violations[_i].step; k++)
    s = derl_env_step (env, 1, &error);
  ck_assert_ptr_null (s);
  ck_assert (g_error_matches (error, DERL_RUN_ERROR, DERL_RUN_ERROR_ENV_CONTRACT));
  ck_assert_msg (g_str_has_prefix (error->message, violations[_i].message), "message: %s", error->message);
}
END_TEST

/* A violation after set_state fails it; an env without set_state says so. */
START_TEST (test_set_state_checked)
{
  g_autoptr (DerlEnv) env = faulty ("nan-obs", 0);
  g_autoptr (GError) error = NULL;
  double state[3] = { 0.0, 0.0, 0.0 };

  ck_assert_ptr_null (derl_env_set_state (env, state, &error));
  ck_assert (g_error_matches (error, DERL_RUN_ERROR, DERL_RUN_ERROR_ENV_CONTRACT));
  ck_assert (strstr (error->message, "observation[3] is nan at split 'train', task 0, step 0"));
}
END_TEST

/* The error stops a training and an evaluation, with its code intact. */
START_TEST (test_run_stops)
{
  const char *train = "[experiment]\nmode = train\nseed = 1\n[env]\nname = faulty\nfault = nan-reward\n"
                      "fault_step = 7\n[train]\ntotal_steps = 2000\neval_episodes = 2\neval_split = val\n"
                      "[optimizer]\nname = ppo\nn_envs = 2\nn_steps = 16\n";
  g_autoptr (DerlExperiment) e = derl_test_experiment (registry, train);
  g_autoptr (GError) error = NULL;
  DerlTrainSummary summary;

  ck_assert (!derl_train_run (e, NULL, NULL, NULL, NULL, &summary, &error));
  ck_assert (g_error_matches (error, DERL_RUN_ERROR, DERL_RUN_ERROR_ENV_CONTRACT));
  ck_assert_msg (strstr (error->message, "env 'faulty': reward is nan at split 'train', task ")
                 && strstr (error->message, ", step 7 ("), "%s", error->message);
  g_clear_error (&error);

  const char *eval = "[experiment]\nseed = 1\n[evaluate]\nepisodes = 5\nsplit = val\n[env]\nname = faulty\n"
                     "fault = bad-mask\nfault_step = 1\n";
  g_autoptr (DerlExperiment) ev = derl_test_experiment (registry, eval);
  DerlEvaluateSummary es;
  ck_assert (!derl_evaluate_run (ev, NULL, 2, NULL, NULL, NULL, &es, &error));
  ck_assert (g_error_matches (error, DERL_RUN_ERROR, DERL_RUN_ERROR_ENV_CONTRACT));
  ck_assert (strstr (error->message, "action_mask[1] is 2 at split 'val', task "));
}
END_TEST

static Suite *
env_suite (void)
{
  Suite *s = suite_create ("env");
  TCase *tc = tcase_create ("contract");

  tcase_add_checked_fixture (tc, setup, teardown);
  tcase_add_test (tc, test_zeroed_before_every_step);
  tcase_add_loop_test (tc, test_violation_message, 0, G_N_ELEMENTS (violations));
  tcase_add_test (tc, test_set_state_checked);
  tcase_add_test (tc, test_run_stops);
  suite_add_tcase (s, tc);
  return s;
}

DERL_TEST_MAIN (env_suite)
