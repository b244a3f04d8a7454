/* derl - the metrics log: one JSON object per line. */
#pragma once

#include <glib.h>
#include <json-glib/json-glib.h>

G_BEGIN_DECLS

/**
 * DerlMetrics:
 * A JSON-lines log (metrics.jsonl): one object per event.  Lines are written
 * whole, at the latest a second after the event or at derl_metrics_flush(),
 * so that a crash never leaves half an event in the file.
 */
typedef struct _DerlMetrics DerlMetrics;

/**
 * derl_metrics_open:
 * Creates @path (refusing to replace an existing file) and returns the log,
 * or NULL with a %DERL_RUN_ERROR.
 */
DerlMetrics *derl_metrics_open (const char *path, GError **error);

/**
 * derl_metrics_open_append:
 * Opens the existing log @path to append to it (a resumed run), or returns
 * NULL with a %DERL_RUN_ERROR.
 */
DerlMetrics *derl_metrics_open_append (const char *path, GError **error);

/**
 * derl_metrics_write:
 * @object: the event; it should carry an "event" member naming its kind
 *
 * Appends @object as one line.  Returns FALSE with a %DERL_RUN_ERROR_IO error
 * when buffered lines cannot be written.
 */
gboolean derl_metrics_write (DerlMetrics *metrics, JsonObject *object, GError **error);

/**
 * derl_metrics_set_double:
 * Sets member @name of @object to @value, or to null when @value is NaN or
 * infinite: JSON has no such numbers, and every double derl writes into a
 * JSON file (metrics.jsonl, summary.json, formulas.jsonl, state.json,
 * derl-inspect --json) goes through this.
 */
void derl_metrics_set_double (JsonObject *object, const char *name, double value);

/**
 * derl_json_builder_add_double:
 * As derl_metrics_set_double(), for a value added to a #JsonBuilder.
 */
void derl_json_builder_add_double (JsonBuilder *builder, double value);

/**
 * derl_json_array_add_double:
 * As derl_metrics_set_double(), for an element appended to a #JsonArray.
 */
void derl_json_array_add_double (JsonArray *array, double value);

/**
 * derl_metrics_flush:
 * Writes every buffered line now.  Returns FALSE with a %DERL_RUN_ERROR_IO
 * error when they cannot be written (they stay buffered).
 */
gboolean derl_metrics_flush (DerlMetrics *metrics, GError **error);

/**
 * derl_metrics_close:
 * Writes what is buffered and closes the log; returns FALSE with an error if
 * that fails.  Frees @metrics either way.
 */
gboolean derl_metrics_close (DerlMetrics *metrics, GError **error);

G_END_DECLS
