/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * sva-demo when the address of its injected faults is already taken in its
 * process: sva-demo(1) says the step says which address is occupied and the
 * demo ends with "everything that ran worked" (some steps skipped), never
 * "everything worked".  The VM packs sva-demo and an LD_PRELOAD helper
 * (occupy-preload.so) that maps a page at SVA_TEST_OCCUPY before main().  On
 * the VT-d topologies a run with nothing occupied first shows that every step
 * runs there ("everything worked"), so the occupied runs' ending is the
 * occupied address's doing; on the mock topology edu's step is always skipped.
 * Last, a kernel without the mock device (a seccomp filter answers
 * IOMMU_TEST_CMD as such a kernel does): one more run, about 0.2 s.
 */

#include <fcntl.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <sys/prctl.h>
#include <sys/syscall.h>

#include "ktest.h"

#define DEMO "/tests/sva-demo"
#define PRELOAD "/tests/occupy-preload.so"

/* Run sva-demo, the page at `occupy` (hex, or NULL) taken; stdout in out. */
static int run(const char *occupy, char *out, size_t len)
{
	char cmd[512];

	if (occupy)
		/* ASan wants its runtime first in the library list; the helper is
		 * not instrumented and allocates nothing. */
		snprintf(cmd, sizeof(cmd),
			 "ASAN_OPTIONS=\"${ASAN_OPTIONS:+$ASAN_OPTIONS:}verify_asan_link_order=0\" "
			 "SVA_TEST_OCCUPY=%s LD_PRELOAD=%s %s 2>&1",
			 occupy, PRELOAD, DEMO);
	else
		snprintf(cmd, sizeof(cmd), "%s 2>&1", DEMO);
	return ktest_run_capture(cmd, out, len);
}

static void show(const char *what, const char *out)
{
	char copy[16384];

	snprintf(copy, sizeof(copy), "%s", out);
	diag("%s:", what);
	for (char *l = strtok(copy, "\n"); l; l = strtok(NULL, "\n"))
		diag("  %s", l);
}

/* sva-demo(1), DESCRIPTION: every step starts with "== step" on standard
 * output, in the page's order, and each result line is indented, its first
 * non-blank character - or !.  A heading may say more after its name
 * ("== real DMA (edu at ...)", "== done: ..."); the done step's words follow what was
 * skipped (on mock: edu's real-DMA step, so "everything that ran worked"). */
static void report_format(int vtd)
{
	static const char *const steps[] = { "the IOMMU", "devices", "PASIDs", "a bind", "faults resolved",
					     "mm_exit teardown", "real DMA", "done" };
	static char out[65536];
	char copy[65536], bad[256] = "";
	size_t next = 0;
	int rc = ktest_run_capture(DEMO " 2>/dev/null", out, sizeof(out));

	snprintf(copy, sizeof(copy), "%s", out);
	for (char *l = strtok(copy, "\n"); l; l = strtok(NULL, "\n")) {
		if (!strncmp(l, "== ", 3)) {
			size_t n = next < 8 ? strlen(steps[next]) : 0;

			if (next < 8 && !strncmp(l + 3, steps[next], n) && (l[3 + n] == '\0' || l[3 + n] == ':' || l[3 + n] == ' '))
				next++;
			else if (!*bad)
				snprintf(bad, sizeof(bad), "heading out of order: %s", l);
		} else if (l[0] != ' ' || (l[strspn(l, " ")] != '-' && l[strspn(l, " ")] != '!')) {
			if (!*bad)
				snprintf(bad, sizeof(bad), "not a result line: %s", l);
		}
	}
	is_int(rc, 0, "sva-demo on %s exits 0", ktest_topology());
	ok(next == 8 && !*bad, "its report: the 8 steps' '== step' headings in order, result lines '- ' or '! ' (%zu; %s)",
	   next, bad);
	ok(!strstr(out, "\n   !") && !strstr(out, "\n  !"), "no line is marked !");
	if (vtd)
		ok(strstr(out, "\n== done: everything worked") != NULL, "done: everything worked");
	else
		ok(strstr(out, "\n== done: everything that ran worked") != NULL, "done: everything that ran worked (edu's step skipped)");
}

static void occupied(const char *at, const char *line, int vtd)
{
	static char out[65536];
	int rc = run(at, out, sizeof(out));

	show(at, out);
	is_int(rc, 0, "sva-demo with 0x%s occupied exits 0 (a skipped step is no failure)", at);
	ok(strstr(out, line) != NULL, "the faults step names the occupied address: \"%s\"", line);
	ok(!strstr(out, "the device faulted on 4 pages"), "no fault is injected at the occupied address");
	ok(!strstr(out, "everything worked"), "it does not say \"everything worked\"");
	ok(strstr(out, "everything that ran worked (some steps were skipped") != NULL,
	   "it says that some steps were skipped%s", vtd ? "" : " (on mock edu's step is skipped too)");
}

/* sva-demo in a child whose seccomp filter answers IOMMU_TEST_CMD with
 * ENOTTY, as iommufd does in a kernel built without CONFIG_IOMMUFD_TEST;
 * stdout in out.  Its exit status, 99 when filters are not available, or -1. */
static int run_without_mock(char *out, size_t len)
{
	struct sock_filter f[] = {
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_ioctl, 0, 3),
		/* The command's low half (little-endian x86-64). */
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, args[1])),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, (unsigned)KABI_IOMMU_TEST_CMD, 0, 1),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | ENOTTY),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
	};
	struct sock_fprog prog = { .len = sizeof(f) / sizeof(f[0]), .filter = f };
	int pfd[2], status = 0, dn;
	size_t n = 0;
	ssize_t r;
	pid_t pid;

	if (pipe(pfd))
		return -1;
	fflush(stdout);
	pid = fork();
	if (pid == 0) {
		close(pfd[0]);
		dn = open("/dev/null", O_WRONLY);
		if (dup2(pfd[1], 1) < 0 || dn < 0 || dup2(dn, 2) < 0 || prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) ||
		    prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog))
			_exit(99);
		execl(DEMO, DEMO, (char *)NULL);
		_exit(98);
	}
	close(pfd[1]);
	while (pid > 0 && n + 1 < len && (r = read(pfd[0], out + n, len - 1 - n)) > 0)
		n += (size_t)r;
	out[n] = '\0';
	close(pfd[0]);
	if (pid < 0 || waitpid(pid, &status, 0) != pid)
		return -1;
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/* sva-demo(1), devices: without --device, on a kernel without
 * CONFIG_IOMMUFD_TEST (no mock device: sva_dev_open_mock fails with
 * -EOPNOTSUPP) the demo says so, skips the steps from PASIDs to mm_exit
 * teardown and goes on to the real-DMA step; EXIT STATUS: that is not an
 * error, and DESCRIPTION: a skipped step makes the done line "everything
 * that ran worked". */
static void without_mock(void)
{
	static const char *const gone[] = { "\n== PASIDs", "\n== a bind", "\n== faults resolved",
					    "\n== mm_exit teardown" };
	static char out[65536];
	const char *dev, *next;
	char line[512] = "", *said;
	int rc = run_without_mock(out, sizeof(out)), skipped_all = 1;

	if (rc == 99) {
		skip(5, "seccomp filters are not available in this kernel");
		return;
	}
	show("without the mock device", out);
	is_int(rc, 0, "sva-demo on a kernel without the mock device exits 0 (not an error)");
	dev = strstr(out, "\n== devices");
	next = dev ? strstr(dev + 1, "\n== ") : NULL;
	if (dev && next)
		snprintf(line, sizeof(line), "%.*s", (int)(next - dev - 1), dev + 1);
	said = strstr(line, "mock");
	while (said && said > line && said[-1] != '\n')
		said--;
	ok(said && said > line && said[strspn(said, " ")] == '-' && said[0] == ' ' && !strchr(line, '!'),
	   "its devices step says there is no mock device, a '- ' line, not marked ! [%.*s]",
	   said ? (int)strcspn(said, "\n") : 0, said ? said : "");
	for (size_t i = 0; i < sizeof(gone) / sizeof(gone[0]); i++)
		if (strstr(out, gone[i]))
			skipped_all = 0;
	ok(skipped_all, "the steps from PASIDs to mm_exit teardown are skipped (no heading)");
	ok(next && !strncmp(next, "\n== real DMA", 12), "it goes on to the real-DMA step, next after devices");
	ok(strstr(out, "\n== done: everything that ran worked") != NULL && !strstr(out, "\n  !") &&
		   !strstr(out, "\n   !"),
	   "done: everything that ran worked, no line marked !");
}

int main(void)
{
	static char out[65536];
	const char *topo = ktest_topology();
	int vtd = strncmp(topo, "vtd", 3) == 0, rc;

	if (access(DEMO, X_OK) != 0 || access(PRELOAD, R_OK) != 0) {
		if (getenv("SVA_VM"))
			ktest_bail("%s or %s is not in the VM (make check-vm packs them)", DEMO, PRELOAD);
		skip_all("runs in the test VM, which packs sva-demo and occupy-preload.so (make check-vm)");
	}
	report_format(vtd);
	if (vtd) {
		rc = run(NULL, out, sizeof(out));
		show("nothing occupied", out);
		is_int(rc, 0, "sva-demo exits 0 on %s", topo);
		ok(strstr(out, "everything worked") != NULL, "with nothing occupied every step runs on %s", topo);
	} else {
		skip(2, "edu's step is always skipped on the mock topology");
	}
	occupied("40000000", "address 0x40000000 is already occupied in this process: skipping the injected faults",
		 vtd);
	occupied("40200000", "address 0x40200000 is already occupied in this process: skipping the injected faults",
		 vtd);
	/* sva-demo(1), real DMA: "Only without --device"; with it the step says
	 * that --device is why it is skipped (it said "only in the test VM, on
	 * its edu device", which is where it was). */
	if (vtd && access("/dev/vfio/devices/vfio0", F_OK) == 0) {
		rc = ktest_run_capture(DEMO " --device vfio0 2>&1", out, sizeof(out));
		show("--device vfio0", out);
		is_int(rc, 0, "sva-demo --device vfio0 exits 0 on %s", topo);
		ok(strstr(out, "real DMA") && strstr(out, "not with --device"),
		   "its real-DMA step says it is skipped because --device was given");
		ok(!strstr(out, "only in the test VM"), "  and not that it runs only in the test VM, where it is");
	} else {
		skip(3, "--device vfio0: the VT-d topologies have edu at vfio0");
	}
	/* sva-demo(1), EXIT STATUS: a report that cannot be written is status 1,
	 * with a message on standard error, however the steps went. */
	rc = ktest_run_capture(DEMO " 2>&1 >/dev/full", out, sizeof(out));
	is_int(rc, 1, "sva-demo >/dev/full exits 1");
	ok(strstr(out, "sva-demo: writing the report failed") != NULL, "and says so on standard error: %s", out);
	without_mock();
	return done_testing();
}
