/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * fork() against binds, unbinds and PASID allocations in other threads, on
 * a context and devices built by hand around a fake backend (as
 * test-bind-fork.c): meant for --enable-sanitizers=thread and
 * address,undefined too.  Bounded: fixed counts, no timing asserted; a hang
 * (a deadlock between the fork guard's handler and a thread holding
 * dev->lock or mm->lock on its way into a pasid_lock section) trips the
 * watchdog, which fails the test.
 *
 * Each child, whatever the fork caught, finds pasid_lock free, frees every
 * address space (sva_mm_free(), memory only), and then finds no bond left
 * on the context's list of binds and unbinds in progress, no share on its
 * pending list, and the arena usable.  Before and after those frees it looks
 * up the RID and the address spaces' global PASIDs on both devices: a bond
 * or -ENOENT before, -ENOENT after.  It starts no thread and _exits.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
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
#include "../unit/fake_fork_ctx.h"

#define WORKERS 3
#define ITERS 300
#define ITERS_MAX 2000 /* each round quarantines a value or two: far below the space */
#define FORKS 40
#define WATCHDOG_S 300 /* a hang, not a slow run: far above any run seen */

static atomic_uint next_id = 100;

static bool fake_ioctl(unsigned long req, void *arg, int *rc)
{
	return fake_objects_ioctl(req, arg, rc, &next_id);
}
#include "../unit/fake_ioctl.h"

static int f_pasid_attach(struct sva_dev *d, uint32_t pasid, uint32_t pt)
{
	(void)d;
	(void)pasid;
	(void)pt;
	sched_yield(); /* widen the window a fork may catch a bind in */
	return 0;
}

static int f_pasid_detach(struct sva_dev *d, uint32_t pasid)
{
	(void)d;
	(void)pasid;
	sched_yield();
	return 0;
}

static const struct sva_dev_backend fake_be = {
	"fake", fake_noop_attach, fake_noop_detach,
	f_pasid_attach, f_pasid_detach, fake_noop_close, 0,
};

static struct sva_ctx ctx;
static struct sva_dev wide, wide2;
static struct sva_mm *mms[WORKERS];
static atomic_int errors;
static atomic_bool stop, forks_done;

static atomic_int waiting_for; /* the child the forker waits for, 0 if none: lock-free, for the handler */

static void watchdog(int sig)
{
	static const char msg[] = "Bail out! watchdog: no progress; a deadlock around fork(), or a child stuck\n";

	(void)sig;
	if (atomic_load(&waiting_for) > 0) /* a stuck child would outlive the test */
		kill((pid_t)atomic_load(&waiting_for), SIGKILL);
	(void)!write(STDOUT_FILENO, msg, sizeof(msg) - 1);
	_exit(1);
}

static void bad(const char *what, int ret)
{
	if (atomic_fetch_add(&errors, 1) < 5)
		diag("%s: %d (%s)", what, ret, strerror(ret < 0 ? -ret : ret));
}

static void *worker(void *arg)
{
	int id = (int)(intptr_t)arg;
	struct sva_mm *mm = mms[id];
	const struct sva_bind_opts def = { .size = sizeof(def), .flags = SVA_BIND_PINNED };
	const struct sva_bind_opts extra = { .size = sizeof(extra), .flags = SVA_BIND_PINNED | SVA_BIND_EXTRA_PASID };
	const struct sva_bind_opts rid = { .size = sizeof(rid), .flags = SVA_BIND_PINNED | SVA_BIND_RID };

	/* At least ITERS rounds, and on while forks go on: bounded either way. */
	for (int i = 0; i < ITERS || (i < ITERS_MAX && !atomic_load(&forks_done)); i++) {
		struct sva_bond *a = NULL, *b = NULL;
		int ret;

		switch ((i + id) % 4) {
		case 0: /* the address space's global PASID, joined by the second device */
			if ((ret = sva_bind(&wide, mm, &def, &a)) != 0)
				bad("bind global", ret);
			if ((ret = sva_bind(&wide2, mm, &def, &b)) != 0)
				bad("bind global, joined", ret);
			break;
		case 1:
			if ((ret = sva_bind(&wide, mm, &extra, &a)) != 0)
				bad("bind extra", ret);
			break;
		case 2: { /* a driver's value, pending until published */
			struct sva_bind_opts o = { .size = sizeof(o), .flags = SVA_BIND_PINNED | SVA_BIND_PASID };
			uint32_t p;

			if ((ret = sva_dev_pasid_alloc(&wide2, SVA_PASID_GLOBAL, NULL, &p)) != 0) {
				bad("sva_dev_pasid_alloc", ret);
				break;
			}
			o.pasid = p;
			if ((ret = sva_bind(&wide2, mm, &o, &a)) != 0)
				bad("bind a driver's value", ret);
			if (a && (ret = sva_unbind(a)) != 0)
				bad("unbind a driver's value", ret);
			a = NULL;
			if ((ret = sva_dev_pasid_free(&wide2, p)) != 0)
				bad("sva_dev_pasid_free", ret);
			break;
		}
		case 3: /* one RID: another worker may hold it */
			ret = sva_bind(&wide, mm, &rid, &a);
			if (ret && ret != -EBUSY)
				bad("bind RID", ret);
			if (ret)
				a = NULL;
			break;
		}
		/* A failed bind must leave nothing on the list of those in progress
		 * (checked once all stop); these go in both orders. */
		if (i & 1) {
			struct sva_bond *t = a;

			a = b;
			b = t;
		}
		if (a && (ret = sva_unbind(a)) != 0)
			bad("unbind", ret);
		if (b && (ret = sva_unbind(b)) != 0)
			bad("unbind", ret);
	}
	return NULL;
}

/* PASIDs by hand, beside the binds: the spaces' locks under pasid_lock. */
static void *allocator(void *arg)
{
	(void)arg;
	for (int i = 0; i < ITERS_MAX && !atomic_load(&stop); i++) {
		uint32_t p, q;
		int ret;

		if ((ret = sva_dev_pasid_alloc(&wide, SVA_PASID_GLOBAL, NULL, &p)) != 0) {
			bad("sva_dev_pasid_alloc", ret);
			continue;
		}
		if ((ret = sva_dev_pasid_alloc(&wide, SVA_PASID_GLOBAL, NULL, &q)) != 0)
			bad("sva_dev_pasid_alloc global", ret);
		else if ((ret = sva_dev_pasid_free(&wide, q)) != 0)
			bad("sva_dev_pasid_free global", ret);
		(void)sva_dev_bond_lookup(&wide2, p, NULL, NULL); /* logs a miss: the log's lock */
		if ((ret = sva_dev_pasid_free(&wide, p)) != 0)
			bad("sva_dev_pasid_free", ret);
	}
	return NULL;
}

/* Only what a forked child may call: libsva's memory-only paths and _exit. */
static int child(void)
{
	struct sva_dev *devs[2] = { &wide, &wide2 };
	uint32_t looked[WORKERS + 1];
	int ret = 0, n = 0, r;
	void *m;

	if (pthread_mutex_trylock(&ctx.pasid_lock))
		ret |= 1;
	else
		pthread_mutex_unlock(&ctx.pasid_lock);
	/* Before any sva_mm_free(): whatever write to a device's table the fork
	 * caught, a lookup answers (a spin would trip the watchdog). */
	looked[n++] = SVA_PASID_RID;
	for (int i = 0; i < WORKERS; i++)
		if (mms[i]->gshare) /* under pasid_lock, which was free at the fork */
			looked[n++] = mms[i]->gshare->pasid;
	for (int i = 0; i < n; i++)
		for (int d = 0; d < 2; d++)
			if ((r = sva_dev_bond_lookup(devs[d], looked[i], NULL, NULL)) != 0 && r != -ENOENT)
				ret |= 16;
	for (int i = 0; i < WORKERS; i++)
		sva_mm_free(mms[i]);
	for (int i = 0; i < n; i++)
		for (int d = 0; d < 2; d++)
			if (sva_dev_bond_lookup(devs[d], looked[i], NULL, NULL) != -ENOENT)
				ret |= 32;
	if (ctx.unlinked)
		ret |= 2;
	if (ctx.pending_shares)
		ret |= 4;
	m = sva_malloc(64);
	if (!m)
		ret |= 8;
	sva_free(m);
	return ret;
}

static int fork_fails, fork_status;

static void *forker(void *arg)
{
	(void)arg;
	for (int i = 0; i < FORKS; i++) {
		pid_t pid = fork();
		int st;

		if (pid == 0)
			_exit(child());
		atomic_store(&waiting_for, pid);
		if (pid < 0 || waitpid(pid, &st, 0) != pid) {
			fork_fails++;
			continue;
		}
		atomic_store(&waiting_for, 0);
		st = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
		if (st && !fork_status)
			fork_status = st;
		sched_yield();
	}
	atomic_store(&forks_done, true);
	return NULL;
}

int main(void)
{
	const struct sva_mm_opts mo = { .size = sizeof(mo), .flags = SVA_MM_UNTRACKED };
	pthread_t w[WORKERS], al, fk;

	plan(6);
	signal(SIGALRM, watchdog);
	alarm(WATCHDOG_S);
	fake_fork_ctx_init(&ctx, &fake_be, &next_id, &wide, &wide2);
	for (int i = 0; i < WORKERS; i++)
		if (sva_mm_new(&ctx, &mo, &mms[i]))
			tap_bail("sva_mm_new failed");
	for (int i = 0; i < WORKERS; i++)
		if (pthread_create(&w[i], NULL, worker, (void *)(intptr_t)i))
			tap_bail("pthread_create failed");
	if (pthread_create(&al, NULL, allocator, NULL) || pthread_create(&fk, NULL, forker, NULL))
		tap_bail("pthread_create failed");
	pthread_join(fk, NULL);
	for (int i = 0; i < WORKERS; i++)
		pthread_join(w[i], NULL);
	atomic_store(&stop, true);
	pthread_join(al, NULL);
	alarm(0);
	ok(1, "%d forks against %d binding threads and an allocating one: all return", FORKS, WORKERS);
	is_int(fork_fails, 0, "  every fork and wait succeeds");
	is_int(fork_status, 0, "  every child finds pasid_lock free, frees every address space, and finds "
			       "nothing in progress, nothing pending, the arena usable (bits 1, 2, 4, 8); its lookups "
			       "answer before (16) and say -ENOENT after (32)");
	is_int(atomic_load(&errors), 0, "  every bind, unbind, allocation and free in the parent succeeds");
	ok(!ctx.unlinked, "  nothing is left on the parent's list of binds and unbinds in progress");
	ok(!ctx.pending_shares, "  nor on its pending list");
	for (int i = 0; i < WORKERS; i++)
		sva_mm_free(mms[i]);
	ctx.devs = NULL;
	return done_testing();
}
