/* derl - the plugin search path, scanning it, and looking features up. */
#include "config.h"

#include <dlfcn.h>
#include <stdlib.h>
#include <string.h>
#include "derl-private.h"

typedef struct {
  char *dir;
  gboolean recursive; /* a build tree's plugins directory */
} SearchDir;

struct _DerlRegistry {
  GArray *search;       /* SearchDir */
  GPtrArray *path_strv; /* search dirs as a NULL-terminated array */
  GPtrArray *plugins;   /* DerlPlugin *, load order */
  GPtrArray *features;  /* DerlFeature * of usable plugins (owned by the plugins' pending arrays) */
};

static void
search_dir_clear (gpointer data)
{
  g_free (((SearchDir *) data)->dir);
}

/* ---- the features built into libderl, listed as the plugin "core" ---- */

static gboolean
core_init (DerlPlugin *plugin, GError **error)
{
  return derl_plugin_register_backend (plugin, "cpu",
                                       "The built-in CPU tensor backend: derl's own kernels, portable C,\n"
                                       "AVX2 and AVX-512 (the widest this CPU runs, or DERL_CPU's), with\n"
                                       "the same bits on every path, CPU and thread count; float32 and\n"
                                       "float64.  No parameters: derl-run --threads splits its ops.",
                                       derl_backend_cpu_vtable (), derl_backend_cpu_params (), error);
}

static const DerlPluginDesc core_desc = {
  DERL_PLUGIN_ABI_VERSION, DERL_API_VERSION_MAJOR, DERL_API_VERSION_MINOR,
  "core", "the features built into libderl", core_init, DERL_VERSION_STRING, "LGPL-2.1-or-later", { NULL }
};

#define BUILTIN_PATH "(built in)"

static void
add_builtin (DerlRegistry *registry)
{
  DerlPlugin *plugin = _derl_plugin_new (registry, BUILTIN_PATH);
  g_autoptr (GError) error = NULL;

  g_ptr_array_add (registry->plugins, plugin);
  if (!_derl_plugin_start_builtin (plugin, &core_desc, &error))
    g_error ("the built-in features failed to register: %s", error->message);
  for (guint i = 0; i < plugin->pending->len; i++)
    g_ptr_array_add (registry->features, plugin->pending->pdata[i]);
}

DerlRegistry *
derl_registry_new (void)
{
  DerlRegistry *registry = g_new0 (DerlRegistry, 1);

  registry->search = g_array_new (FALSE, TRUE, sizeof (SearchDir));
  g_array_set_clear_func (registry->search, search_dir_clear);
  registry->path_strv = g_ptr_array_new ();
  g_ptr_array_add (registry->path_strv, NULL);
  registry->plugins = g_ptr_array_new_with_free_func ((GDestroyNotify) _derl_plugin_free);
  registry->features = g_ptr_array_new ();
  add_builtin (registry);
  return registry;
}

void
derl_registry_free (DerlRegistry *registry)
{
  if (!registry)
    return;
  g_ptr_array_unref (registry->features);
  g_ptr_array_unref (registry->plugins);
  g_ptr_array_unref (registry->path_strv);
  g_array_unref (registry->search);
  g_free (registry);
}

static void
add_dir (DerlRegistry *registry, const char *dir, gboolean recursive)
{
  SearchDir entry = { g_strdup (dir), recursive };

  g_array_append_val (registry->search, entry);
  g_ptr_array_insert (registry->path_strv, (gint) registry->path_strv->len - 1, entry.dir);
}

void
derl_registry_add_path (DerlRegistry *registry, const char *dirs)
{
  g_auto (GStrv) parts = NULL;

  g_return_if_fail (registry != NULL);
  if (!dirs)
    return;
  parts = g_strsplit (dirs, G_SEARCHPATH_SEPARATOR_S, -1);
  for (guint i = 0; parts[i]; i++)
    if (*parts[i])
      add_dir (registry, parts[i], FALSE);
}

/* When libderl itself was loaded from a libtool build tree (TOP/core/.libs),
 * returns TOP; installed libraries never live in a .libs folder. */
char *
_derl_build_tree_top (void)
{
  Dl_info info;
  g_autofree char *real = NULL;
  g_autofree char *libs = NULL;
  g_autofree char *core = NULL;
  g_autofree char *libs_base = NULL;
  g_autofree char *core_base = NULL;

  if (!dladdr ((void *) derl_registry_new, &info) || !info.dli_fname)
    return NULL;
  real = realpath (info.dli_fname, NULL);
  if (!real)
    return NULL;
  libs = g_path_get_dirname (real);
  libs_base = g_path_get_basename (libs);
  core = g_path_get_dirname (libs);
  core_base = g_path_get_basename (core);
  if (strcmp (libs_base, ".libs") != 0 || strcmp (core_base, "core") != 0)
    return NULL;
  return g_path_get_dirname (core);
}

/* The build tree's plugins, when libderl was loaded from one. */
static char *
build_tree_plugins_dir (void)
{
  g_autofree char *top = _derl_build_tree_top ();
  char *plugins;

  if (!top)
    return NULL;
  plugins = g_build_filename (top, "plugins", NULL);
  if (!g_file_test (plugins, G_FILE_TEST_IS_DIR))
    g_clear_pointer (&plugins, g_free);
  return plugins;
}

void
derl_registry_add_default_paths (DerlRegistry *registry, const char *cli_path)
{
  const char *system_path;

  g_return_if_fail (registry != NULL);
  derl_registry_add_path (registry, cli_path);
  derl_registry_add_path (registry, g_getenv (DERL_PLUGIN_PATH_ENV));
  system_path = g_getenv (DERL_PLUGIN_SYSTEM_PATH_ENV);
  if (system_path)
    {
      derl_registry_add_path (registry, system_path);
      return;
    }
  g_autofree char *build_plugins = build_tree_plugins_dir ();
  if (build_plugins)
    add_dir (registry, build_plugins, TRUE);
  else
    add_dir (registry, DERL_PLUGINSDIR, FALSE);
}

const char *const *
derl_registry_get_search_path (const DerlRegistry *registry)
{
  return (const char *const *) registry->path_strv->pdata;
}

static int
compare_strings (gconstpointer a, gconstpointer b)
{
  return strcmp (*(const char *const *) a, *(const char *const *) b);
}

static gboolean
already_listed (const DerlRegistry *registry, const char *path)
{
  for (guint i = 0; i < registry->plugins->len; i++)
    if (strcmp (((DerlPlugin *) registry->plugins->pdata[i])->path, path) == 0)
      return TRUE;
  return FALSE;
}

static void
scan_dir (DerlRegistry *registry, const char *dir, gboolean recursive, guint depth)
{
  g_autoptr (GDir) d = g_dir_open (dir, 0, NULL);
  g_autoptr (GPtrArray) names = g_ptr_array_new_with_free_func (g_free);
  const char *name;

  if (!d || depth > 8)
    return;
  while ((name = g_dir_read_name (d)))
    g_ptr_array_add (names, g_strdup (name));
  /* Sorted, so that load order (and so which duplicate wins) does not depend
   * on the file system. */
  g_ptr_array_sort (names, compare_strings);

  for (guint i = 0; i < names->len; i++)
    {
      const char *entry = names->pdata[i];
      g_autofree char *path = g_build_filename (dir, entry, NULL);
      if (g_file_test (path, G_FILE_TEST_IS_DIR))
        {
          if (strcmp (entry, ".libs") == 0)
            scan_dir (registry, path, FALSE, depth + 1);
          else if (recursive && entry[0] != '.')
            scan_dir (registry, path, TRUE, depth + 1);
        }
      else if (g_str_has_suffix (entry, "." G_MODULE_SUFFIX) && !already_listed (registry, path))
        derl_registry_load_file (registry, path, NULL);
    }
}

void
derl_registry_scan (DerlRegistry *registry)
{
  g_return_if_fail (registry != NULL);
  for (guint i = 0; i < registry->search->len; i++)
    {
      const SearchDir *s = &g_array_index (registry->search, SearchDir, i);
      scan_dir (registry, s->dir, s->recursive, 0);
    }
}

const DerlPlugin *
_derl_registry_find_usable_plugin (const DerlRegistry *registry, const char *name)
{
  for (guint i = 0; i < registry->plugins->len; i++)
    {
      const DerlPlugin *p = registry->plugins->pdata[i];
      if (derl_plugin_is_available (p) && strcmp (p->name, name) == 0)
        return p;
    }
  return NULL;
}

gboolean
derl_registry_load_file (DerlRegistry *registry, const char *path, GError **error)
{
  DerlPlugin *plugin;

  g_return_val_if_fail (registry != NULL && path != NULL, FALSE);

  plugin = _derl_plugin_new (registry, path);
  if (!_derl_plugin_load (plugin, error))
    {
      g_ptr_array_add (registry->plugins, plugin);
      return FALSE;
    }
  g_ptr_array_add (registry->plugins, plugin);
  for (guint i = 0; i < plugin->pending->len; i++)
    g_ptr_array_add (registry->features, plugin->pending->pdata[i]);
  return TRUE;
}

guint
derl_registry_get_n_plugins (const DerlRegistry *registry)
{
  return registry->plugins->len;
}

const DerlPlugin *
derl_registry_get_plugin (const DerlRegistry *registry, guint index)
{
  g_return_val_if_fail (index < registry->plugins->len, NULL);
  return registry->plugins->pdata[index];
}

guint
derl_registry_get_n_features (const DerlRegistry *registry)
{
  return registry->features->len;
}

const DerlFeature *
derl_registry_get_feature (const DerlRegistry *registry, guint index)
{
  g_return_val_if_fail (index < registry->features->len, NULL);
  return registry->features->pdata[index];
}

const DerlFeature *
derl_registry_find (const DerlRegistry *registry, DerlFeatureKind kind, const char *name)
{
  for (guint i = 0; i < registry->features->len; i++)
    {
      const DerlFeature *f = registry->features->pdata[i];
      if (f->kind == kind && strcmp (f->name, name) == 0)
        return f;
    }
  return NULL;
}

const DerlFeature *
_derl_registry_find_pending (const DerlRegistry *registry, DerlFeatureKind kind, const char *name,
                            const DerlPlugin *also)
{
  const DerlFeature *f = derl_registry_find (registry, kind, name);

  for (guint i = 0; !f && also && i < also->pending->len; i++)
    {
      const DerlFeature *p = also->pending->pdata[i];
      if (p->kind == kind && strcmp (p->name, name) == 0)
        f = p;
    }
  return f;
}

const DerlFeature *
derl_registry_find_any (const DerlRegistry *registry, const char *name)
{
  for (guint i = 0; i < registry->features->len; i++)
    {
      const DerlFeature *f = registry->features->pdata[i];
      if (strcmp (f->name, name) == 0)
        return f;
    }
  return NULL;
}

const DerlPlugin *
derl_registry_find_plugin (const DerlRegistry *registry, const char *name)
{
  for (guint i = 0; i < registry->plugins->len; i++)
    {
      const DerlPlugin *p = registry->plugins->pdata[i];
      if (strcmp (p->name, name) == 0)
        return p;
    }
  for (guint i = 0; i < registry->plugins->len; i++)
    {
      const DerlPlugin *p = registry->plugins->pdata[i];
      g_autofree char *base = g_path_get_basename (p->path);
      char *dot = strrchr (base, '.');
      if (dot)
        *dot = '\0';
      if (strcmp (base, name) == 0)
        return p;
    }
  return NULL;
}

char *
derl_registry_suggest (const DerlRegistry *registry, int kind, const char *name)
{
  g_autoptr (GPtrArray) names = g_ptr_array_new ();
  const char *best;

  for (guint i = 0; i < registry->features->len; i++)
    {
      const DerlFeature *f = registry->features->pdata[i];
      if (kind < 0 || (int) f->kind == kind)
        g_ptr_array_add (names, f->name);
    }
  best = _derl_suggest_closest (name, (const char *const *) names->pdata, names->len);
  return g_strdup (best);
}

DerlFeatureKind
derl_feature_get_kind (const DerlFeature *feature)
{
  return feature->kind;
}

const char *
derl_feature_get_name (const DerlFeature *feature)
{
  return feature->name;
}

const char *
derl_feature_get_description (const DerlFeature *feature)
{
  return feature->description;
}

const DerlPlugin *
derl_feature_get_plugin (const DerlFeature *feature)
{
  return feature->plugin;
}

const DerlParamSpec *
derl_feature_get_params (const DerlFeature *feature)
{
  static const DerlParamSpec none[] = { DERL_PARAM_END };
  return feature->params ? feature->params : none;
}

const DerlEnvVTable *
derl_feature_get_env_vtable (const DerlFeature *feature)
{
  return feature->kind == DERL_FEATURE_ENV ? feature->vtable : NULL;
}

const DerlBackendVTable *
derl_feature_get_backend_vtable (const DerlFeature *feature)
{
  return feature->kind == DERL_FEATURE_BACKEND ? feature->vtable : NULL;
}

const DerlOptimizerVTable *
derl_feature_get_optimizer_vtable (const DerlFeature *feature)
{
  return feature->kind == DERL_FEATURE_OPTIMIZER ? feature->vtable : NULL;
}

const DerlPrimitiveVTable *
derl_feature_get_primitive_vtable (const DerlFeature *feature)
{
  return feature->kind == DERL_FEATURE_PRIMITIVE ? feature->vtable : NULL;
}
