/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The one spelling of a number the tools take, on their command lines and in
 * sva-brokerd's configuration: digits only.  strtoul() and atoi() would also
 * take leading blanks, a '+' (and wrap a '-'), and atoi() stops quietly at
 * the first non-digit ("3x" is 3) and overflows undefined; the pages say "a
 * number", so " 5", "+5", "5x" and "0x5" are refused alike, and a number past
 * the range is refused, never wrapped.  Leading zeros are allowed and change
 * nothing ("010" is ten in base 10): the base is the option's, never the
 * spelling's.
 */
#ifndef SVA_TOOLS_NUMBER_H
#define SVA_TOOLS_NUMBER_H

#include <stdbool.h>
#include <stddef.h>
#include <string.h>

/* The first len characters of s as a whole number in base (8 or 10) of at
 * most max into *out; false (*out unchanged) if len is 0, they hold anything
 * but the base's digits, or the number is larger than max.  Any length: a
 * unit suffix is left off by the length, not by a copy into a buffer that
 * would cap the leading zeros. */
static inline bool tool_number_n(const char *s, size_t len, unsigned base, unsigned long long max,
				 unsigned long long *out)
{
	unsigned long long v = 0;

	if (!s || !len)
		return false;
	for (size_t i = 0; i < len; i++) {
		unsigned d = (unsigned)(s[i] - '0');

		if (d >= base || d > max || v > (max - d) / base)
			return false;
		v = v * base + d;
	}
	*out = v;
	return true;
}

/* s, a string, as tool_number_n() reads it. */
static inline bool tool_number(const char *s, unsigned base, unsigned long long max, unsigned long long *out)
{
	return s && tool_number_n(s, strlen(s), base, max, out);
}

#endif
