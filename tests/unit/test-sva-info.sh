#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# sva-info against a fake sysfs tree: text and JSON output, natural ordering,
# missing attributes, JSON string escaping, the environment and option
# precedence, and usage errors (exit status 2).  Then --doctor against fake
# sysfs and proc trees: PASS, WARN, FAIL and SKIP lines, PCI config spaces with
# and without PASID/ATS/PRI, kernel configs (gzip and plain), limits, huge
# pages, and the exit status (4 with a FAIL).  No kernel support is needed:
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

tool=$SVA_INFO tool_tmp=sva-info-test
. "${top_srcdir:-$(dirname "$0")/../..}/tests/tap-tool.sh"

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
check "--help prints usage on stdout, nothing on stderr" eval 'has "^usage: sva-info" && empty "$tmp/err"'
check "--help documents every option" eval 'has --json && has --sysfs-root && has --dev-root && has --iommu-path && has --no-open && has --verbose && has --version && has --doctor && has --proc-root && has --kernel-config'

run --version
check "--version exits 0 and names the package" eval '[ "$rc" -eq 0 ] && has "^sva-info (libsva) [0-9]"'
run --version extra
check "--version with an argument: a usage error, exit 2" [ "$rc" -eq 2 ]
help_version sva-info "$SVA_INFO"
option_errors sva-info --memlock "$SVA_INFO"
value_errors sva-info "--sysfs-root:path --dev-root:path --iommu-path:path --proc-root:path --kernel-config:path --broker-socket:path --memlock:1:18446744073709551615" "$SVA_INFO"
run --ver
check "--ver could be two options: exit 2, naming both" \
	eval '[ "$rc" -eq 2 ] && [ "$(head -n 1 "$tmp/err")" = "sva-info: ambiguous option '"'"'--ver'"'"' (--verbose, --version)" ]'
for m in +5 " 5" 0x10; do
	run --cdi --memlock="$m"
	check "--cdi --memlock='$m': not a plain decimal number, exit 2" [ "$rc" -eq 2 ]
done

run --no-such-option
check "an unknown option exits 2" [ "$rc" -eq 2 ]
check "an unknown option: message on stderr, nothing on stdout" eval 'has_err "Try .sva-info --help." && empty "$tmp/out"'

run -x
check "an unknown short option exits 2" [ "$rc" -eq 2 ]

run --sysfs-root="$S" extra
check "an extra argument exits 2 and names it" eval '[ "$rc" -eq 2 ] && has_err "unexpected argument .extra." && empty "$tmp/out"'

run --sysfs-root=
check "an empty --sysfs-root exits 2" eval '[ "$rc" -eq 2 ] && has_err "option .--sysfs-root. needs a non-empty argument"'

run --sysfs-root
check "--sysfs-root without its argument exits 2" eval '[ "$rc" -eq 2 ] && empty "$tmp/out"'

run --json=yes
check "an argument to --json exits 2" [ "$rc" -eq 2 ]

run --sysfs-root="$tmp/does-not-exist" --dev-root="$D"
check "a missing sysfs root exits 1 with a message" eval '[ "$rc" -eq 1 ] && has_err "does-not-exist" && empty "$tmp/out"'

# class/vfio-dev that exists but cannot be listed is a failed listing (exit 1,
# as sva-info(1) says), not "no devices"; a missing one is no devices (below).
F="$tmp/file-sys"
mkdir -p "$F/class"
: >"$F/class/vfio-dev"
run --sysfs-root="$F" --dev-root="$D"
check "class/vfio-dev a regular file: exit 1, names it and why, prints nothing" \
	eval '[ "$rc" -eq 1 ] && has_err "cannot list $F/class/vfio-dev: Not a directory" && empty "$tmp/out"'
run --doctor --sysfs-root="$F" --dev-root="$D"
check "class/vfio-dev a regular file: --doctor exits 1 too" eval '[ "$rc" -eq 1 ] && has_err "cannot list"'

# sva-info(1), EXIT STATUS 1: "the output could not be written", in every
# mode (only --help and --version were tried into a full device).
for mode in "" --json --doctor --cdi; do
	if [ ! -w /dev/full ]; then
		skip "no /dev/full here"
		continue
	fi
	# shellcheck disable=SC2086 # $mode: one word or none
	"$SVA_INFO" $mode --sysfs-root="$S" --dev-root="$D" --iommu-path="$tmp/no-iommu" >/dev/full 2>"$tmp/err"
	rc=$?
	: >"$tmp/out"
	check "${mode:-the listing} into a full device: exit 1, saying so" \
		eval '[ "$rc" -eq 1 ] && has_err "writing the output failed"'
done

# -------------------------------------------------------------- nothing there
run --sysfs-root="$E" --dev-root="$D"
check "no devices and no iommufd: exit 0" [ "$rc" -eq 0 ]
check "no devices: says so and what to check" has "^no VFIO cdev devices found (is a device bound to vfio-pci? is CONFIG_VFIO_DEVICE_CDEV set?)$"
check "no iommufd: names the path and the reason" has "^$D/iommu: cannot open: No such file or directory$"
check "no iommufd: says what to do" has "CONFIG_IOMMUFD"
check "SVA_LOG=off: nothing on stderr" empty "$tmp/err"

# "/" as the dev root: its nodes are /iommu and /vfio/devices/..., not "//iommu".
if [ ! -e /iommu ]; then
	run --sysfs-root="$E" --dev-root=/
	check "--dev-root=/: the iommufd is /iommu" eval 'has "^/iommu: cannot open" && ! grep -q "//" "$tmp/out"'
else
	skip "this machine has a /iommu"
fi

run --sysfs-root="$E" --dev-root="$D" --json
cp "$tmp/out" "$tmp/empty.json"
check "--json with no devices: exit 0" [ "$rc" -eq 0 ]
# (Whitespace is json-c's: an empty array may span lines.)
check "--json with no devices: an empty device array" eval 'tr -d " \n" <"$tmp/out" | grep -q "\"devices\":\[\]"'
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
run --sysfs-root="$E" --iommu-path="$tmp"
check "an iommu path that is a directory: says so, and what to do" \
	eval '[ "$rc" -eq 0 ] && has "cannot open: Is a directory" && has "check --iommu-path"'
if command -v python3 >/dev/null 2>&1; then
	run --json --sysfs-root="$E" --iommu-path="$tmp"
	python3 -c 'import json,sys; e=json.load(open(sys.argv[1]))["iommufd"]["error"]; assert e["name"] == "EISDIR" and e["hint"]' "$tmp/out"
	ok $? "--json: an error's name for any errno (EISDIR, not null) and its hint"
else
	skip "python3 not found: cannot inspect the JSON"
fi

# A root libsva refuses (over 2048 bytes) is a usage error that says so, not
# a failure to open /dev/iommu ("File name too long").
long=/$(printf '%2100s' '' | tr ' ' a)
run --dev-root="$long" --iommu-path=/dev/iommu
check "a dev root over 2048 bytes: exit 2" [ "$rc" -eq 2 ]
check "  ... saying it is over libsva's limit" has_err "the dev root is longer than 2048 bytes"
run --sysfs-root="$long"
check "a sysfs root over 2048 bytes: exit 2, saying so" eval '[ "$rc" -eq 2 ] && has_err "the sysfs root is longer than 2048 bytes"'
# A dev root of 2048 bytes, the longest, still has room for /iommu: there is
# no usage error for a dev root "too long for dev-root/iommu" (the page listed
# one that cannot happen).
root2048=
while [ ${#root2048} -lt 2040 ]; do root2048="$root2048/aaaaaaaaa"; done
root2048="$root2048/aaaaaaa"
run --sysfs-root="$E" --dev-root="$root2048"
check "a dev root of ${#root2048} bytes: exit 0, its iommufd is DEV_ROOT/iommu" \
	eval '[ "$rc" -eq 0 ] && has "^$root2048/iommu: cannot open: No such file or directory"'
MAN_INFO_PAGE="${top_srcdir:-$(dirname "$0")/../..}/man/sva-info.1"
check "sva-info(1), EXIT STATUS: no usage error for a dev root too long for dev-root/iommu" \
	eval 'sed -n "/^\.SH EXIT STATUS/,/^\.SH NOTES/p" "$MAN_INFO_PAGE" | grep -q "^\.B 2$" &&
		! sed -n "/^\.SH EXIT STATUS/,/^\.SH NOTES/p" "$MAN_INFO_PAGE" | tr "\n" " " | grep -q "too long for the path"'
# --memlock: decimal digits only, leading zeros changing nothing, nothing past
# 2^64-1 (sva-info(1), --memlock).
for m in 18446744073709551616 99999999999999999999999 "5 " 5k 0 00; do
	case $m in *[!0-9]*) why="is not a number" ;; *) why="must be between 1 and 18446744073709551615" ;; esac
	run --cdi --memlock="$m"
	check "--cdi --memlock='$m': a usage error (status 2), '$m' $why" \
		eval '[ "$rc" -eq 2 ] && [ "$(head -n 1 "$tmp/err")" = "sva-info: option '"'"'--memlock'"'"': '"'"'$m'"'"' $why" ]'
done
run --cdi --sysfs-root="$S" --dev-root="$D" --memlock=0100
check "--cdi --memlock=0100: a hundred bytes" eval '[ "$rc" -eq 0 ] && has "\"libsva/memlock\": \"100\""'
run --cdi --sysfs-root="$S" --dev-root="$D" --memlock=18446744073709551615
check "--cdi --memlock=18446744073709551615: the largest, taken" \
	eval '[ "$rc" -eq 0 ] && has "\"libsva/memlock\": \"18446744073709551615\""'
# Those are usage errors (sva-info(1), EXIT STATUS 2), and -h and -V report
# the rest of the command line's usage error instead of printing (OPTIONS):
# they printed the help or version, status 0.
longpath=/$(head -c 5000 /dev/zero | tr '\0' x)
for args in "--help --dev-root=$long" "-V --sysfs-root=$long" "--version --iommu-path=$longpath" \
	"-h --doctor --sysfs-root=$long"; do
	# shellcheck disable=SC2086 # split on purpose
	run $args
	check "${args%%=*}=<${#long} or ${#longpath} bytes>: the usage error, not the help or version (status 2)" \
		eval '[ "$rc" -eq 2 ] && empty "$tmp/out" && has_err "longer than"'
done
# The environment is not the command line: --help still helps.
(SVA_SYSFS_ROOT=$long SVA_DEV_ROOT=$long; export SVA_SYSFS_ROOT SVA_DEV_ROOT; run --help; exit $rc); rc=$?
check "--help with an over-long \$SVA_SYSFS_ROOT and \$SVA_DEV_ROOT: the help, status 0" \
	eval '[ "$rc" -eq 0 ] && has "^usage: sva-info"'
(SVA_SYSFS_ROOT=$long SVA_DEV_ROOT=$long; export SVA_SYSFS_ROOT SVA_DEV_ROOT; run --version; exit $rc); rc=$?
check "--version with an over-long \$SVA_SYSFS_ROOT and \$SVA_DEV_ROOT: the version, status 0 (sva-info(1))" \
	eval '[ "$rc" -eq 0 ] && has "^sva-info (libsva) "'
(SVA_SYSFS_ROOT=$long; export SVA_SYSFS_ROOT; run --sysfs-root="$E"; exit $rc); rc=$?
check "--sysfs-root overrides an over-long \$SVA_SYSFS_ROOT: no usage error" eval '[ "$rc" -eq 0 ]'
(SVA_SYSFS_ROOT=$long; export SVA_SYSFS_ROOT; run; exit $rc); rc=$?
check "an over-long \$SVA_SYSFS_ROOT alone: a usage error (status 2)" eval '[ "$rc" -eq 2 ] && has_err "sysfs root is longer than 2048"'

# -------------------------------------------------------------- the devices
run --sysfs-root="$S" --dev-root="$D"
cp "$tmp/out" "$tmp/devices.txt"
check "fake devices: exit 0" [ "$rc" -eq 0 ]
check "fake devices: no 'no devices' sentence" eval '! has "no VFIO cdev devices found"'
check "fake devices: natural order vfio2, vfio3, vfio10, vfio11" \
	eval '[ "$(grep "^vfio" "$tmp/out" | tr "\n" " ")" = "vfio2 vfio3 vfio10 vfio11 " ]'
check "fake devices: counted" has "^4 VFIO cdev devices$"
check "fake devices: control characters (and the backslash) in paths are escaped in text" \
	has 'sy"s\\x5c\\x09root/devices/'
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
sed -n '/^vfio10$/,/^$/p' "$tmp/devices.txt" >"$tmp/out"
check "vfio10: a backslash in a name is escaped too, so escapes stay unambiguous" has 'driver: *we"ird\\x5cdrv$'
# C1 controls (U+0085 as UTF-8, and a raw 0x9b, CSI in 8-bit terminals) are
# control characters too; well-formed UTF-8 such as U+00E9 is printed as is.
S1="$tmp/c1$(printf '\302\205')x$(printf '\233')y$(printf '\303\251')z"
cp -a "$S" "$S1"
run --sysfs-root="$S1" --dev-root="$D"
check "fake devices: C1 controls and stray bytes in paths are escaped, UTF-8 kept" \
	has "c1\\\\xc2\\\\x85x\\\\x9by$(printf '\303\251')z/"
rm -rf "$S1"
# The same escapes in text for DEL, an overlong encoding and a UTF-16
# surrogate (not well-formed UTF-8 either); in JSON each such byte is
# U+FFFD ("bytes that are not valid UTF-8 ... become U+FFFD"), the document
# valid UTF-8, the well-formed text around kept.
S2="$tmp/del$(printf '\177')a$(printf '\300\200')b$(printf '\355\240\200')c"
cp -a "$S" "$S2"
run --sysfs-root="$S2" --dev-root="$D"
check "fake devices: DEL, an overlong form and a surrogate in paths are escaped as \\xhh in text" \
	has 'del\\x7fa\\xc0\\x80b\\xed\\xa0\\x80c/'
run --sysfs-root="$S2" --dev-root="$D" --json
if [ $have_python = yes ]; then
	check "--json: the same root is valid UTF-8, each ill-formed byte a U+FFFD, DEL kept as JSON allows" json_assert "$tmp/out" \
		'd["iommufd"]["sysfs_root"] == sys.argv[1].rsplit("/", 1)[0] + "/del\x7fa\ufffd\ufffdb\ufffd\ufffd\ufffdc"'
else
	skip "python3 not found"
fi
rm -rf "$S2"

run --sysfs-root="$S" --dev-root="$D" --json
cp "$tmp/out" "$tmp/devices.json"
check "--json with devices: exit 0" [ "$rc" -eq 0 ]
"$SVA_INFO" --sysfs-root="$S" --dev-root="$D" -j >"$tmp/j.json" 2>/dev/null
rc_j=$?
check "-j: the same document as --json" eval '[ "$rc_j" -eq 0 ] && cmp -s "$tmp/j.json" "$tmp/devices.json"'
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
	# A node stat(2) cannot answer for (a symbolic link to itself: ELOOP) is
	# neither there nor missing: what is not known is null.
	ln -s vfio11 "$D/vfio/devices/vfio11"
	run --sysfs-root="$S" --dev-root="$D" --json
	cp "$tmp/out" "$tmp/loop.json"
	check "--json: a node stat(2) fails on with ELOOP: path_exists and path_is_chardev are null" \
		json_assert "$tmp/loop.json" \
		'(lambda x: x["name"] == "vfio11" and x["path_exists"] is None and x["path_is_chardev"] is None)(d["devices"][3])'
	rm "$D/vfio/devices/vfio11"
else
	for i in 1 2 3 4 5 6 7 8; do
		skip "python3 not found: cannot validate or inspect the JSON"
	done
fi

(cd "$tmp" && "$SVA_INFO" --sysfs-root="$S" --dev-root=dev >"$tmp/out" 2>"$tmp/err")
rc=$?
check "a relative --dev-root is made absolute" eval '[ "$rc" -eq 0 ] && has "device node: *$D/vfio/devices/vfio3 " && has "^$D/iommu: cannot open"'
if [ $have_python = yes ]; then
	(cd "$tmp" && "$SVA_INFO" --json --sysfs-root="${S#"$tmp"/}" --dev-root=dev >"$tmp/out" 2>"$tmp/err")
	rc=$?
	cp "$tmp/out" "$tmp/rel.json"
	SVA_TEST_ROOT=$(cd "$S" && pwd -P)
	export SVA_TEST_ROOT
	check "--json: a relative --sysfs-root is reported absolute, as the dev root is" eval '[ "$rc" -eq 0 ] &&
		json_assert "$tmp/rel.json" "d[\"iommufd\"][\"sysfs_root\"] == __import__(\"os\").environ[\"SVA_TEST_ROOT\"]"'
else
	skip "python3 not found: cannot inspect the JSON"
fi

run --sysfs-root="$S" --dev-root="$D" --no-open
check "--no-open: says the devices were not opened" eval '[ "$rc" -eq 0 ] && has "hw info: *not read (--no-open)$"'
cp "$tmp/out" "$tmp/no-open.txt"

# Members are part of the interface: each member of hw_info_error that sva-info
# writes (reason no-iommufd, not-opened) is one sva-info(1) JSON OUTPUT names.
MAN_INFO="${top_srcdir:-$(dirname "$0")/../..}/man/sva-info.1"
if [ $have_python = yes ] && [ -r "$MAN_INFO" ]; then
	sed -n '/^\.B hw_info_error$/,/^\.PP$/p' "$MAN_INFO" >"$tmp/man-hwerr"
	run --json --sysfs-root="$S" --dev-root="$D" --no-open
	cp "$tmp/out" "$tmp/no-open.json"
	for f in devices.json no-open.json; do
		python3 -c 'import json, sys
d = json.load(open(sys.argv[1]))
for e in (x["hw_info_error"] for x in d["devices"] if x["hw_info_error"]):
    assert all(isinstance(v, str) for k, v in e.items() if k != "error"), e
    print(e["reason"], " ".join(sorted(e)))' "$tmp/$f"
	done >"$tmp/hwerr-members"
	check "--json: hw_info_error for no-iommufd and not-opened carries a message string" \
		eval 'grep -q "^no-iommufd message reason$" "$tmp/hwerr-members" && grep -q "^not-opened message reason$" "$tmp/hwerr-members"'
	check "--json: the message is the text output's words" json_assert "$tmp/no-open.json" \
		'd["devices"][1]["hw_info_error"]["message"] == "not read (--no-open)"'
	undocumented=
	for m in $(cut -d" " -f2- "$tmp/hwerr-members" | tr " " "\n" | sort -u); do
		grep -Eq "^\.BR? $m( |\$)" "$tmp/man-hwerr" || undocumented="$undocumented $m"
	done
	check "sva-info(1) documents every member of hw_info_error (undocumented:${undocumented:- none})" [ -z "$undocumented" ]
else
	skip "python3 or the man page not found: cannot compare hw_info_error with sva-info(1)"
	skip "(same)"
	skip "(same)"
fi

# -------------------------------------------------------------- --cdi
# A CDI spec: checked against the CDI schema's required fields by
# tests/unit/cdi-validate (built with the tests), then field by field.
CDI_VALIDATE=${CDI_VALIDATE:-${top_builddir:-.}/tests/unit/cdi-validate}
run --cdi --sysfs-root="$S" --dev-root="$D" --broker-socket=/run/sva-test/socket --memlock=268435456
cp "$tmp/out" "$tmp/cdi.json"
check "--cdi: exit 0" [ "$rc" -eq 0 ]
if [ -x "$CDI_VALIDATE" ]; then
	check "--cdi: a valid CDI spec (cdiVersion, kind, devices with name and containerEdits)" \
		"$CDI_VALIDATE" "$tmp/cdi.json"
	# The validator itself refuses what the schema refuses.
	for bad in 'del d["kind"]' 'd["devices"] = []' 'del d["devices"][0]["containerEdits"]' \
		'd["devices"][1]["containerEdits"]["deviceNodes"][0] = {"hostPath": "/dev/iommu"}' \
		'd["cdiVersion"] = "1.0"' 'd["kind"] = "libsva"' 'd["devices"][0]["name"] = "a:b"' \
		'd["extra"] = 1' 'd["devices"][0]["containerEdits"]["env"] = ["NOEQUALS"]'; do
		[ "$have_python" = yes ] || break
		python3 -c 'import json, sys
d = json.load(open(sys.argv[1]))
exec(sys.argv[2])
json.dump(d, open(sys.argv[3], "w"))' "$tmp/cdi.json" "$bad" "$tmp/bad.json"
		check "cdi-validate refuses a spec with: $bad" eval '! "$CDI_VALIDATE" "$tmp/bad.json" 2>/dev/null'
	done
fi
check "--cdi: the broker's device mounts the socket's directory" \
	eval 'tr -d " \n" <"$tmp/out" | grep -q "\"name\":\"broker\",\"containerEdits\":{\"env\":\[\"SVA_BROKER_SOCKET=/run/sva-test/socket\",\"SVA_MEMLOCK=268435456\"\],\"mounts\":\[{\"hostPath\":\"/run/sva-test\",\"containerPath\":\"/run/sva-test\""'
check "--cdi: a single-tenant device gives /dev/iommu and its cdev" \
	eval 'tr -d " \n" <"$tmp/out" | grep -q "\"name\":\"vfio3\",\"containerEdits\":{\"env\":\[\"SVA_DEVICE=/dev/vfio/devices/vfio3\",\"SVA_MEMLOCK=268435456\"\],\"deviceNodes\":\[{\"path\":\"/dev/iommu\",\"hostPath\":\"$D/iommu\",\"permissions\":\"rw\"},{\"path\":\"/dev/vfio/devices/vfio3\",\"hostPath\":\"$D/vfio/devices/vfio3\""'
check "--cdi: the memlock the container needs, in the annotations" \
	eval 'has "\"libsva/memlock\": \"268435456\"" && has "ulimit memlock=268435456:268435456"'
(cd "$tmp" && "$SVA_INFO" --cdi --sysfs-root="$S" --dev-root="$D" --iommu-path=rel/iommu >"$tmp/out" 2>"$tmp/err")
rc=$?
check "--cdi: a relative --iommu-path is made absolute in the spec, as a relative --dev-root is" \
	eval '[ "$rc" -eq 0 ] && has "\"hostPath\": \"$tmp/rel/iommu\"" && ! has "\"hostPath\": \"rel/"'
(cd "$tmp" && "$SVA_INFO" --sysfs-root="$E" --iommu-path=rel/iommu >"$tmp/out" 2>"$tmp/err")
rc=$?
check "a relative --iommu-path is made absolute in the listing too" has "^$tmp/rel/iommu: cannot open"
# ... and taken in its plain spelling, as the roots are (sva-info(1),
# --iommu-path): no "//" or "/./" in the listing, the JSON or a CDI spec.
(cd "$tmp" && "$SVA_INFO" --sysfs-root="$E" --iommu-path=.//rel/./iommu/ >"$tmp/out" 2>"$tmp/err")
rc=$?
check "--iommu-path=.//rel/./iommu/: the listing names $tmp/rel/iommu, plainly" \
	eval '[ "$rc" -eq 0 ] && has "^$tmp/rel/iommu: cannot open" && ! grep -Eq "//|/\./" "$tmp/out"'
(cd "$tmp" && "$SVA_INFO" --json --sysfs-root="$E" --iommu-path=.//rel/./iommu >"$tmp/out" 2>"$tmp/err")
rc=$?
check "--json --iommu-path=.//rel/./iommu: the iommufd's path is $tmp/rel/iommu" \
	eval '[ "$rc" -eq 0 ] && grep -q "\"path\": *\"$tmp/rel/iommu\"" "$tmp/out"'
(cd "$tmp" && "$SVA_INFO" --cdi --sysfs-root="$S" --dev-root="$D" --iommu-path=.//rel/./iommu >"$tmp/out" 2>"$tmp/err")
rc=$?
check "--cdi --iommu-path=.//rel/./iommu: the spec's hostPath is $tmp/rel/iommu" \
	eval '[ "$rc" -eq 0 ] && has "\"hostPath\": \"$tmp/rel/iommu\""'
run --doctor --sysfs-root="$E" --dev-root="$D" --proc-root="$E" --iommu-path="$tmp//no-iommu/."
check "--doctor --iommu-path=$tmp//no-iommu/.: named $tmp/no-iommu, plainly" \
	eval 'has "$tmp/no-iommu does not exist" && ! grep -Eq "//|/\./" "$tmp/out"'
run --cdi --sysfs-root="$E" --dev-root="$D" --broker-socket=/nonexistent/dir/sock
check "--cdi with only a broker: exit 0, the broker's device alone" eval '[ "$rc" -eq 0 ] && has "\"name\": \"broker\"" && ! has vfio'
# A class entry whose name CDI does not allow (a hand-made tree): left out,
# and said so.
BS="$tmp/badname-sysfs"
mkdir -p "$BS/class/vfio-dev/vfio7-" "$BS/class/vfio-dev/vfio8"
run --cdi --sysfs-root="$BS" --dev-root="$D" --broker-socket=/run/sva-test/socket
check "--cdi: a device whose name CDI refuses is left out, with a line naming it" \
	eval '[ "$rc" -eq 0 ] && has "\"name\": \"vfio8\"" && ! has "vfio7-" && has_err "left out vfio7-: not a valid CDI device name"'
run --cdi --sysfs-root="$E" --dev-root="$E"
check "--cdi with nothing to describe: exit 1, saying so" eval '[ "$rc" -eq 1 ] && has_err "no device to describe"'
run --cdi --json
check "--cdi with --json: usage error" eval '[ "$rc" -eq 2 ] && has_err "not with --json"'
# --cdi opens nothing, libsva included: --no-open and -v are not in its
# synopsis, and are usage errors with it (sva-info(1), EXIT STATUS).
for o in --no-open -v --verbose; do
	run --cdi --sysfs-root="$S" --dev-root="$D" $o
	check "--cdi $o: usage error (status 2), nothing printed" \
		eval '[ "$rc" -eq 2 ] && empty "$tmp/out" && has_err "cdi opens nothing: not with --"'
	run -h --cdi $o
	check "-h --cdi $o: the usage error, not the help (status 2)" eval '[ "$rc" -eq 2 ] && empty "$tmp/out"'
done
run --memlock=5
check "--memlock without --cdi: usage error" eval '[ "$rc" -eq 2 ] && has_err "goes with --cdi"'
run --cdi --memlock=-1
check "--cdi --memlock=-1: usage error" [ "$rc" -eq 2 ]
run --cdi --broker-socket=/sock
check "--cdi --broker-socket directly under /: usage error (its directory is mounted)" \
	eval '[ "$rc" -eq 2 ] && has_err "directly under /" && empty "$tmp/out"'
for p in //sock /./sock /../sock /run/../sock /run//sock /run/sock/; do
	run --cdi --broker-socket="$p"
	check "--cdi --broker-socket=$p: usage error, not a mount of / (the path must be plain)" \
		eval '[ "$rc" -eq 2 ] && has_err "plainly" && empty "$tmp/out"'
done
long=/run/$(printf '%0100d' 0)/sock # 109 bytes: no socket can be bound there
run --cdi --broker-socket="$long"
check "--cdi --broker-socket of 108 bytes or more: usage error, as for sva-brokerd" \
	eval '[ "$rc" -eq 2 ] && has_err "shorter than 108 bytes" && empty "$tmp/out"'
# -h and -V report a usage error between options instead (sva-info(1)).
for args in "--memlock=5 --version" "-V --broker-socket=/a/b" "-h --cdi --json" "-h --cdi --doctor" \
	"--proc-root=/proc -V" "-h --kernel-config=/x"; do
	# shellcheck disable=SC2086 # split on purpose
	run $args
	check "$args: the usage error, not the help or version (status 2)" \
		eval '[ "$rc" -eq 2 ] && empty "$tmp/out" && [ -s "$tmp/err" ]'
done
ln -s / "$tmp/to-root"
run --cdi --broker-socket="$tmp/to-root/sock"
check "--cdi --broker-socket in a directory that is a link to /: usage error" \
	eval '[ "$rc" -eq 2 ] && has_err "directly under /" && empty "$tmp/out"'
# The default socket names a broker only if one listens there: a stale
# socket file of a dead broker is no broker.
why=
command -v python3 >/dev/null 2>&1 || why="no python3 to make the socket"
[ -w /run ] || why="/run is not writable by $(id -un 2>/dev/null || id -u) (a package build runs as a user; CI's root tiers run this)"
[ ! -e /run/sva-brokerd ] || why="/run/sva-brokerd exists (a broker is installed): not touched"
if [ -z "$why" ]; then
	mkdir -p /run/sva-brokerd
	python3 -c 'import socket,sys; s=socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET); s.bind(sys.argv[1])' \
		/run/sva-brokerd/sock
	run --cdi --sysfs-root="$S" --dev-root="$D"
	check "--cdi: a stale socket at the default path (nothing listens) is not described as a broker" \
		eval '[ "$rc" -eq 0 ] && ! has "\"name\": \"broker\""'
	rm -rf /run/sva-brokerd
else
	skip "cannot create /run/sva-brokerd: $why"
fi

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

# No iommufd and no log asked for: the listing says so once, and libsva's
# line does not repeat it on standard error.
env -u SVA_LOG "$SVA_INFO" --sysfs-root="$E" --dev-root="$D" >"$tmp/out" 2>"$tmp/err"
rc=$?
check "no iommufd path, SVA_LOG unset: said once, nothing on stderr" \
	eval '[ "$rc" -eq 0 ] && has "^$D/iommu: cannot open" && [ ! -s "$tmp/err" ]'
SVA_LOG=warn "$SVA_INFO" --sysfs-root="$E" --dev-root="$D" >"$tmp/out" 2>"$tmp/err"
rc=$?
check "SVA_LOG=warn: libsva's line is written as asked" eval '[ "$rc" -eq 0 ] && has_err "^libsva error: .*CONFIG_IOMMUFD"'
run --sysfs-root="$E" --dev-root="$D" -v
check "-v: libsva logs on stderr despite SVA_LOG=off" eval '[ "$rc" -eq 0 ] && has_err "^libsva error: .*CONFIG_IOMMUFD"'
check "-v: stdout unchanged" has "^no VFIO cdev devices found"

# ============================================================== --doctor
# A fake machine: sysfs ($DS), proc ($DP) and dev ($DD) trees.  The iommufd
# path never opens (it does not exist), so no real device is touched and the
# per-device iommufd checks are skipped.
DS="$tmp/doc-sys"
DP="$tmp/doc-proc"
DD="$tmp/doc-dev"
mkdir -p "$DS/class/iommu/dmar0" "$DS/class/iommu/dmar1" "$DS/class/vfio-dev" "$DS/bus/pci/drivers/vfio-pci" \
	"$DS/bus/pci/devices" "$DS/kernel/mm/transparent_hugepage" "$DP/self" "$DP/sys/vm" "$DP/sys/kernel" \
	"$DD/vfio/devices"

# put_le FILE OFFSET NBYTES VALUE: write VALUE little-endian into FILE (POSIX sh).
put_le() {
	i=0
	while [ $i -lt "$3" ]; do
		b=$((($4 >> (8 * i)) & 255))
		if [ $b -ne 0 ]; then
			# shellcheck disable=SC2059
			printf "\\$(printf %o $b)" | dd of="$1" bs=1 seek=$(($2 + i)) conv=notrunc 2>/dev/null
		fi
		i=$((i + 1))
	done
}

# zeros FILE SIZE: a config space of SIZE zero bytes, vendor 8086.
zeros() {
	dd if=/dev/zero of="$1" bs="$2" count=1 2>/dev/null
	put_le "$1" 0 2 0x8086
}

# doc_dev N ADDR GROUP: vfioN on PCI function ADDR, bound to vfio-pci, in IOMMU
# group GROUP ("" for none), its node a symlink to /dev/null (a character
# device, which the doctor never opens here).
doc_dev() {
	P="$DS/devices/pci0000:00/$2"
	mkdir -p "$P/vfio-dev/vfio$1"
	echo 0x8086 >"$P/vendor"
	echo 0x0b25 >"$P/device"
	echo 0 >"$P/numa_node"
	ln -s ../../../bus/pci/drivers/vfio-pci "$P/driver"
	ln -s ../../../bus/pci "$P/subsystem"
	ln -s "../../../devices/pci0000:00/$2" "$DS/bus/pci/devices/$2"
	ln -s "../../../$2" "$P/vfio-dev/vfio$1/device"
	ln -s "../../devices/pci0000:00/$2/vfio-dev/vfio$1" "$DS/class/vfio-dev/vfio$1"
	if [ -n "$3" ]; then
		mkdir -p "$DS/kernel/iommu_groups/$3"
		ln -s "../../../kernel/iommu_groups/$3" "$P/iommu_group"
	fi
	ln -s /dev/null "$DD/vfio/devices/vfio$1"
}

# vfio0: PASID (20 bits, exec, priv), ATS and PRI, in a translated group.
# Extended capabilities: ATS at 0x100 -> PASID at 0x140 -> PRI at 0x160.
doc_dev 0 0000:6a:01.0 7
echo DMA-FQ >"$DS/kernel/iommu_groups/7/type"
C="$DS/devices/pci0000:00/0000:6a:01.0/config"
zeros "$C" 4096
put_le "$C" 256 4 $((0x0f | 1 << 16 | 0x140 << 20))
put_le "$C" 320 4 $((0x1b | 1 << 16 | 0x160 << 20))
put_le "$C" 324 2 $((20 << 8 | 0x6))
put_le "$C" 352 4 $((0x13 | 1 << 16))
put_le "$C" 360 4 512

# vfio1: an extended capability list that loops on itself (AER at 0x100
# pointing back at 0x100), and no PASID, ATS or PRI; identity default domain.
doc_dev 1 0000:6b:00.0 12
echo identity >"$DS/kernel/iommu_groups/12/type"
C="$DS/devices/pci0000:00/0000:6b:00.0/config"
zeros "$C" 4096
put_le "$C" 256 4 $((0x01 | 2 << 16 | 0x100 << 20))

# vfio2: only 64 bytes of config space readable (what a user without
# CAP_SYS_ADMIN gets); group type unreadable.
doc_dev 2 0000:6c:00.0 13
zeros "$DS/devices/pci0000:00/0000:6c:00.0/config" 64

# vfio3: conventional PCI (256 bytes), no IOMMU group, and no device node.
doc_dev 3 0000:6d:00.0 ""
zeros "$DS/devices/pci0000:00/0000:6d:00.0/config" 256
rm "$DD/vfio/devices/vfio3"

printf 'CONFIG_VFIO=m\nCONFIG_IOMMUFD=m\n# CONFIG_IOMMUFD_TEST is not set\nCONFIG_VFIO_DEVICE_CDEV=y\n' | gzip -c >"$DP/config.gz"
echo 0.0.0-sva-test >"$DP/sys/kernel/osrelease"
echo 'BOOT_IMAGE=/vmlinuz root=/dev/sda1 intel_iommu=on' >"$DP/cmdline"
printf 'processor\t: 0\nflags\t\t: fpu vme pse\n' >"$DP/cpuinfo"
printf 'Name:\tsva-info\nCapInh:\t0000000000000000\nCapEff:\t0000000000000000\n' >"$DP/self/status"
printf 'Limit                     Soft Limit           Hard Limit           Units     \nMax locked memory         8388608              8388608              bytes     \n' >"$DP/self/limits"
echo 'always madvise [never]' >"$DS/kernel/mm/transparent_hugepage/enabled"
echo 0 >"$DP/sys/vm/nr_hugepages"
printf 'HugePages_Total:       0\nHugePages_Free:        0\nHugePages_Size:     2048 kB\nHugepagesize:       2048 kB\n' >"$DP/meminfo"

# doctor ARGS...: sva-info --doctor on the fake machine.
doctor() {
	run --doctor --sysfs-root="$DS" --proc-root="$DP" --dev-root="$DD" --iommu-path="$tmp/no-iommu" "$@"
}
# line STATUS ID REGEX: a check line with that status and id whose text matches.
line() { grep -Eq "^$1  $2: $3" "$tmp/out"; }
nolines() { ! grep -Eq "^[A-Z]{4}  $1:" "$tmp/out"; }

doctor
cp "$tmp/out" "$tmp/doctor.txt"
check "--doctor: a FAIL exits 4" [ "$rc" -eq 4 ]
check "--doctor: nothing on stderr (libsva's own log is off)" empty "$tmp/err"
# sva-info(1), OPTIONS: -d is --doctor (and -j, below, --json).  After the
# stderr check, which is --doctor's: this run replaces $tmp/err.
run -d --sysfs-root="$DS" --proc-root="$DP" --dev-root="$DD" --iommu-path="$tmp/no-iommu"
check "-d: the same checks and status as --doctor" eval '[ "$rc" -eq 4 ] && cmp -s "$tmp/out" "$tmp/doctor.txt"'
check "-d: nothing on stderr either" empty "$tmp/err"
check "--doctor: every line is a status, a check id and a message" \
	eval '[ -z "$(sed "/^\$/d" "$tmp/out" | sed "\$d" | grep -Ev "^(PASS|WARN|FAIL|SKIP)  [a-z0-9 -]+: ")" ]'
check "--doctor: CONFIG_IOMMUFD=m from config.gz passes" line PASS config-iommufd "CONFIG_IOMMUFD=m, a module \\($DP/config.gz\\)"
check "--doctor: CONFIG_VFIO_DEVICE_CDEV=y passes" line PASS config-vfio-cdev "CONFIG_VFIO_DEVICE_CDEV=y"
check "--doctor: IOMMU units and group types" line PASS iommu "IOMMU active: dmar0, dmar1; 3 IOMMU groups \\(default domains: DMA-FQ 1, identity 1, unknown 1\\); host drivers bypass"
check "--doctor: a missing iommufd with CONFIG_IOMMUFD=m says modprobe" \
	line FAIL iommufd "$tmp/no-iommu does not exist: the iommufd module is not loaded\\. Fix: modprobe iommufd$"
check "--doctor: the VFIO devices are counted" line PASS vfio-devices "4 VFIO cdev devices: vfio0, vfio1, vfio2, vfio3$"
check "--doctor: vfio0 node and driver" line PASS "vfio0 device" "$DD/vfio/devices/vfio0, bound to vfio-pci \\(0000:6a:01\\.0, 8086:0b25\\)$"
check "--doctor: vfio0 translated group" line PASS "vfio0 iommu-group" "IOMMU group 7, translated \\(DMA-FQ\\)$"
check "--doctor: vfio0 PASID capability, width and bits" line PASS "vfio0 pci-pasid" "PCI PASID capability: 20-bit PASIDs \\(exec, priv\\)$"
check "--doctor: vfio0 ATS capability" line PASS "vfio0 pci-ats" "PCI ATS capability \\(invalidate queue depth 32\\)$"
check "--doctor: vfio0 PRI capability" line PASS "vfio0 pci-pri" "PCI PRI capability \\(512 outstanding page requests\\)$"
check "--doctor: no iommufd: the per-device iommufd check is skipped, saying why" \
	line SKIP "vfio0 iommufd-info" "not opened: the iommufd did not open"
check "--doctor: vfio1 identity domain passes" line PASS "vfio1 iommu-group" "IOMMU group 12, default domain identity"
check "--doctor: vfio1 without PASID warns (RID binds only), survives a looping list" \
	line WARN "vfio1 pci-pasid" "no PCI PASID capability: RID binds only.*Fix: nothing to change in software"
check "--doctor: vfio1 without ATS passes (a cost, not a limit)" line PASS "vfio1 pci-ats" "no PCI ATS capability"
check "--doctor: vfio1 without PRI warns: no I/O page faults, bind pinned" \
	line WARN "vfio1 pci-pri" "no PCI PRI capability: the device cannot take I/O page faults, so fault-capable binds \\(the default\\) fail on it\\. Fix: bind with SVA_BIND_PINNED"
# vfio0 again, with PASID and PRI but no ATS (PASID at 0x100 -> PRI at 0x160).
C="$DS/devices/pci0000:00/0000:6a:01.0/config"
cp "$C" "$tmp/config.vfio0"
put_le "$C" 256 4 $((0x1b | 1 << 16 | 0x160 << 20))
put_le "$C" 260 2 $((20 << 8 | 0x6))
run --doctor --sysfs-root="$DS" --proc-root="$DP" --dev-root="$DD" --iommu-path="$tmp/no-iommu"
check "--doctor: PRI without ATS warns: no page requests without ATS, bind pinned" \
	line WARN "vfio0 pci-pri" "PCI PRI capability but no ATS, which page requests need.*Fix: bind with SVA_BIND_PINNED"
cp "$tmp/config.vfio0" "$C"
# No config file at all: root would not help, so the fix does not say to be root.
mv "$C" "$tmp/config.vfio0.moved"
run --doctor --sysfs-root="$DS" --proc-root="$DP" --dev-root="$DD" --iommu-path="$tmp/no-iommu"
check "--doctor: a device without a config file: a warning whose fix is not \"run as root\"" \
	eval 'line WARN "vfio0 pci-caps" "cannot read the PCI config space .*No such file or directory.*Fix: check that " &&
		! grep -q "vfio0 pci-caps.*Fix: run as root" "$tmp/out"'
mv "$tmp/config.vfio0.moved" "$C"
cp "$tmp/doctor.txt" "$tmp/out"
check "--doctor: vfio2 unreadable group type warns" line WARN "vfio2 iommu-group" "IOMMU group 13, translation mode unknown"
check "--doctor: vfio2 64-byte config space: one warning, needs root" \
	eval 'line WARN "vfio2 pci-caps" "only the first 64 bytes of the PCI config space could be read \\(reading past byte 64 needs root: CAP_SYS_ADMIN\\).*Fix: run sva-info --doctor as root$" && nolines "vfio2 pci-pasid"'
check "--doctor: vfio3 missing node fails" line FAIL "vfio3 device" "$DD/vfio/devices/vfio3 is missing\\. Fix: "
check "--doctor: vfio3 without an IOMMU group fails" line FAIL "vfio3 iommu-group" "no IOMMU group: the device is not behind an IOMMU"
check "--doctor: vfio3 conventional PCI: no extended config space" \
	line WARN "vfio3 pci-pasid" "no PCI PASID capability \\(no PCI Express extended config space\\)"
check "--doctor: vfio3 no node: iommufd check skipped" line SKIP "vfio3 iommufd-info" "not opened"
check "--doctor: RLIMIT_MEMLOCK of 8 MiB without CAP_IPC_LOCK warns, with the fix" \
	line WARN memlock "RLIMIT_MEMLOCK is 8 MiB and this process lacks CAP_IPC_LOCK.*Fix: raise it.*ulimit -l"
check "--doctor: no THP and no hugetlb pages warns" \
	line WARN hugepages "no huge pages \\(transparent huge pages: never; hugetlb pages: 0 reserved, 0 free, 2048 kB each\\)"
check "--doctor: a fake proc root: userfaultfd is not probed, saying why" \
	line SKIP userfaultfd "not probed: --proc-root is not /proc$"
check "--doctor: the summary counts and the verdict" \
	has "^14 passed, 8 warnings, 3 failed, 5 skipped: SVA cannot work on this machine yet: fix the FAIL lines first$"

doctor --no-open
check "--doctor --no-open: device checks skipped, saying so" eval '[ "$rc" -eq 4 ] && line SKIP "vfio0 iommufd-info" "not opened \\(--no-open\\)"'

doctor --json
cp "$tmp/out" "$tmp/doctor.json"
check "--doctor --json: the same exit status" [ "$rc" -eq 4 ]
if [ $have_python = yes ]; then
	check "--doctor --json: valid JSON" json_ok "$tmp/doctor.json"
	check "--doctor --json: top level is roots, checks and summary" json_assert "$tmp/doctor.json" \
		'set(d) == {"roots", "checks", "summary"} and d["roots"]["proc_root"].endswith("/doc-proc")'
	check "--doctor --json: every check has id, device, status, message, fix and data" json_assert "$tmp/doctor.json" \
		'all(set(c) == {"id", "device", "status", "message", "fix", "data"} and c["status"] in ("pass", "warn", "fail", "skip") and ((c["fix"] is None) == (c["status"] in ("pass", "skip")) or c["status"] == "warn") for c in d["checks"])'
	check "--doctor --json: the text and JSON agree line by line" json_assert "$tmp/doctor.json" \
		'[c["status"].upper() + "  " + (c["device"] + " " if c["device"] else "") + c["id"] + ": " + c["message"] + (". Fix: " + c["fix"] if c["fix"] else "") for c in d["checks"]] == open(sys.argv[1].replace(".json", ".txt")).read().split("\n")[:len(d["checks"])]'
	check "--doctor --json: the summary matches the checks and the exit status" json_assert "$tmp/doctor.json" \
		'(lambda s, cs: s["fail"] == sum(c["status"] == "fail" for c in cs) and s["warn"] == sum(c["status"] == "warn" for c in cs) and s["pass"] == sum(c["status"] == "pass" for c in cs) and s["skip"] == sum(c["status"] == "skip" for c in cs) and s["result"] == "fail" and s["exit_status"] == 4)(d["summary"], d["checks"])'
	check "--doctor --json: typed data (PASID width, memlock bytes, kernel option)" json_assert "$tmp/doctor.json" \
		'(lambda by: by[("vfio0", "pci-pasid")]["data"]["width"] == 20 and by[("vfio0", "pci-pasid")]["data"]["exec"] is True and by[(None, "memlock")]["data"]["limit_bytes"] == 8388608 and by[(None, "memlock")]["data"]["cap_ipc_lock"] is False and by[(None, "config-iommufd")]["data"]["value"] == "m" and by[(None, "iommu")]["data"]["groups"] == 3)({(c["device"], c["id"]): c for c in d["checks"]})'
else
	for i in 1 2 3 4 5 6; do
		skip "python3 not found: cannot validate or inspect the doctor's JSON"
	done
fi

# sva-info(1), EXAMPLES: the two jq(1) filters, as the page prints them, on
# this output.  The first, on the listing with vfio3 given a PASID width (no
# device opens here), prints vfio3's PCI address; the second prints the
# message of each failing check, as many as the summary counts (some).
if [ $have_python = yes ] && command -v jq >/dev/null 2>&1; then
	sed -n '/^\.SH EXAMPLES$/,/^\.SH SEE/p' "$MAN_INFO_PAGE" | sed -e 's/\\-/-/g' -e "s/\\\\(aq/'/g" |
		awk "/\\| jq -r '/ { f = 1; buf = \"\" } f { buf = buf \" \" \$0 } f && /'\$/ { print buf; f = 0 }" |
		sed -e "s/^[^']*'//" -e "s/'\$//" >"$tmp/jq-filters"
	devices_filter=$(grep '\.devices\[\]' "$tmp/jq-filters")
	checks_filter=$(grep '\.checks\[\]' "$tmp/jq-filters")
	python3 -c 'import json, sys; d = json.load(open(sys.argv[1]))
for x in d["devices"]:
    if x["name"] == "vfio3": x["hw_info"] = {"max_pasid_log2": 20}
json.dump(d, open(sys.argv[2], "w"))' "$tmp/devices.json" "$tmp/devices-pasid.json"
	got=$(jq -r "$devices_filter" "$tmp/devices-pasid.json" 2>&1)
	check "sva-info(1) EXAMPLES: the PCI addresses of the devices with PASID support (jq '${devices_filter}'): 0000:41:00.0" \
		eval '[ -n "$devices_filter" ] && [ "$got" = "0000:41:00.0" ]'
	got=$(jq -r "$checks_filter" "$tmp/doctor.json" 2>&1)
	want=$(python3 -c 'import json, sys; d = json.load(open(sys.argv[1]))
print("\n".join(c["message"] for c in d["checks"] if c["status"] == "fail"))' "$tmp/doctor.json")
	check "sva-info(1) EXAMPLES: the failing checks only (jq '${checks_filter}'): each FAIL's message" \
		eval '[ -n "$checks_filter" ] && [ -n "$want" ] && [ "$got" = "$want" ]'
else
	skip "no python3 or no jq(1): the page's jq examples are not run"
	skip "(same)"
fi

# sva-info(1), DOCTOR, --json: the members of each check's data, by outcome,
# in the order the page lists them ("a member that is not named for an
# outcome is absent from it, not null"; "a number is an integer; a boolean is
# true or false, never null"), the roots, and the summary's types.  The fake
# machine: vfio0 with PASID, ATS and PRI; vfio1 with none; vfio2 a 64-byte
# config space; vfio3 conventional PCI, no group, no node; no iommufd.
if [ $have_python = yes ]; then
	cat >"$tmp/doctor-data.py" <<'PY'
import json, sys
d = json.load(open(sys.argv[1], encoding="utf-8"))
dp, dd, it = sys.argv[2], sys.argv[3], sys.argv[4]
by = {(c["device"], c["id"]): c for c in d["checks"]}
bad = []
def want(dev, cid, status, data):
    c = by.get((dev, cid))
    if c is None:
        bad.append("%s %s: absent" % (dev, cid)); return
    got = c["data"]
    if c["status"] != status or list(got) != list(data) or any(
            type(got[k]) is not type(v) or got[k] != v for k, v in data.items()):
        bad.append("%s %s: %s %s, want %s %s" % (dev, cid, c["status"], json.dumps(got), status, json.dumps(data)))
r = d["roots"]
if list(r) != ["sysfs_root", "dev_root", "proc_root", "iommu_path", "kernel_config"] or \
        r["proc_root"] != dp or r["dev_root"] != dd or r["iommu_path"] != it or r["kernel_config"] != dp + "/config.gz":
    bad.append("roots %s" % json.dumps(r))
src = dp + "/config.gz"
want(None, "config-iommufd", "pass", {"option": "CONFIG_IOMMUFD", "value": "m", "source": src})
want(None, "config-vfio-cdev", "pass", {"option": "CONFIG_VFIO_DEVICE_CDEV", "value": "y", "source": src})
want(None, "iommu", "pass", {"units": 2, "groups": 3, "virtual_machine": False, "disabled_on_cmdline": False})
want(None, "iommufd", "fail", {"path": it, "error": "ENOENT"})
want(None, "vfio-devices", "pass", {"count": 4})
want("vfio0", "device", "pass", {"path": dd + "/vfio/devices/vfio0", "driver": "vfio-pci", "pci_addr": "0000:6a:01.0"})
want("vfio3", "device", "fail", {"path": dd + "/vfio/devices/vfio3", "driver": "vfio-pci", "pci_addr": "0000:6d:00.0"})
want("vfio0", "iommu-group", "pass", {"group": 7, "type": "DMA-FQ"})
want("vfio1", "iommu-group", "pass", {"group": 12, "type": "identity"})
want("vfio2", "iommu-group", "warn", {"group": 13, "type": None})
want("vfio3", "iommu-group", "fail", {})
want("vfio2", "pci-caps", "warn", {"config_bytes": 64})
want("vfio0", "pci-pasid", "pass", {"width": 20, "exec": True, "priv": True, "offset": 0x140})
want("vfio1", "pci-pasid", "warn", {"offset": 0})
want("vfio0", "pci-ats", "pass", {"present": True, "offset": 0x100})
want("vfio1", "pci-ats", "pass", {"present": False, "offset": 0})
want("vfio0", "pci-pri", "pass", {"present": True, "offset": 0x160})
want("vfio1", "pci-pri", "warn", {"present": False, "offset": 0})
want("vfio0", "iommufd-info", "skip", {})
want(None, "memlock", "warn", {"unlimited": False, "limit_bytes": 8388608, "cap_ipc_lock": False,
                               "recommended_bytes": 67108864, "pin_budget_floor_bytes": 524288})
want(None, "hugepages", "warn", {"thp": "never", "nr_hugepages": 0, "hugepage_kb": 2048})
want(None, "userfaultfd", "skip", {})
for c in d["checks"]:
    if c["id"] == "iommufd-ats" and c["data"] != {}:
        bad.append("iommufd-ats data %s" % json.dumps(c["data"]))
    if ("vfio2", "pci-pasid") == (c["device"], c["id"]) or ("vfio2", "pci-ats") == (c["device"], c["id"]):
        bad.append("vfio2 has %s beside its pci-caps warning" % c["id"])
s = d["summary"]
if not (all(type(s[k]) is int for k in ("pass", "warn", "fail", "skip", "exit_status"))
        and type(s["result"]) is str and type(s["verdict"]) is str):
    bad.append("summary %s" % json.dumps(s))
print("; ".join(bad))
sys.exit(1 if bad else 0)
PY
	why=$(python3 "$tmp/doctor-data.py" "$tmp/doctor.json" "$DP" "$DD" "$tmp/no-iommu" 2>&1)
	ok $? "--doctor --json: each check's data has the members sva-info(1) names for its outcome, typed, in order ($why)"
	# -1 for what is unknown or unlimited, null for a string not known.
	mv "$DP/sys/vm/nr_hugepages" "$tmp/nr_hugepages.saved"
	mv "$DP/meminfo" "$tmp/meminfo.saved"
	mv "$DS/kernel/mm/transparent_hugepage/enabled" "$tmp/thp.saved"
	printf 'Max locked memory         unlimited            unlimited            bytes\n' >"$DP/self/limits.u"
	mv "$DP/self/limits" "$tmp/limits.saved"
	mv "$DP/self/limits.u" "$DP/self/limits"
	doctor --json
	check "--doctor --json: unknown huge page counts are -1, an unknown THP mode null, unlimited memlock -1" \
		json_assert "$tmp/out" '(lambda by: by["hugepages"] == {"thp": None, "nr_hugepages": -1, "hugepage_kb": -1} and by["memlock"]["unlimited"] is True and by["memlock"]["limit_bytes"] == -1)({c["id"]: c["data"] for c in d["checks"] if c["device"] is None})'
	mv "$tmp/nr_hugepages.saved" "$DP/sys/vm/nr_hugepages"
	mv "$tmp/meminfo.saved" "$DP/meminfo"
	mv "$tmp/thp.saved" "$DS/kernel/mm/transparent_hugepage/enabled"
	mv "$tmp/limits.saved" "$DP/self/limits"
else
	skip "python3 not found"
	skip "python3 not found"
fi

# Other proc facts: CAP_IPC_LOCK, unlimited memlock, huge pages.
printf 'Name:\tsva-info\nCapEff:\t0000000000204000\n' >"$DP/self/status"
echo 16 >"$DP/sys/vm/nr_hugepages"
doctor
check "--doctor: CAP_IPC_LOCK makes RLIMIT_MEMLOCK irrelevant" line PASS memlock "CAP_IPC_LOCK: iommufd does not charge pinned pages"
check "--doctor: reserved hugetlb pages pass" line PASS hugepages "transparent huge pages: never; hugetlb pages: 16 reserved"
# A 1 GiB default pool (default_hugepagesz=1G): SVA_MEM_HUGE uses the 2 MiB one only.
cp "$DP/meminfo" "$tmp/meminfo.2m"
printf 'HugePages_Total:      16\nHugePages_Free:       16\nHugepagesize:    1048576 kB\n' >"$DP/meminfo"
doctor
check "--doctor: 1 GiB hugetlb pages only: a warning, SVA_MEM_HUGE cannot use them" \
	line WARN hugepages "no huge pages \\(transparent huge pages: never; hugetlb pages: 16 reserved, 16 free, 1048576 kB each, 0 of 2048 kB .*Fix: .*hugepages-2048kB/nr_hugepages"
mkdir -p "$DS/kernel/mm/hugepages/hugepages-2048kB"
echo 4 >"$DS/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages"
doctor
check "--doctor: 1 GiB default pool, 2 MiB pages reserved too: pass" \
	line PASS hugepages "transparent huge pages: never; hugetlb pages: 16 reserved, 16 free, 1048576 kB each, 4 of 2048 kB"
rm -r "$DS/kernel/mm/hugepages"
cp "$tmp/meminfo.2m" "$DP/meminfo"
check "--doctor: with CAP_SYS_ADMIN a 64-byte config space is not blamed on root" \
	eval 'line WARN "vfio2 pci-caps" "only the first 64 bytes of the PCI config space could be read, so" '
printf 'Max locked memory         unlimited            unlimited            bytes\n' >"$DP/self/limits"
printf 'CapEff:\t0000000000000000\n' >"$DP/self/status"
doctor
check "--doctor: unlimited RLIMIT_MEMLOCK passes" line PASS memlock "RLIMIT_MEMLOCK is unlimited$"
printf 'Max locked memory         134217728            134217728            bytes\n' >"$DP/self/limits"
doctor
check "--doctor: 128 MiB RLIMIT_MEMLOCK passes" line PASS memlock "RLIMIT_MEMLOCK is 128 MiB"
printf 'Max locked memory         131072               131072               bytes\n' >"$DP/self/limits"
doctor
check "--doctor: 128 KiB RLIMIT_MEMLOCK warns: under what the pin budget needs for a burst of faults" \
	line WARN memlock "RLIMIT_MEMLOCK is 128 KiB and this process lacks CAP_IPC_LOCK: the default pin budget is below 512 KiB.*INVALID.*Fix: raise it"
# A byte short of 512 KiB: its size must not round up to the 512 KiB it is below.
printf 'Max locked memory         524287               524287               bytes\n' >"$DP/self/limits"
doctor
check "--doctor: RLIMIT_MEMLOCK a byte under 512 KiB reads 511.9 KiB, not 512.0" \
	line WARN memlock "RLIMIT_MEMLOCK is 511\\.9 KiB and this process lacks CAP_IPC_LOCK: the default pin budget is below 512 KiB"
# 384 KiB: enough for one page per request, not for the ramp's wider windows.
printf 'Max locked memory         393216               393216               bytes\n' >"$DP/self/limits"
doctor
check "--doctor: 384 KiB RLIMIT_MEMLOCK warns about bursts too (a full batch needs 512 KiB)" \
	line WARN memlock "RLIMIT_MEMLOCK is 384 KiB and this process lacks CAP_IPC_LOCK: the default pin budget is below 512 KiB.*INVALID"

# Kernel configs: a plain file given with --kernel-config, one that is missing.
printf '# CONFIG_IOMMUFD is not set\nCONFIG_VFIO=y\n' >"$tmp/kconfig"
doctor --kernel-config="$tmp/kconfig"
check "--doctor: CONFIG_IOMMUFD not set fails, with the fix" \
	line FAIL config-iommufd "CONFIG_IOMMUFD is not set in this kernel \\($tmp/kconfig\\)\\. Fix: boot a kernel built with CONFIG_IOMMUFD"
check "--doctor: an absent option is not set" line FAIL config-vfio-cdev "CONFIG_VFIO_DEVICE_CDEV is not set"
check "--doctor: no iommufd in the kernel: the iommufd line says why" \
	line FAIL iommufd ".* does not exist: the kernel has no iommufd \\(CONFIG_IOMMUFD is not set\\)"
run --doctor --json --sysfs-root="$DS" --proc-root="$DP" --dev-root="$DD" --iommu-path="$tmp/no-iommu" \
	--kernel-config="$tmp/kconfig"
check "--doctor --json: roots.kernel_config is the config read" \
	eval 'tr -d " \n" <"$tmp/out" | grep -q "\"kernel_config\":\"$tmp/kconfig\""'
# sva-info(1), --sysfs-root: a relative root "is made absolute from the
# current directory, as every root is, so the roots the output names are
# absolute"; kernel_config is one of the roots --json names (JSON OUTPUT of
# DOCTOR), and the text line and the checks' source name the same file.
(cd "$tmp" && "$SVA_INFO" --doctor --json --sysfs-root="$DS" --proc-root="$DP" --dev-root="$DD" \
	--iommu-path="$tmp/no-iommu" --kernel-config=./kconfig >"$tmp/out" 2>"$tmp/err")
check "--doctor --json --kernel-config=./kconfig (relative): roots.kernel_config and the source are $tmp/kconfig" \
	eval 'tr -d " \n" <"$tmp/out" | grep -q "\"kernel_config\":\"$tmp/kconfig\"" &&
		tr -d " \n" <"$tmp/out" | grep -q "\"source\":\"$tmp/kconfig\"" && ! grep -q "\"\./kconfig\"" "$tmp/out"'
(cd "$tmp" && "$SVA_INFO" --doctor --sysfs-root="$DS" --proc-root="$DP" --dev-root="$DD" \
	--iommu-path="$tmp/no-iommu" --kernel-config=kconfig >"$tmp/out" 2>"$tmp/err")
check "--doctor --kernel-config=kconfig (relative): the config lines name $tmp/kconfig" \
	line FAIL config-iommufd "CONFIG_IOMMUFD is not set in this kernel \\($tmp/kconfig\\)"
# sva-info(1), --proc-root: "A relative dir is made absolute from the current
# directory": roots.proc_root names it absolutely, and config.gz is found
# under it; the directory, not the name, decides whether it is /proc.
(cd "$tmp" && "$SVA_INFO" --doctor --json --sysfs-root="$DS" --proc-root="./${DP##*/}/" --dev-root="$DD" \
	--iommu-path="$tmp/no-iommu" >"$tmp/out" 2>"$tmp/err")
check "--doctor --json --proc-root=./${DP##*/}/ (relative): roots.proc_root and kernel_config under $DP" \
	eval 'tr -d " \n" <"$tmp/out" | grep -q "\"proc_root\":\"$DP\"" &&
		tr -d " \n" <"$tmp/out" | grep -q "\"kernel_config\":\"$DP/config.gz\""'
(cd / && "$SVA_INFO" --doctor --sysfs-root="$DS" --proc-root=proc --dev-root="$DD" \
	--iommu-path="$tmp/no-iommu" >"$tmp/out" 2>"$tmp/err")
check "--doctor --proc-root=proc from /: it is /proc, so userfaultfd is probed" \
	eval '! grep -q "^SKIP  userfaultfd" "$tmp/out" && grep -Eq "^(PASS|WARN)  userfaultfd: " "$tmp/out"'
run --doctor --json --sysfs-root="$DS" --proc-root="$DP" --dev-root="$DD" --iommu-path="$tmp/no-iommu"
check "--doctor --json: roots.kernel_config is the one found, not given ($DP/config.gz)" \
	eval 'tr -d " \n" <"$tmp/out" | grep -q "\"kernel_config\":\"$DP/config.gz\""'
SVA_LOG=error "$SVA_INFO" --doctor --sysfs-root="$DS" --proc-root="$DP" --dev-root="$DD" --iommu-path="$tmp/no-iommu" \
	>"$tmp/out" 2>"$tmp/err"
rc=$?
check "--doctor with SVA_LOG=error: libsva's own error line on stderr (sva-info(1), ENVIRONMENT)" \
	has_err "libsva"
(unset SVA_LOG; exec "$SVA_INFO" --doctor --sysfs-root="$DS" --proc-root="$DP" --dev-root="$DD" \
	--iommu-path="$tmp/no-iommu") >"$tmp/out" 2>"$tmp/err"
rc=$?
check "--doctor without SVA_LOG: no libsva line, its log is off (sva-info(1), ENVIRONMENT)" eval '! has_err "libsva"'
# --help's -v entry (its line and those under it) gives that default, not warn.
run --help
check "--help: -v's entry says the log is off by default with --doctor" \
	eval 'awk "/^  -v, --verbose/ { v = 1; print; next } v && /^      / { print; next } { v = 0 }" "$tmp/out" |
		tr "\n" " " | grep -q -- "--doctor, off"'
doctor --kernel-config="$tmp/no-such-config"
check "--doctor: an unreadable kernel config warns once, and the rest still runs" \
	eval 'line WARN kernel-config "cannot read the kernel config \\($tmp/no-such-config: No such file or directory\\)" && nolines config-iommufd && line FAIL iommufd ".* does not exist\\. Fix: modprobe iommufd; if there is no such module"'
rm "$DP/config.gz"
doctor
check "--doctor: no config.gz and no /boot config: names both, warns" \
	line WARN kernel-config "cannot read the kernel config \\($DP/config.gz: No such file or directory; /boot/config-0\\.0\\.0-sva-test: No such file or directory\\).*Fix: 'modprobe configs'"
printf '\037\213garbage' >"$DP/config.gz"
doctor
check "--doctor: a corrupt config.gz warns, quietly" \
	eval 'line WARN kernel-config "cannot read the kernel config \\($DP/config.gz: gzip could not decompress it; " && empty "$tmp/err"'
printf 'hello\n' >"$DP/config.gz"
doctor
check "--doctor: a file that is no kernel config warns" line WARN kernel-config "cannot read the kernel config \\($DP/config.gz: it holds no CONFIG_ lines; "

# A machine without an IOMMU: a VM without a vIOMMU, then one turned off.
E2="$tmp/doc-empty-sys"
mkdir -p "$E2"
printf 'processor\t: 0\nflags\t\t: fpu vme hypervisor lahf_lm\n' >"$DP/cpuinfo"
run --doctor --sysfs-root="$E2" --proc-root="$DP" --dev-root="$DD" --iommu-path="$tmp/no-iommu" --kernel-config="$tmp/kconfig"
check "--doctor, no IOMMU in a VM: fails and says why" \
	line FAIL iommu "no IOMMU is active: $E2/class/iommu is empty and there are no IOMMU groups, so nothing can translate device addresses: this is a virtual machine and its hypervisor gives it no virtual IOMMU\\. Fix: give the VM a virtual IOMMU"
check "--doctor, no class/vfio-dev: warns and names the kernel option" \
	line WARN vfio-devices "no VFIO cdev devices: the kernel lacks CONFIG_VFIO_DEVICE_CDEV.*Fix: boot a kernel with CONFIG_VFIO_DEVICE_CDEV, then bind"
check "--doctor, no IOMMU: exit 4" [ "$rc" -eq 4 ]
printf 'flags\t\t: fpu vme hypervisor lahf_lm\nprocessor\t: 0\n' >"$DP/cpuinfo"
run --doctor --json --sysfs-root="$E2" --proc-root="$DP" --dev-root="$DD" --iommu-path="$tmp/no-iommu" --kernel-config="$tmp/kconfig"
check "--doctor: the hypervisor flag is seen when flags is the first line of cpuinfo" \
	eval 'tr -d " \n" <"$tmp/out" | grep -q "\"virtual_machine\":true"'
printf 'processor\t: 0\nxflags\t\t: hypervisor\nflags\t\t: fpu vme\n' >"$DP/cpuinfo"
run --doctor --json --sysfs-root="$E2" --proc-root="$DP" --dev-root="$DD" --iommu-path="$tmp/no-iommu" --kernel-config="$tmp/kconfig"
check "--doctor: only the flags line counts, not a line that ends in flags" \
	eval 'tr -d " \n" <"$tmp/out" | grep -q "\"virtual_machine\":false"'
echo 'root=/dev/sda1 intel_iommu=off quiet' >"$DP/cmdline"
run --doctor --sysfs-root="$E2" --proc-root="$DP" --dev-root="$DD" --iommu-path="$tmp/no-iommu"
check "--doctor: intel_iommu=off on the command line is named as the cause" \
	line FAIL iommu "no IOMMU is active.*the kernel command line turns it off\\. Fix: remove intel_iommu=off from the kernel command line$"
long=/$(head -c 5000 /dev/zero | tr '\0' x)
run --iommu-path="$long"
check "--iommu-path of 5001 bytes: a usage error (exit 2), not a path reported cut short" \
	eval '[ $rc -eq 2 ] && grep -q "iommu-path is longer than 4095 bytes" "$tmp/err"'
# sva-info(1), EXIT STATUS 2: "an --iommu-path of PATH_MAX (4096) bytes or
# more"; one of 4095 is a path, which does not open here (status 0).
long=/$(head -c 4095 /dev/zero | tr '\0' x)
run --sysfs-root="$E" --iommu-path="$long"
check "--iommu-path of 4096 bytes (PATH_MAX): a usage error (exit 2)" \
	eval '[ $rc -eq 2 ] && [ ! -s "$tmp/out" ] && grep -q "iommu-path is longer than 4095 bytes" "$tmp/err"'
run --sysfs-root="$E" --iommu-path="${long%x}"
check "--iommu-path of 4095 bytes: taken, the listing runs (exit 0)" \
	eval '[ $rc -eq 0 ] && grep -q "^/xxx*: cannot open: " "$tmp/out"'
for opt in intel_iommu=sm_on,off intel_iommu=off,sm_on; do
	echo "root=/dev/sda1 $opt quiet" >"$DP/cmdline"
	run --doctor --sysfs-root="$E2" --proc-root="$DP" --dev-root="$DD" --iommu-path="$tmp/no-iommu"
	check "--doctor: $opt (a comma list the kernel reads whole) is named as the cause" \
		line FAIL iommu "no IOMMU is active.*the kernel command line turns it off\\. Fix: remove intel_iommu=off from the kernel command line$"
done
echo 'root=/dev/sda1 intel_iommu=offx,on quiet' >"$DP/cmdline"
run --doctor --sysfs-root="$E2" --proc-root="$DP" --dev-root="$DD" --iommu-path="$tmp/no-iommu"
check "--doctor: intel_iommu=offx,on is not off" eval '! grep -q "turns it off" "$tmp/out"'
run --doctor --sysfs-root="$E2" --proc-root="$DP" --dev-root="$DD" --iommu-path=/dev/null
check "--doctor: an iommu path that is not an iommufd fails" line FAIL iommufd "/dev/null is not an iommufd device node"

# The userfaultfd probe runs when the proc root is this machine's /proc, however
# it is spelled; another directory skips it.
if [ -d /proc/self ]; then
	ln -s /proc "$tmp/proc-link"
	for p in /proc/ /proc/. //proc /./proc ///proc//./ /proc/../proc "$tmp/proc-link"; do
		run --doctor --sysfs-root="$E2" --proc-root="$p" --dev-root="$DD" --iommu-path="$tmp/no-iommu"
		check "--doctor --proc-root=$p is /proc: userfaultfd is probed" \
			eval 'grep -q "^[A-Z]*  userfaultfd: " "$tmp/out" && ! line SKIP userfaultfd "not probed"'
		# ... and the files read under it are named plainly (/proc/config.gz).
		check "--doctor --proc-root=$p prints no \"//\" and no \"/./\"" eval '! grep -Eq "//|/\./" "$tmp/out"'
	done
	# A root spelled with a trailing slash names its files without "//".
	run --doctor --sysfs-root="$E2/" --proc-root=/proc/ --dev-root="$DD/" --iommu-path="$tmp/no-iommu"
	check "--doctor with roots ending in '/' prints no doubled slash" eval '! grep -q "//" "$tmp/out"'
else
	skip "no /proc here"
fi
# However a test tree's root is spelled, its files are named under the plain root.
for p in "/$DP" "$DP//" "$DP/." "/.$DP" "$tmp//./doc-proc/"; do
	run --doctor --sysfs-root="$E2" --proc-root="$p" --dev-root="$DD" --iommu-path="$tmp/no-iommu"
	check "--doctor --proc-root=$p: $DP/config.gz, no \"//\" or \"/./\" anywhere" \
		eval 'has "($DP/config.gz" && ! grep -Eq "//|/\./" "$tmp/out"'
	run --doctor --json --sysfs-root="$E2" --proc-root="$p" --dev-root="$DD" --iommu-path="$tmp/no-iommu"
	check "--doctor --json --proc-root=$p: the roots name $DP" grep -q "\"proc_root\": *\"$DP\"" "$tmp/out"
done
# A userfaultfd with its events but no write-protect mode (an architecture or
# CPU without uffd-wp): libsva registers every range in write-protect mode, so
# it cannot track there (track.c), and the doctor must not say it can.  The
# preloaded helper plays that kernel; it needs a userfaultfd that works here.
nowp=${top_builddir:-.}/tests/unit/.libs/uffd-nowp-preload.so
run --doctor --sysfs-root="$E2" --proc-root=/proc --dev-root="$DD" --iommu-path="$tmp/no-iommu"
if [ ! -f "$nowp" ]; then
	skip "no write-protect mode: $nowp is not built"
elif ! line PASS userfaultfd ""; then
	skip "no write-protect mode: userfaultfd does not work here to begin with"
else
	rm -f "$tmp/nowp-mark"
	NOWP_MARK=$tmp/nowp-mark LD_PRELOAD=$nowp ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}verify_asan_link_order=0 \
		"$SVA_INFO" --doctor --sysfs-root="$E2" --proc-root=/proc --dev-root="$DD" \
		--iommu-path="$tmp/no-iommu" >"$tmp/out" 2>"$tmp/err"
	if [ ! -f "$tmp/nowp-mark" ]; then
		skip "no write-protect mode: the preloaded ioctl() was not reached (a sanitizer's runtime answers it first)"
	else
		check "--doctor, a userfaultfd without write-protect mode: a WARN that names it" \
			line WARN userfaultfd ".*write-protect"
		# sva-info(1), DOCTOR, userfaultfd's data: tracking false on every
		# warning, and no errno where only a feature is missing (the
		# UFFDIO_API call itself succeeded); tracking true on a pass.
		if [ $have_python = yes ]; then
			NOWP_MARK=$tmp/nowp-mark LD_PRELOAD=$nowp ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}verify_asan_link_order=0 \
				"$SVA_INFO" --doctor --json --sysfs-root="$E2" --proc-root=/proc --dev-root="$DD" \
				--iommu-path="$tmp/no-iommu" >"$tmp/out" 2>"$tmp/err"
			check "--doctor --json, a userfaultfd without write-protect mode: data {tracking: false}, no errno" \
				json_assert "$tmp/out" '[(c["status"], c["data"]) for c in d["checks"] if c["id"] == "userfaultfd"] == [("warn", {"tracking": False})]'
			run --doctor --json --sysfs-root="$E2" --proc-root=/proc --dev-root="$DD" --iommu-path="$tmp/no-iommu"
			check "--doctor --json, a working userfaultfd: data {tracking: true}" \
				json_assert "$tmp/out" '[(c["status"], c["data"]) for c in d["checks"] if c["id"] == "userfaultfd"] == [("pass", {"tracking": True})]'
		else
			skip "python3 not found"
			skip "python3 not found"
		fi
	fi
fi

# sva-info(1), DOCTOR, userfaultfd's data: errno (a number) only when opening
# the userfaultfd or its UFFDIO_API call failed: the system call's errno when
# /dev/userfaultfd was refused too (1 for EPERM, 38 for ENOSYS, whatever the
# device said), 95 (EOPNOTSUPP) when UFFDIO_API refused the handshake with
# EINVAL.  uffd-refuse runs sva-info under a seccomp filter that plays those
# hosts: SYS DEV API are the errnos given to userfaultfd(2), /dev/userfaultfd's
# USERFAULTFD_IOC_NEW and UFFDIO_API (0: allowed).
refuse=${top_builddir:-.}/tests/unit/uffd-refuse
uffd_data() { json_assert "$tmp/out" "[(c['status'], c['data']) for c in d['checks'] if c['id'] == 'userfaultfd'] == [$1]"; }
refused() {
	"$refuse" "$1" "$2" "$3" "$SVA_INFO" --doctor --json --sysfs-root="$E2" --proc-root=/proc --dev-root="$DD" \
		--iommu-path="$tmp/no-iommu" >"$tmp/out" 2>"$tmp/err"
}
if [ $have_python != yes ]; then
	for _ in 1 2 3 4 5; do skip "python3 not found"; done
elif [ ! -x "$refuse" ]; then
	for _ in 1 2 3 4 5; do skip "$refuse is not built"; done
elif refused 0 0 0; [ $? -eq 99 ] || ! uffd_data '("pass", {"tracking": True})'; then
	for _ in 1 2 3 4 5; do skip "userfaultfd does not work here, or seccomp filters are not available"; done
else
	refused 1 1 0
	check "--doctor --json, userfaultfd(2) and /dev/userfaultfd refused with EPERM: {tracking: false, errno: 1}" \
		uffd_data '("warn", {"tracking": False, "errno": 1})'
	refused 38 1 0
	check "--doctor --json, userfaultfd(2) refused with ENOSYS, the device with EPERM: the system call's errno 38" \
		uffd_data '("warn", {"tracking": False, "errno": 38})'
	refused 1 13 0
	check "--doctor --json, userfaultfd(2) refused with EPERM, the device with EACCES: the system call's errno 1" \
		uffd_data '("warn", {"tracking": False, "errno": 1})'
	refused 0 0 22
	check "--doctor --json, UFFDIO_API refused with EINVAL: errno 95 (EOPNOTSUPP)" \
		uffd_data '("warn", {"tracking": False, "errno": 95})'
	# Through /dev/userfaultfd the check passes, and a pass has no errno
	# (the system call's refusal is in the line, not in the data).
	if [ -r /dev/userfaultfd ] && [ -w /dev/userfaultfd ]; then
		refused 1 0 0
		check "--doctor --json, userfaultfd(2) refused, /dev/userfaultfd usable: {tracking: true}, no errno" \
			uffd_data '("pass", {"tracking": True})'
	else
		skip "/dev/userfaultfd is not read-write for this user"
	fi
fi

run --doctor --sysfs-root="$E2" --proc-root="$tmp/no-such-proc" --dev-root="$DD" --iommu-path="$tmp/no-iommu"
check "--doctor with a missing proc root: userfaultfd is not probed" line SKIP userfaultfd "not probed: --proc-root is not /proc$"

# Usage errors stay distinguishable from the doctor's 3 and 4.
run --doctor --no-such-option
check "--doctor with an unknown option exits 2" [ "$rc" -eq 2 ]
run --proc-root="$DP"
check "--proc-root without --doctor is a usage error" eval '[ "$rc" -eq 2 ] && has_err "proc-root goes with --doctor"'
run --doctor --kernel-config=
check "an empty --kernel-config exits 2" eval '[ "$rc" -eq 2 ] && has_err "option .--kernel-config. needs a non-empty argument"'

# This very host, as it is: without /dev/iommu the doctor must fail and say why.
if [ -e /dev/iommu ]; then
	skip "this host has /dev/iommu: the no-IOMMU verdict is checked in the fake trees and the VM"
	skip "(same)"
else
	run --doctor
	check "--doctor on this host (no /dev/iommu) exits 4" [ "$rc" -eq 4 ]
	check "--doctor on this host names the missing /dev/iommu and the fix" \
		eval 'grep -q "^FAIL  iommufd: /dev/iommu does not exist.*Fix: " "$tmp/out"'
fi

# "/" as the dev root in a CDI spec (the listing's case is above).
run --cdi --sysfs-root="$S" --dev-root=/
check "--cdi --dev-root=/: host paths /iommu and /vfio/devices/..., no \"//\"" \
	eval '[ "$rc" -eq 0 ] && grep -q "\"/iommu\"" "$tmp/out" && grep -q "\"/vfio/devices/vfio" "$tmp/out" && ! grep -q "//" "$tmp/out"'

done_testing
