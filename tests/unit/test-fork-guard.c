/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The fork guard (libsva/fork_guard.c): a fork waits for every section under
 * way and none starts while it runs; sections nest, and a thread already
 * inside one never waits for a fork; the child starts with the guard free,
 * whatever the parent's threads were doing.  The last check forks 200 times
 * while four threads enter and leave nested sections; the tsan tier runs it.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "fork_guard.h"
#include "../tap.h"

static void sleep_ms(int ms)
{
	struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

static atomic_int blocked_done, entered;

static void *blocker(void *arg)
{
	(void)arg;
	sva_fork_guard_block();
	atomic_store(&blocked_done, 1);
	return NULL;
}

static void *enterer(void *arg)
{
	(void)arg;
	sva_fork_guard_enter();
	atomic_store(&entered, 1);
	sva_fork_guard_leave();
	return NULL;
}

static atomic_bool stop;

static void *churn(void *arg)
{
	(void)arg;
	while (!atomic_load(&stop)) {
		sva_fork_guard_enter();
		sva_fork_guard_enter(); /* a log line under the device list's lock */
		sva_fork_guard_leave();
		sva_fork_guard_leave();
	}
	return NULL;
}

static void prepare(void)
{
	sva_fork_guard_block();
}

static void parent(void)
{
	sva_fork_guard_unblock();
}

static void child(void)
{
	sva_fork_guard_unblock_child();
}

int main(void)
{
	pthread_t t, u, ts[4];

	/* A block waits for a section under way, nested ones included. */
	sva_fork_guard_enter();
	sva_fork_guard_enter();
	pthread_create(&t, NULL, blocker, NULL);
	sleep_ms(50);
	sva_fork_guard_leave();
	sleep_ms(50);
	ok(!atomic_load(&blocked_done), "a block waits while a thread is inside a section (nested, one level left)");
	sva_fork_guard_enter(); /* inside already: no wait, though a block is pending */
	sva_fork_guard_leave();
	ok(!atomic_load(&blocked_done), "re-entering from inside does not wait for the pending block");
	sva_fork_guard_leave();
	pthread_join(t, NULL);
	ok(atomic_load(&blocked_done), "the block returns once the section is left");

	/* While blocked, a new section waits for the unblock. */
	pthread_create(&u, NULL, enterer, NULL);
	sleep_ms(50);
	ok(!atomic_load(&entered), "while blocked, a section does not start");
	sva_fork_guard_unblock();
	pthread_join(u, NULL);
	ok(atomic_load(&entered), "after the unblock it does");

	/* Forks while threads churn: no child hangs or finds the guard taken. */
	pthread_atfork(prepare, parent, child);
	for (int i = 0; i < 4; i++)
		pthread_create(&ts[i], NULL, churn, NULL);
	int bad = 0;

	for (int i = 0; i < 200; i++) {
		pid_t pid = fork();
		int st = 0;

		if (pid == 0) {
			alarm(10);
			sva_fork_guard_enter();
			sva_fork_guard_leave();
			sva_fork_guard_block(); /* nobody inside in the child */
			sva_fork_guard_unblock();
			_exit(0);
		}
		if (pid < 0 || waitpid(pid, &st, 0) != pid || !WIFEXITED(st) || WEXITSTATUS(st) != 0)
			bad++;
	}
	atomic_store(&stop, true);
	for (int i = 0; i < 4; i++)
		pthread_join(ts[i], NULL);
	is_int(bad, 0, "200 forks while 4 threads enter and leave nested sections: every child finds the guard free");
	return done_testing();
}
