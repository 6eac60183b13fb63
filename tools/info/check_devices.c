/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* sva-info --doctor: the VFIO cdev devices, as a whole and one by one (node,
 * driver, IOMMU group, PCI capabilities, what iommufd says). */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "doctor.h"

void check_devices(struct doctor *dr, struct dev_rec *devs, int n)
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

void check_device(struct doctor *dr, struct dev_rec *d, bool have_ctx)
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
		if (sva_sysfs_read_attr(d->sysdev, "iommu_group/type", type, sizeof(type)))
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
		else
			doc_fix(dr, c, "see what the kernel's log (dmesg) says about this device; 'sva-info -v' "
				       "shows libsva's own line about the failure");
		doc_str(dr, c, "error", errno_name(-d->hw_err));
		break;
	default:
		break;
	}
}
