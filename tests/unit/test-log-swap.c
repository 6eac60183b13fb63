/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * sva_ctx_set_log(3): once it returns, the old callback is no longer called
 * with the old argument, so the caller may free that argument.  It used to
 * return while another thread was still inside the old callback, or about
 * to enter it with the pair it had copied.  The context's log is the
 * struct sva_log that sva_ctx_set_log() hands to sva_log_set().
 */
#include <errno.h>
#include <semaphore.h>
#include <signal.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fork.h"
#include "internal.h"
#include "../tap.h"

struct sink {
	atomic_int in_flight; /* calls under way with this arg */
	atomic_int retired;   /* set once a swap away from it returned */
	atomic_int late;      /* calls that began after that */
	atomic_int done;      /* calls that returned */
};

static sem_t entered;
static atomic_int slow_ms;

static void sink_cb(void *arg, enum sva_log_level level, const char *msg)
{
	struct sink *s = arg;
	int ms = atomic_load(&slow_ms);

	(void)level;
	(void)msg;
	atomic_fetch_add(&s->in_flight, 1);
	if (atomic_load(&s->retired))
		atomic_fetch_add(&s->late, 1);
	if (ms) {
		sem_post(&entered);
		usleep((useconds_t)ms * 1000);
	}
	atomic_fetch_add(&s->done, 1);
	atomic_fetch_sub(&s->in_flight, 1);
}

static struct sva_log log_;
static atomic_bool stop;

static void *logger(void *arg)
{
	(void)arg;
	while (!atomic_load(&stop))
		sva_logf(&log_, SVA_LOG_ERROR, "a line");
	return NULL;
}

static void *one_line(void *arg)
{
	(void)arg;
	sva_logf(&log_, SVA_LOG_ERROR, "a slow line");
	return NULL;
}

/* A call under way in another thread: the swap returns after it. */
static void waits_for_call_under_way(void)
{
	struct sink a = { 0 }, b = { 0 };
	pthread_t t;

	sva_log_init(&log_, sink_cb, &a, SVA_LOG_DEBUG);
	atomic_store(&slow_ms, 200);
	pthread_create(&t, NULL, one_line, NULL);
	sem_wait(&entered);
	atomic_store(&slow_ms, 0);
	sva_log_set(&log_, sink_cb, &b, SVA_LOG_DEBUG);
	is_int(atomic_load(&a.done), 1, "the swap returns only once the old callback's call under way has returned");
	is_int(atomic_load(&a.in_flight), 0, "  none with the old arg is left");
	pthread_join(t, NULL);
	sva_logf(&log_, SVA_LOG_ERROR, "after");
	is_int(atomic_load(&b.done), 1, "  the next line goes to the new pair");
	is_int(atomic_load(&a.done), 1, "  and not to the old one");
	sva_log_fini(&log_);
}

/* Four threads log without pause while the pair changes 2000 times: no call
 * with a replaced arg begins or is under way after its swap returned. */
static void swaps_under_load(void)
{
	static struct sink sinks[8];
	pthread_t t[4];
	int late = 0, left = 0;

	sva_log_init(&log_, sink_cb, &sinks[0], SVA_LOG_DEBUG);
	atomic_store(&stop, false);
	for (int i = 0; i < 4; i++)
		pthread_create(&t[i], NULL, logger, NULL);
	for (int i = 1; i <= 2000; i++) {
		struct sink *old = &sinks[(i - 1) % 8], *new = &sinks[i % 8];

		atomic_store(&new->retired, 0);
		sva_log_set(&log_, sink_cb, new, SVA_LOG_DEBUG);
		left += atomic_load(&old->in_flight) != 0;
		atomic_store(&old->retired, 1);
	}
	atomic_store(&stop, true);
	for (int i = 0; i < 4; i++)
		pthread_join(t[i], NULL);
	for (int i = 0; i < 8; i++)
		late += atomic_load(&sinks[i].late);
	is_int(left, 0, "2000 swaps under 4 logging threads: no old call under way after a swap returned");
	is_int(late, 0, "  and none begun after it");
	sva_log_fini(&log_);
}

/* A forked child inherits a call under way in a thread it does not have: its
 * swaps must not wait for that call. */
static void child_does_not_wait_for_parent(void)
{
	struct sink a = { 0 }, b = { 0 };
	pthread_t t;
	pid_t pid;
	int st = -1;

	sva_fork_gen_init();
	sva_log_init(&log_, sink_cb, &a, SVA_LOG_DEBUG);
	atomic_store(&slow_ms, 1000);
	pthread_create(&t, NULL, one_line, NULL);
	sem_wait(&entered);
	pid = fork();
	if (pid == 0) {
		alarm(5);
		atomic_store(&slow_ms, 0);
		sva_log_set(&log_, sink_cb, &b, SVA_LOG_DEBUG);
		sva_logf(&log_, SVA_LOG_ERROR, "in the child");
		_exit(atomic_load(&b.done) == 1 ? 0 : 1);
	}
	waitpid(pid, &st, 0);
	ok(WIFEXITED(st) && WEXITSTATUS(st) == 0, "a forked child's swap does not wait for its parent's call (status %#x)",
	   st);
	pthread_join(t, NULL);
	atomic_store(&slow_ms, 0);
	sva_log_fini(&log_);
}

/* A callback that ends its thread, or lets it be cancelled, leaves no call
 * counted for ever: a later swap returns (alarm() turns a hang into a
 * failure). */
static atomic_int end_how; /* 1 pthread_exit(), 2 wait to be cancelled */
static atomic_int ended;   /* calls of ending_cb that returned */

static void ending_cb(void *arg, enum sva_log_level level, const char *msg)
{
	(void)arg;
	(void)level;
	(void)msg;
	if (atomic_load(&end_how) == 1)
		pthread_exit(NULL);
	sem_post(&entered);
	for (int i = 0; i < 50; i++)
		usleep(2000); /* cancellation points, were cancellation on */
	atomic_fetch_add(&ended, 1);
}

static void *ending_logger(void *arg)
{
	(void)arg;
	for (;;) {
		sva_logf(&log_, SVA_LOG_ERROR, "a line");
		pthread_testcancel();
	}
	return NULL;
}

static void calls_that_do_not_return(void)
{
	struct sink b = { 0 };
	pthread_t t;
	void *how = NULL;
	unsigned current;

	alarm(20);
	sva_log_init(&log_, ending_cb, NULL, SVA_LOG_DEBUG);
	atomic_store(&end_how, 1);
	pthread_create(&t, NULL, ending_logger, NULL);
	pthread_join(t, NULL);
	/* Still counted as under way, the call would hold the swap for good
	 * (the alarm's kill, not a failed line, would say so). */
	current = log_.current;
	sva_log_set(&log_, sink_cb, &b, SVA_LOG_DEBUG);
	is_int((int)current, 0,
	       "a callback that calls pthread_exit(): its call is no longer counted as under way, the next swap returns");
	sva_logf(&log_, SVA_LOG_ERROR, "after");
	is_int(atomic_load(&b.done), 1, "  and the new pair gets the next line");

	sva_log_set(&log_, ending_cb, NULL, SVA_LOG_DEBUG);
	atomic_store(&end_how, 2);
	pthread_create(&t, NULL, ending_logger, NULL);
	sem_wait(&entered);
	pthread_cancel(t);
	pthread_join(t, &how);
	current = log_.current;
	sva_log_set(&log_, sink_cb, &b, SVA_LOG_DEBUG);
	ok(how == PTHREAD_CANCELED && atomic_load(&ended) >= 1 && current == 0,
	   "a thread cancelled inside the callback: cancelled (%s), the call ended first (%d returned), not counted "
	   "as under way (%u), the next swap returns",
	   how == PTHREAD_CANCELED ? "yes" : "no", atomic_load(&ended), current);
	alarm(0);
	sva_log_fini(&log_);
}

int main(void)
{
	sem_init(&entered, 0, 0);
	waits_for_call_under_way();
	swaps_under_load();
	child_does_not_wait_for_parent();
	calls_that_do_not_return();
	return done_testing();
}
