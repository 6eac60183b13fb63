#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# libsva.so calls its own exported functions inside itself (-Bsymbolic-functions):
# no PLT slot or GOT entry of libsva.so.1 is bound by name to an sva_ symbol.
# Otherwise the first libsva loaded in a process takes over those calls of any
# later copy (a plugin that dlopen()s its own libsva by path), which then runs
# the first copy's code on its own objects: a crash in sva_ctx_free().
# Reads the built library; skipped (with the reason) where there is none.
#
# Run by automake (top_srcdir and top_builddir are set), or by hand:
#   top_srcdir=/path/to/libsva top_builddir=/path/to/build sh tests/unit/test-own-calls.sh

top_srcdir=${top_srcdir:-$(dirname "$0")/../..}
top_builddir=${top_builddir:-.}
. "$top_srcdir/tests/tap.sh"

lib=$top_builddir/libsva/.libs/libsva.so.1
if [ ! -f "$lib" ]; then
	echo "1..0 # SKIP no shared libsva was built here ($lib: configured with --disable-shared?)"
	exit 0
fi
if ! command -v readelf >/dev/null 2>&1; then
	echo "1..0 # SKIP readelf is not installed (binutils)"
	exit 0
fi

relocs=$(readelf -rW "$lib") || { echo "Bail out! readelf -rW $lib failed"; exit 1; }
# Relocation lines name their symbol in the fifth column: "sva_x@@LIBSVA_1.0 + 0".
bound=$(printf '%s\n' "$relocs" | awk '$5 ~ /^sva_/ { print $3 " " $5 }')
[ -z "$bound" ]
ok $? "libsva.so.1 binds no call or address of its own sva_ functions by name"
[ -n "$bound" ] && printf '%s\n' "$bound" | sed 's/^/# /'
exports=$(printf '%s\n' "$relocs" | grep -c 'RELATIVE')
[ "$exports" -gt 0 ]
ok $? "the relocations were read ($exports relative ones)"
done_testing
