/* derl - the cudnn backend's CUDA kernels: what cuBLAS and cuDNN do not
 * cover (fills, masks, row broadcasts and reductions, sampling, argmax,
 * gathers, the vector ops and Adam).
 *
 * Every kernel is a template over the element type T (float or double) and
 * does its arithmetic in T, as the CPU backend does, except where the CPU
 * backend accumulates in double (sampling, sum_squares).  The build passes
 * --fmad=false, so no multiply-add is contracted: the elementwise kernels
 * give the CPU backend's bits.  No atomics: reductions run in a fixed
 * order, so results are deterministic. */
#include "kernels.h"

#include <math.h>

namespace {

const unsigned BLOCK = 256;
const size_t MAX_BLOCKS = 4096;
const uint32_t NO_ACTION = 0xffffffffu; /* DERL_NO_ACTION */

/* Blocks of BLOCK threads for a grid-stride loop over @n items. */
unsigned
blocks_for (size_t n)
{
  size_t b = (n + BLOCK - 1) / BLOCK;
  return (unsigned) (b < MAX_BLOCKS ? b : MAX_BLOCKS);
}

#define GRID_STRIDE(i, n) \
  for (size_t i = (size_t) blockIdx.x * blockDim.x + threadIdx.x; i < (n); i += (size_t) gridDim.x * blockDim.x)

template <typename T> __global__ void
fill_kernel (T *x, size_t n, T value)
{
  GRID_STRIDE (i, n)
    x[i] = value;
}

template <typename T> __global__ void
select_kernel (T *dst, const T *src, const T *mask, size_t n, T value)
{
  GRID_STRIDE (i, n)
    dst[i] = mask[i] != 0 ? src[i] : value;
}

template <typename T> __global__ void
add_row_kernel (T *y, const T *b, size_t rows, size_t cols)
{
  GRID_STRIDE (i, rows * cols)
    y[i] += b[i % cols];
}

template <typename T> __global__ void
repeat_rows_kernel (T *y, const T *x, size_t rows_y, size_t cols, unsigned repeat)
{
  GRID_STRIDE (i, rows_y * cols)
    {
      size_t row = i / cols, col = i % cols;
      y[i] = x[(row / repeat) * cols + col];
    }
}

template <typename T> __global__ void
sum_repeated_kernel (const T *y, unsigned repeat, T *x, size_t rows_x, size_t cols)
{
  GRID_STRIDE (i, rows_x * cols)
    {
      size_t row = i / cols, col = i % cols;
      const T *yi = y + row * repeat * cols + col;
      T sum = yi[0];
      for (unsigned r = 1; r < repeat; r++)
        sum += yi[(size_t) r * cols];
      x[i] = sum;
    }
}

/* One thread per column: the rows in order, as the CPU backend adds them. */
template <typename T> __global__ void
sum_rows_kernel (const T *x, size_t rows, size_t cols, T alpha, T beta, int read_out, T *out)
{
  GRID_STRIDE (j, cols)
    {
      T o = read_out ? beta * out[j] : (T) 0;
      for (size_t i = 0; i < rows; i++)
        o += alpha * x[i * cols + j];
      out[j] = o;
    }
}

/* One thread per row. */
template <typename T> __global__ void
sample_kernel (const T *l, const T *mask, size_t rows, size_t cols, const double *uniform, uint32_t *actions)
{
  GRID_STRIDE (i, rows)
    {
      const T *li = l + i * cols, *mi = mask + i * cols;
      uint32_t action = NO_ACTION;
      double cum = 0.0;
      for (size_t j = 0; j < cols; j++)
        if (mi[j] != 0)
          {
            action = (uint32_t) j;
            cum += exp ((double) li[j]);
            if (cum > uniform[i])
              break;
          }
      actions[i] = action;
    }
}

template <typename T> __global__ void
argmax_kernel (const T *l, const T *mask, size_t rows, size_t cols, uint32_t *actions)
{
  GRID_STRIDE (i, rows)
    {
      const T *li = l + i * cols, *mi = mask + i * cols;
      uint32_t best = NO_ACTION;
      for (size_t j = 0; j < cols; j++)
        if (mi[j] != 0 && (best == NO_ACTION || li[j] > li[best]))
          best = (uint32_t) j;
      actions[i] = best;
    }
}

template <typename T> __global__ void
gather_rows_kernel (const T *src, const uint32_t *indices, T *dst, size_t rows_dst, size_t cols)
{
  GRID_STRIDE (i, rows_dst * cols)
    {
      size_t row = i / cols, col = i % cols;
      dst[i] = src[(size_t) indices[row] * cols + col];
    }
}

/* One block: each thread sums a strided share in double, then a tree in
 * shared memory; the order depends on n only. */
const unsigned REDUCE_THREADS = 512;

template <typename T> __global__ void
sum_squares_kernel (const T *x, size_t n, double *out)
{
  __shared__ double part[REDUCE_THREADS];
  double acc = 0.0;

  for (size_t i = threadIdx.x; i < n; i += REDUCE_THREADS)
    {
      double v = (double) x[i];
      acc += v * v;
    }
  part[threadIdx.x] = acc;
  __syncthreads ();
  for (unsigned half = REDUCE_THREADS / 2; half > 0; half /= 2)
    {
      if (threadIdx.x < half)
        part[threadIdx.x] += part[threadIdx.x + half];
      __syncthreads ();
    }
  if (threadIdx.x == 0)
    *out = part[0];
}

template <typename T> __global__ void
scale_kernel (T *x, size_t n, T alpha)
{
  GRID_STRIDE (i, n)
    x[i] *= alpha;
}

template <typename T> __global__ void
axpy_kernel (T alpha, const T *x, T *y, size_t n)
{
  GRID_STRIDE (i, n)
    y[i] += alpha * x[i];
}

/* DerlAdamParams' formula, in the CPU backend's order of operations. */
template <typename T> __global__ void
adam_kernel (T *param, const T *grad, T *m, T *v, size_t n, T lr, T b1, T c1, T b2, T c2, T eps, T bias1,
             T bias2)
{
  GRID_STRIDE (i, n)
    {
      const T g = grad[i];
      m[i] = b1 * m[i] + c1 * g;
      v[i] = b2 * v[i] + c2 * g * g;
      param[i] -= lr * (m[i] / bias1) / (sqrt (v[i] / bias2) + eps);
    }
}

/* ---- launchers ---- */

template <typename T> cudaError_t
launch_fill (cudaStream_t s, void *x, size_t n, double value)
{
  fill_kernel<T><<<blocks_for (n), BLOCK, 0, s>>> ((T *) x, n, (T) value);
  return cudaGetLastError ();
}

template <typename T> cudaError_t
launch_select (cudaStream_t s, void *dst, const void *src, const void *mask, size_t n, double value)
{
  select_kernel<T><<<blocks_for (n), BLOCK, 0, s>>> ((T *) dst, (const T *) src, (const T *) mask, n, (T) value);
  return cudaGetLastError ();
}

template <typename T> cudaError_t
launch_add_row (cudaStream_t s, void *y, const void *b, size_t rows, size_t cols)
{
  add_row_kernel<T><<<blocks_for (rows * cols), BLOCK, 0, s>>> ((T *) y, (const T *) b, rows, cols);
  return cudaGetLastError ();
}

template <typename T> cudaError_t
launch_repeat_rows (cudaStream_t s, void *y, const void *x, size_t rows_y, size_t cols, unsigned repeat)
{
  repeat_rows_kernel<T><<<blocks_for (rows_y * cols), BLOCK, 0, s>>> ((T *) y, (const T *) x, rows_y, cols,
                                                                      repeat);
  return cudaGetLastError ();
}

template <typename T> cudaError_t
launch_sum_repeated (cudaStream_t s, const void *y, unsigned repeat, void *x, size_t rows_x, size_t cols)
{
  sum_repeated_kernel<T><<<blocks_for (rows_x * cols), BLOCK, 0, s>>> ((const T *) y, repeat, (T *) x, rows_x,
                                                                       cols);
  return cudaGetLastError ();
}

template <typename T> cudaError_t
launch_sum_rows (cudaStream_t s, const void *x, size_t rows, size_t cols, double alpha, double beta, void *out)
{
  sum_rows_kernel<T><<<blocks_for (cols), BLOCK, 0, s>>> ((const T *) x, rows, cols, (T) alpha, (T) beta,
                                                          beta != 0.0, (T *) out);
  return cudaGetLastError ();
}

template <typename T> cudaError_t
launch_sample (cudaStream_t s, const void *l, const void *mask, size_t rows, size_t cols, const double *uniform,
        uint32_t *actions)
{
  sample_kernel<T><<<blocks_for (rows), BLOCK, 0, s>>> ((const T *) l, (const T *) mask, rows, cols, uniform,
                                                        actions);
  return cudaGetLastError ();
}

template <typename T> cudaError_t
launch_argmax (cudaStream_t s, const void *l, const void *mask, size_t rows, size_t cols, uint32_t *actions)
{
  argmax_kernel<T><<<blocks_for (rows), BLOCK, 0, s>>> ((const T *) l, (const T *) mask, rows, cols, actions);
  return cudaGetLastError ();
}

template <typename T> cudaError_t
launch_gather_rows (cudaStream_t s, const void *src, const uint32_t *indices, void *dst, size_t rows_dst, size_t cols)
{
  gather_rows_kernel<T><<<blocks_for (rows_dst * cols), BLOCK, 0, s>>> ((const T *) src, indices, (T *) dst,
                                                                        rows_dst, cols);
  return cudaGetLastError ();
}

template <typename T> cudaError_t
launch_sum_squares (cudaStream_t s, const void *x, size_t n, double *out)
{
  sum_squares_kernel<T><<<1, REDUCE_THREADS, 0, s>>> ((const T *) x, n, out);
  return cudaGetLastError ();
}

template <typename T> cudaError_t
launch_scale (cudaStream_t s, void *x, size_t n, double alpha)
{
  scale_kernel<T><<<blocks_for (n), BLOCK, 0, s>>> ((T *) x, n, (T) alpha);
  return cudaGetLastError ();
}

template <typename T> cudaError_t
launch_axpy (cudaStream_t s, double alpha, const void *x, void *y, size_t n)
{
  axpy_kernel<T><<<blocks_for (n), BLOCK, 0, s>>> ((T) alpha, (const T *) x, (T *) y, n);
  return cudaGetLastError ();
}

template <typename T> cudaError_t
launch_adam (cudaStream_t s, void *param, const void *grad, void *m, void *v, size_t n, double lr, double beta1,
      double beta2, double eps, double bias1, double bias2)
{
  adam_kernel<T><<<blocks_for (n), BLOCK, 0, s>>> ((T *) param, (const T *) grad, (T *) m, (T *) v, n, (T) lr,
                                                   (T) beta1, (T) (1.0 - beta1), (T) beta2, (T) (1.0 - beta2),
                                                   (T) eps, (T) bias1, (T) bias2);
  return cudaGetLastError ();
}

} /* namespace */

/* The C entry points: pick the element type. */
#define DISPATCH(f64, call) ((f64) ? call<double> : call<float>)

extern "C" {

cudaError_t
derl_cudnn_fill (cudaStream_t stream, int f64, void *x, size_t n, double value)
{
  return DISPATCH (f64, launch_fill) (stream, x, n, value);
}

cudaError_t
derl_cudnn_select (cudaStream_t stream, int f64, void *dst, const void *src, const void *mask, size_t n,
                   double value)
{
  return DISPATCH (f64, launch_select) (stream, dst, src, mask, n, value);
}

cudaError_t
derl_cudnn_add_row (cudaStream_t stream, int f64, void *y, const void *b, size_t rows, size_t cols)
{
  return DISPATCH (f64, launch_add_row) (stream, y, b, rows, cols);
}

cudaError_t
derl_cudnn_repeat_rows (cudaStream_t stream, int f64, void *y, const void *x, size_t rows_y, size_t cols,
                        unsigned repeat)
{
  return DISPATCH (f64, launch_repeat_rows) (stream, y, x, rows_y, cols, repeat);
}

cudaError_t
derl_cudnn_sum_repeated (cudaStream_t stream, int f64, const void *y, unsigned repeat, void *x, size_t rows_x,
                         size_t cols)
{
  return DISPATCH (f64, launch_sum_repeated) (stream, y, repeat, x, rows_x, cols);
}

cudaError_t
derl_cudnn_sum_rows (cudaStream_t stream, int f64, const void *x, size_t rows, size_t cols, double alpha,
                     double beta, void *out)
{
  return DISPATCH (f64, launch_sum_rows) (stream, x, rows, cols, alpha, beta, out);
}

cudaError_t
derl_cudnn_sample (cudaStream_t stream, int f64, const void *l, const void *mask, size_t rows, size_t cols,
                   const double *uniform, uint32_t *actions)
{
  return DISPATCH (f64, launch_sample) (stream, l, mask, rows, cols, uniform, actions);
}

cudaError_t
derl_cudnn_argmax (cudaStream_t stream, int f64, const void *l, const void *mask, size_t rows, size_t cols,
                   uint32_t *actions)
{
  return DISPATCH (f64, launch_argmax) (stream, l, mask, rows, cols, actions);
}

cudaError_t
derl_cudnn_gather_rows (cudaStream_t stream, int f64, const void *src, const uint32_t *indices, void *dst,
                        size_t rows_dst, size_t cols)
{
  return DISPATCH (f64, launch_gather_rows) (stream, src, indices, dst, rows_dst, cols);
}

cudaError_t
derl_cudnn_sum_squares (cudaStream_t stream, int f64, const void *x, size_t n, double *out)
{
  return DISPATCH (f64, launch_sum_squares) (stream, x, n, out);
}

cudaError_t
derl_cudnn_scale (cudaStream_t stream, int f64, void *x, size_t n, double alpha)
{
  return DISPATCH (f64, launch_scale) (stream, x, n, alpha);
}

cudaError_t
derl_cudnn_axpy (cudaStream_t stream, int f64, double alpha, const void *x, void *y, size_t n)
{
  return DISPATCH (f64, launch_axpy) (stream, alpha, x, y, n);
}

cudaError_t
derl_cudnn_adam (cudaStream_t stream, int f64, void *param, const void *grad, void *m, void *v, size_t n,
                 double lr, double beta1, double beta2, double eps, double bias1, double bias2)
{
  return DISPATCH (f64, launch_adam) (stream, param, grad, m, v, n, lr, beta1, beta2, eps, bias1, bias2);
}

} /* extern "C" */
