/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * A real context's fork handlers (ctx.c), around a fake kernel (fake_ioctl.h):
 *
 *  - A signal on the forking thread inside fork_prepare(), the fork guard
 *    blocked, whose handler makes a failing PASID lookup that logs at debug
 *    level (libsva(7) allows it in a handler): the fork completes and the
 *    handler runs after it; parent and child get their signal mask back.
 *    It used to wait in the guard for an unblock only its own thread makes.
 */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "kabi.h"
#include "../proc_status.h"
#include "../tap.h"
#include "fake_bind_objects.h"

extern void (*sva_test_fork_prepare_hook)(void); /* ctx.c, libsva-test only */

static atomic_uint next_id = 100;

static bool fake_ioctl(unsigned long req, void *arg, int *rc)
{
	*rc = 0;
	if (req == KABI_IOMMU_HWPT_ALLOC)
		((struct kabi_iommu_hwpt_alloc *)arg)->out_hwpt_id = atomic_fetch_add(&next_id, 1);
	else if (req == KABI_IOMMU_IOAS_ALLOC)
		((struct kabi_iommu_ioas_alloc *)arg)->out_ioas_id = atomic_fetch_add(&next_id, 1);
	else if (req != KABI_IOMMU_DESTROY && req != KABI_IOMMU_IOAS_UNMAP && req != KABI_IOMMU_OPTION)
		return false;
	return true;
}
#include "fake_ioctl.h"

static void sleep_ms(int ms)
{
	struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

/* A thread's state letter ('R', 'S'...), '?' once it is gone. */
static char task_state(int tid)
{
	char path[64], st[32];

	snprintf(path, sizeof(path), "/proc/self/task/%d/status", tid);
	if (proc_status_text(path, "State", st, sizeof(st)) || !st[0])
		return '?';
	return st[0];
}

static atomic_int log_lines;
static char unbind_line[256]; /* the last line about sva_unbind */

static void count_log(void *arg, enum sva_log_level level, const char *msg)
{
	(void)arg;
	(void)level;
	if (!strncmp(msg, "sva_unbind", 10))
		snprintf(unbind_line, sizeof(unbind_line), "%s", msg);
	atomic_fetch_add(&log_lines, 1);
}

static struct sva_ctx *new_ctx(void)
{
	struct sva_ctx_opts o = { .size = sizeof(o), .iommu_path = "/dev/null", .log_fn = count_log,
				  .log_level = SVA_LOG_DEBUG };
	struct sva_ctx *ctx;

	if (sva_ctx_new(&o, &ctx))
		tap_bail("sva_ctx_new on the fake iommufd failed");
	return ctx;
}

/* ------------------------------------------- a signal inside fork_prepare() */

static struct sva_ctx *s_ctx;
static atomic_int h_started, h_done, h_ret, h_logged, f_tid, f_returned, f_child;
static _Thread_local bool f_armed;
static sigset_t f_mask_before;

static void handler(int sig)
{
	void *d;

	(void)sig;
	atomic_store(&h_started, 1);
	/* A free value: -ENOENT, and a debug line through the context's log. */
	int before = atomic_load(&log_lines);

	atomic_store(&h_ret, sva_pasid_lookup(sva_ctx_global_pasids(s_ctx), s_ctx->global_pasid_min, &d));
	atomic_store(&h_logged, atomic_load(&log_lines) - before);
	atomic_store(&h_done, 1);
}

static void raise_in_prepare(void)
{
	if (f_armed) {
		f_armed = false;
		raise(SIGUSR1);
	}
}

static bool usr1_blocked(void)
{
	sigset_t cur;

	pthread_sigmask(SIG_SETMASK, NULL, &cur);
	return sigismember(&cur, SIGUSR1);
}

static void *forker(void *arg)
{
	pid_t pid;
	int st = 0;

	(void)arg;
	atomic_store(&f_tid, (int)syscall(SYS_gettid));
	pthread_sigmask(SIG_SETMASK, NULL, &f_mask_before);
	f_armed = true;
	pid = fork();
	if (pid == 0)
		_exit(usr1_blocked() ? 1 : 0);
	if (pid < 0 || waitpid(pid, &st, 0) != pid)
		st = -1;
	atomic_store(&f_child, WIFEXITED(st) ? WEXITSTATUS(st) : 128);
	atomic_store(&f_returned, usr1_blocked() ? 2 : 1);
	return NULL;
}

static void signal_in_prepare(void)
{
	struct sigaction sa = { .sa_handler = handler };
	pthread_t t;
	bool stuck = false;

	s_ctx = new_ctx();
	sigemptyset(&sa.sa_mask);
	sigaction(SIGUSR1, &sa, NULL);
	sva_test_fork_prepare_hook = raise_in_prepare;
	pthread_create(&t, NULL, forker, NULL);
	/* Until the fork returns, or the handler waits inside it (started, not
	 * done, its thread asleep: in the guard's futex). */
	while (!atomic_load(&f_returned)) {
		if (atomic_load(&h_started) && !atomic_load(&h_done) && atomic_load(&f_tid) &&
		    task_state(atomic_load(&f_tid)) == 'S') {
			stuck = true;
			break;
		}
		sleep_ms(1);
	}
	ok(!stuck, "a signal on the forking thread inside fork_prepare(), its handler logging a failed "
		   "lookup: no self-deadlock");
	if (stuck) {
		/* The forking thread holds all_lock for good: no exit teardown. */
		int rc = done_testing();

		fflush(stdout);
		_exit(rc ? rc : 1);
	}
	pthread_join(t, NULL);
	sva_test_fork_prepare_hook = NULL;
	ok(atomic_load(&h_done), "  the handler ran, after the fork");
	is_int(atomic_load(&h_ret), -ENOENT, "  its lookup failed as a lookup of a free value does");
	ok(atomic_load(&h_logged) > 0, "  and logged, through the guard, inside the handler");
	is_int(atomic_load(&f_child), 0, "  the child's signal mask is the one before the fork");
	is_int(atomic_load(&f_returned), 1, "  and so is the parent's");
	signal(SIGUSR1, SIG_DFL);
	sva_ctx_free(s_ctx);
}

int main(void)
{
	signal_in_prepare();
	return done_testing();
}
