/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Devices: open a VFIO cdev (by path, cdev name, PCI address or fd), describe it. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <numa.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "internal.h"
#include "kabi.h"

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

int sva_dev_setup(struct sva_ctx *ctx, const struct sva_dev_backend *be, int fd, uint32_t dev_id,
		  const char *pci_addr, const char *path, struct sva_dev **out)
{
	struct sva_dev *dev = calloc(1, sizeof(*dev));
	int ret;

	if (!dev)
		return -ENOMEM;
	pthread_mutex_init(&dev->lock, NULL);
	dev->ctx = ctx;
	dev->be = be;
	dev->fd = fd;
	dev->info.size = sizeof(dev->info);
	dev->info.dev_id = dev_id;
	dev->info.numa_node = -1;
	if (pci_addr && *pci_addr) {
		dev->info.flags |= SVA_DEV_PCI;
		snprintf(dev->info.pci_addr, sizeof(dev->info.pci_addr), "%s", pci_addr);
		dev->info.numa_node = checked_numa_node(sva_sysfs_numa_node(ctx->sysfs_root, pci_addr));
	}
	if (path)
		snprintf(dev->info.path, sizeof(dev->info.path), "%s", path);
	ret = sva_iommufd_hw_info(ctx->fd, dev_id, &dev->info.iommu_type, &dev->info.max_pasid_log2,
				  &dev->info.hw_caps);
	if (ret) {
		sva_fail(&ctx->log, ret, "IOMMU_GET_HW_INFO for device %u failed: %s", dev_id, strerror(-ret));
		pthread_mutex_destroy(&dev->lock);
		free(dev);
		return ret;
	}
	ret = sva_dev_pasids_init(dev);
	if (ret) {
		pthread_mutex_destroy(&dev->lock);
		free(dev);
		return ret;
	}
	sva_ctx_get(ctx);
	pthread_mutex_lock(&ctx->devs_lock);
	dev->ctx_next = ctx->devs;
	ctx->devs = dev;
	pthread_mutex_unlock(&ctx->devs_lock);
	sva_logf(&ctx->log, SVA_LOG_INFO, "opened %s%s%s: iommu %s, PASID width %u, NUMA node %d",
		 be->name, *dev->info.pci_addr ? " " : "", dev->info.pci_addr,
		 sva_iommu_type_name(dev->info.iommu_type), dev->info.max_pasid_log2, dev->info.numa_node);
	*out = dev;
	return 0;
}

/* Explain why a PCI device has no VFIO cdev: the single most common setup error. */
static int explain_no_cdev(struct sva_ctx *ctx, const char *pci)
{
	char drv[64];

	if (sva_sysfs_driver(ctx->sysfs_root, pci, drv, sizeof(drv)))
		return sva_fail(&ctx->log, -ENODEV,
				"%s is bound to no driver: bind it to vfio-pci (echo vfio-pci > "
				"/sys/bus/pci/devices/%s/driver_override; echo %s > /sys/bus/pci/drivers_probe)",
				pci, pci, pci);
	if (strcmp(drv, "vfio-pci") != 0 && strncmp(drv, "vfio", 4) != 0)
		return sva_fail(&ctx->log, -ENODEV,
				"%s is bound to %s, not vfio-pci: unbind it (echo %s > /sys/bus/pci/drivers/%s/unbind) "
				"and bind it to vfio-pci",
				pci, drv, pci, drv);
	return sva_fail(&ctx->log, -ENODEV,
			"%s is bound to %s but has no VFIO cdev: the kernel needs CONFIG_VFIO_DEVICE_CDEV", pci, drv);
}

static int bind_iommufd(struct sva_ctx *ctx, int fd, const char *what, uint32_t *dev_id)
{
	struct stat st;
	int is_vfio = -1;
	struct kabi_vfio_device_bind_iommufd bind = {
		.argsz = sizeof(bind),
		.iommufd = ctx->fd,
	};
	int ret;

	if (fstat(fd, &st) == 0)
		is_vfio = sva_sysfs_is_vfio_cdev(ctx->sysfs_root, major(st.st_rdev), minor(st.st_rdev));
	if (is_vfio == 0)
		return sva_fail(&ctx->log, -ENOTTY, "%s is not a VFIO cdev device", what);
	ret = ioctl(fd, KABI_VFIO_DEVICE_BIND_IOMMUFD, &bind) ? -errno : 0;
	switch (ret) {
	case 0:
		*dev_id = bind.out_devid;
		return 0;
	case -EINVAL:
		/* A VFIO cdev can be open once; the kernel refuses the bind of a second open. */
		if (is_vfio == 1)
			return sva_fail(&ctx->log, -EBUSY,
					"%s is already open (a VFIO cdev can be opened once, by one process)", what);
		return sva_fail(&ctx->log, -ENOTTY, "%s is not a VFIO cdev device (VFIO_DEVICE_BIND_IOMMUFD refused)",
				what);
	case -ENOTTY:
		return sva_fail(&ctx->log, -ENOTTY, "%s is not a VFIO cdev device (VFIO_DEVICE_BIND_IOMMUFD refused)",
				what);
	case -EBUSY:
		return sva_fail(&ctx->log, -EBUSY,
				"%s is already bound to an iommufd or in use through its VFIO group", what);
	default:
		return sva_fail(&ctx->log, ret, "binding %s to the iommufd failed: %s", what, strerror(-ret));
	}
}

static int check_pci(struct sva_ctx *ctx, int fd, const char *what)
{
	struct kabi_vfio_device_info info = { .argsz = sizeof(info) };

	if (ioctl(fd, KABI_VFIO_DEVICE_GET_INFO, &info)) {
		sva_logf(&ctx->log, SVA_LOG_DEBUG, "%s: VFIO_DEVICE_GET_INFO failed (%s); treating it as non-PCI", what,
			 strerror(errno));
		return 0;
	}
	return (info.flags & KABI_VFIO_DEVICE_FLAGS_PCI) ? 1 : 0;
}

/* Bind an fd we own (closed on failure) and wrap it as a device. */
static int open_bound(struct sva_ctx *ctx, int fd, const char *path, const char *pci, struct sva_dev **out)
{
	char what[PATH_MAX + 32], cdev_pci[16] = "";
	const char *base;
	uint32_t dev_id = 0;
	int ret;

	snprintf(what, sizeof(what), "%s", path ? path : "the passed fd");
	ret = bind_iommufd(ctx, fd, what, &dev_id);
	if (!ret && !pci && path) {
		base = strrchr(path, '/');
		if (!sva_sysfs_cdev_to_pci(ctx->sysfs_root, base ? base + 1 : path, cdev_pci))
			pci = cdev_pci;
	}
	if (!ret && pci && check_pci(ctx, fd, what) == 0)
		pci = NULL;
	if (!ret)
		ret = sva_dev_setup(ctx, &sva_backend_vfio, fd, dev_id, pci, path, out);
	if (ret)
		close(fd);
	return ret;
}

static int open_path(struct sva_ctx *ctx, const char *path, const char *pci, struct sva_dev **out)
{
	char dir[PATH_MAX];
	struct stat st;
	int fd, ret;

	fd = open(path, O_RDWR | O_CLOEXEC);
	if (fd < 0) {
		ret = -errno;
		snprintf(dir, sizeof(dir), "%s/vfio/devices", ctx->dev_root);
		if (ret == -ENOENT && access(dir, F_OK) != 0)
			return sva_fail(&ctx->log, -ENODEV,
					"%s does not exist and neither does %s: the kernel lacks VFIO cdev support "
					"(CONFIG_VFIO_DEVICE_CDEV) or no device is bound to vfio-pci",
					path, dir);
		if (ret == -ENOENT)
			return sva_fail(&ctx->log, ret, "%s does not exist", path);
		if (ret == -EACCES || ret == -EPERM)
			return sva_fail(&ctx->log, ret, "cannot open %s: permission denied; run as root or chown it",
					path);
		if (ret == -EBUSY)
			return sva_fail(&ctx->log, ret, "%s is busy: another process or its VFIO group holds it",
					path);
		/* A directory is one more thing that is not a character device:
		 * the same answer as a regular file, as documented. */
		if (ret == -EISDIR)
			return sva_fail(&ctx->log, -ENOTTY,
					"%s is a directory, not a character device, so not a VFIO cdev", path);
		return sva_fail(&ctx->log, ret, "cannot open %s: %s", path, strerror(-ret));
	}
	if (fstat(fd, &st) || !S_ISCHR(st.st_mode)) {
		close(fd);
		return sva_fail(&ctx->log, -ENOTTY, "%s is not a character device, so not a VFIO cdev", path);
	}
	return open_bound(ctx, fd, path, pci, out);
}

static int is_cdev_name(const char *s)
{
	if (strncmp(s, "vfio", 4) != 0 || !s[4])
		return 0;
	for (s += 4; *s; s++)
		if (*s < '0' || *s > '9')
			return 0;
	return 1;
}

SVA_EXPORT int sva_dev_open(struct sva_ctx *ctx, const char *name, struct sva_dev **out)
{
	char path[PATH_MAX], pci[16], cdev[32];
	int ret;

	if (!ctx || !out)
		return sva_fail(sva_log_default(), -EINVAL, "sva_dev_open: ctx or out is NULL");
	if (!name)
		return sva_fail(&ctx->log, -EINVAL, "sva_dev_open: name is NULL");
	if (!*name)
		return sva_fail(&ctx->log, -EINVAL, "sva_dev_open: empty device name");
	if (name[0] == '/')
		return open_path(ctx, name, NULL, out);
	if (is_cdev_name(name)) {
		snprintf(path, sizeof(path), "%s/vfio/devices/%s", ctx->dev_root, name);
		return open_path(ctx, path, NULL, out);
	}
	if (sva_pci_addr_parse(name, pci))
		return sva_fail(&ctx->log, -EINVAL,
				"'%s' is neither a VFIO cdev path (/dev/vfio/devices/vfioN), a cdev name (vfioN) "
				"nor a PCI address (0000:41:00.0)",
				name);
	ret = sva_sysfs_pci_to_cdev(ctx->sysfs_root, pci, cdev, sizeof(cdev));
	if (ret == -ENOENT)
		return sva_fail(&ctx->log, ret, "no PCI device %s (looked in %s/bus/pci/devices)", pci,
				ctx->sysfs_root);
	if (ret)
		return explain_no_cdev(ctx, pci);
	snprintf(path, sizeof(path), "%s/vfio/devices/%s", ctx->dev_root, cdev);
	return open_path(ctx, path, pci, out);
}

SVA_EXPORT int sva_dev_open_fd(struct sva_ctx *ctx, int passed, struct sva_dev **out)
{
	char link[64], target[PATH_MAX];
	struct stat st;
	ssize_t n;
	int fd;

	if (!ctx || !out)
		return sva_fail(sva_log_default(), -EINVAL, "sva_dev_open_fd: ctx or out is NULL");
	if (passed < 0 || (fd = fcntl(passed, F_DUPFD_CLOEXEC, 3)) < 0) {
		if (passed >= 0 && errno != EBADF)
			return sva_fail(&ctx->log, -errno, "cannot duplicate fd %d: %s", passed, strerror(errno));
		return sva_fail(&ctx->log, -EBADF, "sva_dev_open_fd: fd %d is not open", passed);
	}
	if (fstat(fd, &st) || !S_ISCHR(st.st_mode)) {
		close(fd);
		return sva_fail(&ctx->log, -ENOTTY, "fd %d is not a character device, so not a VFIO cdev", passed);
	}
	/* The path only labels the device; /proc may be absent in a container. */
	snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
	n = readlink(link, target, sizeof(target) - 1);
	target[n > 0 ? n : 0] = '\0';
	return open_bound(ctx, fd, n > 0 ? target : NULL, NULL, out);
}

static void unregister(struct sva_dev *dev)
{
	struct sva_ctx *ctx = dev->ctx;

	pthread_mutex_lock(&ctx->devs_lock);
	for (struct sva_dev **pp = &ctx->devs; *pp; pp = &(*pp)->ctx_next) {
		if (*pp == dev) {
			*pp = dev->ctx_next;
			break;
		}
	}
	pthread_mutex_unlock(&ctx->devs_lock);
}

SVA_EXPORT void sva_dev_close(struct sva_dev *dev)
{
	struct sva_ctx *ctx;

	if (!dev)
		return;
	ctx = dev->ctx;
	sva_logf(&ctx->log, SVA_LOG_DEBUG, "closing device %u", dev->info.dev_id);
	if (sva_ctx_forked(ctx)) {
		/* Closing our copy of the cdev fd leaves the parent's open file alone. */
		if (dev->fd >= 0)
			close(dev->fd);
		unregister(dev);
		sva_dev_pasids_fini(dev);
		free(dev);
		sva_ctx_put(ctx);
		return;
	}
	sva_dev_unbind_all(dev);
	/* The fault engine finds devices by id: none of its batches may hold this one. */
	pthread_mutex_lock(&ctx->fe.lock);
	unregister(dev);
	pthread_mutex_unlock(&ctx->fe.lock);
	dev->be->close(dev);
	/* Only after the device is gone are its parking HWPT and IOAS unreferenced. */
	if (dev->park_hwpt)
		sva_iommufd_destroy(ctx->fd, dev->park_hwpt);
	if (dev->park_ioas)
		sva_iommufd_destroy(ctx->fd, dev->park_ioas);
	sva_dev_pasids_fini(dev);
	pthread_mutex_destroy(&dev->lock);
	free(dev);
	sva_ctx_put(ctx);
}

SVA_EXPORT int sva_dev_get_info(const struct sva_dev *dev, struct sva_dev_info *info)
{
	struct sva_dev_info snap;

	if (!dev)
		return -EINVAL;
	pthread_mutex_lock((pthread_mutex_t *)&dev->lock);
	snap = dev->info;
	if (dev->rid_pt)
		snap.flags |= SVA_DEV_ATTACHED;
	pthread_mutex_unlock((pthread_mutex_t *)&dev->lock);
	return sva_info_copy(info, &snap, sizeof(snap));
}

SVA_EXPORT int sva_dev_fd(const struct sva_dev *dev)
{
	if (!dev)
		return -EINVAL;
	return dev->fd >= 0 ? dev->fd : -ENODEV;
}

SVA_EXPORT int sva_dev_iova_ranges(struct sva_dev *dev, struct sva_iova_range *ranges, size_t *nr)
{
	uint32_t ioas;
	int ret;

	if (!dev || !nr || (*nr && !ranges))
		return -EINVAL;
	/* It issues IOMMU_IOAS_IOVA_RANGES: refused in a forked child, like every
	 * call that would touch the parent's iommufd. */
	ret = sva_ctx_check_owner(dev->ctx);
	if (ret)
		return ret;
	pthread_mutex_lock(&dev->lock);
	ioas = dev->rid_ioas;
	pthread_mutex_unlock(&dev->lock);
	/* "Not attached yet" answers a question a driver may ask before binding. */
	if (!ioas)
		return sva_fail_debug(&dev->ctx->log, -ENOTCONN,
				      "device %u is not attached to an address space; its IOVA ranges are not "
				      "known yet",
				      dev->info.dev_id);
	return sva_iommufd_iova_ranges_out(dev->ctx->fd, ioas, ranges, nr);
}
