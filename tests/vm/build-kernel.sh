#!/bin/sh
# Build (or reuse) the libsva test kernel: Debian's newest linux-source-7.x,
# `make tinyconfig` + tests/vm/kernel.config, bzImage only.  POSIX sh.
#
# usage: build-kernel.sh [FRAGMENT]        (default: kernel.config beside this script)
#   Prints the path of the bzImage on stdout (its only output there); progress
#   and errors go to stderr.
#
# Environment:
#   SVA_VM_KERNEL=/path/to/bzImage   use that kernel; nothing is fetched or built.
#   XDG_CACHE_HOME                   cache root (default $HOME/.cache).
#   SVA_VM_JOBS=N                    make -jN (default: nproc + 1).
#
# Cache: $XDG_CACHE_HOME/libsva/kernel/<debian-version>-<sha256(fragment):12>/
#   bzImage, config (the final .config), build.log, source; debs/ keeps the
#   current linux-source .deb.  A failed build leaves its trees and log in build/.  One flock serializes all
#   builds and apt runs, so two concurrent runs build once.  A cached kernel is
#   found again in seconds (one apt-cache query; offline, the newest cached kernel
#   built from the same fragment is used, with a warning).
set -eu

me=build-kernel.sh
die() { echo "$me: error: $*" >&2; exit 1; }
say() { echo "$me: $*" >&2; }

if [ -n "${SVA_VM_KERNEL:-}" ]; then
    [ -f "$SVA_VM_KERNEL" ] || die "SVA_VM_KERNEL=$SVA_VM_KERNEL: no such file"
    say "using SVA_VM_KERNEL"
    echo "$SVA_VM_KERNEL"
    exit 0
fi

here=$(cd "$(dirname "$0")" && pwd)
frag=${1:-$here/kernel.config}
[ -r "$frag" ] || die "kernel config fragment $frag not readable"
frag=$(cd "$(dirname "$frag")" && pwd)/$(basename "$frag")

command -v sha256sum >/dev/null 2>&1 || die "sha256sum not found (package coreutils)"
command -v flock >/dev/null 2>&1 || die "flock not found (package util-linux: apt-get install util-linux)"

[ -n "${XDG_CACHE_HOME:-}" ] || [ -n "${HOME:-}" ] || die "neither XDG_CACHE_HOME nor HOME is set: no place for the kernel cache"
cache=${XDG_CACHE_HOME:-$HOME/.cache}/libsva/kernel
mkdir -p "$cache" || die "cannot create the cache directory $cache"
hash=$(sha256sum < "$frag" | cut -c1-12)

# A finished kernel directory only ever appears whole (built aside, then renamed).
newest_cached() {
    ls -td "$cache"/*-"$hash" 2>/dev/null | while read -r d; do
        [ -f "$d/bzImage" ] && { echo "$d/bzImage"; break; }
    done
}

exec 9>"$cache/lock"
if ! flock -n 9; then
    say "another build holds $cache/lock; waiting for it"
    flock 9
fi

# Which source version is current?  (No download: apt-cache only.)
if res=$(sh "$here/private-apt.sh" --resolve "$cache/apt" "$cache/debs" 'linux-source-7\.[0-9]+'); then
    pkg=${res% *} ver=${res#* }
else
    old=$(newest_cached)
    [ -n "$old" ] || die "cannot look up linux-source-7.x in Debian's archive (offline?) and no cached kernel for this config fragment in $cache"
    say "warning: cannot look up linux-source-7.x (offline?); using the newest cached kernel built from this fragment"
    echo "$old"
    exit 0
fi
key=$(echo "$ver" | tr -c 'A-Za-z0-9.+_\n-' '_')-$hash
out=$cache/$key
if [ -f "$out/bzImage" ]; then
    say "cached kernel ($pkg $ver, fragment $hash)"
    echo "$out/bzImage"
    exit 0
fi

# ---- a cold build from here on ----
missing=
need() { command -v "$1" >/dev/null 2>&1 || missing="$missing $2"; }
need_file() { [ -e "$1" ] || missing="$missing $2"; }
need make make; need gcc gcc; need flex flex; need bison bison; need bc bc
need perl perl-base; need cpio cpio; need xz xz-utils; need tar tar; need dpkg-deb dpkg
need apt-get apt; need nproc coreutils
need_file /usr/include/stdio.h libc6-dev
need_file /usr/include/gelf.h libelf-dev
need_file /usr/include/openssl/opensslv.h libssl-dev
[ -z "$missing" ] || die "cannot build the test kernel, missing packages:$missing
    install them with: apt-get install$missing
    (or point SVA_VM_KERNEL at a bzImage built from tests/vm/kernel.config)"

t0=$(date +%s)
el() { echo "$(( $(date +%s) - t0 )) s"; }
say "building the test kernel: $pkg $ver, fragment $frag ($hash)"
[ -n "$(ls "$cache/debs/${pkg}_"*.deb 2>/dev/null)" ] || say "downloading $pkg (about 170 MB, once per version) ..."
deb=$(sh "$here/private-apt.sh" "$cache/apt" "$cache/debs" "^$(echo "$pkg" | sed 's/\./\\./g')\$") ||
    die "downloading $pkg $ver failed"

# The source tree (1.8 GB) lives only as long as the build; the .deb is kept.
src=$cache/build/src/$pkg-$(echo "$ver" | tr -c 'A-Za-z0-9.+_\n-' '_')
if [ ! -f "$src/.sva-extracted" ]; then
    say "[$(el)] extracting $(basename "$deb") ..."
    rm -rf "$src" && mkdir -p "$src"
    # The .deb carries usr/src/linux-source-7.N.tar.xz, whose top folder is linux-source-7.N/.
    if ! dpkg-deb --fsys-tarfile "$deb" | tar -xO --wildcards './usr/src/linux-source-*.tar.xz' |
            tar -xJ --strip-components=1 -C "$src"; then
        rm -rf "$src" "$deb"
        die "extracting $deb failed (removed it; the next run downloads it again)"
    fi
    [ -f "$src/Makefile" ] || die "$deb did not contain a kernel source tarball"
    touch "$src/.sva-extracted"
fi

obj=$cache/build/$key
log=$cache/build/$key.log
rm -rf "$obj" && mkdir -p "$obj"
jobs=${SVA_VM_JOBS:-$(( $(nproc) + 1 ))}
case $jobs in ''|*[!0-9]*|0) die "SVA_VM_JOBS must be a positive number, got '$jobs'" ;; esac
kmake() { make -C "$src" O="$obj" ARCH=x86_64 "$@"; }
say "[$(el)] configuring (tinyconfig + fragment), log: $log"
{
    kmake tinyconfig &&
    (cd "$obj" && "$src/scripts/kconfig/merge_config.sh" -m .config "$frag") &&
    kmake olddefconfig
} > "$log" 2>&1 || { tail -n 30 "$log" >&2; die "kernel configuration failed (log: $log)"; }

# olddefconfig silently drops what a missing dependency forbids (IOMMUFD_TEST
# without IOMMU_PT_AMDV1, ...): every assignment of the fragment must have survived.
lost=
grep -E '^CONFIG_[A-Za-z0-9_]+=' "$frag" | sed 's/[[:space:]]*$//' > "$obj/.sva-fragment-options"
while IFS= read -r line; do
    grep -qxF "$line" "$obj/.config" && continue
    opt=${line%%=*}
    now=$(grep -E "^$opt=|^# $opt is not set" "$obj/.config" ||
          echo "not in .config: its dependencies are not met, or this kernel has no such option")
    lost="$lost
    $line    (got: $now)"
done < "$obj/.sva-fragment-options"
[ -z "$lost" ] || die "options of $frag did not survive 'make olddefconfig'; add what they depend on (see their Kconfig 'depends on') to the fragment:$lost
    .config: $obj/.config"

say "[$(el)] make -j$jobs bzImage (about 5 minutes on 2 cores) ..."
if ! kmake -j"$jobs" bzImage >> "$log" 2>&1; then
    echo "---- last lines of $log ----" >&2
    tail -n 40 "$log" >&2
    die "kernel build failed (full log: $log; object tree kept in $obj)"
fi

rm -rf "$out.tmp" && mkdir -p "$out.tmp"
cp "$obj/arch/x86/boot/bzImage" "$out.tmp/bzImage"
cp "$obj/.config" "$out.tmp/config"
cp "$log" "$out.tmp/build.log"
echo "$pkg $ver fragment-sha256 $(sha256sum < "$frag" | cut -d' ' -f1)" > "$out.tmp/source"
mv "$out.tmp" "$out"
# The source and object trees, and those of earlier failed builds, go; only this
# version's .deb stays (170 MB: a fragment change then rebuilds without a download).
rm -rf "$cache/build" "$cache/src"
for f in "$cache"/debs/*.deb; do [ "$f" = "$deb" ] || rm -f "$f"; done
say "kernel built in $(( $(date +%s) - t0 )) s: $out/bzImage"
echo "$out/bzImage"
