# Shared preamble of the shell tests; name the test, then source it:
#   test_name=NAME
#   . "$(dirname "$0")/test-lib.sh"
# Sets top_builddir/top_srcdir (absolute), RUN, INSPECT, QUICK, a scratch
# directory $T removed at exit, and ok/fail/finish for counting results.
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
# The closing line, and the exit status.
finish () {
  echo "$passed passed, $failed failed"
  [ "$failed" -eq 0 ]
}
