#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# The test VM's runner (tests/vm/run-vm.sh) with a fake QEMU: a boot that never
# reaches /init is killed and tried once more, saying so, and a second hang is
# a failure, never a pass.  A vtd48-numa boot once hung in the firmware for the
# whole 600 s timeout, no kernel line printed, and failed the run.
# Needs busybox-static, cpio and gzip (tools/install-deps.sh vm): a skip without.
#
#   top_srcdir=/path/to/libsva sh tests/unit/test-run-vm.sh

top_srcdir=${top_srcdir:-$(dirname "$0")/../..}
. "$top_srcdir/tests/tap.sh"

run=$top_srcdir/tests/vm/run-vm.sh
tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT

static_busybox

# The fake QEMU: its attempts are counted in $tmp/attempts; the first
# $FAKE_HANGS of them print the firmware's line and hang, a later one runs the
# test "probe" (one passing TAP line) and powers off.
cp "$bb" "$tmp/probe"
: > "$tmp/kernel"
cat > "$tmp/qemu" <<'FAKE'
#!/bin/sh
console=
while [ $# -gt 0 ]; do
	case $1 in -serial) console=${2#file:}; shift ;; esac
	shift
done
n=$(( $(cat "$FAKE_STATE" 2>/dev/null || echo 0) + 1 ))
echo "$n" > "$FAKE_STATE"
echo "SeaBIOS (fake)" > "$console"
if [ "$n" -le "$FAKE_HANGS" ]; then
	exec sleep 600
fi
printf '=== SVA-VM-INIT\n=== BEGIN probe\n1..1\nok 1 - fine\n=== KERNEL-WARNINGS probe n=0\n=== LEFTOVER probe n=0\n=== END probe rc=0\n=== SVA-VM-DONE\n' >> "$console"
exit 0
FAKE
chmod +x "$tmp/qemu"

vm() { # hangs timeout: run-vm.sh's status; its output in $tmp/out
	rm -f "$tmp/attempts"
	FAKE_STATE=$tmp/attempts FAKE_HANGS=$1 SVA_VM_QEMU=$tmp/qemu SVA_VM_BOOT_LIMIT=2 \
		sh "$run" --topology mock --logdir "$tmp/logs$1" --kernel "$tmp/kernel" --timeout "$2" -- "$tmp/probe" \
		> "$tmp/out" 2>&1
}

vm 0 30
ok $? "a boot that reaches /init passes"
[ "$(cat "$tmp/attempts")" = 1 ]; ok $? "  at the first attempt"

vm 1 30
rc=$?
diag_file "$tmp/out"
[ $rc -eq 0 ]; ok $? "a first boot that never reaches /init is tried once more, and the second passes (status $rc)"
[ "$(cat "$tmp/attempts")" = 2 ]; ok $? "  two attempts"
grep -q "no /init after 2 s" "$tmp/out"
ok $? "  saying so"
[ -f "$tmp/logs1/console-mock.hung-boot.log" ]
ok $? "  keeping the hung boot's console"
grep -q "^ok 1 - fine" "$tmp/logs1/probe-mock.log"
ok $? "  and the test's results are the second boot's"

vm 2 6
rc=$?
[ $rc -ne 0 ]; ok $? "two boots that never reach /init: a failure (status $rc)"
[ "$(cat "$tmp/attempts")" = 2 ]; ok $? "  tried twice, not more"
grep -q "^not ok" "$tmp/logs2/probe-mock.log"
ok $? "  the test is reported as not run"

done_testing
