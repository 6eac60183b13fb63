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
 * out a fork.  The handler goes on by turning a count of 0 into PASSED, so
 * a thread counting itself in learns whether the fork has gone past the
 * wait: the flag alone cannot tell a fork that still waits for sections
 * from one making the child.  Sections nest (a log line under the device
 * list's lock): a thread already inside enters again without waiting.  They
 * are short and call nothing that forks, so the handler yields until they
 * are done.
 *
 * Signal handlers: a lookup that fails logs, and may run in a handler on a
 * thread that is anywhere here.  depth counts only sections entered, so a
 * handler on a thread that waits out a fork is not taken for a nested
 * section (it was, and went into the log's lock while the child was being
 * made: the child could inherit it held).  But on its way in or out a thread
 * may hold a count in `inside` that depth does not show, and a handler
 * cannot tell whether the one atomic step happened; waiting for the fork
 * there could wait for a fork that waits for that count.  `moving` marks
 * those stretches (the wait included), and a handler entering inside one
 * waits only for a fork that has passed (which waits for no count any more),
 * not for one still waiting for sections: its own count then holds that
 * fork off until it leaves, whether or not the interrupted thread's was in.
 * A handler on the forking thread itself, between block and unblock, would
 * wait for an unblock only that thread makes: the fork handlers (ctx.c)
 * hold signals off across that stretch, so none runs there.
 */
#include <limits.h>
#include <linux/futex.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "fork_guard.h"

#define PASSED (UINT_MAX / 2 + 1) /* in inside: the fork went past the wait */

static _Atomic unsigned inside;	/* threads inside a section (or counting themselves in), + PASSED */
static _Atomic uint32_t blocked; /* 1 while a fork is under way: the futex word */

/*
 * This thread's, and read and written by its signal handlers too.  C11
 * (7.14.1.1) lets a handler refer to an object of static or thread storage
 * only if it is a lock-free atomic (a volatile sig_atomic_t may only be
 * assigned, never read, there): so _Atomic, asserted lock-free.  Only this
 * thread touches them, so each access is relaxed, a plain load or store on
 * every target (no lock prefix, no barrier instruction: the fault path's
 * sections cost what they did), and depth's steps are a load and a store, not
 * a read-modify-write: a handler that runs between the two leaves depth as it
 * found it.  Their order among the count's steps, which a handler relies on,
 * is kept by HANDLER_FENCE() below.
 */
static _Thread_local _Atomic unsigned depth; /* sections this thread has entered and not left */
static _Thread_local _Atomic bool moving;    /* this thread's count is changing: on its way in or out */
_Static_assert(ATOMIC_INT_LOCK_FREE == 2 && ATOMIC_BOOL_LOCK_FREE == 2,
	       "a signal handler may only use lock-free atomics (depth, moving)");

#define MINE_LOAD(v) atomic_load_explicit(&(v), memory_order_relaxed)
#define MINE_STORE(v, x) atomic_store_explicit(&(v), (x), memory_order_relaxed)

#ifdef SVA_TEST_HOOKS
/* Tests only (libsva-test): called where this thread's count in `inside`
 * changes, on its way in (just counted) and out (about to uncount), where a
 * signal handler that enters a section must still get it right. */
void (*sva_test_fork_guard_hook)(void);
#define GUARD_HOOK() (sva_test_fork_guard_hook ? sva_test_fork_guard_hook() : (void)0)

/* Tests only: the threads counted inside a section (one that is gone and
 * still counted holds every later fork up for ever). */
unsigned sva_test_fork_guard_inside(void);
unsigned sva_test_fork_guard_inside(void)
{
	return atomic_load(&inside);
}
#else
#define GUARD_HOOK() ((void)0)
#endif

/* depth and moving are this thread's, read by its signal handlers: the
 * compiler must keep their stores where they are among the count's steps. */
#define HANDLER_FENCE() atomic_signal_fence(memory_order_seq_cst)

void sva_fork_guard_enter(void)
{
	unsigned d = MINE_LOAD(depth);

	if (d) {
		MINE_STORE(depth, d + 1);
		return;
	}
	/* A handler that interrupted this thread's way in or out (see above). */
	bool interrupting = MINE_LOAD(moving);

	MINE_STORE(moving, true);
	HANDLER_FENCE();
	for (;;) {
		unsigned was = atomic_fetch_add(&inside, 1);

		GUARD_HOOK();
		if (!(was & PASSED) && (interrupting || !atomic_load(&blocked)))
			break;
		atomic_fetch_sub(&inside, 1);
		while (atomic_load(&blocked))
			syscall(SYS_futex, &blocked, FUTEX_WAIT_PRIVATE, 1, NULL, NULL, 0);
	}
	MINE_STORE(depth, 1);
	HANDLER_FENCE();
	MINE_STORE(moving, interrupting);
}

void sva_fork_guard_leave(void)
{
	unsigned d = MINE_LOAD(depth);

	if (d > 1) {
		MINE_STORE(depth, d - 1);
		return;
	}
	bool interrupting = MINE_LOAD(moving);

	MINE_STORE(moving, true);
	HANDLER_FENCE();
	MINE_STORE(depth, 0);
	HANDLER_FENCE();
	GUARD_HOOK();
	atomic_fetch_sub(&inside, 1);
	HANDLER_FENCE();
	MINE_STORE(moving, interrupting);
}

void sva_fork_guard_block(void)
{
	unsigned none = 0;

	atomic_store(&blocked, 1);
	while (!atomic_compare_exchange_weak(&inside, &none, PASSED)) {
		none = 0;
		sched_yield();
	}
}

/* PASSED goes before the flag: a thread woken by the flag finds it gone. */
void sva_fork_guard_unblock(void)
{
	atomic_fetch_sub(&inside, PASSED);
	atomic_store(&blocked, 0);
	syscall(SYS_futex, &blocked, FUTEX_WAKE_PRIVATE, INT_MAX, NULL, NULL, 0);
}

/*
 * fork() from a signal handler that interrupted this thread inside a section
 * (libsva(7) forbids it) waits in sva_fork_guard_block() for a count only
 * this thread, stuck in the handler, can take back: it used to hang without a
 * word, spinning, with every signal held (only SIGKILL ended it).  Nothing
 * can make the fork fail (a prepare handler returns nothing); letting it go on
 * without this thread's section would give the child that section half done
 * (and the arena's prepare handler may then wait for a lock the section
 * holds); abort() is what libsva promises never to call (sva.h,
 * test-install.sh).  So it says which rule was broken, with write() (this
 * runs in a signal handler, and the log's lock may be the one the section
 * holds), and then, the hang being certain, sleeps before any signal is held:
 * no CPU burnt, and a signal whose default action ends the process (SIGTERM,
 * SIGINT, SIGQUIT for a core) ends it.  On its way in or out the count may or
 * may not be in (see above): that fork may go through, so it only says so
 * and goes on.  Two thread-local loads per fork otherwise.
 */
void sva_fork_guard_check_self(void)
{
	static const char inside_msg[] =
		"libsva: fork() was called from a signal handler that interrupted a libsva call on the same "
		"thread (libsva(7), which forbids it): the fork waits for ever for that call; this thread now "
		"sleeps for good, end the process\n";
	static const char moving_msg[] =
		"libsva: fork() was called from a signal handler that interrupted a libsva call on the same "
		"thread (libsva(7), which forbids it): the fork may wait for ever for that call\n";
	bool in = MINE_LOAD(depth) != 0;

	if (!in && !MINE_LOAD(moving))
		return;
	if (write(STDERR_FILENO, in ? inside_msg : moving_msg, (in ? sizeof(inside_msg) : sizeof(moving_msg)) - 1) <
	    0) {
		/* Nothing else to say it with. */
	}
	while (in)
		pause();
}

/* The child has one thread, in no section; a thread that was backing out
 * at the fork may have left its count in the copy, beside PASSED. */
void sva_fork_guard_unblock_child(void)
{
	atomic_store(&inside, 0);
	atomic_store(&blocked, 0);
}
