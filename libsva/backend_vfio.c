/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The VFIO cdev backend: attach/detach through the device fd. */
#include <errno.h>
#include <sys/ioctl.h>
#include <unistd.h>

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
	.pasid_replace = vfio_pasid_attach,
	.pasid_detach = vfio_pasid_detach,
	.close = vfio_close,
};
