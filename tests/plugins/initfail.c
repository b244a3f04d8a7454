/* Fixture: a plugin whose init fails (after registering a feature, which
 * must then not be listed). */
#include <derl/derl.h>

static gboolean
never_create (const DerlParams *params, DerlEnvSpec *spec, gpointer *state, GError **error)
{
  return FALSE;
}
static void never_destroy (gpointer state) {}
static void never_reset (gpointer s, guint split, guint64 t, DerlRng *rng, DerlEnvStep *out) {}
static void never_step (gpointer s, guint a, DerlEnvStep *out) {}

static const DerlEnvVTable never_vtable = {
  never_create, never_destroy, never_reset, never_step, NULL, NULL, { NULL }
};
static const DerlParamSpec no_params[] = { DERL_PARAM_END };

static gboolean
initfail_init (DerlPlugin *plugin, GError **error)
{
  if (!derl_plugin_register_env (plugin, "fixture-ghost", "never listed", &never_vtable, no_params, error))
    return FALSE;
  g_set_error (error, G_FILE_ERROR, G_FILE_ERROR_NOENT, "fixture device /dev/derl-fixture not found");
  return FALSE;
}

DERL_PLUGIN_DEFINE ("fixture-initfail", "test fixture: init fails", initfail_init, "0.0.1", "LGPL-2.1-or-later")
