#!/bin/bash
# libsva's main job, the README's first command: build libsva and run sva-demo.
#
#   tools/demo.sh                 no device given (no usable IOMMU here, the
#                                 usual case): boot the bundled test VM (Linux 7.x, emulated VT-d, the
#                                 iommufd selftest mock and QEMU's edu device on
#                                 NUMA node 1) and run the demo inside it
#   tools/demo.sh --device DEV    run it on this machine with a VFIO device
#                                 (cdev path, vfioN, or PCI address)
#   tools/demo.sh --help          say so
# Installs the Debian packages it needs.  The first VM run builds the kernel
# (about 5 minutes on 2 cores) and caches it under ~/.cache/libsva/kernel/.
set -euo pipefail

src=$(cd "$(dirname "$0")/.." && pwd)
build=$src/build/demo
device=
usage() { echo "tools/demo.sh: ${1:+$1; }usage: tools/demo.sh [--device DEV]" >&2; exit 2; }
case ${1:-} in
-h | --help)
	[ $# -eq 1 ] || usage "unexpected argument '$2'"
	cat <<EOF
usage: tools/demo.sh [--device DEV]
  Builds libsva and runs sva-demo (see man/sva-demo.1).  Without --device it
  boots the test VM (the first run downloads and builds its kernel, about
  5 minutes on 2 cores); with it, it runs on this machine's IOMMU.
  DEV: a VFIO cdev path (/dev/vfio/devices/vfio0), a cdev name (vfio0) or a
  PCI address (0000:41:00.0) of a device bound to vfio-pci.
EOF
	exit 0
	;;
--device)
	[ $# -ge 2 ] || usage "--device needs an argument"
	[ $# -eq 2 ] || usage "unexpected argument '$3'"
	device=$2
	;;
--device=*) [ $# -eq 1 ] || usage "unexpected argument '$2'"; device=${1#*=} ;;
"") [ $# -eq 0 ] || usage "unexpected argument '$1'" ;; # "" is an argument too
-*) usage "unknown option '$1'" ;;
*) usage "unexpected argument '$1'" ;;
esac
# An empty DEV is a mistake, not a request for the VM.
case ${1:-} in --device*) [ -n "$device" ] || usage "--device needs a non-empty argument" ;; esac

# It builds out of tree: a source tree configured in place would make its
# configure stop with "source directory already configured".
if [ -f "$src/config.status" ]; then
	echo "tools/demo.sh: $src is configured in place (config.status): run 'make distclean' there first;" \
		"the demo builds out of tree, under build/demo" >&2
	exit 2
fi
if [ -n "$device" ]; then
	"$src/tools/install-deps.sh" build
else
	"$src/tools/install-deps.sh" build vm
fi
echo "demo: building libsva"
mkdir -p "$src/build"
# Only a fresh clone needs autoreconf: once configure exists, the build's own
# rules regenerate it (and rerun it) when configure.ac or a Makefile.am
# changes.  Running it every time cost about 15 s and a full reconfigure.
[ -x "$src/configure" ] || (cd "$src" && autoreconf -fi >"$src/build/autoreconf.log" 2>&1) ||
	{ tail -20 "$src/build/autoreconf.log"; exit 1; }
mkdir -p "$build" && cd "$build"
# Static, so the VM's initramfs needs no copy of the build tree's libsva.so.
[ -f Makefile ] || "$src/configure" -q --disable-shared >configure.log 2>&1 || { tail -20 configure.log; exit 1; }
make -j"$(($(nproc) + 1))" tools/sva-demo >make.log 2>&1 || { tail -30 make.log; exit 1; }

if [ -n "$device" ]; then
	exec "$build/tools/sva-demo" --device "$device"
fi
echo "demo: no device given: running in the test VM (tests/vm, topology vtd48-numa)"
kernel=$(sh "$src/tests/vm/build-kernel.sh")
rc=0
mkdir -p "$build/vm"
sh "$src/tests/vm/run-vm.sh" --topology vtd48-numa --raw --logdir "$build/vm" --kernel "$kernel" \
	-- "$build/tools/sva-demo" >"$build/vm/run.log" 2>&1 || rc=$?
cat "$build/vm/sva-demo-vtd48-numa.log" 2>/dev/null || cat "$build/vm/run.log"
exit $rc
