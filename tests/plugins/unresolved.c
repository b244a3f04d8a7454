/* Fixture: a plugin that needs a symbol nothing provides, so dlopen fails
 * (as a plugin linked against a missing library would). */
#include <derl/derl.h>

extern int derl_fixture_missing_function (void);

static gboolean
unresolved_init (DerlPlugin *plugin, GError **error)
{
  return derl_fixture_missing_function () == 0;
}

DERL_PLUGIN_DEFINE ("fixture-unresolved", "test fixture: unresolved symbol", unresolved_init, "0.0.1",
                    "LGPL-2.1-or-later")
