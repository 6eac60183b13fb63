/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * What the tools' JSON output (sva-info's, sva-bench's) must hold: UTF-8;
 * and their text, escaped for a terminal (utf8_put_text()).
 * Their strings are bytes from sysfs, paths and strerror(), and neither
 * json-c's constructors nor a hand-written writer check them; one byte that
 * is not UTF-8 makes the whole document invalid JSON for a strict reader.
 */
#ifndef SVA_TOOLS_UTF8_H
#define SVA_TOOLS_UTF8_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

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

/* s on standard output as text for a terminal: control characters (C0, DEL
 * and C1), bytes that are not UTF-8, and the backslash itself as \xhh.  The
 * strings are bytes the kernel, a path or a document chose: raw, a newline
 * would split a report's line and an escape sequence reach the terminal. */
static inline void utf8_put_text(const char *s)
{
	for (const unsigned char *p = (const unsigned char *)s; *p;) {
		/* C1 controls are U+0080-U+009F: c2 80 to c2 9f. */
		size_t n = *p < 0x80 ? 1 : p[0] == 0xc2 && p[1] < 0xa0 ? 0 : utf8_seq_len(p);

		if (!n || *p < 0x20 || *p == 0x7f || *p == '\\') {
			printf("\\x%02x", *p++);
			continue;
		}
		fwrite(p, 1, n, stdout);
		p += n;
	}
}

#endif /* SVA_TOOLS_UTF8_H */
