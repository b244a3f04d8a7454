/* derl - the elementwise float32 kernels, written once and included by
 * each instruction set's file (generic.c, avx2.c, avx512.c), which the
 * build compiles with that set's flags and -ffp-contract=off.  Each
 * element goes through the same IEEE operations in the same order on
 * every path; the compiler only vectorises across elements. */
#pragma once

#include <math.h>
#include <string.h>
#include "kernels.h"

/* Asks for the next loop to be vectorised (-fopenmp-simd). */
#define LOOPS_SIMD _Pragma ("omp simd")

/* tanh(x) = s P(s^2) / Q(s^2), s = min(|x|, 9) / 9, sign restored: P of
 * degree 5 and Q of degree 3 fitted to tanh on [0, 9] for relative error
 * (Sanathanan-Koerner iterations), clamped to 1 (float32 tanh is 1 above
 * 9).  Worst relative error against double tanh over [-10, 10]: 3.3e-7
 * (tests/test-backend-ops.c).  No calls, no branches: it vectorises. */
static inline float
loops_tanh1 (float x)
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

static void
loops_tanh (const float *x, float *y, gsize n)
{
  LOOPS_SIMD
  for (gsize i = 0; i < n; i++)
    y[i] = loops_tanh1 (x[i]);
}

static void
loops_tanh_backward (const float *y, const float *dy, float *dx, gsize n)
{
  LOOPS_SIMD
  for (gsize i = 0; i < n; i++)
    dx[i] = dy[i] * (1.0f - y[i] * y[i]);
}

static void
loops_relu (const float *x, float *y, gsize n)
{
  LOOPS_SIMD
  for (gsize i = 0; i < n; i++)
    y[i] = x[i] > 0.0f ? x[i] : 0.0f;
}

static void
loops_relu_backward (const float *x, const float *dy, float *dx, gsize n)
{
  LOOPS_SIMD
  for (gsize i = 0; i < n; i++)
    dx[i] = x[i] > 0.0f ? dy[i] : 0.0f;
}

/* A loop per row, not memcpy: rows are short (a call per row cost more
 * than the copy). */
static void
loops_repeat_rows (const float *x, float *y, gsize row0, guint rows, guint cols, guint repeat)
{
  for (gsize i = row0; i < row0 + rows; i++)
    {
      float *restrict yi = y + (gsize) i * cols;
      const float *restrict xi = x + (gsize) (i / repeat) * cols;
      LOOPS_SIMD
      for (guint j = 0; j < cols; j++)
        yi[j] = xi[j];
    }
}

static void
loops_sum_repeated (const float *y, float *x, guint rows, guint cols, guint repeat)
{
  for (guint i = 0; i < rows; i++)
    {
      float *restrict xi = x + (gsize) i * cols;
      const float *restrict y0 = y + (gsize) i * repeat * cols;
      LOOPS_SIMD
      for (guint j = 0; j < cols; j++)
        xi[j] = y0[j];
      for (guint r = 1; r < repeat; r++)
        {
          const float *restrict yr = y0 + (gsize) r * cols;
          LOOPS_SIMD
          for (guint j = 0; j < cols; j++)
            xi[j] += yr[j];
        }
    }
}

static void
loops_add_row (const float *b, float *y, guint rows, guint cols)
{
  for (guint i = 0; i < rows; i++)
    {
      float *restrict yi = y + (gsize) i * cols;
      LOOPS_SIMD
      for (guint j = 0; j < cols; j++)
        yi[j] += b[j];
    }
}

static void
loops_sum_rows (const float *x, guint rows, guint cols, gsize ldx, float alpha, float beta, float *out)
{
  for (guint j = 0; j < cols; j++)
    out[j] = beta == 0.0f ? 0.0f : beta * out[j];
  for (guint i = 0; i < rows; i++)
    {
      const float *restrict xi = x + (gsize) i * ldx;
      LOOPS_SIMD
      for (guint j = 0; j < cols; j++)
        out[j] += alpha * xi[j];
    }
}

static void
loops_gather_rows (const float *src, const guint32 *indices, float *dst, guint rows, guint cols)
{
  for (guint i = 0; i < rows; i++)
    {
      float *restrict di = dst + (gsize) i * cols;
      const float *restrict si = src + (gsize) indices[i] * cols;
      LOOPS_SIMD
      for (guint j = 0; j < cols; j++)
        di[j] = si[j];
    }
}

static void
loops_scale (float *x, gsize n, float alpha)
{
  LOOPS_SIMD
  for (gsize i = 0; i < n; i++)
    x[i] *= alpha;
}

static void
loops_axpy (const float *x, float *y, gsize n, float alpha)
{
  LOOPS_SIMD
  for (gsize i = 0; i < n; i++)
    y[i] += alpha * x[i];
}

static void
loops_adam (float *param, const float *grad, float *m, float *v, gsize n, const DerlKernelsAdam *p)
{
  const float b1 = p->b1, c1 = p->c1, b2 = p->b2, c2 = p->c2;
  const float lr = p->lr, eps = p->eps, bias1 = p->bias1, bias2 = p->bias2;

  LOOPS_SIMD
  for (gsize i = 0; i < n; i++)
    {
      const float g = grad[i];
      m[i] = b1 * m[i] + c1 * g;
      v[i] = b2 * v[i] + c2 * g * g;
      param[i] -= lr * (m[i] / bias1) / (sqrtf (v[i] / bias2) + eps);
    }
}

/* The table entries every path shares, for a DerlKernels initialiser. */
#define LOOPS_KERNELS                          \
  .tanh = loops_tanh,                          \
  .tanh_backward = loops_tanh_backward,        \
  .relu = loops_relu,                          \
  .relu_backward = loops_relu_backward,        \
  .repeat_rows = loops_repeat_rows,            \
  .sum_repeated = loops_sum_repeated,          \
  .add_row = loops_add_row,                    \
  .sum_rows = loops_sum_rows,                  \
  .gather_rows = loops_gather_rows,            \
  .scale = loops_scale,                        \
  .axpy = loops_axpy,                          \
  .adam = loops_adam
