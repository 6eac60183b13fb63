/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * What the benchmarks of sva-bench share.  They measure libsva's internals
 * (the PASID space, the fault engine against a hand-written handler on the
 * same backend), so sva-bench links the library's objects, not just its API.
 */
#ifndef SVA_BENCH_H
#define SVA_BENCH_H

#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include <json.h>

#include "../number.h"
#include "../option_error.h"
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

/* The options each benchmark takes: --json and --rounds N (1 to max_rounds;
 * *rounds holds the default), and -h or --help.  0, or 2 after a usage error
 * in the tools' one wording (tools/option_error.h: the line, then the hint),
 * as sva-bench's own. */
static inline int bench_args(int argc, char **argv, const char *name, int max_rounds, int *json, int *rounds)
{
	static const struct option longopts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "rounds", required_argument, NULL, 'r' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	unsigned long long n = 0;
	int c, help = 0;

	/* sva-bench calls each benchmark in a child, after its own getopt_long()
	 * parsed its command line: start afresh. */
	optind = 0;
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":h", longopts, NULL)) != -1) {
		switch (c) {
		case 'j':
			*json = 1;
			break;
		case 'r':
			if (option_number(name, longopts, c, argv, 1, (unsigned long long)max_rounds, &n))
				return 2;
			*rounds = (int)n;
			break;
		case 'h':
			help = 1; /* printed once the command line is known good */
			break;
		default:
			option_error(name, longopts, c, argv);
			return usage_hint(name);
		}
	}
	if (optind < argc) {
		fprintf(stderr, "%s: unexpected argument '%s'\n", name, argv[optind]);
		return usage_hint(name);
	}
	if (help) {
		printf("usage: %s [--json] [--rounds N]\n", name);
		exit(bench_main_done(name, 0));
	}
	return 0;
}

/*
 * The --json report, built with json-c and printed as sva-bench prints its
 * document: plain, on one line (sva-bench reads it back as the benchmark's
 * member; run alone, it is the same form).  A number keeps the digits its
 * printf() format gave it (json_object_new_double_s()), so that every value
 * reads as it always did.  bench_json_oom: a value or member that could not
 * be made; bench_json_print() then fails the run instead of printing a
 * report with a hole in it.
 */
static int bench_json_oom;

/* v, or NULL noted as out of memory. */
static inline json_object *bench_json_made(json_object *v)
{
	if (!v)
		bench_json_oom = 1;
	return v;
}

/* o's member key: v, or null when v is NULL; v is o's after the call. */
static inline void bench_json_set(json_object *o, const char *key, json_object *v)
{
	if (!o || json_object_object_add(o, key, v)) {
		json_object_put(v);
		bench_json_oom = 1;
	}
}

/* s as a JSON string: json-c escapes quotes, backslashes and control
 * characters but passes any other byte through, so each byte that is not
 * well-formed UTF-8 becomes U+FFFD first (as sva-info's strings).  A reason
 * may hold anything strerror() or a path says, or be cut to its buffer
 * inside a character, and one stray byte makes the whole run's document
 * unreadable.  NULL out of memory. */
static inline json_object *bench_json_text(const char *s)
{
	const unsigned char *p = (const unsigned char *)s;
	char *t = malloc(3 * strlen(s) + 1), *d = t;
	json_object *o;

	if (!t)
		return bench_json_made(NULL);
	while (*p) {
		size_t k = *p < 0x80 ? 1 : utf8_seq_len(p);

		if (k) {
			memcpy(d, p, k);
			d += k;
			p += k;
		} else {
			memcpy(d, "\xef\xbf\xbd", 3);
			d += 3;
			p++;
		}
	}
	*d = '\0';
	o = json_object_new_string(t);
	free(t);
	return bench_json_made(o);
}

static inline void bench_json_str(json_object *o, const char *key, const char *s)
{
	bench_json_set(o, key, bench_json_text(s));
}

static inline void bench_json_int(json_object *o, const char *key, long long v)
{
	bench_json_set(o, key, bench_json_made(json_object_new_int64(v)));
}

/* v, whose digits are text (as printf() gave them: the text report's),
 * as o's member key.  Not a number or infinite (a median of nothing, a
 * ratio over 0) is null: printf()'s "nan" is no JSON. */
static inline void bench_json_digits(json_object *o, const char *key, double v, const char *text)
{
	bench_json_set(o, key, isfinite(v) ? bench_json_made(json_object_new_double_s(v, text)) : NULL);
}

/* v with prec decimals ("%.*f"). */
static inline void bench_json_num(json_object *o, const char *key, int prec, double v)
{
	char buf[400]; /* DBL_MAX in full */

	snprintf(buf, sizeof(buf), "%.*f", prec, v);
	bench_json_digits(o, key, v, buf);
}

/* v with 4 significant digits ("%.4g"). */
static inline void bench_json_num4g(json_object *o, const char *key, double v)
{
	char buf[64];

	snprintf(buf, sizeof(buf), "%.4g", v);
	bench_json_digits(o, key, v, buf);
}

/* A new object, o's member key; NULL (noted) out of memory. */
static inline json_object *bench_json_obj(json_object *o, const char *key)
{
	json_object *v = bench_json_made(json_object_new_object());

	if (!v)
		return NULL;
	bench_json_set(o, key, v);
	return bench_json_oom ? NULL : v;
}

/* A benchmark's whole report when it did not run: {"skipped": why} or
 * {"failed": why}. */
static inline json_object *bench_json_outcome(const char *key, const char *why)
{
	json_object *o = bench_json_made(json_object_new_object());

	bench_json_str(o, key, why);
	return o;
}

/* A figure's JSON "target" member: "<= X" or ">= X", or null for a figure
 * without one; one type in every benchmark, as sva-bench(1) documents it. */
static inline void bench_json_target(json_object *o, int has_target, int at_most, double target)
{
	char buf[64];

	snprintf(buf, sizeof(buf), "%s %.2f", at_most ? "<=" : ">=", target);
	bench_json_set(o, "target", has_target ? bench_json_text(buf) : NULL);
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

/* Print doc (and free it) on one line, as json-c prints it plain; out of
 * memory, bail out: a report that lacks a member is no report. */
static inline void bench_json_print(json_object *doc)
{
	const char *text = bench_json_oom || !doc ? NULL
						  : json_object_to_json_string_ext(doc, JSON_C_TO_STRING_PLAIN |
										      JSON_C_TO_STRING_NOSLASHESCAPE);

	if (!text) {
		json_object_put(doc);
		bench_bail("out of memory making the --json report");
	}
	puts(text);
	json_object_put(doc);
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
 * and "verdict", into the figure's object o: one form in fault, budget and
 * coherence. */
static inline void bench_json_ratio(json_object *o, const struct bench_summary *s, int has_target, int at_most,
				    double target)
{
	json_object *r = bench_json_obj(o, "ratio"), *halves = bench_json_made(json_object_new_array());

	bench_json_num(r, "median", 3, s->med);
	bench_json_num(r, "min", 3, s->min);
	bench_json_num(r, "max", 3, s->max);
	if (halves) {
		double h[2] = { s->first_half, s->second_half };
		char buf[64];

		for (int i = 0; i < 2; i++) {
			json_object *v = NULL;

			snprintf(buf, sizeof(buf), "%.3f", h[i]);
			if (isfinite(h[i]))
				v = bench_json_made(json_object_new_double_s(h[i], buf));
			if (json_object_array_add(halves, v)) {
				json_object_put(v);
				bench_json_oom = 1;
			}
		}
	}
	bench_json_set(r, "halves", halves);
	bench_json_target(o, has_target, at_most, target);
	bench_json_int(o, "rounds_met", s->met);
	bench_json_int(o, "rounds", s->n);
	bench_json_str(o, "verdict", s->verdict);
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
