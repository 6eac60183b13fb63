/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The mode choice and the contended paths of struct sva_lock (see lock.h). */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* secure_getenv() */
#endif
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "kabi.h"
#include "lock.h"

enum sva_lock_mode sva_lock_mode_ = SVA_LOCK_SYMMETRIC;

static pthread_once_t mode_once = PTHREAD_ONCE_INIT;

/* Polls before counting ourselves as a waiter: the lock is held for well
 * under a microsecond, so a waiter usually gets it without a system call. */
#define SPIN_ROUNDS 100

static long sys_membarrier(int cmd)
{
#ifdef SYS_membarrier
	return syscall(SYS_membarrier, cmd, 0u, 0);
#else
	(void)cmd;
	errno = ENOSYS;
	return -1;
#endif
}

static void choose_mode(void)
{
	long cmds;

	/* Ignored in setuid and file-capability programs (libsva(7), ENVIRONMENT). */
	if (secure_getenv("SVA_NO_MEMBARRIER"))
		return;
	/* Registration is per process and idempotent; in a process that already
	 * has threads the kernel waits for an RCU grace period, once. */
	cmds = sys_membarrier(KABI_MEMBARRIER_CMD_QUERY);
	if (cmds < 0 || !(cmds & KABI_MEMBARRIER_CMD_PRIVATE_EXPEDITED) ||
	    sys_membarrier(KABI_MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED) != 0)
		return;
	sva_lock_mode_ = SVA_LOCK_ASYMMETRIC;
}

enum sva_lock_mode sva_lock_mode(void)
{
	pthread_once(&mode_once, choose_mode);
	return sva_lock_mode_;
}

void sva_lock_init(struct sva_lock *l)
{
	pthread_once(&mode_once, choose_mode);
	atomic_init(&l->held, 0);
	atomic_init(&l->waiters, 0);
}

static inline bool try_take(struct sva_lock *l)
{
	uint32_t free_word = 0;

	return atomic_load_explicit(&l->held, memory_order_relaxed) == 0 &&
	       atomic_compare_exchange_strong_explicit(&l->held, &free_word, 1, memory_order_acquire,
						       memory_order_relaxed);
}

void sva_lock_wait(struct sva_lock *l)
{
	for (int i = 0; i < SPIN_ROUNDS; i++) {
		sva_cpu_relax();
		if (try_take(l))
			return;
	}
	const struct timespec *timeout = NULL;
	static const struct timespec one_ms = { 0, 1000000 };

	atomic_fetch_add_explicit(&l->waiters, 1, memory_order_seq_cst);
	/*
	 * The heavy side of the barrier pair (lock.h): from here on, a release
	 * either shows us held == 0 or sees waiters != 0 and wakes us.  Once
	 * registered the call cannot fail short of a kernel bug; if it does, a
	 * release could slip past unseen, so sleep in 1 ms slices rather than
	 * for good (the library never aborts).
	 */
	if (sva_lock_mode_ == SVA_LOCK_ASYMMETRIC) {
		if (sys_membarrier(KABI_MEMBARRIER_CMD_PRIVATE_EXPEDITED) != 0)
			timeout = &one_ms;
	} else {
		atomic_thread_fence(memory_order_seq_cst);
	}
	while (!try_take(l))
		/* Sleeps only while held is still 1; EAGAIN, EINTR and
		 * ETIMEDOUT just retry. */
		syscall(SYS_futex, &l->held, KABI_FUTEX_WAIT | KABI_FUTEX_PRIVATE_FLAG, 1u, timeout, NULL, 0);
	atomic_fetch_sub_explicit(&l->waiters, 1, memory_order_relaxed);
}

void sva_lock_wake(struct sva_lock *l)
{
	syscall(SYS_futex, &l->held, KABI_FUTEX_WAKE | KABI_FUTEX_PRIVATE_FLAG, 1, NULL, NULL, 0);
}
