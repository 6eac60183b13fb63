/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The pin budget of an address space (pin_account.c, pin_budget.c): how many bytes its IOAS
 * may pin, and the eviction of cold fault-mapped chunks that keeps it there.
 * Prefaulted chunks are never evicted (pinned-mode devices cannot fault them
 * back); chunks mapped for a batch of faults not answered yet are not either.
 */
#ifndef LIBSVA_PIN_BUDGET_H
#define LIBSVA_PIN_BUDGET_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

struct sva_mm;
struct sva_vma;
struct sva_map_undo;
struct sva_fault_engine;

/* Chunk flags (chunk->prot, beside SVA_CHUNK_SUSPECT 0x100). */
#define SVA_CHUNK_PINNED 0x200u /* mapped by sva_mm_prefault(): never evicted */
#define SVA_CHUNK_REF 0x400u	/* mapped or used by a fault since the CLOCK hand passed */

/* Recently evicted 64 KiB granules, to count re-faults (direct-mapped). */
#define SVA_PIN_REFAULT_SLOTS 1024u

struct sva_pin_budget {
	uint64_t budget; /* bytes; 0: unbounded (read without locks: set once at creation) */
	/* Under mm->map_lock: */
	uint64_t pinned; /* bytes of SVA_CHUNK_PINNED chunks */
	uint64_t hand;	 /* the CLOCK hand: an address; the next victim is at or after it */
	/* Granule + 1; 0: empty.  Written under map_lock, read and cleared by a
	 * fault without it (atomics: one relaxed load on the fault path). */
	_Atomic uint64_t refault_slot[SVA_PIN_REFAULT_SLOTS];
	/* Statistics, read lock-free by sva_mm_stats(). */
	_Atomic uint64_t peak, evictions, bytes_evicted, refaults;
	/* The process's donors (pin_budget.c), under its lock. */
	struct sva_mm *donor_next;
	bool donor;
};

/* The default budget: RLIMIT_MEMLOCK's soft limit when the process lacks
 * CAP_IPC_LOCK and the limit is finite, else 0 (unbounded). */
uint64_t sva_pin_default_budget(void);
/* For a log line about the kernel's -ENOMEM when pinning: what to do, told
 * apart by whether RLIMIT_MEMLOCK binds this process at all. */
const char *sva_pin_enomem_advice(void);

/* pin_account.c: the accounting, reported by maps, withdrawals and batches. */

/* The chunk flags for a map of kind `how` (SVA_MAP_FAULT or not):
 * sva_pin_chunk_flags(), inline in internal.h with sva_pin_batch(). */

/* A chunk was just inserted (map_lock held): stamp it for the batch in
 * flight, count it. */
struct sva_chunk;
void sva_pin_mapped_locked(struct sva_mm *mm, struct sva_chunk *c);

/* A chunk with `flags` of `bytes` is leaving the table (withdraw.c, map_lock held). */
void sva_pin_withdrawn_locked(struct sva_mm *mm, uint32_t flags, uint64_t bytes);

/* A fault found chunk c already mapped (map_lock held): keep it for the batch in flight. */
void sva_pin_touch_locked(struct sva_mm *mm, void *chunk);

/* The chunk at addr, if any, is kept for the batch in flight (takes
 * map_lock): a fault of the group in progress when the engine answered the
 * batch's earlier groups early to make room (fault.c). */
void sva_pin_keep(struct sva_mm *mm, uint64_t addr);

/* The batch in flight, or 0 between batches (the count is odd during one). */
uint32_t sva_pin_batch_in_flight(struct sva_mm *mm);

/* pin_budget.c: the policy (eviction, fault windows, prefault), above the
 * map primitives (mm_map.c) and withdrawal that it calls. */

/*
 * The largest fault window a budget allows: the largest power of two that
 * fits in a quarter of it, at least a page; UINT64_MAX for no budget (0).  A
 * window as large as the budget would evict everything else at every fault,
 * and the faults of one batch (not evictable until it is answered) would
 * starve the last ones of room.
 */
uint64_t sva_pin_window_cap(uint64_t budget);

/*
 * Map the gaps of the fault window [*ws, *we) around page addr in VMA v
 * (mm->lock held), within the budget: cold chunks are evicted to make room,
 * and a window that still does not fit, or that the kernel refuses with
 * -ENOMEM (its memlock limit, shared with the rest of the user's pins), is
 * halved down to the faulting page.  A window larger than the page must also
 * leave `reserve` bytes of room (the later faults of the batch: their pages
 * must not go to this one's neighbours).  On success [*ws, *we) is what was
 * asked of the IOAS and *mapped grows by the bytes mapped.  0 or the raw
 * -errno (undo taken back): -ENOMEM when not even the page fits.
 */
int sva_pin_map_fault_locked(struct sva_mm *mm, const struct sva_vma *v, uint64_t addr, uint64_t *ws,
			     uint64_t *we, uint64_t reserve, uint64_t *mapped);

/*
 * Before sva_mm_prefault() maps [start, end) (mm->lock held): fail if the
 * budget cannot hold it beside what is pinned already (-ENOSPC), or if faults
 * in flight hold the rest of it for now (-EAGAIN), changing nothing; else make
 * room by evicting cold chunks and mark the chunks already visible in the
 * range pinned.
 */
int sva_pin_prefault_locked(struct sva_mm *mm, uint64_t start, uint64_t end);

/* The kernel refused to map [start, end) for sva_mm_prefault() with ENOMEM
 * (mm->lock held): evict as much fault-mapped memory outside it as its gaps
 * need.  The bytes freed. */
uint64_t sva_pin_evict_for_locked(struct sva_mm *mm, uint64_t start, uint64_t end);

/* After sva_mm_prefault() mapped [start, end): every chunk there is pinned now. */
void sva_pin_prefault_done_locked(struct sva_mm *mm, uint64_t start, uint64_t end);

/*
 * The donors: this process's address spaces whose maps the kernel charges to
 * the user's RLIMIT_MEMLOCK under a budget (not an isolated broker client's,
 * which the broker maps).  When the kernel's -ENOMEM meets an address space
 * with nothing of its own to evict, the others give up cold fault-mapped
 * memory, so two address spaces with the default budget (each the whole
 * limit) share it instead of the first starving the second.  Add after
 * sva_mm_new() has set the budget; remove before the address space goes
 * (nothing held: the list's lock is taken before any map_lock).
 */
void sva_pin_donor_add(struct sva_mm *mm);
void sva_pin_donor_remove(struct sva_mm *mm);

#endif
