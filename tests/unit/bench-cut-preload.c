/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * LD_PRELOAD helper for test-sva-bench.sh, with BENCH_CUT set: sva-bench has
 * no memory to grow the buffer it keeps a benchmark's output in past its
 * first 4 KiB (realloc() to 8 KiB fails), and the benchmark's child writes
 * 8 KiB of lines more as it ends, in its _exit().  The child has written
 * everything, and ends with status 0, before sva-bench runs out of room:
 * only sva-bench knows that what it kept was cut short.
 * A sanitizer's runtime answers realloc() before any preloaded library: the
 * test tells that run (every line kept) from a failure.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

void *realloc(void *p, size_t n)
{
	static void *(*real)(void *, size_t);

	if (n == 8192 && getenv("BENCH_CUT"))
		return NULL;
	if (!real)
		real = (void *(*)(void *, size_t))dlsym(RTLD_NEXT, "realloc");
	return real(p, n);
}

void _exit(int status)
{
	void (*real)(int) = (void (*)(int))dlsym(RTLD_NEXT, "_exit");

	if (getenv("BENCH_CUT")) {
		static char pad[8192];

		for (size_t i = 0; i < sizeof(pad); i += 8)
			memcpy(pad + i, "padding\n", 8);
		if (write(STDOUT_FILENO, pad, sizeof(pad)) < 0)
			status = 1;
	}
	real(status);
	abort(); /* not reached: keeps _exit() noreturn */
}
