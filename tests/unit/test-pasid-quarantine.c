/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Quarantine: a freed PASID is neither found nor handed out until it has been
 * released *and* its grace condition passed (time or barrier); reuse order is
 * never-used first, then least recently freed (the order values became
 * allocatable).  Timing checks assert only what the measured clock allows, so
 * a loaded machine (or TSan) skips rather than fails a "not yet" check.
 */
#include <errno.h>
#include <string.h>
#include <time.h>

#include "pasid_space.h"
#include "../tap.h"

#define MS 1000000ull

void sva_test_fail_nth(int n);	  /* test_fail.c, libsva-test only */
int sva_test_fail_nth_left(void); /* likewise */

static struct sva_pasid_space *space(uint32_t min, uint32_t max, uint64_t grace)
{
	struct sva_pasid_space_opts o = { .size = sizeof(o), .min = min, .max = max, .grace_ns = grace };
	struct sva_pasid_space *s = NULL;

	if (sva_pasid_space_new(&o, &s))
		diag("sva_pasid_space_new failed");
	return s;
}

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void sleep_ns(uint64_t ns)
{
	struct timespec ts = { .tv_sec = (time_t)(ns / 1000000000ull), .tv_nsec = (long)(ns % 1000000000ull) };

	while (nanosleep(&ts, &ts) && errno == EINTR)
		;
}

static uint64_t quarantined(const struct sva_pasid_space *s)
{
	struct sva_pasid_stats st = { .size = sizeof(st) };

	sva_pasid_stats(s, &st);
	return st.quarantined;
}

/* Allocate until -ENOSPC; return the count, values in out[]. */
static int drain(struct sva_pasid_space *s, uint32_t *out, int cap)
{
	int n = 0;
	uint32_t p;

	while (sva_pasid_alloc(s, NULL, &p) == 0) {
		if (n < cap)
			out[n] = p;
		n++;
	}
	return n;
}

static bool seq_is(const uint32_t *got, int n, const uint32_t *want, int wn)
{
	if (n != wn)
		return false;
	for (int i = 0; i < n; i++)
		if (got[i] != want[i])
			return false;
	return true;
}

static void test_release_order(void)
{
	struct sva_pasid_space *s = space(1, 8, 3600000 * MS);
	uint32_t got[16];
	int n;

	n = drain(s, got, 16);
	is_int(n, 8, "[1, 8]: 8 allocations");
	/* Freed 3, 1, 5 but released 5, 3, 1: allocatable in release order. */
	sva_pasid_free(s, 3);
	sva_pasid_free(s, 1);
	sva_pasid_free(s, 5);
	is_int(sva_pasid_barrier(s), 0, "barrier before any release moves nothing");
	is_int(quarantined(s), 3, "3 in quarantine");
	sva_pasid_release(s, 5);
	sva_pasid_release(s, 3);
	sva_pasid_release(s, 1);
	n = drain(s, got, 16);
	is_int(n, 0, "released but in grace (1 h): nothing allocatable");
	is_int(sva_pasid_barrier(s), 3, "barrier ends all 3 grace periods");
	n = drain(s, got, 16);
	ok(seq_is(got, n, (uint32_t[]){ 5, 3, 1 }, 3), "reuse order is the order they became allocatable: 5 3 1");
	sva_pasid_space_free(s);
}

static void test_fresh_first(void)
{
	struct sva_pasid_space *s = space(1, 8, 3600000 * MS);
	uint32_t p, got[16];
	int n;

	for (int i = 0; i < 4; i++)
		sva_pasid_alloc(s, NULL, &p);
	sva_pasid_free(s, 2);
	sva_pasid_release(s, 2);
	sva_pasid_barrier(s);
	n = drain(s, got, 16);
	ok(seq_is(got, n, (uint32_t[]){ 5, 6, 7, 8, 2 }, 5), "never-used values (5-8) before the returned 2");
	sva_pasid_space_free(s);
}

static void test_fifo_across_batches(void)
{
	struct sva_pasid_space *s = space(1, 6, 3600000 * MS);
	uint32_t got[16];
	int n;

	drain(s, got, 16);
	for (uint32_t v = 6; v >= 1; v--)
		sva_pasid_free(s, v);
	sva_pasid_release(s, 4);
	sva_pasid_release(s, 2);
	is_int(sva_pasid_barrier(s), 2, "first barrier: 4, 2");
	sva_pasid_release(s, 6);
	sva_pasid_release(s, 1);
	is_int(sva_pasid_barrier(s), 2, "second barrier: 6, 1");
	sva_pasid_release(s, 3);
	is_int(quarantined(s), 2, "3 released after the barriers and 5 unreleased stay in quarantine");
	n = drain(s, got, 16);
	ok(seq_is(got, n, (uint32_t[]){ 4, 2, 6, 1 }, 4), "FIFO over batches: 4 2 6 1 (3 and 5 withheld)");
	sva_pasid_release(s, 5);
	sva_pasid_barrier(s);
	n = drain(s, got, 16);
	ok(seq_is(got, n, (uint32_t[]){ 3, 5 }, 2), "then 3 5");

	/* A PASID cycled twice goes to the back of the queue each time. */
	for (uint32_t v = 1; v <= 6; v++)
		sva_pasid_free(s, v), sva_pasid_release(s, v);
	sva_pasid_barrier(s);
	sva_pasid_alloc(s, NULL, &got[0]); /* 1 */
	sva_pasid_free(s, got[0]);
	sva_pasid_release(s, got[0]);
	sva_pasid_barrier(s);
	n = drain(s, got, 16);
	ok(seq_is(got, n, (uint32_t[]){ 2, 3, 4, 5, 6, 1 }, 6), "recycled 1 goes last: 2 3 4 5 6 1");
	sva_pasid_space_free(s);
}

static void test_short_grace(void)
{
	const uint64_t grace = 30 * MS;
	struct sva_pasid_space *s = space(1, 2, grace);
	uint32_t p = 0;
	uint64_t t0, t1;
	int r;

	sva_pasid_alloc(s, NULL, &p);
	sva_pasid_alloc(s, NULL, &p);
	sva_pasid_free(s, 1);
	ok(sva_pasid_alloc(s, NULL, &p) == -ENOSPC, "freed, not released: not allocatable");
	sleep_ns(2 * grace);
	ok(sva_pasid_alloc(s, NULL, &p) == -ENOSPC, "time alone does not end quarantine without release");
	t0 = now_ns();
	sva_pasid_release(s, 1);
	r = sva_pasid_alloc(s, NULL, &p);
	t1 = now_ns();
	if (t1 - t0 < grace)
		is_int(r, -ENOSPC, "released %llu ms ago, grace %llu ms: not yet allocatable",
		       (unsigned long long)((t1 - t0) / MS), (unsigned long long)(grace / MS));
	else
		skip(1, "the machine is too slow to check 'not yet'");
	if (r == 0)
		sva_pasid_free(s, p), sva_pasid_release(s, p);
	sleep_ns(grace + 5 * MS);
	ok(sva_pasid_alloc(s, NULL, &p) == 0 && p == 1, "after the grace period it is allocatable again");
	is_int(quarantined(s), 0, "nothing left in quarantine");
	sva_pasid_space_free(s);
}

static void test_grace_order_by_time(void)
{
	const uint64_t grace = 60 * MS;
	struct sva_pasid_space *s = space(1, 3, grace);
	uint32_t p, got[4];
	uint64_t t_a, t_b, t;
	int n;

	drain(s, got, 4);
	sva_pasid_free(s, 2);
	sva_pasid_free(s, 3);
	t_a = now_ns();
	sva_pasid_release(s, 3);
	sleep_ns(grace / 2);
	t_b = now_ns();
	sva_pasid_release(s, 2);
	sleep_ns(grace - grace / 2 + 10 * MS); /* 3's grace is over, 2's is not */
	n = drain(s, got, 4);
	t = now_ns();
	if (t - t_b < grace && t - t_a >= grace)
		ok(n == 1 && got[0] == 3, "only the earlier release (3) has passed its grace");
	else
		skip(1, "the machine is too slow to separate the two grace periods");
	sleep_ns(grace);
	while (sva_pasid_alloc(s, NULL, &p) == 0)
		got[n++] = p;
	ok(n == 2 && got[0] == 3 && got[1] == 2, "then 2");
	sva_pasid_space_free(s);
}

static void test_default_grace(void)
{
	struct sva_pasid_space *s = space(1, 1, 0);
	uint32_t p;
	uint64_t t0, t1;
	int r;

	sva_pasid_alloc(s, NULL, &p);
	sva_pasid_free(s, 1);
	t0 = now_ns();
	sva_pasid_release(s, 1);
	sleep_ns(50 * MS);
	r = sva_pasid_alloc(s, NULL, &p);
	t1 = now_ns();
	if (t1 - t0 < SVA_PASID_GRACE_DEFAULT_NS)
		is_int(r, -ENOSPC, "grace_ns 0 means the default 100 ms: not allocatable after ~50 ms");
	else
		skip(1, "the machine is too slow to check 'not yet'");
	sleep_ns(SVA_PASID_GRACE_DEFAULT_NS);
	ok(r == 0 || sva_pasid_alloc(s, NULL, &p) == 0, "allocatable after 100 ms");
	sva_pasid_space_free(s);
}

static void test_long_grace_barrier(void)
{
	struct sva_pasid_space *s = space(1, 2, UINT64_MAX);
	uint32_t p;

	sva_pasid_alloc(s, NULL, &p);
	sva_pasid_alloc(s, NULL, &p);
	sva_pasid_free(s, 2);
	sva_pasid_release(s, 2);
	sleep_ns(20 * MS);
	ok(sva_pasid_alloc(s, NULL, &p) == -ENOSPC, "grace UINT64_MAX: time never ends it (no overflow)");
	is_int(quarantined(s), 1, "stats: 1 quarantined");
	is_int(sva_pasid_barrier(s), 1, "barrier ends it");
	ok(sva_pasid_alloc(s, NULL, &p) == 0 && p == 2, "allocatable after the barrier");
	sva_pasid_free(s, 2);
	is_int(sva_pasid_barrier(s), 0, "barrier does not touch a freed, unreleased PASID");
	ok(sva_pasid_alloc(s, NULL, &p) == -ENOSPC, "which stays in quarantine");
	sva_pasid_space_free(s);
}

static void test_quarantine_invisible(void)
{
	struct sva_pasid_space *s = space(1, 4, 3600000 * MS);
	uint32_t p;
	void *d = NULL;

	sva_pasid_alloc(s, &d, &p);
	sva_pasid_free(s, p);
	is_int(sva_pasid_lookup(s, p, &d), -ENOENT, "quarantined: lookup fails");
	is_int(sva_pasid_free(s, p), -ENOENT, "quarantined: free is a double free");
	sva_pasid_release(s, p);
	is_int(sva_pasid_lookup(s, p, &d), -ENOENT, "released: lookup fails");
	is_int(sva_pasid_release(s, p), -EINVAL, "released: release again fails");
	sva_pasid_barrier(s);
	is_int(sva_pasid_lookup(s, p, &d), -ENOENT, "back in the pool: lookup fails");
	is_int(sva_pasid_free(s, p), -ENOENT, "back in the pool: free fails");
	is_int(sva_pasid_release(s, p), -EINVAL, "back in the pool: release fails");
	sva_pasid_space_free(s);
}

/*
 * The barrier counts the PASIDs *it* made allocatable: one whose grace time
 * had already ended was allocatable before the call (a stats call would
 * have said so), whether or not anything noticed yet.
 */
static void test_barrier_counts_its_own(void)
{
	const uint64_t grace = 20 * MS;
	struct sva_pasid_space *s = space(1, 8, grace);
	uint32_t got[16];
	uint64_t t0;

	drain(s, got, 16);
	sva_pasid_free(s, 1);
	sva_pasid_free(s, 2);
	sva_pasid_release(s, 1);
	sleep_ns(3 * grace);
	t0 = now_ns();
	sva_pasid_release(s, 2);
	int moved = sva_pasid_barrier(s);

	if (now_ns() - t0 < grace)
		is_int(moved, 1, "barrier: 1 released long ago is not its doing, 1 released just now is");
	else
		skip(1, "the clock jumped past the grace time between release and barrier");
	is_int(quarantined(s), 0, "and both are allocatable");
	sva_pasid_free(s, 3);
	sva_pasid_release(s, 3);
	sleep_ns(3 * grace);
	is_int(sva_pasid_barrier(s), 0, "barrier after the grace time ended by itself: 0");
	sva_pasid_space_free(s);
}

/*
 * Out of memory for the table (the next never-used value needs the rings or a
 * bucket to grow): a PASID allocatable again is handed out instead, and
 * -ENOMEM comes only when there is none, changing nothing (Z90: the space
 * used to answer -ENOMEM for good while freed PASIDs sat in its pool).
 */
static void test_enomem_reuses_pooled(void)
{
	struct sva_pasid_space *s = space(1, 1000, 3600000 * MS);
	struct sva_pasid_stats st = { .size = sizeof(st) };
	uint32_t p = 0;
	int ret, n = 0;

	/* Allocate until the next fresh value needs an allocation: 64 fills
	 * the rings' first size, so the 65th grows them. */
	while (n < 64 && !sva_pasid_alloc(s, NULL, &p))
		n++;
	is_int(n, 64, "64 allocations");
	sva_pasid_free(s, 7);
	sva_pasid_release(s, 7);
	is_int(sva_pasid_barrier(s), 1, "PASID 7 allocatable again");
	sva_test_fail_nth(1);
	p = 0;
	ret = sva_pasid_alloc(s, NULL, &p);
	ok(ret == 0 && p == 7, "table cannot grow: the allocatable 7 is handed out (ret %d, pasid %u)", ret, p);
	sva_test_fail_nth(0);
	sva_test_fail_nth(1);
	p = 12345;
	ret = sva_pasid_alloc(s, NULL, &p);
	is_int(ret, -ENOMEM, "table cannot grow, nothing allocatable: -ENOMEM");
	is_int(p, 12345, "and *pasid untouched");
	sva_test_fail_nth(0);
	sva_pasid_stats(s, &st);
	is_int(st.allocated, 64, "64 allocated, the failure changed nothing");
	ret = sva_pasid_alloc(s, NULL, &p);
	ok(ret == 0 && p == 65, "memory back: the never-used 65 next (ret %d, pasid %u)", ret, p);
	sva_pasid_space_free(s);
}

int main(void)
{
	test_release_order();
	test_fresh_first();
	test_fifo_across_batches();
	test_short_grace();
	test_grace_order_by_time();
	test_default_grace();
	test_long_grace_barrier();
	test_quarantine_invisible();
	test_barrier_counts_its_own();
	test_enomem_reuses_pooled();
	return done_testing();
}
