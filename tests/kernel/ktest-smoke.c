/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * ktest-smoke: proves the test VM's plumbing (tests/vm), nothing of libsva.
 *
 * Every topology: /dev/iommu opens and answers IOMMU_IOAS_ALLOC.
 * vtd*:       a VT-d unit is present, QEMU's edu (1234:11e8) is bound to
 *             vfio-pci and /dev/vfio/devices/vfio0 opens.
 * vtd48-numa: the guest has NUMA node 1 and edu sits on it (vtd39: not on 1).
 *
 * The topology comes from SVA_TOPOLOGY, set by the VM's /init with SVA_VM=1.
 * Outside the VM without /dev/iommu the whole test is skipped.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "edu_find.h"

/* IOMMU_IOAS_ALLOC from <linux/iommufd.h> (absent from Debian 12's headers). */
struct smoke_ioas_alloc {
	uint32_t size;
	uint32_t flags;
	uint32_t out_ioas_id;
};
#define SMOKE_IOMMU_IOAS_ALLOC _IO(';', 0x81)

static int test_num;
static int failures;

static void check(int ok, const char *what)
{
	test_num++;
	printf("%s %d - %s\n", ok ? "ok" : "not ok", test_num, what);
	if (!ok)
		failures++;
	fflush(stdout);
}

/* A TAP diagnostic line; err != 0 appends strerror(err). */
__attribute__((format(printf, 2, 3)))
static void diag(int err, const char *fmt, ...)
{
	va_list ap;

	printf("# ");
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	if (err)
		printf(": %s", strerror(err));
	printf("\n");
}

/* Reads a small sysfs file into buf (trailing newline dropped); 0 or -errno. */
static int read_attr(const char *dir, const char *attr, char *buf, size_t len)
{
	char path[512];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, attr);
	f = fopen(path, "re");
	if (!f)
		return -errno;
	if (!fgets(buf, (int)len, f)) {
		fclose(f);
		return -EIO;
	}
	fclose(f);
	buf[strcspn(buf, "\n")] = '\0';
	return 0;
}

int main(void)
{
	const char *topology = getenv("SVA_TOPOLOGY");
	int in_vm = getenv("SVA_VM") != NULL;
	int vtd, numa, fd, plan;
	struct stat st;

	if (!topology)
		topology = "";
	vtd = !strncmp(topology, "vtd", 3);
	numa = !strcmp(topology, "vtd48-numa");

	if (!in_vm && access("/dev/iommu", F_OK) != 0) {
		printf("1..0 # SKIP no /dev/iommu on this host (run make check-vm)\n");
		return 0;
	}

	plan = 2 + (vtd ? 4 : 0) + (numa ? 1 : 0);
	printf("1..%d\n", plan);
	printf("# topology: %s%s\n", topology[0] ? topology : "(none)", in_vm ? " (test VM)" : "");

	fd = open("/dev/iommu", O_RDWR | O_CLOEXEC);
	if (fd < 0)
		diag(errno, "open /dev/iommu");
	check(fd >= 0, "/dev/iommu opens read-write");
	{
		struct smoke_ioas_alloc alloc = { .size = sizeof(alloc) };
		int ret = fd >= 0 ? ioctl(fd, SMOKE_IOMMU_IOAS_ALLOC, &alloc) : -1;

		if (fd >= 0 && ret)
			diag(errno, "IOMMU_IOAS_ALLOC");
		check(ret == 0 && alloc.out_ioas_id != 0, "iommufd answers IOMMU_IOAS_ALLOC");
	}
	if (fd >= 0)
		close(fd);

	if (vtd) {
		char addr[64], edu[512] = "", drv[600], link[512], node[16] = "";
		ssize_t n;
		int vfd;

		check(access("/sys/class/iommu/dmar0", F_OK) == 0, "a VT-d unit (dmar0) is present");

		if (edu_find(addr, sizeof(addr), NULL, 0))
			snprintf(edu, sizeof(edu), EDU_FIND_SYSFS "/%s", addr);
		else
			diag(0, "no PCI device " EDU_VENDOR_STR ":" EDU_DEVICE_STR " (edu) found");
		snprintf(drv, sizeof(drv), "%s/driver", edu);
		n = edu[0] ? readlink(drv, link, sizeof(link) - 1) : -1;
		if (n >= 0)
			link[n] = '\0';
		check(n >= 0 && strstr(link, "/vfio-pci") != NULL, "edu is bound to vfio-pci");

		vfd = open("/dev/vfio/devices/vfio0", O_RDWR | O_CLOEXEC);
		if (vfd < 0)
			diag(errno, "open /dev/vfio/devices/vfio0");
		check(vfd >= 0 && fstat(vfd, &st) == 0 && S_ISCHR(st.st_mode),
		      "/dev/vfio/devices/vfio0 opens (a char device)");
		if (vfd >= 0)
			close(vfd);

		if (edu[0] && read_attr(edu, "numa_node", node, sizeof(node)) == 0)
			diag(0, "edu %s numa_node: %s", edu, node);
		if (numa)
			check(!strcmp(node, "1"), "edu is on NUMA node 1");
		else
			check(node[0] && strcmp(node, "1") != 0, "edu is not on NUMA node 1");
	}
	if (numa)
		check(access("/sys/devices/system/node/node1", F_OK) == 0, "NUMA node 1 exists");

	return failures ? 1 : 0;
}
