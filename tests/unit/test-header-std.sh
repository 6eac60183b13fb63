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

# sva.h: "No public struct has padding at its end ...: a `reserved` field
# holds that room."  Each struct's last field ends at its sizeof.
cat > "$tmp/tail.c" <<'EOC'
#include <stddef.h>
#include <sva/sva.h>
#define NO_TAIL_PADDING(t, last) \
	_Static_assert(sizeof(struct t) == offsetof(struct t, last) + sizeof(((struct t *)0)->last), \
		       #t " has padding after " #last)
NO_TAIL_PADDING(sva_ctx_opts, broker_path);
NO_TAIL_PADDING(sva_dev_info, reserved);
NO_TAIL_PADDING(sva_iova_range, last);
NO_TAIL_PADDING(sva_mock_opts, reserved);
NO_TAIL_PADDING(sva_pasid_space_opts, grace_ns);
NO_TAIL_PADDING(sva_pasid_stats, free);
NO_TAIL_PADDING(sva_mm_opts, pin_budget);
NO_TAIL_PADDING(sva_mm_stats, refaults);
NO_TAIL_PADDING(sva_fault_report, reserved);
NO_TAIL_PADDING(sva_bond_stats, pages_mapped);
NO_TAIL_PADDING(sva_bond_ops, fault_error);
NO_TAIL_PADDING(sva_bind_opts, reserved);
NO_TAIL_PADDING(sva_mem_opts, mm);
#if defined(__x86_64__) && defined(__LP64__)
/* The reserved fields of these two took what was tail padding on x86-64:
 * no size or offset moved there. */
_Static_assert(sizeof(struct sva_fault_report) == 40 && offsetof(struct sva_fault_report, reserved) == 36,
	       "sva_fault_report layout");
_Static_assert(sizeof(struct sva_dev_info) == 120 && offsetof(struct sva_dev_info, reserved) == 116,
	       "sva_dev_info layout");
#endif
EOC
if $cc -std=c11 -I"$top_srcdir/include" -c "$tmp/tail.c" -o "$tmp/tail.o" > "$tmp/log" 2>&1; then
	ok 0 "no public struct has padding at its end"
else
	ok 1 "no public struct has padding at its end"
	diag_file "$tmp/log"
fi
# Every public struct is in that list.
missing=$(sed -n 's/^struct \(sva_[a-z0-9_]*\) {.*/\1/p' "$top_srcdir/include/sva/sva.h" |
	while read -r t; do grep -q "^NO_TAIL_PADDING($t," "$tmp/tail.c" || echo "$t"; done)
[ -z "$missing" ]
ok $? "the tail-padding check lists every public struct${missing:+ (missing: $missing)}"

# cxx_compiles FILE.cc WHAT: one result, FILE.o made, the compiler's words on failure.
cxx_compiles() {
	if $cxx -std=c++11 -pedantic-errors -Wall -Wextra -Werror -I"$top_srcdir/include" -c "$1" \
		-o "${1%.cc}.o" > "$tmp/log" 2>&1; then
		ok 0 "$2"
	else
		ok 1 "$2"
		diag_file "$tmp/log"
	fi
}

if command -v ${cxx%% *} > /dev/null 2>&1; then
	cxx_compiles "$tmp/use.cc" "sva.h compiles with $cxx -std=c++11 -pedantic-errors"
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
	cxx_compiles "$tmp/stats.cc" "libsva(7)'s C++ idiom for the *_stats structures compiles with -Wall -Wextra -Werror"
else
	skip "no C++ compiler ($cxx) here"
	skip "no C++ compiler ($cxx) here"
	skip "no C++ compiler ($cxx) here"
fi

done_testing
