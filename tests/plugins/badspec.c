/* Fixture: a plugin whose parameter spec is malformed (default out of range). */
#include <derl/derl.h>

static gboolean bad_create (const DerlParams *p, DerlEnvSpec *s, gpointer *st, GError **e) { return FALSE; }
static void bad_destroy (gpointer state) {}
static void bad_reset (gpointer s, guint split, guint64 t, DerlRng *rng, DerlEnvStep *out) {}
static void bad_step (gpointer s, guint a, DerlEnvStep *out) {}

static const DerlEnvVTable bad_vtable = { bad_create, bad_destroy, bad_reset, bad_step, NULL, NULL, { NULL } };
static const DerlParamSpec bad_params[] = {
  DERL_PARAM_INT_RANGE ("depth", "12", 1, 10, "default outside its own range"),
  DERL_PARAM_END
};

static gboolean
badspec_init (DerlPlugin *plugin, GError **error)
{
  return derl_plugin_register_env (plugin, "fixture-badspec", "malformed", &bad_vtable, bad_params, error);
}

DERL_PLUGIN_DEFINE ("fixture-badspec", "test fixture: malformed spec", badspec_init, "0.0.1", "LGPL-2.1-or-later")
