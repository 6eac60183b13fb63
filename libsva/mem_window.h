/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The placement allocator (mem.c): its pure parts, in mem_window.c, and the
 * internal hooks its tests use.
 *
 * Address ranges here are struct sva_iova_range, [start, last] inclusive, so a
 * range may end at the top of the 64-bit space.  A "window" is a list of ranges
 * where memory may go (the IOVA ranges a device can reach, clipped to the user
 * address space); "busy" is a list of ranges where it may not (the process's
 * mappings, reserves for the heap and stack, chunks visible in an address
 * space).  Neither needs to be sorted or disjoint on input.
 */
#ifndef LIBSVA_MEM_WINDOW_H
#define LIBSVA_MEM_WINDOW_H

#include <stddef.h>
#include <stdint.h>

#include "sva/sva.h"

/* ----------------------------------------------------------- mem_window.c */

/*
 * Sort r by start, drop empty ranges (last < start) and merge overlapping or
 * adjacent ones, in place.  Returns the new count.
 */
size_t sva_mem_ranges_normalize(struct sva_iova_range *r, size_t n);

/*
 * out = the intersection of a and b.  Both must be normalized; the result is.  Writes at most max
 * ranges and returns how many the intersection has (> max: out holds the
 * lowest max of them, a subset, which is safe to allocate from).
 */
size_t sva_mem_ranges_intersect(const struct sva_iova_range *a, size_t na, const struct sva_iova_range *b,
				size_t nb, struct sva_iova_range *out, size_t max);

/*
 * The gap search: the lowest address A, a multiple of align, such that
 * [A, A + len - 1] lies inside one range of win and overlaps no range of busy
 * (first fit, bottom-up).  win and busy are normalized in place (reordered and
 * merged, see sva_mem_ranges_normalize; their counts are updated).  No I/O, no
 * allocation.  Returns 0 and sets *out; -ENOSPC no such address; -EINVAL len 0
 * or align not a power of two.
 */
int sva_mem_find_gap(struct sva_iova_range *win, size_t *nwin, struct sva_iova_range *busy, size_t *nbusy,
		     uint64_t len, uint64_t align, uint64_t *out);

/*
 * The same, but at or above `guard` when the window has room there, and only
 * otherwise as low as the window goes: sva_mem_alloc() keeps low memory, where
 * a NULL-plus-offset bug lands, free of device-visible buffers (mem.c).
 */
int sva_mem_find_gap_guarded(struct sva_iova_range *win, size_t *nwin, struct sva_iova_range *busy,
			     size_t *nbusy, uint64_t len, uint64_t align, uint64_t guard, uint64_t *out);

/* ------------------------------------------------------------------ mem.c */

/* How an allocation is backed (sva_mem_backing()). */
enum sva_mem_backing {
	SVA_MEM_BACKING_PAGES = 0,   /* base pages */
	SVA_MEM_BACKING_THP = 1,     /* base pages with MADV_HUGEPAGE on a 2 MiB-aligned range */
	SVA_MEM_BACKING_HUGETLB = 2, /* MAP_HUGETLB, 2 MiB pages reserved at allocation */
};

/* The backing of the live allocation that starts at addr, or -ENOENT. */
int sva_mem_backing(const void *addr);

/* Name of a backing ("pages", "THP", "hugetlb"). */
const char *sva_mem_backing_name(int backing);

/*
 * Tests only: called between choosing an address and mapping it (with the
 * allocator's lock held), so a test can take the address first and check that
 * the allocator moves on to another.  Defined only in the tests' copy of the
 * library (libsva-test, built with SVA_TEST_HOOKS); NULL unless a test sets it.
 */
extern void (*sva_mem_test_race_hook)(uint64_t addr, uint64_t len);

#endif /* LIBSVA_MEM_WINDOW_H */
