/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* How many 2 MiB hugetlb pages this machine can hand out now, and a region of
 * transparent huge pages (tests only). */
#ifndef SVA_TESTS_HUGETLB_H
#define SVA_TESTS_HUGETLB_H

#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>

#include "proc_number.h"

/* Free minus reserved 2 MiB pages (negative when sysfs does not say). */
static inline long free_hugetlb(void)
{
	return proc_read_long("/sys/kernel/mm/hugepages/hugepages-2048kB/free_hugepages") -
	       proc_read_long("/sys/kernel/mm/hugepages/hugepages-2048kB/resv_hugepages");
}

/* 4 MiB of MADV_HUGEPAGE memory, 2 MiB-aligned and touched, so that it is
 * made of transparent huge pages where THP is on and memory is not too
 * fragmented (the caller asks, e.g. sva_vma_has_thp()): its start, or 0 when
 * mmap() fails.  Unmapped by the process's exit. */
static inline uint64_t thp_region_4mib(void)
{
	const uint64_t mb = 1u << 20;
	void *raw = mmap(NULL, 8 * mb, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	uint64_t big;

	if (raw == MAP_FAILED)
		return 0;
	big = ((uintptr_t)raw + 2 * mb - 1) & ~(2 * mb - 1);
	munmap(raw, big - (uintptr_t)raw);
	munmap((void *)(uintptr_t)(big + 4 * mb), (uintptr_t)raw + 8 * mb - (big + 4 * mb));
	if (madvise((void *)(uintptr_t)big, 4 * mb, MADV_HUGEPAGE) == 0)
		memset((void *)(uintptr_t)big, 0x5a, 4 * mb);
	return big;
}

#endif
