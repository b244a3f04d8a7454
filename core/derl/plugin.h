/* derl - the plugin entry point and feature registration. */
#pragma once

#include <glib.h>
#include <gmodule.h>
#include <derl/version.h>
#include <derl/param.h>

G_BEGIN_DECLS

/**
 * DerlPlugin:
 *
 * A loaded plugin, owned by the core.  Plugins receive it in their init
 * function, register their features through it, and never allocate one.
 */
typedef struct _DerlPlugin DerlPlugin;

/**
 * DerlPluginDesc:
 * @abi_version: DERL_PLUGIN_ABI_VERSION the plugin was built with; always first
 * @api_major: @api_minor: DERL_API_VERSION_MAJOR/MINOR the plugin was built with
 * @name: the plugin's unique name
 * @description: one line saying what it provides
 * @init: registers the plugin's features; returns FALSE and sets @error on failure
 * @version: the plugin's own version string
 * @license: an SPDX license identifier
 *
 * What a plugin's one exported symbol, derl_plugin_get_desc(), returns.
 * Write it with DERL_PLUGIN_DEFINE(), never by hand.
 */
typedef struct {
  guint32 abi_version;
  guint16 api_major;
  guint16 api_minor;
  const char *name;
  const char *description;
  gboolean (*init) (DerlPlugin *plugin, GError **error);
  const char *version;
  const char *license;
  /*< private >*/
  gpointer _reserved[8];
} DerlPluginDesc;

/**
 * DERL_PLUGIN_ENTRY_SYMBOL:
 * The name of the one symbol a plugin exports.
 */
#define DERL_PLUGIN_ENTRY_SYMBOL "derl_plugin_get_desc"

typedef const DerlPluginDesc *(*DerlPluginGetDescFunc) (void);

/**
 * DERL_PLUGIN_DEFINE:
 * @name: the plugin's name, a string literal
 * @description: one line, a string literal
 * @init: a `gboolean init (DerlPlugin *, GError **)` function
 * @version: the plugin's version, a string literal
 * @license: an SPDX identifier, a string literal
 *
 * Defines the plugin's entry symbol, derl_plugin_get_desc(), stamped with the
 * ABI and API versions of the headers it is compiled against.
 */
#define DERL_PLUGIN_DEFINE(name, description, init, version, license)          \
  G_MODULE_EXPORT const DerlPluginDesc *derl_plugin_get_desc (void);           \
  G_MODULE_EXPORT const DerlPluginDesc *derl_plugin_get_desc (void)            \
  {                                                                            \
    static const DerlPluginDesc desc = {                                       \
      DERL_PLUGIN_ABI_VERSION, DERL_API_VERSION_MAJOR, DERL_API_VERSION_MINOR, \
      (name), (description), (init), (version), (license), { NULL }            \
    };                                                                         \
    return &desc;                                                              \
  }

/**
 * DerlFeatureKind:
 * The kinds of feature a plugin can register.
 */
typedef enum {
  DERL_FEATURE_ENV,
  DERL_FEATURE_OPTIMIZER,
  DERL_FEATURE_PRIMITIVE,
  DERL_FEATURE_BACKEND,
} DerlFeatureKind;

/**
 * derl_feature_kind_name:
 * Returns "env", "optimizer", "primitive" or "backend".
 */
const char *derl_feature_kind_name (DerlFeatureKind kind);

/**
 * derl_plugin_get_name:
 * Returns the plugin's name as its descriptor gives it.
 */
const char *derl_plugin_get_name (const DerlPlugin *plugin);

/**
 * derl_plugin_get_path:
 * Returns the file the plugin was loaded from.
 */
const char *derl_plugin_get_path (const DerlPlugin *plugin);

/**
 * derl_plugin_get_desc_of:
 * Returns the plugin's descriptor while it is usable, else NULL.
 */
const DerlPluginDesc *derl_plugin_get_desc_of (const DerlPlugin *plugin);

/**
 * derl_plugin_get_version:
 * Returns the plugin's own version, or NULL when its descriptor was not read.
 */
const char *derl_plugin_get_version (const DerlPlugin *plugin);

/**
 * derl_plugin_get_license:
 * Returns the plugin's license, or NULL when its descriptor was not read.
 */
const char *derl_plugin_get_license (const DerlPlugin *plugin);

/**
 * derl_plugin_get_description:
 * Returns the plugin's description, or NULL when its descriptor was not read.
 */
const char *derl_plugin_get_description (const DerlPlugin *plugin);

/**
 * derl_plugin_is_available:
 * Returns whether the plugin loaded and initialised; when not,
 * derl_plugin_get_error() says why.
 */
gboolean derl_plugin_is_available (const DerlPlugin *plugin);

/**
 * derl_plugin_get_error:
 * Returns the reason the plugin is unavailable, or NULL.
 */
const GError *derl_plugin_get_error (const DerlPlugin *plugin);

G_END_DECLS
