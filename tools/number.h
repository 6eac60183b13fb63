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

/* s as a whole number in base (8 or 10) of at most max into *out; false
 * (*out unchanged) if s is empty, holds anything but the base's digits, or
 * is larger than max. */
static inline bool tool_number(const char *s, unsigned base, unsigned long long max, unsigned long long *out)
{
	unsigned long long v = 0;

	if (!s || !*s)
		return false;
	for (; *s; s++) {
		unsigned d = (unsigned)(*s - '0');

		if (d >= base || d > max || v > (max - d) / base)
			return false;
		v = v * base + d;
	}
	*out = v;
	return true;
}

#endif
