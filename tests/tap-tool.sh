# SPDX-License-Identifier: LGPL-2.1-or-later
# The start every shell test of one built tool shares (sva-info, sva-brokerd).
# Sourced, not run, once $tool is the tool's path and $tool_tmp a name for the
# temporary directory:
#   tool=$SVA_INFO tool_tmp=sva-info-test
#   . "${top_srcdir:-$(dirname "$0")/../..}/tests/tap-tool.sh"
#
# Without an executable $tool the whole test is a skip ("1..0 # SKIP") and
# ends here: a build without the tool is no failure.  Otherwise:
#   $tmp                    a new directory, removed when the test exits
#   tests/tap.sh's helpers  ok, skip, diag, done_testing...
#   run ARGS...             $tool ARGS: stdout in $tmp/out, stderr in
#                           $tmp/err, the exit status in $rc
#   check DESC COMMAND...   ok if COMMAND succeeds; else the command and the
#                           last run's status, stdout and stderr as "# ..."
#   has TEXT, has_err TEXT  TEXT is in the last run's stdout, stderr

if [ ! -x "$tool" ]; then
	echo "1..0 # SKIP $tool is not built"
	exit 0
fi
tmp=$(mktemp -d "${TMPDIR:-/tmp}/$tool_tmp.XXXXXX") || {
	echo "Bail out! mktemp failed"
	exit 1
}
trap 'rm -rf "$tmp"' EXIT
trap 'exit 1' HUP INT TERM

. "${top_srcdir:-$(dirname "$0")/../..}/tests/tap.sh"

run() {
	"$tool" "$@" >"$tmp/out" 2>"$tmp/err"
	rc=$?
}
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
has() { grep -q -- "$1" "$tmp/out"; }
has_err() { grep -q -- "$1" "$tmp/err"; }
