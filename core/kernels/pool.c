/* derl - a small pool of threads that split one op of the CPU backend:
 * the op is cut into parts, the caller and the workers take the next part
 * until none is left (whoever is free first takes it, so a thread slowed
 * by its caches does not hold the others up), and the call returns when
 * every part is done.  Parts write disjoint outputs and every output
 * element is computed the same way whatever the split, so the results do
 * not depend on the number of threads nor on who ran which part. */
#include "config.h"

#include "pool.h"

/* How long an idle worker spins before it sleeps: ops of one minibatch
 * follow each other within microseconds. */
#define SPIN_ROUNDS 20000

struct _DerlPool {
  guint n_threads;
  GThread **workers;
  GMutex lock;
  GCond wake;
  guint n_sleeping;       /* under lock */
  gint busy;              /* a caller owns the pool (atomic) */
  guint generation;       /* bumped per job (atomic) */
  gint pending;           /* workers still in the job (atomic) */
  gint next_part;         /* the next part to take (atomic) */
  guint n_parts;
  gint quit;              /* atomic */
  DerlPoolFunc func;
  gpointer data;
};


static inline void
cpu_relax (void)
{
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause ();
#endif
}

/* Takes parts until none is left. */
static void
run_parts (DerlPool *pool)
{
  guint part;

  while ((part = (guint) g_atomic_int_add (&pool->next_part, 1)) < pool->n_parts)
    pool->func (pool->data, part, pool->n_parts);
}

static gpointer
worker_main (gpointer p)
{
  DerlPool *pool = p;
  guint seen = 0;

  for (;;)
    {
      guint gen;
      for (guint spin = 0; (gen = (guint) g_atomic_int_get (&pool->generation)) == seen
                           && !g_atomic_int_get (&pool->quit) && spin < SPIN_ROUNDS; spin++)
        cpu_relax ();
      if (gen == seen && !g_atomic_int_get (&pool->quit))
        {
          g_mutex_lock (&pool->lock);
          pool->n_sleeping++;
          while ((gen = (guint) g_atomic_int_get (&pool->generation)) == seen && !g_atomic_int_get (&pool->quit))
            g_cond_wait (&pool->wake, &pool->lock);
          pool->n_sleeping--;
          g_mutex_unlock (&pool->lock);
        }
      if (g_atomic_int_get (&pool->quit))
        break;
      seen = gen;
      run_parts (pool);
      g_atomic_int_dec_and_test (&pool->pending);
    }
  return NULL;
}

DerlPool *
_derl_pool_new (guint n_threads)
{
  DerlPool *pool = g_new0 (DerlPool, 1);

  pool->n_threads = MAX (n_threads, 1);
  g_mutex_init (&pool->lock);
  g_cond_init (&pool->wake);
  pool->workers = g_new0 (GThread *, pool->n_threads);
  for (guint i = 1; i < pool->n_threads; i++)
    pool->workers[i] = g_thread_new ("derl-cpu", worker_main, pool);
  return pool;
}

void
_derl_pool_free (DerlPool *pool)
{
  if (!pool)
    return;
  g_atomic_int_set (&pool->quit, 1);
  g_mutex_lock (&pool->lock);
  g_cond_broadcast (&pool->wake);
  g_mutex_unlock (&pool->lock);
  for (guint i = 1; i < pool->n_threads; i++)
    g_thread_join (pool->workers[i]);
  g_free (pool->workers);
  g_mutex_clear (&pool->lock);
  g_cond_clear (&pool->wake);
  g_free (pool);
}

guint
_derl_pool_get_n_threads (const DerlPool *pool)
{
  return pool ? pool->n_threads : 1;
}

void
_derl_pool_run (DerlPool *pool, DerlPoolFunc func, gpointer data, guint n_parts)
{
  if (!pool || pool->n_threads == 1 || n_parts < 2 || !g_atomic_int_compare_and_exchange (&pool->busy, 0, 1))
    {
      /* No pool, or another thread is using it: every part here. */
      for (guint part = 0; part < n_parts; part++)
        func (data, part, n_parts);
      return;
    }
  pool->func = func;
  pool->data = data;
  pool->n_parts = n_parts;
  g_atomic_int_set (&pool->next_part, 0);
  g_atomic_int_set (&pool->pending, (gint) pool->n_threads - 1);
  g_atomic_int_inc ((gint *) &pool->generation);
  g_mutex_lock (&pool->lock);
  if (pool->n_sleeping)
    g_cond_broadcast (&pool->wake);
  g_mutex_unlock (&pool->lock);
  run_parts (pool);
  /* The workers are finishing their last parts: spin, then give the core
   * away in case a worker waits for it (more threads than cores). */
  for (guint spin = 0; g_atomic_int_get (&pool->pending) > 0; spin++)
    if (spin < SPIN_ROUNDS)
      cpu_relax ();
    else
      g_thread_yield ();
  g_atomic_int_set (&pool->busy, 0);
}
