/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Frees and releases racing each other, allocations and lookups, on a
 * context and two devices built by hand (as stress-bind-fork.c): meant for
 * --enable-sanitizers=thread as much as for plain runs.  sva_dev_pasid_alloc(3)
 * and sva_pasid_alloc(3) say all these calls are thread-safe, that free and
 * release act on the value through any device that reaches it, and that a
 * lookup is safe against a concurrent allocation or free, returning what the
 * device had under the value at some instant during the call.
 *
 * Two writers allocate through devices A and B, from the global space and
 * from their own.  Two reapers take each allocation in lock step: both free
 * it at once, one with sva_dev_pasid_free() (for a global value through
 * either device), the other with sva_pasid_free() on the value's space; then
 * both release it at once, sva_dev_pasid_release() against
 * sva_pasid_release().  A barrier thread ends grace periods, so values come
 * back while readers look them up through both devices and the spaces.
 * Checked:
 *  - of two frees of one allocation exactly one succeeds and the other is
 *    -ENOENT; of two releases exactly one succeeds and the other is -EINVAL
 *    (no value freed or released twice, none lost);
 *  - no value is handed to two holders at once;
 *  - a device's lookup returns only an allocation made through that device
 *    under that value, and a space's lookup one of that value; neither
 *    returns one whose free had completed before the lookup started;
 *  - each space's counts add up at every instant, and at the end every
 *    value is back.
 * Bounded by a count of allocations, not by time; a hang trips the watchdog.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "pasid_space.h"
#include "../tap.h"
#include "../unit/fake_bind_objects.h"

#define GMIN 256u /* global space [GMIN, GMAX]; each device's own [1, GMIN - 1] */
#define GMAX 511u
#define NALLOCS 20000u /* allocations in all: each value recycled dozens of times */
#define QCAP 64	       /* allocations waiting for the reapers */
#define NREADERS 2
#define WATCHDOG_S 300 /* a hang, not a slow run: far above any run seen */

static void quiet(void *arg, enum sva_log_level level, const char *msg)
{
	(void)arg;
	(void)level;
	(void)msg;
}

static const struct sva_dev_backend fake_be = {
	"fake", fake_noop_attach, fake_noop_detach,
	fake_noop_pasid_attach, fake_noop_pasid_detach, fake_noop_close, 0,
};

static struct sva_ctx ctx;
static struct sva_dev devs[2];
static struct sva_pasid_space *spaces[3]; /* 0 global, 1 A's own, 2 B's own */

/* An allocation: its value, the space it came from, the device it was made
 * through, and a serial no other allocation has. */
struct item {
	uint64_t serial;
	uint32_t pasid;
	unsigned space, dev;
};

/* drvdata encodes the item but for its value, bit 0 clear: (serial, space, dev). */
static void *enc(const struct item *it)
{
	return (void *)(uintptr_t)((it->serial << 4) | ((uint64_t)it->space << 2) | ((uint64_t)it->dev << 1));
}

static struct item dec(const void *p)
{
	uintptr_t v = (uintptr_t)p;

	return (struct item){ .serial = v >> 4, .space = (unsigned)(v >> 2) & 3, .dev = (unsigned)(v >> 1) & 1 };
}

static atomic_uint_fast64_t next_serial = 1, nr_allocs, nr_reaped, nr_hits, nr_misses;
static atomic_uint_fast64_t free_seq;	     /* bumped after each completed free */
static _Atomic uint64_t dead_at[NALLOCS + 2]; /* [serial]: free_seq after its free, 0: live */
static _Atomic uint32_t by_serial[NALLOCS + 2]; /* [serial]: its value, 0 until the allocation returned */
static atomic_uchar holder[3][GMAX + 1];
static atomic_uint_fast64_t errors_double, errors_free, errors_release, errors_api, errors_foreign, errors_stale,
	errors_stats;
static atomic_int writers_left = 2;
static atomic_bool readers_stop;

/* The reapers' queue. */
static pthread_mutex_t qlock = PTHREAD_MUTEX_INITIALIZER;
static struct item queue[QCAP];
static unsigned qhead, qlen, qreserved;

static void unreserve(void)
{
	pthread_mutex_lock(&qlock);
	qreserved--;
	pthread_mutex_unlock(&qlock);
}

static void bad(atomic_uint_fast64_t *counter, const char *what, int a, int b)
{
	if (atomic_fetch_add(counter, 1) < 3)
		diag("%s: %d, %d", what, a, b);
}

static uint64_t xorshift(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

static void *writer(void *arg)
{
	unsigned d = (unsigned)(uintptr_t)arg;
	uint64_t rng = 0x9e3779b97f4a7c15ull * (d + 1);

	for (;;) {
		struct item it = { .dev = d };
		bool own = xorshift(&rng) & 1;
		uint32_t p = 0;
		int r;

		/* a place in the queue first, so the other writer cannot take it */
		pthread_mutex_lock(&qlock);
		r = qlen + qreserved < QCAP;
		qreserved += r;
		pthread_mutex_unlock(&qlock);
		if (!r) {
			sched_yield();
			continue;
		}
		it.serial = atomic_fetch_add(&next_serial, 1);
		if (it.serial > NALLOCS) {
			unreserve();
			break;
		}
		/* The drvdata is fixed before the value is known: it names
		 * the serial, space and device, and by_serial[] the value,
		 * once the allocation returns. */
		for (;;) {
			it.space = own ? 1 + d : 0;
			r = sva_dev_pasid_alloc(&devs[d], own ? SVA_PASID_DEVICE : SVA_PASID_GLOBAL, enc(&it), &p);
			if (r != -ENOSPC)
				break;
			sched_yield(); /* the reapers and the barrier will free some */
		}
		if (r) {
			bad(&errors_api, "sva_dev_pasid_alloc", r, (int)own);
			unreserve();
			continue;
		}
		if (own ? (p < 1 || p >= GMIN) : (p < GMIN || p > GMAX)) {
			bad(&errors_api, "value outside its space", (int)p, (int)own);
			unreserve();
			continue;
		}
		if (atomic_exchange(&holder[it.space][p], 1))
			bad(&errors_double, "a value handed out twice", (int)p, (int)it.space);
		it.pasid = p;
		atomic_store(&by_serial[it.serial], p);
		atomic_fetch_add(&nr_allocs, 1);
		pthread_mutex_lock(&qlock);
		qreserved--;
		queue[(qhead + qlen++) % QCAP] = it;
		pthread_mutex_unlock(&qlock);
	}
	atomic_fetch_sub(&writers_left, 1);
	return NULL;
}

/* The reapers' round: reaper 0 picks the item, both act on it, each
 * reporting its result; the barriers keep the two calls of each step
 * concurrent and keep a value from coming back before both have tried. */
static pthread_barrier_t round_bar;
static struct item cur;
static bool cur_valid, reap_stop;
static int res[2][2]; /* [step: free, release][reaper] */

static int reap_free(int who, const struct item *it)
{
	if (who == 0) {
		/* a global value through either device: free acts on the value */
		unsigned d = it->space ? it->dev : (unsigned)(it->serial & 1) ^ it->dev;

		return sva_dev_pasid_free(&devs[d], it->pasid);
	}
	return sva_pasid_free(spaces[it->space], it->pasid);
}

static int reap_release(int who, const struct item *it)
{
	if (who == 0) {
		unsigned d = it->space ? it->dev : (unsigned)((it->serial >> 1) & 1) ^ it->dev;

		return sva_dev_pasid_release(&devs[d], it->pasid);
	}
	return sva_pasid_release(spaces[it->space], it->pasid);
}

static void *reaper(void *arg)
{
	int who = (int)(intptr_t)arg;

	for (;;) {
		if (who == 0) {
			pthread_mutex_lock(&qlock);
			cur_valid = qlen > 0;
			if (cur_valid) {
				cur = queue[qhead];
				qhead = (qhead + 1) % QCAP, qlen--;
			}
			reap_stop = !cur_valid && atomic_load(&writers_left) == 0;
			pthread_mutex_unlock(&qlock);
		}
		pthread_barrier_wait(&round_bar);
		if (reap_stop)
			break;
		if (!cur_valid) {
			pthread_barrier_wait(&round_bar);
			sched_yield();
			continue;
		}
		res[0][who] = reap_free(who, &cur);
		pthread_barrier_wait(&round_bar);
		if (res[0][who] == 0) {
			/* the winner: the value is no longer held, and lookups
			 * that start from now on must not find this allocation */
			atomic_store(&holder[cur.space][cur.pasid], 0);
			atomic_store(&dead_at[cur.serial], atomic_fetch_add(&free_seq, 1) + 1);
		}
		pthread_barrier_wait(&round_bar);
		res[1][who] = reap_release(who, &cur);
		pthread_barrier_wait(&round_bar);
		if (who == 0) {
			int f0 = res[0][0], f1 = res[0][1], r0 = res[1][0], r1 = res[1][1];

			if (!((f0 == 0 && f1 == -ENOENT) || (f0 == -ENOENT && f1 == 0)))
				bad(&errors_free, "two frees of one allocation", f0, f1);
			if (!((r0 == 0 && r1 == -EINVAL) || (r0 == -EINVAL && r1 == 0)))
				bad(&errors_release, "two releases of one freed value", r0, r1);
			atomic_fetch_add(&nr_reaped, 1);
		}
		pthread_barrier_wait(&round_bar);
	}
	return NULL;
}

static void check_found(const void *d, uint32_t p, int space, int dev, uint64_t start)
{
	struct item it = dec(d);
	uint64_t dead;
	uint32_t v;

	atomic_fetch_add_explicit(&nr_hits, 1, memory_order_relaxed);
	if (it.serial == 0 || it.serial > NALLOCS) {
		bad(&errors_foreign, "a lookup returned a drvdata no allocation had", (int)p, dev);
		return;
	}
	/* 0: the allocation has not returned yet to record its value */
	v = atomic_load(&by_serial[it.serial]);
	if ((v != 0 && v != p) || (int)it.space != space || (dev >= 0 && (int)it.dev != dev)) {
		bad(&errors_foreign, "a lookup returned another allocation's drvdata", (int)p, dev);
		return;
	}
	if ((dead = atomic_load(&dead_at[it.serial])) != 0 && dead <= start)
		bad(&errors_stale, "a lookup returned an allocation freed before it started", (int)p, dev);
}

static void *reader(void *arg)
{
	uint64_t rng = 0xda942042e4dd58b5ull * ((uintptr_t)arg + 7);
	unsigned iter = 0;

	while (!atomic_load_explicit(&readers_stop, memory_order_relaxed)) {
		uint64_t x = xorshift(&rng);
		uint32_t p = 1 + (uint32_t)((x >> 8) % GMAX);
		int dev = (int)(x & 1), space = p >= GMIN ? 0 : 1 + dev;
		uint64_t start = atomic_load(&free_seq);
		void *d = NULL;
		int r;

		if (x & 2)
			r = sva_dev_pasid_lookup(&devs[dev], p, &d);
		else
			r = sva_pasid_lookup(spaces[space], p, &d), dev = -1;
		if (r == 0)
			check_found(d, p, space, dev, start);
		else if (r == -ENOENT)
			atomic_fetch_add_explicit(&nr_misses, 1, memory_order_relaxed);
		else
			bad(&errors_api, "a lookup", r, (int)p);
		if ((++iter & 1023) == 0)
			for (int s = 0; s < 3; s++) {
				struct sva_pasid_stats st = { .size = sizeof(st) };

				if (sva_pasid_stats(spaces[s], &st) != 0 ||
				    st.allocated + st.quarantined + st.free != st.max - st.min + 1)
					bad(&errors_stats, "counts that do not add up", s, 0);
			}
	}
	return NULL;
}

static void *barrier_thread(void *arg)
{
	(void)arg;
	while (!atomic_load_explicit(&readers_stop, memory_order_relaxed)) {
		for (int s = 0; s < 3; s++)
			if (sva_pasid_barrier(spaces[s]) < 0)
				bad(&errors_api, "sva_pasid_barrier", s, 0);
		sched_yield();
	}
	return NULL;
}

static void watchdog(int sig)
{
	static const char msg[] = "Bail out! watchdog: no progress; a deadlock among frees, releases and lookups\n";

	(void)sig;
	(void)!write(STDOUT_FILENO, msg, sizeof(msg) - 1);
	_exit(1);
}

int main(void)
{
	pthread_t w[2], rp[2], rd[NREADERS], bt;
	bool back = true;

	plan(10);
	signal(SIGALRM, watchdog);
	alarm(WATCHDOG_S);
	memset(&ctx, 0, sizeof(ctx));
	sva_ctx_init_core(&ctx);
	sva_log_init(&ctx.log, quiet, NULL, SVA_LOG_DEBUG);
	ctx.pasid_grace_ns = UINT64_MAX; /* only the barrier thread ends a grace */
	ctx.global_pasid_min = GMIN, ctx.global_pasid_max = GMAX;
	if (sva_ctx_pasids_init(&ctx))
		tap_bail("sva_ctx_pasids_init failed");
	fake_dev_init(&devs[0], &ctx, &fake_be, 100, 20, "A");
	fake_dev_init(&devs[1], &ctx, &fake_be, 101, 20, "B");
	spaces[0] = sva_ctx_global_pasids(&ctx);
	spaces[1] = sva_dev_pasids(&devs[0]);
	spaces[2] = sva_dev_pasids(&devs[1]);
	if (!spaces[0] || !spaces[1] || !spaces[2])
		tap_bail("a space is missing");
	pthread_barrier_init(&round_bar, NULL, 2);
	for (int i = 0; i < NREADERS; i++)
		pthread_create(&rd[i], NULL, reader, (void *)(intptr_t)i);
	pthread_create(&bt, NULL, barrier_thread, NULL);
	for (int i = 0; i < 2; i++) {
		pthread_create(&rp[i], NULL, reaper, (void *)(intptr_t)i);
		pthread_create(&w[i], NULL, writer, (void *)(intptr_t)i);
	}
	for (int i = 0; i < 2; i++)
		pthread_join(w[i], NULL);
	for (int i = 0; i < 2; i++)
		pthread_join(rp[i], NULL);
	atomic_store(&readers_stop, true);
	for (int i = 0; i < NREADERS; i++)
		pthread_join(rd[i], NULL);
	pthread_join(bt, NULL);
	alarm(0);

	diag("%llu allocations, %llu reaped, %llu lookup hits, %llu misses", (unsigned long long)nr_allocs,
	     (unsigned long long)nr_reaped, (unsigned long long)nr_hits, (unsigned long long)nr_misses);
	ok(nr_allocs == NALLOCS && nr_reaped == NALLOCS, "every allocation was made and reaped (%llu, %llu of %u)",
	   (unsigned long long)nr_allocs, (unsigned long long)nr_reaped, NALLOCS);
	ok(nr_hits > 0 && nr_misses > 0, "lookups both hit and missed");
	is_int(errors_free, 0, "of two concurrent frees of one allocation, one succeeds, the other is -ENOENT");
	is_int(errors_release, 0, "of two concurrent releases of one freed value, one succeeds, the other is -EINVAL");
	is_int(errors_double, 0, "no value was handed to two holders at once");
	is_int(errors_foreign, 0, "a lookup returns only an allocation made under that value (through that device)");
	is_int(errors_stale, 0, "no lookup returned an allocation freed before it started");
	is_int(errors_stats, 0, "allocated + quarantined + free always equals each space's size");
	is_int(errors_api, 0, "no other call failed");
	for (int s = 0; s < 3; s++) {
		struct sva_pasid_stats st = { .size = sizeof(st) };

		sva_pasid_barrier(spaces[s]);
		if (sva_pasid_stats(spaces[s], &st) || st.allocated || st.quarantined || st.free != st.max - st.min + 1) {
			diag("space %d: %llu allocated, %llu quarantined, %llu free", s, (unsigned long long)st.allocated,
			     (unsigned long long)st.quarantined, (unsigned long long)st.free);
			back = false;
		}
	}
	ok(back, "at the end every value of the three spaces is back in its pool: none lost");
	pthread_barrier_destroy(&round_bar);
	return done_testing();
}
