/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * sva-bench(1): "coherence keeps its 7 rounds whatever N is" (--rounds N).
 * A coherence run takes minutes in the VM, and half a minute natively, so
 * this runs sva-bench's own main (tools/bench/main.c, included) against fake
 * benchmarks that only print the arguments they were given, with /dev/iommu
 * and the selftest mock faked as present: --rounds must reach pasid, fault
 * and budget and never coherence, whose default (7, its ROUNDS) test-bench-json
 * checks against bench-coherence.c itself.
 */
#include <fcntl.h>
#include <string.h>

/* iommu_check() opens /dev/iommu: here, /dev/null stands for it. */
static int test_open(const char *path, int flags)
{
	return open(strcmp(path, "/dev/iommu") ? path : "/dev/null", flags);
}
#define open(...) test_open(__VA_ARGS__)
int sva_bench_main(int argc, char **argv);
#define main sva_bench_main
#include "../../tools/bench/main.c"
#undef main
#undef open

#include <json-c/json.h>

#include "../tap.h"

/* libsva as iommu_check() needs it: a context and a mock device open. */
int sva_ctx_new(const struct sva_ctx_opts *opts, struct sva_ctx **out)
{
	(void)opts;
	*out = (struct sva_ctx *)(uintptr_t)1;
	return 0;
}

void sva_ctx_free(struct sva_ctx *ctx)
{
	(void)ctx;
}

int sva_dev_open_mock(struct sva_ctx *ctx, const struct sva_mock_opts *opts, struct sva_dev **out)
{
	(void)ctx;
	(void)opts;
	*out = (struct sva_dev *)(uintptr_t)1;
	return 0;
}

void sva_dev_close(struct sva_dev *dev)
{
	(void)dev;
}

/* A benchmark that prints the arguments it was given after its name: in
 * JSON {"args":"--json --rounds 3"}, in text "args: --rounds 3". */
static int fake(int argc, char **argv)
{
	char args[256] = "";
	int json = 0;

	for (int i = 1; i < argc; i++) {
		json |= !strcmp(argv[i], "--json");
		snprintf(args + strlen(args), sizeof(args) - strlen(args), "%s%s", i > 1 ? " " : "", argv[i]);
	}
	if (json)
		printf("{\"args\":\"%s\"}\n", args);
	else
		printf("args: %s\n", args);
	return 0;
}

int bench_pasid(int argc, char **argv)
{
	return fake(argc, argv);
}

int bench_fault(int argc, char **argv)
{
	return fake(argc, argv);
}

int bench_coherence(int argc, char **argv)
{
	return fake(argc, argv);
}

int bench_budget(int argc, char **argv)
{
	return fake(argc, argv);
}

/* sva-bench with args (spaces between), its standard output in out. */
static int run(const char *args, char *out, size_t n)
{
	char buf[256], *argv[8] = { (char *)"sva-bench" }, *save = NULL;
	int argc = 1, saved = dup(STDOUT_FILENO), rc;
	FILE *f = tmpfile();
	size_t got;

	snprintf(buf, sizeof(buf), "%s", args);
	for (char *w = strtok_r(buf, " ", &save); w && argc < 7; w = strtok_r(NULL, " ", &save))
		argv[argc++] = w;
	fflush(stdout);
	if (!f || saved < 0 || dup2(fileno(f), STDOUT_FILENO) < 0)
		tap_bail("capturing standard output: %s", strerror(errno));
	optind = 0;
	rc = sva_bench_main(argc, argv);
	fflush(stdout);
	if (dup2(saved, STDOUT_FILENO) < 0)
		tap_bail("restoring standard output: %s", strerror(errno));
	close(saved);
	rewind(f);
	got = fread(out, 1, n - 1, f);
	out[got] = '\0';
	fclose(f);
	return rc;
}

/* The args the fake benchmark name printed in the document doc; "null"
 * for a member that is null, "?" for anything else. */
static const char *args_of(json_object *doc, const char *name)
{
	json_object *m, *a;

	if (!json_object_object_get_ex(doc, name, &m))
		return "?";
	if (!m)
		return "null";
	return json_object_object_get_ex(m, "args", &a) ? json_object_get_string(a) : "?";
}

int main(void)
{
	static const char *const names[] = { "pasid", "fault", "coherence", "budget" };
	char out[4096];
	json_object *doc;
	int rc;

	rc = run("--json --rounds 3", out, sizeof(out));
	doc = json_tokener_parse(out);
	is_int(rc, 0, "sva-bench --json --rounds 3, every benchmark faked: exit 0 (%s)", out);
	for (size_t i = 0; i < 4; i++) {
		const char *want = strcmp(names[i], "coherence") ? "--json --rounds 3" : "--json";

		ok(doc && !strcmp(args_of(doc, names[i]), want), "  %s is given '%s' (got '%s')", names[i], want,
		   doc ? args_of(doc, names[i]) : out);
	}
	json_object_put(doc);

	rc = run("--json --rounds 3 coherence", out, sizeof(out));
	doc = json_tokener_parse(out);
	ok(rc == 0 && doc && !strcmp(args_of(doc, "coherence"), "--json") && !strcmp(args_of(doc, "pasid"), "null"),
	   "sva-bench --json --rounds 3 coherence: coherence alone, without --rounds (got %d: %s)", rc, out);
	json_object_put(doc);

	rc = run("--rounds 1000 coherence", out, sizeof(out));
	ok(rc == 0 && !strcmp(out, "args: \n"), "sva-bench --rounds 1000 coherence, in text: no argument (got %d: %s)",
	   rc, out);

	rc = run("--rounds 2 pasid", out, sizeof(out));
	ok(rc == 0 && !strcmp(out, "args: --rounds 2\n"), "sva-bench --rounds 2 pasid: pasid has it (got %d: %s)", rc,
	   out);
	return done_testing();
}
