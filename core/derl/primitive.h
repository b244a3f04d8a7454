/* derl - reward primitives: trajectory-level scalars a Meta-Reward formula
 * combines. */
#pragma once

#include <glib.h>
#include <derl/param.h>
#include <derl/plugin.h>

G_BEGIN_DECLS

/**
 * DERL_PRIMITIVE_MAX_SIGNALS:
 * The most per-step signals one primitive reads.
 */
#define DERL_PRIMITIVE_MAX_SIGNALS 8

/**
 * DerlTrajectory:
 * @length: the episode's steps, at least 1
 * @max_steps: the env's max_steps (@length is at most this)
 * @success: the episode ended with its task accomplished
 * @terminated: it ended in a terminal state
 * @truncated: it hit max_steps without terminating
 * @env_return: the sum of the env's own per-step rewards
 * @signals: the per-step signals the primitive asked for, in the order of
 *   its vtable's @signals list: @signals[k][t] is the k-th one's value
 *   after step t (0 <= t < @length)
 *
 * What one finished episode recorded, as a primitive sees it.
 */
typedef struct {
  guint length;
  guint max_steps;
  gboolean success;
  gboolean terminated;
  gboolean truncated;
  double env_return;
  const double *const *signals;
  /*< private >*/
  gpointer _reserved[4];
} DerlTrajectory;

/**
 * DerlPrimitiveVTable:
 * @signals: the names of the env signals the primitive reads, NULL
 *   terminated (at most %DERL_PRIMITIVE_MAX_SIGNALS); NULL or empty for
 *   none.  An experiment that binds the primitive to an env emitting none
 *   of that name is refused when it loads, naming both.
 * @outcome_like: the primitive is an outcome indicator in [0, 1] (like
 *   success): formula validation probes it at 1 rather than near 0 (see
 *   derl_formula_check())
 * @compute: the primitive's value for @trajectory; must be a pure function
 *   of it (no state, no randomness), callable from any thread
 *
 * The functions of a reward primitive feature.
 */
typedef struct {
  const char *const *signals;
  gboolean outcome_like;
  double (*compute) (const DerlTrajectory *trajectory);
  /*< private >*/
  gpointer _reserved[4];
} DerlPrimitiveVTable;

/**
 * derl_plugin_register_primitive:
 * Registers a reward primitive, as derl_plugin_register_env() does an env.
 * @params may be NULL: primitives have no parameters of their own yet.
 * The vtable needs @compute; @signals must name at most
 * %DERL_PRIMITIVE_MAX_SIGNALS valid signal names.
 */
gboolean derl_plugin_register_primitive (DerlPlugin *plugin, const char *name, const char *description,
                                         const DerlPrimitiveVTable *vtable, const DerlParamSpec *params,
                                         GError **error);

G_END_DECLS
