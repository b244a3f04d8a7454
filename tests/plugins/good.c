/* Fixture: a well-formed plugin whose env declares one parameter of every
 * type, for the loader and experiment-validation tests. */
#include <derl/derl.h>

typedef struct {
  guint length, t;
  DerlEnvSplit splits[2];
} Counter;

static const char *const signal_names[] = { "tick" };
static const char *const colours[] = { "red", "green", "blue", NULL };
static const char *const shapes[] = { "circle", "square", "triangle", NULL };

static const DerlParamSpec counter_params[] = {
  DERL_PARAM_INT_RANGE ("length", "5", 1, 100, "steps until the episode terminates"),
  DERL_PARAM_DOUBLE_RANGE ("scale", "0.5", 0.0, 1.0, "reward per step"),
  DERL_PARAM_BOOL ("verbose", "false", "a boolean"),
  DERL_PARAM_STRING ("label", "plain", "a free string"),
  DERL_PARAM_ENUM ("colour", "red", colours, "an enum"),
  DERL_PARAM_LIST ("shapes", "circle,square", shapes, "a list with choices"),
  DERL_PARAM_LIST ("tags", "", NULL, "a list without choices"),
  DERL_PARAM_DOUBLE_MIN ("rate", "1e-3", 0.0, "a double with only a minimum"),
  { "token", DERL_PARAM_STRING, DERL_PARAM_REQUIRED, NULL, 0, 0, NULL, "a required string", { NULL } },
  DERL_PARAM_END
};

static gboolean
counter_create (const DerlParams *params, DerlEnvSpec *spec, gpointer *state, GError **error)
{
  Counter *c = g_new0 (Counter, 1);

  c->length = (guint) derl_params_get_int (params, "length");
  c->splits[0] = (DerlEnvSplit) { "train", 10 };
  c->splits[1] = (DerlEnvSplit) { "test", 3 };
  spec->obs_size = 1;
  spec->n_actions = 2;
  spec->max_steps = c->length + 1;
  spec->n_signals = 1;
  spec->signals = signal_names;
  spec->n_splits = 2;
  spec->splits = c->splits;
  *state = c;
  return TRUE;
}

static void
counter_destroy (gpointer state)
{
  g_free (state);
}

static void
counter_reset (gpointer state, guint split, guint64 task_index, DerlRng *rng, DerlEnvStep *out)
{
  Counter *c = state;
  c->t = 0;
  out->obs[0] = 0.0f;
  out->action_mask[0] = out->action_mask[1] = 1;
}

static void
counter_step (gpointer state, guint action, DerlEnvStep *out)
{
  Counter *c = state;
  c->t++;
  out->obs[0] = (float) c->t;
  out->reward = 1.0;
  out->signals[0] = 1.0;
  out->terminated = c->t >= c->length;
  out->truncated = FALSE;
  out->success = out->terminated;
  out->action_mask[0] = out->action_mask[1] = 1;
}

static const DerlEnvVTable counter_vtable = {
  counter_create, counter_destroy, counter_reset, counter_step, NULL, NULL, { NULL }
};

static gboolean
good_init (DerlPlugin *plugin, GError **error)
{
  return derl_plugin_register_env (plugin, "fixture-env", "A counter: terminates after 'length' steps.",
                                   &counter_vtable, counter_params, error);
}

DERL_PLUGIN_DEFINE ("fixture-good", "test fixture: a valid plugin", good_init, "0.0.1", "LGPL-2.1-or-later")
