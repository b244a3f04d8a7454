#!/bin/sh
# An out-of-tree plugin, as a third party would build it: install derl into
# a DESTDIR, build examples/plugin against it with pkg-config derl-1 alone,
# and load it through DERL_PLUGIN_PATH with the installed programs.
test_name=oot
. "$(dirname "$0")/test-lib.sh"
command -v pkg-config >/dev/null 2>&1 || { echo "SKIP: pkg-config not found"; exit 77; }

DEST="$T/dest"
if ! $MAKE -C "$top_builddir" install DESTDIR="$DEST" >"$T/install.log" 2>&1; then
  cat "$T/install.log"; echo "FAIL: make install DESTDIR"; exit 1
fi
pc=$(find "$DEST" -name derl-1.pc | head -n 1)
[ -n "$pc" ] && ok || { echo "FAIL: derl-1.pc not installed"; exit 1; }
# The staged derl-1.pc, relocated to the DESTDIR, as a packager's would be
# once installed.  (PKG_CONFIG_SYSROOT_DIR would also move GLib's paths.)
prefix=$(PKG_CONFIG_PATH="$(dirname "$pc")" pkg-config --variable=prefix derl-1)
mkdir "$T/pc" && sed "s|^prefix=.*|prefix=$DEST$prefix|" "$pc" >"$T/pc/derl-1.pc"
export PKG_CONFIG_PATH="$T/pc"
libdir=$(pkg-config --variable=libdir derl-1)
pluginsdir=$(pkg-config --variable=pluginsdir derl-1)
[ "$pluginsdir" = "$libdir/derl-1/plugins" ] && ok || fail "pluginsdir is $pluginsdir"
[ -f "$pluginsdir/cartpole.so" ] && ok || fail "cartpole.so not installed in pluginsdir"
for h in derl.h env.h plugin.h param.h rng.h registry.h version.h; do
  [ -f "$DEST$prefix/include/derl-1/derl/$h" ] && ok || fail "header $h not installed"
done
pkg-config --cflags derl-1 | grep -q -- "-I$DEST$prefix/include/derl-1" && ok || fail "pkg-config --cflags"
for m in man1/derl-run.1 man1/derl-inspect.1 man5/derl-experiment.5 man7/derl-plugin.7; do
  [ -n "$(find "$DEST" -path "*/man/$m")" ] && ok || fail "man page $m not installed"
done

# Build the example exactly as its README says, from a copy outside the tree.
mkdir "$T/src" && cp "$top_srcdir/examples/plugin/hello.c" "$top_srcdir/examples/plugin/Makefile" "$T/src/"
if $MAKE -C "$T/src" >"$T/build.log" 2>&1; then ok; else cat "$T/build.log"; fail "building the example plugin"; fi
so=$(find "$T/src" -name '*.so' | head -n 1)
if [ -n "$so" ]; then
  exported=$(nm -D --defined-only "$so" 2>/dev/null | awk '$2 ~ /^[TDBR]$/ { print $3 }' | grep -v '^_' | tr '\n' ' ')
  [ "$exported" = "derl_plugin_get_desc " ] && ok || fail "example exports: $exported"
fi

export LD_LIBRARY_PATH="$libdir" DERL_PLUGIN_SYSTEM_PATH="$pluginsdir" DERL_PLUGIN_PATH="$T/src"
INSPECT="$DEST$prefix/bin/derl-inspect"
RUN="$DEST$prefix/bin/derl-run"
"$INSPECT" --exists hello-chain && ok || fail "derl-inspect --exists hello-chain"
"$INSPECT" >"$T/list" 2>&1
grep -q "hello-chain" "$T/list" && grep -q "cartpole" "$T/list" && ok || { cat "$T/list"; fail "installed listing"; }
"$INSPECT" hello-chain >"$T/desc" 2>&1 && grep -q "length" "$T/desc" && ok || { cat "$T/desc"; fail "describe hello-chain"; }
"$INSPECT" --check hello-chain >"$T/check" 2>&1 && ok || { cat "$T/check"; fail "derl-inspect --check hello-chain"; }
printf '[evaluate]\nepisodes = 20\nsplit = train\n[env]\nname = hello-chain\nlength = 3\n' >"$T/hello.ini"
if "$RUN" -q -o "$T/run" "$T/hello.ini" 2>"$T/err"; then
  [ "$(grep -c '"event":"episode"' "$T/run/metrics.jsonl")" -eq 20 ] && ok || fail "hello-chain run log"
else
  cat "$T/err"; fail "derl-run with the out-of-tree env"
fi

finish
