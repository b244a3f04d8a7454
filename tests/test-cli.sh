#!/bin/sh
# Tests of the command-line programs: derl-run and derl-inspect, their exit
# statuses, the run directory, determinism across threads, rerunning the
# resolved experiment, and never overwriting a run.
test_name=cli
. "$(dirname "$0")/test-lib.sh"
episodes () { grep '"event":"episode"' "$1/metrics.jsonl"; }

# -- version and help
expect 0 "--version" -- "$RUN" --version
contains "$T/out" "derl-run 0.1.0 (plugin ABI 1, API 1.1)" "--version"
expect 0 "--help" -- "$RUN" --help
for opt in --validate --output --seed --threads --set --unset --plugin-path --quiet --version; do
  contains "$T/out" "$opt" "--help lists $opt"
done
expect 2 "unknown option" -- "$RUN" --frobnicate "$QUICK"
contains "$T/err" "Unknown option --frobnicate" "unknown option message"
expect 2 "no experiment" -- "$RUN"
contains "$T/err" "expected exactly one experiment file" "no experiment message"
expect 2 "two experiments" -- "$RUN" "$QUICK" "$QUICK"

# -- --validate prints the resolved experiment
expect 0 "--validate" -- "$RUN" --validate "$QUICK"
contains "$T/out" "[env]" "resolved experiment"
contains "$T/out" "max_steps=500" "defaults filled in"
contains "$T/out" "episodes=200" "file values kept"
expect 0 "--validate --seed" -- "$RUN" --validate --seed 9 --set env.max_steps=77 "$QUICK"
contains "$T/out" "seed=9" "--seed applied"
contains "$T/out" "max_steps=77" "--set applied"
[ ! -e runs ] && ok || fail "--validate created a run directory"
# every experiment shipped with derl is valid
for ini in "$top_srcdir"/data/experiments/*.ini; do
  expect 0 "--validate $(basename "$ini")" -- "$RUN" --validate "$ini"
done

# -- bad input: exit 2, the message names file, group, key
printf '[experiment]\nseed = many\n[env]\nname = cartpole\nmax_stepz = 3\n' >"$T/bad.ini"
expect 2 "invalid experiment" -- "$RUN" --validate "$T/bad.ini"
contains "$T/err" "bad.ini: [experiment] seed = many: 'many' is not an integer" "type error message"
contains "$T/err" "bad.ini: [env] max_stepz: unknown key for env 'cartpole'; did you mean 'max_steps'?" "unknown key message"
expect 2 "bad --seed" -- "$RUN" --seed=-3 "$QUICK"
contains "$T/err" "[experiment] seed = -3: -3 is out of range" "--seed validated"
expect 2 "bad --threads" -- "$RUN" -j -1 "$QUICK"
expect 2 "missing file" -- "$RUN" "$T/nope.ini"
contains "$T/err" "nope.ini" "missing file named"

# -- --unset drops a key of the file before validation
printf '[experiment]\nmode = train\n[env]\nname = cartpole\n[optimizer]\nname = ppo\ngae_lambda = 0.9\n' >"$T/ppo.ini"
expect 2 "a PPO key with GRPO" -- "$RUN" --validate --set optimizer.name=grpo "$T/ppo.ini"
contains "$T/err" "[optimizer] gae_lambda: unknown key for optimizer 'grpo'" "the PPO key refused"
expect 0 "--unset the PPO key" -- "$RUN" --validate --set optimizer.name=grpo --unset optimizer.gae_lambda "$T/ppo.ini"
contains "$T/out" "name=grpo" "--set applied beside --unset"
grep -q "gae_lambda" "$T/out" && fail "--unset key still resolved" || ok
expect 0 "--unset: the default applies" -- "$RUN" --validate --unset optimizer.gae_lambda "$T/ppo.ini"
contains "$T/out" "gae_lambda=0.95" "the default after --unset"
expect 2 "--unset an absent key" -- "$RUN" --validate --unset optimizer.gae_lamda "$T/ppo.ini"
contains "$T/err" "--unset optimizer.gae_lamda: [optimizer] of $T/ppo.ini has no key 'gae_lamda'; did you mean 'gae_lambda'?" "absent key named"
expect 2 "--unset an absent group" -- "$RUN" --validate --unset reward.formula "$T/ppo.ini"
contains "$T/err" "--unset reward.formula: $T/ppo.ini has no group [reward]" "absent group named"
expect 2 "--unset and --set of one key" -- "$RUN" --validate --unset optimizer.gae_lambda --set optimizer.gae_lambda=0.5 "$T/ppo.ini"
contains "$T/err" "--unset optimizer.gae_lambda: the key is also given with --set" "conflict named"
expect 2 "--unset malformed" -- "$RUN" --validate --unset optimizer "$T/ppo.ini"
contains "$T/err" "--unset optimizer: expected GROUP.KEY" "malformed --unset"
expect 2 "--unset a required key" -- "$RUN" --validate --unset env.name "$T/ppo.ini"
contains "$T/err" "[env] name: missing required key" "required key after --unset"

# -- a run: its directory, determinism on 1 and 2 threads
expect 0 "run, 1 thread" -- "$RUN" -q -j 1 -o "$T/a" "$QUICK"
[ ! -s "$T/out" ] && ok || fail "--quiet printed something"
for f in experiment.ini metrics.jsonl summary.json; do
  [ -s "$T/a/$f" ] && ok || fail "run directory lacks $f"
done
[ "$(episodes "$T/a" | wc -l)" -eq 200 ] && ok || fail "expected 200 episode events"
contains "$T/a/metrics.jsonl" '"event":"summary"' "summary event"
contains "$T/a/summary.json" '"episodes" : 200' "summary.json"
expect 0 "run, 2 threads" -- "$RUN" -j 2 -o "$T/b" "$QUICK"
contains "$T/out" "evaluate: env cartpole, split test, random policy, seed 1, 2 threads" "summary header"
contains "$T/out" "run directory   $T/b" "summary names the run directory"
episodes "$T/a" >"$T/a.ep"; episodes "$T/b" >"$T/b.ep"
cmp -s "$T/a.ep" "$T/b.ep" && ok || fail "1 and 2 threads gave different episodes"
grep -F '"mean_return"' "$T/a/summary.json" >"$T/a.mean"
grep -F '"mean_return"' "$T/b/summary.json" >"$T/b.mean"
cmp -s "$T/a.mean" "$T/b.mean" && ok || fail "1 and 2 threads gave different summaries"
# The resolved experiment runs again as is, to the same numbers.
expect 0 "rerun resolved" -- "$RUN" -q -o "$T/c" "$T/a/experiment.ini"
episodes "$T/c" >"$T/c.ep"
cmp -s "$T/a.ep" "$T/c.ep" && ok || fail "rerunning the resolved experiment changed the numbers"
cmp -s "$T/a/experiment.ini" "$T/c/experiment.ini" && fail "resolved header should name its source" || ok
# Another seed, other numbers.
expect 0 "run, seed 2" -- "$RUN" -q --seed 2 -o "$T/d" "$QUICK"
episodes "$T/d" >"$T/d.ep"
cmp -s "$T/a.ep" "$T/d.ep" && fail "seed 2 gave the numbers of seed 1" || ok

# -- nothing already written is lost
cp "$T/a/metrics.jsonl" "$T/a.saved"
expect 2 "existing output" -- "$RUN" -q -o "$T/a" "$QUICK"
contains "$T/err" "exists and is not an empty directory" "existing output message"
cmp -s "$T/a/metrics.jsonl" "$T/a.saved" && ok || fail "an existing run was modified"
mkdir "$T/empty"
expect 0 "empty output dir" -- "$RUN" -q -o "$T/empty" "$QUICK"
# Default output: runs/NAME-N, the first free N.
(cd "$T" && "$RUN" -q "$QUICK" && "$RUN" -q "$QUICK") >/dev/null 2>&1
[ -d "$T/runs/cartpole-random-1" ] && [ -d "$T/runs/cartpole-random-2" ] && ok || fail "default run directories"

# -- derl-inspect
expect 0 "inspect list" -- "$INSPECT"
contains "$T/out" "env        cartpole" "list shows cartpole"
contains "$T/out" "available" "list shows availability"
expect 0 "inspect cartpole" -- "$INSPECT" cartpole
contains "$T/out" "max_steps" "cartpole's parameter"
contains "$T/out" "accepts an integer in [1, 10000000]" "its range"
contains "$T/out" "signals         upright centered" "its signals"
contains "$T/out" "target return   475 " "its target return"
expect 0 "inspect --json" -- "$INSPECT" --json cartpole
contains "$T/out" '"name" : "max_steps"' "json parameter"
expect 0 "inspect group" -- "$INSPECT" experiment
contains "$T/out" "seed" "core group keys"
expect 1 "inspect unknown" -- "$INSPECT" cartpol
contains "$T/err" "did you mean 'cartpole'?" "inspect suggestion"
expect 0 "--exists found" -- "$INSPECT" --exists cartpole
expect 1 "--exists missing" -- "$INSPECT" --exists nosuchenv
expect 2 "inspect bad option" -- "$INSPECT" --nope
# Broken plugins are listed with their reason; the good ones still load.
expect 0 "inspect with fixtures" -- "$INSPECT" --plugin-path "$top_builddir/tests/plugins"
contains "$T/out" "unavailable: " "unavailable plugins listed"
contains "$T/out" "fixture-env" "fixture env listed"
contains "$T/out" "built for plugin ABI 42" "ABI reason listed"
expect 1 "--exists for a failed plugin's feature" -- "$INSPECT" --plugin-path "$top_builddir/tests/plugins" --exists fixture-ghost

# -- primitives and formulas
expect 0 "inspect a primitive" -- "$INSPECT" early
contains "$T/out" "Reads the env signals: progress, explore, valid" "a primitive's signals"
expect 0 "inspect [primitives]" -- "$INSPECT" primitives
contains "$T/out" "contains_answer" "primitives listed"
# a formula-trained run evaluated on two splits: one row per split
expect 0 "train with a formula" -- "$RUN" -o "$T/avg" --set train.total_steps=2000 --set train.eval_episodes=5 \
  --set evaluate.episodes=7 --set optimizer.n_groups=2 --set optimizer.group_size=2 \
  "$top_srcdir/data/experiments/household-avg.ini"
contains "$T/out" "final policy, greedy, 7 episodes per split:" "split table header"
contains "$T/out" "    test_unseen " "a row per split"
contains "$T/out" "reached --" "no target for household"
contains "$T/avg/summary.json" '"split" : "test_seen"' "splits in summary.json"
contains "$T/avg/metrics.jsonl" '"g3_mid":' "primitive means logged"
contains "$T/avg/experiment.ini" "g4=late" "the resolved experiment binds the primitives"
expect 0 "the resolved formula experiment runs again" -- "$RUN" --validate "$T/avg/experiment.ini"
# [train] target_return defaults to the env's: household has none, cartpole 475
contains "$T/avg/summary.json" '"target_return" : null' "no target in summary.json"
contains "$T/avg/summary.json" '"first_step_target" : null' "no first_step_target in summary.json"
grep -q "target_return" "$T/avg/experiment.ini" && fail "an unset target_return resolved" || ok
expect 0 "cartpole's target" -- "$RUN" --validate "$top_srcdir/data/experiments/cartpole-ppo.ini"
contains "$T/out" "target_return=475" "cartpole's target_return"
expect 0 "an explicit target for household" -- "$RUN" --validate --set train.target_return=0.5 \
  "$top_srcdir/data/experiments/household-train.ini"
contains "$T/out" "target_return=0.5" "an explicit target_return kept"

# -- tensor backends: name = auto picks cudnn where it can run, else cpu, and
# says which; the resolved experiment names it.  Where the cudnn plugin is
# built but cannot run (no device), naming it fails validation with the reason.
expect 0 "backend auto" -- "$RUN" -o "$T/auto" --set backend.name=auto --set evaluate.episodes=3 "$QUICK"
contains "$T/out" "backend auto: picked " "auto says which backend it picked"
grep -qx 'name=\(cpu\|cudnn\)' "$T/auto/experiment.ini" && ok || fail "the resolved experiment names the backend picked"
contains "$T/auto/experiment.ini" "# name = auto: picked " "the resolved experiment says why"
if "$INSPECT" --exists cudnn >/dev/null 2>&1; then
  expect 0 "inspect cudnn" -- "$INSPECT" cudnn
  contains "$T/out" "Parameters, in group [backend] after 'name = cudnn':" "cudnn described"
  if grep -qx 'name=cpu' "$T/auto/experiment.ini"; then
    expect 2 "cudnn where it cannot run" -- "$RUN" --validate --set backend.name=cudnn "$QUICK"
    contains "$T/err" "[backend] name = cudnn: cannot run here: " "the reason it cannot run"
    why=$(sed -n 's/.*cannot run here: //p' "$T/err")
    contains "$T/auto/experiment.ini" "picked cpu (cudnn: $why)" "auto gives the same reason"
  fi
fi
# -- a DERL run killed with SIGKILL mid-way and resumed ends as an uninterrupted one
derl_small () { # DIR: a small DERL run into DIR, in the background
  "$RUN" -q -o "$1" --set meta.outer_steps=4 --set meta.group_size=2 --set train.total_steps=4000 \
    --set train.eval_episodes=10 --set evaluate.episodes=10 --set optimizer.n_groups=2 \
    --set optimizer.group_size=2 --set meta.cold_start="$top_srcdir/data/formulas/cold-start.txt" \
    "$top_srcdir/data/experiments/household-derl.ini" >"$T/derl-out" 2>&1 &
}
untimed () { sed -E 's/,"(wall_seconds|steps_per_second|inner_seconds|generate_seconds|update_seconds)":[-0-9.e+]+//g' "$1"; }
derl_small "$T/whole"; wait $!
[ $? -eq 0 ] && ok || fail "uninterrupted DERL run"
derl_small "$T/killed"; pid=$!
n=0
until grep -qs '"outer_steps_done" : 2' "$T/killed/state.json" || [ $n -ge 600 ]; do sleep 0.1; n=$((n + 1)); done
kill -9 "$pid"; wait "$pid" 2>/dev/null
grep -qs '"outer_steps_done" : 4' "$T/killed/state.json" && fail "the run ended before it was killed" || ok
expect 0 "--resume after SIGKILL" -- "$RUN" -q --resume "$T/killed"
for f in formulas.jsonl metrics.jsonl best-formula.txt; do
  if [ "$(untimed "$T/whole/$f")" = "$(untimed "$T/killed/$f")" ]; then ok; else
    fail "resumed $f differs from the uninterrupted run's"; diff "$T/whole/$f" "$T/killed/$f" | head -5; fi
done
cmp -s "$T/whole/meta.ckpt" "$T/killed/meta.ckpt" && ok || fail "resumed meta.ckpt differs"
expect 2 "--resume with an experiment" -- "$RUN" --resume "$T/killed" "$QUICK"
expect 2 "--resume of an evaluate run" -- "$RUN" --resume "$T/avg"

# -- --resume refuses a damaged run directory (exit 2, naming the file) and
# changes nothing in it; it says a finished run is complete (exit 0)
expect 0 "--resume of a finished run" -- "$RUN" --resume "$T/whole"
contains "$T/out" "the run is complete" "--resume of a finished run says so"
contains "$T/out" "$T/whole/results.md" "--resume of a finished run names the results"
damaged () { # NAME: a copy of the finished run, as if stopped before summary.json
  rm -rf "$T/$1"; cp -rp "$T/whole" "$T/$1"; rm -f "$T/$1/summary.json"
}
unchanged () { # NAME WHAT
  if (cd "$T/$1" && cksum * | sort) >"$T/after" && [ "$(cat "$T/before")" = "$(cat "$T/after")" ]; then ok
  else fail "$2 changed the run directory"; diff "$T/before" "$T/after" | head -5; fi
}
refused_resume () { # NAME NEEDLE WHAT
  (cd "$T/$1" && cksum * | sort) >"$T/before"
  expect 2 "$3" -- "$RUN" -q --resume "$T/$1"
  contains "$T/err" "$2" "$3"
  unchanged "$1" "$3"
}
damaged nof; rm "$T/nof/formulas.jsonl"
refused_resume nof "nof/formulas.jsonl: cannot resume: 0 formula records of the 4 completed outer steps, 8 expected" \
  "--resume, formulas.jsonl missing"
damaged emptyf; : >"$T/emptyf/formulas.jsonl"
refused_resume emptyf "emptyf/formulas.jsonl: cannot resume: 0 formula records" "--resume, formulas.jsonl empty"
damaged lastf; sed -i '$d' "$T/lastf/formulas.jsonl"
refused_resume lastf "lastf/formulas.jsonl: cannot resume: 7 formula records" "--resume, the last record dropped"
damaged dupf; tail -1 "$T/dupf/formulas.jsonl" >>"$T/dupf/formulas.jsonl"
refused_resume dupf "dupf/formulas.jsonl: cannot resume: line 9 repeats outer step 4" "--resume, a record twice"
damaged nom; grep -v '"event":"outer"' "$T/whole/metrics.jsonl" >"$T/nom/metrics.jsonl"
refused_resume nom "nom/metrics.jsonl: cannot resume: 0 outer events" "--resume, metrics.jsonl without its steps"
damaged badstate; printf '{"mode":"derl","outer_steps_done":"4"}\n' >"$T/badstate/state.json"
refused_resume badstate "badstate/state.json: cannot resume: not the state of a derl run" "--resume, state.json damaged"
damaged badmeta; printf 'DERLCKPT' >"$T/badmeta/meta.ckpt"
refused_resume badmeta "badmeta/meta.ckpt: cannot resume" "--resume, meta.ckpt damaged"
damaged nometa; rm "$T/nometa/meta.ckpt"
refused_resume nometa "cannot resume: $T/nometa/meta.ckpt: cannot read the policy checkpoint" "--resume, meta.ckpt missing"
expect 2 "--resume of no directory" -- "$RUN" --resume "$T/none"
contains "$T/err" "$T/none: not a run directory" "--resume of no directory"

# -- what an experiment names is checked before its run directory is made
expect 2 "cold_start missing" -- "$RUN" -q -o "$T/late" --set meta.cold_start="$T/none.txt" \
  "$top_srcdir/data/experiments/household-derl.ini"
contains "$T/err" "[meta] cold_start: $T/none.txt: cannot read the file of cold-start formulas" "cold_start missing"
[ ! -e "$T/late" ] && ok || fail "a missing cold_start left a run directory"
expect 2 "cold_start a directory" -- "$RUN" -q -o "$T/late" --set meta.cold_start="$T" \
  "$top_srcdir/data/experiments/household-derl.ini"
[ ! -e "$T/late" ] && ok || fail "cold_start naming a directory left a run directory"
printf 'g1 + 0.123456 * g2\n' >"$T/cold.txt"
expect 2 "cold_start not formulas of the grammar" -- "$RUN" -q -o "$T/late" --set meta.cold_start="$T/cold.txt" \
  "$top_srcdir/data/experiments/household-derl.ini"
contains "$T/err" "cold.txt:1: '0.123456 * g2' at column 6 is not a token of the formula grammar" "cold_start grammar"
[ ! -e "$T/late" ] && ok || fail "a cold_start found bad when the run started left a run directory"
expect 2 "[evaluate] policy missing" -- "$RUN" -q -o "$T/late" --set evaluate.policy="$T/none.ckpt" "$QUICK"
contains "$T/err" "$T/none.ckpt: cannot read the policy checkpoint" "[evaluate] policy missing"
[ ! -e "$T/late" ] && ok || fail "a missing [evaluate] policy left a run directory"

finish
