/* derl - fuzz `--set GROUP.KEY=VALUE` overrides.
 *
 * Input: lines, each one override, applied on top of a fixed experiment
 * (a short household GRPO training with bound primitives and a formula).
 * A refusal must say which override is at fault; an accepted set must
 * write out as an experiment that loads again to the same text. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <derl/derl.h>
#include "fuzz.h"

#define MAX_OVERRIDES 16

static const char base[] =
  "[experiment]\nmode = train\nseed = 3\n"
  "[env]\nname = household\n"
  "[optimizer]\nname = grpo\n"
  "[primitives]\ng1 = success\ng2 = early\n"
  "[reward]\nformula = g1 + 0.5 * g2\n"
  "[train]\ntotal_steps = 2048\n";

static DerlRegistry *registry;

int
LLVMFuzzerInitialize (int *argc, char ***argv)
{
  g_autoptr (GError) error = NULL;

  fuzz_init_glib ();
  registry = derl_registry_new ();
  derl_registry_add_default_paths (registry, NULL);
  derl_registry_scan (registry);
  FUZZ_ASSERT (derl_registry_find (registry, DERL_FEATURE_ENV, "household") != NULL,
               "no household env in the plugin search path");
  g_autoptr (DerlExperiment) e = derl_experiment_load_data (registry, base, sizeof base - 1, "base.ini", NULL, &error);
  FUZZ_ASSERT (e != NULL, "the base experiment does not load: %s", error->message);
  return 0;
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  g_autofree char *text = g_strndup ((const char *) data, size);
  g_auto (GStrv) lines = g_strsplit (text, "\n", MAX_OVERRIDES + 1);
  if (g_strv_length (lines) > MAX_OVERRIDES)
    return 0;
  /* A NUL byte cuts a command-line argument short: the strings stop there. */
  g_autoptr (GError) error = NULL;
  g_autoptr (DerlExperiment) e = derl_experiment_load_data (registry, base, sizeof base - 1, "base.ini",
                                                             (const char *const *) lines, &error);
  if (!e)
    {
      FUZZ_ASSERT (error != NULL, "a refusal without an error");
      FUZZ_ASSERT (g_utf8_validate (error->message, -1, NULL), "the message is not UTF-8");
      return 0;
    }
  gsize length = 0;
  g_autofree char *out = derl_experiment_to_data (e, &length);
  g_autoptr (GError) again_error = NULL;
  g_autoptr (DerlExperiment) again = derl_experiment_load_data (registry, out, length, "base.ini", NULL,
                                                                 &again_error);
  FUZZ_ASSERT (again != NULL, "the resolved experiment does not load: %s\n%s", again_error->message, out);
  gsize length2 = 0;
  g_autofree char *out2 = derl_experiment_to_data (again, &length2);
  FUZZ_ASSERT (length == length2 && memcmp (out, out2, length) == 0,
               "the resolved experiment resolves differently:\n%s\n----\n%s", out, out2);
  return 0;
}
