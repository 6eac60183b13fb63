/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * A VMA's huge-page classification (libsva/vma.c): a fault that could not
 * read /proc/self/smaps for want of a descriptor must not fix the VMA as
 * "checked, no THP" for as long as it keeps its bounds; the next fault asks
 * again (Z74: one fault while out of descriptors left a THP mapping on small
 * fault windows for good).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <unistd.h>

#include "internal.h"
#include "../hugetlb.h"
#include "../tap.h"

#define MB (1ull << 20)

/* Take every free descriptor below a lowered limit; returns how many. */
static int exhaust(int *fds, int max)
{
	int n = 0;

	while (n < max) {
		int fd = dup(0);

		if (fd < 0)
			break;
		fds[n++] = fd;
	}
	return n;
}

int main(void)
{
	struct sva_vma v, other;
	struct rlimit old, low;
	int fds[256], n;
	uint64_t big;

	/* 4 MiB, 2 MiB-aligned, of huge pages where THP allows. */
	big = thp_region_4mib();
	if (!big)
		tap_bail("mmap: %s", strerror(errno));
	if (!sva_vma_has_thp(big)) {
		skip_all("no transparent huge page in a MADV_HUGEPAGE mapping here (THP disabled or memory fragmented)");
	}

	/* The cache read with descriptors to spare, looking at another VMA: the
	 * big one is in it, not yet classified. */
	ok(sva_vma_find((uintptr_t)&other, false, -1, &other) == 0, "the VMA cache is read");

	getrlimit(RLIMIT_NOFILE, &old);
	low = old;
	low.rlim_cur = 200 < old.rlim_cur ? 200 : old.rlim_cur;
	setrlimit(RLIMIT_NOFILE, &low);
	n = exhaust(fds, 256);
	int ret = sva_vma_find(big, false, -1, &v);
	for (int i = 0; i < n; i++)
		close(fds[i]);
	setrlimit(RLIMIT_NOFILE, &old);
	ok(ret == 0 && !(v.prot & SVA_VMA_THP), "with no descriptor free the VMA is found, not classified THP (%d, %#x)",
	   ret, v.prot);

	ret = sva_vma_find(big, false, -1, &v);
	ok(ret == 0 && (v.prot & SVA_VMA_CHECKED), "with descriptors again, the next look classifies it (%#x)", v.prot);
	ok(v.prot & SVA_VMA_THP, "as transparent huge pages (old code: left \"checked, no THP\" for good)");
	munmap((void *)(uintptr_t)big, 4 * MB);
	return done_testing();
}
