#!/bin/bash
# Install the Debian packages libsva's scripts need, only those missing.
#   tools/install-deps.sh build|vm|test|pkg ...
#     build  compilers and libraries to build libsva
#     vm     QEMU, busybox and the kernel build tools for the test VM
#     test   clang's sanitizer and fuzzer runtimes, python3 (JSON checks)
#     pkg    dpkg-buildpackage, debhelper, lintian, rpmbuild (Debian's rpm),
#            cpio, and python3 (debian/control's Build-Depends, for the
#            package build's make check) for the packages tier (no fakeroot:
#            Rules-Requires-Root: no)
# Runs apt-get as root (or through sudo).  The system's apt sources are used
# as they are; the 7.x kernel source comes through tests/vm/private-apt.sh.
set -euo pipefail

declare -A group=(
	[build]="build-essential autoconf automake libtool autoconf-archive pkg-config liburing-dev libnuma-dev libjson-c-dev zlib1g-dev"
	[vm]="qemu-system-x86 busybox-static flex bison bc libelf-dev libssl-dev cpio xz-utils"
	[test]="clang libclang-rt-14-dev python3"
	[pkg]="dpkg-dev debhelper lintian rpm cpio python3"
)
want=()
for g in "$@"; do
	[ -n "${group[$g]:-}" ] || { echo "install-deps: unknown group '$g' (build, vm, test, pkg)" >&2; exit 2; }
	want+=(${group[$g]})
done
missing=()
for p in "${want[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
echo "install-deps: installing ${missing[*]}"
sudo=
if [ "$(id -u)" -ne 0 ]; then
	command -v sudo >/dev/null || { echo "install-deps: need root (or sudo) to install ${missing[*]}" >&2; exit 1; }
	sudo=sudo
fi
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
