/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Withdrawing chunks from an address space: the one path by which mapped
 * memory leaves an IOAS, for coherence events, sva_mm_invalidate(), undo and
 * pin-budget eviction (pin_budget.c).
 * Everything here runs under mm->map_lock and frees nothing (withdrawn chunks
 * wait in mm->grave for sva_mm_reap()), so the coherence monitor can call it.
 */
#ifndef LIBSVA_WITHDRAW_H
#define LIBSVA_WITHDRAW_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "internal.h"

struct sva_mm;

/* Chunk flag: mapped by a fault while a REMOVE over it may not have been zapped
 * yet; withdrawn once more by the next check (sva_mm_settle). */
#define SVA_CHUNK_SUSPECT 0x100u

/* A REMOVE's range is first checked this long after its event (the zap of an
 * ordinary range is over by then), then every as long again. */
#define SVA_REMOVE_SETTLE_NS 20000000ull /* 20 ms */
/* For this long after a REMOVE event, a fault's map of its range is suspect
 * (withdrawn at the next check): a zap of a large range on a slow machine can
 * outlast the first check, and a fault between the two kept the old page. */
#define SVA_REMOVE_HORIZON_NS 500000000ull /* 500 ms */

/*
 * Unmap every chunk overlapping [start, end) from the IOAS (mm->map_lock
 * held).  Returns the bytes withdrawn; *failed (if not NULL) counts chunks the
 * kernel refused to unmap (they stay).  ENOENT (unmapped behind our back)
 * counts as withdrawn.
 */
uint64_t sva_mm_withdraw_locked(struct sva_mm *mm, uint64_t start, uint64_t end, unsigned *failed);

/* sva_mm_invalidate(), its lines naming fn: the call the application made
 * (sva_mem_free() withdraws with it). */
long sva_mm_invalidate_as(struct sva_mm *mm, const void *addr, size_t len, const char *fn);

/* The monitor's entry: a coherence event on [start, end) (remove: a REMOVE,
 * whose zap may still be running), at time now. */
void sva_mm_withdraw_event(struct sva_mm *mm, uint64_t start, uint64_t end, bool remove, uint64_t now);

/*
 * Suspect chunks whose REMOVE has settled (or all of them, with force: a
 * fence) are withdrawn once more; REMOVEs past their horizon are dropped (with
 * force too).  Returns when the next check is due (0: nothing left).
 */
uint64_t sva_mm_settle(struct sva_mm *mm, uint64_t now, bool force);

/* SVA_CHUNK_SUSPECT if [start, end) overlaps a REMOVE that has not settled at
 * `now` (mm->map_lock held), else 0. */
uint32_t sva_mm_remove_pending_locked(struct sva_mm *mm, uint64_t start, uint64_t end, uint64_t now);

/*
 * Withdraw the suspect chunks overlapping [start, end) now (takes
 * mm->map_lock; the caller holds mm->lock, so no fault makes another).  For
 * sva_mm_prefault(): a range stays pending after its fence, and a suspect chunk
 * a fault made since would count as prefaulted, then go at the monitor's next
 * check.  Returns the bytes withdrawn.
 */
uint64_t sva_mm_withdraw_suspect(struct sva_mm *mm, uint64_t start, uint64_t end);

/* A chunk flagged SVA_CHUNK_SUSPECT was inserted (mm->map_lock held). */
void sva_mm_note_suspect_locked(struct sva_mm *mm);

/* The monitor failed: mm is no longer tracked (logged once). */
void sva_mm_tracking_lost(struct sva_mm *mm, int err);
void sva_mm_tracking_lost_locked(struct sva_mm *mm, int err); /* map_lock held */

/* Free the chunks withdrawn so far and write the log lines owed (never on the
 * monitor, never under map_lock: free() may munmap, a log callback may free()).
 * The fault path calls this after every fault: no lock, and inline no call
 * (a call costs 50-100 ns under the VM's emulation), when there is nothing. */
void sva_mm_reap_hinted(struct sva_mm *mm);
static inline void sva_mm_reap(struct sva_mm *mm)
{
	if (atomic_load_explicit(&mm->reap_hint, memory_order_relaxed))
		sva_mm_reap_hinted(mm);
}

#endif
