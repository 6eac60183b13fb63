/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * sysfs lookups for PCI devices.  Every path is built under a configurable root
 * so tests can point the library at a fake tree, and containers at a bind mount.
 */
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "internal.h"

int sva_sysfs_pci_to_cdev(const char *root, const char *pci, char *cdev, size_t len)
{
	char path[PATH_MAX];
	struct dirent *de;
	DIR *dir;
	int ret = -ENODEV;

	snprintf(path, sizeof(path), "%s/bus/pci/devices/%s", root, pci);
	if (access(path, F_OK) != 0)
		return -ENOENT;
	snprintf(path, sizeof(path), "%s/bus/pci/devices/%s/vfio-dev", root, pci);
	dir = opendir(path);
	if (!dir)
		/* No such directory: the device has no VFIO cdev.  Any other
		 * error (no descriptor free, no memory, no permission) is no
		 * answer, and says nothing about the device or the kernel. */
		return errno == ENOENT || errno == ENOTDIR ? -ENODEV : -errno;
	while ((de = readdir(dir))) {
		if (strncmp(de->d_name, "vfio", 4) != 0 || !de->d_name[4])
			continue;
		if (strlen(de->d_name) >= len) {
			ret = -ENAMETOOLONG;
			break;
		}
		strcpy(cdev, de->d_name);
		ret = 0;
		break;
	}
	closedir(dir);
	return ret;
}

int sva_sysfs_cdev_to_pci(const char *root, const char *cdev, char pci[16])
{
	char path[PATH_MAX], real[PATH_MAX], *p, *slash;

	/* /sys/class/vfio-dev/vfioN/device -> .../0000:bb:dd.f */
	snprintf(path, sizeof(path), "%s/class/vfio-dev/%s/device", root, cdev);
	if (!realpath(path, real))
		return -ENOENT;
	slash = strrchr(real, '/');
	p = slash ? slash + 1 : real;
	return sva_pci_addr_parse(p, pci) ? -ENOENT : 0;
}

int sva_sysfs_char_to_pci(const char *root, unsigned maj, unsigned min, char pci[16])
{
	char dir[PATH_MAX], name[64];

	snprintf(dir, sizeof(dir), "%s/dev/char", root);
	if (access(dir, F_OK) != 0)
		return -EIO;
	/* dev/char/MAJ:MIN/device -> .../0000:bb:dd.f, whatever the node's name. */
	snprintf(dir, sizeof(dir), "%s/dev/char/%u:%u", root, maj, min);
	if (sva_sysfs_link_base(dir, "device", name, sizeof(name)) || sva_pci_addr_parse(name, pci))
		return -ENOENT;
	return 0;
}

int sva_sysfs_cdev_is(const char *root, const char *cdev, unsigned maj, unsigned min)
{
	char dir[PATH_MAX], dev[32], want[32];

	snprintf(dir, sizeof(dir), "%s/class/vfio-dev/%s", root, cdev);
	snprintf(want, sizeof(want), "%u:%u", maj, min);
	return sva_sysfs_read_attr(dir, "dev", dev, sizeof(dev)) || strcmp(dev, want) == 0;
}

int sva_sysfs_numa_node(const char *root, const char *pci, int *out)
{
	char path[PATH_MAX], buf[32], *end;
	long node;
	int ret;

	*out = -1;
	snprintf(path, sizeof(path), "%s/bus/pci/devices/%s", root, pci);
	ret = sva_sysfs_read_attr(path, "numa_node", buf, sizeof(buf));
	/* Out of descriptors or memory is not "no node": the caller would
	 * report -1 for a device that has one, and place memory wrongly. */
	if (ret == -EMFILE || ret == -ENFILE || ret == -ENOMEM)
		return ret;
	if (ret)
		return 0;
	node = strtol(buf, &end, 10);
	if (end != buf && node >= 0 && node <= INT_MAX)
		*out = (int)node;
	return 0;
}

int sva_sysfs_driver(const char *root, const char *pci, char *drv, size_t len)
{
	char path[PATH_MAX];

	snprintf(path, sizeof(path), "%s/bus/pci/devices/%s", root, pci);
	return sva_sysfs_link_base(path, "driver", drv, len) ? -ENOENT : 0;
}

int sva_sysfs_iommu_group(const char *root, const char *pci)
{
	char path[PATH_MAX], grp[32], *end;
	long n;

	snprintf(path, sizeof(path), "%s/bus/pci/devices/%s", root, pci);
	if (sva_sysfs_link_base(path, "iommu_group", grp, sizeof(grp)))
		return -ENOENT;
	n = strtol(grp, &end, 10);
	if (end == grp || *end || n < 0 || n > INT_MAX)
		return -ENOENT;
	return (int)n;
}

int sva_sysfs_is_vfio_cdev(const char *root, unsigned maj, unsigned min)
{
	char path[PATH_MAX], real[PATH_MAX];

	/* /sys/dev/char/MAJ:MIN -> .../vfio-dev/vfioN for a VFIO cdev. */
	snprintf(path, sizeof(path), "%s/dev/char/%u:%u", root, maj, min);
	if (!realpath(path, real))
		return -1;
	return strstr(real, "/vfio-dev/vfio") != NULL;
}
