/* derl - tensor backends: device memory and the numerical ops of the models. */
#pragma once

#include <glib.h>
#include <derl/param.h>
#include <derl/plugin.h>

G_BEGIN_DECLS

/**
 * DerlDType:
 * @DERL_DTYPE_F32: IEEE single precision, what models train in
 * @DERL_DTYPE_F64: double precision, for gradient checks and references
 */
typedef enum {
  DERL_DTYPE_F32,
  DERL_DTYPE_F64,
} DerlDType;

/** derl_dtype_size: Returns the bytes of one element of @dtype. */
gsize derl_dtype_size (DerlDType dtype);

/**
 * DerlActivation:
 * The elementwise nonlinearities of the models.
 */
typedef enum {
  DERL_ACTIVATION_IDENTITY,
  DERL_ACTIVATION_TANH,
  DERL_ACTIVATION_RELU,
} DerlActivation;

typedef struct _DerlBackend DerlBackend;

/**
 * DERL_NO_ACTION:
 * What sample and argmax return for a row whose actions are all masked.
 */
#define DERL_NO_ACTION G_MAXUINT32

/**
 * DerlTensor:
 * @backend: the backend whose memory holds the elements
 * @dtype: the element type
 * @rows: @cols: the shape; elements are stored row-major and contiguous
 * @data: the first element, in the backend's memory (a device pointer for
 *   GPU backends): never dereference it outside the backend
 *
 * A matrix in a backend's memory.  Callers read and write elements only
 * through derl_tensor_upload() and derl_tensor_download(); everything else
 * is a backend op.  A view (derl_tensor_view_rows(), derl_tensor_reshape())
 * shares its parent's memory and must not outlive it.
 */
typedef struct {
  DerlBackend *backend;
  DerlDType dtype;
  guint rows;
  guint cols;
  gpointer data;
  /*< private >*/
  gboolean owns_data;
  gpointer _reserved[2];
} DerlTensor;

/**
 * DerlAdamParams:
 * One Adam step (Kingma & Ba) with bias correction, PyTorch's form:
 * m = b1 m + (1-b1) g; v = b2 v + (1-b2) g^2;
 * p -= lr * (m / (1-b1^t)) / (sqrt(v / (1-b2^t)) + eps).
 */
typedef struct {
  double lr;
  double beta1;
  double beta2;
  double eps;
  guint64 t;       /* the step number, from 1 */
} DerlAdamParams;

/**
 * DerlBackendVTable:
 *
 * What a tensor backend implements.  Every op takes the backend's context
 * first; tensors passed to one op belong to that backend and have the same
 * dtype.  Shapes are checked by the derl_tensor_* wrappers before an op is
 * called, so backends may assume them.  Ops run in order as called; a
 * backend that runs asynchronously completes pending work before download
 * and reductions that return to the host.
 *
 * @create: makes a context from validated @params; FALSE with @error when
 *   the backend cannot run here (no device, missing library)
 * @destroy: frees the context
 * @supports: whether the backend implements @dtype
 * @alloc: @free: device memory for @bytes bytes
 * @upload: copies @n elements from host memory into @dst from element @offset
 * @download: copies @n elements of @src from element @offset to the host
 * @fill: sets every element to @value
 * @copy: @dst = @src (same shape)
 * @gemm: C = alpha op(A) op(B) + beta C, op transposing when asked; C is
 *   not read when beta is 0 (NaN there does not propagate), A and B not
 *   when alpha is 0; C never overlaps A or B
 * @add_row: Y[i,:] += b[0,:] for every row i (b is 1 x cols)
 * @repeat_rows: Y[i,:] = X[i / repeat,:] (Y has repeat times X's rows): a
 *   bias or a per-decision term broadcast before a gemm with beta 1
 * @sum_repeated: X[j,:] = sum over r of Y[j * repeat + r,:] (the adjoint of repeat_rows)
 * @sum_rows: out (1 x cols) = beta out + alpha * the sum of X's rows (out
 *   not read when beta is 0)
 * @activation: Y = f(X)
 * @activation_backward: dX = dY * f'(X), given X and Y = f(X)
 * @masked_log_softmax: per row, L = log softmax of X over the entries
 *   whose mask is non-zero; masked entries get -inf (probability exactly 0);
 *   a row with every entry masked is all -inf
 * @masked_log_softmax_backward: dX = dL - softmax * sum(dL) over unmasked
 *   entries of each row; masked entries of dX are 0
 * @sample: per row, the action whose cumulative probability exp(L) first
 *   exceeds @uniform[row] (inverse CDF over unmasked entries; the last
 *   unmasked one when rounding leaves the sum below it), to the host;
 *   %DERL_NO_ACTION for a row with every entry masked
 * @argmax: per row, the unmasked entry of largest L (lowest index on ties);
 *   %DERL_NO_ACTION for a row with every entry masked
 * @gather_rows: dst[i,:] = src[indices[i],:] for the dst->rows host indices
 * @sum_squares: returns the sum of the squares of the elements, on the host
 * @scale: X *= alpha
 * @axpy: Y += alpha X
 * @adam: one Adam step of @param from @grad, with moment buffers @m and @v
 *
 * Elementwise ops (activation and its backward, the log-softmax and its
 * backward, scale, copy) may write their output over their input; gemm's C
 * and gather's destination never overlap their sources.
 */
typedef struct {
  gboolean (*create) (const DerlParams *params, gpointer *ctx, GError **error);
  void (*destroy) (gpointer ctx);
  gboolean (*supports) (gpointer ctx, DerlDType dtype);
  gpointer (*alloc) (gpointer ctx, gsize bytes, GError **error);
  void (*free) (gpointer ctx, gpointer data);
  void (*upload) (gpointer ctx, DerlTensor *dst, gsize offset, const void *src, gsize n);
  void (*download) (gpointer ctx, const DerlTensor *src, gsize offset, void *dst, gsize n);
  void (*fill) (gpointer ctx, DerlTensor *t, double value);
  void (*copy) (gpointer ctx, DerlTensor *dst, const DerlTensor *src);
  void (*gemm) (gpointer ctx, gboolean trans_a, gboolean trans_b, double alpha, const DerlTensor *a,
                const DerlTensor *b, double beta, DerlTensor *c);
  void (*add_row) (gpointer ctx, DerlTensor *y, const DerlTensor *b);
  void (*repeat_rows) (gpointer ctx, DerlTensor *y, const DerlTensor *x, guint repeat);
  void (*sum_repeated) (gpointer ctx, const DerlTensor *y, guint repeat, DerlTensor *x);
  void (*sum_rows) (gpointer ctx, const DerlTensor *x, double alpha, double beta, DerlTensor *out);
  void (*activation) (gpointer ctx, DerlActivation f, const DerlTensor *x, DerlTensor *y);
  void (*activation_backward) (gpointer ctx, DerlActivation f, const DerlTensor *x, const DerlTensor *y,
                               const DerlTensor *dy, DerlTensor *dx);
  void (*masked_log_softmax) (gpointer ctx, const DerlTensor *x, const DerlTensor *mask, DerlTensor *l);
  void (*masked_log_softmax_backward) (gpointer ctx, const DerlTensor *l, const DerlTensor *mask,
                                       const DerlTensor *dl, DerlTensor *dx);
  void (*sample) (gpointer ctx, const DerlTensor *l, const DerlTensor *mask, const double *uniform,
                  guint32 *actions);
  void (*argmax) (gpointer ctx, const DerlTensor *l, const DerlTensor *mask, guint32 *actions);
  void (*gather_rows) (gpointer ctx, const DerlTensor *src, const guint32 *indices, DerlTensor *dst);
  double (*sum_squares) (gpointer ctx, const DerlTensor *x);
  void (*scale) (gpointer ctx, DerlTensor *x, double alpha);
  void (*axpy) (gpointer ctx, double alpha, const DerlTensor *x, DerlTensor *y);
  void (*adam) (gpointer ctx, DerlTensor *param, const DerlTensor *grad, DerlTensor *m, DerlTensor *v,
                const DerlAdamParams *p);
  /*< private >*/
  gpointer _reserved[16];
} DerlBackendVTable;

/**
 * derl_plugin_register_backend:
 *
 * Registers a tensor backend, as derl_plugin_register_env() does an env.
 * Every vtable entry is required.
 */
gboolean derl_plugin_register_backend (DerlPlugin *plugin, const char *name, const char *description,
                                       const DerlBackendVTable *vtable, const DerlParamSpec *params,
                                       GError **error);

typedef struct _DerlFeature DerlFeature;

/**
 * derl_backend_new:
 * @feature: a backend feature (the built-in "cpu" or a plugin's)
 * @params: values validated against its specs
 *
 * Returns a backend instance, or NULL with @error when it cannot run here.
 */
DerlBackend *derl_backend_new (const DerlFeature *feature, const DerlParams *params, GError **error);

/**
 * derl_backend_new_cpu:
 * Returns an instance of the built-in CPU backend with default parameters;
 * it cannot fail.
 */
DerlBackend *derl_backend_new_cpu (void);

void derl_backend_free (DerlBackend *backend);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (DerlBackend, derl_backend_free)

/** derl_backend_get_name: Returns the backend feature's name, e.g. "cpu". */
const char *derl_backend_get_name (const DerlBackend *backend);

/**
 * derl_backend_set_threads:
 * @n_threads: 1 or more
 *
 * Splits each large op of the backend among @n_threads threads, the
 * caller's included, where the backend can (the built-in CPU backend;
 * other backends ignore it).  Results do not depend on it: the ops split
 * their outputs, never a sum.
 */
void derl_backend_set_threads (DerlBackend *backend, guint n_threads);

/** derl_backend_supports: Returns whether the backend implements @dtype. */
gboolean derl_backend_supports (const DerlBackend *backend, DerlDType dtype);

/**
 * derl_backend_cpu_vtable:
 * Returns the built-in CPU backend's vtable: derl's own kernels for
 * float32 (matrix products, activations, Adam, ...), plain loops for
 * float64.  Every op gives the same bits on every x86-64 CPU, kernel path
 * and thread count (derl_backend_cpu_kernels()).  It has no parameters;
 * derl_policy_set_threads() splits its large ops among threads.
 */
const DerlBackendVTable *derl_backend_cpu_vtable (void);

/**
 * derl_backend_cpu_kernels:
 * Returns the instruction-set path the CPU backend's float32 kernels take
 * in this process: "avx512", "avx2" (with FMA) or "generic" (portable C).
 * The widest the CPU runs unless the DERL_CPU environment variable (read
 * once, at the first op) or derl_backend_cpu_set_kernels() names another.
 * Every path gives the same bits; only the speed differs.
 */
const char *derl_backend_cpu_kernels (void);

/**
 * derl_backend_cpu_set_kernels:
 * @name: "generic", "avx2", "avx512" or "auto" (the widest)
 *
 * Makes every CPU backend of the process use that path from now on, as
 * DERL_CPU does at start-up; for tests that compare paths on one machine.
 * Returns FALSE with @error when the name is unknown, this build lacks the
 * path or this CPU cannot run it.
 */
gboolean derl_backend_cpu_set_kernels (const char *name, GError **error);

/**
 * derl_backend_cpu_check_env:
 * Returns FALSE with @error naming the value and why when DERL_CPU is set
 * to a path that is unknown or that this CPU or build cannot run (the
 * kernels would then take the widest path instead); TRUE when it is unset,
 * empty or usable.  derl-run checks it before a run.
 */
gboolean derl_backend_cpu_check_env (GError **error);

/**
 * derl_cpu_model:
 * Returns the CPU's model name as the operating system reports it, e.g.
 * "AMD EPYC 9B14" (a static string), for the records a run writes.
 */
const char *derl_cpu_model (void);

/**
 * derl_backend_cpu_params:
 * Returns the built-in CPU backend's parameter specs.
 */
const DerlParamSpec *derl_backend_cpu_params (void);

/* ---- tensors: the only way callers reach a backend's memory and ops ---- */

/**
 * derl_tensor_new:
 * Returns a @rows x @cols tensor of zeros, or NULL with @error when the
 * backend cannot allocate it or does not support @dtype.
 */
DerlTensor *derl_tensor_new (DerlBackend *backend, DerlDType dtype, guint rows, guint cols, GError **error);

/** derl_tensor_free: Frees a tensor or a view (a view's memory stays with its parent). */
void derl_tensor_free (DerlTensor *tensor);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (DerlTensor, derl_tensor_free)

/**
 * derl_tensor_view_rows:
 * Returns a view of rows [@row0, @row0 + @n_rows) of @t (no copy).
 */
DerlTensor *derl_tensor_view_rows (const DerlTensor *t, guint row0, guint n_rows);

/**
 * derl_tensor_reshape:
 * Returns a view of @t as @rows x @cols (the same number of elements).
 */
DerlTensor *derl_tensor_reshape (const DerlTensor *t, guint rows, guint cols);

/** derl_tensor_n_elements: Returns rows x cols. */
gsize derl_tensor_n_elements (const DerlTensor *t);

/**
 * derl_tensor_upload:
 * @src: host elements of the tensor's dtype
 * Copies @n elements into @t from element @offset (row-major).
 */
void derl_tensor_upload (DerlTensor *t, gsize offset, const void *src, gsize n);

/**
 * derl_tensor_upload_doubles:
 * Copies @n doubles into @t from element @offset, converting to its dtype.
 * Uses a scratch buffer; not for per-step paths.
 */
void derl_tensor_upload_doubles (DerlTensor *t, gsize offset, const double *src, gsize n);

/** derl_tensor_download: Copies @n elements of @t from element @offset to @dst (the tensor's dtype). */
void derl_tensor_download (const DerlTensor *t, gsize offset, void *dst, gsize n);

/** derl_tensor_download_doubles: As derl_tensor_download(), converting to double. */
void derl_tensor_download_doubles (const DerlTensor *t, gsize offset, double *dst, gsize n);

void derl_tensor_fill (DerlTensor *t, double value);
void derl_tensor_copy (DerlTensor *dst, const DerlTensor *src);
void derl_tensor_gemm (gboolean trans_a, gboolean trans_b, double alpha, const DerlTensor *a,
                       const DerlTensor *b, double beta, DerlTensor *c);
void derl_tensor_add_row (DerlTensor *y, const DerlTensor *b);
void derl_tensor_repeat_rows (DerlTensor *y, const DerlTensor *x, guint repeat);
void derl_tensor_sum_repeated (const DerlTensor *y, guint repeat, DerlTensor *x);
void derl_tensor_sum_rows (const DerlTensor *x, double alpha, double beta, DerlTensor *out);
void derl_tensor_activation (DerlActivation f, const DerlTensor *x, DerlTensor *y);
void derl_tensor_activation_backward (DerlActivation f, const DerlTensor *x, const DerlTensor *y,
                                      const DerlTensor *dy, DerlTensor *dx);
void derl_tensor_masked_log_softmax (const DerlTensor *x, const DerlTensor *mask, DerlTensor *l);
void derl_tensor_masked_log_softmax_backward (const DerlTensor *l, const DerlTensor *mask,
                                              const DerlTensor *dl, DerlTensor *dx);
void derl_tensor_sample (const DerlTensor *l, const DerlTensor *mask, const double *uniform, guint32 *actions);
void derl_tensor_argmax (const DerlTensor *l, const DerlTensor *mask, guint32 *actions);
void derl_tensor_gather_rows (const DerlTensor *src, const guint32 *indices, DerlTensor *dst);
double derl_tensor_sum_squares (const DerlTensor *x);
void derl_tensor_scale (DerlTensor *x, double alpha);
void derl_tensor_axpy (double alpha, const DerlTensor *x, DerlTensor *y);
void derl_tensor_adam (DerlTensor *param, const DerlTensor *grad, DerlTensor *m, DerlTensor *v,
                       const DerlAdamParams *p);

G_END_DECLS
