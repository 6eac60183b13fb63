/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * sva-info: find the VFIO cdev devices.  sysfs describes each device (PCI
 * address, IDs, driver, IOMMU group, NUMA node) without opening anything;
 * probe_hw() opens it through libsva for its IOMMU hardware info.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1 /* versionsort() */
#endif

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "sva-info.h"


/* A PCI ID attribute ("0x8086") as four lower-case hex digits ("8086"). */
static void read_pci_id(const char *dir, const char *name, char out[8])
{
	char buf[32], *end;
	unsigned long v;

	out[0] = '\0';
	if (sva_sysfs_read_attr(dir, name, buf, sizeof(buf)))
		return;
	errno = 0;
	v = strtoul(buf, &end, 16);
	if (end == buf || *end || errno || v > 0xffff)
		return;
	snprintf(out, 8, "%04lx", v);
}

/* A non-negative decimal number, or -1. */
static long parse_nonneg(const char *s)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (end == s || *end || errno || v < 0)
		return -1;
	return v;
}

static void describe_sysfs(const char *sysfs_root, struct dev_rec *d)
{
	char path[PATH_MAX], buf[64];
	const char *base;

	d->iommu_group = -1;
	d->numa_node = -1;
	/* class/vfio-dev/vfioN/device -> the device (a PCI function, a platform device...) */
	if ((size_t)snprintf(path, sizeof(path), "%s/class/vfio-dev/%s/device", sysfs_root, d->name) >= sizeof(path) ||
	    !realpath(path, d->sysdev)) {
		d->sysdev[0] = '\0';
		return;
	}
	base = strrchr(d->sysdev, '/');
	base = base ? base + 1 : d->sysdev;
	if (sva_sysfs_link_base(d->sysdev, "subsystem", d->bus, sizeof(d->bus)))
		d->bus[0] = '\0';
	if ((!d->bus[0] || strcmp(d->bus, "pci") == 0) && sva_pci_addr_parse(base, d->pci) == 0) {
		if (!d->bus[0])
			strcpy(d->bus, "pci");
		read_pci_id(d->sysdev, "vendor", d->vendor);
		read_pci_id(d->sysdev, "device", d->device);
	} else {
		d->pci[0] = '\0';
	}
	if (sva_sysfs_link_base(d->sysdev, "driver", d->driver, sizeof(d->driver)))
		d->driver[0] = '\0';
	if (!sva_sysfs_link_base(d->sysdev, "iommu_group", buf, sizeof(buf)))
		d->iommu_group = parse_nonneg(buf);
	if (!sva_sysfs_read_attr(d->sysdev, "numa_node", buf, sizeof(buf)))
		d->numa_node = parse_nonneg(buf);
}

bool join(char *out, size_t len, const char *root, const char *rel)
{
	int n = (int)strlen(root);

	while (n > 0 && root[n - 1] == '/')
		n--;
	return (size_t)snprintf(out, len, "%.*s/%s", n, root, rel) < len;
}

int skip_dots(const struct dirent *de)
{
	return de->d_name[0] != '.';
}

int collect_devices(const struct options *o, struct dev_rec **out)
{
	struct dirent **names;
	struct dev_rec *devs;
	char dir[PATH_MAX];
	struct stat st;
	int n;

	*out = NULL;
	if ((size_t)snprintf(dir, sizeof(dir), "%s/class/vfio-dev", o->sysfs_root) >= sizeof(dir))
		return -ENAMETOOLONG;
	n = scandir(dir, &names, skip_dots, versionsort);
	/* Absent: vfio is not loaded, so no devices.  Anything else there that
	 * cannot be listed (a file, no permission) is not sysfs as it should be. */
	if (n < 0)
		return errno == ENOENT ? 0 : -errno;
	devs = n ? calloc((size_t)n, sizeof(*devs)) : NULL;
	if (n && !devs) {
		for (int i = 0; i < n; i++)
			free(names[i]);
		free(names);
		return -ENOMEM;
	}
	for (int i = 0; i < n; i++) {
		struct dev_rec *d = &devs[i];

		snprintf(d->name, sizeof(d->name), "%s", names[i]->d_name);
		free(names[i]);
		char rel[sizeof(d->name) + 16];

		snprintf(rel, sizeof(rel), "vfio/devices/%s", d->name);
		if (!join(d->node, sizeof(d->node), o->dev_root, rel))
			d->node_err = -ENAMETOOLONG;
		else if (stat(d->node, &st))
			d->node_err = -errno;
		else
			d->node_err = S_ISCHR(st.st_mode) ? 0 : -ENOTTY;
		describe_sysfs(o->sysfs_root, d);
		d->hw = HW_NOT_OPENED;
	}
	free(names);
	*out = devs;
	return n;
}

void probe_hw(struct sva_ctx *ctx, struct dev_rec *d)
{
	struct sva_dev *dev;
	int ret;

	/* The full path, so names the library's short forms do not cover still open. */
	ret = sva_dev_open(ctx, d->node, &dev);
	if (ret) {
		d->hw = HW_OPEN_FAILED;
		d->hw_err = ret;
		return;
	}
	memset(&d->info, 0, sizeof(d->info));
	d->info.size = sizeof(d->info);
	ret = sva_dev_get_info(dev, &d->info);
	d->hw = ret ? HW_INFO_FAILED : HW_OK;
	d->hw_err = ret;
	sva_dev_close(dev);
}

static const struct {
	uint64_t bit;
	const char *name;
} hw_cap_names[] = {
	{ SVA_HW_CAP_DIRTY_TRACKING, "dirty-tracking" },
	{ SVA_HW_CAP_PCI_PASID_EXEC, "pasid-exec" },
	{ SVA_HW_CAP_PCI_PASID_PRIV, "pasid-priv" },
	{ SVA_HW_CAP_PCI_ATS_NOT_SUPPORTED, "ats-not-supported" },
};

void for_each_cap(uint64_t caps, void (*fn)(void *arg, const char *name), void *arg)
{
	char rest[32];

	for (size_t i = 0; i < ARRAY_SIZE(hw_cap_names); i++) {
		if (caps & hw_cap_names[i].bit)
			fn(arg, hw_cap_names[i].name);
		caps &= ~hw_cap_names[i].bit;
	}
	if (caps) {
		snprintf(rest, sizeof(rest), "0x%llx", (unsigned long long)caps);
		fn(arg, rest);
	}
}

