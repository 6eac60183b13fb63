#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# sva-info against a fake sysfs tree: text and JSON output, natural ordering,
# missing attributes, JSON string escaping, the environment and option
# precedence, and usage errors (exit status 2).  No kernel support is needed:
# the iommufd path and the dev root point into the temporary tree, so the test
# never opens a real device even on a machine that has some.
#
# Run by automake (top_builddir is set), or by hand:
#   top_builddir=/path/to/build sh tests/unit/test-sva-info.sh

SVA_INFO=${SVA_INFO:-${top_builddir:-.}/tools/sva-info}
case $SVA_INFO in /*) ;; *) SVA_INFO=$(pwd)/$SVA_INFO ;; esac
unset SVA_SYSFS_ROOT SVA_DEV_ROOT
SVA_LOG=off
export SVA_LOG

if [ ! -x "$SVA_INFO" ]; then
	echo "1..0 # SKIP $SVA_INFO is not built"
	exit 0
fi

tmp=$(mktemp -d "${TMPDIR:-/tmp}/sva-info-test.XXXXXX") || {
	echo "Bail out! mktemp failed"
	exit 1
}
trap 'rm -rf "$tmp"' EXIT
trap 'exit 1' HUP INT TERM

count=0
failed=0

# ok STATUS DESCRIPTION: one TAP line; STATUS 0 passes.
ok() {
	count=$((count + 1))
	if [ "$1" -eq 0 ]; then
		echo "ok $count - $2"
	else
		echo "not ok $count - $2"
		failed=$((failed + 1))
	fi
}

# check DESCRIPTION COMMAND...: passes if COMMAND succeeds; on failure show the last run.
check() {
	desc=$1
	shift
	if "$@"; then
		ok 0 "$desc"
	else
		ok 1 "$desc"
		echo "# command: $*"
		echo "# last exit status: $rc"
		sed 's/^/# stdout: /' "$tmp/out"
		sed 's/^/# stderr: /' "$tmp/err"
	fi
}

skip() {
	count=$((count + 1))
	echo "ok $count # SKIP $1"
}

# run ARGS...: run sva-info, stdout in $tmp/out, stderr in $tmp/err, status in $rc.
run() {
	"$SVA_INFO" "$@" >"$tmp/out" 2>"$tmp/err"
	rc=$?
}

has() { grep -q -- "$1" "$tmp/out"; }
has_err() { grep -q -- "$1" "$tmp/err"; }
empty() { [ ! -s "$1" ]; }

# -------------------------------------------------------------- the fake tree
# The sysfs root's name holds a quote, a backslash and a tab, so every path in
# the JSON output needs escaping.
tab=$(printf '\t')
S="$tmp/sy\"s\\${tab}root"
D="$tmp/dev"
mkdir -p "$S" "$D/vfio/devices"

# vfio3: the class entry is a directory whose device link points at the PCI
# function; bus/pci/devices and the driver, IOMMU group and subsystem links as
# the kernel has them.
P="$S/devices/pci0000:00/0000:41:00.0"
mkdir -p "$P" "$S/bus/pci/drivers/vfio-pci" "$S/bus/pci/devices" "$S/kernel/iommu_groups/12" \
	"$S/class/vfio-dev/vfio3"
echo 0x8086 >"$P/vendor"
echo 0x0b25 >"$P/device"
echo 1 >"$P/numa_node"
ln -s ../../../bus/pci/drivers/vfio-pci "$P/driver"
ln -s ../../../kernel/iommu_groups/12 "$P/iommu_group"
ln -s ../../../bus/pci "$P/subsystem"
ln -s ../../../devices/pci0000:00/0000:41:00.0 "$S/bus/pci/devices/0000:41:00.0"
ln -s ../../../devices/pci0000:00/0000:41:00.0 "$S/class/vfio-dev/vfio3/device"
# Its node exists but is no character device.
: >"$D/vfio/devices/vfio3"

# vfio10: the layout of a real kernel (class entry -> the vfio-dev directory
# under the device), no IOMMU group, NUMA node -1, and a driver whose name
# needs escaping.
P="$S/devices/pci0000:00/0000:42:00.0"
mkdir -p "$P/vfio-dev/vfio10" "$S/bus/pci/drivers/we\"ird\\drv"
echo 0x1af4 >"$P/vendor"
echo 0x1041 >"$P/device"
echo -1 >"$P/numa_node"
ln -s "../../../bus/pci/drivers/we\"ird\\drv" "$P/driver"
ln -s ../../../bus/pci "$P/subsystem"
ln -s ../../../devices/pci0000:00/0000:42:00.0 "$S/bus/pci/devices/0000:42:00.0"
ln -s ../../../0000:42:00.0 "$P/vfio-dev/vfio10/device"
ln -s ../../devices/pci0000:00/0000:42:00.0/vfio-dev/vfio10 "$S/class/vfio-dev/vfio10"

# vfio2: a platform device whose driver name is not UTF-8.
P="$S/devices/platform/foo.0"
bad=$(printf 'bad\377name')
mkdir -p "$P/vfio-dev/vfio2" "$S/bus/platform/drivers/$bad"
ln -s "../../../bus/platform/drivers/$bad" "$P/driver"
ln -s ../../../bus/platform "$P/subsystem"
ln -s ../../../foo.0 "$P/vfio-dev/vfio2/device"
ln -s ../../devices/platform/foo.0/vfio-dev/vfio2 "$S/class/vfio-dev/vfio2"

# vfio11: a class entry with no device link at all.
mkdir -p "$S/class/vfio-dev/vfio11"

E="$tmp/empty-sys"
mkdir -p "$E"

have_python=no
if command -v python3 >/dev/null 2>&1 && python3 -c 'import json' >/dev/null 2>&1; then
	have_python=yes
fi

# json_ok FILE: valid JSON (python3's own parser).
json_ok() { python3 -m json.tool "$1" >/dev/null; }

# json_assert FILE PYTHON-EXPR: the expression holds for the parsed document `d`.
json_assert() {
	python3 -c 'import json, sys
d = json.load(open(sys.argv[1], encoding="utf-8"))
sys.exit(0 if eval(sys.argv[2]) else 1)' "$1" "$2"
}

# -------------------------------------------------------------- usage
run --help
check "--help exits 0" [ "$rc" -eq 0 ]
check "--help prints usage on stdout, nothing on stderr" eval 'has "^Usage: sva-info" && empty "$tmp/err"'
check "--help documents every option" eval 'has --json && has --sysfs-root && has --dev-root && has --iommu-path && has --no-open && has --verbose && has --version'

run --version
check "--version exits 0 and names the package" eval '[ "$rc" -eq 0 ] && has "^sva-info (libsva) [0-9]"'

run --no-such-option
check "an unknown option exits 2" [ "$rc" -eq 2 ]
check "an unknown option: message on stderr, nothing on stdout" eval 'has_err "Try .sva-info --help." && empty "$tmp/out"'

run -x
check "an unknown short option exits 2" [ "$rc" -eq 2 ]

run --sysfs-root="$S" extra
check "an extra argument exits 2 and names it" eval '[ "$rc" -eq 2 ] && has_err "unexpected argument .extra." && empty "$tmp/out"'

run --sysfs-root=
check "an empty --sysfs-root exits 2" eval '[ "$rc" -eq 2 ] && has_err "sysfs-root needs a non-empty argument"'

run --sysfs-root
check "--sysfs-root without its argument exits 2" eval '[ "$rc" -eq 2 ] && empty "$tmp/out"'

run --json=yes
check "an argument to --json exits 2" [ "$rc" -eq 2 ]

run --sysfs-root="$tmp/does-not-exist" --dev-root="$D"
check "a missing sysfs root exits 1 with a message" eval '[ "$rc" -eq 1 ] && has_err "does-not-exist" && empty "$tmp/out"'

# -------------------------------------------------------------- nothing there
run --sysfs-root="$E" --dev-root="$D"
check "no devices and no iommufd: exit 0" [ "$rc" -eq 0 ]
check "no devices: says so and what to check" has "^no VFIO cdev devices found (is a device bound to vfio-pci? is CONFIG_VFIO_DEVICE_CDEV set?)$"
check "no iommufd: names the path and the reason" has "^$D/iommu: cannot open: No such file or directory$"
check "no iommufd: says what to do" has "CONFIG_IOMMUFD"
check "SVA_LOG=off: nothing on stderr" empty "$tmp/err"

run --sysfs-root="$E" --dev-root="$D" --json
cp "$tmp/out" "$tmp/empty.json"
check "--json with no devices: exit 0" [ "$rc" -eq 0 ]
check "--json with no devices: an empty device array" has '"devices": \[\]'
if [ $have_python = yes ]; then
	check "--json with no devices: valid JSON" json_ok "$tmp/empty.json"
	check "--json with no devices: iommufd unavailable with ENOENT" json_assert "$tmp/empty.json" \
		'set(d) == {"iommufd", "devices"} and d["devices"] == [] and d["iommufd"]["available"] is False and d["iommufd"]["error"]["name"] == "ENOENT" and d["iommufd"]["error"]["errno"] > 0 and d["iommufd"]["path"].endswith("/dev/iommu")'
else
	skip "python3 not found: cannot validate the JSON"
	skip "python3 not found: cannot inspect the JSON"
fi

run --sysfs-root="$E" --iommu-path=/dev/null
check "an iommu path that is not an iommufd: exit 0" [ "$rc" -eq 0 ]
check "an iommu path that is not an iommufd: says so" eval 'has "^/dev/null: cannot open: " && has "not an iommufd"'

# -------------------------------------------------------------- the devices
run --sysfs-root="$S" --dev-root="$D"
cp "$tmp/out" "$tmp/devices.txt"
check "fake devices: exit 0" [ "$rc" -eq 0 ]
check "fake devices: no 'no devices' sentence" eval '! has "no VFIO cdev devices found"'
check "fake devices: natural order vfio2, vfio3, vfio10, vfio11" \
	eval '[ "$(grep "^vfio" "$tmp/out" | tr "\n" " ")" = "vfio2 vfio3 vfio10 vfio11 " ]'
check "fake devices: counted" has "^4 VFIO cdev devices$"
check "fake devices: control characters in paths are escaped in text" has 'sy"s\\\\x09root/devices/'
# The vfio3 block alone.
sed -n '/^vfio3$/,/^$/p' "$tmp/devices.txt" >"$tmp/out"
check "vfio3: its node under the dev root, flagged" has "device node: *$D/vfio/devices/vfio3 (not a character device)$"
check "vfio3: PCI address" has "pci address: *0000:41:00.0$"
check "vfio3: vendor:device IDs" has "vendor:device: *8086:0b25$"
check "vfio3: driver" has "driver: *vfio-pci$"
check "vfio3: IOMMU group" has "iommu group: *12$"
check "vfio3: NUMA node" has "numa node: *1$"
check "vfio3: bus" has "bus: *pci$"
check "vfio3: no hw info without an iommufd, and why" has "hw info: *unavailable: the iommufd cannot be opened$"
sed -n '/^vfio10$/,/^$/p' "$tmp/devices.txt" >"$tmp/out"
check "vfio10: missing node" has "device node: *$D/vfio/devices/vfio10 (missing)$"
check "vfio10: real-kernel layout resolves the PCI address" has "pci address: *0000:42:00.0$"
check "vfio10: no IOMMU group" has "iommu group: *none$"
check "vfio10: NUMA node -1 is unknown" has "numa node: *unknown$"
sed -n '/^vfio2$/,/^$/p' "$tmp/devices.txt" >"$tmp/out"
check "vfio2: a platform device has a bus and no PCI address" eval 'has "bus: *platform$" && ! has "pci address"'
sed -n '/^vfio11$/,/^$/p' "$tmp/devices.txt" >"$tmp/out"
check "vfio11: no device link" eval 'has "sysfs device: *unknown" && has "driver: *none$"'

run --sysfs-root="$S" --dev-root="$D" --json
cp "$tmp/out" "$tmp/devices.json"
check "--json with devices: exit 0" [ "$rc" -eq 0 ]
check "--json: nothing on stderr" empty "$tmp/err"
check "--json: the driver name is escaped" has '"driver": "we\\"ird\\\\drv"'
check "--json: the tab in a path is escaped" has 'sy\\"s\\\\\\troot'
if [ $have_python = yes ]; then
	check "--json with devices: valid JSON" json_ok "$tmp/devices.json"
	check "--json: top level is exactly iommufd and devices" json_assert "$tmp/devices.json" \
		'set(d) == {"iommufd", "devices"}'
	check "--json: devices in natural order" json_assert "$tmp/devices.json" \
		'[x["name"] for x in d["devices"]] == ["vfio2", "vfio3", "vfio10", "vfio11"]'
	check "--json: vfio3 fields" json_assert "$tmp/devices.json" \
		'(lambda x: x["path"].endswith("/vfio/devices/vfio3") and x["path_exists"] is True and x["path_is_chardev"] is False and x["bus"] == "pci" and x["vendor_id"] == "8086" and x["device_id"] == "0b25" and x["driver"] == "vfio-pci" and x["iommu_group"] == 12 and x["numa_node"] == 1 and x["sysfs_path"].endswith("/devices/pci0000:00/0000:41:00.0") and x["hw_info"] is None and x["hw_info_error"]["reason"] == "no-iommufd")(d["devices"][1])'
	check "--json: a path with a quote, backslash and tab round-trips" json_assert "$tmp/devices.json" \
		'"sy\"s\\\troot/devices/" in d["devices"][1]["sysfs_path"]'
	check "--json: vfio10 unknowns are null" json_assert "$tmp/devices.json" \
		'(lambda x: x["iommu_group"] is None and x["numa_node"] is None and x["path_exists"] is False and x["driver"] == "we\"ird\\drv")(d["devices"][2])'
	check "--json: non-UTF-8 bytes become U+FFFD" json_assert "$tmp/devices.json" \
		'(lambda x: x["bus"] == "platform" and x["pci_addr"] is None and x["vendor_id"] is None and x["driver"] == "bad\ufffdname")(d["devices"][0])'
	check "--json: vfio11 has no sysfs device" json_assert "$tmp/devices.json" \
		'(lambda x: x["sysfs_path"] is None and x["bus"] is None and x["driver"] is None)(d["devices"][3])'
else
	for i in 1 2 3 4 5 6 7 8; do
		skip "python3 not found: cannot validate or inspect the JSON"
	done
fi

(cd "$tmp" && "$SVA_INFO" --sysfs-root="$S" --dev-root=dev >"$tmp/out" 2>"$tmp/err")
rc=$?
check "a relative --dev-root is made absolute" eval '[ "$rc" -eq 0 ] && has "device node: *$D/vfio/devices/vfio3 " && has "^$D/iommu: cannot open"'

run --sysfs-root="$S" --dev-root="$D" --no-open
check "--no-open: says the devices were not opened" eval '[ "$rc" -eq 0 ] && has "hw info: *not read (--no-open)$"'

# -------------------------------------------------------------- environment
SVA_SYSFS_ROOT="$S" SVA_DEV_ROOT="$D" "$SVA_INFO" >"$tmp/out" 2>"$tmp/err"
rc=$?
check "\$SVA_SYSFS_ROOT and \$SVA_DEV_ROOT are used" eval '[ "$rc" -eq 0 ] && has "^vfio3$" && has "^$D/iommu: cannot open"'
SVA_SYSFS_ROOT="$S" "$SVA_INFO" --sysfs-root="$E" --dev-root="$D" >"$tmp/out" 2>"$tmp/err"
rc=$?
check "--sysfs-root overrides \$SVA_SYSFS_ROOT" eval '[ "$rc" -eq 0 ] && has "^no VFIO cdev devices found"'
SVA_SYSFS_ROOT= "$SVA_INFO" --dev-root="$D" >"$tmp/out" 2>"$tmp/err"
rc=$?
check "an empty \$SVA_SYSFS_ROOT means /sys" [ "$rc" -eq 0 ]

run --sysfs-root="$E" --dev-root="$D" -v
check "-v: libsva logs on stderr despite SVA_LOG=off" eval '[ "$rc" -eq 0 ] && has_err "^libsva error: .*CONFIG_IOMMUFD"'
check "-v: stdout unchanged" has "^no VFIO cdev devices found"

echo "1..$count"
[ "$failed" -eq 0 ]
