/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * PASID space benchmark, against a baseline run in the same process: a
 * mutex-protected bitmap allocator with the same quarantine rule (free ->
 * quarantine -> release -> grace or barrier -> allocatable), next-fit
 * allocation, and lookups under the same mutex: the usual design before a
 * lock-free table.
 *
 *   alloc+free   single thread, pairs/s.  Freed PASIDs cannot come back
 *                until released, so each round times N alloc+free pairs, then
 *                (untimed, for both) releases the N PASIDs and calls a barrier.
 *                Rounds start once a first pass has used every value of the
 *                [1, 2^20-1] space (reported apart: libsva allocates its
 *                table then), so reuse follows each allocator's own order.
 *                Also reported apart: the same once the process has had a
 *                second thread (glibc's mutexes then use atomics).
 *   lookup       ns per lookup, back to back, over 1024 live PASIDs in a
 *                shuffled order; the median of per-batch figures.
 *   lookup+churn the same while a second thread allocates, frees and releases
 *                other PASIDs of the same space without pause (pinned to
 *                another CPU where there is one).
 *   device lookup libsva only: sva_dev_pasid_lookup() and
 *                sva_dev_bond_lookup() on the second of two devices bound
 *                under the same 1024 global PASIDs (devices built by hand,
 *                with bonds published in their tables as sva_bind() does:
 *                the lookup path is the real one, no kernel is needed).
 *
 * Every figure is the median over --rounds rounds (default 7), the two
 * implementations taking turns round by round.  Ratios are
 * "times better than the baseline": > 1 means libsva is ahead.
 *
 *   bench-pasid [--json] [--rounds N]
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* CPU affinity */
#endif
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "bench.h"
#include "lock.h"
#include "pasid_map.h"
#include "pasid_space.h"

#define PAIRS (1u << 18)    /* alloc+free pairs per timed round */
#define NLIVE 1024u	    /* PASIDs looked up */
#define BATCH 1024u	    /* lookups per timed batch */
#define BATCHES 2048u	    /* batches per round */
#define CHURN_RECYCLE 256u  /* churn: release + barrier after this many frees */

/* ------------------------------------------------------------- the baseline */

struct base {
	pthread_mutex_t lock;
	uint32_t min, n, cursor;
	uint64_t grace_ns;
	uint64_t *avail; /* allocatable */
	uint64_t *live;	 /* allocated: found by lookups */
	uint8_t *quar;	 /* 1: freed, not released; 2: released */
	void **drv;
	uint32_t *ring; /* released, oldest first */
	uint64_t *ring_t;
	uint32_t ring_head, ring_len;
};

static struct base *base_new(uint32_t min, uint32_t max, uint64_t grace_ns)
{
	struct base *b = calloc(1, sizeof(*b));
	uint32_t words;

	b->min = min;
	b->n = max - min + 1;
	b->grace_ns = grace_ns;
	words = (b->n + 63) / 64;
	b->avail = calloc(words, 8);
	b->live = calloc(words, 8);
	b->quar = calloc(b->n, 1);
	b->drv = calloc(b->n, sizeof(void *));
	b->ring = calloc(b->n, sizeof(uint32_t));
	b->ring_t = calloc(b->n, sizeof(uint64_t));
	for (uint32_t i = 0; i < b->n; i++)
		b->avail[i / 64] |= 1ull << (i % 64);
	pthread_mutex_init(&b->lock, NULL);
	return b;
}

static void base_free(struct base *b)
{
	free(b->avail), free(b->live), free(b->quar), free(b->drv), free(b->ring), free(b->ring_t);
	pthread_mutex_destroy(&b->lock);
	free(b);
}

static void base_expire(struct base *b, bool all)
{
	uint64_t now = all ? 0 : bench_now_ns();

	while (b->ring_len) {
		uint32_t i = b->ring[b->ring_head];

		if (!all && now - b->ring_t[b->ring_head] < b->grace_ns)
			break;
		b->quar[i] = 0;
		b->avail[i / 64] |= 1ull << (i % 64);
		b->ring_head = (b->ring_head + 1) % b->n;
		b->ring_len--;
	}
}

/* Next set bit at or after `from`, cyclically; -1 if none. */
static int64_t base_find(const struct base *b, uint32_t from)
{
	uint32_t words = (b->n + 63) / 64, w = from / 64;
	uint64_t bits = b->avail[w] & (~0ull << (from % 64));

	for (uint32_t k = 0; k <= words; k++) {
		if (bits)
			return (int64_t)w * 64 + __builtin_ctzll(bits);
		w = (w + 1) % words;
		bits = b->avail[w];
	}
	return -1;
}

static int base_alloc(struct base *b, void *drv, uint32_t *pasid)
{
	int64_t i;

	pthread_mutex_lock(&b->lock);
	i = base_find(b, b->cursor);
	if (i < 0) {
		base_expire(b, false);
		i = base_find(b, b->cursor);
	}
	if (i < 0) {
		pthread_mutex_unlock(&b->lock);
		return -ENOSPC;
	}
	b->avail[i / 64] &= ~(1ull << (i % 64));
	b->live[i / 64] |= 1ull << (i % 64);
	b->drv[i] = drv;
	b->cursor = (uint32_t)(i + 1) % b->n;
	pthread_mutex_unlock(&b->lock);
	*pasid = b->min + (uint32_t)i;
	return 0;
}

static int base_free_pasid(struct base *b, uint32_t pasid)
{
	uint32_t i = pasid - b->min;
	int err = 0;

	pthread_mutex_lock(&b->lock);
	if (!(b->live[i / 64] & (1ull << (i % 64))))
		err = -ENOENT;
	else
		b->live[i / 64] &= ~(1ull << (i % 64)), b->quar[i] = 1;
	pthread_mutex_unlock(&b->lock);
	return err;
}

static int base_release(struct base *b, uint32_t pasid)
{
	uint32_t i = pasid - b->min;
	int err = 0;

	pthread_mutex_lock(&b->lock);
	if (b->quar[i] != 1) {
		err = -EINVAL;
	} else {
		uint32_t slot = (b->ring_head + b->ring_len++) % b->n;

		b->quar[i] = 2;
		b->ring[slot] = i;
		b->ring_t[slot] = bench_now_ns();
	}
	pthread_mutex_unlock(&b->lock);
	return err;
}

static void base_barrier(struct base *b)
{
	pthread_mutex_lock(&b->lock);
	base_expire(b, true);
	pthread_mutex_unlock(&b->lock);
}

static int base_lookup(struct base *b, uint32_t pasid, void **drv)
{
	uint32_t i = pasid - b->min;
	int err = -ENOENT;

	if (pasid < b->min || i >= b->n)
		return -ERANGE;
	pthread_mutex_lock(&b->lock);
	if (b->live[i / 64] & (1ull << (i % 64))) {
		*drv = b->drv[i];
		err = 0;
	}
	pthread_mutex_unlock(&b->lock);
	return err;
}

/* ------------------------------------------- one interface over both kinds */

struct impl {
	const char *name;
	void *obj;
	int (*alloc)(void *obj, void *drv, uint32_t *pasid);
	int (*free)(void *obj, uint32_t pasid);
	int (*release)(void *obj, uint32_t pasid);
	void (*barrier)(void *obj);
	int (*lookup)(void *obj, uint32_t pasid, void **drv);
};

static int sva_alloc_(void *o, void *d, uint32_t *p) { return sva_pasid_alloc(o, d, p); }
static int sva_free_(void *o, uint32_t p) { return sva_pasid_free(o, p); }
static int sva_release_(void *o, uint32_t p) { return sva_pasid_release(o, p); }
static void sva_barrier_(void *o) { sva_pasid_barrier(o); }
static int sva_lookup_(void *o, uint32_t p, void **d) { return sva_pasid_lookup(o, p, d); }
static int base_alloc_(void *o, void *d, uint32_t *p) { return base_alloc(o, d, p); }
static int base_free_(void *o, uint32_t p) { return base_free_pasid(o, p); }
static int base_release_(void *o, uint32_t p) { return base_release(o, p); }
static void base_barrier_(void *o) { base_barrier(o); }
static int base_lookup_(void *o, uint32_t p, void **d) { return base_lookup(o, p, d); }

static struct impl make_impl(bool sva)
{
	struct impl im;

	if (sva) {
		struct sva_pasid_space_opts o = { .size = sizeof(o) }; /* [1, 2^20-1], grace 100 ms */
		struct sva_pasid_space *s;

		if (sva_pasid_space_new(&o, &s)) {
			fprintf(stderr, "bench-pasid: cannot create a PASID space\n");
			exit(1);
		}
		im = (struct impl){ "libsva", s, sva_alloc_, sva_free_, sva_release_, sva_barrier_, sva_lookup_ };
	} else {
		im = (struct impl){ "baseline", base_new(1, SVA_PASID_MAX, SVA_PASID_GRACE_DEFAULT_NS), base_alloc_,
				    base_free_, base_release_, base_barrier_, base_lookup_ };
	}
	return im;
}

static void drop_impl(struct impl *im, bool sva)
{
	if (sva)
		sva_pasid_space_free(im->obj);
	else
		base_free(im->obj);
}

/* ---------------------------------------------------------------- helpers */

static void pin(int cpu)
{
#ifdef __linux__
	cpu_set_t set;
	long ncpu = sysconf(_SC_NPROCESSORS_ONLN);

	if (ncpu < 2)
		return;
	CPU_ZERO(&set);
	CPU_SET(cpu % ncpu, &set);
	pthread_setaffinity_np(pthread_self(), sizeof(set), &set);
#else
	(void)cpu;
#endif
}

static void die_if(bool cond, const char *what)
{
	if (cond) {
		fprintf(stderr, "bench-pasid: %s\n", what);
		exit(1);
	}
}

/* ------------------------------------------------------------- benchmarks */

static uint32_t *freed; /* PAIRS values to recycle after a timed round */

/* One round: PAIRS timed alloc+free pairs; returns the timed ns. */
static uint64_t round_alloc_free_ns(struct impl *im)
{
	uint64_t t0, t1;
	uint32_t p;

	t0 = bench_now_ns();
	for (uint32_t i = 0; i < PAIRS; i++) {
		if (im->alloc(im->obj, NULL, &p) || im->free(im->obj, p))
			die_if(true, "alloc/free failed");
		freed[i] = p;
	}
	t1 = bench_now_ns();
	/* Untimed: make them allocatable again for the next round. */
	for (uint32_t i = 0; i < PAIRS; i++)
		im->release(im->obj, freed[i]);
	im->barrier(im->obj);
	return t1 - t0;
}

static double round_alloc_free(struct impl *im)
{
	return (double)PAIRS * 1e9 / (double)round_alloc_free_ns(im);
}

static void *nothing(void *arg)
{
	return arg;
}

static uint32_t live_set[2][NLIVE];
static uint32_t order[BATCH];
static volatile uintptr_t sink;

/* A round of lookups: the median ns/lookup over its batches. */
static double round_lookup(struct impl *im, const uint32_t *live)
{
	static double per[BATCHES];
	uintptr_t sum = 0;

	for (uint32_t b = 0; b < BATCHES; b++) {
		uint64_t t0 = bench_now_ns();

		for (uint32_t i = 0; i < BATCH; i++) {
			void *d;

			if (im->lookup(im->obj, live[order[i]], &d) == 0)
				sum += (uintptr_t)d;
		}
		per[b] = (double)(bench_now_ns() - t0) / BATCH;
	}
	sink = sum;
	return bench_median(per, BATCHES);
}

struct churn {
	struct impl *im;
	atomic_bool stop;
	atomic_bool running;
	uint64_t ops;
};

static void *churn_thread(void *arg)
{
	struct churn *c = arg;
	static uint32_t pending[CHURN_RECYCLE];
	uint32_t n = 0, p;

	pin(1);
	atomic_store(&c->running, true);
	while (!atomic_load_explicit(&c->stop, memory_order_relaxed)) {
		if (c->im->alloc(c->im->obj, NULL, &p) == 0) {
			c->im->free(c->im->obj, p);
			pending[n++] = p;
			c->ops++;
		}
		if (n == CHURN_RECYCLE) {
			for (uint32_t i = 0; i < n; i++)
				c->im->release(c->im->obj, pending[i]);
			c->im->barrier(c->im->obj);
			n = 0;
		}
	}
	return NULL;
}

struct result {
	double first, pairs, pairs_mt, lookup, churn, churn_rate;
};

static int dev_lookup_(void *o, uint32_t p, void **d) { return sva_dev_pasid_lookup(o, p, d); }
static int bond_lookup_(void *o, uint32_t p, void **d) { return sva_dev_bond_lookup(o, p, NULL, d); }

static void quiet(void *arg, enum sva_log_level level, const char *msg)
{
	(void)arg, (void)level, (void)msg;
}

/*
 * Lookups on the second of two devices that share 1024 global PASIDs: each
 * value allocated once in the context's global space, a bond published under
 * it in both devices' tables.  *pasid_ns and *bond_ns: medians over rounds.
 */
static void run_dev_lookup(int rounds, double *pasid_ns, double *bond_ns)
{
	static struct sva_ctx ctx;
	static struct sva_dev dev[2];
	static int bonds[2][NLIVE];
	double *v = calloc((size_t)rounds, sizeof(double));
	uint32_t live[NLIVE];
	struct impl im;

	sva_log_init(&ctx.log, quiet, NULL, SVA_LOG_OFF);
	ctx.global_pasid_min = SVA_GLOBAL_PASID_MIN_DEFAULT;
	ctx.global_pasid_max = SVA_GLOBAL_PASID_MAX_DEFAULT;
	die_if(sva_ctx_pasids_init(&ctx) != 0, "global space");
	for (int k = 0; k < 2; k++) {
		dev[k].ctx = &ctx;
		dev[k].info.max_pasid_log2 = 20;
		die_if(sva_dev_pasids_init(&dev[k]) != 0, "device spaces");
	}
	for (uint32_t i = 0; i < NLIVE; i++) {
		die_if(sva_pasid_alloc_owned(ctx.global_pasids, &bonds, NULL, &live[i]) != 0, "alloc");
		for (int k = 0; k < 2; k++) {
			die_if(sva_pasid_map_reserve(dev[k].bond_map, live[i]) != 0, "bond table");
			sva_pasid_map_set(dev[k].bond_map, live[i], &bonds[k][i], &bonds[k][i]);
		}
	}
	im = (struct impl){ .name = "libsva", .obj = &dev[1], .lookup = dev_lookup_ };
	round_lookup(&im, live);
	for (int i = 0; i < rounds; i++)
		v[i] = round_lookup(&im, live);
	*pasid_ns = bench_median(v, (size_t)rounds);
	im.lookup = bond_lookup_;
	for (int i = 0; i < rounds; i++)
		v[i] = round_lookup(&im, live);
	*bond_ns = bench_median(v, (size_t)rounds);
	for (int k = 0; k < 2; k++)
		sva_dev_pasids_fini(&dev[k]);
	sva_ctx_pasids_fini(&ctx);
	free(v);
}

/*
 * Both implementations, round by round in turn, so that whatever else the
 * machine is doing weighs on both alike.
 */
static void run(int rounds, struct result res[2])
{
	struct impl im[2] = { make_impl(false), make_impl(true) };
	double *v[2], *rate[2];
	uint64_t t0;

	pin(0);
	for (int k = 0; k < 2; k++) {
		v[k] = calloc((size_t)rounds, sizeof(double));
		rate[k] = calloc((size_t)rounds, sizeof(double));
		/* First pass over the whole space: libsva grows its table here. */
		uint64_t timed = 0;

		for (uint32_t done = 0; done + PAIRS <= SVA_PASID_MAX; done += PAIRS)
			timed += round_alloc_free_ns(&im[k]);
		res[k].first = (double)(SVA_PASID_MAX / PAIRS * PAIRS) * 1e9 / (double)timed;
	}

	for (int i = 0; i < rounds; i++)
		for (int k = 0; k < 2; k++)
			v[k][i] = round_alloc_free(&im[k]);
	for (int k = 0; k < 2; k++)
		res[k].pairs = bench_median(v[k], (size_t)rounds);

	for (int k = 0; k < 2; k++) {
		for (uint32_t i = 0; i < NLIVE; i++)
			die_if(im[k].alloc(im[k].obj, (void *)(uintptr_t)(i + 1), &live_set[k][i]) != 0,
			       "alloc of the live set failed");
		round_lookup(&im[k], live_set[k]);
	}
	for (int i = 0; i < rounds; i++)
		for (int k = 0; k < 2; k++)
			v[k][i] = round_lookup(&im[k], live_set[k]);
	for (int k = 0; k < 2; k++)
		res[k].lookup = bench_median(v[k], (size_t)rounds);

	/*
	 * glibc skips atomic instructions in pthread_mutex_lock/unlock while a
	 * process has never had a second thread.  Everything above ran in that
	 * state (which favours the baseline's locked lookups); a process using
	 * libsva normally runs a fault thread, so measure alloc+free again once
	 * a thread has existed.
	 */
	{
		pthread_t t;

		pthread_create(&t, NULL, nothing, NULL);
		pthread_join(t, NULL);
	}
	for (int i = 0; i < rounds; i++)
		for (int k = 0; k < 2; k++)
			v[k][i] = round_alloc_free(&im[k]);
	for (int k = 0; k < 2; k++)
		res[k].pairs_mt = bench_median(v[k], (size_t)rounds);

	for (int i = 0; i < rounds; i++) {
		for (int k = 0; k < 2; k++) {
			struct churn c = { .im = &im[k] };
			pthread_t t;

			pthread_create(&t, NULL, churn_thread, &c);
			while (!atomic_load(&c.running))
				sched_yield();
			t0 = bench_now_ns();
			v[k][i] = round_lookup(&im[k], live_set[k]);
			atomic_store(&c.stop, true);
			pthread_join(t, NULL);
			rate[k][i] = (double)c.ops * 1e9 / (double)(bench_now_ns() - t0);
		}
	}
	for (int k = 0; k < 2; k++) {
		res[k].churn = bench_median(v[k], (size_t)rounds);
		res[k].churn_rate = bench_median(rate[k], (size_t)rounds);
		drop_impl(&im[k], k == 1);
		free(v[k]);
		free(rate[k]);
	}
}

/* The benchmark, for this program's main and for sva-bench. */
int bench_pasid(int argc, char **argv)
{
	int json = 0, rounds = 7;
	struct result res[2], s, b;
	double dev_pasid_ns, dev_bond_ns;
	const char *lock_mode;
	uint64_t rng = 88172645463325252ull;

	if (bench_args(argc, argv, "bench-pasid", BENCH_MAX_ROUNDS, &json, &rounds))
		return 2;
	freed = calloc(PAIRS, sizeof(*freed));
	/* A shuffled visiting order, so lookups are not a sequential scan. */
	for (uint32_t i = 0; i < BATCH; i++)
		order[i] = i % NLIVE;
	for (uint32_t i = BATCH - 1; i > 0; i--) {
		uint32_t j, t;

		rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
		j = (uint32_t)(rng % (i + 1));
		t = order[i], order[i] = order[j], order[j] = t;
	}

	run(rounds, res);
	run_dev_lookup(rounds, &dev_pasid_ns, &dev_bond_ns);
	lock_mode = sva_lock_mode() == SVA_LOCK_ASYMMETRIC ? "asymmetric" : "symmetric";
	b = res[0];
	s = res[1];

	if (json) {
		/* lookups: the ratio is the baseline's time over libsva's (> 1:
		 * libsva ahead), as for the rates. */
		static const char *const names[5] = { "alloc_free_pairs_per_s", "alloc_free_first_pass_pairs_per_s",
						      "alloc_free_threaded_process_pairs_per_s", "lookup_ns",
						      "lookup_under_churn_ns" };
		const double sv[5] = { s.pairs, s.first, s.pairs_mt, s.lookup, s.churn },
			     bv[5] = { b.pairs, b.first, b.pairs_mt, b.lookup, b.churn };
		json_object *doc = bench_json_made(json_object_new_object()), *o;

		bench_json_int(doc, "rounds", rounds);
		bench_json_int(doc, "cpus", sysconf(_SC_NPROCESSORS_ONLN));
		bench_json_str(doc, "lock_mode", lock_mode);
		for (int i = 0; i < 5; i++) {
			int prec = i < 3 ? 0 : 2;

			o = bench_json_obj(doc, names[i]);
			bench_json_num(o, "libsva", prec, sv[i]);
			bench_json_num(o, "baseline", prec, bv[i]);
			bench_json_num(o, "ratio", 2, i < 3 ? sv[i] / bv[i] : bv[i] / sv[i]);
		}
		o = bench_json_obj(doc, "churn_pairs_per_s");
		bench_json_num(o, "libsva", 0, s.churn_rate);
		bench_json_num(o, "baseline", 0, b.churn_rate);
		o = bench_json_obj(doc, "shared_global_second_device_lookup_ns");
		bench_json_num(o, "sva_dev_pasid_lookup", 2, dev_pasid_ns);
		bench_json_num(o, "sva_dev_bond_lookup", 2, dev_bond_ns);
		bench_json_print(doc);
	} else {
		printf("PASID space benchmark: median of %d round%s (ratio > 1: libsva ahead); lock: %s\n", rounds,
		       rounds == 1 ? "" : "s", lock_mode);
		printf("  %-28s %14s %14s %8s\n", "", "libsva", "baseline", "ratio");
		printf("  %-28s %12.2f M %12.2f M %7.2fx\n", "alloc+free pairs/s", s.pairs / 1e6, b.pairs / 1e6,
		       s.pairs / b.pairs);
		printf("  %-28s %12.2f M %12.2f M %7.2fx\n", "  (first pass, table growth)", s.first / 1e6,
		       b.first / 1e6, s.first / b.first);
		printf("  %-28s %12.2f M %12.2f M %7.2fx\n", "  (in a threaded process)", s.pairs_mt / 1e6,
		       b.pairs_mt / 1e6, s.pairs_mt / b.pairs_mt);
		printf("  %-28s %11.2f ns %11.2f ns %7.2fx\n", "lookup", s.lookup, b.lookup, b.lookup / s.lookup);
		printf("  %-28s %11.2f ns %11.2f ns %7.2fx\n", "lookup under alloc/free churn", s.churn, b.churn,
		       b.churn / s.churn);
		printf("  %-28s %12.2f M %12.2f M\n", "  (churn pairs/s meanwhile)", s.churn_rate / 1e6,
		       b.churn_rate / 1e6);
		printf("  shared global PASID, looked up on a second device:\n");
		printf("  %-28s %11.2f ns\n", "  sva_dev_pasid_lookup", dev_pasid_ns);
		printf("  %-28s %11.2f ns\n", "  sva_dev_bond_lookup", dev_bond_ns);
	}
	free(freed);
	return 0;
}

#ifndef SVA_BENCH_LIBRARY
int main(int argc, char **argv)
{
	return bench_main_done("bench-pasid", bench_pasid(argc, argv));
}
#endif
