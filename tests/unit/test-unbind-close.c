/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * An unbind that a sva_dev_close(), sva_mm_free() or sva_ctx_free() on
 * another thread waits for, on a context, devices and address spaces built
 * by hand around a fake backend (as test-bind-pasid.c does).
 *
 * The last step of an unbind takes the bond off ctx->bonds and wakes the
 * teardowns waiting for it; from then on those may free the device, the
 * address space and the context, so the unbinding thread must not read any
 * of them.  It did: sva_bond_unlinked_remove() came after that step and read
 * bond->dev->ctx and ctx->unlinked (ASan's use-after-poison in ktest-teardown
 * on vtd48-numa, 'sva_dev_close during another thread's mm_exit').  Here,
 * deterministically: the unbinding thread's mm_exit holds it until the other
 * thread sleeps in its teardown (libsva-test's sva_test_teardown_wait_hook),
 * and at libsva-test's sva_test_off_bonds_hook, just after that step, it
 * joins the other thread, whose calls have then freed what they release.
 *
 * A read after that must fail in every build: under ASan the arena poisons
 * a freed object, and it is reported as a use after free; elsewhere the
 * device and the context are allocated as whole granules (over 2 KiB), which
 * the arena maps PROT_NONE when freed (the address space is one already), so
 * the read faults, and the SIGSEGV handler here names what was read.
 *
 * Each case: which call unbinds (sva_unbind(), or the teardown of a
 * sva_mm_free(), sva_dev_close() or sva_ctx_free()), and what the other
 * thread releases meanwhile.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <semaphore.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kabi.h"
#include "pasid_space.h"
#include "../tap.h"
#include "fake_bind_objects.h"
#include "fake_noop_kernel.h"

#if defined(__SANITIZE_ADDRESS__)
#define TEST_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define TEST_ASAN 1
#endif
#endif
#ifdef TEST_ASAN
#include <sanitizer/asan_interface.h>
/* Its own size: freed, the arena poisons it past its first word. */
#define OBJ_BYTES(type) sizeof(type)
#else
/* Over the arena's 2 KiB: a granule of its own, PROT_NONE once freed. */
#define OBJ_BYTES(type) (sizeof(type) > 4096 ? sizeof(type) : 4096)
#endif

static atomic_int err_lines;

static void capture(void *arg, enum sva_log_level level, const char *msg)
{
	(void)arg;
	if (level >= SVA_LOG_WARN) {
		atomic_fetch_add(&err_lines, 1);
		fprintf(stderr, "libsva: %s\n", msg);
	}
}

/* ------------------------------------------- what the other thread released */

/* The objects the other thread's calls free, for the fault handler to name
 * and the hook to check. */
static struct released {
	const char *what;
	const void *at;
	size_t len;
} released[3];
static int nreleased;

static void on_segv(int sig, siginfo_t *si, void *uc)
{
	static const char head[] = "Bail out! the unbinding thread read ";
	static const char tail[] = " after the teardown that waited for its bond freed it (SIGSEGV)\n";
	static const char other[] = "Bail out! SIGSEGV, outside what the other thread released\n";
	const char *what = NULL;

	(void)sig;
	(void)uc;
	for (int i = 0; i < nreleased; i++)
		if ((const char *)si->si_addr >= (const char *)released[i].at &&
		    (const char *)si->si_addr < (const char *)released[i].at + released[i].len)
			what = released[i].what;
	if (!what) {
		if (write(STDOUT_FILENO, other, sizeof(other) - 1) < 0)
			_exit(2);
	} else if (write(STDOUT_FILENO, head, sizeof(head) - 1) < 0 || write(STDOUT_FILENO, what, strlen(what)) < 0 ||
		   write(STDOUT_FILENO, tail, sizeof(tail) - 1) < 0) {
		_exit(2);
	}
	_exit(1);
}

static int probe_pipe[2];

/* Whether p can no longer be read: what makes a later read fail. */
static bool unreadable(const void *p)
{
	char c;
	ssize_t n;

#ifdef TEST_ASAN
	/* A small object, poisoned past its first word (the arena's free-list
	 * link); a granule is PROT_NONE, as below. */
	if (__asan_address_is_poisoned((const char *)p + sizeof(void *)))
		return true;
#endif
	n = write(probe_pipe[1], p, 1);
	if (n == 1 && read(probe_pipe[0], &c, 1) != 1)
		tap_bail("reading the probe pipe back failed");
	return n < 0 && errno == EFAULT;
}

/* ---------------------------------------------------------------- the race */

enum call { UNBIND, MM_FREE, DEV_CLOSE, CTX_FREE };

static const char *const call_name[] = { "sva_unbind", "sva_mm_free", "sva_dev_close", "sva_ctx_free" };

/* One case's objects and its two threads' progress. */
static struct race {
	struct sva_ctx *ctx;
	struct sva_dev *dev;
	struct sva_mm *mm;
	struct sva_bond *bond;
	enum call unbinder;   /* the call whose teardown unbinds the bond */
	enum call closer[3];  /* the other thread's calls, in order: the first waits */
	int ncloser;
	pthread_t closer_thread;
	sem_t inside;	      /* the bond's mm_exit has started */
	sem_t closer_waiting; /* the closer sleeps for the bond */
	atomic_int mm_exits, waits;
	int unbind_ret;
	/* Found at the hook, after the closer's calls returned. */
	bool hooked, joined;
	int unreadable, released_at_hook;
} R;

static void mm_exit(struct sva_bond *bond, void *drvdata)
{
	(void)bond;
	(void)drvdata;
	atomic_fetch_add(&R.mm_exits, 1);
	sem_post(&R.inside);
	/* The closer's teardown finds the bond being torn down and sleeps. */
	while (sem_wait(&R.closer_waiting) && errno == EINTR)
		;
}

extern void (*sva_test_teardown_wait_hook)(struct sva_ctx *ctx); /* teardown.c, libsva-test only */
extern void (*sva_test_off_bonds_hook)(struct sva_bond *bond);	 /* bond.c, likewise */

static void on_teardown_wait(struct sva_ctx *ctx)
{
	(void)ctx;
	atomic_fetch_add(&R.waits, 1);
	sem_post(&R.closer_waiting);
}

/* The bond has left ctx->bonds and the closer is woken: let its calls run to
 * their end before this thread goes on. */
static void on_off_bonds(struct sva_bond *bond)
{
	if (bond != R.bond || R.hooked)
		return;
	R.hooked = true;
	R.joined = pthread_join(R.closer_thread, NULL) == 0;
	R.released_at_hook = nreleased;
	for (int i = 0; i < nreleased; i++)
		R.unreadable += unreadable(released[i].at);
}

static void release_note(const char *what, const void *at, size_t len)
{
	released[nreleased++] = (struct released){ what, at, len };
}

/* `note`: the other thread's call, whose release the hook checks. */
static int call(enum call c, bool note)
{
	switch (c) {
	case UNBIND:
		return sva_unbind(R.bond);
	case MM_FREE:
		if (note)
			release_note("the address space", R.mm, sizeof(*R.mm));
		sva_mm_free(R.mm);
		break;
	case DEV_CLOSE:
		if (note)
			release_note("the device", R.dev, OBJ_BYTES(struct sva_dev));
		sva_dev_close(R.dev);
		break;
	case CTX_FREE:
		/* Its memory goes with the last reference: the cases that free
		 * it on the other thread release its devices and address spaces
		 * there too. */
		if (note)
			release_note("the context", R.ctx, OBJ_BYTES(struct sva_ctx));
		sva_ctx_free(R.ctx);
		break;
	}
	return 0;
}

static void *closer(void *arg)
{
	(void)arg;
	for (int i = 0; i < R.ncloser; i++)
		call(R.closer[i], true);
	return NULL;
}

static void *unbinder(void *arg)
{
	(void)arg;
	R.unbind_ret = call(R.unbinder, false);
	return NULL;
}

static void setup(void)
{
	const struct sva_mm_opts mo = { .size = sizeof(mo), .flags = SVA_MM_UNTRACKED };
	const struct sva_bond_ops ops = { .size = sizeof(ops), .mm_exit = mm_exit };
	struct sva_bind_opts bo = { .size = sizeof(bo), .flags = SVA_BIND_PINNED, .ops = &ops };

	R.ctx = sva_calloc(1, OBJ_BYTES(struct sva_ctx));
	R.dev = sva_calloc(1, OBJ_BYTES(struct sva_dev));
	if (!R.ctx || !R.dev)
		tap_bail("out of arena memory");
	fake_ctx_init(R.ctx, capture, 20000000ull);
	fake_dev_init(R.dev, R.ctx, &fake_be, atomic_fetch_add(&next_id, 1), 20, "fake");
	/* What sva_dev_setup() does: the device's reference, on the list. */
	sva_ctx_get(R.ctx);
	R.ctx->devs = R.dev;
	if (sva_mm_new(R.ctx, &mo, &R.mm))
		tap_bail("sva_mm_new failed");
	if (sva_bind(R.dev, R.mm, &bo, &R.bond))
		tap_bail("sva_bind failed");
}

/* What the case left open, released on this thread once both are done. */
static void finish(void)
{
	bool dev = true, mm = true, ctx = true;

	for (int i = 0; i < R.ncloser; i++) {
		dev &= R.closer[i] != DEV_CLOSE;
		mm &= R.closer[i] != MM_FREE;
		ctx &= R.closer[i] != CTX_FREE;
	}
	dev &= R.unbinder != DEV_CLOSE;
	mm &= R.unbinder != MM_FREE;
	ctx &= R.unbinder != CTX_FREE;
	nreleased = 0; /* not the race's any more */
	if (mm)
		sva_mm_free(R.mm);
	if (dev)
		sva_dev_close(R.dev);
	if (ctx)
		sva_ctx_free(R.ctx);
}

static void race(enum call unbinding, const enum call *others, int nothers)
{
	char name[128];
	int len;
	pthread_t t;

	memset(&R, 0, sizeof(R));
	nreleased = 0;
	R.unbinder = unbinding;
	R.ncloser = nothers;
	memcpy(R.closer, others, (size_t)nothers * sizeof(*others));
	len = snprintf(name, sizeof(name), "%s's unbind, ", call_name[unbinding]);
	for (int i = 0; i < nothers; i++)
		len += snprintf(name + len, sizeof(name) - (size_t)len, "%s%s", i ? ", " : "", call_name[others[i]]);
	snprintf(name + len, sizeof(name) - (size_t)len, " waiting");
	sem_init(&R.inside, 0, 0);
	sem_init(&R.closer_waiting, 0, 0);
	setup();
	atomic_store(&err_lines, 0);

	if (pthread_create(&t, NULL, unbinder, NULL))
		tap_bail("pthread_create failed");
	/* Claimed by the unbinder first: the closer must find it being torn down. */
	while (sem_wait(&R.inside) && errno == EINTR)
		;
	if (pthread_create(&R.closer_thread, NULL, closer, NULL))
		tap_bail("pthread_create failed");
	pthread_join(t, NULL);

	ok(R.hooked && R.joined, "%s: the other thread's calls returned while the bond's unbind was at its last step",
	   name);
	ok(atomic_load(&R.waits) >= 1, "  %s slept for the bond (%d)", call_name[others[0]], atomic_load(&R.waits));
	is_int(R.released_at_hook, nothers, "  its calls released %d object(s)", nothers);
	is_int(R.unreadable, nothers, "  all of them freed by then (so a read faults)");
	if (unbinding == UNBIND)
		is_int(R.unbind_ret, 0, "  sva_unbind returned 0");
	/* Still there unless the other thread freed it. */
	if (others[0] != CTX_FREE)
		ok(!R.ctx->bonds && !R.ctx->unlinked, "  the context keeps nothing of the bond on its lists");
	is_int(atomic_load(&R.mm_exits), 1, "  mm_exit ran once");
	is_int(atomic_load(&err_lines), 0, "  not one warning or error line");
	finish();
	sem_destroy(&R.inside);
	sem_destroy(&R.closer_waiting);
}

int main(void)
{
	struct sigaction sa = { .sa_sigaction = on_segv, .sa_flags = SA_SIGINFO };

	if (pipe(probe_pipe))
		tap_bail("pipe: %s", strerror(errno));
#ifndef TEST_ASAN
	/* ASan reports a bad read itself. */
	sigaction(SIGSEGV, &sa, NULL);
#else
	(void)sa;
#endif
	sva_test_teardown_wait_hook = on_teardown_wait;
	sva_test_off_bonds_hook = on_off_bonds;
	plan(5 * 6 + 2 + 4); /* two cases by sva_unbind(), four keep the context */
	/* ktest-teardown's case: the device goes, the context stays. */
	race(UNBIND, (const enum call[]){ DEV_CLOSE }, 1);
	/* The context goes too ("releasing the context's last device or address
	 * space from another thread once the bonds are gone is safe"). */
	race(UNBIND, (const enum call[]){ CTX_FREE, MM_FREE, DEV_CLOSE }, 3);
	/* The teardowns of the other calls unbind through the same steps. */
	race(MM_FREE, (const enum call[]){ DEV_CLOSE }, 1);
	race(DEV_CLOSE, (const enum call[]){ MM_FREE }, 1);
	race(CTX_FREE, (const enum call[]){ DEV_CLOSE }, 1);
	return done_testing();
}
