#!/bin/sh
# derl runs uninstalled from a build tree, also one outside the source tree
# (a VPATH build, as make distcheck's): the quick-start experiment validates,
# and a short bilevel run finds the cold-start formulas in the source tree's
# data/ without [meta] cold_start.
test_name=uninstalled
. "$(dirname "$0")/test-lib.sh"
QS="$top_srcdir/data/experiments/quickstart.ini"
# The quick start, shrunk to a few seconds: 1 outer step of 2 formulas.
SHORT="--set meta.outer_steps=1 --set meta.group_size=2 --set meta.final_candidates=1 --set meta.final_runs=1
  --set train.total_steps=800 --set optimizer.n_groups=2 --set train.eval_episodes=5 --set evaluate.episodes=5"

# bilevel RUN DIR: the short quick start into DIR; checks it used the
# source tree's cold-start formulas.
bilevel () {
  if "$1" -q -j 1 -o "$2" $SHORT "$QS" 2>"$T/err"; then
    ok
    grep -q '"event":"cold_start"' "$2/metrics.jsonl" && ok || fail "$2: no cold-start event"
  else
    fail "$2: short bilevel run"; sed 's/^/  | /' "$T/err"
  fi
}

# This build tree (in make distcheck, a VPATH one).
"$RUN" --validate "$QS" >/dev/null 2>"$T/err" && ok || { fail "--validate the quick start"; cat "$T/err"; }
bilevel "$RUN" "$T/here"

# A build tree without data/ of its own, whatever this one is: libderl
# loaded from TOP/core/.libs of a tree holding only the library and the
# plugins, so it runs uninstalled and must fall back to the source tree.
real_run="$top_builddir/core/.libs/derl-run"
lib=$(ls "$top_builddir"/core/.libs/libderl-1.so.* 2>/dev/null | head -n 1)
if [ -x "$real_run" ] && [ -n "$lib" ]; then
  mkdir -p "$T/vpath/core/.libs" && ln -s "$top_builddir/plugins" "$T/vpath/plugins"
  for f in "$top_builddir"/core/.libs/libderl-1.so*; do cp -P "$f" "$T/vpath/core/.libs/"; done
  [ ! -e "$T/vpath/data" ] && ok || fail "the stand-in build tree has data/"
  ( unset DERL_PLUGIN_SYSTEM_PATH; LD_LIBRARY_PATH="$T/vpath/core/.libs"; export LD_LIBRARY_PATH
    before=$failed; bilevel "$real_run" "$T/vpath-run"; [ "$failed" -eq "$before" ] ) && ok \
    || fail "the stand-in VPATH build tree"
  # (the same directory, however its path is spelt: ../.. in make distcheck)
  used=$(sed -n 's/.*"event":"cold_start","file":"\([^"]*\)".*/\1/p' "$T/vpath-run/metrics.jsonl")
  [ -n "$used" ] && [ "$(basename "$used")" = cold-start.txt ] \
    && [ "$(cd "$(dirname "$used")" && pwd -P)" = "$(cd "$top_srcdir/data/formulas" && pwd -P)" ] && ok \
    || fail "the stand-in VPATH build tree did not read the source tree's cold-start formulas (read: $used)"
else
  echo "SKIP: no libtool build tree (core/.libs) to stand in for a VPATH one"
fi

finish
