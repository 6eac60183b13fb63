/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * sva_bind()/sva_unbind() and the PASID spaces without a kernel: a context,
 * devices and address spaces built by hand (as test-pasid-policy.c does), a
 * backend whose attach and detach fail on demand, and ioctl() answering the
 * few iommufd calls a pinned bind makes (HWPT and IOAS allocation, destroy).
 *
 * What the man pages promise here and the code once broke:
 *  - a failed bind leaves every PASID as it was (it used to quarantine the
 *    value it had allocated, so a one-PASID device refused the retry);
 *  - the PASID of a detach that failed is retired for good: not releasable;
 *  - sva_dev_set_pasid_range() once the grace time has passed (it counted
 *    values whose grace had ended as quarantined);
 *  - sva_bind_opts' first layout (ending before pasid) is accepted, a size
 *    between the layouts is not, and policy is ignored where the man page
 *    says so;
 *  - errors of the PASID calls on a NULL device or pointer are logged;
 *  - drvdata lookups are per device, not per address: a device opened where
 *    a closed one lived does not see the closed one's allocations;
 *  - while a driver's PASID is being bound (SVA_BIND_PASID, before the bond
 *    is published), the allocating device still finds the allocation's
 *    drvdata, never -ENOENT, and the value cannot be freed;
 *  - sva_bind() and sva_unbind() called from a log callback return -EDEADLK
 *    and change nothing, also for a line logged inside a bind.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "kabi.h"
#include "pasid_space.h"
#include "../tap.h"
#include "fake_bind_objects.h"

static int err_lines;
static char last[512];

static void capture(void *arg, enum sva_log_level level, const char *msg)
{
	(void)arg;
	if (level < SVA_LOG_WARN)
		return;
	err_lines++;
	snprintf(last, sizeof(last), "%s", msg);
}

#define ERR_ONE_LINE(expr, want, name)                                                                     \
	do {                                                                                               \
		int before_ = err_lines;                                                                   \
		int r_ = (expr);                                                                           \
		is_int(r_, (want), "%s: %s", (name), #want);                                               \
		is_int(err_lines - before_, 1, "%s: one log line (%s)", (name), last);                     \
	} while (0)

/* ------------------------------------------------------ the fake kernel side */

static uint32_t next_id = 100;
/* During an unbind, once the bond has left the device's table and before the
 * value goes back (libsva-test's hook): what a lookup says. */
static struct sva_dev *probe_unbind_dev;
static uint32_t probe_unbind_pasid;
static int probe_unbind_lookup = 1;
static void *probe_unbind_drvdata;

extern void (*sva_test_unpublished_hook)(struct sva_bond *bond);

static void on_unpublished(struct sva_bond *bond)
{
	(void)bond;
	if (probe_unbind_dev)
		probe_unbind_lookup = sva_dev_pasid_lookup(probe_unbind_dev, probe_unbind_pasid, &probe_unbind_drvdata);
}

static bool fake_ioctl(unsigned long req, void *arg, int *rc)
{
	*rc = 0;
	if (req == KABI_IOMMU_HWPT_ALLOC)
		((struct kabi_iommu_hwpt_alloc *)arg)->out_hwpt_id = next_id++;
	else if (req == KABI_IOMMU_IOAS_ALLOC)
		((struct kabi_iommu_ioas_alloc *)arg)->out_ioas_id = next_id++;
	else if (req != KABI_IOMMU_DESTROY)
		return false;
	return true;
}
#include "fake_ioctl.h"

static int attach_err, detach_err;
static uint32_t last_attached; /* the PASID of the last attach tried */
/* Inside the attach (a bind in progress, not yet published): what a lookup
 * through this device and a free of the value say. */
static struct sva_dev *probe_dev;
static int probe_lookup, probe_free;
static void *probe_drvdata;

static int f_pasid_attach(struct sva_dev *d, uint32_t pasid, uint32_t pt)
{
	(void)d;
	(void)pt;
	last_attached = pasid;
	if (probe_dev) {
		probe_lookup = sva_dev_pasid_lookup(probe_dev, pasid, &probe_drvdata);
		probe_free = sva_dev_pasid_free(probe_dev, pasid);
	}
	return attach_err;
}

static int f_pasid_detach(struct sva_dev *d, uint32_t pasid)
{
	(void)d;
	(void)pasid;
	return detach_err;
}

static const struct sva_dev_backend fake_be = {
	"fake", fake_noop_attach, fake_noop_detach,
	f_pasid_attach, f_pasid_detach, fake_noop_close, 0,
};

static void ctx_init(struct sva_ctx *c, uint64_t grace_ns)
{
	fake_ctx_init(c, capture, grace_ns);
}

static void dev_init(struct sva_dev *d, struct sva_ctx *c, uint32_t width, const char *name)
{
	fake_dev_init(d, c, &fake_be, next_id++, width, name);
}

static void mm_init(struct sva_mm *m, struct sva_ctx *c)
{
	fake_mm_init(m, c, next_id++);
}

#define stats_of fake_pasid_stats
#define same_counts fake_same_counts

/* ------------------------------------------------------------------ tests */

static void test_opts_size(struct sva_dev *dev, struct sva_mm *mm)
{
	struct sva_bind_opts bo = { .size = offsetof(struct sva_bind_opts, pasid), .flags = SVA_BIND_PINNED };
	struct sva_bond *bond = NULL;

	is_int(sva_bind(dev, mm, &bo, &bond), 0, "sva_bind_opts of the first layout (ending before pasid): accepted");
	if (bond)
		sva_unbind(bond);
	bo.size = offsetof(struct sva_bind_opts, pasid) + 4;
	ERR_ONE_LINE(sva_bind(dev, mm, &bo, &bond), -EINVAL, "size between the two layouts (cuts pasid)");
	bo.size = offsetof(struct sva_bind_opts, pasid) - 8;
	ERR_ONE_LINE(sva_bind(dev, mm, &bo, &bond), -EINVAL, "size before the first layout's end");
	bo.size = sizeof(bo);
	bo.policy = (enum sva_pasid_policy)9;
	ERR_ONE_LINE(sva_bind(dev, mm, &bo, &bond), -EINVAL, "an unknown policy for a PASID the bind chooses");
	bo.flags = SVA_BIND_RID | SVA_BIND_PINNED;
	bond = NULL;
	is_int(sva_bind(dev, mm, &bo, &bond), 0, "with SVA_BIND_RID the policy is ignored, as documented");
	if (bond)
		sva_unbind(bond);
}

static void test_failed_bind(struct sva_ctx *ctx, struct sva_dev *wide, struct sva_dev *narrow, struct sva_mm *mm)
{
	struct sva_bind_opts bo = { .size = sizeof(bo), .flags = SVA_BIND_PINNED };
	struct sva_pasid_stats g0 = stats_of(ctx->global_pasids), n0;
	struct sva_bond *bond = NULL;
	uint32_t tried;

	/* Global: as if the failed bind had not run, so the retry takes the
	 * value it had taken (a never-used one here). */
	attach_err = -ENODEV;
	ERR_ONE_LINE(sva_bind(wide, mm, &bo, &bond), -ENODEV, "a bind whose attach fails");
	attach_err = 0;
	tried = last_attached;
	ok(same_counts(stats_of(ctx->global_pasids), g0), "the global space's counts are as before (none quarantined)");
	ok(mm->gshare == NULL, "the address space has no global PASID after it");
	is_int(sva_bind(wide, mm, &bo, &bond), 0, "the retry binds");
	is_int(sva_bond_pasid(bond), tried, "  under the value the failed bind had taken");
	sva_unbind(bond);
	/* Again with a value from the pool (every used one pooled first). */
	sva_pasid_barrier(ctx->global_pasids);
	g0 = stats_of(ctx->global_pasids);
	{
		uint32_t fresh_left = (uint32_t)g0.free;
		uint32_t *all = calloc(fresh_left, sizeof(*all));
		uint32_t n = 0;

		/* Use up the never-used values, then give them back to the pool. */
		while (all && n < fresh_left && sva_pasid_alloc(ctx->global_pasids, NULL, &all[n]) == 0)
			n++;
		for (uint32_t i = 0; i < n; i++) {
			sva_pasid_free(ctx->global_pasids, all[i]);
			sva_pasid_release(ctx->global_pasids, all[i]);
		}
		sva_pasid_barrier(ctx->global_pasids);
		free(all);
	}
	attach_err = -ENODEV;
	sva_bind(wide, mm, &bo, &bond);
	attach_err = 0;
	tried = last_attached;
	ok(same_counts(stats_of(ctx->global_pasids), g0), "from the pool: the counts are as before");
	is_int(sva_bind(wide, mm, &bo, &bond), 0, "the retry binds");
	is_int(sva_bond_pasid(bond), tried, "  under the value the failed bind had taken from the pool");
	sva_unbind(bond);
	sva_pasid_barrier(ctx->global_pasids);

	/* A device's own space with a single PASID: the retry must find it free. */
	if (sva_dev_set_pasid_range(narrow, 1, 1))
		tap_bail("cannot give the narrow device a one-PASID space");
	n0 = stats_of(narrow->pasids);
	bo.policy = SVA_PASID_DEVICE;
	attach_err = -ENODEV;
	ERR_ONE_LINE(sva_bind(narrow, mm, &bo, &bond), -ENODEV, "a bind from a one-PASID space whose attach fails");
	attach_err = 0;
	ok(same_counts(stats_of(narrow->pasids), n0), "the device's space is as before: %llu allocated, %llu in "
							"quarantine", (unsigned long long)stats_of(narrow->pasids).allocated,
	   (unsigned long long)stats_of(narrow->pasids).quarantined);
	bond = NULL;
	is_int(sva_bind(narrow, mm, &bo, &bond), 0, "the retry gets the space's only PASID (was -ENOSPC)");
	is_int(bond ? (int)sva_bond_pasid(bond) : -1, 1, "  PASID 1");
	if (bond)
		sva_unbind(bond);

	/* A driver's own value (SVA_BIND_PASID): still the driver's after a failed bind. */
	{
		uint32_t dp;
		void *d = NULL;

		if (sva_dev_pasid_alloc(wide, SVA_PASID_GLOBAL, (void *)0xd1, &dp))
			tap_bail("cannot allocate the driver's PASID");
		bo.policy = SVA_PASID_AUTO;
		bo.flags = SVA_BIND_PINNED | SVA_BIND_PASID;
		bo.pasid = dp;
		attach_err = -ENODEV;
		ERR_ONE_LINE(sva_bind(wide, mm, &bo, &bond), -ENODEV, "a failed bind under the driver's PASID");
		attach_err = 0;
		ok(sva_dev_pasid_lookup(wide, dp, &d) == 0 && d == (void *)0xd1,
		   "the driver's PASID is still allocated with its drvdata");
		is_int(sva_dev_pasid_free(wide, dp), 0, "and the driver can free it");
		sva_dev_pasid_release(wide, dp);
	}
}

static void test_retired(struct sva_ctx *ctx, struct sva_dev *dev, struct sva_mm *mm)
{
	struct sva_bind_opts bo = { .size = sizeof(bo), .flags = SVA_BIND_PINNED | SVA_BIND_EXTRA_PASID };
	struct sva_bond *bond;
	struct sva_pasid_stats before, after;
	uint32_t p;

	if (sva_bind(dev, mm, &bo, &bond))
		tap_bail("cannot bind for the retire test");
	p = sva_bond_pasid(bond);
	detach_err = -EBUSY;
	ERR_ONE_LINE(sva_unbind(bond), -EIO, "an unbind whose detach fails");
	detach_err = 0;
	sva_pasid_barrier(ctx->global_pasids); /* what earlier unbinds released */
	before = stats_of(ctx->global_pasids);
	ERR_ONE_LINE(sva_pasid_release(ctx->global_pasids, p), -EINVAL, "releasing the retired PASID");
	ok(strstr(last, "retired") != NULL, "  the line says it is retired: %s", last);
	ERR_ONE_LINE(sva_dev_pasid_release(dev, p), -EINVAL, "releasing it through the device");
	/* sva_dev_pasid_alloc(3), -EBUSY: "one a bind allocated stays in
	 * quarantine for good, and freeing it is -ENOENT", through the device
	 * too; and the device has nothing under it. */
	ERR_ONE_LINE(sva_dev_pasid_free(dev, p), -ENOENT, "freeing it through the device");
	{
		void *d = (void *)0x5a;
		struct sva_bond *b = (struct sva_bond *)0x5a;

		ok(sva_dev_pasid_lookup(dev, p, &d) == -ENOENT && d == (void *)0x5a,
		   "  the device's lookup: -ENOENT, *drvdata untouched");
		ok(sva_dev_bond_lookup(dev, p, &b, &d) == -ENOENT && b == (struct sva_bond *)0x5a,
		   "  sva_dev_bond_lookup: -ENOENT");
	}
	ERR_ONE_LINE(sva_pasid_free(ctx->global_pasids, p), -ENOENT, "freeing it");
	sva_pasid_barrier(ctx->global_pasids);
	after = stats_of(ctx->global_pasids);
	ok(same_counts(before, after) && after.quarantined >= 1,
	   "after a barrier it is still in quarantine (%llu), never free again",
	   (unsigned long long)after.quarantined);
	/* Chosen again: refused, and the line names why (it said "stays in
	 * quarantine until it is released"). */
	bo.flags = SVA_BIND_PINNED | SVA_BIND_PASID;
	bo.pasid = p;
	ERR_ONE_LINE(sva_bind(dev, mm, &bo, &bond), -ENOENT, "binding under the retired PASID");
	ok(strstr(last, "retired for good") != NULL, "  the line says it is retired: %s", last);
}

/* A driver's own value whose detach failed: never the driver's again, and the
 * lines say so (they said "unbind its bonds first" and "bound to another
 * address space"). */
static void test_retired_driver_owned(struct sva_dev *dev, struct sva_mm *mm)
{
	struct sva_bind_opts bo = { .size = sizeof(bo), .flags = SVA_BIND_PINNED | SVA_BIND_PASID };
	struct sva_bond *bond;
	struct sva_pasid_stats base = stats_of(dev->ctx->global_pasids);
	uint32_t dp;

	if (sva_dev_pasid_alloc(dev, SVA_PASID_GLOBAL, (void *)0xd7, &dp))
		tap_bail("cannot allocate the driver's PASID");
	bo.pasid = dp;
	if (sva_bind(dev, mm, &bo, &bond))
		tap_bail("cannot bind under the driver's PASID");
	detach_err = -EBUSY;
	ERR_ONE_LINE(sva_unbind(bond), -EIO, "an unbind under the driver's PASID whose detach fails");
	detach_err = 0;
	ERR_ONE_LINE(sva_dev_pasid_free(dev, dp), -EBUSY, "the driver's free of its retired PASID");
	ok(strstr(last, "retired for good") && strstr(last, "never the driver's again"),
	   "  the line says a failed detach retired it, not to unbind first: %s", last);
	/* sva_pasid_free(3), -EBUSY: "a value the driver allocated, which stays
	 * allocated"; sva_pasid_release(3), -EINVAL: "retired for good".  The
	 * same through the space the value is in. */
	{
		struct sva_pasid_space *g = dev->ctx->global_pasids;
		struct sva_pasid_stats before = stats_of(g);
		void *d = NULL;

		ERR_ONE_LINE(sva_pasid_free(g, dp), -EBUSY, "sva_pasid_free of the driver's retired PASID");
		ERR_ONE_LINE(sva_pasid_release(g, dp), -EINVAL, "sva_pasid_release of the driver's retired PASID");
		int found = sva_pasid_lookup(g, dp, &d);

		ok(found == 0 && d == (void *)0xd7,
		   "  it stays allocated: the space's lookup finds it with the driver's drvdata (%p)", d);
		/* sva_unbind(3), When the detach fails: "its space counts it as
		 * allocated ..., the device's lookups find nothing under it". */
		struct sva_bond *lb = (struct sva_bond *)(uintptr_t)8;

		d = (void *)(uintptr_t)8;
		/* Exactly the driver's allocation more than before it: the
		 * failed detach neither freed it nor quarantined it. */
		ok(before.allocated == base.allocated + 1 && before.quarantined == base.quarantined,
		   "  its space counts it as allocated, no more (%llu allocated, %llu before the allocation; "
		   "%llu quarantined, %llu before)",
		   (unsigned long long)before.allocated, (unsigned long long)base.allocated,
		   (unsigned long long)before.quarantined, (unsigned long long)base.quarantined);
		is_int(sva_dev_pasid_lookup(dev, dp, &d), -ENOENT, "  the device's PASID lookup finds nothing under it");
		d = (void *)(uintptr_t)8;
		is_int(sva_dev_bond_lookup(dev, dp, &lb, &d), -ENOENT, "  the device's bond lookup finds nothing under it");
		sva_pasid_barrier(g);
		ok(same_counts(before, stats_of(g)), "  no refusal or barrier changed the counts");
	}
	/* sva_unbind(3): "the device's lookups find nothing under it", though
	 * the space still has the allocation's drvdata (libsva owns it now). */
	{
		void *d = (void *)0x5a;
		struct sva_bond *b = (struct sva_bond *)0x5a;

		ok(sva_dev_pasid_lookup(dev, dp, &d) == -ENOENT && d == (void *)0x5a,
		   "  the allocating device's sva_dev_pasid_lookup: -ENOENT, *drvdata untouched");
		ok(sva_dev_bond_lookup(dev, dp, &b, &d) == -ENOENT && b == (struct sva_bond *)0x5a,
		   "  sva_dev_bond_lookup: -ENOENT");
	}
	ERR_ONE_LINE(sva_bind(dev, mm, &bo, &bond), -EBUSY, "binding under the driver's retired PASID");
	ok(strstr(last, "retired for good") != NULL && !strstr(last, "another address space"),
	   "  the line says it is retired: %s", last);
}

/*
 * A value retired while other bonds still use it is not joined by later binds
 * either (review Z39: a third device bound under it, and the address space's
 * next AUTO binds joined its retired global PASID).
 */
static void test_retired_shared(struct sva_dev *a, struct sva_dev *b, struct sva_dev *c, struct sva_mm *mm)
{
	struct sva_bind_opts bo = { .size = sizeof(bo), .flags = SVA_BIND_PINNED | SVA_BIND_PASID };
	struct sva_bond *ba, *bb, *bc, *ba2;
	uint32_t dp, g;

	if (sva_dev_pasid_alloc(a, SVA_PASID_GLOBAL, (void *)0xd8, &dp))
		tap_bail("cannot allocate the driver's PASID");
	bo.pasid = dp;
	if (sva_bind(a, mm, &bo, &ba) || sva_bind(b, mm, &bo, &bb))
		tap_bail("cannot bind two devices under the driver's PASID");
	detach_err = -EBUSY;
	ERR_ONE_LINE(sva_unbind(ba), -EIO, "shared driver PASID: one device's detach fails");
	detach_err = 0;
	ERR_ONE_LINE(sva_bind(c, mm, &bo, &bc), -EBUSY, "shared driver PASID: a third device binds under it");
	ok(strstr(last, "retired for good") != NULL, "  the line says it is retired: %s", last);
	ERR_ONE_LINE(sva_bind(a, mm, &bo, &bc), -EBUSY, "shared driver PASID: the failed device binds under it again");
	is_int(sva_unbind(bb), 0, "shared driver PASID: the other device unbinds");
	ERR_ONE_LINE(sva_dev_pasid_free(a, dp), -EBUSY, "shared driver PASID: the driver's free after that");

	bo = (struct sva_bind_opts){ .size = sizeof(bo), .flags = SVA_BIND_PINNED, .policy = SVA_PASID_AUTO };
	if (sva_bind(a, mm, &bo, &ba) || sva_bind(b, mm, &bo, &bb))
		tap_bail("cannot bind two devices under the global PASID");
	g = sva_bond_pasid(ba);
	is_int((long)sva_bond_pasid(bb), (long)g, "global PASID: both devices under %u", g);
	detach_err = -EBUSY;
	ERR_ONE_LINE(sva_unbind(ba), -EIO, "global PASID: one device's detach fails");
	detach_err = 0;
	is_int(sva_bind(c, mm, &bo, &bc), 0, "global PASID: a third device binds the address space");
	ok(sva_bond_pasid(bc) != g && sva_bond_pasid(bc) >= 256,
	   "  under a new global PASID (%u), not the retired %u", sva_bond_pasid(bc), g);
	is_int(sva_bind(a, mm, &bo, &ba2), 0, "global PASID: the failed device binds again");
	is_int((long)sva_bond_pasid(ba2), (long)sva_bond_pasid(bc), "  under the new one too (%u)",
	       sva_bond_pasid(ba2));
	bo.flags = SVA_BIND_PINNED | SVA_BIND_PASID | SVA_BIND_EXTRA_PASID;
	bo.pasid = g;
	ERR_ONE_LINE(sva_bind(c, mm, &bo, &ba), -EBUSY, "global PASID: binding under the retired value by choice");
	sva_unbind(ba2);
	sva_unbind(bc);
	sva_unbind(bb);
}

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void test_set_range_after_grace(struct sva_dev *dev)
{
	uint32_t p;
	uint64_t t0;

	sva_pasid_barrier(dev->pasids); /* what earlier unbinds released */
	if (sva_dev_set_pasid_range(dev, 1, 4) || sva_dev_pasid_alloc(dev, SVA_PASID_DEVICE, NULL, &p))
		tap_bail("set up of the set_range test failed");
	sva_dev_pasid_free(dev, p);
	sva_dev_pasid_release(dev, p);
	ERR_ONE_LINE(sva_dev_set_pasid_range(dev, 2, 3), -EBUSY, "set_pasid_range while a PASID's grace runs");
	t0 = now_ns();
	while (now_ns() - t0 < 30000000ull) /* the context's grace: 20 ms */
		usleep(5000);
	is_int(sva_dev_set_pasid_range(dev, 2, 3), 0, "once the grace time has passed: accepted (no other call between)");
}

static void test_null_logged(struct sva_dev *dev)
{
	uint32_t p;
	void *d;

	ERR_ONE_LINE(sva_dev_pasid_alloc(dev, SVA_PASID_AUTO, NULL, NULL), -EINVAL, "sva_dev_pasid_alloc: NULL pasid");
	ERR_ONE_LINE(sva_dev_pasid_alloc(NULL, SVA_PASID_AUTO, NULL, &p), -EINVAL, "sva_dev_pasid_alloc: NULL dev");
	ERR_ONE_LINE(sva_dev_set_pasid_range(NULL, 1, 2), -EINVAL, "sva_dev_set_pasid_range: NULL dev");
	ERR_ONE_LINE(sva_dev_pasid_free(NULL, 1), -EINVAL, "sva_dev_pasid_free: NULL dev");
	ERR_ONE_LINE(sva_dev_pasid_release(NULL, 1), -EINVAL, "sva_dev_pasid_release: NULL dev");
	ERR_ONE_LINE(sva_dev_pasid_lookup(NULL, 1, &d), -EINVAL, "sva_dev_pasid_lookup: NULL dev");
}

/* A device opened at the address of a closed one is another device. */
static void test_tag_per_device(struct sva_ctx *ctx, struct sva_dev *other)
{
	struct sva_dev *d = calloc(1, sizeof(*d));
	uint32_t p;
	void *dd = NULL;

	if (!d)
		tap_bail("out of memory");
	dev_init(d, ctx, 20, "first");
	if (sva_dev_pasid_alloc(d, SVA_PASID_GLOBAL, (void *)0xa1, &p))
		tap_bail("cannot allocate through the first device");
	is_int(sva_dev_pasid_lookup(d, p, &dd), 0, "the allocating device finds its allocation");
	is_int(sva_dev_pasid_lookup(other, p, NULL), -ENOENT, "another device does not");
	/* Closed (by hand: its own space freed), and a new device built in the
	 * same memory, as sva_dev_open() may hand out the same address. */
	sva_pasid_space_destroy(d->pasids);
	dev_init(d, ctx, 20, "second");
	dd = NULL;
	is_int(sva_dev_pasid_lookup(d, p, &dd), -ENOENT,
	       "a device at the closed one's address: not its allocation (got drvdata %p)", dd);
	is_int(sva_dev_pasid_free(other, p), 0, "the orphan can still be freed through any device");
	sva_pasid_barrier(ctx->global_pasids);
	sva_pasid_space_destroy(d->pasids);
	free(d);
}

/* While a bind under the driver's PASID runs, before it publishes the bond. */
static void test_bind_window(struct sva_dev *dev, struct sva_dev *other, struct sva_mm *mm)
{
	struct sva_bind_opts bo = { .size = sizeof(bo), .flags = SVA_BIND_PINNED | SVA_BIND_PASID,
				    .drvdata = (void *)0xb2 };
	struct sva_bond *bond = NULL, *b2 = NULL;
	void *dd = NULL;
	uint32_t p;

	if (sva_dev_pasid_alloc(dev, SVA_PASID_GLOBAL, (void *)0xa2, &p))
		tap_bail("cannot allocate the driver's PASID");
	bo.pasid = p;
	probe_dev = dev;
	probe_lookup = probe_free = 1;
	is_int(sva_bind(dev, mm, &bo, &bond), 0, "bind under the driver's PASID");
	is_int(probe_lookup, 0, "during the bind, the allocating device's lookup finds it (was -ENOENT)");
	ok(probe_drvdata == (void *)0xa2, "and gives the allocation's drvdata (%p)", probe_drvdata);
	is_int(probe_free, -EBUSY, "during the bind, the value cannot be freed");
	probe_dev = NULL;
	is_int(sva_dev_pasid_lookup(dev, p, &dd), 0, "bound: found");
	ok(dd == (void *)0xb2, "bound: the bond's drvdata (%p)", dd);
	is_int(sva_dev_pasid_lookup(other, p, NULL), -ENOENT, "bound on another device only: nothing of this one's");

	/* A second device joins the same value, looked up during its bind. */
	bo.drvdata = (void *)0xb3;
	probe_dev = other;
	probe_lookup = probe_free = 1;
	is_int(sva_bind(other, mm, &bo, &b2), 0, "a second device binds the same driver PASID");
	is_int(probe_lookup, -ENOENT, "during its bind: not yet its bond, and not its allocation");
	probe_dev = NULL;
	sva_unbind(b2);

	/* The unbind: from the bond's leaving the device's table to the value's
	 * going back, the allocating device still finds the allocation. */
	probe_unbind_dev = dev;
	probe_unbind_pasid = p;
	probe_unbind_lookup = 1;
	sva_test_unpublished_hook = on_unpublished;
	sva_unbind(bond);
	sva_test_unpublished_hook = NULL;
	probe_unbind_dev = NULL;
	is_int(probe_unbind_lookup, 0, "during the unbind, after the bond left the table: the allocation (was -ENOENT)");
	ok(probe_unbind_drvdata == (void *)0xa2, "  with its drvdata (%p)", probe_unbind_drvdata);

	/* A failed bind gives the value back as it was. */
	attach_err = -ENODEV;
	probe_dev = dev;
	sva_bind(dev, mm, &bo, &bond);
	attach_err = 0;
	probe_dev = NULL;
	dd = NULL;
	is_int(sva_dev_pasid_lookup(dev, p, &dd), 0, "after a failed bind: the allocation again");
	ok(dd == (void *)0xa2, "with its drvdata (%p)", dd);
	is_int(sva_dev_pasid_free(dev, p), 0, "and the driver frees it");
	sva_dev_pasid_release(dev, p);
}

/* A log callback that calls back into libsva, once, as sva_unbind(3) and
 * sva_bind(3) say it may not: both must refuse with -EDEADLK. */
static struct reenter_state {
	struct sva_bond *bond; /* armed while non-NULL */
	struct sva_dev *dev;
	struct sva_mm *mm;
	struct sva_bond *bound;
	int unbind, bind, bad_bind;
} reenter;

static void log_reenter(void *arg, enum sva_log_level level, const char *msg)
{
	struct sva_bind_opts bo = { .size = sizeof(bo), .flags = SVA_BIND_PINNED };
	struct sva_bond *bond = reenter.bond;

	capture(arg, level, msg);
	if (!bond || level < SVA_LOG_ERROR)
		return;
	reenter.bond = NULL;
	reenter.unbind = sva_unbind(bond);
	reenter.bind = sva_bind(reenter.dev, reenter.mm, &bo, &reenter.bound);
	reenter.bad_bind = sva_bind(reenter.dev, reenter.mm, &bo, NULL);
}

static void test_calls_from_log(struct sva_ctx *ctx, struct sva_dev *dev, struct sva_dev *other, struct sva_mm *mm)
{
	struct sva_bind_opts bo = { .size = sizeof(bo), .flags = SVA_BIND_PINNED };
	struct sva_bond *bond = NULL, *again = NULL;

	if (sva_bind(dev, mm, &bo, &bond))
		tap_bail("cannot bind for the log callback test");
	sva_log_set(&ctx->log, log_reenter, NULL, SVA_LOG_DEBUG);
	reenter = (struct reenter_state){ .bond = bond, .dev = other, .mm = mm, .unbind = 1, .bind = 1 };
	sva_dev_pasid_free(dev, 100000); /* an error line, no lock held */
	is_int(reenter.unbind, -EDEADLK, "sva_unbind() from a log callback: -EDEADLK");
	is_int(reenter.bind, -EDEADLK, "sva_bind() from a log callback: -EDEADLK");
	is_int(reenter.bad_bind, -EDEADLK, "  with a NULL out too: -EDEADLK, before that -EINVAL (libsva(7))");
	reenter = (struct reenter_state){ .bond = bond, .dev = other, .mm = mm, .unbind = 1, .bind = 1 };
	is_int(sva_bind(dev, mm, &bo, &again), -EEXIST, "a bind that logs its refusal");
	is_int(reenter.unbind, -EDEADLK, "  sva_unbind() from the log callback inside it: -EDEADLK");
	is_int(reenter.bind, -EDEADLK, "  sva_bind() from the log callback inside it: -EDEADLK");
	sva_log_set(&ctx->log, capture, NULL, SVA_LOG_DEBUG);
	ok(reenter.bound == NULL && again == NULL, "nothing was bound");
	is_int(sva_dev_bond_lookup(dev, sva_bond_pasid(bond), NULL, NULL), 0, "the bond is still published");
	is_int(sva_unbind(bond), 0, "and unbinds once the callback is done");
}

int main(void)
{
	struct sva_ctx ctx;
	struct sva_dev wide, narrow, wide2, wide3;
	struct sva_mm mm;

	plan(123);
	ctx_init(&ctx, 20000000ull);
	/* The default global range starts at 256: the narrow device's 8-bit
	 * PASIDs are all its own. */
	dev_init(&wide, &ctx, 20, "wide");
	dev_init(&narrow, &ctx, 8, "narrow");
	/* NULL-object errors go to the default log: count them too. */
	sva_log_set((struct sva_log *)sva_log_default(), capture, NULL, SVA_LOG_DEBUG);
	mm_init(&mm, &ctx);
	test_opts_size(&wide, &mm);
	test_failed_bind(&ctx, &wide, &narrow, &mm);
	test_retired(&ctx, &wide, &mm);
	test_retired_driver_owned(&wide, &mm);
	dev_init(&wide2, &ctx, 20, "wide2");
	dev_init(&wide3, &ctx, 20, "wide3");
	test_retired_shared(&wide, &wide2, &wide3, &mm);
	test_set_range_after_grace(&narrow);
	test_null_logged(&wide);
	test_tag_per_device(&ctx, &wide);
	test_bind_window(&wide, &wide2, &mm);
	test_calls_from_log(&ctx, &wide, &wide2, &mm);
	return done_testing();
}
