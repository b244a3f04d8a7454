/* derl - threads that split one op of the CPU backend (pool.c).  Not
 * installed. */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

typedef struct _DerlPool DerlPool;

/* Runs part @part of @n_parts of a job. */
typedef void (*DerlPoolFunc) (gpointer data, guint part, guint n_parts);

/* A pool of @n_threads threads, the caller's included (1: no workers). */
DerlPool *_derl_pool_new (guint n_threads);
void _derl_pool_free (DerlPool *pool);
/* Its thread count; 1 for NULL. */
guint _derl_pool_get_n_threads (const DerlPool *pool);

/* Runs @func for every part 0 .. @n_parts - 1, each once, on the caller
 * and the workers (whoever is free takes the next part), and returns when
 * all are done.  When another thread is running a job on the pool (or
 * @pool is NULL), the caller runs every part itself, in order. */
void _derl_pool_run (DerlPool *pool, DerlPoolFunc func, gpointer data, guint n_parts);

G_END_DECLS
