/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* PCI address parsing: every accepted form and every malformed one. */
#include <errno.h>
#include <string.h>

#include "internal.h"
#include "../tap.h"

static void good(const char *in, const char *want)
{
	char out[16] = "";

	ok(sva_pci_addr_parse(in, out) == 0 && strcmp(out, want) == 0, "'%s' parses to %s (got '%s')", in, want,
	   out);
}

static void bad(const char *in)
{
	char out[16] = "untouched";

	ok(sva_pci_addr_parse(in, out) == -EINVAL && strcmp(out, "untouched") == 0, "'%s' is rejected with -EINVAL",
	   in ? in : "(null)");
}

int main(void)
{
	good("0000:41:00.0", "0000:41:00.0");
	good("41:00.0", "0000:41:00.0");
	good("0001:ff:1f.7", "0001:ff:1f.7");
	good("ABCD:0A:0B.3", "abcd:0a:0b.3");
	good("0:1:2.3", "0000:01:02.3");
	bad(NULL);
	bad("");
	bad("41:00");
	bad("41:00.");
	bad("41:00.8");	    /* function 0-7 */
	bad("41:20.0");	    /* device 0-0x1f */
	bad("41:00.0x");    /* trailing garbage */
	bad("0000:41:00.0 "); /* trailing space */
	/* Intel VMD's domains start at 10000: sysfs names them with 5 digits */
	good("10000:E1:00.0", "10000:e1:00.0");
	good("00000:41:00.0", "0000:41:00.0");
	good("ffffff:ff:1f.7", "ffffff:ff:1f.7");
	bad("1000000:41:00.0"); /* domain has at most 6 digits */
	bad("0000000:41:00.0");
	bad("000:141:00.0");  /* bus has at most 2 digits */
	bad("g0:00.0");
	bad("::.");
	bad("0000:41:00:0");
	bad("/dev/vfio/devices/vfio0");
	bad("-1:00.0");
	return done_testing();
}
