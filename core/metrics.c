/* derl - metrics.jsonl: one JSON object per line, written with json-glib. */
#include "config.h"

#include <math.h>

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>
#include <glib/gstdio.h>
#include "derl-private.h"

/* Events are gathered into whole lines and written with write(2) at most
 * every second or 64 KiB, so a log never ends in half a line. */
#define FLUSH_BYTES (64 * 1024)
#define FLUSH_USEC G_USEC_PER_SEC

struct _DerlMetrics {
  char *path;
  int fd;
  GString *pending;
  gint64 last_flush;
  JsonGenerator *generator;
  JsonNode *root;
};

static DerlMetrics *
metrics_open (const char *path, gboolean append, GError **error)
{
  int fd;
  DerlMetrics *metrics;

  g_return_val_if_fail (path != NULL, NULL);

  fd = g_open (path, append ? O_WRONLY | O_APPEND | O_CLOEXEC : O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  if (fd < 0)
    {
      int saved = errno;
      g_set_error (error, DERL_RUN_ERROR, saved == EEXIST ? DERL_RUN_ERROR_EXISTS : DERL_RUN_ERROR_IO,
                   "%s: cannot %s the metrics log: %s", path, append ? "open" : "create", g_strerror (saved));
      return NULL;
    }
  metrics = g_new0 (DerlMetrics, 1);
  metrics->path = g_strdup (path);
  metrics->fd = fd;
  metrics->pending = g_string_sized_new (FLUSH_BYTES + 1024);
  metrics->last_flush = g_get_monotonic_time ();
  metrics->generator = json_generator_new ();
  metrics->root = json_node_alloc ();
  return metrics;
}

DerlMetrics *
derl_metrics_open (const char *path, GError **error)
{
  return metrics_open (path, FALSE, error);
}

DerlMetrics *
derl_metrics_open_append (const char *path, GError **error)
{
  return metrics_open (path, TRUE, error);
}

/* Writes the pending lines out once there are enough of them or they have
 * waited long enough; a log in memory keeps them. */
static gboolean
flush_when_due (DerlMetrics *metrics, GError **error)
{
  if (metrics->fd >= 0
      && (metrics->pending->len >= FLUSH_BYTES || g_get_monotonic_time () - metrics->last_flush >= FLUSH_USEC))
    return derl_metrics_flush (metrics, error);
  return TRUE;
}

DerlMetrics *
_derl_metrics_new_memory (void)
{
  DerlMetrics *metrics = g_new0 (DerlMetrics, 1);

  metrics->path = g_strdup ("(memory)");
  metrics->fd = -1;
  metrics->pending = g_string_new (NULL);
  metrics->generator = json_generator_new ();
  metrics->root = json_node_alloc ();
  return metrics;
}

gboolean
_derl_metrics_copy_lines (DerlMetrics *to, const DerlMetrics *from, GError **error)
{
  g_return_val_if_fail (to != NULL && from != NULL && from->fd < 0, FALSE);
  g_string_append_len (to->pending, from->pending->str, (gssize) from->pending->len);
  return flush_when_due (to, error);
}

gboolean
derl_metrics_flush (DerlMetrics *metrics, GError **error)
{
  gsize done = 0;

  g_return_val_if_fail (metrics != NULL, FALSE);
  if (metrics->fd < 0)
    return TRUE; /* a log in memory keeps its lines */
  while (done < metrics->pending->len)
    {
      gssize n = write (metrics->fd, metrics->pending->str + done, metrics->pending->len - done);
      if (n < 0 && errno == EINTR)
        continue;
      if (n <= 0)
        {
          int saved = errno;
          /* Keep what was not written, so a later flush can retry it. */
          g_string_erase (metrics->pending, 0, (gssize) done);
          g_set_error (error, DERL_RUN_ERROR, DERL_RUN_ERROR_IO, "%s: cannot write: %s", metrics->path,
                       g_strerror (n < 0 ? saved : ENOSPC));
          return FALSE;
        }
      done += (gsize) n;
    }
  g_string_truncate (metrics->pending, 0);
  metrics->last_flush = g_get_monotonic_time ();
  return TRUE;
}

gboolean
derl_metrics_write (DerlMetrics *metrics, JsonObject *object, GError **error)
{
  gsize length = 0;
  g_autofree char *line = NULL;

  g_return_val_if_fail (metrics != NULL && object != NULL, FALSE);

  json_node_init_object (metrics->root, object);
  json_generator_set_root (metrics->generator, metrics->root);
  line = json_generator_to_data (metrics->generator, &length);
  json_node_unref (metrics->root);
  metrics->root = json_node_alloc ();
  g_string_append_len (metrics->pending, line, (gssize) length);
  g_string_append_c (metrics->pending, '\n');
  return flush_when_due (metrics, error);
}

gboolean
derl_metrics_close (DerlMetrics *metrics, GError **error)
{
  gboolean ok;

  if (!metrics)
    return TRUE;
  ok = derl_metrics_flush (metrics, error);
  if (metrics->fd >= 0 && close (metrics->fd) != 0 && ok)
    {
      g_set_error (error, DERL_RUN_ERROR, DERL_RUN_ERROR_IO, "%s: cannot close: %s", metrics->path,
                   g_strerror (errno));
      ok = FALSE;
    }
  g_string_free (metrics->pending, TRUE);
  g_object_unref (metrics->generator);
  json_node_unref (metrics->root);
  g_free (metrics->path);
  g_free (metrics);
  return ok;
}

void
derl_metrics_set_double (JsonObject *object, const char *name, double value)
{
  if (isfinite (value))
    json_object_set_double_member (object, name, value);
  else
    json_object_set_null_member (object, name);
}

void
derl_json_builder_add_double (JsonBuilder *builder, double value)
{
  if (isfinite (value))
    json_builder_add_double_value (builder, value);
  else
    json_builder_add_null_value (builder);
}

void
derl_json_array_add_double (JsonArray *array, double value)
{
  if (isfinite (value))
    json_array_add_double_element (array, value);
  else
    json_array_add_null_element (array);
}
