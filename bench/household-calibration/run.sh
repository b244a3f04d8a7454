#!/bin/sh
# Household calibration: GRPO with the env's success as the only reward
# (the outcome-only baseline), at a small inner budget and at a larger one,
# on all six task types (L0 seen tasks, L1 unseen layouts) and with two task
# types held out (L2: train on four, test on pick_cool_then_place and
# pick_two_obj_and_place).  Each trained policy is evaluated greedily on
# 400 episodes of each test split.  Run from a built source tree:
#
#   bench/household-calibration/run.sh [BUDGETS] [SEEDS]
#
# Prints one row per run: budget, setting, seed, training steps/s, val,
# test_seen (L0), test_unseen (L1) success.
set -eu
budgets=${1:-150000 600000}
seeds=${2:-1 2 3}
top=$(cd "$(dirname "$0")/../.." && pwd)
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
ini="$top/data/experiments/household-train.ini"
l2="env.train_types=pick_and_place,look_at_obj_in_light,pick_clean_then_place,pick_heat_then_place"
l2test="env.test_types=pick_cool_then_place,pick_two_obj_and_place"

success () { # RUN_DIR SPLIT SETTINGS...: greedy success rate of RUN_DIR's policy
  dir=$1 split=$2; shift 2
  "$top/core/derl-run" -q -o "$dir-$split" --set evaluate.policy="$dir/policy.ckpt" \
    --set evaluate.split="$split" --set evaluate.episodes=400 --set env.name=household "$@" \
    "$top/data/experiments/cartpole-random.ini"
  awk '/"success_rate"/ { gsub(/,/, "", $3); print $3 }' "$dir-$split/summary.json"
}

printf '%-8s %-4s %4s %9s %7s %7s %7s\n' budget set seed steps/s val L0 L1
for budget in $budgets; do
  for seed in $seeds; do
    for setting in all L2; do
      dir="$out/$setting-$budget-$seed"
      if [ "$setting" = all ]; then
        "$top/core/derl-run" -q -o "$dir" --seed "$seed" --set train.total_steps="$budget" \
          --set train.eval_interval=0 "$ini"
        set --
      else
        "$top/core/derl-run" -q -o "$dir" --seed "$seed" --set train.total_steps="$budget" \
          --set train.eval_interval=0 --set "$l2" --set "$l2test" "$ini"
        set -- --set "$l2" --set "$l2test"
      fi
      sps=$(awk '/"steps_per_second"/ { gsub(/,/, "", $3); printf "%.0f", $3 }' "$dir/summary.json")
      val=$(success "$dir" val "$@")
      l0=$(success "$dir" test_seen "$@")
      l1=$(success "$dir" test_unseen "$@")
      printf '%-8s %-4s %4s %9s %7.3f %7.3f %7.3f\n' "$budget" "$setting" "$seed" "$sps" "$val" "$l0" "$l1"
    done
  done
done
