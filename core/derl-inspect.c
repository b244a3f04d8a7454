/* derl-inspect - list plugins and features, describe one. See derl-inspect(1). */
#include "config.h"

#include <locale.h>
#include <stdio.h>
#include <string.h>
#include <derl/derl.h>
#include "derl-inspect-check.h"

enum { EXIT_OK = INSPECT_EXIT_OK, EXIT_NOT_FOUND = INSPECT_EXIT_NOT_FOUND, EXIT_BAD_INPUT = INSPECT_EXIT_BAD_INPUT };

static gboolean opt_json;
static char *opt_exists;
static char *opt_plugin_path;
static gboolean opt_version;
static char **opt_args;
static char *opt_check;
static char **opt_sets;
static char *opt_env;
static gint opt_episodes = 20;

static const GOptionEntry entries[] = {
  { "json", 0, 0, G_OPTION_ARG_NONE, &opt_json, "Print JSON instead of text", NULL },
  { "exists", 0, 0, G_OPTION_ARG_STRING, &opt_exists,
    "Exit 0 if a feature NAME is found and available, 1 if not; print nothing", "NAME" },
  { "plugin-path", 0, 0, G_OPTION_ARG_STRING, &opt_plugin_path,
    "Search these directories for plugins first (':'-separated)", "DIRS" },
  { "check", 0, 0, G_OPTION_ARG_STRING, &opt_check,
    "Run the contract of the env or primitive NAME and print a table of checks", "NAME" },
  { "set", 0, 0, G_OPTION_ARG_STRING_ARRAY, &opt_sets,
    "With --check: set a parameter of the env (repeatable)", "KEY=VALUE" },
  { "env", 0, 0, G_OPTION_ARG_STRING, &opt_env,
    "With --check of a primitive: the env whose trajectories feed it", "NAME" },
  { "episodes", 0, 0, G_OPTION_ARG_INT, &opt_episodes,
    "With --check: random episodes per split (default 20)", "N" },
  { "version", 0, 0, G_OPTION_ARG_NONE, &opt_version, "Print the version and exit", NULL },
  { G_OPTION_REMAINING, 0, 0, G_OPTION_ARG_STRING_ARRAY, &opt_args, NULL, NULL },
  G_OPTION_ENTRY_NULL
};

static void
print_json (JsonNode *root)
{
  g_autoptr (JsonGenerator) gen = json_generator_new ();
  g_autofree char *text = NULL;

  json_generator_set_pretty (gen, TRUE);
  json_generator_set_root (gen, root);
  text = json_generator_to_data (gen, NULL);
  printf ("%s\n", text);
}

/* ---- the list ---- */

static JsonObject *
plugin_json (const DerlPlugin *p)
{
  JsonObject *o = json_object_new ();
  json_object_set_string_member (o, "name", derl_plugin_get_name (p));
  json_object_set_string_member (o, "file", derl_plugin_get_path (p));
  if (derl_plugin_get_version (p))
    json_object_set_string_member (o, "version", derl_plugin_get_version (p));
  if (derl_plugin_get_license (p))
    json_object_set_string_member (o, "license", derl_plugin_get_license (p));
  json_object_set_boolean_member (o, "available", derl_plugin_is_available (p));
  if (!derl_plugin_is_available (p))
    json_object_set_string_member (o, "reason", derl_plugin_get_error (p)->message);
  return o;
}

static int
list_all (const DerlRegistry *registry)
{
  guint n_features = derl_registry_get_n_features (registry);
  guint n_plugins = derl_registry_get_n_plugins (registry);
  guint n_unavailable = 0;

  if (opt_json)
    {
      g_autoptr (JsonBuilder) b = json_builder_new ();
      json_builder_begin_object (b);
      json_builder_set_member_name (b, "features");
      json_builder_begin_array (b);
      for (guint i = 0; i < n_features; i++)
        {
          const DerlFeature *f = derl_registry_get_feature (registry, i);
          const DerlPlugin *p = derl_feature_get_plugin (f);
          json_builder_begin_object (b);
          json_builder_set_member_name (b, "kind");
          json_builder_add_string_value (b, derl_feature_kind_name (derl_feature_get_kind (f)));
          json_builder_set_member_name (b, "name");
          json_builder_add_string_value (b, derl_feature_get_name (f));
          json_builder_set_member_name (b, "plugin");
          json_builder_add_string_value (b, derl_plugin_get_name (p));
          json_builder_set_member_name (b, "version");
          json_builder_add_string_value (b, derl_plugin_get_version (p));
          json_builder_set_member_name (b, "file");
          json_builder_add_string_value (b, derl_plugin_get_path (p));
          json_builder_set_member_name (b, "available");
          json_builder_add_boolean_value (b, TRUE);
          json_builder_end_object (b);
        }
      json_builder_end_array (b);
      json_builder_set_member_name (b, "plugins");
      json_builder_begin_array (b);
      for (guint i = 0; i < n_plugins; i++)
        {
          JsonNode *node = json_node_alloc ();
          json_node_take_object (json_node_init (node, JSON_NODE_OBJECT),
                                 plugin_json (derl_registry_get_plugin (registry, i)));
          json_builder_add_value (b, node);
        }
      json_builder_end_array (b);
      json_builder_end_object (b);
      g_autoptr (JsonNode) root = json_builder_get_root (b);
      print_json (root);
      return EXIT_OK;
    }

  for (guint i = 0; i < n_features; i++)
    {
      const DerlFeature *f = derl_registry_get_feature (registry, i);
      const DerlPlugin *p = derl_feature_get_plugin (f);
      printf ("%-10s %-16s plugin %-14s %-8s %s  available\n",
              derl_feature_kind_name (derl_feature_get_kind (f)), derl_feature_get_name (f),
              derl_plugin_get_name (p), derl_plugin_get_version (p), derl_plugin_get_path (p));
    }
  for (guint i = 0; i < n_plugins; i++)
    {
      const DerlPlugin *p = derl_registry_get_plugin (registry, i);
      if (derl_plugin_is_available (p))
        continue;
      n_unavailable++;
      printf ("%-10s %-16s plugin %-14s %-8s %s  unavailable: %s\n", "-", "-", derl_plugin_get_name (p),
              derl_plugin_get_version (p) ? derl_plugin_get_version (p) : "-",
              derl_plugin_get_path (p), derl_plugin_get_error (p)->message);
    }
  printf ("\n%u feature%s in %u plugin%s (%u unavailable)\n", n_features, n_features == 1 ? "" : "s",
          n_plugins - n_unavailable, n_plugins - n_unavailable == 1 ? "" : "s", n_unavailable);
  if (n_plugins == 0)
    {
      const char *const *path = derl_registry_get_search_path (registry);
      g_autofree char *joined = g_strjoinv (":", (char **) path);
      printf ("no plugins found in %s\n", joined);
    }
  return EXIT_OK;
}

/* ---- one feature ---- */

static void
print_specs (const DerlParamSpec *specs)
{
  if (!specs[0].name)
    printf ("    (none)\n");
  for (guint i = 0; specs[i].name; i++)
    {
      g_autofree char *accepts = derl_param_spec_describe (&specs[i]);
      printf ("  %s\n", specs[i].name);
      printf ("      type %s, %s%s\n", derl_param_type_name (specs[i].type),
              (specs[i].flags & DERL_PARAM_REQUIRED) ? "required"
              : specs[i].default_value               ? "default "
                                                     : "optional, no default",
              (specs[i].flags & DERL_PARAM_REQUIRED) || !specs[i].default_value ? "" : specs[i].default_value);
      printf ("      accepts %s\n", accepts);
      printf ("      %s\n", specs[i].doc);
    }
}

static void
add_specs_json (JsonBuilder *b, const DerlParamSpec *specs)
{
  json_builder_set_member_name (b, "parameters");
  json_builder_begin_array (b);
  for (guint i = 0; specs[i].name; i++)
    {
      g_autofree char *accepts = derl_param_spec_describe (&specs[i]);
      json_builder_begin_object (b);
      json_builder_set_member_name (b, "name");
      json_builder_add_string_value (b, specs[i].name);
      json_builder_set_member_name (b, "type");
      json_builder_add_string_value (b, derl_param_type_name (specs[i].type));
      json_builder_set_member_name (b, "required");
      json_builder_add_boolean_value (b, (specs[i].flags & DERL_PARAM_REQUIRED) != 0);
      if (!(specs[i].flags & DERL_PARAM_REQUIRED))
        {
          json_builder_set_member_name (b, "default");
          if (specs[i].default_value)
            json_builder_add_string_value (b, specs[i].default_value);
          else
            json_builder_add_null_value (b);
        }
      if (specs[i].flags & DERL_PARAM_HAS_MIN)
        {
          json_builder_set_member_name (b, "min");
          derl_json_builder_add_double (b, specs[i].min);
        }
      if (specs[i].flags & DERL_PARAM_HAS_MAX)
        {
          json_builder_set_member_name (b, "max");
          derl_json_builder_add_double (b, specs[i].max);
        }
      if (specs[i].choices)
        {
          json_builder_set_member_name (b, "choices");
          json_builder_begin_array (b);
          for (guint j = 0; specs[i].choices[j]; j++)
            json_builder_add_string_value (b, specs[i].choices[j]);
          json_builder_end_array (b);
        }
      json_builder_set_member_name (b, "accepts");
      json_builder_add_string_value (b, accepts);
      json_builder_set_member_name (b, "doc");
      json_builder_add_string_value (b, specs[i].doc);
      json_builder_end_object (b);
    }
  json_builder_end_array (b);
}

/* An env instance with default parameters, to show what it declares. */
static DerlEnv *
default_env (const DerlFeature *f, GError **error)
{
  g_autoptr (DerlParams) params = derl_params_new (derl_feature_get_params (f));
  const DerlParamSpec *specs = derl_feature_get_params (f);

  for (guint i = 0; specs[i].name; i++)
    if (specs[i].flags & DERL_PARAM_REQUIRED)
      return NULL;
  return derl_env_new (f, params, error);
}

static void
print_env_spec (const DerlEnvSpec *s)
{
  printf ("\nInterface (default parameters):\n");
  printf ("  observation     %u floats\n", s->obs_size);
  printf ("  actions         %u%s\n", s->n_actions,
          s->candidate_size ? " candidate slots" : " discrete");
  if (s->candidate_size)
    printf ("  candidate       %u floats per admissible action\n", s->candidate_size);
  printf ("  max steps       %u\n", s->max_steps);
  printf ("  signals        ");
  for (guint i = 0; i < s->n_signals; i++)
    printf (" %s", s->signals[i]);
  printf ("%s\n  splits         ", s->n_signals ? "" : " (none)");
  for (guint i = 0; i < s->n_splits; i++)
    printf (" %s (%" G_GUINT64_FORMAT " task%s)%s", s->splits[i].name, s->splits[i].n_tasks,
            s->splits[i].n_tasks == 1 ? "" : "s", i + 1 < s->n_splits ? "," : "");
  printf ("\n");
  if (s->target_return)
    printf ("  target return   %g (the default of [train] target_return)\n", *s->target_return);
  else
    printf ("  target return   none\n");
}

static void
add_env_spec_json (JsonBuilder *b, const DerlEnvSpec *s)
{
  json_builder_set_member_name (b, "interface");
  json_builder_begin_object (b);
  json_builder_set_member_name (b, "obs_size");
  json_builder_add_int_value (b, s->obs_size);
  json_builder_set_member_name (b, "n_actions");
  json_builder_add_int_value (b, s->n_actions);
  json_builder_set_member_name (b, "candidate_size");
  json_builder_add_int_value (b, s->candidate_size);
  json_builder_set_member_name (b, "max_steps");
  json_builder_add_int_value (b, s->max_steps);
  json_builder_set_member_name (b, "signals");
  json_builder_begin_array (b);
  for (guint i = 0; i < s->n_signals; i++)
    json_builder_add_string_value (b, s->signals[i]);
  json_builder_end_array (b);
  json_builder_set_member_name (b, "splits");
  json_builder_begin_object (b);
  for (guint i = 0; i < s->n_splits; i++)
    {
      json_builder_set_member_name (b, s->splits[i].name);
      json_builder_add_int_value (b, (gint64) s->splits[i].n_tasks);
    }
  json_builder_end_object (b);
  json_builder_set_member_name (b, "target_return");
  if (s->target_return)
    json_builder_add_double_value (b, *s->target_return);
  else
    json_builder_add_null_value (b);
  json_builder_end_object (b);
}

static int
describe_feature (const DerlFeature *f)
{
  const DerlPlugin *p = derl_feature_get_plugin (f);
  const char *kind = derl_feature_kind_name (derl_feature_get_kind (f));
  g_autoptr (DerlEnv) env = NULL;
  g_autoptr (GError) env_error = NULL;
  const DerlPrimitiveVTable *prim = derl_feature_get_primitive_vtable (f);

  if (derl_feature_get_kind (f) == DERL_FEATURE_ENV)
    env = default_env (f, &env_error);

  if (opt_json)
    {
      g_autoptr (JsonBuilder) b = json_builder_new ();
      json_builder_begin_object (b);
      json_builder_set_member_name (b, "kind");
      json_builder_add_string_value (b, kind);
      json_builder_set_member_name (b, "name");
      json_builder_add_string_value (b, derl_feature_get_name (f));
      json_builder_set_member_name (b, "description");
      json_builder_add_string_value (b, derl_feature_get_description (f));
      json_builder_set_member_name (b, "plugin");
      json_builder_add_value (b, json_node_init_object (json_node_alloc (), plugin_json (p)));
      json_builder_set_member_name (b, "group");
      json_builder_add_string_value (b, kind);
      add_specs_json (b, derl_feature_get_params (f));
      if (env)
        add_env_spec_json (b, derl_env_get_spec (env));
      if (prim)
        {
          json_builder_set_member_name (b, "signals");
          json_builder_begin_array (b);
          for (guint i = 0; prim->signals && prim->signals[i]; i++)
            json_builder_add_string_value (b, prim->signals[i]);
          json_builder_end_array (b);
          json_builder_set_member_name (b, "outcome_like");
          json_builder_add_boolean_value (b, prim->outcome_like);
        }
      json_builder_end_object (b);
      g_autoptr (JsonNode) root = json_builder_get_root (b);
      print_json (root);
      return EXIT_OK;
    }

  printf ("%s '%s'\n\n", kind, derl_feature_get_name (f));
  printf ("%s\n\n", derl_feature_get_description (f));
  printf ("Plugin:\n");
  printf ("  name            %s\n", derl_plugin_get_name (p));
  printf ("  description     %s\n", derl_plugin_get_description (p));
  printf ("  version         %s\n", derl_plugin_get_version (p));
  printf ("  license         %s\n", derl_plugin_get_license (p));
  printf ("  file            %s\n", derl_plugin_get_path (p));
  if (env)
    print_env_spec (derl_env_get_spec (env));
  else if (env_error)
    printf ("\nInterface: cannot create with default parameters: %s\n", env_error->message);
  if (prim)
    {
      g_autofree char *signals = prim->signals && prim->signals[0] ? g_strjoinv (", ", (char **) prim->signals)
                                                                   : g_strdup ("(none)");
      printf ("\nReads the env signals: %s\n", signals);
      printf ("Formula validation probes it at %s\n", prim->outcome_like ? "1 (outcome-like)" : "1e-6 and 1 + 1e-6");
      printf ("Use it as a formula variable: [primitives] g1 = %s\n", derl_feature_get_name (f));
      return EXIT_OK;
    }
  printf ("\nParameters, in group [%s] after 'name = %s':\n", kind, derl_feature_get_name (f));
  print_specs (derl_feature_get_params (f));
  return EXIT_OK;
}

static int
describe_plugin (const DerlRegistry *registry, const DerlPlugin *p)
{
  if (opt_json)
    {
      JsonObject *o = plugin_json (p);
      g_autoptr (JsonNode) root = json_node_init_object (json_node_alloc (), o);
      json_object_unref (o);
      print_json (root);
      return derl_plugin_is_available (p) ? EXIT_OK : EXIT_NOT_FOUND;
    }
  printf ("plugin '%s'\n\n", derl_plugin_get_name (p));
  printf ("  file            %s\n", derl_plugin_get_path (p));
  if (!derl_plugin_is_available (p))
    {
      printf ("  unavailable     %s\n", derl_plugin_get_error (p)->message);
      return EXIT_NOT_FOUND;
    }
  printf ("  description     %s\n", derl_plugin_get_description (p));
  printf ("  version         %s\n", derl_plugin_get_version (p));
  printf ("  license         %s\n", derl_plugin_get_license (p));
  printf ("  features       ");
  for (guint i = 0; i < derl_registry_get_n_features (registry); i++)
    {
      const DerlFeature *f = derl_registry_get_feature (registry, i);
      if (derl_feature_get_plugin (f) == p)
        printf (" %s %s;", derl_feature_kind_name (derl_feature_get_kind (f)), derl_feature_get_name (f));
    }
  printf ("\n");
  return EXIT_OK;
}

static int
describe_group (const char *group)
{
  const DerlParamSpec *specs = derl_experiment_get_core_specs (group);

  if (opt_json)
    {
      g_autoptr (JsonBuilder) b = json_builder_new ();
      json_builder_begin_object (b);
      json_builder_set_member_name (b, "group");
      json_builder_add_string_value (b, group);
      add_specs_json (b, specs);
      json_builder_end_object (b);
      g_autoptr (JsonNode) root = json_builder_get_root (b);
      print_json (root);
      return EXIT_OK;
    }
  printf ("experiment group [%s] (see derl-experiment(5))\n\nKeys:\n", group);
  print_specs (specs);
  return EXIT_OK;
}

static int
describe (const DerlRegistry *registry, const char *name)
{
  const DerlFeature *f = derl_registry_find_any (registry, name);
  const DerlPlugin *p;

  if (f)
    return describe_feature (f);
  p = derl_registry_find_plugin (registry, name);
  if (p)
    return describe_plugin (registry, p);
  if (derl_experiment_get_core_specs (name))
    return describe_group (name);
  if (strcmp (name, "primitives") == 0 && opt_json)
    {
      g_autoptr (JsonBuilder) b = json_builder_new ();
      json_builder_begin_object (b);
      json_builder_set_member_name (b, "group");
      json_builder_add_string_value (b, "primitives");
      json_builder_set_member_name (b, "max_variables");
      json_builder_add_int_value (b, DERL_EXPERIMENT_MAX_PRIMITIVES);
      json_builder_set_member_name (b, "primitives");
      json_builder_begin_array (b);
      for (guint i = 0; i < derl_registry_get_n_features (registry); i++)
        {
          const DerlFeature *pf = derl_registry_get_feature (registry, i);
          if (derl_feature_get_kind (pf) == DERL_FEATURE_PRIMITIVE)
            json_builder_add_string_value (b, derl_feature_get_name (pf));
        }
      json_builder_end_array (b);
      json_builder_end_object (b);
      g_autoptr (JsonNode) root = json_builder_get_root (b);
      print_json (root);
      return EXIT_OK;
    }
  if (strcmp (name, "primitives") == 0)
    {
      printf ("experiment group [primitives] (see derl-experiment(5))\n\n"
              "Keys g1, g2, ... (up to g%d, numbered without gaps), each naming a primitive\n"
              "feature; they are the variables of the [reward] formula.  Primitives here:\n",
              DERL_EXPERIMENT_MAX_PRIMITIVES);
      for (guint i = 0; i < derl_registry_get_n_features (registry); i++)
        {
          const DerlFeature *pf = derl_registry_get_feature (registry, i);
          if (derl_feature_get_kind (pf) == DERL_FEATURE_PRIMITIVE)
            printf ("  %s\n", derl_feature_get_name (pf));
        }
      return EXIT_OK;
    }

  g_autofree char *near = derl_registry_suggest (registry, -1, name);
  fprintf (stderr, "derl-inspect: no feature, plugin or experiment group named '%s'%s%s%s\n", name,
           near ? "; did you mean '" : "", near ? near : "", near ? "'?" : "");
  return EXIT_NOT_FOUND;
}

int
main (int argc, char **argv)
{
  g_autoptr (GOptionContext) context = g_option_context_new ("[NAME]");
  g_autoptr (GError) error = NULL;
  g_autoptr (DerlRegistry) registry = NULL;
  int status;

  setlocale (LC_ALL, "");
  setlocale (LC_NUMERIC, "C");
  g_option_context_set_summary (context,
    "With no NAME, list every feature the plugins provide (kind, name, plugin,\n"
    "version, file) and every plugin that could not be loaded, with the reason.\n"
    "With NAME (a feature, a plugin or an experiment group), describe it and\n"
    "every parameter it takes.  With --check NAME, run an env's contract (spec,\n"
    "outputs, truncation, determinism, tasks, state round trip, speed) or a\n"
    "primitive over an env's random trajectories, and print a table of checks.");
  g_option_context_set_description (context,
    "Exit status: 0 success, 1 NAME not found (or, with --exists, unavailable;\n"
    "with --check, a check failed), 2 bad options (with --check: an unknown name\n"
    "or a bad --set).  See derl-inspect(1).");
  g_option_context_add_main_entries (context, entries, NULL);
  if (!g_option_context_parse (context, &argc, &argv, &error))
    {
      fprintf (stderr, "derl-inspect: %s (see derl-inspect --help)\n", error->message);
      return EXIT_BAD_INPUT;
    }
  if (opt_version)
    {
      printf ("derl-inspect %s (plugin ABI %d, API %d.%d)\n", DERL_VERSION_STRING,
              DERL_PLUGIN_ABI_VERSION, DERL_API_VERSION_MAJOR, DERL_API_VERSION_MINOR);
      return EXIT_OK;
    }
  if (opt_args && opt_args[0] && opt_args[1])
    {
      fprintf (stderr, "derl-inspect: expected at most one NAME (see derl-inspect --help)\n");
      return EXIT_BAD_INPUT;
    }

  registry = derl_registry_new ();
  derl_registry_add_default_paths (registry, opt_plugin_path);
  derl_registry_scan (registry);

  if (opt_check && (opt_exists || (opt_args && opt_args[0])))
    {
      fprintf (stderr, "derl-inspect: --check takes no other NAME (see derl-inspect --help)\n");
      return EXIT_BAD_INPUT;
    }
  if (!opt_check && (opt_sets || opt_env))
    {
      fprintf (stderr, "derl-inspect: --set and --env go with --check (see derl-inspect --help)\n");
      return EXIT_BAD_INPUT;
    }
  if (opt_episodes < 1)
    {
      fprintf (stderr, "derl-inspect: --episodes: expected a count of at least 1\n");
      return EXIT_BAD_INPUT;
    }

  if (opt_check)
    status = inspect_check (registry, opt_check, opt_sets, opt_env, (guint) opt_episodes, opt_json);
  else if (opt_exists)
    status = derl_registry_find_any (registry, opt_exists) ? EXIT_OK : EXIT_NOT_FOUND;
  else if (opt_args && opt_args[0])
    status = describe (registry, opt_args[0]);
  else
    status = list_all (registry);

  g_free (opt_exists);
  g_free (opt_check);
  g_free (opt_env);
  g_strfreev (opt_sets);
  g_free (opt_plugin_path);
  g_strfreev (opt_args);
  return status;
}
