/* derl - the cudnn backend's CUDA kernels (kernels.cu), as C functions.
 *
 * Each function enqueues one kernel on @stream and returns the status of
 * the launch (cudaGetLastError()); errors of the kernel's execution show
 * at the next synchronisation.  Tensors are device pointers to contiguous
 * row-major elements, float or double as @f64 says; the callers skip empty
 * tensors, so every count here is at least 1.  No kernel uses atomics:
 * every result is computed in a fixed order, so the same inputs give the
 * same bits on a given device.  Shared by cudnn.c (compiled as C) and
 * kernels.cu (compiled by nvcc as C++). */
#pragma once

#include <stddef.h>
#include <stdint.h>
#include <cuda_runtime_api.h>

#ifdef __cplusplus
extern "C" {
#endif

/* x[i] = value for i < n. */
cudaError_t derl_cudnn_fill (cudaStream_t stream, int f64, void *x, size_t n, double value);

/* dst[i] = mask[i] != 0 ? src[i] : value for i < n; dst may be src. */
cudaError_t derl_cudnn_select (cudaStream_t stream, int f64, void *dst, const void *src, const void *mask,
                               size_t n, double value);

/* y[i,:] += b[0,:]. */
cudaError_t derl_cudnn_add_row (cudaStream_t stream, int f64, void *y, const void *b, size_t rows, size_t cols);

/* y[i,:] = x[i / repeat,:] for the rows_y rows of y. */
cudaError_t derl_cudnn_repeat_rows (cudaStream_t stream, int f64, void *y, const void *x, size_t rows_y,
                                    size_t cols, unsigned repeat);

/* x[i,:] = y[i * repeat,:] + ... + y[i * repeat + repeat - 1,:], in that
 * order, for the rows_x rows of x. */
cudaError_t derl_cudnn_sum_repeated (cudaStream_t stream, int f64, const void *y, unsigned repeat, void *x,
                                     size_t rows_x, size_t cols);

/* out[0,j] = beta out[0,j] + alpha (x[0,j] + x[1,j] + ...), the rows added
 * one after the other; out is not read when beta is 0. */
cudaError_t derl_cudnn_sum_rows (cudaStream_t stream, int f64, const void *x, size_t rows, size_t cols,
                                 double alpha, double beta, void *out);

/* Per row: the first unmasked j at which the cumulative sum of exp (l)
 * over the unmasked entries, in double, exceeds uniform[row]; the last
 * unmasked entry when it never does; UINT32_MAX for an all-masked row. */
cudaError_t derl_cudnn_sample (cudaStream_t stream, int f64, const void *l, const void *mask, size_t rows,
                               size_t cols, const double *uniform, uint32_t *actions);

/* Per row: the unmasked entry of largest l, the lowest index on ties;
 * UINT32_MAX for an all-masked row. */
cudaError_t derl_cudnn_argmax (cudaStream_t stream, int f64, const void *l, const void *mask, size_t rows,
                               size_t cols, uint32_t *actions);

/* dst[i,:] = src[indices[i],:] for the rows_dst rows of dst. */
cudaError_t derl_cudnn_gather_rows (cudaStream_t stream, int f64, const void *src, const uint32_t *indices,
                                    void *dst, size_t rows_dst, size_t cols);

/* *out = the sum of x[i]^2 over i < n, accumulated in double. */
cudaError_t derl_cudnn_sum_squares (cudaStream_t stream, int f64, const void *x, size_t n, double *out);

/* x[i] *= alpha, in the element type. */
cudaError_t derl_cudnn_scale (cudaStream_t stream, int f64, void *x, size_t n, double alpha);

/* y[i] += alpha x[i], in the element type. */
cudaError_t derl_cudnn_axpy (cudaStream_t stream, int f64, double alpha, const void *x, void *y, size_t n);

/* One Adam step in the element type; @bias1 and @bias2 are 1 - beta1^t
 * and 1 - beta2^t. */
cudaError_t derl_cudnn_adam (cudaStream_t stream, int f64, void *param, const void *grad, void *m, void *v,
                             size_t n, double lr, double beta1, double beta2, double eps, double bias1,
                             double bias2);

#ifdef __cplusplus
}
#endif
