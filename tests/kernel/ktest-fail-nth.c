/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Fault injection through libsva (issue 12), the way the kernel's own
 * iommufd_fail_nth selftest does it, one public call at a time.  A scenario is
 * a list of steps (context, mock device, address space, binds in both modes,
 * prefault, fault resolution, invalidate, unbinds, frees in both orders); for
 * step k and n = 1, 2, ... the steps before k run clean, the n-th injection
 * point inside step k fails, the rest runs clean, until step k meets no
 * injection.  Two injectors:
 *  - the kernel's: /proc/thread-self/fail-nth (every slab or page allocation
 *    and iommufd fail point of this thread); the context runs in poll mode so
 *    that fault resolution happens on this thread too;
 *  - the library's own: every allocation from its arena (objects, buffers,
 *    thread stacks), mmap, eventfd, pthread_create and io_uring setup inside
 *    libsva (test_fail.h), on any thread, fault thread included.
 * At every n: the call returns 0 or an errno its man page documents; what
 * libsva says is visible is what the kernel has mapped (nothing half mapped
 * after a failed prefault or fault); no file descriptor leaks; nothing hangs
 * (alarm); a clean run right after succeeds; the VM runner fails the test on
 * any kernel WARNING.  Prints how many injection points each step has.
 */
#include <dirent.h>
#include <stdatomic.h>
#include <fcntl.h>
#include <sys/mount.h>
#include <sys/stat.h>

#include "ktest.h"

#define BUF 0x44000000ull  /* prefaulted for the pinned bond */
#define BUF2 0x44200000ull /* reached by a fault of the fault-capable bond */
#define LEN (64u << 10)
#define PG 4096u
#define MAX_N 2000

void sva_test_fail_nth(int n);	  /* test_fail.c, libsva-test only */
int sva_test_fail_nth_left(void); /* likewise */

/* Under AddressSanitizer its allocator's mmap() meets the injected failures
 * too: it must return NULL, as malloc() does, rather than abort. */
const char *__asan_default_options(void);
const char *__asan_default_options(void)
{
	return "allocator_may_return_null=1";
}

/* ------------------------------------------------------------ injectors */

struct injector {
	const char *name;
	bool kernel; /* the kernel's fail-nth: this thread only, its fail points' errnos */
	int (*arm)(int n);
	int (*left)(void); /* points still to pass: 0 once the failure happened */
	void (*disarm)(void);
};

/*
 * The kernel's injector is not built under AddressSanitizer: an injected
 * failure can land in its runtime's own munmap(), which it treats as fatal
 * (see main()).
 */
#if !defined(__SANITIZE_ADDRESS__)
static int fail_fd = -1;

static int kernel_arm(int n)
{
	char num[16];

	snprintf(num, sizeof(num), "%d", n);
	return pwrite(fail_fd, num, strlen(num), 0) < 0 ? -errno : 0;
}

static int kernel_left(void)
{
	char num[16];
	ssize_t r = pread(fail_fd, num, sizeof(num) - 1, 0);

	num[r > 0 ? r : 0] = '\0';
	return atoi(num);
}

static void kernel_disarm(void)
{
	if (pwrite(fail_fd, "0", 1, 0) < 0)
		ktest_bail("disarming fail-nth: %s", strerror(errno));
}
#endif

static int library_arm(int n)
{
	sva_test_fail_nth(n);
	return 0;
}

static void library_disarm(void)
{
	sva_test_fail_nth(0);
}

#if !defined(__SANITIZE_ADDRESS__)
static const struct injector kernel_injector = { "kernel fail-nth", true, kernel_arm, kernel_left,
						 kernel_disarm };
#endif
static const struct injector library_injector = { "libsva's own allocations", false, library_arm, sva_test_fail_nth_left,
						  library_disarm };

/* The armed injector, armed only around the call under test. */
static const struct injector *inj;
static int arm_n; /* 0: this run injects nothing */
static bool hit;  /* the armed point was reached */

static void arm(void)
{
	if (arm_n && inj->arm(arm_n))
		ktest_bail("arming %s: %s", inj->name, strerror(errno));
}

static void disarm(void)
{
	if (!arm_n)
		return;
	hit = inj->left() == 0;
	inj->disarm();
	arm_n = 0; /* later calls of this run are clean */
}

/* ------------------------------------------------------------- helpers */

#if !defined(__SANITIZE_ADDRESS__)
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
#endif

static int count_fds(void)
{
	return ktest_count_fds();
}

static int bad; /* calls that returned something their man page does not document, or did not log as it says */

/*
 * What the kernel's own fail points return besides -ENOMEM
 * (drivers/iommu/iommufd: an object lookup -ENOENT, main.c; -EINVAL,
 * io_pagetable.c; pinning -EFAULT, pages.c).  Calls whose man page says the
 * errors of an iommufd ioctl pass through may return them.
 */
static const int E_KERNEL[] = { ENOENT, EINVAL, EFAULT, 0 };

/* ret is 0, or one of the negative errnos in `allowed` (0-terminated), or
 * with `passes_kernel` one of the kernel's (under the kernel injector). */
static int check_ex(const char *call, int ret, const int *allowed, bool passes_kernel)
{
	if (ret == 0)
		return 0;
	for (const int *e = allowed; *e; e++)
		if (ret == -*e)
			return ret;
	for (const int *e = E_KERNEL; passes_kernel && inj && inj->kernel && *e; e++)
		if (ret == -*e)
			return ret;
	bad++;
	diag("%s returned %d (%s), which its man page does not document", call, ret,
	     ret < 0 && ret > -4096 ? strerror(-ret) : "not an errno");
	return ret;
}

static int check(const char *call, int ret, const int *allowed)
{
	return check_ex(call, ret, allowed, false);
}

/* ------------------------------------------------------------- the scenario */

struct run {
	struct sva_ctx *ctx;
	struct sva_dev *dev;
	struct sva_mm *mm;
	struct sva_bond *pinned, *faulting;
	bool poll; /* the context runs in poll mode (the kernel injector needs it) */
	void *buf, *buf2;
};

/* Pages of [va, va + len) the kernel has mapped in mm's IOAS, as a device sees them. */
static uint64_t kernel_visible(struct run *r, uint64_t va, size_t len)
{
	uint64_t n = 0;
	char b[8];

	for (uint64_t p = va; p < va + len; p += PG)
		n += ktest_access_rw(r->ctx, r->mm->ioas_id, p, b, sizeof(b), 0) == 0;
	return n * PG;
}

static uint64_t lib_visible(struct run *r)
{
	struct sva_mm_stats st = { .size = sizeof(st) };

	return sva_mm_stats(r->mm, &st) ? UINT64_MAX : st.bytes_visible;
}

static int consistent_failures; /* steps after which libsva and the kernel disagreed */

/* What libsva says is visible is what the kernel has mapped (both buffers are
 * the only memory this scenario ever shows a device). */
static void check_views(struct run *r, const char *after)
{
	uint64_t lib, kern;

	if (!r->mm)
		return;
	lib = lib_visible(r);
	kern = kernel_visible(r, BUF, LEN) + kernel_visible(r, BUF2, LEN);
	if (lib != kern) {
		consistent_failures++;
		diag("after %s: libsva counts %llu bytes visible, the kernel maps %llu", after,
		     (unsigned long long)lib, (unsigned long long)kern);
	}
}

static const int E_CTX[] = { ENOMEM, EMFILE, ENFILE, 0 };
static const int E_MOCK[] = { ENOMEM, 0 };
static const int E_MM[] = { ENOMEM, 0 };
static const int E_BIND[] = { ENOMEM, EMFILE, ENFILE, EAGAIN, 0 };
static const int E_PREFAULT[] = { ENOMEM, EFAULT, EPERM, 0 };
static const int E_PROCESS[] = { ENOMEM, 0 };
static const int E_UNBIND[] = { EIO, 0 };

/* Error-level lines of the contexts' logs (shown with SVA_FAILNTH_LOG set);
 * the fault thread logs too, so a call's own lines are counted per thread
 * (check_logged() reads this thread's). */
static _Thread_local int my_error_lines;

static void count_line(void *arg, enum sva_log_level level, const char *msg)
{
	(void)arg;
	if (level == SVA_LOG_ERROR)
		my_error_lines++;
	if (getenv("SVA_FAILNTH_LOG"))
		fprintf(stderr, "libsva: %s\n", msg);
}

/* A call whose page promises "one line at error level" on failure: exactly
 * one, not a line per layer the failure passed through. */
static int check_logged(const char *call, int ret, int lines_before)
{
	if (ret < 0 && my_error_lines != lines_before + 1) {
		bad++;
		diag("%s returned %d (%s) with %d lines at error level, not one", call, ret, strerror(-ret),
		     my_error_lines - lines_before);
	}
	return ret;
}

static int step_ctx(struct run *r)
{
	struct sva_ctx_opts co = { .size = sizeof(co),
				   .log_level = getenv("SVA_FAILNTH_LOG") ? SVA_LOG_DEBUG : SVA_LOG_ERROR,
				   .log_fn = count_line,
				   .pasid_grace_ns = UINT64_MAX,
				   .flags = r->poll ? SVA_CTX_FAULT_POLL : 0 };
	int lines = my_error_lines;

	arm();
	int ret = sva_ctx_new(&co, &r->ctx);
	disarm();
	check_logged("sva_ctx_new", ret, lines); /* sva_ctx_new(3): "one line at error level" */
	return check("sva_ctx_new", ret, E_CTX);
}

static int step_dev(struct run *r)
{
	int lines = my_error_lines;

	arm();
	int ret = sva_dev_open_mock(r->ctx, NULL, &r->dev);
	disarm();
	check_logged("sva_dev_open_mock", ret, lines); /* sva_dev_open_mock(3): "one line at error level" */
	return check_ex("sva_dev_open_mock", ret, E_MOCK, true); /* "errors of the iommufd requests" */
}

static int step_mm(struct run *r)
{
	int lines = my_error_lines;

	arm();
	int ret = sva_mm_new(r->ctx, NULL, &r->mm);
	disarm();
	check_logged("sva_mm_new", ret, lines); /* sva_mm_new(3): "one line at error level" */
	return check_ex("sva_mm_new", ret, E_MM, true); /* "errors of IOMMU_IOAS_ALLOC" */
}

static int step_bind_pinned(struct run *r)
{
	struct sva_bind_opts o = { .size = sizeof(o), .flags = SVA_BIND_PINNED };
	int lines = my_error_lines;

	arm();
	int ret = sva_bind(r->dev, r->mm, &o, &r->pinned);
	disarm();
	check_logged("sva_bind (pinned)", ret, lines); /* sva_bind(3): "one line at error level" */
	return check_ex("sva_bind (pinned)", ret, E_BIND, true); /* "of the HWPT allocation and attach" */
}

static int step_prefault(struct run *r)
{
	int lines = my_error_lines;

	arm();
	int ret = sva_mm_prefault(r->mm, r->buf, LEN);
	disarm();
	check_logged("sva_mm_prefault", ret, lines); /* sva_mm_prefault(3): "one line at error level" */
	ret = check_ex("sva_mm_prefault", ret, E_PREFAULT, true); /* "of IOMMU_IOAS_MAP passed through" */
	/* All or nothing: a failed prefault leaves nothing of the range mapped. */
	if (ret && kernel_visible(r, BUF, LEN)) {
		consistent_failures++;
		diag("a failed sva_mm_prefault left %llu bytes mapped",
		     (unsigned long long)kernel_visible(r, BUF, LEN));
	}
	return ret;
}

static int step_bind_faulting(struct run *r)
{
	struct sva_bind_opts o = { .size = sizeof(o), .flags = SVA_BIND_EXTRA_PASID };
	int lines = my_error_lines;

	arm();
	int ret = sva_bind(r->dev, r->mm, &o, &r->faulting);
	disarm();
	check_logged("sva_bind (fault-capable)", ret, lines);
	return check_ex("sva_bind (fault-capable)", ret, E_BIND, true);
}

/* A device fault on BUF2, resolved by libsva.  Poll mode: on this thread. */
static int step_fault(struct run *r)
{
	struct sva_bond_stats st = { .size = sizeof(st) }, st0 = { .size = sizeof(st0) };
	int ret;

	sva_bond_stats(r->faulting, &st0);
	ret = sva_dev_inject_fault(r->dev, sva_bond_pasid(r->faulting), BUF2 + PG, SVA_ACCESS_WRITE, 0);
	if (ret)
		return check("sva_dev_inject_fault", ret, E_MOCK);
	arm();
	if (r->poll) {
		int lines = my_error_lines;

		ret = sva_ctx_process_faults(r->ctx, 8);
		disarm();
		check_logged("sva_ctx_process_faults", ret, lines); /* its page: "one line at error level" */
		if (ret < 0)
			return check_ex("sva_ctx_process_faults", ret, E_PROCESS, true); /* "of reading the fault queue" */
		ret = 0;
	}
	/* Answered, resolved or INVALID, within 10 s (the fault thread, or the
	 * poll above plus a retry if the read itself failed). */
	for (int ms = 0; ms < 10000; ms++) {
		sva_bond_stats(r->faulting, &st);
		if (st.faults > st0.faults)
			break;
		if (r->poll)
			sva_ctx_process_faults(r->ctx, 8);
		usleep(1000);
	}
	disarm();
	if (st.faults == st0.faults) {
		bad++;
		diag("the injected fault was never answered");
		return -ETIMEDOUT;
	}
	/* A resolved fault shows the page to the device; an INVALID one nothing. */
	if ((st.invalid > st0.invalid) == (kernel_visible(r, BUF2 + PG, PG) != 0)) {
		consistent_failures++;
		diag("fault answered %s, but the page is %s", st.invalid > st0.invalid ? "INVALID" : "resolved",
		     kernel_visible(r, BUF2 + PG, PG) ? "mapped" : "not mapped");
	}
	return st.invalid > st0.invalid ? -EFAULT : 0;
}

static int step_invalidate(struct run *r)
{
	arm();
	long w = sva_mm_invalidate(r->mm, r->buf, LEN / 2);
	disarm();
	/* A kernel that refuses the unmap leaves the chunk visible (logged), and
	 * the views must still agree (check_views after each step). */
	return w < 0 ? check("sva_mm_invalidate", (int)w, (const int[]){ 0 }) : 0;
}

static int step_unbind_faulting(struct run *r)
{
	arm();
	int ret = sva_unbind(r->faulting);
	disarm();
	r->faulting = NULL; /* gone whatever the outcome */
	return check("sva_unbind (fault-capable)", ret, E_UNBIND);
}

static int step_unbind_pinned(struct run *r)
{
	arm();
	int ret = sva_unbind(r->pinned);
	disarm();
	r->pinned = NULL;
	return check("sva_unbind (pinned)", ret, E_UNBIND);
}

/* The frees return nothing: what they must do is leak nothing and hang on
 * nothing, which the fd count and the clean run after them show. */
static int step_free_ctx_last(struct run *r)
{
	arm();
	sva_mm_free(r->mm);
	sva_dev_close(r->dev);
	sva_ctx_free(r->ctx);
	disarm();
	r->mm = NULL;
	r->dev = NULL;
	r->ctx = NULL;
	return 0;
}

static int step_free_ctx_first(struct run *r)
{
	arm();
	sva_ctx_free(r->ctx);
	sva_mm_free(r->mm);
	sva_dev_close(r->dev);
	disarm();
	r->mm = NULL;
	r->dev = NULL;
	r->ctx = NULL;
	return 0;
}

struct step {
	const char *name;
	int (*fn)(struct run *r);
	bool other_thread; /* its work runs on the fault thread unless in poll mode */
};

static const struct step steps[] = {
	{ "sva_ctx_new", step_ctx, false },
	{ "sva_dev_open_mock", step_dev, false },
	{ "sva_mm_new", step_mm, false },
	{ "sva_bind (pinned)", step_bind_pinned, false },
	{ "sva_mm_prefault", step_prefault, false },
	{ "sva_bind (fault-capable)", step_bind_faulting, false },
	{ "fault resolution", step_fault, true },
	{ "sva_mm_invalidate", step_invalidate, false },
	{ "sva_unbind (fault-capable)", step_unbind_faulting, false },
	{ "sva_unbind (pinned)", step_unbind_pinned, false },
};
#define NSTEPS (sizeof(steps) / sizeof(steps[0]))

/* Release whatever a failed run left, cleanly (nothing armed). */
static void cleanup(struct run *r)
{
	if (r->faulting)
		sva_unbind(r->faulting);
	if (r->pinned)
		sva_unbind(r->pinned);
	sva_mm_free(r->mm);
	sva_dev_close(r->dev);
	sva_ctx_free(r->ctx);
	memset(r, 0, offsetof(struct run, poll));
}

/*
 * One run: every step, with the n-th point of step `inject` failing (n = 0:
 * none), then the frees (in the order `ctx_first` says; inject == NSTEPS
 * injects into them).  0 if every step succeeded.
 */
static int run_once(struct run *r, size_t inject, int n, bool ctx_first)
{
	int failed = 0;

	hit = false; /* set by disarm() in the step injected into */
	for (size_t k = 0; k < NSTEPS && !failed; k++) {
		arm_n = k == inject ? n : 0;
		failed = steps[k].fn(r) != 0;
		arm_n = 0;
		check_views(r, steps[k].name);
	}
	if (failed) {
		cleanup(r);
		return 1;
	}
	arm_n = inject == NSTEPS ? n : 0;
	(ctx_first ? step_free_ctx_first : step_free_ctx_last)(r);
	arm_n = 0;
	return 0;
}

/* Step `k` under every injection point: how many it has, or -errno. */
static int sweep(struct run *r, size_t k, bool ctx_first)
{
	int base = count_fds(), n;

	for (n = 1; n <= MAX_N; n++) {
		run_once(r, k, n, ctx_first);
		if (count_fds() != base) {
			diag("%s, point %d: %d file descriptors open, %d before", inj->name, n, count_fds(), base);
			return -EMFILE;
		}
		if (!hit)
			break; /* the n-th point was never reached: the step has n - 1 */
		/* Nothing left half done: the same scenario, uninjected, works. */
		if (run_once(r, NSTEPS + 1, 0, ctx_first) != 0) {
			diag("%s, point %d of step %zu: the clean run after it failed", inj->name, n, k);
			return -EIO;
		}
	}
	return n > MAX_N ? -E2BIG : n - 1;
}

static void sweep_all(struct run *r, const char *mode)
{
	int total = 0;

	for (int order = 0; order < 2; order++) {
		for (size_t k = 0; k <= NSTEPS; k++) {
			const char *name = k < NSTEPS ? steps[k].name : order ? "frees, context first" : "frees, context last";
			int points;

			if (order && k < NSTEPS)
				continue; /* the steps are the same in both orders */
			if (!r->poll && k < NSTEPS && steps[k].other_thread && inj->kernel)
				continue; /* the fault thread's allocations are not this thread's */
			points = sweep(r, k, order);
			if (points < 0) {
				ok(0, "%s, %s: %s: every point fails cleanly (%s)", inj->name, mode, name,
				   strerror(-points));
				continue;
			}
			diag("%s, %s: %s: %d injection points", inj->name, mode, name, points);
			total += points;
		}
	}
	ok(total > 0, "%s, %s: %d injection points, each failing cleanly and followed by a clean run", inj->name,
	   mode, total);
}

/*
 * The first tracked address space of a process starts its userfaultfd, its
 * eventfd and the monitor thread.  A failure at any injection point of that
 * sva_mm_new(), with SVA_MM_TRACK_STRICT (the call fails) or without (the
 * address space is made untracked), leaves no descriptor open (an eventfd
 * used to stay when the thread would not start), and the log line names what
 * could not be had and what to do.  Each point in a forked child, where
 * tracking starts afresh; run before the sweeps, so that no child inherits a
 * warning already given.
 */
static struct ktest_line tl_line = { .match = "coherence tracking", .level = -1 };

/* The child's exit code: 0 the point failed cleanly, 1 no point n (the call
 * succeeded), 2 a descriptor stayed, 3 an undocumented errno, 4 the line does
 * not say what and what to do, 5 setup. */
static int tracking_point(uint32_t flags, int n)
{
	struct sva_ctx_opts o = { .size = sizeof(o), .log_fn = ktest_keep_line, .log_arg = &tl_line, .log_level = SVA_LOG_WARN };
	struct sva_mm_opts mo = { .size = sizeof(mo), .flags = flags };
	struct sva_mm_stats st = { .size = sizeof(st) };
	struct sva_ctx *ctx;
	struct sva_mm *mm = NULL;
	int base, ret, reason = 0;
	bool reached;

	if (sva_ctx_new(&o, &ctx))
		return 5;
	base = count_fds();
	sva_test_fail_nth(n);
	ret = sva_mm_new(ctx, &mo, &mm);
	reached = sva_test_fail_nth_left() == 0;
	sva_test_fail_nth(0);
	if (!ret) {
		sva_mm_stats(mm, &st);
		reason = (st.flags & SVA_MM_STAT_TRACKED) ? 0 : st.untracked_reason;
		sva_mm_free(mm);
	} else {
		reason = ret;
	}
	if (!reached)
		return 1;
	if (ret && ret != -ENOMEM && ret != -EMFILE && ret != -EAGAIN)
		return 3;
	if ((ret || reason) && count_fds() != base) {
		printf("# point %d: %d descriptors, %d before\n", n, count_fds(), base);
		return 2;
	}
	if ((reason == -EAGAIN && !(strstr(tl_line.text, "(the monitor thread: ") && strstr(tl_line.text, "RLIMIT_NPROC"))) ||
	    (reason == -EMFILE && !(strstr(tl_line.text, "(an eventfd: ") && strstr(tl_line.text, "RLIMIT_NOFILE")))) {
		printf("# point %d, %d: the line was: %s\n", n, reason, tl_line.text);
		return 4;
	}
	sva_ctx_free(ctx);
	return 0;
}

static void tracking_start_fails_cleanly(void)
{
	for (int strict = 0; strict < 2; strict++) {
		int n, st = 0, code = 0;

		for (n = 1; n <= 200; n++) {
			pid_t pid = fork();

			if (pid == 0) {
				alarm(30);
				_exit(tracking_point(strict ? SVA_MM_TRACK_STRICT : 0, n));
			}
			waitpid(pid, &st, 0);
			code = WIFEXITED(st) ? WEXITSTATUS(st) : 100 + WTERMSIG(st);
			if (code)
				break;
		}
		ok(code == 1 && n > 3,
		   "the first tracked sva_mm_new%s under each of its %d library injection points: no descriptor "
		   "stays, a documented errno, the line says what failed and what to do (child %d)",
		   strict ? " with SVA_MM_TRACK_STRICT" : "", n - 1, code);
	}
}

int main(void)
{
	struct run r = { 0 };
	struct sva_ctx *ctx;
	struct sva_dev *dev;
	int ret;

	ktest_require_iommufd();
	ret = sva_ctx_new(NULL, &ctx);
	if (ret)
		ktest_bail("sva_ctx_new: %s", strerror(-ret));
	ret = sva_dev_open_mock(ctx, NULL, &dev);
	ktest_skip_without_mock(ret);
	if (!is_int(ret, 0, "sva_dev_open_mock"))
		return done_testing();
	sva_dev_close(dev);
	sva_ctx_free(ctx);
	alarm(1200);
	tracking_start_fails_cleanly();
	r.buf = ktest_map_at(BUF, LEN, PROT_READ | PROT_WRITE);
	r.buf2 = ktest_map_at(BUF2, LEN, PROT_READ | PROT_WRITE);
	memset(r.buf, 1, LEN);

	for (int poll = 1; poll >= 0; poll--) {
		r.poll = poll;
		is_int(run_once(&r, NSTEPS + 1, 0, false), 0, "a clean run of the scenario (%s)",
		       poll ? "poll mode" : "fault thread");
	}

	inj = &library_injector;
	r.poll = true;
	sweep_all(&r, "poll mode");
	r.poll = false;
	sweep_all(&r, "fault thread");

	/*
	 * An injected kernel failure can land in AddressSanitizer's own munmap()
	 * (its thread registry, at pthread_create), which it treats as fatal
	 * ("unable to unmap") whatever allocator_may_return_null says; the gcc,
	 * clang and ThreadSanitizer builds run the kernel sweep.
	 */
#if defined(__SANITIZE_ADDRESS__)
	diag("the kernel fail-nth sweep is skipped under AddressSanitizer: its runtime aborts when an injected "
	     "failure hits its own munmap");
#else
	fail_fd = open("/proc/thread-self/fail-nth", O_RDWR | O_CLOEXEC);
	if (fail_fd < 0 || !setup_injection()) {
		if (getenv("SVA_VM"))
			ktest_bail("no fault injection in the test kernel (fail-nth, debugfs failslab)");
		diag("no kernel fault injection here (CONFIG_FAULT_INJECTION_DEBUG_FS, FAILSLAB): kernel sweep "
		     "skipped");
	} else {
		inj = &kernel_injector;
		r.poll = true;
		sweep_all(&r, "poll mode");
		close(fail_fd);
	}
#endif
	is_int(bad, 0, "every failed call returned an errno its man page documents (and logged where its page says so)");
	is_int(consistent_failures, 0, "after every step, what libsva counts visible is what the kernel maps");
	is_int(run_once(&r, NSTEPS + 1, 0, false), 0, "a clean run after all of it succeeds");
	return done_testing();
}
