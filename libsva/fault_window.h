/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Adaptive fault-around (fault_window.c): how much of the address space one I/O
 * page fault maps, from where the last fault of the same bond went.  Pure
 * logic, so the unit tests can drive it without a kernel.
 */
#ifndef LIBSVA_FAULT_WINDOW_H
#define LIBSVA_FAULT_WINDOW_H

#include <stdbool.h>
#include <stdint.h>

/* The first window of a bond, and the size a non-adaptive libsva used. */
#define SVA_FA_START (64ull << 10)

/*
 * One bond's fault stream, under its address space's lock.  All zero: no
 * fault yet.
 */
struct sva_fa_state {
	uint64_t next; /* end of the last window: where an in-order fault lands */
	uint64_t size; /* bytes of the last window, before clipping (0: none yet) */
};

/*
 * The window [*ws, *we) for a fault at page `addr` (a user address: no
 * overflow near 2^64), at most `cap` bytes (a power of two, 4096 to 1 GiB)
 * unless `huge`.  Returns the new st->size.  A fault less than one window past
 * the end of the last one is in order: the window doubles (up to cap) and runs
 * forward from the fault, like the kernel's readahead ramp.  Any other fault
 * halves it (down to one page), aligned on its size around the fault, like the
 * kernel's fault-around.  With `huge` (a hugetlb or THP mapping) the window is
 * whole 2 MiB pages, at least one: an in-order one runs forward from the start
 * of the faulting huge page.  The caller clips the window to the mapping
 * and the reachable range, maps it, and only then (a fault that failed moves
 * nothing) stores the size and the end it mapped to in *st.
 */
uint64_t sva_fa_window(const struct sva_fa_state *st, uint64_t addr, uint64_t cap, bool huge, uint64_t *ws,
		       uint64_t *we);

/*
 * Faults of one bond in one batch this close (at most this many bytes of
 * unfaulted pages between them) are mapped as one run, gap included: one map
 * call costs far more than a few more pages in it.  32 KiB, less than the cap
 * (0 with a 4 KiB cap: no page that was not asked for).
 */
uint64_t sva_fa_bridge(uint64_t cap);

#endif /* LIBSVA_FAULT_WINDOW_H */
