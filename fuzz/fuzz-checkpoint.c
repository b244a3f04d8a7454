/* derl - fuzz the policy-checkpoint reader (policy.ckpt, meta.ckpt,
 * pop.ckpt and [evaluate] policy all go through it).
 *
 * Input: a checkpoint file.  Where its JSON header holds the text
 * @SHA256@, the harness writes the SHA-256 of the payload there first (and
 * fixes the header length), so mutations reach past the checksum into the
 * header's shapes and the tensors.  A checkpoint that loads must save and
 * load again to the same bytes. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <glib/gstdio.h>
#include <derl/derl.h>
#include "fuzz.h"

#define PREFIX_SIZE 20
#define PLACEHOLDER "@SHA256@"

static DerlBackend *backend;
static char *dir;

static void
remove_dir (void)
{
  g_rmdir (dir);
}

int
LLVMFuzzerInitialize (int *argc, char ***argv)
{
  g_autoptr (GError) error = NULL;

  fuzz_init_glib ();
  backend = derl_backend_new_cpu ();
  dir = g_dir_make_tmp ("derl-fuzz-XXXXXX", &error);
  FUZZ_ASSERT (dir != NULL, "%s", error->message);
  atexit (remove_dir);
  return 0;
}

static guint64
get_le (const uint8_t *p, guint bytes)
{
  guint64 v = 0;
  for (guint i = 0; i < bytes; i++)
    v |= (guint64) p[i] << (8 * i);
  return v;
}

/* The input with the placeholder replaced, or a copy of it. */
static GByteArray *
fill_checksum (const uint8_t *data, size_t size)
{
  GByteArray *out = g_byte_array_new ();
  guint64 header_len = size >= PREFIX_SIZE ? get_le (data + 12, 8) : 0;
  const char *header = (const char *) data + PREFIX_SIZE;
  const char *at = header_len && header_len <= size - PREFIX_SIZE
                     ? g_strstr_len (header, (gssize) header_len, PLACEHOLDER) : NULL;
  if (!at)
    return g_byte_array_append (out, data, (guint) size);

  const uint8_t *payload = data + PREFIX_SIZE + header_len;
  gsize payload_len = size - PREFIX_SIZE - header_len;
  g_autofree char *sha = g_compute_checksum_for_data (G_CHECKSUM_SHA256, payload, payload_len);
  guint64 new_len = header_len - strlen (PLACEHOLDER) + strlen (sha);
  uint8_t prefix[PREFIX_SIZE];
  memcpy (prefix, data, 12);
  for (guint i = 0; i < 8; i++)
    prefix[12 + i] = (uint8_t) (new_len >> (8 * i));
  g_byte_array_append (out, prefix, PREFIX_SIZE);
  g_byte_array_append (out, (const guint8 *) header, (guint) (at - header));
  g_byte_array_append (out, (const guint8 *) sha, (guint) strlen (sha));
  const char *rest = at + strlen (PLACEHOLDER);
  g_byte_array_append (out, (const guint8 *) rest, (guint) (header + header_len - rest));
  g_byte_array_append (out, payload, (guint) payload_len);
  return out;
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  g_autoptr (GByteArray) file = fill_checksum (data, size);
  g_autofree char *path = g_build_filename (dir, "in.ckpt", NULL);
  g_autofree char *saved = g_build_filename (dir, "out.ckpt", NULL);
  g_autoptr (GError) error = NULL;

  FUZZ_ASSERT (g_file_set_contents (path, (const char *) file->data, file->len, &error), "%s", error->message);
  g_autofree char *experiment = NULL;
  g_autoptr (DerlPolicy) policy = derl_policy_load (backend, path, 1, &experiment, &error);
  g_unlink (path);
  if (!policy)
    {
      FUZZ_ASSERT (error != NULL, "a refusal without an error");
      fuzz_note_refusal (error);
      FUZZ_ASSERT (strstr (error->message, "in.ckpt") != NULL, "the message does not name the file: %s",
                   error->message);
      return 0;
    }
  /* What loads saves and loads back to the same checkpoint. */
  FUZZ_ASSERT (derl_policy_save (policy, saved, experiment, &error), "save: %s", error->message);
  g_autofree char *once = NULL, *twice = NULL;
  gsize once_len = 0, twice_len = 0;
  FUZZ_ASSERT (g_file_get_contents (saved, &once, &once_len, NULL), "read back");
  g_autoptr (DerlPolicy) again = derl_policy_load (backend, saved, 1, NULL, &error);
  FUZZ_ASSERT (again != NULL, "a saved checkpoint does not load: %s", error->message);
  FUZZ_ASSERT (derl_policy_save (again, saved, experiment, &error), "save: %s", error->message);
  FUZZ_ASSERT (g_file_get_contents (saved, &twice, &twice_len, NULL), "read back");
  FUZZ_ASSERT (once_len == twice_len && memcmp (once, twice, once_len) == 0, "save-load-save changed the bytes");
  g_unlink (saved);
  return 0;
}
