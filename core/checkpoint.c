/* derl - policy checkpoints: "DERLCKPT", a format version, a JSON header and
 * the tensors as little-endian binary, checked by SHA-256. */
#include "config.h"

#include <math.h>
#include <string.h>
#include "derl-private.h"

#define MAGIC "DERLCKPT"
#define FORMAT_VERSION 1
#define PREFIX_SIZE 20 /* magic (8) + version (u32) + header length (u64) */
#define MAX_HEADER (16u << 20)

static const char *const activation_names[] = { "identity", "tanh", "relu", NULL };

static void
put_le (guint8 *p, guint64 v, guint bytes)
{
  for (guint i = 0; i < bytes; i++)
    p[i] = (guint8) (v >> (8 * i));
}

static guint64
get_le (const guint8 *p, guint bytes)
{
  guint64 v = 0;
  for (guint i = 0; i < bytes; i++)
    v |= (guint64) p[i] << (8 * i);
  return v;
}

/* Appends @t's elements to @out as little-endian bytes. */
static void
append_tensor (GByteArray *out, const DerlTensor *t)
{
  gsize n = derl_tensor_n_elements (t), size = derl_dtype_size (t->dtype);
  guint at = out->len;

  g_byte_array_set_size (out, at + (guint) (n * size));
  derl_tensor_download (t, 0, out->data + at, n);
#if G_BYTE_ORDER == G_BIG_ENDIAN
  for (gsize i = 0; i < n; i++)
    {
      guint8 *e = out->data + at + i * size;
      for (gsize k = 0; k < size / 2; k++)
        {
          guint8 tmp = e[k];
          e[k] = e[size - 1 - k];
          e[size - 1 - k] = tmp;
        }
    }
#endif
}

/* Uploads a tensor from its little-endian bytes; returns the index of its
 * first value that is not finite, or -1 when all are. */
static gssize
read_tensor (DerlTensor *t, const guint8 *data)
{
  gsize n = derl_tensor_n_elements (t);
  gsize size = derl_dtype_size (t->dtype);
  g_autofree guint8 *tmp = g_memdup2 (data, n * size);
#if G_BYTE_ORDER == G_BIG_ENDIAN
  for (gsize i = 0; i < n; i++)
    {
      guint8 *e = tmp + i * size;
      for (gsize k = 0; k < size / 2; k++)
        {
          guint8 x = e[k];
          e[k] = e[size - 1 - k];
          e[size - 1 - k] = x;
        }
    }
#endif
  for (gsize i = 0; i < n; i++)
    {
      double v;
      if (t->dtype == DERL_DTYPE_F32)
        {
          float f;
          memcpy (&f, tmp + i * size, sizeof f);
          v = f;
        }
      else
        memcpy (&v, tmp + i * size, sizeof v);
      if (!isfinite (v))
        return (gssize) i;
    }
  derl_tensor_upload (t, 0, tmp, n);
  return -1;
}

static JsonNode *
config_json (const DerlPolicyConfig *c)
{
  g_autoptr (JsonBuilder) b = json_builder_new ();

  json_builder_begin_object (b);
  json_builder_set_member_name (b, "obs_size");
  json_builder_add_int_value (b, c->obs_size);
  json_builder_set_member_name (b, "n_actions");
  json_builder_add_int_value (b, c->n_actions);
  json_builder_set_member_name (b, "candidate_size");
  json_builder_add_int_value (b, c->candidate_size);
  json_builder_set_member_name (b, "hidden");
  json_builder_begin_array (b);
  for (guint i = 0; i < c->n_hidden; i++)
    json_builder_add_int_value (b, c->hidden[i]);
  json_builder_end_array (b);
  json_builder_set_member_name (b, "activation");
  json_builder_add_string_value (b, activation_names[c->activation]);
  json_builder_set_member_name (b, "value_head");
  json_builder_add_boolean_value (b, c->value_head);
  json_builder_set_member_name (b, "dtype");
  json_builder_add_string_value (b, c->dtype == DERL_DTYPE_F64 ? "float64" : "float32");
  json_builder_end_object (b);
  return json_builder_get_root (b);
}

gboolean
derl_policy_save (const DerlPolicy *policy, const char *path, const char *experiment, GError **error)
{
  DerlTensor *tensors[DERL_POLICY_MAX_TENSORS];
  char *names[DERL_POLICY_MAX_TENSORS];
  guint n = _derl_policy_tensors ((DerlPolicy *) policy, tensors, names, TRUE);
  g_autoptr (GByteArray) payload = g_byte_array_new ();
  g_autoptr (JsonBuilder) b = json_builder_new ();
  g_autoptr (JsonGenerator) gen = json_generator_new ();
  g_autofree char *sha = NULL;
  g_autofree char *header = NULL;
  gsize header_len = 0;
  gboolean ok;

  for (guint i = 0; i < n; i++)
    append_tensor (payload, tensors[i]);
  sha = g_compute_checksum_for_data (G_CHECKSUM_SHA256, payload->data, payload->len);

  json_builder_begin_object (b);
  json_builder_set_member_name (b, "format");
  json_builder_add_string_value (b, "derl-policy-checkpoint");
  json_builder_set_member_name (b, "derl_version");
  json_builder_add_string_value (b, DERL_VERSION_STRING);
  json_builder_set_member_name (b, "config");
  json_builder_add_value (b, config_json (derl_policy_get_config (policy)));
  json_builder_set_member_name (b, "adam_step");
  json_builder_add_int_value (b, (gint64) _derl_policy_get_adam_step (policy));
  json_builder_set_member_name (b, "tensors");
  json_builder_begin_array (b);
  for (guint i = 0; i < n; i++)
    {
      json_builder_begin_object (b);
      json_builder_set_member_name (b, "name");
      json_builder_add_string_value (b, names[i]);
      json_builder_set_member_name (b, "rows");
      json_builder_add_int_value (b, tensors[i]->rows);
      json_builder_set_member_name (b, "cols");
      json_builder_add_int_value (b, tensors[i]->cols);
      json_builder_end_object (b);
      g_free (names[i]);
    }
  json_builder_end_array (b);
  json_builder_set_member_name (b, "payload_bytes");
  json_builder_add_int_value (b, payload->len);
  json_builder_set_member_name (b, "sha256");
  json_builder_add_string_value (b, sha);
  json_builder_set_member_name (b, "experiment");
  json_builder_add_string_value (b, experiment ? experiment : "");
  json_builder_end_object (b);

  g_autoptr (JsonNode) root = json_builder_get_root (b);
  json_generator_set_root (gen, root);
  json_generator_set_pretty (gen, TRUE);
  header = json_generator_to_data (gen, &header_len);

  g_autoptr (GByteArray) file = g_byte_array_sized_new ((guint) (PREFIX_SIZE + header_len + payload->len));
  guint8 prefix[PREFIX_SIZE];
  memcpy (prefix, MAGIC, 8);
  put_le (prefix + 8, FORMAT_VERSION, 4);
  put_le (prefix + 12, header_len, 8);
  g_byte_array_append (file, prefix, PREFIX_SIZE);
  g_byte_array_append (file, (const guint8 *) header, (guint) header_len);
  g_byte_array_append (file, payload->data, payload->len);
  /* g_file_set_contents writes a temporary file and renames it over @path. */
  ok = g_file_set_contents (path, (const char *) file->data, file->len, error);
  return ok;
}

static gboolean G_GNUC_PRINTF (3, 4)
refuse (GError **error, const char *path, const char *format, ...)
{
  va_list args;
  g_autofree char *why = NULL;

  va_start (args, format);
  why = g_strdup_vprintf (format, args);
  va_end (args);
  g_set_error (error, DERL_RUN_ERROR, DERL_RUN_ERROR_BAD_FILE, "%s: not a usable policy checkpoint: %s", path, why);
  return FALSE;
}

/* a * b and a + b, saturating at G_MAXUINT64 */
static guint64
mul_sat (guint64 a, guint64 b)
{
  return a && b > G_MAXUINT64 / a ? G_MAXUINT64 : a * b;
}

static guint64
add_sat (guint64 a, guint64 b)
{
  return b > G_MAXUINT64 - a ? G_MAXUINT64 : a + b;
}

/* What an MLP of _derl_mlp_init() holds: its parameters, and the elements
 * of scratch it allocates for one row (the activations and their
 * gradients). */
static void
mlp_sizes (guint64 ctx, guint64 cand, guint64 repeat, const guint *widths, guint n, guint64 *params,
           guint64 *elements)
{
  guint64 rows = cand ? repeat : 1, in = ctx;
  for (guint l = 0; l < n; l++)
    {
      guint64 out = widths[l];
      guint64 p = add_sat (add_sat (mul_sat (in, out), l == 0 && cand ? mul_sat (cand, out) : 0), out);
      *params = add_sat (*params, p);
      *elements = add_sat (*elements, mul_sat (mul_sat (rows, out), 4));
      in = out;
    }
  if (cand)
    *elements = add_sat (*elements, mul_sat (2, widths[0]));
}

/* The tensor bytes a checkpoint of @c holds, and the bytes of scratch a
 * policy of @c takes for one row (policy.c's build() and alloc_scratch()),
 * both saturating: computed from the header before anything is allocated. */
static void
config_sizes (const DerlPolicyConfig *c, guint64 *payload, guint64 *memory)
{
  guint widths[DERL_MLP_MAX_LAYERS];
  guint64 params = 0, elements = 0, a = c->n_actions;

  memcpy (widths, c->hidden, sizeof (guint) * c->n_hidden);
  widths[c->n_hidden] = c->candidate_size ? 1 : c->n_actions;
  mlp_sizes (c->obs_size, c->candidate_size, a, widths, c->n_hidden + 1, &params, &elements);
  if (c->value_head)
    {
      widths[c->n_hidden] = 1;
      mlp_sizes (MAX (c->obs_size, 1), 0, 1, widths, c->n_hidden + 1, &params, &elements);
    }
  /* obs, mask, logp, dlogp, dlogits, dvalues, staging, host_logp, host_dlogp,
   * and with candidates the per-slot index arrays and cand_rows */
  elements = add_sat (elements, add_sat (MAX (c->obs_size, 1), mul_sat (a, 8)));
  elements = add_sat (elements, mul_sat (a, MAX (c->candidate_size, 1)));
  if (c->candidate_size)
    elements = add_sat (elements, add_sat (mul_sat (a, 9), mul_sat (a, c->candidate_size)));
  *payload = mul_sat (mul_sat (params, 3), derl_dtype_size (c->dtype));
  *memory = mul_sat (elements, 8);
}

static gboolean
int_member (JsonObject *o, const char *name, gint64 lo, gint64 hi, gint64 *out)
{
  JsonNode *n = json_object_get_member (o, name);
  if (!n || json_node_get_value_type (n) != G_TYPE_INT64)
    return FALSE;
  *out = json_node_get_int (n);
  return *out >= lo && *out <= hi;
}

static gboolean
parse_config (JsonObject *o, DerlPolicyConfig *c)
{
  gint64 v;
  JsonArray *hidden;
  JsonNode *node;
  const char *s;

  memset (c, 0, sizeof *c);
  if (!int_member (o, "obs_size", 0, 1 << 24, &v))
    return FALSE;
  c->obs_size = (guint) v;
  if (!int_member (o, "n_actions", 1, 1 << 24, &v))
    return FALSE;
  c->n_actions = (guint) v;
  if (!int_member (o, "candidate_size", 0, 1 << 24, &v))
    return FALSE;
  c->candidate_size = (guint) v;
  node = json_object_get_member (o, "hidden");
  if (!node || !JSON_NODE_HOLDS_ARRAY (node))
    return FALSE;
  hidden = json_node_get_array (node);
  if (json_array_get_length (hidden) > DERL_POLICY_MAX_LAYERS)
    return FALSE;
  c->n_hidden = json_array_get_length (hidden);
  for (guint i = 0; i < c->n_hidden; i++)
    {
      JsonNode *e = json_array_get_element (hidden, i);
      if (json_node_get_value_type (e) != G_TYPE_INT64 || json_node_get_int (e) < 1
          || json_node_get_int (e) > 65536)
        return FALSE;
      c->hidden[i] = (guint) json_node_get_int (e);
    }
  node = json_object_get_member (o, "activation");
  s = node && json_node_get_value_type (node) == G_TYPE_STRING ? json_node_get_string (node) : NULL;
  if (!s || !g_strv_contains (activation_names, s))
    return FALSE;
  for (guint i = 0; activation_names[i]; i++)
    if (strcmp (s, activation_names[i]) == 0)
      c->activation = (DerlActivation) i;
  node = json_object_get_member (o, "value_head");
  if (!node || json_node_get_value_type (node) != G_TYPE_BOOLEAN)
    return FALSE;
  c->value_head = json_node_get_boolean (node);
  node = json_object_get_member (o, "dtype");
  s = node && json_node_get_value_type (node) == G_TYPE_STRING ? json_node_get_string (node) : NULL;
  if (!s || (strcmp (s, "float32") != 0 && strcmp (s, "float64") != 0))
    return FALSE;
  c->dtype = strcmp (s, "float64") == 0 ? DERL_DTYPE_F64 : DERL_DTYPE_F32;
  return TRUE;
}

DerlPolicy *
derl_policy_load (DerlBackend *backend, const char *path, guint max_rows, char **experiment, GError **error)
{
  g_autofree char *data = NULL;
  gsize length = 0;
  g_autoptr (JsonParser) parser = json_parser_new ();
  g_autoptr (GError) err = NULL;
  g_autoptr (DerlPolicy) policy = NULL;
  DerlPolicyConfig config;
  JsonObject *header, *cfg;
  JsonNode *node;
  gint64 payload_bytes = -1, adam_step = 0;
  const char *sha;

  g_return_val_if_fail (backend != NULL && path != NULL, NULL);
  if (!_derl_file_read (path, DERL_POLICY_CHECKPOINT_MAX_SIZE, "policy checkpoint", &data, &length, error))
    return NULL;
  if (length < PREFIX_SIZE || memcmp (data, MAGIC, 8) != 0)
    return refuse (error, path, "it does not start with %s", MAGIC), NULL;
  guint64 version = get_le ((const guint8 *) data + 8, 4);
  guint64 header_len = get_le ((const guint8 *) data + 12, 8);
  if (version != FORMAT_VERSION)
    return refuse (error, path, "format version %" G_GUINT64_FORMAT ", this derl reads version %d",
                   version, FORMAT_VERSION), NULL;
  if (header_len == 0 || header_len > MAX_HEADER || header_len > length - PREFIX_SIZE)
    return refuse (error, path, "truncated (the header claims %" G_GUINT64_FORMAT " bytes)", header_len), NULL;
  if (!json_parser_load_from_data (parser, data + PREFIX_SIZE, (gssize) header_len, &err))
    return refuse (error, path, "bad JSON header: %s", err->message), NULL;
  node = json_parser_get_root (parser);
  if (!node || !JSON_NODE_HOLDS_OBJECT (node))
    return refuse (error, path, "the header is not a JSON object"), NULL;
  header = json_node_get_object (node);
  node = json_object_get_member (header, "format");
  if (!node || json_node_get_value_type (node) != G_TYPE_STRING
      || strcmp (json_node_get_string (node), "derl-policy-checkpoint") != 0)
    return refuse (error, path, "the header's format is not derl-policy-checkpoint"), NULL;
  node = json_object_get_member (header, "config");
  cfg = node && JSON_NODE_HOLDS_OBJECT (node) ? json_node_get_object (node) : NULL;
  if (!cfg || !parse_config (cfg, &config))
    return refuse (error, path, "missing or invalid policy config in the header"), NULL;
  /* What the config implies, checked before anything is allocated. */
  guint64 implied, memory;
  config_sizes (&config, &implied, &memory);
  if (memory > DERL_POLICY_CHECKPOINT_MAX_ROW_MEMORY)
    return refuse (error, path, "its config (%u observations, %u actions, %u candidate features) takes more than "
                   "%" G_GUINT64_FORMAT " bytes of scratch per row", config.obs_size, config.n_actions, config.candidate_size,
                   (guint64) DERL_POLICY_CHECKPOINT_MAX_ROW_MEMORY), NULL;
  if (implied != length - PREFIX_SIZE - header_len)
    return refuse (error, path, "its config implies %" G_GUINT64_FORMAT " bytes of tensors, the file holds %"
                   G_GSIZE_FORMAT, implied, (gsize) (length - PREFIX_SIZE - header_len)), NULL;
  if (!int_member (header, "payload_bytes", 0, G_MAXINT64, &payload_bytes)
      || (guint64) payload_bytes != length - PREFIX_SIZE - header_len)
    return refuse (error, path, "truncated or padded: %" G_GSIZE_FORMAT " bytes of tensors, the header says %"
                   G_GINT64_FORMAT, (gsize) (length - PREFIX_SIZE - header_len), payload_bytes), NULL;
  if (!int_member (header, "adam_step", 0, G_MAXINT64, &adam_step))
    return refuse (error, path, "missing adam_step"), NULL;
  node = json_object_get_member (header, "sha256");
  sha = node && json_node_get_value_type (node) == G_TYPE_STRING ? json_node_get_string (node) : NULL;
  const guint8 *payload = (const guint8 *) data + PREFIX_SIZE + header_len;
  g_autofree char *actual = g_compute_checksum_for_data (G_CHECKSUM_SHA256, payload, (gsize) payload_bytes);
  if (!sha || strcmp (sha, actual) != 0)
    return refuse (error, path, "checksum mismatch: the tensors are corrupt"), NULL;

  policy = _derl_policy_alloc (backend, &config, max_rows, error);
  if (!policy)
    return NULL;

  /* The tensors must be exactly those this config makes, in order. */
  DerlTensor *tensors[DERL_POLICY_MAX_TENSORS];
  char *names[DERL_POLICY_MAX_TENSORS];
  guint n = _derl_policy_tensors (policy, tensors, names, TRUE);
  JsonNode *list_node = json_object_get_member (header, "tensors");
  JsonArray *list = list_node && JSON_NODE_HOLDS_ARRAY (list_node) ? json_node_get_array (list_node) : NULL;
  gsize offset = 0;
  gssize nonfinite = -1;
  guint nonfinite_tensor = 0;
  gboolean ok = list && json_array_get_length (list) == n;
  for (guint i = 0; ok && i < n; i++)
    {
      JsonNode *e = json_array_get_element (list, i);
      JsonObject *o = JSON_NODE_HOLDS_OBJECT (e) ? json_node_get_object (e) : NULL;
      gint64 rows, cols;
      JsonNode *name = o ? json_object_get_member (o, "name") : NULL;
      ok = o && int_member (o, "rows", 0, G_MAXINT32, &rows) && int_member (o, "cols", 0, G_MAXINT32, &cols)
           && rows == tensors[i]->rows && cols == tensors[i]->cols && name
           && json_node_get_value_type (name) == G_TYPE_STRING
           && strcmp (json_node_get_string (name), names[i]) == 0;
      gsize bytes = derl_tensor_n_elements (tensors[i]) * derl_dtype_size (tensors[i]->dtype);
      ok = ok && offset + bytes <= (gsize) payload_bytes;
      if (ok && (nonfinite = read_tensor (tensors[i], payload + offset)) >= 0)
        {
          nonfinite_tensor = i;
          break;
        }
      offset += bytes;
    }
  if (nonfinite >= 0)
    {
      gsize cols = MAX (tensors[nonfinite_tensor]->cols, 1);
      refuse (error, path, "tensor '%s' holds a value that is not finite at row %" G_GSIZE_FORMAT ", column %"
              G_GSIZE_FORMAT " (a diverged training?)", names[nonfinite_tensor], (gsize) nonfinite / cols,
              (gsize) nonfinite % cols);
    }
  for (guint i = 0; i < n; i++)
    g_free (names[i]);
  if (nonfinite >= 0)
    return NULL;
  if (!ok || offset != (gsize) payload_bytes)
    return refuse (error, path, "its tensors do not match the shapes of its config"), NULL;
  _derl_policy_set_adam_step (policy, (guint64) adam_step);

  if (experiment)
    {
      node = json_object_get_member (header, "experiment");
      *experiment = g_strdup (node && json_node_get_value_type (node) == G_TYPE_STRING
                              ? json_node_get_string (node) : "");
    }
  return g_steal_pointer (&policy);
}
