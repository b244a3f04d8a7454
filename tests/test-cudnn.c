/* Tests of the cudnn tensor backend (plugins/backends/cudnn) against the
 * built-in cpu backend: every op on random shapes, in float32 and float64,
 * within float tolerances; several threads on one context; an allocation
 * too large for the device; and PPO on CartPole trained on each backend,
 * compared update by update.
 *
 * Without a usable CUDA device (or driver) the program prints why and exits
 * 77, which the test driver counts as skipped.  DERL_TEST_BACKEND=NAME
 * compares backend NAME instead of cudnn (cpu, say, to run the suite's
 * mechanics on a machine without a GPU). */
#include "config.h"

#include <math.h>
#include <stdio.h>
#include <string.h>
#include <check.h>
#include <json-glib/json-glib.h>
#include <derl/derl.h>
#include "test-util.h"

#define EXIT_SKIP 77

static DerlRegistry *registry;
static const DerlFeature *gpu_feature; /* the backend under test */

/* ---- the two backends side by side ---- */

typedef struct {
  DerlBackend *cpu;
  DerlBackend *gpu;
  DerlDType dtype;
  const char *label;  /* "f32" or "f64" */
  double tol;         /* relative tolerance of one rounding-sensitive result */
  DerlRng rng;
} Pair;

/* The same matrix on the cpu (c) and on the backend under test (g). */
typedef struct {
  DerlTensor *c;
  DerlTensor *g;
} Twin;

typedef void (*PairFunc) (Pair *p);

static DerlBackend *
gpu_backend_new (void)
{
  g_autoptr (DerlParams) params = derl_params_new (derl_feature_get_params (gpu_feature));
  g_autoptr (GError) error = NULL;
  DerlBackend *b = derl_backend_new (gpu_feature, params, &error);

  ck_assert_msg (b != NULL, "the backend under test cannot be created any more: %s", error ? error->message : "?");
  return b;
}

/* Runs @func in float32, then in float64 when the backend supports it. */
static void
for_each_dtype (PairFunc func, guint64 stream)
{
  for (int d = 0; d < 2; d++)
    {
      Pair p = { .cpu = derl_backend_new_cpu (), .gpu = gpu_backend_new (),
                 .dtype = d ? DERL_DTYPE_F64 : DERL_DTYPE_F32, .label = d ? "f64" : "f32", .tol = d ? 1e-12 : 1e-5 };
      derl_rng_init (&p.rng, 77, DERL_RNG_STREAM_PLUGIN, stream, d, 0);
      if (derl_backend_supports (p.gpu, p.dtype))
        func (&p);
      derl_backend_free (p.gpu);
      derl_backend_free (p.cpu);
    }
}

static DerlTensor *
tnew (DerlBackend *b, DerlDType dtype, guint rows, guint cols)
{
  g_autoptr (GError) error = NULL;
  DerlTensor *t = derl_tensor_new (b, dtype, rows, cols, &error);

  ck_assert_msg (t != NULL, "cannot make a %ux%u tensor on %s: %s", rows, cols, derl_backend_get_name (b),
                 error ? error->message : "?");
  return t;
}

static Twin
twin_new (Pair *p, guint rows, guint cols)
{
  return (Twin) { tnew (p->cpu, p->dtype, rows, cols), tnew (p->gpu, p->dtype, rows, cols) };
}

static void
twin_free (Twin *t)
{
  g_clear_pointer (&t->c, derl_tensor_free);
  g_clear_pointer (&t->g, derl_tensor_free);
}

static double *
tget (const DerlTensor *t)
{
  gsize n = derl_tensor_n_elements (t);
  double *x = g_new (double, MAX (n, 1));

  derl_tensor_download_doubles (t, 0, x, n);
  return x;
}

static void
twin_set (Twin *t, const double *x)
{
  derl_tensor_upload_doubles (t->c, 0, x, derl_tensor_n_elements (t->c));
  derl_tensor_upload_doubles (t->g, 0, x, derl_tensor_n_elements (t->g));
}

/* Uniform values in [@lo, @hi) on both; returns them as stored (free with g_free()). */
static double *
twin_rand (Pair *p, Twin *t, double lo, double hi)
{
  gsize n = derl_tensor_n_elements (t->c);
  g_autofree double *x = g_new (double, MAX (n, 1));

  for (gsize i = 0; i < n; i++)
    x[i] = derl_rng_uniform_range (&p->rng, lo, hi);
  twin_set (t, x);
  return tget (t->c);
}

/* Copies the cpu side's elements to the backend under test. */
static void
twin_sync (Twin *t)
{
  g_autofree double *x = tget (t->c);
  derl_tensor_upload_doubles (t->g, 0, x, derl_tensor_n_elements (t->g));
}

/* Asserts |g - c| <= tol (|c| + mag) elementwise (mag NULL: 0); equal
 * values (infinities included) always pass, NaN never does. */
static void
twin_check (Pair *p, const char *what, const Twin *t, const double *mag, double tol)
{
  gsize n = derl_tensor_n_elements (t->c);
  g_autofree double *c = tget (t->c);
  g_autofree double *g = tget (t->g);

  for (gsize i = 0; i < n; i++)
    {
      double bound = tol * (fabs (c[i]) + (mag ? mag[i] : 0.0));
      if (!(g[i] == c[i] || fabs (g[i] - c[i]) <= bound))
        ck_abort_msg ("%s: %s (%ux%u): element %" G_GSIZE_FORMAT ": %.17g on %s, %.17g on cpu (bound %.3g)", p->label,
                      what, t->c->rows, t->c->cols, i, g[i], derl_feature_get_name (gpu_feature), c[i], bound);
    }
}

static guint
random_dim (Pair *p)
{
  static const guint edges[] = { 1, 2, 31, 32, 33, 255, 256, 257 };
  if (derl_rng_below (&p->rng, 3) == 0)
    return edges[derl_rng_below (&p->rng, G_N_ELEMENTS (edges))];
  return 1 + derl_rng_below (&p->rng, 300);
}

/* ---- memory ---- */

static void
memory_pair (Pair *p)
{
  for (int s = 0; s < 10; s++)
    {
      guint rows = random_dim (p), cols = random_dim (p);
      Twin t = twin_new (p, rows, cols), u = twin_new (p, rows, cols);
      g_autofree double *x = twin_rand (p, &t, -3, 3);
      twin_check (p, "upload", &t, NULL, 0.0);

      double value = derl_rng_normal (&p->rng);
      derl_tensor_fill (u.c, value);
      derl_tensor_fill (u.g, value);
      twin_check (p, "fill", &u, NULL, 0.0);
      derl_tensor_copy (u.c, t.c);
      derl_tensor_copy (u.g, t.g);
      twin_check (p, "copy", &u, NULL, 0.0);

      /* overlapping views of one tensor: rows [0, n-1) to [1, n) */
      if (rows > 1)
        {
          g_autoptr (DerlTensor) sc = derl_tensor_view_rows (t.c, 0, rows - 1);
          g_autoptr (DerlTensor) dc = derl_tensor_view_rows (t.c, 1, rows - 1);
          g_autoptr (DerlTensor) sg = derl_tensor_view_rows (t.g, 0, rows - 1);
          g_autoptr (DerlTensor) dg = derl_tensor_view_rows (t.g, 1, rows - 1);
          derl_tensor_copy (dc, sc);
          derl_tensor_copy (dg, sg);
          twin_check (p, "copy between overlapping views", &t, NULL, 0.0);
        }

      /* a part, at an offset */
      gsize n = (gsize) rows * cols, off = derl_rng_below (&p->rng, (guint32) n);
      g_autofree double *part = g_new (double, n - off);
      derl_tensor_download_doubles (t.g, off, part, n - off);
      g_autofree double *all = tget (t.c);
      for (gsize i = off; i < n; i++)
        if (part[i - off] != all[i])
          ck_abort_msg ("%s: download at an offset", p->label);
      twin_free (&t);
      twin_free (&u);
    }
}

START_TEST (test_memory)
{
  for_each_dtype (memory_pair, 1);
}
END_TEST

/* ---- gemm ---- */

static void
gemm_check (Pair *p, guint m, guint n, guint k, gboolean ta, gboolean tb, double alpha, double beta, gboolean nan_c)
{
  Twin a = twin_new (p, ta ? k : m, ta ? m : k);
  Twin b = twin_new (p, tb ? n : k, tb ? k : n);
  Twin c = twin_new (p, m, n);
  g_autofree double *ha = twin_rand (p, &a, -1, 1);
  g_autofree double *hb = twin_rand (p, &b, -1, 1);
  g_autofree double *hc = twin_rand (p, &c, -1, 1);
  g_autofree double *mag = g_new (double, (gsize) m * n + 1);
  g_autofree char *what = g_strdup_printf ("gemm %ux%ux%u trans %d%d alpha %g beta %g%s", m, n, k, ta, tb, alpha,
                                           beta, nan_c ? " (C NaN)" : "");

  if (nan_c)
    {
      derl_tensor_fill (c.c, NAN);
      derl_tensor_fill (c.g, NAN);
    }
  for (guint i = 0; i < m; i++)
    for (guint j = 0; j < n; j++)
      {
        double s = 0;
        for (guint q = 0; q < k; q++)
          s += fabs ((ta ? ha[(gsize) q * m + i] : ha[(gsize) i * k + q])
                     * (tb ? hb[(gsize) j * k + q] : hb[(gsize) q * n + j]));
        mag[(gsize) i * n + j] = fabs (alpha) * s + (nan_c ? 0.0 : fabs (beta * hc[(gsize) i * n + j]));
      }
  derl_tensor_gemm (ta, tb, alpha, a.c, b.c, beta, c.c);
  derl_tensor_gemm (ta, tb, alpha, a.g, b.g, beta, c.g);
  twin_check (p, what, &c, mag, p->tol * 2 * sqrt (MAX (k, 1)));
  twin_free (&a);
  twin_free (&b);
  twin_free (&c);
}

static void
gemm_pair (Pair *p)
{
  for (int s = 0; s < 12; s++)
    {
      guint m = random_dim (p), n = random_dim (p), k = random_dim (p);
      for (int t = 0; t < 4; t++)
        {
          gemm_check (p, m, n, k, t & 1, t >> 1, 1.0, 0.0, TRUE);
          gemm_check (p, m, n, k, t & 1, t >> 1, derl_rng_uniform_range (&p->rng, -2, 2),
                      derl_rng_uniform_range (&p->rng, -2, 2), FALSE);
        }
    }
  gemm_check (p, 5, 7, 0, FALSE, FALSE, 1.0, 0.5, FALSE);
  gemm_check (p, 5, 7, 0, TRUE, TRUE, 1.0, 0.0, TRUE);
  gemm_check (p, 33, 65, 7, TRUE, FALSE, 0.0, 0.5, FALSE);
  gemm_check (p, 33, 65, 7, FALSE, TRUE, 2.0, 1.0, FALSE);
}

START_TEST (test_gemm)
{
  for_each_dtype (gemm_pair, 2);
}
END_TEST

/* ---- row broadcasts and reductions ---- */

static void
rows_pair (Pair *p)
{
  for (int s = 0; s < 12; s++)
    {
      guint rows = random_dim (p), cols = random_dim (p), rep = 1 + derl_rng_below (&p->rng, 9);
      Twin y = twin_new (p, rows, cols), b = twin_new (p, 1, cols);
      Twin x = twin_new (p, rows, cols), yy = twin_new (p, rows * rep, cols);
      Twin out = twin_new (p, 1, cols);
      g_autofree double *hy = twin_rand (p, &y, -1, 1);
      g_autofree double *hb = twin_rand (p, &b, -1, 1);
      g_autofree double *hx = twin_rand (p, &x, -1, 1);
      g_autofree double *mag = g_new (double, (gsize) MAX (rows, 1) * cols * rep + 1);

      for (gsize i = 0; i < (gsize) rows * cols; i++)
        mag[i] = fabs (hy[i]) + fabs (hb[i % cols]);
      derl_tensor_add_row (y.c, b.c);
      derl_tensor_add_row (y.g, b.g);
      twin_check (p, "add_row", &y, mag, p->tol);

      derl_tensor_repeat_rows (yy.c, x.c, rep);
      derl_tensor_repeat_rows (yy.g, x.g, rep);
      twin_check (p, "repeat_rows", &yy, NULL, 0.0);

      g_autofree double *hyy = twin_rand (p, &yy, -1, 1);
      for (gsize i = 0; i < (gsize) rows * cols; i++)
        {
          gsize r = i / cols, c = i % cols;
          mag[i] = 0;
          for (guint q = 0; q < rep; q++)
            mag[i] += fabs (hyy[(r * rep + q) * cols + c]);
        }
      derl_tensor_sum_repeated (yy.c, rep, x.c);
      derl_tensor_sum_repeated (yy.g, rep, x.g);
      twin_check (p, "sum_repeated", &x, mag, p->tol * rep);

      double alpha = derl_rng_uniform_range (&p->rng, -2, 2);
      double beta = s % 3 == 0 ? 0.0 : derl_rng_uniform_range (&p->rng, -2, 2);
      g_autofree double *ho = twin_rand (p, &out, -1, 1);
      if (beta == 0.0)
        {
          derl_tensor_fill (out.c, NAN);
          derl_tensor_fill (out.g, NAN);
        }
      g_free (hy);
      hy = twin_rand (p, &y, -1, 1);
      for (guint c = 0; c < cols; c++)
        {
          mag[c] = beta == 0.0 ? 0.0 : fabs (beta * ho[c]);
          for (guint r = 0; r < rows; r++)
            mag[c] += fabs (alpha * hy[(gsize) r * cols + c]);
        }
      derl_tensor_sum_rows (y.c, alpha, beta, out.c);
      derl_tensor_sum_rows (y.g, alpha, beta, out.g);
      twin_check (p, "sum_rows", &out, mag, p->tol * sqrt (rows));

      twin_free (&y);
      twin_free (&b);
      twin_free (&x);
      twin_free (&yy);
      twin_free (&out);
    }
}

START_TEST (test_rows)
{
  for_each_dtype (rows_pair, 3);
}
END_TEST

/* ---- activations ---- */

static void
activation_pair (Pair *p)
{
  for (int f = DERL_ACTIVATION_IDENTITY; f <= DERL_ACTIVATION_RELU; f++)
    for (int s = 0; s < 6; s++)
      {
        guint rows = random_dim (p), cols = random_dim (p);
        gsize n = (gsize) rows * cols;
        Twin x = twin_new (p, rows, cols), y = twin_new (p, rows, cols);
        Twin dy = twin_new (p, rows, cols), dx = twin_new (p, rows, cols);
        g_autofree double *hx = twin_rand (p, &x, -4, 4);
        g_autofree double *mag = g_new (double, n);
        double exact = f == DERL_ACTIVATION_TANH ? p->tol : 0.0;
        g_autofree char *what = g_strdup_printf ("activation %d", f);

        /* exact zeros: relu and its derivative at 0 */
        for (gsize i = 0; i < n; i += 7)
          hx[i] = 0.0;
        twin_set (&x, hx);
        twin_rand (p, &dy, -1, 1);

        derl_tensor_activation (f, x.c, y.c);
        derl_tensor_activation (f, x.g, y.g);
        twin_check (p, what, &y, NULL, exact);

        /* the backward from the same y on both */
        twin_sync (&y);
        g_autofree double *hdy = tget (dy.c);
        for (gsize i = 0; i < n; i++)
          mag[i] = fabs (hdy[i]);
        derl_tensor_activation_backward (f, x.c, y.c, dy.c, dx.c);
        derl_tensor_activation_backward (f, x.g, y.g, dy.g, dx.g);
        twin_check (p, "activation_backward", &dx, mag, 4 * exact);

        /* in place: y over x, dx over dy */
        derl_tensor_activation_backward (f, x.c, y.c, dy.c, dy.c);
        derl_tensor_activation_backward (f, x.g, y.g, dy.g, dy.g);
        twin_check (p, "activation_backward in place", &dy, mag, 4 * exact);
        derl_tensor_activation (f, x.c, x.c);
        derl_tensor_activation (f, x.g, x.g);
        twin_check (p, "activation in place", &x, NULL, exact);

        twin_free (&x);
        twin_free (&y);
        twin_free (&dy);
        twin_free (&dx);
      }
}

START_TEST (test_activation)
{
  for_each_dtype (activation_pair, 4);
}
END_TEST

/* ---- masked log-softmax ---- */

/* A random mask: about 30% masked, row 0 one unmasked entry, row 1 none
 * (with 3 rows or more), the others at least one. */
static double *
random_mask (Pair *p, guint rows, guint cols)
{
  double *m = g_new (double, (gsize) rows * cols + 1);

  for (guint i = 0; i < rows; i++)
    {
      double *mi = m + (gsize) i * cols;
      guint any = 0;
      for (guint j = 0; j < cols; j++)
        any += (mi[j] = derl_rng_uniform (&p->rng) < 0.3 ? 0.0 : 1.0) != 0;
      if (i == 0 || (i == 1 && rows >= 3))
        {
          memset (mi, 0, cols * sizeof (double));
          if (i == 0)
            mi[derl_rng_below (&p->rng, cols)] = 1.0;
        }
      else if (!any)
        mi[derl_rng_below (&p->rng, cols)] = 1.0;
    }
  return m;
}

static void
log_softmax_pair (Pair *p)
{
  for (int s = 0; s < 12; s++)
    {
      guint rows = random_dim (p), cols = random_dim (p);
      gsize n = (gsize) rows * cols;
      Twin x = twin_new (p, rows, cols), mask = twin_new (p, rows, cols), l = twin_new (p, rows, cols);
      Twin dl = twin_new (p, rows, cols), dx = twin_new (p, rows, cols);
      g_autofree double *hx = twin_rand (p, &x, -5, 5);
      g_autofree double *hm = random_mask (p, rows, cols);
      g_autofree double *mag = g_new (double, n);
      g_autofree double *fmag = g_new (double, n);

      if (s % 4 == 3) /* large logits: overflow unless stabilised */
        {
          for (gsize i = 0; i < n; i++)
            hx[i] *= 40;
          twin_set (&x, hx);
        }
      twin_set (&mask, hm);
      for (guint i = 0; i < rows; i++)
        {
          double max = 0;
          for (guint j = 0; j < cols; j++)
            max = MAX (max, fabs (hx[(gsize) i * cols + j]));
          for (guint j = 0; j < cols; j++)
            fmag[(gsize) i * cols + j] = 2 * max + log (cols) + 1;
        }
      derl_tensor_masked_log_softmax (x.c, mask.c, l.c);
      derl_tensor_masked_log_softmax (x.g, mask.g, l.g);
      twin_check (p, "masked_log_softmax", &l, fmag, p->tol);
      g_autofree double *hl = tget (l.g);
      for (gsize i = 0; i < n; i++)
        if (hm[i] == 0)
          if (hl[i] != -INFINITY)
            ck_abort_msg ("%s: masked_log_softmax: masked element %" G_GSIZE_FORMAT " is %g", p->label, i, hl[i]);
      for (guint i = 0; i < cols; i++) /* row 0: its only unmasked entry */
        if (hm[i] != 0)
          if (hl[i] != 0.0)
            ck_abort_msg ("%s: the only unmasked entry is %g", p->label, hl[i]);

      /* backward from the same L on both */
      twin_sync (&l);
      g_autofree double *hdl = twin_rand (p, &dl, -1, 1);
      for (guint i = 0; i < rows; i++)
        {
          double sa = 0;
          for (guint j = 0; j < cols; j++)
            sa += hm[(gsize) i * cols + j] != 0 ? fabs (hdl[(gsize) i * cols + j]) : 0.0;
          for (guint j = 0; j < cols; j++)
            mag[(gsize) i * cols + j] = fabs (hdl[(gsize) i * cols + j]) + sa;
        }
      derl_tensor_masked_log_softmax_backward (l.c, mask.c, dl.c, dx.c);
      derl_tensor_masked_log_softmax_backward (l.g, mask.g, dl.g, dx.g);
      twin_check (p, "masked_log_softmax_backward", &dx, mag, 2 * p->tol);
      g_autofree double *hdx = tget (dx.g);
      for (gsize i = 0; i < n; i++)
        if (hm[i] == 0)
          if (hdx[i] != 0.0)
            ck_abort_msg ("%s: backward: masked element %" G_GSIZE_FORMAT " is %g", p->label, i, hdx[i]);

      /* in place: dX over dL, then over L */
      derl_tensor_masked_log_softmax_backward (l.c, mask.c, dl.c, dl.c);
      derl_tensor_masked_log_softmax_backward (l.g, mask.g, dl.g, dl.g);
      twin_check (p, "masked_log_softmax_backward over dL", &dl, mag, 2 * p->tol);
      twin_rand (p, &dl, -1, 1);
      derl_tensor_masked_log_softmax_backward (l.c, mask.c, dl.c, l.c);
      derl_tensor_masked_log_softmax_backward (l.g, mask.g, dl.g, l.g);
      twin_check (p, "masked_log_softmax_backward over L", &l, mag, 2 * p->tol);

      /* forward in place */
      twin_set (&x, hx);
      derl_tensor_masked_log_softmax (x.c, mask.c, x.c);
      derl_tensor_masked_log_softmax (x.g, mask.g, x.g);
      twin_check (p, "masked_log_softmax in place", &x, fmag, p->tol);

      twin_free (&x);
      twin_free (&mask);
      twin_free (&l);
      twin_free (&dl);
      twin_free (&dx);
    }
}

START_TEST (test_masked_log_softmax)
{
  for_each_dtype (log_softmax_pair, 5);
}
END_TEST

/* ---- sampling, argmax, gathers ---- */

static void
choices_pair (Pair *p)
{
  for (int s = 0; s < 8; s++)
    {
      guint rows = random_dim (p), cols = 1 + derl_rng_below (&p->rng, 40);
      Twin x = twin_new (p, rows, cols), mask = twin_new (p, rows, cols), l = twin_new (p, rows, cols);
      g_autofree double *hm = random_mask (p, rows, cols);
      g_autofree double *u = g_new (double, rows);
      g_autofree guint32 *ac = g_new (guint32, rows);
      g_autofree guint32 *ag = g_new (guint32, rows);

      twin_rand (p, &x, -3, 3);
      twin_set (&mask, hm);
      derl_tensor_masked_log_softmax (x.c, mask.c, l.c);
      twin_sync (&l); /* the same L on both */
      g_autofree double *hl = tget (l.c);
      for (guint i = 0; i < rows; i++)
        u[i] = derl_rng_uniform (&p->rng);
      derl_tensor_sample (l.c, mask.c, u, ac);
      derl_tensor_sample (l.g, mask.g, u, ag);
      for (guint i = 0; i < rows; i++)
        {
          if (ac[i] == ag[i])
            continue;
          /* only where exp() rounding decides: u within 1e-12 of a partial sum */
          double cum = 0, margin = INFINITY;
          for (guint j = 0; j < cols; j++)
            if (hm[(gsize) i * cols + j] != 0)
              {
                cum += exp (hl[(gsize) i * cols + j]);
                margin = MIN (margin, fabs (cum - u[i]));
              }
          if (!(margin < 1e-12))
            ck_abort_msg ("%s: sample row %u: %u on the backend, %u on cpu (u %.17g)", p->label, i, ag[i], ac[i],
                          u[i]);
        }

      /* argmax, ties included: values on a coarse grid */
      g_autofree double *grid = g_new (double, (gsize) rows * cols);
      for (gsize i = 0; i < (gsize) rows * cols; i++)
        grid[i] = (double) derl_rng_below (&p->rng, 5);
      twin_set (&l, grid);
      derl_tensor_argmax (l.c, mask.c, ac);
      derl_tensor_argmax (l.g, mask.g, ag);
      for (guint i = 0; i < rows; i++)
        if (ac[i] != ag[i])
          ck_abort_msg ("%s: argmax row %u: %u on the backend, %u on cpu", p->label, i, ag[i], ac[i]);

      /* gather_rows: any rows, repeats included */
      guint n_idx = random_dim (p);
      g_autofree guint32 *idx = g_new (guint32, n_idx);
      for (guint i = 0; i < n_idx; i++)
        idx[i] = derl_rng_below (&p->rng, rows);
      Twin dst = twin_new (p, n_idx, cols);
      derl_tensor_gather_rows (x.c, idx, dst.c);
      derl_tensor_gather_rows (x.g, idx, dst.g);
      twin_check (p, "gather_rows", &dst, NULL, 0.0);

      twin_free (&dst);
      twin_free (&x);
      twin_free (&mask);
      twin_free (&l);
    }
}

START_TEST (test_choices)
{
  for_each_dtype (choices_pair, 6);
}
END_TEST

/* ---- vector ops and Adam ---- */

static void
vector_pair (Pair *p)
{
  for (int s = 0; s < 10; s++)
    {
      guint rows = random_dim (p), cols = random_dim (p);
      Twin x = twin_new (p, rows, cols), y = twin_new (p, rows, cols);
      Twin param = twin_new (p, rows, cols), grad = twin_new (p, rows, cols);
      Twin m = twin_new (p, rows, cols), v = twin_new (p, rows, cols);
      g_autofree double *hx = twin_rand (p, &x, -2, 2);
      g_autofree double *hy = twin_rand (p, &y, -2, 2);
      gsize n = (gsize) rows * cols;
      g_autofree double *mag = g_new (double, n);

      double sc = derl_tensor_sum_squares (x.c), sg = derl_tensor_sum_squares (x.g);
      ck_assert_msg (fabs (sg - sc) <= 1e-12 * sc, "%s: sum_squares: %.17g on the backend, %.17g on cpu", p->label,
                     sg, sc);

      double alpha = derl_rng_uniform_range (&p->rng, -2, 2);
      for (gsize i = 0; i < n; i++)
        mag[i] = fabs (hy[i]) + fabs (alpha * hx[i]);
      derl_tensor_axpy (alpha, x.c, y.c);
      derl_tensor_axpy (alpha, x.g, y.g);
      twin_check (p, "axpy", &y, mag, p->tol);
      derl_tensor_scale (x.c, alpha);
      derl_tensor_scale (x.g, alpha);
      twin_check (p, "scale", &x, NULL, p->tol);

      twin_rand (p, &param, -1, 1);
      DerlAdamParams ap = { 1e-2, 0.9, 0.999, 1e-8, 0 };
      for (guint64 t = 1; t <= 3; t++)
        {
          twin_rand (p, &grad, -1, 1);
          ap.t = t;
          derl_tensor_adam (param.c, grad.c, m.c, v.c, &ap);
          derl_tensor_adam (param.g, grad.g, m.g, v.g, &ap);
          for (gsize i = 0; i < n; i++)
            mag[i] = ap.lr;
          twin_check (p, "adam param", &param, mag, 4 * p->tol);
          twin_check (p, "adam m", &m, NULL, 4 * p->tol);
          twin_check (p, "adam v", &v, NULL, 4 * p->tol);
        }
      twin_free (&x);
      twin_free (&y);
      twin_free (&param);
      twin_free (&grad);
      twin_free (&m);
      twin_free (&v);
    }
}

START_TEST (test_vector_ops)
{
  for_each_dtype (vector_pair, 7);
}
END_TEST

/* ---- several threads on one context ---- */

typedef struct {
  DerlBackend *backend;
  guint index;
  double *result; /* its last product, for the main thread */
} Worker;

static const guint WORK_N = 96;

/* Products of the worker's own matrices, over and over: the same bits
 * each time, whatever the other threads do. */
static gpointer
worker_run (gpointer data)
{
  Worker *w = data;
  DerlTensor *a = derl_tensor_new (w->backend, DERL_DTYPE_F32, WORK_N, WORK_N, NULL);
  DerlTensor *c = derl_tensor_new (w->backend, DERL_DTYPE_F32, WORK_N, WORK_N, NULL);
  double *first = g_new (double, WORK_N * WORK_N), *again = g_new (double, WORK_N * WORK_N);
  gboolean same = a && c;

  for (guint i = 0; same && i < WORK_N * WORK_N; i++)
    first[i] = sin (i + 100.0 * w->index);
  if (same)
    derl_tensor_upload_doubles (a, 0, first, WORK_N * WORK_N);
  for (int iter = 0; same && iter < 40; iter++)
    {
      derl_tensor_gemm (FALSE, TRUE, 1.0 / WORK_N, a, a, 0.0, c);
      derl_tensor_activation (DERL_ACTIVATION_TANH, c, c);
      derl_tensor_download_doubles (c, 0, iter ? again : first, WORK_N * WORK_N);
      same = iter == 0 || memcmp (first, again, WORK_N * WORK_N * sizeof (double)) == 0;
    }
  derl_tensor_free (a);
  derl_tensor_free (c);
  g_free (again);
  if (!same)
    g_clear_pointer (&first, g_free);
  w->result = first;
  return NULL;
}

START_TEST (test_threads)
{
  DerlBackend *b = gpu_backend_new ();
  Worker workers[4];
  GThread *threads[4];

  for (guint i = 0; i < 4; i++)
    {
      workers[i] = (Worker) { b, i, NULL };
      threads[i] = g_thread_new ("derl-test", worker_run, &workers[i]);
    }
  for (guint i = 0; i < 4; i++)
    g_thread_join (threads[i]);
  for (guint i = 0; i < 4; i++)
    {
      ck_assert_msg (workers[i].result != NULL, "worker %u: results changed between runs, or no memory", i);
      /* one thread's product against the same product alone on the cpu */
      DerlBackend *cpu = derl_backend_new_cpu ();
      Worker alone = { cpu, i, NULL };
      worker_run (&alone);
      for (guint k = 0; k < WORK_N * WORK_N; k++)
        if (!(fabs (workers[i].result[k] - alone.result[k]) <= 1e-5))
          ck_abort_msg ("worker %u: element %u: %.9g on the backend, %.9g on cpu", i, k, workers[i].result[k],
                        alone.result[k]);
      g_free (alone.result);
      g_free (workers[i].result);
      derl_backend_free (cpu);
    }
  derl_backend_free (b);
}
END_TEST

/* An allocation the device cannot hold fails with the runtime's message,
 * and the context goes on working. */
START_TEST (test_huge_allocation)
{
  DerlBackend *b = gpu_backend_new ();
  GError *error = NULL;
  DerlTensor *huge = derl_tensor_new (b, DERL_DTYPE_F32, 1u << 20, 1u << 20, &error); /* 4 TiB */

  if (strcmp (derl_feature_get_name (gpu_feature), "cudnn") == 0)
    {
      ck_assert_ptr_null (huge);
      ck_assert_msg (error && strstr (error->message, "cudaMalloc"), "%s", error ? error->message : "no error");
      g_clear_error (&error);
    }
  else
    {
      derl_tensor_free (huge);
      g_clear_error (&error);
    }
  DerlTensor *t = derl_tensor_new (b, DERL_DTYPE_F32, 3, 3, &error);
  ck_assert_msg (t != NULL, "%s", error ? error->message : "");
  derl_tensor_fill (t, 2.0);
  ck_assert (derl_tensor_sum_squares (t) == 36.0);
  derl_tensor_free (t);
  derl_backend_free (b);
}
END_TEST

/* ---- training: PPO on CartPole, on the cpu and on the backend ---- */

/* Trains; returns the update events of the metrics log, in order. */
static JsonArray *
train_updates (const char *backend, const char *dir, const char *log_name, DerlTrainSummary *summary)
{
  g_autofree char *text = g_strdup_printf ("[experiment]\nmode = train\nseed = 3\n[env]\nname = cartpole\n"
                                           "[optimizer]\nname = ppo\n[train]\ntotal_steps = 16384\n"
                                           "eval_episodes = 20\n[backend]\nname = %s\n", backend);
  g_autofree char *path = g_build_filename (dir, log_name, NULL);
  g_autoptr (DerlExperiment) e = derl_test_experiment (registry, text);
  g_autoptr (GError) error = NULL;
  g_autofree char *log = NULL;
  g_auto (GStrv) lines = NULL;
  DerlMetrics *m = derl_metrics_open (path, &error);
  JsonArray *updates = json_array_new ();

  ck_assert_ptr_nonnull (m);
  ck_assert_msg (derl_train_run (e, m, NULL, NULL, NULL, summary, &error), "%s: %s", backend,
                 error ? error->message : "");
  ck_assert (derl_metrics_close (m, &error));
  ck_assert (g_file_get_contents (path, &log, NULL, NULL));
  lines = g_strsplit (log, "\n", -1);
  for (guint i = 0; lines[i]; i++)
    {
      g_autoptr (JsonNode) node = *lines[i] ? json_from_string (lines[i], NULL) : NULL;
      JsonObject *o = node && JSON_NODE_HOLDS_OBJECT (node) ? json_node_get_object (node) : NULL;
      if (o && g_strcmp0 (json_object_get_string_member_with_default (o, "event", ""), "update") == 0)
        json_array_add_object_element (updates, json_object_ref (o));
    }
  return updates;
}

static double
member (JsonArray *updates, guint i, const char *name)
{
  return json_object_get_double_member_with_default (json_array_get_object_element (updates, i), name, NAN);
}

/* The same experiment on both backends gives the same learning curve: the
 * same episodes (mean returns) and, to float tolerance, the same losses over
 * the first updates, before the rounding differences of the two backends'
 * products have grown into different sampled actions; and both learn. */
START_TEST (test_training_matches_cpu)
{
  char *dir = g_dir_make_tmp ("derl-cudnn-XXXXXX", NULL);
  DerlTrainSummary sc, sg;
  JsonArray *cpu = train_updates ("cpu", dir, "cpu.jsonl", &sc);
  JsonArray *gpu = train_updates (derl_feature_get_name (gpu_feature), dir, "backend.jsonl", &sg);
  static const char *const losses[] = { "value_loss", "entropy", "grad_norm" };
  const guint strict = 8;
  guint n = json_array_get_length (cpu);

  ck_assert_uint_eq (json_array_get_length (gpu), n);
  ck_assert_uint_ge (n, strict);
  printf ("update  mean_return cpu  %-6s  entropy cpu  %s\n", derl_feature_get_name (gpu_feature),
          derl_feature_get_name (gpu_feature));
  for (guint i = 0; i < n; i++)
    printf ("%6u  %15.3f  %6.3f  %11.6f  %.6f\n", i + 1, member (cpu, i, "mean_return"), member (gpu, i, "mean_return"),
            member (cpu, i, "entropy"), member (gpu, i, "entropy"));
  for (guint i = 0; i < strict; i++)
    {
      double rc = member (cpu, i, "mean_return"), rg = member (gpu, i, "mean_return");
      ck_assert_msg (fabs (rg - rc) <= 1e-9 * fabs (rc), "update %u: mean return %.17g on the backend, %.17g on cpu",
                     i + 1, rg, rc);
      for (guint k = 0; k < G_N_ELEMENTS (losses); k++)
        {
          double lc = member (cpu, i, losses[k]), lg = member (gpu, i, losses[k]);
          ck_assert_msg (fabs (lg - lc) <= 1e-3 * (fabs (lc) + 1e-3), "update %u: %s %.9g on the backend, %.9g on cpu",
                         i + 1, losses[k], lg, lc);
        }
    }
  /* both learn: the last quarter's mean returns well above the first's */
  double early = 0, late_c = 0, late_g = 0;
  for (guint i = 0; i < n / 4; i++)
    {
      early += member (cpu, i, "mean_return") / (n / 4);
      late_c += member (cpu, n - 1 - i, "mean_return") / (n / 4);
      late_g += member (gpu, n - 1 - i, "mean_return") / (n / 4);
    }
  ck_assert_msg (late_c > 1.5 * early && late_g > 1.5 * early,
                 "no learning: mean return %g over the first quarter, %g (cpu) and %g (backend) over the last",
                 early, late_c, late_g);
  printf ("steps/s: cpu %.0f, %s %.0f\n", sc.steps / MAX (sc.seconds, 1e-9), derl_feature_get_name (gpu_feature),
          sg.steps / MAX (sg.seconds, 1e-9));
  json_array_unref (cpu);
  json_array_unref (gpu);
  derl_test_remove_dir (dir);
}
END_TEST

static Suite *
cudnn_suite (void)
{
  Suite *s = suite_create ("cudnn");
  TCase *tc = tcase_create ("ops");

  tcase_set_timeout (tc, 600);
  tcase_add_test (tc, test_memory);
  tcase_add_test (tc, test_gemm);
  tcase_add_test (tc, test_rows);
  tcase_add_test (tc, test_activation);
  tcase_add_test (tc, test_masked_log_softmax);
  tcase_add_test (tc, test_choices);
  tcase_add_test (tc, test_vector_ops);
  tcase_add_test (tc, test_threads);
  tcase_add_test (tc, test_huge_allocation);
  tcase_add_test (tc, test_training_matches_cpu);
  suite_add_tcase (s, tc);
  return s;
}

int
main (void)
{
  const char *name = g_getenv ("DERL_TEST_BACKEND");
  g_autoptr (GError) error = NULL;
  int failed;

  if (!name || !*name)
    name = "cudnn";
  registry = derl_test_registry_with_backends ();
  derl_registry_add_path (registry, DERL_TEST_PLUGIN_DIR "/optimizers/ppo");
  derl_registry_scan (registry);
  gpu_feature = derl_registry_find (registry, DERL_FEATURE_BACKEND, name);
  if (!gpu_feature)
    {
      const DerlPlugin *plugin = derl_registry_find_plugin (registry, name);
      const GError *why = plugin ? derl_plugin_get_error (plugin) : NULL;
      fprintf (stderr, "FAIL: no backend '%s' in the build tree%s%s\n", name, why ? ": " : "",
               why ? why->message : "");
      derl_registry_free (registry);
      return 1;
    }

  /* Checked here, in the process that runs the tests: CUDA does not
   * survive fork(), so the suite runs without forking. */
  g_autoptr (DerlParams) params = derl_params_new (derl_feature_get_params (gpu_feature));
  DerlBackend *probe = derl_backend_new (gpu_feature, params, &error);
  if (!probe)
    {
      printf ("SKIP: backend '%s' cannot run here: %s\n", name, error->message);
      derl_registry_free (registry);
      return EXIT_SKIP;
    }
  derl_backend_free (probe);

  SRunner *sr = srunner_create (cudnn_suite ());
  srunner_set_fork_status (sr, CK_NOFORK);
  srunner_run_all (sr, CK_NORMAL);
  failed = srunner_ntests_failed (sr);
  srunner_free (sr);
  derl_registry_free (registry);
  return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
