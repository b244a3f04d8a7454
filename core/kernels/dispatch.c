/* derl - which kernels run: the widest instruction set the CPU has, or the
 * one DERL_CPU names; per-thread scratch; the CPU's model name. */
#include "config.h"

#include <stdlib.h>
#include <string.h>
#include "kernels.h"
#include "derl-private.h"

static const DerlKernels *forced;   /* set by derl_backend_cpu_set_kernels() */

gboolean
_derl_kernels_available (const char *name)
{
#if defined(__x86_64__) || defined(__i386__)
  __builtin_cpu_init ();
  if (g_strcmp0 (name, "avx512") == 0)
    return _derl_kernels_avx512 && __builtin_cpu_supports ("avx512f") && __builtin_cpu_supports ("avx2")
           && __builtin_cpu_supports ("fma");
  if (g_strcmp0 (name, "avx2") == 0)
    return _derl_kernels_avx2 && __builtin_cpu_supports ("avx2") && __builtin_cpu_supports ("fma");
#endif
  return g_strcmp0 (name, "generic") == 0;
}

static const DerlKernels *
widest (void)
{
  if (_derl_kernels_available ("avx512"))
    return _derl_kernels_avx512;
  if (_derl_kernels_available ("avx2"))
    return _derl_kernels_avx2;
  return &_derl_kernels_generic;
}

const DerlKernels *
_derl_kernels_lookup (const char *name, GError **error)
{
  static const char *const names[] = { "generic", "avx2", "avx512", "auto" };

  if (g_strcmp0 (name, "auto") == 0)
    return widest ();
  if (g_strcmp0 (name, "generic") == 0)
    return &_derl_kernels_generic;
  if (g_strcmp0 (name, "avx2") == 0 || g_strcmp0 (name, "avx512") == 0)
    {
      gboolean wide = name[3] == '5';
      const DerlKernels *k = wide ? _derl_kernels_avx512 : _derl_kernels_avx2;
      if (!k)
        g_set_error (error, DERL_RUN_ERROR, DERL_RUN_ERROR_FAILED,
                     "DERL_CPU=%s: this build of derl has no %s kernels (its compiler lacked %s)", name, name,
                     wide ? "-mavx512f" : "-mavx2 -mfma");
      else if (!_derl_kernels_available (name))
        g_set_error (error, DERL_RUN_ERROR, DERL_RUN_ERROR_FAILED,
                     "DERL_CPU=%s: this CPU (%s) does not run %s; its widest path is %s", name, _derl_cpu_model (),
                     wide ? "AVX-512 (avx512f)" : "AVX2 with FMA", widest ()->name);
      return k && _derl_kernels_available (name) ? k : NULL;
    }
  {
    const char *hint = _derl_suggest_closest (name, names, G_N_ELEMENTS (names));
    g_set_error (error, DERL_RUN_ERROR, DERL_RUN_ERROR_FAILED,
                 "DERL_CPU=%s: not a kernel path (generic, avx2, avx512 or auto)%s%s%s", name,
                 hint ? "; did you mean '" : "", hint ? hint : "", hint ? "'?" : "");
  }
  return NULL;
}

/* DERL_CPU's path, or the widest when it is unset or unusable (derl-run
 * refuses an unusable DERL_CPU before any kernel runs, through
 * derl_backend_cpu_check_env()). */
static const DerlKernels *
from_environment (void)
{
  const char *name = g_getenv ("DERL_CPU");
  const DerlKernels *k;

  if (!name || !*name)
    return widest ();
  k = _derl_kernels_lookup (name, NULL);
  return k ? k : widest ();
}

const DerlKernels *
_derl_kernels_get (void)
{
  static const DerlKernels *chosen;
  const DerlKernels *f = g_atomic_pointer_get (&forced);

  if (f)
    return f;
  if (g_once_init_enter (&chosen))
    g_once_init_leave (&chosen, from_environment ());
  return chosen;
}

/* ---- per-thread scratch ---- */

typedef struct {
  float *data[2];
  gsize len[2];
} Scratch;

static void
scratch_free (gpointer p)
{
  Scratch *s = p;
  free (s->data[0]);
  free (s->data[1]);
  free (s);
}

static GPrivate scratch_key = G_PRIVATE_INIT (scratch_free);

float *
_derl_kernels_scratch (guint slot, gsize n)
{
  Scratch *s = g_private_get (&scratch_key);
  void *data = NULL;

  g_return_val_if_fail (slot < 2, NULL);
  if (!s)
    {
      if (!(s = calloc (1, sizeof *s)))
        return NULL;
      g_private_set (&scratch_key, s);
    }
  if (s->len[slot] >= n)
    return s->data[slot];
  if (n > G_MAXSIZE / sizeof (float) / 2 || posix_memalign (&data, 64, MAX (n, 64) * sizeof (float)) != 0)
    return NULL;
  free (s->data[slot]);
  s->data[slot] = data;
  s->len[slot] = MAX (n, 64);
  return data;
}

/* ---- the CPU's name ---- */

static char *
read_model (void)
{
  g_autofree char *text = NULL;

  if (g_file_get_contents ("/proc/cpuinfo", &text, NULL, NULL))
    {
      g_auto (GStrv) lines = g_strsplit (text, "\n", -1);
      for (char **l = lines; *l; l++)
        if (g_str_has_prefix (*l, "model name"))
          {
            const char *colon = strchr (*l, ':');
            if (colon)
              return g_strstrip (g_strdup (colon + 1));
          }
    }
#if (defined(__x86_64__) || defined(__i386__)) && defined(__GNUC__)
  {
    unsigned int regs[12];
    unsigned int max;
    __asm__ ("cpuid" : "=a"(max), "=b"(regs[0]), "=c"(regs[1]), "=d"(regs[2]) : "a"(0x80000000u));
    if (max >= 0x80000004u)
      {
        char brand[49];
        for (unsigned int leaf = 0; leaf < 3; leaf++)
          __asm__ ("cpuid"
                   : "=a"(regs[4 * leaf]), "=b"(regs[4 * leaf + 1]), "=c"(regs[4 * leaf + 2]), "=d"(regs[4 * leaf + 3])
                   : "a"(0x80000002u + leaf));
        memcpy (brand, regs, 48);
        brand[48] = '\0';
        return g_strstrip (g_strdup (brand));
      }
  }
#endif
  return g_strdup ("unknown CPU");
}

const char *
_derl_cpu_model (void)
{
  static char *model;

  if (g_once_init_enter (&model))
    g_once_init_leave (&model, read_model ());
  return model;
}

/* ---- the public face (backend.h) ---- */

const char *
derl_backend_cpu_kernels (void)
{
  return _derl_kernels_get ()->name;
}

gboolean
derl_backend_cpu_set_kernels (const char *name, GError **error)
{
  const DerlKernels *k;

  g_return_val_if_fail (name != NULL, FALSE);
  if (!(k = _derl_kernels_lookup (name, error)))
    return FALSE;
  g_atomic_pointer_set (&forced, k);
  return TRUE;
}

gboolean
derl_backend_cpu_check_env (GError **error)
{
  const char *name = g_getenv ("DERL_CPU");

  return !name || !*name || _derl_kernels_lookup (name, error) != NULL;
}

const char *
derl_cpu_model (void)
{
  return _derl_cpu_model ();
}
