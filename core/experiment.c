/* derl - experiment files: reading, validating against specs, resolving. */
#include "config.h"

#include <string.h>
#include <glib/gstdio.h>
#include "derl-private.h"

/* ---- the core's groups and keys (documented in derl-experiment(5)) ---- */

static const char *const mode_choices[] = { "evaluate", "train", "derl", "derl-pop", "random", "fixed", NULL };
static const char *const activation_choices[] = { "tanh", "relu", NULL };

static const DerlParamSpec experiment_specs[] = {
  DERL_PARAM_ENUM ("mode", "evaluate", mode_choices,
                   "what the run does: 'evaluate' runs episodes of a policy and summarises them; "
                   "'train' trains a policy with an optimizer; 'derl' searches for a reward formula with "
                   "the bilevel loop, 'derl-pop' too with warm-started inner policies, 'random' samples "
                   "formulas at random with the same budget, 'fixed' trains the [reward] formula as they "
                   "train their best"),
  DERL_PARAM_INT_RANGE ("seed", "0", 0, 9007199254740991.0,
                        "the run's seed; every random stream of the run derives from it"),
  DERL_PARAM_INT_RANGE ("threads", "0", 0, 1024,
                        "worker threads, 0 for one per core; the run's numbers do not depend on it"),
  DERL_PARAM_END
};

static const DerlParamSpec evaluate_specs[] = {
  DERL_PARAM_INT_RANGE ("episodes", "100", 1, 10000000, "how many episodes to run"),
  DERL_PARAM_STRING ("split", "test", "mode evaluate: the env's task split to draw tasks from (see derl-inspect ENV)"),
  DERL_PARAM_LIST ("splits", "", NULL,
                   "mode train: after training, evaluate the policy (see greedy) on each of these splits "
                   "(episodes each), e.g. test_seen,test_unseen"),
  DERL_PARAM_LIST ("baselines", "", NULL,
                   "bilevel modes: reward formulas over the same primitives to put through the final stage as "
                   "the found formula is (same budget, runs and seeds) and compare with it, ';'-separated, e.g. g1"),
  DERL_PARAM_STRING ("policy", "",
                     "a checkpoint (policy.ckpt of a train run) to run (see greedy); "
                     "empty: the uniform-random policy"),
  DERL_PARAM_BOOL ("greedy", "true",
                   "evaluated policies act greedily (the most probable admissible action); false: they "
                   "sample from their distribution with each episode's stream (train and bilevel scores too)"),
  DERL_PARAM_END
};

static const DerlParamSpec train_specs[] = {
  DERL_PARAM_INT_RANGE ("total_steps", "500000", 1, 1e12, "environment steps to train for"),
  DERL_PARAM_INT_RANGE ("eval_interval", "0", 0, 1e12,
                        "evaluate every this many steps (0: only at the end)"),
  DERL_PARAM_INT_RANGE ("eval_episodes", "100", 1, 10000000,
                        "episodes per evaluation (greedy actions unless [evaluate] greedy = false)"),
  DERL_PARAM_STRING ("train_split", "train", "the env's split to train on"),
  DERL_PARAM_STRING ("eval_split", "val", "the env's split to evaluate on"),
  /* No default of its own: the env's (DerlEnvSpec.target_return), if any. */
  { "target_return", DERL_PARAM_DOUBLE, 0, NULL, 0, 0, NULL,
    "the summary reports the first step at which the mean of the last 20 training returns reached "
    "this (default: the env's solved threshold, e.g. 475 for cartpole; none for most envs)", { NULL } },
  DERL_PARAM_END
};

static const DerlParamSpec policy_specs[] = {
  DERL_PARAM_LIST ("hidden", "64,64", NULL, "hidden layer widths, e.g. 64,64 (at most 8 layers)"),
  DERL_PARAM_ENUM ("activation", "tanh", activation_choices, "the hidden layers' nonlinearity"),
  DERL_PARAM_END
};

static const DerlParamSpec reward_specs[] = {
  DERL_PARAM_STRING ("formula", "",
                     "the trajectory reward: a formula over the primitives g1 .. gK bound in [primitives], "
                     "e.g. g1 + 0.5*g2, placed on each episode's last step; empty: the env's own reward"),
  DERL_PARAM_END
};

static const DerlParamSpec meta_specs[] = {
  DERL_PARAM_INT_RANGE ("outer_steps", "10", 1, 100000, "outer steps: Meta-Optimizer updates"),
  DERL_PARAM_INT_RANGE ("group_size", "8", 2, 256,
                        "formulas per outer step (the GRPO group), each trained by an inner loop"),
  DERL_PARAM_INT_RANGE ("max_tokens", "20", 3, DERL_FORMULA_GRAMMAR_MAX_TOKENS, "the most tokens of a formula"),
  { "temperature", DERL_PARAM_DOUBLE, DERL_PARAM_HAS_MIN | DERL_PARAM_HAS_MAX, "1", 0.01, 100, NULL,
    "sampling temperature of the Meta-Optimizer", { NULL } },
  DERL_PARAM_DOUBLE_RANGE ("learning_rate", "3e-3", 0, 1, "Adam's learning rate of the Meta-Optimizer's GRPO"),
  DERL_PARAM_INT_RANGE ("update_epochs", "4", 1, 1000, "passes over an outer step's formulas per update"),
  DERL_PARAM_DOUBLE_RANGE ("clip_coef", "0.2", 0, 10, "GRPO's clipping epsilon"),
  DERL_PARAM_DOUBLE_RANGE ("beta", "0.001", 0, 100, "weight of the k3 KL to the cold-started model"),
  DERL_PARAM_LIST ("hidden", "64,64", NULL, "the Meta-Optimizer's hidden layer widths"),
  DERL_PARAM_STRING ("cold_start", "",
                     "the formulas of the supervised warm start, one per line; empty: those installed "
                     "with derl (formulas/cold-start.txt)"),
  DERL_PARAM_INT_RANGE ("cold_start_epochs", "200", 0, 100000,
                        "passes of the warm start over the cold-start formulas' tokens, one Adam step per batch "
                        "of tokens"),
  DERL_PARAM_DOUBLE_RANGE ("cold_start_lr", "3e-3", 0, 1, "the warm start's learning rate"),
  DERL_PARAM_INT_RANGE ("final_candidates", "3", 1, 64,
                        "after the search, the formulas with the best mean validation score that are trained "
                        "again, final_runs times each, to choose the final formula"),
  DERL_PARAM_INT_RANGE ("final_runs", "3", 1, 64,
                        "trainings per final candidate (afresh; derl-pop: from its population's policy) and per "
                        "given formula in mode fixed and [evaluate] baseline (afresh); the final policy is the one "
                        "of them with the best validation score"),
  DERL_PARAM_END
};

static const DerlParamSpec env_name_specs[] = {
  { "name", DERL_PARAM_STRING, DERL_PARAM_REQUIRED, NULL, 0, 0, NULL,
    "the env this group configures (see derl-inspect); its own keys follow", { NULL } },
  DERL_PARAM_END
};

static const DerlParamSpec optimizer_name_specs[] = {
  DERL_PARAM_STRING ("name", "ppo", "the optimizer this group configures (see derl-inspect); its own keys follow"),
  DERL_PARAM_END
};

static const DerlParamSpec backend_name_specs[] = {
  DERL_PARAM_STRING ("name", "cpu",
                     "the tensor backend this group configures (see derl-inspect), or auto: cudnn where it can "
                     "run here, else cpu; its own keys follow"),
  DERL_PARAM_END
};

/* [backend] name = auto tries these in order and picks the first that can
 * be created here (with its default parameters); cpu always can. */
#define AUTO_BACKEND "auto"
static const char *const auto_backends[] = { "cudnn", "cpu" };

/* Which modes a group belongs to. */
#define MODE_EVALUATE (1 << 0)
#define MODE_TRAIN (1 << 1)
#define MODE_BILEVEL (1 << 2) /* derl, derl-pop, random, fixed */
#define MODE_TRAINING (MODE_TRAIN | MODE_BILEVEL)
#define MODE_ALL (MODE_EVALUATE | MODE_TRAIN | MODE_BILEVEL)

typedef struct {
  const char *name;
  const DerlParamSpec *specs;
  int kind;                 /* DerlFeatureKind for plugin groups, else -1 */
  const char *default_name; /* the feature a plugin group selects when the file names none */
  guint modes;              /* the modes that use it */
} GroupInfo;

static const GroupInfo groups[] = {
  { "experiment", experiment_specs, -1, NULL, MODE_ALL },
  { "evaluate", evaluate_specs, -1, NULL, MODE_ALL },
  { "train", train_specs, -1, NULL, MODE_TRAINING },
  { "policy", policy_specs, -1, NULL, MODE_TRAINING },
  /* [primitives] has no fixed keys: g1 = NAME, g2 = NAME, ... */
  { "primitives", NULL, -1, NULL, MODE_TRAINING },
  { "reward", reward_specs, -1, NULL, MODE_TRAINING },
  { "meta", meta_specs, -1, NULL, MODE_BILEVEL },
  { "env", env_name_specs, DERL_FEATURE_ENV, NULL, MODE_ALL },
  { "optimizer", optimizer_name_specs, DERL_FEATURE_OPTIMIZER, "ppo", MODE_TRAINING },
  { "backend", backend_name_specs, DERL_FEATURE_BACKEND, "cpu", MODE_ALL },
};

static const char *const group_names[] = { "experiment", "evaluate", "train", "policy", "primitives", "reward",
                                           "meta", "env", "optimizer", "backend", NULL };

static const GroupInfo *
find_group (const char *name)
{
  for (guint i = 0; i < G_N_ELEMENTS (groups); i++)
    if (strcmp (groups[i].name, name) == 0)
      return &groups[i];
  return NULL;
}

const char *const *
derl_experiment_get_core_groups (void)
{
  return group_names;
}

const DerlParamSpec *
derl_experiment_get_core_specs (const char *group)
{
  const GroupInfo *info = find_group (group);
  return info ? info->specs : NULL;
}

/* ---- the experiment ---- */

struct _DerlExperiment {
  char *label;
  char *source;    /* a resolved experiment's: the file it was resolved from, else NULL */
  guint mode;      /* MODE_EVALUATE, MODE_TRAIN or MODE_BILEVEL */
  gboolean present[G_N_ELEMENTS (groups)];
  DerlParams *params[G_N_ELEMENTS (groups)];
  const DerlFeature *features[G_N_ELEMENTS (groups)];
  guint n_prims;
  const DerlFeature *prims[DERL_EXPERIMENT_MAX_PRIMITIVES];
  DerlFormula *formula;
  char *backend_note; /* how [backend] name = auto was resolved, or NULL */
  guint n_baselines;
  DerlFormula *baselines[DERL_EXPERIMENT_MAX_BASELINES];
  const DerlFeature *meta_optimizer; /* derl, derl-pop: trains the Meta-Optimizer */
};

void
derl_experiment_free (DerlExperiment *experiment)
{
  if (!experiment)
    return;
  for (guint i = 0; i < G_N_ELEMENTS (groups); i++)
    derl_params_free (experiment->params[i]);
  derl_formula_free (experiment->formula);
  g_free (experiment->backend_note);
  for (guint i = 0; i < experiment->n_baselines; i++)
    derl_formula_free (experiment->baselines[i]);
  g_free (experiment->label);
  g_free (experiment->source);
  g_free (experiment);
}

const char *
derl_experiment_get_label (const DerlExperiment *experiment)
{
  return experiment->label;
}

const DerlParams *
derl_experiment_get_params (const DerlExperiment *experiment, const char *group)
{
  const GroupInfo *info = find_group (group);
  return info ? experiment->params[info - groups] : NULL;
}

const DerlFeature *
derl_experiment_get_feature (const DerlExperiment *experiment, DerlFeatureKind kind)
{
  for (guint i = 0; i < G_N_ELEMENTS (groups); i++)
    if (groups[i].kind == (int) kind)
      return experiment->features[i];
  return NULL;
}

guint
derl_experiment_get_threads (const DerlExperiment *experiment)
{
  gint64 n = derl_params_get_int (experiment->params[0], "threads");
  return n > 0 ? (guint) n : (guint) MAX (g_get_num_processors (), 1);
}

guint
derl_experiment_get_n_primitives (const DerlExperiment *experiment)
{
  return experiment->n_prims;
}

const DerlFeature *
derl_experiment_get_primitive (const DerlExperiment *experiment, guint index)
{
  g_return_val_if_fail (index < experiment->n_prims, NULL);
  return experiment->prims[index];
}

const DerlFormula *
derl_experiment_get_formula (const DerlExperiment *experiment)
{
  return experiment->formula;
}

const char *
derl_experiment_get_backend_note (const DerlExperiment *experiment)
{
  return experiment->backend_note;
}

/* ---- loading ---- */

typedef struct {
  DerlRegistry *registry;
  const char *label;
  GKeyFile *keys;
  GHashTable *overridden; /* "group.key" -> the --set text */
  GPtrArray *errors;      /* char * */
  int first_code;
  gboolean bad_primitives; /* [primitives] had errors: the formula is not checked */
} Loader;

static void G_GNUC_PRINTF (3, 4)
add_error (Loader *l, int code, const char *format, ...)
{
  va_list args;
  va_start (args, format);
  g_ptr_array_add (l->errors, g_strdup_vprintf (format, args));
  va_end (args);
  if (l->errors->len == 1)
    l->first_code = code;
}

/* Where a value came from: the file, or the --set that replaced it. */
static char *
origin (Loader *l, const char *group, const char *key)
{
  g_autofree char *id = g_strdup_printf ("%s.%s", group, key);
  const char *set = g_hash_table_lookup (l->overridden, id);
  if (!set)
    return g_strdup (l->label);
  g_autofree char *quoted = _derl_quote (set, -1);
  return g_strdup_printf ("--set %s", quoted);
}

static gboolean
check_text (Loader *l, const char *data, gsize length)
{
  if (length > DERL_EXPERIMENT_MAX_SIZE)
    {
      add_error (l, DERL_EXPERIMENT_ERROR_READ,
                 "%s: too large for an experiment file (%" G_GSIZE_FORMAT " bytes; at most %d)",
                 l->label, length, DERL_EXPERIMENT_MAX_SIZE);
      return FALSE;
    }
  const char *nul = memchr (data, '\0', length);
  if (nul)
    {
      add_error (l, DERL_EXPERIMENT_ERROR_READ,
                 "%s: not a text file (byte %" G_GSIZE_FORMAT " is NUL)", l->label,
                 (gsize) (nul - data));
      return FALSE;
    }
  const char *bad = NULL;
  if (!g_utf8_validate (data, (gssize) length, &bad))
    {
      gsize line = 1;
      for (const char *p = data; p < bad; p++)
        line += (*p == '\n');
      add_error (l, DERL_EXPERIMENT_ERROR_READ, "%s:%" G_GSIZE_FORMAT ": not valid UTF-8 text",
                 l->label, line);
      return FALSE;
    }
  return TRUE;
}

/* What GKeyFile would take silently: a key given twice in a group (the
 * last would win, across repeated [group] lines too) and key[locale]
 * lines (never validated).  Refused, naming the lines.  Lines GKeyFile
 * cannot parse are left to it. */
static gboolean
check_keys (Loader *l, const char *data, gsize length)
{
  g_autoptr (GHashTable) seen = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL); /* "group\nkey" -> line */
  g_autofree char *group = NULL;
  guint errors = l->errors->len;
  const char *p = data, *end = data + length;

  for (guint line = 1; p < end; line++)
    {
      const char *nl = memchr (p, '\n', (gsize) (end - p));
      const char *stop = nl ? nl : end;
      const char *a = p;
      p = nl ? nl + 1 : end;
      while (a < stop && g_ascii_isspace (*a))
        a++;
      const char *b = stop;
      while (b > a && g_ascii_isspace (b[-1]))
        b--;
      if (a == b || *a == '#')
        continue;
      g_autofree char *text = _derl_quote (a, b - a);
      if (*a == '[')
        {
          const char *close = b[-1] == ']' ? b - 1 : NULL;
          g_free (group);
          group = close && close > a + 1 && !memchr (a + 1, ']', (gsize) (close - a - 1))
                    ? g_strndup (a + 1, (gsize) (close - a - 1)) : NULL;
          if (!group)
            {
              add_error (l, DERL_EXPERIMENT_ERROR_PARSE, "%s:%u: not a valid experiment file: '%s' is not a group line ([NAME])", l->label,
                         line, text);
              break;
            }
          continue;
        }
      const char *eq = memchr (a, '=', (gsize) (b - a));
      if (!eq || eq == a)
        {
          add_error (l, DERL_EXPERIMENT_ERROR_PARSE,
                     "%s:%u: not a valid experiment file: '%s' is neither a [group], a KEY = VALUE line nor a # comment", l->label, line, text);
          break;
        }
      if (!group)
        {
          add_error (l, DERL_EXPERIMENT_ERROR_PARSE, "%s:%u: not a valid experiment file: '%s': a key before any [group]", l->label, line, text);
          break;
        }
      const char *k = eq;
      while (k > a && g_ascii_isspace (k[-1]))
        k--;
      g_autofree char *key = g_strndup (a, (gsize) (k - a));
      g_autofree char *qkey = _derl_quote (key, -1);
      g_autofree char *qgroup = _derl_quote (group, -1);
      if (strchr (key, '['))
        {
          add_error (l, DERL_EXPERIMENT_ERROR_PARSE,
                     "%s:%u: [%s] %s: localized keys (KEY[LOCALE]) are not supported; give the key once, "
                     "without a locale", l->label, line, qgroup, qkey);
          continue;
        }
      /* The escapes a value may hold: \s \n \t \r \\ (GKeyFile's; it
       * reports others itself, but not always cleanly). */
      for (const char *e = eq + 1; e < b; e++)
        if (*e == '\\')
          {
            if (e + 1 < b && strchr ("sntr\\", e[1]))
              {
                e++;
                continue;
              }
            g_autofree char *escaped = _derl_quote (e + 1, e + 1 < b ? 1 : 0);
            if (e + 1 == b)
              add_error (l, DERL_EXPERIMENT_ERROR_PARSE, "%s:%u: [%s] %s: the value ends with an escape character '\\'",
                         l->label, line, qgroup, qkey);
            else
              add_error (l, DERL_EXPERIMENT_ERROR_PARSE,
                         "%s:%u: [%s] %s: '\\%s' is not an escape (a value may hold \\s \\n \\t \\r and \\\\)",
                         l->label, line, qgroup, qkey, escaped);
            break;
          }
      char *id = g_strdup_printf ("%s\n%s", group, key);
      guint first = GPOINTER_TO_UINT (g_hash_table_lookup (seen, id));
      if (first)
        {
          add_error (l, DERL_EXPERIMENT_ERROR_PARSE,
                     "%s:%u: [%s] %s: given twice (first at line %u); give each key once", l->label, line, qgroup,
                     qkey, first);
          g_free (id);
        }
      else
        g_hash_table_insert (seen, id, GUINT_TO_POINTER (line));
    }
  return l->errors->len == errors;
}

/* A group or key name an override may give: UTF-8, not empty, without
 * control bytes or the characters of the file's syntax. */
static gboolean
override_name_valid (const char *name)
{
  if (!*name || !g_utf8_validate (name, -1, NULL))
    return FALSE;
  for (const char *p = name; *p; p++)
    if (g_ascii_iscntrl (*p) || strchr ("[]=#", *p))
      return FALSE;
  return TRUE;
}

/* "-group.key": removes the key from the file.  A key the file does not
 * have is an error (a misspelt name would otherwise go unnoticed), and so
 * is a key that a --set also names. */
static void
apply_unset (Loader *l, const char *const *overrides, const char *unset)
{
  const char *dot = strchr (unset, '.');
  if (!dot || dot == unset || !dot[1] || strchr (unset, '='))
    {
      g_autofree char *quoted = _derl_quote (unset, -1);
      add_error (l, DERL_EXPERIMENT_ERROR_PARSE, "--unset %s: expected GROUP.KEY, e.g. optimizer.gae_lambda",
                 quoted);
      return;
    }
  g_autofree char *group = g_strndup (unset, (gsize) (dot - unset));
  g_autofree char *key = g_strdup (dot + 1);
  g_strstrip (group);
  g_strstrip (key);
  if (!override_name_valid (group) || !override_name_valid (key))
    {
      g_autofree char *quoted = _derl_quote (unset, -1);
      add_error (l, DERL_EXPERIMENT_ERROR_PARSE, "--unset %s: not a valid group or key name", quoted);
      return;
    }
  g_autofree char *qgroup = _derl_quote (group, -1);
  g_autofree char *qkey = _derl_quote (key, -1);
  for (guint i = 0; overrides[i]; i++)
    {
      const char *set = overrides[i], *eq = strchr (set, '=');
      const char *sep = eq ? memchr (set, '.', (gsize) (eq - set)) : NULL;
      if (set[0] == '-' || !sep)
        continue;
      g_autofree char *set_group = g_strstrip (g_strndup (set, (gsize) (sep - set)));
      g_autofree char *set_key = g_strstrip (g_strndup (sep + 1, (gsize) (eq - sep - 1)));
      if (strcmp (set_group, group) == 0 && strcmp (set_key, key) == 0)
        {
          g_autofree char *qset = _derl_quote (set, -1);
          add_error (l, DERL_EXPERIMENT_ERROR_PARSE, "--unset %s.%s: the key is also given with --set %s", qgroup,
                     qkey, qset);
          return;
        }
    }
  if (!g_key_file_has_group (l->keys, group))
    {
      add_error (l, DERL_EXPERIMENT_ERROR_UNKNOWN_KEY, "--unset %s.%s: %s has no group [%s]", qgroup, qkey,
                 l->label, qgroup);
      return;
    }
  if (!g_key_file_has_key (l->keys, group, key, NULL))
    {
      gsize n = 0;
      g_auto (GStrv) keys = g_key_file_get_keys (l->keys, group, &n, NULL);
      const char *near = _derl_suggest_closest (key, (const char *const *) keys, n);
      g_autofree char *hint = near ? g_strdup_printf ("; did you mean '%s'?", near) : g_strdup ("");
      add_error (l, DERL_EXPERIMENT_ERROR_UNKNOWN_KEY, "--unset %s.%s: [%s] of %s has no key '%s'%s", qgroup,
                 qkey, qgroup, l->label, qkey, hint);
      return;
    }
  g_key_file_remove_key (l->keys, group, key, NULL);
}

static void
apply_overrides (Loader *l, const char *const *overrides)
{
  /* Removals first: a --set never names a removed key. */
  for (guint i = 0; overrides && overrides[i]; i++)
    if (overrides[i][0] == '-')
      apply_unset (l, overrides, overrides[i] + 1);
  for (guint i = 0; overrides && overrides[i]; i++)
    {
      const char *set = overrides[i];
      if (set[0] == '-')
        continue;
      const char *eq = strchr (set, '=');
      const char *dot = eq ? memchr (set, '.', (gsize) (eq - set)) : NULL;
      g_autofree char *quoted = _derl_quote (set, -1);
      if (!eq || !dot || dot == set || dot + 1 == eq)
        {
          add_error (l, DERL_EXPERIMENT_ERROR_PARSE,
                     "--set %s: expected GROUP.KEY=VALUE, e.g. experiment.seed=3", quoted);
          continue;
        }
      g_autofree char *group = g_strndup (set, (gsize) (dot - set));
      g_autofree char *key = g_strndup (dot + 1, (gsize) (eq - dot - 1));
      g_strstrip (group);
      g_strstrip (key);
      if (!override_name_valid (group) || !override_name_valid (key))
        {
          add_error (l, DERL_EXPERIMENT_ERROR_PARSE, "--set %s: not a valid group or key name", quoted);
          continue;
        }
      if (!g_utf8_validate (eq + 1, -1, NULL) || strchr (eq + 1, '\n'))
        {
          g_autofree char *qk = _derl_quote (set, eq - set);
          add_error (l, DERL_EXPERIMENT_ERROR_INVALID_VALUE, "--set %s=...: the value is not one line of UTF-8 text",
                     qk);
          continue;
        }
      g_key_file_set_string (l->keys, group, key, eq + 1);
      g_hash_table_insert (l->overridden, g_strdup_printf ("%s.%s", group, key), g_strdup (set));
    }
}

static char *
list_features (DerlRegistry *registry, int kind)
{
  GString *s = g_string_new (NULL);
  for (guint i = 0; i < derl_registry_get_n_features (registry); i++)
    {
      const DerlFeature *f = derl_registry_get_feature (registry, i);
      if ((int) derl_feature_get_kind (f) == kind)
        g_string_append_printf (s, "%s%s", s->len ? ", " : "", derl_feature_get_name (f));
    }
  if (!s->len)
    g_string_append (s, "none found; see derl-inspect");
  return g_string_free (s, FALSE);
}

/* The plugins that failed to load, other than @except, each as its file's
 * base name and its reason, with the file's path shortened the same way and
 * without the advice after it ("; not loaded: gridx.so: cannot open plugin:
 * gridx.so: undefined symbol: foo"), or "" when every plugin loaded. */
static char *
list_unavailable (DerlRegistry *registry, const DerlPlugin *except)
{
  GString *s = g_string_new (NULL);
  for (guint i = 0; i < derl_registry_get_n_plugins (registry); i++)
    {
      const DerlPlugin *p = derl_registry_get_plugin (registry, i);
      if (p == except || derl_plugin_is_available (p) || !derl_plugin_get_error (p))
        continue;
      const char *path = derl_plugin_get_path (p);
      g_autofree char *base = g_path_get_basename (path);
      g_auto (GStrv) parts = g_strsplit (derl_plugin_get_error (p)->message, path, -1);
      g_autofree char *reason = g_strjoinv (base, parts);
      char *advice = strstr (reason, "; ");
      if (advice) /* the reason alone, without the advice that follows it */
        *advice = '\0';
      g_autofree char *prefix = g_strconcat (base, ": ", NULL);
      g_string_append (s, s->len ? "; " : "; not loaded: ");
      if (!g_str_has_prefix (reason, prefix))
        g_string_append (s, prefix);
      g_string_append (s, reason);
    }
  return g_string_free (s, FALSE);
}

/* [backend] name = auto: the first of auto_backends that can be created
 * here; @note says which, and why the ones before it could not. */
static const DerlFeature *
resolve_auto_backend (Loader *l, char **note)
{
  g_autoptr (GString) why = g_string_new (NULL);

  for (guint i = 0; i < G_N_ELEMENTS (auto_backends); i++)
    {
      const char *name = auto_backends[i];
      const DerlFeature *f = derl_registry_find (l->registry, DERL_FEATURE_BACKEND, name);
      const DerlPlugin *p = f ? NULL : derl_registry_find_plugin (l->registry, name);
      g_autoptr (GError) err = NULL;

      if (f)
        {
          g_autoptr (DerlParams) params = derl_params_new (derl_feature_get_params (f));
          g_autoptr (DerlBackend) backend = derl_backend_new (f, params, &err);
          if (backend)
            {
              *note = why->len ? g_strdup_printf ("picked %s (%s)", name, why->str)
                               : g_strdup_printf ("picked %s", name);
              return f;
            }
        }
      g_string_append_printf (why, "%s%s: ", why->len ? "; " : "", name);
      if (err)
        g_string_append (why, err->message);
      else if (p && !derl_plugin_is_available (p))
        g_string_append_printf (why, "plugin unavailable: %s", derl_plugin_get_error (p)->message);
      else
        g_string_append (why, "not installed");
    }
  /* Not reached while cpu is among them: it is built in and always runs. */
  add_error (l, DERL_EXPERIMENT_ERROR_INVALID_VALUE, "%s: [backend] name = auto: no backend can run here (%s)",
             l->label, why->str);
  return NULL;
}

/* Resolves the feature a plugin group selects (or its default), or reports
 * why not. */
static const DerlFeature *
resolve_feature (Loader *l, const GroupInfo *g, char **note)
{
  const char *kind = derl_feature_kind_name ((DerlFeatureKind) g->kind);
  g_autofree char *available = list_features (l->registry, g->kind);
  g_autofree char *name = NULL;
  g_autofree char *where = NULL;

  if (!g_key_file_has_key (l->keys, g->name, "name", NULL))
    {
      if (!g->default_name)
        {
          add_error (l, DERL_EXPERIMENT_ERROR_MISSING_KEY,
                     "%s: [%s] name: missing required key (expected the name of an %s: %s)",
                     l->label, g->name, kind, available);
          return NULL;
        }
      where = g_strdup_printf ("%s (default)", l->label);
      name = g_strdup (g->default_name);
    }
  else
    {
      where = origin (l, g->name, "name");
      name = g_key_file_get_string (l->keys, g->name, "name", NULL);
    }
  if (name)
    g_strstrip (name);
  if (!name || !*name)
    {
      add_error (l, DERL_EXPERIMENT_ERROR_INVALID_VALUE,
                 "%s: [%s] name: empty (expected the name of an %s: %s)", where, g->name, kind,
                 available);
      return NULL;
    }

  if (g->kind == DERL_FEATURE_BACKEND && strcmp (name, AUTO_BACKEND) == 0)
    return resolve_auto_backend (l, note);
  const DerlFeature *f = derl_registry_find (l->registry, (DerlFeatureKind) g->kind, name);
  if (f)
    return f;

  g_autofree char *near = derl_registry_suggest (l->registry, g->kind, name);
  g_autofree char *hint = near ? g_strdup_printf ("; did you mean '%s'?", near) : g_strdup ("");
  const DerlPlugin *p = derl_registry_find_plugin (l->registry, name);
  g_autofree char *why = NULL;
  if (p && !derl_plugin_is_available (p))
    why = g_strdup_printf (" (plugin %s is unavailable: %s)", derl_plugin_get_path (p),
                           derl_plugin_get_error (p)->message);
  g_autofree char *quoted = _derl_quote (name, -1);
  g_autofree char *broken = list_unavailable (l->registry, why ? p : NULL);
  add_error (l, DERL_EXPERIMENT_ERROR_UNKNOWN_FEATURE,
             "%s: [%s] name: no %s named '%s'%s (available: %s%s)%s", where, g->name, kind, quoted,
             hint, available, broken, why ? why : "");
  return NULL;
}

static void
load_group_keys (Loader *l, const GroupInfo *g, const DerlFeature *feature, DerlParams *params)
{
  g_auto (GStrv) keys = g_key_file_get_keys (l->keys, g->name, NULL, NULL);
  const DerlParamSpec *specs = derl_params_get_specs (params);
  g_autofree char *owner = feature ? g_strdup_printf (" for %s '%s'",
                                                      derl_feature_kind_name (feature->kind),
                                                      feature->name)
                                   : g_strdup ("");

  for (guint i = 0; keys && keys[i]; i++)
    {
      g_autofree char *key = _derl_quote (keys[i], -1);
      g_autofree char *where = origin (l, g->name, keys[i]);
      g_autoptr (GError) err = NULL;

      if (feature && strcmp (keys[i], "name") == 0)
        continue;
      if (!derl_param_specs_find (specs, keys[i]))
        {
          g_autoptr (GPtrArray) names = g_ptr_array_new ();
          for (guint j = 0; specs[j].name; j++)
            g_ptr_array_add (names, (gpointer) specs[j].name);
          if (feature)
            g_ptr_array_add (names, "name");
          const char *near = _derl_suggest_closest (keys[i], (const char *const *) names->pdata, names->len);
          g_autofree char *hint = near ? g_strdup_printf ("; did you mean '%s'?", near) : g_strdup ("");
          add_error (l, DERL_EXPERIMENT_ERROR_UNKNOWN_KEY, "%s: [%s] %s: unknown key%s%s", where,
                     g->name, key, owner, hint);
          continue;
        }
      g_autofree char *value = g_key_file_get_string (l->keys, g->name, keys[i], &err);
      /* GKeyFile returns the value *and* an error for a bad escape. */
      if (!value || err)
        {
          add_error (l, DERL_EXPERIMENT_ERROR_INVALID_VALUE, "%s: [%s] %s: %s", where, g->name, key,
                     err->message);
          continue;
        }
      g_autofree char *quoted = _derl_quote (value, -1);
      if (!derl_params_set (params, keys[i], value, &err))
        add_error (l, err->code, "%s: [%s] %s = %s: %s", where, g->name, key, quoted, err->message);
    }

  /* Keys without a default that are not required (only the core's [train]
   * target_return) may stay unset. */
  for (guint j = 0; specs[j].name; j++)
    if (!derl_params_is_set (params, specs[j].name)
        && ((specs[j].flags & DERL_PARAM_REQUIRED) || specs[j].default_value))
      {
        g_autofree char *expected = derl_param_spec_describe (&specs[j]);
        add_error (l, DERL_EXPERIMENT_ERROR_MISSING_KEY,
                   "%s: [%s] %s: missing required key%s (expected %s)", l->label, g->name,
                   specs[j].name, owner, expected);
      }
}

/* gN with N in [1, DERL_EXPERIMENT_MAX_PRIMITIVES], no leading zero; 0 if not. */
static guint
variable_index (const char *key)
{
  guint64 n;
  if (key[0] != 'g' || key[1] == '0' || !g_ascii_string_to_unsigned (key + 1, 10, 1, DERL_EXPERIMENT_MAX_PRIMITIVES,
                                                                      &n, NULL))
    return 0;
  return (guint) n;
}

/* [primitives] g1 = NAME, ...: the formula variables, numbered from g1
 * without gaps, each bound to a primitive feature. */
static void
load_primitives (Loader *l, DerlExperiment *experiment)
{
  g_auto (GStrv) keys = g_key_file_get_keys (l->keys, "primitives", NULL, NULL);
  g_autofree char *available = list_features (l->registry, DERL_FEATURE_PRIMITIVE);
  gboolean complete = TRUE;

  for (guint i = 0; keys && keys[i]; i++)
    {
      g_autofree char *where = origin (l, "primitives", keys[i]);
      g_autofree char *key = _derl_quote (keys[i], -1);
      guint n = variable_index (keys[i]);
      if (n == 0)
        {
          add_error (l, DERL_EXPERIMENT_ERROR_UNKNOWN_KEY,
                     "%s: [primitives] %s: not a formula variable (expected g1, g2, ... up to g%d, each naming "
                     "a primitive)", where, key, DERL_EXPERIMENT_MAX_PRIMITIVES);
          complete = FALSE;
          continue;
        }
      g_autofree char *name = g_key_file_get_string (l->keys, "primitives", keys[i], NULL);
      if (name)
        g_strstrip (name);
      const DerlFeature *f = name && *name ? derl_registry_find (l->registry, DERL_FEATURE_PRIMITIVE, name) : NULL;
      if (!f)
        {
          g_autofree char *near = name ? derl_registry_suggest (l->registry, DERL_FEATURE_PRIMITIVE, name) : NULL;
          g_autofree char *hint = near ? g_strdup_printf ("; did you mean '%s'?", near) : g_strdup ("");
          g_autofree char *quoted = _derl_quote (name ? name : "", -1);
          g_autofree char *broken = list_unavailable (l->registry, NULL);
          add_error (l, DERL_EXPERIMENT_ERROR_UNKNOWN_FEATURE,
                     "%s: [primitives] %s = %s: no primitive named '%s'%s (available: %s%s)", where, key, quoted,
                     quoted, hint, available, broken);
          complete = FALSE;
          continue;
        }
      experiment->prims[n - 1] = f;
      experiment->n_prims = MAX (experiment->n_prims, n);
    }
  for (guint i = 0; complete && i < experiment->n_prims; i++)
    if (!experiment->prims[i])
      {
        add_error (l, DERL_EXPERIMENT_ERROR_MISSING_KEY,
                   "%s: [primitives] g%u: missing (the variables are numbered from g1 without gaps, and g%u is "
                   "bound)", l->label, i + 1, experiment->n_prims);
        complete = FALSE;
      }
  if (!complete)
    {
      experiment->n_prims = 0;
      l->bad_primitives = TRUE;
    }
}

/* [reward] formula: parsed over the bound primitives and checked valid. */
static void
load_formula (Loader *l, DerlExperiment *experiment)
{
  const char *text = derl_params_get_string (derl_experiment_get_params (experiment, "reward"), "formula");
  const char *names[DERL_EXPERIMENT_MAX_PRIMITIVES];
  gboolean outcome_like[DERL_EXPERIMENT_MAX_PRIMITIVES];
  g_autofree char *where = origin (l, "reward", "formula");
  g_autoptr (GError) err = NULL;
  g_autoptr (DerlFormula) formula = NULL;

  if (!text || !*text)
    return;
  for (guint i = 0; i < experiment->n_prims; i++)
    {
      names[i] = derl_feature_get_name (experiment->prims[i]);
      outcome_like[i] = derl_feature_get_primitive_vtable (experiment->prims[i])->outcome_like;
    }
  formula = derl_formula_parse (text, -1, experiment->n_prims, names, &err);
  if (formula && !derl_formula_check (formula, outcome_like, &err))
    g_clear_pointer (&formula, derl_formula_free);
  if (!formula)
    {
      g_autofree char *quoted = _derl_quote (text, -1);
      add_error (l, DERL_EXPERIMENT_ERROR_INVALID_VALUE, "%s: [reward] formula = %s: %s%s", where, quoted,
                 err->message,
                 experiment->n_prims ? "" : " (bind the variables in [primitives], e.g. g1 = success)");
      return;
    }
  experiment->formula = g_steal_pointer (&formula);
}

/* Every bound primitive reads only signals the env emits. */
static void
check_signals (Loader *l, DerlExperiment *experiment, DerlEnv *env)
{
  const DerlEnvSpec *spec = derl_env_get_spec (env);
  const char *env_name = derl_feature_get_name (derl_experiment_get_feature (experiment, DERL_FEATURE_ENV));

  for (guint i = 0; i < experiment->n_prims; i++)
    {
      const DerlPrimitiveVTable *vt = derl_feature_get_primitive_vtable (experiment->prims[i]);
      for (guint k = 0; vt->signals && vt->signals[k]; k++)
        {
          gboolean found = FALSE;
          for (guint s = 0; s < spec->n_signals && !found; s++)
            found = strcmp (spec->signals[s], vt->signals[k]) == 0;
          if (found)
            continue;
          g_autofree char *key = g_strdup_printf ("g%u", i + 1);
          g_autofree char *where = origin (l, "primitives", key);
          g_autoptr (GString) emits = g_string_new (spec->n_signals ? NULL : "none");
          for (guint s = 0; s < spec->n_signals; s++)
            g_string_append_printf (emits, "%s%s", s ? ", " : "", spec->signals[s]);
          add_error (l, DERL_EXPERIMENT_ERROR_INVALID_VALUE,
                     "%s: [primitives] %s = %s: primitive '%s' reads the signal '%s', which env '%s' does not "
                     "emit (its signals: %s)", where, key, derl_feature_get_name (experiment->prims[i]),
                     derl_feature_get_name (experiment->prims[i]), vt->signals[k], env_name, emits->str);
          break;
        }
    }
}

/* A split key names one of the env's splits (@split: its value, or one
 * item of a list). */
static void
check_split_name (Loader *l, DerlExperiment *experiment, DerlEnv *env, const char *group, const char *key,
                  const char *split)
{
  const DerlEnvSpec *spec = derl_env_get_spec (env);
  g_autoptr (GString) names = g_string_new (NULL);
  g_autoptr (GPtrArray) arr = g_ptr_array_new ();

  if (derl_env_find_split (env, split) >= 0)
    return;
  for (guint i = 0; i < spec->n_splits; i++)
    {
      g_string_append_printf (names, "%s%s", i ? ", " : "", spec->splits[i].name);
      g_ptr_array_add (arr, (gpointer) spec->splits[i].name);
    }
  const char *near = _derl_suggest_closest (split, (const char *const *) arr->pdata, arr->len);
  g_autofree char *where = origin (l, group, key);
  g_autofree char *hint = near ? g_strdup_printf ("; did you mean '%s'?", near) : g_strdup ("");
  g_autofree char *quoted = _derl_quote (split, -1);
  add_error (l, DERL_EXPERIMENT_ERROR_INVALID_VALUE,
             "%s: [%s] %s = %s: env '%s' has no such split (expected one of: %s)%s", where, group, key,
             quoted, derl_feature_get_name (derl_experiment_get_feature (experiment, DERL_FEATURE_ENV)),
             names->str, hint);
}

static void
check_split (Loader *l, DerlExperiment *experiment, DerlEnv *env, const char *group, const char *key)
{
  const DerlParams *params = derl_experiment_get_params (experiment, group);
  check_split_name (l, experiment, env, group, key, derl_params_get_string (params, key));
}

static void
check_splits (Loader *l, DerlExperiment *experiment, DerlEnv *env)
{
  const char *const *splits = derl_params_get_list (derl_experiment_get_params (experiment, "evaluate"), "splits");
  guint n = g_strv_length ((char **) splits);

  if (n > DERL_TRAIN_MAX_SPLITS)
    {
      g_autofree char *where = origin (l, "evaluate", "splits");
      add_error (l, DERL_EXPERIMENT_ERROR_INVALID_VALUE, "%s: [evaluate] splits: %u splits (expected at most %d)",
                 where, n, DERL_TRAIN_MAX_SPLITS);
      return;
    }
  for (guint i = 0; i < n; i++)
    check_split_name (l, experiment, env, "evaluate", "splits", splits[i]);
}

/* [policy] hidden: 0 to DERL_POLICY_MAX_LAYERS widths in [1, 65536]. */
static void
check_hidden (Loader *l, DerlExperiment *experiment)
{
  const char *const *hidden = derl_params_get_list (derl_experiment_get_params (experiment, "policy"), "hidden");
  g_autofree char *where = origin (l, "policy", "hidden");
  guint n = g_strv_length ((char **) hidden);

  if (n > DERL_POLICY_MAX_LAYERS)
    add_error (l, DERL_EXPERIMENT_ERROR_INVALID_VALUE,
               "%s: [policy] hidden: %u layers (expected at most %d)", where, n, DERL_POLICY_MAX_LAYERS);
  for (guint i = 0; i < n; i++)
    {
      guint64 width;
      if (!g_ascii_string_to_unsigned (hidden[i], 10, 1, 65536, &width, NULL))
        add_error (l, DERL_EXPERIMENT_ERROR_INVALID_VALUE,
                   "%s: [policy] hidden: '%s' is not a layer width (expected an integer in [1, 65536])",
                   where, hidden[i]);
    }
}

/* The optimizer and the backend accept their values together (an optimizer
 * may refuse a combination; a backend may not run here): make each once. */
static void
check_instances (Loader *l, DerlExperiment *experiment)
{
  const DerlFeature *opt = derl_experiment_get_feature (experiment, DERL_FEATURE_OPTIMIZER);
  const DerlFeature *backend = derl_experiment_get_feature (experiment, DERL_FEATURE_BACKEND);
  g_autoptr (GError) err = NULL;

  if (opt)
    {
      const DerlOptimizerVTable *vt = derl_feature_get_optimizer_vtable (opt);
      gpointer state = NULL;
      if (vt->create (derl_experiment_get_params (experiment, "optimizer"), &state, &err))
        vt->destroy (state);
      else
        add_error (l, DERL_EXPERIMENT_ERROR_INVALID_VALUE, "%s: [optimizer] %s", l->label,
                   err ? err->message : "the optimizer refused its parameters");
      g_clear_error (&err);
    }
  if (backend)
    {
      DerlBackend *b = derl_backend_new (backend, derl_experiment_get_params (experiment, "backend"), &err);
      if (b)
        derl_backend_free (b);
      else
        add_error (l, DERL_EXPERIMENT_ERROR_INVALID_VALUE, "%s: [backend] name = %s: cannot run here: %s",
                   l->label, derl_feature_get_name (backend), err ? err->message : "no reason given");
    }
}

/* [evaluate] baselines: formulas over the bound primitives, each checked. */
static void
load_baselines (Loader *l, DerlExperiment *experiment)
{
  const char *const *texts = derl_params_get_list (derl_experiment_get_params (experiment, "evaluate"), "baselines");
  const char *names[DERL_EXPERIMENT_MAX_PRIMITIVES];
  gboolean outcome_like[DERL_EXPERIMENT_MAX_PRIMITIVES];
  g_autofree char *where = origin (l, "evaluate", "baselines");
  guint n = g_strv_length ((char **) texts);

  if (n > DERL_EXPERIMENT_MAX_BASELINES)
    {
      add_error (l, DERL_EXPERIMENT_ERROR_INVALID_VALUE, "%s: [evaluate] baselines: %u formulas (expected at most %d)",
                 where, n, DERL_EXPERIMENT_MAX_BASELINES);
      return;
    }
  for (guint i = 0; i < experiment->n_prims; i++)
    {
      names[i] = derl_feature_get_name (experiment->prims[i]);
      outcome_like[i] = derl_feature_get_primitive_vtable (experiment->prims[i])->outcome_like;
    }
  for (guint i = 0; i < n; i++)
    {
      g_autoptr (GError) err = NULL;
      DerlFormula *f = derl_formula_parse (texts[i], -1, experiment->n_prims, names, &err);
      if (f && !derl_formula_check (f, outcome_like, &err))
        g_clear_pointer (&f, derl_formula_free);
      if (!f)
        {
          g_autofree char *quoted = _derl_quote (texts[i], -1);
          add_error (l, DERL_EXPERIMENT_ERROR_INVALID_VALUE, "%s: [evaluate] baselines = %s: %s", where, quoted,
                     err->message);
          continue;
        }
      experiment->baselines[experiment->n_baselines++] = f;
    }
}

/* [meta] cold_start: a readable text file within the limits, checked
 * before any run directory is made. */
static void
check_cold_start (Loader *l, DerlExperiment *experiment)
{
  const char *path = derl_params_get_string (derl_experiment_get_params (experiment, "meta"), "cold_start");
  g_autofree char *data = NULL;
  g_autoptr (GError) err = NULL;
  gsize length = 0;

  if (!path || !*path)
    return;
  g_autofree char *where = origin (l, "meta", "cold_start");
  g_autofree char *quoted = _derl_quote (path, -1);
  if (!_derl_file_read (path, DERL_EXPERIMENT_MAX_SIZE, "file of cold-start formulas", &data, &length, &err))
    add_error (l, DERL_EXPERIMENT_ERROR_INVALID_VALUE, "%s: [meta] cold_start: %s", where, err->message);
  else if (memchr (data, '\0', length) || !g_utf8_validate (data, (gssize) length, NULL))
    add_error (l, DERL_EXPERIMENT_ERROR_INVALID_VALUE, "%s: [meta] cold_start: %s: not a UTF-8 text file", where,
               quoted);
}

/* The bilevel modes: what they search over and with what. */
static void
check_bilevel (Loader *l, DerlExperiment *experiment)
{
  const char *mode = derl_params_get_string (experiment->params[0], "mode");
  const char *formula = experiment->params[find_group ("reward") - groups]
                          ? derl_params_get_string (derl_experiment_get_params (experiment, "reward"), "formula")
                          : "";
  g_autofree char *where = origin (l, "experiment", "mode");

  if (experiment->mode != MODE_BILEVEL)
    return;
  load_baselines (l, experiment);
  if (strcmp (mode, "fixed") == 0)
    {
      if (!experiment->formula)
        add_error (l, DERL_EXPERIMENT_ERROR_MISSING_KEY,
                   "%s: [reward] formula: missing (mode = fixed trains the formula it gives)", l->label);
      return;
    }
  if (experiment->n_prims == 0)
    add_error (l, DERL_EXPERIMENT_ERROR_MISSING_KEY,
               "%s: [primitives]: mode = %s searches formulas over primitives; bind at least g1 (e.g. g1 = "
               "success)", where, mode);
  if (formula && *formula)
    {
      g_autofree char *fwhere = origin (l, "reward", "formula");
      add_error (l, DERL_EXPERIMENT_ERROR_INVALID_VALUE,
                 "%s: [reward] formula = %s: mode = %s searches for the formula (use mode = fixed to train a "
                 "given one)", fwhere, formula, mode);
    }
  /* [meta] hidden, as [policy] hidden */
  const char *const *hidden = derl_params_get_list (derl_experiment_get_params (experiment, "meta"), "hidden");
  guint n = g_strv_length ((char **) hidden);
  for (guint i = 0; i < n; i++)
    {
      guint64 width;
      if (n > DERL_POLICY_MAX_LAYERS || !g_ascii_string_to_unsigned (hidden[i], 10, 1, 65536, &width, NULL))
        {
          g_autofree char *hwhere = origin (l, "meta", "hidden");
          add_error (l, DERL_EXPERIMENT_ERROR_INVALID_VALUE,
                     "%s: [meta] hidden: '%s' is not a layer width (expected at most %d integers in [1, 65536])",
                     hwhere, hidden[i], DERL_POLICY_MAX_LAYERS);
          break;
        }
    }
  if (strcmp (mode, "random") != 0)
    check_cold_start (l, experiment);
  if (strcmp (mode, "random") != 0)
    {
      experiment->meta_optimizer = derl_registry_find (l->registry, DERL_FEATURE_OPTIMIZER, "grpo");
      if (!experiment->meta_optimizer
          || !derl_feature_get_optimizer_vtable (experiment->meta_optimizer)->set_reference)
        add_error (l, DERL_EXPERIMENT_ERROR_UNKNOWN_FEATURE,
                   "%s: mode = %s trains the Meta-Optimizer with the optimizer 'grpo', which is not available "
                   "(see derl-inspect)", where, mode);
    }
}

guint
derl_experiment_get_n_baselines (const DerlExperiment *experiment)
{
  return experiment->n_baselines;
}

const DerlFormula *
derl_experiment_get_baseline (const DerlExperiment *experiment, guint index)
{
  g_return_val_if_fail (index < experiment->n_baselines, NULL);
  return experiment->baselines[index];
}

const DerlFeature *
_derl_experiment_get_meta_optimizer (const DerlExperiment *experiment)
{
  return experiment->meta_optimizer;
}

/* [train] target_return, when the file does not set it: the env's own
 * threshold, or none. */
static void
default_target_return (DerlExperiment *experiment, DerlEnv *env)
{
  DerlParams *train = experiment->params[find_group ("train") - groups];
  const DerlEnvSpec *spec = derl_env_get_spec (env);
  char text[G_ASCII_DTOSTR_BUF_SIZE];

  if (derl_params_is_set (train, "target_return") || !spec->target_return)
    return;
  g_ascii_dtostr (text, sizeof text, *spec->target_return);
  if (!derl_params_set (train, "target_return", text, NULL))
    g_warn_if_reached (); /* derl_env_new() checked it is finite */
}

/* Checks across groups, some needing an env instance. */
static void
check_env (Loader *l, DerlExperiment *experiment)
{
  const DerlFeature *env_feature = derl_experiment_get_feature (experiment, DERL_FEATURE_ENV);
  g_autoptr (GError) err = NULL;
  g_autoptr (DerlEnv) env = NULL;

  if (derl_experiment_get_params (experiment, "policy"))
    check_hidden (l, experiment);
  check_instances (l, experiment);
  if (!env_feature)
    return;
  env = derl_env_new (env_feature, derl_experiment_get_params (experiment, "env"), &err);
  if (!env)
    {
      add_error (l, DERL_EXPERIMENT_ERROR_INVALID_VALUE, "%s: [env] %s", l->label, err->message);
      return;
    }
  check_signals (l, experiment, env);
  if (derl_experiment_get_params (experiment, "evaluate"))
    {
      if (experiment->mode == MODE_EVALUATE)
        check_split (l, experiment, env, "evaluate", "split");
      check_splits (l, experiment, env);
    }
  if (derl_experiment_get_params (experiment, "train"))
    {
      check_split (l, experiment, env, "train", "train_split");
      check_split (l, experiment, env, "train", "eval_split");
      default_target_return (experiment, env);
    }
}

static DerlExperiment *
validate (Loader *l)
{
  g_autoptr (DerlExperiment) experiment = g_new0 (DerlExperiment, 1);
  g_auto (GStrv) present = g_key_file_get_groups (l->keys, NULL);

  experiment->label = g_strdup (l->label);
  for (guint i = 0; present[i]; i++)
    if (!find_group (present[i]))
      {
        const char *near = _derl_suggest_closest (present[i], group_names, G_N_ELEMENTS (groups));
        g_autofree char *hint = near ? g_strdup_printf ("; did you mean '%s'?", near) : g_strdup ("");
        g_autofree char *all = g_strjoinv (", ", (char **) group_names);
        g_autofree char *quoted = _derl_quote (present[i], -1);
        add_error (l, DERL_EXPERIMENT_ERROR_UNKNOWN_GROUP, "%s: [%s]: unknown group%s (groups: %s)",
                   l->label, quoted, hint, all);
      }

  /* [experiment] first: its mode says which other groups are used.  A
   * group of another mode is still checked when the file has it. */
  for (guint i = 0; i < G_N_ELEMENTS (groups); i++)
    {
      const GroupInfo *g = &groups[i];
      const DerlFeature *feature = NULL;
      experiment->present[i] = g_key_file_has_group (l->keys, g->name);
      if (i > 0 && !(g->modes & experiment->mode) && !experiment->present[i])
        continue;
      if (!g->specs && g->kind < 0)
        {
          load_primitives (l, experiment);
          continue;
        }
      if (g->kind >= 0)
        {
          feature = resolve_feature (l, g, &experiment->backend_note);
          if (!feature)
            continue;
          experiment->features[i] = feature;
          experiment->params[i] = derl_params_new (derl_feature_get_params (feature));
        }
      else
        experiment->params[i] = derl_params_new (g->specs);
      load_group_keys (l, g, feature, experiment->params[i]);
      if (strcmp (g->name, "reward") == 0 && !l->bad_primitives)
        load_formula (l, experiment);
      if (i == 0)
        {
          const char *mode = derl_params_get_string (experiment->params[0], "mode");
          experiment->mode = strcmp (mode, "evaluate") == 0 ? MODE_EVALUATE
                             : strcmp (mode, "train") == 0 ? MODE_TRAIN : MODE_BILEVEL;
        }
    }
  if (l->errors->len == 0)
    check_bilevel (l, experiment);
  if (l->errors->len == 0)
    check_env (l, experiment);
  if (l->errors->len > 0)
    return NULL;
  return g_steal_pointer (&experiment);
}

static void
loader_clear (Loader *l)
{
  g_key_file_unref (l->keys);
  g_hash_table_unref (l->overridden);
  g_ptr_array_unref (l->errors);
}

/* The file a resolved experiment (derl_experiment_to_data()) was resolved
 * from, so that resolving it again (on --resume) gives the same text. */
static char *
resolved_from (const char *data, gsize length)
{
  static const char prefix[] = "# Resolved by derl ";
  const char *nl = memchr (data, '\n', length);
  g_autofree char *line = g_strndup (data, nl ? (gsize) (nl - data) : length);
  const char *from = g_str_has_prefix (line, prefix) ? strstr (line, " from ") : NULL;
  const char *end = from ? g_strrstr (from, ": every key with its value,") : NULL;
  return end ? g_strndup (from + 6, (gsize) (end - from - 6)) : NULL;
}

DerlExperiment *
derl_experiment_load_data (DerlRegistry *registry, const char *data, gsize length, const char *label,
                           const char *const *overrides, GError **error)
{
  Loader l = { registry, label, g_key_file_new (),
               g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free),
               g_ptr_array_new_with_free_func (g_free), 0, FALSE };
  DerlExperiment *experiment = NULL;
  g_autoptr (GError) parse_error = NULL;

  g_return_val_if_fail (registry != NULL && data != NULL && label != NULL, NULL);

  if (check_text (&l, data, length) && check_keys (&l, data, length))
    {
      if (!g_key_file_load_from_data (l.keys, data, length, G_KEY_FILE_NONE, &parse_error))
        add_error (&l, DERL_EXPERIMENT_ERROR_PARSE, "%s: not a valid experiment file: %s", label,
                   parse_error->message);
      else
        {
          apply_overrides (&l, overrides);
          if (l.errors->len == 0)
            experiment = validate (&l);
          if (experiment)
            experiment->source = resolved_from (data, length);
        }
    }

  if (!experiment)
    {
      g_ptr_array_add (l.errors, NULL);
      g_autofree char *message = g_strjoinv ("\n", (char **) l.errors->pdata);
      g_set_error_literal (error, DERL_EXPERIMENT_ERROR,
                           l.errors->len > 2 ? DERL_EXPERIMENT_ERROR_MULTIPLE : l.first_code, message);
    }
  loader_clear (&l);
  return experiment;
}

DerlExperiment *
derl_experiment_load (DerlRegistry *registry, const char *path, const char *const *overrides,
                      GError **error)
{
  g_autofree char *data = NULL;
  gsize length = 0;
  g_autoptr (GError) err = NULL;

  g_return_val_if_fail (registry != NULL && path != NULL, NULL);

  if (!_derl_file_read (path, DERL_EXPERIMENT_MAX_SIZE, "experiment file", &data, &length, &err))
    {
      g_set_error_literal (error, DERL_EXPERIMENT_ERROR, DERL_EXPERIMENT_ERROR_READ, err->message);
      return NULL;
    }
  return derl_experiment_load_data (registry, data, length, path, overrides, error);
}

/* ---- the resolved experiment ---- */

static void
write_group (GKeyFile *out, const char *group, const DerlFeature *feature, const DerlParams *params)
{
  const DerlParamSpec *specs = derl_params_get_specs (params);

  if (feature)
    g_key_file_set_string (out, group, "name", derl_feature_get_name (feature));
  for (guint i = 0; specs[i].name; i++)
    {
      const char *text = derl_params_get_text (params, specs[i].name);
      if (!text && !(specs[i].flags & DERL_PARAM_REQUIRED))
        continue; /* an optional key without a value: [train] target_return for most envs */
      g_autofree char *comment = g_strdup_printf (" %s", specs[i].doc);
      g_key_file_set_string (out, group, specs[i].name, text ? text : "");
      g_key_file_set_comment (out, group, specs[i].name, comment, NULL);
    }
}

static char *
to_data (const DerlExperiment *experiment, const char *source, gsize *length);

char *
derl_experiment_to_data (const DerlExperiment *experiment, gsize *length)
{
  return to_data (experiment, experiment->label, length);
}

char *
_derl_experiment_to_data_first (const DerlExperiment *experiment)
{
  return to_data (experiment, experiment->source ? experiment->source : experiment->label, NULL);
}

static char *
to_data (const DerlExperiment *experiment, const char *source, gsize *length)
{
  g_autoptr (GKeyFile) out = g_key_file_new ();
  g_autofree char *header = g_strdup_printf (" Resolved by derl %s from %s: every key with its value,"
                                             " defaults included.\n Run it again as it is with"
                                             " derl-run; see derl-experiment(5).",
                                             DERL_VERSION_STRING, source);

  for (guint i = 0; i < G_N_ELEMENTS (groups); i++)
    if (experiment->params[i])
      write_group (out, groups[i].name, experiment->features[i], experiment->params[i]);
  if (experiment->backend_note)
    {
      g_autofree char *comment = g_strdup_printf (" name = auto: %s", experiment->backend_note);
      g_key_file_set_comment (out, "backend", "name", comment, NULL);
    }
  for (guint i = 0; i < experiment->n_prims; i++)
    {
      g_autofree char *key = g_strdup_printf ("g%u", i + 1);
      g_key_file_set_string (out, "primitives", key, derl_feature_get_name (experiment->prims[i]));
    }
  g_key_file_set_comment (out, NULL, NULL, header, NULL);
  return g_key_file_to_data (out, length, NULL);
}
