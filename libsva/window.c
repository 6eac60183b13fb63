/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The IOVA window of an IOAS: the one reader of IOMMU_IOAS_IOVA_RANGES for
 * the fault path, prefault and the placement allocator, so they agree on what
 * a device can reach.  It keeps at most SVA_WINDOW_RANGES ranges; with more
 * (a very fragmented window), the lowest ones, a subset of the window: what
 * lies beyond is refused, never wrongly accepted, and all three refuse alike.
 */
#include <errno.h>

#include "internal.h"

int sva_iova_window(int fd, uint32_t ioas, struct sva_iova_range *r, size_t *n)
{
	size_t nr = SVA_WINDOW_RANGES;
	int ret = sva_iommufd_iova_ranges(fd, ioas, r, &nr);

	if (ret && ret != -EMSGSIZE)
		return ret;
	*n = nr < SVA_WINDOW_RANGES ? nr : SVA_WINDOW_RANGES;
	return 0;
}

/* Read the window again if asked or never read: 0, or the ioctl's error. */
static int refresh_locked(struct sva_mm *mm, bool refresh)
{
	if (refresh || !mm->ranges_valid) {
		int ret = sva_iova_window(mm->ctx->fd, mm->ioas_id, mm->ranges, &mm->nr_ranges);

		if (ret)
			return ret;
		mm->ranges_valid = true;
	}
	return 0;
}

static const struct sva_iova_range *find_locked(struct sva_mm *mm, uint64_t start, uint64_t end)
{
	for (size_t i = 0; i < mm->nr_ranges; i++)
		if (start >= mm->ranges[i].start && end - 1 <= mm->ranges[i].last)
			return &mm->ranges[i];
	return NULL;
}

const struct sva_iova_range *sva_mm_window_find_locked(struct sva_mm *mm, uint64_t start, uint64_t end,
						       bool refresh)
{
	return refresh_locked(mm, refresh) ? NULL : find_locked(mm, start, end);
}

int sva_mm_window_check_locked(struct sva_mm *mm, uint64_t start, uint64_t end, bool refresh)
{
	/* A window the kernel failed to report is that failure, not "out of range". */
	int ret = refresh_locked(mm, refresh);

	return ret ? ret : find_locked(mm, start, end) ? 0 : -ERANGE;
}
