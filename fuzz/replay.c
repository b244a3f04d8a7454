/* derl - run a fuzz harness over files without libFuzzer: every input of
 * its corpora, so `make check` replays them all in any build.
 *
 * Usage: replay-NAME [FILE|DIR...]  (directories: their files, sorted).
 * With no arguments, the harness's corpora in the source tree: the seeds
 * (fuzz/corpus/NAME) and the inputs that once crashed it
 * (fuzz/regressions/NAME); it fails when they hold nothing. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <glib.h>
#include "fuzz.h"

static int
compare (gconstpointer a, gconstpointer b)
{
  return strcmp (*(const char *const *) a, *(const char *const *) b);
}

static guint
replay_file (const char *path)
{
  g_autofree char *data = NULL;
  gsize length = 0;
  g_autoptr (GError) error = NULL;

  if (!g_file_get_contents (path, &data, &length, &error))
    {
      fprintf (stderr, "replay: %s\n", error->message);
      exit (2);
    }
  LLVMFuzzerTestOneInput ((const uint8_t *) data, length);
  return 1;
}

static guint
replay_path (const char *path)
{
  guint n = 0;

  if (!g_file_test (path, G_FILE_TEST_IS_DIR))
    return replay_file (path);
  g_autoptr (GDir) dir = g_dir_open (path, 0, NULL);
  g_autoptr (GPtrArray) files = g_ptr_array_new_with_free_func (g_free);
  const char *name;
  while (dir && (name = g_dir_read_name (dir)))
    if (name[0] != '.')
      g_ptr_array_add (files, g_build_filename (path, name, NULL));
  g_ptr_array_sort (files, compare);
  for (guint j = 0; j < files->len; j++)
    n += replay_file (files->pdata[j]);
  return n;
}

int
main (int argc, char **argv)
{
  guint n = 0;

  LLVMFuzzerInitialize (&argc, &argv);
  for (int i = 1; i < argc; i++)
    n += replay_path (argv[i]);
  if (argc == 1)
    {
      g_autofree char *corpus = g_build_filename (FUZZ_CORPORA_DIR, "corpus", FUZZ_HARNESS, NULL);
      g_autofree char *regressions = g_build_filename (FUZZ_CORPORA_DIR, "regressions", FUZZ_HARNESS, NULL);
      n += replay_path (corpus);
      if (g_file_test (regressions, G_FILE_TEST_IS_DIR))
        n += replay_path (regressions);
    }
  printf ("%s: replayed %u inputs\n", FUZZ_HARNESS, n);
  return n > 0 ? 0 : 1;
}
