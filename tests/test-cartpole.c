/* derl - tests of the cartpole env plugin against Gymnasium's CartPole-v1.
 *
 * The golden files hold transitions recorded from Gymnasium itself (see their
 * comment lines): cartpole_golden.tsv through numpy's sin/cos, which may
 * differ from libm in the last bits, so it is compared to 1e-9 relative;
 * cartpole_golden_libm.tsv through glibc's libm, so it is compared bit for
 * bit.
 */
#include <check.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <glib.h>
#include <derl/derl.h>
#include "test-util.h"

#ifndef DERL_TEST_DATA_DIR
#define DERL_TEST_DATA_DIR "tests/data"
#endif

#define GOLDEN_ROWS 200
#define GOLDEN_FIELDS 11
#define THETA_THRESHOLD (12 * 2 * G_PI / 360)

static DerlRegistry *registry;
static const DerlFeature *feature;
static DerlParams *params;

/* Fixture: the registry on the default search path (the check environment
 * points DERL_PLUGIN_SYSTEM_PATH at the build tree's plugins). */

static void
report_plugins (void)
{
  const char *const *path = derl_registry_get_search_path (registry);
  guint n = derl_registry_get_n_plugins (registry);

  for (guint i = 0; path[i] != NULL; i++)
    g_printerr ("  searched %s\n", path[i]);
  for (guint i = 0; i < n; i++)
    {
      const DerlPlugin *plugin = derl_registry_get_plugin (registry, i);
      const GError *error = derl_plugin_get_error (plugin);

      g_printerr ("  plugin %s (%s): %s\n", derl_plugin_get_name (plugin),
                  derl_plugin_get_path (plugin), error ? error->message : "available");
    }
}

static void
setup (void)
{
  registry = derl_registry_new ();
  derl_registry_add_default_paths (registry, NULL);
  derl_registry_scan (registry);
  feature = derl_registry_find (registry, DERL_FEATURE_ENV, "cartpole");
  if (feature == NULL)
    report_plugins ();
  ck_assert_msg (feature != NULL, "the cartpole env was not found on the plugin path");
  params = derl_params_new (derl_feature_get_params (feature));
}

static void
teardown (void)
{
  g_clear_pointer (&params, derl_params_free);
  g_clear_pointer (&registry, derl_registry_free);
  feature = NULL;
}

static DerlEnv *
make_env (void)
{
  g_autoptr (GError) error = NULL;
  DerlEnv *env = derl_env_new (feature, params, &error);

  ck_assert_msg (env != NULL, "derl_env_new: %s", error ? error->message : "(no error)");
  return env;
}

static void
set_max_steps (const char *text)
{
  g_autoptr (GError) error = NULL;

  ck_assert_msg (derl_params_set (params, "max_steps", text, &error), "max_steps=%s: %s", text,
                 error ? error->message : "(no error)");
}

static const DerlEnvStep *
reset_episode (DerlEnv *env, guint64 seed, guint64 episode)
{
  DerlRng rng;

  derl_rng_init (&rng, seed, DERL_RNG_STREAM_EPISODE, 0, 0, episode);
  return derl_env_reset (env, 0, 0, &rng, NULL);
}

/* Golden files */

typedef struct {
  double state[4];
  guint action;
  double next[4];
  double reward;
  gboolean terminated;
} GoldenRow;

static double
parse_double (const char *text, const char *file, guint line)
{
  char *end = NULL;
  double value = g_ascii_strtod (text, &end);

  ck_assert_msg (end != text && *end == '\0', "%s:%u: not a number: '%s'", file, line, text);
  return value;
}

/* Reads the rows of a golden file: comment lines, a header, then rows. */
static GArray *
read_golden (const char *name)
{
  g_autofree char *path = g_build_filename (DERL_TEST_DATA_DIR, name, NULL);
  g_autofree char *contents = NULL;
  g_autoptr (GError) error = NULL;
  g_auto (GStrv) lines = NULL;
  GArray *rows = g_array_new (FALSE, TRUE, sizeof (GoldenRow));
  gboolean seen_header = FALSE;

  ck_assert_msg (g_file_get_contents (path, &contents, NULL, &error), "%s", error ? error->message : path);
  lines = g_strsplit (contents, "\n", -1);
  for (guint i = 0; lines[i] != NULL; i++)
    {
      g_auto (GStrv) fields = NULL;
      GoldenRow row = { 0 };

      g_strchomp (lines[i]);
      if (lines[i][0] == '#' || lines[i][0] == '\0')
        continue;
      if (!seen_header)
        {
          ck_assert_msg (g_str_has_prefix (lines[i], "x\tx_dot\ttheta\ttheta_dot\taction\t"),
                         "%s:%u: unexpected header", path, i + 1);
          seen_header = TRUE;
          continue;
        }
      fields = g_strsplit (lines[i], "\t", -1);
      ck_assert_msg (g_strv_length (fields) == GOLDEN_FIELDS, "%s:%u: %u fields, expected %d", path,
                     i + 1, g_strv_length (fields), GOLDEN_FIELDS);
      for (guint k = 0; k < 4; k++)
        {
          row.state[k] = parse_double (fields[k], path, i + 1);
          row.next[k] = parse_double (fields[5 + k], path, i + 1);
        }
      row.action = (guint) parse_double (fields[4], path, i + 1);
      row.reward = parse_double (fields[9], path, i + 1);
      row.terminated = parse_double (fields[10], path, i + 1) != 0.0;
      ck_assert_msg (row.action <= 1, "%s:%u: action %u", path, i + 1, row.action);
      g_array_append_val (rows, row);
    }
  return rows;
}

static gboolean
close_enough (double a, double b)
{
  return fabs (a - b) <= MAX (1e-9 * fabs (b), 1e-12);
}

static gboolean
bit_equal (double a, double b)
{
  return memcmp (&a, &b, sizeof (double)) == 0;
}

/* Replays every row from its recorded state; returns the rows replayed. */
static guint
replay_golden (const char *name, gboolean (*same) (double, double))
{
  static const char *const component[4] = { "x", "x_dot", "theta", "theta_dot" };
  g_autoptr (DerlEnv) env = make_env ();
  g_autoptr (GArray) rows = read_golden (name);
  DerlRng rng;

  derl_rng_init (&rng, 1, DERL_RNG_STREAM_EPISODE, 0, 0, 0);
  derl_env_reset (env, 0, 0, &rng, NULL);
  for (guint i = 0; i < rows->len; i++)
    {
      const GoldenRow *row = &g_array_index (rows, GoldenRow, i);
      const DerlEnvStep *step;
      double got[4];

      ck_assert (derl_env_set_state (env, row->state, NULL) != NULL);
      step = derl_env_step (env, row->action, NULL);
      ck_assert (derl_env_get_state (env, got));
      for (guint k = 0; k < 4; k++)
        ck_assert_msg (same (got[k], row->next[k]), "%s row %u: %s = %.17g, Gymnasium %.17g", name,
                       i + 1, component[k], got[k], row->next[k]);
      ck_assert_msg (step->reward == row->reward, "%s row %u: reward %g, Gymnasium %g", name, i + 1,
                     step->reward, row->reward);
      ck_assert_msg (!step->terminated == !row->terminated, "%s row %u: terminated %d, Gymnasium %d",
                     name, i + 1, step->terminated, row->terminated);
      ck_assert (!step->truncated);
    }
  return rows->len;
}

START_TEST (test_golden_numpy)
{
  ck_assert_uint_eq (replay_golden ("cartpole_golden.tsv", close_enough), GOLDEN_ROWS);
}
END_TEST

START_TEST (test_golden_libm_bitwise)
{
  ck_assert_uint_eq (replay_golden ("cartpole_golden_libm.tsv", bit_equal), GOLDEN_ROWS);
}
END_TEST

/* Truncation and success */

static const double zero_state[4] = { 0.0, 0.0, 0.0, 0.0 };

START_TEST (test_truncation)
{
  g_autoptr (DerlEnv) env = NULL;

  set_max_steps ("10");
  env = make_env ();
  ck_assert_uint_eq (derl_env_get_spec (env)->max_steps, 10);
  for (guint episode = 0; episode < 2; episode++)
    {
      reset_episode (env, 7, episode);
      derl_env_set_state (env, zero_state, NULL);
      for (guint t = 1; t <= 10; t++)
        {
          const DerlEnvStep *step = derl_env_step (env, t % 2, NULL);

          ck_assert_msg (!step->terminated, "terminated at step %u", t);
          ck_assert_msg (!step->truncated == (t < 10), "truncated = %d at step %u", step->truncated, t);
          ck_assert_msg (!step->success == (t < 10), "success = %d at step %u", step->success, t);
          ck_assert (step->reward == 1.0);
        }
    }
}
END_TEST

/* Pushes right from rest until the pole falls; returns the steps taken. */
static guint
run_until_terminated (DerlEnv *env, guint limit)
{
  const DerlEnvStep *step;
  guint t = 0;

  reset_episode (env, 7, 0);
  derl_env_set_state (env, zero_state, NULL);
  do
    {
      step = derl_env_step (env, 1, NULL);
      t++;
      ck_assert (step->reward == 1.0);
      ck_assert_uint_le (t, limit);
    }
  while (!step->terminated && !step->truncated);
  ck_assert (step->terminated);
  ck_assert (!step->truncated);
  ck_assert (!step->success);
  return t;
}

START_TEST (test_termination_fails)
{
  g_autoptr (DerlEnv) env = make_env ();
  guint length = run_until_terminated (env, 100);
  double state[4];

  ck_assert (derl_env_get_state (env, state));
  ck_assert (fabs (state[0]) > 2.4 || fabs (state[2]) > THETA_THRESHOLD);
  derl_env_free (g_steal_pointer (&env));

  /* Terminating on the max_steps-th step is a failure, not a truncation. */
  {
    g_autofree char *text = g_strdup_printf ("%u", length);
    g_autoptr (DerlEnv) env2 = NULL;

    set_max_steps (text);
    env2 = make_env ();
    ck_assert_uint_eq (run_until_terminated (env2, length), length);
  }
}
END_TEST

START_TEST (test_max_steps_range)
{
  g_autoptr (GError) error = NULL;

  ck_assert (!derl_params_set (params, "max_steps", "0", &error));
  ck_assert (error != NULL);
  g_clear_error (&error);
  ck_assert (!derl_params_set (params, "max_steps", "10000001", &error));
  g_clear_error (&error);
  set_max_steps ("10000000");
}
END_TEST

/* Reset */

static void
assert_obs_matches_state (DerlEnv *env, const DerlEnvStep *step)
{
  double state[4];

  ck_assert (derl_env_get_state (env, state));
  for (guint k = 0; k < 4; k++)
    ck_assert_msg (step->obs[k] == (float) state[k], "obs[%u] = %.9g, state %.17g", k, step->obs[k],
                   state[k]);
  ck_assert_uint_eq (step->action_mask[0], 1);
  ck_assert_uint_eq (step->action_mask[1], 1);
}

START_TEST (test_reset)
{
  g_autoptr (DerlEnv) env = make_env ();
  const DerlEnvStep *step;
  float first[4], again[4];
  double state[4];
  DerlRng rng;

  step = reset_episode (env, 42, 3);
  memcpy (first, step->obs, sizeof first);
  ck_assert (derl_env_get_state (env, state));
  derl_rng_init (&rng, 42, DERL_RNG_STREAM_EPISODE, 0, 0, 3);
  for (guint k = 0; k < 4; k++)
    {
      ck_assert (state[k] >= -0.05 && state[k] < 0.05);
      /* x, x_dot, theta, theta_dot are the stream's first four draws */
      ck_assert (bit_equal (state[k], derl_rng_uniform_range (&rng, -0.05, 0.05)));
    }
  assert_obs_matches_state (env, step);
  ck_assert (!step->terminated && !step->truncated && !step->success);
  ck_assert (step->signals[0] == 0.0 && step->signals[1] == 0.0);

  /* an episode in between changes nothing */
  for (guint t = 0; t < 5; t++)
    derl_env_step (env, t % 2, NULL);
  step = reset_episode (env, 42, 3);
  memcpy (again, step->obs, sizeof again);
  ck_assert (memcmp (first, again, sizeof first) == 0);
  ck_assert (step->signals[0] == 0.0 && step->signals[1] == 0.0);

  step = reset_episode (env, 42, 4);
  ck_assert (memcmp (first, step->obs, sizeof first) != 0);
  step = reset_episode (env, 43, 3);
  ck_assert (memcmp (first, step->obs, sizeof first) != 0);
  assert_obs_matches_state (env, step);

  /* the split and task index do not matter: one task */
  derl_rng_init (&rng, 42, DERL_RNG_STREAM_EPISODE, 0, 0, 3);
  step = derl_env_reset (env, 2, 12345, &rng, NULL);
  ck_assert (memcmp (first, step->obs, sizeof first) == 0);
}
END_TEST

START_TEST (test_reset_restarts_count)
{
  g_autoptr (DerlEnv) env = NULL;

  set_max_steps ("10");
  env = make_env ();
  reset_episode (env, 1, 0);
  derl_env_set_state (env, zero_state, NULL);
  for (guint t = 0; t < 6; t++)
    derl_env_step (env, t % 2, NULL);
  reset_episode (env, 1, 1);
  derl_env_set_state (env, zero_state, NULL);
  for (guint t = 1; t <= 10; t++)
    ck_assert_uint_eq (derl_env_step (env, t % 2, NULL)->truncated, t == 10);
}
END_TEST

START_TEST (test_set_state)
{
  g_autoptr (DerlEnv) env = make_env ();
  const double values[4] = { 0.5, -1.25, 0.1, 2.0 };
  const DerlEnvStep *step;
  double got[4];

  reset_episode (env, 5, 0);
  step = derl_env_set_state (env, values, NULL);
  ck_assert (step != NULL);
  ck_assert (derl_env_get_state (env, got));
  ck_assert (memcmp (values, got, sizeof got) == 0);
  assert_obs_matches_state (env, step);
}
END_TEST

/* Spec and signals */

START_TEST (test_spec)
{
  g_autoptr (DerlEnv) env = make_env ();
  const DerlEnvSpec *spec = derl_env_get_spec (env);

  ck_assert_int_eq (derl_params_get_int (params, "max_steps"), 500);
  ck_assert_uint_eq (spec->obs_size, 4);
  ck_assert_uint_eq (spec->n_actions, 2);
  ck_assert_uint_eq (spec->candidate_size, 0);
  ck_assert_uint_eq (spec->max_steps, 500);
  ck_assert_uint_eq (spec->state_size, 4);
  ck_assert_uint_eq (spec->n_signals, 2);
  ck_assert_str_eq (spec->signals[0], "upright");
  ck_assert_str_eq (spec->signals[1], "centered");
  ck_assert_uint_eq (spec->n_splits, 3);
  ck_assert_str_eq (spec->splits[0].name, "train");
  ck_assert_str_eq (spec->splits[1].name, "val");
  ck_assert_str_eq (spec->splits[2].name, "test");
  for (guint i = 0; i < 3; i++)
    ck_assert_uint_eq (spec->splits[i].n_tasks, 1);
  ck_assert_int_eq (derl_env_find_split (env, "val"), 1);
  ck_assert_int_eq (derl_env_find_split (env, "nope"), -1);
  ck_assert_ptr_nonnull (strstr (derl_feature_get_description (feature), "upright"));
}
END_TEST

START_TEST (test_signals)
{
  g_autoptr (DerlEnv) env = make_env ();
  const double values[4] = { -1.2, 0.0, 0.05, 0.0 };
  const DerlEnvStep *step;
  double state[4];
  guint t = 0;

  /* the values follow the state after the step */
  reset_episode (env, 9, 0);
  derl_env_set_state (env, values, NULL);
  step = derl_env_step (env, 0, NULL);
  ck_assert (derl_env_get_state (env, state));
  ck_assert (step->signals[0] == 1.0 - fabs (state[2]) / THETA_THRESHOLD);
  ck_assert (step->signals[1] == 1.0 - fabs (state[0]) / 2.4);
  ck_assert (fabs (step->signals[1] - 0.5) < 1e-3);

  /* always within [0, 1], down to the terminating step */
  reset_episode (env, 9, 1);
  do
    {
      step = derl_env_step (env, t++ % 3 == 0, NULL);
      for (guint k = 0; k < 2; k++)
        ck_assert_msg (step->signals[k] >= 0.0 && step->signals[k] <= 1.0, "signal %u = %g", k,
                       step->signals[k]);
    }
  while (!step->terminated && !step->truncated);
  ck_assert (step->terminated);
}
END_TEST

static Suite *
cartpole_suite (void)
{
  Suite *s = suite_create ("cartpole");
  TCase *tc;

  tc = tcase_create ("golden");
  tcase_add_checked_fixture (tc, setup, teardown);
  tcase_add_test (tc, test_golden_numpy);
  tcase_add_test (tc, test_golden_libm_bitwise);
  suite_add_tcase (s, tc);

  tc = tcase_create ("episode");
  tcase_add_checked_fixture (tc, setup, teardown);
  tcase_add_test (tc, test_truncation);
  tcase_add_test (tc, test_termination_fails);
  tcase_add_test (tc, test_max_steps_range);
  tcase_add_test (tc, test_reset);
  tcase_add_test (tc, test_reset_restarts_count);
  tcase_add_test (tc, test_set_state);
  suite_add_tcase (s, tc);

  tc = tcase_create ("spec");
  tcase_add_checked_fixture (tc, setup, teardown);
  tcase_add_test (tc, test_spec);
  tcase_add_test (tc, test_signals);
  suite_add_tcase (s, tc);

  return s;
}

DERL_TEST_MAIN (cartpole_suite)
