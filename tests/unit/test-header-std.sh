#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# The public header as strict users compile it: every C standard libsva
# supports (C99 on), pedantic errors and the usual warnings as errors, and
# C++ (the header has extern "C" for it).  A header that needs GNU C or a
# relaxed standard breaks their builds, not ours: nothing else here would see it.
#
# Run by automake (SVA_TEST_CC is the configured compiler), or by hand:
#   top_srcdir=/path/to/libsva sh tests/unit/test-header-std.sh

top_srcdir=${top_srcdir:-$(dirname "$0")/../..}
cc=${SVA_TEST_CC:-${CC:-cc}}
cxx=${CXX:-c++}

. "$top_srcdir/tests/tap.sh"

tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT

# Uses a little of everything, so the declarations are not only parsed.
cat > "$tmp/use.c" <<'EOC'
#include <sva/sva.h>
int use(void);
int use(void)
{
	uint32_t t = SVA_IOMMU_SELFTEST;

	return sva_iommu_type_name(t) != 0 && sva_log_level_name(SVA_LOG_OFF) != 0 &&
	       sizeof(struct sva_dev_info) > sizeof(struct sva_mm_opts);
}
EOC
cp "$tmp/use.c" "$tmp/use.cc"

warn="-Wall -Wextra -Werror -Wstrict-prototypes -Wmissing-prototypes -Wshadow -Wundef"
for std in c99 c11 c17; do
	# $cc unquoted: CC may be "ccache gcc" or "gcc -m32".
	if $cc -std=$std -pedantic-errors $warn -I"$top_srcdir/include" -c "$tmp/use.c" -o "$tmp/use.o" \
		> "$tmp/log" 2>&1; then
		ok 0 "sva.h compiles with $cc -std=$std -pedantic-errors $warn"
	else
		ok 1 "sva.h compiles with $cc -std=$std -pedantic-errors $warn"
		diag_file "$tmp/log"
	fi
done

if command -v ${cxx%% *} > /dev/null 2>&1; then
	if $cxx -std=c++11 -pedantic-errors -Wall -Wextra -Werror -I"$top_srcdir/include" -c "$tmp/use.cc" \
		-o "$tmp/use.o" > "$tmp/log" 2>&1; then
		ok 0 "sva.h compiles with $cxx -std=c++11 -pedantic-errors"
	else
		ok 1 "sva.h compiles with $cxx -std=c++11 -pedantic-errors"
		diag_file "$tmp/log"
	fi
	# extern "C": the C++ object refers to the C names.
	nm "$tmp/use.o" 2>/dev/null | grep -q ' U sva_iommu_type_name$'
	ok $? "C++ callers link against the C symbols (extern \"C\")"
	# libsva(7), Versions: the C++ idiom for the three *_stats structures
	# compiles with the warnings a strict user turns into errors.
	cat > "$tmp/stats.cc" <<'EOC'
#include <sva/sva.h>
int stats(const struct sva_pasid_space *sp, const struct sva_mm *mm, const struct sva_bond *b);
int stats(const struct sva_pasid_space *sp, const struct sva_mm *mm, const struct sva_bond *b)
{
	struct sva_pasid_stats ps{}; ps.size = sizeof(ps);
	struct sva_mm_stats st{}; st.size = sizeof(st);
	struct sva_bond_stats bs{}; bs.size = sizeof(bs);

	return sva_pasid_stats(sp, &ps) + sva_mm_stats(mm, &st) + sva_bond_stats(b, &bs);
}
EOC
	if $cxx -std=c++11 -pedantic-errors -Wall -Wextra -Werror -I"$top_srcdir/include" -c "$tmp/stats.cc" \
		-o "$tmp/stats.o" > "$tmp/log" 2>&1; then
		ok 0 "libsva(7)'s C++ idiom for the *_stats structures compiles with -Wall -Wextra -Werror"
	else
		ok 1 "libsva(7)'s C++ idiom for the *_stats structures compiles with -Wall -Wextra -Werror"
		diag_file "$tmp/log"
	fi
else
	skip "no C++ compiler ($cxx) here"
	skip "no C++ compiler ($cxx) here"
	skip "no C++ compiler ($cxx) here"
fi

done_testing
