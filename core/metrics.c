/* derl - metrics.jsonl: one JSON object per line, written with json-glib. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <glib/gstdio.h>
#include "derl-private.h"

struct _DerlMetrics {
  char *path;
  FILE *file;
  JsonGenerator *generator;
  JsonNode *root;
};

DerlMetrics *
derl_metrics_open (const char *path, GError **error)
{
  int fd;
  DerlMetrics *metrics;

  g_return_val_if_fail (path != NULL, NULL);

  fd = g_open (path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  if (fd < 0)
    {
      int saved = errno;
      g_set_error (error, DERL_RUN_ERROR, saved == EEXIST ? DERL_RUN_ERROR_EXISTS : DERL_RUN_ERROR_IO,
                   "%s: cannot create the metrics log: %s", path, g_strerror (saved));
      return NULL;
    }
  metrics = g_new0 (DerlMetrics, 1);
  metrics->path = g_strdup (path);
  metrics->file = fdopen (fd, "w");
  metrics->generator = json_generator_new ();
  metrics->root = json_node_alloc ();
  return metrics;
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
  if (fwrite (line, 1, length, metrics->file) != length || fputc ('\n', metrics->file) == EOF
      || fflush (metrics->file) != 0)
    {
      g_set_error (error, DERL_RUN_ERROR, DERL_RUN_ERROR_IO, "%s: cannot write: %s", metrics->path,
                   g_strerror (errno));
      return FALSE;
    }
  return TRUE;
}

gboolean
derl_metrics_close (DerlMetrics *metrics, GError **error)
{
  gboolean ok = TRUE;

  if (!metrics)
    return TRUE;
  if (fclose (metrics->file) != 0)
    {
      g_set_error (error, DERL_RUN_ERROR, DERL_RUN_ERROR_IO, "%s: cannot close: %s", metrics->path,
                   g_strerror (errno));
      ok = FALSE;
    }
  g_object_unref (metrics->generator);
  json_node_unref (metrics->root);
  g_free (metrics->path);
  g_free (metrics);
  return ok;
}
