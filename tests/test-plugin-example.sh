#!/bin/sh
# derl-plugin(7)'s EXAMPLE, as a reader would use it: the gridworld plugin
# extracted from the man page's source (between its BEGIN/END EXAMPLE
# comment lines) is examples/plugin/gridworld.c; built out of tree with the
# page's own build command against a DESTDIR install of derl, through
# pkg-config alone, it exports one symbol, loads through DERL_PLUGIN_PATH,
# is described by derl-inspect and trains with derl-run.
test_name=plugin-example
. "$(dirname "$0")/test-lib.sh"
command -v pkg-config >/dev/null 2>&1 || { echo "SKIP: pkg-config not found"; exit 77; }
PAGE="$top_srcdir/man/derl-plugin.7"

# extract WHAT: the lines between ".\" BEGIN WHAT" and ".\" END WHAT" in the
# page, without .EX/.EE, with roff's escapes turned back into text.
extract () {
  sed -n "/^\.\\\\\" BEGIN $1/,/^\.\\\\\" END $1/p" "$PAGE" | sed -e '1d' -e '$d' \
    | sed -e '/^\.EX$/d' -e '/^\.EE$/d' \
          -e "s/\\\\(aq/'/g" -e 's/\\-/-/g' -e 's/\\&//g' -e 's/\\e/\\/g'
}

mkdir "$T/src"
extract "EXAMPLE gridworld.c" >"$T/src/gridworld.c"
[ "$(wc -l <"$T/src/gridworld.c")" -gt 100 ] && ok || fail "the example extracted from derl-plugin.7 is short"
cmp -s "$T/src/gridworld.c" "$top_srcdir/examples/plugin/gridworld.c" && ok \
  || { fail "derl-plugin.7's EXAMPLE differs from examples/plugin/gridworld.c";
       diff "$top_srcdir/examples/plugin/gridworld.c" "$T/src/gridworld.c" | head -20; }
extract "BUILD gridworld.c" >"$T/build.sh"
grep -q "pkg-config --cflags --libs derl-1" "$T/build.sh" && ok || { cat "$T/build.sh"; fail "build command"; }

# derl installed into a DESTDIR, its derl-1.pc relocated there (as in
# test-out-of-tree.sh).
DEST="$T/dest"
if ! $MAKE -C "$top_builddir" install DESTDIR="$DEST" >"$T/install.log" 2>&1; then
  cat "$T/install.log"; echo "FAIL: make install DESTDIR"; exit 1
fi
pc=$(find "$DEST" -name derl-1.pc | head -n 1)
prefix=$(PKG_CONFIG_PATH="$(dirname "$pc")" pkg-config --variable=prefix derl-1)
mkdir "$T/pc" && sed "s|^prefix=.*|prefix=$DEST$prefix|" "$pc" >"$T/pc/derl-1.pc"
export PKG_CONFIG_PATH="$T/pc"
libdir=$(pkg-config --variable=libdir derl-1)
pluginsdir=$(pkg-config --variable=pluginsdir derl-1)
[ -f "$DEST$prefix/share/doc/derl/examples/plugin/gridworld.c" ] \
  || [ -n "$(find "$DEST" -path '*/examples/plugin/gridworld.c')" ] && ok || fail "gridworld.c not installed"

# Build it exactly as the page says, in the example's directory.
if (cd "$T/src" && sh "$T/build.sh") >"$T/build.log" 2>&1; then ok; else cat "$T/build.log"; fail "the page's build command"; fi
so="$T/src/gridworld.so"
[ -f "$so" ] && ok || { fail "no gridworld.so"; finish; exit 1; }
exported=$(nm -D --defined-only "$so" 2>/dev/null | awk '$2 ~ /^[TDBR]$/ { print $3 }' | grep -v '^_' | tr '\n' ' ')
[ "$exported" = "derl_plugin_get_desc " ] && ok || fail "the example exports: $exported"

export LD_LIBRARY_PATH="$libdir" DERL_PLUGIN_SYSTEM_PATH="$pluginsdir" DERL_PLUGIN_PATH="$T/src"
INSPECT="$DEST$prefix/bin/derl-inspect"
RUN="$DEST$prefix/bin/derl-run"
"$INSPECT" gridworld >"$T/desc" 2>&1 && ok || { cat "$T/desc"; fail "derl-inspect gridworld"; }
grep -q "signals         progress explore valid closeness" "$T/desc" && ok || { cat "$T/desc"; fail "its signals"; }
grep -q "splits          train (1000 tasks), val (200 tasks), test (200 tasks)" "$T/desc" && ok \
  || fail "its splits"
grep -q "target return   0.9 " "$T/desc" && ok || fail "its target return"

# derl-inspect --check: the env keeps the step contract.
"$INSPECT" --check gridworld >"$T/check" 2>&1 && ok || { cat "$T/check"; fail "derl-inspect --check gridworld"; }

# A short training run: its summary uses the env's target return (0.9), and
# a run on one thread and on two gives the same numbers.
printf '[experiment]\nmode = train\nseed = 3\n[train]\ntotal_steps = 2048\neval_episodes = 20\n[env]\nname = gridworld\n[optimizer]\nname = ppo\n' >"$T/grid.ini"
if "$RUN" -q -j 1 -o "$T/run1" "$T/grid.ini" 2>"$T/err"; then ok; else cat "$T/err"; fail "derl-run train on gridworld"; fi
if [ -f "$T/run1/summary.json" ]; then
  grep -q '"target_return" : 0.9' "$T/run1/summary.json" && ok || { cat "$T/run1/summary.json"; fail "target_return 0.9"; }
  grep -q '"steps" : 2048' "$T/run1/summary.json" && ok || fail "2048 training steps"
  grep -q '"eval_episodes" : 20' "$T/run1/summary.json" && ok || fail "20 evaluation episodes"
  grep -q "target_return=0.9" "$T/run1/experiment.ini" && ok || fail "the resolved experiment's target_return"
fi
if "$RUN" -q -j 2 -o "$T/run2" "$T/grid.ini" 2>"$T/err"; then ok; else cat "$T/err"; fail "derl-run on 2 threads"; fi
grep '"eval_mean_return"' "$T/run1/summary.json" >"$T/r1" 2>/dev/null
grep '"eval_mean_return"' "$T/run2/summary.json" >"$T/r2" 2>/dev/null
[ -s "$T/r1" ] && cmp -s "$T/r1" "$T/r2" && ok || fail "1 and 2 threads differ"
# The trained policy, evaluated on the test split (evaluate mode).
if "$RUN" -q -o "$T/test" --set experiment.mode=evaluate --set evaluate.policy="$T/run1/policy.ckpt" \
     --set evaluate.split=test --set evaluate.episodes=30 "$T/grid.ini" 2>"$T/err"; then
  [ "$(grep -c '"event":"episode"' "$T/test/metrics.jsonl")" -eq 30 ] && ok || fail "30 test episodes"
else
  cat "$T/err"; fail "evaluating the trained policy on the test split"
fi

finish
