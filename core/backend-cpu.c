/* derl - the built-in CPU tensor backend: CBLAS for large matrix products,
 * plain C loops for everything else; float32 and float64.
 *
 * Every op is deterministic: the same inputs give the same bits, whatever
 * the thread that calls it (for a given blas_threads).  No op allocates
 * (they run per minibatch).
 * Tensors are contiguous row-major host arrays (views included: a view's
 * data points at its first element), so most ops are flat loops over
 * rows x cols elements. */
#include "config.h"

#include <cblas.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "derl-private.h"

/* Host memory is aligned to a cache line, which also suits any SIMD width. */
#define CPU_ALIGNMENT 64

/* Up to this many multiply-adds (m * n * k) gemm runs plain loops instead
 * of CBLAS.  Measured with OpenBLAS 0.3.21 (one thread, -O2, warm caches),
 * the call costs about 20 ns with its SkylakeX small-matrix kernels and
 * 50-60 ns with its Haswell and Zen kernels, and its kernels are several
 * times faster than the portable loops from about a hundred multiply-adds
 * on: 4 x 4 x 4 ties (0.04 us loop, 0.04-0.06 us BLAS), 8 x 8 x 8 already
 * favours BLAS (f32: 0.22-0.26 us loop, 0.08-0.09 us BLAS), and so do the
 * rollout's products (16 x 64 x 64, f32: 19 us loop, 1.2-1.6 us BLAS).  So
 * only tiny products take the loops. */
#define SMALL_GEMM_MAX_FLOPS 64

/* The value sample() and argmax() return for a row whose every entry is
 * masked: there is no action to return. */
#define NO_ACTION DERL_NO_ACTION

typedef struct {
  int blas_threads;
} CpuContext;

static const DerlParamSpec cpu_params[] = {
  DERL_PARAM_INT_RANGE ("blas_threads", "1", 1, 256,
                        "threads OpenBLAS may use inside one matrix product; keep 1 where derl runs its own threads"),
  DERL_PARAM_END
};

/* FOR_DTYPE (dtype, body): expands @body twice, once with the element type T
 * being float and once double, and runs the one matching @dtype.  Bodies
 * reach tensor elements as T * through ELEMS(). */
#define FOR_DTYPE(dtype, ...)                     \
  do                                              \
    {                                             \
      if ((dtype) == DERL_DTYPE_F64)              \
        {                                         \
          typedef double T;                       \
          __VA_ARGS__                             \
        }                                         \
      else                                        \
        {                                         \
          typedef float T;                        \
          __VA_ARGS__                             \
        }                                         \
    }                                             \
  while (0)

/* Asks for the next loop to be vectorised (see -fopenmp-simd in Makefile.am). */
#define SIMD _Pragma ("omp simd")

/* The elementwise kernels are compiled for the baseline instruction set and
 * for AVX2 and AVX-512, and the widest the CPU has is picked when the
 * library loads (an ifunc).  They have no reductions across vector lanes and
 * the build never contracts to FMA (-ffp-contract=off), so every version
 * gives the same bits; only the speed differs (the float32 tanh is 3-4x
 * faster with AVX-512 than with SSE2). */
#if defined(__x86_64__) && defined(__GNUC__) && defined(__ELF__) && defined(HAVE_TARGET_CLONES)
#define WIDEST_ISA __attribute__ ((target_clones ("avx512f", "avx2", "default")))
#else
#define WIDEST_ISA
#endif

#define ELEMS(t) ((T *) (t)->data)
#define CELEMS(t) ((const T *) (t)->data)
#define ROW(t, i) (ELEMS (t) + (gsize) (i) * (t)->cols)
#define CROW(t, i) (CELEMS (t) + (gsize) (i) * (t)->cols)

/* Math in the element type: float ops for float, so that float32 models do
 * not pay for double precision libm calls. */
#define SQRT_T(x) ((T) (sizeof (T) == sizeof (float) ? sqrtf ((float) (x)) : sqrt ((double) (x))))
#define TANH_T(x) ((T) tanh ((double) (x)))

/* ---- float32 tanh, vectorisable ----
 *
 * libm's tanhf is a scalar call of some 15 ns: with 64-wide tanh layers it
 * was two thirds of PPO's time on CartPole.  This one is a rational
 * function the compiler vectorises (no calls, no branches):
 *     tanh(x) = s P(s^2) / Q(s^2),  s = min(|x|, 9) / 9,  sign restored,
 * P of degree 5 and Q of degree 3, fitted to tanh on [0, 9] for relative
 * error by weighted least squares (Sanathanan-Koerner iterations) and
 * clamped to 1 (float32 tanh is 1 above 9).  Worst relative error against
 * double-precision tanh over [-10, 10] in steps of 1e-4: 3.3e-7 (about 3
 * ulp), checked by tests/test-backend-ops.c. */
static inline float
tanh_f32 (float x)
{
  float a = fabsf (x);
  float s = (a < 9.0f ? a : 9.0f) * (1.0f / 9.0f);
  float t = s * s;
  float p = 8.9999997730808978f + t * (94.288663632711405f + t * (173.39341804317709f
            + t * (44.992212074062138f + t * (-5.1074546712183775f + t * 0.60391835284280115f))));
  float q = 1.0f + t * (37.476497033573843f + t * (156.33427201506282f + t * 122.35994040033751f));
  float y = s * p / q;
  return copysignf (y < 1.0f ? y : 1.0f, x);
}

WIDEST_ISA static void
tanh_f32_array (const float *x, float *y, gsize n)
{
  SIMD
  for (gsize i = 0; i < n; i++)
    y[i] = tanh_f32 (x[i]);
}

static gsize
n_elements (const DerlTensor *t)
{
  return (gsize) t->rows * t->cols;
}

/* ---- context and memory ---- */

/* Always succeeds.  openblas_set_num_threads() is process-global: every CPU
 * backend of the process shares the value of the one created last.  Keeping
 * it at 1 also matters because Debian's pthread build of OpenBLAS otherwise
 * leaves one worker per core spinning in sched_yield() after each call,
 * which oversubscribes the threads derl runs itself. */
static gboolean
cpu_create (const DerlParams *params, gpointer *ctx, GError **error)
{
  CpuContext *cpu = g_new0 (CpuContext, 1);

  cpu->blas_threads = (int) derl_params_get_int (params, "blas_threads");
#ifdef HAVE_OPENBLAS_SET_NUM_THREADS
  openblas_set_num_threads (cpu->blas_threads);
#endif
  *ctx = cpu;
  return TRUE;
}

static void
cpu_destroy (gpointer ctx)
{
  g_free (ctx);
}

static gboolean
cpu_supports (gpointer ctx, DerlDType dtype)
{
  return dtype == DERL_DTYPE_F32 || dtype == DERL_DTYPE_F64;
}

/* CPU_ALIGNMENT-aligned host memory, or NULL with @error when the system
 * cannot provide it (posix_memalign rather than g_aligned_alloc(), which
 * aborts, so that the vtable's error contract holds). */
static gpointer
cpu_alloc (gpointer ctx, gsize bytes, GError **error)
{
  void *data = NULL;

  if (posix_memalign (&data, CPU_ALIGNMENT, MAX (bytes, 1)) != 0)
    {
      g_set_error (error, DERL_RUN_ERROR, DERL_RUN_ERROR_FAILED,
                   "cpu backend: cannot allocate %" G_GSIZE_FORMAT " bytes", bytes);
      return NULL;
    }
  return data;
}

static void
cpu_free (gpointer ctx, gpointer data)
{
  free (data);
}

static void
cpu_upload (gpointer ctx, DerlTensor *dst, gsize offset, const void *src, gsize n)
{
  gsize size = derl_dtype_size (dst->dtype);

  if (n > 0)
    memcpy ((char *) dst->data + offset * size, src, n * size);
}

static void
cpu_download (gpointer ctx, const DerlTensor *src, gsize offset, void *dst, gsize n)
{
  gsize size = derl_dtype_size (src->dtype);

  if (n > 0)
    memcpy (dst, (const char *) src->data + offset * size, n * size);
}

static void
cpu_fill (gpointer ctx, DerlTensor *t, double value)
{
  gsize n = n_elements (t);

  FOR_DTYPE (t->dtype, {
    T *x = ELEMS (t);
    const T val = (T) value;
    if (val == 0)
      memset (x, 0, n * sizeof (T));
    else
      for (gsize i = 0; i < n; i++)
        x[i] = val;
  });
}

/* dst = src; overlapping views are allowed. */
static void
cpu_copy (gpointer ctx, DerlTensor *dst, const DerlTensor *src)
{
  gsize n = n_elements (dst);

  if (n > 0 && dst->data != src->data)
    memmove (dst->data, src->data, n * derl_dtype_size (dst->dtype));
}

/* ---- gemm ---- */

/* C = alpha op(A) op(B) + beta C with plain loops, BLAS semantics included:
 * C is not read when beta is 0, A and B are not read when alpha is 0.  The
 * loops over j that are not reductions run over contiguous memory so that
 * the compiler can vectorise them; the order of the additions is fixed, so
 * the result is deterministic. */
static void
gemm_loops (DerlDType dtype, gboolean trans_a, gboolean trans_b, guint m, guint n, guint k, double alpha,
            const void *a_data, gsize lda, const void *b_data, gsize ldb, double beta, void *c_data,
            gsize ldc)
{
  FOR_DTYPE (dtype, {
    const T *a = a_data;
    const T *b = b_data;
    const T al = (T) alpha;
    const T be = (T) beta;

    for (guint i = 0; i < m; i++)
      {
        T *restrict ci = (T *) c_data + i * ldc;

        if (beta == 0.0)
          memset (ci, 0, n * sizeof (T));
        else if (beta != 1.0)
          for (guint j = 0; j < n; j++)
            ci[j] *= be;
        if (alpha == 0.0)
          continue;

        if (!trans_b)
          for (guint p = 0; p < k; p++)
            {
              const T aip = al * (trans_a ? a[p * lda + i] : a[i * lda + p]);
              const T *restrict bp = b + p * ldb;
              for (guint j = 0; j < n; j++)
                ci[j] += aip * bp[j];
            }
        else
          for (guint j = 0; j < n; j++)
            {
              const T *bj = b + j * ldb;
              T acc = 0;
              if (!trans_a)
                for (guint p = 0; p < k; p++)
                  acc += a[i * lda + p] * bj[p];
              else
                for (guint p = 0; p < k; p++)
                  acc += a[p * lda + i] * bj[p];
              ci[j] += al * acc;
            }
      }
  });
}

/* CBLAS above SMALL_GEMM_MAX_FLOPS multiply-adds, gemm_loops() at or below
 * it and for the degenerate k = 0 and alpha = 0 (C = beta C, A and B not
 * read).  The leading dimensions are the stored column counts (at least 1,
 * as BLAS requires even of empty operands). */
static void
cpu_gemm (gpointer ctx, gboolean trans_a, gboolean trans_b, double alpha, const DerlTensor *a,
          const DerlTensor *b, double beta, DerlTensor *c)
{
  guint m = c->rows, n = c->cols;
  guint k = trans_a ? a->rows : a->cols;
  gsize lda = MAX (a->cols, 1), ldb = MAX (b->cols, 1), ldc = MAX (c->cols, 1);
  enum CBLAS_TRANSPOSE ta = trans_a ? CblasTrans : CblasNoTrans;
  enum CBLAS_TRANSPOSE tb = trans_b ? CblasTrans : CblasNoTrans;

  if (m == 0 || n == 0)
    return;
  if ((guint64) m * n * k <= SMALL_GEMM_MAX_FLOPS || k == 0 || alpha == 0.0)
    gemm_loops (c->dtype, trans_a, trans_b, m, n, k, alpha, a->data, lda, b->data, ldb, beta, c->data, ldc);
  else if (c->dtype == DERL_DTYPE_F64)
    cblas_dgemm (CblasRowMajor, ta, tb, m, n, k, alpha, a->data, lda, b->data, ldb, beta, c->data, ldc);
  else
    cblas_sgemm (CblasRowMajor, ta, tb, m, n, k, (float) alpha, a->data, lda, b->data, ldb, (float) beta,
                 c->data, ldc);
}

/* ---- broadcasts and reductions over rows ---- */

/* Y[i,:] += b[0,:] for every row i. */
WIDEST_ISA static void
cpu_add_row (gpointer ctx, DerlTensor *y, const DerlTensor *b)
{
  FOR_DTYPE (y->dtype, {
    const T *restrict bias = CELEMS (b);
    for (guint i = 0; i < y->rows; i++)
      {
        T *restrict yi = ROW (y, i);
        SIMD
        for (guint j = 0; j < y->cols; j++)
          yi[j] += bias[j];
      }
  });
}

/* Y[i,:] = X[i / repeat,:]. */
WIDEST_ISA static void
cpu_repeat_rows (gpointer ctx, DerlTensor *y, const DerlTensor *x, guint repeat)
{
  /* A loop, not memcpy: rows are short (a call per row cost more than the
   * copy). */
  FOR_DTYPE (y->dtype, {
    for (guint i = 0; i < y->rows; i++)
      {
        T *restrict yi = ROW (y, i);
        const T *restrict xi = CROW (x, i / repeat);
        SIMD
        for (guint j = 0; j < y->cols; j++)
          yi[j] = xi[j];
      }
  });
}

/* X[i,:] = Y[i * repeat,:] + Y[i * repeat + 1,:] + ..., added in that order. */
WIDEST_ISA static void
cpu_sum_repeated (gpointer ctx, const DerlTensor *y, guint repeat, DerlTensor *x)
{
  FOR_DTYPE (x->dtype, {
    for (guint i = 0; i < x->rows; i++)
      {
        T *restrict xi = ROW (x, i);
        memcpy (xi, CROW (y, (gsize) i * repeat), x->cols * sizeof (T));
        for (guint r = 1; r < repeat; r++)
          {
            const T *restrict yr = CROW (y, (gsize) i * repeat + r);
            for (guint j = 0; j < x->cols; j++)
              xi[j] += yr[j];
          }
      }
  });
}

/* out = beta out + alpha sum_i X[i,:], added row after row; as in BLAS, out
 * is not read when beta is 0. */
WIDEST_ISA static void
cpu_sum_rows (gpointer ctx, const DerlTensor *x, double alpha, double beta, DerlTensor *out)
{
  FOR_DTYPE (x->dtype, {
    T *restrict o = ELEMS (out);
    const T al = (T) alpha;
    const T be = (T) beta;
    for (guint j = 0; j < x->cols; j++)
      o[j] = beta == 0.0 ? 0 : be * o[j];
    for (guint i = 0; i < x->rows; i++)
      {
        const T *restrict xi = CROW (x, i);
        SIMD
        for (guint j = 0; j < x->cols; j++)
          o[j] += al * xi[j];
      }
  });
}

/* ---- activations ---- */

/* Y = f(X), elementwise; Y may be X. */
WIDEST_ISA static void
cpu_activation (gpointer ctx, DerlActivation f, const DerlTensor *x, DerlTensor *y)
{
  gsize n = n_elements (x);

  FOR_DTYPE (x->dtype, {
    const T *xs = CELEMS (x);
    T *ys = ELEMS (y);
    switch (f)
      {
      case DERL_ACTIVATION_TANH:
        if (sizeof (T) == sizeof (float))
          tanh_f32_array ((const float *) xs, (float *) ys, n);
        else
          for (gsize i = 0; i < n; i++)
            ys[i] = TANH_T (xs[i]);
        break;
      case DERL_ACTIVATION_RELU:
        for (gsize i = 0; i < n; i++)
          ys[i] = xs[i] > 0 ? xs[i] : 0;
        break;
      case DERL_ACTIVATION_IDENTITY:
      default:
        if (ys != xs && n > 0)
          memmove (ys, xs, n * sizeof (T));
        break;
      }
  });
}

/* dX = dY f'(X): tanh uses Y (1 - Y^2), relu passes dY where X > 0 (0 at
 * X = 0).  dX may be dY. */
WIDEST_ISA static void
cpu_activation_backward (gpointer ctx, DerlActivation f, const DerlTensor *x, const DerlTensor *y,
                         const DerlTensor *dy, DerlTensor *dx)
{
  gsize n = n_elements (x);

  FOR_DTYPE (x->dtype, {
    const T *xs = CELEMS (x);
    const T *ys = CELEMS (y);
    const T *dys = CELEMS (dy);
    T *dxs = ELEMS (dx);
    switch (f)
      {
      case DERL_ACTIVATION_TANH:
        SIMD
        for (gsize i = 0; i < n; i++)
          dxs[i] = dys[i] * (1 - ys[i] * ys[i]);
        break;
      case DERL_ACTIVATION_RELU:
        for (gsize i = 0; i < n; i++)
          dxs[i] = xs[i] > 0 ? dys[i] : 0;
        break;
      case DERL_ACTIVATION_IDENTITY:
      default:
        if (dxs != dys && n > 0)
          memmove (dxs, dys, n * sizeof (T));
        break;
      }
  });
}

/* ---- masked softmax, sampling ---- */

/* Per row: L = X - max - log (sum exp (X - max)) over the unmasked entries
 * (mask non-zero), the sum accumulated in double; masked entries get -inf.
 * A row whose every entry is masked comes out all -inf.  L may be X. */
static void
cpu_masked_log_softmax (gpointer ctx, const DerlTensor *x, const DerlTensor *mask, DerlTensor *l)
{
  FOR_DTYPE (x->dtype, {
    for (guint i = 0; i < x->rows; i++)
      {
        const T *xi = CROW (x, i);
        const T *mi = CROW (mask, i);
        T *li = ROW (l, i);
        double max = -INFINITY, sum = 0.0, shift;

        for (guint j = 0; j < x->cols; j++)
          if (mi[j] != 0 && xi[j] > max)
            max = xi[j];
        for (guint j = 0; j < x->cols; j++)
          if (mi[j] != 0)
            sum += exp ((double) xi[j] - max);
        shift = max + log (sum);
        for (guint j = 0; j < x->cols; j++)
          li[j] = mi[j] != 0 ? (T) ((double) xi[j] - shift) : (T) -INFINITY;
      }
  });
}

/* Per row: dX = dL - exp (L) sum (dL over the unmasked entries), the sum in
 * double; masked entries of dX are 0.  dX may be dL. */
static void
cpu_masked_log_softmax_backward (gpointer ctx, const DerlTensor *l, const DerlTensor *mask,
                                 const DerlTensor *dl, DerlTensor *dx)
{
  FOR_DTYPE (l->dtype, {
    for (guint i = 0; i < l->rows; i++)
      {
        const T *li = CROW (l, i);
        const T *mi = CROW (mask, i);
        const T *dli = CROW (dl, i);
        T *dxi = ROW (dx, i);
        double sum = 0.0;

        for (guint j = 0; j < l->cols; j++)
          if (mi[j] != 0)
            sum += dli[j];
        for (guint j = 0; j < l->cols; j++)
          dxi[j] = mi[j] != 0 ? (T) (dli[j] - exp ((double) li[j]) * sum) : 0;
      }
  });
}

/* Per row: the first unmasked entry j at which the cumulative sum of exp (L)
 * over the unmasked entries (in double) exceeds uniform[row]; the last
 * unmasked entry when rounding leaves the total below uniform[row];
 * NO_ACTION for a row with every entry masked. */
static void
cpu_sample (gpointer ctx, const DerlTensor *l, const DerlTensor *mask, const double *uniform,
            guint32 *actions)
{
  FOR_DTYPE (l->dtype, {
    for (guint i = 0; i < l->rows; i++)
      {
        const T *li = CROW (l, i);
        const T *mi = CROW (mask, i);
        guint32 action = NO_ACTION;
        double cum = 0.0;

        for (guint j = 0; j < l->cols; j++)
          if (mi[j] != 0)
            {
              action = j;
              cum += exp ((double) li[j]);
              if (cum > uniform[i])
                break;
            }
        actions[i] = action;
      }
  });
}

/* Per row: the unmasked entry of largest L, the lowest index on ties;
 * NO_ACTION for a row with every entry masked. */
static void
cpu_argmax (gpointer ctx, const DerlTensor *l, const DerlTensor *mask, guint32 *actions)
{
  FOR_DTYPE (l->dtype, {
    for (guint i = 0; i < l->rows; i++)
      {
        const T *li = CROW (l, i);
        const T *mi = CROW (mask, i);
        guint32 best = NO_ACTION;

        for (guint j = 0; j < l->cols; j++)
          if (mi[j] != 0 && (best == NO_ACTION || li[j] > li[best]))
            best = j;
        actions[i] = best;
      }
  });
}

/* dst[i,:] = src[indices[i],:]; dst must not overlap src. */
WIDEST_ISA static void
cpu_gather_rows (gpointer ctx, const DerlTensor *src, const guint32 *indices, DerlTensor *dst)
{
  /* A loop, not memcpy: candidate rows are a few dozen elements. */
  FOR_DTYPE (src->dtype, {
    for (guint i = 0; i < dst->rows; i++)
      {
        T *restrict di = ROW (dst, i);
        const T *restrict si = CROW (src, indices[i]);
        SIMD
        for (guint j = 0; j < src->cols; j++)
          di[j] = si[j];
      }
  });
}

/* ---- vector ops and the optimiser ---- */

/* The sum of squares, accumulated in double in element order. */
static double
cpu_sum_squares (gpointer ctx, const DerlTensor *x)
{
  gsize n = n_elements (x);
  double sum = 0.0;

  FOR_DTYPE (x->dtype, {
    const T *xs = CELEMS (x);
    for (gsize i = 0; i < n; i++)
      sum += (double) xs[i] * xs[i];
  });
  return sum;
}

/* X *= alpha, in the element type. */
static void
cpu_scale (gpointer ctx, DerlTensor *x, double alpha)
{
  gsize n = n_elements (x);

  FOR_DTYPE (x->dtype, {
    T *xs = ELEMS (x);
    const T al = (T) alpha;
    SIMD
    for (gsize i = 0; i < n; i++)
      xs[i] *= al;
  });
}

/* Y += alpha X, in the element type. */
static void
cpu_axpy (gpointer ctx, double alpha, const DerlTensor *x, DerlTensor *y)
{
  gsize n = n_elements (x);

  FOR_DTYPE (x->dtype, {
    const T *restrict xs = CELEMS (x);
    T *restrict ys = ELEMS (y);
    const T al = (T) alpha;
    for (gsize i = 0; i < n; i++)
      ys[i] += al * xs[i];
  });
}

/* One Adam step, exactly DerlAdamParams' formula, elementwise in the element
 * type; the bias corrections 1 - beta^t are computed in double once. */
WIDEST_ISA static void
cpu_adam (gpointer ctx, DerlTensor *param, const DerlTensor *grad, DerlTensor *m, DerlTensor *v,
          const DerlAdamParams *p)
{
  gsize n = n_elements (param);
  double bc1 = 1.0 - pow (p->beta1, (double) p->t);
  double bc2 = 1.0 - pow (p->beta2, (double) p->t);

  FOR_DTYPE (param->dtype, {
    T *restrict ps = ELEMS (param);
    const T *restrict gs = CELEMS (grad);
    T *restrict ms = ELEMS (m);
    T *restrict vs = ELEMS (v);
    const T b1 = (T) p->beta1, c1 = (T) (1.0 - p->beta1);
    const T b2 = (T) p->beta2, c2 = (T) (1.0 - p->beta2);
    const T lr = (T) p->lr, eps = (T) p->eps;
    const T bias1 = (T) bc1, bias2 = (T) bc2;

    SIMD
    for (gsize i = 0; i < n; i++)
      {
        const T g = gs[i];
        ms[i] = b1 * ms[i] + c1 * g;
        vs[i] = b2 * vs[i] + c2 * g * g;
        ps[i] -= lr * (ms[i] / bias1) / (SQRT_T (vs[i] / bias2) + eps);
      }
  });
}

/* ---- the vtable ---- */

static const DerlBackendVTable cpu_vtable = {
  .create = cpu_create,
  .destroy = cpu_destroy,
  .supports = cpu_supports,
  .alloc = cpu_alloc,
  .free = cpu_free,
  .upload = cpu_upload,
  .download = cpu_download,
  .fill = cpu_fill,
  .copy = cpu_copy,
  .gemm = cpu_gemm,
  .add_row = cpu_add_row,
  .repeat_rows = cpu_repeat_rows,
  .sum_repeated = cpu_sum_repeated,
  .sum_rows = cpu_sum_rows,
  .activation = cpu_activation,
  .activation_backward = cpu_activation_backward,
  .masked_log_softmax = cpu_masked_log_softmax,
  .masked_log_softmax_backward = cpu_masked_log_softmax_backward,
  .sample = cpu_sample,
  .argmax = cpu_argmax,
  .gather_rows = cpu_gather_rows,
  .sum_squares = cpu_sum_squares,
  .scale = cpu_scale,
  .axpy = cpu_axpy,
  .adam = cpu_adam,
};

const DerlBackendVTable *
derl_backend_cpu_vtable (void)
{
  return &cpu_vtable;
}

const DerlParamSpec *
derl_backend_cpu_params (void)
{
  return cpu_params;
}
