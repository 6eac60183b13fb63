/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Kernels and sandboxes that lack what libsva uses, the kernel's answers
 * played by the test (its ioctl() replaces libc's for the static libsva-test):
 *
 *  - PROCMAP_QUERY refused by a sandbox or LSM (EACCES from an SELinux ioctl
 *    allowlist; EPERM or ENOSYS from a seccomp filter) while /proc/self/maps
 *    stays readable: libsva reads the file, as on a kernel before 6.11
 *    (ENOTTY), instead of failing every sva_mm_prefault() with "cannot read
 *    this process's mappings" (review Z82).
 *  - A userfaultfd without write-protect registration (an architecture or CPU
 *    without uffd-wp: UFFDIO_API leaves out UFFD_FEATURE_PAGEFAULT_FLAG_WP and
 *    UFFDIO_REGISTER_MODE_WP fails with EINVAL for every range) but with the
 *    UNMAP, REMOVE and REMAP events: tracking is impossible, so the address
 *    space is created untracked (-EOPNOTSUPP), instead of a "tracked" one
 *    whose every prefault of private anonymous memory failed with -EFAULT
 *    (taken for the race with another thread's munmap()) and every fault
 *    was answered INVALID (review Z82).
 *  - mbind() refused by a seccomp filter (Docker's default profile without
 *    CAP_SYS_NICE: EPERM; vtd48-numa, edu on node 1): sva_mem_alloc() with
 *    opts->dev leaves the memory unplaced, as the device's node is only a
 *    preference, instead of failing with -EPERM (review Z82); a node named
 *    with SVA_MEM_NODE still fails.
 *  - userfaultfd(2) refused by a seccomp filter (Docker's default profile:
 *    EPERM; ENOSYS from others) on a kernel with /dev/userfaultfd (6.1): the
 *    userfaultfd comes from the device's USERFAULTFD_IOC_NEW, and a strict
 *    address space is tracked, following munmap(); with the device's ioctl
 *    refused too, the address space is untracked (strict: -EPERM or -ENOSYS,
 *    the system call's errno) as before the device was known.
 *  - UFFDIO_API refused with EINVAL (a seccomp filter on the ioctl, or a
 *    kernel that refuses the API or features asked): a kernel lacking what
 *    tracking needs, -EOPNOTSUPP, not -EINVAL, which sva_mm_new(3) keeps for
 *    bad arguments (review Z82).
 *  - IOMMU_HWPT_ALLOC of a fault-capable HWPT refused with EOPNOTSUPP (an
 *    IOMMU driver that cannot deliver the device's faults): the bind fails
 *    with -EOPNOTSUPP and its line says to bind with SVA_BIND_PINNED, as the
 *    attach's refusal does; it named only the ioctl (review Z82).
 */
#include <errno.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>

#include "ktest.h"
#include "uffd_refuse.h"

#define PG 4096u
#define VA 0x61000000ull /* inside the mock aperture [16 MiB, 2 GiB) */

static int g_procmap_errno; /* 0: the kernel's answer */
static bool g_no_uffd_wp;
static bool g_no_fault_hwpt;
static int g_uffd_api_errno; /* 0: the kernel's answer */

int ioctl(int fd, unsigned long req, ...);
int ioctl(int fd, unsigned long req, ...)
{
	va_list ap;
	void *arg;
	int rc;

	va_start(ap, req);
	arg = va_arg(ap, void *);
	va_end(ap);
	if (req == KABI_PROCMAP_QUERY && g_procmap_errno) {
		errno = g_procmap_errno;
		return -1;
	}
	if (req == KABI_IOMMU_HWPT_ALLOC && g_no_fault_hwpt &&
	    (((struct kabi_iommu_hwpt_alloc *)arg)->flags & KABI_IOMMU_HWPT_FAULT_ID_VALID)) {
		errno = EOPNOTSUPP;
		return -1;
	}
	if (req == KABI_UFFDIO_REGISTER && g_no_uffd_wp &&
	    (((struct kabi_uffdio_register *)arg)->mode & KABI_UFFDIO_REGISTER_MODE_WP)) {
		errno = EINVAL;
		return -1;
	}
	if (req == KABI_UFFDIO_API && g_uffd_api_errno) {
		errno = g_uffd_api_errno;
		return -1;
	}
	rc = (int)syscall(SYS_ioctl, fd, req, arg);
	/* Such a kernel offers the events, not write-protect. */
	if (req == KABI_UFFDIO_API && g_no_uffd_wp && rc == 0)
		((struct kabi_uffdio_api *)arg)->features &= ~KABI_UFFD_FEATURE_PAGEFAULT_FLAG_WP;
	return rc;
}

static struct sva_dev *g_dev;

/* A pinned bond of the mock on mm: the page table ktest_device_has_page() asks. */
static struct sva_bond *pinned_bond(struct sva_mm *mm)
{
	struct sva_bind_opts o = { .size = sizeof(o), .flags = SVA_BIND_PINNED };
	struct sva_bond *b;

	if (sva_bind(g_dev, mm, &o, &b))
		ktest_bail("pinned bind failed");
	return b;
}

static void no_uffd_wp(struct sva_ctx *ctx)
{
	struct sva_bond *b;
	struct sva_mm_opts strict = { .size = sizeof(strict), .flags = SVA_MM_TRACK_STRICT };
	struct sva_mm_stats st = { .size = sizeof(st) };
	struct sva_mm *mm = NULL;
	unsigned char *a = ktest_map_at(VA, 16 * PG, PROT_READ | PROT_WRITE);

	memset(a, 0x5a, 16 * PG);
	g_no_uffd_wp = true;
	is_int(sva_mm_new(ctx, &strict, &mm), -EOPNOTSUPP,
	       "no uffd-wp: a strict address space is refused (-EOPNOTSUPP)");
	if (!ok(sva_mm_new(ctx, NULL, &mm) == 0, "no uffd-wp: a default address space is created")) {
		g_no_uffd_wp = false;
		return;
	}
	b = pinned_bond(mm);
	sva_mm_stats(mm, &st);
	is_int(st.untracked_reason, -EOPNOTSUPP, "it is untracked, and sva_mm_stats says why");
	is_int(sva_mm_prefault(mm, a, 4 * PG), 0, "its prefault of private anonymous memory maps");
	ok(ktest_device_has_page(ctx, mm, VA), "the IOAS maps the page");
	sva_unbind(b);
	sva_mm_free(mm);
	g_no_uffd_wp = false;
	munmap(a, 16 * PG);
}

/* UFFDIO_API refused with EINVAL: the kernel lacks what tracking needs. */
static void uffd_api_refused(struct sva_ctx *ctx)
{
	struct sva_mm_opts strict = { .size = sizeof(strict), .flags = SVA_MM_TRACK_STRICT };
	struct sva_mm_stats st = { .size = sizeof(st) };
	struct sva_mm *mm = NULL;

	g_uffd_api_errno = EINVAL;
	is_int(sva_mm_new(ctx, &strict, &mm), -EOPNOTSUPP,
	       "UFFDIO_API refused (EINVAL): a strict address space is refused with -EOPNOTSUPP, not -EINVAL");
	if (ok(sva_mm_new(ctx, NULL, &mm) == 0, "UFFDIO_API refused: a default address space is created")) {
		sva_mm_stats(mm, &st);
		is_int(st.untracked_reason, -EOPNOTSUPP, "it is untracked, and sva_mm_stats says why (-EOPNOTSUPP)");
		sva_mm_free(mm);
	} else {
		skip(1, "no address space");
	}
	g_uffd_api_errno = 0;
}

/* Is there a /dev/userfaultfd (Linux 6.1, CONFIG_USERFAULTFD)?  devtmpfs makes
 * it; without devtmpfs the node is made from /proc/misc's minor. */
static bool have_dev_userfaultfd(void)
{
	char line[128];
	unsigned minor;
	bool made = false;
	FILE *f;

	if (access(KABI_USERFAULTFD_PATH, F_OK) == 0)
		return true;
	f = fopen("/proc/misc", "r");
	if (!f)
		return false;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "%u userfaultfd", &minor) == 1 && strstr(line, " userfaultfd\n")) {
			made = mknod(KABI_USERFAULTFD_PATH, S_IFCHR | 0600, makedev(10, minor)) == 0;
			break;
		}
	fclose(f);
	return made;
}

enum { DEV_NTESTS = 6 };

/*
 * In a child whose seccomp filter refuses userfaultfd(2) with err, and with
 * dev_refused, /dev/userfaultfd's USERFAULTFD_IOC_NEW with EPERM too
 * (uffd_refuse.h): got[] as the parent reports it.
 */
static void uffd_dev_child(int err, bool dev_refused, int got[DEV_NTESTS])
{
	struct ktest_line dev_line = { .match = KABI_USERFAULTFD_PATH, .level = SVA_LOG_DEBUG };
	struct sva_ctx_opts co = { .size = sizeof(co), .pasid_grace_ns = UINT64_MAX, .log_fn = ktest_keep_line,
				   .log_arg = &dev_line, .log_level = SVA_LOG_DEBUG };
	struct sva_mm_opts strict = { .size = sizeof(strict), .flags = SVA_MM_TRACK_STRICT };
	struct sva_bind_opts pinned = { .size = sizeof(pinned), .flags = SVA_BIND_PINNED };
	struct sva_mm_stats st = { .size = sizeof(st) };
	struct sva_ctx *c;
	struct sva_dev *d;
	struct sva_mm *mm = NULL;
	struct sva_bond *b;
	unsigned char *a;

	alarm(60);
	if (ktest_refuse_uffd(err, dev_refused))
		_exit(2);
	if (sva_ctx_new(&co, &c) || sva_dev_open_mock(c, NULL, &d))
		_exit(3);
	got[0] = sva_mm_new(c, &strict, &mm);
	if (got[0]) {
		/* Untracked: the default policy, and why. */
		got[1] = sva_mm_new(c, NULL, &mm);
		if (!got[1]) {
			sva_mm_stats(mm, &st);
			got[2] = st.untracked_reason;
			sva_mm_free(mm);
		}
		got[3] = strstr(dev_line.text, "too") != NULL; /* the device was tried, and refused */
		sva_dev_close(d);
		sva_ctx_free(c);
		return;
	}
	sva_mm_stats(mm, &st);
	got[1] = 0;
	got[2] = (st.flags & SVA_MM_STAT_TRACKED) ? st.untracked_reason : -ENOTCONN;
	got[3] = strstr(dev_line.text, "made through") != NULL;
	a = ktest_map_at(VA, 16 * PG, PROT_READ | PROT_WRITE);
	memset(a, 0x5a, 16 * PG);
	if (sva_bind(d, mm, &pinned, &b))
		_exit(4);
	got[4] = sva_mm_prefault(mm, a, 4 * PG) == 0 && ktest_device_has_page(c, mm, VA + 2 * PG) ? 0 : -1;
	munmap(a + 2 * PG, PG);
	got[5] = sva_mm_fence(mm) == 0 && !ktest_device_has_page(c, mm, VA + 2 * PG) ? 0 : -1;
	sva_unbind(b);
	sva_mm_free(mm);
	munmap(a, 16 * PG);
	sva_dev_close(d);
	sva_ctx_free(c);
}

static void uffd_syscall_refused(int err, bool dev_refused)
{
	const char *e = err == EPERM ? "EPERM" : "ENOSYS";
	int pfd[2], status = 0, got[DEV_NTESTS] = { 1, 1, 1, 0, 1, 1 };
	pid_t pid;

	if (!have_dev_userfaultfd()) {
		skip(dev_refused ? 4 : 6, "userfaultfd(2) refused: no " KABI_USERFAULTFD_PATH
			" (Linux 6.1, CONFIG_USERFAULTFD) here");
		return;
	}
	if (pipe(pfd))
		ktest_bail("pipe");
	pid = fork();
	if (pid == 0) {
		close(pfd[0]);
		uffd_dev_child(err, dev_refused, got);
		if (write(pfd[1], got, sizeof(got)) != sizeof(got))
			_exit(5);
		_exit(0);
	}
	close(pfd[1]);
	if (read(pfd[0], got, sizeof(got)) != sizeof(got))
		got[0] = 1;
	close(pfd[0]);
	waitpid(pid, &status, 0);
	if (WIFEXITED(status) && WEXITSTATUS(status) == 2) {
		skip(dev_refused ? 4 : 6, "seccomp filters are not available in this kernel");
		return;
	}
	if (!dev_refused) {
		is_int(got[0], 0, "userfaultfd(2) refused (seccomp, %s): a strict address space is created, "
		       "through " KABI_USERFAULTFD_PATH, e);
		is_int(got[2], 0, "%s: it is tracked (sva_mm_stats)", e);
		ok(got[3], "%s: a debug line says the userfaultfd came from " KABI_USERFAULTFD_PATH, e);
		is_int(got[4], 0, "%s: a prefault maps the memory for the device", e);
		is_int(got[5], 0, "%s: munmap() withdraws the page from the device (tracking works)", e);
		ok(WIFEXITED(status) && WEXITSTATUS(status) == 0, "%s: the child ran to its end (status 0x%x)", e,
		   status);
		return;
	}
	is_int(got[0], -err, "userfaultfd(2) refused (%s) and " KABI_USERFAULTFD_PATH " too: strict is refused "
	       "with the system call's errno, as before", e);
	is_int(got[1], 0, "%s, device refused: a default address space is created", e);
	is_int(got[2], -err, "%s, device refused: untracked, and sva_mm_stats gives the system call's errno", e);
	ok(got[3], "%s, device refused: a debug line says " KABI_USERFAULTFD_PATH " was refused too", e);
}

static void procmap_refused(struct sva_ctx *ctx, int err, const char *who)
{
	struct sva_mm_stats st = { .size = sizeof(st) };
	struct sva_bond *b;
	struct sva_mm *mm;
	unsigned char *a = ktest_map_at(VA, 16 * PG, PROT_READ | PROT_WRITE);

	memset(a, 0x5a, 16 * PG);
	if (sva_mm_new(ctx, NULL, &mm))
		ktest_bail("sva_mm_new failed");
	b = pinned_bond(mm);
	g_procmap_errno = err;
	is_int(sva_mm_prefault(mm, a, 4 * PG), 0, "PROCMAP_QUERY refused with %s (%s): prefault reads the maps file",
	       strerror(err), who);
	ok(ktest_device_has_page(ctx, mm, VA), "%s: the IOAS maps the page", strerror(err));
	is_int(sva_mm_prefault(mm, (void *)(uintptr_t)(VA - 4 * PG), 8 * PG), -EFAULT,
	       "%s: a range over a hole is still -EFAULT", strerror(err));
	/* Tracking still follows the memory registered without the ioctl. */
	munmap(a + 2 * PG, PG);
	is_int(sva_mm_fence(mm), 0, "%s: fence", strerror(err));
	ok(!ktest_device_has_page(ctx, mm, VA + 2 * PG), "%s: an unmapped page is withdrawn", strerror(err));
	sva_mm_stats(mm, &st);
	is_int(st.untracked_ranges, 0, "%s: nothing was mapped untracked", strerror(err));
	g_procmap_errno = 0;
	sva_unbind(b);
	sva_mm_free(mm);
	munmap(a, 16 * PG);
}

static char g_last_error[512];

static void keep_error(void *arg, enum sva_log_level level, const char *msg)
{
	(void)arg;
	if (level == SVA_LOG_ERROR)
		snprintf(g_last_error, sizeof(g_last_error), "%s", msg);
}

static void fault_hwpt_refused(void)
{
	struct sva_ctx_opts o = { .size = sizeof(o), .pasid_grace_ns = UINT64_MAX, .log_fn = keep_error };
	struct sva_mm_opts uo = { .size = sizeof(uo), .flags = SVA_MM_UNTRACKED };
	struct sva_bind_opts pinned = { .size = sizeof(pinned), .flags = SVA_BIND_PINNED };
	struct sva_ctx *c;
	struct sva_dev *d;
	struct sva_mm *mm;
	struct sva_bond *b;

	if (sva_ctx_new(&o, &c) || sva_dev_open_mock(c, NULL, &d) || sva_mm_new(c, &uo, &mm))
		ktest_bail("fault_hwpt_refused: setup");
	g_no_fault_hwpt = true;
	g_last_error[0] = '\0';
	is_int(sva_bind(d, mm, NULL, &b), -EOPNOTSUPP, "a fault-capable HWPT refused (EOPNOTSUPP): the bind fails so");
	ok(strstr(g_last_error, "SVA_BIND_PINNED") != NULL, "and its line says to bind pinned (%s)", g_last_error);
	if (is_int(sva_bind(d, mm, &pinned, &b), 0, "a pinned bind still works"))
		sva_unbind(b);
	g_no_fault_hwpt = false;
	sva_mm_free(mm);
	sva_dev_close(d);
	sva_ctx_free(c);
}

/* In a child whose seccomp filter refuses the NUMA policy calls with EPERM. */
static void numa_refused(void)
{
	int pfd[2], status = 0, got[2] = { 1, 1 };
	pid_t pid;

	if (strcmp(ktest_topology(), "vtd48-numa") != 0) {
		skip(2, "mbind refused: needs edu on node 1 (vtd48-numa)");
		return;
	}
	if (pipe(pfd))
		ktest_bail("pipe");
	pid = fork();
	if (pid == 0) {
		struct sock_filter f[] = {
			BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
			BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_mbind, 3, 0),
			BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_get_mempolicy, 2, 0),
			BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_set_mempolicy, 1, 0),
			BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
			BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | EPERM),
		};
		struct sock_fprog prog = { .len = sizeof(f) / sizeof(f[0]), .filter = f };
		struct sva_ctx *c;
		struct sva_dev *d;
		void *p;

		alarm(20);
		if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) || prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog))
			_exit(2);
		if (sva_ctx_new(NULL, &c) || sva_dev_open(c, "vfio0", &d))
			_exit(3);
		{
			struct sva_mem_opts o = { .size = sizeof(o), .dev = d };

			got[0] = sva_mem_alloc(64 * 1024, &o, &p);
			if (!got[0])
				sva_mem_free(NULL, p, 64 * 1024);
		}
		{
			struct sva_mem_opts o = { .size = sizeof(o), .flags = SVA_MEM_NODE, .numa_node = 1 };

			got[1] = sva_mem_alloc(64 * 1024, &o, &p);
			if (!got[1])
				sva_mem_free(NULL, p, 64 * 1024);
		}
		if (write(pfd[1], got, sizeof(got)) != sizeof(got))
			_exit(4);
		sva_dev_close(d);
		sva_ctx_free(c);
		_exit(0);
	}
	close(pfd[1]);
	if (read(pfd[0], got, sizeof(got)) != sizeof(got))
		got[0] = got[1] = 1;
	close(pfd[0]);
	waitpid(pid, &status, 0);
	if (WIFEXITED(status) && WEXITSTATUS(status) == 2) {
		skip(2, "seccomp filters are not available in this kernel");
		return;
	}
	is_int(got[0], 0, "mbind refused (seccomp, EPERM): the device's node is a preference, the memory is unplaced");
	is_int(got[1], -EPERM, "mbind refused: a node SVA_MEM_NODE names still fails (-EPERM)");
}

int main(void)
{
	struct sva_ctx *ctx;

	ktest_require_iommufd();
	ctx = ktest_ctx();
	ktest_skip_without_mock(sva_dev_open_mock(ctx, NULL, &g_dev));
	if (!g_dev)
		ktest_bail("sva_dev_open_mock failed");
	no_uffd_wp(ctx);
	uffd_api_refused(ctx);
	uffd_syscall_refused(EPERM, false);
	uffd_syscall_refused(ENOSYS, false);
	uffd_syscall_refused(EPERM, true);
	uffd_syscall_refused(ENOSYS, true);
	procmap_refused(ctx, ENOTTY, "a kernel before 6.11");
	procmap_refused(ctx, EACCES, "an SELinux ioctl allowlist");
	procmap_refused(ctx, EPERM, "a seccomp filter");
	procmap_refused(ctx, ENOSYS, "a seccomp filter");
	numa_refused();
	fault_hwpt_refused();
	sva_dev_close(g_dev);
	sva_ctx_free(ctx);
	return done_testing();
}
