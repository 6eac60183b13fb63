/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The Linux iommufd and VFIO cdev ABI that libsva uses, written by the project.
 *
 * Why not <linux/iommufd.h>: distributions ship uAPI headers that predate PASID
 * attach and fault queues (Debian 12 has 6.1), and libsva must build there.  Every
 * name carries a KABI_ prefix so this header can sit beside the system's headers
 * (tests/abi/check-kabi.c includes both and compares them).  Layouts are facts of
 * the kernel ABI; the _Static_asserts below pin them so a typo cannot ship.
 */
#ifndef LIBSVA_KABI_H
#define LIBSVA_KABI_H

#include <stddef.h>
#include <stdint.h>
#include <sys/ioctl.h>

#define KABI_ALIGNED_U64 uint64_t __attribute__((aligned(8)))

/* ---------------------------------------------------------------- iommufd */

#define KABI_IOMMUFD_TYPE ';'

enum {
	KABI_IOMMUFD_CMD_DESTROY = 0x80,
	KABI_IOMMUFD_CMD_IOAS_ALLOC = 0x81,
	KABI_IOMMUFD_CMD_IOAS_ALLOW_IOVAS = 0x82,
	KABI_IOMMUFD_CMD_IOAS_COPY = 0x83,
	KABI_IOMMUFD_CMD_IOAS_IOVA_RANGES = 0x84,
	KABI_IOMMUFD_CMD_IOAS_MAP = 0x85,
	KABI_IOMMUFD_CMD_IOAS_UNMAP = 0x86,
	KABI_IOMMUFD_CMD_OPTION = 0x87,
	KABI_IOMMUFD_CMD_VFIO_IOAS = 0x88,
	KABI_IOMMUFD_CMD_HWPT_ALLOC = 0x89,
	KABI_IOMMUFD_CMD_GET_HW_INFO = 0x8a,
	KABI_IOMMUFD_CMD_FAULT_QUEUE_ALLOC = 0x8e,
	KABI_IOMMUFD_CMD_IOAS_MAP_FILE = 0x8f,
};

#define KABI_IOMMU_DESTROY _IO(KABI_IOMMUFD_TYPE, KABI_IOMMUFD_CMD_DESTROY)
#define KABI_IOMMU_IOAS_ALLOC _IO(KABI_IOMMUFD_TYPE, KABI_IOMMUFD_CMD_IOAS_ALLOC)
#define KABI_IOMMU_IOAS_IOVA_RANGES _IO(KABI_IOMMUFD_TYPE, KABI_IOMMUFD_CMD_IOAS_IOVA_RANGES)
#define KABI_IOMMU_IOAS_MAP _IO(KABI_IOMMUFD_TYPE, KABI_IOMMUFD_CMD_IOAS_MAP)
#define KABI_IOMMU_IOAS_UNMAP _IO(KABI_IOMMUFD_TYPE, KABI_IOMMUFD_CMD_IOAS_UNMAP)
#define KABI_IOMMU_IOAS_MAP_FILE _IO(KABI_IOMMUFD_TYPE, KABI_IOMMUFD_CMD_IOAS_MAP_FILE)
#define KABI_IOMMU_OPTION _IO(KABI_IOMMUFD_TYPE, KABI_IOMMUFD_CMD_OPTION)
#define KABI_IOMMU_HWPT_ALLOC _IO(KABI_IOMMUFD_TYPE, KABI_IOMMUFD_CMD_HWPT_ALLOC)
#define KABI_IOMMU_GET_HW_INFO _IO(KABI_IOMMUFD_TYPE, KABI_IOMMUFD_CMD_GET_HW_INFO)
#define KABI_IOMMU_FAULT_QUEUE_ALLOC _IO(KABI_IOMMUFD_TYPE, KABI_IOMMUFD_CMD_FAULT_QUEUE_ALLOC)

struct kabi_iommu_destroy {
	uint32_t size;
	uint32_t id;
};

struct kabi_iommu_ioas_alloc {
	uint32_t size;
	uint32_t flags;
	uint32_t out_ioas_id;
};

struct kabi_iommu_iova_range {
	KABI_ALIGNED_U64 start;
	KABI_ALIGNED_U64 last;
};

struct kabi_iommu_ioas_iova_ranges {
	uint32_t size;
	uint32_t ioas_id;
	uint32_t num_iovas;
	uint32_t reserved;
	KABI_ALIGNED_U64 allowed_iovas;
	KABI_ALIGNED_U64 out_iova_alignment;
};

enum {
	KABI_IOMMU_IOAS_MAP_FIXED_IOVA = 1u << 0,
	KABI_IOMMU_IOAS_MAP_WRITEABLE = 1u << 1,
	KABI_IOMMU_IOAS_MAP_READABLE = 1u << 2,
};

struct kabi_iommu_ioas_map {
	uint32_t size;
	uint32_t flags;
	uint32_t ioas_id;
	uint32_t reserved;
	KABI_ALIGNED_U64 user_va;
	KABI_ALIGNED_U64 length;
	KABI_ALIGNED_U64 iova;
};

struct kabi_iommu_ioas_map_file {
	uint32_t size;
	uint32_t flags;
	uint32_t ioas_id;
	int32_t fd;
	KABI_ALIGNED_U64 start;
	KABI_ALIGNED_U64 length;
	KABI_ALIGNED_U64 iova;
};

struct kabi_iommu_ioas_unmap {
	uint32_t size;
	uint32_t ioas_id;
	KABI_ALIGNED_U64 iova;
	KABI_ALIGNED_U64 length;
};

enum {
	KABI_IOMMU_OPTION_RLIMIT_MODE = 0,
	KABI_IOMMU_OPTION_HUGE_PAGES = 1,
	KABI_IOMMU_OPTION_OP_SET = 0,
	KABI_IOMMU_OPTION_OP_GET = 1,
};

struct kabi_iommu_option {
	uint32_t size;
	uint32_t option_id;
	uint16_t op;
	uint16_t reserved;
	uint32_t object_id;
	KABI_ALIGNED_U64 val64;
};

enum {
	KABI_IOMMU_HWPT_ALLOC_NEST_PARENT = 1u << 0,
	KABI_IOMMU_HWPT_ALLOC_DIRTY_TRACKING = 1u << 1,
	KABI_IOMMU_HWPT_FAULT_ID_VALID = 1u << 2,
	KABI_IOMMU_HWPT_ALLOC_PASID = 1u << 3,
};

enum {
	KABI_IOMMU_HWPT_DATA_NONE = 0,
	KABI_IOMMU_HWPT_DATA_SELFTEST = 0xdead, /* only with CONFIG_IOMMUFD_TEST */
};

struct kabi_iommu_hwpt_alloc {
	uint32_t size;
	uint32_t flags;
	uint32_t dev_id;
	uint32_t pt_id;
	uint32_t out_hwpt_id;
	uint32_t reserved;
	uint32_t data_type;
	uint32_t data_len;
	KABI_ALIGNED_U64 data_uptr;
	uint32_t fault_id;
	uint32_t reserved2;
};

enum {
	KABI_IOMMU_HW_INFO_TYPE_NONE = 0,
	KABI_IOMMU_HW_INFO_TYPE_INTEL_VTD = 1,
	KABI_IOMMU_HW_INFO_TYPE_ARM_SMMUV3 = 2,
	KABI_IOMMU_HW_INFO_TYPE_TEGRA241_CMDQV = 3,
	KABI_IOMMU_HW_INFO_TYPE_AMD = 4,
	KABI_IOMMU_HW_INFO_TYPE_SELFTEST = 0xfeedbeef, /* only with CONFIG_IOMMUFD_TEST */
};

enum {
	KABI_IOMMU_HW_CAP_DIRTY_TRACKING = 1u << 0,
	KABI_IOMMU_HW_CAP_PCI_PASID_EXEC = 1u << 1,
	KABI_IOMMU_HW_CAP_PCI_PASID_PRIV = 1u << 2,
	KABI_IOMMU_HW_CAP_PCI_ATS_NOT_SUPPORTED = 1u << 3,
};

struct kabi_iommu_hw_info {
	uint32_t size;
	uint32_t flags;
	uint32_t dev_id;
	uint32_t data_len;
	KABI_ALIGNED_U64 data_uptr;
	uint32_t out_data_type; /* in_data_type with IOMMU_HW_INFO_FLAG_INPUT_TYPE */
	uint8_t out_max_pasid_log2;
	uint8_t reserved[3];
	KABI_ALIGNED_U64 out_capabilities;
};

enum {
	KABI_IOMMU_PGFAULT_FLAGS_PASID_VALID = 1u << 0,
	KABI_IOMMU_PGFAULT_FLAGS_LAST_PAGE = 1u << 1,
	/* Every other bit is reserved; Intel leaks an internal bit 2, so mask. */
	KABI_IOMMU_PGFAULT_FLAGS_KNOWN = (1u << 0) | (1u << 1),
};

enum {
	KABI_IOMMU_PGFAULT_PERM_READ = 1u << 0,
	KABI_IOMMU_PGFAULT_PERM_WRITE = 1u << 1,
	KABI_IOMMU_PGFAULT_PERM_EXEC = 1u << 2,
	KABI_IOMMU_PGFAULT_PERM_PRIV = 1u << 3,
};

struct kabi_iommu_hwpt_pgfault {
	uint32_t flags;
	uint32_t dev_id;
	uint32_t pasid;
	uint32_t grpid;
	uint32_t perm;
	uint32_t reserved;
	KABI_ALIGNED_U64 addr;
	uint32_t length;
	uint32_t cookie;
};

enum {
	KABI_IOMMUFD_PAGE_RESP_SUCCESS = 0,
	KABI_IOMMUFD_PAGE_RESP_INVALID = 1,
};

struct kabi_iommu_hwpt_page_response {
	uint32_t cookie;
	uint32_t code;
};

struct kabi_iommu_fault_alloc {
	uint32_t size;
	uint32_t flags;
	uint32_t out_fault_id;
	uint32_t out_fault_fd;
};

/* ------------------------------------------------------------------- VFIO */

#define KABI_VFIO_TYPE ';'
#define KABI_VFIO_BASE 100

#define KABI_VFIO_DEVICE_GET_INFO _IO(KABI_VFIO_TYPE, KABI_VFIO_BASE + 7)
#define KABI_VFIO_DEVICE_GET_REGION_INFO _IO(KABI_VFIO_TYPE, KABI_VFIO_BASE + 8)
#define KABI_VFIO_DEVICE_RESET _IO(KABI_VFIO_TYPE, KABI_VFIO_BASE + 11)
#define KABI_VFIO_DEVICE_BIND_IOMMUFD _IO(KABI_VFIO_TYPE, KABI_VFIO_BASE + 18)
#define KABI_VFIO_DEVICE_ATTACH_IOMMUFD_PT _IO(KABI_VFIO_TYPE, KABI_VFIO_BASE + 19)
#define KABI_VFIO_DEVICE_DETACH_IOMMUFD_PT _IO(KABI_VFIO_TYPE, KABI_VFIO_BASE + 20)

enum {
	KABI_VFIO_DEVICE_FLAGS_RESET = 1u << 0,
	KABI_VFIO_DEVICE_FLAGS_PCI = 1u << 1,
	KABI_VFIO_REGION_INFO_FLAG_READ = 1u << 0,
	KABI_VFIO_REGION_INFO_FLAG_WRITE = 1u << 1,
	KABI_VFIO_REGION_INFO_FLAG_MMAP = 1u << 2,
	KABI_VFIO_PCI_BAR0_REGION_INDEX = 0,
	KABI_VFIO_PCI_CONFIG_REGION_INDEX = 7,
	KABI_VFIO_DEVICE_ATTACH_PASID = 1u << 0,
	KABI_VFIO_DEVICE_DETACH_PASID = 1u << 0,
};

struct kabi_vfio_device_info {
	uint32_t argsz;
	uint32_t flags;
	uint32_t num_regions;
	uint32_t num_irqs;
	uint32_t cap_offset;
	uint32_t pad;
};

struct kabi_vfio_region_info {
	uint32_t argsz;
	uint32_t flags;
	uint32_t index;
	uint32_t cap_offset;
	KABI_ALIGNED_U64 size;
	KABI_ALIGNED_U64 offset;
};

struct kabi_vfio_device_bind_iommufd {
	uint32_t argsz;
	uint32_t flags;
	int32_t iommufd;
	uint32_t out_devid;
	/* 6.18+: token_uuid_ptr follows; older kernels reject an argsz this large
	 * only if the tail is non-zero, so libsva passes the short form. */
};

struct kabi_vfio_device_attach_iommufd_pt {
	uint32_t argsz;
	uint32_t flags;
	uint32_t pt_id;
	uint32_t pasid;
};

struct kabi_vfio_device_detach_iommufd_pt {
	uint32_t argsz;
	uint32_t flags;
	uint32_t pasid;
};

/* ----------------------------------------------------------- layout pins */

#define KABI_PIN(type, size_) _Static_assert(sizeof(struct type) == (size_), #type " size")
#define KABI_AT(type, field, off) \
	_Static_assert(offsetof(struct type, field) == (off), #type "." #field " offset")

KABI_PIN(kabi_iommu_destroy, 8);
KABI_AT(kabi_iommu_destroy, id, 4);
KABI_PIN(kabi_iommu_ioas_alloc, 12);
KABI_AT(kabi_iommu_ioas_alloc, out_ioas_id, 8);
KABI_PIN(kabi_iommu_iova_range, 16);
KABI_AT(kabi_iommu_iova_range, last, 8);
KABI_PIN(kabi_iommu_ioas_iova_ranges, 32);
KABI_AT(kabi_iommu_ioas_iova_ranges, ioas_id, 4);
KABI_AT(kabi_iommu_ioas_iova_ranges, num_iovas, 8);
KABI_AT(kabi_iommu_ioas_iova_ranges, allowed_iovas, 16);
KABI_AT(kabi_iommu_ioas_iova_ranges, out_iova_alignment, 24);
KABI_PIN(kabi_iommu_ioas_map, 40);
KABI_AT(kabi_iommu_ioas_map, flags, 4);
KABI_AT(kabi_iommu_ioas_map, ioas_id, 8);
KABI_AT(kabi_iommu_ioas_map, user_va, 16);
KABI_AT(kabi_iommu_ioas_map, length, 24);
KABI_AT(kabi_iommu_ioas_map, iova, 32);
KABI_PIN(kabi_iommu_ioas_map_file, 40);
KABI_AT(kabi_iommu_ioas_map_file, fd, 12);
KABI_AT(kabi_iommu_ioas_map_file, start, 16);
KABI_AT(kabi_iommu_ioas_map_file, length, 24);
KABI_AT(kabi_iommu_ioas_map_file, iova, 32);
KABI_PIN(kabi_iommu_ioas_unmap, 24);
KABI_AT(kabi_iommu_ioas_unmap, ioas_id, 4);
KABI_AT(kabi_iommu_ioas_unmap, iova, 8);
KABI_AT(kabi_iommu_ioas_unmap, length, 16);
KABI_PIN(kabi_iommu_option, 24);
KABI_AT(kabi_iommu_option, option_id, 4);
KABI_AT(kabi_iommu_option, op, 8);
KABI_AT(kabi_iommu_option, object_id, 12);
KABI_AT(kabi_iommu_option, val64, 16);
KABI_PIN(kabi_iommu_hwpt_alloc, 48);
KABI_AT(kabi_iommu_hwpt_alloc, flags, 4);
KABI_AT(kabi_iommu_hwpt_alloc, dev_id, 8);
KABI_AT(kabi_iommu_hwpt_alloc, pt_id, 12);
KABI_AT(kabi_iommu_hwpt_alloc, out_hwpt_id, 16);
KABI_AT(kabi_iommu_hwpt_alloc, data_type, 24);
KABI_AT(kabi_iommu_hwpt_alloc, data_len, 28);
KABI_AT(kabi_iommu_hwpt_alloc, data_uptr, 32);
KABI_AT(kabi_iommu_hwpt_alloc, fault_id, 40);
KABI_PIN(kabi_iommu_hw_info, 40);
KABI_AT(kabi_iommu_hw_info, dev_id, 8);
KABI_AT(kabi_iommu_hw_info, data_len, 12);
KABI_AT(kabi_iommu_hw_info, data_uptr, 16);
KABI_AT(kabi_iommu_hw_info, out_data_type, 24);
KABI_AT(kabi_iommu_hw_info, out_max_pasid_log2, 28);
KABI_AT(kabi_iommu_hw_info, out_capabilities, 32);
KABI_PIN(kabi_iommu_hwpt_pgfault, 40);
KABI_AT(kabi_iommu_hwpt_pgfault, dev_id, 4);
KABI_AT(kabi_iommu_hwpt_pgfault, pasid, 8);
KABI_AT(kabi_iommu_hwpt_pgfault, grpid, 12);
KABI_AT(kabi_iommu_hwpt_pgfault, perm, 16);
KABI_AT(kabi_iommu_hwpt_pgfault, addr, 24);
KABI_AT(kabi_iommu_hwpt_pgfault, length, 32);
KABI_AT(kabi_iommu_hwpt_pgfault, cookie, 36);
KABI_PIN(kabi_iommu_hwpt_page_response, 8);
KABI_AT(kabi_iommu_hwpt_page_response, code, 4);
KABI_PIN(kabi_iommu_fault_alloc, 16);
KABI_AT(kabi_iommu_fault_alloc, out_fault_id, 8);
KABI_AT(kabi_iommu_fault_alloc, out_fault_fd, 12);
KABI_PIN(kabi_vfio_device_info, 24);
KABI_AT(kabi_vfio_device_info, num_regions, 8);
KABI_AT(kabi_vfio_device_info, cap_offset, 16);
KABI_PIN(kabi_vfio_region_info, 32);
KABI_AT(kabi_vfio_region_info, index, 8);
KABI_AT(kabi_vfio_region_info, size, 16);
KABI_AT(kabi_vfio_region_info, offset, 24);
KABI_PIN(kabi_vfio_device_bind_iommufd, 16);
KABI_AT(kabi_vfio_device_bind_iommufd, iommufd, 8);
KABI_AT(kabi_vfio_device_bind_iommufd, out_devid, 12);
KABI_PIN(kabi_vfio_device_attach_iommufd_pt, 16);
KABI_AT(kabi_vfio_device_attach_iommufd_pt, pt_id, 8);
KABI_AT(kabi_vfio_device_attach_iommufd_pt, pasid, 12);
KABI_PIN(kabi_vfio_device_detach_iommufd_pt, 12);
KABI_AT(kabi_vfio_device_detach_iommufd_pt, pasid, 8);

/* ------------------------------------------------ futex and membarrier (lock.c) */

#define KABI_FUTEX_WAIT 0
#define KABI_FUTEX_WAKE 1
#define KABI_FUTEX_PRIVATE_FLAG 128
/* The fault thread's stop word, waited on in its io_uring (fault_thread.c):
 * IORING_OP_FUTEX_WAIT (Linux 6.7; liburing 2.3 has no helper for it).  Its
 * SQE takes the futex2 flags in fd, the value in addr2, the mask in addr3;
 * len and futex_flags must be 0. */
#define KABI_IORING_OP_FUTEX_WAIT 51
#define KABI_FUTEX2_SIZE_U32 0x02
#define KABI_FUTEX2_PRIVATE 128
#define KABI_FUTEX_BITSET_MATCH_ANY 0xffffffffu
/* Where that SQE's fields are (liburing 2.3's struct io_uring_sqe names
 * addr2 off; fault_thread.c asserts both). */
#define KABI_SQE_OFF_ADDR2 8
#define KABI_SQE_OFF_ADDR3 48
#define KABI_MEMBARRIER_CMD_QUERY 0
#define KABI_MEMBARRIER_CMD_PRIVATE_EXPEDITED (1 << 3)
#define KABI_MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED (1 << 4)

/* ------------------------------------------------ userfaultfd (track.c) */

/*
 * Only what coherence tracking uses: the API handshake, WP-only registration
 * and the non-cooperative events (UNMAP, REMOVE, REMAP).  Debian 12's headers
 * lack UFFD_USER_MODE_ONLY's newer features (WP_ASYNC), hence our own copy.
 */
#define KABI_UFFD_API 0xAAull
#define KABI_UFFD_USER_MODE_ONLY 1
#define KABI_UFFDIO 0xAA
#define KABI_UFFDIO_REGISTER_MODE_WP (1ull << 1)

#define KABI_UFFD_EVENT_PAGEFAULT 0x12
#define KABI_UFFD_EVENT_FORK 0x13
#define KABI_UFFD_EVENT_REMAP 0x14
#define KABI_UFFD_EVENT_REMOVE 0x15
#define KABI_UFFD_EVENT_UNMAP 0x16

#define KABI_UFFD_FEATURE_PAGEFAULT_FLAG_WP (1ull << 0)
#define KABI_UFFD_FEATURE_EVENT_REMAP (1ull << 2)
#define KABI_UFFD_FEATURE_EVENT_REMOVE (1ull << 3)
#define KABI_UFFD_FEATURE_EVENT_UNMAP (1ull << 6)
#define KABI_UFFD_FEATURE_WP_HUGETLBFS_SHMEM (1ull << 12)
#define KABI_UFFD_FEATURE_WP_ASYNC (1ull << 15)

struct kabi_uffdio_api {
	uint64_t api;
	uint64_t features;
	uint64_t ioctls;
};

struct kabi_uffdio_range {
	uint64_t start;
	uint64_t len;
};

struct kabi_uffdio_register {
	struct kabi_uffdio_range range;
	uint64_t mode;
	uint64_t ioctls;
};

struct kabi_uffd_msg {
	uint8_t event;
	uint8_t reserved1;
	uint16_t reserved2;
	uint32_t reserved3;
	union {
		struct {
			uint64_t from, to, len;
		} remap;
		struct {
			uint64_t start, end;
		} remove; /* also UNMAP */
		struct {
			uint64_t r1, r2, r3;
		} reserved;
	} arg;
} __attribute__((packed));

/*
 * /dev/userfaultfd (Linux 6.1): its one ioctl makes a userfaultfd, taking the
 * userfaultfd(2) flags as its argument.  Access is the device node's mode
 * (0600 root unless udev says otherwise), not the system call's: a seccomp
 * filter on userfaultfd(2) does not see it, and neither the sysctl
 * vm.unprivileged_userfaultfd nor CAP_SYS_PTRACE applies.
 */
#define KABI_USERFAULTFD_IOC 0xAA
#define KABI_USERFAULTFD_IOC_NEW _IO(KABI_USERFAULTFD_IOC, 0x00)
#define KABI_USERFAULTFD_PATH "/dev/userfaultfd"

_Static_assert(KABI_USERFAULTFD_IOC_NEW == 0xAA00, "USERFAULTFD_IOC_NEW: _IO(0xAA, 0), no size, no direction");

#define KABI_UFFDIO_API _IOWR(KABI_UFFDIO, 0x3F, struct kabi_uffdio_api)
#define KABI_UFFDIO_REGISTER _IOWR(KABI_UFFDIO, 0x00, struct kabi_uffdio_register)
#define KABI_UFFDIO_UNREGISTER _IOR(KABI_UFFDIO, 0x01, struct kabi_uffdio_range)

KABI_PIN(kabi_uffdio_api, 24);
KABI_AT(kabi_uffdio_api, features, 8);
KABI_PIN(kabi_uffdio_register, 32);
KABI_AT(kabi_uffdio_register, mode, 16);
KABI_PIN(kabi_uffd_msg, 32);
KABI_AT(kabi_uffd_msg, arg, 8);
KABI_AT(kabi_uffd_msg, arg.remap.to, 16);
KABI_AT(kabi_uffd_msg, arg.remap.len, 24);
KABI_AT(kabi_uffd_msg, arg.remove.end, 16);

/* ------------------------------------------ PROCMAP_QUERY (vma_query.c) */

/*
 * One VMA of /proc/self/maps by address (Linux 6.11): an ioctl on the maps
 * file instead of reading all of it.  Only the fields libsva reads are used;
 * no name or build ID is asked for (their sizes stay 0).
 */
#define KABI_PROCFS_IOCTL_MAGIC 'f'
#define KABI_PROCMAP_QUERY_VMA_READABLE 0x01
#define KABI_PROCMAP_QUERY_VMA_WRITABLE 0x02
#define KABI_PROCMAP_QUERY_VMA_EXECUTABLE 0x04
#define KABI_PROCMAP_QUERY_VMA_SHARED 0x08
#define KABI_PROCMAP_QUERY_COVERING_OR_NEXT_VMA 0x10

struct kabi_procmap_query {
	uint64_t size;
	uint64_t query_flags;
	uint64_t query_addr;
	uint64_t vma_start;
	uint64_t vma_end;
	uint64_t vma_flags;
	uint64_t vma_page_size;
	uint64_t vma_offset;
	uint64_t inode;
	uint32_t dev_major;
	uint32_t dev_minor;
	uint32_t vma_name_size;
	uint32_t build_id_size;
	uint64_t vma_name_addr;
	uint64_t build_id_addr;
};

#define KABI_PROCMAP_QUERY _IOWR(KABI_PROCFS_IOCTL_MAGIC, 17, struct kabi_procmap_query)

KABI_PIN(kabi_procmap_query, 104);
KABI_AT(kabi_procmap_query, query_addr, 16);
KABI_AT(kabi_procmap_query, vma_flags, 40);
KABI_AT(kabi_procmap_query, vma_page_size, 48);
KABI_AT(kabi_procmap_query, vma_name_size, 80);
KABI_AT(kabi_procmap_query, build_id_addr, 96);

#endif /* LIBSVA_KABI_H */
