/* derl - "did you mean" suggestions by edit distance. */
#include "config.h"

#include <string.h>
#include "derl-private.h"

guint
derl_edit_distance (const char *a, const char *b)
{
  gsize la = strlen (a), lb = strlen (b);
  g_autofree guint *row = g_new (guint, lb + 1);

  for (gsize j = 0; j <= lb; j++)
    row[j] = (guint) j;
  for (gsize i = 1; i <= la; i++)
    {
      guint diag = row[0];
      row[0] = (guint) i;
      for (gsize j = 1; j <= lb; j++)
        {
          guint up = row[j];
          guint cost = (a[i - 1] == b[j - 1]) ? 0 : 1;
          guint best = MIN (row[j] + 1, row[j - 1] + 1);
          row[j] = MIN (best, diag + cost);
          diag = up;
        }
    }
  return row[lb];
}

const char *
derl_suggest_closest (const char *name, const char *const *candidates, gsize n_candidates)
{
  const char *best = NULL;
  guint best_distance = G_MAXUINT;
  guint limit = MAX (1, (guint) strlen (name) / 3);

  for (gsize i = 0; i < n_candidates; i++)
    {
      guint d = derl_edit_distance (name, candidates[i]);
      if (d < best_distance)
        {
          best_distance = d;
          best = candidates[i];
        }
    }
  return best_distance <= limit ? best : NULL;
}
