/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* sva-info --doctor: the PCI Express capabilities SVA needs (PASID, ATS, PRI),
 * read from the config space in sysfs. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1 /* versionsort() */
#endif

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "doctor.h"

/* PCI Express extended capabilities. */
#define PCI_EXT_CAP_START 0x100
#define PCI_EXT_CAP_ID_ATS 0x0f
#define PCI_EXT_CAP_ID_PRI 0x13
#define PCI_EXT_CAP_ID_PASID 0x1b
#define PCI_CFG_MAX 4096

static uint32_t le32_at(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint16_t le16_at(const uint8_t *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}

/* Read the device's config space and find PASID, ATS and PRI.  0 or -errno. */
int pci_read_caps(const char *sysdev, struct pci_caps *pc)
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

void check_pci_caps(struct doctor *dr, const struct dev_rec *d, struct pci_caps *pc, bool *known)
{
	struct doc_check *c;
	int err;

	*known = false;
	err = pci_read_caps(d->sysdev, pc);
	if (err) {
		c = doc_add(dr, d->name, "pci-caps", DOC_WARN,
			    "cannot read the PCI config space (%s/config: %s), so PASID, ATS and PRI are unknown",
			    d->sysdev, strerror(-err));
		if (err == -EACCES || err == -EPERM)
			doc_fix(dr, c, "run as root");
		else /* root would not help: the file is not there, or not config space */
			doc_fix(dr, c, "check that %s is a PCI function with its config file in sysfs (another "
				"--sysfs-root, or a device that is not PCI, has none)", d->sysdev);
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
	if (pc->pri && !pc->ats) {
		/* Page requests are an ATS protocol: PRI alone never sends one. */
		c = doc_add(dr, d->name, "pci-pri", DOC_WARN,
			    "PCI PRI capability but no ATS, which page requests need: the device cannot take I/O "
			    "page faults, so fault-capable binds (the default) fail on it");
		doc_fix(dr, c, "bind with SVA_BIND_PINNED and make buffers visible with sva_mm_prefault()");
	} else if (pc->pri) {
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


/* Up to max PCI devices with a PASID capability, as "ADDR (driver)". */
void pasid_candidates(const struct doctor *dr, char *out, size_t len, int max)
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
			if (sva_sysfs_link_base(path, "driver", drv, sizeof(drv)))
				snprintf(drv, sizeof(drv), "no driver");
			append(out, len, "%s%s (%s)", found ? ", " : "", names[i]->d_name, drv);
			found++;
		}
		free(names[i]);
	}
	free(names);
}
