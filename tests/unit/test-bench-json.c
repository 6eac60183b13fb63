/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The benchmarks' JSON strings (tools/bench/bench.h): bench_json_text()
 * makes a reason, which says whatever strerror() or a path says, a string of
 * the --json document of sva-bench and of each benchmark run alone.  Every
 * output, as json-c prints it plain, is read back with json-c's tokener,
 * strict and validating UTF-8: quotes, backslashes and control characters
 * escaped, UTF-8 kept as it is, and each byte that is not UTF-8 (a path's
 * bytes, a reason cut in the middle of a character) U+FFFD, so that one bad
 * byte cannot make the whole run's document unreadable.  A figure's members
 * word for word as the benchmarks always printed them.  And bench-coherence's
 * own skip member (its skipped(), which no run on a host with userfaultfd
 * reaches), included from its source as sva-bench builds it.
 */
#define SVA_BENCH_LIBRARY /* bench-coherence.c without its main() */
#include "../../tools/bench/bench-coherence.c"

#include <json-c/json.h>

#include "../tap.h"

static FILE *out_file;
static int saved_stdout = -1;

/* Standard output into a temporary file until captured(). */
static void capture(void)
{
	fflush(stdout);
	out_file = tmpfile();
	saved_stdout = dup(STDOUT_FILENO);
	if (!out_file || saved_stdout < 0 || dup2(fileno(out_file), STDOUT_FILENO) < 0)
		tap_bail("capturing standard output: %s", strerror(errno));
}

/* What was written since capture(), NUL-terminated, standard output back. */
static const char *captured(void)
{
	static char buf[4096];
	size_t n;

	fflush(stdout);
	if (dup2(saved_stdout, STDOUT_FILENO) < 0)
		tap_bail("restoring standard output: %s", strerror(errno));
	close(saved_stdout);
	rewind(out_file);
	n = fread(buf, 1, sizeof(buf) - 1, out_file);
	buf[n] = '\0';
	fclose(out_file);
	return buf;
}

/* doc parsed as one JSON value, strictly, its strings validated as UTF-8;
 * NULL if it is not one. */
static struct json_object *parse(const char *doc)
{
	struct json_tokener *tok = json_tokener_new();
	struct json_object *o;

	if (!tok)
		tap_bail("json_tokener_new: out of memory");
	json_tokener_set_flags(tok, JSON_TOKENER_STRICT | JSON_TOKENER_VALIDATE_UTF8);
	o = json_tokener_parse_ex(tok, doc, (int)strlen(doc));
	if (o && json_tokener_get_error(tok) != json_tokener_success) {
		json_object_put(o);
		o = NULL;
	}
	json_tokener_free(tok);
	return o;
}

/* A string of the output, with its unprintable bytes as \xNN, for a message
 * (two buffers in turn: one message shows two). */
static const char *shown(const char *s)
{
	static char bufs[2][1024];
	static unsigned turn;
	char *buf = bufs[turn++ % 2];
	size_t o = 0;

	for (; *s && o + 5 < sizeof(bufs[0]); s++)
		o += (size_t)snprintf(buf + o, sizeof(bufs[0]) - o,
				      (unsigned char)*s < 0x20 || (unsigned char)*s >= 0x7f ? "\\x%02x" : "%c",
				      (unsigned char)*s);
	buf[o] = '\0';
	return buf;
}

#define FFFD "\xef\xbf\xbd"

/* o as the benchmarks print it (and frees it). */
static const char *plain(struct json_object *o)
{
	static char buf[4096];

	snprintf(buf, sizeof(buf), "%s",
		 o ? json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE)
		   : "(none)");
	json_object_put(o);
	return buf;
}

static const struct {
	const char *what, *in, *out, *read; /* out: what is written; read: what json-c reads back */
} cases[] = {
	{ "plain ASCII", "no usable /dev/iommu here", "\"no usable /dev/iommu here\"", "no usable /dev/iommu here" },
	{ "a quote and a backslash", "a \"b\" \\c", "\"a \\\"b\\\" \\\\c\"", "a \"b\" \\c" },
	{ "control characters", "\t\n\001\037", "\"\\t\\n\\u0001\\u001f\"", "\t\n\001\037" },
	{ "DEL, which JSON need not escape", "\177", "\"\177\"", "\177" },
	{ "UTF-8 of 2, 3 and 4 bytes, kept", "\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80",
	  "\"\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80\"", "\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80" },
	{ "a byte that is never UTF-8", "a\xff" "b", "\"a" FFFD "b\"", "a" FFFD "b" },
	{ "a lone continuation byte", "\x80", "\"" FFFD "\"", FFFD },
	{ "an overlong '/' (C0 AF), byte by byte", "/\xc0\xaf", "\"/" FFFD FFFD "\"", "/" FFFD FFFD },
	{ "a surrogate (ED A0 80)", "\xed\xa0\x80", "\"" FFFD FFFD FFFD "\"", FFFD FFFD FFFD },
	{ "beyond U+10FFFF (F4 90 80 80)", "\xf4\x90\x80\x80", "\"" FFFD FFFD FFFD FFFD "\"",
	  FFFD FFFD FFFD FFFD },
	{ "a character cut at the end (a reason truncated to its buffer)", "x\xe2\x82", "\"x" FFFD FFFD "\"",
	  "x" FFFD FFFD },
	{ "a Latin-1 path", "/tmp/caf\xe9/x", "\"/tmp/caf" FFFD "/x\"", "/tmp/caf" FFFD "/x" },
};

static void strings(void)
{
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct json_object *o;
		const char *got = plain(bench_json_text(cases[i].in));

		is_int(strcmp(got, cases[i].out), 0, "%s: written as %s (got %s)", cases[i].what, shown(cases[i].out),
		       shown(got));
		o = parse(got);
		ok(o && json_object_is_type(o, json_type_string) && !strcmp(json_object_get_string(o), cases[i].read),
		   "  valid JSON, read back as %s", shown(cases[i].read));
		json_object_put(o);
	}
}

/* The member of a benchmark that could not run. */
static void outcome(void)
{
	struct json_object *o, *v;
	const char *got = plain(bench_json_outcome("skipped", "opening /dev/iommu: caf\xe9 \"x\""));

	o = parse(got);
	ok(o && json_object_object_get_ex(o, "skipped", &v) &&
		   !strcmp(json_object_get_string(v), "opening /dev/iommu: caf" FFFD " \"x\""),
	   "bench_json_outcome with a quote and a byte that is not UTF-8: valid JSON (%s)", shown(got));
	json_object_put(o);
}

/* A figure's members as the benchmarks printed them by hand before json-c
 * made them (sva-bench(1), --json; --compare reads them): each number with
 * its printf() digits, the target a string or null, the verdict.  A number
 * that is none (a ratio over 0) is null, not printf()'s "nan". */
static void figure(void)
{
	struct bench_summary s = { .med = 1.0854, .min = 1.01, .max = 1.2, .first_half = 1.08, .second_half = 1.09,
				   .met = 13, .n = 15, .verdict = "met" };
	struct json_object *o = json_object_new_object();
	const char *got;

	bench_json_num4g(o, "libsva", 19.1234);
	bench_json_num(o, "tracked_ns", 0, 5000.4);
	bench_json_ratio(o, &s, 1, 1, 1.10);
	got = plain(o);
	is_int(strcmp(got, "{\"libsva\":19.12,\"tracked_ns\":5000,\"ratio\":{\"median\":1.085,\"min\":1.010,"
			   "\"max\":1.200,\"halves\":[1.080,1.090]},\"target\":\"<= 1.10\",\"rounds_met\":13,"
			   "\"rounds\":15,\"verdict\":\"met\"}"),
	       0, "a figure's members word for word (got %s)", got);
	o = json_object_new_object();
	s.verdict = "no target";
	bench_json_ratio(o, &s, 0, 0, 0);
	bench_json_num(o, "ratio_over_zero", 2, 1.0 / 0.0);
	bench_json_num(o, "nan", 2, 0.0 / 0.0);
	got = plain(o);
	ok(strstr(got, "\"target\":null,") && strstr(got, "\"ratio_over_zero\":null,\"nan\":null}"),
	   "a figure without a target: target null; a number that is none: null (got %s)", got);
	ok(!bench_json_oom, "  nothing out of memory");
}

/* bench-coherence's skip: {"skipped": why}, then a newline, the reason read
 * back whole. */
static void coherence_skipped(void)
{
	struct json_object *o, *v;
	char want[256];
	const char *got;
	int ret;

	snprintf(want, sizeof(want), "coherence tracking needs userfaultfd(2), refused here: %s", strerror(EPERM));
	capture();
	ret = skipped(1, EPERM);
	got = captured();
	is_int(ret, 0, "bench-coherence --json, userfaultfd refused: skipped, exit status 0");
	o = parse(got);
	ok(o && json_object_object_get_ex(o, "skipped", &v) && !strcmp(json_object_get_string(v), want),
	   "  one valid JSON object, {\"skipped\": \"%s\"} (got %s)", want, shown(got));
	ok(strlen(got) > 0 && got[strlen(got) - 1] == '\n', "  ending its line");
	json_object_put(o);
	capture();
	skipped(0, ENOSYS);
	got = captured();
	snprintf(want, sizeof(want), "coherence benchmark skipped: coherence tracking needs userfaultfd(2), refused here: %s\n",
		 strerror(ENOSYS));
	is_int(strcmp(got, want), 0, "  without --json, a line of text: %s", shown(got));
}

/* sva-bench(1), fault: the verdict of a figure measured in rounds.  "met"
 * (the median, three quarters of the rounds and both halves meet it),
 * "missed" (none of them does, a quarter of the rounds at most), or
 * "unstable"; one round is "unstable" whatever its ratio.  Target <= 1.10,
 * and one >= 0.80 (budget's sequential_4x) the other way round. */
static void verdicts(void)
{
	static const struct {
		int n, at_most;
		double target, r[8];
		const char *want, *why;
	} verdict_cases[] = {
		{ 8, 1, 1.10, { 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0 }, "met", "every round meets it" },
		{ 8, 1, 1.10, { 1.0, 1.0, 1.0, 1.2, 1.0, 1.0, 1.0, 1.2 }, "met", "6 of 8 (three quarters), halves too" },
		{ 8, 1, 1.10, { 1.0, 1.0, 1.2, 1.2, 1.0, 1.0, 1.0, 1.2 }, "unstable", "5 of 8 rounds: under three quarters" },
		{ 8, 1, 1.10, { 1.0, 1.0, 1.0, 1.0, 1.0, 1.3, 1.0, 1.3 }, "unstable",
		  "6 of 8 and the median meet it, the second half's median (1.15) not" },
		{ 8, 1, 1.10, { 1.2, 1.2, 1.2, 1.2, 1.2, 1.2, 1.2, 1.2 }, "missed", "no round meets it" },
		{ 8, 1, 1.10, { 1.2, 1.0, 1.2, 1.2, 1.2, 1.2, 1.0, 1.2 }, "missed", "2 of 8 (a quarter), halves missing" },
		{ 8, 1, 1.10, { 1.2, 1.0, 1.2, 1.0, 1.2, 1.2, 1.0, 1.2 }, "unstable", "3 of 8: over a quarter" },
		{ 1, 1, 1.10, { 1.0 }, "unstable", "one round, meeting it" },
		{ 1, 1, 1.10, { 5.0 }, "unstable", "one round, far off" },
		{ 4, 0, 0.80, { 0.9, 0.95, 0.85, 0.9 }, "met", ">= 0.80: every round above" },
		{ 4, 0, 0.80, { 0.5, 0.6, 0.7, 0.6 }, "missed", ">= 0.80: every round below" },
	};

	for (size_t i = 0; i < sizeof(verdict_cases) / sizeof(verdict_cases[0]); i++) {
		struct bench_summary s = bench_summarize(verdict_cases[i].r, verdict_cases[i].n, 1, verdict_cases[i].at_most, verdict_cases[i].target);

		ok(!strcmp(s.verdict, verdict_cases[i].want), "verdict %s: %s (got %s, %d of %d met)", verdict_cases[i].want,
		   verdict_cases[i].why, s.verdict, s.met, s.n);
	}
	ok(!strcmp(bench_summarize(verdict_cases[0].r, 8, 0, 1, 0).verdict, "no target"), "a figure without a target: no target");
}

int main(void)
{
	/* sva-bench(1): "coherence keeps its 7 rounds whatever N is".
	 * test-bench-rounds shows --rounds never reaches it; this, that what
	 * it keeps is 7 (a run to count them takes half a minute). */
	is_int(rounds, 7, "bench-coherence's rounds without --rounds: 7, as sva-bench(1) says");
	strings();
	outcome();
	figure();
	verdicts();
	coherence_skipped();
	return done_testing();
}
