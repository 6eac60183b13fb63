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
#                           exit 2, nothing on standard output, the line and
#                           then the hint "Try 'NAME --help' for more
#                           information." as the last line
#   value_errors NAME SPECS TOOL...  the tools' one wording of a bad option
#                           value (tools/option_error.h), for each option
#                           SPECS names (blank-separated "--OPT[/-O]:path" or
#                           "--OPT[/-O]:MIN:MAX"), as --OPT=V, --OPT V and
#                           -O V: an empty one "option 'OPT' needs a
#                           non-empty argument"; of a number, "abc", "5x",
#                           "-1", " 5", "+5" "option 'OPT': 'V' is not a
#                           number", MIN-1, MAX+1 and 99999999999999999999
#                           "option 'OPT': 'V' must be between MIN and MAX";
#                           each exit 2, nothing on standard output, and the
#                           hint last, as option_errors
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
		oe_last=$(tail -n 1 "${TMPDIR:-/tmp}/oe.$$.err")
		[ "$oe_rc" -eq 2 ] && [ -z "$oe_out" ] && [ "$oe_line" = "$oe_name: ${oe_case#*:}" ] &&
			[ "$oe_last" = "Try '$oe_name --help' for more information." ]
		ok $? "$oe_name $oe_arg: exit 2, nothing on standard output, '$oe_name: ${oe_case#*:}', the hint last (got $oe_rc: $oe_line / $oe_last)"
	done
	rm -f "${TMPDIR:-/tmp}/oe.$$.err"
}

value_errors() {
	ve_name=$1
	ve_specs=$2
	shift 2
	for ve_spec in $ve_specs; do
		ve_opts=${ve_spec%%:*}
		ve_long=${ve_opts%%/*}
		ve_short=
		case $ve_opts in */*) ve_short=${ve_opts#*/} ;; esac
		ve_range=${ve_spec#*:}
		ve_cases="|needs a non-empty argument"
		if [ "$ve_range" != path ]; then
			ve_min=${ve_range%%:*}
			ve_max=${ve_range#*:}
			ve_cases="$ve_cases
abc|: 'abc' is not a number
5x|: '5x' is not a number
-1|: '-1' is not a number
 5|: ' 5' is not a number
+5|: '+5' is not a number
99999999999999999999|: '99999999999999999999' must be between $ve_min and $ve_max"
			[ "$ve_min" -gt 0 ] && ve_cases="$ve_cases
$((ve_min - 1))|: '$((ve_min - 1))' must be between $ve_min and $ve_max"
			[ "${#ve_max}" -lt 18 ] && ve_cases="$ve_cases
$((ve_max + 1))|: '$((ve_max + 1))' must be between $ve_min and $ve_max"
		fi
		for ve_form in "$ve_long=" "$ve_long" ${ve_short:+"$ve_short"}; do
			ve_shown=${ve_form%=}
			while IFS= read -r ve_case; do
				ve_val=${ve_case%%|*}
				ve_want="$ve_name: option '$ve_shown'"
				case ${ve_case#*|} in :*) ve_want="$ve_want${ve_case#*|}" ;; *) ve_want="$ve_want ${ve_case#*|}" ;; esac
				case $ve_form in
				*=) ve_out=$("$@" "$ve_form$ve_val" 2>"${TMPDIR:-/tmp}/ve.$$.err") ;;
				*) ve_out=$("$@" "$ve_form" "$ve_val" 2>"${TMPDIR:-/tmp}/ve.$$.err") ;;
				esac
				ve_rc=$?
				ve_line=$(head -n 1 "${TMPDIR:-/tmp}/ve.$$.err")
				ve_last=$(tail -n 1 "${TMPDIR:-/tmp}/ve.$$.err")
				[ "$ve_rc" -eq 2 ] && [ -z "$ve_out" ] && [ "$ve_line" = "$ve_want" ] &&
					[ "$ve_last" = "Try '$ve_name --help' for more information." ]
				ok $? "$ve_name $ve_form '$ve_val': exit 2, nothing on standard output, '$ve_want', the hint last (got $ve_rc: $ve_line / $ve_last)"
			done <<EOF
$ve_cases
EOF
		done
	done
	rm -f "${TMPDIR:-/tmp}/ve.$$.err"
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
