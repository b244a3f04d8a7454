/* derl-inspect --check: an env's or a primitive's contract, run. */
#pragma once

#include <derl/derl.h>

G_BEGIN_DECLS

/* Exit statuses of derl-inspect. */
enum { INSPECT_EXIT_OK = 0, INSPECT_EXIT_NOT_FOUND = 1, INSPECT_EXIT_BAD_INPUT = 2 };

/**
 * inspect_check:
 * @name: the env or primitive to check
 * @sets: (nullable): KEY=VALUE settings of the env's parameters
 * @env_name: (nullable): for a primitive, the env whose trajectories feed it
 *   (NULL: the first env that emits the signals it reads)
 * @episodes: random episodes per split
 *
 * Runs the checks and prints their table (or JSON).  Returns 0 when none
 * failed, 1 when one did, 2 for bad input (an unknown name, a bad --set).
 */
int inspect_check (const DerlRegistry *registry, const char *name, char **sets, const char *env_name,
                   guint episodes, gboolean json);

G_END_DECLS
