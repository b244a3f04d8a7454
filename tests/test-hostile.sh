#!/bin/sh
# Hostile experiment files given to derl-run: truncated, binary, huge, odd
# paths.  Each must be refused with exit status 2 and a message naming the
# file; never a crash (a signal gives a status above 128).
test_name=hostile
. "$(dirname "$0")/test-lib.sh"
refused () { # FILE DESCRIPTION
  "$RUN" --validate "$1" >"$T/out" 2>"$T/err"; got=$?
  if [ "$got" -ne 2 ]; then
    failed=$((failed + 1)); echo "FAIL: $2: exit $got, expected 2"; sed 's/^/  | /' "$T/err"
  elif ! grep -qF "$(basename "$1")" "$T/err"; then
    failed=$((failed + 1)); echo "FAIL: $2: message does not name the file"; sed 's/^/  | /' "$T/err"
  else
    passed=$((passed + 1))
  fi
}
loads_or_refused () { # FILE DESCRIPTION: any answer but a crash
  "$RUN" --validate "$1" >/dev/null 2>&1; got=$?
  if [ "$got" -eq 0 ] || [ "$got" -eq 2 ]; then passed=$((passed + 1))
  else failed=$((failed + 1)); echo "FAIL: $2: exit $got"; fi
}

size=$(wc -c <"$QUICK")
# Every truncation of the quick-start experiment.
n=0
while [ "$n" -lt "$size" ]; do
  head -c "$n" "$QUICK" >"$T/trunc.ini"
  loads_or_refused "$T/trunc.ini" "truncated at $n bytes"
  n=$((n + 7))
done
# Truncations that cut the [env] group off are refused.
head -c 40 "$QUICK" >"$T/cut.ini"; refused "$T/cut.ini" "truncated before [env]"
# Binary.
head -c 4096 /dev/urandom >"$T/random.ini"; refused "$T/random.ini" "random bytes"
printf '[env]\000name = cartpole\n' >"$T/nul.ini"; refused "$T/nul.ini" "NUL byte"
printf '[env]\nname = cart\377pole\n' >"$T/latin.ini"; refused "$T/latin.ini" "invalid UTF-8"
for so in "$top_builddir"/core/.libs/libderl-1.so*; do [ -f "$so" ] && cp "$so" "$T/elf.ini" && break; done
refused "$T/elf.ini" "a shared library"
# Huge.
head -c 3000000 /dev/zero | tr '\0' '#' >"$T/huge.ini"; refused "$T/huge.ini" "3 MB of comments"
awk 'BEGIN { print "[env]"; printf "name = "; for (i = 0; i < 200000; i++) printf "cartpole"; print "" }' >"$T/longline.ini"
refused "$T/longline.ini" "a 1.6 MB line"
awk 'BEGIN { for (i = 0; i < 20000; i++) printf "[g%d]\nk = v\n", i }' >"$T/groups.ini"
refused "$T/groups.ini" "20000 groups"
# Odd values and paths.
printf '[env]\nname = cartpole\nmax_steps = 99999999999999999999999\n' >"$T/bigint.ini"; refused "$T/bigint.ini" "integer overflow"
printf '[env]\nname = cartpole\nmax_steps = \\\n' >"$T/escape.ini"; refused "$T/escape.ini" "dangling escape"
printf '[env]\nname = cartpole\nmax_steps = \\T\\\n' >"$T/escapes.ini"; refused "$T/escapes.ini" "a bad escape and a dangling one"
grep -qF "escapes.ini:3: [env] max_steps: '\\T' is not an escape" "$T/err" && passed=$((passed + 1)) \
  || { failed=$((failed + 1)); echo "FAIL: a bad escape not named"; cat "$T/err"; }
printf '[env]\nname = cartpole\n[env]\nname = household\n' >"$T/twice.ini"; refused "$T/twice.ini" "group twice"
refused "$T" "a directory"
refused "$T/does-not-exist.ini" "a missing file"
: >"$T/empty.ini"; refused "$T/empty.ini" "an empty file"
# Hostile formulas and primitive bindings.
formula () { # TEXT DESCRIPTION [PRIMITIVES]: refused, the message naming [reward] formula
  printf '[experiment]\nmode = train\n[env]\nname = household\n[optimizer]\nname = grpo\n[primitives]\n%s\n[reward]\nformula = %s\n' \
    "${3:-g1 = success}" "$1" >"$T/formula.ini"
  refused "$T/formula.ini" "$2"
  if ! grep -qF "[reward] formula" "$T/err"; then
    failed=$((failed + 1)); echo "FAIL: $2: message does not name [reward] formula"; sed 's/^/  | /' "$T/err"
  fi
}
formula 'g1 +' "a formula cut short"
formula '((((((((((((((((((((((((((((((((((((((((g1))))))))))))))))))))))))))))))))))))))))' "nesting 40 deep"
formula "$(awk 'BEGIN { for (i = 0; i < 1500; i++) printf "g1+"; print "g1" }')" "a formula of 3001 tokens"
formula '1e999 * g1' "a constant too large"
formula 'nan * g1' "nan"
formula 'g1 / 0' "a division by zero"
formula 'g0 + g1' "g0"
formula 'g1 + g99999999999999999999' "a variable past the bound ones"
formula "$(printf 'g1 \342\210\222 g1')" "a unicode minus"
formula 'g1 ; rm -rf /' "shell text"
printf '[experiment]\nmode = train\n[env]\nname = household\n[primitives]\ng1 = succ\033ess\ng2 = ../../x\n' >"$T/prim.ini"
refused "$T/prim.ini" "control bytes and paths as primitive names"

# Files that are not regular: read within the limit, never without end;
# a FIFO without a writer reads as empty at once.
TIMEOUT=$(command -v timeout >/dev/null 2>&1 && echo "timeout 60" || echo "")
bounded () { # DESCRIPTION NEEDLE -- COMMAND...: exit 2 (not a timeout), the message holding NEEDLE
  what=$1 needle=$2; shift 3
  $TIMEOUT "$@" >"$T/out" 2>"$T/err" </dev/null; got=$?
  if [ "$got" -ne 2 ]; then failed=$((failed + 1)); echo "FAIL: $what: exit $got, expected 2"; sed 's/^/  | /' "$T/err"
  elif ! grep -qF -- "$needle" "$T/err"; then
    failed=$((failed + 1)); echo "FAIL: $what: '$needle' not in the message"; sed 's/^/  | /' "$T/err"
  else passed=$((passed + 1)); fi
}
bounded "--validate /dev/zero" "/dev/zero: is a device, not an experiment file" -- "$RUN" --validate /dev/zero
head -c 3000000 /dev/zero | tr '\0' '#' >"$T/big-comments"
bounded "an experiment from a pipe" "too large for an experiment file" -- \
  sh -c "cat '$T/big-comments' | '$RUN' --validate /dev/stdin"
if mkfifo "$T/fifo" 2>/dev/null; then
  bounded "a FIFO without a writer" "missing required key" -- "$RUN" --validate "$T/fifo"
fi
household_derl () { # EXTRA LINES: a derl experiment
  printf '[experiment]\nmode = derl\n[env]\nname = household\n[optimizer]\nname = grpo\n[primitives]\ng1 = success\n%s\n' "$1" >"$T/derl.ini"
}
household_derl "$(printf '[meta]\ncold_start = /dev/zero')"
bounded "[meta] cold_start = /dev/zero" "[meta] cold_start: /dev/zero: is a device, not a file of cold-start formulas" -- \
  "$RUN" --validate "$T/derl.ini"
household_derl "$(printf '[meta]\ncold_start = /dev/stdin')"
bounded "[meta] cold_start = a pipe of zeros" "[meta] cold_start: /dev/stdin: too large for a file of cold-start formulas (more than 1048576 bytes)" -- \
  sh -c "head -c 3000000 /dev/zero | '$RUN' --validate '$T/derl.ini'"
printf '[experiment]\nmode = evaluate\n[env]\nname = cartpole\n[evaluate]\npolicy = /dev/zero\n' >"$T/eval.ini"
bounded "[evaluate] policy = /dev/zero" "/dev/zero: is a device, not a policy checkpoint" -- "$RUN" --validate "$T/eval.ini"
household_derl "$(printf '[meta]\ncold_start = %s' "$T")"
bounded "[meta] cold_start = a directory" "is a directory, not a file of cold-start formulas" -- "$RUN" --validate "$T/derl.ini"
household_derl "$(printf '[meta]\ncold_start = %s/none.txt' "$T")"
bounded "[meta] cold_start = a missing file" "[meta] cold_start: $T/none.txt: cannot read" -- "$RUN" --validate "$T/derl.ini"
printf '[experiment]\nmode = evaluate\n[env]\nname = cartpole\n[evaluate]\npolicy = %s\n' "$T" >"$T/eval.ini"
bounded "[evaluate] policy = a directory" "is a directory, not a policy checkpoint" -- "$RUN" --validate "$T/eval.ini"
if [ -p "$T/fifo" ]; then
  printf '[experiment]\nmode = evaluate\n[env]\nname = cartpole\n[evaluate]\npolicy = %s\n' "$T/fifo" >"$T/eval.ini"
  bounded "[evaluate] policy = a FIFO" "fifo: not a usable policy checkpoint" -- "$RUN" --validate "$T/eval.ini"
fi

# What GKeyFile would take silently: a key twice, a group twice with
# conflicting values, KEY[LOCALE] lines; each refused naming the lines.
printf '[experiment]\nseed = 1\nseed = 2\n[env]\nname = cartpole\n' >"$T/dup.ini"
bounded "a key twice" "dup.ini:3: [experiment] seed: given twice (first at line 2)" -- "$RUN" --validate "$T/dup.ini"
printf '[env]\nname = cartpole\nmax_steps = 10\n[experiment]\nseed = 1\n[env]\nmax_steps = 20\n' >"$T/dupgroup.ini"
bounded "a group twice, conflicting" "dupgroup.ini:7: [env] max_steps: given twice (first at line 3)" -- \
  "$RUN" --validate "$T/dupgroup.ini"
printf '[env]\nname = cartpole\nmax_steps[de_DE] = -1\n' >"$T/locale.ini"
bounded "a KEY[LOCALE] line" "locale.ini:3: [env] max_steps[de_DE]: localized keys" -- "$RUN" --validate "$T/locale.ini"
# User text in messages: short, and every byte visible.
awk 'BEGIN { print "[env]"; print "name = cartpole"; for (i = 0; i < 100000; i++) printf "kkkkkkkkkk"; print " = 1" }' >"$T/longkey.ini"
bounded "a 1 MB key" "kkkkkkkkkk..." -- "$RUN" --validate "$T/longkey.ini"
[ "$(wc -c <"$T/err")" -lt 400 ] && passed=$((passed + 1)) || { failed=$((failed + 1)); echo "FAIL: the message quoting a 1 MB key has $(wc -c <"$T/err") bytes"; }
printf '\357\273\277[env]\nname = cartpole\n' >"$T/bom.ini"
bounded "a byte order mark" '\ufeff[env]' -- "$RUN" --validate "$T/bom.ini"
bounded "--set VALUE not UTF-8" "--set env.max_steps=...: the value is not one line of UTF-8 text" -- \
  "$RUN" --validate --set "env.max_steps=$(printf '1\377')" "$QUICK"
printf '[env]\nname = cart\001pole\n' >"$T/ctl.ini"
bounded "a control byte in a value" "no env named 'cart\\x01pole'" -- "$RUN" --validate "$T/ctl.ini"

finish
