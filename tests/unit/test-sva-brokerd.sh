#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# sva-brokerd's command line without a kernel: --check on good and bad
# configurations, usage errors, and a clear failure when it cannot start.
# The broker at work (clients, faults, kill -9) is tests/kernel/ktest-broker.
#
# Run by automake (top_builddir is set), or by hand:
#   top_builddir=/path/to/build sh tests/unit/test-sva-brokerd.sh

BROKERD=${BROKERD:-${top_builddir:-.}/tools/sva-brokerd}
SVA_LOG=off
export SVA_LOG

tool=$BROKERD tool_tmp=sva-brokerd-test
. "${top_srcdir:-$(dirname "$0")/../..}/tests/tap-tool.sh"
empty_err() { [ ! -s "$tmp/err" ]; }

cat >"$tmp/good.conf" <<CONF
# a test configuration
socket $tmp/sock
pasids-per-client 32
device m0 mock
allow m0 uid 0
CONF
run --check -c "$tmp/good.conf"
check "--check: a good configuration exits 0" [ "$rc" -eq 0 ]
check "--check: and says what it read (one device, singular)" has "socket $tmp/sock, 1 device, 32 PASIDs per client from \[256, 1048575\]"
check "--check: and the isolated clients' pin limit (default 1 GiB)" has "isolated clients map at most 1073741824 bytes each"
printf 'isolated-pin-max 64K\n' >>"$tmp/good.conf"
run --check -c "$tmp/good.conf"
check "--check: isolated-pin-max 64K" has "isolated clients map at most 65536 bytes each"
check "--check: no client limit for one user by default" has "at most 64 clients, without a limit for one user$"
printf 'clients-per-user 4\nmax-clients 10\n' >>"$tmp/good.conf"
run --check -c "$tmp/good.conf"
check "--check: clients-per-user 4" has "at most 10 clients, 4 for one user$"
printf 'max-clients 1\n' >>"$tmp/good.conf"
run --check -c "$tmp/good.conf"
check "--check: max-clients 1 (one client, singular)" has "at most 1 client, without a limit for one user$"
sed -i '$d' "$tmp/good.conf"
check "--check: the socket's mode, device PASIDs and grace (defaults)" has "socket mode 0660, 16 device PASIDs per client, grace 100 ms$"
check "--check: each device, its source and who may use it" has "device m0 from mock, allowed to 1 user and 0 groups$"
printf 'allow m0 group 0\nmm-exit m0 /bin/true 250\ngrace-ms 7\n' >>"$tmp/good.conf"
run --check -c "$tmp/good.conf"
check "--check: the device's mm-exit program and its timeout" has "device m0 from mock, allowed to 1 user and 1 group, mm-exit /bin/true (250 ms)$"
check "--check: grace-ms 7" has "grace 7 ms$"
printf 'grace-ms 0\n' >>"$tmp/good.conf"
run --check -c "$tmp/good.conf"
check "--check: grace-ms 0 is until the broker restarts (not 18446744073709 ms)" has "grace until the broker restarts$"
run --check -c "$tmp/good.conf" -s /run/other.sock
check "--socket overrides the configured socket" has "socket /run/other.sock"

printf 'device m0 mock\nallow m1 uid 0\n' >"$tmp/bad.conf"
run --check -c "$tmp/bad.conf"
check "--check: a bad configuration exits 1" [ "$rc" -eq 1 ]
check "--check: naming the file, the line and the reason" has_err "bad.conf:2: allow: no device 'm1' defined above"
run --check -c "$tmp/none.conf"
check "a missing configuration: exit 1, naming it" eval '[ "$rc" -eq 1 ] && has_err "cannot open $tmp/none.conf"'

run --frobnicate
check "an unknown option: exit 2 with the hint" eval '[ "$rc" -eq 2 ] && has_err "^Try .sva-brokerd --help. for more information.$"'
run extra
check "an argument: exit 2, naming it, with the hint" \
	eval '[ "$rc" -eq 2 ] && has_err "unexpected argument .extra." && has_err "^Try .sva-brokerd --help. for more information.$"'
run --check -c ''
check "an empty --config: a usage error (exit 2), not a file to open" \
	eval '[ "$rc" -eq 2 ] && has_err "option .-c. needs a non-empty argument" && ! has_err "cannot open"'
if [ -w /dev/full ]; then
	"$BROKERD" --check -c "$tmp/good.conf" >/dev/full 2>"$tmp/err"
	rc=$?
	check "--check whose report cannot be written: exit 1, saying so" eval '[ "$rc" -eq 1 ] && has_err "writing the report failed"'
else
	skip "no /dev/full here"
fi
run -c "$tmp/good.conf" -s relative.sock
check "--socket with a relative path: exit 2" eval '[ "$rc" -eq 2 ] && has_err "absolute path"'
run -c "$tmp/none.conf" -s relative.sock
check "--socket with a relative path and no configuration: still a usage error, exit 2" \
	eval '[ "$rc" -eq 2 ] && has_err "absolute path"'
run --check -c "$tmp"
check "--check of a directory: exit 1, not an empty configuration" \
	eval '[ "$rc" -eq 1 ] && has_err "Is a directory" && ! has "devices"'
printf 'device m0 garbage\n' >"$tmp/src.conf"
run --check -c "$tmp/src.conf"
check "--check: a device source sva_dev_open(3) cannot take: exit 1, saying which forms it can" \
	eval '[ "$rc" -eq 1 ] && has_err "src.conf:1: device m0: .garbage. is not a device source"'
printf 'device m0 vfio3\ndevice m1 0000:41:00.0\ndevice m2 /dev/vfio/devices/vfio7\ndevice m3 mock\n' >"$tmp/src.conf"
run --check -c "$tmp/src.conf"
check "--check: the four forms of a source are accepted" eval '[ "$rc" -eq 0 ] && has "4 devices"'
printf '# %0600d\ndevice m0 mock   # %0600d\n' 0 0 >"$tmp/long.conf"
run --check -c "$tmp/long.conf"
check "--check: comments longer than 510 bytes, alone or after a directive, are fine" \
	eval '[ "$rc" -eq 0 ] && has "1 device," && empty_err'
printf 'device m0 mock\n#\000\n' >"$tmp/nul.conf"
run --check -c "$tmp/nul.conf"
check "--check: a NUL byte is named as such, with its line" \
	eval '[ "$rc" -eq 1 ] && has_err "nul.conf:2: the line contains a NUL byte"'
printf 'device m0 mock\ndevice m1 %0600d\n' 0 >"$tmp/longdir.conf"
run --check -c "$tmp/longdir.conf"
check "--check: a directive longer than 510 bytes is refused, saying so" \
	eval '[ "$rc" -eq 1 ] && has_err "longdir.conf:2: directive longer than 510 bytes"'
printf '# none\n' >"$tmp/nodev.conf"
run --check -c "$tmp/nodev.conf"
check "--check: no device is '0 devices'" eval '[ "$rc" -eq 0 ] && has ", 0 devices,"'
run --help
check "--help: exit 0, every option" eval '[ "$rc" -eq 0 ] && has --config && has --socket && has --check'
help_version sva-brokerd "$BROKERD"
option_errors sva-brokerd --config "$BROKERD"
value_errors sva-brokerd "--config/-c:path --socket/-s:path" "$BROKERD"

# sva-brokerd(8), OPTIONS and EXIT STATUS: -s takes an absolute path of at
# most 107 bytes (status 2 otherwise, before the configuration is read); a
# missing option argument is a usage error, the hint on standard error;
# --help and --version write to standard output only.
long107=$(printf '/%0106d' 0)
run --check -c "$tmp/good.conf" -s "$long107"
check "-s with a 107-byte absolute path: taken (--check reports it)" \
	eval '[ "$rc" -eq 0 ] && has "socket $long107, "'
run --check -c "$tmp/good.conf" -s "${long107}x"
check "-s with a 108-byte path: exit 2, saying why, nothing on standard output" \
	eval '[ "$rc" -eq 2 ] && has_err "absolute path" && [ ! -s "$tmp/out" ]'
run --check -c "$tmp/none.conf" -s "${long107}x"
check "  also with no configuration to read: still a usage error, exit 2" eval '[ "$rc" -eq 2 ] && ! has_err "cannot open"'
run --check --socket="$tmp/other.sock" --config="$tmp/good.conf"
check "--socket=PATH and --config=FILE are -s and -c" eval '[ "$rc" -eq 0 ] && has "socket $tmp/other.sock, "'
for opt in -c -s --config --socket; do
	run --check "$opt"
	check "$opt without its argument: exit 2, the hint on standard error, nothing on standard output" \
		eval '[ "$rc" -eq 2 ] && has_err "^Try .sva-brokerd --help. for more information.$" && [ ! -s "$tmp/out" ]'
done
for opt in -h --help -V --version; do
	run "$opt" -s relative.sock
	check "$opt with a relative -s: the usage error instead (exit 2), nothing on standard output" \
		eval '[ "$rc" -eq 2 ] && has_err "absolute path" && [ ! -s "$tmp/out" ]'
	run "$opt" -c "$tmp/none.conf"
	check "$opt: standard output only, exit 0, and no configuration read" \
		eval '[ "$rc" -eq 0 ] && [ -s "$tmp/out" ] && empty_err'
done
run --check -c "$tmp/good.conf"
check "--check of a valid configuration: nothing on standard error" eval '[ "$rc" -eq 0 ] && empty_err'
# The rest of the summary --check promises: a group set on the socket, and a
# device only isolated clients may use.
printf 'socket %s/s2\nsocket-group 0\nsocket-mode 600\ndevice iso mock\ntrust iso isolated\n' "$tmp" >"$tmp/iso.conf"
run --check -c "$tmp/iso.conf"
check "--check: the socket's mode and 'group set'; a device for isolated clients only" \
	eval '[ "$rc" -eq 0 ] && has "socket mode 0600, group set, " && has "device iso from mock, allowed to 0 users and 0 groups, isolated clients only$"'
printf 'device m0 mock\n' >"$tmp/err.conf"
printf 'socket-mode 01000\n' >>"$tmp/err.conf"
run --check -c "$tmp/err.conf"
check "--check: a value past its range is reported as file:line:, exit 1, nothing on standard output" \
	eval '[ "$rc" -eq 1 ] && has_err "^sva-brokerd: $tmp/err.conf:2: socket-mode" && [ ! -s "$tmp/out" ]'

# The page's example configuration (sva-brokerd(8), EXAMPLES), as printed:
# valid with a group sva, refused naming the group without one; and the
# sample installed under share/doc (FILES), valid as shipped, with the
# defaults the page gives (its summary that of an empty configuration).
man_brokerd="${top_srcdir:-$(dirname "$0")/../..}/man/sva-brokerd.8"
sed -n '/^\.SH EXAMPLES$/,/^\.EE$/p' "$man_brokerd" | sed -e '1,2d' -e '$d' -e 's/\\-/-/g' >"$tmp/example.conf"
check "sva-brokerd(8) EXAMPLES: the configuration is found" grep -q '^device acc0 0000:41:00.0$' "$tmp/example.conf"
if getent group sva >/dev/null 2>&1; then
	skip "this host has a group sva: the unknown-group case cannot be shown"
else
	run --check -c "$tmp/example.conf"
	check "  without a group sva: a configuration error naming it, file:line:, exit 1" \
		eval '[ "$rc" -eq 1 ] && has_err "example.conf:2: socket-group: no group .sva."'
fi
sed 's/ sva$/ 0/' "$tmp/example.conf" >"$tmp/example0.conf"
run --check -c "$tmp/example0.conf"
check "  with the group as a number: valid, the device, one group and its mm-exit program" \
	eval '[ "$rc" -eq 0 ] && has "device acc0 from 0000:41:00.0, allowed to 0 users and 1 group, mm-exit /usr/libexec/acc0-drain (2000 ms)$"'
sample="${top_srcdir:-$(dirname "$0")/../..}/tools/broker/sva-brokerd.conf"
printf '' >"$tmp/empty.conf"
run --check -c "$tmp/empty.conf"
sed "s|^$tmp/empty.conf: ||" "$tmp/out" >"$tmp/defaults"
run --check -c "$sample"
sed "s|^$sample: ||" "$tmp/out" >"$tmp/sample"
check "the sample configuration (share/doc/libsva/examples): valid, its values the page's defaults" \
	eval '[ "$rc" -eq 0 ] && cmp -s "$tmp/defaults" "$tmp/sample"'
unit="${top_srcdir:-$(dirname "$0")/../..}/tools/broker/sva-brokerd.service"
grep -qx 'ExecStart=/usr/sbin/sva-brokerd -c /etc/sva-brokerd.conf' "$unit" && grep -qx 'RuntimeDirectory=sva-brokerd' "$unit"
ok $? "the example unit runs /usr/sbin/sva-brokerd on /etc/sva-brokerd.conf and makes /run/sva-brokerd (FILES)"

# Starting needs /dev/iommu and the mock: where they are missing (here,
# usually), it fails at once, saying why, and leaves no socket.
if [ ! -w /dev/iommu ]; then
	run -c "$tmp/good.conf"
	check "no usable /dev/iommu: exit 1, saying it cannot start" eval '[ "$rc" -eq 1 ] && has_err "cannot start"'
	check "  and no socket is left" [ ! -e "$tmp/sock" ]
	# sva-brokerd(8), ENVIRONMENT: lines written before the context exists
	# read "sva-brokerd: message", no level, whatever SVA_LOG says (here
	# off); nothing goes to standard output; the socket's directory is not
	# made for a broker that never listens.
	printf 'socket %s/nodir/sock\n' "$tmp" >"$tmp/nodev.conf"
	SVA_LOG=off "$BROKERD" -c "$tmp/nodev.conf" >"$tmp/out" 2>"$tmp/err"
	rc=$?
	check "a configuration without a device, SVA_LOG=off: its warning and 'cannot start', unprefixed, exit 1" \
		eval '[ "$rc" -eq 1 ] && has_err "^sva-brokerd: $tmp/nodev.conf defines no device: every client will be refused$" &&
			has_err "^sva-brokerd: cannot start: " && ! has_err "^libsva" && [ ! -s "$tmp/out" ] && [ ! -e "$tmp/nodir" ]'
else
	skip "this host has /dev/iommu (the VM's ktest-broker runs the broker)"
	skip "(same)"
	skip "(same)"
fi

# SIGHUP (a closed terminal, or a reload by habit) stops the broker as SIGTERM
# and SIGINT do: exit 0, the socket removed (sva-brokerd(8), EXIT STATUS).  It
# needs a broker that starts: /dev/iommu, and no device needed.
if [ -w /dev/iommu ]; then
	printf 'socket %s\n' "$tmp/hup.sock" >"$tmp/hup.conf"
	for sig in HUP TERM INT; do
		# A socket a killed broker left would be taken for this one's.
		rm -f "$tmp/hup.sock"
		"$BROKERD" -c "$tmp/hup.conf" >"$tmp/out" 2>"$tmp/err" &
		pid=$!
		i=0
		while [ ! -S "$tmp/hup.sock" ] && [ $i -lt 100 ] && kill -0 $pid 2>/dev/null; do
			sleep 0.1
			i=$((i + 1))
		done
		kill -s $sig $pid 2>/dev/null
		wait $pid
		rc=$?
		check "SIG$sig: exit 0, the socket removed" eval '[ "$rc" -eq 0 ] && [ ! -e "$tmp/hup.sock" ]'
	done
else
	skip "no usable /dev/iommu here: the broker cannot start to take SIGHUP"
	skip "(same)"
	skip "(same)"
fi

# A number past 4294967294 is not a name the system lacks: (uid_t)-1 and
# (gid_t)-1 mean "no change" to chown(2), no id, and larger ones are none.
for id in 4294967295 4294967296 99999999999999999999; do
	printf 'socket %s/s\nsocket-group %s\n' "$tmp" "$id" >"$tmp/gid.conf"
	run --check -c "$tmp/gid.conf"
	check "socket-group $id: not a group id, in sva-brokerd(8)'s words (exit 1)" \
		eval '[ "$rc" -eq 1 ] && has_err "gid.conf:2: socket-group: .$id. is not a group id: a number is at most 4294967294$"'
	printf 'socket %s/s\ndevice m0 mock\nallow m0 uid %s\nallow m0 gid %s\n' "$tmp" "$id" "$id" >"$tmp/uid.conf"
	run --check -c "$tmp/uid.conf"
	check "allow m0 uid $id: not a user id, in the same words (exit 1)" \
		eval '[ "$rc" -eq 1 ] && has_err "uid.conf:3: allow: .$id. is not a user id: a number is at most 4294967294$"'
done
printf 'socket %s/s\nsocket-group 4294967294\n' "$tmp" >"$tmp/gid.conf"
run --check -c "$tmp/gid.conf"
check "socket-group 4294967294: the largest id, taken as it is (exit 0)" [ "$rc" -eq 0 ]

done_testing
