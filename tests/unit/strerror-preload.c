/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * LD_PRELOAD helper for test-sva-bench.sh: strerror() says something no C
 * library says, a quote, a backslash and control characters, so that a
 * reason sva-bench puts in its --json output must be escaped to stay JSON.
 * With STRERROR_BAD_UTF8 set it says bytes that are not UTF-8 instead (a
 * stray continuation byte, an overlong form, a surrogate, 0xff) around a
 * valid é, as a C library's translation in another charset may.
 * A sanitizer's runtime linked into the program answers strerror() before
 * any preloaded library: the test tells that run (the text absent) from a
 * failure.
 */
#include <stdlib.h>
#include <string.h>

char *strerror(int errnum)
{
	(void)errnum;
	if (getenv("STRERROR_BAD_UTF8"))
		return (char *)"odd \x80 \xc0\xaf \xed\xa0\x80 \xff \xc3\xa9 end";
	return (char *)"odd \"reason\" \\ with\ta\001control\nnewline";
}
