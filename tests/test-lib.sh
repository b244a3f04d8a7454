# Shared preamble of the shell tests; name the test, then source it:
#   test_name=NAME
#   . "$(dirname "$0")/test-lib.sh"
# Sets top_builddir/top_srcdir (absolute), RUN, INSPECT, QUICK, a scratch
# directory $T removed at exit, ok/fail/finish for counting results, and
# expect/contains for checking a command.
set -u
: "${top_builddir:=.}" "${top_srcdir:=.}" "${MAKE:=make}"
top_builddir=$(cd "$top_builddir" && pwd) top_srcdir=$(cd "$top_srcdir" && pwd)
RUN="$top_builddir/core/derl-run"
INSPECT="$top_builddir/core/derl-inspect"
QUICK="$top_srcdir/data/experiments/cartpole-random.ini"
T="$top_builddir/tests/tmp-$test_name-$$"
rm -rf "$T" && mkdir -p "$T" || exit 99
trap 'rm -rf "$T"' EXIT
passed=0 failed=0

ok () { passed=$((passed + 1)); }
fail () { failed=$((failed + 1)); echo "FAIL: $*"; }
# expect STATUS DESCRIPTION -- COMMAND...: runs it (output in $T/out and
# $T/err) and checks its exit status.
expect () {
  want=$1 what=$2; shift 3
  "$@" >"$T/out" 2>"$T/err"; got=$?
  if [ "$got" -eq "$want" ]; then ok; else fail "$what: exit $got, expected $want"; sed 's/^/  | /' "$T/out" "$T/err"; fi
}
# contains FILE TEXT DESCRIPTION: FILE holds TEXT.
contains () {
  if grep -qF -- "$2" "$1"; then ok; else fail "$3: '$2' not in $1"; sed 's/^/  | /' "$1"; fi
}
# The closing line, and the exit status.
finish () {
  echo "$passed passed, $failed failed"
  [ "$failed" -eq 0 ]
}
