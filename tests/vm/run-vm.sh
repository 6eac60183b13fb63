#!/bin/sh
# Boot the libsva test VM (QEMU q35, TCG) on one topology and run kernel tests
# in it.  POSIX sh.
#
# usage: run-vm.sh --topology mock|vtd39|vtd48-numa|numa-memless --logdir DIR [--timeout S]
#                  [--test-timeout S] [--kernel BZIMAGE] [--hugepages N] -- TESTBIN...
#
#   mock        no IOMMU hardware: tests use the iommufd selftest mock device
#               (CONFIG_IOMMUFD_TEST) through /dev/iommu.
#   vtd39       emulated Intel VT-d (caching mode, 39-bit IOVA) and QEMU's edu
#               PCI device, bound to vfio-pci in the guest (/dev/vfio/devices/vfio0).
#   vtd48-numa  VT-d with 48-bit IOVA, two NUMA nodes, edu on node 1 behind a
#               pxb-pcie expander bridge and a PCIe root port.
#   numa-memless  as vtd48-numa, plus a third CPU on a node 2 with no memory,
#               and edu on node 2: a device whose node has no memory.
#
#   --timeout S    kill QEMU after S seconds in all (default 900; SVA_VM_TIMEOUT):
#                  a cap on the whole run, above what it takes (240-275 s on the
#                  slowest tier, 500 s on a busy host), so that a slower machine
#                  is not a failure.
#   --test-timeout S  kill QEMU when no test began or ended for S seconds
#                  (default 240; SVA_VM_TEST_TIMEOUT): a test that hangs, or
#                  /init stuck between tests, is named and stops the run there,
#                  long before the whole run's cap.  The slowest test takes
#                  under a third of it (run-vm.sh prints each test's time).
#   --kernel F     the bzImage (default: SVA_VM_KERNEL, else build-kernel.sh).
#   --hugepages N  reserve N 2 MiB huge pages in the guest (default 0;
#                  SVA_VM_HUGEPAGES), hugetlbfs mounted on /dev/hugepages.
#   TESTBIN        real ELF test binaries (see mkinitramfs.sh); "+PATH" packs a
#                  helper the tests run as /tests/NAME, not run as a test itself.
#   --raw          the programs are not TAP tests (sva-demo): each passes when it
#                  exits 0 and leaves no kernel WARNING/BUG/Oops; its output is
#                  kept as DIR/NAME-TOPOLOGY.log as it is.
#   SVA_VM_APPEND  extra kernel command line (e.g. "loglevel=7" to see boot messages).
#   SVA_VM_BOOT_LIMIT  seconds a boot may take to reach /init (default 120)
#                  before it is killed and tried once more, saying so.
#   SVA_VM_QEMU    the QEMU binary (default qemu-system-x86_64; a fake in
#                  tests/unit/test-run-vm.sh).
#
# Output, in DIR:
#   console-TOPOLOGY.log    the raw serial console (kernel, /init, every test)
#   TEST-TOPOLOGY.log       plain TAP of one test binary; a test that did not
#                           run, did not finish, exited non-zero, left a kernel
#                           WARNING/BUG/Oops in dmesg or broke its plan gets a
#                           "not ok" line appended naming why
#   vm-boot-TOPOLOGY.log    one TAP result for the VM itself: booted, ran every
#                           test, reached the done marker, powered off in time
#   qemu-TOPOLOGY.stderr    QEMU's own messages, if any
# Prints one line per test and "topology T: N passed, N failed, N skipped".
# Exit status: 0 all passed, 1 any failure (a timeout, panic, missing done
# marker, setup error, non-zero rc or "not ok" is a failure, never a skip),
# 2 usage or setup errors.
set -eu

me=run-vm.sh
here=$(cd "$(dirname "$0")" && pwd)
die() { echo "$me: error: $*" >&2; exit 2; }
usage() { die "usage: run-vm.sh --topology mock|vtd39|vtd48-numa|numa-memless --logdir DIR [--timeout S] [--test-timeout S] [--kernel BZIMAGE] [--hugepages N] [--raw] -- TESTBIN..."; }

topology='' logdir='' timeout=${SVA_VM_TIMEOUT:-900} test_timeout=${SVA_VM_TEST_TIMEOUT:-240}
kernel=${SVA_VM_KERNEL:-} hugepages=${SVA_VM_HUGEPAGES:-0} raw=0
while [ $# -gt 0 ]; do
    case $1 in
    --topology) [ $# -ge 2 ] || usage; topology=$2; shift 2 ;;
    --topology=*) topology=${1#*=}; shift ;;
    --logdir) [ $# -ge 2 ] || usage; logdir=$2; shift 2 ;;
    --logdir=*) logdir=${1#*=}; shift ;;
    --timeout) [ $# -ge 2 ] || usage; timeout=$2; shift 2 ;;
    --timeout=*) timeout=${1#*=}; shift ;;
    --test-timeout) [ $# -ge 2 ] || usage; test_timeout=$2; shift 2 ;;
    --test-timeout=*) test_timeout=${1#*=}; shift ;;
    --kernel) [ $# -ge 2 ] || usage; kernel=$2; shift 2 ;;
    --kernel=*) kernel=${1#*=}; shift ;;
    --hugepages) [ $# -ge 2 ] || usage; hugepages=$2; shift 2 ;;
    --hugepages=*) hugepages=${1#*=}; shift ;;
    --raw) raw=1; shift ;;
    --) shift; break ;;
    *) usage ;;
    esac
done
[ -n "$topology" ] && [ -n "$logdir" ] || usage
[ $# -ge 1 ] || die "no test binaries given (after --)"
case $timeout in ''|*[!0-9]*) die "--timeout needs whole seconds, got '$timeout'" ;; esac
case $test_timeout in ''|*[!0-9]*|0) die "--test-timeout needs whole seconds (1 or more), got '$test_timeout'" ;; esac
case $hugepages in ''|*[!0-9]*) die "--hugepages needs a count, got '$hugepages'" ;; esac

qemu=${SVA_VM_QEMU:-qemu-system-x86_64} # SVA_VM_QEMU: for this script's own test
command -v $qemu >/dev/null 2>&1 || die "$qemu not found: apt-get install qemu-system-x86"

# The topology's QEMU arguments, split on blanks when used (none contain any).
# intel-iommu comes first on the command line: QEMU must realize the IOMMU before
# the PCI devices whose DMA it translates.
# no_timer_check: under TCG on a loaded host the IO-APIC timer check can miss
# its ticks and panic the boot ("timer doesn't work through Interrupt-remapped
# IO-APIC"); the emulated timer works, it was only slow to show it.
cmdline="console=ttyS0 panic=-1 oops=panic intel_iommu=on quiet no_timer_check sva_topology=$topology"
smp=2
case $topology in
mock)
    topo_args=
    ;;
vtd39)
    topo_args="-device intel-iommu,caching-mode=on -device edu"
    cmdline="$cmdline sva_vfio=1"
    ;;
vtd48-numa)
    topo_args="-device intel-iommu,caching-mode=on,aw-bits=48
        -object memory-backend-ram,id=mem0,size=512M
        -object memory-backend-ram,id=mem1,size=512M
        -numa node,nodeid=0,cpus=0,memdev=mem0
        -numa node,nodeid=1,cpus=1,memdev=mem1
        -device pxb-pcie,id=pxb1,bus_nr=64,numa_node=1,bus=pcie.0
        -device pcie-root-port,id=rp1,bus=pxb1,chassis=1
        -device edu,bus=rp1"
    cmdline="$cmdline sva_vfio=1"
    ;;
numa-memless)
    smp=3 # a node needs a CPU or memory to exist; node 2 gets the third CPU
    topo_args="-device intel-iommu,caching-mode=on,aw-bits=48
        -object memory-backend-ram,id=mem0,size=512M
        -object memory-backend-ram,id=mem1,size=512M
        -numa node,nodeid=0,cpus=0,memdev=mem0
        -numa node,nodeid=1,cpus=1,memdev=mem1
        -numa node,nodeid=2,cpus=2
        -device pxb-pcie,id=pxb1,bus_nr=64,numa_node=2,bus=pcie.0
        -device pcie-root-port,id=rp1,bus=pxb1,chassis=1
        -device edu,bus=rp1"
    cmdline="$cmdline sva_vfio=1"
    ;;
*) die "unknown topology '$topology' (mock, vtd39, vtd48-numa or numa-memless)" ;;
esac
[ "$hugepages" -eq 0 ] || cmdline="$cmdline sva_hugepages=$hugepages"
# SVA_VM_APPEND: more kernel parameters, for debugging (e.g. loglevel=7, no quiet).
[ -z "${SVA_VM_APPEND:-}" ] || cmdline="$cmdline $SVA_VM_APPEND"

for t in "$@"; do [ -f "${t#+}" ] || die "test binary ${t#+} not found (not built?)"; done

if [ -z "$kernel" ]; then
    kernel=$(sh "$here/build-kernel.sh") || die "no test kernel (build-kernel.sh failed)"
fi
[ -f "$kernel" ] || die "kernel $kernel not found"

mkdir -p "$logdir"
logdir=$(cd "$logdir" && pwd)
console=$logdir/console-$topology.log
qerr=$logdir/qemu-$topology.stderr
rm -f "$logdir"/*-"$topology".log "$logdir/console-$topology.hung-boot.log" "$qerr"

work=$(mktemp -d "${TMPDIR:-/tmp}/sva-vm.XXXXXX")
qpid=
cleanup() {
    [ -z "$qpid" ] || kill -KILL "$qpid" 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT
trap 'cleanup; trap - EXIT; exit 130' INT TERM

sh "$here/mkinitramfs.sh" "$work/initramfs.cpio.gz" "$@" || die "cannot build the initramfs"
names=
for t in "$@"; do
    case $t in +*) continue ;; esac # a helper, not a test
    b=$(basename "$t"); names="$names ${b#lt-}"
done

now_ms() { echo $(( $(date +%s%N) / 1000000 )); }
secs() { awk -v ms="$1" 'BEGIN { printf "%.1f", ms / 1000 }'; }

# QEMU: serial console to the log file, nothing on stdio, no default devices
# (no VGA, no NIC: q35's own bridges, the topology's devices and COM1 only).
# Wait for QEMU to end (init powers off after the done marker), noting when
# /init started; kill it at the timeout.  A boot that never reaches /init
# within boot_limit seconds (it takes 2-7 s; TCG has been seen to hang once
# in the firmware-to-kernel handover, no kernel line printed) is killed and
# tried once more, saying so: no test had started.  Once /init runs, every
# 2 s or so the console's last "=== BEGIN/END NAME" or done marker is read:
# when it has not changed for test_timeout seconds, the test it names hangs
# (or /init does, after it, or the power-off), and the run stops there.
boot_limit=${SVA_VM_BOOT_LIMIT:-120}
case $boot_limit in ''|*[!0-9]*) die "SVA_VM_BOOT_LIMIT needs whole seconds, got '$boot_limit'" ;; esac
attempt=1
[ "$boot_limit" -lt "$timeout" ] || attempt=2 # no room for a retry: a plain timeout
while :; do
    start=$(now_ms)
    # shellcheck disable=SC2086
    $qemu -machine q35 -accel tcg -cpu max -smp "$smp" -m 1024 -nographic -no-reboot \
        -nodefaults -no-user-config -monitor none -serial "file:$console" \
        $topo_args \
        -kernel "$kernel" -initrd "$work/initramfs.cpio.gz" -append "$cmdline" \
        < /dev/null > "$qerr" 2>&1 &
    qpid=$!
    boot_ms='' timed_out='' boot_hung='' stalled='' marker='' marker_ms=$start tick=0
    while kill -0 "$qpid" 2>/dev/null; do
        if [ -z "$boot_ms" ] && grep -q '=== SVA-VM-INIT' "$console" 2>/dev/null; then
            boot_ms=$(( $(now_ms) - start )) marker_ms=$(now_ms)
        fi
        tick=$((tick + 1))
        if [ -n "$boot_ms" ] && [ $((tick % 10)) -eq 0 ]; then
            m=$(grep -ao '=== \(BEGIN\|END\) [^[:space:]]*\|=== SVA-VM-DONE' "$console" 2>/dev/null | tail -n 1)
            if [ "$m" != "$marker" ]; then
                marker=$m marker_ms=$(now_ms)
            elif [ $(( $(now_ms) - marker_ms )) -ge $(( test_timeout * 1000 )) ]; then
                case $m in
                "=== BEGIN "*) stalled="${m#=== BEGIN } did not end within $test_timeout s" ;;
                "=== END "*) stalled="/init did not go on for $test_timeout s after ${m#=== END } ended" ;;
                "=== SVA-VM-DONE") stalled="the VM did not power off for $test_timeout s after its last test" ;;
                *) stalled="no test began for $test_timeout s after /init started" ;;
                esac
                kill -TERM "$qpid" 2>/dev/null || true
                sleep 2
                kill -KILL "$qpid" 2>/dev/null || true
                break
            fi
        fi
        if [ -z "$boot_ms" ] && [ "$attempt" -eq 1 ] && [ $(( $(now_ms) - start )) -ge $(( boot_limit * 1000 )) ]; then
            boot_hung=1
        fi
        if [ -n "$boot_hung" ] || [ $(( $(now_ms) - start )) -ge $(( timeout * 1000 )) ]; then
            [ -n "$boot_hung" ] || timed_out=1
            kill -TERM "$qpid" 2>/dev/null || true
            sleep 2
            kill -KILL "$qpid" 2>/dev/null || true
            break
        fi
        sleep 0.2
    done
    [ -n "$boot_hung" ] || break
    wait "$qpid" 2>/dev/null || true
    mv "$console" "$logdir/console-$topology.hung-boot.log" 2>/dev/null || true
    echo "topology $topology: no /init after $boot_limit s (console: $logdir/console-$topology.hung-boot.log); booting once more"
    attempt=2
done
qrc=0
wait "$qpid" || qrc=$?
qpid=
total_ms=$(( $(now_ms) - start ))
[ -s "$qerr" ] || rm -f "$qerr"
[ -f "$console" ] || : > "$console"
if [ -z "$boot_ms" ] && grep -q '=== SVA-VM-INIT' "$console"; then boot_ms=$total_ms; fi

# Split the console into one TAP file per test, and note each test's fate in
# $work/status: "NAME began ended rc kernel-warnings leftover-processes
# seconds" (seconds: guest time from its BEGIN to its END, "-" if unknown).
tr -d '\r' < "$console" | awk -v dir="$logdir" -v topo="$topology" -v status="$work/status" -v vm="$work/vm" '
    function flush_cur() { if (cur != "") close(dir "/" cur "-" topo ".log") }
    # A test whose last line lacks its newline runs into the next marker: split it.
    match($0, /=== (BEGIN|LEFTOVER|KERNEL-WARNINGS|END|SVA-VM-[A-Z]+) /) && RSTART > 1 {
        if (cur != "") print substr($0, 1, RSTART - 1) > (dir "/" cur "-" topo ".log")
        $0 = substr($0, RSTART)
    }
    /^=== BEGIN / { flush_cur(); cur = $3; began[cur] = 1; order[++n] = cur
                    if (sub(/^uptime=/, "", $4)) t0[cur] = $4
                    printf "" > (dir "/" cur "-" topo ".log"); next }
    /^=== LEFTOVER / { sub(/^n=/, "", $4); lo[$3] = $4; next }
    /^=== KERNEL-WARNINGS / { sub(/^n=/, "", $4); kw[$3] = $4; next }
    /^=== END / { sub(/^rc=/, "", $4); rc[$3] = $4; ended[$3] = 1
                  if (sub(/^uptime=/, "", $5) && ($3 in t0)) secs[$3] = sprintf("%.1f", $5 - t0[$3])
                  flush_cur(); cur = ""; next }
    /^=== SVA-VM-DONE/ { done = 1; next }
    /^=== SVA-VM-ERROR / { sub(/^=== SVA-VM-ERROR /, ""); print "setup-error " $0 > vm; next }
    /Kernel panic - not syncing/ { panic = $0; sub(/^.*Kernel panic - not syncing: */, "", panic)
                                   print "panic " panic > vm }
    /^=== / { next }
    cur != "" { print > (dir "/" cur "-" topo ".log") }
    END {
        for (i = 1; i <= n; i++) {
            t = order[i]
            r = (t in rc) ? rc[t] : "-"
            w = (t in kw) ? kw[t] : 0
            l = (t in lo) ? lo[t] : 0
            d = (t in secs) ? secs[t] : "-"
            printf "%s %d %d %s %s %s %s\n", t, began[t], ended[t] + 0, r, w, l, d > status
        }
        if (done) print "done" > vm
        close(status); close(vm)
    }'
touch "$work/status" "$work/vm"

# Why the VM run as a whole failed, if it did.
vm_fail=
[ -z "$timed_out" ] || vm_fail="timed out after ${timeout} s"
[ -z "$stalled" ] || vm_fail="stopped: $stalled"
if grep -q '^panic' "$work/vm"; then
    vm_fail="${vm_fail:+$vm_fail; }kernel panic: $(sed -n 's/^panic //p' "$work/vm" | head -n1)"
fi
if ! grep -q '^done' "$work/vm"; then
    vm_fail="${vm_fail:+$vm_fail; }no '=== SVA-VM-DONE' marker"
    # Not an and-or list ending in the assignment: under set -e its failing
    # command substitution (no stderr file) ended the script without a word.
    if [ -z "$timed_out$stalled" ] && [ "$qrc" -ne 0 ]; then
        qmsg=
        [ ! -f "$qerr" ] || qmsg=": $(head -n 3 "$qerr" | tr '\n' ' ')"
        vm_fail="$vm_fail (QEMU exit status $qrc$qmsg)"
    fi
fi
if grep -q '^setup-error' "$work/vm"; then
    vm_fail="${vm_fail:+$vm_fail; }guest setup: $(sed -n 's/^setup-error //p' "$work/vm" | tr '\n' ';' | sed 's/;$//')"
fi

# Complete each test's TAP file with what the log says about it.
failed_tests=0
for name in $names; do
    f=$logdir/$name-$topology.log
    line=$(awk -v t="$name" '$1 == t' "$work/status" | tail -n1)
    if [ -z "$line" ]; then
        printf '1..1\nnot ok 1 - %s did not run on %s: %s\n' "$name" "$topology" "${vm_fail:-the VM never started it}" > "$f"
        echo "FAIL $name ($topology): did not run"
        failed_tests=$((failed_tests + 1))
        continue
    fi
    set -- $line
    ended=$3 rc=$4 kw=$5 left=$6 took=${7:--}
    took_s=; [ "$took" = - ] || took_s=" in $took s"
    why=
    if [ "$ended" != 1 ]; then
        why="did not finish (${vm_fail:-the VM stopped})"
    else
        [ "$rc" = 0 ] || why="exited with status $rc"
        [ "$left" = 0 ] || why="${why:+$why; }left $left process(es) running (see '# leftover:' lines)"
        [ "$kw" = 0 ] || why="${why:+$why; }left $kw kernel WARNING/BUG/Oops line(s) in dmesg (see '# dmesg:' lines)"
        # The plan must match the results (a crash mid-way leaves too few).
        plan=$(tr -d '\r' < "$f" | sed -n 's/^1\.\.\([0-9][0-9]*\).*/\1/p' | head -n1)
        results=$(tr -d '\r' < "$f" | grep -acE '^(not )?ok([ 	]|$)' || true)
        if [ "$raw" = 1 ]; then
            : # not TAP: its exit status and the kernel's log decide
        elif [ -z "$plan" ]; then
            why="${why:+$why; }printed no TAP plan"
        elif [ "$plan" != "$results" ]; then
            why="${why:+$why; }planned $plan results, printed $results"
        fi
    fi
    notok=$(grep -avE '#[ 	]*[Tt][Oo][Dd][Oo]' "$f" | grep -acE '^not ok([ 	]|$)' || true)
    if [ -z "$why" ] && [ "$notok" -gt 0 ]; then
        why="$notok \"not ok\" result(s)"
    elif [ -n "$why" ]; then
        printf 'not ok - %s on %s: %s\n' "$name" "$topology" "$why" >> "$f"
    fi
    if [ -n "$why" ]; then
        echo "FAIL $name ($topology)${why:+: $why}$took_s"
        # CI keeps only this output: name what failed, with the diagnostics
        # ("#" lines) each failure printed, so one log is enough to start from.
        tr -d '\r' < "$f" | awk '/^not ok/ && !/#[ \t]*[Tt][Oo][Dd][Oo]/ { n++; c = 6; if (n > 10) exit }
            c > 0 && (/^not ok/ || /^#/) { print "    " $0; c--; next } { c = 0 }'
        grep -a '^# leftover:' "$f" | head -n 10 | sed 's/^/    /'
        failed_tests=$((failed_tests + 1))
    elif [ "$raw" = 1 ]; then
        echo "PASS $name ($topology): exited 0$took_s"
    else
        echo "PASS $name ($topology): $(sh "$here/tap-summary.sh" "$f")$took_s"
    fi
done

boot=${boot_ms:+$(secs "$boot_ms") s}
vmf=$logdir/vm-boot-$topology.log
if [ -n "$vm_fail" ]; then
    printf '1..1\nnot ok 1 - test VM on %s: %s (console: %s)\n' "$topology" "$vm_fail" "$console" > "$vmf"
    echo "FAIL test VM ($topology): $vm_fail"
else
    printf '1..1\nok 1 - test VM on %s: /init after %s, %s test(s), powered off after %s s\n' \
        "$topology" "$boot" "$(echo $names | wc -w)" "$(secs "$total_ms")" > "$vmf"
fi
summary=$(sh "$here/tap-summary.sh" "$logdir"/*-"$topology".log)
echo "topology $topology: boot to /init ${boot:-n/a}, whole run $(secs "$total_ms") s; console: $console"
# The slowest tests, to see early where the run's time goes (its cap, --timeout).
slowest=$(awk '$7 != "-" { print $7, $1 }' "$work/status" | sort -rn | head -n 3 | awk '{ printf "%s%s %s s", (NR > 1 ? ", " : ""), $2, $1 }')
[ -z "$slowest" ] || echo "topology $topology: slowest: $slowest"
echo "topology $topology: $summary"
[ -z "$vm_fail" ] && [ "$failed_tests" -eq 0 ] || exit 1
exit 0
