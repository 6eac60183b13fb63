/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Size-prefixed structs.  A caller built against an older header passes a
 * smaller size (missing fields read as zero); one built against a newer header
 * passes a larger size, accepted only if the fields we do not know are zero,
 * so a request we cannot honour is refused rather than silently ignored.
 */
#include <errno.h>
#include <string.h>

#include "internal.h"

int sva_opts_copy(void *dst, size_t dst_size, const void *src)
{
	size_t size;

	memset(dst, 0, dst_size);
	if (!src)
		goto done;
	memcpy(&size, src, sizeof(size));
	if (size < sizeof(size_t))
		return -EINVAL;
	if (size > dst_size) {
		const unsigned char *tail = (const unsigned char *)src + dst_size;

		for (size_t i = 0; i < size - dst_size; i++)
			if (tail[i])
				return -EINVAL;
		size = dst_size;
	}
	memcpy(dst, src, size);
done:
	memcpy(dst, &dst_size, sizeof(dst_size));
	return 0;
}

int sva_info_copy(void *dst, const void *src, size_t src_size)
{
	size_t size;

	if (!dst)
		return -EINVAL;
	memcpy(&size, dst, sizeof(size));
	if (size < sizeof(size_t))
		return -EINVAL;
	if (size > src_size) {
		memset((char *)dst + src_size, 0, size - src_size);
		size = src_size;
	}
	/* Keep the caller's size field as it was. */
	memcpy((char *)dst + sizeof(size_t), (const char *)src + sizeof(size_t), size - sizeof(size_t));
	return 0;
}
