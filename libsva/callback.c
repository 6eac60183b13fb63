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
#include <stddef.h>

#include "callback.h"

static _Thread_local unsigned in_callback[3]; /* depth, by enum sva_callback */

void sva_callback_enter(enum sva_callback cb)
{
	in_callback[cb]++;
}

void sva_callback_leave(enum sva_callback cb)
{
	in_callback[cb]--;
}

bool sva_in_callback(void)
{
	return in_callback[SVA_CB_MM_EXIT] || in_callback[SVA_CB_FAULT_ERROR];
}

bool sva_in_fault_error(void)
{
	return in_callback[SVA_CB_FAULT_ERROR] != 0;
}

bool sva_in_log_callback(void)
{
	return in_callback[SVA_CB_LOG] != 0;
}

bool sva_in_fault_error_or_log(void)
{
	return in_callback[SVA_CB_FAULT_ERROR] || in_callback[SVA_CB_LOG];
}

bool sva_in_nested_log_callback(void)
{
	return in_callback[SVA_CB_LOG] > 1;
}

const char *sva_callback_refusing(void)
{
	if (sva_in_callback())
		return "an mm_exit or fault_error callback";
	if (sva_in_log_callback())
		return "a log callback (or an atexit handler run by exit() in one)";
	return NULL;
}
