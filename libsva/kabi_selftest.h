/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The iommufd selftest ABI (IOMMU_TEST_CMD), present only in kernels built with
 * CONFIG_IOMMUFD_TEST.  The kernel does not install this header, so libsva
 * writes the layout down itself.  Used by the mock device backend (a documented
 * testing facility) and by the kernel-tier tests; nothing else may depend on it.
 */
#ifndef LIBSVA_KABI_SELFTEST_H
#define LIBSVA_KABI_SELFTEST_H

#include "kabi.h"

#define KABI_IOMMU_TEST_CMD _IO(KABI_IOMMUFD_TYPE, 0x80 + 32)

enum {
	KABI_TEST_OP_ADD_RESERVED = 1,
	KABI_TEST_OP_MOCK_DOMAIN = 2,
	KABI_TEST_OP_MD_CHECK_MAP = 3,
	KABI_TEST_OP_MD_CHECK_REFS = 4,
	KABI_TEST_OP_CREATE_ACCESS = 5,
	KABI_TEST_OP_DESTROY_ACCESS_PAGES = 6,
	KABI_TEST_OP_ACCESS_PAGES = 7,
	KABI_TEST_OP_ACCESS_RW = 8,
	KABI_TEST_OP_SET_TEMP_MEMORY_LIMIT = 9,
	KABI_TEST_OP_MOCK_DOMAIN_REPLACE = 10,
	KABI_TEST_OP_ACCESS_REPLACE_IOAS = 11,
	KABI_TEST_OP_MOCK_DOMAIN_FLAGS = 12,
	KABI_TEST_OP_DIRTY = 13,
	KABI_TEST_OP_MD_CHECK_IOTLB = 14,
	KABI_TEST_OP_TRIGGER_IOPF = 15,
	KABI_TEST_OP_DEV_CHECK_CACHE = 16,
	KABI_TEST_OP_TRIGGER_VEVENT = 17,
	KABI_TEST_OP_PASID_ATTACH = 18,
	KABI_TEST_OP_PASID_REPLACE = 19,
	KABI_TEST_OP_PASID_DETACH = 20,
	KABI_TEST_OP_PASID_CHECK_HWPT = 21,
};

enum {
	KABI_MOCK_APERTURE_START = 1ul << 24,
	KABI_MOCK_APERTURE_LAST = (1ul << 31) - 1,
	KABI_MOCK_PAGE_SIZE = 2048,
	KABI_MOCK_ACCESS_RW_WRITE = 1 << 0,
	KABI_MOCK_ACCESS_RW_SLOW_PATH = 1 << 2,
	KABI_MOCK_FLAGS_DEVICE_NO_DIRTY = 1 << 0,
	KABI_MOCK_FLAGS_DEVICE_PASID = 1 << 2,
	KABI_MOCK_PASID_WIDTH = 20,
	/* PASID_ATTACH of this PASID injects -ENOMEM to test rollback: avoid it. */
	KABI_IOMMU_TEST_PASID_RESERVED = 1024,
};

struct kabi_iommu_test_cmd {
	uint32_t size;
	uint32_t op;
	uint32_t id;
	uint32_t reserved;
	union {
		struct {
			KABI_ALIGNED_U64 start;
			KABI_ALIGNED_U64 length;
		} add_reserved;
		struct {
			uint32_t out_stdev_id;
			uint32_t out_hwpt_id;
			uint32_t out_idev_id;
			uint32_t dev_flags;
		} mock_domain_flags;
		struct {
			uint32_t pt_id;
		} mock_domain_replace;
		struct {
			KABI_ALIGNED_U64 iova;
			KABI_ALIGNED_U64 length;
			KABI_ALIGNED_U64 uptr;
		} check_map;
		struct {
			uint32_t out_access_fd;
			uint32_t flags;
		} create_access;
		struct {
			KABI_ALIGNED_U64 iova;
			KABI_ALIGNED_U64 length;
			KABI_ALIGNED_U64 uptr;
			uint32_t flags;
		} access_rw;
		struct {
			uint32_t dev_id;
			uint32_t pasid;
			uint32_t grpid;
			uint32_t perm;
			uint64_t addr;
		} trigger_iopf;
		struct {
			uint32_t pasid;
			uint32_t pt_id;
		} pasid_attach; /* also pasid_replace */
		struct {
			uint32_t pasid;
		} pasid_detach;
		struct {
			uint32_t pasid;
			uint32_t hwpt_id; /* 0: expect detached */
		} pasid_check;
		/* The largest member (dirty tracking) fixes the union at 48 bytes. */
		uint8_t union_size[48];
	};
	uint32_t last;
};

KABI_PIN(kabi_iommu_test_cmd, 72);
KABI_AT(kabi_iommu_test_cmd, op, 4);
KABI_AT(kabi_iommu_test_cmd, id, 8);
KABI_AT(kabi_iommu_test_cmd, mock_domain_flags.out_stdev_id, 16);
KABI_AT(kabi_iommu_test_cmd, mock_domain_flags.out_hwpt_id, 20);
KABI_AT(kabi_iommu_test_cmd, mock_domain_flags.out_idev_id, 24);
KABI_AT(kabi_iommu_test_cmd, mock_domain_flags.dev_flags, 28);
KABI_AT(kabi_iommu_test_cmd, check_map.uptr, 32);
KABI_AT(kabi_iommu_test_cmd, access_rw.flags, 40);
KABI_AT(kabi_iommu_test_cmd, trigger_iopf.perm, 28);
KABI_AT(kabi_iommu_test_cmd, trigger_iopf.addr, 32);
KABI_AT(kabi_iommu_test_cmd, pasid_check.hwpt_id, 20);
KABI_AT(kabi_iommu_test_cmd, last, 64);

#endif /* LIBSVA_KABI_SELFTEST_H */
