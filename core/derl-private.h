/* derl - declarations shared inside libderl, not installed. */
#pragma once

#include <derl/derl.h>

G_BEGIN_DECLS

/* suggest.c: the candidate closest to @name by edit distance when it is a
 * plausible typo (distance <= max(1, len/3)), else NULL.  Not copied. */
const char *_derl_suggest_closest (const char *name, const char *const *candidates, gsize n_candidates);

/* edit distance (with adjacent transpositions) between two strings, in bytes */
guint _derl_edit_distance (const char *a, const char *b);

/* registry.c: internal plugin and feature structs. */
struct _DerlFeature {
  DerlFeatureKind kind;
  char *name;
  char *description;
  const DerlParamSpec *params;
  gconstpointer vtable;
  DerlPlugin *plugin;
};

struct _DerlPlugin {
  char *path;
  char *name;          /* from the descriptor, else the file's basename */
  char *description;
  char *version;
  char *license;
  guint abi_version, api_major, api_minor;
  GModule *module;     /* kept open while the plugin is usable */
  const DerlPluginDesc *desc;
  GError *error;       /* why it is unavailable, or NULL */
  DerlRegistry *registry;
  GPtrArray *pending;  /* features registered during init (DerlFeature *) */
  gboolean in_init;
};

/* plugin.c */
DerlPlugin *_derl_plugin_new (DerlRegistry *registry, const char *path);
void _derl_plugin_free (DerlPlugin *plugin);
/* Opens, checks and initialises; records and returns the error. */
gboolean _derl_plugin_load (DerlPlugin *plugin, GError **error);
void _derl_feature_free (DerlFeature *feature);

/* registry.c */
const DerlPlugin *_derl_registry_find_usable_plugin (const DerlRegistry *registry, const char *name);
const DerlFeature *_derl_registry_find_pending (const DerlRegistry *registry, DerlFeatureKind kind,
                                               const char *name, const DerlPlugin *also);

G_END_DECLS
