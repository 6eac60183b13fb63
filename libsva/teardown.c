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
 * A thread inside mm_exit or fault_error must not wait for a teardown: the
 * one it would wait for may be its own.  The thread-local depth below lets
 * those calls refuse instead (sva.h, "Callbacks").
 */
#include "teardown.h"

#include "internal.h"

static _Thread_local unsigned in_callback[2]; /* depth, by enum sva_callback */

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

void sva_teardown_link(struct sva_bond *bond)
{
	struct sva_ctx *ctx = bond->dev->ctx;

	pthread_mutex_lock(&ctx->bonds_lock);
	bond->ctx_next = ctx->bonds;
	ctx->bonds = bond;
	pthread_mutex_unlock(&ctx->bonds_lock);
}

void sva_teardown_unlink(struct sva_bond *bond)
{
	struct sva_ctx *ctx = bond->dev->ctx;

	pthread_mutex_lock(&ctx->bonds_lock);
	for (struct sva_bond **pp = &ctx->bonds; *pp; pp = &(*pp)->ctx_next) {
		if (*pp == bond) {
			*pp = bond->ctx_next;
			break;
		}
	}
	pthread_cond_broadcast(&ctx->bonds_cv);
	pthread_mutex_unlock(&ctx->bonds_lock);
}

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
		 * its sva_teardown_unlink() wakes us. */
		pthread_cond_wait(&ctx->bonds_cv, &ctx->bonds_lock);
	}
	pthread_mutex_unlock(&ctx->bonds_lock);
	return err;
}
