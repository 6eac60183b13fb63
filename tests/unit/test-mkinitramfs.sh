#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# The test VM's packer (tests/vm/mkinitramfs.sh): what it runs and in which
# order, whatever the binaries are called.  A test named "order" used to
# overwrite the list of tests to run (the VM then ran the ELF's bytes as
# names); two binaries of one name, a helper among them, must be refused.
# Needs busybox-static and cpio (tools/install-deps.sh vm): a skip without.
#
#   top_srcdir=/path/to/libsva sh tests/unit/test-mkinitramfs.sh

top_srcdir=${top_srcdir:-$(dirname "$0")/../..}
. "$top_srcdir/tests/tap.sh"

mk=$top_srcdir/tests/vm/mkinitramfs.sh
tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT

static_busybox

# Static copies of a small ELF under the names the packer must handle.
mkdir -p "$tmp/a" "$tmp/b" "$tmp/out"
cp "$bb" "$tmp/a/order"
cp "$bb" "$tmp/a/second"
cp "$bb" "$tmp/b/second"
cp "$bb" "$tmp/a/helper"

sh "$mk" "$tmp/out/ok.cpio.gz" "$tmp/a/order" "$tmp/a/second" "+$tmp/a/helper" >"$tmp/log" 2>&1
ok $? "a test named order and a helper are packed"
diag_file "$tmp/log"
(cd "$tmp/out" && mkdir x && cd x && gzip -dc ../ok.cpio.gz | cpio -id --quiet 2>/dev/null)
cmp -s "$tmp/a/order" "$tmp/out/x/tests/order"
ok $? "the test named order is packed as itself"
printf 'order\nsecond\n' | cmp -s - "$tmp/out/x/sva-tests.order"
ok $? "the run list names the two tests in order, not the helper"

sh "$mk" "$tmp/out/dup.cpio.gz" "$tmp/a/second" "$tmp/b/second" >"$tmp/log" 2>&1
st=$?
[ $st -ne 0 ] && grep -q "two binaries named second" "$tmp/log"
ok $? "two tests of one name: refused, saying so (status $st)"
sh "$mk" "$tmp/out/dup2.cpio.gz" "$tmp/a/second" "+$tmp/b/second" >"$tmp/log" 2>&1
st=$?
[ $st -ne 0 ] && grep -q "two binaries named second" "$tmp/log"
ok $? "a helper named like a test: refused too (status $st)"

# Two builds' libraries of one soname (a gcc and an ASan libsva.so.1): the
# guest has one /lib/sva, so the second binary would run on the first one's.
if command -v cc >/dev/null 2>&1; then
	mkdir -p "$tmp/l1" "$tmp/l2" "$tmp/p"
	echo 'int svafoo(void) { return 1; }' >"$tmp/l1.c"
	echo 'int svafoo(void) { return 2; }' >"$tmp/l2.c"
	echo 'int svafoo(void); int main(void) { return svafoo(); }' >"$tmp/m.c"
	for k in 1 2; do
		cc -shared -fPIC -Wl,-soname,libsvafoo.so.1 -o "$tmp/l$k/libsvafoo.so.1" "$tmp/l$k.c" &&
			cc -o "$tmp/p/prog$k" "$tmp/m.c" "$tmp/l$k/libsvafoo.so.1" -Wl,-rpath,"$tmp/l$k" || break
	done
	sh "$mk" "$tmp/out/libs.cpio.gz" "$tmp/p/prog1" "$tmp/p/prog2" >"$tmp/log" 2>&1
	st=$?
	[ $st -ne 0 ] && grep -q "two different libraries named libsvafoo.so.1" "$tmp/log"
	ok $? "two binaries needing different files of one soname: refused, saying so (status $st)"
	diag_file "$tmp/log"
	cp "$tmp/p/prog1" "$tmp/p/prog1b"
	sh "$mk" "$tmp/out/libs2.cpio.gz" "$tmp/p/prog1" "$tmp/p/prog1b" >"$tmp/log" 2>&1
	ok $? "two binaries sharing one library file: packed"
else
	skip "no cc here: the soname check needs two small shared libraries"
fi

done_testing
