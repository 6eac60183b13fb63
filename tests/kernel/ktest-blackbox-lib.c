/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * An outside tester's pass over libsva(7)'s general rules and the pages
 * sva_dev_open_fd(3), sva_dev_open_mock(3), sva_dev_fd(3),
 * sva_dev_iova_ranges(3), sva_ctx_fault_health(3), sva_bond_pasid(3),
 * sva_bond_drvdata(3), sva_bond_stats(3), sva_ctx_share_memfd(3) and
 * sva_ctx_unshare_memfd(3), written from the pages and sva.h alone, for the
 * promises the earlier contract programs leave out:
 *
 *  - Errors: a NULL object is logged at error level on the process-wide log
 *    (standard error) by every call that fails for it, the read-only ones
 *    included; the NULL answers of the property calls and the frees of NULL
 *    log nothing; the argument checks of read-only calls log nothing at all.
 *  - On failure, output arguments are left as they were.
 *  - Thread safety: sva_bond_stats() concurrently with the fault engine:
 *    counters only grow, and once the faults are handled every group and
 *    refusal is counted in faults too.
 *  - Callbacks: the bond's own PASID, drvdata and counters from inside its
 *    mm_exit and fault_error; sva_mm_free, sva_dev_close and sva_ctx_free
 *    inside mm_exit log an error and do nothing.
 *  - "Takes no lock and makes no system call" (sva_ctx_fault_health,
 *    sva_bond_stats, sva_bond_pasid, sva_bond_drvdata): under seccomp's
 *    strict mode, which kills on any other call than read, write and exit.
 *  - sva_bond_stats(3): a pinned bond's counters stay 0; pages visible
 *    already are not counted, and count for the bond that faulted them only;
 *    sva_bond_pasid(3): device-space PASIDs below the global range.
 *  - Options and information structures: the size rule for sva_bond_ops,
 *    sva_mem_opts, sva_pasid_space_opts and sva_ctx_opts, and the tail of
 *    every information structure zeroed.
 *  - Fork: a child's release of its parent's objects (sva_mm_free,
 *    sva_dev_close, sva_ctx_free) and its munmap(2) leave the parent's
 *    mappings, bond and fault thread as they were (the mock's page table
 *    read back with the selftest's MD_CHECK_MAP).
 *  - Callbacks: inside mm_exit, "every other call is allowed" (libsva(7),
 *    Calls inside callbacks): prefault, invalidate, fence, PASID allocation,
 *    lookups and statistics, on each teardown path (unbind, device close,
 *    address-space free, context free); each in a child with an alarm, so a
 *    hang is a failure rather than a stuck VM.
 *  - libsva(7), Thread safety: "A munmap(2) or madvise(2) of tracked memory
 *    waits for the monitor, which never waits for application code: it may
 *    come from any thread and any callback": a munmap of a visible page from
 *    inside fault_error, mm_exit and a log callback returns, and the device
 *    stops seeing the page.
 *  - With sva-brokerd(8) (/tests/sva-brokerd in the VM; skipped without it):
 *    an isolated client's sva_ctx_share_memfd of an O_PATH memfd (-EBADF,
 *    nothing shared) and of a hugetlbfs memfd (shared: "a file of shmem or
 *    hugetlbfs"), its unshare leaving the caller's mapping and descriptor
 *    alone; sva_dev_fd of a broker device with PASIDs (-ENODEV, not logged);
 *    sva_dev_open_mock and sva_dev_open_fd in a broker context
 *    (-EOPNOTSUPP, open_fd's before its fd is looked at).
 *  - On a real VFIO device (vtd39's edu): sva_dev_open_fd with the caller's
 *    descriptor closed right after the call, the duplicate's identity, and
 *    sva_dev_iova_ranges' -ENOSPC with more than one range.
 *
 * The mock part runs on every topology (a fraction of a second); the edu part
 * where an edu device is bound to vfio-pci.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/kcmp.h>
#include <linux/seccomp.h>
#include <signal.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <sva/sva.h>

#include "../tap.h"
#include "mock_sees.h"
#include "edu_find.h"

#define PG 4096ul
/* The mock's window is [16 MiB, 2 GiB): the test's buffers live there. */
#define BUF_AT 0x58000000ul
#define BUF_PAGES 128
#define HOLE_AT 0x5c000000ul

static atomic_int lines[8];

static void count(void *arg, enum sva_log_level level, const char *msg)
{
	(void)arg;
	(void)msg;
	if ((unsigned)level < 8)
		atomic_fetch_add(&lines[level], 1);
}

static int all_lines(void)
{
	int n = 0;

	for (int i = 0; i < 8; i++)
		n += atomic_load(&lines[i]);
	return n;
}

static void lines_reset(void)
{
	for (int i = 0; i < 8; i++)
		atomic_store(&lines[i], 0);
}

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void nap(void)
{
	nanosleep(&(struct timespec){ .tv_nsec = 1000000 }, NULL);
}

/* A counting context (its log at debug level) with a mock. */
static struct sva_ctx *new_ctx(void)
{
	struct sva_ctx_opts o = { .size = sizeof(o), .log_fn = count, .log_level = SVA_LOG_DEBUG };
	struct sva_ctx *c = NULL;

	if (sva_ctx_new(&o, &c))
		tap_bail("sva_ctx_new");
	return c;
}

static struct sva_dev *new_mock(struct sva_ctx *c)
{
	struct sva_dev *d = NULL;
	int ret = sva_dev_open_mock(c, NULL, &d);

	if (ret)
		tap_bail("sva_dev_open_mock: %s", strerror(-ret));
	return d;
}

static struct sva_mm *new_mm(struct sva_ctx *c)
{
	struct sva_mm *mm = NULL;

	if (sva_mm_new(c, NULL, &mm))
		tap_bail("sva_mm_new");
	return mm;
}

static struct sva_bond_stats bst(const struct sva_bond *b)
{
	struct sva_bond_stats s = { .size = sizeof(s) };

	if (sva_bond_stats(b, &s))
		memset(&s, 0xff, sizeof(s));
	return s;
}

/* ------------------------------------------------- libsva(7), Errors: the log */

/*
 * "A NULL object ... is always logged, at error level, on the process-wide log
 * ... by every call that fails for it, the calls that only read included";
 * "sva_dev_bond_lookup(3) ... logs nothing at all"; the frees of NULL and the
 * property calls' NULL answers: "neither logs"; "the argument checks of calls
 * that only read (such as sva_dev_get_info(3) and sva_dev_iova_ranges(3)) are
 * not logged"; sva_dev_fd(3): "the other error is not logged".  Run in a child
 * whose standard error is a memfd, so the process-wide log can be read back;
 * SVA_LOG is set to warn there before its first use.
 */
enum {
	/* one error line each, on standard error */
	PW_DEV_FD,
	PW_DEV_IOVA,
	PW_BOND_STATS,
	PW_HEALTH,
	PW_OPEN_MOCK,
	PW_OPEN_FD,
	PW_SHARE,
	PW_UNSHARE,
	PW_MEM_ALLOC,
	PW_MEM_FREE,
	PW_NLOGGED,
	/* one error line on the context's log, none on standard error */
	PW_BIND_NULL_DEV = PW_NLOGGED,
	PW_BIND_NULL_MM,
	/* silent: nothing on standard error nor on the context's log */
	PW_SILENT_NULLS,
	PW_SILENT_ARGS,
	PW_RETS,
	PW_N,
};

struct pw_result {
	int err_lines[PW_N];
	int other_lines[PW_N];
	int ctx_lines[PW_N];
	int rets_ok;
	int sweep_bad, sweep_first;
};

/* The public calls about an object not covered above, each given NULL for it. */
enum { NULL_SWEEP_N = 27 };
static const char *const null_names[NULL_SWEEP_N] = {
	"sva_ctx_fd",		  "sva_dev_get_info",	    "sva_dev_inject_fault", "sva_pasid_alloc",
	"sva_pasid_free",	  "sva_pasid_release",	    "sva_pasid_barrier",    "sva_pasid_lookup",
	"sva_pasid_stats",	  "sva_dev_set_pasid_range", "sva_dev_pasid_alloc", "sva_dev_pasid_free",
	"sva_dev_pasid_release", "sva_dev_pasid_lookup",   "sva_mm_new",	    "sva_mm_prefault",
	"sva_mm_allow",		  "sva_mm_deny",	    "sva_mm_invalidate",    "sva_mm_fence",
	"sva_mm_stats",		  "sva_mm_iova_ranges",	    "sva_unbind",	    "sva_ctx_fault_fd",
	"sva_ctx_process_faults", "sva_dev_open",	    "sva_dev_iova_ranges (NULL ranges too)",
};

static long null_call(int i)
{
	struct sva_dev_info di = { .size = sizeof(di) };
	struct sva_pasid_stats ps = { .size = sizeof(ps) };
	struct sva_mm_stats ms = { .size = sizeof(ms) };
	struct sva_iova_range rg[2];
	size_t nr = 2;
	uint32_t pasid = 0;
	void *dd = NULL;
	struct sva_mm *m = NULL;
	struct sva_dev *d = NULL;
	void *a = (void *)BUF_AT;

	switch (i) {
	case 0: return sva_ctx_fd(NULL);
	case 1: return sva_dev_get_info(NULL, &di);
	case 2: return sva_dev_inject_fault(NULL, 300, BUF_AT, SVA_ACCESS_READ, 0);
	case 3: return sva_pasid_alloc(NULL, NULL, &pasid);
	case 4: return sva_pasid_free(NULL, 300);
	case 5: return sva_pasid_release(NULL, 300);
	case 6: return sva_pasid_barrier(NULL);
	case 7: return sva_pasid_lookup(NULL, 300, &dd);
	case 8: return sva_pasid_stats(NULL, &ps);
	case 9: return sva_dev_set_pasid_range(NULL, 1, 10);
	case 10: return sva_dev_pasid_alloc(NULL, SVA_PASID_AUTO, NULL, &pasid);
	case 11: return sva_dev_pasid_free(NULL, 300);
	case 12: return sva_dev_pasid_release(NULL, 300);
	case 13: return sva_dev_pasid_lookup(NULL, 300, &dd);
	case 14: return sva_mm_new(NULL, NULL, &m);
	case 15: return sva_mm_prefault(NULL, a, PG);
	case 16: return sva_mm_allow(NULL, a, PG);
	case 17: return sva_mm_deny(NULL, a, PG);
	case 18: return sva_mm_invalidate(NULL, a, PG);
	case 19: return sva_mm_fence(NULL);
	case 20: return sva_mm_stats(NULL, &ms);
	case 21: return sva_mm_iova_ranges(NULL, rg, &nr);
	case 22: return sva_unbind(NULL);
	case 23: return sva_ctx_fault_fd(NULL);
	case 24: return sva_ctx_process_faults(NULL, 1);
	case 25: return sva_dev_open(NULL, "vfio0", &d);
	default: return sva_dev_iova_ranges(NULL, NULL, &nr);
	}
}

static int stderr_fd = -1;
static off_t stderr_pos;

/* Lines written to standard error since the last call: error-level and others. */
static void stderr_lines(int *err, int *other)
{
	char buf[8192];
	ssize_t n;
	int at_start = 1;

	*err = *other = 0;
	while ((n = pread(stderr_fd, buf, sizeof(buf), stderr_pos)) > 0) {
		for (ssize_t i = 0; i < n; i++) {
			if (at_start) {
				if (!strncmp(buf + i, "libsva error:", (size_t)(n - i) < 13 ? (size_t)(n - i) : 13))
					(*err)++;
				else
					(*other)++;
			}
			at_start = buf[i] == '\n';
		}
		stderr_pos += n;
	}
}

static void pw_mark(struct pw_result *r, int which)
{
	stderr_lines(&r->err_lines[which], &r->other_lines[which]);
	r->ctx_lines[which] = all_lines();
	lines_reset();
}

static void processwide_child(int out)
{
	struct pw_result r = { .sweep_first = -1 };
	struct sva_iova_range rg[4];
	struct sva_bond_stats st = { .size = sizeof(st) };
	struct sva_bond *b = NULL, *fb = (struct sva_bond *)1;
	struct sva_dev *d = (struct sva_dev *)1;
	void *dd = (void *)1;
	size_t nr = 4;
	int ok_rets = 1, x;

	stderr_fd = memfd_create("stderr", MFD_CLOEXEC);
	if (stderr_fd < 0 || dup2(stderr_fd, 2) != 2)
		_exit(90);
	setenv("SVA_LOG", "warn", 1);

	struct sva_ctx *c = new_ctx();
	struct sva_dev *dev = new_mock(c);
	struct sva_mm *mm = new_mm(c);

	if (sva_bind(dev, mm, NULL, &b))
		_exit(91);
	stderr_lines(&x, &x);
	lines_reset();

	ok_rets &= sva_dev_fd(NULL) == -EINVAL;
	pw_mark(&r, PW_DEV_FD);
	ok_rets &= sva_dev_iova_ranges(NULL, rg, &nr) == -EINVAL;
	pw_mark(&r, PW_DEV_IOVA);
	ok_rets &= sva_bond_stats(NULL, &st) == -EINVAL;
	pw_mark(&r, PW_BOND_STATS);
	ok_rets &= sva_ctx_fault_health(NULL) == -EINVAL;
	pw_mark(&r, PW_HEALTH);
	ok_rets &= sva_dev_open_mock(NULL, NULL, &d) == -EINVAL && d == (struct sva_dev *)1;
	pw_mark(&r, PW_OPEN_MOCK);
	ok_rets &= sva_dev_open_fd(NULL, 0, &d) == -EINVAL && d == (struct sva_dev *)1;
	pw_mark(&r, PW_OPEN_FD);
	ok_rets &= sva_ctx_share_memfd(NULL, -1, 0, (void *)BUF_AT, PG) == -EINVAL;
	pw_mark(&r, PW_SHARE);
	ok_rets &= sva_ctx_unshare_memfd(NULL, (void *)BUF_AT, PG) == -EINVAL;
	pw_mark(&r, PW_UNSHARE);
	{
		void *m = (void *)1;

		ok_rets &= sva_mem_alloc(0, NULL, &m) == -EINVAL && m == (void *)1;
		pw_mark(&r, PW_MEM_ALLOC);
		ok_rets &= sva_mem_free(NULL, (void *)(BUF_AT + 8), PG) == -EINVAL;
		pw_mark(&r, PW_MEM_FREE);
	}
	ok_rets &= sva_bind(NULL, mm, NULL, &fb) == -EINVAL && fb == (struct sva_bond *)1;
	pw_mark(&r, PW_BIND_NULL_DEV);
	ok_rets &= sva_bind(dev, NULL, NULL, &fb) == -EINVAL && fb == (struct sva_bond *)1;
	pw_mark(&r, PW_BIND_NULL_MM);

	ok_rets &= sva_bond_pasid(NULL) == SVA_PASID_RID;
	ok_rets &= sva_bond_drvdata(NULL) == NULL;
	ok_rets &= sva_ctx_global_pasids(NULL) == NULL;
	ok_rets &= sva_dev_pasids(NULL) == NULL;
	sva_mm_free(NULL);
	sva_dev_close(NULL);
	sva_ctx_free(NULL);
	sva_pasid_space_free(NULL);
	ok_rets &= sva_dev_bond_lookup(NULL, 300, &fb, &dd) < 0;
	ok_rets &= sva_dev_bond_lookup(dev, 77777, &fb, &dd) < 0;
	pw_mark(&r, PW_SILENT_NULLS);

	ok_rets &= sva_bond_stats(b, NULL) == -EINVAL;
	st.size = sizeof(st) - 1;
	ok_rets &= sva_bond_stats(b, &st) == -EINVAL;
	st.size = 0;
	ok_rets &= sva_bond_stats(b, &st) == -EINVAL;
	ok_rets &= sva_dev_iova_ranges(dev, rg, NULL) == -EINVAL;
	nr = 1;
	ok_rets &= sva_dev_iova_ranges(dev, NULL, &nr) == -EINVAL;
	nr = 0;
	x = sva_dev_iova_ranges(dev, NULL, &nr);
	ok_rets &= x == -ENOSPC || x == 0;
	ok_rets &= sva_dev_fd(dev) == -ENODEV;
	ok_rets &= sva_ctx_fault_health(c) == 0;
	pw_mark(&r, PW_SILENT_ARGS);

	/* Every other call about an object, given NULL for it: one line each. */
	for (int i = 0; i < NULL_SWEEP_N; i++) {
		int e, o;
		long ret = null_call(i);

		stderr_lines(&e, &o);
		if (ret >= 0 || e != 1 || o != 0 || all_lines() != 0) {
			r.sweep_bad++;
			if (r.sweep_first < 0)
				r.sweep_first = i;
		}
		lines_reset();
	}
	r.rets_ok = ok_rets;
	sva_unbind(b);
	sva_mm_free(mm);
	sva_dev_close(dev);
	sva_ctx_free(c);
	_exit(write(out, &r, sizeof(r)) == (ssize_t)sizeof(r) ? 0 : 92);
}

static void processwide_log(void)
{
	static const char *const logged[PW_NLOGGED] = {
		"sva_dev_fd(NULL)",	    "sva_dev_iova_ranges(NULL dev)", "sva_bond_stats(NULL bond)",
		"sva_ctx_fault_health(NULL)", "sva_dev_open_mock(NULL ctx)",	"sva_dev_open_fd(NULL ctx)",
		"sva_ctx_share_memfd(NULL)",  "sva_ctx_unshare_memfd(NULL)",
		"sva_mem_alloc(len 0) with neither mm nor dev", "sva_mem_free(NULL mm, an unaligned address)",
	};
	struct pw_result r;
	int p[2], st;
	pid_t pid;

	if (pipe(p))
		tap_bail("pipe");
	pid = fork();
	if (pid < 0)
		tap_bail("fork");
	if (pid == 0) {
		close(p[0]);
		processwide_child(p[1]);
	}
	close(p[1]);
	memset(&r, 0, sizeof(r));
	ssize_t got = read(p[0], &r, sizeof(r));
	close(p[0]);
	waitpid(pid, &st, 0);
	if (got != (ssize_t)sizeof(r) || !WIFEXITED(st) || WEXITSTATUS(st)) {
		ok(0, "process-wide log child (status %#x, %zd bytes)", st, got);
		return;
	}
	ok(r.rets_ok, "process-wide log child: every call returned what its page says");
	for (int i = 0; i < PW_NLOGGED; i++) {
		ok(r.err_lines[i] == 1 && r.other_lines[i] == 0,
		   "%s: one line at error level on the process-wide log (%d error, %d other)", logged[i], r.err_lines[i],
		   r.other_lines[i]);
		is_int(r.ctx_lines[i], 0, "  nothing on the context's log");
	}
	ok(r.sweep_bad == 0,
	   "every other call about an object, given NULL for it (%d calls): a negative errno and one error line on the "
	   "process-wide log each (%d wrong, first %s)",
	   NULL_SWEEP_N, r.sweep_bad, r.sweep_first >= 0 ? null_names[r.sweep_first] : "none");
	ok(r.err_lines[PW_BIND_NULL_DEV] + r.other_lines[PW_BIND_NULL_DEV] == 0 && r.ctx_lines[PW_BIND_NULL_DEV] == 1,
	   "sva_bind(NULL dev, mm): its line on the address space's context (%d), none on standard error (%d)",
	   r.ctx_lines[PW_BIND_NULL_DEV], r.err_lines[PW_BIND_NULL_DEV] + r.other_lines[PW_BIND_NULL_DEV]);
	ok(r.err_lines[PW_BIND_NULL_MM] + r.other_lines[PW_BIND_NULL_MM] == 0 && r.ctx_lines[PW_BIND_NULL_MM] == 1,
	   "sva_bind(dev, NULL mm): its line on the device's context (%d), none on standard error (%d)",
	   r.ctx_lines[PW_BIND_NULL_MM], r.err_lines[PW_BIND_NULL_MM] + r.other_lines[PW_BIND_NULL_MM]);
	ok(r.err_lines[PW_SILENT_NULLS] + r.other_lines[PW_SILENT_NULLS] + r.ctx_lines[PW_SILENT_NULLS] == 0,
	   "bond_pasid/bond_drvdata/global_pasids/dev_pasids(NULL), the frees of NULL, dev_bond_lookup: "
	   "log nothing (%d %d %d)",
	   r.err_lines[PW_SILENT_NULLS], r.other_lines[PW_SILENT_NULLS], r.ctx_lines[PW_SILENT_NULLS]);
	ok(r.err_lines[PW_SILENT_ARGS] + r.other_lines[PW_SILENT_ARGS] + r.ctx_lines[PW_SILENT_ARGS] == 0,
	   "argument checks of the read-only calls (bond_stats NULL stats or short size, dev_iova_ranges NULL nr or "
	   "ranges, its count query), dev_fd of a mock: log nothing anywhere (%d %d %d)",
	   r.err_lines[PW_SILENT_ARGS], r.other_lines[PW_SILENT_ARGS], r.ctx_lines[PW_SILENT_ARGS]);
}

/* ------------------------------------------- failures leave outputs as they were */

static void outputs_untouched(struct sva_ctx *c)
{
	struct sva_dev *dev = new_mock(c);
	struct sva_mm *mm = new_mm(c);
	struct sva_iova_range rg[2] = { { 11, 12 }, { 13, 14 } };
	struct sva_bond *b = NULL;
	size_t nr = 2;
	int ret;

	/* libsva(7): "on failure, its output arguments are left as they were" */
	ret = sva_dev_iova_ranges(dev, rg, &nr);
	is_int(ret, -ENOTCONN, "iova_ranges of an unbound mock: -ENOTCONN");
	ok(nr == 2 && rg[0].start == 11 && rg[0].last == 12 && rg[1].start == 13,
	   "  *nr and the array left as they were (nr %zu, %#llx)", nr, (unsigned long long)rg[0].start);
	nr = 1;
	is_int(sva_dev_iova_ranges(dev, NULL, &nr), -EINVAL, "iova_ranges: *nr 1 with NULL ranges: -EINVAL");
	is_int(nr, 1, "  *nr left as it was");

	if (sva_bind(dev, mm, NULL, &b))
		tap_bail("bind");
	{
		struct sva_bond_stats s;

		memset(&s, 0xa5, sizeof(s));
		s.size = sizeof(s) - 1;
		is_int(sva_bond_stats(b, &s), -EINVAL, "bond_stats: size one short: -EINVAL");
		ok(s.faults == 0xa5a5a5a5a5a5a5a5ull && s.pages_mapped == 0xa5a5a5a5a5a5a5a5ull &&
			   s.size == sizeof(s) - 1,
		   "  the structure left as it was");
	}
	/* sva_dev_open_fd(3): -ENOTTY for a character device that is not a VFIO
	 * cdev -- the context's own iommufd, say; the context is unchanged. */
	{
		struct sva_dev *d2 = (struct sva_dev *)6;
		struct sva_dev_info info = { .size = sizeof(info) };
		int cfd = sva_ctx_fd(c);

		is_int(sva_dev_open_fd(c, cfd, &d2), -ENOTTY, "sva_dev_open_fd of the context's iommufd: -ENOTTY");
		ok(d2 == (struct sva_dev *)6 && sva_ctx_fd(c) == cfd && fcntl(cfd, F_GETFD) >= 0 &&
			   sva_dev_get_info(dev, &info) == 0,
		   "  *out untouched, the context's iommufd open, its device unchanged");
	}
	/* -ECHILD in a forked child leaves *nr and the array too. */
	{
		pid_t pid = fork();
		int st;

		if (pid == 0) {
			struct sva_iova_range r2[1] = { { 5, 6 } };
			size_t n2 = 1;
			int before = atomic_load(&lines[SVA_LOG_ERROR]);
			int e = sva_dev_iova_ranges(dev, r2, &n2);

			_exit((e == -ECHILD ? 1 : 0) | (n2 == 1 && r2[0].start == 5 && r2[0].last == 6 ? 2 : 0) |
			      (atomic_load(&lines[SVA_LOG_ERROR]) == before + 1 ? 4 : 0));
		}
		waitpid(pid, &st, 0);
		is_int(WIFEXITED(st) ? WEXITSTATUS(st) : -1, 7,
		       "iova_ranges in a forked child: -ECHILD, logged at error level, *nr and the array left as they were");
	}
	sva_unbind(b);
	/* "reports the ranges ... through the address space its RID is attached
	 * to": with a RID bond on mm, those of mm. */
	{
		struct sva_bind_opts ro = { .size = sizeof(ro), .flags = SVA_BIND_RID };
		struct sva_iova_range dr[64], mr[64];
		size_t dn = 64, mn = 64;

		b = NULL;
		if (sva_bind(dev, mm, &ro, &b) == 0) {
			int e1 = sva_dev_iova_ranges(dev, dr, &dn), e2 = sva_mm_iova_ranges(mm, mr, &mn);

			ok(e1 == 0 && e2 == 0 && dn == mn && dn >= 1 && !memcmp(dr, mr, dn * sizeof(dr[0])),
			   "RID bond: sva_dev_iova_ranges are the address space's (%d %d, %zu %zu)", e1, e2, dn, mn);
			sva_unbind(b);
		} else {
			ok(0, "a RID bond on the mock");
		}
	}
	sva_mm_free(mm);
	sva_dev_close(dev);
}

/* ----------------------------------------- callbacks: the bond's own properties */

struct cb_state {
	struct sva_ctx *ctx;
	struct sva_dev *dev;
	struct sva_mm *mm;
	uint32_t want_pasid;
	/* fault_error */
	atomic_int fe_calls;
	int fe_stats_ret;
	uint32_t fe_pasid;
	void *fe_drv;
	int fe_reason;
	int fe_report_ok;
	char fe_thread[17];
	/* mm_exit */
	int ex_calls;
	int ex_stats_ret;
	uint64_t ex_faults, ex_invalid;
	uint32_t ex_pasid;
	void *ex_drv, *ex_arg;
	int ex_err_lines;
	int ex_other_refused;
};

static void cb_fault_error(struct sva_bond *bond, const struct sva_fault_report *rep, void *drvdata)
{
	struct cb_state *s = drvdata;
	struct sva_bond_stats st = { .size = sizeof(st) };

	s->fe_stats_ret = sva_bond_stats(bond, &st);
	s->fe_pasid = sva_bond_pasid(bond);
	s->fe_drv = sva_bond_drvdata(bond);
	s->fe_reason = rep->reason;
	/* libsva(7): "The fault_error callback runs in the fault thread" */
	prctl(PR_GET_NAME, s->fe_thread, 0, 0, 0);
	/* libsva(7): the report's size says how much there is; reserved is 0. */
	s->fe_report_ok = rep->size >= offsetof(struct sva_fault_report, reserved) + sizeof(rep->reserved) &&
			  rep->reserved == 0 && rep->dev == s->dev && rep->pasid == s->want_pasid &&
			  rep->addr == HOLE_AT && rep->access == SVA_ACCESS_READ;
	atomic_fetch_add(&s->fe_calls, 1);
}

static void cb_mm_exit(struct sva_bond *bond, void *drvdata)
{
	struct cb_state *s = drvdata;
	struct sva_bond_stats st = { .size = sizeof(st) };
	int before = atomic_load(&lines[SVA_LOG_ERROR]);

	s->ex_calls++;
	s->ex_arg = drvdata;
	s->ex_stats_ret = sva_bond_stats(bond, &st);
	s->ex_faults = st.faults;
	s->ex_invalid = st.invalid;
	s->ex_pasid = sva_bond_pasid(bond);
	s->ex_drv = sva_bond_drvdata(bond);
	/* libsva(7), Thread safety: "log an error and do nothing" */
	sva_mm_free(s->mm);
	sva_dev_close(s->dev);
	sva_ctx_free(s->ctx);
	s->ex_err_lines = atomic_load(&lines[SVA_LOG_ERROR]) - before;
}

static void callbacks(void)
{
	struct sva_ctx *c = new_ctx();
	struct cb_state s = { .ctx = c };
	struct sva_bond_ops ops = { .size = sizeof(ops), .mm_exit = cb_mm_exit, .fault_error = cb_fault_error };
	struct sva_bind_opts bo = { .size = sizeof(bo), .drvdata = &s, .ops = &ops };
	struct sva_bond *b = NULL;
	void *hole;
	int ret;

	s.dev = new_mock(c);
	s.mm = new_mm(c);
	if ((ret = sva_bind(s.dev, s.mm, &bo, &b)))
		tap_bail("bind with callbacks: %s", strerror(-ret));
	s.want_pasid = sva_bond_pasid(b);

	/* A reserved page with no access: a fault there is refused. */
	hole = mmap((void *)HOLE_AT, PG, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
	if (hole == MAP_FAILED)
		tap_bail("mmap of the hole");
	ret = sva_dev_inject_fault(s.dev, s.want_pasid, HOLE_AT, SVA_ACCESS_READ, 7);
	is_int(ret, 0, "callbacks: a fault injected where nothing may be read");
	for (uint64_t t0 = now_ms(); atomic_load(&s.fe_calls) == 0 && now_ms() - t0 < 10000;)
		nap();
	is_int(atomic_load(&s.fe_calls), 1, "  fault_error called once");
	is_int(s.fe_stats_ret, 0, "  inside fault_error, sva_bond_stats of its bond: 0");
	is_int(s.fe_pasid, s.want_pasid, "  inside fault_error, sva_bond_pasid: the bond's PASID");
	ok(s.fe_drv == &s, "  inside fault_error, sva_bond_drvdata: the bind's drvdata");
	ok(s.fe_reason < 0, "  the report's reason is a negative errno (%d)", s.fe_reason);
	ok(!strcmp(s.fe_thread, "sva-fault"), "  it ran in the fault thread (\"%s\")", s.fe_thread);
	ok(s.fe_report_ok, "  the report: its size covers reserved, reserved 0, the device, PASID, address and access");
	for (uint64_t t0 = now_ms(); bst(b).faults == 0 && now_ms() - t0 < 10000;)
		nap();
	{
		struct sva_bond_stats st = bst(b);

		ok(st.faults == 1 && st.groups == 1 && st.invalid == 1 && st.pages_mapped == 0,
		   "  then the counters: 1 fault, 1 group, 1 invalid, no page (%llu %llu %llu %llu)",
		   (unsigned long long)st.faults, (unsigned long long)st.groups, (unsigned long long)st.invalid,
		   (unsigned long long)st.pages_mapped);
	}

	lines_reset();
	is_int(sva_unbind(b), 0, "callbacks: sva_unbind");
	is_int(s.ex_calls, 1, "  mm_exit ran once");
	ok(s.ex_arg == &s, "  with the bind's drvdata");
	is_int(s.ex_stats_ret, 0, "  inside mm_exit, sva_bond_stats of its bond: 0");
	ok(s.ex_faults == 1 && s.ex_invalid == 1, "  with the bond's counters (%llu faults, %llu invalid)",
	   (unsigned long long)s.ex_faults, (unsigned long long)s.ex_invalid);
	is_int(s.ex_pasid, s.want_pasid, "  inside mm_exit, sva_bond_pasid: the bond's PASID");
	ok(s.ex_drv == &s, "  inside mm_exit, sva_bond_drvdata: the bind's drvdata");
	is_int(s.ex_err_lines, 3, "  sva_mm_free, sva_dev_close and sva_ctx_free inside it: one error line each");
	/* ... and did nothing: every object still works. */
	{
		struct sva_bond *b2 = NULL;
		struct sva_dev_info info = { .size = sizeof(info) };

		is_int(sva_dev_get_info(s.dev, &info), 0, "  the device is still open");
		ret = sva_bind(s.dev, s.mm, NULL, &b2);
		is_int(ret, 0, "  the address space and the context still bind");
		if (!ret)
			sva_unbind(b2);
	}
	munmap(hole, PG);
	sva_mm_free(s.mm);
	sva_dev_close(s.dev);
	sva_ctx_free(c);
}

/* ----------------------- sva_bond_stats(3) concurrently with the fault engine */

struct reader {
	const struct sva_bond *b;
	atomic_int stop;
	long reads, regress, errors, groups_behind;
};

static void *read_stats(void *arg)
{
	struct reader *r = arg;
	struct sva_bond_stats prev = { 0 };

	while (!atomic_load(&r->stop)) {
		struct sva_bond_stats s = { .size = sizeof(s) };

		if (sva_bond_stats(r->b, &s)) {
			r->errors++;
			continue;
		}
		if (s.faults < prev.faults || s.groups < prev.groups || s.invalid < prev.invalid ||
		    s.pages_mapped < prev.pages_mapped)
			r->regress++;
		/* "faults is read first: every fault it counts is counted in the
		 * others too" -- with one record a group, groups >= faults always. */
		if (s.groups < s.faults)
			r->groups_behind++;
		prev = s;
		r->reads++;
	}
	return NULL;
}

static void stats_concurrent(void)
{
	enum { N = 48 };
	struct sva_ctx *c = new_ctx();
	struct sva_dev *dev = new_mock(c);
	struct sva_mm *mm = new_mm(c);
	struct sva_bond *b = NULL;
	struct reader r = { 0 };
	pthread_t th;
	char *buf;
	int bad = 0;

	buf = mmap((void *)BUF_AT, BUF_PAGES * PG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE,
		   -1, 0);
	if (buf == MAP_FAILED)
		tap_bail("mmap in the mock's window");
	memset(buf, 3, BUF_PAGES * PG);
	if (sva_bind(dev, mm, NULL, &b))
		tap_bail("bind");
	r.b = b;
	if (pthread_create(&th, NULL, read_stats, &r))
		tap_bail("pthread_create");
	/* Every other page refused (beyond the mapping's end, on the hole page)
	 * and every other resolved, each its own group. */
	void *hole = mmap((void *)HOLE_AT, PG, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);

	if (hole == MAP_FAILED)
		tap_bail("mmap of the hole");
	for (unsigned i = 0; i < N; i++) {
		uint64_t addr = i % 2 ? HOLE_AT : (uint64_t)(uintptr_t)buf + (uint64_t)(i * 2 % BUF_PAGES) * PG;

		if (sva_dev_inject_fault(dev, sva_bond_pasid(b), addr, SVA_ACCESS_READ, i % 512))
			bad++;
	}
	is_int(bad, 0, "stats race: %d faults injected", N);
	for (uint64_t t0 = now_ms(); bst(b).faults < N && now_ms() - t0 < 10000;)
		nap();
	atomic_store(&r.stop, 1);
	pthread_join(th, NULL);
	{
		struct sva_bond_stats s = bst(b);

		is_int(s.faults, N, "  all handled: faults %d", N);
		is_int(s.groups, N, "  one group each");
		is_int(s.invalid, N / 2, "  half of them refused");
		ok(s.groups <= s.faults && s.invalid <= s.faults, "  once handled, groups and invalid never exceed faults");
		ok(s.pages_mapped >= 1, "  pages made visible (%llu)", (unsigned long long)s.pages_mapped);
	}
	ok(r.reads > 0 && r.errors == 0, "  a thread read the counters meanwhile (%ld reads, %ld errors)", r.reads, r.errors);
	is_int(r.regress, 0, "  the counters only grew between its reads");
	is_int(r.groups_behind, 0, "  no read counted a fault before its group (one record a group: groups >= faults)");
	sva_unbind(b);
	munmap(hole, PG);
	munmap(buf, BUF_PAGES * PG);
	sva_mm_free(mm);
	sva_dev_close(dev);
	sva_ctx_free(c);
}


/* ThreadSanitizer: a child forked from a process with more than one thread
 * (main()'s context keeps its fault thread) dies when it starts a thread of
 * its own ("starting new threads after multi-threaded fork is not
 * supported"), so the checks whose children make contexts are the other
 * tiers'. */
#if defined(__SANITIZE_THREAD__)
#define BL_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define BL_TSAN 1
#endif
#endif

static bool tsan_no_threaded_child(unsigned n)
{
#ifdef BL_TSAN
	skip(n, "ThreadSanitizer cannot run a child of a multi-threaded process that starts threads");
	return true;
#else
	(void)n;
	return false;
#endif
}

/* ------------------------------ "takes no lock and makes no system call" */

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define UNDER_SANITIZER 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer) || __has_feature(memory_sanitizer)
#define UNDER_SANITIZER 1
#endif
#endif

/*
 * sva_ctx_fault_health(3): "It takes no lock and issues no system call";
 * sva_bond_pasid(3): "both read what was fixed at the bind, take no lock and
 * make no system call"; sva_bond_stats(3): "the call takes no lock and makes
 * no system call".  A child in seccomp's strict mode is killed by any system
 * call but read, write and exit: it makes the calls and reports through a
 * pipe.  (A forked child: none of these pages refuses to answer there.)
 */
static void no_syscalls(void)
{
#ifdef UNDER_SANITIZER
	skip(1, "the sanitizers' runtime makes system calls of its own");
#else
	struct sva_ctx *c = new_ctx();
	struct sva_dev *dev = new_mock(c);
	struct sva_mm *mm = new_mm(c);
	struct sva_bond *b = NULL;
	int p[2], st;
	pid_t pid;
	char res[8] = { 0 };

	if (sva_bind(dev, mm, NULL, &b) || pipe(p))
		tap_bail("bind / pipe");
	pid = fork();
	if (pid == 0) {
		struct sva_bond_stats s = { .size = sizeof(s) };
		char r[8];

		close(p[0]);
		if (prctl(PR_SET_SECCOMP, SECCOMP_MODE_STRICT, 0, 0, 0))
			syscall(SYS_exit, 99);
		r[0] = sva_ctx_fault_health(c) == 0;
		r[1] = sva_bond_stats(b, &s) == 0 && s.faults == 0;
		s.size = 3;
		r[2] = sva_bond_stats(b, &s) == -EINVAL;
		r[3] = sva_bond_pasid(b) != SVA_PASID_RID;
		r[4] = sva_bond_drvdata(b) == NULL;
		r[5] = sva_bond_pasid(NULL) == SVA_PASID_RID && sva_bond_drvdata(NULL) == NULL;
		r[6] = 1;
		r[7] = 0;
		if (write(p[1], r, sizeof(r)) != (ssize_t)sizeof(r))
			syscall(SYS_exit, 98);
		syscall(SYS_exit, 0);
	}
	close(p[1]);
	ssize_t got = read(p[0], res, sizeof(res));

	close(p[0]);
	waitpid(pid, &st, 0);
	if (WIFEXITED(st) && WEXITSTATUS(st) == 99) {
		skip(1, "no seccomp strict mode here");
	} else {
		ok(WIFEXITED(st) && WEXITSTATUS(st) == 0 && got == 8 && res[6],
		   "no system call from fault_health, bond_stats (its refusal too), bond_pasid, bond_drvdata "
		   "(status %#x: %s)",
		   st, WIFSIGNALED(st) ? strsignal(WTERMSIG(st)) : "exited");
		ok(res[0] && res[1] && res[2] && res[3] && res[4] && res[5],
		   "  and each answered as its page says (%d%d%d%d%d%d)", res[0], res[1], res[2], res[3], res[4], res[5]);
	}
	sva_unbind(b);
	sva_mm_free(mm);
	sva_dev_close(dev);
	sva_ctx_free(c);
#endif
}

/* ------------------------------------------- sva_bond_stats(3), sva_bond_pasid(3) */

static void stats_pages_and_pinned(void)
{
	struct sva_ctx *c = new_ctx();
	struct sva_dev *d1 = new_mock(c), *d2 = new_mock(c);
	struct sva_mm *mm = new_mm(c);
	struct sva_bond *a = NULL, *b = NULL, *pin = NULL, *dv = NULL;
	char *buf;
	int ret;

	buf = mmap((void *)BUF_AT, BUF_PAGES * PG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE,
		   -1, 0);
	if (buf == MAP_FAILED)
		tap_bail("mmap in the mock's window");
	memset(buf, 5, BUF_PAGES * PG);
	if (sva_bind(d1, mm, NULL, &a) || sva_bind(d2, mm, NULL, &b))
		tap_bail("two binds of one address space");
	/* "memory one bond faults in is visible to every bond on it, and counts
	 * for the bond that faulted it only"; "Pages that were visible already are
	 * not counted". */
	ret = sva_dev_inject_fault(d1, sva_bond_pasid(a), (uintptr_t)buf + 64 * PG, SVA_ACCESS_READ | SVA_ACCESS_WRITE, 1);
	is_int(ret, 0, "pages_mapped: a write fault of bond A");
	for (uint64_t t0 = now_ms(); bst(a).faults < 1 && now_ms() - t0 < 10000;)
		nap();
	struct sva_bond_stats a1 = bst(a);

	ok(a1.faults == 1 && a1.invalid == 0 && a1.pages_mapped >= 1, "  resolved, %llu pages made visible",
	   (unsigned long long)a1.pages_mapped);
	ret = sva_dev_inject_fault(d2, sva_bond_pasid(b), (uintptr_t)buf + 64 * PG, SVA_ACCESS_READ | SVA_ACCESS_WRITE, 2);
	for (uint64_t t0 = now_ms(); bst(b).faults < 1 && now_ms() - t0 < 10000;)
		nap();
	struct sva_bond_stats b1 = bst(b), a2 = bst(a);

	ok(ret == 0 && b1.faults == 1 && b1.groups == 1 && b1.invalid == 0,
	   "  the same page faulted by bond B on another device: resolved (%d, %llu faults)", ret,
	   (unsigned long long)b1.faults);
	is_int(b1.pages_mapped, 0, "  B made nothing visible: the page was visible already");
	ok(a2.faults == 1 && a2.pages_mapped == a1.pages_mapped, "  A's counters did not move");
	ret = sva_dev_inject_fault(d1, sva_bond_pasid(a), (uintptr_t)buf + 64 * PG, SVA_ACCESS_READ, 3);
	for (uint64_t t0 = now_ms(); bst(a).faults < 2 && now_ms() - t0 < 10000;)
		nap();
	a2 = bst(a);
	ok(ret == 0 && a2.faults == 2 && a2.pages_mapped == a1.pages_mapped,
	   "  A faulting the page again: counted as a fault, no page (%llu)", (unsigned long long)a2.pages_mapped);
	sva_unbind(b);
	sva_unbind(a);

	/* "A pinned bond (SVA_BIND_PINNED) takes no faults: its counters stay 0." */
	{
		struct sva_bind_opts po = { .size = sizeof(po), .flags = SVA_BIND_PINNED };
		struct sva_bond_stats s;

		ret = sva_bind(d1, mm, &po, &pin);
		is_int(ret, 0, "a pinned PASID bond");
		if (!ret) {
			sva_dev_inject_fault(d1, sva_bond_pasid(pin), (uintptr_t)buf + 100 * PG, SVA_ACCESS_READ, 4);
			sva_dev_inject_fault(d1, sva_bond_pasid(pin), HOLE_AT, SVA_ACCESS_READ, 5);
			/* Nothing is to come; a fault-capable bond's injection after them
			 * is handled after them, so once it is counted these were seen. */
			struct sva_bond *fc = NULL;

			if (sva_bind(d2, mm, NULL, &fc) == 0) {
				sva_dev_inject_fault(d2, sva_bond_pasid(fc), (uintptr_t)buf + 101 * PG, SVA_ACCESS_READ, 6);
				for (uint64_t t0 = now_ms(); bst(fc).faults < 1 && now_ms() - t0 < 10000;)
					nap();
				sva_unbind(fc);
			}
			s = bst(pin);
			ok(s.faults == 0 && s.groups == 0 && s.invalid == 0 && s.pages_mapped == 0,
			   "  faults raised under its PASID: its counters stay 0 (%llu %llu %llu %llu)",
			   (unsigned long long)s.faults, (unsigned long long)s.groups, (unsigned long long)s.invalid,
			   (unsigned long long)s.pages_mapped);
			sva_unbind(pin);
		}
	}

	/* sva_bond_pasid(3): "A PASID below the context's global range (256 by
	 * default) is one of the device's own numbers"; a global one is in it. */
	{
		struct sva_bind_opts o = { .size = sizeof(o), .policy = SVA_PASID_DEVICE };
		struct sva_bond *g = NULL;
		uint32_t pd, pg;

		ret = sva_bind(d1, mm, &o, &dv);
		pd = ret ? 0 : sva_bond_pasid(dv);
		ok(ret == 0 && pd >= 1 && pd < SVA_GLOBAL_PASID_MIN_DEFAULT, "SVA_PASID_DEVICE bond: PASID %u, below 256",
		   pd);
		o.policy = SVA_PASID_GLOBAL;
		ret = sva_bind(d2, mm, &o, &g);
		pg = ret ? 0 : sva_bond_pasid(g);
		ok(ret == 0 && pg >= SVA_GLOBAL_PASID_MIN_DEFAULT && pg <= SVA_PASID_MAX,
		   "SVA_PASID_GLOBAL bond: PASID %u, in [256, 2^20-1]", pg);
		if (g)
			sva_unbind(g);
		if (dv)
			sva_unbind(dv);
	}
	munmap(buf, BUF_PAGES * PG);
	sva_mm_free(mm);
	sva_dev_close(d2);
	sva_dev_close(d1);
	sva_ctx_free(c);
}

/* ---------------------------- libsva(7), Options and information structures */

struct tail64 {
	char bytes[64];
};

static int open_fd_count(void)
{
	int n = 0;

	for (int fd = 0; fd < 1024; fd++)
		if (fcntl(fd, F_GETFD) >= 0)
			n++;
	return n;
}

static void opts_rule(struct sva_ctx *c)
{
	int fds = open_fd_count();
	struct sva_dev *dev = new_mock(c);
	struct sva_mm *mm = new_mm(c);
	struct sva_bond *b = (struct sva_bond *)2;

	/* struct sva_bond_ops: too small, larger with a non-zero tail: -EINVAL,
	 * nothing bound; larger with zeros: accepted. */
	{
		struct {
			struct sva_bond_ops ops;
			char tail[16];
		} big;
		struct sva_bind_opts o = { .size = sizeof(o), .ops = &big.ops };

		memset(&big, 0, sizeof(big));
		big.ops.size = sizeof(big.ops) - 1;
		is_int(sva_bind(dev, mm, &o, &b), -EINVAL, "sva_bond_ops: size one short: -EINVAL");
		big.ops.size = 0;
		is_int(sva_bind(dev, mm, &o, &b), -EINVAL, "sva_bond_ops: size 0: -EINVAL");
		big.ops.size = sizeof(big);
		big.tail[15] = 1;
		is_int(sva_bind(dev, mm, &o, &b), -EINVAL, "sva_bond_ops: larger, a non-zero byte beyond: -EINVAL");
		ok(b == (struct sva_bond *)2, "  *out untouched by each");
		big.tail[15] = 0;
		is_int(sva_bind(dev, mm, &o, &b), 0, "sva_bond_ops: larger, zeros beyond: accepted");
		if (b != (struct sva_bond *)2)
			sva_unbind(b);
	}
	/* struct sva_mem_opts */
	{
		struct {
			struct sva_mem_opts o;
			char tail[16];
		} big;
		void *m = (void *)3;

		memset(&big, 0, sizeof(big));
		big.o.size = sizeof(big.o) - 1;
		is_int(sva_mem_alloc(PG, &big.o, &m), -EINVAL, "sva_mem_opts: size one short: -EINVAL");
		big.o.size = sizeof(big);
		big.tail[0] = 1;
		is_int(sva_mem_alloc(PG, &big.o, &m), -EINVAL, "sva_mem_opts: larger, a non-zero byte beyond: -EINVAL");
		ok(m == (void *)3, "  *out untouched");
		big.tail[0] = 0;
		is_int(sva_mem_alloc(PG, &big.o, &m), 0, "sva_mem_opts: larger, zeros beyond: accepted");
		if (m != (void *)3)
			sva_mem_free(NULL, m, PG);
	}
	/* struct sva_pasid_space_opts */
	{
		struct {
			struct sva_pasid_space_opts o;
			char tail[16];
		} big;
		struct sva_pasid_space *sp = (struct sva_pasid_space *)4;

		memset(&big, 0, sizeof(big));
		big.o.size = sizeof(big.o) - 1;
		big.o.min = 1;
		big.o.max = 10;
		is_int(sva_pasid_space_new(&big.o, &sp), -EINVAL, "sva_pasid_space_opts: size one short: -EINVAL");
		big.o.size = sizeof(big);
		big.tail[7] = 1;
		is_int(sva_pasid_space_new(&big.o, &sp), -EINVAL,
		       "sva_pasid_space_opts: larger, a non-zero byte beyond: -EINVAL");
		ok(sp == (struct sva_pasid_space *)4, "  *out untouched");
		big.tail[7] = 0;
		is_int(sva_pasid_space_new(&big.o, &sp), 0, "sva_pasid_space_opts: larger, zeros beyond: accepted");
		/* An information structure gets the bytes beyond zeroed. */
		if (sp != (struct sva_pasid_space *)4) {
			struct {
				struct sva_pasid_stats s;
				struct tail64 t;
			} ps;

			memset(&ps, 0xa5, sizeof(ps));
			ps.s.size = sizeof(ps);
			ok(sva_pasid_stats(sp, &ps.s) == 0 && ps.s.min == 1 && ps.s.max == 10 &&
				   !memcmp(&ps.t, &(struct tail64){ { 0 } }, sizeof(ps.t)),
			   "sva_pasid_stats: a larger size: accepted, the bytes beyond zeroed");
			sva_pasid_space_free(sp);
		}
	}
	/* struct sva_ctx_opts */
	{
		struct {
			struct sva_ctx_opts o;
			char tail[16];
		} big;
		struct sva_ctx *c2 = (struct sva_ctx *)5;

		memset(&big, 0, sizeof(big));
		big.o.size = sizeof(big.o) - 1;
		big.o.log_fn = count;
		big.o.log_level = SVA_LOG_OFF;
		is_int(sva_ctx_new(&big.o, &c2), -EINVAL, "sva_ctx_opts: size one short: -EINVAL");
		big.o.size = sizeof(big);
		big.tail[3] = 1;
		is_int(sva_ctx_new(&big.o, &c2), -EINVAL, "sva_ctx_opts: larger, a non-zero byte beyond: -EINVAL");
		ok(c2 == (struct sva_ctx *)5, "  *out untouched");
		big.tail[3] = 0;
		is_int(sva_ctx_new(&big.o, &c2), 0, "sva_ctx_opts: larger, zeros beyond: accepted");
		if (c2 != (struct sva_ctx *)5)
			sva_ctx_free(c2);
	}
	/* The other information structures' tails. */
	{
		struct {
			struct sva_dev_info i;
			struct tail64 t;
		} di;
		struct {
			struct sva_mm_stats s;
			struct tail64 t;
		} ms;
		struct {
			struct sva_bond_stats s;
			struct tail64 t;
		} bs;
		struct sva_bond *bb = NULL;

		memset(&di, 0xa5, sizeof(di));
		di.i.size = sizeof(di);
		ok(sva_dev_get_info(dev, &di.i) == 0 && (di.i.flags & SVA_DEV_MOCK) &&
			   !memcmp(&di.t, &(struct tail64){ { 0 } }, sizeof(di.t)),
		   "sva_dev_info: a larger size: accepted, the bytes beyond zeroed");
		memset(&ms, 0xa5, sizeof(ms));
		ms.s.size = sizeof(ms);
		ok(sva_mm_stats(mm, &ms.s) == 0 && ms.s.bytes_visible == 0 &&
			   !memcmp(&ms.t, &(struct tail64){ { 0 } }, sizeof(ms.t)),
		   "sva_mm_stats: a larger size: accepted, the bytes beyond zeroed");
		if (sva_bind(dev, mm, NULL, &bb) == 0) {
			memset(&bs, 0xa5, sizeof(bs));
			bs.s.size = sizeof(bs);
			ok(sva_bond_stats(bb, &bs.s) == 0 && bs.s.faults == 0 &&
				   !memcmp(&bs.t, &(struct tail64){ { 0 } }, sizeof(bs.t)),
			   "sva_bond_stats: a larger size: accepted, the bytes beyond zeroed");
			sva_unbind(bb);
		} else {
			ok(0, "bind for the bond_stats tail");
		}
	}
	sva_mm_free(mm);
	sva_dev_close(dev);
	is_int(open_fd_count(), fds, "the refusals and the objects freed leave no descriptor open");
}


/* ------------------------------------------- libsva(7), fork: the child's release */


/*
 * libsva(7), Thread safety: "Releasing them in the child (sva_mm_free(3),
 * sva_dev_close(3), sva_ctx_free(3)) frees the child's memory and closes its
 * copies of the descriptors only"; "The child's memory is not tracked: its
 * munmap(2) and the like do not reach the parent's devices".  The iommufd is
 * the parent's too, so whatever the child's release sent it would change the
 * parent's objects: the parent's page stays mapped, its bond bound, its fault
 * thread serving.
 */
static void fork_release(void)
{
	struct sva_ctx *c = new_ctx();
	struct sva_dev *dev = new_mock(c);
	struct sva_mm *mm = new_mm(c);
	struct sva_bond *b = NULL;
	struct sva_mm_stats m0 = { .size = sizeof(m0) }, m1 = { .size = sizeof(m1) };
	char *buf;
	int st, ret;

	buf = mmap((void *)BUF_AT, BUF_PAGES * PG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE,
		   -1, 0);
	if (buf == MAP_FAILED)
		tap_bail("mmap in the mock's window");
	memset(buf, 7, BUF_PAGES * PG);
	if (sva_bind(dev, mm, NULL, &b) || sva_mm_prefault(mm, buf, 4 * PG))
		tap_bail("bind / prefault");
	if (!mock_sees(c, buf)) {
		skip(1, "MD_CHECK_MAP does not see the prefaulted page (no such selftest op?)");
		goto out;
	}
	sva_mm_stats(mm, &m0);
	pid_t pid = fork();

	if (pid == 0) {
		munmap(buf, PG);
		sva_mm_free(mm);
		sva_dev_close(dev);
		sva_ctx_free(c);
		_exit(0);
	}
	waitpid(pid, &st, 0);
	ok(WIFEXITED(st) && WEXITSTATUS(st) == 0, "fork: a child munmap()s a visible page, releases mm, device, context");
	ok(mock_sees(c, buf), "  the parent's device still sees the page");
	ok(mock_sees(c, buf + 3 * PG), "  and the others prefaulted");
	ok(sva_mm_stats(mm, &m1) == 0 && m1.bytes_visible == m0.bytes_visible,
	   "  the parent's address space counts them still (%llu bytes)", (unsigned long long)m1.bytes_visible);
	{
		struct sva_bond *lb = NULL;

		ok(sva_dev_bond_lookup(dev, sva_bond_pasid(b), &lb, NULL) == 0 && lb == b, "  its bond still bound");
	}
	is_int(sva_ctx_fault_health(c), 0, "  its fault thread healthy");
	ret = sva_dev_inject_fault(dev, sva_bond_pasid(b), (uintptr_t)buf + 50 * PG, SVA_ACCESS_READ, 9);
	for (uint64_t t0 = now_ms(); bst(b).faults < 1 && now_ms() - t0 < 10000;)
		nap();
	ok(ret == 0 && bst(b).faults == 1 && bst(b).invalid == 0 && mock_sees(c, buf + 50 * PG),
	   "  and serving: a fault after the child's release is resolved");
	is_int(sva_mm_prefault(mm, buf + 60 * PG, PG), 0, "  a prefault still works");
out:
	sva_unbind(b);
	munmap(buf, BUF_PAGES * PG);
	sva_mm_free(mm);
	sva_dev_close(dev);
	sva_ctx_free(c);
}


/* -------------------- libsva(7), Calls inside callbacks: the allowed calls */

enum { IN_PREFAULT, IN_INVAL, IN_FENCE, IN_PASID, IN_LOOKUP, IN_STATS, IN_RANGES, IN_INFO, IN_N };
static const char *const in_names[IN_N] = {
	"sva_mm_prefault", "sva_mm_invalidate", "sva_mm_fence",	      "sva_dev_pasid_alloc+free",
	"sva_dev_bond_lookup", "sva_mm_stats",	"sva_mm_iova_ranges", "sva_dev_get_info",
};

struct in_exit {
	struct sva_dev *dev;
	struct sva_mm *mm;
	char *page;
	int calls;
	int ret[IN_N];
};

static void exit_calls(struct sva_bond *bond, void *drvdata)
{
	struct in_exit *e = drvdata;
	struct sva_bond *lb = NULL;
	struct sva_mm_stats ms = { .size = sizeof(ms) };
	struct sva_dev_info di = { .size = sizeof(di) };
	struct sva_iova_range r[8];
	size_t nr = 8;
	uint32_t pasid = 0;
	long inv;

	e->calls++;
	e->ret[IN_PREFAULT] = sva_mm_prefault(e->mm, e->page, PG);
	inv = sva_mm_invalidate(e->mm, e->page, PG);
	e->ret[IN_INVAL] = inv < 0 ? (int)inv : 0;
	e->ret[IN_FENCE] = sva_mm_fence(e->mm);
	e->ret[IN_PASID] = sva_dev_pasid_alloc(e->dev, SVA_PASID_AUTO, NULL, &pasid);
	if (!e->ret[IN_PASID])
		e->ret[IN_PASID] = sva_dev_pasid_free(e->dev, pasid);
	e->ret[IN_LOOKUP] = sva_dev_bond_lookup(e->dev, sva_bond_pasid(bond), &lb, NULL);
	if (!e->ret[IN_LOOKUP] && lb != bond)
		e->ret[IN_LOOKUP] = -1000;
	e->ret[IN_STATS] = sva_mm_stats(e->mm, &ms);
	e->ret[IN_RANGES] = sva_mm_iova_ranges(e->mm, r, &nr);
	e->ret[IN_INFO] = sva_dev_get_info(e->dev, &di);
}

enum { VIA_UNBIND, VIA_DEV_CLOSE, VIA_MM_FREE, VIA_CTX_FREE, VIA_N };
static const char *const via_names[VIA_N] = { "sva_unbind", "sva_dev_close", "sva_mm_free", "sva_ctx_free" };

static void calls_in_mm_exit(void)
{
	if (tsan_no_threaded_child(VIA_N * IN_N))
		return;

	for (int via = 0; via < VIA_N; via++) {
		struct in_exit *e = mmap(NULL, sizeof(*e), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
		int st;
		pid_t pid;

		if (e == MAP_FAILED)
			tap_bail("mmap");
		memset(e, 0x7f, sizeof(*e));
		e->calls = 0;
		pid = fork();
		if (pid == 0) {
			struct sva_ctx *c;
			struct sva_bond_ops ops = { .size = sizeof(ops), .mm_exit = exit_calls };
			struct sva_bind_opts bo = { .size = sizeof(bo), .drvdata = e, .ops = &ops };
			struct sva_bond *b = NULL;
			char *buf;

			alarm(20);
			c = new_ctx();
			e->dev = new_mock(c);
			e->mm = new_mm(c);
			buf = mmap((void *)BUF_AT, 8 * PG, PROT_READ | PROT_WRITE,
				   MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
			if (buf == MAP_FAILED)
				_exit(80);
			memset(buf, 1, 8 * PG);
			e->page = buf + 2 * PG;
			if (sva_bind(e->dev, e->mm, &bo, &b))
				_exit(81);
			switch (via) {
			case VIA_UNBIND:
				if (sva_unbind(b))
					_exit(82);
				break;
			case VIA_DEV_CLOSE:
				sva_dev_close(e->dev);
				e->dev = NULL;
				break;
			case VIA_MM_FREE:
				sva_mm_free(e->mm);
				e->mm = NULL;
				break;
			case VIA_CTX_FREE:
				sva_ctx_free(c);
				c = NULL;
				break;
			}
			sva_mm_free(e->mm);
			sva_dev_close(e->dev);
			sva_ctx_free(c);
			_exit(0);
		}
		waitpid(pid, &st, 0);
		if (!WIFEXITED(st) || WEXITSTATUS(st) || e->calls != 1) {
			ok(0, "mm_exit via %s: the child %s (status %#x, %d calls)", via_names[via],
			   WIFSIGNALED(st) && WTERMSIG(st) == SIGALRM ? "hung" : "failed", st, e->calls);
		} else {
			for (int i = 0; i < IN_N; i++)
				is_int(e->ret[i], 0, "mm_exit via %s: %s inside it is allowed", via_names[via], in_names[i]);
		}
		munmap(e, sizeof(*e));
	}
}


/* ------------------- libsva(7): munmap(2) of tracked memory from any callback */

static struct {
	char *target;
	atomic_int armed;
	atomic_int done;
	int ret;
} um;

static void um_now(void)
{
	um.ret = munmap(um.target, PG);
	atomic_store(&um.done, 1);
}

static void um_fault_error(struct sva_bond *bond, const struct sva_fault_report *r, void *drvdata)
{
	(void)bond;
	(void)r;
	(void)drvdata;
	if (atomic_exchange(&um.armed, 0))
		um_now();
}

static void um_mm_exit(struct sva_bond *bond, void *drvdata)
{
	(void)bond;
	(void)drvdata;
	if (atomic_exchange(&um.armed, 0))
		um_now();
}

static void um_log(void *arg, enum sva_log_level level, const char *msg)
{
	(void)arg;
	(void)msg;
	if (level == SVA_LOG_ERROR && atomic_exchange(&um.armed, 0))
		um_now();
}

enum { UM_FAULT_ERROR, UM_MM_EXIT, UM_LOG_PREFAULT, UM_LOG_BIND, UM_N };
static const char *const um_names[UM_N] = {
	"fault_error (the fault thread, inside a batch)",
	"mm_exit (inside sva_unbind)",
	"a log callback (sva_mm_prefault's -ERANGE line)",
	"a log callback (sva_bind's refusal of bad options)",
};

/* In a child: 0 when the munmap returned 0 and the page left the device.
 * Every path unbinds and closes: a mock PASID still attached at exit leaves
 * kernel warnings (sva_dev_open_mock(3)). */
static int um_child(int how)
{
	struct sva_ctx *c = new_ctx();
	struct sva_dev *d1 = new_mock(c), *d2 = new_mock(c);
	struct sva_mm *mm = new_mm(c);
	struct sva_bond_ops ops = { .size = sizeof(ops), .mm_exit = um_mm_exit, .fault_error = um_fault_error };
	struct sva_bind_opts bo = { .size = sizeof(bo), .ops = &ops };
	struct sva_bond *b1 = NULL, *b2 = NULL;
	char *buf, *high;
	int rc = 0;

	alarm(20);
	buf = mmap((void *)BUF_AT, 8 * PG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1,
		   0);
	/* where mmap(2) places memory by itself: far above the mock's window */
	high = mmap(NULL, PG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (buf == MAP_FAILED || high == MAP_FAILED ||
	    mmap((void *)HOLE_AT, PG, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0) == MAP_FAILED)
		return 10;
	memset(buf, 2, 8 * PG);
	high[0] = 1;
	if (sva_bind(d1, mm, NULL, &b1) || sva_bind(d2, mm, &bo, &b2) || sva_mm_prefault(mm, buf, 8 * PG)) {
		rc = 11;
		goto out;
	}
	um.target = buf + 3 * PG;
	if (!mock_sees(c, um.target)) {
		rc = 12;
		goto out;
	}
	atomic_store(&um.armed, 1);
	switch (how) {
	case UM_FAULT_ERROR:
		if (sva_dev_inject_fault(d2, sva_bond_pasid(b2), HOLE_AT, SVA_ACCESS_READ, 1)) {
			rc = 13;
			goto out;
		}
		for (uint64_t t0 = now_ms(); !atomic_load(&um.done) && now_ms() - t0 < 10000;)
			nap();
		break;
	case UM_MM_EXIT:
		if (sva_unbind(b2)) {
			rc = 14;
			goto out;
		}
		b2 = NULL;
		break;
	case UM_LOG_PREFAULT:
		sva_ctx_set_log(c, um_log, NULL, SVA_LOG_DEBUG);
		if (sva_mm_prefault(mm, high, PG) != -ERANGE) {
			rc = 15;
			goto out;
		}
		break;
	case UM_LOG_BIND: {
		struct sva_bind_opts bad = { .size = sizeof(bad), .flags = 1u << 30 };
		struct sva_bond *x = NULL;

		sva_ctx_set_log(c, um_log, NULL, SVA_LOG_DEBUG);
		if (sva_bind(d2, mm, &bad, &x) != -EINVAL) {
			rc = 16;
			goto out;
		}
		break;
	}
	}
	if (!atomic_load(&um.done))
		rc = 17;
	else if (um.ret)
		rc = 18;
	else if (sva_mm_fence(mm))
		rc = 19;
	else if (mock_sees(c, um.target))
		rc = 20;
out:
	sva_ctx_set_log(c, count, NULL, SVA_LOG_DEBUG);
	if (b2)
		sva_unbind(b2);
	if (b1)
		sva_unbind(b1);
	sva_mm_free(mm);
	sva_dev_close(d2);
	sva_dev_close(d1);
	sva_ctx_free(c);
	return rc;
}

static void munmap_in_callbacks(void)
{
	if (tsan_no_threaded_child(UM_N))
		return;

	for (int how = 0; how < UM_N; how++) {
		pid_t pid = fork();
		int st;

		if (pid == 0)
			_exit(um_child(how));
		waitpid(pid, &st, 0);
		ok(WIFEXITED(st) && WEXITSTATUS(st) == 0,
		   "munmap of a visible tracked page from %s: returns, and the device stops seeing it (%s %d)",
		   um_names[how], WIFSIGNALED(st) ? (WTERMSIG(st) == SIGALRM ? "hung, signal" : "signal") : "exit",
		   WIFSIGNALED(st) ? WTERMSIG(st) : WEXITSTATUS(st));
	}
}



/* ----------- "takes no lock": answers while fault_error holds a batch open */

static atomic_int nl_in, nl_release;

static void nl_fault_error(struct sva_bond *bond, const struct sva_fault_report *r, void *drvdata)
{
	(void)bond;
	(void)r;
	(void)drvdata;
	atomic_store(&nl_in, 1);
	while (!atomic_load(&nl_release))
		nap();
}

/*
 * sva_ctx_fault_health(3) and sva_bond_stats(3) take no lock, nor do
 * sva_bond_pasid/drvdata; lookups take none (libsva(7), PASID spaces).  So
 * they answer while a fault_error callback keeps its batch of the fault
 * engine open; a child with an alarm turns a wait into a failure.
 */
static void no_lock_in_batch(void)
{
	if (tsan_no_threaded_child(1))
		return;

	pid_t pid = fork();
	int st;

	if (pid == 0) {
		struct sva_ctx *c = new_ctx();
		struct sva_dev *dev = new_mock(c);
		struct sva_mm *mm = new_mm(c);
		struct sva_bond_ops ops = { .size = sizeof(ops), .fault_error = nl_fault_error };
		struct sva_bind_opts bo = { .size = sizeof(bo), .ops = &ops, .drvdata = &nl_in };
		struct sva_bond *b = NULL, *lb = NULL;
		struct sva_bond_stats bs = { .size = sizeof(bs) };
		void *dd = NULL;
		int rc = 0;

		alarm(10);
		if (mmap((void *)HOLE_AT, PG, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0) ==
			    MAP_FAILED ||
		    sva_bind(dev, mm, &bo, &b))
			_exit(10);
		if (sva_dev_inject_fault(dev, sva_bond_pasid(b), HOLE_AT, SVA_ACCESS_READ, 1))
			rc = 11;
		for (uint64_t t0 = now_ms(); !rc && !atomic_load(&nl_in) && now_ms() - t0 < 5000;)
			nap();
		if (!rc && !atomic_load(&nl_in))
			rc = 12;
		if (!rc) {
			/* the fault thread is inside fault_error now */
			if (sva_ctx_fault_health(c) != 0)
				rc = 13;
			else if (sva_bond_stats(b, &bs) != 0)
				rc = 14;
			else if (sva_bond_pasid(b) == SVA_PASID_RID || sva_bond_drvdata(b) != &nl_in)
				rc = 15;
			else if (sva_dev_bond_lookup(dev, sva_bond_pasid(b), &lb, &dd) != 0 || lb != b || dd != &nl_in)
				rc = 16;
			else if (sva_dev_pasid_lookup(dev, sva_bond_pasid(b), &dd) != 0 || dd != &nl_in)
				rc = 17;
		}
		atomic_store(&nl_release, 1);
		sva_unbind(b);
		sva_mm_free(mm);
		sva_dev_close(dev);
		sva_ctx_free(c);
		_exit(rc);
	}
	waitpid(pid, &st, 0);
	ok(WIFEXITED(st) && WEXITSTATUS(st) == 0,
	   "while fault_error holds a batch open: fault_health, bond_stats, bond_pasid/drvdata, dev_bond_lookup and "
	   "dev_pasid_lookup answer at once (%s %d)",
	   WIFSIGNALED(st) ? (WTERMSIG(st) == SIGALRM ? "hung, signal" : "signal") : "exit",
	   WIFSIGNALED(st) ? WTERMSIG(st) : WEXITSTATUS(st));
}


/* -------- libsva(7): the refused calls, inside a log callback in a batch */

static struct {
	struct sva_ctx *c;
	struct sva_dev *dev;
	struct sva_mm *mm;
	struct sva_bond *b;
	atomic_int armed, done;
	int process, bind, unbind;
} lb;

static void lb_log(void *arg, enum sva_log_level level, const char *msg)
{
	struct sva_bond *x = NULL;

	(void)arg;
	(void)msg;
	/* the refused group's line (info level), not the batch's debug lines */
	if (level != SVA_LOG_INFO || !atomic_exchange(&lb.armed, 0))
		return;
	lb.process = sva_ctx_process_faults(lb.c, 1);
	lb.bind = sva_bind(lb.dev, lb.mm, NULL, &x);
	lb.unbind = sva_unbind(lb.b);
	atomic_store(&lb.done, 1);
}

/*
 * "The same calls are refused the same way inside a log callback, which may
 * run while libsva holds its locks": a poll-mode context logs the refusal of
 * a fault (info level) from inside the batch of sva_ctx_process_faults(); the
 * callback's own process_faults, bind and unbind get -EDEADLK there.
 */
static void refused_in_log(void)
{
	if (tsan_no_threaded_child(1))
		return;

	pid_t pid = fork();
	int st;

	if (pid == 0) {
		struct sva_ctx_opts o = { .size = sizeof(o), .flags = SVA_CTX_FAULT_POLL, .log_fn = count,
					  .log_level = SVA_LOG_DEBUG };
		int rc = 0;

		alarm(10);
		if (sva_ctx_new(&o, &lb.c))
			_exit(10);
		lb.dev = new_mock(lb.c);
		lb.mm = new_mm(lb.c);
		if (mmap((void *)HOLE_AT, PG, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0) ==
			    MAP_FAILED ||
		    sva_bind(lb.dev, lb.mm, NULL, &lb.b) ||
		    sva_dev_inject_fault(lb.dev, sva_bond_pasid(lb.b), HOLE_AT, SVA_ACCESS_READ, 1))
			_exit(11);
		sva_ctx_set_log(lb.c, lb_log, NULL, SVA_LOG_DEBUG);
		atomic_store(&lb.armed, 1);
		for (uint64_t t0 = now_ms(); !atomic_load(&lb.done) && now_ms() - t0 < 5000;)
			sva_ctx_process_faults(lb.c, 8);
		sva_ctx_set_log(lb.c, count, NULL, SVA_LOG_DEBUG);
		if (!atomic_load(&lb.done))
			rc = 12;
		else
			rc = (lb.process == -EDEADLK ? 0 : 1) | (lb.bind == -EDEADLK ? 0 : 2) |
			     (lb.unbind == -EDEADLK ? 0 : 4);
		sva_unbind(lb.b);
		sva_mm_free(lb.mm);
		sva_dev_close(lb.dev);
		sva_ctx_free(lb.c);
		_exit(rc);
	}
	waitpid(pid, &st, 0);
	ok(WIFEXITED(st) && WEXITSTATUS(st) == 0,
	   "a log callback for a refused fault, in a poll-mode batch: its process_faults, bind and unbind get -EDEADLK (%s %d)",
	   WIFSIGNALED(st) ? (WTERMSIG(st) == SIGALRM ? "hung, signal" : "signal") : "exit",
	   WIFSIGNALED(st) ? WTERMSIG(st) : WEXITSTATUS(st));
}

/* ------------------------------------------------------------ with a broker */

/* sva_ctx_share_memfd(3) is thread-safe: threads sharing one range at once
 * get one 0 and -EEXIST for the rest; distinct ranges all succeed. */
struct sh_arg {
	struct sva_ctx *c;
	int fd;
	char *addr;
	atomic_int *go;
	int ret;
};

static void *sh_run(void *arg)
{
	struct sh_arg *a = arg;

	while (!atomic_load(a->go))
		;
	a->ret = sva_ctx_share_memfd(a->c, a->fd, (uint64_t)0, a->addr, 4 * PG);
	return NULL;
}

static void share_threads(struct sva_ctx *c, struct sva_mm *mm)
{
	enum { T = 4, ROUNDS = 8 };
	char *at = (char *)(uintptr_t)0x40800000ul;
	int fd = memfd_create("kbl-t", MFD_CLOEXEC), bad_same = 0, bad_unshare = 0, bad_distinct = 0;
	char *m;

	if (fd < 0 || ftruncate(fd, 4 * PG))
		tap_bail("memfd");
	m = mmap(at, T * 4 * PG, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED_NOREPLACE, fd, 0);
	/* (the mapping is longer than the file: only its first 4 pages are touched
	 * through the first range; the others map the same file from offset 0) */
	if (m != at)
		tap_bail("mmap");
	munmap(m, T * 4 * PG);
	for (int i = 0; i < T; i++)
		if (mmap(at + (size_t)i * 4 * PG, 4 * PG, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED, fd, 0) !=
		    at + (size_t)i * 4 * PG)
			tap_bail("mmap");
	for (int round = 0; round < ROUNDS; round++) {
		struct sh_arg a[T];
		pthread_t th[T];
		atomic_int go = 0;
		int zero = 0, exist = 0;

		for (int i = 0; i < T; i++) {
			a[i] = (struct sh_arg){ .c = c, .fd = fd, .addr = at, .go = &go };
			if (pthread_create(&th[i], NULL, sh_run, &a[i]))
				tap_bail("pthread_create");
		}
		atomic_store(&go, 1);
		for (int i = 0; i < T; i++) {
			pthread_join(th[i], NULL);
			zero += a[i].ret == 0;
			exist += a[i].ret == -EEXIST;
		}
		if (zero != 1 || exist != T - 1)
			bad_same++;
		if (sva_ctx_unshare_memfd(c, at, 4 * PG))
			bad_unshare++;
	}
	is_int(bad_same, 0, "share: %d threads sharing one range at once, %d rounds: one 0 and -EEXIST for the rest",
	       T, ROUNDS);
	is_int(bad_unshare, 0, "  and the one range unshares after each round");
	{
		struct sh_arg a[T];
		pthread_t th[T];
		atomic_int go = 0;

		for (int i = 0; i < T; i++) {
			a[i] = (struct sh_arg){ .c = c, .fd = fd, .addr = at + (size_t)i * 4 * PG, .go = &go };
			if (pthread_create(&th[i], NULL, sh_run, &a[i]))
				tap_bail("pthread_create");
		}
		atomic_store(&go, 1);
		for (int i = 0; i < T; i++) {
			pthread_join(th[i], NULL);
			bad_distinct += a[i].ret != 0;
		}
		is_int(bad_distinct, 0, "share: %d threads sharing %d distinct ranges at once: all 0", T, T);
		for (int i = 0; i < T; i++)
			is_int(sva_mm_prefault(mm, at + (size_t)i * 4 * PG, 4 * PG), 0, "  range %d prefaults", i);
		/* sva_mm_prefault(3): "the whole range must lie in one shared range,
		 * or the call fails with -EFAULT" -- adjacent ones included. */
		is_int(sva_mm_prefault(mm, at, (size_t)T * 4 * PG), -EFAULT,
		       "  one prefault across the adjacent ranges: -EFAULT (one shared range a prefault)");
		for (int i = 0; i < T; i++)
			if (a[i].ret == 0)
				sva_ctx_unshare_memfd(c, at + (size_t)i * 4 * PG, 4 * PG);
	}
	munmap(at, T * 4 * PG);
	close(fd);
}


static char bk_dir[64], bk_sock[108];

static pid_t bk_start(void)
{
	const char *prog = getenv("SVA_BROKERD");
	char conf[128], log[128], text[512];
	pid_t pid;
	int fd;

	if (!prog || access(prog, X_OK))
		prog = "/tests/sva-brokerd";
	if (access(prog, X_OK))
		return 0;
	snprintf(bk_dir, sizeof(bk_dir), "/tmp/kbl-XXXXXX");
	if (!mkdtemp(bk_dir))
		return 0;
	snprintf(bk_sock, sizeof(bk_sock), "%s/s", bk_dir);
	snprintf(conf, sizeof(conf), "%s/conf", bk_dir);
	snprintf(log, sizeof(log), "%s/log", bk_dir);
	snprintf(text, sizeof(text), "socket %s\nsocket-mode 0600\ndevice m mock\nallow m uid %u\n", bk_sock,
		 (unsigned)getuid());
	fd = open(conf, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0 || write(fd, text, strlen(text)) != (ssize_t)strlen(text))
		tap_bail("broker configuration");
	close(fd);
	pid = fork();
	if (pid == 0) {
		int e = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0600);

		if (e >= 0)
			dup2(e, 2);
		execl(prog, "sva-brokerd", "-c", conf, (char *)NULL);
		_exit(127);
	}
	for (uint64_t t0 = now_ms(); now_ms() - t0 < 10000; nap()) {
		struct sockaddr_un a = { .sun_family = AF_UNIX };
		int sk = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0), r;

		snprintf(a.sun_path, sizeof(a.sun_path), "%s", bk_sock);
		r = connect(sk, (struct sockaddr *)&a, sizeof(a));
		close(sk);
		if (!r)
			return pid;
		if (waitpid(pid, NULL, WNOHANG) == pid)
			tap_bail("sva-brokerd exited at start (see %s)", log);
	}
	tap_bail("sva-brokerd does not listen at %s", bk_sock);
}

static void with_broker(void)
{
	struct sva_ctx_opts co = { .size = sizeof(co), .flags = SVA_CTX_BROKER | SVA_CTX_ISOLATED, .log_fn = count,
				   .log_level = SVA_LOG_DEBUG };
	struct sva_ctx *c = NULL;
	struct sva_dev *dev = NULL;
	struct sva_mm *mm = NULL;
	struct sva_bond *b = NULL;
	pid_t bpid = bk_start();
	int ret, st;

	if (!bpid) {
		/* check-vm packs it into every VM: missing there is a failure */
		if (getenv("SVA_VM"))
			ok(0, "the test VM carries /tests/sva-brokerd");
		else
			skip(1, "no sva-brokerd (the VM carries /tests/sva-brokerd)");
		return;
	}
	co.broker_path = bk_sock;
	if ((ret = sva_ctx_new(&co, &c)) || (ret = sva_dev_open(c, "m", &dev)) || (ret = sva_mm_new(c, NULL, &mm)) ||
	    (ret = sva_bind(dev, mm, NULL, &b))) {
		ok(0, "an isolated broker client with a bound mock (%s)", strerror(-ret));
		goto out;
	}
	{
		struct sva_dev *d2 = (struct sva_dev *)7;

		lines_reset();
		is_int(sva_dev_fd(dev), -ENODEV, "broker: sva_dev_fd of a device with PASIDs: -ENODEV");
		is_int(all_lines(), 0, "  not logged");
		is_int(sva_dev_open_mock(c, NULL, &d2), -EOPNOTSUPP, "broker: sva_dev_open_mock: -EOPNOTSUPP");
		is_int(sva_dev_open_fd(c, -1, &d2), -EOPNOTSUPP,
		       "broker: sva_dev_open_fd: -EOPNOTSUPP, checked before the fd (-1)");
		ok(d2 == (struct sva_dev *)7, "  *out untouched");
		is_int(sva_ctx_fault_health(c), 0, "broker: fault_health of the isolated client: 0");
	}
	/* The window's first 2 MiB-aligned room at or above 1 GiB holds the buffers. */
	{
		char *at = (char *)(uintptr_t)0x40000000ul;
		int fd = memfd_create("kbl", MFD_CLOEXEC), pfd;
		char proc[64];
		char *m;

		if (fd < 0 || ftruncate(fd, 4 * PG))
			tap_bail("memfd");
		m = mmap(at, 4 * PG, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED_NOREPLACE, fd, 0);
		if (m != at)
			tap_bail("mmap of the memfd");
		memset(m, 0x3c, 4 * PG);
		snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fd);
		pfd = open(proc, O_PATH | O_CLOEXEC);
		ret = pfd < 0 ? -errno : sva_ctx_share_memfd(c, pfd, 0, m, 4 * PG);
		is_int(ret, -EBADF, "share: an O_PATH descriptor of a memfd: -EBADF");
		if (pfd >= 0)
			close(pfd);
		is_int(sva_mm_prefault(mm, m, PG), -EFAULT, "  nothing shared: a prefault there -EFAULT");
		is_int(sva_ctx_share_memfd(c, fd, 0, m, 4 * PG), 0, "then the memfd itself: shared");
		struct sva_mm_stats s0 = { .size = sizeof(s0) }, s1 = { .size = sizeof(s1) }, s2 = { .size = sizeof(s2) };

		sva_mm_stats(mm, &s0);
		is_int(sva_mm_prefault(mm, m, 4 * PG), 0, "  a prefault of it: 0");
		sva_mm_stats(mm, &s1);
		is_int(s1.bytes_visible - s0.bytes_visible, 4 * PG, "  4 pages more visible");
		is_int(sva_ctx_unshare_memfd(c, m, 4 * PG), 0, "unshare: 0");
		/* "The context then drops those mappings from its own records." */
		sva_mm_stats(mm, &s2);
		is_int(s2.bytes_visible, s0.bytes_visible, "  the address space counts them no more");
		ok(fcntl(fd, F_GETFD) >= 0 && m[0] == 0x3c && m[4 * PG - 1] == 0x3c && (m[5] = 1) == 1,
		   "  the caller's descriptor and mapping untouched");
		is_int(sva_mm_prefault(mm, m, PG), -EFAULT, "  a prefault there after it: -EFAULT, as memory never shared");
		munmap(m, 4 * PG);
		close(fd);
	}
	share_threads(c, mm);
	/* "a file of shmem or hugetlbfs, as memfd_create(2) makes" */
	{
		size_t hl = 2ul << 20;
		char *at = (char *)(uintptr_t)0x40400000ul;
		int fd = memfd_create("kbl-huge", MFD_CLOEXEC | MFD_HUGETLB);
		char *m = MAP_FAILED;

		if (fd >= 0 && ftruncate(fd, (off_t)hl) == 0)
			m = mmap(at, hl, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED_NOREPLACE, fd, 0);
		if (m != at || (m[0] = 1, 0)) {
			skip(1, "no huge page to back a hugetlbfs memfd here (check-vm reserves some)");
		} else {
			ret = sva_ctx_share_memfd(c, fd, 0, m, hl);
			is_int(ret, 0, "share: a hugetlbfs memfd (MFD_HUGETLB, 2 MiB): shared");
			if (!ret) {
				is_int(sva_mm_prefault(mm, m, PG), 0, "  a prefault of its first page: 0");
				is_int(sva_ctx_unshare_memfd(c, m, hl), 0, "  unshared");
			}
		}
		if (m != MAP_FAILED)
			munmap(m, hl);
		if (fd >= 0)
			close(fd);
	}
out:
	if (b)
		sva_unbind(b);
	sva_mm_free(mm);
	sva_dev_close(dev);
	sva_ctx_free(c);
	kill(bpid, SIGTERM);
	waitpid(bpid, &st, 0);
	ok(WIFEXITED(st) && WEXITSTATUS(st) == 0, "the broker stops cleanly (%#x)", st);
	{
		char path[128];

		snprintf(path, sizeof(path), "%s/conf", bk_dir);
		unlink(path);
		snprintf(path, sizeof(path), "%s/log", bk_dir);
		unlink(path);
		unlink(bk_sock);
		/* The broker leaves its lock file (sva-brokerd(8), FILES). */
		snprintf(path, sizeof(path), "%s.lock", bk_sock);
		unlink(path);
		rmdir(bk_dir);
	}
}


/* ------------- libsva(7): fault_error in poll mode, one batch at a time */

static struct {
	atomic_int inside, max_inside, calls, foreign;
	pid_t t1, t2;
	atomic_int stop;
} pb;

static void pb_fault_error(struct sva_bond *bond, const struct sva_fault_report *rep, void *drvdata)
{
	int n = atomic_fetch_add(&pb.inside, 1) + 1;
	pid_t me = (pid_t)syscall(SYS_gettid);

	(void)bond;
	(void)rep;
	(void)drvdata;
	for (int m = atomic_load(&pb.max_inside); n > m && !atomic_compare_exchange_weak(&pb.max_inside, &m, n);)
		;
	if (me != pb.t1 && me != pb.t2)
		atomic_fetch_add(&pb.foreign, 1);
	nanosleep(&(struct timespec){ .tv_nsec = 2000000 }, NULL);
	atomic_fetch_add(&pb.calls, 1);
	atomic_fetch_sub(&pb.inside, 1);
}

struct pb_arg {
	struct sva_ctx *c;
	pid_t *tid;
	atomic_int ready;
	long errors;
};

static void *pb_run(void *arg)
{
	struct pb_arg *a = arg;

	*a->tid = (pid_t)syscall(SYS_gettid);
	atomic_store(&a->ready, 1);
	while (!atomic_load(&pb.stop))
		if (sva_ctx_process_faults(a->c, 1) < 0)
			a->errors++;
	return NULL;
}

/*
 * "The fault_error callback runs ... in the thread that calls
 * sva_ctx_process_faults(3), inside a batch, while no other batch of the
 * context runs": two threads process faults at once; the callbacks never
 * overlap, and each runs in one of them.
 */
static void poll_batches(void)
{
	enum { N = 24 };
	struct sva_ctx_opts o = { .size = sizeof(o), .flags = SVA_CTX_FAULT_POLL, .log_fn = count,
				  .log_level = SVA_LOG_DEBUG };
	struct sva_bond_ops ops = { .size = sizeof(ops), .fault_error = pb_fault_error };
	struct sva_bind_opts bo = { .size = sizeof(bo), .ops = &ops };
	struct sva_ctx *c = NULL;
	struct sva_dev *dev;
	struct sva_mm *mm;
	struct sva_bond *b = NULL;
	struct pb_arg a1 = { 0 }, a2 = { 0 };
	pthread_t th1, th2;
	void *hole;
	int bad = 0;

	if (sva_ctx_new(&o, &c))
		tap_bail("a poll-mode context");
	dev = new_mock(c);
	mm = new_mm(c);
	if (sva_bind(dev, mm, &bo, &b))
		tap_bail("poll-mode bind");
	hole = mmap((void *)HOLE_AT, PG, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
	if (hole == MAP_FAILED)
		tap_bail("mmap of the hole");
	memset(&pb, 0, sizeof(pb));
	a1.c = a2.c = c;
	a1.tid = &pb.t1;
	a2.tid = &pb.t2;
	if (pthread_create(&th1, NULL, pb_run, &a1) || pthread_create(&th2, NULL, pb_run, &a2))
		tap_bail("pthread_create");
	while (!atomic_load(&a1.ready) || !atomic_load(&a2.ready))
		nap();
	for (unsigned i = 0; i < N; i++)
		bad += sva_dev_inject_fault(dev, sva_bond_pasid(b), HOLE_AT, SVA_ACCESS_READ, i % 512) != 0;
	for (uint64_t t0 = now_ms(); atomic_load(&pb.calls) < N && now_ms() - t0 < 10000;)
		nap();
	atomic_store(&pb.stop, 1);
	pthread_join(th1, NULL);
	pthread_join(th2, NULL);
	ok(bad == 0 && atomic_load(&pb.calls) == N, "poll mode, two threads processing: %d refused faults reported (%d)",
	   N, atomic_load(&pb.calls));
	is_int(atomic_load(&pb.max_inside), 1, "  fault_error never ran in two batches at once");
	is_int(atomic_load(&pb.foreign), 0, "  each ran in a thread calling sva_ctx_process_faults");
	ok(a1.errors == 0 && a2.errors == 0, "  sva_ctx_process_faults never failed (%ld, %ld)", a1.errors, a2.errors);
	sva_unbind(b);
	munmap(hole, PG);
	sva_mm_free(mm);
	sva_dev_close(dev);
	sva_ctx_free(c);
}

/* ---------------------------------------------------------- a real VFIO device */

static void real_device(void)
{
	char addr[300], cdev[300];
	struct sva_ctx *c;
	struct sva_dev *dev = NULL;
	struct sva_mm *mm;
	struct sva_bond *b = NULL;
	int fd, ret, dfd;

	if (!edu_find(addr, sizeof(addr), cdev, sizeof(cdev))) {
		const char *t = getenv("SVA_TOPOLOGY");

		/* The VM's topologies but the mock have edu bound to vfio-pci
		 * (run-vm.sh): a skip there would hide its loss. */
		if (getenv("SVA_VM") && t && *t && strcmp(t, "mock"))
			ok(0, "the %s topology has QEMU's edu device bound to vfio-pci", t);
		else
			diag("no edu device bound to vfio-pci: the real-device part is the VT-d topologies'");
		return;
	}
	c = new_ctx();
	/* "in any access mode": write-only, the one ktest-dev-contract leaves out */
	fd = open(cdev, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		tap_bail("open %s", cdev);
	ret = sva_dev_open_fd(c, fd, &dev);
	is_int(ret, 0, "edu: sva_dev_open_fd of an O_WRONLY descriptor");
	if (ret) {
		close(fd);
		sva_ctx_free(c);
		return;
	}
	/* -EBUSY: "an fd that is already bound" -- libsva's own duplicate of an
	 * open device of this very context included; nothing changes for it. */
	{
		struct sva_dev *d2 = (struct sva_dev *)6;
		struct sva_dev_info info = { .size = sizeof(info) };

		is_int(sva_dev_open_fd(c, sva_dev_fd(dev), &d2), -EBUSY,
		       "edu: sva_dev_open_fd of the open device's own sva_dev_fd: -EBUSY");
		ok(d2 == (struct sva_dev *)6, "  *out untouched");
		d2 = (struct sva_dev *)6;
		is_int(sva_dev_open(c, cdev, &d2), -EBUSY, "edu: sva_dev_open of it in the same context: -EBUSY");
		ok(d2 == (struct sva_dev *)6 && sva_dev_get_info(dev, &info) == 0 && sva_dev_fd(dev) >= 0,
		   "  *out untouched, the open device unchanged");
	}
	dfd = sva_dev_fd(dev);
	ok(dfd >= 0 && dfd != fd, "  sva_dev_fd: libsva's duplicate, not the caller's number (%d, %d)", dfd, fd);
	ret = (int)syscall(SYS_kcmp, getpid(), getpid(), KCMP_FILE, fd, dfd);
	if (ret < 0 && errno == ENOSYS)
		diag("no kcmp(2): the duplicate's identity not checked");
	else
		is_int(ret, 0, "  the duplicate refers to the same open file (kcmp)");
	/* sva_dev_open(3), NOTES: "closing fd early, right after the call, is fine" */
	close(fd);
	ok(fcntl(dfd, F_GETFD) >= 0, "  the caller closed its fd: sva_dev_fd still valid");
	mm = new_mm(c);
	{
		struct sva_bind_opts bo = { .size = sizeof(bo), .flags = SVA_BIND_RID | SVA_BIND_PINNED };
		struct sva_iova_range r[64], s[2];
		size_t nr = 64, n1;

		ret = sva_bind(dev, mm, &bo, &b);
		is_int(ret, 0, "  a RID bind of it works");
		if (ret)
			goto out;
		ret = sva_dev_iova_ranges(dev, r, &nr);
		ok(ret == 0 && nr >= 1, "edu: iova_ranges after the RID bind: %zu ranges (%d)", nr, ret);
		for (size_t i = 1; i < nr; i++)
			ok(r[i].start > r[i - 1].last, "  range %zu after range %zu: ascending, last inclusive", i, i - 1);
		if (nr >= 2) {
			s[0] = (struct sva_iova_range){ 1, 2 };
			s[1] = (struct sva_iova_range){ 3, 4 };
			n1 = 1;
			lines_reset();
			ret = sva_dev_iova_ranges(dev, s, &n1);
			is_int(ret, -ENOSPC, "edu: iova_ranges with room for 1 of %zu: -ENOSPC", nr);
			ok(n1 == nr, "  *nr set to the count (%zu)", n1);
			ok(s[0].start == r[0].start && s[0].last == r[0].last, "  the first filled");
			ok(s[1].start == 3 && s[1].last == 4, "  nothing written past the room given");
			is_int(all_lines(), 0, "  not logged");
		} else {
			diag("edu: one range only: -ENOSPC with several not checked");
		}
		{
			struct sva_mem_opts mo = { .size = sizeof(mo), .mm = mm, .dev = dev, .flags = SVA_MEM_PREFAULT };
			void *m = NULL;

			ret = sva_mem_alloc(2 * PG, &mo, &m);
			is_int(ret, 0, "  memory made visible to it after the caller's fd closed");
			if (!ret)
				sva_mem_free(mm, m, 2 * PG);
		}
		is_int(sva_unbind(b), 0, "edu: RID unbind");
		s[0] = (struct sva_iova_range){ 1, 2 };
		n1 = 2;
		ret = sva_dev_iova_ranges(dev, s, &n1);
		ok(ret == -ENOTCONN || ret == 0, "  then iova_ranges: -ENOTCONN or the parked domain's (%d)", ret);
		if (ret == -ENOTCONN)
			ok(n1 == 2 && s[0].start == 1, "  -ENOTCONN leaves *nr and the array as they were");
	}
out:
	sva_mm_free(mm);
	sva_dev_close(dev);
	/* libsva held the last descriptor of the open file: the device is free. */
	dev = NULL;
	ret = sva_dev_open(c, cdev, &dev);
	is_int(ret, 0, "edu: after sva_dev_close, with the caller's fd closed early, the device opens again");
	sva_dev_close(dev);
	sva_ctx_free(c);
}

int main(void)
{
	uint64_t t0 = now_ms();
	struct sva_ctx *c;
	struct sva_dev *probe = NULL;
	int ret;

	if (access("/dev/iommu", R_OK | W_OK)) {
		if (getenv("SVA_VM"))
			tap_bail("no usable /dev/iommu in the test VM");
		skip_all("no usable /dev/iommu");
	}
	c = new_ctx();
	ret = sva_dev_open_mock(c, NULL, &probe);
	if (ret) {
		if (getenv("SVA_VM"))
			tap_bail("no mock device in the test VM (%s)", strerror(-ret));
		sva_ctx_free(c);
		skip_all("no mock device");
	}
	sva_dev_close(probe);
	{
		static const struct {
			const char *name;
			void (*fn)(void);
		} parts[] = {
			{ "process-wide log", processwide_log },
			{ "callbacks", callbacks },
			{ "stats race", stats_concurrent },
			{ "poll batches", poll_batches },
			{ "no system call", no_syscalls },
			{ "no lock", no_lock_in_batch },
			{ "refused in a log callback", refused_in_log },
			{ "stats pages", stats_pages_and_pinned },
			{ "fork release", fork_release },
			{ "calls in mm_exit", calls_in_mm_exit },
			{ "munmap in callbacks", munmap_in_callbacks },
			{ "broker", with_broker },
			{ "real device", real_device },
		};

		for (size_t i = 0; i < sizeof(parts) / sizeof(parts[0]); i++) {
			uint64_t t = now_ms();

			parts[i].fn();
			diag("%s: %llu ms", parts[i].name, (unsigned long long)(now_ms() - t));
			if (i == 0) {
				outputs_untouched(c);
				opts_rule(c);
			}
		}
	}
	sva_ctx_free(c);
	diag("took %llu ms", (unsigned long long)(now_ms() - t0));
	return done_testing();
}
