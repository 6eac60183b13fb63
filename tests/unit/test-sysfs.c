/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* sysfs resolution against a fake tree: PCI address <-> VFIO cdev, NUMA, driver, group. */
#include <errno.h>
#include <string.h>

#include "internal.h"
#include "../tap.h"
#include "fake_sysfs.h"

int main(void)
{
	char sys[300], out[32], pci[16];

	fake_init();
	snprintf(sys, sizeof(sys), "%s/sys", fake_root);
	fake_pci_dev("0000:41:00.0", "vfio-pci", 12, 1, "vfio3");
	fake_pci_dev("0000:42:00.0", "nvme", 13, 0, NULL);
	fake_pci_dev("0000:43:00.0", NULL, -1, -1, NULL);

	is_int(sva_sysfs_pci_to_cdev(sys, "0000:41:00.0", out, sizeof(out)), 0, "vfio-pci device resolves");
	ok(strcmp(out, "vfio3") == 0, "to its cdev vfio3 (got %s)", out);
	is_int(sva_sysfs_pci_to_cdev(sys, "0000:42:00.0", out, sizeof(out)), -ENODEV, "nvme-bound device: -ENODEV");
	is_int(sva_sysfs_pci_to_cdev(sys, "0000:43:00.0", out, sizeof(out)), -ENODEV, "unbound device: -ENODEV");
	is_int(sva_sysfs_pci_to_cdev(sys, "0000:99:00.0", out, sizeof(out)), -ENOENT, "absent device: -ENOENT");
	is_int(sva_sysfs_pci_to_cdev(sys, "0000:41:00.0", out, 4), -ENAMETOOLONG, "short buffer: -ENAMETOOLONG");

	is_int(sva_sysfs_cdev_to_pci(sys, "vfio3", pci), 0, "cdev vfio3 resolves back");
	ok(strcmp(pci, "0000:41:00.0") == 0, "to 0000:41:00.0 (got %s)", pci);
	is_int(sva_sysfs_cdev_to_pci(sys, "vfio9", pci), -ENOENT, "unknown cdev: -ENOENT");

	is_int(sva_sysfs_numa_node(sys, "0000:41:00.0"), 1, "NUMA node 1");
	is_int(sva_sysfs_numa_node(sys, "0000:42:00.0"), 0, "NUMA node 0");
	is_int(sva_sysfs_numa_node(sys, "0000:43:00.0"), -1, "numa_node -1 stays -1");
	is_int(sva_sysfs_numa_node(sys, "0000:99:00.0"), -1, "absent device: -1");
	fake_write(fake_path("sys/devices/pci0000:00/0000:42:00.0/numa_node"), "garbage\n");
	is_int(sva_sysfs_numa_node(sys, "0000:42:00.0"), -1, "unparsable numa_node: -1");

	is_int(sva_sysfs_driver(sys, "0000:41:00.0", out, sizeof(out)), 0, "driver of a bound device");
	ok(strcmp(out, "vfio-pci") == 0, "is vfio-pci (got %s)", out);
	is_int(sva_sysfs_driver(sys, "0000:43:00.0", out, sizeof(out)), -ENOENT, "unbound device has no driver");

	is_int(sva_sysfs_iommu_group(sys, "0000:41:00.0"), 12, "IOMMU group 12");
	is_int(sva_sysfs_iommu_group(sys, "0000:43:00.0"), -ENOENT, "no IOMMU group: -ENOENT");

	fake_cleanup();
	return done_testing();
}
