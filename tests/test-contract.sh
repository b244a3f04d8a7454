#!/bin/sh
# derl-run and an env that breaks the step contract, or a training that
# diverges: the exit status, a message naming the env, the field, the split,
# the task and the step (or the update), what the run directory keeps, and
# strict JSON (no NaN, no Infinity) in every JSON file derl wrote.
test_name=contract
. "$(dirname "$0")/test-lib.sh"
FIXTURES="$top_builddir/tests/plugins"
absent () { # FILE DESCRIPTION
  if [ -e "$1" ]; then fail "$2: $1 exists"; else ok; fi
}
# Every line of a JSON-lines file (or a JSON file) parses, refusing NaN and
# Infinity (json-glib writes them as nan.0, which no parser takes either).
strict_json () { # FILE DESCRIPTION
  if python3 -c '
import json, sys
def refuse(name): raise ValueError("non-finite number " + name)
text = open(sys.argv[1]).read()
docs = text.splitlines() if sys.argv[1].endswith(".jsonl") else [text]
for line in docs:
    json.loads(line, parse_constant=refuse)
' "$1" 2>"$T/json-err"; then ok; else fail "$2: $1 is not strict JSON"; sed 's/^/  | /' "$T/json-err"; fi
}
command -v python3 >/dev/null || strict_json () { # without python3: no nan or inf text at least
  if grep -qiE 'nan|inf' "$1"; then fail "$2: non-finite number in $1"; else ok; fi
}

train () { # NAME FAULT FAULT_AFTER
  cat >"$T/$1.ini" <<INI
[experiment]
mode = train
seed = 3
[env]
name = faulty
fault = $2
fault_step = 2
fault_after = $3
[train]
total_steps = 1024
eval_episodes = 4
eval_split = val
[optimizer]
name = ppo
n_envs = 2
n_steps = 32
INI
}

# -- a NaN observation after a few updates: exit 2, the metrics kept
train nan nan-obs 100
expect 2 "a NaN observation" -- "$RUN" --quiet --plugin-path "$FIXTURES" -o "$T/nan" "$T/nan.ini"
contains "$T/err" "env 'faulty': observation[3] is nan at split 'train', task " "the env, field and split named"
contains "$T/err" ", step 2 (an env's outputs must be finite; see derl-plugin(7))" "the step named"
contains "$T/nan/metrics.jsonl" '"event":"update"' "the updates before it are kept"
strict_json "$T/nan/metrics.jsonl" "NaN observation"
absent "$T/nan/policy.ckpt" "no checkpoint of a broken run"
absent "$T/nan/summary.json" "no summary of a broken run"

# -- in evaluation too
cat >"$T/eval.ini" <<INI
[experiment]
seed = 1
[evaluate]
episodes = 6
split = val
[env]
name = faulty
fault = bad-mask
fault_step = 1
INI
expect 2 "a bad mask in evaluation" -- "$RUN" --quiet --plugin-path "$FIXTURES" -o "$T/eval" "$T/eval.ini"
contains "$T/err" "action_mask[1] is 2 at split 'val', task " "the mask byte named"

# -- an episode past max_steps
train long no-truncation 0
expect 2 "no truncation" -- "$RUN" --quiet --plugin-path "$FIXTURES" -o "$T/long" "$T/long.ini"
contains "$T/err" "env 'faulty': an episode did not end within max_steps (10)" "the overrun named"

# -- a reward no float holds: the training diverges, exit 1, no checkpoint
train huge huge-reward 100
expect 1 "a diverging training" -- "$RUN" --quiet --plugin-path "$FIXTURES" -o "$T/huge" "$T/huge.ini"
contains "$T/err" "train: update " "the update named"
contains "$T/err" "not finite (diverged" "divergence said"
contains "$T/err" "; no checkpoint written" "no checkpoint said"
absent "$T/huge/policy.ckpt" "no checkpoint of NaN parameters"
strict_json "$T/huge/metrics.jsonl" "diverged training"

# -- the fixture without a fault trains, and its JSON is strict
train good none 0
expect 0 "the fixture keeping its contract" -- "$RUN" --quiet --plugin-path "$FIXTURES" -o "$T/good" "$T/good.ini"
strict_json "$T/good/metrics.jsonl" "a run"
strict_json "$T/good/summary.json" "a run's summary"
finish
