#!/bin/sh
# derl quick start on Debian (and derivatives).
#
#   ./quickstart.sh         install missing build dependencies, build derl and
#                           run the quick-start experiment on the CPU
#   ./quickstart.sh check   the same set-up, then the whole test suite
#                           (make check, then make distcheck)
#
# Build dependencies are installed with apt-get when missing: as root
# directly, otherwise through sudo.  Nothing is installed system-wide by the
# build itself; run `make install` for that.
set -eu
cd "$(dirname "$0")"

usage () {
  sed -n '2,12s/^# \{0,1\}//p' "$0"
}

mode=${1:-run}
case $mode in
  run|check) ;;
  -h|--help) usage; exit 0 ;;
  *) usage >&2; exit 2 ;;
esac

# Debian packages derl needs to build and test.
PACKAGES="build-essential autoconf automake libtool pkg-config libglib2.0-dev libjson-glib-dev check"

install_dependencies () {
  if ! command -v dpkg-query >/dev/null 2>&1; then
    echo "quickstart: not a Debian system; make sure these (or your distribution's" >&2
    echo "  equivalents) are installed: $PACKAGES" >&2
    return 0
  fi
  missing=
  for p in $PACKAGES; do
    dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
  done
  [ -z "$missing" ] && return 0
  if [ "$(id -u)" -eq 0 ]; then
    sudo=
  elif command -v sudo >/dev/null 2>&1; then
    sudo=sudo
  else
    echo "quickstart: missing Debian packages:$missing" >&2
    echo "  install them as root with: apt-get install$missing" >&2
    exit 1
  fi
  echo "quickstart: installing$missing"
  if ! { $sudo apt-get update -q && DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q --no-install-recommends $missing; }; then
    echo "quickstart: apt-get could not install:$missing" >&2
    echo "  install them by hand, then run $0 $mode again" >&2
    exit 1
  fi
}

# Sums the results of every test log: Check suites ("Checks: N, Failures:
# F, Errors: E") and the shell tests ("N passed, M failed").
summarise_tests () {
  cat tests/*.log 2>/dev/null | awk '
    /Checks: [0-9]+, Failures: [0-9]+, Errors: [0-9]+/ {
      gsub(/[^0-9 ]/, " "); n = split($0, f, " "); c = f[n-2]; fl = f[n-1]; e = f[n]
      passed += c - fl - e; failed += fl + e; next }
    /^[0-9]+ passed, [0-9]+ failed$/ { passed += $1; failed += $3 }
    END { printf "check: %d passed, %d failed\n", passed, failed }'
}

install_dependencies
jobs=$(nproc 2>/dev/null || echo 2)
[ -x configure ] || ./autogen.sh
[ -f Makefile ] || ./configure
make -j"$jobs"

if [ "$mode" = run ]; then
  echo
  echo "\$ derl-run data/experiments/quickstart.ini"
  exec ./core/derl-run data/experiments/quickstart.ini
fi

status=0
make -j"$jobs" check VERBOSE=1 || status=$?
summarise_tests
[ "$status" -eq 0 ] || exit "$status"
make -j"$jobs" distcheck VERBOSE=1
summarise_tests
