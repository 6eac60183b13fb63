/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Logging: one callback per context, default stderr at warning level. */
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
	const char *env = getenv("SVA_LOG");

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

void sva_log_init(struct sva_log *log, sva_log_fn fn, void *arg, int level)
{
	atomic_store(&log->fn, fn ? fn : log_stderr);
	atomic_store(&log->arg, arg);
	if (level <= SVA_LOG_DEFAULT || level > SVA_LOG_OFF)
		level = sva_log_env_level();
	atomic_store(&log->level, level);
}

static void vlog(const struct sva_log *log, enum sva_log_level level, const char *fmt, va_list ap)
	__attribute__((format(printf, 3, 0)));

static void vlog(const struct sva_log *log, enum sva_log_level level, const char *fmt, va_list ap)
{
	char buf[512];
	sva_log_fn fn;

	if ((int)level < atomic_load(&log->level) || level >= SVA_LOG_OFF)
		return;
	vsnprintf(buf, sizeof(buf), fmt, ap);
	fn = atomic_load(&log->fn);
	fn(atomic_load(&log->arg), level, buf);
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
