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

bb=
have() { command -v "$1" >/dev/null 2>&1; }
if have ldd && have cpio && have gzip; then
	for b in /bin/busybox /usr/bin/busybox; do [ -x "$b" ] && ! ldd "$b" >/dev/null 2>&1 && bb=$b && break; done
fi
if [ -z "$bb" ]; then
	skip "no static busybox, cpio, gzip or ldd here (tools/install-deps.sh vm installs them)"
	done_testing
	exit $?
fi

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

done_testing
