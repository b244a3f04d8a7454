/* derl - a small pool of threads that split one op of the CPU backend:
 * the caller runs part 0, the workers parts 1 .. n-1, and the call returns
 * when every part is done.  Parts write disjoint outputs and every output
 * element is computed the same way whatever the split, so the results do
 * not depend on the number of threads. */
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
  gint pending;           /* worker parts still running (atomic) */
  gint quit;              /* atomic */
  DerlPoolFunc func;
  gpointer data;
};

typedef struct {
  DerlPool *pool;
  guint part;
} Worker;

static inline void
cpu_relax (void)
{
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause ();
#endif
}

static gpointer
worker_main (gpointer p)
{
  Worker *w = p;
  DerlPool *pool = w->pool;
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
      pool->func (pool->data, w->part, pool->n_threads);
      g_atomic_int_dec_and_test (&pool->pending);
    }
  g_free (w);
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
    {
      Worker *w = g_new (Worker, 1);
      w->pool = pool;
      w->part = i;
      pool->workers[i] = g_thread_new ("derl-cpu", worker_main, w);
    }
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
_derl_pool_run (DerlPool *pool, DerlPoolFunc func, gpointer data)
{
  if (!pool || pool->n_threads == 1 || !g_atomic_int_compare_and_exchange (&pool->busy, 0, 1))
    {
      /* No pool, or another thread is using it: every part here. */
      guint n = pool ? pool->n_threads : 1;
      for (guint part = 0; part < n; part++)
        func (data, part, n);
      return;
    }
  pool->func = func;
  pool->data = data;
  g_atomic_int_set (&pool->pending, (gint) pool->n_threads - 1);
  g_atomic_int_inc ((gint *) &pool->generation);
  g_mutex_lock (&pool->lock);
  if (pool->n_sleeping)
    g_cond_broadcast (&pool->wake);
  g_mutex_unlock (&pool->lock);
  func (data, 0, pool->n_threads);
  while (g_atomic_int_get (&pool->pending) > 0)
    cpu_relax ();
  g_atomic_int_set (&pool->busy, 0);
}
