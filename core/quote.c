/* derl - user text quoted in messages: short, and every byte visible. */
#include "config.h"

#include <string.h>
#include "derl-private.h"

char *
_derl_quote (const char *text, gssize length)
{
  GString *out = g_string_new (NULL);
  gsize n = length < 0 ? strlen (text) : (gsize) length;
  const char *p = text, *end = text + n;

  while (p < end)
    {
      gsize before = out->len;
      guchar c = (guchar) *p;
      gunichar u = c < 0x80 ? c : g_utf8_get_char_validated (p, end - p);

      if (c == '\\')
        g_string_append (out, "\\\\");
      else if (c == '\n')
        g_string_append (out, "\\n");
      else if (c == '\t')
        g_string_append (out, "\\t");
      else if (c == '\r')
        g_string_append (out, "\\r");
      else if (c < 0x20 || c == 0x7f)
        g_string_append_printf (out, "\\x%02x", c);
      else if (c < 0x80)
        g_string_append_c (out, (char) c);
      else if (u == (gunichar) -1 || u == (gunichar) -2)
        {
          /* not UTF-8: the byte, escaped */
          g_string_append_printf (out, "\\x%02x", c);
          p++;
          goto next;
        }
      else if (!g_unichar_isprint (u) || u == 0xfeff || g_unichar_type (u) == G_UNICODE_FORMAT)
        g_string_append_printf (out, "\\u%04x", u);
      else
        g_string_append_len (out, p, g_utf8_next_char (p) - p);
      p = c < 0x80 ? p + 1 : g_utf8_next_char (p);
    next:
      if (g_utf8_strlen (out->str, -1) > DERL_QUOTE_MAX && p < end)
        {
          g_string_truncate (out, before);
          g_string_append (out, "...");
          break;
        }
    }
  return g_string_free (out, FALSE);
}
