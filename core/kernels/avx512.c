/* derl - the AVX-512 path: 16-lane tiles of 6 rows x 64 columns (24
 * chains in registers), compiled with -mavx512f -mfma. */
#include "config.h"

#include "kernels.h"

#ifdef DERL_KERNELS_AVX512
#include <immintrin.h>
#include "loops.h"

/* t[0..15] as the rows of a 16 x 16 block, transposed in place: within
 * each 128-bit lane, pairs then quads of rows interleave (unpack), then
 * the lanes of four vectors are transposed as a 4 x 4 (shuffle_f32x4). */
static inline void
transpose16 (__m512 t[16])
{
  __m512 u[16], w[16];

  _Pragma ("GCC unroll 16") for (int i = 0; i < 8; i++)
    {
      u[2 * i] = _mm512_unpacklo_ps (t[2 * i], t[2 * i + 1]);
      u[2 * i + 1] = _mm512_unpackhi_ps (t[2 * i], t[2 * i + 1]);
    }
  _Pragma ("GCC unroll 16") for (int i = 0; i < 4; i++)
    {
      __m512d a = _mm512_castps_pd (u[4 * i]), b = _mm512_castps_pd (u[4 * i + 1]);
      __m512d c = _mm512_castps_pd (u[4 * i + 2]), d = _mm512_castps_pd (u[4 * i + 3]);
      w[4 * i] = _mm512_castpd_ps (_mm512_unpacklo_pd (a, c));
      w[4 * i + 1] = _mm512_castpd_ps (_mm512_unpackhi_pd (a, c));
      w[4 * i + 2] = _mm512_castpd_ps (_mm512_unpacklo_pd (b, d));
      w[4 * i + 3] = _mm512_castpd_ps (_mm512_unpackhi_pd (b, d));
    }
  /* w[4 i + j], lane L: column 4 L + j of rows 4 i .. 4 i + 3. */
  _Pragma ("GCC unroll 16") for (int j = 0; j < 4; j++)
    {
      __m512 x0 = _mm512_shuffle_f32x4 (w[j], w[4 + j], 0x44);
      __m512 x1 = _mm512_shuffle_f32x4 (w[j], w[4 + j], 0xEE);
      __m512 x2 = _mm512_shuffle_f32x4 (w[8 + j], w[12 + j], 0x44);
      __m512 x3 = _mm512_shuffle_f32x4 (w[8 + j], w[12 + j], 0xEE);
      t[j] = _mm512_shuffle_f32x4 (x0, x2, 0x88);
      t[4 + j] = _mm512_shuffle_f32x4 (x0, x2, 0xDD);
      t[8 + j] = _mm512_shuffle_f32x4 (x1, x3, 0x88);
      t[12 + j] = _mm512_shuffle_f32x4 (x1, x3, 0xDD);
    }
}

#define V __m512
#define VW 16
#define M __mmask16
#define M_FIRST(n) ((__mmask16) ((n) >= 16 ? 0xffffu : (1u << (n)) - 1u))
#define V_ZERO() _mm512_setzero_ps ()
#define V_SET1(x) _mm512_set1_ps (x)
#define V_LOAD(p) _mm512_loadu_ps (p)
#define V_LOAD_M(m, p) _mm512_maskz_loadu_ps ((m), (p))
#define V_STORE_M(m, p, x) _mm512_mask_storeu_ps ((p), (m), (x))
#define V_FMA(a, b, c) _mm512_fmadd_ps ((a), (b), (c))
#define V_MUL(a, b) _mm512_mul_ps ((a), (b))
#define V_STORE(p, x) _mm512_storeu_ps ((p), (x))
#define V_TRANSPOSE(t) transpose16 (t)
#define NV_MAX 4
#define MR 6
#define PREFIX(x) avx512_##x

#include "gemm-tiles.h"

static const DerlKernels kernels = {
  .name = "avx512",
  .sgemm = avx512_sgemm,
  LOOPS_KERNELS,
};
const DerlKernels *const _derl_kernels_avx512 = &kernels;
#else
const DerlKernels *const _derl_kernels_avx512 = NULL;
#endif
