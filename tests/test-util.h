/* Shared helpers of the Check suites. */
#pragma once

#include <stdlib.h>
#include <string.h>
#include <check.h>
#include <glib/gstdio.h>
#include <derl/derl.h>

/* A registry holding the fixture plugins (broken ones included) and the
 * build tree's cartpole. */
static inline DerlRegistry *
derl_test_registry (void)
{
  DerlRegistry *r = derl_registry_new ();
  derl_registry_add_path (r, DERL_TEST_FIXTURE_DIR);
  derl_registry_add_path (r, DERL_TEST_PLUGIN_DIR "/envs/cartpole");
  derl_registry_scan (r);
  return r;
}

/* The test registry and the build tree's backend plugins (the cudnn one,
 * where configure built it), for the suites that run every backend. */
static inline DerlRegistry *
derl_test_registry_with_backends (void)
{
  DerlRegistry *r = derl_test_registry ();
  derl_registry_add_path (r, DERL_TEST_PLUGIN_DIR "/backends/cudnn");
  derl_registry_scan (r);
  return r;
}

/* derl_test_registry() and the build tree's household env, both
 * optimizers and both primitive plugins: what reward and bilevel tests use. */
static inline DerlRegistry *
derl_test_registry_rewards (void)
{
  DerlRegistry *r = derl_test_registry ();
  derl_registry_add_path (r, DERL_TEST_PLUGIN_DIR "/envs/household");
  derl_registry_add_path (r, DERL_TEST_PLUGIN_DIR "/optimizers/grpo");
  derl_registry_add_path (r, DERL_TEST_PLUGIN_DIR "/optimizers/ppo");
  derl_registry_add_path (r, DERL_TEST_PLUGIN_DIR "/primitives/agentic");
  derl_registry_add_path (r, DERL_TEST_PLUGIN_DIR "/primitives/math");
  derl_registry_scan (r);
  return r;
}

/* Loads experiment text that must be valid, with @short_run (NULL-terminated
 * overrides) applied when DERL_TEST_SHORT is set (`make check-valgrind`). */
static inline DerlExperiment *
derl_test_experiment_short (DerlRegistry *registry, const char *text, const char *const *short_run)
{
  GError *error = NULL;
  DerlExperiment *e = derl_experiment_load_data (registry, text, strlen (text), "t.ini",
                                                 g_getenv ("DERL_TEST_SHORT") ? short_run : NULL, &error);
  ck_assert_msg (e != NULL, "%s", error ? error->message : "");
  return e;
}

/* Loads experiment text that must be valid. */
static inline DerlExperiment *
derl_test_experiment (DerlRegistry *registry, const char *text)
{
  GError *error = NULL;
  DerlExperiment *e = derl_experiment_load_data (registry, text, strlen (text), "t.ini", NULL, &error);
  ck_assert_msg (e != NULL, "%s", error ? error->message : "");
  return e;
}

/* Removes a scratch directory made with g_dir_make_tmp() and the files in
 * it, and frees its name. */
static inline void
derl_test_remove_dir (char *dir)
{
  GDir *d = g_dir_open (dir, 0, NULL);
  const char *name;
  while (d && (name = g_dir_read_name (d)))
    {
      char *path = g_build_filename (dir, name, NULL);
      g_unlink (path);
      g_free (path);
    }
  if (d)
    g_dir_close (d);
  g_rmdir (dir);
  g_free (dir);
}

/* main() running one suite; the exit status says whether every test passed. */
#define DERL_TEST_MAIN(suite_func)                               \
  int main (void)                                                \
  {                                                              \
    SRunner *sr = srunner_create (suite_func ());                \
    srunner_run_all (sr, CK_NORMAL);                             \
    int failed = srunner_ntests_failed (sr);                     \
    srunner_free (sr);                                           \
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;                 \
  }
