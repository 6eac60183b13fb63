/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * QEMU's edu PCI device (1234:11e8) found in sysfs, and the first PCI device
 * a VFIO driver holds, or does not, whatever it is.  Libc only, so a
 * black-box test includes it without seeing the library's inside; ktest.h's
 * ktest_find_pci walks sysfs through it too, so there is one walk.
 *
 * What a test does when edu is missing stays its own: on the VM's VT-d
 * topologies (tests/vm/run-vm.sh) edu is always there, so its absence is a
 * failure there and a skip only elsewhere.
 */
#ifndef SVA_TESTS_KERNEL_EDU_FIND_H
#define SVA_TESTS_KERNEL_EDU_FIND_H

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/*
 * edu's IDs, written once: as numbers (EDU_VENDOR, 0x1234) for sysfs, and as
 * the strings sva-info prints (EDU_VENDOR_STR, "1234"), both made from the
 * same digits.
 */
#define EDU_VENDOR_HEX 1234
#define EDU_DEVICE_HEX 11e8
#define EDU_FIND_NUM_(x) 0x##x
#define EDU_FIND_NUM(x) EDU_FIND_NUM_(x)
#define EDU_FIND_STR_(x) #x
#define EDU_FIND_STR(x) EDU_FIND_STR_(x)
#define EDU_VENDOR EDU_FIND_NUM(EDU_VENDOR_HEX)
#define EDU_DEVICE EDU_FIND_NUM(EDU_DEVICE_HEX)
#define EDU_VENDOR_STR EDU_FIND_STR(EDU_VENDOR_HEX)
#define EDU_DEVICE_STR EDU_FIND_STR(EDU_DEVICE_HEX)

#define EDU_FIND_SYSFS "/sys/bus/pci/devices"

/* The first line of the sysfs attribute dir/name, newline cut; "" if none. */
static inline void edu_find_attr(const char *dir, const char *name, char *buf, size_t len)
{
	char p[600];
	FILE *f;

	buf[0] = '\0';
	snprintf(p, sizeof(p), EDU_FIND_SYSFS "/%s/%s", dir, name);
	if (!(f = fopen(p, "r")))
		return;
	if (!fgets(buf, (int)len, f))
		buf[0] = '\0';
	fclose(f);
	buf[strcspn(buf, "\n")] = '\0';
}

/* The VFIO cdev PCI device addr has (vfio-dev/vfioN) as "/dev/vfio/devices/vfioN"
 * into cdev; 1, or 0 (cdev "") when it has none, i.e. no VFIO driver holds it. */
static inline int edu_find_cdev(const char *addr, char *cdev, size_t clen)
{
	char p[600];
	DIR *d;
	struct dirent *e;
	int found = 0;

	cdev[0] = '\0';
	snprintf(p, sizeof(p), EDU_FIND_SYSFS "/%s/vfio-dev", addr);
	if (!(d = opendir(p)))
		return 0;
	while (!found && (e = readdir(d)))
		if (!strncmp(e->d_name, "vfio", 4) && strlen(e->d_name) + 18 < clen) {
			memcpy(cdev, "/dev/vfio/devices/", 18);
			memcpy(cdev + 18, e->d_name, strlen(e->d_name) + 1);
			found = 1;
		}
	closedir(d);
	return found;
}

/* The hexadecimal sysfs attribute dir/name ("0x1234") as a number; 0 if none. */
static inline unsigned edu_find_id(const char *dir, const char *name)
{
	char buf[32];

	edu_find_attr(dir, name, buf, sizeof(buf));
	return (unsigned)strtoul(buf, NULL, 16);
}

/*
 * The PCI address ("0000:00:04.0") of the first device sysfs lists with this
 * vendor:device, into addr.  With cdev non-NULL only such a device bound to a
 * VFIO driver counts, and cdev gets its cdev's path.  1 if found, else 0 with
 * addr (and cdev) "".
 */
static inline int edu_find_pci_id(unsigned vendor, unsigned device, char *addr, size_t alen, char *cdev,
				  size_t clen)
{
	DIR *d = opendir(EDU_FIND_SYSFS);
	struct dirent *e;
	int found = 0;

	addr[0] = '\0';
	if (cdev)
		cdev[0] = '\0';
	if (!d)
		return 0;
	while (!found && (e = readdir(d))) {
		if (e->d_name[0] == '.')
			continue;
		if (edu_find_id(e->d_name, "vendor") != vendor || edu_find_id(e->d_name, "device") != device)
			continue;
		/* a name too long for addr is no PCI address: skipped, never cut */
		if (strlen(e->d_name) >= alen || (cdev && !edu_find_cdev(e->d_name, cdev, clen)))
			continue;
		memcpy(addr, e->d_name, strlen(e->d_name) + 1);
		found = 1;
	}
	closedir(d);
	return found;
}

/* edu_find_pci_id for edu. */
static inline int edu_find(char *addr, size_t alen, char *cdev, size_t clen)
{
	return edu_find_pci_id(EDU_VENDOR, EDU_DEVICE, addr, alen, cdev, clen);
}

/*
 * The PCI address of the first device sysfs lists whose vfio-dev directory
 * exists (vfio 1: a VFIO driver holds it) or not (vfio 0), into addr.  The
 * directory's existence is what counts, not a cdev in it: a test wanting the
 * cdev asks edu_find_cdev.  1 if found, else 0 with addr "".
 */
static inline int edu_find_pci_vfio(int vfio, char *addr, size_t alen)
{
	DIR *d = opendir(EDU_FIND_SYSFS);
	struct dirent *e;
	int found = 0;

	addr[0] = '\0';
	if (!d)
		return 0;
	while (!found && (e = readdir(d))) {
		char p[600];
		struct stat st;

		if (e->d_name[0] == '.')
			continue;
		snprintf(p, sizeof(p), EDU_FIND_SYSFS "/%s/vfio-dev", e->d_name);
		/* a name too long for addr is no PCI address: skipped, never cut */
		if ((stat(p, &st) == 0) != !!vfio || strlen(e->d_name) >= alen)
			continue;
		memcpy(addr, e->d_name, strlen(e->d_name) + 1);
		found = 1;
	}
	closedir(d);
	return found;
}

#endif
