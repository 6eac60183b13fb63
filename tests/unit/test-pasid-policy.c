/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Context/device PASID policy without a kernel: contexts and devices are built
 * by hand (zeroed, a log, a global range, a PASID width) and set up with the
 * same init calls ctx.c and dev.c make.
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>

#include "pasid_space.h"
#include "../tap.h"

static struct {
	int lines;  /* error and warning lines */
	int debug;  /* debug lines */
	char last[512];
	char last_debug[512];
} cap;

static void capture(void *arg, enum sva_log_level level, const char *msg)
{
	(void)arg;
	if (level == SVA_LOG_DEBUG) {
		cap.debug++;
		snprintf(cap.last_debug, sizeof(cap.last_debug), "%s", msg);
	}
	if (level < SVA_LOG_WARN)
		return; /* count error lines only: debug lines are not errors */
	cap.lines++;
	snprintf(cap.last, sizeof(cap.last), "%s", msg);
}

#define ERR_ONE_LINE(expr, want, name)                                                                     \
	do {                                                                                               \
		int before_ = cap.lines;                                                                   \
		int r_ = (expr);                                                                           \
		is_int(r_, (want), "%s: %s", (name), #want);                                               \
		is_int(cap.lines - before_, 1, "%s: one log line (%s)", (name), cap.last);                \
	} while (0)

/* An expected outcome (libsva(7), Errors): no error line, one debug line. */
#define OUTCOME_DEBUG(expr, want, name)                                                                    \
	do {                                                                                               \
		int before_ = cap.lines, debug_ = cap.debug;                                               \
		int r_ = (expr);                                                                           \
		is_int(r_, (want), "%s: %s", (name), #want);                                               \
		is_int(cap.lines - before_, 0, "%s: no error line (%s)", (name), cap.last);               \
		is_int(cap.debug - debug_, 1, "%s: one debug line", (name));                               \
	} while (0)

static int ctx_init(struct sva_ctx *ctx, uint32_t gmin, uint32_t gmax)
{
	memset(ctx, 0, sizeof(*ctx));
	sva_log_init(&ctx->log, capture, NULL, SVA_LOG_DEBUG);
	ctx->global_pasid_min = gmin;
	ctx->global_pasid_max = gmax;
	return sva_ctx_pasids_init(ctx);
}

static void dev_init(struct sva_dev *dev, struct sva_ctx *ctx, uint32_t width, const char *name)
{
	memset(dev, 0, sizeof(*dev));
	dev->ctx = ctx;
	dev->fd = -1;
	dev->info.size = sizeof(dev->info);
	dev->info.max_pasid_log2 = width;
	snprintf(dev->info.path, sizeof(dev->info.path), "%s", name);
	if (sva_dev_pasids_init(dev))
		diag("sva_dev_pasids_init(%s) failed", name);
}

static bool range_is(struct sva_pasid_space *s, uint32_t min, uint32_t max)
{
	struct sva_pasid_stats st = { .size = sizeof(st) };

	return s && sva_pasid_stats(s, &st) == 0 && st.min == min && st.max == max;
}

static uint64_t allocated(struct sva_pasid_space *s)
{
	struct sva_pasid_stats st = { .size = sizeof(st) };

	sva_pasid_stats(s, &st);
	return st.allocated;
}

static void *tag(uintptr_t v)
{
	return (void *)(v * 16 + 8);
}

static void test_ctx_ranges(void)
{
	struct sva_ctx ctx;

	ok(ctx_init(&ctx, 0, 0) == 0, "ctx: 0/0 selects the defaults");
	ok(ctx.global_pasid_min == SVA_GLOBAL_PASID_MIN_DEFAULT && ctx.global_pasid_max == SVA_GLOBAL_PASID_MAX_DEFAULT,
	   "defaults written back: [%u, %u]", ctx.global_pasid_min, ctx.global_pasid_max);
	ok(sva_ctx_global_pasids(&ctx) == ctx.global_pasids && range_is(ctx.global_pasids, 256, SVA_PASID_MAX),
	   "sva_ctx_global_pasids: [256, 2^20-1]");
	ok(sva_ctx_global_pasids(NULL) == NULL, "sva_ctx_global_pasids(NULL) is NULL");
	sva_ctx_pasids_fini(&ctx);
	ok(ctx.global_pasids == NULL, "fini clears the pointer");
	cap.lines = cap.debug = 0;
	sva_ctx_pasids_fini(&ctx);
	ok(ctx.global_pasids == NULL && cap.lines == 0 && cap.debug == 0,
	   "fini twice is harmless: the pointer stays NULL, nothing logged (%d, %d)", cap.lines, cap.debug);

	ok(ctx_init(&ctx, 1000, 2000) == 0 && range_is(ctx.global_pasids, 1000, 2000), "custom [1000, 2000]");
	sva_ctx_pasids_fini(&ctx);
	ok(ctx_init(&ctx, 1, 0) == 0 && range_is(ctx.global_pasids, 1, SVA_PASID_MAX), "gmin 1 is allowed");
	sva_ctx_pasids_fini(&ctx);
	ERR_ONE_LINE(ctx_init(&ctx, 500, 400), -ERANGE, "ctx: inverted global range");
	ok(ctx.global_pasids == NULL, "no space on error");
	ERR_ONE_LINE(ctx_init(&ctx, 0, SVA_PASID_MAX + 1), -ERANGE, "ctx: global max beyond 2^20-1");
	ERR_ONE_LINE(ctx_init(&ctx, SVA_PASID_MAX + 1, 0), -ERANGE, "ctx: global min beyond the default max");
}

static void test_device_spaces(void)
{
	struct sva_ctx ctx;
	struct sva_dev none, w1, w2, w5, w8, w9, w19, w20, w32;

	ctx_init(&ctx, 0, 0);
	dev_init(&none, &ctx, 0, "none");
	dev_init(&w1, &ctx, 1, "w1");
	dev_init(&w2, &ctx, 2, "w2");
	dev_init(&w5, &ctx, 5, "w5");
	dev_init(&w8, &ctx, 8, "w8");
	dev_init(&w9, &ctx, 9, "w9");
	dev_init(&w19, &ctx, 19, "w19");
	dev_init(&w20, &ctx, 20, "w20");
	dev_init(&w32, &ctx, 32, "w32");
	ok(sva_dev_pasids(&none) == NULL, "width 0: no own space");
	ok(sva_dev_pasids(NULL) == NULL, "sva_dev_pasids(NULL) is NULL");
	ok(range_is(sva_dev_pasids(&w1), 1, 1), "width 1: [1, 1]");
	ok(range_is(sva_dev_pasids(&w2), 1, 3), "width 2 (3 SSIDs): [1, 3]");
	ok(range_is(sva_dev_pasids(&w5), 1, 31), "width 5: [1, 31]");
	ok(range_is(sva_dev_pasids(&w8), 1, 255), "width 8: [1, 255]");
	ok(range_is(sva_dev_pasids(&w9), 1, 255), "width 9: clipped below the global range, [1, 255]");
	ok(range_is(sva_dev_pasids(&w20), 1, 255), "width 20: [1, 255]");
	ok(range_is(sva_dev_pasids(&w32), 1, 255), "width 32 (clamped to 20): [1, 255]");

	struct sva_dev *all[] = { &none, &w1, &w2, &w5, &w8, &w9, &w19, &w20, &w32 };
	for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++)
		sva_dev_pasids_fini(all[i]);
	ok(w20.pasids == NULL, "dev fini clears the pointer");
	sva_ctx_pasids_fini(&ctx);

	/* A global range starting at 1 leaves no numbers of a device's own. */
	ctx_init(&ctx, 1, 0);
	dev_init(&w2, &ctx, 2, "w2");
	dev_init(&w20, &ctx, 20, "w20");
	ok(sva_dev_pasids(&w2) == NULL && sva_dev_pasids(&w20) == NULL,
	   "gmin 1: a device's width starts inside the global range, so no own space");
	sva_dev_pasids_fini(&w2);
	sva_dev_pasids_fini(&w20);
	sva_ctx_pasids_fini(&ctx);

	/* A narrow global range inside a device's width. */
	ctx_init(&ctx, 16, 300);
	dev_init(&w9, &ctx, 9, "w9");
	dev_init(&w2, &ctx, 2, "w2");
	ok(range_is(sva_dev_pasids(&w9), 1, 15) && range_is(sva_dev_pasids(&w2), 1, 3),
	   "global [16, 300]: own spaces [1, 15] and [1, 3]");
	sva_dev_pasids_fini(&w9);
	sva_dev_pasids_fini(&w2);
	sva_ctx_pasids_fini(&ctx);
}

static void test_policies(void)
{
	struct sva_ctx ctx;
	struct sva_dev none, narrow, mid, wide, wide2;
	uint32_t p = 0, q = 0;
	void *d;

	ctx_init(&ctx, 0, 0);
	dev_init(&none, &ctx, 0, "none");
	dev_init(&narrow, &ctx, 2, "narrow");
	dev_init(&mid, &ctx, 19, "mid");
	dev_init(&wide, &ctx, 20, "wide");
	dev_init(&wide2, &ctx, 20, "wide2");

	ERR_ONE_LINE(sva_dev_pasid_alloc(&none, SVA_PASID_AUTO, NULL, &p), -EOPNOTSUPP, "width 0, AUTO");
	ERR_ONE_LINE(sva_dev_pasid_alloc(&none, SVA_PASID_GLOBAL, NULL, &p), -EOPNOTSUPP, "width 0, GLOBAL");
	ERR_ONE_LINE(sva_dev_pasid_alloc(&none, SVA_PASID_DEVICE, NULL, &p), -EOPNOTSUPP, "width 0, DEVICE");
	ERR_ONE_LINE(sva_dev_pasid_free(&none, 5), -EOPNOTSUPP, "width 0, free");
	ERR_ONE_LINE(sva_dev_pasid_release(&none, 5), -EOPNOTSUPP, "width 0, release");
	OUTCOME_DEBUG(sva_dev_pasid_lookup(&none, 5, &d), -EOPNOTSUPP, "width 0, lookup");
	ERR_ONE_LINE(sva_dev_set_pasid_range(&none, 1, 1), -EOPNOTSUPP, "width 0, set range");
	/* sva_dev_pasid_alloc(3), the order of the errors: no PASID support
	 * comes before any value's -ERANGE, SVA_PASID_RID's and one beyond
	 * 2^20-1 included; the arguments' -EINVAL comes before it. */
	OUTCOME_DEBUG(sva_dev_pasid_lookup(&none, SVA_PASID_RID, &d), -EOPNOTSUPP, "width 0, lookup of SVA_PASID_RID");
	OUTCOME_DEBUG(sva_dev_pasid_lookup(&none, SVA_PASID_MAX + 1, &d), -EOPNOTSUPP, "width 0, lookup beyond 2^20-1");
	ERR_ONE_LINE(sva_dev_pasid_free(&none, SVA_PASID_RID), -EOPNOTSUPP, "width 0, free of SVA_PASID_RID");
	ERR_ONE_LINE(sva_dev_pasid_release(&none, SVA_PASID_MAX + 1), -EOPNOTSUPP, "width 0, release beyond 2^20-1");
	ERR_ONE_LINE(sva_dev_pasid_alloc(&none, (enum sva_pasid_policy)7, NULL, &p), -EINVAL,
		     "width 0, bad policy: -EINVAL first");
	ERR_ONE_LINE(sva_dev_pasid_alloc(&none, SVA_PASID_AUTO, NULL, NULL), -EINVAL,
		     "width 0, NULL pasid pointer: -EINVAL first");
	ERR_ONE_LINE(sva_dev_pasid_alloc(&wide, (enum sva_pasid_policy)7, NULL, &p), -EINVAL, "bad policy");
	is_int(sva_dev_pasid_alloc(&wide, SVA_PASID_AUTO, NULL, NULL), -EINVAL, "NULL pasid pointer");
	is_int(sva_dev_pasid_alloc(NULL, SVA_PASID_AUTO, NULL, &p), -EINVAL, "NULL device");

	ok(sva_dev_pasid_alloc(&wide, SVA_PASID_GLOBAL, tag(1), &p) == 0 && p == 256, "wide GLOBAL: 256 (got %u)", p);
	ok(sva_dev_pasid_alloc(&wide, SVA_PASID_AUTO, tag(2), &p) == 0 && p == 257, "wide AUTO: global 257 (got %u)",
	   p);
	ok(sva_dev_pasid_alloc(&wide, SVA_PASID_DEVICE, tag(3), &q) == 0 && q == 1, "wide DEVICE: own 1 (got %u)", q);
	ok(sva_dev_pasid_lookup(&wide, 256, &d) == 0 && d == tag(1), "a global PASID is found through its device");
	d = NULL;
	ok(sva_dev_pasid_lookup(&wide2, 256, &d) == -ENOENT && d == NULL,
	   "drvdata is per (device, PASID): another covering device has nothing under 256");
	ok(sva_pasid_lookup(sva_ctx_global_pasids(&ctx), 256, &d) == 0 && d == tag(1),
	   "the global space itself still has the allocation's drvdata");
	is_int(sva_dev_pasid_lookup(&wide2, 1, &d), -ENOENT, "own PASID 1 of wide is not wide2's");
	ERR_ONE_LINE(sva_dev_pasid_alloc(&mid, SVA_PASID_GLOBAL, NULL, &p), -ERANGE,
		     "GLOBAL on a 19-bit device (does not cover 2^20-1)");
	ERR_ONE_LINE(sva_dev_pasid_alloc(&narrow, SVA_PASID_GLOBAL, NULL, &p), -ERANGE, "GLOBAL on a 3-SSID device");
	ok(sva_dev_pasid_alloc(&mid, SVA_PASID_AUTO, NULL, &p) == 0 && p == 1,
	   "mid AUTO: its own space (does not cover), 1 (got %u)", p);
	OUTCOME_DEBUG(sva_dev_pasid_lookup(&mid, 256, &d), -ERANGE, "a global value on a non-covering device");
	ERR_ONE_LINE(sva_dev_pasid_free(&mid, 256), -ERANGE, "free of a global value on a non-covering device");
	ok(sva_dev_pasid_lookup(&wide, 256, &d) == 0, "which left the global PASID alone");

	ok(sva_dev_pasid_alloc(&narrow, SVA_PASID_DEVICE, tag(11), &p) == 0 && p == 1, "narrow DEVICE: 1");
	ok(sva_dev_pasid_alloc(&narrow, SVA_PASID_AUTO, tag(12), &p) == 0 && p == 2, "narrow AUTO: 2");
	ok(sva_dev_pasid_alloc(&narrow, SVA_PASID_AUTO, tag(13), &p) == 0 && p == 3, "narrow AUTO: 3");
	OUTCOME_DEBUG(sva_dev_pasid_alloc(&narrow, SVA_PASID_AUTO, NULL, &p), -ENOSPC, "narrow AUTO: full");
	OUTCOME_DEBUG(sva_dev_pasid_alloc(&narrow, SVA_PASID_DEVICE, NULL, &p), -ENOSPC, "narrow DEVICE: full");

	/* Routing by value. */
	ok(sva_dev_pasid_lookup(&narrow, 2, &d) == 0 && d == tag(12), "lookup 2 on narrow: its own space");
	ok(sva_dev_pasid_free(&narrow, 2) == 0, "free 2 on narrow");
	ok(sva_pasid_lookup(sva_dev_pasids(&narrow), 2, &d) == -ENOENT, "gone from narrow's own space");
	ok(sva_dev_pasid_release(&narrow, 2) == 0 && sva_pasid_barrier(sva_dev_pasids(&narrow)) == 1,
	   "release 2 on narrow, barrier on its space");
	ok(sva_dev_pasid_alloc(&narrow, SVA_PASID_AUTO, NULL, &p) == 0 && p == 2, "2 is allocatable again");
	ERR_ONE_LINE(sva_dev_pasid_free(&narrow, 4), -ERANGE, "narrow free 4: outside [1, 3], below global");
	ERR_ONE_LINE(sva_dev_pasid_free(&wide, 256 + 1000), -ENOENT, "wide free of an unallocated global PASID");
	ERR_ONE_LINE(sva_dev_pasid_free(&wide, SVA_PASID_MAX + 1), -ERANGE, "wide free beyond 2^20-1");
	OUTCOME_DEBUG(sva_dev_pasid_lookup(&wide, SVA_PASID_RID, &d), -ERANGE, "wide lookup of SVA_PASID_RID: -ERANGE");
	OUTCOME_DEBUG(sva_dev_pasid_lookup(&narrow, SVA_PASID_RID, &d), -ERANGE,
		      "narrow (not covering) lookup of SVA_PASID_RID: -ERANGE");
	ERR_ONE_LINE(sva_dev_pasid_release(&narrow, 4), -ERANGE,
		     "narrow release of 4: -ERANGE, not the -EINVAL of a value never allocated");
	ok(sva_dev_pasid_free(&wide2, 257) == 0, "a global PASID can be freed through another covering device");
	ERR_ONE_LINE(sva_dev_pasid_release(&wide, 258), -EINVAL, "release of a never-allocated global PASID");
	ok(sva_dev_pasid_release(&wide, 257) == 0, "released through the first device");
	ERR_ONE_LINE(sva_dev_pasid_free(&wide, 257), -ENOENT, "double free via the device");

	{
		int owner;
		void *o;

		ok(sva_dev_pasid_alloc_owned(&wide, SVA_PASID_AUTO, &owner, tag(9), &p) == 0, "owned alloc (AUTO)");
		ok(sva_dev_pasid_lookup_owner(&wide2, p, &o, &d) == 0 && o == &owner && d == tag(9),
		   "lookup_owner through another device");
		ERR_ONE_LINE(sva_dev_pasid_free(&wide, p), -EBUSY, "public free of a bound PASID");
		ok(sva_dev_pasid_free_owned(&wide, p, &owner) == 0, "owner frees it");
		ok(sva_dev_pasid_lookup_owner(&wide, p, &o, &d) == -ENOENT, "lookup_owner: -ENOENT");
		ok(sva_dev_pasid_lookup_owner(&none, 5, &o, &d) == -EOPNOTSUPP, "lookup_owner on width 0");
		ok(sva_dev_pasid_lookup_owner(&mid, 300, &o, &d) == -ERANGE, "lookup_owner: global on non-covering");
		ok(sva_dev_pasid_space_of(&narrow, 3) == sva_dev_pasids(&narrow) &&
			   sva_dev_pasid_space_of(&wide, 300) == ctx.global_pasids &&
			   sva_dev_pasid_space_of(&mid, 300) == NULL && sva_dev_pasid_space_of(&none, 3) == NULL,
		   "sva_dev_pasid_space_of routes by value");
	}

	struct sva_dev *all[] = { &none, &narrow, &mid, &wide, &wide2 };
	for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++)
		sva_dev_pasids_fini(all[i]);
	sva_ctx_pasids_fini(&ctx);
}

/* AUTO falls back to the device's own space only when the global one is full. */
static void test_auto_fallback(void)
{
	struct sva_ctx ctx;
	struct sva_dev wide;
	uint32_t p = 0;
	int n = 0, before;
	bool global_first = true;

	ctx_init(&ctx, 256, 300); /* 45 global PASIDs */
	dev_init(&wide, &ctx, 20, "wide");
	for (n = 0; n < 45; n++)
		if (sva_dev_pasid_alloc(&wide, SVA_PASID_AUTO, NULL, &p) || p != 256u + (uint32_t)n)
			global_first = false;
	ok(global_first, "AUTO on a covering device takes the global range first (256..300)");
	before = cap.lines;
	ok(sva_dev_pasid_alloc(&wide, SVA_PASID_AUTO, NULL, &p) == 0 && p == 1,
	   "global full: AUTO falls back to the own space (got %u)", p);
	is_int(cap.lines - before, 0, "the fallback logs no error");
	OUTCOME_DEBUG(sva_dev_pasid_alloc(&wide, SVA_PASID_GLOBAL, NULL, &p), -ENOSPC, "GLOBAL when full: -ENOSPC");
	sva_dev_pasid_free(&wide, 300);
	sva_dev_pasid_release(&wide, 300);
	sva_pasid_barrier(ctx.global_pasids);
	ok(sva_dev_pasid_alloc(&wide, SVA_PASID_AUTO, NULL, &p) == 0 && p == 300,
	   "a global PASID back in the pool is preferred again (got %u)", p);
	for (n = 0; n < 254; n++)
		sva_dev_pasid_alloc(&wide, SVA_PASID_DEVICE, NULL, &p);
	OUTCOME_DEBUG(sva_dev_pasid_alloc(&wide, SVA_PASID_AUTO, NULL, &p), -ENOSPC, "AUTO when both are full");
	ok(strstr(cap.last_debug, "global space [256, 300]") && strstr(cap.last_debug, "device's own"),
	   "  its line names both spaces (%s)", cap.last_debug);
	sva_dev_pasids_fini(&wide);
	sva_ctx_pasids_fini(&ctx);

	/* gmin 1: nothing below the global range. */
	ctx_init(&ctx, 1, 0);
	{
		struct sva_dev narrow;

		dev_init(&narrow, &ctx, 2, "narrow");
		dev_init(&wide, &ctx, 20, "wide");
		ERR_ONE_LINE(sva_dev_pasid_alloc(&wide, SVA_PASID_DEVICE, NULL, &p), -ERANGE, "DEVICE with no own space");
		ERR_ONE_LINE(sva_dev_pasid_alloc(&narrow, SVA_PASID_AUTO, NULL, &p), -ERANGE,
			     "AUTO on a device with neither space");
		ok(sva_dev_pasid_alloc(&wide, SVA_PASID_AUTO, NULL, &p) == 0 && p == 1, "AUTO on wide: global 1");
		ERR_ONE_LINE(sva_dev_set_pasid_range(&wide, 1, 1), -ERANGE, "set range with no own space");
		sva_dev_pasids_fini(&narrow);
		sva_dev_pasids_fini(&wide);
	}
	sva_ctx_pasids_fini(&ctx);
}

/* The 3-SSID device is never starved, however many wide devices allocate. */
static void test_starvation(void)
{
	enum { NWIDE = 32 };
	struct sva_ctx ctx;
	struct sva_dev wide[NWIDE], narrow;
	uint32_t p, got[3];
	int total = 0, n = 0;
	bool all_full = true;

	/* A small global range, so the wide devices exhaust everything they can. */
	ctx_init(&ctx, 256, 4095);
	for (int i = 0; i < NWIDE; i++) {
		char name[16];

		snprintf(name, sizeof(name), "wide%d", i);
		dev_init(&wide[i], &ctx, 20, name);
	}
	dev_init(&narrow, &ctx, 2, "narrow");
	/* Round-robin AUTO allocations until every wide device is refused. */
	for (bool progress = true; progress;) {
		progress = false;
		for (int i = 0; i < NWIDE; i++)
			if (sva_dev_pasid_alloc(&wide[i], SVA_PASID_AUTO, NULL, &p) == 0)
				progress = true, total++;
	}
	is_int(total, (4095 - 256 + 1) + NWIDE * 255,
	       "%d wide devices under AUTO took the whole global range and all their own spaces", NWIDE);
	for (int i = 0; i < NWIDE; i++)
		if (allocated(sva_dev_pasids(&wide[i])) != 255)
			all_full = false;
	ok(all_full, "each wide device's own space is full");
	while (n < 3 && sva_dev_pasid_alloc(&narrow, SVA_PASID_AUTO, NULL, &got[n]) == 0)
		n++;
	ok(n == 3 && got[0] == 1 && got[1] == 2 && got[2] == 3, "the 3-SSID device still gets 1, 2, 3 under AUTO");
	is_int(sva_dev_pasid_alloc(&narrow, SVA_PASID_AUTO, NULL, &p), -ENOSPC, "and only those");
	for (int i = 0; i < NWIDE; i++)
		sva_dev_pasids_fini(&wide[i]);
	sva_dev_pasids_fini(&narrow);
	sva_ctx_pasids_fini(&ctx);

	/* The default range: wide devices take many global PASIDs, none below 256. */
	ctx_init(&ctx, 0, 0);
	dev_init(&wide[0], &ctx, 20, "wide");
	dev_init(&narrow, &ctx, 2, "narrow");
	bool above = true;
	for (int i = 0; i < 50000; i++)
		if (sva_dev_pasid_alloc(&wide[0], SVA_PASID_AUTO, NULL, &p) || p < 256)
			above = false;
	ok(above, "default range: 50000 AUTO allocations of a wide device are all >= 256");
	ok(sva_dev_pasid_alloc(&narrow, SVA_PASID_AUTO, NULL, &p) == 0 && p == 1, "the 3-SSID device gets 1");
	sva_dev_pasids_fini(&wide[0]);
	sva_dev_pasids_fini(&narrow);
	sva_ctx_pasids_fini(&ctx);
}

static void test_set_range(void)
{
	struct sva_ctx ctx;
	struct sva_dev narrow, wide;
	struct sva_pasid_space *before;
	uint32_t p;

	ctx_init(&ctx, 0, 0);
	dev_init(&narrow, &ctx, 2, "narrow");
	dev_init(&wide, &ctx, 20, "wide");
	before = sva_dev_pasids(&narrow);
	ERR_ONE_LINE(sva_dev_set_pasid_range(&narrow, 3, 2), -EINVAL, "inverted");
	ERR_ONE_LINE(sva_dev_set_pasid_range(&narrow, 0, 2), -ERANGE, "min 0 (not a PASID)");
	ERR_ONE_LINE(sva_dev_set_pasid_range(&narrow, 1, 4), -ERANGE, "beyond the device's width");
	ERR_ONE_LINE(sva_dev_set_pasid_range(&wide, 1, 256), -ERANGE, "into the global range");
	ERR_ONE_LINE(sva_dev_set_pasid_range(&wide, 300, 400), -ERANGE, "entirely in the global range");
	ok(range_is(sva_dev_pasids(&narrow), 1, 3), "errors changed nothing");
	ok(sva_dev_set_pasid_range(&narrow, 2, 3) == 0 && range_is(sva_dev_pasids(&narrow), 2, 3),
	   "narrowed to [2, 3]");
	ok(sva_dev_pasids(&narrow) == before, "the space pointer is unchanged (narrowed in place)");
	ok(sva_dev_pasid_alloc(&narrow, SVA_PASID_DEVICE, NULL, &p) == 0 && p == 2, "allocates 2");
	OUTCOME_DEBUG(sva_dev_pasid_lookup(&narrow, 1, NULL), -ERANGE, "1 is outside the narrowed space");
	ERR_ONE_LINE(sva_dev_set_pasid_range(&narrow, 1, 3), -EBUSY, "busy: a PASID is allocated");
	sva_dev_pasid_free(&narrow, 2);
	ERR_ONE_LINE(sva_dev_set_pasid_range(&narrow, 1, 3), -EBUSY, "busy: a PASID is quarantined");
	sva_dev_pasid_release(&narrow, 2);
	sva_pasid_barrier(sva_dev_pasids(&narrow));
	ok(sva_dev_set_pasid_range(&narrow, 1, 3) == 0 && range_is(sva_dev_pasids(&narrow), 1, 3),
	   "widened back to [1, 3] once idle");
	ok(sva_dev_set_pasid_range(&wide, 100, 255) == 0 && range_is(sva_dev_pasids(&wide), 100, 255),
	   "wide: [100, 255]");
	ok(sva_dev_pasid_alloc(&wide, SVA_PASID_DEVICE, NULL, &p) == 0 && p == 100, "allocates 100");
	is_int(sva_dev_set_pasid_range(NULL, 1, 2), -EINVAL, "NULL device");

	/* "Allocation restarts from min", also where the space had moved past
	 * it: without the call the next value would be the one after the last
	 * (sva_pasid_alloc(3) does not reuse a value at once). */
	{
		uint32_t a = 0, b = 0, c = 0;

		sva_dev_pasid_free(&wide, p);
		sva_dev_pasid_release(&wide, p);
		sva_pasid_barrier(sva_dev_pasids(&wide));
		ok(sva_dev_set_pasid_range(&wide, 1, 255) == 0, "wide, idle again: back to [1, 255]");
		ok(sva_dev_pasid_alloc(&wide, SVA_PASID_DEVICE, NULL, &a) == 0 &&
			   sva_dev_pasid_alloc(&wide, SVA_PASID_DEVICE, NULL, &b) == 0 && a == 1 && b == 2,
		   "allocates 1 and 2");
		sva_dev_pasid_free(&wide, a);
		sva_dev_pasid_free(&wide, b);
		sva_dev_pasid_release(&wide, a);
		sva_dev_pasid_release(&wide, b);
		sva_pasid_barrier(sva_dev_pasids(&wide));
		is_int(sva_dev_pasid_alloc(&wide, SVA_PASID_DEVICE, NULL, &c), 0, "allocates again");
		is_int(c, 3, "  without the call the next is 3");
		sva_dev_pasid_free(&wide, c);
		sva_dev_pasid_release(&wide, c);
		sva_pasid_barrier(sva_dev_pasids(&wide));
		ok(sva_dev_set_pasid_range(&wide, 1, 255) == 0, "the same range set again, the space idle");
		c = 0;
		is_int(sva_dev_pasid_alloc(&wide, SVA_PASID_DEVICE, NULL, &c), 0, "allocates after it");
		is_int(c, 1, "  allocation restarts from min: 1");
	}
	sva_dev_pasids_fini(&narrow);
	sva_dev_pasids_fini(&wide);
	sva_ctx_pasids_fini(&ctx);
}

/*
 * sva_dev_set_pasid_range(3), the order of its errors, each pair of them at
 * once: a NULL dev; then an inverted range (-EINVAL, the arguments alone say
 * so); then no PASID support (-EOPNOTSUPP); then the bounds (-ERANGE: no own
 * space, min 0, beyond the width, into the global range or outside a broker's
 * block); then the state (-EBUSY).  Each error changes nothing.
 */
#define RANGE_ERR(dev, min, max, want, why, name)                                                          \
	do {                                                                                               \
		ERR_ONE_LINE(sva_dev_set_pasid_range((dev), (min), (max)), want, name);                    \
		ok(strstr(cap.last, (why)) != NULL, "  %s: the line says \"%s\" (%s)", (name), (why), cap.last); \
	} while (0)

static void test_set_range_order(void)
{
	static char conn;
	struct sva_ctx ctx, ctx1, bctx;
	struct sva_dev none, narrow, wide, noown, leased, noblock;
	uint32_t p = 0;

	ctx_init(&ctx, 0, 0);
	dev_init(&none, &ctx, 0, "none");
	dev_init(&narrow, &ctx, 2, "narrow");
	dev_init(&wide, &ctx, 20, "wide");
	ctx_init(&ctx1, 1, 0); /* no device has an own space */
	dev_init(&noown, &ctx1, 20, "noown");

	/* A NULL dev before everything; its line goes to the process-wide log. */
	sva_log_init((struct sva_log *)sva_log_default(), capture, NULL, SVA_LOG_DEBUG);
	RANGE_ERR(NULL, 5, 4, -EINVAL, "NULL device", "NULL dev and inverted");
	RANGE_ERR(NULL, 0, SVA_PASID_MAX + 1, -EINVAL, "NULL device", "NULL dev and out of every range");
	sva_log_init((struct sva_log *)sva_log_default(), NULL, NULL, SVA_LOG_DEFAULT);

	/* Inverted before the device's answers. */
	RANGE_ERR(&none, 5, 4, -EINVAL, "inverted", "inverted on width 0: -EINVAL before -EOPNOTSUPP");
	RANGE_ERR(&noown, 5, 4, -EINVAL, "inverted", "inverted with no own space: -EINVAL before -ERANGE");
	RANGE_ERR(&narrow, 10, 5, -EINVAL, "inverted", "inverted and beyond the width: -EINVAL before -ERANGE");
	RANGE_ERR(&wide, 400, 300, -EINVAL, "inverted", "inverted and in the global range: -EINVAL before -ERANGE");
	RANGE_ERR(&wide, SVA_PASID_MAX + 2, SVA_PASID_MAX + 1, -EINVAL, "inverted",
		  "inverted and beyond 2^20-1: -EINVAL before -ERANGE");

	/* No PASID support before the bounds. */
	RANGE_ERR(&none, 0, 2, -EOPNOTSUPP, "no PASID support", "width 0 and min 0: -EOPNOTSUPP before -ERANGE");
	RANGE_ERR(&none, 1, SVA_PASID_MAX + 1, -EOPNOTSUPP, "no PASID support",
		  "width 0 and max beyond 2^20-1: -EOPNOTSUPP before -ERANGE");

	/* Both -ERANGE: no own space is the reason given, whatever the bounds. */
	RANGE_ERR(&noown, 0, 3, -ERANGE, "no own PASID space", "no own space and min 0");
	RANGE_ERR(&noown, 1, SVA_PASID_MAX + 1, -ERANGE, "no own PASID space", "no own space and beyond 2^20-1");
	ok(sva_dev_pasids(&noown) == NULL, "  still no own space");

	/* The bounds before the state: a busy space out of bounds is -ERANGE. */
	ok(sva_dev_pasid_alloc(&narrow, SVA_PASID_DEVICE, NULL, &p) == 0 && p == 1, "narrow: 1 allocated");
	RANGE_ERR(&narrow, 0, 3, -ERANGE, "outside the device's own range", "busy and min 0: -ERANGE before -EBUSY");
	RANGE_ERR(&narrow, 1, 4, -ERANGE, "outside the device's own range",
		  "busy and beyond the width: -ERANGE before -EBUSY");
	RANGE_ERR(&narrow, 3, 2, -EINVAL, "inverted", "busy and inverted: -EINVAL before -EBUSY");
	RANGE_ERR(&narrow, 2, 3, -EBUSY, "allocated", "busy alone: -EBUSY");
	ok(range_is(sva_dev_pasids(&narrow), 1, 3) && allocated(sva_dev_pasids(&narrow)) == 1,
	   "  none of it changed the range or the allocation");
	ok(sva_dev_pasid_free(&narrow, 1) == 0, "narrow: 1 freed, in quarantine");
	RANGE_ERR(&wide, 1, 256, -ERANGE, "outside the device's own range", "wide into the global range");
	RANGE_ERR(&narrow, 2, 4, -ERANGE, "outside the device's own range",
		  "quarantined and beyond the width: -ERANGE before -EBUSY");
	RANGE_ERR(&narrow, 2, 3, -EBUSY, "quarantine", "quarantined alone: -EBUSY");

	/* A broker client: its block is the bound, the same order. */
	ctx_init(&bctx, 300, 315);
	bctx.broker = (struct sva_broker_conn *)(void *)&conn;
	dev_init(&leased, &bctx, 4, "leased");
	dev_init(&noblock, &bctx, 20, "noblock");
	ok(sva_dev_pasids_lease(&leased, 5, 8, false) == 0 && sva_dev_pasids_lease(&noblock, 0, 0, false) == 0,
	   "broker: leased [5, 8] to one device, nothing to the other");
	RANGE_ERR(&noblock, 9, 8, -EINVAL, "inverted", "broker, no block, inverted: -EINVAL before -ERANGE");
	RANGE_ERR(&noblock, 1, 1, -ERANGE, "leased this client no block", "broker, no block");
	ok(sva_dev_pasid_alloc(&leased, SVA_PASID_DEVICE, NULL, &p) == 0 && p == 5, "broker: 5 allocated");
	RANGE_ERR(&leased, 4, 8, -ERANGE, "the block the broker leased", "broker, busy and below the block");
	RANGE_ERR(&leased, 6, 5, -EINVAL, "inverted", "broker, busy and inverted");
	RANGE_ERR(&leased, 6, 8, -EBUSY, "allocated", "broker, busy alone");
	ok(range_is(sva_dev_pasids(&leased), 5, 8), "  the block's range is unchanged");

	struct sva_dev *all[] = { &none, &narrow, &wide, &noown, &leased, &noblock };
	for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++)
		sva_dev_pasids_fini(all[i]);
	sva_ctx_pasids_fini(&ctx);
	sva_ctx_pasids_fini(&ctx1);
	sva_ctx_pasids_fini(&bctx);
}

/*
 * sva_dev_pasids(3)'s table, one row per width, under the default global
 * range [256, 2^20-1]: the own space, whether the device covers the global
 * range, and what each call of sva_dev_pasid_alloc(3) and
 * sva_dev_set_pasid_range(3) answers for it.  The mock device has widths 0
 * and 20 only, so the narrow rows are tested here.
 */
static void test_width_table(void)
{
	static const struct {
		uint32_t width, own_max;
		bool covers;
	} row[] = {
		{ 1, 1, false }, { 2, 3, false }, { 8, 255, false }, { 19, 255, false }, { 20, 255, true },
	};
	struct sva_ctx ctx;

	ctx_init(&ctx, 0, 0);
	for (size_t i = 0; i < sizeof(row) / sizeof(row[0]); i++) {
		struct sva_dev d;
		char name[16];
		uint32_t w = row[i].width, wmax = (1u << w) - 1, p = 0, own = 0;
		void *dd;

		snprintf(name, sizeof(name), "w%u", w);
		dev_init(&d, &ctx, w, name);
		ok(range_is(sva_dev_pasids(&d), 1, row[i].own_max), "%s: own space [1, %u]", name, row[i].own_max);
		if (row[i].covers) {
			ok(sva_dev_pasid_alloc(&d, SVA_PASID_GLOBAL, NULL, &p) == 0 && p >= 256, "%s: GLOBAL gives %u",
			   name, p);
			ok(sva_dev_pasid_free(&d, p) == 0 && sva_dev_pasid_release(&d, p) == 0, "%s: freed, released",
			   name);
			ok(sva_dev_pasid_alloc(&d, SVA_PASID_AUTO, NULL, &p) == 0 && p >= 256,
			   "%s: AUTO gives a global value, %u", name, p);
			ok(sva_dev_pasid_free(&d, p) == 0 && sva_dev_pasid_release(&d, p) == 0, "%s: freed, released",
			   name);
			OUTCOME_DEBUG(sva_dev_pasid_lookup(&d, SVA_PASID_MAX, &dd), -ENOENT,
				      "covering: the last global value is in reach, not allocated");
		} else {
			ERR_ONE_LINE(sva_dev_pasid_alloc(&d, SVA_PASID_GLOBAL, NULL, &p), -ERANGE,
				     "GLOBAL on a device that does not cover the global range");
			ok(strstr(cap.last, "below the global range's end") != NULL, "  %s: its line says why (%s)",
			   name, cap.last);
			ok(sva_dev_pasid_alloc(&d, SVA_PASID_AUTO, NULL, &own) == 0 && own == 1,
			   "%s: AUTO falls to the own space, 1 (got %u)", name, own);
			ok(sva_dev_pasid_free(&d, own) == 0 && sva_dev_pasid_release(&d, own) == 0 &&
				   sva_pasid_barrier(sva_dev_pasids(&d)) == 1,
			   "%s: freed, released, barrier", name);
			ERR_ONE_LINE(sva_dev_pasid_free(&d, 256), -ERANGE, "free of a global value on a narrow device");
			OUTCOME_DEBUG(sva_dev_pasid_lookup(&d, 256, &dd), -ERANGE,
				      "lookup of a global value on a narrow device");
		}
		if (wmax < 255) {
			/* Within the width, below the global range: beyond the width only. */
			ERR_ONE_LINE(sva_dev_pasid_free(&d, wmax + 1), -ERANGE, "free just beyond the width");
			OUTCOME_DEBUG(sva_dev_pasid_lookup(&d, wmax + 1, &dd), -ERANGE, "lookup just beyond the width");
			ERR_ONE_LINE(sva_dev_set_pasid_range(&d, 1, wmax + 1), -ERANGE,
				     "set_pasid_range just beyond the width");
		}
		ERR_ONE_LINE(sva_dev_set_pasid_range(&d, 1, 256), -ERANGE, "set_pasid_range into the global range");
		ok(range_is(sva_dev_pasids(&d), 1, row[i].own_max), "%s: the errors changed nothing", name);
		ok(sva_dev_set_pasid_range(&d, row[i].own_max, row[i].own_max) == 0 &&
			   range_is(sva_dev_pasids(&d), row[i].own_max, row[i].own_max),
		   "%s: the last own value alone fits, [%u, %u]", name, row[i].own_max, row[i].own_max);
		ok(sva_dev_set_pasid_range(&d, 1, row[i].own_max) == 0 &&
			   sva_dev_pasid_alloc(&d, SVA_PASID_DEVICE, NULL, &own) == 0 && own == 1,
		   "%s: the whole own range again, DEVICE gives 1 (got %u)", name, own);
		sva_dev_pasids_fini(&d);
	}
	sva_ctx_pasids_fini(&ctx);
}

static void bond_init(struct sva_bond *b, struct sva_dev *dev, struct sva_mm *mm, uint32_t flags)
{
	memset(b, 0, sizeof(*b));
	b->dev = dev;
	b->mm = mm;
	b->flags = flags;
}

static uint64_t global_allocated(struct sva_ctx *ctx, uint64_t *quarantined)
{
	struct sva_pasid_stats st = { .size = sizeof(st) };

	sva_pasid_stats(ctx->global_pasids, &st);
	*quarantined = st.quarantined;
	return st.allocated;
}

/*
 * Which value a bond binds under (bond_pasid.c), without a kernel: an address
 * space's global PASID is shared by GLOBAL and AUTO binds on covering devices,
 * a device that cannot cover it is refused (GLOBAL) or gets its own number
 * (AUTO), EXTRA_PASID is private, and the last user quarantines the value.
 */
static void test_shared_global(void)
{
	struct sva_bond a, b, c, d, e;
	struct sva_dev wide, wide2, mid;
	struct sva_mm mm;
	struct sva_ctx ctx;
	uint64_t q;
	void *data;

	ctx_init(&ctx, 256, 0);
	pthread_mutex_init(&ctx.pasid_lock, NULL);
	dev_init(&wide, &ctx, 20, "wide");
	dev_init(&wide2, &ctx, 20, "wide2");
	dev_init(&mid, &ctx, 19, "mid");
	memset(&mm, 0, sizeof(mm));
	mm.ctx = &ctx;

	bond_init(&a, &wide, &mm, 0);
	a.drvdata = tag(21);
	is_int(sva_bond_pasid_get(&wide, &a, SVA_PASID_GLOBAL, false, 0), 0, "GLOBAL on wide");
	is_int(a.pasid, 256, "the address space's global PASID is 256");
	ok(mm.gshare && mm.gshare->pasid == 256, "recorded as the address space's");
	bond_init(&b, &wide2, &mm, 0);
	b.drvdata = tag(22);
	is_int(sva_bond_pasid_get(&wide2, &b, SVA_PASID_AUTO, false, 0), 0, "AUTO on wide2");
	is_int(b.pasid, 256, "joins 256");
	bond_init(&c, &mid, &mm, 0);
	ERR_ONE_LINE(sva_bond_pasid_get(&mid, &c, SVA_PASID_GLOBAL, false, 0), -ERANGE,
		     "GLOBAL on a device that cannot cover the address space's global PASID");
	ok(c.share == NULL && global_allocated(&ctx, &q) == 1 && mm.gshare->users == 2, "nothing changed");
	is_int(sva_bond_pasid_get(&mid, &c, SVA_PASID_AUTO, false, 0), 0, "AUTO on that device");
	is_int(c.pasid, 1, "gets a number of its own space");
	bond_init(&d, &wide, &mm, SVA_BIND_EXTRA_PASID);
	is_int(sva_bond_pasid_get(&wide, &d, SVA_PASID_GLOBAL, false, 0), 0, "EXTRA_PASID, GLOBAL");
	is_int(d.pasid, 257, "a private global PASID");
	bond_init(&e, &wide2, &mm, SVA_BIND_PASID);
	is_int(sva_bond_pasid_get(&wide2, &e, SVA_PASID_AUTO, true, 257), -EBUSY,
	       "another bond's private PASID cannot be chosen");
	is_int(sva_pasid_free(ctx.global_pasids, 256), -EBUSY, "the driver cannot free the shared value");

	ok(sva_pasid_lookup(ctx.global_pasids, 256, &data) == 0 && data == tag(21),
	   "the global space has the first bond's drvdata");
	sva_bond_pasid_put(&a);
	ok(global_allocated(&ctx, &q) == 2 && q == 0 && mm.gshare, "one bond gone: 256 stays allocated");
	ok(sva_pasid_lookup(ctx.global_pasids, 256, &data) == 0 && data == tag(22),
	   "with the remaining bond's drvdata, not the departed one's");
	sva_bond_pasid_put(&b);
	ok(global_allocated(&ctx, &q) == 1 && q == 1 && !mm.gshare, "the last: 256 quarantined, once");
	is_int(sva_pasid_barrier(ctx.global_pasids), 1, "and released");
	sva_bond_pasid_put(&d);
	sva_bond_pasid_put(&c);
	ok(global_allocated(&ctx, &q) == 0 && sva_pasid_lookup(mid.pasids, 1, NULL) == -ENOENT, "all gone");

	/* A driver's PASID: bound by two devices, back to the driver after. */
	uint32_t v;

	is_int(sva_dev_pasid_alloc(&wide, SVA_PASID_GLOBAL, &v, &v), 0, "the driver allocates a global PASID");
	bond_init(&a, &wide, &mm, SVA_BIND_PASID);
	bond_init(&b, &wide2, &mm, SVA_BIND_PASID);
	ok(sva_bond_pasid_get(&wide, &a, SVA_PASID_AUTO, true, v) == 0 &&
		   sva_bond_pasid_get(&wide2, &b, SVA_PASID_AUTO, true, v) == 0 && a.share == b.share,
	   "two devices bind under it");
	ERR_ONE_LINE(sva_bond_pasid_get(&mid, &c, SVA_PASID_AUTO, true, v), -ERANGE,
		     "a device that cannot reach it: -ERANGE");
	sva_bond_pasid_put(&a);
	sva_bond_pasid_put(&b);
	ok(sva_dev_pasid_lookup(&wide, v, &data) == 0 && data == &v, "the driver has it back, with its drvdata");
	is_int(sva_dev_pasid_free(&wide, v), 0, "and frees it");

	sva_dev_pasids_fini(&wide);
	sva_dev_pasids_fini(&wide2);
	sva_dev_pasids_fini(&mid);
	sva_ctx_pasids_fini(&ctx);
	pthread_mutex_destroy(&ctx.pasid_lock);
}

/*
 * A broker client's device: no own space until the broker's lease, which is
 * then its own space under the usual rules, bounded by the block; a device
 * whose blocks are all leased says -ENOSPC (an outcome), a lease the device
 * cannot have -EPROTO.
 */
static void test_broker_lease(void)
{
	static char conn; /* only ctx->broker's being set matters here */
	struct sva_ctx ctx;
	struct sva_dev none, full, leased, bad;
	void *d;
	uint32_t p;

	ctx_init(&ctx, 300, 315); /* the client's block of the broker's range */
	ctx.broker = (struct sva_broker_conn *)(void *)&conn;
	dev_init(&none, &ctx, 20, "none");
	ok(sva_dev_pasids(&none) == NULL, "broker device: no own space before the lease");
	ok(sva_dev_pasids_lease(&none, 0, 0, false) == 0 && sva_dev_pasids(&none) == NULL,
	   "a device with no own PASIDs at the broker: none after it");
	ERR_ONE_LINE(sva_dev_pasid_alloc(&none, SVA_PASID_DEVICE, NULL, &p), -ERANGE, "DEVICE with none");
	dev_init(&full, &ctx, 4, "full");
	ok(sva_dev_pasids_lease(&full, 0, 0, true) == 0 && sva_dev_pasids(&full) == NULL,
	   "every block leased: no own space");
	OUTCOME_DEBUG(sva_dev_pasid_alloc(&full, SVA_PASID_DEVICE, NULL, &p), -ENOSPC, "DEVICE with no block left");
	OUTCOME_DEBUG(sva_dev_pasid_alloc(&full, SVA_PASID_AUTO, NULL, &p), -ENOSPC,
		      "AUTO on a narrow device with no block left");
	dev_init(&bad, &ctx, 20, "bad");
	ERR_ONE_LINE(sva_dev_pasids_lease(&bad, 250, 300, false), -EPROTO, "a lease into the global block");
	ERR_ONE_LINE(sva_dev_pasids_lease(&bad, 0, 8, false), -EPROTO, "a lease from 0");
	ERR_ONE_LINE(sva_dev_pasids_lease(&bad, 9, 8, false), -EPROTO, "an inverted lease");
	dev_init(&leased, &ctx, 4, "leased");
	ERR_ONE_LINE(sva_dev_pasids_lease(&leased, 13, 16, false), -EPROTO, "a lease beyond the device's width");
	ok(sva_dev_pasids(&leased) == NULL, "  nothing changed");
	ok(sva_dev_pasids_lease(&leased, 5, 8, false) == 0 && range_is(sva_dev_pasids(&leased), 5, 8),
	   "leased [5, 8]: the device's own space");
	ERR_ONE_LINE(sva_dev_set_pasid_range(&leased, 4, 8), -ERANGE, "narrowing below the block");
	ok(sva_dev_set_pasid_range(&leased, 6, 8) == 0 && range_is(sva_dev_pasids(&leased), 6, 8),
	   "narrowed within it to [6, 8]");
	ok(sva_dev_pasid_alloc(&leased, SVA_PASID_DEVICE, tag(7), &p) == 0 && p == 6, "DEVICE allocates 6");
	ok(sva_dev_pasid_lookup(&leased, 6, &d) == 0 && d == tag(7), "looked up by value");
	OUTCOME_DEBUG(sva_dev_pasid_lookup(&leased, 2, &d), -ERANGE, "another client's block is out of reach");
	ok(sva_dev_pasid_free(&leased, 6) == 0 && sva_dev_pasid_release(&leased, 6) == 0, "freed and released");
	sva_dev_pasids_fini(&none);
	sva_dev_pasids_fini(&full);
	sva_dev_pasids_fini(&bad);
	sva_dev_pasids_fini(&leased);
	sva_ctx_pasids_fini(&ctx);
}

/*
 * sva_dev_pasids(3): "Their errors are logged through the context's log":
 * the sva_pasid_*() calls on a context's global space and on a device's own
 * space log there (with the space's range), never on the process-wide log,
 * which a standalone space uses.
 */
static int default_lines;

static void count_default(void *arg, enum sva_log_level level, const char *msg)
{
	(void)arg;
	(void)level;
	(void)msg;
	default_lines++;
}

static void test_owner_log(void)
{
	struct sva_ctx ctx;
	struct sva_dev dev;
	struct sva_pasid_space *g, *own;
	uint32_t p;

	if (ctx_init(&ctx, 0, 0))
		tap_bail("ctx_init");
	dev_init(&dev, &ctx, 20, "vfio7");
	g = sva_ctx_global_pasids(&ctx);
	own = sva_dev_pasids(&dev);
	sva_log_init((struct sva_log *)sva_log_default(), count_default, NULL, SVA_LOG_DEBUG);
	ERR_ONE_LINE(sva_pasid_free(g, 300), -ENOENT, "sva_pasid_free on the global space");
	ok(strstr(cap.last, "[256, 1048575]") != NULL, "  the line names the global range: %s", cap.last);
	ERR_ONE_LINE(sva_pasid_release(g, 10), -ERANGE, "sva_pasid_release on the global space");
	ERR_ONE_LINE(sva_pasid_free(own, 300), -ERANGE, "sva_pasid_free on the device's space");
	ok(strstr(cap.last, "[1, 255]") != NULL, "  the line names the device's range: %s", cap.last);
	ERR_ONE_LINE(sva_pasid_alloc(own, NULL, NULL), -EINVAL, "sva_pasid_alloc with a NULL pasid on the device's space");
	OUTCOME_DEBUG(sva_pasid_lookup(g, 300, NULL), -ENOENT, "sva_pasid_lookup on the global space");
	if (sva_pasid_alloc(g, NULL, &p) || sva_pasid_free(g, p))
		tap_bail("alloc/free");
	is_int(default_lines, 0, "none of them went to the process-wide log");
	sva_log_init((struct sva_log *)sva_log_default(), NULL, NULL, SVA_LOG_DEFAULT);
	sva_pasid_release(g, p);
	sva_dev_pasids_fini(&dev);
	sva_ctx_pasids_fini(&ctx);
}

/*
 * sva_dev_pasid_alloc(3), THREAD SAFETY: "Thread-safe", the four calls.
 * Four threads, one covering device each, allocate under AUTO until -ENOSPC
 * from a global space of 64 values, so that they fall back to their own
 * spaces while the others still take global ones; then each frees its
 * neighbour's global values through its own device while the neighbour frees
 * them too.  Every value is handed out once, every allocation is found with
 * its drvdata through its device only, and every value is freed exactly
 * once (0 in one thread, -ENOENT in the other).
 */
enum { MT_THREADS = 4, MT_GLOBAL = 64, MT_OWN = 255, MT_MAX = MT_GLOBAL + MT_OWN + 1 /* room for one too many */ };

struct mt_dev {
	struct sva_dev dev;
	uint32_t got[MT_MAX];
	int n, last_err, bad_lookup;
	int freed, enoent, other;
	struct mt_dev *next;
	pthread_barrier_t *go;
};

static void *mt_alloc(void *arg)
{
	struct mt_dev *m = arg;
	uint32_t p;
	int err;

	pthread_barrier_wait(m->go);
	while (m->n < MT_MAX && (err = sva_dev_pasid_alloc(&m->dev, SVA_PASID_AUTO, &m->got[m->n], &p)) == 0) {
		void *d = NULL;

		m->got[m->n] = p;
		if (sva_dev_pasid_lookup(&m->dev, p, &d) != 0 || d != &m->got[m->n])
			m->bad_lookup++;
		m->n++;
	}
	m->last_err = err;
	return NULL;
}

/* Frees the global values of m->next (through m's device) and m's own. */
static void *mt_free(void *arg)
{
	struct mt_dev *m = arg;
	const struct mt_dev *src[2] = { m->next, m };

	pthread_barrier_wait(m->go);
	for (int k = 0; k < 2; k++)
		for (int i = 0; i < src[k]->n; i++) {
			uint32_t p = src[k]->got[i];
			int err;

			if (p < 256)
				continue;
			err = sva_dev_pasid_free(&m->dev, p);
			if (err == 0)
				m->freed++;
			else if (err == -ENOENT)
				m->enoent++;
			else
				m->other++;
		}
	return NULL;
}

/* The log callback runs on every thread that logs (sva_ctx_set_log(3)):
 * counted atomically here, unlike capture(). */
static atomic_int mt_error_lines;

static void mt_capture(void *arg, enum sva_log_level level, const char *msg)
{
	(void)arg;
	(void)msg;
	if (level >= SVA_LOG_WARN)
		atomic_fetch_add(&mt_error_lines, 1);
}

static void test_threads(void)
{
	static struct mt_dev mt[MT_THREADS];
	static uint8_t seen[SVA_PASID_MAX + 1];
	pthread_barrier_t go;
	pthread_t t[MT_THREADS];
	struct sva_ctx ctx;
	int total = 0, dup = 0, bad_lookup = 0, foreign = 0, freed = 0, enoent = 0, other = 0, enospc = 0;

	ctx_init(&ctx, 256, 256 + MT_GLOBAL - 1);
	sva_log_init(&ctx.log, mt_capture, NULL, SVA_LOG_DEBUG);
	pthread_barrier_init(&go, NULL, MT_THREADS);
	for (int i = 0; i < MT_THREADS; i++) {
		char name[16];

		snprintf(name, sizeof(name), "mt%d", i);
		dev_init(&mt[i].dev, &ctx, 20, name);
		mt[i].next = &mt[(i + 1) % MT_THREADS];
		mt[i].go = &go;
	}
	for (int i = 0; i < MT_THREADS; i++)
		pthread_create(&t[i], NULL, mt_alloc, &mt[i]);
	for (int i = 0; i < MT_THREADS; i++)
		pthread_join(t[i], NULL);
	for (int i = 0; i < MT_THREADS; i++) {
		total += mt[i].n;
		bad_lookup += mt[i].bad_lookup;
		enospc += mt[i].last_err == -ENOSPC;
		for (int j = 0; j < mt[i].n; j++) {
			uint32_t p = mt[i].got[j];

			/* Global values are one space; own values one per device. */
			if (p >= 256 ? seen[p]++ : (seen[p] & (1u << i)) != 0)
				dup++;
			if (p < 256)
				seen[p] |= (uint8_t)(1u << i);
			if (p >= 256 && sva_dev_pasid_lookup(&mt[(i + 1) % MT_THREADS].dev, p, NULL) != -ENOENT)
				foreign++;
		}
	}
	is_int(total, MT_GLOBAL + MT_THREADS * MT_OWN,
	       "%d threads under AUTO: every global value and every own value of each device handed out", MT_THREADS);
	is_int(dup, 0, "  none twice");
	is_int(enospc, MT_THREADS, "  each thread stopped at -ENOSPC");
	is_int(bad_lookup, 0, "  each allocation found with its drvdata through its device, at once");
	is_int(foreign, 0, "  a global value is nothing of another device's (-ENOENT)");
	is_int(atomic_load(&mt_error_lines), 0, "  no error line (the fallback and the final -ENOSPC are outcomes)");

	pthread_barrier_destroy(&go);
	pthread_barrier_init(&go, NULL, MT_THREADS);
	for (int i = 0; i < MT_THREADS; i++)
		pthread_create(&t[i], NULL, mt_free, &mt[i]);
	for (int i = 0; i < MT_THREADS; i++)
		pthread_join(t[i], NULL);
	for (int i = 0; i < MT_THREADS; i++) {
		freed += mt[i].freed;
		enoent += mt[i].enoent;
		other += mt[i].other;
	}
	ok(freed == MT_GLOBAL && enoent == MT_GLOBAL && other == 0,
	   "each global value freed by two threads through two devices: one 0, one -ENOENT (%d, %d, %d)", freed, enoent,
	   other);
	{
		uint64_t q, a = global_allocated(&ctx, &q);

		ok(a == 0 && q == MT_GLOBAL, "the global space has them all in quarantine (%llu, %llu)",
		   (unsigned long long)a, (unsigned long long)q);
	}
	for (int i = 0; i < MT_THREADS; i++)
		sva_dev_pasids_fini(&mt[i].dev);
	pthread_barrier_destroy(&go);
	sva_ctx_pasids_fini(&ctx);
}

int main(void)
{
	test_ctx_ranges();
	test_device_spaces();
	test_policies();
	test_auto_fallback();
	test_starvation();
	test_set_range();
	test_set_range_order();
	test_width_table();
	test_shared_global();
	test_broker_lease();
	test_owner_log();
	test_threads();
	return done_testing();
}
