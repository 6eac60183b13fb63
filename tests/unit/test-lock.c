/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The PASID allocator's lock (libsva/lock.h): mutual exclusion, no lost
 * wake-up when a waiter has gone to sleep, and the single-threaded to
 * threaded switch.  Built twice: as test-lock (the mode the machine allows,
 * asymmetric where membarrier works) and, with -DFORCE_SYMMETRIC, as
 * test-lock-symmetric, which sets SVA_NO_MEMBARRIER, so both release
 * protocols run.  Run it under
 * ThreadSanitizer too: a missing happens-before edge shows up there.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <pthread.h>
#include <sched.h>
#include <stdlib.h>
#include <stdatomic.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "kabi.h"
#include "lock.h"
#include "../tap.h"

#define NTHREADS 4	 /* more than the CPUs of a small runner: some must sleep */
#define ROUNDS 200000u

static struct sva_lock lock;
static unsigned long counter; /* guarded by lock only: a race is a wrong total */

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void *hammer(void *arg)
{
	for (unsigned int i = 0; i < ROUNDS; i++) {
		sva_lock_acquire(&lock);
		counter++;
		/* Now and then hold it across a yield so that waiters run out
		 * of spins and sleep on the futex. */
		if (i % 4096 == 0)
			sched_yield();
		sva_lock_release(&lock);
	}
	return arg;
}

static atomic_bool holding, sleeper_done;
static atomic_long sleeper_tid;

static void *sleeper(void *arg)
{
	atomic_store(&sleeper_tid, (long)syscall(SYS_gettid));
	while (!atomic_load(&holding))
		sched_yield();
	sva_lock_acquire(&lock); /* must wait for the 100 ms hold below */
	counter++;
	sva_lock_release(&lock);
	atomic_store(&sleeper_done, true);
	return arg;
}

/* The scheduler state of one of our threads ('S': asleep, here in the futex
 * wait), or '?' when it cannot be read. */
static char thread_state(long tid)
{
	char path[64], buf[256], *close_paren;
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/proc/self/task/%ld/stat", tid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return '?';
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return '?';
	buf[n] = '\0';
	close_paren = strrchr(buf, ')'); /* the name may hold anything */
	return close_paren && close_paren[1] == ' ' ? close_paren[2] : '?';
}

#ifndef FORCE_SYMMETRIC
static bool membarrier_usable(void)
{
#ifdef SYS_membarrier
	long cmds = syscall(SYS_membarrier, KABI_MEMBARRIER_CMD_QUERY, 0u, 0);

	return cmds >= 0 && (cmds & KABI_MEMBARRIER_CMD_PRIVATE_EXPEDITED);
#else
	return false;
#endif
}
#endif

int main(void)
{
	pthread_t t[NTHREADS];
	enum sva_lock_mode mode;
	uint64_t t0;
	bool ok_all;
	char state = '?';

	alarm(120); /* a lost wake-up hangs: fail by SIGALRM instead */
#ifdef FORCE_SYMMETRIC
	setenv("SVA_NO_MEMBARRIER", "1", 1);
	mode = sva_lock_mode();
	is_int(mode, SVA_LOCK_SYMMETRIC, "symmetric mode with SVA_NO_MEMBARRIER set");
#else
	mode = sva_lock_mode();
	if (getenv("SVA_NO_MEMBARRIER"))
		is_int(mode, SVA_LOCK_SYMMETRIC, "symmetric mode: SVA_NO_MEMBARRIER is set");
	else if (membarrier_usable())
		is_int(mode, SVA_LOCK_ASYMMETRIC, "asymmetric mode where membarrier works");
	else
		is_int(mode, SVA_LOCK_SYMMETRIC, "symmetric mode without membarrier (the kernel lacks it)");
#endif
	if (mode == SVA_LOCK_ASYMMETRIC)
		setenv("SVA_NO_MEMBARRIER", "1", 1);
	else
		unsetenv("SVA_NO_MEMBARRIER");
	is_int(sva_lock_mode(), mode, "the mode is chosen once and kept");
	diag("mode: %s", mode == SVA_LOCK_ASYMMETRIC ? "asymmetric (membarrier)" : "symmetric");
	sva_lock_init(&lock);

	/* Before any thread: the plain-store path. */
#if HAVE_DECL___LIBC_SINGLE_THREADED
	ok(sva_single_threaded(), "a process without threads is single-threaded");
#else
	ok(!sva_single_threaded(), "without __libc_single_threaded every process counts as threaded");
#endif
	sva_lock_acquire(&lock);
	is_int(atomic_load(&lock.held), 1, "held after acquire");
	sva_lock_release(&lock);
	is_int(atomic_load(&lock.held), 0, "free after release");

	/* Contended: every increment must count. */
	for (int i = 0; i < NTHREADS; i++)
		pthread_create(&t[i], NULL, hammer, NULL);
	ok(!sva_single_threaded(), "threaded once a thread was created");
	for (int i = 0; i < NTHREADS; i++)
		pthread_join(t[i], NULL);
	is_int(counter, (unsigned long)NTHREADS * ROUNDS, "%d threads x %u locked increments, none lost", NTHREADS,
	       ROUNDS);
	is_int(atomic_load(&lock.held), 0, "free at the end");
	is_int(atomic_load(&lock.waiters), 0, "no waiter left counted");

	/* A waiter that went to sleep is woken by the release. */
	sva_lock_acquire(&lock);
	atomic_store(&holding, true);
	pthread_create(&t[0], NULL, sleeper, NULL);
	usleep(100000);
	ok(!atomic_load(&sleeper_done), "the waiter does not get a held lock");
	/*
	 * The lock promises no time by which a waiter has counted itself: that
	 * depends on when the scheduler first runs the new thread, which on a
	 * loaded 2-CPU runner was seen to take more than 100 ms.  What the
	 * wake-up check below needs is a waiter that is counted and asleep, so
	 * wait for exactly that (the alarm above bounds a lock that never
	 * counts it).
	 */
	t0 = now_ms();
	while (atomic_load(&lock.waiters) != 1 || !atomic_load(&sleeper_tid) ||
	       (state = thread_state(atomic_load(&sleeper_tid))) != 'S')
		usleep(1000);
	ok(atomic_load(&lock.waiters) == 1 && state == 'S' && !atomic_load(&sleeper_done),
	   "it sleeps as a counted waiter, the lock still held (waiters %u, state %c, %llu ms more)",
	   atomic_load(&lock.waiters), state, (unsigned long long)(now_ms() - t0));
	sva_lock_release(&lock);
	t0 = now_ms();
	while (!atomic_load(&sleeper_done) && now_ms() - t0 < 5000)
		usleep(1000);
	ok_all = atomic_load(&sleeper_done);
	ok(ok_all, "the release wakes it (%llu ms)", (unsigned long long)(now_ms() - t0));
	if (!ok_all)
		return done_testing(); /* it hangs: do not join */
	pthread_join(t[0], NULL);
	is_int(counter, (unsigned long)NTHREADS * ROUNDS + 1, "its increment counted");
	is_int(atomic_load(&lock.waiters), 0, "no waiter left counted after the wake");
	return done_testing();
}
