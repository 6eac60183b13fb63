/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* PCI addresses: "DDDD:BB:DD.F" (domain optional) to the canonical sysfs form. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "common.h"

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Parse exactly `digits` hex digits (at least 1, at most `digits`) ending at `end`. */
static const char *parse_hex(const char *s, int max_digits, char end, unsigned *val)
{
	int n = 0;

	*val = 0;
	while (hexval(*s) >= 0) {
		if (++n > max_digits)
			return NULL;
		*val = *val * 16 + (unsigned)hexval(*s++);
	}
	if (n == 0 || *s != end)
		return NULL;
	return end ? s + 1 : s;
}

int sva_pci_addr_parse(const char *in, char out[16])
{
	unsigned domain = 0, bus, dev, fn;
	const char *s = in;

	if (!in || strlen(in) > 15)
		return -EINVAL;
	/* Two colons: the domain is present.  Up to 6 digits: Linux names a
	 * domain "%04x", and Intel VMD's start at 10000 (a 5-digit sysfs name,
	 * "10000:e1:00.0"); 6 still fit struct sva_dev_info's 16 bytes. */
	if (strchr(s, ':') && strchr(s, ':') != strrchr(s, ':')) {
		s = parse_hex(s, 6, ':', &domain);
		if (!s)
			return -EINVAL;
	}
	s = parse_hex(s, 2, ':', &bus);
	if (!s)
		return -EINVAL;
	s = parse_hex(s, 2, '.', &dev);
	if (!s || dev > 0x1f)
		return -EINVAL;
	s = parse_hex(s, 1, '\0', &fn);
	if (!s || fn > 7)
		return -EINVAL;
	snprintf(out, 16, "%04x:%02x:%02x.%x", domain, bus, dev, fn);
	return 0;
}
