/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Concurrency stress for a PASID space, meant for ThreadSanitizer as much as
 * for plain runs.  Writers allocate, re-own, free and release; a barrier thread
 * ends grace periods; a re-owner thread keeps replacing the owner of a few hot
 * PASIDs, which readers aim half their lookups at (a torn read needs a reader
 * inside a two-store window, so the window must be hit often); readers look
 * PASIDs up without pause.  Every allocation
 * gets a unique serial, and its owner and drvdata both encode (serial, PASID).
 * Checked:
 *  - a lookup only returns a pair stored for that PASID, owner and drvdata
 *    from the same store (never one from each);
 *  - a lookup never returns an allocation whose free had completed before the
 *    lookup started (free_seq/dead_at below);
 *  - no PASID is handed to two holders at once;
 *  - the counts add up at every instant and everything comes back at the end.
 * Runs STRESS_SECONDS (default 1.5) seconds.
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "pasid_space.h"
#include "../tap.h"

#define MIN 1u
#define MAX 1023u
#define NWRITERS 2
#define NREADERS 2
#define HOLD 96		     /* live PASIDs per writer */
#define MAX_SERIALS (1u << 25) /* bounds dead_at[]; writers stop there */
#define NHOT 4

static struct sva_pasid_space *space;
static atomic_bool stop;
static atomic_uint_fast64_t next_serial = 1;
static atomic_uint_fast64_t free_seq;	   /* bumped after each completed free */
static _Atomic uint64_t *dead_at;	   /* [serial]: free_seq value after its free, 0: live */
static atomic_uchar holder[MAX + 1];	   /* 1 while a writer holds the PASID */
static uint32_t hot[NHOT];		   /* PASIDs the re-owner thread holds */
static atomic_uint_fast64_t errors_foreign, errors_torn, errors_stale, errors_double, errors_api, errors_stats;
static atomic_uint_fast64_t nr_allocs, nr_hits, nr_misses, nr_reowns;

/*
 * (serial, pasid) -> pointer; the low bit tells owner (0) from drvdata (1).
 * Owners keep bit 0 clear: with it set they would be tags (SVA_PASID_TAG), and
 * the space's OWNED bit would go untested here.
 */
static void *enc(uint64_t serial, uint32_t pasid, unsigned int is_owner)
{
	return (void *)(uintptr_t)((serial << 22) | ((uint64_t)pasid << 1) | !is_owner);
}

static void dec(const void *p, uint64_t *serial, uint32_t *pasid, unsigned int *is_owner)
{
	uintptr_t v = (uintptr_t)p;

	*serial = v >> 22;
	*pasid = (uint32_t)((v >> 1) & ((1u << 21) - 1));
	*is_owner = !(v & 1);
}

static uint64_t xorshift(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

struct held {
	uint32_t pasid;
	uint64_t serial;
};

/* Free one held PASID the way a bond would, then release it. */
static void drop(struct held *h)
{
	uint64_t f;

	atomic_store(&holder[h->pasid], 0);
	if (sva_pasid_free_owned(space, h->pasid, enc(h->serial, h->pasid, 1)) != 0) {
		atomic_fetch_add(&errors_api, 1);
		return;
	}
	f = atomic_fetch_add(&free_seq, 1) + 1;
	atomic_store(&dead_at[h->serial], f);
	if (sva_pasid_release(space, h->pasid) != 0)
		atomic_fetch_add(&errors_api, 1);
}

static void *writer(void *arg)
{
	struct held held[HOLD];
	uint64_t rng = 0x9e3779b97f4a7c15ull * ((uintptr_t)arg + 1);
	int n = 0;

	while (!atomic_load_explicit(&stop, memory_order_relaxed)) {
		uint64_t serial = atomic_fetch_add(&next_serial, 1);
		uint32_t p;
		int r;

		if (serial >= MAX_SERIALS)
			break;
		if (n == HOLD) {
			/* Drop a random one so PASIDs leave in a mixed order. */
			int i = (int)(xorshift(&rng) % HOLD);

			drop(&held[i]);
			held[i] = held[--n];
		}
		r = sva_pasid_alloc_ex(space, SVA_PASID_ALLOC_QUIET_ENOSPC, NULL, NULL, &p);
		if (r == -ENOSPC) {
			sched_yield(); /* the others hold it all; grace or barrier will free some */
			continue;
		}
		if (r != 0 || p < MIN || p > MAX) {
			atomic_fetch_add(&errors_api, 1);
			continue;
		}
		if (atomic_exchange(&holder[p], 1) != 0)
			atomic_fetch_add(&errors_double, 1);
		/* Publish (serial, p) as the owner: the first pair (NULL, NULL) is
		 * already live, which readers must also accept. */
		if (sva_pasid_set_owner(space, p, enc(serial, p, 1), enc(serial, p, 0)) != 0)
			atomic_fetch_add(&errors_api, 1);
		atomic_fetch_add_explicit(&nr_allocs, 1, memory_order_relaxed);
		held[n++] = (struct held){ p, serial };

		/* Sometimes re-own a held PASID: readers must never see a mix. */
		if ((xorshift(&rng) & 7) == 0) {
			struct held *h = &held[xorshift(&rng) % (uint64_t)n];
			uint64_t s2 = atomic_fetch_add(&next_serial, 1);

			if (s2 < MAX_SERIALS) {
				/* Retire the old serial as if freed: it must not be seen
				 * by lookups that start after this re-own completes. */
				if (sva_pasid_set_owner(space, h->pasid, enc(s2, h->pasid, 1), enc(s2, h->pasid, 0)))
					atomic_fetch_add(&errors_api, 1);
				atomic_store(&dead_at[h->serial], atomic_fetch_add(&free_seq, 1) + 1);
				h->serial = s2;
				atomic_fetch_add_explicit(&nr_reowns, 1, memory_order_relaxed);
			}
		}
	}
	while (n > 0)
		drop(&held[--n]);
	return NULL;
}

static void *reader(void *arg)
{
	uint64_t rng = 0xda942042e4dd58b5ull * ((uintptr_t)arg + 7);
	unsigned int iter = 0;

	while (!atomic_load_explicit(&stop, memory_order_relaxed)) {
		uint64_t x = xorshift(&rng);
		uint32_t p = (x & 1) ? hot[(x >> 1) % NHOT] : MIN + (uint32_t)((x >> 1) % (MAX - MIN + 1));
		uint64_t start = atomic_load(&free_seq);
		void *o, *d;
		int r = sva_pasid_lookup_owner(space, p, &o, &d);

		if (r == -ENOENT) {
			atomic_fetch_add_explicit(&nr_misses, 1, memory_order_relaxed);
		} else if (r != 0) {
			atomic_fetch_add(&errors_api, 1);
		} else if (o == NULL && d == NULL) {
			/* Allocated, owner not set yet: legitimate. */
			atomic_fetch_add_explicit(&nr_hits, 1, memory_order_relaxed);
		} else {
			uint64_t so, sd, dead;
			uint32_t po, pd;
			unsigned int io, id;

			dec(o, &so, &po, &io);
			dec(d, &sd, &pd, &id);
			if (po != p || pd != p || io != 1 || id != 0)
				atomic_fetch_add(&errors_foreign, 1);
			else if (so != sd)
				atomic_fetch_add(&errors_torn, 1);
			else if (sd >= MAX_SERIALS)
				atomic_fetch_add(&errors_foreign, 1);
			else if ((dead = atomic_load(&dead_at[sd])) != 0 && dead <= start)
				atomic_fetch_add(&errors_stale, 1);
			atomic_fetch_add_explicit(&nr_hits, 1, memory_order_relaxed);
		}
		if ((++iter & 4095) == 0) {
			struct sva_pasid_stats st = { .size = sizeof(st) };

			if (sva_pasid_stats(space, &st) != 0 ||
			    st.allocated + st.quarantined + st.free != MAX - MIN + 1)
				atomic_fetch_add(&errors_stats, 1);
		}
	}
	return NULL;
}

static void *reowner(void *arg)
{
	uint64_t serial[NHOT];

	(void)arg;
	for (int i = 0; i < NHOT; i++) {
		serial[i] = atomic_fetch_add(&next_serial, 1);
		if (sva_pasid_set_owner(space, hot[i], enc(serial[i], hot[i], 1), enc(serial[i], hot[i], 0)))
			atomic_fetch_add(&errors_api, 1);
	}
	while (!atomic_load_explicit(&stop, memory_order_relaxed)) {
		for (int i = 0; i < NHOT; i++) {
			uint64_t s2 = atomic_fetch_add(&next_serial, 1);

			if (s2 >= MAX_SERIALS)
				return NULL;
			if (sva_pasid_set_owner(space, hot[i], enc(s2, hot[i], 1), enc(s2, hot[i], 0)))
				atomic_fetch_add(&errors_api, 1);
			atomic_store(&dead_at[serial[i]], atomic_fetch_add(&free_seq, 1) + 1);
			serial[i] = s2;
			atomic_fetch_add_explicit(&nr_reowns, 1, memory_order_relaxed);
		}
	}
	for (int i = 0; i < NHOT; i++)
		if (sva_pasid_free_owned(space, hot[i], enc(serial[i], hot[i], 1)) ||
		    sva_pasid_release(space, hot[i]))
			atomic_fetch_add(&errors_api, 1);
	return NULL;
}

static void *barrier_thread(void *arg)
{
	struct timespec ts = { 0, 200000 }; /* 200 us */

	(void)arg;
	while (!atomic_load_explicit(&stop, memory_order_relaxed)) {
		if (sva_pasid_barrier(space) < 0)
			atomic_fetch_add(&errors_api, 1);
		nanosleep(&ts, NULL);
	}
	return NULL;
}

int main(void)
{
	struct sva_pasid_space_opts o = { .size = sizeof(o), .min = MIN, .max = MAX, .grace_ns = 50000 };
	pthread_t w[NWRITERS], r[NREADERS], b, ro;
	struct sva_pasid_stats st = { .size = sizeof(st) };
	const char *env = getenv("STRESS_SECONDS");
	double secs = env ? atof(env) : 1.5;
	struct timespec dur;

	plan(9);
	dead_at = calloc(MAX_SERIALS, sizeof(*dead_at));
	if (!dead_at || sva_pasid_space_new(&o, &space) != 0)
		return 1;
	dur.tv_sec = (time_t)secs;
	dur.tv_nsec = (long)((secs - (double)dur.tv_sec) * 1e9);

	for (int i = 0; i < NHOT; i++)
		if (sva_pasid_alloc(space, NULL, &hot[i]) != 0)
			return 1;
	pthread_create(&ro, NULL, reowner, NULL);
	for (uintptr_t i = 0; i < NWRITERS; i++)
		pthread_create(&w[i], NULL, writer, (void *)i);
	for (uintptr_t i = 0; i < NREADERS; i++)
		pthread_create(&r[i], NULL, reader, (void *)i);
	pthread_create(&b, NULL, barrier_thread, NULL);
	nanosleep(&dur, NULL);
	atomic_store(&stop, true);
	for (int i = 0; i < NWRITERS; i++)
		pthread_join(w[i], NULL);
	for (int i = 0; i < NREADERS; i++)
		pthread_join(r[i], NULL);
	pthread_join(b, NULL);
	pthread_join(ro, NULL);

	diag("%.1f s: %llu allocations, %llu re-owns, %llu lookup hits, %llu misses", secs,
	     (unsigned long long)nr_allocs, (unsigned long long)nr_reowns, (unsigned long long)nr_hits,
	     (unsigned long long)nr_misses);
	ok(nr_allocs > 2 * (MAX - MIN + 1), "PASIDs were recycled (%llu allocations over %u values)",
	   (unsigned long long)nr_allocs, MAX - MIN + 1);
	ok(nr_hits > 0 && nr_misses > 0, "lookups both hit and missed");
	is_int(errors_foreign, 0, "no lookup returned a pair stored for another PASID");
	is_int(errors_torn, 0, "no lookup returned owner and drvdata from different stores");
	is_int(errors_stale, 0, "no lookup returned an allocation freed before it started");
	is_int(errors_double, 0, "no PASID was handed to two holders at once");
	is_int(errors_api, 0, "no call failed unexpectedly");
	is_int(errors_stats, 0, "allocated + quarantined + free always equals the space size");
	sva_pasid_barrier(space);
	sva_pasid_stats(space, &st);
	ok(st.allocated == 0 && st.quarantined == 0 && st.free == MAX - MIN + 1,
	   "everything is back in the pool at the end");
	sva_pasid_space_free(space);
	free(dead_at);
	return done_testing();
}
