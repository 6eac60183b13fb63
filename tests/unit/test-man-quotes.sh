#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# No man page writes a double quote in the middle of a word of a macro line
# (.B, .BR, .I, .IR, .RB, ...): there it is a literal quote, but a later word
# that starts with one opens a quoted argument and its quotes vanish from the
# rendered page, so {"a": "b"} showed as {"a":b} and sva-bench(1) printed its
# JSON members unquoted.  Such text is written as a quoted argument with
# \(dq for each quote.  A quoted argument is closed on its line, too (a
# missing closing quote swallows the rest of the line into the argument).
# One TAP line per page.  Hermetic: the source tree only.
#
# Run by automake (top_srcdir is set), or by hand:
#   top_srcdir=/path/to/libsva sh tests/unit/test-man-quotes.sh
set -u

top_srcdir=${top_srcdir:-$(dirname "$0")/../..}
. "$top_srcdir/tests/tap.sh"

for page in "$top_srcdir"/man/*.[1-8]; do
	bad=$(awk '
	/^\.(B|I|BR|RB|BI|IB|IR|RI|SM|SB|TP|IP|SH|SS)([ \t]|$)/ {
		rest = $0
		sub(/^\.[A-Z]+[ \t]*/, "", rest)
		while (rest != "") {
			sub(/^[ \t]+/, "", rest)
			if (rest == "")
				break
			if (substr(rest, 1, 1) == "\"") {
				# a quoted argument: "" inside is a quote; it ends at a lone "
				i = 2
				while (i <= length(rest)) {
					if (substr(rest, i, 2) == "\"\"") { i += 2; continue }
					if (substr(rest, i, 1) == "\"") break
					i++
				}
				# no closing quote: the argument runs to the end of
				# the line, and what follows it (say, a period meant
				# as another argument) is taken into it
				if (i > length(rest)) {
					print FILENAME ":" FNR ": " $0
					break
				}
				rest = substr(rest, i + 1)
				continue
			}
			match(rest, /^[^ \t]+/)
			word = substr(rest, 1, RLENGTH)
			rest = substr(rest, RLENGTH + 1)
			if (index(word, "\"") > 0) {
				print FILENAME ":" FNR ": " $0
				break
			}
		}
	}' "$page" | sed "s|^$top_srcdir/||" | tr '\n' ';')
	[ -z "$bad" ]
	ok $? "$(basename "$page"): no literal double quote inside a word of a macro line, no unclosed quoted argument${bad:+ ($bad)}"
done
done_testing
