# SPDX-License-Identifier: LGPL-2.1-or-later
# TAP helpers for the shell tests (automake's tap-driver.sh reads the output).
# Sourced, not run:
#   . "${top_srcdir:-$(dirname "$0")/../..}/tests/tap.sh"
#
#   ok STATUS DESCRIPTION   "ok N - ..." if STATUS is 0, else "not ok N - ..."
#   skip REASON             "ok N # SKIP REASON"
#   diag TEXT...            "# TEXT"
#   diag_file [FILE...]     every line of the files (or stdin) as "# ..."
#   done_testing            the plan "1..N"; exit status 0 iff nothing failed
#   help_unwritable TOOL... TOOL --help into a full device exits 1 (a skip
#                           where there is no /dev/full)
#   static_busybox          $bb: a static busybox, with cpio, gzip and ldd
#                           (what the test VM's packer needs); or a skip, the
#                           plan and exit (tools/install-deps.sh vm installs them)
#   help_version NAME TOOL... what every tool does with --help and --version:
#                           "NAME (libsva) VERSION", exit 0; either with a
#                           stray argument is a usage error (2); into a full
#                           device, exit 1 with a message
#   option_errors NAME OPT TOOL...  the tools' one wording of a bad option
#                           (tools/option_error.h): an unknown long or short
#                           one, a long one given an argument it does not take,
#                           OPT (a long option that needs one) without it; each
#                           exit 2, nothing on standard output
# $count and $failed are the numbers so far.

count=0
failed=0

ok() {
	count=$((count + 1))
	if [ "$1" -eq 0 ]; then
		echo "ok $count - $2"
	else
		echo "not ok $count - $2"
		failed=$((failed + 1))
	fi
}

skip() {
	count=$((count + 1))
	echo "ok $count # SKIP $1"
}

diag() {
	echo "# $*"
}

diag_file() {
	sed 's/^/# /' "$@"
}

help_unwritable() {
	if [ -w /dev/full ]; then
		"$@" --help >/dev/full 2>/dev/null
		[ $? -eq 1 ]
		ok $? "--help that cannot be written: exit 1"
	else
		skip "no /dev/full here"
	fi
}

help_version() {
	hv_name=$1
	shift
	hv_out=$("$@" --version 2>/dev/null)
	hv_rc=$?
	[ "$hv_rc" -eq 0 ] && printf '%s\n' "$hv_out" | head -n 1 | grep -q "^$hv_name (libsva) [0-9]"
	ok $? "--version: exit 0, '$hv_name (libsva) VERSION' (got $hv_rc: $hv_out)"
	"$@" -V >/dev/null 2>&1
	ok $? "-V is --version"
	for hv_opt in --help --version; do
		"$@" "$hv_opt" stray-argument >/dev/null 2>&1
		[ $? -eq 2 ]
		ok $? "$hv_opt with a stray argument: a usage error, exit 2"
	done
	if [ -w /dev/full ]; then
		hv_err=$("$@" --version 2>&1 >/dev/full)
		hv_rc=$?
		[ "$hv_rc" -eq 1 ] && [ -n "$hv_err" ]
		ok $? "--version that cannot be written: exit 1, saying so (got $hv_rc: $hv_err)"
	else
		skip "no /dev/full here"
	fi
	help_unwritable "$@"
}

option_errors() {
	oe_name=$1
	oe_needs=$2
	shift 2
	for oe_case in "--frobnicate:unknown option '--frobnicate'" "--frobnicate=1:unknown option '--frobnicate'" \
		"-x:unknown option '-x'" "--help=x:option '--help=x' takes no argument" \
		"$oe_needs:option '$oe_needs' needs an argument"; do
		oe_arg=${oe_case%%:*}
		oe_out=$("$@" "$oe_arg" 2>"${TMPDIR:-/tmp}/oe.$$.err")
		oe_rc=$?
		oe_line=$(head -n 1 "${TMPDIR:-/tmp}/oe.$$.err")
		[ "$oe_rc" -eq 2 ] && [ -z "$oe_out" ] && [ "$oe_line" = "$oe_name: ${oe_case#*:}" ]
		ok $? "$oe_name $oe_arg: exit 2, nothing on standard output, '$oe_name: ${oe_case#*:}' (got $oe_rc: $oe_line)"
	done
	rm -f "${TMPDIR:-/tmp}/oe.$$.err"
}

done_testing() {
	echo "1..$count"
	[ "$failed" -eq 0 ]
}

static_busybox() {
	bb=
	if command -v ldd >/dev/null 2>&1 && command -v cpio >/dev/null 2>&1 && command -v gzip >/dev/null 2>&1; then
		for b in /bin/busybox /usr/bin/busybox; do
			[ -x "$b" ] && ! ldd "$b" >/dev/null 2>&1 && bb=$b && return 0
		done
	fi
	skip "no static busybox, cpio, gzip or ldd here (tools/install-deps.sh vm installs them)"
	done_testing
	exit $?
}
