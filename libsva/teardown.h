/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Teardown in one place (teardown.c): every call that ends a set of bonds
 * (sva_mm_free, sva_dev_close, sva_ctx_free, exit) goes through
 * sva_teardown().  Which callback a thread is inside: callback.h.
 */
#ifndef LIBSVA_TEARDOWN_H
#define LIBSVA_TEARDOWN_H

struct sva_ctx;
struct sva_bond;

/* Which bonds a teardown ends: those of one address space, of one device, or
 * all of the context. */
enum sva_teardown_scope { SVA_TEARDOWN_MM, SVA_TEARDOWN_DEV, SVA_TEARDOWN_CTX };

/*
 * Unbind every bond of the set: claim one that is still bound, tear it down
 * (its mm_exit runs with no lock held), repeat; bonds another thread is
 * tearing down are waited for (a condition variable, no spinning), so when
 * it returns none of the set is left.  Returns 0, or the first error of an
 * unbind (-EIO: a detach failed; that bond is gone all the same).
 */
int sva_teardown(struct sva_ctx *ctx, enum sva_teardown_scope scope, const void *obj);

#endif
