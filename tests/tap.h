/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * A tiny TAP producer for the test programs (automake's tap-driver.sh reads it).
 *
 *   plan(3);                      or nothing, and done_testing() prints "1..N"
 *   ok(x == 1, "x is %d", x);     "ok 1 - x is 1" / "not ok 1 - ..." + "# at file:line"
 *   is_int(got, want, "name");    as ok(), printing both values on failure
 *   skip(n, "why");               n "ok N # SKIP why" lines
 *   diag("fmt", ...);             a "# ..." comment line
 *   skip_all("why");              "1..0 # SKIP why" and exit(0); call before any test
 *   return done_testing();        exit status: 0 iff every test passed and the plan held
 *
 * Header-only with per-program state; call it from one thread at a time.
 */
#ifndef SVA_TESTS_TAP_H
#define SVA_TESTS_TAP_H

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>

static struct {
	int planned; /* -1: no plan yet */
	int run;
	int failed;
} tap_state_ = { -1, 0, 0 };

#define TAP_PRINTF_(a, b) __attribute__((format(printf, a, b)))

static inline void plan(int n)
{
	tap_state_.planned = n;
	printf("1..%d\n", n);
	fflush(stdout);
}

/* "Bail out!" and the reason: the harness stops reading; exit status 1. */
static inline void tap_bail(const char *fmt, ...) TAP_PRINTF_(1, 2) __attribute__((noreturn));
static inline void tap_bail(const char *fmt, ...)
{
	va_list ap;

	fputs("Bail out! ", stdout);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	fputc('\n', stdout);
	exit(1);
}

static inline void diag(const char *fmt, ...) TAP_PRINTF_(1, 2);
static inline void diag(const char *fmt, ...)
{
	va_list ap;

	fputs("# ", stdout);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	fputc('\n', stdout);
	fflush(stdout);
}

static inline bool tap_vok_(bool cond, const char *file, int line, const char *fmt, va_list ap)
	TAP_PRINTF_(4, 0);
static inline bool tap_vok_(bool cond, const char *file, int line, const char *fmt, va_list ap)
{
	tap_state_.run++;
	printf("%sok %d - ", cond ? "" : "not ", tap_state_.run);
	vprintf(fmt, ap);
	fputc('\n', stdout);
	if (!cond) {
		tap_state_.failed++;
		printf("#   failed at %s:%d\n", file, line);
	}
	fflush(stdout);
	return cond;
}

static inline bool tap_ok_print_(bool cond, const char *file, int line, const char *fmt, ...) TAP_PRINTF_(4, 5);
static inline bool tap_ok_print_(bool cond, const char *file, int line, const char *fmt, ...)
{
	va_list ap;
	bool r;

	va_start(ap, fmt);
	r = tap_vok_(cond, file, line, fmt, ap);
	va_end(ap);
	return r;
}

static inline bool tap_is_int_print_(long long got, long long want, const char *file, int line, const char *fmt,
				     ...) TAP_PRINTF_(5, 6);
static inline bool tap_is_int_print_(long long got, long long want, const char *file, int line, const char *fmt,
				     ...)
{
	va_list ap;
	bool r;

	va_start(ap, fmt);
	r = tap_vok_(got == want, file, line, fmt, ap);
	va_end(ap);
	if (!r)
		diag("  got: %lld, want: %lld", got, want);
	return r;
}

/*
 * ok() and is_int() return the condition, so a test can stop early:
 * if (!ok(f(&out) == 0, ...)) return ...  gcc cannot inline a variadic
 * function, so that return value was hidden from it, and under -flto it took
 * `out` for maybe uninitialized after such a line.  With gcc, tap_ok_() and
 * tap_is_int_() are always inlined wrappers that pass their arguments on
 * unchanged (__builtin_va_arg_pack(), as glibc's _FORTIFY_SOURCE wrappers of
 * printf) and return the same value where gcc sees it.  Clang has no
 * __builtin_va_arg_pack(), nor that warning.
 */
#if defined(__GNUC__) && !defined(__clang__)
/* The callers' formats are checked against the wrappers' own attribute. */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
static inline __attribute__((always_inline)) bool tap_ok_(bool cond, const char *file, int line, const char *fmt, ...)
	TAP_PRINTF_(4, 5);
static inline __attribute__((always_inline)) bool tap_ok_(bool cond, const char *file, int line, const char *fmt, ...)
{
	tap_ok_print_(cond, file, line, fmt, __builtin_va_arg_pack());
	return cond;
}
static inline __attribute__((always_inline)) bool tap_is_int_(long long got, long long want, const char *file,
							      int line, const char *fmt, ...) TAP_PRINTF_(5, 6);
static inline __attribute__((always_inline)) bool tap_is_int_(long long got, long long want, const char *file,
							      int line, const char *fmt, ...)
{
	tap_is_int_print_(got, want, file, line, fmt, __builtin_va_arg_pack());
	return got == want;
}
#pragma GCC diagnostic pop
#else
#define tap_ok_ tap_ok_print_
#define tap_is_int_ tap_is_int_print_
#endif

#define ok(cond, ...) tap_ok_(!!(cond), __FILE__, __LINE__, __VA_ARGS__)
#define is_int(got, want, ...) tap_is_int_((long long)(got), (long long)(want), __FILE__, __LINE__, __VA_ARGS__)

static inline void skip(int n, const char *reason)
{
	for (int i = 0; i < n; i++)
		printf("ok %d # SKIP %s\n", ++tap_state_.run, reason);
	fflush(stdout);
}

static inline void skip_all(const char *reason)
{
	printf("1..0 # SKIP %s\n", reason);
	fflush(stdout);
	exit(0);
}

static inline int done_testing(void)
{
	if (tap_state_.planned < 0)
		printf("1..%d\n", tap_state_.run);
	else if (tap_state_.planned != tap_state_.run)
		diag("planned %d tests but ran %d", tap_state_.planned, tap_state_.run);
	fflush(stdout);
	return tap_state_.failed == 0 && (tap_state_.planned < 0 || tap_state_.planned == tap_state_.run) ? 0 : 1;
}

#endif /* SVA_TESTS_TAP_H */
