/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * sva-bench: every libsva benchmark in one tool, each against a baseline
 * measured in the same run, with the ratio.
 *
 *   pasid   the PASID allocator and lookup against a mutex-protected bitmap
 *           with the same quarantine rule (needs no IOMMU)
 *   fault   the fault engine against the minimal handler (trigger, read one
 *           record, map one page, answer); needs /dev/iommu with the iommufd
 *           selftest mock (CONFIG_IOMMUFD_TEST): the test VM, `make bench-vm`
 *   coherence  munmap/madvise of tracked memory against untracked memory, and
 *           first touch of registered memory; needs /dev/iommu and userfaultfd
 *   budget  a device walking 1x, 2x and 4x an address space's pin budget
 *           against one without a budget; needs the selftest mock
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <json.h>

#include "bench.h"
#include "../option_error.h"
#include "../stdout_done.h"

/*
 * Whether a benchmark that needs /dev/iommu (and, with mock, the selftest
 * mock) can run here: 0 if it can; 1 if it is to be skipped, a /dev/iommu
 * that is missing or that this process may not open (or a kernel without the
 * mock), the reason in why; -1 if something else failed (out of memory, say),
 * the error in why: that is no reason to skip, and sva-bench(1) reports it as
 * a failure.
 */
static int iommu_check(int mock, char *why, size_t n)
{
	struct sva_ctx_opts o = { .size = sizeof(o), .log_level = SVA_LOG_OFF };
	struct sva_ctx *ctx;
	struct sva_dev *dev;
	int fd = open("/dev/iommu", O_RDWR | O_CLOEXEC), ret;

	if (fd < 0) {
		int e = errno;

		if (e == ENOENT || e == ENODEV || e == ENXIO || e == EACCES || e == EPERM) {
			snprintf(why, n, "no usable /dev/iommu here: %s (run it in the test VM: make bench-vm)",
				 strerror(e));
			return 1;
		}
		snprintf(why, n, "opening /dev/iommu: %s", strerror(e));
		return -1;
	}
	close(fd);
	ret = sva_ctx_new(&o, &ctx);
	if (ret) {
		snprintf(why, n, "sva_ctx_new: %s", strerror(-ret));
		return -1;
	}
	ret = mock ? sva_dev_open_mock(ctx, NULL, &dev) : 0;
	if (!ret && mock)
		sva_dev_close(dev);
	sva_ctx_free(ctx);
	if (ret == -EOPNOTSUPP || ret == -ENOTTY) {
		snprintf(why, n, "the kernel has no iommufd selftest mock, CONFIG_IOMMUFD_TEST (run it in the test VM: "
				 "make bench-vm)");
		return 1;
	}
	if (ret) {
		snprintf(why, n, "sva_dev_open_mock: %s", strerror(-ret));
		return -1;
	}
	return 0;
}

static void usage(FILE *f)
{
	fprintf(f, "usage: sva-bench [-j|--json] [--rounds N] [pasid|fault|coherence|budget|all]\n"
		   "       sva-bench --compare RUN1.json RUN2.json\n"
		   "       sva-bench -h | --help | -V | --version\n"
		   "  -j, --json     one JSON object with every figure\n"
		   "      --compare  whether two --json runs agree on every target's verdict\n"
		   "      --rounds N rounds per figure for pasid, fault and budget (each round a ratio; default 7, 15, 9)\n"
		   "  -h, --help     print this help and exit\n"
		   "  -V, --version  print the version and exit\n"
		   "  pasid          PASID allocation and lookup vs a mutex+bitmap allocator (no IOMMU needed)\n"
		   "  fault          the fault engine vs a minimal fault handler (needs CONFIG_IOMMUFD_TEST)\n"
		   "  coherence      munmap/madvise/first touch of tracked vs untracked memory (needs /dev/iommu and\n"
		   "                 userfaultfd)\n"
		   "  budget         a device walking 1x-4x the pin budget vs no budget (needs CONFIG_IOMMUFD_TEST)\n"
		   "  all            every one (the default)\n");
}

static const struct bench {
	const char *name;
	int (*run)(int argc, char **argv);
	int needs;  /* 0: nothing, 1: /dev/iommu, 2: and the selftest mock */
	int rounds; /* takes --rounds */
} benches[] = {
	{ "pasid", bench_pasid, 0, 1 },
	{ "fault", bench_fault, 2, 1 },
	{ "coherence", bench_coherence, 1, 0 },
	{ "budget", bench_budget, 2, 1 },
};

/*
 * The --json document: built with json-c, each benchmark's member as it ends,
 * and printed once at the end, plain, on one line (sva-bench(1), --json).
 * A benchmark's own output is read back as its member, so that however it
 * lays itself out (pasid's was pretty-printed, a skipped coherence's ended
 * with its own newline), the document is one form.  json_oom: a member that
 * could not be made; the run then prints no document and fails.
 */
static bool json_oom;

/* why as a JSON string, each byte that is not UTF-8 U+FFFD (bench.h). */
static json_object *json_reason(const char *why)
{
	return bench_json_text(why);
}

/* doc's member name: val (NULL: null); val is doc's after the call. */
static void json_member(json_object *doc, const char *name, json_object *val)
{
	if (json_object_object_add(doc, name, val)) {
		json_object_put(val);
		json_oom = true;
	}
}

/* {"skipped": why} or {"failed": why}. */
static json_object *json_outcome(const char *key, const char *why)
{
	json_object *o = json_object_new_object(), *s = json_reason(why);

	if (!o || !s || json_object_object_add(o, key, s)) {
		json_object_put(s);
		json_object_put(o);
		json_oom = true;
		return NULL;
	}
	return o;
}

/* A benchmark that could not run for a reason other than a missing
 * /dev/iommu: its member in doc (JSON) or a line on standard output, and the
 * reason on standard error (sva-bench(1), EXIT STATUS). */
static void report_failed(const char *name, json_object *doc, const char *why)
{
	if (doc) {
		json_member(doc, name, json_outcome("failed", why));
	} else {
		/* Escaped as --compare's keys: the reason's words are strerror()'s
		 * or a child's, and a newline would split the line. */
		printf("%s benchmark failed: ", name);
		utf8_put_text(why);
		putchar('\n');
	}
	fflush(stdout);
	fprintf(stderr, "sva-bench: %s benchmark failed: %s\n", name, why);
}

/* A benchmark's --json output, all of len, as one JSON value; NULL with why
 * if it is not (a benchmark that printed something else ran wrong). */
static json_object *json_member_from(const char *out, size_t len, char *why, size_t n)
{
	json_tokener *tok = json_tokener_new();
	json_object *o = tok ? json_tokener_parse_ex(tok, out, (int)len) : NULL;

	if (!tok)
		snprintf(why, n, "out of memory");
	else if (!o && json_tokener_get_error(tok) == json_tokener_success)
		snprintf(why, n, "its --json output is null, not a report"); /* json-c's NULL for `null` */
	else if (!o)
		snprintf(why, n, "its --json output is not JSON: %s",
			 json_tokener_get_error(tok) == json_tokener_continue
				 ? "empty, or cut short"
				 : json_tokener_error_desc(json_tokener_get_error(tok)));
	else if (json_tokener_get_parse_end(tok) + strspn(out + json_tokener_get_parse_end(tok), " \t\r\n") != len) {
		snprintf(why, n, "its --json output has more than one JSON value");
		json_object_put(o);
		o = NULL;
	}
	json_tokener_free(tok);
	return o;
}

/*
 * One benchmark in a child whose standard output is kept: a benchmark that
 * fails stops in the middle of its report (bench_bail() prints "Bail out!"
 * and exits 1), which would cut a JSON document short and, in text, end the
 * whole run.  What it printed before is passed on (not in JSON), then its
 * JSON member is {"failed":"why"}, or a line says it failed, the reason goes
 * to standard error too, and the others still run.  The child ends with 0 or
 * 3 (ran: figures met or not) only when the run returned.
 */
#define RAN_WITH_RC 3
static int run_apart(const struct bench *b, json_object *doc, int argc, char **argv)
{
	size_t len = 0, cap = 4096;
	char *out = malloc(cap), why[512];
	const char *bail;
	int pfd[2], st = 0;
	bool cut = false; /* no memory for the rest of its output */
	pid_t pid;

	fflush(stdout);
	if (!out || pipe(pfd)) {
		snprintf(why, sizeof(why), "cannot run it apart: %s", strerror(errno));
		report_failed(b->name, doc, why);
		free(out);
		return 1;
	}
	pid = fork();
	if (pid == 0) {
		int rc;

		close(pfd[0]);
		if (dup2(pfd[1], STDOUT_FILENO) < 0)
			_exit(1);
		close(pfd[1]);
		rc = b->run(argc, argv);
		_exit(fflush(stdout) ? 1 : rc ? RAN_WITH_RC : 0);
	}
	close(pfd[1]);
	for (;;) {
		ssize_t n;

		if (len + 1 == cap) {
			char *bigger = realloc(out, cap * 2);

			if (!bigger) {
				cut = true;
				break;
			}
			out = bigger;
			cap *= 2;
		}
		n = read(pfd[0], out + len, cap - len - 1);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		len += (size_t)n;
	}
	out[len] = '\0';
	close(pfd[0]);
	while (pid > 0 && waitpid(pid, &st, 0) < 0 && errno == EINTR)
		;
	/* A report cut short is no report, however the child ended: in JSON
	 * it would not parse, and in text the lines that are missing would go
	 * unnoticed (sva-bench(1), EXIT STATUS). */
	if (cut) {
		if (!doc) {
			fwrite(out, 1, len, stdout);
			if (len && out[len - 1] != '\n')
				putchar('\n');
		}
		report_failed(b->name, doc, "out of memory keeping its output: cut short");
		free(out);
		return 1;
	}
	if (pid > 0 && WIFEXITED(st) && (WEXITSTATUS(st) == 0 || WEXITSTATUS(st) == RAN_WITH_RC)) {
		json_object *member = doc ? json_member_from(out, len, why, sizeof(why)) : NULL;

		if (doc && !member) {
			report_failed(b->name, doc, why);
			free(out);
			return 1;
		}
		if (doc)
			json_member(doc, b->name, member);
		else
			fputs(out, stdout);
		free(out);
		return WEXITSTATUS(st) ? 1 : 0;
	}
	bail = pid > 0 ? strstr(out, "Bail out! ") : NULL;
	if (!doc)
		fwrite(out, 1, bail ? (size_t)(bail - out) : len, stdout);
	if (pid < 0) {
		snprintf(why, sizeof(why), "fork: %s", strerror(errno));
	} else if (bail) {
		bail += strlen("Bail out! ");
		snprintf(why, sizeof(why), "%.*s", (int)strcspn(bail, "\n"), bail);
	} else if (WIFSIGNALED(st)) {
		snprintf(why, sizeof(why), "killed by signal %d", WTERMSIG(st));
	} else {
		snprintf(why, sizeof(why), "exited with status %d (its reason is on standard error)", WEXITSTATUS(st));
	}
	if (!doc && len && out[len - 1] != '\n' && !bail)
		putchar('\n');
	report_failed(b->name, doc, why);
	free(out);
	return 1;
}

/*
 * --compare: two runs' verdicts, target by target (issue 14: two runs back to
 * back must agree on met or missed for every target, and the output says
 * where they do not).  A target is a figure with a verdict other than "no
 * target", named by its path in the document (fault.random_single_page,
 * budget.figures.sequential_4x).
 */
struct target {
	char *path;
	const char *verdict;
	double median; /* the ratio's, or -1 (a count: no ratio) */
};

/* Every target of a run, however many and however deep: a document cut to a
 * fixed count or path length would compare some targets and say nothing of the
 * rest, or take two long paths for one. */
struct run {
	json_object *doc;
	struct target *t;
	int n, cap;
	bool oom;
};

static void collect(struct run *r, json_object *o, const char *prefix)
{
	json_object_object_foreach(o, key, val)
	{
		json_object *v, *ratio, *med;
		size_t len = strlen(prefix) + 1 + strlen(key) + 1;
		char *path;

		if (r->oom || !json_object_is_type(val, json_type_object))
			continue;
		path = malloc(len);
		if (!path) {
			r->oom = true;
			continue;
		}
		snprintf(path, len, "%s%s%s", prefix, *prefix ? "." : "", key);
		if (!json_object_object_get_ex(val, "verdict", &v) || !json_object_is_type(v, json_type_string)) {
			collect(r, val, path);
			free(path);
			continue;
		}
		if (!strcmp(json_object_get_string(v), "no target")) {
			free(path);
			continue;
		}
		if (r->n == r->cap) {
			int cap = r->cap ? 2 * r->cap : 32;
			struct target *t = r->cap < INT_MAX / 2 ? realloc(r->t, (size_t)cap * sizeof(*t)) : NULL;

			if (!t) {
				free(path);
				r->oom = true;
				continue;
			}
			r->t = t;
			r->cap = cap;
		}
		r->t[r->n].path = path;
		r->t[r->n].verdict = json_object_get_string(v);
		r->t[r->n].median = json_object_object_get_ex(val, "ratio", &ratio) &&
					    json_object_object_get_ex(ratio, "median", &med)
				    ? json_object_get_double(med)
				    : -1;
		r->n++;
	}
}

static void run_free(struct run *r)
{
	for (int i = 0; i < r->n; i++)
		free(r->t[i].path);
	free(r->t);
	json_object_put(r->doc);
	*r = (struct run){ 0 };
}

/*
 * Which target of run 2 each of run 1's is (match[i], an index or -1: the
 * first of run 2 by that path, as a search in document order would find) and
 * whether each of run 2's has one in run 1 (seen[j]): both runs' targets
 * sorted by path, then merged, so that two runs of n and m targets cost
 * (n + m) log(n + m), not n * m path comparisons.  0, or -1 out of memory.
 */
static const struct run *sort_run;

static int by_path(const void *a, const void *b)
{
	int x = *(const int *)a, y = *(const int *)b, c = strcmp(sort_run->t[x].path, sort_run->t[y].path);

	/* Equal paths (a key "a.b" and a member b of a) in document order. */
	return c ? c : (x > y) - (x < y);
}

static int *sorted_by_path(const struct run *r)
{
	int *ix = malloc((size_t)(r->n ? r->n : 1) * sizeof(*ix));

	if (!ix)
		return NULL;
	for (int i = 0; i < r->n; i++)
		ix[i] = i;
	sort_run = r;
	qsort(ix, (size_t)r->n, sizeof(*ix), by_path);
	return ix;
}

static int match_runs(const struct run *r1, const struct run *r2, int *match, bool *seen)
{
	int *s1 = sorted_by_path(r1), *s2 = sorted_by_path(r2), i = 0, j = 0;

	if (!s1 || !s2) {
		free(s1);
		free(s2);
		return -1;
	}
	for (int k = 0; k < r1->n; k++)
		match[k] = -1;
	for (int k = 0; k < r2->n; k++)
		seen[k] = false;
	while (i < r1->n && j < r2->n) {
		int c = strcmp(r1->t[s1[i]].path, r2->t[s2[j]].path);

		if (c < 0) {
			i++;
		} else if (c > 0) {
			j++;
		} else {
			/* One path: every target of run 1 by it is the first of
			 * run 2's (the lowest index, sorted first), and each of
			 * run 2's has its counterpart. */
			const char *path = r1->t[s1[i]].path;
			int first = s2[j];

			for (; i < r1->n && !strcmp(r1->t[s1[i]].path, path); i++)
				match[s1[i]] = first;
			for (; j < r2->n && !strcmp(r2->t[s2[j]].path, path); j++)
				seen[s2[j]] = true;
		}
	}
	free(s1);
	free(s2);
	return 0;
}

/* One target's line; 1 if the two runs agree on met or missed. */
static int compare_one(const struct target *a, const struct target *b)
{
	const struct target *t = a ? a : b;
	int stable = a && b && !strcmp(a->verdict, b->verdict) && (!strcmp(a->verdict, "met") || !strcmp(a->verdict, "missed"));

	/* The path's keys and the verdicts are the documents' own strings:
	 * escaped, so that a key holding a newline cannot split its line. */
	fputs("target ", stdout);
	utf8_put_text(t->path);
	fputs(": ", stdout);
	if (!a || !b) {
		utf8_put_text(t->verdict);
		printf(" in run %d, absent from run %d: not a stable verdict\n", a ? 1 : 2, a ? 2 : 1);
	} else if (!strcmp(a->verdict, b->verdict)) {
		utf8_put_text(a->verdict);
		printf(" in both runs%s", stable ? "" : ": not a stable verdict");
	} else {
		utf8_put_text(a->verdict);
		fputs(" in run 1, ", stdout);
		utf8_put_text(b->verdict);
		fputs(" in run 2: not a stable verdict", stdout);
	}
	if (a && b && a->median >= 0 && b->median >= 0)
		printf(" (ratio %.3f, %.3f)", a->median, b->median);
	if (a && b)
		printf("\n");
	return stable;
}

/* NULL when doc has the shape of sva-bench --json's output: an object whose
 * four members, one per benchmark, are each null or an object; else why not,
 * in sva-bench(1)'s words first. */
static const char *not_a_run(json_object *doc)
{
	static const char *const members[] = { "pasid", "fault", "coherence", "budget" };
	json_object *v;

	if (!json_object_is_type(doc, json_type_object))
		return "JSON without the run's four members: not an object";
	for (size_t i = 0; i < sizeof(members) / sizeof(members[0]); i++)
		if (!json_object_object_get_ex(doc, members[i], &v) ||
		    !(json_object_is_type(v, json_type_null) || json_object_is_type(v, json_type_object)))
			return "JSON without the run's four members: pasid, fault, coherence and budget, each null or "
			       "an object";
	return NULL;
}

/* One JSON document, the whole file (json_object_from_file() stops at the
 * end of the first value and takes whatever follows it); NULL with *why
 * (why[] holds it), which starts with one of sva-bench(1)'s reasons
 * (unreadable, not JSON, ...) and then, after a colon, the detail: json-c's
 * own words alone would not say which. */
static struct json_object *read_doc(const char *file, const char **why, char *buf, size_t buflen)
{
	struct json_tokener *tok = json_tokener_new();
	struct json_object *doc = NULL;
	char *text = NULL;
	size_t len = 0;
	FILE *f = fopen(file, "r");

	*why = NULL;
	if (!f) {
		snprintf(buf, buflen, "unreadable: %s", strerror(errno));
		*why = buf;
	} else {
		FILE *m = open_memstream(&text, &len);
		int c;

		while (m && (c = getc(f)) != EOF)
			putc(c, m);
		if (ferror(f)) {
			snprintf(buf, buflen, "unreadable: %s", strerror(errno));
			*why = buf;
		}
		if (m && fclose(m) && !*why)
			*why = "out of memory";
		if (!m && !*why)
			*why = "out of memory";
		fclose(f);
	}
	if (!*why && !tok)
		*why = "out of memory";
	if (!*why) {
		doc = json_tokener_parse_ex(tok, text, (int)len);
		if (!doc && json_tokener_get_error(tok) == json_tokener_continue) {
			*why = "not JSON: empty, or the document ends early";
		} else if (!doc) {
			snprintf(buf, buflen, "not JSON: %s", json_tokener_error_desc(json_tokener_get_error(tok)));
			*why = buf;
		} else if (json_tokener_get_parse_end(tok) + strspn(text + json_tokener_get_parse_end(tok), " \t\r\n") !=
			   len) {
			/* By length, not up to a NUL: a NUL and whatever follows
			 * it is text after the document too. */
			*why = "text other than white space after the document";
		} else {
			*why = not_a_run(doc);
		}
	}
	if (*why) {
		json_object_put(doc);
		doc = NULL;
	}
	json_tokener_free(tok);
	free(text);
	return doc;
}

static int compare(const char *file1, const char *file2)
{
	static struct run runs[2];
	const char *files[2] = { file1, file2 };
	int total = 0, stable = 0, *match;
	bool *seen;

	for (int k = 0; k < 2; k++) {
		const char *why;
		char buf[256];

		runs[k].doc = read_doc(files[k], &why, buf, sizeof(buf));
		if (!runs[k].doc) {
			fprintf(stderr, "sva-bench: %s: not an sva-bench --json document (%.*s)\n", files[k],
				(int)strcspn(why, "\n"), why);
			if (k)
				run_free(&runs[0]);
			return 1;
		}
		collect(&runs[k], runs[k].doc, "");
		if (runs[k].oom) {
			fprintf(stderr, "sva-bench: %s: out of memory\n", files[k]);
			run_free(&runs[0]);
			run_free(&runs[1]);
			return 1;
		}
	}
	match = malloc((size_t)(runs[0].n ? runs[0].n : 1) * sizeof(*match));
	seen = malloc((size_t)(runs[1].n ? runs[1].n : 1) * sizeof(*seen));
	if (!match || !seen || match_runs(&runs[0], &runs[1], match, seen)) {
		fprintf(stderr, "sva-bench: out of memory\n");
		free(match);
		free(seen);
		run_free(&runs[0]);
		run_free(&runs[1]);
		return 1;
	}
	/* Run 1's targets in its document's order, then those only run 2 has,
	 * in its order (sva-bench(1), --compare). */
	printf("sva-bench: run 1 (%s) against run 2 (%s), target by target\n", file1, file2);
	for (int i = 0; i < runs[0].n; i++, total++)
		stable += compare_one(&runs[0].t[i], match[i] < 0 ? NULL : &runs[1].t[match[i]]);
	for (int i = 0; i < runs[1].n; i++)
		if (!seen[i]) {
			stable += compare_one(NULL, &runs[1].t[i]);
			total++;
		}
	free(match);
	free(seen);
	if (!total)
		printf("no target in either run: nothing to compare\n");
	else if (stable == total)
		printf("%d target%s: the two runs agree on every one\n", total, total == 1 ? "" : "s");
	else
		printf("%d target%s: the two runs agree on %d, not on %d\n", total, total == 1 ? "" : "s", stable,
		       total - stable);
	run_free(&runs[0]);
	run_free(&runs[1]);
	return stable == total && total ? 0 : 1;
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "rounds", required_argument, NULL, 'r' },
		{ "compare", no_argument, NULL, 'c' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	char json_arg[] = "--json", rounds_arg[] = "--rounds", *sub_argv[5] = { argv[0] };
	const char *only = NULL, *rounds = NULL;
	json_object *doc = NULL;
	int json = 0, c, rc = 0, first = 1, sub_argc = 1, asked = 0, cmp = 0;

	opterr = 0; /* option_error() says what is wrong, as the other tools do */
	while ((c = getopt_long(argc, argv, ":jhV", longopts, NULL)) != -1) {
		switch (c) {
		case 'j':
			json = 1;
			break;
		case 'r': {
			unsigned long long n = 0; /* gcc cannot see option_number() set it */

			if (option_number("sva-bench", longopts, c, argv, 1, 1000, &n))
				return 2;
			rounds = optarg;
			break;
		}
		case 'c':
			cmp = 1;
			break;
		case 'h':
		case 'V':
			asked = c; /* printed once the command line is known good */
			break;
		default:
			option_error("sva-bench", longopts, c, argv);
			return usage_hint("sva-bench");
		}
	}
	if (cmp && (argc - optind != 2 || json || rounds)) {
		fprintf(stderr, "sva-bench: --compare wants two files, sva-bench --json output, and no other option\n");
		return usage_hint("sva-bench");
	}
	if (cmp && !asked) {
		rc = compare(argv[optind], argv[optind + 1]);
		return stdout_done("sva-bench", "the comparison") | rc;
	}
	if (!cmp && optind < argc) {
		int known = !strcmp(argv[optind], "all");

		for (size_t i = 0; i < sizeof(benches) / sizeof(benches[0]); i++)
			known |= !strcmp(argv[optind], benches[i].name);
		if (optind + 1 < argc || !known) {
			if (!known)
				fprintf(stderr, "sva-bench: unknown benchmark '%s'\n", argv[optind]);
			else
				fprintf(stderr, "sva-bench: unexpected argument '%s' (one benchmark, or all)\n",
					argv[optind + 1]);
			return usage_hint("sva-bench");
		}
		if (strcmp(argv[optind], "all"))
			only = argv[optind];
	}
	if (asked) {
		if (asked == 'h')
			usage(stdout);
		else
			printf("sva-bench (libsva) %s\n", PACKAGE_VERSION);
		return stdout_done("sva-bench", "to standard output");
	}
	if (json)
		sub_argv[sub_argc++] = json_arg;
	/* The benchmarks that measure in rounds take it (coherence has its own). */
	if (rounds) {
		sub_argv[sub_argc++] = rounds_arg;
		sub_argv[sub_argc++] = (char *)rounds;
	}
	if (json && !(doc = json_object_new_object())) {
		fprintf(stderr, "sva-bench: out of memory\n");
		return 1;
	}
	for (size_t i = 0; i < sizeof(benches) / sizeof(benches[0]); i++) {
		const struct bench *b = &benches[i];
		int run = !only || !strcmp(only, b->name);
		char why[256];
		int can = run && b->needs ? iommu_check(b->needs == 2, why, sizeof(why)) : 0;

		if (!json && run) {
			/* A blank line between benchmarks' reports, none before the first. */
			if (!first)
				printf("\n");
			first = 0;
		}
		if (run && can < 0) {
			report_failed(b->name, doc, why);
			rc = 1;
		} else if (run && !can) {
			rc |= run_apart(b, doc, b->rounds ? sub_argc : json ? 2 : 1, sub_argv);
		} else if (run) {
			if (json)
				json_member(doc, b->name, json_outcome("skipped", why));
			else {
				printf("%s benchmark skipped: ", b->name);
				utf8_put_text(why);
				putchar('\n');
			}
		} else if (json) {
			json_member(doc, b->name, NULL);
		}
	}
	if (json) {
		const char *text = json_oom ? NULL
					    : json_object_to_json_string_ext(doc, JSON_C_TO_STRING_PLAIN |
										   JSON_C_TO_STRING_NOSLASHESCAPE);

		if (text) {
			puts(text);
		} else {
			fprintf(stderr, "sva-bench: out of memory\n");
			rc = 1;
		}
		json_object_put(doc);
	}
	rc |= stdout_done("sva-bench", "the results");
	return rc;
}
