/* bench/env-steps: environment steps per second on one core, with uniformly
 * random admissible actions, resetting as episodes end.
 *
 *   bench/env-steps/env-steps [SECONDS] [ENV...]
 *
 * Runs each env (default: every env the registry finds) for about SECONDS
 * (default 2) through the core's derl_env_step(), the path training uses,
 * one instance and then 8 instances stepped in turn (as a training fleet
 * is), and prints steps per second.  The action choice is included: a
 * 32-bit draw from a Philox stream and a scan of the mask per step. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <derl/derl.h>

static guint
random_admissible (DerlRng *rng, const guint8 *mask, guint n)
{
  guint ok = 0;
  for (guint a = 0; a < n; a++)
    ok += mask[a] != 0;
  guint pick = derl_rng_below (rng, ok);
  for (guint a = 0; a < n; a++)
    if (mask[a] && pick-- == 0)
      return a;
  return 0;
}

/* Steps @n_envs instances of @feature in turn, as training steps its fleet
 * (their independent updates overlap in the processor). */
static void
bench (const DerlFeature *feature, guint n_envs, double seconds)
{
  g_autoptr (DerlParams) params = derl_params_new (derl_feature_get_params (feature));
  g_autoptr (GError) error = NULL;
  DerlEnv *envs[64];
  const DerlEnvStep *now[64];
  DerlRng rng;
  guint64 steps = 0, episodes = 0;

  for (guint e = 0; e < n_envs; e++)
    if (!(envs[e] = derl_env_new (feature, params, &error)))
      {
        printf ("%-12s cannot be created: %s\n", derl_feature_get_name (feature), error->message);
        while (e-- > 0)
          derl_env_free (envs[e]);
        return;
      }
  const DerlEnvSpec *spec = derl_env_get_spec (envs[0]);
  derl_rng_init (&rng, 1, DERL_RNG_STREAM_EPISODE, 0, 0, 0);
  for (guint e = 0; e < n_envs; e++)
    if (!(now[e] = derl_env_reset (envs[e], 0, episodes++, &rng, &error)))
      goto broken;
  gint64 start = g_get_monotonic_time (), deadline = start + (gint64) (seconds * G_USEC_PER_SEC);
  gint64 t = start;
  while (t < deadline)
    {
      for (int k = 0; k < 8192; k++)
        for (guint e = 0; e < n_envs; e++)
          {
            const DerlEnvStep *s = derl_env_step (envs[e], random_admissible (&rng, now[e]->action_mask, spec->n_actions),
                                                  &error);
            if (s && (s->terminated || s->truncated))
              s = derl_env_reset (envs[e], 0, episodes++, &rng, &error);
            if (!(now[e] = s))
              goto broken;
          }
      steps += (guint64) 8192 * n_envs;
      t = g_get_monotonic_time ();
    }
  double elapsed = (t - start) / 1e6;
  printf ("%-12s %3u envs %12.0f steps/s  (%" G_GUINT64_FORMAT " steps, %" G_GUINT64_FORMAT " episodes, %.2f s)\n",
          derl_feature_get_name (feature), n_envs, steps / elapsed, steps, episodes - n_envs, elapsed);
  goto out;
broken:
  printf ("%-12s %s\n", derl_feature_get_name (feature), error->message);
out:
  for (guint e = 0; e < n_envs; e++)
    derl_env_free (envs[e]);
}

int
main (int argc, char **argv)
{
  g_autoptr (DerlRegistry) registry = derl_registry_new ();
  double seconds = argc > 1 ? g_ascii_strtod (argv[1], NULL) : 2.0;

  derl_registry_add_default_paths (registry, NULL);
  derl_registry_scan (registry);
  if (seconds <= 0)
    seconds = 2.0;
  if (argc > 2)
    for (int i = 2; i < argc; i++)
      {
        const DerlFeature *f = derl_registry_find (registry, DERL_FEATURE_ENV, argv[i]);
        if (!f)
          {
            fprintf (stderr, "env-steps: no env named '%s'\n", argv[i]);
            return 2;
          }
        bench (f, 1, seconds);
        bench (f, 8, seconds);
      }
  else
    for (guint i = 0; i < derl_registry_get_n_features (registry); i++)
      {
        const DerlFeature *f = derl_registry_get_feature (registry, i);
        if (derl_feature_get_kind (f) == DERL_FEATURE_ENV)
          {
            bench (f, 1, seconds);
            bench (f, 8, seconds);
          }
      }
  return 0;
}
