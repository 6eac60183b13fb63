/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Teardown in one place (teardown.c): every call that ends a set of bonds
 * (sva_mm_free, sva_dev_close, sva_ctx_free, exit) goes through
 * sva_teardown(), and the callbacks the library runs (mm_exit, fault_error)
 * are marked so that calls which would wait for themselves are refused.
 */
#ifndef LIBSVA_TEARDOWN_H
#define LIBSVA_TEARDOWN_H

#include <stdbool.h>

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

/* A new bond joins the context's list (sva_bind, under dev->lock). */
void sva_teardown_link(struct sva_bond *bond);
/* A claimed bond is gone: off the list, waiters woken.  Before free(bond). */
void sva_teardown_unlink(struct sva_bond *bond);

/* Run a user callback with this thread marked as inside it. */
enum sva_callback { SVA_CB_MM_EXIT, SVA_CB_FAULT_ERROR };
void sva_callback_enter(enum sva_callback cb);
void sva_callback_leave(enum sva_callback cb);
/* Is this thread inside mm_exit or fault_error?  Calls that tear down or bind
 * refuse there (-EDEADLK): each could wait for itself. */
bool sva_in_callback(void);
/* Inside fault_error, where the fault engine's lock is held: processing
 * faults refuses too. */
bool sva_in_fault_error(void);

#endif
