/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * A process at its map count limit (vm.max_map_count), with a range whose
 * munmap(2) the kernel must then refuse: the range sits inside one mapping
 * (anonymous neighbours merged with it on both sides), so unmapping it splits
 * that mapping in two, one more than the limit allows (tests only; the
 * build defines _GNU_SOURCE, for MAP_FIXED_NOREPLACE).
 */
#ifndef SVA_TESTS_MAP_FILL_H
#define SVA_TESTS_MAP_FILL_H

#include <stdio.h>
#include <sys/mman.h>
#include <unistd.h>

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define MAP_FILL_SANITIZER 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define MAP_FILL_SANITIZER 1
#endif
#endif

struct map_fill {
	long max;	     /* vm.max_map_count */
	long split;	     /* protection changes made: each one more mapping */
	char *before, *after; /* the neighbours, a page each (MAP_FAILED: none) */
	char *region;	     /* what is split to fill the count (MAP_FAILED: none) */
	size_t len;
};

/* Why the map count cannot be filled here, to skip with; NULL if it can. */
static inline const char *map_fill_why_not(struct map_fill *f)
{
	FILE *fp = fopen("/proc/sys/vm/max_map_count", "re");

	f->max = 0;
	f->split = 0;
	f->before = f->after = f->region = MAP_FAILED;
	f->len = 0;
	if (fp) {
		if (fscanf(fp, "%ld", &f->max) != 1)
			f->max = 0;
		fclose(fp);
	}
	if (f->max <= 0 || f->max > 1 << 20)
		return "vm.max_map_count unknown or too large to fill";
#ifdef MAP_FILL_SANITIZER
	/* Its runtime maps memory of its own at any time, and dies when the
	 * full map count refuses it. */
	return "under a sanitizer";
#endif
	return NULL;
}

/*
 * Neighbours mapped right before and after [p, p + len) (p mapped private and
 * anonymous, as sva_mem_alloc() maps), all three written so that they share
 * one anon_vma and stay merged, and the region to split mapped.  0, or -1 if
 * any of it could not be mapped there (undo with map_fill_undo()).
 */
static inline int map_fill_around(struct map_fill *f, char *p, size_t len)
{
	const size_t pg = (size_t)sysconf(_SC_PAGESIZE);

	f->before = mmap(p - pg, pg, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
	f->after = mmap(p + len, pg, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
	f->len = (size_t)(f->max + 16) * 2 * pg;
	f->region = mmap(NULL, f->len, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (f->before != p - pg || f->after != p + len || f->region == MAP_FAILED)
		return -1;
	f->before[0] = p[0] = f->after[0] = 1;
	return 0;
}

/* Every other page of the region made PROT_NONE until the kernel refuses
 * (the region mapped again first if map_fill_release() gave it back). */
static inline void map_fill(struct map_fill *f)
{
	const size_t pg = (size_t)sysconf(_SC_PAGESIZE);

	if (f->region == MAP_FAILED)
		f->region = mmap(NULL, f->len, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (f->region == MAP_FAILED)
		return;
	f->split = 0;
	for (size_t off = 0; off + pg < f->len; off += 2 * pg, f->split++)
		if (mprotect(f->region + off, pg, PROT_NONE))
			break;
}

/* The count given back: the region unmapped, the neighbours kept. */
static inline void map_fill_release(struct map_fill *f)
{
	if (f->region != MAP_FAILED)
		munmap(f->region, f->len);
	f->region = MAP_FAILED;
}

/* All of it unmapped (what was mapped of it). */
static inline void map_fill_undo(struct map_fill *f)
{
	const size_t pg = (size_t)sysconf(_SC_PAGESIZE);

	map_fill_release(f);
	if (f->before != MAP_FAILED)
		munmap(f->before, pg);
	if (f->after != MAP_FAILED)
		munmap(f->after, pg);
	f->before = f->after = MAP_FAILED;
}

#endif
