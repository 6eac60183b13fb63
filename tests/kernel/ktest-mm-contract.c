/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Black-box review of the address-space pages: sva_mm_new(3) (its options,
 * the pin budget, coherence tracking and every errno), sva_mm_prefault(3),
 * sva_mm_invalidate(3), sva_mm_fence(3), sva_mm_allow(3)/sva_mm_deny(3),
 * sva_mm_stats(3), sva_bond_stats(3), and the Coherence and Pin budget
 * sections of libsva(7), checked only against what the pages and sva.h say.
 *
 * What the device sees is read through public calls alone: sva_mm_stats()'s
 * bytes_visible, sva_mm_invalidate()'s count of what was still visible (a
 * probe that withdraws), and the mock's faults (sva_dev_inject_fault()): a
 * fault on a page that is still visible maps nothing (pages_mapped does not
 * grow), one on a withdrawn page maps the process's page anew.  The bytes a
 * pinned page holds cannot be read through sva.h, so "the device sees the
 * process's new page" is checked as "the old page is no longer mapped and the
 * address maps anew", not by content.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <linux/userfaultfd.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <sva/sva.h>

#include "../tap.h"
#include "ktest_proc.h"

#define PG 4096ul
#define KiB 1024ul
/* Each section maps its memory in its own 16 MiB slot of the mock's window
 * [16 MiB, 2 GiB) (sva_mm_prefault(3), The window). */
#define SLOT(n) ((uintptr_t)0x40000000ul + (uintptr_t)(n) * 0x1000000ul)

static struct sva_ctx *ctx;
static struct sva_dev *dev;

/* ------------------------------------------------------------- log lines */
static pthread_mutex_t lines_lock = PTHREAD_MUTEX_INITIALIZER;
static int lines_error;
static char lines_last[512];

static void count_lines(void *arg, enum sva_log_level level, const char *msg)
{
	(void)arg;
	pthread_mutex_lock(&lines_lock);
	if (level == SVA_LOG_ERROR) {
		lines_error++;
		snprintf(lines_last, sizeof(lines_last), "%s", msg);
	}
	pthread_mutex_unlock(&lines_lock);
}

static void lines_reset(void)
{
	pthread_mutex_lock(&lines_lock);
	lines_error = 0;
	lines_last[0] = 0;
	pthread_mutex_unlock(&lines_lock);
}

static int errors_logged(void)
{
	int n;

	pthread_mutex_lock(&lines_lock);
	n = lines_error;
	pthread_mutex_unlock(&lines_lock);
	return n;
}

/* --------------------------------------------------------- fault reports */
static pthread_mutex_t rep_lock = PTHREAD_MUTEX_INITIALIZER;
static int rep_reason;
static uint64_t rep_addr;
static int rep_count;

/*
 * sva_mm_stats(3) and sva_bond_stats(3): allowed inside the mm_exit and
 * fault_error callbacks.  While cb_mm is set, each callback reads both and
 * keeps the last results (under rep_lock: fault_error runs on the fault thread).
 */
static struct sva_mm *cb_mm;
static int cb_mm_ret = 1, cb_bond_ret = 1, cb_reads;

static void cb_read_stats(struct sva_bond *bond)
{
	struct sva_mm_stats s = { .size = sizeof(s) };
	struct sva_bond_stats bs = { .size = sizeof(bs) };

	if (!cb_mm)
		return;
	cb_mm_ret = sva_mm_stats(cb_mm, &s);
	cb_bond_ret = sva_bond_stats(bond, &bs);
	cb_reads++;
}

static void on_fault_error(struct sva_bond *bond, const struct sva_fault_report *r, void *drvdata)
{
	(void)drvdata;
	pthread_mutex_lock(&rep_lock);
	rep_reason = r->reason;
	rep_addr = r->addr;
	rep_count++;
	cb_read_stats(bond);
	pthread_mutex_unlock(&rep_lock);
}

static void on_mm_exit(struct sva_bond *bond, void *drvdata)
{
	(void)drvdata;
	pthread_mutex_lock(&rep_lock);
	cb_read_stats(bond);
	pthread_mutex_unlock(&rep_lock);
}

static const struct sva_bond_ops ops = { .size = sizeof(struct sva_bond_ops),
					 .mm_exit = on_mm_exit,
					 .fault_error = on_fault_error };

static void cb_stats_arm(struct sva_mm *mm)
{
	pthread_mutex_lock(&rep_lock);
	cb_mm = mm;
	cb_mm_ret = cb_bond_ret = 1;
	cb_reads = 0;
	pthread_mutex_unlock(&rep_lock);
}

/* How many callbacks read the stats since cb_stats_arm(), and whether every
 * read succeeded; disarms. */
static int cb_stats_take(bool *all_ok)
{
	int n;

	pthread_mutex_lock(&rep_lock);
	n = cb_reads;
	*all_ok = cb_mm_ret == 0 && cb_bond_ret == 0;
	cb_mm = NULL;
	pthread_mutex_unlock(&rep_lock);
	return n;
}

static int last_reason(void)
{
	int r;

	pthread_mutex_lock(&rep_lock);
	r = rep_reason;
	pthread_mutex_unlock(&rep_lock);
	return r;
}

/* -------------------------------------------------------------- helpers */
static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static struct sva_mm_stats mst(const struct sva_mm *mm)
{
	struct sva_mm_stats s;

	memset(&s, 0, sizeof(s));
	s.size = sizeof(s);
	if (sva_mm_stats(mm, &s))
		memset(&s, 0xee, sizeof(s));
	return s;
}

static struct sva_bond_stats bst(const struct sva_bond *b)
{
	struct sva_bond_stats s = { .size = sizeof(s) };

	sva_bond_stats(b, &s);
	return s;
}

/* sva_dev_inject_fault(3), EXAMPLES: 0 once handled, -ETIMEDOUT if never. */
static int inject_and_wait(struct sva_bond *bond, uint64_t addr, uint32_t perm)
{
	struct sva_bond_stats st = bst(bond);
	uint32_t pasid = sva_bond_pasid(bond);
	uint64_t before = st.faults, end = now_ms() + 5000;
	int ret = sva_dev_inject_fault(dev, pasid == SVA_PASID_RID ? 0 : pasid, addr, perm, 0);

	if (ret)
		return ret;
	while (now_ms() < end) {
		st = bst(bond);
		if (st.faults > before)
			return 0;
		usleep(500);
	}
	return -ETIMEDOUT;
}

/* Inject a fault and say what it did: pages newly mapped, or the negative
 * reason of its refusal (-ETIMEDOUT: never handled). */
static long fault(struct sva_bond *bond, uint64_t addr, uint32_t perm)
{
	struct sva_bond_stats a = bst(bond), b;
	int ret = inject_and_wait(bond, addr, perm);

	if (ret)
		return ret;
	b = bst(bond);
	if (b.invalid > a.invalid)
		return last_reason() ? last_reason() : -12345;
	return (long)(b.pages_mapped - a.pages_mapped);
}

static void *map_at(uintptr_t va, size_t len, int prot)
{
	void *p = mmap((void *)va, len, prot, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);

	if (p == MAP_FAILED || p != (void *)va)
		tap_bail("mmap at %#lx: %s", (unsigned long)va, strerror(errno));
	/* The window sizes checked are those of small pages: a transparent
	 * huge page would round each window out to 2 MiB (sva_mm_new(3)). */
	madvise(p, len, MADV_NOHUGEPAGE);
	if (prot & PROT_WRITE)
		memset(p, 0x5a, len);
	return p;
}

static struct sva_mm *new_mm(uint32_t flags, uint64_t fault_around, uint64_t budget)
{
	struct sva_mm_opts o = { .size = sizeof(o), .flags = flags, .fault_around = fault_around, .pin_budget = budget };
	struct sva_mm *mm = NULL;
	int ret = sva_mm_new(ctx, &o, &mm);

	if (ret)
		tap_bail("sva_mm_new(flags %#x): %s (%s)", flags, strerror(-ret), lines_last);
	return mm;
}

static struct sva_bond *bind(struct sva_mm *mm, uint32_t flags)
{
	struct sva_bind_opts bo = { .size = sizeof(bo), .flags = flags, .ops = &ops };
	struct sva_bond *b = NULL;
	int ret = sva_bind(dev, mm, &bo, &b);

	if (ret)
		tap_bail("sva_bind: %s (%s)", strerror(-ret), lines_last);
	return b;
}

static int wait_child(pid_t pid)
{
	int st;

	if (pid < 0 || waitpid(pid, &st, 0) != pid)
		return -1;
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

static int cap_effective(int cap, int on)
{
	struct __user_cap_header_struct h = { .version = _LINUX_CAPABILITY_VERSION_3 };
	struct __user_cap_data_struct d[2];

	if (syscall(SYS_capget, &h, d))
		return -errno;
	if (on)
		d[cap / 32].effective |= 1u << (cap % 32);
	else
		d[cap / 32].effective &= ~(1u << (cap % 32));
	return syscall(SYS_capset, &h, d) ? -errno : 0;
}

static struct sva_ctx *fresh_ctx(void)
{
	struct sva_ctx_opts o = { .size = sizeof(o) };
	struct sva_ctx *c = NULL;

	if (sva_ctx_new(&o, &c))
		return NULL;
	sva_ctx_set_log(c, count_lines, NULL, SVA_LOG_DEBUG);
	return c;
}

/* ------------------------------------------- the default budget (a child) */

/* In a child without CAP_IPC_LOCK and with the memory-lock limit `lim`: the
 * default budget, read once at sva_mm_new(), rounded down, at least a page. */
static uint64_t child_default_budget(rlim_t lim, int have_cap)
{
	int pfd[2];
	uint64_t got = UINT64_MAX - 1;
	pid_t pid;

	if (pipe(pfd))
		return got;
	pid = fork();
	if (pid == 0) {
		struct rlimit rl = { lim, lim };
		struct sva_ctx *c;
		struct sva_mm *mm = NULL;
		struct sva_mm_stats s = { .size = sizeof(s) };
		uint64_t v = UINT64_MAX - 2;

		close(pfd[0]);
		if ((have_cap || cap_effective(CAP_IPC_LOCK, 0) == 0) && setrlimit(RLIMIT_MEMLOCK, &rl) == 0 &&
		    (c = fresh_ctx()) && sva_mm_new(c, NULL, &mm) == 0 && sva_mm_stats(mm, &s) == 0) {
			v = s.pin_budget;
			/* Read once: a later limit does not change it. */
			rl.rlim_cur = rl.rlim_max = RLIM_INFINITY;
			if (setrlimit(RLIMIT_MEMLOCK, &rl) == 0 && sva_mm_stats(mm, &s) == 0 && s.pin_budget != v)
				v = UINT64_MAX - 3;
		}
		if (write(pfd[1], &v, sizeof(v)) != sizeof(v))
			_exit(1);
		_exit(0);
	}
	close(pfd[1]);
	if (pid > 0 && read(pfd[0], &got, sizeof(got)) != sizeof(got))
		got = UINT64_MAX - 1;
	close(pfd[0]);
	wait_child(pid);
	return got;
}

static void default_budget(void)
{
	uint64_t v;

	v = child_default_budget(1024 * KiB + 123, 0);
	ok(v == 1024 * KiB, "pin_budget 0 without CAP_IPC_LOCK: the soft RLIMIT_MEMLOCK rounded down (%llu, want %lu), "
	   "and a later limit does not change it", (unsigned long long)v, 1024 * KiB);
	v = child_default_budget(100, 0);
	ok(v == PG, "pin_budget 0, limit under 4096: one page (%llu)", (unsigned long long)v);
	v = child_default_budget(RLIM_INFINITY, 0);
	ok(v == 0, "pin_budget 0, infinite limit: unbounded, 0 in stats (%llu)", (unsigned long long)v);
	if (geteuid() == 0) {
		v = child_default_budget(1024 * KiB, 1);
		ok(v == 0, "pin_budget 0 with CAP_IPC_LOCK: unbounded (%llu)", (unsigned long long)v);
	} else {
		skip(1, "not root: no CAP_IPC_LOCK to check");
	}
}

/* -------------------------------------------------- sva_mm_new's options */

#define SENT_MM ((struct sva_mm *)0x5a5a)

static void new_fails(const struct sva_mm_opts *o, const char *why)
{
	struct sva_mm *mm = SENT_MM;
	int ret;

	lines_reset();
	ret = sva_mm_new(ctx, o, &mm);
	ok(ret == -EINVAL && mm == SENT_MM, "sva_mm_new(%s): %d, want -EINVAL, *out untouched", why, ret);
	ok(errors_logged() == 1, "  one line at error level (%d): %s", errors_logged(), lines_last);
	if (ret == 0 && mm != SENT_MM)
		sva_mm_free(mm);
}

static uint64_t budget_of(const struct sva_mm_opts *o, int *ret)
{
	struct sva_mm *mm = NULL;
	uint64_t b = UINT64_MAX;

	*ret = sva_mm_new(ctx, o, &mm);
	if (*ret == 0) {
		b = mst(mm).pin_budget;
		sva_mm_free(mm);
	}
	return b;
}

static void mm_new_options(void)
{
	struct sva_mm_opts o;
	struct sva_mm *mm = SENT_MM;
	struct {
		struct sva_mm_opts o;
		unsigned char tail[16];
	} big;
	struct sva_mm_stats s;
	uint64_t b, def;
	int ret;

	ok(sva_mm_new(NULL, NULL, &mm) == -EINVAL && mm == SENT_MM, "sva_mm_new(NULL ctx): -EINVAL, *out untouched");
	ok(sva_mm_new(ctx, NULL, NULL) == -EINVAL, "sva_mm_new(NULL out): -EINVAL");

	memset(&o, 0, sizeof(o));
	new_fails(&o, "size 0");
	o.size = offsetof(struct sva_mm_opts, pin_budget) - 1;
	new_fails(&o, "size one under the first layout");
	o.size = offsetof(struct sva_mm_opts, pin_budget) + 4;
	new_fails(&o, "size between the first layout and sizeof");
	o.size = sizeof(o) - 1;
	new_fails(&o, "size sizeof - 1");
	memset(&big, 0, sizeof(big));
	big.o.size = sizeof(big);
	big.tail[15] = 1;
	new_fails(&big.o, "larger size, a non-zero byte beyond");
	o = (struct sva_mm_opts){ .size = sizeof(o), .flags = 1u << 4 };
	new_fails(&o, "unknown flag 1<<4");
	o.flags = 1u << 31;
	new_fails(&o, "unknown flag 1<<31");
	o.flags = SVA_MM_UNTRACKED | SVA_MM_TRACK_STRICT;
	new_fails(&o, "UNTRACKED|TRACK_STRICT");
	{
		static const uint64_t bad[] = { 1, 2048, 4095, 4097, 3 * 4096, 1ull << 31, 1ull << 40, UINT64_MAX };

		for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
			char why[64];

			o = (struct sva_mm_opts){ .size = sizeof(o), .fault_around = bad[i] };
			snprintf(why, sizeof(why), "fault_around %llu", (unsigned long long)bad[i]);
			new_fails(&o, why);
		}
	}
	o = (struct sva_mm_opts){ .size = sizeof(o), .pin_budget = 1 };
	new_fails(&o, "pin_budget 1");
	o.pin_budget = 4095;
	new_fails(&o, "pin_budget 4095");

	{
		static const uint64_t good[] = { 0, 4096, 8192, 1u << 20, 1u << 30 };

		for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
			o = (struct sva_mm_opts){ .size = sizeof(o), .fault_around = good[i] };
			mm = NULL;
			ret = sva_mm_new(ctx, &o, &mm);
			ok(ret == 0 && mm, "fault_around %llu accepted (%d)", (unsigned long long)good[i], ret);
			sva_mm_free(mm);
		}
	}

	/* Budgets. */
	def = budget_of(NULL, &ret);
	ok(ret == 0, "opts NULL: the defaults (%d), budget %llu", ret, (unsigned long long)def);
	o = (struct sva_mm_opts){ .size = offsetof(struct sva_mm_opts, pin_budget) };
	b = budget_of(&o, &ret);
	ok(ret == 0 && b == def, "size of the first layout accepted, the budget takes its default (%d, %llu == %llu)", ret,
	   (unsigned long long)b, (unsigned long long)def);
	memset(&big, 0, sizeof(big));
	big.o.size = sizeof(big);
	big.o.pin_budget = 64 * KiB;
	b = budget_of(&big.o, &ret);
	ok(ret == 0 && b == 64 * KiB, "larger size, zero beyond: accepted, its fields read (%d, %llu)", ret,
	   (unsigned long long)b);
	o = (struct sva_mm_opts){ .size = sizeof(o), .pin_budget = 4096 };
	b = budget_of(&o, &ret);
	ok(ret == 0 && b == 4096, "pin_budget 4096: one page (%d, %llu)", ret, (unsigned long long)b);
	o.pin_budget = 3 * PG + 4095;
	b = budget_of(&o, &ret);
	ok(ret == 0 && b == 3 * PG, "pin_budget 3 pages + 4095: rounded down to 3 pages (%d, %llu)", ret,
	   (unsigned long long)b);
	o.pin_budget = 16u << 20;
	b = budget_of(&o, &ret);
	ok(ret == 0 && b == 16u << 20, "pin_budget 16 MiB (%d, %llu)", ret, (unsigned long long)b);
	o.pin_budget = SVA_PIN_UNLIMITED;
	b = budget_of(&o, &ret);
	ok(ret == 0 && b == 0, "SVA_PIN_UNLIMITED: no budget, 0 in stats (%d, %llu)", ret, (unsigned long long)b);

	/* Tracking modes. */
	mm = new_mm(0, 0, 0);
	s = mst(mm);
	ok((s.flags & SVA_MM_STAT_TRACKED) && s.untracked_reason == 0, "default: tracked, reason 0 (flags %#x, %d)",
	   s.flags, s.untracked_reason);
	ok(s.bytes_visible == 0 && s.events == 0 && s.bytes_pinned_peak == 0 && s.bytes_prefaulted == 0,
	   "a new address space is empty");
	sva_mm_free(mm);
	mm = new_mm(SVA_MM_TRACK_STRICT, 0, 0);
	s = mst(mm);
	ok(s.flags & SVA_MM_STAT_TRACKED, "SVA_MM_TRACK_STRICT where userfaultfd works: created, tracked");
	sva_mm_free(mm);
	mm = new_mm(SVA_MM_UNTRACKED, 0, 0);
	s = mst(mm);
	ok(!(s.flags & SVA_MM_STAT_TRACKED) && s.untracked_reason == -ENOTCONN,
	   "SVA_MM_UNTRACKED: not tracked, reason -ENOTCONN (flags %#x, %d)", s.flags, s.untracked_reason);
	ok(sva_mm_fence(mm) == 0, "  its fence returns 0 at once");
	sva_mm_free(mm);
	mm = new_mm(SVA_MM_PRIVATE | SVA_MM_RESTRICTED, 0, 0);
	ok(mm != NULL, "SVA_MM_PRIVATE|SVA_MM_RESTRICTED combine");
	sva_mm_free(mm);
}

/* ------------------------------------------------------------ sva_mm_stats */

static void stats_errors(void)
{
	struct sva_mm *mm = new_mm(0, 0, 64 * KiB);
	struct sva_mm_stats s;
	struct {
		struct sva_mm_stats s;
		unsigned char tail[16];
	} big;
	struct sva_bond_stats bs;
	struct {
		struct sva_bond_stats s;
		unsigned char tail[16];
	} bbig;
	struct sva_bond *b;
	size_t first = offsetof(struct sva_mm_stats, pin_budget);

	lines_reset();
	memset(&s, 0, sizeof(s));
	s.size = sizeof(s);
	ok(sva_mm_stats(NULL, &s) == -EINVAL, "sva_mm_stats(NULL mm): -EINVAL");
	ok(sva_mm_stats(mm, NULL) == -EINVAL, "sva_mm_stats(NULL stats): -EINVAL");
	s.size = 0;
	ok(sva_mm_stats(mm, &s) == -EINVAL, "size 0: -EINVAL");
	s.size = offsetof(struct sva_mm_stats, bytes_visible);
	ok(sva_mm_stats(mm, &s) == -EINVAL, "size ending before bytes_visible: -EINVAL");
	s.size = first - 1;
	ok(sva_mm_stats(mm, &s) == -EINVAL, "size one under the first layout: -EINVAL");
	s.size = first + 8;
	ok(sva_mm_stats(mm, &s) == -EINVAL, "size between the layouts: -EINVAL");
	s.size = sizeof(s) - 1;
	ok(sva_mm_stats(mm, &s) == -EINVAL, "size sizeof - 1: -EINVAL");
	ok(errors_logged() == 0, "  none on the context's log (%d; a NULL mm's line is the process-wide log's)",
	   errors_logged());
	memset(&s, 0xff, sizeof(s));
	s.size = first;
	ok(sva_mm_stats(mm, &s) == 0 && s.pin_budget == UINT64_MAX && s.refaults == UINT64_MAX &&
	   s.bytes_visible == 0 && (s.flags & SVA_MM_STAT_TRACKED),
	   "the first layout's size: the fields before pin_budget only");
	memset(&big, 0xff, sizeof(big));
	big.s.size = sizeof(big);
	ok(sva_mm_stats(mm, &big.s) == 0 && big.s.pin_budget == 64 * KiB && big.tail[0] == 0 && big.tail[15] == 0,
	   "a larger size: zero-filled past what the library knows");

	b = bind(mm, 0);
	ok(sva_bond_stats(NULL, &bs) == -EINVAL, "sva_bond_stats(NULL bond): -EINVAL");
	ok(sva_bond_stats(b, NULL) == -EINVAL, "sva_bond_stats(NULL stats): -EINVAL");
	bs.size = sizeof(bs) - 1;
	ok(sva_bond_stats(b, &bs) == -EINVAL, "sva_bond_stats: size too small: -EINVAL");
	bs.size = 0;
	ok(sva_bond_stats(b, &bs) == -EINVAL, "sva_bond_stats: size 0: -EINVAL");
	memset(&bbig, 0xff, sizeof(bbig));
	bbig.s.size = sizeof(bbig);
	ok(sva_bond_stats(b, &bbig.s) == 0 && bbig.tail[0] == 0 && bbig.tail[15] == 0 && bbig.s.faults == 0 &&
	   bbig.s.groups == 0 && bbig.s.invalid == 0 && bbig.s.pages_mapped == 0,
	   "sva_bond_stats: larger size zero-filled; the counters start at 0");
	sva_unbind(b);
	sva_mm_free(mm);
}

/* ------------------------------------------------------ errno, each call */

static void range_errors(void)
{
	struct sva_mm *mm = new_mm(0, 0, 0), *rm = new_mm(SVA_MM_RESTRICTED, 0, 0);
	uintptr_t va = SLOT(1);
	char *p = map_at(va, 64 * KiB, PROT_READ | PROT_WRITE);
	struct sva_mm_stats s0, s1;
	pid_t pid;
	int r;
	uintptr_t last = UINT64_MAX - PG + 1; /* the last page */

	ok(sva_mm_prefault(mm, p, 16 * KiB) == 0, "prefault 16 KiB");
	s0 = mst(mm);
	lines_reset();
	ok(sva_mm_prefault(NULL, p, PG) == -EINVAL, "prefault(NULL mm): -EINVAL");
	ok(sva_mm_prefault(mm, p, 0) == -EINVAL, "prefault len 0: -EINVAL");
	ok(sva_mm_prefault(mm, (void *)(UINT64_MAX - PG), 2 * PG) == -EINVAL, "prefault wrapping: -EINVAL");
	ok(sva_mm_prefault(mm, (void *)last, PG) == -EINVAL, "prefault of the last page: -EINVAL");
	ok(sva_mm_prefault(mm, (void *)(last - PG), PG + 1) == -EINVAL, "prefault reaching into the last page: -EINVAL");
	ok(sva_mm_invalidate(NULL, p, PG) == -EINVAL, "invalidate(NULL mm): -EINVAL");
	ok(sva_mm_invalidate(mm, p, 0) == -EINVAL, "invalidate len 0: -EINVAL");
	ok(sva_mm_invalidate(mm, (void *)(UINT64_MAX - PG), 2 * PG) == -EINVAL, "invalidate wrapping: -EINVAL");
	ok(sva_mm_invalidate(mm, (void *)last, PG) == -EINVAL, "invalidate of the last page: -EINVAL");
	ok(sva_mm_fence(NULL) == -EINVAL, "fence(NULL): -EINVAL");
	ok(sva_mm_allow(mm, p, PG) == -EINVAL && sva_mm_deny(mm, p, PG) == -EINVAL,
	   "allow/deny on an address space that is not restricted: -EINVAL");
	ok(sva_mm_allow(NULL, p, PG) == -EINVAL && sva_mm_deny(NULL, p, PG) == -EINVAL, "allow/deny(NULL): -EINVAL");
	ok(sva_mm_allow(rm, p, 0) == -EINVAL && sva_mm_deny(rm, p, 0) == -EINVAL, "allow/deny len 0: -EINVAL");
	ok(sva_mm_allow(rm, p + 1, PG) == -EINVAL && sva_mm_deny(rm, p + 1, PG) == -EINVAL,
	   "allow/deny unaligned addr: -EINVAL");
	ok(sva_mm_allow(rm, p, PG + 1) == -EINVAL && sva_mm_deny(rm, p, PG + 1) == -EINVAL,
	   "allow/deny unaligned len: -EINVAL");
	ok(sva_mm_allow(rm, (void *)(UINT64_MAX - 2 * PG + 1), 4 * PG) == -EINVAL &&
	   sva_mm_deny(rm, (void *)(UINT64_MAX - 2 * PG + 1), 4 * PG) == -EINVAL, "allow/deny wrapping: -EINVAL");
	ok(sva_mm_allow(rm, (void *)last, PG) == -EINVAL && sva_mm_deny(rm, (void *)last, PG) == -EINVAL,
	   "allow/deny of the last page: -EINVAL");
	s1 = mst(mm);
	ok(s1.bytes_visible == s0.bytes_visible && s1.bytes_prefaulted == s0.bytes_prefaulted,
	   "bad input changed nothing (visible %llu)", (unsigned long long)s1.bytes_visible);
	ok(sva_mm_invalidate(mm, p, PG) == 16 * (long)KiB, "  and what was visible is still there");
	ok(sva_mm_prefault(mm, p, 16 * KiB) == 0, "prefault again");

	/* -ECHILD, in a forked child, for every call on the parent's address space. */
	pid = fork();
	if (pid == 0) {
		int bad = 0;
		struct sva_mm *m2 = SENT_MM;

		if (sva_mm_prefault(mm, p, PG) != -ECHILD)
			bad |= 1;
		if (sva_mm_invalidate(mm, p, PG) != -ECHILD)
			bad |= 2;
		if (sva_mm_fence(mm) != -ECHILD)
			bad |= 4;
		if (sva_mm_allow(rm, p, PG) != -ECHILD || sva_mm_deny(rm, p, PG) != -ECHILD)
			bad |= 8;
		if (sva_mm_new(ctx, NULL, &m2) != -ECHILD || m2 != SENT_MM)
			bad |= 16;
		/* The child's munmap is not tracked: nothing withdrawn for the parent. */
		munmap(p, 64 * KiB);
		_exit(bad);
	}
	r = wait_child(pid);
	ok(r == 0, "in a forked child: prefault, invalidate, fence, allow/deny, mm_new: -ECHILD (mask %d)", r);
	sva_mm_fence(mm);
	s1 = mst(mm);
	ok(s1.bytes_visible == s0.bytes_visible, "  the child's munmap withdrew nothing of the parent's");
	ok(sva_mm_invalidate(mm, p, PG) == 16 * (long)KiB, "invalidate returns the whole chunk (16 KiB for one page)");
	ok(sva_mm_invalidate(mm, p, PG) == 0, "invalidate of nothing visible: 0");
	munmap(p, 64 * KiB);
	ok(sva_mm_invalidate(mm, p, 64 * KiB) == 0, "invalidate of a range no longer mapped: 0, no error");
	sva_mm_free(rm);
	sva_mm_free(mm);
}

/* sva_mm_prefault's refusals, each with nothing changed. */
static void prefault_fails(struct sva_mm *mm, const void *a, size_t len, int want, const char *why)
{
	struct sva_mm_stats s0 = mst(mm), s1;
	int ret = sva_mm_prefault(mm, a, len);

	s1 = mst(mm);
	ok(ret == want, "prefault %s: %d, want %d", why, ret, want);
	ok(s1.bytes_visible == s0.bytes_visible && s1.bytes_prefaulted == s0.bytes_prefaulted &&
	   s1.bytes_pinned_peak == s0.bytes_pinned_peak,
	   "  nothing changed (visible %llu -> %llu, peak %llu -> %llu)", (unsigned long long)s0.bytes_visible,
	   (unsigned long long)s1.bytes_visible, (unsigned long long)s0.bytes_pinned_peak,
	   (unsigned long long)s1.bytes_pinned_peak);
}

/*
 * sva_mm_prefault(3), ERRORS: "-EMFILE, -ENFILE No file descriptor is free to
 * open /proc/self/maps, and the address space keeps none open: there was none
 * free either when sva_mm_new(3) created it"; "-ENOENT /proc is not mounted".
 * An untracked address space, so that sva_mm_new() needs no descriptor of its
 * own (a userfaultfd) and succeeds with none free.
 */
static void prefault_maps_errors(void)
{
	char *p = map_at(SLOT(25), 64 * KiB, PROT_READ | PROT_WRITE);
	struct sva_mm_opts o = { .size = sizeof(o), .flags = SVA_MM_UNTRACKED };
	struct rlimit old, low;
	struct sva_mm *mm = NULL;
	int fills[256], n = 0, top = -1, ret_new, ret_free, r;
	pid_t pid;

	if (getrlimit(RLIMIT_NOFILE, &old))
		tap_bail("getrlimit: %s", strerror(errno));
	for (int fd = 0; fd < 4096; fd++)
		if (fcntl(fd, F_GETFD) >= 0)
			top = fd;
	low = old;
	low.rlim_cur = (rlim_t)top + 1;
	if (setrlimit(RLIMIT_NOFILE, &low))
		tap_bail("setrlimit: %s", strerror(errno));
	/* Fill the holes below the highest descriptor: none is free then. */
	while (n < 256 && (fills[n] = open("/dev/null", O_RDONLY | O_CLOEXEC)) >= 0)
		n++;
	if (n == 256) {
		while (n > 0)
			close(fills[--n]);
		setrlimit(RLIMIT_NOFILE, &old);
		skip(4, "more than 256 free descriptors below the highest open one");
		goto proc;
	}
	ret_new = sva_mm_new(ctx, &o, &mm);
	if (ret_new == 0)
		prefault_fails(mm, p, 16 * KiB, -EMFILE, "with no descriptor free, none kept since sva_mm_new()");
	if (n > 0)
		close(fills[--n]);
	ret_free = mm ? sva_mm_prefault(mm, p, 16 * KiB) : ret_new;
	while (n > 0)
		close(fills[--n]);
	setrlimit(RLIMIT_NOFILE, &old);
	is_int(ret_new, 0, "untracked sva_mm_new() with no descriptor free: made");
	is_int(ret_free, 0, "  and with one free again, the prefault maps");
	sva_mm_free(mm);

proc:
	/* -ENOENT: a child in a mount namespace of its own, /proc unmounted. */
	pid = fork();
	if (pid == 0) {
		struct sva_ctx *c;
		struct sva_mm *m = NULL;

		if (unshare(CLONE_NEWNS) || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) ||
		    umount2("/proc", MNT_DETACH))
			_exit(77);
		c = fresh_ctx();
		if (!c || sva_mm_new(c, &o, &m))
			_exit(3);
		r = sva_mm_prefault(m, p, 16 * KiB);
		_exit(r == -ENOENT ? 0 : r == 0 ? 2 : 1);
	}
	r = wait_child(pid);
	if (r == 77)
		skip(1, "no mount namespace to unmount /proc in");
	else
		ok(r == 0, "prefault where /proc is not mounted: -ENOENT (child status %d: 1 another errno, 2 success, 3 no "
			   "context or address space)", r);
	munmap(p, 64 * KiB);
}

static int own_uffd(void *a, size_t len)
{
	struct uffdio_api api = { .api = UFFD_API };
	struct uffdio_register reg = { .range = { (uintptr_t)a, len }, .mode = UFFDIO_REGISTER_MODE_MISSING };
	int fd = (int)syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK | UFFD_USER_MODE_ONLY);

	if (fd < 0)
		return -1;
	if (ioctl(fd, UFFDIO_API, &api) || ioctl(fd, UFFDIO_REGISTER, &reg)) {
		close(fd);
		return -1;
	}
	return fd;
}

static void prefault_errors(void)
{
	struct sva_mm *mm = new_mm(0, 0, 128 * KiB), *sm = new_mm(SVA_MM_TRACK_STRICT, 0, 0);
	struct sva_bond *b = bind(mm, 0), *sb = bind(sm, 0);
	uintptr_t va = SLOT(2);
	char *p = map_at(va, 256 * KiB, PROT_READ | PROT_WRITE), *hi, *q, *u;
	struct sva_mm_stats s0, s1;
	int fd;

	ok(sva_mm_prefault(mm, p, 32 * KiB) == 0, "prefault 32 KiB");
	s0 = mst(mm);
	ok(s0.bytes_visible == 32 * KiB && s0.bytes_prefaulted == 32 * KiB && s0.bytes_pinned_peak == 32 * KiB,
	   "  visible, prefaulted and peak: 32 KiB (%llu %llu %llu)", (unsigned long long)s0.bytes_visible,
	   (unsigned long long)s0.bytes_prefaulted, (unsigned long long)s0.bytes_pinned_peak);
	ok(sva_mm_prefault(mm, p, 32 * KiB) == 0 && mst(mm).bytes_visible == 32 * KiB,
	   "prefault of a visible range: 0, nothing more mapped");
	ok(sva_mm_prefault(mm, p + 1, 10) == 0 && mst(mm).bytes_visible == 32 * KiB,
	   "an unaligned range inside it: rounded out, nothing more");

	/* Step 1: libsva's own memory, checked first: -EXDEV. */
	prefault_fails(mm, (void *)((uintptr_t)ctx & ~(PG - 1)), PG, -EXDEV, "of the context object's page");
	prefault_fails(mm, (void *)((uintptr_t)mm & ~(PG - 1)), PG, -EXDEV, "of the address space object's page");
	prefault_fails(mm, (void *)((uintptr_t)dev & ~(PG - 1)), PG, -EXDEV, "of the device object's page");
	prefault_fails(mm, (void *)((uintptr_t)b & ~(PG - 1)), PG, -EXDEV, "of the bond object's page");

	/* Step 2. */
	munmap(p + 224 * KiB, 8 * KiB);
	prefault_fails(mm, p + 220 * KiB, 16 * KiB, -EFAULT, "over a hole");
	prefault_fails(mm, p + 224 * KiB, PG, -EFAULT, "of an unmapped page");
	mprotect(p + 240 * KiB, PG, PROT_NONE);
	prefault_fails(mm, p + 236 * KiB, 8 * KiB, -EACCES, "over a PROT_NONE page");
	/* 66 mappings: alternating permissions keep the kernel from merging them. */
	q = map_at(SLOT(3), 66 * PG, PROT_READ | PROT_WRITE);
	for (int i = 0; i < 66; i += 2)
		mprotect(q + i * PG, PG, PROT_READ);
	prefault_fails(mm, q, 66 * PG, -E2BIG, "over 66 mappings");
	prefault_fails(mm, q, 65 * PG, -E2BIG, "over 65 mappings, one more than 64");
	/* Execute permission plays no part: execute-only is neither readable nor
	 * writable in /proc/self/maps (-EACCES); read-execute is read-only, and
	 * write-only is mapped (sva_mm_prefault(3), Permissions). */
	{
		char *x = map_at(SLOT(31), 48 * KiB, PROT_READ | PROT_WRITE);

		mprotect(x, 16 * KiB, PROT_EXEC);
		mprotect(x + 16 * KiB, 16 * KiB, PROT_READ | PROT_EXEC);
		mprotect(x + 32 * KiB, 16 * KiB, PROT_WRITE);
		prefault_fails(mm, x, PG, -EACCES, "of an execute-only mapping");
		ok(sva_mm_prefault(mm, x + 16 * KiB, 16 * KiB) == 0, "prefault of a read-execute mapping: 0");
		ok(sva_mm_prefault(mm, x + 32 * KiB, 16 * KiB) == 0, "prefault of a write-only mapping: 0");
		ok(sva_mm_invalidate(mm, x, 48 * KiB) == 32 * (long)KiB, "  both visible, withdrawn");
		munmap(x, 48 * KiB);
	}
	{
		struct sva_mm *um = new_mm(0, 0, SVA_PIN_UNLIMITED);

		ok(sva_mm_prefault(um, q, 64 * PG) == 0, "prefault over 64 mappings: 0");
		ok(sva_mm_invalidate(um, q, 64 * PG) == 64 * (long)PG, "  invalidated: 64 pages, one chunk each");
		sva_mm_free(um);
	}

	/* Step 3: the window, once a device is bound. */
	hi = mmap(NULL, PG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if ((uintptr_t)hi >= 0x80000000ul)
		prefault_fails(mm, hi, PG, -ERANGE, "outside the mock's window");
	else
		skip(2, "mmap gave an address inside the window");
	munmap(hi, PG);

	/* Step 4: the budget (128 KiB, 32 prefaulted). */
	prefault_fails(mm, p + 32 * KiB, 100 * KiB, -ENOSPC, "over the budget beside what is prefaulted");
	ok(sva_mm_prefault(mm, p + 32 * KiB, 96 * KiB) == 0 && mst(mm).bytes_prefaulted == 128 * KiB,
	   "prefault up to the budget exactly: 0");
	prefault_fails(mm, p + 176 * KiB, PG, -ENOSPC, "of one page more");
	ok(mst(mm).bytes_pinned_peak == 128 * KiB, "bytes_pinned_peak: 128 KiB, never above the budget");

	/* Strict: a range another userfaultfd has: -EBUSY; default: mapped untracked. */
	/* Its own mapping: libsva registered the whole of p's. */
	u = map_at(SLOT(2) + 1024 * KiB, 16 * KiB, PROT_READ | PROT_WRITE);
	fd = own_uffd(u, 16 * KiB);
	if (fd >= 0) {
		struct sva_mm *dm = new_mm(0, 0, 0);

		prefault_fails(sm, u, 16 * KiB, -EBUSY, "(strict) of a range another userfaultfd has");
		s0 = mst(dm);
		ok(sva_mm_prefault(dm, u, 16 * KiB) == 0, "prefault (default) of that range: mapped");
		s1 = mst(dm);
		ok(s1.untracked_ranges == s0.untracked_ranges + 1 && s1.untracked_bytes == s0.untracked_bytes + 16 * KiB &&
		   s1.untracked_reason == -EBUSY && (s1.flags & SVA_MM_STAT_TRACKED),
		   "  untracked: counted (%llu ranges, %llu bytes), reason -EBUSY (%d), the address space still tracked",
		   (unsigned long long)s1.untracked_ranges, (unsigned long long)s1.untracked_bytes, s1.untracked_reason);
		sva_mm_free(dm);
		close(fd);
	} else {
		skip(6, "no userfaultfd of our own");
	}

	/* Strict: a shared mapping of a file opened read-only: -EINVAL. */
	fd = open("/tmp/ktest-mm-contract-ro", O_CREAT | O_RDWR | O_TRUNC, 0600);
	if (fd >= 0 && ftruncate(fd, 16 * KiB) == 0) {
		int rfd = open("/tmp/ktest-mm-contract-ro", O_RDONLY);
		void *f = rfd >= 0 ? mmap((void *)SLOT(4), 16 * KiB, PROT_READ, MAP_SHARED | MAP_FIXED_NOREPLACE, rfd, 0)
				   : MAP_FAILED;

		if (f == (void *)SLOT(4)) {
			struct sva_mm *dm = new_mm(0, 0, 0);

			prefault_fails(sm, f, 16 * KiB, -EINVAL, "(strict) of a read-only shared file mapping");
			s0 = mst(dm);
			ok(sva_mm_prefault(dm, f, 16 * KiB) == 0, "prefault (default) of it: mapped");
			s1 = mst(dm);
			ok(s1.untracked_ranges == s0.untracked_ranges + 1 && s1.untracked_reason == -EINVAL,
			   "  untracked, counted, reason -EINVAL (%d)", s1.untracked_reason);
			sva_mm_free(dm);
			munmap(f, 16 * KiB);
		} else {
			skip(4, "cannot map the file");
		}
		if (rfd >= 0)
			close(rfd);
	} else {
		skip(4, "cannot make the file");
	}
	if (fd >= 0)
		close(fd);
	unlink("/tmp/ktest-mm-contract-ro");

	sva_unbind(sb);
	sva_unbind(b);
	sva_mm_free(sm);
	sva_mm_free(mm);
	munmap(p, 256 * KiB);
	munmap(q, 66 * PG);
	munmap(u, 16 * KiB);
}

/* ------------------------------------------------------------- coherence */

/* Withdrawn after the operation and the fence: bytes_visible back to `want`. */
static void coherence(void)
{
	struct sva_mm *mm = new_mm(0, 0, 0);
	struct sva_bond *b = bind(mm, 0);
	struct sva_mm_stats s0, s1;
	char *p, *q;
	long n;
	pid_t pid;
	int r;

	/* munmap, part of a chunk: the whole chunk goes. */
	p = map_at(SLOT(5), 64 * KiB, PROT_READ | PROT_WRITE);
	ok(sva_mm_prefault(mm, p, 64 * KiB) == 0, "coherence: prefault 64 KiB");
	s0 = mst(mm);
	munmap(p + 16 * KiB, 16 * KiB);
	ok(sva_mm_fence(mm) == 0, "munmap of 16 KiB inside it; fence: 0");
	s1 = mst(mm);
	ok(s1.bytes_visible == s0.bytes_visible - 64 * KiB, "  the whole chunk withdrawn (visible %llu -> %llu)",
	   (unsigned long long)s0.bytes_visible, (unsigned long long)s1.bytes_visible);
	ok(s1.events == s0.events + 1 && s1.bytes_withdrawn == s0.bytes_withdrawn + 64 * KiB,
	   "  one event, 64 KiB withdrawn (%llu, %llu)", (unsigned long long)(s1.events - s0.events),
	   (unsigned long long)(s1.bytes_withdrawn - s0.bytes_withdrawn));
	ok(s1.bytes_prefaulted == s0.bytes_prefaulted - 64 * KiB, "  and it left bytes_prefaulted");
	ok(sva_mm_invalidate(mm, p, 64 * KiB) == 0, "  nothing of it visible (invalidate: 0)");
	n = fault(b, (uintptr_t)p, SVA_ACCESS_READ);
	ok(n == 4, "  a device read of the still-mapped rest faults it in anew, clipped to the mapping: %ld pages", n);
	n = fault(b, (uintptr_t)p + 16 * KiB, SVA_ACCESS_READ);
	ok(n == -EFAULT, "  a device access to the unmapped part: -EFAULT (%ld)", n);
	/* The address reused by new memory: the device gets the new page. */
	q = map_at((uintptr_t)p + 16 * KiB, 16 * KiB, PROT_READ | PROT_WRITE);
	n = fault(b, (uintptr_t)q, SVA_ACCESS_WRITE);
	ok(n > 0, "  memory mapped again there: the device's write faults it in (%ld pages)", n);
	munmap(p, 64 * KiB);
	sva_mm_fence(mm);

	/* madvise(MADV_DONTNEED). */
	p = map_at(SLOT(6), 64 * KiB, PROT_READ | PROT_WRITE);
	ok(sva_mm_prefault(mm, p, 64 * KiB) == 0, "prefault 64 KiB");
	s0 = mst(mm);
	ok(madvise(p, 64 * KiB, MADV_DONTNEED) == 0 && sva_mm_fence(mm) == 0, "madvise(MADV_DONTNEED); fence");
	s1 = mst(mm);
	ok(s1.bytes_visible == s0.bytes_visible - 64 * KiB && s1.events == s0.events + 1,
	   "  withdrawn: visible -%llu, %llu event", (unsigned long long)(s0.bytes_visible - s1.bytes_visible),
	   (unsigned long long)(s1.events - s0.events));
	ok(sva_mm_prefault(mm, p, 64 * KiB) == 0 && mst(mm).bytes_visible == s0.bytes_visible,
	   "  prefault maps the new pages (not found \"already visible\")");
	ok(sva_mm_invalidate(mm, p, 64 * KiB) == 64 * (long)KiB, "  (invalidated again)");
	munmap(p, 64 * KiB);

	/* mremap moving: both ranges withdrawn, 3 events. */
	p = map_at(SLOT(7), 64 * KiB, PROT_READ | PROT_WRITE);
	ok(sva_mm_prefault(mm, p, 64 * KiB) == 0, "prefault 64 KiB");
	sva_mm_fence(mm);
	s0 = mst(mm);
	q = mremap(p, 64 * KiB, 64 * KiB, MREMAP_MAYMOVE | MREMAP_FIXED, (void *)(SLOT(7) + 1024 * KiB));
	ok(q == (void *)(SLOT(7) + 1024 * KiB) && sva_mm_fence(mm) == 0, "mremap moving it; fence");
	s1 = mst(mm);
	ok(s1.bytes_visible == s0.bytes_visible - 64 * KiB, "  the old range withdrawn");
	ok(s1.events == s0.events + 3, "  3 events: the REMAP's two ranges and an UNMAP (%llu)",
	   (unsigned long long)(s1.events - s0.events));
	ok(sva_mm_invalidate(mm, p, 64 * KiB) == 0 && sva_mm_invalidate(mm, q, 64 * KiB) == 0,
	   "  nothing visible at either address");
	n = fault(b, (uintptr_t)q, SVA_ACCESS_READ);
	ok(n > 0, "  a device read at the new address faults the moved pages in (%ld)", n);
	n = fault(b, (uintptr_t)p, SVA_ACCESS_READ);
	ok(n == -EFAULT, "  at the old address: -EFAULT (%ld)", n);
	munmap(q, 64 * KiB);

	/* mmap MAP_FIXED over visible memory. */
	p = map_at(SLOT(8), 64 * KiB, PROT_READ | PROT_WRITE);
	ok(sva_mm_prefault(mm, p, 64 * KiB) == 0, "prefault 64 KiB");
	s0 = mst(mm);
	q = mmap(p, 64 * KiB, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
	ok(q == p && sva_mm_fence(mm) == 0, "mmap MAP_FIXED over it; fence");
	s1 = mst(mm);
	ok(s1.bytes_visible == s0.bytes_visible - 64 * KiB && s1.events == s0.events + 1,
	   "  withdrawn, one event (%llu)", (unsigned long long)(s1.events - s0.events));
	ok(sva_mm_prefault(mm, p, 64 * KiB) == 0 && mst(mm).bytes_visible == s0.bytes_visible,
	   "  prefault maps the new pages");

	/* mprotect downgrade: no event; the page stays until invalidate. */
	s0 = mst(mm);
	ok(mprotect(p, 64 * KiB, PROT_READ) == 0 && sva_mm_fence(mm) == 0, "mprotect(PROT_READ) over it; fence");
	s1 = mst(mm);
	ok(s1.bytes_visible == s0.bytes_visible && s1.events == s0.events,
	   "  no event, still visible (as the pages say: sva_mm_invalidate() is the remedy)");
	ok(sva_mm_invalidate(mm, p, 64 * KiB) == 64 * (long)KiB, "  invalidate withdraws it: 64 KiB");
	n = fault(b, (uintptr_t)p, SVA_ACCESS_WRITE);
	ok(n == -EACCES, "  then a device write faults and is refused: -EACCES (%ld)", n);
	n = fault(b, (uintptr_t)p, SVA_ACCESS_READ);
	ok(n > 0, "  a device read is mapped read-only (%ld pages)", n);
	munmap(p, 64 * KiB);
	sva_mm_fence(mm);

	/* Two registered mappings: madvise sends 2 events, munmap 1. */
	p = map_at(SLOT(9), 64 * KiB, PROT_READ | PROT_WRITE);
	mprotect(p + 32 * KiB, 32 * KiB, PROT_READ);
	ok(sva_mm_prefault(mm, p, 64 * KiB) == 0, "prefault over two mappings");
	s0 = mst(mm);
	madvise(p, 64 * KiB, MADV_DONTNEED);
	sva_mm_fence(mm);
	s1 = mst(mm);
	ok(s1.events == s0.events + 2, "  madvise over both: 2 events (%llu)", (unsigned long long)(s1.events - s0.events));
	ok(s1.bytes_visible == s0.bytes_visible - 64 * KiB, "  both withdrawn");
	s0 = s1;
	munmap(p, 64 * KiB);
	sva_mm_fence(mm);
	s1 = mst(mm);
	ok(s1.events == s0.events + 1, "  munmap over both: 1 event (%llu)", (unsigned long long)(s1.events - s0.events));

	/* fork: the parent and its devices keep the originals; the child's
	 * writes (copy on write) and munmap are not the parent's. */
	p = map_at(SLOT(10), 64 * KiB, PROT_READ | PROT_WRITE);
	ok(sva_mm_prefault(mm, p, 64 * KiB) == 0, "prefault 64 KiB before fork");
	s0 = mst(mm);
	pid = fork();
	if (pid == 0) {
		memset(p, 0x11, 64 * KiB);
		munmap(p, 64 * KiB);
		_exit(sva_mm_prefault(mm, p, PG) == -ECHILD ? 0 : 1);
	}
	r = wait_child(pid);
	ok(r == 0, "the child writes, unmaps, and its prefault is -ECHILD");
	sva_mm_fence(mm);
	s1 = mst(mm);
	ok(s1.bytes_visible == s0.bytes_visible && s1.events == s0.events,
	   "  the parent's view is unchanged: nothing withdrawn, no event");
	ok(p[0] == 0x5a && p[64 * KiB - 1] == 0x5a, "  the parent's memory is its own (0x%02x)", (unsigned char)p[0]);
	n = fault(b, (uintptr_t)p, SVA_ACCESS_WRITE);
	ok(n == 0, "  a device write there is resolved with the parent's page already visible (%ld pages new)", n);
	munmap(p, 64 * KiB);
	sva_mm_fence(mm);
	ok(mst(mm).bytes_visible == s0.bytes_visible - 64 * KiB, "  the parent's munmap withdraws it");

	sva_unbind(b);
	sva_mm_free(mm);

	/* Untracked: munmap leaves the old pages visible until invalidate. */
	mm = new_mm(SVA_MM_UNTRACKED, 0, 0);
	p = map_at(SLOT(11), 64 * KiB, PROT_READ | PROT_WRITE);
	ok(sva_mm_prefault(mm, p, 64 * KiB) == 0, "untracked: prefault 64 KiB");
	munmap(p, 64 * KiB);
	s1 = mst(mm);
	ok(sva_mm_fence(mm) == 0 && s1.bytes_visible == 64 * KiB && s1.events == 0,
	   "  munmap; fence 0; still visible, no event (as the page warns)");
	p = map_at(SLOT(11), 64 * KiB, PROT_READ | PROT_WRITE);
	ok(sva_mm_prefault(mm, p, 64 * KiB) == 0 && mst(mm).bytes_visible == 64 * KiB,
	   "  new memory there: prefault finds the address already visible");
	ok(sva_mm_invalidate(mm, p, 64 * KiB) == 64 * (long)KiB, "  invalidate withdraws it");
	ok(sva_mm_prefault(mm, p, 64 * KiB) == 0 && mst(mm).bytes_visible == 64 * KiB, "  prefault maps the new pages");
	munmap(p, 64 * KiB);
	sva_mm_free(mm);
}


/* ----------------------------------------- more of what tracking follows */

static void coherence_more(void)
{
	struct sva_mm *mm = new_mm(0, 0, 0);
	struct sva_bond *b = bind(mm, 0);
	struct sva_mm_stats s0, s1;
	char *p, *q;
	long n;
	int fd;

	/* mremap shrinking: the tail goes, and with it the chunk it was part of. */
	p = map_at(SLOT(16), 64 * KiB, PROT_READ | PROT_WRITE);
	ok(sva_mm_prefault(mm, p, 64 * KiB) == 0, "prefault 64 KiB (one chunk)");
	s0 = mst(mm);
	q = mremap(p, 64 * KiB, 32 * KiB, 0);
	ok(q == p && sva_mm_fence(mm) == 0, "mremap shrinking it to 32 KiB; fence");
	s1 = mst(mm);
	ok(s1.bytes_visible == s0.bytes_visible - 64 * KiB, "  the whole chunk withdrawn, the kept head too (%llu)",
	   (unsigned long long)(s0.bytes_visible - s1.bytes_visible));
	/* Growing in place: no event. */
	ok(sva_mm_prefault(mm, p, 32 * KiB) == 0, "prefault the 32 KiB again");
	s0 = mst(mm);
	q = mremap(p, 32 * KiB, 64 * KiB, 0);
	sva_mm_fence(mm);
	s1 = mst(mm);
	ok(q == p && s1.events == s0.events && s1.bytes_visible == s0.bytes_visible,
	   "mremap growing in place: no event, the pages stay (events +%llu)", (unsigned long long)(s1.events - s0.events));
	munmap(p, 64 * KiB);

	/* MREMAP_DONTUNMAP: both ranges withdrawn, the old one stays mapped. */
	p = map_at(SLOT(16) + 1024 * KiB, 64 * KiB, PROT_READ | PROT_WRITE);
	ok(sva_mm_prefault(mm, p, 64 * KiB) == 0, "prefault 64 KiB");
	s0 = mst(mm);
	q = mremap(p, 64 * KiB, 64 * KiB, MREMAP_MAYMOVE | MREMAP_FIXED | MREMAP_DONTUNMAP,
		   (void *)(SLOT(16) + 2048 * KiB));
	if (q == (void *)(SLOT(16) + 2048 * KiB)) {
		sva_mm_fence(mm);
		s1 = mst(mm);
		ok(s1.bytes_visible == s0.bytes_visible - 64 * KiB, "mremap MREMAP_DONTUNMAP: withdrawn");
		n = fault(b, (uintptr_t)p, SVA_ACCESS_READ);
		ok(n > 0, "  the old range, still mapped (empty), faults in anew (%ld)", n);
		n = fault(b, (uintptr_t)q, SVA_ACCESS_READ);
		ok(n > 0, "  the new range faults in (%ld)", n);
		munmap(q, 64 * KiB);
	} else {
		skip(3, "no MREMAP_DONTUNMAP");
	}
	munmap(p, 64 * KiB);
	sva_mm_fence(mm);

	/* MADV_FREE refused (EINVAL) on shared memory withdraws all the same;
	 * MADV_REMOVE of a memfd withdraws. */
	fd = memfd_create("ktest-mm-contract", 0);
	if (fd >= 0 && ftruncate(fd, 128 * KiB) == 0 &&
	    (p = mmap((void *)SLOT(17), 128 * KiB, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED_NOREPLACE, fd, 0)) ==
		    (void *)SLOT(17)) {
		memset(p, 0x33, 128 * KiB);
		ok(sva_mm_prefault(mm, p, 64 * KiB) == 0 && sva_mm_prefault(mm, p + 64 * KiB, 64 * KiB) == 0,
		   "memfd: prefault two 64 KiB chunks");
		s0 = mst(mm);
		errno = 0;
		ok(madvise(p, 64 * KiB, MADV_FREE) == -1 && errno == EINVAL, "  MADV_FREE on it: EINVAL");
		sva_mm_fence(mm);
		s1 = mst(mm);
		ok(s1.bytes_visible == s0.bytes_visible - 64 * KiB, "  withdrawn all the same (%llu)",
		   (unsigned long long)(s0.bytes_visible - s1.bytes_visible));
		ok(p[0] == 0x33, "  the process's memory unchanged");
		ok(madvise(p + 64 * KiB, 64 * KiB, MADV_REMOVE) == 0 && sva_mm_fence(mm) == 0 &&
		   mst(mm).bytes_visible == s1.bytes_visible - 64 * KiB, "  MADV_REMOVE: withdrawn");
		munmap(p, 128 * KiB);
	} else {
		skip(5, "no memfd mapping");
	}
	if (fd >= 0)
		close(fd);
	sva_mm_fence(mm);

	/* MADV_DONTNEED_LOCKED and process_madvise() of the process itself. */
	p = map_at(SLOT(18), 128 * KiB, PROT_READ | PROT_WRITE);
	ok(sva_mm_prefault(mm, p, 64 * KiB) == 0 && sva_mm_prefault(mm, p + 64 * KiB, 64 * KiB) == 0,
	   "prefault two 64 KiB chunks");
	s0 = mst(mm);
#ifndef MADV_DONTNEED_LOCKED
#define MADV_DONTNEED_LOCKED 24
#endif
	if (madvise(p, 64 * KiB, MADV_DONTNEED_LOCKED) == 0) {
		sva_mm_fence(mm);
		ok(mst(mm).bytes_visible == s0.bytes_visible - 64 * KiB, "MADV_DONTNEED_LOCKED: withdrawn");
	} else {
		skip(1, "no MADV_DONTNEED_LOCKED");
	}
	{
		int pfd = (int)syscall(SYS_pidfd_open, getpid(), 0);
		struct iovec iov = { p + 64 * KiB, 64 * KiB };

		s0 = mst(mm);
		if (pfd >= 0 && syscall(SYS_process_madvise, pfd, &iov, 1, MADV_DONTNEED, 0) == 64 * (long)KiB) {
			sva_mm_fence(mm);
			ok(mst(mm).bytes_visible == s0.bytes_visible - 64 * KiB,
			   "process_madvise(MADV_DONTNEED) of the process itself: withdrawn");
		} else {
			skip(1, "process_madvise(MADV_DONTNEED) refused");
		}
		if (pfd >= 0)
			close(pfd);
	}

	/* The REMOVE race: a device fault over a range just discarded is marked,
	 * and the fence withdraws it at once (bytes_rewithdrawn). */
	ok(sva_mm_prefault(mm, p, 64 * KiB) == 0, "prefault 64 KiB");
	s0 = mst(mm);
	madvise(p, 64 * KiB, MADV_DONTNEED);
	sva_mm_fence(mm);
	n = fault(b, (uintptr_t)p, SVA_ACCESS_READ);
	/* The bond's window is adaptive: earlier faults out of order shrank it. */
	ok(n > 0, "  after madvise(MADV_DONTNEED) and a fence, a device fault maps the range anew (%ld pages)", n);
	ok(sva_mm_fence(mm) == 0, "  another fence");
	s1 = mst(mm);
	ok(s1.bytes_visible == s0.bytes_visible - 64 * KiB &&
	   s1.bytes_rewithdrawn >= s0.bytes_rewithdrawn + (uint64_t)(n > 0 ? n : 1) * PG,
	   "  withdraws what the fault mapped over the pending range (visible -%lld, rewithdrawn +%llu)",
	   (long long)(s0.bytes_visible - s1.bytes_visible), (unsigned long long)(s1.bytes_rewithdrawn - s0.bytes_rewithdrawn));
	n = fault(b, (uintptr_t)p, SVA_ACCESS_READ);
	usleep(60000);
	s1 = mst(mm);
	ok(n > 0 && s1.bytes_visible == s0.bytes_visible - 64 * KiB,
	   "  a fault after the fence is withdrawn again at the next check (20 ms) (%ld, visible %llu)", n,
	   (unsigned long long)s1.bytes_visible);
	ok(sva_mm_prefault(mm, p, 64 * KiB) == 0, "  a prefault is never marked");
	usleep(60000);
	ok(mst(mm).bytes_visible == s0.bytes_visible, "  it stays visible past the next check");
	munmap(p, 128 * KiB);
	sva_mm_fence(mm);

	/* Permissions: read-only prefault; after mprotect(RW) a device write
	 * maps the whole part again read-write, and it stays prefaulted. */
	p = map_at(SLOT(19), 64 * KiB, PROT_READ | PROT_WRITE);
	mprotect(p, 64 * KiB, PROT_READ);
	ok(sva_mm_prefault(mm, p, 64 * KiB) == 0, "prefault 64 KiB read-only");
	n = fault(b, (uintptr_t)p, SVA_ACCESS_WRITE);
	ok(n == -EACCES, "  a device write there: -EACCES (%ld)", n);
	mprotect(p, 64 * KiB, PROT_READ | PROT_WRITE);
	s0 = mst(mm);
	n = fault(b, (uintptr_t)p + 8 * KiB, SVA_ACCESS_WRITE);
	s1 = mst(mm);
	ok(n == 16, "  once writable, a device write maps the whole part again, counted again (%ld pages)", n);
	ok(s1.bytes_prefaulted == s0.bytes_prefaulted && s1.bytes_visible == s0.bytes_visible,
	   "  it stays prefaulted, nothing more visible");
	munmap(p, 64 * KiB);
	sva_mm_fence(mm);

	/* A write-only mapping: a device read fault is refused. */
	p = map_at(SLOT(19), 16 * KiB, PROT_WRITE);
	n = fault(b, (uintptr_t)p, SVA_ACCESS_READ);
	ok(n == -EACCES, "a read fault on a write-only mapping: -EACCES (%ld)", n);
	munmap(p, 16 * KiB);

	/* Each mapping of a range is its own chunk. */
	p = map_at(SLOT(19), 64 * KiB, PROT_READ | PROT_WRITE);
	mprotect(p + 32 * KiB, 32 * KiB, PROT_READ);
	ok(sva_mm_prefault(mm, p, 64 * KiB) == 0, "prefault over two mappings");
	ok(sva_mm_invalidate(mm, p, PG) == 32 * (long)KiB, "  invalidate of one page: the first mapping's chunk only");
	munmap(p, 64 * KiB);
	sva_mm_fence(mm);

	/* allow: the range need not be mapped yet. */
	{
		struct sva_mm *rm = new_mm(SVA_MM_RESTRICTED, 0, 0);
		struct sva_bond *rb = bind(rm, 0);
		struct sva_mem_opts mo = { .size = sizeof(mo), .mm = rm };
		void *m = NULL;

		ok(sva_mm_allow(rm, (void *)SLOT(20), 64 * KiB) == 0, "allow a range not mapped yet");
		n = fault(rb, SLOT(20), SVA_ACCESS_READ);
		ok(n == -EFAULT, "  a fault there: -EFAULT (%ld)", n);
		p = map_at(SLOT(20), 64 * KiB, PROT_READ | PROT_WRITE);
		n = fault(rb, SLOT(20), SVA_ACCESS_READ);
		ok(n == 16, "  once mapped, it resolves (%ld)", n);
		munmap(p, 64 * KiB);
		if (sva_mem_alloc(64 * KiB, &mo, &m) == 0) {
			n = fault(rb, (uintptr_t)m, SVA_ACCESS_READ);
			ok(n > 0, "sva_mem_alloc for a restricted mm: allowed by itself (%ld)", n);
			ok(sva_mem_free(rm, m, 64 * KiB) == 0, "  sva_mem_free with that mm");
			p = mmap(m, 64 * KiB, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
			n = fault(rb, (uintptr_t)m, SVA_ACCESS_READ);
			ok(p == m && n == -ENXIO, "  denies it: new memory there is out of reach (%ld)", n);
			if (p != MAP_FAILED)
				munmap(p, 64 * KiB);
		} else {
			skip(3, "sva_mem_alloc failed");
		}
		sva_unbind(rb);
		sva_mm_free(rm);
	}

	/*
	 * sva_mem_alloc(3), RETURN VALUE: in a restricted mm, a failure after the
	 * call allowed the memory denies again what it allowed, and only that: a
	 * part the driver had allowed before stays allowed.  A 1 MiB prefault
	 * over a 64 KiB budget fails after the allow.  A first allocation, freed,
	 * shows where the failed one lands (the lowest room of the same window).
	 */
	{
		struct sva_mm *rm = new_mm(SVA_MM_RESTRICTED, 0, 64 * KiB);
		struct sva_bond *rb = bind(rm, 0);
		struct sva_mem_opts mo = { .size = sizeof(mo), .mm = rm };
		void *at = NULL, *m = (void *)0x77;
		char *z;
		long n1, n2;
		bool cb_ok;
		int r, cb_n;

		if (sva_mem_alloc(1024 * KiB, &mo, &at) == 0 && sva_mem_free(rm, at, 1024 * KiB) == 0) {
			ok(sva_mm_allow(rm, at, 64 * KiB) == 0, "restricted: the driver allows the first 64 KiB itself");
			mo.flags = SVA_MEM_PREFAULT;
			r = sva_mem_alloc(1024 * KiB, &mo, &m);
			ok(r == -ENOSPC && m == (void *)0x77, "  SVA_MEM_PREFAULT of 1 MiB over a 64 KiB budget: -ENOSPC (%d)",
			   r);
			z = mmap(at, 1024 * KiB, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE,
				 -1, 0);
			ok(z == at, "  nothing of it stays mapped (%p at %p)", (void *)z, at);
			n1 = z == at ? fault(rb, (uintptr_t)at, SVA_ACCESS_READ) : -1;
			cb_stats_arm(rm);
			n2 = z == at ? fault(rb, (uintptr_t)at + 512 * KiB, SVA_ACCESS_READ) : -1;
			cb_n = cb_stats_take(&cb_ok);
			ok(n1 > 0, "  the part the driver allowed stays allowed: a fault there resolves (%ld)", n1);
			ok(n2 == -ENXIO, "  the part the call allowed is denied again: a fault there -ENXIO (%ld)", n2);
			ok(cb_n == 1 && cb_ok, "sva_mm_stats and sva_bond_stats inside fault_error: 0 (%d calls)", cb_n);
			if (z != MAP_FAILED)
				munmap(z, 1024 * KiB);
		} else {
			skip(6, "sva_mem_alloc of 1 MiB in a restricted mm failed");
		}
		/* sva_mem_free(3), step 0: with a NULL mm the memory stays allowed
		 * in the address space it was allocated for; and an mm it was
		 * never made visible in is harmless. */
		mo.flags = 0;
		if (at)
			sva_mm_deny(rm, at, 64 * KiB); /* the driver's own allowance above: gone */
		m = NULL;
		r = sva_mem_alloc(64 * KiB, NULL, &m);
		ok(r == 0 && sva_mem_free(rm, m, 64 * KiB) == 0,
		   "restricted: memory never allowed nor visible there, freed with it: harmless (%d)", r);
		m = NULL;
		if (sva_mem_alloc(64 * KiB, &mo, &m) == 0) {
			r = sva_mem_free(NULL, m, 64 * KiB);
			z = mmap(m, 64 * KiB, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1,
				 0);
			n1 = z == m ? fault(rb, (uintptr_t)m, SVA_ACCESS_READ) : -1;
			ok(r == 0 && n1 > 0, "  allocated for it, freed with a NULL mm: it stays allowed, new memory there faults in "
					     "(%d, %ld)", r, n1);
			if (z != MAP_FAILED)
				munmap(z, 64 * KiB);
		} else {
			skip(1, "sva_mem_alloc of 64 KiB in a restricted mm failed");
		}
		cb_stats_arm(rm);
		sva_unbind(rb);
		cb_n = cb_stats_take(&cb_ok);
		ok(cb_n == 1 && cb_ok, "sva_mm_stats and sva_bond_stats inside mm_exit: 0 (%d calls)", cb_n);
		sva_mm_free(rm);
	}

	sva_unbind(b);
	sva_mm_free(mm);
}

/* ----------------------------- the kernel's memory-lock limit (a child) */

/* In a child without CAP_IPC_LOCK and a 64 KiB limit: an unlimited budget
 * leaves the kernel's ENOMEM; faults evict their own memory. */
static void kernel_limit(void)
{
	pid_t pid;
	int r;

	if (geteuid() != 0) {
		skip(1, "not root");
		return;
	}
	pid = fork();
	if (pid == 0) {
		struct rlimit rl = { 64 * KiB, 64 * KiB };
		struct sva_ctx *c;
		struct sva_dev *d = NULL;
		struct sva_mm *mm = NULL, *dm = NULL;
		struct sva_mm_opts o = { .size = sizeof(o), .fault_around = 4096, .pin_budget = SVA_PIN_UNLIMITED };
		struct sva_bond *b = NULL;
		struct sva_mm_stats s = { .size = sizeof(s) };
		char *p;
		int bad = 0;

		if (cap_effective(CAP_IPC_LOCK, 0) || setrlimit(RLIMIT_MEMLOCK, &rl) || !(c = fresh_ctx()) ||
		    sva_dev_open_mock(c, NULL, &d) || sva_mm_new(c, &o, &mm) || sva_mm_new(c, NULL, &dm))
			_exit(100);
		ctx = c;
		dev = d;
		b = bind(mm, 0);
		p = mmap((void *)SLOT(21), 256 * KiB, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
		if (p != (void *)SLOT(21))
			_exit(101);
		memset(p, 1, 256 * KiB);
		if (sva_mm_prefault(mm, p, 128 * KiB) != -ENOMEM)
			bad |= 1;
		if (sva_mm_stats(mm, &s) || s.bytes_visible != 0 || s.bytes_pinned_peak != 0)
			bad |= 2;
		/* The default budget is the limit: -ENOSPC before the kernel is asked. */
		if (sva_mm_prefault(dm, p, 128 * KiB) != -ENOSPC)
			bad |= 4;
		for (int i = 0; i < 32; i++)
			if (fault(b, (uintptr_t)p + (uintptr_t)i * PG, SVA_ACCESS_READ) != 1)
				bad |= 8;
		if (sva_mm_stats(mm, &s) || s.bytes_visible > 64 * KiB || s.evictions == 0 || s.pin_budget != 0)
			bad |= 16;
		/* Everything released before the exit: Linux 7.3's selftest mock
		 * warns when an iommufd goes with a bound mock still in it. */
		sva_unbind(b);
		sva_mm_free(mm);
		sva_mm_free(dm);
		sva_dev_close(d);
		sva_ctx_free(c);
		_exit(bad);
	}
	r = wait_child(pid);
	ok(r == 0, "without CAP_IPC_LOCK, a 64 KiB limit: an unlimited budget's prefault over it -ENOMEM with nothing "
	   "visible, the default budget's -ENOSPC, and 32 faults evict its own memory to fit (mask %d)", r);
}


/* Two address spaces under one 64 KiB limit (a child without CAP_IPC_LOCK):
 * the kernel's ENOMEM makes one with a budget take the other's cold memory;
 * one with SVA_PIN_UNLIMITED evicts only its own (sva_mm_new(3), NOTES). */
static void kernel_limit_shared(void)
{
	pid_t pid;
	int r;

	if (geteuid() != 0) {
		skip(1, "not root");
		return;
	}
	pid = fork();
	if (pid == 0) {
		struct rlimit rl = { 64 * KiB, 64 * KiB };
		struct sva_ctx *c;
		struct sva_dev *d = NULL;
		struct sva_mm *ma = NULL, *mb = NULL, *mu = NULL;
		struct sva_mm_opts o = { .size = sizeof(o), .fault_around = 4096 };
		struct sva_mm_opts ou = { .size = sizeof(ou), .fault_around = 4096, .pin_budget = SVA_PIN_UNLIMITED };
		struct sva_bond *ba, *bb, *bu;
		struct sva_mm_stats s = { .size = sizeof(s) };
		char *p;
		int bad = 0;
		long n;

		if (cap_effective(CAP_IPC_LOCK, 0) || setrlimit(RLIMIT_MEMLOCK, &rl) || !(c = fresh_ctx()) ||
		    sva_dev_open_mock(c, NULL, &d) || sva_mm_new(c, &o, &ma) || sva_mm_new(c, &o, &mb) ||
		    sva_mm_new(c, &ou, &mu))
			_exit(100);
		ctx = c;
		dev = d;
		ba = bind(ma, 0);
		bb = bind(mb, 0);
		bu = bind(mu, 0);
		p = mmap((void *)SLOT(29), 256 * KiB, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
		if (p != (void *)SLOT(29))
			_exit(101);
		memset(p, 1, 256 * KiB);
		for (int i = 0; i < 16; i++)
			if (fault(ba, (uintptr_t)p + (uintptr_t)i * PG, SVA_ACCESS_READ) != 1)
				bad |= 1;
		if (sva_mm_stats(ma, &s) || s.bytes_visible != 64 * KiB)
			bad |= 2;
		n = fault(bu, (uintptr_t)p + 128 * KiB, SVA_ACCESS_READ);
		if (n != -ENOMEM)
			bad |= 4;
		if (sva_mm_stats(ma, &s) || s.bytes_visible != 64 * KiB || s.evictions != 0)
			bad |= 8;
		n = fault(bb, (uintptr_t)p + 192 * KiB, SVA_ACCESS_READ);
		if (n != 1)
			bad |= 16;
		if (sva_mm_stats(ma, &s) || s.evictions == 0 || s.bytes_visible >= 64 * KiB)
			bad |= 32;
		sva_unbind(ba);
		sva_unbind(bb);
		sva_unbind(bu);
		sva_mm_free(ma);
		sva_mm_free(mb);
		sva_mm_free(mu);
		sva_dev_close(d);
		sva_ctx_free(c);
		_exit(bad);
	}
	r = wait_child(pid);
	ok(r == 0, "one 64 KiB limit, its room taken by one address space: an SVA_PIN_UNLIMITED one's fault -ENOMEM "
	   "leaving the other's memory, a budgeted one's fault evicting it (mask %d)", r);
}

/* ----------------------------------------------------- tracking stopped */

static int libsva_uffd(void)
{
	char path[64], link[128];
	int found = -1;

	for (int fd = 0; fd < 1024; fd++) {
		ssize_t n;

		snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
		n = readlink(path, link, sizeof(link) - 1);
		if (n <= 0)
			continue;
		link[n] = 0;
		if (strstr(link, "userfaultfd")) {
			if (found >= 0)
				return -2;
			found = fd;
		}
	}
	return found;
}

static void tracking_stops(void)
{
	struct sva_mm *mm = new_mm(0, 0, 0), *sm = new_mm(SVA_MM_TRACK_STRICT, 0, 0);
	struct sva_bond *sb = bind(sm, 0);
	char *a = map_at(SLOT(22), 64 * KiB, PROT_READ | PROT_WRITE);
	char *c = map_at(SLOT(22) + 1024 * KiB, 64 * KiB, PROT_READ | PROT_WRITE);
	char *d = map_at(SLOT(22) + 2048 * KiB, 64 * KiB, PROT_READ | PROT_WRITE);
	struct sva_mm_stats s0, s1;
	int fd = libsva_uffd(), r = 0;
	uint64_t end;
	long n;
	pid_t pid;

	ok(fd >= 0, "the process has one userfaultfd (%d)", fd);
	ok(sva_mm_prefault(mm, a, 64 * KiB) == 0 && sva_mm_prefault(mm, c, 64 * KiB) == 0 &&
	   sva_mm_prefault(sm, d, 64 * KiB) == 0, "prefault three ranges");
	/* A child's copy is closed at fork; stats still answer there, untracked. */
	pid = fork();
	if (pid == 0) {
		struct sva_mm_stats cs = { .size = sizeof(cs) };

		_exit((libsva_uffd() == -1 ? 0 : 1) |
		      (sva_mm_stats(mm, &cs) == 0 && !(cs.flags & SVA_MM_STAT_TRACKED) ? 0 : 2));
	}
	r = wait_child(pid);
	ok(r == 0, "a forked child has no copy of the userfaultfd; sva_mm_stats() there says untracked (mask %d)", r);
	if (fd < 0) {
		skip(12, "no userfaultfd found");
		goto out;
	}
	lines_reset();
	close(fd);
	munmap(a, 64 * KiB); /* an event: the monitor wakes on a closed number */
	end = now_ms() + 3000;
	while ((r = sva_mm_fence(mm)) == 0 && now_ms() < end)
		usleep(1000);
	ok(r == -EIO, "libsva's userfaultfd closed behind its back, an event: the fence returns -EIO (%d)", r);
	ok(sva_mm_fence(mm) == -EIO, "  and again");
	s1 = mst(mm);
	ok(!(s1.flags & SVA_MM_STAT_TRACKED) && s1.untracked_reason == -EBADF,
	   "  untracked, reason -EBADF (flags %#x, %d)", s1.flags, s1.untracked_reason);
	ok(s1.bytes_visible == 0 && mst(sm).bytes_visible == 0, "  everything visible withdrawn, the mapped range too");
	ok(errors_logged() == 1, "  the loss logged once at error level (%d): %s", errors_logged(), lines_last);
	s0 = s1;
	ok(sva_mm_prefault(mm, c, 64 * KiB) == 0, "  a prefault then maps");
	s1 = mst(mm);
	ok(s1.untracked_ranges == s0.untracked_ranges + 1 && s1.untracked_bytes == s0.untracked_bytes + 64 * KiB &&
	   s1.untracked_reason == -EBADF, "  untracked, counted (%llu, %llu), the reason kept",
	   (unsigned long long)(s1.untracked_ranges - s0.untracked_ranges),
	   (unsigned long long)(s1.untracked_bytes - s0.untracked_bytes));
	munmap(c, 64 * KiB);
	ok(mst(mm).bytes_visible == 64 * KiB && sva_mm_invalidate(mm, c, 64 * KiB) == 64 * (long)KiB,
	   "  its munmap withdraws nothing; sva_mm_invalidate() does");
	/* sva_mem_free(3), RETURN VALUE: once the memory is unmapped the call
	 * succeeds; the fence's -EIO of stopped tracking is not returned, since
	 * the withdrawal that follows covers it. */
	{
		struct sva_mem_opts mo = { .size = sizeof(mo), .flags = SVA_MEM_PREFAULT, .mm = mm };
		void *m = NULL;
		int fr = -1;
		uint64_t vis = 0;

		if (sva_mem_alloc(64 * KiB, &mo, &m) == 0) {
			vis = mst(mm).bytes_visible;
			fr = sva_mem_free(mm, m, 64 * KiB);
		}
		ok(fr == 0 && vis == 64 * KiB && mst(mm).bytes_visible == 0,
		   "  sva_mem_free of prefaulted memory: 0, not the fence's -EIO, and withdrawn (%d, %llu visible before)",
		   fr, (unsigned long long)vis);
	}
	lines_reset();
	ok(sva_mm_prefault(sm, d, 64 * KiB) == -EIO && mst(sm).bytes_visible == 0,
	   "strict: a prefault then fails with -EIO, nothing mapped");
	/* sva_mm_fence(3): the loss is "logged once, at error level, by the next
	 * call on mm"; the prefault's own failure is its one line. */
	ok(errors_logged() == 2 && strstr(lines_last, "sva_mm_prefault"),
	   "  two error lines, the address space's loss owed and then its own (%d): %s", errors_logged(), lines_last);
	lines_reset();
	r = sva_mm_prefault(sm, d, 64 * KiB);
	ok(r == -EIO && errors_logged() == 1, "  again: -EIO, its own line only (%d, %d lines)", r, errors_logged());
	n = fault(sb, (uintptr_t)d, SVA_ACCESS_READ);
	ok(n == -EIO, "  a device fault needing a map: -EIO (%ld)", n);
	sva_unbind(sb);
	sva_mm_free(sm);
	sva_mm_free(mm);
	mm = new_mm(0, 0, 0);
	s1 = mst(mm);
	ok((s1.flags & SVA_MM_STAT_TRACKED) && s1.untracked_reason == 0, "an address space made afterwards is tracked");
	ok(sva_mm_prefault(mm, d, 64 * KiB) == 0 && munmap(d, 64 * KiB) == 0 && sva_mm_fence(mm) == 0 &&
	   mst(mm).bytes_visible == 0, "  and its munmap withdraws again");
	sva_mm_free(mm);
	return;
out:
	sva_unbind(sb);
	sva_mm_free(sm);
	sva_mm_free(mm);
	munmap(c, 64 * KiB);
	munmap(d, 64 * KiB);
}


/* ------------------------------------------------ more edges of the pages */

static void edges(void)
{
	struct sva_mm *mm = new_mm(0, 0, 0), *other = new_mm(0, 0, 0);
	struct sva_mm_stats s0, s1, o0, o1;
	struct sva_bond *b = bind(mm, 0), *nb;
	struct sva_bind_opts bo = { .size = sizeof(bo) };
	char *p, *q;
	long n;
	int fd;

	/* -EXDEV is checked before the mappings are read. */
	prefault_fails(mm, (void *)((uintptr_t)ctx & ~(PG - 1)), 1ul << 30, -EXDEV,
		       "of 1 GiB from the context's page (holes in it)");

	/* Every tracked address space counts every event; memory never mapped
	 * for a device sends none. */
	p = map_at(SLOT(23), 64 * KiB, PROT_READ | PROT_WRITE);
	q = map_at(SLOT(23) + 1024 * KiB, 64 * KiB, PROT_READ | PROT_WRITE);
	ok(sva_mm_prefault(mm, p, 64 * KiB) == 0, "prefault in one address space");
	s0 = mst(mm);
	o0 = mst(other);
	munmap(q, 64 * KiB);
	sva_mm_fence(mm);
	s1 = mst(mm);
	ok(s1.events == s0.events, "munmap of memory never mapped for a device: no event (%llu)",
	   (unsigned long long)(s1.events - s0.events));
	munmap(p, 64 * KiB);
	sva_mm_fence(mm);
	sva_mm_fence(other);
	s1 = mst(mm);
	o1 = mst(other);
	ok(s1.events == s0.events + 1 && o1.events == o0.events + 1 && o1.bytes_withdrawn == o0.bytes_withdrawn,
	   "munmap of it: one event in each tracked address space, withdrawing only where visible (%llu, %llu)",
	   (unsigned long long)(s1.events - s0.events), (unsigned long long)(o1.events - o0.events));

	/* Registration stays, and takes whole mappings: another userfaultfd
	 * cannot register another part of the mapping. */
	p = map_at(SLOT(23), 256 * KiB, PROT_READ | PROT_WRITE);
	ok(sva_mm_prefault(mm, p, 16 * KiB) == 0, "prefault 16 KiB of a 256 KiB mapping");
	fd = own_uffd(p + 128 * KiB, 16 * KiB);
	ok(fd < 0 && errno == EBUSY, "  another userfaultfd cannot register another part of it: EBUSY (%s)",
	   fd < 0 ? strerror(errno) : "registered");
	if (fd >= 0)
		close(fd);
	ok(sva_mm_invalidate(mm, p, 16 * KiB) == 16 * (long)KiB, "  invalidated");
	fd = own_uffd(p + 128 * KiB, 16 * KiB);
	ok(fd < 0 && errno == EBUSY, "  still registered after sva_mm_invalidate() (%s)",
	   fd < 0 ? strerror(errno) : "registered");
	if (fd >= 0)
		close(fd);

	/* invalidate rounds out to whole pages. */
	ok(sva_mm_prefault(mm, p, PG) == 0 && sva_mm_prefault(mm, p + PG, PG) == 0, "two one-page chunks");
	ok(sva_mm_invalidate(mm, p + PG - 1, 2) == 2 * (long)PG, "  invalidate of 2 bytes across them: both pages");
	munmap(p, 256 * KiB);
	sva_mm_fence(mm);

	/* Guard pages where not visible yet: -EFAULT. */
#ifndef MADV_GUARD_INSTALL
#define MADV_GUARD_INSTALL 102
#endif
	p = map_at(SLOT(23), 64 * KiB, PROT_READ | PROT_WRITE);
	if (madvise(p + 16 * KiB, PG, MADV_GUARD_INSTALL) == 0) {
		prefault_fails(mm, p, 32 * KiB, -EFAULT, "over a guard page");
		ok(sva_mm_prefault(mm, p + 32 * KiB, 32 * KiB) == 0, "  beside it: 0");
	} else {
		skip(3, "no MADV_GUARD_INSTALL");
	}
	munmap(p, 64 * KiB);
	sva_mm_fence(mm);

	/* A refused fault counts in invalid also without a fault_error callback;
	 * groups and faults grow together for single-record groups. */
	{
		struct sva_mm *m2 = new_mm(SVA_MM_PRIVATE, 0, 0);
		struct sva_bond_stats bs;

		nb = NULL;
		if (sva_bind(dev, m2, &bo, &nb) == 0) {
			p = map_at(SLOT(23), 64 * KiB, PROT_READ | PROT_WRITE);
			ok(inject_and_wait(nb, (uintptr_t)p, SVA_ACCESS_READ) == 0, "a bond without callbacks: a refused fault");
			bs = bst(nb);
			ok(bs.invalid == 1 && bs.faults == 1 && bs.groups == 1 && bs.pages_mapped == 0,
			   "  counted: faults 1, groups 1, invalid 1 (%llu %llu %llu)", (unsigned long long)bs.faults,
			   (unsigned long long)bs.groups, (unsigned long long)bs.invalid);
			lines_reset();
			ok(sva_bond_stats(nb, NULL) == -EINVAL && errors_logged() == 0, "  sva_bond_stats(NULL): not logged");
			munmap(p, 64 * KiB);
			sva_unbind(nb);
		} else {
			skip(3, "bind failed");
		}
		sva_mm_free(m2);
	}

	/* The smallest budget: one page, which a prefault fills; then a fault
	 * finds no room: -ENOMEM. */
	{
		struct sva_mm *m2 = new_mm(0, 0, PG);
		struct sva_bond *b2 = bind(m2, 0);

		p = map_at(SLOT(23), 64 * KiB, PROT_READ | PROT_WRITE);
		n = fault(b2, (uintptr_t)p, SVA_ACCESS_READ);
		ok(n == 1, "a one-page budget: a fault maps its page alone (%ld)", n);
		n = fault(b2, (uintptr_t)p + 32 * KiB, SVA_ACCESS_READ);
		s1 = mst(m2);
		ok(n == 1 && s1.bytes_visible == PG && s1.evictions == 1, "  the next evicts it (%ld, visible %llu)", n,
		   (unsigned long long)s1.bytes_visible);
		ok(sva_mm_prefault(m2, p + 16 * KiB, PG) == 0 && mst(m2).bytes_visible == PG,
		   "  a prefault of one page evicts the fault-mapped one");
		n = fault(b2, (uintptr_t)p, SVA_ACCESS_READ);
		ok(n == -ENOMEM, "  with the budget prefaulted, a fault: -ENOMEM (%ld)", n);
		sva_unbind(b2);
		sva_mm_free(m2);
		munmap(p, 64 * KiB);
	}

	/* A window that does not fit beside the prefaulted memory is halved
	 * around the faulting page until it does. */
	{
		struct sva_mm *m2 = new_mm(0, 0, 64 * KiB);
		struct sva_bond *b2 = bind(m2, 0);

		p = map_at(SLOT(23), 256 * KiB, PROT_READ | PROT_WRITE);
		ok(sva_mm_prefault(m2, p, 56 * KiB) == 0, "a 64 KiB budget, 56 KiB prefaulted");
		n = fault(b2, (uintptr_t)p + 128 * KiB, SVA_ACCESS_READ);
		ok(n == 2, "  a fault's 16 KiB window halved to the 8 KiB left (%ld pages)", n);
		n = fault(b2, (uintptr_t)p + 192 * KiB, SVA_ACCESS_READ);
		s1 = mst(m2);
		ok(n > 0 && s1.bytes_visible <= 64 * KiB && s1.bytes_prefaulted == 56 * KiB,
		   "  the next evicts the first, never the prefaulted (%ld, visible %llu)", n,
		   (unsigned long long)s1.bytes_visible);
		sva_unbind(b2);
		sva_mm_free(m2);
		munmap(p, 256 * KiB);
	}

	/* The default cap: in-order faults ramp 64 KiB to 1 MiB. */
	{
		struct sva_mm *m2 = new_mm(0, 0, 0);
		struct sva_bond *b2 = bind(m2, 0);
		long w[6];
		uintptr_t a;

		p = map_at(SLOT(24), 4096 * KiB, PROT_READ | PROT_WRITE);
		a = (uintptr_t)p;
		for (int i = 0; i < 6; i++) {
			w[i] = fault(b2, a, SVA_ACCESS_READ);
			a += (uintptr_t)(w[i] > 0 ? w[i] : 1) * PG;
		}
		ok(w[0] == 16 && w[1] == 32 && w[2] == 64 && w[3] == 128 && w[4] == 256 && w[5] == 256,
		   "default cap: in-order faults take 16, 32, 64, 128, 256, 256 pages (%ld %ld %ld %ld %ld %ld)", w[0], w[1],
		   w[2], w[3], w[4], w[5]);
		sva_unbind(b2);
		sva_mm_free(m2);
		munmap(p, 4096 * KiB);
	}

	sva_unbind(b);
	sva_mm_free(other);
	sva_mm_free(mm);
}


static int first_sp(pid_t tid, void *arg)
{
	ktest_thread_syscall(tid, arg);
	return 1;
}

/* The stack pointer of libsva's thread named `name`, as the kernel reports
 * it in /proc/self/task/TID/syscall while the thread sleeps, into *sp (left
 * 0 while it runs): how many threads bear the name, or a negative errno. */
static int thread_sp(const char *name, uintptr_t *sp)
{
	*sp = 0;
	return ktest_for_each_thread_named(name, first_sp, sp);
}

/*
 * A prefault of the stack of libsva's thread `name`, which the contract says
 * is there (libsva(7)): -EXDEV.  No such thread is a failure of its own (it
 * used to be a skip, which passed a library that had not started it); a
 * thread whose stack pointer the kernel never reports (it ran at each of 200
 * looks) is a skip.  Two checks either way.
 */
static void stack_refused(struct sva_mm *mm, const char *name, const char *what)
{
	uintptr_t sp = 0;
	char why[80];
	int n = 0;

	/* The file says "running" while the thread runs: ask again. */
	for (int i = 0; i < 200 && (n = thread_sp(name, &sp)) > 0 && !sp; i++)
		usleep(1000);
	if (sp) {
		snprintf(why, sizeof(why), "of the %s's stack", what);
		prefault_fails(mm, (void *)(sp & ~(PG - 1)), PG, -EXDEV, why);
	} else if (n > 0) {
		snprintf(why, sizeof(why), "the %s's stack pointer not found", what);
		skip(2, why);
	} else {
		ok(0, "the %s is there: a thread named %s (%s)", what, name, n ? strerror(-n) : "none");
		snprintf(why, sizeof(why), "no %s", what);
		skip(1, why);
	}
}

/* The /proc/self/maps line holding `a`: its start and end, 0 if none. */
static int mapping_of(uintptr_t a, uintptr_t *start, uintptr_t *end)
{
	FILE *f = fopen("/proc/self/maps", "r");
	char line[512];
	int found = 0;

	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f)) {
		unsigned long s0, e0;

		if (sscanf(line, "%lx-%lx", &s0, &e0) == 2 && a >= s0 && a < e0) {
			*start = s0;
			*end = e0;
			found = 1;
			break;
		}
	}
	fclose(f);
	return found;
}

static void reach(void)
{
	struct sva_mm *mm = new_mm(0, 0, 0), *um;
	struct sva_bond *b = bind(mm, 0), *ub = NULL;
	struct sva_bind_opts bo = { .size = sizeof(bo) };
	struct sva_mm_stats s0, s1;
	uintptr_t st, en;
	char *p, *q, *hi;
	int ret, fd;

	/* The stacks of libsva's threads: a tracked address space has its
	 * monitor, and a context its fault thread from its first fault-capable
	 * bind on. */
	stack_refused(mm, KTEST_MONITOR_THREAD, "coherence monitor");
	stack_refused(mm, KTEST_FAULT_THREAD, "fault thread");
	/* The arena the objects live in, its last page included. */
	if (mapping_of((uintptr_t)mm, &st, &en)) {
		prefault_fails(mm, (void *)(en - PG), PG, -EXDEV, "of the last page of the object's mapping");
		prefault_fails(mm, (void *)st, en - st, -EXDEV, "of the object's whole mapping");
	} else {
		skip(4, "the object's mapping not found");
	}

	/* More than 64 maps around parts already visible: -E2BIG. */
	p = map_at(SLOT(26), 140 * PG, PROT_READ | PROT_WRITE);
	for (int i = 1; i < 130; i += 2)
		sva_mm_prefault(mm, p + i * PG, PG);
	prefault_fails(mm, p, 131 * PG, -E2BIG, "needing 66 maps around visible pages");
	ok(sva_mm_prefault(mm, p, 128 * PG) == 0, "  one needing 64 maps: 0");
	ok(sva_mm_invalidate(mm, p, 140 * PG) == 129 * (long)PG, "  invalidated");
	s0 = mst(mm);
	ok(s0.bytes_withdrawn == 0, "sva_mm_invalidate() is not counted in bytes_withdrawn (%llu)",
	   (unsigned long long)s0.bytes_withdrawn);
	munmap(p, 140 * PG);
	sva_unbind(b);
	sva_mm_free(mm);

	/* Before a bind the window is not known: the prefault passes, the bind
	 * fails with -EADDRINUSE until the memory is withdrawn. */
	um = new_mm(SVA_MM_UNTRACKED, 0, 0);
	hi = mmap(NULL, PG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if ((uintptr_t)hi >= 0x80000000ul) {
		ok(sva_mm_prefault(um, hi, PG) == 0, "unbound: a prefault outside the mock's window passes");
		s1 = mst(um);
		ok(s1.untracked_ranges == 0 && s1.untracked_bytes == 0,
		   "  an untracked address space counts no untracked ranges");
		ret = sva_bind(dev, um, &bo, &ub);
		ok(ret == -EADDRINUSE, "  the bind then fails with -EADDRINUSE (%d)", ret);
		if (ret == 0)
			sva_unbind(ub);
		ub = NULL;
		ok(sva_mm_invalidate(um, hi, PG) == (long)PG && sva_bind(dev, um, &bo, &ub) == 0,
		   "  withdrawn, the bind works");
		sva_unbind(ub);
	} else {
		skip(4, "mmap gave an address inside the window");
	}
	munmap(hi, PG);
	sva_mm_free(um);

	/* Pages past the end of the file a mapping maps: the kernel cannot pin
	 * them (-EPERM once bound, every map of the call undone, the peak
	 * untouched); before a bind, accepted, and the bind fails with -EFAULT. */
	fd = memfd_create("ktest-mm-contract-eof", 0);
	if (fd >= 0 && ftruncate(fd, 16 * KiB) == 0 &&
	    (q = mmap((void *)(SLOT(27) + 64 * KiB), 32 * KiB, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED_NOREPLACE,
		      fd, 0)) == (void *)(SLOT(27) + 64 * KiB)) {
		struct sva_mm *um2 = new_mm(SVA_MM_UNTRACKED, 0, 0);
		struct sva_bond *ub2 = NULL;

		p = map_at(SLOT(27), 64 * KiB, PROT_READ | PROT_WRITE);
		ret = sva_mm_prefault(um2, q + 16 * KiB, PG);
		ok(ret == 0, "a page past the end of a memfd, no device bound yet: prefault accepted (%d)", ret);
		ret = sva_bind(dev, um2, &bo, &ub2);
		ok(ret == -EFAULT, "  then the bind fails with -EFAULT (%d)", ret);
		if (ret == 0)
			sva_unbind(ub2);
		ok(sva_mm_invalidate(um2, q + 16 * KiB, PG) == (long)PG, "  invalidate withdraws it");
		ub2 = NULL;
		ret = sva_bind(dev, um2, &bo, &ub2);
		ok(ret == 0, "  then the bind works (%d)", ret);
		prefault_fails(um2, q + 16 * KiB, PG, -EPERM, "of a page past the end of the file, bound");
		prefault_fails(um2, p, 96 * KiB, -EPERM, "of anonymous memory, the file, and past its end: all undone");
		mm = new_mm(0, 0, 0);
		b = bind(mm, 0);
		prefault_fails(mm, p, 96 * KiB, -EPERM, "(tracked) of the same");
		sva_unbind(b);
		sva_mm_free(mm);
		if (ret == 0)
			sva_unbind(ub2);
		sva_mm_free(um2);
		munmap(p, 64 * KiB);
		munmap(q, 32 * KiB);
	} else {
		skip(10, "no memfd mapping");
	}
	if (fd >= 0)
		close(fd);

	/* MAP_DROPPABLE: refused in a tracked address space, mapped in an
	 * untracked one. */
#ifndef MAP_DROPPABLE
#define MAP_DROPPABLE 0x08
#endif
	q = mmap((void *)SLOT(28), 64 * KiB, PROT_READ | PROT_WRITE,
		 MAP_DROPPABLE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
	if (q == (void *)SLOT(28)) {
		struct sva_mm *um2 = new_mm(SVA_MM_UNTRACKED, 0, 0);
		struct sva_bond *ub2 = bind(um2, 0);
		long n;

		memset(q, 1, 64 * KiB);
		mm = new_mm(0, 0, 0);
		b = bind(mm, 0);
		prefault_fails(mm, q, 64 * KiB, -EFAULT, "(tracked) of MAP_DROPPABLE memory");
		n = fault(b, (uintptr_t)q, SVA_ACCESS_READ);
		ok(n == -EFAULT, "  a device fault there (tracked): -EFAULT (%ld)", n);
		ok(sva_mm_prefault(um2, q, 16 * KiB) == 0, "  untracked: the prefault maps it");
		n = fault(ub2, (uintptr_t)q + 32 * KiB, SVA_ACCESS_READ);
		ok(n > 0, "  and a device fault maps it (%ld)", n);
		sva_unbind(b);
		sva_mm_free(mm);
		sva_unbind(ub2);
		sva_mm_free(um2);
		munmap(q, 64 * KiB);
	} else {
		skip(5, "no MAP_DROPPABLE");
	}
}

/* --------------------------------------------------- containment, deny */

static void containment(void)
{
	struct sva_mm *mm = new_mm(0, 0, 0), *rm;
	struct sva_bond *b = bind(mm, 0), *rb;
	const void *objs[] = { ctx, mm, dev, b };
	const char *names[] = { "context", "address space", "device", "bond" };
	char *p;
	long n;

	for (int i = 0; i < 4; i++) {
		uintptr_t a = (uintptr_t)objs[i] & ~(PG - 1);

		n = fault(b, a, SVA_ACCESS_READ | SVA_ACCESS_WRITE);
		if (a < 0x80000000ul)
			ok(n == -EXDEV, "a device fault on the %s object: -EXDEV (%ld)", names[i], n);
		else
			ok(n == -EXDEV || n == -ERANGE, "a device fault on the %s object: refused (%ld)", names[i], n);
	}
	sva_unbind(b);
	sva_mm_free(mm);

	/* Restricted. */
	rm = new_mm(SVA_MM_RESTRICTED, 0, 0);
	rb = bind(rm, 0);
	p = map_at(SLOT(12), 256 * KiB, PROT_READ | PROT_WRITE);
	n = fault(rb, (uintptr_t)p, SVA_ACCESS_READ);
	ok(n == -ENXIO, "restricted: a fault outside the allowed ranges: -ENXIO (%ld)", n);
	ok(sva_mm_allow(rm, p + 64 * KiB, 8 * KiB) == 0, "allow 8 KiB");
	n = fault(rb, (uintptr_t)p + 64 * KiB, SVA_ACCESS_READ);
	ok(n == 2, "  a fault there: its window clipped to the allowed range (%ld pages, want 2)", n);
	prefault_fails(rm, p, 256 * KiB, -EACCES, "(restricted) of a range partly allowed");
	ok(sva_mm_invalidate(rm, p, 256 * KiB) == 8 * (long)KiB, "  only the faulted 8 KiB was visible");
	ok(sva_mm_allow(rm, p + 72 * KiB, 8 * KiB) == 0 && sva_mm_prefault(rm, p + 64 * KiB, 16 * KiB) == 0,
	   "touching allowed ranges merge: a prefault across both is accepted");
	ok(mst(rm).bytes_visible == 16 * KiB, "  16 KiB visible");
	ok(sva_mm_deny(rm, p + 64 * KiB, 16 * KiB) == 0, "deny them");
	ok(mst(rm).bytes_visible == 0 && mst(rm).bytes_prefaulted == 0, "  withdrawn, left bytes_prefaulted");
	n = fault(rb, (uintptr_t)p + 64 * KiB, SVA_ACCESS_READ);
	ok(n == -ENXIO, "  a fault there now: -ENXIO (%ld)", n);
	prefault_fails(rm, p + 64 * KiB, PG, -EACCES, "(restricted) of a denied page");
	ok(sva_mm_deny(rm, p, 4 * PG) == 0, "denying a range that is not allowed: 0");
	ok(sva_mm_allow(rm, p + 128 * KiB, 64 * KiB) == 0, "allow 64 KiB");
	ok(sva_mm_prefault(rm, p + 128 * KiB, 64 * KiB) == 0, "  prefault it (one chunk)");
	ok(sva_mm_deny(rm, p + 128 * KiB, PG) == 0 && mst(rm).bytes_visible == 0,
	   "deny of one page withdraws the whole chunk");
	n = fault(rb, (uintptr_t)p + 132 * KiB, SVA_ACCESS_READ);
	ok(n > 0, "  the rest, still allowed, faults back in (%ld)", n);
	n = fault(rb, (uintptr_t)p + 128 * KiB, SVA_ACCESS_READ);
	ok(n == -ENXIO, "  the denied page: -ENXIO (%ld)", n);
	sva_unbind(rb);
	sva_mm_free(rm);

	/* Restricted and private: a fault on an allowed page not visible: -ENOENT. */
	rm = new_mm(SVA_MM_RESTRICTED | SVA_MM_PRIVATE, 0, 0);
	rb = bind(rm, 0);
	sva_mm_allow(rm, p, 64 * KiB);
	n = fault(rb, (uintptr_t)p, SVA_ACCESS_READ);
	ok(n == -ENOENT, "restricted|private: a fault on an allowed, invisible page: -ENOENT (%ld)", n);
	n = fault(rb, (uintptr_t)p + 128 * KiB, SVA_ACCESS_READ);
	ok(n == -ENOENT, "  on a page not allowed either: -ENOENT too (%ld)", n);
	prefault_fails(rm, p + 60 * KiB, 8 * KiB, -EACCES, "(restricted|private) of a range partly allowed");
	sva_unbind(rb);
	sva_mm_free(rm);

	/* Private. */
	rm = new_mm(SVA_MM_PRIVATE, 0, 0);
	rb = bind(rm, 0);
	n = fault(rb, (uintptr_t)p, SVA_ACCESS_READ);
	ok(n == -ENOENT, "private: a fault on an invisible page: -ENOENT (%ld)", n);
	mprotect(p + 64 * KiB, 16 * KiB, PROT_READ);
	ok(sva_mm_prefault(rm, p + 64 * KiB, 16 * KiB) == 0 && sva_mm_prefault(rm, p, 16 * KiB) == 0,
	   "  prefault a read-only and a read-write range");
	n = fault(rb, (uintptr_t)p, SVA_ACCESS_WRITE);
	ok(n == 0, "  a write fault on the visible read-write page: resolved, nothing new (%ld)", n);
	n = fault(rb, (uintptr_t)p + 64 * KiB, SVA_ACCESS_READ);
	ok(n == 0, "  a read fault on the read-only one: resolved (%ld)", n);
	n = fault(rb, (uintptr_t)p + 64 * KiB, SVA_ACCESS_WRITE);
	ok(n == -EACCES, "  a write fault on it: -EACCES (%ld)", n);
	ok(mst(rm).bytes_visible == 32 * KiB, "  only the prefaulted 32 KiB visible");
	sva_unbind(rb);
	sva_mm_free(rm);
	munmap(p, 256 * KiB);
}

/* ------------------------------------------------------------ fault-around */

static long first_window(uint64_t fa, uint64_t budget, size_t maplen)
{
	struct sva_mm *mm = new_mm(0, fa, budget);
	struct sva_bond *b = bind(mm, 0);
	char *p = map_at(SLOT(13), maplen, PROT_READ | PROT_WRITE);
	long n = fault(b, (uintptr_t)p + maplen / 2, SVA_ACCESS_READ);

	sva_unbind(b);
	sva_mm_free(mm);
	munmap(p, maplen);
	return n;
}

static void fault_around(void)
{
	struct sva_mm *mm;
	struct sva_bond *b;
	char *p;
	long n1, n2, n3;

	n1 = first_window(4096, 0, 1024 * KiB);
	ok(n1 == 1, "fault_around 4096: the faulting page alone (%ld)", n1);
	n1 = first_window(16 * KiB, 0, 1024 * KiB);
	ok(n1 == 4, "fault_around 16 KiB (under 64): the first window is the cap (%ld pages)", n1);
	n1 = first_window(0, 0, 1024 * KiB);
	ok(n1 == 16, "default: the first window 64 KiB (%ld pages)", n1);
	n1 = first_window(0, 0, 8 * KiB);
	ok(n1 == 2, "the window clipped to the 8 KiB mapping (%ld pages)", n1);
	n1 = first_window(0, 64 * KiB, 1024 * KiB);
	ok(n1 == 4, "a 64 KiB budget: the window at most a quarter, 16 KiB (%ld pages)", n1);

	/* Under a budget, a quarter of it caps the ramp as fault_around does. */
	mm = new_mm(0, 0, 128 * KiB);
	b = bind(mm, 0);
	p = map_at(SLOT(13), 1024 * KiB, PROT_READ | PROT_WRITE);
	n1 = fault(b, (uintptr_t)p, SVA_ACCESS_READ);
	n2 = fault(b, (uintptr_t)p + 32 * KiB, SVA_ACCESS_READ);
	n3 = fault(b, (uintptr_t)p + 64 * KiB, SVA_ACCESS_READ);
	ok(n1 == 8 && n2 == 8 && n3 == 8, "a 128 KiB budget, faults in order: 32 KiB windows, no more (%ld %ld %ld)", n1,
	   n2, n3);
	sva_unbind(b);
	sva_mm_free(mm);
	munmap(p, 1024 * KiB);

	/* The cap, not a fixed size: in-order faults double the window up to it. */
	mm = new_mm(0, 128 * KiB, 0);
	b = bind(mm, 0);
	p = map_at(SLOT(13), 2048 * KiB, PROT_READ | PROT_WRITE);
	n1 = fault(b, (uintptr_t)p, SVA_ACCESS_READ);
	n2 = fault(b, (uintptr_t)p + 64 * KiB, SVA_ACCESS_READ);
	n3 = fault(b, (uintptr_t)p + 192 * KiB, SVA_ACCESS_READ);
	ok(n1 == 16 && n2 == 32 && n3 == 32, "fault_around 128 KiB, faults in order: 16, 32, then 32 pages at the cap "
	   "(%ld %ld %ld)", n1, n2, n3);
	n1 = fault(b, (uintptr_t)p + 1536 * KiB, SVA_ACCESS_READ);
	ok(n1 == 16, "  a fault out of order halves it: %ld pages", n1);
	sva_unbind(b);
	sva_mm_free(mm);
	munmap(p, 2048 * KiB);
}

/* ------------------------------------------------------------ pin budget */

static void pin_budget(void)
{
	struct sva_mm *mm = new_mm(0, 4096, 256 * KiB);
	struct sva_bond *b = bind(mm, 0);
	char *p = map_at(SLOT(14), 1024 * KiB, PROT_READ | PROT_WRITE);
	struct sva_mm_stats s;
	struct sva_bond_stats bs;
	int bad = 0;

	for (int i = 0; i < 128; i++)
		if (fault(b, (uintptr_t)p + (uintptr_t)i * 2 * PG, SVA_ACCESS_READ) != 1)
			bad++;
	ok(bad == 0, "128 faults under a 64-page budget, each mapping its page (%d did not)", bad);
	s = mst(mm);
	bs = bst(b);
	ok(s.pin_budget == 256 * KiB && s.bytes_visible <= 256 * KiB && s.bytes_pinned_peak <= 256 * KiB,
	   "  visible %llu and peak %llu never above the budget", (unsigned long long)s.bytes_visible,
	   (unsigned long long)s.bytes_pinned_peak);
	ok(s.evictions >= 64 && s.bytes_evicted == s.evictions * PG,
	   "  evictions %llu of one page each (%llu bytes)", (unsigned long long)s.evictions,
	   (unsigned long long)s.bytes_evicted);
	ok(bs.pages_mapped == 128 && s.bytes_visible == bs.pages_mapped * PG - s.bytes_evicted,
	   "  visible == mapped - evicted (%llu == %llu*4096 - %llu)", (unsigned long long)s.bytes_visible,
	   (unsigned long long)bs.pages_mapped, (unsigned long long)s.bytes_evicted);
	ok(s.bytes_withdrawn == 0, "  evictions are not counted as withdrawals");
	ok(fault(b, (uintptr_t)p, SVA_ACCESS_READ) == 1 && mst(mm).refaults >= 1,
	   "  the first page, evicted, faults back in: a re-fault (%llu)", (unsigned long long)mst(mm).refaults);

	/* Prefaulted memory counts and is never evicted. */
	ok(sva_mm_prefault(mm, p + 512 * KiB, 64 * KiB) == 0, "prefault 64 KiB under the budget");
	s = mst(mm);
	ok(s.bytes_prefaulted == 64 * KiB && s.bytes_visible <= 256 * KiB, "  prefaulted 64 KiB, visible %llu",
	   (unsigned long long)s.bytes_visible);
	prefault_fails(mm, p + 640 * KiB, 196 * KiB, -ENOSPC, "beyond the budget beside the prefaulted");
	for (int i = 0; i < 64; i++)
		fault(b, (uintptr_t)p + (uintptr_t)i * 2 * PG + PG, SVA_ACCESS_READ);
	s = mst(mm);
	ok(s.bytes_prefaulted == 64 * KiB && s.bytes_visible <= 256 * KiB && s.bytes_pinned_peak <= 256 * KiB,
	   "  64 more faults: the prefaulted 64 KiB stays, visible %llu, peak %llu", (unsigned long long)s.bytes_visible,
	   (unsigned long long)s.bytes_pinned_peak);
	/* A prefault of a page inside a fault-mapped chunk makes the chunk prefaulted whole. */
	sva_unbind(b);
	sva_mm_free(mm);
	mm = new_mm(0, 0, 0);
	b = bind(mm, 0);
	ok(fault(b, (uintptr_t)p + 768 * KiB, SVA_ACCESS_READ) == 16, "a fault maps a 64 KiB chunk");
	ok(sva_mm_prefault(mm, p + 772 * KiB, PG) == 0 && mst(mm).bytes_prefaulted == 64 * KiB,
	   "  a prefault of one page in it makes the whole chunk prefaulted (%llu)",
	   (unsigned long long)mst(mm).bytes_prefaulted);
	ok(sva_mm_invalidate(mm, p + 768 * KiB, PG) == 64 * (long)KiB && mst(mm).bytes_prefaulted == 0,
	   "  invalidate withdraws it whole; it leaves bytes_prefaulted");

	/* A pinned bond takes no faults. */
	{
		struct sva_mm *pm = new_mm(0, 0, 0);
		struct sva_bond *pb = bind(pm, SVA_BIND_PINNED);

		sva_dev_inject_fault(dev, sva_bond_pasid(pb) == SVA_PASID_RID ? 0 : sva_bond_pasid(pb), (uintptr_t)p,
				     SVA_ACCESS_READ, 0);
		usleep(50000);
		bs = bst(pb);
		ok(bs.faults == 0 && bs.groups == 0 && bs.pages_mapped == 0, "a pinned bond: its counters stay 0");
		sva_unbind(pb);
		sva_mm_free(pm);
	}
	sva_unbind(b);
	sva_mm_free(mm);
	munmap(p, 1024 * KiB);
}

/* --------------------------------------------------------------- threads */

static struct sva_mm *st_mm;
static struct sva_bond *st_bond;
static atomic_int st_bad[3];
static atomic_int st_stop;

#define ST_ITER 60

/* Map, prefault, unmap, fence: after the fence nothing of it is visible. */
static void *st_churn(void *arg)
{
	uintptr_t va = SLOT(15);

	(void)arg;
	for (int i = 0; i < ST_ITER; i++) {
		void *p = mmap((void *)va, 64 * KiB, PROT_READ | PROT_WRITE,
			       MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);

		if (p != (void *)va) {
			st_bad[0]++;
			break;
		}
		memset(p, i, 64 * KiB);
		if (sva_mm_prefault(st_mm, p, 64 * KiB))
			st_bad[0]++;
		munmap(p, 64 * KiB);
		if (sva_mm_fence(st_mm) || sva_mm_invalidate(st_mm, p, 64 * KiB) != 0)
			st_bad[0]++;
	}
	return NULL;
}

/* Faults on a stable region and invalidations of it. */
static void *st_faults(void *arg)
{
	uintptr_t va = SLOT(14);
	unsigned seed = 7;

	(void)arg;
	for (int i = 0; i < ST_ITER * 2; i++) {
		uintptr_t a = va + (uintptr_t)(rand_r(&seed) % 256) * PG;

		if (inject_and_wait(st_bond, a, SVA_ACCESS_READ))
			st_bad[1]++;
		if (i % 8 == 7 && sva_mm_invalidate(st_mm, (void *)va, 1024 * KiB) < 0)
			st_bad[1]++;
	}
	return NULL;
}

static void *st_reader(void *arg)
{
	(void)arg;
	while (!atomic_load(&st_stop)) {
		struct sva_mm_stats s = mst(st_mm);
		struct sva_bond_stats bs = bst(st_bond);

		if (s.bytes_visible > 2048 * KiB || (s.flags & SVA_MM_STAT_TRACKED) == 0 || bs.faults > ST_ITER * 2)
			st_bad[2]++;
		if (sva_mm_fence(st_mm))
			st_bad[2]++;
		usleep(200);
	}
	return NULL;
}

/*
 * libsva(7), Calls inside callbacks: inside fault_error "every other call is
 * allowed", sva_mm_prefault(3), sva_mm_invalidate(3) and sva_mm_fence(3)
 * named; sva_mm_allow(3)/sva_mm_deny(3) and sva_dev_open_mock(3) are among
 * the others.  The natural use: a restricted address space refuses a fault
 * (-ENXIO), and the driver's callback allows and prefaults the range.  Each
 * call must return, with what its page says, on the fault thread inside the
 * batch (a hang is caught by the alarm).
 */
static struct {
	struct sva_mm *mm;
	char *p;
	/* Atomic: the main thread reads it before it injects the next fault,
	 * whose callback bumps it; the kernel orders the two, and
	 * ThreadSanitizer cannot see through the kernel. */
	atomic_int calls;
	int reason, allow, prefault, fence, deny, open;
	long inval;
	struct sva_dev *dev;
} fe;

static void fe_probe(struct sva_bond *bond, const struct sva_fault_report *r, void *drvdata)
{
	on_fault_error(bond, r, drvdata); /* fault() reads the reason there */
	if (atomic_fetch_add(&fe.calls, 1))
		return;
	fe.reason = r->reason;
	fe.allow = sva_mm_allow(fe.mm, fe.p, 16 * PG);
	fe.prefault = sva_mm_prefault(fe.mm, fe.p, 4 * PG);
	fe.inval = sva_mm_invalidate(fe.mm, fe.p, PG);
	fe.fence = sva_mm_fence(fe.mm);
	fe.deny = sva_mm_deny(fe.mm, fe.p + 8 * PG, 8 * PG);
	fe.open = sva_dev_open_mock(ctx, NULL, &fe.dev);
}

static void calls_in_fault_error(void)
{
	static const struct sva_bond_ops fops = { .size = sizeof(struct sva_bond_ops), .fault_error = fe_probe };
	struct sva_bind_opts bo = { .size = sizeof(bo), .ops = &fops };
	struct sva_bond *b = NULL;
	long got;
	int calls;

	memset(&fe, 0, sizeof(fe));
	atomic_init(&fe.calls, 0);
	fe.mm = new_mm(SVA_MM_RESTRICTED, 0, 0);
	fe.p = map_at(SLOT(30), 64 * KiB, PROT_READ | PROT_WRITE);
	if (sva_bind(dev, fe.mm, &bo, &b))
		tap_bail("sva_bind: %s", lines_last);
	alarm(60);
	got = inject_and_wait(b, (uintptr_t)fe.p, SVA_ACCESS_READ);
	alarm(0);
	calls = atomic_load(&fe.calls);
	ok(got == 0 && calls == 1, "fault_error: a fault outside the allowed ranges is reported once (%ld, %d)", got,
	   calls);
	ok(fe.reason == -ENXIO, "  reason -ENXIO (%d)", fe.reason);
	ok(fe.allow == 0, "  sva_mm_allow inside it: 0 (%d)", fe.allow);
	ok(fe.prefault == 0, "  sva_mm_prefault inside it: 0 (%d)", fe.prefault);
	ok(fe.inval == 4 * (long)PG, "  sva_mm_invalidate inside it: the whole 16 KiB chunk (%ld)", fe.inval);
	ok(fe.fence == 0, "  sva_mm_fence inside it: 0 (%d)", fe.fence);
	ok(fe.deny == 0, "  sva_mm_deny inside it: 0 (%d)", fe.deny);
	ok(fe.open == 0, "  sva_dev_open_mock inside it: 0 (%d)", fe.open);
	got = fault(b, (uintptr_t)fe.p + PG, SVA_ACCESS_READ);
	ok(got > 0, "  what it allowed resolves afterwards (%ld pages)", got);
	ok(fault(b, (uintptr_t)fe.p + 8 * PG, SVA_ACCESS_READ) == -ENXIO, "  what it denied does not");
	sva_dev_close(fe.dev);
	sva_unbind(b);
	sva_mm_free(fe.mm);
	munmap(fe.p, 64 * KiB);
}

static void threads(void)
{
	pthread_t t[3];
	char *p;
	struct sva_mm_stats s;
	uint64_t t0 = now_ms();

	st_mm = new_mm(0, 0, 0);
	st_bond = bind(st_mm, 0);
	p = map_at(SLOT(14), 1024 * KiB, PROT_READ | PROT_WRITE);
	pthread_create(&t[0], NULL, st_churn, NULL);
	pthread_create(&t[1], NULL, st_faults, NULL);
	pthread_create(&t[2], NULL, st_reader, NULL);
	pthread_join(t[0], NULL);
	pthread_join(t[1], NULL);
	atomic_store(&st_stop, 1);
	pthread_join(t[2], NULL);
	ok(st_bad[0] == 0, "threads: map/prefault/munmap/fence x%d: nothing visible after each fence (%d bad)", ST_ITER,
	   st_bad[0]);
	ok(st_bad[1] == 0, "threads: %d faults and invalidations beside it (%d bad)", ST_ITER * 2, st_bad[1]);
	ok(st_bad[2] == 0, "threads: stats and fences read meanwhile (%d bad)", st_bad[2]);
	munmap(p, 1024 * KiB);
	sva_mm_fence(st_mm);
	s = mst(st_mm);
	ok(s.bytes_visible == 0 && s.bytes_prefaulted == 0, "  everything unmapped: nothing visible (%llu)",
	   (unsigned long long)s.bytes_visible);
	diag("threads took %llu ms", (unsigned long long)(now_ms() - t0));
	sva_unbind(st_bond);
	sva_mm_free(st_mm);
}

/* What needs no kernel: the NULL arguments every page lists first. */
static void host_checks(void)
{
	struct sva_mm *mm = SENT_MM;
	struct sva_mm_stats s = { .size = sizeof(s) };
	struct sva_bond_stats bs = { .size = sizeof(bs) };
	char buf[PG];

	ok(sva_mm_new(NULL, NULL, &mm) == -EINVAL && mm == SENT_MM, "host: sva_mm_new(NULL ctx): -EINVAL, *out untouched");
	ok(sva_mm_prefault(NULL, buf, PG) == -EINVAL, "host: sva_mm_prefault(NULL): -EINVAL");
	ok(sva_mm_invalidate(NULL, buf, PG) == -EINVAL, "host: sva_mm_invalidate(NULL): -EINVAL");
	ok(sva_mm_fence(NULL) == -EINVAL, "host: sva_mm_fence(NULL): -EINVAL");
	ok(sva_mm_allow(NULL, buf, PG) == -EINVAL && sva_mm_deny(NULL, buf, PG) == -EINVAL,
	   "host: sva_mm_allow/deny(NULL): -EINVAL");
	ok(sva_mm_stats(NULL, &s) == -EINVAL, "host: sva_mm_stats(NULL): -EINVAL");
	ok(sva_bond_stats(NULL, &bs) == -EINVAL, "host: sva_bond_stats(NULL): -EINVAL");
	KTEST_QUIET_NOOP(sva_mm_free(NULL), "host: sva_mm_free(NULL)");
}

int main(void)
{
	uint64_t t0 = now_ms();
	int ret;

	host_checks();
	if (access("/dev/iommu", R_OK | W_OK)) {
		diag("no usable /dev/iommu: the kernel checks are skipped");
		return done_testing();
	}
	/* Before this process has any context or thread: children make their
	 * own (ThreadSanitizer refuses threads after a multi-threaded fork). */
	default_budget();
	kernel_limit();
	kernel_limit_shared();
	ctx = fresh_ctx();
	if (!ctx)
		tap_bail("sva_ctx_new failed");
	ret = sva_dev_open_mock(ctx, NULL, &dev);
	if (ret) {
		mm_new_options();
		diag("no mock device (%s): the device checks are skipped", strerror(-ret));
		sva_ctx_free(ctx);
		return done_testing();
	}
	mm_new_options();
	stats_errors();
	range_errors();
	prefault_errors();
	prefault_maps_errors();
	coherence();
	containment();
	fault_around();
	pin_budget();
	coherence_more();
	edges();
	reach();
	threads();
	calls_in_fault_error();
	tracking_stops();
	sva_dev_close(dev);
	sva_ctx_free(ctx);
	diag("took %llu ms", (unsigned long long)(now_ms() - t0));
	return done_testing();
}
