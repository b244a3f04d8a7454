/* derl - backend instances and the tensor wrappers that check shapes and
 * dispatch to a backend's ops. */
#include "config.h"

#include <string.h>
#include "derl-private.h"

struct _DerlBackend {
  const DerlFeature *feature;  /* NULL for derl_backend_new_cpu() */
  const DerlBackendVTable *vt;
  gpointer ctx;
};

gsize
derl_dtype_size (DerlDType dtype)
{
  return dtype == DERL_DTYPE_F64 ? sizeof (double) : sizeof (float);
}

static DerlBackend *
backend_create (const DerlFeature *feature, const DerlBackendVTable *vt, const DerlParams *params,
                GError **error)
{
  DerlBackend *backend = g_new0 (DerlBackend, 1);

  backend->feature = feature;
  backend->vt = vt;
  if (!vt->create (params, &backend->ctx, error))
    {
      g_free (backend);
      return NULL;
    }
  return backend;
}

DerlBackend *
derl_backend_new (const DerlFeature *feature, const DerlParams *params, GError **error)
{
  g_return_val_if_fail (feature != NULL && feature->kind == DERL_FEATURE_BACKEND, NULL);
  return backend_create (feature, feature->vtable, params, error);
}

DerlBackend *
derl_backend_new_cpu (void)
{
  g_autoptr (DerlParams) params = derl_params_new (derl_backend_cpu_params ());
  DerlBackend *backend = backend_create (NULL, derl_backend_cpu_vtable (), params, NULL);
  g_assert (backend != NULL);
  return backend;
}

void
derl_backend_free (DerlBackend *backend)
{
  if (!backend)
    return;
  backend->vt->destroy (backend->ctx);
  g_free (backend);
}

void
derl_backend_set_threads (DerlBackend *backend, guint n_threads)
{
  g_return_if_fail (backend != NULL && n_threads >= 1);
  if (backend->vt == derl_backend_cpu_vtable ())
    _derl_backend_cpu_set_threads (backend->ctx, n_threads);
}

const char *
derl_backend_get_name (const DerlBackend *backend)
{
  return backend->feature ? backend->feature->name : "cpu";
}

gboolean
derl_backend_supports (const DerlBackend *backend, DerlDType dtype)
{
  return backend->vt->supports (backend->ctx, dtype);
}

/* ---- tensors ---- */

DerlTensor *
derl_tensor_new (DerlBackend *backend, DerlDType dtype, guint rows, guint cols, GError **error)
{
  DerlTensor *t;
  gsize bytes = (gsize) rows * cols * derl_dtype_size (dtype);

  g_return_val_if_fail (backend != NULL, NULL);
  if (!backend->vt->supports (backend->ctx, dtype))
    {
      g_set_error (error, DERL_RUN_ERROR, DERL_RUN_ERROR_FAILED, "backend '%s' does not support %s",
                   derl_backend_get_name (backend), dtype == DERL_DTYPE_F64 ? "float64" : "float32");
      return NULL;
    }
  t = g_new0 (DerlTensor, 1);
  t->backend = backend;
  t->dtype = dtype;
  t->rows = rows;
  t->cols = cols;
  t->owns_data = TRUE;
  t->data = backend->vt->alloc (backend->ctx, MAX (bytes, 1), error);
  if (!t->data)
    {
      g_free (t);
      return NULL;
    }
  backend->vt->fill (backend->ctx, t, 0.0);
  return t;
}

void
derl_tensor_free (DerlTensor *t)
{
  if (!t)
    return;
  if (t->owns_data)
    t->backend->vt->free (t->backend->ctx, t->data);
  g_free (t);
}

static DerlTensor *
view (const DerlTensor *t, gsize offset, guint rows, guint cols)
{
  DerlTensor *v = g_new0 (DerlTensor, 1);

  v->backend = t->backend;
  v->dtype = t->dtype;
  v->rows = rows;
  v->cols = cols;
  v->data = (char *) t->data + offset * derl_dtype_size (t->dtype);
  v->owns_data = FALSE;
  return v;
}

DerlTensor *
derl_tensor_view_rows (const DerlTensor *t, guint row0, guint n_rows)
{
  g_return_val_if_fail (t != NULL && row0 + n_rows <= t->rows, NULL);
  return view (t, (gsize) row0 * t->cols, n_rows, t->cols);
}

DerlTensor *
derl_tensor_reshape (const DerlTensor *t, guint rows, guint cols)
{
  g_return_val_if_fail (t != NULL && (gsize) rows * cols == derl_tensor_n_elements (t), NULL);
  return view (t, 0, rows, cols);
}

gsize
derl_tensor_n_elements (const DerlTensor *t)
{
  return (gsize) t->rows * t->cols;
}

#define CTX(t) ((t)->backend->ctx)
#define VT(t) ((t)->backend->vt)
#define SAME(a, b) ((a)->backend == (b)->backend && (a)->dtype == (b)->dtype)
#define SHAPE(a, r, c) ((a)->rows == (r) && (a)->cols == (c))

void
derl_tensor_upload (DerlTensor *t, gsize offset, const void *src, gsize n)
{
  g_return_if_fail (t != NULL && offset + n <= derl_tensor_n_elements (t));
  VT (t)->upload (CTX (t), t, offset, src, n);
}

void
derl_tensor_upload_doubles (DerlTensor *t, gsize offset, const double *src, gsize n)
{
  g_return_if_fail (t != NULL && offset + n <= derl_tensor_n_elements (t));
  if (t->dtype == DERL_DTYPE_F64)
    {
      VT (t)->upload (CTX (t), t, offset, src, n);
      return;
    }
  g_autofree float *tmp = g_new (float, MAX (n, 1));
  for (gsize i = 0; i < n; i++)
    tmp[i] = (float) src[i];
  VT (t)->upload (CTX (t), t, offset, tmp, n);
}

void
derl_tensor_download (const DerlTensor *t, gsize offset, void *dst, gsize n)
{
  g_return_if_fail (t != NULL && offset + n <= derl_tensor_n_elements (t));
  VT (t)->download (CTX (t), t, offset, dst, n);
}

void
derl_tensor_download_doubles (const DerlTensor *t, gsize offset, double *dst, gsize n)
{
  g_return_if_fail (t != NULL && offset + n <= derl_tensor_n_elements (t));
  if (t->dtype == DERL_DTYPE_F64)
    {
      VT (t)->download (CTX (t), t, offset, dst, n);
      return;
    }
  g_autofree float *tmp = g_new (float, MAX (n, 1));
  VT (t)->download (CTX (t), t, offset, tmp, n);
  for (gsize i = 0; i < n; i++)
    dst[i] = tmp[i];
}

void
derl_tensor_fill (DerlTensor *t, double value)
{
  g_return_if_fail (t != NULL);
  VT (t)->fill (CTX (t), t, value);
}

void
derl_tensor_copy (DerlTensor *dst, const DerlTensor *src)
{
  g_return_if_fail (SAME (dst, src) && SHAPE (dst, src->rows, src->cols));
  VT (dst)->copy (CTX (dst), dst, src);
}

void
derl_tensor_gemm (gboolean trans_a, gboolean trans_b, double alpha, const DerlTensor *a,
                  const DerlTensor *b, double beta, DerlTensor *c)
{
  guint m = trans_a ? a->cols : a->rows;
  guint k = trans_a ? a->rows : a->cols;
  guint kb = trans_b ? b->cols : b->rows;
  guint n = trans_b ? b->rows : b->cols;

  g_return_if_fail (SAME (a, b) && SAME (a, c));
  g_return_if_fail (c->data != a->data && c->data != b->data);
  g_return_if_fail (k == kb && SHAPE (c, m, n));
  VT (c)->gemm (CTX (c), trans_a, trans_b, alpha, a, b, beta, c);
}

void
derl_tensor_add_row (DerlTensor *y, const DerlTensor *b)
{
  g_return_if_fail (SAME (y, b) && SHAPE (b, 1, y->cols));
  VT (y)->add_row (CTX (y), y, b);
}

void
derl_tensor_repeat_rows (DerlTensor *y, const DerlTensor *x, guint repeat)
{
  g_return_if_fail (SAME (y, x) && (repeat > 0 || y->rows == 0) && SHAPE (y, x->rows * repeat, x->cols));
  VT (y)->repeat_rows (CTX (y), y, x, repeat);
}

void
derl_tensor_sum_repeated (const DerlTensor *y, guint repeat, DerlTensor *x)
{
  g_return_if_fail (SAME (y, x) && repeat > 0 && SHAPE (y, x->rows * repeat, x->cols));
  VT (y)->sum_repeated (CTX (y), y, repeat, x);
}

void
derl_tensor_sum_rows (const DerlTensor *x, double alpha, double beta, DerlTensor *out)
{
  g_return_if_fail (SAME (x, out) && SHAPE (out, 1, x->cols));
  VT (x)->sum_rows (CTX (x), x, alpha, beta, out);
}

void
derl_tensor_activation (DerlActivation f, const DerlTensor *x, DerlTensor *y)
{
  g_return_if_fail (SAME (x, y) && SHAPE (y, x->rows, x->cols));
  VT (x)->activation (CTX (x), f, x, y);
}

void
derl_tensor_activation_backward (DerlActivation f, const DerlTensor *x, const DerlTensor *y,
                                 const DerlTensor *dy, DerlTensor *dx)
{
  g_return_if_fail (SAME (x, y) && SAME (x, dy) && SAME (x, dx));
  g_return_if_fail (SHAPE (y, x->rows, x->cols) && SHAPE (dy, x->rows, x->cols) && SHAPE (dx, x->rows, x->cols));
  VT (x)->activation_backward (CTX (x), f, x, y, dy, dx);
}

void
derl_tensor_masked_log_softmax (const DerlTensor *x, const DerlTensor *mask, DerlTensor *l)
{
  g_return_if_fail (SAME (x, mask) && SAME (x, l));
  g_return_if_fail (SHAPE (mask, x->rows, x->cols) && SHAPE (l, x->rows, x->cols));
  VT (x)->masked_log_softmax (CTX (x), x, mask, l);
}

void
derl_tensor_masked_log_softmax_backward (const DerlTensor *l, const DerlTensor *mask, const DerlTensor *dl,
                                         DerlTensor *dx)
{
  g_return_if_fail (SAME (l, mask) && SAME (l, dl) && SAME (l, dx));
  g_return_if_fail (SHAPE (mask, l->rows, l->cols) && SHAPE (dl, l->rows, l->cols) && SHAPE (dx, l->rows, l->cols));
  VT (l)->masked_log_softmax_backward (CTX (l), l, mask, dl, dx);
}

void
derl_tensor_sample (const DerlTensor *l, const DerlTensor *mask, const double *uniform, guint32 *actions)
{
  g_return_if_fail (SAME (l, mask) && SHAPE (mask, l->rows, l->cols) && uniform && actions);
  VT (l)->sample (CTX (l), l, mask, uniform, actions);
}

void
derl_tensor_argmax (const DerlTensor *l, const DerlTensor *mask, guint32 *actions)
{
  g_return_if_fail (SAME (l, mask) && SHAPE (mask, l->rows, l->cols) && actions);
  VT (l)->argmax (CTX (l), l, mask, actions);
}

void
derl_tensor_gather_rows (const DerlTensor *src, const guint32 *indices, DerlTensor *dst)
{
  g_return_if_fail (SAME (src, dst) && src->cols == dst->cols && indices);
  for (guint i = 0; i < dst->rows; i++)
    g_return_if_fail (indices[i] < src->rows);
  VT (src)->gather_rows (CTX (src), src, indices, dst);
}

double
derl_tensor_sum_squares (const DerlTensor *x)
{
  g_return_val_if_fail (x != NULL, 0.0);
  return VT (x)->sum_squares (CTX (x), x);
}

void
derl_tensor_scale (DerlTensor *x, double alpha)
{
  g_return_if_fail (x != NULL);
  VT (x)->scale (CTX (x), x, alpha);
}

void
derl_tensor_axpy (double alpha, const DerlTensor *x, DerlTensor *y)
{
  g_return_if_fail (SAME (x, y) && SHAPE (y, x->rows, x->cols));
  VT (x)->axpy (CTX (x), alpha, x, y);
}

void
derl_tensor_adam (DerlTensor *param, const DerlTensor *grad, DerlTensor *m, DerlTensor *v,
                  const DerlAdamParams *p)
{
  g_return_if_fail (SAME (param, grad) && SAME (param, m) && SAME (param, v) && p && p->t >= 1);
  g_return_if_fail (SHAPE (grad, param->rows, param->cols) && SHAPE (m, param->rows, param->cols)
                    && SHAPE (v, param->rows, param->cols));
  VT (param)->adam (CTX (param), param, grad, m, v, p);
}
