/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Which process are we?  A forked child shares its parent's iommufd and VFIO
 * descriptors and must not touch them, so every call asks.  getpid() is a
 * system call on every call; a generation counter bumped in the child by a
 * pthread_atfork() handler answers with one load.  (A child made by a raw
 * clone() or _Fork() runs no handlers; vfork() and posix_spawn() children
 * only exec.)
 */
#include <pthread.h>
#include <stdatomic.h>

#include "fork.h"

static atomic_uint g_gen;
static pthread_once_t g_once = PTHREAD_ONCE_INIT;

static void in_child(void)
{
	atomic_fetch_add_explicit(&g_gen, 1, memory_order_relaxed);
}

static void install(void)
{
	pthread_atfork(NULL, NULL, in_child);
}

unsigned sva_fork_gen_init(void)
{
	pthread_once(&g_once, install);
	return sva_fork_gen();
}

unsigned sva_fork_gen(void)
{
	return atomic_load_explicit(&g_gen, memory_order_relaxed);
}
