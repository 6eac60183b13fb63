#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# libsva allocates its objects from its arena only (libsva/arena.c), never from
# the heap, where they could end up inside a device's reach: no library source
# but arena.c calls malloc(), calloc(), realloc(), free(), strdup() or
# aligned_alloc(), nor mmap()s memory of its own outside mem.c (the allocator
# for the application's buffers) and track.c/arena.c.  From the source tree
# alone.  One TAP line per file.
#
# Run by automake (top_srcdir is set), or by hand:
#   top_srcdir=/path/to/libsva sh tests/unit/test-arena-only.sh

top_srcdir=${top_srcdir:-$(dirname "$0")/../..}
. "$top_srcdir/tests/tap.sh"

for f in "$top_srcdir"/libsva/*.c; do
	name=${f##*/}
	[ "$name" = arena.c ] && continue
	# Calls, not words in comments: the name, then "(" and not ")".
	bad=$(grep -nE '(^|[^A-Za-z0-9_.>])(malloc|calloc|realloc|free|strdup|aligned_alloc)\([^)]' "$f" |
		grep -vE '^[0-9]+:[[:space:]]*(/?\*|//)')
	case $name in
	mem.c|track.c) ;;
	*) bad="$bad$(grep -nE '(^|[^A-Za-z0-9_])mmap\(' "$f" | grep -vE '^[0-9]+:[[:space:]]*(/?\*|//)')" ;;
	esac
	[ -z "$bad" ]
	ok $? "$name allocates from the arena only"
	[ -n "$bad" ] && printf '%s\n' "$bad" | sed 's/^/# /'
done
done_testing
