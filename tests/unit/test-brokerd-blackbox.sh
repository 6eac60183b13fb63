#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# sva-brokerd(8) read as a user reads it, against the built binary, without a
# kernel: the option wordings its EXIT STATUS quotes, the default
# configuration path, a configuration error when starting (not only under
# --check), and the prefix of the lines written before its libsva context
# exists.  The running broker's side is tests/kernel/ktest-brokerd-bin.
#
#   top_builddir=/path/to/build sh tests/unit/test-brokerd-blackbox.sh

BROKERD=${BROKERD:-${top_builddir:-.}/tools/sva-brokerd}
tool=$BROKERD tool_tmp=sva-brokerd-bb
. "${top_srcdir:-$(dirname "$0")/../..}/tests/tap-tool.sh"

first_err() { [ "$(head -n 1 "$tmp/err")" = "$1" ]; }

printf 'socket %s/sock\ndevice m0 mock\nallow m0 uid 0\n' "$tmp" >"$tmp/good.conf"

# EXIT STATUS 2: the wordings the page quotes, each exit 2, nothing on stdout.
run --c "$tmp/good.conf"
check "--c: exit 2, \"sva-brokerd: ambiguous option '--c' (--config, --check)\"" \
	eval '[ "$rc" -eq 2 ] && [ ! -s "$tmp/out" ] && first_err "sva-brokerd: ambiguous option '"'"'--c'"'"' (--config, --check)"'
run --check=1 -c "$tmp/good.conf"
check "--check=1: exit 2, \"sva-brokerd: option '--check=1' takes no argument\"" \
	eval '[ "$rc" -eq 2 ] && [ ! -s "$tmp/out" ] && first_err "sva-brokerd: option '"'"'--check=1'"'"' takes no argument"'
run -c
check "-c alone: exit 2, \"sva-brokerd: option '-c' needs an argument\"" \
	eval '[ "$rc" -eq 2 ] && [ ! -s "$tmp/out" ] && first_err "sva-brokerd: option '"'"'-c'"'"' needs an argument"'
run -h --frobnicate
check "-h with an unknown option: that usage error instead, exit 2, nothing on stdout" \
	eval '[ "$rc" -eq 2 ] && [ ! -s "$tmp/out" ] && has_err "unknown option '"'"'--frobnicate'"'"'"'
run -V -x
check "-V with an unknown option: that usage error instead, exit 2" \
	eval '[ "$rc" -eq 2 ] && [ ! -s "$tmp/out" ] && has_err "unknown option '"'"'-x'"'"'"'
run -h
check "-h: the usage on standard output, exit 0" eval '[ "$rc" -eq 0 ] && grep -q "sva-brokerd" "$tmp/out"'

# -c defaults to /etc/sva-brokerd.conf.
if [ -e /etc/sva-brokerd.conf ]; then
	skip "this host has /etc/sva-brokerd.conf"
else
	run --check
	check "--check without -c reads /etc/sva-brokerd.conf: missing here, exit 1 naming it" \
		eval '[ "$rc" -eq 1 ] && has_err "/etc/sva-brokerd.conf"'
fi

# A configuration error when starting, as under --check: file:line:, exit 1,
# whatever /dev/iommu is (the configuration is read first).
printf 'device m0 mock\ntrust m0 isolated\ntrust m0 any\n' >"$tmp/bad.conf"
run -c "$tmp/bad.conf"
check "starting on a configuration with an error: exit 1, file:line: and the reason" \
	eval '[ "$rc" -eq 1 ] && has_err "bad.conf:3: trust: device .m0. has a trust line already" && ! has_err "cannot start"'
printf 'device m0 mock\nmm-exit m0 /bin/true\nmm-exit m0 /bin/false\n' >"$tmp/bad2.conf"
run --check -c "$tmp/bad2.conf"
check "a second mm-exit line: exit 1, \"has one already\"" \
	eval '[ "$rc" -eq 1 ] && has_err "bad2.conf:3: mm-exit: device .m0. has one already"'
printf 'device m0 mock\nallow m0 uid +1000\n' >"$tmp/plus.conf"
run --check -c "$tmp/plus.conf"
check "allow uid +1000: a user named +1000, which the system does not know: exit 1" \
	eval '[ "$rc" -eq 1 ] && has_err "plus.conf:2: allow: no user .+1000."'
# CONFIGURATION, allow NAME uid|gid|user|group ID: another word in the place
# of the kind is named as such, not taken for an unknown directive (the
# line's first word is allow, and it has its four words).
for kind in users Uid host; do
	printf 'device m0 mock\nallow m0 %s 0\n' "$kind" >"$tmp/kind.conf"
	run --check -c "$tmp/kind.conf"
	check "allow m0 $kind 0: exit 1, \"allow: 'uid', 'gid', 'user' or 'group', not '$kind'\"" \
		eval '[ "$rc" -eq 1 ] && [ ! -s "$tmp/out" ] &&
			first_err "sva-brokerd: $tmp/kind.conf:2: allow: '"'"'uid'"'"', '"'"'gid'"'"', '"'"'user'"'"' or '"'"'group'"'"', not '"'"'$kind'"'"'"'
done
# mm-exit NAME PROGRAM [TIMEOUT-MS]: from 1 to 600000, the page's range.
for t in 0:1 1:0 600000:0 600001:1; do
	printf 'device m0 mock\nmm-exit m0 /bin/true %s\n' "${t%%:*}" >"$tmp/mmx.conf"
	run --check -c "$tmp/mmx.conf"
	check "mm-exit timeout ${t%%:*}: exit ${t#*:}" eval '[ "$rc" -eq ${t#*:} ]'
done
printf 'device m0 mock\nsocket-mode 0660\nsocket-mode 660\n' >"$tmp/mode.conf"
run --check -c "$tmp/mode.conf"
check "socket-mode 660 is 0660" eval '[ "$rc" -eq 0 ] && grep -q "socket mode 0660," "$tmp/out"'
printf 'isolated-pin-max 16777215T\n' >"$tmp/pin.conf"
run --check -c "$tmp/pin.conf"
check "isolated-pin-max 16777215T (2^64 - 2^40 bytes, fits): valid" eval '[ "$rc" -eq 0 ]'
printf 'isolated-pin-max 1T\n' >"$tmp/pin.conf"
run --check -c "$tmp/pin.conf"
check "isolated-pin-max 1T: 1099511627776 bytes (powers of 1024)" \
	eval '[ "$rc" -eq 0 ] && grep -q "map at most 1099511627776 bytes each" "$tmp/out"'

# ENVIRONMENT: the broker's own lines before its context exists read
# "sva-brokerd: message", no level, and are written whatever SVA_LOG says
# (off included); libsva's own line about the iommufd it could not open is
# libsva's ("libsva level: message") and follows SVA_LOG.
if [ ! -w /dev/iommu ]; then
	for lvl in debug off; do
		SVA_LOG=$lvl "$BROKERD" -c "$tmp/good.conf" >"$tmp/out" 2>"$tmp/err"
		rc=$?
		check "no /dev/iommu, SVA_LOG=$lvl: exit 1, \"sva-brokerd: cannot create the iommufd context\" and \"cannot start\", no level" \
			eval '[ "$rc" -eq 1 ] && has_err "^sva-brokerd: cannot create the iommufd context: " &&
				has_err "^sva-brokerd: cannot start: " && [ ! -s "$tmp/out" ]'
		check "  no line of the broker's with a level, every line of libsva's an error or a warning" \
			eval '! grep -q "^libsva [a-z]*: sva-brokerd:" "$tmp/err" &&
				! grep -v -e "^sva-brokerd: " -e "^libsva error: " -e "^libsva warn: " "$tmp/err" | grep -q .'
	done
	grep -q "^libsva error: " "$tmp/err"
	ok $((! $?)) "  SVA_LOG=off: libsva's own line follows it (not written)"
	check "  and no socket, no lock file" eval '[ ! -e "$tmp/sock" ] && [ ! -e "$tmp/sock.lock" ]'
else
	skip "this host has /dev/iommu (ktest-brokerd-bin covers the running broker)"
	skip "(same)"
	skip "(same)"
	skip "(same)"
	skip "(same)"
	skip "(same)"
fi

done_testing
