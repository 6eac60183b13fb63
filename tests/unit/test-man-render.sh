#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# Every man page renders without a warning, as a reader and a packager's
# linter see it: man --warnings at 80 columns (what lintian runs) and at 60
# (a narrow terminal or split window: a word too long for the line, or a line
# too full of them to adjust, warns there first), and groff -ww -man -z
# (every warning category).  A ".so man3/PAGE.3" link
# resolves only below a man hierarchy's root, as installed, so the pages are
# rendered from a temporary tree whose man1/, man3/, man7/ and man8/ all
# point at man/: a link to a missing page fails here, and one the source
# layout alone cannot resolve does not.  One TAP line per page and tool; a
# tool that is not installed skips its lines.  Hermetic: the source tree only.
#
# Run by automake (top_srcdir is set), or by hand:
#   top_srcdir=/path/to/libsva sh tests/unit/test-man-render.sh
set -u

top_srcdir=${top_srcdir:-$(dirname "$0")/../..}
. "$top_srcdir/tests/tap.sh"
mandir=$(cd "$top_srcdir/man" && pwd) || { echo "Bail out! no man/ in $top_srcdir"; exit 1; }
tree=$(mktemp -d "${TMPDIR:-/tmp}/sva-man-render.XXXXXX") || { echo "Bail out! mktemp failed"; exit 1; }
trap 'rm -rf "$tree"' EXIT
trap 'exit 1' HUP INT TERM

have() { command -v "$1" >/dev/null 2>&1; }

for page in "$mandir"/*.[1-8]; do
	sec=${page##*.}
	[ -e "$tree/man$sec" ] || ln -s "$mandir" "$tree/man$sec"
done

for page in "$mandir"/*.[1-8]; do
	name=${page##*/}
	rel=man${name##*.}/$name
	for width in 80 60; do
		if have man; then
			# MANROFFSEQ empty: the page's own '\" line picks the preprocessors
			warn=$(cd "$tree" && LC_ALL=C.UTF-8 MANROFFSEQ='' MANWIDTH=$width \
				man --warnings -E UTF-8 -l "$rel" 2>&1 >/dev/null | tr '\n' ';')
			[ -z "$warn" ]
			ok $? "$name: man --warnings at $width columns renders it without a warning${warn:+ ($warn)}"
		else
			skip "man(1) is not installed: $name not rendered by man at $width columns"
		fi
	done
	# A table needs tbl, which man runs for a page whose first line asks
	# for it; groff -man alone takes .TS/.TE for no-ops and prints the
	# table's source as text.
	pre=
	head -n 1 "$page" | grep -q "^'\\\\\" .*t" && pre=-t
	if grep -q '^\.TS' "$page"; then
		[ -n "$pre" ]
		ok $? "$name: its tables are announced on the first line ('\\\" t)"
	fi
	if have groff; then
		warn=$(cd "$tree" && groff $pre -ww -man -z "$rel" 2>&1 | tr '\n' ';')
		[ -z "$warn" ]
		ok $? "$name: groff -ww -man -z without a warning${warn:+ ($warn)}"
	else
		skip "groff is not installed: $name not checked by groff -ww"
	fi
done
done_testing
