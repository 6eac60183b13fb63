/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * bench-fault: the fault engine against a minimal baseline, in one run, on the
 * iommufd selftest mock (the test VM, or a host with CONFIG_IOMMUFD_TEST).
 *
 * The baseline is the least a handler can do: trigger a fault, read one record,
 * map one page at IOVA == VA, answer.  libsva does more per fault (device and
 * bond lookup, VMA and window checks, the chunk table), and must stay within
 * 1.25x of it for random single-page faults; its fault-around must cut faults
 * per page touched at least 8x on sequential access; with 64 faults queued its
 * batching (one read, one write) must at least double the baseline's handling
 * throughput; and a prefaulted job must take no faults.  Only the handler's
 * time is measured: raising the fault is the device's work.  The machines are
 * shared and noisy, so single faults are compared by their median per-fault
 * time, batches in alternating baseline/libsva pairs by the median batch, and
 * every figure is the median over rounds.
 */
#include <getopt.h>
#include <time.h>

#include "bench.h"

#define PG 4096ull
#define REGION 0x40000000ull /* inside the mock aperture [16 MiB, 2 GiB) */
#define NPAGES 1024u	     /* 4 MiB per round */
#define ROUNDS 5
#define QUEUED 64u
#define PAIRS 9 /* baseline/libsva batch pairs per round, interleaved */

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static double median(double *v, int n)
{
	qsort(v, (size_t)n, sizeof(*v), cmp_double);
	return v[n / 2];
}

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

/* The three steps of one baseline fault, timed apart (ns, summed over calls). */
static uint64_t t_read, t_map, t_write;

static void baseline_handle_timed(struct baseline *b)
{
	struct kabi_iommu_hwpt_pgfault rec;
	struct kabi_iommu_hwpt_page_response resp;
	uint64_t t0 = now_ns(), t1, t2;

	if (read(b->fault_fd, &rec, sizeof(rec)) != sizeof(rec))
		bench_bail("baseline: no fault record");
	t1 = now_ns();
	sva_iommufd_ioas_map(b->ctx->fd, b->ioas, rec.addr & ~(PG - 1), PG, rec.addr & ~(PG - 1),
			     KABI_IOMMU_IOAS_MAP_FIXED_IOVA | KABI_IOMMU_IOAS_MAP_READABLE |
				     KABI_IOMMU_IOAS_MAP_WRITEABLE);
	t2 = now_ns();
	resp.cookie = rec.cookie;
	resp.code = KABI_IOMMUFD_PAGE_RESP_SUCCESS;
	if (write(b->fault_fd, &resp, sizeof(resp)) != sizeof(resp))
		bench_bail("baseline: answer refused");
	t_read += t1 - t0;
	t_map += t2 - t1;
	t_write += now_ns() - t2;
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

/* ------------------------------------------------------------ the runs */

struct results {
	double base_rand_ns, sva_rand_ns;	/* median per fault, random single-page */
	double sva_seq_faults;			/* faults per page touched, sequential */
	double sva_seq_pages_per_fault;
	double base_batch_ns, sva_batch_ns; /* per fault, 64 queued on adjacent pages */
	double base_scat_ns, sva_scat_ns;   /* per fault, 64 queued on scattered pages */
	double prefault_faults;		    /* faults a prefaulted job took */
};

static double bsamp[NPAGES], ssamp[NPAGES];

/* Median handling time of NPAGES random single-page faults, each side. */
static void random_faults(struct sva_ctx *ctx, struct sva_dev *dev, struct baseline *b, const uint32_t *order,
			  double *base, double *sva)
{
	struct side s;
	uint64_t t;

	for (uint32_t i = 0; i < NPAGES; i++) {
		baseline_trigger(b, REGION + order[i] * PG);
		t = now_ns();
		baseline_handle_one(b);
		bsamp[i] = (double)(now_ns() - t);
	}
	baseline_unmap(b, REGION, NPAGES * PG);
	side_setup(&s, ctx, dev, PG);
	for (uint32_t i = 0; i < NPAGES; i++) {
		side_trigger(&s, REGION + order[i] * PG);
		t = now_ns();
		if (sva_ctx_process_faults(ctx, 1) != 1)
			bench_bail("libsva did not handle the fault");
		ssamp[i] = (double)(now_ns() - t);
	}
	side_check(&s, NPAGES, "random single-page");
	side_free(&s);
	*base = median(bsamp, NPAGES);
	*sva = median(ssamp, NPAGES);
}

/* Where a baseline fault's time goes (its own pass, not in any ratio). */
static void baseline_breakdown(struct baseline *b, const uint32_t *order)
{
	for (uint32_t i = 0; i < NPAGES; i++) {
		baseline_trigger(b, REGION + order[i] * PG);
		baseline_handle_timed(b);
	}
	baseline_unmap(b, REGION, NPAGES * PG);
}

/*
 * 64 faults queued, then handled: on adjacent pages (a device streaming through
 * a buffer) or scattered ones, queued in no particular order.  libsva's
 * fault-around is one page here, so only batching can help it.  Baseline and
 * libsva batches alternate; each side's figure is its median batch.
 */
static void queued_faults(struct sva_ctx *ctx, struct sva_dev *dev, struct baseline *b, const uint32_t *order,
			  int scattered, uint64_t *seed, double *base, double *sva)
{
	double pb[PAIRS], ps[PAIRS];
	uint32_t pick[QUEUED];
	struct side s;
	uint64_t t;

	for (int pair = 0; pair < PAIRS; pair++) {
		for (uint32_t i = 0; i < QUEUED; i++)
			pick[i] = scattered ? order[(pair * QUEUED + i) % NPAGES] : 256 + i;
		shuffle(pick, QUEUED, seed);
		for (uint32_t i = 0; i < QUEUED; i++)
			baseline_trigger(b, REGION + pick[i] * PG);
		t = now_ns();
		for (uint32_t i = 0; i < QUEUED; i++)
			baseline_handle_one(b);
		pb[pair] = (double)(now_ns() - t) / QUEUED;
		baseline_unmap(b, REGION, NPAGES * PG);

		side_setup(&s, ctx, dev, PG);
		for (uint32_t i = 0; i < QUEUED; i++)
			side_trigger(&s, REGION + pick[i] * PG);
		t = now_ns();
		if (sva_ctx_process_faults(ctx, QUEUED) != (int)QUEUED)
			bench_bail("libsva did not handle the queued faults");
		ps[pair] = (double)(now_ns() - t) / QUEUED;
		side_check(&s, QUEUED, scattered ? "64 queued, scattered" : "64 queued, adjacent");
		side_free(&s);
	}
	*base = median(pb, PAIRS);
	*sva = median(ps, PAIRS);
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

static void run(struct sva_ctx *ctx, struct sva_dev *dev, struct results *res)
{
	double br[ROUNDS], sr[ROUNDS], bb[ROUNDS], sb[ROUNDS], bs[ROUNDS], ss[ROUNDS], sf[ROUNDS], pf[ROUNDS];
	uint32_t order[NPAGES];
	uint64_t seed = 42;
	struct side keeper, s;
	struct baseline b;
	uint8_t *mem;

	mem = bench_map_at(REGION, NPAGES * PG * 2, PROT_READ | PROT_WRITE);
	/* 4 KiB pages only: this measures fault-around, not the whole-huge-page path. */
	if (madvise(mem, NPAGES * PG * 2, MADV_NOHUGEPAGE))
		bench_bail("madvise(MADV_NOHUGEPAGE): %s (a kernel without CONFIG_ADVISE_SYSCALLS?)", strerror(errno));
	memset(mem, 1, NPAGES * PG * 2);
	/* A PASID attach needs the RID on a PASID-compatible domain: a libsva bond
	 * parks it there, and is kept for the whole run. */
	side_setup(&keeper, ctx, dev, 0);
	baseline_setup(&b, ctx, dev);
	for (uint32_t i = 0; i < NPAGES; i++)
		order[i] = i;
	for (int r = 0; r < ROUNDS; r++) {
		shuffle(order, NPAGES, &seed);
		random_faults(ctx, dev, &b, order, &br[r], &sr[r]);
		baseline_breakdown(&b, order);
		queued_faults(ctx, dev, &b, order, 0, &seed, &bb[r], &sb[r]);
		queued_faults(ctx, dev, &b, order, 1, &seed, &bs[r], &ss[r]);

		side_setup(&s, ctx, dev, 0); /* the default fault-around */
		sf[r] = (double)touch(ctx, &s, REGION + NPAGES * PG) / NPAGES;
		side_check(&s, NPAGES, "sequential");
		res->sva_seq_pages_per_fault = (double)side_pages(&s) / (double)side_faults(&s);
		side_free(&s);

		side_setup(&s, ctx, dev, 0);
		if (sva_mm_prefault(s.mm, mem, NPAGES * PG))
			bench_bail("prefault failed");
		pf[r] = (double)touch(ctx, &s, REGION);
		side_free(&s);
	}
	res->base_rand_ns = median(br, ROUNDS);
	res->sva_rand_ns = median(sr, ROUNDS);
	res->base_batch_ns = median(bb, ROUNDS);
	res->sva_batch_ns = median(sb, ROUNDS);
	res->base_scat_ns = median(bs, ROUNDS);
	res->sva_scat_ns = median(ss, ROUNDS);
	res->sva_seq_faults = median(sf, ROUNDS);
	res->prefault_faults = median(pf, ROUNDS);
	baseline_free(&b);
	side_free(&keeper);
	munmap(mem, NPAGES * PG * 2);
}

/* The benchmark, for this program's main and for sva-bench. */
int bench_fault(int argc, char **argv)
{
	struct sva_ctx_opts o = { .size = sizeof(o), .flags = SVA_CTX_FAULT_POLL, .pasid_grace_ns = 1 };
	struct results res = { 0 };
	struct sva_ctx *ctx;
	struct sva_dev *dev;
	int json = argc > 1 && strcmp(argv[1], "--json") == 0;
	double rand_ratio, seq_cut, batch_gain, scat_gain;

	if (sva_ctx_new(&o, &ctx))
		bench_bail("no /dev/iommu (run in the test VM: tests/vm/run-vm.sh --raw)");
	if (sva_dev_open_mock(ctx, NULL, &dev))
		bench_bail("no iommufd selftest mock (CONFIG_IOMMUFD_TEST)");
	run(ctx, dev, &res);
	rand_ratio = res.sva_rand_ns / res.base_rand_ns;
	seq_cut = 1.0 / res.sva_seq_faults;
	batch_gain = res.base_batch_ns / res.sva_batch_ns;
	scat_gain = res.base_scat_ns / res.sva_scat_ns;
	if (json) {
		printf("{\"benchmark\":\"fault\",\"rounds\":%d,\"pages\":%u,"
		       "\"random_single_page\":{\"baseline_ns_per_fault\":%.0f,\"libsva_ns_per_fault\":%.0f,\"ratio\":%.3f,\"target_max\":1.25},"
		       "\"sequential\":{\"baseline_faults_per_page\":%.4f,\"libsva_faults_per_page\":%.4f,\"libsva_pages_per_fault\":%.1f,\"cut\":%.1f,\"target_min\":8},"
		       "\"batch64\":{\"baseline_ns_per_fault\":%.0f,\"libsva_ns_per_fault\":%.0f,\"gain\":%.2f,\"target_min\":2},"
		       "\"batch64_scattered\":{\"baseline_ns_per_fault\":%.0f,\"libsva_ns_per_fault\":%.0f,\"gain\":%.2f},"
		       "\"prefaulted_job\":{\"faults\":%.0f,\"target\":0}}\n",
		       ROUNDS, NPAGES, res.base_rand_ns, res.sva_rand_ns, rand_ratio, 1.0,
		       res.sva_seq_faults, res.sva_seq_pages_per_fault, seq_cut, res.base_batch_ns, res.sva_batch_ns,
		       batch_gain, res.base_scat_ns, res.sva_scat_ns, scat_gain, res.prefault_faults);
	} else {
		printf("bench-fault: %d rounds of %u pages on the iommufd selftest mock, medians\n", ROUNDS, NPAGES);
		printf("  random single-page faults: baseline %.1f us/fault, libsva %.1f us/fault: %.2fx (target <= 1.25x) %s\n",
		       res.base_rand_ns / 1e3, res.sva_rand_ns / 1e3, rand_ratio, rand_ratio <= 1.25 ? "met" : "MISSED");
		printf("  sequential touch: baseline 1 fault/page, libsva %.4f faults/page (%.1f pages/fault): %.1fx fewer (target >= 8x) %s\n",
		       res.sva_seq_faults, res.sva_seq_pages_per_fault, seq_cut, seq_cut >= 8 ? "met" : "MISSED");
		printf("  64 faults queued on adjacent pages: baseline %.1f us/fault, libsva %.1f us/fault: %.2fx throughput (target >= 2x) %s\n",
		       res.base_batch_ns / 1e3, res.sva_batch_ns / 1e3, batch_gain, batch_gain >= 2 ? "met" : "MISSED");
		printf("  64 faults queued on scattered pages: baseline %.1f us/fault, libsva %.1f us/fault: %.2fx throughput\n",
		       res.base_scat_ns / 1e3, res.sva_scat_ns / 1e3, scat_gain);
		printf("  prefaulted job: %.0f faults (target 0) %s\n", res.prefault_faults,
		       res.prefault_faults == 0 ? "met" : "MISSED");
		printf("  (a baseline fault: read %.1f us, map %.1f us, answer %.1f us)\n",
		       (double)t_read / (ROUNDS * NPAGES) / 1e3, (double)t_map / (ROUNDS * NPAGES) / 1e3,
		       (double)t_write / (ROUNDS * NPAGES) / 1e3);
	}
	sva_dev_close(dev);
	sva_ctx_free(ctx);
	return 0;
}

#ifndef SVA_BENCH_LIBRARY
int main(int argc, char **argv)
{
	return bench_fault(argc, argv);
}
#endif
