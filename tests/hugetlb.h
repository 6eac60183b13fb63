/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* How many 2 MiB hugetlb pages this machine can hand out now (tests only). */
#ifndef SVA_TESTS_HUGETLB_H
#define SVA_TESTS_HUGETLB_H

#include <stdio.h>

static inline long hugetlb_read_long(const char *path)
{
	FILE *f = fopen(path, "re");
	long v = -1;

	if (f) {
		if (fscanf(f, "%ld", &v) != 1)
			v = -1;
		fclose(f);
	}
	return v;
}

/* Free minus reserved 2 MiB pages (negative when sysfs does not say). */
static inline long free_hugetlb(void)
{
	return hugetlb_read_long("/sys/kernel/mm/hugepages/hugepages-2048kB/free_hugepages") -
	       hugetlb_read_long("/sys/kernel/mm/hugepages/hugepages-2048kB/resv_hugepages");
}

#endif
