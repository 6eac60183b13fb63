/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * sva-info: list the VFIO cdev devices of this machine and what libsva sees of
 * them.  sysfs describes each device (PCI address, IDs, driver, IOMMU group,
 * NUMA node) without opening anything; where the iommufd opens, each device is
 * also opened through libsva to read its IOMMU hardware info.
 *
 * Listing nothing is not an error: a machine without an IOMMU or without VFIO
 * devices gets a sentence saying so, and exit status 0.  Exit status 1 means the
 * listing itself failed (unreadable sysfs, out of memory, write error), 2 a
 * usage error.
 *
 * With --doctor it checks instead whether the machine can do SVA, one PASS,
 * WARN, FAIL or SKIP line per check, each failure with what to do; the exit
 * status is then 0 (nothing worse than PASS/SKIP), 3 (a WARN) or 4 (a FAIL),
 * with 1 and 2 meaning what they mean for the listing.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif
#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1 /* versionsort() */
#endif

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <unistd.h>

#include "sva/sva.h"
#include "internal.h" /* sva_pci_addr_parse() */

#ifndef PACKAGE_VERSION
#define SVA_INFO_STR_(x) #x
#define SVA_INFO_STR(x) SVA_INFO_STR_(x)
#define PACKAGE_VERSION SVA_INFO_STR(SVA_VERSION_MAJOR) "." SVA_INFO_STR(SVA_VERSION_MINOR)
#endif

#define PROG "sva-info"
#define NO_DEVICES_MSG "no VFIO cdev devices found (is a device bound to vfio-pci? is CONFIG_VFIO_DEVICE_CDEV set?)"

/* ----------------------------------------------------------------- records */

enum hw_state {
	HW_OK,		/* opened; info is valid */
	HW_NO_IOMMUFD,	/* not tried: the iommufd did not open */
	HW_NOT_OPENED,	/* not tried: --no-open */
	HW_OPEN_FAILED, /* sva_dev_open() failed with hw_err */
	HW_INFO_FAILED, /* sva_dev_get_info() failed with hw_err */
};

struct dev_rec {
	char name[NAME_MAX + 1];	 /* "vfio3" */
	char node[PATH_MAX];		 /* "/dev/vfio/devices/vfio3" */
	int node_err;			 /* 0: a character device; -ENOTTY: something else; -errno of stat() */
	char sysdev[PATH_MAX];		 /* the resolved sysfs device directory, or "" */
	char bus[NAME_MAX + 1];		 /* "pci", "platform", ... or "" */
	char pci[16];			 /* canonical PCI address, or "" */
	char vendor[8], device[8];	 /* "8086", "0b25", or "" */
	char driver[NAME_MAX + 1];	 /* or "" */
	long iommu_group;		 /* -1: none */
	long numa_node;			 /* -1: unknown or not NUMA */
	enum hw_state hw;
	int hw_err;
	struct sva_dev_info info;
};

struct iommu_rec {
	char path[PATH_MAX];
	int err; /* 0: opened, else the negative errno of sva_ctx_new() */
};

struct options {
	bool json, verbose, no_open, doctor;
	const char *sysfs_root, *dev_root, *iommu_path;
	const char *proc_root;	   /* --doctor: /proc, or a test tree */
	const char *kernel_config; /* --doctor: the kernel config to read, or NULL to look for it */
};

/* ------------------------------------------------------------------ errors */

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
	{ EROFS, "EROFS" },   { ENOTCONN, "ENOTCONN" },
};

static const char *errno_name(int err)
{
	for (size_t i = 0; i < ARRAY_SIZE(errno_names); i++)
		if (errno_names[i].err == err)
			return errno_names[i].name;
	return NULL;
}

/* What to do about an iommufd that does not open (err is negative). */
static const char *iommu_hint(int err)
{
	switch (err) {
	case -ENOENT:
		return "the kernel needs CONFIG_IOMMUFD (try 'modprobe iommufd')";
	case -EACCES:
	case -EPERM:
		return "permission denied: run as root, or give your user access to it (a udev rule)";
	case -ENOTTY:
		return "it is not an iommufd device node";
	default:
		return NULL;
	}
}

/* What to do about a device that does not open (err is negative). */
static const char *dev_hint(int err)
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
		return "it is not a VFIO cdev device";
	default:
		return NULL;
	}
}

/* ------------------------------------------------------------------- sysfs */

/* Read a one-line sysfs attribute dir/name, without its newline. */
static int read_attr(const char *dir, const char *name, char *buf, size_t len)
{
	char path[PATH_MAX];
	FILE *f;
	int ret = 0;

	if ((size_t)snprintf(path, sizeof(path), "%s/%s", dir, name) >= sizeof(path))
		return -ENAMETOOLONG;
	f = fopen(path, "re");
	if (!f)
		return -errno;
	if (!fgets(buf, (int)len, f))
		ret = ferror(f) ? -EIO : -ENODATA;
	fclose(f);
	if (!ret)
		buf[strcspn(buf, "\r\n")] = '\0';
	return ret;
}

/* The basename of the target of the symlink dir/name. */
static int link_base(const char *dir, const char *name, char *out, size_t len)
{
	char path[PATH_MAX], target[PATH_MAX];
	const char *base;
	ssize_t n;

	if ((size_t)snprintf(path, sizeof(path), "%s/%s", dir, name) >= sizeof(path))
		return -ENAMETOOLONG;
	n = readlink(path, target, sizeof(target) - 1);
	if (n < 0)
		return -errno;
	target[n] = '\0';
	base = strrchr(target, '/');
	base = base ? base + 1 : target;
	if (!*base || strlen(base) >= len)
		return -ENAMETOOLONG;
	strcpy(out, base);
	return 0;
}

/* A PCI ID attribute ("0x8086") as four lower-case hex digits ("8086"). */
static void read_pci_id(const char *dir, const char *name, char out[8])
{
	char buf[32], *end;
	unsigned long v;

	out[0] = '\0';
	if (read_attr(dir, name, buf, sizeof(buf)))
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
	if (link_base(d->sysdev, "subsystem", d->bus, sizeof(d->bus)))
		d->bus[0] = '\0';
	if ((!d->bus[0] || strcmp(d->bus, "pci") == 0) && sva_pci_addr_parse(base, d->pci) == 0) {
		if (!d->bus[0])
			strcpy(d->bus, "pci");
		read_pci_id(d->sysdev, "vendor", d->vendor);
		read_pci_id(d->sysdev, "device", d->device);
	} else {
		d->pci[0] = '\0';
	}
	if (link_base(d->sysdev, "driver", d->driver, sizeof(d->driver)))
		d->driver[0] = '\0';
	if (!link_base(d->sysdev, "iommu_group", buf, sizeof(buf)))
		d->iommu_group = parse_nonneg(buf);
	if (!read_attr(d->sysdev, "numa_node", buf, sizeof(buf)))
		d->numa_node = parse_nonneg(buf);
}

static int skip_dots(const struct dirent *de)
{
	return de->d_name[0] != '.';
}

/*
 * Describe every entry of class/vfio-dev from sysfs alone, in natural order
 * (vfio2 before vfio10).  Returns the count or a negative errno; a missing
 * class directory is zero devices.
 */
static int collect_devices(const struct options *o, struct dev_rec **out)
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
	if (n < 0)
		return (errno == ENOENT || errno == ENOTDIR) ? 0 : -errno;
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
		if ((size_t)snprintf(d->node, sizeof(d->node), "%s/vfio/devices/%s", o->dev_root, d->name) >=
		    sizeof(d->node))
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

/* ----------------------------------------------------------------- libsva */

static void probe_hw(struct sva_ctx *ctx, struct dev_rec *d)
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

/* Call fn for each named capability bit, then once for the unknown rest. */
static void for_each_cap(uint64_t caps, void (*fn)(void *arg, const char *name), void *arg)
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

/* -------------------------------------------------------------------- text */

#define FIELD "  %-15s "

/*
 * Print a string from sysfs or the command line: names and paths are bytes the
 * kernel or the user chose, so control characters are escaped rather than sent
 * to the terminal.
 */
static void put_text(const char *s)
{
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		if (*p < 0x20 || *p == 0x7f)
			printf("\\x%02x", *p);
		else
			putchar(*p);
	}
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

static void print_text(const struct iommu_rec *im, const struct dev_rec *devs, int n)
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

/* -------------------------------------------------------------------- JSON */

/* A streaming, pretty-printing JSON writer: enough for one document. */
struct json {
	FILE *f;
	int depth;
	bool need_comma; /* a value was written at this depth */
};

/* The length of a valid UTF-8 sequence of 2-4 bytes at p, or 0. */
static size_t utf8_seq_len(const unsigned char *p)
{
	uint32_t cp, min;
	size_t n;

	if (p[0] >= 0xc2 && p[0] <= 0xdf) {
		n = 2, cp = p[0] & 0x1fu, min = 0x80;
	} else if (p[0] >= 0xe0 && p[0] <= 0xef) {
		n = 3, cp = p[0] & 0x0fu, min = 0x800;
	} else if (p[0] >= 0xf0 && p[0] <= 0xf4) {
		n = 4, cp = p[0] & 0x07u, min = 0x10000;
	} else {
		return 0;
	}
	for (size_t i = 1; i < n; i++) {
		if ((p[i] & 0xc0) != 0x80) /* also stops at the NUL */
			return 0;
		cp = cp << 6 | (p[i] & 0x3fu);
	}
	if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return n;
}

/* A JSON string: quotes, backslashes and control characters escaped; bytes that
 * are not UTF-8 (sysfs and paths are just bytes) become U+FFFD. */
static void json_quote(FILE *f, const char *s)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t n;

	fputc('"', f);
	while (*p) {
		switch (*p) {
		case '"':
			fputs("\\\"", f);
			break;
		case '\\':
			fputs("\\\\", f);
			break;
		case '\b':
			fputs("\\b", f);
			break;
		case '\f':
			fputs("\\f", f);
			break;
		case '\n':
			fputs("\\n", f);
			break;
		case '\r':
			fputs("\\r", f);
			break;
		case '\t':
			fputs("\\t", f);
			break;
		default:
			if (*p < 0x20) {
				fprintf(f, "\\u%04x", *p);
			} else if (*p < 0x80) {
				fputc(*p, f);
			} else if ((n = utf8_seq_len(p)) != 0) {
				fwrite(p, 1, n, f);
				p += n;
				continue;
			} else {
				fputs("\\ufffd", f);
			}
		}
		p++;
	}
	fputc('"', f);
}

/* Start a value: comma, newline and indentation, then the key if in an object. */
static void json_prefix(struct json *j, const char *key)
{
	if (j->need_comma)
		fputc(',', j->f);
	if (j->depth)
		fprintf(j->f, "\n%*s", 2 * j->depth, "");
	if (key) {
		json_quote(j->f, key);
		fputs(": ", j->f);
	}
	j->need_comma = true;
}

static void json_open(struct json *j, const char *key, char brace)
{
	json_prefix(j, key);
	fputc(brace, j->f);
	j->depth++;
	j->need_comma = false;
}

static void json_close(struct json *j, char brace)
{
	j->depth--;
	if (j->need_comma) /* not empty: the closing brace on its own line */
		fprintf(j->f, "\n%*s", 2 * j->depth, "");
	fputc(brace, j->f);
	j->need_comma = true;
	if (!j->depth)
		fputc('\n', j->f);
}

/* A string, or null for NULL and "" (unknown). */
static void json_str(struct json *j, const char *key, const char *val)
{
	json_prefix(j, key);
	if (val && *val)
		json_quote(j->f, val);
	else
		fputs("null", j->f);
}

static void json_int(struct json *j, const char *key, long long val)
{
	json_prefix(j, key);
	fprintf(j->f, "%lld", val);
}

/* A non-negative number, or null for a negative one (unknown). */
static void json_nonneg(struct json *j, const char *key, long long val)
{
	json_prefix(j, key);
	if (val >= 0)
		fprintf(j->f, "%lld", val);
	else
		fputs("null", j->f);
}

static void json_bool(struct json *j, const char *key, bool val)
{
	json_prefix(j, key);
	fputs(val ? "true" : "false", j->f);
}

static void json_null(struct json *j, const char *key)
{
	json_prefix(j, key);
	fputs("null", j->f);
}

/* {"errno": 2, "name": "ENOENT", "message": "No such file or directory", "hint": ...} */
static void json_error(struct json *j, const char *key, int err, const char *hint)
{
	json_open(j, key, '{');
	json_int(j, "errno", -err);
	json_str(j, "name", errno_name(-err));
	json_str(j, "message", strerror(-err));
	json_str(j, "hint", hint);
	json_close(j, '}');
}

static void json_cap(void *arg, const char *name)
{
	json_str(arg, NULL, name);
}

static void json_device(struct json *j, const struct dev_rec *d)
{
	json_open(j, NULL, '{');
	json_str(j, "name", d->name);
	json_str(j, "path", d->node);
	json_bool(j, "path_exists", d->node_err != -ENOENT && d->node_err != -ENOTDIR);
	json_bool(j, "path_is_chardev", d->node_err == 0);
	json_str(j, "sysfs_path", d->sysdev);
	json_str(j, "bus", d->bus);
	json_str(j, "pci_addr", d->pci);
	json_str(j, "vendor_id", d->vendor);
	json_str(j, "device_id", d->device);
	json_str(j, "driver", d->driver);
	json_nonneg(j, "iommu_group", d->iommu_group);
	json_nonneg(j, "numa_node", d->numa_node);
	if (d->hw == HW_OK) {
		json_open(j, "hw_info", '{');
		json_int(j, "dev_id", d->info.dev_id);
		json_str(j, "iommu_type", sva_iommu_type_name(d->info.iommu_type));
		json_int(j, "iommu_type_id", d->info.iommu_type);
		json_int(j, "max_pasid_log2", d->info.max_pasid_log2);
		json_int(j, "hw_caps", (long long)d->info.hw_caps);
		json_open(j, "hw_caps_names", '[');
		for_each_cap(d->info.hw_caps, json_cap, j);
		json_close(j, ']');
		json_nonneg(j, "numa_node", d->info.numa_node);
		json_close(j, '}');
		json_null(j, "hw_info_error");
	} else {
		json_null(j, "hw_info");
		json_open(j, "hw_info_error", '{');
		switch (d->hw) {
		case HW_NO_IOMMUFD:
			json_str(j, "reason", "no-iommufd");
			json_str(j, "message", "the iommufd cannot be opened");
			break;
		case HW_NOT_OPENED:
			json_str(j, "reason", "not-opened");
			json_str(j, "message", "not read (--no-open)");
			break;
		default:
			json_str(j, "reason", d->hw == HW_OPEN_FAILED ? "open-failed" : "info-failed");
			json_error(j, "error", d->hw_err, d->hw == HW_OPEN_FAILED ? dev_hint(d->hw_err) : NULL);
			break;
		}
		json_close(j, '}');
	}
	json_close(j, '}');
}

static void print_json(const struct options *o, const struct iommu_rec *im, const struct dev_rec *devs, int n)
{
	struct json j = { .f = stdout };

	json_open(&j, NULL, '{');
	json_open(&j, "iommufd", '{');
	json_str(&j, "path", im->path);
	json_bool(&j, "available", im->err == 0);
	if (im->err)
		json_error(&j, "error", im->err, iommu_hint(im->err));
	else
		json_null(&j, "error");
	json_str(&j, "sysfs_root", o->sysfs_root);
	json_str(&j, "dev_root", o->dev_root);
	json_close(&j, '}');
	json_open(&j, "devices", '[');
	for (int i = 0; i < n; i++)
		json_device(&j, &devs[i]);
	json_close(&j, ']');
	json_close(&j, '}');
}

/* ------------------------------------------------------------------ doctor */

/*
 * sva-info --doctor: can this machine do SVA, and if not, why and what to do.
 * Every check gives one result: PASS (nothing to do for what libsva does
 * today), WARN (SVA works with a limit, or something could not be checked),
 * FAIL (SVA cannot work until it is fixed) or SKIP (not checked because an
 * earlier check failed or --no-open).  The checks read sysfs, procfs and the
 * kernel config under the configurable roots, so a test can fake all of them.
 */

enum doc_status { DOC_SKIP, DOC_PASS, DOC_WARN, DOC_FAIL };

static const char *const doc_status_text[] = { "SKIP", "PASS", "WARN", "FAIL" };
static const char *const doc_status_json[] = { "skip", "pass", "warn", "fail" };

/* Exit statuses of --doctor (0 is also "every check passed or was skipped"). */
#define DOC_EXIT_WARN 3
#define DOC_EXIT_FAIL 4

/* The RLIMIT_MEMLOCK below which mirrored (pinned) memory is likely to run out. */
#define DOC_MEMLOCK_MIN (64ull << 20)

/* Capability bits of /proc/self/status CapEff. */
#define DOC_CAP_IPC_LOCK 14
#define DOC_CAP_SYS_ADMIN 21

/* PCI Express extended capabilities. */
#define PCI_EXT_CAP_START 0x100
#define PCI_EXT_CAP_ID_ATS 0x0f
#define PCI_EXT_CAP_ID_PRI 0x13
#define PCI_EXT_CAP_ID_PASID 0x1b
#define PCI_CFG_MAX 4096

enum doc_type { DOC_STR, DOC_INT, DOC_BOOL };

struct doc_datum {
	const char *key;
	enum doc_type type;
	char *s;
	long long i;
};

#define DOC_MAX_DATA 8

struct doc_check {
	const char *id;		/* "iommufd", "pci-pasid", ... */
	char *device;		/* "vfio3", or NULL for the machine */
	enum doc_status status;
	char *msg, *fix;	/* fix: NULL when there is nothing to do */
	struct doc_datum data[DOC_MAX_DATA];
	int ndata;
};

/* What the kernel config says of one option: 'y', 'm', 'n' (not set or absent). */
struct kconfig_opt {
	const char *name;
	char value;
};

struct doctor {
	const struct options *o;
	struct doc_check *checks;
	size_t n, cap;
	bool oom;
	/* Facts later checks use. */
	struct kconfig_opt kconfig[2]; /* CONFIG_IOMMUFD, CONFIG_VFIO_DEVICE_CDEV */
	bool kconfig_known;
	bool caps_known; /* cap_eff was read from PROC/self/status */
	uint64_t cap_eff;
};

static char *doc_vasprintf(struct doctor *dr, const char *fmt, va_list ap) SVA_PRINTF(2, 0);
static char *doc_vasprintf(struct doctor *dr, const char *fmt, va_list ap)
{
	char *s;

	if (vasprintf(&s, fmt, ap) < 0) {
		dr->oom = true;
		return NULL;
	}
	return s;
}

static char *doc_strdup(struct doctor *dr, const char *s)
{
	char *d = strdup(s);

	if (!d)
		dr->oom = true;
	return d;
}

/* Add a check result; the message is formatted.  Returns NULL out of memory. */
static struct doc_check *doc_add(struct doctor *dr, const char *device, const char *id, enum doc_status st,
				 const char *fmt, ...) SVA_PRINTF(5, 6);
static struct doc_check *doc_add(struct doctor *dr, const char *device, const char *id, enum doc_status st,
				 const char *fmt, ...)
{
	struct doc_check *c;
	va_list ap;

	if (dr->n == dr->cap) {
		size_t cap = dr->cap ? 2 * dr->cap : 32;
		struct doc_check *p = realloc(dr->checks, cap * sizeof(*p));

		if (!p) {
			dr->oom = true;
			return NULL;
		}
		dr->checks = p;
		dr->cap = cap;
	}
	c = &dr->checks[dr->n++];
	memset(c, 0, sizeof(*c));
	c->id = id;
	c->status = st;
	c->device = device ? doc_strdup(dr, device) : NULL;
	va_start(ap, fmt);
	c->msg = doc_vasprintf(dr, fmt, ap);
	va_end(ap);
	return c;
}

/* Set what to do about a check. */
static void doc_fix(struct doctor *dr, struct doc_check *c, const char *fmt, ...) SVA_PRINTF(3, 4);
static void doc_fix(struct doctor *dr, struct doc_check *c, const char *fmt, ...)
{
	va_list ap;

	if (!c)
		return;
	free(c->fix);
	va_start(ap, fmt);
	c->fix = doc_vasprintf(dr, fmt, ap);
	va_end(ap);
}

static struct doc_datum *doc_datum(struct doc_check *c, const char *key, enum doc_type type)
{
	if (!c || c->ndata == DOC_MAX_DATA)
		return NULL;
	c->data[c->ndata] = (struct doc_datum){ .key = key, .type = type };
	return &c->data[c->ndata++];
}

static void doc_str(struct doctor *dr, struct doc_check *c, const char *key, const char *val)
{
	struct doc_datum *d = doc_datum(c, key, DOC_STR);

	if (d && val)
		d->s = doc_strdup(dr, val);
}

static void doc_int(struct doc_check *c, const char *key, long long val)
{
	struct doc_datum *d = doc_datum(c, key, DOC_INT);

	if (d)
		d->i = val;
}

static void doc_bool(struct doc_check *c, const char *key, bool val)
{
	struct doc_datum *d = doc_datum(c, key, DOC_BOOL);

	if (d)
		d->i = val;
}

static void doc_free(struct doctor *dr)
{
	for (size_t i = 0; i < dr->n; i++) {
		struct doc_check *c = &dr->checks[i];

		free(c->device);
		free(c->msg);
		free(c->fix);
		for (int k = 0; k < c->ndata; k++)
			free(c->data[k].s);
	}
	free(dr->checks);
}

/* "8 MiB", "1.5 GiB", "512 KiB", "100 bytes" */
static void fmt_size(char *buf, size_t len, unsigned long long v)
{
	static const char *const units[] = { "KiB", "MiB", "GiB", "TiB", "PiB" };
	double d = (double)v;
	int u = -1;

	if (v < 1024) {
		snprintf(buf, len, "%llu bytes", v);
		return;
	}
	while (d >= 1024 && u + 1 < (int)ARRAY_SIZE(units)) {
		d /= 1024;
		u++;
	}
	if (d == (double)(unsigned long long)d)
		snprintf(buf, len, "%llu %s", (unsigned long long)d, units[u]);
	else
		snprintf(buf, len, "%.1f %s", d, units[u]);
}

/* Read a small file whole (at most len - 1 bytes, NUL-terminated).  Returns the
 * length or a negative errno. */
static ssize_t read_small(const char *path, char *buf, size_t len)
{
	size_t got = 0;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return -errno;
	while (got + 1 < len) {
		ssize_t r = read(fd, buf + got, len - 1 - got);

		if (r < 0) {
			if (errno == EINTR)
				continue;
			r = -errno;
			close(fd);
			return r;
		}
		if (r == 0)
			break;
		got += (size_t)r;
	}
	close(fd);
	buf[got] = '\0';
	return (ssize_t)got;
}

/* Append to the string in buf (of size len), cutting what does not fit. */
static void append(char *buf, size_t len, const char *fmt, ...) SVA_PRINTF(3, 4);
static void append(char *buf, size_t len, const char *fmt, ...)
{
	size_t l = strlen(buf);
	va_list ap;

	if (l + 1 >= len)
		return;
	va_start(ap, fmt);
	vsnprintf(buf + l, len - l, fmt, ap);
	va_end(ap);
}

/* root/rel as a path; false if it does not fit. */
static bool join(char *out, size_t len, const char *root, const char *rel)
{
	return (size_t)snprintf(out, len, "%s/%s", root, rel) < len;
}

/* ---- kernel config */

/* Open the gzip-compressed file at fd as a stream of its decompressed bytes,
 * through 'gzip -dc' (no new library for one optional file).  *pid is the
 * child to reap. */
static FILE *gunzip_stream(int fd, pid_t *pid)
{
	int p[2];
	FILE *f;

	if (pipe2(p, O_CLOEXEC))
		return NULL;
	*pid = fork();
	if (*pid < 0) {
		close(p[0]);
		close(p[1]);
		return NULL;
	}
	if (*pid == 0) {
		int null = open("/dev/null", O_WRONLY | O_CLOEXEC);

		/* gzip's complaints would only repeat what the check says. */
		if (dup2(fd, STDIN_FILENO) < 0 || dup2(p[1], STDOUT_FILENO) < 0 ||
		    (null >= 0 && dup2(null, STDERR_FILENO) < 0))
			_exit(126);
		execlp("gzip", "gzip", "-dc", (char *)NULL);
		_exit(127);
	}
	close(p[1]);
	f = fdopen(p[0], "r");
	if (!f)
		close(p[0]);
	return f;
}

/*
 * Read the options of dr->kconfig from the kernel config at path (plain or
 * gzip-compressed, told by its magic bytes).  0, or a negative errno with *why
 * set to a short reason.
 */
static int kconfig_read(struct doctor *dr, const char *path, const char **why)
{
	unsigned char magic[2];
	char line[512];
	bool gz, any = false;
	pid_t pid = -1;
	FILE *f;
	ssize_t n;
	int fd, ret = 0;

	*why = NULL;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	n = read(fd, magic, sizeof(magic));
	if (n < 0) {
		ret = -errno;
		close(fd);
		return ret;
	}
	close(fd);
	gz = n == 2 && magic[0] == 0x1f && magic[1] == 0x8b;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	f = gz ? gunzip_stream(fd, &pid) : fdopen(fd, "r");
	if (gz)
		close(fd);
	if (!f) {
		ret = -errno;
		if (!gz)
			close(fd);
		return ret ? ret : -ENOMEM;
	}
	for (size_t k = 0; k < ARRAY_SIZE(dr->kconfig); k++)
		dr->kconfig[k].value = 'n';
	while (fgets(line, sizeof(line), f)) {
		for (size_t k = 0; k < ARRAY_SIZE(dr->kconfig); k++) {
			const char *name = dr->kconfig[k].name;
			size_t len = strlen(name);
			const char *p = line;

			if (strncmp(p, "# ", 2) == 0)
				p += 2;
			if (strncmp(p, name, len) != 0)
				continue;
			if (p[len] == '=' && (p[len + 1] == 'y' || p[len + 1] == 'm'))
				dr->kconfig[k].value = p[len + 1];
		}
		if (strncmp(line, "CONFIG_", 7) == 0 || strncmp(line, "# CONFIG_", 9) == 0)
			any = true;
	}
	fclose(f);
	if (gz) {
		int status = 0;
		pid_t w;

		while ((w = waitpid(pid, &status, 0)) < 0 && errno == EINTR)
			;
		if (w < 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
			*why = WIFEXITED(status) && WEXITSTATUS(status) == 127 ? "gzip is not installed"
										 : "gzip could not decompress it";
			return -EIO;
		}
	}
	if (!any) {
		*why = "it holds no CONFIG_ lines";
		return -ENODATA;
	}
	return 0;
}

/* The running kernel's release: PROC/sys/kernel/osrelease, else uname(2). */
static void kernel_release(const struct options *o, char *buf, size_t len)
{
	char path[PATH_MAX];
	struct utsname u;

	if (join(path, sizeof(path), o->proc_root, "sys/kernel/osrelease") && read_small(path, buf, len) > 0) {
		buf[strcspn(buf, "\r\n")] = '\0';
		if (buf[0])
			return;
	}
	if (uname(&u) == 0)
		snprintf(buf, len, "%s", u.release);
	else
		snprintf(buf, len, "unknown");
}

static void check_kconfig(struct doctor *dr)
{
	static const char *const hint[] = {
		"boot a kernel built with CONFIG_IOMMUFD (Linux 6.2 or later; Debian 12's 6.1 kernel "
		"predates it)",
		"boot a kernel built with CONFIG_VFIO_DEVICE_CDEV (Linux 6.6 or later; it needs CONFIG_VFIO "
		"and CONFIG_IOMMUFD too)",
	};
	char paths[2][PATH_MAX], rel[128], tried[2 * PATH_MAX + 128] = "";
	const char *why = NULL, *src = NULL;
	int npaths = 0, err;
	struct doc_check *c;

	dr->kconfig[0] = (struct kconfig_opt){ "CONFIG_IOMMUFD", 'n' };
	dr->kconfig[1] = (struct kconfig_opt){ "CONFIG_VFIO_DEVICE_CDEV", 'n' };
	if (dr->o->kernel_config) {
		snprintf(paths[npaths++], PATH_MAX, "%s", dr->o->kernel_config);
	} else {
		if (join(paths[npaths], PATH_MAX, dr->o->proc_root, "config.gz"))
			npaths++;
		kernel_release(dr->o, rel, sizeof(rel));
		snprintf(paths[npaths++], PATH_MAX, "/boot/config-%s", rel);
	}
	for (int i = 0; i < npaths && !src; i++) {
		err = kconfig_read(dr, paths[i], &why);
		if (!err)
			src = paths[i];
		else
			append(tried, sizeof(tried), "%s%s: %s", i ? "; " : "", paths[i], why ? why : strerror(-err));
	}
	if (!src) {
		c = doc_add(dr, NULL, "kernel-config", DOC_WARN,
			    "cannot read the kernel config (%s), so CONFIG_IOMMUFD and CONFIG_VFIO_DEVICE_CDEV "
			    "are not checked; the checks below still show what works",
			    tried);
		if (dr->o->kernel_config)
			doc_fix(dr, c, "give --kernel-config the kernel's .config file");
		else
			doc_fix(dr, c,
				"'modprobe configs' provides /proc/config.gz where the kernel has CONFIG_IKCONFIG; "
				"or give the kernel's .config with --kernel-config=FILE");
		return;
	}
	dr->kconfig_known = true;
	for (size_t k = 0; k < ARRAY_SIZE(dr->kconfig); k++) {
		const struct kconfig_opt *kc = &dr->kconfig[k];
		const char *id = k == 0 ? "config-iommufd" : "config-vfio-cdev";

		if (kc->value == 'y') {
			c = doc_add(dr, NULL, id, DOC_PASS, "%s=y (%s)", kc->name, src);
		} else if (kc->value == 'm') {
			c = doc_add(dr, NULL, id, DOC_PASS, "%s=m, a module (%s)", kc->name, src);
		} else {
			c = doc_add(dr, NULL, id, DOC_FAIL, "%s is not set in this kernel (%s)", kc->name, src);
			doc_fix(dr, c, "%s", hint[k]);
		}
		doc_str(dr, c, "option", kc->name);
		doc_str(dr, c, "value", kc->value == 'n' ? "n" : kc->value == 'y' ? "y" : "m");
		doc_str(dr, c, "source", src);
	}
}

/* ---- process facts */

/* CapEff from PROC/self/status. */
static void read_caps(struct doctor *dr)
{
	char path[PATH_MAX], buf[4096], *p;

	dr->caps_known = false;
	if (!join(path, sizeof(path), dr->o->proc_root, "self/status") || read_small(path, buf, sizeof(buf)) <= 0)
		return;
	if (strncmp(buf, "CapEff:", 7) == 0)
		p = buf + 7;
	else if ((p = strstr(buf, "\nCapEff:")) != NULL)
		p += 8;
	else
		return;
	errno = 0;
	dr->cap_eff = strtoull(p, NULL, 16);
	if (!errno)
		dr->caps_known = true;
}

static bool has_cap(const struct doctor *dr, int cap)
{
	if (!dr->caps_known)
		return geteuid() == 0; /* root has every capability, as a rule */
	return dr->cap_eff >> cap & 1;
}

/* ---- the IOMMU */

/* Does the word w appear as a whole token in the string s (space-separated)? */
static bool has_token(const char *s, const char *w)
{
	size_t len = strlen(w);

	for (const char *p = s; (p = strstr(p, w)) != NULL; p += len)
		if ((p == s || p[-1] == ' ' || p[-1] == '\t') && (!p[len] || strchr(" \t\r\n", p[len])))
			return true;
	return false;
}

struct type_count {
	char name[32];
	int n;
};

static void check_iommu(struct doctor *dr)
{
	char dir[PATH_MAX], path[PATH_MAX], units[256] = "", types[256] = "", buf[8192], *flags;
	struct type_count tc[8];
	struct dirent **names;
	struct doc_check *c;
	int nunits = 0, ngroups = 0, ntc = 0, n;
	bool vm = false, off = false, pt = false;
	const char *off_word = NULL;

	/* IOMMU units: class/iommu. */
	if (join(dir, sizeof(dir), dr->o->sysfs_root, "class/iommu") &&
	    (n = scandir(dir, &names, skip_dots, versionsort)) >= 0) {
		for (int i = 0; i < n; i++) {
			if (nunits < 6)
				append(units, sizeof(units), "%s%s", nunits ? ", " : "", names[i]->d_name);
			else if (nunits == 6)
				append(units, sizeof(units), ", ...");
			nunits++;
			free(names[i]);
		}
		free(names);
	}
	/* IOMMU groups and their default domain types. */
	if (join(dir, sizeof(dir), dr->o->sysfs_root, "kernel/iommu_groups") &&
	    (n = scandir(dir, &names, skip_dots, versionsort)) >= 0) {
		for (int i = 0; i < n; i++) {
			char type[32];
			int k;

			ngroups++;
			if ((size_t)snprintf(path, sizeof(path), "%s/%s", dir, names[i]->d_name) >= sizeof(path) ||
			    read_attr(path, "type", type, sizeof(type)))
				snprintf(type, sizeof(type), "unknown");
			for (k = 0; k < ntc && strcmp(tc[k].name, type); k++)
				;
			if (k == ntc && ntc < (int)ARRAY_SIZE(tc)) {
				snprintf(tc[ntc].name, sizeof(tc[ntc].name), "%s", type);
				tc[ntc++].n = 0;
			}
			if (k < ntc)
				tc[k].n++;
			if (!strcmp(type, "identity"))
				pt = true;
			free(names[i]);
		}
		free(names);
	}
	for (int k = 0; k < ntc; k++)
		append(types, sizeof(types), "%s%s %d", k ? ", " : "", tc[k].name, tc[k].n);
	/* Why there might be none: the command line, or a VM without a vIOMMU. */
	if (join(path, sizeof(path), dr->o->proc_root, "cmdline") && read_small(path, buf, sizeof(buf)) > 0) {
		static const char *const offs[] = { "intel_iommu=off", "amd_iommu=off", "iommu=off" };

		for (size_t k = 0; k < ARRAY_SIZE(offs) && !off; k++)
			if (has_token(buf, offs[k]))
				off = true, off_word = offs[k];
		if (has_token(buf, "iommu=pt") || has_token(buf, "iommu.passthrough=1"))
			pt = true;
	}
	if (join(path, sizeof(path), dr->o->proc_root, "cpuinfo") && read_small(path, buf, sizeof(buf)) > 0 &&
	    (flags = strstr(buf, "\nflags")) != NULL) {
		char *eol = strchr(flags + 1, '\n');

		if (eol)
			*eol = '\0';
		vm = has_token(flags, "hypervisor");
	}

	if (nunits > 0 || ngroups > 0) {
		if (nunits > 0) {
			c = doc_add(dr, NULL, "iommu", DOC_PASS, "IOMMU active: %s; %d IOMMU group%s%s%s%s%s", units,
				    ngroups, ngroups == 1 ? "" : "s", ngroups ? " (default domains: " : "",
				    types, ngroups ? ")" : "",
				    pt ? "; host drivers bypass translation (identity), VFIO devices still get "
					 "their own translated domains"
				       : "");
		} else {
			c = doc_add(dr, NULL, "iommu", DOC_WARN,
				    "%d IOMMU group%s (default domains: %s) but no IOMMU unit in %s/class/iommu: "
				    "VFIO's no-IOMMU mode makes groups without translation",
				    ngroups, ngroups == 1 ? "" : "s", types, dr->o->sysfs_root);
			doc_fix(dr, c, "SVA needs a real IOMMU: enable VT-d / AMD-Vi / SMMU in the firmware and "
				       "do not use enable_unsafe_noiommu_mode");
		}
	} else {
		c = doc_add(dr, NULL, "iommu", DOC_FAIL,
			    "no IOMMU is active: %s/class/iommu is empty and there are no IOMMU groups, so "
			    "nothing can translate device addresses: %s",
			    dr->o->sysfs_root,
			    off ? "the kernel command line turns it off"
			    : vm ? "this is a virtual machine and its hypervisor gives it no virtual IOMMU"
				 : "the firmware does not enable it, or the kernel has no driver for it");
		if (off)
			doc_fix(dr, c, "remove %s from the kernel command line", off_word);
		else if (vm)
			doc_fix(dr, c, "give the VM a virtual IOMMU (QEMU: -device intel-iommu,caching-mode=on "
				       "on a q35 machine, and intel_iommu=on on the guest's command line), or run on "
				       "the host");
		else
			doc_fix(dr, c, "enable VT-d (Intel), AMD-Vi/IOMMU (AMD) or the SMMU (Arm) in the firmware "
				       "setup; on Intel boot with intel_iommu=on; the kernel needs its IOMMU driver "
				       "(CONFIG_INTEL_IOMMU, CONFIG_AMD_IOMMU, CONFIG_ARM_SMMU_V3)");
	}
	doc_int(c, "units", nunits);
	doc_int(c, "groups", ngroups);
	doc_bool(c, "virtual_machine", vm);
	doc_bool(c, "disabled_on_cmdline", off);
}

static void check_iommufd(struct doctor *dr, const struct iommu_rec *im)
{
	struct doc_check *c;
	char kc = dr->kconfig_known ? dr->kconfig[0].value : '?';

	if (!im->err) {
		c = doc_add(dr, NULL, "iommufd", DOC_PASS, "%s opens (an iommufd)", im->path);
		doc_str(dr, c, "path", im->path);
		return;
	}
	switch (im->err) {
	case -ENOENT:
		c = doc_add(dr, NULL, "iommufd", DOC_FAIL, "%s does not exist%s", im->path,
			    kc == 'n'   ? ": the kernel has no iommufd (CONFIG_IOMMUFD is not set)"
			    : kc == 'm' ? ": the iommufd module is not loaded"
					: "");
		if (kc == 'n')
			doc_fix(dr, c, "boot a kernel built with CONFIG_IOMMUFD (Linux 6.2 or later)");
		else if (kc == 'm')
			doc_fix(dr, c, "modprobe iommufd");
		else
			doc_fix(dr, c, "modprobe iommufd; if there is no such module, boot a kernel built with "
				       "CONFIG_IOMMUFD (Linux 6.2 or later)");
		break;
	case -EACCES:
	case -EPERM:
		c = doc_add(dr, NULL, "iommufd", DOC_FAIL, "%s: permission denied", im->path);
		doc_fix(dr, c, "run as root, or give the driver's user access to %s (a udev rule setting its "
			       "group and mode)", im->path);
		break;
	case -ENOTTY:
		c = doc_add(dr, NULL, "iommufd", DOC_FAIL, "%s is not an iommufd device node", im->path);
		doc_fix(dr, c, "point --iommu-path (or --dev-root) at the iommufd node, normally /dev/iommu");
		break;
	default:
		c = doc_add(dr, NULL, "iommufd", DOC_FAIL, "%s cannot be opened: %s", im->path, strerror(-im->err));
		break;
	}
	doc_str(dr, c, "path", im->path);
	doc_str(dr, c, "error", errno_name(-im->err));
}

/* ---- PCI config space */

struct pci_caps {
	size_t cfg_len;		 /* bytes of config space read */
	unsigned pasid, ats, pri; /* offsets of the capabilities; 0: absent */
	uint16_t pasid_cap;	 /* PASID capability register */
	uint16_t ats_cap;	 /* ATS capability register */
	uint32_t pri_reqs;	 /* PRI outstanding page request capacity */
};

static uint32_t le32_at(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint16_t le16_at(const uint8_t *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}

/* Read the device's config space and find PASID, ATS and PRI.  0 or -errno. */
static int pci_read_caps(const char *sysdev, struct pci_caps *pc)
{
	uint8_t cfg[PCI_CFG_MAX];
	char path[PATH_MAX];
	size_t got = 0;
	unsigned off = PCI_EXT_CAP_START;
	int fd;

	memset(pc, 0, sizeof(*pc));
	if (!join(path, sizeof(path), sysdev, "config"))
		return -ENAMETOOLONG;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	while (got < sizeof(cfg)) {
		ssize_t r = read(fd, cfg + got, sizeof(cfg) - got);

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			int err = -errno;

			close(fd);
			return err;
		}
		if (r == 0)
			break;
		got += (size_t)r;
	}
	close(fd);
	pc->cfg_len = got;
	/* Walk the extended capability list: a 32-bit header (ID 15:0, version
	 * 19:16, next 31:20); at most one capability per dword, so no loops. */
	for (int guard = 0; guard < (PCI_CFG_MAX - PCI_EXT_CAP_START) / 4; guard++) {
		uint32_t h;
		unsigned id;

		if (off < PCI_EXT_CAP_START || off + 4 > got)
			break;
		h = le32_at(cfg + off);
		if (h == 0 || h == 0xffffffffu)
			break;
		id = h & 0xffff;
		if (id == PCI_EXT_CAP_ID_PASID && !pc->pasid && off + 8 <= got) {
			pc->pasid = off;
			pc->pasid_cap = le16_at(cfg + off + 4);
		} else if (id == PCI_EXT_CAP_ID_ATS && !pc->ats && off + 8 <= got) {
			pc->ats = off;
			pc->ats_cap = le16_at(cfg + off + 4);
		} else if (id == PCI_EXT_CAP_ID_PRI && !pc->pri && off + 12 <= got) {
			pc->pri = off;
			pc->pri_reqs = le32_at(cfg + off + 8);
		}
		off = (h >> 20) & 0xffc;
		if (!off)
			break;
	}
	return 0;
}

/* The PASID width of a PASID capability register (bits 12:8). */
static unsigned pasid_width(uint16_t cap)
{
	return (cap >> 8) & 0x1f;
}

static void check_pci_caps(struct doctor *dr, const struct dev_rec *d, struct pci_caps *pc, bool *known)
{
	struct doc_check *c;
	int err;

	*known = false;
	err = pci_read_caps(d->sysdev, pc);
	if (err) {
		c = doc_add(dr, d->name, "pci-caps", DOC_WARN,
			    "cannot read the PCI config space (%s/config: %s), so PASID, ATS and PRI are unknown",
			    d->sysdev, strerror(-err));
		doc_fix(dr, c, "run as root");
		return;
	}
	if (pc->cfg_len <= 64) {
		bool admin = has_cap(dr, DOC_CAP_SYS_ADMIN);

		c = doc_add(dr, d->name, "pci-caps", DOC_WARN,
			    "only the first %zu bytes of the PCI config space could be read%s, so PASID, ATS and "
			    "PRI are unknown",
			    pc->cfg_len, admin ? "" : " (reading past byte 64 needs root: CAP_SYS_ADMIN)");
		doc_fix(dr, c, "run sva-info --doctor as root");
		doc_int(c, "config_bytes", (long long)pc->cfg_len);
		return;
	}
	*known = true;
	if (pc->pasid) {
		unsigned w = pasid_width(pc->pasid_cap);

		const char *bits = (pc->pasid_cap & 0x6) == 0x6 ? " (exec, priv)"
				   : pc->pasid_cap & 0x2	 ? " (exec)"
				   : pc->pasid_cap & 0x4	 ? " (priv)"
							 : "";

		c = doc_add(dr, d->name, "pci-pasid", DOC_PASS, "PCI PASID capability: %u-bit PASIDs%s", w, bits);
		doc_int(c, "width", w);
		doc_bool(c, "exec", pc->pasid_cap & 0x2);
		doc_bool(c, "priv", pc->pasid_cap & 0x4);
	} else {
		c = doc_add(dr, d->name, "pci-pasid", DOC_WARN,
			    "no PCI PASID capability%s: RID binds only (one address space for the whole device)",
			    pc->cfg_len <= 256 ? " (no PCI Express extended config space)" : "");
		doc_fix(dr, c, "nothing to change in software: RID binds work as they are; PASID binds (an "
			       "address space per process or queue) need a device with the PCIe PASID capability");
	}
	doc_int(c, "offset", pc->pasid);
	if (pc->ats) {
		unsigned q = pc->ats_cap & 0x1f;

		c = doc_add(dr, d->name, "pci-ats", DOC_PASS, "PCI ATS capability (invalidate queue depth %u)",
			    q ? q : 32);
	} else {
		c = doc_add(dr, d->name, "pci-ats", DOC_PASS,
			    "no PCI ATS capability: the IOMMU translates every access itself (no device-side "
			    "translation cache; and without ATS there is no PRI, see pci-pri)");
	}
	doc_bool(c, "present", pc->ats != 0);
	doc_int(c, "offset", pc->ats);
	if (pc->pri) {
		c = doc_add(dr, d->name, "pci-pri", DOC_PASS,
			    "PCI PRI capability (%" PRIu32 " outstanding page requests)", pc->pri_reqs);
	} else {
		c = doc_add(dr, d->name, "pci-pri", DOC_WARN,
			    "no PCI PRI capability: the device cannot take I/O page faults, so fault-capable "
			    "binds (the default) fail on it");
		doc_fix(dr, c, "bind with SVA_BIND_PINNED and make buffers visible with sva_mm_prefault()");
	}
	doc_bool(c, "present", pc->pri != 0);
	doc_int(c, "offset", pc->pri);
}

/* ---- per device */

static void check_device(struct doctor *dr, struct dev_rec *d, bool have_ctx)
{
	char type[32];
	struct pci_caps pc;
	bool caps_known = false;
	struct doc_check *c;
	const char *hint;

	/* The node and the driver. */
	if (d->node_err) {
		c = doc_add(dr, d->name, "device", DOC_FAIL, "%s %s", d->node,
			    d->node_err == -ENOENT   ? "is missing"
			    : d->node_err == -ENOTTY ? "is not a character device"
						     : strerror(-d->node_err));
		doc_fix(dr, c, "devtmpfs or udev creates it: check that /dev is a devtmpfs (or udev runs), or "
			       "give the right --dev-root");
	} else if (!d->driver[0]) {
		c = doc_add(dr, d->name, "device", DOC_WARN, "%s, but sysfs shows no driver for %s", d->node,
			    d->sysdev[0] ? d->sysdev : "it");
		doc_fix(dr, c, "bind the device to vfio-pci (see sva-info(1), EXAMPLES)");
	} else {
		char what[64] = "";

		if (d->pci[0])
			snprintf(what, sizeof(what), " (%s, %s:%s)", d->pci, d->vendor[0] ? d->vendor : "????",
				 d->device[0] ? d->device : "????");
		c = doc_add(dr, d->name, "device", DOC_PASS, "%s, bound to %s%s", d->node, d->driver, what);
	}
	doc_str(dr, c, "path", d->node);
	doc_str(dr, c, "driver", d->driver[0] ? d->driver : NULL);
	doc_str(dr, c, "pci_addr", d->pci[0] ? d->pci : NULL);

	/* The IOMMU group and its translation mode. */
	if (d->iommu_group < 0) {
		c = doc_add(dr, d->name, "iommu-group", DOC_FAIL,
			    "no IOMMU group: the device is not behind an IOMMU, so it cannot use SVA");
		doc_fix(dr, c, "enable the IOMMU (see the iommu line); a device in VFIO's no-IOMMU mode cannot "
			       "be translated");
	} else {
		if (read_attr(d->sysdev, "iommu_group/type", type, sizeof(type)))
			type[0] = '\0';
		if (!strcmp(type, "DMA") || !strcmp(type, "DMA-FQ"))
			c = doc_add(dr, d->name, "iommu-group", DOC_PASS, "IOMMU group %ld, translated (%s)",
				    d->iommu_group, type);
		else if (!strcmp(type, "identity"))
			c = doc_add(dr, d->name, "iommu-group", DOC_PASS,
				    "IOMMU group %ld, default domain identity (passthrough for host drivers; "
				    "iommufd gives the device its own translated domain)",
				    d->iommu_group);
		else if (!strcmp(type, "blocked") || !strcmp(type, "unmanaged"))
			c = doc_add(dr, d->name, "iommu-group", DOC_PASS,
				    "IOMMU group %ld, default domain %s (iommufd replaces it when it attaches)",
				    d->iommu_group, type);
		else {
			c = doc_add(dr, d->name, "iommu-group", DOC_WARN,
				    "IOMMU group %ld, translation mode %s", d->iommu_group,
				    type[0] ? type : "unknown (no readable iommu_group/type)");
			doc_fix(dr, c, "check the IOMMU's state in %s/kernel/iommu_groups/%ld", dr->o->sysfs_root,
				d->iommu_group);
		}
		doc_int(c, "group", d->iommu_group);
		doc_str(dr, c, "type", type[0] ? type : NULL);
	}

	/* PCI capabilities. */
	if (d->pci[0] && d->sysdev[0])
		check_pci_caps(dr, d, &pc, &caps_known);

	/* What iommufd says. */
	if (dr->o->no_open) {
		doc_add(dr, d->name, "iommufd-info", DOC_SKIP, "not opened (--no-open)");
		return;
	}
	if (!have_ctx) {
		doc_add(dr, d->name, "iommufd-info", DOC_SKIP, "not opened: the iommufd did not open (see above)");
		return;
	}
	if (d->node_err) {
		doc_add(dr, d->name, "iommufd-info", DOC_SKIP, "not opened: no device node (see above)");
		return;
	}
	switch (d->hw) {
	case HW_OK:
		if (d->info.max_pasid_log2) {
			c = doc_add(dr, d->name, "iommufd-info", DOC_PASS, "IOMMU %s, %u-bit PASIDs",
				    sva_iommu_type_name(d->info.iommu_type), d->info.max_pasid_log2);
		} else if (caps_known && !pc.pasid) {
			c = doc_add(dr, d->name, "iommufd-info", DOC_PASS,
				    "IOMMU %s, no PASIDs (the device has no PASID capability: RID binds)",
				    sva_iommu_type_name(d->info.iommu_type));
		} else {
			c = doc_add(dr, d->name, "iommufd-info", DOC_WARN,
				    "IOMMU %s offers this device no PASIDs: RID binds only%s",
				    sva_iommu_type_name(d->info.iommu_type),
				    caps_known && pc.pasid ? ", although the device has a PASID capability" : "");
			doc_fix(dr, c, "the IOMMU must support PASIDs and run in a mode that has them (Intel: "
				       "scalable mode, intel_iommu=sm_on; QEMU's intel-iommu: its x-scalable-mode and "
				       "x-pasid-mode options), and the firmware must not hide the device's PASID "
				       "capability");
		}
		doc_str(dr, c, "iommu_type", sva_iommu_type_name(d->info.iommu_type));
		doc_int(c, "max_pasid_log2", d->info.max_pasid_log2);
		doc_int(c, "hw_caps", (long long)d->info.hw_caps);
		if ((d->info.hw_caps & SVA_HW_CAP_PCI_ATS_NOT_SUPPORTED) && caps_known && pc.pri) {
			/* The PRI line passed, but the IOMMU will take no page requests. */
			c = doc_add(dr, d->name, "iommufd-ats", DOC_WARN,
				    "the IOMMU does not support ATS for this device, so despite its PRI "
				    "capability it cannot take I/O page faults and fault-capable binds fail");
			doc_fix(dr, c, "bind with SVA_BIND_PINNED and make buffers visible with sva_mm_prefault()");
		}
		break;
	case HW_OPEN_FAILED:
	case HW_INFO_FAILED:
		hint = d->hw == HW_OPEN_FAILED ? dev_hint(d->hw_err) : NULL;
		c = doc_add(dr, d->name, "iommufd-info", d->hw_err == -EBUSY ? DOC_WARN : DOC_FAIL, "%s: %s",
			    d->hw == HW_OPEN_FAILED ? "cannot open it through iommufd" : "cannot read its IOMMU info",
			    strerror(-d->hw_err));
		if (hint)
			doc_fix(dr, c, "%s", hint);
		doc_str(dr, c, "error", errno_name(-d->hw_err));
		break;
	default:
		break;
	}
}

/* ---- devices as a whole */

/* Up to max PCI devices with a PASID capability, as "ADDR (driver)". */
static void pasid_candidates(const struct doctor *dr, char *out, size_t len, int max)
{
	char dir[PATH_MAX], path[PATH_MAX], drv[NAME_MAX + 1];
	struct dirent **names;
	int n, found = 0;

	out[0] = '\0';
	if (!join(dir, sizeof(dir), dr->o->sysfs_root, "bus/pci/devices") ||
	    (n = scandir(dir, &names, skip_dots, versionsort)) < 0)
		return;
	for (int i = 0; i < n; i++) {
		struct pci_caps pc;

		if (found < max && (size_t)snprintf(path, sizeof(path), "%s/%s", dir, names[i]->d_name) < sizeof(path) &&
		    pci_read_caps(path, &pc) == 0 && pc.pasid) {
			if (link_base(path, "driver", drv, sizeof(drv)))
				snprintf(drv, sizeof(drv), "no driver");
			append(out, len, "%s%s (%s)", found ? ", " : "", names[i]->d_name, drv);
			found++;
		}
		free(names[i]);
	}
	free(names);
}

static void check_devices(struct doctor *dr, struct dev_rec *devs, int n)
{
	char dir[PATH_MAX], list[512] = "", cand[512];
	struct doc_check *c;
	struct stat st;

	if (n == 0) {
		bool no_class = join(dir, sizeof(dir), dr->o->sysfs_root, "class/vfio-dev") && stat(dir, &st) != 0;
		bool no_cdev = dr->kconfig_known && dr->kconfig[1].value == 'n';

		c = doc_add(dr, NULL, "vfio-devices", DOC_WARN, "no VFIO cdev devices%s",
			    no_cdev    ? ": the kernel lacks CONFIG_VFIO_DEVICE_CDEV (see above)"
			    : no_class ? " (no class/vfio-dev in sysfs: vfio is not loaded, or the kernel lacks "
					 "CONFIG_VFIO_DEVICE_CDEV)"
				       : " (no device is bound to a VFIO driver)");
		if (has_cap(dr, DOC_CAP_SYS_ADMIN))
			pasid_candidates(dr, cand, sizeof(cand), 4);
		else
			cand[0] = '\0';
		doc_fix(dr, c,
			"%sbind the device to vfio-pci: 'modprobe vfio-pci; echo vfio-pci > "
			"/sys/bus/pci/devices/ADDR/driver_override; echo ADDR > "
			"/sys/bus/pci/devices/ADDR/driver/unbind; echo ADDR > /sys/bus/pci/drivers_probe'%s%s",
			no_cdev ? "boot a kernel with CONFIG_VFIO_DEVICE_CDEV, then " : "",
			cand[0] ? "; devices with a PASID capability: " : "", cand);
		doc_int(c, "count", 0);
		return;
	}
	for (int i = 0; i < n && i < 8; i++)
		append(list, sizeof(list), "%s%s", i ? ", " : "", devs[i].name);
	if (n > 8)
		append(list, sizeof(list), ", ...");
	c = doc_add(dr, NULL, "vfio-devices", DOC_PASS, "%d VFIO cdev device%s: %s", n, n == 1 ? "" : "s", list);
	doc_int(c, "count", n);
}

/* ---- limits and memory */

/* The soft RLIMIT_MEMLOCK: from PROC/self/limits, else getrlimit(). */
static int memlock_limit(const struct doctor *dr, unsigned long long *lim, bool *unlimited, const char **src)
{
	char path[PATH_MAX], buf[4096], *p;
	struct rlimit rl;

	if (join(path, sizeof(path), dr->o->proc_root, "self/limits") && read_small(path, buf, sizeof(buf)) > 0 &&
	    (p = strstr(buf, "Max locked memory")) != NULL) {
		p += strlen("Max locked memory");
		p += strspn(p, " \t");
		*src = "limits";
		if (strncmp(p, "unlimited", 9) == 0) {
			*unlimited = true;
			*lim = 0;
			return 0;
		}
		errno = 0;
		*lim = strtoull(p, NULL, 10);
		*unlimited = false;
		if (!errno)
			return 0;
	}
	*src = "getrlimit";
	if (getrlimit(RLIMIT_MEMLOCK, &rl))
		return -errno;
	*unlimited = rl.rlim_cur == RLIM_INFINITY;
	*lim = *unlimited ? 0 : (unsigned long long)rl.rlim_cur;
	return 0;
}

static void check_memlock(struct doctor *dr)
{
	unsigned long long lim = 0;
	bool unlimited = false, ipc_lock = has_cap(dr, DOC_CAP_IPC_LOCK);
	const char *src = NULL;
	char size[32], need[32];
	struct doc_check *c;
	int err = memlock_limit(dr, &lim, &unlimited, &src);

	fmt_size(size, sizeof(size), lim);
	fmt_size(need, sizeof(need), DOC_MEMLOCK_MIN);
	if (err) {
		c = doc_add(dr, NULL, "memlock", DOC_WARN, "cannot read RLIMIT_MEMLOCK: %s", strerror(-err));
	} else if (ipc_lock) {
		c = doc_add(dr, NULL, "memlock", DOC_PASS,
			    "CAP_IPC_LOCK: iommufd does not charge pinned pages to RLIMIT_MEMLOCK, so its value "
			    "(%s) does not limit SVA",
			    unlimited ? "unlimited" : size);
	} else if (unlimited) {
		c = doc_add(dr, NULL, "memlock", DOC_PASS, "RLIMIT_MEMLOCK is unlimited");
	} else if (lim >= DOC_MEMLOCK_MIN) {
		c = doc_add(dr, NULL, "memlock", DOC_PASS,
			    "RLIMIT_MEMLOCK is %s: SVA can pin up to that much (iommufd charges pinned pages "
			    "per user, with the user's other locked memory)",
			    size);
	} else {
		c = doc_add(dr, NULL, "memlock", DOC_WARN,
			    "RLIMIT_MEMLOCK is %s and this process lacks CAP_IPC_LOCK: mirrored pages are pinned "
			    "and charged to it, so binds and prefaults past %s fail with ENOMEM (%s or more is "
			    "comfortable)",
			    size, size, need);
		doc_fix(dr, c,
			"raise it where the driver runs: 'ulimit -l unlimited' (or a size in KiB) in its shell, a "
			"memlock line in /etc/security/limits.conf, LimitMEMLOCK= for a systemd service, "
			"--ulimit memlock=-1 for a container; or give the driver CAP_IPC_LOCK");
	}
	if (!c)
		return;
	if (!err) {
		doc_bool(c, "unlimited", unlimited);
		doc_int(c, "limit_bytes", unlimited ? -1 : (long long)lim);
	}
	doc_bool(c, "cap_ipc_lock", ipc_lock);
	doc_int(c, "recommended_bytes", (long long)DOC_MEMLOCK_MIN);
}

/* The bracketed word of "always [madvise] never". */
static bool thp_mode(const struct doctor *dr, char *mode, size_t len)
{
	char buf[128], *a, *b;

	if (read_attr(dr->o->sysfs_root, "kernel/mm/transparent_hugepage/enabled", buf, sizeof(buf)))
		return false;
	a = strchr(buf, '[');
	b = a ? strchr(a, ']') : NULL;
	if (!b)
		return false;
	*b = '\0';
	snprintf(mode, len, "%s", a + 1);
	return true;
}

static void check_hugepages(struct doctor *dr)
{
	char path[PATH_MAX], buf[4096], mode[32], *p;
	long nr = -1, free_pages = -1, size_kb = -1;
	bool have_thp = thp_mode(dr, mode, sizeof(mode));
	bool thp_on = have_thp && (!strcmp(mode, "always") || !strcmp(mode, "madvise"));
	char thp_text[64], tlb_text[128];
	struct doc_check *c;

	if (join(path, sizeof(path), dr->o->proc_root, "sys/vm/nr_hugepages") && read_small(path, buf, sizeof(buf)) > 0)
		nr = strtol(buf, NULL, 10);
	if (join(path, sizeof(path), dr->o->proc_root, "meminfo") && read_small(path, buf, sizeof(buf)) > 0) {
		if ((p = strstr(buf, "HugePages_Free:")) != NULL)
			free_pages = strtol(p + strlen("HugePages_Free:"), NULL, 10);
		if ((p = strstr(buf, "Hugepagesize:")) != NULL)
			size_kb = strtol(p + strlen("Hugepagesize:"), NULL, 10);
	}
	if (have_thp)
		snprintf(thp_text, sizeof(thp_text), "transparent huge pages: %s", mode);
	else
		snprintf(thp_text, sizeof(thp_text), "transparent huge pages: unknown");
	if (nr < 0)
		snprintf(tlb_text, sizeof(tlb_text), "hugetlb pages: unknown");
	else if (free_pages >= 0 && size_kb > 0)
		snprintf(tlb_text, sizeof(tlb_text), "hugetlb pages: %ld reserved, %ld free, %ld kB each", nr,
			 free_pages, size_kb);
	else
		snprintf(tlb_text, sizeof(tlb_text), "hugetlb pages: %ld reserved", nr);

	if (thp_on || nr > 0) {
		c = doc_add(dr, NULL, "hugepages", DOC_PASS, "%s; %s", thp_text, tlb_text);
	} else if (!have_thp && nr < 0) {
		c = doc_add(dr, NULL, "hugepages", DOC_WARN, "cannot tell whether huge pages are available (%s; %s)",
			    thp_text, tlb_text);
	} else {
		c = doc_add(dr, NULL, "hugepages", DOC_WARN,
			    "no huge pages (%s; %s): every 4 KiB page of a buffer takes its own IOMMU mapping and "
			    "IOTLB entry",
			    thp_text, tlb_text);
		doc_fix(dr, c, "echo madvise > /sys/kernel/mm/transparent_hugepage/enabled, or reserve hugetlb "
			       "pages: sysctl vm.nr_hugepages=N");
	}
	doc_str(dr, c, "thp", have_thp ? mode : NULL);
	doc_int(c, "nr_hugepages", nr);
	doc_int(c, "hugepage_kb", size_kb);
}

/* ---- output */

static enum doc_status doc_worst(const struct doctor *dr, int count[4])
{
	enum doc_status worst = DOC_SKIP;

	memset(count, 0, 4 * sizeof(count[0]));
	for (size_t i = 0; i < dr->n; i++) {
		count[dr->checks[i].status]++;
		if (dr->checks[i].status > worst)
			worst = dr->checks[i].status;
	}
	return worst;
}

static int doc_exit_status(enum doc_status worst)
{
	return worst == DOC_FAIL ? DOC_EXIT_FAIL : worst == DOC_WARN ? DOC_EXIT_WARN : 0;
}

static const char *doc_verdict(enum doc_status worst)
{
	switch (worst) {
	case DOC_FAIL:
		return "SVA cannot work on this machine yet: fix the FAIL lines first";
	case DOC_WARN:
		return "SVA can work here, with the limits the WARN lines name";
	default:
		return "ready for SVA";
	}
}

static void doc_print_text(const struct doctor *dr)
{
	int count[4];
	enum doc_status worst = doc_worst(dr, count);

	for (size_t i = 0; i < dr->n; i++) {
		const struct doc_check *c = &dr->checks[i];

		printf("%s  ", doc_status_text[c->status]);
		if (c->device) {
			put_text(c->device);
			putchar(' ');
		}
		printf("%s: ", c->id);
		put_text(c->msg ? c->msg : "");
		if (c->fix) {
			printf(". Fix: ");
			put_text(c->fix);
		}
		putchar('\n');
	}
	printf("\n%d passed, %d warning%s, %d failed, %d skipped: %s\n", count[DOC_PASS], count[DOC_WARN],
	       count[DOC_WARN] == 1 ? "" : "s", count[DOC_FAIL], count[DOC_SKIP], doc_verdict(worst));
}

static void doc_print_json(const struct doctor *dr, const struct iommu_rec *im)
{
	struct json j = { .f = stdout };
	int count[4];
	enum doc_status worst = doc_worst(dr, count);

	json_open(&j, NULL, '{');
	json_open(&j, "roots", '{');
	json_str(&j, "sysfs_root", dr->o->sysfs_root);
	json_str(&j, "dev_root", dr->o->dev_root);
	json_str(&j, "proc_root", dr->o->proc_root);
	json_str(&j, "iommu_path", im->path);
	json_str(&j, "kernel_config", dr->o->kernel_config);
	json_close(&j, '}');
	json_open(&j, "checks", '[');
	for (size_t i = 0; i < dr->n; i++) {
		const struct doc_check *c = &dr->checks[i];

		json_open(&j, NULL, '{');
		json_str(&j, "id", c->id);
		json_str(&j, "device", c->device);
		json_str(&j, "status", doc_status_json[c->status]);
		json_str(&j, "message", c->msg);
		json_str(&j, "fix", c->fix);
		json_open(&j, "data", '{');
		for (int k = 0; k < c->ndata; k++) {
			const struct doc_datum *d = &c->data[k];

			if (d->type == DOC_STR)
				json_str(&j, d->key, d->s);
			else if (d->type == DOC_BOOL)
				json_bool(&j, d->key, d->i != 0);
			else
				json_int(&j, d->key, d->i);
		}
		json_close(&j, '}');
		json_close(&j, '}');
	}
	json_close(&j, ']');
	json_open(&j, "summary", '{');
	json_int(&j, "pass", count[DOC_PASS]);
	json_int(&j, "warn", count[DOC_WARN]);
	json_int(&j, "fail", count[DOC_FAIL]);
	json_int(&j, "skip", count[DOC_SKIP]);
	json_str(&j, "result", doc_status_json[worst == DOC_SKIP ? DOC_PASS : worst]);
	json_str(&j, "verdict", doc_verdict(worst));
	json_int(&j, "exit_status", doc_exit_status(worst));
	json_close(&j, '}');
	json_close(&j, '}');
}

/*
 * Run every check and print them.  Returns the exit status: 0, DOC_EXIT_WARN
 * or DOC_EXIT_FAIL, or 1 when the doctor itself failed (out of memory).
 */
static int run_doctor(const struct options *o, const struct iommu_rec *im, bool have_ctx, struct dev_rec *devs,
		      int n)
{
	struct doctor dr = { .o = o };
	int count[4], ret;

	read_caps(&dr);
	check_kconfig(&dr);
	check_iommu(&dr);
	check_iommufd(&dr, im);
	check_devices(&dr, devs, n);
	for (int i = 0; i < n; i++)
		check_device(&dr, &devs[i], have_ctx);
	check_memlock(&dr);
	check_hugepages(&dr);
	if (dr.oom) {
		doc_free(&dr);
		fprintf(stderr, PROG ": out of memory\n");
		return 1;
	}
	if (o->json)
		doc_print_json(&dr, im);
	else
		doc_print_text(&dr);
	ret = doc_exit_status(doc_worst(&dr, count));
	doc_free(&dr);
	return ret;
}

/* ------------------------------------------------------------------- main */

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: " PROG " [OPTION]...\n"
		"List the VFIO cdev devices of this machine and their IOMMU capabilities,\n"
		"or with --doctor check whether this machine can do SVA and say what to fix.\n"
		"\n"
		"  -d, --doctor           check kernel, IOMMU, devices, limits and huge pages:\n"
		"                         one PASS, WARN, FAIL or SKIP line per check\n"
		"  -j, --json             print one JSON object instead of text\n"
		"      --sysfs-root=DIR   read sysfs from DIR (default: $SVA_SYSFS_ROOT, or /sys)\n"
		"      --dev-root=DIR     find device nodes under DIR (default: $SVA_DEV_ROOT, or /dev)\n"
		"      --iommu-path=PATH  the iommufd node (default: DEV_ROOT/iommu)\n"
		"      --proc-root=DIR    --doctor: read procfs from DIR (default: /proc)\n"
		"      --kernel-config=FILE  --doctor: the kernel config, plain or gzip\n"
		"                         (default: PROC_ROOT/config.gz, then /boot/config-RELEASE)\n"
		"      --no-open          read sysfs only: do not open (and so reset) the devices\n"
		"  -v, --verbose          libsva logs at debug level (default: $SVA_LOG, or warn)\n"
		"  -h, --help             print this help and exit\n"
		"  -V, --version          print the version and exit\n"
		"\n"
		"Exit status: 0 on success, also when no device or no IOMMU is found;\n"
		"1 if the listing failed; 2 on a usage error.  With --doctor: 0 if every\n"
		"check passed (or was skipped), 3 if the worst was a WARN, 4 if a FAIL.\n");
}

static int usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int usage_error(const char *fmt, ...)
{
	va_list ap;

	if (fmt) {
		fputs(PROG ": ", stderr);
		va_start(ap, fmt);
		vfprintf(stderr, fmt, ap);
		va_end(ap);
		fputc('\n', stderr);
	}
	fputs("Try '" PROG " --help' for more information.\n", stderr);
	return 2;
}

enum { OPT_SYSFS_ROOT = 256, OPT_DEV_ROOT, OPT_IOMMU_PATH, OPT_NO_OPEN, OPT_PROC_ROOT, OPT_KERNEL_CONFIG };

static const struct option long_options[] = {
	{ "doctor", no_argument, NULL, 'd' },
	{ "json", no_argument, NULL, 'j' },
	{ "sysfs-root", required_argument, NULL, OPT_SYSFS_ROOT },
	{ "dev-root", required_argument, NULL, OPT_DEV_ROOT },
	{ "iommu-path", required_argument, NULL, OPT_IOMMU_PATH },
	{ "no-open", no_argument, NULL, OPT_NO_OPEN },
	{ "proc-root", required_argument, NULL, OPT_PROC_ROOT },
	{ "kernel-config", required_argument, NULL, OPT_KERNEL_CONFIG },
	{ "verbose", no_argument, NULL, 'v' },
	{ "help", no_argument, NULL, 'h' },
	{ "version", no_argument, NULL, 'V' },
	{ NULL, 0, NULL, 0 },
};

/* $name if set and not empty, else dflt. */
static const char *env_or(const char *name, const char *dflt)
{
	const char *v = getenv(name);

	return v && *v ? v : dflt;
}

/* Returns -1 to go on, else the exit status. */
static int parse_args(int argc, char **argv, struct options *o)
{
	int c;

	while ((c = getopt_long(argc, argv, "djvhV", long_options, NULL)) != -1) {
		switch (c) {
		case 'd':
			o->doctor = true;
			break;
		case 'j':
			o->json = true;
			break;
		case 'v':
			o->verbose = true;
			break;
		case 'h':
			usage(stdout);
			return 0;
		case 'V':
			printf(PROG " (libsva) %s\n", PACKAGE_VERSION);
			return 0;
		case OPT_SYSFS_ROOT:
		case OPT_DEV_ROOT:
		case OPT_IOMMU_PATH:
		case OPT_PROC_ROOT:
		case OPT_KERNEL_CONFIG:
			if (!*optarg)
				return usage_error("--%s needs a non-empty argument",
						   c == OPT_SYSFS_ROOT	  ? "sysfs-root"
						   : c == OPT_DEV_ROOT	  ? "dev-root"
						   : c == OPT_IOMMU_PATH  ? "iommu-path"
						   : c == OPT_PROC_ROOT	  ? "proc-root"
									  : "kernel-config");
			if (c == OPT_SYSFS_ROOT)
				o->sysfs_root = optarg;
			else if (c == OPT_DEV_ROOT)
				o->dev_root = optarg;
			else if (c == OPT_IOMMU_PATH)
				o->iommu_path = optarg;
			else if (c == OPT_PROC_ROOT)
				o->proc_root = optarg;
			else
				o->kernel_config = optarg;
			break;
		case OPT_NO_OPEN:
			o->no_open = true;
			break;
		default: /* getopt_long() has said what is wrong */
			return usage_error(NULL);
		}
	}
	if (optind < argc)
		return usage_error("unexpected argument '%s'", argv[optind]);
	if (!o->doctor && (o->proc_root || o->kernel_config))
		return usage_error("--%s goes with --doctor", o->proc_root ? "proc-root" : "kernel-config");
	return -1;
}

int main(int argc, char **argv)
{
	struct options o = { 0 };
	struct iommu_rec im = { .err = 0 };
	struct sva_ctx_opts copts = { .size = sizeof(copts) };
	struct sva_ctx *ctx = NULL;
	static char cwd[PATH_MAX], dev_root[PATH_MAX];
	struct dev_rec *devs;
	struct stat st;
	int n, ret;

	ret = parse_args(argc, argv, &o);
	if (ret >= 0)
		return ret;
	if (!o.sysfs_root)
		o.sysfs_root = env_or("SVA_SYSFS_ROOT", "/sys");
	if (!o.dev_root)
		o.dev_root = env_or("SVA_DEV_ROOT", "/dev");
	if (!o.proc_root)
		o.proc_root = "/proc";
	/* sva_dev_open() takes only absolute paths: anchor a relative dev root. */
	if (o.dev_root[0] != '/') {
		if (!getcwd(cwd, sizeof(cwd)) ||
		    (size_t)snprintf(dev_root, sizeof(dev_root), "%s/%s", cwd, o.dev_root) >= sizeof(dev_root)) {
			fprintf(stderr, PROG ": cannot make the dev root %s absolute: %s\n", o.dev_root,
				strerror(errno ? errno : ENAMETOOLONG));
			return 1;
		}
		o.dev_root = dev_root;
	}
	if (o.iommu_path)
		snprintf(im.path, sizeof(im.path), "%s", o.iommu_path);
	else if ((size_t)snprintf(im.path, sizeof(im.path), "%s/iommu", o.dev_root) >= sizeof(im.path))
		return usage_error("--dev-root is too long");

	ret = stat(o.sysfs_root, &st) ? errno : S_ISDIR(st.st_mode) ? 0 : ENOTDIR;
	if (ret) {
		fprintf(stderr, PROG ": sysfs root %s: %s\n", o.sysfs_root, strerror(ret));
		return 1;
	}
	n = collect_devices(&o, &devs);
	if (n < 0) {
		fprintf(stderr, PROG ": cannot list %s/class/vfio-dev: %s\n", o.sysfs_root, strerror(-n));
		return 1;
	}

	copts.iommu_path = im.path;
	copts.sysfs_root = o.sysfs_root;
	copts.dev_root = o.dev_root;
	/* The doctor says what went wrong itself: no library log unless asked for. */
	copts.log_level = o.verbose ? SVA_LOG_DEBUG : o.doctor ? SVA_LOG_OFF : SVA_LOG_DEFAULT;
	im.err = sva_ctx_new(&copts, &ctx);
	for (int i = 0; i < n; i++) {
		if (o.no_open) {
			devs[i].hw = HW_NOT_OPENED;
		} else if (im.err) {
			devs[i].hw = HW_NO_IOMMUFD;
		} else if (devs[i].node_err == -ENAMETOOLONG) {
			devs[i].hw = HW_OPEN_FAILED;
			devs[i].hw_err = -ENAMETOOLONG;
		} else {
			probe_hw(ctx, &devs[i]);
		}
	}
	sva_ctx_free(ctx);

	if (o.doctor)
		ret = run_doctor(&o, &im, im.err == 0, devs, n);
	else if (o.json)
		print_json(&o, &im, devs, n);
	else
		print_text(&im, devs, n);
	free(devs);
	if (fflush(stdout) || ferror(stdout)) {
		fprintf(stderr, PROG ": writing the output failed: %s\n", strerror(errno));
		return 1;
	}
	return o.doctor ? ret : 0;
}
