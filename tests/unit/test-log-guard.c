/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * A signal handler's log line while its thread is inside a fork-guard
 * section.  sva_ctx_set_log(3) promises that no callback is called while its
 * thread is inside a section libsva's fork handler waits for: a callback
 * that takes a lock the forking thread holds across fork() would hold that
 * fork up for ever (test-log-fork).  A failing sva_pasid_lookup() logs at
 * debug level, and libsva(7) allows it in a signal handler, which may run
 * on a thread anywhere in libsva: inside a push onto mm->hwpts or mm->bonds,
 * which did not defer its lines, or just inside the guard at the start of a
 * device-list or PASID-share section, before its deferral began.
 *
 * The handler runs from a test hook inside the section (raise()), so the
 * callback knows whether it was called from there.  Nothing timed.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <sched.h>
#include <pthread.h>
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
#include "pasid_space.h"
#include "../tap.h"
#include "fake_bind_objects.h"
#include "fake_noop_kernel.h"

extern void (*sva_test_push_hook)(void);	/* bond.c, libsva-test only */
extern void (*sva_test_fork_guard_hook)(void); /* fork_guard.c, libsva-test only */

static struct sva_ctx ctx;
static struct sva_dev dev;

static volatile sig_atomic_t in_section; /* the hook is raising the signal */
static int called_inside;		 /* callback calls made from there */
static int lines_seen;			 /* lines that named the missing PASID */
static char missing[48];		 /* "PASID <n> is not allocated" */
static const struct sva_pasid_space *lookup_space;

static void record(void *arg, enum sva_log_level level, const char *msg)
{
	(void)arg;
	(void)level;
	if (in_section)
		called_inside++;
	if (strstr(msg, missing))
		lines_seen++;
}

/* What libsva(7) allows a handler: a lookup, here of a value nobody holds. */
static void on_signal(int sig)
{
	void *data;

	(void)sig;
	(void)sva_pasid_lookup(lookup_space, ctx.global_pasid_min + 7, &data);
}

static void raise_inside(void)
{
	in_section = 1;
	raise(SIGUSR1);
	in_section = 0;
}

static bool armed;

static void push_hook(void)
{
	if (armed) {
		armed = false;
		raise_inside();
	}
}

/* On the way into the guard (just counted): the first section entered once armed. */
static void guard_hook(void)
{
	if (armed) {
		armed = false;
		raise_inside();
	}
}

static void reset(void)
{
	called_inside = 0;
	lines_seen = 0;
}

static void check(const char *what)
{
	is_int(called_inside, 0, "%s: the handler's line does not reach the callback inside the section", what);
	is_int(lines_seen, 1, "  it reaches it once, after the section");
}

static void at_push(void)
{
	const struct sva_mm_opts o = { .size = sizeof(o), .flags = SVA_MM_UNTRACKED };
	struct sva_bind_opts bo = { .size = sizeof(bo), .flags = SVA_BIND_PINNED | SVA_BIND_EXTRA_PASID };
	struct sva_bond *b;
	struct sva_mm *mm;

	if (sva_mm_new(&ctx, &o, &mm))
		tap_bail("sva_mm_new failed");
	reset();
	sva_test_push_hook = push_hook;
	armed = true;
	if (sva_bind(&dev, mm, &bo, &b))
		tap_bail("sva_bind failed");
	sva_test_push_hook = NULL;
	ok(!armed, "a bind's push: the hook ran");
	check("a bind's push onto mm->hwpts");
	sva_unbind(b);
	sva_mm_free(mm);
}

static void at_entry(bool pasid)
{
	reset();
	sva_test_fork_guard_hook = guard_hook;
	armed = true;
	if (pasid) {
		sva_pasid_lock(&ctx);
		sva_pasid_unlock(&ctx);
	} else {
		sva_devs_lock(&ctx);
		sva_devs_unlock(&ctx);
	}
	sva_test_fork_guard_hook = NULL;
	ok(!armed, "%s: the hook ran", pasid ? "sva_pasid_lock()" : "sva_devs_lock()");
	check(pasid ? "the start of a PASID-share section" : "the start of a device-list section");
}

/*
 * A line a handler deferred for another context's log, freed (by another
 * thread, once the handler's lookup is over: sva_pasid_space_free(3)'s
 * "lookups must have stopped" holds) before the section it was deferred in
 * ends.  The context's memory is a mapping of its own, unmapped once its log
 * is finalised, so a line passed to it afterwards faults.  The section ends
 * once the freeing thread has either finished or is seen waiting in
 * sva_log_fini() (a wrapped nanosleep(): the only wait there).
 */
static struct sva_ctx *other;
static pthread_t freer;
static atomic_bool freer_done, freer_waiting;
static int other_lines;

int nanosleep(const struct timespec *req, struct timespec *rem)
{
	if (pthread_equal(pthread_self(), freer))
		atomic_store(&freer_waiting, true);
	return (int)syscall(SYS_nanosleep, req, rem);
}

static void record_other(void *arg, enum sva_log_level level, const char *msg)
{
	(void)arg;
	(void)level;
	if (strstr(msg, missing))
		other_lines++;
}

static void *free_other(void *arg)
{
	(void)arg;
	sva_log_fini(&other->log);
	munmap(other, sizeof(*other));
	atomic_store(&freer_done, true);
	return NULL;
}

static int freed_case(void)
{
	other = mmap(NULL, sizeof(*other), PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (other == MAP_FAILED)
		return 4;
	fake_ctx_init(other, record_other, 20000000ull);
	lookup_space = sva_ctx_global_pasids(other);
	sva_pasid_lock(&ctx);
	raise(SIGUSR1); /* its line, for the other context's log, deferred */
	if (pthread_create(&freer, NULL, free_other, NULL))
		return 4;
	while (!atomic_load(&freer_done) && !atomic_load(&freer_waiting))
		sched_yield();
	sva_pasid_unlock(&ctx);
	pthread_join(freer, NULL);
	return other_lines == 1 ? 0 : 2;
}

static void log_freed(void)
{
	pid_t pid = fork();
	int st;

	if (pid == 0)
		_exit(freed_case());
	if (pid < 0 || waitpid(pid, &st, 0) != pid)
		tap_bail("fork: %s", strerror(errno));
	ok(WIFEXITED(st), "a handler's deferred line for a log freed before the section ends: no use after free (%s)",
	   WIFSIGNALED(st) ? strsignal(WTERMSIG(st)) : "exited");
	ok(WIFEXITED(st) && WEXITSTATUS(st) == 0, "  the line reaches that log's callback before it is gone (%d)",
	   WIFEXITED(st) ? WEXITSTATUS(st) : -1);
}

/*
 * A callback may end its thread with pthread_exit() (sva_ctx_set_log(3)).
 * Called for a line held until the section's end, the thread goes with that
 * line (and any after it) still counted on their log: sva_ctx_free() of that
 * context then waits for the count for ever.
 */
static int quit_calls;

static void quit_thread(void *arg, enum sva_log_level level, const char *msg)
{
	(void)arg;
	(void)level;
	(void)msg;
	quit_calls++;
	pthread_exit(NULL);
}

static struct sva_ctx quitter;

static void *log_then_quit(void *arg)
{
	(void)arg;
	sva_pasid_lock(&ctx);
	sva_logf(&quitter.log, SVA_LOG_WARN, "first line held until the section ends");
	sva_logf(&quitter.log, SVA_LOG_WARN, "second line held until the section ends");
	sva_pasid_unlock(&ctx); /* the first line's callback ends the thread */
	return NULL;
}

static void log_exit_in_flush(void)
{
	pthread_t t;
	unsigned held;

	fake_ctx_init(&quitter, quit_thread, 20000000ull);
	if (pthread_create(&t, NULL, log_then_quit, NULL))
		tap_bail("pthread_create: %s", strerror(errno));
	pthread_join(t, NULL);
	ok(quit_calls == 1, "a callback's pthread_exit() at a section's end: it ran once (%d)", quit_calls);
	held = quitter.log.deferred;
	ok(held == 0, "  the thread's held lines are no longer counted on their log (%u)", held);
	/* Held lines are calls of the pair under way too: a swap waits for
	 * them, and would for ever for a thread that is gone. */
	ok(quitter.log.current == 0 && quitter.log.draining == 0,
	   "  nor as calls under way, which a swap waits for (current %u, draining %u)", quitter.log.current,
	   quitter.log.draining);
	if (held == 0 && quitter.log.current == 0 && quitter.log.draining == 0) /* else it would wait for ever */
		sva_log_fini(&quitter.log);
}

/*
 * sva_ctx_set_log(3): a held line goes to the callback installed when it was
 * logged, and sva_ctx_set_log() returns only once it has (the old callback is
 * not called after); the "dropped" line goes to the log whose lines were
 * dropped, each; a signal handler's line reaches the callback in the order
 * it was logged, after the lines its thread held before it.
 */
#define HELD_MAX 16
struct seen {
	int n;
	char lines[HELD_MAX][96];
	bool set_returned[HELD_MAX];
};
static struct seen seen_a, seen_b;
static struct sva_log log_a, log_b;
static atomic_bool set_done;

static void seen_line(void *arg, enum sva_log_level level, const char *msg)
{
	struct seen *s = arg;

	(void)level;
	if (s->n < HELD_MAX) {
		snprintf(s->lines[s->n], sizeof(s->lines[0]), "%s", msg);
		s->set_returned[s->n] = atomic_load(&set_done);
		s->n++;
	}
}

static void *swap_to_b(void *arg)
{
	(void)arg;
	sva_log_set(&log_a, seen_line, &seen_b, SVA_LOG_DEBUG);
	atomic_store(&set_done, true);
	return NULL;
}

static unsigned swaps_of(struct sva_log *log)
{
	unsigned n;

	pthread_mutex_lock(&log->lock);
	n = log->swaps;
	pthread_mutex_unlock(&log->lock);
	return n;
}

static void held_across_swap(void)
{
	pthread_t t;
	unsigned swaps;

	memset(&seen_a, 0, sizeof(seen_a));
	memset(&seen_b, 0, sizeof(seen_b));
	atomic_store(&set_done, false);
	sva_log_init(&log_a, seen_line, &seen_a, SVA_LOG_DEBUG);
	swaps = swaps_of(&log_a);
	sva_log_defer_begin();
	sva_logf(&log_a, SVA_LOG_WARN, "held across a swap");
	if (pthread_create(&t, NULL, swap_to_b, NULL))
		tap_bail("pthread_create: %s", strerror(errno));
	/* The swap made (its wait, if any, begun): 10 s at most. */
	for (int i = 0; i < 10000 && swaps_of(&log_a) == swaps; i++)
		nanosleep(&(struct timespec){ .tv_nsec = 1000000 }, NULL);
	ok(swaps_of(&log_a) != swaps, "held line, swap: the other thread replaced the callback");
	/* The swap must wait for the held line: 50 ms and it has not returned. */
	nanosleep(&(struct timespec){ .tv_nsec = 50000000 }, NULL);
	ok(!atomic_load(&set_done), "  sva_ctx_set_log() waits while the line is held");
	sva_log_defer_end();
	pthread_join(t, NULL);
	ok(seen_a.n == 1 && !strcmp(seen_a.lines[0], "held across a swap") && seen_b.n == 0,
	   "a line held across sva_ctx_set_log(): to the callback installed when it was logged (old %d, new %d lines)",
	   seen_a.n, seen_b.n);
	ok(seen_a.n == 1 && !seen_a.set_returned[0], "  before sva_ctx_set_log() returned");
	sva_logf(&log_a, SVA_LOG_WARN, "after the swap");
	ok(seen_b.n == 1 && seen_a.n == 1, "  a line logged after the swap: to the new one");
	sva_log_fini(&log_a);
}

static void dropped_to_their_log(void)
{
	memset(&seen_a, 0, sizeof(seen_a));
	memset(&seen_b, 0, sizeof(seen_b));
	sva_log_init(&log_a, seen_line, &seen_a, SVA_LOG_DEBUG);
	sva_log_init(&log_b, seen_line, &seen_b, SVA_LOG_DEBUG);
	sva_log_defer_begin();
	for (int i = 0; i < 4; i++)
		sva_logf(&log_a, SVA_LOG_WARN, "a%d", i);
	sva_logf(&log_b, SVA_LOG_WARN, "b0");
	sva_logf(&log_b, SVA_LOG_WARN, "b1");
	sva_logf(&log_a, SVA_LOG_WARN, "a4");
	sva_log_defer_end();
	ok(seen_a.n == 5 && !strcmp(seen_a.lines[3], "a3") &&
		   !strcmp(seen_a.lines[4], "1 more lines logged under a lock were dropped"),
	   "dropped lines: the held ones, then a count of its own dropped ones, on the first log (%d lines, last '%s')",
	   seen_a.n, seen_a.n ? seen_a.lines[seen_a.n - 1] : "");
	ok(seen_b.n == 1 && !strcmp(seen_b.lines[0], "2 more lines logged under a lock were dropped"),
	   "  and on the second log, whose lines were all dropped, its own count (%d lines, first '%s')", seen_b.n,
	   seen_b.n ? seen_b.lines[0] : "");
	ok(log_a.deferred == 0 && log_b.deferred == 0 && log_a.current == 0 && log_b.current == 0,
	   "  no line counted on either log after (current %u, %u)", log_a.current, log_b.current);
	sva_log_fini(&log_b);
	sva_log_fini(&log_a);
}

extern void (*sva_test_defer_end_hook)(void); /* log.c, libsva-test only */

static void on_usr2(int sig)
{
	(void)sig;
	sva_logf(&log_a, SVA_LOG_WARN, "the handler's line");
}

static void raise_usr2(void)
{
	raise(SIGUSR2);
}

static void handler_order(void)
{
	struct sigaction sa = { .sa_handler = on_usr2 };

	sigemptyset(&sa.sa_mask);
	sigaction(SIGUSR2, &sa, NULL);
	memset(&seen_a, 0, sizeof(seen_a));
	sva_log_init(&log_a, seen_line, &seen_a, SVA_LOG_DEBUG);

	/* A handler inside the section: its line is held between the others. */
	sva_log_defer_begin();
	sva_logf(&log_a, SVA_LOG_WARN, "before");
	raise(SIGUSR2);
	sva_logf(&log_a, SVA_LOG_WARN, "after");
	sva_log_defer_end();
	ok(seen_a.n == 3 && !strcmp(seen_a.lines[0], "before") && !strcmp(seen_a.lines[1], "the handler's line") &&
		   !strcmp(seen_a.lines[2], "after"),
	   "a handler's line inside a section: between the lines around it (%d lines)", seen_a.n);

	/* A handler as the section ends, its lines not passed yet: after them. */
	memset(&seen_a, 0, sizeof(seen_a));
	sva_test_defer_end_hook = raise_usr2;
	sva_log_defer_begin();
	sva_logf(&log_a, SVA_LOG_WARN, "held first");
	sva_logf(&log_a, SVA_LOG_WARN, "held second");
	sva_log_defer_end();
	sva_test_defer_end_hook = NULL;
	ok(seen_a.n == 3 && !strcmp(seen_a.lines[0], "held first") && !strcmp(seen_a.lines[1], "held second") &&
		   !strcmp(seen_a.lines[2], "the handler's line"),
	   "a handler's line as the section ends: after the lines held before it (got '%s', '%s', '%s')",
	   seen_a.lines[0], seen_a.lines[1], seen_a.lines[2]);
	ok(log_a.deferred == 0 && log_a.current == 0, "  nothing left counted on the log (current %u)", log_a.current);
	sva_log_fini(&log_a);
}

int main(void)
{
	struct sigaction sa = { .sa_handler = on_signal };

	plan(25);
	sigemptyset(&sa.sa_mask);
	sigaction(SIGUSR1, &sa, NULL);
	fake_ctx_init(&ctx, record, 20000000ull);
	pthread_atfork(sva_fork_guard_block, sva_fork_guard_unblock, sva_fork_guard_unblock_child);
	fake_dev_init(&dev, &ctx, &fake_be, atomic_fetch_add(&next_id, 1), 20, "dev");
	ctx.devs = &dev;
	lookup_space = sva_ctx_global_pasids(&ctx);
	snprintf(missing, sizeof(missing), "PASID %u is not allocated", ctx.global_pasid_min + 7);

	at_push();
	at_entry(true);
	at_entry(false);
	log_freed();
	log_exit_in_flush();
	held_across_swap();
	dropped_to_their_log();
	handler_order();
	ctx.devs = NULL;
	return done_testing();
}
