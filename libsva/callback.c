/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Which user callback this thread is inside.  A thread inside mm_exit or
 * fault_error must not wait for a teardown: the one it would wait for may be
 * its own; one inside a log callback may hold any of libsva's locks.  The
 * thread-local depth lets those calls refuse instead (sva.h, "Callbacks").
 * A leaf: the files that run callbacks (bond.c, fault.c, log.c) sit below
 * teardown.c and the calls that refuse (ctx.c, dev.c, mm.c) above it, so the
 * mark can live in neither.
 */
#include <stdatomic.h>
#include <stddef.h>

#include "callback.h"

/*
 * Signal handlers read it too (a handler's log line asks whether its thread
 * is inside a log callback: log.c).  C11 (7.14.1.1) lets a handler refer to
 * an object of thread storage only if it is a lock-free atomic: so _Atomic,
 * asserted lock-free.  Only this thread writes it, so each access is relaxed
 * (a plain load or store), and a step is a load and a store, not a
 * read-modify-write: a handler that runs between the two returns with the
 * depth as it found it, as fork_guard.c's depth does.
 */
static _Thread_local _Atomic unsigned in_callback[3]; /* depth, by enum sva_callback */
_Static_assert(ATOMIC_INT_LOCK_FREE == 2,
	       "a signal handler may only use lock-free atomics (in_callback)");

#define DEPTH(cb) atomic_load_explicit(&in_callback[cb], memory_order_relaxed)
#define DEPTH_SET(cb, v) atomic_store_explicit(&in_callback[cb], (v), memory_order_relaxed)

void sva_callback_enter(enum sva_callback cb)
{
	DEPTH_SET(cb, DEPTH(cb) + 1);
}

void sva_callback_leave(enum sva_callback cb)
{
	DEPTH_SET(cb, DEPTH(cb) - 1);
}

bool sva_in_callback(void)
{
	return DEPTH(SVA_CB_MM_EXIT) || DEPTH(SVA_CB_FAULT_ERROR);
}

bool sva_in_fault_error(void)
{
	return DEPTH(SVA_CB_FAULT_ERROR) != 0;
}

bool sva_in_log_callback(void)
{
	return DEPTH(SVA_CB_LOG) != 0;
}

bool sva_in_fault_error_or_log(void)
{
	return DEPTH(SVA_CB_FAULT_ERROR) || DEPTH(SVA_CB_LOG);
}

bool sva_in_nested_log_callback(void)
{
	return DEPTH(SVA_CB_LOG) > 1;
}

const char *sva_callback_refusing(void)
{
	if (sva_in_callback())
		return "an mm_exit or fault_error callback";
	if (sva_in_log_callback())
		return "a log callback (or an atexit handler run by exit() in one)";
	return NULL;
}
