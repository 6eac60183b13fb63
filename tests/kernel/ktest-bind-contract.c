/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Black-box review of the bond pages: sva_bind(3), sva_unbind(3),
 * sva_bond_pasid(3) (and sva_bond_drvdata), sva_dev_bond_lookup(3),
 * sva_dev_inject_fault(3), and the teardown parts of libsva(7), checked only
 * against what the pages and sva.h say: every ERRORS entry that a process can
 * provoke (with the state checked unchanged after), the flags, the
 * callbacks and the calls allowed or refused inside them, the teardown order,
 * one global PASID on two devices, rebinds, unbinds with faults in flight,
 * IOVA == VA after munmap and madvise, and threads racing binds and unbinds.
 * Mock topology: the selftest mock; vtd39: the edu device (no PASIDs).
 *
 * Whether the device reaches the process's page is asked of the mock's page
 * table through the kernel's selftest command (IOMMU_TEST_CMD, MD_CHECK_MAP,
 * a kernel ABI, not libsva's): no libsva call reads memory as a device.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <sva/sva.h>

#include "../tap.h"
#include "mock_sees.h"
#include "ktest_proc.h"
#include "edu_find.h"

/* Which sanitizer the test is built with (gcc says so one way, clang another). */
#if defined(__SANITIZE_THREAD__)
#define BT_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define BT_TSAN 1
#endif
#endif

#define PG 4096ul
/* Low addresses, inside the mock's aperture (16 MiB to 2 GiB): each part of
 * the test maps its own 1 MiB there. */
#define AREA(n) ((uint64_t)0x48000000ull + (uint64_t)(n) * 0x100000ull)
#define GLOBAL_MIN SVA_GLOBAL_PASID_MIN_DEFAULT

/* ------------------------------------------------------------ the log */

static struct {
	int n[6];
	char last[512];
} lines;
static pthread_mutex_t lines_lock = PTHREAD_MUTEX_INITIALIZER;

static void count_line(void *arg, enum sva_log_level level, const char *msg)
{
	(void)arg;
	pthread_mutex_lock(&lines_lock);
	if ((int)level >= 0 && (int)level < 6)
		lines.n[level]++;
	snprintf(lines.last, sizeof(lines.last), "%s", msg);
	pthread_mutex_unlock(&lines_lock);
}

static void lines_reset(void)
{
	pthread_mutex_lock(&lines_lock);
	memset(&lines, 0, sizeof(lines));
	pthread_mutex_unlock(&lines_lock);
}

static int lines_at(enum sva_log_level l)
{
	int n;

	pthread_mutex_lock(&lines_lock);
	n = lines.n[l];
	pthread_mutex_unlock(&lines_lock);
	return n;
}

static int lines_total(void)
{
	int t = 0;

	pthread_mutex_lock(&lines_lock);
	for (int i = 0; i < 6; i++)
		t += lines.n[i];
	pthread_mutex_unlock(&lines_lock);
	return t;
}

static const char *last_line(void)
{
	static char copy[512];

	pthread_mutex_lock(&lines_lock);
	snprintf(copy, sizeof(copy), "%s", lines.last);
	pthread_mutex_unlock(&lines_lock);
	return copy;
}

/* ------------------------------------------------------------ helpers */

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static int count_fds(void)
{
	return ktest_count_fds();
}

static int wait_child(pid_t pid)
{
	int st;

	if (pid < 0 || waitpid(pid, &st, 0) != pid)
		return -1;
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

static struct sva_ctx *new_ctx_opts(struct sva_ctx_opts *o)
{
	struct sva_ctx *ctx = NULL;
	int ret;

	o->size = sizeof(*o);
	o->log_fn = count_line;
	/* make check sets SVA_LOG=off: the lines this test counts are asked for */
	o->log_level = SVA_LOG_DEBUG;
	ret = sva_ctx_new(o, &ctx);
	if (ret)
		tap_bail("sva_ctx_new: %s", strerror(-ret));
	return ctx;
}

/* A long grace: a released PASID stays in quarantine until a barrier, so the
 * checks of "a new PASID" do not race a slow (TCG) clock. */
static struct sva_ctx *new_ctx(uint32_t flags)
{
	struct sva_ctx_opts o = { .flags = flags, .pasid_grace_ns = UINT64_MAX };

	return new_ctx_opts(&o);
}

static struct sva_dev *new_mock(struct sva_ctx *ctx, uint32_t flags)
{
	struct sva_mock_opts o = { .size = sizeof(o), .flags = flags };
	struct sva_dev *dev = NULL;
	int ret = sva_dev_open_mock(ctx, &o, &dev);

	if (ret)
		tap_bail("sva_dev_open_mock: %s", strerror(-ret));
	return dev;
}

static struct sva_mm *new_mm(struct sva_ctx *ctx, uint32_t flags)
{
	struct sva_mm_opts o = { .size = sizeof(o), .flags = flags };
	struct sva_mm *mm = NULL;
	int ret = sva_mm_new(ctx, &o, &mm);

	if (ret)
		tap_bail("sva_mm_new: %s", strerror(-ret));
	return mm;
}

/* `len` bytes of fresh anonymous memory at exactly `addr`, every page written. */
static void *map_at(uint64_t addr, size_t len, int prot)
{
	void *p = mmap((void *)(uintptr_t)addr, len, prot | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE,
		       -1, 0);

	if (p == MAP_FAILED || p != (void *)(uintptr_t)addr)
		tap_bail("mmap at %#llx: %s", (unsigned long long)addr, strerror(errno));
	for (size_t off = 0; off < len; off += PG)
		((volatile unsigned char *)p)[off] = (unsigned char)(off / PG + 1);
	if (!(prot & PROT_WRITE))
		mprotect(p, len, prot);
	return p;
}

static struct sva_bond_stats bstats(const struct sva_bond *b)
{
	struct sva_bond_stats st = { .size = sizeof(st) };

	if (sva_bond_stats(b, &st))
		memset(&st, 0xff, sizeof(st));
	return st;
}

static struct sva_pasid_stats pstats(const struct sva_pasid_space *s)
{
	struct sva_pasid_stats st = { .size = sizeof(st) };

	if (!s || sva_pasid_stats(s, &st))
		memset(&st, 0xff, sizeof(st));
	return st;
}

static uint32_t dev_flags(const struct sva_dev *dev)
{
	struct sva_dev_info info = { .size = sizeof(info) };

	return sva_dev_get_info(dev, &info) ? 0xffffffffu : info.flags;
}

/*
 * sva_dev_inject_fault(3), EXAMPLES, as written: inject a fault on the bond's
 * PASID and wait until libsva has handled it.  0, or -ETIMEDOUT.
 */
static int inject_and_wait(struct sva_ctx *ctx, struct sva_dev *dev, struct sva_bond *bond, uint64_t addr,
			   uint32_t perm, bool poll_mode, int timeout_ms)
{
	struct sva_bond_stats st = { .size = sizeof(st) };
	uint32_t pasid = sva_bond_pasid(bond);
	uint64_t before, end;
	int ret;

	sva_bond_stats(bond, &st);
	before = st.faults;
	ret = sva_dev_inject_fault(dev, pasid == SVA_PASID_RID ? 0 : pasid, addr, perm, 0);
	if (ret)
		return ret;
	/* bounded by the clock, not a count of polls: TSan under TCG is slow */
	for (end = now_ms() + (uint64_t)timeout_ms; now_ms() < end;) {
		if (poll_mode)
			sva_ctx_process_faults(ctx, 64);
		sva_bond_stats(bond, &st);
		if (st.faults > before)
			return 0;
		usleep(1000);
	}
	return -ETIMEDOUT;
}

/* A fault answered SUCCESS: handled, and not counted invalid. */
static bool resolves(struct sva_ctx *ctx, struct sva_dev *dev, struct sva_bond *b, uint64_t addr, uint32_t perm)
{
	uint64_t inv = bstats(b).invalid;
	int ret = inject_and_wait(ctx, dev, b, addr, perm, false, 5000);

	if (ret || bstats(b).invalid != inv)
		diag("fault at %#llx: %d, invalid %llu -> %llu", (unsigned long long)addr, ret, (unsigned long long)inv,
		     (unsigned long long)bstats(b).invalid);
	return ret == 0 && bstats(b).invalid == inv;
}

/* ------------------------------------------ the device's view (kernel ABI) */


/* ------------------------------------------------ failed binds change nothing */

struct snap {
	int fds;
	struct sva_pasid_stats g, d1, d2;
	int rid1;
	uint32_t flags1, flags_dev;
};

static struct sva_dev *snap_d1, *snap_d2;
static struct sva_ctx *snap_ctx;

static struct snap take_snap(void)
{
	struct snap s;

	memset(&s, 0, sizeof(s));
	s.fds = count_fds();
	s.g = pstats(sva_ctx_global_pasids(snap_ctx));
	s.d1 = pstats(sva_dev_pasids(snap_d1));
	s.d2 = pstats(sva_dev_pasids(snap_d2));
	s.rid1 = sva_dev_bond_lookup(snap_d1, SVA_PASID_RID, NULL, NULL);
	s.flags1 = dev_flags(snap_d1);
	return s;
}

static bool same_pstats(const struct sva_pasid_stats *a, const struct sva_pasid_stats *b)
{
	return a->allocated == b->allocated && a->quarantined == b->quarantined && a->free == b->free;
}

#define SENTINEL_BOND ((struct sva_bond *)0x5a5a)

/* sva_bind() fails with `want`: *out untouched, one error line (debug only for
 * -ENOSPC), and the device, its PASID spaces and the descriptors as before. */
static void bind_fails(struct sva_dev *dev, struct sva_mm *mm, const struct sva_bind_opts *o, int want, const char *why)
{
	struct sva_bond *b = SENTINEL_BOND;
	struct snap before, after;
	int ret;

	/* A fault thread a bind before this one started may not have made and
	 * closed its ring's descriptor yet (sva_bind(3)): not this bind's. */
	/* Any number: this runs in contexts with and without a fault thread.
	 * The shared name, not a literal, since a wrong one settles at once. */
	ret = ktest_fault_threads_settle(KTEST_FAULT_THREAD, KTEST_THREADS_ANY, 10000);
	if (ret)
		diag("the fault thread is not in its wait after 10 s (%s): the descriptor count may be off",
		     strerror(-ret));
	before = take_snap();
	before.flags_dev = dev_flags(dev);
	lines_reset();
	ret = sva_bind(dev, mm, o, &b);
	after = take_snap();
	after.flags_dev = dev_flags(dev);
	ok(ret == want, "sva_bind (%s): %d, want %d", why, ret, want);
	ok(b == SENTINEL_BOND, "  *out untouched");
	if (want == -ENOSPC)
		ok(lines_at(SVA_LOG_ERROR) == 0 && lines_at(SVA_LOG_DEBUG) >= 1,
		   "  -ENOSPC logged at debug level only (error %d, debug %d)", lines_at(SVA_LOG_ERROR),
		   lines_at(SVA_LOG_DEBUG));
	else
		ok(lines_at(SVA_LOG_ERROR) == 1, "  one line at error level (%d): %s", lines_at(SVA_LOG_ERROR),
		   last_line());
	ok(after.fds == before.fds, "  no descriptor made (%d -> %d)", before.fds, after.fds);
	ok(same_pstats(&after.g, &before.g) && same_pstats(&after.d1, &before.d1) && same_pstats(&after.d2, &before.d2),
	   "  every PASID space as it was (global %llu/%llu -> %llu/%llu allocated/quarantined)",
	   (unsigned long long)before.g.allocated, (unsigned long long)before.g.quarantined,
	   (unsigned long long)after.g.allocated, (unsigned long long)after.g.quarantined);
	ok(after.rid1 == before.rid1 && after.flags1 == before.flags1 && after.flags_dev == before.flags_dev,
	   "  the device's RID bond and flags as they were (%#x -> %#x)", before.flags_dev, after.flags_dev);
	if (ret == 0 && b != SENTINEL_BOND)
		sva_unbind(b);
}

static struct sva_bond *bind_ok(struct sva_dev *dev, struct sva_mm *mm, const struct sva_bind_opts *o, const char *why)
{
	struct sva_bond *b = NULL;
	int ret = sva_bind(dev, mm, o, &b);

	ok(ret == 0 && b, "sva_bind (%s): %d", why, ret);
	return ret ? NULL : b;
}

/* ------------------------------------------------------------- host part */

static void null_checks(void)
{
	struct sva_bond *b = SENTINEL_BOND, *lb = SENTINEL_BOND;
	void *d = (void *)1;

	ok(sva_bind(NULL, NULL, NULL, &b) == -EINVAL && b == SENTINEL_BOND, "sva_bind(NULL dev): -EINVAL, *out untouched");
	ok(sva_unbind(NULL) == -EINVAL, "sva_unbind(NULL): -EINVAL");
	ok(sva_bond_pasid(NULL) == SVA_PASID_RID, "sva_bond_pasid(NULL): SVA_PASID_RID");
	ok(sva_bond_drvdata(NULL) == NULL, "sva_bond_drvdata(NULL): NULL");
	ok(sva_dev_bond_lookup(NULL, 300, &lb, &d) == -EINVAL && lb == SENTINEL_BOND && d == (void *)1,
	   "sva_dev_bond_lookup(NULL dev): -EINVAL, nothing stored");
	ok(sva_dev_bond_lookup(NULL, SVA_PASID_RID, NULL, NULL) == -EINVAL, "sva_dev_bond_lookup(NULL, RID): -EINVAL");
	ok(sva_dev_inject_fault(NULL, 300, AREA(0), SVA_ACCESS_READ, 0) == -EINVAL, "sva_dev_inject_fault(NULL): -EINVAL");
	ok(sva_dev_inject_fault(NULL, 300, AREA(0), 0, 0) == -EINVAL, "sva_dev_inject_fault(NULL, perm 0): -EINVAL");
}

/* ------------------------------------------------------------- arguments */

static void arg_checks(struct sva_ctx *ctx, struct sva_dev *d1, struct sva_mm *mm)
{
	unsigned char big[sizeof(struct sva_bind_opts) + 16];
	unsigned char bigops[sizeof(struct sva_bond_ops) + 16];
	struct sva_bind_opts o;
	struct sva_bond_ops ops = { .size = sizeof(ops) };
	struct sva_ctx *other = new_ctx(0);
	struct sva_mm *omm = new_mm(other, 0);
	struct sva_dev *odev = new_mock(other, 0);
	struct sva_bond *b = SENTINEL_BOND;
	int fds;

	sva_ctx_set_log(other, count_line, NULL, SVA_LOG_DEBUG);
	/* NULL dev/mm/out: no line promised (unlike a bad opts); only the rest */
	lines_reset();
	ok(sva_bind(NULL, mm, NULL, &b) == -EINVAL && b == SENTINEL_BOND, "sva_bind(NULL dev, mm): -EINVAL");
	ok(sva_bind(d1, NULL, NULL, &b) == -EINVAL && b == SENTINEL_BOND, "sva_bind(dev, NULL mm): -EINVAL");
	fds = count_fds();
	ok(sva_bind(d1, mm, NULL, NULL) == -EINVAL, "sva_bind(NULL out): -EINVAL");
	ok(lines_at(SVA_LOG_ERROR) == 3, "  each logs one line at error level (%d)", lines_at(SVA_LOG_ERROR));
	lines_reset();
	ok(sva_unbind(NULL) == -EINVAL && lines_total() == 0,
	   "sva_unbind(NULL): -EINVAL, nothing on a context's log (a NULL bond has none: libsva(7), Errors)");
	ok(count_fds() == fds && sva_dev_bond_lookup(d1, SVA_PASID_RID, NULL, NULL) == -ENOENT,
	   "  and no fault queue made, nothing bound");

	o = (struct sva_bind_opts){ .size = 0 };
	bind_fails(d1, mm, &o, -EINVAL, "opts->size 0");
	o = (struct sva_bind_opts){ .size = offsetof(struct sva_bind_opts, pasid) - 1 };
	bind_fails(d1, mm, &o, -EINVAL, "opts->size below the first layout");
	o = (struct sva_bind_opts){ .size = offsetof(struct sva_bind_opts, pasid) + 2 };
	bind_fails(d1, mm, &o, -EINVAL, "opts->size between the first layout and sizeof");
	memset(big, 0, sizeof(big));
	o = (struct sva_bind_opts){ .size = sizeof(big), .flags = SVA_BIND_PINNED };
	memcpy(big, &o, sizeof(o));
	big[sizeof(o) + 3] = 1;
	bind_fails(d1, mm, (struct sva_bind_opts *)(void *)big, -EINVAL, "opts larger, a non-zero byte beyond");
	o = (struct sva_bind_opts){ .size = sizeof(o), .flags = 1u << 4 };
	bind_fails(d1, mm, &o, -EINVAL, "an unknown flag bit (1 << 4)");
	o = (struct sva_bind_opts){ .size = sizeof(o), .flags = 1u << 31 };
	bind_fails(d1, mm, &o, -EINVAL, "an unknown flag bit (1 << 31)");
	o = (struct sva_bind_opts){ .size = sizeof(o), .flags = SVA_BIND_RID | SVA_BIND_PASID, .pasid = 300 };
	bind_fails(d1, mm, &o, -EINVAL, "SVA_BIND_RID | SVA_BIND_PASID");
	o = (struct sva_bind_opts){ .size = sizeof(o), .flags = SVA_BIND_RID | SVA_BIND_EXTRA_PASID };
	bind_fails(d1, mm, &o, -EINVAL, "SVA_BIND_RID | SVA_BIND_EXTRA_PASID");
	o = (struct sva_bind_opts){ .size = sizeof(o), .pasid = 300 };
	bind_fails(d1, mm, &o, -EINVAL, "opts->pasid without SVA_BIND_PASID");
	o = (struct sva_bind_opts){ .size = sizeof(o), .flags = SVA_BIND_RID, .pasid = 300 };
	bind_fails(d1, mm, &o, -EINVAL, "opts->pasid with SVA_BIND_RID");
	o = (struct sva_bind_opts){ .size = sizeof(o), .reserved = 1 };
	bind_fails(d1, mm, &o, -EINVAL, "opts->reserved 1");
	o = (struct sva_bind_opts){ .size = sizeof(o), .policy = (enum sva_pasid_policy)7 };
	bind_fails(d1, mm, &o, -EINVAL, "opts->policy 7");
	o = (struct sva_bind_opts){ .size = sizeof(o), .ops = &ops };
	ops.size = 0;
	bind_fails(d1, mm, &o, -EINVAL, "ops->size 0");
	ops.size = sizeof(ops) - 1;
	bind_fails(d1, mm, &o, -EINVAL, "ops->size sizeof - 1");
	memset(bigops, 0, sizeof(bigops));
	ops.size = sizeof(bigops);
	memcpy(bigops, &ops, sizeof(ops));
	bigops[sizeof(ops) + 5] = 1;
	o.ops = (const struct sva_bond_ops *)(void *)bigops;
	bind_fails(d1, mm, &o, -EINVAL, "ops larger, a non-zero byte beyond");
	o = (struct sva_bind_opts){ .size = sizeof(o) };
	bind_fails(d1, omm, &o, -EINVAL, "dev and mm of different contexts");
	bind_fails(odev, mm, &o, -EINVAL, "dev of another context than mm");

	/* What the same checks accept. */
	{
		struct sva_bond *x = NULL;
		struct sva_bond_ops zops = { .size = sizeof(zops) };
		int ret;

		/* a larger opts whose extra bytes are zero; a larger ops likewise */
		memset(big, 0, sizeof(big));
		o = (struct sva_bind_opts){ .size = sizeof(big), .flags = SVA_BIND_PINNED, .drvdata = big };
		memcpy(big, &o, sizeof(o));
		ret = sva_bind(d1, mm, (struct sva_bind_opts *)(void *)big, &x);
		ok(ret == 0 && sva_bond_drvdata(x) == big, "a larger opts with zero bytes beyond is taken (%d)", ret);
		if (!ret)
			sva_unbind(x);
		memset(bigops, 0, sizeof(bigops));
		zops.size = sizeof(bigops);
		memcpy(bigops, &zops, sizeof(zops));
		o = (struct sva_bind_opts){ .size = sizeof(o), .flags = SVA_BIND_PINNED,
					    .ops = (const struct sva_bond_ops *)(void *)bigops };
		ret = sva_bind(d1, mm, &o, &x);
		ok(ret == 0, "a larger ops with zero bytes beyond is taken (%d)", ret);
		if (!ret)
			sva_unbind(x);
		/* the first layout (before pasid): pasid reads as 0 */
		o = (struct sva_bind_opts){ .size = offsetof(struct sva_bind_opts, pasid), .flags = SVA_BIND_PINNED,
					    .pasid = 12345, .reserved = 7 };
		ret = sva_bind(d1, mm, &o, &x);
		ok(ret == 0 && sva_bond_pasid(x) >= GLOBAL_MIN,
		   "opts of the first layout: pasid and reserved beyond it unread (%d, PASID %u)", ret,
		   ret ? 0 : sva_bond_pasid(x));
		if (!ret)
			sva_unbind(x);
		/* policy is checked only where it is used */
		o = (struct sva_bind_opts){ .size = sizeof(o), .flags = SVA_BIND_RID | SVA_BIND_PINNED,
					    .policy = (enum sva_pasid_policy)7 };
		ret = sva_bind(d1, mm, &o, &x);
		ok(ret == 0 && sva_bond_pasid(x) == SVA_PASID_RID, "SVA_BIND_RID ignores a bad policy (%d)", ret);
		if (!ret)
			sva_unbind(x);
		/* That the ops structure is copied (it need not outlive the call)
		 * is checked in tests/unit/test-bind-contract.c, where a backend
		 * can change and free it and see what the bond calls. */
	}
	sva_dev_close(odev);
	sva_mm_free(omm);
	sva_ctx_free(other);
	(void)ctx;
}

/* -------------------------------------------------- kinds, PASIDs, lookups */

static void kind_checks(struct sva_ctx *ctx, struct sva_dev *d1, struct sva_dev *d2)
{
	struct sva_mm *mm = new_mm(ctx, 0), *mm2 = new_mm(ctx, 0);
	unsigned char *buf = map_at(AREA(1), 0x100000, PROT_READ | PROT_WRITE);
	int drv1, drv2, drv3, drv4;
	struct sva_bind_opts o;
	struct sva_bond *b1, *b2, *bx, *br, *lb;
	void *ld;
	uint32_t g, x;
	int fds = count_fds(), ret;
	struct sva_pasid_stats gs;

	snap_d1 = d1, snap_d2 = d2, snap_ctx = ctx;
	lines_reset();
	/* NULL opts: a fault-capable PASID bond under SVA_PASID_AUTO */
	b1 = bind_ok(d1, mm, NULL, "NULL opts");
	if (!b1)
		return;
	ok(lines_at(SVA_LOG_INFO) >= 1, "  an INFO line records the bond (%d)", lines_at(SVA_LOG_INFO));
	g = sva_bond_pasid(b1);
	ok(g >= GLOBAL_MIN && g <= SVA_PASID_MAX, "  under the global PASID of the address space (%u)", g);
	ok(sva_bond_drvdata(b1) == NULL, "  drvdata NULL");
	ok(count_fds() > fds, "  the first fault-capable bind made the fault queue (fds %d -> %d)", fds, count_fds());
	ok(dev_flags(d1) & SVA_DEV_ATTACHED, "  the RID is parked: SVA_DEV_ATTACHED");
	ok(sva_dev_bond_lookup(d1, SVA_PASID_RID, NULL, NULL) == -ENOENT, "  parking is not a RID bond (lookup -ENOENT)");
	lb = NULL, ld = (void *)1;
	ok(sva_dev_bond_lookup(d1, g, &lb, &ld) == 0 && lb == b1 && ld == NULL, "  sva_dev_bond_lookup finds it");
	ok(resolves(ctx, d1, b1, AREA(1), SVA_ACCESS_READ | SVA_ACCESS_WRITE), "  a fault on it is resolved");
	ok(mock_sees(ctx, buf), "  and the device reaches the process's page at IOVA == VA");
	ok(bstats(b1).pages_mapped >= 1 && bstats(b1).faults == 1 && bstats(b1).groups == 1,
	   "  counted: faults 1, groups 1, pages_mapped %llu", (unsigned long long)bstats(b1).pages_mapped);

	/* -EEXIST: one PASID bond of a device on one address space */
	o = (struct sva_bind_opts){ .size = sizeof(o) };
	bind_fails(d1, mm, &o, -EEXIST, "a second AUTO bond of d1 on mm");
	o = (struct sva_bind_opts){ .size = sizeof(o), .policy = SVA_PASID_DEVICE };
	bind_fails(d1, mm, &o, -EEXIST, "a second bond of d1 on mm, DEVICE policy");
	o = (struct sva_bind_opts){ .size = sizeof(o), .flags = SVA_BIND_PASID, .pasid = g };
	bind_fails(d1, mm, &o, -EEXIST, "SVA_BIND_PASID under the very PASID it has on mm");
	o = (struct sva_bind_opts){ .size = sizeof(o), .flags = SVA_BIND_PINNED };
	bind_fails(d1, mm, &o, -EEXIST, "a pinned bond of d1 on mm next to a fault-capable one");

	/* SVA_BIND_EXTRA_PASID: a private PASID, its own drvdata */
	o = (struct sva_bind_opts){ .size = sizeof(o), .flags = SVA_BIND_EXTRA_PASID, .drvdata = &drv3 };
	bx = bind_ok(d1, mm, &o, "SVA_BIND_EXTRA_PASID");
	x = sva_bond_pasid(bx);
	ok(bx && x != g && x != SVA_PASID_RID, "  a private PASID (%u), not the global one (%u)", x, g);
	ld = NULL;
	ok(sva_dev_bond_lookup(d1, x, &lb, &ld) == 0 && lb == bx && ld == &drv3, "  lookup of it: its bond and drvdata");
	ok(sva_dev_bond_lookup(d1, g, &lb, &ld) == 0 && lb == b1 && ld == NULL, "  lookup of the global one: the first");
	ok(bx && resolves(ctx, d1, bx, AREA(1) + 0x80000, SVA_ACCESS_READ), "  faults under the private PASID resolve");
	o = (struct sva_bind_opts){ .size = sizeof(o), .flags = SVA_BIND_PASID, .pasid = x };
	bind_fails(d2, mm, &o, -EBUSY, "SVA_BIND_PASID under another bond's private PASID");
	o = (struct sva_bind_opts){ .size = sizeof(o), .flags = SVA_BIND_PASID | SVA_BIND_EXTRA_PASID, .pasid = g };
	bind_fails(d1, mm, &o, -EBUSY, "EXTRA|PASID under the global PASID d1 already has a bond under");
	ok(bx && sva_unbind(bx) == 0 && sva_dev_bond_lookup(d1, x, NULL, NULL) == -ENOENT,
	   "unbind the EXTRA bond: its PASID is gone from d1's lookups");
	ok(sva_dev_bond_lookup(d1, g, &lb, NULL) == 0 && lb == b1, "  the global bond stays");

	o = (struct sva_bind_opts){ .size = sizeof(o), .flags = SVA_BIND_EXTRA_PASID | SVA_BIND_PINNED,
				    .policy = SVA_PASID_GLOBAL };
	{
		struct sva_bond *e = bind_ok(d1, mm, &o, "EXTRA with SVA_PASID_GLOBAL");

		ok(e && sva_bond_pasid(e) >= GLOBAL_MIN && sva_bond_pasid(e) != g && sva_bond_pasid(e) != x,
		   "  a new private PASID of the global range (%u)", e ? sva_bond_pasid(e) : 0);
		if (e)
			sva_unbind(e);
		o.policy = SVA_PASID_DEVICE;
		e = bind_ok(d1, mm, &o, "EXTRA with SVA_PASID_DEVICE");
		ok(e && sva_bond_pasid(e) < GLOBAL_MIN, "  a new private PASID of the device's own (%u)",
		   e ? sva_bond_pasid(e) : 0);
		if (e)
			sva_unbind(e);
		o.policy = SVA_PASID_AUTO;
		e = bind_ok(d2, mm, &o, "EXTRA on a device with no bond on mm yet");
		ok(e && sva_bond_pasid(e) != g, "  private all the same: not the global PASID (%u, %u)",
		   e ? sva_bond_pasid(e) : 0, g);
		if (e)
			sva_unbind(e);
	}

	/* one global PASID on two devices */
	o = (struct sva_bind_opts){ .size = sizeof(o), .drvdata = &drv2 };
	b2 = bind_ok(d2, mm, &o, "mm on a second device (AUTO)");
	ok(b2 && sva_bond_pasid(b2) == g, "  under the same global PASID (%u, %u)", b2 ? sva_bond_pasid(b2) : 0, g);
	ok(sva_dev_bond_lookup(d2, g, &lb, &ld) == 0 && lb == b2 && ld == &drv2 &&
		   sva_dev_bond_lookup(d1, g, &lb, &ld) == 0 && lb == b1 && ld == NULL,
	   "  each device finds its own bond and drvdata under it");
	ok(sva_dev_bond_lookup(d2, x, NULL, NULL) == -ENOENT, "  d2 finds nothing under d1's private PASID");
	{
		uint64_t f1 = bstats(b1).faults;

		ok(b2 && resolves(ctx, d2, b2, AREA(1) + 0x40000, SVA_ACCESS_WRITE),
		   "  d2's fault under the shared PASID resolves");
		ok(b2 && bstats(b2).faults == 1 && bstats(b1).faults == f1, "  counted on d2's bond, not d1's");
	}
	{
		void *gd = (void *)1;

		ok(sva_pasid_lookup(sva_ctx_global_pasids(ctx), g, &gd) == 0 && gd == NULL,
		   "sva_pasid_lookup on the global space: the earliest bond's drvdata (d1's, NULL)");
	}
	/* d1's unbind leaves d2's bond under the value */
	gs = pstats(sva_ctx_global_pasids(ctx));
	ok(sva_unbind(b1) == 0, "unbind d1's global bond");
	ok(sva_dev_bond_lookup(d1, g, NULL, NULL) == -ENOENT, "  d1 finds nothing under the value");
	ok(sva_dev_bond_lookup(d2, g, &lb, NULL) == 0 && lb == b2, "  d2's bond stays under it");
	ok(sva_pasid_lookup(sva_ctx_global_pasids(ctx), g, &ld) == 0 && ld == &drv2,
	   "  sva_pasid_lookup on the global space: now d2's drvdata");
	ok(pstats(sva_ctx_global_pasids(ctx)).allocated == gs.allocated, "  the value stays allocated (%llu)",
	   (unsigned long long)gs.allocated);
	ok(b2 && resolves(ctx, d2, b2, AREA(1) + 0x50000, SVA_ACCESS_READ), "  d2's faults under it still resolve");
	o = (struct sva_bind_opts){ .size = sizeof(o), .drvdata = &drv1 };
	b1 = bind_ok(d1, mm, &o, "rebind d1 while d2 holds the value");
	ok(b1 && sva_bond_pasid(b1) == g, "  the same global PASID again (%u)", b1 ? sva_bond_pasid(b1) : 0);
	ok(b1 && sva_unbind(b1) == 0 && sva_unbind(b2) == 0, "unbind both");
	{
		struct sva_pasid_stats now = pstats(sva_ctx_global_pasids(ctx));

		ok(now.allocated == gs.allocated - 1 && now.quarantined == gs.quarantined + 1,
		   "  the last unbind put the value into quarantine (allocated %llu -> %llu, quarantined %llu -> %llu)",
		   (unsigned long long)gs.allocated, (unsigned long long)now.allocated,
		   (unsigned long long)gs.quarantined, (unsigned long long)now.quarantined);
	}
	ok(sva_dev_bond_lookup(d2, g, NULL, NULL) == -ENOENT && sva_dev_pasid_lookup(d2, g, NULL) == -ENOENT,
	   "  lookups on either device find nothing");
	b1 = bind_ok(d1, mm, NULL, "rebind after the last unbind");
	ok(b1 && sva_bond_pasid(b1) != g && sva_bond_pasid(b1) >= GLOBAL_MIN,
	   "  a new global PASID (%u, the old %u is in quarantine)", b1 ? sva_bond_pasid(b1) : 0, g);
	if (b1)
		g = sva_bond_pasid(b1);
	ok(b1 && resolves(ctx, d1, b1, AREA(1) + 0x60000, SVA_ACCESS_READ), "  and its faults resolve");

	/* policies */
	o = (struct sva_bind_opts){ .size = sizeof(o), .policy = SVA_PASID_GLOBAL };
	b2 = bind_ok(d2, mm, &o, "SVA_PASID_GLOBAL on d2");
	ok(b2 && sva_bond_pasid(b2) == g, "  the address space's global PASID");
	if (b2)
		sva_unbind(b2);
	o = (struct sva_bind_opts){ .size = sizeof(o), .policy = SVA_PASID_DEVICE, .drvdata = &drv4 };
	b2 = bind_ok(d2, mm, &o, "SVA_PASID_DEVICE on d2");
	ok(b2 && sva_bond_pasid(b2) < GLOBAL_MIN && sva_bond_pasid(b2) > 0, "  one of d2's own numbers (%u)",
	   b2 ? sva_bond_pasid(b2) : 0);
	ok(b2 && sva_dev_pasid_lookup(d2, sva_bond_pasid(b2), &ld) == 0 && ld == &drv4,
	   "  sva_dev_pasid_lookup on the device finds the bond's drvdata");
	ok(b2 && sva_dev_pasid_free(d2, sva_bond_pasid(b2)) == -EBUSY, "  sva_dev_pasid_free refuses it: -EBUSY");
	ok(b2 && sva_dev_bond_lookup(d1, sva_bond_pasid(b2), NULL, NULL) == -ENOENT,
	   "  d1 finds nothing under d2's own number");
	if (b2) {
		uint32_t p = sva_bond_pasid(b2);
		struct sva_pasid_stats before = pstats(sva_dev_pasids(d2)), after;

		sva_unbind(b2);
		after = pstats(sva_dev_pasids(d2));
		ok(after.allocated == before.allocated - 1 && after.quarantined == before.quarantined + 1,
		   "  its unbind puts the private PASID into quarantine");
		ok(sva_dev_pasid_lookup(d2, p, NULL) == -ENOENT, "  and it is gone from the device's lookups");
	}

	/* SVA_BIND_PASID */
	{
		uint32_t p = 0, pg = 0, free_own;
		int pdrv;

		ok(sva_dev_pasid_alloc(d2, SVA_PASID_DEVICE, &pdrv, &p) == 0 && p > 0 && p < GLOBAL_MIN,
		   "allocate d2's own PASID %u", p);
		o = (struct sva_bind_opts){ .size = sizeof(o), .flags = SVA_BIND_PASID, .pasid = p,
					    .policy = (enum sva_pasid_policy)7, .drvdata = &drv2 };
		b2 = bind_ok(d2, mm, &o, "SVA_BIND_PASID under it (policy ignored)");
		ok(b2 && sva_bond_pasid(b2) == p, "  the bond's PASID is opts->pasid");
		ok(sva_dev_pasid_lookup(d2, p, &ld) == 0 && ld == &drv2, "  the device's lookup gives the bond's drvdata");
		ok(sva_dev_pasid_free(d2, p) == -EBUSY, "  sva_dev_pasid_free refuses it while bound: -EBUSY");
		o = (struct sva_bind_opts){ .size = sizeof(o), .flags = SVA_BIND_PASID, .pasid = p };
		bind_fails(d2, mm2, &o, -EBUSY, "SVA_BIND_PASID under a value bound to another address space");
		bind_fails(d1, mm2, &o, -ENOENT, "SVA_BIND_PASID under another device's own number");
		if (b2)
			sva_unbind(b2);
		ok(sva_dev_pasid_lookup(d2, p, &ld) == 0 && ld == &pdrv,
		   "  after the unbind it is the driver's allocation again, with its drvdata");
		ok(sva_dev_pasid_free(d2, p) == 0, "  which the driver frees");
		/* a free own number, for -ENOENT */
		free_own = p;
		o = (struct sva_bind_opts){ .size = sizeof(o), .flags = SVA_BIND_PASID, .pasid = free_own };
		bind_fails(d2, mm, &o, -ENOENT, "SVA_BIND_PASID under a freed value");
		o.pasid = 4000;
		bind_fails(d2, mm, &o, -ENOENT, "SVA_BIND_PASID under a global value never allocated");
		o.pasid = 0;
		bind_fails(d2, mm, &o, -ERANGE, "SVA_BIND_PASID under 0");
		o.pasid = SVA_PASID_MAX + 1;
		bind_fails(d2, mm, &o, -ERANGE, "SVA_BIND_PASID beyond the PASID width");
		o.pasid = SVA_PASID_RID;
		bind_fails(d2, mm, &o, -ERANGE, "SVA_BIND_PASID under SVA_PASID_RID");
		/* a global value through one device, bound on two */
		ok(sva_dev_pasid_alloc(d1, SVA_PASID_GLOBAL, &pdrv, &pg) == 0 && pg >= GLOBAL_MIN,
		   "allocate a global PASID %u through d1", pg);
		o = (struct sva_bind_opts){ .size = sizeof(o), .flags = SVA_BIND_PASID, .pasid = pg, .drvdata = &drv3 };
		b2 = bind_ok(d2, mm2, &o, "SVA_BIND_PASID on d2 under it (allocated through d1)");
		o.drvdata = &drv4;
		bx = NULL;
		{
			struct sva_bond *b3 = bind_ok(d1, mm2, &o, "and on d1, the same address space");

			ok(sva_pasid_lookup(sva_ctx_global_pasids(ctx), pg, &ld) == 0 && ld == &pdrv,
			   "  sva_pasid_lookup on the global space: the drvdata the driver gave the allocation");
			ok(b3 && sva_dev_bond_lookup(d1, pg, &lb, &ld) == 0 && lb == b3 && ld == &drv4 &&
				   sva_dev_bond_lookup(d2, pg, &lb, &ld) == 0 && lb == b2 && ld == &drv3,
			   "  each device finds its own bond under the value");
			o.drvdata = NULL;
			{
				struct sva_mm *mm3 = new_mm(ctx, 0);

				bind_fails(d1, mm3, &o, -EBUSY, "SVA_BIND_PASID under it for another address space");
				sva_mm_free(mm3);
			}
			o.flags |= SVA_BIND_EXTRA_PASID;
			bind_fails(d1, mm2, &o, -EBUSY, "EXTRA|PASID under it where d1 has a bond under it");
			if (b3)
				sva_unbind(b3);
		}
		ok(sva_dev_pasid_free(d1, pg) == -EBUSY, "  still bound on d2: free refused");
		ok(sva_dev_pasid_lookup(d1, pg, &ld) == -ENOENT,
		   "  d1, the allocating device, has no bond under it and the value is bound: -ENOENT");
		if (b2)
			sva_unbind(b2);
		ok(sva_dev_pasid_lookup(d1, pg, &ld) == 0 && ld == &pdrv && sva_dev_pasid_lookup(d2, pg, &ld) == -ENOENT,
		   "  after the last unbind: the allocating device finds the allocation, the other nothing");
		ok(sva_dev_pasid_free(d1, pg) == 0, "  after the last unbind the driver frees it");
		/* EXTRA|PASID under the address space's global PASID, on a device that has no bond on mm */
		o = (struct sva_bind_opts){ .size = sizeof(o), .flags = SVA_BIND_PASID | SVA_BIND_EXTRA_PASID, .pasid = g };
		b2 = bind_ok(d2, mm, &o, "EXTRA|PASID under mm's global PASID on d2");
		ok(b2 && sva_bond_pasid(b2) == g, "  the bond's PASID is opts->pasid, the global one");
		if (b2)
			sva_unbind(b2);
		o = (struct sva_bind_opts){ .size = sizeof(o), .flags = SVA_BIND_PASID, .pasid = g };
		b2 = bind_ok(d2, mm, &o, "SVA_BIND_PASID under mm's global PASID on d2");
		ok(b2 && sva_bond_pasid(b2) == g, "  under it");
		if (b2)
			sva_unbind(b2);
	}

	/* RID bonds */
	o = (struct sva_bind_opts){ .size = sizeof(o), .flags = SVA_BIND_RID, .drvdata = &drv1 };
	br = bind_ok(d1, mm2, &o, "SVA_BIND_RID");
	ok(br && sva_bond_pasid(br) == SVA_PASID_RID, "  sva_bond_pasid: SVA_PASID_RID");
	ok(sva_dev_bond_lookup(d1, SVA_PASID_RID, &lb, &ld) == 0 && lb == br && ld == &drv1,
	   "  sva_dev_bond_lookup(SVA_PASID_RID) finds it");
	o = (struct sva_bind_opts){ .size = sizeof(o), .flags = SVA_BIND_RID | SVA_BIND_PINNED };
	bind_fails(d1, mm, &o, -EBUSY, "a second RID bond");
	ok(br && resolves(ctx, d1, br, AREA(1) + 0x70000, SVA_ACCESS_READ), "  a fault on the RID (pasid 0) resolves");
	ok(b1 && resolves(ctx, d1, b1, AREA(1) + 0x90000, SVA_ACCESS_READ), "  PASID bonds work beside it");
	ret = br ? sva_unbind(br) : -1;
	ok(ret == 0 && sva_dev_bond_lookup(d1, SVA_PASID_RID, NULL, NULL) == -ENOENT, "unbind the RID bond: lookup -ENOENT");
	ok(dev_flags(d1) & SVA_DEV_ATTACHED, "  the RID is parked again (SVA_DEV_ATTACHED)");
	ok(b1 && resolves(ctx, d1, b1, AREA(1) + 0xa0000, SVA_ACCESS_READ), "  and the PASID bonds keep working");
	br = bind_ok(d1, mm2, &(struct sva_bind_opts){ .size = sizeof(o), .flags = SVA_BIND_RID }, "rebind the RID");
	if (br)
		sva_unbind(br);
	if (b1)
		sva_unbind(b1);
	ok(dev_flags(d1) & SVA_DEV_ATTACHED, "with no bond left the RID stays parked until sva_dev_close");

	/* pinned */
	o = (struct sva_bind_opts){ .size = sizeof(o), .flags = SVA_BIND_PINNED };
	b1 = bind_ok(d1, mm2, &o, "SVA_BIND_PINNED");
	ok(b1 && inject_and_wait(ctx, d1, b1, AREA(1) + 0xb0000, SVA_ACCESS_READ, false, 300) == -ETIMEDOUT,
	   "  a fault injected on a pinned bond is dropped, never counted");
	ok(!mock_sees(ctx, buf + 0xb0000), "  and maps nothing");
	ok(sva_mm_prefault(mm2, buf + 0xb0000, PG) == 0 && mock_sees(ctx, buf + 0xb0000),
	   "  prefaulted memory is what it sees");
	if (b1)
		sva_unbind(b1);
	sva_mm_free(mm2);
	sva_mm_free(mm);
	munmap(buf, 0x100000);
}

/* ------------------------------------------------- PASID spaces at their end */

static void space_checks(void)
{
	/* a global range of one value, and a device with one own number */
	struct sva_ctx_opts co = { .global_pasid_min = 256, .global_pasid_max = 256, .pasid_grace_ns = UINT64_MAX };
	struct sva_ctx *ctx = new_ctx_opts(&co);
	struct sva_dev *d1 = new_mock(ctx, 0), *d2 = new_mock(ctx, 0);
	struct sva_mm *m1 = new_mm(ctx, 0), *m2 = new_mm(ctx, 0), *m3 = new_mm(ctx, 0);
	struct sva_bind_opts o;
	struct sva_bond *b1, *b2, *b3;
	int ret;

	snap_ctx = ctx, snap_d1 = d1, snap_d2 = d2;
	ret = sva_dev_set_pasid_range(d1, 1, 1);
	ok(ret == 0, "d1's own range narrowed to {1} (%d)", ret);
	ok(sva_dev_bond_lookup(d1, 2, NULL, NULL) == -ERANGE, "sva_dev_bond_lookup beyond the narrowed own range: -ERANGE");
	ok(sva_dev_bond_lookup(d1, 1, NULL, NULL) == -ENOENT, "  inside it, nothing bound: -ENOENT");
	ok(sva_dev_bond_lookup(d1, 257, NULL, NULL) == -ERANGE, "  beyond the global range (256..256): -ERANGE");
	o = (struct sva_bind_opts){ .size = sizeof(o), .flags = SVA_BIND_PINNED };
	b1 = bind_ok(d1, m1, &o, "AUTO takes the one global PASID");
	ok(b1 && sva_bond_pasid(b1) == 256, "  256");
	b2 = bind_ok(d1, m2, &o, "AUTO with the global space full takes a device PASID");
	ok(b2 && sva_bond_pasid(b2) == 1, "  1");
	o.policy = SVA_PASID_GLOBAL;
	bind_fails(d1, m3, &o, -ENOSPC, "GLOBAL with the global space full");
	o.policy = SVA_PASID_DEVICE;
	bind_fails(d1, m3, &o, -ENOSPC, "DEVICE with the own space full");
	o.policy = SVA_PASID_AUTO;
	bind_fails(d1, m3, &o, -ENOSPC, "AUTO with both full");
	{
		struct sva_dev *d3 = new_mock(ctx, 0);

		snap_d2 = d3;
		o = (struct sva_bind_opts){ .size = sizeof(o), .flags = SVA_BIND_PINNED, .policy = SVA_PASID_GLOBAL };
		bind_fails(d3, m3, &o, -ENOSPC, "GLOBAL on a fresh device, global space full (its parking undone)");
		/* Fault-capable, in a context with no fault queue yet: a value
		 * the bind cannot take is refused before the queue and the
		 * thread are made (bind_fails counts the descriptors). */
		o = (struct sva_bind_opts){ .size = sizeof(o), .flags = SVA_BIND_PASID, .pasid = 256 };
		bind_fails(d3, m3, &o, -EBUSY, "fault-capable SVA_BIND_PASID, first of the context, under a value "
					       "bound to another mm");
		o = (struct sva_bind_opts){ .size = sizeof(o), .flags = SVA_BIND_PINNED | SVA_BIND_PASID, .pasid = 256 };
		bind_fails(d3, m3, &o, -EBUSY, "SVA_BIND_PASID on a fresh device under a value bound to another mm");
		o.pasid = 255;
		bind_fails(d3, m3, &o, -ENOENT, "SVA_BIND_PASID on a fresh device under a free own value");
		o = (struct sva_bind_opts){ .size = sizeof(o), .flags = SVA_BIND_RID | SVA_BIND_PINNED };
		{
			struct sva_bond *r = bind_ok(d3, m3, &o, "a RID bond on the fresh device");

			if (r)
				sva_unbind(r);
			ok(dev_flags(d3) & SVA_DEV_ATTACHED, "  its unbind parks the RID (a device with PASIDs)");
		}
		sva_dev_close(d3);
		snap_d2 = d2;
	}
	o = (struct sva_bind_opts){ .size = sizeof(o), .flags = SVA_BIND_PINNED, .pasid = 300 };
	o.flags |= SVA_BIND_PASID;
	bind_fails(d1, m3, &o, -ERANGE, "SVA_BIND_PASID above the global range");
	o.pasid = 2;
	bind_fails(d1, m3, &o, -ERANGE, "SVA_BIND_PASID beyond the narrowed own range");
	if (b2)
		sva_unbind(b2);
	o = (struct sva_bind_opts){ .size = sizeof(o), .flags = SVA_BIND_PINNED, .policy = SVA_PASID_DEVICE };
	bind_fails(d1, m3, &o, -ENOSPC, "DEVICE with its one number in quarantine (counts as taken)");
	ok(sva_pasid_barrier(sva_dev_pasids(d1)) >= 0, "sva_pasid_barrier on d1's space");
	b2 = bind_ok(d1, m3, &o, "DEVICE after the barrier");
	ok(b2 && sva_bond_pasid(b2) == 1, "  the number is back (%u)", b2 ? sva_bond_pasid(b2) : 0);
	/* the global value on a second device while the first holds it */
	o = (struct sva_bind_opts){ .size = sizeof(o), .flags = SVA_BIND_PINNED };
	b3 = bind_ok(d2, m1, &o, "m1 on d2 while the global space is full");
	ok(b3 && sva_bond_pasid(b3) == 256, "  joins m1's global PASID, allocates nothing");
	if (b3)
		sva_unbind(b3);
	if (b2)
		sva_unbind(b2);
	if (b1)
		sva_unbind(b1);
	sva_mm_free(m1);
	sva_mm_free(m2);
	sva_mm_free(m3);
	sva_dev_close(d1);
	sva_dev_close(d2);
	sva_ctx_free(ctx);

	/* the default grace: a released PASID is back after 100 ms */
	co = (struct sva_ctx_opts){ .global_pasid_min = 256, .global_pasid_max = 256 };
	ctx = new_ctx_opts(&co);
	d1 = new_mock(ctx, 0);
	m1 = new_mm(ctx, 0);
	snap_ctx = ctx, snap_d1 = d1, snap_d2 = d1;
	o = (struct sva_bind_opts){ .size = sizeof(o), .flags = SVA_BIND_PINNED, .policy = SVA_PASID_GLOBAL };
	b1 = bind_ok(d1, m1, &o, "default grace: the one global PASID bound");
	if (b1)
		sva_unbind(b1);
	bind_fails(d1, m1, &o, -ENOSPC, "right after its unbind (in quarantine)");
	usleep(300000);
	b1 = bind_ok(d1, m1, &o, "after the grace time (100 ms; waited 300)");
	ok(b1 && sva_bond_pasid(b1) == 256, "  the same value again");
	if (b1)
		sva_unbind(b1);
	sva_mm_free(m1);
	sva_dev_close(d1);
	sva_ctx_free(ctx);

	/* a context whose global range starts at 1: devices have no own numbers */
	co = (struct sva_ctx_opts){ .global_pasid_min = 1, .global_pasid_max = 4095 };
	ctx = new_ctx_opts(&co);
	d1 = new_mock(ctx, 0);
	d2 = new_mock(ctx, 0);
	m1 = new_mm(ctx, 0);
	snap_ctx = ctx, snap_d1 = d1, snap_d2 = d2;
	o = (struct sva_bind_opts){ .size = sizeof(o), .flags = SVA_BIND_PINNED, .policy = SVA_PASID_DEVICE };
	bind_fails(d1, m1, &o, -ERANGE, "DEVICE on a device with no own PASIDs");
	o = (struct sva_bind_opts){ .size = sizeof(o), .flags = SVA_BIND_PINNED | SVA_BIND_PASID, .pasid = 5000 };
	bind_fails(d1, m1, &o, -ERANGE, "SVA_BIND_PASID above global_pasid_max");
	o = (struct sva_bind_opts){ .size = sizeof(o), .flags = SVA_BIND_PASID, .pasid = 7 };
	bind_fails(d1, m1, &o, -ENOENT, "fault-capable SVA_BIND_PASID, first of the context, under a value not "
					"allocated");
	o = (struct sva_bind_opts){ .size = sizeof(o), .flags = SVA_BIND_PINNED };
	b1 = bind_ok(d1, m1, &o, "AUTO there takes a global PASID");
	ok(b1 && sva_bond_pasid(b1) >= 1 && sva_bond_pasid(b1) <= 4095, "  in 1..4095 (%u)", b1 ? sva_bond_pasid(b1) : 0);
	ok(sva_dev_bond_lookup(d1, 4096, NULL, NULL) == -ERANGE, "sva_dev_bond_lookup beyond the global range: -ERANGE");
	ok(sva_dev_bond_lookup(d1, 0, NULL, NULL) == -ERANGE, "sva_dev_bond_lookup(0): -ERANGE");
	ok(sva_dev_bond_lookup(d1, 4095, NULL, NULL) == -ENOENT, "sva_dev_bond_lookup of a free global value: -ENOENT");
	if (b1)
		sva_unbind(b1);
	sva_mm_free(m1);
	sva_dev_close(d1);
	sva_dev_close(d2);
	sva_ctx_free(ctx);
}

/* ------------------------------------------------- lookups and injection */

static void lookup_inject_checks(struct sva_ctx *ctx, struct sva_dev *d1)
{
	struct sva_dev *np = new_mock(ctx, SVA_MOCK_NO_PASID);
	struct sva_mm *mm = new_mm(ctx, 0);
	struct sva_bond *lb = SENTINEL_BOND, *b;
	void *ld = (void *)1;
	struct sva_bind_opts o;
	uint32_t p = 0;
	int ret, pdrv;

	unsigned char *buf = map_at(AREA(2), 0x10000, PROT_READ | PROT_WRITE);

	snap_d1 = np;
	snap_d2 = d1;
	lines_reset();
	ok(sva_dev_bond_lookup(d1, 300, &lb, &ld) == -ENOENT && lb == SENTINEL_BOND && ld == (void *)1,
	   "sva_dev_bond_lookup of a value never allocated: -ENOENT, nothing stored");
	ok(sva_dev_bond_lookup(d1, 0, NULL, NULL) == -ERANGE, "sva_dev_bond_lookup(0): -ERANGE");
	ok(sva_dev_bond_lookup(d1, SVA_PASID_MAX + 1, NULL, NULL) == -ERANGE, "beyond the PASID width: -ERANGE");
	ok(sva_dev_bond_lookup(d1, SVA_PASID_RID, NULL, NULL) == -ENOENT, "SVA_PASID_RID with no RID bond: -ENOENT");
	ok(sva_dev_pasid_alloc(d1, SVA_PASID_DEVICE, &pdrv, &p) == 0 &&
		   sva_dev_bond_lookup(d1, p, NULL, NULL) == -ENOENT,
	   "allocated and not bound: -ENOENT");
	sva_dev_pasid_free(d1, p);
	ok(sva_dev_bond_lookup(np, 300, NULL, NULL) == -EOPNOTSUPP, "on a device without PASIDs: -EOPNOTSUPP");
	ok(sva_dev_bond_lookup(np, SVA_PASID_RID, NULL, NULL) == -ENOENT, "  its RID with no bond: -ENOENT");
	ok(lines_total() == 0, "lookups log nothing (%d lines)", lines_total());

	/* a device without PASIDs: RID bonds only, never parked */
	ok(!(dev_flags(np) & SVA_DEV_ATTACHED), "a mock without PASIDs starts unattached");
	o = (struct sva_bind_opts){ .size = sizeof(o) };
	bind_fails(np, mm, &o, -EOPNOTSUPP, "a PASID bond on a device without PASIDs");
	o.policy = SVA_PASID_DEVICE;
	bind_fails(np, mm, &o, -EOPNOTSUPP, "a DEVICE-policy bond on a device without PASIDs");
	ok(!(dev_flags(np) & SVA_DEV_ATTACHED), "  not parked by the refused binds");
	o = (struct sva_bind_opts){ .size = sizeof(o), .flags = SVA_BIND_RID, .drvdata = &pdrv };
	b = bind_ok(np, mm, &o, "a fault-capable RID bond on it");
	ok(dev_flags(np) & SVA_DEV_ATTACHED, "  SVA_DEV_ATTACHED");
	ok(b && resolves(ctx, np, b, AREA(2), SVA_ACCESS_READ), "  RID faults (pasid 0) resolve");
	ret = b ? sva_unbind(b) : -1;
	ok(ret == 0 && !(dev_flags(np) & SVA_DEV_ATTACHED), "  its unbind detaches the RID (flags %#x)", dev_flags(np));

	/* injection */
	lines_reset();
	ok(sva_dev_inject_fault(d1, 300, AREA(2), 0, 0) == -EINVAL, "sva_dev_inject_fault perm 0: -EINVAL");
	ok(sva_dev_inject_fault(d1, 300, AREA(2), 1u << 4, 0) == -EINVAL, "perm with an unknown bit: -EINVAL");
	ok(sva_dev_inject_fault(d1, 300, AREA(2), SVA_ACCESS_READ | (1u << 9), 0) == -EINVAL,
	   "perm with a known and an unknown bit: -EINVAL");
	ok(lines_at(SVA_LOG_ERROR) == 3, "  each bad perm logs one error line (%d)", lines_at(SVA_LOG_ERROR));
	lines_reset();
	ok(sva_dev_inject_fault(NULL, 300, AREA(2), SVA_ACCESS_READ, 0) == -EINVAL && lines_total() == 0,
	   "NULL dev: -EINVAL, nothing on a context's log (its line is the process-wide log's)");
	ok(sva_dev_inject_fault(d1, 300, AREA(2), SVA_ACCESS_READ, 0) == 0,
	   "a fault where nothing is attached: the call still succeeds");
	ok(sva_dev_inject_fault(d1, SVA_PASID_MAX + 5, AREA(2), SVA_ACCESS_READ, 511) == 0,
	   "pasid beyond 20 bits and any grpid: raised, not checked");
	ok(sva_dev_inject_fault(d1, 300, AREA(2), SVA_ACCESS_READ, 1u << 20) == 0, "grpid beyond 9 bits: raised");
	ok(sva_dev_inject_fault(d1, 0, AREA(2), SVA_ACCESS_READ | SVA_ACCESS_WRITE | SVA_ACCESS_EXEC | SVA_ACCESS_PRIV,
				3) == 0,
	   "all four access bits at once: accepted");
	sva_mm_free(mm);
	sva_dev_close(np);
	munmap(buf, 0x10000);
}

/* ---------------------------------------------------------- fault reports */

static struct {
	pthread_mutex_t lock;
	int n;
	struct sva_fault_report r[8];
	size_t size;
	struct sva_bond *bond;
	void *drv;
	pthread_t thread;
	/* the calls made inside the first report */
	int probed, bind, unbind, process, pasid_ok, stats_ok, info_ok, err_lines;
	int alloc, pfree, prefault, fence;
	long invalidate;
	int child; /* a child forked inside the callback: its exit status */
	struct sva_mm *mm;
	struct sva_dev *dev;
	struct sva_ctx *ctx;
} rep = { .lock = PTHREAD_MUTEX_INITIALIZER };

static void on_fault_error(struct sva_bond *bond, const struct sva_fault_report *r, void *drvdata)
{
	pthread_mutex_lock(&rep.lock);
	if (rep.n < 8)
		rep.r[rep.n] = *r;
	rep.n++;
	rep.size = r->size;
	rep.bond = bond;
	rep.drv = drvdata;
	rep.thread = pthread_self();
	if (!rep.probed) {
		struct sva_bond *x = SENTINEL_BOND;
		struct sva_bond_stats st = { .size = sizeof(st) };
		struct sva_dev_info info = { .size = sizeof(info) };
		int before = lines_at(SVA_LOG_ERROR);

		rep.probed = 1;
		rep.bind = sva_bind(rep.dev, rep.mm, &(struct sva_bind_opts){ .size = sizeof(struct sva_bind_opts),
									     .flags = SVA_BIND_RID | SVA_BIND_PINNED },
				    &x);
		if (x != SENTINEL_BOND)
			rep.bind = 1000;
		rep.unbind = sva_unbind(bond);
		rep.process = sva_ctx_process_faults(rep.ctx, 8);
		/* libsva(7), fork: a thread that forks inside fault_error is,
		 * in the child, still inside it.  There bind, unbind and
		 * sva_ctx_process_faults are -EDEADLK, not a forked child's
		 * -ECHILD, and the frees do nothing: the bond is still
		 * found after each (a child's free outside a callback takes
		 * it out of its copy of the table).  The child makes no
		 * thread (ThreadSanitizer refuses that after this fork); the
		 * test's thread is waiting for this report, holding none of
		 * the locks the child's log lines take. */
		{
			pid_t pid = fork();
			int wst;

			if (pid == 0) {
				struct sva_bond *y = SENTINEL_BOND;
				int b, u, pf, l1, l2, l3;

				alarm(10); /* a hang is a failure, not a stuck test */
				b = sva_bind(rep.dev, rep.mm,
					     &(struct sva_bind_opts){ .size = sizeof(struct sva_bind_opts),
								      .flags = SVA_BIND_PINNED | SVA_BIND_EXTRA_PASID },
					     &y);
				u = sva_unbind(bond);
				pf = sva_ctx_process_faults(rep.ctx, 8);
				sva_mm_free(rep.mm);
				l1 = sva_dev_bond_lookup(rep.dev, r->pasid, NULL, NULL);
				sva_dev_close(rep.dev);
				l2 = sva_dev_bond_lookup(rep.dev, r->pasid, NULL, NULL);
				sva_ctx_free(rep.ctx);
				l3 = sva_dev_bond_lookup(rep.dev, r->pasid, NULL, NULL);
				_exit(b != -EDEADLK ? 4 : u != -EDEADLK ? 5
				      : y != SENTINEL_BOND ? 6 : pf != -EDEADLK ? 7 : l1 ? 8 : l2 ? 9 : l3 ? 10 : 0);
			}
			rep.child = -1;
			if (pid > 0 && waitpid(pid, &wst, 0) == pid)
				rep.child = WIFEXITED(wst) ? WEXITSTATUS(wst) : 128 + WTERMSIG(wst);
		}
		sva_mm_free(rep.mm);
		sva_dev_close(rep.dev);
		sva_ctx_free(rep.ctx);
		rep.err_lines = lines_at(SVA_LOG_ERROR) - before;
		rep.pasid_ok = sva_bond_pasid(bond) == r->pasid;
		rep.stats_ok = sva_bond_stats(bond, &st) == 0;
		rep.info_ok = sva_dev_get_info(r->dev, &info) == 0;
		/* libsva(7), Calls inside callbacks: "Every other call is
		 * allowed inside mm_exit and fault_error": PASID allocation,
		 * prefault, invalidate, fence.  A page of the read-only area
		 * no other check uses, made visible and then invisible again. */
		{
			uint32_t p = 0;
			void *pg = (void *)(uintptr_t)(AREA(3) + 0x8000);

			rep.alloc = sva_dev_pasid_alloc(rep.dev, SVA_PASID_GLOBAL, NULL, &p);
			rep.pfree = rep.alloc ? rep.alloc : sva_dev_pasid_free(rep.dev, p);
			rep.prefault = sva_mm_prefault(rep.mm, pg, PG);
			rep.invalidate = sva_mm_invalidate(rep.mm, pg, PG);
			rep.fence = sva_mm_fence(rep.mm);
		}
	}
	pthread_mutex_unlock(&rep.lock);
}

static void report_checks(void)
{
	/* a context of its own: the forbidden sva_ctx_free() inside the callback
	 * names it */
	struct sva_ctx *ctx = new_ctx(0);
	struct sva_dev *dev = new_mock(ctx, 0);
	struct sva_mm *mm = new_mm(ctx, 0);
	struct sva_bond_ops ops = { .size = sizeof(ops), .fault_error = on_fault_error };
	int drv;
	struct sva_bind_opts o = { .size = sizeof(o), .drvdata = &drv, .ops = &ops };
	unsigned char *ro = map_at(AREA(3), 0x10000, PROT_READ);
	unsigned char *none = map_at(AREA(3) + 0x10000, 0x10000, PROT_NONE);
	struct sva_bond *b;
	uint32_t pasid;
	uint64_t hole = AREA(3) + 0x40000; /* nothing mapped there */
	/* where the kernel puts it: far above the mock's aperture (a fixed
	 * address there can be a sanitizer's shadow) */
	unsigned char *far = mmap(NULL, 0x10000, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	(void)none;
	if (far == MAP_FAILED)
		tap_bail("mmap: %s", strerror(errno));
	memset(far, 1, 0x10000);
	pthread_mutex_lock(&rep.lock);
	rep.mm = mm, rep.dev = dev, rep.ctx = ctx;
	pthread_mutex_unlock(&rep.lock);
	b = bind_ok(dev, mm, &o, "a bond with fault_error");
	if (!b)
		return;
	pasid = sva_bond_pasid(b);
	ok(inject_and_wait(ctx, dev, b, hole + 0x123, SVA_ACCESS_READ, false, 5000) == 0, "a fault where nothing is mapped");
	pthread_mutex_lock(&rep.lock);
	ok(rep.n == 1, "  fault_error called once (%d)", rep.n);
	ok(bstats(b).invalid == 1, "  counted invalid");
	ok(rep.size >= sizeof(struct sva_fault_report), "  report->size %zu", rep.size);
	ok(rep.r[0].dev == dev && rep.r[0].pasid == pasid && rep.r[0].access == SVA_ACCESS_READ,
	   "  report: dev, pasid %u, access %u", rep.r[0].pasid, rep.r[0].access);
	ok((rep.r[0].addr & ~(PG - 1)) == hole && rep.r[0].reserved == 0, "  addr %#llx (its page), reserved 0",
	   (unsigned long long)rep.r[0].addr);
	ok(rep.r[0].reason == -EFAULT, "  reason -EFAULT (%d)", rep.r[0].reason);
	ok(rep.bond == b && rep.drv == &drv, "  the bond and the drvdata it was bound with");
	ok(!pthread_equal(rep.thread, pthread_self()), "  in the fault thread, not the caller");
	ok(rep.bind == -EDEADLK, "  inside it sva_bind: -EDEADLK, *out untouched (%d)", rep.bind);
	ok(rep.unbind == -EDEADLK, "  sva_unbind of its bond: -EDEADLK (%d)", rep.unbind);
	ok(rep.process == -EDEADLK, "  sva_ctx_process_faults: -EDEADLK, before thread mode's -EINVAL (%d)", rep.process);
	is_int(rep.child, 0,
	       "  a child fork(2)ed inside fault_error: bind, unbind and sva_ctx_process_faults -EDEADLK, not -ECHILD; "
	       "sva_mm_free, sva_dev_close and sva_ctx_free do nothing (4: bind, 5: unbind, "
	       "6: *out written, 7: process_faults, 8-10: the bond no longer found after mm, dev, ctx free; 128+: a signal)");
	ok(rep.err_lines == 6, "  each refused call logs one line at error level, the frees included (%d, want 6)",
	   rep.err_lines);
	ok(rep.pasid_ok && rep.stats_ok && rep.info_ok, "  sva_bond_pasid, sva_bond_stats, sva_dev_get_info work there");
	ok(rep.alloc == 0 && rep.pfree == 0, "  sva_dev_pasid_alloc and sva_dev_pasid_free work there (%d, %d)", rep.alloc,
	   rep.pfree);
	ok(rep.prefault == 0 && rep.invalidate >= (long)PG && rep.fence == 0,
	   "  sva_mm_prefault, sva_mm_invalidate and sva_mm_fence work there (%d, %ld, %d)", rep.prefault,
	   rep.invalidate, rep.fence);
	pthread_mutex_unlock(&rep.lock);
	ok(resolves(ctx, dev, b, AREA(3) + 0x5000, SVA_ACCESS_READ),
	   "the frees inside the callback did nothing: the bond still resolves faults");
	ok(sva_dev_bond_lookup(dev, pasid, NULL, NULL) == 0, "  and is still found");
	ok(resolves(ctx, dev, b, AREA(3), SVA_ACCESS_READ), "a read of read-only memory resolves");
	{
		struct {
			uint64_t addr;
			uint32_t perm;
			int reason;
			const char *what;
		} cases[] = {
			{ AREA(3) + 0x1000, SVA_ACCESS_WRITE, -EACCES, "a write to read-only memory" },
			{ AREA(3) + 0x11000, SVA_ACCESS_READ, -EACCES, "a read of PROT_NONE memory" },
			{ AREA(3) + 0x2000, SVA_ACCESS_READ | SVA_ACCESS_EXEC, -EACCES, "an execute request, not executable" },
			{ AREA(3) + 0x3000, SVA_ACCESS_READ | SVA_ACCESS_PRIV, -EPERM, "a privileged request" },
			{ (uintptr_t)far, SVA_ACCESS_READ, -ERANGE, "outside the window the device reaches" },
		};

		for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
			int n0, n1, reason = 0;
			uint32_t access = 0;
			int ret;

			pthread_mutex_lock(&rep.lock);
			n0 = rep.n;
			pthread_mutex_unlock(&rep.lock);
			ret = inject_and_wait(ctx, dev, b, cases[i].addr, cases[i].perm, false, 5000);
			pthread_mutex_lock(&rep.lock);
			n1 = rep.n;
			if (n1 == n0 + 1 && n0 < 8)
				reason = rep.r[n0].reason, access = rep.r[n0].access;
			pthread_mutex_unlock(&rep.lock);
			ok(ret == 0 && n1 == n0 + 1 && reason == cases[i].reason && access == cases[i].perm,
			   "%s: reported once, reason %d (want %d), access %#x", cases[i].what, reason, cases[i].reason,
			   access);
		}
	}
	sva_unbind(b);
	{
		struct sva_bond_ops rops = { .size = sizeof(rops), .fault_error = on_fault_error };
		struct sva_bond *rb = bind_ok(dev, mm, &(struct sva_bind_opts){ .size = sizeof(struct sva_bind_opts),
										.flags = SVA_BIND_RID, .ops = &rops },
					      "a RID bond with fault_error");
		int n0;

		pthread_mutex_lock(&rep.lock);
		n0 = rep.n;
		pthread_mutex_unlock(&rep.lock);
		ok(rb && inject_and_wait(ctx, dev, rb, hole, SVA_ACCESS_WRITE, false, 5000) == 0,
		   "  a fault without PASID where nothing is mapped");
		pthread_mutex_lock(&rep.lock);
		ok(rep.n == n0 + 1 && n0 < 8 && rep.r[n0].pasid == SVA_PASID_RID && rep.r[n0].reason == -EFAULT &&
			   rep.r[n0].access == SVA_ACCESS_WRITE && rep.r[n0].dev == dev,
		   "  reported with pasid SVA_PASID_RID (%#x), -EFAULT", n0 < 8 ? rep.r[n0].pasid : 0);
		pthread_mutex_unlock(&rep.lock);
		if (rb)
			sva_unbind(rb);
	}
	/* the callback's calls above named these: they are still valid */
	sva_mm_free(mm);
	sva_dev_close(dev);
	sva_ctx_free(ctx);
	munmap(ro, 0x20000);
	munmap(far, 0x10000);
}

/* ---------------------------------------------------------------- mm_exit */

static struct {
	int calls;
	struct sva_bond *bond;
	void *drv;
	pthread_t thread;
	int lookup, sees, resolves, bind, unbind_self, unbind_other, err_lines, pasid_ok, drv_ok, stats_ok;
	int alloc, prefault, invalidate, fence, process;
	struct sva_ctx *ctx;
	struct sva_dev *dev;
	struct sva_mm *mm;
	struct sva_bond *other;
	unsigned char *page;
	uint64_t fresh;
	bool poll;
} ex;

static void probe_exit(struct sva_bond *bond, void *drvdata)
{
	struct sva_bond *lb = NULL, *x = SENTINEL_BOND;
	void *ld = NULL;
	int before = lines_at(SVA_LOG_ERROR);
	uint32_t p = 0;
	struct sva_bond_stats st = { .size = sizeof(st) };

	ex.calls++;
	ex.bond = bond;
	ex.drv = drvdata;
	ex.thread = pthread_self();
	ex.lookup = sva_dev_bond_lookup(ex.dev, sva_bond_pasid(bond), &lb, &ld) == 0 && lb == bond && ld == drvdata;
	ex.sees = mock_sees(ex.ctx, ex.page);
	if (ex.poll) {
		/* poll mode: the drain answers its own faults */
		uint64_t f = bstats(bond).faults;
		uint32_t pasid = sva_bond_pasid(bond);

		ex.process = -1;
		if (sva_dev_inject_fault(ex.dev, pasid == SVA_PASID_RID ? 0 : pasid, ex.fresh, SVA_ACCESS_READ, 0) == 0)
			for (uint64_t end = now_ms() + 5000; now_ms() < end && bstats(bond).faults == f;)
				ex.process = sva_ctx_process_faults(ex.ctx, 64);
		ex.resolves = bstats(bond).faults == f + 1 && bstats(bond).invalid == 0;
	} else {
		ex.resolves = inject_and_wait(ex.ctx, ex.dev, bond, ex.fresh, SVA_ACCESS_READ, false, 5000) == 0 &&
			      bstats(bond).invalid == 0;
	}
	ex.bind = sva_bind(ex.dev, ex.mm,
			   &(struct sva_bind_opts){ .size = sizeof(struct sva_bind_opts), .flags = SVA_BIND_EXTRA_PASID },
			   &x);
	if (x != SENTINEL_BOND)
		ex.bind = 1000;
	ex.unbind_self = sva_unbind(bond);
	ex.unbind_other = ex.other ? sva_unbind(ex.other) : -EDEADLK;
	sva_mm_free(ex.mm);
	sva_dev_close(ex.dev);
	sva_ctx_free(ex.ctx);
	ex.err_lines = lines_at(SVA_LOG_ERROR) - before;
	ex.pasid_ok = sva_bond_pasid(bond) != 0;
	ex.drv_ok = sva_bond_drvdata(bond) == drvdata;
	ex.stats_ok = sva_bond_stats(bond, &st) == 0;
	ex.alloc = sva_dev_pasid_alloc(ex.dev, SVA_PASID_DEVICE, NULL, &p);
	if (!ex.alloc)
		ex.alloc = sva_dev_pasid_free(ex.dev, p);
	ex.prefault = sva_mm_prefault(ex.mm, ex.page, PG);
	ex.invalidate = sva_mm_invalidate(ex.mm, ex.page + PG, PG) >= 0 ? 0 : -1;
	ex.fence = sva_mm_fence(ex.mm);
}

static void mm_exit_checks(bool poll)
{
	struct sva_ctx *ctx = new_ctx(poll ? SVA_CTX_FAULT_POLL : 0);
	struct sva_dev *dev = new_mock(ctx, 0);
	struct sva_mm *mm = new_mm(ctx, 0);
	struct sva_bond_ops ops = { .size = sizeof(ops), .mm_exit = probe_exit };
	int drv, odrv;
	struct sva_bind_opts o = { .size = sizeof(o), .drvdata = &drv, .ops = &ops };
	unsigned char *buf = map_at(AREA(4), 0x100000, PROT_READ | PROT_WRITE);
	struct sva_bond *b, *other;
	const char *mode = poll ? "poll mode" : "thread mode";
	int ret;

	memset(&ex, 0, sizeof(ex));
	ex.ctx = ctx, ex.dev = dev, ex.mm = mm, ex.page = buf, ex.fresh = AREA(4) + 0x80000, ex.poll = poll;
	b = bind_ok(dev, mm, &o, "a bond with mm_exit");
	other = bind_ok(dev, mm, &(struct sva_bind_opts){ .size = sizeof(o), .flags = SVA_BIND_EXTRA_PASID, .drvdata = &odrv },
			"a second bond (EXTRA)");
	ex.other = other;
	if (!b || !other)
		return;
	ok(inject_and_wait(ctx, dev, b, AREA(4), SVA_ACCESS_WRITE, poll, 5000) == 0 && mock_sees(ctx, buf),
	   "the device reaches the page through the bond");
	ret = sva_unbind(b);
	ok(ret == 0, "sva_unbind (%s): 0", mode);
	ok(ex.calls == 1, "  mm_exit called once (%d)", ex.calls);
	ok(ex.bond == b && ex.drv == &drv, "  with the bond and its drvdata");
	ok(pthread_equal(ex.thread, pthread_self()), "  in the calling thread");
	ok(ex.lookup, "  sva_dev_bond_lookup still finds the bond inside it");
	ok(ex.sees, "  the PASID still translates inside it (the device reaches the page)");
	ok(ex.resolves, "  the fault engine still resolves its faults inside it%s",
	   poll ? " (sva_ctx_process_faults allowed there)" : "");
	ok(ex.bind == -EDEADLK, "  sva_bind inside it: -EDEADLK, *out untouched (%d)", ex.bind);
	ok(ex.unbind_self == -EDEADLK, "  sva_unbind of its own bond: -EDEADLK (%d)", ex.unbind_self);
	ok(ex.unbind_other == -EDEADLK, "  sva_unbind of another bond: -EDEADLK (%d)", ex.unbind_other);
	ok(ex.err_lines == 6, "  the five refusals and the three frees log one error line each (%d, want 6: bind, 2 "
			      "unbinds, 3 frees)",
	   ex.err_lines);
	ok(ex.pasid_ok && ex.drv_ok && ex.stats_ok, "  sva_bond_pasid, sva_bond_drvdata, sva_bond_stats work there");
	ok(ex.alloc == 0, "  PASID allocation and free work there (%d)", ex.alloc);
	ok(ex.prefault == 0 && ex.invalidate == 0 && ex.fence == 0, "  prefault %d, invalidate %d, fence %d",
	   ex.prefault, ex.invalidate, ex.fence);
	ok(sva_dev_bond_lookup(dev, sva_bond_pasid(other), NULL, NULL) == 0,
	   "  the refused unbind of the other bond did nothing");
	ok(count_fds() > 0 && dev_flags(dev) != 0xffffffffu, "  the refused frees did nothing: the device answers");
	/* the other bond has the same callback: it runs again, once */
	memset(&ex, 0, sizeof(ex));
	ex.ctx = ctx, ex.dev = dev, ex.mm = mm, ex.page = buf, ex.fresh = AREA(4) + 0xc0000, ex.poll = poll;
	ok(sva_unbind(other) == 0 && ex.calls == 0, "an unbind of a bond without mm_exit runs none");
	{
		struct sva_bond *nb = bind_ok(dev, mm, &o, "rebind on the same device and address space after unbind");

		ok(nb && (poll || resolves(ctx, dev, nb, AREA(4) + 0x40000, SVA_ACCESS_READ)),
		   "  its faults resolve");
		ex.other = NULL;
		ok(nb && sva_unbind(nb) == 0 && ex.calls == 1, "  and its unbind runs mm_exit once");
	}
	sva_mm_free(mm);
	sva_dev_close(dev);
	sva_ctx_free(ctx);
	munmap(buf, 0x100000);
}

/* ------------------------------------------------------- teardown order */

static struct {
	pthread_mutex_t lock;
	int ids[16];
	int n;
	bool translating[16];
	bool other_thread;
	struct sva_ctx *ctx;
	unsigned char *page;
	pthread_t main;
} ord = { .lock = PTHREAD_MUTEX_INITIALIZER };

static void order_exit(struct sva_bond *bond, void *drvdata)
{
	bool sees = ord.page ? mock_sees(ord.ctx, ord.page) : true;

	(void)bond;
	pthread_mutex_lock(&ord.lock);
	if (!pthread_equal(pthread_self(), ord.main))
		ord.other_thread = true;
	if (ord.n < 16) {
		ord.translating[ord.n] = sees;
		ord.ids[ord.n] = *(int *)drvdata;
	}
	ord.n++;
	pthread_mutex_unlock(&ord.lock);
}

static void order_reset(struct sva_ctx *ctx, unsigned char *page)
{
	pthread_mutex_lock(&ord.lock);
	ord.n = 0;
	ord.main = pthread_self();
	ord.other_thread = false;
	ord.ctx = ctx;
	ord.page = page;
	pthread_mutex_unlock(&ord.lock);
}

static void order_is(const int *want, int n, const char *what)
{
	bool same;
	char got[64] = "";

	pthread_mutex_lock(&ord.lock);
	same = ord.n == n;
	for (int i = 0; i < ord.n && i < 16; i++) {
		snprintf(got + strlen(got), sizeof(got) - strlen(got), "%d ", ord.ids[i]);
		if (i < n && ord.ids[i] != want[i])
			same = false;
	}
	pthread_mutex_unlock(&ord.lock);
	ok(same && !ord.other_thread, "%s: mm_exit order %s, in the calling thread", what, got);
}

static void order_checks(void)
{
	struct sva_ctx *ctx = new_ctx(0);
	struct sva_dev *d1 = new_mock(ctx, 0), *d2 = new_mock(ctx, 0);
	struct sva_mm *m1 = new_mm(ctx, 0), *m2 = new_mm(ctx, 0);
	struct sva_bond_ops ops = { .size = sizeof(ops), .mm_exit = order_exit };
	static int id[8] = { 1, 2, 3, 4, 5, 6, 7, 8 };
	unsigned char *buf = map_at(AREA(5), 0x10000, PROT_READ | PROT_WRITE);
	struct sva_bind_opts o = { .size = sizeof(o), .ops = &ops, .flags = SVA_BIND_PINNED };
	struct sva_bond *b[8];
	bool all;

	/* sva_mm_free: every bond of the address space, the most recent first */
	o.drvdata = &id[0];
	b[0] = bind_ok(d1, m1, &o, "m1 on d1");
	o.drvdata = &id[1];
	b[1] = bind_ok(d2, m1, &o, "m1 on d2");
	o.drvdata = &id[2], o.flags |= SVA_BIND_EXTRA_PASID;
	b[2] = bind_ok(d1, m1, &o, "m1 on d1 again (EXTRA)");
	o.flags &= ~SVA_BIND_EXTRA_PASID;
	o.drvdata = &id[3];
	b[3] = bind_ok(d1, m2, &o, "m2 on d1");
	ok(sva_mm_prefault(m1, buf, PG) == 0 && mock_sees(ctx, buf), "m1's page is visible");
	order_reset(ctx, buf);
	sva_mm_free(m1);
	order_is((int[]){ 3, 2, 1 }, 3, "sva_mm_free(m1)");
	pthread_mutex_lock(&ord.lock);
	all = ord.translating[0] && ord.translating[1] && ord.translating[2];
	pthread_mutex_unlock(&ord.lock);
	ok(all, "  each mm_exit ran while the device still reached the page");
	ok(sva_dev_bond_lookup(d1, sva_bond_pasid(b[3]), NULL, NULL) == 0, "  m2's bond untouched");

	/* sva_dev_close: every bond of the device, the most recent first */
	m1 = new_mm(ctx, 0);
	o.drvdata = &id[4];
	b[4] = bind_ok(d2, m1, &o, "m1' on d2");
	o.drvdata = &id[5];
	b[5] = bind_ok(d1, m1, &o, "m1' on d1");
	order_reset(ctx, NULL);
	sva_dev_close(d1);
	order_is((int[]){ 6, 4 }, 2, "sva_dev_close(d1)");
	ok(sva_dev_bond_lookup(d2, sva_bond_pasid(b[4]), NULL, NULL) == 0, "  d2's bond untouched");

	/* sva_ctx_free: every bond of the context, the most recent first, whatever its device */
	d1 = new_mock(ctx, 0);
	o.drvdata = &id[6];
	b[6] = bind_ok(d1, m2, &o, "m2 on d1'");
	o.drvdata = &id[7];
	b[7] = bind_ok(d2, m2, &o, "m2 on d2");
	order_reset(ctx, NULL);
	sva_ctx_free(ctx);
	order_is((int[]){ 8, 7, 5 }, 3, "sva_ctx_free");
	ok(dev_flags(d1) != 0xffffffffu && dev_flags(d2) != 0xffffffffu, "  the devices stay open and usable");
	{
		struct sva_bond *x = NULL;
		int ret = sva_bind(d2, m2, &(struct sva_bind_opts){ .size = sizeof(o), .flags = SVA_BIND_PINNED }, &x);

		ok(ret == 0, "  and bind again after it (%d)", ret);
		if (!ret)
			sva_unbind(x);
	}
	order_reset(ctx, NULL);
	sva_mm_free(m1);
	sva_mm_free(m2);
	sva_dev_close(d1);
	sva_dev_close(d2);
	order_is((int[]){ 0 }, 0, "the releases after it");
	munmap(buf, 0x10000);
}

/* ---------------------------------------------------- unbind racing unbind */

static struct {
	atomic_int entered, release;
} blk;

static void blocking_exit(struct sva_bond *bond, void *drvdata)
{
	(void)bond, (void)drvdata;
	atomic_store(&blk.entered, 1);
	for (uint64_t end = now_ms() + 10000; !atomic_load(&blk.release) && now_ms() < end;)
		usleep(1000);
}

static void *release_later(void *arg)
{
	(void)arg;
	usleep(200000);
	atomic_store(&blk.release, 1);
	return NULL;
}

static void *unbind_thread(void *arg)
{
	return (void *)(intptr_t)sva_unbind(arg);
}

static void concurrent_unbind_checks(struct sva_ctx *ctx, struct sva_dev *d1)
{
	struct sva_mm *mm = new_mm(ctx, 0);
	struct sva_bond_ops ops = { .size = sizeof(ops), .mm_exit = blocking_exit };
	struct sva_bind_opts o = { .size = sizeof(o), .flags = SVA_BIND_RID | SVA_BIND_PINNED, .ops = &ops };
	struct sva_bond *b = bind_ok(d1, mm, &o, "a RID bond whose mm_exit blocks"), *x = SENTINEL_BOND;
	pthread_t t;
	void *rv;
	int ret;

	if (!b)
		return;
	atomic_store(&blk.entered, 0);
	atomic_store(&blk.release, 0);
	pthread_create(&t, NULL, unbind_thread, b);
	for (uint64_t end = now_ms() + 10000; !atomic_load(&blk.entered) && now_ms() < end;)
		usleep(1000);
	ok(atomic_load(&blk.entered), "another thread is inside its mm_exit");
	ret = sva_unbind(b);
	ok(ret == -EINVAL, "sva_unbind of a bond already being torn down: -EINVAL (%d)", ret);
	o.ops = NULL;
	ret = sva_bind(d1, mm, &o, &x);
	ok(ret == -EBUSY && x == SENTINEL_BOND, "SVA_BIND_RID while the RID's unbind is under way: -EBUSY (%d)", ret);
	atomic_store(&blk.release, 1);
	pthread_join(t, &rv);
	ok((intptr_t)rv == 0, "the first unbind returns 0 (%d)", (int)(intptr_t)rv);
	ret = sva_bind(d1, mm, &o, &x);
	ok(ret == 0, "SVA_BIND_RID once it is done (%d)", ret);
	if (!ret)
		sva_unbind(x);

	/* sva_mm_free while another thread is inside an mm_exit waits for it */
	o = (struct sva_bind_opts){ .size = sizeof(o), .flags = SVA_BIND_PINNED, .ops = &ops };
	b = bind_ok(d1, mm, &o, "a PASID bond whose mm_exit blocks");
	if (!b)
		return;
	atomic_store(&blk.entered, 0);
	atomic_store(&blk.release, 0);
	pthread_create(&t, NULL, unbind_thread, b);
	for (uint64_t end = now_ms() + 10000; !atomic_load(&blk.entered) && now_ms() < end;)
		usleep(1000);
	{
		uint64_t t0 = now_ms(), took;
		pthread_t rel;

		/* a third thread lets the callback return after 200 ms: sva_mm_free
		 * of the bond's address space meanwhile waits for the unbind */
		pthread_create(&rel, NULL, release_later, NULL);
		sva_mm_free(mm);
		took = now_ms() - t0;
		ok(atomic_load(&blk.release) && took >= 150,
		   "sva_mm_free while another thread is inside the bond's mm_exit returns once it has (%llu ms)",
		   (unsigned long long)took);
		pthread_join(rel, NULL);
	}
	pthread_join(t, &rv);
	ok((intptr_t)rv == 0, "  the unbind returns 0 (%d)", (int)(intptr_t)rv);
}


/* ------------------------------------------------- fault resolution steps */

/* What one fault reported: its reason (0: resolved), or a wait failure. */
static struct {
	pthread_mutex_t lock;
	int last;
	int n;
} fr = { .lock = PTHREAD_MUTEX_INITIALIZER };

static void fr_error(struct sva_bond *bond, const struct sva_fault_report *r, void *drvdata)
{
	(void)bond, (void)drvdata;
	pthread_mutex_lock(&fr.lock);
	fr.last = r->reason;
	fr.n++;
	pthread_mutex_unlock(&fr.lock);
}

static int fault_reason(struct sva_ctx *ctx, struct sva_dev *dev, struct sva_bond *b, uint64_t addr, uint32_t perm)
{
	int n0, n1, last, ret;

	pthread_mutex_lock(&fr.lock);
	n0 = fr.n;
	pthread_mutex_unlock(&fr.lock);
	ret = inject_and_wait(ctx, dev, b, addr, perm, false, 5000);
	if (ret) {
		diag("fault at %#llx: %d; bond faults %llu invalid %llu; fault health %d", (unsigned long long)addr, ret,
		     (unsigned long long)bstats(b).faults, (unsigned long long)bstats(b).invalid,
		     sva_ctx_fault_health(ctx));
		return 1000 + ret;
	}
	pthread_mutex_lock(&fr.lock);
	n1 = fr.n;
	last = fr.last;
	pthread_mutex_unlock(&fr.lock);
	return n1 == n0 ? 0 : last;
}

static bool sees_range(struct sva_ctx *ctx, const unsigned char *p, size_t len)
{
	for (size_t off = 0; off < len; off += PG)
		if (!mock_sees(ctx, p + off))
			return false;
	return true;
}

static void resolution_checks(struct sva_ctx *ctx, struct sva_dev *d1)
{
	struct sva_bond_ops ops = { .size = sizeof(ops), .fault_error = fr_error };
	struct sva_bind_opts o = { .size = sizeof(o), .ops = &ops };
	struct sva_mm *mm = new_mm(ctx, 0);
	unsigned char *buf = map_at(AREA(10), 0x100000, PROT_READ | PROT_WRITE);
	unsigned char *x = map_at(AREA(11), 0x10000, PROT_READ | PROT_EXEC);
	unsigned char *wo = map_at(AREA(11) + 0x10000, 0x10000, PROT_WRITE);
	unsigned char *up = map_at(AREA(11) + 0x20000, 0x10000, PROT_READ);
	struct sva_bond *b = bind_ok(d1, mm, &o, "a bond for the resolution steps");
	int r;

	if (!b)
		return;
	/* step 6: the first fault's window is the 64 KiB block around the address */
	r = fault_reason(ctx, d1, b, AREA(10) + 0x5123, SVA_ACCESS_READ);
	ok(r == 0 && sees_range(ctx, buf, 0x10000) && !mock_sees(ctx, buf + 0x10000) && bstats(b).pages_mapped == 16,
	   "first fault: its aligned 64 KiB block, no more (%d, pages_mapped %llu)", r,
	   (unsigned long long)bstats(b).pages_mapped);
	/* in order: twice the last window, from the faulting page */
	r = fault_reason(ctx, d1, b, AREA(10) + 0x11000, SVA_ACCESS_READ);
	ok(r == 0 && sees_range(ctx, buf + 0x11000, 0x20000) && !mock_sees(ctx, buf + 0x31000) &&
		   !mock_sees(ctx, buf + 0x10000),
	   "a fault less than a window past the last one: 128 KiB from the faulting page (%d)", r);
	/* out of order: half the last window, the aligned block around it */
	r = fault_reason(ctx, d1, b, AREA(10) + 0x85000, SVA_ACCESS_READ);
	ok(r == 0 && sees_range(ctx, buf + 0x80000, 0x10000) && !mock_sees(ctx, buf + 0x7f000) &&
		   !mock_sees(ctx, buf + 0x90000),
	   "a fault elsewhere: half the last window (64 KiB), aligned (%d)", r);
	/* step 2: visible already, nothing to do; step 4: rights */
	{
		uint64_t pm = bstats(b).pages_mapped;

		r = fault_reason(ctx, d1, b, AREA(10) + 0x2000, SVA_ACCESS_WRITE);
		ok(r == 0 && bstats(b).pages_mapped == pm, "a write fault on a page visible read-write: resolved, maps nothing");
	}
	r = fault_reason(ctx, d1, b, AREA(11) + 0x1000, SVA_ACCESS_READ | SVA_ACCESS_EXEC);
	ok(r == 0, "an execute request on executable memory resolves (%d)", r);
	r = fault_reason(ctx, d1, b, AREA(11) + 0x1000, SVA_ACCESS_READ | SVA_ACCESS_EXEC);
	ok(r == 0, "  and again once visible (the mapping checked again) (%d)", r);
	r = fault_reason(ctx, d1, b, AREA(11) + 0x11000, SVA_ACCESS_READ);
	ok(r == -EACCES, "a read of write-only memory: -EACCES (%d)", r);
	/* an upgrade: visible read-only, then writable in the process */
	r = fault_reason(ctx, d1, b, AREA(11) + 0x21000, SVA_ACCESS_READ);
	ok(r == 0 && mock_sees(ctx, up + 0x1000), "a read fault on read-only memory maps it (%d)", r);
	r = fault_reason(ctx, d1, b, AREA(11) + 0x21000, SVA_ACCESS_WRITE);
	ok(r == -EACCES, "  a write fault while the mapping is still read-only: -EACCES (%d)", r);
	mprotect(up, 0x10000, PROT_READ | PROT_WRITE);
	up[0x1000] = 7;
	r = fault_reason(ctx, d1, b, AREA(11) + 0x21000, SVA_ACCESS_WRITE);
	ok(r == 0 && mock_sees(ctx, up + 0x1000), "  made writable by mprotect: the write fault is resolved (%d)", r);
	(void)x, (void)wo;
	sva_unbind(b);
	sva_mm_free(mm);

	/* the window is clipped to the process's mapping */
	mm = new_mm(ctx, 0);
	b = bind_ok(d1, mm, &o, "a bond for the window's clipping");
	if (b) {
		unsigned char *two = map_at(AREA(13) + 0x7000, 2 * PG, PROT_READ | PROT_WRITE);
		uint64_t pm = bstats(b).pages_mapped;

		r = fault_reason(ctx, d1, b, AREA(13) + 0x7000, SVA_ACCESS_READ);
		ok(r == 0 && sees_range(ctx, two, 2 * PG) && bstats(b).pages_mapped == pm + 2,
		   "a fault in a two-page mapping: the window clipped to it (%d, %llu pages)", r,
		   (unsigned long long)(bstats(b).pages_mapped - pm));
		munmap(two, 2 * PG);
	}
	/* the cap: fault_around 16 KiB */
	{
		struct sva_mm_opts mo = { .size = sizeof(mo), .fault_around = 0x4000 };

		if (b)
			sva_unbind(b);
		sva_mm_free(mm);
		mm = NULL;
		if (sva_mm_new(ctx, &mo, &mm))
			tap_bail("sva_mm_new with fault_around");
		b = bind_ok(d1, mm, &o, "a bond on an address space with a 16 KiB fault-around cap");
		r = b ? fault_reason(ctx, d1, b, AREA(10) + 0x41000, SVA_ACCESS_READ) : -1;
		ok(r == 0 && bstats(b).pages_mapped == 4 && sees_range(ctx, buf + 0x40000, 0x4000) &&
			   !mock_sees(ctx, buf + 0x44000),
		   "  the first fault's window: the 16 KiB block (%d, %llu pages)", r,
		   (unsigned long long)bstats(b).pages_mapped);
		r = b ? fault_reason(ctx, d1, b, AREA(10) + 0x44000, SVA_ACCESS_READ) : -1;
		ok(r == 0 && bstats(b).pages_mapped == 8 && !mock_sees(ctx, buf + 0x48000),
		   "  in order: twice the last, up to the cap (16 KiB) (%d, %llu pages)", r,
		   (unsigned long long)bstats(b).pages_mapped);
		if (b)
			sva_unbind(b);
		sva_mm_free(mm);
		mm = new_mm(ctx, 0);
		b = bind_ok(d1, mm, &o, "a bond again");
	}

	/* step 3: a private address space */
	mm = new_mm(ctx, SVA_MM_PRIVATE);
	b = bind_ok(d1, mm, &o, "a bond on a private address space");
	if (b) {
		ok(sva_mm_prefault(mm, buf + 0xc0000, PG) == 0, "  one page prefaulted");
		r = fault_reason(ctx, d1, b, AREA(10) + 0xc0000, SVA_ACCESS_READ | SVA_ACCESS_WRITE);
		ok(r == 0, "  a fault on it resolves (%d)", r);
		r = fault_reason(ctx, d1, b, AREA(10) + 0xc1000, SVA_ACCESS_READ);
		ok(r == -ENOENT && !mock_sees(ctx, buf + 0xc1000), "  a fault next to it: -ENOENT, nothing mapped (%d)", r);
		mprotect(up, 0x10000, PROT_READ);
		ok(sva_mm_prefault(mm, up + 0x3000, PG) == 0, "  a page of read-only memory prefaulted");
		r = fault_reason(ctx, d1, b, AREA(11) + 0x23000, SVA_ACCESS_READ);
		ok(r == 0, "  a read fault on it resolves (%d)", r);
		r = fault_reason(ctx, d1, b, AREA(11) + 0x23000, SVA_ACCESS_WRITE);
		ok(r == -EACCES, "  a write fault on it: -EACCES, visible without the right (%d)", r);
		sva_unbind(b);
	}
	sva_mm_free(mm);

	/* a restricted address space: -ENXIO outside the allowed ranges */
	mm = new_mm(ctx, SVA_MM_RESTRICTED);
	b = bind_ok(d1, mm, &o, "a bond on a restricted address space");
	if (b) {
		ok(sva_mm_allow(mm, buf + 0xd0000, 0x10000) == 0, "  64 KiB allowed");
		r = fault_reason(ctx, d1, b, AREA(10) + 0xd1000, SVA_ACCESS_READ);
		ok(r == 0, "  a fault inside resolves (%d)", r);
		r = fault_reason(ctx, d1, b, AREA(10) + 0xe1000, SVA_ACCESS_READ);
		ok(r == -ENXIO, "  a fault outside: -ENXIO (%d)", r);
		sva_unbind(b);
	}
	sva_mm_free(mm);

	/* no fault_error: a refused fault is counted, and logged at info level, at most 10 lines a second */
	mm = new_mm(ctx, 0);
	b = bind_ok(d1, mm, NULL, "a bond without callbacks");
	if (b) {
		uint64_t t0 = now_ms();
		int n = 0, info;

		lines_reset();
		for (int i = 0; i < 15; i++)
			n += inject_and_wait(ctx, d1, b, AREA(12) + (uint64_t)i * PG, SVA_ACCESS_READ, false, 5000) == 0;
		info = lines_at(SVA_LOG_INFO);
		ok(n == 15 && bstats(b).invalid == 15, "15 refused faults, counted invalid (%llu)",
		   (unsigned long long)bstats(b).invalid);
		ok(info >= 1 && (now_ms() - t0 >= 1000 || info <= 10),
		   "  logged at info level, at most 10 lines a second (%d lines in %llu ms; last: %s)", info,
		   (unsigned long long)(now_ms() - t0), last_line());
		sva_unbind(b);
	}
	sva_mm_free(mm);
	munmap(buf, 0x100000);
	munmap(x, 0x30000);
}

/* ----------------------------------------------- unbinds run in parallel */

static struct {
	atomic_int in;
	atomic_int saw_both;
} par;

static void parallel_exit(struct sva_bond *bond, void *drvdata)
{
	(void)bond, (void)drvdata;
	atomic_fetch_add(&par.in, 1);
	/* wait (bounded) for the other unbind's callback to be in too */
	for (uint64_t end = now_ms() + 5000; atomic_load(&par.in) < 2 && now_ms() < end;)
		usleep(1000);
	if (atomic_load(&par.in) >= 2)
		atomic_fetch_add(&par.saw_both, 1);
}

static void parallel_unbind_checks(struct sva_ctx *ctx, struct sva_dev *d1)
{
	struct sva_mm *mm = new_mm(ctx, 0);
	struct sva_bond_ops ops = { .size = sizeof(ops), .mm_exit = parallel_exit };
	struct sva_bind_opts o = { .size = sizeof(o), .flags = SVA_BIND_PINNED, .ops = &ops };
	struct sva_bond *b1 = bind_ok(d1, mm, &o, "two bonds on one device"), *b2;
	pthread_t t1, t2;

	o.flags |= SVA_BIND_EXTRA_PASID;
	b2 = bind_ok(d1, mm, &o, "  (the second with EXTRA)");
	if (!b1 || !b2)
		return;
	atomic_store(&par.in, 0);
	atomic_store(&par.saw_both, 0);
	pthread_create(&t1, NULL, unbind_thread, b1);
	pthread_create(&t2, NULL, unbind_thread, b2);
	pthread_join(t1, NULL);
	pthread_join(t2, NULL);
	ok(atomic_load(&par.saw_both) == 2, "unbinds of two bonds of one device: their mm_exit callbacks run in parallel (%d)",
	   atomic_load(&par.saw_both));
	sva_mm_free(mm);
}


/* sva_ctx_free while another thread is inside one bond's mm_exit: the others
 * first, the most recent first, then it waits for that one */
static void ctx_free_waits_checks(void)
{
	struct sva_ctx *ctx = new_ctx(0);
	struct sva_dev *d = new_mock(ctx, 0);
	struct sva_mm *mm = new_mm(ctx, 0);
	struct sva_bond_ops bops = { .size = sizeof(bops), .mm_exit = blocking_exit };
	struct sva_bond_ops oops = { .size = sizeof(oops), .mm_exit = order_exit };
	static int id[2] = { 1, 2 };
	struct sva_bind_opts o = { .size = sizeof(o), .flags = SVA_BIND_PINNED, .ops = &bops };
	struct sva_bond *blocked = bind_ok(d, mm, &o, "three bonds: the first's mm_exit blocks");
	pthread_t t, rel;
	uint64_t t0, took;
	void *rv;

	o.ops = &oops, o.flags |= SVA_BIND_EXTRA_PASID;
	o.drvdata = &id[0];
	bind_ok(d, mm, &o, "  the second");
	o.drvdata = &id[1];
	bind_ok(d, mm, &o, "  the third");
	if (!blocked)
		return;
	atomic_store(&blk.entered, 0);
	atomic_store(&blk.release, 0);
	pthread_create(&t, NULL, unbind_thread, blocked);
	for (uint64_t end = now_ms() + 10000; !atomic_load(&blk.entered) && now_ms() < end;)
		usleep(1000);
	order_reset(ctx, NULL);
	t0 = now_ms();
	pthread_create(&rel, NULL, release_later, NULL);
	sva_ctx_free(ctx);
	took = now_ms() - t0;
	order_is((int[]){ 2, 1 }, 2, "sva_ctx_free while a thread unbinds the first");
	ok(atomic_load(&blk.release) && took >= 150, "  it returns once that mm_exit has (%llu ms)",
	   (unsigned long long)took);
	pthread_join(rel, NULL);
	pthread_join(t, &rv);
	ok((intptr_t)rv == 0, "  and that unbind returns 0");
	sva_mm_free(mm);
	sva_dev_close(d);
}

/* The log callback: sva_bind and sva_unbind called from it are -EDEADLK */
static struct {
	struct sva_bond *bond;
	struct sva_dev *dev;
	struct sva_mm *mm;
	int armed, bind, unbind;
} lg;
static _Thread_local int in_log;

static void probing_log(void *arg, enum sva_log_level level, const char *msg)
{
	struct sva_bond *x = SENTINEL_BOND;

	count_line(arg, level, msg);
	if (in_log || !lg.armed || level != SVA_LOG_ERROR)
		return;
	in_log = 1;
	lg.armed = 0;
	lg.bind = sva_bind(lg.dev, lg.mm,
			   &(struct sva_bind_opts){ .size = sizeof(struct sva_bind_opts), .flags = SVA_BIND_PINNED |
											    SVA_BIND_EXTRA_PASID },
			   &x);
	if (x != SENTINEL_BOND)
		lg.bind = 1000;
	lg.unbind = sva_unbind(lg.bond);
	in_log = 0;
}

static void log_callback_checks(void)
{
	struct sva_ctx *ctx = new_ctx(0);
	struct sva_dev *d = new_mock(ctx, 0);
	struct sva_mm *mm = new_mm(ctx, 0);
	struct sva_bond *b = bind_ok(d, mm, &(struct sva_bind_opts){ .size = sizeof(struct sva_bind_opts),
								    .flags = SVA_BIND_PINNED },
				     "a bond, and a log callback that binds and unbinds");
	struct sva_bond *x = SENTINEL_BOND;

	if (!b)
		return;
	lg.bond = b, lg.dev = d, lg.mm = mm, lg.armed = 1;
	sva_ctx_set_log(ctx, probing_log, NULL, SVA_LOG_DEBUG);
	/* a refused bind logs an error line: the callback runs */
	(void)sva_bind(d, mm, &(struct sva_bind_opts){ .size = sizeof(struct sva_bind_opts), .reserved = 1 }, &x);
	ok(lg.armed == 0, "the log callback ran");
	ok(lg.bind == -EDEADLK, "  sva_bind from a log callback: -EDEADLK, *out untouched (%d)", lg.bind);
	ok(lg.unbind == -EDEADLK, "  sva_unbind from a log callback: -EDEADLK (%d)", lg.unbind);
	sva_ctx_set_log(ctx, count_line, NULL, SVA_LOG_DEBUG);
	ok(sva_dev_bond_lookup(d, sva_bond_pasid(b), NULL, NULL) == 0 && sva_unbind(b) == 0,
	   "  nothing was done: the bond is there, and unbinds after");
	sva_mm_free(mm);
	sva_dev_close(d);
	sva_ctx_free(ctx);
}


/* ------------------------------------------- lookups from a signal handler */

static struct {
	struct sva_dev *dev;
	atomic_uint pasid;
	atomic_int hits, bad, done, bad_r1, bad_r2;
	atomic_uint bad_pasid;
	pthread_t main;
} sg;

static void lookup_handler(int sig)
{
	int e = errno, r1, r2;

	(void)sig;
	r1 = sva_dev_bond_lookup(sg.dev, atomic_load(&sg.pasid), NULL, NULL);
	r2 = sva_dev_bond_lookup(sg.dev, SVA_PASID_RID, NULL, NULL);
	if ((r1 && r1 != -ENOENT) || (r2 && r2 != -ENOENT)) {
		atomic_fetch_add(&sg.bad, 1);
		atomic_store(&sg.bad_r1, r1);
		atomic_store(&sg.bad_r2, r2);
		atomic_store(&sg.bad_pasid, atomic_load(&sg.pasid));
	}
	atomic_fetch_add(&sg.hits, 1);
	errno = e;
}

static void *signaller(void *arg)
{
	uint64_t end = now_ms() + 20000;

	(void)arg;
	while (!atomic_load(&sg.done)) {
		pthread_kill(sg.main, SIGUSR1);
		sched_yield();
		if (now_ms() > end) {
			/* a lookup waiting for the bind it interrupted never returns */
			printf("Bail out! binds with lookups in a signal handler did not end in 20 s\n");
			fflush(stdout);
			_exit(1);
		}
	}
	return NULL;
}

static void signal_lookup_checks(struct sva_ctx *ctx, struct sva_dev *d1)
{
	struct sva_mm *mm = new_mm(ctx, 0);
	struct sigaction sa, old;
	pthread_t t;
	int rounds = 0, fails = 0;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = lookup_handler;
	sigemptyset(&sa.sa_mask);
	sa.sa_flags = SA_RESTART;
	sigaction(SIGUSR1, &sa, &old);
	sg.dev = d1;
	sg.main = pthread_self();
	/* a value in the device's reach before the first bind (0 is -ERANGE) */
	atomic_store(&sg.pasid, GLOBAL_MIN);
	atomic_store(&sg.done, 0);
	pthread_create(&t, NULL, signaller, NULL);
	for (uint64_t end = now_ms() + 400; now_ms() < end; rounds++) {
		struct sva_bond *b = NULL;
		int i = rounds;
		uint32_t flags = (i & 1) ? SVA_BIND_RID | SVA_BIND_PINNED : SVA_BIND_PINNED;

		if (sva_bind(d1, mm, &(struct sva_bind_opts){ .size = sizeof(struct sva_bind_opts), .flags = flags }, &b)) {
			fails++;
			continue;
		}
		atomic_store(&sg.pasid, sva_bond_pasid(b) == SVA_PASID_RID ? GLOBAL_MIN : sva_bond_pasid(b));
		if (sva_unbind(b))
			fails++;
	}
	atomic_store(&sg.done, 1);
	pthread_join(t, NULL);
	sigaction(SIGUSR1, &old, NULL);
	if (atomic_load(&sg.bad))
		diag("a bad answer: PASID %u lookup %d, RID lookup %d", atomic_load(&sg.bad_pasid), atomic_load(&sg.bad_r1),
		     atomic_load(&sg.bad_r2));
	ok(fails == 0 && atomic_load(&sg.bad) == 0,
	   "%d binds and unbinds, interrupted by %d signals whose handler looks bonds up: no wait, no bad answer (%d, %d)",
	   rounds, atomic_load(&sg.hits), fails, atomic_load(&sg.bad));
	sva_mm_free(mm);
}

/* ------------------------------------------------- IOVA == VA, coherence */

static void coherence_checks(struct sva_ctx *ctx, struct sva_dev *d1, struct sva_dev *d2)
{
	struct sva_mm *mm = new_mm(ctx, 0);
	unsigned char *buf = map_at(AREA(6), 0x40000, PROT_READ | PROT_WRITE);
	struct sva_bond *b = bind_ok(d1, mm, NULL, "a fault-capable bond for the coherence checks");
	unsigned char *p;

	if (!b)
		return;
	ok(resolves(ctx, d1, b, AREA(6), SVA_ACCESS_READ) && mock_sees(ctx, buf),
	   "after a read fault the device's page is the process's page");
	ok(mock_sees(ctx, buf + PG), "  fault-around: the next page too");
	/* munmap, and new memory at the same address */
	munmap(buf, 0x10000);
	p = map_at(AREA(6), 0x10000, PROT_READ | PROT_WRITE);
	ok(sva_mm_fence(mm) == 0, "munmap and a new mapping at the same VA; sva_mm_fence");
	ok(!mock_sees(ctx, p), "  the device no longer reaches the old page (nor, before a fault, the new one)");
	ok(resolves(ctx, d1, b, AREA(6), SVA_ACCESS_WRITE) && mock_sees(ctx, p),
	   "  a new fault: the device sees the new page");
	/* madvise(MADV_DONTNEED): the process gets fresh zero pages */
	ok(resolves(ctx, d1, b, AREA(6) + 0x20000, SVA_ACCESS_READ) && mock_sees(ctx, buf + 0x20000),
	   "a second range is visible");
	madvise(buf + 0x20000, 0x10000, MADV_DONTNEED);
	buf[0x20000] = 42;
	ok(sva_mm_fence(mm) == 0 && !mock_sees(ctx, buf + 0x20000), "madvise(MADV_DONTNEED): the old page is withdrawn");
	/* libsva(7), Coherence: for 500 ms after a discard, what faults map over
	 * its range is withdrawn again every 20 ms (the device faults again and
	 * gets the new page); past that, a fault's map stays */
	usleep(550000);
	ok(resolves(ctx, d1, b, AREA(6) + 0x20000, SVA_ACCESS_READ) && mock_sees(ctx, buf + 0x20000),
	   "  a new fault: the device sees the process's new page");
	/* (libsva(7), Coherence: for 500 ms after the discard, what faults map
	 * over its range is withdrawn again every 20 ms; the device re-faults.
	 * The checks below use a range nothing discarded.) */
	ok(resolves(ctx, d1, b, AREA(6) + 0x30000, SVA_ACCESS_READ) && mock_sees(ctx, buf + 0x30000),
	   "a third range, never discarded, is visible");
	{
		/* a pinned bond of a second device: its page table shares mm's IOAS */
		struct sva_bond *pb = bind_ok(d2, mm, &(struct sva_bind_opts){ .size = sizeof(struct sva_bind_opts),
									       .flags = SVA_BIND_PINNED },
					      "a pinned bond of d2 on the same address space");

		ok(pb && mock_sees(ctx, buf + 0x30000), "  a pinned bond's page table shows the faulted page");
		sva_unbind(b);
		ok(pb && mock_sees(ctx, buf + 0x30000),
		   "memory a bond's faults made visible stays visible after its unbind, for the other bonds");
		if (pb)
			sva_unbind(pb);
	}
	sva_mm_free(mm);
	munmap(p, 0x10000);
	munmap(buf + 0x10000, 0x30000);
}

/* ------------------------------------------ unbind with faults in flight */

static void inflight_checks(struct sva_ctx *ctx, struct sva_dev *d1)
{
	struct sva_mm *mm = new_mm(ctx, 0);
	unsigned char *buf = map_at(AREA(7), 0x100000, PROT_READ | PROT_WRITE);
	int bad = 0, rounds = 8;

	for (int r = 0; r < rounds; r++) {
		struct sva_bond *b = NULL;
		uint32_t pasid;
		int ret = sva_bind(d1, mm, NULL, &b);

		if (ret) {
			bad++;
			continue;
		}
		pasid = sva_bond_pasid(b);
		for (int i = 0; i < 32; i++)
			if (sva_dev_inject_fault(d1, pasid, AREA(7) + (uint64_t)((i * 7 + r) % 256) * PG,
						 SVA_ACCESS_READ, (uint32_t)i) != 0)
				bad++;
		if (sva_unbind(b) != 0 || sva_dev_bond_lookup(d1, pasid, NULL, NULL) != -ENOENT)
			bad++;
		/* faults after the unbind, under the old value: dropped by the kernel */
		if (sva_dev_inject_fault(d1, pasid, AREA(7), SVA_ACCESS_READ, 0) != 0)
			bad++;
	}
	ok(bad == 0, "%d rounds: bind, 32 faults in flight, unbind, a fault after it (%d failures)", rounds, bad);
	{
		struct sva_bond *b = bind_ok(d1, mm, NULL, "a bind after them");

		ok(b && resolves(ctx, d1, b, AREA(7) + 0x80000, SVA_ACCESS_READ), "  resolves its faults");
		ok(sva_ctx_fault_health(ctx) == 0, "  the fault engine is healthy");
		if (b)
			sva_unbind(b);
	}
	sva_mm_free(mm);
	munmap(buf, 0x100000);
}

/* ------------------------------------------------------ threads racing */

static struct {
	struct sva_ctx *ctx;
	struct sva_dev *d1, *d2;
	struct sva_mm *mm[2];
	atomic_int stop, bad, binds, lookups, agree, disagree;
	pthread_barrier_t bar;
	struct sva_bond *pair[2];
} rc;

static void *race_binder(void *arg)
{
	int i = (int)(intptr_t)arg;
	int n = 0;

	while (!atomic_load(&rc.stop) && n < 40) {
		struct sva_bond *b = NULL;
		int ret = sva_bind(i ? rc.d2 : rc.d1, rc.mm[i], NULL, &b);

		if (ret) {
			atomic_fetch_add(&rc.bad, 1);
			continue;
		}
		if (sva_dev_inject_fault(i ? rc.d2 : rc.d1, sva_bond_pasid(b), AREA(8) + (uint64_t)(n % 16) * PG,
					 SVA_ACCESS_READ, 0))
			atomic_fetch_add(&rc.bad, 1);
		if (sva_unbind(b))
			atomic_fetch_add(&rc.bad, 1);
		atomic_fetch_add(&rc.binds, 1);
		n++;
	}
	return NULL;
}

static void *race_lookup(void *arg)
{
	unsigned x = 1;

	(void)arg;
	while (!atomic_load(&rc.stop)) {
		uint32_t p = GLOBAL_MIN + (x = x * 1103515245u + 12345u) % 512;
		int r1 = sva_dev_bond_lookup(rc.d1, p, NULL, NULL), r2 = sva_dev_bond_lookup(rc.d2, SVA_PASID_RID, NULL, NULL);

		if ((r1 != 0 && r1 != -ENOENT) || r2 != -ENOENT)
			atomic_fetch_add(&rc.bad, 1);
		atomic_fetch_add(&rc.lookups, 1);
	}
	return NULL;
}

static void *race_pair(void *arg)
{
	int i = (int)(intptr_t)arg;

	pthread_barrier_wait(&rc.bar);
	if (sva_bind(i ? rc.d2 : rc.d1, rc.mm[0], NULL, &rc.pair[i]))
		rc.pair[i] = NULL;
	return NULL;
}

static void race_checks(struct sva_ctx *ctx, struct sva_dev *d1, struct sva_dev *d2)
{
	unsigned char *buf = map_at(AREA(8), 0x10000, PROT_READ | PROT_WRITE);
	pthread_t t[4];
	uint64_t t0 = now_ms();
	int agree = 0, rounds = 10;

	memset(&rc, 0, sizeof(rc));
	rc.ctx = ctx, rc.d1 = d1, rc.d2 = d2;
	rc.mm[0] = new_mm(ctx, 0);
	rc.mm[1] = new_mm(ctx, 0);
	pthread_create(&t[0], NULL, race_binder, (void *)0);
	pthread_create(&t[1], NULL, race_binder, (void *)1);
	pthread_create(&t[2], NULL, race_lookup, NULL);
	pthread_create(&t[3], NULL, race_lookup, NULL);
	pthread_join(t[0], NULL);
	pthread_join(t[1], NULL);
	atomic_store(&rc.stop, 1);
	pthread_join(t[2], NULL);
	pthread_join(t[3], NULL);
	ok(atomic_load(&rc.bad) == 0, "two threads bind/inject/unbind on two devices, two look up: %d binds, %d lookups, "
				      "%d unexpected answers (%llu ms)",
	   atomic_load(&rc.binds), atomic_load(&rc.lookups), atomic_load(&rc.bad),
	   (unsigned long long)(now_ms() - t0));
	/* two devices binding one address space at once agree on its global PASID */
	pthread_barrier_init(&rc.bar, NULL, 2);
	for (int r = 0; r < rounds; r++) {
		pthread_create(&t[0], NULL, race_pair, (void *)0);
		pthread_create(&t[1], NULL, race_pair, (void *)1);
		pthread_join(t[0], NULL);
		pthread_join(t[1], NULL);
		if (rc.pair[0] && rc.pair[1] && sva_bond_pasid(rc.pair[0]) == sva_bond_pasid(rc.pair[1]))
			agree++;
		if (rc.pair[0])
			sva_unbind(rc.pair[0]);
		if (rc.pair[1])
			sva_unbind(rc.pair[1]);
	}
	pthread_barrier_destroy(&rc.bar);
	ok(agree == rounds, "two threads binding one address space on two devices at once agree on one PASID (%d/%d)",
	   agree, rounds);
	sva_mm_free(rc.mm[0]);
	sva_mm_free(rc.mm[1]);
	munmap(buf, 0x10000);
}

/* ------------------------------------------------------ errors of state */

static void state_error_checks(struct sva_ctx *ctx, struct sva_dev *d1, struct sva_dev *d2)
{
	snap_ctx = ctx, snap_d1 = d1, snap_d2 = d2;
	/* -EADDRINUSE: memory visible before the first bind, outside the aperture */
	{
		struct sva_mm *mm = new_mm(ctx, 0);
		void *high = mmap(NULL, 0x10000, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		struct sva_bind_opts o = { .size = sizeof(struct sva_bind_opts), .flags = SVA_BIND_PINNED };
		int ret;

		memset(high, 1, 0x10000);
		ret = sva_mm_prefault(mm, high, 0x10000);
		if ((uintptr_t)high > 0x80000000ull && ret == 0) {
			bind_fails(d1, mm, &o, -EADDRINUSE, "memory visible outside the device's aperture");
			ok(sva_mm_invalidate(mm, high, 0x10000) >= 0, "  withdrawn with sva_mm_invalidate");
			{
				struct sva_bond *b = bind_ok(d1, mm, &o, "  then the bind succeeds");

				if (b)
					sva_unbind(b);
			}
		} else {
			diag("prefault of high memory before the first bind: %d", ret);
			skip(1, "prefault before the first bind refused, or mmap gave low memory");
		}
		sva_mm_free(mm);
		munmap(high, 0x10000);
	}
	/* -EFAULT: an untracked address space's prefaulted memory unmapped since */
	{
		struct sva_mm *mm = new_mm(ctx, SVA_MM_UNTRACKED);
		unsigned char *p = map_at(AREA(9), 0x10000, PROT_READ | PROT_WRITE);
		struct sva_bind_opts o = { .size = sizeof(struct sva_bind_opts), .flags = SVA_BIND_PINNED };
		int ret = sva_mm_prefault(mm, p, 0x10000);

		ok(ret == 0, "untracked mm: prefault before the first bind (%d)", ret);
		munmap(p, 0x10000);
		bind_fails(d1, mm, &o, -EFAULT, "the first device of an untracked mm whose prefaulted memory is unmapped");
		ok(sva_mm_invalidate(mm, p, 0x10000) >= 0, "  withdrawn with sva_mm_invalidate");
		{
			struct sva_bond *b = bind_ok(d1, mm, &o, "  then the bind succeeds");

			if (b)
				sva_unbind(b);
		}
		sva_mm_free(mm);
	}
}

static int count_tasks(void)
{
	return ktest_count_tasks();
}

/*
 * sva_bind(3): a policy or opts->pasid out of the device's reach is -ERANGE
 * and "changes nothing", also as a context's first fault-capable bind: no
 * fault queue (a descriptor) and no fault thread.  The binds made them before
 * they chose the PASID, and kept them.  A global range from 1 leaves the mock
 * no own PASIDs, so SVA_PASID_DEVICE has nowhere to allocate.
 */
static void range_first_checks(void)
{
	struct sva_ctx_opts co = { .global_pasid_min = 1, .pasid_grace_ns = UINT64_MAX };
	struct sva_ctx *ctx = new_ctx_opts(&co);
	struct sva_dev *dev = new_mock(ctx, 0);
	struct sva_mm *mm = new_mm(ctx, 0);
	struct {
		struct sva_bind_opts o;
		const char *what;
	} cases[] = {
		{ { .size = sizeof(struct sva_bind_opts), .policy = SVA_PASID_DEVICE }, "SVA_PASID_DEVICE, no own PASIDs" },
		{ { .size = sizeof(struct sva_bind_opts), .flags = SVA_BIND_EXTRA_PASID, .policy = SVA_PASID_DEVICE },
		  "EXTRA with SVA_PASID_DEVICE there" },
		{ { .size = sizeof(struct sva_bind_opts), .flags = SVA_BIND_PASID, .pasid = 0 }, "SVA_BIND_PASID under 0" },
		{ { .size = sizeof(struct sva_bind_opts), .flags = SVA_BIND_PASID, .pasid = SVA_PASID_MAX + 1 },
		  "SVA_BIND_PASID beyond the PASID width" },
	};
	struct sva_bond *b;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int fds = count_fds(), tasks = count_tasks(), ret;
		uint32_t flags = dev_flags(dev);

		b = SENTINEL_BOND;
		lines_reset();
		ret = sva_bind(dev, mm, &cases[i].o, &b);
		ok(ret == -ERANGE && b == SENTINEL_BOND && lines_at(SVA_LOG_ERROR) == 1,
		   "first fault-capable bind of a context, %s: -ERANGE, *out untouched, one error line (%d, %d)",
		   cases[i].what, ret, lines_at(SVA_LOG_ERROR));
		ok(count_fds() == fds && count_tasks() == tasks && dev_flags(dev) == flags,
		   "  nothing made: no fault queue (fds %d -> %d), no fault thread (tasks %d -> %d), RID not parked "
		   "(flags %#x -> %#x)",
		   fds, count_fds(), tasks, count_tasks(), flags, dev_flags(dev));
	}
	{
		int fds = count_fds();

		b = bind_ok(dev, mm, NULL, "then a bind in reach (AUTO: the global space)");
		ok(b && count_fds() > fds, "  makes the fault queue (fds %d -> %d)", fds, count_fds());
		if (b)
			sva_unbind(b);
	}
	sva_mm_free(mm);
	sva_dev_close(dev);
	sva_ctx_free(ctx);
}

/* -EBADFD: a poll-mode context whose queue descriptor was closed behind its back */
static void badfd_checks(void)
{
	struct sva_ctx *ctx = new_ctx(SVA_CTX_FAULT_POLL);
	struct sva_dev *d1 = new_mock(ctx, 0), *d2 = new_mock(ctx, 0);
	struct sva_mm *mm = new_mm(ctx, 0);
	int fds = count_fds();
	struct sva_bond *b = bind_ok(d1, mm, NULL, "poll mode: a fault-capable bond makes the queue"), *p;
	int fd = sva_ctx_fault_fd(ctx), ret;

	ok(count_fds() == fds + 1, "  one descriptor, the queue's: no fault thread, no eventfd (%d -> %d)", fds,
	   count_fds());
	snap_ctx = ctx, snap_d1 = d1, snap_d2 = d2;
	ok(fd >= 0, "  sva_ctx_fault_fd %d", fd);
	if (fd >= 0)
		close(fd);
	ret = sva_ctx_process_faults(ctx, 8);
	ok(ret == -EBADF, "the queue closed behind libsva's back: sva_ctx_process_faults -EBADF (%d)", ret);
	bind_fails(d2, mm, NULL, -EBADFD, "a fault-capable bind in a context whose queue is gone");
	p = bind_ok(d2, mm, &(struct sva_bind_opts){ .size = sizeof(struct sva_bind_opts), .flags = SVA_BIND_PINNED },
		    "a pinned bond is still taken");
	if (p)
		sva_unbind(p);
	if (b)
		sva_unbind(b);
	sva_mm_free(mm);
	sva_dev_close(d1);
	sva_dev_close(d2);
	sva_ctx_free(ctx);
}

/* -EMFILE: no descriptor for the fault queue; nothing is left behind */
static void emfile_checks(void)
{
	pid_t pid = fork();
	int rc2;

	if (pid == 0) {
		struct sva_ctx_opts co = { .pasid_grace_ns = 0 };
		struct sva_ctx *c = new_ctx_opts(&co);
		struct sva_dev *d = new_mock(c, 0);
		struct sva_mm *m = new_mm(c, 0);
		struct sva_bond *b = SENTINEL_BOND;
		struct rlimit rl, old;
		int first = -1, last = -1, fd, ret, bad = 0;

		getrlimit(RLIMIT_NOFILE, &old);
		rl = old;
		rl.rlim_cur = (rlim_t)count_fds() + 1;
		setrlimit(RLIMIT_NOFILE, &rl);
		while ((fd = dup(0)) >= 0) {
			if (first < 0)
				first = fd;
			last = fd;
		}
		ret = sva_bind(d, m, NULL, &b);
		if (ret != -EMFILE || b != SENTINEL_BOND)
			bad |= 1, fprintf(stderr, "# bind with no fd free: %d\n", ret);
		if (sva_dev_bond_lookup(d, SVA_PASID_RID, NULL, NULL) != -ENOENT)
			bad |= 2;
		for (fd = first; fd >= 0 && fd <= last; fd++)
			close(fd);
		setrlimit(RLIMIT_NOFILE, &old);
		ret = sva_bind(d, m, NULL, &b);
		if (ret)
			bad |= 4, fprintf(stderr, "# bind after: %d\n", ret);
		else if (sva_unbind(b))
			bad |= 8;
		sva_mm_free(m);
		sva_dev_close(d);
		sva_ctx_free(c);
		_exit(bad);
	}
	rc2 = wait_child(pid);
	ok(rc2 == 0, "no descriptor free for the fault queue: -EMFILE, nothing bound; the next bind makes it (%#x)", rc2);
}

/* -ECHILD, and the exit-time teardown */
static void child_checks(struct sva_ctx *ctx, struct sva_dev *d1)
{
	struct sva_mm *mm = new_mm(ctx, 0);
	struct sva_bond *b = bind_ok(d1, mm, &(struct sva_bind_opts){ .size = sizeof(struct sva_bind_opts),
								     .flags = SVA_BIND_PINNED },
				     "a bond before fork");
	pid_t pid;
	int st;

	if (!b)
		return;
	pid = fork();
	if (pid == 0) {
		struct sva_bond *x = SENTINEL_BOND;
		int bad = 0;

		lines_reset();
		if (sva_bind(d1, mm, NULL, &x) != -ECHILD || x != SENTINEL_BOND)
			bad |= 1;
		if (lines_at(SVA_LOG_ERROR) != 1)
			bad |= 16;
		if (sva_unbind(b) != -ECHILD)
			bad |= 2;
		if (sva_dev_inject_fault(d1, sva_bond_pasid(b), AREA(0), SVA_ACCESS_READ, 0) != -ECHILD)
			bad |= 4;
		if (sva_dev_bond_lookup(d1, sva_bond_pasid(b), NULL, NULL) != 0)
			bad |= 8;
		_exit(bad);
	}
	st = wait_child(pid);
	ok(st == 0,
	   "in a forked child: sva_bind (one error line), sva_unbind, sva_dev_inject_fault -ECHILD; lookups work (%#x)",
	   st);
	ok(sva_dev_bond_lookup(d1, sva_bond_pasid(b), NULL, NULL) == 0, "  the parent's bond is untouched");
	sva_unbind(b);
	sva_mm_free(mm);
}

static int exit_pipe = -1;

static void write_exit(struct sva_bond *bond, void *drvdata)
{
	char c = *(char *)drvdata;

	(void)bond;
	if (write(exit_pipe, &c, 1) != 1)
		_exit(99);
}

static void exit_in_log(void *arg, enum sva_log_level level, const char *msg)
{
	(void)arg, (void)msg;
	if (level == SVA_LOG_ERROR)
		exit(0);
}

static void exit_in_callback(struct sva_bond *bond, void *drvdata)
{
	write_exit(bond, drvdata);
	exit(0);
}

/* A child binds and ends in `how`; what its mm_exit callbacks wrote. */
static void exit_child(int how, char *out, size_t len)
{
	int fds[2];
	pid_t pid;
	ssize_t n;

	out[0] = 0;
	if (pipe(fds))
		return;
	pid = fork();
	if (pid == 0) {
		struct sva_ctx *c;
		struct sva_dev *d, *d2;
		struct sva_mm *m;
		struct sva_bond *b;
		struct sva_bond_ops ops = { .size = sizeof(ops), .mm_exit = how == 3 ? exit_in_callback : write_exit };
		static char a = 'a', bb = 'b';

		close(fds[0]);
		exit_pipe = fds[1];
		c = new_ctx(how == 2 ? SVA_CTX_NO_EXIT_TEARDOWN : 0);
		d = new_mock(c, 0);
		d2 = new_mock(c, 0);
		m = new_mm(c, 0);
		/* RID bonds where the teardown is skipped: a PASID left attached on
		 * the mock gives kernel warnings (sva_dev_open_mock(3)) */
		if (sva_bind(d, m, &(struct sva_bind_opts){ .size = sizeof(struct sva_bind_opts),
							    .flags = (how == 0 || how == 5 ? 0u : SVA_BIND_RID) | SVA_BIND_PINNED,
							    .drvdata = &a, .ops = &ops },
			     &b))
			_exit(90);
		(void)b;
		if (sva_bind(d2, m, &(struct sva_bind_opts){ .size = sizeof(struct sva_bind_opts),
							     .flags = (how == 0 || how == 5 ? 0u : SVA_BIND_RID) | SVA_BIND_PINNED,
							     .drvdata = &bb, .ops = &ops },
			     &b))
			_exit(91);
		if (how == 1)
			_exit(0);
		if (how == 4)
			kill(getpid(), SIGKILL);
		if (how == 5) {
			/* the destructor does nothing in a forked child */
			pid_t g = fork();

			if (g == 0)
				exit(0);
			if (wait_child(g) != 0)
				_exit(92);
		}
		if (how == 3)
			sva_unbind(b); /* its mm_exit calls exit(0) */
		if (how == 6) {
			/* a refused bind logs an error line: the log callback exits */
			sva_ctx_set_log(c, exit_in_log, NULL, SVA_LOG_ERROR);
			(void)sva_bind(d, m, &(struct sva_bind_opts){ .size = sizeof(struct sva_bind_opts), .reserved = 1 },
				       &b);
			_exit(93);
		}
		exit(0);
	}
	close(fds[1]);
	n = read(fds[0], out, len - 1);
	while (n > 0 && (size_t)n < len - 1) {
		ssize_t m = read(fds[0], out + n, len - 1 - (size_t)n);

		if (m <= 0)
			break;
		n += m;
	}
	out[n > 0 ? n : 0] = 0;
	close(fds[0]);
	{
		int st = wait_child(pid);

		ok(st == (how == 4 ? 128 + SIGKILL : 0), "  the child ended as it should (%d)", st);
	}
}

static void exit_checks(void)
{
	char got[16];

	exit_child(0, got, sizeof(got));
	ok(!strcmp(got, "ba"), "exit(3) with PASID bonds: the destructor runs each mm_exit once, most recent first (\"%s\")",
	   got);
	exit_child(1, got, sizeof(got));
	ok(!strcmp(got, ""), "_exit(2): no mm_exit runs (\"%s\")", got);
	exit_child(2, got, sizeof(got));
	ok(!strcmp(got, ""), "exit(3) with SVA_CTX_NO_EXIT_TEARDOWN: no mm_exit runs (\"%s\")", got);
	exit_child(4, got, sizeof(got));
	ok(!strcmp(got, ""), "killed by SIGKILL: no mm_exit runs (\"%s\")", got);
	exit_child(5, got, sizeof(got));
	ok(!strcmp(got, "ba"), "exit(3) in a forked child runs none of its parent's; the parent's exit runs each once (\"%s\")",
	   got);
	exit_child(6, got, sizeof(got));
	ok(!strcmp(got, ""), "exit(3) from inside a log callback: no mm_exit runs (\"%s\")", got);
	exit_child(3, got, sizeof(got));
	ok(!strcmp(got, "b"), "exit(3) from inside mm_exit: the other bond's teardown is skipped (\"%s\")", got);
}

/* ------------------------------------------------------------ the mock */

static void mock_checks(void)
{
	struct sva_ctx *ctx;
	struct sva_dev *d1, *d2;
	struct sva_mm *mm;

	/* First, while the process has one thread: these children make
	 * contexts with threads, which ThreadSanitizer refuses after a fork
	 * of a multi-threaded process. */
	emfile_checks();
	exit_checks();
	ctx = new_ctx(0);
	d1 = new_mock(ctx, 0);
	d2 = new_mock(ctx, 0);
	mm = new_mm(ctx, 0);

	snap_ctx = ctx, snap_d1 = d1, snap_d2 = d2;
	arg_checks(ctx, d1, mm);
	sva_mm_free(mm);
	kind_checks(ctx, d1, d2);
	lookup_inject_checks(ctx, d1);
	concurrent_unbind_checks(ctx, d1);
	coherence_checks(ctx, d1, d2);
	inflight_checks(ctx, d1);
	resolution_checks(ctx, d1);
	parallel_unbind_checks(ctx, d1);
	signal_lookup_checks(ctx, d1);
	race_checks(ctx, d1, d2);
	state_error_checks(ctx, d1, d2);
	child_checks(ctx, d1);
	sva_dev_close(d1);
	sva_dev_close(d2);
	sva_ctx_free(ctx);
	space_checks();
	report_checks();
	mm_exit_checks(false);
	mm_exit_checks(true);
	order_checks();
	ctx_free_waits_checks();
	log_callback_checks();
	badfd_checks();
	range_first_checks();
}

/* --------------------------------------------------------------- vtd39 */

static int edu_exits;

static void edu_exit(struct sva_bond *bond, void *drvdata)
{
	(void)bond, (void)drvdata;
	edu_exits++;
}

static void edu_checks(void)
{
	struct sva_ctx *ctx = new_ctx(0);
	struct sva_dev *dev = NULL, *mock = NULL;
	struct sva_mm *mm = new_mm(ctx, 0);
	struct sva_bond_ops ops = { .size = sizeof(ops), .mm_exit = edu_exit };
	struct sva_bind_opts o;
	struct sva_bond *b;
	char addr[512];
	int ret, drv;

	if (!edu_find(addr, sizeof(addr), NULL, 0) || (ret = sva_dev_open(ctx, addr, &dev)) != 0) {
		ok(0, "the edu device is there and opens");
		return;
	}
	snap_ctx = ctx, snap_d1 = dev;
	snap_d2 = dev;
	ok(!(dev_flags(dev) & SVA_DEV_ATTACHED), "edu (no PASIDs): not attached before a bind");
	o = (struct sva_bind_opts){ .size = sizeof(o), .flags = SVA_BIND_PINNED };
	bind_fails(dev, mm, &o, -EOPNOTSUPP, "a PASID bond on a device without PASID support");
	o = (struct sva_bind_opts){ .size = sizeof(o), .flags = SVA_BIND_RID };
	{
		struct sva_bond *x = SENTINEL_BOND;
		int fds = count_fds();

		lines_reset();
		ret = sva_bind(dev, mm, &o, &x);
		ok(ret == -ENODEV && x == SENTINEL_BOND,
		   "a fault-capable RID bond on a device without PRI behind VT-d: -ENODEV (%d)", ret);
		ok(lines_at(SVA_LOG_ERROR) == 1 && strstr(last_line(), "SVA_BIND_PINNED"),
		   "  one error line that says to bind with SVA_BIND_PINNED: %s", last_line());
		ok(!(dev_flags(dev) & SVA_DEV_ATTACHED) && sva_dev_bond_lookup(dev, SVA_PASID_RID, NULL, NULL) == -ENOENT,
		   "  the device is left as it was");
		ok(count_fds() >= fds, "  (the fault queue may stay: %d -> %d fds)", fds, count_fds());
	}
	o = (struct sva_bind_opts){ .size = sizeof(o), .flags = SVA_BIND_RID | SVA_BIND_PINNED, .drvdata = &drv,
				    .ops = &ops };
	b = bind_ok(dev, mm, &o, "a pinned RID bond");
	ok(b && sva_bond_pasid(b) == SVA_PASID_RID && sva_bond_drvdata(b) == &drv, "  SVA_PASID_RID, its drvdata");
	ok(dev_flags(dev) & SVA_DEV_ATTACHED, "  SVA_DEV_ATTACHED");
	{
		struct sva_bond *lb = NULL;
		void *ld = NULL;

		ok(sva_dev_bond_lookup(dev, SVA_PASID_RID, &lb, &ld) == 0 && lb == b && ld == &drv, "  lookup finds it");
	}
	ok(sva_dev_bond_lookup(dev, 300, NULL, NULL) == -EOPNOTSUPP, "  a PASID lookup: -EOPNOTSUPP");
	o.ops = NULL;
	bind_fails(dev, mm, &o, -EBUSY, "a second RID bond");
	ok(sva_dev_inject_fault(dev, 0, 0x100000, SVA_ACCESS_READ, 0) == -EOPNOTSUPP,
	   "sva_dev_inject_fault on edu: -EOPNOTSUPP");
	ok(sva_dev_inject_fault(dev, 0, 0x100000, 0, 0) == -EOPNOTSUPP, "  checked before perm (perm 0: -EOPNOTSUPP)");
	ret = b ? sva_unbind(b) : -1;
	ok(ret == 0 && edu_exits == 1, "sva_unbind: 0, mm_exit once (%d)", edu_exits);
	ok(!(dev_flags(dev) & SVA_DEV_ATTACHED), "  the RID is detached, never parked");
	ok(sva_dev_bond_lookup(dev, SVA_PASID_RID, NULL, NULL) == -ENOENT, "  lookup -ENOENT");
	o.ops = &ops;
	b = bind_ok(dev, mm, &o, "rebind after unbind");
	if (b)
		sva_unbind(b);
	ok(edu_exits == 2, "  and its unbind runs mm_exit (%d)", edu_exits);
	skip(1, "vtd39: no mock, no PASIDs, no page faults: the rest of the page is checked on the mock topology");
	(void)mock;
	sva_mm_free(mm);
	sva_dev_close(dev);
	sva_ctx_free(ctx);
}

int main(void)
{

	const char *topo = getenv("SVA_TOPOLOGY");
	uint64_t t0 = now_ms();

	null_checks();
	if (access("/dev/iommu", R_OK | W_OK)) {
		skip(1, "no usable /dev/iommu: the kernel part runs in the VM (make check-vm)");
		return done_testing();
	}
	if (topo && !strcmp(topo, "vtd39")) {
		edu_checks();
	} else {
		struct sva_ctx *ctx = new_ctx(0);
		struct sva_dev *d = NULL;
		struct sva_mock_opts mo = { .size = sizeof(mo) };
		int ret = sva_dev_open_mock(ctx, &mo, &d);

		if (d)
			sva_dev_close(d);
		sva_ctx_free(ctx);
		if (ret == -EOPNOTSUPP && !getenv("SVA_VM")) {
			skip(1, "the kernel has no CONFIG_IOMMUFD_TEST (run make check-vm)");
			return done_testing();
		}
		mock_checks();
	}
	diag("%llu ms", (unsigned long long)(now_ms() - t0));
	return done_testing();
}
