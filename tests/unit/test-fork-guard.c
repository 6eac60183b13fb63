/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The fork guard (libsva/fork_guard.c): a fork waits for every section under
 * way and none starts while it runs; sections nest, and a thread already
 * inside one never waits for a fork; the child starts with the guard free,
 * whatever the parent's threads were doing.  A signal handler that enters a
 * section on a thread on its way in or out of one (waiting out a fork, say:
 * a PASID lookup that fails logs, and may run in a handler) is neither let in
 * during a fork nor left waiting for a fork that waits for its own thread.
 * The last check forks 200 times while four threads enter and leave nested
 * sections; the tsan tier runs it.
 */
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "fork_guard.h"
#include "../proc_status.h"
#include "../tap.h"

extern void (*sva_test_fork_guard_hook)(void); /* fork_guard.c, libsva-test only */

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

/*
 * A signal handler that enters a section, as a failing PASID lookup's debug
 * line does, and notes whether it got in while the test's fork was under way
 * (blocked and past the wait for sections).  With h_hold it stays inside
 * until h_go.
 */
static atomic_int fork_on, h_started, h_in, h_in_during_fork, h_done;
static atomic_bool h_hold, h_go;

static void handler(int sig)
{
	(void)sig;
	atomic_store(&h_started, 1);
	sva_fork_guard_enter();
	atomic_store(&h_in_during_fork, atomic_load(&fork_on));
	atomic_store(&h_in, 1);
	while (atomic_load(&h_hold) && !atomic_load(&h_go))
		sched_yield();
	sva_fork_guard_leave();
	atomic_store(&h_done, 1);
}

static void h_reset(void)
{
	atomic_store(&h_started, 0);
	atomic_store(&h_in, 0);
	atomic_store(&h_in_during_fork, 0);
	atomic_store(&h_done, 0);
	atomic_store(&h_hold, false);
	atomic_store(&h_go, false);
}

/* The guard's hook raises the signal on an armed thread, once: there its
 * count in the guard is changing (fork_guard.c). */
static _Thread_local bool armed;

static void guard_hook(void)
{
	if (armed) {
		armed = false;
		raise(SIGUSR1);
	}
}

struct worker {
	pthread_t th;
	atomic_int tid, in, out;
	atomic_bool go;	  /* an inside worker leaves */
	bool arm_enter;	  /* the hook fires on the way in */
	bool arm_leave;	  /* the hook fires on the way out, after go */
};

static void *worker(void *arg)
{
	struct worker *w = arg;

	atomic_store(&w->tid, (int)syscall(SYS_gettid));
	armed = w->arm_enter;
	sva_fork_guard_enter();
	atomic_store(&w->in, 1);
	while (w->arm_leave && !atomic_load(&w->go))
		sched_yield();
	armed = w->arm_leave;
	sva_fork_guard_leave();
	atomic_store(&w->out, 1);
	return NULL;
}

static void start_worker(struct worker *w)
{
	atomic_store(&w->tid, 0);
	atomic_store(&w->in, 0);
	atomic_store(&w->out, 0);
	atomic_store(&w->go, false);
	pthread_create(&w->th, NULL, worker, w);
	while (!atomic_load(&w->tid))
		sched_yield();
}

/* A worker asleep at the guard's door: a block is in force.  One that got in
 * first (the block was not set yet) is replaced. */
static void start_waiter(struct worker *w)
{
	for (;;) {
		w->arm_enter = w->arm_leave = false;
		start_worker(w);
		while (!atomic_load(&w->in) && proc_task_state(atomic_load(&w->tid)) != 'S')
			sleep_ms(1);
		if (!atomic_load(&w->in))
			return;
		pthread_join(w->th, NULL);
	}
}

/* Until the handler is inside, or waits (started, not in, its thread asleep). */
static void await_handler(int tid)
{
	while (!atomic_load(&h_in) && !(atomic_load(&h_started) && proc_task_state(tid) == 'S'))
		sleep_ms(1);
}

/* A fork that has blocked the guard and found no section: the child is being made. */
static void fork_passed(void)
{
	h_reset();
	atomic_store(&fork_on, 1);
	sva_fork_guard_block();
}

static void fork_done(void)
{
	atomic_store(&fork_on, 0);
	sva_fork_guard_unblock();
}

static void signal_checks(void)
{
	struct sigaction sa = { .sa_handler = handler };
	struct worker w = { 0 }, l = { 0 };
	pthread_t b;

	sigemptyset(&sa.sa_mask);
	sigaction(SIGUSR1, &sa, NULL);
	sva_test_fork_guard_hook = guard_hook;

	/* A thread waits out a fork at the door; a handler on it enters. */
	fork_passed();
	start_waiter(&w);
	pthread_kill(w.th, SIGUSR1);
	await_handler(atomic_load(&w.tid));
	fork_done();
	pthread_join(w.th, NULL);
	ok(atomic_load(&h_done) && !atomic_load(&h_in_during_fork),
	   "a handler on a thread waiting out a fork waits for it too: not let in during the fork");
	ok(atomic_load(&w.in), "the thread it interrupted gets in after the fork");

	/* The same, the handler run just as the thread counted itself, on its way in. */
	fork_passed();
	w.arm_enter = true;
	w.arm_leave = false;
	start_worker(&w);
	await_handler(atomic_load(&w.tid));
	fork_done();
	pthread_join(w.th, NULL);
	ok(atomic_load(&h_done) && !atomic_load(&h_in_during_fork),
	   "a handler run just as its thread counted itself in waits for a fork under way too");
	ok(atomic_load(&w.in), "and its thread gets in after the fork");

	/* The fork still waits for a section (this thread's): a handler that
	 * interrupts a waiting thread gets in, and the fork waits for it. */
	h_reset();
	atomic_store(&h_hold, true);
	atomic_store(&blocked_done, 0);
	sva_fork_guard_enter();
	pthread_create(&b, NULL, blocker, NULL);
	start_waiter(&w);
	pthread_kill(w.th, SIGUSR1);
	await_handler(atomic_load(&w.tid));
	ok(atomic_load(&h_in), "a handler on a waiting thread gets in while the fork still waits for sections");
	sva_fork_guard_leave();
	sleep_ms(50);
	ok(!atomic_load(&blocked_done), "and the fork waits for that handler's section");
	atomic_store(&h_go, true);
	pthread_join(b, NULL);
	ok(atomic_load(&blocked_done), "the fork goes on once the handler has left");
	sva_fork_guard_unblock();
	pthread_join(w.th, NULL);

	/* A thread leaving its section while a fork waits for it; a handler run
	 * on it between the two would wait for the fork, which waits for it. */
	h_reset();
	atomic_store(&blocked_done, 0);
	l.arm_enter = false;
	l.arm_leave = true;
	start_worker(&l);
	while (!atomic_load(&l.in))
		sched_yield();
	pthread_create(&b, NULL, blocker, NULL);
	start_waiter(&w); /* the block is in force */
	atomic_store(&l.go, true);
	await_handler(atomic_load(&l.tid));
	ok(atomic_load(&h_in) && !atomic_load(&h_in_during_fork),
	   "a handler on a thread leaving its last section, a fork waiting for it, gets in: no deadlock");
	if (!atomic_load(&h_in))
		sva_fork_guard_unblock(); /* undo the deadlock, for the checks below */
	pthread_join(l.th, NULL);
	pthread_join(b, NULL);
	sva_fork_guard_unblock();
	pthread_join(w.th, NULL);
	ok(atomic_load(&h_done) && atomic_load(&l.out) && atomic_load(&w.in), "then every one gets in and out");

	sva_test_fork_guard_hook = NULL;
	signal(SIGUSR1, SIG_DFL);
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

	signal_checks();

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
