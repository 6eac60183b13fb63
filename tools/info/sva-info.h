/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * sva-info's shared declarations: what the listing knows of each device, the
 * options, and the jobs of its files (main.c options, devices.c enumeration,
 * hints.c errors, text.c and json.c the reports, doctor*.c and check_*.c
 * --doctor).
 */
#ifndef SVA_INFO_H
#define SVA_INFO_H

#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <dirent.h>
#include <limits.h>
#include <stdbool.h>
#include <stdint.h>

#include "sva/sva.h"
#include "common.h" /* sva_pci_addr_parse(), sva_sysfs_read_attr(), sva_sysfs_link_base() */
#include "../utf8.h" /* utf8_seq_len() */

#define PROG "sva-info"
#define NO_DEVICES_MSG "no VFIO cdev devices found (is a device bound to vfio-pci? is CONFIG_VFIO_DEVICE_CDEV set?)"

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define SVA_PRINTF(a, b) __attribute__((format(printf, a, b)))

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
	bool cdi;		   /* --cdi: print a CDI spec */
	const char *broker_socket; /* --cdi: sva-brokerd's socket; NULL: the default, if listening */
	unsigned long long memlock; /* --cdi: the RLIMIT_MEMLOCK containers need, in bytes */
};

/* ----------------------------------------------------------------- hints.c */

/* "ENOENT" for ENOENT (positive), or NULL. */
const char *errno_name(int err);
/* What to do about an iommufd or a device that does not open (err negative), or NULL. */
const char *iommu_hint(int err);
const char *dev_hint(int err);

/* --------------------------------------------------------------- devices.c */

/* scandir() filter: every entry but the dot files. */
int skip_dots(const struct dirent *de);
/* root/rel as a path ("/" and "/dev/" as roots give no "//"); false if it does not fit. */
bool join(char *out, size_t len, const char *root, const char *rel);
/* Describe every entry of class/vfio-dev from sysfs alone, in natural order
 * (vfio2 before vfio10).  Returns the count or a negative errno; a missing
 * class directory is zero devices, one that cannot be listed an error. */
int collect_devices(const struct options *o, struct dev_rec **out);
/* Open the device through libsva and read its IOMMU hardware info into d. */
void probe_hw(struct sva_ctx *ctx, struct dev_rec *d);
/* Call fn for each named capability bit, then once for the unknown rest. */
void for_each_cap(uint64_t caps, void (*fn)(void *arg, const char *name), void *arg);

/* ------------------------------------------------------------------ text.c */

/* Print a string from sysfs or the command line with control characters escaped. */
void put_text(const char *s);
void print_text(const struct iommu_rec *im, const struct dev_rec *devs, int n);

/* ------------------------------------------------------------------ json.c */

struct json_object; /* json-c's; only json.c includes json-c */

/* A JSON string, or null for NULL and "" (unknown); bytes that are not UTF-8
 * become U+FFFD.  Every jv_* constructor here notes running out of memory,
 * which jv_print() then reports. */
struct json_object *jv_str(const char *s);
struct json_object *jv_int(long long v);
/* A non-negative number, or null for a negative one (unknown). */
struct json_object *jv_nonneg(long long v);
struct json_object *jv_bool(bool v);
struct json_object *jv_obj(void);
struct json_object *jv_arr(void);
/* Add val to the object or array o (NULL val: null). */
void jv_set(struct json_object *o, const char *key, struct json_object *val);
void jv_push(struct json_object *a, struct json_object *val);
/* {"errno": 2, "name": "ENOENT", "message": "No such file or directory", "hint": ...} */
struct json_object *jv_error(int err, const char *hint);
/* Print the document on stdout and free it.  0, or -ENOMEM if building it ran
 * out of memory (nothing printed). */
int jv_print(struct json_object *root);
int print_json(const struct options *o, const struct iommu_rec *im, const struct dev_rec *devs, int n);

/* ------------------------------------------------------------------- cdi.c */

/* Print the CDI spec of the devices (and of the broker).  0, -ENODEV nothing
 * to describe (said on stderr), or -ENOMEM. */
int print_cdi(const struct options *o, const struct dev_rec *devs, int n);

/* ---------------------------------------------------------------- doctor.c */

/* Run every check and print them.  Returns the exit status: 0, 3 (a WARN) or
 * 4 (a FAIL), or 1 when the doctor itself failed (out of memory). */
int run_doctor(const struct options *o, const struct iommu_rec *im, bool have_ctx, struct dev_rec *devs, int n);

#endif /* SVA_INFO_H */
