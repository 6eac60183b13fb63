/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Compare libsva's own kernel ABI (libsva/kabi.h) with the Linux uAPI headers
 * this test was compiled against: every struct size, field offset, ioctl number
 * and flag value libsva uses.  Built with -isystem pointing at the newest uAPI
 * headers configure was given (--with-uapi-headers); CI passes Debian's 7.x.
 */
#include <stddef.h>
#if __has_include(<linux/iommufd.h>)
#include <linux/iommufd.h>
#endif
#include <linux/fs.h>
#include <linux/futex.h>
#include <linux/io_uring.h>
#include <linux/membarrier.h>
#include <linux/userfaultfd.h>
#include <linux/vfio.h>

#include "kabi.h"
#include "../tap.h"

#define SAME_SIZE(ours, theirs) \
	is_int(sizeof(struct ours), sizeof(struct theirs), "sizeof(" #ours ") == sizeof(" #theirs ")")
#define SAME_OFF(ours, theirs, f1, f2)                                                   \
	is_int(offsetof(struct ours, f1), offsetof(struct theirs, f2), #ours "." #f1 " at " \
	       "offsetof(" #theirs "." #f2 ")")
#define SAME_FIELD(ours, theirs, f) SAME_OFF(ours, theirs, f, f)
#define SAME_VAL(ours, theirs) is_int(ours, theirs, #ours " == " #theirs)

int main(void)
{
#if !defined(IOMMU_FAULT_QUEUE_ALLOC) || !defined(VFIO_DEVICE_ATTACH_PASID) || !defined(IOMMU_IOAS_MAP_FILE) || \
	!defined(PROCMAP_QUERY)
	skip_all("the uAPI headers compiled against predate PASID attach (need Linux 6.15+); "
		 "configure --with-uapi-headers=DIR (Debian: linux-libc-dev 7.x unpacked with dpkg-deb -x)");
#else
	/* ioctl numbers */
	SAME_VAL(KABI_IOMMU_DESTROY, IOMMU_DESTROY);
	SAME_VAL(KABI_IOMMU_IOAS_ALLOC, IOMMU_IOAS_ALLOC);
	SAME_VAL(KABI_IOMMU_IOAS_IOVA_RANGES, IOMMU_IOAS_IOVA_RANGES);
	SAME_VAL(KABI_IOMMU_IOAS_MAP, IOMMU_IOAS_MAP);
	SAME_VAL(KABI_IOMMU_IOAS_UNMAP, IOMMU_IOAS_UNMAP);
	SAME_VAL(KABI_IOMMU_IOAS_MAP_FILE, IOMMU_IOAS_MAP_FILE);
	SAME_VAL(KABI_IOMMU_OPTION, IOMMU_OPTION);
	SAME_VAL(KABI_IOMMU_HWPT_ALLOC, IOMMU_HWPT_ALLOC);
	SAME_VAL(KABI_IOMMU_GET_HW_INFO, IOMMU_GET_HW_INFO);
	SAME_VAL(KABI_IOMMU_FAULT_QUEUE_ALLOC, IOMMU_FAULT_QUEUE_ALLOC);
	SAME_VAL(KABI_VFIO_DEVICE_GET_INFO, VFIO_DEVICE_GET_INFO);
	SAME_VAL(KABI_VFIO_DEVICE_GET_REGION_INFO, VFIO_DEVICE_GET_REGION_INFO);
	SAME_VAL(KABI_VFIO_DEVICE_RESET, VFIO_DEVICE_RESET);
	SAME_VAL(KABI_VFIO_DEVICE_BIND_IOMMUFD, VFIO_DEVICE_BIND_IOMMUFD);
	SAME_VAL(KABI_VFIO_DEVICE_ATTACH_IOMMUFD_PT, VFIO_DEVICE_ATTACH_IOMMUFD_PT);
	SAME_VAL(KABI_VFIO_DEVICE_DETACH_IOMMUFD_PT, VFIO_DEVICE_DETACH_IOMMUFD_PT);

	/* flag and enum values */
	SAME_VAL(KABI_IOMMU_IOAS_MAP_FIXED_IOVA, IOMMU_IOAS_MAP_FIXED_IOVA);
	SAME_VAL(KABI_IOMMU_IOAS_MAP_WRITEABLE, IOMMU_IOAS_MAP_WRITEABLE);
	SAME_VAL(KABI_IOMMU_IOAS_MAP_READABLE, IOMMU_IOAS_MAP_READABLE);
	SAME_VAL(KABI_IOMMU_OPTION_RLIMIT_MODE, IOMMU_OPTION_RLIMIT_MODE);
	SAME_VAL(KABI_IOMMU_OPTION_HUGE_PAGES, IOMMU_OPTION_HUGE_PAGES);
	SAME_VAL(KABI_IOMMU_OPTION_OP_SET, IOMMU_OPTION_OP_SET);
	SAME_VAL(KABI_IOMMU_OPTION_OP_GET, IOMMU_OPTION_OP_GET);
	SAME_VAL(KABI_IOMMU_HWPT_ALLOC_NEST_PARENT, IOMMU_HWPT_ALLOC_NEST_PARENT);
	SAME_VAL(KABI_IOMMU_HWPT_ALLOC_DIRTY_TRACKING, IOMMU_HWPT_ALLOC_DIRTY_TRACKING);
	SAME_VAL(KABI_IOMMU_HWPT_FAULT_ID_VALID, IOMMU_HWPT_FAULT_ID_VALID);
	SAME_VAL(KABI_IOMMU_HWPT_ALLOC_PASID, IOMMU_HWPT_ALLOC_PASID);
	SAME_VAL(KABI_IOMMU_HWPT_DATA_NONE, IOMMU_HWPT_DATA_NONE);
	SAME_VAL(KABI_IOMMU_HW_INFO_TYPE_NONE, IOMMU_HW_INFO_TYPE_NONE);
	SAME_VAL(KABI_IOMMU_HW_INFO_TYPE_INTEL_VTD, IOMMU_HW_INFO_TYPE_INTEL_VTD);
	SAME_VAL(KABI_IOMMU_HW_INFO_TYPE_ARM_SMMUV3, IOMMU_HW_INFO_TYPE_ARM_SMMUV3);
	SAME_VAL(KABI_IOMMU_HW_CAP_DIRTY_TRACKING, IOMMU_HW_CAP_DIRTY_TRACKING);
	SAME_VAL(KABI_IOMMU_HW_CAP_PCI_PASID_EXEC, IOMMU_HW_CAP_PCI_PASID_EXEC);
	SAME_VAL(KABI_IOMMU_HW_CAP_PCI_PASID_PRIV, IOMMU_HW_CAP_PCI_PASID_PRIV);
	SAME_VAL(KABI_IOMMU_PGFAULT_FLAGS_PASID_VALID, IOMMU_PGFAULT_FLAGS_PASID_VALID);
	SAME_VAL(KABI_IOMMU_PGFAULT_FLAGS_LAST_PAGE, IOMMU_PGFAULT_FLAGS_LAST_PAGE);
	SAME_VAL(KABI_IOMMU_PGFAULT_PERM_READ, IOMMU_PGFAULT_PERM_READ);
	SAME_VAL(KABI_IOMMU_PGFAULT_PERM_WRITE, IOMMU_PGFAULT_PERM_WRITE);
	SAME_VAL(KABI_IOMMU_PGFAULT_PERM_EXEC, IOMMU_PGFAULT_PERM_EXEC);
	SAME_VAL(KABI_IOMMU_PGFAULT_PERM_PRIV, IOMMU_PGFAULT_PERM_PRIV);
	SAME_VAL(KABI_IOMMUFD_PAGE_RESP_SUCCESS, IOMMUFD_PAGE_RESP_SUCCESS);
	SAME_VAL(KABI_IOMMUFD_PAGE_RESP_INVALID, IOMMUFD_PAGE_RESP_INVALID);
	SAME_VAL(KABI_VFIO_DEVICE_FLAGS_RESET, VFIO_DEVICE_FLAGS_RESET);
	SAME_VAL(KABI_VFIO_DEVICE_FLAGS_PCI, VFIO_DEVICE_FLAGS_PCI);
	SAME_VAL(KABI_VFIO_REGION_INFO_FLAG_READ, VFIO_REGION_INFO_FLAG_READ);
	SAME_VAL(KABI_VFIO_REGION_INFO_FLAG_WRITE, VFIO_REGION_INFO_FLAG_WRITE);
	SAME_VAL(KABI_VFIO_REGION_INFO_FLAG_MMAP, VFIO_REGION_INFO_FLAG_MMAP);
	SAME_VAL(KABI_VFIO_PCI_BAR0_REGION_INDEX, VFIO_PCI_BAR0_REGION_INDEX);
	SAME_VAL(KABI_VFIO_PCI_CONFIG_REGION_INDEX, VFIO_PCI_CONFIG_REGION_INDEX);
	SAME_VAL(KABI_VFIO_DEVICE_ATTACH_PASID, VFIO_DEVICE_ATTACH_PASID);
	SAME_VAL(KABI_VFIO_DEVICE_DETACH_PASID, VFIO_DEVICE_DETACH_PASID);
	SAME_VAL(KABI_FUTEX_WAIT, FUTEX_WAIT);
	SAME_VAL(KABI_FUTEX_WAKE, FUTEX_WAKE);
	SAME_VAL(KABI_FUTEX_PRIVATE_FLAG, FUTEX_PRIVATE_FLAG);
	SAME_VAL(KABI_IORING_OP_FUTEX_WAIT, IORING_OP_FUTEX_WAIT);
	SAME_VAL(KABI_FUTEX2_SIZE_U32, FUTEX2_SIZE_U32);
	SAME_VAL(KABI_FUTEX2_PRIVATE, FUTEX2_PRIVATE);
	is_int(KABI_FUTEX_BITSET_MATCH_ANY == FUTEX_BITSET_MATCH_ANY, 1, "KABI_FUTEX_BITSET_MATCH_ANY == FUTEX_BITSET_MATCH_ANY");
	SAME_VAL(KABI_SQE_OFF_ADDR2, offsetof(struct io_uring_sqe, addr2));
	SAME_VAL(KABI_SQE_OFF_ADDR3, offsetof(struct io_uring_sqe, addr3));
	SAME_VAL(KABI_MEMBARRIER_CMD_QUERY, MEMBARRIER_CMD_QUERY);
	SAME_VAL(KABI_MEMBARRIER_CMD_PRIVATE_EXPEDITED, MEMBARRIER_CMD_PRIVATE_EXPEDITED);
	SAME_VAL(KABI_MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED, MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED);
	/* userfaultfd (coherence tracking) */
	SAME_VAL(KABI_UFFD_API, UFFD_API);
	SAME_VAL(KABI_UFFD_USER_MODE_ONLY, UFFD_USER_MODE_ONLY);
	SAME_VAL(KABI_UFFDIO_REGISTER_MODE_WP, UFFDIO_REGISTER_MODE_WP);
	SAME_VAL(KABI_UFFD_EVENT_PAGEFAULT, UFFD_EVENT_PAGEFAULT);
	SAME_VAL(KABI_UFFD_EVENT_FORK, UFFD_EVENT_FORK);
	SAME_VAL(KABI_UFFD_EVENT_REMAP, UFFD_EVENT_REMAP);
	SAME_VAL(KABI_UFFD_EVENT_REMOVE, UFFD_EVENT_REMOVE);
	SAME_VAL(KABI_UFFD_EVENT_UNMAP, UFFD_EVENT_UNMAP);
	SAME_VAL(KABI_UFFD_FEATURE_PAGEFAULT_FLAG_WP, UFFD_FEATURE_PAGEFAULT_FLAG_WP);
	SAME_VAL(KABI_UFFD_FEATURE_EVENT_REMAP, UFFD_FEATURE_EVENT_REMAP);
	SAME_VAL(KABI_UFFD_FEATURE_EVENT_REMOVE, UFFD_FEATURE_EVENT_REMOVE);
	SAME_VAL(KABI_UFFD_FEATURE_EVENT_UNMAP, UFFD_FEATURE_EVENT_UNMAP);
	SAME_VAL(KABI_UFFD_FEATURE_WP_HUGETLBFS_SHMEM, UFFD_FEATURE_WP_HUGETLBFS_SHMEM);
	SAME_VAL(KABI_UFFD_FEATURE_WP_ASYNC, UFFD_FEATURE_WP_ASYNC);
	SAME_VAL(KABI_UFFDIO_API, UFFDIO_API);
	SAME_VAL(KABI_USERFAULTFD_IOC_NEW, USERFAULTFD_IOC_NEW);
	SAME_VAL(KABI_UFFDIO_REGISTER, UFFDIO_REGISTER);
	SAME_VAL(KABI_UFFDIO_UNREGISTER, UFFDIO_UNREGISTER);
	SAME_SIZE(kabi_uffdio_api, uffdio_api);
	SAME_FIELD(kabi_uffdio_api, uffdio_api, features);
	SAME_FIELD(kabi_uffdio_api, uffdio_api, ioctls);
	SAME_SIZE(kabi_uffdio_register, uffdio_register);
	SAME_FIELD(kabi_uffdio_register, uffdio_register, mode);
	SAME_SIZE(kabi_uffd_msg, uffd_msg);
	SAME_FIELD(kabi_uffd_msg, uffd_msg, arg);
	SAME_FIELD(kabi_uffd_msg, uffd_msg, arg.remap.to);
	SAME_FIELD(kabi_uffd_msg, uffd_msg, arg.remap.len);
	SAME_FIELD(kabi_uffd_msg, uffd_msg, arg.remove.end);
	/* PROCMAP_QUERY (the VMAs of a range, vma_query.c) */
	SAME_VAL(KABI_PROCMAP_QUERY, PROCMAP_QUERY);
	SAME_VAL(KABI_PROCMAP_QUERY_VMA_READABLE, PROCMAP_QUERY_VMA_READABLE);
	SAME_VAL(KABI_PROCMAP_QUERY_VMA_WRITABLE, PROCMAP_QUERY_VMA_WRITABLE);
	SAME_VAL(KABI_PROCMAP_QUERY_VMA_SHARED, PROCMAP_QUERY_VMA_SHARED);
	SAME_VAL(KABI_PROCMAP_QUERY_VMA_EXECUTABLE, PROCMAP_QUERY_VMA_EXECUTABLE);
	SAME_VAL(KABI_PROCMAP_QUERY_COVERING_OR_NEXT_VMA, PROCMAP_QUERY_COVERING_OR_NEXT_VMA);
	SAME_SIZE(kabi_procmap_query, procmap_query);
	SAME_FIELD(kabi_procmap_query, procmap_query, query_flags);
	SAME_FIELD(kabi_procmap_query, procmap_query, query_addr);
	SAME_FIELD(kabi_procmap_query, procmap_query, vma_start);
	SAME_FIELD(kabi_procmap_query, procmap_query, vma_end);
	SAME_FIELD(kabi_procmap_query, procmap_query, vma_flags);
	SAME_FIELD(kabi_procmap_query, procmap_query, vma_page_size);
	SAME_FIELD(kabi_procmap_query, procmap_query, vma_name_size);
	SAME_FIELD(kabi_procmap_query, procmap_query, build_id_size);
	SAME_FIELD(kabi_procmap_query, procmap_query, vma_name_addr);
	SAME_FIELD(kabi_procmap_query, procmap_query, build_id_addr);

	/* structs: sizes and every field libsva touches */
	SAME_SIZE(kabi_iommu_destroy, iommu_destroy);
	SAME_FIELD(kabi_iommu_destroy, iommu_destroy, id);
	SAME_SIZE(kabi_iommu_ioas_alloc, iommu_ioas_alloc);
	SAME_FIELD(kabi_iommu_ioas_alloc, iommu_ioas_alloc, flags);
	SAME_FIELD(kabi_iommu_ioas_alloc, iommu_ioas_alloc, out_ioas_id);
	SAME_SIZE(kabi_iommu_iova_range, iommu_iova_range);
	SAME_FIELD(kabi_iommu_iova_range, iommu_iova_range, start);
	SAME_FIELD(kabi_iommu_iova_range, iommu_iova_range, last);
	SAME_SIZE(kabi_iommu_ioas_iova_ranges, iommu_ioas_iova_ranges);
	SAME_FIELD(kabi_iommu_ioas_iova_ranges, iommu_ioas_iova_ranges, ioas_id);
	SAME_FIELD(kabi_iommu_ioas_iova_ranges, iommu_ioas_iova_ranges, num_iovas);
	SAME_FIELD(kabi_iommu_ioas_iova_ranges, iommu_ioas_iova_ranges, allowed_iovas);
	SAME_FIELD(kabi_iommu_ioas_iova_ranges, iommu_ioas_iova_ranges, out_iova_alignment);
	SAME_SIZE(kabi_iommu_ioas_map, iommu_ioas_map);
	SAME_FIELD(kabi_iommu_ioas_map, iommu_ioas_map, flags);
	SAME_FIELD(kabi_iommu_ioas_map, iommu_ioas_map, ioas_id);
	SAME_FIELD(kabi_iommu_ioas_map, iommu_ioas_map, user_va);
	SAME_FIELD(kabi_iommu_ioas_map, iommu_ioas_map, length);
	SAME_FIELD(kabi_iommu_ioas_map, iommu_ioas_map, iova);
	SAME_SIZE(kabi_iommu_ioas_map_file, iommu_ioas_map_file);
	SAME_FIELD(kabi_iommu_ioas_map_file, iommu_ioas_map_file, flags);
	SAME_FIELD(kabi_iommu_ioas_map_file, iommu_ioas_map_file, ioas_id);
	SAME_FIELD(kabi_iommu_ioas_map_file, iommu_ioas_map_file, fd);
	SAME_FIELD(kabi_iommu_ioas_map_file, iommu_ioas_map_file, start);
	SAME_FIELD(kabi_iommu_ioas_map_file, iommu_ioas_map_file, length);
	SAME_FIELD(kabi_iommu_ioas_map_file, iommu_ioas_map_file, iova);
	SAME_SIZE(kabi_iommu_ioas_unmap, iommu_ioas_unmap);
	SAME_FIELD(kabi_iommu_ioas_unmap, iommu_ioas_unmap, ioas_id);
	SAME_FIELD(kabi_iommu_ioas_unmap, iommu_ioas_unmap, iova);
	SAME_FIELD(kabi_iommu_ioas_unmap, iommu_ioas_unmap, length);
	SAME_SIZE(kabi_iommu_option, iommu_option);
	SAME_FIELD(kabi_iommu_option, iommu_option, option_id);
	SAME_FIELD(kabi_iommu_option, iommu_option, op);
	SAME_FIELD(kabi_iommu_option, iommu_option, object_id);
	SAME_FIELD(kabi_iommu_option, iommu_option, val64);
	SAME_SIZE(kabi_iommu_hwpt_alloc, iommu_hwpt_alloc);
	SAME_FIELD(kabi_iommu_hwpt_alloc, iommu_hwpt_alloc, flags);
	SAME_FIELD(kabi_iommu_hwpt_alloc, iommu_hwpt_alloc, dev_id);
	SAME_FIELD(kabi_iommu_hwpt_alloc, iommu_hwpt_alloc, pt_id);
	SAME_FIELD(kabi_iommu_hwpt_alloc, iommu_hwpt_alloc, out_hwpt_id);
	SAME_FIELD(kabi_iommu_hwpt_alloc, iommu_hwpt_alloc, data_type);
	SAME_FIELD(kabi_iommu_hwpt_alloc, iommu_hwpt_alloc, data_len);
	SAME_FIELD(kabi_iommu_hwpt_alloc, iommu_hwpt_alloc, data_uptr);
	SAME_FIELD(kabi_iommu_hwpt_alloc, iommu_hwpt_alloc, fault_id);
	SAME_SIZE(kabi_iommu_hw_info, iommu_hw_info);
	SAME_FIELD(kabi_iommu_hw_info, iommu_hw_info, flags);
	SAME_FIELD(kabi_iommu_hw_info, iommu_hw_info, dev_id);
	SAME_FIELD(kabi_iommu_hw_info, iommu_hw_info, data_len);
	SAME_FIELD(kabi_iommu_hw_info, iommu_hw_info, data_uptr);
	SAME_FIELD(kabi_iommu_hw_info, iommu_hw_info, out_data_type);
	SAME_FIELD(kabi_iommu_hw_info, iommu_hw_info, out_max_pasid_log2);
	SAME_FIELD(kabi_iommu_hw_info, iommu_hw_info, out_capabilities);
	SAME_SIZE(kabi_iommu_hwpt_pgfault, iommu_hwpt_pgfault);
	SAME_FIELD(kabi_iommu_hwpt_pgfault, iommu_hwpt_pgfault, flags);
	SAME_FIELD(kabi_iommu_hwpt_pgfault, iommu_hwpt_pgfault, dev_id);
	SAME_FIELD(kabi_iommu_hwpt_pgfault, iommu_hwpt_pgfault, pasid);
	SAME_FIELD(kabi_iommu_hwpt_pgfault, iommu_hwpt_pgfault, grpid);
	SAME_FIELD(kabi_iommu_hwpt_pgfault, iommu_hwpt_pgfault, perm);
	SAME_FIELD(kabi_iommu_hwpt_pgfault, iommu_hwpt_pgfault, addr);
	SAME_FIELD(kabi_iommu_hwpt_pgfault, iommu_hwpt_pgfault, length);
	SAME_FIELD(kabi_iommu_hwpt_pgfault, iommu_hwpt_pgfault, cookie);
	SAME_SIZE(kabi_iommu_hwpt_page_response, iommu_hwpt_page_response);
	SAME_FIELD(kabi_iommu_hwpt_page_response, iommu_hwpt_page_response, cookie);
	SAME_FIELD(kabi_iommu_hwpt_page_response, iommu_hwpt_page_response, code);
	SAME_SIZE(kabi_iommu_fault_alloc, iommu_fault_alloc);
	SAME_FIELD(kabi_iommu_fault_alloc, iommu_fault_alloc, flags);
	SAME_FIELD(kabi_iommu_fault_alloc, iommu_fault_alloc, out_fault_id);
	SAME_FIELD(kabi_iommu_fault_alloc, iommu_fault_alloc, out_fault_fd);
	SAME_SIZE(kabi_vfio_device_info, vfio_device_info);
	SAME_FIELD(kabi_vfio_device_info, vfio_device_info, flags);
	SAME_FIELD(kabi_vfio_device_info, vfio_device_info, num_regions);
	SAME_FIELD(kabi_vfio_device_info, vfio_device_info, num_irqs);
	SAME_FIELD(kabi_vfio_device_info, vfio_device_info, cap_offset);
	SAME_SIZE(kabi_vfio_region_info, vfio_region_info);
	SAME_FIELD(kabi_vfio_region_info, vfio_region_info, flags);
	SAME_FIELD(kabi_vfio_region_info, vfio_region_info, index);
	SAME_FIELD(kabi_vfio_region_info, vfio_region_info, size);
	SAME_FIELD(kabi_vfio_region_info, vfio_region_info, offset);
	/* libsva passes the 6.6 prefix of bind (argsz 16); newer kernels append a token pointer. */
	SAME_FIELD(kabi_vfio_device_bind_iommufd, vfio_device_bind_iommufd, flags);
	SAME_FIELD(kabi_vfio_device_bind_iommufd, vfio_device_bind_iommufd, iommufd);
	SAME_FIELD(kabi_vfio_device_bind_iommufd, vfio_device_bind_iommufd, out_devid);
	ok(sizeof(struct kabi_vfio_device_bind_iommufd) <= sizeof(struct vfio_device_bind_iommufd),
	   "our vfio_device_bind_iommufd is a prefix of the kernel's");
	SAME_SIZE(kabi_vfio_device_attach_iommufd_pt, vfio_device_attach_iommufd_pt);
	SAME_FIELD(kabi_vfio_device_attach_iommufd_pt, vfio_device_attach_iommufd_pt, flags);
	SAME_FIELD(kabi_vfio_device_attach_iommufd_pt, vfio_device_attach_iommufd_pt, pt_id);
	SAME_FIELD(kabi_vfio_device_attach_iommufd_pt, vfio_device_attach_iommufd_pt, pasid);
	SAME_SIZE(kabi_vfio_device_detach_iommufd_pt, vfio_device_detach_iommufd_pt);
	SAME_FIELD(kabi_vfio_device_detach_iommufd_pt, vfio_device_detach_iommufd_pt, flags);
	SAME_FIELD(kabi_vfio_device_detach_iommufd_pt, vfio_device_detach_iommufd_pt, pasid);
	return done_testing();
#endif
}
