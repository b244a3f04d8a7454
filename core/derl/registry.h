/* derl - finding, loading and listing plugins and their features. */
#pragma once

#include <glib.h>
#include <derl/plugin.h>
#include <derl/env.h>
#include <derl/backend.h>
#include <derl/optimizer.h>
#include <derl/primitive.h>

G_BEGIN_DECLS

/**
 * DerlRegistry:
 *
 * The plugins found on a search path and the features they registered,
 * after the features built into libderl (the CPU backend), which are
 * listed as the plugin "core" with the path "(built in)".
 * Plugins that cannot be used (dlopen failure, ABI or API mismatch, failing
 * init, ...) stay listed with the reason and register nothing; the others
 * load regardless.
 */
typedef struct _DerlRegistry DerlRegistry;

/**
 * DERL_PLUGIN_PATH_ENV:
 * Directories searched for plugins before the system directory, separated
 * by G_SEARCHPATH_SEPARATOR (':').
 */
#define DERL_PLUGIN_PATH_ENV "DERL_PLUGIN_PATH"

/**
 * DERL_PLUGIN_SYSTEM_PATH_ENV:
 * When set, replaces the compiled-in system plugin directory (and, for
 * binaries running from the build tree, the build tree's plugins).
 */
#define DERL_PLUGIN_SYSTEM_PATH_ENV "DERL_PLUGIN_SYSTEM_PATH"

/** derl_registry_new: Returns a registry holding only the built-in features, with an empty search path. */
DerlRegistry *derl_registry_new (void);
void derl_registry_free (DerlRegistry *registry);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (DerlRegistry, derl_registry_free)

/**
 * derl_registry_add_path:
 * @dirs: one directory or several separated by G_SEARCHPATH_SEPARATOR
 *
 * Appends directories to the search path.  Empty entries are ignored.
 */
void derl_registry_add_path (DerlRegistry *registry, const char *dirs);

/**
 * derl_registry_add_default_paths:
 * @cli_path: (nullable): directories given on the command line
 *
 * Appends the standard search path, in order: @cli_path, $DERL_PLUGIN_PATH,
 * then $DERL_PLUGIN_SYSTEM_PATH when set, else the compiled-in plugins
 * directory, or the build tree's plugins when libderl itself is running
 * from its build tree.
 */
void derl_registry_add_default_paths (DerlRegistry *registry, const char *cli_path);

/**
 * derl_registry_get_search_path:
 * Returns the NULL-terminated search path, in search order.
 */
const char *const *derl_registry_get_search_path (const DerlRegistry *registry);

/**
 * derl_registry_scan:
 *
 * Loads every plugin file (*.so) in the search path's directories, in
 * order; a directory named "plugins" inside a build tree is searched
 * recursively for libtool's .libs folders.  The first plugin of a name
 * wins; later ones are listed as shadowed.  Never fails: problems are
 * recorded on the plugins concerned.
 */
void derl_registry_scan (DerlRegistry *registry);

/**
 * derl_registry_load_file:
 * @path: a plugin file
 *
 * Loads one plugin file and initialises it.  The plugin is listed whether
 * it loads or not; returns FALSE with the (also recorded) error if not.
 */
gboolean derl_registry_load_file (DerlRegistry *registry, const char *path, GError **error);

/** derl_registry_get_n_plugins: Returns how many plugins are listed, usable or not. */
guint derl_registry_get_n_plugins (const DerlRegistry *registry);
/** derl_registry_get_plugin: Returns the @index-th plugin, in load order. */
const DerlPlugin *derl_registry_get_plugin (const DerlRegistry *registry, guint index);

/** derl_registry_get_n_features: Returns how many features the usable plugins registered. */
guint derl_registry_get_n_features (const DerlRegistry *registry);
/** derl_registry_get_feature: Returns the @index-th feature, in registration order. */
const DerlFeature *derl_registry_get_feature (const DerlRegistry *registry, guint index);

/**
 * derl_registry_find:
 * Returns the feature of @kind named @name, or NULL.
 */
const DerlFeature *derl_registry_find (const DerlRegistry *registry, DerlFeatureKind kind,
                                       const char *name);

/**
 * derl_registry_find_any:
 * Returns the first feature of any kind named @name, or NULL.
 */
const DerlFeature *derl_registry_find_any (const DerlRegistry *registry, const char *name);

/**
 * derl_registry_find_plugin:
 * Returns the plugin named @name (usable or not) or the first one loaded
 * from a file whose basename without suffix is @name, or NULL.
 */
const DerlPlugin *derl_registry_find_plugin (const DerlRegistry *registry, const char *name);

/**
 * derl_registry_suggest:
 * @kind: the kind to look among, or -1 for all
 *
 * Returns the closest feature name to @name if it is close enough to be a
 * plausible typo, else NULL.  Free with g_free().
 */
char *derl_registry_suggest (const DerlRegistry *registry, int kind, const char *name);

/* Features */
DerlFeatureKind derl_feature_get_kind (const DerlFeature *feature);
const char *derl_feature_get_name (const DerlFeature *feature);
const char *derl_feature_get_description (const DerlFeature *feature);
const DerlPlugin *derl_feature_get_plugin (const DerlFeature *feature);
/** derl_feature_get_params: Returns the feature's NULL-name terminated specs. */
const DerlParamSpec *derl_feature_get_params (const DerlFeature *feature);
/** derl_feature_get_env_vtable: Returns the vtable of an env feature, else NULL. */
const DerlEnvVTable *derl_feature_get_env_vtable (const DerlFeature *feature);
/** derl_feature_get_optimizer_vtable: Returns the vtable of an optimizer feature, else NULL. */
const DerlOptimizerVTable *derl_feature_get_optimizer_vtable (const DerlFeature *feature);
/** derl_feature_get_backend_vtable: Returns the vtable of a backend feature, else NULL. */
const DerlBackendVTable *derl_feature_get_backend_vtable (const DerlFeature *feature);
/** derl_feature_get_primitive_vtable: Returns the vtable of a primitive feature, else NULL. */
const DerlPrimitiveVTable *derl_feature_get_primitive_vtable (const DerlFeature *feature);

G_END_DECLS
