#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# The README's two commands, tools/demo.sh and tools/test-all.sh, before they
# install or build anything: usage errors at once, and a source tree
# configured in place refused with the way out (their out-of-tree configure
# used to stop with "source directory already configured" after minutes of
# package installation).  Each runs from a scratch copy of tools/ next to a
# config.status, so nothing of the real tree is touched.
top_srcdir=${top_srcdir:-$(dirname "$0")/../..}
. "$top_srcdir/tests/tap.sh"

tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT
trap 'exit 1' HUP INT TERM

# Copies, never the tree's own scripts: a test-all.sh whose argument
# handling broke would otherwise start the real suite from make check.
mkdir -p "$tmp/args/tools" && cp "$top_srcdir/tools/test-all.sh" "$tmp/args/tools/"
ta="$tmp/args/tools/test-all.sh"
out=$(timeout 20 bash "$ta" --help 2>/dev/null); rc=$?
[ $rc -eq 0 ] && echo "$out" | grep -q '^usage: tools/test-all.sh' && echo "$out" | grep -q SVA_TIERS
ok $? "tools/test-all.sh --help: the usage and SVA_TIERS, on standard output (exit $rc)"
for args in "gcc:gcc" "--help extra:extra" "--frobnicate:--frobnicate"; do
	# shellcheck disable=SC2086 # split on purpose
	err=$(timeout 20 bash "$ta" ${args%%:*} 2>&1 >/dev/null); rc=$?
	[ $rc -eq 2 ] && echo "$err" | grep -q "unexpected argument '${args#*:}'; usage: tools/test-all.sh"
	ok $? "tools/test-all.sh ${args%%:*}: a usage error naming '${args#*:}', not the suite (exit $rc)"
	[ ! -e "$tmp/args/build" ]
	ok $? "  and it built nothing (no build/)"
done

# An empty argument is an argument: demo.sh '' used to boot the VM demo (after
# installing packages and building), whatever followed it.  The copy sits next
# to a config.status, so a regression stops there instead of building.
mkdir -p "$tmp/empty/tools" && cp "$top_srcdir/tools/demo.sh" "$tmp/empty/tools/" && : > "$tmp/empty/config.status"
for args in "''" "'' --bogus" "'' extra"; do
	err=$(eval timeout 20 bash "$tmp/empty/tools/demo.sh" "$args" 2>&1 >/dev/null); rc=$?
	[ $rc -eq 2 ] && echo "$err" | grep -q "unexpected argument ''; usage: tools/demo.sh"
	ok $? "tools/demo.sh $args: a usage error naming the empty argument, not the VM demo (exit $rc)"
done

mkdir -p "$tmp/src/tools" && cp "$ta" "$top_srcdir/tools/demo.sh" "$tmp/src/tools/" && : > "$tmp/src/config.status"
for s in test-all.sh demo.sh; do
	err=$(timeout 20 bash "$tmp/src/tools/$s" 2>&1 >/dev/null); rc=$?
	[ $rc -eq 2 ] && echo "$err" | grep -q "configured in place (config.status): run 'make distclean' there first"
	ok $? "tools/$s in a tree configured in place: refused at once, saying to run make distclean (exit $rc)"
	[ ! -e "$tmp/src/build" ]
	ok $? "  and it built nothing (no build/)"
done
done_testing
