#!/bin/sh
# derl-inspect --check: every shipped env and primitive passes its checks;
# the faulty fixture env fails the check its fault breaks, and only that
# one; bad input gives exit status 2.
test_name=inspect-check
. "$(dirname "$0")/test-lib.sh"
FIXTURES="$top_builddir/tests/plugins"

# -- the shipped envs and primitives
for env in cartpole household; do
  expect 0 "--check $env" -- "$INSPECT" --check "$env"
  contains "$T/out" "all checks passed" "$env: the closing line"
done
contains "$T/out" "determinism      PASS" "household: the determinism row"
contains "$T/out" "truncation       PASS" "household: the truncation row"
expect 0 "--check household with --set" -- "$INSPECT" --check household --set max_steps=8 --set n_objects=3 --episodes 5
contains "$T/out" "max_steps 8" "the --set value is used"
"$INSPECT" primitives | sed -n 's/^  \([a-z_]*\)$/\1/p' >"$T/primitives"
[ "$(wc -l <"$T/primitives")" -ge 10 ] && ok || fail "the primitives listed: $(cat "$T/primitives")"
for p in $(cat "$T/primitives"); do
  expect 0 "--check $p" -- "$INSPECT" --check "$p"
done
expect 0 "--check a primitive on a named env" -- "$INSPECT" --check early --env household --set max_steps=5
contains "$T/out" "random episodes of env 'household'" "the named env"
expect 0 "--check --json" -- "$INSPECT" --check cartpole --json
contains "$T/out" '"passed" : true' "json result"

# -- the faulty fixture: each fault fails its own check
expect 0 "--check the faulty fixture without a fault" -- "$INSPECT" --plugin-path "$FIXTURES" --check faulty
for case in nan-obs:outputs:"observation[3] is nan at split 'train', task 0, step 3" \
            nan-reward:outputs:"reward is nan" \
            inf-signal:outputs:"signal[1] 'tick' is +inf" \
            nan-candidate:outputs:"candidates[1][1] (an admissible action) is nan" \
            bad-mask:outputs:"action_mask[1] is 2" \
            empty-mask:outputs:"action_mask has no admissible action" \
            nondeterministic:determinism:"a fresh instance differs at step 0" \
            no-truncation:truncation:"truncated is never set" \
            same-tasks:"tasks differ":"every task of split train, val gives the same trajectory" \
            bad-set-state:state:"after set_state(get_state())"; do
  fault=${case%%:*} rest=${case#*:}; check=${rest%%:*} text=${rest#*:}
  expect 1 "--check faulty, fault $fault" -- "$INSPECT" --plugin-path "$FIXTURES" --check faulty --set fault="$fault"
  contains "$T/out" "$text" "fault $fault: the detail"
  if grep -q "^$check *FAIL" "$T/out" && [ "$(grep -c ' FAIL ' "$T/out")" -eq 1 ]; then ok
  else fail "fault $fault: expected only '$check' to fail"; sed 's/^/  | /' "$T/out"; fi
done
expect 1 "--check faulty --json" -- "$INSPECT" --plugin-path "$FIXTURES" --check faulty --set fault=nan-obs --json
contains "$T/out" '"passed" : false' "json failure"

# -- bad input
expect 2 "--check an unknown name" -- "$INSPECT" --check cartpol
contains "$T/err" "did you mean 'cartpole'?" "the suggestion"
expect 2 "--check an optimizer" -- "$INSPECT" --check ppo
contains "$T/err" "'ppo' is an optimizer" "not an env or primitive"
expect 2 "--check with a bad --set" -- "$INSPECT" --check cartpole --set max_steps=0
contains "$T/err" "--set max_steps=0: env 'cartpole':" "the --set named"
expect 2 "--check with an unknown key" -- "$INSPECT" --check cartpole --set nope=1
expect 2 "--check with a malformed --set" -- "$INSPECT" --check cartpole --set max_steps
expect 2 "--set without --check" -- "$INSPECT" cartpole --set max_steps=3
expect 2 "--episodes 0" -- "$INSPECT" --check cartpole --episodes 0
expect 2 "--env naming no env" -- "$INSPECT" --check early --env nosuch
finish
