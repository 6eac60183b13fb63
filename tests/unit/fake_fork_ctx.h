/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The context the fork tests of the bind path (test-bind-fork,
 * test-push-fork, stress-bind-fork) fork under, built by hand with
 * fake_bind_objects.h: what sva_ctx_new() and two sva_dev_open() calls would
 * leave, with the fork handlers sva_ctx_new() registers, so that every such
 * test forks under the same guard.  The including test supplies the backend
 * and the object ids; the log is silent (the tests count what they check,
 * not lines).
 */
#ifndef SVA_TESTS_FAKE_FORK_CTX_H
#define SVA_TESTS_FAKE_FORK_CTX_H

#include <pthread.h>
#include <stdatomic.h>

#include "fork_guard.h"
#include "fake_bind_objects.h"

static inline void fake_fork_quiet(void *arg, enum sva_log_level level, const char *msg)
{
	(void)arg;
	(void)level;
	(void)msg;
}

/*
 * c with devices a and b (20-bit PASIDs, ids from *next) on its list.  The
 * fork handlers (ctx.c): the guard blocked across fork(), registered after
 * the arena's (fake_ctx_init() allocated), so that they run before it, as
 * there.
 */
static inline void fake_fork_ctx_init(struct sva_ctx *c, const struct sva_dev_backend *be, atomic_uint *next,
				      struct sva_dev *a, struct sva_dev *b)
{
	fake_ctx_init(c, fake_fork_quiet, 20000000ull);
	pthread_atfork(sva_fork_guard_block, sva_fork_guard_unblock, sva_fork_guard_unblock_child);
	fake_dev_init(a, c, be, atomic_fetch_add(next, 1), 20, "wide");
	fake_dev_init(b, c, be, atomic_fetch_add(next, 1), 20, "wide2");
	a->ctx_next = b;
	c->devs = a;
}

#endif
