/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * What the benchmarks of sva-bench share.  They measure libsva's internals
 * (the PASID space, the fault engine against a hand-written handler on the
 * same backend), so sva-bench links the library's objects, not just its API.
 */
#ifndef SVA_BENCH_H
#define SVA_BENCH_H

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "../number.h"
#include "../utf8.h"
#include "internal.h"
#include "kabi_selftest.h"

/* The benchmarks; argv may hold --json.  0, or 1 if one could not run. */
int bench_pasid(int argc, char **argv);
int bench_fault(int argc, char **argv);
int bench_coherence(int argc, char **argv);
int bench_budget(int argc, char **argv);

/* The end of a benchmark run alone (its main): an exit status of 0 must mean
 * the results reached standard output (a full disk is seen only at the flush). */
static inline int bench_main_done(const char *name, int rc)
{
	if (fflush(stdout) == 0 && !ferror(stdout))
		return rc;
	fprintf(stderr, "%s: writing the results failed: %s\n", name, strerror(errno));
	return 1;
}

/* -h or --help: the usage on standard output, and exit.  Only a benchmark run
 * alone sees it (sva-bench passes --json and --rounds). */
static inline void bench_help(const char *arg, const char *name)
{
	if (strcmp(arg, "-h") && strcmp(arg, "--help"))
		return;
	printf("usage: %s [--json] [--rounds N]\n", name);
	exit(bench_main_done(name, 0));
}

/* The options bench-fault, bench-coherence and bench-budget take: --json and
 * --rounds N (1 to max_rounds; *rounds holds the default), and --help.  0, or
 * 2 after a usage line. */
static inline int bench_args(int argc, char **argv, const char *name, int max_rounds, int *json, int *rounds)
{
	for (int i = 1; i < argc; i++) {
		bench_help(argv[i], name);
		if (strcmp(argv[i], "--json") == 0) {
			*json = 1;
		} else if (strcmp(argv[i], "--rounds") == 0 && i + 1 < argc) {
			unsigned long long n;

			/* As sva-bench's own --rounds: digits only ("3x" was 3). */
			if (!tool_number(argv[++i], 10, (unsigned long long)max_rounds, &n) || n < 1) {
				fprintf(stderr, "%s: --rounds must be 1 to %d\n", name, max_rounds);
				return 2;
			}
			*rounds = (int)n;
		} else {
			fprintf(stderr, "usage: %s [--json] [--rounds N]\n", name);
			return 2;
		}
	}
	return 0;
}

/* s as a JSON string, quotes included: quotes, backslashes and control
 * characters escaped, and each byte that is not UTF-8 U+FFFD (as sva-info's
 * strings).  A reason may hold anything strerror() or a path says, or be cut
 * to its buffer inside a character, and one unescaped quote or stray byte
 * makes the whole run's document unreadable. */
static inline void bench_json_string(const char *s)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t n;

	putchar('"');
	for (; *p; p += n) {
		n = 1;
		if (*p == '"' || *p == '\\')
			printf("\\%c", *p);
		else if (*p < 0x20)
			printf("\\u%04x", *p);
		else if (*p < 0x80)
			putchar(*p);
		else if ((n = utf8_seq_len(p)) != 0)
			fwrite(p, 1, n, stdout);
		else {
			fputs("\\ufffd", stdout);
			n = 1;
		}
	}
	putchar('"');
}

/* A benchmark's whole member when it did not run: {"skipped": why} or
 * {"failed": why}, why escaped. */
static inline void bench_json_outcome(const char *key, const char *why)
{
	printf("{\"%s\":", key);
	bench_json_string(why);
	putchar('}');
}

/* A figure's JSON "target" member: "<= X" or ">= X", or null for a figure
 * without one; one type in every benchmark, as sva-bench(1) documents it. */
static inline void bench_json_target(int has_target, int at_most, double target)
{
	if (has_target)
		printf("\"target\":\"%s %.2f\"", at_most ? "<=" : ">=", target);
	else
		printf("\"target\":null");
}

/* What a benchmark set up behind libsva's back (raw attaches, which libsva's
 * exit teardown does not know): undone before a bail-out exits, or the
 * iommufd selftest warns in the kernel log as the process ends.  One per
 * file (a static in a header): a file that makes raw attaches sets its own,
 * and only its own bench_bail() calls run it (bench-fault.c's). */
static void (*bench_on_bail)(void);

/* Stop: something the benchmark needs is missing or broke (TAP's word for it,
 * which make bench-vm's log shows as it is). */
__attribute__((format(printf, 1, 2), noreturn)) static inline void bench_bail(const char *fmt, ...)
{
	va_list ap;

	if (bench_on_bail) {
		void (*undo)(void) = bench_on_bail;

		bench_on_bail = NULL; /* once, even if undo() bails itself */
		undo();
	}
	printf("Bail out! ");
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	exit(1);
}

/* An IOMMU_TEST_CMD on the context's iommufd; returns 0 or -errno. */
static inline int bench_cmd(struct sva_ctx *ctx, struct kabi_iommu_test_cmd *cmd)
{
	cmd->size = sizeof(*cmd);
	return ioctl(sva_ctx_fd(ctx), KABI_IOMMU_TEST_CMD, cmd) ? -errno : 0;
}

/* CLOCK_MONOTONIC in nanoseconds. */
static inline uint64_t bench_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static inline int bench_cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/* The median of n samples (sorts them). */
static inline double bench_median(double *v, size_t n)
{
	qsort(v, n, sizeof(*v), bench_cmp_double);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/*
 * What fault, budget and coherence say of a figure measured in rounds, each
 * round giving its own ratio: the median, minimum and maximum ratio, the
 * medians of the first and the second half of the rounds (two shorter runs,
 * back to back), how many rounds met the target, and the verdict (as
 * sva-bench(1) gives it): "met" when the median meets the target, at least
 * 3/4 of the rounds do, and so do both halves' medians; "missed" when none of
 * that does (at most 1/4 of the rounds meeting it); "unstable" otherwise: the
 * rounds straddle the target, and another run may well say the opposite.
 * A single round is always "unstable": its halves are the round itself.
 * "no target" for a figure without one.
 */
#define BENCH_MAX_ROUNDS 1000

struct bench_summary {
	double med, min, max, first_half, second_half;
	int met, n;
	const char *verdict;
};

static inline int bench_meets(int at_most, double target, double r)
{
	return at_most ? r <= target : r >= target;
}

/* ratio: n (1 to BENCH_MAX_ROUNDS) per-round ratios, in round order, left as
 * they are; the ratio must be <= target (at_most) or >= target. */
static inline struct bench_summary bench_summarize(const double *ratio, int n, int has_target, int at_most,
						   double target)
{
	double v[BENCH_MAX_ROUNDS];
	struct bench_summary s = { .n = n };
	int half = n / 2;

	memcpy(v, ratio, sizeof(double) * (size_t)n);
	s.med = bench_median(v, (size_t)n);
	s.min = v[0];
	s.max = v[n - 1];
	if (n >= 2) {
		memcpy(v, ratio, sizeof(double) * (size_t)half);
		s.first_half = bench_median(v, (size_t)half);
		memcpy(v, ratio + half, sizeof(double) * (size_t)(n - half));
		s.second_half = bench_median(v, (size_t)(n - half));
	} else {
		s.first_half = s.second_half = s.med;
	}
	if (!has_target) {
		s.verdict = "no target";
		return s;
	}
	for (int i = 0; i < n; i++)
		s.met += bench_meets(at_most, target, ratio[i]);
	/* One round has no halves to agree: nothing says another run would
	 * decide the same. */
	if (n < 2)
		s.verdict = "unstable";
	else if (bench_meets(at_most, target, s.med) && 4 * s.met >= 3 * n && bench_meets(at_most, target, s.first_half) &&
	    bench_meets(at_most, target, s.second_half))
		s.verdict = "met";
	else if (!bench_meets(at_most, target, s.med) && 4 * s.met <= n &&
		 !bench_meets(at_most, target, s.first_half) && !bench_meets(at_most, target, s.second_half))
		s.verdict = "missed";
	else
		s.verdict = "unstable";
	return s;
}

/* A figure's JSON "ratio" member, then its "target", "rounds_met", "rounds"
 * and "verdict": one form in fault, budget and coherence. */
static inline void bench_json_ratio(const struct bench_summary *s, int has_target, int at_most, double target)
{
	printf("\"ratio\":{\"median\":%.3f,\"min\":%.3f,\"max\":%.3f,\"halves\":[%.3f,%.3f]},", s->med, s->min,
	       s->max, s->first_half, s->second_half);
	bench_json_target(has_target, at_most, target);
	printf(",\"rounds_met\":%d,\"rounds\":%d,\"verdict\":\"%s\"", s->met, s->n, s->verdict);
}

/* Map `len` bytes at exactly `addr` (low, device-reachable VAs), or bail out. */
static inline void *bench_map_at(uint64_t addr, size_t len, int prot)
{
	void *p = mmap((void *)(uintptr_t)addr, len, prot, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);

	if (p == MAP_FAILED || p != (void *)(uintptr_t)addr)
		bench_bail("mmap at 0x%llx: %s", (unsigned long long)addr, strerror(errno));
	return p;
}

#endif /* SVA_BENCH_H */
