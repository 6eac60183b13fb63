/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Which process are we?  A forked child shares its parent's iommufd and VFIO
 * descriptors and must not touch them, so every call asks.  getpid() is a
 * system call on every call; a generation counter bumped in the child by a
 * pthread_atfork() handler answers with one load.  A child made by _Fork()
 * or a raw clone() runs no handlers: for it, a byte on a page of libsva's
 * own (in the arena, which no device reaches) marked MADV_WIPEONFORK reads
 * 0 in every child, and the first call there bumps the generation itself
 * (kernels before 4.14 lack the advice: then only fork() children are
 * seen).  vfork() and posix_spawn() children only exec.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <sys/mman.h>
#include <unistd.h>

#include "arena.h"
#include "fork.h"

static atomic_uint g_gen;
static pthread_once_t g_once = PTHREAD_ONCE_INIT;
static _Atomic(unsigned char *) g_marker; /* 1 in this process, 0 in a child */

static void in_child(void)
{
	unsigned char *m = atomic_load_explicit(&g_marker, memory_order_relaxed);

	if (m)
		atomic_store_explicit((_Atomic unsigned char *)m, 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&g_gen, 1, memory_order_relaxed);
}

static void install(void)
{
	size_t page = (size_t)sysconf(_SC_PAGESIZE);
	unsigned char *m = sva_aligned_alloc(page, page); /* a whole page: the advice covers only it */

	if (m && madvise(m, page, MADV_WIPEONFORK) == 0) {
		atomic_store_explicit((_Atomic unsigned char *)m, 1, memory_order_relaxed);
		atomic_store_explicit(&g_marker, m, memory_order_release);
	} else {
		sva_free(m);
	}
	pthread_atfork(NULL, NULL, in_child);
}

unsigned sva_fork_gen_init(void)
{
	pthread_once(&g_once, install);
	return sva_fork_gen();
}

unsigned sva_fork_gen(void)
{
	unsigned char *m = atomic_load_explicit(&g_marker, memory_order_acquire);

	/* A child that ran no fork handler: the kernel wiped the page. */
	if (m && __builtin_expect(!atomic_load_explicit((_Atomic unsigned char *)m, memory_order_relaxed), 0)) {
		atomic_store_explicit((_Atomic unsigned char *)m, 1, memory_order_relaxed);
		atomic_fetch_add_explicit(&g_gen, 1, memory_order_relaxed);
	}
	return atomic_load_explicit(&g_gen, memory_order_relaxed);
}
