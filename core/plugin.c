/* derl - one plugin: opening its file, checking its descriptor, running its init. */
#include "config.h"

#include <stddef.h>
#include <string.h>
#include "derl-private.h"

const char *
derl_feature_kind_name (DerlFeatureKind kind)
{
  switch (kind)
    {
    case DERL_FEATURE_ENV: return "env";
    case DERL_FEATURE_OPTIMIZER: return "optimizer";
    case DERL_FEATURE_PRIMITIVE: return "primitive";
    case DERL_FEATURE_BACKEND: return "backend";
    default: return "unknown";
    }
}

DerlPlugin *
_derl_plugin_new (DerlRegistry *registry, const char *path)
{
  DerlPlugin *plugin = g_new0 (DerlPlugin, 1);
  g_autofree char *base = g_path_get_basename (path);
  char *dot = strrchr (base, '.');

  if (dot)
    *dot = '\0';
  plugin->path = g_strdup (path);
  plugin->name = g_strdup (base);
  plugin->registry = registry;
  plugin->pending = g_ptr_array_new_with_free_func ((GDestroyNotify) _derl_feature_free);
  return plugin;
}

void
_derl_feature_free (DerlFeature *feature)
{
  if (!feature)
    return;
  g_free (feature->name);
  g_free (feature->description);
  g_free (feature);
}

void
_derl_plugin_free (DerlPlugin *plugin)
{
  if (!plugin)
    return;
  g_ptr_array_unref (plugin->pending);
  g_clear_error (&plugin->error);
  /* Modules stay mapped: features may be referenced until exit, and
   * unloading confuses leak checkers' symbolisation. */
  g_free (plugin->path);
  g_free (plugin->name);
  g_free (plugin->description);
  g_free (plugin->version);
  g_free (plugin->license);
  g_free (plugin);
}

static gboolean
valid_feature_name (const char *name)
{
  if (!name || !g_ascii_isalnum (name[0]))
    return FALSE;
  for (const char *p = name; *p; p++)
    if (!g_ascii_islower (*p) && !g_ascii_isdigit (*p) && *p != '-' && *p != '_')
      return FALSE;
  return TRUE;
}

static gboolean
fail (DerlPlugin *plugin, GError **error, GError *err)
{
  g_clear_error (&plugin->error);
  plugin->error = err;
  plugin->desc = NULL;
  g_ptr_array_set_size (plugin->pending, 0);
  if (plugin->module)
    {
      g_module_close (plugin->module);
      plugin->module = NULL;
    }
  if (error)
    *error = g_error_copy (err);
  return FALSE;
}

static gboolean
check_desc (DerlPlugin *plugin, const DerlPluginDesc *desc, GError **error)
{
  if (!desc)
    return fail (plugin, error, g_error_new (DERL_PLUGIN_ERROR, DERL_PLUGIN_ERROR_INVALID,
                                             "%s: %s() returned NULL", plugin->path,
                                             DERL_PLUGIN_ENTRY_SYMBOL));
  plugin->abi_version = desc->abi_version;
  if (desc->abi_version != DERL_PLUGIN_ABI_VERSION)
    return fail (plugin, error,
                 g_error_new (DERL_PLUGIN_ERROR, DERL_PLUGIN_ERROR_ABI_MISMATCH,
                              "%s: built for plugin ABI %u, but this derl uses ABI %u; "
                              "rebuild the plugin against derl %s",
                              plugin->path, desc->abi_version, DERL_PLUGIN_ABI_VERSION,
                              DERL_VERSION_STRING));
  plugin->api_major = desc->api_major;
  plugin->api_minor = desc->api_minor;
  if (desc->api_major != DERL_API_VERSION_MAJOR || desc->api_minor > DERL_API_VERSION_MINOR)
    return fail (plugin, error,
                 g_error_new (DERL_PLUGIN_ERROR, DERL_PLUGIN_ERROR_API_TOO_NEW,
                              "%s: built against derl API %u.%u, but this derl provides API %u.%u; "
                              "install a newer derl or rebuild the plugin",
                              plugin->path, desc->api_major, desc->api_minor,
                              DERL_API_VERSION_MAJOR, DERL_API_VERSION_MINOR));
  if (!valid_feature_name (desc->name) || !desc->init || !desc->description || !desc->version
      || !desc->license)
    return fail (plugin, error,
                 g_error_new (DERL_PLUGIN_ERROR, DERL_PLUGIN_ERROR_INVALID,
                              "%s: malformed plugin descriptor (a valid name, a description, "
                              "an init function, a version and a license are required)",
                              plugin->path));
  return TRUE;
}

/* Records the descriptor's strings and runs the plugin's init. */
static gboolean
plugin_start (DerlPlugin *plugin, const DerlPluginDesc *desc, GError **error)
{
  GError *local = NULL;

  g_free (plugin->name);
  plugin->name = g_strdup (desc->name);
  plugin->description = g_strdup (desc->description);
  plugin->version = g_strdup (desc->version);
  plugin->license = g_strdup (desc->license);
  plugin->desc = desc;

  plugin->in_init = TRUE;
  if (!desc->init (plugin, &local))
    {
      plugin->in_init = FALSE;
      if (!local)
        local = g_error_new_literal (DERL_PLUGIN_ERROR, DERL_PLUGIN_ERROR_INIT_FAILED,
                                     "init failed without saying why");
      GError *err = g_error_new (DERL_PLUGIN_ERROR, DERL_PLUGIN_ERROR_INIT_FAILED,
                                 "%s: plugin '%s' failed to initialise: %s", plugin->path,
                                 plugin->name, local->message);
      g_error_free (local);
      return fail (plugin, error, err);
    }
  plugin->in_init = FALSE;
  g_clear_error (&local);
  return TRUE;
}

gboolean
_derl_plugin_start_builtin (DerlPlugin *plugin, const DerlPluginDesc *desc, GError **error)
{
  return plugin_start (plugin, desc, error);
}

gboolean
_derl_plugin_load (DerlPlugin *plugin, GError **error)
{
  DerlPluginGetDescFunc get_desc = NULL;
  const DerlPluginDesc *desc;

  /* No lazy binding: a plugin with unresolved symbols fails here, with the
   * loader's message, rather than crashing later. */
  plugin->module = g_module_open (plugin->path, G_MODULE_BIND_LOCAL);
  if (!plugin->module)
    return fail (plugin, error, g_error_new (DERL_PLUGIN_ERROR, DERL_PLUGIN_ERROR_OPEN,
                                             "%s: cannot open plugin: %s", plugin->path,
                                             g_module_error ()));
  if (!g_module_symbol (plugin->module, DERL_PLUGIN_ENTRY_SYMBOL, (gpointer *) &get_desc) || !get_desc)
    return fail (plugin, error,
                 g_error_new (DERL_PLUGIN_ERROR, DERL_PLUGIN_ERROR_NO_ENTRY,
                              "%s: not a derl plugin: it does not export %s() "
                              "(define it with DERL_PLUGIN_DEFINE)",
                              plugin->path, DERL_PLUGIN_ENTRY_SYMBOL));
  desc = get_desc ();
  if (!check_desc (plugin, desc, error))
    return FALSE;
  const DerlPlugin *other = _derl_registry_find_usable_plugin (plugin->registry, desc->name);
  if (other && !other->module)
    return fail (plugin, error,
                 g_error_new (DERL_PLUGIN_ERROR, DERL_PLUGIN_ERROR_DUPLICATE,
                              "%s: the plugin name '%s' is reserved for the features built into libderl",
                              plugin->path, desc->name));
  if (other)
    return fail (plugin, error,
                 g_error_new (DERL_PLUGIN_ERROR, DERL_PLUGIN_ERROR_DUPLICATE,
                              "%s: plugin '%s' is shadowed by %s, found earlier in the search path",
                              plugin->path, desc->name, other->path));

  return plugin_start (plugin, desc, error);
}

/* Common checks and bookkeeping of every derl_plugin_register_*(). */
static gboolean
register_feature (DerlPlugin *plugin, DerlFeatureKind kind, const char *name,
                  const char *description, gconstpointer vtable, const DerlParamSpec *params,
                  GError **error)
{
  g_autofree char *owner = NULL;
  DerlFeature *feature;

  g_return_val_if_fail (plugin != NULL, FALSE);
  if (!plugin->in_init)
    {
      g_set_error (error, DERL_PLUGIN_ERROR, DERL_PLUGIN_ERROR_INVALID,
                   "plugin '%s': features can only be registered from the plugin's init",
                   plugin->name);
      return FALSE;
    }
  if (!valid_feature_name (name))
    {
      g_set_error (error, DERL_PLUGIN_ERROR, DERL_PLUGIN_ERROR_INVALID,
                   "plugin '%s': invalid %s name '%s' (use lower case letters, digits, '-' and '_')",
                   plugin->name, derl_feature_kind_name (kind), name ? name : "(null)");
      return FALSE;
    }
  owner = g_strdup_printf ("%s '%s'", derl_feature_kind_name (kind), name);
  if (!description || !*description)
    {
      g_set_error (error, DERL_PLUGIN_ERROR, DERL_PLUGIN_ERROR_INVALID,
                   "plugin '%s': %s has no description", plugin->name, owner);
      return FALSE;
    }
  if (!derl_param_specs_check (params, owner, error))
    return FALSE;
  const DerlFeature *other = _derl_registry_find_pending (plugin->registry, kind, name, plugin);
  if (other)
    {
      g_set_error (error, DERL_PLUGIN_ERROR, DERL_PLUGIN_ERROR_DUPLICATE,
                   "plugin '%s': %s is already provided by %s", plugin->name, owner,
                   other->plugin->path);
      return FALSE;
    }

  feature = g_new0 (DerlFeature, 1);
  feature->kind = kind;
  feature->name = g_strdup (name);
  feature->description = g_strdup (description);
  feature->params = params;
  feature->vtable = vtable;
  feature->plugin = plugin;
  g_ptr_array_add (plugin->pending, feature);
  return TRUE;
}

gboolean
derl_plugin_register_env (DerlPlugin *plugin, const char *name, const char *description,
                          const DerlEnvVTable *vtable, const DerlParamSpec *params, GError **error)
{
  if (!vtable || !vtable->create || !vtable->destroy || !vtable->reset || !vtable->step
      || (!vtable->get_state) != (!vtable->set_state))
    {
      g_set_error (error, DERL_PLUGIN_ERROR, DERL_PLUGIN_ERROR_INVALID,
                   "plugin '%s': env '%s' needs create, destroy, reset and step "
                   "(and get_state and set_state together or neither)",
                   plugin ? plugin->name : "?", name ? name : "(null)");
      return FALSE;
    }
  return register_feature (plugin, DERL_FEATURE_ENV, name, description, vtable, params, error);
}

gboolean
derl_plugin_register_backend (DerlPlugin *plugin, const char *name, const char *description,
                              const DerlBackendVTable *vtable, const DerlParamSpec *params, GError **error)
{
  const gpointer *fn = (const gpointer *) vtable;
  gsize n_fn = offsetof (DerlBackendVTable, _reserved) / sizeof (gpointer);

  for (gsize i = 0; vtable && i < n_fn; i++)
    if (!fn[i])
      vtable = NULL;
  if (!vtable)
    {
      g_set_error (error, DERL_PLUGIN_ERROR, DERL_PLUGIN_ERROR_INVALID,
                   "plugin '%s': backend '%s' must implement every op of DerlBackendVTable",
                   plugin ? plugin->name : "?", name ? name : "(null)");
      return FALSE;
    }
  return register_feature (plugin, DERL_FEATURE_BACKEND, name, description, vtable, params, error);
}

gboolean
derl_plugin_register_optimizer (DerlPlugin *plugin, const char *name, const char *description,
                                const DerlOptimizerVTable *vtable, const DerlParamSpec *params, GError **error)
{
  if (!vtable || !vtable->create || !vtable->destroy || !vtable->plan || !vtable->update)
    {
      g_set_error (error, DERL_PLUGIN_ERROR, DERL_PLUGIN_ERROR_INVALID,
                   "plugin '%s': optimizer '%s' needs create, destroy, plan and update",
                   plugin ? plugin->name : "?", name ? name : "(null)");
      return FALSE;
    }
  return register_feature (plugin, DERL_FEATURE_OPTIMIZER, name, description, vtable, params, error);
}

/* A signal or primitive name, what a formula or an env can spell: the
 * rule of parameter names. */
#define valid_signal_name _derl_valid_key_name

/* gN is a formula variable, not a name a primitive can take. */
static gboolean
is_variable_name (const char *name)
{
  if (name[0] != 'g' || !name[1])
    return FALSE;
  for (const char *p = name + 1; *p; p++)
    if (!g_ascii_isdigit (*p))
      return FALSE;
  return TRUE;
}

gboolean
derl_plugin_register_primitive (DerlPlugin *plugin, const char *name, const char *description,
                                const DerlPrimitiveVTable *vtable, const DerlParamSpec *params,
                                GError **error)
{
  static const DerlParamSpec no_params[] = { DERL_PARAM_END };
  const char *pname = plugin ? plugin->name : "?";
  guint n = 0;

  if (!vtable || !vtable->compute)
    {
      g_set_error (error, DERL_PLUGIN_ERROR, DERL_PLUGIN_ERROR_INVALID,
                   "plugin '%s': primitive '%s' needs compute", pname, name ? name : "(null)");
      return FALSE;
    }
  if (!valid_signal_name (name) || is_variable_name (name))
    {
      g_set_error (error, DERL_PLUGIN_ERROR, DERL_PLUGIN_ERROR_INVALID,
                   "plugin '%s': invalid primitive name '%s' (a formula spells it: lower case "
                   "letters, digits and '_', starting with a letter, and not g1, g2, ...)",
                   pname, name ? name : "(null)");
      return FALSE;
    }
  for (n = 0; vtable->signals && vtable->signals[n]; n++)
    if (n >= DERL_PRIMITIVE_MAX_SIGNALS || !valid_signal_name (vtable->signals[n]))
      {
        g_set_error (error, DERL_PLUGIN_ERROR, DERL_PLUGIN_ERROR_INVALID,
                     "plugin '%s': primitive '%s': %s", pname, name,
                     n >= DERL_PRIMITIVE_MAX_SIGNALS ? "reads more than " G_STRINGIFY (DERL_PRIMITIVE_MAX_SIGNALS)
                                                       " signals"
                                                     : "invalid signal name (lower case letters, digits and '_')");
        return FALSE;
      }
  return register_feature (plugin, DERL_FEATURE_PRIMITIVE, name, description, vtable,
                           params ? params : no_params, error);
}

const char *
derl_plugin_get_name (const DerlPlugin *plugin)
{
  return plugin->name;
}

const char *
derl_plugin_get_path (const DerlPlugin *plugin)
{
  return plugin->path;
}

const DerlPluginDesc *
derl_plugin_get_desc_of (const DerlPlugin *plugin)
{
  return plugin->desc;
}

gboolean
derl_plugin_is_available (const DerlPlugin *plugin)
{
  return plugin->error == NULL && plugin->desc != NULL;
}

const GError *
derl_plugin_get_error (const DerlPlugin *plugin)
{
  return plugin->error;
}

const char *
derl_plugin_get_version (const DerlPlugin *plugin)
{
  return plugin->version;
}

const char *
derl_plugin_get_license (const DerlPlugin *plugin)
{
  return plugin->license;
}

const char *
derl_plugin_get_description (const DerlPlugin *plugin)
{
  return plugin->description;
}
