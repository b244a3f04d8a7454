/* derl - fuzz the experiment-file reader.
 *
 * Input: an experiment file.  It is loaded against the plugins of the
 * build tree (or $DERL_PLUGIN_PATH); one that loads must write itself out
 * (derl_experiment_to_data) as text that loads again and writes out the
 * same text.  A refusal must come with a message naming the file. */
#include "config.h"

#include "fuzz.h"

static DerlRegistry *registry;

int
LLVMFuzzerInitialize (int *argc, char ***argv)
{
  fuzz_init_glib ();
  registry = fuzz_registry_new ();
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
      fuzz_note_refusal (error);
      FUZZ_ASSERT (strstr (error->message, "fuzz.ini") != NULL, "the message does not name the file: %s",
                   error->message);
      FUZZ_ASSERT (g_utf8_validate (error->message, -1, NULL), "the message is not UTF-8");
      return 0;
    }
  fuzz_check_resolves (registry, e, "fuzz.ini");
  return 0;
}
