#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# Every tool's --help and its man page name the same options, short and long:
#   - every option the page's SYNOPSIS names, or an OPTIONS entry's tag line
#     (the line after .TP), is in --help;
#   - every option --help names has an OPTIONS entry in the page.
# An option is a word that starts with - or -- at the start of a word (after a
# blank, '[', '|', ',', '"' or '('), up to a '=', a blank or a punctuation mark.
# One TAP line per tool and direction, naming what is missing; and one that
# a usage error's line starts with the tool's name.
#
# Run by automake (top_srcdir and top_builddir are set), or by hand:
#   top_srcdir=/path/to/libsva top_builddir=/path/to/build sh tests/unit/test-man-options.sh
# SVA_TOOLS_DIR=DIR takes the tools from DIR instead of top_builddir/tools.

top_srcdir=${top_srcdir:-$(dirname "$0")/../..}
tools=${SVA_TOOLS_DIR:-${top_builddir:-.}/tools}
. "$top_srcdir/tests/tap.sh"

# options: the options named in standard input, one a line, sorted, unique.
options() {
	sed -e 's/\\-/-/g' -e 's/\\f[BIRP]//g' -e 's/\\(..//g' |
		grep -oE '(^|[][ |,"(])--?[A-Za-z0-9][A-Za-z0-9-]*' |
		sed 's/^[^-]//' | sort -u
}

# section PAGE NAME: the lines of the page's section NAME, without its .SH line.
section() {
	sed -n "/^\\.SH $2\$/,/^\\.SH /{/^\\.SH /d;p;}" "$1"
}

# tags PAGE: the tag lines of the OPTIONS section (each line after a .TP).
tags() {
	section "$1" OPTIONS | awk 'tp { print } { tp = ($0 == ".TP") }'
}

for entry in sva-info:1 sva-demo:1 sva-bench:1 sva-brokerd:8; do
	tool=${entry%%:*}
	page=$top_srcdir/man/$tool.${entry#*:}
	if [ ! -x "$tools/$tool" ] || [ ! -r "$page" ]; then
		skip "$tool: $tools/$tool not built or $page not readable"
		skip "(same)"
		skip "(same)"
		continue
	fi
	help=$("$tools/$tool" --help 2>/dev/null | options)
	documented=$(tags "$page" | options)
	named=$( (section "$page" SYNOPSIS; tags "$page") | options)
	if [ -z "$help" ] || [ -z "$documented" ]; then
		ok 1 "$tool: options found in --help ($help) and in $tool(${entry#*:}) OPTIONS ($documented)"
		skip "(same)"
		skip "(same)"
		continue
	fi
	missing=$(printf '%s\n' "$named" | while read -r o; do
		printf '%s\n' "$help" | grep -qxF -- "$o" || printf '%s ' "$o"
	done)
	[ -z "$missing" ]
	ok $? "$tool --help names every option of $tool(${entry#*:}) SYNOPSIS and OPTIONS${missing:+ (missing: $missing)}"
	missing=$(printf '%s\n' "$help" | while read -r o; do
		printf '%s\n' "$documented" | grep -qxF -- "$o" || printf '%s ' "$o"
	done)
	[ -z "$missing" ]
	ok $? "$tool(${entry#*:}) OPTIONS documents every option of $tool --help${missing:+ (missing: $missing)}"
	# A usage error names the tool, not the path it ran from (getopt's
	# messages named argv[0]: a libtool wrapper's .libs/ path in a build tree).
	line=$("$tools/$tool" --frobnicate 2>&1 >/dev/null | head -n 1)
	case $line in "$tool: "*) true ;; *) false ;; esac
	ok $? "$tool --frobnicate: the line starts with '$tool: ' (got: $line)"
done
done_testing
