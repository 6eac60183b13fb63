/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Placeholder: the placement allocator is being written. */
#include <errno.h>

#include "internal.h"

SVA_EXPORT int sva_mem_alloc(size_t len, const struct sva_mem_opts *opts, void **out)
{
	(void)len;
	(void)opts;
	(void)out;
	return -ENOSYS;
}

SVA_EXPORT int sva_mem_free(struct sva_mm *mm, void *addr, size_t len)
{
	(void)mm;
	(void)addr;
	(void)len;
	return -ENOSYS;
}
