/* derl - fuzz the experiment-file reader.
 *
 * Input: an experiment file.  It is loaded against the plugins of the
 * build tree (or $DERL_PLUGIN_PATH); one that loads must write itself out
 * (derl_experiment_to_data) as text that loads again and writes out the
 * same text.  A refusal must come with a message naming the file. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <derl/derl.h>
#include "fuzz.h"

static DerlRegistry *registry;

int
LLVMFuzzerInitialize (int *argc, char ***argv)
{
  fuzz_init_glib ();
  registry = derl_registry_new ();
  derl_registry_add_default_paths (registry, NULL);
  derl_registry_scan (registry);
  FUZZ_ASSERT (derl_registry_find (registry, DERL_FEATURE_ENV, "household") != NULL,
               "no household env in the plugin search path");
  return 0;
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (DerlExperiment) e = derl_experiment_load_data (registry, (const char *) data, size, "fuzz.ini", NULL,
                                                             &error);
  if (!e)
    {
      FUZZ_ASSERT (error != NULL, "a refusal without an error");
      FUZZ_ASSERT (strstr (error->message, "fuzz.ini") != NULL, "the message does not name the file: %s",
                   error->message);
      FUZZ_ASSERT (g_utf8_validate (error->message, -1, NULL), "the message is not UTF-8");
      return 0;
    }
  gsize length = 0;
  g_autofree char *text = derl_experiment_to_data (e, &length);
  g_autoptr (GError) again_error = NULL;
  g_autoptr (DerlExperiment) again = derl_experiment_load_data (registry, text, length, "fuzz.ini", NULL,
                                                                 &again_error);
  FUZZ_ASSERT (again != NULL, "the resolved experiment does not load: %s\n%s", again_error->message, text);
  gsize length2 = 0;
  g_autofree char *text2 = derl_experiment_to_data (again, &length2);
  FUZZ_ASSERT (length == length2 && memcmp (text, text2, length) == 0,
               "the resolved experiment resolves differently:\n%s\n----\n%s", text, text2);
  return 0;
}
