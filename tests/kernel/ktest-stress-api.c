/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * libsva(7) "Thread safety", black-box: every call a page calls thread-safe,
 * run at once on the same objects (one context, one mock device, one
 * restricted address space), through sva.h only.  The other racing tests
 * pair two or three calls; here they all run together: binds and unbinds of
 * different bonds on one mm and one device, each with a fault of its own,
 * while a long-lived bond faults, the mm is prefaulted, invalidated, fenced,
 * allowed and denied, memory comes and goes, PASIDs of the bind's own global
 * space are allocated and freed by hand, the log callback is swapped, and
 * readers look on.  What must hold: every result a page promises (lookups
 * see the holder's drvdata, stats only grow, every injected fault answered,
 * space counts add up), and at the end nothing bound, no PASID lost, no
 * descriptor left open.  Meant for ThreadSanitizer too (libsva(7): its own
 * threads and locks report nothing).
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include <sva/sva.h>

#include "../tap.h"

#define PAGE 4096u
#define FAULT_TIMEOUT_MS 10000

static struct sva_ctx *ctx;
static struct sva_dev *dev;
static struct sva_mm *mm;
static struct sva_bond *b0;  /* the long-lived bond the faulter uses */
static uint32_t pasid0;
static char *buf_a;  /* allowed for good (sva_mem_alloc), faulted on */
static char *buf_c;  /* allowed and denied in a loop */
#define BUF_A_LEN (64u * PAGE)
#define BUF_C_LEN (16u * PAGE)
static atomic_bool stop;

/* The first failure of each kind, with a count; the main thread reports. */
enum chk {
	C_BIND, C_BOND_LOOKUP, C_BOND_FAULT, C_UNBIND, C_FAULT0, C_MM_OPS, C_ALLOW, C_MEM, C_PASID,
	C_PASID_LOOKUP, C_READERS, C_STATS_GROW, C_SPACE_SUM, C_LOG_ARG, C_HEALTH, C_NR
};
static const char *const chk_name[C_NR] = {
	"sva_bind of a further bond on the shared mm and device succeeds",
	"sva_dev_bond_lookup finds each live bond under its PASID, with its drvdata",
	"each short-lived bond's injected fault is answered before its unbind",
	"sva_unbind of each short-lived bond returns 0",
	"every fault injected on the long-lived bond is answered, none INVALID",
	"sva_mm_prefault/invalidate/fence of allowed memory return 0 while the device faults",
	"sva_mm_allow/deny return 0 while the device faults",
	"sva_mem_alloc/free in the mm return 0 and the memory is usable",
	"sva_dev_pasid_alloc/free/release and sva_pasid_barrier return what the pages say",
	"a lookup of a PASID held by hand returns its holder's drvdata",
	"sva_mm_iova_ranges, sva_dev_iova_ranges, sva_dev_get_info answer 0",
	"sva_mm_stats and sva_bond_stats counters never go back",
	"sva_pasid_stats: allocated + quarantined + free is the space's size",
	"the log callback always gets its own arg",
	"sva_ctx_fault_health stays 0",
};
static atomic_ulong nfail[C_NR];
static atomic_int first_err[C_NR];
static atomic_ulong nrun[C_NR];

static void check(enum chk c, bool cond, int err)
{
	nrun[c]++;
	if (cond)
		return;
	if (nfail[c]++ == 0)
		first_err[c] = err;
}

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* The open descriptors (the DIR's own aside); with `before`, say which are new. */
static int count_fds(const bool *before, bool *now)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	int n = 0;

	if (!d)
		return -1;
	while ((e = readdir(d))) {
		int fd = atoi(e->d_name);
		char path[64], link[256];
		ssize_t len;

		if (e->d_name[0] == '.' || fd == dirfd(d))
			continue;
		n++;
		if (now && fd < 1024)
			now[fd] = true;
		if (!before || fd >= 1024 || before[fd])
			continue;
		snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
		len = readlink(path, link, sizeof(link) - 1);
		link[len < 0 ? 0 : len] = 0;
		diag("descriptor %d is new: %s", fd, link);
	}
	closedir(d);
	return n;
}

static struct sva_bond_stats bst(const struct sva_bond *b)
{
	struct sva_bond_stats s = { .size = sizeof(s) };

	sva_bond_stats(b, &s);
	return s;
}

/* sva_dev_inject_fault(3), EXAMPLES: 0 once answered. */
static int inject_and_wait(struct sva_bond *b, uint64_t addr, uint32_t perm)
{
	uint64_t before = bst(b).faults, end = now_ms() + FAULT_TIMEOUT_MS;
	int ret = sva_dev_inject_fault(dev, sva_bond_pasid(b), addr, perm, 0);

	if (ret)
		return ret;
	while (now_ms() < end) {
		if (bst(b).faults > before)
			return 0;
		usleep(200);
	}
	return -ETIMEDOUT;
}

/* ---------------------------------------------------------------- binders */

static atomic_ulong nbinds;

static void *binder(void *arg)
{
	uintptr_t id = (uintptr_t)arg;
	unsigned i = 0;

	while (!stop) {
		char tag;
		struct sva_bind_opts o = { .size = sizeof(o), .flags = SVA_BIND_EXTRA_PASID, .drvdata = &tag };
		struct sva_bond *b = NULL, *lb = NULL;
		void *dd = NULL;
		int ret = sva_bind(dev, mm, &o, &b);

		check(C_BIND, ret == 0, ret);
		if (ret) {
			usleep(1000);
			continue;
		}
		nbinds++;
		ret = sva_dev_bond_lookup(dev, sva_bond_pasid(b), &lb, &dd);
		check(C_BOND_LOOKUP, ret == 0 && lb == b && dd == &tag && sva_bond_drvdata(b) == &tag, ret ? ret : -EIO);
		/* Pages of buf_a differ per binder and round, so faults spread out. */
		ret = inject_and_wait(b, (uintptr_t)buf_a + ((id * 7 + i++) % (BUF_A_LEN / PAGE)) * PAGE,
				      SVA_ACCESS_READ | SVA_ACCESS_WRITE);
		struct sva_bond_stats s = bst(b);
		check(C_BOND_FAULT, ret == 0 && s.faults == 1 && s.invalid == 0, ret ? ret : -(int)s.invalid - 1000);
		ret = sva_unbind(b);
		check(C_UNBIND, ret == 0, ret);
	}
	return NULL;
}

/* ---------------------------------------------------------------- faulter */

static atomic_ulong ninjected;

static void *faulter(void *arg)
{
	unsigned i = 0;

	(void)arg;
	while (!stop) {
		uint64_t addr = (uintptr_t)buf_a + (i++ % (BUF_A_LEN / PAGE)) * PAGE;
		int ret = inject_and_wait(b0, addr, SVA_ACCESS_READ | (i & 1 ? SVA_ACCESS_WRITE : 0));

		if (ret == 0)
			ninjected++;
		check(C_FAULT0, ret == 0, ret);
		/* A fault on buf_c races its allow/deny: either answer is right. */
		if (i % 8 == 0) {
			ret = sva_dev_inject_fault(dev, pasid0, (uintptr_t)buf_c + (i / 8 % (BUF_C_LEN / PAGE)) * PAGE,
						   SVA_ACCESS_READ, 0);
			check(C_FAULT0, ret == 0, ret);
		}
	}
	return NULL;
}

/* ---------------------------------------------------------------- mm ops */

static void *mm_ops(void *arg)
{
	unsigned i = 0;

	(void)arg;
	while (!stop) {
		size_t off = (i++ % 8) * 8 * PAGE;
		int r1 = sva_mm_prefault(mm, buf_a + off, 8 * PAGE);
		int r2 = sva_mm_fence(mm);
		int r3 = sva_mm_invalidate(mm, buf_a + off, 8 * PAGE);

		/* sva_mm_invalidate(3): the bytes withdrawn, or -errno. */
		check(C_MM_OPS, r1 == 0 && r2 == 0 && r3 >= 0, r1 ? r1 : r2 ? r2 : r3);
	}
	return NULL;
}

static void *allow_deny(void *arg)
{
	(void)arg;
	while (!stop) {
		int r1 = sva_mm_allow(mm, buf_c, BUF_C_LEN);
		int r2 = sva_mm_deny(mm, buf_c, BUF_C_LEN);

		check(C_ALLOW, r1 == 0 && r2 == 0, r1 ? r1 : r2);
	}
	return NULL;
}

static void *mem_churn(void *arg)
{
	(void)arg;
	while (!stop) {
		struct sva_mem_opts o = { .size = sizeof(o), .flags = SVA_MEM_ANY_NODE, .mm = mm };
		void *p = NULL;
		int ret = sva_mem_alloc(4 * PAGE, &o, &p);

		check(C_MEM, ret == 0, ret);
		if (ret)
			continue;
		memset(p, 0x5a, 4 * PAGE);
		ret = sva_mem_free(mm, p, 4 * PAGE);
		check(C_MEM, ret == 0, ret);
	}
	return NULL;
}

/* ---------------------------------------------------------- PASID churn */

static void *pasid_churn(void *arg)
{
	enum sva_pasid_policy pol = (enum sva_pasid_policy)(uintptr_t)arg;

	while (!stop) {
		uint32_t held[8];
		char tags[8];
		unsigned n = 0;

		for (unsigned k = 0; k < 8; k++) {
			int ret = sva_dev_pasid_alloc(dev, pol, &tags[k], &held[n]);

			check(C_PASID, ret == 0 || ret == -ENOSPC, ret);
			if (ret == 0)
				n++;
		}
		for (unsigned k = 0; k < n; k++) {
			void *dd = NULL;
			int ret = sva_dev_pasid_lookup(dev, held[k], &dd);

			check(C_PASID_LOOKUP, ret == 0 && dd == &tags[k], ret ? ret : -EIO);
			if (pol == SVA_PASID_GLOBAL) {
				ret = sva_pasid_lookup(sva_ctx_global_pasids(ctx), held[k], &dd);
				check(C_PASID_LOOKUP, ret == 0 && dd == &tags[k], ret ? ret : -EIO);
			}
		}
		for (unsigned k = 0; k < n; k++) {
			int r1 = sva_dev_pasid_free(dev, held[k]);
			int r2 = sva_dev_pasid_release(dev, held[k]);

			check(C_PASID, r1 == 0 && r2 == 0, r1 ? r1 : r2);
		}
		/* Another thread's barrier may have made them allocatable already. */
		int ret = pol == SVA_PASID_GLOBAL ? sva_pasid_barrier(sva_ctx_global_pasids(ctx))
						  : sva_pasid_barrier(sva_dev_pasids(dev));
		check(C_PASID, ret >= 0, ret);
	}
	return NULL;
}

/* ----------------------------------------------------------- log swapper */

static atomic_ulong log_a, log_b;
static char arg_a, arg_b;

static void log_fn_a(void *arg, enum sva_log_level level, const char *msg)
{
	(void)level;
	(void)msg;
	log_a++;
	check(C_LOG_ARG, arg == &arg_a, -EIO);
}

static void log_fn_b(void *arg, enum sva_log_level level, const char *msg)
{
	(void)level;
	(void)msg;
	log_b++;
	check(C_LOG_ARG, arg == &arg_b, -EIO);
}

static void *log_swapper(void *arg)
{
	unsigned i = 0;

	(void)arg;
	while (!stop) {
		if (i++ & 1)
			sva_ctx_set_log(ctx, log_fn_a, &arg_a, SVA_LOG_DEBUG);
		else
			sva_ctx_set_log(ctx, log_fn_b, &arg_b, SVA_LOG_DEBUG);
		/* Failing lookups log at debug level: lines while the swap goes on. */
		sva_dev_pasid_lookup(dev, SVA_PASID_MAX, NULL);
		sva_pasid_lookup(sva_ctx_global_pasids(ctx), SVA_PASID_MAX, NULL);
	}
	return NULL;
}

/* ---------------------------------------------------------------- readers */

static void space_sum(struct sva_pasid_space *sp)
{
	struct sva_pasid_stats s = { .size = sizeof(s) };
	int ret = sva_pasid_stats(sp, &s);

	check(C_SPACE_SUM, ret == 0 && s.allocated + s.quarantined + s.free == (uint64_t)s.max - s.min + 1,
	      ret ? ret : -EIO);
}

static void *reader(void *arg)
{
	struct sva_mm_stats prev = { .size = sizeof(prev) };
	struct sva_bond_stats pb = bst(b0);

	(void)arg;
	sva_mm_stats(mm, &prev);
	while (!stop) {
		struct sva_iova_range r[64];
		size_t nr = 64, dnr = 64;
		struct sva_dev_info info = { .size = sizeof(info) };
		int r1 = sva_mm_iova_ranges(mm, r, &nr);
		int r2 = sva_dev_iova_ranges(dev, r, &dnr);
		int r3 = sva_dev_get_info(dev, &info);

		check(C_READERS, r1 == 0 && nr > 0 && (r2 == 0 || r2 == -ENOTCONN) && r3 == 0 && info.max_pasid_log2 > 0,
		      r1 ? r1 : r2 && r2 != -ENOTCONN ? r2 : r3);

		struct sva_mm_stats s = { .size = sizeof(s) };
		struct sva_bond_stats b = bst(b0);
		int ret = sva_mm_stats(mm, &s);

		check(C_STATS_GROW,
		      ret == 0 && s.events >= prev.events && s.bytes_withdrawn >= prev.bytes_withdrawn &&
			      s.untracked_ranges >= prev.untracked_ranges && s.bytes_pinned_peak >= prev.bytes_pinned_peak &&
			      s.bytes_pinned_peak >= s.bytes_visible && s.evictions >= prev.evictions &&
			      s.refaults >= prev.refaults && b.faults >= pb.faults && b.groups >= pb.groups &&
			      b.invalid >= pb.invalid && b.pages_mapped >= pb.pages_mapped,
		      ret ? ret : -EIO);
		prev = s;
		pb = b;
		check(C_BOND_LOOKUP, sva_bond_pasid(b0) == pasid0, -EIO);
		struct sva_bond *lb = NULL;

		ret = sva_dev_bond_lookup(dev, pasid0, &lb, NULL);
		check(C_BOND_LOOKUP, ret == 0 && lb == b0, ret ? ret : -EIO);
		space_sum(sva_ctx_global_pasids(ctx));
		space_sum(sva_dev_pasids(dev));
		ret = sva_ctx_fault_health(ctx);
		check(C_HEALTH, ret == 0, ret);
	}
	return NULL;
}

/* ------------------------------------------------------------------ main */

static void report(void)
{
	for (int c = 0; c < C_NR; c++) {
		if (c == C_LOG_ARG && !nrun[c]) {
			ok(0, "%s (no line was logged at all)", chk_name[c]);
			continue;
		}
		if (!ok(nfail[c] == 0 && nrun[c] > 0, "%s (%lu runs)", chk_name[c], (unsigned long)nrun[c]))
			diag("%lu failed, the first with %d (%s)", (unsigned long)nfail[c], first_err[c],
			     strerror(first_err[c] < 0 ? -first_err[c] : first_err[c]));
	}
}

int main(void)
{
	const char *secs_env = getenv("SVA_STRESS_SECONDS");
	unsigned secs = secs_env ? (unsigned)atoi(secs_env) : 5;
	static bool fds_before[1024];
	int fds0;

	if (access("/dev/iommu", R_OK | W_OK)) {
		if (getenv("SVA_VM")) {
			printf("not ok 1 - /dev/iommu is usable inside the test VM\n1..1\n");
			return 1;
		}
		skip_all("no usable /dev/iommu on this host (run make check-vm for the kernel tier)");
	}
	struct sva_ctx_opts co = { .size = sizeof(co), .pasid_grace_ns = UINT64_MAX };

	if (sva_ctx_new(&co, &ctx))
		tap_bail("sva_ctx_new failed");
	/* sva_mm_free(3): the monitor's eventfd, made with the first tracked
	 * address space, stays for the process's life; count after it. */
	if (sva_mm_new(ctx, NULL, &mm))
		tap_bail("sva_mm_new failed");
	sva_mm_free(mm);
	sva_ctx_free(ctx);
	fds0 = count_fds(NULL, fds_before);
	if (sva_ctx_new(&co, &ctx))
		tap_bail("sva_ctx_new failed");
	int ret = sva_dev_open_mock(ctx, NULL, &dev);

	if (ret == -EOPNOTSUPP && !getenv("SVA_VM"))
		skip_all("the kernel has no CONFIG_IOMMUFD_TEST (run make check-vm)");
	if (ret)
		tap_bail("sva_dev_open_mock: %s", strerror(-ret));
	struct sva_mm_opts mo = { .size = sizeof(mo), .flags = SVA_MM_RESTRICTED, .pin_budget = SVA_PIN_UNLIMITED };

	if ((ret = sva_mm_new(ctx, &mo, &mm)))
		tap_bail("sva_mm_new: %s", strerror(-ret));
	static char tag0;
	struct sva_bind_opts bo = { .size = sizeof(bo), .drvdata = &tag0 };

	if ((ret = sva_bind(dev, mm, &bo, &b0)))
		tap_bail("sva_bind: %s", strerror(-ret));
	pasid0 = sva_bond_pasid(b0);
	struct sva_mem_opts memo = { .size = sizeof(memo), .flags = SVA_MEM_ANY_NODE, .mm = mm };

	if ((ret = sva_mem_alloc(BUF_A_LEN, &memo, (void **)&buf_a)))
		tap_bail("sva_mem_alloc: %s", strerror(-ret));
	memset(buf_a, 1, BUF_A_LEN);
	buf_c = mmap(NULL, BUF_C_LEN, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (buf_c == MAP_FAILED)
		tap_bail("mmap failed");
	memset(buf_c, 2, BUF_C_LEN);

	static void *(*const fns[])(void *) = { binder, binder, faulter, mm_ops, allow_deny, mem_churn,
					       pasid_churn, pasid_churn, log_swapper, reader };
	static const uintptr_t args[] = { 1, 2, 0, 0, 0, 0, SVA_PASID_GLOBAL, SVA_PASID_DEVICE, 0, 0 };
	enum { NT = sizeof(fns) / sizeof(fns[0]) };
	pthread_t th[NT];

	for (unsigned k = 0; k < NT; k++)
		if (pthread_create(&th[k], NULL, fns[k], (void *)args[k]))
			tap_bail("pthread_create failed");
	sleep(secs);
	stop = true;
	for (unsigned k = 0; k < NT; k++)
		pthread_join(th[k], NULL);
	diag("%lu binds, %lu faults on the long-lived bond, %lu+%lu log lines", (unsigned long)nbinds,
	     (unsigned long)ninjected, (unsigned long)log_a, (unsigned long)log_b);
	report();

	struct sva_bond_stats s = bst(b0);

	/* buf_c faults may be INVALID (denied), so only the buf_a ones are counted exactly. */
	ok(s.faults >= ninjected && ninjected > 0, "the long-lived bond counted each fault it answered (%llu >= %lu)",
	   (unsigned long long)s.faults, (unsigned long)ninjected);
	sva_ctx_set_log(ctx, NULL, NULL, SVA_LOG_ERROR);
	is_int(sva_unbind(b0), 0, "sva_unbind of the long-lived bond");
	is_int(sva_dev_bond_lookup(dev, pasid0, NULL, NULL), -ENOENT, "nothing is bound under its PASID any more");

	struct sva_pasid_space *g = sva_ctx_global_pasids(ctx), *d = sva_dev_pasids(dev);

	sva_pasid_barrier(g);
	sva_pasid_barrier(d);
	struct sva_pasid_stats gs = { .size = sizeof(gs) }, ds = { .size = sizeof(ds) };

	ok(sva_pasid_stats(g, &gs) == 0 && gs.allocated == 0 && gs.quarantined == 0 &&
		   gs.free == (uint64_t)gs.max - gs.min + 1,
	   "no global PASID is lost: %llu allocated, %llu quarantined after the barrier", (unsigned long long)gs.allocated,
	   (unsigned long long)gs.quarantined);
	ok(sva_pasid_stats(d, &ds) == 0 && ds.allocated == 0 && ds.quarantined == 0 &&
		   ds.free == (uint64_t)ds.max - ds.min + 1,
	   "no device PASID is lost: %llu allocated, %llu quarantined after the barrier", (unsigned long long)ds.allocated,
	   (unsigned long long)ds.quarantined);
	struct sva_mm_stats ms = { .size = sizeof(ms) };

	ok(sva_mem_free(mm, buf_a, BUF_A_LEN) == 0 && sva_mm_stats(mm, &ms) == 0, "the memory goes back");
	munmap(buf_c, BUF_C_LEN);
	sva_mm_free(mm);
	sva_dev_close(dev);
	sva_ctx_free(ctx);
	int fds1 = count_fds(fds_before, NULL);

	is_int(fds1, fds0, "no descriptor is left open after everything is freed");
	return done_testing();
}
