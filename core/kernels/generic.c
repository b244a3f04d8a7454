/* derl - the portable C path: the reference every other path matches bit
 * for bit.  Compiled for the baseline instruction set; fmaf() is libm's
 * (a single rounding on every CPU, in hardware where there is FMA). */
#include "config.h"

#include <math.h>
#include "loops.h"

/* The canonical chain of kernels.h for one output element: s = 0, then
 * s = fma (a, b, s) over p in increasing order. */
void
_derl_kernels_sgemm_generic (gboolean ta, gboolean tb, guint m, guint n, guint k, float alpha,
                             const float *a, gsize lda, const float *b, gsize ldb, float beta, float *c,
                             gsize ldc)
{
  gsize a_row = ta ? 1 : lda, a_col = ta ? lda : 1;
  gsize b_row = tb ? 1 : ldb, b_col = tb ? ldb : 1;

  for (guint i = 0; i < m; i++)
    for (guint j = 0; j < n; j++)
      {
        float s = 0.0f;
        if (alpha != 0.0f)
          {
            const float *ai = a + i * a_row;
            const float *bj = b + j * b_col;
            for (guint p = 0; p < k; p++)
              s = fmaf (ai[p * a_col], bj[p * b_row], s);
            if (alpha != 1.0f)
              s = alpha * s;
          }
        float *cij = c + (gsize) i * ldc + j;
        *cij = beta == 0.0f ? s : fmaf (beta, *cij, s);
      }
}

void
_derl_kernels_dgemm (gboolean ta, gboolean tb, guint m, guint n, guint k, double alpha, const double *a,
                     gsize lda, const double *b, gsize ldb, double beta, double *c, gsize ldc)
{
  gsize a_row = ta ? 1 : lda, a_col = ta ? lda : 1;
  gsize b_row = tb ? 1 : ldb, b_col = tb ? ldb : 1;

  for (guint i = 0; i < m; i++)
    for (guint j = 0; j < n; j++)
      {
        double s = 0.0;
        if (alpha != 0.0)
          {
            const double *ai = a + i * a_row;
            const double *bj = b + j * b_col;
            for (guint p = 0; p < k; p++)
              s = fma (ai[p * a_col], bj[p * b_row], s);
            if (alpha != 1.0)
              s = alpha * s;
          }
        double *cij = c + (gsize) i * ldc + j;
        *cij = beta == 0.0 ? s : fma (beta, *cij, s);
      }
}

const DerlKernels _derl_kernels_generic = {
  .name = "generic",
  .sgemm = _derl_kernels_sgemm_generic,
  LOOPS_KERNELS,
};
