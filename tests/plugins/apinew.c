/* Fixture: a plugin built against a newer API minor than the core's. */
#include <derl/derl.h>

static gboolean
apinew_init (DerlPlugin *plugin, GError **error)
{
  return TRUE;
}

G_MODULE_EXPORT const DerlPluginDesc *derl_plugin_get_desc (void);

const DerlPluginDesc *
derl_plugin_get_desc (void)
{
  static const DerlPluginDesc desc = {
    DERL_PLUGIN_ABI_VERSION, DERL_API_VERSION_MAJOR, DERL_API_VERSION_MINOR + 1,
    "fixture-apinew", "test fixture: newer API minor", apinew_init, "0.0.1", "LGPL-2.1-or-later", { NULL }
  };
  return &desc;
}
