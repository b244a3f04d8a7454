/* gridworld - a complete derl environment plugin (see derl-plugin(7)).
 *
 * On a size x size grid the agent fetches a key, then walks to a door.
 * Each task, named by (split, task index), places the key and the door; the
 * agent's start cell is drawn from the episode's random stream.  Actions:
 * 0-3 move up, down, left, right (admissible while they stay on the grid),
 * 4 picks up the key (admissible on the key's cell, while not held).
 * Reward 1 on reaching the door with the key: the episode terminates, a
 * success.  After max_steps steps it is truncated. */
#include <string.h>
#include <derl/env.h>
#include <derl/param.h>
#include <derl/plugin.h>
#include <derl/rng.h>

enum { OBS_SIZE = 7, N_ACTIONS = 5, ACTION_PICK = 4 };
enum { SIGNAL_PROGRESS, SIGNAL_EXPLORE, SIGNAL_VALID, SIGNAL_CLOSENESS, N_SIGNALS };
static const char *const grid_signals[N_SIGNALS] = { "progress", "explore", "valid", "closeness" };
static const DerlEnvSplit grid_splits[] = { { "train", 1000 }, { "val", 200 }, { "test", 200 } };
static const double grid_target_return = 0.9; /* solved: 90% of episodes reach the door */
#define GRID_TASK_SEED 0x67726964u /* tasks depend on (split, task index) alone, never the run's seed */
#define GRID_MAX_SIZE 16

static const DerlParamSpec grid_params[] = {
  DERL_PARAM_INT_RANGE ("size", "5", 2, GRID_MAX_SIZE, "cells along each side of the grid"),
  DERL_PARAM_INT_RANGE ("max_steps", "40", 1, 100000, "steps after which an episode is truncated"),
  DERL_PARAM_END
};

typedef struct {
  int size, max_steps, steps;
  int x, y, key_x, key_y, door_x, door_y;
  gboolean has_key;
  guint8 visited[GRID_MAX_SIZE * GRID_MAX_SIZE];
} Grid;

static const int dx[4] = { 0, 0, -1, 1 }, dy[4] = { -1, 1, 0, 0 };

static gboolean
grid_create (const DerlParams *params, DerlEnvSpec *spec, gpointer *state, GError **error)
{
  Grid *self = g_new0 (Grid, 1);
  (void) error;
  self->size = (int) derl_params_get_int (params, "size");
  self->max_steps = (int) derl_params_get_int (params, "max_steps");
  spec->obs_size = OBS_SIZE;
  spec->n_actions = N_ACTIONS;
  spec->max_steps = (guint) self->max_steps;
  spec->n_signals = N_SIGNALS;
  spec->signals = grid_signals;
  spec->n_splits = G_N_ELEMENTS (grid_splits);
  spec->splits = grid_splits;
  spec->target_return = &grid_target_return;
  *state = self;
  return TRUE;
}

static void
grid_destroy (gpointer state)
{
  g_free (state);
}

/* Manhattan distance to what the agent needs next: the key, then the door. */
static int
grid_distance (const Grid *self)
{
  int tx = self->has_key ? self->door_x : self->key_x, ty = self->has_key ? self->door_y : self->key_y;
  return ABS (self->x - tx) + ABS (self->y - ty);
}

/* Observation, mask and the level signal: written after every reset and step. */
static void
grid_write (const Grid *self, DerlEnvStep *out)
{
  float scale = 1.0f / (float) (self->size - 1);
  const float obs[OBS_SIZE] = { self->x * scale, self->y * scale, self->key_x * scale, self->key_y * scale,
                                self->door_x * scale, self->door_y * scale, self->has_key };
  for (int i = 0; i < OBS_SIZE; i++)
    out->obs[i] = obs[i];
  for (int a = 0; a < 4; a++)
    {
      int nx = self->x + dx[a], ny = self->y + dy[a];
      out->action_mask[a] = nx >= 0 && nx < self->size && ny >= 0 && ny < self->size;
    }
  out->action_mask[ACTION_PICK] = !self->has_key && self->x == self->key_x && self->y == self->key_y;
  out->signals[SIGNAL_CLOSENESS] = 1.0 - grid_distance (self) / (2.0 * (self->size - 1));
}

static void
grid_reset (gpointer state, guint split, guint64 task_index, DerlRng *rng, DerlEnvStep *out)
{
  Grid *self = state;
  DerlRng task;
  int n = self->size * self->size, key, door;

  /* The task: its own stream, keyed by (split, task index). */
  derl_rng_init (&task, GRID_TASK_SEED, DERL_RNG_STREAM_PLUGIN, split, task_index, 0);
  key = (int) derl_rng_below (&task, (guint32) n);
  door = (key + 1 + (int) derl_rng_below (&task, (guint32) n - 1)) % n; /* never the key's cell */
  self->key_x = key % self->size, self->key_y = key / self->size;
  self->door_x = door % self->size, self->door_y = door / self->size;
  /* The start: the episode's stream (same seed, same episode: same start). */
  int start = (int) derl_rng_below (rng, (guint32) n);
  self->x = start % self->size, self->y = start / self->size;
  self->has_key = FALSE;
  self->steps = 0;
  memset (self->visited, 0, sizeof self->visited);
  self->visited[start] = 1;
  grid_write (self, out); /* the core has zeroed reward, flags and signals */
}

static void
grid_step (gpointer state, guint action, DerlEnvStep *out)
{
  Grid *self = state;
  int before = grid_distance (self);

  /* Event signals are written only on the step their event happens. */
  if (action == ACTION_PICK)
    {
      self->has_key = TRUE;
      out->signals[SIGNAL_PROGRESS] = 1.0;
    }
  else
    {
      self->x += dx[action], self->y += dy[action];
      guint8 *seen = &self->visited[self->y * self->size + self->x];
      out->signals[SIGNAL_EXPLORE] = !*seen;
      *seen = 1;
    }
  out->signals[SIGNAL_VALID] = grid_distance (self) < before || action == ACTION_PICK;
  self->steps++;
  if (self->has_key && self->x == self->door_x && self->y == self->door_y)
    {
      out->reward = 1.0;
      out->terminated = out->success = TRUE;
      out->signals[SIGNAL_PROGRESS] = 1.0;
    }
  else if (self->steps >= self->max_steps)
    out->truncated = TRUE;
  grid_write (self, out);
}

static const DerlEnvVTable grid_vtable = {
  .create = grid_create,
  .destroy = grid_destroy,
  .reset = grid_reset,
  .step = grid_step,
};

static const char grid_description[] =
  "Fetch the key, then reach the door, on a size x size grid (derl-plugin(7)'s example).\n"
  "Tasks: key and door cells from (split, task index); splits train (1000), val, test (200).\n"
  "Start: a cell drawn from the episode's stream.\n"
  "Observation: 7 floats in [0, 1]: agent x, y, key x, y, door x, y, key held.\n"
  "Actions: 0-3 up, down, left, right (on the grid), 4 pick up the key (on its cell).\n"
  "Reward: 1 on reaching the door with the key (terminated, success).\n"
  "Truncation: after max_steps steps.  Target return 0.9.\n"
  "Signals, after each step:\n"
  "  progress  (event) 1 when the key is picked up and when the door is reached\n"
  "  explore   (event) 1 on the first visit to a cell in the episode\n"
  "  valid     (event) 1 when the step brought the agent closer to the key or door\n"
  "  closeness (level) 1 - distance to the key (then the door) / (2 (size - 1))";

static gboolean
gridworld_init (DerlPlugin *plugin, GError **error)
{
  return derl_plugin_register_env (plugin, "gridworld", grid_description, &grid_vtable, grid_params, error);
}

DERL_PLUGIN_DEFINE ("gridworld", "Example plugin: the gridworld environment", gridworld_init, "1.0.0",
                    "LGPL-2.1-or-later")
