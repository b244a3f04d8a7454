/* derl - multi-layer perceptrons on a tensor backend: forward, backward,
 * orthogonal initialisation.  The first layer may be split into a context
 * part computed once per decision and a candidate part computed once per
 * action slot (the candidate-scoring head). */
#include "config.h"

#include <math.h>
#include <string.h>
#include "derl-private.h"

/* A view of the first @rows rows of @t, by value: no allocation. */
static inline DerlTensor
rows_of (const DerlTensor *t, guint rows)
{
  DerlTensor v = *t;
  v.rows = rows;
  v.owns_data = FALSE;
  return v;
}

static DerlTensor *
tensor (DerlBackend *backend, DerlDType dtype, guint rows, guint cols, GError **error)
{
  return derl_tensor_new (backend, dtype, MAX (rows, 1), MAX (cols, 1), error);
}

static void
param_init (DerlMlpParam *p)
{
  p->value = p->grad = p->m = p->v = NULL;
}

static gboolean
param_alloc (DerlMlpParam *p, DerlBackend *backend, DerlDType dtype, guint rows, guint cols,
             GError **error)
{
  return (p->value = tensor (backend, dtype, rows, cols, error))
         && (p->grad = tensor (backend, dtype, rows, cols, error))
         && (p->m = tensor (backend, dtype, rows, cols, error))
         && (p->v = tensor (backend, dtype, rows, cols, error));
}

static void
param_clear (DerlMlpParam *p)
{
  g_clear_pointer (&p->value, derl_tensor_free);
  g_clear_pointer (&p->grad, derl_tensor_free);
  g_clear_pointer (&p->m, derl_tensor_free);
  g_clear_pointer (&p->v, derl_tensor_free);
}

void
_derl_mlp_clear (DerlMlp *mlp)
{
  for (guint l = 0; l < mlp->n_layers; l++)
    {
      DerlMlpLayer *layer = &mlp->layers[l];
      param_clear (&layer->w);
      param_clear (&layer->w_cand);
      param_clear (&layer->b);
      g_clear_pointer (&layer->z, derl_tensor_free);
      g_clear_pointer (&layer->h, derl_tensor_free);
      g_clear_pointer (&layer->dh, derl_tensor_free);
      g_clear_pointer (&layer->dz, derl_tensor_free);
    }
  g_clear_pointer (&mlp->zc, derl_tensor_free);
  g_clear_pointer (&mlp->dzc, derl_tensor_free);
  mlp->n_layers = 0;
}

gboolean
_derl_mlp_init (DerlMlp *mlp, DerlBackend *backend, DerlDType dtype, guint ctx_size, guint cand_size,
                guint repeat, const guint *widths, guint n_widths, DerlActivation hidden,
                guint max_rows, GError **error)
{
  guint rows = max_rows * (cand_size ? repeat : 1);
  guint in = ctx_size;

  memset (mlp, 0, sizeof *mlp);
  g_return_val_if_fail (n_widths >= 1 && n_widths <= DERL_MLP_MAX_LAYERS, FALSE);
  mlp->ctx_size = ctx_size;
  mlp->cand_size = cand_size;
  mlp->repeat = cand_size ? repeat : 1;
  mlp->max_rows = max_rows;
  mlp->n_layers = n_widths;
  for (guint l = 0; l < n_widths; l++)
    {
      DerlMlpLayer *layer = &mlp->layers[l];
      param_init (&layer->w);
      param_init (&layer->w_cand);
      param_init (&layer->b);
      layer->in = in;
      layer->out = widths[l];
      layer->activation = l + 1 < n_widths ? hidden : DERL_ACTIVATION_IDENTITY;
      in = widths[l];
    }
  for (guint l = 0; l < n_widths; l++)
    {
      DerlMlpLayer *layer = &mlp->layers[l];
      if (!param_alloc (&layer->w, backend, dtype, layer->in, layer->out, error)
          || (l == 0 && cand_size && !param_alloc (&layer->w_cand, backend, dtype, cand_size, layer->out, error))
          || !param_alloc (&layer->b, backend, dtype, 1, layer->out, error)
          || !(layer->z = tensor (backend, dtype, rows, layer->out, error))
          || !(layer->h = tensor (backend, dtype, rows, layer->out, error))
          || !(layer->dh = tensor (backend, dtype, rows, layer->out, error))
          || !(layer->dz = tensor (backend, dtype, rows, layer->out, error)))
        goto fail;
    }
  if (cand_size
      && (!(mlp->zc = tensor (backend, dtype, max_rows, widths[0], error))
          || !(mlp->dzc = tensor (backend, dtype, max_rows, widths[0], error))))
    goto fail;
  return TRUE;

fail:
  _derl_mlp_clear (mlp);
  return FALSE;
}

/* Fills @w (rows x cols, row-major, host doubles) with a semi-orthogonal
 * matrix times @gain, as PyTorch's orthogonal_: the QR factor of a
 * Gaussian matrix, signs fixed so that R has a positive diagonal (which
 * modified Gram-Schmidt gives directly). */
static void
orthogonal (double *w, guint rows, guint cols, double gain, DerlRng *rng)
{
  guint big = MAX (rows, cols), small = MIN (rows, cols);
  g_autofree double *q = g_new (double, (gsize) big * small); /* column-major: small columns of length big */

  for (gsize i = 0; i < (gsize) big * small; i++)
    q[i] = derl_rng_normal (rng);
  for (guint j = 0; j < small; j++)
    {
      double *qj = q + (gsize) j * big;
      for (guint k = 0; k < j; k++)
        {
          const double *qk = q + (gsize) k * big;
          double dot = 0;
          for (guint i = 0; i < big; i++)
            dot += qk[i] * qj[i];
          for (guint i = 0; i < big; i++)
            qj[i] -= dot * qk[i];
        }
      double norm = 0;
      for (guint i = 0; i < big; i++)
        norm += qj[i] * qj[i];
      norm = sqrt (norm);
      for (guint i = 0; i < big; i++)
        qj[i] /= norm;
    }
  /* rows >= cols: w = Q (big = rows); else w = Q^T. */
  for (guint r = 0; r < rows; r++)
    for (guint c = 0; c < cols; c++)
      w[(gsize) r * cols + c] = gain * (rows >= cols ? q[(gsize) c * big + r] : q[(gsize) r * big + c]);
}

void
_derl_mlp_reset_parameters (DerlMlp *mlp, guint64 seed, guint64 net, double hidden_gain, double out_gain)
{
  for (guint l = 0; l < mlp->n_layers; l++)
    {
      DerlMlpLayer *layer = &mlp->layers[l];
      guint in = layer->in + (l == 0 ? mlp->cand_size : 0);
      g_autofree double *torch_w = g_new (double, (gsize) layer->out * in); /* out x in, PyTorch's layout */
      g_autofree double *w = g_new (double, (gsize) layer->in * layer->out);
      DerlRng rng;

      derl_rng_init (&rng, seed, DERL_RNG_STREAM_INIT, net, l, 0);
      orthogonal (torch_w, layer->out, in, l + 1 < mlp->n_layers ? hidden_gain : out_gain, &rng);
      for (guint i = 0; i < layer->in; i++)
        for (guint o = 0; o < layer->out; o++)
          w[(gsize) i * layer->out + o] = torch_w[(gsize) o * in + i];
      derl_tensor_upload_doubles (layer->w.value, 0, w, (gsize) layer->in * layer->out);
      if (l == 0 && mlp->cand_size)
        {
          g_autofree double *wc = g_new (double, (gsize) mlp->cand_size * layer->out);
          for (guint i = 0; i < mlp->cand_size; i++)
            for (guint o = 0; o < layer->out; o++)
              wc[(gsize) i * layer->out + o] = torch_w[(gsize) o * in + layer->in + i];
          derl_tensor_upload_doubles (layer->w_cand.value, 0, wc, (gsize) mlp->cand_size * layer->out);
        }
      derl_tensor_fill (layer->b.value, 0.0);
    }
}

guint
_derl_mlp_params (DerlMlp *mlp, DerlMlpParam **out)
{
  guint n = 0;
  for (guint l = 0; l < mlp->n_layers; l++)
    {
      out[n++] = &mlp->layers[l].w;
      if (mlp->layers[l].w_cand.value)
        out[n++] = &mlp->layers[l].w_cand;
      out[n++] = &mlp->layers[l].b;
    }
  return n;
}

const DerlTensor *
_derl_mlp_forward (DerlMlp *mlp, const DerlTensor *ctx, const DerlTensor *cand, guint n)
{
  return _derl_mlp_forward_rows (mlp, ctx, cand, n, n * mlp->repeat, NULL, NULL);
}

const DerlTensor *
_derl_mlp_forward_rows (DerlMlp *mlp, const DerlTensor *ctx, const DerlTensor *cand, guint n, guint rows,
                        const guint32 *row_decision, const guint32 *padded_rows)
{
  mlp->n = n;
  mlp->n_rows = rows;
  mlp->row_decision = row_decision;
  mlp->padded_rows = padded_rows;
  mlp->in_ctx = *ctx;
  if (cand)
    mlp->in_cand = *cand;
  for (guint l = 0; l < mlp->n_layers; l++)
    {
      DerlMlpLayer *layer = &mlp->layers[l];
      DerlTensor z = rows_of (layer->z, rows), h = rows_of (layer->h, rows);
      if (l == 0 && mlp->cand_size)
        {
          /* Context part once per decision, candidate part per slot:
           * z = (b + ctx W) repeated + cand W_cand. */
          DerlTensor zc = rows_of (mlp->zc, n);
          derl_tensor_repeat_rows (&zc, layer->b.value, n);
          derl_tensor_gemm (FALSE, FALSE, 1.0, ctx, layer->w.value, 1.0, &zc);
          if (row_decision)
            derl_tensor_gather_rows (&zc, row_decision, &z);
          else
            derl_tensor_repeat_rows (&z, &zc, mlp->repeat);
          derl_tensor_gemm (FALSE, FALSE, 1.0, cand, layer->w_cand.value, 1.0, &z);
        }
      else
        {
          /* z = b + x W: the bias is the gemm's C, so there is no separate
           * pass to zero C or to add the bias. */
          DerlTensor x = l == 0 ? *ctx : rows_of (mlp->layers[l - 1].h, rows);
          derl_tensor_repeat_rows (&z, layer->b.value, rows);
          derl_tensor_gemm (FALSE, FALSE, 1.0, &x, layer->w.value, 1.0, &z);
        }
      derl_tensor_activation (layer->activation, &z, &h);
    }
  mlp->out = rows_of (mlp->layers[mlp->n_layers - 1].h, rows);
  return &mlp->out;
}

void
_derl_mlp_backward (DerlMlp *mlp, const DerlTensor *dout)
{
  guint n = mlp->n, rows = mlp->n_rows;

  for (guint l = mlp->n_layers; l-- > 0;)
    {
      DerlMlpLayer *layer = &mlp->layers[l];
      DerlTensor z = rows_of (layer->z, rows), h = rows_of (layer->h, rows);
      DerlTensor dz = rows_of (layer->dz, rows);
      DerlTensor dh = l + 1 == mlp->n_layers ? *dout : rows_of (layer->dh, rows);

      derl_tensor_activation_backward (layer->activation, &z, &h, &dh, &dz);
      derl_tensor_sum_rows (&dz, 1.0, 1.0, layer->b.grad);
      if (l > 0)
        {
          DerlTensor x = rows_of (mlp->layers[l - 1].h, rows);
          DerlTensor dx = rows_of (mlp->layers[l - 1].dh, rows);
          derl_tensor_gemm (TRUE, FALSE, 1.0, &x, &dz, 1.0, layer->w.grad);
          derl_tensor_gemm (FALSE, TRUE, 1.0, &dz, layer->w.value, 0.0, &dx);
        }
      else if (mlp->cand_size)
        {
          DerlTensor dzc = rows_of (mlp->dzc, n);
          derl_tensor_gemm (TRUE, FALSE, 1.0, &mlp->in_cand, &dz, 1.0, layer->w_cand.grad);
          if (mlp->padded_rows)
            {
              /* dz laid out as n x repeat again, padding as rows of zeros
               * (row n_rows of dz, past the ragged rows), in the layer's
               * dh (free once dz is made), for the per-decision sums. */
              DerlTensor zero = rows_of (layer->dz, 1), padded = rows_of (layer->dh, n * mlp->repeat);
              DerlTensor dz_ext = rows_of (layer->dz, rows + 1);
              zero.data = (char *) layer->dz->data + (gsize) rows * layer->dz->cols * derl_dtype_size (zero.dtype);
              derl_tensor_fill (&zero, 0.0);
              derl_tensor_gather_rows (&dz_ext, mlp->padded_rows, &padded);
              derl_tensor_sum_repeated (&padded, mlp->repeat, &dzc);
            }
          else
            derl_tensor_sum_repeated (&dz, mlp->repeat, &dzc);
          derl_tensor_gemm (TRUE, FALSE, 1.0, &mlp->in_ctx, &dzc, 1.0, layer->w.grad);
        }
      else
        derl_tensor_gemm (TRUE, FALSE, 1.0, &mlp->in_ctx, &dz, 1.0, layer->w.grad);
    }
}
