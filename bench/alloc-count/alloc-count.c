/* bench/alloc-count: counts the heap allocations of a program (malloc,
 * calloc, realloc, posix_memalign, aligned_alloc), preloaded into it.
 *
 *   bench/alloc-count/run.sh [EXPERIMENT.ini]
 *
 * runs derl-run on an experiment at two training budgets and prints the
 * allocations per update between them: derl allocates when a run starts
 * and per logged event, never per environment step or per minibatch. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>

static atomic_long count;

#define WRAP(ret, name, params, args)                                   \
  ret name params                                                       \
  {                                                                     \
    static ret (*real) params;                                          \
    if (!real)                                                          \
      real = (ret (*) params) dlsym (RTLD_NEXT, #name);                 \
    atomic_fetch_add (&count, 1);                                       \
    return real args;                                                   \
  }

WRAP (void *, malloc, (size_t n), (n))
WRAP (void *, realloc, (void *p, size_t n), (p, n))
WRAP (int, posix_memalign, (void **p, size_t a, size_t n), (p, a, n))
WRAP (void *, aligned_alloc, (size_t a, size_t n), (a, n))

/* calloc is called by dlsym itself: a small static arena serves the calls
 * made before the real one is known. */
void *
calloc (size_t n, size_t size)
{
  static void *(*real) (size_t, size_t);
  static char arena[4096];
  static size_t used;
  static int resolving;

  atomic_fetch_add (&count, 1);
  if (!real)
    {
      if (resolving)
        {
          size_t bytes = (n * size + 15) & ~(size_t) 15;
          void *p = arena + used;
          if (used + bytes > sizeof arena)
            return NULL;
          used += bytes;
          return p; /* zeroed: static storage */
        }
      resolving = 1;
      real = (void *(*) (size_t, size_t)) dlsym (RTLD_NEXT, "calloc");
      resolving = 0;
    }
  return real (n, size);
}

__attribute__ ((destructor)) static void
report (void)
{
  const char *path = getenv ("ALLOC_COUNT_FILE");
  FILE *f = path ? fopen (path, "w") : NULL;
  fprintf (f ? f : stderr, "%ld\n", (long) atomic_load (&count));
  if (f)
    fclose (f);
}
