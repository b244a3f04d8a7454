/* derl - GRPO (Shao et al. 2024, "DeepSeekMath", section 4.1): groups of G
 * episodes started from the same task; the advantage of episode i is its
 * return normalised within its group,
 *     A_i = (R_i - mean(R)) / (std(R) + eps),
 * applied to every decision of the episode; the clipped surrogate on the
 * ratio r = pi(a|s) / pi_old(a|s) and a KL penalty to a frozen reference
 * policy with the k3 estimator,
 *     KL_k3 = exp(l_ref - l) - (l_ref - l) - 1,
 * so the loss of a minibatch of M decisions (token-mean) is
 *     L = -(1/M) sum_t [ min(r_t A_t, clip(r_t, 1-eps, 1+eps) A_t) - beta KL_t ]
 *         - ent_coef (1/M) sum_t H_t.
 * The reference policy is the policy as it was at the first update.  No
 * value function.
 */
#include "config.h"

#define G_LOG_DOMAIN "derl-grpo"

#include <math.h>
#include <string.h>
#include <derl/derl.h>

static const DerlParamSpec grpo_params[] = {
  DERL_PARAM_INT_RANGE ("n_groups", "8", 1, 4096, "groups (tasks) per update"),
  DERL_PARAM_INT_RANGE ("group_size", "8", 2, 4096, "episodes per group, all started from the group's task"),
  DERL_PARAM_DOUBLE_RANGE ("learning_rate", "1e-3", 0, 1, "Adam's learning rate at the start"),
  DERL_PARAM_BOOL ("anneal_lr", "true", "anneal the learning rate linearly to 0 over the training budget"),
  DERL_PARAM_INT_RANGE ("minibatch_size", "1024", 1, 1000000, "decisions per minibatch"),
  DERL_PARAM_INT_RANGE ("update_epochs", "2", 1, 1000, "passes over the batch per update"),
  DERL_PARAM_DOUBLE_RANGE ("clip_coef", "0.2", 0, 10, "the surrogate's clipping epsilon"),
  DERL_PARAM_DOUBLE_RANGE ("beta", "0.001", 0, 100, "weight of the k3 KL penalty to the reference policy (0: none)"),
  DERL_PARAM_DOUBLE_RANGE ("ent_coef", "0", 0, 100, "entropy bonus coefficient"),
  DERL_PARAM_DOUBLE_RANGE ("adv_eps", "1e-6", 0, 1, "added to the group's standard deviation"),
  DERL_PARAM_DOUBLE_RANGE ("max_grad_norm", "0.5", 0, 1e9, "clip the global gradient norm to this (0: no clipping)"),
  DERL_PARAM_END
};

typedef struct {
  guint n_groups, group_size, minibatch, update_epochs;
  double lr, clip, beta, ent_coef, adv_eps, max_grad_norm;
  gboolean anneal_lr;
  DerlPolicy *reference;
  /* per-row buffers, grown to the largest batch seen */
  guint capacity;
  double *advantages;
  guint32 *order;
  guint32 *identity;  /* 0, 1, 2, ... */
  double *ref_logp;   /* the reference's log-probability of each row's action */
  /* per-episode */
  double *episode_return;
  /* per-minibatch */
  guint32 *mb_actions;
  double *newlogp, *reflogp, *entropy, *dlogp, *dentropy;
} Grpo;

static gboolean
grpo_create (const DerlParams *params, gpointer *state, GError **error)
{
  Grpo *g = g_new0 (Grpo, 1);

  g->n_groups = (guint) derl_params_get_int (params, "n_groups");
  g->group_size = (guint) derl_params_get_int (params, "group_size");
  g->lr = derl_params_get_double (params, "learning_rate");
  g->anneal_lr = derl_params_get_bool (params, "anneal_lr");
  g->minibatch = (guint) derl_params_get_int (params, "minibatch_size");
  g->update_epochs = (guint) derl_params_get_int (params, "update_epochs");
  g->clip = derl_params_get_double (params, "clip_coef");
  g->beta = derl_params_get_double (params, "beta");
  g->ent_coef = derl_params_get_double (params, "ent_coef");
  g->adv_eps = derl_params_get_double (params, "adv_eps");
  g->max_grad_norm = derl_params_get_double (params, "max_grad_norm");
  g->episode_return = g_new (double, (gsize) g->n_groups * g->group_size);
  g->mb_actions = g_new (guint32, g->minibatch);
  g->newlogp = g_new (double, g->minibatch);
  g->reflogp = g_new (double, g->minibatch);
  g->entropy = g_new (double, g->minibatch);
  g->dlogp = g_new (double, g->minibatch);
  g->dentropy = g_new (double, g->minibatch);
  *state = g;
  return TRUE;
}

static void
grpo_destroy (gpointer state)
{
  Grpo *g = state;
  derl_policy_free (g->reference);
  g_free (g->advantages);
  g_free (g->order);
  g_free (g->identity);
  g_free (g->ref_logp);
  g_free (g->episode_return);
  g_free (g->mb_actions);
  g_free (g->newlogp);
  g_free (g->reflogp);
  g_free (g->entropy);
  g_free (g->dlogp);
  g_free (g->dentropy);
  g_free (g);
}

static void
grpo_plan (gpointer state, DerlRolloutPlan *plan)
{
  Grpo *g = state;
  plan->kind = DERL_ROLLOUT_GROUPS;
  plan->n_groups = g->n_groups;
  plan->group_size = g->group_size;
  plan->minibatch_rows = g->minibatch;
  plan->needs_values = FALSE;
}

/* A_i = (R_i - mean R) / (std R + eps) within each group, std unbiased as
 * torch.std in the reference implementations; spread to every row. */
static double
group_advantages (Grpo *g, const DerlBatch *b)
{
  guint S = g->group_size;
  double mean_return = 0;

  for (guint i = 0; i < b->n_episodes; i++)
    {
      double r = 0;
      for (guint row = b->episode_start[i]; row < b->episode_start[i + 1]; row++)
        r += b->rewards[row];
      g->episode_return[i] = r;
      mean_return += r / b->n_episodes;
    }
  for (guint first = 0; first < b->n_episodes; first += S)
    {
      double mean = 0, var = 0;
      for (guint i = first; i < first + S; i++)
        mean += g->episode_return[i] / S;
      for (guint i = first; i < first + S; i++)
        var += (g->episode_return[i] - mean) * (g->episode_return[i] - mean) / (S - 1);
      for (guint i = first; i < first + S; i++)
        {
          double A = (g->episode_return[i] - mean) / (sqrt (var) + g->adv_eps);
          for (guint row = b->episode_start[i]; row < b->episode_start[i + 1]; row++)
            g->advantages[row] = A;
        }
    }
  return mean_return;
}

/* The terms of one minibatch's loss, each a mean over its M rows. */
typedef struct {
  double surrogate, kl, entropy, clipfrac;
  double total; /* surrogate + beta kl - ent_coef entropy */
} GrpoLoss;

/* The GRPO loss of M rows (token-mean) and its gradient with respect to
 * each row's new log-probability and entropy:
 *
 *   L = -(1/M) sum_t min(r_t A_t, clip(r_t, 1-eps, 1+eps) A_t)   (r = exp(l - l_old))
 *       + beta (1/M) sum_t [exp(l_ref - l) - (l_ref - l) - 1]      (k3 KL to the reference)
 *       - ent_coef (1/M) sum_t H_t
 */
static void
grpo_loss (const Grpo *g, const DerlBatch *b, const guint32 *rows, guint M, const double *newlogp,
           const double *reflogp, const double *entropy, double *dlogp, double *dentropy, GrpoLoss *loss)
{
  *loss = (GrpoLoss) { 0 };
  for (guint i = 0; i < M; i++)
    {
      double A = g->advantages[rows[i]];
      double ratio = derl_math_exp (newlogp[i] - b->logp[rows[i]]);
      double s1 = ratio * A, s2 = CLAMP (ratio, 1.0 - g->clip, 1.0 + g->clip) * A;
      gboolean inside = ratio >= 1.0 - g->clip && ratio <= 1.0 + g->clip;
      /* d/dl of -min(s1, s2): the unclipped branch carries -A r */
      double d = (s1 <= s2 || inside) ? -A * ratio : 0.0;
      loss->surrogate -= MIN (s1, s2);
      if (g->beta > 0)
        {
          /* k3 = exp(l_ref - l) - (l_ref - l) - 1; d k3/dl = 1 - exp(l_ref - l) */
          double diff = reflogp[i] - newlogp[i];
          loss->kl += derl_math_exp (diff) - diff - 1.0;
          d += g->beta * (1.0 - derl_math_exp (diff));
        }
      dlogp[i] = d / M;
      dentropy[i] = -g->ent_coef / M;
      loss->entropy += entropy[i];
      loss->clipfrac += !inside;
    }
  loss->surrogate /= M;
  loss->kl /= M;
  loss->entropy /= M;
  loss->clipfrac /= M;
  loss->total = loss->surrogate + g->beta * loss->kl - g->ent_coef * loss->entropy;
}

static gboolean
grpo_update (gpointer state, DerlPolicy *policy, const DerlBatch *b, const DerlUpdateContext *ctx,
             DerlStats *stats, GError **error)
{
  Grpo *g = state;
  double lr = g->anneal_lr ? (1.0 - ctx->progress) * g->lr : g->lr;
  double sum_pg = 0, sum_kl = 0, sum_ent = 0, sum_clipfrac = 0, sum_norm = 0;
  guint n_mb = 0;
  GrpoLoss loss;

  g_return_val_if_fail (b->n_episodes == g->n_groups * g->group_size, FALSE);
  if (!g->reference && !(g->reference = derl_policy_clone (policy, error)))
    return FALSE;
  if (b->n > g->capacity)
    {
      g->capacity = b->n;
      g->advantages = g_renew (double, g->advantages, g->capacity);
      g->order = g_renew (guint32, g->order, g->capacity);
      g->identity = g_renew (guint32, g->identity, g->capacity);
      g->ref_logp = g_renew (double, g->ref_logp, g->capacity);
      for (guint i = 0; i < g->capacity; i++)
        g->identity[i] = i;
    }
  double mean_return = group_advantages (g, b);

  /* The reference is fixed during the update: its log-probabilities are
   * computed once for every row, not once per epoch. */
  if (g->beta > 0)
    for (guint start = 0; start < b->n; start += g->minibatch)
      derl_policy_evaluate (g->reference, b->inputs, g->identity + start, MIN (g->minibatch, b->n - start),
                            b->actions + start, g->ref_logp + start, NULL, NULL);

  for (guint epoch = 0; epoch < g->update_epochs; epoch++)
    {
      derl_shuffle (g->order, b->n, ctx->rng);
      for (guint start = 0; start < b->n; start += g->minibatch)
        {
          guint M = MIN (g->minibatch, b->n - start);
          const guint32 *rows = g->order + start;

          for (guint i = 0; i < M; i++)
            g->mb_actions[i] = b->actions[rows[i]];
          derl_policy_evaluate (policy, b->inputs, rows, M, g->mb_actions, g->newlogp, g->entropy, NULL);
          for (guint i = 0; i < M; i++)
            g->reflogp[i] = g->ref_logp[rows[i]];

          grpo_loss (g, b, rows, M, g->newlogp, g->reflogp, g->entropy, g->dlogp, g->dentropy, &loss);
          if (!isfinite (loss.total))
            {
              g_set_error (error, DERL_RUN_ERROR, DERL_RUN_ERROR_DIVERGED,
                           "grpo: the loss is not finite (diverged; surrogate %g, KL %g)", loss.surrogate, loss.kl);
              return FALSE;
            }
          derl_policy_zero_grad (policy);
          derl_policy_backward (policy, g->dlogp, g->ent_coef > 0 ? g->dentropy : NULL, NULL);
          sum_norm += derl_policy_step (policy, lr, g->max_grad_norm);
          sum_pg += loss.surrogate;
          sum_kl += loss.kl;
          sum_ent += loss.entropy;
          sum_clipfrac += loss.clipfrac;
          n_mb++;
        }
    }
  derl_stats_add (stats, "policy_loss", sum_pg / n_mb);
  derl_stats_add (stats, "kl_ref", sum_kl / n_mb);
  derl_stats_add (stats, "entropy", sum_ent / n_mb);
  derl_stats_add (stats, "clipfrac", sum_clipfrac / n_mb);
  derl_stats_add (stats, "grad_norm", sum_norm / n_mb);
  derl_stats_add (stats, "learning_rate", lr);
  derl_stats_add (stats, "group_mean_return", mean_return);
  return TRUE;
}

static gboolean
grpo_set_reference (gpointer state, const DerlPolicy *reference, GError **error)
{
  Grpo *g = state;
  DerlPolicy *copy = derl_policy_clone (reference, error);

  if (!copy)
    return FALSE;
  derl_policy_free (g->reference);
  g->reference = copy;
  return TRUE;
}

static const DerlOptimizerVTable grpo_vtable = {
  grpo_create, grpo_destroy, grpo_plan, grpo_update, grpo_set_reference, { NULL }
};

static gboolean
grpo_init (DerlPlugin *plugin, GError **error)
{
  return derl_plugin_register_optimizer (plugin, "grpo",
    "Group Relative Policy Optimization (DeepSeekMath): n_groups groups of group_size\n"
    "whole episodes per update, the episodes of a group started from the same task;\n"
    "advantage A_i = (R_i - mean R) / (std R + adv_eps) within the group, applied to\n"
    "every decision of episode i; the clipped surrogate on r = pi / pi_old; a KL\n"
    "penalty beta * k3 to a frozen reference policy (the policy at the first update,\n"
    "or the one given with set_reference),\n"
    "k3 = exp(l_ref - l) - (l_ref - l) - 1; the loss averaged over the decisions of\n"
    "each minibatch (token-mean); update_epochs epochs of shuffled minibatches; Adam\n"
    "with gradient-norm clipping and linear learning-rate annealing.  No value head.\n"
    "Logs policy_loss, kl_ref, entropy, clipfrac, grad_norm, learning_rate and\n"
    "group_mean_return per update.",
    &grpo_vtable, grpo_params, error);
}

DERL_PLUGIN_DEFINE ("grpo", "GRPO: group relative policy optimization", grpo_init, PACKAGE_VERSION,
                    "LGPL-2.1-or-later")
