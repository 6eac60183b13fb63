/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * What fork() waits for.  A forked child may release what it inherited
 * (sva_dev_close(), sva_ctx_free()), which takes a context's device-list
 * and log locks; another thread of the parent holding one at the fork would
 * leave the child's copy locked for good.  The fork handler used to take
 * every context's two locks, which made its work grow with the number of
 * contexts and made ThreadSanitizer (at most 64 locks held by one thread)
 * abort past 31 contexts.  Now those sections enter this guard and the
 * handler blocks it: one wait whatever the number of contexts.
 *
 * Not a pthread read-write lock: glibc records a writer's thread ID, and a
 * forked child's thread has another, so the child could not release it (and
 * ThreadSanitizer does not take a re-initialized lock for a free one).  A
 * count of threads inside sections and a flag instead, Dekker-style (both
 * sequentially consistent: a section that counted itself after the handler
 * looked sees the flag and backs out), with a futex for threads that wait
 * out a fork.  Sections nest (a log line under the device list's lock): a
 * thread already inside enters again without waiting.  They are short and
 * call nothing that forks, so the handler yields until they are done.
 */
#include <limits.h>
#include <linux/futex.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "fork_guard.h"

static _Atomic unsigned inside;	    /* threads inside a section */
static _Atomic uint32_t blocked;    /* 1 while a fork is under way: the futex word */
static _Thread_local unsigned depth; /* this thread's nesting */

#ifdef SVA_TEST_HOOKS
/* Tests only (libsva-test): called where this thread's count in `inside`
 * changes, on its way in (just counted) and out (about to uncount), where a
 * signal handler that enters a section must still get it right. */
void (*sva_test_fork_guard_hook)(void);
#define GUARD_HOOK() (sva_test_fork_guard_hook ? sva_test_fork_guard_hook() : (void)0)
#else
#define GUARD_HOOK() ((void)0)
#endif

void sva_fork_guard_enter(void)
{
	if (depth++)
		return;
	for (;;) {
		atomic_fetch_add(&inside, 1);
		GUARD_HOOK();
		if (!atomic_load(&blocked))
			return;
		atomic_fetch_sub(&inside, 1);
		while (atomic_load(&blocked))
			syscall(SYS_futex, &blocked, FUTEX_WAIT_PRIVATE, 1, NULL, NULL, 0);
	}
}

void sva_fork_guard_leave(void)
{
	if (--depth)
		return;
	GUARD_HOOK();
	atomic_fetch_sub(&inside, 1);
}

void sva_fork_guard_block(void)
{
	atomic_store(&blocked, 1);
	while (atomic_load(&inside))
		sched_yield();
}

void sva_fork_guard_unblock(void)
{
	atomic_store(&blocked, 0);
	syscall(SYS_futex, &blocked, FUTEX_WAKE_PRIVATE, INT_MAX, NULL, NULL, 0);
}

/* The child has one thread, in no section; a thread that was backing out
 * at the fork may have left its count in the copy. */
void sva_fork_guard_unblock_child(void)
{
	atomic_store(&inside, 0);
	atomic_store(&blocked, 0);
}
