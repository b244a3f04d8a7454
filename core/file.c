/* derl - reading the files an experiment or a run directory names: whole,
 * bounded, and never blocked by a FIFO without a writer. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "derl-private.h"

#ifndef O_CLOEXEC
#define O_CLOEXEC 0
#endif

static gboolean G_GNUC_PRINTF (4, 5)
fail (GError **error, int code, const char *path, const char *format, ...)
{
  va_list args;
  g_autofree char *why = NULL;

  va_start (args, format);
  why = g_strdup_vprintf (format, args);
  va_end (args);
  g_set_error (error, DERL_RUN_ERROR, code, "%s: %s", path, why);
  return FALSE;
}

gboolean
_derl_file_read (const char *path, gsize max_bytes, const char *what, char **data, gsize *length, GError **error)
{
  struct stat st;
  int fd;

  g_return_val_if_fail (path != NULL && what != NULL && data != NULL, FALSE);
  *data = NULL;
  if (length)
    *length = 0;
  /* O_NONBLOCK: opening a FIFO nobody writes to returns at once. */
  fd = open (path, O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
  if (fd < 0)
    {
      int saved = errno;
      return fail (error, DERL_RUN_ERROR_BAD_FILE, path, "cannot read the %s: %s", what, g_strerror (saved));
    }
  if (fstat (fd, &st) != 0)
    {
      int saved = errno;
      close (fd);
      return fail (error, DERL_RUN_ERROR_BAD_FILE, path, "cannot read the %s: %s", what, g_strerror (saved));
    }
  if (S_ISDIR (st.st_mode))
    {
      close (fd);
      return fail (error, DERL_RUN_ERROR_BAD_FILE, path, "is a directory, not %s %s", strchr ("aeiou", what[0]) ? "an" : "a", what);
    }
  if (S_ISCHR (st.st_mode) || S_ISBLK (st.st_mode))
    {
      /* /dev/zero, /dev/urandom, a disk: nothing derl reads is one */
      close (fd);
      return fail (error, DERL_RUN_ERROR_BAD_FILE, path, "is a device, not %s %s", strchr ("aeiou", what[0]) ? "an" : "a",
                   what);
    }
  if (S_ISREG (st.st_mode) && (guint64) st.st_size > max_bytes)
    {
      close (fd);
      return fail (error, DERL_RUN_ERROR_BAD_FILE, path,
                   "too large for %s %s (%" G_GUINT64_FORMAT " bytes; at most %" G_GSIZE_FORMAT ")",
                   strchr ("aeiou", what[0]) ? "an" : "a", what,
                   (guint64) st.st_size, max_bytes);
    }
  /* Blocking reads from here on: a FIFO without a writer reads as empty. */
  int flags = fcntl (fd, F_GETFL);
  if (flags >= 0)
    fcntl (fd, F_SETFL, flags & ~O_NONBLOCK);

  gsize cap = S_ISREG (st.st_mode) ? (gsize) st.st_size + 1 : MIN (max_bytes + 1, (gsize) 65536);
  gsize n = 0;
  char *buf = g_malloc (cap + 1);
  for (;;)
    {
      if (n == cap)
        {
          if (n > max_bytes)
            break;
          cap = MIN (cap * 2, max_bytes + 1);
          buf = g_realloc (buf, cap + 1);
        }
      ssize_t got = read (fd, buf + n, cap - n);
      if (got < 0 && (errno == EINTR || errno == EAGAIN))
        continue;
      if (got < 0)
        {
          int saved = errno;
          g_free (buf);
          close (fd);
          return fail (error, DERL_RUN_ERROR_BAD_FILE, path, "cannot read the %s: %s", what, g_strerror (saved));
        }
      if (got == 0)
        break;
      n += (gsize) got;
    }
  close (fd);
  if (n > max_bytes)
    {
      g_free (buf);
      return fail (error, DERL_RUN_ERROR_BAD_FILE, path, "too large for %s %s (more than %" G_GSIZE_FORMAT " bytes)",
                   strchr ("aeiou", what[0]) ? "an" : "a", what, max_bytes);
    }
  buf[n] = '\0';
  *data = buf;
  if (length)
    *length = n;
  return TRUE;
}

gboolean
_derl_file_check (const char *path, gsize max_bytes, const char *what, GError **error)
{
  g_autofree char *data = NULL;
  return _derl_file_read (path, max_bytes, what, &data, NULL, error);
}
