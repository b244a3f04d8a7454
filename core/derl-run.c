/* derl-run - run an experiment file. See derl-run(1). */
#include "config.h"

#include <errno.h>
#include <locale.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <glib/gstdio.h>
#include <derl/derl.h>

enum { EXIT_OK = 0, EXIT_RUNTIME = 1, EXIT_BAD_INPUT = 2 };

typedef struct {
  gboolean validate;
  char *output;
  char *resume;
  char *seed;
  char *threads;
  char **sets;
  char **unsets;
  char *plugin_path;
  gboolean quiet;
  gboolean version;
  char **args;
} Options;

static gboolean
parse_options (Options *o, int *argc, char ***argv, GError **error)
{
  const GOptionEntry entries[] = {
    { "validate", 0, 0, G_OPTION_ARG_NONE, &o->validate,
      "Check the experiment, print it resolved (every default filled in) and exit", NULL },
    { "output", 'o', 0, G_OPTION_ARG_FILENAME, &o->output,
      "Run directory to create (default: runs/NAME-N, the first free N)", "DIR" },
    { "resume", 0, 0, G_OPTION_ARG_FILENAME, &o->resume,
      "Continue the interrupted derl, derl-pop, random or fixed run in DIR (no EXPERIMENT.ini)", "DIR" },
    /* FILENAME: the text as given, no conversion; the experiment loader
     * checks it and names the override when it is not UTF-8. */
    { "seed", 's', 0, G_OPTION_ARG_FILENAME, &o->seed, "Same as --set experiment.seed=N", "N" },
    { "threads", 'j', 0, G_OPTION_ARG_FILENAME, &o->threads, "Same as --set experiment.threads=N", "N" },
    { "set", 0, 0, G_OPTION_ARG_FILENAME_ARRAY, &o->sets,
      "Override a key of the experiment (repeatable)", "GROUP.KEY=VALUE" },
    { "unset", 0, 0, G_OPTION_ARG_STRING_ARRAY, &o->unsets,
      "Remove a key of the experiment file, so that its default applies (repeatable)", "GROUP.KEY" },
    { "plugin-path", 0, 0, G_OPTION_ARG_STRING, &o->plugin_path,
      "Search these directories for plugins first (':'-separated)", "DIRS" },
    { "quiet", 'q', 0, G_OPTION_ARG_NONE, &o->quiet, "Print nothing but errors", NULL },
    { "version", 0, 0, G_OPTION_ARG_NONE, &o->version, "Print the version and exit", NULL },
    { G_OPTION_REMAINING, 0, 0, G_OPTION_ARG_FILENAME_ARRAY, &o->args, NULL, NULL },
    G_OPTION_ENTRY_NULL
  };
  g_autoptr (GOptionContext) context = g_option_context_new ("EXPERIMENT.ini");

  g_option_context_set_summary (context,
    "Run a derl experiment: load the plugins, validate the experiment file against\n"
    "their parameter specs, and run it into a new run directory.  With --resume DIR,\n"
    "continue the bilevel run in DIR from its last completed outer step.");
  g_option_context_set_description (context,
    "Exit status: 0 success, 1 run-time failure (a diverging training among them),\n"
    "2 bad input (options, experiment file, plugins, the files it names, an env\n"
    "breaking the step contract, a damaged run directory to resume).  Plugins are\n"
    "searched in --plugin-path, $DERL_PLUGIN_PATH, then\n"
    "$DERL_PLUGIN_SYSTEM_PATH or the system plugin directory.\n"
    "See derl-run(1) and derl-experiment(5).");
  g_option_context_add_main_entries (context, entries, NULL);
  return g_option_context_parse (context, argc, argv, error);
}

static void
options_clear (Options *o)
{
  g_free (o->output);
  g_free (o->resume);
  g_free (o->seed);
  g_free (o->threads);
  g_strfreev (o->sets);
  g_strfreev (o->unsets);
  g_free (o->plugin_path);
  g_strfreev (o->args);
}

static GPtrArray *
collect_overrides (const Options *o)
{
  GPtrArray *overrides = g_ptr_array_new_with_free_func (g_free);

  for (guint i = 0; o->unsets && o->unsets[i]; i++)
    g_ptr_array_add (overrides, g_strconcat ("-", o->unsets[i], NULL));
  for (guint i = 0; o->sets && o->sets[i]; i++)
    g_ptr_array_add (overrides, g_strdup (o->sets[i]));
  if (o->seed)
    g_ptr_array_add (overrides, g_strdup_printf ("experiment.seed=%s", o->seed));
  if (o->threads)
    g_ptr_array_add (overrides, g_strdup_printf ("experiment.threads=%s", o->threads));
  g_ptr_array_add (overrides, NULL);
  return overrides;
}

/* Creates runs/NAME-N with the first N not taken; mkdir claims it, so two
 * runs started together never share a directory. */
static char *
make_default_output (const char *experiment_path, GError **error)
{
  g_autofree char *base = g_path_get_basename (experiment_path);
  char *dot = strrchr (base, '.');

  if (dot && dot != base)
    *dot = '\0';
  if (g_mkdir_with_parents ("runs", 0755) != 0)
    {
      g_set_error (error, DERL_RUN_ERROR, DERL_RUN_ERROR_IO, "runs: cannot create: %s", g_strerror (errno));
      return NULL;
    }
  for (guint n = 1; n < G_MAXUINT; n++)
    {
      char *dir = g_strdup_printf ("runs%c%s-%u", G_DIR_SEPARATOR, base, n);
      if (g_mkdir (dir, 0755) == 0)
        return dir;
      int saved = errno;
      if (saved != EEXIST)
        {
          g_set_error (error, DERL_RUN_ERROR, DERL_RUN_ERROR_IO, "%s: cannot create: %s", dir,
                       g_strerror (saved));
          g_free (dir);
          return NULL;
        }
      g_free (dir);
    }
  g_set_error (error, DERL_RUN_ERROR, DERL_RUN_ERROR_IO, "runs: no free run directory name");
  return NULL;
}

/* Creates @dir, which must not exist or be an empty directory; *@created
 * says whether it did not exist. */
static gboolean
make_run_dir (const char *dir, gboolean *created, GError **error)
{
  *created = FALSE;
  if (g_file_test (dir, G_FILE_TEST_EXISTS))
    {
      g_autoptr (GDir) d = g_dir_open (dir, 0, NULL);
      if (!d || g_dir_read_name (d) != NULL)
        {
          g_set_error (error, DERL_RUN_ERROR, DERL_RUN_ERROR_EXISTS,
                       "%s: exists and is not an empty directory; choose another --output "
                       "(nothing was changed)", dir);
          return FALSE;
        }
      return TRUE;
    }
  if (g_mkdir_with_parents (dir, 0755) != 0)
    {
      g_set_error (error, DERL_RUN_ERROR, DERL_RUN_ERROR_IO, "%s: cannot create: %s", dir,
                   g_strerror (errno));
      return FALSE;
    }
  *created = TRUE;
  return TRUE;
}

/* After bad input found when the run started (a cold-start file that is
 * not formulas of the grammar, say): when @dir holds nothing but the
 * experiment.ini this invocation wrote, removes it (and @dir, when it made
 * it), so that the same --output can be used again. */
static void
forget_run_dir (const char *dir, gboolean created)
{
  g_autoptr (GDir) d = g_dir_open (dir, 0, NULL);
  const char *name = d ? g_dir_read_name (d) : NULL;
  if (!name || strcmp (name, "experiment.ini") != 0 || g_dir_read_name (d) != NULL)
    return;
  g_autofree char *resolved = g_build_filename (dir, "experiment.ini", NULL);
  if (g_unlink (resolved) == 0 && created)
    g_rmdir (dir);
}

static void
print_progress (guint done, guint total, gpointer user_data)
{
  fprintf (stderr, "\r\033[Kevaluating: episode %u/%u (%.0f%%)", done, total,
           total ? 100.0 * done / total : 100.0);
  if (done == total)
    fputs ("\r\033[K", stderr);
  fflush (stderr);
}

static char *
human_rate (double per_second)
{
  if (per_second >= 1e6)
    return g_strdup_printf ("%.1fM", per_second / 1e6);
  if (per_second >= 1e3)
    return g_strdup_printf ("%.1fk", per_second / 1e3);
  return g_strdup_printf ("%.0f", per_second);
}

static const char *
env_name (const DerlExperiment *e)
{
  return derl_feature_get_name (derl_experiment_get_feature (e, DERL_FEATURE_ENV));
}

static JsonObject *
evaluate_summary_object (const DerlExperiment *e, const char *policy, const DerlEvaluateSummary *s,
                         double seconds)
{
  JsonObject *o = json_object_new ();
  const DerlParams *ex = derl_experiment_get_params (e, "experiment");
  const DerlParams *ev = derl_experiment_get_params (e, "evaluate");

  json_object_set_string_member (o, "event", "summary");
  json_object_set_string_member (o, "mode", "evaluate");
  json_object_set_string_member (o, "env", env_name (e));
  json_object_set_string_member (o, "split", derl_params_get_string (ev, "split"));
  json_object_set_string_member (o, "policy", policy);
  json_object_set_int_member (o, "seed", derl_params_get_int (ex, "seed"));
  json_object_set_int_member (o, "episodes", s->n_episodes);
  derl_metrics_set_double (o, "mean_return", s->mean_return);
  derl_metrics_set_double (o, "std_return", s->std_return);
  derl_metrics_set_double (o, "min_return", s->min_return);
  derl_metrics_set_double (o, "max_return", s->max_return);
  derl_metrics_set_double (o, "mean_length", s->mean_length);
  derl_metrics_set_double (o, "success_rate", s->success_rate);
  json_object_set_int_member (o, "steps", (gint64) s->total_steps);
  derl_metrics_set_double (o, "wall_seconds", seconds);
  derl_metrics_set_double (o, "steps_per_second", seconds > 0 ? s->total_steps / seconds : 0);
  return o;
}

/* Where the run's numbers were computed: the CPU, the kernel path and the
 * threads (none of which changes them). */
static void
add_machine_members (JsonObject *o, const DerlExperiment *e)
{
  json_object_set_string_member (o, "cpu_model", derl_cpu_model ());
  json_object_set_string_member (o, "cpu_kernels", derl_backend_cpu_kernels ());
  json_object_set_int_member (o, "threads", derl_experiment_get_threads (e));
}

/* How evaluated policies act: [evaluate] greedy. */
static const char *
acting (const DerlExperiment *e)
{
  return derl_params_get_bool (derl_experiment_get_params (e, "evaluate"), "greedy") ? "greedy" : "sampled";
}

static JsonObject *
train_summary_object (const DerlExperiment *e, const DerlTrainSummary *s)
{
  JsonObject *o = json_object_new ();
  const DerlParams *ex = derl_experiment_get_params (e, "experiment");
  const DerlParams *tr = derl_experiment_get_params (e, "train");

  json_object_set_string_member (o, "event", "summary");
  json_object_set_string_member (o, "mode", "train");
  json_object_set_string_member (o, "env", env_name (e));
  json_object_set_string_member (o, "optimizer",
                                 derl_feature_get_name (derl_experiment_get_feature (e, DERL_FEATURE_OPTIMIZER)));
  json_object_set_string_member (o, "backend",
                                 derl_feature_get_name (derl_experiment_get_feature (e, DERL_FEATURE_BACKEND)));
  json_object_set_int_member (o, "seed", derl_params_get_int (ex, "seed"));
  json_object_set_int_member (o, "steps", (gint64) s->steps);
  json_object_set_int_member (o, "episodes", (gint64) s->episodes);
  json_object_set_int_member (o, "updates", (gint64) s->updates);
  derl_metrics_set_double (o, "mean_return_20", s->final_mean_return_20);
  /* null for both when there is no target ([train] target_return unset, and
   * no default from the env) */
  if (derl_params_is_set (tr, "target_return"))
    {
      derl_metrics_set_double (o, "target_return", derl_params_get_double (tr, "target_return"));
      json_object_set_int_member (o, "first_step_target", (gint64) s->first_step_target);
    }
  else
    {
      json_object_set_null_member (o, "target_return");
      json_object_set_null_member (o, "first_step_target");
    }
  json_object_set_string_member (o, "eval_split", derl_params_get_string (tr, "eval_split"));
  json_object_set_int_member (o, "eval_episodes", s->eval.n_episodes);
  derl_metrics_set_double (o, "eval_mean_return", s->eval.mean_return);
  derl_metrics_set_double (o, "eval_std_return", s->eval.std_return);
  derl_metrics_set_double (o, "eval_success_rate", s->eval.success_rate);
  if (s->n_splits)
    {
      JsonArray *splits = json_array_new ();
      for (guint i = 0; i < s->n_splits; i++)
        {
          JsonObject *r = json_object_new ();
          json_object_set_string_member (r, "split", s->splits[i]);
          json_object_set_int_member (r, "episodes", s->split_eval[i].n_episodes);
          derl_metrics_set_double (r, "success_rate", s->split_eval[i].success_rate);
          derl_metrics_set_double (r, "mean_return", s->split_eval[i].mean_return);
          derl_metrics_set_double (r, "std_return", s->split_eval[i].std_return);
          derl_metrics_set_double (r, "mean_length", s->split_eval[i].mean_length);
          json_array_add_object_element (splits, r);
        }
      json_object_set_array_member (o, "splits", splits);
    }
  json_object_set_string_member (o, "policy", "policy.ckpt");
  derl_metrics_set_double (o, "wall_seconds", s->seconds);
  derl_metrics_set_double (o, "steps_per_second", s->seconds > 0 ? s->steps / s->seconds : 0);
  return o;
}

static gboolean
write_json_file (const char *path, JsonObject *object, GError **error)
{
  g_autoptr (JsonGenerator) gen = json_generator_new ();
  g_autoptr (JsonNode) root = json_node_alloc ();
  g_autofree char *text = NULL;

  json_node_init_object (root, object);
  json_generator_set_root (gen, root);
  json_generator_set_pretty (gen, TRUE);
  text = json_generator_to_data (gen, NULL);
  g_autofree char *with_nl = g_strconcat (text, "\n", NULL);
  /* g_file_set_contents writes a temporary file and renames it. */
  return g_file_set_contents (path, with_nl, -1, error);
}

static void
print_evaluate_summary (const DerlExperiment *e, const char *policy, const DerlEvaluateSummary *s,
                        double seconds, guint threads, const char *dir)
{
  const DerlParams *ex = derl_experiment_get_params (e, "experiment");
  const DerlParams *ev = derl_experiment_get_params (e, "evaluate");
  g_autofree char *rate = human_rate (seconds > 0 ? s->total_steps / seconds : 0);

  printf ("evaluate: env %s, split %s, %s policy, seed %" G_GINT64_FORMAT ", %u thread%s\n", env_name (e),
          derl_params_get_string (ev, "split"), policy, derl_params_get_int (ex, "seed"), threads,
          threads == 1 ? "" : "s");
  printf ("  episodes        %u\n", s->n_episodes);
  printf ("  return          %.2f +- %.2f (min %.6g, max %.6g)\n", s->mean_return, s->std_return,
          s->min_return, s->max_return);
  printf ("  length          %.2f\n", s->mean_length);
  printf ("  success rate    %.1f%%\n", 100.0 * s->success_rate);
  printf ("  steps           %" G_GUINT64_FORMAT " in %.3f s (%s steps/s)\n", s->total_steps, seconds, rate);
  printf ("  run directory   %s\n", dir);
}

static void
print_train_summary (const DerlExperiment *e, const DerlTrainSummary *s, const char *dir)
{
  const DerlParams *ex = derl_experiment_get_params (e, "experiment");
  const DerlParams *tr = derl_experiment_get_params (e, "train");
  g_autofree char *rate = human_rate (s->seconds > 0 ? s->steps / s->seconds : 0);

  printf ("train: env %s, optimizer %s, backend %s, seed %" G_GINT64_FORMAT "\n", env_name (e),
          derl_feature_get_name (derl_experiment_get_feature (e, DERL_FEATURE_OPTIMIZER)),
          derl_feature_get_name (derl_experiment_get_feature (e, DERL_FEATURE_BACKEND)),
          derl_params_get_int (ex, "seed"));
  printf ("  steps           %" G_GUINT64_FORMAT " in %.1f s (%s steps/s)\n", s->steps, s->seconds, rate);
  printf ("  updates         %" G_GUINT64_FORMAT "\n", s->updates);
  printf ("  episodes        %" G_GUINT64_FORMAT "\n", s->episodes);
  printf ("  last 20 returns %.2f (mean)\n", s->final_mean_return_20);
  if (!derl_params_is_set (tr, "target_return"))
    printf ("  reached --       (no target: set [train] target_return)\n");
  else if (s->first_step_target)
    printf ("  reached %-8g at step %" G_GUINT64_FORMAT " (mean of the last 20 returns)\n",
            derl_params_get_double (tr, "target_return"), s->first_step_target);
  printf ("  eval            split %s, %u episodes, %s: return %.2f +- %.2f, success %.1f%%\n",
          derl_params_get_string (tr, "eval_split"), s->eval.n_episodes, acting (e), s->eval.mean_return,
          s->eval.std_return, 100.0 * s->eval.success_rate);
  if (s->n_splits)
    {
      printf ("  final policy, %s, %u episodes per split:\n", acting (e), s->split_eval[0].n_episodes);
      printf ("    %-14s %8s  %-16s %s\n", "split", "success", "return", "length");
      for (guint i = 0; i < s->n_splits; i++)
        {
          g_autofree char *ret = g_strdup_printf ("%.2f +- %.2f", s->split_eval[i].mean_return,
                                                  s->split_eval[i].std_return);
          printf ("    %-14s %7.1f%%  %-16s %.1f\n", s->splits[i], 100.0 * s->split_eval[i].success_rate, ret,
                  s->split_eval[i].mean_length);
        }
    }
  printf ("  policy          %s%cpolicy.ckpt\n", dir, G_DIR_SEPARATOR);
  printf ("  run directory   %s\n", dir);
}

static void
print_train_progress (guint64 done, guint64 total, gpointer user_data)
{
  fprintf (stderr, "\r\033[Ktraining: step %" G_GUINT64_FORMAT "/%" G_GUINT64_FORMAT " (%.0f%%)", done, total,
           total ? 100.0 * done / total : 100.0);
  if (done >= total)
    fputs ("\r\033[K", stderr);
  fflush (stderr);
}

/* Loads [evaluate] policy, checking it fits the env.  Bad input: exit 2. */
static DerlPolicy *
load_policy (const DerlExperiment *e, DerlBackend *backend, const char *path, GError **error)
{
  g_autoptr (DerlEnv) env = derl_env_new (derl_experiment_get_feature (e, DERL_FEATURE_ENV),
                                          derl_experiment_get_params (e, "env"), error);
  if (!env)
    return NULL;
  DerlPolicy *policy = derl_policy_load (backend, path, 1, NULL, error);
  if (!policy)
    return NULL;
  const DerlPolicyConfig *c = derl_policy_get_config (policy);
  const DerlEnvSpec *spec = derl_env_get_spec (env);
  if (c->obs_size != spec->obs_size || c->n_actions != spec->n_actions || c->candidate_size != spec->candidate_size)
    {
      g_set_error (error, DERL_EXPERIMENT_ERROR, DERL_EXPERIMENT_ERROR_INVALID_VALUE,
                   "[evaluate] policy = %s: made for %u observations, %u actions and %u candidate features; "
                   "env '%s' has %u, %u and %u", path, c->obs_size, c->n_actions, c->candidate_size,
                   env_name (e), spec->obs_size, spec->n_actions, spec->candidate_size);
      derl_policy_free (policy);
      return NULL;
    }
  return policy;
}

/* The exit status of a run that failed with @error: bad input found late
 * (an optimizer refusing its parameters, an env breaking the step contract)
 * is 2, anything else 1. */
static int
failure_status (const GError *error)
{
  /* bad input: the experiment, an env breaking the step contract, a damaged
   * run directory, a bad checkpoint or cold-start file */
  if (error->domain == DERL_EXPERIMENT_ERROR || g_error_matches (error, DERL_RUN_ERROR, DERL_RUN_ERROR_ENV_CONTRACT)
      || g_error_matches (error, DERL_RUN_ERROR, DERL_RUN_ERROR_BAD_FILE))
    return EXIT_BAD_INPUT;
  return EXIT_RUNTIME;
}

static int
run_evaluate (const Options *o, const DerlExperiment *experiment, DerlPolicy *policy, DerlMetrics *metrics,
              const char *dir, const char *summary_path)
{
  const DerlParams *ev = derl_experiment_get_params (experiment, "evaluate");
  const char *policy_path = derl_params_get_string (ev, "policy");
  g_autoptr (GError) error = NULL;
  DerlEvaluateSummary summary;

  guint threads = derl_experiment_get_threads (experiment);
  gboolean show_progress = !o->quiet && isatty (STDERR_FILENO);
  gint64 start = g_get_monotonic_time ();
  gboolean ok = derl_evaluate_run (experiment, policy, threads, metrics, show_progress ? print_progress : NULL,
                                   NULL, &summary, &error);
  double seconds = (g_get_monotonic_time () - start) / 1e6;
  const char *label = *policy_path ? policy_path : "random";
  if (ok)
    {
      g_autoptr (JsonObject) s = evaluate_summary_object (experiment, label, &summary, seconds);
      add_machine_members (s, experiment);
      ok = derl_metrics_write (metrics, s, &error) && write_json_file (summary_path, s, &error);
    }
  if (!derl_metrics_close (metrics, ok ? &error : NULL))
    ok = FALSE;
  if (!ok)
    {
      fprintf (stderr, "derl-run: %s\n", error->message);
      return failure_status (error);
    }
  if (!o->quiet)
    print_evaluate_summary (experiment, *policy_path ? acting (experiment) : "random", &summary, seconds, threads,
                            dir);
  return EXIT_OK;
}

static int
run_train (const Options *o, const DerlExperiment *experiment, DerlMetrics *metrics, const char *dir,
           const char *summary_path)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *checkpoint = g_build_filename (dir, "policy.ckpt", NULL);
  gboolean show_progress = !o->quiet && isatty (STDERR_FILENO);
  DerlTrainSummary summary;

  gboolean ok = derl_train_run (experiment, metrics, show_progress ? print_train_progress : NULL, NULL,
                                checkpoint, &summary, &error);
  if (ok)
    {
      g_autoptr (JsonObject) s = train_summary_object (experiment, &summary);
      add_machine_members (s, experiment);
      ok = derl_metrics_write (metrics, s, &error) && write_json_file (summary_path, s, &error);
    }
  if (!derl_metrics_close (metrics, ok ? &error : NULL))
    ok = FALSE;
  if (!ok)
    {
      if (show_progress)
        fputs ("\r\033[K", stderr);
      fprintf (stderr, "derl-run: %s\n", error->message);
      return failure_status (error);
    }
  if (!o->quiet)
    print_train_summary (experiment, &summary, dir);
  return EXIT_OK;
}

/* SIGINT: the bilevel loop stops at its next chance, everything up to the
 * last completed outer step saved; a second SIGINT kills as usual. */
static gint interrupted;

static void
on_sigint (int sig)
{
  g_atomic_int_set (&interrupted, 1);
  signal (sig, SIG_DFL);
}

static void
print_bilevel_progress (const DerlBilevelProgress *p, gpointer user_data)
{
  g_autofree char *remaining = p->remaining >= 0 ? g_strdup_printf (", ~%.0f s left", p->remaining)
                                                 : g_strdup ("");
  g_autofree char *best = p->best_formula ? g_strdup_printf (", best %.3f: %s", p->best_score, p->best_formula)
                                          : g_strdup ("");
  if (p->outer_step >= p->outer_steps)
    fprintf (stderr, "\r\033[Kfinal stage: runs %u/%u%s, %.0f s%s", p->candidates_done, p->group_size, best,
             p->elapsed, remaining);
  else
    fprintf (stderr, "\r\033[Kouter step %u/%u, candidates %u/%u%s, %.0f s%s", p->outer_step + 1, p->outer_steps,
             p->candidates_done, p->group_size, best, p->elapsed, remaining);
  fflush (stderr);
}

/* The found formula beside [evaluate] baselines: success per split. */
static void
print_comparison (const DerlExperiment *e, const DerlBilevelSummary *s)
{
  const DerlParams *tr = derl_experiment_get_params (e, "train");
  guint width = (guint) strlen (s->best_formula) + 7;

  if (!s->n_baselines)
    return;
  for (guint i = 0; i < s->n_baselines; i++)
    width = MAX (width, (guint) strlen (s->baseline_formulas[i]));
  printf ("  comparison, %s success, the same budget, runs and seeds:\n    %-*s %12s", acting (e), width,
          "reward", derl_params_get_string (tr, "eval_split"));
  for (guint k = 0; k < s->final.n_splits; k++)
    printf (" %12s", s->final.splits[k]);
  printf ("\n");
  for (guint i = 0; i <= s->n_baselines; i++)
    {
      const DerlTrainSummary *r = i == 0 ? &s->final : &s->baselines[i - 1];
      const char *mode = derl_params_get_string (derl_experiment_get_params (e, "experiment"), "mode");
      g_autofree char *name = i == 0 ? g_strdup_printf ("%s: %s", strcmp (mode, "fixed") == 0 ? "given" : "found",
                                                        s->best_formula)
                                     : g_strdup (s->baseline_formulas[i - 1]);
      printf ("    %-*s %11.1f%%", width, name, 100.0 * r->eval.success_rate);
      for (guint k = 0; k < r->n_splits; k++)
        printf (" %11.1f%%", 100.0 * r->split_eval[k].success_rate);
      printf ("\n");
    }
}

static JsonObject *
bilevel_summary_object (const DerlExperiment *e, const DerlBilevelSummary *s)
{
  JsonObject *o = train_summary_object (e, &s->final);
  const char *mode = derl_params_get_string (derl_experiment_get_params (e, "experiment"), "mode");

  json_object_set_string_member (o, "mode", mode);
  json_object_set_string_member (o, "formula", s->best_formula);
  if (isfinite (s->best_score))
    {
      derl_metrics_set_double (o, "formula_val_score", s->best_score);
      json_object_set_int_member (o, "formula_evaluations", s->best_evaluations);
      json_object_set_int_member (o, "formula_outer_step", s->best_step);
      json_object_set_int_member (o, "formula_candidate", s->best_candidate);
      json_object_set_int_member (o, "formula_rank", s->best_rank);
    }
  json_object_set_int_member (o, "final_candidates", s->final_candidates);
  json_object_set_int_member (o, "final_runs", s->final_runs);
  derl_metrics_set_double (o, "final_val_score", s->final_score);
  json_object_set_int_member (o, "final_run", s->final_run);
  if (s->n_baselines)
    {
      JsonArray *a = json_array_new ();
      for (guint i = 0; i < s->n_baselines; i++)
        {
          JsonObject *r = train_summary_object (e, &s->baselines[i]);
          json_object_remove_member (r, "event");
          json_object_remove_member (r, "policy");
          json_object_set_string_member (r, "formula", s->baseline_formulas[i]);
          json_array_add_object_element (a, r);
        }
      json_object_set_array_member (o, "baselines", a);
    }
  json_object_set_int_member (o, "outer_steps", s->outer_steps);
  json_object_set_int_member (o, "resumed_from", s->resumed_from);
  derl_metrics_set_double (o, "inner_seconds", s->inner_seconds);
  derl_metrics_set_double (o, "outer_seconds", s->outer_seconds);
  derl_metrics_set_double (o, "run_wall_seconds", s->seconds);
  return o;
}

static int
run_bilevel (const Options *o, const DerlExperiment *experiment, const char *dir, gboolean resume)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *summary_path = g_build_filename (dir, "summary.json", NULL);
  gboolean show_progress = !o->quiet && isatty (STDERR_FILENO);
  DerlBilevelSummary summary;

  signal (SIGINT, on_sigint);
  gboolean ok = derl_bilevel_run (experiment, dir, resume, derl_experiment_get_threads (experiment), &interrupted,
                                  show_progress ? print_bilevel_progress : NULL, NULL, &summary, &error);
  signal (SIGINT, SIG_DFL);
  if (show_progress)
    fputs ("\r\033[K", stderr);
  if (ok)
    {
      g_autoptr (JsonObject) s = bilevel_summary_object (experiment, &summary);
      add_machine_members (s, experiment);
      ok = write_json_file (summary_path, s, &error);
    }
  if (!ok)
    {
      fprintf (stderr, "derl-run: %s\n", error->message);
      if (g_error_matches (error, DERL_RUN_ERROR, DERL_RUN_ERROR_CANCELLED))
        fprintf (stderr, "derl-run: continue with: derl-run --resume %s\n", dir);
      derl_bilevel_summary_clear (&summary);
      return g_error_matches (error, DERL_RUN_ERROR, DERL_RUN_ERROR_CANCELLED) ? 130 : failure_status (error);
    }
  if (!o->quiet)
    {
      const char *mode = derl_params_get_string (derl_experiment_get_params (experiment, "experiment"), "mode");
      g_autofree char *resumed = summary.resumed_from ? g_strdup_printf (" (resumed after %u)", summary.resumed_from)
                                                      : g_strdup ("");
      printf ("%s: env %s, seed %" G_GINT64_FORMAT ", %u outer steps%s\n", mode, env_name (experiment),
              derl_params_get_int (derl_experiment_get_params (experiment, "experiment"), "seed"),
              summary.outer_steps, resumed);
      printf ("  formula         %s\n", summary.best_formula);
      if (isfinite (summary.best_score))
        printf ("  found           outer step %u, candidate %u; validation success %.1f%% (mean of %u)\n",
                summary.best_step + 1, summary.best_candidate + 1, 100.0 * summary.best_score,
                summary.best_evaluations);
      printf ("  final stage     %u formula%s x %u runs: %.1f%% mean validation success; policy of run %u\n",
              summary.final_candidates, summary.final_candidates == 1 ? "" : "s", summary.final_runs,
              100.0 * summary.final_score, summary.final_run + 1);
      printf ("  wall time       %.1f s (inner trainings %.1f s, Meta-Optimizer %.2f s)\n", summary.seconds,
              summary.inner_seconds, summary.outer_seconds);
      print_train_summary (experiment, &summary.final, dir);
      print_comparison (experiment, &summary);
    }
  derl_bilevel_summary_clear (&summary);
  return EXIT_OK;
}

static int
run (const Options *o, const char *path)
{
  g_autoptr (DerlRegistry) registry = derl_registry_new ();
  g_autoptr (GPtrArray) overrides = collect_overrides (o);
  g_autoptr (DerlExperiment) experiment = NULL;
  g_autoptr (GError) error = NULL;
  g_autofree char *dir = NULL;
  g_autofree char *resolved = NULL;
  g_autofree char *resolved_path = NULL;
  g_autofree char *metrics_path = NULL;
  g_autofree char *summary_path = NULL;
  g_autoptr (DerlBackend) backend = NULL;
  g_autoptr (DerlPolicy) policy = NULL;
  DerlMetrics *metrics;

  if (!derl_backend_cpu_check_env (&error))
    {
      fprintf (stderr, "derl-run: %s\n", error->message);
      return EXIT_BAD_INPUT;
    }
  derl_registry_add_default_paths (registry, o->plugin_path);
  derl_registry_scan (registry);

  experiment = derl_experiment_load (registry, path, (const char *const *) overrides->pdata, &error);
  if (!experiment)
    {
      /* Validation messages start with the file name; read errors are GLib's. */
      fprintf (stderr, "%s%s\n", error->code == DERL_EXPERIMENT_ERROR_READ ? "derl-run: " : "",
               error->message);
      return EXIT_BAD_INPUT;
    }
  resolved = derl_experiment_to_data (experiment, NULL);
  if (!o->validate && !o->quiet)
    {
      guint threads = derl_experiment_get_threads (experiment);
      printf ("cpu: %s, %s kernels, %u thread%s\n", derl_cpu_model (), derl_backend_cpu_kernels (), threads,
              threads == 1 ? "" : "s");
    }
  if (derl_experiment_get_backend_note (experiment) && !o->validate && !o->quiet)
    printf ("backend auto: %s\n", derl_experiment_get_backend_note (experiment));
  /* Everything the experiment names is checked before a run directory
   * is made: the experiment's own files by derl_experiment_load(), the
   * policy to evaluate here. */
  const char *mode = derl_params_get_string (derl_experiment_get_params (experiment, "experiment"), "mode");
  const char *policy_path = derl_params_get_string (derl_experiment_get_params (experiment, "evaluate"), "policy");
  if (strcmp (mode, "evaluate") == 0 && *policy_path)
    {
      backend = derl_backend_new (derl_experiment_get_feature (experiment, DERL_FEATURE_BACKEND),
                                  derl_experiment_get_params (experiment, "backend"), &error);
      if (!backend || !(policy = load_policy (experiment, backend, policy_path, &error)))
        {
          fprintf (stderr, "derl-run: %s\n", error->message);
          return EXIT_BAD_INPUT;
        }
    }
  if (o->validate)
    {
      fputs (resolved, stdout);
      return EXIT_OK;
    }

  gboolean bilevel = strcmp (mode, "evaluate") != 0 && strcmp (mode, "train") != 0;
  if (o->resume)
    {
      if (!bilevel)
        {
          fprintf (stderr, "derl-run: --resume %s: a %s run cannot be resumed (only derl, derl-pop, random "
                   "and fixed runs)\n", o->resume, mode);
          return EXIT_BAD_INPUT;
        }
      g_autofree char *done = g_build_filename (o->resume, "summary.json", NULL);
      if (g_file_test (done, G_FILE_TEST_EXISTS))
        {
          /* derl-run writes summary.json last: the run is complete. */
          if (!o->quiet)
            printf ("%s: the run is complete (nothing to resume); its results are in %s%cresults.md and %s\n",
                    o->resume, o->resume, G_DIR_SEPARATOR, done);
          return EXIT_OK;
        }
      return run_bilevel (o, experiment, o->resume, TRUE);
    }

  gboolean created = !o->output;
  dir = o->output ? g_strdup (o->output) : make_default_output (path, &error);
  if (!dir || (o->output && !make_run_dir (dir, &created, &error)))
    {
      fprintf (stderr, "derl-run: %s\n", error->message);
      return error->code == DERL_RUN_ERROR_EXISTS ? EXIT_BAD_INPUT : EXIT_RUNTIME;
    }
  resolved_path = g_build_filename (dir, "experiment.ini", NULL);
  metrics_path = g_build_filename (dir, "metrics.jsonl", NULL);
  summary_path = g_build_filename (dir, "summary.json", NULL);
  if (bilevel)
    {
      if (!g_file_set_contents (resolved_path, resolved, -1, &error))
        {
          fprintf (stderr, "derl-run: %s\n", error->message);
          return EXIT_RUNTIME;
        }
      int status = run_bilevel (o, experiment, dir, FALSE);
      if (status == EXIT_BAD_INPUT)
        forget_run_dir (dir, created);
      return status;
    }
  if (!g_file_set_contents (resolved_path, resolved, -1, &error)
      || !(metrics = derl_metrics_open (metrics_path, &error)))
    {
      fprintf (stderr, "derl-run: %s\n", error->message);
      return EXIT_RUNTIME;
    }
  if (strcmp (derl_params_get_string (derl_experiment_get_params (experiment, "experiment"), "mode"), "train") == 0)
    return run_train (o, experiment, metrics, dir, summary_path);
  return run_evaluate (o, experiment, policy, metrics, dir, summary_path);
}

int
main (int argc, char **argv)
{
  Options o = { 0 };
  g_autoptr (GError) error = NULL;
  int status;

  setlocale (LC_ALL, "");
  setlocale (LC_NUMERIC, "C");
  if (!parse_options (&o, &argc, &argv, &error))
    {
      fprintf (stderr, "derl-run: %s (see derl-run --help)\n", error->message);
      options_clear (&o);
      return EXIT_BAD_INPUT;
    }
  if (o.version)
    {
      printf ("derl-run %s (plugin ABI %d, API %d.%d)\n", DERL_VERSION_STRING, DERL_PLUGIN_ABI_VERSION,
              DERL_API_VERSION_MAJOR, DERL_API_VERSION_MINOR);
      options_clear (&o);
      return EXIT_OK;
    }
  if (o.resume)
    {
      /* The run's own resolved experiment; only --plugin-path and --quiet apply. */
      if ((o.args && o.args[0]) || o.output || o.sets || o.unsets || o.seed || o.validate)
        {
          fprintf (stderr, "derl-run: --resume DIR takes no experiment file and no --output, --set, --unset, "
                   "--seed or --validate: the run goes on as it was started\n");
          options_clear (&o);
          return EXIT_BAD_INPUT;
        }
      g_autofree char *resolved = g_build_filename (o.resume, "experiment.ini", NULL);
      if (!g_file_test (o.resume, G_FILE_TEST_IS_DIR))
        {
          fprintf (stderr, "derl-run: --resume %s: not a run directory\n", o.resume);
          options_clear (&o);
          return EXIT_BAD_INPUT;
        }
      status = run (&o, resolved);
      options_clear (&o);
      return status;
    }
  if (!o.args || !o.args[0] || o.args[1])
    {
      fprintf (stderr, "derl-run: expected exactly one experiment file (see derl-run --help)\n");
      options_clear (&o);
      return EXIT_BAD_INPUT;
    }
  status = run (&o, o.args[0]);
  options_clear (&o);
  return status;
}
