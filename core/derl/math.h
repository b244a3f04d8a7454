/* derl - elementary functions that give the same bits on every machine. */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/**
 * derl_math_exp:
 * @x: any double
 *
 * Returns e^@x to within 2 units in the last place, with the same bits on
 * every x86-64 CPU and instruction set: derl's own code made of IEEE
 * additions, multiplications and exact scalings, never a libm whose
 * variants round differently (glibc picks an FMA version of exp() on CPUs
 * that have FMA).  Overflows to +inf above 709.78, underflows to 0 below
 * -745.13; NaN gives NaN.  Use it wherever a result feeds numbers a run
 * reports, such as the ratios and KL terms of an optimizer's loss.
 */
double derl_math_exp (double x);

/**
 * derl_math_log:
 * @x: any double
 *
 * Returns the natural logarithm of @x to within 2 units in the last place,
 * with the same bits everywhere, as derl_math_exp(): -inf at 0, NaN below
 * 0 and for NaN, +inf at +inf.
 */
double derl_math_log (double x);

/**
 * derl_math_cos_turns:
 * @t: an angle in turns (1 turn = 2 pi radians), finite
 *
 * Returns cos (2 pi @t) to within 2 units in the last place, with the same
 * bits everywhere: the reduction to an eighth of a turn is exact, so large
 * or tiny @t lose nothing to the reduction.  NaN for a non-finite @t.
 */
double derl_math_cos_turns (double t);

G_END_DECLS
