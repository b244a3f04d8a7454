/* hello - a minimal derl environment plugin, built out of tree.
 *
 * Copy this file to start a plugin of your own.  It does what every plugin
 * does, and nothing else:
 *
 *   1. declare its parameters in a static DerlParamSpec table.  The core
 *      parses and validates the [env] keys of an experiment against it and
 *      hands create() the typed values, so a plugin never parses text;
 *   2. implement the environment's functions (create, destroy, reset, step)
 *      and collect them in a static DerlEnvVTable;
 *   3. register the environment from the plugin's init function;
 *   4. define the one symbol a plugin exports with DERL_PLUGIN_DEFINE().
 *
 * The environment, "hello-chain", is a chain of `length` cells.  An episode
 * starts in the leftmost cell, 0.  Action 0 moves one cell left (staying put
 * in cell 0), action 1 one cell right.  Reaching the rightmost cell,
 * length - 1, ends the episode (terminated) with reward 1 and success; every
 * other step gives reward 0.  After max_steps steps without reaching it the
 * episode is truncated.
 *
 * Build it with the Makefile next to this file; see derl-plugin(7).
 */
#define G_LOG_DOMAIN "derl-hello"

#include <glib.h>
#include <derl/env.h>
#include <derl/param.h>
#include <derl/plugin.h>
#include <derl/rng.h>

enum { HELLO_OBS_SIZE = 2, HELLO_N_ACTIONS = 2 };
enum { HELLO_ACTION_LEFT = 0, HELLO_ACTION_RIGHT = 1 };

/* Per-step signals, by index.  Reward primitives bind to them by name, so
 * the names are part of the env's interface: do not rename them lightly. */
enum { HELLO_SIGNAL_PROGRESS, HELLO_N_SIGNALS };
static const char *const hello_signals[HELLO_N_SIGNALS] = { "progress" };

/* Task splits.  A task is named by (split, task index); the same pair must
 * give the same task on every machine.  The chain has a single task, so
 * each split holds one; an env with many tasks would derive each one from
 * its index alone (never from a global random generator). */
static const DerlEnvSplit hello_splits[] = {
  { "train", 1 },
  { "test", 1 },
};

/* The [env] keys this env accepts, after `name = hello-chain`.  Each entry:
 * name, default (as written in an experiment file), range, one doc line
 * (shown by derl-inspect and written into resolved experiments).  The
 * table ends with DERL_PARAM_END. */
static const DerlParamSpec hello_params[] = {
  DERL_PARAM_INT_RANGE ("length", "5", 2, 1000,
                        "cells in the chain; the goal is the rightmost one"),
  DERL_PARAM_INT_RANGE ("max_steps", "50", 1, 1000000,
                        "steps after which an episode is truncated"),
  DERL_PARAM_END
};

/* One instance.  The core creates one per worker thread and uses each from
 * one thread at a time, so an instance needs no locking, and instances
 * must share nothing mutable (no static state). */
typedef struct {
  guint length;    /* cells, from the "length" parameter */
  guint max_steps; /* from the "max_steps" parameter */
  guint position;  /* current cell, 0 .. length - 1 */
  guint steps;     /* steps taken in this episode */
} HelloChain;

/* Encoders */

/* Observation: the position scaled to [0, 1], and a constant 1 (a bias
 * input).  Both actions are always admissible. */
static void
hello_chain_write_obs (const HelloChain *self, DerlEnvStep *out)
{
  out->obs[0] = (float) self->position / (float) (self->length - 1);
  out->obs[1] = 1.0f;
  out->action_mask[HELLO_ACTION_LEFT] = 1;
  out->action_mask[HELLO_ACTION_RIGHT] = 1;
}

/* Lifecycle */

/* create: read the validated parameters, fill in the spec, make the
 * instance.  The typed getters cannot fail for keys the spec table declares;
 * the values are already within their ranges.  Return FALSE with
 * g_set_error() only for what the specs cannot express (a combination of
 * values that makes no sense, a data file that cannot be read, ...). */
static gboolean
hello_chain_create (const DerlParams *params, DerlEnvSpec *spec, gpointer *state,
                    GError **error)
{
  HelloChain *self = g_new0 (HelloChain, 1);

  (void) error; /* nothing here can fail */
  self->length = (guint) derl_params_get_int (params, "length");
  self->max_steps = (guint) derl_params_get_int (params, "max_steps");

  /* Everything the spec points to (signal names, splits) must live as long
   * as the instance: static tables are simplest. */
  spec->obs_size = HELLO_OBS_SIZE;
  spec->n_actions = HELLO_N_ACTIONS;
  spec->candidate_size = 0; /* a plain action set, not candidate features */
  spec->max_steps = self->max_steps;
  spec->n_signals = HELLO_N_SIGNALS;
  spec->signals = hello_signals;
  spec->n_splits = G_N_ELEMENTS (hello_splits);
  spec->splits = hello_splits;
  spec->state_size = 0; /* no get_state/set_state */

  *state = self;
  return TRUE;
}

static void
hello_chain_destroy (gpointer state)
{
  g_free (state);
}

/* reset: start task @task_index of split @split (an index into
 * spec->splits; the core has already taken @task_index modulo the split's
 * size).  The chain always starts in cell 0.  An env with a random start
 * state draws it from @rng, the episode's own stream, and from nothing
 * else: that is what makes a run the same on any number of threads. */
static void
hello_chain_reset (gpointer state, guint split, guint64 task_index, DerlRng *rng,
                   DerlEnvStep *out)
{
  HelloChain *self = state;

  (void) split;      /* both splits hold the same single task */
  (void) task_index; /* always 0 here */
  (void) rng;        /* the start state is not random */

  self->position = 0;
  self->steps = 0;

  /* The core has zeroed the reward, the flags and the signals. */
  hello_chain_write_obs (self, out);
}

/* Step */

/* step: apply @action (admissible under the last mask: the core checks)
 * and write the result into the caller's buffers in @out.  The step
 * contract: the observation, mask and candidates every time; the reward,
 * the flags and the signals only when their event happens, for the core
 * zeroes them before every reset and step (and checks every output
 * afterwards: finite numbers, mask bytes 0 or 1).  It allocates nothing:
 * step runs millions of times per second.  The env itself must end every
 * episode within spec->max_steps steps, by terminating or by truncating. */
static void
hello_chain_step (gpointer state, guint action, DerlEnvStep *out)
{
  HelloChain *self = state;
  guint before = self->position;

  if (action == HELLO_ACTION_RIGHT)
    self->position++;
  else if (self->position > 0)
    self->position--;
  self->steps++;

  if (self->position == self->length - 1)
    {
      out->terminated = TRUE;
      out->success = TRUE;
      out->reward = 1.0;
    }
  else if (self->steps >= self->max_steps)
    out->truncated = TRUE;
  if (self->position > before)
    out->signals[HELLO_SIGNAL_PROGRESS] = 1.0;
  hello_chain_write_obs (self, out);
}

/* Registration */

/* The vtable and everything it refers to are static: the core keeps
 * pointers to them for as long as the plugin is loaded.  get_state and
 * set_state are optional (both or neither); this env has neither. */
static const DerlEnvVTable hello_chain_vtable = {
  .create = hello_chain_create,
  .destroy = hello_chain_destroy,
  .reset = hello_chain_reset,
  .step = hello_chain_step,
};

/* Shown by `derl-inspect hello-chain`: say exactly what the env does. */
static const char hello_chain_description[] =
  "A chain of `length` cells, an example for plugin authors (derl-plugin(7)).\n"
  "Start: cell 0, the leftmost; one task per split (train, test).\n"
  "Observation: 2 floats, position / (length - 1) and a constant 1.\n"
  "Actions: 0 moves one cell left (staying in cell 0), 1 one cell right;\n"
  "  both always admissible.\n"
  "Reward: 1 on the step that reaches cell length - 1, else 0.\n"
  "Termination: reaching cell length - 1, which is a success.\n"
  "Truncation: after max_steps steps (default 50) without termination.\n"
  "Signals, after each step (zero after reset):\n"
  "  progress = 1 if the step moved the agent right, else 0";

/* init: called once when the plugin is loaded.  Register every feature
 * here (the register functions refuse to work anywhere else); when one
 * fails, return FALSE with its error and the plugin is listed as
 * unavailable, with that error as the reason. */
static gboolean
hello_plugin_init (DerlPlugin *plugin, GError **error)
{
  return derl_plugin_register_env (plugin, "hello-chain", hello_chain_description,
                                   &hello_chain_vtable, hello_params, error);
}

/* The one exported symbol, derl_plugin_get_desc(), stamped with the ABI
 * and API versions of the derl headers this file is compiled against.
 * Arguments: the plugin's name (lower case, digits, '-', '_'; unique among
 * plugins), a one-line description, the init function, the plugin's own
 * version and its license as an SPDX identifier. */
DERL_PLUGIN_DEFINE ("hello", "Example plugin: the hello-chain environment",
                    hello_plugin_init, "1.0.0", "LGPL-2.1-or-later")
