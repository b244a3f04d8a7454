/* derl - error domains. */
#include "config.h"

#include <derl/error.h>

G_DEFINE_QUARK (derl-plugin-error-quark, derl_plugin_error)
G_DEFINE_QUARK (derl-experiment-error-quark, derl_experiment_error)
G_DEFINE_QUARK (derl-run-error-quark, derl_run_error)
