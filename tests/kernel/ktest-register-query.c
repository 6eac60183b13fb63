/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * A registration for tracking tries the whole mapping first (mm_map.c,
 * register_locked()), with the bounds PROCMAP_QUERY gives; refused with EINVAL
 * or ENOMEM it asks for the bounds again and tries those, three tries in all,
 * then the range alone.  Each refusal's query is what the next try registers:
 * it used to be thrown away and the kernel asked again at the top of the loop
 * (review Z71), two queries per retry.  Here UFFDIO_REGISTER of anything but
 * the range alone is refused (the test plays that part of the kernel) and the
 * queries are counted between the first try and the range's registration.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>

#include "ktest.h"
#include "../unit/fake_ioctl.h"

#define PG 4096u
#define VA 0x60000000ull /* inside the mock aperture [16 MiB, 2 GiB) */

extern void (*sva_test_register_hook)(uint64_t start, uint64_t end); /* mm_map.c, libsva-test only */

static uint64_t g_start, g_end;
static bool g_armed;
static int g_queries, g_refused, g_at_range = -1;

static bool fake_ioctl(unsigned long req, void *arg, int *rc)
{
	struct kabi_uffdio_register *r = arg;

	if (!g_armed)
		return false;
	if (req == KABI_PROCMAP_QUERY) {
		g_queries++;
		return false;
	}
	if (req != KABI_UFFDIO_REGISTER)
		return false;
	if (r->range.start == g_start && r->range.len == g_end - g_start) {
		g_at_range = g_queries;
		g_armed = false;
		return false; /* the range alone: the kernel's answer */
	}
	g_refused++;
	errno = EINVAL;
	*rc = -1;
	return true;
}

static void arm(uint64_t start, uint64_t end)
{
	(void)start;
	(void)end;
	g_queries = 0;
	g_armed = true;
}

int main(void)
{
	struct sva_ctx *ctx;
	struct sva_mm *mm;
	unsigned char *a;

	ktest_require_iommufd();
	ctx = ktest_ctx();
	if (sva_mm_new(ctx, NULL, &mm))
		ktest_bail("sva_mm_new failed");
	a = ktest_map_at(VA, 16 * PG, PROT_READ | PROT_WRITE);
	g_start = VA + 4 * PG;
	g_end = VA + 8 * PG;
	sva_test_register_hook = arm;
	is_int(sva_mm_prefault(mm, a + 4 * PG, 4 * PG), 0, "a prefault whose whole mapping userfaultfd refuses maps");
	sva_test_register_hook = NULL;
	g_armed = false;
	is_int(g_refused, 3, "the whole mapping is tried three times");
	if (g_at_range < 0)
		ok(0, "the range alone is registered after (it was not)");
	else
		is_int(g_at_range, 4, "one bounds query per try, one after the last: 4 before the range alone");
	sva_mm_free(mm);
	munmap(a, 16 * PG);
	sva_ctx_free(ctx);
	return done_testing();
}
