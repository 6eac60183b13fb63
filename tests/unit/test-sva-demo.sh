#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
# sva-demo's command line (sva-demo(1)): help, usage errors (exit 2), and the
# first step's failure where there is no /dev/iommu (exit 1).  The demo itself
# runs in the test VM (make check-vm).
demo=${top_builddir:-.}/tools/sva-demo
. "${top_srcdir:-$(dirname "$0")/../..}/tests/tap.sh"

"$demo" --help >/dev/null 2>&1; ok $? "--help exits 0"
option_errors sva-demo --device "$demo"
value_errors sva-demo "--device/-d:path" "$demo"
err=$("$demo" --frobnicate 2>&1 >/dev/null); rc=$?
[ $rc -eq 2 ] && echo "$err" | grep -q "^sva-demo: unknown option '--frobnicate'"
ok $? "an unknown option is a usage error that names it, as sva-demo (exit $rc)"
err=$("$demo" -d 2>&1 >/dev/null); rc=$?
[ $rc -eq 2 ] && echo "$err" | grep -q "^sva-demo: option '-d' needs an argument"
ok $? "-d without its argument says so (exit $rc)"
for args in "--help -xy:unknown option '-x'" "--device=foo -xy:unknown option '-x'" "-hd:option '-d' needs an argument"; do
	# shellcheck disable=SC2086 # split on purpose
	err=$("$demo" ${args%%:*} 2>&1 >/dev/null); rc=$?
	[ $rc -eq 2 ] && echo "$err" | grep -q "^sva-demo: ${args#*:}"
	ok $? "$demo ${args%%:*}: names the bad short option in its group, not the argument before (exit $rc: $(echo "$err" | head -1))"
done
"$demo" --device >/dev/null 2>&1; [ $? -eq 2 ]; ok $? "--device without its argument is a usage error"
err=$("$demo" --device= 2>&1 >/dev/null); rc=$?
[ $rc -eq 2 ] && echo "$err" | grep -q "needs a non-empty argument"
ok $? "--device= (empty) is a usage error too, saying so (exit $rc)"
err=$("$demo" -d '' 2>&1 >/dev/null); rc=$?
[ $rc -eq 2 ] && echo "$err" | grep -q "^sva-demo: option '-d' needs a non-empty argument"
ok $? "-d '' names the option the user typed, -d (exit $rc: $err)"
err=$("$demo" extra 2>&1 >/dev/null); rc=$?
[ $rc -eq 2 ] && echo "$err" | grep -q "unexpected argument 'extra'"
ok $? "an extra argument is a usage error that names it (exit 2)"
"$demo" --help extra >/dev/null 2>&1; [ $? -eq 2 ]; ok $? "--help with an extra argument is a usage error too"
# Every usage error is its line and then the same hint (it was one line of
# usage after an extra argument or an empty -d, two after the others; now
# the hint every tool ends a usage error with, tools/option_error.h).
usage_ref=$("$demo" --frobnicate 2>&1 >/dev/null | tail -n +2)
for args in extra "" --device= -x --device; do
    case $args in "") set -- -d "" ;; *) set -- "$args" ;; esac # "": -d with an empty argument
    usage=$("$demo" "$@" 2>&1 >/dev/null | tail -n +2)
    [ -n "$usage_ref" ] && [ "$usage" = "$usage_ref" ]
    ok $? "sva-demo $*: the same hint as every usage error (got: $(echo "$usage" | tr '\n' '|'))"
done
help_version sva-demo "$demo"
if [ -e /dev/iommu ]; then
    skip "this host has /dev/iommu: the no-iommufd path is not reachable"
else
    out=$("$demo" 2>/dev/null); rc=$?
    [ $rc -eq 1 ] && echo "$out" | grep -q "^ *! cannot open /dev/iommu"
    ok $? "without /dev/iommu: a '!' line says so, exit 1"
    out=$("$demo" --device vfio0 2>/dev/null); rc=$?
    [ $rc -eq 1 ] && echo "$out" | grep -q "tools/demo.sh without --device"
    ok $? "  with --device, its hint is to run tools/demo.sh without it (exit $rc)"
    # sva-demo(1), DESCRIPTION: the done step says "something went wrong"
    # when a line is marked !, and a report that cannot be written is
    # status 1 with a message (EXIT STATUS).  The demo ended at the '!' line.
    out=$("$demo" 2>/dev/null); rc=$?
    last=$(echo "$out" | tail -n 1)
    [ $rc -eq 1 ] && [ "$last" = "== done: something went wrong (marked with !)" ]
    ok $? "without /dev/iommu: the done step says something went wrong (exit $rc, last line: $last)"
    # sva-demo(1): each step starts with "== step" on standard output, and
    # each result line is indented, its first non-blank character - or !.
    # libsva's own log goes to standard error at SVA_LOG's level (warn when
    # unset, so the iommufd's error is there), and not at all with off.
    out=$(env -u SVA_LOG "$demo" 2>"${TMPDIR:-/tmp}/test-sva-demo.$$.err"); rc=$?
    bad=$(printf '%s\n' "$out" | grep -v '^$' | grep -v '^== [^ ]' | grep -v '^ \{1,\}[-!] ')
    [ $rc -eq 1 ] && [ -z "$bad" ] && [ "$(printf '%s\n' "$out" | grep -m1 '^==')" = "== the IOMMU" ]
    ok $? "without /dev/iommu: '== step' headings, the first the IOMMU, and result lines indented with - or ! (got $rc: $bad)"
    [ -s "${TMPDIR:-/tmp}/test-sva-demo.$$.err" ] && ! grep -q '^ *[-!] \|^==' "${TMPDIR:-/tmp}/test-sva-demo.$$.err"
    ok $? "  SVA_LOG unset (warn): libsva's error on standard error, the report not ($(head -n 1 "${TMPDIR:-/tmp}/test-sva-demo.$$.err"))"
    out_off=$(SVA_LOG=off "$demo" 2>"${TMPDIR:-/tmp}/test-sva-demo.$$.err"); rc=$?
    [ $rc -eq 1 ] && [ ! -s "${TMPDIR:-/tmp}/test-sva-demo.$$.err" ] && [ "$out_off" = "$out" ]
    ok $? "  SVA_LOG=off: nothing on standard error, the same report (got $rc: $(head -n 1 "${TMPDIR:-/tmp}/test-sva-demo.$$.err"))"
    rm -f "${TMPDIR:-/tmp}/test-sva-demo.$$.err"
    if [ -w /dev/full ]; then
        err=$("$demo" 2>&1 >/dev/full); rc=$?
        [ $rc -eq 1 ] && echo "$err" | grep -q "^sva-demo: writing the report failed"
        ok $? "without /dev/iommu, report to /dev/full: exit 1, saying so (got $rc: $err)"
    else
        skip "no /dev/full"
    fi
fi
# The fixed buffer addresses (sva-demo(1), NOTES): an occupied one leaves out
# part of the step that uses it, and the page names that step.  (The demo
# reaches those steps only with /dev/iommu: the test VM.)
man_demo=${SVA_DEMO_MAN:-${top_srcdir:-$(dirname "$0")/../..}/man/sva-demo.1}
notes=$(sed -n '/^\.SH NOTES$/,/^\.SH /p' "$man_demo" 2>/dev/null | tr '\n' ' ')
echo "$notes" | grep -q 'left out (faults resolved step' && ! echo "$notes" | grep -q 'bind step'
ok $? "sva-demo(1) NOTES: an occupied address leaves out part of the faults resolved step, not the bind step"
echo "$notes" | grep -q 'already occupied'
ok $? "  and the demo says the address is occupied, not that the device cannot fault"
# Every usage error's line is one the page lists (sva-demo(1), EXIT STATUS 2:
# the quoted phrases after "names it").
phrases=$(sed -n '/^\.SH EXIT STATUS$/,/^\.SH /p' "$man_demo" 2>/dev/null | sed -n '/names it/,/hint follows/p' |
	grep -o '"[a-z][^"]*"' | tr -d '"')
[ -n "$phrases" ]; ok $? "sva-demo(1) EXIT STATUS lists the usage error messages ($(echo "$phrases" | tr '\n' ','))"
for args in --frobnicate --frobnicate=1 --help=x -x -d --device --device= "-d ''" -hd extra "--device foo extra"; do
	eval "set -- $args"
	line=$("$demo" "$@" 2>&1 >/dev/null | head -n 1)
	# grep -F takes each line of $phrases as a pattern of its own.
	case $line in sva-demo:\ *) printf '%s\n' "$line" | grep -qF "$phrases" ;; *) false ;; esac
	ok $? "sva-demo $args: its line is one of sva-demo(1)'s (got: $line)"
done
# An option that takes no argument given one: named as typed (glibc reports
# it as the short option, and the line said "unknown option '-h'").
for args in --help=x --version=1 --hel=x --vers=1; do
	line=$("$demo" "$args" 2>&1 >/dev/null | head -n 1)
	[ "$line" = "sva-demo: option '$args' takes no argument" ]
	ok $? "sva-demo $args: the line names the option as given (got: $line)"
done
# tools/demo.sh, the README's command: its usage errors come before it installs
# or builds anything (an empty --device= used to take the VM path).
demo_sh="${top_srcdir:-$(dirname "$0")/../..}/tools/demo.sh"
for args in "--device=:needs a non-empty argument" "--device=x junk:unexpected argument 'junk'" \
	"--frobnicate:unknown option '--frobnicate'" "--device:needs an argument" "extra:unexpected argument 'extra'"; do
	# shellcheck disable=SC2086 # split on purpose
	err=$(timeout 20 bash "$demo_sh" ${args%%:*} 2>&1 >/dev/null); rc=$?
	[ $rc -eq 2 ] && echo "$err" | grep -q "${args#*:}; usage: tools/demo.sh"
	ok $? "tools/demo.sh ${args%%:*}: a usage error at once, saying why (exit $rc)"
done
out=$(timeout 20 bash "$demo_sh" --help 2>/dev/null); rc=$?
[ $rc -eq 0 ] && echo "$out" | grep -q "DEV: a VFIO cdev path"
ok $? "tools/demo.sh --help: the usage and what DEV is, on standard output (exit $rc)"
done_testing
