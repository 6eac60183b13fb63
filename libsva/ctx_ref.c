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

void sva_ctx_put(struct sva_ctx *ctx)
{
	if (atomic_fetch_sub_explicit(&ctx->refs, 1, memory_order_acq_rel) != 1)
		return;
	ctx->release(ctx);
}

bool sva_ctx_forked(const struct sva_ctx *ctx)
{
	return sva_fork_gen() != ctx->fork_gen;
}

int sva_ctx_check_owner(const struct sva_ctx *ctx)
{
	if (sva_ctx_forked(ctx))
		return sva_fail(&ctx->log, -ECHILD,
				"called in a forked child: libsva objects belong to process %d, and the child "
				"must not touch them (open a new context in the child)",
				(int)ctx->pid);
	return 0;
}

int sva_mm_check_owner(struct sva_mm *mm)
{
	return sva_ctx_check_owner(mm->ctx);
}
