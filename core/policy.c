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

  /* device scratch, max_rows decisions */
  DerlTensor *obs;          /* max_rows x obs_size */
  DerlTensor *cand;         /* max_rows x (n_actions * candidate_size) */
  DerlTensor *mask;         /* max_rows x n_actions, 0/1 */
  DerlTensor *logp;         /* max_rows x n_actions: masked log-softmax */
  DerlTensor *dlogp;        /* its gradient */
  DerlTensor *dlogits;
  DerlTensor *dvalues;      /* max_rows x 1 */

  /* host scratch */
  gpointer staging;         /* max elements of any upload/download, in dtype */
  gsize staging_len;
  double *host_logp;        /* max_rows x n_actions */
  double *host_dlogp;
  guint32 *last_actions;
  guint last_n;
  gboolean last_has_values;

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
      || !(p->cand = derl_tensor_new (p->backend, dt, m, MAX (a * c->candidate_size, 1), error))
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
  derl_tensor_free (p->cand);
  derl_tensor_free (p->mask);
  derl_tensor_free (p->logp);
  derl_tensor_free (p->dlogp);
  derl_tensor_free (p->dlogits);
  derl_tensor_free (p->dvalues);
  g_free (p->staging);
  g_free (p->host_logp);
  g_free (p->host_dlogp);
  g_free (p->last_actions);
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

/* The masked log-softmax of the actor over the first @n rows of the
 * policy's obs/cand/mask tensors, into p->logp. */
static DerlTensor
actor_forward (DerlPolicy *p, guint n)
{
  const DerlPolicyConfig *c = &p->config;
  DerlTensor obs = rows_of (p->obs, n);
  DerlTensor cand = shaped (p->cand, n * c->n_actions, MAX (c->candidate_size, 1));
  DerlTensor mask = rows_of (p->mask, n), logp = rows_of (p->logp, n);
  const DerlTensor *out = _derl_mlp_forward (&p->actor, &obs, c->candidate_size ? &cand : NULL, n);
  DerlTensor logits = shaped (out, n, c->n_actions);

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
  while (!g_atomic_int_get (&p->job_done))
    cpu_relax ();
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
derl_policy_set_threads (DerlPolicy *p, guint n_threads)
{
  g_return_if_fail (p != NULL && n_threads >= 1);
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

  upload_decisions (p, p->obs, p->cand, p->mask, 0, d);
  DerlTensor logp = actor_forward (p, n);
  DerlTensor mask = rows_of (p->mask, n);
  if (uniform)
    derl_tensor_sample (&logp, &mask, uniform, actions);
  else
    derl_tensor_argmax (&logp, &mask, actions);
  if (logp_out)
    {
      download_doubles (p, &logp, p->host_logp, (gsize) n * c->n_actions);
      for (guint i = 0; i < n; i++)
        logp_out[i] = actions[i] == DERL_NO_ACTION ? -INFINITY
                                                   : (float) p->host_logp[(gsize) i * c->n_actions + actions[i]];
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
  g_free (in);
}

void
derl_policy_inputs_upload (DerlPolicyInputs *in, const DerlDecisions *d)
{
  DerlPolicy *p = in->policy;
  guint chunk = p->max_rows;

  g_return_if_fail (d->n <= in->capacity);
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

  DerlTensor obs = rows_of (p->obs, n), cand = rows_of (p->cand, n), mask = rows_of (p->mask, n);
  if (c->obs_size)
    derl_tensor_gather_rows (in->obs, rows, &obs);
  if (c->candidate_size)
    derl_tensor_gather_rows (in->cand, rows, &cand);
  derl_tensor_gather_rows (in->mask, rows, &mask);

  if (values)
    critic_start (p, CRITIC_FORWARD, n, values, NULL);
  DerlTensor l = actor_forward (p, n);
  download_doubles (p, &l, p->host_logp, (gsize) n * a);
  for (guint i = 0; i < n; i++)
    {
      const double *li = p->host_logp + (gsize) i * a;
      g_assert (actions[i] < a && isfinite (li[actions[i]]));
      logp[i] = li[actions[i]];
      if (entropy)
        {
          double h = 0;
          for (guint j = 0; j < a; j++)
            if (isfinite (li[j]))
              h -= exp (li[j]) * li[j];
          entropy[i] = h;
        }
    }
  memcpy (p->last_actions, actions, sizeof (guint32) * n);
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
  guint n = p->last_n, a = c->n_actions;

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
                d += dentropy[i] * -exp (li[j]) * (li[j] + 1.0);
            }
          di[j] = d;
        }
    }
  DerlTensor l = rows_of (p->logp, n), mask = rows_of (p->mask, n);
  DerlTensor dl = rows_of (p->dlogp, n), dlogits = rows_of (p->dlogits, n);
  upload_doubles (p, &dl, p->host_dlogp, (gsize) n * a);
  derl_tensor_masked_log_softmax_backward (&l, &mask, &dl, &dlogits);
  DerlTensor dout = shaped (&dlogits, n * (c->candidate_size ? a : 1), c->candidate_size ? 1 : a);
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
  DerlAdamParams adam = { lr, ADAM_BETA1, ADAM_BETA2, ADAM_EPS, ++p->adam_t };

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

DerlPolicy *
_derl_policy_alloc (DerlBackend *backend, const DerlPolicyConfig *config, guint max_rows, GError **error)
{
  return policy_alloc (backend, config, max_rows, error);
}
