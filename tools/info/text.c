/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* sva-info: the text report of the devices. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "sva-info.h"

#define FIELD "  %-15s "

/* Names and paths are bytes the kernel or the user chose (utf8_put_text()). */
void put_text(const char *s)
{
	utf8_put_text(s);
}

/* "  label:          value\n" with the value escaped. */
static void text_field(const char *label, const char *value)
{
	printf(FIELD, label);
	put_text(value);
	putchar('\n');
}

static void text_cap(void *arg, const char *name)
{
	int *count = arg;

	printf("%s%s", (*count)++ ? ", " : "", name);
}

static void text_device(const struct dev_rec *d)
{
	const char *hint;
	int ncaps = 0;

	putchar('\n');
	put_text(d->name);
	putchar('\n');
	printf(FIELD, "device node:");
	put_text(d->node);
	if (d->node_err == -ENOENT)
		printf(" (missing)");
	else if (d->node_err == -ENOTTY)
		printf(" (not a character device)");
	else if (d->node_err)
		printf(" (%s)", strerror(-d->node_err));
	printf("\n");
	text_field("sysfs device:", d->sysdev[0] ? d->sysdev : "unknown (no device link)");
	text_field("bus:", d->bus[0] ? d->bus : "unknown");
	if (d->pci[0]) {
		printf(FIELD "%s\n", "pci address:", d->pci);
		printf(FIELD "%s:%s\n", "vendor:device:", d->vendor[0] ? d->vendor : "????",
		       d->device[0] ? d->device : "????");
	}
	text_field("driver:", d->driver[0] ? d->driver : "none");
	if (d->iommu_group >= 0)
		printf(FIELD "%ld\n", "iommu group:", d->iommu_group);
	else
		printf(FIELD "%s\n", "iommu group:", "none");
	if (d->numa_node >= 0)
		printf(FIELD "%ld\n", "numa node:", d->numa_node);
	else
		printf(FIELD "%s\n", "numa node:", "unknown");

	switch (d->hw) {
	case HW_OK:
		printf(FIELD "%s (type %#x)\n", "iommu:", sva_iommu_type_name(d->info.iommu_type), d->info.iommu_type);
		if (d->info.max_pasid_log2)
			printf(FIELD "%u bits\n", "pasid width:", d->info.max_pasid_log2);
		else
			printf(FIELD "%s\n", "pasid width:", "0 (no PASID support)");
		printf(FIELD, "hw caps:");
		for_each_cap(d->info.hw_caps, text_cap, &ncaps);
		printf("%s\n", ncaps ? "" : "none");
		printf(FIELD "%u\n", "iommufd dev id:", d->info.dev_id);
		break;
	case HW_NO_IOMMUFD:
		printf(FIELD "%s\n", "hw info:", "unavailable: the iommufd cannot be opened");
		break;
	case HW_NOT_OPENED:
		printf(FIELD "%s\n", "hw info:", "not read (--no-open)");
		break;
	case HW_OPEN_FAILED:
	case HW_INFO_FAILED:
		printf(FIELD "%s: %s\n", "hw info:",
		       d->hw == HW_OPEN_FAILED ? "cannot open the device" : "cannot read the device info",
		       strerror(-d->hw_err));
		hint = d->hw == HW_OPEN_FAILED ? dev_hint(d->hw_err) : NULL;
		if (hint)
			printf(FIELD "%s\n", "", hint);
		break;
	}
}

void print_text(const struct iommu_rec *im, const struct dev_rec *devs, int n)
{
	const char *hint;

	if (im->err) {
		put_text(im->path);
		printf(": cannot open: %s\n", strerror(-im->err));
		hint = iommu_hint(im->err);
		if (hint)
			printf("  %s\n", hint);
	} else {
		put_text(im->path);
		printf(": ok (iommufd)\n");
	}
	if (n == 0) {
		printf("%s\n", NO_DEVICES_MSG);
		return;
	}
	for (int i = 0; i < n; i++)
		text_device(&devs[i]);
	printf("\n%d VFIO cdev device%s\n", n, n == 1 ? "" : "s");
}

