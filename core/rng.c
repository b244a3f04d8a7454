/* derl - counter-based random streams on Philox4x32-10. */
#include "config.h"

#include <math.h>
#include <derl/math.h>
#include <derl/rng.h>

#define PHILOX_M0 0xD2511F53u
#define PHILOX_M1 0xCD9E8D57u
#define PHILOX_W0 0x9E3779B9u
#define PHILOX_W1 0xBB67AE85u

static inline void
mulhilo (guint32 a, guint32 b, guint32 *hi, guint32 *lo)
{
  guint64 p = (guint64) a * b;
  *hi = (guint32) (p >> 32);
  *lo = (guint32) p;
}

void
derl_philox4x32_10 (const guint32 counter[4], const guint32 key[2], guint32 out[4])
{
  guint32 c0 = counter[0], c1 = counter[1], c2 = counter[2], c3 = counter[3];
  guint32 k0 = key[0], k1 = key[1];

  for (int round = 0; round < 10; round++)
    {
      guint32 hi0, lo0, hi1, lo1;
      if (round > 0)
        {
          k0 += PHILOX_W0;
          k1 += PHILOX_W1;
        }
      mulhilo (PHILOX_M0, c0, &hi0, &lo0);
      mulhilo (PHILOX_M1, c2, &hi1, &lo1);
      c0 = hi1 ^ c1 ^ k0;
      c1 = lo1;
      c2 = hi0 ^ c3 ^ k1;
      c3 = lo0;
    }
  out[0] = c0;
  out[1] = c1;
  out[2] = c2;
  out[3] = c3;
}

/* SplitMix64's finaliser: a bijective 64-bit mix used to fold stream ids. */
static guint64
mix64 (guint64 z)
{
  z = (z ^ (z >> 30)) * G_GUINT64_CONSTANT (0xBF58476D1CE4E5B9);
  z = (z ^ (z >> 27)) * G_GUINT64_CONSTANT (0x94D049BB133111EB);
  return z ^ (z >> 31);
}

void
derl_rng_init (DerlRng *rng, guint64 seed, guint64 a, guint64 b, guint64 c, guint64 d)
{
  const guint64 ids[4] = { a, b, c, d };
  guint64 h = G_GUINT64_CONSTANT (0x6A09E667F3BCC909);

  g_return_if_fail (rng != NULL);

  for (int i = 0; i < 4; i++)
    h = mix64 (h ^ (ids[i] + G_GUINT64_CONSTANT (0x9E3779B97F4A7C15) * (guint64) (i + 1)));

  rng->key[0] = (guint32) seed;
  rng->key[1] = (guint32) (seed >> 32);
  rng->counter[0] = 0;
  rng->counter[1] = 0;
  rng->counter[2] = (guint32) h;
  rng->counter[3] = (guint32) (h >> 32);
  rng->used = 4;
}

void
derl_rng_refill (DerlRng *rng)
{
  derl_philox4x32_10 (rng->counter, rng->key, rng->block);
  if (++rng->counter[0] == 0)
    rng->counter[1]++;
  rng->used = 0;
}

guint64
derl_rng_next_u64 (DerlRng *rng)
{
  guint64 hi = derl_rng_next_u32 (rng);
  return (hi << 32) | derl_rng_next_u32 (rng);
}

double
derl_rng_uniform (DerlRng *rng)
{
  return (double) (derl_rng_next_u64 (rng) >> 11) * 0x1.0p-53;
}

double
derl_rng_uniform_range (DerlRng *rng, double lo, double hi)
{
  return lo + (hi - lo) * derl_rng_uniform (rng);
}

double
derl_rng_normal (DerlRng *rng)
{
  double u1 = 1.0 - derl_rng_uniform (rng); /* (0, 1]: log is finite */
  double u2 = derl_rng_uniform (rng);
  return sqrt (-2.0 * derl_math_log (u1)) * derl_math_cos_turns (u2);
}
