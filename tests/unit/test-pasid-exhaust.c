/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Exhaustion and recovery at the full 20-bit width: every one of the 2^20-1
 * PASIDs is handed out exactly once, in order; then -ENOSPC; a full cycle of
 * free/release/barrier gives every one back, in release order.
 */
#include <errno.h>
#include <stdlib.h>

#include "pasid_space.h"
#include "../tap.h"

static void *tag(uint32_t v)
{
	return (void *)((uintptr_t)v * 8 + 8);
}

static void full_cycle(uint32_t flags, uint32_t min)
{
	struct sva_pasid_space_opts o = { .size = sizeof(o), .flags = flags, .min = min, .max = SVA_PASID_MAX,
					  .grace_ns = UINT64_MAX };
	const uint32_t n = SVA_PASID_MAX - min + 1;
	const char *name = flags ? "[0, 2^20-1]" : "[1, 2^20-1]";
	struct sva_pasid_stats st = { .size = sizeof(st) };
	struct sva_pasid_space *s;
	uint32_t p, i, bad = 0, bad_lookup = 0;
	void *d;

	if (!ok(sva_pasid_space_new(&o, &s) == 0, "%s: space created", name))
		return;
	for (i = 0; i < n; i++)
		if (sva_pasid_alloc(s, tag(min + i), &p) || p != min + i)
			bad++;
	is_int(bad, 0, "%s: %u allocations, each the next value in order", name, n);
	is_int(sva_pasid_alloc(s, NULL, &p), -ENOSPC, "%s: then -ENOSPC", name);
	sva_pasid_stats(s, &st);
	ok(st.allocated == n && st.free == 0 && st.quarantined == 0, "%s: stats %llu/0/0", name,
	   (unsigned long long)n);
	for (i = 0; i < n; i += 4099)
		if (sva_pasid_lookup(s, min + i, &d) || d != tag(min + i))
			bad_lookup++;
	if (sva_pasid_lookup(s, SVA_PASID_MAX, &d) || d != tag(SVA_PASID_MAX))
		bad_lookup++;
	is_int(bad_lookup, 0, "%s: lookups across the table (every chunk, and the last value) find drvdata", name);

	/* Free in decreasing order, release in increasing: reuse follows release. */
	bad = 0;
	for (i = n; i-- > 0;)
		if (sva_pasid_free(s, min + i))
			bad++;
	is_int(bad, 0, "%s: freeing all succeeds", name);
	sva_pasid_stats(s, &st);
	ok(st.allocated == 0 && st.quarantined == n && st.free == 0, "%s: all %u quarantined", name, n);
	is_int(sva_pasid_alloc(s, NULL, &p), -ENOSPC, "%s: nothing allocatable while quarantined", name);
	is_int(sva_pasid_lookup(s, min + n / 2, &d), -ENOENT, "%s: lookup of a freed PASID fails", name);
	bad = 0;
	for (i = 0; i < n; i++)
		if (sva_pasid_release(s, min + i))
			bad++;
	is_int(bad, 0, "%s: releasing all succeeds", name);
	is_int(sva_pasid_barrier(s), (int)n, "%s: barrier returns all to the pool", name);
	sva_pasid_stats(s, &st);
	ok(st.allocated == 0 && st.quarantined == 0 && st.free == n, "%s: all %u free", name, n);

	bad = 0;
	for (i = 0; i < n; i++)
		if (sva_pasid_alloc(s, NULL, &p) || p != min + i)
			bad++;
	is_int(bad, 0, "%s: recovery: all %u again, in release order", name, n);
	is_int(sva_pasid_alloc(s, NULL, &p), -ENOSPC, "%s: and -ENOSPC again", name);
	sva_pasid_space_free(s);
}

int main(void)
{
	full_cycle(0, 1);
	full_cycle(SVA_PASID_ALLOW_ZERO, 0);
	return done_testing();
}
