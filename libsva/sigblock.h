/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Signals held off across the few stores that lock-free readers wait for: a
 * PASID slot marked busy (pasid_space.c, pasid_map.c) and the RID pair's odd
 * count (bond.c).  A lookup there from a signal handler that interrupted the
 * writer on its own thread would wait for stores only the interrupted code
 * can make: for ever.  Held off, the signal arrives after the last store.
 * The writers are binds and unbinds, dozens of system calls each: two more
 * are nothing; the readers stay free of any.  Also around pthread_create()
 * (arena.c): libsva's threads start with every signal blocked; and across
 * each hold of a log's lock (log.c), which a failing lookup's debug line
 * takes.
 */
#ifndef LIBSVA_SIGBLOCK_H
#define LIBSVA_SIGBLOCK_H

#include <pthread.h>
#include <signal.h>

#ifdef SVA_TEST_HOOKS
/* Tests only (libsva-test, test_fail.c): called inside every such window. */
extern void (*sva_test_busy_window_hook)(void);
#define SVA_BUSY_WINDOW() (sva_test_busy_window_hook ? sva_test_busy_window_hook() : (void)0)
#else
#define SVA_BUSY_WINDOW() ((void)0)
#endif

static inline void sva_signals_hold(sigset_t *old)
{
	sigset_t all;

	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, old);
}

static inline void sva_signals_restore(const sigset_t *old)
{
	pthread_sigmask(SIG_SETMASK, old, NULL);
}

#endif
