/* derl - the AVX2 + FMA path: 8-lane tiles of 6 rows x 16 columns (12
 * chains in registers), compiled with -mavx2 -mfma. */
#include "config.h"

#include "kernels.h"

#ifdef DERL_KERNELS_AVX2
#include <immintrin.h>
#include "loops.h"

/* Lane masks: the first n of 8 lanes, from a sliding window. */
static const int lane_window[16] = { -1, -1, -1, -1, -1, -1, -1, -1, 0, 0, 0, 0, 0, 0, 0, 0 };

/* t[0..7] as the rows of an 8 x 8 block, transposed in place: within
 * each 128-bit lane, pairs then quads of rows interleave (unpack), then
 * the two lanes swap across vectors (permute2f128). */
static inline void
transpose8 (__m256 t[8])
{
  __m256 u[8], w[8];

  _Pragma ("GCC unroll 16") for (int i = 0; i < 4; i++)
    {
      u[2 * i] = _mm256_unpacklo_ps (t[2 * i], t[2 * i + 1]);
      u[2 * i + 1] = _mm256_unpackhi_ps (t[2 * i], t[2 * i + 1]);
    }
  _Pragma ("GCC unroll 16") for (int i = 0; i < 2; i++)
    {
      __m256d a = _mm256_castps_pd (u[4 * i]), b = _mm256_castps_pd (u[4 * i + 1]);
      __m256d c = _mm256_castps_pd (u[4 * i + 2]), d = _mm256_castps_pd (u[4 * i + 3]);
      w[4 * i] = _mm256_castpd_ps (_mm256_unpacklo_pd (a, c));
      w[4 * i + 1] = _mm256_castpd_ps (_mm256_unpackhi_pd (a, c));
      w[4 * i + 2] = _mm256_castpd_ps (_mm256_unpacklo_pd (b, d));
      w[4 * i + 3] = _mm256_castpd_ps (_mm256_unpackhi_pd (b, d));
    }
  /* w[4 i + j], lane L: column 4 L + j of rows 4 i .. 4 i + 3. */
  _Pragma ("GCC unroll 16") for (int j = 0; j < 4; j++)
    {
      t[j] = _mm256_permute2f128_ps (w[j], w[4 + j], 0x20);
      t[4 + j] = _mm256_permute2f128_ps (w[j], w[4 + j], 0x31);
    }
}

#define V __m256
#define VW 8
#define M __m256i
#define M_FIRST(n) _mm256_loadu_si256 ((const __m256i *) (lane_window + 8 - ((n) > 8 ? 8 : (n))))
#define V_ZERO() _mm256_setzero_ps ()
#define V_SET1(x) _mm256_set1_ps (x)
#define V_LOAD(p) _mm256_loadu_ps (p)
#define V_LOAD_M(m, p) _mm256_maskload_ps ((p), (m))
#define V_STORE_M(m, p, x) _mm256_maskstore_ps ((p), (m), (x))
#define V_FMA(a, b, c) _mm256_fmadd_ps ((a), (b), (c))
#define V_MUL(a, b) _mm256_mul_ps ((a), (b))
#define V_STORE(p, x) _mm256_storeu_ps ((p), (x))
#define V_TRANSPOSE(t) transpose8 (t)
#define NV_MAX 2
#define MR 6
#define PREFIX(x) avx2_##x

#include "gemm-tiles.h"

static const DerlKernels kernels = {
  .name = "avx2",
  .sgemm = avx2_sgemm,
  LOOPS_KERNELS,
};
const DerlKernels *const _derl_kernels_avx2 = &kernels;
#else
const DerlKernels *const _derl_kernels_avx2 = NULL;
#endif
