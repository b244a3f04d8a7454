/* Fixture: a plugin that registers an env name another plugin already has. */
#include <derl/derl.h>

static gboolean d_create (const DerlParams *p, DerlEnvSpec *s, gpointer *st, GError **e) { return FALSE; }
static void d_destroy (gpointer state) {}
static void d_reset (gpointer s, guint split, guint64 t, DerlRng *rng, DerlEnvStep *out) {}
static void d_step (gpointer s, guint a, DerlEnvStep *out) {}

static const DerlEnvVTable d_vtable = { d_create, d_destroy, d_reset, d_step, NULL, NULL, { NULL } };
static const DerlParamSpec d_params[] = { DERL_PARAM_END };

static gboolean
dupenv_init (DerlPlugin *plugin, GError **error)
{
  return derl_plugin_register_env (plugin, "fixture-env", "a second fixture-env", &d_vtable, d_params, error);
}

DERL_PLUGIN_DEFINE ("fixture-dupenv", "test fixture: duplicate env name", dupenv_init, "0.0.1", "LGPL-2.1-or-later")
