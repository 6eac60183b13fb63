#!/bin/sh
# Pack an initramfs (cpio.gz) that runs libsva's kernel tests in the test VM.
# POSIX sh.
#
# usage: mkinitramfs.sh OUT.cpio.gz TESTBIN...
#
# TESTBIN: a real ELF binary, static or dynamic; "+PATH" packs a helper the
# tests may run as /tests/NAME without running it as a test.  Its shared libraries (found
#   with ldd) are packed in /lib/sva, on the tests' LD_LIBRARY_PATH, and the
#   dynamic loader at its own path; libgcc_s too (glibc dlopen()s it).  A libtool
#   wrapper script is accepted too: its .libs/ binary is packed and ldd resolves
#   with the wrapper's LD_LIBRARY_PATH.  (Kernel tests linked only with the
#   libsva-internal.la convenience library, or with -no-install, are real ELF
#   binaries and need none of that.)  A test is named by its file name (lt-
#   prefix dropped); names must be distinct.
#
# The guest's /init (busybox sh) reads its settings from the kernel command line:
#   sva_topology=NAME   exported to the tests as SVA_TOPOLOGY (SVA_VM=1 always)
#   sva_vfio=1          bind QEMU's edu (1234:11e8) to vfio-pci and wait for
#                       /dev/vfio/devices/vfio0
#   sva_hugepages=N     reserve N 2 MiB huge pages, hugetlbfs on /dev/hugepages
# and prints, on the serial console:
#   === SVA-VM-INIT uptime=S            init started (S: guest seconds since boot)
#   === SVA-VM-ERROR <text>             a setup step failed (run-vm.sh: failure)
#   === BEGIN <name> uptime=S           then the test's stdout+stderr (TAP),
#   # dmesg: <line>                     kernel messages (levels emerg..notice)
#                                       logged while it ran,
#   === KERNEL-WARNINGS <name> n=K      K>0 if those hold WARNING/BUG/Oops lines,
#   === END <name> rc=N uptime=S        its exit status (S: when it ended, so
#                                       run-vm.sh can say how long each took),
#   === SVA-VM-DONE uptime=S            after the last test; then poweroff -f.
# Host variables named SVA_* (except SVA_VM*, SVA_TOPOLOGY) are exported to the
# tests too, e.g. SVA_LOG=debug.
set -eu

me=mkinitramfs.sh
die() { echo "$me: error: $*" >&2; exit 1; }

[ $# -ge 1 ] || die "usage: mkinitramfs.sh OUT.cpio.gz TESTBIN..."
out=$1; shift

busybox=
for b in /bin/busybox /usr/bin/busybox; do [ -x "$b" ] && { busybox=$b; break; }; done
[ -n "$busybox" ] || die "busybox not found: apt-get install busybox-static"
if ldd "$busybox" >/dev/null 2>&1; then
    die "$busybox is dynamically linked (the 'busybox' package): apt-get install busybox-static"
fi
command -v cpio >/dev/null 2>&1 || die "cpio not found: apt-get install cpio"
command -v gzip >/dev/null 2>&1 || die "gzip not found: apt-get install gzip"
command -v ldd >/dev/null 2>&1 || die "ldd not found: apt-get install libc-bin"

stage=$(mktemp -d "${TMPDIR:-/tmp}/sva-initramfs.XXXXXX")
trap 'rm -rf "$stage"' EXIT INT TERM
# It becomes the guest's /: mktemp's 0700 would close every path to a test
# that drops root (a client of another uid connecting to the broker's socket).
chmod 755 "$stage"
mkdir -p "$stage/bin" "$stage/proc" "$stage/sys" "$stage/dev" "$stage/tmp" \
         "$stage/run" "$stage/etc" "$stage/tests"
cp "$busybox" "$stage/bin/busybox"
for applet in $("$busybox" --list); do
    [ "$applet" = busybox ] || ln -s busybox "$stage/bin/$applet"
done

is_elf() { [ "$(head -c 4 "$1" | od -An -c | tr -d ' ')" = '177ELF' ]; }

# copy_libs BINARY [LD_LIBRARY_PATH]: pack what ldd lists.  The dynamic loader
# goes to its own path (the binary's PT_INTERP); every library goes to /lib/sva
# under the name the binary asks for, which /init puts on LD_LIBRARY_PATH (an
# RPATH into the build tree may point under /tmp, a fresh tmpfs in the guest).
copy_libs() {
    lddout=$(LD_LIBRARY_PATH=${2:-${LD_LIBRARY_PATH:-}} ldd "$1" 2>&1) || {
        case $lddout in
        *"not a dynamic executable"*|*"statically linked"*) return 0 ;;
        *) die "ldd $1 failed: $lddout" ;;
        esac
    }
    case $lddout in *"statically linked"*) return 0 ;; esac
    if echo "$lddout" | grep -q 'not found'; then
        die "$1: shared libraries not found:
$(echo "$lddout" | grep 'not found')
    (a libtool-built test? pass the libtool wrapper, or link it with -no-install)"
    fi
    mkdir -p "$stage/lib/sva"
    echo "$lddout" | sed -n 's/^[[:space:]]*\([^ ]*\) => \(\/[^ ]*\) (0x.*$/\1 \2/p' |
    while read -r soname lib; do
        if [ ! -f "$stage/lib/sva/$soname" ]; then
            cp -L "$lib" "$stage/lib/sva/$soname"
        elif ! cmp -s "$lib" "$stage/lib/sva/$soname"; then
            # One /lib/sva for every binary: a second build's library of the
            # same name (a gcc and a sanitizer libsva.so.1) would be silently
            # replaced by the first one's in the guest.
            die "two different libraries named $soname ($lib, for $1, and an earlier binary's): pack the binaries of one build per VM run"
        fi
    done
    interp=$(echo "$lddout" | sed -n 's/^[[:space:]]*\(\/[^ ]*\) (0x.*$/\1/p' | head -n1)
    if [ -n "$interp" ] && [ ! -f "$stage$interp" ]; then
        mkdir -p "$stage$(dirname "$interp")"
        cp -L "$interp" "$stage$interp"
    fi
    # glibc dlopen()s libgcc_s for pthread_exit/pthread_cancel and backtraces.
    gcc_s=$({ ldconfig -p || /sbin/ldconfig -p; } 2>/dev/null | sed -n 's/^[[:space:]]*libgcc_s\.so\.1 (libc6,x86-64) => \(.*\)$/\1/p' | head -n1)
    if [ -n "$gcc_s" ] && [ ! -f "$stage/lib/sva/libgcc_s.so.1" ]; then
        cp -L "$gcc_s" "$stage/lib/sva/libgcc_s.so.1"
    fi
}

: > "$stage/sva-tests.order" # outside /tests: a binary may be named "order"
for t in "$@"; do
    # "+PATH": a helper the tests call (/tests/NAME), packed but not run.
    helper=0
    case $t in +*) helper=1; t=${t#+} ;; esac
    [ -f "$t" ] || die "test binary $t not found (not built?)"
    name=$(basename "$t")
    libpath=
    if is_elf "$t"; then
        bin=$t
    elif grep -q 'libtool' "$t" 2>/dev/null && grep -q '^# .* - temporary wrapper script' "$t" 2>/dev/null; then
        dir=$(dirname "$t")
        if [ -f "$dir/.libs/$name" ]; then bin=$dir/.libs/$name
        elif [ -f "$dir/.libs/lt-$name" ]; then bin=$dir/.libs/lt-$name
        else die "$t is a libtool wrapper but neither $dir/.libs/$name nor lt-$name exists"
        fi
        libpath=$(sed -n 's/^[[:space:]]*LD_LIBRARY_PATH="\(.*\):\$LD_LIBRARY_PATH"$/\1/p' "$t" | head -n1)
    else
        die "$t is neither an ELF binary nor a libtool wrapper"
    fi
    name=${name#lt-}
    [ ! -e "$stage/tests/$name" ] || die "two binaries named $name (tests and helpers share /tests)"
    cp -L "$bin" "$stage/tests/$name"
    chmod 755 "$stage/tests/$name"
    copy_libs "$bin" "$libpath"
    [ "$helper" = 1 ] || echo "$name" >> "$stage/sva-tests.order"
done

# Host SVA_* settings for the tests (single-line values only).
env | grep -E '^SVA_[A-Za-z0-9_]*=' | grep -vE '^(SVA_VM[A-Za-z0-9_]*|SVA_TOPOLOGY)=' |
while IFS= read -r kv; do
    printf "export %s='%s'\n" "${kv%%=*}" "$(printf '%s' "${kv#*=}" | sed "s/'/'\\\\''/g")"
done > "$stage/etc/sva-env"

cat > "$stage/init" <<'INIT'
#!/bin/sh
# /init of the libsva test VM (generated by tests/vm/mkinitramfs.sh).
export PATH=/bin:/tests HOME=/tmp TMPDIR=/tmp
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev 2>/dev/null
mount -t tmpfs tmpfs /tmp
mount -t tmpfs tmpfs /run
up() { cut -d' ' -f1 /proc/uptime; }
# The firmware leaves terminal escapes without a newline: start a fresh line.
echo
echo "=== SVA-VM-INIT uptime=$(up)"
err() { echo "=== SVA-VM-ERROR $*"; }

topology=unknown vfio=0 hugepages=0
for w in $(cat /proc/cmdline); do
    case $w in
    sva_topology=*) topology=${w#*=} ;;
    sva_vfio=*) vfio=${w#*=} ;;
    sva_hugepages=*) hugepages=${w#*=} ;;
    esac
done
export SVA_VM=1 SVA_TOPOLOGY=$topology
export LD_LIBRARY_PATH=/lib/sva
. /etc/sva-env

if [ "$hugepages" -gt 0 ] 2>/dev/null; then
    echo "$hugepages" > /proc/sys/vm/nr_hugepages
    mkdir -p /dev/hugepages
    mount -t hugetlbfs hugetlbfs /dev/hugepages || err "cannot mount hugetlbfs"
    got=$(cat /proc/sys/vm/nr_hugepages)
    [ "$got" = "$hugepages" ] || err "asked for $hugepages huge pages, got $got"
fi

if [ "$vfio" = 1 ]; then
    if [ ! -d /sys/bus/pci/drivers/vfio-pci ]; then
        err "no vfio-pci driver in this kernel"
    else
        echo 1234 11e8 > /sys/bus/pci/drivers/vfio-pci/new_id || err "vfio-pci new_id failed"
        n=0
        while [ ! -e /dev/vfio/devices/vfio0 ] && [ $n -lt 100 ]; do sleep 0.1; n=$((n + 1)); done
        if [ ! -e /dev/vfio/devices/vfio0 ]; then
            err "/dev/vfio/devices/vfio0 did not appear after binding edu to vfio-pci"
            dmesg | grep -iE 'dmar|iommu|vfio|pci' | tail -n 40 | sed 's/^/# dmesg: /'
        fi
    fi
fi

# Processes a test left running (its children, a daemon it started), as
# "# leftover:" lines; they are killed and waited for, so that the next test
# does not share the machine with them (their pins count against the same
# user's RLIMIT_MEMLOCK, their fds keep devices open).  Kernel threads (pid 2
# and its children) and zombies do not count.  Builtins only while scanning:
# a forked helper would count itself.
user_pids() {
    pids=
    for p in /proc/[0-9]*; do
        read -r st < "$p/stat" 2>/dev/null || continue
        pid=${st%% *}
        set -- ${st##*) }
        case "$pid:$2:$1" in 1:* | 2:* | *:2:* | *:*:Z) continue ;; esac
        pids="$pids $pid"
    done
}
leftovers=0
sweep() {
    leftovers=0
    user_pids
    for pid in $pids; do
        leftovers=$((leftovers + 1))
        read -r comm < "/proc/$pid/comm" 2>/dev/null
        echo "# leftover: pid $pid ($comm), killed"
        kill -9 "$pid" 2>/dev/null
    done
    n=0
    while [ -n "$pids" ] && [ $n -lt 50 ]; do
        sleep 0.1
        user_pids
        n=$((n + 1))
    done
}

# Kernel messages stay off the console from here (only panics get through);
# each test's share of them is printed after it as "# dmesg:" comments.
dmesg -n 1
for name in $(cat /sva-tests.order); do
    dmesg -c > /dev/null
    echo "=== BEGIN $name uptime=$(up)"
    (cd /tmp && exec "/tests/$name") < /dev/null 2>&1
    rc=$?
    sweep
    # Raw records are "<L>text": keep levels 0-5 (emergency to notice).
    dmesg -r | sed -n 's/^<[0-5]>//p' > /tmp/.kmsg
    sed 's/^/# dmesg: /' /tmp/.kmsg
    echo "=== LEFTOVER $name n=$leftovers"
    echo "=== KERNEL-WARNINGS $name n=$(grep -cE 'WARNING:|BUG:|Oops|general protection|Call Trace:' /tmp/.kmsg)"
    echo "=== END $name rc=$rc uptime=$(up)"
done
echo "=== SVA-VM-DONE uptime=$(up)"
poweroff -f
# Only if power-off failed: QEMU runs with -no-reboot, so a reboot ends it too.
reboot -f
INIT
chmod 755 "$stage/init"

mkdir -p "$(dirname "$out")"
(cd "$stage" && find . | LC_ALL=C sort | cpio -o -H newc --quiet -R 0:0) | gzip -1 > "$out.tmp"
mv "$out.tmp" "$out"
