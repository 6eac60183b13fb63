/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * An outside tester's pass over the PASID pages, written from the man pages
 * and sva.h alone: sva_pasid_space_new(3), sva_pasid_alloc(3),
 * sva_pasid_lookup(3), sva_pasid_stats(3), sva_dev_pasid_alloc(3),
 * sva_dev_pasids(3), sva_dev_set_pasid_range(3) and libsva(7), "PASID
 * spaces".  It holds the promises the other PASID tests (ktest-pasid-contract,
 * the unit tests) left out: which failures log and where (the process-wide log
 * for NULL objects, nothing for sva_pasid_stats' own refusals, the context's
 * log for its spaces), the error order on a device without PASIDs, release's
 * -ERANGE cases, a space the context owns left as it was by
 * sva_pasid_space_free(), AUTO's fall-back from a global space held by
 * quarantine or taking a value whose grace time ended by itself, allocations
 * straight on a device's own space, the bounds, lines and restart of
 * sva_dev_set_pasid_range(), the grace time counted from the release, reuse
 * order across barriers and grace ends, lookups from a signal handler, and
 * allocation from several threads (sva_pasid_space_new as a process's
 * first calls too), sva_dev_set_pasid_range's errors on a space in use, the
 * spaces' independence (per device, per barrier), what sva_dev_close leaves
 * of a device's bonds and PASIDs (the order of quarantine, a driver's
 * SVA_BIND_PASID value handed back), and the PASID calls an mm_exit may make
 * (sva_dev_set_pasid_range included).
 *
 * The log checks run in a fresh process (this program exec'd again), since
 * the default log takes $SVA_LOG when the process first uses it.  The
 * standalone part needs no kernel; the device part runs on the mock.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <sva/sva.h>

#include "../tap.h"
#include "edu_find.h"

static void sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) && errno == EINTR)
		;
}

static struct sva_pasid_stats stats_of(const struct sva_pasid_space *s)
{
	struct sva_pasid_stats st = { .size = sizeof(st) };

	if (sva_pasid_stats(s, &st))
		memset(&st, 0xff, sizeof(st));
	return st;
}

static bool same_stats(struct sva_pasid_stats a, struct sva_pasid_stats b)
{
	return a.min == b.min && a.max == b.max && a.allocated == b.allocated && a.quarantined == b.quarantined &&
	       a.free == b.free;
}

static struct sva_pasid_space *space(uint32_t min, uint32_t max, uint64_t grace)
{
	struct sva_pasid_space_opts o = { .size = sizeof(o), .min = min, .max = max, .grace_ns = grace };
	struct sva_pasid_space *s = NULL;

	if (sva_pasid_space_new(&o, &s))
		tap_bail("sva_pasid_space_new [%u, %u]", min, max);
	return s;
}

/* An allocation's value, or its negative errno: one expression for is_int(). */
static long sal(struct sva_pasid_space *s, void *data)
{
	uint32_t p;
	int ret = sva_pasid_alloc(s, data, &p);

	return ret ? ret : (long)p;
}

static long dal(struct sva_dev *dev, enum sva_pasid_policy policy, void *data)
{
	uint32_t p;
	int ret = sva_dev_pasid_alloc(dev, policy, data, &p);

	return ret ? ret : (long)p;
}

/* ------------------------------------------------ the process-wide log */

/* sva_pasid_space_new(3): "thread-safe", also as the process's first libsva
 * call, when the arena is reserved "the first time it is needed". */
#define NEW_THREADS 8
static pthread_barrier_t new_barrier;
static struct sva_pasid_space *new_spaces[NEW_THREADS];
static int new_ret[NEW_THREADS];

static void *new_one(void *arg)
{
	int i = (int)(intptr_t)arg;
	uint32_t p = 0;

	pthread_barrier_wait(&new_barrier);
	new_ret[i] = sva_pasid_space_new(NULL, &new_spaces[i]);
	if (new_ret[i] == 0 && (sva_pasid_alloc(new_spaces[i], arg, &p) || p != 1))
		new_ret[i] = -1000;
	return NULL;
}

static int new_from_threads(void)
{
	pthread_t t[NEW_THREADS];
	void *d;

	pthread_barrier_init(&new_barrier, NULL, NEW_THREADS);
	for (int i = 0; i < NEW_THREADS; i++)
		if (pthread_create(&t[i], NULL, new_one, (void *)(intptr_t)i))
			return 2;
	for (int i = 0; i < NEW_THREADS; i++)
		pthread_join(t[i], NULL);
	for (int i = 0; i < NEW_THREADS; i++) {
		if (new_ret[i])
			return 10 + i;
		for (int k = 0; k < i; k++)
			if (new_spaces[k] == new_spaces[i])
				return 30;
		if (sva_pasid_lookup(new_spaces[i], 1, &d) || d != (void *)(intptr_t)i)
			return 40 + i;
	}
	for (int i = 0; i < NEW_THREADS; i++)
		sva_pasid_space_free(new_spaces[i]);
	return 0;
}

/*
 * Each case runs in this program exec'd again with $SVA_LOG set, so that the
 * default log reads it; it exits 0 when every call returned what the pages
 * say, and the parent counts the lines it wrote to standard error.
 */
static int child_case(const char *mode)
{
	struct sva_pasid_space *s = NULL;
	struct sva_pasid_stats st = { .size = sizeof(st) };
	uint32_t p = 7;
	void *d = NULL;

	if (strcmp(mode, "stats-refusals") == 0) {
		/* sva_pasid_stats(3): "Only a NULL space is logged". */
		if (sva_pasid_space_new(NULL, &s))
			return 2;
		st.size = sizeof(st) - 1;
		if (sva_pasid_stats(s, NULL) != -EINVAL || sva_pasid_stats(s, &st) != -EINVAL)
			return 3;
		st.size = 0;
		return sva_pasid_stats(s, &st) == -EINVAL ? 0 : 4;
	}
	if (strcmp(mode, "stats-null-space") == 0)
		return sva_pasid_stats(NULL, &st) == -EINVAL ? 0 : 3;
	if (strcmp(mode, "null-space") == 0) {
		/* At error level whatever the call: a lookup's NULL space too. */
		if (sva_pasid_alloc(NULL, NULL, &p) != -EINVAL || sva_pasid_free(NULL, 1) != -EINVAL ||
		    sva_pasid_release(NULL, 1) != -EINVAL || sva_pasid_barrier(NULL) != -EINVAL ||
		    sva_pasid_lookup(NULL, 1, &d) != -EINVAL)
			return 3;
		return p == 7 && d == NULL ? 0 : 4;
	}
	if (strcmp(mode, "lookup-misses") == 0) {
		if (sva_pasid_space_new(NULL, &s))
			return 2;
		return sva_pasid_lookup(s, 5, &d) == -ENOENT && sva_pasid_lookup(s, 0, &d) == -ERANGE &&
				       sva_pasid_lookup(s, SVA_PASID_MAX + 1, NULL) == -ERANGE
			       ? 0
			       : 3;
	}
	if (strcmp(mode, "null-dev") == 0) {
		if (sva_dev_pasid_alloc(NULL, SVA_PASID_AUTO, NULL, &p) != -EINVAL ||
		    sva_dev_pasid_free(NULL, 1) != -EINVAL || sva_dev_pasid_release(NULL, 1) != -EINVAL ||
		    sva_dev_pasid_lookup(NULL, 1, &d) != -EINVAL || sva_dev_set_pasid_range(NULL, 1, 2) != -EINVAL)
			return 3;
		return p == 7 && d == NULL ? 0 : 4;
	}
	if (strcmp(mode, "new-threads") == 0)
		return new_from_threads();
	if (strcmp(mode, "null-getters") == 0)
		return sva_dev_pasids(NULL) == NULL && sva_ctx_global_pasids(NULL) == NULL ? 0 : 3;
	return 99;
}

static const char *self_path;

/* Lines of the form "libsva LEVEL: ..." the child wrote, or -1 if it failed. */
static int child_lines(const char *mode, const char *sva_log, const char *level, int *at_level)
{
	char path[] = "/tmp/ktest-blackbox-pasid-XXXXXX";
	int fd = mkstemp(path), status = 0, n = 0;
	char line[600], prefix[64];
	pid_t pid;
	FILE *f;

	if (fd < 0)
		return -1;
	snprintf(prefix, sizeof(prefix), "libsva %s:", level ? level : "");
	*at_level = 0;
	fflush(stdout);
	pid = fork();
	if (pid == 0) {
		dup2(fd, 2);
		setenv("SVA_LOG", sva_log, 1);
		execl(self_path, "ktest-blackbox-pasid", mode, (char *)NULL);
		_exit(127);
	}
	waitpid(pid, &status, 0);
	f = fopen(path, "r");
	while (f && fgets(line, sizeof(line), f)) {
		if (strncmp(line, "libsva ", 7) == 0)
			n++;
		if (level && strncmp(line, prefix, strlen(prefix)) == 0)
			(*at_level)++;
	}
	if (f)
		fclose(f);
	close(fd);
	unlink(path);
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		diag("child %s: status %#x", mode, status);
		return -1;
	}
	return n;
}

static void process_log(void)
{
	int n, e;

	n = child_lines("stats-refusals", "debug", NULL, &e);
	is_int(n, 0, "sva_pasid_stats: NULL stats, and sizes too small, are refused without a line (SVA_LOG=debug)");
	n = child_lines("stats-null-space", "error", "error", &e);
	ok(n == 1 && e == 1, "sva_pasid_stats: a NULL space is one error line on the process-wide log (%d, %d)", n, e);
	n = child_lines("null-space", "error", "error", &e);
	ok(n == 5 && e == 5,
	   "a NULL space: alloc, free, release, barrier and lookup each one error line, the lookup's too (%d, %d)", n,
	   e);
	n = child_lines("lookup-misses", "info", NULL, &e);
	is_int(n, 0, "lookup misses (-ENOENT, -ERANGE) log nothing above debug");
	n = child_lines("lookup-misses", "debug", "debug", &e);
	ok(n == 3 && e == 3, "  and one debug line each (%d, %d)", n, e);
	n = child_lines("null-dev", "error", "error", &e);
	ok(n == 5 && e == 5,
	   "a NULL dev: alloc, free, release, lookup and set_pasid_range each one error line on the process-wide "
	   "log (%d, %d)",
	   n, e);
	n = child_lines("null-getters", "debug", NULL, &e);
	is_int(n, 0, "sva_dev_pasids(NULL) and sva_ctx_global_pasids(NULL) log nothing");
	n = child_lines("new-threads", "debug", NULL, &e);
	is_int(n, 0, "%d threads' sva_pasid_space_new as a process's first libsva calls: distinct spaces, each "
		     "hands out 1 with its drvdata, no line",
	       NEW_THREADS);
}

/* -------------------------------------------------- standalone spaces */

static void standalone(void)
{
	struct sva_pasid_space *s;
	struct sva_pasid_stats st;
	uint32_t p, q;
	void *d;
	int x;

	/* sva_pasid_stats(3): "grace periods that have ended are accounted
	 * first, so free is exact": no other call in between. */
	s = space(1, 4, 1);
	sva_pasid_alloc(s, NULL, &p);
	sva_pasid_alloc(s, NULL, &q);
	sva_pasid_free(s, p);
	sva_pasid_release(s, p);
	sva_pasid_free(s, q); /* not released: stays quarantined */
	sleep_ms(5);
	st = stats_of(s);
	ok(st.allocated == 0 && st.quarantined == 1 && st.free == 3,
	   "grace 1 ns, 5 ms after the release: stats count it free, the unreleased one quarantined (%llu/%llu/%llu)",
	   (unsigned long long)st.allocated, (unsigned long long)st.quarantined, (unsigned long long)st.free);
	is_int(sva_pasid_barrier(s), 0, "a barrier then has nothing to count");
	sva_pasid_space_free(s);

	/* sva_pasid_release(3): allocatable "once the space's grace time has
	 * passed since this call" -- the release, not the free.  The "not
	 * yet" holds only if the clock says the grace cannot have ended. */
	{
		struct timespec t0, t1;
		long ns;

		s = space(1, 1, 50000000); /* 50 ms */
		sva_pasid_alloc(s, NULL, &p);
		sva_pasid_free(s, p);
		sleep_ms(70);
		clock_gettime(CLOCK_MONOTONIC, &t0);
		sva_pasid_release(s, p);
		st = stats_of(s);
		clock_gettime(CLOCK_MONOTONIC, &t1);
		ns = (t1.tv_sec - t0.tv_sec) * 1000000000L + (t1.tv_nsec - t0.tv_nsec);
		if (ns >= 50000000L)
			skip(1, "the machine took the whole grace time between release and stats");
		else
			ok(st.quarantined == 1 && st.free == 0,
			   "freed 70 ms before a release with grace 50 ms: still quarantined right after the release");
		sleep_ms(60);
		is_int(sal(s, NULL), 1, "  allocatable once 50 ms have passed since the release");
		sva_pasid_space_free(s);
	}

	/* "reused in the order in which they became allocatable again": 3 by
	 * a barrier, then 1 when its grace time ended, then 2 by a later
	 * barrier, whichever way the space notices the grace time's end. */
	s = space(1, 3, 30000000); /* 30 ms */
	for (int i = 0; i < 3; i++)
		sal(s, NULL);
	sva_pasid_free(s, 3);
	sva_pasid_free(s, 1);
	sva_pasid_free(s, 2);
	sva_pasid_release(s, 3);
	sva_pasid_barrier(s);
	sva_pasid_release(s, 1);
	sleep_ms(50);
	sva_pasid_release(s, 2);
	sva_pasid_barrier(s);
	is_int(sal(s, NULL), 3, "allocatable by a barrier first: 3 comes first");
	is_int(sal(s, NULL), 1, "  then 1, whose grace time ended before the second barrier");
	is_int(sal(s, NULL), 2, "  then 2, made allocatable by that barrier");
	sva_pasid_space_free(s);

	/* sva_pasid_lookup(3): "drvdata may be NULL" for a NULL drvdata
	 * allocation the lookup stores NULL, not leaves the old value. */
	s = space(1, 4, UINT64_MAX);
	sva_pasid_alloc(s, NULL, &p);
	d = &x;
	ok(sva_pasid_lookup(s, p, &d) == 0 && d == NULL, "a PASID allocated with a NULL drvdata: lookup stores NULL");

	/* sva_pasid_alloc(3): -ENOSPC counts quarantine, released or not, and
	 * the barrier's count is what it made allocatable. */
	sva_pasid_alloc(s, &x, &q);
	sva_pasid_alloc(s, &x, &p);
	sva_pasid_alloc(s, &x, &p);
	for (uint32_t v = 1; v <= 4; v++)
		sva_pasid_free(s, v);
	sva_pasid_release(s, 4);
	sva_pasid_release(s, 2);
	sva_pasid_release(s, 3);
	p = 4242;
	is_int(sva_pasid_alloc(s, NULL, &p), -ENOSPC, "all freed, three released (grace UINT64_MAX): -ENOSPC");
	is_int(sva_pasid_alloc(s, NULL, NULL), -EINVAL, "NULL pasid on the exhausted space: -EINVAL first");
	is_int(p, 4242, "*pasid untouched");
	is_int(sva_pasid_barrier(s), 3, "the barrier returns the 3 it made allocatable");
	is_int(sal(s, NULL), 4, "released in the order 4, 2, 3: reused 4 first");
	is_int(sal(s, NULL), 2, "then 2");
	is_int(sal(s, NULL), 3, "then 3");
	is_int(sva_pasid_alloc(s, NULL, &p), -ENOSPC, "1, freed and not released, never comes back");
	sva_pasid_space_free(s);
}

/* ------------------------------------------------------- the device part */

struct counts {
	int n[6];
};

static void count_line(void *arg, enum sva_log_level level, const char *msg)
{
	struct counts *c = arg;

	(void)msg;
	if ((int)level >= 0 && (int)level < 6)
		__atomic_fetch_add(&c->n[level], 1, __ATOMIC_RELAXED);
}

static struct counts lines;

static int total(void)
{
	int t = 0;

	for (int i = 0; i < 6; i++)
		t += lines.n[i];
	return t;
}

static struct sva_ctx *ctx_grace(uint32_t gmin, uint32_t gmax, uint64_t grace)
{
	struct sva_ctx_opts o = { .size = sizeof(o), .pasid_grace_ns = grace, .global_pasid_min = gmin,
				  .global_pasid_max = gmax, .log_fn = count_line, .log_arg = &lines,
				  .log_level = SVA_LOG_DEBUG };
	struct sva_ctx *ctx = NULL;

	if (sva_ctx_new(&o, &ctx))
		tap_bail("sva_ctx_new [%u, %u]", gmin, gmax);
	return ctx;
}

static struct sva_ctx *ctx_with(uint32_t gmin, uint32_t gmax)
{
	return ctx_grace(gmin, gmax, UINT64_MAX);
}

static struct sva_dev *mock(struct sva_ctx *ctx, uint32_t flags)
{
	struct sva_mock_opts mo = { .size = sizeof(mo), .flags = flags };
	struct sva_dev *d = NULL;
	int ret = sva_dev_open_mock(ctx, &mo, &d);

	if (ret)
		tap_bail("sva_dev_open_mock: %s", strerror(-ret));
	return d;
}

/* sva_dev_pasid_alloc(3): "So a device without PASID support answers every
 * value with -EOPNOTSUPP, also SVA_PASID_RID and values above SVA_PASID_MAX";
 * the alloc's -EINVAL of a NULL pasid or unknown policy comes before it. */
static void width_zero(const char *edu)
{
	struct sva_ctx *ctx = ctx_with(0, 0);
	struct sva_dev *d0 = NULL;
	struct sva_dev_info info = { .size = sizeof(info) };
	const char *what = edu ? "edu" : "width 0";
	const uint32_t vals[] = { 0, 1, 255, 256, SVA_PASID_MAX, SVA_PASID_MAX + 1, SVA_PASID_RID };
	int bad = 0;
	uint32_t p = 4242;
	void *d = &bad;

	if (!edu)
		d0 = mock(ctx, SVA_MOCK_NO_PASID);
	else if (sva_dev_open(ctx, edu, &d0))
		tap_bail("sva_dev_open %s", edu);
	/* A real device without PASIDs (QEMU's edu on VT-d) answers as the
	 * mock without them does: the pages make no difference between them. */
	ok(sva_dev_get_info(d0, &info) == 0 && info.max_pasid_log2 == 0 && sva_dev_pasids(d0) == NULL,
	   "%s: PASID width 0, no own space", what);
	is_int(sva_dev_pasid_alloc(d0, SVA_PASID_AUTO, NULL, NULL), -EINVAL, "width 0, NULL pasid: -EINVAL first");
	is_int(sva_dev_pasid_alloc(d0, (enum sva_pasid_policy)7, NULL, &p), -EINVAL,
	       "width 0, unknown policy: -EINVAL first");
	is_int(sva_dev_pasid_alloc(d0, SVA_PASID_DEVICE, NULL, &p), -EOPNOTSUPP, "width 0, DEVICE: -EOPNOTSUPP");
	is_int(sva_dev_pasid_alloc(d0, SVA_PASID_GLOBAL, NULL, &p), -EOPNOTSUPP, "width 0, GLOBAL: -EOPNOTSUPP");
	for (size_t i = 0; i < sizeof(vals) / sizeof(vals[0]); i++) {
		int f, r, l, fr_lines, l_lines;

		memset(&lines, 0, sizeof(lines));
		f = sva_dev_pasid_free(d0, vals[i]);
		r = sva_dev_pasid_release(d0, vals[i]);
		fr_lines = lines.n[SVA_LOG_ERROR] == 2 && total() == 2;
		memset(&lines, 0, sizeof(lines));
		l = sva_dev_pasid_lookup(d0, vals[i], &d);
		l_lines = lines.n[SVA_LOG_DEBUG] == 1 && total() == 1;
		if (f != -EOPNOTSUPP || r != -EOPNOTSUPP || l != -EOPNOTSUPP || !fr_lines || !l_lines) {
			diag("%s, value %u: free %d, release %d, lookup %d (lines right: %d, %d)", what, vals[i], f, r,
			     l, fr_lines, l_lines);
			bad++;
		}
	}
	is_int(bad, 0,
	       "%s: free, release and lookup of 0, 1, 255, 256, 2^20-1, 2^20 and SVA_PASID_RID: -EOPNOTSUPP, one "
	       "error line for free and release, one debug line for lookup",
	       what);
	ok(p == 4242 && d == &bad, "*pasid and *drvdata untouched");
	/* Bounds that would do on a 20-bit device, and bounds that would not:
	 * sva_dev_set_pasid_range(3) puts -EOPNOTSUPP before -ERANGE, and the
	 * -EINVAL of an inverted range before both. */
	ok(sva_dev_set_pasid_range(d0, 1, 1) == -EOPNOTSUPP && sva_dev_set_pasid_range(d0, 2, 255) == -EOPNOTSUPP,
	   "width 0: set_pasid_range -EOPNOTSUPP");
	ok(sva_dev_set_pasid_range(d0, 0, 1) == -EOPNOTSUPP && sva_dev_set_pasid_range(d0, 1, 256) == -EOPNOTSUPP &&
		   sva_dev_set_pasid_range(d0, 1, SVA_PASID_MAX + 1) == -EOPNOTSUPP,
	   "width 0, min 0 or max into the global range or beyond 2^20-1: -EOPNOTSUPP, not -ERANGE");
	is_int(sva_dev_set_pasid_range(d0, 5, 4), -EINVAL, "width 0, inverted: -EINVAL, not -EOPNOTSUPP");
	sva_dev_close(d0);
	sva_ctx_free(ctx);
}

/* The context's spaces log through the context's log (sva_dev_pasids(3):
 * "Their errors are logged through the context's log"), at the levels of
 * sva_pasid_alloc(3) and sva_pasid_lookup(3); sva_pasid_space_free(3) of one
 * "returns with the space unchanged". */
static void owned_spaces(void)
{
	struct sva_ctx *ctx = ctx_with(256, 257);
	struct sva_dev *d1 = mock(ctx, 0), *d2 = mock(ctx, 0);
	struct sva_pasid_space *g = sva_ctx_global_pasids(ctx), *own = sva_dev_pasids(d1);
	struct sva_pasid_stats gs, os, st = { .size = 1 };
	uint32_t p, q, r, t;
	void *d;
	int a, b, c;

	/* Never-used values in increasing order, whichever device asks. */
	p = (uint32_t)dal(d1, SVA_PASID_GLOBAL, &a);
	q = (uint32_t)dal(d2, SVA_PASID_AUTO, &b);
	ok(p == 256 && q == 257, "the global space's never-used values in order across devices: 256 (d1), 257 (d2) "
	   "(%d, %d)", (int)p, (int)q);
	r = (uint32_t)dal(d1, SVA_PASID_DEVICE, &a);
	is_int(r, 1, "d1 DEVICE: 1");
	d = &c;
	ok(sva_dev_pasid_lookup(d1, p, NULL) == 0 && sva_dev_pasid_lookup(d1, r, NULL) == 0 && d == &c,
	   "sva_dev_pasid_lookup with NULL drvdata: an existence test");
	is_int(sva_dev_pasid_lookup(d1, q, NULL), -ENOENT, "  which answers for the device (d2's value: -ENOENT)");

	gs = stats_of(g);
	os = stats_of(own);
	memset(&lines, 0, sizeof(lines));
	sva_pasid_space_free(g);
	sva_pasid_space_free(own);
	ok(same_stats(gs, stats_of(g)) && same_stats(os, stats_of(own)),
	   "sva_pasid_space_free of the context's and the device's space: their counts unchanged");
	ok(sva_dev_pasid_lookup(d1, p, &d) == 0 && d == &a && sva_pasid_lookup(own, r, &d) == 0 && d == &a,
	   "  and their allocations still found with their drvdata");
	ok(lines.n[SVA_LOG_ERROR] == 2 && total() == 2, "  one error line each, on the context's log");

	memset(&lines, 0, sizeof(lines));
	is_int(sva_pasid_alloc(g, NULL, &t), -ENOSPC, "sva_pasid_alloc on the full global space: -ENOSPC");
	is_int(sva_pasid_lookup(g, 300, &d), -ERANGE, "sva_pasid_lookup beyond it: -ERANGE");
	is_int(sva_pasid_lookup(own, 200, &d), -ENOENT, "sva_pasid_lookup of a free own value: -ENOENT");
	ok(lines.n[SVA_LOG_DEBUG] == 3 && total() == 3, "  three debug lines on the context's log (%d, %d)",
	   lines.n[SVA_LOG_DEBUG], total());
	memset(&lines, 0, sizeof(lines));
	is_int(sva_pasid_free(g, 300), -ERANGE, "sva_pasid_free beyond the global space: -ERANGE");
	is_int(sva_pasid_free(own, 200), -ENOENT, "sva_pasid_free of a free own value: -ENOENT");
	is_int(sva_pasid_release(own, r), -EINVAL, "sva_pasid_release of an allocated own value: -EINVAL");
	ok(lines.n[SVA_LOG_ERROR] == 3 && total() == 3, "  three error lines on the context's log (%d, %d)",
	   lines.n[SVA_LOG_ERROR], total());
	memset(&lines, 0, sizeof(lines));
	ok(sva_pasid_stats(g, NULL) == -EINVAL && sva_pasid_stats(own, &st) == -EINVAL && total() == 0,
	   "sva_pasid_stats' NULL stats and small size: -EINVAL, no line on the context's log either");

	/* AUTO: "the global space if the device covers it and it has a free
	 * PASID": a global space held by quarantine has none. */
	sva_dev_pasid_free(d1, p);
	sva_dev_pasid_free(d2, q);
	sva_dev_pasid_release(d2, p); /* any covering device releases a global value */
	t = 4242;
	is_int(sva_dev_pasid_alloc(d2, SVA_PASID_GLOBAL, NULL, &t), -ENOSPC,
	       "GLOBAL while the global values are in quarantine (one released, one not): -ENOSPC");
	is_int(t, 4242, "*pasid untouched");
	is_int(dal(d2, SVA_PASID_AUTO, &c), 1, "AUTO falls back to d2's own space, from its start");
	is_int(sva_pasid_barrier(g), 1, "a barrier on the global space: the one d2 released (d1 freed it)");
	is_int(dal(d2, SVA_PASID_AUTO, &c), 256, "AUTO: global again, 256");
	is_int(sva_dev_pasid_release(d1, q), 0, "d1 releases the value d2 freed");
	is_int(sva_dev_pasid_release(d1, q), -EINVAL, "  released twice: -EINVAL");

	/* Release's -ERANGE: "the value is in none of the device's spaces, or
	 * is outside the space it falls in"; -ERANGE before the value's state. */
	memset(&lines, 0, sizeof(lines));
	is_int(sva_dev_pasid_release(d1, 258), -ERANGE, "release beyond the global range's end: -ERANGE");
	is_int(sva_dev_pasid_release(d1, SVA_PASID_RID), -ERANGE, "release of SVA_PASID_RID: -ERANGE");
	is_int(sva_dev_pasid_free(d1, SVA_PASID_RID), -ERANGE, "free of SVA_PASID_RID: -ERANGE");
	is_int(sva_dev_pasid_release(d1, SVA_PASID_MAX + 1), -ERANGE, "release of 2^20: -ERANGE");
	is_int(lines.n[SVA_LOG_ERROR], 4, "  each one error line");

	/* A value allocated straight on a device's own space "belongs to no
	 * device": the device finds it, frees and releases it by value. */
	t = (uint32_t)sal(own, &b);
	is_int(t, 2, "sva_pasid_alloc on d1's own space: 2");
	ok(sva_dev_pasid_lookup(d1, t, &d) == 0 && d == &b, "d1's lookup finds it, with its drvdata");
	is_int(sva_dev_pasid_lookup(d2, t, &d), -ENOENT, "d2's (its own space has no 2 allocated): -ENOENT");
	is_int(sva_dev_pasid_free(d1, t), 0, "d1 frees it");
	is_int(sva_pasid_lookup(own, t, &d), -ENOENT, "the space no longer finds it");
	is_int(sva_dev_pasid_release(d1, t), 0, "d1 releases it");

	is_int(sva_dev_set_pasid_range(d2, 1, 1), -EBUSY, "set_pasid_range of d2, whose 1 is allocated: -EBUSY");
	os = stats_of(sva_dev_pasids(d2));
	ok(os.min == 1 && os.max == 255, "  its range left alone ([%u, %u])", os.min, os.max);
	sva_dev_close(d2);
	sva_dev_close(d1);
	sva_ctx_free(ctx);
}

/* sva_dev_set_pasid_range(3): the bounds, [1, min(2^w-1, global_pasid_min-1)]
 * ("A later call may set any other range within those bounds"), and "on
 * failure the range is unchanged". */
static void set_range(void)
{
	struct sva_ctx *ctx = ctx_with(1000, 0);
	struct sva_dev *d1 = mock(ctx, 0);
	struct sva_pasid_space *own = sva_dev_pasids(d1);
	struct sva_pasid_stats st = stats_of(own);
	const struct {
		uint32_t min, max;
		int ret;
	} bad[] = { { 1, 1000, -ERANGE },	    { 999, 1000, -ERANGE },	   { 1000, 1000, -ERANGE },
		    { 1, SVA_PASID_MAX, -ERANGE }, { 1, SVA_PASID_MAX + 1, -ERANGE }, { 1, UINT32_MAX, -ERANGE },
		    { 0, 0, -ERANGE },		    { 0, 999, -ERANGE },		   { 999, 998, -EINVAL } };
	int wrong = 0;
	uint32_t p;

	ok(st.min == 1 && st.max == 999, "global_pasid_min 1000: a 20-bit device's own space is [1, 999] ([%u, %u])",
	   st.min, st.max);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int ret;

		memset(&lines, 0, sizeof(lines));
		ret = sva_dev_set_pasid_range(d1, bad[i].min, bad[i].max);
		st = stats_of(own);
		if (ret != bad[i].ret || st.min != 1 || st.max != 999 || lines.n[SVA_LOG_ERROR] != 1 || total() != 1) {
			diag("[%u, %u]: %d, range [%u, %u], %d lines", bad[i].min, bad[i].max, ret, st.min, st.max,
			     total());
			wrong++;
		}
	}
	is_int(wrong, 0,
	       "ranges reaching the global range or 2^20, from 0, or inverted: refused, range unchanged, one error line "
	       "on the context's log each");
	is_int(sva_dev_set_pasid_range(d1, 999, 999), 0, "[999, 999], the last own value");
	p = (uint32_t)dal(d1, SVA_PASID_DEVICE, NULL);
	is_int(p, 999, "DEVICE: 999");
	is_int(sva_dev_pasid_lookup(d1, 998, NULL), -ERANGE, "998 is outside the space now: lookup -ERANGE");
	is_int(sva_dev_pasid_free(d1, 998), -ERANGE, "  free -ERANGE");
	is_int(sva_dev_pasid_release(d1, 998), -ERANGE, "  release -ERANGE");
	sva_dev_pasid_free(d1, p);
	is_int(sva_dev_set_pasid_range(d1, 1, 999), -EBUSY, "freed, not released: -EBUSY");
	sva_dev_pasid_release(d1, p);
	is_int(sva_dev_set_pasid_range(d1, 1, 999), -EBUSY, "released, grace running: -EBUSY");
	st = stats_of(own);
	ok(st.min == 999 && st.max == 999, "  range unchanged ([%u, %u])", st.min, st.max);
	is_int(sva_pasid_barrier(own), 1, "barrier");
	is_int(sva_dev_set_pasid_range(d1, 100, 200), 0, "then any other range within the bounds: [100, 200]");
	is_int(dal(d1, SVA_PASID_DEVICE, NULL), 100, "allocation restarts from min");
	is_int(dal(d1, SVA_PASID_AUTO, NULL), 1000, "AUTO still takes the global 1000");
	sva_dev_close(d1);
	sva_ctx_free(ctx);

	/* AUTO takes the global space when "the global space has a free
	 * PASID": one whose grace time ended by itself is free (stats count it
	 * so), even if no call has noticed yet. */
	ctx = ctx_grace(256, 256, 1);
	d1 = mock(ctx, 0);
	is_int(dal(d1, SVA_PASID_AUTO, NULL), 256, "global [256, 256], grace 1 ns: AUTO takes 256");
	sva_dev_pasid_free(d1, 256);
	sva_dev_pasid_release(d1, 256);
	sleep_ms(5);
	is_int(dal(d1, SVA_PASID_AUTO, NULL), 256, "  freed, released, grace over, no barrier: AUTO takes 256 again");
	sva_dev_pasid_free(d1, 256);
	sva_dev_pasid_release(d1, 256);
	sleep_ms(5);
	is_int(dal(d1, SVA_PASID_GLOBAL, NULL), 256, "  GLOBAL too");
	sva_dev_close(d1);
	sva_ctx_free(ctx);

	/* "Allocation restarts from min", also for the range the space had:
	 * without the call the never-used 4 would come next. */
	ctx = ctx_grace(0, 0, 1);
	d1 = mock(ctx, 0);
	for (uint32_t v = 1; v <= 3; v++)
		if (dal(d1, SVA_PASID_DEVICE, NULL) != (long)v)
			tap_bail("DEVICE %u", v);
	for (uint32_t v = 1; v <= 3; v++)
		if (sva_dev_pasid_free(d1, v) || sva_dev_pasid_release(d1, v))
			tap_bail("free/release %u", v);
	/* "once every PASID of it has been freed, released and has passed its
	 * grace time": 1 ns here, and no barrier. */
	sleep_ms(5);
	is_int(sva_dev_set_pasid_range(d1, 1, 255), 0, "grace time over, no barrier: set_pasid_range [1, 255] again");
	is_int(dal(d1, SVA_PASID_DEVICE, NULL), 1, "  the next allocation is min, 1 (not the never-used 4)");
	sva_dev_close(d1);
	sva_ctx_free(ctx);

	/* global_pasid_min 1: the device "has none" (no own space).  Its
	 * refusals are errors, logged at error level (only a lookup's are
	 * the caller's business). */
	ctx = ctx_with(1, 0);
	d1 = mock(ctx, 0);
	ok(sva_dev_pasids(d1) == NULL, "global range from 1: no own space");
	memset(&lines, 0, sizeof(lines));
	is_int(sva_dev_pasid_alloc(d1, SVA_PASID_DEVICE, NULL, &p), -ERANGE, "DEVICE: -ERANGE");
	is_int(sva_dev_set_pasid_range(d1, 1, 1), -ERANGE, "set_pasid_range: -ERANGE");
	is_int(sva_dev_pasid_free(d1, 0), -ERANGE, "free 0: -ERANGE");
	ok(lines.n[SVA_LOG_ERROR] == 3 && total() == 3, "  one error line each (%d, %d)", lines.n[SVA_LOG_ERROR],
	   total());
	memset(&lines, 0, sizeof(lines));
	is_int(sva_dev_pasid_lookup(d1, 0, NULL), -ERANGE, "lookup 0: -ERANGE");
	ok(lines.n[SVA_LOG_DEBUG] == 1 && total() == 1, "  at debug level");
	is_int(dal(d1, SVA_PASID_AUTO, NULL), 1, "AUTO: the global space, from 1");
	sva_dev_close(d1);
	sva_ctx_free(ctx);
}

/* sva_dev_set_pasid_range(3): "-ERANGE, for which a device without an own
 * space is the reason its line gives, whatever the bounds; then -EBUSY. ... a
 * space in use is -EBUSY only for a range it could take once idle", and "on
 * failure the range is unchanged".  Also the spaces' independence: each
 * device's own space is its own, and a barrier ends grace times in its space
 * only. */
static void range_in_use(void)
{
	struct sva_ctx *ctx = ctx_with(256, 0);
	struct sva_dev *d1 = mock(ctx, 0), *d2 = mock(ctx, 0);
	struct sva_pasid_space *own = sva_dev_pasids(d1), *g = sva_ctx_global_pasids(ctx);
	struct sva_pasid_stats st;
	const struct {
		uint32_t min, max;
		int ret;
	} cases[] = { { 0, 1, -ERANGE },	    { 1, 256, -ERANGE },	   { 200, SVA_PASID_MAX + 1, -ERANGE },
		      { 0, 0, -ERANGE },	    { 9, 8, -EINVAL },		   { 256, 255, -EINVAL },
		      { 1, 255, -EBUSY },	    { 2, 2, -EBUSY },		   { 10, 20, -EBUSY } };
	int wrong = 0, a, b;
	uint32_t p;
	void *d;

	is_int(dal(d1, SVA_PASID_DEVICE, &a), 1, "d1 DEVICE: 1");
	for (int phase = 0; phase < 2; phase++) {
		/* phase 0: 1 allocated; phase 1: freed and released, grace
		 * running (UINT64_MAX): in quarantine. */
		if (phase == 1 && (sva_dev_pasid_free(d1, 1) || sva_dev_pasid_release(d1, 1)))
			tap_bail("free/release 1");
		for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
			int ret;

			memset(&lines, 0, sizeof(lines));
			ret = sva_dev_set_pasid_range(d1, cases[i].min, cases[i].max);
			st = stats_of(own);
			if (ret != cases[i].ret || st.min != 1 || st.max != 255 || lines.n[SVA_LOG_ERROR] != 1 ||
			    total() != 1) {
				diag("%s, [%u, %u]: %d (want %d), range [%u, %u], %d lines", phase ? "quarantined" : "allocated",
				     cases[i].min, cases[i].max, ret, cases[i].ret, st.min, st.max, total());
				wrong++;
			}
		}
	}
	is_int(wrong, 0, "own space in use (allocated, then in quarantine): out-of-bounds ranges -ERANGE, inverted "
			 "-EINVAL, ranges it could take (its own range too) -EBUSY; range unchanged, one error line each");

	/* Each device's own space is its own: d2's DEVICE also starts at 1,
	 * and d2 has nothing of d1's value 1. */
	is_int(dal(d1, SVA_PASID_DEVICE, &a), 2, "d1 DEVICE again: 2 (1 is in quarantine)");
	is_int(dal(d2, SVA_PASID_DEVICE, &b), 1, "d2 DEVICE: 1, from its own space");
	ok(sva_dev_pasid_lookup(d1, 2, &d) == 0 && d == &a, "d1 finds its 2");
	is_int(sva_dev_pasid_lookup(d2, 2, &d), -ENOENT, "d2 has no 2");
	is_int(sva_dev_pasid_free(d2, 2), -ENOENT, "d2 cannot free d1's own 2: -ENOENT");
	is_int(sva_dev_pasid_release(d2, 2), -EINVAL, "  nor release it: -EINVAL");
	ok(sva_dev_pasid_lookup(d1, 2, &d) == 0 && d == &a, "  d1's 2 still allocated, with its drvdata");

	/* A barrier ends grace times in its own space only. */
	is_int(sva_pasid_barrier(g), 0, "a barrier on the global space: nothing of d1's own space");
	st = stats_of(own);
	ok(st.quarantined == 1, "  d1's released 1 stays quarantined (%llu)", (unsigned long long)st.quarantined);
	is_int(sva_pasid_barrier(sva_dev_pasids(d2)), 0, "a barrier on d2's own space: 0");
	is_int(sva_pasid_barrier(own), 1, "a barrier on d1's own space: its 1");

	/* After the close of d1, a device opened then gets a fresh own
	 * space: d1's own values went with it ("its own PASID space is freed
	 * (with every PASID allocated from it)"). */
	sva_dev_close(d1);
	d1 = mock(ctx, 0);
	own = sva_dev_pasids(d1);
	st = stats_of(own);
	ok(st.allocated == 0 && st.quarantined == 0 && st.min == 1 && st.max == 255,
	   "a device opened after d1's close: own space [1, 255], nothing allocated or quarantined");
	is_int(sva_dev_pasid_lookup(d1, 2, &d), -ENOENT, "  it does not find the old d1's 2");
	p = (uint32_t)dal(d1, SVA_PASID_DEVICE, &a);
	is_int(p, 1, "  DEVICE: 1");
	sva_dev_close(d2);
	sva_dev_close(d1);
	sva_ctx_free(ctx);

	/* No own space at all: -ERANGE whatever the bounds, but an inverted
	 * range is -EINVAL first. */
	ctx = ctx_with(1, 0);
	d1 = mock(ctx, 0);
	ok(sva_dev_set_pasid_range(d1, 0, 0) == -ERANGE && sva_dev_set_pasid_range(d1, 1, SVA_PASID_MAX + 1) == -ERANGE &&
		   sva_dev_set_pasid_range(d1, 0, UINT32_MAX) == -ERANGE,
	   "no own space: -ERANGE whatever the bounds");
	is_int(sva_dev_set_pasid_range(d1, 5, 4), -EINVAL, "  an inverted range: -EINVAL");
	sva_dev_close(d1);
	sva_ctx_free(ctx);
}

/* sva_dev_close(3), step 1: "Every bond of the device is unbound as
 * sva_unbind(3) does it, ... the most recently bound first: its mm_exit
 * callback runs first, while its PASID still translates ...; then the PASID
 * is detached and quarantined, before the next bond's mm_exit runs", and
 * step 4 with sva_bind(3), "Which PASID": a PASID the driver allocated and
 * bound with SVA_BIND_PASID is "allocated again, with the driver's drvdata"
 * after the last unbind -- also when the unbind is the close of the device it
 * was allocated through, and then it is nothing of a device opened later but
 * stays for the driver to free through any device that covers it. */
struct close_seen {
	struct sva_dev *dev;
	struct sva_pasid_space *g, *own;
	uint32_t newer; /* the PASID of the bond bound after this one */
	int calls, own_bond, newer_bond, newer_space, newer_quarantined;
};

static void close_exit(struct sva_bond *bond, void *drvdata)
{
	struct close_seen *c = drvdata;
	struct sva_bond *found = NULL;
	struct sva_pasid_stats st = { .size = sizeof(st) };
	void *d;

	c->calls++;
	c->own_bond = sva_dev_bond_lookup(c->dev, sva_bond_pasid(bond), &found, NULL) == 0 && found == bond;
	if (c->newer) {
		struct sva_pasid_space *s = c->newer >= 256 ? c->g : c->own;

		c->newer_bond = sva_dev_bond_lookup(c->dev, c->newer, NULL, NULL);
		c->newer_space = sva_pasid_lookup(s, c->newer, &d);
		c->newer_quarantined = sva_pasid_stats(s, &st) == 0 ? (int)st.quarantined : -1;
	}
}

static const struct sva_bond_ops close_ops = { .size = sizeof(close_ops), .mm_exit = close_exit };

static void close_bonds(void)
{
	struct sva_ctx *ctx = ctx_with(256, 0);
	struct sva_dev *d1 = mock(ctx, 0), *d2 = mock(ctx, 0), *d3;
	struct sva_pasid_space *g = sva_ctx_global_pasids(ctx);
	struct close_seen c[3] = { { 0 } };
	struct sva_bind_opts o = { .size = sizeof(o), .ops = &close_ops };
	struct sva_bond *b[3];
	struct sva_pasid_stats st;
	struct sva_mm *mm[3];
	uint32_t v;
	int xa;
	void *d;

	for (int i = 0; i < 3; i++)
		if (sva_mm_new(ctx, NULL, &mm[i]))
			tap_bail("sva_mm_new");
	is_int(sva_dev_pasid_alloc(d1, SVA_PASID_GLOBAL, &xa, &v), 0, "d1 allocates a global PASID");
	/* b[0]: the address space's global PASID; b[1]: a private one of
	 * d1's own space; b[2]: the driver's v. */
	for (int i = 0; i < 3; i++) {
		c[i] = (struct close_seen){ .dev = d1, .g = g, .own = sva_dev_pasids(d1) };
		o.drvdata = &c[i];
		o.policy = i == 1 ? SVA_PASID_DEVICE : SVA_PASID_GLOBAL;
		o.flags = i == 2 ? SVA_BIND_PASID : 0;
		o.pasid = i == 2 ? v : 0;
		if (sva_bind(d1, mm[i], &o, &b[i]))
			tap_bail("bind %d", i);
	}
	c[0].newer = sva_bond_pasid(b[1]);
	c[1].newer = sva_bond_pasid(b[2]);
	ok(sva_bond_pasid(b[0]) >= 256 && c[0].newer < 256 && c[1].newer == v,
	   "d1 bound under a global PASID, an own one and the driver's (%u, %u, %u)", sva_bond_pasid(b[0]),
	   c[0].newer, c[1].newer);
	sva_dev_close(d1);
	ok(c[0].calls == 1 && c[1].calls == 1 && c[2].calls == 1, "sva_dev_close: each mm_exit once");
	ok(c[0].own_bond && c[1].own_bond && c[2].own_bond, "  each bond still found under its PASID in its mm_exit");
	ok(c[1].newer_bond == -ENOENT && c[1].newer_space == 0,
	   "  in the own bond's mm_exit, the driver's value (unbound just before) has no bond on d1 (%d) and is "
	   "allocated again (%d)",
	   c[1].newer_bond, c[1].newer_space);
	ok(c[0].newer_bond == -ENOENT && c[0].newer_space == -ENOENT && c[0].newer_quarantined == 1,
	   "  in the global bond's mm_exit, the own bond's PASID is gone from d1 (%d) and quarantined in its space "
	   "(lookup %d, quarantined %d)",
	   c[0].newer_bond, c[0].newer_space, c[0].newer_quarantined);

	ok(sva_pasid_lookup(g, v, &d) == 0 && d == &xa,
	   "after the close, the driver's value is allocated again with its drvdata");
	st = stats_of(g);
	ok(st.allocated == 1 && st.quarantined == 1,
	   "  global space: the driver's value allocated, the address space's global PASID quarantined (%llu, %llu)",
	   (unsigned long long)st.allocated, (unsigned long long)st.quarantined);
	is_int(sva_dev_pasid_lookup(d2, v, &d), -ENOENT, "  d2 did not allocate it: -ENOENT");
	d3 = mock(ctx, 0);
	is_int(sva_dev_pasid_lookup(d3, v, &d), -ENOENT, "  nor does a device opened after the close find it");
	o = (struct sva_bind_opts){ .size = sizeof(o), .flags = SVA_BIND_PASID, .pasid = v };
	is_int(sva_bind(d3, mm[2], &o, &b[0]), 0, "  yet it can be bound under it, on the later device");
	is_int(sva_dev_pasid_free(d2, v), -EBUSY, "  and not freed while so bound");
	is_int(sva_unbind(b[0]), 0, "  unbind");
	is_int(sva_dev_pasid_free(d2, v), 0, "then d2 frees it");
	is_int(sva_dev_pasid_release(d3, v), 0, "  d3 releases it");
	is_int(sva_pasid_barrier(g), 2, "a barrier: the driver's value and the address space's global PASID");
	for (int i = 0; i < 3; i++)
		sva_mm_free(mm[i]);
	sva_dev_close(d3);
	sva_dev_close(d2);
	sva_ctx_free(ctx);
}

/* sva_dev_set_pasid_range(3): "It has no -EDEADLK ...: it is not among the
 * calls refused inside callbacks", and sva.h, struct sva_bond_ops: inside
 * mm_exit "Every other call is allowed (lookups, stats, PASID allocation,
 * ...)".  An mm_exit of a bond under a global PASID narrows the device's idle
 * own space, allocates from it, gives the value back and widens it again --
 * inside sva_unbind() and inside sva_dev_close() of that device. */
struct cb_range {
	struct sva_dev *dev;
	int narrow, alloc, value, give_back, widen, min_seen;
	struct sva_dev_info info; /* sva_dev_get_info() in mm_exit */
	int info_ret;
};

/* sva_dev_get_info(3): "Everything but SVA_DEV_ATTACHED was fixed when the
 * device was opened". */
static bool same_info(const struct sva_dev_info *a, const struct sva_dev_info *b)
{
	return ((a->flags ^ b->flags) & ~SVA_DEV_ATTACHED) == 0 && a->dev_id == b->dev_id &&
	       a->iommu_type == b->iommu_type && a->max_pasid_log2 == b->max_pasid_log2 &&
	       a->hw_caps == b->hw_caps && a->numa_node == b->numa_node &&
	       !strcmp(a->pci_addr, b->pci_addr) && !strcmp(a->path, b->path) && a->reserved == 0 &&
	       b->reserved == 0;
}

static void range_exit(struct sva_bond *bond, void *drvdata)
{
	struct cb_range *c = drvdata;
	uint32_t p = 0;

	(void)bond;
	c->info.size = sizeof(c->info);
	c->info_ret = sva_dev_get_info(c->dev, &c->info);
	c->narrow = sva_dev_set_pasid_range(c->dev, 7, 9);
	c->min_seen = (int)stats_of(sva_dev_pasids(c->dev)).min;
	c->alloc = sva_dev_pasid_alloc(c->dev, SVA_PASID_DEVICE, NULL, &p);
	c->value = (int)p;
	c->give_back = sva_dev_pasid_free(c->dev, p) || sva_dev_pasid_release(c->dev, p) ||
		       sva_pasid_barrier(sva_dev_pasids(c->dev)) != 1;
	c->widen = sva_dev_set_pasid_range(c->dev, 1, 255);
}

static const struct sva_bond_ops range_ops = { .size = sizeof(range_ops), .mm_exit = range_exit };

static void range_in_callback(void)
{
	struct sva_ctx *ctx = ctx_with(256, 0);
	struct sva_dev *d1 = mock(ctx, 0);
	struct cb_range c = { .dev = d1 };
	struct sva_bind_opts o = { .size = sizeof(o), .policy = SVA_PASID_GLOBAL, .ops = &range_ops, .drvdata = &c };
	struct sva_bond *b;
	struct sva_mm *mm;
	struct sva_pasid_stats st;
	struct sva_dev_info before = { .size = sizeof(before) }, after = { .size = sizeof(after) };

	if (sva_mm_new(ctx, NULL, &mm) || sva_dev_get_info(d1, &before))
		tap_bail("sva_mm_new, get_info");
	for (int pass = 0; pass < 2; pass++) {
		c = (struct cb_range){ .dev = d1, .narrow = 1, .alloc = 1, .give_back = 1, .widen = 1 };
		if (sva_bind(d1, mm, &o, &b))
			tap_bail("bind");
		if (pass == 0)
			sva_unbind(b);
		else
			sva_dev_close(d1);
		ok(c.narrow == 0 && c.min_seen == 7 && c.alloc == 0 && c.value == 7 && c.give_back == 0 && c.widen == 0,
		   "in mm_exit, inside %s: set_pasid_range [7, 9] (%d, min %d), DEVICE alloc 7 (%d, %d), "
		   "free/release/barrier (%d), set_pasid_range [1, 255] (%d)",
		   pass ? "sva_dev_close" : "sva_unbind", c.narrow, c.min_seen, c.alloc, c.value, c.give_back, c.widen);
		ok(c.info_ret == 0 && (c.info.flags & SVA_DEV_ATTACHED) && !(before.flags & SVA_DEV_ATTACHED) &&
			   same_info(&before, &c.info),
		   "  sva_dev_get_info in that mm_exit: 0, SVA_DEV_ATTACHED now, the rest as at the open (%d, %#x)",
		   c.info_ret, c.info.flags);
		if (pass == 0) {
			ok(sva_dev_get_info(d1, &after) == 0 && (after.flags & SVA_DEV_ATTACHED) && same_info(&before, &after),
			   "  after the last unbind: still SVA_DEV_ATTACHED (parked), the rest unchanged");
			st = stats_of(sva_dev_pasids(d1));
			ok(st.min == 1 && st.max == 255 && st.allocated == 0 && st.quarantined == 0,
			   "  after the unbind: own space [%u, %u], idle", st.min, st.max);
			is_int(dal(d1, SVA_PASID_DEVICE, NULL), 1, "  and the next DEVICE allocation restarts from 1");
			if (sva_dev_pasid_free(d1, 1) || sva_dev_pasid_release(d1, 1) ||
			    sva_pasid_barrier(sva_dev_pasids(d1)) != 1)
				tap_bail("give 1 back");
		}
	}
	sva_mm_free(mm);
	sva_ctx_free(ctx);
}

/* sva_pasid_lookup(3), sva_dev_pasid_lookup(3) THREAD SAFETY: "may run in a
 * signal handler, whatever call the handler interrupted" (but
 * sva_dev_set_pasid_range).  A timer interrupts a loop of allocations, frees,
 * releases and barriers on the same spaces; the handler looks up values that
 * stay allocated.  A lookup waiting for the interrupted call would hang here. */
static struct sva_pasid_space *sig_space;
static struct sva_dev *sig_dev;
static uint32_t sig_dev_value;
static int sig_tag1, sig_tag2;
static volatile sig_atomic_t sig_runs, sig_bad;

static void on_alarm(int sig)
{
	void *d = NULL;

	(void)sig;
	if (sva_pasid_lookup(sig_space, 1, &d) || d != &sig_tag1)
		sig_bad = sig_bad + 1;
	d = NULL;
	if (sva_dev_pasid_lookup(sig_dev, sig_dev_value, &d) || d != &sig_tag2)
		sig_bad = sig_bad + 1;
	sig_runs = sig_runs + 1;
}

static void signal_lookups(void)
{
	struct sva_ctx *ctx = ctx_with(256, 0);
	struct sva_dev *d1 = mock(ctx, 0);
	struct sigaction sa = { .sa_handler = on_alarm, .sa_flags = SA_RESTART };
	struct itimerval it = { { 0, 50 }, { 0, 50 } }, off = { { 0, 0 }, { 0, 0 } };
	uint32_t p;
	long i;

	sig_space = space(1, 64, UINT64_MAX);
	sig_dev = d1;
	if (sal(sig_space, &sig_tag1) != 1 || (long)(sig_dev_value = (uint32_t)dal(d1, SVA_PASID_DEVICE, &sig_tag2)) != 1)
		tap_bail("signal_lookups: first allocations");
	sigemptyset(&sa.sa_mask);
	sigaction(SIGALRM, &sa, NULL);
	setitimer(ITIMER_REAL, &it, NULL);
	for (i = 0; i < 100000 && sig_runs < 200; i++) {
		if (sva_pasid_alloc(sig_space, &i, &p) == 0) {
			sva_pasid_free(sig_space, p);
			sva_pasid_release(sig_space, p);
		}
		sva_pasid_barrier(sig_space);
		if (sva_dev_pasid_alloc(d1, SVA_PASID_DEVICE, &i, &p) == 0) {
			sva_dev_pasid_free(d1, p);
			sva_dev_pasid_release(d1, p);
		}
		sva_pasid_barrier(sva_dev_pasids(d1));
	}
	setitimer(ITIMER_REAL, &off, NULL);
	signal(SIGALRM, SIG_DFL);
	if (sig_runs == 0)
		skip(1, "the timer never fired during the loop");
	else
		ok(sig_bad == 0, "%d lookups from a signal handler amid alloc/free/release/barrier: each found its value "
		   "(%d wrong)", (int)sig_runs, (int)sig_bad);
	sva_pasid_space_free(sig_space);
	sva_dev_close(d1);
	sva_ctx_free(ctx);
}

/* Thread-safe: devices allocating concurrently get distinct values, and
 * AUTO fills the global space before the devices' own. */
#define NT 4
#define GLOBAL_N 100
struct worker {
	struct sva_dev *dev;
	uint32_t got[GLOBAL_N + 256];
	int n, err;
};

static void *work(void *arg)
{
	struct worker *w = arg;
	uint32_t p;
	int ret;

	while ((ret = sva_dev_pasid_alloc(w->dev, SVA_PASID_AUTO, w, &p)) == 0)
		w->got[w->n++] = p;
	w->err = ret;
	return NULL;
}

static void threads(void)
{
	struct sva_ctx *ctx = ctx_with(256, 256 + GLOBAL_N - 1);
	static struct worker w[NT];
	static unsigned char seen_global[GLOBAL_N], seen_own[2][256];
	struct sva_dev *dev[2] = { mock(ctx, 0), mock(ctx, 0) };
	pthread_t t[NT];
	int dup = 0, wrongdata = 0, ends = 0;
	long sum = 0;

	for (int i = 0; i < NT; i++) {
		w[i].dev = dev[i % 2];
		pthread_create(&t[i], NULL, work, &w[i]);
	}
	for (int i = 0; i < NT; i++)
		pthread_join(t[i], NULL);
	for (int i = 0; i < NT; i++) {
		ends += w[i].err == -ENOSPC;
		sum += w[i].n;
		for (int k = 0; k < w[i].n; k++) {
			uint32_t v = w[i].got[k];
			unsigned char *seen = v >= 256 ? &seen_global[v - 256] : &seen_own[i % 2][v];
			void *d = NULL;

			if (v > 256 + GLOBAL_N - 1 || v == 0 || (*seen)++)
				dup++;
			if (sva_dev_pasid_lookup(w[i].dev, v, &d) || d != &w[i])
				wrongdata++;
		}
	}
	is_int(ends, NT, "every thread stopped at -ENOSPC");
	is_int(sum, GLOBAL_N + 2 * 255, "%d global and 2 x 255 own values handed out in all", GLOBAL_N);
	is_int(dup, 0, "each value once, within its space");
	is_int(wrongdata, 0, "each found on its device with the allocating thread's drvdata");
	{
		struct sva_pasid_stats g0 = stats_of(sva_ctx_global_pasids(ctx)), o0 = stats_of(sva_dev_pasids(dev[0]));
		uint32_t p = 4242;

		ok(g0.allocated == GLOBAL_N && o0.allocated == 255, "stats agree: %llu global, %llu own allocated",
		   (unsigned long long)g0.allocated, (unsigned long long)o0.allocated);
		is_int(sva_dev_pasid_alloc(dev[0], SVA_PASID_AUTO, NULL, &p), -ENOSPC, "AUTO with both spaces full: -ENOSPC");
		ok(p == 4242 && same_stats(g0, stats_of(sva_ctx_global_pasids(ctx))) &&
			   same_stats(o0, stats_of(sva_dev_pasids(dev[0]))),
		   "  nothing changed: *pasid and both spaces' counts");
	}
	sva_dev_close(dev[0]);
	sva_dev_close(dev[1]);
	sva_ctx_free(ctx);
}

int main(int argc, char **argv)
{
	struct sva_ctx *c = NULL;
	struct sva_dev *d = NULL;
	int ret;

	if (argc == 2)
		return child_case(argv[1]);
	self_path = "/proc/self/exe";
	{
		/* The path of this binary, not of whoever runs it later. */
		static char buf[4096];
		ssize_t n = readlink("/proc/self/exe", buf, sizeof(buf) - 1);

		if (n > 0) {
			buf[n] = 0;
			self_path = buf;
		}
	}
	process_log();
	standalone();
	if (access("/dev/iommu", R_OK | W_OK)) {
		if (getenv("SVA_VM"))
			tap_bail("no usable /dev/iommu in the test VM");
		skip(1, "no usable /dev/iommu: the device part runs in the VM");
		return done_testing();
	}
	if (sva_ctx_new(NULL, &c))
		tap_bail("sva_ctx_new");
	sva_ctx_set_log(c, NULL, NULL, SVA_LOG_OFF);
	ret = sva_dev_open_mock(c, NULL, &d);
	sva_dev_close(d);
	sva_ctx_free(c);
	if (ret) {
		if (getenv("SVA_VM"))
			tap_bail("no mock device in the test VM (%s)", strerror(-ret));
		skip(1, "no mock device");
		return done_testing();
	}
	width_zero(NULL);
	{
		/* On the VT-d topologies edu is there (tests/vm/run-vm.sh). */
		const char *topo = getenv("SVA_TOPOLOGY");
		char addr[64];

		if (edu_find(addr, sizeof(addr), NULL, 0))
			width_zero(addr);
		else if (topo && !strncmp(topo, "vtd", 3))
			tap_bail("no edu device on topology %s", topo);
	}
	owned_spaces();
	set_range();
	range_in_use();
	close_bonds();
	range_in_callback();
	signal_lookups();
	threads();
	return done_testing();
}
