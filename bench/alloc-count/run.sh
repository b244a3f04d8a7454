#!/bin/sh
# Heap allocations per update of a training run: derl-run with the
# allocation counter preloaded, at two budgets; the difference divided by
# the difference in updates.  Run from a built source tree:
#
#   bench/alloc-count/run.sh [EXPERIMENT.ini] [STEPS_SHORT STEPS_LONG]
#
# Defaults: data/experiments/household-train.ini, 20000 and 60000 steps.
set -eu
top=$(cd "$(dirname "$0")/../.." && pwd)
ini=${1:-$top/data/experiments/household-train.ini}
short=${2:-20000} long=${3:-60000}
shim="$top/bench/alloc-count/.libs/alloc-count.so"
[ -f "$shim" ] || shim="$top/bench/alloc-count/alloc-count.so"
[ -f "$shim" ] || { echo "build it first: make bench/alloc-count/alloc-count.la" >&2; exit 2; }
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
for steps in "$short" "$long"; do
  ALLOC_COUNT_FILE="$out/count-$steps" LD_PRELOAD="$shim" \
    "$top/core/derl-run" -q -o "$out/run-$steps" --set train.total_steps="$steps" --set train.eval_interval=0 "$ini"
  updates=$(awk '$1 == "\"updates\"" { gsub(/,/, "", $3); print $3 }' "$out/run-$steps/summary.json")
  printf '%8s steps %5s updates %8s allocations\n' "$steps" "$updates" "$(cat "$out/count-$steps")"
  echo "$updates $(cat "$out/count-$steps")" >>"$out/rows"
done
awk 'NR == 1 { u = $1; a = $2 } NR == 2 { printf "allocations per update in steady state: %.1f\n", ($2 - a) / ($1 - u) }' "$out/rows"
