/* Fixture: a plugin built for another plugin ABI. */
#include <derl/derl.h>

static gboolean
abi_init (DerlPlugin *plugin, GError **error)
{
  return TRUE;
}

G_MODULE_EXPORT const DerlPluginDesc *derl_plugin_get_desc (void);

const DerlPluginDesc *
derl_plugin_get_desc (void)
{
  static const DerlPluginDesc desc = {
    DERL_PLUGIN_ABI_VERSION + 41, DERL_API_VERSION_MAJOR, DERL_API_VERSION_MINOR,
    "fixture-abi", "test fixture: wrong ABI", abi_init, "0.0.1", "LGPL-2.1-or-later", { NULL }
  };
  return &desc;
}
