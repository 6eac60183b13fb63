/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * sva-info --doctor on a real kernel: the VM packs sva-info as a helper
 * (/tests/sva-info); this runs it and checks what it concludes on each
 * topology.  On the mock topology there is an iommufd and no VFIO device; on
 * the VT-d ones edu is bound to vfio-pci behind an IOMMU, with neither PASID
 * nor PRI.  Nothing may FAIL in the VM; the warnings must name those limits.
 */

#include "ktest.h"
#include "uffd_refuse.h"

#define DOCTOR "/tests/sva-info"

/* Run sva-info with args, capture stdout; returns its exit status or -1. */
static int run(const char *args, char *out, size_t len)
{
	char cmd[256];

	snprintf(cmd, sizeof(cmd), "%s %s 2>/dev/null", DOCTOR, args);
	return ktest_run_capture(cmd, out, len);
}

/* run("--doctor") in a child whose seccomp filter refuses userfaultfd(2)
 * with err, and with dev_refused /dev/userfaultfd's ioctl too: its exit
 * status (99: no seccomp filter here), or -1. */
static int run_refused(int err, bool dev_refused, char *out, size_t len)
{
	int pfd[2], status = 0;
	size_t n = 0;
	ssize_t r;
	pid_t pid;

	if (pipe(pfd))
		return -1;
	pid = fork();
	if (pid == 0) {
		close(pfd[0]);
		if (dup2(pfd[1], 1) < 0 || ktest_refuse_uffd(err, dev_refused))
			_exit(99);
		execl(DOCTOR, DOCTOR, "--doctor", (char *)NULL);
		_exit(98);
	}
	close(pfd[1]);
	while (n + 1 < len && (r = read(pfd[0], out + n, len - 1 - n)) > 0)
		n += (size_t)r;
	out[n] = '\0';
	close(pfd[0]);
	if (pid < 0 || waitpid(pid, &status, 0) != pid)
		return -1;
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/* The userfaultfd line of a --doctor output, or "". */
static const char *uffd_line(const char *out, char *line, size_t len)
{
	const char *p = strstr(out, "  userfaultfd: ");

	line[0] = '\0';
	if (p) {
		while (p > out && p[-1] != '\n')
			p--;
		snprintf(line, len, "%.*s", (int)strcspn(p, "\n"), p);
	}
	return line;
}

/* With userfaultfd(2) refused by seccomp, --doctor agrees with libsva: the
 * userfaultfd comes from /dev/userfaultfd, or, with that refused too, a
 * warning that says so. */
static void doctor_uffd_refused(char *out, size_t len)
{
	char line[1024];
	int rc;

	if (access(KABI_USERFAULTFD_PATH, F_OK) != 0) {
		skip(2, "no /dev/userfaultfd (Linux 6.1, CONFIG_USERFAULTFD) here");
		return;
	}
	rc = run_refused(EPERM, false, out, len);
	if (rc == 99) {
		skip(2, "seccomp filters are not available in this kernel");
		return;
	}
	uffd_line(out, line, sizeof(line));
	ok(strncmp(line, "PASS", 4) == 0 && strstr(line, KABI_USERFAULTFD_PATH),
	   "doctor, userfaultfd(2) refused (seccomp, EPERM): passes through " KABI_USERFAULTFD_PATH " [%s]", line);
	run_refused(EPERM, true, out, len);
	uffd_line(out, line, sizeof(line));
	ok(strncmp(line, "WARN", 4) == 0 && strstr(line, "(EPERM)") && strstr(line, KABI_USERFAULTFD_PATH " too"),
	   "doctor, the device refused too: a warning that names both [%s]", line);
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
	doctor_uffd_refused(out, sizeof(out));
	rc = run("--doctor --json", out, sizeof(out));
	is_int(rc, 3, "doctor --json: same exit status");
	ok(out[0] == '{' && strstr(out, "\"checks\"") != NULL, "doctor --json: a JSON object with the checks");
	return done_testing();
}
