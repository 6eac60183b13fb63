/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Resolving one I/O page fault in an address space: find the VMA, check the
 * access against its permissions and the device-reachable window, and map a
 * window around the address ("fault-around") at IOVA == VA.  The model is the
 * kernel's own SVA fault handler (vma_lookup, permissions, handle_mm_fault),
 * with IOMMU_IOAS_MAP standing in for handle_mm_fault.
 */
#include <errno.h>

#include "broker_share.h"
#include "internal.h"
#include "withdraw.h"

#define PAGE 4096ull
#define HUGE (2ull << 20)

static uint32_t need_prot(uint32_t access)
{
	return ((access & SVA_ACCESS_READ) ? SVA_PROT_READ : 0) | ((access & SVA_ACCESS_WRITE) ? SVA_PROT_WRITE : 0) |
	       ((access & SVA_ACCESS_EXEC) ? SVA_PROT_EXEC : 0);
}

static int resolve_locked(struct sva_mm *mm, struct sva_fa_state *fa, uint64_t addr, uint64_t run_start,
			  uint64_t run_end, uint32_t need, uint64_t reserve, uint64_t *pages, bool may_refresh)
{
	const uint32_t rw = SVA_PROT_READ | SVA_PROT_WRITE;
	const struct sva_iova_range *r;
	uint64_t ws, we, size, mapped = 0, cs = 0, ce = 0;
	uint64_t ss, se;
	uint32_t cprot = 0;
	bool have = false;
	struct sva_vma vma, *v = &vma;
	int ret;

	/* An isolated broker client: only what it shared, and nothing of a range
	 * it is unsharing (a chunk there may be one the broker just unmapped). */
	ss = 0;
	se = UINT64_MAX;
	if (mm->ctx->broker) { /* only a broker's client can be isolated: no call for the others */
		ret = sva_broker_share_bounds(mm->ctx, addr, &ss, &se);
		if (ret)
			return ret;
	}

	/* What is visible at addr now (the monitor may withdraw it at any time). */
	pthread_mutex_lock(&mm->map_lock);
	struct sva_chunk *c = sva_chunks_after(&mm->chunks, addr);

	if (c && c->start <= addr) {
		have = true;
		cs = c->start;
		ce = c->end;
		cprot = c->prot;
		sva_pin_touch_locked(mm, c); /* pin budget: not evicted before this batch is answered */
	}
	pthread_mutex_unlock(&mm->map_lock);
	/* Already visible with enough rights: a fault that raced another one.
	 * An execute request still needs an executable mapping (checked below,
	 * as the kernel's SVA checks every fault): chunks carry no such right. */
	bool visible = have && (cprot & need & rw) == (need & rw);

	if (visible && !(need & SVA_PROT_EXEC))
		return 0;
	/* libsva's own memory is refused as such in every mode (-EXDEV). */
	if ((mm->flags & SVA_MM_PRIVATE) && !visible)
		return sva_excluded(addr) ? -EXDEV : have ? -EACCES : -ENOENT;
	/* Never the library's own memory; only allowed ranges when restricted. */
	ret = sva_reach_check_locked(mm, addr);
	if (ret)
		return ret;

	/*
	 * The VMA of the last fault first (faults cluster), then the process-wide
	 * cache; both are trusted until they disagree with a fault (then re-read
	 * once) or a coherence event says the mappings changed.
	 */
	if (mm->last_vma_gen == sva_vma_gen() && addr >= mm->last_vma.start && addr < mm->last_vma.end &&
	    (mm->last_vma.prot & need) == need) {
		vma = mm->last_vma;
		ret = 0;
	} else {
		unsigned gen = sva_vma_gen();

		ret = sva_vma_find(addr, false, mm->maps_fd, v);
		if ((ret || (v->prot & need) != need) && may_refresh)
			ret = sva_vma_find(addr, true, mm->maps_fd, v);
		if (ret)
			return ret;
		mm->last_vma = vma;
		mm->last_vma_gen = gen;
	}
	if ((v->prot & need) != need || !(v->prot & rw))
		return -EACCES;
	if (visible)
		return 0;
	r = sva_mm_window_find_locked(mm, addr, addr + 1, false);
	if (!r)
		return -ERANGE;

	/* A fault inside a huge page maps the whole page, so iommufd can use a large IOPTE. */
	size = sva_fa_window(fa, addr, mm->fa_cap, v->prot & (SVA_VMA_HUGETLB | SVA_VMA_THP), &ws, &we);
	/* Other faults of this batch on adjacent pages: one map for the whole run
	 * (in huge pages, the whole pages that hold it: a run's ends are 4 KiB
	 * pages, and a huge page split between chunks never gets one IOPTE). */
	if (run_end > we)
		we = run_end;
	if (run_end && run_start < ws)
		ws = run_start;
	if (v->prot & (SVA_VMA_HUGETLB | SVA_VMA_THP)) {
		ws &= ~(HUGE - 1);
		we = (we + HUGE - 1) & ~(HUGE - 1); /* 0 past the top: clipped to the VMA below */
	}
	if (ws < v->start)
		ws = v->start;
	if (we > v->end || we < ws)
		we = v->end;
	if (ws < r->start)
		ws = r->start;
	if (we - 1 > r->last)
		we = r->last + 1;
	sva_reach_clip_locked(mm, addr, &ws, &we);
	/* The broker maps a window inside one shared range, or nothing. */
	if (ws < ss)
		ws = ss;
	if (we > se)
		we = se;

	/* A write into a chunk mapped read-only: the VMA has become writable since.
	 * The chunk comes back writable, whole, whatever its size (upgrade.c),
	 * and as it was if that fails. */
	if (have) {
		/* The chunk comes back whole: all of it must still be reachable
		 * (a deny whose unmap failed left it; the arena never overlaps one
		 * mapped before, but checking costs nothing next to an upgrade). */
		if (sva_excluded_overlaps(cs, ce))
			return -EXDEV;
		if ((mm->flags & SVA_MM_RESTRICTED) && !sva_rset_covers(&mm->allowed, cs, ce))
			return -ENXIO;
		if (mm->pin.budget)
			ws = we; /* pin budget: the chunk alone (its bytes are mapped back), no window */
		ret = sva_mm_upgrade_locked(mm, cs, ce, cprot, SVA_MAP_FAULT | SVA_MAP_AROUND, v, ws, we, &mapped);
		/* A window the kernel will not pin all of, or whose gaps take the
		 * maps past what one call can undo, or in another userfaultfd's
		 * mapping: the chunk alone. */
		if ((ret == -EPERM || ret == -EFAULT || ret == -E2BIG || ret == -EBUSY) && ws < we)
			ret = sva_mm_upgrade_locked(mm, cs, ce, cprot, SVA_MAP_FAULT, v, we, we, &mapped);
		if (!ret)
			*pages = mapped / PAGE;
		return ret == -ESTALE ? -EACCES : ret; /* made read-only again: a write is refused */
	}
	/* Within the pin budget: evicts cold chunks, or maps less, down to addr's page. */
	uint64_t asked = we - ws, ws0 = ws, we0 = we;
	struct sva_vma ro;

	ret = sva_pin_map_fault_locked(mm, v, addr, &ws, &we, reserve, &mapped);
	/* A broker maps a memfd shared read-only (or sealed against writes
	 * since) for reads only, and refuses a writable map whole: a fault
	 * that does not write takes the pages read-only, as a process's
	 * PROT_READ mapping of it would (a later write fault is refused). */
	if (ret == -EACCES && !(need & SVA_PROT_WRITE) && (v->prot & SVA_PROT_WRITE)) {
		ro = *v;
		ro.prot &= ~(uint32_t)SVA_PROT_WRITE;
		v = &ro;
		ws = ws0;
		we = we0;
		ret = sva_pin_map_fault_locked(mm, v, addr, &ws, &we, reserve, &mapped);
	}
	if (ret) {
		bool unpinnable = ret == -EPERM || ret == -EFAULT;

		/* The cache may be stale (the VMA changed under us): once more, fresh. */
		if (unpinnable && may_refresh) {
			mm->last_vma.end = 0;
			ret = sva_vma_find(addr, true, mm->maps_fd, v);
			return ret ? ret : resolve_locked(mm, fa, addr, run_start, run_end, need, reserve, pages, false);
		}
		/*
		 * Fault-around only saves faults: a neighbour the kernel will not
		 * pin (past the end of a file, a guard page) must not refuse a
		 * fault its own page resolves, as the kernel's SVA would; and in a
		 * mapping another userfaultfd has (-EBUSY, mm_map.c) a neighbour
		 * its owner has not supplied would make the pin wait for its
		 * handler.  The page alone, then.
		 */
		if (!(unpinnable || ret == -EBUSY) || we - ws <= PAGE)
			return ret;
		ws = addr;
		we = addr + PAGE;
		ret = sva_pin_map_fault_locked(mm, v, addr, &ws, &we, reserve, &mapped);
		if (ret)
			return ret;
	}
	/*
	 * The VMA was read before the map: if the process unmapped it since and
	 * the arena reserved the hole (excluded before any of it is committed),
	 * the map pinned library memory.  The fault is not answered yet, so no
	 * device has used it: withdraw it and refuse.
	 */
	if (sva_excluded_overlaps(ws, we)) {
		pthread_mutex_lock(&mm->map_lock);
		sva_mm_withdraw_locked(mm, ws, we, NULL);
		pthread_mutex_unlock(&mm->map_lock);
		return -EXDEV;
	}
	/* A window the budget shrank: the ramp goes on from what fitted. */
	fa->size = we - ws < asked && we - ws < size ? we - ws : size;
	fa->next = we;
	*pages = mapped / PAGE;
	return 0;
}

int sva_mm_resolve_fault(struct sva_mm *mm, struct sva_fa_state *fa, uint64_t addr, uint64_t run_start,
			 uint64_t run_end, uint32_t access, uint64_t reserve, uint64_t *pages)
{
	int ret;

	*pages = 0;
	/* User SVA never grants supervisor access (the kernel's SVA refuses it too). */
	if (access & SVA_ACCESS_PRIV)
		return -EPERM;
	pthread_mutex_lock(&mm->lock);
	ret = resolve_locked(mm, fa, addr & ~(PAGE - 1), run_start, run_end, need_prot(access), reserve, pages, true);
	pthread_mutex_unlock(&mm->lock);
	sva_mm_reap(mm);
	return ret;
}
