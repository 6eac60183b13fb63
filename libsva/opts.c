/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Size-prefixed structs, one rule for all of them (sva.h's header comment).
 * The size must be at least the struct's size in libsva 1.0: no header ever
 * had a smaller one, so a smaller size is a caller's bug (an unset or
 * truncated size, which could also cut a field in half), not an old program.
 * Most structs are still at their 1.0 size, so that minimum is dst_size; one
 * that grew (each grew once so far) passes its 1.0 size as the minimum, and
 * fields beyond the caller's size read as zero.  A size between the two
 * layouts would cut the new field in half: refused too.  A larger size (a
 * newer header) is accepted only
 * if the fields we do not know are zero, so a request we cannot honour is
 * refused rather than silently ignored; an information struct gets them
 * zeroed instead.
 */
#include <errno.h>
#include <string.h>

#include "internal.h"

int sva_opts_copy_nonnull(void *dst, size_t dst_size, size_t min_size, const void *src)
{
	size_t size;

	memset(dst, 0, dst_size);
	memcpy(&size, src, sizeof(size));
	if (size < min_size || (size > min_size && size < dst_size))
		return -EINVAL;
	if (size > dst_size) {
		const unsigned char *tail = (const unsigned char *)src + dst_size;

		for (size_t i = 0; i < size - dst_size; i++)
			if (tail[i])
				return -EINVAL;
		size = dst_size;
	}
	memcpy(dst, src, size);
	memcpy(dst, &dst_size, sizeof(dst_size));
	return 0;
}

int sva_info_copy(void *dst, const void *src, size_t src_size)
{
	return sva_info_copy_min(dst, src, src_size, src_size);
}

int sva_info_copy_min(void *dst, const void *src, size_t src_size, size_t min_size)
{
	size_t size;

	if (!dst)
		return -EINVAL;
	memcpy(&size, dst, sizeof(size));
	if (size < min_size || (size > min_size && size < src_size))
		return -EINVAL;
	/*
	 * Zero everything after the caller's size field, then copy what both
	 * know: a newer caller's tail stays zero.  (Zeroing only the tail at
	 * dst + src_size let an LTO build, which sees dst's object size,
	 * warn of a write past it on the path it cannot rule out.)
	 */
	memset((char *)dst + sizeof(size_t), 0, size - sizeof(size_t));
	if (size > src_size)
		size = src_size;
	/* Keep the caller's size field as it was. */
	memcpy((char *)dst + sizeof(size_t), (const char *)src + sizeof(size_t), size - sizeof(size_t));
	return 0;
}

void sva_opts_log_refused(const struct sva_log *log, const char *fn, const char *type, size_t dst_size,
			  const void *src)
{
	size_t size;

	memcpy(&size, src, sizeof(size));
	if (size <= dst_size)
		sva_logf(log, SVA_LOG_ERROR,
			 "%s: opts->size is %zu, not a size struct %s ever had (set it to sizeof, %zu)", fn, size,
			 type, dst_size);
	else
		sva_logf(log, SVA_LOG_ERROR,
			 "%s: opts->size %zu is larger than this libsva's struct %s (%zu) and sets a field "
			 "beyond it (upgrade libsva, or leave the new fields zero)",
			 fn, size, type, dst_size);
}
