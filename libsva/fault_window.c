/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Adaptive fault-around.  A fixed window makes every fault pay for pages the
 * device may never touch: on random single-page faults a 64 KiB window maps
 * and pins 16 pages for one.  A device streaming through a buffer wants the
 * opposite, ever larger windows.  So the window follows the stream: it doubles
 * while faults arrive in order (the kernel's readahead ramp, with the same
 * "just past the last window" test) and halves on every fault that does not
 * (the kernel stops mmap read-around after many misses; halving gets to one
 * page within four random faults from 64 KiB, and back up as fast).
 */
#include "fault_window.h"

#define PAGE 4096ull
#define HUGE (2ull << 20)
#define SVA_FA_BRIDGE (32ull << 10)

/* The largest power of two <= len, at least a page. */
static uint64_t pow2_floor(uint64_t len)
{
	return len < PAGE ? PAGE : 1ull << (63 - __builtin_clzll(len));
}

uint64_t sva_fa_window(const struct sva_fa_state *st, uint64_t addr, uint64_t cap, bool huge, uint64_t *ws,
		       uint64_t *we)
{
	/* The last window may have been clipped to any length (a pin budget, a
	 * mapping's edge): the next one is a power of two again, or halving
	 * would reach windows that end inside a page. */
	uint64_t size = st->size ? pow2_floor(st->size) : 0;
	bool in_order = size && addr >= st->next && addr - st->next < size;

	if (!size)
		size = SVA_FA_START < cap ? SVA_FA_START : cap;
	else if (in_order)
		size = size < cap / 2 ? size * 2 : cap;
	else
		size = size / 2 < PAGE ? PAGE : size / 2 < cap ? size / 2 : cap;
	/* Whole huge pages, so the IOMMU can use 2 MiB entries (and the ramp
	 * goes on from there). */
	if (huge && size < HUGE)
		size = HUGE;
	/* In order, the device walks forward: map ahead of it, from its page
	 * (a huge one: from its start, or rounding out would add one more). */
	*ws = !in_order ? addr & ~(size - 1) : huge ? addr & ~(HUGE - 1) : addr;
	*we = *ws + size;
	return size;
}

uint64_t sva_fa_bridge(uint64_t cap)
{
	return cap - PAGE < SVA_FA_BRIDGE ? cap - PAGE : SVA_FA_BRIDGE;
}
