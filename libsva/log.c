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

#include "internal.h"

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

void sva_log_set(struct sva_log *log, sva_log_fn fn, void *arg, int level)
{
	sva_fork_guard_enter();
	pthread_mutex_lock(&log->lock);
	log->fn = fn ? fn : log_stderr;
	log->arg = fn ? arg : NULL;
	pthread_mutex_unlock(&log->lock);
	sva_fork_guard_leave();
	if (level <= SVA_LOG_DEFAULT || level > SVA_LOG_OFF)
		level = sva_log_env_level();
	atomic_store(&log->level, level);
}

void sva_log_init(struct sva_log *log, sva_log_fn fn, void *arg, int level)
{
	pthread_mutex_init(&log->lock, NULL);
	sva_log_set(log, fn, arg, level);
}

void sva_log_fini(struct sva_log *log)
{
	pthread_mutex_destroy(&log->lock);
}

static void vlog(const struct sva_log *log, enum sva_log_level level, const char *fmt, va_list ap)
	__attribute__((format(printf, 3, 0)));

static void vlog(const struct sva_log *log, enum sva_log_level level, const char *fmt, va_list ap)
{
	char buf[512];
	sva_log_fn fn;
	void *arg;

	if ((int)level < atomic_load(&log->level) || level >= SVA_LOG_OFF)
		return;
	vsnprintf(buf, sizeof(buf), fmt, ap);
	/* One line, whatever a caller's string held (a device name with a
	 * newline, an escape sequence): control characters become '?'. */
	for (char *p = buf; *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			*p = '?';
	/* Copy the pair under the lock; call outside it, so a callback may log. */
	sva_fork_guard_enter();
	pthread_mutex_lock((pthread_mutex_t *)&log->lock);
	fn = log->fn;
	arg = log->arg;
	pthread_mutex_unlock((pthread_mutex_t *)&log->lock);
	sva_fork_guard_leave();
	fn(arg, level, buf);
}

void sva_logf(const struct sva_log *log, enum sva_log_level level, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vlog(log, level, fmt, ap);
	va_end(ap);
}

int sva_fail(const struct sva_log *log, int err, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vlog(log, SVA_LOG_ERROR, fmt, ap);
	va_end(ap);
	return err;
}

int sva_fail_debug(const struct sva_log *log, int err, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vlog(log, SVA_LOG_DEBUG, fmt, ap);
	va_end(ap);
	return err;
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

int sva_fail_to(sva_log_fn fn, void *arg, int level, int err, const char *fmt, ...)
{
	struct sva_log log;
	va_list ap;

	sva_log_init(&log, fn, arg, level);
	va_start(ap, fmt);
	vlog(&log, SVA_LOG_ERROR, fmt, ap);
	va_end(ap);
	sva_log_fini(&log);
	return err;
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

void sva_logf_rl(const struct sva_log *log, struct sva_ratelimit *rl, enum sva_log_level level, const char *fmt, ...)
{
	char msg[400];
	unsigned owed;
	va_list ap;

	/* A filtered-out line costs nothing, and is not counted as suppressed. */
	if ((int)level < atomic_load(&log->level) || level >= SVA_LOG_OFF)
		return;
	if (!ratelimit_pass(rl, &owed))
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (owed)
		sva_logf(log, level, "%s (%u similar lines suppressed before this one)", msg, owed);
	else
		sva_logf(log, level, "%s", msg);
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
