/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* sva-info --doctor: is an IOMMU active, and does the iommufd open? */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1 /* versionsort() */
#endif

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "doctor.h"

/* Does the word w appear as a whole token in the string s (space-separated)? */
static bool has_token(const char *s, const char *w)
{
	size_t len = strlen(w);

	for (const char *p = s; (p = strstr(p, w)) != NULL; p += len)
		if ((p == s || p[-1] == ' ' || p[-1] == '\t') && (!p[len] || strchr(" \t\r\n", p[len])))
			return true;
	return false;
}

/* Whether command line s has key (such as "intel_iommu=") with value among
 * its comma-separated values, as the kernel reads them ("intel_iommu=sm_on,off"). */
static bool has_option_value(const char *s, const char *key, const char *value)
{
	size_t klen = strlen(key), vlen = strlen(value);

	for (const char *p = s; (p = strstr(p, key)) != NULL; p += klen) {
		if (p != s && p[-1] != ' ' && p[-1] != '\t')
			continue;
		for (const char *v = p + klen;; v++) {
			size_t n = strcspn(v, ", \t\r\n");

			if (n == vlen && strncmp(v, value, vlen) == 0)
				return true;
			v += n;
			if (*v != ',')
				break;
		}
	}
	return false;
}

/* The first "flags : ..." line of a cpuinfo text, cut at its end, or NULL.
 * Any line may be it, the first included: a trimmed cpuinfo (a test tree, a
 * container's view) need not start with "processor". */
static char *cpu_flags(char *buf)
{
	char *line = buf;

	while (*line) {
		char *eol = strchr(line, '\n');

		if (!strncmp(line, "flags", 5) && line[5 + strspn(line + 5, " \t")] == ':') {
			if (eol)
				*eol = '\0';
			return line;
		}
		if (!eol)
			break;
		line = eol + 1;
	}
	return NULL;
}

struct type_count {
	char name[32];
	int n;
};

void check_iommu(struct doctor *dr)
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
			    sva_sysfs_read_attr(path, "type", type, sizeof(type)))
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
		/* Each may be a comma list: "intel_iommu=sm_on,off" turns it off too. */
		static const char *const keys[] = { "intel_iommu=", "amd_iommu=", "iommu=" };
		static const char *const offs[] = { "intel_iommu=off", "amd_iommu=off", "iommu=off" };

		for (size_t k = 0; k < ARRAY_SIZE(keys) && !off; k++)
			if (has_option_value(buf, keys[k], "off"))
				off = true, off_word = offs[k];
		if (has_token(buf, "iommu=pt") || has_token(buf, "iommu.passthrough=1"))
			pt = true;
	}
	if (join(path, sizeof(path), dr->o->proc_root, "cpuinfo") && read_small(path, buf, sizeof(buf)) > 0 &&
	    (flags = cpu_flags(buf)) != NULL)
		vm = has_token(flags, "hypervisor");

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

void check_iommufd(struct doctor *dr, const struct iommu_rec *im)
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
		doc_fix(dr, c, "check that %s is the iommufd node (normally /dev/iommu: --iommu-path) and that the "
			       "kernel's log (dmesg) says nothing about iommufd", im->path);
		break;
	}
	doc_str(dr, c, "path", im->path);
	doc_str(dr, c, "error", errno_name(-im->err));
}
