/* derl - the vector paths' float32 matrix product, written once over a
 * handful of vector macros that avx2.c and avx512.c define before
 * including it:
 *
 *   V, VW        the vector type and its float lanes
 *   M            a lane mask type; M_FIRST (n) the first n lanes (1..VW)
 *   V_ZERO ()  V_SET1 (x)  V_LOAD (p)  V_LOAD_M (m, p)  V_STORE_M (m, p, x)
 *   V_FMA (a, b, c) = a b + c, one rounding;  V_MUL (a, b)
 *   V_STORE (p, x)  V_TRANSPOSE (t): t[0..VW-1] transposed in place
 *   NV_MAX       vectors of columns per tile;  MR  rows per tile
 *   PREFIX(x)    the path's name for x
 *
 * Every output element is the canonical chain of kernels.h: a tile holds
 * MR x (NV VW) chains in registers, each fed one fused multiply-add per p
 * in increasing order.  Tiles, blocks of k and the order in which tiles
 * are visited change only which chains run side by side, never a chain.
 */

/* Rows of k per block when the reduction is long (a weight gradient over
 * thousands of rows): the block of B then stays in the L2 cache while the
 * tiles of C visit it, and the partial chains wait in scratch. */
#define KC 256
/* The most partial chains kept in scratch for that (m x n floats). */
#define BLOCKED_MAX_ACC (512 * 512)

/* The operands of one product as the tiles see them: A(i,p) at
 * a[i rs + p cs], B(p,j) at b[p ldb + j] (contiguous in j). */
typedef struct {
  const float *a;
  gsize rs, cs;
  const float *b;
  gsize ldb;
  float alpha, beta;
} PREFIX (Operands);

/* TILE (NV): the tile function for NV vectors of columns: rows [0, mr),
 * columns [0, nr) (nr > (NV - 1) VW), k steps.  Starts from zero when
 * @init, else from @acc; ends in @acc (the partial chains, row stride
 * @ldacc) when @c is NULL, else writes C through the epilogue of
 * kernels.h.  The loops over rows and vectors have constant bounds and
 * are unrolled, so the chains live in registers. */
#define TILE(NV)                                                                                   \
  static void PREFIX (tile_##NV) (const PREFIX (Operands) * op, guint mr, guint nr, guint k,       \
                                  const float *a, const float *b, float *acc, gsize ldacc,         \
                                  gboolean init, float *c, gsize ldc)                              \
  {                                                                                                \
    V s[MR][NV];                                                                                   \
    const M last = M_FIRST (nr - (NV - 1) * VW);                                                   \
    const gsize rs = op->rs, cs = op->cs, ldb = op->ldb;                                           \
                                                                                                   \
    _Pragma ("GCC unroll 16") for (int r = 0; r < MR; r++)                                         \
      _Pragma ("GCC unroll 16") for (int v = 0; v < NV; v++)                                       \
        s[r][v] = init || r >= (int) mr ? V_ZERO ()                                                \
                  : V_LOAD_M (v == NV - 1 ? last : M_FIRST (VW), acc + r * ldacc + v * VW);        \
    if (mr == MR && nr == NV * VW)                                                                 \
      for (guint p = 0; p < k; p++)                                                                \
        {                                                                                          \
          const float *bp = b + p * ldb, *ap = a + p * cs;                                         \
          V bv[NV];                                                                                \
          _Pragma ("GCC unroll 16") for (int v = 0; v < NV; v++)                                   \
            bv[v] = V_LOAD (bp + v * VW);                                                          \
          _Pragma ("GCC unroll 16") for (int r = 0; r < MR; r++)                                   \
            {                                                                                      \
              const V av = V_SET1 (ap[r * rs]);                                                    \
              _Pragma ("GCC unroll 16") for (int v = 0; v < NV; v++)                               \
                s[r][v] = V_FMA (av, bv[v], s[r][v]);                                              \
            }                                                                                      \
        }                                                                                          \
    else                                                                                           \
      for (guint p = 0; p < k; p++)                                                                \
        {                                                                                          \
          const float *bp = b + p * ldb, *ap = a + p * cs;                                         \
          V bv[NV];                                                                                \
          _Pragma ("GCC unroll 16") for (int v = 0; v < NV; v++)                                   \
            bv[v] = v == NV - 1 ? V_LOAD_M (last, bp + v * VW) : V_LOAD (bp + v * VW);             \
          _Pragma ("GCC unroll 16") for (int r = 0; r < MR; r++)                                   \
            if (r < (int) mr)                                                                      \
              {                                                                                    \
                const V av = V_SET1 (ap[r * rs]);                                                  \
                _Pragma ("GCC unroll 16") for (int v = 0; v < NV; v++)                             \
                  s[r][v] = V_FMA (av, bv[v], s[r][v]);                                            \
              }                                                                                    \
        }                                                                                          \
    _Pragma ("GCC unroll 16") for (int r = 0; r < MR; r++)                                         \
      if (r < (int) mr)                                                                            \
        _Pragma ("GCC unroll 16") for (int v = 0; v < NV; v++)                                     \
          {                                                                                        \
            if (!c)                                                                                \
              {                                                                                    \
                if (v < NV - 1 || nr == NV * VW)                                                   \
                  V_STORE (acc + r * ldacc + v * VW, s[r][v]);                                     \
                else                                                                               \
                  V_STORE_M (last, acc + r * ldacc + v * VW, s[r][v]);                             \
              }                                                                                    \
            else if (v < NV - 1 || nr == NV * VW)                                                  \
              PREFIX (finish_full) (op, c + r * ldc + v * VW, s[r][v]);                            \
            else                                                                                   \
              PREFIX (finish) (op, last, c + r * ldc + v * VW, s[r][v]);                           \
          }                                                                                        \
  }

/* The epilogue of kernels.h for one vector of chains: alpha, then beta. */
static inline void
PREFIX (finish) (const PREFIX (Operands) * op, M mask, float *c, V s)
{
  if (op->alpha != 1.0f)
    s = V_MUL (V_SET1 (op->alpha), s);
  if (op->beta != 0.0f)
    s = V_FMA (V_SET1 (op->beta), V_LOAD_M (mask, c), s);
  V_STORE_M (mask, c, s);
}

static inline void
PREFIX (finish_full) (const PREFIX (Operands) * op, float *c, V s)
{
  if (op->alpha != 1.0f)
    s = V_MUL (V_SET1 (op->alpha), s);
  if (op->beta != 0.0f)
    s = V_FMA (V_SET1 (op->beta), V_LOAD (c), s);
  V_STORE (c, s);
}

TILE (1)
#if NV_MAX >= 2
TILE (2)
#endif
#if NV_MAX >= 3
TILE (3)
#endif
#if NV_MAX >= 4
TILE (4)
#endif

typedef void (*PREFIX (TileFunc)) (const PREFIX (Operands) *, guint, guint, guint, const float *, const float *,
                                   float *, gsize, gboolean, float *, gsize);

static const PREFIX (TileFunc) PREFIX (tiles)[NV_MAX] = {
  PREFIX (tile_1),
#if NV_MAX >= 2
  PREFIX (tile_2),
#endif
#if NV_MAX >= 3
  PREFIX (tile_3),
#endif
#if NV_MAX >= 4
  PREFIX (tile_4),
#endif
};

/* C (m x n) by tiles of MR rows and up to NV_MAX VW columns.  A short
 * reduction runs whole per tile, rows of tiles outermost (B is small and
 * stays in cache); a long one runs in blocks of KC when the partial chains
 * fit in scratch. */
static void
PREFIX (tiled) (const PREFIX (Operands) * op, guint m, guint n, guint k, float *c, gsize ldc)
{
  const guint nr_max = NV_MAX * VW;
  float *acc = NULL;
  guint kc = k;

  if (k > 2 * KC && (gsize) m * n <= BLOCKED_MAX_ACC && (acc = _derl_kernels_scratch (1, (gsize) m * n)))
    kc = KC;
  for (guint p0 = 0; p0 < k; p0 += kc)
    {
      guint pk = MIN (kc, k - p0);
      gboolean first = p0 == 0, last = p0 + pk >= k;
      for (guint i0 = 0; i0 < m; i0 += MR)
        for (guint j0 = 0; j0 < n; j0 += nr_max)
          {
            guint mr = MIN (MR, m - i0), nr = MIN (nr_max, n - j0);
            guint nv = (nr + VW - 1) / VW;
            PREFIX (tiles)[nv - 1](op, mr, nr, pk, op->a + i0 * op->rs + p0 * op->cs, op->b + p0 * op->ldb + j0,
                                   acc ? acc + (gsize) i0 * n + j0 : NULL, n, first,
                                   last ? c + (gsize) i0 * ldc + j0 : NULL, ldc);
          }
    }
}

/* One output column, A not transposed: C[i] = chain over p of A[i,p] B(p),
 * vectorised across rows.  A block of VW rows x VW columns of A is loaded
 * and transposed in registers, so that vector q holds column p0 + q of
 * those rows; the chains then take the columns in order.  @bs is B's
 * stride along p. */
static void
PREFIX (column) (const PREFIX (Operands) * op, guint m, guint k, const float *b, gsize bs, float *c, gsize ldc)
{
  const gsize lda = op->rs;

  for (guint i0 = 0; i0 < m; i0 += VW)
    {
      guint rows = MIN (VW, m - i0);
      V s = V_ZERO ();
      for (guint p0 = 0; p0 < k; p0 += VW)
        {
          guint cols = MIN (VW, k - p0);
          const M cmask = M_FIRST (cols);
          V t[VW];
          if (rows == VW && cols == VW)
            _Pragma ("GCC unroll 16") for (int r = 0; r < VW; r++)
              t[r] = V_LOAD (op->a + (gsize) (i0 + r) * lda + p0);
          else
            _Pragma ("GCC unroll 16") for (int r = 0; r < VW; r++)
              t[r] = r < (int) rows ? V_LOAD_M (cmask, op->a + (gsize) (i0 + r) * lda + p0) : V_ZERO ();
          V_TRANSPOSE (t);
          if (cols == VW)
            {
              _Pragma ("GCC unroll 16") for (int q = 0; q < VW; q++)
                s = V_FMA (t[q], V_SET1 (b[(p0 + q) * bs]), s);
            }
          else
            for (guint q = 0; q < cols; q++)
              s = V_FMA (t[q], V_SET1 (b[(p0 + q) * bs]), s);
        }
      if (ldc == 1)
        PREFIX (finish) (op, M_FIRST (rows), c + i0, s);
      else
        {
          float t[VW], u[VW] = { 0 };
          V_STORE (t, s);
          for (guint r = 0; r < rows; r++)
            u[r] = c[(gsize) (i0 + r) * ldc];
          PREFIX (finish) (op, M_FIRST (VW), u, V_LOAD (t));
          for (guint r = 0; r < rows; r++)
            c[(gsize) (i0 + r) * ldc] = u[r];
        }
    }
}

static void
PREFIX (sgemm) (gboolean ta, gboolean tb, guint m, guint n, guint k, float alpha, const float *a, gsize lda,
                const float *b, gsize ldb, float beta, float *c, gsize ldc)
{
  PREFIX (Operands) op = { a, ta ? 1 : lda, ta ? lda : 1, b, ldb, alpha, beta };

  if (m == 0 || n == 0)
    return;
  if (alpha == 0.0f || k == 0)
    {
      _derl_kernels_sgemm_generic (ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
      return;
    }
  if (n == 1 && ldc == 1 && ta)
    {
      /* One column from a transposed A: the chains run along A's rows, so
       * C^T = B^T A as one row of tiles (the broadcast is B(p), the
       * vector A's row p). */
      PREFIX (Operands) t = { b, 0, tb ? 1 : ldb, a, lda, alpha, beta };
      PREFIX (tiled) (&t, 1, m, k, c, 1);
      return;
    }
  if (n == 1 && !ta)
    {
      PREFIX (column) (&op, m, k, b, tb ? 1 : ldb, c, ldc);
      return;
    }
  if (tb)
    {
      /* B(p,j) = b[j ldb + p]: pack it as k x n rows so that the tiles read
       * contiguous columns. */
      float *packed = _derl_kernels_scratch (0, (gsize) k * n);
      if (!packed)
        {
          _derl_kernels_sgemm_generic (ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
          return;
        }
      for (guint j = 0; j < n; j++)
        for (guint p = 0; p < k; p++)
          packed[(gsize) p * n + j] = b[(gsize) j * ldb + p];
      op.b = packed;
      op.ldb = n;
    }
  PREFIX (tiled) (&op, m, n, k, c, ldc);
}
