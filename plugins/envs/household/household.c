/* derl - household: an ALFWorld-like household, generated procedurally.
 *
 * A room of typed receptacles (countertops, cabinets, drawers, a fridge, a
 * microwave, a sink basin, ...) holding typed objects (mugs, apples, books,
 * ...).  The agent walks from receptacle to receptacle, opens and closes
 * them, takes and puts objects, cleans them at a sink basin, heats them in
 * a microwave, cools them in a fridge and switches a desk lamp, to solve
 * one of ALFWorld's six task types (Shridhar et al., "ALFWorld: Aligning
 * Text and Embodied Environments for Interactive Learning", ICLR 2021).
 *
 * Every room and goal is generated here from (split, task index) alone,
 * through derl_rng streams of a fixed key, so the same index is the same
 * task on every machine; the episode stream reset() receives is not used.
 * The splits partition the index space (val is 20% of the training pool,
 * test_seen a further slice of the same distribution) and test_unseen draws
 * from room templates and object placements that no other split ever uses.
 *
 * The actions are a fixed catalog of 40 slots, the same for every task.
 * Each step writes the admissible mask and one feature vector per slot for
 * the candidate-scoring policy; the description at the end of the file
 * documents every index of the observation and of the candidates.
 * reset() and step() allocate nothing.
 */
#include "config.h"

#define G_LOG_DOMAIN "derl-household"

#include <string.h>
#include <glib.h>
#include <derl/env.h>
#include <derl/error.h>
#include <derl/param.h>
#include <derl/plugin.h>
#include <derl/rng.h>

#define B(bit) (1u << (bit))

enum { HH_MAX_RECEPTACLES = 16, HH_MAX_OBJECTS = 16 };

/* ---- the world's vocabulary ---- */

typedef enum {
  REC_COUNTERTOP, REC_CABINET, REC_DRAWER, REC_SHELF, REC_FRIDGE, REC_MICROWAVE,
  REC_SINKBASIN, REC_DESK, REC_SIDETABLE, REC_GARBAGECAN, N_REC_TYPES
} HhRecType;

#define HH_CLOSABLE (B (REC_CABINET) | B (REC_DRAWER) | B (REC_FRIDGE) | B (REC_MICROWAVE))
#define HH_LAMP_HOLDERS (B (REC_DESK) | B (REC_SIDETABLE))

typedef enum {
  OBJ_MUG, OBJ_APPLE, OBJ_POTATO, OBJ_KNIFE, OBJ_PLATE, OBJ_BOOK, OBJ_PEN, OBJ_CELLPHONE,
  OBJ_BOWL, OBJ_TOMATO, OBJ_EGG, OBJ_SPRAYBOTTLE, N_OBJ_TYPES
} HhObjType;

/* What can be done to an object type. */
enum { CAN_CLEAN = 1, CAN_HEAT = 2, CAN_COOL = 4, CAN_LOOK = 8 };

/* Where an object type plausibly lies (and may be put by a task), and which
 * of those placements are held out for test_unseen. */
typedef struct {
  guint16 placements;
  guint16 reserved;
  guint8 can;
} HhObjInfo;

#define R(t) B (REC_##t)
static const HhObjInfo obj_info[N_OBJ_TYPES] = {
  [OBJ_MUG] = { R (COUNTERTOP) | R (CABINET) | R (SHELF) | R (FRIDGE) | R (MICROWAVE) | R (SINKBASIN)
                | R (DESK) | R (SIDETABLE), R (DESK), CAN_CLEAN | CAN_HEAT | CAN_COOL | CAN_LOOK },
  [OBJ_APPLE] = { R (COUNTERTOP) | R (FRIDGE) | R (MICROWAVE) | R (SINKBASIN) | R (GARBAGECAN)
                  | R (SIDETABLE), R (SIDETABLE), CAN_CLEAN | CAN_HEAT | CAN_COOL },
  [OBJ_POTATO] = { R (COUNTERTOP) | R (FRIDGE) | R (MICROWAVE) | R (SINKBASIN) | R (GARBAGECAN)
                   | R (CABINET), R (CABINET), CAN_CLEAN | CAN_HEAT | CAN_COOL },
  [OBJ_KNIFE] = { R (COUNTERTOP) | R (DRAWER) | R (SINKBASIN) | R (CABINET), R (CABINET), CAN_CLEAN },
  [OBJ_PLATE] = { R (COUNTERTOP) | R (CABINET) | R (SHELF) | R (FRIDGE) | R (SINKBASIN) | R (MICROWAVE),
                  R (SHELF), CAN_CLEAN | CAN_HEAT | CAN_COOL },
  [OBJ_BOOK] = { R (DESK) | R (SHELF) | R (SIDETABLE) | R (DRAWER) | R (COUNTERTOP), R (COUNTERTOP), CAN_LOOK },
  [OBJ_PEN] = { R (DESK) | R (DRAWER) | R (SHELF) | R (SIDETABLE), R (SHELF), CAN_LOOK },
  [OBJ_CELLPHONE] = { R (DESK) | R (SIDETABLE) | R (DRAWER) | R (SHELF) | R (COUNTERTOP), R (COUNTERTOP),
                      CAN_LOOK },
  [OBJ_BOWL] = { R (COUNTERTOP) | R (CABINET) | R (SHELF) | R (FRIDGE) | R (MICROWAVE) | R (SINKBASIN),
                 R (MICROWAVE), CAN_CLEAN | CAN_HEAT | CAN_COOL | CAN_LOOK },
  [OBJ_TOMATO] = { R (COUNTERTOP) | R (FRIDGE) | R (MICROWAVE) | R (SINKBASIN) | R (GARBAGECAN),
                   R (GARBAGECAN), CAN_CLEAN | CAN_HEAT | CAN_COOL },
  [OBJ_EGG] = { R (COUNTERTOP) | R (FRIDGE) | R (MICROWAVE) | R (SINKBASIN) | R (GARBAGECAN),
                R (SINKBASIN), CAN_CLEAN | CAN_HEAT | CAN_COOL },
  [OBJ_SPRAYBOTTLE] = { R (CABINET) | R (SHELF) | R (COUNTERTOP) | R (GARBAGECAN) | R (SIDETABLE),
                        R (SIDETABLE), 0 },
};

/* Room templates: the order in which receptacle types fill a room after
 * the ones its task requires.  The last two are held out for test_unseen. */
enum { N_TEMPLATES = 8, N_SEEN_TEMPLATES = 6 };

#define C_ REC_COUNTERTOP
#define CA REC_CABINET
#define DR REC_DRAWER
#define SH REC_SHELF
#define FR REC_FRIDGE
#define MI REC_MICROWAVE
#define SI REC_SINKBASIN
#define DE REC_DESK
#define ST REC_SIDETABLE
#define GA REC_GARBAGECAN
static const guint8 templates[N_TEMPLATES][HH_MAX_RECEPTACLES] = {
  { C_, CA, DR, FR, MI, SI, CA, DR, C_, SH, GA, CA, DR, CA, C_, DR }, /* kitchen */
  { CA, SI, C_, CA, FR, DR, MI, CA, GA, DR, CA, SH, DR, CA, C_, DR }, /* galley */
  { DE, DR, SH, ST, GA, DR, ST, SH, DR, CA, DE, DR, SH, CA, DR, ST }, /* bedroom */
  { ST, SH, CA, GA, DR, ST, C_, SH, CA, DR, ST, SH, DR, CA, DE, DR }, /* living room */
  { DE, SH, DR, GA, DR, ST, SH, CA, DR, DE, SH, CA, DR, ST, SH, DR }, /* office */
  { SI, CA, C_, GA, DR, SH, CA, DR, SI, CA, SH, DR, C_, CA, DR, ST }, /* bathroom */
  { C_, DE, FR, ST, MI, SH, SI, DR, CA, GA, DE, CA, DR, SH, ST, C_ }, /* studio (unseen) */
  { SH, CA, GA, SH, FR, CA, SI, DR, SH, C_, CA, DR, SH, MI, CA, DR }, /* utility room (unseen) */
};
#undef C_
#undef CA
#undef DR
#undef SH
#undef FR
#undef MI
#undef SI
#undef DE
#undef ST
#undef GA

typedef enum {
  TASK_PICK_AND_PLACE, TASK_LOOK_AT_OBJ_IN_LIGHT, TASK_PICK_CLEAN_THEN_PLACE,
  TASK_PICK_HEAT_THEN_PLACE, TASK_PICK_COOL_THEN_PLACE, TASK_PICK_TWO_OBJ_AND_PLACE, N_TASK_TYPES
} HhTaskType;

static const char *const task_type_choices[N_TASK_TYPES + 1] = {
  "pick_and_place", "look_at_obj_in_light", "pick_clean_then_place",
  "pick_heat_then_place", "pick_cool_then_place", "pick_two_obj_and_place", NULL,
};

#define HH_ALL_TASK_TYPES \
  "pick_and_place,look_at_obj_in_light,pick_clean_then_place,pick_heat_then_place," \
  "pick_cool_then_place,pick_two_obj_and_place"

/* Object states. */
enum { STATE_CLEAN = 1, STATE_HOT = 2, STATE_COLD = 4 };

/* Subgoals already counted by the progress signal, per object. */
enum { DONE_SEEN = 1, DONE_TAKEN = 2, DONE_STATE = 4, DONE_PLACED = 8, DONE_LIT = 16 };

/* ---- the action catalog, observation and candidate layouts ---- */

enum {
  ACT_GOTO = 0,                               /* + receptacle slot */
  ACT_OPEN = ACT_GOTO + HH_MAX_RECEPTACLES,   /* 16 */
  ACT_CLOSE,                                  /* 17 */
  ACT_TAKE,                                   /* 18 + object slot */
  ACT_PUT = ACT_TAKE + HH_MAX_OBJECTS,        /* 34 */
  ACT_CLEAN, ACT_HEAT, ACT_COOL, ACT_USELAMP, ACT_EXAMINE,
  HH_N_ACTIONS                                /* 40 */
};

enum { KIND_GOTO, KIND_OPEN, KIND_CLOSE, KIND_TAKE, KIND_PUT, KIND_CLEAN, KIND_HEAT, KIND_COOL,
       KIND_USELAMP, KIND_EXAMINE, N_KINDS };

enum {
  OBS_TASK = 0,                         /* task type one-hot (6) */
  OBS_GOAL = OBS_TASK + N_TASK_TYPES,   /* goal object type one-hot (12) */
  OBS_TARGET = OBS_GOAL + N_OBJ_TYPES,  /* target receptacle type one-hot (10) */
  OBS_LOC = OBS_TARGET + N_REC_TYPES,   /* current receptacle type one-hot (10) */
  OBS_NOWHERE = OBS_LOC + N_REC_TYPES,  /* 38 */
  OBS_LOC_CLOSED,                       /* 39 */
  OBS_HELD,                             /* 40: held object type one-hot (12) */
  OBS_HANDS_EMPTY = OBS_HELD + N_OBJ_TYPES, /* 52 */
  OBS_HELD_CLEAN, OBS_HELD_HOT, OBS_HELD_COLD, OBS_HELD_GOAL,
  OBS_GOAL_SEEN,                        /* 57 */
  OBS_NEEDS, OBS_READY, OBS_PLACED, OBS_LAMP_ON, OBS_HAS_LAMP, OBS_TIME,
  OBS_MEMORY,                           /* 64: 4 per receptacle slot */
  HH_OBS_SIZE = OBS_MEMORY + 4 * HH_MAX_RECEPTACLES /* 128 */
};

enum {
  CF_KIND = 0,                          /* action kind one-hot (10) */
  /* relational block (features = relational) */
  CF_TARGET = CF_KIND + N_KINDS,        /* 10 */
  CF_APPLIANCE, CF_LAMP, CF_CLOSED, CF_UNVISITED, CF_UNSEEN, CF_KNOWN_GOAL, /* 11..16 */
  CF_OBJ_GOAL, CF_OBJ_FINAL,            /* 17, 18 */
  CF_ACHIEVES, CF_AT_TARGET,            /* 19, 20 */
  CF_NEEDS, CF_READY, CF_REMAINING,     /* 21..23 */
  HH_CAND_RELATIONAL,                   /* 24 floats with features = relational */
  /* name block (features = onehot), in place of the relational one */
  CF_REC_TYPE = CF_TARGET,              /* 10: receptacle type one-hot (10) */
  CF_REC_SLOT = CF_REC_TYPE + N_REC_TYPES,  /* 20: receptacle slot one-hot (16) */
  CF_OBJ_TYPE = CF_REC_SLOT + HH_MAX_RECEPTACLES, /* 36: object type one-hot (12) */
  HH_CAND_ONEHOT = CF_OBJ_TYPE + N_OBJ_TYPES,  /* 48 floats with features = onehot */
  HH_CAND_MAX = HH_CAND_ONEHOT
};

/* The physical state, as get_state() writes it. */
enum {
  ST_TASK, ST_GOAL, ST_TARGET, ST_TEMPLATE, ST_N_REC, ST_N_OBJ, ST_LAMP, ST_LAMP_ON, ST_LOC, ST_HELD,
  ST_STEPS,
  ST_REC_TYPE,                                 /* 11 */
  ST_OPEN = ST_REC_TYPE + HH_MAX_RECEPTACLES,  /* 27 */
  ST_VISITED = ST_OPEN + HH_MAX_RECEPTACLES,   /* 43 */
  ST_SEEN = ST_VISITED + HH_MAX_RECEPTACLES,   /* 59 */
  ST_OBJECTS = ST_SEEN + HH_MAX_RECEPTACLES,   /* 75: type, slot, state, done per object */
  HH_STATE_SIZE = ST_OBJECTS + 4 * HH_MAX_OBJECTS /* 139 */
};

enum { SIGNAL_PROGRESS, SIGNAL_EXPLORE, SIGNAL_VALID, HH_N_SIGNALS };

static const char *const household_signals[HH_N_SIGNALS] = { "progress", "explore", "valid" };

/* ---- splits ---- */

enum { SPLIT_TRAIN, SPLIT_VAL, SPLIT_TEST_SEEN, SPLIT_TEST_UNSEEN, SPLIT_TEST_HELDOUT, N_SPLITS };

/* The seen distribution's pool of indices: [0, 5M) is split 4:1 between
 * train (g % 5 != 4) and val (g % 5 == 4); test_seen takes [5M, 6M) and
 * test_heldout [6M, 7M).  test_unseen has a family (stream) of its own.
 * test_heldout exists only when train_types leaves some type out. */
#define HH_POOL 5000000u
static const DerlEnvSplit household_splits[N_SPLITS] = {
  { "train", HH_POOL / 5 * 4 },
  { "val", HH_POOL / 5 },
  { "test_seen", 1000000 },
  { "test_unseen", 1000000 },
  { "test_heldout", 1000000 },
};

#define HH_SEED G_GUINT64_CONSTANT (0x686f757365686f6c) /* "househol" */
enum { FAMILY_SEEN, FAMILY_UNSEEN };

/* ---- parameters ---- */

static const char *const feature_choices[] = { "relational", "onehot", NULL };

static const DerlParamSpec household_params[] = {
  DERL_PARAM_INT_RANGE ("n_receptacles", "13", 4, HH_MAX_RECEPTACLES,
                        "receptacles in a room, the ones the task needs included"),
  DERL_PARAM_INT_RANGE ("n_objects", "8", 2, HH_MAX_OBJECTS,
                        "objects in a room: the goal objects and distractors"),
  DERL_PARAM_DOUBLE_RANGE ("closed_fraction", "1.0", 0, 1,
                           "probability that a cabinet, drawer, fridge or microwave starts closed"),
  DERL_PARAM_INT_RANGE ("max_steps", "50", 1, 100000, "steps after which an episode is truncated"),
  DERL_PARAM_ENUM ("features", "relational", feature_choices,
                   "candidate features: relational (goal-relative bits) or onehot (type and slot one-hots, the ablation)"),
  DERL_PARAM_BOOL ("memory", "true",
                   "give the seen-where memory to the policy (false: the ablation without it)"),
  DERL_PARAM_LIST ("train_types", HH_ALL_TASK_TYPES, task_type_choices,
                   "task types of the train and val splits"),
  DERL_PARAM_LIST ("test_types", HH_ALL_TASK_TYPES, task_type_choices,
                   "task types of the test_seen and test_unseen splits"),
  DERL_PARAM_END
};

/* ---- state ---- */

#define HH_HELD (-1)

/* One room and the agent in it. */
typedef struct {
  /* the task */
  guint8 task;                       /* HhTaskType */
  guint8 goal;                       /* HhObjType of the goal objects */
  gint8 target;                      /* HhRecType they must end in; -1 for the lamp task */
  guint8 template_id;
  guint8 n_rec, n_obj;
  gint8 lamp;                        /* slot holding the desk lamp, -1: none */
  guint8 rec_type[HH_MAX_RECEPTACLES];
  guint8 obj_type[HH_MAX_OBJECTS];
  /* what changes */
  gint8 obj_rec[HH_MAX_OBJECTS];     /* the slot an object is in, or HH_HELD */
  guint8 obj_state[HH_MAX_OBJECTS];  /* STATE_* */
  guint8 obj_done[HH_MAX_OBJECTS];   /* DONE_* */
  guint16 open;                      /* bit i: slot i is open (always, if not closable) */
  guint16 visited;                   /* bit i: the agent has been at slot i */
  guint16 seen_inside;               /* bit i: the agent has seen slot i open */
  gint8 loc;                         /* the agent's slot, -1: the middle of the room */
  gint8 held;                        /* the object in hand, -1: none */
  gboolean lamp_on;
  guint steps;
} HhWorld;

typedef struct {
  guint n_receptacles, n_objects, max_steps;
  double closed_fraction;
  gboolean onehot, memory;
  guint cand_size;                      /* HH_CAND_RELATIONAL or HH_CAND_ONEHOT */
  guint8 types[3][N_TASK_TYPES];     /* [0]: train/val, [1]: test_seen/unseen, [2]: test_heldout */
  guint n_types[3];
  HhWorld w;
  guint64 written;                   /* candidate rows holding non-zero values */
} DerlHousehold;

/* What the encoders need, derived from the world once per step. */
typedef struct {
  guint8 need;                       /* the STATE_* the task requires, or 0 */
  gint8 appliance;                   /* the receptacle type that gives it, or -1 */
  guint n_required, n_final;
  gboolean held_goal, held_needs, held_ready, solved, goal_seen;
  guint16 known_goal;                /* slots known to hold a goal object still to move */
  guint16 target_slots;              /* slots of the target type */
  guint16 appliance_slots;           /* slots of the appliance the held goal object needs */
  guint16 lamp_slots;                /* the lamp's slot, in the lamp task */
  float remaining;                   /* goal objects still to place / required */
} HhView;

/* ---- small helpers ---- */

static guint8
task_need (guint task)
{
  switch (task)
    {
    case TASK_PICK_CLEAN_THEN_PLACE: return STATE_CLEAN;
    case TASK_PICK_HEAT_THEN_PLACE: return STATE_HOT;
    case TASK_PICK_COOL_THEN_PLACE: return STATE_COLD;
    default: return 0;
    }
}

static gint
task_appliance (guint task)
{
  switch (task)
    {
    case TASK_PICK_CLEAN_THEN_PLACE: return REC_SINKBASIN;
    case TASK_PICK_HEAT_THEN_PLACE: return REC_MICROWAVE;
    case TASK_PICK_COOL_THEN_PLACE: return REC_FRIDGE;
    default: return -1;
    }
}

static guint8
task_can (guint task)
{
  switch (task)
    {
    case TASK_LOOK_AT_OBJ_IN_LIGHT: return CAN_LOOK;
    case TASK_PICK_CLEAN_THEN_PLACE: return CAN_CLEAN;
    case TASK_PICK_HEAT_THEN_PLACE: return CAN_HEAT;
    case TASK_PICK_COOL_THEN_PLACE: return CAN_COOL;
    default: return 0;
    }
}

/* The placements an object type may have in a family's rooms. */
static guint16
allowed_placements (guint obj, guint family)
{
  return family == FAMILY_UNSEEN ? obj_info[obj].placements
                                 : obj_info[obj].placements & ~obj_info[obj].reserved;
}

/* The position of the k-th set bit of @mask (k < popcount). */
static guint
nth_bit (guint32 mask, guint k)
{
  while (k--)
    mask &= mask - 1;
  return (guint) __builtin_ctz (mask);
}

/* A set bit of non-zero @mask, uniformly. */
static guint
pick_bit (DerlRng *rng, guint32 mask)
{
  return nth_bit (mask, derl_rng_below (rng, (guint32) __builtin_popcount (mask)));
}

static gboolean
is_open (const HhWorld *w, gint slot)
{
  return (w->open >> slot) & 1;
}

/* Whether object @j is a goal object where it must end: in a receptacle of
 * the target type with the state the task requires. */
static gboolean
is_final (const HhWorld *w, guint need, guint j)
{
  return w->obj_type[j] == w->goal && w->target >= 0 && w->obj_rec[j] >= 0
         && w->rec_type[w->obj_rec[j]] == w->target && (w->obj_state[j] & need) == need;
}

static void
hh_view (const DerlHousehold *self, HhView *v)
{
  const HhWorld *w = &self->w;

  v->need = task_need (w->task);
  v->appliance = (gint8) task_appliance (w->task);
  v->n_required = w->task == TASK_PICK_TWO_OBJ_AND_PLACE ? 2 : 1;
  v->n_final = 0;
  v->known_goal = 0;
  v->goal_seen = FALSE;
  for (guint j = 0; j < w->n_obj; j++)
    {
      if (w->obj_type[j] != w->goal)
        continue;
      if (w->obj_done[j] & DONE_SEEN)
        v->goal_seen = TRUE;
      if (is_final (w, v->need, j))
        v->n_final++;
      else if (w->obj_rec[j] >= 0 && (w->obj_done[j] & DONE_SEEN))
        v->known_goal |= B (w->obj_rec[j]);
    }
  v->held_goal = w->held >= 0 && w->obj_type[w->held] == w->goal;
  v->held_needs = v->held_goal && (w->obj_state[w->held] & v->need) != v->need;
  v->held_ready = v->held_goal && !v->held_needs;
  if (w->task == TASK_LOOK_AT_OBJ_IN_LIGHT)
    v->solved = w->lamp_on && w->loc >= 0 && w->loc == w->lamp && v->held_goal;
  else
    v->solved = v->n_final >= v->n_required;
  v->remaining = w->target >= 0 ? (float) (v->n_required - MIN (v->n_final, v->n_required)) / v->n_required
                                : (float) !v->solved;
  v->target_slots = v->appliance_slots = 0;
  for (guint i = 0; i < w->n_rec; i++)
    {
      v->target_slots |= ((gint) w->rec_type[i] == w->target) << i;
      v->appliance_slots |= ((gint) w->rec_type[i] == v->appliance) << i;
    }
  if (!v->held_needs)
    v->appliance_slots = 0;
  v->lamp_slots = w->task == TASK_LOOK_AT_OBJ_IN_LIGHT && w->lamp >= 0 ? B (w->lamp) : 0;
}

/* ---- generation ---- */

/* Builds task @index of @split into self->w.  Every draw comes from one
 * stream keyed by (family, pool index); nothing else is random. */
static void
hh_generate (DerlHousehold *self, guint split, guint64 index)
{
  HhWorld *w = &self->w;
  guint family = split == SPLIT_TEST_UNSEEN ? FAMILY_UNSEEN : FAMILY_SEEN;
  guint set = split == SPLIT_TRAIN || split == SPLIT_VAL ? 0 : split == SPLIT_TEST_HELDOUT ? 2 : 1;
  guint16 type_slots[N_REC_TYPES] = { 0 };
  guint8 types[HH_MAX_RECEPTACLES];
  guint64 g;
  DerlRng rng;
  guint n = 0, n_goal, n_required;
  guint16 eligible = 0, allowed, targets, present = 0;

  switch (split)
    {
    case SPLIT_TRAIN: g = index / 4 * 5 + index % 4; break;
    case SPLIT_VAL: g = index * 5 + 4; break;
    case SPLIT_TEST_SEEN: g = HH_POOL + index; break;
    case SPLIT_TEST_HELDOUT: g = HH_POOL + 1000000u + index; break;
    default: g = index; break;
    }
  derl_rng_init (&rng, HH_SEED, DERL_RNG_STREAM_PLUGIN, family, g, 0);
  memset (w, 0, sizeof *w);

  /* The goal: a task type, an object type that allows it, a target type
   * (a placement of that object, not the task's appliance). */
  w->task = self->types[set][derl_rng_below (&rng, self->n_types[set])];
  for (guint o = 0; o < N_OBJ_TYPES; o++)
    if ((obj_info[o].can & task_can (w->task)) == task_can (w->task))
      eligible |= B (o);
  w->goal = (guint8) pick_bit (&rng, eligible);
  allowed = allowed_placements (w->goal, family);
  w->target = -1;
  if (w->task != TASK_LOOK_AT_OBJ_IN_LIGHT)
    {
      targets = allowed;
      if (task_appliance (w->task) >= 0)
        targets &= ~B (task_appliance (w->task));
      w->target = (gint8) pick_bit (&rng, targets);
    }
  w->template_id = (guint8) (family == FAMILY_UNSEEN ? N_SEEN_TEMPLATES + derl_rng_below (&rng, 2)
                                                     : derl_rng_below (&rng, N_SEEN_TEMPLATES));

  /* The receptacles: the ones the task needs, then the template's. */
  if (w->target >= 0)
    types[n++] = (guint8) w->target;
  if (task_appliance (w->task) >= 0)
    types[n++] = (guint8) task_appliance (w->task);
  if (w->task == TASK_LOOK_AT_OBJ_IN_LIGHT)
    types[n++] = derl_rng_below (&rng, 2) ? REC_DESK : REC_SIDETABLE;
  for (guint i = 0; i < n; i++)
    present |= B (types[i]);
  {
    guint16 sources = allowed & ~(w->target >= 0 ? B (w->target) : 0);
    guint source = pick_bit (&rng, sources);
    if (!(present & B (source)))
      types[n++] = (guint8) source;
  }
  for (guint t = 0; n < self->n_receptacles; t++)
    types[n++] = templates[w->template_id][t];
  for (guint i = n; i > 1; i--)
    {
      guint j = derl_rng_below (&rng, i);
      guint8 tmp = types[i - 1];
      types[i - 1] = types[j];
      types[j] = tmp;
    }
  w->n_rec = (guint8) n;
  for (guint i = 0; i < n; i++)
    {
      w->rec_type[i] = types[i];
      type_slots[types[i]] |= B (i);
      if (!(B (types[i]) & HH_CLOSABLE) || derl_rng_uniform (&rng) >= self->closed_fraction)
        w->open |= B (i);
    }

  /* The desk lamp: always for the lamp task, else on half the rooms that
   * have a desk or side table. */
  w->lamp = -1;
  {
    guint16 holders = type_slots[REC_DESK] | type_slots[REC_SIDETABLE];
    if (w->task == TASK_LOOK_AT_OBJ_IN_LIGHT || (holders && derl_rng_below (&rng, 2)))
      w->lamp = (gint8) pick_bit (&rng, holders);
  }

  /* The objects: the goal objects (never in a target receptacle), then
   * distractors of other types, each in a receptacle that suits it.
   * test_unseen puts an object in a held-out placement half the time. */
  n_required = w->task == TASK_PICK_TWO_OBJ_AND_PLACE ? 2 : 1;
  n_goal = n_required + (self->n_objects > n_required && derl_rng_uniform (&rng) < 0.3);
  w->n_obj = (guint8) self->n_objects;
  for (guint j = 0; j < w->n_obj; j++)
    {
      guint obj = w->goal;
      guint16 slots = 0, reserved_slots = 0;

      if (j >= n_goal)
        {
          guint r = derl_rng_below (&rng, N_OBJ_TYPES - 1);
          obj = r >= w->goal ? r + 1 : r;
        }
      for (guint tries = 0; tries < N_OBJ_TYPES; tries++)
        {
          guint16 ok = allowed_placements (obj, family), res = obj_info[obj].reserved;
          slots = reserved_slots = 0;
          if (obj == w->goal && w->target >= 0)
            ok &= ~B (w->target);
          for (guint t = 0; t < N_REC_TYPES; t++)
            if (ok & B (t))
              {
                slots |= type_slots[t];
                if (res & B (t))
                  reserved_slots |= type_slots[t];
              }
          if (slots || obj == w->goal)
            break;
          /* no receptacle suits this distractor: the next type */
          do
            obj = (obj + 1) % N_OBJ_TYPES;
          while (obj == w->goal);
        }
      if (!slots) /* cannot happen with the tables above; stay in bounds anyway */
        slots = (guint16) ((1u << w->n_rec) - 1);
      if (family == FAMILY_UNSEEN && reserved_slots && derl_rng_below (&rng, 2))
        slots = reserved_slots;
      w->obj_type[j] = (guint8) obj;
      w->obj_rec[j] = (gint8) pick_bit (&rng, slots);
    }
  for (guint i = w->n_obj; i > 1; i--)
    {
      guint j = derl_rng_below (&rng, i);
      guint8 t = w->obj_type[i - 1];
      gint8 r = w->obj_rec[i - 1];
      w->obj_type[i - 1] = w->obj_type[j];
      w->obj_rec[i - 1] = w->obj_rec[j];
      w->obj_type[j] = t;
      w->obj_rec[j] = r;
    }
  w->loc = -1;
  w->held = -1;
}

/* ---- encoders ---- */

static void
hh_write_obs (const DerlHousehold *self, const HhView *v, float *obs)
{
  const HhWorld *w = &self->w;

  memset (obs, 0, sizeof (float) * HH_OBS_SIZE);
  obs[OBS_TASK + w->task] = 1;
  obs[OBS_GOAL + w->goal] = 1;
  if (w->target >= 0)
    obs[OBS_TARGET + w->target] = 1;
  if (w->loc >= 0)
    {
      obs[OBS_LOC + w->rec_type[w->loc]] = 1;
      obs[OBS_LOC_CLOSED] = !is_open (w, w->loc);
    }
  else
    obs[OBS_NOWHERE] = 1;
  if (w->held >= 0)
    {
      guint8 s = w->obj_state[w->held];
      obs[OBS_HELD + w->obj_type[w->held]] = 1;
      obs[OBS_HELD_CLEAN] = (s & STATE_CLEAN) != 0;
      obs[OBS_HELD_HOT] = (s & STATE_HOT) != 0;
      obs[OBS_HELD_COLD] = (s & STATE_COLD) != 0;
      obs[OBS_HELD_GOAL] = v->held_goal;
    }
  else
    obs[OBS_HANDS_EMPTY] = 1;
  obs[OBS_GOAL_SEEN] = v->goal_seen;
  obs[OBS_NEEDS] = v->held_needs;
  obs[OBS_READY] = v->held_ready;
  obs[OBS_PLACED] = w->target >= 0 ? (float) MIN (v->n_final, v->n_required) / v->n_required : 0.0f;
  obs[OBS_LAMP_ON] = w->lamp_on;
  obs[OBS_HAS_LAMP] = w->lamp >= 0;
  obs[OBS_TIME] = (float) w->steps / self->max_steps;
  if (self->memory)
    for (guint i = 0; i < w->n_rec; i++)
      {
        float *m = obs + OBS_MEMORY + 4 * i;
        m[0] = (w->visited >> i) & 1;
        m[1] = (w->seen_inside >> i) & 1;
        m[2] = (v->known_goal >> i) & 1;
        m[3] = (v->target_slots >> i) & 1;
      }
}

/* The admissible actions, bit a for action a. */
static guint64
hh_admissible (const HhWorld *w)
{
  guint64 m = ((G_GUINT64_CONSTANT (1) << w->n_rec) - 1) << ACT_GOTO;

  if (w->loc < 0)
    return m;
  m &= ~(G_GUINT64_CONSTANT (1) << (ACT_GOTO + w->loc));

  guint type = w->rec_type[w->loc];
  gboolean closable = (B (type) & HH_CLOSABLE) != 0, opened = is_open (w, w->loc);

  if (closable)
    m |= G_GUINT64_CONSTANT (1) << (opened ? ACT_CLOSE : ACT_OPEN);
  if (w->held < 0)
    {
      if (opened)
        for (guint j = 0; j < w->n_obj; j++)
          if (w->obj_rec[j] == w->loc)
            m |= G_GUINT64_CONSTANT (1) << (ACT_TAKE + j);
    }
  else
    {
      guint8 can = obj_info[w->obj_type[w->held]].can;
      if (opened)
        m |= G_GUINT64_CONSTANT (1) << ACT_PUT;
      if (type == REC_SINKBASIN && (can & CAN_CLEAN))
        m |= G_GUINT64_CONSTANT (1) << ACT_CLEAN;
      if (type == REC_MICROWAVE && (can & CAN_HEAT))
        m |= G_GUINT64_CONSTANT (1) << ACT_HEAT;
      if (type == REC_FRIDGE && (can & CAN_COOL))
        m |= G_GUINT64_CONSTANT (1) << ACT_COOL;
    }
  if (w->loc == w->lamp)
    m |= G_GUINT64_CONSTANT (1) << ACT_USELAMP;
  return m | G_GUINT64_CONSTANT (1) << ACT_EXAMINE;
}

static guint
action_kind (guint a)
{
  if (a < ACT_OPEN)
    return KIND_GOTO;
  if (a == ACT_OPEN)
    return KIND_OPEN;
  if (a == ACT_CLOSE)
    return KIND_CLOSE;
  if (a < ACT_PUT)
    return KIND_TAKE;
  return KIND_PUT + (a - ACT_PUT);
}

/* A row is written in full (every position its kind may set, zeros
 * included) whenever its action is admissible, so rows that stay
 * admissible need no clearing.  The positions a row's kind never sets stay
 * zero.  Only the onehot names of the rows about the agent's place (open,
 * close, put, ..., examine) move between positions: they are cleared
 * first. */

/* The bits describing receptacle @slot (a goto's destination, or where the
 * agent stands for open, close and examine). */
static void
write_receptacle (const DerlHousehold *self, const HhView *v, float *c, guint slot)
{
  const HhWorld *w = &self->w;

  if (self->onehot)
    {
      c[CF_REC_TYPE + w->rec_type[slot]] = 1;
      c[CF_REC_SLOT + slot] = 1;
      return;
    }
  c[CF_TARGET] = (v->target_slots >> slot) & 1;
  c[CF_APPLIANCE] = (v->appliance_slots >> slot) & 1;
  c[CF_LAMP] = (v->lamp_slots >> slot) & 1;
  c[CF_CLOSED] = !((w->open >> slot) & 1);
  if (self->memory)
    {
      c[CF_UNVISITED] = !((w->visited >> slot) & 1);
      c[CF_UNSEEN] = !((w->seen_inside >> slot) & 1);
      c[CF_KNOWN_GOAL] = (v->known_goal >> slot) & 1;
    }
}

/* Where the agent stands and what it holds, for the onehot features of
 * open, close, examine, put, clean, heat, cool and use lamp. */
static void
write_here_names (const HhWorld *w, float *c, gboolean with_held)
{
  memset (c + CF_REC_TYPE, 0, sizeof (float) * (HH_CAND_ONEHOT - CF_REC_TYPE));
  c[CF_REC_TYPE + w->rec_type[w->loc]] = 1;
  c[CF_REC_SLOT + w->loc] = 1;
  if (with_held && w->held >= 0)
    c[CF_OBJ_TYPE + w->obj_type[w->held]] = 1;
}

static void
write_row (const DerlHousehold *self, const HhView *v, guint a, float *c)
{
  const HhWorld *w = &self->w;
  guint kind = action_kind (a);

  c[CF_KIND + kind] = 1;
  if (!self->onehot)
    {
      c[CF_NEEDS] = v->held_needs;
      c[CF_READY] = v->held_ready;
      c[CF_REMAINING] = v->remaining;
    }
  switch (kind)
    {
    case KIND_GOTO:
      write_receptacle (self, v, c, a - ACT_GOTO);
      break;
    case KIND_OPEN:
    case KIND_CLOSE:
    case KIND_EXAMINE:
      if (self->onehot)
        write_here_names (w, c, FALSE);
      else
        write_receptacle (self, v, c, (guint) w->loc);
      break;
    case KIND_TAKE:
      {
        guint j = a - ACT_TAKE;
        if (self->onehot)
          c[CF_OBJ_TYPE + w->obj_type[j]] = 1;
        else
          {
            /* "a goal object still to place": one already where it must
             * end (the first of pick_two's) reads as a distractor */
            c[CF_OBJ_FINAL] = is_final (w, v->need, j);
            c[CF_OBJ_GOAL] = w->obj_type[j] == w->goal && !c[CF_OBJ_FINAL];
          }
        break;
      }
    case KIND_PUT:
      if (self->onehot)
        write_here_names (w, c, TRUE);
      else
        {
          gboolean at_target = (v->target_slots >> w->loc) & 1;
          c[CF_AT_TARGET] = at_target;
          c[CF_ACHIEVES] = at_target && v->held_ready;
        }
      break;
    case KIND_CLEAN:
    case KIND_HEAT:
    case KIND_COOL:
      if (self->onehot)
        write_here_names (w, c, TRUE);
      else
        {
          static const guint8 gives[3] = { STATE_CLEAN, STATE_HOT, STATE_COLD };
          c[CF_ACHIEVES] = v->held_needs && gives[kind - KIND_CLEAN] == v->need;
        }
      break;
    case KIND_USELAMP:
      if (self->onehot)
        write_here_names (w, c, TRUE);
      else
        c[CF_ACHIEVES] = w->task == TASK_LOOK_AT_OBJ_IN_LIGHT && v->held_goal && !w->lamp_on;
      break;
    default:
      break;
    }
}

/* Writes the observation, mask and candidates of the current state. */
static void
hh_write (DerlHousehold *self, const HhView *v, DerlEnvStep *out)
{
  guint64 now = hh_admissible (&self->w);
  float *cand = out->candidates;

  hh_write_obs (self, v, out->obs);
  for (guint a = 0; a < HH_N_ACTIONS; a++)
    out->action_mask[a] = (now >> a) & 1;
  for (guint64 gone = self->written & ~now; gone; gone &= gone - 1)
    memset (cand + (gsize) __builtin_ctzll (gone) * self->cand_size, 0, sizeof (float) * self->cand_size);
  for (guint64 rows = now; rows; rows &= rows - 1)
    {
      guint a = (guint) __builtin_ctzll (rows);
      write_row (self, v, a, cand + (gsize) a * self->cand_size);
    }
  self->written = now;
}

/* ---- lifecycle ---- */

static gboolean
parse_types (const DerlParams *params, const char *name, guint8 *types, guint *n, GError **error)
{
  const char *const *words = derl_params_get_list (params, name);
  guint mask = 0;

  for (guint i = 0; words && words[i]; i++)
    for (guint t = 0; t < N_TASK_TYPES; t++)
      if (strcmp (words[i], task_type_choices[t]) == 0)
        mask |= B (t);
  *n = 0;
  for (guint t = 0; t < N_TASK_TYPES; t++)
    if (mask & B (t))
      types[(*n)++] = (guint8) t;
  if (*n == 0)
    {
      g_set_error (error, DERL_EXPERIMENT_ERROR, DERL_EXPERIMENT_ERROR_INVALID_VALUE,
                   "env 'household': %s names no task type (expected a list of: " HH_ALL_TASK_TYPES ")",
                   name);
      return FALSE;
    }
  return TRUE;
}

static gboolean
derl_household_create (const DerlParams *params, DerlEnvSpec *spec, gpointer *state, GError **error)
{
  g_autofree DerlHousehold *self = g_new0 (DerlHousehold, 1);

  self->n_receptacles = (guint) derl_params_get_int (params, "n_receptacles");
  self->n_objects = (guint) derl_params_get_int (params, "n_objects");
  self->closed_fraction = derl_params_get_double (params, "closed_fraction");
  self->max_steps = (guint) derl_params_get_int (params, "max_steps");
  self->onehot = strcmp (derl_params_get_string (params, "features"), "onehot") == 0;
  self->cand_size = self->onehot ? HH_CAND_ONEHOT : HH_CAND_RELATIONAL;
  self->memory = derl_params_get_bool (params, "memory");
  if (!parse_types (params, "train_types", self->types[0], &self->n_types[0], error)
      || !parse_types (params, "test_types", self->types[1], &self->n_types[1], error))
    return FALSE;
  /* test_heldout: the types train_types leaves out */
  for (guint t = 0; t < N_TASK_TYPES; t++)
    if (!memchr (self->types[0], (int) t, self->n_types[0]))
      self->types[2][self->n_types[2]++] = (guint8) t;

  spec->obs_size = HH_OBS_SIZE;
  spec->n_actions = HH_N_ACTIONS;
  spec->candidate_size = self->cand_size;
  spec->max_steps = self->max_steps;
  spec->n_signals = HH_N_SIGNALS;
  spec->signals = household_signals;
  spec->n_splits = self->n_types[2] ? N_SPLITS : N_SPLITS - 1;
  spec->splits = household_splits;
  spec->state_size = HH_STATE_SIZE;
  *state = g_steal_pointer (&self);
  return TRUE;
}

static void
derl_household_destroy (gpointer state)
{
  g_free (state);
}

static void
clear_flags (DerlEnvStep *out)
{
  for (guint k = 0; k < HH_N_SIGNALS; k++)
    out->signals[k] = 0.0;
  out->reward = 0.0;
  out->terminated = FALSE;
  out->truncated = FALSE;
  out->success = FALSE;
}

/* reset: builds task @task_index of @split; @rng is not used, the task
 * alone decides the start. */
static void
derl_household_reset (gpointer state, guint split, guint64 task_index, DerlRng *rng,
                      DerlEnvStep *out)
{
  DerlHousehold *self = state;
  HhView v;

  hh_generate (self, split, task_index);
  memset (out->candidates, 0, sizeof (float) * HH_N_ACTIONS * self->cand_size);
  self->written = 0;
  hh_view (self, &v);
  hh_write (self, &v, out);
  clear_flags (out);
}

/* ---- step ---- */

/* Marks what the agent sees where it stands; returns whether a goal object
 * was seen for the first time. */
static gboolean
hh_look (HhWorld *w)
{
  gboolean first = FALSE;

  if (w->loc < 0 || !is_open (w, w->loc))
    return FALSE;
  w->seen_inside |= B (w->loc);
  for (guint j = 0; j < w->n_obj; j++)
    if (w->obj_rec[j] == w->loc && w->obj_type[j] == w->goal && !(w->obj_done[j] & DONE_SEEN))
      {
        w->obj_done[j] |= DONE_SEEN;
        first = TRUE;
      }
  return first;
}

/* Marks subgoal @bit of object @j done; returns whether it is new. */
static gboolean
mark_done (HhWorld *w, guint j, guint8 bit)
{
  if (w->obj_done[j] & bit)
    return FALSE;
  w->obj_done[j] |= bit;
  return TRUE;
}

static void
derl_household_step (gpointer state, guint action, DerlEnvStep *out)
{
  DerlHousehold *self = state;
  HhWorld *w = &self->w;
  gboolean progress = FALSE, explore = FALSE, valid = TRUE;
  guint8 need = task_need (w->task);
  HhView v;

  if (action < ACT_OPEN)
    {
      w->loc = (gint8) (action - ACT_GOTO);
      explore = !((w->visited >> w->loc) & 1);
      w->visited |= B (w->loc);
      progress = hh_look (w);
    }
  else if (action == ACT_OPEN)
    {
      w->open |= B (w->loc);
      progress = hh_look (w);
    }
  else if (action == ACT_CLOSE)
    w->open &= ~B (w->loc);
  else if (action < ACT_PUT)
    {
      guint j = action - ACT_TAKE;
      w->obj_rec[j] = HH_HELD;
      w->held = (gint8) j;
      progress = w->obj_type[j] == w->goal && mark_done (w, j, DONE_TAKEN);
    }
  else if (action == ACT_PUT)
    {
      guint j = (guint) w->held;
      w->obj_rec[j] = w->loc;
      w->held = -1;
      progress = is_final (w, need, j) && mark_done (w, j, DONE_PLACED);
    }
  else if (action == ACT_CLEAN || action == ACT_HEAT || action == ACT_COOL)
    {
      guint j = (guint) w->held;
      guint8 before = w->obj_state[j], after;
      if (action == ACT_CLEAN)
        after = before | STATE_CLEAN;
      else if (action == ACT_HEAT)
        after = (before | STATE_HOT) & ~STATE_COLD;
      else
        after = (before | STATE_COLD) & ~STATE_HOT;
      w->obj_state[j] = after;
      valid = after != before;
      progress = need && w->obj_type[j] == w->goal && (after & need) && !(before & need)
                 && mark_done (w, j, DONE_STATE);
    }
  else if (action == ACT_USELAMP)
    w->lamp_on = !w->lamp_on;
  else /* examine: looks, changes nothing */
    valid = FALSE;
  w->steps++;

  hh_view (self, &v);
  if (v.solved && w->task == TASK_LOOK_AT_OBJ_IN_LIGHT)
    progress = mark_done (w, (guint) w->held, DONE_LIT) || progress;

  out->signals[SIGNAL_PROGRESS] = progress;
  out->signals[SIGNAL_EXPLORE] = explore;
  out->signals[SIGNAL_VALID] = valid;
  out->terminated = v.solved;
  out->success = v.solved;
  out->truncated = !v.solved && w->steps >= self->max_steps;
  out->reward = v.solved ? 1.0 : 0.0;
  hh_write (self, &v, out);
}

/* ---- physical state (get/set_state) ---- */


static void
derl_household_get_state (gpointer state, double *s)
{
  const HhWorld *w = &((DerlHousehold *) state)->w;

  memset (s, 0, sizeof (double) * HH_STATE_SIZE);
  s[ST_TASK] = w->task;
  s[ST_GOAL] = w->goal;
  s[ST_TARGET] = w->target;
  s[ST_TEMPLATE] = w->template_id;
  s[ST_N_REC] = w->n_rec;
  s[ST_N_OBJ] = w->n_obj;
  s[ST_LAMP] = w->lamp;
  s[ST_LAMP_ON] = w->lamp_on;
  s[ST_LOC] = w->loc;
  s[ST_HELD] = w->held;
  s[ST_STEPS] = w->steps;
  for (guint i = 0; i < HH_MAX_RECEPTACLES; i++)
    {
      s[ST_REC_TYPE + i] = i < w->n_rec ? w->rec_type[i] : -1;
      s[ST_OPEN + i] = i < w->n_rec && is_open (w, i);
      s[ST_VISITED + i] = (w->visited >> i) & 1;
      s[ST_SEEN + i] = (w->seen_inside >> i) & 1;
    }
  for (guint j = 0; j < HH_MAX_OBJECTS; j++)
    {
      double *o = s + ST_OBJECTS + 4 * j;
      o[0] = j < w->n_obj ? w->obj_type[j] : -1;
      o[1] = j < w->n_obj ? w->obj_rec[j] : -2;
      o[2] = w->obj_state[j];
      o[3] = w->obj_done[j];
    }
}

static gint
clamp_int (double x, gint lo, gint hi)
{
  if (!(x >= lo)) /* NaN too */
    return lo;
  return x > hi ? hi : (gint) x;
}

/* Sets the state from get_state's layout; values out of range are clamped
 * so that a bad vector cannot make the env read out of bounds. */
static void
derl_household_set_state (gpointer state, const double *s, DerlEnvStep *out)
{
  DerlHousehold *self = state;
  HhWorld *w = &self->w;
  HhView v;

  memset (w, 0, sizeof *w);
  w->task = (guint8) clamp_int (s[ST_TASK], 0, N_TASK_TYPES - 1);
  w->goal = (guint8) clamp_int (s[ST_GOAL], 0, N_OBJ_TYPES - 1);
  w->target = (gint8) (w->task == TASK_LOOK_AT_OBJ_IN_LIGHT ? -1 : clamp_int (s[ST_TARGET], 0, N_REC_TYPES - 1));
  w->template_id = (guint8) clamp_int (s[ST_TEMPLATE], 0, N_TEMPLATES - 1);
  w->n_rec = (guint8) clamp_int (s[ST_N_REC], 2, HH_MAX_RECEPTACLES);
  w->n_obj = (guint8) clamp_int (s[ST_N_OBJ], 0, HH_MAX_OBJECTS);
  w->lamp = (gint8) clamp_int (s[ST_LAMP], -1, w->n_rec - 1);
  w->lamp_on = w->lamp >= 0 && s[ST_LAMP_ON] != 0;
  w->loc = (gint8) clamp_int (s[ST_LOC], -1, w->n_rec - 1);
  w->held = (gint8) clamp_int (s[ST_HELD], -1, w->n_obj - 1);
  w->steps = (guint) clamp_int (s[ST_STEPS], 0, G_MAXINT);
  for (guint i = 0; i < w->n_rec; i++)
    {
      w->rec_type[i] = (guint8) clamp_int (s[ST_REC_TYPE + i], 0, N_REC_TYPES - 1);
      if (s[ST_OPEN + i] != 0 || !(B (w->rec_type[i]) & HH_CLOSABLE))
        w->open |= B (i);
      if (s[ST_VISITED + i] != 0)
        w->visited |= B (i);
      if (s[ST_SEEN + i] != 0)
        w->seen_inside |= B (i);
    }
  for (guint j = 0; j < w->n_obj; j++)
    {
      const double *o = s + ST_OBJECTS + 4 * j;
      w->obj_type[j] = (guint8) clamp_int (o[0], 0, N_OBJ_TYPES - 1);
      w->obj_rec[j] = (gint8) ((gint) j == w->held ? HH_HELD : clamp_int (o[1], 0, w->n_rec - 1));
      w->obj_state[j] = (guint8) clamp_int (o[2], 0, STATE_CLEAN | STATE_HOT | STATE_COLD);
      w->obj_done[j] = (guint8) clamp_int (o[3], 0, 31);
    }
  memset (out->candidates, 0, sizeof (float) * HH_N_ACTIONS * self->cand_size);
  self->written = 0;
  hh_view (self, &v);
  hh_write (self, &v, out);
}

/* ---- registration ---- */

static const DerlEnvVTable household_vtable = {
  .create = derl_household_create,
  .destroy = derl_household_destroy,
  .reset = derl_household_reset,
  .step = derl_household_step,
  .get_state = derl_household_get_state,
  .set_state = derl_household_set_state,
};

static const char household_description[] =
  "An ALFWorld-like household (Shridhar et al., ICLR 2021), generated procedurally.\n"
  "World: a room of n_receptacles typed receptacles (countertop, cabinet, drawer, shelf,\n"
  "  fridge, microwave, sinkbasin, desk, sidetable, garbagecan; several instances of\n"
  "  some) and n_objects typed objects (mug, apple, potato, knife, plate, book, pen,\n"
  "  cellphone, bowl, tomato, egg, spraybottle), each lying in a receptacle that suits\n"
  "  its type.  Cabinets, drawers, fridges and microwaves start closed with probability\n"
  "  closed_fraction; the others are always open.  A desk lamp stands on a desk or\n"
  "  side table (always for the lamp task, else in half the rooms that have one).\n"
  "  Object states: clean, hot, cold (heating clears cold, cooling clears hot), held.\n"
  "  The agent starts in the middle of the room with empty hands.\n"
  "Tasks (ALFWorld's six; object types allowed in brackets):\n"
  "  pick_and_place          put a <object> in a <target> [any]\n"
  "  look_at_obj_in_light    hold a <object> where the lamp is, lamp on [mug book pen\n"
  "                          cellphone bowl]\n"
  "  pick_clean_then_place   put a clean <object> in a <target>; clean at a sinkbasin\n"
  "                          [mug apple potato knife plate bowl tomato egg]\n"
  "  pick_heat_then_place    put a hot <object> in a <target>; heat at a microwave\n"
  "                          [mug apple potato plate bowl tomato egg]\n"
  "  pick_cool_then_place    put a cold <object> in a <target>; cool at a fridge [same]\n"
  "  pick_two_obj_and_place  put two <object>s in receptacles of the <target> type [any]\n"
  "  The target type is a plausible placement of the object type (below), never the\n"
  "  task's appliance.  Every room holds the target, the appliance or lamp and a source\n"
  "  receptacle for the goal objects (1, or 2 for pick_two, plus one more 30% of the\n"
  "  time); goal objects never start in a target receptacle, so the goal never holds\n"
  "  at reset; distractors are of the other types.\n"
  "Placements: mug: countertop cabinet shelf fridge microwave sinkbasin desk* sidetable;\n"
  "  apple: countertop fridge microwave sinkbasin garbagecan sidetable*; potato:\n"
  "  countertop fridge microwave sinkbasin garbagecan cabinet*; knife: countertop drawer\n"
  "  sinkbasin cabinet*; plate: countertop cabinet shelf* fridge sinkbasin microwave;\n"
  "  book: desk shelf sidetable drawer countertop*; pen: desk drawer shelf* sidetable;\n"
  "  cellphone: desk sidetable drawer shelf countertop*; bowl: countertop cabinet shelf\n"
  "  fridge microwave* sinkbasin; tomato: countertop fridge microwave sinkbasin\n"
  "  garbagecan*; egg: countertop fridge microwave sinkbasin* garbagecan; spraybottle:\n"
  "  cabinet shelf countertop garbagecan sidetable*.  (* held out for test_unseen.)\n"
  "Rooms: the receptacles the task needs, then a template's types in order until\n"
  "  n_receptacles, shuffled.  Templates 0-5 (kitchen, galley, bedroom, living room,\n"
  "  office, bathroom) for train, val, test_seen; 6-7 (studio, utility room) only for\n"
  "  test_unseen.\n"
  "Splits (tasks from (split, index) alone, through derl_rng streams of a fixed key;\n"
  "  reset's episode stream is ignored): a seen pool of 5M indices g: train (4M tasks,\n"
  "  g mod 5 != 4), val (1M, g mod 5 = 4: 20% held out), test_seen (1M, g in [5M, 6M),\n"
  "  L0); test_unseen (1M, L1) from a stream family of its own, using only templates\n"
  "  6-7 and putting each object in a held-out placement (*) half the time when one is\n"
  "  in the room; no other split uses those.  train and val draw task types from\n"
  "  train_types, test_seen and test_unseen from test_types (L2 when they differ).\n"
  "  When train_types leaves types out, test_heldout (1M, g in [6M, 7M), seen\n"
  "  layouts) holds tasks of exactly those types: L2 from the same run as L0/L1.\n"
  "Actions (40, the same catalog for every task):\n"
  "  0-15  goto receptacle slot i: any other existing receptacle\n"
  "  16    open the current receptacle: closable and closed\n"
  "  17    close it: closable and open\n"
  "  18-33 take object slot j: hands empty, j in the current receptacle, which is open\n"
  "  34    put the held object in the current receptacle: holding, receptacle open\n"
  "  35    clean the held object: at a sinkbasin, object cleanable\n"
  "  36    heat it: at a microwave (open or closed, as in ALFWorld's text version),\n"
  "        object heatable\n"
  "  37    cool it: at a fridge (open or closed), object coolable\n"
  "  38    use the lamp (switch it on or off): at the lamp's receptacle\n"
  "  39    examine the current receptacle: at a receptacle; changes nothing\n"
  "  Objects are seen when the agent stands at their receptacle while it is open.\n"
  "  Goto is always admissible somewhere, so a mask is never empty.\n"
  "Observation (128 floats):\n"
  "  0-5 task type one-hot (in the order above); 6-17 goal object type one-hot (order of\n"
  "  the object list); 18-27 target receptacle type one-hot (order of the receptacle\n"
  "  list; zero for the lamp task); 28-37 current receptacle type one-hot; 38 in the\n"
  "  middle of the room; 39 current receptacle closed; 40-51 held object type one-hot;\n"
  "  52 hands empty; 53 54 55 held object clean, hot, cold; 56 held object is of the goal\n"
  "  type; 57 a goal object has been seen; 58 holding a goal object that still needs the\n"
  "  task's state; 59 holding a goal object ready to be placed (lamp task: to be lit);\n"
  "  60 goal objects where they must end / required; 61 lamp on; 62 the room has a lamp;\n"
  "  63 steps / max_steps; 64-127 memory, 4 per receptacle slot i at 64+4i: visited,\n"
  "  seen open, known to hold a goal object not yet where it must end, of the target\n"
  "  type (zero past n_receptacles; all zero with memory=false).\n"
  "Candidates (24 floats per action slot with features=relational, 48 with onehot;\n"
  "  rows of masked slots are zero):\n"
  "  0-9 action kind one-hot: goto open close take put clean heat cool uselamp examine.\n"
  "  10-23, relational (features=relational):\n"
  "   receptacle (goto: the destination; open, close, examine: the current one):\n"
  "    10 of the target type; 11 the appliance the held goal object still needs;\n"
  "    12 holds the lamp and the task is look_at_obj_in_light; 13 closed;\n"
  "    14 not visited yet; 15 not seen open yet; 16 known to hold a goal object not\n"
  "    yet where it must end (14-16 zero with memory=false)\n"
  "   take: 17 the object is of the goal type and not yet where it must end; 18 it\n"
  "    is already where it must end\n"
  "   19 achieves a subgoal: put: places a ready goal object in a target receptacle;\n"
  "    clean/heat/cool: gives the held goal object the state the task needs;\n"
  "    uselamp: switches the lamp on while holding a goal object\n"
  "   20 put: the current receptacle is of the target type\n"
  "   every admissible row: 21 = obs 58; 22 = obs 59; 23 goal objects still to place /\n"
  "    required (lamp task: 1 until solved)\n"
  "  10-47 instead, names (features=onehot, the ablation): 10-19 receptacle type\n"
  "   one-hot and 20-35 receptacle slot one-hot (goto: the destination; the others: the\n"
  "   current receptacle); 36-47 object type one-hot (take: the object; put, clean,\n"
  "   heat, cool, uselamp: the held object).\n"
  "Reward: 1 on the step the goal is reached (the success), else 0.\n"
  "Termination: the goal holds (success).  Truncation: max_steps steps without it.\n"
  "Signals, after each step (zero after reset):\n"
  "  progress = 1 when a subgoal was reached for the first time in the episode: a goal\n"
  "    object seen, taken, given the task's state, placed where it must end, or lit\n"
  "  explore  = 1 on the first visit to a receptacle\n"
  "  valid    = 1 when the action changed the world (0 for examine and for cleaning,\n"
  "    heating or cooling an object already in that state)\n"
  "State (get/set_state, 139 doubles): 0 task, 1 goal type, 2 target type (-1), 3\n"
  "  template, 4 receptacles, 5 objects, 6 lamp slot (-1), 7 lamp on, 8 agent slot (-1),\n"
  "  9 held object (-1), 10 steps; 11-26 receptacle types (-1 past the last); 27-42 open;\n"
  "  43-58 visited; 59-74 seen open; 75-138 per object slot j at 75+4j: type (-1 past the\n"
  "  last), slot (-1 held), state bits (1 clean, 2 hot, 4 cold), subgoal bits (1 seen,\n"
  "  2 taken, 4 state, 8 placed, 16 lit).";

static gboolean
derl_household_plugin_init (DerlPlugin *plugin, GError **error)
{
  return derl_plugin_register_env (plugin, "household", household_description, &household_vtable,
                                   household_params, error);
}

DERL_PLUGIN_DEFINE ("household", "An ALFWorld-like household with six task types, generated procedurally",
                    derl_household_plugin_init, PACKAGE_VERSION, "LGPL-2.1-or-later")
