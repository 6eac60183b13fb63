/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * What a device may reach (reach.c): the library's own memory never, and in a
 * restricted address space (SVA_MM_RESTRICTED) only the ranges the driver
 * allowed.  Resolution asks here before it maps anything, and clips its
 * window here, so fault-around and batched runs never cross a boundary.
 */
#ifndef LIBSVA_REACH_H
#define LIBSVA_REACH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Sorted, disjoint, non-adjacent [start, end) ranges (the allowed ranges of
 * a restricted address space).  All zero: empty.  Arena memory. */
struct sva_rset {
	struct sva_range2 {
		uint64_t start, end;
	} *v;
	size_t n, cap;
};

/* Add [start, end) (start < end), merging what it touches.  0 or -ENOMEM
 * (nothing changed). */
int sva_rset_add(struct sva_rset *s, uint64_t start, uint64_t end);
/* Remove [start, end), splitting a range it is inside.  0 or -ENOMEM
 * (nothing changed). */
int sva_rset_del(struct sva_rset *s, uint64_t start, uint64_t end);
/* The range holding addr, or NULL. */
const struct sva_range2 *sva_rset_find(const struct sva_rset *s, uint64_t addr);
/* Is all of [start, end) inside the set? */
bool sva_rset_covers(const struct sva_rset *s, uint64_t start, uint64_t end);
/* Add to out what of [start, end) s holds.  0 or -ENOMEM (out may have
 * taken part of it). */
int sva_rset_add_part(struct sva_rset *out, const struct sva_rset *s, uint64_t start, uint64_t end);
void sva_rset_fini(struct sva_rset *s);

struct sva_mm;

/* May a fault at page addr be resolved in mm (mm->lock held)?  0, -EXDEV
 * the library's own memory, -ENXIO outside the allowed ranges of a restricted
 * address space. */
int sva_reach_check_locked(struct sva_mm *mm, uint64_t addr);
/* Narrow the window [*ws, *we) around addr (which passed the check) to what
 * the device may reach (mm->lock held). */
void sva_reach_clip_locked(struct sva_mm *mm, uint64_t addr, uint64_t *ws, uint64_t *we);
/* May [start, end) be prefaulted (mm->lock held)?  0, -EXDEV, or -EACCES
 * not all of it allowed in a restricted address space. */
int sva_reach_prefault_locked(struct sva_mm *mm, uint64_t start, uint64_t end);
/*
 * What a call may have to undo: what a deny took away, to allow again
 * (sva_mem_free(), after a refused munmap), or what an allow added, to deny
 * again (sva_mem_alloc(), after a later step failed).  On mm's list, under
 * mm->lock, from the call until it is restored or dropped, so that every
 * later call that would be reversed by it takes its range out of it: a deny
 * out of a deny's undo, an allow out of an allow's.  Another thread's deny or
 * allow made meanwhile, and that returned 0, is then never undone: whatever
 * the order the two calls are taken in, what it denied ends denied, what it
 * allowed ends allowed.
 */
struct sva_reach_undo {
	struct sva_rset set;	     /* a deny's: what of the range was allowed before it;
					an allow's: what of the range it added */
	bool deny;		     /* an allow's undo (it denies set) */
	bool lost;		     /* a deny's: a later deny could not be taken out of it (no memory) */
	struct sva_reach_undo *next; /* mm->undos */
};

/* sva_mm_allow() with undo (zeroed, not NULL): what of the range was not
 * allowed yet goes into it, under the same lock as the allow, and it joins
 * mm's list: the caller then must end it with sva_reach_restore() or
 * sva_reach_undo_drop().  Its errors are sva_mm_allow()'s, logged naming fn,
 * nothing changed (undo not on the list): -ENOMEM also when a pending undo
 * of another call has no room to take the range out of. */
int sva_reach_allow(struct sva_mm *mm, const void *addr, size_t len, struct sva_reach_undo *undo, const char *fn);
/* sva_mm_deny() without its -EIO: 0 with *failed (if not NULL) the chunks
 * the kernel refused to unmap, unlogged, for a caller that retries them and
 * logs what still fails (sva_mem_free(): one failure, one line).  With undo
 * not NULL (zeroed), what was allowed of the range goes into it first, under
 * the same lock, and it joins mm's list: the caller then must end it with
 * sva_reach_restore() or sva_reach_undo_drop().  Its other errors are
 * sva_mm_deny()'s, logged naming fn (the call the application made),
 * nothing changed (undo not on the list). */
int sva_reach_deny(struct sva_mm *mm, const void *addr, size_t len, unsigned *failed, struct sva_reach_undo *undo,
		   const char *fn);
/* End undo, putting back what its call changed, less what calls made since
 * set: a deny's allows again what the deny took (needs no memory, so cannot
 * fail, unless another thread changed the allowances of mm since); an
 * allow's denies what the allow added and withdraws it, *failed (if not
 * NULL) the chunks the kernel refused to unmap.  0 or -ENOMEM (part of it
 * stays as it is), unlogged. */
int sva_reach_restore(struct sva_mm *mm, struct sva_reach_undo *undo, unsigned *failed);
/* End undo without putting anything back. */
void sva_reach_undo_drop(struct sva_mm *mm, struct sva_reach_undo *undo);

#endif /* LIBSVA_REACH_H */
