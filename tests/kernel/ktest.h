/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Helpers shared by the kernel-tier tests (run in the QEMU VM, or on a host with /dev/iommu). */
#ifndef SVA_TESTS_KTEST_H
#define SVA_TESTS_KTEST_H

/* Which sanitizer the test is built with (gcc says so one way, clang another). */
#if defined(__SANITIZE_ADDRESS__)
#define KTEST_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define KTEST_ASAN 1
#endif
#endif
#if defined(__SANITIZE_THREAD__)
#define KTEST_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define KTEST_TSAN 1
#endif
#endif

#include <dirent.h>
#include <stdarg.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"
#include "kabi_selftest.h"
#include "../tap.h"
#include "ktest_proc.h"
#include "edu_find.h"

/* Stop the test program: something it needs is missing. */
__attribute__((format(printf, 1, 2), noreturn)) static inline void ktest_bail(const char *fmt, ...)
{
	va_list ap;

	printf("Bail out! ");
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	exit(1);
}

/* The VM topology the test runs on ("mock", "vtd39", "vtd48-numa"), or "" on a host. */
static inline const char *ktest_topology(void)
{
	const char *t = getenv("SVA_TOPOLOGY");

	return t ? t : "";
}

/* Skip the whole test unless /dev/iommu is usable; in the VM its absence is a failure. */
static inline void ktest_require_iommufd(void)
{
	if (access("/dev/iommu", R_OK | W_OK) == 0)
		return;
	if (getenv("SVA_VM")) {
		printf("not ok 1 - /dev/iommu is usable inside the test VM (%s)\n1..1\n", strerror(errno));
		exit(1);
	}
	skip_all("no usable /dev/iommu on this host (run make check-vm for the kernel tier)");
}

/*
 * After sva_dev_open_mock() returned ret: skip the whole test when the kernel
 * has no selftest mock (CONFIG_IOMMUFD_TEST), except in the VM, whose kernel
 * must have it.  Any other result is the caller's to check.
 */
/*
 * Point the context's fault engine at fd, a file of records standing in for
 * the queue (white-box tests), and take that file for the queue's: libsva
 * compares the number's file with the queue's on its rare read paths, and
 * would take a stand-in for a number the application reused.  The real
 * queue's descriptor is given back the same way.
 */
static inline void ktest_queue_use(struct sva_ctx *ctx, int fd)
{
	int ret = sva_file_id_of(fd, &ctx->fe.queue_file);

	if (ret)
		ktest_bail("fstat of the stand-in queue: %s", strerror(-ret));
	ctx->fe.fault_fd = fd;
}

static inline void ktest_skip_without_mock(int ret)
{
	if (ret == -EOPNOTSUPP && !getenv("SVA_VM"))
		skip_all("the kernel has no CONFIG_IOMMUFD_TEST (run make check-vm)");
}

/* A long grace, so quarantine checks do not race a slow (TCG) clock. */
static inline struct sva_ctx *ktest_ctx(void)
{
	struct sva_ctx_opts o = { .size = sizeof(o), .pasid_grace_ns = UINT64_MAX };
	struct sva_ctx *ctx = NULL;
	int ret = sva_ctx_new(&o, &ctx);

	if (ret)
		ktest_bail("sva_ctx_new: %s", strerror(-ret));
	return ctx;
}

/* An IOMMU_TEST_CMD on the context's iommufd; returns 0 or -errno. */
static inline int ktest_cmd(struct sva_ctx *ctx, struct kabi_iommu_test_cmd *cmd)
{
	cmd->size = sizeof(*cmd);
	return ioctl(sva_ctx_fd(ctx), KABI_IOMMU_TEST_CMD, cmd) ? -errno : 0;
}

/*
 * Does every HWPT of mm map the page at `page` to the page the process has
 * there now?  Linux 7.3's one-page access path (iopt_pages_rw_page()) pins
 * the process's current page at the VA, not the page the IOAS pinned, so a
 * stale mapping would read as the new memory; the mock's page table is asked
 * instead (MD_CHECK_MAP).  A VA with nothing mapped is never the device's page.
 */
static inline bool ktest_device_has_page(struct sva_ctx *ctx, struct sva_mm *mm, uint64_t page)
{
	for (struct sva_hwpt *h = mm->hwpts; h; h = h->next) {
		struct kabi_iommu_test_cmd c = { .op = KABI_TEST_OP_MD_CHECK_MAP, .id = h->id };

		c.check_map.iova = page;
		c.check_map.length = 4096;
		c.check_map.uptr = page;
		if (ktest_cmd(ctx, &c))
			return false;
	}
	return true;
}

/* Monotonic time in nanoseconds. */
static inline uint64_t ktest_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/*
 * Poll while cond holds, every millisecond, for up to ms milliseconds by the
 * clock: what a test waits for comes from another thread or process, which a
 * loaded host (sanitizers under emulation) may hold up far longer than usual,
 * so the bound is time, never a count of polls.  Read cond again after it.
 */
#define KTEST_WAIT_WHILE(cond, ms)                                                                            \
	for (uint64_t ktest_end_ = ktest_now_ns() + (uint64_t)(ms) * 1000000u; (cond) && ktest_now_ns() < ktest_end_;) \
	usleep(1000)

/*
 * A software "device" reading (or writing) an IOAS through the selftest access
 * path (SLOW_PATH).  0 or -errno (-ENOENT: not mapped).  Not exactly what a
 * device sees: on Linux 7.3 an access within one page pins and reads the
 * process's current page at the VA, not the page the IOAS pinned
 * (iopt_pages_rw_page()); a multi-page access reads the pinned pages.  To see
 * what the IOAS maps, check the mock's page table (MD_CHECK_MAP) instead.
 */
static inline int ktest_access_rw(struct sva_ctx *ctx, uint32_t ioas, uint64_t iova, void *buf, size_t len, int write)
{
	struct kabi_iommu_test_cmd create = { .op = KABI_TEST_OP_CREATE_ACCESS, .id = ioas };
	struct kabi_iommu_test_cmd rw = { .op = KABI_TEST_OP_ACCESS_RW };
	int ret = ktest_cmd(ctx, &create);

	if (ret)
		return ret;
	rw.id = create.create_access.out_access_fd;
	rw.access_rw.iova = iova;
	rw.access_rw.length = len;
	rw.access_rw.uptr = (uintptr_t)buf;
	rw.access_rw.flags = KABI_MOCK_ACCESS_RW_SLOW_PATH | (write ? KABI_MOCK_ACCESS_RW_WRITE : 0);
	ret = ktest_cmd(ctx, &rw);
	close((int)create.create_access.out_access_fd);
	return ret;
}

/* Does the kernel hold `hwpt` (0: nothing) on PASID `pasid` of the mock? */
static inline int ktest_pasid_check(struct sva_dev *dev, uint32_t pasid, uint32_t hwpt)
{
	struct kabi_iommu_test_cmd cmd = {
		.op = KABI_TEST_OP_PASID_CHECK_HWPT,
		.id = dev->stdev_id,
		.pasid_check = { .pasid = pasid, .hwpt_id = hwpt },
	};

	return ktest_cmd(dev->ctx, &cmd);
}

/*
 * Inject a fault on the bond's PASID (or RID) of a mock device and wait until
 * libsva has handled it, up to timeout_ms: 0, or -ETIMEDOUT if it never
 * arrived (nothing fault-capable attached there: the kernel drops it).  The
 * pattern of sva_dev_inject_fault(3), EXAMPLES, word for word but for the
 * poll-mode flag, which a driver's test knows and this reads from the context.
 */
static inline int ktest_inject_and_wait(struct sva_dev *dev, struct sva_bond *bond, uint64_t addr, uint32_t perm,
					int timeout_ms)
{
	struct sva_bond_stats st = { .size = sizeof(st) };
	uint32_t pasid = sva_bond_pasid(bond);
	uint64_t before;
	int ret;

	sva_bond_stats(bond, &st);
	before = st.faults;
	ret = sva_dev_inject_fault(dev, pasid == SVA_PASID_RID ? 0 : pasid, addr, perm, 0);
	if (ret)
		return ret;
	for (int ms = 0; ms < timeout_ms; ms++) {
		if (dev->ctx->fe.poll_mode)
			sva_ctx_process_faults(dev->ctx, 64);
		sva_bond_stats(bond, &st);
		if (st.faults > before)
			return 0; /* st.invalid and the fault_error report are final */
		usleep(1000);
	}
	return -ETIMEDOUT;
}

/*
 * Wait up to timeout_ms for child pid to end by itself: 0 (its status in
 * *status), or -ETIMEDOUT after killing and reaping it (*status is then the
 * SIGKILL's).
 */
static inline int ktest_wait_child(pid_t pid, int timeout_ms, int *status)
{
	for (int ms = 0; ms < timeout_ms; ms++) {
		if (waitpid(pid, status, WNOHANG) == pid)
			return 0;
		usleep(1000);
	}
	kill(pid, SIGKILL);
	waitpid(pid, status, 0);
	return -ETIMEDOUT;
}

/*
 * The highest descriptor number of this process's anonymous-inode file of
 * this kind ("anon_inode:[eventfd]", as /proc/self/fd names it), or -1: the
 * newest one, when the test has replaced older numbers.
 */
static inline int ktest_anon_fd(const char *kind)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	int found = -1;

	while (d && (e = readdir(d))) {
		char link[64];
		ssize_t n = readlinkat(dirfd(d), e->d_name, link, sizeof(link) - 1);

		if (n > 0 && (link[n] = '\0', strcmp(link, kind) == 0) && atoi(e->d_name) > found)
			found = atoi(e->d_name);
	}
	if (d)
		closedir(d);
	return found;
}

/*
 * A log callback that keeps the last line libsva gave which passes a filter:
 * pass ktest_keep_line as log_fn and a struct ktest_line as log_arg.  `match`
 * NULL takes every line; `level` < 0 every level.  Called from libsva's
 * threads too: a test reads `text` only once the call that logs has returned.
 */
struct ktest_line {
	const char *match;
	int level;
	char text[1024];
};

static inline void ktest_keep_line(void *arg, enum sva_log_level level, const char *msg)
{
	struct ktest_line *k = arg;

	if ((k->level < 0 || (int)level == k->level) && (!k->match || strstr(msg, k->match)))
		snprintf(k->text, sizeof(k->text), "%s", msg);
}

/* Run a shell command, its standard output into out (NUL-terminated, cut
 * to len - 1 bytes): its exit status, or -1 (not run, or killed). */
static inline int ktest_run_capture(const char *cmd, char *out, size_t len)
{
	size_t n = 0;
	FILE *p = popen(cmd, "r");
	int c;

	if (!p)
		return -1;
	while ((c = fgetc(p)) != EOF)
		if (n + 1 < len)
			out[n++] = (char)c;
	out[n] = '\0';
	c = pclose(p);
	return WIFEXITED(c) ? WEXITSTATUS(c) : -1;
}

/* Map `len` bytes at exactly `addr` (low, device-reachable VAs), or bail out. */
static inline void *ktest_map_at(uint64_t addr, size_t len, int prot)
{
	void *p = mmap((void *)(uintptr_t)addr, len, prot, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);

	if (p == MAP_FAILED || p != (void *)(uintptr_t)addr)
		ktest_bail("mmap at 0x%llx: %s", (unsigned long long)addr, strerror(errno));
	return p;
}

/* The PCI address of the first device with this vendor:device, or "" if none:
 * edu_find.h's walk, so the black-box tests and these find devices alike. */
static inline int ktest_find_pci(unsigned vendor, unsigned device, char out[16])
{
	return edu_find_pci_id(vendor, device, out, 16, NULL, 0);
}

#endif
