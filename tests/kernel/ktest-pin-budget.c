/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The pin budget on the mock, as a container sees it: CAP_IPC_LOCK dropped and
 * a small RLIMIT_MEMLOCK.  A device streams over 4x and 8x the limit, with
 * small pages and with THP: every fault resolves, what is pinned never exceeds
 * the budget (the default, derived from the limit), and the device reads the
 * right data (through the kernel's access path).  Prefaulted memory is never
 * evicted and a prefault that does not fit fails with -ENOSPC, changing
 * nothing.  Eviction races invalidation, madvise (coherence events) and
 * unbind/rebind of a second bond; the tsan tier runs this too.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* _Fork */
#endif
#include <linux/capability.h>
#include <pthread.h>
#include <stdatomic.h>
#include <sys/resource.h>
#include <sys/syscall.h>

#include "ktest.h"

#define BUF_VA 0x40000000ull /* 2 MiB aligned, inside the mock aperture [16 MiB, 2 GiB) */
#define PIN_VA 0x60000000ull
#define PG 4096ull
#define KB 1024ull
#define MB (1024ull * 1024)

static void drop_ipc_lock(void)
{
	struct __user_cap_header_struct h = { .version = _LINUX_CAPABILITY_VERSION_3, .pid = 0 };
	struct __user_cap_data_struct d[2];

	if (syscall(SYS_capget, &h, d))
		ktest_bail("capget: %s", strerror(errno));
	d[CAP_IPC_LOCK / 32].effective &= ~(1u << (CAP_IPC_LOCK % 32));
	d[CAP_IPC_LOCK / 32].permitted &= ~(1u << (CAP_IPC_LOCK % 32));
	d[CAP_IPC_LOCK / 32].inheritable &= ~(1u << (CAP_IPC_LOCK % 32));
	if (syscall(SYS_capset, &h, d))
		ktest_bail("capset: %s", strerror(errno));
}

static void set_memlock(uint64_t bytes)
{
	struct rlimit rl = { .rlim_cur = bytes, .rlim_max = bytes };

	/* Raising it again later needs CAP_SYS_RESOURCE, which the VM's root keeps. */
	if (setrlimit(RLIMIT_MEMLOCK, &rl))
		ktest_bail("setrlimit(RLIMIT_MEMLOCK, %llu): %s", (unsigned long long)bytes, strerror(errno));
}

static struct sva_mm_stats mm_stats(struct sva_mm *mm)
{
	struct sva_mm_stats s = { .size = sizeof(s) };

	sva_mm_stats(mm, &s);
	return s;
}

static struct sva_bond_stats bond_stats(struct sva_bond *b)
{
	struct sva_bond_stats s = { .size = sizeof(s) };

	sva_bond_stats(b, &s);
	return s;
}

static unsigned char pattern(uint64_t va, unsigned salt)
{
	return (unsigned char)((va >> 12) * 7 + (va & 0xfff) * 3 + salt);
}

static unsigned char *map_buf(uint64_t va, uint64_t len, bool thp, unsigned salt)
{
	unsigned char *p = ktest_map_at(va, len, PROT_READ | PROT_WRITE);

	madvise(p, len, thp ? MADV_HUGEPAGE : MADV_NOHUGEPAGE);
	for (uint64_t i = 0; i < len; i += 64)
		p[i] = pattern(va + i, salt);
	return p;
}

/* Give the next MADV_HUGEPAGE buffer its best chance of huge pages. */
static void compact_memory(void)
{
	FILE *f = fopen("/proc/sys/vm/compact_memory", "w");

	if (f) {
		fputs("1\n", f);
		fclose(f);
	}
}

/* The device reads the page at va through the kernel's view: the data the CPU wrote? */
static bool device_sees(struct sva_ctx *ctx, struct sva_mm *mm, uint64_t va, const unsigned char *cpu)
{
	unsigned char back[PG];

	return ktest_access_rw(ctx, mm->ioas_id, va, back, PG, 0) == 0 && memcmp(back, cpu, PG) == 0;
}

/* A device streaming over factor x the limit, one fault per step. */
static void stream(uint64_t limit, unsigned factor, bool thp)
{
	const char *kind = thp ? "THP" : "small pages";
	uint64_t len = factor * limit, step = limit / 4 < 64 * KB ? limit / 4 : 64 * KB;
	struct sva_ctx *ctx = ktest_ctx();
	struct sva_bind_opts bo = { .size = sizeof(bo) };
	struct sva_bond *bond = NULL;
	struct sva_dev *dev = NULL;
	struct sva_mm *mm = NULL;
	unsigned long failed = 0, wrong = 0, over = 0, faults = 0;
	unsigned char *buf;
	struct sva_mm_stats s;

	/* A huge page needs 2 MiB: with a small limit, THP streams more than factor x. */
	if (thp && len < 2 * MB)
		len = 2 * MB;
	set_memlock(limit);
	if (sva_dev_open_mock(ctx, NULL, &dev) || sva_mm_new(ctx, NULL, &mm) || sva_bind(dev, mm, &bo, &bond))
		ktest_bail("mock, address space or bind failed");
	s = mm_stats(mm);
	is_int((long)s.pin_budget, (long)limit, "%s, %llu KiB limit: the default budget is RLIMIT_MEMLOCK", kind,
	       (unsigned long long)(limit / KB));
	if (thp)
		compact_memory();
	buf = map_buf(BUF_VA, len, thp, factor);
	if (thp && sva_vma_has_thp(BUF_VA)) {
		/* The field itself, for this anonymous buffer: libsva's answer
		 * also counts shmem's and files' huge pages. */
		long kb = sva_vma_smaps_kb(BUF_VA, "AnonHugePages");

		ok(kb >= 2048, "THP, %llu KiB limit, %ux: the buffer has transparent huge pages (%ld KiB AnonHugePages)",
		   (unsigned long long)(limit / KB), factor, kb);
	} else if (thp)
		/* Not libsva's doing: late in a run the guest's 1 GiB may have no free 2 MiB block. */
		skip(1, "THP: the kernel gave the buffer no huge page even after compaction; this stream runs on "
			"small pages");
	for (uint64_t off = 0; off < len; off += step) {
		uint64_t va = BUF_VA + off + (off / step % 4) * PG % step; /* not always the first page of a step */
		struct sva_bond_stats before = bond_stats(bond), after;

		if (va >= BUF_VA + len)
			va = BUF_VA + off;
		if (ktest_inject_and_wait(dev, bond, va, SVA_ACCESS_READ | SVA_ACCESS_WRITE, 5000)) {
			failed++;
			continue;
		}
		faults++;
		after = bond_stats(bond);
		if (after.invalid != before.invalid)
			failed++;
		else if (!device_sees(ctx, mm, va & ~(PG - 1), buf + (va & ~(PG - 1)) - BUF_VA))
			wrong++;
		if (mm_stats(mm).bytes_visible > limit)
			over++;
	}
	s = mm_stats(mm);
	is_int((long)failed, 0, "%s, %llu KiB limit, %ux: every one of %lu faults resolves", kind,
	       (unsigned long long)(limit / KB), factor, faults);
	is_int((long)wrong, 0, "%s, %ux: the device reads the right data at every fault", kind, factor);
	ok(!over && s.bytes_pinned_peak <= limit, "%s, %ux: pinned never over the budget (peak %llu of %llu)", kind,
	   factor, (unsigned long long)s.bytes_pinned_peak, (unsigned long long)limit);
	/* Every fault mapped a page of its own (windows smaller than a step
	 * leave the rest unmapped): all of it but what is visible was evicted. */
	ok(s.evictions > 0 && s.bytes_evicted + s.bytes_visible >= faults * PG,
	   "%s, %ux: cold chunks evicted (%llu, %llu KiB)", kind, factor, (unsigned long long)s.evictions,
	   (unsigned long long)(s.bytes_evicted / KB));
	/* Back to the start: evicted long ago, so it faults again, and is right. */
	{
		struct sva_bond_stats before = bond_stats(bond);

		ok(ktest_inject_and_wait(dev, bond, BUF_VA, SVA_ACCESS_READ, 5000) == 0 &&
			   bond_stats(bond).invalid == before.invalid && device_sees(ctx, mm, BUF_VA, buf),
		   "%s, %ux: an evicted page faults back in with its data", kind, factor);
		ok(mm_stats(mm).refaults > s.refaults, "%s, %ux: and counts as a re-fault", kind, factor);
	}
	sva_unbind(bond);
	sva_mm_free(mm);
	sva_dev_close(dev);
	sva_ctx_put(ctx);
	munmap(buf, len);
}

/*
 * No budget (SVA_PIN_UNLIMITED) under a 1 MiB limit: the kernel refuses maps
 * with ENOMEM, and that evicts and retries (with smaller windows) before a
 * fault is answered INVALID.
 */
static void kernel_limit(bool thp)
{
	const uint64_t limit = 1 * MB, len = 4 * MB;
	const char *kind = thp ? "THP" : "small pages";
	struct sva_ctx *ctx = ktest_ctx();
	struct sva_mm_opts mo = { .size = sizeof(mo), .pin_budget = SVA_PIN_UNLIMITED };
	struct sva_bind_opts bo = { .size = sizeof(bo) };
	struct sva_bond *bond = NULL;
	struct sva_dev *dev = NULL;
	struct sva_mm *mm = NULL;
	unsigned long failed = 0, wrong = 0;
	unsigned char *buf;
	struct sva_mm_stats s;

	set_memlock(limit);
	if (sva_dev_open_mock(ctx, NULL, &dev) || sva_mm_new(ctx, &mo, &mm) || sva_bind(dev, mm, &bo, &bond))
		ktest_bail("mock, address space or bind failed");
	buf = map_buf(BUF_VA, len, thp, 9);
	for (uint64_t off = 0; off < len; off += 64 * KB) {
		struct sva_bond_stats before = bond_stats(bond);

		if (ktest_inject_and_wait(dev, bond, BUF_VA + off, SVA_ACCESS_READ, 5000) ||
		    bond_stats(bond).invalid != before.invalid)
			failed++;
		else if (!device_sees(ctx, mm, BUF_VA + off, buf + off))
			wrong++;
	}
	s = mm_stats(mm);
	is_int((long)failed, 0, "kernel limit, %s: no budget, a 1 MiB limit, 4x streamed: every fault resolves", kind);
	is_int((long)wrong, 0, "kernel limit, %s: with the right data", kind);
	ok(s.pin_budget == 0 && s.evictions > 0 && s.bytes_pinned_peak <= limit,
	   "kernel limit, %s: the kernel's ENOMEM evicted (%llu) and nothing went over it (peak %llu)", kind,
	   (unsigned long long)s.evictions, (unsigned long long)s.bytes_pinned_peak);
	/* Fault-mapped memory holds part of the limit: a prefault of all of it evicts. */
	ok(s.bytes_visible > 0, "kernel limit, %s: fault-mapped memory is pinned (%llu)", kind,
	   (unsigned long long)s.bytes_visible);
	is_int(sva_mm_prefault(mm, buf + 2 * MB, limit), 0,
	       "kernel limit, %s: a prefault the kernel refuses at first evicts and succeeds", kind);
	ok(mm_stats(mm).bytes_prefaulted == limit && device_sees(ctx, mm, BUF_VA + 2 * MB, buf + 2 * MB),
	   "kernel limit, %s: and its memory is visible", kind);
	sva_unbind(bond);
	sva_mm_free(mm);
	sva_dev_close(dev);
	sva_ctx_put(ctx);
	munmap(buf, len);
}

/*
 * What a freed context pinned is unpinned by the time sva_ctx_free() returns.
 * The kernel's count is per user: pins that lingered would make the next
 * context's maps fail against the same limit (and the checks after this one
 * rely on starting from nothing).  Ten rounds of a context with a fault
 * thread (whose io_uring releases the fault queue's file asynchronously)
 * pinning the whole limit, freed, and the next one at once.
 */
static void release_at_once(void)
{
	const uint64_t limit = 1 * MB;
	unsigned failed = 0, rounds = 10;

	set_memlock(limit);
	for (unsigned i = 0; i < rounds; i++) {
		struct sva_ctx *ctx = ktest_ctx(); /* a fault thread, with its io_uring */
		struct sva_mm_opts mo = { .size = sizeof(mo), .pin_budget = SVA_PIN_UNLIMITED };
		struct sva_bind_opts bo = { .size = sizeof(bo) };
		struct sva_bond *bond = NULL;
		struct sva_dev *dev = NULL;
		struct sva_mm *mm = NULL;
		unsigned char *buf;
		int ret;

		if (sva_dev_open_mock(ctx, NULL, &dev) || sva_mm_new(ctx, &mo, &mm) || sva_bind(dev, mm, &bo, &bond))
			ktest_bail("release: mock, address space or bind failed");
		buf = map_buf(BUF_VA, limit, false, (unsigned)i);
		ktest_inject_and_wait(dev, bond, BUF_VA, SVA_ACCESS_READ, 5000);
		ret = sva_mm_prefault(mm, buf, limit);
		if (ret) {
			diag("release: round %u: a prefault of the whole limit: %s", i, strerror(-ret));
			failed++;
		}
		sva_unbind(bond);
		sva_mm_free(mm);
		sva_dev_close(dev);
		sva_ctx_put(ctx);
		munmap(buf, limit);
	}
	is_int((long)failed, 0, "release: %u contexts in a row each pin the whole limit: the last one's pins were gone",
	       rounds);
}

/* Prefaulted memory is never evicted; a prefault that does not fit changes nothing. */
static void pinned_mode(void)
{
	const uint64_t limit = 1 * MB, plen = 512 * KB, len = 4 * MB;
	struct sva_ctx *ctx = ktest_ctx();
	struct sva_bind_opts fo = { .size = sizeof(fo) }, po = { .size = sizeof(po), .flags = SVA_BIND_PINNED };
	struct sva_bond *fbond = NULL, *pbond = NULL;
	struct sva_dev *fdev = NULL, *pdev = NULL;
	struct sva_mm *mm = NULL;
	struct sva_mm_stats s, s2;
	unsigned char *pin, *buf;
	unsigned long lost = 0, failed = 0;

	set_memlock(limit);
	if (sva_dev_open_mock(ctx, NULL, &fdev) || sva_dev_open_mock(ctx, NULL, &pdev) || sva_mm_new(ctx, NULL, &mm) ||
	    sva_bind(fdev, mm, &fo, &fbond) || sva_bind(pdev, mm, &po, &pbond))
		ktest_bail("mocks, address space or binds failed");
	pin = map_buf(PIN_VA, 2 * MB, false, 1);
	buf = map_buf(BUF_VA, len, false, 2);
	is_int(sva_mm_prefault(mm, pin, plen), 0, "pinned: prefault half the budget");
	/* Some fault-mapped memory first, so the failing prefault has something to evict. */
	for (uint64_t off = 0; off < 256 * KB; off += 64 * KB)
		ktest_inject_and_wait(fdev, fbond, BUF_VA + off, SVA_ACCESS_READ, 5000);
	s = mm_stats(mm);
	is_int(sva_mm_prefault(mm, pin + plen, 768 * KB), -ENOSPC, "pinned: a prefault over the budget: -ENOSPC");
	s2 = mm_stats(mm);
	ok(s2.bytes_visible == s.bytes_visible && s2.evictions == s.evictions &&
		   s2.bytes_prefaulted == plen && ktest_access_rw(ctx, mm->ioas_id, PIN_VA + plen, buf, 1, 0) != 0,
	   "pinned: and nothing changed (visible %llu, evictions %llu, prefaulted %llu)",
	   (unsigned long long)s2.bytes_visible, (unsigned long long)s2.evictions,
	   (unsigned long long)s2.bytes_prefaulted);
	/* Restore buf's first page: the failed access above may have written nothing, but be sure. */
	buf[0] = pattern(BUF_VA, 2);
	for (uint64_t off = 0; off < len; off += 64 * KB) {
		struct sva_bond_stats before = bond_stats(fbond);

		if (ktest_inject_and_wait(fdev, fbond, BUF_VA + off, SVA_ACCESS_READ, 5000) ||
		    bond_stats(fbond).invalid != before.invalid)
			failed++;
	}
	for (uint64_t off = 0; off < plen; off += PG)
		if (!device_sees(ctx, mm, PIN_VA + off, pin + off))
			lost++;
	s = mm_stats(mm);
	is_int((long)failed, 0, "pinned: a fault-capable device streams 4x the limit beside it");
	ok(s.evictions > 0, "pinned: with evictions (%llu)", (unsigned long long)s.evictions);
	is_int((long)lost, 0, "pinned: every prefaulted page is still visible, with its data");
	ok(s.bytes_prefaulted == plen && s.bytes_pinned_peak <= limit, "pinned: prefaulted %llu, peak %llu <= %llu",
	   (unsigned long long)s.bytes_prefaulted, (unsigned long long)s.bytes_pinned_peak,
	   (unsigned long long)limit);
	is_int(sva_mm_prefault(mm, pin + plen, 512 * KB), 0, "pinned: a prefault that fits evicts fault-mapped memory");
	is_int((long)mm_stats(mm).bytes_prefaulted, (long)(plen + 512 * KB), "pinned: now the whole budget is prefaulted");
	{
		struct sva_bond_stats before = bond_stats(fbond);

		ktest_inject_and_wait(fdev, fbond, BUF_VA + 3 * MB, SVA_ACCESS_READ, 5000);
		ok(bond_stats(fbond).invalid == before.invalid + 1,
		   "pinned: with no room left a fault is INVALID, the prefaulted memory stays");
	}
	sva_unbind(fbond);
	sva_unbind(pbond);
	sva_mm_free(mm);
	sva_dev_close(fdev);
	sva_dev_close(pdev);
	sva_ctx_put(ctx);
	munmap(pin, 2 * MB);
	munmap(buf, len);
}

/*
 * A device that walks forward 64 KiB at a time and then back: the budget
 * clips the ramping window to what fits (no power of two), and the halving
 * after the turn must still give whole pages.  It gave 30, 15, 7.5 pages,
 * and with a 1 MiB budget every later fault was refused (-EINVAL) for good.
 */
static void turn_back(uint64_t budget)
{
	struct sva_mm_opts mo = { .size = sizeof(mo), .pin_budget = budget };
	struct sva_ctx *ctx = ktest_ctx();
	struct sva_dev *dev;
	struct sva_mm *mm;
	struct sva_bond *bond;
	uint64_t len = 8 * MB, addrs[128];
	unsigned n = 0, failed = 0, ragged = 0;
	unsigned char *p;

	if (sva_dev_open_mock(ctx, NULL, &dev) || sva_mm_new(ctx, &mo, &mm) || sva_bind(dev, mm, NULL, &bond))
		ktest_bail("turn_back: setup");
	p = map_buf(BUF_VA, len, false, 5);
	for (uint64_t off = 0; off < 4 * MB; off += 64 * KB)
		addrs[n++] = BUF_VA + off + 4 * PG;
	for (int64_t off = 3 * MB; off >= 0; off -= 64 * KB)
		addrs[n++] = BUF_VA + (uint64_t)off + 4 * PG;
	for (unsigned i = 0; i < n; i++) {
		uint64_t inv = bond_stats(bond).invalid;

		if (ktest_inject_and_wait(dev, bond, addrs[i], SVA_ACCESS_READ | SVA_ACCESS_WRITE, 5000) ||
		    bond_stats(bond).invalid != inv)
			failed++;
		if (mm_stats(mm).bytes_visible % PG)
			ragged++;
	}
	is_int((long)failed, 0, "%llu KiB budget, a walk forward and back: every fault resolves (none INVALID)",
	       (unsigned long long)(budget / KB));
	is_int((long)ragged, 0, "%llu KiB budget: what is visible is always whole pages",
	       (unsigned long long)(budget / KB));
	ok(device_sees(ctx, mm, addrs[n - 1], p + (addrs[n - 1] - BUF_VA)),
	   "%llu KiB budget: the device reads the last page the CPU wrote",
	   (unsigned long long)(budget / KB));
	sva_unbind(bond);
	sva_mm_free(mm);
	sva_dev_close(dev);
	sva_ctx_put(ctx);
	munmap(p, len);
}

/* Options: bad budgets refused; an explicit budget and SVA_PIN_UNLIMITED. */
static void options(void)
{
	struct sva_ctx *ctx = ktest_ctx();
	struct sva_mm_opts o = { .size = sizeof(o), .pin_budget = 100 };
	struct sva_mm *mm = NULL;

	is_int(sva_mm_new(ctx, &o, &mm), -EINVAL, "opts: a budget under one page: -EINVAL");
	o.pin_budget = 3 * PG + 5;
	if (is_int(sva_mm_new(ctx, &o, &mm), 0, "opts: an explicit budget")) {
		is_int((long)mm_stats(mm).pin_budget, (long)(3 * PG), "opts: rounded down to whole pages");
		sva_mm_free(mm);
	}
	o.pin_budget = SVA_PIN_UNLIMITED;
	if (is_int(sva_mm_new(ctx, &o, &mm), 0, "opts: SVA_PIN_UNLIMITED")) {
		is_int((long)mm_stats(mm).pin_budget, 0, "opts: unbounded");
		sva_mm_free(mm);
	}
	sva_ctx_put(ctx);
}

struct reports {
	int n;
	int reason[8];
	uint64_t addr[8];
};

static void on_fault_error(struct sva_bond *bond, const struct sva_fault_report *r, void *drvdata)
{
	struct reports *rep = drvdata;

	(void)bond;
	if (rep->n < 8) {
		rep->reason[rep->n] = r->reason;
		rep->addr[rep->n] = r->addr;
	}
	rep->n++;
}

/* A poll-mode context, a mock, an address space of `budget` and a bond whose
 * fault_error reports land in *rep. */
struct rig {
	struct sva_ctx *ctx;
	struct sva_dev *dev;
	struct sva_mm *mm;
	struct sva_bond *bond;
	struct sva_bond_ops ops;
};

static void rig_up(struct rig *r, uint64_t budget, uint64_t grace_ns, struct reports *rep, const char *what)
{
	struct sva_ctx_opts co = { .size = sizeof(co), .pasid_grace_ns = grace_ns, .flags = SVA_CTX_FAULT_POLL };
	struct sva_mm_opts mo = { .size = sizeof(mo), .pin_budget = budget };
	struct sva_bind_opts bo = { .size = sizeof(bo), .drvdata = rep, .ops = &r->ops };

	*r = (struct rig){ .ops = { .size = sizeof(r->ops), .fault_error = on_fault_error } };
	if (sva_ctx_new(&co, &r->ctx) || sva_dev_open_mock(r->ctx, NULL, &r->dev) || sva_mm_new(r->ctx, &mo, &r->mm) ||
	    sva_bind(r->dev, r->mm, &bo, &r->bond))
		ktest_bail("%s: setup failed", what);
}

static void rig_down(struct rig *r)
{
	sva_unbind(r->bond);
	sva_mm_free(r->mm);
	sva_dev_close(r->dev);
	sva_ctx_put(r->ctx);
}

/*
 * The kernel's limit binds, not the budget (none here, as with a budget above
 * RLIMIT_MEMLOCK): full batches of 64 random faults.  A window must leave a
 * page of that limit for each later page request of its batch, as under a
 * budget: the first fault of a batch took the whole limit (a 2 MiB THP window
 * halved until it fitted), and the other 63, which cannot evict what the batch
 * in flight mapped, were answered INVALID (-ENOMEM), batch after batch (Z93:
 * 2490 of 2560).
 */
static void kernel_limit_batches(bool thp)
{
	const uint64_t limit = 512 * KB, len = 16 * MB;
	const char *kind = thp ? "THP" : "small pages";
	uint64_t rng = 0x9e3779b97f4a7c15ull, va;
	unsigned long handled = 0, sent = 0;
	struct reports rep = { 0 };
	unsigned char *buf;
	struct sva_mm_stats s;
	struct rig r;

	set_memlock(limit);
	rig_up(&r, SVA_PIN_UNLIMITED, UINT64_MAX, &rep, "kernel limit, batches");
	compact_memory();
	/* Each kind at its own address: a mapping of the same bounds is taken
	 * for the same one (sva_bind(3), BUGS) once no tracked address space
	 * is left to report the unmap, and keeps the other's small windows. */
	va = thp ? BUF_VA : BUF_VA + 2 * len;
	buf = map_buf(va, len, thp, 11);
	if (thp && !sva_vma_has_thp(va)) {
		skip(3, "THP: the kernel gave the buffer no huge page even after compaction");
		goto out;
	}
	for (int round = 0; round < 20; round++) {
		for (int i = 0; i < 64; i++) {
			rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
			if (sva_dev_inject_fault(r.dev, sva_bond_pasid(r.bond), va + (rng % (len / PG)) * PG,
						 SVA_ACCESS_READ | SVA_ACCESS_WRITE, 0) == 0)
				sent++;
		}
		int n = sva_ctx_process_faults(r.ctx, 64);

		handled += n > 0 ? (unsigned long)n : 0;
	}
	s = mm_stats(r.mm);
	is_int((long)handled, (long)sent, "kernel limit, %s, batches of 64 random faults: every one handled", kind);
	is_int((long)bond_stats(r.bond).invalid, 0,
	       "kernel limit, %s, batches of 64 random faults: none INVALID (room kept for the rest of the batch)",
	       kind);
	ok(s.bytes_pinned_peak <= limit, "kernel limit, %s, batches: never over it (peak %llu, %llu evictions)", kind,
	   (unsigned long long)s.bytes_pinned_peak, (unsigned long long)s.evictions);
out:
	rig_down(&r);
	munmap(buf, len);
}

/*
 * Chunks mapped for a batch of faults are not evicted before they are
 * answered: with room for four pages, five faults in one batch (poll mode)
 * map one page each for the first four; the fifth finds no room, so the
 * engine answers the four first and evicts one of them for it (review Z74:
 * the fifth was answered INVALID, -ENOMEM, where libsva(7) promises that a
 * small budget costs re-faults, not correctness).  The device touching the
 * evicted page again re-faults, in the next batch.
 */
static void in_flight(void)
{
	struct reports rep = { 0 };
	struct rig r;
	unsigned char *buf;
	int visible = 0, n, gone = -1;

	rig_up(&r, 4 * PG, UINT64_MAX, &rep, "in flight");
	struct sva_ctx *ctx = r.ctx;
	struct sva_dev *dev = r.dev;
	struct sva_mm *mm = r.mm;
	struct sva_bond *bond = r.bond;

	buf = map_buf(BUF_VA, 1 * MB, false, 4);
	for (int i = 0; i < 5; i++)
		sva_dev_inject_fault(dev, sva_bond_pasid(bond), BUF_VA + (uint64_t)i * 128 * KB, SVA_ACCESS_READ, 0);
	n = sva_ctx_process_faults(ctx, 64);
	is_int(n, 5, "in flight: five faults in one batch");
	ok(rep.n == 0 && bond_stats(bond).invalid == 0,
	   "in flight: none is INVALID, the fifth neither (%d reports, reason %d)", rep.n, rep.n ? rep.reason[0] : 0);
	ok(device_sees(ctx, mm, BUF_VA + 4 * 128 * KB, buf + 4 * 128 * KB), "in flight: the fifth page is visible");
	for (int i = 0; i < 4; i++) {
		bool v = device_sees(ctx, mm, BUF_VA + (uint64_t)i * 128 * KB, buf + (uint64_t)i * 128 * KB);

		visible += v;
		if (!v)
			gone = i;
	}
	is_int(visible, 3, "in flight: one of the first four (answered before) was evicted for it");
	is_int((long)mm_stats(mm).evictions, 1, "in flight: one eviction");
	ok(mm_stats(mm).bytes_pinned_peak <= 4 * PG, "in flight: within the budget (peak %llu)",
	   (unsigned long long)mm_stats(mm).bytes_pinned_peak);
	if (gone >= 0)
		sva_dev_inject_fault(dev, sva_bond_pasid(bond), BUF_VA + (uint64_t)gone * 128 * KB, SVA_ACCESS_READ, 0);
	is_int(sva_ctx_process_faults(ctx, 64), 1, "in flight: the device faults the evicted page again, next batch");
	ok(rep.n == 0 && gone >= 0 && device_sees(ctx, mm, BUF_VA + (uint64_t)gone * 128 * KB, buf + (uint64_t)gone * 128 * KB),
	   "in flight: and it is resolved (a re-fault: %llu)", (unsigned long long)mm_stats(mm).refaults);
	rig_down(&r);
	munmap(buf, 1 * MB);
}

/*
 * Review Z74: a full batch of 64 faults on distinct pages under a one-page
 * budget.  Each fault after the first answers the batch's earlier groups and
 * evicts one: 63 evictions, no fault answered INVALID, never over the budget
 * (63 of 64 were INVALID, -ENOMEM).
 */
static void tiny_budget_batch(void)
{
	const uint64_t va0 = BUF_VA + 256 * MB;
	struct reports rep = { 0 };
	struct rig r;
	unsigned char *buf;

	rig_up(&r, PG, UINT64_MAX, &rep, "tiny budget");
	buf = map_buf(va0, 64 * 16 * KB, false, 7);
	for (int i = 0; i < 64; i++)
		sva_dev_inject_fault(r.dev, sva_bond_pasid(r.bond), va0 + (uint64_t)i * 16 * KB, SVA_ACCESS_READ, 0);
	is_int(sva_ctx_process_faults(r.ctx, 64), 64, "tiny budget: 64 faults in one batch");
	ok(rep.n == 0 && bond_stats(r.bond).invalid == 0,
	   "tiny budget (4 KiB): none answered INVALID (%d were, first reason %d)", rep.n, rep.n ? rep.reason[0] : 0);
	is_int((long)mm_stats(r.mm).evictions, 63, "tiny budget: 63 evictions");
	ok(mm_stats(r.mm).bytes_pinned_peak <= PG, "tiny budget: never over the budget (peak %llu)",
	   (unsigned long long)mm_stats(r.mm).bytes_pinned_peak);
	ok(device_sees(r.ctx, r.mm, va0 + 63 * 16 * KB, buf + 63 * 16 * KB), "tiny budget: the last page is visible");
	rig_down(&r);
	munmap(buf, 64 * 16 * KB);
}

/*
 * The first batch of an address space with nothing visible yet, while pins
 * libsva cannot evict (another address space's prefault here; as well
 * another process's, io_uring's) hold all of the kernel's limit but
 * room_pages: its budget, the whole limit, has room, the kernel has not.
 * From one page of room every one of 64 random faults is served (each after
 * the first takes the page of an earlier one of its batch, answered early);
 * with none, every one is INVALID (-ENOMEM), in every batch, nothing of the
 * process's own to evict.  Review Z93's open item had the first case see a
 * few -ENOMEM answers; sva_mm_new(3) states both.
 */
static void first_batch_at_limit(uint64_t room_pages)
{
	const uint64_t limit = 256 * KB, len = 16 * MB, va = BUF_VA + 64 * MB;
	struct reports ra = { 0 }, rb = { 0 };
	uint64_t rng = 0x2545f4914f6cdd1dull;
	unsigned char *pbuf, *buf;
	struct rlimit was;
	struct rig a, b;
	long invalid[2];

	if (getrlimit(RLIMIT_MEMLOCK, &was))
		ktest_bail("getrlimit: %s", strerror(errno));
	set_memlock(limit);
	rig_up(&a, 0, UINT64_MAX, &ra, "first batch, A");
	rig_up(&b, 0, UINT64_MAX, &rb, "first batch, B");
	pbuf = map_buf(PIN_VA, limit, false, 13);
	buf = map_buf(va, len, false, 14);
	is_int(sva_mm_prefault(a.mm, pbuf, limit - room_pages * PG), 0,
	       "first batch, %llu page(s) of room: another address space prefaults the rest of the limit",
	       (unsigned long long)room_pages);
	for (int batch = 0; batch < 2; batch++) {
		long before = (long)bond_stats(b.bond).invalid;

		for (int i = 0; i < 64; i++) {
			rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
			sva_dev_inject_fault(b.dev, sva_bond_pasid(b.bond), va + (rng % (len / PG)) * PG, SVA_ACCESS_READ,
					     0);
		}
		is_int(sva_ctx_process_faults(b.ctx, 64), 64, "first batch, %llu page(s) of room: batch %d of 64 faults",
		       (unsigned long long)room_pages, batch + 1);
		invalid[batch] = (long)bond_stats(b.bond).invalid - before;
	}
	if (room_pages) {
		ok(invalid[0] == 0 && invalid[1] == 0 && rb.n == 0,
		   "first batch, %llu page(s) of room: every fault served, the first batch's too (%ld and %ld INVALID, "
		   "first reason %d)",
		   (unsigned long long)room_pages, invalid[0], invalid[1], rb.n ? rb.reason[0] : 0);
		uint64_t last = (rng % (len / PG)) * PG;

		ok(mm_stats(b.mm).bytes_pinned_peak <= room_pages * PG && device_sees(b.ctx, b.mm, va + last, buf + last),
		   "first batch, %llu page(s) of room: within the kernel's room (peak %llu), the last page visible",
		   (unsigned long long)room_pages, (unsigned long long)mm_stats(b.mm).bytes_pinned_peak);
	} else {
		ok(invalid[0] == 64 && invalid[1] == 64 && rb.n > 0 && rb.reason[0] == -ENOMEM,
		   "first batch, no room: every fault INVALID (-ENOMEM), batch after batch (%ld and %ld, first reason %d)",
		   invalid[0], invalid[1], rb.n ? rb.reason[0] : 0);
		ok(mm_stats(b.mm).bytes_visible == 0 && mm_stats(a.mm).bytes_prefaulted == limit,
		   "first batch, no room: nothing mapped, the prefault untouched");
	}
	rig_down(&b);
	rig_down(&a);
	munmap(pbuf, limit);
	munmap(buf, len);
	if (setrlimit(RLIMIT_MEMLOCK, &was))
		ktest_bail("setrlimit: %s", strerror(errno));
}

/*
 * Two address spaces with the default budget, each the whole limit: the
 * second's faults must not starve once the first holds it all.  The kernel's
 * ENOMEM for the second, which has nothing of its own to evict, takes cold
 * memory of the first (review Z38: all 8 of its faults were INVALID, -ENOMEM).
 */
static void shared_limit(void)
{
	const uint64_t limit = 256 * KB;
	struct reports ra = { 0 }, rb = { 0 };
	struct rig a, b;
	unsigned char *buf;
	unsigned resolved_b = 0, wrong = 0;
	struct sva_mm_stats sa, sb;
	struct rlimit was;

	if (getrlimit(RLIMIT_MEMLOCK, &was))
		ktest_bail("getrlimit: %s", strerror(errno));
	set_memlock(limit);
	rig_up(&a, 0, UINT64_MAX, &ra, "shared limit, A");
	rig_up(&b, 0, UINT64_MAX, &rb, "shared limit, B");
	buf = map_buf(BUF_VA, 2 * MB, false, 11);
	for (int i = 0; i < 16; i++) {
		sva_dev_inject_fault(a.dev, sva_bond_pasid(a.bond), BUF_VA + (uint64_t)i * 64 * KB, SVA_ACCESS_READ, 0);
		sva_ctx_process_faults(a.ctx, 64);
	}
	sa = mm_stats(a.mm);
	ok(sa.pin_budget == limit && sa.bytes_visible == limit && ra.n == 0,
	   "shared limit: A, default budget %llu, holds the whole limit (%llu visible, %d refused)",
	   (unsigned long long)sa.pin_budget, (unsigned long long)sa.bytes_visible, ra.n);
	for (int i = 0; i < 8; i++) {
		uint64_t va = BUF_VA + 1 * MB + (uint64_t)i * 64 * KB;
		int before = rb.n;

		sva_dev_inject_fault(b.dev, sva_bond_pasid(b.bond), va, SVA_ACCESS_READ, 0);
		sva_ctx_process_faults(b.ctx, 64);
		if (rb.n == before) {
			resolved_b++;
			wrong += !device_sees(b.ctx, b.mm, va, buf + (va - BUF_VA));
		}
	}
	sa = mm_stats(a.mm);
	sb = mm_stats(b.mm);
	is_int((long)resolved_b, 8, "shared limit: B's faults resolve (%d refused, first reason %d)", rb.n,
	       rb.n ? rb.reason[0] : 0);
	is_int((long)wrong, 0, "shared limit: with the right data");
	ok(sa.evictions > 0 && sa.bytes_visible < limit && sb.bytes_visible > 0,
	   "shared limit: A gave up cold memory (%llu evictions, %llu visible), B holds %llu",
	   (unsigned long long)sa.evictions, (unsigned long long)sa.bytes_visible,
	   (unsigned long long)sb.bytes_visible);
	ok(sa.bytes_visible + sb.bytes_visible <= limit, "shared limit: together within the limit (%llu + %llu)",
	   (unsigned long long)sa.bytes_visible, (unsigned long long)sb.bytes_visible);
	/* And back: A's faults now take B's cold memory. */
	ra.n = 0;
	for (int i = 0; i < 4; i++) {
		sva_dev_inject_fault(a.dev, sva_bond_pasid(a.bond), BUF_VA + (uint64_t)i * 64 * KB, SVA_ACCESS_READ, 0);
		sva_ctx_process_faults(a.ctx, 64);
	}
	is_int(ra.n, 0, "shared limit: A faults its evicted memory back in, none refused");
	rig_down(&a);
	rig_down(&b);
	munmap(buf, 2 * MB);
	if (setrlimit(RLIMIT_MEMLOCK, &was)) /* the tests after this one run under the limit before it */
		ktest_bail("setrlimit: %s", strerror(errno));
}

/*
 * The same two address spaces faulting at once, each from its own thread
 * (their contexts' engines in poll mode): each takes the other's memory while
 * the other maps (a donor's map_lock is only tried).  Nothing hangs (alarm),
 * both make progress, and together they never hold more than the limit.
 * Under ThreadSanitizer, the donors' list and the evictions race cleanly.
 */
/* One address space of these tests, driven from a thread of its own. */
struct sharer {
	struct rig r;
	struct reports rep;
	uint64_t base;
	unsigned resolved;
	atomic_bool stop;
};

static void *sharer_run(void *arg)
{
	struct sharer *s = arg;
	uint64_t x = s->base;

	for (int i = 0; i < 400; i++) {
		int before = s->rep.n;

		x = x * 6364136223846793005ull + 1442695040888963407ull;
		sva_dev_inject_fault(s->r.dev, sva_bond_pasid(s->r.bond), s->base + ((x >> 33) % 256) * PG,
				     SVA_ACCESS_READ, 0);
		sva_ctx_process_faults(s->r.ctx, 64);
		s->resolved += s->rep.n == before;
	}
	return NULL;
}

static void shared_limit_race(void)
{
	const uint64_t limit = 256 * KB;
	struct sharer s[2];
	pthread_t th[2];
	unsigned char *buf;
	struct rlimit was;
	uint64_t peak_sum;

	if (getrlimit(RLIMIT_MEMLOCK, &was))
		ktest_bail("getrlimit: %s", strerror(errno));
	set_memlock(limit);
	buf = map_buf(BUF_VA, 2 * MB, false, 12);
	for (int i = 0; i < 2; i++) {
		s[i] = (struct sharer){ .base = BUF_VA + (uint64_t)i * MB };
		rig_up(&s[i].r, 0, UINT64_MAX, &s[i].rep, "shared limit race");
	}
	for (int i = 0; i < 2; i++)
		if (pthread_create(&th[i], NULL, sharer_run, &s[i]))
			ktest_bail("pthread_create");
	for (int i = 0; i < 2; i++)
		pthread_join(th[i], NULL);
	peak_sum = mm_stats(s[0].r.mm).bytes_visible + mm_stats(s[1].r.mm).bytes_visible;
	ok(s[0].resolved > 0 && s[1].resolved > 0,
	   "shared limit, both at once: both make progress (%u and %u of 400 resolved)", s[0].resolved,
	   s[1].resolved);
	ok(peak_sum <= limit, "shared limit, both at once: together within the limit (%llu)",
	   (unsigned long long)peak_sum);
	for (int i = 0; i < 2; i++)
		rig_down(&s[i].r);
	munmap(buf, 2 * MB);
	if (setrlimit(RLIMIT_MEMLOCK, &was))
		ktest_bail("setrlimit: %s", strerror(errno));
}

/*
 * A prefault is never left with holes by another address space's shortfall.
 * A's prefault upgrades 32 read-only fault-mapped pages (each step a while)
 * and marks its range pinned only at the end, under A's mm->lock, while B
 * invalidates and faults in a loop, so B has nothing of its own at its
 * kernel ENOMEM and takes from A.  The donor path took only A's map_lock and
 * evicted the range's chunks mid-prefault: sva_mm_prefault() returned 0 with
 * pages the device could not reach (review Z40).
 */
static void *thief_run(void *arg)
{
	struct sharer *t = arg;
	uint64_t x = 1;

	while (!atomic_load(&t->stop)) {
		sva_mm_invalidate(t->r.mm, (void *)(uintptr_t)t->base, 1 * MB);
		x = x * 6364136223846793005ull + 1442695040888963407ull;
		sva_dev_inject_fault(t->r.dev, sva_bond_pasid(t->r.bond), t->base + ((x >> 33) % 16) * 64 * KB,
				     SVA_ACCESS_READ, 0);
		sva_ctx_process_faults(t->r.ctx, 64);
	}
	return NULL;
}

static void prefault_whole(void)
{
	const uint64_t limit = 256 * KB, span = 256 * KB, a_va = BUF_VA, b_va = BUF_VA + 4 * MB;
	struct sva_ctx_opts co = { .size = sizeof(co), .pasid_grace_ns = UINT64_MAX, .flags = SVA_CTX_FAULT_POLL };
	struct sva_mm_opts mo = { .size = sizeof(mo), .fault_around = PG };
	struct sva_bind_opts bo = { .size = sizeof(bo) };
	struct sva_ctx *ctx;
	struct sva_dev *dev;
	struct sva_mm *mm;
	struct sva_bond *bond;
	struct sharer t = { .base = b_va };
	unsigned iters = 0, done = 0, holes = 0;
	uint64_t short_by = 0, t_end;
	struct rlimit was;
	pthread_t th;

	if (getrlimit(RLIMIT_MEMLOCK, &was))
		ktest_bail("getrlimit: %s", strerror(errno));
	set_memlock(limit);
	if (sva_ctx_new(&co, &ctx) || sva_dev_open_mock(ctx, NULL, &dev) || sva_mm_new(ctx, &mo, &mm) ||
	    sva_bind(dev, mm, &bo, &bond))
		ktest_bail("prefault whole: setup failed");
	rig_up(&t.r, 0, UINT64_MAX, &t.rep, "prefault whole, B");
	map_buf(a_va, 1 * MB, false, 13);
	map_buf(b_va, 1 * MB, false, 14);
	if (pthread_create(&th, NULL, thief_run, &t))
		ktest_bail("pthread_create");
	t_end = ktest_now_ns() + 8ull * 1000000000ull;
	while (ktest_now_ns() < t_end && holes < 3) {
		iters++;
		sva_mm_invalidate(mm, (void *)(uintptr_t)a_va, 1 * MB);
		mprotect((void *)(uintptr_t)a_va, span, PROT_READ);
		for (int i = 0; i < 32; i++) {
			sva_dev_inject_fault(dev, sva_bond_pasid(bond), a_va + (uint64_t)i * 8 * KB, SVA_ACCESS_READ, 0);
			sva_ctx_process_faults(ctx, 64);
		}
		mprotect((void *)(uintptr_t)a_va, span, PROT_READ | PROT_WRITE);
		if (sva_mm_prefault(mm, (void *)(uintptr_t)a_va, span))
			continue; /* refused (-ENOMEM while B holds the rest): allowed */
		done++;
		if (mm_stats(mm).bytes_prefaulted != span) {
			holes++;
			short_by = span - mm_stats(mm).bytes_prefaulted;
		}
	}
	atomic_store(&t.stop, true);
	pthread_join(th, NULL);
	ok(done > 0, "prefault whole: %u of %u prefaults succeeded beside B's shortfalls", done, iters);
	is_int(holes, 0, "prefault whole: none that succeeded lost pages to B (last short by %llu bytes)",
	       (unsigned long long)short_by);
	rig_down(&t.r);
	sva_unbind(bond);
	sva_mm_free(mm);
	sva_dev_close(dev);
	sva_ctx_put(ctx);
	munmap((void *)(uintptr_t)a_va, 1 * MB);
	munmap((void *)(uintptr_t)b_va, 1 * MB);
	if (setrlimit(RLIMIT_MEMLOCK, &was))
		ktest_bail("setrlimit: %s", strerror(errno));
}

/*
 * A forked child's shortfall never takes its parent's memory: the child has
 * address spaces of its own, and the parent's, still on the donors' list it
 * inherited, are reached through the parent's iommufd.  fork() runs the
 * handler that empties the list; _Fork() runs none, and its child's prefault
 * unmapped the parent's pages while the parent still counted them visible
 * (review Z40).  The list now also follows the fork generation.
 */
#ifndef KTEST_TSAN /* see main() */
static void fork_child_shortfall(bool raw)
{
	const char *how = raw ? "_Fork()" : "fork()";
	struct sva_ctx_opts co = { .size = sizeof(co), .pasid_grace_ns = UINT64_MAX, .flags = SVA_CTX_FAULT_POLL };
	struct sva_bind_opts bo = { .size = sizeof(bo) };
	struct sva_ctx *ctx;
	struct sva_dev *dev;
	struct sva_mm *mm;
	struct sva_bond *bond;
	unsigned char back[PG];
	unsigned before = 0, after = 0;
	struct rlimit was;
	int status = 0;
	pid_t pid;

	if (getrlimit(RLIMIT_MEMLOCK, &was))
		ktest_bail("getrlimit: %s", strerror(errno));
	set_memlock(256 * KB);
	if (sva_ctx_new(&co, &ctx) || sva_dev_open_mock(ctx, NULL, &dev) || sva_mm_new(ctx, NULL, &mm) ||
	    sva_bind(dev, mm, &bo, &bond))
		ktest_bail("fork child shortfall: setup failed");
	map_buf(BUF_VA, 1 * MB, false, 15);
	for (int i = 0; i < 2; i++) {
		sva_dev_inject_fault(dev, sva_bond_pasid(bond), BUF_VA + (uint64_t)i * 64 * KB, SVA_ACCESS_READ, 0);
		sva_ctx_process_faults(ctx, 64);
	}
	for (uint64_t off = 0; off < 128 * KB; off += PG)
		before += ktest_access_rw(ctx, mm->ioas_id, BUF_VA + off, back, PG, 0) == 0;
	fflush(stdout);
	pid = raw ? _Fork() : fork();
	if (pid < 0)
		ktest_bail("%s: %s", how, strerror(errno));
	if (pid == 0) {
		struct sva_ctx_opts cco = { .size = sizeof(cco), .flags = SVA_CTX_FAULT_POLL };
		struct sva_ctx *cctx;
		struct sva_dev *cdev;
		struct sva_mm *cmm;
		struct sva_bond *cb;
		unsigned char *c;
		int r;

		if (sva_ctx_new(&cco, &cctx) || sva_dev_open_mock(cctx, NULL, &cdev) ||
		    sva_mm_new(cctx, NULL, &cmm) || sva_bind(cdev, cmm, &bo, &cb))
			_exit(3);
		c = ktest_map_at(PIN_VA, 256 * KB, PROT_READ | PROT_WRITE);
		memset(c, 1, 256 * KB);
		r = sva_mm_prefault(cmm, c, 192 * KB); /* more than the 128 KiB the parent leaves */
		sva_unbind(cb);
		sva_mm_free(cmm);
		sva_dev_close(cdev);
		sva_ctx_put(cctx);
		_exit(r == 0 ? 0 : r == -ENOMEM ? 1 : 2);
	}
	ktest_wait_child(pid, 60000, &status);
	for (uint64_t off = 0; off < 128 * KB; off += PG)
		after += ktest_access_rw(ctx, mm->ioas_id, BUF_VA + off, back, PG, 0) == 0;
	ok(WIFEXITED(status) && WEXITSTATUS(status) == 1,
	   "%s child: its prefault beyond what the parent leaves is -ENOMEM (exit %d)", how,
	   WIFEXITED(status) ? WEXITSTATUS(status) : -1);
	ok(before == 32 && after == before, "%s child: the parent's 32 fault-mapped pages stay reachable (%u, then %u)",
	   how, before, after);
	sva_unbind(bond);
	sva_mm_free(mm);
	sva_dev_close(dev);
	sva_ctx_put(ctx);
	munmap((void *)(uintptr_t)BUF_VA, 1 * MB);
	if (setrlimit(RLIMIT_MEMLOCK, &was))
		ktest_bail("setrlimit: %s", strerror(errno));
}
#endif

/* ------------------------------------------------------------------ race */

struct race {
	struct sva_ctx *ctx;
	struct sva_mm *mm;
	struct sva_dev *dev2;
	unsigned char *buf;
	uint64_t len;
	atomic_bool stop;
	atomic_ulong invalidations, madvises, rebinds;
};

static void *invalidator(void *arg)
{
	struct race *r = arg;
	unsigned seed = 1;

	while (!atomic_load(&r->stop)) {
		uint64_t off = (uint64_t)(rand_r(&seed) % (r->len / PG)) * PG;

		if (rand_r(&seed) & 1) {
			sva_mm_invalidate(r->mm, r->buf + off, 3 * PG < r->len - off ? 3 * PG : r->len - off);
			atomic_fetch_add(&r->invalidations, 1);
		} else {
			/* A coherence event (REMOVE); the page is filled again at once. */
			madvise(r->buf + off, PG, MADV_DONTNEED);
			atomic_fetch_add(&r->madvises, 1);
		}
		usleep(200);
	}
	return NULL;
}

static void *rebinder(void *arg)
{
	struct race *r = arg;

	while (!atomic_load(&r->stop)) {
		struct sva_bind_opts bo = { .size = sizeof(bo) };
		struct sva_bond *b = NULL;

		if (sva_bind(r->dev2, r->mm, &bo, &b) == 0) {
			/* Its faults evict and are evicted too. */
			sva_dev_inject_fault(r->dev2, sva_bond_pasid(b), BUF_VA + 0x10000, SVA_ACCESS_READ, 0);
			usleep(500);
			sva_unbind(b);
			atomic_fetch_add(&r->rebinds, 1);
		}
	}
	return NULL;
}

static void race(void)
{
	const uint64_t limit = 256 * KB;
	struct race r = { .len = 2 * MB };
	struct sva_bind_opts bo = { .size = sizeof(bo) };
	struct sva_bond *bond = NULL;
	struct sva_dev *dev = NULL;
	pthread_t t[2];
	unsigned long faults = 0, timeouts = 0, over = 0;
	uint64_t end;
	unsigned seed = 7;

	set_memlock(limit);
	r.ctx = ktest_ctx();
	if (sva_dev_open_mock(r.ctx, NULL, &dev) || sva_dev_open_mock(r.ctx, NULL, &r.dev2) ||
	    sva_mm_new(r.ctx, NULL, &r.mm) || sva_bind(dev, r.mm, &bo, &bond))
		ktest_bail("race: setup failed");
	r.buf = map_buf(BUF_VA, r.len, false, 3);
	pthread_create(&t[0], NULL, invalidator, &r);
	pthread_create(&t[1], NULL, rebinder, &r);
	end = ktest_now_ns() + 1500000000ull;
	while (ktest_now_ns() < end) {
		uint64_t off = (faults % 3) ? (faults * 16 * KB) % r.len : (uint64_t)(rand_r(&seed) % (r.len / PG)) * PG;

		if (ktest_inject_and_wait(dev, bond, BUF_VA + off, SVA_ACCESS_READ | SVA_ACCESS_WRITE, 5000))
			timeouts++;
		faults++;
		if (mm_stats(r.mm).bytes_visible > limit)
			over++;
	}
	atomic_store(&r.stop, true);
	pthread_join(t[0], NULL);
	pthread_join(t[1], NULL);
	struct sva_mm_stats s = mm_stats(r.mm);

	is_int((long)timeouts, 0, "race: %lu faults against %lu invalidations, %lu madvises, %lu rebinds: all answered",
	       faults, atomic_load(&r.invalidations), atomic_load(&r.madvises), atomic_load(&r.rebinds));
	ok(!over && s.bytes_pinned_peak <= limit, "race: never over the budget (peak %llu, %llu evictions)",
	   (unsigned long long)s.bytes_pinned_peak, (unsigned long long)s.evictions);
	is_int((long)bond_stats(bond).invalid, 0, "race: no fault of the streaming bond answered INVALID");
	sva_unbind(bond);
	sva_mm_free(r.mm);
	sva_dev_close(dev);
	sva_dev_close(r.dev2);
	sva_ctx_put(r.ctx);
	munmap(r.buf, r.len);
}

/*
 * Re-faults on pages evicted 4 MiB apart: the table of evicted blocks was
 * indexed by block % 1024, so blocks a power-of-two stride apart shared a
 * few entries and most re-faults went uncounted (none of 50 here).
 */
static void refault_strides(void)
{
	const uint64_t stride = 4 * MB, n = 60;
	struct sva_ctx_opts co = { .size = sizeof(co), .flags = SVA_CTX_FAULT_POLL };
	struct sva_mm_opts mo = { .size = sizeof(mo), .fault_around = PG, .pin_budget = 4 * PG };
	struct sva_ctx *ctx;
	struct sva_dev *dev;
	struct sva_mm *mm;
	struct sva_bond *bond;
	unsigned char *p = mmap((void *)(uintptr_t)BUF_VA, n * stride, PROT_READ | PROT_WRITE,
				MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_FIXED_NOREPLACE, -1, 0);
	uint64_t before;

	if (p == MAP_FAILED || sva_ctx_new(&co, &ctx) || sva_dev_open_mock(ctx, NULL, &dev) || sva_mm_new(ctx, &mo, &mm) ||
	    sva_bind(dev, mm, NULL, &bond))
		ktest_bail("a strided buffer, a 4-page budget");
	for (uint64_t i = 0; i < n; i++)
		p[i * stride] = 1;
	for (uint64_t i = 0; i < n; i++) {
		sva_dev_inject_fault(dev, sva_bond_pasid(bond), BUF_VA + i * stride, SVA_ACCESS_READ, 0);
		sva_ctx_process_faults(ctx, 4);
	}
	before = mm_stats(mm).refaults;
	for (uint64_t i = 0; i < 50; i++) {
		sva_dev_inject_fault(dev, sva_bond_pasid(bond), BUF_VA + i * stride, SVA_ACCESS_READ, 0);
		sva_ctx_process_faults(ctx, 4);
	}
	uint64_t got = mm_stats(mm).refaults - before;

	ok(got >= 40 && got <= 50, "50 re-faults on pages evicted 4 MiB apart: %llu counted (a floor; it was 0)",
	   (unsigned long long)got);
	sva_unbind(bond);
	sva_mm_free(mm);
	sva_dev_close(dev);
	sva_ctx_free(ctx);
	munmap(p, n * stride);
}

/*
 * A full batch of 64 faults at a budget of 512 KiB, and of 256 KiB (a page
 * each), in any pattern (sva_mm_new(3), "Pin budget"): a fault's window may not take the room the
 * later faults of its batch need, since nothing mapped for the batch can be
 * evicted before it is answered.  Strided faults ramp their windows up as a
 * stream; they took all of it, and 56 of 64 faults at a 64 KiB stride were
 * answered INVALID.
 */
static void batch_patterns(void)
{
	const uint64_t va0 = BUF_VA + 512 * MB; /* apart from the buffers the other cases leave */
	static const struct {
		uint64_t stride, budget;
		const char *what;
	} pat[] = { { 16 * KB, 512 * KB, "16 KiB apart" },   { 64 * KB, 512 * KB, "64 KiB apart" },
		    { 4 * KB, 512 * KB, "adjacent" },	      { 1 * MB, 512 * KB, "1 MiB apart" },
		    { 16 * KB, 256 * KB, "16 KiB apart" },   { 64 * KB, 256 * KB, "64 KiB apart" },
		    { 4 * KB, 256 * KB, "adjacent" },	      { 1 * MB, 256 * KB, "1 MiB apart" } };

	for (size_t p = 0; p < sizeof(pat) / sizeof(pat[0]); p++) {
		struct reports rep = { 0 };
		struct rig r;
		unsigned char *buf;
		int seen = 0;

		rig_up(&r, pat[p].budget, 0, &rep, "batch patterns");
		struct sva_ctx *ctx = r.ctx;
		struct sva_dev *dev = r.dev;
		struct sva_mm *mm = r.mm;
		struct sva_bond *bond = r.bond;

		buf = map_buf(va0, 64 * pat[p].stride, false, 9);
		for (int i = 0; i < 64; i++)
			sva_dev_inject_fault(dev, sva_bond_pasid(bond), va0 + (uint64_t)i * pat[p].stride,
					     SVA_ACCESS_READ, 0);
		is_int(sva_ctx_process_faults(ctx, 64), 64, "batch of 64 faults %s: one batch", pat[p].what);
		ok(rep.n == 0, "  none answered INVALID at a %llu KiB budget (%d were, first reason %d)",
		   (unsigned long long)(pat[p].budget / KB), rep.n, rep.n ? rep.reason[0] : 0);
		for (int i = 0; i < 64; i++)
			seen += device_sees(ctx, mm, va0 + (uint64_t)i * pat[p].stride,
					    buf + (uint64_t)i * pat[p].stride);
		is_int(seen, 64, "  the device sees all 64 pages");
		ok(mm_stats(mm).bytes_pinned_peak <= pat[p].budget, "  within the budget (peak %llu)",
		   (unsigned long long)mm_stats(mm).bytes_pinned_peak);
		rig_down(&r);
		munmap(buf, 64 * pat[p].stride);
	}
}

/*
 * A device streaming in order under a budget whose quarter is below
 * fault_around: the window doubles up to the quarter and stays there, running
 * forward from each fault, as it stays at a fault_around cap.  It used to be
 * cut, at the quarter, to the aligned block around the fault, most of it
 * mapped already: a few new pages, and the ramp started over (16 32 ... 256
 * 512 16 32 ... with an 8 MiB budget).
 */
static void ramp_to_quarter(uint64_t fault_around, uint64_t budget, uint64_t want)
{
	struct sva_ctx_opts co = { .size = sizeof(co), .flags = SVA_CTX_FAULT_POLL };
	struct sva_mm_opts mo = { .size = sizeof(mo), .fault_around = fault_around, .pin_budget = budget };
	uint64_t len = 32 * MB, va = BUF_VA, got[14];
	char seq[160] = "", fa[32];
	struct sva_ctx *ctx;
	struct sva_dev *dev;
	struct sva_mm *mm;
	struct sva_bond *bond;
	unsigned steady = 0;
	unsigned char *p;

	set_memlock(64 * MB);
	if (sva_ctx_new(&co, &ctx) || sva_dev_open_mock(ctx, NULL, &dev) || sva_mm_new(ctx, &mo, &mm) ||
	    sva_bind(dev, mm, NULL, &bond))
		ktest_bail("ramp_to_quarter: setup");
	p = map_buf(BUF_VA, len, false, 9);
	for (unsigned i = 0; i < 14; i++) {
		uint64_t before = bond_stats(bond).pages_mapped;

		if (ktest_inject_and_wait(dev, bond, va, SVA_ACCESS_READ, 5000))
			ktest_bail("ramp_to_quarter: a fault was not answered");
		got[i] = bond_stats(bond).pages_mapped - before;
		va += (got[i] ? got[i] : 1) * PG; /* the next fault: just past the window */
		snprintf(seq + strlen(seq), sizeof(seq) - strlen(seq), " %llu", (unsigned long long)got[i]);
	}
	for (unsigned i = 8; i < 14; i++)
		steady += got[i] == want / PG;
	snprintf(fa, sizeof(fa), "%llu KiB", (unsigned long long)(fault_around / KB));
	is_int((long)steady, 6, "fault_around %s, %llu KiB budget, in order: the window holds at the quarter, %llu pages "
	       "(pages per fault:%s)", fault_around ? fa : "default", (unsigned long long)(budget / KB),
	       (unsigned long long)(want / PG), seq);
	sva_unbind(bond);
	sva_mm_free(mm);
	sva_dev_close(dev);
	sva_ctx_free(ctx);
	munmap(p, len);
}

int main(void)
{
	struct sva_ctx *ctx;
	struct sva_dev *dev = NULL;
	int ret;

	ktest_require_iommufd();
	ctx = ktest_ctx();
	ret = sva_dev_open_mock(ctx, NULL, &dev);
	ktest_skip_without_mock(ret);
	if (ret)
		ktest_bail("sva_dev_open_mock: %s", strerror(-ret));
	sva_dev_close(dev);
	sva_ctx_put(ctx);
	alarm(600);

	drop_ipc_lock();
	options();
	release_at_once();
	kernel_limit_batches(false);
	kernel_limit_batches(true); /* early: a fresh guest has 2 MiB blocks free */
	stream(1 * MB, 4, false);
	stream(1 * MB, 8, false);
	stream(1 * MB, 4, true);
	stream(1 * MB, 8, true);
	stream(256 * KB, 8, false);
	stream(256 * KB, 8, true);
	stream(16 * KB, 8, false);
	stream(16 * KB, 8, true);
	kernel_limit(false);
	kernel_limit(true);
	pinned_mode();
	in_flight();
	tiny_budget_batch();
	first_batch_at_limit(1);
	first_batch_at_limit(4);
	first_batch_at_limit(0);
	shared_limit();
	shared_limit_race();
	prefault_whole();
#ifdef KTEST_TSAN
	/* Its child makes a context of its own, with threads. */
	skip(2, "ThreadSanitizer refuses new threads in the child of a multi-threaded fork (gcc and asan run it)");
	skip(2, "_Fork() under ThreadSanitizer: its runtime sees no fork (the gcc and asan tiers run it)");
#else
	fork_child_shortfall(false);
	fork_child_shortfall(true);
#endif
	batch_patterns();
	turn_back(256 * KB);
	turn_back(1 * MB);
	ramp_to_quarter(1024 * MB, 8 * MB, 2 * MB);
	ramp_to_quarter(0, 3 * MB, 512 * KB); /* the default fault_around, 1 MiB */
	race();
	refault_strides();
	done_testing();
}
