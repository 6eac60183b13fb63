/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * One mechanism to end a set of bonds.  Every bond of a context is on one
 * list (ctx->bonds, under ctx->bonds_lock, a leaf lock): a teardown scans it
 * for bonds of its set, claims a bound one with the same compare-and-swap
 * sva_unbind() uses, and tears it down with the lock dropped.  When the set
 * only holds bonds that another thread is tearing down, it sleeps on
 * ctx->bonds_cv, which every finished unbind broadcasts.  Nothing retries a
 * refused unbind, so nothing can spin or repeat a log line.
 *
 * Teardown sits above the bonds it ends (bond.c, docs/design.md "Layers"):
 * the list's membership is the bond's own (bond_link/bond_unlink there), so
 * nothing below calls up here.
 */
#include "teardown.h"

#include "internal.h"

#ifdef SVA_TEST_HOOKS
/* Tests only (libsva-test): called with ctx->bonds_lock held just before a
 * teardown sleeps for a bond another thread is tearing down.  That thread's
 * bond_unlink() takes the lock to wake it: once this ran, the wake-up cannot
 * be missed, so a test can let the unbind go on from here. */
void (*sva_test_teardown_wait_hook)(struct sva_ctx *ctx);
#define TEARDOWN_WAIT(c) (sva_test_teardown_wait_hook ? sva_test_teardown_wait_hook(c) : (void)0)
#else
#define TEARDOWN_WAIT(c) ((void)0)
#endif

static bool in_set(const struct sva_bond *b, enum sva_teardown_scope scope, const void *obj)
{
	switch (scope) {
	case SVA_TEARDOWN_MM:
		return b->mm == obj;
	case SVA_TEARDOWN_DEV:
		return b->dev == obj;
	case SVA_TEARDOWN_CTX:
		return true;
	}
	return false;
}

int sva_teardown(struct sva_ctx *ctx, enum sva_teardown_scope scope, const void *obj)
{
	int err = 0;

	pthread_mutex_lock(&ctx->bonds_lock);
	for (;;) {
		struct sva_bond *claimed = NULL;
		bool busy = false;

		for (struct sva_bond *b = ctx->bonds; b; b = b->ctx_next) {
			int expected = SVA_BOND_BOUND;

			if (!in_set(b, scope, obj))
				continue;
			if (atomic_compare_exchange_strong(&b->state, &expected, SVA_BOND_EXITING)) {
				claimed = b;
				break;
			}
			busy = true;
		}
		if (claimed) {
			int ret;

			pthread_mutex_unlock(&ctx->bonds_lock);
			ret = sva_bond_teardown(claimed);
			if (ret && !err)
				err = ret;
			pthread_mutex_lock(&ctx->bonds_lock);
			continue;
		}
		if (!busy)
			break;
		/* Another thread is inside one of them (its mm_exit may block):
		 * bond_unlink() wakes us. */
		TEARDOWN_WAIT(ctx);
		pthread_cond_wait(&ctx->bonds_cv, &ctx->bonds_lock);
	}
	pthread_mutex_unlock(&ctx->bonds_lock);
	return err;
}
