/* derl - tests of the household env plugin (an ALFWorld-like household).
 *
 * The scripted planner below sees only what a policy sees each step: the
 * admissible mask and the candidate features, read through the action
 * catalog and feature layout that the env documents (derl-inspect
 * household).  It must solve every task of every split.
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>
#include <glib.h>
#include <derl/derl.h>
#include "test-util.h"

/* The documented layout. */
enum { N_ACTIONS = 40, OBS = 128, CAND = 24, CAND_ONEHOT = 48, STATE = 139, MAX_REC = 16, MAX_OBJ = 16 };
enum { A_GOTO = 0, A_OPEN = 16, A_CLOSE = 17, A_TAKE = 18, A_PUT = 34, A_CLEAN, A_HEAT, A_COOL,
       A_USELAMP, A_EXAMINE };
enum { K_GOTO, K_OPEN, K_CLOSE, K_TAKE, K_PUT, K_CLEAN, K_HEAT, K_COOL, K_USELAMP, K_EXAMINE };
enum { CF_TARGET = 10, CF_APPLIANCE, CF_LAMP, CF_CLOSED, CF_UNVISITED, CF_UNSEEN, CF_KNOWN_GOAL,
       CF_OBJ_GOAL, CF_OBJ_FINAL, CF_ACHIEVES, CF_AT_TARGET, CF_NEEDS, CF_READY, CF_REMAINING,
       CF_REC_TYPE = 10, CF_REC_SLOT = 20, CF_OBJ_TYPE = 36 }; /* names: features=onehot */
enum { OBS_GOAL_SEEN = 57, OBS_MEMORY = 64 };
enum { ST_TASK, ST_GOAL, ST_TARGET, ST_TEMPLATE, ST_N_REC, ST_N_OBJ, ST_LAMP, ST_LAMP_ON, ST_LOC,
       ST_HELD, ST_STEPS, ST_REC_TYPE, ST_OBJECTS = 75 };
enum { SPLIT_TRAIN, SPLIT_VAL, SPLIT_TEST_SEEN, SPLIT_TEST_UNSEEN, N_SPLITS };
enum { N_TASK_TYPES = 6, N_SEEN_TEMPLATES = 6 };
enum { SIG_PROGRESS, SIG_EXPLORE, SIG_VALID };

/* Check's ck_assert() talks to the runner through a pipe on every call;
 * these do not, so that they fit in the loops over every step. */
#define CHECK(cond) \
  do { if (G_UNLIKELY (!(cond))) ck_abort_msg ("%s:%d: assertion '%s' failed", __FILE__, __LINE__, #cond); } while (0)
#define CHECK_MSG(cond, ...) \
  do { if (G_UNLIKELY (!(cond))) ck_abort_msg (__VA_ARGS__); } while (0)

static const char *const split_names[N_SPLITS] = { "train", "val", "test_seen", "test_unseen" };

/* (object type, receptacle type) placements held out for test_unseen. */
static const guint8 held_out[][2] = {
  { 0, 7 },  /* mug, desk */
  { 1, 8 },  /* apple, sidetable */
  { 2, 1 },  /* potato, cabinet */
  { 3, 1 },  /* knife, cabinet */
  { 4, 3 },  /* plate, shelf */
  { 5, 0 },  /* book, countertop */
  { 6, 3 },  /* pen, shelf */
  { 7, 0 },  /* cellphone, countertop */
  { 8, 5 },  /* bowl, microwave */
  { 9, 9 },  /* tomato, garbagecan */
  { 10, 6 }, /* egg, sinkbasin */
  { 11, 8 }, /* spraybottle, sidetable */
};

static DerlRegistry *registry;
static const DerlFeature *feature;
static DerlParams *params;

static void
setup (void)
{
  registry = derl_registry_new ();
  derl_registry_add_path (registry, DERL_TEST_PLUGIN_DIR "/envs/household");
  derl_registry_scan (registry);
  feature = derl_registry_find (registry, DERL_FEATURE_ENV, "household");
  CHECK_MSG (feature != NULL, "the household env was not found in %s",
                 DERL_TEST_PLUGIN_DIR "/envs/household");
  params = derl_params_new (derl_feature_get_params (feature));
}

static void
teardown (void)
{
  g_clear_pointer (&params, derl_params_free);
  g_clear_pointer (&registry, derl_registry_free);
  feature = NULL;
}

static void
set_param (DerlParams *p, const char *name, const char *text)
{
  g_autoptr (GError) error = NULL;

  CHECK_MSG (derl_params_set (p, name, text, &error), "%s=%s: %s", name, text,
                 error ? error->message : "(no error)");
}

static DerlEnv *
make_env_with (const DerlParams *p)
{
  g_autoptr (GError) error = NULL;
  DerlEnv *env = derl_env_new (feature, p, &error);

  CHECK_MSG (env != NULL, "derl_env_new: %s", error ? error->message : "(no error)");
  return env;
}

static DerlEnv *
make_env (void)
{
  return make_env_with (params);
}

/* Resets with an episode stream that varies: the env must ignore it. */
static const DerlEnvStep *
reset_task (DerlEnv *env, guint split, guint64 index)
{
  static guint64 calls;
  DerlRng rng;

  derl_rng_init (&rng, 1000 + calls++, DERL_RNG_STREAM_EPISODE, 0, 0, index);
  return derl_env_reset (env, split, index, &rng, NULL);
}

static const float *
row (const DerlEnvStep *s, guint a)
{
  return s->candidates + (gsize) a * CAND;
}

static guint
n_admissible (const DerlEnvStep *s)
{
  guint n = 0;
  for (guint a = 0; a < N_ACTIONS; a++)
    n += s->action_mask[a] != 0;
  return n;
}

static guint
kind_of (guint a)
{
  if (a < A_OPEN)
    return K_GOTO;
  if (a == A_OPEN)
    return K_OPEN;
  if (a == A_CLOSE)
    return K_CLOSE;
  if (a < A_PUT)
    return K_TAKE;
  return K_PUT + (a - A_PUT);
}

/* Masks are never empty; masked rows are zero; admissible rows carry the
 * kind of their catalog slot and nothing else in the kind block. */
static void
check_step_buffers (const DerlEnvStep *s)
{
  CHECK (n_admissible (s) >= 1);
  for (guint a = 0; a < N_ACTIONS; a++)
    {
      const float *c = row (s, a);
      if (!s->action_mask[a])
        {
          for (guint k = 0; k < CAND; k++)
            CHECK_MSG (c[k] == 0.0f, "masked action %u has candidate[%u] = %g", a, k, c[k]);
          continue;
        }
      for (guint k = 0; k < 10; k++)
        CHECK_MSG (c[k] == (k == kind_of (a) ? 1.0f : 0.0f), "action %u kind bit %u = %g", a, k, c[k]);
    }
}

/* ---- the scripted planner: mask + candidates only ---- */

static int
find_goto (const DerlEnvStep *s, guint bit, guint without)
{
  for (guint a = A_GOTO; a < A_GOTO + MAX_REC; a++)
    if (s->action_mask[a] && row (s, a)[bit] != 0 && (without == 0 || row (s, a)[without] == 0))
      return (int) a;
  return -1;
}

static guint
plan (const DerlEnvStep *s)
{
  static const guint achievers[] = { A_PUT, A_CLEAN, A_HEAT, A_COOL, A_USELAMP };
  int first = -1, a;
  gboolean needs, ready;

  for (guint i = 0; i < N_ACTIONS && first < 0; i++)
    if (s->action_mask[i])
      first = (int) i;
  CHECK (first >= 0);
  needs = row (s, first)[CF_NEEDS] != 0;
  ready = row (s, first)[CF_READY] != 0;

  /* 1. whatever achieves a subgoal */
  for (guint i = 0; i < G_N_ELEMENTS (achievers); i++)
    if (s->action_mask[achievers[i]] && row (s, achievers[i])[CF_ACHIEVES] != 0)
      return achievers[i];
  /* 2. a goal object that needs its state: to the appliance */
  if (needs && (a = find_goto (s, CF_APPLIANCE, 0)) >= 0)
    return (guint) a;
  /* 3. a ready goal object: open the target here, or go to the lamp or a target */
  if (ready)
    {
      if (s->action_mask[A_OPEN] && row (s, A_OPEN)[CF_TARGET] != 0)
        return A_OPEN;
      if ((a = find_goto (s, CF_LAMP, 0)) >= 0 || (a = find_goto (s, CF_TARGET, CF_CLOSED)) >= 0
          || (a = find_goto (s, CF_TARGET, 0)) >= 0)
        return (guint) a;
    }
  /* 4. holding something else: put it down */
  if (!needs && !ready && s->action_mask[A_PUT])
    return A_PUT;
  /* 5. hands empty: take a goal object still to move */
  for (guint j = 0; j < MAX_OBJ; j++)
    if (s->action_mask[A_TAKE + j] && row (s, A_TAKE + j)[CF_OBJ_GOAL] != 0
        && row (s, A_TAKE + j)[CF_OBJ_FINAL] == 0)
      return A_TAKE + j;
  /* 6. search: open what is unseen here, go where a goal object is known, or unseen */
  if (s->action_mask[A_OPEN] && row (s, A_OPEN)[CF_UNSEEN] != 0)
    return A_OPEN;
  if ((a = find_goto (s, CF_KNOWN_GOAL, 0)) >= 0 || (a = find_goto (s, CF_UNSEEN, 0)) >= 0)
    return (guint) a;
  return (guint) first;
}

/* Runs the planner on one task; returns the steps, or 0 on failure. */
static guint
run_planner (DerlEnv *env, guint split, guint64 index, guint *task_type)
{
  const DerlEnvStep *s = reset_task (env, split, index);
  guint max_steps = derl_env_get_spec (env)->max_steps;
  double state[STATE];

  CHECK (derl_env_get_state (env, state));
  *task_type = (guint) state[ST_TASK];
  for (guint t = 1; t <= max_steps; t++)
    {
      check_step_buffers (s);
      /* "goal object" means one still to place: never one already where it
       * must end (pick_two's first, once placed) */
      for (guint j = 0; j < MAX_OBJ; j++)
        if (s->action_mask[A_TAKE + j])
          CHECK (!(row (s, A_TAKE + j)[CF_OBJ_GOAL] != 0 && row (s, A_TAKE + j)[CF_OBJ_FINAL] != 0));
      s = derl_env_step (env, plan (s), NULL);
      CHECK (s != NULL);
      if (s->terminated)
        {
          CHECK (s->success && !s->truncated && s->reward == 1.0);
          return t;
        }
      CHECK (s->reward == 0.0 && !s->success);
      CHECK_MSG (s->truncated == (t == max_steps), "truncated = %d at step %u", s->truncated, t);
      if (s->truncated)
        break;
    }
  return 0;
}

/* ---- spec ---- */

START_TEST (test_spec)
{
  g_autoptr (DerlEnv) env = make_env ();
  const DerlEnvSpec *spec = derl_env_get_spec (env);

  ck_assert_uint_eq (spec->obs_size, OBS);
  ck_assert_uint_eq (spec->n_actions, N_ACTIONS);
  ck_assert_uint_eq (spec->candidate_size, CAND);
  ck_assert_uint_eq (spec->max_steps, 50);
  ck_assert_uint_eq (spec->state_size, STATE);
  ck_assert_uint_eq (spec->n_signals, 3);
  ck_assert_str_eq (spec->signals[SIG_PROGRESS], "progress");
  ck_assert_str_eq (spec->signals[SIG_EXPLORE], "explore");
  ck_assert_str_eq (spec->signals[SIG_VALID], "valid");
  ck_assert_uint_eq (spec->n_splits, N_SPLITS);
  for (guint i = 0; i < N_SPLITS; i++)
    {
      ck_assert_str_eq (spec->splits[i].name, split_names[i]);
      ck_assert_uint_ge (spec->splits[i].n_tasks, 1000000);
    }
  /* val is 20% of the training pool */
  ck_assert_uint_eq (spec->splits[SPLIT_TRAIN].n_tasks, 4 * spec->splits[SPLIT_VAL].n_tasks);
  ck_assert_ptr_nonnull (strstr (derl_feature_get_description (feature), "Candidates (24 floats"));
  ck_assert_ptr_nonnull (strstr (derl_feature_get_description (feature), "Observation (128 floats)"));
}
END_TEST

START_TEST (test_bad_params)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (DerlEnv) env = NULL;

  CHECK (!derl_params_set (params, "train_types", "pick_and_plac", &error));
  g_clear_error (&error);
  CHECK (!derl_params_set (params, "n_receptacles", "17", &error));
  g_clear_error (&error);
  CHECK (!derl_params_set (params, "n_objects", "1", &error));
  g_clear_error (&error);
  CHECK (!derl_params_set (params, "features", "names", &error));
  g_clear_error (&error);
  /* an empty list parses, but the env refuses it */
  set_param (params, "test_types", ",");
  env = derl_env_new (feature, params, &error);
  CHECK (env == NULL);
  CHECK (error != NULL);
  ck_assert_ptr_nonnull (strstr (error->message, "test_types"));
}
END_TEST

/* ---- (a) the planner solves every task of every split ---- */

START_TEST (test_planner_solves_everything)
{
  g_autoptr (DerlEnv) env = make_env ();

  for (guint split = 0; split < N_SPLITS; split++)
    {
      guint per_type[N_TASK_TYPES] = { 0 }, longest = 0;
      double total = 0;
      for (guint64 i = 0; i < 1000; i++)
        {
          guint type, steps = run_planner (env, split, i, &type);
          CHECK_MSG (steps > 0, "%s task %" G_GUINT64_FORMAT " (type %u) not solved in 50 steps",
                         split_names[split], i, type);
          per_type[type]++;
          longest = MAX (longest, steps);
          total += steps;
        }
      for (guint t = 0; t < N_TASK_TYPES; t++)
        CHECK_MSG (per_type[t] >= 100, "%s: only %u tasks of type %u", split_names[split], per_type[t], t);
      g_printerr ("household planner on %s: 1000/1000 solved, %.1f steps on average, %u at most\n",
                  split_names[split], total / 1000, longest);
    }
}
END_TEST

/* The planner also solves the largest rooms. */
START_TEST (test_planner_large_rooms)
{
  g_autoptr (DerlEnv) env = NULL;

  set_param (params, "n_receptacles", "16");
  set_param (params, "n_objects", "16");
  env = make_env ();
  for (guint split = 0; split < N_SPLITS; split++)
    for (guint64 i = 0; i < 250; i++)
      {
        guint type;
        CHECK_MSG (run_planner (env, split, i, &type) > 0, "%s task %" G_GUINT64_FORMAT " not solved",
                       split_names[split], i);
      }
}
END_TEST

/* ---- (b) masks, under a random policy ---- */

static guint32
xorshift (guint32 *x)
{
  *x ^= *x << 13;
  *x ^= *x >> 17;
  *x ^= *x << 5;
  return *x;
}

static guint
random_action (const DerlEnvStep *s, guint32 *x)
{
  guint list[N_ACTIONS], n = 0;
  for (guint a = 0; a < N_ACTIONS; a++)
    if (s->action_mask[a])
      list[n++] = a;
  return list[xorshift (x) % n];
}

START_TEST (test_masks_random_policy)
{
  g_autoptr (DerlEnv) env = make_env ();
  guint32 x = 12345;
  guint successes = 0, episodes = 0;

  for (guint split = 0; split < N_SPLITS; split++)
    for (guint64 i = 0; i < 200; i++)
      {
        const DerlEnvStep *s = reset_task (env, split, i);
        check_step_buffers (s);
        while (!s->terminated && !s->truncated)
          {
            s = derl_env_step (env, random_action (s, &x), NULL);
            check_step_buffers (s);
          }
        successes += s->success;
        episodes++;
      }
  g_printerr ("household random policy: %u/%u successes\n", successes, episodes);
  ck_assert_uint_lt (successes, episodes / 2);
}
END_TEST

/* ---- (c) truncation ---- */

static void
check_goto_only (DerlEnv *env, guint max_steps)
{
  for (guint split = 0; split < N_SPLITS; split++)
    for (guint64 i = 0; i < 25; i++)
      {
        const DerlEnvStep *s = reset_task (env, split, i);
        for (guint t = 1; t <= max_steps; t++)
          {
            guint a = s->action_mask[A_GOTO] ? A_GOTO : A_GOTO + 1;
            s = derl_env_step (env, a, NULL);
            CHECK (!s->terminated && !s->success);
            CHECK_MSG (s->truncated == (t == max_steps), "truncated = %d at step %u of %u", s->truncated,
                           t, max_steps);
          }
      }
}

START_TEST (test_truncation)
{
  g_autoptr (DerlEnv) env = make_env ();
  g_autoptr (DerlEnv) short_env = NULL;

  check_goto_only (env, 50);
  set_param (params, "max_steps", "7");
  short_env = make_env ();
  ck_assert_uint_eq (derl_env_get_spec (short_env)->max_steps, 7);
  check_goto_only (short_env, 7);
}
END_TEST

/* ---- (d) determinism ---- */

/* Runs a random-policy episode (the choices from @seed), appending every
 * observation, mask and candidate buffer to @bytes. */
static void
record_episode (DerlEnv *env, guint split, guint64 index, guint32 seed, GByteArray *bytes)
{
  const DerlEnvStep *s = reset_task (env, split, index);
  guint32 x = seed;

  for (;;)
    {
      g_byte_array_append (bytes, (const guint8 *) s->obs, sizeof (float) * OBS);
      g_byte_array_append (bytes, s->action_mask, N_ACTIONS);
      g_byte_array_append (bytes, (const guint8 *) s->candidates, sizeof (float) * N_ACTIONS * CAND);
      g_byte_array_append (bytes, (const guint8 *) s->signals, sizeof (double) * 3);
      if (s->terminated || s->truncated)
        break;
      s = derl_env_step (env, random_action (s, &x), NULL);
    }
}

START_TEST (test_determinism)
{
  g_autoptr (DerlEnv) a = make_env ();
  g_autoptr (DerlEnv) b = make_env ();

  for (guint split = 0; split < N_SPLITS; split++)
    for (guint64 i = 0; i < 20; i++)
      {
        guint64 index = i * 7919 + split;
        g_autoptr (GByteArray) first = g_byte_array_new ();
        g_autoptr (GByteArray) again = g_byte_array_new ();
        g_autoptr (GByteArray) other = g_byte_array_new ();
        g_autoptr (GByteArray) scratch = g_byte_array_new ();

        record_episode (a, split, index, 99 + (guint32) i, first);
        record_episode (a, (split + 1) % N_SPLITS, index + 1, 5, scratch); /* another task between */
        record_episode (a, split, index, 99 + (guint32) i, again);
        record_episode (b, split, index, 99 + (guint32) i, other);
        ck_assert_uint_eq (first->len, again->len);
        ck_assert_uint_eq (first->len, other->len);
        CHECK (memcmp (first->data, again->data, first->len) == 0);
        CHECK (memcmp (first->data, other->data, first->len) == 0);
      }
  /* task indices are taken modulo the split's size */
  {
    g_autoptr (GByteArray) x = g_byte_array_new ();
    g_autoptr (GByteArray) y = g_byte_array_new ();
    record_episode (a, SPLIT_VAL, 3, 1, x);
    record_episode (a, SPLIT_VAL, 3 + derl_env_get_spec (a)->splits[SPLIT_VAL].n_tasks, 1, y);
    CHECK (x->len == y->len && memcmp (x->data, y->data, x->len) == 0);
  }
}
END_TEST

START_TEST (test_state_roundtrip)
{
  g_autoptr (DerlEnv) env = make_env ();
  g_autoptr (DerlEnv) copy = make_env ();
  guint32 x = 7;

  for (guint64 i = 0; i < 50; i++)
    {
      const DerlEnvStep *s = reset_task (env, (guint) (i % N_SPLITS), i);
      double state[STATE], back[STATE];
      for (guint t = 0; t < 10 && !s->terminated && !s->truncated; t++)
        s = derl_env_step (env, random_action (s, &x), NULL);
      CHECK (derl_env_get_state (env, state));
      reset_task (copy, 0, 0);
      const DerlEnvStep *c = derl_env_set_state (copy, state, NULL);
      CHECK (c != NULL);
      CHECK (derl_env_get_state (copy, back));
      CHECK (memcmp (state, back, sizeof state) == 0);
      CHECK (memcmp (s->obs, c->obs, sizeof (float) * OBS) == 0);
      CHECK (memcmp (s->action_mask, c->action_mask, N_ACTIONS) == 0);
      CHECK (memcmp (s->candidates, c->candidates, sizeof (float) * N_ACTIONS * CAND) == 0);
    }
}
END_TEST

/* ---- (e) disjoint splits, held-out templates and placements ---- */

static guint64
hash_state (const double *state)
{
  const guint8 *p = (const guint8 *) state;
  guint64 h = G_GUINT64_CONSTANT (14695981039346656037);
  for (gsize k = 0; k < sizeof (double) * STATE; k++)
    h = (h ^ p[k]) * G_GUINT64_CONSTANT (1099511628211);
  return h;
}

static gboolean
is_held_out (guint obj, guint rec)
{
  for (guint k = 0; k < G_N_ELEMENTS (held_out); k++)
    if (held_out[k][0] == obj && held_out[k][1] == rec)
      return TRUE;
  return FALSE;
}

START_TEST (test_splits_disjoint)
{
  enum { PER_SPLIT = 20000 };
  g_autoptr (DerlEnv) env = make_env ();
  GHashTable *seen[N_SPLITS];
  guint unseen_placements = 0;

  for (guint split = 0; split < N_SPLITS; split++)
    {
      seen[split] = g_hash_table_new_full (g_int64_hash, g_int64_equal, g_free, NULL);
      for (guint64 i = 0; i < PER_SPLIT; i++)
        {
          double state[STATE];
          guint64 *h = g_new (guint64, 1);
          guint n_obj;

          reset_task (env, split, i);
          CHECK (derl_env_get_state (env, state));
          *h = hash_state (state);
          g_hash_table_add (seen[split], h);
          /* templates 6-7 and the held-out placements belong to test_unseen */
          CHECK_MSG ((state[ST_TEMPLATE] >= N_SEEN_TEMPLATES) == (split == SPLIT_TEST_UNSEEN),
                         "%s task %" G_GUINT64_FORMAT ": template %g", split_names[split], i, state[ST_TEMPLATE]);
          n_obj = (guint) state[ST_N_OBJ];
          for (guint j = 0; j < n_obj; j++)
            {
              const double *o = state + ST_OBJECTS + 4 * j;
              guint rec_type = (guint) state[ST_REC_TYPE + (guint) o[1]];
              gboolean held = is_held_out ((guint) o[0], rec_type);
              /* goal objects never start where they must end */
              CHECK (!(o[0] == state[ST_GOAL] && rec_type == state[ST_TARGET]));
              if (split != SPLIT_TEST_UNSEEN)
                CHECK_MSG (!held, "%s task %" G_GUINT64_FORMAT ": object %g in receptacle type %u is held out",
                               split_names[split], i, o[0], rec_type);
              unseen_placements += held;
            }
          if (split != SPLIT_TEST_UNSEEN && state[ST_TARGET] >= 0)
            CHECK (!is_held_out ((guint) state[ST_GOAL], (guint) state[ST_TARGET]));
        }
      ck_assert_uint_gt (g_hash_table_size (seen[split]), PER_SPLIT * 99 / 100);
    }
  ck_assert_uint_gt (unseen_placements, PER_SPLIT);
  for (guint a = 0; a < N_SPLITS; a++)
    for (guint b = a + 1; b < N_SPLITS; b++)
      {
        GHashTableIter iter;
        gpointer key;
        g_hash_table_iter_init (&iter, seen[a]);
        while (g_hash_table_iter_next (&iter, &key, NULL))
          CHECK_MSG (!g_hash_table_contains (seen[b], key), "a task of %s is also in %s", split_names[a],
                         split_names[b]);
      }
  for (guint split = 0; split < N_SPLITS; split++)
    g_hash_table_destroy (seen[split]);
}
END_TEST

/* ---- (f) task types per split ---- */

START_TEST (test_task_types)
{
  g_autoptr (DerlEnv) env = NULL;
  const guint train_set = (1u << 0) | (1u << 5), test_set = (1u << 1) | (1u << 3);

  set_param (params, "train_types", "pick_and_place, pick_two_obj_and_place");
  set_param (params, "test_types", "look_at_obj_in_light;pick_heat_then_place");
  env = make_env ();
  for (guint split = 0; split < N_SPLITS; split++)
    {
      guint allowed = split <= SPLIT_VAL ? train_set : test_set, got = 0;
      for (guint64 i = 0; i < 2000; i++)
        {
          double state[STATE];
          reset_task (env, split, i);
          CHECK (derl_env_get_state (env, state));
          got |= 1u << (guint) state[ST_TASK];
        }
      CHECK_MSG (got == allowed, "%s: task types 0x%x, expected 0x%x", split_names[split], got, allowed);
    }
  /* and the planner still solves them */
  for (guint split = 0; split < N_SPLITS; split++)
    for (guint64 i = 0; i < 100; i++)
      {
        guint type;
        CHECK (run_planner (env, split, i, &type) > 0);
      }
}
END_TEST

/* test_heldout: only with types left out of train_types, holding exactly
 * those, on seen layouts, disjoint from the other splits. */
START_TEST (test_heldout_split)
{
  g_autoptr (DerlEnv) all = make_env ();
  ck_assert_int_lt (derl_env_find_split (all, "test_heldout"), 0);

  set_param (params, "train_types", "pick_and_place,look_at_obj_in_light,pick_clean_then_place,pick_heat_then_place");
  g_autoptr (DerlEnv) env = make_env ();
  gint heldout = derl_env_find_split (env, "test_heldout");
  ck_assert_int_eq (heldout, SPLIT_TEST_UNSEEN + 1);
  ck_assert_uint_eq (derl_env_get_spec (env)->n_splits, N_SPLITS + 1);
  GHashTable *seen = g_hash_table_new_full (g_int64_hash, g_int64_equal, g_free, NULL);
  for (guint split = 0; split < N_SPLITS; split++)
    for (guint64 i = 0; i < 3000; i++)
      {
        double state[STATE];
        guint64 *h = g_new (guint64, 1);
        reset_task (env, split, i);
        CHECK (derl_env_get_state (env, state));
        *h = hash_state (state);
        g_hash_table_add (seen, h);
      }
  guint got = 0;
  for (guint64 i = 0; i < 3000; i++)
    {
      double state[STATE];
      guint type;
      reset_task (env, (guint) heldout, i);
      CHECK (derl_env_get_state (env, state));
      guint64 h = hash_state (state);
      CHECK_MSG (!g_hash_table_contains (seen, &h), "test_heldout task %" G_GUINT64_FORMAT " is in another split", i);
      CHECK (state[ST_TEMPLATE] < N_SEEN_TEMPLATES);
      got |= 1u << (guint) state[ST_TASK];
      if (i < 200)
        CHECK (run_planner (env, (guint) heldout, i, &type) > 0);
    }
  CHECK_MSG (got == ((1u << 4) | (1u << 5)), "test_heldout task types 0x%x", got);
  g_hash_table_destroy (seen);
}
END_TEST

/* ---- (g) signals ---- */

START_TEST (test_signals)
{
  g_autoptr (DerlEnv) env = make_env ();
  guint n_checked_repeat = 0, n_checked_state = 0;

  for (guint64 i = 0; i < 300; i++)
    {
      guint split = (guint) (i % N_SPLITS);
      const DerlEnvStep *s = reset_task (env, split, i);
      guint visited = 0, taken = 0, total_progress = 0, t = 0;
      gboolean examined = FALSE, repeated = FALSE, closed_reopened = FALSE;
      double state[STATE];

      CHECK (derl_env_get_state (env, state));
      for (guint k = 0; k < 3; k++)
        CHECK (s->signals[k] == 0.0);
      while (!s->terminated && !s->truncated)
        {
          guint a = plan (s), kind = kind_of (a);
          gboolean achieves = row (s, a)[CF_ACHIEVES] != 0;
          gboolean goal_take = kind == K_TAKE && row (s, a)[CF_OBJ_GOAL] != 0;
          float goal_seen_before = s->obs[OBS_GOAL_SEEN];
          gboolean first_take = goal_take && !(taken & (1u << (a - A_TAKE)));

          /* a few detours that must not count as progress */
          if (!examined && s->action_mask[A_EXAMINE])
            {
              s = derl_env_step (env, A_EXAMINE, NULL);
              t++;
              CHECK (s->signals[SIG_PROGRESS] == 0 && s->signals[SIG_EXPLORE] == 0
                         && s->signals[SIG_VALID] == 0);
              examined = TRUE;
              continue;
            }
          if (!closed_reopened && s->action_mask[A_CLOSE] && !s->action_mask[A_PUT])
            {
              s = derl_env_step (env, A_CLOSE, NULL);
              CHECK (s->signals[SIG_VALID] == 1 && s->signals[SIG_PROGRESS] == 0
                         && s->signals[SIG_EXPLORE] == 0);
              CHECK (s->action_mask[A_OPEN]);
              s = derl_env_step (env, A_OPEN, NULL);
              CHECK (s->signals[SIG_VALID] == 1 && s->signals[SIG_PROGRESS] == 0);
              t += 2;
              closed_reopened = TRUE;
              continue;
            }

          s = derl_env_step (env, a, NULL);
          t++;
          if (s->truncated)
            break;
          /* explore: exactly the first visits */
          CHECK_MSG (s->signals[SIG_EXPLORE] == (kind == K_GOTO && !(visited & (1u << a))),
                         "explore = %g after action %u", s->signals[SIG_EXPLORE], a);
          if (kind == K_GOTO)
            visited |= 1u << a;
          /* valid: everything the planner does changes the world */
          CHECK (s->signals[SIG_VALID] == 1);
          /* progress: first takes of goal objects, achieving actions, first sightings, success */
          if (first_take || achieves || s->success
              || (goal_seen_before == 0 && s->obs[OBS_GOAL_SEEN] != 0))
            CHECK_MSG (s->signals[SIG_PROGRESS] == 1, "no progress after action %u (step %u)", a, t);
          if (s->signals[SIG_PROGRESS] == 1)
            total_progress++;
          if (goal_take)
            taken |= 1u << (a - A_TAKE);

          /* taking a goal object the second time is no progress */
          if (first_take && !repeated && !s->terminated)
            {
              guint j = a - A_TAKE;
              s = derl_env_step (env, A_PUT, NULL);
              CHECK (s->signals[SIG_VALID] == 1 && s->signals[SIG_PROGRESS] == 0);
              CHECK (s->action_mask[A_TAKE + j]);
              s = derl_env_step (env, A_TAKE + j, NULL);
              CHECK (s->signals[SIG_VALID] == 1 && s->signals[SIG_PROGRESS] == 0);
              t += 2;
              repeated = TRUE;
              n_checked_repeat++;
            }
          /* the state again: no change, no progress */
          if (achieves && (kind == K_CLEAN || kind == K_HEAT || kind == K_COOL) && !s->terminated)
            {
              CHECK (s->action_mask[a]);
              CHECK (row (s, a)[CF_ACHIEVES] == 0);
              s = derl_env_step (env, a, NULL);
              CHECK (s->signals[SIG_VALID] == 0 && s->signals[SIG_PROGRESS] == 0
                         && s->signals[SIG_EXPLORE] == 0);
              t++;
              n_checked_state++;
            }
        }
      if (s->success)
        {
          /* at least: seen, taken, (state), placed or lit */
          guint type = (guint) state[ST_TASK];
          guint expected = type == 5 ? 5 : (type >= 2 && type <= 4) ? 4 : 3;
          CHECK_MSG (total_progress >= expected, "task type %u: %u progress steps", type, total_progress);
        }
    }
  ck_assert_uint_gt (n_checked_repeat, 100);
  ck_assert_uint_gt (n_checked_state, 20);
}
END_TEST

/* ---- (h) the ablations ---- */

START_TEST (test_ablations)
{
  g_autoptr (DerlParams) onehot_params = derl_params_new (derl_feature_get_params (feature));
  g_autoptr (DerlParams) nomem_params = derl_params_new (derl_feature_get_params (feature));
  g_autoptr (DerlEnv) rel = make_env ();
  g_autoptr (DerlEnv) onehot = NULL;
  g_autoptr (DerlEnv) nomem = NULL;
  guint rows_checked = 0;

  set_param (onehot_params, "features", "onehot");
  set_param (nomem_params, "memory", "false");
  onehot = make_env_with (onehot_params);
  nomem = make_env_with (nomem_params);
  for (guint k = 0; k < 3; k++)
    {
      const DerlEnvSpec *spec = derl_env_get_spec (k == 0 ? rel : k == 1 ? onehot : nomem);
      ck_assert_uint_eq (spec->obs_size, OBS);
      ck_assert_uint_eq (spec->candidate_size, k == 1 ? CAND_ONEHOT : CAND);
      ck_assert_uint_eq (spec->n_actions, N_ACTIONS);
    }

  for (guint64 i = 0; i < 100; i++)
    {
      guint split = (guint) (i % N_SPLITS);
      const DerlEnvStep *r = reset_task (rel, split, i);
      const DerlEnvStep *o = reset_task (onehot, split, i);
      const DerlEnvStep *n = reset_task (nomem, split, i);
      gboolean memory_used = FALSE;

      for (;;)
        {
          double state[STATE];
          CHECK (derl_env_get_state (rel, state));
          /* the observation does not depend on the features; memory=false
           * zeroes exactly the memory block */
          CHECK (memcmp (r->obs, o->obs, sizeof (float) * OBS) == 0);
          CHECK (memcmp (r->obs, n->obs, sizeof (float) * OBS_MEMORY) == 0);
          for (guint k = OBS_MEMORY; k < OBS; k++)
            {
              CHECK (n->obs[k] == 0.0f);
              memory_used |= r->obs[k] != 0.0f;
            }
          CHECK (memcmp (r->action_mask, o->action_mask, N_ACTIONS) == 0);
          CHECK (memcmp (r->action_mask, n->action_mask, N_ACTIONS) == 0);
          for (guint a = 0; a < N_ACTIONS; a++)
            {
              const float *cr = row (r, a), *cn = row (n, a);
              const float *co = o->candidates + (gsize) a * CAND_ONEHOT;
              guint kind = kind_of (a);
              if (!r->action_mask[a])
                continue;
              rows_checked++;
              /* kinds agree; onehot rows carry the names instead of the relational bits */
              CHECK (memcmp (cr, co, sizeof (float) * 10) == 0);
              /* the names */
              {
                int slot = kind == K_GOTO ? (int) a : kind == K_TAKE ? -1 : (int) state[ST_LOC];
                float expect[CAND_ONEHOT] = { 0 };
                int held = (int) state[ST_HELD];
                expect[kind] = 1;
                if (slot >= 0)
                  {
                    expect[CF_REC_TYPE + (guint) state[ST_REC_TYPE + slot]] = 1;
                    expect[CF_REC_SLOT + slot] = 1;
                  }
                if (kind == K_TAKE)
                  expect[CF_OBJ_TYPE + (guint) state[ST_OBJECTS + 4 * (a - A_TAKE)]] = 1;
                else if (kind >= K_PUT && kind <= K_USELAMP && held >= 0)
                  expect[CF_OBJ_TYPE + (guint) state[ST_OBJECTS + 4 * held]] = 1;
                CHECK_MSG (memcmp (co, expect, sizeof expect) == 0, "onehot row of action %u", a);
              }
              /* memory=false: the memory bits go, nothing else changes */
              for (guint k = 0; k < CAND; k++)
                if (k == CF_UNVISITED || k == CF_UNSEEN || k == CF_KNOWN_GOAL)
                  CHECK (cn[k] == 0.0f);
                else
                  CHECK_MSG (cn[k] == cr[k], "memory=false changed candidate[%u] of action %u", k, a);
            }
          if (r->terminated || r->truncated)
            break;
          guint a = plan (r);
          r = derl_env_step (rel, a, NULL);
          o = derl_env_step (onehot, a, NULL);
          n = derl_env_step (nomem, a, NULL);
          CHECK (r->success == o->success && r->success == n->success);
        }
      CHECK (memory_used);
    }
  ck_assert_uint_gt (rows_checked, 10000);
}
END_TEST

/* ---- speed (reported, not asserted) ---- */

START_TEST (test_speed)
{
  g_autoptr (DerlEnv) env = make_env ();
  guint32 x = 1;
  guint64 steps = 0, episodes = 0;
  gint64 start = g_get_monotonic_time (), elapsed;

  do
    {
      for (guint k = 0; k < 1000; k++)
        {
          const DerlEnvStep *s = reset_task (env, SPLIT_TRAIN, episodes++);
          while (!s->terminated && !s->truncated)
            {
              s = derl_env_step (env, random_action (s, &x), NULL);
              steps++;
            }
        }
      elapsed = g_get_monotonic_time () - start;
    }
  while (elapsed < 300000);
  g_printerr ("household: %.2f million random steps per second (%" G_GUINT64_FORMAT
              " episodes, resets included)\n", steps / (elapsed / 1e6) / 1e6, episodes);
  ck_assert_uint_gt (steps, 0);
}
END_TEST

static Suite *
household_suite (void)
{
  Suite *s = suite_create ("household");
  TCase *tc;

  tc = tcase_create ("spec");
  tcase_add_checked_fixture (tc, setup, teardown);
  tcase_add_test (tc, test_spec);
  tcase_add_test (tc, test_bad_params);
  suite_add_tcase (s, tc);

  tc = tcase_create ("tasks");
  tcase_add_checked_fixture (tc, setup, teardown);
  tcase_add_test (tc, test_planner_solves_everything);
  tcase_add_test (tc, test_planner_large_rooms);
  tcase_add_test (tc, test_masks_random_policy);
  tcase_add_test (tc, test_truncation);
  tcase_add_test (tc, test_determinism);
  tcase_add_test (tc, test_state_roundtrip);
  tcase_add_test (tc, test_splits_disjoint);
  tcase_add_test (tc, test_task_types);
  tcase_add_test (tc, test_heldout_split);
  tcase_add_test (tc, test_signals);
  tcase_add_test (tc, test_ablations);
  tcase_add_test (tc, test_speed);
  suite_add_tcase (s, tc);

  return s;
}

DERL_TEST_MAIN (household_suite)
