/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * A real context's fork handlers and exit-time teardown (ctx.c), around a
 * fake kernel (fake_ioctl.h) and devices built by hand:
 *
 *  - exit() on one thread while another is inside sva_bind(), its bond on
 *    the context's list but the call not returned (paused as it leaves
 *    ctx->unlinked): the exit teardown waits for the bind, then ends the
 *    bond once; ctx->unlinked is empty after, and nothing reads the bond
 *    once freed (the asan tier).  It used to claim the bond at once, put it
 *    on ctx->unlinked a second time and free it under the bind.  In a child
 *    forked before this test starts any thread (the tsan tier: a forked
 *    child of a multi-threaded process cannot start threads).
 *  - A signal on the forking thread inside fork_prepare(), the fork guard
 *    blocked, whose handler makes a failing PASID lookup that logs at debug
 *    level (libsva(7) allows it in a handler): the fork completes and the
 *    handler runs after it; parent and child get their signal mask back.
 *    It used to wait in the guard for an unblock only its own thread makes.
 *  - sva_unbind() from another thread of a bond whose sva_bind() has not
 *    returned (a lookup finds it): -EINVAL, nothing torn down; the bind
 *    returns it, and it unbinds after.
 *  - fork() from a signal handler that interrupted a fork-guard section on
 *    its thread (libsva(7) forbids it): a line on standard error, and a
 *    sleep SIGTERM ends, not a silent spin with every signal held; on its
 *    way in, a line.
 */
#include <errno.h>
#include <fcntl.h>
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

#include "fork_guard.h"
#include "kabi.h"
#include "../proc_status.h"
#include "../tap.h"
#include "fake_bind_objects.h"

extern void (*sva_test_fork_guard_hook)(void);		     /* fork_guard.c, libsva-test only */
extern void (*sva_test_fork_prepare_hook)(void);	     /* ctx.c */
extern void (*sva_test_teardown_wait_hook)(struct sva_ctx *ctx); /* teardown.c */

static atomic_uint next_id = 100;

static bool fake_ioctl(unsigned long req, void *arg, int *rc)
{
	return fake_objects_ioctl(req, arg, rc, &next_id) || req == KABI_IOMMU_OPTION;
}
#include "fake_ioctl.h"

static void sleep_ms(int ms)
{
	struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
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

static const struct sva_dev_backend fake_be = {
	"fake", fake_noop_attach, fake_noop_detach,
	fake_noop_pasid_attach, fake_noop_pasid_detach, fake_noop_close, 0,
};

static struct sva_ctx *new_ctx(void)
{
	struct sva_ctx_opts o = { .size = sizeof(o), .iommu_path = "/dev/null", .log_fn = count_log,
				  .log_level = SVA_LOG_DEBUG };
	struct sva_ctx *ctx;

	if (sva_ctx_new(&o, &ctx))
		tap_bail("sva_ctx_new on the fake iommufd failed");
	return ctx;
}

/* ------------------------------------------------ exit() during sva_bind() */

static struct sva_ctx *x_ctx;
static struct sva_dev x_dev;
static struct sva_mm *x_mm;
static struct sva_bond *x_bond;
static int x_bind_ret = 1;
static atomic_int x_paused, x_go, x_returned, x_mm_exits;
static _Thread_local bool x_binder;
static pthread_t x_th;

/* On the binding thread, the first guard section it enters once its bond is
 * on ctx->bonds (taking pasid_lock to leave ctx->unlinked): wait there. */
static void x_guard_hook(void)
{
	if (!x_binder || !x_ctx->bonds || atomic_load(&x_paused))
		return;
	atomic_store(&x_paused, 1);
	while (!atomic_load(&x_go))
		sched_yield();
}

/* The exit teardown waits for the bond: the bind may go on now. */
static void x_wait_hook(struct sva_ctx *ctx)
{
	(void)ctx;
	atomic_store(&x_go, 1);
}

static void x_mm_exit(struct sva_bond *bond, void *drvdata)
{
	(void)bond;
	(void)drvdata;
	atomic_fetch_add(&x_mm_exits, 1);
}

static void *x_bind(void *arg)
{
	struct sva_bond_ops ops = { .size = sizeof(ops), .mm_exit = x_mm_exit };
	struct sva_bind_opts bo = { .size = sizeof(bo), .flags = SVA_BIND_PINNED, .ops = &ops };

	(void)arg;
	x_binder = true;
	x_bind_ret = sva_bind(&x_dev, x_mm, &bo, &x_bond);
	atomic_store(&x_returned, 1);
	return NULL;
}

static atomic_bool x_in_child;

/* After libsva's destructor (a smaller priority runs later): let a bind the
 * teardown did not wait for go on, and tell what the exit left. */
__attribute__((destructor(101))) static void x_after_exit(void)
{
	int bad = 0;

	if (!atomic_load(&x_in_child))
		return;
	if (!atomic_load(&x_go))
		bad |= 1; /* the teardown did not wait for the bind */
	atomic_store(&x_go, 1);
	pthread_join(x_th, NULL);
	if (x_bind_ret != 0)
		bad |= 2;
	if (atomic_load(&x_mm_exits) != 1)
		bad |= 4;
	if (x_ctx->unlinked || x_ctx->bonds || x_dev.bonds)
		bad |= 8;
	_exit(bad);
}

static void exit_during_bind(void)
{
	pid_t pid = fork();
	int st = 0;

	if (pid == 0) {
		alarm(30); /* a hang shows as SIGALRM, not a stuck suite */
		atomic_store(&x_in_child, true);
		x_ctx = new_ctx();
		fake_dev_init(&x_dev, x_ctx, &fake_be, atomic_fetch_add(&next_id, 1), 20, "x");
		x_ctx->devs = &x_dev;
		const struct sva_mm_opts mo = { .size = sizeof(mo), .flags = SVA_MM_UNTRACKED };

		if (sva_mm_new(x_ctx, &mo, &x_mm))
			_exit(100);
		sva_test_fork_guard_hook = x_guard_hook;
		sva_test_teardown_wait_hook = x_wait_hook;
		if (pthread_create(&x_th, NULL, x_bind, NULL))
			_exit(101);
		while (!atomic_load(&x_paused) && !atomic_load(&x_returned))
			sched_yield();
		if (atomic_load(&x_returned))
			_exit(102);
		exit(0);
	}
	if (pid < 0 || waitpid(pid, &st, 0) != pid)
		tap_bail("fork: %s", strerror(errno));
	ok(WIFEXITED(st), "exit() while another thread is inside sva_bind(): the process exits (status 0x%x)", st);
	st = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
	ok(st == 0 || st >= 100 ? st == 0 : !(st & 1), "  the exit teardown waits for the bind in progress (%d)", st);
	ok(st >= 0 && st < 100 && !(st & 2), "  the bind succeeds");
	ok(st >= 0 && st < 100 && !(st & 4), "  the exit ends its bond once (mm_exit called once)");
	ok(st >= 0 && st < 100 && !(st & 8), "  nothing left on ctx->unlinked, ctx->bonds or the device");
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
		    proc_task_state(atomic_load(&f_tid)) == 'S') {
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

/* ------------------- fork() from a handler that interrupted a guarded section */

/*
 * A signal handler that calls fork() on a thread inside a fork-guard section
 * (libsva(7) forbids it): fork_prepare() waited for the count of the section
 * its own thread had interrupted, spinning, every signal held, without a
 * word.  Now it says so on standard error and sleeps, signals open: SIGTERM
 * ends it.  In a child (of a process whose fork handlers a context
 * registered), its standard error kept in a file.  And on the way in (the
 * count just taken: the guard's hook), where the fork may or may not go
 * through: it says so.  30 seconds without the line: taken for a hang.
 */
static atomic_int g_child_forks;
static bool g_in_hook;

static void fork_handler(int sig)
{
	pid_t pid;

	(void)sig;
	pid = fork();
	if (pid == 0)
		_exit(0);
	if (pid > 0)
		waitpid(pid, NULL, 0);
	atomic_fetch_add(&g_child_forks, 1);
}

static void raise_in_guard_hook(void)
{
	if (g_in_hook) {
		g_in_hook = false;
		raise(SIGUSR2);
	}
}

static bool file_has(const char *path, const char *what)
{
	char buf[1024];
	FILE *f = fopen(path, "r");
	size_t n = f ? fread(buf, 1, sizeof(buf) - 1, f) : 0;

	if (f)
		fclose(f);
	buf[n] = '\0';
	return strstr(buf, what) != NULL;
}

#define RULE_LINE "libsva: fork() was called from a signal handler that interrupted a libsva call on the same thread " \
		  "(libsva(7), which forbids it): the fork "

/* The child is sent SIGTERM once its line is there; its exit status, or 128
 * + its signal; -1 if no line came (killed). *said: the line was there
 * while the child still ran. */
__attribute__((unused)) static int fork_from_handler(bool moving, const char *errpath, const char *line, bool *said)
{
	pid_t pid;
	int st;

	unlink(errpath);
	pid = fork();
	if (pid < 0)
		tap_bail("fork: %s", strerror(errno));
	if (pid == 0) {
		struct sigaction sa = { .sa_handler = fork_handler };
		int e = open(errpath, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);

		if (e < 0 || dup2(e, 2) < 0)
			_exit(100);
		sigemptyset(&sa.sa_mask);
		sigaction(SIGUSR2, &sa, NULL);
		if (moving) {
			g_in_hook = true;
			sva_test_fork_guard_hook = raise_in_guard_hook;
			sva_fork_guard_enter();
		} else {
			sva_fork_guard_enter();
			raise(SIGUSR2);
		}
		sva_fork_guard_leave();
		_exit(atomic_load(&g_child_forks) == 1 ? 0 : 101);
	}
	*said = false;
	for (int i = 0; i < 3000 && !*said; i++) {
		if (waitpid(pid, &st, WNOHANG) == pid)
			return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
		*said = file_has(errpath, line);
		if (!*said)
			sleep_ms(10);
	}
	kill(pid, *said && !moving ? SIGTERM : SIGKILL); /* on the way in the fork holds SIGTERM */
	waitpid(pid, &st, 0);
	if (!*said)
		return -1;
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

#if defined(__SANITIZE_THREAD__)
#define TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define TSAN 1
#endif
#endif

static void fork_in_handler_in_section(void)
{
#ifdef TSAN
	/* ThreadSanitizer's fork() from inside a signal handler never reached
	 * libsva's prepare handler in the tsan tier (the child stayed asleep,
	 * every signal blocked): its own, not libsva's, so not run there. */
	skip(3, "ThreadSanitizer: fork() from a signal handler hangs in its runtime");
	return;
#else
	struct sva_ctx *ctx = new_ctx(); /* its fork handlers registered */
	char errpath[256];
	bool said;
	int st;

	snprintf(errpath, sizeof(errpath), "%s/test-ctx-fork-exit.%ld.err",
		 getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp", (long)getpid());
	st = fork_from_handler(false, errpath, RULE_LINE "waits for ever for that call; this thread now sleeps for "
							 "good, end the process", &said);
	ok(said, "fork() from a signal handler that interrupted a fork-guard section: says why on standard "
		 "error, naming the rule");
	is_int(st, 128 + SIGTERM, "  and SIGTERM ends it (signals not held: -1, no line and killed)");
	st = fork_from_handler(true, errpath, RULE_LINE "may wait for ever for that call", &said);
	ok(said, "  from one that interrupted the way into a section, the count taken: says it may hang (%d)", st);
	unlink(errpath);
	sva_ctx_free(ctx);
#endif
}

/* ------------------------------- sva_unbind() of a bond still being bound */

static void unbind_during_bind(void)
{
	const struct sva_mm_opts mo = { .size = sizeof(mo), .flags = SVA_MM_UNTRACKED };
	struct sva_bond *found = NULL;

	x_ctx = new_ctx();
	fake_dev_init(&x_dev, x_ctx, &fake_be, atomic_fetch_add(&next_id, 1), 20, "u");
	x_ctx->devs = &x_dev;
	if (sva_mm_new(x_ctx, &mo, &x_mm))
		tap_bail("sva_mm_new failed");
	atomic_store(&x_paused, 0);
	atomic_store(&x_go, 0);
	atomic_store(&x_returned, 0);
	atomic_store(&x_mm_exits, 0);
	sva_test_fork_guard_hook = x_guard_hook;
	if (pthread_create(&x_th, NULL, x_bind, NULL))
		tap_bail("pthread_create failed");
	while (!atomic_load(&x_paused) && !atomic_load(&x_returned))
		sched_yield();
	if (atomic_load(&x_returned))
		tap_bail("the bind returned without pausing");
	ok(sva_dev_bond_lookup(&x_dev, x_ctx->bonds->pasid, &found, NULL) == 0 && found == x_ctx->bonds,
	   "a bond whose sva_bind() has not returned is found by a lookup");
	unbind_line[0] = 0;
	is_int(sva_unbind(found), -EINVAL, "  its sva_unbind() from another thread: -EINVAL");
	ok(strstr(unbind_line, "still being bound") != NULL, "  the line says why: %s", unbind_line);
	is_int(atomic_load(&x_mm_exits), 0, "  nothing torn down (no mm_exit)");
	atomic_store(&x_go, 1);
	pthread_join(x_th, NULL);
	sva_test_fork_guard_hook = NULL;
	is_int(x_bind_ret, 0, "  the bind returns 0");
	ok(x_bond == found, "  with the bond the lookup found");
	is_int(sva_unbind(x_bond), 0, "  which unbinds once it has returned");
	is_int(atomic_load(&x_mm_exits), 1, "  its mm_exit called once");
	ok(!x_ctx->unlinked && !x_ctx->bonds, "  nothing left on ctx->unlinked or ctx->bonds");
	sva_mm_free(x_mm);
	x_ctx->devs = NULL;
	sva_ctx_free(x_ctx);
}

int main(void)
{
	exit_during_bind(); /* first: its child starts threads */
	signal_in_prepare();
	unbind_during_bind();
	fork_in_handler_in_section();
	return done_testing();
}
