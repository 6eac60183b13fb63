/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * A context's references and ownership: what every object below the context
 * needs.  A leaf (docs/design.md, "Layers"): the last reference calls the
 * release function ctx.c stored, so nothing here depends on what a context
 * holds.
 */
#include <errno.h>

#include "fork.h"
#include "internal.h"

void sva_ctx_get(struct sva_ctx *ctx)
{
	atomic_fetch_add_explicit(&ctx->refs, 1, memory_order_relaxed);
}

bool sva_ctx_get_live(struct sva_ctx *ctx)
{
	int refs = atomic_load_explicit(&ctx->refs, memory_order_relaxed);

	while (refs)
		if (atomic_compare_exchange_weak_explicit(&ctx->refs, &refs, refs + 1, memory_order_acquire,
							  memory_order_relaxed))
			return true;
	return false;
}

#ifdef SVA_TEST_HOOKS
/* Tests only (libsva-test): called between the last reference and the release. */
void (*sva_test_ctx_release_hook)(struct sva_ctx *ctx);
#endif

void sva_ctx_put(struct sva_ctx *ctx)
{
	if (atomic_fetch_sub_explicit(&ctx->refs, 1, memory_order_acq_rel) != 1)
		return;
#ifdef SVA_TEST_HOOKS
	if (sva_test_ctx_release_hook)
		sva_test_ctx_release_hook(ctx);
#endif
	ctx->release(ctx);
}

bool sva_ctx_forked(const struct sva_ctx *ctx)
{
	return sva_fork_gen() != ctx->fork_gen;
}

bool sva_ctx_lock_reader(const struct sva_ctx *ctx, pthread_mutex_t *m)
{
	if (!sva_ctx_forked(ctx)) {
		pthread_mutex_lock(m);
		return true;
	}
	return pthread_mutex_trylock(m) == 0;
}

int sva_ctx_check_owner_in(const struct sva_ctx *ctx, const char *fn)
{
	if (sva_ctx_forked(ctx))
		return sva_fail(&ctx->log, -ECHILD,
				"%s: called in a forked child: libsva objects belong to process %d, and the child "
				"must not touch them (open a new context in the child)",
				fn, (int)ctx->pid);
	return 0;
}
