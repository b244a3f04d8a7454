/* derl - PPO (Schulman et al. 2017, "Proximal Policy Optimization
 * Algorithms"), in the form and with the defaults of CleanRL's ppo.py for
 * CartPole: n_envs environments x n_steps steps per update, GAE(lambda)
 * advantages, update_epochs passes over the batch in n_minibatches shuffled
 * minibatches, per-minibatch advantage normalisation, clipped surrogate,
 * clipped value loss, entropy bonus, global gradient-norm clipping, Adam
 * with the learning rate annealed linearly to 0.
 *
 * One difference from CleanRL: a step that ends by truncation (the time
 * limit) bootstraps from the value of the observation it ended in, instead
 * of treating the time limit as a terminal state.
 */
#include "config.h"

#define G_LOG_DOMAIN "derl-ppo"

#include <math.h>
#include <string.h>
#include <derl/derl.h>

static const DerlParamSpec ppo_params[] = {
  DERL_PARAM_INT_RANGE ("n_envs", "4", 1, 4096, "environments stepped side by side"),
  DERL_PARAM_INT_RANGE ("n_steps", "128", 1, 1000000, "steps per environment per update (batch = n_envs x n_steps)"),
  DERL_PARAM_DOUBLE_RANGE ("learning_rate", "2.5e-4", 0, 1, "Adam's learning rate at the start"),
  DERL_PARAM_BOOL ("anneal_lr", "true", "anneal the learning rate linearly to 0 over the training budget"),
  DERL_PARAM_DOUBLE_RANGE ("gamma", "0.99", 0, 1, "discount factor"),
  DERL_PARAM_DOUBLE_RANGE ("gae_lambda", "0.95", 0, 1, "lambda of generalised advantage estimation"),
  DERL_PARAM_INT_RANGE ("n_minibatches", "4", 1, 1000000, "minibatches per epoch"),
  DERL_PARAM_INT_RANGE ("update_epochs", "4", 1, 1000, "passes over the batch per update"),
  DERL_PARAM_BOOL ("norm_adv", "true", "normalise advantages within each minibatch"),
  DERL_PARAM_DOUBLE_RANGE ("clip_coef", "0.2", 0, 10, "the surrogate's clipping epsilon"),
  DERL_PARAM_BOOL ("clip_vloss", "true", "clip the value loss around the old values (by clip_coef)"),
  DERL_PARAM_DOUBLE_RANGE ("ent_coef", "0.01", 0, 100, "entropy bonus coefficient"),
  DERL_PARAM_DOUBLE_RANGE ("vf_coef", "0.5", 0, 100, "value loss coefficient"),
  DERL_PARAM_DOUBLE_RANGE ("max_grad_norm", "0.5", 0, 1e9, "clip the global gradient norm to this (0: no clipping)"),
  DERL_PARAM_DOUBLE_RANGE ("target_kl", "0", 0, 100, "stop the update's epochs once the approximate KL exceeds this (0: never)"),
  DERL_PARAM_END
};

typedef struct {
  guint n_envs, n_steps, n_minibatches, update_epochs;
  double lr, gamma, lambda, clip, ent_coef, vf_coef, max_grad_norm, target_kl;
  gboolean anneal_lr, norm_adv, clip_vloss;
  guint batch, minibatch;
  /* per-row buffers, sized once */
  double *advantages, *returns;
  guint32 *order;
  /* per-minibatch buffers */
  guint32 *mb_actions;
  double *mb_adv, *newlogp, *entropy, *newvalue, *dlogp, *dentropy, *dvalue;
} Ppo;

static gboolean
ppo_create (const DerlParams *params, gpointer *state, GError **error)
{
  Ppo *p = g_new0 (Ppo, 1);

  p->n_envs = (guint) derl_params_get_int (params, "n_envs");
  p->n_steps = (guint) derl_params_get_int (params, "n_steps");
  p->n_minibatches = (guint) derl_params_get_int (params, "n_minibatches");
  p->update_epochs = (guint) derl_params_get_int (params, "update_epochs");
  p->lr = derl_params_get_double (params, "learning_rate");
  p->anneal_lr = derl_params_get_bool (params, "anneal_lr");
  p->gamma = derl_params_get_double (params, "gamma");
  p->lambda = derl_params_get_double (params, "gae_lambda");
  p->norm_adv = derl_params_get_bool (params, "norm_adv");
  p->clip = derl_params_get_double (params, "clip_coef");
  p->clip_vloss = derl_params_get_bool (params, "clip_vloss");
  p->ent_coef = derl_params_get_double (params, "ent_coef");
  p->vf_coef = derl_params_get_double (params, "vf_coef");
  p->max_grad_norm = derl_params_get_double (params, "max_grad_norm");
  p->target_kl = derl_params_get_double (params, "target_kl");
  p->batch = p->n_envs * p->n_steps;
  if (p->n_minibatches > p->batch)
    {
      g_set_error (error, DERL_EXPERIMENT_ERROR, DERL_EXPERIMENT_ERROR_INVALID_VALUE,
                   "n_minibatches = %u: more minibatches than the %u rows of a batch "
                   "(n_envs x n_steps)", p->n_minibatches, p->batch);
      g_free (p);
      return FALSE;
    }
  p->minibatch = p->batch / p->n_minibatches; /* leftover rows sit out the epoch, as in CleanRL */
  p->advantages = g_new (double, p->batch);
  p->returns = g_new (double, p->batch);
  p->order = g_new (guint32, p->batch);
  p->mb_actions = g_new (guint32, p->minibatch);
  p->mb_adv = g_new (double, p->minibatch);
  p->newlogp = g_new (double, p->minibatch);
  p->entropy = g_new (double, p->minibatch);
  p->newvalue = g_new (double, p->minibatch);
  p->dlogp = g_new (double, p->minibatch);
  p->dentropy = g_new (double, p->minibatch);
  p->dvalue = g_new (double, p->minibatch);
  *state = p;
  return TRUE;
}

static void
ppo_destroy (gpointer state)
{
  Ppo *p = state;
  g_free (p->advantages);
  g_free (p->returns);
  g_free (p->order);
  g_free (p->mb_actions);
  g_free (p->mb_adv);
  g_free (p->newlogp);
  g_free (p->entropy);
  g_free (p->newvalue);
  g_free (p->dlogp);
  g_free (p->dentropy);
  g_free (p->dvalue);
  g_free (p);
}

static void
ppo_plan (gpointer state, DerlRolloutPlan *plan)
{
  Ppo *p = state;
  plan->kind = DERL_ROLLOUT_SEGMENTS;
  plan->n_envs = p->n_envs;
  plan->n_steps = p->n_steps;
  plan->minibatch_rows = p->minibatch;
  plan->needs_values = TRUE;
}

/* GAE: A_t = delta_t + gamma lambda A_{t+1}, delta_t = r_t + gamma V(s_{t+1}) - V(s_t);
 * the chain stops at episode ends; a terminal state is worth 0, a truncated
 * one V(its final observation). */
static void
compute_gae (Ppo *p, const DerlBatch *b)
{
  guint E = p->n_envs, T = p->n_steps;
  for (guint e = 0; e < E; e++)
    {
      double lastgaelam = 0;
      for (guint t = T; t-- > 0;)
        {
          guint row = t * E + e;
          double next_value, carry;
          if (b->terminated[row])
            next_value = 0, carry = 0;
          else if (b->truncated[row])
            next_value = b->next_values[row], carry = 0;
          else
            next_value = t + 1 == T ? b->last_values[e] : b->values[row + E], carry = 1;
          double delta = b->rewards[row] + p->gamma * next_value - b->values[row];
          lastgaelam = delta + p->gamma * p->lambda * carry * lastgaelam;
          p->advantages[row] = lastgaelam;
          p->returns[row] = lastgaelam + b->values[row];
        }
    }
}

static double
explained_variance (const Ppo *p, const DerlBatch *b)
{
  double my = 0, vy = 0, md = 0, vd = 0;
  for (guint i = 0; i < p->batch; i++)
    {
      my += p->returns[i];
      md += p->returns[i] - b->values[i];
    }
  my /= p->batch;
  md /= p->batch;
  for (guint i = 0; i < p->batch; i++)
    {
      double d = p->returns[i] - b->values[i];
      vy += (p->returns[i] - my) * (p->returns[i] - my);
      vd += (d - md) * (d - md);
    }
  return vy == 0 ? NAN : 1.0 - vd / vy;
}

/* The terms of one minibatch's loss, each a mean over its M rows. */
typedef struct {
  double policy, value, entropy, approx_kl, clipfrac;
  double total; /* policy - ent_coef entropy + vf_coef value */
} PpoLoss;

/* The PPO loss of M rows, and its gradient with respect to each row's new
 * log-probability, entropy and value (what derl_policy_backward takes).
 * @adv: the rows' (normalised) advantages; @rows: their batch indices.
 *
 *   L = mean(max(-A r, -A clip(r, 1-eps, 1+eps)))              (clipped surrogate, r = exp(l - l_old))
 *     - ent_coef mean(H)                                        (entropy bonus)
 *     + vf_coef 0.5 mean(max((V - R)^2, (V_old + clip(V - V_old, -eps, eps) - R)^2))
 */
static void
ppo_loss (const Ppo *p, const DerlBatch *b, const guint32 *rows, guint M, const double *adv,
          const double *newlogp, const double *entropy, const double *newvalue,
          double *dlogp, double *dentropy, double *dvalue, PpoLoss *loss)
{
  *loss = (PpoLoss) { 0 };
  for (guint i = 0; i < M; i++)
    {
      guint row = rows[i];
      double A = adv[i];
      double logratio = newlogp[i] - b->logp[row];
      double ratio = derl_math_exp (logratio);

      /* clipped surrogate; d/dl of the chosen branch: -A r, or 0 where clipped */
      double pg1 = -A * ratio;
      double pg2 = -A * CLAMP (ratio, 1.0 - p->clip, 1.0 + p->clip);
      gboolean inside = ratio >= 1.0 - p->clip && ratio <= 1.0 + p->clip;
      loss->policy += MAX (pg1, pg2);
      dlogp[i] = (pg1 >= pg2 || inside) ? -A * ratio / M : 0.0;

      /* value loss */
      double R = p->returns[row], v = newvalue[i], v_old = b->values[row];
      double unclipped = (v - R) * (v - R);
      if (p->clip_vloss)
        {
          double v_clipped = v_old + CLAMP (v - v_old, -p->clip, p->clip);
          double clipped = (v_clipped - R) * (v_clipped - R);
          gboolean v_inside = fabs (v - v_old) <= p->clip;
          loss->value += 0.5 * MAX (unclipped, clipped);
          dvalue[i] = p->vf_coef * (unclipped >= clipped ? (v - R) : (v_inside ? (v_clipped - R) : 0.0)) / M;
        }
      else
        {
          loss->value += 0.5 * unclipped;
          dvalue[i] = p->vf_coef * (v - R) / M;
        }

      /* entropy bonus */
      loss->entropy += entropy[i];
      dentropy[i] = -p->ent_coef / M;

      loss->approx_kl += (ratio - 1.0) - logratio;
      loss->clipfrac += fabs (ratio - 1.0) > p->clip;
    }
  loss->policy /= M;
  loss->value /= M;
  loss->entropy /= M;
  loss->approx_kl /= M;
  loss->clipfrac /= M;
  loss->total = loss->policy - p->ent_coef * loss->entropy + p->vf_coef * loss->value;
}

/* Advantages of a minibatch, normalised to mean 0 and (unbiased, as
 * torch.std) standard deviation 1 when norm_adv. */
static void
minibatch_advantages (Ppo *p, const guint32 *rows, guint M)
{
  double mean = 0, std = 0;

  for (guint i = 0; i < M; i++)
    {
      p->mb_adv[i] = p->advantages[rows[i]];
      mean += p->mb_adv[i];
    }
  if (!p->norm_adv || M < 2)
    return;
  mean /= M;
  for (guint i = 0; i < M; i++)
    std += (p->mb_adv[i] - mean) * (p->mb_adv[i] - mean);
  std = sqrt (std / (M - 1));
  for (guint i = 0; i < M; i++)
    p->mb_adv[i] = (p->mb_adv[i] - mean) / (std + 1e-8);
}

static gboolean
ppo_update (gpointer state, DerlPolicy *policy, const DerlBatch *b, const DerlUpdateContext *ctx,
            DerlStats *stats, GError **error)
{
  Ppo *p = state;
  guint M = p->minibatch;
  double lr = p->anneal_lr ? (1.0 - ctx->progress) * p->lr : p->lr;
  PpoLoss sum = { 0 }, loss = { 0 };
  double sum_norm = 0;
  guint n_mb = 0;

  g_return_val_if_fail (b->n == p->batch, FALSE);
  compute_gae (p, b);

  for (guint epoch = 0; epoch < p->update_epochs; epoch++)
    {
      derl_shuffle (p->order, p->batch, ctx->rng);
      for (guint start = 0; start + M <= p->batch; start += M)
        {
          const guint32 *rows = p->order + start;

          for (guint i = 0; i < M; i++)
            p->mb_actions[i] = b->actions[rows[i]];
          minibatch_advantages (p, rows, M);
          derl_policy_evaluate (policy, b->inputs, rows, M, p->mb_actions, p->newlogp, p->entropy, p->newvalue);
          ppo_loss (p, b, rows, M, p->mb_adv, p->newlogp, p->entropy, p->newvalue, p->dlogp, p->dentropy,
                    p->dvalue, &loss);
          if (!isfinite (loss.total))
            {
              g_set_error (error, DERL_RUN_ERROR, DERL_RUN_ERROR_DIVERGED,
                           "ppo: the loss is not finite (diverged; policy loss %g, value loss %g)", loss.policy, loss.value);
              return FALSE;
            }
          derl_policy_zero_grad (policy);
          derl_policy_backward (policy, p->dlogp, p->dentropy, p->dvalue);
          sum_norm += derl_policy_step (policy, lr, p->max_grad_norm);

          sum.policy += loss.policy;
          sum.value += loss.value;
          sum.entropy += loss.entropy;
          sum.approx_kl += loss.approx_kl;
          sum.clipfrac += loss.clipfrac;
          n_mb++;
        }
      if (p->target_kl > 0 && loss.approx_kl > p->target_kl)
        break;
    }

  derl_stats_add (stats, "policy_loss", sum.policy / n_mb);
  derl_stats_add (stats, "value_loss", sum.value / n_mb);
  derl_stats_add (stats, "entropy", sum.entropy / n_mb);
  derl_stats_add (stats, "approx_kl", sum.approx_kl / n_mb);
  derl_stats_add (stats, "clipfrac", sum.clipfrac / n_mb);
  derl_stats_add (stats, "grad_norm", sum_norm / n_mb);
  derl_stats_add (stats, "learning_rate", lr);
  derl_stats_add (stats, "explained_variance", explained_variance (p, b));
  return TRUE;
}

static const DerlOptimizerVTable ppo_vtable = {
  ppo_create, ppo_destroy, ppo_plan, ppo_update, NULL, { NULL }
};

static gboolean
ppo_init (DerlPlugin *plugin, GError **error)
{
  return derl_plugin_register_optimizer (plugin, "ppo",
    "Proximal Policy Optimization with CleanRL's defaults for CartPole: n_envs x n_steps\n"
    "steps per update, GAE(lambda) advantages (bootstrapping through truncation, not\n"
    "termination), update_epochs epochs of n_minibatches shuffled minibatches,\n"
    "per-minibatch advantage normalisation, the clipped surrogate\n"
    "  L = mean(max(-A r, -A clip(r, 1-eps, 1+eps))), r = pi(a|s) / pi_old(a|s),\n"
    "a clipped value loss, an entropy bonus, gradient-norm clipping and Adam\n"
    "(eps 1e-5) with the learning rate annealed linearly to 0.  Logs policy_loss,\n"
    "value_loss, entropy, approx_kl, clipfrac, grad_norm, learning_rate and\n"
    "explained_variance per update.",
    &ppo_vtable, ppo_params, error);
}

DERL_PLUGIN_DEFINE ("ppo", "PPO: proximal policy optimization (CleanRL's form)", ppo_init, PACKAGE_VERSION,
                    "LGPL-2.1-or-later")
