#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# Man page coverage, from the source tree alone (nothing needs to be built):
#   - every symbol of the global sections of libsva/libsva.map has
#     man/SYMBOL.3, whose NAME section (or, for a ".so" link, the NAME section
#     of the page it points to) names the symbol;
#   - libsva(7), the overview, names every such symbol in its own text (a
#     name only the pages it cites give leaves the reader of the overview
#     with no way to find the call);
#   - every program of bin_PROGRAMS in tools/local.mk has man/PROGRAM.1;
#   - every page in man/ is listed in dist_man_MANS of man/local.mk or another
#     man/*.mk fragment, so it is installed and distributed;
#   - every page listed there exists, and every man/*.mk fragment is included
#     from man/local.mk;
#   - every name of a page's NAME section is one word: man-db's lexgrog, which
#     indexes the pages for whatis(1), apropos(1) and man(1), drops a name
#     such as "struct sva_ctx_opts", so `man sva_ctx_opts` found nothing.
# One TAP line per symbol, per tool and per page, and one for the listing.
#
# Run by automake (top_srcdir is set), or by hand:
#   top_srcdir=/path/to/libsva sh tests/unit/test-man-coverage.sh

top_srcdir=${top_srcdir:-$(dirname "$0")/../..}
map=$top_srcdir/libsva/libsva.map
tools_mk=$top_srcdir/tools/local.mk
mandir=$top_srcdir/man

for f in "$map" "$tools_mk" "$mandir/local.mk"; do
	if [ ! -r "$f" ]; then
		echo "Bail out! cannot read $f (is top_srcdir=$top_srcdir right?)"
		exit 1
	fi
done

. "${top_srcdir:-$(dirname "$0")/../..}/tests/tap.sh"

# The names in the global sections of a version script, one a line.  Comments
# (/* */, possibly over several lines, and #) are dropped; names before any
# "global:" or "local:" in a node are global, as for ld.
map_globals() {
	awk '
	{
		line = $0
		out = ""
		while (line != "") {
			if (incomment) {
				i = index(line, "*/")
				if (!i)
					line = ""
				else {
					line = substr(line, i + 2)
					incomment = 0
				}
			} else {
				i = index(line, "/*")
				if (!i) {
					out = out line
					line = ""
				} else {
					out = out substr(line, 1, i - 1) " "
					line = substr(line, i + 2)
					incomment = 1
				}
			}
		}
		sub(/#.*/, "", out)
		gsub(/[;{}:]/, " & ", out)
		n = split(out, tok, /[ \t]+/)
		for (k = 1; k <= n; k++) {
			t = tok[k]
			if (t == "" || t == ";")
				continue
			if (t == "{") {
				section = "global"
				continue
			}
			if (t == "}") {
				section = ""
				continue
			}
			if ((t == "global" || t == "local") && tok[k + 1] == ":") {
				section = t
				k++
				continue
			}
			if (section == "global")
				print t
		}
	}' "$1"
}

# The words assigned to make variable $1 (with = or +=, over continuation
# lines) in the files $2..., one a line.
mk_words() {
	var=$1
	shift
	awk -v var="$var" '
	{
		line = $0
		if (!collecting) {
			if (line !~ "^[ \t]*" var "[ \t]*[+]?=")
				next
			sub(/^[^=]*=/, "", line)
			collecting = 1
		}
		sub(/#.*/, "", line)
		cont = sub(/\\[ \t]*$/, "", line)
		n = split(line, w, /[ \t]+/)
		for (k = 1; k <= n; k++)
			if (w[k] != "")
				print w[k]
		if (!cont)
			collecting = 0
	}' "$@"
}

# The NAME section of a man page, on one line, with the escapes \- (minus),
# \% and \& (no output) resolved.
name_section() {
	awk '
	/^\.SH[ \t]/ {
		if (inname)
			exit
		if ($2 == "NAME" || $2 == "\"NAME\"")
			inname = 1
		next
	}
	inname && !/^\.\\"/ {
		line = $0
		gsub(/\\-/, "-", line)
		gsub(/\\[%&]/, "", line)
		printf "%s ", line
	}' "$1"
}

# check_page PAGE NAME: 0 if PAGE exists, and NAME is in its NAME section or in
# that of the page a ".so" link points to; otherwise 1, with the reason in $why.
check_page() {
	page=$1
	why=
	if [ ! -f "$page" ]; then
		why="${page#"$top_srcdir"/} does not exist"
		return 1
	fi
	target=$(sed -n '/^\.\\"/d; /^\.so[ \t]/{ s/^\.so[ \t]*//; s/[ \t]*$//; p; }; q' "$page")
	if [ -n "$target" ]; then
		resolved=$mandir/${target##*/}
		if [ ! -f "$resolved" ]; then
			why="${page#"$top_srcdir"/} is a link to $target, which does not exist"
			return 1
		fi
		page=$resolved
	fi
	if ! name_section "$page" | grep -Eq "(^|[^A-Za-z0-9_-])$2([^A-Za-z0-9_-]|\$)"; then
		why="the NAME section of ${page#"$top_srcdir"/} does not name $2"
		return 1
	fi
	return 0
}

set -f # symbol patterns such as "sva_*" must not be globbed

# 1. Every exported symbol has a section 3 page.
symbols=$(map_globals "$map")
if [ -z "$symbols" ]; then
	ok 1 "libsva/libsva.map has global symbols"
fi
for sym in $symbols; do
	case $sym in
	*[*?[]*)
		count=$((count + 1))
		echo "ok $count - $sym # SKIP a pattern, not a symbol name"
		continue
		;;
	esac
	if check_page "$mandir/$sym.3" "$sym"; then
		ok 0 "symbol $sym: man/$sym.3"
	else
		ok 1 "symbol $sym: man/$sym.3"
		diag "$why"
	fi
	# Not in a comment line: the reader must see it.
	if sed '/^\.\\"/d' "$mandir/libsva.7" | grep -Eq "(^|[^A-Za-z0-9_])$sym([^A-Za-z0-9_]|\$)"; then
		ok 0 "symbol $sym: named in libsva(7)"
	else
		ok 1 "symbol $sym: named in libsva(7)"
		diag "man/libsva.7 does not name $sym (cite it in its overview or SEE ALSO)"
	fi
done

# 2. Every installed program has a section 1 page.
tools=$(mk_words bin_PROGRAMS "$tools_mk")
if [ -z "$tools" ]; then
	ok 1 "tools/local.mk has bin_PROGRAMS"
fi
for prog in $tools; do
	tool=${prog##*/}
	if check_page "$mandir/$tool.1" "$tool"; then
		ok 0 "tool $tool: man/$tool.1"
	else
		ok 1 "tool $tool: man/$tool.1"
		diag "$why"
	fi
done

# 3. Every page is installed, and everything installed exists.
set +f
listed=$(mk_words dist_man_MANS "$mandir"/*.mk)
for page in "$mandir"/*.[1-9]; do
	[ -f "$page" ] || continue
	rel=man/${page##*/}
	found=1
	for l in $listed; do
		if [ "$l" = "$rel" ]; then
			found=0
			break
		fi
	done
	ok $found "page $rel is in dist_man_MANS (man/local.mk or man/*.mk)"
done
for frag in "$mandir"/*.mk; do
	name=${frag##*/}
	[ "$name" = local.mk ] && continue
	if grep -Eq '^[[:blank:]]*-?include[[:blank:]]+([$][(](top_)?srcdir[)]/)?man/'"$name"'[[:blank:]]*$' "$mandir/local.mk"; then
		ok 0 "man/$name is included from man/local.mk"
	else
		ok 1 "man/$name is included from man/local.mk"
		diag "add 'include man/$name' to man/local.mk, or its pages are not installed"
	fi
done
missing=
for l in $listed; do
	case $l in
	man/*) [ -f "$top_srcdir/$l" ] || missing="$missing $l" ;;
	esac
done
if [ -z "$missing" ]; then
	ok 0 "every page in dist_man_MANS exists"
else
	ok 1 "every page in dist_man_MANS exists"
	diag "listed but missing:$missing"
fi

# 4. Every name in a NAME section is one word, as mandb indexes it.
for page in "$mandir"/*.[1-9]; do
	[ -f "$page" ] || continue
	# a ".so" link has no NAME section of its own
	[ -z "$(sed -n '/^\.\\"/d; /^\.so[ \t]/{ p; }; q' "$page")" ] || continue
	names=$(name_section "$page" | sed 's/ - .*//')
	bad=$(echo "$names" | tr ',' '\n' | sed 's/^[[:blank:]]*//; s/[[:blank:]]*$//' | grep '[[:blank:]]' | tr '\n' ';')
	[ -n "$names" ] && [ -z "$bad" ]
	ok $? "${page#"$top_srcdir"/}: every name of its NAME section is one word${bad:+ (not: $bad)}"
done

done_testing
