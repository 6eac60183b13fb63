/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * LD_PRELOAD helper of ktest-demo (not a test itself): before the program's
 * main(), maps one read-only page at the address in SVA_TEST_OCCUPY (hex), so
 * that the program finds that address already occupied.  A raw system call,
 * because a sanitizer's mmap interceptor may not be set up this early; built
 * without the sanitizers for the same reason (tests/kernel/local.mk).
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

__attribute__((constructor)) static void occupy(void)
{
	const char *s = getenv("SVA_TEST_OCCUPY");
	unsigned long at;
	long got;

	if (!s)
		return;
	at = strtoul(s, NULL, 16);
	got = syscall(SYS_mmap, at, 4096ul, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0l);
	if (got != (long)at)
		fprintf(stderr, "occupy-preload: cannot map a page at 0x%lx\n", at);
}
