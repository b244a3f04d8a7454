/* Tests of policies (core/policy.c, core/mlp.c, core/checkpoint.c):
 * gradients against finite differences in double precision for both heads,
 * every activation and the value head; acting; orthogonal initialisation;
 * learning a simple target; checkpoints, including corrupt ones. */
#include "config.h"

#include <math.h>
#include <string.h>
#include <sys/resource.h>
#include <glib/gstdio.h>
#include <check.h>
#include <derl/derl.h>
#include "test-util.h"

typedef struct {
  DerlPolicyConfig config;
  guint n;
  float *obs, *cand;
  guint8 *mask;
  guint32 *actions, *rows;
  double *c_logp, *c_ent, *c_val; /* the loss: sum_i c_logp logp + c_ent H + c_val V */
} Problem;

static DerlPolicyConfig
config (guint obs, guint actions, guint cand, DerlActivation f, gboolean value, DerlDType dtype)
{
  DerlPolicyConfig c = { obs, actions, cand, 2, { 7, 5 }, f, value, dtype };
  return c;
}

static void
problem_init (Problem *p, const DerlPolicyConfig *c, guint n, guint64 seed)
{
  DerlRng rng;
  derl_rng_init (&rng, seed, 99, 0, 0, 0);
  p->config = *c;
  p->n = n;
  p->obs = g_new (float, (gsize) n * MAX (c->obs_size, 1));
  p->cand = g_new (float, (gsize) n * c->n_actions * MAX (c->candidate_size, 1));
  p->mask = g_new (guint8, (gsize) n * c->n_actions);
  p->actions = g_new (guint32, n);
  p->rows = g_new (guint32, n);
  p->c_logp = g_new (double, n);
  p->c_ent = g_new (double, n);
  p->c_val = g_new (double, n);
  for (gsize i = 0; i < (gsize) n * c->obs_size; i++)
    p->obs[i] = (float) derl_rng_uniform_range (&rng, -1, 1);
  for (gsize i = 0; i < (gsize) n * c->n_actions * c->candidate_size; i++)
    p->cand[i] = (float) derl_rng_uniform_range (&rng, -1, 1);
  for (guint i = 0; i < n; i++)
    {
      guint first = derl_rng_below (&rng, c->n_actions);
      for (guint j = 0; j < c->n_actions; j++)
        p->mask[(gsize) i * c->n_actions + j] = j == first || derl_rng_uniform (&rng) < 0.6;
      /* act on an admissible action */
      do
        p->actions[i] = derl_rng_below (&rng, c->n_actions);
      while (!p->mask[(gsize) i * c->n_actions + p->actions[i]]);
      p->rows[i] = n - 1 - i; /* evaluate in another order than uploaded */
      p->c_logp[i] = derl_rng_uniform_range (&rng, -1, 1);
      p->c_ent[i] = derl_rng_uniform_range (&rng, -1, 1);
      p->c_val[i] = derl_rng_uniform_range (&rng, -1, 1);
    }
}

static void
problem_clear (Problem *p)
{
  g_free (p->obs);
  g_free (p->cand);
  g_free (p->mask);
  g_free (p->actions);
  g_free (p->rows);
  g_free (p->c_logp);
  g_free (p->c_ent);
  g_free (p->c_val);
}

static DerlDecisions
decisions (const Problem *p)
{
  DerlDecisions d = { p->n, p->obs, p->config.candidate_size ? p->cand : NULL, p->mask };
  return d;
}

/* The loss of the problem under @policy's current parameters. */
static double
loss (DerlPolicy *policy, DerlPolicyInputs *in, Problem *p)
{
  g_autofree double *logp = g_new (double, p->n);
  g_autofree double *ent = g_new (double, p->n);
  g_autofree double *val = g_new (double, p->n);
  double sum = 0;
  /* rows[i] is the row evaluated at position i: use actions of that row */
  g_autofree guint32 *acts = g_new (guint32, p->n);
  for (guint i = 0; i < p->n; i++)
    acts[i] = p->actions[p->rows[i]];
  derl_policy_evaluate (policy, in, p->rows, p->n, acts, logp, ent, p->config.value_head ? val : NULL);
  for (guint i = 0; i < p->n; i++)
    sum += p->c_logp[i] * logp[i] + p->c_ent[i] * ent[i] + (p->config.value_head ? p->c_val[i] * val[i] : 0);
  return sum;
}

static void
check_gradients (DerlPolicyConfig c, guint n)
{
  DerlBackend *backend = derl_backend_new_cpu ();
  Problem p;
  GError *error = NULL;

  problem_init (&p, &c, n, 7 + c.candidate_size + c.activation);
  DerlPolicy *policy = derl_policy_new (backend, &c, n, 5, &error);
  ck_assert_msg (policy != NULL, "%s", error ? error->message : "");
  DerlPolicyInputs *in = derl_policy_inputs_new (policy, n, &error);
  DerlDecisions d = decisions (&p);
  derl_policy_inputs_upload (in, &d);

  gsize np = derl_policy_n_parameters (policy);
  double *theta = g_new (double, np), *grad = g_new (double, np);
  derl_policy_get_parameters (policy, theta);
  /* Larger parameters than the 0.01-gain output init, so every path matters. */
  for (gsize k = 0; k < np; k++)
    theta[k] = theta[k] * 3 + 0.05 * sin ((double) k);
  derl_policy_set_parameters (policy, theta);

  derl_policy_zero_grad (policy);
  loss (policy, in, &p);
  derl_policy_backward (policy, p.c_logp, p.c_ent, c.value_head ? p.c_val : NULL);
  derl_policy_get_gradients (policy, grad);

  double worst = 0;
  for (gsize k = 0; k < np; k++)
    {
      const double h = 1e-6;
      double saved = theta[k];
      theta[k] = saved + h;
      derl_policy_set_parameters (policy, theta);
      double up = loss (policy, in, &p);
      theta[k] = saved - h;
      derl_policy_set_parameters (policy, theta);
      double down = loss (policy, in, &p);
      theta[k] = saved;
      double fd = (up - down) / (2 * h);
      double err = fabs (fd - grad[k]) / MAX (1e-4, fabs (fd) + fabs (grad[k]));
      worst = MAX (worst, err);
      ck_assert_msg (err < 1e-5, "parameter %zu of %zu: finite difference %.10g, backward %.10g", k, np, fd,
                     grad[k]);
    }
  double total = 0;
  for (gsize k = 0; k < np; k++)
    total += fabs (grad[k]);
  ck_assert_msg (total > 1e-2 * np, "gradients nearly all zero: %g", total);
  ck_assert (worst < 1e-5);
  g_free (theta);
  g_free (grad);
  derl_policy_inputs_free (in);
  derl_policy_free (policy);
  problem_clear (&p);
  derl_backend_free (backend);
}

START_TEST (test_gradients_plain_tanh)
{
  check_gradients (config (5, 4, 0, DERL_ACTIVATION_TANH, TRUE, DERL_DTYPE_F64), 6);
}
END_TEST

START_TEST (test_gradients_plain_relu)
{
  check_gradients (config (3, 3, 0, DERL_ACTIVATION_RELU, TRUE, DERL_DTYPE_F64), 5);
}
END_TEST

START_TEST (test_gradients_candidates_tanh)
{
  check_gradients (config (4, 5, 3, DERL_ACTIVATION_TANH, TRUE, DERL_DTYPE_F64), 4);
}
END_TEST

START_TEST (test_gradients_candidates_relu_no_value)
{
  check_gradients (config (2, 4, 3, DERL_ACTIVATION_RELU, FALSE, DERL_DTYPE_F64), 3);
}
END_TEST

START_TEST (test_gradients_one_layer)
{
  DerlPolicyConfig c = config (3, 2, 0, DERL_ACTIVATION_TANH, TRUE, DERL_DTYPE_F64);
  c.n_hidden = 0;
  check_gradients (c, 4);
}
END_TEST

START_TEST (test_act)
{
  DerlBackend *backend = derl_backend_new_cpu ();
  DerlPolicyConfig c = config (4, 6, 3, DERL_ACTIVATION_TANH, TRUE, DERL_DTYPE_F32);
  Problem p;
  problem_init (&p, &c, 8, 3);
  DerlPolicy *policy = derl_policy_new (backend, &c, 8, 1, NULL);
  DerlDecisions d = decisions (&p);
  double uniform[8];
  guint32 actions[8], greedy[8];
  float logp[8], values[8];
  DerlRng rng;

  derl_rng_init (&rng, 1, 2, 3, 4, 5);
  for (int round = 0; round < 200; round++)
    {
      for (int i = 0; i < 8; i++)
        uniform[i] = derl_rng_uniform (&rng);
      derl_policy_act (policy, &d, uniform, actions, logp, values);
      for (int i = 0; i < 8; i++)
        {
          ck_assert_uint_lt (actions[i], 6);
          ck_assert (p.mask[i * 6 + actions[i]]);
          ck_assert (logp[i] <= 0.0f && isfinite (logp[i]));
          ck_assert (isfinite (values[i]));
        }
    }
  /* Greedy acting is deterministic and picks an admissible action. */
  derl_policy_act (policy, &d, NULL, greedy, NULL, NULL);
  derl_policy_act (policy, &d, NULL, actions, NULL, NULL);
  for (int i = 0; i < 8; i++)
    {
      ck_assert_uint_eq (greedy[i], actions[i]);
      ck_assert (p.mask[i * 6 + greedy[i]]);
    }
  /* A diverged policy (NaN parameters) still acts admissibly, and its
   * log-probabilities come out NaN, for the optimizer to refuse the loss:
   * nothing aborts. */
  gsize n = derl_policy_n_parameters (policy);
  double *nan_params = g_new (double, n);
  for (gsize k = 0; k < n; k++)
    nan_params[k] = NAN;
  derl_policy_set_parameters (policy, nan_params);
  derl_policy_act (policy, &d, uniform, actions, logp, values);
  derl_policy_act (policy, &d, NULL, greedy, NULL, NULL);
  for (int i = 0; i < 8; i++)
    ck_assert (p.mask[i * 6 + actions[i]] && p.mask[i * 6 + greedy[i]]);
  DerlPolicyInputs *in = derl_policy_inputs_new (policy, 8, NULL);
  guint32 rows[8];
  double lp[8];
  for (guint i = 0; i < 8; i++)
    rows[i] = i;
  derl_policy_inputs_upload (in, &d);
  derl_policy_evaluate (policy, in, rows, 8, actions, lp, NULL, NULL);
  for (int i = 0; i < 8; i++)
    ck_assert (isnan (lp[i]));
  derl_policy_inputs_free (in);
  g_free (nan_params);
  derl_policy_free (policy);
  problem_clear (&p);
  derl_backend_free (backend);
}
END_TEST

/* W^T W = gain^2 I where W has at least as many rows as columns (PyTorch's
 * orthogonal_ on the out x in weight); zero biases. */
START_TEST (test_orthogonal_init)
{
  DerlBackend *backend = derl_backend_new_cpu ();
  DerlPolicyConfig c = { 4, 2, 0, 2, { 64, 64 }, DERL_ACTIVATION_TANH, TRUE, DERL_DTYPE_F64 };
  DerlPolicy *policy = derl_policy_new (backend, &c, 4, 123, NULL);
  gsize np = derl_policy_n_parameters (policy);
  g_autofree double *theta = g_new (double, np);
  derl_policy_get_parameters (policy, theta);

  /* actor layer 1: 64 x 64 weight, gain sqrt(2): W^T W = 2 I */
  const double *w = theta + 4 * 64 + 64;
  for (int a = 0; a < 64; a++)
    for (int b = 0; b < 64; b++)
      {
        double dot = 0;
        for (int k = 0; k < 64; k++)
          dot += w[k * 64 + a] * w[k * 64 + b];
        ck_assert_double_eq_tol (dot, a == b ? 2.0 : 0.0, 1e-9);
      }
  /* its bias is zero */
  for (int k = 0; k < 64; k++)
    ck_assert_double_eq (theta[4 * 64 + 64 + 64 * 64 + k], 0.0);
  /* the actor's output layer (64 x 2, gain 0.01): rows of the 2 x 64 torch weight orthonormal * 0.01 */
  const double *out = theta + 4 * 64 + 64 + 64 * 64 + 64;
  for (int a = 0; a < 2; a++)
    for (int b = 0; b < 2; b++)
      {
        double dot = 0;
        for (int k = 0; k < 64; k++)
          dot += out[k * 2 + a] * out[k * 2 + b];
        ck_assert_double_eq_tol (dot, a == b ? 1e-4 : 0.0, 1e-12);
      }
  /* Same seed, same parameters; another seed, others. */
  DerlPolicy *same = derl_policy_new (backend, &c, 4, 123, NULL);
  DerlPolicy *other = derl_policy_new (backend, &c, 4, 124, NULL);
  g_autofree double *t2 = g_new (double, np);
  derl_policy_get_parameters (same, t2);
  ck_assert (memcmp (theta, t2, np * sizeof (double)) == 0);
  derl_policy_get_parameters (other, t2);
  ck_assert (memcmp (theta, t2, np * sizeof (double)) != 0);
  derl_policy_free (policy);
  derl_policy_free (same);
  derl_policy_free (other);
  derl_backend_free (backend);
}
END_TEST

/* Maximising log pi(target | context) with Adam makes the target action
 * near certain, for both heads. */
static void
learn_targets (guint cand_size)
{
  DerlBackend *backend = derl_backend_new_cpu ();
  DerlPolicyConfig c = config (4, 5, cand_size, DERL_ACTIVATION_TANH, FALSE, DERL_DTYPE_F32);
  c.hidden[0] = c.hidden[1] = 32;
  Problem p;
  problem_init (&p, &c, 16, 11);
  DerlPolicy *policy = derl_policy_new (backend, &c, 16, 2, NULL);
  DerlPolicyInputs *in = derl_policy_inputs_new (policy, 16, NULL);
  DerlDecisions d = decisions (&p);
  double logp[16], dlogp[16];
  guint32 rows[16];

  derl_policy_inputs_upload (in, &d);
  for (guint i = 0; i < 16; i++)
    {
      rows[i] = i;
      dlogp[i] = -1.0 / 16; /* minimise the mean negative log-likelihood */
    }
  for (int step = 0; step < 300; step++)
    {
      derl_policy_zero_grad (policy);
      derl_policy_evaluate (policy, in, rows, 16, p.actions, logp, NULL, NULL);
      derl_policy_backward (policy, dlogp, NULL, NULL);
      derl_policy_step (policy, 1e-2, 0.5);
    }
  derl_policy_evaluate (policy, in, rows, 16, p.actions, logp, NULL, NULL);
  for (guint i = 0; i < 16; i++)
    ck_assert_msg (exp (logp[i]) > 0.95, "row %u: p = %f", i, exp (logp[i]));
  derl_policy_inputs_free (in);
  derl_policy_free (policy);
  problem_clear (&p);
  derl_backend_free (backend);
}

START_TEST (test_learns_plain)
{
  learn_targets (0);
}
END_TEST

START_TEST (test_learns_candidates)
{
  learn_targets (3);
}
END_TEST

START_TEST (test_grad_clipping)
{
  DerlBackend *backend = derl_backend_new_cpu ();
  DerlPolicyConfig c = config (3, 3, 0, DERL_ACTIVATION_TANH, TRUE, DERL_DTYPE_F64);
  Problem p;
  problem_init (&p, &c, 4, 1);
  DerlPolicy *policy = derl_policy_new (backend, &c, 4, 9, NULL);
  DerlPolicyInputs *in = derl_policy_inputs_new (policy, 4, NULL);
  DerlDecisions d = decisions (&p);
  derl_policy_inputs_upload (in, &d);
  derl_policy_zero_grad (policy);
  loss (policy, in, &p);
  for (guint i = 0; i < 4; i++)
    p.c_val[i] *= 1000;
  derl_policy_backward (policy, p.c_logp, p.c_ent, p.c_val);
  double norm = derl_policy_grad_norm (policy);
  ck_assert (norm > 1.0);
  double before = derl_policy_step (policy, 1e-3, 0.5);
  ck_assert_double_eq (before, norm);
  /* after clipping the gradients hold norm 0.5 / (norm + 1e-6) * norm */
  ck_assert_double_eq_tol (derl_policy_grad_norm (policy), 0.5 * norm / (norm + 1e-6), 1e-9);
  derl_policy_inputs_free (in);
  derl_policy_free (policy);
  problem_clear (&p);
  derl_backend_free (backend);
}
END_TEST

/* ---- checkpoints ---- */

static char *tmpdir;

static void
ckpt_setup (void)
{
  tmpdir = g_dir_make_tmp ("derl-ckpt-XXXXXX", NULL);
}

static void
ckpt_teardown (void)
{
  derl_test_remove_dir (tmpdir);
}

START_TEST (test_checkpoint_round_trip)
{
  DerlBackend *backend = derl_backend_new_cpu ();
  DerlPolicyConfig c = config (4, 5, 3, DERL_ACTIVATION_RELU, TRUE, DERL_DTYPE_F32);
  DerlPolicy *policy = derl_policy_new (backend, &c, 8, 77, NULL);
  char *path = g_build_filename (tmpdir, "policy.ckpt", NULL);
  GError *error = NULL;
  char *experiment = NULL;

  ck_assert (derl_policy_save (policy, path, "[env]\nname = cartpole\n", &error));
  DerlPolicy *loaded = derl_policy_load (backend, path, 8, &experiment, &error);
  ck_assert_msg (loaded != NULL, "%s", error ? error->message : "");
  ck_assert_str_eq (experiment, "[env]\nname = cartpole\n");
  const DerlPolicyConfig *lc = derl_policy_get_config (loaded);
  ck_assert (lc->obs_size == 4 && lc->n_actions == 5 && lc->candidate_size == 3 && lc->n_hidden == 2
             && lc->hidden[0] == 7 && lc->activation == DERL_ACTIVATION_RELU && lc->value_head);
  gsize np = derl_policy_n_parameters (policy);
  g_autofree double *a = g_new (double, np), *b = g_new (double, np);
  derl_policy_get_parameters (policy, a);
  derl_policy_get_parameters (loaded, b);
  ck_assert (memcmp (a, b, np * sizeof (double)) == 0);
  g_free (experiment);
  derl_policy_free (loaded);
  derl_policy_free (policy);
  derl_backend_free (backend);
  g_free (path);
}
END_TEST

static void
assert_refused (DerlBackend *backend, const char *path, const char *needle)
{
  GError *error = NULL;
  DerlPolicy *p = derl_policy_load (backend, path, 4, NULL, &error);
  ck_assert_msg (p == NULL, "loaded a bad checkpoint (%s)", needle);
  ck_assert_msg (strstr (error->message, needle), "'%s' not in: %s", needle, error->message);
  g_error_free (error);
}

START_TEST (test_checkpoint_hostile)
{
  DerlBackend *backend = derl_backend_new_cpu ();
  DerlPolicyConfig c = config (4, 2, 0, DERL_ACTIVATION_TANH, TRUE, DERL_DTYPE_F32);
  DerlPolicy *policy = derl_policy_new (backend, &c, 4, 1, NULL);
  char *path = g_build_filename (tmpdir, "p.ckpt", NULL);
  char *bad = g_build_filename (tmpdir, "bad.ckpt", NULL);
  char *data = NULL;
  gsize len;

  ck_assert (derl_policy_save (policy, path, NULL, NULL));
  ck_assert (g_file_get_contents (path, &data, &len, NULL));

  /* Every truncation is refused. */
  for (gsize cut = 0; cut < len; cut += 1 + cut / 7)
    {
      ck_assert (g_file_set_contents (bad, data, (gssize) cut, NULL));
      GError *error = NULL;
      DerlPolicy *p = derl_policy_load (backend, bad, 4, NULL, &error);
      ck_assert_msg (p == NULL, "a checkpoint cut at %zu of %zu bytes loaded", cut, len);
      ck_assert (strstr (error->message, "bad.ckpt"));
      g_error_free (error);
    }
  /* A flipped bit in the tensors fails the checksum. */
  data[len - 3] ^= 0x10;
  ck_assert (g_file_set_contents (bad, data, (gssize) len, NULL));
  assert_refused (backend, bad, "checksum mismatch");
  data[len - 3] ^= 0x10;
  /* Other magic, other version, garbage. */
  data[0] = 'X';
  ck_assert (g_file_set_contents (bad, data, (gssize) len, NULL));
  assert_refused (backend, bad, "does not start with DERLCKPT");
  data[0] = 'D';
  data[8] = 9;
  ck_assert (g_file_set_contents (bad, data, (gssize) len, NULL));
  assert_refused (backend, bad, "format version 9");
  data[8] = 1;
  /* Random bytes after a valid prefix, and random mutations: never loads
   * something it should not, never crashes. */
  DerlRng rng;
  derl_rng_init (&rng, 5, 0, 0, 0, 0);
  for (int iter = 0; iter < 300; iter++)
    {
      char *copy = g_memdup2 (data, len);
      for (int k = 0; k < 1 + iter % 5; k++)
        copy[20 + derl_rng_below (&rng, (guint32) (len - 20))] = (char) derl_rng_below (&rng, 256);
      ck_assert (g_file_set_contents (bad, copy, (gssize) len, NULL));
      GError *error = NULL;
      DerlPolicy *p = derl_policy_load (backend, bad, 4, NULL, &error);
      if (p)
        derl_policy_free (p); /* a mutation of the pretty-printed header's whitespace can be harmless */
      else
        g_error_free (error);
      g_free (copy);
    }
  assert_refused (backend, "/nonexistent/x.ckpt", "x.ckpt");
  /* A checkpoint of a diverged policy (checksum and all in order) is
   * refused rather than run: NaN or infinity in any tensor. */
  gsize n = derl_policy_n_parameters (policy);
  double *values = g_new (double, n), *saved = g_new (double, n);
  derl_policy_get_parameters (policy, saved);
  const double poison[] = { NAN, INFINITY, -INFINITY };
  const gsize where[] = { 5, n - 1, 0 };
  const char *expected[] = { "tensor 'param.0' holds a value that is not finite at row 0, column 5",
                             "holds a value that is not finite", "tensor 'param.0' holds a value that is not finite "
                                                                 "at row 0, column 0" };
  for (guint k = 0; k < G_N_ELEMENTS (poison); k++)
    {
      memcpy (values, saved, n * sizeof *values);
      values[where[k]] = poison[k];
      derl_policy_set_parameters (policy, values);
      ck_assert (derl_policy_save (policy, bad, NULL, NULL));
      assert_refused (backend, bad, expected[k]);
    }
  derl_policy_set_parameters (policy, saved);
  g_free (values);
  g_free (saved);
  g_free (data);
  g_free (path);
  g_free (bad);
  derl_policy_free (policy);
  derl_backend_free (backend);
}
END_TEST

/* Writes @path: the checkpoint @data (@len bytes) with its header's config
 * member @member set to @value (an integer, or for "hidden" a list of two)
 * and the checksum recomputed, so that only the lie is left to find. */
static void
write_crafted (const char *data, gsize len, const char *path, const char *member, gint64 value)
{
  guint64 header_len = 0;
  for (int i = 0; i < 8; i++)
    header_len |= (guint64) (guint8) data[12 + i] << (8 * i);
  g_autoptr (JsonParser) parser = json_parser_new ();
  ck_assert (json_parser_load_from_data (parser, data + 20, (gssize) header_len, NULL));
  JsonObject *header = json_node_get_object (json_parser_get_root (parser));
  JsonObject *config = json_object_get_object_member (header, "config");
  if (strcmp (member, "hidden") == 0)
    {
      JsonArray *a = json_array_new ();
      json_array_add_int_element (a, value);
      json_array_add_int_element (a, value);
      json_object_set_array_member (config, "hidden", a);
    }
  else
    json_object_set_int_member (config, member, value);
  const guint8 *payload = (const guint8 *) data + 20 + header_len;
  gsize payload_len = len - 20 - header_len;
  g_autofree char *sha = g_compute_checksum_for_data (G_CHECKSUM_SHA256, payload, payload_len);
  json_object_set_string_member (header, "sha256", sha);
  g_autoptr (JsonGenerator) gen = json_generator_new ();
  json_generator_set_root (gen, json_parser_get_root (parser));
  gsize new_len = 0;
  g_autofree char *text = json_generator_to_data (gen, &new_len);
  g_autoptr (GByteArray) out = g_byte_array_new ();
  guint8 prefix[20];
  memcpy (prefix, data, 12);
  for (int i = 0; i < 8; i++)
    prefix[12 + i] = (guint8) ((guint64) new_len >> (8 * i));
  g_byte_array_append (out, prefix, 20);
  g_byte_array_append (out, (const guint8 *) text, (guint) new_len);
  g_byte_array_append (out, payload, (guint) payload_len);
  ck_assert (g_file_set_contents (path, (const char *) out->data, out->len, NULL));
}

/* A header whose dimensions claim far more than its tensors hold is refused
 * before anything of that size is allocated. */
START_TEST (test_checkpoint_crafted_header)
{
  DerlBackend *backend = derl_backend_new_cpu ();
  DerlPolicyConfig c = config (4, 2, 0, DERL_ACTIVATION_TANH, TRUE, DERL_DTYPE_F32);
  DerlPolicyConfig cc = config (4, 3, 2, DERL_ACTIVATION_TANH, TRUE, DERL_DTYPE_F32);
  DerlPolicy *policy = derl_policy_new (backend, &c, 4, 1, NULL);
  DerlPolicy *cpolicy = derl_policy_new (backend, &cc, 4, 1, NULL);
  char *path = g_build_filename (tmpdir, "p.ckpt", NULL);
  char *cpath = g_build_filename (tmpdir, "c.ckpt", NULL);
  char *bad = g_build_filename (tmpdir, "crafted.ckpt", NULL);
  char *data = NULL, *cdata = NULL;
  gsize len, clen;
  struct rusage before, after;

  ck_assert (derl_policy_save (policy, path, NULL, NULL));
  ck_assert (derl_policy_save (cpolicy, cpath, NULL, NULL));
  ck_assert (g_file_get_contents (path, &data, &len, NULL));
  ck_assert (g_file_get_contents (cpath, &cdata, &clen, NULL));
  getrusage (RUSAGE_SELF, &before);
  write_crafted (data, len, bad, "obs_size", 4194304);
  assert_refused (backend, bad, "its config implies");
  write_crafted (data, len, bad, "n_actions", 16777216);
  assert_refused (backend, bad, "crafted.ckpt: not a usable policy checkpoint: ");
  write_crafted (data, len, bad, "hidden", 65536);
  assert_refused (backend, bad, "its config implies");
  /* candidates: n_actions takes no parameter, only scratch per row */
  write_crafted (cdata, clen, bad, "n_actions", 16777216);
  assert_refused (backend, bad, "bytes of scratch per row");
  getrusage (RUSAGE_SELF, &after);
  ck_assert_msg (after.ru_maxrss - before.ru_maxrss < 128 * 1024, "refusing them took %ld KiB",
                 after.ru_maxrss - before.ru_maxrss);
  /* the genuine files still load */
  GError *error = NULL;
  DerlPolicy *p = derl_policy_load (backend, cpath, 4, NULL, &error);
  ck_assert_msg (p != NULL, "%s", error ? error->message : "");
  derl_policy_free (p);
  /* a directory is refused */
  assert_refused (backend, tmpdir, "is a directory, not a policy checkpoint");
  g_free (data);
  g_free (cdata);
  g_free (path);
  g_free (cpath);
  g_free (bad);
  derl_policy_free (policy);
  derl_policy_free (cpolicy);
  derl_backend_free (backend);
}
END_TEST

static Suite *
policy_suite (void)
{
  Suite *s = suite_create ("policy");
  TCase *tc = tcase_create ("gradients");
  tcase_add_test (tc, test_gradients_plain_tanh);
  tcase_add_test (tc, test_gradients_plain_relu);
  tcase_add_test (tc, test_gradients_candidates_tanh);
  tcase_add_test (tc, test_gradients_candidates_relu_no_value);
  tcase_add_test (tc, test_gradients_one_layer);
  suite_add_tcase (s, tc);
  tc = tcase_create ("behaviour");
  tcase_add_test (tc, test_act);
  tcase_add_test (tc, test_orthogonal_init);
  tcase_add_test (tc, test_learns_plain);
  tcase_add_test (tc, test_learns_candidates);
  tcase_add_test (tc, test_grad_clipping);
  suite_add_tcase (s, tc);
  tc = tcase_create ("checkpoint");
  tcase_add_checked_fixture (tc, ckpt_setup, ckpt_teardown);
  tcase_add_test (tc, test_checkpoint_round_trip);
  tcase_add_test (tc, test_checkpoint_hostile);
  tcase_add_test (tc, test_checkpoint_crafted_header);
  suite_add_tcase (s, tc);
  return s;
}

DERL_TEST_MAIN (policy_suite)
