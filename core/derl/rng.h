/* derl - counter-based random number streams. */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/**
 * DerlRng:
 *
 * A random stream on Philox4x32-10 (Salmon et al., "Parallel random numbers:
 * as easy as 1, 2, 3", SC 2011).  A stream is keyed by the run's seed (the
 * 64-bit Philox key) and by up to four stream ids (hashed into the upper 64
 * bits of the 128-bit counter); the lower 64 bits count blocks of four 32-bit
 * outputs.  The n-th number of a stream therefore depends on (seed, ids, n)
 * alone: not on the thread, the machine or on other streams, which is what
 * makes runs identical on any number of threads.
 *
 * The struct is public so that it can live on the stack or inside other
 * structs; treat its fields as private.
 */
typedef struct {
  guint32 key[2];
  guint32 counter[4];
  guint32 block[4];
  guint   used;
} DerlRng;

/**
 * DERL_RNG_STREAM_*:
 * First stream id of the streams the core derives, so that different
 * purposes never share a stream.  Plugins that need streams of their own use
 * ids from DERL_RNG_STREAM_PLUGIN upward.
 */
enum {
  DERL_RNG_STREAM_EPISODE = 1,   /* evaluations: (0, 0, episode) */
  DERL_RNG_STREAM_INIT = 2,      /* parameter initialisation: (net, layer) */
  DERL_RNG_STREAM_OUTER = 3,     /* the outer loop */
  DERL_RNG_STREAM_RESET = 4,     /* training resets: (env, episode) or (update, group) */
  DERL_RNG_STREAM_ACTION = 5,    /* training actions: (env) or (update, episode) */
  DERL_RNG_STREAM_UPDATE = 6,    /* an update's minibatch shuffles: (update) */
  DERL_RNG_STREAM_PLUGIN = 1024,
};

/**
 * derl_rng_init:
 * @rng: the stream to set up
 * @seed: the run's seed
 * @a: @b: @c: @d: stream ids, e.g. (purpose, outer step, candidate, episode)
 *
 * Sets @rng to the start of the stream keyed by (@seed, @a, @b, @c, @d).
 * Equal keys give equal sequences; any key differing gives a statistically
 * independent sequence.
 */
void derl_rng_init (DerlRng *rng, guint64 seed, guint64 a, guint64 b, guint64 c, guint64 d);

/**
 * derl_rng_refill:
 * Computes the stream's next block of four outputs (called by
 * derl_rng_next_u32() when the current block is used up).
 */
void derl_rng_refill (DerlRng *rng);

/**
 * derl_rng_next_u32:
 * Returns the next 32 random bits of the stream.  Inline: the common case
 * reads the current block.
 */
static inline guint32
derl_rng_next_u32 (DerlRng *rng)
{
  if (G_UNLIKELY (rng->used == 4))
    derl_rng_refill (rng);
  return rng->block[rng->used++];
}

/**
 * derl_rng_next_u64:
 * Returns the next 64 random bits of the stream (two 32-bit outputs).
 */
guint64 derl_rng_next_u64 (DerlRng *rng);

/**
 * derl_rng_uniform:
 * Returns a double uniform in [0, 1) with 53 random bits.
 */
double derl_rng_uniform (DerlRng *rng);

/**
 * derl_rng_uniform_range:
 * Returns a double uniform in [@lo, @hi).
 */
double derl_rng_uniform_range (DerlRng *rng, double lo, double hi);

/**
 * derl_rng_below:
 * @n: the bound, > 0 (0 returns 0)
 *
 * Returns an integer uniform in [0, @n), without modulo bias (Lemire's
 * multiply-and-reject).  Inline.
 */
static inline guint32
derl_rng_below (DerlRng *rng, guint32 n)
{
  if (G_UNLIKELY (n == 0))
    return 0; /* a programming error; no draw */
  guint64 m = (guint64) derl_rng_next_u32 (rng) * n;
  guint32 low = (guint32) m;
  if (G_UNLIKELY (low < n))
    {
      guint32 threshold = (guint32) (-n) % n;
      while (low < threshold)
        {
          m = (guint64) derl_rng_next_u32 (rng) * n;
          low = (guint32) m;
        }
    }
  return (guint32) (m >> 32);
}

/**
 * derl_rng_normal:
 * Returns a standard normal deviate (Box-Muller; uses two uniforms).
 */
double derl_rng_normal (DerlRng *rng);

/**
 * derl_philox4x32_10:
 * @counter: (array fixed-size=4): the 128-bit counter
 * @key: (array fixed-size=2): the 64-bit key
 * @out: (array fixed-size=4): the four 32-bit outputs
 *
 * The raw Philox4x32-10 bijection, exposed for known-answer tests.
 */
void derl_philox4x32_10 (const guint32 counter[4], const guint32 key[2], guint32 out[4]);

G_END_DECLS
