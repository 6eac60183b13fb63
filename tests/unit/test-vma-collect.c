/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The VMAs of a range (libsva/vma_query.c, vma.c): PROCMAP_QUERY, where the
 * kernel has it, must say exactly what parsing /proc/self/maps says, for
 * ranges cut by mprotect into several VMAs, PROT_NONE, holes, more VMAs than
 * the caller has room for, and ranges starting or ending inside a VMA.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <unistd.h>

#include "internal.h"
#include "../fd_fill.h"
#include "../tap.h"

#define PG 4096ull

/* The reference: walk the whole of /proc/self/maps. */
static int by_file(uint64_t start, uint64_t end, struct sva_vma *out, size_t max, size_t *nr)
{
	struct sva_vma *all;
	size_t n_all, n = 0;
	uint64_t next = start;
	int ret = sva_vma_snapshot(-1, &all, &n_all);

	if (ret)
		return ret;
	ret = -EFAULT;
	for (size_t i = 0; i < n_all; i++) {
		if (all[i].end <= next)
			continue;
		if (all[i].start > next)
			break;
		if (n == max) {
			ret = -E2BIG;
			break;
		}
		out[n].start = next;
		out[n].end = all[i].end < end ? all[i].end : end;
		out[n].prot = all[i].prot & (SVA_PROT_READ | SVA_PROT_WRITE);
		out[n].whole_start = all[i].start;
		out[n].whole_end = all[i].end;
		next = out[n++].end;
		if (next >= end) {
			ret = 0;
			break;
		}
	}
	sva_free(all);
	*nr = n;
	return ret;
}

static bool query_works;
static int maps_fd = -1; /* as an address space keeps it */

static void same(const char *what, uint64_t start, uint64_t end, size_t max, int want)
{
	struct sva_vma a[16], b[16], c[16];
	size_t na = 0, nb = 0, nc = 0;
	int ra = by_file(start, end, a, max, &na);
	int rc = sva_vma_collect(-1, start, end, c, max, &nc);

	is_int(ra, want, "%s: /proc/self/maps says %d", what, want);
	is_int(rc, want, "%s: sva_vma_collect says the same", what);
	if (!query_works)
		return;
	struct sva_vma d[16];
	size_t nd = 0;
	int rb = sva_vma_collect_query(-1, start, end, b, max, &nb);
	int rd = sva_vma_collect_query(maps_fd, start, end, d, max, &nd);

	is_int(rb, want, "%s: PROCMAP_QUERY says the same", what);
	is_int(rd, want, "%s: and through a maps file kept open", what);
	if (want == 0) {
		bool eq = na == nb && na == nc && na == nd, whole = eq;

		for (size_t i = 0; whole && i < na; i++)
			whole = a[i].whole_start == b[i].whole_start && a[i].whole_end == b[i].whole_end &&
				a[i].whole_start == c[i].whole_start && a[i].whole_end == c[i].whole_end &&
				a[i].whole_start == d[i].whole_start && a[i].whole_end == d[i].whole_end;
		ok(whole, "%s: and the whole mappings they are parts of", what);

		for (size_t i = 0; eq && i < na; i++)
			eq = a[i].start == b[i].start && a[i].end == b[i].end && a[i].prot == b[i].prot &&
			     a[i].start == c[i].start && a[i].end == c[i].end && a[i].prot == c[i].prot &&
			     a[i].start == d[i].start && a[i].end == d[i].end && a[i].prot == d[i].prot;
		ok(eq, "%s: the same %zu VMAs, bounds and permissions", what, na);
	}
}

/*
 * No descriptor free (RLIMIT_NOFILE down to the descriptors in use): the
 * mappings are read through the address space's open maps file, not a file
 * of their own, and say what they say with descriptors to spare; a fault's
 * look-up of memory mapped since (sva_vma_find()) finds it (Z81: it failed
 * with -EMFILE, and the fault was answered INVALID).
 */
/* Do two snapshots hold the same VMAs (bounds and rights) in [lo, hi)? */
static bool same_within(const struct sva_vma *a, size_t na, const struct sva_vma *b, size_t nb, uint64_t lo,
			uint64_t hi)
{
	size_t i = 0, j = 0, seen = 0;

	for (;;) {
		while (i < na && (a[i].end <= lo || a[i].start >= hi))
			i++;
		while (j < nb && (b[j].end <= lo || b[j].start >= hi))
			j++;
		if (i == na || j == nb)
			return i == na && j == nb && seen > 0;
		if (a[i].start != b[j].start || a[i].end != b[j].end || a[i].prot != b[j].prot)
			return false;
		i++, j++, seen++;
	}
}

static void no_fd_free(uint64_t b)
{
	struct sva_vma *spare, *none = NULL, found;
	size_t n_spare, n_none = 0;
	struct fd_fill ff;
	int ret, find;
	void *fresh;

	if (maps_fd < 0) {
		skip(4, "no /proc/self/maps");
		return;
	}
	ok(sva_vma_find(b, false, maps_fd, &found) == 0, "the VMA cache is read");
	fresh = mmap(NULL, 3 * PG, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (fresh == MAP_FAILED || sva_vma_snapshot(-1, &spare, &n_spare))
		tap_bail("mmap, or the maps: %s", strerror(errno));
	fd_fill(&ff);
	ret = sva_vma_snapshot(maps_fd, &none, &n_none);
	find = sva_vma_find((uintptr_t)fresh + PG, true, maps_fd, &found);
	fd_fill_undo(&ff);
	ok(ff.full, "no descriptor free (RLIMIT_NOFILE %d)", ff.limit);
	/* Allocations between the reads may change libsva's own and the heap's
	 * VMAs: the test's are compared. */
	ok(ret == 0 && n_none > 0 && same_within(spare, n_spare, none, n_none, b, b + 8 * PG) &&
		   same_within(spare, n_spare, none, n_none, (uintptr_t)fresh, (uintptr_t)fresh + 3 * PG),
	   "the maps read through the kept descriptor: the test's VMAs as with descriptors to spare (%d, %zu VMAs)",
	   ret, n_none);
	ok(find == 0 && found.start == (uintptr_t)fresh && found.end == (uintptr_t)fresh + 3 * PG,
	   "a look-up of memory mapped since finds it (%d; old code: -EMFILE)", find);
	sva_free(spare);
	sva_free(none);
	munmap(fresh, 3 * PG);
}

int main(void)
{
	uint8_t *p = mmap(NULL, 8 * PG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	uint64_t b = (uint64_t)(uintptr_t)p;
	struct sva_vma v[4];
	size_t n;

	if (p == MAP_FAILED)
		skip_all("mmap failed");
	/* rw | r | none | rw rw | r | hole | rw */
	mprotect(p + PG, PG, PROT_READ);
	mprotect(p + 2 * PG, PG, PROT_NONE);
	mprotect(p + 5 * PG, PG, PROT_READ);
	munmap(p + 6 * PG, PG);

	maps_fd = open("/proc/self/maps", O_RDONLY | O_CLOEXEC);
	query_works = sva_vma_collect_query(-1, b, b + PG, v, 4, &n) != -EOPNOTSUPP;
	if (!query_works)
		diag("this kernel has no PROCMAP_QUERY (before Linux 6.11): only the fallback is compared");

	same("five VMAs of one mapping", b, b + 6 * PG, 16, 0);
	same("starting and ending inside VMAs", b + 4 * PG, b + 5 * PG + PG / 2, 16, 0);
	same("one page inside a larger VMA", b + 3 * PG, b + 4 * PG, 16, 0);
	same("a hole in the middle", b + 4 * PG, b + 8 * PG, 16, -EFAULT);
	/* Registration with the userfaultfd takes the whole mapping (a part
	 * would split it): the collected part says which mapping it is in. */
	v[0].whole_start = v[0].whole_end = 1;
	is_int(sva_vma_collect(-1, b + 3 * PG, b + 4 * PG, v, 4, &n), 0, "one page of a two-page mapping");
	ok(n == 1 && v[0].start == b + 3 * PG && v[0].end == b + 4 * PG, "clipped to the page asked for");
	ok(v[0].whole_start == b + 3 * PG && v[0].whole_end == b + 5 * PG, "and its whole mapping is known (0x%llx-0x%llx)",
	   (unsigned long long)v[0].whole_start, (unsigned long long)v[0].whole_end);
	same("starting in a hole", b + 6 * PG, b + 7 * PG, 16, -EFAULT);
	same("more VMAs than room", b, b + 6 * PG, 2, -E2BIG);
	same("beyond every mapping", 0x7ffffffff000ull - 2 * PG, 0x7ffffffff000ull - PG, 16, -EFAULT);
	no_fd_free(b);
	munmap(p, 8 * PG);
	close(maps_fd);
	return done_testing();
}
