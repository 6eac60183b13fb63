/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Coherence tracking against the iommufd selftest mock: after munmap(),
 * mremap(), madvise(), brk() and free(), what the device sees is the
 * process's new memory or nothing, never the old pages; device writes reach
 * the process.  (What the device sees: the kernel's access path says whether
 * the IOVA is mapped, and the mock's own page table, MD_CHECK_MAP, whether it
 * maps the page the process has there now.  The access path alone cannot
 * tell: for one page it reads the process's current page, not the pinned one.)
 * Also: a prefault of part of a mapping does not split it.  Also: the fault path never answers from a stale
 * chunk, the REMOVE race, a concurrent munmap/remap loop, an application's own
 * userfaultfd, a seccomp filter that denies userfaultfd, fork, untracked
 * address spaces and the errors of the new calls.
 */
#define _GNU_SOURCE /* mremap(), memfd_create() */
#include <dirent.h>
#include <fcntl.h>
#include <poll.h>
#include <malloc.h>
#include <pthread.h>
#include <stdatomic.h>
#include <signal.h>
#include <stddef.h>
#include <sys/eventfd.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#include <sys/shm.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

#include "ktest.h"
#include "uffd_refuse.h"
#include "../hugetlb.h"
#include "withdraw.h"

extern _Atomic uint64_t sva_test_remove_settle_ns; /* withdraw.c, libsva-test only */
extern _Atomic uint64_t sva_test_track_checked_ns;  /* track.c, likewise */
extern _Atomic uint64_t sva_test_stop_grace_ns;     /* track.c, likewise */

#define PG 4096u
#define VA 0x60000000ull    /* inside the mock aperture [16 MiB, 2 GiB) */
#define VA2 0x64000000ull   /* an mremap target */

static struct sva_ctx *g_ctx;
static struct sva_dev *g_dev;

/*
 * Read the device's page at va into b; -ENOENT if nothing is mapped there,
 * -ESTALE if a page the process no longer has.  The read and the page check
 * are two calls: a check that fails may only mean the monitor withdrew the
 * page in between (a suspect chunk's withdrawal after a fence), so the read is
 * tried again, and only a page that stays another one three times is stale.
 */
static int device_read(struct sva_mm *mm, uint64_t page, unsigned char *b)
{
	for (int tries = 0;; tries++) {
		int ret = ktest_access_rw(g_ctx, mm->ioas_id, page, b, PG, 0);

		if (ret)
			return ret;
		if (ktest_device_has_page(g_ctx, mm, page))
			return 0;
		if (tries == 2)
			return -ESTALE;
	}
}

/* What the device sees at va: the first byte of its page, -ENOENT if
 * nothing, -ESTALE if a page the process no longer has there. */
static int seen(struct sva_mm *mm, uint64_t va)
{
	unsigned char b[PG];
	uint64_t page = va & ~(uint64_t)(PG - 1);
	int ret = device_read(mm, page, b);

	return ret ? ret : b[va - page];
}

/* The device writes one byte at va (-ESTALE: it would write a page the
 * process no longer has there, so the process would never see it). */
static int dev_write(struct sva_mm *mm, uint64_t va, unsigned char v)
{
	unsigned char b[PG];
	uint64_t page = va & ~(uint64_t)(PG - 1);
	int ret = device_read(mm, page, b);

	if (ret)
		return ret;
	b[va - page] = v;
	return ktest_access_rw(g_ctx, mm->ioas_id, page, b, PG, 1);
}

static unsigned char *fill_at(uint64_t va, size_t len, unsigned char v)
{
	unsigned char *p = ktest_map_at(va, len, PROT_READ | PROT_WRITE);

	memset(p, v, len);
	return p;
}

static struct sva_mm_stats stats(struct sva_mm *mm)
{
	struct sva_mm_stats s = { .size = sizeof(s) };

	sva_mm_stats(mm, &s);
	return s;
}

/* A device fault at va, handled when this returns (or -ETIMEDOUT). */
static int fault(struct sva_bond *bond, uint64_t va, uint32_t perm)
{
	return ktest_inject_and_wait(g_dev, bond, va, perm, 5000);
}

/* ---------------------------------------------------------------- munmap */

static void munmap_checks(struct sva_mm *mm, struct sva_bond *bond)
{
	struct sva_mm_stats s0 = stats(mm), s1;
	unsigned char *p;

	ok(s0.flags & SVA_MM_STAT_TRACKED, "tracking is on by default (reason %d)", s0.untracked_reason);
	p = fill_at(VA, 4 * PG, 0xa1);
	is_int(sva_mm_prefault(mm, p, 4 * PG), 0, "munmap: prefault 16 KiB");
	is_int(seen(mm, VA), 0xa1, "munmap: the device sees the bytes");
	munmap(p, 4 * PG);
	is_int(sva_mm_fence(mm), 0, "munmap: sva_mm_fence");
	is_int(seen(mm, VA), -ENOENT, "munmap: withdrawn from the IOAS once munmap and the fence returned");
	s1 = stats(mm);
	ok(s1.events > s0.events && s1.bytes_withdrawn >= s0.bytes_withdrawn + 4 * PG,
	   "munmap: stats count the event and the bytes (%llu events, %llu bytes)",
	   (unsigned long long)(s1.events - s0.events), (unsigned long long)(s1.bytes_withdrawn - s0.bytes_withdrawn));

	/* The same VA again, and no fence: prefault fences by itself. */
	p = fill_at(VA, 4 * PG, 0xa2);
	is_int(sva_mm_prefault(mm, p, 4 * PG), 0, "munmap + new mmap at the same VA: prefault");
	is_int(seen(mm, VA + PG), 0xa2, "munmap + new mmap: the device reads the new bytes");
	is_int(dev_write(mm, VA + 2 * PG, 0x5a), 0, "munmap + new mmap: the device writes");
	is_int(p[2 * PG], 0x5a, "munmap + new mmap: the device's write reaches the process");
	munmap(p, 4 * PG);
	p = fill_at(VA, 4 * PG, 0xa3);
	/* Fault path: a fault at the reused VA maps the new pages, never the stale chunk. */
	is_int(fault(bond, VA + PG, SVA_ACCESS_READ | SVA_ACCESS_WRITE), 0, "munmap + new mmap: a device fault");
	is_int(seen(mm, VA + PG), 0xa3, "munmap + new mmap: the fault resolved against the new pages");

	/* Partial munmap: the chunk goes whole; the rest is faulted back in. */
	sva_mm_prefault(mm, p, 4 * PG);
	munmap(p + PG, PG);
	sva_mm_fence(mm);
	is_int(seen(mm, VA + PG), -ENOENT, "partial munmap: the unmapped page is withdrawn");
	is_int(fault(bond, VA + 3 * PG, SVA_ACCESS_READ), 0, "partial munmap: a fault on the rest");
	is_int(seen(mm, VA + 3 * PG), 0xa3, "partial munmap: the rest is visible again, same bytes");
	is_int(seen(mm, VA + PG), -ENOENT, "partial munmap: the hole stays invisible");
	munmap(p, 4 * PG);

	/* MAP_FIXED over a visible range. */
	p = fill_at(VA, 4 * PG, 0xa4);
	sva_mm_prefault(mm, p, 4 * PG);
	p = mmap(p, 4 * PG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
	memset(p, 0xa5, 4 * PG);
	sva_mm_fence(mm);
	is_int(seen(mm, VA), -ENOENT, "MAP_FIXED over: the old pages are withdrawn");
	sva_mm_prefault(mm, p, 4 * PG);
	is_int(seen(mm, VA), 0xa5, "MAP_FIXED over: prefault shows the new pages");
	munmap(p, 4 * PG);
}

/* ---------------------------------------------------------------- mremap */

static void mremap_checks(struct sva_mm *mm)
{
	unsigned char *p = fill_at(VA, 4 * PG, 0xb1), *q;

	sva_mm_prefault(mm, p, 4 * PG);
	q = mremap(p, 4 * PG, 4 * PG, MREMAP_MAYMOVE | MREMAP_FIXED, (void *)(uintptr_t)VA2);
	ok(q == (void *)(uintptr_t)VA2, "mremap move to 0x%llx", VA2);
	sva_mm_fence(mm);
	is_int(seen(mm, VA), -ENOENT, "mremap move: the old range is withdrawn");
	is_int(seen(mm, VA2), -ENOENT, "mremap move: the new range is not visible until faulted or prefaulted");
	p = fill_at(VA, 4 * PG, 0xb2);
	sva_mm_prefault(mm, p, 4 * PG);
	sva_mm_prefault(mm, q, 4 * PG);
	is_int(seen(mm, VA), 0xb2, "mremap move: reuse of the old VA shows the new pages");
	is_int(seen(mm, VA2), 0xb1, "mremap move: the moved pages at their new VA");
	munmap(p, 4 * PG);

	/* Shrink: the tail goes (and the chunk with it). */
	q = mremap(q, 4 * PG, 2 * PG, 0);
	sva_mm_fence(mm);
	is_int(seen(mm, VA2 + 3 * PG), -ENOENT, "mremap shrink: the tail is withdrawn");
	/* Grow (in place or moved): what is visible is what the process has. */
	sva_mm_prefault(mm, q, 2 * PG);
	q = mremap(q, 2 * PG, 8 * PG, MREMAP_MAYMOVE);
	ok(q != MAP_FAILED, "mremap grow");
	memset(q + 4 * PG, 0xb3, 4 * PG);
	sva_mm_prefault(mm, q, 8 * PG);
	is_int(seen(mm, (uintptr_t)q), 0xb1, "mremap grow: the old part");
	is_int(seen(mm, (uintptr_t)q + 5 * PG), 0xb3, "mremap grow: the new part");
	munmap(q, 8 * PG);

#ifdef MREMAP_DONTUNMAP
	p = fill_at(VA, 2 * PG, 0xb4);
	sva_mm_prefault(mm, p, 2 * PG);
	q = mremap(p, 2 * PG, 2 * PG, MREMAP_MAYMOVE | MREMAP_FIXED | MREMAP_DONTUNMAP, (void *)(uintptr_t)VA2);
	if (q == MAP_FAILED) {
		skip(3, "MREMAP_DONTUNMAP refused by this kernel");
	} else {
		sva_mm_fence(mm);
		is_int(seen(mm, VA), -ENOENT, "MREMAP_DONTUNMAP: the emptied old range is withdrawn");
		sva_mm_prefault(mm, p, 2 * PG);
		is_int(seen(mm, VA), 0, "MREMAP_DONTUNMAP: prefault of the old range shows its new (zero) pages");
		sva_mm_prefault(mm, q, 2 * PG);
		is_int(seen(mm, VA2), 0xb4, "MREMAP_DONTUNMAP: the moved pages at the new range");
		munmap(q, 2 * PG);
	}
	munmap(p, 2 * PG);
#else
	skip(3, "MREMAP_DONTUNMAP not in these headers");
#endif
}

/* --------------------------------------------------------------- madvise */

static void madvise_checks(struct sva_mm *mm, struct sva_bond *bond)
{
	unsigned char *p = fill_at(VA, 4 * PG, 0xc1);
	int fd;

	sva_mm_prefault(mm, p, 4 * PG);
	is_int(madvise(p, 4 * PG, MADV_DONTNEED), 0, "MADV_DONTNEED");
	memset(p, 0xc2, 4 * PG);
	sva_mm_prefault(mm, p, 4 * PG);
	is_int(seen(mm, VA + PG), 0xc2, "MADV_DONTNEED + rewrite + prefault: the device reads the new bytes");
	dev_write(mm, VA + PG, 0x66);
	is_int(p[PG], 0x66, "MADV_DONTNEED: the device's writes reach the process");
	/* The fault's chunk is suspect until the REMOVE settles, and then
	 * withdrawn: look before that, however slow the guest (see
	 * remove_settle_checks). */
	sva_test_remove_settle_ns = 2000000000ull;
	madvise(p, 4 * PG, MADV_DONTNEED);
	p[PG] = 0xc3;
	is_int(fault(bond, VA + PG, SVA_ACCESS_READ), 0, "MADV_DONTNEED + rewrite: a device fault");
	is_int(seen(mm, VA + PG), 0xc3, "MADV_DONTNEED + rewrite: the fault maps the new page");
	sva_test_remove_settle_ns = 0;

	sva_mm_prefault(mm, p, 4 * PG);
	is_int(madvise(p, 4 * PG, MADV_FREE), 0, "MADV_FREE");
	p[0] = 0xc4;
	sva_mm_prefault(mm, p, 4 * PG);
	is_int(seen(mm, VA), 0xc4, "MADV_FREE + rewrite: the device reads what the process wrote");
	munmap(p, 4 * PG);

	fd = memfd_create("ktest-coherence", MFD_CLOEXEC);
	if (fd < 0 || ftruncate(fd, 4 * PG)) {
		skip(6, "memfd_create failed");
	} else {
		p = mmap((void *)(uintptr_t)VA, 4 * PG, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED_NOREPLACE, fd, 0);
		memset(p, 0xc5, 4 * PG);
		/* The kernel posts the REMOVE event before it refuses MADV_FREE on
		 * memory that is not private anonymous: the range is withdrawn all
		 * the same, and a pinned-mode driver prefaults it again
		 * (libsva(7), Coherence). */
		sva_mm_prefault(mm, p, 4 * PG);
		errno = 0;
		is_int(madvise(p, PG, MADV_FREE), -1, "MADV_FREE on a memfd mapping is refused");
		is_int(errno, EINVAL, "  with EINVAL");
		is_int(sva_mm_fence(mm), 0, "  the fence after it");
		is_int(seen(mm, VA), -ENOENT, "a refused MADV_FREE withdraws its range all the same");
		sva_mm_prefault(mm, p, 4 * PG);
		is_int(seen(mm, VA), 0xc5, "  a prefault makes the unchanged memory visible again");
		is_int(p[0], 0xc5, "  the process's bytes are unchanged");
		is_int(madvise(p, 4 * PG, MADV_REMOVE), 0, "MADV_REMOVE on a memfd");
		memset(p, 0xc6, 4 * PG);
		sva_mm_prefault(mm, p, 4 * PG);
		is_int(seen(mm, VA + 3 * PG), 0xc6, "MADV_REMOVE + rewrite: the device reads the new bytes");
		munmap(p, 4 * PG);
		close(fd);
	}
}

/* ------------------------------------------- brk, free() and malloc_trim */

/*
 * The heap is far above the mock's aperture, so these use an address space
 * with no device: its IOAS takes any address, and the access path reads it.
 */
static void heap_checks(void)
{
	struct sva_mm *mm;
	unsigned char *cur, *big, vec[1];
	struct sva_mm_stats s0, s1;
	int stale = 0, dropped = 0;

	if (sva_mm_new(g_ctx, NULL, &mm))
		ktest_bail("sva_mm_new");
	cur = sbrk(0);
	if (sbrk(16 * PG) == (void *)-1) {
		skip(2, "sbrk refused");
	} else {
		unsigned char *top = (unsigned char *)(((uintptr_t)cur + PG - 1) & ~(uintptr_t)(PG - 1));

		memset(top, 0xd1, 8 * PG);
		is_int(sva_mm_prefault(mm, top, 8 * PG), 0, "brk: prefault heap pages");
		sbrk(-(intptr_t)(16 * PG));
		sva_mm_fence(mm);
		is_int(seen(mm, (uintptr_t)top + 4 * PG), -ENOENT, "brk shrink: the released heap is withdrawn");
	}

#if defined(KTEST_ASAN)
	skip(7, "AddressSanitizer's allocator keeps freed memory (quarantine) and does not trim: "
		"glibc's free() and malloc_trim() are tested in the other builds");
	sva_mm_free(mm);
	return;
#endif
	big = malloc(1 << 20); /* above the mmap threshold: its own mapping */
	memset(big, 0xd2, 1 << 20);
	is_int(sva_mm_prefault(mm, big + PG, 64 * PG), 0, "free(): prefault a large malloc block");
	s0 = stats(mm);
	ok(s0.untracked_ranges == 0, "heap ranges are registered (%llu untracked, reason %d)",
	   (unsigned long long)s0.untracked_ranges, s0.untracked_reason);
	uintptr_t big_va = (uintptr_t)big; /* only its address is used after free() */

	free(big);
	sva_mm_fence(mm);
	is_int(seen(mm, big_va + 8 * PG), -ENOENT, "free() of a large malloc block: withdrawn");

	/* Small blocks in the main heap, freed and trimmed: every page the CPU no
	 * longer has must be gone from the device's view too. */
	mallopt(M_MMAP_THRESHOLD, 1 << 22);
	big = malloc(64 * PG);
	void *guard = malloc(64); /* keeps the block off the top: trim must madvise it */
	unsigned char *pg = (unsigned char *)(((uintptr_t)big + PG - 1) & ~(uintptr_t)(PG - 1));

	memset(big, 0xd3, 64 * PG);
	is_int(sva_mm_prefault(mm, pg, 60 * PG), 0, "malloc_trim: prefault heap blocks");
	s0 = stats(mm);
	ok(s0.untracked_ranges == 0, "malloc_trim: the heap is registered (%llu untracked, reason %d)",
	   (unsigned long long)s0.untracked_ranges, s0.untracked_reason);
	free(big);
	malloc_trim(0);
	sva_mm_fence(mm);
	s1 = stats(mm);
	for (int i = 0; i < 60; i++) {
		if (mincore(pg + (size_t)i * PG, PG, vec) == 0 && (vec[0] & 1))
			continue; /* still resident in the process: not released */
		dropped++;
		if (seen(mm, (uintptr_t)pg + (uint64_t)i * PG) != -ENOENT)
			stale++;
	}
	ok(dropped > 0 && s1.events > s0.events, "malloc_trim: released %d pages (%llu events)", dropped,
	   (unsigned long long)(s1.events - s0.events));
	is_int(stale, 0, "malloc_trim: no page the process released is still visible to the device");
	free(guard);
	sva_mm_free(mm);
}

/* ------------------------------------------------------------- races */

struct race {
	struct sva_mm *mm;
	struct sva_bond *bond;
	atomic_bool stop;
	atomic_int bad, rounds;
	atomic_ulong injected; /* faults the device thread raised */
	uint64_t faults0;      /* the bond's fault count before it started */
};

static uint64_t bond_faults(struct sva_bond *bond)
{
	struct sva_bond_stats bs = { .size = sizeof(bs) };

	sva_bond_stats(bond, &bs);
	return bs.faults;
}

/*
 * Stop the device thread and wait until the faults it raised are answered:
 * the checks after a race count on "the bond's fault count went up" meaning
 * their own fault, not one of the race's backlog (a slow machine, or
 * ThreadSanitizer, leaves hundreds queued).
 */
static void race_stop(struct race *r, pthread_t t)
{
	atomic_store(&r->stop, true);
	pthread_join(t, NULL);
	diag("race: the device raised %lu faults, %llu were answered when it stopped", atomic_load(&r->injected),
	     (unsigned long long)(bond_faults(r->bond) - r->faults0));
	KTEST_WAIT_WHILE(bond_faults(r->bond) < r->faults0 + atomic_load(&r->injected), 30000);
	if (bond_faults(r->bond) < r->faults0 + atomic_load(&r->injected))
		diag("the race's faults were not all answered in 30 s (%llu of %lu)",
		     (unsigned long long)(bond_faults(r->bond) - r->faults0), atomic_load(&r->injected));
}

static void *faulter(void *arg)
{
	struct race *r = arg;

	while (!atomic_load(&r->stop)) {
		if (sva_dev_inject_fault(g_dev, sva_bond_pasid(r->bond), VA, SVA_ACCESS_READ | SVA_ACCESS_WRITE, 0) == 0)
			atomic_fetch_add(&r->injected, 1);
		usleep(50);
	}
	return NULL;
}

/* One thread unmaps and remaps a range while the device keeps faulting on it. */
static void remap_race(struct sva_mm *mm, struct sva_bond *bond)
{
	struct race r = { .mm = mm, .bond = bond, .faults0 = bond_faults(bond) };
	pthread_t t;
	int n = 0;

	pthread_create(&t, NULL, faulter, &r);
	for (unsigned g = 1; g <= 200; g++) {
		unsigned char *p = fill_at(VA, 2 * PG, (unsigned char)g);
		int v;

		sva_mm_fence(mm);
		v = seen(mm, VA);
		if (v != -ENOENT && v != (unsigned char)g && v != 0) {
			diag("round %u: the device sees %d", g, v);
			n++;
		}
		munmap(p, 2 * PG);
	}
	race_stop(&r, t);
	is_int(n, 0, "munmap/remap loop against device faults: the device never sees an old generation");
}

/*
 * sva_mm_prefault() against a thread that unmaps and maps the range again in a
 * loop.  A registration that finds the range unmapped must not be followed by
 * a map of whatever is there a moment later: that mapping is not registered,
 * so its own munmap() sends no event, and the device would keep its pages.
 * The prefaults may fail (-EFAULT: the range changed under them); what they
 * leave must be the process's current memory or nothing, and no range is ever
 * counted as one userfaultfd cannot track (anonymous memory always can be).
 */
#define RACE_VA 0x68000000ull
#define RACE_PAGES 4u

struct remapper {
	atomic_bool stop;
	atomic_ulong rounds;
};

static struct ktest_line race_log = { .level = SVA_LOG_ERROR };

static void *remapper(void *arg)
{
	struct remapper *r = arg;

	while (!atomic_load(&r->stop)) {
		munmap((void *)(uintptr_t)RACE_VA, RACE_PAGES * PG);
		/* Not populated: the prefault's pin does it, and the loop turns faster. */
		if (mmap((void *)(uintptr_t)RACE_VA, RACE_PAGES * PG, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0) != MAP_FAILED)
			atomic_fetch_add(&r->rounds, 1);
	}
	return NULL;
}

static void prefault_remap_race(void)
{
	struct sva_mm_opts mo = { .size = sizeof(mo), .fault_around = PG };
	struct sva_bind_opts bo = { .size = sizeof(bo) };
	struct remapper r = { 0 };
	struct sva_bond *bond;
	struct sva_mm *mm;
	unsigned ok0 = 0, efault = 0, other = 0, stale = 0, rounds = 0;
	struct sva_mm_stats s;
	pthread_t t;

	/* Bound, so that the IOAS has a domain and its maps pin. */
	if (sva_mm_new(g_ctx, &mo, &mm) || sva_bind(g_dev, mm, &bo, &bond))
		ktest_bail("prefault/remap race: an address space bound to the mock");
	fill_at(RACE_VA, RACE_PAGES * PG, 0x55);
	/* Without PROCMAP_QUERY (before Linux 6.11) libsva cannot tell private
	 * anonymous memory from a mapping userfaultfd refuses: no promise then. */
	bool query = sva_vma_query_private_anon(-1, RACE_VA, RACE_VA + PG) == 1;

	sva_ctx_set_log(g_ctx, ktest_keep_line, &race_log, SVA_LOG_ERROR);
	pthread_create(&t, NULL, remapper, &r);
	/* 3000 prefaults or 8 s, and on (to 12 s) until one of them got through:
	 * 1-8% do, so that a run where none maps checks nothing. */
	for (uint64_t t0 = ktest_now_ns(), ns;
	     ns = ktest_now_ns() - t0, (rounds < 3000 && ns < 8000000000ull) || (ok0 == 0 && ns < 12000000000ull);
	     rounds++) {
		int ret = sva_mm_prefault(mm, (void *)(uintptr_t)RACE_VA, RACE_PAGES * PG);

		ret == 0 ? ok0++ : ret == -EFAULT ? efault++ : other++;
		if (ret && ret != -EFAULT && other == 1)
			diag("prefault during the race: %s (%s)", strerror(-ret), race_log.text);
		/* Start again from nothing, so that every prefault maps. */
		sva_mm_invalidate(mm, (void *)(uintptr_t)RACE_VA, RACE_PAGES * PG);
	}
	atomic_store(&r.stop, true);
	pthread_join(t, NULL);
	sva_ctx_set_log(g_ctx, NULL, NULL, SVA_LOG_DEFAULT);
	diag("prefault/remap race: %u prefaults (%u returned 0, %u -EFAULT, %u other), %lu remaps", rounds, ok0,
	     efault, other, atomic_load(&r.rounds));
	/* The thread stopped with the range mapped (or unmapped, if its last
	 * mmap lost to nothing): every event it caused is applied after this. */
	sva_mm_fence(mm);
	for (unsigned i = 0; i < RACE_PAGES; i++)
		stale += seen(mm, RACE_VA + i * PG) == -ESTALE;
	s = stats(mm);
	ok(ok0 > 0 && atomic_load(&r.rounds) >= 100, "prefault/remap race: both sides made progress (%u maps, %lu remaps)",
	   ok0, atomic_load(&r.rounds));
	is_int(stale, 0, "prefault/remap race: no page the process no longer has stays visible");
	if (query) {
		ok(s.untracked_ranges == 0, "prefault/remap race: nothing was mapped untracked (%llu ranges, reason %d)",
		   (unsigned long long)s.untracked_ranges, s.untracked_reason);
		ok(other == 0, "prefault/remap race: prefaults returned 0 or -EFAULT only (%u other)", other);
	} else {
		skip(2, "no PROCMAP_QUERY here (Linux 6.11): the race is not told apart from a mapping userfaultfd refuses");
	}
	/* And what is visible now follows the process from here on. */
	munmap((void *)(uintptr_t)RACE_VA, RACE_PAGES * PG);
	fill_at(RACE_VA, RACE_PAGES * PG, 0x66);
	sva_mm_fence(mm);
	stale = 0;
	for (unsigned i = 0; i < RACE_PAGES; i++)
		stale += seen(mm, RACE_VA + i * PG) == -ESTALE;
	is_int(stale, 0, "prefault/remap race: after one more munmap and mmap, no old page is visible");
	munmap((void *)(uintptr_t)RACE_VA, RACE_PAGES * PG);
	sva_unbind(bond);
	sva_mm_free(mm);
}

/*
 * madvise(DONTNEED) while the device faults: the REMOVE-before-zap race.  The
 * range is large and the device faults at its end, which the zap reaches last,
 * so faults land between the monitor's withdrawal and the zap.
 */
#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23
#endif
#define RACE_LEN (8u << 20)

/* A device that keeps faulting at the end of the range, leaving the CPUs to
 * the zap, the monitor and the fault thread in between. */
static void *end_faulter(void *arg)
{
	struct race *r = arg;

	while (!atomic_load(&r->stop)) {
		if (sva_dev_inject_fault(g_dev, sva_bond_pasid(r->bond), VA + RACE_LEN - PG,
					 SVA_ACCESS_READ | SVA_ACCESS_WRITE, 0) == 0)
			atomic_fetch_add(&r->injected, 1);
		usleep(20);
	}
	return NULL;
}

static void remove_race(struct sva_mm *mm, struct sva_bond *bond)
{
	struct race r = { .mm = mm, .bond = bond, .faults0 = bond_faults(bond) };
	unsigned char *p = fill_at(VA, RACE_LEN, 0);
	struct sva_mm_stats s0 = stats(mm), s1;
	pthread_t t;
	int n = 0;

	madvise(p, RACE_LEN, MADV_NOHUGEPAGE); /* page by page: a zap that takes time */
	pthread_create(&t, NULL, end_faulter, &r);
	for (unsigned g = 1; g <= 40; g++) {
		int v;

		madvise(p, RACE_LEN, MADV_POPULATE_WRITE); /* every page present: a long zap */
		p[RACE_LEN - PG] = (unsigned char)g;
		madvise(p, RACE_LEN, MADV_DONTNEED);
		p[RACE_LEN - PG] = (unsigned char)(g + 100);
		sva_mm_fence(mm);
		v = seen(mm, VA + RACE_LEN - PG);
		if (v != -ENOENT && v != (unsigned char)(g + 100)) {
			diag("round %u: the device sees %d, the process has %u", g, v, g + 100);
			n++;
		}
	}
	race_stop(&r, t);
	s1 = stats(mm);
	{
		struct sva_bond_stats bs = { .size = sizeof(bs) };

		sva_bond_stats(bond, &bs);
		diag("REMOVE race: the device faulted %llu times, mapping %llu pages, in all", (unsigned long long)bs.faults,
		     (unsigned long long)bs.pages_mapped);
	}
	is_int(n, 0, "madvise(DONTNEED) loop against device faults: never the zapped page after the fence");
	diag("REMOVE race: %llu bytes withdrawn again after settling",
	     (unsigned long long)(s1.bytes_rewithdrawn - s0.bytes_rewithdrawn));
	munmap(p, RACE_LEN);
}

/*
 * A prefault after the caller's own madvise(DONTNEED) and rewrite, while a
 * fault-capable bond's device keeps faulting on the range (sva_bind(3): a
 * pinned bond sees what those faults made visible).  The REMOVE stays pending
 * after the prefault's fence, so a fault between that fence and the prefault's
 * map made a suspect chunk; the prefault took it as visible (prefaulted), and
 * the monitor withdrew it at its next check: a hole in memory prefaulted for a
 * device that takes no faults (Z69: 1 or 2 rounds in 60).  A race, tried
 * until it shows.
 */
struct prefault_pending_faulter {
	struct sva_bond *bond;
	uint64_t va;
	atomic_int stop;
};

static void *prefault_pending_fault(void *arg)
{
	struct prefault_pending_faulter *f = arg;
	uint32_t pasid = sva_bond_pasid(f->bond) == SVA_PASID_RID ? 0 : sva_bond_pasid(f->bond);
	unsigned x = 7;

	while (!atomic_load(&f->stop)) {
		x = x * 1103515245 + 12345;
		sva_dev_inject_fault(g_dev, pasid, f->va + (uint64_t)((x >> 8) % 32) * PG, SVA_ACCESS_READ | SVA_ACCESS_WRITE, 0);
		usleep(100);
	}
	return NULL;
}

/* Would a fault over [start, end) now still be suspect: does a REMOVE there
 * not yet past its horizon remain (the fault path's own question)? */
static bool remove_pending(struct sva_mm *mm, uint64_t start, uint64_t end)
{
	bool pending;

	pthread_mutex_lock(&mm->map_lock);
	pending = sva_mm_remove_pending_locked(mm, start, end, sva_now_ns()) != 0;
	pthread_mutex_unlock(&mm->map_lock);
	return pending;
}

/*
 * From when on (sva_now_ns()) a check of the monitor withdraws every suspect
 * chunk in [start, end) that exists at `after`, the time a prefault returned:
 * a check that starts after it and a settle time after the newest REMOVE over
 * the range (withdraw.c; the prefault's fence applied this round's).
 */
static uint64_t settled_at(struct sva_mm *mm, uint64_t start, uint64_t end, uint64_t after)
{
	uint64_t t = 0;

	pthread_mutex_lock(&mm->map_lock);
	for (unsigned i = 0; i < mm->nremoves; i++)
		if (mm->removes[i].start < end && start < mm->removes[i].end && mm->removes[i].t_ns > t)
			t = mm->removes[i].t_ns;
	pthread_mutex_unlock(&mm->map_lock);
	return t + SVA_REMOVE_SETTLE_NS > after + 1 ? t + SVA_REMOVE_SETTLE_NS : after + 1;
}

/* Has the monitor anything left to check (a REMOVE pending, a suspect
 * chunk)?  With neither its checks stop (sva_mm_settle() returns 0): no
 * check is to come, nor anything a check would withdraw. */
static bool settle_pending(struct sva_mm *mm)
{
	bool pending;

	pthread_mutex_lock(&mm->map_lock);
	pending = mm->nremoves || mm->suspects;
	pthread_mutex_unlock(&mm->map_lock);
	return pending;
}

static void prefault_pending_checks(struct sva_mm *mm, struct sva_bond *bond)
{
	unsigned char *p = fill_at(VA, 32 * PG, 0x96);
	struct prefault_pending_faulter f = { .bond = bond, .va = VA };
	int rounds = 0, holes = 0, err = 0;

	for (; rounds < 150 && !holes && !err; rounds++) {
		uint64_t past;
		pthread_t t;

		madvise(p, 32 * PG, MADV_DONTNEED);
		memset(p, 0x97, 32 * PG);
		atomic_store(&f.stop, 0);
		pthread_create(&t, NULL, prefault_pending_fault, &f);
		usleep(3000);
		err = sva_mm_prefault(mm, p, 32 * PG);
		past = settled_at(mm, VA, VA + 32 * PG, sva_now_ns());
		atomic_store(&f.stop, 1);
		pthread_join(t, NULL);
		/* The monitor withdraws a suspect chunk at its first check a
		 * settle time after the REMOVE: that check is waited for (up to
		 * 10 s), not slept for.  50 ms a round was 7.5 s of the test's
		 * 36, and on a loaded host not always past such a check.  Not
		 * once nothing is left to check: a prefault that returned past
		 * the REMOVE's horizon, with no suspect chunk, is followed by no
		 * check at all, and each such round waited the 10 s. */
		KTEST_WAIT_WHILE(atomic_load(&sva_test_track_checked_ns) < past && settle_pending(mm), 10000);
		if (atomic_load(&sva_test_track_checked_ns) < past && settle_pending(mm))
			diag("round %d: no monitor check came in 10 s", rounds);
		for (int k = 0; k < 32; k++)
			holes += seen(mm, VA + (uint64_t)k * PG) == -ENOENT;
	}
	is_int(err, 0, "prefault while a device faults on the range its caller discarded: succeeds (%d rounds)", rounds);
	is_int(holes, 0, "  and what it prefaulted stays visible past the monitor's checks (a suspect chunk was kept)");
	munmap(p, 32 * PG);
	sva_mm_fence(mm);
}

/*
 * Another thread's REMOVE over [VA, VA + 16 pages) is applied by hand, `ahead`
 * ns after now, with no zap; this thread fences, and the device faults at va
 * after the fence: that chunk must go at the monitor's next check (it would
 * keep the old page if the zap were still running).  A fault that took the
 * test past the 500 ms horizon proves nothing: skipped.
 */
static void fence_keeps_pending(struct sva_mm *mm, struct sva_bond *bond, uint64_t ahead, uint64_t va,
				unsigned char tag, const char *what, const char *why)
{
	uint64_t t0 = sva_now_ns(), dt;
	int v;

	sva_test_remove_settle_ns = 1000000ull;
	sva_mm_withdraw_event(mm, VA, VA + 16 * PG, true, t0 + ahead);
	is_int(sva_mm_fence(mm), 0, "%s: this thread's sva_mm_fence", what);
	is_int(fault(bond, va, SVA_ACCESS_READ), 0, "  a device fault after the fence maps the range");
	dt = sva_now_ns() - t0;
	if (dt < 400000000ull) {
		unsigned char *q = fill_at(VA + 64 * PG, PG, tag);

		sva_mm_prefault(mm, q, PG);
		munmap(q, PG); /* an event: the monitor runs its checks */
		KTEST_WAIT_WHILE((v = seen(mm, va)) != -ENOENT, 10000);
		is_int(v, -ENOENT, "  withdrawn at the monitor's next check: %s (was kept)", why);
	} else {
		diag("the fence and the fault took %llu ms", (unsigned long long)(dt / 1000000));
		skip(1, "past the 500 ms horizon: the check would prove nothing");
	}
	sva_test_remove_settle_ns = 0;
	sva_mm_fence(mm);
}

/*
 * The REMOVE mitigation itself, step by step: a REMOVE event is applied (as
 * the monitor does when it reads one), a device fault then maps the range
 * while the zap may still be running, and that chunk is withdrawn again:
 * by the monitor once the REMOVE settles, or at once by a fence.
 */
static void remove_settle_checks(struct sva_mm *mm, struct sva_bond *bond)
{
	unsigned char *p = fill_at(VA, 16 * PG, 0x91);
	struct sva_mm_stats s0, s1;
	int v = 0;

	/*
	 * 1. The monitor settles it (a real madvise, so the monitor knows).
	 * The fault and the look at what the device sees must both happen
	 * inside the settle window, and 20 ms is less than a loaded TCG guest
	 * may take to run them (the check once saw the chunk withdrawn already):
	 * the window is made 2 s while they run.  Then it is the default again
	 * and an event elsewhere wakes the monitor for its check (it slept
	 * until the 2 s were up, three quarters of this function's time).
	 */
	s0 = stats(mm);
	sva_mm_prefault(mm, p, 16 * PG);
	sva_test_remove_settle_ns = 2000000000ull;
	madvise(p, 16 * PG, MADV_DONTNEED);
	p[PG] = 0x92;
	is_int(fault(bond, VA + PG, SVA_ACCESS_READ), 0, "REMOVE pending: a device fault maps the range");
	v = seen(mm, VA + PG);
	is_int(v, 0x92, "REMOVE pending: visible, the new page (%d)", v);
	sva_test_remove_settle_ns = 0;
	{
		unsigned char *q = fill_at(VA + 64 * PG, PG, 0x90);

		sva_mm_prefault(mm, q, PG);
		munmap(q, PG); /* an event: the monitor runs its checks */
	}
	KTEST_WAIT_WHILE((v = seen(mm, VA + PG)) != -ENOENT, 10000);
	is_int(v, -ENOENT, "REMOVE settled: the monitor withdrew what the fault mapped meanwhile");
	s1 = stats(mm);
	ok(s1.bytes_rewithdrawn > s0.bytes_rewithdrawn, "REMOVE settled: counted in bytes_rewithdrawn (%llu)",
	   (unsigned long long)(s1.bytes_rewithdrawn - s0.bytes_rewithdrawn));
	/* Past its horizon the REMOVE is dropped, as it was by the 2 s window's
	 * check: a fault from then on is not suspect. */
	KTEST_WAIT_WHILE(remove_pending(mm, VA, VA + 16 * PG), 10000);
	is_int(fault(bond, VA + PG, SVA_ACCESS_READ), 0, "after settling: a new fault");
	is_int(seen(mm, VA + PG), 0x92, "after settling: the new fault's chunk stays");
	usleep(30000);
	is_int(seen(mm, VA + PG), 0x92, "after settling: and is not withdrawn again");

	/* 2. A fence settles it at once. */
	sva_mm_withdraw_event(mm, VA, VA + 16 * PG, true, sva_now_ns());
	fault(bond, VA + 2 * PG, SVA_ACCESS_READ);
	is_int(sva_mm_fence(mm), 0, "REMOVE pending: sva_mm_fence");
	is_int(seen(mm, VA + 2 * PG), -ENOENT, "REMOVE pending: the fence withdrew the fault's chunk at once");

	/*
	 * 2b. The fence does not end the pending state of a madvise() another
	 * thread has not returned from (Z66: one stale page in ~750 rounds of
	 * three threads each fencing their own discard; sva_mem_free(),
	 * sva_mm_prefault() and a bind fence too).  The event is applied by
	 * hand with no zap, as the other thread's would be while its zap runs;
	 * a fault after this thread's fence pins the old page and must be
	 * withdrawn at the monitor's next check, not kept for good.
	 */
	fence_keeps_pending(mm, bond, 0, VA + 5 * PG, 0x94, "another thread's REMOVE pending",
			    "the fence left the range pending");
	/*
	 * 2c. The same when the other thread's REMOVE is recorded after this
	 * thread's fence read the clock (the fence then waits for map_lock, which
	 * a fault's map may hold for milliseconds, and the monitor may record the
	 * event first): the fence's `now` is older than the REMOVE, and must not
	 * take it for one past its horizon (now - t_ns wrapped: Z69, a stale
	 * page after the thread's own fence in ~6000 discards of the three-thread
	 * stress).  The REMOVE is recorded by hand 30 ms in the future.
	 */
	fence_keeps_pending(mm, bond, 30000000ull, VA + 6 * PG, 0x95, "a REMOVE recorded after the fence read its clock",
			    "the fence kept the younger REMOVE");

	/*
	 * 4. A zap that outlasts the first check (8 MiB under AddressSanitizer in
	 * TCG did): a fault after the check, while the kernel may still be
	 * discarding the range, is suspect too and goes at the next check.  The
	 * event is applied by hand, with no zap (the page stays the old one, as
	 * it would until the zap reaches it), the first check 1 ms after it; a
	 * real event elsewhere wakes the monitor for its check.
	 */
	sva_test_remove_settle_ns = 1000000ull;
	sva_mm_withdraw_event(mm, VA, VA + 16 * PG, true, sva_now_ns());
	usleep(20000);
	is_int(fault(bond, VA + 4 * PG, SVA_ACCESS_READ), 0, "a REMOVE past its first check: a device fault maps the range");
	{
		unsigned char *q = fill_at(VA + 64 * PG, PG, 0x93);

		sva_mm_prefault(mm, q, PG);
		munmap(q, PG); /* an event: the monitor runs its checks */
	}
	KTEST_WAIT_WHILE((v = seen(mm, VA + 4 * PG)) != -ENOENT, 10000);
	is_int(v, -ENOENT, "  withdrawn at the monitor's next check, as the zap may have outlasted the first (was kept)");
	sva_test_remove_settle_ns = 0;
	sva_mm_fence(mm);

	/* 3. A prefault after a REMOVE maps for good: its caller saw its madvise return. */
	sva_mm_withdraw_event(mm, VA, VA + 16 * PG, true, sva_now_ns());
	is_int(sva_mm_prefault(mm, p, 16 * PG), 0, "REMOVE pending: prefault");
	usleep(30000);
	ok(seen(mm, VA + 3 * PG) >= 0, "REMOVE pending: a prefault's chunk is never withdrawn again");
	munmap(p, 16 * PG);
}

/* ------------------------------------------ other uffd users, seccomp, fork */

static int log_warn_lines;

static void count_log(void *arg, enum sva_log_level level, const char *msg)
{
	(void)arg;
	(void)msg;
	if (level >= SVA_LOG_WARN)
		log_warn_lines++;
}

/*
 * A shared mapping the process may never write (no VM_MAYWRITE: a memfd with a
 * write seal, a file opened read-only): userfaultfd refuses to register it
 * with EPERM, which libsva passed on as -EPERM, the errno sva_mm_stats(3) gives
 * to a refused userfaultfd (seccomp) and sva_mm_prefault(3) to pages the kernel
 * cannot pin.  It is a mapping userfaultfd cannot register: -EINVAL (review
 * Z52).
 */
static void readonly_shared_checks(void)
{
	struct sva_mm_opts so = { .size = sizeof(so), .flags = SVA_MM_TRACK_STRICT };
	struct sva_mm_stats s = { .size = sizeof(s) };
	struct sva_mm *mm, *strict;
	unsigned char buf[4 * PG];
	int fd = memfd_create("ktest-sealed", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	void *p;

	memset(buf, 0xe5, sizeof(buf));
	if (fd < 0 || write(fd, buf, sizeof(buf)) != (ssize_t)sizeof(buf) ||
	    fcntl(fd, F_ADD_SEALS, F_SEAL_WRITE | F_SEAL_SHRINK | F_SEAL_GROW)) {
		skip(5, "no sealed memfd here");
		if (fd >= 0)
			close(fd);
		return;
	}
	p = mmap((void *)(uintptr_t)VA, 4 * PG, PROT_READ, MAP_SHARED | MAP_FIXED_NOREPLACE, fd, 0);
	if (p != (void *)(uintptr_t)VA)
		ktest_bail("mmap of the sealed memfd at 0x%llx: %s", VA, strerror(errno));
	if (sva_mm_new(g_ctx, NULL, &mm) || sva_mm_new(g_ctx, &so, &strict))
		ktest_bail("sva_mm_new");
	is_int(sva_mm_prefault(mm, p, 4 * PG), 0, "write-sealed memfd: the default policy maps it untracked");
	sva_mm_stats(mm, &s);
	ok(s.untracked_ranges >= 1, "  counted as untracked (%llu)",
	   (unsigned long long)s.untracked_ranges);
	is_int(s.untracked_reason, -EINVAL, "  reason -EINVAL: a mapping userfaultfd cannot register");
	is_int(seen(mm, VA), 0xe5, "  the device reads the memfd's bytes");
	is_int(sva_mm_prefault(strict, p, 4 * PG), -EINVAL, "  an SVA_MM_TRACK_STRICT address space refuses it (-EINVAL)");
	sva_mm_free(strict);
	sva_mm_free(mm);
	munmap(p, 4 * PG);
	close(fd);
}

static void own_uffd_checks(void)
{
	struct sva_mm_opts so = { .size = sizeof(so), .flags = SVA_MM_TRACK_STRICT };
	struct sva_mm *mm, *strict;
	struct sva_mm_stats s;
	unsigned char *p = fill_at(VA, 4 * PG, 0xe1); /* populated: the app's MISSING mode never fires */
	int ufd = (int)syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK | 1 /* UFFD_USER_MODE_ONLY */);
	struct kabi_uffdio_api api = { .api = KABI_UFFD_API };
	struct kabi_uffdio_register reg = { .range = { VA, 4 * PG }, .mode = 1 /* MISSING */ };

	if (ufd < 0 || ioctl(ufd, KABI_UFFDIO_API, &api) || ioctl(ufd, KABI_UFFDIO_REGISTER, &reg)) {
		skip(6, "cannot register an application userfaultfd here");
		munmap(p, 4 * PG);
		return;
	}
	sva_mm_new(g_ctx, NULL, &mm);
	log_warn_lines = 0;
	sva_ctx_set_log(g_ctx, count_log, NULL, SVA_LOG_WARN);
	is_int(sva_mm_prefault(mm, p, 4 * PG), 0, "own userfaultfd: default policy maps the range untracked");
	sva_mm_prefault(mm, p, 4 * PG);
	s = (struct sva_mm_stats){ .size = sizeof(s) };
	sva_mm_stats(mm, &s);
	ok(s.untracked_ranges >= 1 && s.untracked_reason == -EBUSY, "own userfaultfd: counted (%llu), reason -EBUSY (%d)",
	   (unsigned long long)s.untracked_ranges, s.untracked_reason);
	is_int(log_warn_lines, 1, "own userfaultfd: logged once");
	is_int(seen(mm, VA), 0xe1, "own userfaultfd: visible");
	sva_ctx_set_log(g_ctx, NULL, NULL, SVA_LOG_DEFAULT);
	is_int(sva_mm_new(g_ctx, &so, &strict), 0, "SVA_MM_TRACK_STRICT address space");
	is_int(sva_mm_prefault(strict, p, 4 * PG), -EBUSY, "own userfaultfd: a strict address space refuses (-EBUSY)");
	is_int(seen(strict, VA), -ENOENT, "own userfaultfd: the strict refusal mapped nothing");
	sva_mm_free(strict);
	sva_mm_free(mm);
	close(ufd);
	munmap(p, 4 * PG);
}

/*
 * A device faults on a page of the application's own userfaultfd (missing
 * mode) that the application has not supplied: pinning it would wait for the
 * application's handler inside the batch, holding up every other fault of
 * the context, every unbind and close, and the monitor.  The fault is
 * refused at once (-EBUSY), nothing is mapped and the application gets no
 * request; once the page is supplied, a fault there resolves.
 */
struct own_uffd_rep {
	atomic_int n, reason;
};

static void own_uffd_err(struct sva_bond *b, const struct sva_fault_report *r, void *d)
{
	struct own_uffd_rep *rep = d;

	(void)b;
	atomic_store(&rep->reason, r->reason);
	atomic_fetch_add(&rep->n, 1);
}

struct own_uffd_zeropage { /* struct uffdio_zeropage */
	uint64_t start, len, mode;
	int64_t zeropage;
};
#define OWN_UFFDIO_ZEROPAGE _IOWR(KABI_UFFDIO, 0x04, struct own_uffd_zeropage)

static void own_uffd_unsupplied_checks(void)
{
	const uint64_t uva = VA + 0x100000;
	struct own_uffd_rep rep = { 0 };
	struct sva_bond_ops ops = { .size = sizeof(ops), .fault_error = own_uffd_err };
	struct sva_bind_opts bo = { .size = sizeof(bo), .ops = &ops, .drvdata = &rep };
	unsigned char *p = ktest_map_at(uva, 4 * PG, PROT_READ | PROT_WRITE); /* never touched */
	/* Not UFFD_USER_MODE_ONLY: such a userfaultfd lets the kernel's pin fail
	 * at once instead of waiting (root, or vm.unprivileged_userfaultfd). */
	int ufd = (int)syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK);
	struct kabi_uffdio_api api = { .api = KABI_UFFD_API };
	struct kabi_uffdio_register reg = { .range = { uva, 4 * PG }, .mode = 1 /* MISSING */ };
	struct own_uffd_zeropage z = { .start = uva + PG, .len = PG };
	struct pollfd pfd = { .events = POLLIN };
	struct sva_bond *bond;
	struct sva_mm *mm;
	int ret;

	if (ufd < 0 || ioctl(ufd, KABI_UFFDIO_API, &api) || ioctl(ufd, KABI_UFFDIO_REGISTER, &reg)) {
		skip(6, "cannot register a kernel-mode application userfaultfd here");
		munmap(p, 4 * PG);
		return;
	}
	if (sva_mm_new(g_ctx, NULL, &mm) || sva_bind(g_dev, mm, &bo, &bond))
		ktest_bail("own userfaultfd, unsupplied: bind failed");
	ret = ktest_inject_and_wait(g_dev, bond, uva + PG + 8, SVA_ACCESS_READ, 3000);
	is_int(ret, 0, "own userfaultfd, a page not supplied yet: the fault is answered without waiting for its handler");
	pfd.fd = ufd;
	is_int(poll(&pfd, 1, 0), 0, "  the application's userfaultfd got no request for it");
	if (ret) { /* the old behaviour: supply it, so the waiting pin ends */
		ioctl(ufd, OWN_UFFDIO_ZEROPAGE, &z);
		ktest_inject_and_wait(g_dev, bond, uva + PG, SVA_ACCESS_READ, 10000);
	}
	ok(atomic_load(&rep.n) >= 1 && atomic_load(&rep.reason) == -EBUSY, "  refused with -EBUSY (%d reports, reason %d)",
	   atomic_load(&rep.n), atomic_load(&rep.reason));
	is_int(seen(mm, uva + PG), ret ? 0 : -ENOENT, "  nothing was mapped");
	ioctl(ufd, OWN_UFFDIO_ZEROPAGE, &z); /* the application supplies it */
	rep.n = 0;
	is_int(ktest_inject_and_wait(g_dev, bond, uva + PG, SVA_ACCESS_READ, 3000), 0, "  once supplied, a fault there...");
	ok(atomic_load(&rep.n) == 0 && seen(mm, uva + PG) == 0, "  ...resolves: the device reads the supplied zero page");
	sva_unbind(bond);
	sva_mm_free(mm);
	close(ufd);
	munmap(p, 4 * PG);
}

struct own_uffd_wp { /* struct uffdio_writeprotect */
	uint64_t start, len, mode;
};
#define OWN_UFFDIO_WRITEPROTECT _IOWR(KABI_UFFDIO, 0x06, struct own_uffd_wp)
struct own_uffd_continue { /* struct uffdio_continue */
	uint64_t start, len, mode;
	int64_t mapped;
};
#define OWN_UFFDIO_CONTINUE _IOWR(KABI_UFFDIO, 0x07, struct own_uffd_continue)
#define OWN_UFFD_FEATURE_MINOR_SHMEM (1ull << 10)

/*
 * A page the application's own userfaultfd write-protects, or handles in
 * minor mode (in memory, but not in this mapping's page table), is in memory:
 * mincore() said "supplied" and the pin waited for the application's handler
 * with map_lock held, stalling the context (Z65's documented limit).  Such a
 * page is refused -EBUSY like one not supplied.  `unstick` ends the old
 * code's wait so that the checks after it can run.
 */
static void own_uffd_waits_check(const char *what, struct sva_bond *bond, struct sva_mm *mm, uint64_t va,
				 struct own_uffd_rep *rep, void (*unstick)(int ufd, uint64_t va), int ufd)
{
	int ret;

	rep->n = 0;
	ret = ktest_inject_and_wait(g_dev, bond, va, SVA_ACCESS_READ, 3000);
	is_int(ret, 0, "own userfaultfd, %s: the fault is answered without waiting for its handler", what);
	if (ret) { /* the old behaviour: let the waiting pin go on */
		unstick(ufd, va);
		ktest_inject_and_wait(g_dev, bond, va, SVA_ACCESS_READ, 10000);
	}
	ok(atomic_load(&rep->n) >= 1 && atomic_load(&rep->reason) == -EBUSY, "  refused with -EBUSY (%d reports, reason %d)",
	   atomic_load(&rep->n), atomic_load(&rep->reason));
	if (!ret)
		unstick(ufd, va); /* the application handles it */
	rep->n = 0;
	is_int(ktest_inject_and_wait(g_dev, bond, va, SVA_ACCESS_READ, 3000), 0, "  once handled, a fault there...");
	ok(atomic_load(&rep->n) == 0 && seen(mm, va) == 0x5c, "  ...resolves: the device reads the page (%d)", seen(mm, va));
}

static void wp_unstick(int ufd, uint64_t va)
{
	struct own_uffd_wp w = { .start = va & ~(uint64_t)(PG - 1), .len = PG, .mode = 0 };

	ioctl(ufd, OWN_UFFDIO_WRITEPROTECT, &w);
}

static void minor_unstick(int ufd, uint64_t va)
{
	struct own_uffd_continue c = { .start = va & ~(uint64_t)(PG - 1), .len = PG };

	ioctl(ufd, OWN_UFFDIO_CONTINUE, &c);
}

static void own_uffd_wp_minor_checks(void)
{
	const uint64_t wva = VA + 0x180000, mva = VA + 0x1c0000;
	struct own_uffd_rep rep = { 0 };
	struct sva_bond_ops ops = { .size = sizeof(ops), .fault_error = own_uffd_err };
	struct sva_bind_opts bo = { .size = sizeof(bo), .ops = &ops, .drvdata = &rep };
	struct sva_bond *bond;
	struct sva_mm *mm;

	if (sva_mm_new(g_ctx, NULL, &mm) || sva_bind(g_dev, mm, &bo, &bond))
		ktest_bail("own userfaultfd, write-protect/minor: bind failed");
	{
		unsigned char *p = fill_at(wva, 4 * PG, 0x5c);
		int ufd = (int)syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK); /* kernel mode: its pins wait */
		struct kabi_uffdio_api api = { .api = KABI_UFFD_API };
		struct kabi_uffdio_register reg = { .range = { wva, 4 * PG }, .mode = KABI_UFFDIO_REGISTER_MODE_WP };
		struct own_uffd_wp w = { .start = wva, .len = 4 * PG, .mode = 1 /* WP */ };

		if (ufd < 0 || ioctl(ufd, KABI_UFFDIO_API, &api) || ioctl(ufd, KABI_UFFDIO_REGISTER, &reg) ||
		    ioctl(ufd, OWN_UFFDIO_WRITEPROTECT, &w)) {
			skip(4, "cannot write-protect with an application userfaultfd here");
		} else {
			own_uffd_waits_check("a write-protected page", bond, mm, wva + PG, &rep, wp_unstick, ufd);
		}
		if (ufd >= 0)
			close(ufd);
		munmap(p, 4 * PG);
	}
	{
		int mfd = memfd_create("ktest-minor", MFD_CLOEXEC), ufd = -1;
		struct kabi_uffdio_api api = { .api = KABI_UFFD_API, .features = OWN_UFFD_FEATURE_MINOR_SHMEM };
		struct kabi_uffdio_register reg = { .range = { mva, 4 * PG }, .mode = 1ull << 2 /* MINOR */ };
		unsigned char *a = MAP_FAILED, *b = MAP_FAILED;

		if (mfd >= 0 && ftruncate(mfd, 4 * PG) == 0) {
			a = mmap((void *)(uintptr_t)mva, 4 * PG, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED_NOREPLACE, mfd, 0);
			b = mmap(NULL, 4 * PG, PROT_READ | PROT_WRITE, MAP_SHARED, mfd, 0);
		}
		if (a != MAP_FAILED && b != MAP_FAILED) {
			memset(b, 0x5c, 4 * PG); /* in the page cache; not in a's page table */
			ufd = (int)syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK);
		}
		if (ufd < 0 || ioctl(ufd, KABI_UFFDIO_API, &api) || ioctl(ufd, KABI_UFFDIO_REGISTER, &reg)) {
			skip(4, "cannot register shared memory in minor mode with an application userfaultfd here");
		} else {
			own_uffd_waits_check("a page handled in minor mode", bond, mm, mva + PG, &rep, minor_unstick, ufd);
		}
		if (ufd >= 0)
			close(ufd);
		if (a != MAP_FAILED)
			munmap(a, 4 * PG);
		if (b != MAP_FAILED)
			munmap(b, 4 * PG);
		if (mfd >= 0)
			close(mfd);
	}
	sva_unbind(bond);
	sva_mm_free(mm);
}

/*
 * sva_mem_free() of memory another userfaultfd held when it was prefaulted
 * (so libsva mapped it untracked): no event reports its munmap, and it used
 * to stay visible after the free.
 */
static void mem_free_untracked(void)
{
	struct sva_mem_opts mo = { .size = sizeof(mo) };
	struct sva_mm *mm;
	unsigned char *p = NULL;
	int ufd = (int)syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK | 1 /* UFFD_USER_MODE_ONLY */);
	struct kabi_uffdio_api api = { .api = KABI_UFFD_API };
	struct kabi_uffdio_register reg = { .mode = 1 /* MISSING */ };

	sva_mm_new(g_ctx, NULL, &mm);
	mo.mm = mm;
	if (sva_mem_alloc(4 * PG, &mo, (void **)&p))
		ktest_bail("sva_mem_alloc");
	memset(p, 0xe2, 4 * PG);
	reg.range.start = (uintptr_t)p;
	reg.range.len = 4 * PG;
	if (ufd < 0 || ioctl(ufd, KABI_UFFDIO_API, &api) || ioctl(ufd, KABI_UFFDIO_REGISTER, &reg)) {
		skip(2, "cannot register an application userfaultfd here");
	} else {
		sva_ctx_set_log(g_ctx, NULL, NULL, SVA_LOG_OFF);
		sva_mm_prefault(mm, p, 4 * PG);
		sva_ctx_set_log(g_ctx, NULL, NULL, SVA_LOG_DEFAULT);
		is_int(seen(mm, (uintptr_t)p), 0xe2, "sva_mem_alloc'd memory another userfaultfd holds: visible, untracked");
		sva_mem_free(mm, p, 4 * PG);
		is_int(seen(mm, (uintptr_t)p), -ENOENT, "  sva_mem_free(mm, ...): no longer visible");
	}
	if (ufd >= 0)
		close(ufd);
	sva_mm_free(mm);
}

/*
 * shmdt() posts no event: libsva(7) says to call sva_mm_invalidate() and make
 * the new memory visible again.  The new mapping at the same address must be
 * registered then (it used to be taken for registered already, and a munmap
 * of it went unseen).
 */
static void shmdt_remedy(void)
{
	struct sva_mm *mm;
	int id = shmget(IPC_PRIVATE, 4 * PG, IPC_CREAT | 0600);
	unsigned char *p;

	if (id < 0 || (p = shmat(id, (void *)(uintptr_t)VA, 0)) == (void *)-1) {
		skip(3, "no System V shared memory here");
		if (id >= 0)
			shmctl(id, IPC_RMID, NULL);
		return;
	}
	shmctl(id, IPC_RMID, NULL);
	memset(p, 0xe3, 4 * PG);
	sva_mm_new(g_ctx, NULL, &mm);
	if (sva_mm_prefault(mm, p, 4 * PG))
		ktest_bail("prefault of the shm segment");
	shmdt(p);
	sva_mm_invalidate(mm, p, 4 * PG);
	p = fill_at(VA, 4 * PG, 0xe4);
	is_int(sva_mm_prefault(mm, p, 4 * PG), 0, "shmdt, invalidate, new memory there: prefaulted");
	is_int(seen(mm, VA), 0xe4, "  the device sees the new memory");
	munmap(p, 4 * PG);
	sva_mm_fence(mm);
	is_int(seen(mm, VA), -ENOENT, "  and its munmap is followed (it was registered)");
	sva_mm_free(mm);
}

/*
 * shmat(SHM_REMAP) replaces a mapping as MAP_FIXED does but passes no
 * userfaultfd context to the unmap, so no UNMAP event (review Z66: a raw
 * userfaultfd registered over anonymous memory got none, and a munmap of the
 * segment afterwards none either).  libsva(7) lists it under "What no event
 * reports"; this checks what it says and its remedy.  In the bound address
 * space (with no HWPT the access path would read the process's current page).
 */
static void shm_remap_remedy(struct sva_mm *mm)
{
	int id = shmget(IPC_PRIVATE, 4 * PG, IPC_CREAT | 0600);
	unsigned char *p, *s;

	if (id < 0) {
		skip(5, "no System V shared memory here");
		return;
	}
	p = fill_at(VA, 4 * PG, 0xe9);
	is_int(sva_mm_prefault(mm, p, 4 * PG), 0, "SHM_REMAP: anonymous memory prefaulted");
	s = shmat(id, p, SHM_REMAP);
	shmctl(id, IPC_RMID, NULL);
	if (s != p) {
		skip(4, "shmat(SHM_REMAP) refused");
		munmap(p, 4 * PG);
		sva_mm_fence(mm);
		return;
	}
	s[0] = 0xea;
	sva_mm_fence(mm);
	is_int(seen(mm, VA), -ESTALE, "  shmat(SHM_REMAP) over it: the devices keep the replaced page (documented)");
	sva_mm_invalidate(mm, s, 4 * PG);
	is_int(sva_mm_prefault(mm, s, 4 * PG), 0, "  invalidate, then prefault");
	is_int(seen(mm, VA), 0xea, "  the devices see the segment");
	munmap(s, 4 * PG); /* registered by that prefault: followed */
	sva_mm_fence(mm);
	is_int(seen(mm, VA), -ENOENT, "  and a munmap of the segment is followed");
}

/*
 * Two operations libsva(7) lists under "What no event reports", each with its
 * remedy: MADV_REMOVE through a second mapping of the same memfd pages (the
 * kernel reports only the range given, so the first mapping's devices keep
 * the freed pages, and a prefault does not mend it: the range is visible),
 * and remap_file_pages() (an internal MAP_FIXED mmap without an unmap event).
 * sva_mm_invalidate() and a prefault give the devices the process's pages.
 * In the bound address space: with no HWPT the access path would read the
 * process's current page, stale or not.
 */
static void unreported_remedies(struct sva_mm *mm)
{
	int fd = memfd_create("ktest-alias", MFD_CLOEXEC);
	unsigned char *p, *alias;

	if (fd < 0 || ftruncate(fd, 8 * PG))
		ktest_bail("memfd for the unreported remedies");
	p = mmap((void *)(uintptr_t)VA, 4 * PG, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED_NOREPLACE, fd, 0);
	alias = mmap(NULL, 4 * PG, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (p == MAP_FAILED || alias == MAP_FAILED)
		ktest_bail("map the memfd twice");
	memset(p, 0xe5, 4 * PG);
	is_int(sva_mm_prefault(mm, p, 4 * PG), 0, "alias: the first mapping of a memfd prefaulted");
	is_int(madvise(alias, 4 * PG, MADV_REMOVE), 0, "  MADV_REMOVE through a second mapping");
	p[0] = 0xe6;
	sva_mm_fence(mm);
	is_int(seen(mm, VA), -ESTALE, "  the devices keep the freed page at the first mapping (documented)");
	is_int(sva_mm_prefault(mm, p, 4 * PG), 0, "  a prefault again");
	is_int(seen(mm, VA), -ESTALE, "  does not mend it (the range is visible already)");
	sva_mm_invalidate(mm, p, 4 * PG);
	is_int(sva_mm_prefault(mm, p, 4 * PG), 0, "  invalidate, then prefault");
	is_int(seen(mm, VA), 0xe6, "  the devices see the process's page");
	munmap(alias, 4 * PG);

	/* remap_file_pages: file page 5 at p's first page, where page 0 was */
	memset(p, 0xe7, PG);
	if (pwrite(fd, (unsigned char[]){ 0xe8 }, 1, 5 * PG) != 1)
		ktest_bail("pwrite the memfd");
	sva_mm_invalidate(mm, p, 4 * PG);
	is_int(sva_mm_prefault(mm, p, 4 * PG), 0, "remap_file_pages: the memfd mapping prefaulted");
	if (remap_file_pages(p, PG, 0, 5, 0)) {
		diag("remap_file_pages: %s", strerror(errno));
		skip(3, "remap_file_pages refused");
	} else {
		is_int(p[0], 0xe8, "  the process sees file page 5");
		sva_mm_fence(mm);
		is_int(seen(mm, VA), -ESTALE, "  the devices keep file page 0 (documented)");
		sva_mm_invalidate(mm, p, PG);
		sva_mm_prefault(mm, p, PG);
		is_int(seen(mm, VA), 0xe8, "  invalidate, then prefault: the devices see file page 5");
	}
	munmap(p, 4 * PG);
	close(fd);
	sva_mm_fence(mm);
}

/* The parent's half of a child that reports len bytes of results on pfd:
 * read them (got[0] = -9999 if they did not all come), reap it, its status. */
static int child_results(pid_t pid, int pfd[2], int *got, size_t len)
{
	int status = 0;

	close(pfd[1]);
	if (read(pfd[0], got, len) != (ssize_t)len)
		got[0] = -9999;
	close(pfd[0]);
	waitpid(pid, &status, 0);
	return status;
}

/* A child that seccomp forbids userfaultfd, as Docker's default profile does,
 * without /dev/userfaultfd (its ioctl refused: a container not given the node;
 * ktest-kernel-lacks tracks through it). */
static void seccomp_checks(void)
{
	int pfd[2], status = 0, got[4] = { -1, -1, -1, -1 };
	pid_t pid;

	if (pipe(pfd))
		ktest_bail("pipe");
	pid = fork();
	if (pid == 0) {
		struct sva_mm_opts so = { .size = sizeof(so), .flags = SVA_MM_TRACK_STRICT };
		struct sva_ctx_opts co = { .size = sizeof(co), .log_fn = count_log };
		struct sva_ctx *ctx;
		struct sva_mm *mm, *strict = NULL;
		struct sva_mm_stats s = { .size = sizeof(s) };

		alarm(20);
		if (ktest_refuse_uffd(EPERM, true))
			_exit(2);
		log_warn_lines = 0;
		if (sva_ctx_new(&co, &ctx))
			_exit(3);
		got[0] = sva_mm_new(ctx, NULL, &mm);
		sva_mm_stats(mm, &s);
		got[1] = s.untracked_reason;
		got[2] = log_warn_lines;
		got[3] = sva_mm_new(ctx, &so, &strict);
		if (write(pfd[1], got, sizeof(got)) != sizeof(got))
			_exit(4);
		_exit(0);
	}
	status = child_results(pid, pfd, got, sizeof(got));
	if (WIFEXITED(status) && WEXITSTATUS(status) == 2) {
		skip(4, "seccomp filters are not available in this kernel");
		return;
	}
	is_int(got[0], 0, "seccomp denies userfaultfd: sva_mm_new still succeeds, untracked");
	is_int(got[1], -EPERM, "seccomp: sva_mm_stats says why (-EPERM)");
	is_int(got[2], 1, "seccomp: one warning line says so");
	is_int(got[3], -EPERM, "seccomp: an SVA_MM_TRACK_STRICT address space is refused with -EPERM");
}

/* The number of this process's userfaultfd (libsva's), or -1. */
static int find_uffd(void)
{
	return ktest_anon_fd("anon_inode:[userfaultfd]");
}

/* A child's exit status when it found no monitor thread at all. */
#define KT_EXIT_NO_MONITOR 70

/* Is the monitor (a thread named sva-coherence) in one of these system calls
 * now: 1 or 0; -ESRCH when there is no monitor at all, which no wait mends
 * (or another negative errno: /proc/self/task unreadable). */
static int monitor_in(long nr1, long nr2)
{
	int asleep, n = ktest_threads_asleep_in(KTEST_MONITOR_THREAD, nr1, nr2, nr2, &asleep);

	if (n < 0)
		return n;
	return n ? asleep > 0 : -ESRCH;
}

/*
 * Wait up to ms milliseconds for the monitor to sleep in nr1 or nr2 (and
 * carry on either way: the time limit is the callers' old behaviour).  No
 * monitor thread at all ends the child at once, saying so, with
 * KT_EXIT_NO_MONITOR: every caller runs in a child that needs the monitor,
 * and used to wait out its limit and then fail later with no reason given.
 */
static void monitor_wait_in(long nr1, long nr2, unsigned ms)
{
	int r;

	KTEST_WAIT_WHILE((r = monitor_in(nr1, nr2)) == 0, ms);
	if (r < 0) {
		fprintf(stderr, "# no coherence monitor (a thread named %s): %s\n", KTEST_MONITOR_THREAD,
			r == -ESRCH ? "none" : strerror(-r));
		_exit(KT_EXIT_NO_MONITOR);
	}
}

/* Wait for the monitor to sleep in poll().  A test that gives the monitor's
 * numbers away behind its back waits for this first: a monitor whose first
 * poll() came between two such dup2()s held only the userfaultfd, and slept
 * on with it through the next event, which then waited for good (the test's
 * race, not libsva's). */
static void monitor_wait_poll(void)
{
	monitor_wait_in(KTEST_SYS_POLL, SYS_ppoll, 2000);
}

/* The application closes libsva's userfaultfd and puts at its number a pipe
 * whose writer is gone (poll() says POLLHUP at once, read() 0); its number,
 * or exit 5. */
static int uffd_to_dead_pipe(void)
{
	int ufd = find_uffd(), p[2];

	if (ufd < 0 || pipe(p))
		_exit(5);
	close(p[1]);
	dup2(p[0], ufd);
	close(p[0]);
	return ufd;
}

/* The same with a file whose read never ends: every read() of /dev/zero
 * gives zeros, of /dev/urandom random bytes, never EAGAIN. */
static int uffd_to_file(const char *path)
{
	int ufd = find_uffd(), f = open(path, O_RDONLY | O_CLOEXEC);

	if (ufd < 0 || f < 0)
		_exit(5);
	dup2(f, ufd);
	close(f);
	return ufd;
}

static double cpu_seconds(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/*
 * The application closes libsva's userfaultfd and its number comes to hold a
 * pipe whose writer is gone (poll() says POLLHUP at once, read() 0).  The
 * monitor must stop as for any failure (libsva(7)): fences say -EIO, a strict
 * address space maps nothing (-EIO), and it neither spins on the number nor
 * closes it (it is the application's pipe now).  In a child: tracking is lost
 * for the whole process.
 */
/* The child of uffd_replaced_checks(), in a fresh process (exec'd: threads
 * after a fork of a threaded process are not for every build, ThreadSanitizer
 * refuses them).  Writes its results to out and exits. */
static int uffd_replaced_child(int out, const char *file)
{
	int got[7] = { -9, -9, -9, -9, -9, -9, -9 };
	struct sva_mm_opts so = { .size = sizeof(so), .flags = SVA_MM_TRACK_STRICT };
	struct sva_mm_stats s = { .size = sizeof(s) };
	struct sva_ctx *ctx;
	struct sva_mm *mm, *strict;
	unsigned char *a, *b;
	int ufd, ret = 0;
	double cpu;

	alarm(30);
	if (sva_ctx_new(NULL, &ctx) || sva_mm_new(ctx, NULL, &mm) || sva_mm_new(ctx, &so, &strict))
		_exit(3);
	a = ktest_map_at(VA, 4 * PG, PROT_READ | PROT_WRITE);
	if (sva_mm_prefault(mm, a, 4 * PG))
		_exit(4);
	ufd = file ? uffd_to_file(file) : uffd_to_dead_pipe();
	munmap(a, 4 * PG);
	for (int ms = 0; ms < 3000 && (ret = sva_mm_fence(mm)) == 0; ms += 10)
		usleep(10000);
	got[0] = ret;
	cpu = cpu_seconds();
	usleep(500000);
	got[1] = (int)((cpu_seconds() - cpu) * 1000);
	got[2] = fcntl(ufd, F_GETFD) >= 0;
	b = ktest_map_at(VA + 16 * PG, 4 * PG, PROT_READ | PROT_WRITE);
	got[3] = sva_mm_prefault(strict, b, 4 * PG);
	sva_mm_stats(mm, &s);
	got[4] = !(s.flags & SVA_MM_STAT_TRACKED);
	got[5] = sva_mm_fence(strict);
	got[6] = (int)s.bytes_visible;
	/* The stopped monitor is joined when the last tracked address space goes. */
	sva_mm_free(strict);
	sva_mm_free(mm);
	sva_ctx_free(ctx);
	if (write(out, got, sizeof(got)) != sizeof(got))
		_exit(6);
	_exit(0);
}

/*
 * The number comes to hold a file poll() says nothing about (an eventfd that
 * is never written): the monitor sleeps on, and it is a registration that
 * finds the file is not a userfaultfd.  Tracking must stop for the whole
 * process as when the monitor sees it (every address space withdrawn and
 * untracked), and the next address space must start a new monitor that
 * tracks again (libsva(7): "Address spaces created afterwards start a new
 * monitor").
 */
static int uffd_silent_child(int out)
{
	int got[8] = { -9, -9, -9, -9, -9, -9, -9, -9 };
	struct sva_mm_opts so = { .size = sizeof(so), .flags = SVA_MM_TRACK_STRICT };
	struct sva_mm_stats s = { .size = sizeof(s) };
	struct sva_ctx *ctx;
	struct sva_mm *mm, *other, *next;
	unsigned char *a, *b, *c, *d;
	int ufd, efd;

	alarm(30);
	if (sva_ctx_new(NULL, &ctx) || sva_mm_new(ctx, NULL, &mm) || sva_mm_new(ctx, NULL, &other))
		_exit(3);
	a = ktest_map_at(VA, 4 * PG, PROT_READ | PROT_WRITE);
	b = ktest_map_at(VA + 8 * PG, 4 * PG, PROT_READ | PROT_WRITE);
	if (sva_mm_prefault(mm, a, 4 * PG) || sva_mm_prefault(other, b, 4 * PG))
		_exit(4);
	ufd = find_uffd();
	efd = eventfd(0, EFD_CLOEXEC);
	if (ufd < 0 || efd < 0)
		_exit(5);
	dup2(efd, ufd);
	close(efd);
	/* New memory: its registration is what finds the eventfd. */
	c = ktest_map_at(VA + 16 * PG, 4 * PG, PROT_READ | PROT_WRITE);
	got[0] = sva_mm_prefault(mm, c, 4 * PG);
	/* That map is made untracked: counted as every later one is (sva_mm_stats(3)). */
	sva_mm_stats(mm, &s);
	got[6] = (int)s.untracked_ranges;
	got[7] = (int)s.untracked_bytes;
	for (int ms = 0; ms < 3000; ms += 10) {
		sva_mm_stats(other, &s);
		if (!(s.flags & SVA_MM_STAT_TRACKED) && s.bytes_visible == 0)
			break;
		usleep(10000);
	}
	got[1] = !(s.flags & SVA_MM_STAT_TRACKED);
	got[2] = (int)s.bytes_visible;
	if (sva_mm_new(ctx, &so, &next))
		_exit(6);
	d = ktest_map_at(VA + 24 * PG, 4 * PG, PROT_READ | PROT_WRITE);
	got[3] = sva_mm_prefault(next, d, 4 * PG);
	munmap(d, 4 * PG);
	got[4] = sva_mm_fence(next);
	sva_mm_stats(next, &s);
	got[5] = (s.flags & SVA_MM_STAT_TRACKED) && s.bytes_visible == 0;
	sva_mm_free(next);
	sva_mm_free(other);
	sva_mm_free(mm);
	sva_ctx_free(ctx);
	if (write(out, got, sizeof(got)) != sizeof(got))
		_exit(7);
	_exit(0);
}

/*
 * The fence that first says -EIO must find the stop done (sva_mm_fence(3)):
 * the address space untracked and everything visible in it withdrawn, the
 * page whose munmap event went to the dead pipe included.  The stop used to
 * be announced before the monitor had withdrawn anything: with other address
 * spaces to withdraw first, stats read right after the -EIO still said
 * tracked and visible in some rounds.  Results: rounds whose fence said -EIO,
 * rounds that found the stop done at once.
 */
#define FENCE_ROUNDS 10
static int fence_race_child(int out)
{
	struct sva_bind_opts bo = { .size = sizeof(bo), .flags = SVA_BIND_PINNED };
	int got[2] = { 0, 0 };
	struct sva_ctx *ctx;
	struct sva_dev *dev;

	alarm(60);
	if (sva_ctx_new(NULL, &ctx) || sva_dev_open_mock(ctx, NULL, &dev))
		_exit(3);
	for (int round = 0; round < FENCE_ROUNDS; round++) {
		struct sva_mm_stats s = { .size = sizeof(s) };
		struct sva_mm *mm, *others[8];
		struct sva_bond *bond, *obond[8];
		unsigned char *a = ktest_map_at(VA + (uint64_t)round * 128 * PG, 64 * PG, PROT_READ | PROT_WRITE);
		int ufd, ret = 0;

		/* Bound, so that each withdrawal unmaps from a domain: the
		 * monitor withdraws the others (newer) before mm. */
		if (sva_mm_new(ctx, NULL, &mm) || sva_bind(dev, mm, &bo, &bond))
			_exit(4);
		for (int i = 0; i < 8; i++)
			if (sva_mm_new(ctx, NULL, &others[i]) || sva_bind(dev, others[i], &bo, &obond[i]) ||
			    sva_mm_prefault(others[i], a + (32 + i * 2) * PG, 2 * PG))
				_exit(4);
		if (sva_mm_prefault(mm, a, 4 * PG))
			_exit(4);
		ufd = uffd_to_dead_pipe();
		munmap(a + 2 * PG, PG); /* its event goes to the dead pipe: lost */
		for (int us = 0; us < 5000000 && (ret = sva_mm_fence(mm)) == 0; us += 200)
			usleep(200);
		sva_mm_stats(mm, &s);
		if (ret == -EIO) {
			got[0]++;
			got[1] += !(s.flags & SVA_MM_STAT_TRACKED) && s.bytes_visible == 0;
		}
		/* The last tracked address space joins the stopped monitor: the
		 * next round starts a new one. */
		for (int i = 0; i < 8; i++) {
			sva_unbind(obond[i]);
			sva_mm_free(others[i]);
		}
		sva_unbind(bond);
		sva_mm_free(mm);
		munmap(a, 64 * PG);
		close(ufd);
	}
	sva_dev_close(dev);
	sva_ctx_free(ctx);
	if (write(out, got, sizeof(got)) != sizeof(got))
		_exit(6);
	_exit(0);
}

/* An address space's munmap is withdrawn, and it is still tracked: 1. */
static int munmap_withdraws(struct sva_mm *mm, uint64_t va)
{
	struct sva_mm_stats s = { .size = sizeof(s) };
	unsigned char *p = ktest_map_at(va, 4 * PG, PROT_READ | PROT_WRITE);

	if (sva_mm_prefault(mm, p, 4 * PG))
		return 0;
	munmap(p, 4 * PG);
	if (sva_mm_fence(mm))
		return 0;
	sva_mm_stats(mm, &s);
	return (s.flags & SVA_MM_STAT_TRACKED) && s.bytes_visible == 0;
}

/* Is fd still /dev/null (left alone, not closed)? */
static int still_null(int fd)
{
	struct stat st;

	return fstat(fd, &st) == 0 && S_ISCHR(st.st_mode) && st.st_rdev == makedev(1, 3);
}

/*
 * The monitor's wake-up eventfd: its number given to /dev/null behind libsva's
 * back.  The release of the last tracked address space used to write to
 * /dev/null and wait forever for a monitor nothing could wake any more (the
 * wait holds the eventfd's file); a monitor that woke for an event took
 * /dev/null's POLLIN for a stop and quietly stopped tracking.  Now the release
 * wakes the monitor through its own userfaultfd (a doorbell page's REMOVE
 * event), the monitor leaves the number out of its wait, and the next address
 * space starts a new one on a new eventfd.
 */
static int stopfd_replaced_child(int out)
{
	int got[8] = { -9, -9, -9, -9, -9, -9, -9, -9 };
	struct sva_ctx *ctx;
	struct sva_mm *mm, *next;
	uint64_t count;
	int efd, app, nul = open("/dev/null", O_RDWR | O_CLOEXEC);

	alarm(30);
	if (nul < 0 || sva_ctx_new(NULL, &ctx) || sva_mm_new(ctx, NULL, &mm))
		_exit(3);
	/* First the release, with the monitor asleep on the old file. */
	efd = ktest_anon_fd("anon_inode:[eventfd]");
	if (efd < 0 || dup2(nul, efd) != efd)
		_exit(4);
	sva_mm_free(mm);
	got[0] = 1; /* the release returned */
	got[1] = still_null(efd);
	/* A new monitor; then its eventfd's number given away while it runs. */
	if (sva_mm_new(ctx, NULL, &next))
		_exit(5);
	got[2] = munmap_withdraws(next, VA);
	efd = ktest_anon_fd("anon_inode:[eventfd]");
	if (efd < 0 || dup2(nul, efd) != efd)
		_exit(6);
	got[3] = munmap_withdraws(next, VA + 16 * PG); /* the event wakes it: /dev/null is no stop */
	got[4] = munmap_withdraws(next, VA + 32 * PG); /* and it still tracks */
	sva_mm_free(next);
	got[5] = still_null(efd);
	/* The application's own eventfd at the number: fstat() cannot tell it
	 * from libsva's, yet the release must neither write to it nor wait. */
	if (sva_mm_new(ctx, NULL, &next))
		_exit(8);
	efd = ktest_anon_fd("anon_inode:[eventfd]");
	app = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (efd < 0 || app < 0 || dup2(app, efd) != efd)
		_exit(9);
	close(app);
	got[6] = munmap_withdraws(next, VA + 48 * PG);
	sva_mm_free(next);
	got[7] = read(efd, &count, sizeof(count)) < 0 && errno == EAGAIN;
	sva_ctx_free(ctx);
	if (write(out, got, sizeof(got)) != sizeof(got))
		_exit(7);
	_exit(0);
}

/* Does fd hold an eventfd, left open? */
static int holds_eventfd(int fd)
{
	char path[32], link[64];
	ssize_t n;

	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	n = readlink(path, link, sizeof(link) - 1);
	return n > 0 && (link[n] = '\0', strcmp(link, "anon_inode:[eventfd]") == 0);
}

/*
 * The userfaultfd's number given to an eventfd nobody writes, and no
 * registration after: poll() looks the number up again at every wake-up, so
 * the doorbell's REMOVE event wakes nothing and its madvise() waits for the
 * monitor to read it.  The release of the last tracked address space used to
 * wait forever there (review Z51); it must return, leave the application's
 * eventfd open, and let a munmap of the memory registered before go.
 */
static int uffd_idle_child(int out)
{
	int got[5] = { -9, -9, -9, -9, -9 };
	struct sva_ctx *ctx;
	struct sva_mm *mm, *next;
	unsigned char *a;
	uint64_t count;
	int ufd, efd;

	alarm(20); /* the old release: killed here */
	if (sva_ctx_new(NULL, &ctx) || sva_mm_new(ctx, NULL, &mm))
		_exit(3);
	a = ktest_map_at(VA, 4 * PG, PROT_READ | PROT_WRITE);
	if (sva_mm_prefault(mm, a, 4 * PG))
		_exit(4);
	ufd = find_uffd();
	efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (ufd < 0 || efd < 0 || dup2(efd, ufd) != ufd)
		_exit(5);
	close(efd);
	sva_mm_free(mm);
	got[0] = 1; /* the release returned */
	got[1] = holds_eventfd(ufd);
	got[2] = read(ufd, &count, sizeof(count)) < 0 && errno == EAGAIN; /* nothing written to it */
	got[3] = munmap(a, 4 * PG) == 0;
	if (sva_mm_new(ctx, NULL, &next))
		_exit(6);
	got[4] = munmap_withdraws(next, VA + 16 * PG);
	sva_mm_free(next);
	sva_ctx_free(ctx);
	if (write(out, got, sizeof(got)) != sizeof(got))
		_exit(7);
	_exit(0);
}

static int threads_named(const char *name, int *blocking);

/* Give the monitor's two numbers away once it sleeps in poll() on both (else
 * a poll() between the two dup2()s keeps only the userfaultfd's file): the
 * eventfd's to /dev/null, the userfaultfd's to a new idle eventfd, which it
 * returns (-1 if it cannot).  Made after the monitor's eventfd is found, so
 * that the search finds the monitor's. */
static int give_numbers_away(int nul)
{
	int efd, ufd, idle;

	monitor_wait_poll();
	efd = ktest_anon_fd("anon_inode:[eventfd]");
	ufd = find_uffd();
	idle = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (efd < 0 || ufd < 0 || idle < 0 || dup2(nul, efd) != efd || dup2(idle, ufd) != ufd)
		return -1;
	return idle;
}

/*
 * A monitor the release had to let go (both its numbers given away) runs on.
 * When it wakes later and leaves its eventfd's number (/dev/null now) out of
 * its wait, that is its own business, not the next monitor's.  It used to set
 * one flag for every monitor (review Z71): the next release, finding that
 * monitor's userfaultfd number given away too, then let it go as well although
 * its eventfd would have woken it, and a munmap of memory registered with its
 * userfaultfd waited for good.
 */
static int stopfd_gen_child(int out)
{
	int got[3] = { -9, -9, -9 };
	struct sva_ctx *ctx;
	struct sva_mm *mm, *next;
	unsigned char *a, *b;
	int ufd, idle, nul = open("/dev/null", O_RDWR | O_CLOEXEC);

	alarm(20); /* the old release: killed in the last munmap */
	if (nul < 0 || sva_ctx_new(NULL, &ctx) || sva_mm_new(ctx, NULL, &mm))
		_exit(3);
	a = ktest_map_at(VA, 4 * PG, PROT_READ | PROT_WRITE);
	if (sva_mm_prefault(mm, a, 4 * PG))
		_exit(4);
	/* Both numbers given away: the release cannot wake this monitor. */
	idle = give_numbers_away(nul);
	if (idle < 0)
		_exit(5);
	sva_mm_free(mm);
	/* The next monitor, on a new userfaultfd and a new eventfd. */
	if (sva_mm_new(ctx, NULL, &next))
		_exit(6);
	b = ktest_map_at(VA + 16 * PG, 4 * PG, PROT_READ | PROT_WRITE);
	if (sva_mm_prefault(next, b, 4 * PG))
		_exit(7);
	/* The let-go monitor wakes for this munmap's event and finds
	 * /dev/null at its eventfd's number. */
	got[0] = munmap(a, 4 * PG) == 0;
	usleep(200000);
	/* The new monitor's userfaultfd number given away: its release must
	 * wake it through its eventfd, which is still its own. */
	ufd = find_uffd();
	if (ufd < 0 || dup2(idle, ufd) != ufd)
		_exit(8);
	sva_mm_free(next);
	/* The next monitor is joined; the let-go one ends on its own after its
	 * wake-up, on a loaded host later than the 200 ms above (one run saw it
	 * still there): waited for, as every other monitor's end here. */
	KTEST_WAIT_WHILE(threads_named(KTEST_MONITOR_THREAD, NULL) > 0, 5000);
	got[1] = threads_named(KTEST_MONITOR_THREAD, NULL); /* none: the let-go one ended at its wake-up */
	got[2] = munmap(b, 4 * PG) == 0;
	sva_ctx_free(ctx);
	if (write(out, got, sizeof(got)) != sizeof(got))
		_exit(9);
	_exit(0);
}

static char closed_log[512];

static void closed_capture(void *arg, enum sva_log_level level, const char *msg)
{
	(void)arg;
	if (level >= SVA_LOG_ERROR && strstr(msg, "sva_mm_prefault"))
		snprintf(closed_log, sizeof(closed_log), "%s", msg);
}

/*
 * The userfaultfd closed behind libsva's back, no event since: the next
 * registration, a strict address space's prefault, finds the number closed
 * and fails with -EIO, nothing mapped.  Its line used to blame the kernel's
 * map ("IOMMU_IOAS_MAP ... failed: Input/output error", review Z57); it must
 * say tracking stopped, as when a fence noticed first.
 */
static int uffd_closed_child(int out)
{
	int got[3] = { -9, -9, -9 };
	struct sva_mm_opts so = { .size = sizeof(so), .flags = SVA_MM_TRACK_STRICT };
	struct sva_ctx_opts co = { .size = sizeof(co), .log_fn = closed_capture, .log_level = SVA_LOG_ERROR };
	struct sva_ctx *ctx;
	struct sva_mm *strict;
	unsigned char *a, *b;
	int ufd;

	alarm(30);
	if (sva_ctx_new(&co, &ctx) || sva_mm_new(ctx, &so, &strict))
		_exit(3);
	a = ktest_map_at(VA, 4 * PG, PROT_READ | PROT_WRITE);
	if (sva_mm_prefault(strict, a, 4 * PG))
		_exit(4);
	ufd = find_uffd();
	if (ufd < 0 || close(ufd))
		_exit(5);
	b = ktest_map_at(VA + 16 * PG, 4 * PG, PROT_READ | PROT_WRITE);
	got[0] = sva_mm_prefault(strict, b, 4 * PG);
	got[1] = strstr(closed_log, "coherence tracking stopped") != NULL;
	got[2] = strstr(closed_log, "IOMMU_IOAS_MAP") == NULL;
	if (!got[1] || !got[2])
		fprintf(stderr, "# the line: %s\n", closed_log);
	sva_mm_free(strict);
	sva_ctx_free(ctx);
	if (write(out, got, sizeof(got)) != sizeof(got))
		_exit(7);
	_exit(0);
}

/* Run this binary again in a child with env=FD set (a fresh process, see
 * uffd_replaced_child()), and read its results: its status. */
static int exec_child(const char *env, int *got, size_t len)
{
	int pfd[2];
	pid_t pid;

	if (pipe(pfd))
		ktest_bail("pipe");
	pid = fork();
	if (pid == 0) {
		char fd[16];

		close(pfd[0]);
		snprintf(fd, sizeof(fd), "%d", pfd[1]);
		setenv(env, fd, 1);
		execl("/proc/self/exe", "ktest-coherence", (char *)NULL);
		_exit(8);
	}
	return child_results(pid, pfd, got, len);
}

/* exec_child(), and check that the child ran to the end: what says which. */
static void child_ran(const char *env, int *got, size_t len, const char *what)
{
	int status = exec_child(env, got, len);

	int code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;

	is_int(code, 0, "%s: the child ran to the end (status 0x%x%s)", what, status,
	       code == KT_EXIT_NO_MONITOR ? ": it found no monitor thread" : "");
}

static void uffd_silent_checks(void)
{
	int got[8] = { -9, -9, -9, -9, -9, -9, -9, -9 };

	child_ran("KTEST_UFFD_SILENT", got, sizeof(got), "uffd replaced by a silent eventfd");
	is_int(got[0], 0, "  a prefault whose registration finds it maps untracked (the default policy)");
	is_int(got[6], 1, "  that map counts in untracked_ranges");
	is_int(got[7], 4 * PG, "  and its bytes in untracked_bytes");
	ok(got[1] == 1, "  every other address space stops being tracked too");
	is_int(got[2], 0, "  and withdraws what it mapped (its events may be lost)");
	is_int(got[3], 0, "  a strict address space made afterwards maps (a new monitor)");
	is_int(got[4], 0, "  its fence after a munmap: 0");
	ok(got[5] == 1, "  it is tracked, and the munmap withdrew its range");
}

static void stopfd_replaced_checks(void)
{
	int got[8] = { -9, -9, -9, -9, -9, -9, -9, -9 };

	child_ran("KTEST_STOPFD_REPLACED", got, sizeof(got), "the monitor's eventfd given to /dev/null");
	ok(got[0] == 1, "  the release of the last tracked address space returns (it used to wait forever)");
	ok(got[1] == 1, "  and leaves the number, /dev/null now, open");
	ok(got[2] == 1, "  a new address space is tracked by a new monitor (munmap withdraws)");
	ok(got[3] == 1, "  with that one's eventfd given away too, a munmap is still withdrawn");
	ok(got[4] == 1, "  and the next one: /dev/null's readiness is no stop");
	ok(got[5] == 1, "  its release leaves /dev/null open too");
	ok(got[6] == 1, "  the application's own eventfd at the number: the monitor still tracks");
	ok(got[7] == 1, "  and the release returns without writing to it (its counter is 0)");
}

static void stopfd_gen_checks(void)
{
	int got[3] = { -9, -9, -9 };

	child_ran("KTEST_STOPFD_GEN", got, sizeof(got), "a monitor let go leaves its eventfd out");
	ok(got[0] == 1, "  a munmap that wakes the let-go monitor returns");
	/* The let-go monitor ends at the munmap's wake-up, reading nothing
	 * (it used to run on, and read whatever came to its number): a thread
	 * left would be the next monitor, not joined. */
	is_int(got[1], 0, "  the next monitor's release still wakes it through its eventfd (it is joined), and the "
			  "let-go one has ended: no sva-coherence thread left");
	ok(got[2] == 1, "  and a munmap of memory it registered returns");
}

static void uffd_idle_checks(void)
{
	int got[5] = { -9, -9, -9, -9, -9 };

	child_ran("KTEST_UFFD_IDLE", got, sizeof(got), "uffd replaced by an idle eventfd, no registration after");
	ok(got[0] == 1, "  the release of the last tracked address space returns (it used to wait forever)");
	ok(got[1] == 1, "  and leaves the number, the application's eventfd, open");
	ok(got[2] == 1, "  without writing to it (its counter is 0)");
	ok(got[3] == 1, "  a munmap of memory registered before returns");
	ok(got[4] == 1, "  a new address space is tracked by a new monitor (munmap withdraws)");
}

static void uffd_closed_checks(void)
{
	int got[3] = { -9, -9, -9 };

	child_ran("KTEST_UFFD_CLOSED", got, sizeof(got), "uffd closed, no event since");
	is_int(got[0], -EIO, "  a strict address space's next prefault: -EIO");
	ok(got[1] == 1, "  its line says coherence tracking stopped");
	ok(got[2] == 1, "  and does not blame IOMMU_IOAS_MAP");
}

static void fence_race_checks(void)
{
	int got[2] = { -9, -9 };

	child_ran("KTEST_FENCE_RACE", got, sizeof(got), "fence against the stop");
	is_int(got[0], FENCE_ROUNDS, "  the uffd replaced by a pipe: every round's fence said -EIO");
	is_int(got[1], got[0], "  and in each, right then, the address space was untracked with nothing visible");
}

static void uffd_replaced_by(const char *env, const char *what)
{
	int got[7] = { -9, -9, -9, -9, -9, -9, -9 };

	child_ran(env, got, sizeof(got), what);
	is_int(got[0], -EIO, "uffd replaced by %s: the monitor stops, fences say -EIO", what);
	ok(got[1] < 250, "  and it does not spin on %s (%d ms of CPU in 500 ms idle)", what, got[1]);
	ok(got[2] == 1, "  nor close the number, which is the application's %s now", what);
	is_int(got[3], -EIO, "  a strict address space maps nothing more (-EIO)");
	ok(got[4] == 1, "  sva_mm_stats no longer says tracked");
	is_int(got[5], -EIO, "  and its fence says -EIO too");
	is_int(got[6], 0, "  the munmap whose event was lost is withdrawn all the same (nothing stays visible)");
}

/* A pipe whose writer is gone (read() 0), and files whose read() never
 * ends (Z103: the monitor read /dev/zero's zeros for good, and /dev/urandom's
 * bytes as events). */
static void uffd_replaced_checks(void)
{
	uffd_replaced_by("KTEST_UFFD_REPLACED", "a pipe");
	uffd_replaced_by("KTEST_UFFD_ZERO", "/dev/zero");
	uffd_replaced_by("KTEST_UFFD_URANDOM", "/dev/urandom");
}

/*
 * Memory prefaulted before any device is bound, then unmapped, then the first
 * bind: its HWPT makes the kernel pin what the IOAS maps, and an unmap whose
 * event the monitor had read but not applied yet failed that pin (the bind
 * returned -EFAULT about half the time).  sva_bind applies pending events first.
 */
static void bind_after_munmap_checks(void)
{
	struct sva_bind_opts bo = { .size = sizeof(bo) };
	unsigned failed = 0;
	int first = 0;

	for (int i = 0; i < 20; i++) {
		struct sva_mm *mm;
		struct sva_bond *bond;
		unsigned char *p = ktest_map_at(VA, 16 * PG, PROT_READ | PROT_WRITE);
		int ret;

		memset(p, 1, 16 * PG);
		if (sva_mm_new(g_ctx, NULL, &mm) || sva_mm_prefault(mm, p, 16 * PG))
			ktest_bail("address space with prefaulted memory");
		munmap(p, 16 * PG);
		ret = sva_bind(g_dev, mm, &bo, &bond);
		if (ret) {
			failed++;
			first = first ? first : ret;
		} else {
			sva_unbind(bond);
		}
		sva_mm_free(mm);
	}
	is_int((int)failed, 0, "bind right after munmap of prefaulted memory: 20 of 20 succeed (first error %d)",
	       first);
}

/*
 * The first bind while another thread's munmap() of prefaulted memory is in
 * flight: its pages are gone, its event not read yet (the hook holds the
 * monitor before its read), so the bind's fence has nothing to apply and the
 * kernel's pin fails -EFAULT.  The bind waits for the event and works.
 */
extern void (*_Atomic sva_test_track_read_hook)(void); /* track.c, libsva-test only */
static atomic_int g_hold_read;
static void hold_read(void)
{
	if (atomic_exchange(&g_hold_read, 0))
		usleep(200000);
}

/* Is the page at p mapped in the process (mincore's ENOMEM: not)? */
static bool page_mapped(const void *p)
{
	unsigned char vec[1];

	return mincore((void *)p, PG, vec) == 0 || errno != ENOMEM;
}

static void *unmap_thread(void *arg)
{
	munmap(arg, 4 * PG);
	return NULL;
}

static void bind_unmap_in_flight_checks(void)
{
	struct sva_bind_opts bo = { .size = sizeof(bo) };
	struct sva_mm *mm;
	struct sva_bond *bond = NULL;
	unsigned char *p = fill_at(VA, 4 * PG, 0x5d), b[PG];
	pthread_t t;
	int ret, waited = 0;

	if (sva_mm_new(g_ctx, NULL, &mm) || sva_mm_prefault(mm, p, 4 * PG))
		ktest_bail("address space with prefaulted memory");
	atomic_store(&g_hold_read, 1);
	sva_test_track_read_hook = hold_read;
	if (pthread_create(&t, NULL, unmap_thread, p))
		ktest_bail("pthread_create");
	while (page_mapped(p) && waited++ < 2000)
		usleep(1000);
	ok(!page_mapped(p), "munmap in flight: the pages are gone from the process");
	ret = sva_bind(g_dev, mm, &bo, &bond);
	is_int(ret, 0, "the first bind while that munmap's event is unread waits for it and works");
	pthread_join(t, NULL);
	sva_test_track_read_hook = NULL;
	is_int(sva_mm_fence(mm), 0, "  a fence after the munmap returned");
	is_int(ktest_access_rw(g_ctx, mm->ioas_id, VA, b, PG, 0), -ENOENT, "  nothing of the memory is visible");
	if (!ret)
		sva_unbind(bond);
	sva_mm_free(mm);
}

/*
 * The application gives the userfaultfd's number away while the release of
 * the last tracked address space stops the monitor (review Z71).  The release
 * looks that the number holds the userfaultfd, then rings the doorbell, whose
 * madvise() waits for the monitor to read the event; but a monitor woken
 * after the number changed looks it up again and finds an idle file, and one
 * between its poll() and its read() reads the file now there.  Either way the
 * release used to wait for good.  It must return, in a bounded time.
 */
static atomic_int g_dup2_go, g_dup2_entered, g_dup2_released;
static int g_dup2_ufd, g_dup2_app, g_dup2_spins;

/* The read hook: holds the monitor between its poll() and its read(). */
static void hold_read_until_released(void)
{
	sva_test_track_read_hook = NULL;
	atomic_store(&g_dup2_entered, 1);
	while (!atomic_load(&g_dup2_released))
		usleep(1000);
}

static void *dup2_after_release_started(void *arg)
{
	(void)arg;
	usleep(300000); /* the release rings the doorbell meanwhile */
	dup2(g_dup2_app, g_dup2_ufd);
	atomic_store(&g_dup2_released, 1);
	return NULL;
}

static int dup2_read_child(int out)
{
	int got[2] = { -9, -9 };
	struct sva_ctx *ctx;
	struct sva_mm *mm;
	unsigned char *a, *b;
	pthread_t c, s;

	alarm(20); /* the old release: killed here */
	if (sva_ctx_new(NULL, &ctx) || sva_mm_new(ctx, NULL, &mm))
		_exit(3);
	a = ktest_map_at(VA, 4 * PG, PROT_READ | PROT_WRITE);
	b = ktest_map_at(VA + 16 * PG, 4 * PG, PROT_READ | PROT_WRITE);
	if (sva_mm_prefault(mm, a, 4 * PG) || sva_mm_prefault(mm, b, 4 * PG))
		_exit(4);
	g_dup2_ufd = find_uffd();
	g_dup2_app = eventfd(0, EFD_CLOEXEC); /* blocking, as an application's may be */
	if (g_dup2_ufd < 0 || g_dup2_app < 0)
		_exit(5);
	sva_test_track_read_hook = hold_read_until_released;
	if (pthread_create(&c, NULL, unmap_thread, b))
		_exit(6);
	while (!atomic_load(&g_dup2_entered))
		usleep(1000);
	if (pthread_create(&s, NULL, dup2_after_release_started, NULL))
		_exit(6);
	sva_mm_free(mm);
	got[0] = 1; /* the release returned */
	pthread_join(s, NULL);
	pthread_join(c, NULL);
	got[1] = munmap(a, 4 * PG) == 0;
	if (write(out, got, sizeof(got)) != sizeof(got))
		_exit(7);
	_exit(0);
}

static void *dup2_soon(void *arg)
{
	(void)arg;
	while (!atomic_load(&g_dup2_go))
		;
	for (volatile int i = 0; i < g_dup2_spins; i++)
		;
	dup2(g_dup2_app, g_dup2_ufd);
	return NULL;
}

/* Rounds at increasing delays: the number given to an idle eventfd about as
 * the release rings the doorbell, with the monitor asleep in poll(). */
#define DUP2_ROUNDS 60
static int dup2_poll_child(int out)
{
	int got[1] = { 0 };
	struct sva_ctx *ctx;

	alarm(60); /* the old release: killed here, in one round or another */
	if (sva_ctx_new(NULL, &ctx))
		_exit(3);
	g_dup2_app = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	for (int round = 0; round < DUP2_ROUNDS; round++) {
		struct sva_mm *mm;
		unsigned char *a;
		pthread_t s;

		if (sva_mm_new(ctx, NULL, &mm))
			_exit(4);
		a = ktest_map_at(VA, 4 * PG, PROT_READ | PROT_WRITE);
		if (sva_mm_prefault(mm, a, 4 * PG))
			_exit(4);
		g_dup2_ufd = find_uffd();
		if (g_dup2_ufd < 0 || g_dup2_app < 0)
			_exit(5);
		g_dup2_spins = round * 2000;
		atomic_store(&g_dup2_go, 0);
		if (pthread_create(&s, NULL, dup2_soon, NULL))
			_exit(6);
		usleep(5000);
		atomic_store(&g_dup2_go, 1);
		sva_mm_free(mm);
		pthread_join(s, NULL);
		munmap(a, 4 * PG);
		close(g_dup2_ufd); /* the application's eventfd now, or libsva's closed userfaultfd's number */
		got[0]++;
	}
	sva_ctx_free(ctx);
	if (write(out, got, sizeof(got)) != sizeof(got))
		_exit(7);
	_exit(0);
}

static void dup2_stop_checks(void)
{
	int got[2] = { -9, -9 };

	child_ran("KTEST_DUP2_READ", got, sizeof(got), "uffd number given to a blocking eventfd while the release wakes the monitor");
	ok(got[0] == 1, "  the release returns (it used to wait for good)");
	ok(got[1] == 1, "  and a munmap of memory registered before returns");
	got[0] = -9;
#ifdef KTEST_TSAN
	/* This one races libsva's monitor for its descriptor number on purpose
	 * (dup2() from another thread while the monitor polls it), which
	 * ThreadSanitizer rightly reports as a race on a file descriptor. */
	skip(2, "ThreadSanitizer reports the descriptor race this check makes on purpose");
	return;
#endif
	child_ran("KTEST_DUP2_POLL", got, sizeof(int), "uffd number given to an idle eventfd as the release rings the doorbell");
	is_int(got[0], DUP2_ROUNDS, "  every release returned (%d rounds)", DUP2_ROUNDS);
}

/*
 * The "abandon" a registration tells a monitor whose userfaultfd number it
 * found another file's is that monitor's, not the one a release let go and
 * which runs on (review Z73; stopfd_gen_child() is the same for the eventfd's
 * number).  Monitor 1 is let go with both numbers given away and sleeps on
 * the application's eventfd (idle) at its userfaultfd's number.  Monitor 2 is
 * held between its poll() and its read() (the read hook) while its number is
 * given away too and a prefault's registration finds it so: the abandon is
 * for monitor 2.  Then idle is written: monitor 1 wakes first.  It used to
 * take the abandon as its own (one flag for every monitor) and end; monitor 2,
 * released, found its eventfd ready, no abandon and no stop, took the
 * eventfd's number for another file's, left it out and slept on the other
 * file for good: its release let it go at once, and when that file became
 * readable, it ended a later monitor's tracking.
 */
static atomic_int g_abandon_entered, g_abandon_released;

static void hold_read_abandon(void)
{
	sva_test_track_read_hook = NULL;
	atomic_store(&g_abandon_entered, 1);
	while (!atomic_load(&g_abandon_released))
		usleep(1000);
}

static void *discard_thread(void *arg)
{
	madvise(arg, 4 * PG, MADV_DONTNEED);
	return NULL;
}

static int abandon_gen_child(int out)
{
	int got[4] = { -9, -9, -9, -9 };
	struct sva_ctx *ctx;
	struct sva_mm *mm, *next, *third;
	unsigned char *a, *b, *c, *d;
	uint64_t one = 1;
	pthread_t t;
	int ufd, idle, idle2, nul = open("/dev/null", O_RDWR | O_CLOEXEC);

	alarm(30);
	if (nul < 0 || sva_ctx_new(NULL, &ctx) || sva_mm_new(ctx, NULL, &mm))
		_exit(3);
	a = ktest_map_at(VA, 4 * PG, PROT_READ | PROT_WRITE);
	if (sva_mm_prefault(mm, a, 4 * PG))
		_exit(4);
	idle = give_numbers_away(nul);
	idle2 = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (idle < 0 || idle2 < 0)
		_exit(5);
	sva_mm_free(mm); /* monitor 1 is let go */
	if (sva_mm_new(ctx, NULL, &next))
		_exit(6);
	b = ktest_map_at(VA + 16 * PG, 4 * PG, PROT_READ | PROT_WRITE);
	if (sva_mm_prefault(next, b, 4 * PG))
		_exit(7);
	munmap(a, 4 * PG); /* monitor 1 wakes, leaves /dev/null out, sleeps on idle */
	usleep(200000);
	ufd = find_uffd();
	sva_test_track_read_hook = hold_read_abandon;
	if (ufd < 0 || pthread_create(&t, NULL, discard_thread, b))
		_exit(8);
	while (!atomic_load(&g_abandon_entered))
		usleep(1000);
	if (dup2(idle2, ufd) != ufd) /* monitor 2's number given away */
		_exit(8);
	pthread_join(t, NULL);
	c = ktest_map_at(VA + 32 * PG, 4 * PG, PROT_READ | PROT_WRITE);
	sva_mm_prefault(next, c, 4 * PG); /* its registration finds idle2: abandon */
	if (write(idle, &one, sizeof(one)) != sizeof(one)) /* monitor 1 wakes */
		_exit(9);
	usleep(300000);
	got[0] = threads_named(KTEST_MONITOR_THREAD, NULL); /* monitor 2, held */
	atomic_store(&g_abandon_released, 1);
	KTEST_WAIT_WHILE(threads_named(KTEST_MONITOR_THREAD, NULL) > 0, 2000);
	got[1] = threads_named(KTEST_MONITOR_THREAD, NULL);
	sva_mm_free(next);
	got[2] = threads_named(KTEST_MONITOR_THREAD, NULL);
	if (sva_mm_new(ctx, NULL, &third))
		_exit(10);
	d = ktest_map_at(VA + 48 * PG, 4 * PG, PROT_READ | PROT_WRITE);
	if (sva_mm_prefault(third, d, 4 * PG))
		_exit(11);
	if (write(idle2, &one, sizeof(one)) != sizeof(one))
		_exit(12);
	usleep(300000);
	got[3] = sva_mm_fence(third);
	sva_mm_free(third);
	sva_ctx_free(ctx);
	if (write(out, got, sizeof(got)) != sizeof(got))
		_exit(13);
	_exit(0);
}

static void abandon_gen_checks(void)
{
	int got[4] = { -9, -9, -9, -9 };

	child_ran("KTEST_ABANDON_GEN", got, sizeof(got), "a registration's abandon is the running monitor's, not a let-go one's");
	is_int(got[0], 1, "  the let-go monitor, woken, ends by itself (the held one is left)");
	is_int(got[1], 0, "  the running monitor, released, takes its abandon and ends");
	is_int(got[2], 0, "  no monitor is left after its address space's release");
	is_int(got[3], 0, "  a later monitor's tracking is not ended by the application's file (fence: 0)");
}

/*
 * A monitor a release let go (both its numbers given away) ends when the
 * application's file at its userfaultfd's number becomes readable: it reads
 * that file, finds no userfaultfd there, and stops.  The tracking that ends
 * is its own, long released; it used to set the error every monitor shares,
 * and the running monitor's address spaces lost their tracking, everything
 * visible withdrawn and their fences -EIO (review Z73).
 */
static int lost_gen_child(int out)
{
	int got[3] = { -9, -9, -9 };
	struct sva_mm_stats st = { .size = sizeof(st) };
	struct sva_ctx *ctx;
	struct sva_mm *mm, *next;
	unsigned char *a, *b;
	uint64_t one = 1;
	int idle, nul = open("/dev/null", O_RDWR | O_CLOEXEC);

	alarm(30);
	if (nul < 0 || sva_ctx_new(NULL, &ctx) || sva_mm_new(ctx, NULL, &mm))
		_exit(3);
	a = ktest_map_at(VA, 4 * PG, PROT_READ | PROT_WRITE);
	if (sva_mm_prefault(mm, a, 4 * PG))
		_exit(4);
	idle = give_numbers_away(nul);
	if (idle < 0)
		_exit(5);
	sva_mm_free(mm); /* let go */
	if (sva_mm_new(ctx, NULL, &next))
		_exit(6);
	b = ktest_map_at(VA + 16 * PG, 4 * PG, PROT_READ | PROT_WRITE);
	if (sva_mm_prefault(next, b, 4 * PG))
		_exit(7);
	munmap(a, 4 * PG); /* the let-go monitor wakes, leaves /dev/null out, sleeps on idle */
	usleep(200000);
	got[0] = sva_mm_fence(next);
	if (write(idle, &one, sizeof(one)) != sizeof(one))
		_exit(8);
	KTEST_WAIT_WHILE(threads_named(KTEST_MONITOR_THREAD, NULL) > 1, 2000);
	got[1] = sva_mm_fence(next);
	got[2] = sva_mm_stats(next, &st) == 0 ? st.untracked_reason : -99;
	sva_mm_free(next);
	sva_ctx_free(ctx);
	if (write(out, got, sizeof(got)) != sizeof(got))
		_exit(9);
	_exit(0);
}

static void lost_gen_checks(void)
{
	int got[3] = { -9, -9, -9 };

	child_ran("KTEST_LOST_GEN", got, sizeof(got), "a let-go monitor that ends later");
	is_int(got[0], 0, "  the running monitor's address space fences (0) before");
	is_int(got[1], 0, "  and after the let-go monitor ended (it used to end this one's tracking: -EIO)");
	is_int(got[2], 0, "  and is still tracked (untracked_reason 0)");
}


/*
 * A child made without the atfork handlers (a raw clone(), as _Fork() makes)
 * keeps its copy of the userfaultfd, so the file outlives the monitor's
 * close.  The release of the last tracked address space must still return at
 * once: its monitor left the doorbell's event unread (it looked at the stop
 * before reading what woke it), the ringer's madvise() waited for the child,
 * and the release waited 2 s for the ringer before leaving it blocked (review
 * Z73, Z79).  libsva(7) says only the parent's munmap() and madvise() of
 * memory that was registered wait for such a child.
 */
static int clone_release_child(int out)
{
	int got[3] = { -9, -9, -9 }, pfd[2], threads;
	struct sva_ctx *ctx;
	struct sva_mm *mm;
	unsigned char *a;
	uint64_t t0;
	pid_t pid;

	alarm(30);
	if (pipe(pfd) || sva_ctx_new(NULL, &ctx) || sva_mm_new(ctx, NULL, &mm))
		_exit(3);
	a = ktest_map_at(VA, 4 * PG, PROT_READ | PROT_WRITE);
	if (sva_mm_prefault(mm, a, 4 * PG))
		_exit(4);
	pid = (pid_t)syscall(SYS_clone, SIGCHLD, 0, 0, 0, 0);
	if (pid == 0) { /* no handler ran: raw system calls only */
		char c;

		syscall(SYS_close, pfd[1]);
		syscall(SYS_read, pfd[0], &c, 1);
		syscall(SYS_exit_group, 0);
	}
	close(pfd[0]);
	if (pid < 0)
		_exit(5);
	threads = ktest_count_tasks(); /* the monitor among them (ThreadSanitizer has one of its own) */
	t0 = ktest_now_ns();
	sva_mm_free(mm);
	got[0] = (int)((ktest_now_ns() - t0) / 1000000);
	/* A thread joined may stay listed in /proc/self/task a moment longer
	 * (names_at_return): up to 2 s for it to go, while the child still
	 * holds the userfaultfd, so that a ringer blocked until the child
	 * exits is still counted. */
	KTEST_WAIT_WHILE(threads - ktest_count_tasks() < 1, 2000);
	got[1] = threads - ktest_count_tasks();
	close(pfd[1]); /* the child exits */
	waitpid(pid, NULL, 0);
	got[2] = munmap(a, 4 * PG) == 0;
	sva_ctx_free(ctx);
	if (write(out, got, sizeof(got)) != sizeof(got))
		_exit(6);
	_exit(0);
}

static void clone_release_checks(void)
{
	int got[3] = { -9, -9, -9 };

	child_ran("KTEST_CLONE_RELEASE", got, sizeof(got), "a clone() child without the atfork handlers holds the userfaultfd");
	ok(got[0] >= 0 && got[0] < 1000, "  the release of the last tracked address space returns at once (%d ms, "
	   "it used to take 2 s)", got[0]);
	is_int(got[1], 1, "  and leaves no thread behind: one less, the monitor (the ringer used to stay, blocked until the child exited)");
	is_int(got[2], 1, "  a munmap of the memory after the child exited returns");
}

/*
 * A monitor a release let go, woken by the application's blocking pipe at its
 * userfaultfd's number (the application wrote one event's worth of bytes),
 * reads them and blocks in its next read, halfway through its drain.  The
 * sequence fences wait on is shared by every monitor: that drain left it odd
 * ("events read, not applied yet") for good, and the running monitor's fence
 * waited for it to move, for good; its own drains then made it even while
 * they ran (review Z78).  A fence in a thread of its own, given 3 s.
 */
static struct sva_mm *seq_gen_mm;
static atomic_int seq_gen_fence = 999;

static void *seq_gen_fencer(void *arg)
{
	(void)arg;
	atomic_store(&seq_gen_fence, sva_mm_fence(seq_gen_mm));
	return NULL;
}

static int fence_within(struct sva_mm *mm, int ms)
{
	pthread_t t;

	seq_gen_mm = mm;
	atomic_store(&seq_gen_fence, 999);
	if (pthread_create(&t, NULL, seq_gen_fencer, NULL))
		return -998;
	/* By the clock, not by counting sleeps: on a loaded host each usleep()
	 * overshoots, and three stuck fences counted out 3000 sleeps each ran
	 * past the child's alarm(30), which hid their 999 behind a SIGALRM. */
	KTEST_WAIT_WHILE(atomic_load(&seq_gen_fence) == 999, ms);
	if (atomic_load(&seq_gen_fence) == 999) {
		pthread_detach(t);
		return 999; /* still waiting */
	}
	pthread_join(t, NULL);
	return atomic_load(&seq_gen_fence);
}

/*
 * In a child: a monitor let go (its userfaultfd's number given to a pipe, its
 * eventfd's to /dev/null), a new address space `next` with 4 pages visible at
 * *b, and the let-go monitor woken by the first one's munmap (it ends there
 * now; before review Z78's fix it left /dev/null out and went on reading the
 * pipe, whose write end is *wr).  Exits the child with 3-7 where a step fails.
 */
static struct sva_mm *letgo_setup(unsigned char **b, int *wr)
{
	struct sva_ctx *ctx;
	struct sva_mm *mm, *next;
	unsigned char *a;
	int ufd, efd, p[2], nul = open("/dev/null", O_RDWR | O_CLOEXEC);

	alarm(30);
	if (nul < 0 || pipe(p) || sva_ctx_new(NULL, &ctx) || sva_mm_new(ctx, NULL, &mm))
		_exit(3);
	a = ktest_map_at(VA, 4 * PG, PROT_READ | PROT_WRITE);
	if (sva_mm_prefault(mm, a, 4 * PG))
		_exit(4);
	efd = ktest_anon_fd("anon_inode:[eventfd]");
	ufd = find_uffd();
	if (efd < 0 || ufd < 0 || dup2(nul, efd) != efd || dup2(p[0], ufd) != ufd)
		_exit(5);
	sva_mm_free(mm); /* let go */
	if (sva_mm_new(ctx, NULL, &next))
		_exit(6);
	*b = ktest_map_at(VA + 16 * PG, 4 * PG, PROT_READ | PROT_WRITE);
	if (sva_mm_prefault(next, *b, 4 * PG))
		_exit(7);
	munmap(a, 4 * PG);
	/* Up to 2 s for the let-go monitor to wake; it ends there now, and
	 * only the running one is left.  The wait ends as soon as it has: the
	 * bound is for a loaded host, where 200 ms was seen to be too short
	 * for another let-go monitor (stopfd_gen_child()). */
	KTEST_WAIT_WHILE(threads_named(KTEST_MONITOR_THREAD, NULL) > 1, 2000);
	*wr = p[1];
	return next;
}

static int seq_gen_child(int out)
{
	int got[3] = { -9, -9, -9 }, wr;
	unsigned char *b, rec[sizeof(struct kabi_uffd_msg)] = { 0 };
	struct sva_mm *next = letgo_setup(&b, &wr);

	got[0] = fence_within(next, 3000);
	if (write(wr, rec, sizeof(rec)) != (ssize_t)sizeof(rec))
		_exit(8);
	/* A let-go monitor still reading would take the record and block
	 * again: up to 3 s for it (a loaded host), unless none is left to read
	 * (the old one ran on). */
	KTEST_WAIT_WHILE(threads_named(KTEST_MONITOR_THREAD, NULL) > 1, 3000);
	got[1] = fence_within(next, 3000);
	munmap(b, PG); /* the running monitor drains */
	got[2] = fence_within(next, 3000);
	if (write(out, got, sizeof(got)) != sizeof(got))
		_exit(9);
	_exit(0); /* the let-go monitor still reads the pipe: no teardown */
}

/*
 * A let-go monitor (its userfaultfd's number given to the application's pipe,
 * its eventfd's to /dev/null) must not take the application's bytes for
 * events of the running monitor's address spaces: a 32-byte record in the
 * pipe shaped as an UNMAP of another address space's prefaulted range used to
 * withdraw that range (review Z78, "Not fixed").  got: bytes visible after the
 * record, the fence, and whether the running monitor still withdraws.
 */
static uint64_t visible_bytes(struct sva_mm *mm)
{
	struct sva_mm_stats st = { .size = sizeof(st) };

	return sva_mm_stats(mm, &st) ? UINT64_MAX : st.bytes_visible;
}

static int letgo_apply_child(int out)
{
	int got[3] = { -9, -9, -9 }, wr;
	unsigned char *b;
	struct kabi_uffd_msg msg = { .event = KABI_UFFD_EVENT_UNMAP };
	struct sva_mm *next = letgo_setup(&b, &wr);

	msg.arg.remove.start = (uintptr_t)b;
	msg.arg.remove.end = (uintptr_t)b + 4 * PG;
	if (write(wr, &msg, sizeof(msg)) != (ssize_t)sizeof(msg))
		_exit(8);
	/* Up to 3 s (a loaded host) for a let-go monitor that still reads to
	 * apply it, unless none is left. */
	KTEST_WAIT_WHILE(threads_named(KTEST_MONITOR_THREAD, NULL) > 1, 3000);
	got[0] = (int)(visible_bytes(next) / PG);
	got[1] = fence_within(next, 3000);
	munmap(b, 4 * PG); /* the running monitor's own event */
	got[2] = fence_within(next, 3000) == 0 && visible_bytes(next) == 0;
	if (write(out, got, sizeof(got)) != sizeof(got))
		_exit(9);
	_exit(0);
}

static void letgo_apply_checks(void)
{
	int got[3] = { -9, -9, -9 };

	child_ran("KTEST_LETGO_APPLY", got, sizeof(got), "a let-go monitor and the application's bytes at its number");
	is_int(got[0], 4, "  a record shaped as an UNMAP, in the pipe at its number, withdraws nothing (pages visible)");
	is_int(got[1], 0, "  the running monitor's fence returns");
	is_int(got[2], 1, "  and the running monitor still withdraws on its own events");
}

static void seq_gen_checks(void)
{
	int got[3] = { -9, -9, -9 };

	child_ran("KTEST_SEQ_GEN", got, sizeof(got), "a let-go monitor blocked halfway through a drain");
	is_int(got[0], 0, "  the running monitor's fence returns (0) before");
	is_int(got[1], 0, "  and after the let-go monitor began its drain (999: still waiting after 3 s)");
	is_int(got[2], 0, "  and after an event of the running monitor's");
}

/*
 * A prefault that reads the mappings, then finds the page unmapped by another
 * thread before it registers the mapping (the hook plays that thread): the
 * registration of the whole mapping succeeds around the hole, and no event
 * was sent for the unmap.  The prefault must fail, leave nothing in the
 * address space (no device bound: the kernel pins nothing and would not
 * notice), and memory mapped there later must be tracked.
 */
extern void (*sva_test_register_hook)(uint64_t start, uint64_t end); /* mm_map.c, libsva-test only */
static uint64_t g_hole;
static void unmap_hole(uint64_t start, uint64_t end)
{
	(void)start;
	(void)end;
	sva_test_register_hook = NULL;
	munmap((void *)(uintptr_t)g_hole, PG);
}

static void register_hole_checks(void)
{
	struct sva_mm *mm;
	struct sva_bond *bond = NULL;
	unsigned char *p = fill_at(VA, 4 * PG, 0x3c), b[PG];
	int mfd, ret;

	if (sva_mm_new(g_ctx, NULL, &mm))
		ktest_bail("sva_mm_new");
	g_hole = VA;
	sva_test_register_hook = unmap_hole;
	ret = sva_mm_prefault(mm, p, PG);
	sva_test_register_hook = NULL;
	is_int(ret, -EFAULT, "prefault of a page another thread unmaps before the registration: -EFAULT");
	is_int(ktest_access_rw(g_ctx, mm->ioas_id, VA, b, PG, 0), -ENOENT, "  nothing of it in the address space");
	ret = sva_bind(g_dev, mm, NULL, &bond);
	is_int(ret, 0, "  the address space's first bind works");
	/* new memory there (a memfd page, also mapped elsewhere), made visible, unmapped */
	mfd = memfd_create("ktest", MFD_CLOEXEC);
	if (mfd < 0 || ftruncate(mfd, PG))
		ktest_bail("memfd");
	unsigned char *y = mmap(NULL, PG, PROT_READ | PROT_WRITE, MAP_SHARED, mfd, 0);
	unsigned char *q = mmap(p, PG, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED, mfd, 0);
	if (y == MAP_FAILED || q != p)
		ktest_bail("memfd maps");
	memset(q, 0xc7, PG);
	is_int(sva_mm_prefault(mm, q, PG), 0, "  new memory mapped there is made visible");
	munmap(q, PG);
	is_int(sva_mm_fence(mm), 0, "  and munmapped");
	is_int(ktest_access_rw(g_ctx, mm->ioas_id, VA, b, PG, 0), -ENOENT,
	       "  nothing is left at the address after munmap and a fence");
	{
		struct kabi_iommu_test_cmd c = { .op = KABI_TEST_OP_MD_CHECK_MAP, .id = bond ? bond->hwpt->id : 0 };

		c.check_map.iova = VA;
		c.check_map.length = PG;
		c.check_map.uptr = (uintptr_t)y;
		ok(!bond || ktest_cmd(g_ctx, &c) != 0, "  the mock's page table no longer maps it to the old page");
	}
	if (bond)
		sva_unbind(bond);
	sva_mm_free(mm);
	munmap(y, PG);
	close(mfd);
	munmap(p, 4 * PG);
}

/*
 * A registration from a stale read of the mappings: the mapping a prefault
 * (or a fault) read was unmapped and a larger one mapped in its place before
 * the registration (the hook plays the other thread).  Registering the old
 * bounds registered part of the new mapping and split it for good: the
 * application's mremap() of it then failed with EFAULT, and on kernels that
 * move several mappings in one call it moved the first part only (review Z66:
 * a stress of device faults against munmap + mmap + mremap split one in about
 * 600 rounds).  The mapping there now is registered whole.
 */
static int mappings_in(uint64_t start, uint64_t end);
static void grow_hole(uint64_t start, uint64_t end)
{
	(void)start;
	(void)end;
	sva_test_register_hook = NULL;
	munmap((void *)(uintptr_t)VA, 8 * PG);
	fill_at(VA, 16 * PG, 0x3d);
}

static void register_stale_checks(void)
{
	struct sva_mm *mm;
	unsigned char *p = fill_at(VA, 8 * PG, 0x3c), *q;
	int n;

	if (sva_mm_new(g_ctx, NULL, &mm))
		ktest_bail("sva_mm_new");
	sva_test_register_hook = grow_hole;
	is_int(sva_mm_prefault(mm, p + 2 * PG, PG), 0,
	       "prefault of a page whose mapping another thread replaces by a larger one before the registration");
	sva_test_register_hook = NULL;
	n = mappings_in(VA, VA + 16 * PG);
	is_int(n, 1, "  the new mapping is registered whole, not split (%d mappings)", n);
	sva_mm_invalidate(mm, p, 16 * PG);
	q = mremap(p, 16 * PG, 16 * PG, MREMAP_MAYMOVE | MREMAP_FIXED, (void *)(uintptr_t)VA2);
	ok(q == (void *)(uintptr_t)VA2, "  and mremap() moves it whole (%s)", q == MAP_FAILED ? strerror(errno) : "ok");
	munmap(p, 16 * PG);
	munmap((void *)(uintptr_t)VA2, 16 * PG);
	sva_mm_free(mm);
}

static void fork_checks(struct sva_mm *mm)
{
	unsigned char *p = fill_at(VA, 4 * PG, 0xf1), *q;
	int status = 0;
	pid_t pid;

	sva_mm_prefault(mm, p, 4 * PG);
	pid = fork();
	if (pid == 0) {
		int bad = 0;

		alarm(10); /* a child that hung in munmap would fail here */
		if (munmap(p, 2 * PG))
			bad |= 1;
		p[3 * PG] = 0xc3; /* the child's copy of a page the parent's devices see */
		if (sva_mm_fence(mm) != -ECHILD)
			bad |= 2;
		if (sva_mm_prefault(mm, p + 2 * PG, PG) != -ECHILD)
			bad |= 4;
		{
			struct sva_mm_stats s = { .size = sizeof(s) };

			if (sva_mm_stats(mm, &s) || (s.flags & SVA_MM_STAT_TRACKED))
				bad |= 8;
		}
		_exit(bad);
	}
	waitpid(pid, &status, 0);
	ok(WIFEXITED(status), "fork: the child's munmap of tracked memory does not hang");
	is_int(WEXITSTATUS(status) & 1, 0, "fork: munmap in the child");
	is_int(WEXITSTATUS(status) & 6, 0, "fork: sva_mm_fence and sva_mm_prefault in the child: -ECHILD");
	is_int(WEXITSTATUS(status) & 8, 0, "fork: sva_mm_stats in the child does not say tracked (libsva(7))");
	is_int(seen(mm, VA), 0xf1, "fork: the child's munmap leaves the parent's view alone");
	/* sva_mm_prefault(3), NOTES: "fork(2) does not change what the parent and
	 * its devices see: the kernel copies pinned anonymous pages for the child
	 * at the fork, so the parent and its devices keep sharing the originals". */
	is_int(seen(mm, VA + 3 * PG), 0xf1, "fork: the child's write went to its own copy, not to what the device sees");
	p[3 * PG] = 0xa7;
	is_int(seen(mm, VA + 3 * PG), 0xa7, "fork: the parent's write after the fork reaches the device: they share the page");
	is_int(dev_write(mm, VA + 3 * PG + 1, 0x5e), 0, "fork: the device writes the same page");
	is_int(p[3 * PG + 1], 0x5e, "  and the parent reads what the device wrote");
	munmap(p, 4 * PG);
	sva_mm_fence(mm);
	is_int(seen(mm, VA), -ENOENT, "fork: the parent's own munmap is still tracked");
	q = fill_at(VA, PG, 0xf2);
	munmap(q, PG);
}

/*
 * fork() copies pinned anonymous pages for the child; for private hugetlb
 * memory the copies come from the huge page pool, so with every free huge
 * page pinned fork() fails with ENOMEM (review Z66; sva_mm_prefault(3),
 * NOTES), and MADV_DONTFORK is the remedy it names.  Skipped without free
 * huge pages (make check-vm reserves some).
 */
static void hugetlb_fork_checks(struct sva_mm *mm)
{
	const size_t H = 2u << 20;
	long n = free_hugetlb();
	unsigned char *p;
	pid_t pid;
	int st = 0;

	if (n < 1 || n > 64) {
		skip(4, "no free 2 MiB huge pages (or too many to pin)");
		return;
	}
	p = mmap((void *)(uintptr_t)VA, (size_t)n * H, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS | MAP_HUGETLB | MAP_FIXED_NOREPLACE, -1, 0);
	if (p == MAP_FAILED) {
		skip(4, "MAP_HUGETLB refused");
		return;
	}
	memset(p, 0xf5, (size_t)n * H);
	is_int(sva_mm_prefault(mm, p, (size_t)n * H), 0, "private hugetlb: every free huge page (%ld) prefaulted", n);
	pid = fork();
	if (pid == 0)
		_exit(0);
	if (pid > 0)
		waitpid(pid, &st, 0);
	is_int(pid < 0 ? -errno : 0, -ENOMEM, "  fork() fails with ENOMEM: no free huge page to copy them into (documented)");
	is_int(seen(mm, VA + PG), 0xf5, "  the parent's devices still see its pages");
	madvise(p, (size_t)n * H, MADV_DONTFORK);
	pid = fork();
	if (pid == 0)
		_exit(0);
	if (pid > 0)
		waitpid(pid, &st, 0);
	ok(pid > 0, "  with MADV_DONTFORK on the range, fork() works (%s)", pid > 0 ? "yes" : strerror(errno));
	munmap(p, (size_t)n * H);
	sva_mm_fence(mm);
}

static void untracked_checks(void)
{
	struct sva_mm_opts o = { .size = sizeof(o), .flags = SVA_MM_UNTRACKED };
	struct sva_mm *mm;
	struct sva_mm_stats s = { .size = sizeof(s) };
	unsigned char *p;

	is_int(sva_mm_new(g_ctx, &o, &mm), 0, "SVA_MM_UNTRACKED address space");
	p = fill_at(VA, 2 * PG, 0x71);
	is_int(sva_mm_prefault(mm, p, 2 * PG), 0, "untracked: prefault");
	munmap(p, 2 * PG);
	is_int(sva_mm_fence(mm), 0, "untracked: sva_mm_fence returns 0");
	sva_mm_stats(mm, &s);
	ok(!(s.flags & SVA_MM_STAT_TRACKED) && s.untracked_reason == -ENOTCONN && s.events == 0,
	   "untracked: stats say so (flags %#x, reason %d, %llu events)", s.flags, s.untracked_reason,
	   (unsigned long long)s.events);
	/* No device: the IOAS pins nothing, so the access path reads through the (gone) VA; what
	 * matters is that the mapping is still in the IOAS (anything but -ENOENT). */
	ok(seen(mm, VA) != -ENOENT, "untracked: munmap does not reach the IOAS (as documented)");
	is_int(sva_mm_invalidate(mm, (void *)(uintptr_t)VA, 2 * PG), 2 * PG, "untracked: sva_mm_invalidate is the remedy");

	/* With a device: what this test calls stale is told apart from the new
	 * memory at the same VA (which the access path alone would read). */
	struct sva_bind_opts bo = { .size = sizeof(bo), .flags = SVA_BIND_PINNED };
	struct sva_bond *bond;

	if (sva_bind(g_dev, mm, &bo, &bond))
		ktest_bail("untracked: bind failed");
	p = fill_at(VA, 2 * PG, 0x73);
	sva_mm_prefault(mm, p, 2 * PG);
	is_int(seen(mm, VA), 0x73, "untracked, bound: the device sees the page");
	munmap(p, 2 * PG);
	p = fill_at(VA, 2 * PG, 0x74);
	is_int(seen(mm, VA), -ESTALE, "untracked, bound: after munmap and a new mapping, the device still has the old page");
	is_int(dev_write(mm, VA, 0x75), -ESTALE, "untracked, bound: and would write to it, not to the process's");
	sva_mm_invalidate(mm, p, 2 * PG);
	is_int(seen(mm, VA), -ENOENT, "untracked, bound: gone after sva_mm_invalidate");
	sva_unbind(bond);
	munmap(p, 2 * PG);
	sva_mm_free(mm);
}

/* ------------------------------------------- prefault of part of a mapping */

/* How many mappings of the process overlap [start, end). */
static int mappings_in(uint64_t start, uint64_t end)
{
	FILE *f = fopen("/proc/self/maps", "re");
	char line[512];
	int n = 0;

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f)) {
		unsigned long long s0, e0;

		if (sscanf(line, "%llx-%llx", &s0, &e0) == 2 && s0 < end && e0 > start)
			n++;
	}
	fclose(f);
	return n;
}

/*
 * Registration with the userfaultfd takes the whole mapping: registering only
 * the part a prefault asked for split the process's mapping, and then mremap()
 * of the whole failed (EFAULT), one prefault made several chunks, and a run of
 * one-page prefaults made a later prefault of the whole fail with -E2BIG.
 */
static void prefault_split_checks(void)
{
	struct sva_mm *mm, *mm2;
	unsigned char *p = fill_at(VA, 8 * PG, 0xd1), *q;
	int ret;

	if (sva_mm_new(g_ctx, NULL, &mm) || sva_mm_new(g_ctx, NULL, &mm2))
		ktest_bail("sva_mm_new failed");
	is_int(sva_mm_prefault(mm, p + 2 * PG, 2 * PG), 0, "prefault pages 2-3 of an 8-page mapping");
	is_int(mappings_in(VA, VA + 8 * PG), 1, "the mapping is still one mapping");
	sva_mm_invalidate(mm, p, 8 * PG);
	q = mremap(p, 8 * PG, 16 * PG, MREMAP_MAYMOVE);
	ok(q != MAP_FAILED, "mremap of the whole mapping works (%s)", q == MAP_FAILED ? strerror(errno) : "ok");
	munmap(q == MAP_FAILED ? p : q, 16 * PG);

	p = fill_at(VA, 8 * PG, 0xd1);
	sva_mm_prefault(mm, p + 2 * PG, 2 * PG);
	is_int(sva_mm_prefault(mm2, p, 8 * PG), 0, "another address space prefaults all 8 pages in one call");
	is_int(sva_mm_invalidate(mm2, p, 1), 8 * PG, "that call made one chunk of 8 pages");
	sva_mm_invalidate(mm, p, 8 * PG);
	munmap(p, 8 * PG);

	p = fill_at(VA, 65 * PG, 0xd2);
	ret = 0;
	for (unsigned i = 1; i < 64 && !ret; i += 2)
		ret = sva_mm_prefault(mm, p + i * PG, PG);
	is_int(ret, 0, "32 one-page prefaults inside one mapping");
	is_int(mappings_in(VA, VA + 65 * PG), 1, "which stays one mapping");
	is_int(sva_mm_prefault(mm, p, 65 * PG), 0, "then a prefault of all 65 pages (was -E2BIG: 65 mappings)");
	is_int(seen(mm, VA + 64 * PG), 0xd2, "and the device sees its last page");
	sva_mm_free(mm2);
	sva_mm_free(mm);
	munmap(p, 65 * PG);
}

static void error_checks(void)
{
	struct sva_mm_opts o = { .size = sizeof(o), .flags = SVA_MM_UNTRACKED | SVA_MM_TRACK_STRICT };
	struct sva_mm_stats s = { .size = 4 };
	struct sva_mm *mm = NULL;

	is_int(sva_mm_new(g_ctx, &o, &mm), -EINVAL, "sva_mm_new: UNTRACKED with TRACK_STRICT: -EINVAL");
	o.flags = 1u << 20;
	is_int(sva_mm_new(g_ctx, &o, &mm), -EINVAL, "sva_mm_new: an unknown flag: -EINVAL");
	is_int(sva_mm_fence(NULL), -EINVAL, "sva_mm_fence(NULL): -EINVAL");
	sva_mm_new(g_ctx, NULL, &mm);
	is_int(sva_mm_stats(NULL, &s), -EINVAL, "sva_mm_stats(NULL mm): -EINVAL");
	is_int(sva_mm_stats(mm, NULL), -EINVAL, "sva_mm_stats(NULL stats): -EINVAL");
	is_int(sva_mm_stats(mm, &s), -EINVAL, "sva_mm_stats: a size too small: -EINVAL");
	sva_mm_free(mm);
}

/* When the last tracked address space goes, the userfaultfd closes: memory
 * that was registered can be unmapped with nobody left to read its event. */
static void last_mm_checks(void)
{
	struct sva_mm *mm;
	unsigned char *p = fill_at(VA, 2 * PG, 0x81);

	sva_mm_new(g_ctx, NULL, &mm);
	sva_mm_prefault(mm, p, 2 * PG);
	sva_mm_free(mm);
	alarm(10); /* a hang fails the test program (SIGALRM) instead of the whole VM run */
	is_int(munmap(p, 2 * PG), 0, "after the last tracked address space: munmap of once-tracked memory");
	alarm(0);
}

/*
 * The release of the last tracked address space asks, every 20 ms while the
 * monitor has not ended, whether the userfaultfd's number still holds that
 * file (fstat()); the ending monitor closes it.  Nothing ordered the two: a
 * look begun before the close could fstat() the number after it, another
 * file's by then, and ThreadSanitizer reported the close as racing the look
 * (once, on a slow VM, with a CHECK failure of its own describing the
 * descriptor it had not seen made).  The exit hook holds the monitor before
 * its close, so the release looks several times first.  Under ThreadSanitizer
 * the old code fails here (the report makes the program exit non-zero).
 */
extern void (*_Atomic sva_test_track_exit_hook)(void); /* track.c, libsva-test only */
static void hold_exit(void)
{
	usleep(200000);
}

static void stop_close_checks(void)
{
	struct sva_mm *mm;
	unsigned char *p = fill_at(VA, 2 * PG, 0x82);
	uint64_t t0;

	if (sva_mm_new(g_ctx, NULL, &mm) || sva_mm_prefault(mm, p, 2 * PG))
		ktest_bail("address space with prefaulted memory");
	sva_test_track_exit_hook = hold_exit;
	t0 = ktest_now_ns();
	alarm(20);
	sva_mm_free(mm); /* the last one: stops the monitor, which the hook holds */
	alarm(0);
	sva_test_track_exit_hook = NULL;
	ok(ktest_now_ns() - t0 >= 200000000ull, "the last release waited for the held monitor to end");
	/* Joined, it may still be listed for a moment: pthread_join() returns
	 * once the kernel clears the thread's tid, before the task is gone
	 * from /proc (seen once in a full run under TCG). */
	KTEST_WAIT_WHILE(threads_named(KTEST_MONITOR_THREAD, NULL) > 0, 100);
	is_int(threads_named(KTEST_MONITOR_THREAD, NULL), 0, "  the monitor is gone");
	alarm(10);
	is_int(munmap(p, 2 * PG), 0, "  munmap of the once-tracked memory returns");
	alarm(0);
}

/*
 * exit() while another thread prefaults an address space still tracked:
 * track.c's destructor stops the monitor, which closes its userfaultfd.  A
 * stop rung through the doorbell reaches the monitor as an event it applies
 * to every address space under its map_lock, and a monitor that fails
 * withdraws every address space under it: either waits for a registration
 * already under way.  A stop rung through the eventfd (the userfaultfd
 * refused the doorbell's registration: here the application has its own
 * userfaultfd on that page) takes no lock the registration holds.  The
 * registration hook holds the registration between its look at the number
 * and its ioctl until the monitor is gone (1 s at most), and the application
 * then puts a userfaultfd of its own at the number.  The ioctl used to go
 * there: the application's userfaultfd got libsva's mapping registered (its
 * events, its write-protect faults).
 */
extern void (*_Atomic sva_test_track_register_hook)(void); /* track.c, libsva-test only */
static struct sva_mm *g_rc_mm;
static pthread_t g_rc_thread;
static int g_rc_out = -1, g_rc_ufd = -1;
static atomic_int g_rc_entered, g_rc_taken, g_rc_done, g_rc_prefault = -9;

/* A userfaultfd of the application's, handshake done: its number, or -1. */
static int app_uffd(void)
{
	int ufd = (int)syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK | 1 /* UFFD_USER_MODE_ONLY */);
	struct kabi_uffdio_api api = { .api = KABI_UFFD_API };

	if (ufd >= 0 && ioctl(ufd, KABI_UFFDIO_API, &api)) {
		close(ufd);
		return -1;
	}
	return ufd;
}

/* The one-page mapping registered for write-protect (smaps "uw"): the
 * doorbell, while a monitor runs and the test has only larger ones; or 0. */
static uint64_t doorbell_page(void)
{
	FILE *f = fopen("/proc/self/smaps", "r");
	char line[512];
	unsigned long long lo = 0, hi = 0, found = 0;

	while (f && !found && fgets(line, sizeof(line), f)) {
		unsigned long long s, e;

		if (sscanf(line, "%llx-%llx ", &s, &e) == 2 && strchr(line, '-') < strchr(line, ' ')) {
			lo = s;
			hi = e;
		} else if (!strncmp(line, "VmFlags:", 8) && strstr(line, " uw") && hi - lo == PG) {
			found = lo;
		}
	}
	if (f)
		fclose(f);
	return found;
}

static void hold_register(void)
{
	int app;

	atomic_store(&sva_test_track_register_hook, NULL);
	atomic_store(&g_rc_entered, 1);
	/* Less than stop()'s 2 s grace: a monitor that waits for this is joined. */
	KTEST_WAIT_WHILE(threads_named(KTEST_MONITOR_THREAD, NULL) > 0, 1000);
	if (threads_named(KTEST_MONITOR_THREAD, NULL) > 0)
		return; /* the monitor waits for this registration: nothing to take */
	app = app_uffd();
	if (app >= 0 && (app == g_rc_ufd || dup2(app, g_rc_ufd) == g_rc_ufd))
		atomic_store(&g_rc_taken, 1);
	if (app >= 0 && app != g_rc_ufd)
		close(app);
}

static void *register_close_prefault(void *arg)
{
	atomic_store(&g_rc_prefault, sva_mm_prefault(g_rc_mm, arg, 4 * PG));
	atomic_store(&g_rc_done, 1);
	return NULL;
}

/* Whether any userfaultfd has [va, va + len) registered: 0 if a new one can
 * register it, -EBUSY if another has it. */
static int registered_elsewhere(uint64_t va, uint64_t len)
{
	struct kabi_uffdio_register reg = { .range = { va, len }, .mode = 1 /* MISSING */ };
	int ufd = app_uffd(), ret;

	if (ufd < 0)
		return -99;
	ret = ioctl(ufd, KABI_UFFDIO_REGISTER, &reg) ? -errno : 0;
	close(ufd);
	return ret;
}

/* After track.c's destructor (priority 200 runs before 150), which stopped
 * the monitor. */
__attribute__((destructor(150))) static void register_close_report(void)
{
	int got[3] = { -9, -9, -9 };

	if (g_rc_out < 0)
		return;
	KTEST_WAIT_WHILE(!atomic_load(&g_rc_done), 10000);
	if (atomic_load(&g_rc_done))
		pthread_join(g_rc_thread, NULL);
	KTEST_WAIT_WHILE(threads_named(KTEST_MONITOR_THREAD, NULL) > 0, 5000);
	got[0] = atomic_load(&g_rc_prefault);
	got[1] = atomic_load(&g_rc_taken);
	got[2] = registered_elsewhere(VA + 16 * PG, 4 * PG);
	if (write(g_rc_out, got, sizeof(got)) != sizeof(got))
		_exit(7);
	/* The exit goes on: a sanitizer's report still makes it non-zero. */
}

static int register_close_child(int out)
{
	struct sva_ctx_opts co = { .size = sizeof(co), .flags = SVA_CTX_NO_EXIT_TEARDOWN };
	struct kabi_uffdio_register reg = { .range = { 0, PG }, .mode = 1 /* MISSING */ };
	struct sva_ctx *ctx;
	struct sva_mm *first;
	unsigned char *a, *b;
	int app;

	alarm(30);
	if (sva_ctx_new(&co, &ctx) || sva_mm_new(ctx, NULL, &first))
		_exit(3);
	a = ktest_map_at(VA, 4 * PG, PROT_READ | PROT_WRITE);
	if (sva_mm_prefault(first, a, 4 * PG))
		_exit(4);
	reg.range.start = doorbell_page();
	sva_mm_free(first); /* the monitor stops; the doorbell page is kept */
	app = app_uffd();
	if (!reg.range.start || app < 0 || ioctl(app, KABI_UFFDIO_REGISTER, &reg))
		_exit(5);
	if (sva_mm_new(ctx, NULL, &g_rc_mm) || sva_mm_prefault(g_rc_mm, a, 4 * PG))
		_exit(6); /* a new monitor, whose doorbell the userfaultfd refused */
	g_rc_ufd = find_uffd(); /* the newest: libsva's, not app */
	b = ktest_map_at(VA + 16 * PG, 4 * PG, PROT_READ | PROT_WRITE);
	atomic_store(&sva_test_track_register_hook, hold_register);
	if (g_rc_ufd < 0 || g_rc_ufd == app || pthread_create(&g_rc_thread, NULL, register_close_prefault, b))
		_exit(7);
	KTEST_WAIT_WHILE(!atomic_load(&g_rc_entered), 5000);
	if (!atomic_load(&g_rc_entered))
		_exit(8);
	g_rc_out = out;
	exit(0); /* the destructors stop the monitor, then register_close_report() */
}

static void register_close_checks(void)
{
	int got[3] = { -9, -9, -9 };

	child_ran("KTEST_REGISTER_CLOSE", got, sizeof(got), "exit() while another thread's registration is under way");
	is_int(got[0], 0, "  the prefault maps");
	is_int(got[1], 0, "  the monitor did not give its userfaultfd's number up under the registration");
	is_int(got[2], 0, "  no userfaultfd has the mapping after the exit (the application's was given it: -EBUSY)");
}

/*
 * The monitor fails after sva_mm_new() has found it running and before the
 * new address space joins its list: the failure's walk, which marks every
 * address space untracked, comes first and does not see it.  The address
 * space must not join the dead monitor and call itself tracked (its events
 * would go nowhere, its fences say -EIO for good): it starts a new monitor,
 * as libsva(7) says address spaces created after a failure do.  The test hook
 * (libsva-test only) runs in sva_track_add() between the two; there the
 * monitor is made to fail as in uffd_replaced_child(): a dead pipe at its
 * number, and a munmap() of a tracked page to wake it.
 */
extern void (*_Atomic sva_test_track_add_hook)(void); /* track.c, libsva-test only */
static unsigned char *g_add_fail_page;

static void fail_monitor_once(void)
{
	sva_test_track_add_hook = NULL;
	monitor_wait_poll();
	uffd_to_dead_pipe();
	munmap(g_add_fail_page, 4 * PG);
	/* The failing monitor takes no lock sva_mm_new() holds. */
	usleep(300000);
}

static int add_fail_child(int out)
{
	int got[5] = { -9, -9, -9, -9, -9 };
	struct sva_mm_stats s = { .size = sizeof(s) };
	struct sva_ctx *ctx;
	struct sva_mm *first, *mm;
	unsigned char *b;

	alarm(30);
	if (sva_ctx_new(NULL, &ctx) || sva_mm_new(ctx, NULL, &first))
		_exit(3);
	g_add_fail_page = ktest_map_at(VA, 4 * PG, PROT_READ | PROT_WRITE);
	if (sva_mm_prefault(first, g_add_fail_page, 4 * PG))
		_exit(4);
	sva_test_track_add_hook = fail_monitor_once;
	got[0] = sva_mm_new(ctx, NULL, &mm);
	if (got[0])
		_exit(5);
	sva_mm_stats(mm, &s);
	got[1] = !!(s.flags & SVA_MM_STAT_TRACKED);
	got[2] = sva_mm_fence(mm);
	/* Tracked for real: an unmapped page is withdrawn. */
	b = ktest_map_at(VA + 16 * PG, 4 * PG, PROT_READ | PROT_WRITE);
	got[3] = sva_mm_prefault(mm, b, 4 * PG);
	munmap(b, 4 * PG);
	sva_mm_fence(mm);
	sva_mm_stats(mm, &s);
	got[4] = (int)s.bytes_visible;
	sva_mm_free(mm);
	sva_mm_free(first);
	sva_ctx_free(ctx);
	if (write(out, got, sizeof(got)) != sizeof(got))
		_exit(6);
	_exit(0);
}

static void add_fail_checks(void)
{
	int got[5] = { -9, -9, -9, -9, -9 };

	child_ran("KTEST_ADD_FAIL", got, sizeof(got), "the monitor fails as an address space joins");
	is_int(got[0], 0, "  sva_mm_new() succeeds");
	is_int(got[1], 1, "  and the address space is tracked");
	is_int(got[2], 0, "  by a live monitor: its fence says 0, not the dead one's -EIO");
	is_int(got[3], 0, "  it maps");
	is_int(got[4], 0, "  and a munmap() withdraws what the device saw");
}

/*
 * The monitor fails while a registration is under way in an address space
 * its walk (which marks each one lost and withdraws what it mapped) has not
 * reached: tracking is gone there too, and the map gets what libsva(7) and
 * sva_mm_new(3) promise once it has stopped, untracked (the default policy)
 * or -EIO (SVA_MM_TRACK_STRICT).  The registration hook (libsva-test only)
 * runs with the address space's map_lock held, which the walk then waits
 * for: the newest address space is walked first.  A munmap() of the other
 * address space's page wakes the monitor (its poll() holds the userfaultfd
 * it sleeps on, so a dup2() alone does not).  Two ways:
 *  - the application puts a userfaultfd of its own, API handshake not done,
 *    at libsva's number: poll() says POLLERR (the monitor fails with -EIO),
 *    and UFFDIO_REGISTER there says EINVAL, which used to be taken for the
 *    registration's own refusal: a race with munmap() for private anonymous
 *    memory (-EFAULT, nothing mapped), a mapping that cannot be tracked for
 *    the rest;
 *  - a dead pipe there (the monitor fails with -EBADF), and a new address
 *    space meanwhile, whose stop() lets the walking monitor go (the number
 *    with it) after its grace and starts a new one, which waits for the
 *    walk: the registration finds no number, and got the monitor's -EBADF,
 *    taken for the mapping's (strict: refused with it; else mapped, then
 *    withdrawn by the walk).
 */
#define LR_STRICT 1
#define LR_LETGO 2
static unsigned char *g_lr_page;
static struct sva_ctx *g_lr_ctx;
static struct sva_mm *g_lr_new;
static int g_lr_how;
static atomic_int g_lr_new_ret = -9;

static void *lost_register_new_mm(void *arg)
{
	(void)arg;
	atomic_store(&g_lr_new_ret, sva_mm_new(g_lr_ctx, NULL, &g_lr_new));
	return NULL;
}

/* The other address space's fence, from another thread while the walk has
 * not reached it: the fence finds the monitor failed, and the hook holds it
 * until the address space made meanwhile has started a new monitor (whose
 * start() clears the error once the walk is done).  It used to say 0. */
extern void (*_Atomic sva_test_track_fence_hook)(void); /* track.c, libsva-test only */
static struct sva_mm *g_lr_first;
static atomic_int g_lr_fence_in, g_lr_fence_ret = -9;
static pthread_t g_lr_fencer;

static void lost_register_fence_hook(void)
{
	atomic_store(&sva_test_track_fence_hook, NULL);
	atomic_store(&g_lr_fence_in, 1);
	KTEST_WAIT_WHILE(atomic_load(&g_lr_new_ret) == -9, 10000);
}

static void *lost_register_fencer(void *arg)
{
	(void)arg;
	atomic_store(&g_lr_fence_ret, sva_mm_fence(g_lr_first));
	return NULL;
}

static void fail_monitor_under_registration(uint64_t start, uint64_t end)
{
	int ufd = find_uffd(), app;
	pthread_t t;

	(void)start;
	(void)end;
	sva_test_register_hook = NULL;
	monitor_wait_poll();
	if (g_lr_how & LR_LETGO) {
		uffd_to_dead_pipe();
	} else {
		app = (int)syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK | 1 /* UFFD_USER_MODE_ONLY */);
		if (ufd < 0 || app < 0 || app == ufd || dup2(app, ufd) != ufd)
			_exit(5);
		close(app);
	}
	munmap(g_lr_page, 4 * PG);
	/* Failed, and waiting in its walk for this address space's map_lock. */
	monitor_wait_in(SYS_futex, SYS_futex, 5000);
	if (!(g_lr_how & LR_LETGO))
		return;
	atomic_store(&sva_test_track_fence_hook, lost_register_fence_hook);
	if (pthread_create(&g_lr_fencer, NULL, lost_register_fencer, NULL))
		_exit(5);
	KTEST_WAIT_WHILE(!atomic_load(&g_lr_fence_in), 5000);
	if (pthread_create(&t, NULL, lost_register_new_mm, NULL) || pthread_detach(t))
		_exit(5);
	/* The new monitor's userfaultfd (the old number holds the pipe): made
	 * after stop() let the old monitor go. */
	for (int ms = 0; ms < 10000 && find_uffd() < 0; ms++)
		usleep(1000);
}

static int lost_register_child(int out, int how)
{
	int got[8] = { -9, -9, -9, -9, -9, -9, -9, -9 };
	struct sva_mm_opts o = { .size = sizeof(o), .flags = (how & LR_STRICT) ? SVA_MM_TRACK_STRICT : 0 };
	struct sva_mm_stats s = { .size = sizeof(s) };
	struct sva_mm *first, *mm;
	unsigned char *b;

	alarm(30);
	g_lr_how = how;
	/* Let go after 100 ms, not 2 s: the walking monitor waits for map_lock,
	 * which the registration hook holds until the new monitor's userfaultfd
	 * exists, so it never ends within any grace, and the grace only says
	 * when it is let go (it was 4 of the test's 36 s). */
	if (how & LR_LETGO)
		sva_test_stop_grace_ns = 100000000ull;
	if (sva_ctx_new(NULL, &g_lr_ctx) || sva_mm_new(g_lr_ctx, NULL, &first))
		_exit(3);
	g_lr_first = first;
	g_lr_page = ktest_map_at(VA, 4 * PG, PROT_READ | PROT_WRITE);
	if (sva_mm_prefault(first, g_lr_page, 4 * PG) || sva_mm_new(g_lr_ctx, &o, &mm))
		_exit(4);
	b = ktest_map_at(VA + 16 * PG, 4 * PG, PROT_READ | PROT_WRITE);
	sva_test_register_hook = fail_monitor_under_registration;
	got[0] = sva_mm_prefault(mm, b, 4 * PG);
	sva_test_register_hook = NULL;
	got[1] = sva_mm_fence(mm);
	sva_mm_stats(mm, &s);
	got[2] = !!(s.flags & SVA_MM_STAT_TRACKED);
	got[3] = s.untracked_reason;
	got[4] = (int)s.bytes_visible;
	got[5] = sva_mm_fence(first);
	if (how & LR_LETGO) {
		KTEST_WAIT_WHILE(atomic_load(&g_lr_new_ret) == -9, 10000);
		got[6] = atomic_load(&g_lr_new_ret);
		if (atomic_load(&g_lr_fence_in))
			pthread_join(g_lr_fencer, NULL);
		got[7] = atomic_load(&g_lr_fence_ret);
		if (!got[6])
			sva_mm_free(g_lr_new);
	}
	sva_mm_free(mm);
	sva_mm_free(first);
	sva_ctx_free(g_lr_ctx);
	if (write(out, got, sizeof(got)) != sizeof(got))
		_exit(6);
	_exit(0);
}

static void lost_register_checks(void)
{
	static const char *const env[] = { "KTEST_LOST_REGISTER", "KTEST_LOST_REGISTER_STRICT",
					   "KTEST_LOST_REGISTER_LETGO", "KTEST_LOST_REGISTER_LETGO_STRICT" };

	for (int how = 0; how < 4; how++) {
		int got[8] = { -9, -9, -9, -9, -9, -9, -9, -9 }, why = (how & LR_LETGO) ? -EBADF : -EIO;
		bool strict = how & LR_STRICT;

		char what[160];

		snprintf(what, sizeof(what), "the monitor fails under a registration its walk has not reached%s%s",
			 how & LR_LETGO ? ", then is let go" : "", strict ? ", SVA_MM_TRACK_STRICT" : "");
		child_ran(env[how], got, sizeof(got), what);
		if (strict)
			is_int(got[0], -EIO, "  the prefault fails with -EIO, as once tracking has stopped");
		else
			is_int(got[0], 0, "  the prefault maps untracked, as once tracking has stopped");
		is_int(got[1], -EIO, "  the address space's fence says tracking was lost");
		is_int(got[2], 0, "  it is untracked");
		is_int(got[3], why, "  for the monitor's reason");
		is_int(got[4], strict ? 0 : 4 * PG, "  what the prefault mapped stays visible (strict: nothing)");
		is_int(got[5], -EIO, "  the other address space lost tracking too");
		if (how & LR_LETGO) {
			is_int(got[6], 0, "  the address space made meanwhile is created");
			is_int(got[7], -EIO, "  a fence of the other one, made before the walk reached it and waiting "
					     "while that address space started a new monitor, says -EIO");
		}
	}
}

/* Does a mapping in [start, end) have VmFlags "uw" (registered for
 * write-protect with some userfaultfd)?  1, 0, or -1 if smaps is unreadable. */
static int registered_wp(uint64_t start, uint64_t end)
{
	FILE *f = fopen("/proc/self/smaps", "r");
	char line[512];
	unsigned long long lo = 0, hi = 0;
	int found = 0;

	if (!f)
		return -1;
	while (!found && fgets(line, sizeof(line), f)) {
		unsigned long long s, e;

		if (sscanf(line, "%llx-%llx ", &s, &e) == 2 && strchr(line, '-') < strchr(line, ' ')) {
			lo = s;
			hi = e;
		} else if (!strncmp(line, "VmFlags:", 8) && strstr(line, " uw") && lo < end && start < hi) {
			found = 1;
		}
	}
	fclose(f);
	return found;
}

/*
 * The application closes libsva's userfaultfd and its own userfaultfd (the
 * handshake done) comes to the number: a registration there succeeds, on the
 * application's file.  It used to be taken for libsva's own (only a refused
 * registration asked fstat() whose file the number held): libsva called the
 * range tracked, the application's userfaultfd had a registration it never
 * asked for, and no unmap of it was ever withdrawn.  Tracking must end as for
 * any other file at the number (libsva(7)), and the application's userfaultfd
 * must not be given the range.
 */
static int uffd_app_reg_child(int out)
{
	int got[10] = { -9, -9, -9, -9, -9, -9, -9, -9, -9, -9 };
	struct sva_mm_opts so = { .size = sizeof(so), .flags = SVA_MM_TRACK_STRICT };
	struct sva_mm_stats s = { .size = sizeof(s) };
	struct sva_ctx *ctx;
	struct sva_mm *mm, *strict, *next;
	unsigned char *a, *b, *c;
	struct stat s1, s2;
	int ufd, app, other;

	alarm(30);
	if (sva_ctx_new(NULL, &ctx) || sva_mm_new(ctx, NULL, &mm) || sva_mm_new(ctx, &so, &strict))
		_exit(3);
	a = ktest_map_at(VA, 4 * PG, PROT_READ | PROT_WRITE);
	if (sva_mm_prefault(mm, a, 4 * PG) || sva_mm_prefault(strict, a, 4 * PG))
		_exit(4);
	ufd = find_uffd();
	monitor_wait_poll();
	app = app_uffd();
	other = app_uffd();
	if (ufd < 0 || app < 0 || other < 0)
		_exit(5);
	/* What libsva's check rests on: each userfaultfd has an inode of its own. */
	got[0] = fstat(app, &s1) == 0 && fstat(other, &s2) == 0 && s1.st_ino != s2.st_ino;
	close(other);
	if (dup2(app, ufd) != ufd)
		_exit(6);
	close(app);
	b = ktest_map_at(VA + 16 * PG, 4 * PG, PROT_READ | PROT_WRITE);
	got[1] = sva_mm_prefault(strict, b, 4 * PG);
	got[2] = registered_wp(VA + 16 * PG, VA + 20 * PG);
	got[3] = sva_mm_fence(strict);
	for (int ms = 0; ms < 3000; ms += 10) {
		sva_mm_stats(mm, &s);
		if (!(s.flags & SVA_MM_STAT_TRACKED) && s.bytes_visible == 0)
			break;
		usleep(10000);
	}
	got[4] = !(s.flags & SVA_MM_STAT_TRACKED) && s.bytes_visible == 0;
	got[8] = s.untracked_reason;
	got[5] = sva_mm_fence(mm);
	got[9] = sva_mm_stats(strict, &s) == 0 ? s.untracked_reason : -99;
	if (sva_mm_new(ctx, &so, &next))
		_exit(7);
	c = ktest_map_at(VA + 24 * PG, 4 * PG, PROT_READ | PROT_WRITE);
	got[6] = sva_mm_prefault(next, c, 4 * PG);
	munmap(c, 4 * PG);
	got[7] = sva_mm_fence(next) == 0;
	sva_mm_stats(next, &s);
	got[7] = got[7] && (s.flags & SVA_MM_STAT_TRACKED) && s.bytes_visible == 0;
	sva_mm_free(next);
	sva_mm_free(strict);
	sva_mm_free(mm);
	sva_ctx_free(ctx);
	if (write(out, got, sizeof(got)) != sizeof(got))
		_exit(8);
	_exit(0);
}

static void uffd_app_reg_checks(void)
{
	int got[10] = { -9, -9, -9, -9, -9, -9, -9, -9, -9, -9 };

	child_ran("KTEST_UFFD_APP_REG", got, sizeof(got), "uffd replaced by the application's own userfaultfd");
	ok(got[0] == 1, "  two userfaultfds have inodes of their own (what fstat() tells apart)");
	is_int(got[1], -EIO, "  a strict address space's registration there: -EIO, tracking stopped");
	is_int(got[2], 0, "  and the application's userfaultfd was not given the range");
	is_int(got[3], -EIO, "  its fence says -EIO");
	ok(got[4] == 1, "  the other address space stops being tracked and withdraws what it mapped");
	is_int(got[5], -EIO, "  its fence says -EIO too");
	is_int(got[6], 0, "  a strict address space made afterwards maps (a new monitor)");
	ok(got[7] == 1, "  it is tracked: a munmap is withdrawn");
	is_int(got[9], -EBADF, "  the strict one's untracked_reason is -EBADF, as sva_mm_stats(3) says");
	is_int(got[8], -EBADF, "  the other one's too");
}

/*
 * The number changes hands during the registration: after libsva's look at
 * it, before the ioctl (the test hook, libsva-test only, runs there), the
 * application's own userfaultfd takes it.  The ioctl succeeds on the
 * application's file; only a look after it can tell, and tracking must end.
 * The registration made there is left (libsva cannot tell it from one the
 * application made on the same range itself, which an unregister would drop).
 */
static int g_race_ufd = -1;

static void swap_in_app_uffd(void)
{
	int app = app_uffd();

	atomic_store(&sva_test_track_register_hook, NULL);
	if (app >= 0 && dup2(app, g_race_ufd) == g_race_ufd)
		close(app);
}

static int uffd_app_race_child(int out)
{
	int got[3] = { -9, -9, -9 };
	struct sva_mm_opts so = { .size = sizeof(so), .flags = SVA_MM_TRACK_STRICT };
	struct sva_ctx *ctx;
	struct sva_mm *strict;
	unsigned char *a, *b;

	alarm(30);
	if (sva_ctx_new(NULL, &ctx) || sva_mm_new(ctx, &so, &strict))
		_exit(3);
	a = ktest_map_at(VA, 4 * PG, PROT_READ | PROT_WRITE);
	if (sva_mm_prefault(strict, a, 4 * PG))
		_exit(4);
	g_race_ufd = find_uffd();
	if (g_race_ufd < 0)
		_exit(5);
	b = ktest_map_at(VA + 16 * PG, 4 * PG, PROT_READ | PROT_WRITE);
	atomic_store(&sva_test_track_register_hook, swap_in_app_uffd);
	got[0] = sva_mm_prefault(strict, b, 4 * PG);
	got[1] = registered_wp(VA + 16 * PG, VA + 20 * PG);
	got[2] = sva_mm_fence(strict);
	sva_mm_free(strict);
	sva_ctx_free(ctx);
	if (write(out, got, sizeof(got)) != sizeof(got))
		_exit(8);
	_exit(0);
}

static void uffd_app_race_checks(void)
{
	int got[3] = { -9, -9, -9 };

	child_ran("KTEST_UFFD_APP_RACE", got, sizeof(got),
		  "the application's userfaultfd takes the number during a registration");
	is_int(got[0], -EIO, "  the registration succeeded there: the strict prefault says -EIO, tracking stopped");
	is_int(got[1], 1, "  what the ioctl registered with the application's userfaultfd is left there");
	is_int(got[2], -EIO, "  the fence says -EIO");
}

static atomic_int g_ae_done;

static void *app_unmapper(void *arg)
{
	munmap(arg, 4 * PG);
	atomic_store(&g_ae_done, 1);
	return NULL;
}

static void *tracked_unmapper(void *arg)
{
	munmap(arg, 4 * PG);
	return NULL;
}

/*
 * The same, with an application's userfaultfd that asks for unmap events and
 * registers memory of its own: its munmap() sends an event to the number the
 * monitor polls.  The monitor used to read it (an UNMAP record is one it
 * enables, so it asked fstat() nothing) and apply it: it took the
 * application's event away (the application's read found nothing) and went
 * on as if tracking, with no event of its own ever to come.  The event is the
 * application's to read, and tracking must end.  The monitor's poll() sleeps
 * on its old file until that wakes it (libsva(7)): the application's event
 * comes first, then a munmap() of tracked memory, whose event goes to the old
 * file, wakes the monitor, whose poll() finds the number's file ready.
 */
static int uffd_app_events_child(int out)
{
	int got[5] = { -9, -9, -9, -9, -9 };
	struct kabi_uffdio_api api = { .api = KABI_UFFD_API, .features = KABI_UFFD_FEATURE_EVENT_UNMAP };
	struct kabi_uffdio_register reg = { .mode = 1 /* MISSING */ };
	struct sva_mm_stats s = { .size = sizeof(s) };
	struct kabi_uffd_msg m = { 0 };
	struct sva_ctx *ctx;
	struct sva_mm *mm;
	unsigned char *a, *c;
	pthread_t t, ta;
	int ufd, app;

	alarm(30);
	if (sva_ctx_new(NULL, &ctx) || sva_mm_new(ctx, NULL, &mm))
		_exit(3);
	a = ktest_map_at(VA, 4 * PG, PROT_READ | PROT_WRITE);
	if (sva_mm_prefault(mm, a, 4 * PG))
		_exit(4);
	ufd = find_uffd();
	monitor_wait_poll();
	app = (int)syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK | 1 /* UFFD_USER_MODE_ONLY */);
	if (ufd < 0 || app < 0 || ioctl(app, KABI_UFFDIO_API, &api) || dup2(app, ufd) != ufd)
		_exit(5);
	close(app);
	c = ktest_map_at(VA + 32 * PG, 4 * PG, PROT_READ | PROT_WRITE);
	reg.range.start = (uintptr_t)c;
	reg.range.len = 4 * PG;
	if (ioctl(ufd, KABI_UFFDIO_REGISTER, &reg) || pthread_create(&t, NULL, app_unmapper, c))
		_exit(6);
	{
		/* The application's event is queued (poll() reads nothing). */
		struct pollfd p = { .fd = ufd, .events = POLLIN };

		poll(&p, 1, 2000);
	}
	if (pthread_create(&ta, NULL, tracked_unmapper, a))
		_exit(8);
	/* The munmap() returns once somebody read its event: the monitor, if
	 * at all, before it ends (it stops on the file it finds); waited for
	 * the one or the other, up to 2 s, which it always ran to. */
	KTEST_WAIT_WHILE(!atomic_load(&g_ae_done) && threads_named(KTEST_MONITOR_THREAD, NULL) > 0, 2000);
	got[0] = atomic_load(&g_ae_done);
	{
		struct pollfd p = { .fd = ufd, .events = POLLIN };

		got[1] = poll(&p, 1, got[0] ? 0 : 2000) == 1 && read(ufd, &m, sizeof(m)) == sizeof(m) &&
			 m.event == KABI_UFFD_EVENT_UNMAP && m.arg.remove.start == (uintptr_t)c;
	}
	pthread_join(t, NULL);
	pthread_join(ta, NULL);
	for (int ms = 0; ms < 3000 && (got[2] = sva_mm_fence(mm)) == 0; ms += 10)
		usleep(10000);
	sva_mm_stats(mm, &s);
	got[3] = !(s.flags & SVA_MM_STAT_TRACKED) && s.bytes_visible == 0;
	got[4] = s.untracked_reason;
	sva_mm_free(mm);
	sva_ctx_free(ctx);
	if (write(out, got, sizeof(got)) != sizeof(got))
		_exit(7);
	_exit(0);
}

static void uffd_app_events_checks(void)
{
	int got[5] = { -9, -9, -9, -9, -9 };

	child_ran("KTEST_UFFD_APP_EVENTS", got, sizeof(got),
		  "uffd replaced by the application's userfaultfd, which gets unmap events");
	is_int(got[0], 0, "  the monitor does not read the application's event (its munmap waits for its reader)");
	ok(got[1] == 1, "  the application reads its own UNMAP event");
	is_int(got[2], -EIO, "  tracking stops: the fence says -EIO");
	ok(got[3] == 1, "  the address space is untracked, nothing visible");
	is_int(got[4], -EBADF, "  its untracked_reason is -EBADF, as sva_mm_stats(3) says");
}

/*
 * A registration after the exit destructor stopped the monitor, on a thread
 * that still maps (here a later destructor; a context made with
 * SVA_CTX_NO_EXIT_TEARDOWN keeps its address spaces): the number is let go
 * with no error set.  It used to say -EBADF, taken for the mapping's refusal:
 * a strict address space's prefault failed with EBADF (no errno of
 * sva_mm_prefault(3)), a default one mapped untracked and still called
 * itself tracked.  Tracking has ended: untracked, or -EIO when strict.
 */
static struct sva_mm *g_xr_mm, *g_xr_strict;
static int g_xr_out = -1;

__attribute__((destructor(150))) static void exit_register_report(void)
{
	int got[6] = { -9, -9, -9, -9, -9, -9 };
	struct sva_mm_stats s = { .size = sizeof(s) };
	unsigned char *b;

	if (g_xr_out < 0)
		return;
	b = ktest_map_at(VA + 16 * PG, 4 * PG, PROT_READ | PROT_WRITE);
	got[0] = sva_mm_prefault(g_xr_strict, b, 4 * PG);
	got[1] = sva_mm_prefault(g_xr_mm, b, 4 * PG);
	sva_mm_stats(g_xr_mm, &s);
	got[2] = !(s.flags & SVA_MM_STAT_TRACKED);
	got[4] = s.untracked_reason;
	got[3] = sva_mm_fence(g_xr_mm);
	got[5] = sva_mm_stats(g_xr_strict, &s) == 0 ? s.untracked_reason : -99;
	if (write(g_xr_out, got, sizeof(got)) != sizeof(got))
		_exit(7);
}

static int exit_register_child(int out)
{
	struct sva_ctx_opts co = { .size = sizeof(co), .flags = SVA_CTX_NO_EXIT_TEARDOWN };
	struct sva_mm_opts so = { .size = sizeof(so), .flags = SVA_MM_TRACK_STRICT };
	struct sva_ctx *ctx;
	unsigned char *a;

	alarm(30);
	if (sva_ctx_new(&co, &ctx) || sva_mm_new(ctx, NULL, &g_xr_mm) || sva_mm_new(ctx, &so, &g_xr_strict))
		_exit(3);
	a = ktest_map_at(VA, 4 * PG, PROT_READ | PROT_WRITE);
	if (sva_mm_prefault(g_xr_mm, a, 4 * PG) || sva_mm_prefault(g_xr_strict, a, 4 * PG))
		_exit(4);
	g_xr_out = out;
	exit(0); /* track.c's destructor stops the monitor, then exit_register_report() */
}

static void exit_register_checks(void)
{
	int got[6] = { -9, -9, -9, -9, -9, -9 };

	child_ran("KTEST_EXIT_REGISTER", got, sizeof(got), "a registration after exit() stopped the monitor");
	is_int(got[0], -EIO, "  a strict address space's prefault: -EIO, as once tracking has stopped");
	is_int(got[1], 0, "  a default one maps untracked");
	ok(got[2] == 1, "  and no longer calls itself tracked");
	is_int(got[3], -EIO, "  its fence says tracking was lost");
	is_int(got[4], -EBADF, "  its untracked_reason is -EBADF, as sva_mm_stats(3) says");
	is_int(got[5], -EBADF, "  the strict one's too");
}

/*
 * The vDSO, moved into the device's window: a special mapping, which
 * userfaultfd never registers, with no file behind it.  It used to pass for
 * private anonymous memory (which can always be registered), so the failed
 * registration was taken for a race: -EFAULT in every mode.  It is a mapping
 * userfaultfd cannot track: mapped untracked (counted), or -EINVAL when strict.
 * In a child, poll mode, nothing between the two moves that could call
 * clock_gettime(): the C library's pointers into the vDSO are stale then.
 */
static void vdso_checks(void)
{
	enum { R_ANON, R_VDSO, R_DEFAULT, R_STRICT, R_COUNTED, R_REASON, R_BACK, NR };
	int res[NR] = { 0 }, pfd[2];
	uint64_t vs = 0, ve = 0;
	char line[512];
	FILE *f = fopen("/proc/self/maps", "re");
	pid_t pid;

	while (f && fgets(line, sizeof(line), f)) {
		unsigned long a, b;

		if (strstr(line, "[vdso]") && sscanf(line, "%lx-%lx", &a, &b) == 2) {
			vs = a;
			ve = b;
		}
	}
	if (f)
		fclose(f);
#ifdef KTEST_TSAN
	skip(NR, "ThreadSanitizer cannot start threads in the child of a multi-threaded process");
	return;
#endif
	if (!vs || pipe(pfd)) {
		skip(NR, "no [vdso] in /proc/self/maps");
		return;
	}
	pid = fork();
	if (pid == 0) {
		struct sva_ctx_opts co = { .size = sizeof(co), .flags = SVA_CTX_FAULT_POLL };
		struct sva_mm_opts so = { .size = sizeof(so), .flags = SVA_MM_TRACK_STRICT };
		struct sva_ctx *ctx;
		struct sva_dev *dev;
		struct sva_mm *mm, *strict;
		struct sva_bond *b1, *b2;
		struct sva_mm_stats st = { .size = sizeof(st) };
		const uint64_t nv = 0x6c000000ull;
		void *anon = ktest_map_at(0x6b000000ull, PG, PROT_READ | PROT_WRITE);

		if (sva_ctx_new(&co, &ctx) || sva_dev_open_mock(ctx, NULL, &dev) || sva_mm_new(ctx, NULL, &mm) ||
		    sva_mm_new(ctx, &so, &strict) || sva_bind(dev, mm, NULL, &b1) || sva_bind(dev, strict, NULL, &b2))
			_exit(2);
		res[R_ANON] = sva_vma_query_private_anon(-1, (uintptr_t)anon, (uintptr_t)anon + PG);
		res[R_VDSO] = sva_vma_query_private_anon(-1, vs, vs + PG);
		if (mremap((void *)(uintptr_t)vs, ve - vs, ve - vs, MREMAP_MAYMOVE | MREMAP_FIXED, (void *)(uintptr_t)nv) !=
		    (void *)(uintptr_t)nv)
			_exit(3);
		res[R_DEFAULT] = sva_mm_prefault(mm, (void *)(uintptr_t)nv, ve - vs);
		res[R_STRICT] = sva_mm_prefault(strict, (void *)(uintptr_t)nv, ve - vs);
		res[R_BACK] = mremap((void *)(uintptr_t)nv, ve - vs, ve - vs, MREMAP_MAYMOVE | MREMAP_FIXED,
				     (void *)(uintptr_t)vs) == (void *)(uintptr_t)vs;
		sva_mm_stats(mm, &st);
		res[R_COUNTED] = (int)st.untracked_ranges;
		res[R_REASON] = st.untracked_reason;
		/* The mock WARNs at release with a PASID still attached (7.3). */
		sva_unbind(b1);
		sva_unbind(b2);
		sva_mm_free(mm);
		sva_mm_free(strict);
		sva_dev_close(dev);
		sva_ctx_free(ctx);
		_exit(write(pfd[1], res, sizeof(res)) == sizeof(res) ? 0 : 4);
	}
	close(pfd[1]);
	bool got = pid > 0 && read(pfd[0], res, sizeof(res)) == sizeof(res);
	int status = 0;

	close(pfd[0]);
	if (pid > 0)
		waitpid(pid, &status, 0);
	ok(got && WIFEXITED(status) && WEXITSTATUS(status) == 0, "vDSO: the child ran (status 0x%x)", status);
	is_int(res[R_ANON], 1, "an anonymous mapping is private anonymous memory");
	is_int(res[R_VDSO], 0, "the vDSO is not (a special mapping)");
	is_int(res[R_DEFAULT], 0, "vDSO in the window: prefault maps it untracked (not -EFAULT)");
	ok(res[R_COUNTED] >= 1 && res[R_REASON] == -EINVAL, "counted untracked (%d), reason -EINVAL (%d)",
	   res[R_COUNTED], res[R_REASON]);
	is_int(res[R_STRICT], -EINVAL, "a strict address space refuses it: -EINVAL");
	is_int(res[R_BACK], 1, "the vDSO went back");
}

/* Does thread tid block every signal that can be blocked (all but SIGKILL,
 * SIGSTOP and glibc's two internal ones, 32 and 33)? */
static bool blocks_all(pid_t tid)
{
	const unsigned long long want = ~0ull & ~(1ull << 8) & ~(1ull << 18) & ~(1ull << 31) & ~(1ull << 32);
	char blk[64];

	return ktest_thread_status(tid, "SigBlk", blk, sizeof(blk)) == 0 && (strtoull(blk, NULL, 16) & want) == want;
}

static int count_blocking(pid_t tid, void *arg)
{
	*(int *)arg += blocks_all(tid);
	return 0;
}

/* How many of this process's threads have this name; *blocking (unless NULL):
 * how many of those block every signal.  /proc/self/task unreadable (or a
 * name no thread can bear) ends the test: a 0 would pass its "gone" checks. */
static int threads_named(const char *name, int *blocking)
{
	int nb = 0, n = ktest_for_each_thread_named(name, blocking ? count_blocking : NULL, &nb);

	if (n < 0)
		ktest_bail("listing the threads named %s: %s", name, strerror(-n));
	if (blocking)
		*blocking = nb;
	return n;
}

/*
 * libsva's threads carry their names when the call that started them returns
 * (libsva(7), sva_ctx_new(3)): an application pinning threads by name looks
 * right after.  They used to name themselves once running, so right after
 * sva_mm_new() the monitor still had the program's name in most rounds, and
 * right after the first fault-capable bind the fault thread in some.  Each
 * round starts both anew (no other tracked address space, a new context).
 */
static void names_at_return(void)
{
	struct sva_bind_opts bo = { .size = sizeof(bo) };
	int monitor = 0, fault = 0;
	const int rounds = 10;

	for (int i = 0; i < rounds; i++) {
		struct sva_ctx *ctx = ktest_ctx();
		struct sva_dev *dev;
		struct sva_bond *bond;
		struct sva_mm *mm;

		/* The last round's threads are joined, but a joined thread may
		 * stay listed in /proc/self/task a moment longer: a second
		 * "sva-fault" there once made a round miss. */
		KTEST_WAIT_WHILE(threads_named(KTEST_FAULT_THREAD, NULL) + threads_named(KTEST_MONITOR_THREAD, NULL) > 0,
				 2000);
		if (sva_mm_new(ctx, NULL, &mm))
			ktest_bail("sva_mm_new failed");
		monitor += threads_named(KTEST_MONITOR_THREAD, NULL) == 1;
		if (sva_dev_open_mock(ctx, NULL, &dev) || sva_bind(dev, mm, &bo, &bond))
			ktest_bail("bind failed");
		fault += threads_named(KTEST_FAULT_THREAD, NULL) == 1;
		sva_unbind(bond);
		sva_dev_close(dev);
		sva_mm_free(mm);
		sva_ctx_free(ctx);
	}
	is_int(monitor, rounds, "right after sva_mm_new() started it, the monitor is named sva-coherence (%d rounds)",
	       rounds);
	is_int(fault, rounds, "right after the first fault-capable bind, the fault thread is named sva-fault");
}

static int add_comm(pid_t tid, void *arg)
{
	char comm[KTEST_COMM_MAX + 2], *list = arg;

	if (ktest_thread_comm(tid, comm, sizeof(comm)) == 0 && strlen(list) + strlen(comm) + 3 < 256)
		strcat(strcat(list, *list ? ", " : ""), comm);
	return 0;
}

/*
 * Almost every check below needs the coherence monitor, and many find it by
 * its name (libsva(7)): without one, they used to fail one by one, some 70
 * "not ok" lines with the one that says why among them.  One check here says
 * it, naming the threads there are (a monitor misnamed shows), and the
 * program stops there, a failure.  Given a moment, so that this is about
 * the monitor being there; names_at_return() is about its name at return.
 */
static void require_monitor(void)
{
	struct sva_ctx *ctx = ktest_ctx();
	char names[256] = "";
	struct sva_mm *mm;
	int n = 0;

	if (sva_mm_new(ctx, NULL, &mm))
		ktest_bail("sva_mm_new failed");
	KTEST_WAIT_WHILE((n = threads_named(KTEST_MONITOR_THREAD, NULL)) == 0, 2000);
	if (n == 0)
		ktest_for_each_thread_named(NULL, add_comm, names);
	ok(n > 0, "sva_mm_new() starts the coherence monitor, a thread named %s%s%s (untracked_reason %d)",
	   KTEST_MONITOR_THREAD, n ? "" : ": none after 2 s; the threads: ", names, stats(mm).untracked_reason);
	sva_mm_free(mm);
	sva_ctx_free(ctx);
	if (n == 0)
		ktest_bail("no coherence monitor (no thread named %s): every check below needs it", KTEST_MONITOR_THREAD);
}

int main(void)
{
	struct sva_bind_opts bo = { .size = sizeof(bo) };
	struct sva_bond *bond;
	struct sva_mm *mm;

	if (getenv("KTEST_UFFD_REPLACED"))
		return uffd_replaced_child(atoi(getenv("KTEST_UFFD_REPLACED")), NULL);
	if (getenv("KTEST_UFFD_ZERO"))
		return uffd_replaced_child(atoi(getenv("KTEST_UFFD_ZERO")), "/dev/zero");
	if (getenv("KTEST_UFFD_URANDOM"))
		return uffd_replaced_child(atoi(getenv("KTEST_UFFD_URANDOM")), "/dev/urandom");
	if (getenv("KTEST_FENCE_RACE"))
		return fence_race_child(atoi(getenv("KTEST_FENCE_RACE")));
	if (getenv("KTEST_UFFD_SILENT"))
		return uffd_silent_child(atoi(getenv("KTEST_UFFD_SILENT")));
	if (getenv("KTEST_UFFD_CLOSED"))
		return uffd_closed_child(atoi(getenv("KTEST_UFFD_CLOSED")));
	if (getenv("KTEST_UFFD_IDLE"))
		return uffd_idle_child(atoi(getenv("KTEST_UFFD_IDLE")));
	if (getenv("KTEST_STOPFD_GEN"))
		return stopfd_gen_child(atoi(getenv("KTEST_STOPFD_GEN")));
	if (getenv("KTEST_ABANDON_GEN"))
		return abandon_gen_child(atoi(getenv("KTEST_ABANDON_GEN")));
	if (getenv("KTEST_LOST_GEN"))
		return lost_gen_child(atoi(getenv("KTEST_LOST_GEN")));
	if (getenv("KTEST_SEQ_GEN"))
		return seq_gen_child(atoi(getenv("KTEST_SEQ_GEN")));
	if (getenv("KTEST_LETGO_APPLY"))
		return letgo_apply_child(atoi(getenv("KTEST_LETGO_APPLY")));
	if (getenv("KTEST_CLONE_RELEASE"))
		return clone_release_child(atoi(getenv("KTEST_CLONE_RELEASE")));
	if (getenv("KTEST_DUP2_READ"))
		return dup2_read_child(atoi(getenv("KTEST_DUP2_READ")));
	if (getenv("KTEST_DUP2_POLL"))
		return dup2_poll_child(atoi(getenv("KTEST_DUP2_POLL")));
	if (getenv("KTEST_ADD_FAIL"))
		return add_fail_child(atoi(getenv("KTEST_ADD_FAIL")));
	if (getenv("KTEST_LOST_REGISTER"))
		return lost_register_child(atoi(getenv("KTEST_LOST_REGISTER")), 0);
	if (getenv("KTEST_LOST_REGISTER_STRICT"))
		return lost_register_child(atoi(getenv("KTEST_LOST_REGISTER_STRICT")), LR_STRICT);
	if (getenv("KTEST_LOST_REGISTER_LETGO"))
		return lost_register_child(atoi(getenv("KTEST_LOST_REGISTER_LETGO")), LR_LETGO);
	if (getenv("KTEST_LOST_REGISTER_LETGO_STRICT"))
		return lost_register_child(atoi(getenv("KTEST_LOST_REGISTER_LETGO_STRICT")), LR_LETGO | LR_STRICT);
	if (getenv("KTEST_REGISTER_CLOSE"))
		return register_close_child(atoi(getenv("KTEST_REGISTER_CLOSE")));
	if (getenv("KTEST_UFFD_APP_REG"))
		return uffd_app_reg_child(atoi(getenv("KTEST_UFFD_APP_REG")));
	if (getenv("KTEST_UFFD_APP_RACE"))
		return uffd_app_race_child(atoi(getenv("KTEST_UFFD_APP_RACE")));
	if (getenv("KTEST_UFFD_APP_EVENTS"))
		return uffd_app_events_child(atoi(getenv("KTEST_UFFD_APP_EVENTS")));
	if (getenv("KTEST_EXIT_REGISTER"))
		return exit_register_child(atoi(getenv("KTEST_EXIT_REGISTER")));
	if (getenv("KTEST_STOPFD_REPLACED"))
		return stopfd_replaced_child(atoi(getenv("KTEST_STOPFD_REPLACED")));
	ktest_require_iommufd();
	require_monitor();
	names_at_return();
	g_ctx = ktest_ctx();
	if (sva_dev_open_mock(g_ctx, NULL, &g_dev))
		ktest_bail("sva_dev_open_mock failed (CONFIG_IOMMUFD_TEST?)");
	if (sva_mm_new(g_ctx, NULL, &mm) || sva_bind(g_dev, mm, &bo, &bond))
		ktest_bail("bind failed");
	{
		int blocking;

		is_int(threads_named(KTEST_MONITOR_THREAD, &blocking), 1,
		       "the coherence monitor is one thread named sva-coherence");
		is_int(blocking, 1, "  it blocks every signal (libsva(7))");
		is_int(threads_named(KTEST_FAULT_THREAD, &blocking), 1, "the context's fault thread is one thread, sva-fault");
		is_int(blocking, 1, "  it blocks every signal too");
	}

	error_checks();
	munmap_checks(mm, bond);
	mremap_checks(mm);
	madvise_checks(mm, bond);
	heap_checks();
	remap_race(mm, bond);
	prefault_remap_race();
	remove_settle_checks(mm, bond);
	prefault_pending_checks(mm, bond);
	remove_race(mm, bond);
	own_uffd_checks();
	own_uffd_unsupplied_checks();
	own_uffd_wp_minor_checks();
	readonly_shared_checks();
	mem_free_untracked();
	shmdt_remedy();
	unreported_remedies(mm);
	shm_remap_remedy(mm);
	seccomp_checks();
	uffd_replaced_checks();
	fence_race_checks();
	uffd_silent_checks();
	stopfd_replaced_checks();
	uffd_idle_checks();
	stopfd_gen_checks();
	uffd_closed_checks();
	bind_after_munmap_checks();
	bind_unmap_in_flight_checks();
	dup2_stop_checks();
	abandon_gen_checks();
	lost_gen_checks();
	seq_gen_checks();
	letgo_apply_checks();
	clone_release_checks();
	register_hole_checks();
	register_stale_checks();
	fork_checks(mm);
	hugetlb_fork_checks(mm);
	untracked_checks();
	prefault_split_checks();
	vdso_checks();

	sva_unbind(bond);
	sva_mm_free(mm);
	last_mm_checks();
	stop_close_checks();
	register_close_checks();
	add_fail_checks();
	lost_register_checks();
	uffd_app_reg_checks();
	uffd_app_race_checks();
	uffd_app_events_checks();
	exit_register_checks();
	sva_dev_close(g_dev);
	sva_ctx_free(g_ctx);
	return done_testing();
}
