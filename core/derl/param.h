/* derl - parameter specifications and validated parameter values. */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/**
 * DerlParamType:
 * @DERL_PARAM_INT: a signed 64-bit integer
 * @DERL_PARAM_DOUBLE: a finite double
 * @DERL_PARAM_BOOL: true/false (also yes/no, 1/0)
 * @DERL_PARAM_STRING: any UTF-8 text
 * @DERL_PARAM_ENUM: one of the spec's choices
 * @DERL_PARAM_LIST: a list of words separated by ',' or ';'; when the spec
 *   has choices, every word must be one of them
 */
typedef enum {
  DERL_PARAM_INT,
  DERL_PARAM_DOUBLE,
  DERL_PARAM_BOOL,
  DERL_PARAM_STRING,
  DERL_PARAM_ENUM,
  DERL_PARAM_LIST,
} DerlParamType;

/**
 * DerlParamFlags:
 * @DERL_PARAM_REQUIRED: the key must be given; default_value is ignored
 * @DERL_PARAM_HAS_MIN: numbers must be >= min
 * @DERL_PARAM_HAS_MAX: numbers must be <= max
 */
typedef enum {
  DERL_PARAM_REQUIRED = 1 << 0,
  DERL_PARAM_HAS_MIN = 1 << 1,
  DERL_PARAM_HAS_MAX = 1 << 2,
} DerlParamFlags;

/**
 * DerlParamSpec:
 * @name: the key in the experiment file (lower case, digits and '_')
 * @type: the value's type
 * @flags: #DerlParamFlags
 * @default_value: the default, written as it would be in an experiment file
 * @min: @max: the inclusive range of an int or double, where flagged
 * @choices: NULL-terminated choices of an enum or list, or NULL
 * @doc: one line of documentation, shown by derl-inspect
 *
 * One parameter of a feature.  Plugins declare a static array of specs ended
 * by an entry whose @name is NULL; the core parses and validates experiment
 * values against it, so plugins never parse configuration text.  Use the
 * DERL_PARAM_* macros below to write the entries.
 */
typedef struct {
  const char *name;
  DerlParamType type;
  guint flags;
  const char *default_value;
  double min;
  double max;
  const char *const *choices;
  const char *doc;
  /*< private >*/
  gpointer _reserved[4];
} DerlParamSpec;

#define DERL_PARAM_INT_RANGE(name, def, lo, hi, doc) \
  { (name), DERL_PARAM_INT, DERL_PARAM_HAS_MIN | DERL_PARAM_HAS_MAX, (def), (lo), (hi), NULL, (doc), { NULL } }
#define DERL_PARAM_INT_MIN(name, def, lo, doc) \
  { (name), DERL_PARAM_INT, DERL_PARAM_HAS_MIN, (def), (lo), 0, NULL, (doc), { NULL } }
#define DERL_PARAM_DOUBLE_RANGE(name, def, lo, hi, doc) \
  { (name), DERL_PARAM_DOUBLE, DERL_PARAM_HAS_MIN | DERL_PARAM_HAS_MAX, (def), (lo), (hi), NULL, (doc), { NULL } }
#define DERL_PARAM_DOUBLE_MIN(name, def, lo, doc) \
  { (name), DERL_PARAM_DOUBLE, DERL_PARAM_HAS_MIN, (def), (lo), 0, NULL, (doc), { NULL } }
#define DERL_PARAM_BOOL(name, def, doc) \
  { (name), DERL_PARAM_BOOL, 0, (def), 0, 0, NULL, (doc), { NULL } }
#define DERL_PARAM_STRING(name, def, doc) \
  { (name), DERL_PARAM_STRING, 0, (def), 0, 0, NULL, (doc), { NULL } }
#define DERL_PARAM_REQUIRED_STRING(name, doc) \
  { (name), DERL_PARAM_STRING, DERL_PARAM_REQUIRED, NULL, 0, 0, NULL, (doc), { NULL } }
#define DERL_PARAM_ENUM(name, def, choices, doc) \
  { (name), DERL_PARAM_ENUM, 0, (def), 0, 0, (choices), (doc), { NULL } }
#define DERL_PARAM_LIST(name, def, choices, doc) \
  { (name), DERL_PARAM_LIST, 0, (def), 0, 0, (choices), (doc), { NULL } }
#define DERL_PARAM_END { NULL, 0, 0, NULL, 0, 0, NULL, NULL, { NULL } }

/**
 * derl_param_type_name:
 * Returns the name of @type as derl-inspect and error messages write it
 * ("int", "double", "bool", "string", "enum", "list").
 */
const char *derl_param_type_name (DerlParamType type);

/**
 * derl_param_spec_describe:
 * Returns a newly allocated phrase saying what values @spec accepts, e.g.
 * "an integer in [1, 1000000]" or "one of: evaluate, train".
 */
char *derl_param_spec_describe (const DerlParamSpec *spec);

/**
 * derl_param_specs_check:
 * @specs: a NULL-name terminated spec array
 * @owner: who declares them, for messages (e.g. "env 'cartpole'")
 *
 * Checks that a spec table is well formed: names are valid and unique, types
 * known, enums have choices, every non-required default parses and lies in
 * its range.  Returns FALSE with a %DERL_PLUGIN_ERROR_INVALID error otherwise.
 */
gboolean derl_param_specs_check (const DerlParamSpec *specs, const char *owner, GError **error);

/**
 * derl_param_specs_find:
 * Returns the spec named @name in @specs (NULL-name terminated), or NULL.
 */
const DerlParamSpec *derl_param_specs_find (const DerlParamSpec *specs, const char *name);

/**
 * DerlParams:
 *
 * The validated values of one group of an experiment, one per spec of the
 * feature the group configures, defaults filled in.  Reading a value through
 * the typed getters cannot fail for a name the spec declares; asking for an
 * undeclared name or the wrong type is a programming error (a critical
 * warning, and a zero value).
 */
typedef struct _DerlParams DerlParams;

/**
 * derl_params_new:
 * @specs: a NULL-name terminated spec table that outlives the result
 *
 * Returns params holding every spec's default (required ones are unset).
 */
DerlParams *derl_params_new (const DerlParamSpec *specs);

void derl_params_free (DerlParams *params);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (DerlParams, derl_params_free)

/**
 * derl_params_set:
 * @text: the value as written in an experiment file
 *
 * Parses @text for the spec @name and stores it.  On failure returns FALSE
 * with a %DERL_EXPERIMENT_ERROR_INVALID_VALUE error whose message says what
 * was expected (without naming the file; callers prefix that).  Unknown
 * @name gives %DERL_EXPERIMENT_ERROR_UNKNOWN_KEY.
 */
gboolean derl_params_set (DerlParams *params, const char *name, const char *text, GError **error);

/**
 * derl_params_is_set:
 * Returns whether @name has a value (a default or one set).
 */
gboolean derl_params_is_set (const DerlParams *params, const char *name);

/**
 * derl_params_get_text:
 * Returns the value of @name in its canonical experiment-file form, or NULL
 * when unset.  Valid for the params' lifetime or until @name is set again.
 */
const char *derl_params_get_text (const DerlParams *params, const char *name);

/**
 * derl_params_get_specs:
 * Returns the spec table the params were made for.
 */
const DerlParamSpec *derl_params_get_specs (const DerlParams *params);

gint64 derl_params_get_int (const DerlParams *params, const char *name);
double derl_params_get_double (const DerlParams *params, const char *name);
gboolean derl_params_get_bool (const DerlParams *params, const char *name);
/** derl_params_get_string: also returns the choice of an enum. */
const char *derl_params_get_string (const DerlParams *params, const char *name);
/** derl_params_get_enum: returns the index of the chosen value in the spec's choices. */
guint derl_params_get_enum (const DerlParams *params, const char *name);
/** derl_params_get_list: returns the NULL-terminated words of a list. */
const char *const *derl_params_get_list (const DerlParams *params, const char *name);

G_END_DECLS
