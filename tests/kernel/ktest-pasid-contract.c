/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The PASID pages read as a user reads them: every ERRORS entry, RETURN
 * VALUE claim, "nothing changed on failure", range edges (0, min, max,
 * max+1) and the log levels they promise, for standalone spaces
 * (sva_pasid_space_new(3), sva_pasid_alloc(3), sva_pasid_lookup(3),
 * sva_pasid_stats(3)), a context's and its mock devices' spaces
 * (sva_dev_pasid_alloc(3), sva_dev_pasids(3), sva_dev_set_pasid_range(3)),
 * and bonds under one global PASID on two devices (sva_bond_pasid(3),
 * sva_dev_bond_lookup(3)).  The standalone part needs no kernel and runs
 * everywhere; the rest needs the iommufd selftest mock.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <sys/resource.h>
#include <time.h>

#include "ktest.h"

#define BUF_VA 0x50000000ull /* inside the mock aperture */

/* Lines a context's log received, per level. */
struct counts {
	int n[6];
	char last[512];
};

static void count_line(void *arg, enum sva_log_level level, const char *msg)
{
	struct counts *c = arg;

	if ((int)level >= 0 && (int)level < 6)
		c->n[level]++;
	snprintf(c->last, sizeof(c->last), "%s", msg);
}

static struct counts lines;

static void watch(struct sva_ctx *ctx)
{
	memset(&lines, 0, sizeof(lines));
	sva_ctx_set_log(ctx, count_line, &lines, SVA_LOG_DEBUG);
}

static int total(void)
{
	int t = 0;

	for (int i = 0; i < 6; i++)
		t += lines.n[i];
	return t;
}

static struct sva_pasid_stats stats_of(const struct sva_pasid_space *s)
{
	struct sva_pasid_stats st = { .size = sizeof(st) };

	if (sva_pasid_stats(s, &st))
		memset(&st, 0xff, sizeof(st));
	return st;
}

static bool same_stats(struct sva_pasid_stats a, struct sva_pasid_stats b)
{
	return a.min == b.min && a.max == b.max && a.allocated == b.allocated && a.quarantined == b.quarantined &&
	       a.free == b.free;
}

static void sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) && errno == EINTR)
		;
}

static struct sva_pasid_space *space(uint32_t flags, uint32_t min, uint32_t max, uint64_t grace)
{
	struct sva_pasid_space_opts o = { .size = sizeof(o), .flags = flags, .min = min, .max = max, .grace_ns = grace };
	struct sva_pasid_space *s = NULL;

	if (sva_pasid_space_new(&o, &s))
		ktest_bail("sva_pasid_space_new [%u, %u]", min, max);
	return s;
}

/* ------------------------------------------------- sva_pasid_space_new(3) */

static void space_new(void)
{
	struct sva_pasid_space *s = NULL, *sentinel = (struct sva_pasid_space *)&lines;
	struct sva_pasid_stats st;
	struct {
		struct sva_pasid_space_opts o;
		uint64_t extra;
	} big;
	uint32_t p;

	is_int(sva_pasid_space_new(NULL, &s), 0, "space_new: NULL opts: every default");
	st = stats_of(s);
	ok(st.min == 1 && st.max == SVA_PASID_MAX && st.free == SVA_PASID_MAX, "the defaults are [1, SVA_PASID_MAX] (%u, %u)",
	   st.min, st.max);
	sva_pasid_space_free(s);
	is_int(sva_pasid_space_new(NULL, NULL), -EINVAL, "NULL out: -EINVAL");

	s = sentinel;
	{
		struct sva_pasid_space_opts o = { .size = sizeof(o) - 1 };

		is_int(sva_pasid_space_new(&o, &s), -EINVAL, "opts->size too small: -EINVAL");
		ok(s == sentinel, "*out untouched on failure");
		o.size = 0;
		is_int(sva_pasid_space_new(&o, &s), -EINVAL, "opts->size 0: -EINVAL");
		o = (struct sva_pasid_space_opts){ .size = sizeof(o), .flags = 2 };
		is_int(sva_pasid_space_new(&o, &s), -EINVAL, "unknown flag bit: -EINVAL");
		o = (struct sva_pasid_space_opts){ .size = sizeof(o), .flags = SVA_PASID_ALLOW_ZERO, .min = 1, .max = 9 };
		is_int(sva_pasid_space_new(&o, &s), -EINVAL, "ALLOW_ZERO with min 1: -EINVAL");
		o = (struct sva_pasid_space_opts){ .size = sizeof(o), .min = 10, .max = 9 };
		is_int(sva_pasid_space_new(&o, &s), -EINVAL, "min above max: -EINVAL");
		o = (struct sva_pasid_space_opts){ .size = sizeof(o), .max = SVA_PASID_MAX + 1 };
		is_int(sva_pasid_space_new(&o, &s), -ERANGE, "max SVA_PASID_MAX + 1: -ERANGE");
		o = (struct sva_pasid_space_opts){ .size = sizeof(o), .max = UINT32_MAX };
		is_int(sva_pasid_space_new(&o, &s), -ERANGE, "max UINT32_MAX: -ERANGE");
		o = (struct sva_pasid_space_opts){ .size = sizeof(o), .min = SVA_PASID_MAX + 1 };
		is_int(sva_pasid_space_new(&o, &s), -EINVAL, "min SVA_PASID_MAX + 1, max 0 (= SVA_PASID_MAX): empty, -EINVAL");
		ok(s == sentinel, "*out still untouched");
	}
	memset(&big, 0, sizeof(big));
	big.o.size = sizeof(big);
	big.o.max = 7;
	s = NULL;
	is_int(sva_pasid_space_new(&big.o, &s), 0, "a larger opts->size with zero bytes beyond: accepted");
	sva_pasid_space_free(s);
	big.extra = 1;
	s = sentinel;
	is_int(sva_pasid_space_new(&big.o, &s), -EINVAL, "a larger opts->size with a non-zero byte beyond: -EINVAL");
	ok(s == sentinel, "*out untouched");

	s = space(0, 0, 3, 0);
	st = stats_of(s);
	ok(st.min == 1 && st.max == 3, "min 0 is raised to 1 ([%u, %u])", st.min, st.max);
	is_int(sva_pasid_alloc(s, NULL, &p), 0, "alloc");
	is_int(p, 1, "the first PASID of [0->1, 3] is 1, never 0");
	sva_pasid_space_free(s);

	s = space(SVA_PASID_ALLOW_ZERO, 0, 1, 0);
	is_int(sva_pasid_alloc(s, NULL, &p), 0, "ALLOW_ZERO [0, 1]: alloc");
	is_int(p, 0, "0 is the first PASID");
	is_int(sva_pasid_alloc(s, NULL, &p), 0, "alloc");
	is_int(p, 1, "then 1");
	sva_pasid_space_free(s);

	s = space(SVA_PASID_ALLOW_ZERO, 0, 0, 0);
	st = stats_of(s);
	ok(st.min == 0 && st.max == SVA_PASID_MAX, "ALLOW_ZERO with max 0: [0, SVA_PASID_MAX] ([%u, %u])", st.min, st.max);
	sva_pasid_space_free(s);

	s = space(0, SVA_PASID_MAX, SVA_PASID_MAX, 0);
	is_int(sva_pasid_alloc(s, NULL, &p), 0, "[SVA_PASID_MAX, SVA_PASID_MAX]: alloc");
	is_int(p, SVA_PASID_MAX, "hands out SVA_PASID_MAX");
	p = 77;
	is_int(sva_pasid_alloc(s, NULL, &p), -ENOSPC, "then -ENOSPC");
	is_int(p, 77, "*pasid untouched on -ENOSPC");
	sva_pasid_space_free(s);

	KTEST_QUIET_NOOP(sva_pasid_space_free(NULL), "sva_pasid_space_free(NULL)");
}

/* --------------------------------------------------- sva_pasid_alloc(3) */

static void alloc_free_release(void)
{
	int a, b, c;
	struct sva_pasid_space *s = space(0, 10, 13, UINT64_MAX);
	struct sva_pasid_stats before;
	uint32_t p, q, r, t;
	void *d;

	p = 5;
	is_int(sva_pasid_alloc(NULL, &a, &p), -EINVAL, "alloc: NULL space -EINVAL");
	is_int(p, 5, "*pasid untouched");
	is_int(sva_pasid_alloc(s, &a, NULL), -EINVAL, "alloc: NULL pasid -EINVAL");
	ok(same_stats(stats_of(s), (struct sva_pasid_stats){ .size = sizeof(before), .min = 10, .max = 13, .free = 4 }),
	   "nothing allocated by the refused calls");
	is_int(sva_pasid_alloc(s, &a, &p), 0, "alloc a");
	is_int(sva_pasid_alloc(s, &b, &q), 0, "alloc b");
	is_int(sva_pasid_alloc(s, &c, &r), 0, "alloc c");
	ok(p == 10 && q == 11 && r == 12, "never-used values in increasing order from min (%u %u %u)", p, q, r);
	ok(sva_pasid_lookup(s, q, &d) == 0 && d == &b, "lookup finds b's drvdata");
	is_int(sva_pasid_lookup(s, q, NULL), 0, "lookup with NULL drvdata tests allocation only");

	/* free */
	is_int(sva_pasid_free(NULL, q), -EINVAL, "free: NULL space -EINVAL");
	is_int(sva_pasid_free(s, 9), -ERANGE, "free: min - 1 -ERANGE");
	is_int(sva_pasid_free(s, 14), -ERANGE, "free: max + 1 -ERANGE");
	is_int(sva_pasid_free(s, 0), -ERANGE, "free: 0 outside [10, 13] -ERANGE");
	is_int(sva_pasid_free(s, 13), -ENOENT, "free: never allocated -ENOENT");
	is_int(sva_pasid_free(s, q), 0, "free b");
	d = &c;
	is_int(sva_pasid_lookup(s, q, &d), -ENOENT, "lookup misses it at once: -ENOENT");
	ok(d == &c, "*drvdata untouched on failure");
	is_int(sva_pasid_free(s, q), -ENOENT, "double free: -ENOENT");

	/* release */
	is_int(sva_pasid_release(NULL, q), -EINVAL, "release: NULL space -EINVAL");
	is_int(sva_pasid_release(s, 9), -ERANGE, "release: min - 1 -ERANGE");
	is_int(sva_pasid_release(s, 14), -ERANGE, "release: max + 1 -ERANGE");
	is_int(sva_pasid_release(s, p), -EINVAL, "release of an allocated PASID: -EINVAL");
	is_int(sva_pasid_release(s, 13), -EINVAL, "release of a never-allocated PASID: -EINVAL");
	is_int(sva_pasid_alloc(s, &a, &t), 0, "alloc the last never-used value");
	is_int(t, 13, "it is 13");
	before = stats_of(s);
	is_int(sva_pasid_alloc(s, &a, &t), -ENOSPC, "all allocated or freed-not-released: -ENOSPC");
	ok(same_stats(before, stats_of(s)), "nothing changed by -ENOSPC");
	is_int(sva_pasid_barrier(s), 0, "barrier: nothing released, returns 0");
	is_int(sva_pasid_alloc(s, &a, &t), -ENOSPC, "a freed PASID not released stays in quarantine across a barrier");
	is_int(sva_pasid_release(s, q), 0, "release b");
	is_int(sva_pasid_release(s, q), -EINVAL, "release twice: -EINVAL");
	is_int(sva_pasid_free(s, q), -ENOENT, "free of a released PASID: -ENOENT");
	is_int(sva_pasid_alloc(s, &a, &t), -ENOSPC, "released, grace UINT64_MAX: still in quarantine");
	before = stats_of(s);
	ok(before.allocated == 3 && before.quarantined == 1 && before.free == 0, "stats: 3 allocated, 1 quarantined, 0 free");
	is_int(sva_pasid_barrier(NULL), -EINVAL, "barrier: NULL space -EINVAL");
	is_int(sva_pasid_barrier(s), 1, "barrier makes the released one allocatable: returns 1");
	is_int(sva_pasid_barrier(s), 0, "a second barrier: 0");
	is_int(sva_pasid_alloc(s, &c, &t), 0, "alloc after the barrier");
	is_int(t, q, "hands out the released value");
	ok(sva_pasid_lookup(s, t, &d) == 0 && d == &c, "with its new drvdata");

	/* Reuse order: the order values became allocatable, not the order they were freed. */
	sva_pasid_free(s, 10);
	sva_pasid_free(s, 12);
	sva_pasid_release(s, 12);
	sva_pasid_barrier(s);
	sva_pasid_release(s, 10);
	sva_pasid_barrier(s);
	sva_pasid_alloc(s, NULL, &t);
	is_int(t, 12, "reuse: 12 became allocatable first, so it comes first");
	sva_pasid_alloc(s, NULL, &t);
	is_int(t, 10, "then 10");
	sva_pasid_space_free(s);

	/* Grace time. */
	s = space(0, 1, 1, 30000000); /* 30 ms */
	sva_pasid_alloc(s, NULL, &p);
	sva_pasid_free(s, p);
	sva_pasid_release(s, p);
	is_int(sva_pasid_alloc(s, NULL, &t), -ENOSPC, "grace 30 ms: not allocatable right after the release");
	sleep_ms(60);
	is_int(sva_pasid_barrier(s), 0, "after the grace time a barrier counts nothing (it was allocatable already)");
	is_int(sva_pasid_alloc(s, NULL, &t), 0, "allocatable after its grace time");
	sva_pasid_space_free(s);

	s = space(0, 1, 1, 0); /* 0: the default, 100 ms */
	sva_pasid_alloc(s, NULL, &p);
	sva_pasid_free(s, p);
	sva_pasid_release(s, p);
	sleep_ms(20);
	is_int(sva_pasid_alloc(s, NULL, &t), -ENOSPC, "grace 0 means 100 ms: not allocatable 20 ms after");
	sleep_ms(150);
	is_int(sva_pasid_alloc(s, NULL, &t), 0, "allocatable after 170 ms");
	sva_pasid_space_free(s);
}

/* --------------------------------------- sva_pasid_lookup(3), stats(3) */

static void lookup_stats(void)
{
	struct sva_pasid_space *s = space(0, 100, 199, UINT64_MAX);
	struct {
		struct sva_pasid_stats st;
		uint64_t extra[2];
	} big;
	struct sva_pasid_stats st;
	uint32_t p;
	void *d = &st;

	is_int(sva_pasid_lookup(NULL, 100, &d), -EINVAL, "lookup: NULL space -EINVAL");
	is_int(sva_pasid_lookup(s, 99, &d), -ERANGE, "lookup: min - 1 -ERANGE");
	is_int(sva_pasid_lookup(s, 200, &d), -ERANGE, "lookup: max + 1 -ERANGE");
	is_int(sva_pasid_lookup(s, 150, &d), -ENOENT, "lookup: never allocated -ENOENT");
	is_int(sva_pasid_lookup(s, SVA_PASID_RID, &d), -ERANGE, "lookup: SVA_PASID_RID -ERANGE");
	ok(d == &st, "*drvdata untouched by every failure");

	is_int(sva_pasid_stats(NULL, &st), -EINVAL, "stats: NULL space -EINVAL");
	is_int(sva_pasid_stats(s, NULL), -EINVAL, "stats: NULL stats -EINVAL");
	st.size = sizeof(st) - 1;
	is_int(sva_pasid_stats(s, &st), -EINVAL, "stats: size too small -EINVAL");
	memset(&big, 0xa5, sizeof(big));
	big.st.size = sizeof(big);
	is_int(sva_pasid_stats(s, &big.st), 0, "stats: a larger size is accepted");
	ok(big.extra[0] == 0 && big.extra[1] == 0, "the bytes it does not know are zeroed");
	sva_pasid_alloc(s, NULL, &p);
	sva_pasid_alloc(s, NULL, &p);
	sva_pasid_free(s, p);
	sva_pasid_alloc(s, NULL, &p);
	sva_pasid_free(s, p);
	sva_pasid_release(s, p);
	st = stats_of(s);
	ok(st.min == 100 && st.max == 199 && st.allocated == 1 && st.quarantined == 2 && st.free == 97,
	   "stats: 1 allocated, 2 quarantined (freed, and released in grace), 97 free (%llu %llu %llu)",
	   (unsigned long long)st.allocated, (unsigned long long)st.quarantined, (unsigned long long)st.free);
	ok(st.allocated + st.quarantined + st.free == st.max - st.min + 1ull, "the three add up to max - min + 1");
	sva_pasid_space_free(s);
}


/* --------------------------------------------- thread safety (standalone) */

#define TS_RANGE 64u
struct ts_tag {
	uint32_t pasid;
};
static struct ts_tag ts_tags[TS_RANGE + 1];
static struct sva_pasid_space *ts_space;
static atomic_bool ts_stop;
static atomic_int ts_bad, ts_sum_bad;

static void *ts_writer(void *arg)
{
	(void)arg;
	while (!atomic_load(&ts_stop)) {
		uint32_t p;

		/* drvdata NULL or ts_tags[0]: a lookup that returns anything else mixed
		 * two allocations, or read a slot that was not live. */
		if (sva_pasid_alloc(ts_space, NULL, &p) == 0) {
			sva_pasid_free(ts_space, p);
			sva_pasid_release(ts_space, p);
		}
		if (sva_pasid_alloc(ts_space, &ts_tags[0], &p) == 0) {
			sva_pasid_free(ts_space, p);
			sva_pasid_release(ts_space, p);
		}
	}
	return NULL;
}

static void *ts_reader(void *arg)
{
	(void)arg;
	while (!atomic_load(&ts_stop)) {
		struct sva_pasid_stats st = { .size = sizeof(st) };

		for (uint32_t p = 1; p <= TS_RANGE; p++) {
			void *d = &ts_tags[p];
			int r = sva_pasid_lookup(ts_space, p, &d);

			if ((r == 0 && d != NULL && d != &ts_tags[0]) || (r && r != -ENOENT) || (r && d != &ts_tags[p]))
				atomic_fetch_add(&ts_bad, 1);
		}
		if (sva_pasid_stats(ts_space, &st) || st.allocated + st.quarantined + st.free != TS_RANGE)
			atomic_fetch_add(&ts_sum_bad, 1);
	}
	return NULL;
}

static void threads(void)
{
	pthread_t w[2], r[2];

	ts_space = space(0, 1, TS_RANGE, 1); /* grace 1 ns */
	for (int i = 0; i < 2; i++) {
		pthread_create(&w[i], NULL, ts_writer, NULL);
		pthread_create(&r[i], NULL, ts_reader, NULL);
	}
	sleep_ms(400);
	atomic_store(&ts_stop, true);
	for (int i = 0; i < 2; i++) {
		pthread_join(w[i], NULL);
		pthread_join(r[i], NULL);
	}
	is_int(atomic_load(&ts_bad), 0, "threads: lookups racing alloc/free return a live allocation's drvdata or -ENOENT, "
	       "and leave *drvdata alone on failure");
	is_int(atomic_load(&ts_sum_bad), 0, "threads: stats always add up to max - min + 1");
	sva_pasid_space_free(ts_space);
}

/* ------------------------------------------------ out of memory (hooks) */

void sva_test_fail_nth(int n); /* libsva-test only */

static void out_of_memory(void)
{
	struct sva_pasid_space *s = space(0, 1, 600, UINT64_MAX), *keep = (struct sva_pasid_space *)&lines;
	struct sva_pasid_stats before;
	uint32_t p;
	int d;

	for (uint32_t i = 1; i <= 512; i++)
		if (sva_pasid_alloc(s, NULL, &p) || p != i)
			ktest_bail("filling the first block: %u", i);
	p = 9999;
	before = stats_of(s);
	sva_test_fail_nth(1);
	is_int(sva_pasid_alloc(s, NULL, &p), -ENOMEM, "the table cannot grow and nothing is allocatable again: -ENOMEM");
	sva_test_fail_nth(0);
	is_int(p, 9999, "*pasid untouched");
	ok(same_stats(before, stats_of(s)), "nothing changed");
	sva_pasid_free(s, 7);
	sva_pasid_release(s, 7);
	sva_pasid_barrier(s);
	sva_pasid_free(s, 3);
	sva_pasid_release(s, 3);
	sva_pasid_barrier(s);
	sva_test_fail_nth(1);
	is_int(sva_pasid_alloc(s, &d, &p), 0, "the table cannot grow: a value allocatable again is handed out instead");
	sva_test_fail_nth(0);
	is_int(p, 7, "the one that became allocatable the longest ago (7)");
	ok(sva_pasid_lookup(s, 7, NULL) == 0, "and it is allocated");
	is_int(sva_pasid_alloc(s, NULL, &p), 0, "memory back");
	is_int(p, 513, "never-used values come first again: 513");
	sva_pasid_space_free(s);

	sva_test_fail_nth(1);
	is_int(sva_pasid_space_new(NULL, &keep), -ENOMEM, "sva_pasid_space_new out of memory: -ENOMEM");
	sva_test_fail_nth(0);
	ok(keep == (struct sva_pasid_space *)&lines, "*out untouched");
}

/* ------------------------------------------- the default log (children) */

/*
 * Run fn in a fresh child whose stderr goes to a file (the default log is
 * stderr) with SVA_LOG as given (NULL: unset) when libsva first uses it;
 * returns the number of lines the child's libsva wrote, or -1.
 */
static int child_lines(const char *sva_log, void (*fn)(void), char *text, size_t len)
{
	char path[] = "/tmp/ktest-pasid-contract-XXXXXX";
	int fd = mkstemp(path), status, n = 0;
	pid_t pid;
	FILE *f;
	char line[512];

	if (fd < 0)
		return -1;
	fflush(stdout);
	pid = fork();
	if (pid == 0) {
		dup2(fd, 2);
		if (sva_log)
			setenv("SVA_LOG", sva_log, 1);
		else
			unsetenv("SVA_LOG");
		fn();
		_exit(0);
	}
	waitpid(pid, &status, 0);
	f = fopen(path, "r");
	if (text && len)
		text[0] = 0;
	while (f && fgets(line, sizeof(line), f)) {
		if (strncmp(line, "libsva", 6) == 0) {
			n++;
			if (text)
				snprintf(text, len, "%s", line);
		}
	}
	if (f)
		fclose(f);
	close(fd);
	unlink(path);
	return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? n : -1;
}

static void lookup_miss_after_setenv(void)
{
	struct sva_pasid_space *s = NULL;

	if (sva_pasid_space_new(NULL, &s))
		_exit(2);
	setenv("SVA_LOG", "debug", 1);
	sva_pasid_lookup(s, 5, NULL); /* debug line: only if the level were debug */
}

static void lookup_miss(void)
{
	struct sva_pasid_space *s = NULL;

	if (sva_pasid_space_new(NULL, &s))
		_exit(2);
	sva_pasid_lookup(s, 5, NULL);
}

static void enospc(void)
{
	struct sva_pasid_space_opts o = { .size = sizeof(o), .min = 1, .max = 1 };
	struct sva_pasid_space *s = NULL;
	uint32_t p;

	if (sva_pasid_space_new(&o, &s) || sva_pasid_alloc(s, NULL, &p))
		_exit(2);
	if (sva_pasid_alloc(s, NULL, &p) != -ENOSPC)
		_exit(3);
}

static void bad_free(void)
{
	struct sva_pasid_space *s = NULL;

	if (sva_pasid_space_new(NULL, &s))
		_exit(2);
	if (sva_pasid_free(s, 3) != -ENOENT)
		_exit(3);
}

static void bad_new(void)
{
	struct sva_pasid_space_opts o = { .size = sizeof(o), .min = 5, .max = 4 };
	struct sva_pasid_space *s = NULL;

	if (sva_pasid_space_new(&o, &s) != -EINVAL)
		_exit(3);
}

/* Not under a sanitizer (see default_log()). */
#if !defined(KTEST_ASAN) && !defined(KTEST_TSAN)
static void new_under_rlimit(void)
{
	struct sva_pasid_space *s = (struct sva_pasid_space *)&lines;
	long kb = ktest_self_status_num("VmSize");
	struct rlimit rl;

	if (kb <= 0 || getrlimit(RLIMIT_AS, &rl))
		_exit(4);
	rl.rlim_cur = (rlim_t)kb * 1024 + (128ull << 20);
	if (setrlimit(RLIMIT_AS, &rl))
		_exit(5);
	if (sva_pasid_space_new(NULL, &s) != -ENOMEM || s != (struct sva_pasid_space *)&lines)
		_exit(3);
}
#endif

static void default_log(void)
{
	char text[512];

	is_int(child_lines(NULL, lookup_miss_after_setenv, text, sizeof(text)), 0,
	       "SVA_LOG set to debug after sva_pasid_space_new(): the level stays (no line) [%s]", text);
	is_int(child_lines("debug", lookup_miss, text, sizeof(text)), 1, "SVA_LOG=debug: a lookup miss is one line");
	is_int(child_lines(NULL, lookup_miss, NULL, 0), 0, "default level: a lookup miss logs nothing");
	is_int(child_lines("debug", enospc, NULL, 0), 1, "SVA_LOG=debug: -ENOSPC of sva_pasid_alloc is one line");
	is_int(child_lines(NULL, enospc, NULL, 0), 0, "default level: -ENOSPC logs nothing (debug level)");
	is_int(child_lines("error", bad_free, NULL, 0), 1, "SVA_LOG=error: a refused free is one line (error level)");
	is_int(child_lines("error", bad_new, NULL, 0), 1, "SVA_LOG=error: a refused sva_pasid_space_new is one line");
#if defined(KTEST_ASAN) || defined(KTEST_TSAN)
	skip(1, "a sanitizer's runtime reserves terabytes of address space: RLIMIT_AS cannot be set under it");
#else
	is_int(child_lines(NULL, new_under_rlimit, text, sizeof(text)), 1,
	       "the first sva_pasid_space_new under an RLIMIT_AS without room for the arena: -ENOMEM, *out untouched, "
	       "one line [%s]", text);
#endif
}

/* ------------------------------------------------ the context's spaces */

static struct sva_ctx *ctx_with(uint32_t gmin, uint32_t gmax)
{
	struct sva_ctx_opts o = { .size = sizeof(o), .flags = SVA_CTX_FAULT_POLL, .pasid_grace_ns = UINT64_MAX,
				  .global_pasid_min = gmin, .global_pasid_max = gmax };
	struct sva_ctx *ctx = NULL;

	if (sva_ctx_new(&o, &ctx))
		ktest_bail("sva_ctx_new [%u, %u]", gmin, gmax);
	return ctx;
}

static struct sva_dev *mock(struct sva_ctx *ctx, uint32_t flags)
{
	struct sva_mock_opts mo = { .size = sizeof(mo), .flags = flags };
	struct sva_dev *d = NULL;
	int ret = sva_dev_open_mock(ctx, &mo, &d);

	if (ret)
		ktest_bail("sva_dev_open_mock: %s", strerror(-ret));
	return d;
}

static void dev_spaces(void)
{
	struct sva_ctx *ctx = ctx_with(0, 0);
	struct sva_dev *d1 = mock(ctx, 0), *d2 = mock(ctx, 0), *d0 = mock(ctx, SVA_MOCK_NO_PASID);
	struct sva_pasid_space *g = sva_ctx_global_pasids(ctx), *own = sva_dev_pasids(d1);
	struct sva_pasid_stats st;
	int a, b;
	uint32_t p, q, r, t;
	void *d;

	ok(sva_ctx_global_pasids(NULL) == NULL && sva_dev_pasids(NULL) == NULL, "both getters: NULL for NULL");
	st = stats_of(g);
	ok(st.min == 256 && st.max == SVA_PASID_MAX, "global space by default [256, 2^20-1] ([%u, %u])", st.min, st.max);
	st = stats_of(own);
	ok(own && st.min == 1 && st.max == 255, "a 20-bit device's own space is [1, 255] ([%u, %u])", st.min, st.max);
	ok(sva_dev_pasids(d2) != own, "each device has its own");
	ok(sva_dev_pasids(d0) == NULL, "a width-0 device has none");

	watch(ctx);
	sva_pasid_space_free(g);
	sva_pasid_space_free(own);
	is_int(lines.n[SVA_LOG_ERROR], 2, "sva_pasid_space_free of the context's or device's space: one error line each");
	ok(sva_pasid_alloc(g, NULL, &p) == 0 && sva_pasid_free(g, p) == 0, "the global space is still usable");
	ok(sva_pasid_alloc(own, NULL, &p) == 0 && sva_pasid_free(own, p) == 0, "the own space is still usable");
	sva_pasid_barrier(g);
	sva_pasid_barrier(own);
	sva_pasid_release(g, 256);
	sva_pasid_release(own, 1);
	sva_pasid_barrier(g);
	sva_pasid_barrier(own);

	/* sva_dev_pasid_alloc(3) arguments */
	p = 4242;
	is_int(sva_dev_pasid_alloc(NULL, SVA_PASID_AUTO, NULL, &p), -EINVAL, "dev alloc: NULL dev -EINVAL");
	is_int(sva_dev_pasid_alloc(d1, SVA_PASID_AUTO, NULL, NULL), -EINVAL, "dev alloc: NULL pasid -EINVAL");
	is_int(sva_dev_pasid_alloc(d1, (enum sva_pasid_policy)3, NULL, &p), -EINVAL, "dev alloc: policy 3 -EINVAL");
	is_int(sva_dev_pasid_alloc(d1, (enum sva_pasid_policy)-1, NULL, &p), -EINVAL, "dev alloc: policy -1 -EINVAL");
	is_int(sva_dev_pasid_alloc(d0, SVA_PASID_AUTO, NULL, &p), -EOPNOTSUPP, "dev alloc on width 0: -EOPNOTSUPP");
	is_int(p, 4242, "*pasid untouched by each");

	memset(&lines, 0, sizeof(lines));
	is_int(sva_dev_pasid_free(d0, 1), -EOPNOTSUPP, "free on width 0: -EOPNOTSUPP");
	is_int(sva_dev_pasid_release(d0, 1), -EOPNOTSUPP, "release on width 0: -EOPNOTSUPP");
	is_int(lines.n[SVA_LOG_ERROR], 2, "each logged at error level");
	memset(&lines, 0, sizeof(lines));
	is_int(sva_dev_pasid_lookup(d0, 1, &d), -EOPNOTSUPP, "lookup on width 0: -EOPNOTSUPP");
	ok(lines.n[SVA_LOG_DEBUG] == 1 && total() == 1, "a lookup's -EOPNOTSUPP at debug level only");
	is_int(sva_dev_set_pasid_range(d0, 1, 2), -EOPNOTSUPP, "set_pasid_range on width 0: -EOPNOTSUPP");
	is_int(sva_dev_bond_lookup(d0, 300, NULL, NULL), -EOPNOTSUPP, "bond_lookup on width 0: -EOPNOTSUPP");
	is_int(sva_dev_bond_lookup(d0, SVA_PASID_RID, NULL, NULL), -ENOENT, "bond_lookup RID on width 0 without a RID bond: -ENOENT");
	is_int(sva_dev_pasid_free(NULL, 1), -EINVAL, "free: NULL dev -EINVAL");
	is_int(sva_dev_pasid_release(NULL, 1), -EINVAL, "release: NULL dev -EINVAL");
	is_int(sva_dev_pasid_lookup(NULL, 1, &d), -EINVAL, "lookup: NULL dev -EINVAL");
	is_int(sva_dev_bond_lookup(NULL, 1, NULL, NULL), -EINVAL, "bond_lookup: NULL dev -EINVAL");

	/* Policies on a 20-bit device. */
	is_int(sva_dev_pasid_alloc(d1, SVA_PASID_AUTO, &a, &p), 0, "AUTO");
	ok(p >= 256, "AUTO prefers the global space (%u)", p);
	is_int(sva_dev_pasid_alloc(d1, SVA_PASID_DEVICE, &a, &q), 0, "DEVICE");
	ok(q >= 1 && q <= 255, "DEVICE: from [1, 255] (%u)", q);
	is_int(sva_dev_pasid_alloc(d1, SVA_PASID_GLOBAL, &b, &r), 0, "GLOBAL");
	ok(r >= 256 && r != p, "GLOBAL: from the global space (%u)", r);

	/* drvdata per (device, PASID). */
	ok(sva_dev_pasid_lookup(d1, q, &d) == 0 && d == &a, "d1 finds its own-space allocation");
	ok(sva_dev_pasid_lookup(d1, r, &d) == 0 && d == &b, "d1 finds its global allocation");
	memset(&lines, 0, sizeof(lines));
	d = &st;
	is_int(sva_dev_pasid_lookup(d2, r, &d), -ENOENT, "d2 does not find d1's global allocation: -ENOENT");
	is_int(sva_dev_pasid_lookup(d2, q, &d), -ENOENT, "nor d1's own value in d2's own space: -ENOENT");
	is_int(sva_dev_pasid_lookup(d1, SVA_PASID_RID, &d), -ERANGE, "lookup of SVA_PASID_RID: -ERANGE");
	is_int(sva_dev_pasid_lookup(d1, 0, &d), -ERANGE, "lookup of 0: -ERANGE");
	is_int(sva_dev_pasid_lookup(d1, SVA_PASID_MAX + 1, &d), -ERANGE, "lookup of 2^20: -ERANGE");
	ok(d == &st, "*drvdata untouched");
	ok(lines.n[SVA_LOG_DEBUG] == 5 && total() == 5, "each lookup miss logged once at debug level (%d lines, %d debug)",
	   total(), lines.n[SVA_LOG_DEBUG]);
	is_int(sva_pasid_alloc(g, &a, &t), 0, "an allocation straight on the global space");
	ok(sva_dev_pasid_lookup(d2, t, &d) == 0 && d == &a, "belongs to no device: every device finds it");
	is_int(sva_dev_pasid_free(d2, t), 0, "and any device frees it");

	/* Free and release, routed by value. */
	memset(&lines, 0, sizeof(lines));
	is_int(sva_dev_pasid_free(d1, 0), -ERANGE, "free 0: -ERANGE");
	is_int(sva_dev_pasid_free(d1, SVA_PASID_MAX + 1), -ERANGE, "free 2^20: -ERANGE");
	is_int(sva_dev_pasid_release(d1, 0), -ERANGE, "release 0: -ERANGE");
	is_int(sva_dev_pasid_free(d2, q), -ENOENT, "d2 frees d1's own value: not in d2's own space, -ENOENT");
	is_int(sva_dev_pasid_release(d1, q), -EINVAL, "release of an allocated PASID: -EINVAL");
	is_int(lines.n[SVA_LOG_ERROR], 5, "each logged at error level (%d)", lines.n[SVA_LOG_ERROR]);
	is_int(sva_dev_pasid_free(d2, r), 0, "a global PASID d1 allocated: d2 frees it (covers the global range)");
	is_int(sva_dev_pasid_free(d1, r), -ENOENT, "a double free through d1: -ENOENT");
	is_int(sva_dev_pasid_release(d1, r), 0, "d1 releases it");
	is_int(sva_dev_pasid_release(d2, r), -EINVAL, "released twice: -EINVAL");
	is_int(sva_dev_pasid_free(d1, q), 0, "d1 frees its own value");
	is_int(sva_dev_pasid_lookup(d1, q, &d), -ENOENT, "then does not find it");
	is_int(sva_dev_pasid_release(d1, q), 0, "and releases it");
	is_int(sva_dev_pasid_free(d1, p), 0, "free the AUTO one");
	sva_dev_pasid_release(d1, p);

	/* sva_dev_set_pasid_range(3). */
	st = stats_of(own);
	ok(st.quarantined == 1, "d1's own space has its released value in quarantine (%llu)",
	   (unsigned long long)st.quarantined);
	is_int(sva_dev_set_pasid_range(NULL, 1, 2), -EINVAL, "set_pasid_range: NULL dev -EINVAL");
	is_int(sva_dev_set_pasid_range(d1, 5, 4), -EINVAL, "min above max: -EINVAL");
	is_int(sva_dev_set_pasid_range(d1, 0, 4), -ERANGE, "min 0: -ERANGE");
	is_int(sva_dev_set_pasid_range(d1, 1, 256), -ERANGE, "max reaching into the global range: -ERANGE");
	is_int(sva_dev_set_pasid_range(d1, 2, 255), -EBUSY, "with a value in quarantine: -EBUSY");
	st = stats_of(own);
	ok(st.min == 1 && st.max == 255, "range unchanged on failure ([%u, %u])", st.min, st.max);
	sva_pasid_barrier(own);
	is_int(sva_dev_set_pasid_range(d1, 2, 3), 0, "after the barrier: [2, 3]");
	ok(sva_dev_pasids(d1) == own, "the space keeps its identity");
	st = stats_of(own);
	ok(st.min == 2 && st.max == 3 && st.free == 2, "stats say [2, 3], 2 free");
	is_int(sva_dev_pasid_alloc(d1, SVA_PASID_DEVICE, NULL, &t), 0, "DEVICE");
	is_int(t, 2, "allocation restarts from min");
	is_int(sva_dev_set_pasid_range(d1, 2, 4), -EBUSY, "with a value allocated: -EBUSY");
	is_int(sva_dev_pasid_free(d1, 1), -ERANGE, "free 1, outside the narrowed space: -ERANGE");
	is_int(sva_dev_pasid_lookup(d1, 1, &d), -ERANGE, "lookup 1: -ERANGE");
	is_int(sva_dev_bond_lookup(d1, 1, NULL, NULL), -ERANGE, "bond_lookup 1: -ERANGE");
	is_int(sva_dev_bond_lookup(d1, 4, NULL, NULL), -ERANGE, "bond_lookup 4, beyond the own range: -ERANGE");
	is_int(sva_dev_bond_lookup(d1, 3, NULL, NULL), -ENOENT, "bond_lookup 3, in range and free: -ENOENT");
	is_int(sva_dev_bond_lookup(d1, 2, NULL, NULL), -ENOENT, "bond_lookup 2, allocated not bound: -ENOENT");
	is_int(sva_dev_pasid_alloc(d1, SVA_PASID_DEVICE, NULL, &t), 0, "DEVICE again");
	is_int(t, 3, "3");
	memset(&lines, 0, sizeof(lines));
	t = 999;
	is_int(sva_dev_pasid_alloc(d1, SVA_PASID_DEVICE, NULL, &t), -ENOSPC, "own space exhausted: DEVICE -ENOSPC");
	is_int(t, 999, "*pasid untouched");
	ok(lines.n[SVA_LOG_DEBUG] == 1 && total() == 1, "-ENOSPC logged once at debug level (%d lines)", total());
	sva_dev_pasid_free(d1, 2);
	sva_dev_pasid_free(d1, 3);
	sva_dev_pasid_release(d1, 2);
	sva_dev_pasid_release(d1, 3);
	sva_pasid_barrier(own);
	is_int(sva_dev_set_pasid_range(d1, 1, 255), 0, "wider again, back to [1, 255]");

	sva_ctx_set_log(ctx, NULL, NULL, SVA_LOG_DEFAULT);
	sva_dev_close(d0);
	sva_dev_close(d2);
	sva_dev_close(d1);
	sva_ctx_free(ctx);
}

/* A global space of two values: AUTO falls back, GLOBAL says -ENOSPC; a
 * context whose global range starts at 1: devices have no own space. */
static void small_ranges(void)
{
	struct sva_ctx *ctx = ctx_with(256, 257);
	struct sva_dev *d1 = mock(ctx, 0);
	struct sva_pasid_space *own;
	uint32_t p, q, t;

	sva_dev_pasid_alloc(d1, SVA_PASID_GLOBAL, NULL, &p);
	sva_dev_pasid_alloc(d1, SVA_PASID_GLOBAL, NULL, &q);
	ok(p == 256 && q == 257, "global [256, 257]: 256 then 257");
	watch(ctx);
	t = 7;
	is_int(sva_dev_pasid_alloc(d1, SVA_PASID_GLOBAL, NULL, &t), -ENOSPC, "GLOBAL on a full global space: -ENOSPC");
	is_int(t, 7, "*pasid untouched");
	is_int(lines.n[SVA_LOG_ERROR] + lines.n[SVA_LOG_WARN], 0, "-ENOSPC is not logged above debug");
	is_int(sva_dev_pasid_alloc(d1, SVA_PASID_AUTO, NULL, &t), 0, "AUTO falls back to the own space");
	ok(t >= 1 && t <= 255, "with %u", t);
	own = sva_dev_pasids(d1);
	sva_dev_pasid_free(d1, t);
	is_int(sva_dev_set_pasid_range(d1, 10, 10), -EBUSY, "own space with a freed value: -EBUSY");
	sva_dev_pasid_release(d1, t);
	sva_pasid_barrier(own);
	is_int(sva_dev_set_pasid_range(d1, 10, 10), 0, "own space [10, 10]");
	is_int(sva_dev_pasid_alloc(d1, SVA_PASID_AUTO, NULL, &t), 0, "AUTO");
	is_int(t, 10, "10");
	memset(&lines, 0, sizeof(lines));
	t = 7;
	is_int(sva_dev_pasid_alloc(d1, SVA_PASID_AUTO, NULL, &t), -ENOSPC, "AUTO with both spaces full: -ENOSPC");
	is_int(t, 7, "*pasid untouched");
	is_int(lines.n[SVA_LOG_ERROR] + lines.n[SVA_LOG_WARN], 0, "not logged above debug");
	is_int(lines.n[SVA_LOG_DEBUG], 1, "one debug line");
	is_int(sva_dev_bond_lookup(d1, 258, NULL, NULL), -ERANGE, "bond_lookup beyond the global range's end: -ERANGE");
	is_int(sva_dev_pasid_lookup(d1, 258, NULL), -ERANGE, "dev lookup beyond the global range's end: -ERANGE");
	is_int(sva_dev_pasid_free(d1, 258), -ERANGE, "dev free beyond the global range's end: -ERANGE");
	sva_ctx_set_log(ctx, NULL, NULL, SVA_LOG_DEFAULT);
	sva_dev_close(d1);
	sva_ctx_free(ctx);

	ctx = ctx_with(1, 0);
	d1 = mock(ctx, 0);
	ok(sva_dev_pasids(d1) == NULL, "global range from 1: the device has no own space");
	t = 7;
	is_int(sva_dev_pasid_alloc(d1, SVA_PASID_DEVICE, NULL, &t), -ERANGE, "DEVICE without an own space: -ERANGE");
	is_int(t, 7, "*pasid untouched");
	is_int(sva_dev_pasid_alloc(d1, SVA_PASID_AUTO, NULL, &t), 0, "AUTO: from the global space");
	is_int(t, 1, "which starts at 1");
	is_int(sva_dev_set_pasid_range(d1, 1, 1), -ERANGE, "set_pasid_range without an own space: -ERANGE");
	is_int(sva_dev_pasid_free(d1, 0), -ERANGE, "free 0, below the global range without an own space: -ERANGE");
	is_int(sva_dev_bond_lookup(d1, 0, NULL, NULL), -ERANGE, "bond_lookup 0: -ERANGE");
	sva_dev_close(d1);
	sva_ctx_free(ctx);
}

/* --------------------------------- one global PASID on two devices */

static int exits;
static void on_exit_cb(struct sva_bond *bond, void *drvdata)
{
	(void)bond;
	(void)drvdata;
	exits++;
}

static const struct sva_bond_ops ops = { .size = sizeof(ops), .mm_exit = on_exit_cb };

static void shared(void)
{
	struct sva_ctx *ctx = ctx_with(0, 0);
	struct sva_dev *d1 = mock(ctx, 0), *d2 = mock(ctx, 0), *d3 = mock(ctx, 0);
	struct sva_pasid_space *g = sva_ctx_global_pasids(ctx);
	struct sva_bind_opts o = { .size = sizeof(o), .policy = SVA_PASID_GLOBAL, .ops = &ops };
	struct sva_bond *b1, *b2, *br, *found;
	struct sva_pasid_stats st;
	struct sva_mm *mm;
	int x1, x2, xa;
	uint32_t p, v;
	void *d;

	ok(sva_bond_pasid(NULL) == SVA_PASID_RID, "sva_bond_pasid(NULL): SVA_PASID_RID");
	ok(sva_bond_drvdata(NULL) == NULL, "sva_bond_drvdata(NULL): NULL");
	if (sva_mm_new(ctx, NULL, &mm))
		ktest_bail("sva_mm_new");
	o.drvdata = &x1;
	is_int(sva_bind(d1, mm, &o, &b1), 0, "d1 binds the address space (GLOBAL)");
	o.drvdata = &x2;
	o.policy = SVA_PASID_AUTO;
	is_int(sva_bind(d2, mm, &o, &b2), 0, "d2 binds the same address space (AUTO)");
	p = sva_bond_pasid(b1);
	is_int(sva_bond_pasid(b2), p, "one global PASID on both devices");
	ok(p >= 256 && p <= SVA_PASID_MAX, "in the global range (%u)", p);
	ok(sva_bond_drvdata(b1) == &x1 && sva_bond_drvdata(b2) == &x2, "each bond its drvdata");
	st = stats_of(g);
	is_int(st.allocated, 1, "one global value allocated");
	ok(sva_dev_bond_lookup(d1, p, &found, &d) == 0 && found == b1 && d == &x1, "d1 finds its own bond");
	ok(sva_dev_bond_lookup(d2, p, &found, NULL) == 0 && found == b2, "d2 finds its own (drvdata NULL)");
	ok(sva_dev_bond_lookup(d2, p, NULL, &d) == 0 && d == &x2, "d2 drvdata only (bond NULL)");
	found = (struct sva_bond *)&st;
	d = &st;
	is_int(sva_dev_bond_lookup(d3, p, &found, &d), -ENOENT, "d3 has no bond there: -ENOENT");
	ok(found == (struct sva_bond *)&st && d == &st, "outputs untouched");
	is_int(sva_dev_pasid_lookup(d3, p, &d), -ENOENT, "d3's drvdata under it: -ENOENT");
	ok(sva_dev_pasid_lookup(d2, p, &d) == 0 && d == &x2, "d2's drvdata under it: its bond's");
	ok(sva_pasid_lookup(g, p, &d) == 0 && d == &x1, "the space's lookup: the earliest bond's drvdata");
	is_int(sva_pasid_free(g, p), -EBUSY, "free on the space of a bound PASID: -EBUSY");
	is_int(sva_dev_pasid_free(d3, p), -EBUSY, "free through another device: -EBUSY");
	is_int(sva_dev_pasid_release(d1, p), -EINVAL, "release of a bound PASID: -EINVAL");
	is_int(sva_dev_bond_lookup(d1, 0, NULL, NULL), -ERANGE, "bond_lookup 0: -ERANGE");
	is_int(sva_dev_bond_lookup(d1, SVA_PASID_MAX + 1, NULL, NULL), -ERANGE, "bond_lookup 2^20: -ERANGE");
	is_int(sva_dev_bond_lookup(d1, SVA_PASID_RID, NULL, NULL), -ENOENT, "bond_lookup RID without a RID bond: -ENOENT");

	is_int(ktest_pasid_check(d1, p, b1->hwpt->id), 0, "kernel: PASID %u attached on d1", p);
	is_int(sva_unbind(b1), 0, "unbind the earliest (d1's)");
	is_int(ktest_pasid_check(d1, p, 0), 0, "kernel: detached on d1");
	is_int(ktest_pasid_check(d2, p, b2->hwpt->id), 0, "kernel: still attached on d2");
	is_int(sva_dev_bond_lookup(d1, p, NULL, NULL), -ENOENT, "d1 finds nothing");
	ok(sva_dev_bond_lookup(d2, p, &found, NULL) == 0 && found == b2, "d2 still finds its bond");
	ok(sva_pasid_lookup(g, p, &d) == 0 && d == &x2, "the space's lookup: now d2's bond's drvdata");
	is_int(stats_of(g).allocated, 1, "the value stays allocated while a bond uses it");
	is_int(sva_unbind(b2), 0, "unbind the last");
	st = stats_of(g);
	ok(st.allocated == 0 && st.quarantined == 1, "the value went to quarantine (allocated %llu, quarantined %llu)",
	   (unsigned long long)st.allocated, (unsigned long long)st.quarantined);
	is_int(sva_pasid_lookup(g, p, &d), -ENOENT, "the space's lookup misses it");
	is_int(sva_dev_bond_lookup(d2, p, NULL, NULL), -ENOENT, "bond_lookup misses it");
	is_int(sva_dev_pasid_lookup(d2, p, &d), -ENOENT, "dev lookup misses it");
	is_int(sva_pasid_free(g, p), -ENOENT, "free of the bind's value after its last unbind: -ENOENT");
	is_int(sva_pasid_barrier(g), 1, "a barrier releases it");

	/* A value the driver allocated through d1, bound on d2 only. */
	is_int(sva_dev_pasid_alloc(d1, SVA_PASID_GLOBAL, &xa, &v), 0, "driver allocates a global PASID through d1");
	o = (struct sva_bind_opts){ .size = sizeof(o), .flags = SVA_BIND_PASID, .pasid = v, .drvdata = &x2, .ops = &ops };
	is_int(sva_bind(d2, mm, &o, &b2), 0, "d2 binds under it (SVA_BIND_PASID)");
	is_int(sva_bond_pasid(b2), v, "under that value");
	is_int(sva_dev_pasid_lookup(d1, v, &d), -ENOENT, "d1 (allocating device, no bond) while bound on d2 only: -ENOENT");
	ok(sva_dev_pasid_lookup(d2, v, &d) == 0 && d == &x2, "d2: its bond's drvdata");
	ok(sva_pasid_lookup(g, v, &d) == 0 && d == &xa, "the space's lookup: the allocation's drvdata");
	is_int(sva_dev_pasid_free(d1, v), -EBUSY, "the driver cannot free it while bound: -EBUSY");
	is_int(sva_unbind(b2), 0, "unbind");
	ok(sva_dev_pasid_lookup(d1, v, &d) == 0 && d == &xa, "d1 finds the allocation's drvdata again");
	is_int(sva_dev_pasid_lookup(d2, v, &d), -ENOENT, "d2 not any more");
	is_int(sva_dev_pasid_free(d1, v), 0, "free it now");

	/* Bound on both, then the allocating device's bond goes first. */
	is_int(sva_dev_pasid_alloc(d1, SVA_PASID_GLOBAL, &xa, &v), 0, "driver allocates another global PASID through d1");
	o = (struct sva_bind_opts){ .size = sizeof(o), .flags = SVA_BIND_PASID, .pasid = v, .drvdata = &x1, .ops = &ops };
	is_int(sva_bind(d1, mm, &o, &b1), 0, "d1 binds under it");
	o.drvdata = &x2;
	is_int(sva_bind(d2, mm, &o, &b2), 0, "d2 too");
	is_int(sva_unbind(b1), 0, "d1's bond goes");
	is_int(sva_dev_pasid_lookup(d1, v, &d), -ENOENT, "bound on d2 only: nothing of d1's, even though d1 allocated it");
	ok(sva_dev_pasid_lookup(d2, v, &d) == 0 && d == &x2, "d2: its bond's");
	is_int(sva_dev_pasid_free(d1, v), -EBUSY, "no free while d2's bond uses it");
	is_int(sva_unbind(b2), 0, "d2's bond goes");
	ok(sva_dev_pasid_lookup(d1, v, &d) == 0 && d == &xa, "the allocation's drvdata on d1 again");
	is_int(sva_dev_pasid_free(d2, v), 0, "freed through d2");

	/* A value allocated straight on the space belongs to no device. */
	is_int(sva_pasid_alloc(g, &xa, &v), 0, "sva_pasid_alloc on the global space");
	o = (struct sva_bind_opts){ .size = sizeof(o), .flags = SVA_BIND_PASID, .pasid = v, .drvdata = &x1, .ops = &ops };
	is_int(sva_bind(d1, mm, &o, &b1), 0, "d1 binds under it");
	is_int(sva_dev_pasid_lookup(d2, v, &d), -ENOENT, "bound on d1 only: d2 finds nothing");
	is_int(sva_pasid_free(g, v), -EBUSY, "sva_pasid_free while bound: -EBUSY");
	is_int(sva_unbind(b1), 0, "unbind");
	ok(sva_dev_pasid_lookup(d2, v, &d) == 0 && d == &xa, "unbound: every device finds the allocation again");
	ok(sva_pasid_lookup(g, v, &d) == 0 && d == &xa, "so does the space");
	is_int(sva_pasid_free(g, v), 0, "and it is freed");

	/* RID bond. */
	o = (struct sva_bind_opts){ .size = sizeof(o), .flags = SVA_BIND_RID, .drvdata = &x1, .ops = &ops };
	if (sva_bind(d3, mm, &o, &br) == 0) {
		is_int(sva_bond_pasid(br), SVA_PASID_RID, "a RID bond's PASID: SVA_PASID_RID");
		ok(sva_dev_bond_lookup(d3, SVA_PASID_RID, &found, &d) == 0 && found == br && d == &x1,
		   "bond_lookup(SVA_PASID_RID) finds the RID bond");
		is_int(sva_dev_pasid_lookup(d3, SVA_PASID_RID, &d), -ERANGE, "dev pasid lookup of SVA_PASID_RID: -ERANGE");
		sva_unbind(br);
	} else {
		skip(3, "RID bind refused on the mock");
	}
	sva_mm_free(mm);
	sva_dev_close(d3);
	sva_dev_close(d2);
	sva_dev_close(d1);
	sva_ctx_free(ctx);
}


/* The earliest bond goes by sva_dev_close() or sva_mm_free(): the space's
 * drvdata is handed to the next bond all the same. */
static void handover(void)
{
	struct sva_ctx *ctx = ctx_with(0, 0);
	struct sva_dev *d1 = mock(ctx, 0), *d2 = mock(ctx, 0), *d3 = mock(ctx, 0);
	struct sva_pasid_space *g = sva_ctx_global_pasids(ctx);
	struct sva_bind_opts o = { .size = sizeof(o), .policy = SVA_PASID_GLOBAL };
	struct sva_bond *b1, *b2, *b3;
	struct sva_pasid_stats st;
	struct sva_mm *mm;
	int x1, x2, x3;
	uint32_t p;
	void *d;

	if (sva_mm_new(ctx, NULL, &mm))
		ktest_bail("sva_mm_new");
	o.drvdata = &x1;
	sva_bind(d1, mm, &o, &b1);
	o.drvdata = &x2;
	sva_bind(d2, mm, &o, &b2);
	o.drvdata = &x3;
	sva_bind(d3, mm, &o, &b3);
	p = sva_bond_pasid(b1);
	ok(sva_bond_pasid(b2) == p && sva_bond_pasid(b3) == p, "three devices under global PASID %u", p);
	sva_dev_close(d1);
	ok(sva_pasid_lookup(g, p, &d) == 0 && d == &x2, "sva_dev_close of the earliest bond's device: d2's drvdata next");
	ok(sva_dev_bond_lookup(d3, p, NULL, &d) == 0 && d == &x3, "d3 still finds its bond");
	sva_mm_free(mm);
	st = stats_of(g);
	ok(st.allocated == 0 && st.quarantined == 1, "sva_mm_free unbinds the rest: the value is in quarantine (%llu, %llu)",
	   (unsigned long long)st.allocated, (unsigned long long)st.quarantined);
	is_int(sva_dev_bond_lookup(d2, p, NULL, NULL), -ENOENT, "no bond on d2");
	is_int(sva_pasid_barrier(g), 1, "it was released: a barrier makes it allocatable");
	sva_dev_close(d3);
	sva_dev_close(d2);
	sva_ctx_free(ctx);
}

/* ------------------------------------------ more device and bond claims */

struct exit_seen {
	struct sva_dev *dev;
	uint32_t pasid;
	int bond_found, pasid_found, space_found;
	void *space_data;
};

static struct sva_pasid_space *exit_space;

static void exit_look(struct sva_bond *bond, void *drvdata)
{
	struct exit_seen *e = drvdata;
	struct sva_bond *found = NULL;
	void *d = NULL;

	e->pasid = sva_bond_pasid(bond);
	e->bond_found = sva_dev_bond_lookup(e->dev, e->pasid, &found, &d) == 0 && found == bond && d == drvdata;
	d = NULL;
	e->pasid_found = sva_dev_pasid_lookup(e->dev, e->pasid, &d) == 0 && d == drvdata;
	e->space_found = sva_pasid_lookup(exit_space, e->pasid, &e->space_data);
}

static const struct sva_bond_ops exit_ops = { .size = sizeof(exit_ops), .mm_exit = exit_look };

static void more(void)
{
	struct sva_ctx_opts co = { .size = sizeof(co), .flags = SVA_CTX_FAULT_POLL, .pasid_grace_ns = 30000000 };
	struct sva_ctx *ctx = ctx_with(0, 0), *c2 = NULL;
	struct sva_dev *d1 = mock(ctx, 0), *d2 = mock(ctx, 0), *d4;
	struct sva_pasid_space *g = sva_ctx_global_pasids(ctx);
	struct exit_seen e1 = { .dev = d1 }, e2 = { .dev = d2 };
	struct sva_bind_opts o = { .size = sizeof(o), .policy = SVA_PASID_GLOBAL, .ops = &exit_ops };
	struct sva_bond *b1, *b2, *bd;
	struct sva_mm *mm;
	struct sva_pasid_stats st;
	uint32_t v, q, t;
	int x;
	void *d;

	/* Allocations belong to the device, not its address. */
	is_int(sva_dev_pasid_alloc(d2, SVA_PASID_GLOBAL, &x, &v), 0, "d2 allocates a global PASID");
	sva_dev_close(d2);
	d4 = mock(ctx, 0);
	is_int(sva_dev_pasid_lookup(d4, v, &d), -ENOENT, "a device opened after d2 closed does not find d2's allocation");
	ok(sva_pasid_lookup(g, v, &d) == 0 && d == &x, "the value stays allocated after d2 closed");
	is_int(sva_dev_pasid_free(d4, v), 0, "any device that covers it frees it");
	sva_dev_pasid_release(d4, v);
	sva_pasid_barrier(g);
	d2 = d4;
	e2.dev = d2;

	/* mm_exit: the bond is still found, its PASID still valid. */
	if (sva_mm_new(ctx, NULL, &mm))
		ktest_bail("sva_mm_new");
	exit_space = g;
	watch(ctx);
	o.drvdata = &e1;
	is_int(sva_bind(d1, mm, &o, &b1), 0, "d1 binds");
	o.drvdata = &e2;
	is_int(sva_bind(d2, mm, &o, &b2), 0, "d2 binds under the same global PASID");
	v = sva_bond_pasid(b1);
	memset(&lines, 0, sizeof(lines));
	sva_dev_bond_lookup(d1, 0, NULL, NULL);
	sva_dev_bond_lookup(d1, SVA_PASID_MAX + 1, NULL, NULL);
	sva_dev_bond_lookup(d1, v + 1, NULL, NULL);
	sva_dev_bond_lookup(d1, SVA_PASID_RID, NULL, NULL);
	is_int(total(), 0, "sva_dev_bond_lookup logs nothing, not even at debug level (%s)", lines.last);
	is_int(sva_dev_set_pasid_range(d1, 1, 255), 0, "set_pasid_range on an unused own space while a global bond exists");
	o.drvdata = NULL;
	o.ops = NULL;
	o.policy = SVA_PASID_DEVICE;
	o.flags = SVA_BIND_EXTRA_PASID;
	is_int(sva_bind(d1, mm, &o, &bd), 0, "d1 binds an extra bond under a DEVICE PASID");
	q = sva_bond_pasid(bd);
	ok(q >= 1 && q <= 255, "in d1's own space (%u)", q);
	is_int(sva_dev_pasid_free(d1, q), -EBUSY, "free of the bond's own-space PASID: -EBUSY");
	is_int(sva_dev_set_pasid_range(d1, 1, 255), -EBUSY, "set_pasid_range while a bond holds a value: -EBUSY");
	o = (struct sva_bind_opts){ .size = sizeof(o), .flags = SVA_BIND_PASID | SVA_BIND_EXTRA_PASID, .pasid = q };
	is_int(sva_bind(d2, mm, &o, &b1 /* not set on failure */), -ENOENT,
	       "d2 binds under d1's own number: not allocated in d2's own space, -ENOENT");
	sva_unbind(bd);
	is_int(sva_dev_set_pasid_range(d1, 1, 255), -EBUSY, "its value is in quarantine after the unbind: -EBUSY");
	sva_pasid_barrier(sva_dev_pasids(d1));
	is_int(sva_dev_set_pasid_range(d1, 1, 255), 0, "after a barrier: 0");

	is_int(sva_unbind(b1), 0, "unbind d1's bond");
	ok(e1.pasid == v && e1.bond_found, "in mm_exit, sva_bond_pasid works and sva_dev_bond_lookup finds the bond");
	ok(e1.pasid_found, "in mm_exit, sva_dev_pasid_lookup gives the bond's drvdata");
	is_int(sva_unbind(b2), 0, "unbind d2's bond");
	ok(e2.bond_found && e2.pasid_found, "d2's mm_exit finds its bond too");
	is_int(e2.space_found, 0, "in the last bond's mm_exit the value is still allocated in the space");
	sva_mm_free(mm);
	sva_ctx_set_log(ctx, NULL, NULL, SVA_LOG_DEFAULT);

	/* fork: a child may use the spaces, but not bind. */
	{
		pid_t pid;
		int status;

		fflush(stdout);
		pid = fork();
		if (pid == 0) {
			struct sva_mm *cm = NULL;
			struct sva_bond *cb = NULL;
			uint32_t cp;
			int r1 = sva_dev_pasid_alloc(d1, SVA_PASID_AUTO, NULL, &cp);
			int r2 = r1 ? r1 : sva_dev_pasid_free(d1, cp);
			int r3 = sva_pasid_alloc(g, NULL, &cp);
			int r4 = sva_mm_new(ctx, NULL, &cm) == 0 ? sva_bind(d1, cm, NULL, &cb) : -ECHILD;

			_exit(r1 == 0 && r2 == 0 && r3 == 0 && r4 == -ECHILD ? 0 : 10);
		}
		waitpid(pid, &status, 0);
		ok(WIFEXITED(status) && WEXITSTATUS(status) == 0,
		   "a child allocates and frees on the parent's spaces, and its sva_bind is -ECHILD (status %d)", status);
		st = stats_of(g);
		is_int(st.allocated, 0, "the child's allocations changed only its copy");
	}
	sva_dev_close(d2);
	sva_dev_close(d1);
	sva_ctx_free(ctx);

	/* The context's grace time applies to both spaces. */
	if (sva_ctx_new(&co, &c2))
		ktest_bail("sva_ctx_new grace 30 ms");
	d1 = mock(c2, 0);
	g = sva_ctx_global_pasids(c2);
	sva_dev_set_pasid_range(d1, 7, 7);
	sva_dev_pasid_alloc(d1, SVA_PASID_DEVICE, NULL, &t);
	sva_dev_pasid_free(d1, t);
	sva_dev_pasid_release(d1, t);
	is_int(sva_dev_pasid_alloc(d1, SVA_PASID_DEVICE, NULL, &t), -ENOSPC, "own space, grace 30 ms: in quarantine");
	sleep_ms(60);
	is_int(sva_dev_pasid_alloc(d1, SVA_PASID_DEVICE, NULL, &t), 0, "allocatable 60 ms later without a barrier");
	is_int(t, 7, "7 again");
	if (sva_mm_new(c2, NULL, &mm))
		ktest_bail("sva_mm_new");
	o = (struct sva_bind_opts){ .size = sizeof(o), .policy = SVA_PASID_GLOBAL };
	if (sva_bind(d1, mm, &o, &b1) == 0) {
		v = sva_bond_pasid(b1);
		sva_unbind(b1);
		st = stats_of(g);
		is_int(st.quarantined, 1, "a bind's global value is in quarantine after its last unbind");
		sleep_ms(60);
		st = stats_of(g);
		is_int(st.quarantined, 0, "and released: back after the context's grace time, no barrier");
		is_int(sva_bind(d1, mm, &o, &b1), 0, "rebind");
		ok(sva_bond_pasid(b1) != v, "the next bind allocates a new global PASID (%u, was %u)", sva_bond_pasid(b1), v);
		sva_unbind(b1);
	} else {
		skip(4, "bind failed");
	}
	sva_mm_free(mm);
	sva_dev_close(d1);
	sva_ctx_free(c2);
}

/* sva_dev_pasid_alloc(3), -ENOMEM: AUTO falls back from a full global space,
 * not from one out of memory. */
static void auto_enomem(void)
{
	struct sva_ctx *ctx = ctx_with(0, 0);
	struct sva_dev *d1 = mock(ctx, 0);
	uint32_t p, t = 4242;

	sva_dev_pasid_alloc(d1, SVA_PASID_DEVICE, NULL, &p);
	sva_dev_pasid_free(d1, p);
	sva_dev_pasid_release(d1, p);
	sva_pasid_barrier(sva_dev_pasids(d1));
	sva_test_fail_nth(1);
	is_int(sva_dev_pasid_alloc(d1, SVA_PASID_AUTO, NULL, &t), -ENOMEM,
	       "AUTO, the global table cannot grow (own space has a value): -ENOMEM, no fall-back");
	sva_test_fail_nth(0);
	is_int(t, 4242, "*pasid untouched");
	sva_dev_close(d1);
	sva_ctx_free(ctx);
}

int main(void)
{
	default_log(); /* first: the children must be the first users of the default log */
	space_new();
	alloc_free_release();
	lookup_stats();
	out_of_memory();
	threads();
	if (access("/dev/iommu", R_OK | W_OK) && !getenv("SVA_VM")) {
		skip(1, "no usable /dev/iommu: the device and bond parts run in the VM");
		return done_testing();
	}
	{
		struct sva_ctx *c = ktest_ctx();
		struct sva_dev *d = NULL;
		int ret = sva_dev_open_mock(c, NULL, &d);

		if (ret == -EOPNOTSUPP && !getenv("SVA_VM")) {
			skip(1, "no CONFIG_IOMMUFD_TEST");
			return done_testing();
		}
		sva_dev_close(d);
		sva_ctx_free(c);
	}
	ktest_map_at(BUF_VA, 16 * 4096, PROT_READ | PROT_WRITE);
	dev_spaces();
	small_ranges();
	shared();
	handover();
	more();
	auto_enomem();
	return done_testing();
}
