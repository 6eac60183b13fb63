# SPDX-License-Identifier: LGPL-2.1-or-later
# What the man page errno checks (test-man-errors.sh, test-man-errno-text.sh)
# both read of a page, so that the two agree on what an ERRORS item is and on
# which page documents a function.  Sourced, not run, once $mandir is set.

# The page that documents FUNCTION: man/FUNCTION.3, or the page it links to
# with ".so"; fails when there is no man/FUNCTION.3.
page_of() {
	p=$mandir/$1.3
	[ -f "$p" ] || return 1
	target=$(sed -n '/^\.\\"/d; /^\.so[ \t]/{ s/^\.so[ \t]*//; s/[ \t]*$//; p; }; q' "$p")
	[ -z "$target" ] || p=$mandir/${target##*/}
	echo "$p"
}

# The errnos that are items of a page's ERRORS section, one a line: the tags
# of its .TP paragraphs (".B \-EINVAL", ".BR \-EACCES \", \" \-EPERM").
page_errnos() {
	awk '
	/^\.SH[ \t]/ {
		inerr = ($2 == "ERRORS" || $2 == "\"ERRORS\"")
		tag = 0
		next
	}
	!inerr { next }
	/^\.TP/ { tag = 1; next }
	tag {
		tag = 0
		t = $0
		while (match(t, /\\-E[A-Z0-9]+/)) {
			print substr(t, RSTART + 2, RLENGTH - 2)
			t = substr(t, RSTART + RLENGTH)
		}
	}' "$1" | sort -u
}
