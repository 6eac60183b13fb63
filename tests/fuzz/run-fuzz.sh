#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
# Run the PASID fuzz target for a bounded time from its seed corpus.  Builds
# nothing: configure with CC=clang (so HAVE_FUZZER holds) and `make` first.
#
#   tests/fuzz/run-fuzz.sh SECONDS [FUZZ_BINARY]
#
# FUZZ_BINARY defaults to $FUZZ_PASID, else tests/fuzz/fuzz-pasid under
# $top_builddir (default: the current directory).  New inputs go to a scratch
# directory, never into the checked-in corpus; crash inputs land in
# $FUZZ_ARTIFACTS (default ./fuzz-artifacts/) for CI to upload.
# Exit status: 0 if the time ran out with no finding, else libFuzzer's.
set -eu

usage() {
	echo "usage: $0 SECONDS [FUZZ_BINARY]" >&2
	exit 2
}

[ $# -ge 1 ] && [ $# -le 2 ] || usage
secs=$1
case $secs in '' | *[!0-9]*) usage ;; esac

here=$(cd "$(dirname "$0")" && pwd)
bin=${2:-${FUZZ_PASID:-${top_builddir:-.}/tests/fuzz/fuzz-pasid}}
seeds=$here/corpus/pasid
artifacts=${FUZZ_ARTIFACTS:-./fuzz-artifacts}

if [ ! -x "$bin" ]; then
	echo "$0: no fuzz binary at $bin: configure with CC=clang and run make" >&2
	exit 1
fi
[ -d "$seeds" ] || { echo "$0: no seed corpus at $seeds" >&2; exit 1; }

work=$(mktemp -d "${TMPDIR:-/tmp}/fuzz-pasid.XXXXXX")
trap 'rm -rf "$work"' EXIT INT TERM
mkdir -p "$artifacts"

# -max_total_time bounds the run; -timeout catches a hang in one input;
# the first directory receives new inputs, the seed directory is read only.
"$bin" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
	-artifact_prefix="$artifacts/" "$work" "$seeds"
