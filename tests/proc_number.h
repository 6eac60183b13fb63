/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Numbers the kernel states in /proc and /sys files, read one way for the
 * tests of both tiers (a sysctl, a hugetlb count, the mappings of the
 * process), so that a file that cannot be read says so the same way
 * everywhere: -1.  Needs nothing of libsva's.
 */
#ifndef SVA_TESTS_PROC_NUMBER_H
#define SVA_TESTS_PROC_NUMBER_H

#include <stdio.h>

/* The number a file starts with (a sysctl, a sysfs count), -1 if none. */
static inline long proc_read_long(const char *path)
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

/* How many mappings the process has (lines of /proc/self/maps), -1 if it
 * cannot be read. */
static inline int proc_maps_lines(void)
{
	FILE *f = fopen("/proc/self/maps", "re");
	int n = 0, c;

	if (!f)
		return -1;
	while ((c = fgetc(f)) != EOF)
		n += c == '\n';
	fclose(f);
	return n;
}

#endif
