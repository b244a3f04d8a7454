/* derl - error domains. */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/**
 * DERL_PLUGIN_ERROR:
 * Errors from loading a plugin or registering its features.
 */
#define DERL_PLUGIN_ERROR (derl_plugin_error_quark ())
GQuark derl_plugin_error_quark (void);

typedef enum {
  DERL_PLUGIN_ERROR_OPEN,          /* dlopen failed (the message carries dlerror) */
  DERL_PLUGIN_ERROR_NO_ENTRY,      /* derl_plugin_get_desc is not exported */
  DERL_PLUGIN_ERROR_ABI_MISMATCH,  /* built for another DERL_PLUGIN_ABI_VERSION */
  DERL_PLUGIN_ERROR_API_TOO_NEW,   /* built against a newer API minor (or other major) */
  DERL_PLUGIN_ERROR_INVALID,       /* malformed descriptor, feature or parameter spec */
  DERL_PLUGIN_ERROR_INIT_FAILED,   /* the plugin's init returned FALSE */
  DERL_PLUGIN_ERROR_DUPLICATE,     /* a plugin or feature of that name was already loaded */
} DerlPluginError;

/**
 * DERL_EXPERIMENT_ERROR:
 * Errors in an experiment file, a --set override or a parameter value.
 */
#define DERL_EXPERIMENT_ERROR (derl_experiment_error_quark ())
GQuark derl_experiment_error_quark (void);

typedef enum {
  DERL_EXPERIMENT_ERROR_READ,          /* the file cannot be read, is too large or not text */
  DERL_EXPERIMENT_ERROR_PARSE,         /* not a valid key file */
  DERL_EXPERIMENT_ERROR_UNKNOWN_GROUP,
  DERL_EXPERIMENT_ERROR_UNKNOWN_KEY,
  DERL_EXPERIMENT_ERROR_INVALID_VALUE, /* wrong type, out of range, not one of the choices */
  DERL_EXPERIMENT_ERROR_MISSING_KEY,
  DERL_EXPERIMENT_ERROR_UNKNOWN_FEATURE, /* names a plugin feature that is not there */
  DERL_EXPERIMENT_ERROR_MULTIPLE,      /* several of the above; the message lists each */
} DerlExperimentError;

/**
 * DERL_RUN_ERROR:
 * Run-time failures: the run directory cannot be written, a plugin failed.
 * %DERL_RUN_ERROR_ENV_CONTRACT is bad input found at run time (the env
 * plugin is at fault; derl-run exits with status 2); %DERL_RUN_ERROR_DIVERGED
 * is a training whose loss or gradient stopped being finite (status 1).
 */
#define DERL_RUN_ERROR (derl_run_error_quark ())
GQuark derl_run_error_quark (void);

typedef enum {
  DERL_RUN_ERROR_IO,
  DERL_RUN_ERROR_EXISTS,   /* the output directory already holds a run */
  DERL_RUN_ERROR_FAILED,
  DERL_RUN_ERROR_CANCELLED, /* stopped on request (SIGINT, say) */
  DERL_RUN_ERROR_ENV_CONTRACT, /* an env broke the step contract (env.h), or ran past max_steps */
  DERL_RUN_ERROR_DIVERGED,  /* a training's loss or gradient norm is not finite */
  DERL_RUN_ERROR_BAD_FILE,  /* a file to read (a checkpoint, cold-start formulas, a run directory's
                             * files) is missing, unreadable, too large or not what derl writes:
                             * bad input, found when it is read */
} DerlRunError;

G_END_DECLS
