/* derl - fuzz harnesses.
 *
 * Each harness file defines the two libFuzzer entry points below.  Built
 * with `./configure --enable-fuzzing` (clang), a harness links libFuzzer's
 * driver and `make fuzz` runs it; in every build, fuzz/replay.c drives the
 * same functions over the committed corpora, so `make check` replays every
 * input that ever crashed a harness.  A harness traps (abort) when a
 * property it checks does not hold; a refusal (a GError) is a normal
 * outcome. */
#pragma once

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <glib.h>
#include <derl/derl.h>

int LLVMFuzzerInitialize (int *argc, char ***argv);
int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

/* Traps with a message: a property of the code under test failed. */
#define FUZZ_ASSERT(cond, ...)                                                                                \
  do                                                                                                          \
    {                                                                                                         \
      if (!(cond))                                                                                            \
        {                                                                                                     \
          fprintf (stderr, "fuzz: %s:%d: ", __FILE__, __LINE__);                                              \
          fprintf (stderr, __VA_ARGS__);                                                                      \
          fputc ('\n', stderr);                                                                               \
          abort ();                                                                                           \
        }                                                                                                     \
    }                                                                                                         \
  while (0)

/* GLib's criticals and warnings are programmer errors (a g_return_if_fail
 * reached from input): they abort, so the fuzzer reports them as crashes
 * and keeps the input (GLib's own fatal logs trap, which libFuzzer does
 * not catch). */
static inline void
fuzz_log_abort (const char *domain, GLogLevelFlags level, const char *message, gpointer data)
{
  g_log_default_handler (domain, level, message, data);
  if (level & (G_LOG_LEVEL_ERROR | G_LOG_LEVEL_CRITICAL | G_LOG_LEVEL_WARNING))
    abort ();
}

static inline void
fuzz_init_glib (void)
{
  g_log_set_default_handler (fuzz_log_abort, NULL);
}

/* With FUZZ_VERBOSE set, says why an input was refused (to check what a
 * corpus reaches). */
static inline void
fuzz_note_refusal (const GError *error)
{
  if (g_getenv ("FUZZ_VERBOSE"))
    fprintf (stderr, "refused: %s\n", error->message);
}

/* The plugins of the build tree (or $DERL_PLUGIN_PATH), household among
 * them: a harness loading experiments over no env would test nothing. */
static inline DerlRegistry *
fuzz_registry_new (void)
{
  DerlRegistry *registry = derl_registry_new ();
  derl_registry_add_default_paths (registry, NULL);
  derl_registry_scan (registry);
  FUZZ_ASSERT (derl_registry_find (registry, DERL_FEATURE_ENV, "household") != NULL,
               "no household env in the plugin search path");
  return registry;
}

/* A loaded experiment writes itself out as text that loads again (under
 * the same @label) and writes out the same text. */
static inline void
fuzz_check_resolves (DerlRegistry *registry, const DerlExperiment *e, const char *label)
{
  gsize length = 0, length2 = 0;
  g_autofree char *text = derl_experiment_to_data (e, &length);
  g_autoptr (GError) error = NULL;
  g_autoptr (DerlExperiment) again = derl_experiment_load_data (registry, text, length, label, NULL, &error);
  FUZZ_ASSERT (again != NULL, "the resolved experiment does not load: %s\n%s", error->message, text);
  g_autofree char *text2 = derl_experiment_to_data (again, &length2);
  FUZZ_ASSERT (length == length2 && memcmp (text, text2, length) == 0,
               "the resolved experiment resolves differently:\n%s\n----\n%s", text, text2);
}
