/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * A fault-record fuzzer (issue 13): hostile page-request records fed to the
 * fault engine through the file-backed path of ktest-fault-groups (the engine
 * reads a file in place of the kernel's queue and writes its answers after
 * the records), with a real bond on the selftest mock behind them, so what
 * resolution maps lands in the kernel's IOAS.
 *
 * Input: records of 16 bytes each, at most 64 a round (one read of the
 * engine's buffer, so its answers never overwrite unread records):
 *   [0] device: < 0xc0 the mock's id, else bytes [0..1] as a raw id
 *   [2] PASID: < 0x80 the bond's, < 0xc0 none (a RID request), else [2..3] raw
 *   [4] flags (the low 4 bits as they come: LAST_PAGE, PASID_VALID, ...)
 *   [5] perm (the low 4 bits: read, write, exec, priv)
 *   [6..7] cookie
 *   [8..15] address; [15] >> 5 picks where: 0-2 in the buffer, 3 its hole,
 *           4 its read-only page, 5 a kernel address, 6 wrapping around 2^64,
 *           7 raw
 * and every 64th record (or the end) closes a round: groups left open run to
 * the end of the read, as the engine treats them.
 *
 * Checked after every round: one answer per group (a LAST_PAGE record, or the
 * round's last), with the cookie of its last record and a valid code; every
 * page any record named, and its neighbours, is either not in the kernel's
 * IOAS or there with the process's bytes, inside the process's mappings and
 * the device window; the read-only page is never writable by the device.
 * At the end: the process grew by less than 16 MiB, the engine's buffer by no
 * more than its bound, and the log by at most the rate limits' lines.
 *
 * The seeds are tests/fuzz/corpus/fault/ (embedded at build time, as the VM
 * carries binaries only), then pseudo-random inputs from a fixed seed.
 * Nothing is written to the tree.
 */
#include <fcntl.h>

#include "ktest.h"
#include "tests/kernel/fault-corpus.h" /* generated from tests/fuzz/corpus/fault */

#define BUF_VA 0x60000000ull /* in the mock aperture [16 MiB, 2 GiB) */
#define BUF_LEN 0x80000u
#define HOLE_OFF 0x40000u /* a 64 KiB hole in it */
#define RO_OFF 0x60000u	  /* a read-only 64 KiB */
#define SUB 0x10000u
#define PG 4096u
#define ROUND 64u
#define RANDOM_INPUTS 200

static struct sva_ctx *ctx;
static struct sva_dev *dev;
static struct sva_mm *mm;
static struct sva_bond *bond;
static int file_fd, real_fd;
static unsigned char *buf;
static atomic_ulong lines, errors;
static unsigned long reports;
static int bad;

static void on_log(void *arg, enum sva_log_level level, const char *msg)
{
	(void)arg;
	(void)msg;
	atomic_fetch_add(&lines, 1);
	if (level == SVA_LOG_ERROR)
		atomic_fetch_add(&errors, 1);
}

static void on_fault_error(struct sva_bond *b, const struct sva_fault_report *r, void *drvdata)
{
	(void)b;
	(void)r;
	(void)drvdata;
	reports++;
}

static uint64_t le(const uint8_t *p, int n)
{
	uint64_t v = 0;

	for (int i = n - 1; i >= 0; i--)
		v = v << 8 | p[i];
	return v;
}

static struct kabi_iommu_hwpt_pgfault decode(const uint8_t *p)
{
	struct kabi_iommu_hwpt_pgfault r = { 0 };
	uint64_t a = le(p + 8, 8), off = a & 0x1fffffffffffull;

	r.dev_id = p[0] < 0xc0 ? dev->info.dev_id : (uint32_t)le(p, 2);
	if (p[2] < 0x80) {
		r.pasid = sva_bond_pasid(bond);
		r.flags = KABI_IOMMU_PGFAULT_FLAGS_PASID_VALID;
	} else if (p[2] >= 0xc0) {
		r.pasid = (uint32_t)le(p + 2, 2);
		r.flags = KABI_IOMMU_PGFAULT_FLAGS_PASID_VALID;
	}
	r.flags ^= p[4] & 0xf;
	r.perm = p[5] & 0xf;
	r.cookie = (uint32_t)le(p + 6, 2);
	r.grpid = r.cookie & 0x1ff;
	switch (p[15] >> 5) {
	case 0:
	case 1:
	case 2:
		r.addr = BUF_VA + off % BUF_LEN;
		break;
	case 3:
		r.addr = BUF_VA + HOLE_OFF + off % SUB;
		break;
	case 4:
		r.addr = BUF_VA + RO_OFF + off % SUB;
		break;
	case 5:
		r.addr = 0xffff800000000000ull | a;
		break;
	case 6:
		r.addr = UINT64_MAX - off % (4 * PG);
		break;
	default:
		r.addr = a;
	}
	return r;
}

/* The kernel's view of one page: not mapped, or mapped with the process's
 * bytes inside what the process maps, and never writable where it is not. */
static void check_page(uint64_t va)
{
	unsigned char back[PG], vec;
	int ret;

	va &= ~(uint64_t)(PG - 1);
	if (va < (16ull << 20) || va >= (2ull << 30))
		return; /* outside the mock's window: the kernel refuses any access */
	ret = ktest_access_rw(ctx, mm->ioas_id, va, back, PG, 0);
	if (ret == -ENOENT || ret == -EINVAL)
		return;
	if (ret) {
		diag("kernel access at 0x%llx: %s", (unsigned long long)va, strerror(-ret));
		bad++;
		return;
	}
	if (mincore((void *)(uintptr_t)va, PG, &vec) || memcmp(back, (void *)(uintptr_t)va, PG)) {
		diag("0x%llx is in the IOAS but not the process's page there", (unsigned long long)va);
		bad++;
		return;
	}
	if (va >= BUF_VA + RO_OFF && va < BUF_VA + RO_OFF + SUB &&
	    ktest_access_rw(ctx, mm->ioas_id, va, back, PG, 1) == 0) {
		diag("the read-only page 0x%llx is writable by the device", (unsigned long long)va);
		bad++;
	}
}

static void round_of(const struct kabi_iommu_hwpt_pgfault *r, size_t n)
{
	struct kabi_iommu_hwpt_page_response resp[ROUND + 1];
	size_t groups = 0, got;
	ssize_t rd;
	int handled;

	if (ftruncate(file_fd, 0) || pwrite(file_fd, r, n * sizeof(*r), 0) != (ssize_t)(n * sizeof(*r)))
		ktest_bail("writing the records: %s", strerror(errno));
	lseek(file_fd, 0, SEEK_SET);
	ktest_queue_use(ctx, file_fd);
	handled = sva_ctx_process_faults(ctx, ROUND);
	ktest_queue_use(ctx, real_fd);
	if (handled != (int)n) {
		diag("%zu records, the engine handled %d", n, handled);
		bad++;
	}
	rd = pread(file_fd, resp, sizeof(resp), (off_t)(n * sizeof(*r)));
	got = rd > 0 ? (size_t)rd / sizeof(resp[0]) : 0;
	for (size_t i = 0; i < n; i++) {
		if (!(r[i].flags & KABI_IOMMU_PGFAULT_FLAGS_LAST_PAGE) && i + 1 < n)
			continue;
		if (groups >= got || resp[groups].cookie != r[i].cookie || resp[groups].code > 1) {
			diag("group %zu (ending at record %zu): no answer, or the wrong one", groups, i);
			bad++;
			return;
		}
		groups++;
	}
	if (got != groups) {
		diag("%zu groups, %zu answers", groups, got);
		bad++;
	}
	for (size_t i = 0; i < n; i++)
		for (int d = -1; d <= 1; d++)
			check_page(r[i].addr + (uint64_t)(d * (int)PG));
}

static void run_input(const uint8_t *data, size_t size)
{
	struct kabi_iommu_hwpt_pgfault r[ROUND];
	size_t n = 0;

	for (size_t off = 0; off + 16 <= size; off += 16) {
		r[n++] = decode(data + off);
		if (n == ROUND) {
			round_of(r, n);
			n = 0;
		}
	}
	if (n)
		round_of(r, n);
}

static long rss_kb(void)
{
	long pages = 0, resident = 0;
	FILE *f = fopen("/proc/self/statm", "r");

	if (f) {
		if (fscanf(f, "%ld %ld", &pages, &resident) != 2)
			resident = 0;
		fclose(f);
	}
	return resident * 4;
}

int main(void)
{
	struct sva_ctx_opts co = { .size = sizeof(co), .pasid_grace_ns = UINT64_MAX, .flags = SVA_CTX_FAULT_POLL,
				   .log_fn = on_log, .log_level = SVA_LOG_INFO };
	struct sva_bond_ops ops = { .size = sizeof(ops), .fault_error = on_fault_error };
	struct sva_bind_opts bo = { .size = sizeof(bo), .ops = &ops };
	struct sva_mm_opts mo = { .size = sizeof(mo), .fault_around = SUB };
	static uint8_t in[ROUND * 16 * 3];
	char path[] = "/tmp/fault-fuzz.XXXXXX";
	uint64_t rng = 0x9e3779b97f4a7c15ull, t0;
	long rss0, rss1;
	double secs;
	int ret;

	ktest_require_iommufd();
	if (sva_ctx_new(&co, &ctx))
		ktest_bail("sva_ctx_new failed");
	ret = sva_dev_open_mock(ctx, NULL, &dev);
	ktest_skip_without_mock(ret);
	if (ret || sva_mm_new(ctx, &mo, &mm) || sva_bind(dev, mm, &bo, &bond))
		ktest_bail("cannot bind the mock");
	real_fd = sva_ctx_fault_fd(ctx);
	file_fd = mkstemp(path);
	if (real_fd < 0 || file_fd < 0)
		ktest_bail("no fault queue, or no file in /tmp");
	unlink(path);
	buf = ktest_map_at(BUF_VA, BUF_LEN, PROT_READ | PROT_WRITE);
	for (unsigned i = 0; i < BUF_LEN; i++)
		buf[i] = (unsigned char)(i * 13 + 1);
	munmap(buf + HOLE_OFF, SUB);
	mprotect(buf + RO_OFF, SUB, PROT_READ);
	plan(6);

	/* Warm up what a first fault allocates, so growth below is the fuzzer's. */
	run_input(fault_corpus[0].data, fault_corpus[0].len);
	rss0 = rss_kb();
	atomic_store(&lines, 0);
	t0 = ktest_now_ns();
	for (size_t i = 0; i < FAULT_CORPUS_N; i++)
		run_input(fault_corpus[i].data, fault_corpus[i].len);
	ok(bad == 0, "%zu corpus inputs: answers, the kernel's view and the read-only page as they must be",
	   (size_t)FAULT_CORPUS_N);
	for (int k = 0; k < RANDOM_INPUTS; k++) {
		size_t n = 16 * (1 + (rng >> 33) % (sizeof(in) / 16));

		for (size_t j = 0; j < n; j++) {
			rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
			in[j] = (uint8_t)(rng >> 24);
		}
		run_input(in, n);
	}
	ok(bad == 0, "%d pseudo-random inputs: likewise", RANDOM_INPUTS);
	secs = (double)(ktest_now_ns() - t0) / 1e9;
	rss1 = rss_kb();
	{
		struct sva_bond_stats st = { .size = sizeof(st) };

		sva_bond_stats(bond, &st);
		diag("fuzz: the bond saw %llu records, %llu INVALID, %llu pages mapped",
		     (unsigned long long)st.faults, (unsigned long long)st.invalid,
		     (unsigned long long)st.pages_mapped);
	}
	diag("fuzz: %.2f s, %lu log lines (%lu errors), %lu fault_error reports, RSS %ld -> %ld KiB", secs,
	     atomic_load(&lines), atomic_load(&errors), reports, rss0, rss1);
	ok(atomic_load(&errors) == 0, "no error lines (%lu)", atomic_load(&errors));
	/* Two rate-limited sources (the context's engine, the bond), BURST a second each. */
	ok(atomic_load(&lines) <= 2 * SVA_LOG_BURST * ((unsigned long)secs + 1), "%lu log lines in %.1f s: bounded",
	   atomic_load(&lines), secs);
	ok(rss1 - rss0 < 16 * 1024, "the process grew by %ld KiB (< 16 MiB)", rss1 - rss0);
	ok(ctx->fe.buf_records <= 4096, "the engine's buffer holds %zu records (<= 4096)", ctx->fe.buf_records);

	close(file_fd);
	sva_unbind(bond);
	sva_mm_free(mm);
	sva_dev_close(dev);
	sva_ctx_free(ctx);
	return done_testing();
}
