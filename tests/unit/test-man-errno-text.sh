#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# A reader trusts every errno a man page's running text names as a return.
# An errno written with its minus ("\-EXXX") in a sentence of a page's text
# (any section but NAME, SYNOPSIS, EXAMPLES and SEE ALSO; the bodies of
# ERRORS items included, their tags being the items) must be an item of the
# ERRORS section (which test-man-errors.sh ties to sva.h):
#   - of this page, or
#   - of the page of a function the same sentence names, as sva_x() or
#     sva_x(3) ("sva_unbind(3) returns \-EINVAL" on sva_bind(3) is
#     sva_unbind(3)'s item to keep).
# An errno written without the minus ("the kernel says EPERM") is a value
# the text quotes, not a return, and is not checked.  Two marks in the page
# source, roff comments that do not render, cover a region the rule above
# cannot read (a list whose items do not repeat the function, an errno
# quoted as no single call's return):
#   .\" errno-text: of: sva_x() sva_y()
#       the region's errnos are returns of these functions: each must be an
#       item of one of their pages' ERRORS (a list under "sva_mm_new(3)
#       fails:", libsva(7)'s summaries of many calls);
#   .\" errno-text: quoted: WHY
#       the region quotes errnos that are no return of a call it could name:
#       a fault's reason in its report, a field's value, the kernel's own,
#       errnos the call never returns, the broker's errors that every call
#       of a broker context may return (listed once, in libsva(7), and
#       referred to by each page); WHY says which, and the text itself must
#       say it too (the reader sees no comment);
#   .\" errno-text: end
#       ends either region, which may not cross a section heading.
# One TAP line per page; a mark without its argument, a region left open or
# one without an errno left (a stale mark) fails it too.
#
# Run by automake (top_srcdir is set), or by hand:
#   top_srcdir=/path/to/libsva sh tests/unit/test-man-errno-text.sh
set -u

top_srcdir=${top_srcdir:-$(dirname "$0")/../..}
. "$top_srcdir/tests/tap.sh"
mandir=$top_srcdir/man
[ -d "$mandir" ] || { echo "Bail out! no man/ in $top_srcdir"; exit 1; }
. "$top_srcdir/tests/unit/man_errors.sh"

# The sentences of a page's running text that name an errno with its minus,
# one a line, with the ERRORS item tags and the sections above left out.
# Roff macros and font escapes go, a paragraph's lines are joined, and a
# sentence ends at ". ", at the end of a paragraph, or at a code block.
sentences() {
	awk '
	function out(   s, n, i, parts) {
		if (para == "")
			return
		s = para
		para = ""
		gsub(/\\f[BIRP]|\\f\(CW|\\&|\\\(em|\\\(en/, "", s)
		gsub(/\\-/, "-", s)
		gsub(/\\ /, " ", s)
		gsub(/[ \t]+/, " ", s)
		n = split(s, parts, /\. /)
		for (i = 1; i <= n; i++)
			if (parts[i] ~ /-E[A-Z0-9][A-Z0-9]/) {
				inregion++
				if (!quoted)
					print (of == "" ? "" : of " | ") parts[i]
			}
	}
	/^\.SH[ \t]/ {
		out()
		if (quoted || of != "")
			print "UNCLOSED " NR
		quoted = 0
		of = ""
		sec = $2
		gsub(/"/, "", sec)
		skip = (sec == "NAME" || sec == "SYNOPSIS" || sec == "EXAMPLES" || sec == "EXAMPLE" || sec == "SEE")
		inerr = (sec == "ERRORS")
		tag = 0
		next
	}
	skip { next }
	/^\.(EX|nf)/ { out(); code = 1; next }
	/^\.(EE|fi)/ { code = 0; next }
	code { next }
	/^\.TP/ { out(); tag = inerr; next }
	tag { tag = 0; next }
	/^\.(PP|P|LP|IP|SS|RS|RE|in|sp|br)([ \t]|$)/ { out(); next }
	/^\.\\"[ \t]*errno-text: (quoted|of):/ { out(); inregion = 0; begun = NR }
	/^\.\\"[ \t]*errno-text: quoted: [^ \t]/ { quoted = 1; next }
	/^\.\\"[ \t]*errno-text: quoted/ { print "BADMARK " NR; next }
	/^\.\\"[ \t]*errno-text: of: sva_[a-z0-9_]+\(\)/ {
		of = $0
		sub(/^\.\\"[ \t]*errno-text: of:[ \t]*/, "", of)
		next
	}
	/^\.\\"[ \t]*errno-text: of/ { print "BADMARK " NR; next }
	/^\.\\"[ \t]*errno-text: end/ {
		out()
		if (!quoted && of == "")
			print "STRAY " NR
		else if (!inregion)
			print "EMPTY " begun
		quoted = 0
		of = ""
		next
	}
	/^\.\\"/ { next }
	/^\.[A-Za-z]+/ {
		line = $0
		sub(/^\.[A-Za-z]+[ \t]*/, "", line)
		gsub(/"/, "", line)
		para = para " " line
		next
	}
	{ para = para " " $0 }
	END { out(); if (quoted || of != "") print "UNCLOSED " NR }' "$1"
}

for page in "$mandir"/sva_*.3 "$mandir"/libsva.7; do
	# A ".so" page is its target, checked under its own name.
	if sed -n '/^\.\\"/d; p; q' "$page" | grep -q '^\.so'; then
		continue
	fi
	base=${page##*/}
	own=$(page_errnos "$page")
	bad=
	tmp=$(sentences "$page")
	while IFS= read -r s; do
		[ -n "$s" ] || continue
		case $s in
		BADMARK\ *) bad="$bad
line ${s#BADMARK }: an errno-text mark without its functions or reason"; continue ;;
		UNCLOSED\ *) bad="$bad
line ${s#UNCLOSED }: an errno-text region still open here"; continue ;;
		STRAY\ *) bad="$bad
line ${s#STRAY }: an errno-text: end outside a region"; continue ;;
		EMPTY\ *) bad="$bad
line ${s#EMPTY }: an errno-text region that quotes no errno (a stale mark)"; continue ;;
		esac
		# The pages of the functions this sentence names.
		others=
		for fn in $(printf '%s\n' "$s" | grep -oE 'sva_[a-z0-9_]+ ?\((3)?\)' | sed 's/[ (].*//' | sort -u); do
			p=$(page_of "$fn") && others="$others $p"
		done
		for e in $(printf '%s\n' "$s" | grep -o -- '-E[A-Z0-9][A-Z0-9]*' | cut -c2- | sort -u); do
			printf '%s\n' "$own" | grep -qxF "$e" && continue
			found=0
			for p in $others; do
				if page_errnos "$p" | grep -qxF "$e"; then
					found=1
					break
				fi
			done
			[ $found = 1 ] && continue
			bad="$bad
$e: $s"
		done
	done <<EOF
$tmp
EOF
	if [ -z "$bad" ]; then
		ok 0 "man/$base: every errno of the running text is an ERRORS item"
	else
		ok 1 "man/$base: every errno of the running text is an ERRORS item"
		diag "an errno of the running text of man/$base that is not an item of its ERRORS (nor of a function the sentence names):"
		printf '%s\n' "$bad" | sed '/^$/d' | cut -c1-400 | diag_file
	fi
done

done_testing
