/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * For the kernel tests written from the pages and sva.h alone (no libsva
 * internals): does a page table of the context map the page at VA `page`, at
 * IOVA `page`, to the very page the process has there now?
 *
 * The iommufd selftest's IOMMU_TEST_CMD (CONFIG_IOMMUFD_TEST) MD_CHECK_MAP
 * asks a mock page table just that.  The kernel does not install its header;
 * the layout below is the kernel's ABI (a fact, not its source).  The test
 * does not know libsva's object IDs, so every small ID is asked (each context
 * has its own iommufd, whose IDs stay small; the others answer ENOENT or
 * EINVAL).  Only the selftest mock's page tables answer: on another device
 * this is always false.
 */
#ifndef SVA_TESTS_KERNEL_MOCK_SEES_H
#define SVA_TESTS_KERNEL_MOCK_SEES_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <sva/sva.h>

struct mock_sees_cmd {
	uint32_t size;
	uint32_t op;
	uint32_t id;
	uint32_t reserved;
	union {
		struct {
			uint64_t iova;
			uint64_t length;
			uint64_t uptr;
		} check_map;
		uint8_t union_size[48];
	};
	uint32_t last;
};
_Static_assert(sizeof(struct mock_sees_cmd) == 72, "IOMMU_TEST_CMD layout");
#define MOCK_SEES_TEST_CMD _IO(';', 0x80 + 32)
#define MOCK_SEES_OP_MD_CHECK_MAP 3

static inline bool mock_sees(struct sva_ctx *ctx, const void *page)
{
	long pg = sysconf(_SC_PAGESIZE);

	for (uint32_t id = 1; id < 128; id++) {
		struct mock_sees_cmd c = { .size = sizeof(c), .op = MOCK_SEES_OP_MD_CHECK_MAP, .id = id };

		c.check_map.iova = (uintptr_t)page;
		c.check_map.length = (uint64_t)pg;
		c.check_map.uptr = (uintptr_t)page;
		if (ioctl(sva_ctx_fd(ctx), MOCK_SEES_TEST_CMD, &c) == 0)
			return true;
	}
	return false;
}

#endif
