/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* sysfs resolution against a fake tree: PCI address <-> VFIO cdev, NUMA, driver, group. */
#include <errno.h>
#include <string.h>
#include <sys/resource.h>

#include "internal.h"
#include "../tap.h"
#include "fake_sysfs.h"

/* The node, or the error of reading it. */
static int numa(const char *sys, const char *pci)
{
	int node, ret = sva_sysfs_numa_node(sys, pci, &node);

	return ret ? ret : node;
}

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
	{
		/* No descriptor free for the vfio-dev/ directory: an error, not
		 * "no cdev" (it said -ENODEV, which sva_dev_open() blamed on the
		 * kernel's configuration). */
		struct rlimit old, low;
		int fd = dup(0), ret;

		getrlimit(RLIMIT_NOFILE, &old);
		low = old;
		low.rlim_cur = (rlim_t)fd; /* the lowest free number is fd: nothing can be opened */
		close(fd);
		setrlimit(RLIMIT_NOFILE, &low);
		ret = sva_sysfs_pci_to_cdev(sys, "0000:41:00.0", out, sizeof(out));
		setrlimit(RLIMIT_NOFILE, &old);
		is_int(ret, -EMFILE, "no descriptor free to read vfio-dev/: -EMFILE, not -ENODEV");
	}

	is_int(sva_sysfs_cdev_to_pci(sys, "vfio3", pci), 0, "cdev vfio3 resolves back");
	ok(strcmp(pci, "0000:41:00.0") == 0, "to 0000:41:00.0 (got %s)", pci);
	is_int(sva_sysfs_cdev_to_pci(sys, "vfio9", pci), -ENOENT, "unknown cdev: -ENOENT");

	is_int(numa(sys, "0000:41:00.0"), 1, "NUMA node 1");
	is_int(numa(sys, "0000:42:00.0"), 0, "NUMA node 0");
	is_int(numa(sys, "0000:43:00.0"), -1, "numa_node -1 stays -1");
	is_int(numa(sys, "0000:99:00.0"), -1, "absent device: -1");
	{
		/* No descriptor free: an error, not "no node" (it said -1). */
		struct rlimit old, low;
		int fd = dup(0), node = 7, ret;

		getrlimit(RLIMIT_NOFILE, &old);
		low = old;
		low.rlim_cur = (rlim_t)fd; /* the lowest free number is fd: nothing can be opened */
		close(fd);
		setrlimit(RLIMIT_NOFILE, &low);
		ret = sva_sysfs_numa_node(sys, "0000:41:00.0", &node);
		setrlimit(RLIMIT_NOFILE, &old);
		is_int(ret, -EMFILE, "no descriptor free to read numa_node: -EMFILE");
		is_int(node, -1, "  and the node is -1, not a guess");
	}
	fake_write(fake_path("sys/devices/pci0000:00/0000:42:00.0/numa_node"), "garbage\n");
	is_int(numa(sys, "0000:42:00.0"), -1, "unparsable numa_node: -1");

	is_int(sva_sysfs_driver(sys, "0000:41:00.0", out, sizeof(out)), 0, "driver of a bound device");
	ok(strcmp(out, "vfio-pci") == 0, "is vfio-pci (got %s)", out);
	is_int(sva_sysfs_driver(sys, "0000:43:00.0", out, sizeof(out)), -ENOENT, "unbound device has no driver");

	is_int(sva_sysfs_iommu_group(sys, "0000:41:00.0"), 12, "IOMMU group 12");
	is_int(sva_sysfs_iommu_group(sys, "0000:43:00.0"), -ENOENT, "no IOMMU group: -ENOENT");

	fake_cleanup();
	return done_testing();
}
