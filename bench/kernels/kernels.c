/* bench/kernels: the CPU backend's matrix products against the core's FMA
 * peak, per kernel path, on the shapes derl's policies use.
 *
 *   bench/kernels/kernels [SECONDS_PER_CASE]
 *
 * Prints the CPU model, the single-core float32 FMA peak measured with a
 * register-only loop (AVX-512 and AVX2), then for each path this CPU runs
 * and each product shape: GFLOP/s on one thread and the fraction of the
 * peak.  Shapes (M x N x K, op): the household policy's forward layers
 * (17408 rows of 24 candidate features or 64 hidden units to 64), its
 * score layer (64 -> 1), the backward products (weight gradients reducing
 * over the rows, input gradients), and CartPole's small rollout products.
 * Not a test: run it by hand (bench/README.md). */
#include <derl/derl.h>
#include <glib.h>
#include <stdio.h>
#include <stdlib.h>
#if defined(__x86_64__)
#include <immintrin.h>
#endif

static double
now (void)
{
  return g_get_monotonic_time () / 1e6;
}

#if defined(__x86_64__)
/* 12 independent chains of vector FMAs, enough to fill two FMA pipes of
 * latency 4 to 6; returns GFLOP/s (2 flops per lane per FMA). */
#define PEAK(NAME, TARGET, V, W, SET1, FMA, ADD, STORE)                                   \
  __attribute__ ((target (TARGET))) static double NAME (double seconds)                   \
  {                                                                                       \
    V a0 = SET1 (1.0f), a1 = SET1 (2.0f), a2 = SET1 (3.0f), a3 = SET1 (4.0f);             \
    V a4 = SET1 (5.0f), a5 = SET1 (6.0f), a6 = SET1 (7.0f), a7 = SET1 (8.0f);             \
    V a8 = SET1 (9.0f), a9 = SET1 (10.0f), a10 = SET1 (11.0f), a11 = SET1 (12.0f);        \
    const V b = SET1 (0.999f), c = SET1 (1e-3f);                                          \
    long rounds = 0;                                                                      \
    double t0 = now (), t;                                                                \
    do                                                                                    \
      {                                                                                   \
        for (int i = 0; i < 100000; i++)                                                  \
          {                                                                               \
            a0 = FMA (a0, b, c); a1 = FMA (a1, b, c); a2 = FMA (a2, b, c);                \
            a3 = FMA (a3, b, c); a4 = FMA (a4, b, c); a5 = FMA (a5, b, c);                \
            a6 = FMA (a6, b, c); a7 = FMA (a7, b, c); a8 = FMA (a8, b, c);                \
            a9 = FMA (a9, b, c); a10 = FMA (a10, b, c); a11 = FMA (a11, b, c);            \
            __asm__ volatile ("" : "+x"(a0), "+x"(a1), "+x"(a2), "+x"(a3));                \
          }                                                                               \
        rounds++;                                                                         \
      }                                                                                   \
    while ((t = now () - t0) < seconds);                                                  \
    V s = ADD (ADD (ADD (a0, a1), ADD (a2, a3)), ADD (ADD (a4, a5), ADD (a6, a7)));      \
    s = ADD (s, ADD (ADD (a8, a9), ADD (a10, a11)));                                      \
    float out[W];                                                                         \
    STORE (out, s);                                                                       \
    if (out[0] == 12345.0f)                                                               \
      printf (" ");                                                                       \
    return rounds * 100000.0 * 12 * W * 2 / t / 1e9;                                      \
  }
PEAK (peak_avx512, "avx512f", __m512, 16, _mm512_set1_ps, _mm512_fmadd_ps, _mm512_add_ps, _mm512_storeu_ps)
PEAK (peak_avx2, "avx2,fma", __m256, 8, _mm256_set1_ps, _mm256_fmadd_ps, _mm256_add_ps, _mm256_storeu_ps)
#endif

typedef struct {
  const char *what;
  gboolean ta, tb;
  guint m, n, k;
  double beta;
} Shape;

static const Shape shapes[] = {
  { "household forward, hidden 64 -> 64", FALSE, FALSE, 17408, 64, 64, 1.0 },
  { "household forward, candidates 24 -> 64", FALSE, FALSE, 17408, 64, 24, 1.0 },
  { "household forward, context 128 -> 64", FALSE, FALSE, 1024, 64, 128, 1.0 },
  { "household score layer 64 -> 1", FALSE, FALSE, 17408, 1, 64, 1.0 },
  { "weight gradient 64 x 64 over 17408 rows", TRUE, FALSE, 64, 64, 17408, 1.0 },
  { "input gradient 64 <- 64 (B transposed)", FALSE, TRUE, 17408, 64, 64, 0.0 },
  { "score gradient 64 x 1 over 17408 rows", TRUE, FALSE, 64, 1, 17408, 1.0 },
  { "a 512-wide layer, 4096 rows", FALSE, FALSE, 4096, 512, 512, 1.0 },
  { "cartpole rollout 64 -> 64, 4 rows", FALSE, FALSE, 4, 64, 64, 1.0 },
  { "cartpole minibatch 64 -> 64, 128 rows", FALSE, FALSE, 128, 64, 64, 1.0 },
};

static DerlTensor *
random_tensor (DerlBackend *backend, guint rows, guint cols, guint64 seed)
{
  DerlTensor *t = derl_tensor_new (backend, DERL_DTYPE_F32, rows, cols, NULL);
  gsize n = (gsize) rows * cols;
  g_autofree double *v = g_new (double, n);
  DerlRng rng;

  derl_rng_init (&rng, seed, 0, 0, 0, 0);
  for (gsize i = 0; i < n; i++)
    v[i] = derl_rng_uniform_range (&rng, -1, 1);
  derl_tensor_upload_doubles (t, 0, v, n);
  return t;
}

/* GFLOP/s of one shape on the current path, over about @seconds. */
static double
measure (DerlBackend *backend, const Shape *s, double seconds)
{
  g_autoptr (DerlTensor) a = random_tensor (backend, s->ta ? s->k : s->m, s->ta ? s->m : s->k, 1);
  g_autoptr (DerlTensor) b = random_tensor (backend, s->tb ? s->n : s->k, s->tb ? s->k : s->n, 2);
  g_autoptr (DerlTensor) c = random_tensor (backend, s->m, s->n, 3);
  double flops = 2.0 * s->m * s->n * s->k, t0, t;
  long calls = 0;

  derl_tensor_gemm (s->ta, s->tb, 1.0, a, b, s->beta, c); /* warm-up */
  t0 = now ();
  do
    {
      derl_tensor_gemm (s->ta, s->tb, 1.0, a, b, s->beta, c);
      calls++;
    }
  while ((t = now () - t0) < seconds);
  return calls * flops / t / 1e9;
}

int
main (int argc, char **argv)
{
  double seconds = argc > 1 ? g_ascii_strtod (argv[1], NULL) : 0.5;
  const char *paths[] = { "avx512", "avx2", "generic" };
  double peak = 0;
  g_autoptr (DerlBackend) backend = derl_backend_new_cpu ();

  if (!(seconds > 0))
    {
      fprintf (stderr, "usage: %s [SECONDS_PER_CASE]\n", argv[0]);
      return 2;
    }
  printf ("CPU: %s\n", derl_cpu_model ());
#if defined(__x86_64__)
  __builtin_cpu_init ();
  if (__builtin_cpu_supports ("avx512f"))
    {
      double p = peak_avx512 (2 * seconds);
      printf ("FMA peak, one core, AVX-512: %.1f GFLOP/s\n", p);
      peak = MAX (peak, p);
    }
  if (__builtin_cpu_supports ("avx2") && __builtin_cpu_supports ("fma"))
    {
      double p = peak_avx2 (2 * seconds);
      printf ("FMA peak, one core, AVX2:    %.1f GFLOP/s\n", p);
      peak = MAX (peak, p);
    }
#endif
  printf ("\n%-56s %-8s %8s %8s\n", "product (M x N x K)", "path", "GFLOP/s", "of peak");
  for (guint i = 0; i < G_N_ELEMENTS (shapes); i++)
    {
      const Shape *s = &shapes[i];
      g_autofree char *label = g_strdup_printf ("%s (%ux%ux%u%s)", s->what, s->m, s->n, s->k,
                                                s->ta ? ", A^T" : s->tb ? ", B^T" : "");
      gboolean first = TRUE;
      for (guint p = 0; p < G_N_ELEMENTS (paths); p++)
        {
          double g;
          if (!derl_backend_cpu_set_kernels (paths[p], NULL))
            continue;
          /* the generic path is the portable reference: measured briefly */
          g = measure (backend, s, p == 2 ? seconds / 5 : seconds);
          printf ("%-56s %-8s %8.1f %7.0f%%\n", first ? label : "", paths[p], g, peak > 0 ? 100 * g / peak : 0.0);
          first = FALSE;
        }
    }
  return 0;
}
