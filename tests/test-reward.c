/* Tests of trajectory rewards: the primitive plugins (agentic, math) against
 * their documented definitions, binding primitives and a formula in an
 * experiment (every error class), and training with a formula. */
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
  tmpdir = g_dir_make_tmp ("derl-reward-XXXXXX", NULL);
}

static void
teardown (void)
{
  derl_test_remove_dir (tmpdir);
  derl_registry_free (registry);
}

static const DerlPrimitiveVTable *
primitive (const char *name)
{
  const DerlFeature *f = derl_registry_find (registry, DERL_FEATURE_PRIMITIVE, name);
  ck_assert_msg (f != NULL, "no primitive %s", name);
  return derl_feature_get_primitive_vtable (f);
}

/* Runs @name on a trajectory whose signals are given by name. */
static double
compute (const char *name, guint length, guint max_steps, gboolean success, const char *const *names,
         const double *const *values, guint n_values)
{
  const DerlPrimitiveVTable *vt = primitive (name);
  const double *signals[DERL_PRIMITIVE_MAX_SIGNALS];
  for (guint k = 0; vt->signals && vt->signals[k]; k++)
    {
      signals[k] = NULL;
      for (guint j = 0; j < n_values; j++)
        if (strcmp (names[j], vt->signals[k]) == 0)
          signals[k] = values[j];
      ck_assert_msg (signals[k] != NULL, "%s reads %s", name, vt->signals[k]);
    }
  DerlTrajectory t = { length, max_steps, success, success, !success, 0.0, signals, { NULL } };
  return vt->compute (&t);
}

/* early / mid / late: the mean of (2 progress + explore + valid) / 4 over
 * the thirds floor(L/3), floor((L+1)/3), floor((L+2)/3), for every length
 * up to 12, each step's score distinct. */
START_TEST (test_agentic_thirds)
{
  static const char *const names[] = { "progress", "explore", "valid" };
  double progress[12], explore[12], valid[12];
  for (guint t = 0; t < 12; t++)
    {
      progress[t] = (t % 3 == 1);
      explore[t] = (t % 2 == 0);
      valid[t] = (t % 5 != 4);
    }
  const double *values[] = { progress, explore, valid };
  for (guint L = 1; L <= 12; L++)
    {
      guint size[3] = { L / 3, (L + 1) / 3, (L + 2) / 3 };
      ck_assert_uint_eq (size[0] + size[1] + size[2], L);
      const char *which[3] = { "early", "mid", "late" };
      guint from = 0;
      for (guint part = 0; part < 3; part++)
        {
          double sum = 0;
          for (guint t = from; t < from + size[part]; t++)
            sum += (2 * progress[t] + explore[t] + valid[t]) / 4;
          double want = size[part] ? sum / size[part] : 0.0;
          double got = compute (which[part], L, 50, FALSE, names, values, 3);
          ck_assert_msg (got == want, "L=%u %s: got %.17g, want %.17g", L, which[part], got, want);
          from += size[part];
        }
    }
  /* the cases the documentation names */
  double one[] = { 1 }, zero[] = { 0 };
  const double *all_one[] = { one, one, one };
  ck_assert_double_eq (compute ("late", 1, 50, TRUE, names, all_one, 3), 1.0);
  ck_assert_double_eq (compute ("early", 1, 50, TRUE, names, all_one, 3), 0.0);
  ck_assert_double_eq (compute ("mid", 1, 50, TRUE, names, all_one, 3), 0.0);
  const double *only_valid[] = { zero, zero, one };
  ck_assert_double_eq (compute ("late", 1, 50, TRUE, names, only_valid, 3), 0.25);
}
END_TEST

START_TEST (test_agentic_rates)
{
  static const char *const names[] = { "progress", "explore", "valid" };
  double progress[4] = { 0, 1, 0, 1 }, explore[4] = { 1, 1, 0, 0 }, valid[4] = { 1, 0, 1, 1 };
  const double *values[] = { progress, explore, valid };

  ck_assert_double_eq (compute ("success", 4, 50, TRUE, names, values, 3), 1.0);
  ck_assert_double_eq (compute ("success", 4, 50, FALSE, names, values, 3), 0.0);
  ck_assert_double_eq (compute ("valid_rate", 4, 50, TRUE, names, values, 3), 0.75);
  ck_assert_double_eq (compute ("explore_rate", 4, 50, TRUE, names, values, 3), 0.5);
  ck_assert_double_eq (compute ("length", 4, 50, TRUE, names, values, 3), 0.08);
  ck_assert (primitive ("success")->outcome_like);
  ck_assert (!primitive ("early")->outcome_like);
}
END_TEST

START_TEST (test_math_primitives)
{
  static const char *const names[] = { "format", "step_ok", "contains_answer" };
  double format[3] = { 1, 0, 1 }, step_ok[3] = { 1, 1, 0 }, answer[3] = { 0, 1, 0 }, none[3] = { 0, 0, 0 };
  const double *values[] = { format, step_ok, answer };
  const double *no_answer[] = { format, step_ok, none };

  ck_assert_double_eq (compute ("outcome", 3, 10, TRUE, names, values, 3), 1.0);
  ck_assert_double_eq (compute ("format", 3, 10, FALSE, names, values, 3), 1.0);
  ck_assert_double_eq (compute ("format", 2, 10, FALSE, names, values, 3), 0.0);
  ck_assert_double_eq (compute ("steps", 3, 10, FALSE, names, values, 3), 2.0 / 3.0);
  ck_assert_double_eq (compute ("contains_answer", 3, 10, FALSE, names, values, 3), 1.0);
  ck_assert_double_eq (compute ("contains_answer", 3, 10, FALSE, names, no_answer, 3), 0.0);
}
END_TEST

/* Loads text that must be refused; returns the message. */
static char *
refused (const char *text)
{
  GError *error = NULL;
  DerlExperiment *e = derl_experiment_load_data (registry, text, strlen (text), "t.ini", NULL, &error);
  ck_assert_msg (e == NULL, "accepted:\n%s", text);
  ck_assert (error != NULL);
  char *message = g_strdup (error->message);
  g_error_free (error);
  return message;
}

#define HOUSEHOLD "[experiment]\nmode = train\n[env]\nname = household\n[optimizer]\nname = grpo\n"

static void
assert_refused (const char *text, const char *expected)
{
  char *message = refused (text);
  ck_assert_msg (strstr (message, expected) != NULL, "expected '%s' in:\n%s", expected, message);
  g_free (message);
}

START_TEST (test_binding_errors)
{
  /* a primitive reading a signal the env does not emit */
  assert_refused ("[experiment]\nmode = train\n[env]\nname = cartpole\n[primitives]\ng1 = success\ng2 = early\n"
                  "[reward]\nformula = g1 + g2\n",
                  "t.ini: [primitives] g2 = early: primitive 'early' reads the signal 'progress', which env "
                  "'cartpole' does not emit (its signals: upright, centered)");
  assert_refused (HOUSEHOLD "[primitives]\ng1 = format\n",
                  "primitive 'format' reads the signal 'format', which env 'household' does not emit (its "
                  "signals: progress, explore, valid)");
  /* names */
  assert_refused (HOUSEHOLD "[primitives]\ng1 = sucess\n",
                  "t.ini: [primitives] g1 = sucess: no primitive named 'sucess'; did you mean 'success'?");
  assert_refused (HOUSEHOLD "[primitives]\ng1 =\n", "t.ini: [primitives] g1 = : no primitive named ''");
  assert_refused (HOUSEHOLD "[primitives]\nh1 = success\n",
                  "t.ini: [primitives] h1: not a formula variable (expected g1, g2, ... up to g16");
  assert_refused (HOUSEHOLD "[primitives]\ng01 = success\n", "[primitives] g01: not a formula variable");
  assert_refused (HOUSEHOLD "[primitives]\ng17 = success\n", "[primitives] g17: not a formula variable");
  assert_refused (HOUSEHOLD "[primitives]\ng1 = success\ng3 = late\n",
                  "t.ini: [primitives] g2: missing (the variables are numbered from g1 without gaps, and g3 "
                  "is bound)");
  /* formulas */
  assert_refused (HOUSEHOLD "[reward]\nformula = g1\n",
                  "(bind the variables in [primitives], e.g. g1 = success)");
  assert_refused (HOUSEHOLD "[primitives]\ng1 = success\n[reward]\nformula = g1 +\n", "t.ini: [reward] formula = g1 +: ");
  assert_refused (HOUSEHOLD "[primitives]\ng1 = success\n[reward]\nformula = g2\n", "t.ini: [reward] formula = g2: ");
  assert_refused (HOUSEHOLD "[primitives]\ng1 = success\n[reward]\nformula = 2 * 3\n",
                  "t.ini: [reward] formula = 2 * 3: ");
  assert_refused (HOUSEHOLD "[primitives]\ng1 = success\ng2 = early\n[reward]\nformula = g2 / (g1 - 1)\n",
                  "t.ini: [reward] formula = g2 / (g1 - 1): ");
  /* every problem at once */
  char *m = refused (HOUSEHOLD "[primitives]\ng1 = sucess\nx = 1\n[train]\ntotal_stepz = 3\n");
  ck_assert_msg (strstr (m, "'sucess'") && strstr (m, "[primitives] x:") && strstr (m, "total_stepz"), "%s", m);
  g_free (m);
  assert_refused (HOUSEHOLD "[evaluate]\nsplits = test_seen,tset_unseen\n",
                  "t.ini: [evaluate] splits = tset_unseen: env 'household' has no such split");
  /* too many splits */
  assert_refused (HOUSEHOLD "[evaluate]\nsplits = val,val,val,val,val,val,val,val,val\n",
                  "[evaluate] splits: 9 splits (expected at most 8)");
}
END_TEST

/* Aliases, the resolved text, and what the experiment gives back. */
START_TEST (test_binding)
{
  DerlExperiment *e = derl_test_experiment (registry, HOUSEHOLD "[primitives]\ng1 = success\ng2 = late\n"
                                                                "[reward]\nformula = success + 0.5 * late\n");
  ck_assert_uint_eq (derl_experiment_get_n_primitives (e), 2);
  ck_assert_str_eq (derl_feature_get_name (derl_experiment_get_primitive (e, 1)), "late");
  const DerlFormula *f = derl_experiment_get_formula (e);
  ck_assert_ptr_nonnull (f);
  double g[2] = { 1, 0.5 };
  ck_assert_double_eq (derl_formula_eval (f, g), 1.25);
  /* the resolved text loads back to the same */
  char *text = derl_experiment_to_data (e, NULL);
  DerlExperiment *again = derl_test_experiment (registry, text);
  ck_assert_uint_eq (derl_experiment_get_n_primitives (again), 2);
  ck_assert (derl_formula_equal (f, derl_experiment_get_formula (again)));
  g_free (text);
  derl_experiment_free (again);
  derl_experiment_free (e);
  /* without [reward], no formula */
  e = derl_test_experiment (registry, HOUSEHOLD "[primitives]\ng1 = success\n");
  ck_assert_ptr_null (derl_experiment_get_formula (e));
  derl_experiment_free (e);
}
END_TEST

/* Loads a training experiment; under `make check-valgrind` (DERL_TEST_SHORT
 * set) with a short budget: the mechanics, not the learning, are under test
 * here. */
static DerlExperiment *
load (const char *text)
{
  static const char *const short_run[] = { "train.total_steps=1500", "train.eval_episodes=4", NULL };
  return derl_test_experiment_short (registry, text, short_run);
}

/* Trains; returns the metrics log without timing members (and without the
 * reward members when @strip_reward). */
static char *
train (DerlExperiment *e, const char *name, gboolean strip_reward, DerlTrainSummary *s)
{
  GError *error = NULL;
  char *path = g_build_filename (tmpdir, name, NULL);
  DerlMetrics *m = derl_metrics_open (path, &error);
  char *text = NULL;

  ck_assert_ptr_nonnull (m);
  ck_assert_msg (derl_train_run (e, m, NULL, NULL, NULL, s, &error), "%s", error ? error->message : "");
  ck_assert (derl_metrics_close (m, &error));
  ck_assert (g_file_get_contents (path, &text, NULL, NULL));
  const char *pattern = strip_reward
    ? ",\"(wall_seconds|steps_per_second|g[0-9]+_[a-z_]+|formula_mean|formula_nonfinite)\":[-0-9.e+]+"
    : ",\"(wall_seconds|steps_per_second)\":[-0-9.e+]+";
  GRegex *re = g_regex_new (pattern, 0, 0, NULL);
  char *stripped = g_regex_replace_literal (re, text, -1, 0, "", 0, NULL);
  g_regex_unref (re);
  g_free (text);
  g_free (path);
  return stripped;
}

#define SMALL_RUN "[experiment]\nmode = train\nseed = 3\n[env]\nname = household\n" \
                  "[optimizer]\nname = grpo\nn_groups = 4\ngroup_size = 4\nlearning_rate = 0.01\n" \
                  "[train]\ntotal_steps = 12000\neval_episodes = 20\n"

/* The household env's own reward is 1 on the step of success: the formula
 * g1 = success puts the same reward on the same step, so training is the
 * same to the last bit. */
START_TEST (test_outcome_formula_is_native_reward)
{
  DerlExperiment *native = load (SMALL_RUN);
  DerlExperiment *outcome = load (SMALL_RUN "[primitives]\ng1 = success\n"
                                                                      "[reward]\nformula = g1\n");
  DerlTrainSummary a, b;
  char *la = train (native, "native.jsonl", TRUE, &a);
  char *lb_full = train (outcome, "outcome.jsonl", FALSE, &b);
  char *lb = train (outcome, "outcome2.jsonl", TRUE, &b);
  ck_assert_str_eq (la, lb);
  ck_assert_double_eq (a.eval.success_rate, b.eval.success_rate);
  ck_assert_msg (strstr (lb_full, "\"g1_success\":") && strstr (lb_full, "\"formula_mean\":")
                 && strstr (lb_full, "\"formula_nonfinite\":0"), "%s", lb_full);
  g_free (la);
  g_free (lb);
  g_free (lb_full);
  derl_experiment_free (native);
  derl_experiment_free (outcome);
}
END_TEST

/* A shaped formula trains on other rewards; the same run twice gives the
 * same numbers. */
START_TEST (test_shaped_formula)
{
  const char *text = SMALL_RUN "[primitives]\ng1 = success\ng2 = early\ng3 = mid\ng4 = late\n"
                               "[reward]\nformula = (g1 + g2 + g3 + g4) / 4\n";
  DerlExperiment *e = load (text);
  DerlExperiment *native = load (SMALL_RUN);
  DerlTrainSummary a, b, c;
  char *la = train (e, "a.jsonl", FALSE, &a), *lb = train (e, "b.jsonl", FALSE, &b);
  char *ln = train (native, "n.jsonl", TRUE, &c);
  ck_assert_str_eq (la, lb);
  ck_assert_str_ne (la, ln);
  /* the mean training return is the formula's mean, above success alone */
  ck_assert (strstr (la, "\"g2_early\":") && strstr (la, "\"g4_late\":"));
  g_free (la);
  g_free (lb);
  g_free (ln);
  derl_experiment_free (e);
  derl_experiment_free (native);
}
END_TEST

/* success / success is finite at the probe (1 / 1) but 0 / 0 after every
 * failed episode: those score 0 and are counted, and training goes on. */
START_TEST (test_non_finite_formula_counted)
{
  DerlExperiment *e = load (SMALL_RUN "[primitives]\ng1 = success\n"
                                                                "[reward]\nformula = g1 / g1\n");
  DerlTrainSummary s;
  char *log = train (e, "nf.jsonl", FALSE, &s);
  GRegex *re = g_regex_new ("\"formula_nonfinite\":([0-9]+)", 0, 0, NULL);
  GMatchInfo *mi = NULL;
  guint64 total = 0;
  g_regex_match (re, log, 0, &mi);
  while (g_match_info_matches (mi))
    {
      char *n = g_match_info_fetch (mi, 1);
      total += g_ascii_strtoull (n, NULL, 10);
      g_free (n);
      g_match_info_next (mi, NULL);
    }
  g_match_info_free (mi);
  g_regex_unref (re);
  ck_assert_msg (total > 0, "%s", log);
  ck_assert_uint_gt (s.steps, 0);
  g_free (log);
  derl_experiment_free (e);
}
END_TEST

/* [evaluate] splits: one final greedy evaluation per split. */
START_TEST (test_final_splits)
{
  DerlExperiment *e = load (SMALL_RUN "[evaluate]\nsplits = test_seen, test_unseen\n"
                                                                "episodes = 30\n");
  DerlTrainSummary s;
  char *log = train (e, "splits.jsonl", FALSE, &s);
  ck_assert_uint_eq (s.n_splits, 2);
  ck_assert_str_eq (s.splits[0], "test_seen");
  ck_assert_str_eq (s.splits[1], "test_unseen");
  ck_assert_uint_eq (s.split_eval[1].n_episodes, 30);
  ck_assert_msg (strstr (log, "\"event\":\"final_eval\"") && strstr (log, "\"split\":\"test_unseen\""), "%s", log);
  g_free (log);
  derl_experiment_free (e);
}
END_TEST

static Suite *
reward_suite (void)
{
  Suite *s = suite_create ("reward");
  TCase *tc = tcase_create ("reward");
  tcase_add_checked_fixture (tc, setup, teardown);
  tcase_set_timeout (tc, 120);
  tcase_add_test (tc, test_agentic_thirds);
  tcase_add_test (tc, test_agentic_rates);
  tcase_add_test (tc, test_math_primitives);
  tcase_add_test (tc, test_binding_errors);
  tcase_add_test (tc, test_binding);
  tcase_add_test (tc, test_outcome_formula_is_native_reward);
  tcase_add_test (tc, test_shaped_formula);
  tcase_add_test (tc, test_non_finite_formula_counted);
  tcase_add_test (tc, test_final_splits);
  suite_add_tcase (s, tc);
  return s;
}

DERL_TEST_MAIN (reward_suite)
