#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# No cycles between libsva's files (docs/design.md, "Layers"):
#   - calls: file A calls file B when A's object has an undefined symbol that
#     B's object defines (nm over the built libsva-internal archive); the
#     graph of these edges must be acyclic, so every file can be read and
#     tested knowing only the files below it;
#   - includes: the graph of #include "..." lines among libsva's files is acyclic.
# Calls through function pointers (a backend's ops, a context's release) are
# not edges: that is how a lower layer calls up without depending on it.
#
# Run by automake from the build directory, or by hand:
#   top_srcdir=/path/to/libsva sh tests/unit/test-no-cycles.sh [archive]

top_srcdir=${top_srcdir:-$(dirname "$0")/../..}
archive=${1:-libsva/.libs/libsva-internal.a}

. "$top_srcdir/tests/tap.sh"

# Print the files left on a cycle, one "from -> to: symbol" line per edge among
# them, from "from to symbol" lines: peel files without outgoing edges, then
# files without incoming ones, until nothing changes.
cycles() {
	awk '
	{ from[NR] = $1; to[NR] = $2; sym[NR] = $3; live[$1] = 1; live[$2] = 1 }
	END {
		do {
			changed = 0
			for (f in live) { out[f] = 0; inn[f] = 0 }
			for (i = 1; i <= NR; i++)
				if (live[from[i]] && live[to[i]] && from[i] != to[i]) {
					out[from[i]]++
					inn[to[i]]++
				}
			for (f in live)
				if (live[f] && (!out[f] || !inn[f])) {
					live[f] = 0
					changed = 1
				}
		} while (changed)
		for (i = 1; i <= NR; i++)
			if (live[from[i]] && live[to[i]] && from[i] != to[i])
				print from[i] " -> " to[i] ": " sym[i]
	}' | sort -u
}

if [ ! -r "$archive" ] || ! command -v nm >/dev/null 2>&1; then
	echo "Bail out! cannot read $archive with nm(1) (run make first)"
	exit 1
fi

# "file symbol D" for definitions, "file symbol U" for references.
nm -A "$archive" 2>/dev/null | awk '
	{
		split($1, p, ":"); obj = p[2]
		sub(/^libsva_[a-z_]*_la-/, "", obj); sub(/\.o$/, "", obj)
		if (NF == 3 && $2 ~ /^[TDBR]$/) print obj, $3, "D"
		else if (NF == 3 && $2 == "U") print obj, $3, "U"
	}' >nm.$$.txt
awk '$3 == "D" { def[$2] = $1 } $3 == "U" { use[NR] = $1 " " $2 }
	END { for (i in use) { split(use[i], u, " "); if (u[2] in def && def[u[2]] != u[1]) print u[1], def[u[2]], u[2] } }' \
	nm.$$.txt nm.$$.txt >edges.$$.txt
calls=$(cycles <edges.$$.txt)
rm -f nm.$$.txt edges.$$.txt
[ -z "$calls" ]
ok $? "no call cycle between libsva's files"
[ -z "$calls" ] || printf '%s\n' "$calls" | diag_file

incs=$(for h in "$top_srcdir"/libsva/*.h "$top_srcdir"/libsva/*.c; do
	b=$(basename "$h")
	sed -n 's/^#include "\(.*\)"/\1/p' "$h" | while read -r i; do
		echo "$b $i include"
	done
done | cycles)
[ -z "$incs" ]
ok $? "no include cycle between libsva's files"
[ -z "$incs" ] || printf '%s\n' "$incs" | diag_file
done_testing
