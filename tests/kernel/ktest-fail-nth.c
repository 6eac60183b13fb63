/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Kernel fault injection through libsva (issue 12), the way the kernel's own
 * iommufd_fail_nth selftest does it: /proc/thread-self/fail-nth set to 1, 2,
 * ... makes the n-th allocation (slab, page) or iommufd fail point of this
 * thread fail, until a run of the scenario meets no injection.  At every n:
 * each call returns 0 or a negative errno, nothing hangs (alarm), no file
 * descriptor leaks, a clean run right after it succeeds, and the VM runner fails the
 * test on any kernel WARNING.  Prints how many injection points it found.
 */
#include <dirent.h>
#include <fcntl.h>
#include <sys/mount.h>
#include <sys/stat.h>

#include "ktest.h"

#define BUF 0x44000000ull
#define LEN (64u << 10)
#define MAX_N 2000

/* Under AddressSanitizer its allocator's mmap() meets the injected failures
 * too: it must return NULL, as malloc() does, rather than abort. */
const char *__asan_default_options(void);
const char *__asan_default_options(void)
{
	return "allocator_may_return_null=1";
}

static int writeat(int dfd, const char *path, const char *val)
{
	int fd = openat(dfd, path, O_WRONLY | O_CLOEXEC), ret;

	if (fd < 0)
		return -errno;
	ret = write(fd, val, strlen(val)) == (ssize_t)strlen(val) ? 0 : -errno;
	close(fd);
	return ret;
}

/* Let every allocation of the thread be a fault-injection point. */
static bool setup_injection(void)
{
	DIR *d;
	struct dirent *de;

	mkdir("/sys/kernel/debug", 0755);
	mount("debugfs", "/sys/kernel/debug", "debugfs", 0, NULL); /* EBUSY: mounted already */
	d = opendir("/sys/kernel/debug");
	if (!d || writeat(dirfd(d), "failslab/ignore-gfp-wait", "N")) {
		if (d)
			closedir(d);
		return false;
	}
	writeat(dirfd(d), "fail_page_alloc/ignore-gfp-wait", "N");
	writeat(dirfd(d), "fail_page_alloc/ignore-gfp-highmem", "N");
	writeat(dirfd(d), "fail_page_alloc/min-order", "0");
	while ((de = readdir(d))) {
		char fn[300];

		if (strncmp(de->d_name, "fail", 4))
			continue;
		snprintf(fn, sizeof(fn), "%s/verbose", de->d_name);
		writeat(dirfd(d), fn, "0"); /* no stack dump per injection */
	}
	closedir(d);
	return true;
}

static int count_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	int n = 0;

	while (d && readdir(d))
		n++;
	if (d)
		closedir(d);
	return n;
}

static int bad; /* calls that returned something other than 0 or -errno */

static int check(int ret)
{
	if (ret > 0 || ret < -4095)
		bad++;
	return ret;
}

/* One scenario: context, mock device, address space, binds in both modes,
 * prefault, invalidate, unbind, frees.  0 if every call succeeded. */
static int scenario(void *buf, bool free_ctx_first)
{
	struct sva_ctx_opts co = { .size = sizeof(co), .log_level = SVA_LOG_OFF, .pasid_grace_ns = UINT64_MAX };
	struct sva_bind_opts pinned = { .size = sizeof(pinned), .flags = SVA_BIND_PINNED };
	struct sva_ctx *ctx = NULL;
	struct sva_dev *dev = NULL;
	struct sva_mm *mm = NULL;
	struct sva_bond *b1 = NULL, *b2 = NULL;
	int failed = 0;

	if (check(sva_ctx_new(&co, &ctx)))
		return 1;
	failed |= check(sva_dev_open_mock(ctx, NULL, &dev)) != 0;
	if (!failed)
		failed |= check(sva_mm_new(ctx, NULL, &mm)) != 0;
	if (!failed)
		failed |= check(sva_bind(dev, mm, &pinned, &b1)) != 0;
	if (!failed)
		failed |= check(sva_mm_prefault(mm, buf, LEN)) != 0;
	if (!failed)
		failed |= check(sva_bind(dev, mm, &(struct sva_bind_opts){ .size = sizeof(pinned),
									  .flags = SVA_BIND_EXTRA_PASID },
					 &b2)) != 0;
	if (!failed) {
		long w = sva_mm_invalidate(mm, buf, LEN / 2); /* bytes withdrawn, or -errno */

		failed |= check(w < 0 ? (int)w : 0) != 0;
	}
	if (b2)
		failed |= check(sva_unbind(b2)) != 0;
	if (b1)
		failed |= check(sva_unbind(b1)) != 0;
	if (free_ctx_first)
		sva_ctx_free(ctx);
	sva_mm_free(mm);
	sva_dev_close(dev);
	if (!free_ctx_first)
		sva_ctx_free(ctx);
	return failed;
}

static int run_nth(void *buf, bool order, int *points)
{
	int fd = open("/proc/thread-self/fail-nth", O_RDWR | O_CLOEXEC), base, n;
	char num[16];

	if (fd < 0)
		return -errno;
	base = count_fds();
	for (n = 1; n <= MAX_N; n++) {
		ssize_t r;

		snprintf(num, sizeof(num), "%d", n);
		if (pwrite(fd, num, strlen(num), 0) < 0)
			return -errno;
		scenario(buf, order);
		r = pread(fd, num, sizeof(num) - 1, 0);
		/* Disarm before anything else runs in this thread. */
		if (pwrite(fd, "0", 1, 0) < 0)
			return -errno;
		num[r > 0 ? r : 0] = '\0';
		if (count_fds() != base) {
			diag("fail-nth %d: %d file descriptors open, %d before", n, count_fds(), base);
			close(fd);
			return -EMFILE;
		}
		if (atoi(num) != 0)
			break; /* the n-th point was never reached: the scenario has n - 1 */
		/* Nothing left half done: the same scenario, uninjected, works. */
		if (scenario(buf, order) != 0) {
			diag("fail-nth %d: the clean run after it failed", n);
			close(fd);
			return -EIO;
		}
	}
	close(fd);
	*points = n - 1;
	return n > MAX_N ? -E2BIG : 0;
}

int main(void)
{
	struct sva_ctx *ctx;
	struct sva_dev *dev;
	void *buf;
	int ret, points = 0;

	ktest_require_iommufd();
#if defined(__SANITIZE_ADDRESS__)
	/*
	 * An injected failure can land in the sanitizer runtime's own munmap()
	 * (its thread registry, at pthread_create), which it treats as fatal
	 * ("unable to unmap"), whatever allocator_may_return_null says.  The
	 * gcc, clang and ThreadSanitizer builds run this test.
	 */
	skip_all("AddressSanitizer's runtime aborts when an injected kernel failure hits its own munmap");
#endif
	ret = sva_ctx_new(NULL, &ctx);
	if (ret)
		ktest_bail("sva_ctx_new: %s", strerror(-ret));
	ret = sva_dev_open_mock(ctx, NULL, &dev);
	ktest_skip_without_mock(ret);
	if (!is_int(ret, 0, "sva_dev_open_mock"))
		return done_testing();
	sva_dev_close(dev);
	sva_ctx_free(ctx);
	if (access("/proc/thread-self/fail-nth", W_OK) || !setup_injection()) {
		if (getenv("SVA_VM"))
			ktest_bail("no fault injection in the test kernel (fail-nth, debugfs failslab)");
		skip_all("no kernel fault injection here (CONFIG_FAULT_INJECTION_DEBUG_FS, FAILSLAB)");
	}
	alarm(600);
	buf = ktest_map_at(BUF, LEN, PROT_READ | PROT_WRITE);
	is_int(scenario(buf, false), 0, "a clean run of the scenario");
	for (int order = 0; order < 2; order++) {
		const char *what = order ? "context freed first" : "context freed last";

		ret = run_nth(buf, order, &points);
		is_int(ret, 0, "fail-nth over the scenario (%s): every injection point, no fd leaked, each "
		       "followed by a clean run", what);
		ok(points > 0, "it has %d injection points", points);
		diag("scenario (%s): %d kernel fault-injection points", what, points);
		is_int(scenario(buf, order), 0, "a clean run after them succeeds");
	}
	is_int(bad, 0, "every failed call returned a negative errno");
	return done_testing();
}
