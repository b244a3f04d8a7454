/* Tests of the tensor backends' ops (core/backend.c, core/backend-cpu.c and
 * the backend plugins of the build tree, cudnn included where it is built):
 * every op of every backend that can run here, for each dtype it supports,
 * against plain reference loops in double.  A backend that cannot run here
 * (cudnn without a device) is skipped with a note. */
#include "config.h"

#include <math.h>
#include <stdio.h>
#include <string.h>
#include <check.h>
#include <derl/derl.h>
#include "test-util.h"

/* One backend and dtype under test. */
typedef struct {
  DerlBackend *backend;
  DerlDType dtype;
  char *label;   /* "cpu/f32", for messages */
  double tol;    /* relative tolerance of one rounding-sensitive result */
  DerlRng rng;
} Case;

typedef void (*CaseFunc) (Case *c);

/* Runs @func for each dtype a backend feature supports; returns how many
 * dtypes ran, or 0 with a note when the backend cannot run here (no device). */
static guint
run_backend (const DerlFeature *feature, guint index, CaseFunc func)
{
  const char *name = derl_feature_get_name (feature);
  g_autoptr (DerlParams) params = derl_params_new (derl_feature_get_params (feature));
  g_autoptr (GError) error = NULL;
  DerlBackend *backend = derl_backend_new (feature, params, &error);
  guint n_run = 0;

  if (!backend)
    {
      printf ("note: backend '%s' skipped: %s\n", name, error ? error->message : "no reason given");
      return 0;
    }
  for (int d = 0; d < 2; d++)
    {
      DerlDType dtype = d ? DERL_DTYPE_F64 : DERL_DTYPE_F32;
      if (!derl_backend_supports (backend, dtype))
        continue;
      Case c = { .backend = backend, .dtype = dtype, .label = g_strdup_printf ("%s/%s", name, d ? "f64" : "f32"),
                 .tol = d ? 1e-12 : 1e-5 };
      derl_rng_init (&c.rng, 20240601, DERL_RNG_STREAM_PLUGIN, index, d, 0);
      func (&c);
      g_free (c.label);
      n_run++;
    }
  derl_backend_free (backend);
  return n_run;
}

/* Runs @func for every backend feature of the test registry that can be
 * created here and every dtype it supports. */
static void
for_each_case (CaseFunc func)
{
  g_autoptr (DerlRegistry) registry = derl_test_registry_with_backends ();
  guint n_cases = 0;

  for (guint i = 0; i < derl_registry_get_n_features (registry); i++)
    {
      const DerlFeature *feature = derl_registry_get_feature (registry, i);
      if (derl_feature_get_kind (feature) == DERL_FEATURE_BACKEND)
        n_cases += run_backend (feature, i, func);
    }
  ck_assert_uint_ge (n_cases, 2); /* at least the CPU backend, f32 and f64 */
}

/* ---- helpers ---- */

static DerlTensor *
tnew (Case *c, guint rows, guint cols)
{
  g_autoptr (GError) error = NULL;
  DerlTensor *t = derl_tensor_new (c->backend, c->dtype, rows, cols, &error);

  ck_assert_msg (t != NULL, "%s: cannot make a %ux%u tensor: %s", c->label, rows, cols,
                 error ? error->message : "?");
  return t;
}

/* Returns the elements of @t as doubles (free with g_free()). */
static double *
tget (const DerlTensor *t)
{
  gsize n = derl_tensor_n_elements (t);
  double *x = g_new (double, MAX (n, 1));

  derl_tensor_download_doubles (t, 0, x, n);
  return x;
}

static void
tset (DerlTensor *t, const double *x)
{
  derl_tensor_upload_doubles (t, 0, x, derl_tensor_n_elements (t));
}

/* Fills @t with uniform values in [@lo, @hi); returns them as stored, i.e.
 * rounded to the dtype (free with g_free()). */
static double *
trand (Case *c, DerlTensor *t, double lo, double hi)
{
  gsize n = derl_tensor_n_elements (t);
  g_autofree double *x = g_new (double, MAX (n, 1));

  for (gsize i = 0; i < n; i++)
    x[i] = derl_rng_uniform_range (&c->rng, lo, hi);
  tset (t, x);
  return tget (t);
}

static void
trand_fill (Case *c, DerlTensor *t, double lo, double hi)
{
  g_free (trand (c, t, lo, hi));
}

/* Asserts |got - ref| <= tol (|ref| + mag) elementwise (mag NULL: 0); equal
 * values (infinities included) always pass, NaN never does. */
static void
assert_close (Case *c, const char *what, const double *got, const double *ref, const double *mag, gsize n,
              double tol)
{
  for (gsize i = 0; i < n; i++)
    {
      double bound = tol * (fabs (ref[i]) + (mag ? mag[i] : 0.0));
      ck_assert_msg (got[i] == ref[i] || fabs (got[i] - ref[i]) <= bound,
                     "%s: %s: element %" G_GSIZE_FORMAT ": got %.17g, expected %.17g (bound %.3g)", c->label, what,
                     i, got[i], ref[i], bound);
    }
}

static void
assert_exact (Case *c, const char *what, const double *got, const double *ref, gsize n)
{
  assert_close (c, what, got, ref, NULL, n, 0.0);
}

/* Rows whose every element is unchanged, between two snapshots. */
static void
assert_rows_unchanged (Case *c, const char *what, const double *before, const double *after, guint row0,
                       guint row1, guint cols)
{
  assert_exact (c, what, after + (gsize) row0 * cols, before + (gsize) row0 * cols, (gsize) (row1 - row0) * cols);
}

static const guint sizes[] = { 1, 3, 7, 33, 65, 130 };

static guint
random_size (Case *c)
{
  return sizes[derl_rng_below (&c->rng, G_N_ELEMENTS (sizes))];
}

/* ---- memory: fill, copy, upload, download ---- */

static void
memory_case (Case *c)
{
  gsize size = derl_dtype_size (c->dtype);
  g_autoptr (DerlTensor) t = tnew (c, 7, 3);
  g_autoptr (DerlTensor) u = tnew (c, 7, 3);
  g_autofree double *zeros = g_new0 (double, 21);
  g_autofree double *got = tget (t);

  /* new tensors are zero */
  assert_exact (c, "new", got, zeros, 21);

  /* upload of native elements at an offset, download of a part: bit exact */
  g_autofree guint8 *native = g_malloc (5 * size);
  g_autofree guint8 *back = g_malloc0 (7 * size);
  for (int i = 0; i < 5; i++)
    {
      double v = derl_rng_normal (&c->rng);
      if (c->dtype == DERL_DTYPE_F64)
        ((double *) native)[i] = v;
      else
        ((float *) native)[i] = (float) v;
    }
  derl_tensor_upload (t, 4, native, 5);
  derl_tensor_download (t, 3, back, 7);
  ck_assert_msg (memcmp (back + size, native, 5 * size) == 0, "%s: upload/download differ", c->label);
  for (gsize b = 0; b < size; b++)
    ck_assert_msg (back[b] == 0 && back[6 * size + b] == 0, "%s: upload wrote outside its range", c->label);

  /* doubles round to the dtype once */
  double third = 1.0 / 3.0, stored = c->dtype == DERL_DTYPE_F64 ? third : (double) (float) third;
  derl_tensor_upload_doubles (t, 20, &third, 1);
  double read;
  derl_tensor_download_doubles (t, 20, &read, 1);
  ck_assert_msg (read == stored, "%s: upload_doubles stored %.17g", c->label, read);

  /* fill and copy */
  derl_tensor_fill (t, 0.1);
  g_autofree double *filled = tget (t);
  for (int i = 0; i < 21; i++)
    ck_assert_msg (filled[i] == (c->dtype == DERL_DTYPE_F64 ? 0.1 : (double) 0.1f), "%s: fill", c->label);
  g_autofree double *x = trand (c, t, -2, 2);
  derl_tensor_copy (u, t);
  g_autofree double *copied = tget (u);
  assert_exact (c, "copy", copied, x, 21);

  /* empty and one-element tensors */
  g_autoptr (DerlTensor) e = tnew (c, 0, 5);
  derl_tensor_fill (e, 1.0);
  ck_assert_uint_eq (derl_tensor_n_elements (e), 0);
  g_autoptr (DerlTensor) one = tnew (c, 1, 1);
  derl_tensor_fill (one, -2.5);
  ck_assert (derl_tensor_sum_squares (one) == 6.25);
}

START_TEST (test_memory)
{
  for_each_case (memory_case);
}
END_TEST

/* ---- views ---- */

static void
views_case (Case *c)
{
  const guint rows = 9, cols = 6;
  g_autoptr (DerlTensor) p = tnew (c, rows, cols);
  g_autofree double *before = trand (c, p, -1, 1);

  /* fill through a view touches only its rows */
  g_autoptr (DerlTensor) v = derl_tensor_view_rows (p, 2, 4);
  ck_assert_uint_eq (v->rows, 4);
  ck_assert_uint_eq (v->cols, cols);
  derl_tensor_fill (v, 3.5);
  g_autofree double *after = tget (p);
  assert_rows_unchanged (c, "fill view: rows before", before, after, 0, 2, cols);
  assert_rows_unchanged (c, "fill view: rows after", before, after, 6, rows, cols);
  for (guint i = 2 * cols; i < 6 * cols; i++)
    ck_assert_msg (after[i] == 3.5, "%s: fill through a view", c->label);

  /* a gemm into a view, with a view as an operand */
  g_autoptr (DerlTensor) big_a = tnew (c, 8, 5);
  g_autofree double *ha = trand (c, big_a, -1, 1);
  g_autoptr (DerlTensor) a = derl_tensor_view_rows (big_a, 3, 4);
  g_autoptr (DerlTensor) b = tnew (c, 5, cols);
  g_autofree double *hb = trand (c, b, -1, 1);
  derl_tensor_gemm (FALSE, FALSE, 1.0, a, b, 0.0, v);
  g_autofree double *after_gemm = tget (p);
  assert_rows_unchanged (c, "gemm view: rows before", before, after_gemm, 0, 2, cols);
  assert_rows_unchanged (c, "gemm view: rows after", before, after_gemm, 6, rows, cols);
  double ref[4 * 6], mag[4 * 6];
  for (guint i = 0; i < 4; i++)
    for (guint j = 0; j < cols; j++)
      {
        double s = 0, m = 0;
        for (guint q = 0; q < 5; q++)
          {
            s += ha[(3 + i) * 5 + q] * hb[q * cols + j];
            m += fabs (ha[(3 + i) * 5 + q] * hb[q * cols + j]);
          }
        ref[i * cols + j] = s;
        mag[i * cols + j] = m;
      }
  assert_close (c, "gemm into a view", after_gemm + 2 * cols, ref, mag, 4 * cols, c->tol * 3);

  /* a view of a view, elementwise ops through it */
  g_autoptr (DerlTensor) vv = derl_tensor_view_rows (v, 1, 2);
  g_autofree double *snap = tget (p);
  derl_tensor_scale (vv, -2.0);
  g_autofree double *scaled = tget (p);
  assert_rows_unchanged (c, "scale view of view: rows before", snap, scaled, 0, 3, cols);
  assert_rows_unchanged (c, "scale view of view: rows after", snap, scaled, 5, rows, cols);
  for (guint i = 3 * cols; i < 5 * cols; i++)
    ck_assert_msg (scaled[i] == -2.0 * snap[i], "%s: scale through a view of a view", c->label);

  /* reshape shares the memory, row-major */
  g_autoptr (DerlTensor) r = derl_tensor_reshape (p, cols, rows);
  ck_assert_uint_eq (r->rows, cols);
  ck_assert_uint_eq (r->cols, rows);
  g_autofree double *through_r = tget (r);
  assert_exact (c, "reshape", through_r, scaled, rows * cols);
  double val = 0.25;
  derl_tensor_upload_doubles (r, 17, &val, 1);
  g_autofree double *after_r = tget (p);
  ck_assert (after_r[17] == 0.25);

  /* a reshaped view: only the view's elements */
  g_autoptr (DerlTensor) rv = derl_tensor_reshape (v, 1, 4 * cols);
  double ss = 0;
  for (guint i = 2 * cols; i < 6 * cols; i++)
    ss += after_r[i] * after_r[i];
  double got_ss = derl_tensor_sum_squares (rv);
  assert_close (c, "sum_squares of a reshaped view", &got_ss, &ss, NULL, 1, c->tol);

  /* add_row and activation through a view */
  g_autoptr (DerlTensor) bias = tnew (c, 1, cols);
  g_autofree double *hbias = trand (c, bias, -1, 1);
  g_autoptr (DerlTensor) last = derl_tensor_view_rows (p, rows - 1, 1);
  derl_tensor_add_row (last, bias);
  derl_tensor_activation (DERL_ACTIVATION_RELU, last, last);
  g_autofree double *after_add = tget (p);
  assert_rows_unchanged (c, "add_row view", after_r, after_add, 0, rows - 1, cols);
  for (guint j = 0; j < cols; j++)
    {
      double want = MAX (after_r[(rows - 1) * cols + j] + hbias[j], 0.0);
      double got = after_add[(rows - 1) * cols + j];
      assert_close (c, "add_row + relu through a view", &got, &want, NULL, 1, c->tol);
    }
}

START_TEST (test_views)
{
  for_each_case (views_case);
}
END_TEST

/* ---- gemm ---- */

/* C = alpha op(A) op(B) + beta C against a double loop; with @nan_c, C
 * starts as NaN (beta must then be 0: C is not read). */
static void
gemm_check (Case *c, guint m, guint n, guint k, gboolean ta, gboolean tb, double alpha, double beta,
            gboolean nan_c)
{
  g_autoptr (DerlTensor) a = tnew (c, ta ? k : m, ta ? m : k);
  g_autoptr (DerlTensor) b = tnew (c, tb ? n : k, tb ? k : n);
  g_autoptr (DerlTensor) out = tnew (c, m, n);
  g_autofree double *ha = trand (c, a, -1, 1);
  g_autofree double *hb = trand (c, b, -1, 1);
  g_autofree double *hc = trand (c, out, -1, 1);
  g_autofree double *ref = g_new (double, (gsize) m * n + 1);
  g_autofree double *mag = g_new (double, (gsize) m * n + 1);
  g_autofree char *what = g_strdup_printf ("gemm %ux%ux%u trans %d%d alpha %g beta %g%s", m, n, k, ta, tb, alpha,
                                           beta, nan_c ? " (C NaN)" : "");

  if (nan_c)
    derl_tensor_fill (out, NAN);
  for (guint i = 0; i < m; i++)
    for (guint j = 0; j < n; j++)
      {
        double s = 0, sm = 0;
        for (guint q = 0; q < k; q++)
          {
            double av = ta ? ha[(gsize) q * m + i] : ha[(gsize) i * k + q];
            double bv = tb ? hb[(gsize) j * k + q] : hb[(gsize) q * n + j];
            s += av * bv;
            sm += fabs (av * bv);
          }
        double cv = nan_c ? 0.0 : hc[(gsize) i * n + j];
        ref[(gsize) i * n + j] = alpha * s + (beta != 0.0 ? beta * cv : 0.0);
        mag[(gsize) i * n + j] = fabs (alpha) * sm + fabs (beta * cv);
      }
  derl_tensor_gemm (ta, tb, alpha, a, b, beta, out);
  g_autofree double *got = tget (out);
  assert_close (c, what, got, ref, mag, (gsize) m * n, c->tol * sqrt (MAX (k, 1)));
}

static void
gemm_case (Case *c)
{
  /* special shapes: vectors, scalars, and both sides of the CPU backend's
   * small-product threshold (64 multiply-adds) */
  static const guint shapes[][3] = {
    { 1, 1, 1 }, { 1, 7, 1 }, { 7, 1, 1 }, { 1, 1, 33 }, { 3, 3, 7 }, { 4, 4, 4 }, { 4, 4, 5 }, { 1, 64, 1 },
    { 1, 65, 1 }, { 2, 2, 17 }, { 16, 64, 64 }, { 130, 65, 33 }, { 7, 130, 65 }, { 65, 33, 130 }, { 3, 4, 0 },
  };
  guint n_shapes = G_N_ELEMENTS (shapes);

  for (guint s = 0; s < n_shapes + 10; s++)
    {
      guint m, n, k;
      if (s < n_shapes)
        m = shapes[s][0], n = shapes[s][1], k = shapes[s][2];
      else
        m = random_size (c), n = random_size (c), k = random_size (c);
      for (int t = 0; t < 4; t++)
        {
          gboolean ta = t & 1, tb = t >> 1;
          gemm_check (c, m, n, k, ta, tb, 1.0, 0.0, TRUE);
          gemm_check (c, m, n, k, ta, tb, -0.7, 1.3, FALSE);
        }
    }
  /* alpha = 0 scales C; beta = 1 accumulates */
  gemm_check (c, 3, 5, 7, FALSE, FALSE, 0.0, 0.5, FALSE);
  gemm_check (c, 33, 65, 7, TRUE, FALSE, 0.0, 0.5, FALSE);
  gemm_check (c, 3, 5, 7, FALSE, TRUE, 2.0, 1.0, FALSE);
  gemm_check (c, 33, 65, 7, TRUE, TRUE, 2.0, 1.0, FALSE);
}

START_TEST (test_gemm)
{
  for_each_case (gemm_case);
}
END_TEST

/* Same inputs, same bits (both sides of the small-product threshold). */
static void
gemm_deterministic_case (Case *c)
{
  static const guint shapes[][3] = { { 3, 3, 7 }, { 16, 64, 64 }, { 65, 33, 130 } };

  for (guint s = 0; s < G_N_ELEMENTS (shapes); s++)
    {
      guint m = shapes[s][0], n = shapes[s][1], k = shapes[s][2];
      g_autoptr (DerlTensor) a = tnew (c, m, k);
      g_autoptr (DerlTensor) b = tnew (c, k, n);
      g_autoptr (DerlTensor) o1 = tnew (c, m, n);
      g_autoptr (DerlTensor) o2 = tnew (c, m, n);
      trand_fill (c, a, -1, 1);
      trand_fill (c, b, -1, 1);
      derl_tensor_gemm (FALSE, FALSE, 1.0, a, b, 0.0, o1);
      derl_tensor_gemm (FALSE, FALSE, 1.0, a, b, 0.0, o2);
      g_autofree double *r1 = tget (o1);
      g_autofree double *r2 = tget (o2);
      assert_exact (c, "gemm repeated", r2, r1, (gsize) m * n);
    }
}

START_TEST (test_gemm_deterministic)
{
  for_each_case (gemm_deterministic_case);
}
END_TEST

/* ---- row broadcasts and reductions ---- */

static const guint row_shapes[][2] = { { 1, 1 }, { 1, 7 }, { 7, 1 }, { 3, 33 }, { 65, 7 }, { 130, 3 } };

static void
add_row_case (Case *c)
{
  for (guint s = 0; s < G_N_ELEMENTS (row_shapes); s++)
    {
      guint rows = row_shapes[s][0], cols = row_shapes[s][1];
      gsize n = (gsize) rows * cols;
      g_autoptr (DerlTensor) y = tnew (c, rows, cols);
      g_autoptr (DerlTensor) b = tnew (c, 1, cols);
      g_autofree double *hy = trand (c, y, -1, 1);
      g_autofree double *hb = trand (c, b, -1, 1);
      g_autofree double *ref = g_new (double, n);
      g_autofree double *mag = g_new (double, n);
      for (gsize i = 0; i < n; i++)
        {
          ref[i] = hy[i] + hb[i % cols];
          mag[i] = fabs (hy[i]) + fabs (hb[i % cols]);
        }
      derl_tensor_add_row (y, b);
      g_autofree double *got = tget (y);
      assert_close (c, "add_row", got, ref, mag, n, c->tol);
    }
}

START_TEST (test_add_row)
{
  for_each_case (add_row_case);
}
END_TEST

static double
dot (const double *x, const double *y, gsize n, double *mag)
{
  double s = 0;

  *mag = 0;
  for (gsize i = 0; i < n; i++)
    {
      s += x[i] * y[i];
      *mag += fabs (x[i] * y[i]);
    }
  return s;
}

static void
repeated_case (Case *c)
{
  static const guint repeats[] = { 1, 3, 8 };

  for (guint s = 0; s < G_N_ELEMENTS (row_shapes); s++)
    for (guint r = 0; r < G_N_ELEMENTS (repeats); r++)
      {
        guint rows = row_shapes[s][0], cols = row_shapes[s][1], rep = repeats[r];
        gsize nx = (gsize) rows * cols, ny = nx * rep;
        g_autoptr (DerlTensor) x = tnew (c, rows, cols);
        g_autoptr (DerlTensor) y = tnew (c, rows * rep, cols);
        g_autofree double *hx = trand (c, x, -1, 1);
        g_autofree double *hy = trand (c, y, -1, 1);
        g_autofree double *ref = g_new (double, ny);
        g_autofree double *mag = g_new (double, ny);

        /* repeat_rows: exact copies */
        for (gsize i = 0; i < ny; i++)
          {
            gsize row = i / cols, col = i % cols;
            ref[i] = hx[(row / rep) * cols + col];
            mag[i] = fabs (ref[i]);
          }
        derl_tensor_repeat_rows (y, x, rep);
        g_autofree double *got_y = tget (y);
        assert_close (c, "repeat_rows", got_y, ref, mag, ny, 0.0);

        /* sum_repeated (overwrites x) */
        for (gsize i = 0; i < nx; i++)
          {
            gsize row = i / cols, col = i % cols;
            ref[i] = mag[i] = 0;
            for (guint q = 0; q < rep; q++)
              {
                ref[i] += got_y[(row * rep + q) * cols + col];
                mag[i] += fabs (got_y[(row * rep + q) * cols + col]);
              }
          }
        derl_tensor_sum_repeated (y, rep, x);
        g_autofree double *got_x = tget (x);
        assert_close (c, "sum_repeated", got_x, ref, mag, nx, c->tol * rep);

        /* adjointness: <repeat_rows (x), y> = <x, sum_repeated (y)> */
        g_autoptr (DerlTensor) ax = tnew (c, rows * rep, cols);
        g_autofree double *hx2 = trand (c, x, -1, 1);
        derl_tensor_repeat_rows (ax, x, rep);
        g_autofree double *hax = tget (ax);
        g_autofree double *hy2 = trand (c, y, -1, 1);
        g_autoptr (DerlTensor) sy = tnew (c, rows, cols);
        derl_tensor_sum_repeated (y, rep, sy);
        g_autofree double *hsy = tget (sy);
        double m1, m2;
        double lhs = dot (hax, hy2, ny, &m1);
        double rhs = dot (hx2, hsy, nx, &m2);
        assert_close (c, "repeat_rows/sum_repeated adjoint", &lhs, &rhs, &m1, 1, c->tol * rep);
      }
}

START_TEST (test_repeated)
{
  for_each_case (repeated_case);
}
END_TEST

static void
sum_rows_check (Case *c, guint rows, guint cols, double alpha, double beta, gboolean nan_out)
{
  g_autoptr (DerlTensor) x = tnew (c, rows, cols);
  g_autoptr (DerlTensor) out = tnew (c, 1, cols);
  g_autofree double *hx = trand (c, x, -1, 1);
  g_autofree double *ho = trand (c, out, -1, 1);
  g_autofree double *ref = g_new (double, cols);
  g_autofree double *mag = g_new (double, cols);

  if (nan_out)
    derl_tensor_fill (out, NAN);
  for (guint j = 0; j < cols; j++)
    {
      double s = 0, m = 0, o = nan_out ? 0.0 : ho[j];
      for (guint i = 0; i < rows; i++)
        {
          s += hx[(gsize) i * cols + j];
          m += fabs (hx[(gsize) i * cols + j]);
        }
      ref[j] = (beta != 0.0 ? beta * o : 0.0) + alpha * s;
      mag[j] = fabs (beta * o) + fabs (alpha) * m;
    }
  derl_tensor_sum_rows (x, alpha, beta, out);
  g_autofree double *got = tget (out);
  assert_close (c, nan_out ? "sum_rows (out NaN, beta 0)" : "sum_rows", got, ref, mag, cols,
                c->tol * sqrt (rows));
}

static void
sum_rows_case (Case *c)
{
  for (guint s = 0; s < G_N_ELEMENTS (row_shapes); s++)
    {
      guint rows = row_shapes[s][0], cols = row_shapes[s][1];
      sum_rows_check (c, rows, cols, 1.0, 0.0, TRUE);
      sum_rows_check (c, rows, cols, 0.7, -1.2, FALSE);
      sum_rows_check (c, rows, cols, -1.0, 1.0, FALSE);
    }
}

START_TEST (test_sum_rows)
{
  for_each_case (sum_rows_case);
}
END_TEST

/* ---- activations ---- */

static double
act_ref (DerlActivation f, double x)
{
  switch (f)
    {
    case DERL_ACTIVATION_TANH:
      return tanh (x);
    case DERL_ACTIVATION_RELU:
      return x > 0 ? x : 0.0;
    default:
      return x;
    }
}

static const char *const act_names[] = { "identity", "tanh", "relu" };

static void
activation_check (Case *c, DerlActivation f, guint rows, guint cols)
{
  gsize n = (gsize) rows * cols;
  g_autoptr (DerlTensor) x = tnew (c, rows, cols);
  g_autoptr (DerlTensor) y = tnew (c, rows, cols);
  g_autoptr (DerlTensor) dy = tnew (c, rows, cols);
  g_autoptr (DerlTensor) dx = tnew (c, rows, cols);
  g_autofree double *hx = trand (c, x, -3, 3);
  g_autofree double *hdy = trand (c, dy, -1, 1);
  g_autofree double *ref = g_new (double, n);
  g_autofree char *what = g_strdup_printf ("%s %ux%u", act_names[f], rows, cols);

  /* an exact zero: relu(0) = 0 and relu'(0) = 0 */
  double zero = 0.0;
  derl_tensor_upload_doubles (x, 0, &zero, 1);
  hx[0] = 0.0;

  for (gsize i = 0; i < n; i++)
    ref[i] = act_ref (f, hx[i]);
  derl_tensor_activation (f, x, y);
  g_autofree double *hy = tget (y);
  assert_close (c, what, hy, ref, NULL, n, f == DERL_ACTIVATION_TANH ? c->tol : 0.0);

  /* in place */
  g_autoptr (DerlTensor) z = tnew (c, rows, cols);
  derl_tensor_copy (z, x);
  derl_tensor_activation (f, z, z);
  g_autofree double *hz = tget (z);
  assert_close (c, "activation in place", hz, ref, NULL, n, f == DERL_ACTIVATION_TANH ? c->tol : 0.0);

  /* backward, given the y the op returned */
  g_autofree double *mag = g_new (double, n);
  for (gsize i = 0; i < n; i++)
    {
      switch (f)
        {
        case DERL_ACTIVATION_TANH:
          ref[i] = hdy[i] * (1 - hy[i] * hy[i]);
          break;
        case DERL_ACTIVATION_RELU:
          ref[i] = hx[i] > 0 ? hdy[i] : 0.0;
          break;
        default:
          ref[i] = hdy[i];
          break;
        }
      mag[i] = fabs (hdy[i]);
    }
  derl_tensor_activation_backward (f, x, y, dy, dx);
  g_autofree double *hdx = tget (dx);
  assert_close (c, "backward", hdx, ref, mag, n, f == DERL_ACTIVATION_TANH ? 4 * c->tol : 0.0);
}

/* f64: the backward against central differences of sum (w f(x)), all
 * elements perturbed at once (f is elementwise). */
static void
activation_fd_check (Case *c, DerlActivation f)
{
  const guint rows = 5, cols = 7;
  const gsize n = rows * cols;
  const double h = 1e-6;
  g_autoptr (DerlTensor) x = tnew (c, rows, cols);
  g_autoptr (DerlTensor) y = tnew (c, rows, cols);
  g_autoptr (DerlTensor) w = tnew (c, rows, cols);
  g_autoptr (DerlTensor) dx = tnew (c, rows, cols);
  g_autofree double *hx = trand (c, x, -2, 2);
  g_autofree double *hw = trand (c, w, -1, 1);
  g_autofree double *shifted = g_new (double, n);
  g_autofree double *fd = g_new (double, n);
  g_autofree double *mag = g_new (double, n);

  for (gsize i = 0; i < n; i++) /* away from relu's kink */
    hx[i] += hx[i] >= 0 ? 0.05 : -0.05;
  tset (x, hx);
  for (gsize i = 0; i < n; i++)
    shifted[i] = hx[i] + h;
  tset (dx, shifted);
  derl_tensor_activation (f, dx, y);
  g_autofree double *yp = tget (y);
  for (gsize i = 0; i < n; i++)
    shifted[i] = hx[i] - h;
  tset (dx, shifted);
  derl_tensor_activation (f, dx, y);
  g_autofree double *ym = tget (y);
  for (gsize i = 0; i < n; i++)
    {
      fd[i] = hw[i] * (yp[i] - ym[i]) / (2 * h);
      mag[i] = fabs (hw[i]);
    }
  derl_tensor_activation (f, x, y);
  derl_tensor_activation_backward (f, x, y, w, dx);
  g_autofree double *got = tget (dx);
  g_autofree char *what = g_strdup_printf ("%s backward vs finite differences", act_names[f]);
  assert_close (c, what, got, fd, mag, n, 1e-7);
}

static void
activation_case (Case *c)
{
  static const guint shapes[][2] = { { 1, 1 }, { 1, 33 }, { 33, 1 }, { 7, 65 }, { 130, 3 } };

  for (int f = DERL_ACTIVATION_IDENTITY; f <= DERL_ACTIVATION_RELU; f++)
    {
      for (guint s = 0; s < G_N_ELEMENTS (shapes); s++)
        activation_check (c, f, shapes[s][0], shapes[s][1]);
      if (c->dtype == DERL_DTYPE_F64)
        activation_fd_check (c, f);
    }
}

START_TEST (test_activation)
{
  for_each_case (activation_case);
}
END_TEST

/* ---- masked log-softmax ---- */

/* A random mask (about 30% masked) in which row 0 has exactly one unmasked
 * entry, row 1 none (when there are at least 3 rows) and every other row at
 * least one. */
static double *
random_mask (Case *c, guint rows, guint cols)
{
  double *m = g_new (double, (gsize) rows * cols + 1);

  for (guint i = 0; i < rows; i++)
    {
      double *mi = m + (gsize) i * cols;
      guint any = 0;
      for (guint j = 0; j < cols; j++)
        any += (mi[j] = derl_rng_uniform (&c->rng) < 0.3 ? 0.0 : 1.0) != 0;
      if (i == 0 || (i == 1 && rows >= 3))
        {
          for (guint j = 0; j < cols; j++)
            mi[j] = 0.0;
          if (i == 0)
            mi[derl_rng_below (&c->rng, cols)] = 1.0;
        }
      else if (!any)
        mi[derl_rng_below (&c->rng, cols)] = 1.0;
    }
  return m;
}

/* The reference log-softmax of one row; returns the row's max. */
static double
log_softmax_ref (const double *x, const double *mask, guint cols, double *l)
{
  double max = -INFINITY, sum = 0;

  for (guint j = 0; j < cols; j++)
    if (mask[j] != 0 && x[j] > max)
      max = x[j];
  for (guint j = 0; j < cols; j++)
    if (mask[j] != 0)
      sum += exp (x[j] - max);
  for (guint j = 0; j < cols; j++)
    l[j] = mask[j] != 0 ? x[j] - max - log (sum) : -INFINITY;
  return max;
}

static void
log_softmax_check (Case *c, guint rows, guint cols)
{
  gsize n = (gsize) rows * cols;
  g_autoptr (DerlTensor) x = tnew (c, rows, cols);
  g_autoptr (DerlTensor) mask = tnew (c, rows, cols);
  g_autoptr (DerlTensor) l = tnew (c, rows, cols);
  g_autofree double *hx = trand (c, x, -5, 5);
  g_autofree double *hm = random_mask (c, rows, cols);
  g_autofree double *ref = g_new (double, n);
  g_autofree double *mag = g_new (double, n);
  g_autofree char *what = g_strdup_printf ("masked_log_softmax %ux%u", rows, cols);

  /* large logits in the last row: overflow unless stabilised */
  if (rows >= 4)
    {
      for (guint j = 0; j < cols; j++)
        hx[(gsize) (rows - 1) * cols + j] *= 30;
      tset (x, hx);
      g_free (hx);
      hx = tget (x);
    }
  tset (mask, hm);
  for (guint i = 0; i < rows; i++)
    {
      double max = log_softmax_ref (hx + (gsize) i * cols, hm + (gsize) i * cols, cols, ref + (gsize) i * cols);
      for (guint j = 0; j < cols; j++)
        mag[(gsize) i * cols + j] = fabs (hx[(gsize) i * cols + j]) + fabs (max) + 1;
    }
  derl_tensor_masked_log_softmax (x, mask, l);
  g_autofree double *got = tget (l);
  assert_close (c, what, got, ref, mag, n, c->tol);

  for (guint i = 0; i < rows; i++)
    {
      const double *gi = got + (gsize) i * cols, *mi = hm + (gsize) i * cols;
      double total = 0;
      guint n_unmasked = 0;
      for (guint j = 0; j < cols; j++)
        if (mi[j] != 0)
          {
            total += exp (gi[j]);
            n_unmasked++;
          }
        else
          ck_assert_msg (gi[j] == -INFINITY && exp (gi[j]) == 0.0, "%s: %s: masked [%u,%u] is %g", c->label, what,
                         i, j, gi[j]);
      if (n_unmasked > 0)
        ck_assert_msg (fabs (total - 1) <= c->tol * cols, "%s: %s: row %u sums to %.17g", c->label, what, i, total);
      if (n_unmasked == 1)
        for (guint j = 0; j < cols; j++)
          if (mi[j] != 0)
            ck_assert_msg (gi[j] == 0.0, "%s: %s: the only unmasked entry is %g", c->label, what, gi[j]);
    }

  /* in place */
  derl_tensor_masked_log_softmax (x, mask, x);
  g_autofree double *inplace = tget (x);
  assert_close (c, "masked_log_softmax in place", inplace, ref, mag, n, c->tol);
}

static const guint softmax_shapes[][2] = { { 1, 1 }, { 1, 7 }, { 7, 1 }, { 5, 33 }, { 33, 5 }, { 3, 130 }, { 65, 2 } };

static void
log_softmax_case (Case *c)
{
  for (guint s = 0; s < G_N_ELEMENTS (softmax_shapes); s++)
    log_softmax_check (c, softmax_shapes[s][0], softmax_shapes[s][1]);
}

START_TEST (test_masked_log_softmax)
{
  for_each_case (log_softmax_case);
}
END_TEST

static void
log_softmax_backward_check (Case *c, guint rows, guint cols)
{
  gsize n = (gsize) rows * cols;
  g_autoptr (DerlTensor) x = tnew (c, rows, cols);
  g_autoptr (DerlTensor) mask = tnew (c, rows, cols);
  g_autoptr (DerlTensor) l = tnew (c, rows, cols);
  g_autoptr (DerlTensor) dl = tnew (c, rows, cols);
  g_autoptr (DerlTensor) dx = tnew (c, rows, cols);
  g_autofree double *hm = random_mask (c, rows, cols);
  g_autofree double *hdl = trand (c, dl, -1, 1);
  g_autofree double *ref = g_new (double, n);
  g_autofree double *mag = g_new (double, n);
  g_autofree char *what = g_strdup_printf ("masked_log_softmax_backward %ux%u", rows, cols);

  trand_fill (c, x, -3, 3);
  tset (mask, hm);
  derl_tensor_masked_log_softmax (x, mask, l);
  g_autofree double *hl = tget (l);
  for (guint i = 0; i < rows; i++)
    {
      const double *li = hl + (gsize) i * cols, *mi = hm + (gsize) i * cols, *dli = hdl + (gsize) i * cols;
      double s = 0, sa = 0;
      for (guint j = 0; j < cols; j++)
        if (mi[j] != 0)
          {
            s += dli[j];
            sa += fabs (dli[j]);
          }
      for (guint j = 0; j < cols; j++)
        {
          ref[(gsize) i * cols + j] = mi[j] != 0 ? dli[j] - exp (li[j]) * s : 0.0;
          mag[(gsize) i * cols + j] = mi[j] != 0 ? fabs (dli[j]) + exp (li[j]) * sa : 0.0;
        }
    }
  derl_tensor_masked_log_softmax_backward (l, mask, dl, dx);
  g_autofree double *got = tget (dx);
  assert_close (c, what, got, ref, mag, n, 2 * c->tol);
  for (gsize i = 0; i < n; i++)
    if (hm[i] == 0)
      ck_assert_msg (got[i] == 0.0, "%s: %s: masked element %" G_GSIZE_FORMAT " is %g", c->label, what, i, got[i]);

  /* in place (dx = dl) */
  derl_tensor_masked_log_softmax_backward (l, mask, dl, dl);
  g_autofree double *inplace = tget (dl);
  assert_close (c, "masked_log_softmax_backward in place", inplace, ref, mag, n, 2 * c->tol);
}

/* f64: the gradient of F(x) = sum over unmasked j of w_j L_j(x) against
 * central differences, one element at a time. */
static void
log_softmax_fd_check (Case *c)
{
  const guint rows = 4, cols = 7;
  const gsize n = rows * cols;
  const double h = 1e-5;
  g_autoptr (DerlTensor) x = tnew (c, rows, cols);
  g_autoptr (DerlTensor) mask = tnew (c, rows, cols);
  g_autoptr (DerlTensor) l = tnew (c, rows, cols);
  g_autoptr (DerlTensor) w = tnew (c, rows, cols);
  g_autoptr (DerlTensor) dx = tnew (c, rows, cols);
  g_autofree double *hx = trand (c, x, -3, 3);
  g_autofree double *hm = random_mask (c, rows, cols);
  g_autofree double *hw = trand (c, w, -1, 1);
  g_autofree double *fd = g_new (double, n);
  g_autofree double *mag = g_new (double, n);

  tset (mask, hm);
  for (gsize k = 0; k < n; k++)
    {
      double f[2];
      for (int side = 0; side < 2; side++)
        {
          double xk = hx[k] + (side ? -h : h);
          derl_tensor_upload_doubles (x, k, &xk, 1);
          derl_tensor_masked_log_softmax (x, mask, l);
          g_autofree double *hl = tget (l);
          f[side] = 0;
          for (gsize j = 0; j < n; j++)
            if (hm[j] != 0)
              f[side] += hw[j] * hl[j];
        }
      derl_tensor_upload_doubles (x, k, &hx[k], 1);
      fd[k] = (f[0] - f[1]) / (2 * h);
      mag[k] = 1.0;
    }
  derl_tensor_masked_log_softmax (x, mask, l);
  derl_tensor_masked_log_softmax_backward (l, mask, w, dx);
  g_autofree double *got = tget (dx);
  assert_close (c, "masked_log_softmax_backward vs finite differences", got, fd, mag, n, 1e-7);
}

static void
log_softmax_backward_case (Case *c)
{
  for (guint s = 0; s < G_N_ELEMENTS (softmax_shapes); s++)
    log_softmax_backward_check (c, softmax_shapes[s][0], softmax_shapes[s][1]);
  if (c->dtype == DERL_DTYPE_F64)
    log_softmax_fd_check (c);
}

START_TEST (test_masked_log_softmax_backward)
{
  for_each_case (log_softmax_backward_case);
}
END_TEST

/* ---- sample and argmax ---- */

/* The reference inverse CDF over one row of L; G_MAXUINT32 when all masked. */
static guint32
sample_ref (const double *l, const double *mask, guint cols, double u, double *margin)
{
  double cum = 0;
  guint32 last = G_MAXUINT32;

  *margin = INFINITY;
  for (guint j = 0; j < cols; j++)
    if (mask[j] != 0)
      {
        last = j;
        cum += exp (l[j]);
        *margin = MIN (*margin, fabs (cum - u));
        if (cum > u)
          return j;
      }
  return last;
}

static void
sample_case (Case *c)
{
  const guint cols = 7, n_draws = 20000;
  static const double mask_row[7] = { 0, 1, 1, 0, 1, 1, 0 };
  double x_row[7];
  gsize n = (gsize) n_draws * cols;
  g_autofree double *hx = g_new (double, n);
  g_autofree double *hm = g_new (double, n);
  g_autofree double *u = g_new (double, n_draws);
  g_autofree guint32 *actions = g_new (guint32, n_draws);
  g_autoptr (DerlTensor) x = tnew (c, n_draws, cols);
  g_autoptr (DerlTensor) mask = tnew (c, n_draws, cols);
  g_autoptr (DerlTensor) l = tnew (c, n_draws, cols);
  guint counts[7] = { 0 };

  /* one distribution in every row; masked logits large, to be ignored */
  for (guint j = 0; j < cols; j++)
    x_row[j] = mask_row[j] != 0 ? derl_rng_uniform_range (&c->rng, -1.5, 1.5) : 5.0;
  for (guint i = 0; i < n_draws; i++)
    {
      memcpy (hx + (gsize) i * cols, x_row, sizeof x_row);
      memcpy (hm + (gsize) i * cols, mask_row, sizeof mask_row);
      u[i] = derl_rng_uniform (&c->rng);
    }
  tset (x, hx);
  tset (mask, hm);
  derl_tensor_masked_log_softmax (x, mask, l);
  g_autofree double *hl = tget (l);
  derl_tensor_sample (l, mask, u, actions);
  for (guint i = 0; i < n_draws; i++)
    {
      double margin;
      guint32 want = sample_ref (hl, mask_row, cols, u[i], &margin);
      ck_assert_msg (actions[i] < cols && mask_row[actions[i]] != 0, "%s: sample chose %u", c->label, actions[i]);
      ck_assert_msg (actions[i] == want || margin < 1e-5, "%s: sample: u %.17g gave %u, expected %u", c->label, u[i],
                     actions[i], want);
      counts[actions[i]]++;
    }
  for (guint j = 0; j < cols; j++)
    {
      double p = exp (hl[j]), freq = (double) counts[j] / n_draws;
      double sigma = sqrt (p * (1 - p) / n_draws);
      ck_assert_msg (fabs (freq - p) <= 4 * sigma + 1e-12, "%s: sample: action %u drawn %g of the time, p = %g",
                     c->label, j, freq, p);
    }

  /* the ends of [0, 1): first and last unmasked entries */
  g_autoptr (DerlTensor) l2 = derl_tensor_view_rows (l, 0, 2);
  g_autoptr (DerlTensor) m2 = derl_tensor_view_rows (mask, 0, 2);
  double ends[2] = { 0.0, nextafter (1.0, 0.0) };
  guint32 picked[2];
  derl_tensor_sample (l2, m2, ends, picked);
  ck_assert_msg (picked[0] == 1 && picked[1] == 5, "%s: sample at 0 and 1-: %u %u", c->label, picked[0], picked[1]);

  /* a single unmasked entry is always drawn */
  g_autoptr (DerlTensor) x1 = tnew (c, 3, cols);
  g_autoptr (DerlTensor) mask1 = tnew (c, 3, cols);
  g_autoptr (DerlTensor) l1 = tnew (c, 3, cols);
  double one_hot[3 * 7] = { 0 };
  double us[3] = { 0.0, 0.5, nextafter (1.0, 0.0) };
  guint32 got1[3];
  for (int i = 0; i < 3; i++)
    one_hot[i * 7 + 4] = 1.0;
  trand_fill (c, x1, -2, 2);
  tset (mask1, one_hot);
  derl_tensor_masked_log_softmax (x1, mask1, l1);
  derl_tensor_sample (l1, mask1, us, got1);
  for (int i = 0; i < 3; i++)
    ck_assert_msg (got1[i] == 4, "%s: sample with one unmasked entry gave %u", c->label, got1[i]);
}

START_TEST (test_sample)
{
  for_each_case (sample_case);
}
END_TEST

static void
argmax_case (Case *c)
{
  const guint cols = 7;
  /* values and masks; masked entries hold large values or -inf */
  static const double vals[][7] = {
    { 0.1, 0.5, 3.0, -1.0, 2.0, 3.0, 0.0 },       /* tie at 2 and 5 -> 2 */
    { 10.0, 1.0, 2.0, 4.0, 4.0, -3.0, 9.0 },      /* masked 0 and 6; tie at 3 and 4 -> 3 */
    { 5.0, 5.0, 5.0, 5.0, 5.0, 5.0, -7.0 },       /* masked all but the last -> 6 */
    { 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0 },        /* all equal -> 0 */
    { -INFINITY, -2.0, -1.0, -INFINITY, -1.5, -1.0, -INFINITY }, /* log-probs, tie -> 2 */
  };
  static const double masks[][7] = {
    { 1, 1, 1, 1, 1, 1, 1 },
    { 0, 1, 1, 1, 1, 1, 0 },
    { 0, 0, 0, 0, 0, 0, 1 },
    { 1, 1, 1, 1, 1, 1, 1 },
    { 0, 1, 1, 0, 1, 1, 0 },
  };
  static const guint32 expected[] = { 2, 3, 6, 0, 2 };
  const guint rows = G_N_ELEMENTS (expected);
  g_autoptr (DerlTensor) l = tnew (c, rows, cols);
  g_autoptr (DerlTensor) mask = tnew (c, rows, cols);
  guint32 got[G_N_ELEMENTS (expected)];

  tset (l, &vals[0][0]);
  tset (mask, &masks[0][0]);
  derl_tensor_argmax (l, mask, got);
  for (guint i = 0; i < rows; i++)
    ck_assert_msg (got[i] == expected[i], "%s: argmax row %u: %u, expected %u", c->label, i, got[i], expected[i]);

  /* random rows against a reference */
  const guint rr = 33, rc = 65;
  g_autoptr (DerlTensor) lr = tnew (c, rr, rc);
  g_autoptr (DerlTensor) mr = tnew (c, rr, rc);
  g_autofree double *hl = trand (c, lr, -3, 3);
  g_autofree double *hm = random_mask (c, rr, rc);
  g_autofree guint32 *gr = g_new (guint32, rr);
  tset (mr, hm);
  derl_tensor_argmax (lr, mr, gr);
  for (guint i = 0; i < rr; i++)
    {
      guint32 best = G_MAXUINT32;
      for (guint j = 0; j < rc; j++)
        if (hm[i * rc + j] != 0 && (best == G_MAXUINT32 || hl[i * rc + j] > hl[i * rc + best]))
          best = j;
      if (best == G_MAXUINT32)
        continue; /* an all-masked row: no action to expect */
      ck_assert_msg (gr[i] == best, "%s: argmax random row %u: %u, expected %u", c->label, i, gr[i], best);
    }
}

START_TEST (test_argmax)
{
  for_each_case (argmax_case);
}
END_TEST

/* ---- gather, vector ops, Adam ---- */

static void
gather_rows_case (Case *c)
{
  static const guint32 idx[] = { 8, 0, 3, 3, 8, 1, 7, 2, 0, 5, 6, 4 };
  static const guint col_counts[] = { 1, 5, 33 };

  for (guint s = 0; s < G_N_ELEMENTS (col_counts); s++)
    {
      guint cols = col_counts[s];
      g_autoptr (DerlTensor) src = tnew (c, 9, cols);
      g_autoptr (DerlTensor) dst = tnew (c, G_N_ELEMENTS (idx), cols);
      g_autofree double *hs = trand (c, src, -1, 1);
      g_autofree double *ref = g_new (double, G_N_ELEMENTS (idx) * cols);
      for (guint i = 0; i < G_N_ELEMENTS (idx); i++)
        memcpy (ref + i * cols, hs + idx[i] * cols, cols * sizeof (double));
      derl_tensor_gather_rows (src, idx, dst);
      g_autofree double *got = tget (dst);
      assert_exact (c, "gather_rows", got, ref, G_N_ELEMENTS (idx) * cols);
    }
}

START_TEST (test_gather_rows)
{
  for_each_case (gather_rows_case);
}
END_TEST

static void
vector_ops_case (Case *c)
{
  static const guint shapes[][2] = { { 1, 1 }, { 1, 33 }, { 33, 1 }, { 7, 65 }, { 130, 130 } };

  for (guint s = 0; s < G_N_ELEMENTS (shapes); s++)
    {
      guint rows = shapes[s][0], cols = shapes[s][1];
      gsize n = (gsize) rows * cols;
      g_autoptr (DerlTensor) x = tnew (c, rows, cols);
      g_autoptr (DerlTensor) y = tnew (c, rows, cols);
      g_autofree double *hx = trand (c, x, -2, 2);
      g_autofree double *hy = trand (c, y, -2, 2);
      g_autofree double *ref = g_new (double, n);
      g_autofree double *mag = g_new (double, n);

      /* sum_squares */
      double ss = 0;
      for (gsize i = 0; i < n; i++)
        ss += hx[i] * hx[i];
      double got_ss = derl_tensor_sum_squares (x);
      assert_close (c, "sum_squares", &got_ss, &ss, NULL, 1, c->tol);

      /* axpy */
      for (gsize i = 0; i < n; i++)
        {
          ref[i] = hy[i] + 0.3 * hx[i];
          mag[i] = fabs (hy[i]) + fabs (0.3 * hx[i]);
        }
      derl_tensor_axpy (0.3, x, y);
      g_autofree double *got_y = tget (y);
      assert_close (c, "axpy", got_y, ref, mag, n, c->tol);

      /* scale */
      for (gsize i = 0; i < n; i++)
        ref[i] = -1.7 * hx[i];
      derl_tensor_scale (x, -1.7);
      g_autofree double *got_x = tget (x);
      assert_close (c, "scale", got_x, ref, NULL, n, c->tol);
    }
}

START_TEST (test_vector_ops)
{
  for_each_case (vector_ops_case);
}
END_TEST

static void
adam_case (Case *c)
{
  const guint rows = 7, cols = 13;
  const gsize n = rows * cols;
  g_autoptr (DerlTensor) param = tnew (c, rows, cols);
  g_autoptr (DerlTensor) grad = tnew (c, rows, cols);
  g_autoptr (DerlTensor) m = tnew (c, rows, cols);
  g_autoptr (DerlTensor) v = tnew (c, rows, cols);
  g_autofree double *p = trand (c, param, -1, 1);
  g_autofree double *rm = g_new0 (double, n);
  g_autofree double *rv = g_new0 (double, n);
  g_autofree double *mag = g_new (double, n);
  DerlAdamParams ap = { 1e-2, 0.9, 0.999, 1e-8, 0 };

  for (guint64 t = 1; t <= 3; t++)
    {
      g_autofree double *g = trand (c, grad, -1, 1);
      ap.t = t;
      derl_tensor_adam (param, grad, m, v, &ap);
      double bc1 = 1 - pow (ap.beta1, t), bc2 = 1 - pow (ap.beta2, t);
      for (gsize i = 0; i < n; i++)
        {
          rm[i] = ap.beta1 * rm[i] + (1 - ap.beta1) * g[i];
          rv[i] = ap.beta2 * rv[i] + (1 - ap.beta2) * g[i] * g[i];
          p[i] -= ap.lr * (rm[i] / bc1) / (sqrt (rv[i] / bc2) + ap.eps);
          mag[i] = ap.lr;
        }
      g_autofree double *gp = tget (param);
      g_autofree double *gm = tget (m);
      g_autofree double *gv = tget (v);
      assert_close (c, "adam param", gp, p, mag, n, 4 * c->tol);
      assert_close (c, "adam m", gm, rm, NULL, n, 4 * c->tol);
      assert_close (c, "adam v", gv, rv, NULL, n, 4 * c->tol);
    }
}

/* The CPU backend's float32 tanh is its own vectorised rational
 * approximation: at most 4e-7 relative error (3.4 ulp; 3.3e-7 measured)
 * against double-precision tanh over [-10, 10] in steps of 1e-4, exact at
 * 0 and saturating to +-1. */
START_TEST (test_cpu_tanh_accuracy)
{
  DerlBackend *b = derl_backend_new_cpu ();
  const guint n = 200001 + 4;
  DerlTensor *x = derl_tensor_new (b, DERL_DTYPE_F32, 1, n, NULL);
  DerlTensor *y = derl_tensor_new (b, DERL_DTYPE_F32, 1, n, NULL);
  float *in = g_new (float, n), *out = g_new (float, n);
  double worst = 0;

  for (guint i = 0; i < n - 4; i++)
    in[i] = (float) (-10.0 + 1e-4 * i);
  in[n - 4] = 0.0f;
  in[n - 3] = 1e-30f;
  in[n - 2] = 100.0f;
  in[n - 1] = -1e30f;
  derl_tensor_upload (x, 0, in, n);
  derl_tensor_activation (DERL_ACTIVATION_TANH, x, y);
  derl_tensor_download (y, 0, out, n);
  for (guint i = 0; i < n; i++)
    {
      double ref = tanh ((double) in[i]);
      double err = ref == 0 ? fabs (out[i]) : fabs (out[i] - ref) / fabs (ref);
      worst = MAX (worst, err);
    }
  ck_assert_msg (worst < 4e-7, "worst relative error %g", worst);
  ck_assert (out[n - 4] == 0.0f && out[n - 3] == 1e-30f && out[n - 2] == 1.0f && out[n - 1] == -1.0f);
  g_free (in);
  g_free (out);
  derl_tensor_free (x);
  derl_tensor_free (y);
  derl_backend_free (b);
}
END_TEST

START_TEST (test_adam)
{
  for_each_case (adam_case);
}
END_TEST

static Suite *
backend_ops_suite (void)
{
  Suite *s = suite_create ("backend-ops");
  TCase *tc = tcase_create ("core");

  tcase_add_test (tc, test_memory);
  tcase_add_test (tc, test_views);
  tcase_add_test (tc, test_gemm);
  tcase_add_test (tc, test_gemm_deterministic);
  tcase_add_test (tc, test_add_row);
  tcase_add_test (tc, test_repeated);
  tcase_add_test (tc, test_sum_rows);
  tcase_add_test (tc, test_activation);
  tcase_add_test (tc, test_masked_log_softmax);
  tcase_add_test (tc, test_masked_log_softmax_backward);
  tcase_add_test (tc, test_sample);
  tcase_add_test (tc, test_argmax);
  tcase_add_test (tc, test_gather_rows);
  tcase_add_test (tc, test_vector_ops);
  tcase_add_test (tc, test_adam);
  tcase_add_test (tc, test_cpu_tanh_accuracy);
  suite_add_tcase (s, tc);
  return s;
}

DERL_TEST_MAIN (backend_ops_suite)
