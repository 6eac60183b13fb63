/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* iommufd ioctl wrappers: fill the kernel structs, return 0 or -errno.  An
 * isolated broker context's calls go to the broker, through the hooks
 * broker_proxy.c installs (internal.h, struct sva_iommufd_hooks). */
#include <errno.h>
#include <string.h>
#include <sys/ioctl.h>

#include "internal.h"
#include "kabi.h"

static _Atomic(const struct sva_iommufd_hooks *) hooks;

void sva_iommufd_set_hooks(const struct sva_iommufd_hooks *h)
{
	atomic_store_explicit(&hooks, h, memory_order_release);
}

const struct sva_iommufd_hooks *sva_iommufd_hooks(void)
{
	return atomic_load_explicit(&hooks, memory_order_acquire);
}

struct sva_broker_conn *sva_iommufd_proxy(int fd)
{
	const struct sva_iommufd_hooks *h = sva_iommufd_hooks();

	return h ? h->proxy(fd) : NULL;
}

bool sva_iommufd_broker_gone(int fd)
{
	const struct sva_iommufd_hooks *h = sva_iommufd_hooks();

	return h && h->gone(fd);
}

static void note(int fd, uint32_t id, bool alive)
{
	const struct sva_iommufd_hooks *h = sva_iommufd_hooks();

	if (h)
		h->note(fd, id, alive);
}

static int xioctl(int fd, unsigned long req, void *arg)
{
	int ret;

	do
		ret = ioctl(fd, req, arg);
	while (ret < 0 && errno == EINTR);
	return ret < 0 ? -errno : 0;
}

/*
 * An iommufd answers IOMMU_OPTION(RLIMIT_MODE, GET) on object 0 for any caller;
 * anything else fails with ENOTTY (or EINVAL/EBADF from another driver).
 */
int sva_iommufd_check(int fd)
{
	struct sva_broker_conn *px = sva_iommufd_proxy(fd);

	if (px)
		return 0;
	struct kabi_iommu_option opt = {
		.size = sizeof(opt),
		.option_id = KABI_IOMMU_OPTION_RLIMIT_MODE,
		.op = KABI_IOMMU_OPTION_OP_GET,
	};
	int ret = xioctl(fd, KABI_IOMMU_OPTION, &opt);

	if (ret == -EBADF)
		return ret;
	return ret ? -ENOTTY : 0;
}

/*
 * Objects created in a broker context's iommufd are told to the broker
 * (the note hook): after creating, and before destroying, so that a client
 * killed in between leaves an object behind rather than the broker
 * destroying an ID reused by someone else.
 */
int sva_iommufd_destroy(int fd, uint32_t id)
{
	struct sva_broker_conn *px = sva_iommufd_proxy(fd);

	if (px)
		return sva_iommufd_hooks()->destroy(px, id);
	struct kabi_iommu_destroy cmd = { .size = sizeof(cmd), .id = id };
	int ret;

	note(fd, id, false);
	ret = xioctl(fd, KABI_IOMMU_DESTROY, &cmd);
	if (ret)
		note(fd, id, true);
	return ret;
}

int sva_iommufd_ioas_alloc(int fd, uint32_t *ioas_id)
{
	struct sva_broker_conn *px = sva_iommufd_proxy(fd);

	if (px)
		return sva_iommufd_hooks()->ioas_alloc(px, ioas_id);
	struct kabi_iommu_ioas_alloc cmd = { .size = sizeof(cmd) };
	int ret = xioctl(fd, KABI_IOMMU_IOAS_ALLOC, &cmd);

	if (!ret) {
		*ioas_id = cmd.out_ioas_id;
		note(fd, cmd.out_ioas_id, true);
	}
	return ret;
}

int sva_iommufd_ioas_map(int fd, uint32_t ioas_id, uint64_t va, uint64_t len, uint64_t iova, uint32_t flags)
{
	struct sva_broker_conn *px = sva_iommufd_proxy(fd);

	if (px)
		return sva_iommufd_hooks()->ioas_map(px, ioas_id, va, len, iova, flags);
	struct kabi_iommu_ioas_map cmd = {
		.size = sizeof(cmd),
		.flags = flags,
		.ioas_id = ioas_id,
		.user_va = va,
		.length = len,
		.iova = iova,
	};

	return xioctl(fd, KABI_IOMMU_IOAS_MAP, &cmd);
}

int sva_iommufd_ioas_unmap(int fd, uint32_t ioas_id, uint64_t iova, uint64_t len)
{
	struct sva_broker_conn *px = sva_iommufd_proxy(fd);

	if (px)
		return sva_iommufd_hooks()->ioas_unmap(px, ioas_id, iova, len);
	struct kabi_iommu_ioas_unmap cmd = {
		.size = sizeof(cmd),
		.ioas_id = ioas_id,
		.iova = iova,
		.length = len,
	};

	return xioctl(fd, KABI_IOMMU_IOAS_UNMAP, &cmd);
}

int sva_iommufd_iova_ranges(int fd, uint32_t ioas_id, struct sva_iova_range *r, size_t *nr)
{
	struct sva_broker_conn *px = sva_iommufd_proxy(fd);

	if (px)
		return sva_iommufd_hooks()->iova_ranges(px, ioas_id, r, nr);
	struct kabi_iommu_iova_range kr[64];
	struct kabi_iommu_ioas_iova_ranges cmd = {
		.size = sizeof(cmd),
		.ioas_id = ioas_id,
		.num_iovas = ARRAY_SIZE(kr),
		.allowed_iovas = (uintptr_t)kr,
	};
	int ret = xioctl(fd, KABI_IOMMU_IOAS_IOVA_RANGES, &cmd);
	size_t n;

	/* EMSGSIZE still reports the count; more than 64 holes is not a real system. */
	if (ret && ret != -EMSGSIZE)
		return ret;
	n = cmd.num_iovas < ARRAY_SIZE(kr) ? cmd.num_iovas : ARRAY_SIZE(kr);
	for (size_t i = 0; i < n && i < *nr; i++) {
		r[i].start = kr[i].start;
		r[i].last = kr[i].last;
	}
	ret = n > *nr ? -EMSGSIZE : 0;
	*nr = n;
	return ret;
}

int sva_iommufd_iova_ranges_out(int fd, uint32_t ioas_id, struct sva_iova_range *r, size_t *nr)
{
	int ret;

	if (!nr || (*nr && !r))
		return -EINVAL;
	ret = sva_iommufd_iova_ranges(fd, ioas_id, r, nr);
	return ret == -EMSGSIZE ? -ENOSPC : ret;
}

int sva_iommufd_hwpt_alloc(int fd, uint32_t dev_id, uint32_t pt_id, uint32_t flags, uint32_t fault_id,
			   uint32_t *hwpt_id)
{
	struct sva_broker_conn *px = sva_iommufd_proxy(fd);

	if (px)
		return sva_iommufd_hooks()->hwpt_alloc(px, dev_id, pt_id, flags, fault_id, hwpt_id);
	struct kabi_iommu_hwpt_alloc cmd = {
		.size = sizeof(cmd),
		.flags = flags,
		.dev_id = dev_id,
		.pt_id = pt_id,
		.fault_id = fault_id,
	};
	int ret = xioctl(fd, KABI_IOMMU_HWPT_ALLOC, &cmd);

	if (!ret) {
		*hwpt_id = cmd.out_hwpt_id;
		note(fd, cmd.out_hwpt_id, true);
	}
	return ret;
}

int sva_iommufd_hw_info(int fd, uint32_t dev_id, uint32_t *type, uint32_t *pasid_log2, uint64_t *caps)
{
	struct sva_broker_conn *px = sva_iommufd_proxy(fd);

	if (px)
		return sva_iommufd_hooks()->hw_info(px, dev_id, type, pasid_log2, caps);
	struct kabi_iommu_hw_info cmd = { .size = sizeof(cmd), .dev_id = dev_id };
	int ret = xioctl(fd, KABI_IOMMU_GET_HW_INFO, &cmd);

	if (!ret) {
		*type = cmd.out_data_type;
		*pasid_log2 = cmd.out_max_pasid_log2;
		*caps = cmd.out_capabilities;
	}
	return ret;
}

int sva_iommufd_fault_alloc(int fd, uint32_t *fault_id, int *fault_fd)
{
	struct sva_broker_conn *px = sva_iommufd_proxy(fd);

	if (px)
		return sva_iommufd_hooks()->fault_alloc(px, fault_id, fault_fd);
	struct kabi_iommu_fault_alloc cmd = { .size = sizeof(cmd) };
	int ret = xioctl(fd, KABI_IOMMU_FAULT_QUEUE_ALLOC, &cmd);

	if (!ret) {
		*fault_id = cmd.out_fault_id;
		*fault_fd = (int)cmd.out_fault_fd;
		note(fd, cmd.out_fault_id, true);
	}
	return ret;
}
