/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Devices, whatever their backend: set up, describe, close.  Opening is the
 * backend's (backend_vfio.c, backend_mock.c). */
#include <errno.h>
#include <numa.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "callback.h"
#include "internal.h"
#include "teardown.h"

SVA_EXPORT const char *sva_iommu_type_name(uint32_t type)
{
	switch (type) {
	case SVA_IOMMU_NONE:
		return "none";
	case SVA_IOMMU_INTEL_VTD:
		return "intel-vtd";
	case SVA_IOMMU_ARM_SMMUV3:
		return "arm-smmuv3";
	case SVA_IOMMU_TEGRA241_CMDQV:
		return "tegra241-cmdqv";
	case SVA_IOMMU_AMD:
		return "amd";
	case SVA_IOMMU_SELFTEST:
		return "selftest";
	default:
		return "unknown";
	}
}

/* libnuma knows which nodes exist; sysfs may report a node this kernel has offline. */
static int checked_numa_node(int node)
{
	if (node < 0 || numa_available() < 0)
		return node < 0 ? -1 : node;
	return node <= numa_max_node() ? node : -1;
}

#ifdef SVA_TEST_HOOKS
/* Tests only (libsva-test): the next sva_dev_setup() fails with this negative
 * errno before doing anything.  One-shot; 0: none. */
int sva_test_dev_setup_fail;
#endif

int sva_dev_setup(struct sva_ctx *ctx, const struct sva_dev_backend *be, int fd, uint32_t dev_id,
		  const char *pci_addr, const char *path, struct sva_dev **out)
{
	struct sva_dev *dev;
	int ret, node = -1;

#ifdef SVA_TEST_HOOKS
	if (sva_test_dev_setup_fail) {
		ret = sva_test_dev_setup_fail;
		sva_test_dev_setup_fail = 0;
		return ret;
	}
#endif
	if (pci_addr && *pci_addr) {
		ret = sva_sysfs_numa_node(ctx->sysfs_root, pci_addr, &node);
		if (ret)
			return sva_fail(&ctx->log, ret, "cannot read the NUMA node of %s from sysfs: %s%s", pci_addr,
					strerror(-ret), sva_errno_remedy(ret, false));
	}
	dev = sva_calloc(1, sizeof(*dev));
	if (!dev)
		return sva_fail(&ctx->log, -ENOMEM, "cannot open the device: out of memory for its state");
	pthread_mutex_init(&dev->lock, NULL);
	dev->ctx = ctx;
	dev->be = be;
	dev->fd = fd;
	dev->info.size = sizeof(dev->info);
	dev->info.dev_id = dev_id;
	dev->info.numa_node = -1;
	/* Before the PASID space, whose log prefix names a mock as one. */
	dev->info.flags = be->dev_flags;
	if (pci_addr && *pci_addr) {
		dev->info.flags |= SVA_DEV_PCI;
		snprintf(dev->info.pci_addr, sizeof(dev->info.pci_addr), "%s", pci_addr);
		dev->info.numa_node = checked_numa_node(node);
	}
	if (path)
		snprintf(dev->info.path, sizeof(dev->info.path), "%s", path);
	snprintf(dev->label, sizeof(dev->label), "device %u (%s)", dev_id,
		 dev->info.path[0]		   ? dev->info.path
		 : dev->info.pci_addr[0]	   ? dev->info.pci_addr
		 : dev->info.flags & SVA_DEV_MOCK ? "mock"
						   : be->name);
	ret = sva_iommufd_hw_info(ctx->fd, dev_id, &dev->info.iommu_type, &dev->info.max_pasid_log2,
				  &dev->info.hw_caps);
	if (ret) {
		sva_fail_said(&ctx->log, ret, "IOMMU_GET_HW_INFO for %s failed: %s", dev->label, strerror(-ret));
		pthread_mutex_destroy(&dev->lock);
		sva_free(dev);
		return ret;
	}
	ret = sva_dev_pasids_init(dev);
	if (ret) {
		pthread_mutex_destroy(&dev->lock);
		sva_free(dev);
		return ret;
	}
	sva_ctx_get(ctx);
	sva_devs_lock(ctx);
	dev->ctx_next = ctx->devs;
	ctx->devs = dev;
	sva_devs_unlock(ctx);
	sva_logf(&ctx->log, SVA_LOG_INFO, "opened %s%s%s: iommu %s, PASID width %u, NUMA node %d", dev->label,
		 dev->info.path[0] && dev->info.pci_addr[0] ? ", PCI " : "", dev->info.path[0] ? dev->info.pci_addr : "",
		 sva_iommu_type_name(dev->info.iommu_type), dev->info.max_pasid_log2, dev->info.numa_node);
	*out = dev;
	return 0;
}

/* Under sva_fault_exclude() (or in a forked child, where no batch runs):
 * the engine's memo of the last device is only touched inside batches. */
static void unregister(struct sva_dev *dev)
{
	struct sva_ctx *ctx = dev->ctx;

	if (ctx->fe.last_dev == dev)
		ctx->fe.last_dev = NULL;
	sva_devs_lock(ctx);
	for (struct sva_dev **pp = &ctx->devs; *pp; pp = &(*pp)->ctx_next) {
		if (*pp == dev) {
			*pp = dev->ctx_next;
			break;
		}
	}
	sva_devs_unlock(ctx);
}

SVA_EXPORT void sva_dev_close(struct sva_dev *dev)
{
	struct sva_ctx *ctx;

	if (!dev)
		return;
	ctx = dev->ctx;
	if (sva_callback_refusing()) {
		sva_fail(&ctx->log, -EDEADLK, "sva_dev_close: called from %s, where it could wait for that "
			 "callback's own bond or lock; nothing was closed", sva_callback_refusing());
		return;
	}
	sva_logf(&ctx->log, SVA_LOG_DEBUG, "closing %s", dev->label);
	if (sva_ctx_forked(ctx)) {
		/* Closing our copy of the cdev fd leaves the parent's open file alone. */
		if (dev->fd >= 0)
			close(dev->fd);
		unregister(dev);
		sva_dev_pasids_fini(dev);
		sva_free(dev->stuck);
		sva_free(dev);
		sva_ctx_put(ctx);
		return;
	}
	sva_teardown(ctx, SVA_TEARDOWN_DEV, dev);
	sva_dev_detach_stuck(dev);
	/* The fault engine finds devices by id: none of its batches may hold this one. */
	sva_fault_exclude(ctx);
	unregister(dev);
	sva_fault_unexclude(ctx);
	dev->be->close(dev);
	/* Only after the device is gone are its parking HWPT and IOAS unreferenced. */
	if (dev->park_hwpt)
		sva_iommufd_destroy(ctx->fd, dev->park_hwpt);
	if (dev->park_ioas)
		sva_iommufd_destroy(ctx->fd, dev->park_ioas);
	sva_dev_pasids_fini(dev);
	pthread_mutex_destroy(&dev->lock);
	sva_free(dev);
	sva_ctx_put(ctx);
}

SVA_EXPORT int sva_dev_get_info(const struct sva_dev *dev, struct sva_dev_info *info)
{
	struct sva_dev_info snap;

	if (!dev)
		return sva_fail(sva_log_default(), -EINVAL, "sva_dev_get_info: dev is NULL");
	bool locked = sva_ctx_lock_reader(dev->ctx, (pthread_mutex_t *)&dev->lock);

	snap = dev->info;
	if (dev->rid_pt)
		snap.flags |= SVA_DEV_ATTACHED;
	if (locked)
		pthread_mutex_unlock((pthread_mutex_t *)&dev->lock);
	return sva_info_copy(info, &snap, sizeof(snap));
}

SVA_EXPORT int sva_dev_fd(const struct sva_dev *dev)
{
	if (!dev)
		return sva_fail(sva_log_default(), -EINVAL, "sva_dev_fd: dev is NULL");
	return dev->fd >= 0 ? dev->fd : -ENODEV;
}

#ifdef SVA_TEST_HOOKS
/* Tests only (libsva-test): called in sva_dev_iova_ranges() once it has the
 * RID's IOAS and before it asks the kernel about it. */
void (*sva_test_iova_ranges_hook)(struct sva_dev *dev);
#define IOVA_RANGES_HOOK(d) (sva_test_iova_ranges_hook ? sva_test_iova_ranges_hook(d) : (void)0)
#else
#define IOVA_RANGES_HOOK(d) ((void)0)
#endif

SVA_EXPORT int sva_dev_iova_ranges(struct sva_dev *dev, struct sva_iova_range *ranges, size_t *nr)
{
	uint32_t ioas;
	int ret;

	if (!dev)
		return sva_fail(sva_log_default(), -EINVAL, "sva_dev_iova_ranges: dev is NULL");
	if (!nr || (*nr && !ranges))
		return -EINVAL;
	/* It issues IOMMU_IOAS_IOVA_RANGES: refused in a forked child, like every
	 * call that would touch the parent's iommufd. */
	ret = sva_ctx_check_owner(dev->ctx);
	if (ret)
		return ret;
	/*
	 * dev->lock is held over the query: a RID unbind clears rid_ioas under
	 * it, and only after that can sva_mm_free() destroy the IOAS.  Read
	 * under the lock and queried after it, the number could name an IOAS
	 * already destroyed (the kernel's -ENOENT, which the page does not
	 * give for a device unbound meanwhile: that is -ENOTCONN) or, reused,
	 * another object's (review Z95).
	 */
	pthread_mutex_lock(&dev->lock);
	ioas = dev->rid_ioas;
	if (ioas) {
		IOVA_RANGES_HOOK(dev);
		ret = sva_iommufd_iova_ranges_out(dev->ctx->fd, ioas, ranges, nr);
	}
	pthread_mutex_unlock(&dev->lock);
	/* "Not attached yet" answers a question a driver may ask before binding. */
	if (!ioas)
		return sva_fail_debug(&dev->ctx->log, -ENOTCONN,
				      "%s is not attached to an address space; its IOVA ranges are not "
				      "known yet",
				      dev->label);
	return sva_iova_ranges_ret(dev->ctx, dev->ctx->fd, "sva_dev_iova_ranges", ret);
}
