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
#include <glib.h>

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
 * reached from input): fatal, so the fuzzer reports them as crashes. */
static inline void
fuzz_init_glib (void)
{
  g_log_set_always_fatal (G_LOG_LEVEL_ERROR | G_LOG_LEVEL_CRITICAL | G_LOG_LEVEL_WARNING);
}
