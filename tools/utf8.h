/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * What the tools' JSON output (sva-info's, sva-bench's) must hold: UTF-8.
 * Their strings are bytes from sysfs, paths and strerror(), and neither
 * json-c's constructors nor a hand-written writer check them; one byte that
 * is not UTF-8 makes the whole document invalid JSON for a strict reader.
 */
#ifndef SVA_TOOLS_UTF8_H
#define SVA_TOOLS_UTF8_H

#include <stddef.h>
#include <stdint.h>

/* The length of a well-formed UTF-8 sequence of 2-4 bytes at p (no overlong
 * form, surrogate or code point past U+10FFFF), or 0.  It stops at a NUL. */
static inline size_t utf8_seq_len(const unsigned char *p)
{
	uint32_t cp, min;
	size_t n;

	if (p[0] >= 0xc2 && p[0] <= 0xdf) {
		n = 2, cp = p[0] & 0x1fu, min = 0x80;
	} else if (p[0] >= 0xe0 && p[0] <= 0xef) {
		n = 3, cp = p[0] & 0x0fu, min = 0x800;
	} else if (p[0] >= 0xf0 && p[0] <= 0xf4) {
		n = 4, cp = p[0] & 0x07u, min = 0x10000;
	} else {
		return 0;
	}
	for (size_t i = 1; i < n; i++) {
		if ((p[i] & 0xc0) != 0x80) /* also stops at the NUL */
			return 0;
		cp = cp << 6 | (p[i] & 0x3fu);
	}
	if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return n;
}

#endif /* SVA_TOOLS_UTF8_H */
