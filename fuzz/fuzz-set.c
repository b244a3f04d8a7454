/* derl - fuzz `--set GROUP.KEY=VALUE` overrides.
 *
 * Input: lines, each one override, applied on top of a fixed experiment
 * (a short household GRPO training with bound primitives and a formula);
 * a line starting with '-' is an --unset.  A refusal must come with a UTF-8
 * message (no GLib critical on the way); an accepted set must write out as
 * an experiment that loads again to the same text. */
#include "config.h"

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
  registry = fuzz_registry_new ();
  g_autoptr (DerlExperiment) e = derl_experiment_load_data (registry, base, sizeof base - 1, "base.ini", NULL, &error);
  FUZZ_ASSERT (e != NULL, "the base experiment does not load: %s", error->message);
  return 0;
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  /* A line per override; a last newline ends the last one. */
  if (size > 0 && data[size - 1] == '\n')
    size--;
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
      fuzz_note_refusal (error);
      FUZZ_ASSERT (g_utf8_validate (error->message, -1, NULL), "the message is not UTF-8");
      return 0;
    }
  fuzz_check_resolves (registry, e, "base.ini");
  return 0;
}
