/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * A fault storm on one bond while another thread binds and unbinds a bond of
 * another device and address space (issue 13), on the selftest mock with the
 * fault thread.  The storm: a thread keeps up to 256 faults pending on bond A,
 * all at an unmapped address (each answered INVALID), for as long as the
 * unbinds go on, so the queue never empties.
 *
 * Reported: unbind latency (median, worst), log lines a second, the re-reads of
 * /proc/self/maps.  Asserted: every unbind returned while the storm went on
 * (the engine used to hold its lock for a whole drain, so an unbind waited for
 * the storm to end); the median unbind under 100 ms; at most the rate limit's
 * lines a second about the faults; far fewer map re-reads than faults (there
 * was one a fault).
 *
 * Not asserted: a bound on the worst unbind.  On a 2-CPU TCG guest whose host
 * is busy, single unbinds took up to 1.6 s (CI) with 5-10 ms medians, all of
 * it inside the kernel's detach ioctl.  Holding the fault thread off around
 * that ioctl (tried) only moved the stall into the batch the unbind then
 * waited for: single 64-record batches, 1-5 ms otherwise, took up to 0.45 s
 * in their read() or their resolution.  That is the host's scheduling, which
 * no library can bound; the worst is reported.
 */
#include <pthread.h>

#include "ktest.h"

extern atomic_uint sva_test_vma_reads; /* vma.c, libsva-test only */

#define HOLE 0x70000000ull /* in the mock aperture, never mapped */
#define PENDING 256
#define UNBINDS 30
/* Long enough that only an unbind waiting for the storm sees it end. */
#define STORM_MAX_NS 60000000000ull

static atomic_bool stop, storm_over;
static atomic_uint fault_lines, all_lines;
static _Atomic uint64_t injected;

static void on_log(void *arg, enum sva_log_level level, const char *msg)
{
	(void)arg;
	(void)level;
	atomic_fetch_add(&all_lines, 1);
	if (strstr(msg, "I/O page fault"))
		atomic_fetch_add(&fault_lines, 1);
}

struct storm {
	struct sva_dev *dev;
	struct sva_bond *bond;
};

static void *storm(void *arg)
{
	struct storm *s = arg;
	struct sva_bond_stats st = { .size = sizeof(st) };
	uint32_t pasid = sva_bond_pasid(s->bond);

	uint64_t end = ktest_now_ns() + STORM_MAX_NS;

	/* Bounded, so the test ends even where an unbind waits for the storm. */
	while (!atomic_load(&stop) && ktest_now_ns() < end) {
		sva_bond_stats(s->bond, &st);
		if (atomic_load(&injected) - st.faults >= PENDING) {
			usleep(100);
			continue;
		}
		if (sva_dev_inject_fault(s->dev, pasid, HOLE + (atomic_load(&injected) % 64) * 4096, SVA_ACCESS_READ,
					 0) == 0)
			atomic_fetch_add(&injected, 1);
	}
	atomic_store(&storm_over, true);
	return NULL;
}

static int by_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

int main(void)
{
	struct sva_ctx_opts co = { .size = sizeof(co), .pasid_grace_ns = UINT64_MAX, .log_fn = on_log,
				   .log_level = SVA_LOG_INFO };
	struct sva_bond_stats st = { .size = sizeof(st) };
	struct sva_dev *dev_a, *dev_b;
	struct sva_mm *mm_a, *mm_b;
	struct sva_bond *bond_a, *bond_b;
	uint64_t lat[UNBINDS], t_storm, t0, t1, faults0, faults1, f_lines;
	unsigned reads0, reads1;
	struct storm s;
	pthread_t t;
	struct sva_ctx *ctx = NULL;
	int ret, bad = 0;

	ktest_require_iommufd();
	if (sva_ctx_new(&co, &ctx))
		ktest_bail("sva_ctx_new failed");
	ret = sva_dev_open_mock(ctx, NULL, &dev_a);
	ktest_skip_without_mock(ret);
	if (ret || sva_dev_open_mock(ctx, NULL, &dev_b))
		ktest_bail("cannot open two mock devices");
	if (sva_mm_new(ctx, NULL, &mm_a) || sva_mm_new(ctx, NULL, &mm_b) || sva_bind(dev_a, mm_a, NULL, &bond_a))
		ktest_bail("cannot bind the storm's bond");
	plan(12);

	s.dev = dev_a;
	s.bond = bond_a;
	t_storm = ktest_now_ns();
	pthread_create(&t, NULL, storm, &s);
	usleep(200000); /* the storm is on: PENDING faults wait */
	sva_bond_stats(bond_a, &st);
	faults0 = st.faults;
	reads0 = atomic_load(&sva_test_vma_reads);
	t0 = ktest_now_ns();
	for (int i = 0; i < UNBINDS; i++) {
		uint64_t u0;

		if (sva_bind(dev_b, mm_b, NULL, &bond_b)) {
			bad++;
			lat[i] = 0;
			continue;
		}
		usleep(30000);
		u0 = ktest_now_ns();
		if (sva_unbind(bond_b))
			bad++;
		lat[i] = ktest_now_ns() - u0;
	}
	t1 = ktest_now_ns();
	bool storm_on = !atomic_load(&storm_over);
	f_lines = atomic_load(&fault_lines);
	reads1 = atomic_load(&sva_test_vma_reads);
	sva_bond_stats(bond_a, &st);
	faults1 = st.faults;
	atomic_store(&stop, true);
	pthread_join(t, NULL);

	is_int(bad, 0, "%d binds and unbinds of another device during the storm", UNBINDS);
	qsort(lat, UNBINDS, sizeof(lat[0]), by_u64);
	double secs = (double)(t1 - t0) / 1e9;
	diag("storm: %llu faults in %.2f s (%.0f/s), all INVALID", (unsigned long long)(faults1 - faults0), secs,
	     (double)(faults1 - faults0) / secs);
	diag("unbind latency during the storm: median %.2f ms, worst %.2f ms (then %.2f, %.2f)",
	     (double)lat[UNBINDS / 2] / 1e6, (double)lat[UNBINDS - 1] / 1e6, (double)lat[UNBINDS - 2] / 1e6,
	     (double)lat[UNBINDS - 3] / 1e6);
	double storm_secs = (double)(t1 - t_storm) / 1e9;

	diag("log lines about faults: %llu in %.2f s of storm (%.1f/s); /proc/self/maps read %u times",
	     (unsigned long long)f_lines, storm_secs, (double)f_lines / storm_secs, reads1 - reads0);
	ok(faults1 - faults0 >= 200, "the storm went on: %llu faults answered meanwhile",
	   (unsigned long long)(faults1 - faults0));
	ok(storm_on, "the storm was still on when the last unbind returned: none waited for it to end");
	ok(lat[UNBINDS / 2] < 100000000ull, "median unbind %.2f ms < 100 ms: it waits for a batch, not the storm",
	   (double)lat[UNBINDS / 2] / 1e6);
	ok((double)f_lines <= SVA_LOG_BURST * (storm_secs + 1), "%llu lines about faults in %.2f s: rate-limited",
	   (unsigned long long)f_lines, storm_secs);
	ok(reads1 - reads0 < (faults1 - faults0) / 10,
	   "repeated faults at an unmapped address re-read /proc/self/maps %u times for %llu faults", reads1 - reads0,
	   (unsigned long long)(faults1 - faults0));

	/* The storm's pending faults are still being answered: wait until every
	 * one injected is, so the counts below are this test's alone. */
	for (int ms = 0; ms < 10000; ms++) {
		sva_bond_stats(bond_a, &st);
		if (st.faults >= atomic_load(&injected))
			break;
		usleep(1000);
	}
	is_int(st.faults, atomic_load(&injected), "every fault of the storm was answered after it");

	/* The cheap refusal must not hide a mapping made since (mmap sends no
	 * coherence event): refused while unmapped, resolved once mapped. */
	{
		const uint64_t fresh = HOLE + (1ull << 20);
		unsigned char back[4096];
		uint64_t inv0;

		sva_bond_stats(bond_a, &st);
		inv0 = st.invalid;
		ktest_inject_and_wait(dev_a, bond_a, fresh, SVA_ACCESS_READ, 5000);
		sva_bond_stats(bond_a, &st);
		is_int(st.invalid - inv0, 1, "a fault at a page nothing maps is refused");
		memset(ktest_map_at(fresh, 4096, PROT_READ | PROT_WRITE), 0x5a, 4096);
		ktest_inject_and_wait(dev_a, bond_a, fresh, SVA_ACCESS_READ, 5000);
		sva_bond_stats(bond_a, &st);
		ok(st.invalid - inv0 == 1 && ktest_access_rw(ctx, mm_a->ioas_id, fresh, back, 4096, 0) == 0 &&
			   back[0] == 0x5a,
		   "mapped there since, with no event: the next fault there resolves it");
	}
	/* A guard page (mapped, PROT_NONE) and a read-only page written to: the
	 * VMA is there and refuses the access, which mprotect() could have changed
	 * without an event, so each refusal asks the kernel about that one VMA
	 * (PROCMAP_QUERY) rather than reading every mapping again. */
	{
		const uint64_t guard = HOLE + (2ull << 20), ro = HOLE + (3ull << 20);
		uint64_t inv0, r0;
		int n = 200;

		ktest_map_at(guard, 4096, PROT_NONE);
		ktest_map_at(ro, 4096, PROT_READ);
		sva_bond_stats(bond_a, &st);
		inv0 = st.invalid;
		r0 = atomic_load(&sva_test_vma_reads);
		for (int i = 0; i < n; i++) {
			ktest_inject_and_wait(dev_a, bond_a, guard, SVA_ACCESS_READ, 5000);
			ktest_inject_and_wait(dev_a, bond_a, ro, SVA_ACCESS_WRITE, 5000);
		}
		sva_bond_stats(bond_a, &st);
		is_int(st.invalid - inv0, 2 * n, "%d faults at a guard page and writes to a read-only page are refused",
		       2 * n);
		ok(atomic_load(&sva_test_vma_reads) - r0 < (unsigned)n / 10,
		   "and they re-read /proc/self/maps %u times (PROCMAP_QUERY asks about the one VMA)",
		   atomic_load(&sva_test_vma_reads) - (unsigned)r0);
		/* Made writable since, with no event: the next write fault resolves. */
		mprotect((void *)(uintptr_t)ro, 4096, PROT_READ | PROT_WRITE);
		ktest_inject_and_wait(dev_a, bond_a, ro, SVA_ACCESS_WRITE, 5000);
		sva_bond_stats(bond_a, &st);
		is_int(st.invalid - inv0, 2 * n, "after mprotect(PROT_WRITE), the write fault there resolves");
	}
	sva_ctx_free(ctx);
	return done_testing();
}
