#!/bin/sh
# README's quick-start output against a real run of the same command: the
# formula found, where it was found, the final stage, the training summary
# and every percentage must be what README shows, so README cannot drift
# from the code.  Only what measures this machine is left out of the
# comparison: the cpu line, wall times and steps per second.
test_name=readme
. "$(dirname "$0")/test-lib.sh"

# README's block: from the "$ derl-run data/experiments/quickstart.ini"
# line to the next blank line, unindented.
awk '/^    \$ derl-run data\/experiments\/quickstart.ini$/ { on = 1; next }
     on && /^$/ { exit }
     on { sub(/^    /, ""); print }' "$top_srcdir/README.md" >"$T/readme.txt"
[ -s "$T/readme.txt" ] && ok || fail "README.md has no quick-start output block"

normalise () {
  sed -e '/^cpu: /d' -e '/^  wall time /d' \
      -e 's/^\(  steps  *[0-9]*\) in [0-9.]* s ([0-9.]*[kM]* steps\/s)$/\1/' "$1"
}

# The quick start as README runs it: from a directory of its own, so that
# the run directory is runs/quickstart-1, with the source tree's cold-start
# formulas named (a build tree outside the source tree, as make
# distcheck's, has no data/ of its own; the file is the same).
if (cd "$T" && "$RUN" --set meta.cold_start="$top_srcdir/data/formulas/cold-start.txt" \
      "$top_srcdir/data/experiments/quickstart.ini" >"$T/run.txt" 2>"$T/err.txt"); then
  ok
else
  cat "$T/err.txt"; fail "derl-run data/experiments/quickstart.ini"
fi
normalise "$T/readme.txt" >"$T/readme.norm"
normalise "$T/run.txt" >"$T/run.norm"
if diff -u "$T/readme.norm" "$T/run.norm" >"$T/diff"; then
  ok
else
  cat "$T/diff"; fail "README's quick-start output differs from a real run (diff above: - README, + run)"
fi
finish
