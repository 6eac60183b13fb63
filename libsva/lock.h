/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The PASID allocator's mutex: cheap when uncontended, sleeping when not.
 *
 * Why not pthread_mutex_t: an allocate+free pair takes the lock twice, and
 * four out-of-line lock/unlock calls (each dispatching on the mutex type and,
 * with threads, each a locked instruction) cost as much as the allocator's
 * own work.  This lock is inline and saves on both:
 *
 *  - Single-threaded process: while the process has never had a second
 *    thread (glibc's __libc_single_threaded, the flag glibc's own locks
 *    test), nothing can contend, so acquire and release are plain stores.
 *    The flag only goes from true to false, in pthread_create() before the
 *    new thread runs, so a lock taken that way is released that way.
 *
 *  - Threaded process, "asymmetric" mode: acquire is one compare-and-swap,
 *    release is a plain store followed by a plain load of the waiter count.
 *    Between a store and a later load of another variable x86 and arm64 may
 *    reorder (the store waits in the store buffer), which could let a
 *    releaser miss a waiter that just went to sleep.  The waiter pays for
 *    that instead: after counting itself it calls
 *    membarrier(MEMBARRIER_CMD_PRIVATE_EXPEDITED), which runs a full barrier
 *    on every CPU running a thread of this process.  Every releaser then
 *    either had its store drained before the waiter's check (the waiter sees
 *    the lock free and takes it) or loads the count after the barrier (and
 *    wakes the waiter).  This is the asymmetric Dekker pattern of liburcu's
 *    membarrier flavour and folly's asymmetric barriers: rare waiters pay a
 *    system call so that every release saves a locked instruction.
 *
 *  - Threaded process, "symmetric" mode (no membarrier: old kernels, seccomp
 *    filters, kernels built without it, or $SVA_NO_MEMBARRIER set): release
 *    is a sequentially consistent store, i.e. a locked instruction, and the
 *    waiter a full fence.
 *
 * The mode is chosen once, at the first sva_lock_init() (the first PASID
 * space), before any lock can be used, and never changes.  Waiters spin
 * briefly, then sleep on a futex.  Critical sections are short and never call
 * user code.  Not recursive; no owner checks; like a pthread mutex it must not
 * be held across fork().
 */
#ifndef LIBSVA_LOCK_H
#define LIBSVA_LOCK_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "config.h"

#if HAVE_DECL___LIBC_SINGLE_THREADED
#include <sys/single_threaded.h>
#endif

struct sva_lock {
	_Atomic uint32_t held;	  /* 0 or 1; the futex word */
	_Atomic uint32_t waiters; /* threads in sva_lock_wait() */
};

enum sva_lock_mode {
	SVA_LOCK_SYMMETRIC,  /* release: a locked instruction */
	SVA_LOCK_ASYMMETRIC, /* release: plain store + load; waiters use membarrier */
};

/* Set once by the first sva_lock_init(); read by every release. */
extern enum sva_lock_mode sva_lock_mode_;

static inline bool sva_single_threaded(void)
{
#if HAVE_DECL___LIBC_SINGLE_THREADED
	return __libc_single_threaded;
#else
	return false;
#endif
}

/* In a spin-wait loop: let the other hyperthread run, save power. */
static inline void sva_cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#elif defined(__aarch64__)
	__asm__ __volatile__("yield" ::: "memory");
#endif
}

/* Choose the mode (first call only) and initialize l. */
void sva_lock_init(struct sva_lock *l);
/* Choose the mode (first call only) and return it: for tests and reports. */
enum sva_lock_mode sva_lock_mode(void);

/* The contended halves, out of line (lock.c). */
void sva_lock_wait(struct sva_lock *l);
void sva_lock_wake(struct sva_lock *l);

static inline void sva_lock_acquire(struct sva_lock *l)
{
	uint32_t free_word = 0;

	if (sva_single_threaded()) {
		atomic_store_explicit(&l->held, 1, memory_order_relaxed);
		return;
	}
	if (__builtin_expect(!atomic_compare_exchange_strong_explicit(&l->held, &free_word, 1, memory_order_acquire,
								      memory_order_relaxed), 0))
		sva_lock_wait(l);
}

static inline void sva_lock_release(struct sva_lock *l)
{
	if (sva_single_threaded()) {
		atomic_store_explicit(&l->held, 0, memory_order_relaxed);
		return;
	}
	if (sva_lock_mode_ == SVA_LOCK_ASYMMETRIC) {
		atomic_store_explicit(&l->held, 0, memory_order_release);
		/* Only the compiler must keep the load after the store; the
		 * CPU's side is the waiter's membarrier (see the top). */
		atomic_signal_fence(memory_order_seq_cst);
		if (__builtin_expect(atomic_load_explicit(&l->waiters, memory_order_relaxed) != 0, 0))
			sva_lock_wake(l);
		return;
	}
	atomic_store_explicit(&l->held, 0, memory_order_seq_cst);
	if (__builtin_expect(atomic_load_explicit(&l->waiters, memory_order_seq_cst) != 0, 0))
		sva_lock_wake(l);
}

#endif /* LIBSVA_LOCK_H */
