/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The VFIO cdev backend: open a device (by path, cdev name, PCI address or fd),
 * bind it to the iommufd, and attach/detach through the device fd.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "broker_client.h"
#include "internal.h"
#include "kabi.h"

static int vfio_attach_pt(struct sva_dev *dev, uint32_t flags, uint32_t pasid, uint32_t pt_id)
{
	struct kabi_vfio_device_attach_iommufd_pt cmd = {
		/* Before 6.15 the struct ended at pt_id; argsz must cover pasid only when used. */
		.argsz = flags ? sizeof(cmd) : offsetof(struct kabi_vfio_device_attach_iommufd_pt, pasid),
		.flags = flags,
		.pt_id = pt_id,
		.pasid = pasid,
	};

	return ioctl(dev->fd, KABI_VFIO_DEVICE_ATTACH_IOMMUFD_PT, &cmd) ? -errno : 0;
}

static int vfio_detach_pt(struct sva_dev *dev, uint32_t flags, uint32_t pasid)
{
	struct kabi_vfio_device_detach_iommufd_pt cmd = {
		.argsz = flags ? sizeof(cmd) : offsetof(struct kabi_vfio_device_detach_iommufd_pt, pasid),
		.flags = flags,
		.pasid = pasid,
	};

	return ioctl(dev->fd, KABI_VFIO_DEVICE_DETACH_IOMMUFD_PT, &cmd) ? -errno : 0;
}

/* A second ATTACH acts as replace in VFIO, so attach serves both. */
static int vfio_attach(struct sva_dev *dev, uint32_t pt_id)
{
	return vfio_attach_pt(dev, 0, 0, pt_id);
}

static int vfio_detach(struct sva_dev *dev)
{
	return vfio_detach_pt(dev, 0, 0);
}

static int vfio_pasid_attach(struct sva_dev *dev, uint32_t pasid, uint32_t pt_id)
{
	return vfio_attach_pt(dev, KABI_VFIO_DEVICE_ATTACH_PASID, pasid, pt_id);
}

static int vfio_pasid_detach(struct sva_dev *dev, uint32_t pasid)
{
	return vfio_detach_pt(dev, KABI_VFIO_DEVICE_DETACH_PASID, pasid);
}

static void vfio_close(struct sva_dev *dev)
{
	/* Closing the cdev detaches every PASID, then the RID, and unbinds. */
	close(dev->fd);
}

const struct sva_dev_backend sva_backend_vfio = {
	.name = "vfio",
	.attach = vfio_attach,
	.detach = vfio_detach,
	.pasid_attach = vfio_pasid_attach,
	.pasid_detach = vfio_pasid_detach,
	.close = vfio_close,
};

/* ------------------------------------------------------------------ open */

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
		/* A device binds to an iommufd through one open of its cdev; the kernel
		 * refuses the bind of another open while that one's file lives. */
		if (is_vfio == 1)
			return sva_fail(&ctx->log, -EBUSY,
					"%s is already bound through another open of its cdev (by this process or "
					"another; a descriptor or a BAR mapping of a closed device's file keeps it "
					"bound: sva_dev_open(3))",
					what);
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

/*
 * VFIO has no unbind: a cdev stays bound to the iommufd as long as its open
 * file lives.  When sva_dev_open_fd() fails after the bind, the caller's fd
 * keeps that file open, so closing our duplicate would leave the device bound
 * and a retry would get -EBUSY.  Such a bind is kept here (our duplicate, its
 * device id) and the next open of the same device in the context takes it
 * over instead of binding again.  Closed with the context.
 */
struct sva_spare_bind {
	struct sva_spare_bind *next;
	int fd;
	dev_t rdev;
	uint32_t dev_id;
};

static void spare_put(struct sva_ctx *ctx, int fd, uint32_t dev_id)
{
	struct sva_spare_bind *s = sva_malloc(sizeof(*s));
	struct stat st;

	if (!s || fstat(fd, &st)) {
		sva_free(s);
		close(fd);
		return;
	}
	*s = (struct sva_spare_bind){ .fd = fd, .rdev = st.st_rdev, .dev_id = dev_id };
	sva_devs_lock(ctx);
	s->next = ctx->spare_binds;
	ctx->spare_binds = s;
	sva_devs_unlock(ctx);
}

/* The spare bind of the device fd refers to: its fd and id, or -1. */
static int spare_take(struct sva_ctx *ctx, int fd, uint32_t *dev_id)
{
	struct stat st;
	int ret = -1;

	if (fstat(fd, &st))
		return -1;
	sva_devs_lock(ctx);
	for (struct sva_spare_bind **pp = &ctx->spare_binds; *pp; pp = &(*pp)->next) {
		struct sva_spare_bind *s = *pp;

		if (s->rdev == st.st_rdev) {
			*pp = s->next;
			ret = s->fd;
			*dev_id = s->dev_id;
			sva_free(s);
			break;
		}
	}
	sva_devs_unlock(ctx);
	return ret;
}

void sva_spare_binds_fini(struct sva_ctx *ctx)
{
	for (struct sva_spare_bind *s = ctx->spare_binds, *n; s; s = n) {
		n = s->next;
		close(s->fd);
		sva_free(s);
	}
	ctx->spare_binds = NULL;
}

/*
 * The PCI address of the device behind fd, from its major:minor in sysfs: the
 * node may be a symlink, a copy made with mknod or a container's renamed
 * node, whose name says nothing (or names another device).  Only where sysfs
 * has no dev/char is the node's name used ("vfio3", as in /dev/vfio/devices),
 * and not where that cdev's dev attribute names another device.
 */
static const char *pci_of_node(struct sva_ctx *ctx, int fd, const char *path, char pci[16])
{
	struct stat st;
	const char *base;
	int ret;

	if (fstat(fd, &st) != 0 || !S_ISCHR(st.st_mode))
		return NULL;
	ret = sva_sysfs_char_to_pci(ctx->sysfs_root, major(st.st_rdev), minor(st.st_rdev), pci);
	if (ret == -EIO && path) {
		base = strrchr(path, '/');
		base = base ? base + 1 : path;
		if (sva_sysfs_cdev_is(ctx->sysfs_root, base, major(st.st_rdev), minor(st.st_rdev)))
			ret = sva_sysfs_cdev_to_pci(ctx->sysfs_root, base, pci);
	}
	return ret ? NULL : pci;
}

/* Bind an fd we own (closed on failure, or kept as a spare bind when shared:
 * the caller's fd keeps its file open) and wrap it as a device. */
static int open_bound(struct sva_ctx *ctx, int fd, const char *path, const char *pci, bool shared,
		      struct sva_dev **out)
{
	char what[PATH_MAX + 32], cdev_pci[16] = "";
	uint32_t dev_id = 0;
	int ret, spare = spare_take(ctx, fd, &dev_id);

	snprintf(what, sizeof(what), "%s", path ? path : "the passed fd");
	if (spare >= 0) {
		/* Whoever opened it first still holds it open: keep it spare on failure. */
		close(fd);
		fd = spare;
		shared = true;
		ret = 0;
	} else {
		ret = bind_iommufd(ctx, fd, what, &dev_id);
		if (ret) {
			close(fd);
			return ret;
		}
	}
	if (!ret && !pci)
		pci = pci_of_node(ctx, fd, path, cdev_pci);
	if (!ret && pci && check_pci(ctx, fd, what) == 0)
		pci = NULL;
	if (!ret)
		ret = sva_dev_setup(ctx, &sva_backend_vfio, fd, dev_id, pci, path, out);
	if (ret && shared)
		spare_put(ctx, fd, dev_id);
	else if (ret)
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
		return sva_fail(&ctx->log, ret, "cannot open %s: %s%s", path, strerror(-ret), sva_errno_remedy(ret, false));
	}
	if (fstat(fd, &st) || !S_ISCHR(st.st_mode)) {
		close(fd);
		return sva_fail(&ctx->log, -ENOTTY, "%s is not a character device, so not a VFIO cdev", path);
	}
	return open_bound(ctx, fd, path, pci, false, out);
}

static int is_cdev_name(const char *s)
{
	/* At most 10 digits: the path under dev_root then fits PATH_MAX. */
	if (strncmp(s, "vfio", 4) != 0 || !s[4] || strlen(s) > 14)
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
		return sva_fail(ctx ? &ctx->log : sva_log_default(), -EINVAL, "sva_dev_open: %s is NULL",
				ctx ? "out" : "ctx");
	if (!name)
		return sva_fail(&ctx->log, -EINVAL, "sva_dev_open: name is NULL");
	if (!*name)
		return sva_fail(&ctx->log, -EINVAL, "sva_dev_open: empty device name");
	/* A name the broker's configuration gives: its length is checked
	 * there, before -ECHILD. */
	if (ctx->broker)
		return sva_broker_dev_open(ctx, name, out);
	if (name[0] != '/' && !is_cdev_name(name) && sva_pci_addr_parse(name, pci))
		return sva_fail(&ctx->log, -EINVAL,
				"'%s' is neither a VFIO cdev path (/dev/vfio/devices/vfioN), a cdev name (vfioN) "
				"nor a PCI address (0000:41:00.0)",
				name);
	/* After the arguments (libsva(7), Errors in a forked child): binding
	 * would change the parent's shared iommufd. */
	ret = sva_ctx_check_owner(ctx);
	if (ret)
		return ret;
	if (name[0] == '/')
		return open_path(ctx, name, NULL, out);
	if (is_cdev_name(name)) {
		snprintf(path, sizeof(path), "%s/vfio/devices/%s", ctx->dev_root, name);
		return open_path(ctx, path, NULL, out);
	}
	ret = sva_sysfs_pci_to_cdev(ctx->sysfs_root, pci, cdev, sizeof(cdev));
	if (ret == -ENOENT)
		return sva_fail(&ctx->log, ret, "no PCI device %s (looked in %s/bus/pci/devices)", pci,
				ctx->sysfs_root);
	if (ret && ret != -ENODEV && ret != -ENAMETOOLONG)
		return sva_fail(&ctx->log, ret, "cannot read %s/bus/pci/devices/%s/vfio-dev: %s%s", ctx->sysfs_root, pci,
				strerror(-ret), sva_errno_remedy(ret, false));
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
		return sva_fail(ctx ? &ctx->log : sva_log_default(), -EINVAL, "sva_dev_open_fd: %s is NULL",
				ctx ? "out" : "ctx");
	fd = sva_ctx_check_owner(ctx);
	if (fd)
		return fd;
	/* The broker opens, lends and tracks its devices; one opened here
	 * would live in its iommufd unknown to it (an isolated client has no
	 * iommufd at all). */
	if (ctx->broker)
		return sva_fail(&ctx->log, -EOPNOTSUPP,
				"sva_dev_open_fd: a broker client opens the broker's devices by name (sva_dev_open)");
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
	return open_bound(ctx, fd, n > 0 ? target : NULL, NULL, true, out);
}
