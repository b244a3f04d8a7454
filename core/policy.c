/* derl - policies: an actor MLP with a plain or candidate-scoring head over
 * masked categorical actions, an optional critic MLP, Adam with gradient
 * clipping. */
#include "config.h"

#include <math.h>
#include <string.h>
#include "derl-private.h"

#define ADAM_BETA1 0.9
#define ADAM_BETA2 0.999
#define ADAM_EPS 1e-5
#define MAX_PARAMS (2 * 3 * DERL_MLP_MAX_LAYERS)

struct _DerlPolicy {
  DerlBackend *backend;
  DerlPolicyConfig config;
  guint max_rows;
  guint64 seed;
  DerlMlp actor;
  DerlMlp critic;           /* n_layers == 0 without a value head */
  DerlMlpParam *params[MAX_PARAMS];
  guint n_params;
  guint64 adam_t;
  double temperature;       /* the actor's distribution is softmax (logits / temperature) */

  /* device scratch, max_rows decisions */
  DerlTensor *obs;          /* max_rows x obs_size */
  DerlTensor *mask;         /* max_rows x n_actions, 0/1 (compact for a candidate head) */
  DerlTensor *logp;         /* max_rows x n_actions: masked log-softmax */
  DerlTensor *dlogp;        /* its gradient */
  DerlTensor *dlogits;
  DerlTensor *dvalues;      /* max_rows x 1 */

  /* host scratch */
  gpointer staging;         /* max elements of any upload/download, in dtype */
  gsize staging_len;
  double *host_logp;        /* max_rows x n_actions */
  double *host_dlogp;
  guint32 *last_actions;      /* the actions of the last evaluate, as compact positions */
  guint last_n;
  gboolean last_has_values;

  /* Candidate heads score only the admissible slots: decision i's
   * admissible slots, in order, are columns 0..W-1 of a compact row (W the
   * most any of the n decisions has; the rest padding, masked).  Plain heads
   * use the action set as it is (W = n_actions). */
  guint width;                /* W of the last forward */
  guint32 *slots;             /* max_rows x n_actions: slot of compact column r, or n_actions (padding) */
  guint32 *flat;              /* the same as rows of the (decisions x n_actions) candidate matrix */
  guint8 *cmask;              /* compact mask */
  /* The scorer runs on the admissible slots alone (n_rows rows, no
   * padding) when some decision has fewer than W: */
  guint n_rows;               /* rows scored: the admissible slots of the n decisions */
  gboolean ragged;            /* n_rows < n x W */
  guint32 *row_flat;          /* n_rows: the candidate-matrix row of each */
  guint32 *row_decision;      /* n_rows: its decision */
  guint32 *row_slot;          /* n_rows: its compact position i W + r */
  guint32 *slot_row;          /* n x W: the row of each compact position, row 0 for padding (masked) */
  guint32 *padded_rows;       /* n x W: the same with n_rows (zeros) for padding */
  guint8 *row_masks;          /* the masks of a minibatch's rows */
  DerlTensor *cand_rows;      /* (max_rows x n_actions) x candidate_size: the scored rows */

  /* the critic's pass of training on a second thread (derl_policy_set_threads) */
  gpointer critic_staging;  /* the critic's own staging buffer */
  GThread *worker;
  GMutex lock;
  GCond cond;
  gint job;                 /* CRITIC_*, atomic */
  gint job_done;            /* atomic */
  gboolean sleeping;        /* under lock */
  guint job_n;
  double *job_values;       /* forward: where the values go */
  const double *job_dvalues;/* backward: the gradients to push through */
};

enum { CRITIC_NONE, CRITIC_FORWARD, CRITIC_BACKWARD, CRITIC_QUIT };

static void stop_worker (DerlPolicy *p);
static void upload_doubles_via (gpointer staging, gsize staging_len, DerlTensor *t, const double *src, gsize n);

struct _DerlPolicyInputs {
  DerlPolicy *policy;
  guint capacity;
  DerlTensor *obs, *cand, *mask;
  guint8 *host_mask;          /* capacity x n_actions, for compacting candidates */
};

/* A view of the first @rows rows of @t, by value: no allocation. */
static inline DerlTensor
rows_of (const DerlTensor *t, guint rows)
{
  DerlTensor v = *t;
  v.rows = rows;
  v.owns_data = FALSE;
  return v;
}

static inline DerlTensor
shaped (const DerlTensor *t, guint rows, guint cols)
{
  DerlTensor v = *t;
  v.rows = rows;
  v.cols = cols;
  v.owns_data = FALSE;
  return v;
}

static gboolean
check_config (const DerlPolicyConfig *c, GError **error)
{
  const char *problem = NULL;

  if (c->obs_size == 0 && c->candidate_size == 0)
    problem = "no inputs (obs_size and candidate_size are 0)";
  else if (c->n_actions == 0)
    problem = "no actions";
  else if (c->n_hidden > DERL_POLICY_MAX_LAYERS)
    problem = "too many hidden layers";
  else if (c->activation > DERL_ACTIVATION_RELU)
    problem = "unknown activation";
  else if (c->dtype > DERL_DTYPE_F64)
    problem = "unknown dtype";
  for (guint i = 0; !problem && i < c->n_hidden; i++)
    if (c->hidden[i] == 0 || c->hidden[i] > 65536)
      problem = "a hidden layer width is 0 or above 65536";
  if (problem)
    {
      g_set_error (error, DERL_RUN_ERROR, DERL_RUN_ERROR_FAILED, "invalid policy: %s", problem);
      return FALSE;
    }
  return TRUE;
}

static gboolean
alloc_scratch (DerlPolicy *p, GError **error)
{
  const DerlPolicyConfig *c = &p->config;
  DerlDType dt = c->dtype;
  guint a = c->n_actions, m = p->max_rows;
  gsize most = MAX ((gsize) m * MAX (c->obs_size, 1), (gsize) m * a * MAX (c->candidate_size, 1));

  if (!(p->obs = derl_tensor_new (p->backend, dt, m, MAX (c->obs_size, 1), error))
      || !(p->mask = derl_tensor_new (p->backend, dt, m, a, error))
      || !(p->logp = derl_tensor_new (p->backend, dt, m, a, error))
      || !(p->dlogp = derl_tensor_new (p->backend, dt, m, a, error))
      || !(p->dlogits = derl_tensor_new (p->backend, dt, m, a, error))
      || !(p->dvalues = derl_tensor_new (p->backend, dt, m, 1, error)))
    return FALSE;
  p->staging_len = most;
  p->staging = g_malloc (most * derl_dtype_size (dt));
  p->critic_staging = g_malloc ((gsize) m * derl_dtype_size (dt));
  p->host_logp = g_new (double, (gsize) m * a);
  p->host_dlogp = g_new (double, (gsize) m * a);
  p->last_actions = g_new (guint32, m);
  p->width = a;
  if (c->candidate_size)
    {
      p->slots = g_new (guint32, (gsize) m * a);
      p->flat = g_new (guint32, (gsize) m * a);
      p->cmask = g_new (guint8, (gsize) m * a);
      p->row_flat = g_new (guint32, (gsize) m * a);
      p->row_decision = g_new (guint32, (gsize) m * a);
      p->row_slot = g_new (guint32, (gsize) m * a);
      p->slot_row = g_new (guint32, (gsize) m * a);
      p->padded_rows = g_new (guint32, (gsize) m * a);
      p->row_masks = g_new (guint8, (gsize) m * a);
      if (!(p->cand_rows = derl_tensor_new (p->backend, dt, m * a, c->candidate_size, error)))
        return FALSE;
    }
  return TRUE;
}

static gboolean
build (DerlPolicy *p, GError **error)
{
  const DerlPolicyConfig *c = &p->config;
  guint widths[DERL_MLP_MAX_LAYERS];

  memcpy (widths, c->hidden, sizeof (guint) * c->n_hidden);
  /* plain head: one logit per action; candidate head: one score per slot */
  widths[c->n_hidden] = c->candidate_size ? 1 : c->n_actions;
  if (!_derl_mlp_init (&p->actor, p->backend, c->dtype, c->obs_size, c->candidate_size, c->n_actions,
                       widths, c->n_hidden + 1, c->activation, p->max_rows, error))
    return FALSE;
  if (c->value_head)
    {
      widths[c->n_hidden] = 1;
      if (!_derl_mlp_init (&p->critic, p->backend, c->dtype, MAX (c->obs_size, 1), 0, 1, widths,
                           c->n_hidden + 1, c->activation, p->max_rows, error))
        return FALSE;
    }
  p->n_params = _derl_mlp_params (&p->actor, p->params);
  if (c->value_head)
    p->n_params += _derl_mlp_params (&p->critic, p->params + p->n_params);
  return alloc_scratch (p, error);
}

static DerlPolicy *
policy_alloc (DerlBackend *backend, const DerlPolicyConfig *config, guint max_rows, GError **error)
{
  DerlPolicy *p;

  g_return_val_if_fail (backend != NULL && config != NULL && max_rows > 0, NULL);
  if (!check_config (config, error))
    return NULL;
  p = g_new0 (DerlPolicy, 1);
  g_mutex_init (&p->lock);
  g_cond_init (&p->cond);
  p->backend = backend;
  p->config = *config;
  p->max_rows = max_rows;
  p->temperature = 1.0;
  if (!build (p, error))
    {
      derl_policy_free (p);
      return NULL;
    }
  return p;
}

DerlPolicy *
derl_policy_new (DerlBackend *backend, const DerlPolicyConfig *config, guint max_rows, guint64 seed,
                 GError **error)
{
  DerlPolicy *p = policy_alloc (backend, config, max_rows, error);

  if (!p)
    return NULL;
  p->seed = seed;
  _derl_mlp_reset_parameters (&p->actor, seed, 0, G_SQRT2, 0.01);
  if (p->config.value_head)
    _derl_mlp_reset_parameters (&p->critic, seed, 1, G_SQRT2, 1.0);
  return p;
}

DerlPolicy *
derl_policy_clone (const DerlPolicy *policy, GError **error)
{
  DerlPolicy *p = policy_alloc (policy->backend, &policy->config, policy->max_rows, error);

  if (!p)
    return NULL;
  p->seed = policy->seed;
  p->temperature = policy->temperature;
  for (guint i = 0; i < p->n_params; i++)
    derl_tensor_copy (p->params[i]->value, policy->params[i]->value);
  return p;
}

void
derl_policy_free (DerlPolicy *p)
{
  if (!p)
    return;
  stop_worker (p);
  g_mutex_clear (&p->lock);
  g_cond_clear (&p->cond);
  g_free (p->critic_staging);
  _derl_mlp_clear (&p->actor);
  _derl_mlp_clear (&p->critic);
  derl_tensor_free (p->obs);
  derl_tensor_free (p->mask);
  derl_tensor_free (p->logp);
  derl_tensor_free (p->dlogp);
  derl_tensor_free (p->dlogits);
  derl_tensor_free (p->dvalues);
  g_free (p->staging);
  g_free (p->host_logp);
  g_free (p->host_dlogp);
  g_free (p->last_actions);
  g_free (p->slots);
  g_free (p->flat);
  g_free (p->cmask);
  g_free (p->row_flat);
  g_free (p->row_decision);
  g_free (p->row_slot);
  g_free (p->slot_row);
  g_free (p->padded_rows);
  g_free (p->row_masks);
  derl_tensor_free (p->cand_rows);
  g_free (p);
}

const DerlPolicyConfig *
derl_policy_get_config (const DerlPolicy *policy)
{
  return &policy->config;
}

guint
derl_policy_get_max_rows (const DerlPolicy *policy)
{
  return policy->max_rows;
}

gsize
derl_policy_n_parameters (const DerlPolicy *policy)
{
  gsize n = 0;
  for (guint i = 0; i < policy->n_params; i++)
    n += derl_tensor_n_elements (policy->params[i]->value);
  return n;
}

/* ---- host <-> device, through the staging buffer ---- */

static void
upload_floats (DerlPolicy *p, DerlTensor *t, gsize offset, const float *src, gsize n)
{
  if (t->dtype == DERL_DTYPE_F32)
    {
      derl_tensor_upload (t, offset, src, n);
      return;
    }
  g_assert (n <= p->staging_len);
  double *d = p->staging;
  for (gsize i = 0; i < n; i++)
    d[i] = src[i];
  derl_tensor_upload (t, offset, d, n);
}

static void
upload_mask (DerlPolicy *p, DerlTensor *t, gsize offset, const guint8 *mask, gsize n)
{
  g_assert (n <= p->staging_len);
  if (t->dtype == DERL_DTYPE_F32)
    {
      float *f = p->staging;
      for (gsize i = 0; i < n; i++)
        f[i] = mask[i] ? 1.0f : 0.0f;
    }
  else
    {
      double *d = p->staging;
      for (gsize i = 0; i < n; i++)
        d[i] = mask[i] ? 1.0 : 0.0;
    }
  derl_tensor_upload (t, offset, p->staging, n);
}

static void
upload_doubles (DerlPolicy *p, DerlTensor *t, const double *src, gsize n)
{
  upload_doubles_via (p->staging, p->staging_len, t, src, n);
}

static void
download_doubles_via (gpointer staging, gsize staging_len, const DerlTensor *t, double *dst, gsize n)
{
  if (t->dtype == DERL_DTYPE_F64)
    {
      derl_tensor_download (t, 0, dst, n);
      return;
    }
  g_assert (n <= staging_len);
  float *f = staging;
  derl_tensor_download (t, 0, f, n);
  for (gsize i = 0; i < n; i++)
    dst[i] = f[i];
}

static void
download_doubles (DerlPolicy *p, const DerlTensor *t, double *dst, gsize n)
{
  download_doubles_via (p->staging, p->staging_len, t, dst, n);
}

static void
upload_doubles_via (gpointer staging, gsize staging_len, DerlTensor *t, const double *src, gsize n)
{
  if (t->dtype == DERL_DTYPE_F64)
    {
      derl_tensor_upload (t, 0, src, n);
      return;
    }
  g_assert (n <= staging_len);
  float *f = staging;
  for (gsize i = 0; i < n; i++)
    f[i] = (float) src[i];
  derl_tensor_upload (t, 0, f, n);
}

static void
upload_decisions (DerlPolicy *p, DerlTensor *obs, DerlTensor *cand, DerlTensor *mask, gsize row0,
                  const DerlDecisions *d)
{
  const DerlPolicyConfig *c = &p->config;
  gsize n = d->n;

  if (c->obs_size)
    upload_floats (p, obs, row0 * c->obs_size, d->obs, n * c->obs_size);
  if (c->candidate_size)
    upload_floats (p, cand, row0 * c->n_actions * c->candidate_size, d->candidates,
                   n * c->n_actions * c->candidate_size);
  upload_mask (p, mask, row0 * c->n_actions, d->mask, n * c->n_actions);
}

/* ---- forward ---- */

/* Lays out the admissible slots of @n decisions (@mask, n x n_actions)
 * compactly, sets p->width, and uploads the compact mask.  @row_of maps a
 * decision to its row in the candidate matrix the flat indices address. */
static void
compact_slots (DerlPolicy *p, guint n, const guint8 *mask, const guint32 *row_of)
{
  guint a = p->config.n_actions, w = 1;

  for (guint i = 0; i < n; i++)
    {
      guint k = 0;
      for (guint j = 0; j < a; j++)
        k += mask[(gsize) i * a + j] != 0;
      w = MAX (w, k);
    }
  p->width = w;
  guint32 q = 0;
  for (guint i = 0; i < n; i++)
    {
      const guint8 *mi = mask + (gsize) i * a;
      guint32 base = (row_of ? row_of[i] : i) * a, r = 0;
      for (guint j = 0; j < a; j++)
        if (mi[j])
          {
            gsize s = (gsize) i * w + r;
            p->slots[s] = j;
            p->flat[s] = base + j;
            p->cmask[s] = 1;
            p->row_flat[q] = base + j;
            p->row_decision[q] = i;
            p->row_slot[q] = (guint32) s;
            p->slot_row[s] = p->padded_rows[s] = q;
            q++;
            r++;
          }
      for (; r < w; r++)
        {
          gsize s = (gsize) i * w + r;
          p->slots[s] = a;     /* padding: masked out */
          p->flat[s] = base;
          p->cmask[s] = 0;
          p->slot_row[s] = 0;
          p->padded_rows[s] = G_MAXUINT32; /* set below, once n_rows is known */
        }
    }
  p->n_rows = q;
  p->ragged = q < (guint32) n * w;
  if (p->ragged)
    for (gsize s = 0; s < (gsize) n * w; s++)
      if (p->padded_rows[s] == G_MAXUINT32)
        p->padded_rows[s] = q;
  upload_mask (p, p->mask, 0, p->cmask, (gsize) n * w);
}

/* The position of @action in decision @i's compact row, or G_MAXUINT. */
static guint
compact_position (const DerlPolicy *p, guint i, guint32 action)
{
  if (!p->config.candidate_size)
    return action;
  for (guint r = 0; r < p->width; r++)
    if (p->slots[(gsize) i * p->width + r] == action)
      return r;
  return G_MAXUINT;
}

/* The action of compact position @r of decision @i. */
static guint32
slot_of (const DerlPolicy *p, guint i, guint32 r)
{
  if (!p->config.candidate_size || r == DERL_NO_ACTION)
    return r;
  return p->slots[(gsize) i * p->width + r];
}

/* The masked log-softmax of the actor over the first @n decisions, into
 * p->logp (n x p->width): the obs tensor and, for a candidate head,
 * p->cand_rows and the compact mask, are already in place. */
static DerlTensor
actor_forward (DerlPolicy *p, guint n)
{
  const DerlPolicyConfig *c = &p->config;
  guint w = p->width;
  DerlTensor obs = rows_of (p->obs, n);
  DerlTensor cand = c->candidate_size ? rows_of (p->cand_rows, n * w) : obs;
  DerlTensor mask = shaped (p->mask, n, w), logp = shaped (p->logp, n, w);

  p->actor.repeat = c->candidate_size ? w : 1;
  DerlTensor logits;
  if (c->candidate_size && p->ragged)
    {
      /* One score per admissible slot, laid out as n x W logits (padding
       * takes row 0's score: masked, never read). */
      DerlTensor rows = rows_of (p->cand_rows, p->n_rows), flat = shaped (p->logp, n * w, 1);
      const DerlTensor *out = _derl_mlp_forward_rows (&p->actor, &obs, &rows, n, p->n_rows, p->row_decision,
                                                      p->padded_rows);
      derl_tensor_gather_rows (out, p->slot_row, &flat);
      logits = shaped (p->logp, n, w);
    }
  else
    logits = shaped (_derl_mlp_forward (&p->actor, &obs, c->candidate_size ? &cand : NULL, n), n, w);
  /* The output layer is linear: scaling its output in place leaves its
   * backward pass as it is. */
  if (p->temperature != 1.0)
    derl_tensor_scale (&logits, 1.0 / p->temperature);
  derl_tensor_masked_log_softmax (&logits, &mask, &logp);
  return logp;
}

/* The critic's passes touch only its own MLP, its staging buffer, p->obs
 * (read) and p->dvalues, so they can run beside the actor's. */
static void
critic_forward (DerlPolicy *p, guint n, double *values)
{
  DerlTensor obs = rows_of (p->obs, n);
  const DerlTensor *out = _derl_mlp_forward (&p->critic, &obs, NULL, n);
  download_doubles_via (p->critic_staging, p->max_rows, out, values, n);
}

static void
critic_backward (DerlPolicy *p, guint n, const double *dvalues)
{
  DerlTensor dv = rows_of (p->dvalues, n);
  upload_doubles_via (p->critic_staging, p->max_rows, &dv, dvalues, n);
  _derl_mlp_backward (&p->critic, &dv);
}

static void
critic_run (DerlPolicy *p, int job, guint n, double *values, const double *dvalues)
{
  if (job == CRITIC_FORWARD)
    critic_forward (p, n, values);
  else
    critic_backward (p, n, dvalues);
}

static inline void
cpu_relax (void)
{
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause ();
#endif
}

/* The worker spins while jobs come often (a minibatch's two passes are a
 * few hundred microseconds apart, less than a sleep and wake-up costs) and
 * sleeps on the condition when none came for a while (a rollout). */
#define SPIN_LIMIT 200000

static gpointer
critic_worker (gpointer data)
{
  DerlPolicy *p = data;

  for (;;)
    {
      int job;
      guint spins = 0;
      while ((job = g_atomic_int_get (&p->job)) == CRITIC_NONE)
        {
          if (++spins < SPIN_LIMIT)
            {
              cpu_relax ();
              continue;
            }
          g_mutex_lock (&p->lock);
          p->sleeping = TRUE;
          while (g_atomic_int_get (&p->job) == CRITIC_NONE)
            g_cond_wait (&p->cond, &p->lock);
          p->sleeping = FALSE;
          g_mutex_unlock (&p->lock);
          spins = 0;
        }
      if (job == CRITIC_QUIT)
        break;
      critic_run (p, job, p->job_n, p->job_values, p->job_dvalues);
      g_atomic_int_set (&p->job, CRITIC_NONE);
      g_atomic_int_set (&p->job_done, TRUE);
    }
  return NULL;
}

static void
post_job (DerlPolicy *p, int job)
{
  g_atomic_int_set (&p->job, job);
  g_mutex_lock (&p->lock);
  if (p->sleeping)
    g_cond_signal (&p->cond);
  g_mutex_unlock (&p->lock);
}

/* Starts a critic pass: on the worker thread when there is one, else now.
 * Either way the same operations run on the same data. */
static void
critic_start (DerlPolicy *p, int job, guint n, double *values, const double *dvalues)
{
  if (!p->worker)
    {
      critic_run (p, job, n, values, dvalues);
      return;
    }
  p->job_n = n;
  p->job_values = values;
  p->job_dvalues = dvalues;
  g_atomic_int_set (&p->job_done, FALSE);
  post_job (p, job);
}

static void
critic_wait (DerlPolicy *p)
{
  if (!p->worker)
    return;
  /* spin, then give the core away in case the critic waits for it */
  for (guint spins = 0; !g_atomic_int_get (&p->job_done); spins++)
    if (spins < SPIN_LIMIT)
      cpu_relax ();
    else
      g_thread_yield ();
}

static void
stop_worker (DerlPolicy *p)
{
  if (!p->worker)
    return;
  post_job (p, CRITIC_QUIT);
  g_thread_join (p->worker);
  p->worker = NULL;
}

void
derl_policy_set_temperature (DerlPolicy *p, double temperature)
{
  g_return_if_fail (temperature > 0 && isfinite (temperature));
  p->temperature = temperature;
}

void
derl_policy_set_threads (DerlPolicy *p, guint n_threads)
{
  g_return_if_fail (p != NULL && n_threads >= 1);
  /* With a value head, one of the threads runs the critic: the backend's
   * ops split among the others (on two cores, three busy threads would
   * wait on each other). */
  derl_backend_set_threads (p->backend, p->config.value_head && n_threads >= 2 ? n_threads - 1 : n_threads);
  if (n_threads >= 2 && p->config.value_head && !p->worker)
    {
      p->job = CRITIC_NONE;
      p->worker = g_thread_new ("derl-critic", critic_worker, p);
    }
  else if (n_threads < 2)
    stop_worker (p);
}

void
derl_policy_act (DerlPolicy *p, const DerlDecisions *d, const double *uniform, guint32 *actions,
                 float *logp_out, float *values_out)
{
  const DerlPolicyConfig *c = &p->config;
  guint n = d->n;

  g_return_if_fail (n > 0 && n <= p->max_rows && actions != NULL);
  g_return_if_fail (values_out == NULL || c->value_head);

  if (c->obs_size)
    upload_floats (p, p->obs, 0, d->obs, (gsize) n * c->obs_size);
  if (c->candidate_size)
    {
      /* Only the admissible slots' features go to the backend, compacted
       * on the host. */
      gsize cs = c->candidate_size;
      compact_slots (p, n, d->mask, NULL);
      const guint32 *src = p->ragged ? p->row_flat : p->flat;
      gsize n_rows = p->ragged ? p->n_rows : (gsize) n * p->width;
      g_assert (n_rows * cs <= p->staging_len);
      if (c->dtype == DERL_DTYPE_F32)
        {
          float *f = p->staging;
          for (gsize k = 0; k < n_rows; k++)
            memcpy (f + k * cs, d->candidates + (gsize) src[k] * cs, sizeof (float) * cs);
        }
      else
        {
          double *f = p->staging;
          for (gsize k = 0; k < n_rows; k++)
            for (gsize q = 0; q < cs; q++)
              f[k * cs + q] = d->candidates[(gsize) src[k] * cs + q];
        }
      derl_tensor_upload (p->cand_rows, 0, p->staging, n_rows * cs);
    }
  else
    {
      p->width = c->n_actions;
      upload_mask (p, p->mask, 0, d->mask, (gsize) n * c->n_actions);
    }
  DerlTensor logp = actor_forward (p, n);
  DerlTensor mask = shaped (p->mask, n, p->width);
  if (uniform)
    derl_tensor_sample (&logp, &mask, uniform, actions);
  else
    derl_tensor_argmax (&logp, &mask, actions);
  if (logp_out)
    download_doubles (p, &logp, p->host_logp, (gsize) n * p->width);
  for (guint i = 0; i < n; i++)
    {
      if (logp_out)
        logp_out[i] = actions[i] == DERL_NO_ACTION ? -INFINITY
                                                   : (float) p->host_logp[(gsize) i * p->width + actions[i]];
      actions[i] = slot_of (p, i, actions[i]);
    }
  if (values_out)
    {
      critic_forward (p, n, p->host_dlogp);
      for (guint i = 0; i < n; i++)
        values_out[i] = (float) p->host_dlogp[i];
    }
}

void
derl_policy_values (DerlPolicy *p, guint n, const float *obs, float *values)
{
  g_return_if_fail (n > 0 && n <= p->max_rows && p->config.value_head);
  upload_floats (p, p->obs, 0, obs, (gsize) n * p->config.obs_size);
  critic_forward (p, n, p->host_dlogp);
  for (guint i = 0; i < n; i++)
    values[i] = (float) p->host_dlogp[i];
}

/* ---- training inputs ---- */

DerlPolicyInputs *
derl_policy_inputs_new (DerlPolicy *p, guint capacity, GError **error)
{
  const DerlPolicyConfig *c = &p->config;
  DerlPolicyInputs *in = g_new0 (DerlPolicyInputs, 1);

  in->policy = p;
  in->capacity = capacity;
  in->host_mask = g_new0 (guint8, (gsize) capacity * c->n_actions);
  if (!(in->obs = derl_tensor_new (p->backend, c->dtype, capacity, MAX (c->obs_size, 1), error))
      || !(in->cand = derl_tensor_new (p->backend, c->dtype, capacity,
                                       MAX (c->n_actions * c->candidate_size, 1), error))
      || !(in->mask = derl_tensor_new (p->backend, c->dtype, capacity, c->n_actions, error)))
    {
      derl_policy_inputs_free (in);
      return NULL;
    }
  return in;
}

void
derl_policy_inputs_free (DerlPolicyInputs *in)
{
  if (!in)
    return;
  derl_tensor_free (in->obs);
  derl_tensor_free (in->cand);
  derl_tensor_free (in->mask);
  g_free (in->host_mask);
  g_free (in);
}

void
derl_policy_inputs_upload (DerlPolicyInputs *in, const DerlDecisions *d)
{
  DerlPolicy *p = in->policy;
  guint chunk = p->max_rows;

  g_return_if_fail (d->n <= in->capacity);
  memcpy (in->host_mask, d->mask, (gsize) d->n * p->config.n_actions);
  /* In chunks of max_rows, the size of the staging buffer. */
  for (guint row0 = 0; row0 < d->n; row0 += chunk)
    {
      const DerlPolicyConfig *c = &p->config;
      DerlDecisions part = {
        MIN (chunk, d->n - row0),
        d->obs ? d->obs + (gsize) row0 * c->obs_size : NULL,
        d->candidates ? d->candidates + (gsize) row0 * c->n_actions * c->candidate_size : NULL,
        d->mask + (gsize) row0 * c->n_actions,
      };
      upload_decisions (p, in->obs, in->cand, in->mask, row0, &part);
    }
}

/* ---- training ---- */

void
derl_policy_evaluate (DerlPolicy *p, const DerlPolicyInputs *in, const guint32 *rows, guint n,
                      const guint32 *actions, double *logp, double *entropy, double *values)
{
  const DerlPolicyConfig *c = &p->config;
  guint a = c->n_actions;

  /* Inputs uploaded for another policy of the same shape (a reference
   * policy, say) serve as well. */
  g_return_if_fail (in->policy->backend == p->backend && in->policy->config.obs_size == c->obs_size
                    && in->policy->config.n_actions == c->n_actions
                    && in->policy->config.candidate_size == c->candidate_size
                    && in->policy->config.dtype == c->dtype && n > 0 && n <= p->max_rows);
  g_return_if_fail (values == NULL || c->value_head);

  DerlTensor obs = rows_of (p->obs, n), mask = rows_of (p->mask, n);
  if (c->obs_size)
    derl_tensor_gather_rows (in->obs, rows, &obs);
  if (c->candidate_size)
    {
      /* The admissible rows of the batch's (decisions x slots) candidate
       * matrix, gathered on the backend in compact order. */
      guint8 *masks = p->row_masks;
      for (guint i = 0; i < n; i++)
        memcpy (masks + (gsize) i * a, in->host_mask + (gsize) rows[i] * a, a);
      compact_slots (p, n, masks, rows);
      DerlTensor all = shaped (in->cand, in->capacity * a, c->candidate_size);
      DerlTensor dst = rows_of (p->cand_rows, p->ragged ? p->n_rows : n * p->width);
      derl_tensor_gather_rows (&all, p->ragged ? p->row_flat : p->flat, &dst);
    }
  else
    {
      p->width = a;
      derl_tensor_gather_rows (in->mask, rows, &mask);
    }

  if (values)
    critic_start (p, CRITIC_FORWARD, n, values, NULL);
  DerlTensor l = actor_forward (p, n);
  guint w = p->width;
  download_doubles (p, &l, p->host_logp, (gsize) n * w);
  for (guint i = 0; i < n; i++)
    {
      const double *li = p->host_logp + (gsize) i * w;
      guint r = compact_position (p, i, actions[i]);
      g_assert (r < w);
      /* A diverged policy's NaN goes on into the loss, which the
       * optimizers refuse with an error. */
      logp[i] = li[r];
      p->last_actions[i] = r;
      if (entropy)
        {
          double h = 0;
          for (guint j = 0; j < w; j++)
            if (isfinite (li[j]))
              h -= derl_math_exp (li[j]) * li[j];
          entropy[i] = h;
        }
    }
  p->last_n = n;
  p->last_has_values = values != NULL;
  if (values)
    critic_wait (p);
}

void
derl_policy_zero_grad (DerlPolicy *p)
{
  for (guint i = 0; i < p->n_params; i++)
    derl_tensor_fill (p->params[i]->grad, 0.0);
}

void
derl_policy_backward (DerlPolicy *p, const double *dlogp, const double *dentropy, const double *dvalues)
{
  const DerlPolicyConfig *c = &p->config;
  guint n = p->last_n, a = p->width;

  g_return_if_fail (n > 0 && dlogp != NULL);
  g_return_if_fail (dvalues == NULL || p->last_has_values);

  if (dvalues)
    critic_start (p, CRITIC_BACKWARD, n, NULL, dvalues);

  /* dL/dl_ij: the chosen action's term, and the entropy's
   * dH/dl_j = -p_j (l_j + 1) for H = -sum_j p_j l_j. */
  for (guint i = 0; i < n; i++)
    {
      const double *li = p->host_logp + (gsize) i * a;
      double *di = p->host_dlogp + (gsize) i * a;
      for (guint j = 0; j < a; j++)
        {
          double d = 0;
          if (isfinite (li[j]))
            {
              if (j == p->last_actions[i])
                d += dlogp[i];
              if (dentropy)
                d += dentropy[i] * -derl_math_exp (li[j]) * (li[j] + 1.0);
            }
          di[j] = d;
        }
    }
  DerlTensor l = shaped (p->logp, n, a), mask = shaped (p->mask, n, a);
  DerlTensor dl = shaped (p->dlogp, n, a), dlogits = shaped (p->dlogits, n, a);
  upload_doubles (p, &dl, p->host_dlogp, (gsize) n * a);
  derl_tensor_masked_log_softmax_backward (&l, &mask, &dl, &dlogits);
  if (p->temperature != 1.0)
    derl_tensor_scale (&dlogits, 1.0 / p->temperature);
  DerlTensor dout = shaped (&dlogits, n * (c->candidate_size ? a : 1), c->candidate_size ? 1 : a);
  if (c->candidate_size && p->ragged)
    {
      /* back from n x W logits to the scored rows (dl is free again) */
      DerlTensor drows = shaped (p->dlogp, p->n_rows, 1);
      derl_tensor_gather_rows (&dout, p->row_slot, &drows);
      dout = drows;
    }
  _derl_mlp_backward (&p->actor, &dout);
  if (dvalues)
    critic_wait (p);
}

double
derl_policy_grad_norm (DerlPolicy *p)
{
  double sum = 0;
  for (guint i = 0; i < p->n_params; i++)
    sum += derl_tensor_sum_squares (p->params[i]->grad);
  return sqrt (sum);
}

double
derl_policy_step (DerlPolicy *p, double lr, double max_grad_norm)
{
  double norm = derl_policy_grad_norm (p);
  DerlAdamParams adam = { lr, ADAM_BETA1, ADAM_BETA2, ADAM_EPS, p->adam_t + 1 };

  /* A gradient that is not finite would turn every parameter into NaN:
   * leave them as they are and let the caller see the norm. */
  if (!isfinite (norm))
    return norm;
  p->adam_t++;
  if (max_grad_norm > 0 && norm > max_grad_norm)
    {
      double coef = max_grad_norm / (norm + 1e-6);
      for (guint i = 0; i < p->n_params; i++)
        derl_tensor_scale (p->params[i]->grad, coef);
    }
  for (guint i = 0; i < p->n_params; i++)
    {
      DerlMlpParam *q = p->params[i];
      derl_tensor_adam (q->value, q->grad, q->m, q->v, &adam);
    }
  return norm;
}

/* ---- parameters as one flat vector ---- */

static void
flat_io (DerlPolicy *p, double *values, gboolean get, gboolean grads)
{
  gsize offset = 0;
  for (guint i = 0; i < p->n_params; i++)
    {
      DerlTensor *t = grads ? p->params[i]->grad : p->params[i]->value;
      gsize n = derl_tensor_n_elements (t);
      if (get)
        derl_tensor_download_doubles (t, 0, values + offset, n);
      else
        derl_tensor_upload_doubles (t, 0, values + offset, n);
      offset += n;
    }
}

void
derl_policy_get_parameters (const DerlPolicy *p, double *values)
{
  flat_io ((DerlPolicy *) p, values, TRUE, FALSE);
}

void
derl_policy_set_parameters (DerlPolicy *p, const double *values)
{
  flat_io (p, (double *) values, FALSE, FALSE);
}

void
derl_policy_get_gradients (const DerlPolicy *p, double *values)
{
  flat_io ((DerlPolicy *) p, values, TRUE, TRUE);
}

/* For checkpoint.c */
guint
_derl_policy_tensors (DerlPolicy *p, DerlTensor **out, char **names, gboolean with_moments)
{
  guint n = 0;
  for (guint i = 0; i < p->n_params; i++)
    {
      out[n] = p->params[i]->value;
      names[n++] = g_strdup_printf ("param.%u", i);
      if (with_moments)
        {
          out[n] = p->params[i]->m;
          names[n++] = g_strdup_printf ("adam_m.%u", i);
          out[n] = p->params[i]->v;
          names[n++] = g_strdup_printf ("adam_v.%u", i);
        }
    }
  return n;
}

guint64
_derl_policy_get_adam_step (const DerlPolicy *p)
{
  return p->adam_t;
}

void
_derl_policy_set_adam_step (DerlPolicy *p, guint64 t)
{
  p->adam_t = t;
}

gboolean
_derl_policy_copy_state (DerlPolicy *dst, const DerlPolicy *src, GError **error)
{
  if (dst->n_params != src->n_params || dst->config.obs_size != src->config.obs_size
      || dst->config.n_actions != src->config.n_actions || dst->config.candidate_size != src->config.candidate_size
      || dst->config.n_hidden != src->config.n_hidden
      || memcmp (dst->config.hidden, src->config.hidden, sizeof (guint) * dst->config.n_hidden) != 0
      || dst->config.value_head != src->config.value_head || dst->config.dtype != src->config.dtype)
    {
      g_set_error (error, DERL_RUN_ERROR, DERL_RUN_ERROR_FAILED, "the saved policy has another architecture");
      return FALSE;
    }
  for (guint i = 0; i < dst->n_params; i++)
    {
      derl_tensor_copy (dst->params[i]->value, src->params[i]->value);
      derl_tensor_copy (dst->params[i]->m, src->params[i]->m);
      derl_tensor_copy (dst->params[i]->v, src->params[i]->v);
    }
  dst->adam_t = src->adam_t;
  return TRUE;
}

DerlBackend *
_derl_policy_get_backend (const DerlPolicy *p)
{
  return p->backend;
}

DerlPolicy *
_derl_policy_alloc (DerlBackend *backend, const DerlPolicyConfig *config, guint max_rows, GError **error)
{
  return policy_alloc (backend, config, max_rows, error);
}
