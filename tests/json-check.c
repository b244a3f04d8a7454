/* json-check FILE...: exits 0 when every FILE.json is one JSON value and
 * every FILE.jsonl is whole lines of one JSON object each (the tests' check
 * that no file of a run directory is torn); else names the first bad one. */
#include <stdio.h>
#include <string.h>
#include <glib.h>
#include <json-glib/json-glib.h>

static gboolean
parses (const char *text, gssize length, gboolean object)
{
  g_autoptr (JsonParser) parser = json_parser_new ();
  if (!json_parser_load_from_data (parser, text, length, NULL))
    return FALSE;
  JsonNode *root = json_parser_get_root (parser);
  return root && (!object || JSON_NODE_HOLDS_OBJECT (root));
}

int
main (int argc, char **argv)
{
  for (int i = 1; i < argc; i++)
    {
      g_autofree char *text = NULL;
      gsize length = 0;
      if (!g_file_get_contents (argv[i], &text, &length, NULL))
        {
          fprintf (stderr, "%s: cannot read\n", argv[i]);
          return 1;
        }
      if (!g_str_has_suffix (argv[i], ".jsonl"))
        {
          if (!parses (text, (gssize) length, FALSE))
            {
              fprintf (stderr, "%s: not JSON\n", argv[i]);
              return 1;
            }
          continue;
        }
      if (length > 0 && text[length - 1] != '\n')
        {
          fprintf (stderr, "%s: ends in half a line\n", argv[i]);
          return 1;
        }
      guint line = 1;
      for (char *p = text, *nl; *p; p = nl + 1, line++)
        {
          nl = strchr (p, '\n');
          if (!parses (p, nl - p, TRUE))
            {
              fprintf (stderr, "%s:%u: not a JSON object\n", argv[i], line);
              return 1;
            }
        }
    }
  return 0;
}
