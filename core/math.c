/* derl - exp, log and cos made of IEEE basic operations, so that they give
 * the same bits on every CPU (libm's results depend on the variant glibc
 * picks for the CPU).  Built with -ffp-contract=off: no operation is fused
 * behind the code's back. */
#include "config.h"

#include <float.h>
#include <math.h>
#include "derl-private.h"

/* ln 2 split so that n * LN2_HI is exact for |n| < 2^20 (fdlibm's split). */
#define LN2_HI 6.93147180369123816490e-01
#define LN2_LO 1.90821492927058770002e-10
#define INV_LN2 1.44269504088896338700e+00

/* floor (t) for |t| < 2^62, without a call: truncation toward zero (exact
 * for those), one less when that rounded a negative t up. */
static inline double
floor_small (double t)
{
  double f = (double) (gint64) t;
  return f > t ? f - 1.0 : f;
}

double
derl_math_exp (double x)
{
  double n, r, p;

  if (isnan (x))
    return x;
  if (x > 709.782712893384)
    return INFINITY;
  if (x < -745.1332191019412)
    return 0.0;
  /* x = n ln2 + r, |r| <= ln2 / 2 (+ rounding); the reduction is exact up
   * to LN2_LO's product. */
  n = floor_small (x * INV_LN2 + 0.5);
  r = (x - n * LN2_HI) - n * LN2_LO;
  /* Taylor series of e^r to r^13 / 13!: the next term is below 2^-56 of
   * the sum for |r| <= 0.35. */
  p = 1.0 / 6227020800.0;
  p = 1.0 / 479001600.0 + r * p;
  p = 1.0 / 39916800.0 + r * p;
  p = 1.0 / 3628800.0 + r * p;
  p = 1.0 / 362880.0 + r * p;
  p = 1.0 / 40320.0 + r * p;
  p = 1.0 / 5040.0 + r * p;
  p = 1.0 / 720.0 + r * p;
  p = 1.0 / 120.0 + r * p;
  p = 1.0 / 24.0 + r * p;
  p = 1.0 / 6.0 + r * p;
  p = 0.5 + r * p;
  p = 1.0 + r * p;
  p = 1.0 + r * p;
  /* p 2^n: one exact multiplication by a power of two built from its bits
   * while the result is normal; ldexp, also exact, rounds gradually into
   * the subnormals. */
  if (n >= -1020 && n <= 1023)
    {
      union { guint64 bits; double d; } scale = { (guint64) (1023 + (gint64) n) << 52 };
      return p * scale.d;
    }
  return ldexp (p, (int) n);
}

double
derl_math_log (double x)
{
  int e;
  double m, f, s, series;

  if (isnan (x) || x < 0.0)
    return NAN;
  if (x == 0.0)
    return -INFINITY;
  if (isinf (x))
    return x;
  /* x = m 2^e with m in [sqrt(1/2), sqrt(2)): from the bits for normal
   * numbers, with frexp (exact too) for the subnormals. */
  if (x >= DBL_MIN)
    {
      union { double d; guint64 bits; } u = { x };
      e = (int) ((u.bits >> 52) & 0x7ff) - 1022;
      u.bits = (u.bits & ~(G_GUINT64_CONSTANT (0x7ff) << 52)) | (G_GUINT64_CONSTANT (1022) << 52);
      m = u.d;
    }
  else
    m = frexp (x, &e);
  if (m < G_SQRT2 / 2.0)
    {
      m *= 2.0;
      e -= 1;
    }
  /* log m = 2 atanh f, f = (m - 1) / (m + 1), |f| <= 0.1716: the series
   * 2 f (1 + f^2/3 + f^4/5 + ...) to f^22 / 23. */
  f = (m - 1.0) / (m + 1.0);
  s = f * f;
  series = 1.0 / 23.0;
  series = 1.0 / 21.0 + s * series;
  series = 1.0 / 19.0 + s * series;
  series = 1.0 / 17.0 + s * series;
  series = 1.0 / 15.0 + s * series;
  series = 1.0 / 13.0 + s * series;
  series = 1.0 / 11.0 + s * series;
  series = 1.0 / 9.0 + s * series;
  series = 1.0 / 7.0 + s * series;
  series = 1.0 / 5.0 + s * series;
  series = 1.0 / 3.0 + s * series;
  return e * LN2_HI + (2.0 * f + (2.0 * f * s * series + e * LN2_LO));
}

/* cos and sin of |a| <= pi / 4 by their Taylor series (to a^18 and a^19:
 * the next terms are below 2^-60). */
static double
cos_small (double a)
{
  double s = a * a, p = -1.0 / 6402373705728000.0;
  p = 1.0 / 20922789888000.0 + s * p;
  p = -1.0 / 87178291200.0 + s * p;
  p = 1.0 / 479001600.0 + s * p;
  p = -1.0 / 3628800.0 + s * p;
  p = 1.0 / 40320.0 + s * p;
  p = -1.0 / 720.0 + s * p;
  p = 1.0 / 24.0 + s * p;
  p = 0.5 - s * p;
  return 1.0 - s * p;
}

static double
sin_small (double a)
{
  double s = a * a, p = 1.0 / 121645100408832000.0;
  p = -1.0 / 355687428096000.0 + s * p;
  p = 1.0 / 1307674368000.0 + s * p;
  p = -1.0 / 6227020800.0 + s * p;
  p = 1.0 / 39916800.0 + s * p;
  p = -1.0 / 362880.0 + s * p;
  p = 1.0 / 5040.0 + s * p;
  p = -1.0 / 120.0 + s * p;
  p = 1.0 / 6.0 + s * p;
  return a - a * s * p;
}

double
derl_math_cos_turns (double t)
{
  double q, r, a;
  gint64 quadrant;

  if (!isfinite (t))
    return NAN;
  /* The nearest quarter turn q / 4; r = t - q / 4 is exact (Sterbenz's
   * lemma once q != 0) and |r| <= 1/8 turn. */
  t = fmod (t, 1.0);  /* exact */
  q = floor (4.0 * t + 0.5);
  r = t - q * 0.25;
  a = 2.0 * G_PI * r;
  quadrant = ((gint64) q % 4 + 4) % 4;
  switch (quadrant)
    {
    case 0:
      return cos_small (a);
    case 1:
      return -sin_small (a);
    case 2:
      return -cos_small (a);
    default:
      return sin_small (a);
    }
}
