/* derl-inspect --check: runs an env's contract (the analogue of Gymnasium's
 * env checker), or a primitive over an env's random trajectories, and
 * prints a table of checks.  Every episode draws from fixed derl RNG
 * streams, so the checks are deterministic. */
#include "config.h"

#include <math.h>
#include <stdio.h>
#include <string.h>
#include "derl-inspect-check.h"

/* The seed of every stream the checks draw from. */
#define CHECK_SEED 20240917
/* Tasks replayed per split by the determinism and tasks-differ checks. */
#define REPLAYS 4
#define TASKS_COMPARED 8

typedef enum { CHECK_PASS, CHECK_FAIL, CHECK_SKIP } CheckStatus;

static const char *const status_names[] = { "PASS", "FAIL", "SKIP" };

typedef struct {
  char *name;
  CheckStatus status;
  char *detail;
} CheckRow;

typedef struct {
  GArray *rows; /* CheckRow */
} Report;

static void
row_clear (gpointer data)
{
  CheckRow *r = data;
  g_free (r->name);
  g_free (r->detail);
}

G_GNUC_PRINTF (4, 5) static void
report_add (Report *report, const char *name, CheckStatus status, const char *format, ...)
{
  va_list ap;
  CheckRow r = { g_strdup (name), status, NULL };
  va_start (ap, format);
  r.detail = g_strdup_vprintf (format, ap);
  va_end (ap);
  g_array_append_val (report->rows, r);
}

/* Prints the table (or JSON) and returns the exit status. */
static int
report_print (const Report *report, const char *kind, const char *name, gboolean json)
{
  gboolean ok = TRUE;
  for (guint i = 0; i < report->rows->len; i++)
    ok &= g_array_index (report->rows, CheckRow, i).status != CHECK_FAIL;
  if (json)
    {
      g_autoptr (JsonBuilder) b = json_builder_new ();
      g_autoptr (JsonGenerator) gen = json_generator_new ();
      json_builder_begin_object (b);
      json_builder_set_member_name (b, kind);
      json_builder_add_string_value (b, name);
      json_builder_set_member_name (b, "checks");
      json_builder_begin_array (b);
      for (guint i = 0; i < report->rows->len; i++)
        {
          const CheckRow *r = &g_array_index (report->rows, CheckRow, i);
          json_builder_begin_object (b);
          json_builder_set_member_name (b, "name");
          json_builder_add_string_value (b, r->name);
          json_builder_set_member_name (b, "result");
          json_builder_add_string_value (b, status_names[r->status]);
          json_builder_set_member_name (b, "detail");
          json_builder_add_string_value (b, r->detail);
          json_builder_end_object (b);
        }
      json_builder_end_array (b);
      json_builder_set_member_name (b, "passed");
      json_builder_add_boolean_value (b, ok);
      json_builder_end_object (b);
      g_autoptr (JsonNode) root = json_builder_get_root (b);
      json_generator_set_pretty (gen, TRUE);
      json_generator_set_root (gen, root);
      g_autofree char *text = json_generator_to_data (gen, NULL);
      printf ("%s\n", text);
    }
  else
    {
      printf ("%s %s\n\n%-16s %-6s %s\n", kind, name, "check", "result", "detail");
      for (guint i = 0; i < report->rows->len; i++)
        {
          const CheckRow *r = &g_array_index (report->rows, CheckRow, i);
          printf ("%-16s %-6s %s\n", r->name, status_names[r->status], r->detail);
        }
      printf ("\n%s\n", ok ? "all checks passed" : "some checks failed");
    }
  return ok ? INSPECT_EXIT_OK : INSPECT_EXIT_NOT_FOUND;
}

/* ---- one recorded episode ---- */

typedef struct {
  GArray *hashes;     /* guint64 per step, the reset included: every output, bit for bit */
  GArray *signals;    /* n_signals doubles per step after reset (for primitives), or NULL */
  guint length;       /* steps taken */
  gboolean terminated, truncated, success, overran; /* overran: no end within max_steps */
  guint truncated_at; /* the step truncated was set at, else 0 */
  gboolean both;      /* terminated and truncated set together */
  double env_return;
} Trace;

static void
trace_init (Trace *t, gboolean with_hashes, gboolean with_signals)
{
  memset (t, 0, sizeof *t);
  t->hashes = with_hashes ? g_array_new (FALSE, FALSE, sizeof (guint64)) : NULL;
  t->signals = with_signals ? g_array_new (FALSE, FALSE, sizeof (double)) : NULL;
}

static void
trace_clear (Trace *t)
{
  if (t->hashes)
    g_array_unref (t->hashes);
  if (t->signals)
    g_array_unref (t->signals);
}

static guint64
fnv (guint64 h, const void *data, gsize n)
{
  const guint8 *p = data;
  for (gsize i = 0; i < n; i++)
    h = (h ^ p[i]) * G_GUINT64_CONSTANT (0x100000001b3);
  return h;
}

/* A hash of the outputs of @s: obs, mask and candidates; with @events the
 * signals and reward; with @flags the three flags. */
static guint64
step_hash (const DerlEnvSpec *spec, const DerlEnvStep *s, gboolean events, gboolean flags)
{
  guint64 h = G_GUINT64_CONSTANT (0xcbf29ce484222325);
  h = fnv (h, s->obs, sizeof (float) * spec->obs_size);
  h = fnv (h, s->action_mask, spec->n_actions);
  if (spec->candidate_size)
    h = fnv (h, s->candidates, sizeof (float) * spec->n_actions * spec->candidate_size);
  if (events)
    {
      h = fnv (h, s->signals, sizeof (double) * spec->n_signals);
      h = fnv (h, &s->reward, sizeof s->reward);
    }
  if (flags)
    {
      guint8 f[3] = { s->terminated != 0, s->truncated != 0, s->success != 0 };
      h = fnv (h, f, sizeof f);
    }
  return h;
}

static guint
random_admissible (DerlRng *rng, const guint8 *mask, guint n_actions)
{
  guint n_ok = 0;
  for (guint a = 0; a < n_actions; a++)
    n_ok += mask[a] != 0;
  guint pick = derl_rng_below (rng, MAX (n_ok, 1));
  for (guint a = 0; a < n_actions; a++)
    if (mask[a] && pick-- == 0)
      return a;
  return 0;
}

/* Runs episode @episode of split @split (task @task) with random admissible
 * actions, both from fixed streams, for at most max_steps + 1 steps.
 * Returns FALSE with the env's contract error. */
static gboolean
run_episode (DerlEnv *env, guint split, guint64 task, guint64 episode, Trace *t, GError **error)
{
  const DerlEnvSpec *spec = derl_env_get_spec (env);
  DerlRng rng, actions;
  const DerlEnvStep *s;

  derl_rng_init (&rng, CHECK_SEED, DERL_RNG_STREAM_EPISODE, split, 0, episode);
  derl_rng_init (&actions, CHECK_SEED, DERL_RNG_STREAM_ACTION, split, 0, episode);
  if (!(s = derl_env_reset (env, split, task, &rng, error)))
    return FALSE;
  guint64 h;
  if (t->hashes)
    {
      h = step_hash (spec, s, TRUE, TRUE);
      g_array_append_val (t->hashes, h);
    }
  if (s->terminated || s->truncated)
    {
      t->both = TRUE; /* over before a step: reported as inconsistent flags */
      return TRUE;
    }
  while (t->length <= spec->max_steps)
    {
      if (!(s = derl_env_step (env, random_admissible (&actions, s->action_mask, spec->n_actions), error)))
        return FALSE;
      t->length++;
      if (t->hashes)
        {
          h = step_hash (spec, s, TRUE, TRUE);
          g_array_append_val (t->hashes, h);
        }
      t->env_return += s->reward;
      if (t->signals)
        g_array_append_vals (t->signals, s->signals, spec->n_signals);
      if (s->truncated && !t->truncated_at)
        t->truncated_at = t->length;
      if (s->terminated && s->truncated)
        t->both = TRUE;
      if (s->terminated || s->truncated)
        {
          t->terminated = s->terminated;
          t->truncated = s->truncated;
          t->success = s->success;
          return TRUE;
        }
    }
  t->overran = TRUE;
  return TRUE;
}

/* The first step at which two traces differ, or -1. */
static int
first_difference (const Trace *a, const Trace *b)
{
  guint n = MIN (a->hashes->len, b->hashes->len);
  for (guint i = 0; i < n; i++)
    if (g_array_index (a->hashes, guint64, i) != g_array_index (b->hashes, guint64, i))
      return (int) i;
  return a->hashes->len == b->hashes->len ? -1 : (int) n;
}

/* ---- the env's checks ---- */

static DerlParams *
env_params (const DerlFeature *feature, char **sets, GError **error)
{
  g_autoptr (DerlParams) params = derl_params_new (derl_feature_get_params (feature));
  for (guint i = 0; sets && sets[i]; i++)
    {
      const char *eq = strchr (sets[i], '=');
      if (!eq || eq == sets[i])
        {
          g_set_error (error, DERL_EXPERIMENT_ERROR, DERL_EXPERIMENT_ERROR_INVALID_VALUE,
                       "--set %s: expected KEY=VALUE", sets[i]);
          return NULL;
        }
      g_autofree char *key = g_strndup (sets[i], eq - sets[i]);
      if (!derl_params_set (params, key, eq + 1, error))
        {
          g_prefix_error (error, "--set %s: env '%s': ", sets[i], derl_feature_get_name (feature));
          return NULL;
        }
    }
  for (const DerlParamSpec *p = derl_feature_get_params (feature); p && p->name; p++)
    if ((p->flags & DERL_PARAM_REQUIRED) && !derl_params_is_set (params, p->name))
      {
        g_set_error (error, DERL_EXPERIMENT_ERROR, DERL_EXPERIMENT_ERROR_MISSING_KEY,
                     "env '%s' needs a value for '%s' (--set %s=...)", derl_feature_get_name (feature), p->name,
                     p->name);
        return NULL;
      }
  return g_steal_pointer (&params);
}

static void
check_spec (Report *report, const DerlEnvSpec *spec)
{
  g_autoptr (GString) problems = g_string_new (NULL);

  for (guint i = 0; i < spec->n_signals; i++)
    {
      if (!spec->signals[i][0])
        g_string_append_printf (problems, "%ssignal %u has an empty name", problems->len ? "; " : "", i);
      for (guint j = 0; j < i; j++)
        if (strcmp (spec->signals[i], spec->signals[j]) == 0)
          g_string_append_printf (problems, "%ssignal '%s' named twice", problems->len ? "; " : "", spec->signals[i]);
    }
  for (guint i = 0; i < spec->n_splits; i++)
    {
      if (!spec->splits[i].name[0])
        g_string_append_printf (problems, "%ssplit %u has an empty name", problems->len ? "; " : "", i);
      for (guint j = 0; j < i; j++)
        if (strcmp (spec->splits[i].name, spec->splits[j].name) == 0)
          g_string_append_printf (problems, "%ssplit '%s' named twice", problems->len ? "; " : "",
                                  spec->splits[i].name);
    }
  if (spec->obs_size == 0 && spec->candidate_size == 0)
    g_string_append_printf (problems, "%sneither an observation nor candidate features", problems->len ? "; " : "");
  if (problems->len)
    {
      report_add (report, "spec", CHECK_FAIL, "%s", problems->str);
      return;
    }
  g_autoptr (GString) splits = g_string_new (NULL);
  for (guint i = 0; i < spec->n_splits; i++)
    g_string_append_printf (splits, "%s%s %" G_GUINT64_FORMAT, i ? ", " : "", spec->splits[i].name,
                            spec->splits[i].n_tasks);
  report_add (report, "spec", CHECK_PASS, "obs %u, actions %u, candidate features %u, max_steps %u, %u signals; "
              "tasks: %s", spec->obs_size, spec->n_actions, spec->candidate_size, spec->max_steps, spec->n_signals,
              splits->str);
}

/* Outputs in contract and truncation over @episodes random episodes of
 * every split; also times the steps. */
static void
check_episodes (Report *report, DerlEnv *env, guint episodes)
{
  const DerlEnvSpec *spec = derl_env_get_spec (env);
  g_autoptr (GError) error = NULL;
  guint64 steps = 0, n = 0, at_max = 0, ended_early = 0;
  g_autofree char *bad_trunc = NULL;
  gint64 start = g_get_monotonic_time ();

  for (guint split = 0; split < spec->n_splits && !error; split++)
    for (guint e = 0; e < episodes && !error; e++)
      {
        Trace t;
        trace_init (&t, FALSE, FALSE);
        if (run_episode (env, split, e, e, &t, &error))
          {
            n++;
            steps += t.length;
            const char *where = spec->splits[split].name;
            if (!bad_trunc && t.overran)
              bad_trunc = g_strdup_printf ("split '%s', task %u: no end at max_steps (%u): truncated is never set",
                                           where, e, spec->max_steps);
            else if (!bad_trunc && t.both)
              bad_trunc = g_strdup_printf ("split '%s', task %u: terminated and truncated both set at step %u%s",
                                           where, e, t.length, t.length ? "" : " (at reset)");
            else if (!bad_trunc && t.truncated_at && t.truncated_at != spec->max_steps)
              bad_trunc = g_strdup_printf ("split '%s', task %u: truncated at step %u, not at max_steps (%u)", where,
                                           e, t.truncated_at, spec->max_steps);
            at_max += t.truncated && t.length == spec->max_steps;
            ended_early += t.terminated;
          }
        trace_clear (&t);
      }
  double seconds = (g_get_monotonic_time () - start) / 1e6;
  if (error)
    report_add (report, "outputs", CHECK_FAIL, "%s", error->message);
  else
    report_add (report, "outputs", CHECK_PASS, "%" G_GUINT64_FORMAT " random episodes, %" G_GUINT64_FORMAT
                " steps: observations, candidates, signals and rewards finite, masks 0/1 with an admissible action",
                n, steps);
  if (bad_trunc)
    report_add (report, "truncation", CHECK_FAIL, "%s", bad_trunc);
  else if (error)
    report_add (report, "truncation", CHECK_SKIP, "the outputs check failed");
  else if (at_max == 0)
    report_add (report, "truncation", CHECK_SKIP, "no random episode reached max_steps (%u); %" G_GUINT64_FORMAT
                " terminated before", spec->max_steps, ended_early);
  else
    report_add (report, "truncation", CHECK_PASS, "%" G_GUINT64_FORMAT " episodes truncated at max_steps (%u), "
                "%" G_GUINT64_FORMAT " terminated before; flags consistent", at_max, spec->max_steps, ended_early);
  if (!error && steps > 0)
    report_add (report, "speed", CHECK_PASS, "%.0f steps/s (random actions, one instance, checks included)",
                steps / MAX (seconds, 1e-9));
  else
    report_add (report, "speed", CHECK_SKIP, "no steps timed");
}

/* Same (split, task) and actions give bit-identical trajectories: on fresh
 * instances, and on one instance reset again. */
static void
check_determinism (Report *report, const DerlFeature *feature, const DerlParams *params)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (DerlEnv) a = derl_env_new (feature, params, &error);
  g_autoptr (DerlEnv) b = a ? derl_env_new (feature, params, &error) : NULL;
  guint compared = 0;

  if (!b)
    {
      report_add (report, "determinism", CHECK_FAIL, "%s", error->message);
      return;
    }
  const DerlEnvSpec *spec = derl_env_get_spec (a);
  for (guint split = 0; split < spec->n_splits; split++)
    for (guint e = 0; e < REPLAYS; e++)
      {
        Trace t[3];
        const char *how[3] = { NULL, "a fresh instance", "the same instance reset again" };
        DerlEnv *env[3] = { a, b, a };
        int diff = -1, which = 0;
        gboolean ok = TRUE;
        for (guint k = 0; k < 3; k++)
          {
            trace_init (&t[k], TRUE, FALSE);
            ok = ok && run_episode (env[k], split, e, e, &t[k], &error);
          }
        for (guint k = 1; ok && k < 3 && diff < 0; k++)
          if ((diff = first_difference (&t[0], &t[k])) >= 0)
            which = (int) k;
        for (guint k = 0; k < 3; k++)
          trace_clear (&t[k]);
        if (!ok)
          {
            report_add (report, "determinism", CHECK_SKIP, "the outputs check failed");
            return;
          }
        if (diff >= 0)
          {
            report_add (report, "determinism", CHECK_FAIL, "split '%s', task %u: %s differs at step %d with the "
                        "same actions", spec->splits[split].name, e, how[which], diff);
            return;
          }
        compared++;
      }
  report_add (report, "determinism", CHECK_PASS, "%u episodes replayed bit for bit, on a fresh instance and after "
              "a second reset", compared);
}

/* Different tasks of a split give different trajectories (with the same
 * streams), on at least one split with more than one task. */
static void
check_tasks_differ (Report *report, DerlEnv *env)
{
  const DerlEnvSpec *spec = derl_env_get_spec (env);
  g_autoptr (GError) error = NULL;
  g_autoptr (GString) same = g_string_new (NULL);
  guint splits_checked = 0, distinct_total = 0;

  for (guint split = 0; split < spec->n_splits; split++)
    {
      guint n = (guint) MIN (spec->splits[split].n_tasks, TASKS_COMPARED);
      if (n < 2)
        continue;
      guint64 first[TASKS_COMPARED];
      guint distinct = 0;
      for (guint task = 0; task < n; task++)
        {
          Trace t;
          trace_init (&t, TRUE, FALSE);
          /* the same streams (episode 0) for every task: only the task differs */
          gboolean ok = run_episode (env, split, task, 0, &t, &error);
          first[task] = 0;
          for (guint i = 0; ok && i < t.hashes->len; i++)
            first[task] = fnv (first[task], &g_array_index (t.hashes, guint64, i), sizeof (guint64));
          trace_clear (&t);
          if (!ok)
            {
              report_add (report, "tasks differ", CHECK_SKIP, "the outputs check failed");
              return;
            }
          gboolean seen = FALSE;
          for (guint j = 0; j < task; j++)
            seen |= first[j] == first[task];
          distinct += !seen;
        }
      splits_checked++;
      distinct_total += distinct;
      if (distinct == 1)
        g_string_append_printf (same, "%s%s", same->len ? ", " : "", spec->splits[split].name);
    }
  if (splits_checked == 0)
    report_add (report, "tasks differ", CHECK_SKIP, "every split has a single task");
  else if (same->len)
    report_add (report, "tasks differ", CHECK_FAIL, "every task of split %s gives the same trajectory", same->str);
  else
    report_add (report, "tasks differ", CHECK_PASS, "%u distinct trajectories from the first tasks of %u split%s",
                distinct_total, splits_checked, splits_checked == 1 ? "" : "s");
}

/* set_state(get_state()) on a second instance reproduces the next
 * observations, masks, candidates, signals and rewards (the flags may
 * depend on a step count outside the physical state). */
static void
check_state (Report *report, const DerlFeature *feature, const DerlParams *params)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (DerlEnv) a = derl_env_new (feature, params, &error);
  g_autoptr (DerlEnv) b = a ? derl_env_new (feature, params, &error) : NULL;

  if (!b)
    {
      report_add (report, "state", CHECK_FAIL, "%s", error->message);
      return;
    }
  const DerlEnvSpec *spec = derl_env_get_spec (a);
  g_autofree double *values = g_new0 (double, MAX (spec->state_size, 1));
  if (!derl_feature_get_env_vtable (feature)->set_state || !derl_env_get_state (a, values))
    {
      report_add (report, "state", CHECK_SKIP, "the env offers no get_state/set_state");
      return;
    }
  guint compared = 0;
  for (guint split = 0; split < spec->n_splits; split++)
    for (guint e = 0; e < REPLAYS; e++)
      {
        DerlRng rng, rng_b, actions;
        const DerlEnvStep *s, *c;
        derl_rng_init (&rng, CHECK_SEED, DERL_RNG_STREAM_EPISODE, split, 1, e);
        derl_rng_init (&rng_b, CHECK_SEED, DERL_RNG_STREAM_EPISODE, split, 1, e);
        derl_rng_init (&actions, CHECK_SEED, DERL_RNG_STREAM_ACTION, split, 1, e);
        if (!(s = derl_env_reset (a, split, e, &rng, &error)))
          goto failed;
        /* a few steps into the episode, then the state is copied */
        guint k;
        for (k = 0; k < 1 + e % 3 && !s->terminated && !s->truncated; k++)
          if (!(s = derl_env_step (a, random_admissible (&actions, s->action_mask, spec->n_actions), &error)))
            goto failed;
        if (s->terminated || s->truncated)
          continue;
        derl_env_get_state (a, values);
        if (!derl_env_reset (b, split, e, &rng_b, &error) || !(c = derl_env_set_state (b, values, &error)))
          goto failed;
        for (guint t = 0;; t++)
          {
            if (step_hash (spec, s, t > 0, FALSE) != step_hash (spec, c, t > 0, FALSE))
              {
                report_add (report, "state", CHECK_FAIL, "split '%s', task %u: after set_state(get_state()) at step "
                            "%u, the outputs differ %u step%s later", spec->splits[split].name, e, k, t,
                            t == 1 ? "" : "s");
                return;
              }
            if (t == 5 || s->terminated || s->truncated || c->terminated || c->truncated)
              break;
            guint action = random_admissible (&actions, s->action_mask, spec->n_actions);
            if (!(s = derl_env_step (a, action, &error)) || !(c = derl_env_step (b, action, &error)))
              goto failed;
          }
        compared++;
      }
  if (compared)
    report_add (report, "state", CHECK_PASS, "set_state(get_state()) reproduced %u episodes' next steps", compared);
  else
    report_add (report, "state", CHECK_SKIP, "every episode ended before its state could be copied");
  return;
failed:
  if (g_error_matches (error, DERL_RUN_ERROR, DERL_RUN_ERROR_ENV_CONTRACT))
    report_add (report, "state", CHECK_SKIP, "the outputs check failed");
  else
    report_add (report, "state", CHECK_FAIL, "%s", error->message);
}

static int
check_env (const DerlFeature *feature, char **sets, guint episodes, gboolean json)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (DerlParams) params = env_params (feature, sets, &error);
  Report report = { g_array_new (FALSE, FALSE, sizeof (CheckRow)) };

  g_array_set_clear_func (report.rows, row_clear);
  if (!params)
    {
      fprintf (stderr, "derl-inspect: %s\n", error->message);
      g_array_unref (report.rows);
      return INSPECT_EXIT_BAD_INPUT;
    }
  g_autoptr (DerlEnv) env = derl_env_new (feature, params, &error);
  if (!env)
    report_add (&report, "create", CHECK_FAIL, "%s", error->message);
  else
    {
      report_add (&report, "create", CHECK_PASS, "an instance with these parameters");
      check_spec (&report, derl_env_get_spec (env));
      check_episodes (&report, env, episodes);
      check_determinism (&report, feature, params);
      check_tasks_differ (&report, env);
      check_state (&report, feature, params);
    }
  int status = report_print (&report, "env", derl_feature_get_name (feature), json);
  g_array_unref (report.rows);
  return status;
}

/* ---- a primitive's checks ---- */

/* Whether @spec emits every signal @vt reads; fills @index with where. */
static gboolean
binds (const DerlPrimitiveVTable *vt, const DerlEnvSpec *spec, guint *index, const char **missing)
{
  for (guint k = 0; vt->signals && vt->signals[k]; k++)
    {
      guint i = 0;
      while (i < spec->n_signals && strcmp (spec->signals[i], vt->signals[k]) != 0)
        i++;
      if (i == spec->n_signals)
        {
          *missing = vt->signals[k];
          return FALSE;
        }
      index[k] = i;
    }
  return TRUE;
}

/* The values a primitive gave, as they come. */
typedef struct {
  const DerlPrimitiveVTable *vt;
  guint64 n;
  double lo, hi;
  char *bad, *impure;
} Values;

static void
values_add (Values *v, const DerlTrajectory *traj, const char *where)
{
  double x = v->vt->compute (traj), y = v->vt->compute (traj);
  v->n++;
  if (!isfinite (x))
    {
      if (!v->bad)
        v->bad = g_strdup_printf ("%s (%u steps): the value is %s", where, traj->length,
                                  isnan (x) ? "nan" : x > 0 ? "+inf" : "-inf");
      return;
    }
  if (memcmp (&x, &y, sizeof x) != 0 && !v->impure)
    v->impure = g_strdup_printf ("%s: %.17g, then %.17g", where, x, y);
  v->lo = MIN (v->lo, x);
  v->hi = MAX (v->hi, x);
}

/* Random episodes of @env on every split, fed to the primitive. */
static void
values_from_env (Values *v, DerlEnv *env, const guint *index, guint n_sig, guint episodes, GError **error)
{
  const DerlEnvSpec *spec = derl_env_get_spec (env);
  for (guint split = 0; split < spec->n_splits && !v->bad; split++)
    for (guint e = 0; e < episodes && !v->bad; e++)
      {
        Trace t;
        trace_init (&t, FALSE, TRUE);
        gboolean ok = run_episode (env, split, e, e, &t, error);
        if (ok && t.length > 0)
          {
            const double *columns[DERL_PRIMITIVE_MAX_SIGNALS];
            g_autofree double *cols = g_new0 (double, (gsize) MAX (n_sig, 1) * t.length);
            for (guint k = 0; k < n_sig; k++)
              {
                for (guint i = 0; i < t.length; i++)
                  cols[(gsize) k * t.length + i] =
                    g_array_index (t.signals, double, (gsize) i * spec->n_signals + index[k]);
                columns[k] = cols + (gsize) k * t.length;
              }
            DerlTrajectory traj = { t.length, spec->max_steps, t.success, t.terminated, t.truncated, t.env_return,
                                    columns, { NULL } };
            g_autofree char *where = g_strdup_printf ("split '%s', task %u", spec->splits[split].name, e);
            values_add (v, &traj, where);
          }
        trace_clear (&t);
        if (!ok)
          return;
      }
}

/* Synthetic trajectories for a primitive no env here feeds: lengths 1 to
 * 64, signals all 0, all 1, or uniform in [0, 1), both outcomes. */
static void
values_synthetic (Values *v, guint n_sig, guint episodes)
{
  DerlRng rng;
  derl_rng_init (&rng, CHECK_SEED, DERL_RNG_STREAM_EPISODE, 0, 1, 0);
  for (guint e = 0; e < 3 * episodes && !v->bad; e++)
    {
      guint length = e < 3 ? 1 : 1 + derl_rng_below (&rng, 64), max_steps = 64;
      g_autofree double *cols = g_new0 (double, (gsize) MAX (n_sig, 1) * length);
      const double *columns[DERL_PRIMITIVE_MAX_SIGNALS];
      for (gsize i = 0; i < (gsize) n_sig * length; i++)
        cols[i] = e % 3 == 0 ? 0.0 : e % 3 == 1 ? 1.0 : derl_rng_uniform (&rng);
      for (guint k = 0; k < n_sig; k++)
        columns[k] = cols + (gsize) k * length;
      gboolean success = e % 2, truncated = !success && length == max_steps;
      DerlTrajectory traj = { length, max_steps, success, success, truncated, success ? 1.0 : 0.0, columns,
                              { NULL } };
      g_autofree char *where = g_strdup_printf ("synthetic trajectory %u", e);
      values_add (v, &traj, where);
    }
}

static int
check_primitive (const DerlRegistry *registry, const DerlFeature *feature, char **sets, const char *env_name,
                 guint episodes, gboolean json)
{
  const DerlPrimitiveVTable *vt = derl_feature_get_primitive_vtable (feature);
  g_autoptr (GError) error = NULL;
  g_autoptr (DerlEnv) env = NULL;
  const DerlFeature *env_feature = NULL, *chosen = NULL;
  guint index[DERL_PRIMITIVE_MAX_SIGNALS] = { 0 }, n_sig = 0;
  const char *missing = NULL;
  Values v = { vt, 0, INFINITY, -INFINITY, NULL, NULL };

  while (vt->signals && vt->signals[n_sig])
    n_sig++;
  if (env_name)
    {
      env_feature = derl_registry_find (registry, DERL_FEATURE_ENV, env_name);
      if (!env_feature)
        {
          g_autofree char *near = derl_registry_suggest (registry, DERL_FEATURE_ENV, env_name);
          fprintf (stderr, "derl-inspect: --env: no env named '%s'%s%s%s\n", env_name,
                   near ? "; did you mean '" : "", near ? near : "", near ? "'?" : "");
          return INSPECT_EXIT_BAD_INPUT;
        }
    }
  /* the named env, else the first one that emits the signals */
  for (guint i = 0; !env && i < derl_registry_get_n_features (registry); i++)
    {
      const DerlFeature *f = env_feature ? env_feature : derl_registry_get_feature (registry, i);
      if (derl_feature_get_kind (f) != DERL_FEATURE_ENV)
        continue;
      g_autoptr (DerlParams) params = env_params (f, env_feature ? sets : NULL, &error);
      if (!params && env_feature)
        {
          fprintf (stderr, "derl-inspect: %s\n", error->message);
          return INSPECT_EXIT_BAD_INPUT;
        }
      g_clear_error (&error);
      g_autoptr (DerlEnv) candidate = params ? derl_env_new (f, params, env_feature ? &error : NULL) : NULL;
      missing = NULL;
      if (candidate && (binds (vt, derl_env_get_spec (candidate), index, &missing) || env_feature))
        {
          env = g_steal_pointer (&candidate);
          chosen = f;
        }
      if (env_feature)
        break;
    }

  Report report = { g_array_new (FALSE, FALSE, sizeof (CheckRow)) };
  g_array_set_clear_func (report.rows, row_clear);
  g_autofree char *names = vt->signals ? g_strjoinv (", ", (char **) vt->signals) : g_strdup ("");
  if (env_feature && !env)
    report_add (&report, "env", CHECK_FAIL, "%s", error->message);
  else if (env && missing)
    report_add (&report, "env", CHECK_FAIL, "env '%s' does not emit the signal '%s'", derl_feature_get_name (chosen),
                missing);
  else if (env)
    {
      report_add (&report, "env", CHECK_PASS, "random episodes of env '%s'%s%s%s", derl_feature_get_name (chosen),
                  n_sig ? ", which emits " : "", names, n_sig ? "" : " (it reads no signal)");
      values_from_env (&v, env, index, n_sig, episodes, &error);
    }
  else
    {
      report_add (&report, "env", CHECK_SKIP, "no env here emits %s; synthetic trajectories instead (signals all 0, "
                  "all 1, uniform in [0, 1))", names);
      values_synthetic (&v, n_sig, episodes);
    }
  if (env_feature && !env)
    ;
  else if (error)
    report_add (&report, "finite", CHECK_FAIL, "the env broke its contract: %s", error->message);
  else if (v.bad)
    report_add (&report, "finite", CHECK_FAIL, "%s", v.bad);
  else if (!(env && missing))
    report_add (&report, "finite", CHECK_PASS, "%" G_GUINT64_FORMAT " trajectories, values in [%.6g, %.6g]", v.n,
                v.n ? v.lo : 0.0, v.n ? v.hi : 0.0);
  if (v.impure)
    report_add (&report, "pure", CHECK_FAIL, "the same trajectory gave two values: %s", v.impure);
  else if (v.n && !v.bad && !error)
    report_add (&report, "pure", CHECK_PASS, "each trajectory gave the same value twice");
  int status = report_print (&report, "primitive", derl_feature_get_name (feature), json);
  g_array_unref (report.rows);
  g_free (v.bad);
  g_free (v.impure);
  return status;
}

int
inspect_check (const DerlRegistry *registry, const char *name, char **sets, const char *env_name, guint episodes,
               gboolean json)
{
  const DerlFeature *f = derl_registry_find (registry, DERL_FEATURE_ENV, name);
  if (f)
    {
      if (env_name)
        {
          fprintf (stderr, "derl-inspect: --env goes with the check of a primitive, not of env '%s'\n", name);
          return INSPECT_EXIT_BAD_INPUT;
        }
      return check_env (f, sets, episodes, json);
    }
  f = derl_registry_find (registry, DERL_FEATURE_PRIMITIVE, name);
  if (f)
    {
      if (sets && sets[0] && !env_name)
        {
          fprintf (stderr, "derl-inspect: --set goes with --env NAME when checking a primitive\n");
          return INSPECT_EXIT_BAD_INPUT;
        }
      return check_primitive (registry, f, sets, env_name, episodes, json);
    }
  f = derl_registry_find_any (registry, name);
  if (f)
    {
      fprintf (stderr, "derl-inspect: --check: '%s' is %s %s; --check takes an env or a primitive\n", name,
               derl_feature_get_kind (f) == DERL_FEATURE_OPTIMIZER ? "an" : "a",
               derl_feature_kind_name (derl_feature_get_kind (f)));
      return INSPECT_EXIT_BAD_INPUT;
    }
  g_autofree char *near = derl_registry_suggest (registry, -1, name);
  fprintf (stderr, "derl-inspect: --check: no env or primitive named '%s'%s%s%s\n", name,
           near ? "; did you mean '" : "", near ? near : "", near ? "'?" : "");
  return INSPECT_EXIT_BAD_INPUT;
}
