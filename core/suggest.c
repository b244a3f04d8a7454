/* derl - "did you mean" suggestions by edit distance. */
#include "config.h"

#include <string.h>
#include "derl-private.h"

/* Optimal string alignment distance: insertions, deletions, substitutions
 * and transpositions of adjacent characters each cost 1. */
guint
_derl_edit_distance (const char *a, const char *b)
{
  gsize la = strlen (a), lb = strlen (b);
  gsize w = lb + 1;
  g_autofree guint *d = g_new (guint, (la + 1) * w);

  for (gsize i = 0; i <= la; i++)
    d[i * w] = (guint) i;
  for (gsize j = 0; j <= lb; j++)
    d[j] = (guint) j;
  for (gsize i = 1; i <= la; i++)
    for (gsize j = 1; j <= lb; j++)
      {
        guint cost = (a[i - 1] == b[j - 1]) ? 0 : 1;
        guint best = MIN (d[(i - 1) * w + j] + 1, d[i * w + j - 1] + 1);
        best = MIN (best, d[(i - 1) * w + j - 1] + cost);
        if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1])
          best = MIN (best, d[(i - 2) * w + j - 2] + 1);
        d[i * w + j] = best;
      }
  return d[la * w + lb];
}

const char *
_derl_suggest_closest (const char *name, const char *const *candidates, gsize n_candidates)
{
  const char *best = NULL;
  guint best_distance = G_MAXUINT;
  guint limit = MAX (1, (guint) strlen (name) / 3);

  for (gsize i = 0; i < n_candidates; i++)
    {
      guint d = _derl_edit_distance (name, candidates[i]);
      if (d < best_distance)
        {
          best_distance = d;
          best = candidates[i];
        }
    }
  return best_distance <= limit ? best : NULL;
}
