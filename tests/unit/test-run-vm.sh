#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# The test VM's runner (tests/vm/run-vm.sh) with a fake QEMU: a boot that never
# reaches /init is killed and tried once more, saying so, and a second hang is
# a failure, never a pass.  A vtd48-numa boot once hung in the firmware for the
# whole 600 s timeout, no kernel line printed, and failed the run.
# A test that hangs after it began (or /init after a test ended) stops the run
# at --test-timeout, named, long before the whole run's --timeout; each test's
# guest time is printed.  The whole run's old 300 s cap failed CI once the
# sanitizer tiers' slowest topology took 240-300 s with nothing hung.
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
case ${FAKE_MODE:-} in
in-test) # the test began and never ends
	printf '=== SVA-VM-INIT\n=== BEGIN probe uptime=2.50\r\n1..1\n' >> "$console"
	exec sleep 600 ;;
crash) # QEMU dies on its own, silently, with a test running
	printf '=== SVA-VM-INIT\n=== BEGIN probe uptime=2.50\n1..1\n' >> "$console"
	exit 1 ;;
after-test) # the test ended, /init never goes on
	printf '=== SVA-VM-INIT\n=== BEGIN probe uptime=2.50\n1..1\nok 1 - fine\n=== END probe rc=0 uptime=3.71\n' >> "$console"
	exec sleep 600 ;;
no-poweroff) # every test ended, the power-off hangs
	printf '=== SVA-VM-INIT\n=== BEGIN probe uptime=2.50\n1..1\nok 1 - fine\n=== KERNEL-WARNINGS probe n=0\n=== LEFTOVER probe n=0\n=== END probe rc=0 uptime=3.71\n=== SVA-VM-DONE uptime=3.80\n' >> "$console"
	exec sleep 600 ;;
binary) # a failed check whose test exits 0, in a log with a byte that is no UTF-8
	printf '=== SVA-VM-INIT\n=== BEGIN probe uptime=2.50\n1..2\nok 1 - fine\nnot ok 2 - caf\351 \377\n=== KERNEL-WARNINGS probe n=0\n=== LEFTOVER probe n=0\n=== END probe rc=0 uptime=3.71\n=== SVA-VM-DONE\n' >> "$console"
	exit 0 ;;
esac
printf '=== SVA-VM-INIT\n=== BEGIN probe uptime=2.50\n1..1\nok 1 - fine\n=== KERNEL-WARNINGS probe n=0\n=== LEFTOVER probe n=0\n=== END probe rc=0 uptime=14.27\n=== SVA-VM-DONE\n' >> "$console"
exit 0
FAKE
chmod +x "$tmp/qemu"

vm() { # hangs timeout [run-vm.sh options]: its status; its output in $tmp/out
	rm -f "$tmp/attempts"
	h=$1 t=$2; shift 2
	FAKE_STATE=$tmp/attempts FAKE_HANGS=$h SVA_VM_QEMU=$tmp/qemu SVA_VM_BOOT_LIMIT=2 \
		sh "$run" --topology mock --logdir "$tmp/logs$h${FAKE_MODE:-}" --kernel "$tmp/kernel" --timeout "$t" "$@" -- "$tmp/probe" \
		> "$tmp/out" 2>&1
}

vm 0 30
ok $? "a boot that reaches /init passes"
[ "$(cat "$tmp/attempts")" = 1 ]; ok $? "  at the first attempt"
grep -q '^PASS probe (mock): 1 passed, 0 failed, 0 skipped in 11.8 s$' "$tmp/out"
ok $? "  the test's line gives its guest time, BEGIN to END"
grep -q '^topology mock: slowest: probe 11.8 s$' "$tmp/out"
ok $? "  and the slowest tests are named"

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

# Hangs after /init started: the last marker stays; --test-timeout stops the run.
FAKE_MODE=in-test
export FAKE_MODE
t0=$(date +%s)
vm 0 120 --test-timeout 3
rc=$?
t1=$(date +%s)
diag_file "$tmp/out"
[ $rc -eq 1 ]; ok $? "a test that never ends: a failure (status $rc)"
[ $((t1 - t0)) -lt 110 ]; ok $? "  the run stopped at --test-timeout 3, before --timeout 120 ($((t1 - t0)) s)"
grep -q '^FAIL probe (mock): did not finish (stopped: probe did not end within 3 s' "$tmp/out"
ok $? "  the test is named as the one that hung"
grep -q '^not ok - probe on mock: did not finish (stopped: probe did not end within 3 s;' "$tmp/logs0in-test/probe-mock.log"
ok $? "  in its TAP file too"
grep -q '^not ok 1 - test VM on mock: stopped: probe did not end within 3 s' "$tmp/logs0in-test/vm-boot-mock.log"
ok $? "  and in the VM's"

FAKE_MODE=after-test
vm 0 120 --test-timeout 3
rc=$?
diag_file "$tmp/out"
[ $rc -eq 1 ]; ok $? "/init stuck after a test ended: a failure (status $rc)"
grep -q '^FAIL test VM (mock): stopped: /init did not go on for 3 s after probe ended' "$tmp/out"
ok $? "  saying where it stopped"
grep -q '^PASS probe (mock): 1 passed, 0 failed, 0 skipped in 1.2 s$' "$tmp/out"
ok $? "  the test that ended keeps its results"
FAKE_MODE=no-poweroff
vm 0 120 --test-timeout 3
rc=$?
diag_file "$tmp/out"
[ $rc -eq 1 ]; ok $? "a VM that does not power off after its last test: a failure (status $rc)"
grep -q '^FAIL test VM (mock): stopped: the VM did not power off for 3 s after its last test' "$tmp/out"
ok $? "  saying so, not blaming /init after the test"
grep -q '^PASS probe (mock): 1 passed, 0 failed, 0 skipped in 1.2 s$' "$tmp/out"
ok $? "  the test keeps its results"

FAKE_MODE=crash
vm 0 30
rc=$?
diag_file "$tmp/out"
[ $rc -eq 1 ]; ok $? "QEMU that exits 1 on its own, nothing on its stderr: a failure (status $rc)"
grep -q "^FAIL test VM (mock): no '=== SVA-VM-DONE' marker (QEMU exit status 1)\$" "$tmp/out"
ok $? "  saying so (the runner once ended there without a word)"
grep -q '^FAIL probe (mock): did not finish' "$tmp/out"
ok $? "  and naming the test it cut short"

# A log line with a byte that is no UTF-8 (ktest-ctx-contract prints one on
# purpose): grep -v left that line out, saying "binary file matches" on
# standard error, so a "not ok" line holding such a byte was not counted.
FAKE_MODE=binary
LC_ALL=C.UTF-8 vm 0 30
rc=$?
diag_file "$tmp/out"
[ $rc -eq 1 ]; ok $? "a \"not ok\" in a log with a byte that is no UTF-8, the test exiting 0: a failure (status $rc)"
grep -q '^FAIL probe (mock): 1 "not ok" result(s)' "$tmp/out"
ok $? "  counted"
! grep -q 'binary file matches' "$tmp/out"
ok $? "  and no grep(1) noise in the output"
FAKE_MODE=

for bad in 0 -1 3s ''; do
	vm 0 30 --test-timeout "$bad"
	rc=$?
	[ $rc -eq 2 ] && grep -q -- "--test-timeout needs whole seconds (1 or more), got '$bad'" "$tmp/out"
	ok $? "--test-timeout '$bad': a usage error, status 2 (got $rc)"
done

done_testing
