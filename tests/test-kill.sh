#!/bin/sh
# derl-run killed with SIGKILL at many moments of a short derl-pop run
# (early, in the cold start, inside inner trainings, around the checkpoint
# writes of an outer step, in the final stage, just before summary.json)
# and resumed each time with --resume ends exactly as the uninterrupted
# run: the same formulas, metrics, best formula, summary numbers and
# checkpoint bytes; and no file of the run directory is ever torn (every
# JSON file parses, every log is whole lines, no temporary file is left).
test_name=kill
. "$(dirname "$0")/test-lib.sh"
CHECK="$top_builddir/tests/json-check"

small () { # DIR [--resume]: the small run, in the background.  A run killed
  # before it wrote its experiment.ini has not started: it is started again,
  # as its user would, with the same command.
  if [ "${2:-}" = --resume ] && [ -f "$1/experiment.ini" ]; then
    "$RUN" -q --resume "$1" >>"$T/log" 2>&1 &
  else
    "$RUN" -q -o "$1" --set meta.outer_steps=4 --set meta.group_size=2 --set train.total_steps=4000 \
      --set train.eval_episodes=10 --set evaluate.episodes=10 --set optimizer.n_groups=2 \
      --set optimizer.group_size=2 --set meta.final_candidates=2 --set meta.final_runs=2 \
      --set meta.cold_start="$top_srcdir/data/formulas/cold-start.txt" \
      "$top_srcdir/data/experiments/household-derl-pop.ini" >>"$T/log" 2>&1 &
  fi
  pid=$!
}
# Waits until TRIGGER holds in DIR (or the run ends), then kills the run:
#   t:SECONDS  after that long;  state:N  once state.json says N outer steps
#   are done;  lines:N  once metrics.jsonl has N lines;  file:NAME  once
#   DIR/NAME exists (a checkpoint being written, say).
kill_at () { # DIR TRIGGER
  n=0
  case "$2" in
    t:*) sleep "${2#t:}" ;;
    *) while kill -0 "$pid" 2>/dev/null && [ "$n" -lt 3000 ]; do
         case "$2" in
           state:*) grep -qs "\"outer_steps_done\" : ${2#state:}," "$1/state.json" && break ;;
           lines:*) [ "$(cat "$1/metrics.jsonl" 2>/dev/null | wc -l)" -ge "${2#lines:}" ] && break ;;
           file:*) [ -e "$1/${2#file:}" ] && break ;;
         esac
         sleep 0.01; n=$((n + 1))
       done ;;
  esac
  if kill -9 "$pid" 2>/dev/null; then kills=$((kills + 1)); else echo "note: the run ended before $2"; fi
  wait "$pid" 2>/dev/null
  torn "$1" "killed at $2" killed
}
# No file of DIR is torn and nothing but the run's own files is there
# (killed: the temporary files of atomic writes may be, NAME.XXXXXX).
torn () { # DIR WHEN [killed]
  for f in "$1"/* "$1"/.[!.]* "$1"/inner/*; do
    [ -e "$f" ] || continue
    case "${f#$1/}" in
      experiment.ini|best-formula.txt|results.md|meta.ckpt|pop.ckpt|policy.ckpt|inner) ;;
      meta.ckpt.new|pop.ckpt.new|.final-*.ckpt|inner/candidate-*.ckpt) ;; # written or renamed whole
      *.json|*.jsonl) "$CHECK" "$f" || fail "$2: ${f#$1/} is torn" ;;
      *.??????) [ "${3:-}" = killed ] || fail "$2: a leftover file ${f#$1/}" ;;
      *) fail "$2: a leftover file ${f#$1/}" ;;
    esac
  done
}
untimed () { # FILE: without the members that time the run
  sed -E -e 's/,"(wall_seconds|steps_per_second|inner_seconds|generate_seconds|update_seconds)":[-0-9.e+]+//g' \
    -e '/"(wall_seconds|steps_per_second|run_wall_seconds|inner_seconds|outer_seconds|resumed_from)" :/d' \
    -e '/^Wall time:/d' "$1"
}
same_as_whole () { # DIR WHAT
  for f in formulas.jsonl metrics.jsonl best-formula.txt summary.json results.md state.json; do
    if [ "$(untimed "$T/whole/$f")" = "$(untimed "$1/$f")" ]; then ok; else
      fail "$2: $f differs from the uninterrupted run's"; diff "$T/whole/$f" "$1/$f" | head -6; fi
  done
  for f in policy.ckpt pop.ckpt meta.ckpt; do
    cmp -s "$T/whole/$f" "$1/$f" && ok || fail "$2: $f differs from the uninterrupted run's"
  done
  left=$(cd "$1" && ls -A | tr '\n' ' ')
  [ "$left" = "best-formula.txt experiment.ini formulas.jsonl inner meta.ckpt metrics.jsonl policy.ckpt pop.ckpt results.md state.json summary.json " ] \
    && [ -z "$(ls -A "$1/inner")" ] && ok || fail "$2: the run directory holds $left $(ls -A "$1/inner")"
}

small "$T/whole"; wait "$pid" && ok || { fail "the uninterrupted run"; cat "$T/log"; finish; exit 1; }
torn "$T/whole" "the uninterrupted run"

# Chains of kills, each resumed; a deterministic list of moments mixing
# early, mid and late ones.
kills=0
trial=0
for chain in "t:0.05 file:inner/candidate-0.ckpt state:1 file:.final-0-0.ckpt" \
             "t:0.6 file:inner/candidate-0.ckpt t:0.4 state:3 file:policy.ckpt" \
             "lines:1 state:2 file:inner/candidate-1.ckpt t:1.5 file:results.md" \
             "t:0.3 lines:3 state:4 file:.final-0-1.ckpt"; do
  trial=$((trial + 1))
  dir="$T/killed-$trial"
  first=yes
  for at in $chain; do
    if [ $first = yes ]; then small "$dir"; first=no; else small "$dir" --resume; fi
    kill_at "$dir" "$at"
  done
  small "$dir" --resume
  if wait "$pid"; then ok; else fail "trial $trial: the last --resume"; tail -5 "$T/log"; fi
  torn "$dir" "trial $trial, resumed"
  same_as_whole "$dir" "trial $trial ($chain)"
done
echo "$kills runs killed"
[ "$kills" -ge 10 ] && ok || fail "only $kills of the runs were killed before they ended"

# The moments between state.json and the renames of the checkpoints it
# commits, made on purpose: a run stopped after 2 outer steps ...
small "$T/commit"; kill_at "$T/commit" state:2
for f in meta pop; do # (killed right after state.json: rename what it commits)
  [ -e "$T/commit/$f.ckpt.new" ] && mv "$T/commit/$f.ckpt.new" "$T/commit/$f.ckpt"
done
cp -rp "$T/commit" "$T/commit-before"
# ... killed after state.json, before meta.ckpt.new and pop.ckpt.new were
# renamed: they are the step's checkpoints, taken on resume;
mv "$T/commit/meta.ckpt" "$T/commit/meta.ckpt.new"; mv "$T/commit/pop.ckpt" "$T/commit/pop.ckpt.new"
small "$T/commit" --resume; wait "$pid" && ok || fail "resume with committed .new checkpoints"
same_as_whole "$T/commit" "committed .new checkpoints"
# ... killed before state.json: the .new files are a later step's, dropped.
cp -p "$T/whole/meta.ckpt" "$T/commit-before/meta.ckpt.new"; cp -p "$T/whole/pop.ckpt" "$T/commit-before/pop.ckpt.new"
printf 'x' >"$T/commit-before/state.json.AB12CD"; printf 'x' >"$T/commit-before/.final-0-1.ckpt"
small "$T/commit-before" --resume; wait "$pid" && ok || fail "resume with uncommitted .new checkpoints"
same_as_whole "$T/commit-before" "uncommitted .new checkpoints and leftovers"

# A finished run: --resume says so, exits 0 and changes nothing.
cp -p "$T/whole/summary.json" "$T/summary-before"
"$RUN" --resume "$T/whole" >"$T/out" 2>&1 && ok || fail "--resume of a finished run: exit $?"
grep -qF "the run is complete" "$T/out" && grep -qF "$T/whole/results.md" "$T/out" && ok \
  || { fail "--resume of a finished run does not say it is complete"; cat "$T/out"; }
cmp -s "$T/summary-before" "$T/whole/summary.json" && ok || fail "--resume of a finished run rewrote summary.json"

finish
