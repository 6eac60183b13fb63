/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * sva-info --doctor: can this machine do SVA, and if not, why and what to do.
 * Every check gives one result: PASS (nothing to do for what libsva does
 * today), WARN (SVA works with a limit, or something could not be checked),
 * FAIL (SVA cannot work until it is fixed) or SKIP (not checked because an
 * earlier check failed or --no-open).  The checks read sysfs, procfs and the
 * kernel config under the configurable roots, so a test can fake all of them.
 *
 * doctor.c holds the results, the verdict and the output; the checks are
 * grouped by area: check_kernel.c (kernel config), check_iommu.c (IOMMU,
 * iommufd), check_devices.c (VFIO devices), check_pci.c (PCI capabilities),
 * check_limits.c (memlock, huge pages), check_uffd.c (coherence tracking).
 */
#ifndef SVA_INFO_DOCTOR_H
#define SVA_INFO_DOCTOR_H

#include <stddef.h>
#include <sys/types.h>

#include "sva-info.h"

enum doc_status { DOC_SKIP, DOC_PASS, DOC_WARN, DOC_FAIL };

/* Capability bits of /proc/self/status CapEff. */
#define DOC_CAP_IPC_LOCK 14
#define DOC_CAP_SYS_ADMIN 21

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
	char kconfig_src[4096]; /* the kernel config read ("" none) */
	bool caps_known; /* cap_eff was read from PROC/self/status */
	uint64_t cap_eff;
};

/* ---------------------------------------------------------------- doctor.c */

/* Add a check result; the message is formatted.  Returns NULL out of memory
 * (every doc_* call below accepts that NULL). */
struct doc_check *doc_add(struct doctor *dr, const char *device, const char *id, enum doc_status st,
			  const char *fmt, ...) SVA_PRINTF(5, 6);
/* Set what to do about a check. */
void doc_fix(struct doctor *dr, struct doc_check *c, const char *fmt, ...) SVA_PRINTF(3, 4);
/* Typed data of a check, for --json. */
void doc_str(struct doctor *dr, struct doc_check *c, const char *key, const char *val);
void doc_int(struct doc_check *c, const char *key, long long val);
void doc_bool(struct doc_check *c, const char *key, bool val);

/* Does the process have capability cap (CapEff, else: is it root)? */
bool has_cap(const struct doctor *dr, int cap);

/* Read a small file whole (at most len - 1 bytes, NUL-terminated).  Returns the
 * length or a negative errno. */
ssize_t read_small(const char *path, char *buf, size_t len);
/* Append to the string in buf (of size len), cutting what does not fit. */
void append(char *buf, size_t len, const char *fmt, ...) SVA_PRINTF(3, 4);

/* ------------------------------------------------------------ the checks */

/* check_kernel.c: CONFIG_IOMMUFD and CONFIG_VFIO_DEVICE_CDEV (sets dr->kconfig). */
void check_kconfig(struct doctor *dr);
/* check_iommu.c: an IOMMU is active; the iommufd opens. */
void check_iommu(struct doctor *dr);
void check_iommufd(struct doctor *dr, const struct iommu_rec *im);
/* check_devices.c: the VFIO cdev devices as a whole, then each one. */
void check_devices(struct doctor *dr, struct dev_rec *devs, int n);
void check_device(struct doctor *dr, struct dev_rec *d, bool have_ctx);
/* check_limits.c: RLIMIT_MEMLOCK, huge pages. */
void check_memlock(struct doctor *dr);
void check_hugepages(struct doctor *dr);
/* check_uffd.c: userfaultfd, which coherence tracking needs. */
void check_userfaultfd(struct doctor *dr);

/* check_pci.c: the PCI capabilities behind SVA. */
struct pci_caps {
	size_t cfg_len;		  /* bytes of config space read */
	unsigned pasid, ats, pri; /* offsets of the capabilities; 0: absent */
	uint16_t pasid_cap;	  /* PASID capability register */
	uint16_t ats_cap;	  /* ATS capability register */
	uint32_t pri_reqs;	  /* PRI outstanding page request capacity */
};

/* Read the device's config space and find PASID, ATS and PRI.  0 or -errno. */
int pci_read_caps(const char *sysdev, struct pci_caps *pc);
/* The pci-pasid, pci-ats and pci-pri checks of a device; *known: pc was read
 * far enough to tell. */
void check_pci_caps(struct doctor *dr, const struct dev_rec *d, struct pci_caps *pc, bool *known);
/* Up to max PCI devices with a PASID capability, as "ADDR (driver), ...". */
void pasid_candidates(const struct doctor *dr, char *out, size_t len, int max);

#endif /* SVA_INFO_DOCTOR_H */
