/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * What a device can reach, against the iommufd selftest mock (issue 13).  The
 * library's arena is placed inside the mock's window (a test hook), so its
 * objects are addresses a device could fault on: a fault at a bond, the
 * context, the address space, the device, the fault engine's buffer, the fault
 * thread's stack or its guard page is INVALID (-EXDEV) and maps nothing; a
 * fault-around window next to the arena stops short of it.  A restricted
 * address space resolves faults only inside allowed ranges (-ENXIO elsewhere,
 * the caller's stack included), clips fault-around to their edge, refuses
 * prefault outside them, withdraws on deny, and allows sva_mem_alloc() memory
 * by itself.  Every "maps nothing" is checked through the kernel's view.
 */
#include <pthread.h>
#include <sys/mman.h>

#include "ktest.h"
#include "withdraw.h"

extern uint64_t sva_test_arena_at; /* arena.c, libsva-test only */

/* Inside the mock aperture [16 MiB, 2 GiB), and its 1 GiB reservation below
 * 0x7fff8000, where AddressSanitizer's shadow starts. */
#define ARENA_AT 0x30000000ull
#define LOW_VA (ARENA_AT - (1ull << 20)) /* 1 MiB of the process's right below it */
#define RBUF_VA 0x20000000ull
#define PG 4096ull

/* What the fault thread's callback saw, under lock (the injection goes
 * through the kernel, which ThreadSanitizer cannot see as an ordering). */
struct reports {
	pthread_mutex_t lock;
	int n;
	struct sva_fault_report last;
	uintptr_t thread_sp; /* a local of the fault thread, from its callback */
};

static void on_fault_error(struct sva_bond *bond, const struct sva_fault_report *r, void *drvdata)
{
	struct reports *rep = drvdata;
	volatile int here = 0;

	(void)bond;
	pthread_mutex_lock(&rep->lock);
	rep->n++;
	rep->last = *r;
	rep->thread_sp = (uintptr_t)&here;
	pthread_mutex_unlock(&rep->lock);
}

/* Fault at addr: the reason reported (0: resolved), or 1 if it was never
 * handled; *seen (if not NULL) gets the report. */
static int fault_seen(struct sva_dev *dev, struct sva_bond *bond, struct reports *rep, uint64_t addr,
		      uint32_t access, struct reports *seen)
{
	int ret;

	pthread_mutex_lock(&rep->lock);
	rep->n = 0;
	pthread_mutex_unlock(&rep->lock);
	if (ktest_inject_and_wait(dev, bond, addr, access, 5000))
		return 1;
	pthread_mutex_lock(&rep->lock);
	ret = rep->n ? rep->last.reason : 0;
	if (seen) {
		seen->n = rep->n;
		seen->last = rep->last;
		seen->thread_sp = rep->thread_sp;
	}
	pthread_mutex_unlock(&rep->lock);
	return ret;
}

static int fault_reason(struct sva_dev *dev, struct sva_bond *bond, struct reports *rep, uint64_t addr,
			uint32_t access)
{
	return fault_seen(dev, bond, rep, addr, access, NULL);
}

static bool unmapped(struct sva_ctx *ctx, struct sva_mm *mm, uint64_t addr)
{
	unsigned char back[PG];

	return ktest_access_rw(ctx, mm->ioas_id, addr & ~(PG - 1), back, PG, 0) == -ENOENT;
}

static bool readable(struct sva_ctx *ctx, struct sva_mm *mm, uint64_t addr)
{
	unsigned char back[PG];

	return ktest_access_rw(ctx, mm->ioas_id, addr, back, PG, 0) == 0;
}

static uint64_t pages(struct sva_bond *bond)
{
	struct sva_bond_stats st = { .size = sizeof(st) };

	sva_bond_stats(bond, &st);
	return st.pages_mapped;
}

static void library_memory(struct sva_ctx *ctx, struct sva_dev *dev)
{
	const uint32_t rw = SVA_ACCESS_READ | SVA_ACCESS_WRITE;
	struct reports rep = { .lock = PTHREAD_MUTEX_INITIALIZER }, seen = { .n = 0 };
	struct sva_bond_ops ops = { .size = sizeof(ops), .fault_error = on_fault_error };
	struct sva_bind_opts bo = { .size = sizeof(bo), .drvdata = &rep, .ops = &ops };
	struct sva_bond *bond;
	struct sva_mm *mm;
	unsigned char *low;

	if (!is_int(sva_mm_new(ctx, NULL, &mm), 0, "a default (whole-process) address space"))
		return;
	if (!is_int(sva_bind(dev, mm, &bo, &bond), 0, "a fault-capable bond on it"))
		return;
	ok((uintptr_t)bond >= ARENA_AT && (uintptr_t)bond < ARENA_AT + (1ull << 30),
	   "the bond sits inside the device's window (%p: the arena was placed there)", (void *)bond);

	const struct {
		const char *what;
		uintptr_t addr;
	} objs[] = {
		{ "the bond", (uintptr_t)bond },
		{ "the bond's ops (function pointers)", (uintptr_t)&bond->ops.fault_error },
		{ "the context", (uintptr_t)ctx },
		{ "the address space", (uintptr_t)mm },
		{ "the device", (uintptr_t)dev },
	};
	for (size_t i = 0; i < sizeof(objs) / sizeof(objs[0]); i++) {
		is_int(fault_reason(dev, bond, &rep, objs[i].addr, rw), -EXDEV, "a write fault at %s: INVALID, -EXDEV",
		       objs[i].what);
		ok(unmapped(ctx, mm, objs[i].addr), "the kernel's view: %s is not mapped", objs[i].what);
	}
	ok(ctx->fe.buf != NULL, "the fault engine has its read buffer");
	is_int(fault_seen(dev, bond, &rep, (uintptr_t)ctx->fe.buf, SVA_ACCESS_READ, &seen), -EXDEV,
	       "a fault at the fault engine's read buffer: -EXDEV");
	ok(unmapped(ctx, mm, (uintptr_t)ctx->fe.buf), "the kernel's view: not mapped");

	/* The fault thread's stack: a local of its callback, and its guard page. */
	uintptr_t sp = seen.thread_sp;

	ok(sp >= ARENA_AT && sp < ARENA_AT + (1ull << 30), "the fault thread's stack is in the arena too (%#lx)",
	   (unsigned long)sp);

	is_int(fault_reason(dev, bond, &rep, sp, rw), -EXDEV, "a write fault at the fault thread's stack: -EXDEV");
	ok(unmapped(ctx, mm, sp), "the kernel's view: its stack is not mapped");
	is_int(fault_reason(dev, bond, &rep, (uintptr_t)ctx->fe.thread_stack, SVA_ACCESS_READ), -EXDEV,
	       "a fault at its guard page: -EXDEV");

	/* The process's memory right below the arena: resolved, and nothing of
	 * the arena comes with it, even when fault-around runs forward into it. */
	low = ktest_map_at(LOW_VA, 1u << 20, PROT_READ | PROT_WRITE);
	memset(low, 0x5a, 1u << 20);
	uint64_t before = pages(bond);

	is_int(fault_reason(dev, bond, &rep, ARENA_AT - 128 * 1024, SVA_ACCESS_READ), 0,
	       "a fault 128 KiB below the arena is resolved");
	is_int(fault_reason(dev, bond, &rep, ARENA_AT - 64 * 1024, SVA_ACCESS_READ), 0,
	       "the next, in order (its window would run 64 KiB into the arena), too");
	ok(pages(bond) - before == 32, "both windows stop at the arena: 32 pages mapped (%llu)",
	   (unsigned long long)(pages(bond) - before));
	ok(readable(ctx, mm, ARENA_AT - PG), "the kernel's view: the last page below the arena is mapped");
	ok(unmapped(ctx, mm, ARENA_AT), "the kernel's view: the arena's first page is not");
	is_int(sva_mm_prefault(mm, (void *)(uintptr_t)(ARENA_AT - PG), 2 * PG), -EXDEV,
	       "a prefault across the arena's edge: -EXDEV");
	is_int(sva_mm_prefault(mm, ctx, sizeof(*ctx)), -EXDEV, "a prefault of the context: -EXDEV");
	ok(unmapped(ctx, mm, (uintptr_t)ctx), "the kernel's view: nothing mapped by them");

	/* A guard page of the process's own. */
	void *guard = ktest_map_at(RBUF_VA + (8u << 20), PG, PROT_NONE);

	is_int(fault_reason(dev, bond, &rep, (uintptr_t)guard, SVA_ACCESS_READ), -EACCES,
	       "a fault at a PROT_NONE guard page: -EACCES");
	ok(unmapped(ctx, mm, (uintptr_t)guard), "the kernel's view: not mapped");
	munmap(guard, PG);
	munmap(low, 1u << 20);
	sva_unbind(bond);
	sva_mm_free(mm);
}

/* SVA_MM_PRIVATE refuses everything not prefaulted (-ENOENT), but libsva's
 * own memory says what it is there too (libsva(7): -EXDEV in every mode). */
static void private_library_memory(struct sva_ctx *ctx, struct sva_dev *dev)
{
	struct reports rep = { .lock = PTHREAD_MUTEX_INITIALIZER };
	struct sva_mm_opts mo = { .size = sizeof(mo), .flags = SVA_MM_PRIVATE };
	struct sva_bond_ops ops = { .size = sizeof(ops), .fault_error = on_fault_error };
	struct sva_bind_opts bo = { .size = sizeof(bo), .drvdata = &rep, .ops = &ops };
	struct sva_bond *bond;
	struct sva_mm *mm;
	void *mine = ktest_map_at(RBUF_VA + (16u << 20), PG, PROT_READ | PROT_WRITE);

	if (!is_int(sva_mm_new(ctx, &mo, &mm), 0, "a private address space") ||
	    !is_int(sva_bind(dev, mm, &bo, &bond), 0, "a fault-capable bond on it"))
		return;
	is_int(fault_reason(dev, bond, &rep, (uintptr_t)bond, SVA_ACCESS_READ), -EXDEV,
	       "private: a fault at the bond: -EXDEV");
	is_int(fault_reason(dev, bond, &rep, (uintptr_t)ctx, SVA_ACCESS_READ), -EXDEV,
	       "private: a fault at the context: -EXDEV");
	is_int(fault_reason(dev, bond, &rep, (uintptr_t)mine, SVA_ACCESS_READ), -ENOENT,
	       "private: a fault at the process's own memory, not prefaulted: -ENOENT");
	ok(unmapped(ctx, mm, (uintptr_t)bond) && unmapped(ctx, mm, (uintptr_t)mine), "the kernel's view: neither mapped");
	munmap(mine, PG);
	sva_unbind(bond);
	sva_mm_free(mm);
}

/*
 * Tracking stops (the monitor failed: sva_mm_tracking_lost(), what the monitor
 * calls for each address space): SVA_MM_TRACK_STRICT refuses every new map,
 * faults included (INVALID, EIO), since nothing would withdraw it; a default
 * address space maps on, and counts those maps as untracked.
 */
static void tracking_lost(struct sva_ctx *ctx, struct sva_dev *dev)
{
	struct reports rep = { .lock = PTHREAD_MUTEX_INITIALIZER };
	struct sva_mm_opts so = { .size = sizeof(so), .flags = SVA_MM_TRACK_STRICT };
	struct sva_bond_ops ops = { .size = sizeof(ops), .fault_error = on_fault_error };
	struct sva_bind_opts bo = { .size = sizeof(bo), .drvdata = &rep, .ops = &ops };
	struct sva_mm_stats st = { .size = sizeof(st) };
	struct sva_bond *sb, *db;
	struct sva_mm *strict, *dflt;
	unsigned char *buf = ktest_map_at(RBUF_VA + (24u << 20), 4 * PG, PROT_READ | PROT_WRITE);

	memset(buf, 0x11, 4 * PG);
	if (sva_mm_new(ctx, &so, &strict) || sva_mm_new(ctx, NULL, &dflt) || sva_bind(dev, strict, &bo, &sb) ||
	    sva_bind(dev, dflt, &bo, &db))
		ktest_bail("set up of the tracking-lost test");
	if (sva_mm_prefault(strict, buf, 4 * PG) || sva_mm_prefault(dflt, buf, 4 * PG))
		ktest_bail("prefaults before the loss");
	sva_mm_tracking_lost(strict, -EIO);
	sva_mm_tracking_lost(dflt, -EIO);
	/* Events may have gone with the monitor: what was visible goes too. */
	ok(unmapped(ctx, strict, (uintptr_t)buf) && unmapped(ctx, dflt, (uintptr_t)buf + PG),
	   "tracking stopped: what was visible before is withdrawn from both");
	is_int(fault_reason(dev, sb, &rep, (uintptr_t)buf, SVA_ACCESS_READ), -EIO,
	       "strict, tracking stopped: a fault at mapped memory is INVALID, -EIO");
	ok(unmapped(ctx, strict, (uintptr_t)buf), "the kernel's view: nothing mapped");
	is_int(sva_mm_prefault(strict, buf, PG), -EIO, "and a prefault: -EIO");
	is_int(fault_reason(dev, db, &rep, (uintptr_t)buf, SVA_ACCESS_READ), 0,
	       "default, tracking stopped: the fault is resolved");
	ok(readable(ctx, dflt, (uintptr_t)buf), "the kernel's view: mapped");
	sva_mm_stats(dflt, &st);
	ok(st.untracked_ranges >= 1 && st.untracked_bytes >= PG && !(st.flags & SVA_MM_STAT_TRACKED),
	   "counted as untracked (%llu ranges, %llu bytes), and the address space says it is not tracked",
	   (unsigned long long)st.untracked_ranges, (unsigned long long)st.untracked_bytes);
	sva_unbind(sb);
	sva_unbind(db);
	sva_mm_free(strict);
	sva_mm_free(dflt);
	munmap(buf, 4 * PG);
}

static void restricted(struct sva_ctx *ctx, struct sva_dev *dev)
{
	struct reports rep = { .lock = PTHREAD_MUTEX_INITIALIZER }, seen = { .n = 0 };
	struct sva_bond_ops ops = { .size = sizeof(ops), .fault_error = on_fault_error };
	struct sva_bind_opts bo = { .size = sizeof(bo), .drvdata = &rep, .ops = &ops };
	struct sva_mm_opts mo = { .size = sizeof(mo), .flags = SVA_MM_RESTRICTED };
	struct sva_mem_opts memo = { .size = sizeof(memo), .flags = SVA_MEM_ANY_NODE };
	struct sva_bond *bond;
	struct sva_mm *mm;
	unsigned char *buf;
	int stack_var = 7;
	void *m;

	if (!is_int(sva_mm_new(ctx, &mo, &mm), 0, "a restricted address space (SVA_MM_RESTRICTED)"))
		return;
	if (!is_int(sva_bind(dev, mm, &bo, &bond), 0, "a fault-capable bond on it"))
		return;
	buf = ktest_map_at(RBUF_VA, 256 * 1024, PROT_READ | PROT_WRITE);
	memset(buf, 0x77, 256 * 1024);

	is_int(fault_reason(dev, bond, &rep, RBUF_VA + 5 * PG, SVA_ACCESS_READ), -ENXIO,
	       "before any allow, a fault on mapped memory: INVALID, -ENXIO");
	is_int(sva_mm_allow(mm, buf + 4 * PG, 8 * PG), 0, "allow pages 4..11 of the buffer");
	uint64_t before = pages(bond);

	is_int(fault_reason(dev, bond, &rep, RBUF_VA + 5 * PG, SVA_ACCESS_READ), 0, "a fault inside is resolved");
	is_int(pages(bond) - before, 8, "its 64 KiB window is clipped to the allowed 8 pages");
	ok(readable(ctx, mm, RBUF_VA + 4 * PG) && readable(ctx, mm, RBUF_VA + 11 * PG),
	   "the kernel's view: the allowed range's first and last pages are mapped");
	ok(unmapped(ctx, mm, RBUF_VA + 3 * PG) && unmapped(ctx, mm, RBUF_VA + 12 * PG),
	   "the kernel's view: nothing on either side of it");
	is_int(fault_seen(dev, bond, &rep, RBUF_VA + 20 * PG, SVA_ACCESS_READ, &seen), -ENXIO,
	       "a fault outside the allowed range: -ENXIO");
	ok(seen.last.addr == RBUF_VA + 20 * PG && seen.last.dev == dev, "reported with its address and device");
	ok(unmapped(ctx, mm, RBUF_VA + 20 * PG), "the kernel's view: not mapped");
	is_int(fault_reason(dev, bond, &rep, (uintptr_t)&stack_var, SVA_ACCESS_READ | SVA_ACCESS_WRITE), -ENXIO,
	       "a fault at the caller's stack: -ENXIO");
	is_int(fault_reason(dev, bond, &rep, (uintptr_t)bond, SVA_ACCESS_READ), -EXDEV,
	       "a fault at the bond: -EXDEV (the library's memory, whatever is allowed)");
	is_int(sva_mm_prefault(mm, buf + 20 * PG, PG), -EACCES, "prefault outside the allowed ranges: -EACCES");
	is_int(sva_mm_prefault(mm, buf + 10 * PG, 4 * PG), -EACCES, "prefault across the edge: -EACCES");
	ok(unmapped(ctx, mm, RBUF_VA + 12 * PG) && unmapped(ctx, mm, RBUF_VA + 20 * PG),
	   "the kernel's view: neither mapped anything");
	is_int(sva_mm_allow(mm, buf, 256 * 1024), 0, "allow the whole buffer");
	is_int(sva_mm_prefault(mm, buf + 20 * PG, PG), 0, "now the prefault is accepted");
	is_int(sva_mm_deny(mm, buf + 4 * PG, 4 * PG), 0, "deny pages 4..7");
	ok(unmapped(ctx, mm, RBUF_VA + 5 * PG), "the kernel's view: withdrawn at once");
	is_int(fault_reason(dev, bond, &rep, RBUF_VA + 5 * PG, SVA_ACCESS_READ), -ENXIO,
	       "a fault there now: -ENXIO");
	ok(unmapped(ctx, mm, RBUF_VA + 5 * PG), "and it stays unmapped");
	is_int(sva_mm_deny(mm, buf + 4 * PG, 4 * PG), 0, "denying it again is not an error");
	is_int(sva_mm_deny(mm, buf + 1, PG), -EINVAL, "an unaligned deny: -EINVAL");

	/* sva_mem_alloc() memory is allowed by itself, and denied when freed. */
	memo.mm = mm;
	if (is_int(sva_mem_alloc(64 * 1024, &memo, &m), 0, "sva_mem_alloc for the restricted address space")) {
		memset(m, 1, 64 * 1024);
		is_int(fault_reason(dev, bond, &rep, (uintptr_t)m + PG, SVA_ACCESS_READ), 0,
		       "a fault in it is resolved without an allow");
		ok(readable(ctx, mm, (uintptr_t)m + PG), "the kernel's view: mapped");
		is_int(sva_mem_free(mm, m, 64 * 1024), 0, "sva_mem_free");
		ok(unmapped(ctx, mm, (uintptr_t)m + PG), "the kernel's view: withdrawn");
		is_int(fault_reason(dev, bond, &rep, (uintptr_t)m + PG, SVA_ACCESS_READ), -ENXIO,
		       "a fault there is -ENXIO (denied), not -EFAULT");
	}
	munmap(buf, 256 * 1024);
	sva_unbind(bond);
	sva_mm_free(mm);
}

/*
 * A failed sva_mem_alloc() takes back only the allowance it added: one the
 * driver made over the same memory stays.  Here the prefault the allocation
 * asks for does not fit the pin budget, after the driver allowed the range
 * the allocation lands in (the lowest free one, learnt by a first
 * allocation).  A fault there then finds nothing mapped (-EFAULT), not a
 * denied range (-ENXIO, before the fix).
 */
static void failed_alloc_keeps_allowance(struct sva_ctx *ctx, struct sva_dev *dev)
{
	struct reports rep = { .lock = PTHREAD_MUTEX_INITIALIZER };
	struct sva_bond_ops ops = { .size = sizeof(ops), .fault_error = on_fault_error };
	struct sva_bind_opts bo = { .size = sizeof(bo), .drvdata = &rep, .ops = &ops };
	struct sva_mm_opts mo = { .size = sizeof(mo), .flags = SVA_MM_RESTRICTED, .pin_budget = 4 * PG };
	struct sva_mem_opts memo = { .size = sizeof(memo), .flags = SVA_MEM_ANY_NODE };
	struct sva_bond *bond;
	struct sva_mm *mm;
	void *m;
	uint64_t p0;

	if (sva_mm_new(ctx, &mo, &mm) || sva_bind(dev, mm, &bo, &bond))
		ktest_bail("restricted address space with a 16 KiB budget");
	memo.mm = mm;
	if (!is_int(sva_mem_alloc(64 * 1024, &memo, &m), 0, "sva_mem_alloc, to learn where it places memory"))
		return;
	p0 = (uintptr_t)m;
	sva_mem_free(mm, m, 64 * 1024);
	is_int(sva_mm_allow(mm, m, 1u << 20), 0, "the driver allows 1 MiB from there");
	memo.flags |= SVA_MEM_PREFAULT;
	ok(sva_mem_alloc(64 * 1024, &memo, &m) < 0, "an allocation there whose prefault does not fit the budget fails");
	is_int(fault_reason(dev, bond, &rep, p0 + PG, SVA_ACCESS_READ), -EFAULT,
	       "a fault there after it: -EFAULT (still allowed, nothing mapped), not -ENXIO");
	/* The same when the driver allowed only part of it: that part stays,
	 * the rest, which the call added, goes (it denied all of it). */
	is_int(sva_mm_deny(mm, (void *)(uintptr_t)p0, 1u << 20), 0, "the driver denies it all again");
	is_int(sva_mm_allow(mm, (void *)(uintptr_t)(p0 + PG), PG), 0, "and allows the allocation's second page only");
	ok(sva_mem_alloc(64 * 1024, &memo, &m) < 0, "the allocation there fails again");
	is_int(fault_reason(dev, bond, &rep, p0 + PG, SVA_ACCESS_READ), -EFAULT,
	       "a fault at the page the driver allowed: -EFAULT (still allowed), not -ENXIO");
	is_int(fault_reason(dev, bond, &rep, p0 + 2 * PG, SVA_ACCESS_READ), -ENXIO,
	       "a fault at a page only the call had allowed: -ENXIO (taken back)");
	sva_unbind(bond);
	sva_mm_free(mm);
}

int main(void)
{
	struct sva_ctx *ctx;
	struct sva_dev *dev;
	int ret;

	/* Before anything of libsva is allocated: the arena inside the window. */
	sva_test_arena_at = ARENA_AT;
	ktest_require_iommufd();
	ctx = ktest_ctx();
	ok((uintptr_t)ctx >= ARENA_AT && (uintptr_t)ctx < ARENA_AT + (1ull << 30),
	   "the library's arena is at %#llx, inside the mock's window", ARENA_AT);
	ret = sva_dev_open_mock(ctx, NULL, &dev);
	ktest_skip_without_mock(ret);
	if (ret)
		ktest_bail("sva_dev_open_mock: %s", strerror(-ret));
	library_memory(ctx, dev);
	private_library_memory(ctx, dev);
	tracking_lost(ctx, dev);
	restricted(ctx, dev);
	failed_alloc_keeps_allowance(ctx, dev);
	sva_dev_close(dev);
	sva_ctx_free(ctx);
	return done_testing();
}
