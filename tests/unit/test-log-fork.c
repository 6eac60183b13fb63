/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * A log callback that takes an application lock, against a fork() made by a
 * thread holding that lock (sva_ctx_set_log(3), "The callback"): the
 * pattern of an application that serialises its own log with a mutex and
 * holds it across fork() (by hand, or from a pthread_atfork() prepare
 * handler) so that the child's copy is consistent.
 *
 * libsva's fork handler waits for every thread inside a fork-guard section
 * (a PASID-share or device-list section, say).  A line logged inside one
 * used to call the callback there: the callback waited for the lock, its
 * holder's fork() waited for the section, and neither returned.  Lines
 * logged inside those sections now reach the callback after the section.
 *
 * Each case runs in a child process under alarm(): a deadlock (the bug)
 * ends as a SIGALRM death, reported as a failure, not a hung suite.  The
 * alarm only bounds a wait that never ends; nothing here is timed.
 *
 * A context and a device built by hand around a fake backend (as
 * test-bind-fork), with the fork handlers sva_ctx_new() registers.
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
#include "fake_bind_objects.h"
#include "fake_noop_kernel.h"

static struct sva_ctx ctx;
static struct sva_dev dev;

/* The application's lock, which its log callback takes for every line. */
static pthread_mutex_t app_lock = PTHREAD_MUTEX_INITIALIZER;
static atomic_bool in_callback;	  /* the binding thread has entered the callback */
static atomic_int lines_seen;	  /* lines that named the refused PASID */
static char refused[32];	  /* "PASID <n>: it is not allocated" */

static void locking_log(void *arg, enum sva_log_level level, const char *msg)
{
	(void)arg;
	(void)level;
	atomic_store(&in_callback, true);
	pthread_mutex_lock(&app_lock);
	if (strstr(msg, refused))
		atomic_fetch_add(&lines_seen, 1);
	pthread_mutex_unlock(&app_lock);
}

static struct sva_mm *mm;
static uint32_t bad_pasid;
static int bind_ret = 1;

/* A bind under a chosen PASID that is not allocated: refused, and the line
 * saying why is logged while the context's PASID-share lock is held. */
static void *binder(void *arg)
{
	struct sva_bind_opts bo = { .size = sizeof(bo), .flags = SVA_BIND_PINNED | SVA_BIND_PASID,
				    .pasid = bad_pasid };
	struct sva_bond *bond = NULL;

	(void)arg;
	bind_ret = sva_bind(&dev, mm, &bo, &bond);
	return NULL;
}

static void app_prepare(void)
{
	pthread_mutex_lock(&app_lock);
}

static void app_release(void)
{
	pthread_mutex_unlock(&app_lock);
}

/*
 * The case itself, in a process of its own.  Exit status: 0 fine, 1 the
 * bind did not fail as it should, 2 the line never reached the callback,
 * 3 the fork's child saw something wrong; SIGALRM: the deadlock.
 * `atfork`: the application holds its lock across fork() through a
 * pthread_atfork() handler registered after libsva's (so run before
 * libsva's prepare handler), else by hand around the fork() call.
 */
static int run_case(bool atfork)
{
	const struct sva_mm_opts o = { .size = sizeof(o), .flags = SVA_MM_UNTRACKED };
	pthread_t t;
	pid_t pid;
	int st;

	alarm(60);
	fake_ctx_init(&ctx, locking_log, 20000000ull);
	/* The fork handlers sva_ctx_new() registers (ctx.c), after the
	 * arena's, as there. */
	pthread_atfork(sva_fork_guard_block, sva_fork_guard_unblock, sva_fork_guard_unblock_child);
	fake_dev_init(&dev, &ctx, &fake_be, atomic_fetch_add(&next_id, 1), 20, "dev");
	ctx.devs = &dev;
	if (sva_mm_new(&ctx, &o, &mm))
		return 4;
	/* A global value the device covers that nobody allocated. */
	bad_pasid = ctx.global_pasid_min + 7;
	snprintf(refused, sizeof(refused), "PASID %u: it is not", bad_pasid);
	if (atfork) {
		/* Recursive: this thread holds it already when its handler
		 * takes it again, so the binder waits across the whole fork. */
		pthread_mutexattr_t a;

		pthread_mutexattr_init(&a);
		pthread_mutexattr_settype(&a, PTHREAD_MUTEX_RECURSIVE);
		pthread_mutex_init(&app_lock, &a);
		pthread_mutexattr_destroy(&a);
		pthread_atfork(app_prepare, app_release, app_release);
	}

	/* The lock is taken before the binder starts, so the binder's
	 * callback waits for it whatever the interleaving. */
	pthread_mutex_lock(&app_lock);
	if (pthread_create(&t, NULL, binder, NULL))
		return 4;
	while (!atomic_load(&in_callback))
		sched_yield();
	pid = fork();
	if (pid == 0)
		_exit(pthread_mutex_trylock(&ctx.pasid_lock) ? 3 : 0);
	pthread_mutex_unlock(&app_lock);
	if (pid < 0 || waitpid(pid, &st, 0) != pid)
		return 4;
	pthread_join(t, NULL);
	if (bind_ret != -ENOENT)
		return 1;
	if (atomic_load(&lines_seen) != 1)
		return 2;
	return WIFEXITED(st) && WEXITSTATUS(st) == 0 ? 0 : 3;
}

static void one(bool atfork, const char *what)
{
	pid_t pid = fork();
	int st;

	if (pid == 0)
		_exit(run_case(atfork));
	if (pid < 0 || waitpid(pid, &st, 0) != pid)
		tap_bail("fork: %s", strerror(errno));
	ok(!WIFSIGNALED(st) || WTERMSIG(st) != SIGALRM,
	   "%s: fork() while the log callback waits for the forking thread's lock returns (%s)", what,
	   WIFSIGNALED(st) ? strsignal(WTERMSIG(st)) : "exited");
	ok(WIFEXITED(st) && WEXITSTATUS(st) != 1, "  the bind is refused, -ENOENT");
	ok(WIFEXITED(st) && WEXITSTATUS(st) != 2, "  and the callback gets its line, once");
	ok(WIFEXITED(st) && WEXITSTATUS(st) == 0, "  and the fork's child finds the PASID-share lock free (%d)",
	   WIFEXITED(st) ? WEXITSTATUS(st) : -1);
}

/* What a deferred line becomes: the same line, in order, after the section
 * (nested ones: after the outermost); past the slots, counted. */
static char got[8][512];
static int ngot;

static void record(void *arg, enum sva_log_level level, const char *msg)
{
	(void)arg;
	if (ngot < 8)
		snprintf(got[ngot++], sizeof(got[0]), "%d %s", (int)level, msg);
}

static void deferred_lines(void)
{
	struct sva_log log;

	sva_log_init(&log, record, NULL, SVA_LOG_DEBUG);
	sva_log_defer_begin();
	sva_logf(&log, SVA_LOG_ERROR, "first\nline");
	sva_log_defer_begin();
	sva_logf(&log, SVA_LOG_DEBUG, "second %d", 2);
	sva_log_defer_end();
	is_int(ngot, 0, "deferred lines: none reaches the callback before the outermost section ends");
	for (int i = 3; i <= 6; i++)
		sva_logf(&log, SVA_LOG_INFO, "line %d", i);
	sva_log_defer_end();
	is_int(ngot, 5, "  then the first four, and one saying how many more were dropped");
	ok(ngot == 5 && !strcmp(got[0], "4 first?line") && !strcmp(got[1], "1 second 2") &&
		   !strcmp(got[2], "2 line 3") && !strcmp(got[3], "2 line 4"),
	   "  in order, with their levels, control characters replaced (%s | %s)", got[0], got[1]);
	ok(ngot == 5 && !strcmp(got[4], "3 2 more lines logged under a lock were dropped"), "  %s",
	   ngot == 5 ? got[4] : "");
	ngot = 0;
	sva_logf(&log, SVA_LOG_ERROR, "outside");
	ok(ngot == 1 && !strcmp(got[0], "4 outside"), "  a line outside any section goes at once");
	sva_log_fini(&log);
}

int main(void)
{
	plan(13);
	deferred_lines();
	one(false, "the lock held by hand");
	one(true, "the lock held by a pthread_atfork() handler");
	return done_testing();
}
