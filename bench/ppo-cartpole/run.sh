#!/bin/sh
# PPO on CartPole: derl side by side with a PyTorch implementation of the
# same algorithm, defaults and environment, in one run on one machine.
#
#   bench/ppo-cartpole/run.sh PEER.py [STEPS] [SEEDS]
#
# PEER.py is the PyTorch reference (ppo_cartpole_torch.py: CleanRL's PPO
# defaults, a Gymnasium-exact numpy CartPole); it needs python3-torch and
# python3-numpy and is run with /usr/bin/python3.  Run from a built source
# tree.  The runs go one at a time, seed after seed, so they see the same
# machine state: derl on one thread and on two (--threads 2 runs the critic
# beside the actor and splits the large ops; the numbers are the same), the
# peer on one thread
# (OPENBLAS_NUM_THREADS=1; its README measured two threads 3x slower).
# Prints one row per run and the ratios of the medians.
set -eu
peer=${1:?usage: run.sh PEER.py [STEPS] [SEEDS]}
steps=${2:-500000}
seeds=${3:-1 2 3}
top=$(cd "$(dirname "$0")/../.." && pwd)
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

printf '%-8s %4s %9s %9s %10s %12s %s\n' impl seed steps wall_s steps/s first_475 final_mean20
for seed in $seeds; do
  for threads in 1 2; do
    "$top/core/derl-run" -q -o "$out/derl-$seed-$threads" --seed "$seed" --threads "$threads" \
      --set train.total_steps="$steps" "$top/bench/ppo-cartpole/ppo-cartpole.ini"
    awk -v seed="$seed" -v impl="derl-j$threads" '
      /"steps" :/ { gsub(/[^0-9]/, "", $3); s = $3 }
      /"wall_seconds"/ { gsub(/,/, "", $3); w = $3 }
      /"steps_per_second"/ { gsub(/,/, "", $3); r = $3 }
      /"first_step_target"/ { gsub(/,/, "", $3); f = $3 }
      /"mean_return_20"/ { gsub(/,/, "", $3); m = $3 }
      END { printf "%-8s %4s %9d %9.2f %10.0f %12s %.1f\n", impl, seed, s, w, r, (f > 0 ? f : "never"), m }
    ' "$out/derl-$seed-$threads/summary.json" | tee -a "$out/rows"
  done
  OPENBLAS_NUM_THREADS=1 /usr/bin/python3 "$peer" --total-steps "$steps" --seed "$seed" --threads 1 \
    >"$out/peer-$seed.log" 2>&1
  awk -v seed="$seed" '/^RESULT/ {
      for (i = 1; i <= NF; i++) v[$i] = $(i + 1)
      printf "%-8s %4s %9d %9.2f %10.0f %12s %.1f\n", "pytorch", seed, v["steps"], v["wall_s"], v["sps"], v["solved_at"], v["final_mean_return_last20"]
    }' "$out/peer-$seed.log" | tee -a "$out/rows"
done
awk '
  { sps[$1] = sps[$1] " " $5; wall[$1] = wall[$1] " " $4 }
  function median(list,   n, a, i, j, t) {
    n = split(list, a, " ")
    for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (a[j] < a[i]) { t = a[i]; a[i] = a[j]; a[j] = t }
    return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
  }
  END {
    d1 = median(sps["derl-j1"]); d2 = median(sps["derl-j2"]); p = median(sps["pytorch"])
    printf "median steps/s: derl %.0f (1 thread), %.0f (2 threads), pytorch %.0f; ratios %.1fx, %.1fx\n", d1, d2, p, d1 / p, d2 / p
  }' "$out/rows"
