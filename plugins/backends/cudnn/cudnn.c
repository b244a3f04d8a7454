/* derl - the cudnn tensor backend: tensors in the memory of one CUDA
 * device; cuBLAS for the matrix products, cuDNN for the activations and the
 * log-softmax with their gradients, and the kernels of kernels.cu for the
 * rest (masks, row broadcasts and reductions, sampling, argmax, gathers,
 * the vector ops, Adam); float32 and float64.
 *
 * Every op runs on one stream of the context, in the order called, under
 * the context's lock: the critic's thread and evaluation workers may call
 * ops at once.  Ops that return to the host (download, sample, argmax,
 * sum_squares) and upload wait for the stream before returning.
 *
 * Errors.  create() and alloc() report failures as a GError with the
 * library's own message (cudaGetErrorString, cublasGetStatusString,
 * cudnnGetErrorString).  The other ops cannot return one: their first
 * failure is recorded in the context and logged (a warning naming the op
 * and the library's message), and the context stops issuing work.  From
 * then on ops do nothing, download fills its destination with NaN, sample
 * and argmax return DERL_NO_ACTION and sum_squares NaN (so the failure
 * shows as non-finite numbers or no action, never as plausible ones), and
 * alloc fails with the recorded error, which is how derl_tensor_new()
 * callers see it.  Nothing aborts. */
#include "config.h"

#define G_LOG_DOMAIN "derl-cudnn"

#include <limits.h>
#include <math.h>
#include <string.h>
#include <cuda_runtime_api.h>
#include <cublas_v2.h>
#include <cudnn.h>
#include <derl/derl.h>
#include "kernels.h"

typedef struct {
  int device;
  cudaStream_t stream;
  cublasHandle_t blas;
  cudnnHandle_t dnn;
  cudnnTensorDescriptor_t desc;           /* set for each cuDNN call */
  cudnnActivationDescriptor_t act_tanh;
  cudnnActivationDescriptor_t act_relu;
  GMutex lock;                            /* held by every op */
  GError *failure;                        /* the first failure of an op that could not report it */
  void *scratch;                          /* device memory for the ops' temporaries */
  size_t scratch_bytes;
} CudnnContext;

static const DerlParamSpec cudnn_params[] = {
  DERL_PARAM_INT_RANGE ("device", "0", 0, 1023, "the CUDA device to run on (its index, as nvidia-smi lists them)"),
  DERL_PARAM_END
};

/* ---- turning library statuses into errors ---- */

static gboolean
cuda_ok (cudaError_t status, const char *what, GError **error)
{
  if (status == cudaSuccess)
    return TRUE;
  g_set_error (error, DERL_RUN_ERROR, DERL_RUN_ERROR_FAILED, "%s: %s", what, cudaGetErrorString (status));
  return FALSE;
}

static gboolean
blas_ok (cublasStatus_t status, const char *what, GError **error)
{
  if (status == CUBLAS_STATUS_SUCCESS)
    return TRUE;
  g_set_error (error, DERL_RUN_ERROR, DERL_RUN_ERROR_FAILED, "%s: %s", what, cublasGetStatusString (status));
  return FALSE;
}

static gboolean
dnn_ok (cudnnStatus_t status, const char *what, GError **error)
{
  if (status == CUDNN_STATUS_SUCCESS)
    return TRUE;
  g_set_error (error, DERL_RUN_ERROR, DERL_RUN_ERROR_FAILED, "%s: %s", what, cudnnGetErrorString (status));
  return FALSE;
}

/* Records @err (taken) as the context's failure when it is the first, and
 * logs it; returns FALSE. */
static gboolean
record (CudnnContext *ctx, GError *err)
{
  if (!ctx->failure)
    {
      g_warning ("cudnn backend: %s; the backend stops here (later operations do nothing)", err->message);
      ctx->failure = err;
    }
  else
    g_error_free (err);
  return FALSE;
}

/* The checks inside ops: FALSE, with the failure recorded, unless @status
 * is a success. */
static gboolean
op_cuda (CudnnContext *ctx, cudaError_t status, const char *what)
{
  GError *err = NULL;
  return cuda_ok (status, what, &err) || record (ctx, err);
}

static gboolean
op_blas (CudnnContext *ctx, cublasStatus_t status, const char *what)
{
  GError *err = NULL;
  return blas_ok (status, what, &err) || record (ctx, err);
}

static gboolean
op_dnn (CudnnContext *ctx, cudnnStatus_t status, const char *what)
{
  GError *err = NULL;
  return dnn_ok (status, what, &err) || record (ctx, err);
}

/* Records that @what cannot handle a dimension above INT_MAX (the
 * libraries' limit) when one of @a, @b, @c is; returns whether all fit. */
static gboolean
op_fits_int (CudnnContext *ctx, const char *what, gsize a, gsize b, gsize c)
{
  if (a <= INT_MAX && b <= INT_MAX && c <= INT_MAX)
    return TRUE;
  return record (ctx, g_error_new (DERL_RUN_ERROR, DERL_RUN_ERROR_FAILED,
                                   "%s: a dimension is above %d, more than cuBLAS and cuDNN take", what, INT_MAX));
}

/* Takes the lock for one op and makes the context's device current for
 * the calling thread; FALSE, without the lock, once an op has failed. */
static gboolean
op_begin (CudnnContext *ctx)
{
  g_mutex_lock (&ctx->lock);
  if (!ctx->failure && op_cuda (ctx, cudaSetDevice (ctx->device), "cudaSetDevice"))
    return TRUE;
  g_mutex_unlock (&ctx->lock);
  return FALSE;
}

static void
op_end (CudnnContext *ctx)
{
  g_mutex_unlock (&ctx->lock);
}

/* Waits for the stream: where asynchronous failures show. */
static gboolean
op_sync (CudnnContext *ctx, const char *what)
{
  return op_cuda (ctx, cudaStreamSynchronize (ctx->stream), what);
}

/* Makes the scratch memory at least @bytes long (it only grows, so steady
 * state allocates nothing). */
static gboolean
op_scratch (CudnnContext *ctx, size_t bytes)
{
  if (bytes <= ctx->scratch_bytes)
    return TRUE;
  bytes = MAX (bytes, 2 * ctx->scratch_bytes);
  bytes = MAX (bytes, 4096);
  if (ctx->scratch)
    {
      /* queued ops may still read it */
      if (!op_sync (ctx, "cudaStreamSynchronize") || !op_cuda (ctx, cudaFree (ctx->scratch), "cudaFree"))
        return FALSE;
      ctx->scratch = NULL;
      ctx->scratch_bytes = 0;
    }
  if (!op_cuda (ctx, cudaMalloc (&ctx->scratch, bytes), "cudaMalloc (scratch memory)"))
    return FALSE;
  ctx->scratch_bytes = bytes;
  return TRUE;
}

static gsize
n_elements (const DerlTensor *t)
{
  return (gsize) t->rows * t->cols;
}

static int
is_f64 (const DerlTensor *t)
{
  return t->dtype == DERL_DTYPE_F64;
}

static gsize
n_bytes (const DerlTensor *t)
{
  return n_elements (t) * derl_dtype_size (t->dtype);
}

/* ---- context and memory ---- */

static void
cudnn_destroy (gpointer data)
{
  CudnnContext *ctx = data;

  if (!ctx)
    return;
  /* Nothing to report any more: statuses are ignored. */
  cudaSetDevice (ctx->device);
  if (ctx->stream)
    cudaStreamSynchronize (ctx->stream);
  if (ctx->scratch)
    cudaFree (ctx->scratch);
  if (ctx->act_relu)
    cudnnDestroyActivationDescriptor (ctx->act_relu);
  if (ctx->act_tanh)
    cudnnDestroyActivationDescriptor (ctx->act_tanh);
  if (ctx->desc)
    cudnnDestroyTensorDescriptor (ctx->desc);
  if (ctx->dnn)
    cudnnDestroy (ctx->dnn);
  if (ctx->blas)
    cublasDestroy (ctx->blas);
  if (ctx->stream)
    cudaStreamDestroy (ctx->stream);
  cudaGetLastError ();
  g_clear_error (&ctx->failure);
  g_mutex_clear (&ctx->lock);
  g_free (ctx);
}

/* Finds the device (its absence is the usual reason this backend cannot
 * run: no driver, no device), then makes the stream, the cuBLAS and cuDNN
 * handles and the descriptors. */
static gboolean
cudnn_create (const DerlParams *params, gpointer *out, GError **error)
{
  int device = (int) derl_params_get_int (params, "device");
  int count = 0;
  size_t dnn_version = cudnnGetVersion ();
  CudnnContext *ctx;

  if (!cuda_ok (cudaGetDeviceCount (&count), "cudaGetDeviceCount", error))
    {
      cudaGetLastError (); /* not sticky: clear it */
      return FALSE;
    }
  if (device >= count)
    {
      g_set_error (error, DERL_RUN_ERROR, DERL_RUN_ERROR_FAILED, "device %d requested, but only %d CUDA device%s found",
                   device, count, count == 1 ? " is" : "s are");
      return FALSE;
    }
  /* cuDNN numbers its versions major * 10000 + minor * 100 + patch from 9
   * on, major * 1000 + minor * 100 + patch before. */
  size_t dnn_major = dnn_version >= 90000 ? dnn_version / 10000 : dnn_version / 1000;
  if (dnn_major != CUDNN_MAJOR)
    {
      g_set_error (error, DERL_RUN_ERROR, DERL_RUN_ERROR_FAILED,
                   "built for cuDNN %d, but the cuDNN library loaded is version %zu (cudnnGetVersion)", CUDNN_MAJOR,
                   dnn_version);
      return FALSE;
    }

  ctx = g_new0 (CudnnContext, 1);
  g_mutex_init (&ctx->lock);
  ctx->device = device;
  if (!cuda_ok (cudaSetDevice (device), "cudaSetDevice", error)
      || !cuda_ok (cudaStreamCreateWithFlags (&ctx->stream, cudaStreamNonBlocking), "cudaStreamCreate", error)
      || !blas_ok (cublasCreate (&ctx->blas), "cublasCreate", error)
      || !blas_ok (cublasSetStream (ctx->blas, ctx->stream), "cublasSetStream", error)
      || !blas_ok (cublasSetMathMode (ctx->blas, CUBLAS_DEFAULT_MATH), "cublasSetMathMode", error)
      || !dnn_ok (cudnnCreate (&ctx->dnn), "cudnnCreate", error)
      || !dnn_ok (cudnnSetStream (ctx->dnn, ctx->stream), "cudnnSetStream", error)
      || !dnn_ok (cudnnCreateTensorDescriptor (&ctx->desc), "cudnnCreateTensorDescriptor", error)
      || !dnn_ok (cudnnCreateActivationDescriptor (&ctx->act_tanh), "cudnnCreateActivationDescriptor", error)
      || !dnn_ok (cudnnSetActivationDescriptor (ctx->act_tanh, CUDNN_ACTIVATION_TANH, CUDNN_NOT_PROPAGATE_NAN, 0.0),
                  "cudnnSetActivationDescriptor", error)
      || !dnn_ok (cudnnCreateActivationDescriptor (&ctx->act_relu), "cudnnCreateActivationDescriptor", error)
      || !dnn_ok (cudnnSetActivationDescriptor (ctx->act_relu, CUDNN_ACTIVATION_RELU, CUDNN_NOT_PROPAGATE_NAN, 0.0),
                  "cudnnSetActivationDescriptor", error))
    {
      cudnn_destroy (ctx);
      return FALSE;
    }
  *out = ctx;
  return TRUE;
}

static gboolean
cudnn_supports (gpointer data, DerlDType dtype)
{
  return dtype == DERL_DTYPE_F32 || dtype == DERL_DTYPE_F64;
}

/* Device memory; fails with the recorded error once an op has failed. */
static gpointer
cudnn_alloc (gpointer data, gsize bytes, GError **error)
{
  CudnnContext *ctx = data;
  g_autoptr (GError) err = NULL;
  void *p = NULL;

  g_mutex_lock (&ctx->lock);
  if (ctx->failure)
    g_set_error (error, DERL_RUN_ERROR, DERL_RUN_ERROR_FAILED, "cudnn backend: an earlier operation failed: %s",
                 ctx->failure->message);
  else if (!cuda_ok (cudaSetDevice (ctx->device), "cudaSetDevice", &err)
           || !cuda_ok (cudaMalloc (&p, MAX (bytes, 1)), "cudaMalloc", &err))
    {
      cudaGetLastError (); /* an allocation failure is not sticky: clear it */
      g_set_error (error, DERL_RUN_ERROR, DERL_RUN_ERROR_FAILED,
                   "cudnn backend: cannot allocate %" G_GSIZE_FORMAT " bytes on CUDA device %d: %s", bytes,
                   ctx->device, err->message);
      p = NULL;
    }
  g_mutex_unlock (&ctx->lock);
  return p;
}

static void
cudnn_free (gpointer data, gpointer p)
{
  CudnnContext *ctx = data;
  cudaError_t status;

  /* cudaFree waits for the work queued on the memory.  Memory is freed
   * after a failure too, as far as the device still can. */
  g_mutex_lock (&ctx->lock);
  status = cudaSetDevice (ctx->device);
  if (status == cudaSuccess)
    status = cudaFree (p);
  if (!ctx->failure)
    op_cuda (ctx, status, "cudaFree");
  else
    cudaGetLastError ();
  g_mutex_unlock (&ctx->lock);
}

/* Waits for the copy: the caller may reuse @src at once. */
static void
cudnn_upload (gpointer data, DerlTensor *dst, gsize offset, const void *src, gsize n)
{
  CudnnContext *ctx = data;
  gsize size = derl_dtype_size (dst->dtype);

  if (n == 0 || !op_begin (ctx))
    return;
  if (op_cuda (ctx, cudaMemcpyAsync ((char *) dst->data + offset * size, src, n * size, cudaMemcpyHostToDevice,
                                     ctx->stream), "upload: cudaMemcpyAsync"))
    op_sync (ctx, "upload: cudaStreamSynchronize");
  op_end (ctx);
}

static void
fill_nan (void *dst, DerlDType dtype, gsize n)
{
  for (gsize i = 0; i < n; i++)
    if (dtype == DERL_DTYPE_F64)
      ((double *) dst)[i] = NAN;
    else
      ((float *) dst)[i] = NAN;
}

/* Waits for the work queued before it; NaN when the context has failed. */
static void
cudnn_download (gpointer data, const DerlTensor *src, gsize offset, void *dst, gsize n)
{
  CudnnContext *ctx = data;
  gsize size = derl_dtype_size (src->dtype);
  gboolean ok = FALSE;

  if (n == 0)
    return;
  if (op_begin (ctx))
    {
      ok = op_cuda (ctx, cudaMemcpyAsync (dst, (const char *) src->data + offset * size, n * size,
                                          cudaMemcpyDeviceToHost, ctx->stream), "download: cudaMemcpyAsync")
           && op_sync (ctx, "download: cudaStreamSynchronize");
      op_end (ctx);
    }
  if (!ok)
    fill_nan (dst, src->dtype, n);
}

static void
cudnn_fill (gpointer data, DerlTensor *t, double value)
{
  CudnnContext *ctx = data;
  gsize n = n_elements (t);

  if (n == 0 || !op_begin (ctx))
    return;
  if (value == 0.0)
    op_cuda (ctx, cudaMemsetAsync (t->data, 0, n_bytes (t), ctx->stream), "fill: cudaMemsetAsync");
  else
    op_cuda (ctx, derl_cudnn_fill (ctx->stream, is_f64 (t), t->data, n, value), "fill");
  op_end (ctx);
}

/* dst = src; views that overlap go through the scratch memory. */
static void
cudnn_copy (gpointer data, DerlTensor *dst, const DerlTensor *src)
{
  CudnnContext *ctx = data;
  gsize bytes = n_bytes (dst);
  const char *s = src->data;
  char *d = dst->data;

  if (bytes == 0 || d == s || !op_begin (ctx))
    return;
  if (d < s + bytes && s < d + bytes)
    {
      if (op_scratch (ctx, bytes)
          && op_cuda (ctx, cudaMemcpyAsync (ctx->scratch, s, bytes, cudaMemcpyDeviceToDevice, ctx->stream),
                      "copy: cudaMemcpyAsync"))
        s = ctx->scratch;
      else
        s = NULL;
    }
  if (s)
    op_cuda (ctx, cudaMemcpyAsync (d, s, bytes, cudaMemcpyDeviceToDevice, ctx->stream), "copy: cudaMemcpyAsync");
  op_end (ctx);
}

/* ---- gemm ---- */

/* C = alpha op(A) op(B) + beta C.  The tensors are row-major and cuBLAS is
 * column-major: a row-major r x c matrix is, to cuBLAS, its c x r
 * transpose with leading dimension c.  So cuBLAS computes
 * C^T = alpha op(B)^T op(A)^T + beta C^T, an n x m column-major product,
 * with B first.  k = 0 or alpha = 0 scale C here, so that A and B are not
 * read; cuBLAS does not read C when beta is 0. */
static void
cudnn_gemm (gpointer data, gboolean trans_a, gboolean trans_b, double alpha, const DerlTensor *a,
            const DerlTensor *b, double beta, DerlTensor *c)
{
  CudnnContext *ctx = data;
  gsize m = c->rows, n = c->cols;
  gsize k = trans_a ? a->rows : a->cols;
  int lda = (int) MAX (a->cols, 1), ldb = (int) MAX (b->cols, 1), ldc = (int) MAX (c->cols, 1);
  cublasOperation_t ta = trans_a ? CUBLAS_OP_T : CUBLAS_OP_N;
  cublasOperation_t tb = trans_b ? CUBLAS_OP_T : CUBLAS_OP_N;

  if (m == 0 || n == 0 || !op_begin (ctx))
    return;
  if (!op_fits_int (ctx, "gemm", MAX (m, a->cols), MAX (n, b->cols), MAX (k, MAX (a->rows, b->rows))))
    {
      op_end (ctx);
      return;
    }
  if (k == 0 || alpha == 0.0)
    {
      if (beta == 0.0)
        op_cuda (ctx, cudaMemsetAsync (c->data, 0, n_bytes (c), ctx->stream), "gemm: cudaMemsetAsync");
      else if (beta != 1.0)
        op_cuda (ctx, derl_cudnn_scale (ctx->stream, is_f64 (c), c->data, m * n, beta), "gemm (C = beta C)");
    }
  else if (is_f64 (c))
    op_blas (ctx, cublasDgemm (ctx->blas, tb, ta, (int) n, (int) m, (int) k, &alpha, b->data, ldb, a->data, lda,
                               &beta, c->data, ldc), "gemm: cublasDgemm");
  else
    {
      float al = (float) alpha, be = (float) beta;
      op_blas (ctx, cublasSgemm (ctx->blas, tb, ta, (int) n, (int) m, (int) k, &al, b->data, ldb, a->data, lda,
                                 &be, c->data, ldc), "gemm: cublasSgemm");
    }
  op_end (ctx);
}

/* ---- broadcasts and reductions over rows ---- */

static void
cudnn_add_row (gpointer data, DerlTensor *y, const DerlTensor *b)
{
  CudnnContext *ctx = data;

  if (n_elements (y) == 0 || !op_begin (ctx))
    return;
  op_cuda (ctx, derl_cudnn_add_row (ctx->stream, is_f64 (y), y->data, b->data, y->rows, y->cols), "add_row");
  op_end (ctx);
}

static void
cudnn_repeat_rows (gpointer data, DerlTensor *y, const DerlTensor *x, guint repeat)
{
  CudnnContext *ctx = data;

  if (n_elements (y) == 0 || !op_begin (ctx))
    return;
  op_cuda (ctx, derl_cudnn_repeat_rows (ctx->stream, is_f64 (y), y->data, x->data, y->rows, y->cols, repeat),
           "repeat_rows");
  op_end (ctx);
}

static void
cudnn_sum_repeated (gpointer data, const DerlTensor *y, guint repeat, DerlTensor *x)
{
  CudnnContext *ctx = data;

  if (n_elements (x) == 0 || !op_begin (ctx))
    return;
  op_cuda (ctx, derl_cudnn_sum_repeated (ctx->stream, is_f64 (x), y->data, repeat, x->data, x->rows, x->cols),
           "sum_repeated");
  op_end (ctx);
}

static void
cudnn_sum_rows (gpointer data, const DerlTensor *x, double alpha, double beta, DerlTensor *out)
{
  CudnnContext *ctx = data;

  if (out->cols == 0 || !op_begin (ctx))
    return;
  op_cuda (ctx, derl_cudnn_sum_rows (ctx->stream, is_f64 (x), x->data, x->rows, x->cols, alpha, beta, out->data),
           "sum_rows");
  op_end (ctx);
}

/* ---- cuDNN: activations and the log-softmax ---- */

static const float one_f = 1.0f, zero_f = 0.0f;
static const double one_d = 1.0, zero_d = 0.0;

/* cuDNN's scaling factors are float for float tensors, double for double. */
#define ONE(t) (is_f64 (t) ? (const void *) &one_d : (const void *) &one_f)
#define ZERO(t) (is_f64 (t) ? (const void *) &zero_d : (const void *) &zero_f)

/* Describes @t to cuDNN as rows x cols x 1 x 1 (NCHW): the softmax's
 * instances are the rows. */
static gboolean
op_describe (CudnnContext *ctx, const DerlTensor *t, const char *what)
{
  if (!op_fits_int (ctx, what, t->rows, t->cols, n_elements (t)))
    return FALSE;
  return op_dnn (ctx, cudnnSetTensor4dDescriptor (ctx->desc, CUDNN_TENSOR_NCHW,
                                                  is_f64 (t) ? CUDNN_DATA_DOUBLE : CUDNN_DATA_FLOAT,
                                                  (int) t->rows, (int) t->cols, 1, 1),
                 "cudnnSetTensor4dDescriptor");
}

static cudnnActivationDescriptor_t
activation_desc (CudnnContext *ctx, DerlActivation f)
{
  return f == DERL_ACTIVATION_TANH ? ctx->act_tanh : ctx->act_relu;
}

/* Y = f(X); identity is a copy.  cuDNN works in place. */
static void
cudnn_activation (gpointer data, DerlActivation f, const DerlTensor *x, DerlTensor *y)
{
  CudnnContext *ctx = data;

  if (n_elements (x) == 0 || !op_begin (ctx))
    return;
  if (f != DERL_ACTIVATION_TANH && f != DERL_ACTIVATION_RELU)
    {
      if (y->data != x->data)
        op_cuda (ctx, cudaMemcpyAsync (y->data, x->data, n_bytes (x), cudaMemcpyDeviceToDevice, ctx->stream),
                 "activation: cudaMemcpyAsync");
    }
  else if (op_describe (ctx, x, "activation"))
    op_dnn (ctx, cudnnActivationForward (ctx->dnn, activation_desc (ctx, f), ONE (x), ctx->desc, x->data, ZERO (x),
                                         ctx->desc, y->data), "cudnnActivationForward");
  op_end (ctx);
}

/* dX = dY f'(X): cuDNN gives tanh's dY (1 - Y^2) and relu's dY where
 * X > 0 (0 at 0); identity passes dY.  dX may be dY. */
static void
cudnn_activation_backward (gpointer data, DerlActivation f, const DerlTensor *x, const DerlTensor *y,
                           const DerlTensor *dy, DerlTensor *dx)
{
  CudnnContext *ctx = data;

  if (n_elements (x) == 0 || !op_begin (ctx))
    return;
  if (f != DERL_ACTIVATION_TANH && f != DERL_ACTIVATION_RELU)
    {
      if (dx->data != dy->data)
        op_cuda (ctx, cudaMemcpyAsync (dx->data, dy->data, n_bytes (dy), cudaMemcpyDeviceToDevice, ctx->stream),
                 "activation_backward: cudaMemcpyAsync");
    }
  else if (op_describe (ctx, x, "activation_backward"))
    op_dnn (ctx, cudnnActivationBackward (ctx->dnn, activation_desc (ctx, f), ONE (x), ctx->desc, y->data, ctx->desc,
                                          dy->data, ctx->desc, x->data, ZERO (x), ctx->desc, dx->data),
            "cudnnActivationBackward");
  op_end (ctx);
}

/* cuDNN's log-softmax (CUDNN_SOFTMAX_LOG, max subtracted) over each row of
 * a copy of X whose masked entries are -inf: they come out -inf, and the
 * unmasked ones are the log-softmax over the unmasked entries.  A row with
 * every entry masked comes out NaN from cuDNN; masking the output again
 * makes every masked entry exactly -inf.  L may be X. */
static void
cudnn_masked_log_softmax (gpointer data, const DerlTensor *x, const DerlTensor *mask, DerlTensor *l)
{
  CudnnContext *ctx = data;
  gsize n = n_elements (x);
  int f64 = is_f64 (x);

  if (n == 0 || !op_begin (ctx))
    return;
  if (op_scratch (ctx, n_bytes (x)) && op_describe (ctx, x, "masked_log_softmax")
      && op_cuda (ctx, derl_cudnn_select (ctx->stream, f64, ctx->scratch, x->data, mask->data, n, -INFINITY),
                  "masked_log_softmax (mask)")
      && op_dnn (ctx, cudnnSoftmaxForward (ctx->dnn, CUDNN_SOFTMAX_LOG, CUDNN_SOFTMAX_MODE_INSTANCE, ONE (x),
                                           ctx->desc, ctx->scratch, ZERO (x), ctx->desc, l->data),
                 "cudnnSoftmaxForward"))
    op_cuda (ctx, derl_cudnn_select (ctx->stream, f64, l->data, l->data, mask->data, n, -INFINITY),
             "masked_log_softmax (mask)");
  op_end (ctx);
}

/* cuDNN's log-softmax backward, dX = dL - exp (L) sum (dL), given dL with
 * its masked entries zeroed: masked entries have exp (L) = 0, so they add
 * nothing to the sums and come out 0 (masked again to be exact).  dX may
 * be dL (or L: L then goes through the scratch memory too). */
static void
cudnn_masked_log_softmax_backward (gpointer data, const DerlTensor *l, const DerlTensor *mask, const DerlTensor *dl,
                                   DerlTensor *dx)
{
  CudnnContext *ctx = data;
  gsize n = n_elements (l), bytes = n_bytes (l);
  int f64 = is_f64 (l);

  if (n == 0 || !op_begin (ctx))
    return;
  if (op_scratch (ctx, 2 * bytes) && op_describe (ctx, l, "masked_log_softmax_backward"))
    {
      void *masked_dl = ctx->scratch;
      void *l_copy = (char *) ctx->scratch + bytes;
      const void *y = dx->data == l->data ? l_copy : l->data;

      if ((y == l->data
           || op_cuda (ctx, cudaMemcpyAsync (l_copy, l->data, bytes, cudaMemcpyDeviceToDevice, ctx->stream),
                       "masked_log_softmax_backward: cudaMemcpyAsync"))
          && op_cuda (ctx, derl_cudnn_select (ctx->stream, f64, masked_dl, dl->data, mask->data, n, 0.0),
                      "masked_log_softmax_backward (mask)")
          && op_dnn (ctx, cudnnSoftmaxBackward (ctx->dnn, CUDNN_SOFTMAX_LOG, CUDNN_SOFTMAX_MODE_INSTANCE, ONE (l),
                                                ctx->desc, y, ctx->desc, masked_dl, ZERO (l), ctx->desc, dx->data),
                     "cudnnSoftmaxBackward"))
        op_cuda (ctx, derl_cudnn_select (ctx->stream, f64, dx->data, dx->data, mask->data, n, 0.0),
                 "masked_log_softmax_backward (mask)");
    }
  op_end (ctx);
}

/* ---- sampling, argmax, gathers: host arrays through the scratch memory ---- */

static void
no_actions (guint32 *actions, guint rows)
{
  for (guint i = 0; i < rows; i++)
    actions[i] = DERL_NO_ACTION;
}

/* The uniforms go up, one kernel thread per row draws, the actions come
 * back; DERL_NO_ACTION everywhere when the context has failed. */
static void
cudnn_sample (gpointer data, const DerlTensor *l, const DerlTensor *mask, const double *uniform, guint32 *actions)
{
  CudnnContext *ctx = data;
  gsize rows = l->rows;
  gboolean ok = FALSE;

  if (rows == 0)
    return;
  if (op_begin (ctx))
    {
      double *u = NULL;
      uint32_t *a = NULL;
      ok = op_scratch (ctx, rows * (sizeof (double) + sizeof (uint32_t)));
      if (ok)
        {
          u = ctx->scratch;
          a = (uint32_t *) (u + rows);
        }
      ok = ok
           && op_cuda (ctx, cudaMemcpyAsync (u, uniform, rows * sizeof (double), cudaMemcpyHostToDevice, ctx->stream),
                       "sample: cudaMemcpyAsync")
           && op_cuda (ctx, derl_cudnn_sample (ctx->stream, is_f64 (l), l->data, mask->data, rows, l->cols, u, a),
                       "sample")
           && op_cuda (ctx, cudaMemcpyAsync (actions, a, rows * sizeof (uint32_t), cudaMemcpyDeviceToHost, ctx->stream),
                       "sample: cudaMemcpyAsync")
           && op_sync (ctx, "sample: cudaStreamSynchronize");
      op_end (ctx);
    }
  if (!ok)
    no_actions (actions, rows);
}

static void
cudnn_argmax (gpointer data, const DerlTensor *l, const DerlTensor *mask, guint32 *actions)
{
  CudnnContext *ctx = data;
  gsize rows = l->rows;
  gboolean ok = FALSE;

  if (rows == 0)
    return;
  if (op_begin (ctx))
    {
      ok = op_scratch (ctx, rows * sizeof (uint32_t))
           && op_cuda (ctx, derl_cudnn_argmax (ctx->stream, is_f64 (l), l->data, mask->data, rows, l->cols,
                                               ctx->scratch), "argmax")
           && op_cuda (ctx, cudaMemcpyAsync (actions, ctx->scratch, rows * sizeof (uint32_t), cudaMemcpyDeviceToHost,
                                             ctx->stream), "argmax: cudaMemcpyAsync")
           && op_sync (ctx, "argmax: cudaStreamSynchronize");
      op_end (ctx);
    }
  if (!ok)
    no_actions (actions, rows);
}

/* The indices go up through the scratch memory (the copy completes before
 * the call returns, as the caller may reuse them). */
static void
cudnn_gather_rows (gpointer data, const DerlTensor *src, const guint32 *indices, DerlTensor *dst)
{
  CudnnContext *ctx = data;
  gsize rows = dst->rows;

  if (n_elements (dst) == 0 || !op_begin (ctx))
    return;
  if (op_scratch (ctx, rows * sizeof (uint32_t))
      && op_cuda (ctx, cudaMemcpyAsync (ctx->scratch, indices, rows * sizeof (uint32_t), cudaMemcpyHostToDevice,
                                        ctx->stream), "gather_rows: cudaMemcpyAsync")
      && op_cuda (ctx, derl_cudnn_gather_rows (ctx->stream, is_f64 (src), src->data, ctx->scratch, dst->data, rows,
                                               dst->cols), "gather_rows"))
    op_sync (ctx, "gather_rows: cudaStreamSynchronize");
  op_end (ctx);
}

/* ---- vector ops and the optimiser ---- */

/* Accumulated in double on the device; NaN when the context has failed. */
static double
cudnn_sum_squares (gpointer data, const DerlTensor *x)
{
  CudnnContext *ctx = data;
  double sum = NAN;

  if (n_elements (x) == 0)
    return 0.0;
  if (!op_begin (ctx))
    return NAN;
  if (!(op_scratch (ctx, sizeof (double))
        && op_cuda (ctx, derl_cudnn_sum_squares (ctx->stream, is_f64 (x), x->data, n_elements (x), ctx->scratch),
                    "sum_squares")
        && op_cuda (ctx, cudaMemcpyAsync (&sum, ctx->scratch, sizeof (double), cudaMemcpyDeviceToHost, ctx->stream),
                    "sum_squares: cudaMemcpyAsync")
        && op_sync (ctx, "sum_squares: cudaStreamSynchronize")))
    sum = NAN;
  op_end (ctx);
  return sum;
}

static void
cudnn_scale (gpointer data, DerlTensor *x, double alpha)
{
  CudnnContext *ctx = data;

  if (n_elements (x) == 0 || !op_begin (ctx))
    return;
  op_cuda (ctx, derl_cudnn_scale (ctx->stream, is_f64 (x), x->data, n_elements (x), alpha), "scale");
  op_end (ctx);
}

static void
cudnn_axpy (gpointer data, double alpha, const DerlTensor *x, DerlTensor *y)
{
  CudnnContext *ctx = data;

  if (n_elements (x) == 0 || !op_begin (ctx))
    return;
  op_cuda (ctx, derl_cudnn_axpy (ctx->stream, is_f64 (x), alpha, x->data, y->data, n_elements (x)), "axpy");
  op_end (ctx);
}

/* The bias corrections 1 - beta^t in double on the host, as the CPU
 * backend computes them; the step itself in the element type. */
static void
cudnn_adam (gpointer data, DerlTensor *param, const DerlTensor *grad, DerlTensor *m, DerlTensor *v,
            const DerlAdamParams *p)
{
  CudnnContext *ctx = data;
  double bias1 = 1.0 - pow (p->beta1, (double) p->t);
  double bias2 = 1.0 - pow (p->beta2, (double) p->t);

  if (n_elements (param) == 0 || !op_begin (ctx))
    return;
  op_cuda (ctx, derl_cudnn_adam (ctx->stream, is_f64 (param), param->data, grad->data, m->data, v->data,
                                 n_elements (param), p->lr, p->beta1, p->beta2, p->eps, bias1, bias2), "adam");
  op_end (ctx);
}

/* ---- the vtable and the plugin ---- */

static const DerlBackendVTable cudnn_vtable = {
  .create = cudnn_create,
  .destroy = cudnn_destroy,
  .supports = cudnn_supports,
  .alloc = cudnn_alloc,
  .free = cudnn_free,
  .upload = cudnn_upload,
  .download = cudnn_download,
  .fill = cudnn_fill,
  .copy = cudnn_copy,
  .gemm = cudnn_gemm,
  .add_row = cudnn_add_row,
  .repeat_rows = cudnn_repeat_rows,
  .sum_repeated = cudnn_sum_repeated,
  .sum_rows = cudnn_sum_rows,
  .activation = cudnn_activation,
  .activation_backward = cudnn_activation_backward,
  .masked_log_softmax = cudnn_masked_log_softmax,
  .masked_log_softmax_backward = cudnn_masked_log_softmax_backward,
  .sample = cudnn_sample,
  .argmax = cudnn_argmax,
  .gather_rows = cudnn_gather_rows,
  .sum_squares = cudnn_sum_squares,
  .scale = cudnn_scale,
  .axpy = cudnn_axpy,
  .adam = cudnn_adam,
};

static const char cudnn_description[] =
  "A GPU tensor backend on one CUDA device: cuBLAS for the matrix products, cuDNN for the\n"
  "activations and the masked log-softmax with their gradients, CUDA kernels for the rest\n"
  "(masks, row broadcasts and sums, sampling, argmax, gathers, Adam); float32 and float64.\n"
  "Built with CUDA " DERL_CUDA_RELEASE " and cuDNN " G_STRINGIFY (CUDNN_MAJOR) "." G_STRINGIFY (CUDNN_MINOR) "."
  G_STRINGIFY (CUDNN_PATCHLEVEL) ".  Without a usable device or driver it cannot be\n"
  "created, and an experiment that names it fails validation with the CUDA runtime's reason.\n"
  "Results match the cpu backend to float rounding (products and reductions add in another\n"
  "order); on a given device they are deterministic.  See derl-backend-cudnn(7).";

static gboolean
cudnn_plugin_init (DerlPlugin *plugin, GError **error)
{
  return derl_plugin_register_backend (plugin, "cudnn", cudnn_description, &cudnn_vtable, cudnn_params, error);
}

DERL_PLUGIN_DEFINE ("cudnn", "a GPU tensor backend on CUDA, cuBLAS and cuDNN", cudnn_plugin_init, PACKAGE_VERSION,
                    "LGPL-2.1-or-later")
