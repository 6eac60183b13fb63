/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The standalone PASID allocator: options, range and zero handling, order of
 * never-used values, every errno, "an error changes nothing", one log line per
 * error, stats, and the internal owner / alloc-at / set-range calls.
 */
#include <errno.h>
#include <pthread.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "pasid_space.h"
#include "../tap.h"
#include "../busy_window.h"

/* ------------------------------------------------------------- log capture */

static struct {
	int lines;
	enum sva_log_level level;
	char last[512];
} cap;

static void capture(void *arg, enum sva_log_level level, const char *msg)
{
	(void)arg;
	cap.lines++;
	cap.level = level;
	snprintf(cap.last, sizeof(cap.last), "%s", msg);
}

/* Standalone spaces log through the default log: point it at `capture`. */
static void capture_default_log(void)
{
	sva_log_init((struct sva_log *)sva_log_default(), capture, NULL, SVA_LOG_DEBUG);
}

/* Run `expr`, check it returns `want` with exactly one log line. */
#define ERR_ONE_LINE(expr, want, name)                                                                     \
	do {                                                                                               \
		int before_ = cap.lines;                                                                   \
		int r_ = (expr);                                                                           \
		is_int(r_, (want), "%s: %s", (name), #want);                                               \
		is_int(cap.lines - before_, 1, "%s: one log line (%s)", (name), cap.last);                \
	} while (0)

/* ------------------------------------------------------------------ helpers */

static struct sva_pasid_space *space(uint32_t flags, uint32_t min, uint32_t max, uint64_t grace)
{
	struct sva_pasid_space_opts o = { .size = sizeof(o), .flags = flags, .min = min, .max = max,
					  .grace_ns = grace };
	struct sva_pasid_space *s = NULL;
	int r = sva_pasid_space_new(&o, &s);

	if (r)
		diag("sva_pasid_space_new(%u, %u, %u) = %d", flags, min, max, r);
	return s;
}

static struct sva_pasid_stats stats(const struct sva_pasid_space *s)
{
	struct sva_pasid_stats st = { .size = sizeof(st) };

	if (sva_pasid_stats(s, &st))
		diag("sva_pasid_stats failed");
	return st;
}

static bool stats_are(const struct sva_pasid_space *s, uint64_t alloc, uint64_t quar, uint64_t free_)
{
	struct sva_pasid_stats st = stats(s);

	if (st.allocated == alloc && st.quarantined == quar && st.free == free_)
		return true;
	diag("stats: allocated %llu quarantined %llu free %llu; want %llu %llu %llu",
	     (unsigned long long)st.allocated, (unsigned long long)st.quarantined, (unsigned long long)st.free,
	     (unsigned long long)alloc, (unsigned long long)quar, (unsigned long long)free_);
	return false;
}

static void *tag(uintptr_t v)
{
	return (void *)(v * 16 + 8);
}

/* ------------------------------------------------------------------- tests */

static void test_options(void)
{
	struct sva_pasid_space_opts o;
	struct sva_pasid_space *s = NULL, *untouched = (struct sva_pasid_space *)&o;
	struct sva_pasid_stats st;
	struct {
		struct sva_pasid_space_opts o;
		uint64_t extra;
	} big;

	ok(sva_pasid_space_new(NULL, &s) == 0 && s, "NULL opts: every default");
	st = stats(s);
	ok(st.min == 1 && st.max == SVA_PASID_MAX, "defaults: [1, SVA_PASID_MAX] (got [%u, %u])", st.min, st.max);
	ok(st.free == SVA_PASID_MAX && st.allocated == 0 && st.quarantined == 0, "defaults: all 2^20-1 free");
	sva_pasid_space_free(s);
	cap.lines = 0;
	sva_pasid_space_free(NULL);
	/* libsva(7), Errors: the calls that end an object do nothing for NULL,
	 * and do not log (the default log is captured: a NULL's line goes there). */
	is_int(cap.lines, 0, "sva_pasid_space_free(NULL) is a no-op: no line logged");

#define BAD_OPTS(init, want, name)                                                                   \
	do {                                                                                         \
		o = (struct sva_pasid_space_opts){ .size = sizeof(o) };                              \
		init;                                                                                \
		s = untouched;                                                                       \
		ERR_ONE_LINE(sva_pasid_space_new(&o, &s), want, name);                               \
		ok(s == untouched, "%s: *out untouched", name);                                      \
	} while (0)

	BAD_OPTS(o.size = sizeof(o) - 1, -EINVAL, "opts->size too small");
	BAD_OPTS(o.size = 0, -EINVAL, "opts->size 0");
	BAD_OPTS(o.flags = 1u << 7, -EINVAL, "unknown flag");
	BAD_OPTS((o.flags = SVA_PASID_ALLOW_ZERO, o.min = 1), -EINVAL, "ALLOW_ZERO with min 1");
	BAD_OPTS((o.min = 10, o.max = 5), -EINVAL, "inverted range");
	BAD_OPTS(o.min = SVA_PASID_MAX + 1, -EINVAL, "min above the default max (empty)");
	BAD_OPTS(o.max = SVA_PASID_MAX + 1, -ERANGE, "max beyond SVA_PASID_MAX");
	BAD_OPTS((o.min = 5, o.max = UINT32_MAX), -ERANGE, "max UINT32_MAX");
	ERR_ONE_LINE(sva_pasid_space_new(NULL, NULL), -EINVAL, "NULL out");
	/* sva_pasid_space_new(3): several mistakes at once give the first of
	 * out, size, flags, max, min against the flags, the empty range. */
	o = (struct sva_pasid_space_opts){ .size = sizeof(o), .max = SVA_PASID_MAX + 1 };
	ERR_ONE_LINE(sva_pasid_space_new(&o, NULL), -EINVAL, "NULL out and max too large: -EINVAL (out first)");
	BAD_OPTS((o.size = 0, o.max = SVA_PASID_MAX + 1), -EINVAL, "bad size and max too large: -EINVAL (size first)");
	BAD_OPTS((o.flags = 1u << 7, o.max = SVA_PASID_MAX + 1), -EINVAL,
		 "unknown flag and max too large: -EINVAL (flags first)");
	BAD_OPTS((o.flags = SVA_PASID_ALLOW_ZERO, o.min = 1, o.max = SVA_PASID_MAX + 1), -ERANGE,
		 "ALLOW_ZERO with min 1 and max too large: -ERANGE (max before min)");
	BAD_OPTS((o.min = SVA_PASID_MAX + 2, o.max = SVA_PASID_MAX + 1), -ERANGE,
		 "min above a max too large: -ERANGE (max before the empty range)");
	BAD_OPTS((o.flags = SVA_PASID_ALLOW_ZERO, o.min = 10, o.max = 5), -EINVAL,
		 "ALLOW_ZERO with min 10 above max 5: -EINVAL");

	/* A newer caller's larger struct: fine if its extra fields are zero. */
	memset(&big, 0, sizeof(big));
	big.o.size = sizeof(big);
	big.o.min = 7;
	big.o.max = 9;
	ok(sva_pasid_space_new(&big.o, &s) == 0, "larger opts with zero tail accepted");
	st = stats(s);
	ok(st.min == 7 && st.max == 9, "and its range is used ([%u, %u])", st.min, st.max);
	sva_pasid_space_free(s);
	big.extra = 1;
	s = untouched;
	ERR_ONE_LINE(sva_pasid_space_new(&big.o, &s), -EINVAL, "larger opts with non-zero tail");
	ok(s == untouched, "larger opts: *out untouched");

	s = space(0, 5, 5, 0);
	ok(s && stats_are(s, 0, 0, 1), "single-value range [5, 5]");
	sva_pasid_space_free(s);
	s = space(0, SVA_PASID_MAX, SVA_PASID_MAX, 0);
	ok(s && stats_are(s, 0, 0, 1), "range [SVA_PASID_MAX, SVA_PASID_MAX]");
	sva_pasid_space_free(s);
}

static void test_zero(void)
{
	struct sva_pasid_space *s;
	uint32_t p = 99;
	void *d;

	s = space(0, 0, 3, 0);
	ok(s && stats(s).min == 1, "min 0 without ALLOW_ZERO is raised to 1");
	ok(sva_pasid_alloc(s, NULL, &p) == 0 && p == 1, "first PASID is 1, not 0 (got %u)", p);
	ERR_ONE_LINE(sva_pasid_lookup(s, 0, &d), -ERANGE, "lookup of 0");
	ERR_ONE_LINE(sva_pasid_free(s, 0), -ERANGE, "free of 0");
	ERR_ONE_LINE(sva_pasid_release(s, 0), -ERANGE, "release of 0");
	sva_pasid_space_free(s);

	s = space(SVA_PASID_ALLOW_ZERO, 0, 3, 0);
	ok(s && stats(s).min == 0 && stats_are(s, 0, 0, 4), "ALLOW_ZERO: [0, 3], 4 free");
	ok(sva_pasid_alloc(s, tag(0), &p) == 0 && p == 0, "ALLOW_ZERO: first PASID is 0 (got %u)", p);
	ok(sva_pasid_lookup(s, 0, &d) == 0 && d == tag(0), "ALLOW_ZERO: 0 is found");
	ok(sva_pasid_free(s, 0) == 0 && sva_pasid_release(s, 0) == 0, "ALLOW_ZERO: 0 frees and releases");
	sva_pasid_space_free(s);
}

static void test_alloc_lookup(void)
{
	struct sva_pasid_space *s = space(0, 100, 109, 0);
	uint32_t p, got[10];
	void *d;
	bool order = true, found = true;

	for (uint32_t i = 0; i < 10; i++) {
		if (sva_pasid_alloc(s, tag(i), &got[i]) || got[i] != 100 + i)
			order = false;
	}
	ok(order, "never-used PASIDs come in increasing order from min");
	for (uint32_t i = 0; i < 10; i++)
		if (sva_pasid_lookup(s, 100 + i, &d) || d != tag(i))
			found = false;
	ok(found, "lookup returns each PASID's own drvdata");
	ok(sva_pasid_lookup(s, 105, NULL) == 0, "lookup with NULL drvdata is an existence test");
	ok(stats_are(s, 10, 0, 0), "stats: 10 allocated, 0 free");

	p = 12345;
	ERR_ONE_LINE(sva_pasid_alloc(s, NULL, &p), -ENOSPC, "alloc from a full space");
	ok(p == 12345, "-ENOSPC leaves *pasid untouched");
	ok(stats_are(s, 10, 0, 0), "-ENOSPC changes no count");
	ERR_ONE_LINE(sva_pasid_alloc(s, NULL, NULL), -EINVAL, "alloc with NULL pasid");
	ERR_ONE_LINE(sva_pasid_alloc(NULL, NULL, &p), -EINVAL, "alloc with NULL space");

	ok(sva_pasid_alloc(s, NULL, &p) == -ENOSPC, "still full");
	ok(sva_pasid_free(s, 104) == 0, "free 104");
	ERR_ONE_LINE(sva_pasid_lookup(s, 104, &d), -ENOENT, "lookup right after free");
	ok(stats_are(s, 9, 1, 0), "stats: 9 allocated, 1 quarantined");
	ok(sva_pasid_alloc(s, NULL, &p) == -ENOSPC, "a freed PASID is not allocatable before release");
	sva_pasid_space_free(s);
}

static void test_errors(void)
{
	struct sva_pasid_space *s = space(0, 10, 19, 0);
	struct sva_pasid_stats before, after;
	uint32_t p;
	void *d = tag(77);

	sva_pasid_alloc(s, tag(10), &p); /* 10 */
	sva_pasid_alloc(s, tag(11), &p); /* 11 */
	sva_pasid_alloc(s, tag(12), &p); /* 12 */
	sva_pasid_free(s, 11);		 /* 11 quarantined */
	sva_pasid_free(s, 12);
	sva_pasid_release(s, 12); /* 12 released, in grace */
	before = stats(s);

	ERR_ONE_LINE(sva_pasid_free(s, 11), -ENOENT, "double free");
	ERR_ONE_LINE(sva_pasid_free(s, 12), -ENOENT, "free after release");
	ERR_ONE_LINE(sva_pasid_free(s, 15), -ENOENT, "free of a never-allocated PASID");
	ERR_ONE_LINE(sva_pasid_free(s, 9), -ERANGE, "free below min");
	ERR_ONE_LINE(sva_pasid_free(s, 20), -ERANGE, "free above max");
	ERR_ONE_LINE(sva_pasid_free(s, UINT32_MAX), -ERANGE, "free of UINT32_MAX");
	ERR_ONE_LINE(sva_pasid_free(NULL, 10), -EINVAL, "free with NULL space");

	ERR_ONE_LINE(sva_pasid_release(s, 10), -EINVAL, "release of an allocated PASID");
	ERR_ONE_LINE(sva_pasid_release(s, 12), -EINVAL, "release twice");
	ERR_ONE_LINE(sva_pasid_release(s, 15), -EINVAL, "release of a never-allocated PASID");
	ERR_ONE_LINE(sva_pasid_release(s, 9), -ERANGE, "release below min");
	ERR_ONE_LINE(sva_pasid_release(s, 20), -ERANGE, "release above max");

	ERR_ONE_LINE(sva_pasid_lookup(s, 11, &d), -ENOENT, "lookup of a quarantined PASID");
	ERR_ONE_LINE(sva_pasid_lookup(s, 12, &d), -ENOENT, "lookup of a released PASID");
	ERR_ONE_LINE(sva_pasid_lookup(s, 15, &d), -ENOENT, "lookup of a never-allocated PASID");
	ERR_ONE_LINE(sva_pasid_lookup(s, 19, &d), -ENOENT, "lookup at max, never allocated");
	ERR_ONE_LINE(sva_pasid_lookup(s, 9, &d), -ERANGE, "lookup below min");
	ERR_ONE_LINE(sva_pasid_lookup(s, 20, &d), -ERANGE, "lookup above max");
	ok(d == tag(77), "failed lookups leave *drvdata untouched");

	/* A read-only call's argument checks are not logged (libsva(7), Errors). */
	int lines = cap.lines;
	is_int(sva_pasid_stats(s, NULL), -EINVAL, "stats with NULL: -EINVAL");
	after.size = sizeof(after) - 1;
	is_int(sva_pasid_stats(s, &after), -EINVAL, "stats with a short size: -EINVAL");
	is_int(cap.lines - lines, 0, "  neither logs (%s)", cap.last);
	ERR_ONE_LINE(sva_pasid_barrier(NULL), -EINVAL, "barrier with NULL space");

	after = stats(s);
	ok(memcmp(&before, &after, sizeof(before)) == 0, "no error changed the counts");
	ok(sva_pasid_lookup(s, 10, &d) == 0 && d == tag(10), "no error changed the live PASID");
	ok(sva_pasid_release(s, 11) == 0, "the quarantined PASID still releases");
	ok(sva_pasid_barrier(s) == 2, "and both released PASIDs pass the barrier");

	/* A value a bind allocated (an owner) and a failed detach retired: not
	 * allocated, and the line says why, not "double free". */
	is_int(sva_pasid_alloc_owned(s, tag(13), NULL, &p), 0, "an owned PASID");
	is_int(sva_pasid_retire_owned(s, p, tag(13)), 0, "retired by a failed detach");
	ERR_ONE_LINE(sva_pasid_free(s, p), -ENOENT, "free of a retired PASID");
	ok(strstr(cap.last, "retired for good") && !strstr(cap.last, "double free"),
	   "its line says it is retired, not a double free (%s)", cap.last);
	ERR_ONE_LINE(sva_pasid_release(s, p), -EINVAL, "release of a retired PASID");
	sva_pasid_space_free(s);
}

/* A NULL space has no range to name, so its line names the call the caller
 * made (as every other function's NULL line does), not an internal step. */
static void test_null_lines_name_the_call(void)
{
	struct sva_pasid_stats st = { .size = sizeof(st) };
	uint32_t p = 0;
	void *d = NULL;

#define NAMES(expr, fn)                                                                                    \
	do {                                                                                               \
		cap.last[0] = '\0';                                                                        \
		is_int((expr), -EINVAL, "%s(NULL, ...)", fn);                                              \
		ok(strstr(cap.last, fn ": ") == cap.last && strstr(cap.last, "NULL"),                      \
		   "  its line starts with the call's name and says what is NULL: %s", cap.last);          \
	} while (0)
	NAMES(sva_pasid_alloc(NULL, NULL, &p), "sva_pasid_alloc");
	NAMES(sva_pasid_free(NULL, 10), "sva_pasid_free");
	NAMES(sva_pasid_release(NULL, 10), "sva_pasid_release");
	NAMES(sva_pasid_barrier(NULL), "sva_pasid_barrier");
	NAMES(sva_pasid_lookup(NULL, 10, &d), "sva_pasid_lookup");
	NAMES(sva_pasid_stats(NULL, &st), "sva_pasid_stats");
#undef NAMES
}

static void test_stats(void)
{
	struct sva_pasid_space *s = space(0, 1, 100, 0);
	struct {
		struct sva_pasid_stats st;
		uint64_t extra;
	} big;
	uint32_t p;

	ok(stats_are(s, 0, 0, 100), "fresh: 0/0/100");
	for (int i = 0; i < 30; i++)
		sva_pasid_alloc(s, NULL, &p);
	ok(stats_are(s, 30, 0, 70), "30 allocated: 30/0/70");
	for (uint32_t v = 1; v <= 10; v++)
		sva_pasid_free(s, v);
	ok(stats_are(s, 20, 10, 70), "10 freed: 20/10/70");
	for (uint32_t v = 1; v <= 4; v++)
		sva_pasid_release(s, v);
	ok(stats_are(s, 20, 10, 70), "4 released, grace running: still quarantined");
	is_int(sva_pasid_barrier(s), 4, "barrier moves the 4 released");
	ok(stats_are(s, 20, 6, 74), "after barrier: 20/6/74");
	is_int(sva_pasid_barrier(s), 0, "a second barrier moves nothing");

	memset(&big, 0xff, sizeof(big));
	big.st.size = sizeof(big);
	ok(sva_pasid_stats(s, &big.st) == 0 && big.extra == 0 && big.st.allocated == 20,
	   "larger stats struct: known fields filled, unknown tail zeroed");
	sva_pasid_space_free(s);
}

/* A lookup in a handler that interrupts set_owner's busy window (sigblock.h). */
static struct sva_pasid_space *bw_space;
static uint32_t bw_pasid;
static int bw_owner;

static void reown(void)
{
	sva_pasid_set_owner(bw_space, bw_pasid, &bw_owner, tag(42));
}

static int saw_new_pair(void)
{
	void *d = NULL;

	return !(sva_pasid_lookup(bw_space, bw_pasid, &d) == 0 && d == tag(42));
}

static void test_lookup_in_handler(void)
{
	bw_space = space(0, 1, 8, 0);
	if (sva_pasid_alloc(bw_space, tag(41), &bw_pasid))
		tap_bail("alloc");
	is_int(busy_window_run(reown, saw_new_pair, 1, 1), 0,
	       "a lookup in a signal handler that interrupts set_owner on its thread: run after it, new pair");
	sva_pasid_free(bw_space, bw_pasid); /* the child changed its own copy */
	sva_pasid_space_free(bw_space);
}

static void test_owner(void)
{
	struct sva_pasid_space *s = space(0, 1, 8, 0);
	int owner_a, owner_b;
	void *o, *d;
	uint32_t p, q;

	ok(sva_pasid_alloc_owned(s, &owner_a, tag(1), &p) == 0 && p == 1, "alloc_owned");
	ok(sva_pasid_lookup_owner(s, p, &o, &d) == 0 && o == &owner_a && d == tag(1), "lookup_owner: both");
	ok(sva_pasid_lookup(s, p, &d) == 0 && d == tag(1), "plain lookup sees drvdata");
	ERR_ONE_LINE(sva_pasid_free(s, p), -EBUSY, "plain free of an owned PASID");
	ERR_ONE_LINE(sva_pasid_free_owned(s, p, &owner_b), -EBUSY, "free by another owner");
	ok(sva_pasid_lookup(s, p, NULL) == 0, "refused frees left it allocated");

	ok(sva_pasid_set_owner(s, p, &owner_b, tag(2)) == 0, "set_owner");
	ok(sva_pasid_lookup_owner(s, p, &o, &d) == 0 && o == &owner_b && d == tag(2), "new pair visible");
	ok(sva_pasid_set_owner(s, p, &owner_a, tag(3)) == 0 &&
		   sva_pasid_lookup_owner(s, p, &o, &d) == 0 && o == &owner_a && d == tag(3),
	   "second set_owner (the other buffer) visible");
	ok(sva_pasid_free_owned(s, p, &owner_a) == 0, "free by its owner");
	ok(sva_pasid_lookup_owner(s, p, &o, &d) == -ENOENT, "lookup_owner after free: -ENOENT");
	ERR_ONE_LINE(sva_pasid_set_owner(s, p, NULL, NULL), -ENOENT, "set_owner of a freed PASID");
	ERR_ONE_LINE(sva_pasid_set_owner(s, 9, NULL, NULL), -ERANGE, "set_owner out of range");

	ok(sva_pasid_alloc(s, tag(4), &q) == 0 && sva_pasid_set_owner(s, q, NULL, tag(5)) == 0 &&
		   sva_pasid_free(s, q) == 0, "owner NULL again: plain free works");
	ok(sva_pasid_lookup_owner(s, 0, &o, &d) == -ERANGE && sva_pasid_lookup_owner(s, 9, &o, &d) == -ERANGE,
	   "lookup_owner out of range: -ERANGE");
	{
		int before = cap.lines;

		sva_pasid_lookup_owner(s, 0, &o, &d);
		sva_pasid_lookup_owner(s, 5, &o, &d);
		is_int(cap.lines - before, 0, "lookup_owner logs nothing (hot path)");
	}
	sva_pasid_space_free(s);
}

static void test_alloc_at(void)
{
	struct sva_pasid_space *s = space(0, 1, 6, 0);
	uint32_t p, seq[6];
	int n = 0;
	void *d;

	ok(sva_pasid_alloc_at(s, 3, NULL, tag(3)) == 0, "alloc_at a never-used value ahead of the cursor");
	ok(sva_pasid_lookup(s, 3, &d) == 0 && d == tag(3), "it is live");
	ERR_ONE_LINE(sva_pasid_alloc_at(s, 3, NULL, NULL), -EBUSY, "alloc_at an allocated value");
	ERR_ONE_LINE(sva_pasid_alloc_at(s, 0, NULL, NULL), -ERANGE, "alloc_at below min");
	ERR_ONE_LINE(sva_pasid_alloc_at(s, 7, NULL, NULL), -ERANGE, "alloc_at above max");
	while (n < 6 && sva_pasid_alloc(s, NULL, &seq[n]) == 0)
		n++;
	ok(n == 5 && seq[0] == 1 && seq[1] == 2 && seq[2] == 4 && seq[3] == 5 && seq[4] == 6,
	   "the cursor skips the value taken out of order (1 2 4 5 6)");
	ok(stats_are(s, 6, 0, 0), "all 6 allocated");

	sva_pasid_free(s, 5);
	ERR_ONE_LINE(sva_pasid_alloc_at(s, 5, NULL, NULL), -EBUSY, "alloc_at a quarantined value");
	sva_pasid_release(s, 5);
	ERR_ONE_LINE(sva_pasid_alloc_at(s, 5, NULL, NULL), -EBUSY, "alloc_at a released value in grace");
	sva_pasid_free(s, 2);
	sva_pasid_free(s, 4);
	sva_pasid_release(s, 2);
	sva_pasid_release(s, 4);
	is_int(sva_pasid_barrier(s), 3, "5, 2, 4 pass the barrier");
	ok(sva_pasid_alloc_at(s, 2, NULL, tag(22)) == 0, "alloc_at a pooled value (middle of the pool)");
	ok(sva_pasid_alloc(s, NULL, &p) == 0 && p == 5, "pool order kept around it: 5 (got %u)", p);
	ok(sva_pasid_alloc(s, NULL, &p) == 0 && p == 4, "then 4 (got %u)", p);
	ok(sva_pasid_alloc(s, NULL, &p) == -ENOSPC, "then nothing");
	sva_pasid_space_free(s);
}

/* The pool is a ring: alloc_at leaves tombstones, a full ring compacts them. */
static void test_pool_ring(void)
{
	struct sva_pasid_space *s = space(0, 1, 3, 0);
	uint32_t p, got[4];
	int n = 0;

	for (int i = 0; i < 3; i++)
		sva_pasid_alloc(s, NULL, &p);
	for (uint32_t v = 1; v <= 3; v++)
		sva_pasid_free(s, v), sva_pasid_release(s, v);
	sva_pasid_barrier(s); /* pool: 1 2 3 */
	ok(sva_pasid_alloc_at(s, 2, NULL, NULL) == 0 && sva_pasid_free(s, 2) == 0 && sva_pasid_release(s, 2) == 0 &&
		   sva_pasid_barrier(s) == 1,
	   "2 taken from the middle and returned (pool: 1 _ 3 2, ring full)");
	ok(sva_pasid_alloc_at(s, 1, NULL, NULL) == 0 && sva_pasid_free(s, 1) == 0 && sva_pasid_release(s, 1) == 0 &&
		   sva_pasid_barrier(s) == 1,
	   "1 taken from the head and returned: the push compacts (pool: 3 2 1)");
	while (n < 4 && sva_pasid_alloc(s, NULL, &got[n]) == 0)
		n++;
	ok(n == 3 && got[0] == 3 && got[1] == 2 && got[2] == 1, "order after compaction: 3 2 1");
	sva_pasid_space_free(s);

	/* The rings grow with use while holding entries: order survives. */
	s = space(0, 1, 100, 0);
	for (int i = 0; i < 60; i++)
		sva_pasid_alloc(s, NULL, &p);
	for (uint32_t v = 1; v <= 30; v++)
		sva_pasid_free(s, v);
	for (uint32_t v = 1; v <= 20; v++)
		sva_pasid_release(s, v);
	sva_pasid_barrier(s); /* pool: 1..20 */
	for (uint32_t v = 21; v <= 30; v++)
		sva_pasid_release(s, v); /* grace: 21..30 */
	bool fresh = true, pooled = true;
	for (uint32_t v = 61; v <= 100; v++) /* the rings grow past 64 here */
		if (sva_pasid_alloc(s, NULL, &p) || p != v)
			fresh = false;
	ok(fresh, "never-used 61..100 while the pool and grace rings hold entries");
	is_int(sva_pasid_barrier(s), 10, "the grace ring kept its 10 entries across growth");
	for (uint32_t v = 1; v <= 30; v++)
		if (sva_pasid_alloc(s, NULL, &p) || p != v)
			pooled = false;
	ok(pooled, "the pool kept its order across growth: 1..30");
	ok(sva_pasid_alloc(s, NULL, &p) == -ENOSPC, "then full");
	sva_pasid_space_free(s);
}

static void test_set_range(void)
{
	struct sva_pasid_space *s = space(0, 1, 10, 0);
	uint32_t p;

	ok(sva_pasid_alloc(s, NULL, &p) == 0, "alloc 1");
	ERR_ONE_LINE(sva_pasid_space_set_range(s, 2, 5), -EBUSY, "set_range with a PASID allocated");
	sva_pasid_free(s, p);
	ERR_ONE_LINE(sva_pasid_space_set_range(s, 2, 5), -EBUSY, "set_range with a PASID quarantined");
	sva_pasid_release(s, p);
	ERR_ONE_LINE(sva_pasid_space_set_range(s, 2, 5), -EBUSY, "set_range with a PASID in grace");
	sva_pasid_barrier(s);
	ERR_ONE_LINE(sva_pasid_space_set_range(s, 5, 2), -EINVAL, "set_range inverted");
	ERR_ONE_LINE(sva_pasid_space_set_range(s, 2, SVA_PASID_MAX + 1), -ERANGE, "set_range beyond max");
	ok(stats(s).min == 1 && stats(s).max == 10, "failed set_range changed nothing");
	ok(sva_pasid_space_set_range(s, 2, 5) == 0, "set_range once everything is back in the pool");
	ok(stats(s).min == 2 && stats(s).max == 5 && stats_are(s, 0, 0, 4), "new range [2, 5], 4 free");
	ok(sva_pasid_alloc(s, NULL, &p) == 0 && p == 2, "allocation restarts at the new min (got %u)", p);
	ok(sva_pasid_lookup(s, 1, NULL) == -ERANGE && sva_pasid_lookup(s, 6, NULL) == -ERANGE,
	   "lookups outside the new range: -ERANGE");
	sva_pasid_space_free(s);
}

/* The -ENOSPC line's advice fits the state: nothing to release when all is allocated. */
static void test_enospc_advice(void)
{
	struct sva_pasid_space *s = space(0, 1, 2, UINT64_MAX);
	uint32_t p;

	sva_pasid_alloc(s, NULL, &p);
	sva_pasid_alloc(s, NULL, &p);
	is_int(sva_pasid_alloc(s, NULL, &p), -ENOSPC, "a full space: -ENOSPC");
	ok(strstr(cap.last, "every value is allocated") && !strstr(cap.last, "barrier"),
	   "  all allocated: the line does not send the caller to release or barrier: %s", cap.last);
	sva_pasid_free(s, 1);
	is_int(sva_pasid_alloc(s, NULL, &p), -ENOSPC, "one freed, not released: -ENOSPC");
	ok(strstr(cap.last, "sva_pasid_release() first") != NULL, "  the line says it needs releasing: %s", cap.last);
	sva_pasid_space_free(s);
}

static void test_log_level(void)
{
	struct sva_pasid_space *s = space(0, 1, 4, 0);

	/* A lookup miss is an expected race outcome: logged, but at debug. */
	cap.lines = 0;
	sva_pasid_lookup(s, 2, NULL);
	ok(cap.lines == 1 && cap.level == SVA_LOG_DEBUG, "lookup miss is logged at debug level");
	sva_pasid_free(s, 2);
	ok(cap.lines == 2 && cap.level == SVA_LOG_ERROR, "a double/bogus free is logged at error level");
	ok(strstr(cap.last, "PASID 2") && strstr(cap.last, "[1, 4]"), "the line names the PASID and space: %s",
	   cap.last);
	sva_log_init((struct sva_log *)sva_log_default(), capture, NULL, SVA_LOG_WARN);
	sva_pasid_lookup(s, 2, NULL);
	is_int(cap.lines, 2, "at warn level the lookup miss is filtered");
	capture_default_log();
	sva_pasid_space_free(s);
}

/*
 * sva_pasid_alloc(3), ERRORS: "Each error is logged with one line through the
 * space's log: at debug level for -ENOSPC of sva_pasid_alloc(), at error
 * level otherwise"; sva_pasid_lookup(3): -ENOENT and -ERANGE at debug level;
 * sva_pasid_space_new(3): every error is one line (an error, so at error
 * level).  Each call's every errno, with its level.
 */
static void test_error_levels(void)
{
	struct sva_pasid_space_opts o = { .size = sizeof(o), .min = 5, .max = 4 };
	struct sva_pasid_space *s = space(0, 10, 12, UINT64_MAX), *out = NULL;
	uint32_t p, q;

#define AT_LEVEL(expr, want, lvl, name)                                                                   \
	do {                                                                                               \
		int before_ = cap.lines;                                                                   \
		is_int((expr), (want), "%s: %s", (name), #want);                                           \
		ok(cap.lines - before_ == 1 && cap.level == (lvl), "  one line at %s (%d lines, level %d: %s)", \
		   #lvl, cap.lines - before_, cap.level, cap.last);                                        \
	} while (0)
	AT_LEVEL(sva_pasid_space_new(&o, &out), -EINVAL, SVA_LOG_ERROR, "space_new, empty range");
	o = (struct sva_pasid_space_opts){ .size = sizeof(o), .max = SVA_PASID_MAX + 1 };
	AT_LEVEL(sva_pasid_space_new(&o, &out), -ERANGE, SVA_LOG_ERROR, "space_new, max too large");
	AT_LEVEL(sva_pasid_space_new(NULL, NULL), -EINVAL, SVA_LOG_ERROR, "space_new, NULL out");
	AT_LEVEL(sva_pasid_alloc(s, NULL, NULL), -EINVAL, SVA_LOG_ERROR, "alloc, NULL pasid");
	AT_LEVEL(sva_pasid_alloc(NULL, NULL, &p), -EINVAL, SVA_LOG_ERROR, "alloc, NULL space");
	sva_pasid_alloc(s, NULL, &p);
	sva_pasid_alloc(s, NULL, &q);
	sva_pasid_alloc(s, NULL, &q);
	AT_LEVEL(sva_pasid_alloc(s, NULL, &q), -ENOSPC, SVA_LOG_DEBUG, "alloc, full");
	AT_LEVEL(sva_pasid_free(s, 9), -ERANGE, SVA_LOG_ERROR, "free, below min");
	AT_LEVEL(sva_pasid_free(NULL, p), -EINVAL, SVA_LOG_ERROR, "free, NULL space");
	AT_LEVEL(sva_pasid_release(s, p), -EINVAL, SVA_LOG_ERROR, "release of an allocated PASID");
	AT_LEVEL(sva_pasid_release(s, 13), -ERANGE, SVA_LOG_ERROR, "release, above max");
	AT_LEVEL(sva_pasid_release(NULL, p), -EINVAL, SVA_LOG_ERROR, "release, NULL space");
	AT_LEVEL(sva_pasid_barrier(NULL), -EINVAL, SVA_LOG_ERROR, "barrier, NULL space");
	sva_pasid_free(s, p);
	AT_LEVEL(sva_pasid_alloc(s, NULL, &q), -ENOSPC, SVA_LOG_DEBUG, "alloc, full with one in quarantine");
	AT_LEVEL(sva_pasid_free(s, p), -ENOENT, SVA_LOG_ERROR, "free, double free");
	AT_LEVEL(sva_pasid_lookup(s, p, NULL), -ENOENT, SVA_LOG_DEBUG, "lookup of a freed PASID");
	AT_LEVEL(sva_pasid_lookup(s, 13, NULL), -ERANGE, SVA_LOG_DEBUG, "lookup above max");
	AT_LEVEL(sva_pasid_lookup(NULL, p, NULL), -EINVAL, SVA_LOG_ERROR, "lookup, NULL space");
#undef AT_LEVEL
	ok(out == NULL, "no failed sva_pasid_space_new stored a space");
	sva_pasid_space_free(s);
}

/* "On failure nothing has changed": a refused stats call leaves *stats alone. */
static void test_stats_refused_untouched(void)
{
	struct sva_pasid_space *s = space(0, 1, 4, 0);
	struct sva_pasid_stats st, want;

	memset(&st, 0x5a, sizeof(st));
	st.size = sizeof(st) - 1;
	want = st;
	is_int(sva_pasid_stats(s, &st), -EINVAL, "stats with a short size: -EINVAL");
	ok(memcmp(&st, &want, sizeof(st)) == 0, "  and *stats untouched");
	st.size = 0;
	want = st;
	is_int(sva_pasid_stats(s, &st), -EINVAL, "stats with size 0: -EINVAL");
	ok(memcmp(&st, &want, sizeof(st)) == 0, "  and *stats untouched");
	sva_pasid_space_free(s);
}

/*
 * sva_pasid_space_new(3), THREAD SAFETY: "A space is process memory, so a
 * child made by fork(2) gets a copy of it, which it may use".  The child
 * runs every call on its copy (reuse after release included); the parent's
 * space is as it was.  Then the same from a parent that has had a second
 * thread (the space's lock then takes its threaded path), none of whose
 * threads is inside a call at the fork.
 */
static int child_uses_copy(struct sva_pasid_space *s)
{
	uint32_t p, q;
	void *d = NULL;
	struct sva_pasid_stats st = { .size = sizeof(st) };

	if (sva_pasid_lookup(s, 1, &d) || d != tag(1))
		return 10; /* the parent's allocation is in the copy */
	if (sva_pasid_alloc(s, tag(50), &p) || p != 3 || sva_pasid_free(s, 1) || sva_pasid_release(s, 1))
		return 11;
	if (sva_pasid_barrier(s) != 1 || sva_pasid_alloc(s, tag(51), &q) || q != 4)
		return 12; /* never-used ones first */
	if (sva_pasid_alloc(s, tag(52), &q) || q != 1 || sva_pasid_lookup(s, 1, &d) || d != tag(52))
		return 13; /* then the released one, with its new drvdata */
	if (sva_pasid_stats(s, &st) || st.allocated != 4 || st.free != 0)
		return 14;
	return 0;
}

static void *idle_thread(void *arg)
{
	return arg;
}

static void test_fork_copy(void)
{
	for (int threaded = 0; threaded < 2; threaded++) {
		const char *how = threaded ? "a parent that has had a thread" : "a single-threaded parent";
		struct sva_pasid_space *s = space(0, 1, 4, UINT64_MAX);
		struct sva_pasid_stats st;
		uint32_t p;
		int status = -1;
		pid_t pid;
		void *d = NULL;

		if (threaded) {
			pthread_t t;

			if (pthread_create(&t, NULL, idle_thread, NULL) || pthread_join(t, NULL))
				tap_bail("pthread_create");
		}
		sva_pasid_alloc(s, tag(1), &p);
		sva_pasid_alloc(s, tag(2), &p);
		fflush(stdout);
		pid = fork();
		if (pid == 0)
			_exit(child_uses_copy(s));
		waitpid(pid, &status, 0);
		is_int(WIFEXITED(status) ? WEXITSTATUS(status) : -1, 0,
		       "fork from %s: the child uses its copy (every call, reuse after release)", how);
		st = stats(s);
		ok(st.allocated == 2 && st.quarantined == 0 && st.free == 2, "  the parent's counts are as they were");
		ok(sva_pasid_lookup(s, 1, &d) == 0 && d == tag(1) && sva_pasid_lookup(s, 3, NULL) == -ENOENT,
		   "  the parent's PASIDs are as they were");
		p = 0;
		is_int(sva_pasid_alloc(s, NULL, &p), 0, "  the parent allocates");
		is_int(p, 3, "  and its next PASID is still 3");
		sva_pasid_space_free(s);
	}
}

/*
 * sva_pasid_space_new(3): "sva_pasid_space_new() is thread-safe", and so is
 * every call on a space but sva_pasid_space_free().  Threads make, use and
 * free spaces of their own at once (the first ones choose the lock's mode
 * and set up the default log); each space is whole.
 */
#define NEW_THREADS 4
#define NEW_ROUNDS 200

static void *new_free_loop(void *arg)
{
	uintptr_t bad = 0;

	(void)arg;
	for (int i = 0; i < NEW_ROUNDS; i++) {
		struct sva_pasid_space_opts o = { .size = sizeof(o), .min = 1, .max = 3, .grace_ns = UINT64_MAX };
		struct sva_pasid_space *s = NULL;
		struct sva_pasid_stats st = { .size = sizeof(st) };
		uint32_t p = 0;
		void *d = NULL;

		if (sva_pasid_space_new(&o, &s) || !s) {
			bad++;
			continue;
		}
		if (sva_pasid_alloc(s, &o, &p) || p != 1 || sva_pasid_lookup(s, 1, &d) || d != &o ||
		    sva_pasid_stats(s, &st) || st.allocated != 1 || st.free != 2)
			bad++;
		sva_pasid_space_free(s);
	}
	return (void *)bad;
}

static void test_new_concurrent(void)
{
	pthread_t t[NEW_THREADS];
	uintptr_t bad = 0;

	for (int i = 0; i < NEW_THREADS; i++)
		if (pthread_create(&t[i], NULL, new_free_loop, NULL))
			tap_bail("pthread_create");
	for (int i = 0; i < NEW_THREADS; i++) {
		void *r;

		pthread_join(t[i], &r);
		bad += (uintptr_t)r;
	}
	is_int(bad, 0, "%d threads x %d spaces made, used and freed at once: each one whole", NEW_THREADS,
	       NEW_ROUNDS);
}

int main(void)
{
	capture_default_log();
	test_options();
	test_zero();
	test_alloc_lookup();
	test_errors();
	test_null_lines_name_the_call();
	test_stats();
	test_owner();
	test_lookup_in_handler();
	test_alloc_at();
	test_pool_ring();
	test_set_range();
	test_log_level();
	test_enospc_advice();
	test_error_levels();
	test_stats_refused_untouched();
	test_fork_copy();
	test_new_concurrent();
	return done_testing();
}
