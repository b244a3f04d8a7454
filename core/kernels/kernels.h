/* derl - the CPU backend's float32 kernels: one table of functions per
 * instruction set (the portable C path, AVX2 + FMA, AVX-512), picked once
 * when the library loads.  Not installed.
 *
 * Every table gives the same bits for the same inputs: a path may only be
 * faster, never different.  What makes that hold:
 *
 * Matrix products.  Each output element is one chain of fused
 * multiply-adds over k in increasing order, started from 0:
 *
 *     s = 0;  for p = 0 .. k-1:  s = fma (op(A)[i,p], op(B)[p,j], s)
 *     s = alpha * s                   (skipped when alpha is 1)
 *     C[i,j] = s                      when beta is 0 (C is not read)
 *     C[i,j] = fma (beta, C[i,j], s)  otherwise
 *
 * The vector paths vectorise across output elements (j, or i for the
 * products with one output column), never across the reduction, and block
 * rows, columns and k only in ways that leave each chain as it is.  So the
 * result depends neither on the instruction set nor on how the rows of C
 * are split among threads.  alpha 0 leaves A and B unread (s = 0).
 *
 * Elementwise kernels.  Written once in loops.h, compiled for each
 * instruction set with -ffp-contract=off: plain IEEE operations in the
 * same order per element, vectorised across elements only.
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* One Adam step's constants: c1 = 1 - b1 and c2 = 1 - b2 (rounded from
 * double), bias1 = 1 - b1^t and bias2 = 1 - b2^t. */
typedef struct {
  float b1, c1, b2, c2, lr, eps, bias1, bias2;
} DerlKernelsAdam;

typedef struct {
  const char *name;   /* "generic", "avx2", "avx512": what DERL_CPU names */

  /* C (m x n, row stride ldc) from op(A) (m x k) and op(B) (k x n) as
   * above; A is m x k with row stride lda (k x m when ta), B k x n with
   * stride ldb (n x k when tb).  C never overlaps A or B. */
  void (*sgemm) (gboolean ta, gboolean tb, guint m, guint n, guint k, float alpha, const float *a,
                 gsize lda, const float *b, gsize ldb, float beta, float *c, gsize ldc);

  /* y = tanh (x), derl's rational approximation (3 ulp); y may be x */
  void (*tanh) (const float *x, float *y, gsize n);
  /* dx = dy (1 - y^2); dx may be dy */
  void (*tanh_backward) (const float *y, const float *dy, float *dx, gsize n);
  /* y = max (x, 0) (0 for NaN); dx = dy where x > 0, else 0 */
  void (*relu) (const float *x, float *y, gsize n);
  void (*relu_backward) (const float *x, const float *dy, float *dx, gsize n);
  /* y[i,:] = x[i / repeat,:] for rows i in [row0, row0 + rows) (y and x
   * pointing at their row 0) */
  void (*repeat_rows) (const float *x, float *y, gsize row0, guint rows, guint cols, guint repeat);
  /* x[i,:] = y[i repeat,:] + y[i repeat + 1,:] + ... in that order */
  void (*sum_repeated) (const float *y, float *x, guint rows, guint cols, guint repeat);
  /* y[i,:] += b for every row */
  void (*add_row) (const float *b, float *y, guint rows, guint cols);
  /* out = (beta == 0 ? 0 : beta out) + alpha x[0,:] + alpha x[1,:] + ..., row after row
   * (x's rows @ldx floats apart) */
  void (*sum_rows) (const float *x, guint rows, guint cols, gsize ldx, float alpha, float beta, float *out);
  /* dst[i,:] = src[indices[i],:] */
  void (*gather_rows) (const float *src, const guint32 *indices, float *dst, guint rows, guint cols);
  /* x *= alpha */
  void (*scale) (float *x, gsize n, float alpha);
  /* y += alpha x */
  void (*axpy) (const float *x, float *y, gsize n, float alpha);
  /* one Adam step, DerlAdamParams' formula */
  void (*adam) (float *param, const float *grad, float *m, float *v, gsize n, const DerlKernelsAdam *p);
} DerlKernels;

/* The three paths; avx2 and avx512 are NULL when the build has no
 * compiler support for them. */
extern const DerlKernels _derl_kernels_generic;
extern const DerlKernels *const _derl_kernels_avx2;
extern const DerlKernels *const _derl_kernels_avx512;

/* The kernels this process uses: DERL_CPU's path when set (generic, avx2,
 * avx512 or auto), else the widest the CPU runs.  Picked on the first
 * call; thread-safe. */
const DerlKernels *_derl_kernels_get (void);

/* The path named @name if this build has it and this CPU runs it, else
 * NULL with @error saying why. */
const DerlKernels *_derl_kernels_lookup (const char *name, GError **error);

/* Whether the CPU runs the path named @name (and the build has it). */
gboolean _derl_kernels_available (const char *name);

/* The CPU's model name (/proc/cpuinfo's, else cpuid's brand string); a
 * static string. */
const char *_derl_cpu_model (void);

/* Per-thread scratch buffer @slot (0 or 1) of at least @n floats, 64-byte
 * aligned, kept for the thread's next call (freed when the thread ends);
 * NULL when the system cannot provide it, and callers then take a path
 * that needs none. */
float *_derl_kernels_scratch (guint slot, gsize n);

/* The portable C product, exactly the canonical chain above; the vector
 * paths use it for shapes they do not handle. */
void _derl_kernels_sgemm_generic (gboolean ta, gboolean tb, guint m, guint n, guint k, float alpha,
                                  const float *a, gsize lda, const float *b, gsize ldb, float beta, float *c,
                                  gsize ldc);

/* The same chain in double precision (every path's f64 product). */
void _derl_kernels_dgemm (gboolean ta, gboolean tb, guint m, guint n, guint k, double alpha, const double *a,
                          gsize lda, const double *b, gsize ldb, double beta, double *c, gsize ldc);

G_END_DECLS
