/* The losses of the optimizer plugins against finite differences: each
 * plugin's loss function returns dLoss/dlogp, dLoss/dentropy and
 * dLoss/dvalue per row, which the policy's backward pass chains through;
 * here they are checked in double precision by central differences.  The
 * plugin sources are compiled into this test (their entry points left
 * out) so that their static loss functions can be called. */
#include "config.h"

#include <math.h>
#include <string.h>
#include <check.h>
#include <derl/derl.h>
#include "test-util.h"

#undef DERL_PLUGIN_DEFINE
#define DERL_PLUGIN_DEFINE(name, description, init, version, license) \
  G_GNUC_UNUSED static gboolean (*const init##_unused) (DerlPlugin *, GError **) = init;
#undef G_LOG_DOMAIN
#include "../plugins/optimizers/ppo/ppo.c"
#undef G_LOG_DOMAIN
#include "../plugins/optimizers/grpo/grpo.c"

#define M 24

typedef struct {
  guint32 rows[M];
  float old_logp[M], old_values[M];
  double adv[M], returns[M], newlogp[M], reflogp[M], entropy[M], newvalue[M];
  DerlBatch batch;
} Rows;

static void
rows_init (Rows *r, guint64 seed)
{
  DerlRng rng;
  derl_rng_init (&rng, seed, 0, 0, 0, 0);
  memset (r, 0, sizeof *r);
  for (guint i = 0; i < M; i++)
    {
      r->rows[i] = (i * 7) % M; /* a permutation: rows in shuffled order */
      r->old_logp[i] = (float) derl_rng_uniform_range (&rng, -2.0, -0.1);
      /* new log-probabilities around the old: ratios on both sides of the clip range */
      r->newlogp[i] = r->old_logp[i] + derl_rng_uniform_range (&rng, -0.5, 0.5);
      r->reflogp[i] = r->old_logp[i] + derl_rng_uniform_range (&rng, -0.3, 0.3);
      r->adv[i] = derl_rng_uniform_range (&rng, -2.0, 2.0);
      r->entropy[i] = derl_rng_uniform_range (&rng, 0.1, 0.7);
      r->old_values[i] = (float) derl_rng_uniform_range (&rng, -1.0, 1.0);
      r->newvalue[i] = r->old_values[i] + derl_rng_uniform_range (&rng, -0.6, 0.6);
      r->returns[i] = derl_rng_uniform_range (&rng, -2.0, 2.0);
    }
  r->batch.n = M;
  r->batch.logp = r->old_logp;
  r->batch.values = r->old_values;
}

/* A point where a max/min/clip switches branch has no derivative; skip
 * rows within @h of one. */
static gboolean
near_kink (double ratio, double clip, double h)
{
  return fabs (ratio - (1 - clip)) < 10 * h || fabs (ratio - (1 + clip)) < 10 * h;
}

static void
check (double analytic, double fd, const char *what, guint i)
{
  ck_assert_msg (fabs (analytic - fd) <= 1e-6 * MAX (1.0, fabs (fd)), "%s of row %u: backward %.12g, finite difference %.12g",
                 what, i, analytic, fd);
}

static double
ppo_total (Ppo *p, Rows *r)
{
  double dl[M], de[M], dv[M];
  PpoLoss loss;
  ppo_loss (p, &r->batch, r->rows, M, r->adv, r->newlogp, r->entropy, r->newvalue, dl, de, dv, &loss);
  return loss.total;
}

static void
ppo_case (gboolean clip_vloss)
{
  Ppo p = { 0 };
  Rows r;
  double dl[M], de[M], dv[M];
  PpoLoss loss;
  const double h = 1e-6;
  guint checked = 0;

  rows_init (&r, clip_vloss ? 1 : 2);
  p.clip = 0.2;
  p.clip_vloss = clip_vloss;
  p.ent_coef = 0.01;
  p.vf_coef = 0.5;
  p.returns = r.returns;
  /* ppo_loss reads returns by batch row: index them as rows[i] */
  double returns_by_row[M];
  for (guint i = 0; i < M; i++)
    returns_by_row[r.rows[i]] = r.returns[i];
  p.returns = returns_by_row;

  ppo_loss (&p, &r.batch, r.rows, M, r.adv, r.newlogp, r.entropy, r.newvalue, dl, de, dv, &loss);
  for (guint i = 0; i < M; i++)
    {
      guint row = r.rows[i];
      double ratio = exp (r.newlogp[i] - r.old_logp[row]);
      double saved;
      if (!near_kink (ratio, p.clip, h))
        {
          saved = r.newlogp[i];
          r.newlogp[i] = saved + h;
          double up = ppo_total (&p, &r);
          r.newlogp[i] = saved - h;
          double down = ppo_total (&p, &r);
          r.newlogp[i] = saved;
          check (dl[i], (up - down) / (2 * h), "dL/dlogp", i);
          checked++;
        }
      saved = r.entropy[i];
      r.entropy[i] = saved + h;
      double up = ppo_total (&p, &r);
      r.entropy[i] = saved - h;
      double down = ppo_total (&p, &r);
      r.entropy[i] = saved;
      check (de[i], (up - down) / (2 * h), "dL/dentropy", i);

      double dvv = r.newvalue[i] - r.old_values[row];
      if (fabs (fabs (dvv) - p.clip) > 10 * h)
        {
          saved = r.newvalue[i];
          r.newvalue[i] = saved + h;
          up = ppo_total (&p, &r);
          r.newvalue[i] = saved - h;
          down = ppo_total (&p, &r);
          r.newvalue[i] = saved;
          check (dv[i], (up - down) / (2 * h), "dL/dvalue", i);
        }
    }
  ck_assert_uint_ge (checked, M / 2);
  /* both clip branches occur */
  ck_assert (loss.clipfrac > 0 && loss.clipfrac < 1);
}

START_TEST (test_ppo_loss_gradients)
{
  ppo_case (TRUE);
  ppo_case (FALSE);
}
END_TEST

static double
grpo_total (Grpo *g, Rows *r)
{
  double dl[M], de[M];
  GrpoLoss loss;
  grpo_loss (g, &r->batch, r->rows, M, r->newlogp, r->reflogp, r->entropy, dl, de, &loss);
  return loss.total;
}

START_TEST (test_grpo_loss_gradients)
{
  Grpo g = { 0 };
  Rows r;
  double dl[M], de[M], adv_by_row[M];
  GrpoLoss loss;
  const double h = 1e-6;

  rows_init (&r, 3);
  for (guint i = 0; i < M; i++)
    adv_by_row[r.rows[i]] = r.adv[i];
  g.advantages = adv_by_row;
  g.clip = 0.2;
  g.beta = 0.04;
  g.ent_coef = 0.01;
  grpo_loss (&g, &r.batch, r.rows, M, r.newlogp, r.reflogp, r.entropy, dl, de, &loss);
  ck_assert (loss.kl > 0);
  for (guint i = 0; i < M; i++)
    {
      double ratio = exp (r.newlogp[i] - r.old_logp[r.rows[i]]);
      double saved = r.newlogp[i];
      if (!near_kink (ratio, g.clip, h))
        {
          r.newlogp[i] = saved + h;
          double up = grpo_total (&g, &r);
          r.newlogp[i] = saved - h;
          double down = grpo_total (&g, &r);
          r.newlogp[i] = saved;
          check (dl[i], (up - down) / (2 * h), "dL/dlogp", i);
        }
      saved = r.entropy[i];
      r.entropy[i] = saved + h;
      double up = grpo_total (&g, &r);
      r.entropy[i] = saved - h;
      double down = grpo_total (&g, &r);
      r.entropy[i] = saved;
      check (de[i], (up - down) / (2 * h), "dL/dentropy", i);
    }
}
END_TEST

/* GRPO's advantages: normalised within each group, the same for every
 * decision of an episode. */
START_TEST (test_grpo_group_advantages)
{
  Grpo g = { 0 };
  float rewards[9] = { 1, 1, 1, 0, 2, 5, 5, 5, 5 };
  guint32 starts[5] = { 0, 3, 4, 6, 9 }; /* episode returns 3, 0, 7, 15 */
  double adv[9];
  DerlBatch b = { 0 };

  g.group_size = 2;
  g.adv_eps = 0;
  g.episode_return = g_new (double, 4);
  g.advantages = adv;
  b.n = 9;
  b.rewards = rewards;
  b.n_episodes = 4;
  b.episode_start = starts;
  double mean = group_advantages (&g, &b);
  ck_assert_double_eq_tol (mean, (3 + 0 + 7 + 15) / 4.0, 1e-12);
  /* group {3, 0}: mean 1.5, unbiased std sqrt(4.5) */
  ck_assert_double_eq_tol (adv[0], 1.5 / sqrt (4.5), 1e-12);
  ck_assert_double_eq_tol (adv[2], 1.5 / sqrt (4.5), 1e-12);
  ck_assert_double_eq_tol (adv[3], -1.5 / sqrt (4.5), 1e-12);
  /* group {7, 15}: mean 11, std sqrt(32) */
  ck_assert_double_eq_tol (adv[4], -4 / sqrt (32.0), 1e-12);
  ck_assert_double_eq_tol (adv[8], 4 / sqrt (32.0), 1e-12);
  g_free (g.episode_return);
}
END_TEST

/* PPO's GAE against a hand-computed case: two envs, three steps; env 0
 * terminates at step 1, env 1 is truncated at step 0 (bootstrapping from
 * the value of its final observation). */
START_TEST (test_ppo_gae)
{
  Ppo p = { 0 };
  float rewards[6] = { 1, 2, 3, 4, 5, 6 };          /* row t * 2 + e */
  float values[6] = { 0.5, 0.1, 0.2, 0.3, 0.4, 0.6 };
  guint8 terminated[6] = { 0, 0, 1, 0, 0, 0 };
  guint8 truncated[6] = { 0, 1, 0, 0, 0, 0 };
  float next_values[6] = { 0, 0.7, 0, 0, 0, 0 };
  float last_values[2] = { 0.9, 0.8 };
  double adv[6], ret[6];
  DerlBatch b = { 0 };

  p.n_envs = 2;
  p.n_steps = 3;
  p.gamma = 0.9;
  p.lambda = 0.8;
  p.advantages = adv;
  p.returns = ret;
  b.rewards = rewards;
  b.values = values;
  b.terminated = terminated;
  b.truncated = truncated;
  b.next_values = next_values;
  b.last_values = last_values;
  compute_gae (&p, &b);

  /* env 0: t2 bootstraps from last_values; t1 terminal; t0 continues into t1 */
  double a02 = 5 + 0.9 * 0.9 - 0.4;
  double a01 = 3 + 0 - 0.2;
  double a00 = (1 + 0.9 * 0.2 - 0.5) + 0.9 * 0.8 * a01;
  /* env 1: t2 from last_values, t1 continues, t0 truncated: bootstrap from next_values, chain cut */
  double a12 = 6 + 0.9 * 0.8 - 0.6;
  double a11 = (4 + 0.9 * 0.6 - 0.3) + 0.9 * 0.8 * a12;
  double a10 = 2 + 0.9 * 0.7 - 0.1;
  double expected[6] = { a00, a10, a01, a11, a02, a12 };
  for (int i = 0; i < 6; i++)
    {
      ck_assert_double_eq_tol (adv[i], expected[i], 1e-6);
      ck_assert_double_eq_tol (ret[i], expected[i] + values[i], 1e-6);
    }
}
END_TEST

static Suite *
losses_suite (void)
{
  Suite *s = suite_create ("losses");
  TCase *tc = tcase_create ("optimizers");
  tcase_add_test (tc, test_ppo_loss_gradients);
  tcase_add_test (tc, test_ppo_gae);
  tcase_add_test (tc, test_grpo_loss_gradients);
  tcase_add_test (tc, test_grpo_group_advantages);
  suite_add_tcase (s, tc);
  return s;
}

DERL_TEST_MAIN (losses_suite)
