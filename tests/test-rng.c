/* Tests of the counter-based random streams (core/rng.c). */
#include <math.h>
#include <stdlib.h>
#include <check.h>
#include <derl/derl.h>
#include "test-util.h"

/* Known-answer vectors of Philox4x32-10 from Random123's kat_vectors. */
START_TEST (test_philox_known_answers)
{
  static const struct {
    guint32 ctr[4], key[2], out[4];
  } kat[] = {
    { { 0, 0, 0, 0 }, { 0, 0 }, { 0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8 } },
    { { 0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff }, { 0xffffffff, 0xffffffff },
      { 0x408f276d, 0x41c83b0e, 0xa20bc7c6, 0x6d5451fd } },
    { { 0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344 }, { 0xa4093822, 0x299f31d0 },
      { 0xd16cfe09, 0x94fdcceb, 0x5001e420, 0x24126ea1 } },
  };
  for (guint i = 0; i < G_N_ELEMENTS (kat); i++)
    {
      guint32 out[4];
      derl_philox4x32_10 (kat[i].ctr, kat[i].key, out);
      for (int j = 0; j < 4; j++)
        ck_assert_msg (out[j] == kat[i].out[j], "vector %u word %d: %08x != %08x", i, j, out[j],
                       kat[i].out[j]);
    }
}
END_TEST

START_TEST (test_same_keys_same_numbers)
{
  DerlRng a, b;
  derl_rng_init (&a, 42, 1, 2, 3, 4);
  derl_rng_init (&b, 42, 1, 2, 3, 4);
  for (int i = 0; i < 10000; i++)
    ck_assert_uint_eq (derl_rng_next_u32 (&a), derl_rng_next_u32 (&b));
}
END_TEST

/* Streams that differ in any one key share no long prefix and look
 * uncorrelated. */
START_TEST (test_different_keys_differ)
{
  const guint64 keys[][5] = {
    { 42, 1, 2, 3, 4 }, { 43, 1, 2, 3, 4 }, { 42, 0, 2, 3, 4 }, { 42, 1, 3, 3, 4 },
    { 42, 1, 2, 2, 4 }, { 42, 1, 2, 3, 5 }, { 42, 2, 1, 3, 4 }, { 1ull << 32 | 42, 1, 2, 3, 4 },
  };
  const int n = 20000;
  double *u[G_N_ELEMENTS (keys)];

  for (guint k = 0; k < G_N_ELEMENTS (keys); k++)
    {
      DerlRng r;
      derl_rng_init (&r, keys[k][0], keys[k][1], keys[k][2], keys[k][3], keys[k][4]);
      u[k] = g_new (double, n);
      for (int i = 0; i < n; i++)
        u[k][i] = derl_rng_uniform (&r);
    }
  for (guint a = 0; a < G_N_ELEMENTS (keys); a++)
    for (guint b = a + 1; b < G_N_ELEMENTS (keys); b++)
      {
        double sab = 0, sa = 0, sb = 0, saa = 0, sbb = 0;
        int equal = 0;
        for (int i = 0; i < n; i++)
          {
            sab += u[a][i] * u[b][i];
            sa += u[a][i];
            sb += u[b][i];
            saa += u[a][i] * u[a][i];
            sbb += u[b][i] * u[b][i];
            equal += u[a][i] == u[b][i];
          }
        double cov = sab / n - (sa / n) * (sb / n);
        double corr = cov / sqrt ((saa / n - (sa / n) * (sa / n)) * (sbb / n - (sb / n) * (sb / n)));
        ck_assert_int_eq (equal, 0);
        /* |corr| of independent streams is ~N(0, 1/n): 5 sigma = 0.035 */
        ck_assert_msg (fabs (corr) < 0.035, "streams %u and %u correlate: %f", a, b, corr);
      }
  for (guint k = 0; k < G_N_ELEMENTS (keys); k++)
    g_free (u[k]);
}
END_TEST

START_TEST (test_uniform_moments)
{
  DerlRng r;
  const int n = 200000;
  double sum = 0, sum2 = 0, lo = 1, hi = 0;
  derl_rng_init (&r, 7, 0, 0, 0, 0);
  for (int i = 0; i < n; i++)
    {
      double x = derl_rng_uniform (&r);
      ck_assert (x >= 0.0 && x < 1.0);
      sum += x;
      sum2 += x * x;
      lo = MIN (lo, x);
      hi = MAX (hi, x);
    }
  ck_assert_double_eq_tol (sum / n, 0.5, 0.005);
  ck_assert_double_eq_tol (sum2 / n - (sum / n) * (sum / n), 1.0 / 12.0, 0.002);
  ck_assert (lo < 1e-4 && hi > 1 - 1e-4);

  for (int i = 0; i < 1000; i++)
    {
      double x = derl_rng_uniform_range (&r, -0.05, 0.05);
      ck_assert (x >= -0.05 && x < 0.05);
    }
}
END_TEST

/* Chi-square test of derl_rng_below over a bound that does not divide 2^32. */
START_TEST (test_below_is_uniform)
{
  DerlRng r;
  const guint32 k = 7;
  const int n = 70000;
  int counts[7] = { 0 };
  double chi2 = 0;

  derl_rng_init (&r, 99, 5, 0, 0, 0);
  for (int i = 0; i < n; i++)
    {
      guint32 v = derl_rng_below (&r, k);
      ck_assert_uint_lt (v, k);
      counts[v]++;
    }
  for (guint32 i = 0; i < k; i++)
    chi2 += (counts[i] - n / (double) k) * (counts[i] - n / (double) k) / (n / (double) k);
  /* 6 degrees of freedom: P(chi2 > 22.46) = 0.001 */
  ck_assert_msg (chi2 < 22.46, "chi2 = %f", chi2);
  ck_assert_uint_eq (derl_rng_below (&r, 1), 0);
  /* Large bounds near 2^32 stay in range. */
  for (int i = 0; i < 1000; i++)
    ck_assert_uint_lt (derl_rng_below (&r, 0xfffffffbu), 0xfffffffbu);
}
END_TEST

START_TEST (test_normal_moments)
{
  DerlRng r;
  const int n = 200000;
  double sum = 0, sum2 = 0;
  derl_rng_init (&r, 3, 0, 0, 0, 1);
  for (int i = 0; i < n; i++)
    {
      double x = derl_rng_normal (&r);
      ck_assert (isfinite (x));
      sum += x;
      sum2 += x * x;
    }
  ck_assert_double_eq_tol (sum / n, 0.0, 0.01);
  ck_assert_double_eq_tol (sum2 / n, 1.0, 0.015);
}
END_TEST

/* The n-th number depends only on the stream and n: drawing from other
 * streams in between changes nothing (what makes threads irrelevant). */
START_TEST (test_streams_are_independent_of_interleaving)
{
  DerlRng a, b, c;
  guint32 alone[100];
  derl_rng_init (&a, 5, 1, 0, 0, 0);
  for (int i = 0; i < 100; i++)
    alone[i] = derl_rng_next_u32 (&a);
  derl_rng_init (&b, 5, 1, 0, 0, 0);
  derl_rng_init (&c, 5, 2, 0, 0, 0);
  for (int i = 0; i < 100; i++)
    {
      derl_rng_next_u64 (&c);
      ck_assert_uint_eq (derl_rng_next_u32 (&b), alone[i]);
    }
}
END_TEST

static Suite *
rng_suite (void)
{
  Suite *s = suite_create ("rng");
  TCase *tc = tcase_create ("core");
  tcase_add_test (tc, test_philox_known_answers);
  tcase_add_test (tc, test_same_keys_same_numbers);
  tcase_add_test (tc, test_different_keys_differ);
  tcase_add_test (tc, test_uniform_moments);
  tcase_add_test (tc, test_below_is_uniform);
  tcase_add_test (tc, test_normal_moments);
  tcase_add_test (tc, test_streams_are_independent_of_interleaving);
  suite_add_tcase (s, tc);
  return s;
}

DERL_TEST_MAIN (rng_suite)
