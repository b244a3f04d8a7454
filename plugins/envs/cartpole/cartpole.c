/* derl - CartPole, identical to Gymnasium's CartPole-v1.
 *
 * A pole hinged on a cart that moves along a frictionless track; the agent
 * pushes the cart left or right with a fixed force and must keep the pole
 * upright and the cart on the track.  The dynamics are Gymnasium's
 * (classic_control/cartpole.py, Euler integrator) written with the same
 * float64 expressions in the same order, so that a trajectory replays bit
 * for bit where the same libm sin()/cos() is used.  Build with
 * -ffp-contract=off: a fused multiply-add would change the last bits.
 */
#include "config.h"

#define G_LOG_DOMAIN "derl-cartpole"

#include <math.h>
#include <glib.h>
#include <derl/env.h>
#include <derl/param.h>
#include <derl/plugin.h>
#include <derl/rng.h>

/* Gymnasium's constants. */
#define CARTPOLE_GRAVITY 9.8
#define CARTPOLE_MASSCART 1.0
#define CARTPOLE_MASSPOLE 0.1
#define CARTPOLE_TOTAL_MASS (CARTPOLE_MASSPOLE + CARTPOLE_MASSCART)
#define CARTPOLE_LENGTH 0.5 /* half the pole's length */
#define CARTPOLE_POLEMASS_LENGTH (CARTPOLE_MASSPOLE * CARTPOLE_LENGTH)
#define CARTPOLE_FORCE_MAG 10.0
#define CARTPOLE_TAU 0.02 /* seconds between state updates */
#define CARTPOLE_THETA_THRESHOLD (12 * 2 * G_PI / 360)
#define CARTPOLE_X_THRESHOLD 2.4
#define CARTPOLE_INIT_BOUND 0.05

enum { CARTPOLE_OBS_SIZE = 4, CARTPOLE_N_ACTIONS = 2, CARTPOLE_STATE_SIZE = 4 };
enum { CARTPOLE_SIGNAL_UPRIGHT, CARTPOLE_SIGNAL_CENTERED, CARTPOLE_N_SIGNALS };

static const char *const cartpole_signals[CARTPOLE_N_SIGNALS] = { "upright", "centered" };

static const DerlEnvSplit cartpole_splits[] = {
  { "train", 1 },
  { "val", 1 },
  { "test", 1 },
};

static const DerlParamSpec cartpole_params[] = {
  DERL_PARAM_INT_RANGE ("max_steps", "500", 1, 10000000,
                        "steps after which an episode is truncated (CartPole-v1: 500)"),
  DERL_PARAM_END
};

/* One instance: the physical state and the episode's step count. */
typedef struct {
  double x;
  double x_dot;
  double theta;
  double theta_dot;
  guint64 steps;
  guint64 max_steps;
} DerlCartpole;

/* Encoders */

static void
derl_cartpole_write_obs (const DerlCartpole *self, DerlEnvStep *out)
{
  /* Gymnasium returns np.array (state, dtype=np.float32). */
  out->obs[0] = (float) self->x;
  out->obs[1] = (float) self->x_dot;
  out->obs[2] = (float) self->theta;
  out->obs[3] = (float) self->theta_dot;
  out->action_mask[0] = 1;
  out->action_mask[1] = 1;
}

/* 1 - |value| / threshold, clamped to [0, 1]; by multiplication with the
 * threshold's reciprocal (signals are derl's own, not Gymnasium's, and a
 * division per signal was a fifth of a step). */
static double
derl_cartpole_closeness (double value, double inv_threshold)
{
  return CLAMP (1.0 - fabs (value) * inv_threshold, 0.0, 1.0);
}

static void
derl_cartpole_write_signals (const DerlCartpole *self, DerlEnvStep *out)
{
  out->signals[CARTPOLE_SIGNAL_UPRIGHT] =
    derl_cartpole_closeness (self->theta, 1.0 / CARTPOLE_THETA_THRESHOLD);
  out->signals[CARTPOLE_SIGNAL_CENTERED] =
    derl_cartpole_closeness (self->x, 1.0 / CARTPOLE_X_THRESHOLD);
}

/* CartPole-v1's reward threshold (Gymnasium's reward_threshold): the default
 * of an experiment's [train] target_return. */
static const double cartpole_target_return = 475.0;

/* Lifecycle */

static gboolean
derl_cartpole_create (const DerlParams *params, DerlEnvSpec *spec, gpointer *state,
                      GError **error)
{
  DerlCartpole *self = g_new0 (DerlCartpole, 1);

  self->max_steps = (guint64) derl_params_get_int (params, "max_steps");

  spec->obs_size = CARTPOLE_OBS_SIZE;
  spec->n_actions = CARTPOLE_N_ACTIONS;
  spec->candidate_size = 0;
  spec->max_steps = (guint) self->max_steps;
  spec->n_signals = CARTPOLE_N_SIGNALS;
  spec->signals = cartpole_signals;
  spec->n_splits = G_N_ELEMENTS (cartpole_splits);
  spec->splits = cartpole_splits;
  spec->state_size = CARTPOLE_STATE_SIZE;
  spec->target_return = &cartpole_target_return;

  *state = self;
  return TRUE;
}

static void
derl_cartpole_destroy (gpointer state)
{
  g_free (state);
}

/* reset: a single task; the start state is drawn from the episode stream,
 * each component uniform in [-0.05, 0.05), in Gymnasium's order. */
static void
derl_cartpole_reset (gpointer state, guint split, guint64 task_index, DerlRng *rng,
                     DerlEnvStep *out)
{
  DerlCartpole *self = state;

  self->x = derl_rng_uniform_range (rng, -CARTPOLE_INIT_BOUND, CARTPOLE_INIT_BOUND);
  self->x_dot = derl_rng_uniform_range (rng, -CARTPOLE_INIT_BOUND, CARTPOLE_INIT_BOUND);
  self->theta = derl_rng_uniform_range (rng, -CARTPOLE_INIT_BOUND, CARTPOLE_INIT_BOUND);
  self->theta_dot = derl_rng_uniform_range (rng, -CARTPOLE_INIT_BOUND, CARTPOLE_INIT_BOUND);
  self->steps = 0;

  derl_cartpole_write_obs (self, out);
  out->signals[CARTPOLE_SIGNAL_UPRIGHT] = 0.0;
  out->signals[CARTPOLE_SIGNAL_CENTERED] = 0.0;
  out->reward = 0.0;
  out->terminated = FALSE;
  out->truncated = FALSE;
  out->success = FALSE;
}

/* Step */

/* One Euler step of Gymnasium's equations, in its order of operations. */
static void
derl_cartpole_integrate (DerlCartpole *self, guint action)
{
  double force = action == 1 ? CARTPOLE_FORCE_MAG : -CARTPOLE_FORCE_MAG;
  double costheta = cos (self->theta);
  double sintheta = sin (self->theta);
  double temp, thetaacc, xacc;

  temp = (force + CARTPOLE_POLEMASS_LENGTH * (self->theta_dot * self->theta_dot) * sintheta)
         / CARTPOLE_TOTAL_MASS;
  thetaacc = (CARTPOLE_GRAVITY * sintheta - costheta * temp)
             / (CARTPOLE_LENGTH
                * (4.0 / 3.0 - CARTPOLE_MASSPOLE * (costheta * costheta) / CARTPOLE_TOTAL_MASS));
  xacc = temp - CARTPOLE_POLEMASS_LENGTH * thetaacc * costheta / CARTPOLE_TOTAL_MASS;

  self->x = self->x + CARTPOLE_TAU * self->x_dot;
  self->x_dot = self->x_dot + CARTPOLE_TAU * xacc;
  self->theta = self->theta + CARTPOLE_TAU * self->theta_dot;
  self->theta_dot = self->theta_dot + CARTPOLE_TAU * thetaacc;
}

static gboolean
derl_cartpole_is_terminal (const DerlCartpole *self)
{
  return self->x < -CARTPOLE_X_THRESHOLD || self->x > CARTPOLE_X_THRESHOLD
         || self->theta < -CARTPOLE_THETA_THRESHOLD || self->theta > CARTPOLE_THETA_THRESHOLD;
}

static void
derl_cartpole_step (gpointer state, guint action, DerlEnvStep *out)
{
  DerlCartpole *self = state;

  derl_cartpole_integrate (self, action);
  self->steps++;

  out->terminated = derl_cartpole_is_terminal (self);
  out->truncated = !out->terminated && self->steps >= self->max_steps;
  out->success = out->truncated;
  out->reward = 1.0;
  derl_cartpole_write_obs (self, out);
  derl_cartpole_write_signals (self, out);
}

/* Physical state, for replay tests: x, x_dot, theta, theta_dot. */

static void
derl_cartpole_get_state (gpointer state, double *values)
{
  const DerlCartpole *self = state;

  values[0] = self->x;
  values[1] = self->x_dot;
  values[2] = self->theta;
  values[3] = self->theta_dot;
}

static void
derl_cartpole_set_state (gpointer state, const double *values, DerlEnvStep *out)
{
  DerlCartpole *self = state;

  self->x = values[0];
  self->x_dot = values[1];
  self->theta = values[2];
  self->theta_dot = values[3];
  derl_cartpole_write_obs (self, out);
}

/* Registration */

static const DerlEnvVTable cartpole_vtable = {
  .create = derl_cartpole_create,
  .destroy = derl_cartpole_destroy,
  .reset = derl_cartpole_reset,
  .step = derl_cartpole_step,
  .get_state = derl_cartpole_get_state,
  .set_state = derl_cartpole_set_state,
};

static const char cartpole_description[] =
  "CartPole-v1 as in Gymnasium (classic_control/cartpole.py, Euler integrator).\n"
  "Dynamics: gravity 9.8, cart mass 1.0, pole mass 0.1, pole half-length 0.5,\n"
  "  force 10.0, tau 0.02 s; float64 Euler step in Gymnasium's order of operations\n"
  "  (x and theta advance with the old velocities), libm sin/cos.\n"
  "Start: x, x_dot, theta, theta_dot each uniform in [-0.05, 0.05) from the\n"
  "  episode's stream, in that order; one task per split (train, val, test).\n"
  "Observation: 4 floats, the state (x, x_dot, theta, theta_dot) cast to float.\n"
  "Actions: 0 pushes the cart left, 1 pushes it right; both always admissible.\n"
  "Reward: 1.0 on every step, the terminating one included.\n"
  "Termination: |x| > 2.4 or |theta| > 12 degrees (0.2094 rad) after the step.\n"
  "Truncation: after max_steps steps (default 500) without termination.\n"
  "Success: the episode was truncated, i.e. the pole stayed up for max_steps.\n"
  "Signals, after each step (zero after reset):\n"
  "  upright  = 1 - |theta| / 12 degrees, clamped to [0, 1]\n"
  "  centered = 1 - |x| / 2.4, clamped to [0, 1]\n"
  "State (get/set_state): x, x_dot, theta, theta_dot as doubles.";

static gboolean
derl_cartpole_plugin_init (DerlPlugin *plugin, GError **error)
{
  return derl_plugin_register_env (plugin, "cartpole", cartpole_description, &cartpole_vtable,
                                   cartpole_params, error);
}

DERL_PLUGIN_DEFINE ("cartpole", "CartPole-v1, the classic pole-balancing task (Gymnasium)",
                    derl_cartpole_plugin_init, PACKAGE_VERSION, "LGPL-2.1-or-later")
