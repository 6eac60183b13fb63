/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * bench-budget: what the pin budget costs a device.  A mock device walks a
 * buffer of 1x, 2x and 4x the budget, twice (a ring it comes back to), in
 * order or at random; each access is a 4 KiB read through the kernel's access
 * path (what the device sees), and an access that finds nothing visible
 * raises a fault, which libsva resolves (poll mode) before the access is
 * repeated.  The baseline is the same walk in an address space without a
 * budget, in the same round, the two sides taking turns, PAIRS walks each
 * (who goes first alternates by round); a round's ratio is of their medians.  A figure is throughput: the baseline's time over the budget
 * side's (1.0: no cost), with the re-fault rate (faults on evicted memory
 * over faults) and the verdict rule of bench-fault: "met" when the median,
 * 3/4 of the rounds and both halves' medians meet the target; "missed" when
 * none of that does; "unstable" in between.  Targets: sequential at 4x the
 * budget >= 0.8 (the issue's), and nothing else.
 *
 *   bench-budget [--json] [--rounds N]
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* CPU affinity */
#endif
#include <pthread.h>
#include <sched.h>

#include "bench.h"

#define PG 4096ull
#define REGION 0x40000000ull /* inside the mock aperture [16 MiB, 2 GiB) */
#define BUDGET (1ull << 20)
#define MAX_FACTOR 4u
#define PASSES 2
#define MAX_ROUNDS BENCH_MAX_ROUNDS
#define NFIG 6 /* {sequential, random} x {1x, 2x, 4x} */
#define PAIRS 3 /* walks per side per round, taking turns: the round's value is each side's median */

struct fig {
	const char *pattern;
	unsigned factor;
	double target; /* 0: none */
	int n;
	double ratio[MAX_ROUNDS], base_us[MAX_ROUNDS], budget_us[MAX_ROUNDS], refault_rate[MAX_ROUNDS];
	double faults_base[MAX_ROUNDS], faults_budget[MAX_ROUNDS];
};

struct walker {
	struct sva_ctx *ctx;
	struct sva_dev *dev;
	struct sva_mm *mm;
	struct sva_bond *bond;
	int access_fd;
};

static void walker_setup(struct walker *w, struct sva_ctx *ctx, struct sva_dev *dev, uint64_t budget)
{
	struct sva_mm_opts mo = { .size = sizeof(mo), .pin_budget = budget ? budget : SVA_PIN_UNLIMITED };
	struct sva_bind_opts bo = { .size = sizeof(bo) };
	struct kabi_iommu_test_cmd c = { .op = KABI_TEST_OP_CREATE_ACCESS };

	w->ctx = ctx;
	w->dev = dev;
	if (sva_mm_new(ctx, &mo, &w->mm) || sva_bind(dev, w->mm, &bo, &w->bond))
		bench_bail("libsva setup failed");
	c.id = w->mm->ioas_id;
	if (bench_cmd(ctx, &c))
		bench_bail("CREATE_ACCESS failed");
	w->access_fd = (int)c.create_access.out_access_fd;
}

static void walker_free(struct walker *w)
{
	close(w->access_fd);
	sva_unbind(w->bond);
	sva_mm_free(w->mm);
}

/* The device reads a page: 0, or -ENOENT when nothing is visible there. */
static int device_read(struct walker *w, uint64_t addr, void *buf)
{
	struct kabi_iommu_test_cmd rw = { .op = KABI_TEST_OP_ACCESS_RW, .id = (uint32_t)w->access_fd };

	rw.access_rw.iova = addr;
	rw.access_rw.length = PG;
	rw.access_rw.uptr = (uintptr_t)buf;
	return bench_cmd(w->ctx, &rw);
}

/* Walk the pages of `order` (n of them), faulting where nothing is visible: ns. */
static double walk(struct walker *w, const uint32_t *order, uint32_t n)
{
	static uint8_t buf[PG];
	uint64_t t = bench_now_ns();

	for (int pass = 0; pass < PASSES; pass++)
		for (uint32_t i = 0; i < n; i++) {
			uint64_t a = REGION + order[pass * n + i] * PG;

			if (device_read(w, a, buf) == 0)
				continue;
			if (sva_dev_inject_fault(w->dev, sva_bond_pasid(w->bond), a, SVA_ACCESS_READ, 0) ||
			    sva_ctx_process_faults(w->ctx, 1) != 1 || device_read(w, a, buf))
				bench_bail("a fault at 0x%llx was not resolved", (unsigned long long)a);
		}
	return (double)(bench_now_ns() - t);
}

static uint64_t bond_faults(struct walker *w, uint64_t *invalid)
{
	struct sva_bond_stats st = { .size = sizeof(st) };

	sva_bond_stats(w->bond, &st);
	*invalid = st.invalid;
	return st.faults;
}

static void rng(uint64_t *seed)
{
	*seed = *seed * 6364136223846793005ull + 1442695040888963407ull;
}

static void one_round(struct sva_ctx *ctx, struct sva_dev *dev, struct fig *f, int r, uint64_t *seed)
{
	static uint32_t order[PASSES * MAX_FACTOR * (BUDGET / PG)];
	uint32_t n = (uint32_t)(f->factor * BUDGET / PG);
	double t[2][PAIRS], faults[2] = { 0, 0 }, refaults = 0;

	for (int pass = 0; pass < PASSES; pass++)
		for (uint32_t i = 0; i < n; i++) {
			rng(seed);
			order[pass * n + i] = f->pattern[0] == 's' ? i : (uint32_t)((*seed >> 33) % n);
		}
	for (int k = 0; k < 2 * PAIRS; k++) {
		int budgeted = (k & 1) == (r & 1); /* they take turns; who goes first alternates */
		struct walker w;
		struct sva_mm_stats st = { .size = sizeof(st) };
		uint64_t inv;

		walker_setup(&w, ctx, dev, budgeted ? BUDGET : 0);
		t[budgeted][k / 2] = walk(&w, order, n);
		faults[budgeted] = (double)bond_faults(&w, &inv);
		if (inv)
			bench_bail("%llu faults answered INVALID", (unsigned long long)inv);
		sva_mm_stats(w.mm, &st);
		if (budgeted) {
			if (st.bytes_pinned_peak > BUDGET)
				bench_bail("pinned %llu bytes, over the budget", (unsigned long long)st.bytes_pinned_peak);
			refaults = (double)st.refaults;
		}
		walker_free(&w);
	}
	f->base_us[f->n] = bench_median(t[0], PAIRS) / 1e3;
	f->budget_us[f->n] = bench_median(t[1], PAIRS) / 1e3;
	f->ratio[f->n] = f->base_us[f->n] / f->budget_us[f->n];
	f->faults_base[f->n] = faults[0];
	f->faults_budget[f->n] = faults[1];
	f->refault_rate[f->n] = faults[1] ? refaults / faults[1] : 0;
	f->n++;
}

/* A figure: its member of figs (--json), else its lines. */
static void print_fig(struct fig *f, json_object *figs)
{
	struct bench_summary s = bench_summarize(f->ratio, f->n, f->target != 0, 0, f->target);
	double base, bud, fb, fbu, rr;

	base = bench_median(f->base_us, f->n);
	bud = bench_median(f->budget_us, f->n);
	fb = bench_median(f->faults_base, f->n);
	fbu = bench_median(f->faults_budget, f->n);
	rr = bench_median(f->refault_rate, f->n);
	if (figs) {
		char key[64];
		json_object *o, *faults;

		snprintf(key, sizeof(key), "%s_%ux", f->pattern, f->factor);
		o = bench_json_obj(figs, key);
		bench_json_num(o, "unbounded_ms", 3, base / 1e3);
		bench_json_num(o, "budget_ms", 3, bud / 1e3);
		faults = bench_json_obj(o, "faults");
		bench_json_num(faults, "unbounded", 0, fb);
		bench_json_num(faults, "budget", 0, fbu);
		bench_json_num(o, "refault_rate", 3, rr);
		bench_json_ratio(o, &s, f->target != 0, 0, f->target);
		return;
	}
	printf("  %-10s %ux the budget: unbounded %.2f ms, budget %.2f ms: throughput %.2fx (min %.2fx, max %.2fx; "
	       "halves %.2fx, %.2fx)\n"
	       "    faults %.0f vs %.0f, re-fault rate %.2f",
	       f->pattern, f->factor, base / 1e3, bud / 1e3, s.med, s.min, s.max, s.first_half, s.second_half, fb, fbu,
	       rr);
	if (f->target)
		printf("; target >= %.2fx: %d/%d rounds, %s\n", f->target, s.met, f->n, s.verdict);
	else
		printf("\n");
}

int bench_budget(int argc, char **argv)
{
	struct sva_ctx_opts o = { .size = sizeof(o), .flags = SVA_CTX_FAULT_POLL, .pasid_grace_ns = 1 };
	static struct fig figs[NFIG];
	struct sva_ctx *ctx;
	struct sva_dev *dev;
	uint8_t *mem;
	uint64_t seed = 17;
	int json = 0, rounds = 9;

	if (bench_args(argc, argv, "bench-budget", MAX_ROUNDS, &json, &rounds))
		return 2;
	for (int p = 0; p < 2; p++)
		for (int k = 0; k < 3; k++) {
			struct fig *f = &figs[p * 3 + k];

			f->pattern = p ? "random" : "sequential";
			f->factor = 1u << k;
			f->target = (!p && f->factor == 4) ? 0.8 : 0;
		}
	/* On one CPU, as bench-fault: a thread moving between (emulated) CPUs
	 * adds more noise than the figures can stand. */
	{
		cpu_set_t set;

		CPU_ZERO(&set);
		CPU_SET(0, &set);
		pthread_setaffinity_np(pthread_self(), sizeof(set), &set);
	}
	if (sva_ctx_new(&o, &ctx))
		bench_bail("no /dev/iommu (run in the test VM: tests/vm/run-vm.sh --raw)");
	if (sva_dev_open_mock(ctx, NULL, &dev))
		bench_bail("no iommufd selftest mock (CONFIG_IOMMUFD_TEST)");
	mem = bench_map_at(REGION, MAX_FACTOR * BUDGET, PROT_READ | PROT_WRITE);
	/* 4 KiB pages: fault-around and eviction, not whole huge pages. */
	madvise(mem, MAX_FACTOR * BUDGET, MADV_NOHUGEPAGE);
	memset(mem, 5, MAX_FACTOR * BUDGET);
	for (int r = 0; r < rounds; r++)
		for (int i = 0; i < NFIG; i++)
			one_round(ctx, dev, &figs[i], r, &seed);
	munmap(mem, MAX_FACTOR * BUDGET);
	sva_dev_close(dev);
	sva_ctx_free(ctx);

	json_object *doc = json ? bench_json_made(json_object_new_object()) : NULL, *figures = NULL;

	if (json) {
		bench_json_str(doc, "benchmark", "budget");
		bench_json_int(doc, "rounds", rounds);
		bench_json_int(doc, "budget_bytes", (long long)BUDGET);
		bench_json_int(doc, "passes", PASSES);
		figures = bench_json_obj(doc, "figures");
	} else {
		printf("bench-budget: %d round%s on the iommufd selftest mock; a %llu KiB pin budget against none, a "
		       "device walking the buffer %d times (medians)\n",
		       rounds, rounds == 1 ? "" : "s", BUDGET >> 10, PASSES);
	}
	if (json && !figures)
		bench_json_print(doc); /* out of memory: bails out */
	for (int i = 0; i < NFIG; i++)
		print_fig(&figs[i], figures);
	if (json)
		bench_json_print(doc);
	return 0;
}

#ifndef SVA_BENCH_LIBRARY
int main(int argc, char **argv)
{
	return bench_main_done("bench-budget", bench_budget(argc, argv));
}
#endif
