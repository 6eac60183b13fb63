/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Lock-free lookups racing unbind and rebind under one PASID value.  Threads
 * call sva_dev_bond_lookup() and sva_dev_pasid_lookup() in a loop while the
 * main thread unbinds the bond and binds again under the same value: the
 * lookups must never touch a freed bond (AddressSanitizer and
 * ThreadSanitizer run this in the asan and tsan tiers) and must only ever
 * return the drvdata of a bond of that device.  Two cases: a private PASID
 * (a device space narrowed to one value, grace 1 ns, so every rebind gets
 * it back) and an address space's global PASID on a second device, kept
 * allocated by the first device's bond.  Then sva_dev_iova_ranges() racing
 * a RID unbind and the sva_mm_free() after it: the answer is the ranges or
 * -ENOTCONN, never the kernel's -ENOENT for the IOAS freed meanwhile.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <unistd.h>

#include "ktest.h"

#define RUN_NS 1500000000ull /* per case; TCG and the sanitizers are slow */
#define LOOKERS 3

static int token_a, token_b; /* drvdata of the two devices' bonds */

struct race {
	struct sva_dev *dev;
	uint32_t pasid;
	void *want; /* the only drvdata a lookup on dev may return */
	atomic_bool stop;
	atomic_ulong hits, misses, bad;
};

static void *looker(void *arg)
{
	struct race *r = arg;

	while (!atomic_load_explicit(&r->stop, memory_order_relaxed)) {
		struct sva_bond *b = NULL;
		void *d = NULL, *d2 = NULL;
		int ret = sva_dev_bond_lookup(r->dev, r->pasid, &b, &d);
		int ret2 = sva_dev_pasid_lookup(r->dev, r->pasid, &d2);

		if (ret == 0 && (d != r->want || !b))
			atomic_fetch_add(&r->bad, 1);
		else if ((ret2 == 0 && d2 != r->want) || (ret2 && ret2 != -ENOENT) || (ret && ret != -ENOENT))
			atomic_fetch_add(&r->bad, 1);
		else if (ret == 0)
			atomic_fetch_add_explicit(&r->hits, 1, memory_order_relaxed);
		else
			atomic_fetch_add_explicit(&r->misses, 1, memory_order_relaxed);
	}
	return NULL;
}

/* Unbind and rebind *bond with `opts` on r->dev for RUN_NS while LOOKERS threads look it up. */
static void race(const char *what, struct race *r, struct sva_mm *mm, const struct sva_bind_opts *opts,
		 struct sva_bond **bond)
{
	pthread_t t[LOOKERS];
	unsigned long rebinds = 0, moved = 0;
	uint64_t end = ktest_now_ns() + RUN_NS;
	int ret = 0;

	for (int i = 0; i < LOOKERS; i++)
		pthread_create(&t[i], NULL, looker, r);
	while (ktest_now_ns() < end) {
		ret = sva_unbind(*bond);
		if (ret)
			break;
		*bond = NULL;
		ret = sva_bind(r->dev, mm, opts, bond);
		if (ret)
			break;
		rebinds++;
		moved += sva_bond_pasid(*bond) != r->pasid;
	}
	atomic_store(&r->stop, true);
	for (int i = 0; i < LOOKERS; i++)
		pthread_join(t[i], NULL);
	is_int(ret, 0, "%s: unbind and rebind ran without error", what);
	ok(rebinds > 10, "%s: %lu rebinds", what, rebinds);
	is_int(moved, 0, "%s: every rebind came back under PASID %u", what, r->pasid);
	is_int(atomic_load(&r->bad), 0, "%s: no lookup returned another bond's drvdata or a bad error", what);
	ok(atomic_load(&r->hits) > 0 && atomic_load(&r->misses) > 0,
	   "%s: lookups both found the bond (%lu) and missed it (%lu) while it came and went", what,
	   atomic_load(&r->hits), atomic_load(&r->misses));
}

/* dev.c, tests only: called once sva_dev_iova_ranges() has the RID's IOAS. */
extern void (*sva_test_iova_ranges_hook)(struct sva_dev *dev);

/* 1: a query holds the RID's IOAS; 2: the unbind and sva_mm_free() returned. */
static atomic_int ranges_step;

/* Wait for the unbind and free, 300 ms at most: a query that keeps them out
 * meanwhile (as it must) lets them go when it is done. */
static void hold_ranges(struct sva_dev *dev)
{
	uint64_t end = ktest_now_ns() + 300000000ull;

	(void)dev;
	atomic_store(&ranges_step, 1);
	while (atomic_load(&ranges_step) != 2 && ktest_now_ns() < end)
		usleep(1000);
}

struct ranges_race {
	struct sva_dev *dev;
	atomic_bool stop;
	atomic_ulong got, notconn, bad;
	atomic_int bad_ret;
	int ret; /* of the one call under the hook */
};

static void ranges_answer(struct ranges_race *r, int ret)
{
	if (ret == 0)
		atomic_fetch_add_explicit(&r->got, 1, memory_order_relaxed);
	else if (ret == -ENOTCONN)
		atomic_fetch_add_explicit(&r->notconn, 1, memory_order_relaxed);
	else {
		atomic_fetch_add(&r->bad, 1);
		atomic_store(&r->bad_ret, ret);
	}
}

static void *ranges_once(void *arg)
{
	struct ranges_race *r = arg;
	struct sva_iova_range rg[8];
	size_t nr = 8;

	r->ret = sva_dev_iova_ranges(r->dev, rg, &nr);
	return NULL;
}

static void *ranges_loop(void *arg)
{
	struct ranges_race *r = arg;

	while (!atomic_load_explicit(&r->stop, memory_order_relaxed)) {
		struct sva_iova_range rg[8];
		size_t nr = 8;

		ranges_answer(r, sva_dev_iova_ranges(r->dev, rg, &nr));
	}
	return NULL;
}

/*
 * Review Z95: sva_dev_iova_ranges() read the RID's IOAS under the device's
 * lock and asked the kernel after it, so a RID unbind and the sva_mm_free()
 * of its address space in between made it return the kernel's -ENOENT (17
 * in 300 rounds on the mock), an answer sva_dev_iova_ranges(3) does not
 * give for a device unbound meanwhile.  First the one interleaving, held
 * open by a test hook; then unhooked rounds for the sanitizer tiers.
 */
static void ranges_vs_unbind(struct sva_ctx *ctx, struct sva_dev *dev)
{
	struct sva_bind_opts ro = { .size = sizeof(ro), .flags = SVA_BIND_PINNED | SVA_BIND_RID };
	struct ranges_race r = { .dev = dev };
	unsigned long rounds = 0;
	struct sva_bond *rid;
	struct sva_mm *mm;
	pthread_t t;
	int ret = 0;
	uint64_t end;

	if (sva_mm_new(ctx, NULL, &mm) || sva_bind(dev, mm, &ro, &rid))
		ktest_bail("IOVA ranges: an address space and a RID bind failed");
	atomic_store(&ranges_step, 0);
	sva_test_iova_ranges_hook = hold_ranges;
	pthread_create(&t, NULL, ranges_once, &r);
	while (atomic_load(&ranges_step) != 1)
		usleep(1000);
	ret = sva_unbind(rid);
	sva_mm_free(mm);
	atomic_store(&ranges_step, 2);
	pthread_join(t, NULL);
	sva_test_iova_ranges_hook = NULL;
	is_int(ret, 0, "IOVA ranges vs unbind: the RID unbind succeeds");
	ok(r.ret == 0 || r.ret == -ENOTCONN,
	   "IOVA ranges vs unbind: a query that found the RID attached answers its ranges or -ENOTCONN, not the "
	   "kernel's error for the freed IOAS (got %d)",
	   r.ret);

	pthread_create(&t, NULL, ranges_loop, &r);
	end = ktest_now_ns() + RUN_NS;
	while (ktest_now_ns() < end) {
		ro.flags = SVA_BIND_RID | (rounds & 1 ? SVA_BIND_PINNED : 0);
		ret = sva_mm_new(ctx, NULL, &mm);
		if (ret)
			break;
		ret = sva_bind(dev, mm, &ro, &rid);
		ret = ret ? ret : sva_unbind(rid);
		sva_mm_free(mm);
		if (ret)
			break;
		rounds++;
	}
	atomic_store(&r.stop, true);
	pthread_join(t, NULL);
	is_int(ret, 0, "IOVA ranges vs unbind: %lu rounds of sva_mm_new, RID bind, unbind and sva_mm_free", rounds);
	ok(rounds > 10 && atomic_load(&r.got) > 0, "IOVA ranges vs unbind: queries answered meanwhile (%lu, %lu -ENOTCONN)",
	   atomic_load(&r.got), atomic_load(&r.notconn));
	is_int(atomic_load(&r.bad), 0, "IOVA ranges vs unbind: no other answer (last %d)", atomic_load(&r.bad_ret));
}

int main(void)
{
	struct sva_ctx_opts co = { .size = sizeof(co), .flags = SVA_CTX_FAULT_POLL, .pasid_grace_ns = 1,
				   .log_level = SVA_LOG_ERROR };
	struct sva_bind_opts bo = { .size = sizeof(bo), .flags = SVA_BIND_PINNED, .policy = SVA_PASID_DEVICE,
				    .drvdata = &token_a };
	struct sva_bond *b1 = NULL, *b2 = NULL;
	struct sva_dev *d1, *d2;
	struct sva_ctx *ctx;
	struct sva_mm *mm;
	int ret;

	ktest_require_iommufd();
	if (sva_ctx_new(&co, &ctx))
		ktest_bail("sva_ctx_new failed");
	ret = sva_dev_open_mock(ctx, NULL, &d1);
	ktest_skip_without_mock(ret);
	if (ret || sva_dev_open_mock(ctx, NULL, &d2) || sva_mm_new(ctx, NULL, &mm))
		ktest_bail("opening two mock devices and an address space failed");

	/* A private PASID: the only value of d1's own space. */
	is_int(sva_dev_set_pasid_range(d1, 1, 1), 0, "narrow d1's own space to PASID 1");
	is_int(sva_bind(d1, mm, &bo, &b1), 0, "bind d1 under its own PASID");
	is_int(sva_bond_pasid(b1), 1, "PASID 1");
	race("private PASID", &(struct race){ .dev = d1, .pasid = 1, .want = &token_a }, mm, &bo, &b1);
	is_int(sva_unbind(b1), 0, "unbind d1");

	/* The address space's global PASID, held by d1 while d2 comes and goes. */
	bo.policy = SVA_PASID_GLOBAL;
	is_int(sva_bind(d1, mm, &bo, &b1), 0, "bind d1 GLOBAL");
	bo.drvdata = &token_b;
	bo.policy = SVA_PASID_AUTO;
	is_int(sva_bind(d2, mm, &bo, &b2), 0, "bind d2 AUTO");
	ok(b1 && b2 && sva_bond_pasid(b2) == sva_bond_pasid(b1), "d2 binds under the address space's global PASID %u",
	   b1 ? sva_bond_pasid(b1) : 0);
	if (b1 && b2 && sva_bond_pasid(b2) == sva_bond_pasid(b1))
		race("shared global PASID on d2", &(struct race){ .dev = d2, .pasid = sva_bond_pasid(b1), .want = &token_b },
		     mm, &bo, &b2);
	sva_unbind(b2);
	/* d1 keeps its PASID bond: its RID is parked after each unbind. */
	ranges_vs_unbind(ctx, d1);
	sva_unbind(b1);
	sva_mm_free(mm);
	sva_dev_close(d2);
	sva_dev_close(d1);
	sva_ctx_free(ctx);
	return done_testing();
}
