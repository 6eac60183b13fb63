/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * sva-info --doctor on a real kernel: the VM packs sva-info as a helper
 * (/tests/sva-info); this runs it and checks what it concludes on each
 * topology.  On the mock topology there is an iommufd and no VFIO device; on
 * the VT-d ones edu is bound to vfio-pci behind an IOMMU, with neither PASID
 * nor PRI.  Nothing may FAIL in the VM; the warnings must name those limits.
 */

#include "ktest.h"

#define DOCTOR "/tests/sva-info"

/* Run sva-info with args, capture stdout; returns its exit status or -1. */
static int run(const char *args, char *out, size_t len)
{
	char cmd[256];

	snprintf(cmd, sizeof(cmd), "%s %s 2>/dev/null", DOCTOR, args);
	return ktest_run_capture(cmd, out, len);
}

int main(void)
{
	static char out[65536];
	const char *topo = ktest_topology();
	int vtd = strncmp(topo, "vtd", 3) == 0, rc;

	if (access(DOCTOR, X_OK) != 0) {
		if (getenv("SVA_VM"))
			ktest_bail("%s is not in the VM (pack it with +tools/sva-info)", DOCTOR);
		skip_all("runs in the test VM, which packs sva-info (make check-vm)");
	}
	rc = run("--doctor", out, sizeof(out));
	diag("sva-info --doctor exited %d on %s", rc, topo);
	for (char *l = strtok(out, "\n"); l; l = strtok(NULL, "\n"))
		diag("  %s", l);
	rc = run("--doctor", out, sizeof(out));
	is_int(rc, 3, "doctor: worst result is a warning (exit 3) on %s", topo);
	ok(!strstr(out, "\nFAIL") && strncmp(out, "FAIL", 4) != 0, "doctor: no FAIL line on %s", topo);
	ok(strstr(out, "PASS  iommufd:") != NULL, "doctor: /dev/iommu opens");
	ok(strstr(out, "PASS  iommu:") != NULL, "doctor: an active IOMMU is found");
	ok(strstr(out, "PASS  userfaultfd:") != NULL, "doctor: userfaultfd works (coherence tracking)");
	if (vtd) {
		ok(strstr(out, "PASS  vfio0 device:") && strstr(out, "vfio-pci"), "doctor: edu as vfio0, bound to vfio-pci");
		ok(strstr(out, "vfio0 iommufd-info: IOMMU intel-vtd") != NULL, "doctor: iommufd says VT-d");
		ok(strstr(out, "WARN  vfio0 pci-pri:") != NULL, "doctor: no PRI on edu is a warning, with a fix");
		ok(strstr(out, "WARN  vfio0 pci-pasid:") != NULL, "doctor: no PASID on edu is a warning");
	} else {
		ok(strstr(out, "WARN  vfio-devices:") != NULL, "doctor: no VFIO device on %s is a warning", topo);
		skip(3, "no VFIO device on this topology");
	}
	rc = run("--doctor --json", out, sizeof(out));
	is_int(rc, 3, "doctor --json: same exit status");
	ok(out[0] == '{' && strstr(out, "\"checks\"") != NULL, "doctor --json: a JSON object with the checks");
	return done_testing();
}
