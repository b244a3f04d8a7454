/* derl-run - run an experiment file. See derl-run(1). */
#include "config.h"

#include <errno.h>
#include <locale.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <glib/gstdio.h>
#include <derl/derl.h>

enum { EXIT_OK = 0, EXIT_RUNTIME = 1, EXIT_BAD_INPUT = 2 };

typedef struct {
  gboolean validate;
  char *output;
  char *seed;
  char *threads;
  char **sets;
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
    { "seed", 's', 0, G_OPTION_ARG_STRING, &o->seed, "Same as --set experiment.seed=N", "N" },
    { "threads", 'j', 0, G_OPTION_ARG_STRING, &o->threads, "Same as --set experiment.threads=N", "N" },
    { "set", 0, 0, G_OPTION_ARG_STRING_ARRAY, &o->sets,
      "Override a key of the experiment (repeatable)", "GROUP.KEY=VALUE" },
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
    "their parameter specs, and run it into a new run directory.");
  g_option_context_set_description (context,
    "Exit status: 0 success, 1 run-time failure, 2 bad input (options, experiment\n"
    "file, plugins).  Plugins are searched in --plugin-path, $DERL_PLUGIN_PATH, then\n"
    "$DERL_PLUGIN_SYSTEM_PATH or the system plugin directory.\n"
    "See derl-run(1) and derl-experiment(5).");
  g_option_context_add_main_entries (context, entries, NULL);
  return g_option_context_parse (context, argc, argv, error);
}

static void
options_clear (Options *o)
{
  g_free (o->output);
  g_free (o->seed);
  g_free (o->threads);
  g_strfreev (o->sets);
  g_free (o->plugin_path);
  g_strfreev (o->args);
}

static GPtrArray *
collect_overrides (const Options *o)
{
  GPtrArray *overrides = g_ptr_array_new_with_free_func (g_free);

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

/* Creates @dir, which must not exist or be an empty directory. */
static gboolean
make_run_dir (const char *dir, GError **error)
{
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
  return TRUE;
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

static JsonObject *
summary_object (const DerlExperiment *e, const DerlEvaluateSummary *s, double seconds)
{
  JsonObject *o = json_object_new ();
  const DerlParams *ex = derl_experiment_get_params (e, "experiment");
  const DerlParams *ev = derl_experiment_get_params (e, "evaluate");

  json_object_set_string_member (o, "event", "summary");
  json_object_set_string_member (o, "mode", "evaluate");
  json_object_set_string_member (o, "env",
                                 derl_feature_get_name (derl_experiment_get_feature (e, DERL_FEATURE_ENV)));
  json_object_set_string_member (o, "split", derl_params_get_string (ev, "split"));
  json_object_set_string_member (o, "policy", "random");
  json_object_set_int_member (o, "seed", derl_params_get_int (ex, "seed"));
  json_object_set_int_member (o, "episodes", s->n_episodes);
  json_object_set_double_member (o, "mean_return", s->mean_return);
  json_object_set_double_member (o, "std_return", s->std_return);
  json_object_set_double_member (o, "min_return", s->min_return);
  json_object_set_double_member (o, "max_return", s->max_return);
  json_object_set_double_member (o, "mean_length", s->mean_length);
  json_object_set_double_member (o, "success_rate", s->success_rate);
  json_object_set_int_member (o, "steps", (gint64) s->total_steps);
  json_object_set_double_member (o, "wall_seconds", seconds);
  json_object_set_double_member (o, "steps_per_second", seconds > 0 ? s->total_steps / seconds : 0);
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
print_summary (const DerlExperiment *e, const DerlEvaluateSummary *s, double seconds, guint threads,
               const char *dir)
{
  const DerlParams *ex = derl_experiment_get_params (e, "experiment");
  const DerlParams *ev = derl_experiment_get_params (e, "evaluate");
  g_autofree char *rate = human_rate (seconds > 0 ? s->total_steps / seconds : 0);

  printf ("evaluate: env %s, split %s, random policy, seed %" G_GINT64_FORMAT ", %u thread%s\n",
          derl_feature_get_name (derl_experiment_get_feature (e, DERL_FEATURE_ENV)),
          derl_params_get_string (ev, "split"), derl_params_get_int (ex, "seed"), threads,
          threads == 1 ? "" : "s");
  printf ("  episodes        %u\n", s->n_episodes);
  printf ("  return          %.2f +- %.2f (min %.6g, max %.6g)\n", s->mean_return, s->std_return,
          s->min_return, s->max_return);
  printf ("  length          %.2f\n", s->mean_length);
  printf ("  success rate    %.1f%%\n", 100.0 * s->success_rate);
  printf ("  steps           %" G_GUINT64_FORMAT " in %.3f s (%s steps/s)\n", s->total_steps, seconds,
          rate);
  printf ("  run directory   %s\n", dir);
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
  DerlMetrics *metrics;
  DerlEvaluateSummary summary;
  gboolean ok;

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
  if (o->validate)
    {
      fputs (resolved, stdout);
      return EXIT_OK;
    }

  dir = o->output ? g_strdup (o->output) : make_default_output (path, &error);
  if (!dir || (o->output && !make_run_dir (dir, &error)))
    {
      fprintf (stderr, "derl-run: %s\n", error->message);
      return error->code == DERL_RUN_ERROR_EXISTS ? EXIT_BAD_INPUT : EXIT_RUNTIME;
    }
  resolved_path = g_build_filename (dir, "experiment.ini", NULL);
  metrics_path = g_build_filename (dir, "metrics.jsonl", NULL);
  summary_path = g_build_filename (dir, "summary.json", NULL);
  if (!g_file_set_contents (resolved_path, resolved, -1, &error)
      || !(metrics = derl_metrics_open (metrics_path, &error)))
    {
      fprintf (stderr, "derl-run: %s\n", error->message);
      return EXIT_RUNTIME;
    }

  guint threads = (guint) derl_params_get_int (derl_experiment_get_params (experiment, "experiment"),
                                               "threads");
  gboolean show_progress = !o->quiet && isatty (STDERR_FILENO);
  gint64 start = g_get_monotonic_time ();
  ok = derl_evaluate_run (experiment, threads, metrics, show_progress ? print_progress : NULL, NULL,
                          &summary, &error);
  double seconds = (g_get_monotonic_time () - start) / 1e6;
  if (ok)
    {
      g_autoptr (JsonObject) s = summary_object (experiment, &summary, seconds);
      ok = derl_metrics_write (metrics, s, &error) && write_json_file (summary_path, s, &error);
    }
  if (!derl_metrics_close (metrics, ok ? &error : NULL))
    ok = FALSE;
  if (!ok)
    {
      fprintf (stderr, "derl-run: %s\n", error->message);
      return EXIT_RUNTIME;
    }
  if (!o->quiet)
    print_summary (experiment, &summary, seconds, threads, dir);
  return EXIT_OK;
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
