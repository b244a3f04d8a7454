/* Shared helpers of the Check suites. */
#pragma once

#include <stdlib.h>
#include <check.h>
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
