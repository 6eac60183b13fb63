/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Build a fake /sys and /dev under a temporary directory for unit tests. */
#ifndef SVA_TESTS_FAKE_SYSFS_H
#define SVA_TESTS_FAKE_SYSFS_H

#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char fake_root[256];

__attribute__((format(printf, 1, 2), unused)) static const char *fake_path(const char *fmt, ...)
{
	static char buf[4][PATH_MAX + 256];
	static int idx;
	char rel[PATH_MAX - 256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(rel, sizeof(rel), fmt, ap);
	va_end(ap);
	idx = (idx + 1) % 4;
	snprintf(buf[idx], sizeof(buf[idx]), "%s/%s", fake_root, rel);
	return buf[idx];
}

/* mkdir -p */
static void fake_mkdir(const char *path)
{
	char tmp[PATH_MAX];

	snprintf(tmp, sizeof(tmp), "%s", path);
	for (char *p = tmp + 1; *p; p++) {
		if (*p == '/') {
			*p = '\0';
			mkdir(tmp, 0755);
			*p = '/';
		}
	}
	mkdir(tmp, 0755);
}

__attribute__((unused)) static void fake_write(const char *path, const char *text)
{
	FILE *f;
	char dir[PATH_MAX], *slash;

	snprintf(dir, sizeof(dir), "%s", path);
	slash = strrchr(dir, '/');
	*slash = '\0';
	fake_mkdir(dir);
	f = fopen(path, "w");
	if (f) {
		fputs(text, f);
		fclose(f);
	}
}

__attribute__((unused)) static void fake_link(const char *target, const char *path)
{
	char dir[PATH_MAX], *slash;

	snprintf(dir, sizeof(dir), "%s", path);
	slash = strrchr(dir, '/');
	*slash = '\0';
	fake_mkdir(dir);
	if (symlink(target, path) != 0)
		perror("symlink");
}

static void fake_init(void)
{
	const char *tmp = getenv("TMPDIR");

	snprintf(fake_root, sizeof(fake_root), "%s/sva-fake-XXXXXX", tmp ? tmp : "/tmp");
	if (!mkdtemp(fake_root)) {
		perror("mkdtemp");
		exit(99);
	}
}

__attribute__((unused)) static void fake_cleanup(void)
{
	char cmd[PATH_MAX + 16];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", fake_root);
	if (system(cmd) != 0)
		fprintf(stderr, "could not remove %s\n", fake_root);
}

/*
 * A PCI device as sysfs shows it: numa_node, driver link, iommu_group link and,
 * when bound to vfio-pci with cdev support, vfio-dev/vfioN plus the class link.
 */
__attribute__((unused)) static void fake_pci_dev(const char *pci, const char *driver, int group, int numa,
						 const char *cdev)
{
	char buf[64];

	fake_mkdir(fake_path("sys/devices/pci0000:00/%s", pci));
	fake_link(fake_path("sys/devices/pci0000:00/%s", pci), fake_path("sys/bus/pci/devices/%s", pci));
	snprintf(buf, sizeof(buf), "%d\n", numa);
	fake_write(fake_path("sys/devices/pci0000:00/%s/numa_node", pci), buf);
	if (driver) {
		fake_mkdir(fake_path("sys/bus/pci/drivers/%s", driver));
		fake_link(fake_path("sys/bus/pci/drivers/%s", driver),
			  fake_path("sys/devices/pci0000:00/%s/driver", pci));
	}
	if (group >= 0) {
		fake_mkdir(fake_path("sys/kernel/iommu_groups/%d", group));
		fake_link(fake_path("sys/kernel/iommu_groups/%d", group),
			  fake_path("sys/devices/pci0000:00/%s/iommu_group", pci));
	}
	if (cdev) {
		fake_mkdir(fake_path("sys/devices/pci0000:00/%s/vfio-dev/%s", pci, cdev));
		fake_link(fake_path("sys/devices/pci0000:00/%s", pci),
			  fake_path("sys/devices/pci0000:00/%s/vfio-dev/%s/device", pci, cdev));
		fake_link(fake_path("sys/devices/pci0000:00/%s/vfio-dev/%s", pci, cdev),
			  fake_path("sys/class/vfio-dev/%s", cdev));
	}
}

#endif
