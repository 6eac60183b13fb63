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
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif
#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1 /* versionsort() */
#endif

#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
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
	bool json, verbose, no_open;
	const char *sysfs_root, *dev_root, *iommu_path;
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

/* ------------------------------------------------------------------- main */

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: " PROG " [OPTION]...\n"
		"List the VFIO cdev devices of this machine and their IOMMU capabilities.\n"
		"\n"
		"  -j, --json             print one JSON object instead of text\n"
		"      --sysfs-root=DIR   read sysfs from DIR (default: $SVA_SYSFS_ROOT, or /sys)\n"
		"      --dev-root=DIR     find device nodes under DIR (default: $SVA_DEV_ROOT, or /dev)\n"
		"      --iommu-path=PATH  the iommufd node (default: DEV_ROOT/iommu)\n"
		"      --no-open          read sysfs only: do not open (and so reset) the devices\n"
		"  -v, --verbose          libsva logs at debug level (default: $SVA_LOG, or warn)\n"
		"  -h, --help             print this help and exit\n"
		"  -V, --version          print the version and exit\n"
		"\n"
		"Exit status: 0 on success, also when no device or no IOMMU is found;\n"
		"1 if the listing failed; 2 on a usage error.\n");
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

enum { OPT_SYSFS_ROOT = 256, OPT_DEV_ROOT, OPT_IOMMU_PATH, OPT_NO_OPEN };

static const struct option long_options[] = {
	{ "json", no_argument, NULL, 'j' },
	{ "sysfs-root", required_argument, NULL, OPT_SYSFS_ROOT },
	{ "dev-root", required_argument, NULL, OPT_DEV_ROOT },
	{ "iommu-path", required_argument, NULL, OPT_IOMMU_PATH },
	{ "no-open", no_argument, NULL, OPT_NO_OPEN },
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

	while ((c = getopt_long(argc, argv, "jvhV", long_options, NULL)) != -1) {
		switch (c) {
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
			if (!*optarg)
				return usage_error("--%s needs a non-empty argument",
						   c == OPT_SYSFS_ROOT ? "sysfs-root"
						   : c == OPT_DEV_ROOT ? "dev-root"
								       : "iommu-path");
			if (c == OPT_SYSFS_ROOT)
				o->sysfs_root = optarg;
			else if (c == OPT_DEV_ROOT)
				o->dev_root = optarg;
			else
				o->iommu_path = optarg;
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
	copts.log_level = o.verbose ? SVA_LOG_DEBUG : SVA_LOG_DEFAULT;
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

	if (o.json)
		print_json(&o, &im, devs, n);
	else
		print_text(&im, devs, n);
	free(devs);
	if (fflush(stdout) || ferror(stdout)) {
		fprintf(stderr, PROG ": writing the output failed: %s\n", strerror(errno));
		return 1;
	}
	return 0;
}
