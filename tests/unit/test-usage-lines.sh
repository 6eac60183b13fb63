#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
# Black-box, from the man pages alone: every libsva tool's usage error is
# exit 2, nothing on standard output, and on standard error a line naming the
# error, then "Try 'PROG --help' for more information." as the last line
# (sva-bench(1), sva-brokerd(8), sva-info(1), sva-demo(1), EXIT STATUS or
# usage).  Where a page quotes the line, it is checked word for word; the
# other usage errors each page lists are checked for the shape alone.
b=${top_builddir:-.}/tools
. "${top_srcdir:-$(dirname "$0")/../..}/tests/tap.sh"
tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT
long=/$(printf '%0120d' 0)

# usage PROG WANT ARGS...: WANT the first line word for word, or "" for any.
usage() {
	u_prog=$1
	u_want=$2
	shift 2
	"$b/$u_prog" "$@" >"$tmp/out" 2>"$tmp/err"
	u_rc=$?
	u_first=$(head -n 1 "$tmp/err")
	u_last=$(tail -n 1 "$tmp/err")
	u_lines=$(wc -l <"$tmp/err")
	[ "$u_rc" -eq 2 ] && [ ! -s "$tmp/out" ] && [ "$u_lines" -eq 2 ] &&
		case $u_first in "$u_prog: "?*) true ;; *) false ;; esac &&
		{ [ -z "$u_want" ] || [ "$u_first" = "$u_want" ]; } &&
		[ "$u_last" = "Try '$u_prog --help' for more information." ]
	ok $? "$u_prog $*: exit 2, stdout empty, '${u_want:-$u_prog: ...}' then the hint, two lines (got $u_rc, $u_lines lines: $(tr '\n' '|' <"$tmp/err"))"
}

usage sva-bench "sva-bench: option '--json=1' takes no argument" --json=1
usage sva-bench "sva-bench: option '--rounds': '5x' is not a number" --rounds 5x
usage sva-bench "sva-bench: option '--rounds': '0' must be between 1 and 1000" --rounds 0
usage sva-bench "" nosuchbench
usage sva-bench "" pasid fault
usage sva-bench "" --compare -h
usage sva-bench "" --compare "$tmp/one.json"
usage sva-bench "" --compare "$tmp/one.json" "$tmp/two.json" --json

usage sva-brokerd "sva-brokerd: ambiguous option '--c' (--config, --check)" --c
usage sva-brokerd "sva-brokerd: option '--check=1' takes no argument" --check=1
usage sva-brokerd "sva-brokerd: option '-c' needs an argument" -c
usage sva-brokerd "sva-brokerd: option '-c' needs a non-empty argument" -c ''
usage sva-brokerd "sva-brokerd: option '-s' needs a non-empty argument" -s ''
usage sva-brokerd "sva-brokerd: option '--socket': 'a.sock' must be an absolute path shorter than 108 bytes" \
	--socket a.sock
usage sva-brokerd "" -s "$long"
usage sva-brokerd "" extra

usage sva-info "sva-info: ambiguous option '--ver' (--verbose, --version)" --ver
usage sva-info "sva-info: option '--json=1' takes no argument" --json=1
usage sva-info "sva-info: option '--memlock' needs an argument" --memlock
usage sva-info "sva-info: option '--sysfs-root' needs a non-empty argument" --sysfs-root=
usage sva-info "sva-info: option '--memlock': '5k' is not a number" --cdi --memlock 5k
usage sva-info "sva-info: option '--memlock': '0' must be between 1 and 18446744073709551615" --cdi --memlock 0
usage sva-info "sva-info: option '--broker-socket': '/sock' is directly under /: give a socket in a directory of its own" \
	--cdi --broker-socket /sock
usage sva-info "" extra
usage sva-info "" --proc-root /proc
usage sva-info "" --kernel-config /nonexistent
usage sva-info "" --memlock 4096
usage sva-info "" --broker-socket /run/x/socket
usage sva-info "" --cdi --json
usage sva-info "" --cdi --doctor
usage sva-info "" --cdi -v
usage sva-info "" --cdi --no-open
usage sva-info "" --cdi --broker-socket "$long"

usage sva-demo "sva-demo: option '--device' needs a non-empty argument" --device=
usage sva-demo "sva-demo: option '-d' needs a non-empty argument" -d ''
usage sva-demo "sva-demo: option '--device' needs an argument" --device
usage sva-demo "" extra
usage sva-demo "" --help extra

# --help: the same first line in every tool, "usage: PROG ..." as each page
# quotes it (SYNOPSIS's spelling, lower case as in the usage errors above).
for prog in sva-bench sva-brokerd sva-info sva-demo; do
	"$b/$prog" --help >"$tmp/out" 2>"$tmp/err"
	rc=$?
	first=$(head -n 1 "$tmp/out")
	[ "$rc" -eq 0 ] && case $first in "usage: $prog "?*) true ;; *) false ;; esac
	ok $? "$prog --help: the first line is 'usage: $prog ...' (got $rc: $first)"
done
for prog in bench-pasid bench-fault bench-coherence bench-budget; do
	first=$("$b/bench/$prog" --help 2>/dev/null | head -n 1)
	case $first in "usage: $prog "?*) true ;; *) false ;; esac
	ok $? "$prog --help: the first line is 'usage: $prog ...' (got $first)"
done

done_testing
