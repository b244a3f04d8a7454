#!/bin/sh
# The Meta-Rewards baselines on the household env: GRPO trained with the
# outcome-only formula (household-outcome.ini: g1, g1 = success) and with the
# average of the four agentic primitives (household-avg.ini: (g1+g2+g3+g4)/4
# over success, early, mid, late), at a small inner budget and at a
# saturation budget, three seeds each.  L0 and L1: trained on all six task
# types, greedy success on test_seen and test_unseen; L2: trained on four
# types, greedy success on test_seen of the two held-out types
# (pick_cool_then_place, pick_two_obj_and_place).  400 episodes per split.
# Run from a built source tree:
#
#   bench/household-baselines/run.sh [BUDGETS] [SEEDS] [METHODS]
#
# Prints one row per training run, then per method and budget the mean and
# (population) standard deviation over the seeds, and the mean wall time of
# a training run.
set -eu
budgets=${1:-150000 600000}
seeds=${2:-1 2 3}
methods=${3:-outcome avg}
top=$(cd "$(dirname "$0")/../.." && pwd)
run=${DERL_RUN:-$top/core/derl-run}
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
l2="env.train_types=pick_and_place,look_at_obj_in_light,pick_clean_then_place,pick_heat_then_place"
l2test="env.test_types=pick_cool_then_place,pick_two_obj_and_place"

# RUN_DIR SPLIT: the final greedy success rate on SPLIT from summary.json
split_success () {
  awk -v want="\"$2\"," '$1 == "\"split\"" { split_name = $3 }
    $1 == "\"success_rate\"" && split_name == want { gsub(/,/, "", $3); print $3; exit }' "$1/summary.json"
}
member () { # RUN_DIR NAME: a top-level number of summary.json
  awk -v want="\"$2\"" '$1 == want { gsub(/,/, "", $3); print $3; exit }' "$1/summary.json"
}

rows="$out/rows"
printf '%-8s %-8s %4s %8s %7s %7s %7s\n' method budget seed wall_s L0 L1 L2
for method in $methods; do
  ini="$top/data/experiments/household-$method.ini"
  for budget in $budgets; do
    for seed in $seeds; do
      all="$out/$method-$budget-$seed-all" held="$out/$method-$budget-$seed-l2"
      "$run" -q -o "$all" --seed "$seed" --set train.total_steps="$budget" "$ini"
      "$run" -q -o "$held" --seed "$seed" --set train.total_steps="$budget" \
        --set "$l2" --set "$l2test" --set evaluate.splits=test_seen "$ini"
      wall=$(awk -v a="$(member "$all" wall_seconds)" -v b="$(member "$held" wall_seconds)" \
        'BEGIN { printf "%.1f", (a + b) / 2 }')
      l0=$(split_success "$all" test_seen)
      l1=$(split_success "$all" test_unseen)
      l2s=$(split_success "$held" test_seen)
      printf '%-8s %-8s %4s %8s %7.3f %7.3f %7.3f\n' "$method" "$budget" "$seed" "$wall" "$l0" "$l1" "$l2s" \
        | tee -a "$rows"
    done
  done
done

echo
printf '%-8s %-8s %8s %15s %15s %15s\n' method budget wall_s L0 L1 L2
awk '{ k = $1 " " $2; n[k]++; w[k] += $4
       for (c = 5; c <= 7; c++) { s[k, c] += $c; q[k, c] += $c * $c }
       if (!(k in order)) { order[k] = ++m; keys[m] = k } }
     END { for (i = 1; i <= m; i++) { k = keys[i]; split(k, p, " ")
             printf "%-8s %-8s %8.1f", p[1], p[2], w[k] / n[k]
             for (c = 5; c <= 7; c++) { mu = s[k, c] / n[k]; sd = q[k, c] / n[k] - mu * mu
                                        printf " %8.3f+-%.3f", mu, (sd > 0 ? sqrt(sd) : 0) }
             printf "\n" } }' "$rows"
