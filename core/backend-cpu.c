/* derl - the built-in CPU tensor backend: float32 through derl's own
 * kernels (core/kernels/: one fixed order of operations on every
 * instruction set), float64 through plain loops in the same order, for
 * gradient checks and references.
 *
 * Every op gives the same bits for the same inputs on every x86-64 CPU,
 * every kernel path (DERL_CPU) and every thread count: large ops are split
 * by rows (or elements) among the backend's threads, and no output element
 * depends on the split.  No op allocates in steady state (they run per
 * minibatch).  Tensors are contiguous row-major host arrays (views
 * included: a view's data points at its first element). */
#include "config.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "derl-private.h"
#include "kernels/kernels.h"
#include "kernels/pool.h"

/* Host memory is aligned to a cache line, which also suits any SIMD width. */
#define CPU_ALIGNMENT 64

/* Ops below these sizes run on the calling thread alone: handing a part
 * to another thread costs about a microsecond. */
#define SPLIT_MIN_FMAS (1u << 17)      /* multiply-adds of a product */
#define SPLIT_MIN_ELEMENTS (1u << 15)  /* elements of an elementwise op */
/* Parts start at multiples of this many rows or elements (whole tiles and
 * cache lines for each thread). */
#define SPLIT_GRAIN 16
/* Parts per thread: more parts than threads even out threads that run at
 * different speeds (a part whose data sits in another core's cache). */
#define PARTS_PER_THREAD 4

/* The value sample() and argmax() return for a row whose every entry is
 * masked: there is no action to return. */
#define NO_ACTION DERL_NO_ACTION

typedef struct {
  guint threads;
  DerlPool *pool;   /* NULL with one thread */
} CpuContext;

/* No parameters: the thread count comes from the run (derl-run's
 * --threads for a single training), through derl_policy_set_threads(). */
static const DerlParamSpec cpu_params[] = {
  DERL_PARAM_END
};

#define F32(t) ((float *) (t)->data)
#define CF32(t) ((const float *) (t)->data)
#define F64(t) ((double *) (t)->data)
#define CF64(t) ((const double *) (t)->data)

static gsize
n_elements (const DerlTensor *t)
{
  return (gsize) t->rows * t->cols;
}

static const DerlKernels *
kernels (void)
{
  return _derl_kernels_get ();
}

/* The range [*lo, *hi) of part @part of @n_parts over @n items, cut at
 * multiples of SPLIT_GRAIN. */
static void
part_range (gsize n, guint part, guint n_parts, gsize *lo, gsize *hi)
{
  gsize grains = (n + SPLIT_GRAIN - 1) / SPLIT_GRAIN;
  gsize per = (grains + n_parts - 1) / n_parts;

  *lo = MIN (n, (gsize) part * per * SPLIT_GRAIN);
  *hi = MIN (n, (gsize) (part + 1) * per * SPLIT_GRAIN);
}

/* How many parts to cut an op of @items rows or elements and @work
 * multiply-adds or elements into: 1 (run it here) when it is small. */
static guint
n_parts_for (const CpuContext *cpu, gsize items, gsize work, gsize min_work)
{
  if (!cpu->pool || work < min_work || items < 2 * SPLIT_GRAIN)
    return 1;
  return (guint) MIN ((gsize) cpu->threads * PARTS_PER_THREAD, items / SPLIT_GRAIN);
}

/* ---- context and memory ---- */

static gboolean
cpu_create (const DerlParams *params, gpointer *ctx, GError **error)
{
  CpuContext *cpu = g_new0 (CpuContext, 1);

  cpu->threads = 1;
  *ctx = cpu;
  return TRUE;
}

static void
cpu_destroy (gpointer ctx)
{
  CpuContext *cpu = ctx;

  _derl_pool_free (cpu->pool);
  g_free (cpu);
}

void
_derl_backend_cpu_set_threads (gpointer ctx, guint n_threads)
{
  CpuContext *cpu = ctx;

  n_threads = MAX (n_threads, 1);
  if (n_threads == cpu->threads)
    return;
  g_clear_pointer (&cpu->pool, _derl_pool_free);
  cpu->threads = n_threads;
  if (n_threads > 1)
    cpu->pool = _derl_pool_new (n_threads);
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

  if (value == 0.0)
    memset (t->data, 0, n * derl_dtype_size (t->dtype));
  else if (t->dtype == DERL_DTYPE_F64)
    for (gsize i = 0; i < n; i++)
      F64 (t)[i] = value;
  else
    for (gsize i = 0; i < n; i++)
      F32 (t)[i] = (float) value;
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

typedef struct {
  const DerlKernels *k;
  gboolean ta, tb;
  guint m, n, kk;
  float alpha, beta;
  const float *a, *b;
  float *c;
  gsize lda, ldb, ldc;
} GemmJob;

/* Rows [lo, hi) of C: the same chains, on fewer rows. */
static void
gemm_part (gpointer data, guint part, guint n_parts)
{
  const GemmJob *j = data;
  gsize lo, hi;

  part_range (j->m, part, n_parts, &lo, &hi);
  if (lo < hi)
    j->k->sgemm (j->ta, j->tb, (guint) (hi - lo), j->n, j->kk, j->alpha, j->a + (j->ta ? lo : lo * j->lda), j->lda,
                 j->b, j->ldb, j->beta, j->c + lo * j->ldc, j->ldc);
}

/* C = alpha op(A) op(B) + beta C as kernels.h defines it: C is not read
 * when beta is 0, A and B are not read when alpha is 0. */
static void
cpu_gemm (gpointer ctx, gboolean trans_a, gboolean trans_b, double alpha, const DerlTensor *a,
          const DerlTensor *b, double beta, DerlTensor *c)
{
  CpuContext *cpu = ctx;
  guint m = c->rows, n = c->cols;
  guint k = trans_a ? a->rows : a->cols;
  gsize lda = MAX (a->cols, 1), ldb = MAX (b->cols, 1), ldc = MAX (c->cols, 1);

  if (m == 0 || n == 0)
    return;
  if (c->dtype == DERL_DTYPE_F64)
    {
      _derl_kernels_dgemm (trans_a, trans_b, m, n, k, alpha, a->data, lda, b->data, ldb, beta, c->data, ldc);
      return;
    }

  GemmJob job = { kernels (), trans_a, trans_b, m, n, k, (float) alpha, (float) beta,
                  a->data, b->data, c->data, lda, ldb, ldc };
  _derl_pool_run (cpu->pool, gemm_part, &job, n_parts_for (cpu, m, (gsize) m * n * k, SPLIT_MIN_FMAS));
}

/* ---- elementwise ops, split by rows or elements ---- */

typedef enum {
  JOB_TANH,
  JOB_TANH_BACKWARD,
  JOB_RELU,
  JOB_RELU_BACKWARD,
  JOB_REPEAT_ROWS,
  JOB_ADD_ROW,
  JOB_SUM_REPEATED,
  JOB_GATHER_ROWS,
  JOB_SUM_ROWS,
} JobKind;

typedef struct {
  const DerlKernels *k;
  JobKind kind;
  gsize n;            /* elements, or rows for the row ops, or columns */
  guint rows, cols, repeat;
  float alpha, beta;
  const float *x, *y;
  const float *dy;
  float *out;
  const guint32 *indices;
} MapJob;

static void
map_part (gpointer data, guint part, guint n_parts)
{
  const MapJob *j = data;
  const DerlKernels *k = j->k;
  gsize lo, hi, c = j->cols;

  part_range (j->n, part, n_parts, &lo, &hi);
  if (lo >= hi)
    return;
  switch (j->kind)
    {
    case JOB_TANH:
      k->tanh (j->x + lo, j->out + lo, hi - lo);
      break;
    case JOB_TANH_BACKWARD:
      k->tanh_backward (j->y + lo, j->dy + lo, j->out + lo, hi - lo);
      break;
    case JOB_RELU:
      k->relu (j->x + lo, j->out + lo, hi - lo);
      break;
    case JOB_RELU_BACKWARD:
      k->relu_backward (j->x + lo, j->dy + lo, j->out + lo, hi - lo);
      break;
    case JOB_REPEAT_ROWS:
      k->repeat_rows (j->x, j->out, lo, (guint) (hi - lo), j->cols, j->repeat);
      break;
    case JOB_ADD_ROW:
      k->add_row (j->x, j->out + lo * c, (guint) (hi - lo), j->cols);
      break;
    case JOB_SUM_REPEATED:
      k->sum_repeated (j->y + lo * j->repeat * c, j->out + lo * c, (guint) (hi - lo), j->cols, j->repeat);
      break;
    case JOB_GATHER_ROWS:
      k->gather_rows (j->x, j->indices + lo, j->out + lo * c, (guint) (hi - lo), j->cols);
      break;
    case JOB_SUM_ROWS:
      /* columns [lo, hi): each one's sum runs over the rows as before */
      k->sum_rows (j->x + lo, j->rows, (guint) (hi - lo), c, j->alpha, j->beta, j->out + lo);
      break;
    }
}

/* Runs @job on the pool when it is large (@work elements), else here. */
static void
run_map (CpuContext *cpu, MapJob *job, gsize work)
{
  job->k = kernels ();
  _derl_pool_run (cpu->pool, map_part, job, n_parts_for (cpu, job->n, work, SPLIT_MIN_ELEMENTS));
}

/* Y[i,:] += b[0,:] for every row i. */
static void
cpu_add_row (gpointer ctx, DerlTensor *y, const DerlTensor *b)
{
  if (y->dtype == DERL_DTYPE_F64)
    {
      for (guint i = 0; i < y->rows; i++)
        for (guint j = 0; j < y->cols; j++)
          F64 (y)[(gsize) i * y->cols + j] += CF64 (b)[j];
      return;
    }
  MapJob job = { .kind = JOB_ADD_ROW, .n = y->rows, .cols = y->cols, .x = CF32 (b), .out = F32 (y) };
  run_map (ctx, &job, n_elements (y));
}

/* Y[i,:] = X[i / repeat,:]. */
static void
cpu_repeat_rows (gpointer ctx, DerlTensor *y, const DerlTensor *x, guint repeat)
{
  if (y->dtype == DERL_DTYPE_F64)
    {
      for (guint i = 0; i < y->rows; i++)
        memcpy (F64 (y) + (gsize) i * y->cols, CF64 (x) + (gsize) (i / repeat) * x->cols, y->cols * sizeof (double));
      return;
    }
  MapJob job = { .kind = JOB_REPEAT_ROWS, .n = y->rows, .cols = y->cols, .repeat = repeat,
                 .x = CF32 (x), .out = F32 (y) };
  run_map (ctx, &job, n_elements (y));
}

/* X[i,:] = Y[i * repeat,:] + Y[i * repeat + 1,:] + ..., added in that order. */
static void
cpu_sum_repeated (gpointer ctx, const DerlTensor *y, guint repeat, DerlTensor *x)
{
  if (x->dtype == DERL_DTYPE_F64)
    {
      for (guint i = 0; i < x->rows; i++)
        for (guint j = 0; j < x->cols; j++)
          {
            double s = CF64 (y)[(gsize) i * repeat * x->cols + j];
            for (guint r = 1; r < repeat; r++)
              s += CF64 (y)[((gsize) i * repeat + r) * x->cols + j];
            F64 (x)[(gsize) i * x->cols + j] = s;
          }
      return;
    }
  MapJob job = { .kind = JOB_SUM_REPEATED, .n = x->rows, .cols = x->cols, .repeat = repeat,
                 .y = CF32 (y), .out = F32 (x) };
  run_map (ctx, &job, n_elements (y));
}

/* out = beta out + alpha sum_i X[i,:], added row after row; as in BLAS, out
 * is not read when beta is 0. */
static void
cpu_sum_rows (gpointer ctx, const DerlTensor *x, double alpha, double beta, DerlTensor *out)
{
  if (x->dtype == DERL_DTYPE_F64)
    {
      double *o = F64 (out);
      for (guint j = 0; j < x->cols; j++)
        o[j] = beta == 0.0 ? 0.0 : beta * o[j];
      for (guint i = 0; i < x->rows; i++)
        for (guint j = 0; j < x->cols; j++)
          o[j] += alpha * CF64 (x)[(gsize) i * x->cols + j];
      return;
    }
  MapJob job = { .kind = JOB_SUM_ROWS, .n = x->cols, .rows = x->rows, .cols = x->cols, .alpha = (float) alpha,
                 .beta = (float) beta, .x = CF32 (x), .out = F32 (out) };
  run_map (ctx, &job, n_elements (x));
}

/* ---- activations ---- */

/* Y = f(X), elementwise; Y may be X. */
static void
cpu_activation (gpointer ctx, DerlActivation f, const DerlTensor *x, DerlTensor *y)
{
  gsize n = n_elements (x);

  if (f != DERL_ACTIVATION_TANH && f != DERL_ACTIVATION_RELU)
    {
      if (y->data != x->data && n > 0)
        memmove (y->data, x->data, n * derl_dtype_size (x->dtype));
      return;
    }
  if (x->dtype == DERL_DTYPE_F64)
    {
      for (gsize i = 0; i < n; i++)
        F64 (y)[i] = f == DERL_ACTIVATION_TANH ? tanh (CF64 (x)[i]) : (CF64 (x)[i] > 0 ? CF64 (x)[i] : 0.0);
      return;
    }
  MapJob job = { .kind = f == DERL_ACTIVATION_TANH ? JOB_TANH : JOB_RELU, .n = n, .x = CF32 (x), .out = F32 (y) };
  run_map (ctx, &job, n);
}

/* dX = dY f'(X): tanh uses Y (1 - Y^2), relu passes dY where X > 0 (0 at
 * X = 0).  dX may be dY. */
static void
cpu_activation_backward (gpointer ctx, DerlActivation f, const DerlTensor *x, const DerlTensor *y,
                         const DerlTensor *dy, DerlTensor *dx)
{
  gsize n = n_elements (x);

  if (f != DERL_ACTIVATION_TANH && f != DERL_ACTIVATION_RELU)
    {
      if (dx->data != dy->data && n > 0)
        memmove (dx->data, dy->data, n * derl_dtype_size (x->dtype));
      return;
    }
  if (x->dtype == DERL_DTYPE_F64)
    {
      for (gsize i = 0; i < n; i++)
        F64 (dx)[i] = f == DERL_ACTIVATION_TANH ? CF64 (dy)[i] * (1 - CF64 (y)[i] * CF64 (y)[i])
                                                : (CF64 (x)[i] > 0 ? CF64 (dy)[i] : 0.0);
      return;
    }
  MapJob job = { .kind = f == DERL_ACTIVATION_TANH ? JOB_TANH_BACKWARD : JOB_RELU_BACKWARD, .n = n,
                 .x = CF32 (x), .y = CF32 (y), .dy = CF32 (dy), .out = F32 (dx) };
  run_map (ctx, &job, n);
}

/* ---- masked softmax, sampling: per row, in double, derl's exp and log ---- */

/* Expands @body for float and for double tensors, T being the element type. */
#define FOR_DTYPE(dtype, ...)        \
  do                                 \
    {                                \
      if ((dtype) == DERL_DTYPE_F64) \
        {                            \
          typedef double T;          \
          __VA_ARGS__                \
        }                            \
      else                           \
        {                            \
          typedef float T;           \
          __VA_ARGS__                \
        }                            \
    }                                \
  while (0)

#define CROW(t, i) ((const T *) (t)->data + (gsize) (i) * (t)->cols)
#define ROW(t, i) ((T *) (t)->data + (gsize) (i) * (t)->cols)

/* Per row: L = X - max - log (sum exp (X - max)) over the unmasked entries
 * (mask non-zero), the sum accumulated in double in column order; masked
 * entries get -inf.  A row whose every entry is masked comes out all -inf.
 * L may be X. */
static void
log_softmax_rows (const DerlTensor *x, const DerlTensor *mask, DerlTensor *l, gsize lo, gsize hi)
{
  FOR_DTYPE (x->dtype, {
    for (gsize i = lo; i < hi; i++)
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
            sum += derl_math_exp ((double) xi[j] - max);
        shift = max + derl_math_log (sum);
        for (guint j = 0; j < x->cols; j++)
          li[j] = mi[j] != 0 ? (T) ((double) xi[j] - shift) : (T) -INFINITY;
      }
  });
}

/* Per row: dX = dL - exp (L) sum (dL over the unmasked entries), the sum in
 * double; masked entries of dX are 0.  dX may be dL. */
static void
log_softmax_backward_rows (const DerlTensor *l, const DerlTensor *mask, const DerlTensor *dl, DerlTensor *dx,
                           gsize lo, gsize hi)
{
  FOR_DTYPE (l->dtype, {
    for (gsize i = lo; i < hi; i++)
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
          dxi[j] = mi[j] != 0 ? (T) (dli[j] - derl_math_exp ((double) li[j]) * sum) : 0;
      }
  });
}

typedef struct {
  const DerlTensor *x, *mask, *dl;   /* x is L for the backward pass */
  DerlTensor *out;
} SoftmaxJob;

static void
softmax_part (gpointer data, guint part, guint n_parts)
{
  const SoftmaxJob *j = data;
  gsize lo, hi;

  part_range (j->x->rows, part, n_parts, &lo, &hi);
  if (j->dl)
    log_softmax_backward_rows (j->x, j->mask, j->dl, j->out, lo, hi);
  else
    log_softmax_rows (j->x, j->mask, j->out, lo, hi);
}

static void
cpu_masked_log_softmax (gpointer ctx, const DerlTensor *x, const DerlTensor *mask, DerlTensor *l)
{
  SoftmaxJob job = { x, mask, NULL, l };
  _derl_pool_run (((CpuContext *) ctx)->pool, softmax_part, &job,
                  n_parts_for (ctx, x->rows, n_elements (x), SPLIT_MIN_ELEMENTS / 4));
}

static void
cpu_masked_log_softmax_backward (gpointer ctx, const DerlTensor *l, const DerlTensor *mask,
                                 const DerlTensor *dl, DerlTensor *dx)
{
  SoftmaxJob job = { l, mask, dl, dx };
  _derl_pool_run (((CpuContext *) ctx)->pool, softmax_part, &job,
                  n_parts_for (ctx, l->rows, n_elements (l), SPLIT_MIN_ELEMENTS / 4));
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
              cum += derl_math_exp ((double) li[j]);
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
static void
cpu_gather_rows (gpointer ctx, const DerlTensor *src, const guint32 *indices, DerlTensor *dst)
{
  if (src->dtype == DERL_DTYPE_F64)
    {
      for (guint i = 0; i < dst->rows; i++)
        memcpy (F64 (dst) + (gsize) i * dst->cols, CF64 (src) + (gsize) indices[i] * src->cols,
                src->cols * sizeof (double));
      return;
    }
  MapJob job = { .kind = JOB_GATHER_ROWS, .n = dst->rows, .cols = dst->cols, .x = CF32 (src), .out = F32 (dst),
                 .indices = indices };
  run_map (ctx, &job, n_elements (dst));
}

/* ---- vector ops and the optimiser ---- */

/* The sum of squares, accumulated in double in element order. */
static double
cpu_sum_squares (gpointer ctx, const DerlTensor *x)
{
  gsize n = n_elements (x);
  double sum = 0.0;

  FOR_DTYPE (x->dtype, {
    const T *xs = x->data;
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

  if (x->dtype == DERL_DTYPE_F64)
    for (gsize i = 0; i < n; i++)
      F64 (x)[i] *= alpha;
  else
    kernels ()->scale (F32 (x), n, (float) alpha);
}

/* Y += alpha X, in the element type. */
static void
cpu_axpy (gpointer ctx, double alpha, const DerlTensor *x, DerlTensor *y)
{
  gsize n = n_elements (x);

  if (x->dtype == DERL_DTYPE_F64)
    for (gsize i = 0; i < n; i++)
      F64 (y)[i] += alpha * CF64 (x)[i];
  else
    kernels ()->axpy (CF32 (x), F32 (y), n, (float) alpha);
}

/* beta^t by squaring: exact operations in a fixed order, the same bits
 * everywhere (libm's pow is not). */
static double
power (double beta, guint64 t)
{
  double result = 1.0;

  for (; t; t >>= 1, beta *= beta)
    if (t & 1)
      result *= beta;
  return result;
}

/* One Adam step, exactly DerlAdamParams' formula, elementwise in the element
 * type; the bias corrections 1 - beta^t are computed in double once. */
static void
cpu_adam (gpointer ctx, DerlTensor *param, const DerlTensor *grad, DerlTensor *m, DerlTensor *v,
          const DerlAdamParams *p)
{
  gsize n = n_elements (param);
  double bc1 = 1.0 - power (p->beta1, p->t);
  double bc2 = 1.0 - power (p->beta2, p->t);

  if (param->dtype == DERL_DTYPE_F64)
    {
      for (gsize i = 0; i < n; i++)
        {
          const double g = CF64 (grad)[i];
          F64 (m)[i] = p->beta1 * F64 (m)[i] + (1.0 - p->beta1) * g;
          F64 (v)[i] = p->beta2 * F64 (v)[i] + (1.0 - p->beta2) * g * g;
          F64 (param)[i] -= p->lr * (F64 (m)[i] / bc1) / (sqrt (F64 (v)[i] / bc2) + p->eps);
        }
      return;
    }
  DerlKernelsAdam a = { (float) p->beta1, (float) (1.0 - p->beta1), (float) p->beta2, (float) (1.0 - p->beta2),
                        (float) p->lr, (float) p->eps, (float) bc1, (float) bc2 };
  kernels ()->adam (F32 (param), CF32 (grad), F32 (m), F32 (v), n, &a);
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
