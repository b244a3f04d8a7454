/* Fixture: an env that breaks the step contract on purpose, in the way its
 * "fault" parameter names, at step "fault_step" (0: at reset).  With
 * fault = none it keeps the contract, and writes its "hit" signal only on
 * the steps it happens (action 0), relying on the core to zero it. */
#include <math.h>
#include <string.h>
#include <derl/derl.h>

#define OBS_SIZE 20 /* the core checks 16 floats a turn, then the rest one by one */
#define N_ACTIONS 3
#define CAND_SIZE 2

enum { HIT, TICK, N_SIGNALS };

static const char *const faulty_signals[N_SIGNALS] = { "hit", "tick" };
static const DerlEnvSplit faulty_splits[] = { { "train", 8 }, { "val", 4 } };

static const char *const faults[] = { "none", "nan-obs", "nan-reward", "inf-signal", "nan-candidate", "bad-mask",
                                      "empty-mask", "nondeterministic", "no-truncation", "same-tasks",
                                      "bad-set-state", "huge-reward", "inf-obs-tail", NULL };
enum { NONE, NAN_OBS, NAN_REWARD, INF_SIGNAL, NAN_CANDIDATE, BAD_MASK, EMPTY_MASK, NONDETERMINISTIC,
       NO_TRUNCATION, SAME_TASKS, BAD_SET_STATE, HUGE_REWARD, INF_OBS_TAIL };

static const DerlParamSpec faulty_params[] = {
  DERL_PARAM_ENUM ("fault", "none", faults, "how the env breaks its contract"),
  DERL_PARAM_INT_RANGE ("fault_step", "3", 0, 1000, "the step at which it does (0: at reset)"),
  DERL_PARAM_INT_RANGE ("fault_after", "0", 0, 1000000, "no fault before the instance has taken this many steps"),
  DERL_PARAM_INT_RANGE ("max_steps", "10", 1, 1000, "steps after which an episode is truncated"),
  DERL_PARAM_END
};

typedef struct {
  guint fault, fault_step, fault_after, max_steps;
  guint steps, total_steps;
  double x, start;
} Faulty;

/* Makes fresh instances differ for the nondeterministic fault. */
static gint instances;

static gboolean
faulty_create (const DerlParams *params, DerlEnvSpec *spec, gpointer *state, GError **error)
{
  Faulty *self = g_new0 (Faulty, 1);
  const char *fault = derl_params_get_string (params, "fault");

  for (guint i = 0; faults[i]; i++)
    if (strcmp (faults[i], fault) == 0)
      self->fault = i;
  self->fault_step = (guint) derl_params_get_int (params, "fault_step");
  self->fault_after = (guint) derl_params_get_int (params, "fault_after");
  self->max_steps = (guint) derl_params_get_int (params, "max_steps");
  spec->obs_size = OBS_SIZE;
  spec->n_actions = N_ACTIONS;
  spec->candidate_size = CAND_SIZE;
  spec->max_steps = self->max_steps;
  spec->n_signals = N_SIGNALS;
  spec->signals = faulty_signals;
  spec->n_splits = G_N_ELEMENTS (faulty_splits);
  spec->splits = faulty_splits;
  spec->state_size = 3;
  *state = self;
  return TRUE;
}

static void
faulty_destroy (gpointer state)
{
  g_free (state);
}

/* The observation, mask and candidates, then the fault of this step. */
static void
faulty_write (Faulty *self, DerlEnvStep *out)
{
  out->obs[0] = (float) self->x;
  out->obs[1] = (float) self->steps / self->max_steps;
  out->obs[2] = (float) sin (self->x);
  out->obs[3] = (float) self->start;
  for (guint i = 4; i < OBS_SIZE; i++)
    out->obs[i] = (float) cos (self->x * i);
  for (guint a = 0; a < N_ACTIONS; a++)
    {
      out->action_mask[a] = a != 2 || self->steps % 2 == 0;
      out->candidates[a * CAND_SIZE] = out->action_mask[a] ? (float) a : 0.0f;
      out->candidates[a * CAND_SIZE + 1] = out->action_mask[a] ? (float) (self->x * a) : 0.0f;
    }
  if (self->steps != self->fault_step || self->total_steps < self->fault_after)
    return;
  switch (self->fault)
    {
    case NAN_OBS: out->obs[3] = NAN; break;
    case INF_OBS_TAIL: out->obs[OBS_SIZE - 1] = -INFINITY; break;
    case NAN_REWARD: out->reward = NAN; break;
    case INF_SIGNAL: out->signals[TICK] = INFINITY; break;
    case NAN_CANDIDATE: out->candidates[1 * CAND_SIZE + 1] = NAN; break;
    case BAD_MASK: out->action_mask[1] = 2; break;
    case HUGE_REWARD: out->reward = 1e300; break; /* finite, but no float holds it */
    case EMPTY_MASK: memset (out->action_mask, 0, N_ACTIONS); break;
    default: break;
    }
}

static void
faulty_reset (gpointer state, guint split, guint64 task_index, DerlRng *rng, DerlEnvStep *out)
{
  Faulty *self = state;

  self->start = self->fault == SAME_TASKS ? 0.0 : 0.5 * task_index + 0.25 * split;
  if (self->fault == NONDETERMINISTIC)
    self->start += 1e-3 * g_atomic_int_add (&instances, 1);
  self->x = self->start;
  self->steps = 0;
  faulty_write (self, out);
}

static void
faulty_step (gpointer state, guint action, DerlEnvStep *out)
{
  Faulty *self = state;

  self->steps++;
  self->total_steps++;
  self->x += (double) action - 1.0;
  if (action == 0)
    out->signals[HIT] = 1.0;
  out->signals[TICK] = self->steps;
  out->reward = 0.1 * self->x;
  out->terminated = out->success = self->x >= self->start + 4;
  if (self->fault != NO_TRUNCATION)
    out->truncated = !out->terminated && self->steps >= self->max_steps;
  faulty_write (self, out);
}

static void
faulty_get_state (gpointer state, double *values)
{
  const Faulty *self = state;
  values[0] = self->x;
  values[1] = self->start;
  values[2] = self->steps;
}

static void
faulty_set_state (gpointer state, const double *values, DerlEnvStep *out)
{
  Faulty *self = state;
  if (self->fault != BAD_SET_STATE)
    self->x = values[0];
  self->start = values[1];
  self->steps = (guint) values[2];
  faulty_write (self, out);
}

static const DerlEnvVTable faulty_vtable = {
  .create = faulty_create,
  .destroy = faulty_destroy,
  .reset = faulty_reset,
  .step = faulty_step,
  .get_state = faulty_get_state,
  .set_state = faulty_set_state,
};

static gboolean
faulty_init (DerlPlugin *plugin, GError **error)
{
  return derl_plugin_register_env (plugin, "faulty", "an env that breaks the step contract as told (fixture)",
                                   &faulty_vtable, faulty_params, error);
}

DERL_PLUGIN_DEFINE ("fixture-faulty", "test fixture: an env that breaks the step contract on purpose", faulty_init,
                    "0.0.1", "LGPL-2.1-or-later")
