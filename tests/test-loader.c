/* Tests of the plugin loader and registry (core/plugin.c, core/registry.c),
 * with fixture plugins that are broken on purpose. */
#include "config.h"

#include <stdlib.h>
#include <string.h>
#include <glib/gstdio.h>
#include <check.h>
#include <derl/derl.h>
#include "test-util.h"

static DerlRegistry *
fixture_registry (void)
{
  return derl_test_registry ();
}

static const DerlPlugin *
plugin_named (const DerlRegistry *r, const char *file_base)
{
  for (guint i = 0; i < derl_registry_get_n_plugins (r); i++)
    {
      const DerlPlugin *p = derl_registry_get_plugin (r, i);
      char *base = g_path_get_basename (derl_plugin_get_path (p));
      gboolean match = strcmp (base, file_base) == 0;
      g_free (base);
      if (match)
        return p;
    }
  return NULL;
}

static void
assert_unavailable (const DerlRegistry *r, const char *file, int code, const char *needle)
{
  const DerlPlugin *p = plugin_named (r, file);
  ck_assert_msg (p != NULL, "%s not listed", file);
  ck_assert_msg (!derl_plugin_is_available (p), "%s is available", file);
  const GError *e = derl_plugin_get_error (p);
  ck_assert (g_error_matches (e, DERL_PLUGIN_ERROR, code));
  ck_assert_msg (strstr (e->message, needle), "%s: '%s' not in: %s", file, needle, e->message);
}

START_TEST (test_each_broken_plugin_has_its_error)
{
  DerlRegistry *r = fixture_registry ();

  assert_unavailable (r, "noentry.so", DERL_PLUGIN_ERROR_NO_ENTRY, "does not export derl_plugin_get_desc()");
  assert_unavailable (r, "abi.so", DERL_PLUGIN_ERROR_ABI_MISMATCH, "built for plugin ABI 42, but this derl uses ABI 1");
  assert_unavailable (r, "apinew.so", DERL_PLUGIN_ERROR_API_TOO_NEW, "built against derl API 1.2, but this derl provides API 1.1");
  assert_unavailable (r, "initfail.so", DERL_PLUGIN_ERROR_INIT_FAILED,
                      "plugin 'fixture-initfail' failed to initialise: fixture device /dev/derl-fixture not found");
  assert_unavailable (r, "unresolved.so", DERL_PLUGIN_ERROR_OPEN, "undefined symbol: derl_fixture_missing_function");
  assert_unavailable (r, "badspec.so", DERL_PLUGIN_ERROR_INIT_FAILED,
                      "parameter 'depth': bad default: 12 is out of range");
  assert_unavailable (r, "shadowenv.so", DERL_PLUGIN_ERROR_INIT_FAILED, "env 'fixture-env' is already provided by");

  /* The good plugins load regardless. */
  const DerlPlugin *good = plugin_named (r, "good.so");
  ck_assert (derl_plugin_is_available (good));
  ck_assert_ptr_null (derl_plugin_get_error (good));
  ck_assert_str_eq (derl_plugin_get_name (good), "fixture-good");
  ck_assert_str_eq (derl_plugin_get_version (good), "0.0.1");
  ck_assert (derl_plugin_is_available (plugin_named (r, "cartpole.so")));

  /* Exactly the good plugins' features are listed (cpu, fixture-env,
   * cartpole and the faulty env of the contract tests): nothing from a
   * plugin whose init failed after registering. */
  ck_assert_uint_eq (derl_registry_get_n_features (r), 4);
  ck_assert_ptr_nonnull (derl_registry_find (r, DERL_FEATURE_ENV, "faulty"));
  ck_assert_ptr_nonnull (derl_registry_find (r, DERL_FEATURE_BACKEND, "cpu"));
  const DerlFeature *env = derl_registry_find (r, DERL_FEATURE_ENV, "fixture-env");
  ck_assert_ptr_nonnull (env);
  ck_assert_ptr_eq (derl_feature_get_plugin (env), good);
  ck_assert_ptr_nonnull (derl_feature_get_env_vtable (env));
  ck_assert_ptr_null (derl_registry_find_any (r, "fixture-ghost"));
  ck_assert_ptr_nonnull (derl_registry_find (r, DERL_FEATURE_ENV, "cartpole"));
  ck_assert_ptr_null (derl_registry_find (r, DERL_FEATURE_OPTIMIZER, "cartpole"));
  derl_registry_free (r);
}
END_TEST

START_TEST (test_file_that_is_not_a_library)
{
  char *dir = g_dir_make_tmp ("derl-test-XXXXXX", NULL);
  char *path = g_build_filename (dir, "garbage.so", NULL);
  GError *error = NULL;
  DerlRegistry *r = derl_registry_new ();

  ck_assert (g_file_set_contents (path, "this is not an ELF file\n", -1, NULL));
  ck_assert (!derl_registry_load_file (r, path, &error));
  ck_assert (g_error_matches (error, DERL_PLUGIN_ERROR, DERL_PLUGIN_ERROR_OPEN));
  ck_assert_msg (strstr (error->message, "cannot open plugin") && strstr (error->message, "garbage.so"),
                 "%s", error->message);
  ck_assert_uint_eq (derl_registry_get_n_plugins (r), 2); /* the built-in "core", then it */
  ck_assert_str_eq (derl_plugin_get_name (derl_registry_get_plugin (r, 0)), "core");
  ck_assert_str_eq (derl_plugin_get_name (derl_registry_get_plugin (r, 1)), "garbage");
  g_error_free (error);
  derl_registry_free (r);
  g_unlink (path);
  g_rmdir (dir);
  g_free (path);
  g_free (dir);
}
END_TEST

/* The first plugin of a name in the search path wins; a later copy is
 * listed as shadowed. */
START_TEST (test_first_in_path_wins)
{
  char *dir = g_dir_make_tmp ("derl-test-XXXXXX", NULL);
  char *copy = g_build_filename (dir, "good.so", NULL);
  char *contents = NULL;
  gsize length;
  DerlRegistry *r = derl_registry_new ();

  ck_assert (g_file_get_contents (DERL_TEST_FIXTURE_DIR "/.libs/good.so", &contents, &length, NULL));
  ck_assert (g_file_set_contents (copy, contents, (gssize) length, NULL));
  derl_registry_add_path (r, dir);
  derl_registry_add_path (r, DERL_TEST_FIXTURE_DIR);
  derl_registry_scan (r);

  const DerlFeature *env = derl_registry_find (r, DERL_FEATURE_ENV, "fixture-env");
  ck_assert_ptr_nonnull (env);
  ck_assert_str_eq (derl_plugin_get_path (derl_feature_get_plugin (env)), copy);
  const DerlPlugin *later = NULL;
  for (guint i = 0; i < derl_registry_get_n_plugins (r); i++)
    if (g_str_has_suffix (derl_plugin_get_path (derl_registry_get_plugin (r, i)), ".libs/good.so"))
      later = derl_registry_get_plugin (r, i);
  ck_assert_ptr_nonnull (later);
  ck_assert (!derl_plugin_is_available (later));
  ck_assert (g_error_matches (derl_plugin_get_error (later), DERL_PLUGIN_ERROR, DERL_PLUGIN_ERROR_DUPLICATE));
  ck_assert (strstr (derl_plugin_get_error (later)->message, "shadowed by"));

  derl_registry_free (r);
  g_unlink (copy);
  g_rmdir (dir);
  g_free (copy);
  g_free (contents);
  g_free (dir);
}
END_TEST

START_TEST (test_search_path_order)
{
  DerlRegistry *r;
  const char *const *path;

  g_setenv (DERL_PLUGIN_PATH_ENV, "/env/one:/env/two", TRUE);
  g_setenv (DERL_PLUGIN_SYSTEM_PATH_ENV, "/system", TRUE);
  r = derl_registry_new ();
  derl_registry_add_default_paths (r, "/cli/a::/cli/b");
  path = derl_registry_get_search_path (r);
  const char *expected[] = { "/cli/a", "/cli/b", "/env/one", "/env/two", "/system", NULL };
  for (guint i = 0; i < G_N_ELEMENTS (expected); i++)
    ck_assert_pstr_eq (path[i], expected[i]);
  derl_registry_free (r);

  /* Without DERL_PLUGIN_SYSTEM_PATH, a library running from its build tree
   * searches the build tree's plugins (where the system directory would be). */
  g_unsetenv (DERL_PLUGIN_SYSTEM_PATH_ENV);
  g_unsetenv (DERL_PLUGIN_PATH_ENV);
  r = derl_registry_new ();
  derl_registry_add_default_paths (r, NULL);
  path = derl_registry_get_search_path (r);
  ck_assert_ptr_nonnull (path[0]);
  ck_assert_ptr_null (path[1]);
  char *real = realpath (DERL_TEST_PLUGIN_DIR, NULL);
  ck_assert_str_eq (path[0], real);
  free (real);
  derl_registry_scan (r);
  ck_assert_ptr_nonnull (derl_registry_find (r, DERL_FEATURE_ENV, "cartpole"));
  derl_registry_free (r);
}
END_TEST

START_TEST (test_suggest)
{
  DerlRegistry *r = fixture_registry ();
  char *s = derl_registry_suggest (r, DERL_FEATURE_ENV, "cartpol");
  ck_assert_str_eq (s, "cartpole");
  g_free (s);
  ck_assert_ptr_null (derl_registry_suggest (r, DERL_FEATURE_ENV, "household"));
  ck_assert_ptr_null (derl_registry_suggest (r, DERL_FEATURE_BACKEND, "cartpole"));
  derl_registry_free (r);
}
END_TEST

START_TEST (test_register_outside_init)
{
  DerlRegistry *r = fixture_registry ();
  const DerlFeature *env = derl_registry_find (r, DERL_FEATURE_ENV, "fixture-env");
  GError *error = NULL;
  DerlPlugin *plugin = (DerlPlugin *) derl_feature_get_plugin (env);
  ck_assert (!derl_plugin_register_env (plugin, "late", "too late", derl_feature_get_env_vtable (env),
                                        derl_feature_get_params (env), &error));
  ck_assert (strstr (error->message, "only be registered from the plugin's init"));
  g_error_free (error);
  derl_registry_free (r);
}
END_TEST

static Suite *
loader_suite (void)
{
  Suite *s = suite_create ("loader");
  TCase *tc = tcase_create ("core");
  tcase_add_test (tc, test_each_broken_plugin_has_its_error);
  tcase_add_test (tc, test_file_that_is_not_a_library);
  tcase_add_test (tc, test_first_in_path_wins);
  tcase_add_test (tc, test_search_path_order);
  tcase_add_test (tc, test_suggest);
  tcase_add_test (tc, test_register_outside_init);
  suite_add_tcase (s, tc);
  return s;
}

DERL_TEST_MAIN (loader_suite)
