/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * A forked child's state of the bind path (sva_mm_free(3), libsva(7) "fork"),
 * on a context, devices and address spaces built by hand around a fake
 * backend (as test-bind-pasid.c does):
 *
 *  - A fork in the middle of a sva_bind() (from inside the device's PASID
 *    attach: the PASID taken, the bond not yet published nor linked): the
 *    child's sva_mm_free() gives back its copies of that bond and of the
 *    share it took, exactly once, whatever the share: the address space's
 *    new global PASID, an extra PASID, a driver's value waiting on the
 *    context's pending list (which it leaves), or the global PASID another
 *    bond already holds.  Given back: their slots come back among the next
 *    allocations of their sizes, each once.
 *  - The same for a fork in the middle of a sva_unbind() (from inside its
 *    HWPT's IOMMU_DESTROY: the bond off mm->bonds, its share not put yet),
 *    under an extra PASID and under the global PASID another bond keeps.
 *    The HWPT record of the bond in flight comes back once too: a bind's
 *    (still on mm->hwpts) and an unbind's (its last reference, off
 *    mm->hwpts while the HWPT is destroyed).  Likewise a fork inside a
 *    bind's IOMMU_HWPT_ALLOC: the record in creation, not on mm->hwpts yet.
 *  - After the child's sva_mm_free(), sva_dev_bond_lookup() on its devices
 *    finds none of the bonds it freed (-ENOENT), PASID and RID alike.
 *  - A fork in the middle of a publish (inside the window between the
 *    stores of the device's PASID table, or of its RID pair): the child's
 *    sva_mm_free() returns (the half-written entry is the bond in flight's,
 *    which no thread of the child finishes) and its lookup says -ENOENT.
 *  - The same windows (and a RID unbind's unpublish) with the child's
 *    lookup before any sva_mm_free(): -ENOENT at once, not a wait for a
 *    write no thread of the child finishes; the device's other bonds found.
 *  - A fork while another thread holds the context's pasid_lock (stalled
 *    inside it, in pthread_sigmask(), wrapped here): the fork waits for the
 *    section, and the child's copy of the lock is free.
 *  - A fork by another thread while a bind has just allocated a HWPT
 *    record, before its bond holds it: the child gives the record back.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fork_guard.h"
#include "kabi.h"
#include "pasid_space.h"
#include "../tap.h"
#include "fake_fork_ctx.h"

/* ------------------------------------------------------ the fake kernel side */

static atomic_uint next_id = 100;

/* Armed: the next IOMMU_DESTROY (an unbind's HWPT, once the bond is off
 * mm->bonds and before its PASID share is put) forks, as fork_mm below. */
static struct sva_mm *destroy_fork_mm;
static struct sva_dev *destroy_fork_dev;
static uint32_t destroy_fork_pasid;
static int child_status = -1;
static int child_checks(struct sva_mm *mm, struct sva_dev *dev, uint32_t pasid);

static void fork_in_destroy(void)
{
	struct sva_mm *mm = destroy_fork_mm;
	pid_t pid;
	int st;

	destroy_fork_mm = NULL;
	pid = fork();
	if (pid == 0)
		_exit(child_checks(mm, destroy_fork_dev, destroy_fork_pasid));
	if (pid < 0 || waitpid(pid, &st, 0) != pid)
		tap_bail("fork: %s", strerror(errno));
	child_status = WIFEXITED(st) ? WEXITSTATUS(st) : 128;
}

/* Armed: the next IOMMU_HWPT_ALLOC (a bind's new HWPT, its record not yet on
 * mm->hwpts) forks; the child frees the address space, then lists in
 * alloc_back what records of a HWPT's size it is given next. */
static struct sva_mm *alloc_fork_mm;
static void **alloc_back; /* 64 pointers, shared with the child */

static void fork_in_alloc(void)
{
	struct sva_mm *mm = alloc_fork_mm;
	pid_t pid;
	int st;

	alloc_fork_mm = NULL;
	pid = fork();
	if (pid == 0) {
		sva_mm_free(mm);
		for (int i = 0; i < 64; i++)
			alloc_back[i] = sva_malloc(sizeof(struct sva_hwpt));
		_exit(0);
	}
	if (pid < 0 || waitpid(pid, &st, 0) != pid)
		tap_bail("fork: %s", strerror(errno));
	child_status = WIFEXITED(st) ? WEXITSTATUS(st) : 128;
}

static bool fake_ioctl(unsigned long req, void *arg, int *rc)
{
	if (req == KABI_IOMMU_DESTROY && destroy_fork_mm)
		fork_in_destroy();
	if (req == KABI_IOMMU_HWPT_ALLOC && alloc_fork_mm)
		fork_in_alloc();
	return fake_objects_ioctl(req, arg, rc, &next_id);
}
#include "fake_ioctl.h"

static struct sva_ctx ctx;
static struct sva_dev wide, wide2;

/* Armed: the next PASID attach forks, and the child checks what its
 * sva_mm_free() gives back; its exit status lands in child_status. */
static struct sva_mm *fork_mm;

/* The bonds and shares the child must give back, each once. */
static void *expect[8];
static int nexpect;
/* The HWPT record of the bond in flight, which it must give back once too. */
static void *expect_hwpt;

static int child_checks(struct sva_mm *mm, struct sva_dev *dev, uint32_t pasid)
{
	void *again[3][64];
	int back = 0, hback = 0, bad = 0;

	sva_mm_free(mm);
	for (struct sva_pasid_share *p = ctx.pending_shares; p; p = p->pending_next)
		for (int j = 0; j < nexpect; j++)
			if ((void *)p == expect[j])
				bad |= 2;
	for (int i = 0; i < 64; i++) {
		again[0][i] = sva_malloc(sizeof(struct sva_bond));
		again[1][i] = sva_malloc(sizeof(struct sva_pasid_share));
		again[2][i] = sva_malloc(sizeof(struct sva_hwpt));
		for (int k = 0; k < 3; k++) {
			for (int j = 0; j < nexpect; j++)
				back += again[k][i] && again[k][i] == expect[j];
			hback += again[k][i] && again[k][i] == expect_hwpt;
		}
	}
	for (int i = 0; i < 64; i++)
		for (int k = 0; k < 3; k++)
			sva_free(again[k][i]);
	if (back != nexpect)
		bad |= 1;
	if (expect_hwpt && hback != 1)
		bad |= 8;
	if (sva_dev_bond_lookup(dev, pasid, NULL, NULL) != -ENOENT)
		bad |= 4;
	return bad;
}

static int f_pasid_attach(struct sva_dev *d, uint32_t pasid, uint32_t pt)
{
	struct sva_pasid_space *s = sva_dev_pasid_space_of(d, pasid);
	struct sva_pasid_share *sh = NULL;
	struct sva_bond *b;
	void *owner = NULL;
	pid_t pid;
	int st;

	(void)pt;
	if (!fork_mm)
		return 0;
	/* The share the bind took: the space's owner, or (a driver's value not
	 * published yet) the one on the pending list; its bond is the last
	 * under it (join() appends). */
	sva_pasid_lookup_owner(s, pasid, &owner, NULL);
	if (owner && SVA_PASID_UNPIN(owner) != owner) {
		for (sh = ctx.pending_shares; sh; sh = sh->pending_next)
			if (sh->space == s && sh->pasid == pasid)
				break;
	} else {
		sh = owner;
	}
	if (!sh || !sh->bonds)
		tap_bail("no share under PASID %u inside its attach", pasid);
	for (b = sh->bonds; b->share_next; b = b->share_next)
		;
	expect[nexpect++] = b;
	expect[nexpect++] = sh;
	expect_hwpt = b->hwpt; /* on mm->hwpts: the child must not free it twice */
	pid = fork();
	if (pid == 0)
		_exit(child_checks(fork_mm, d, pasid));
	if (pid < 0 || waitpid(pid, &st, 0) != pid)
		tap_bail("fork: %s", strerror(errno));
	child_status = WIFEXITED(st) ? WEXITSTATUS(st) : 128;
	fork_mm = NULL;
	return 0;
}

static const struct sva_dev_backend fake_be = {
	"fake", fake_noop_attach, fake_noop_detach,
	f_pasid_attach, fake_noop_pasid_detach, fake_noop_close, 0,
};

static struct sva_mm *mm_new(void)
{
	const struct sva_mm_opts o = { .size = sizeof(o), .flags = SVA_MM_UNTRACKED };
	struct sva_mm *mm;

	if (sva_mm_new(&ctx, &o, &mm))
		tap_bail("sva_mm_new failed");
	return mm;
}

static void report(const char *what)
{
	ok(child_status >= 0 && child_status < 128, "%s: the forked child exits (%d)", what, child_status);
	ok(child_status >= 0 && !(child_status & 1),
	   "  its sva_mm_free gives back the bond in flight and its share, each once");
	ok(child_status >= 0 && !(child_status & 2), "  no share it freed is left on the context's pending list");
	ok(child_status >= 0 && child_status < 128 && !(child_status & 8),
	   "  and it gives back the bond's HWPT record, once");
	child_status = -1;
	nexpect = 0;
	expect_hwpt = NULL;
}

/* ------------------------------------------------------------------ tests */

static void mid_bind(const char *what, uint32_t flags, bool driver_value, bool join)
{
	struct sva_bind_opts bo = { .size = sizeof(bo), .flags = SVA_BIND_PINNED | flags };
	struct sva_mm *mm = mm_new();
	struct sva_bond *first = NULL, *bond = NULL;
	struct sva_dev *dev = &wide;
	uint32_t p = 0;

	if (join) {
		/* A bond already holds the global PASID; the one in flight joins it. */
		if (sva_bind(&wide, mm, &bo, &first))
			tap_bail("first bind failed");
		expect[nexpect++] = first;
		dev = &wide2;
	}
	if (driver_value) {
		if (sva_dev_pasid_alloc(dev, SVA_PASID_GLOBAL, NULL, &p))
			tap_bail("sva_dev_pasid_alloc failed");
		bo.pasid = p;
	}
	fork_mm = mm;
	is_int(sva_bind(dev, mm, &bo, &bond), 0, "%s: the parent's bind, forked in its attach, binds", what);
	report(what);
	sva_unbind(bond);
	if (first)
		sva_unbind(first);
	if (driver_value)
		sva_dev_pasid_free(dev, p);
	sva_mm_free(mm);
}

static void mid_unbind(const char *what, uint32_t flags, bool other)
{
	struct sva_bind_opts bo = { .size = sizeof(bo), .flags = SVA_BIND_PINNED | flags };
	struct sva_mm *mm = mm_new();
	struct sva_bond *bond, *kept = NULL;

	if (sva_bind(&wide, mm, &bo, &bond))
		tap_bail("bind failed");
	if (other) {
		/* Another device's bond stays under the same global PASID. */
		if (sva_bind(&wide2, mm, &bo, &kept))
			tap_bail("second bind failed");
		expect[nexpect++] = kept;
	}
	expect[nexpect++] = bond;
	expect[nexpect++] = bond->share;
	/* Its last reference goes: off mm->hwpts, destroyed, then freed. */
	expect_hwpt = bond->hwpt;
	destroy_fork_mm = mm;
	destroy_fork_dev = &wide;
	destroy_fork_pasid = sva_bond_pasid(bond);
	is_int(sva_unbind(bond), 0, "%s: the parent's unbind, forked as it destroys the HWPT, unbinds", what);
	destroy_fork_mm = NULL;
	report(what);
	if (kept)
		sva_unbind(kept);
	sva_mm_free(mm);
}

static void mid_hwpt_alloc(void)
{
	struct sva_bind_opts bo = { .size = sizeof(bo), .flags = SVA_BIND_PINNED };
	struct sva_mm *mm = mm_new();
	struct sva_bond *bond;
	int back = 0;

	alloc_back = mmap(NULL, 64 * sizeof(void *), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (alloc_back == MAP_FAILED)
		tap_bail("mmap: %s", strerror(errno));
	alloc_fork_mm = mm;
	is_int(sva_bind(&wide, mm, &bo, &bond), 0, "a bind forked in its IOMMU_HWPT_ALLOC binds");
	alloc_fork_mm = NULL;
	ok(child_status == 0, "  the forked child exits (%d)", child_status);
	/* The record the bind was creating: in the child, held only by the
	 * bond in flight, off mm->hwpts. */
	for (int i = 0; i < 64; i++)
		back += alloc_back[i] == bond->hwpt;
	is_int(back, 1, "  the child's sva_mm_free() gives back the HWPT record in creation, once");
	child_status = -1;
	munmap(alloc_back, 64 * sizeof(void *));
	sva_unbind(bond);
	sva_mm_free(mm);
}

static void lookup_after_free(void)
{
	struct sva_bind_opts bo = { .size = sizeof(bo), .flags = SVA_BIND_PINNED };
	struct sva_bind_opts rid = { .size = sizeof(rid), .flags = SVA_BIND_PINNED | SVA_BIND_RID };
	struct sva_mm *mm = mm_new();
	struct sva_bond *b, *r;
	uint32_t pasid;
	pid_t pid;
	int st;

	if (sva_bind(&wide, mm, &bo, &b) || sva_bind(&wide2, mm, &rid, &r))
		tap_bail("binds failed");
	pasid = sva_bond_pasid(b); /* b is freed in the child before its lookup */
	pid = fork();
	if (pid == 0) {
		int bad = 0;

		sva_mm_free(mm);
		if (sva_dev_bond_lookup(&wide, pasid, NULL, NULL) != -ENOENT)
			bad |= 1;
		if (sva_dev_bond_lookup(&wide2, SVA_PASID_RID, NULL, NULL) != -ENOENT)
			bad |= 2;
		_exit(bad);
	}
	if (pid < 0 || waitpid(pid, &st, 0) != pid)
		tap_bail("fork: %s", strerror(errno));
	st = WIFEXITED(st) ? WEXITSTATUS(st) : 128;
	ok(st < 128 && !(st & 1), "child's sva_mm_free: sva_dev_bond_lookup() of its PASID bond is -ENOENT");
	ok(st < 128 && !(st & 2), "  and of its RID bond");
	is_int(sva_dev_bond_lookup(&wide, sva_bond_pasid(b), NULL, NULL), 0, "  the parent's still finds its bond");
	sva_unbind(b);
	sva_unbind(r);
	sva_mm_free(mm);
}

/* ----------------------------------------------- fork inside a publish */

extern void (*sva_test_busy_window_hook)(void); /* test_fail.c, libsva-test only */
static struct sva_mm *window_mm;
static struct sva_dev *window_dev;
static bool window_rid;
static bool window_lookup_first; /* the child looks up before its sva_mm_free() */
static struct sva_bond *window_kept; /* a bond of window_dev's the child must still find */
static uint32_t window_kept_pasid;
static int window_status = -1;

/* Forks at the first window outside pasid_lock (a PASID space's pair is
 * written under it, where a fork would wait for this very thread): the
 * device's table or RID pair, its entry half written. */
static void fork_in_window(void)
{
	sigset_t all;
	pid_t pid;
	int st;

	if (!window_mm || pthread_mutex_trylock(&ctx.pasid_lock))
		return;
	pthread_mutex_unlock(&ctx.pasid_lock);
	pid = fork();
	if (pid == 0) {
		struct sva_mm *mm = window_mm;
		uint32_t pasid = window_rid ? SVA_PASID_RID : mm->gshare ? mm->gshare->pasid : 0;
		int bad = 0;

		/* The writer holds signals off in the window: a spin on the
		 * half-written entry (the bug) ends as a SIGALRM death. */
		sigemptyset(&all);
		sigprocmask(SIG_SETMASK, &all, NULL);
		alarm(20);
		if (window_lookup_first) {
			struct sva_bond *found = NULL;

			/* The entry is the bond in flight's, which the child never
			 * sees bound: none (sva_dev_bond_lookup(3), NOTES). */
			if (!pasid || sva_dev_bond_lookup(window_dev, pasid, NULL, NULL) != -ENOENT)
				bad |= 2;
			/* A bond the parent had bound is still in the child's copy. */
			if (window_kept && (sva_dev_bond_lookup(window_dev, window_kept_pasid, &found, NULL) != 0 ||
					    found != window_kept))
				bad |= 4;
			/* sva_dev_pasid_alloc(3): the bind's own value, never
			 * bound in the child and not allocated through the
			 * device, is nothing of the device's; the kept bond's
			 * value still answers. */
			if (!window_rid && pasid && sva_dev_pasid_lookup(window_dev, pasid, NULL) != -ENOENT)
				bad |= 8;
			if (window_kept && sva_dev_pasid_lookup(window_dev, window_kept_pasid, NULL) != 0)
				bad |= 16;
		}
		sva_mm_free(mm);
		if (!pasid || sva_dev_bond_lookup(window_dev, pasid, NULL, NULL) != -ENOENT)
			bad |= 1;
		_exit(bad);
	}
	window_mm = NULL;
	if (pid < 0 || waitpid(pid, &st, 0) != pid)
		tap_bail("fork: %s", strerror(errno));
	window_status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

static void fork_in_publish(const char *what, uint32_t flags, struct sva_dev *dev)
{
	struct sva_bind_opts bo = { .size = sizeof(bo), .flags = SVA_BIND_PINNED | flags };
	struct sva_mm *mm = mm_new();
	struct sva_bond *bond = NULL;

	window_dev = dev;
	window_rid = flags & SVA_BIND_RID;
	window_mm = mm;
	sva_test_busy_window_hook = fork_in_window;
	is_int(sva_bind(dev, mm, &bo, &bond), 0, "%s: the parent's bind, forked inside its publish, binds", what);
	sva_test_busy_window_hook = NULL;
	window_mm = NULL;
	is_int(window_status, 0, "  the child's sva_mm_free() returns, and its lookup finds no bond");
	window_status = -1;
	sva_unbind(bond);
	sva_mm_free(mm);
}

/*
 * The same windows, the child looking its bond up before any sva_mm_free():
 * nothing of the child's ever finishes that write, so the lookup must not
 * wait for it.  A bind's publish of a PASID bond and of a RID bond; an
 * unbind's unpublish of a RID bond (a PASID's is one store: no window).  In
 * each, another bond of the device, bound before under a PASID, is still
 * found.
 */
static void lookup_in_window(const char *what, uint32_t flags, struct sva_dev *dev, bool unbind)
{
	struct sva_bind_opts bo = { .size = sizeof(bo), .flags = SVA_BIND_PINNED | flags };
	struct sva_bind_opts ko = { .size = sizeof(ko), .flags = SVA_BIND_PINNED };
	struct sva_mm *mm = mm_new(), *kmm = NULL;
	struct sva_bond *bond = NULL;

	window_dev = dev;
	window_rid = flags & SVA_BIND_RID;
	window_lookup_first = true;
	/* Another bond of the device, under a PASID, bound before: the RID
	 * cases keep one too, so "still finds the other bond" asks something. */
	kmm = mm_new();
	if (sva_bind(dev, kmm, &ko, &window_kept))
		tap_bail("bind of the kept bond failed");
	window_kept_pasid = sva_bond_pasid(window_kept);
	if (unbind && sva_bind(dev, mm, &bo, &bond))
		tap_bail("bind failed");
	window_mm = mm;
	sva_test_busy_window_hook = fork_in_window;
	if (unbind)
		is_int(sva_unbind(bond), 0, "%s: the parent's unbind, forked inside its unpublish, unbinds", what);
	else
		is_int(sva_bind(dev, mm, &bo, &bond), 0, "%s: the parent's bind, forked inside its publish, binds",
		       what);
	sva_test_busy_window_hook = NULL;
	window_mm = NULL;
	ok(window_status >= 0 && window_status < 128, "  the child's lookup before its sva_mm_free() returns (%d)",
	   window_status);
	ok(window_status >= 0 && window_status < 128 && !(window_status & 2),
	   "  and says -ENOENT for the entry caught half written");
	ok(window_status >= 0 && window_status < 128 && !(window_status & 4), "  and still finds the device's other bond");
	ok(window_status >= 0 && window_status < 128 && !(window_status & 8),
	   "  sva_dev_pasid_lookup() of the value in flight: -ENOENT, without waiting");
	ok(window_status >= 0 && window_status < 128 && !(window_status & 16),
	   "  sva_dev_pasid_lookup() of the other bond's value: found");
	ok(window_status >= 0 && window_status < 128 && !(window_status & 1),
	   "  and -ENOENT again after its sva_mm_free()");
	window_status = -1;
	window_lookup_first = false;
	if (!unbind)
		sva_unbind(bond);
	if (window_kept)
		sva_unbind(window_kept);
	window_kept = NULL;
	sva_mm_free(mm);
	if (kmm)
		sva_mm_free(kmm);
}

/* --------------------------------------------- fork while pasid_lock is held */

static pthread_t holder, forker;
static atomic_bool stall_armed, holder_inside, fork_returned, guard_waiting, forking;

/* The bind in `holder` stalls in here while it holds ctx.pasid_lock (its
 * own trylock fails: no other thread takes it), until the fork has returned
 * or the fork handler waits for a thread inside the fork guard. */
static int (*real_sigmask)(int, const sigset_t *, sigset_t *);
static int (*real_yield)(void);

/* Both found once, before any thread: the wrappers only read them then. */
static void find_real(void)
{
	if (!real_sigmask)
		real_sigmask = (int (*)(int, const sigset_t *, sigset_t *))dlsym(RTLD_NEXT, "pthread_sigmask");
	if (!real_yield)
		real_yield = (int (*)(void))dlsym(RTLD_NEXT, "sched_yield");
}

int pthread_sigmask(int how, const sigset_t *set, sigset_t *old)
{
	int (*real)(int, const sigset_t *, sigset_t *);

	find_real();
	real = real_sigmask;
	if (atomic_load(&stall_armed) && pthread_equal(pthread_self(), holder)) {
		if (pthread_mutex_trylock(&ctx.pasid_lock) == 0) {
			pthread_mutex_unlock(&ctx.pasid_lock);
			return real(how, set, old);
		}
		atomic_store(&stall_armed, false);
		atomic_store(&holder_inside, true);
		while (!atomic_load(&fork_returned) && !atomic_load(&guard_waiting))
			sched_yield();
	}
	return real(how, set, old);
}

/* The fork guard's handler yields while a thread is inside a section. */
int sched_yield(void)
{
	find_real();
	if (atomic_load(&forking) && pthread_equal(pthread_self(), forker))
		atomic_store(&guard_waiting, true);
	return real_yield();
}

static struct sva_mm *held_mm;
static uint32_t held_pasid;
static struct sva_bond *held_bond;
static int held_ret;

static void *hold(void *arg)
{
	struct sva_bind_opts bo = { .size = sizeof(bo), .flags = SVA_BIND_PINNED | SVA_BIND_PASID, .pasid = held_pasid };

	(void)arg;
	held_ret = sva_bind(&wide, held_mm, &bo, &held_bond);
	return NULL;
}

static void fork_while_held(void)
{
	pid_t pid;
	int st;

	held_mm = mm_new();
	if (sva_dev_pasid_alloc(&wide, SVA_PASID_GLOBAL, NULL, &held_pasid))
		tap_bail("sva_dev_pasid_alloc failed");
	forker = pthread_self();
	atomic_store(&stall_armed, true);
	/* The holder's id must be set before it can reach the wrapper. */
	{
		pthread_attr_t a;

		pthread_attr_init(&a);
		if (pthread_create(&holder, &a, hold, NULL))
			tap_bail("pthread_create failed");
		pthread_attr_destroy(&a);
	}
	while (!atomic_load(&holder_inside))
		sched_yield();
	atomic_store(&forking, true);
	pid = fork();
	if (pid == 0) {
		int bad = 0;

		if (pthread_mutex_trylock(&ctx.pasid_lock))
			bad |= 1;
		else
			pthread_mutex_unlock(&ctx.pasid_lock);
		_exit(bad);
	}
	atomic_store(&forking, false);
	atomic_store(&fork_returned, true);
	if (pid < 0 || waitpid(pid, &st, 0) != pid)
		tap_bail("fork: %s", strerror(errno));
	pthread_join(holder, NULL);
	st = WIFEXITED(st) ? WEXITSTATUS(st) : 128;
	ok(st == 0, "fork while another thread holds pasid_lock: the child's copy is free (%d)", st);
	is_int(held_ret, 0, "  the other thread's bind completes");
	sva_unbind(held_bond);
	sva_dev_pasid_free(&wide, held_pasid);
	sva_mm_free(held_mm);
}

/* ------------------- fork from another thread as a bind makes a HWPT record */

/*
 * A record just allocated by hwpt_get(), not yet held by its bond: a fork by
 * another thread then left the child a record nothing reached (a leak of the
 * child's memory).  The bind stalls in the test hook between the two until
 * the fork has returned or the fork handler waits for a thread inside the
 * fork guard; the child frees the address space and lists what records of a
 * HWPT's size it is given next: the one in creation must be among them.
 */
extern void (*sva_test_hwpt_made_hook)(struct sva_hwpt *h); /* bond.c, libsva-test only */
static struct sva_hwpt *made;
static atomic_bool made_in;

static void hwpt_made_stall(struct sva_hwpt *h)
{
	if (!pthread_equal(pthread_self(), holder))
		return;
	made = h;
	atomic_store(&made_in, true);
	while (!atomic_load(&fork_returned) && !atomic_load(&guard_waiting))
		sched_yield();
}

static struct sva_mm *made_mm;
static struct sva_bond *made_bond;
static int made_ret;

static void *made_bind(void *arg)
{
	struct sva_bind_opts bo = { .size = sizeof(bo), .flags = SVA_BIND_PINNED };

	(void)arg;
	made_ret = sva_bind(&wide, made_mm, &bo, &made_bond);
	return NULL;
}

static void fork_as_hwpt_made(void)
{
	pthread_attr_t a;
	pid_t pid;
	int st, back = 0;

	alloc_back = mmap(NULL, 64 * sizeof(void *), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (alloc_back == MAP_FAILED)
		tap_bail("mmap: %s", strerror(errno));
	made_mm = mm_new();
	atomic_store(&fork_returned, false);
	atomic_store(&guard_waiting, false);
	forker = pthread_self();
	sva_test_hwpt_made_hook = hwpt_made_stall;
	/* The holder's id must be set before it can reach the hook. */
	pthread_attr_init(&a);
	if (pthread_create(&holder, &a, made_bind, NULL))
		tap_bail("pthread_create failed");
	pthread_attr_destroy(&a);
	while (!atomic_load(&made_in))
		sched_yield();
	atomic_store(&forking, true);
	pid = fork();
	if (pid == 0) {
		sva_mm_free(made_mm);
		for (int i = 0; i < 64; i++)
			alloc_back[i] = sva_malloc(sizeof(struct sva_hwpt));
		_exit(0);
	}
	atomic_store(&forking, false);
	atomic_store(&fork_returned, true);
	if (pid < 0 || waitpid(pid, &st, 0) != pid)
		tap_bail("fork: %s", strerror(errno));
	pthread_join(holder, NULL);
	sva_test_hwpt_made_hook = NULL;
	is_int(made_ret, 0, "a bind whose HWPT record another thread's fork catches just allocated binds");
	for (int i = 0; i < 64; i++)
		back += alloc_back[i] == (void *)made;
	ok(WIFEXITED(st) && WEXITSTATUS(st) == 0 && back == 1,
	   "  the child's sva_mm_free() gives back that record, once (%d)", back);
	munmap(alloc_back, 64 * sizeof(void *));
	sva_unbind(made_bond);
	sva_mm_free(made_mm);
}

int main(void)
{
	find_real();
	plan(65);
	fake_fork_ctx_init(&ctx, &fake_be, &next_id, &wide, &wide2);
	mid_bind("the address space's new global PASID", 0, false, false);
	mid_bind("an extra PASID", SVA_BIND_EXTRA_PASID, false, false);
	mid_bind("a driver's value, pending", SVA_BIND_PASID, true, false);
	mid_bind("joining the global PASID of another bond", 0, false, true);
	mid_unbind("an unbind under an extra PASID", SVA_BIND_EXTRA_PASID, false);
	mid_unbind("an unbind under the global PASID another bond keeps", 0, true);
	mid_hwpt_alloc();
	lookup_after_free();
	fork_in_publish("a PASID bond", 0, &wide);
	fork_in_publish("a RID bond", SVA_BIND_RID, &wide2);
	lookup_in_window("lookup before mm_free, a PASID bond's publish", 0, &wide, false);
	lookup_in_window("lookup before mm_free, a RID bond's publish", SVA_BIND_RID, &wide2, false);
	lookup_in_window("lookup before mm_free, a RID bond's unpublish", SVA_BIND_RID, &wide2, true);
	fork_while_held();
	fork_as_hwpt_made();
	ctx.devs = NULL;
	return done_testing();
}
