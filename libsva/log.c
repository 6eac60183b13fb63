/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Logging: one callback per context, default stderr at warning level.  Lines
 * a device can cause at will (its faults) go through a rate limit, so a fault
 * storm costs a few lines a second, not one per fault.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* secure_getenv() */
#endif
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "callback.h"
#include "fork.h"
#include "internal.h"
#include "sigblock.h"

static const char *const level_names[] = { "default", "debug", "info", "warn", "error", "off" };

SVA_EXPORT const char *sva_log_level_name(enum sva_log_level level)
{
	if ((unsigned)level >= ARRAY_SIZE(level_names))
		return NULL;
	return level_names[level];
}

enum sva_log_level sva_log_env_level(void)
{
	/* Not in a setuid or file-capability program: its caller's environment
	 * must not turn on debug lines (addresses, layout) it would print. */
	const char *env = secure_getenv("SVA_LOG");

	if (env) {
		for (size_t i = SVA_LOG_DEBUG; i < ARRAY_SIZE(level_names); i++)
			if (strcmp(env, level_names[i]) == 0)
				return (enum sva_log_level)i;
		if (strcmp(env, "warning") == 0)
			return SVA_LOG_WARN;
	}
	return SVA_LOG_WARN;
}

static void log_stderr(void *arg, enum sva_log_level level, const char *msg)
{
	(void)arg;
	/* One fprintf per line so concurrent lines do not interleave. */
	fprintf(stderr, "libsva %s: %s\n", level_names[level], msg);
}

/* The counts, made this process's (log->lock held): a forked child inherits
 * its parent's calls under way, whose threads it does not have. */
static void counts_own(struct sva_log *log, unsigned gen)
{
	if (log->fork_gen != gen) {
		log->fork_gen = gen;
		log->current = 0;
		log->draining = 0;
		log->deferred = 0;
	}
}

/*
 * The log's lock, with signals held off while it is held: a signal handler
 * may look up a PASID (sva_pasid_lookup(3): whatever call it interrupted),
 * and a lookup that fails logs at debug level, through this lock.  Taken on
 * the thread it interrupted inside one of these sections, it would wait for
 * ever.  Held off, the signal arrives once the section is over.  Four system
 * calls per line that passes the level filter (the lock is taken twice: in
 * vlog() and in call_end()), beside its formatting and the callback's own
 * output.
 */
static void log_lock(struct sva_log *log, sigset_t *old)
{
	sva_signals_hold(old);
	sva_fork_guard_enter();
	pthread_mutex_lock(&log->lock);
}

static void log_unlock(struct sva_log *log, const sigset_t *old)
{
	pthread_mutex_unlock(&log->lock);
	sva_fork_guard_leave();
	sva_signals_restore(old);
}

/* A snapshot of one of log's counts (this process's: see counts_own()). */
static unsigned count_of(struct sva_log *log, const unsigned *count)
{
	sigset_t old;
	unsigned n;

	log_lock(log, &old);
	counts_own(log, sva_fork_gen());
	n = *count;
	log_unlock(log, &old);
	return n;
}

/* Calls of replaced pairs still under way in other threads (a snapshot). */
static unsigned draining(struct sva_log *log)
{
	return count_of(log, &log->draining);
}

/*
 * Replace the pair, then wait until no call of a replaced pair is under way,
 * so that the caller may free the old arg once this returns.  The wait polls,
 * holding nothing: not the lock, which a fork() in the callback waited for
 * would need, nor the fork guard.  Callbacks return quickly (sva_log_fn);
 * while replacements follow each other, a wait covers the calls of every pair
 * replaced meanwhile.
 */
void sva_log_set(struct sva_log *log, sva_log_fn fn, void *arg, int level)
{
	sigset_t old;

	log_lock(log, &old);
	counts_own(log, sva_fork_gen());
	log->fn = fn ? fn : log_stderr;
	log->arg = fn ? arg : NULL;
	log->swaps++;
	log->draining += log->current;
	log->current = 0;
	log_unlock(log, &old);
	if (level <= SVA_LOG_DEFAULT || level > SVA_LOG_OFF)
		level = sva_log_env_level();
	atomic_store(&log->level, level);
	/* A callback that (against the rules) replaces a log: not for itself. */
	for (long ns = 1000; !sva_in_log_callback() && draining(log); ns = ns < 1000000 ? ns * 2 : ns)
		nanosleep(&(struct timespec){ .tv_nsec = ns }, NULL);
}

void sva_log_init(struct sva_log *log, sva_log_fn fn, void *arg, int level)
{
	pthread_mutex_init(&log->lock, NULL);
	log->swaps = log->current = log->draining = log->deferred = 0;
	log->fork_gen = sva_fork_gen();
	sva_log_set(log, fn, arg, level);
}

static void defer_forget(const struct sva_log *log);

/* Lines other threads hold for this log (a snapshot). */
static unsigned deferred_for(struct sva_log *log)
{
	return count_of(log, &log->deferred);
}

/*
 * A line deferred on another thread (a signal handler's failing lookup on
 * this context's space, inside that thread's section of another context)
 * names this log until that section ends, which may be after the caller
 * was entitled to free it.  Wait for it, holding nothing, as sva_log_set()
 * waits for calls under way: those sections wait for nothing the freeing
 * thread holds.  This thread's own such lines go with the log.
 */
void sva_log_fini(struct sva_log *log)
{
	defer_forget(log);
	for (long ns = 1000; deferred_for(log); ns = ns < 1000000 ? ns * 2 : ns)
		nanosleep(&(struct timespec){ .tv_nsec = ns }, NULL);
	pthread_mutex_destroy(&log->lock);
}

#ifdef SVA_TEST_HOOKS
/* Tests only (libsva-test): called in vlog() with the log's lock held. */
void (*sva_test_log_locked_hook)(void);
#define LOG_LOCKED_HOOK() (sva_test_log_locked_hook ? sva_test_log_locked_hook() : (void)0)
#else
#define LOG_LOCKED_HOOK() ((void)0)
#endif

#ifdef SVA_TEST_HOOKS
/* Tests only (libsva-test): in sva_log_defer_end(), once the outermost
 * section is over, before its lines are taken. */
void (*sva_test_defer_end_hook)(void);
#define DEFER_END_HOOK() (sva_test_defer_end_hook ? sva_test_defer_end_hook() : (void)0)
#else
#define DEFER_END_HOOK() ((void)0)
#endif

/* A call of a log's callback under way: counted until call_end(). */
struct log_call {
	struct sva_log *log;
	unsigned gen, swaps;
};

static void call_end(void *p)
{
	struct log_call *c = p;
	sigset_t old;

	sva_callback_leave(SVA_CB_LOG);
	log_lock(c->log, &old);
	if (c->log->fork_gen == c->gen) { /* else counted in a parent */
		if (c->log->swaps == c->swaps)
			c->log->current--;
		else
			c->log->draining--;
	}
	log_unlock(c->log, &old);
}

/*
 * Lines logged inside a section fork() waits for (sva_log_defer_begin()),
 * held on their thread until its outermost such section ends.  Calling the
 * callback there would make fork() wait for the callback: one that takes an
 * application lock which the forking thread holds across fork() (by hand or
 * from a pthread_atfork() handler, the usual way to keep a child's copy of
 * a log's lock consistent) then waits for that fork, which waits for it.
 * A handful of lines: a section logs its refusal and returns.  A signal
 * handler on this thread may add one inside the section (a failing lookup
 * logs): a slot is claimed by one atomic step, so it never shares one with
 * the line it interrupted, and the slots are read only once the sections are
 * over, signals held.
 *
 * A held line keeps the pair (fn, arg) in place when it was logged, counted
 * as a call of that pair under way: the callback installed then is the one a
 * reader of that line expects, and sva_log_set() waits for it as for any
 * call of the pair it replaces, so the promise that the old callback is not
 * called once the swap returns still holds.
 */
#define DEFERRED_MAX 4
struct held {
	const struct sva_log *log; /* NULL: its log was finalised meanwhile */
	unsigned gen;		   /* the process it was counted in */
	unsigned swaps;		   /* the pair's swap number */
	sva_log_fn fn;
	void *arg;
};
struct deferred_line {
	struct held h;
	enum sva_log_level level;
	char msg[512];
};
/* Lines past the slots, counted per log: each log whose lines were dropped
 * is told how many, in a line of its own (held as its lines were). */
struct dropped {
	struct held h;
	atomic_uint n;
};
/* Read by this thread's signal handlers (vlog()): a lock-free atomic, as
 * C11 asks of what a handler touches (fork_guard.c's depth, asserted there),
 * relaxed, and stepped by a load and a store, a plain increment's code: a
 * handler's own sections leave it as they found it. */
static _Thread_local _Atomic unsigned defer_depth;

/* internal.h, sva_fail_said(): this thread's last broker request made an
 * -EPROTO it logged. */
static _Thread_local bool proto_said;

void sva_proto_said_note(void)
{
	proto_said = true;
}

void sva_proto_said_clear(void)
{
	proto_said = false;
}

/* internal.h, sva_log_device_driven(): inside a fault batch. */
static _Thread_local unsigned device_driven;

void sva_log_device_driven(bool on)
{
	if (on)
		device_driven++;
	else
		device_driven--;
}

bool sva_log_is_device_driven(void)
{
	return device_driven != 0;
}

bool sva_proto_said_take(int err)
{
	bool said = proto_said && err == -EPROTO;

	proto_said = false;
	return said;
}
static _Thread_local atomic_uint ndeferred; /* claimed slots, and lines past them */
static _Thread_local struct deferred_line deferred[DEFERRED_MAX];
static _Thread_local atomic_uint ndropped; /* claimed dropped[] entries */
static _Thread_local struct dropped dropped[DEFERRED_MAX];
/* Held lines being passed (sva_log_defer_end()): a handler's line is held
 * too, behind them, so lines reach the callback in the order logged. */
static _Thread_local atomic_bool flushing;
/* Signal handlers read and write these three (C11 7.14.1.1): only a lock-free
 * atomic may be used there. */
_Static_assert(ATOMIC_INT_LOCK_FREE == 2 && ATOMIC_BOOL_LOCK_FREE == 2,
	       "a signal handler may only use lock-free atomics (ndeferred, ndropped, flushing)");

/* Only this thread and its handlers read it: ordered by signal fences, as
 * defer_depth is, not by a full barrier on every section's end. */
static void flushing_set(bool v)
{
	atomic_signal_fence(memory_order_seq_cst);
	atomic_store_explicit(&flushing, v, memory_order_relaxed);
	atomic_signal_fence(memory_order_seq_cst);
}

/* A held line counted on its log, with the pair in place (pin), and done with
 * (release). */
static void pin(struct held *h, const struct sva_log *clog)
{
	struct sva_log *log = (struct sva_log *)clog; /* only the counts change */
	sigset_t old;

	h->gen = sva_fork_gen();
	log_lock(log, &old);
	counts_own(log, h->gen);
	log->deferred++;
	log->current++;
	h->fn = log->fn;
	h->arg = log->arg;
	h->swaps = log->swaps;
	log_unlock(log, &old);
}

static void release(const struct held *h)
{
	struct sva_log *log = (struct sva_log *)h->log;
	sigset_t old;

	log_lock(log, &old);
	if (log->fork_gen == h->gen) { /* else counted in a parent */
		log->deferred--;
		if (log->swaps == h->swaps)
			log->current--;
		else
			log->draining--;
	}
	log_unlock(log, &old);
}

/* This thread's deferred lines for a log being finalised, dropped. */
static void defer_forget(const struct sva_log *log)
{
	unsigned n;
	sigset_t old;

	sva_signals_hold(&old);
	n = atomic_load(&ndeferred);
	for (unsigned i = 0; i < n && i < DEFERRED_MAX; i++)
		if (deferred[i].h.log == log) {
			release(&deferred[i].h);
			deferred[i].h.log = NULL;
		}
	n = atomic_load(&ndropped);
	for (unsigned i = 0; i < n && i < DEFERRED_MAX; i++)
		if (dropped[i].h.log == log) {
			release(&dropped[i].h);
			dropped[i].h.log = NULL;
		}
	sva_signals_restore(&old);
}

void sva_log_defer_begin(void)
{
	atomic_store_explicit(&defer_depth, atomic_load_explicit(&defer_depth, memory_order_relaxed) + 1,
			      memory_order_relaxed);
	/* Counted before the fork guard's section begins (sva_guard_enter()):
	 * a handler inside that section defers its line. */
	atomic_signal_fence(memory_order_seq_cst);
}

/* Lines taken off this thread's slots, counted on their logs until passed. */
struct taken_lines {
	struct deferred_line lines[DEFERRED_MAX];
	struct held drops[DEFERRED_MAX];
	unsigned drop_n[DEFERRED_MAX];
	unsigned kept, ndrops;
};

static void drop_slots(void);

/* Also run by a pthread_exit() from a callback (sva_ctx_set_log(3) allows
 * it): the lines not passed yet are dropped, but no longer counted, or the
 * sva_log_fini() of their log (or a swap) would wait for a thread that is
 * gone; so are those a handler held meanwhile. */
static void taken_release(void *p)
{
	struct taken_lines *t = p;

	for (unsigned i = 0; i < t->kept; i++)
		if (t->lines[i].h.log)
			release(&t->lines[i].h);
	for (unsigned i = 0; i < t->ndrops; i++)
		if (t->drops[i].log)
			release(&t->drops[i]);
	if (atomic_load_explicit(&flushing, memory_order_relaxed)) {
		drop_slots();
		flushing_set(false);
	}
}

static void held_end(void *p)
{
	sva_callback_leave(SVA_CB_LOG);
	release(p);
}

/* A held line to the pair in place when it was logged; released once done.
 * As emit() does, with the call's count taken at pin(). */
static void emit_held(struct held *h, enum sva_log_level level, const char *msg)
{
	char buf[512];
	int cancel;

	snprintf(buf, sizeof(buf), "%s", msg);
	for (char *p = buf; *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			*p = '?';
	pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, &cancel);
	sva_callback_enter(SVA_CB_LOG);
	pthread_cleanup_push(held_end, h);
	h->fn(h->arg, level, buf);
	pthread_cleanup_pop(1);
	pthread_setcancelstate(cancel, NULL);
}

/* Take this thread's slots (signals held).  0: nothing was held. */
static bool take(struct taken_lines *t)
{
	unsigned n = atomic_exchange(&ndeferred, 0), nd = atomic_exchange(&ndropped, 0);

	t->kept = n < DEFERRED_MAX ? n : DEFERRED_MAX;
	memcpy(t->lines, deferred, t->kept * sizeof(t->lines[0]));
	for (unsigned i = 0; i < t->kept; i++)
		deferred[i].h.log = NULL; /* no sva_log_fini() here takes a stale one for its own */
	t->ndrops = 0;
	for (unsigned i = 0; i < nd && i < DEFERRED_MAX; i++) {
		if (!dropped[i].h.log)
			continue;
		t->drops[t->ndrops] = dropped[i].h;
		t->drop_n[t->ndrops++] = atomic_load(&dropped[i].n);
		dropped[i].h.log = NULL;
	}
	return n || nd;
}

/* The slots dropped (a pthread_exit() from a callback mid-flush). */
static void drop_slots(void)
{
	struct taken_lines t;
	sigset_t old;

	sva_signals_hold(&old);
	take(&t);
	sva_signals_restore(&old);
	for (unsigned i = 0; i < t.kept; i++)
		if (t.lines[i].h.log)
			release(&t.lines[i].h);
	for (unsigned i = 0; i < t.ndrops; i++)
		release(&t.drops[i]);
}

/* Each line to the pair it was logged under, then each log's count of its
 * dropped lines; each released once passed. */
static void taken_emit(struct taken_lines *t)
{
	for (unsigned i = 0; i < t->kept; i++)
		if (t->lines[i].h.log) {
			struct held h = t->lines[i].h;

			t->lines[i].h.log = NULL; /* released by emit_held(), even on pthread_exit() */
			emit_held(&h, t->lines[i].level, t->lines[i].msg);
		}
	for (unsigned i = 0; i < t->ndrops; i++) {
		struct held h = t->drops[i];
		char msg[96];

		t->drops[i].log = NULL;
		snprintf(msg, sizeof(msg), "%u more lines logged under a lock were dropped", t->drop_n[i]);
		if ((int)SVA_LOG_WARN >= atomic_load(&h.log->level))
			emit_held(&h, SVA_LOG_WARN, msg);
		else
			release(&h);
	}
}

static bool slots_held(void)
{
	return atomic_load(&ndeferred) || atomic_load(&ndropped);
}

void sva_log_defer_end(void)
{
	struct taken_lines t;
	sigset_t old;
	unsigned d = atomic_load_explicit(&defer_depth, memory_order_relaxed) - 1;
	/* A flush under way on this thread: a handler's section inside it
	 * leaves its lines to that flush, behind those it is passing; a
	 * callback's (nested, refused calls log) passes its own, as before. */
	bool outer = atomic_load_explicit(&flushing, memory_order_relaxed);

	if (d || (outer && !sva_in_log_callback())) {
		/* Uncounted only once the fork guard's section is over
		 * (sva_guard_leave()). */
		atomic_signal_fence(memory_order_seq_cst);
		atomic_store_explicit(&defer_depth, d, memory_order_relaxed);
		return;
	}
	/* Flushing before the depth drops: a handler arriving between the two
	 * would otherwise log at once, ahead of the lines held before it. */
	flushing_set(true);
	atomic_signal_fence(memory_order_seq_cst);
	atomic_store_explicit(&defer_depth, d, memory_order_relaxed);
	if (!slots_held()) {
		flushing_set(outer);
		if (!slots_held())
			return;
		flushing_set(true); /* a handler's line, held just before */
	}
	DEFER_END_HOOK();
	t.kept = t.ndrops = 0;
	pthread_cleanup_push(taken_release, &t);
	/* A handler arriving now holds its line behind these, and must not
	 * write a slot while it is read. */
	sva_signals_hold(&old);
	while (take(&t)) {
		sva_signals_restore(&old);
		taken_emit(&t);
		sva_signals_hold(&old);
	}
	flushing_set(outer);
	sva_signals_restore(&old);
	pthread_cleanup_pop(0);
}

/* A line past the slots: counted on its log's dropped[] entry, made with the
 * first such line.  A handler between the claim and the publication makes
 * an entry of its own, and its log is told twice: rare, and still true. */
static void drop_line(const struct sva_log *log)
{
	unsigned n = atomic_load(&ndropped), i;

	for (i = 0; i < n && i < DEFERRED_MAX; i++)
		if (dropped[i].h.log == log) {
			atomic_fetch_add(&dropped[i].n, 1);
			return;
		}
	i = atomic_fetch_add(&ndropped, 1);
	if (i >= DEFERRED_MAX)
		return; /* more logs than slots in one section: not told */
	pin(&dropped[i].h, log);
	atomic_store(&dropped[i].n, 1);
	atomic_signal_fence(memory_order_seq_cst);
	dropped[i].h.log = log;
}

static void emit(const struct sva_log *log, enum sva_log_level level, const char *msg);

static void vlog(const struct sva_log *log, enum sva_log_level level, const char *fmt, va_list ap)
	__attribute__((format(printf, 3, 0)));

static void vlog(const struct sva_log *log, enum sva_log_level level, const char *fmt, va_list ap)
{
	char buf[512];

	if ((int)level < atomic_load(&log->level) || level >= SVA_LOG_OFF)
		return;
	/* A line logged inside a callback that is itself nested in another (by a
	 * call the callback must not make, refused) is dropped: one nesting still
	 * tells the callback why its call failed, and lets an atexit() handler run
	 * by exit() in a callback log; a second would let a callback that calls
	 * libsva for every line recurse until the stack runs out. */
	if (sva_in_nested_log_callback())
		return;
	/* While held lines are passed, a line of this thread's (a handler's)
	 * waits behind them; not one from inside their callback, which goes
	 * nested as any callback's line does (a callback that logs for each
	 * line would otherwise never let the flush end). */
	if (atomic_load_explicit(&defer_depth, memory_order_relaxed) ||
	    (atomic_load_explicit(&flushing, memory_order_relaxed) && !sva_in_log_callback())) {
		unsigned i = atomic_fetch_add(&ndeferred, 1);

		if (i >= DEFERRED_MAX) {
			drop_line(log); /* sva_log_defer_end() says how many */
			return;
		}
		pin(&deferred[i].h, log);
		deferred[i].level = level;
		vsnprintf(deferred[i].msg, sizeof(deferred[i].msg), fmt, ap);
		atomic_signal_fence(memory_order_seq_cst);
		deferred[i].h.log = log;
		return;
	}
	vsnprintf(buf, sizeof(buf), fmt, ap);
	emit(log, level, buf);
}

/* A formatted line to the callback, now. */
static void emit(const struct sva_log *clog, enum sva_log_level level, const char *msg)
{
	struct sva_log *log = (struct sva_log *)clog; /* const to callers: only the counts change */
	char buf[512];
	sva_log_fn fn;
	void *arg;
	unsigned swaps, gen;
	sigset_t old;

	snprintf(buf, sizeof(buf), "%s", msg);
	/* One line, whatever a caller's string held (a device name with a
	 * newline, an escape sequence): control characters become '?'. */
	for (char *p = buf; *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			*p = '?';
	/* Copy the pair under the lock, counted as a call under way; call
	 * outside it, so a callback may log. */
	gen = sva_fork_gen();
	log_lock(log, &old);
	LOG_LOCKED_HOOK();
	counts_own(log, gen);
	fn = log->fn;
	arg = log->arg;
	swaps = log->swaps;
	log->current++;
	log_unlock(log, &old);
	/*
	 * The call must end here, or a swap would wait for it forever: no
	 * cancellation inside it (stderr's write() is a cancellation point, and
	 * the caller may hold libsva's locks; a pending cancel acts at the
	 * thread's next point), and a pthread_exit() from it still ends it.
	 */
	struct log_call call = { log, gen, swaps };
	int cancel;

	pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, &cancel);
	sva_callback_enter(SVA_CB_LOG);
	pthread_cleanup_push(call_end, &call);
	fn(arg, level, buf);
	pthread_cleanup_pop(1);
	pthread_setcancelstate(cancel, NULL);
}

void sva_logf(const struct sva_log *log, enum sva_log_level level, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vlog(log, level, fmt, ap);
	va_end(ap);
}

const char *sva_errno_remedy(int err, bool thread)
{
	switch (err) {
	case -EMFILE:
		return "; close descriptors or raise RLIMIT_NOFILE (ulimit -n)";
	case -ENFILE:
		return "; the system is out of file descriptors (fs.file-max)";
	case -EAGAIN:
		return thread ? "; raise RLIMIT_NPROC (ulimit -u) or the cgroup's pids.max" : "";
	default:
		return "";
	}
}

void sva_log_to(sva_log_fn fn, void *arg, int level, const char *fmt, ...)
{
	struct sva_log log;
	va_list ap;

	sva_log_init(&log, fn, arg, level);
	va_start(ap, fmt);
	vlog(&log, SVA_LOG_ERROR, fmt, ap);
	va_end(ap);
	sva_log_fini(&log);
}

/* Does the line go out?  A new second starts a new burst; *owed gets the
 * lines held back before it (0 if none). */
static bool ratelimit_pass(struct sva_ratelimit *rl, unsigned *owed)
{
	uint64_t now = sva_now_ns();

	*owed = 0;
	if (now - rl->window_ns >= 1000000000ull) {
		rl->window_ns = now;
		rl->lines = 0;
	}
	if (rl->lines >= SVA_LOG_BURST) {
		if (rl->suppressed < UINT32_MAX)
			rl->suppressed++;
		return false;
	}
	rl->lines++;
	*owed = rl->suppressed;
	rl->suppressed = 0;
	return true;
}

bool sva_log_rl_pass(const struct sva_log *log, struct sva_ratelimit *rl, enum sva_log_level level, unsigned *owed)
{
	*owed = 0;
	/* A filtered-out line costs nothing, and is not counted as suppressed. */
	if ((int)level < atomic_load(&log->level) || level >= SVA_LOG_OFF)
		return false;
	return ratelimit_pass(rl, owed);
}

static void vlog_owed(const struct sva_log *log, enum sva_log_level level, unsigned owed, const char *fmt,
		      va_list ap) SVA_PRINTF(4, 0);

static void vlog_owed(const struct sva_log *log, enum sva_log_level level, unsigned owed, const char *fmt,
		      va_list ap)
{
	char msg[400];

	vsnprintf(msg, sizeof(msg), fmt, ap);
	if (owed)
		sva_logf(log, level, "%s (%u similar lines suppressed before this one)", msg, owed);
	else
		sva_logf(log, level, "%s", msg);
}

void sva_logf_owed(const struct sva_log *log, enum sva_log_level level, unsigned owed, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vlog_owed(log, level, owed, fmt, ap);
	va_end(ap);
}

void sva_logf_rl(const struct sva_log *log, struct sva_ratelimit *rl, enum sva_log_level level, const char *fmt, ...)
{
	unsigned owed;
	va_list ap;

	if (!sva_log_rl_pass(log, rl, level, &owed))
		return;
	va_start(ap, fmt);
	vlog_owed(log, level, owed, fmt, ap);
	va_end(ap);
}

static struct sva_log default_log;
static pthread_once_t default_once = PTHREAD_ONCE_INIT;

static void default_log_init(void)
{
	sva_log_init(&default_log, NULL, NULL, -1);
}

const struct sva_log *sva_log_default(void)
{
	pthread_once(&default_once, default_log_init);
	return &default_log;
}
