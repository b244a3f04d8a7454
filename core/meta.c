/* derl - the Meta-Optimizer: an autoregressive generator of reward formulas,
 * trained with the same optimizer interface as the inner policies.
 *
 * It is a policy with a plain head over the formula vocabulary (see
 * formula.h): at each position its input is the last DERL_META_WINDOW
 * tokens (one-hot each, with a "before the start" symbol), the position and
 * the grammar state (tokens left, expecting an operand or an operator,
 * whether a variable is used, whether inside a divisor, the paren depth
 * one-hot), and its output is one logit per token, masked by the grammar's
 * exact mask and sampled at the temperature.  So every sample is a valid
 * formula.  One outer step's n formulas are one GRPO group: each formula is
 * an episode of token decisions whose reward, on its last token, is the
 * validation score of the policy trained with it.
 *
 * Random search samples under the same mask, uniformly among the allowed
 * tokens, without the network. */
#include "config.h"

#include <math.h>
#include <string.h>
#include "derl-private.h"

#define DERL_META_WINDOW 8
#define DEPTH_SLOTS 5 /* depth 0, 1, 2, 3, 4 or more */
#define N_STATE_FEATURES (5 + DEPTH_SLOTS)

struct _DerlMeta {
  DerlFormulaGrammar *grammar;
  guint n_vars, V, L, obs_size, n; /* K, vocabulary, token budget, features, group size */
  guint stride;              /* rows per sequence in the store: L + 1 (END included) */
  DerlPolicy *policy;
  DerlPolicyInputs *inputs;
  const DerlOptimizerVTable *opt;
  gpointer opt_state;

  /* the last sample: sequence i's decision t at row i * stride + t */
  guint *tokens;             /* n x stride */
  guint *length;             /* decisions of each sequence (END included) */
  float *obs;
  guint8 *mask;
  guint32 *actions;
  float *logp, *rewards;
  guint8 *terminated, *truncated;
  guint32 *episode, *group, *episode_start;
  gboolean compacted;        /* the store was compacted by an update */
  /* one decision per sequence, for acting */
  float *step_obs;
  guint8 *step_mask;
  guint32 *step_actions;
  float *step_logp;
  double *uniform;
  guint *step_seq;
};

static void
features (const DerlMeta *m, const guint *tokens, guint n, const DerlFormulaGrammarState *s, float *obs)
{
  memset (obs, 0, sizeof (float) * m->obs_size);
  for (guint w = 0; w < DERL_META_WINDOW; w++)
    obs[w * (m->V + 1) + (n > w ? tokens[n - 1 - w] : m->V)] = 1.0f;
  float *f = obs + DERL_META_WINDOW * (m->V + 1);
  f[0] = (float) s->n_tokens / m->L;
  f[1] = (float) s->remaining / m->L;
  f[2] = s->expect_operand ? 1.0f : 0.0f;
  f[3] = s->var_used ? 1.0f : 0.0f;
  f[4] = s->in_divisor > 0 ? 1.0f : 0.0f;
  f[5 + MIN (s->depth, DEPTH_SLOTS - 1)] = 1.0f;
}

void
_derl_meta_free (DerlMeta *m)
{
  if (!m)
    return;
  if (m->opt_state)
    m->opt->destroy (m->opt_state);
  derl_policy_inputs_free (m->inputs);
  derl_policy_free (m->policy);
  derl_formula_grammar_free (m->grammar);
  g_free (m->tokens);
  g_free (m->length);
  g_free (m->obs);
  g_free (m->mask);
  g_free (m->actions);
  g_free (m->logp);
  g_free (m->rewards);
  g_free (m->terminated);
  g_free (m->truncated);
  g_free (m->episode);
  g_free (m->group);
  g_free (m->episode_start);
  g_free (m->step_obs);
  g_free (m->step_mask);
  g_free (m->step_actions);
  g_free (m->step_logp);
  g_free (m->uniform);
  g_free (m->step_seq);
  g_free (m);
}

DerlMeta *
_derl_meta_new (const DerlMetaConfig *c, GError **error)
{
  g_autoptr (GError) err = NULL;
  DerlMeta *m = g_new0 (DerlMeta, 1);

  m->grammar = derl_formula_grammar_new (c->n_vars, c->outcome_like, NULL, 0, c->max_tokens, error);
  if (!m->grammar)
    goto fail;
  m->n_vars = c->n_vars;
  m->V = derl_formula_grammar_get_n_vocab (m->grammar);
  m->L = c->max_tokens;
  m->n = c->group_size;
  m->stride = m->L + 1;
  m->obs_size = DERL_META_WINDOW * (m->V + 1) + N_STATE_FEATURES;

  gsize rows = (gsize) m->n * m->stride;
  m->tokens = g_new0 (guint, rows);
  m->length = g_new0 (guint, m->n);
  m->obs = g_new0 (float, rows * m->obs_size);
  m->mask = g_new0 (guint8, rows * m->V);
  m->actions = g_new0 (guint32, rows);
  m->logp = g_new0 (float, rows);
  m->rewards = g_new0 (float, rows);
  m->terminated = g_new0 (guint8, rows);
  m->truncated = g_new0 (guint8, rows);
  m->episode = g_new0 (guint32, rows);
  m->group = g_new0 (guint32, rows);
  m->episode_start = g_new0 (guint32, m->n + 1);
  m->step_obs = g_new0 (float, (gsize) m->n * m->obs_size);
  m->step_mask = g_new0 (guint8, (gsize) m->n * m->V);
  m->step_actions = g_new0 (guint32, m->n);
  m->step_logp = g_new0 (float, m->n);
  m->uniform = g_new0 (double, m->n);
  m->step_seq = g_new0 (guint, m->n);

  DerlPolicyConfig pc = { 0 };
  pc.obs_size = m->obs_size;
  pc.n_actions = m->V;
  pc.n_hidden = c->n_hidden;
  memcpy (pc.hidden, c->hidden, sizeof (guint) * c->n_hidden);
  pc.activation = DERL_ACTIVATION_TANH;
  pc.dtype = DERL_DTYPE_F32;
  m->policy = derl_policy_new (c->backend, &pc, (guint) MAX (rows, 64), c->seed, error);
  if (!m->policy)
    goto fail;
  derl_policy_set_temperature (m->policy, c->temperature);
  m->inputs = derl_policy_inputs_new (m->policy, (guint) rows, error);
  if (!m->inputs)
    goto fail;
  if (c->optimizer)
    {
      m->opt = c->optimizer;
      if (!m->opt->create (c->optimizer_params, &m->opt_state, error))
        goto fail;
    }
  return m;

fail:
  _derl_meta_free (m);
  return NULL;
}

DerlFormulaGrammar *
_derl_meta_get_grammar (DerlMeta *m)
{
  return m->grammar;
}

DerlPolicy *
_derl_meta_get_policy (DerlMeta *m)
{
  return m->policy;
}

/* ---- cold start ---- */

/* Splits @text into vocabulary tokens: the longest token text at each
 * position (so "g12" is g12, not g1 then 2), spaces skipped. */
static gboolean
tokenize (DerlMeta *m, const char *text, GArray *out, const char **bad)
{
  const char *p = text;
  while (*p)
    {
      if (g_ascii_isspace (*p))
        {
          p++;
          continue;
        }
      guint best = G_MAXUINT;
      gsize best_len = 0;
      for (guint t = 1; t < m->V; t++)
        {
          const char *tt = derl_formula_grammar_token_text (m->grammar, t);
          gsize len = strlen (tt);
          if (len > best_len && strncmp (p, tt, len) == 0)
            {
              /* a number or a name must end where the token does */
              char next = p[len];
              if ((g_ascii_isalnum (tt[len - 1]) || tt[len - 1] == '.') && (g_ascii_isalnum (next) || next == '.'))
                continue;
              best = t;
              best_len = len;
            }
        }
      if (best == G_MAXUINT)
        {
          *bad = p;
          return FALSE;
        }
      g_array_append_val (out, best);
      p += best_len;
    }
  return TRUE;
}

/* Reads the cold-start formulas of @path: one per line, '#' comments and
 * blank lines skipped, written in the grammar's tokens.  Lines naming a
 * variable beyond K are skipped (the file serves any K); anything else
 * that is not a valid formula under the grammar is an error naming the
 * line.  Appends each formula's decisions (features, mask, token) to the
 * arrays. */
static gboolean
read_cold_start (DerlMeta *m, const char *path, GArray *obs, GArray *mask, GArray *actions, guint *n_formulas,
                 guint *n_skipped, GError **error)
{
  g_autofree char *text = NULL;
  g_autoptr (GError) err = NULL;

  if (!_derl_file_read (path, DERL_EXPERIMENT_MAX_SIZE, "file of cold-start formulas", &text, NULL, error))
    return FALSE;
  g_auto (GStrv) lines = g_strsplit (text, "\n", -1);
  *n_formulas = *n_skipped = 0;
  for (guint ln = 0; lines[ln]; ln++)
    {
      g_strstrip (lines[ln]);
      if (!lines[ln][0] || lines[ln][0] == '#')
        continue;
      g_autoptr (GArray) toks = g_array_new (FALSE, FALSE, sizeof (guint));
      const char *bad = NULL;
      if (!tokenize (m, lines[ln], toks, &bad))
        {
          /* a variable past K: skip the line */
          if (bad[0] == 'g' && g_ascii_isdigit (bad[1]))
            {
              (*n_skipped)++;
              continue;
            }
          g_autofree char *quoted = _derl_quote (bad, MIN (strlen (bad), 16));
          g_set_error (error, DERL_RUN_ERROR, DERL_RUN_ERROR_BAD_FILE,
                       "%s:%u: '%s' at column %d is not a token of the formula grammar", path, ln + 1, quoted,
                       (int) (bad - lines[ln]) + 1);
          return FALSE;
        }
      guint end = DERL_FORMULA_TOKEN_END;
      g_array_append_val (toks, end);
      DerlFormulaGrammarState s;
      derl_formula_grammar_start (m->grammar, &s);
      for (guint t = 0; t < toks->len; t++)
        {
          guint tok = g_array_index (toks, guint, t);
          float f[m->obs_size];
          guint8 mk[m->V];
          features (m, (const guint *) toks->data, t, &s, f);
          derl_formula_grammar_mask (m->grammar, &s, mk);
          if (!derl_formula_grammar_push (m->grammar, &s, tok, &err))
            {
              g_set_error (error, DERL_RUN_ERROR, DERL_RUN_ERROR_BAD_FILE, "%s:%u: token %u ('%s'): %s", path, ln + 1,
                           t + 1, derl_formula_grammar_token_text (m->grammar, tok), err->message);
              return FALSE;
            }
          guint32 a = tok;
          g_array_append_vals (obs, f, m->obs_size);
          g_array_append_vals (mask, mk, m->V);
          g_array_append_val (actions, a);
        }
      (*n_formulas)++;
    }
  if (*n_formulas == 0)
    {
      g_set_error (error, DERL_RUN_ERROR, DERL_RUN_ERROR_BAD_FILE,
                   "%s: no cold-start formula over g1..g%u (%u lines name other variables)", path, m->n_vars,
                   *n_skipped);
      return FALSE;
    }
  return TRUE;
}

gboolean
_derl_meta_cold_start (DerlMeta *m, const char *path, guint epochs, double lr, DerlMetaColdStart *result,
                       GError **error)
{
  g_autoptr (GArray) obs = g_array_new (FALSE, FALSE, sizeof (float));
  g_autoptr (GArray) mask = g_array_new (FALSE, FALSE, sizeof (guint8));
  g_autoptr (GArray) actions = g_array_new (FALSE, FALSE, sizeof (guint32));
  guint n_formulas, n_skipped;

  if (!read_cold_start (m, path, obs, mask, actions, &n_formulas, &n_skipped, error))
    return FALSE;
  guint N = actions->len;
  g_autoptr (DerlPolicyInputs) in = derl_policy_inputs_new (m->policy, N, error);
  if (!in)
    return FALSE;
  DerlDecisions d = { N, (const float *) obs->data, NULL, (const guint8 *) mask->data };
  derl_policy_inputs_upload (in, &d);

  /* Cross-entropy of the formulas' tokens: the gradient of -(1/N) sum
   * log p(token) with respect to each row's log-probability, one Adam step
   * per chunk of the policy's max_rows tokens. */
  guint M = MIN (N, derl_policy_get_max_rows (m->policy));
  g_autofree guint32 *rows = g_new (guint32, M);
  g_autofree double *logp = g_new (double, M);
  g_autofree double *dlogp = g_new (double, M);
  g_autofree guint32 *acts = g_new (guint32, M);
  double nll = 0;
  for (guint e = 0; e <= epochs; e++)
    {
      nll = 0;
      for (guint start = 0; start < N; start += M)
        {
          guint k = MIN (M, N - start);
          for (guint i = 0; i < k; i++)
            {
              rows[i] = start + i;
              acts[i] = g_array_index (actions, guint32, start + i);
              dlogp[i] = -1.0 / N;
            }
          derl_policy_evaluate (m->policy, in, rows, k, acts, logp, NULL, NULL);
          for (guint i = 0; i < k; i++)
            nll -= logp[i] / N;
          if (e == epochs)
            continue; /* the last pass only measures */
          derl_policy_zero_grad (m->policy);
          derl_policy_backward (m->policy, dlogp, NULL, NULL);
          derl_policy_step (m->policy, lr, 1.0);
        }
      if (e == 0 && result)
        result->initial_nll = nll;
    }
  if (result)
    {
      result->n_formulas = n_formulas;
      result->n_skipped = n_skipped;
      result->n_tokens = N;
      result->final_nll = nll;
    }
  /* The warm-started model is the KL reference from now on. */
  if (m->opt && m->opt->set_reference && !m->opt->set_reference (m->opt_state, m->policy, error))
    return FALSE;
  return TRUE;
}

/* ---- sampling ---- */

gboolean
_derl_meta_sample (DerlMeta *m, guint64 seed, guint64 step, gboolean uniform_tokens, DerlFormula **formulas,
                   GError **error)
{
  DerlFormulaGrammarState state[m->n];
  DerlRng rng[m->n];
  guint active = m->n;

  for (guint i = 0; i < m->n; i++)
    {
      derl_formula_grammar_start (m->grammar, &state[i]);
      derl_rng_init (&rng[i], seed, DERL_RNG_STREAM_OUTER, step, i, 0);
      m->length[i] = 0;
    }
  m->compacted = FALSE;
  while (active > 0)
    {
      guint k = 0;
      for (guint i = 0; i < m->n; i++)
        {
          if (state[i].finished)
            continue;
          gsize row = (gsize) i * m->stride + m->length[i];
          float *f = m->obs + row * m->obs_size;
          guint8 *mk = m->mask + row * m->V;
          features (m, m->tokens + (gsize) i * m->stride, m->length[i], &state[i], f);
          guint allowed = derl_formula_grammar_mask (m->grammar, &state[i], mk);
          if (uniform_tokens)
            {
              guint r = derl_rng_below (&rng[i], allowed), tok = 0;
              for (tok = 0; tok < m->V; tok++)
                if (mk[tok] && r-- == 0)
                  break;
              m->actions[row] = tok;
              m->logp[row] = (float) -derl_math_log ((double) allowed);
              continue;
            }
          memcpy (m->step_obs + (gsize) k * m->obs_size, f, sizeof (float) * m->obs_size);
          memcpy (m->step_mask + (gsize) k * m->V, mk, m->V);
          m->uniform[k] = derl_rng_uniform (&rng[i]);
          m->step_seq[k++] = i;
        }
      if (k > 0)
        {
          DerlDecisions d = { k, m->step_obs, NULL, m->step_mask };
          derl_policy_act (m->policy, &d, m->uniform, m->step_actions, m->step_logp, NULL);
          for (guint j = 0; j < k; j++)
            {
              gsize row = (gsize) m->step_seq[j] * m->stride + m->length[m->step_seq[j]];
              m->actions[row] = m->step_actions[j];
              m->logp[row] = m->step_logp[j];
            }
        }
      for (guint i = 0; i < m->n; i++)
        {
          if (state[i].finished)
            continue;
          gsize row = (gsize) i * m->stride + m->length[i];
          guint tok = m->actions[row];
          g_autoptr (GError) err = NULL;
          if (!derl_formula_grammar_push (m->grammar, &state[i], tok, &err))
            {
              /* the mask allowed it: a broken invariant, not bad input */
              g_set_error (error, DERL_RUN_ERROR, DERL_RUN_ERROR_FAILED,
                           "meta-optimizer: sampled token '%s' refused by the grammar: %s",
                           derl_formula_grammar_token_text (m->grammar, tok), err->message);
              return FALSE;
            }
          m->tokens[(gsize) i * m->stride + m->length[i]] = tok;
          m->length[i]++;
          if (state[i].finished)
            active--;
        }
    }
  for (guint i = 0; i < m->n; i++)
    {
      formulas[i] = derl_formula_grammar_build (m->grammar, m->tokens + (gsize) i * m->stride, m->length[i], error);
      if (!formulas[i])
        {
          for (guint j = 0; j < i; j++)
            g_clear_pointer (&formulas[j], derl_formula_free);
          return FALSE;
        }
    }
  return TRUE;
}

/* ---- the update ---- */

gboolean
_derl_meta_update (DerlMeta *m, const double *scores, double progress, guint64 seed, guint64 step,
                   DerlStats *stats, GError **error)
{
  guint rows = 0;

  g_return_val_if_fail (!m->compacted && m->opt != NULL, FALSE);
  /* Compact: sequence after sequence; the score is the reward of the last
   * decision (END). */
  for (guint i = 0; i < m->n; i++)
    {
      m->episode_start[i] = rows;
      for (guint t = 0; t < m->length[i]; t++, rows++)
        {
          gsize from = (gsize) i * m->stride + t;
          if (from != rows)
            {
              memmove (m->obs + (gsize) rows * m->obs_size, m->obs + from * m->obs_size,
                       sizeof (float) * m->obs_size);
              memmove (m->mask + (gsize) rows * m->V, m->mask + from * m->V, m->V);
              m->actions[rows] = m->actions[from];
              m->logp[rows] = m->logp[from];
            }
          gboolean last = t + 1 == m->length[i];
          m->rewards[rows] = last ? (float) scores[i] : 0.0f;
          m->terminated[rows] = last;
          m->truncated[rows] = 0;
          m->episode[rows] = i;
          m->group[rows] = 0;
        }
    }
  m->episode_start[m->n] = rows;
  m->compacted = TRUE;

  DerlBatch b = { 0 };
  b.n = rows;
  b.decisions = (DerlDecisions) { rows, m->obs, NULL, m->mask };
  derl_policy_inputs_upload (m->inputs, &b.decisions);
  b.inputs = m->inputs;
  b.actions = m->actions;
  b.logp = m->logp;
  b.rewards = m->rewards;
  b.terminated = m->terminated;
  b.truncated = m->truncated;
  b.episode = m->episode;
  b.group = m->group;
  b.n_episodes = m->n;
  b.episode_start = m->episode_start;
  DerlRng rng;
  derl_rng_init (&rng, seed, DERL_RNG_STREAM_UPDATE, step, 1, 0);
  DerlUpdateContext ctx = { progress, &rng, { NULL } };
  return m->opt->update (m->opt_state, m->policy, &b, &ctx, stats, error);
}

/* ---- checkpoints ---- */

gboolean
_derl_meta_save (DerlMeta *m, const char *path, GError **error)
{
  return derl_policy_save (m->policy, path, NULL, error);
}

gboolean
_derl_meta_load (DerlMeta *m, const char *path, GError **error)
{
  g_autoptr (DerlPolicy) saved = derl_policy_load (_derl_policy_get_backend (m->policy), path, 1, NULL, error);
  if (!saved)
    return FALSE;
  if (!_derl_policy_copy_state (m->policy, saved, error))
    {
      g_prefix_error (error, "%s: ", path);
      if (error && *error)
        (*error)->code = DERL_RUN_ERROR_BAD_FILE;
      return FALSE;
    }
  return TRUE;
}
