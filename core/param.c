/* derl - parameter specs and validated values. */
#include "config.h"

#include <math.h>
#include <string.h>
#include "derl-private.h"

typedef struct {
  gboolean set;
  char *text;     /* canonical experiment-file form */
  gint64 i;
  double d;
  gboolean b;
  guint e;
  char **list;
} DerlParamValue;

struct _DerlParams {
  const DerlParamSpec *specs;
  guint n;
  DerlParamValue *values;
};

const char *
derl_param_type_name (DerlParamType type)
{
  switch (type)
    {
    case DERL_PARAM_INT: return "int";
    case DERL_PARAM_DOUBLE: return "double";
    case DERL_PARAM_BOOL: return "bool";
    case DERL_PARAM_STRING: return "string";
    case DERL_PARAM_ENUM: return "enum";
    case DERL_PARAM_LIST: return "list";
    default: return "unknown";
    }
}

static void
append_number (GString *s, const DerlParamSpec *spec, double v)
{
  if (spec->type == DERL_PARAM_INT)
    g_string_append_printf (s, "%.0f", v);
  else
    g_string_append_printf (s, "%g", v);
}

char *
derl_param_spec_describe (const DerlParamSpec *spec)
{
  GString *s = g_string_new (NULL);
  gboolean has_min = (spec->flags & DERL_PARAM_HAS_MIN) != 0;
  gboolean has_max = (spec->flags & DERL_PARAM_HAS_MAX) != 0;

  switch (spec->type)
    {
    case DERL_PARAM_INT:
    case DERL_PARAM_DOUBLE:
      g_string_append (s, spec->type == DERL_PARAM_INT ? "an integer" : "a number");
      if (has_min && has_max)
        {
          g_string_append (s, " in [");
          append_number (s, spec, spec->min);
          g_string_append (s, ", ");
          append_number (s, spec, spec->max);
          g_string_append (s, "]");
        }
      else if (has_min)
        {
          g_string_append (s, " >= ");
          append_number (s, spec, spec->min);
        }
      else if (has_max)
        {
          g_string_append (s, " <= ");
          append_number (s, spec, spec->max);
        }
      break;
    case DERL_PARAM_BOOL:
      g_string_append (s, "true or false");
      break;
    case DERL_PARAM_STRING:
      g_string_append (s, "a string");
      break;
    case DERL_PARAM_ENUM:
    case DERL_PARAM_LIST:
      g_string_append (s, spec->type == DERL_PARAM_ENUM ? "one of: "
                       : spec->choices ? "a list separated by ',' of: " : "a list separated by ','");
      for (guint i = 0; spec->choices && spec->choices[i]; i++)
        g_string_append_printf (s, "%s%s", i ? ", " : "", spec->choices[i]);
      break;
    default:
      g_string_append (s, "an unknown type");
    }
  return g_string_free (s, FALSE);
}

const DerlParamSpec *
derl_param_specs_find (const DerlParamSpec *specs, const char *name)
{
  for (guint i = 0; specs && specs[i].name; i++)
    if (strcmp (specs[i].name, name) == 0)
      return &specs[i];
  return NULL;
}

gboolean
_derl_valid_key_name (const char *name)
{
  if (!name || !g_ascii_islower (name[0]))
    return FALSE;
  for (const char *p = name; *p; p++)
    if (!g_ascii_islower (*p) && !g_ascii_isdigit (*p) && *p != '_')
      return FALSE;
  return TRUE;
}

static guint
choices_count (const char *const *choices)
{
  guint n = 0;
  while (choices && choices[n])
    n++;
  return n;
}

static char *
error_with_suggestion (const char *text, const char *const *choices)
{
  const char *near = _derl_suggest_closest (text, choices, choices_count (choices));
  return near ? g_strdup_printf ("; did you mean '%s'?", near) : g_strdup ("");
}

/* Parses @text per @spec into @out.  Error messages say what was expected. */
static gboolean
parse_value (const DerlParamSpec *spec, const char *raw, DerlParamValue *out, GError **error)
{
  g_autofree char *text = g_strstrip (g_strdup (raw));
  g_autofree char *expected = derl_param_spec_describe (spec);
  g_autofree char *quoted = _derl_quote (text, -1); /* the value as messages show it */

  if (!g_utf8_validate (text, -1, NULL))
    {
      g_set_error (error, DERL_EXPERIMENT_ERROR, DERL_EXPERIMENT_ERROR_INVALID_VALUE,
                   "the value is not valid UTF-8 (expected %s)", expected);
      return FALSE;
    }

  switch (spec->type)
    {
    case DERL_PARAM_INT:
      {
        gint64 v;
        if (!g_ascii_string_to_signed (text, 10, G_MININT64, G_MAXINT64, &v, NULL))
          {
            g_set_error (error, DERL_EXPERIMENT_ERROR, DERL_EXPERIMENT_ERROR_INVALID_VALUE,
                         "'%s' is not an integer (expected %s)", quoted, expected);
            return FALSE;
          }
        if (((spec->flags & DERL_PARAM_HAS_MIN) && (double) v < spec->min)
            || ((spec->flags & DERL_PARAM_HAS_MAX) && (double) v > spec->max))
          {
            g_set_error (error, DERL_EXPERIMENT_ERROR, DERL_EXPERIMENT_ERROR_INVALID_VALUE,
                         "%s is out of range (expected %s)", quoted, expected);
            return FALSE;
          }
        out->i = v;
        out->text = g_strdup_printf ("%" G_GINT64_FORMAT, v);
        break;
      }
    case DERL_PARAM_DOUBLE:
      {
        char *end = NULL;
        double v = *text ? g_ascii_strtod (text, &end) : 0.0;
        if (!*text || *end != '\0' || !isfinite (v))
          {
            g_set_error (error, DERL_EXPERIMENT_ERROR, DERL_EXPERIMENT_ERROR_INVALID_VALUE,
                         "'%s' is not a finite number (expected %s)", quoted, expected);
            return FALSE;
          }
        if (((spec->flags & DERL_PARAM_HAS_MIN) && v < spec->min)
            || ((spec->flags & DERL_PARAM_HAS_MAX) && v > spec->max))
          {
            g_set_error (error, DERL_EXPERIMENT_ERROR, DERL_EXPERIMENT_ERROR_INVALID_VALUE,
                         "%s is out of range (expected %s)", quoted, expected);
            return FALSE;
          }
        out->d = v;
        out->text = g_strdup (text);
        break;
      }
    case DERL_PARAM_BOOL:
      if (g_ascii_strcasecmp (text, "true") == 0 || g_ascii_strcasecmp (text, "yes") == 0
          || strcmp (text, "1") == 0)
        out->b = TRUE;
      else if (g_ascii_strcasecmp (text, "false") == 0 || g_ascii_strcasecmp (text, "no") == 0
               || strcmp (text, "0") == 0)
        out->b = FALSE;
      else
        {
          g_set_error (error, DERL_EXPERIMENT_ERROR, DERL_EXPERIMENT_ERROR_INVALID_VALUE,
                       "'%s' is not a boolean (expected %s)", quoted, expected);
          return FALSE;
        }
      out->text = g_strdup (out->b ? "true" : "false");
      break;
    case DERL_PARAM_STRING:
      out->text = g_strdup (text);
      break;
    case DERL_PARAM_ENUM:
      for (guint i = 0; spec->choices && spec->choices[i]; i++)
        if (strcmp (spec->choices[i], text) == 0)
          {
            out->e = i;
            out->text = g_strdup (text);
            return TRUE;
          }
      {
        g_autofree char *hint = error_with_suggestion (text, spec->choices);
        g_set_error (error, DERL_EXPERIMENT_ERROR, DERL_EXPERIMENT_ERROR_INVALID_VALUE,
                     "'%s' is not a valid choice (expected %s)%s", quoted, expected, hint);
      }
      return FALSE;
    case DERL_PARAM_LIST:
      {
        g_auto (GStrv) parts = g_strsplit_set (text, ",;", -1);
        GPtrArray *words = g_ptr_array_new_with_free_func (g_free);
        for (guint i = 0; parts[i]; i++)
          {
            char *w = g_strstrip (parts[i]);
            if (!*w)
              continue;
            if (spec->choices && !g_strv_contains (spec->choices, w))
              {
                g_autofree char *hint = error_with_suggestion (w, spec->choices);
                g_autofree char *wq = _derl_quote (w, -1);
                g_set_error (error, DERL_EXPERIMENT_ERROR, DERL_EXPERIMENT_ERROR_INVALID_VALUE,
                             "'%s' is not a valid choice (expected %s)%s", wq, expected, hint);
                g_ptr_array_free (words, TRUE);
                return FALSE;
              }
            g_ptr_array_add (words, g_strdup (w));
          }
        g_ptr_array_add (words, NULL);
        out->list = (char **) g_ptr_array_free (words, FALSE);
        out->text = g_strjoinv (",", out->list);
        break;
      }
    default:
      g_set_error (error, DERL_EXPERIMENT_ERROR, DERL_EXPERIMENT_ERROR_INVALID_VALUE,
                   "unknown parameter type %d", spec->type);
      return FALSE;
    }
  return TRUE;
}

static void
value_clear (DerlParamValue *v)
{
  g_free (v->text);
  g_strfreev (v->list);
  memset (v, 0, sizeof *v);
}

gboolean
derl_param_specs_check (const DerlParamSpec *specs, const char *owner, GError **error)
{
  for (guint i = 0; specs && specs[i].name; i++)
    {
      const DerlParamSpec *spec = &specs[i];
      if (!_derl_valid_key_name (spec->name) || strcmp (spec->name, "name") == 0)
        {
          g_set_error (error, DERL_PLUGIN_ERROR, DERL_PLUGIN_ERROR_INVALID,
                       "%s: parameter '%s': names are lower case letters, digits and '_', "
                       "and 'name' is reserved", owner, spec->name);
          return FALSE;
        }
      for (guint j = 0; j < i; j++)
        if (strcmp (specs[j].name, spec->name) == 0)
          {
            g_set_error (error, DERL_PLUGIN_ERROR, DERL_PLUGIN_ERROR_INVALID,
                         "%s: parameter '%s' is declared twice", owner, spec->name);
            return FALSE;
          }
      if ((guint) spec->type > DERL_PARAM_LIST)
        {
          g_set_error (error, DERL_PLUGIN_ERROR, DERL_PLUGIN_ERROR_INVALID,
                       "%s: parameter '%s' has unknown type %d", owner, spec->name, spec->type);
          return FALSE;
        }
      if (spec->type == DERL_PARAM_ENUM && choices_count (spec->choices) == 0)
        {
          g_set_error (error, DERL_PLUGIN_ERROR, DERL_PLUGIN_ERROR_INVALID,
                       "%s: enum parameter '%s' has no choices", owner, spec->name);
          return FALSE;
        }
      if (!spec->doc || !*spec->doc)
        {
          g_set_error (error, DERL_PLUGIN_ERROR, DERL_PLUGIN_ERROR_INVALID,
                       "%s: parameter '%s' has no doc line", owner, spec->name);
          return FALSE;
        }
      if (!(spec->flags & DERL_PARAM_REQUIRED))
        {
          DerlParamValue v = { 0 };
          g_autoptr (GError) local = NULL;
          if (!spec->default_value)
            {
              g_set_error (error, DERL_PLUGIN_ERROR, DERL_PLUGIN_ERROR_INVALID,
                           "%s: parameter '%s' is neither required nor has a default",
                           owner, spec->name);
              return FALSE;
            }
          if (!parse_value (spec, spec->default_value, &v, &local))
            {
              g_set_error (error, DERL_PLUGIN_ERROR, DERL_PLUGIN_ERROR_INVALID,
                           "%s: parameter '%s': bad default: %s", owner, spec->name, local->message);
              return FALSE;
            }
          value_clear (&v);
        }
    }
  return TRUE;
}

DerlParams *
derl_params_new (const DerlParamSpec *specs)
{
  DerlParams *params = g_new0 (DerlParams, 1);

  params->specs = specs;
  while (specs && specs[params->n].name)
    params->n++;
  params->values = g_new0 (DerlParamValue, MAX (params->n, 1));
  for (guint i = 0; i < params->n; i++)
    {
      const DerlParamSpec *spec = &specs[i];
      if (spec->flags & DERL_PARAM_REQUIRED || !spec->default_value)
        continue;
      /* Defaults were checked when the specs were registered. */
      if (parse_value (spec, spec->default_value, &params->values[i], NULL))
        params->values[i].set = TRUE;
    }
  return params;
}

void
derl_params_free (DerlParams *params)
{
  if (!params)
    return;
  for (guint i = 0; i < params->n; i++)
    value_clear (&params->values[i]);
  g_free (params->values);
  g_free (params);
}

static int
params_index (const DerlParams *params, const char *name)
{
  for (guint i = 0; i < params->n; i++)
    if (strcmp (params->specs[i].name, name) == 0)
      return (int) i;
  return -1;
}

gboolean
derl_params_set (DerlParams *params, const char *name, const char *text, GError **error)
{
  DerlParamValue v = { 0 };
  int i;

  g_return_val_if_fail (params != NULL && name != NULL && text != NULL, FALSE);

  i = params_index (params, name);
  if (i < 0)
    {
      g_set_error (error, DERL_EXPERIMENT_ERROR, DERL_EXPERIMENT_ERROR_UNKNOWN_KEY,
                   "unknown key '%s'", name);
      return FALSE;
    }
  if (!parse_value (&params->specs[i], text, &v, error))
    return FALSE;
  value_clear (&params->values[i]);
  params->values[i] = v;
  params->values[i].set = TRUE;
  return TRUE;
}

gboolean
derl_params_is_set (const DerlParams *params, const char *name)
{
  int i = params_index (params, name);
  return i >= 0 && params->values[i].set;
}

const char *
derl_params_get_text (const DerlParams *params, const char *name)
{
  int i = params_index (params, name);
  return i >= 0 && params->values[i].set ? params->values[i].text : NULL;
}

const DerlParamSpec *
derl_params_get_specs (const DerlParams *params)
{
  return params->specs;
}

static const DerlParamValue *
typed_value (const DerlParams *params, const char *name, DerlParamType type, DerlParamType alt)
{
  int i;

  g_return_val_if_fail (params != NULL && name != NULL, NULL);
  i = params_index (params, name);
  if (i < 0 || (params->specs[i].type != type && params->specs[i].type != alt))
    {
      g_critical ("parameter '%s' is not declared as %s", name, derl_param_type_name (type));
      return NULL;
    }
  return params->values[i].set ? &params->values[i] : NULL;
}

gint64
derl_params_get_int (const DerlParams *params, const char *name)
{
  const DerlParamValue *v = typed_value (params, name, DERL_PARAM_INT, DERL_PARAM_INT);
  return v ? v->i : 0;
}

double
derl_params_get_double (const DerlParams *params, const char *name)
{
  const DerlParamValue *v = typed_value (params, name, DERL_PARAM_DOUBLE, DERL_PARAM_DOUBLE);
  return v ? v->d : 0.0;
}

gboolean
derl_params_get_bool (const DerlParams *params, const char *name)
{
  const DerlParamValue *v = typed_value (params, name, DERL_PARAM_BOOL, DERL_PARAM_BOOL);
  return v ? v->b : FALSE;
}

const char *
derl_params_get_string (const DerlParams *params, const char *name)
{
  const DerlParamValue *v = typed_value (params, name, DERL_PARAM_STRING, DERL_PARAM_ENUM);
  return v ? v->text : NULL;
}

guint
derl_params_get_enum (const DerlParams *params, const char *name)
{
  const DerlParamValue *v = typed_value (params, name, DERL_PARAM_ENUM, DERL_PARAM_ENUM);
  return v ? v->e : 0;
}

const char *const *
derl_params_get_list (const DerlParams *params, const char *name)
{
  static const char *const empty[] = { NULL };
  const DerlParamValue *v = typed_value (params, name, DERL_PARAM_LIST, DERL_PARAM_LIST);
  return v ? (const char *const *) v->list : empty;
}
