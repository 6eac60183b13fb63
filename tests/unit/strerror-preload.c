/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * LD_PRELOAD helper for test-sva-bench.sh: strerror() says something no C
 * library says, a quote, a backslash and control characters, so that a
 * reason sva-bench puts in its --json output must be escaped to stay JSON.
 * A sanitizer's runtime linked into the program answers strerror() before
 * any preloaded library: the test tells that run (the text absent) from a
 * failure.
 */
#include <string.h>

char *strerror(int errnum)
{
	(void)errnum;
	return (char *)"odd \"reason\" \\ with\ta\001control\nnewline";
}
