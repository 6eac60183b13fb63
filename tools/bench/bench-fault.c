/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * bench-fault: the fault engine and the prefault/invalidate calls against
 * minimal baselines, in one run, on the iommufd selftest mock (the test VM, or
 * a host with CONFIG_IOMMUFD_TEST).
 *
 * The fault baseline is the least a handler can do: trigger a fault, read one
 * record, map one page at IOVA == VA, answer.  libsva does more per fault
 * (device and bond lookup, VMA and window checks, the chunk table, adaptive
 * fault-around).  The prefault baseline is one raw IOMMU_IOAS_MAP of the whole
 * range, the invalidate baseline one IOMMU_IOAS_UNMAP.  Only the handler's
 * time is measured: raising the fault is the device's work.
 *
 * The machines are shared and noisy (the test VM is emulated, TCG), so every
 * figure is measured --rounds times (default 15), baseline and libsva taking
 * turns inside each round (which goes first alternates), and each round gives
 * its own ratio.  A figure reports the median, min and max of those ratios,
 * how many rounds met the target, and a verdict: "met" when the median meets
 * it, at least 3/4 of the rounds do, and so do the medians of the first and
 * the second half of the rounds (two shorter runs, back to back); "missed"
 * when all of that misses (at most 1/4 of the rounds meeting it); "unstable"
 * otherwise: the rounds straddle the target, and another run may well say the
 * opposite (always, with a single round: --rounds 1).
 *
 *   bench-fault [--json] [--rounds N]
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* CPU affinity */
#endif
#include <getopt.h>
#include <pthread.h>
#include <sched.h>
#include <time.h>

#include "bench.h"

#define PG 4096ull
#define REGION 0x40000000ull /* inside the mock aperture [16 MiB, 2 GiB) */
#define NPAGES 1024u	     /* 4 MiB per round */
#define QUEUED 64u
#define PAIRS 9 /* baseline/libsva batch pairs per round, interleaved */

static void shuffle(uint32_t *v, uint32_t n, uint64_t *seed)
{
	for (uint32_t i = n - 1; i > 0; i--) {
		uint32_t j;

		*seed = *seed * 6364136223846793005ull + 1442695040888963407ull;
		j = (uint32_t)((*seed >> 33) % (i + 1));
		uint32_t t = v[i];
		v[i] = v[j];
		v[j] = t;
	}
}

/* ------------------------------------------------------------ the baseline */

struct baseline {
	struct sva_ctx *ctx;
	struct sva_dev *dev;
	uint32_t ioas, fault_id, hwpt, pasid;
	int fault_fd;
};

static void baseline_setup(struct baseline *b, struct sva_ctx *ctx, struct sva_dev *dev)
{
	b->ctx = ctx;
	b->dev = dev;
	b->pasid = 4000;
	if (sva_iommufd_ioas_alloc(ctx->fd, &b->ioas) || sva_iommufd_fault_alloc(ctx->fd, &b->fault_id, &b->fault_fd) ||
	    sva_iommufd_hwpt_alloc(ctx->fd, dev->info.dev_id, b->ioas,
				   KABI_IOMMU_HWPT_FAULT_ID_VALID | KABI_IOMMU_HWPT_ALLOC_PASID, b->fault_id, &b->hwpt) ||
	    dev->be->pasid_attach(dev, b->pasid, b->hwpt))
		bench_bail("baseline setup failed");
}

static void baseline_trigger(struct baseline *b, uint64_t addr)
{
	struct kabi_iommu_test_cmd cmd = { .op = KABI_TEST_OP_TRIGGER_IOPF };

	cmd.trigger_iopf.dev_id = b->dev->info.dev_id;
	cmd.trigger_iopf.pasid = b->pasid;
	cmd.trigger_iopf.perm = KABI_IOMMU_PGFAULT_PERM_READ | KABI_IOMMU_PGFAULT_PERM_WRITE;
	cmd.trigger_iopf.addr = addr;
	if (bench_cmd(b->ctx, &cmd))
		bench_bail("TRIGGER_IOPF failed");
}

/* Read one record, map its page, answer it. */
static void baseline_handle_one(struct baseline *b)
{
	struct kabi_iommu_hwpt_pgfault rec;
	struct kabi_iommu_hwpt_page_response resp;

	if (read(b->fault_fd, &rec, sizeof(rec)) != sizeof(rec))
		bench_bail("baseline: no fault record");
	sva_iommufd_ioas_map(b->ctx->fd, b->ioas, rec.addr & ~(PG - 1), PG, rec.addr & ~(PG - 1),
			     KABI_IOMMU_IOAS_MAP_FIXED_IOVA | KABI_IOMMU_IOAS_MAP_READABLE |
				     KABI_IOMMU_IOAS_MAP_WRITEABLE);
	resp.cookie = rec.cookie;
	resp.code = KABI_IOMMUFD_PAGE_RESP_SUCCESS;
	if (write(b->fault_fd, &resp, sizeof(resp)) != sizeof(resp))
		bench_bail("baseline: answer refused");
}

/* Detach and destroy what the baseline built, before the device goes. */
static void baseline_free(struct baseline *b)
{
	b->dev->be->pasid_detach(b->dev, b->pasid);
	sva_iommufd_destroy(b->ctx->fd, b->hwpt);
	close(b->fault_fd);
	sva_iommufd_destroy(b->ctx->fd, b->fault_id);
	sva_iommufd_destroy(b->ctx->fd, b->ioas);
}

static struct baseline *live_baseline; /* for a bail-out */

static void baseline_free_live(void)
{
	baseline_free(live_baseline);
}

/*
 * Where a random fault's time goes, step by step, each side: per-step samples
 * of one pass per round (baseline: read, map, answer; libsva: read,
 * sva_mm_resolve_fault, answer, and the whole engine), reported as medians.
 */
enum { B_READ, B_MAP, B_WRITE, L_READ, L_RESOLVE, L_WRITE, L_ENGINE, L_RAWMAP, NSTEPS };
static double *steps[NSTEPS];
static size_t nsteps[NSTEPS];

static void step(int k, uint64_t ns)
{
	steps[k][nsteps[k]++] = (double)ns;
}

static void baseline_handle_timed(struct baseline *b)
{
	struct kabi_iommu_hwpt_pgfault rec;
	struct kabi_iommu_hwpt_page_response resp;
	uint64_t t0 = bench_now_ns(), t1, t2;

	if (read(b->fault_fd, &rec, sizeof(rec)) != sizeof(rec))
		bench_bail("baseline: no fault record");
	t1 = bench_now_ns();
	sva_iommufd_ioas_map(b->ctx->fd, b->ioas, rec.addr & ~(PG - 1), PG, rec.addr & ~(PG - 1),
			     KABI_IOMMU_IOAS_MAP_FIXED_IOVA | KABI_IOMMU_IOAS_MAP_READABLE |
				     KABI_IOMMU_IOAS_MAP_WRITEABLE);
	t2 = bench_now_ns();
	resp.cookie = rec.cookie;
	resp.code = KABI_IOMMUFD_PAGE_RESP_SUCCESS;
	if (write(b->fault_fd, &resp, sizeof(resp)) != sizeof(resp))
		bench_bail("baseline: answer refused");
	step(B_READ, t1 - t0);
	step(B_MAP, t2 - t1);
	step(B_WRITE, bench_now_ns() - t2);
}

static void baseline_unmap(struct baseline *b, uint64_t start, uint64_t len)
{
	/* Every page was its own area: unmap them one by one. */
	for (uint64_t a = start; a < start + len; a += PG)
		sva_iommufd_ioas_unmap(b->ctx->fd, b->ioas, a, PG);
}

/* ------------------------------------------------------------ libsva side */

struct side {
	struct sva_ctx *ctx;
	struct sva_dev *dev;
	struct sva_mm *mm;
	struct sva_bond *bond;
};

static void side_setup(struct side *s, struct sva_ctx *ctx, struct sva_dev *dev, uint64_t fault_around)
{
	struct sva_mm_opts mo = { .size = sizeof(mo), .fault_around = fault_around };
	struct sva_bind_opts bo = { .size = sizeof(bo) };

	s->ctx = ctx;
	s->dev = dev;
	if (sva_mm_new(ctx, &mo, &s->mm) || sva_bind(dev, s->mm, &bo, &s->bond))
		bench_bail("libsva setup failed");
}

/* A benchmark of faults answered INVALID would measure nothing: refuse it. */
static void side_check(struct side *s, uint64_t want_pages, const char *what)
{
	struct sva_bond_stats st = { .size = sizeof(st) };

	sva_bond_stats(s->bond, &st);
	if (st.invalid)
		bench_bail("%s: %llu faults answered INVALID", what, (unsigned long long)st.invalid);
	if (want_pages && st.pages_mapped != want_pages)
		bench_bail("%s: %llu pages mapped, expected %llu", what, (unsigned long long)st.pages_mapped,
			   (unsigned long long)want_pages);
}

static void side_free(struct side *s)
{
	sva_unbind(s->bond);
	sva_mm_free(s->mm);
}

static void side_trigger(struct side *s, uint64_t addr)
{
	if (sva_dev_inject_fault(s->dev, sva_bond_pasid(s->bond), addr, SVA_ACCESS_READ | SVA_ACCESS_WRITE, 0))
		bench_bail("inject failed");
}

static uint64_t side_pages(struct side *s)
{
	struct sva_bond_stats st = { .size = sizeof(st) };

	sva_bond_stats(s->bond, &st);
	return st.pages_mapped;
}

static uint64_t side_faults(struct side *s)
{
	struct sva_bond_stats st = { .size = sizeof(st) };

	sva_bond_stats(s->bond, &st);
	return st.faults;
}

/* Is the page visible to the device?  (The kernel's software access path.) */
static int visible(struct sva_ctx *ctx, int access_fd, uint64_t addr)
{
	struct kabi_iommu_test_cmd rw = { .op = KABI_TEST_OP_ACCESS_RW, .id = (uint32_t)access_fd };
	uint8_t byte;

	rw.access_rw.iova = addr;
	rw.access_rw.length = 1;
	rw.access_rw.uptr = (uintptr_t)&byte;
	return bench_cmd(ctx, &rw) == 0;
}

static int access_fd_for(struct sva_ctx *ctx, uint32_t ioas)
{
	struct kabi_iommu_test_cmd c = { .op = KABI_TEST_OP_CREATE_ACCESS, .id = ioas };

	if (bench_cmd(ctx, &c))
		bench_bail("CREATE_ACCESS failed");
	return (int)c.create_access.out_access_fd;
}

/* ------------------------------------------------------------ figures */

#define MAX_ROUNDS BENCH_MAX_ROUNDS

/* One figure: per round, the baseline's and libsva's value and their ratio. */
struct figure {
	const char *key, *what, *unit; /* JSON key, text label, unit of the values */
	int at_most;		       /* the ratio must be <= target (else >=) */
	double target, scale;	       /* scale: unit per raw value (1e-3: ns -> us) */
	int n;
	double base[MAX_ROUNDS], sva[MAX_ROUNDS], ratio[MAX_ROUNDS];
	const char *skipped;
};

/* ratio: libsva's cost over the baseline's (at_most), or the baseline's over
 * libsva's (a gain: fewer faults, more throughput). */
static void add(struct figure *f, double base, double sva)
{
	f->base[f->n] = base;
	f->sva[f->n] = sva;
	f->ratio[f->n] = f->at_most ? sva / base : base / sva;
	f->n++;
}

struct summary {
	double base, sva;
	struct bench_summary r; /* the ratio's */
};

static struct summary summarize(const struct figure *f)
{
	double v[MAX_ROUNDS];
	struct summary s;
	int n = f->n;

	memcpy(v, f->base, sizeof(double) * (size_t)n);
	s.base = bench_median(v, n);
	memcpy(v, f->sva, sizeof(double) * (size_t)n);
	s.sva = bench_median(v, n);
	s.r = bench_summarize(f->ratio, n, 1, f->at_most, f->target);
	return s;
}

/* A figure: its member of doc (--json), else its lines. */
static void print_figure(const struct figure *f, json_object *doc)
{
	struct summary s;
	json_object *o;

	if (doc) {
		if (f->skipped) {
			bench_json_set(doc, f->key, bench_json_outcome("skipped", f->skipped));
			return;
		}
		s = summarize(f);
		o = bench_json_obj(doc, f->key);
		bench_json_str(o, "unit", f->unit);
		bench_json_num4g(o, "baseline", s.base * f->scale);
		bench_json_num4g(o, "libsva", s.sva * f->scale);
		bench_json_ratio(o, &s.r, 1, f->at_most, f->target);
		return;
	}
	if (f->skipped) {
		printf("  %s: skipped (%s)\n", f->what, f->skipped);
		return;
	}
	s = summarize(f);
	printf("  %s: baseline %.4g %s, libsva %.4g %s\n"
	       "    %s %.2fx (min %.2fx, max %.2fx; halves %.2fx, %.2fx), target %s %.2fx: %d/%d rounds, %s\n",
	       f->what, s.base * f->scale, f->unit, s.sva * f->scale, f->unit, f->at_most ? "cost" : "gain", s.r.med,
	       s.r.min, s.r.max, s.r.first_half, s.r.second_half, f->at_most ? "<=" : ">=", f->target, s.r.met, f->n,
	       s.r.verdict);
}

/* ------------------------------------------------------------ the runs */

#define FIGURE(k, w, u, most, tgt, sc) { .key = k, .what = w, .unit = u, .at_most = most, .target = tgt, .scale = sc }
static struct figure f_rand = FIGURE("random_single_page", "random single-page faults", "us/fault", 1, 1.10, 1e-3);
static struct figure f_seq = FIGURE("sequential", "sequential touch (the baseline: 1 fault per page)", "faults/page", 0,
				    16, 1);
static struct figure f_adj = FIGURE("batch64_adjacent", "64 faults queued on adjacent pages", "us/fault", 0, 3, 1e-3);
static struct figure f_scat = FIGURE("batch64_scattered", "64 faults queued on scattered pages", "us/fault", 0, 1.3,
				     1e-3);
/* A refused fault's cost over a resolved one's, both libsva's: a device
 * probing what it may not reach must not cost the engine more than its work. */
static struct figure f_refused = FIGURE("refused_vs_resolved",
					"refused faults (restricted, -ENXIO; the \"baseline\": resolved ones)",
					"us/fault", 1, 1.0, 1e-3);
static struct figure f_pre[2][2], f_inv[2][2]; /* [4 KiB, 2 MiB pages][small, large range] */

static double bsamp[NPAGES], ssamp[NPAGES];
static double sva_pages_per_fault, prefaulted_faults, scat_pages;

/*
 * Random single-page faults, the two sides taking turns fault by fault, so a
 * burst of load on the machine hits both alike, and each fault follows the
 * same work (the other side's fault): the baseline's median per fault and
 * libsva's (default options: adaptive fault-around).  A page that one of
 * libsva's windows already mapped would take no fault on a device: its fault
 * (answered at once) is left out of libsva's samples; the pages per fault say
 * how often windows were larger than a page.
 */
static void random_faults(struct sva_ctx *ctx, struct sva_dev *dev, struct baseline *b, const uint32_t *order,
			  int sva_first, double *base, double *sva)
{
	struct side s;
	uint32_t n = 0;
	uint64_t t, p0, t1;

	side_setup(&s, ctx, dev, 0);
	for (uint32_t i = 0; i < NPAGES; i++) {
		uint64_t a = REGION + order[i] * PG;

		for (int k = 0; k < 2; k++) {
			if ((k == 0) == !sva_first) {
				baseline_trigger(b, a);
				t = bench_now_ns();
				baseline_handle_one(b);
				bsamp[i] = (double)(bench_now_ns() - t);
				continue;
			}
			p0 = side_pages(&s);
			side_trigger(&s, a);
			t = bench_now_ns();
			if (sva_ctx_process_faults(ctx, 1) != 1)
				bench_bail("libsva did not handle the fault");
			t1 = bench_now_ns();
			if (side_pages(&s) > p0)
				ssamp[n++] = (double)(t1 - t);
		}
	}
	baseline_unmap(b, REGION, NPAGES * PG);
	side_check(&s, 0, "random single-page");
	sva_pages_per_fault = (double)side_pages(&s) / (double)n;
	side_free(&s);
	*base = bench_median(bsamp, NPAGES);
	*sva = bench_median(ssamp, (int)n);
}

/*
 * A quarter of the random pages, each faulted twice, the two taking turns: on
 * a default address space (4 KiB fault-around: one page mapped per fault) and
 * on a restricted one with nothing allowed (refused, answered INVALID).
 */
static void refused_faults(struct sva_ctx *ctx, struct sva_dev *dev, const uint32_t *order, int refused_first,
			   double *resolved, double *refused)
{
	struct sva_mm_opts mo = { .size = sizeof(mo), .flags = SVA_MM_RESTRICTED, .fault_around = PG };
	struct sva_bind_opts bo = { .size = sizeof(bo) };
	struct sva_bond_stats st = { .size = sizeof(st) };
	const uint32_t n = NPAGES / 4;
	struct side s, r = { .ctx = ctx, .dev = dev };
	uint64_t t;

	side_setup(&s, ctx, dev, PG);
	if (sva_mm_new(ctx, &mo, &r.mm) || sva_bind(dev, r.mm, &bo, &r.bond))
		bench_bail("restricted setup failed");
	for (uint32_t i = 0; i < n; i++) {
		for (int k = 0; k < 2; k++) {
			int ref = (k == 0) == !!refused_first;

			side_trigger(ref ? &r : &s, REGION + order[i] * PG);
			t = bench_now_ns();
			if (sva_ctx_process_faults(ctx, 1) != 1)
				bench_bail("libsva did not handle the fault");
			(ref ? ssamp : bsamp)[i] = (double)(bench_now_ns() - t);
		}
	}
	side_check(&s, n, "resolved against refused");
	sva_bond_stats(r.bond, &st);
	if (st.invalid != n)
		bench_bail("refused: %llu of %u faults answered INVALID", (unsigned long long)st.invalid, n);
	side_free(&r);
	side_free(&s);
	*resolved = bench_median(bsamp, (int)n);
	*refused = bench_median(ssamp, (int)n);
}

/* The breakdown's passes (each side, in no ratio). */
static void breakdown(struct sva_ctx *ctx, struct sva_dev *dev, struct baseline *b, const uint32_t *order)
{
	int fd = sva_ctx_fault_fd(ctx);
	struct side s;

	for (uint32_t i = 0; i < NPAGES; i++) {
		baseline_trigger(b, REGION + order[i] * PG);
		baseline_handle_timed(b);
	}
	baseline_unmap(b, REGION, NPAGES * PG);
	/* libsva's steps by hand: the raw read, sva_mm_resolve_fault, the raw answer. */
	side_setup(&s, ctx, dev, PG);
	for (uint32_t i = 0; i < NPAGES; i++) {
		struct kabi_iommu_hwpt_pgfault rec;
		struct kabi_iommu_hwpt_page_response resp;
		uint64_t pages, t0, t1, t2;

		side_trigger(&s, REGION + order[i] * PG);
		t0 = bench_now_ns();
		if (read(fd, &rec, sizeof(rec)) != sizeof(rec))
			bench_bail("breakdown: no fault record");
		t1 = bench_now_ns();
		if (sva_mm_resolve_fault(s.mm, &s.bond->fa, rec.addr, 0, 0, SVA_ACCESS_READ | SVA_ACCESS_WRITE, 0, &pages))
			bench_bail("breakdown: resolve failed");
		t2 = bench_now_ns();
		resp.cookie = rec.cookie;
		resp.code = KABI_IOMMUFD_PAGE_RESP_SUCCESS;
		if (write(fd, &resp, sizeof(resp)) != sizeof(resp))
			bench_bail("breakdown: answer refused");
		step(L_READ, t1 - t0);
		step(L_RESOLVE, t2 - t1);
		step(L_WRITE, bench_now_ns() - t2);
	}
	/* The baseline's map, but into libsva's IOAS (its HWPT attached the same
	 * way): what the kernel charges there, apart from libsva's own work. */
	if (sva_mm_invalidate(s.mm, (void *)(uintptr_t)REGION, NPAGES * PG) < 0)
		bench_bail("breakdown: invalidate failed");
	for (uint32_t i = 0; i < NPAGES; i++) {
		uint64_t a = REGION + order[i] * PG, t0 = bench_now_ns();

		sva_iommufd_ioas_map(ctx->fd, s.mm->ioas_id, a, PG, a,
				     KABI_IOMMU_IOAS_MAP_FIXED_IOVA | KABI_IOMMU_IOAS_MAP_READABLE |
					     KABI_IOMMU_IOAS_MAP_WRITEABLE);
		step(L_RAWMAP, bench_now_ns() - t0);
	}
	for (uint32_t i = 0; i < NPAGES; i++)
		sva_iommufd_ioas_unmap(ctx->fd, s.mm->ioas_id, REGION + i * PG, PG);
	side_free(&s);
	/* And the whole engine, for what lies around those steps. */
	side_setup(&s, ctx, dev, PG);
	for (uint32_t i = 0; i < NPAGES; i++) {
		uint64_t t0;

		side_trigger(&s, REGION + order[i] * PG);
		t0 = bench_now_ns();
		sva_ctx_process_faults(ctx, 1);
		step(L_ENGINE, bench_now_ns() - t0);
	}
	side_free(&s);
}

/*
 * 64 faults queued, then handled: on adjacent pages (a device streaming through
 * a buffer) or scattered ones, queued in no particular order.  Baseline and
 * libsva batches alternate, who goes first too; each side's figure is its
 * median batch.
 */
static void queued_faults(struct sva_ctx *ctx, struct sva_dev *dev, struct baseline *b, const uint32_t *order,
			  int scattered, int round, uint64_t *seed, double *base, double *sva)
{
	double pb[PAIRS], ps[PAIRS];
	uint32_t pick[QUEUED];
	struct side s;
	uint64_t t;

	for (int pair = 0; pair < PAIRS; pair++) {
		for (uint32_t i = 0; i < QUEUED; i++)
			pick[i] = scattered ? order[(pair * QUEUED + i) % NPAGES] : 256 + i;
		shuffle(pick, QUEUED, seed);
		/* Who goes first alternates, pair by pair (and round by round). */
		for (int k = 0; k < 2; k++) {
			if ((k == 0) == ((pair + round) & 1)) {
				side_setup(&s, ctx, dev, 0);
				for (uint32_t i = 0; i < QUEUED; i++)
					side_trigger(&s, REGION + pick[i] * PG);
				t = bench_now_ns();
				if (sva_ctx_process_faults(ctx, QUEUED) != (int)QUEUED)
					bench_bail("libsva did not handle the queued faults");
				ps[pair] = (double)(bench_now_ns() - t) / QUEUED;
				side_check(&s, 0, scattered ? "64 queued, scattered" : "64 queued, adjacent");
				if (scattered)
					scat_pages += (double)side_pages(&s) / QUEUED;
				side_free(&s);
				continue;
			}
			for (uint32_t i = 0; i < QUEUED; i++)
				baseline_trigger(b, REGION + pick[i] * PG);
			t = bench_now_ns();
			for (uint32_t i = 0; i < QUEUED; i++)
				baseline_handle_one(b);
			pb[pair] = (double)(bench_now_ns() - t) / QUEUED;
			baseline_unmap(b, REGION, NPAGES * PG);
		}
	}
	*base = bench_median(pb, PAIRS);
	*sva = bench_median(ps, PAIRS);
}

/* Touch pages in order, faulting only where the device sees nothing yet. */
static uint64_t touch(struct sva_ctx *ctx, struct side *s, uint64_t start)
{
	int afd = access_fd_for(ctx, s->mm->ioas_id);

	for (uint32_t i = 0; i < NPAGES; i++) {
		if (visible(ctx, afd, start + i * PG))
			continue;
		side_trigger(s, start + i * PG);
		sva_ctx_process_faults(ctx, 1);
	}
	close(afd);
	return side_faults(s);
}

static void fault_rounds(struct sva_ctx *ctx, struct sva_dev *dev, struct baseline *b, int rounds)
{
	uint32_t order[NPAGES];
	uint64_t seed = 42;
	struct side s;
	uint8_t *mem;

	mem = bench_map_at(REGION, NPAGES * PG * 2, PROT_READ | PROT_WRITE);
	/* 4 KiB pages only: this measures fault-around, not the whole-huge-page path. */
	if (madvise(mem, NPAGES * PG * 2, MADV_NOHUGEPAGE))
		bench_bail("madvise(MADV_NOHUGEPAGE): %s (a kernel without CONFIG_ADVISE_SYSCALLS?)", strerror(errno));
	memset(mem, 1, NPAGES * PG * 2);
	for (uint32_t i = 0; i < NPAGES; i++)
		order[i] = i;
	for (int r = 0; r < rounds; r++) {
		double bv = 0, sv = 0;

		shuffle(order, NPAGES, &seed);
		/* Who goes first alternates, so neither always runs on a warm cache. */
		random_faults(ctx, dev, b, order, r & 1, &bv, &sv);
		add(&f_rand, bv, sv);
		refused_faults(ctx, dev, order, r & 1, &bv, &sv);
		add(&f_refused, bv, sv);
		breakdown(ctx, dev, b, order);
		queued_faults(ctx, dev, b, order, 0, r, &seed, &bv, &sv);
		add(&f_adj, bv, sv);
		queued_faults(ctx, dev, b, order, 1, r, &seed, &bv, &sv);
		add(&f_scat, bv, sv);

		side_setup(&s, ctx, dev, 0);
		add(&f_seq, 1.0, (double)touch(ctx, &s, REGION + NPAGES * PG) / NPAGES);
		side_check(&s, NPAGES, "sequential");
		side_free(&s);

		side_setup(&s, ctx, dev, 0);
		if (sva_mm_prefault(s.mm, mem, NPAGES * PG))
			bench_bail("prefault failed");
		prefaulted_faults += (double)touch(ctx, &s, REGION);
		side_free(&s);
	}
	munmap(mem, NPAGES * PG * 2);
}

/*
 * sva_mm_prefault of a range against one raw IOMMU_IOAS_MAP of it, and
 * sva_mm_invalidate against one IOMMU_IOAS_UNMAP, in 4 KiB or 2 MiB pages.
 * Ratios are the baseline's time over libsva's (>= 0.95: within 5%).
 */
#define PREFAULT_AT 0x48000000ull
#define PF_PAIRS 3

static double maps_samp[4 * MAX_ROUNDS];
static int maps_n;

static void prefault_rounds(struct sva_ctx *ctx, struct sva_dev *dev, struct baseline *b, int rounds, int huge,
			    uint64_t len, struct figure *fp, struct figure *fi)
{
	const uint32_t rw = KABI_IOMMU_IOAS_MAP_FIXED_IOVA | KABI_IOMMU_IOAS_MAP_READABLE | KABI_IOMMU_IOAS_MAP_WRITEABLE;
	uint8_t *mem = bench_map_at(PREFAULT_AT, len, PROT_READ | PROT_WRITE);
	struct side s;

	if (madvise(mem, len, huge ? MADV_HUGEPAGE : MADV_NOHUGEPAGE)) {
		fp->skipped = fi->skipped = "madvise failed";
		goto out;
	}
	memset(mem, 3, len);
	if (huge && !sva_vma_has_thp(PREFAULT_AT)) {
		fp->skipped = fi->skipped = "no transparent huge pages here";
		goto out;
	}
	side_setup(&s, ctx, dev, 0);
	for (int r = 0; r < rounds; r++) {
		double bm[PF_PAIRS], bu[PF_PAIRS], sm[PF_PAIRS], su[PF_PAIRS];
		uint64_t t;

		/* A few turns each per round, who goes first alternating. */
		for (int k = 0; k < 2 * PF_PAIRS; k++) {
			int i = k / 2;

			if ((k & 1) == (r & 1)) {
				t = bench_now_ns();
				int err = sva_iommufd_ioas_map(ctx->fd, b->ioas, PREFAULT_AT, len, PREFAULT_AT, rw);

				if (err)
					bench_bail("raw IOMMU_IOAS_MAP of %llu MiB failed: %s%s", (unsigned long long)(len >> 20),
						   strerror(-err),
						   err == -ENOMEM ? " (is RLIMIT_MEMLOCK large enough? see sva-info --doctor)"
								  : "");
				bm[i] = (double)(bench_now_ns() - t);
				t = bench_now_ns();
				if (sva_iommufd_ioas_unmap(ctx->fd, b->ioas, PREFAULT_AT, len))
					bench_bail("raw IOMMU_IOAS_UNMAP failed");
				bu[i] = (double)(bench_now_ns() - t);
			} else {
				t = bench_now_ns();
				if (sva_mm_prefault(s.mm, mem, len))
					bench_bail("sva_mm_prefault of %llu MiB failed", (unsigned long long)(len >> 20));
				sm[i] = (double)(bench_now_ns() - t);
				t = bench_now_ns();
				if (sva_mm_invalidate(s.mm, mem, len) < (long)len)
					bench_bail("sva_mm_invalidate did not unmap the range");
				su[i] = (double)(bench_now_ns() - t);
			}
		}
		add(fp, bench_median(bm, PF_PAIRS), bench_median(sm, PF_PAIRS));
		add(fi, bench_median(bu, PF_PAIRS), bench_median(su, PF_PAIRS));
		/* What sva_mm_prefault reads first, whatever the size: the mappings. */
		{
			struct sva_vma v[64];
			size_t nv;

			t = bench_now_ns();
			sva_vma_collect(s.mm->maps_fd, PREFAULT_AT, PREFAULT_AT + len, v, 64, &nv);
			maps_samp[maps_n++] = (double)(bench_now_ns() - t);
		}
	}
	side_free(&s);
out:
	munmap(mem, len);
}

/* The benchmark, for this program's main and for sva-bench. */
int bench_fault(int argc, char **argv)
{
	struct sva_ctx_opts o = { .size = sizeof(o), .flags = SVA_CTX_FAULT_POLL, .pasid_grace_ns = 1 };
	static const uint64_t sizes[2] = { 64ull << 20, 256ull << 20 };
	static char key[2][2][2][32], what[2][2][2][64];
	struct sva_ctx *ctx;
	struct sva_dev *dev;
	struct side keeper;
	struct baseline b;
	int json = 0, rounds = 15;

	if (bench_args(argc, argv, "bench-fault", MAX_ROUNDS, &json, &rounds))
		return 2;
	for (int h = 0; h < 2; h++)
		for (int z = 0; z < 2; z++) {
			unsigned mib = (unsigned)(sizes[z] >> 20);

			snprintf(key[h][z][0], sizeof(key[h][z][0]), "prefault_%uMiB_%s", mib, h ? "2M" : "4K");
			snprintf(key[h][z][1], sizeof(key[h][z][1]), "invalidate_%uMiB_%s", mib, h ? "2M" : "4K");
			snprintf(what[h][z][0], sizeof(what[h][z][0]), "sva_mm_prefault, %u MiB in %s pages", mib,
				 h ? "2 MiB" : "4 KiB");
			snprintf(what[h][z][1], sizeof(what[h][z][1]), "sva_mm_invalidate, %u MiB in %s pages", mib,
				 h ? "2 MiB" : "4 KiB");
			f_pre[h][z] = (struct figure)FIGURE(key[h][z][0], what[h][z][0], "ms", 0, 0.95, 1e-6);
			f_inv[h][z] = (struct figure)FIGURE(key[h][z][1], what[h][z][1], "ms", 0, 0.95, 1e-6);
		}

	for (int k = 0; k < NSTEPS; k++)
		if (!(steps[k] = malloc(sizeof(double) * NPAGES * (size_t)rounds)))
			bench_bail("out of memory");
	/*
	 * On one CPU, whoever runs it: sva-bench's pasid benchmark leaves its
	 * thread on CPU 0, and a thread the scheduler moves between (emulated)
	 * CPUs made libsva's longer fault path 0.1x dearer against the baseline.
	 */
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
	/* A PASID attach needs the RID on a PASID-compatible domain: a libsva bond
	 * parks it there, and is kept for the whole run. */
	side_setup(&keeper, ctx, dev, 0);
	baseline_setup(&b, ctx, dev);
	live_baseline = &b;
	bench_on_bail = baseline_free_live;
	fault_rounds(ctx, dev, &b, rounds);
	for (int h = 0; h < 2; h++)
		for (int z = 0; z < 2; z++)
			prefault_rounds(ctx, dev, &b, rounds, h, sizes[z], &f_pre[h][z], &f_inv[h][z]);
	bench_on_bail = NULL;
	baseline_free(&b);
	side_free(&keeper);

	json_object *doc = json ? bench_json_made(json_object_new_object()) : NULL;

	if (json && !doc)
		bench_bail("out of memory making the --json report");
	if (json) {
		bench_json_str(doc, "benchmark", "fault");
		bench_json_int(doc, "rounds", rounds);
		bench_json_int(doc, "pages", NPAGES);
	} else {
		printf("bench-fault: %d round%s on the iommufd selftest mock (a ratio per round; values are medians)\n",
		       rounds, rounds == 1 ? "" : "s");
	}
	print_figure(&f_rand, doc);
	print_figure(&f_seq, doc);
	print_figure(&f_adj, doc);
	print_figure(&f_scat, doc);
	print_figure(&f_refused, doc);
	for (int h = 0; h < 2; h++)
		for (int z = 0; z < 2; z++) {
			print_figure(&f_pre[h][z], doc);
			print_figure(&f_inv[h][z], doc);
		}
	double m[NSTEPS];

	for (int k = 0; k < NSTEPS; k++) {
		m[k] = bench_median(steps[k], (int)nsteps[k]) / 1e3;
		free(steps[k]);
	}
	if (json) {
		json_object *part, *side; /* o is the context's options */

		bench_json_num(doc, "maps_read_ms", 3, maps_n ? bench_median(maps_samp, maps_n) / 1e6 : 0.0);
		bench_json_num(doc, "random_pages_per_fault", 3, sva_pages_per_fault);
		bench_json_num(doc, "scattered_pages_per_fault", 2, scat_pages / (PAIRS * rounds));
		part = bench_json_obj(doc, "prefaulted_job");
		bench_json_num(part, "faults", 0, prefaulted_faults);
		bench_json_target(part, 1, 1, 0);
		bench_json_str(part, "verdict", prefaulted_faults == 0 ? "met" : "missed");
		part = bench_json_obj(doc, "breakdown_us");
		side = bench_json_obj(part, "baseline");
		bench_json_num(side, "read", 2, m[B_READ]);
		bench_json_num(side, "map", 2, m[B_MAP]);
		bench_json_num(side, "answer", 2, m[B_WRITE]);
		side = bench_json_obj(part, "libsva");
		bench_json_num(side, "read", 2, m[L_READ]);
		bench_json_num(side, "resolve", 2, m[L_RESOLVE]);
		bench_json_num(side, "answer", 2, m[L_WRITE]);
		bench_json_num(side, "engine", 2, m[L_ENGINE]);
		bench_json_num(side, "raw_map_in_its_ioas", 2, m[L_RAWMAP]);
		bench_json_print(doc);
	} else {
		printf("  prefaulted job: %.0f faults in all rounds (target 0): %s\n", prefaulted_faults,
		       prefaulted_faults == 0 ? "met" : "missed");
		printf("  pages mapped per fault: random %.3f (adaptive fault-around), scattered batches %.2f (runs bridged)\n",
		       sva_pages_per_fault, scat_pages / (PAIRS * rounds));
		if (maps_n)
			printf("  reading /proc/self/maps, as sva_mm_prefault does first: %.3f ms (median)\n",
			       bench_median(maps_samp, maps_n) / 1e6);
		printf("  where a random fault's time goes (medians, us): baseline read %.2f, map %.2f, answer %.2f;\n"
		       "    libsva read %.2f, sva_mm_resolve_fault %.2f, answer %.2f; the whole engine %.2f;\n"
		       "    the baseline's raw map, into libsva's IOAS: %.2f\n",
		       m[B_READ], m[B_MAP], m[B_WRITE], m[L_READ], m[L_RESOLVE], m[L_WRITE], m[L_ENGINE], m[L_RAWMAP]);
	}
	sva_dev_close(dev);
	sva_ctx_free(ctx);
	return 0;
}

#ifndef SVA_BENCH_LIBRARY
int main(int argc, char **argv)
{
	return bench_main_done("bench-fault", bench_fault(argc, argv));
}
#endif
