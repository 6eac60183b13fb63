/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The placement allocator's address arithmetic: range lists and the gap
 * search.  Pure functions (no I/O, no allocation), so the unit tests can drive
 * them with synthetic windows and mappings.
 */
#include <errno.h>
#include <stdlib.h>

#include "mem_window.h"

static int range_cmp(const void *a, const void *b)
{
	const struct sva_iova_range *x = a, *y = b;

	if (x->start != y->start)
		return x->start < y->start ? -1 : 1;
	if (x->last != y->last)
		return x->last < y->last ? -1 : 1;
	return 0;
}

size_t sva_mem_ranges_normalize(struct sva_iova_range *r, size_t n)
{
	size_t out = 0;

	if (!n)
		return 0;
	qsort(r, n, sizeof(*r), range_cmp);
	for (size_t i = 0; i < n; i++) {
		if (r[i].last < r[i].start)
			continue;
		/* Merge into the previous range if they overlap or touch. */
		if (out && (r[out - 1].last == UINT64_MAX || r[i].start <= r[out - 1].last + 1)) {
			if (r[i].last > r[out - 1].last)
				r[out - 1].last = r[i].last;
			continue;
		}
		r[out++] = r[i];
	}
	return out;
}

size_t sva_mem_ranges_intersect(const struct sva_iova_range *a, size_t na, const struct sva_iova_range *b,
				size_t nb, struct sva_iova_range *out, size_t max)
{
	size_t i = 0, j = 0, n = 0;

	while (i < na && j < nb) {
		uint64_t lo = a[i].start > b[j].start ? a[i].start : b[j].start;
		uint64_t hi = a[i].last < b[j].last ? a[i].last : b[j].last;

		if (lo <= hi) {
			if (n < max)
				out[n] = (struct sva_iova_range){ .start = lo, .last = hi };
			n++;
		}
		/* Drop whichever ends first; the other may meet the next one. */
		if (a[i].last < b[j].last)
			i++;
		else
			j++;
	}
	return n;
}

/* x rounded up to a multiple of align (a power of two); false on overflow. */
static int align_up(uint64_t x, uint64_t align, uint64_t *out)
{
	if (x > UINT64_MAX - (align - 1))
		return 0;
	*out = (x + align - 1) & ~(align - 1);
	return 1;
}

/* Index of the first busy range whose last is >= addr (busy normalized). */
static size_t busy_from(const struct sva_iova_range *busy, size_t n, uint64_t addr)
{
	size_t lo = 0, hi = n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (busy[mid].last < addr)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/* The gap search on normalized lists, at addresses from `from` up. */
static int find_from(const struct sva_iova_range *win, size_t nwin, const struct sva_iova_range *busy,
		     size_t nbusy, uint64_t len, uint64_t align, uint64_t from, uint64_t *out)
{
	for (size_t w = 0; w < nwin; w++) {
		uint64_t cand;

		if (win[w].last < from || !align_up(win[w].start > from ? win[w].start : from, align, &cand))
			continue;
		/*
		 * Each step either returns or moves cand past one busy range, which
		 * it never meets again: at most nbusy + 1 steps per window range.
		 */
		for (;;) {
			size_t b;

			if (cand > win[w].last || win[w].last - cand < len - 1)
				break; /* the rest of this range is too small */
			b = busy_from(busy, nbusy, cand);
			if (b == nbusy || busy[b].start > cand + (len - 1)) {
				*out = cand;
				return 0;
			}
			if (busy[b].last == UINT64_MAX || !align_up(busy[b].last + 1, align, &cand))
				break;
		}
	}
	return -ENOSPC;
}

int sva_mem_find_gap(struct sva_iova_range *win, size_t *nwin, struct sva_iova_range *busy, size_t *nbusy,
		     uint64_t len, uint64_t align, uint64_t *out)
{
	return sva_mem_find_gap_guarded(win, nwin, busy, nbusy, len, align, 0, out);
}

int sva_mem_find_gap_guarded(struct sva_iova_range *win, size_t *nwin, struct sva_iova_range *busy,
			     size_t *nbusy, uint64_t len, uint64_t align, uint64_t guard, uint64_t *out)
{
	if (!len || !align || (align & (align - 1)))
		return -EINVAL;
	*nwin = sva_mem_ranges_normalize(win, *nwin);
	*nbusy = sva_mem_ranges_normalize(busy, *nbusy);
	if (guard && find_from(win, *nwin, busy, *nbusy, len, align, guard, out) == 0)
		return 0;
	return find_from(win, *nwin, busy, *nbusy, len, align, 0, out);
}
