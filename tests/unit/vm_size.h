/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The process's address space (VmSize), for the arena tests. */
#ifndef SVA_TEST_VM_SIZE_H
#define SVA_TEST_VM_SIZE_H

#include <stdio.h>

/* The process's address space now, in bytes (VmSize), or 0. */
static inline unsigned long long vm_size(void)
{
	FILE *f = fopen("/proc/self/status", "r");
	unsigned long long kb = 0;
	char line[256];

	while (f && fgets(line, sizeof(line), f))
		if (sscanf(line, "VmSize: %llu kB", &kb) == 1)
			break;
	if (f)
		fclose(f);
	return kb << 10;
}

#endif
