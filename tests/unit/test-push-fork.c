/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * A fork() while another thread pushes a record onto an address space's
 * list: mm->hwpts (a bind's new HWPT record) or mm->bonds (its bond).  A
 * push is two stores, which may become visible in either order; a child
 * that saw the new head before its link lost every record behind it (the
 * bonds leaked; a HWPT record two bonds hold, off the list to the child,
 * freed by each).  The push is now one fork-guard section: the fork waits
 * for it, and the child frees each record exactly once.
 *
 * The pushing thread stalls inside the push, between its stores (a test
 * hook), until either the fork has returned or the forking thread is seen
 * waiting in the fork guard (a wrapped sched_yield(), which
 * sva_fork_guard_block() calls only while a thread is inside a section).
 * Deterministic both ways; nothing timed.  The child's sva_mm_free() gives
 * back its records: each must come back exactly once among the next
 * allocations of its size (the arena's slot reuse, as test-bind-fork).
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fork_guard.h"
#include "kabi.h"
#include "pasid_space.h"
#include "../tap.h"
#include "fake_fork_ctx.h"
#include "fake_noop_kernel.h"

static struct sva_ctx ctx;
static struct sva_dev wide, wide2;

extern void (*sva_test_push_hook)(void); /* bond.c, libsva-test only */

static pthread_t pusher, forker;
static atomic_int push_calls, stall_at;
static atomic_bool pusher_inside, fork_returned, guard_waiting, forking;
static int (*real_yield)(void);

/* The fork guard's handler yields while a thread is inside a section. */
int sched_yield(void)
{
	if (atomic_load(&forking) && pthread_equal(pthread_self(), forker))
		atomic_store(&guard_waiting, true);
	return real_yield();
}

/* The records in flight, read by the pushing thread inside its push. */
static void *flight_bond, *flight_hwpt;

static void push_hook(void)
{
	if (!pthread_equal(pthread_self(), pusher) || atomic_fetch_add(&push_calls, 1) + 1 != atomic_load(&stall_at))
		return;
	for (struct sva_bond *b = ctx.unlinked; b; b = b->unlinked_next)
		if (b->dev == &wide2) {
			flight_bond = b;
			flight_hwpt = b->hwpt;
		}
	atomic_store(&pusher_inside, true);
	while (!atomic_load(&fork_returned) && !atomic_load(&guard_waiting))
		sched_yield();
}

static struct sva_mm *mm;
static struct sva_bond *pushed;
static int push_ret = 1;

static void *push(void *arg)
{
	struct sva_bind_opts bo = { .size = sizeof(bo), .flags = SVA_BIND_PINNED | SVA_BIND_EXTRA_PASID };

	(void)arg;
	push_ret = sva_bind(&wide2, mm, &bo, &pushed);
	return NULL;
}

/* How many of the next allocations of each record's size are `p`. */
static int back(void *again[3][64], void *p)
{
	int n = 0;

	for (int k = 0; k < 3; k++)
		for (int i = 0; i < 64; i++)
			n += p && again[k][i] == p;
	return n;
}

/*
 * `which`: 1 the bind's push onto mm->hwpts, 2 its push onto mm->bonds.
 * Two bonds of one device already hold one HWPT record (the same device
 * and flags share it), each with a PASID share of its own; a bind on
 * another device, with a HWPT of its own, is the one in flight.
 */
static void fork_in_push(int which, const char *what)
{
	struct sva_bind_opts bo = { .size = sizeof(bo), .flags = SVA_BIND_PINNED | SVA_BIND_EXTRA_PASID };
	const struct sva_mm_opts o = { .size = sizeof(o), .flags = SVA_MM_UNTRACKED };
	struct sva_bond *b1, *b2;
	void *old[5];
	pid_t pid;
	int st;

	if (sva_mm_new(&ctx, &o, &mm) || sva_bind(&wide, mm, &bo, &b1) || sva_bind(&wide, mm, &bo, &b2))
		tap_bail("set-up failed");
	if (b1->hwpt != b2->hwpt)
		tap_bail("the two bonds do not share their HWPT record");
	old[0] = b1, old[1] = b2, old[2] = b1->share, old[3] = b2->share, old[4] = b1->hwpt;
	atomic_store(&push_calls, 0);
	atomic_store(&stall_at, which);
	atomic_store(&pusher_inside, false);
	atomic_store(&fork_returned, false);
	atomic_store(&guard_waiting, false);
	flight_bond = flight_hwpt = NULL;
	forker = pthread_self();
	sva_test_push_hook = push_hook;
	if (pthread_create(&pusher, NULL, push, NULL))
		tap_bail("pthread_create failed");
	while (!atomic_load(&pusher_inside))
		sched_yield();
	atomic_store(&forking, true);
	pid = fork();
	if (pid == 0) {
		void *again[3][64];
		int bad = 0;

		sva_mm_free(mm);
		for (int i = 0; i < 64; i++) {
			again[0][i] = sva_malloc(sizeof(struct sva_bond));
			again[1][i] = sva_malloc(sizeof(struct sva_pasid_share));
			again[2][i] = sva_malloc(sizeof(struct sva_hwpt));
		}
		for (int j = 0; j < 5; j++) {
			int n = back(again, old[j]);

			if (n != 1)
				bad |= 1;
			if (n > 1)
				bad |= 4; /* freed more than once */
		}
		if (back(again, flight_bond) != 1 || back(again, flight_hwpt) != 1)
			bad |= 2;
		_exit(bad);
	}
	atomic_store(&forking, false);
	atomic_store(&fork_returned, true);
	if (pid < 0 || waitpid(pid, &st, 0) != pid)
		tap_bail("fork: %s", strerror(errno));
	pthread_join(pusher, NULL);
	sva_test_push_hook = NULL;
	st = WIFEXITED(st) ? WEXITSTATUS(st) : 128;
	ok(atomic_load(&guard_waiting), "%s: fork() waits for the push under way", what);
	is_int(push_ret, 0, "  the bind completes");
	ok(flight_bond && flight_hwpt, "  (the bond in flight and its HWPT record were seen)");
	ok(st < 128 && !(st & 1),
	   "  the child's sva_mm_free() gives back the records behind it, each once (%d)", st);
	ok(st < 128 && !(st & 4), "  none of them twice");
	ok(st < 128 && !(st & 2), "  and the bond in flight and its HWPT record, each once");
	sva_unbind(pushed);
	sva_unbind(b2);
	sva_unbind(b1);
	sva_mm_free(mm);
}

int main(void)
{
	real_yield = (int (*)(void))dlsym(RTLD_NEXT, "sched_yield");
	plan(12);
	fake_fork_ctx_init(&ctx, &fake_be, &next_id, &wide, &wide2);
	fork_in_push(1, "a bind's push onto mm->hwpts");
	fork_in_push(2, "a bind's push onto mm->bonds");
	ctx.devs = NULL;
	return done_testing();
}
