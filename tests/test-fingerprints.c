/* Run fingerprints: short runs of derl-run whose metrics.jsonl (timing
 * members removed) and trained parameters must hash to the SHA-256 pinned
 * here,
 * on every kernel path this CPU runs (DERL_CPU) and on one and two
 * threads.  The pins were made on one machine; they must hold on any
 * x86-64 machine, so every machine that runs this suite checks derl's
 * promise that a run is a function of (experiment, seed) alone.
 *
 * A changed pin is a changed result: only a deliberate change to the
 * numerics (a kernel's order of operations, an elementary function, an
 * env's dynamics, an optimizer's loss) may change one, and then README's
 * outputs and bench/README.md's tables change too.  `DERL_PRINT_FINGERPRINTS=1
 * tests/test-fingerprints` prints the current hashes.
 *
 * CartPole follows Gymnasium with libm's sin and cos, the one place where
 * a run's numbers depend on the C library rather than on derl. */
#include "config.h"

#include <stdio.h>
#include <string.h>
#include <check.h>
#include <json-glib/json-glib.h>
#include <derl/derl.h>
#include "test-util.h"

typedef struct {
  const char *name;
  const char *experiment;        /* under data/experiments/ */
  const char *const *sets;       /* --set NAME=VALUE, NULL-terminated */
  const char *metrics_sha256;
  const char *policy_sha256;
} Fingerprint;

/* GRPO on household: 4 groups x 8 episodes per update, 3 updates.  Its
 * summary has no target (household has no target_return): with
 * train.target_return=475 added, the metrics hash to the value pinned
 * before envs gave that default, 78be1de6...ee27. */
static const char *const household_sets[] = {
  "train.total_steps=4000", "optimizer.n_groups=4", "train.eval_episodes=40", "train.eval_interval=2000", NULL
};
/* PPO on CartPole: CleanRL's defaults, 8 updates of 512 steps. */
static const char *const cartpole_sets[] = { "train.total_steps=4096", "train.eval_episodes=5", NULL };
/* DERL: two outer steps of 3 formulas, each trained for 1600 steps; a
 * final stage of 1 x 1 run beside the outcome-only baseline.  The
 * cold-start formulas are named in the source tree (a build tree outside
 * it, as make distcheck's, has no data/ of its own). */
static const char *const derl_sets[] = {
  "meta.outer_steps=2",  "meta.group_size=3",        "meta.final_candidates=1", "meta.final_runs=1",
  "train.total_steps=1600", "optimizer.n_groups=4", "train.eval_episodes=20",  "evaluate.episodes=20",
  "meta.cold_start=" DERL_TEST_SOURCE_DIR "/data/formulas/cold-start.txt", NULL
};

static const Fingerprint fingerprints[] = {
  { "household-grpo", "household-train.ini", household_sets,
    "6fdc5325dcfb4d242d24d6311f084fae411148987b75db324162f9e927def2ec",
    "933f2cc294c774c4b7a8a2404d89c1275a5eb249829e22c636e0a87cd85b9306" },
  { "cartpole-ppo", "cartpole-ppo.ini", cartpole_sets,
    "6718763c7778428121bb135279f63859bb0e29b6d0587aa6fc164fceff41a131",
    "6f66ceaa792245dab98dc81df31f4aa582cc4565f38622e53558fe994a851895" },
  { "household-derl", "quickstart.ini", derl_sets,
    "3daea6a3597245a2588c0e99ae16a47398956771371ea701338b4b0dc09aca4a",
    "8fe9c9dd460e792da26b7b4fc043fa1f8b1c7790272a46d9d77885a9a80c4e1c" },
};

/* Removes the members that measure time, name the machine or name a file
 * (a path differs from checkout to checkout), in every object of the tree. */
static void
strip_node (JsonNode *node)
{
  if (JSON_NODE_HOLDS_OBJECT (node))
    {
      JsonObject *o = json_node_get_object (node);
      g_autoptr (GList) names = json_object_get_members (o);
      for (GList *l = names; l; l = l->next)
        {
          const char *name = l->data;
          if (g_str_has_suffix (name, "seconds") || g_str_has_suffix (name, "per_second")
              || strcmp (name, "cpu_model") == 0 || strcmp (name, "cpu_kernels") == 0
              || strcmp (name, "threads") == 0 || strcmp (name, "file") == 0)
            json_object_remove_member (o, name);
          else
            strip_node (json_object_get_member (o, name));
        }
    }
  else if (JSON_NODE_HOLDS_ARRAY (node))
    {
      JsonArray *a = json_node_get_array (node);
      for (guint i = 0; i < json_array_get_length (a); i++)
        strip_node (json_array_get_element (a, i));
    }
}

/* SHA-256 of metrics.jsonl with every line stripped and printed again. */
static char *
metrics_hash (const char *path)
{
  g_autofree char *text = NULL;
  g_autoptr (GChecksum) sum = g_checksum_new (G_CHECKSUM_SHA256);
  g_auto (GStrv) lines = NULL;

  ck_assert_msg (g_file_get_contents (path, &text, NULL, NULL), "cannot read %s", path);
  lines = g_strsplit (text, "\n", -1);
  for (char **l = lines; *l; l++)
    {
      g_autoptr (JsonParser) parser = json_parser_new ();
      g_autoptr (JsonGenerator) gen = json_generator_new ();
      g_autofree char *out = NULL;
      if (!**l)
        continue;
      ck_assert_msg (json_parser_load_from_data (parser, *l, -1, NULL), "%s: not JSON: %s", path, *l);
      strip_node (json_parser_get_root (parser));
      json_generator_set_root (gen, json_parser_get_root (parser));
      out = json_generator_to_data (gen, NULL);
      g_checksum_update (sum, (const guchar *) out, -1);
      g_checksum_update (sum, (const guchar *) "\n", 1);
    }
  return g_strdup (g_checksum_get_string (sum));
}

/* SHA-256 of the checkpoint's parameters (as little-endian doubles
 * converted from their float32 values): the header also holds the
 * resolved experiment, whose comment names the file's path. */
static char *
policy_hash (const char *path)
{
  g_autoptr (DerlBackend) backend = derl_backend_new_cpu ();
  g_autoptr (GError) error = NULL;
  g_autoptr (DerlPolicy) policy = derl_policy_load (backend, path, 1, NULL, &error);
  g_autofree double *values = NULL;
  gsize n;

  ck_assert_msg (policy != NULL, "%s: %s", path, error ? error->message : "?");
  n = derl_policy_n_parameters (policy);
  values = g_new (double, n);
  derl_policy_get_parameters (policy, values);
  return g_compute_checksum_for_data (G_CHECKSUM_SHA256, (const guchar *) values, n * sizeof (double));
}

/* Runs one fingerprint's experiment with DERL_CPU=@path on @threads
 * threads and checks (or prints) its hashes. */
static void
check_run (const Fingerprint *f, const char *path, guint threads)
{
  g_autofree char *tmp = g_dir_make_tmp ("derl-fingerprint-XXXXXX", NULL);
  g_autofree char *dir = g_build_filename (tmp, "run", NULL);
  g_autofree char *exp = g_build_filename (DERL_TEST_SOURCE_DIR, "data", "experiments", f->experiment, NULL);
  g_autofree char *run = g_build_filename (g_getenv ("top_builddir") ? g_getenv ("top_builddir") : ".", "core",
                                           "derl-run", NULL);
  g_autofree char *threads_arg = g_strdup_printf ("%u", threads);
  g_autoptr (GPtrArray) argv = g_ptr_array_new ();
  g_auto (GStrv) envp = g_environ_setenv (g_get_environ (), "DERL_CPU", path, TRUE);
  g_autofree char *err = NULL;
  g_autofree char *metrics = g_build_filename (dir, "metrics.jsonl", NULL);
  g_autofree char *policy = g_build_filename (dir, "policy.ckpt", NULL);
  g_autofree char *m = NULL, *p = NULL;
  gint status = -1;

  g_ptr_array_add (argv, run);
  g_ptr_array_add (argv, "-q");
  g_ptr_array_add (argv, "-o");
  g_ptr_array_add (argv, dir);
  g_ptr_array_add (argv, "--threads");
  g_ptr_array_add (argv, threads_arg);
  for (const char *const *s = f->sets; *s; s++)
    {
      g_ptr_array_add (argv, "--set");
      g_ptr_array_add (argv, (gpointer) *s);
    }
  g_ptr_array_add (argv, exp);
  g_ptr_array_add (argv, NULL);
  ck_assert (g_spawn_sync (NULL, (char **) argv->pdata, envp, G_SPAWN_DEFAULT, NULL, NULL, NULL, &err, &status,
                           NULL));
  ck_assert_msg (g_spawn_check_wait_status (status, NULL), "%s on %s: derl-run failed: %s", f->name, path, err);
  m = metrics_hash (metrics);
  p = policy_hash (policy);
  if (g_getenv ("DERL_PRINT_FINGERPRINTS"))
    printf ("%s on %s, %u thread%s: metrics %s policy %s\n", f->name, path, threads, threads == 1 ? "" : "s", m,
            p);
  else
    {
      ck_assert_msg (strcmp (m, f->metrics_sha256) == 0,
                     "%s on the %s kernels, %u thread%s: metrics.jsonl hashes to %s, pinned %s", f->name, path,
                     threads, threads == 1 ? "" : "s", m, f->metrics_sha256);
      ck_assert_msg (strcmp (p, f->policy_sha256) == 0,
                     "%s on the %s kernels, %u thread%s: policy.ckpt hashes to %s, pinned %s", f->name, path,
                     threads, threads == 1 ? "" : "s", p, f->policy_sha256);
    }
  derl_test_remove_dir (g_steal_pointer (&tmp));
}

/* Every fingerprint on path @_i's kernels, where this CPU runs them. */
START_TEST (test_fingerprint)
{
  static const char *const paths[] = { "generic", "avx2", "avx512" };
  const char *path = paths[_i];

  if (g_getenv ("DERL_TEST_SHORT") && _i > 0)
    return; /* make check-valgrind: the derl-run children are not under
             * valgrind; the portable path suffices */
  if (!derl_backend_cpu_set_kernels (path, NULL))
    {
      printf ("note: the %s kernels do not run on this CPU (%s): not checked\n", path, derl_cpu_model ());
      return;
    }
  for (guint f = 0; f < G_N_ELEMENTS (fingerprints); f++)
    {
      check_run (&fingerprints[f], path, 1);
      /* threads split the ops; the portable path is checked on one */
      if (_i > 0)
        check_run (&fingerprints[f], path, 2);
    }
}
END_TEST

static Suite *
fingerprints_suite (void)
{
  Suite *s = suite_create ("fingerprints");
  TCase *tc = tcase_create ("runs");

  tcase_set_timeout (tc, 600);
  tcase_add_loop_test (tc, test_fingerprint, 0, 3);
  suite_add_tcase (s, tc);
  return s;
}

DERL_TEST_MAIN (fingerprints_suite)
