#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# The errnos of every function, as include/sva/sva.h and the man pages state
# them, must agree (from the source tree alone; nothing needs to be built):
#   - every errno (-EXXX) the comment above a function's declaration in sva.h
#     names appears as an item of the ERRORS section of its man page;
#   - every item of that ERRORS section is named in the sva.h comment of a
#     function the page documents, or of a function such a comment points to
#     ("the errors of sva_pasid_free()", "errors of sva_mm_prefault()").
# A page that documents several functions (the others are ".so" links to it)
# is checked against the union of their comments.  Declarations that follow
# one another share the comment above the first.  ERRORS items are the tags of
# its .TP paragraphs (".B \-EINVAL", ".BR \-EACCES \", \" \-EPERM"); errnos
# mentioned in running text are not items (test-man-errno-text.sh holds
# those to the items).  One TAP line per page.
#
# Run by automake (top_srcdir is set), or by hand:
#   top_srcdir=/path/to/libsva sh tests/unit/test-man-errors.sh

top_srcdir=${top_srcdir:-$(dirname "$0")/../..}
header=$top_srcdir/include/sva/sva.h
mandir=$top_srcdir/man

if [ ! -r "$header" ] || [ ! -d "$mandir" ]; then
	echo "Bail out! cannot read $header or $mandir (is top_srcdir=$top_srcdir right?)"
	exit 1
fi

. "$top_srcdir/tests/tap.sh"
. "$top_srcdir/tests/unit/man_errors.sh"

# "FUNCTION ERRNO..." for each function declared in the header: the errnos its
# comment names.  "FUNCTION @REF..." lines name the functions whose errors the
# comment includes by reference.
header_errnos() {
	awk '
	function flush_decl(name,   t, s, seg, refs) {
		t = comment
		s = ""
		while (match(t, /-E[A-Z0-9]+/)) {
			s = s " " substr(t, RSTART + 1, RLENGTH - 1)
			t = substr(t, RSTART + RLENGTH)
		}
		print name s
		t = comment
		refs = ""
		while (match(t, /errors of [^;.]*/)) {
			seg = substr(t, RSTART, RLENGTH)
			t = substr(t, RSTART + RLENGTH)
			while (match(seg, /sva_[a-z0-9_]+\(\)/)) {
				refs = refs " @" substr(seg, RSTART, RLENGTH - 2)
				seg = substr(seg, RSTART + RLENGTH)
			}
		}
		if (refs != "")
			print name refs
	}
	{
		line = $0
		if (incomment) {
			text = text " " line
			if (index(line, "*/")) {
				incomment = 0
				comment = text
			}
			next
		}
		if (line ~ /^[ \t]*\/\*/) {
			text = line
			if (index(line, "*/"))
				comment = text
			else
				incomment = 1
			next
		}
		if (line ~ /^[ \t]*$/ || line ~ /^#/ || line ~ /^[ \t]*[{}]/) {
			comment = ""
			next
		}
		if (match(line, /^[a-z][^(]*[ *]sva_[a-z0-9_]+\(/)) {
			decl = substr(line, RSTART, RLENGTH - 1)
			sub(/.*[ *]/, "", decl)
			flush_decl(decl)
		}
	}' "$header"
}

words() {
	for w in "$@"; do
		echo "$w"
	done | sort -u
}

decls=$(header_errnos)
if [ -z "$decls" ]; then
	ok 1 "include/sva/sva.h declares functions"
	done_testing
	exit
fi

# Group the functions by page: "PAGE FUNCTION" lines.
pages=$(echo "$decls" | awk '{ print $1 }' | sort -u | while read -r fn; do
	p=$(page_of "$fn") || {
		echo "MISSING $fn"
		continue
	}
	echo "$p $fn"
done)

missing=$(echo "$pages" | awk '$1 == "MISSING" { print $2 }')
for fn in $missing; do
	ok 1 "$fn: has a man page"
done

for page in $(echo "$pages" | awk '$1 != "MISSING" { print $1 }' | sort -u); do
	fns=$(echo "$pages" | awk -v p="$page" '$1 == p { print $2 }')
	named=
	refs=
	for fn in $fns; do
		named="$named $(echo "$decls" | awk -v f="$fn" '$1 == f { for (i = 2; i <= NF; i++) if ($i !~ /^@/) print $i }')"
		refs="$refs $(echo "$decls" | awk -v f="$fn" '$1 == f { for (i = 2; i <= NF; i++) if ($i ~ /^@/) print substr($i, 2) }')"
	done
	allowed=$named
	for r in $refs; do
		allowed="$allowed $(echo "$decls" | awk -v f="$r" '$1 == f { for (i = 2; i <= NF; i++) if ($i !~ /^@/) print $i }')"
	done
	named=$(words $named)
	allowed=$(words $allowed)
	listed=$(page_errnos "$page")
	# In the header, not in the page; in the page, not in the header.
	absent=$(echo "$named" | grep -vxF -e "$listed" -e '' | tr '\n' ' ')
	extra=$(echo "$listed" | grep -vxF -e "$allowed" -e '' | tr '\n' ' ')
	rel=man/${page##*/}
	fnlist=$(echo $fns | sed 's/ /, /g')
	if [ -z "$absent" ] && [ -z "$extra" ]; then
		ok 0 "$rel: ERRORS match sva.h ($fnlist)"
	else
		ok 1 "$rel: ERRORS match sva.h ($fnlist)"
		[ -z "$absent" ] || diag "named in sva.h, not an item of ERRORS in $rel: $absent"
		[ -z "$extra" ] || diag "an item of ERRORS in $rel, not named in sva.h: $extra"
	fi
done

done_testing
