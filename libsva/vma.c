/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The process's mappings, from /proc/self/maps.  IOAS_MAP pins through GUP,
 * which refuses writes to read-only VMAs, so map permissions must follow the
 * VMA's; and a range with a hole must be refused before anything is mapped.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

int sva_vma_collect(uint64_t start, uint64_t end, struct sva_vma *out, size_t max, size_t *nr)
{
	FILE *f = fopen("/proc/self/maps", "re");
	uint64_t next = start;
	char line[512];
	size_t n = 0;
	int ret = -EFAULT;

	if (!f)
		return -errno;
	while (fgets(line, sizeof(line), f)) {
		uint64_t lo, hi;
		char perms[8];

		/* Long path names spill over the buffer: skip the rest of such lines. */
		if (!strchr(line, '\n')) {
			int c;

			while ((c = fgetc(f)) != EOF && c != '\n')
				;
		}
		if (sscanf(line, "%" SCNx64 "-%" SCNx64 " %7s", &lo, &hi, perms) != 3)
			continue;
		if (hi <= next)
			continue;
		if (lo > next)
			break; /* a hole before the next VMA */
		if (n == max) {
			ret = -E2BIG;
			break;
		}
		out[n].start = next;
		out[n].end = hi < end ? hi : end;
		out[n].prot = (perms[0] == 'r' ? SVA_PROT_READ : 0) | (perms[1] == 'w' ? SVA_PROT_WRITE : 0);
		next = out[n].end;
		n++;
		if (next >= end) {
			ret = 0;
			break;
		}
	}
	fclose(f);
	*nr = n;
	return ret;
}
