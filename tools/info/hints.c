/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* sva-info: errno names, and what to do about what does not open. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* strerrorname_np() */
#endif
#include <errno.h>
#include <stddef.h>
#include <string.h>

#include "sva-info.h"

static const struct {
	int err;
	const char *name;
} errno_names[] = {
	{ EPERM, "EPERM" },   { ENOENT, "ENOENT" },	  { EIO, "EIO" },
	{ ENXIO, "ENXIO" },   { EBADF, "EBADF" },	  { ENOMEM, "ENOMEM" },
	{ EACCES, "EACCES" }, { EFAULT, "EFAULT" },	  { EBUSY, "EBUSY" },
	{ EEXIST, "EEXIST" }, { ENODEV, "ENODEV" },	  { ENOTDIR, "ENOTDIR" },
	{ EINVAL, "EINVAL" }, { EMFILE, "EMFILE" },	  { ENFILE, "ENFILE" },
	{ ENOTTY, "ENOTTY" }, { ERANGE, "ERANGE" },	  { ENAMETOOLONG, "ENAMETOOLONG" },
	{ ELOOP, "ELOOP" },   { EOPNOTSUPP, "EOPNOTSUPP" }, { ENOSPC, "ENOSPC" },
	{ EROFS, "EROFS" },   { ENOTCONN, "ENOTCONN" }, { EISDIR, "EISDIR" },
};

const char *errno_name(int err)
{
	for (size_t i = 0; i < ARRAY_SIZE(errno_names); i++)
		if (errno_names[i].err == err)
			return errno_names[i].name;
#if defined(__GLIBC__) && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 32))
	return strerrorname_np(err); /* the rest, where the C library names them */
#else
	return NULL;
#endif
}

/* What to do about an iommufd that does not open (err is negative). */
const char *iommu_hint(int err)
{
	switch (err) {
	case -ENOENT:
		return "the kernel needs CONFIG_IOMMUFD (try 'modprobe iommufd')";
	case -EACCES:
	case -EPERM:
		return "permission denied: run as root, or give your user access to it (a udev rule)";
	case -ENOTTY:
	case -EISDIR:
	case -ELOOP:
	case -ENOTDIR:
		return "it is not an iommufd device node: check --iommu-path or the dev root";
	case -ENXIO:
	case -ENODEV:
		return "the device node has no driver behind it: load iommufd ('modprobe iommufd') or "
		       "check that the node is the iommufd's";
	default:
		return "see the kernel log (dmesg), and check that the path is the iommufd device node";
	}
}

/* What to do about a device that does not open (err is negative). */
const char *dev_hint(int err)
{
	switch (err) {
	case -ENODEV:
		return "there is no VFIO cdev directory: the kernel lacks CONFIG_VFIO_DEVICE_CDEV, "
		       "or no device is bound to vfio-pci";
	case -ENOENT:
		return "the device node is missing (is udev running? is the dev root right?)";
	case -EACCES:
	case -EPERM:
		return "permission denied: run as root, or give your user access to the device node";
	case -EBUSY:
		return "in use: another process has it open (one cdev user at a time), or its VFIO group is open";
	case -ENOTTY:
	case -EISDIR:
	case -ELOOP:
	case -ENOTDIR:
		return "it is not a VFIO cdev device: check the dev root";
	case -ENXIO:
		return "the device node has no device behind it any more: was the device unbound or removed?";
	default:
		return "see the kernel log (dmesg) for why the device did not open";
	}
}
