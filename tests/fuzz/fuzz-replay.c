/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Runs a libFuzzer target without libFuzzer, as a TAP test: every file of the
 * seed corpus, then a fixed number of pseudo-random inputs from a fixed seed.
 * So the fuzz target and its model build and pass on every compiler, and a
 * crash input once added to the corpus stays a regression test.
 *
 * Usage: fuzz-replay [CORPUS_DIR] (default $top_srcdir/tests/fuzz/corpus/pasid)
 */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../tap.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);
extern unsigned long fuzz_pasid_inputs, fuzz_pasid_checks;

/* Would libFuzzer's initialization let a run go on with dir as its first
 * directory?  In a child: the target exits when it refuses. */
static bool fuzz_would_run(const char *dir)
{
	pid_t pid = fork();
	int st;

	if (pid == 0) {
		char *args[] = { (char *)"fuzz", (char *)"-max_total_time=1", (char *)dir, NULL };
		char **argv = args;
		int argc = 3;

		close(2); /* its message is for people */
		LLVMFuzzerInitialize(&argc, &argv);
		_exit(0);
	}
	if (pid < 0 || waitpid(pid, &st, 0) != pid)
		return true;
	return WIFEXITED(st) && WEXITSTATUS(st) == 0;
}

#define RANDOM_INPUTS 3000
#define RANDOM_MAX_LEN 4096

static int run_file(const char *path)
{
	static uint8_t buf[1 << 16];
	FILE *f = fopen(path, "rb");
	size_t n;

	if (!f)
		return -1;
	n = fread(buf, 1, sizeof(buf), f);
	fclose(f);
	return LLVMFuzzerTestOneInput(buf, n);
}

static int by_name(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

int main(int argc, char **argv)
{
	char dir[4096], path[8192];
	const char *top = getenv("top_srcdir");
	char *names[256];
	int nnames = 0;
	struct dirent *e;
	DIR *d;
	uint64_t rng = 0x243f6a8885a308d3ull;
	static uint8_t buf[RANDOM_MAX_LEN];

	if (argc > 1)
		snprintf(dir, sizeof(dir), "%s", argv[1]);
	else
		snprintf(dir, sizeof(dir), "%s/tests/fuzz/corpus/pasid", top ? top : ".");
	d = opendir(dir);
	if (!d)
		skip_all("no corpus directory (set top_srcdir or pass it)");
	while ((e = readdir(d)) && nnames < 256)
		if (e->d_name[0] != '.')
			names[nnames++] = strdup(e->d_name);
	closedir(d);
	qsort(names, (size_t)nnames, sizeof(*names), by_name);

	ok(nnames > 0, "corpus %s has %d inputs", dir, nnames);
	for (int i = 0; i < nnames; i++) {
		snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
		/* A model mismatch aborts, which the TAP driver reports. */
		is_int(run_file(path), 0, "corpus input %s", names[i]);
		free(names[i]);
	}
	unsigned long inputs0 = fuzz_pasid_inputs, checks0 = fuzz_pasid_checks;

	for (int i = 0; i < RANDOM_INPUTS; i++) {
		size_t n = 0;

		rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
		n = 6 + rng % (RANDOM_MAX_LEN - 6);
		for (size_t j = 0; j < n; j++) {
			rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
			buf[j] = (uint8_t)rng;
		}
		/* Small ranges, so exhaustion and reuse happen. */
		buf[5] = 0;
		buf[4] &= 0x3f;
		LLVMFuzzerTestOneInput(buf, n);
	}
	/* A mismatch aborts; what is left to see is that the inputs reached the
	 * model (one its header refuses, or one that ends at its header, checks
	 * nothing) and ran operations past making the space. */
	ok(fuzz_pasid_inputs - inputs0 >= RANDOM_INPUTS * 9 / 10 &&
	   fuzz_pasid_checks - checks0 > 10 * (fuzz_pasid_inputs - inputs0),
	   "%d pseudo-random inputs agree with the model: %lu reached it, %lu checks", RANDOM_INPUTS,
	   fuzz_pasid_inputs - inputs0, fuzz_pasid_checks - checks0);
	ok(!fuzz_would_run(dir), "the fuzz target refuses the checked-in corpus as its first (written) directory");
	ok(fuzz_would_run("/tmp"), "and accepts a scratch directory");
	return done_testing();
}
