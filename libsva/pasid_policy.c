/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * PASIDs of a context's devices: which space a device allocates from.
 *
 * The context has one global space [gmin, gmax] (default [256, 2^20-1]).  A
 * PASID from it means the same address space on every device that can use
 * it, so drivers may hand it between devices (DSA and IAA do).  A device of
 * PASID width w accepts PASIDs 1 .. 2^w-1 (the kernel needs 0 < pasid <
 * max_pasids).  It "covers" the global range iff 2^w-1 >= gmax: only then is
 * every global PASID valid on it.  Each device also has its own space
 * [1, min(2^w-1, gmin-1)], none if that is empty (gmin == 1): the numbers
 * below the global range are never used globally, so a device with 1-3 SSIDs
 * always has them, however many global PASIDs wide devices take.
 *
 * Policies, per allocation:
 *   GLOBAL  the global space; -ERANGE if the device does not cover it.
 *   DEVICE  the device's own space; -ERANGE if it has none, -ENOSPC if full.
 *   AUTO    GLOBAL if the device covers the global range and the global
 *           space has a free PASID, else DEVICE (-ENOSPC if both are full;
 *           -ERANGE if the device has neither, which needs gmin == 1).
 * AUTO prefers the global space so PASIDs stay shareable, and falls back to
 * the device's own numbers rather than fail.
 *
 * Free, release and lookup route by value: below gmin the device's own
 * space, else the global space.  A global value on a device that does not
 * cover the global range is refused with -ERANGE: that device could not
 * have allocated it, and freeing it there would pull it from another device.
 * Lookups answer per device (sva_dev_pasid_lookup below): the device's bond
 * table first, then an unbound allocation tagged with the device.
 */
#include <errno.h>
#include <stdio.h>

#include "pasid_map.h"
#include "pasid_space.h"

/* The largest PASID a device of width w accepts (0: no PASID support). */
static uint32_t width_max(uint32_t w)
{
	return w >= 20 ? SVA_PASID_MAX : (1u << w) - 1;
}

bool sva_dev_covers_global(const struct sva_dev *dev)
{
	return width_max(dev->info.max_pasid_log2) >= dev->ctx->global_pasid_max;
}

/* The device's natural own range [*min, *max]; false if it has none. */
static bool dev_own_range(const struct sva_dev *dev, uint32_t *min, uint32_t *max)
{
	uint32_t m = width_max(dev->info.max_pasid_log2);

	/* A broker client's own numbers are the block the broker leased it
	 * (sva_dev_pasids_lease); the rest of the device's are other clients'. */
	if (dev->ctx->broker) {
		*min = dev->own_min;
		*max = dev->own_max;
		return dev->own_max != 0;
	}
	if (m > dev->ctx->global_pasid_min - 1)
		m = dev->ctx->global_pasid_min - 1;
	*min = 1;
	*max = m;
	return m >= 1;
}

/* The broker leased every block of the device's own PASIDs to others: an
 * exhausted space, the caller's business (debug level, as the others). */
static int own_full(const struct sva_dev *dev)
{
	return sva_fail_debug(&dev->ctx->log, -ENOSPC,
			"%s: the broker has no block of the device's own PASIDs left for this client (other "
			"clients hold them, or they are in quarantine: sva-brokerd(8), device-pasids-per-client)",
			dev->label);
}

/* -EOPNOTSUPP if dev has no PASID support, logged at error level, or at debug
 * level for a lookup (whose "no" is an answer: libsva(7), Errors). */
static int dev_check_pasid_at(const struct sva_dev *dev, const char *what, bool lookup)
{
	if (dev->info.max_pasid_log2 == 0) {
		sva_logf(&dev->ctx->log, lookup ? SVA_LOG_DEBUG : SVA_LOG_ERROR,
			 "%s: cannot %s: the device has no PASID support", dev->label, what);
		return -EOPNOTSUPP;
	}
	return 0;
}

static int dev_check_pasid(const struct sva_dev *dev, const char *what)
{
	return dev_check_pasid_at(dev, what, false);
}

/* ------------------------------------------------------------ setup/teardown */

int sva_ctx_pasids_init(struct sva_ctx *ctx)
{
	struct sva_pasid_space_opts o = { .size = sizeof(o) };

	if (ctx->global_pasid_min == 0)
		ctx->global_pasid_min = SVA_GLOBAL_PASID_MIN_DEFAULT;
	if (ctx->global_pasid_max == 0)
		ctx->global_pasid_max = SVA_GLOBAL_PASID_MAX_DEFAULT;
	if (ctx->global_pasid_max > SVA_PASID_MAX || ctx->global_pasid_min > ctx->global_pasid_max)
		return sva_fail(&ctx->log, -ERANGE,
				"bad global PASID range [%u, %u]: need 1 <= global_pasid_min <= global_pasid_max <= %u",
				ctx->global_pasid_min, ctx->global_pasid_max, SVA_PASID_MAX);
	o.min = ctx->global_pasid_min;
	o.max = ctx->global_pasid_max;
	o.grace_ns = ctx->pasid_grace_ns;
	return sva_pasid_space_create(&o, &ctx->log, "global PASID space", &ctx->global_pasids);
}

void sva_ctx_pasids_fini(struct sva_ctx *ctx)
{
	sva_pasid_space_destroy(ctx->global_pasids);
	ctx->global_pasids = NULL;
}

int sva_dev_pasids_init(struct sva_dev *dev)
{
	struct sva_pasid_space_opts o = { .size = sizeof(o), .min = 1, .grace_ns = dev->ctx->pasid_grace_ns };
	char prefix[128];

	int err;

	dev->pasids = NULL;
	dev->bond_map = NULL;
	if (dev->info.max_pasid_log2 == 0)
		return 0;
	if (sva_pasid_map_new(width_max(dev->info.max_pasid_log2), &dev->bond_map))
		return sva_fail(&dev->ctx->log, -ENOMEM, "%s: out of memory for its bond table", dev->label);
	if (!dev_own_range(dev, &o.min, &o.max))
		return 0;
	snprintf(prefix, sizeof(prefix), "PASID space of %s", dev->label);
	err = sva_pasid_space_create(&o, &dev->ctx->log, prefix, &dev->pasids);
	if (err) {
		sva_pasid_map_free(dev->bond_map);
		dev->bond_map = NULL;
	}
	return err;
}

int sva_dev_pasids_lease(struct sva_dev *dev, uint32_t min, uint32_t max, bool full)
{
	struct sva_pasid_space_opts o = { .size = sizeof(o), .grace_ns = dev->ctx->pasid_grace_ns };
	char prefix[128];

	dev->own_full = full;
	if (!max || dev->info.max_pasid_log2 == 0)
		return 0;
	if (min < 1 || min > max || max >= dev->ctx->global_pasid_min || max > width_max(dev->info.max_pasid_log2))
		return sva_fail(&dev->ctx->log, -EPROTO,
				"%s: the broker leased own PASIDs [%u, %u], outside what the device can have", dev->label,
				min, max);
	o.min = min;
	o.max = max;
	snprintf(prefix, sizeof(prefix), "PASID space of %s", dev->label);
	dev->own_min = min;
	dev->own_max = max;
	return sva_pasid_space_create(&o, &dev->ctx->log, prefix, &dev->pasids);
}

void sva_dev_pasids_fini(struct sva_dev *dev)
{
	sva_pasid_space_destroy(dev->pasids);
	dev->pasids = NULL;
	sva_pasid_map_free(dev->bond_map);
	dev->bond_map = NULL;
}

/* ------------------------------------------------------------------ getters */

SVA_EXPORT struct sva_pasid_space *sva_ctx_global_pasids(struct sva_ctx *ctx)
{
	return ctx ? ctx->global_pasids : NULL;
}

SVA_EXPORT struct sva_pasid_space *sva_dev_pasids(struct sva_dev *dev)
{
	return dev ? dev->pasids : NULL;
}

SVA_EXPORT int sva_dev_set_pasid_range(struct sva_dev *dev, uint32_t min, uint32_t max)
{
	uint32_t own_min, own_max;
	int err;

	if (!dev)
		return sva_fail(sva_log_default(), -EINVAL, "sva_dev_set_pasid_range: NULL device");
	/* The order of sva_dev_pasid_alloc(3): what the arguments alone say
	 * wrong, then what the device cannot do, then the bounds, then the
	 * state (sva_dev_set_pasid_range(3), ERRORS). */
	if (min > max)
		return sva_fail(&dev->ctx->log, -EINVAL, "%s: PASID range [%u, %u] is inverted", dev->label, min,
				max);
	err = dev_check_pasid(dev, "set its PASID range");
	if (err)
		return err;
	if (!dev_own_range(dev, &own_min, &own_max))
		return sva_fail(&dev->ctx->log, -ERANGE,
				"%s: cannot set PASID range [%u, %u]: the device has no own PASID space (%s)",
				dev->label, min, max,
				dev->ctx->broker ? "the broker leased this client no block of them"
						 : "the global range starts at 1");
	if (min < own_min || max > own_max)
		return sva_fail(&dev->ctx->log, -ERANGE,
				"%s: PASID range [%u, %u] is outside the device's own range [%u, %u] (%u-bit "
				"PASIDs, global range from %u%s)", dev->label, min, max, own_min, own_max,
				dev->info.max_pasid_log2, dev->ctx->global_pasid_min,
				dev->ctx->broker ? ", the block the broker leased" : "");
	/* In place, so a pointer from sva_dev_pasids() stays valid. */
	return sva_pasid_space_set_range(dev->pasids, min, max);
}

/* ------------------------------------------------------------------- alloc */

/*
 * What the device's width and own range say, whatever is allocated: the
 * bind checks it before it makes anything (sva_bind(3): -ERANGE changes
 * nothing, not even a context's first fault queue).
 */
int sva_dev_policy_reach(const struct sva_dev *dev, enum sva_pasid_policy policy)
{
	const struct sva_log *log = &dev->ctx->log;

	switch (policy) {
	case SVA_PASID_GLOBAL:
		if (!sva_dev_covers_global(dev))
			return sva_fail(log, -ERANGE,
					"%s: cannot allocate a global PASID: its %u-bit PASIDs end at %u, below the "
					"global range's end %u (use SVA_PASID_DEVICE or SVA_PASID_AUTO)",
					dev->label, dev->info.max_pasid_log2, width_max(dev->info.max_pasid_log2),
					dev->ctx->global_pasid_max);
		return 0;
	case SVA_PASID_DEVICE:
		/* A broker's lease used up is -ENOSPC, at allocation (own_full()). */
		if (dev->pasids || dev->own_full)
			return 0;
		if (dev->ctx->broker)
			return sva_fail(log, -ERANGE,
					"%s: cannot allocate from the device's own PASID space: the broker leased this "
					"client none (the device's PASIDs all fall in the broker's global range from %u, "
					"its 'pasids' setting: sva-brokerd(8); use SVA_PASID_GLOBAL)",
					dev->label, dev->ctx->global_pasid_min);
		return sva_fail(log, -ERANGE,
				"%s: cannot allocate from the device's own PASID space: it has none (its PASIDs "
				"all fall in the global range from %u; use SVA_PASID_GLOBAL)",
				dev->label, dev->ctx->global_pasid_min);
	case SVA_PASID_AUTO:
	default:
		if (sva_dev_covers_global(dev) || dev->pasids || dev->own_full)
			return 0;
		return sva_fail(log, -ERANGE,
				"%s: no PASID space fits the device: it neither covers the global range "
				"[%u, %u] nor has numbers below it", dev->label,
				dev->ctx->global_pasid_min, dev->ctx->global_pasid_max);
	}
}

int sva_dev_pasid_alloc_owned(struct sva_dev *dev, enum sva_pasid_policy policy, void *owner, void *drvdata,
			      uint32_t *pasid)
{
	const struct sva_log *log;
	int err;

	if (!dev)
		return sva_fail(sva_log_default(), -EINVAL, "sva_dev_pasid_alloc: NULL device");
	log = &dev->ctx->log;
	if (!pasid)
		return sva_fail(log, -EINVAL, "%s: cannot allocate a PASID: NULL pasid pointer", dev->label);
	if (policy != SVA_PASID_AUTO && policy != SVA_PASID_GLOBAL && policy != SVA_PASID_DEVICE)
		return sva_fail(log, -EINVAL, "%s: unknown PASID policy %d", dev->label, (int)policy);
	err = dev_check_pasid(dev, "allocate a PASID");
	if (err)
		return err;
	err = sva_dev_policy_reach(dev, policy);
	if (err)
		return err;

	switch (policy) {
	case SVA_PASID_GLOBAL:
		return sva_pasid_alloc_owned(dev->ctx->global_pasids, owner, drvdata, pasid);
	case SVA_PASID_DEVICE:
		/* No own space here means dev->own_full: sva_dev_policy_reach()
		 * refused every other way of having none. */
		if (!dev->pasids)
			return own_full(dev);
		return sva_pasid_alloc_owned(dev->pasids, owner, drvdata, pasid);
	case SVA_PASID_AUTO:
	default:
		if (sva_dev_covers_global(dev)) {
			/* A full global space is not an error under AUTO: fall back. */
			err = sva_pasid_alloc_ex(dev->ctx->global_pasids,
						 dev->pasids ? SVA_PASID_ALLOC_QUIET_ENOSPC : 0, owner, drvdata, pasid);
			if (err != -ENOSPC || !dev->pasids)
				return err;
			/* Both full: one line that says so, not the own space's alone. */
			err = sva_pasid_alloc_ex(dev->pasids, SVA_PASID_ALLOC_QUIET_ENOSPC, owner, drvdata, pasid);
			if (err == -ENOSPC)
				return sva_fail_debug(log, -ENOSPC,
						      "%s: SVA_PASID_AUTO: no PASID left in the global space [%u, %u] nor "
						      "in the device's own (every value allocated or in quarantine: "
						      "released ones come back after their grace period or at "
						      "sva_pasid_barrier())",
						      dev->label, dev->ctx->global_pasid_min, dev->ctx->global_pasid_max);
			return err;
		} else if (!dev->pasids) {
			return own_full(dev); /* as for SVA_PASID_DEVICE */
		}
		return sva_pasid_alloc_owned(dev->pasids, owner, drvdata, pasid);
	}
}

/*
 * The device's tag in the PASID spaces: a serial number, not its address, so
 * that a device opened where a closed one lived does not find the closed
 * one's allocations.  Bit 0 set (a tag), bit 1 clear (SVA_PASID_PIN).  Taken
 * at first use, so devices built by hand (unit tests) get one too; a 32-bit
 * process would wrap after 2^30 devices.
 */
void *sva_dev_pasid_tag(struct sva_dev *dev)
{
	static _Atomic uintptr_t serial;
	uintptr_t t = atomic_load_explicit(&dev->pasid_tag, memory_order_relaxed), want;

	if (t)
		return (void *)t;
	want = ((atomic_fetch_add_explicit(&serial, 1, memory_order_relaxed) + 1) << 2) | 1u;
	if (atomic_compare_exchange_strong_explicit(&dev->pasid_tag, &t, want, memory_order_relaxed,
						    memory_order_relaxed))
		return (void *)want;
	return (void *)t;
}

SVA_EXPORT int sva_dev_pasid_alloc(struct sva_dev *dev, enum sva_pasid_policy policy, void *drvdata,
				   uint32_t *pasid)
{
	/* Tagged with the device: its drvdata is found through this device only. */
	return sva_dev_pasid_alloc_owned(dev, policy, dev ? sva_dev_pasid_tag(dev) : NULL, drvdata, pasid);
}

/* ---------------------------------------------------- free, release, lookup */

struct sva_pasid_space *sva_dev_pasid_space_of(struct sva_dev *dev, uint32_t pasid)
{
	if (dev->info.max_pasid_log2 == 0)
		return NULL;
	if (pasid < dev->ctx->global_pasid_min)
		return dev->pasids;
	return sva_dev_covers_global(dev) ? dev->ctx->global_pasids : NULL;
}

/* The space of `pasid` on dev for `what`, or NULL with *err set and logged
 * (at debug level for a lookup). */
static struct sva_pasid_space *route(struct sva_dev *dev, uint32_t pasid, const char *what, bool lookup,
				     int *err)
{
	struct sva_pasid_space *s;

	*err = dev_check_pasid_at(dev, what, lookup);
	if (*err)
		return NULL;
	s = sva_dev_pasid_space_of(dev, pasid);
	if (!s) {
		sva_logf(&dev->ctx->log, lookup ? SVA_LOG_DEBUG : SVA_LOG_ERROR, "%s: cannot %s PASID %u: %s",
			 dev->label, what, pasid,
			 pasid < dev->ctx->global_pasid_min ? "the device has no own PASID space"
							    : "it is in the global range, which this device "
							      "does not cover");
		*err = -ERANGE;
	}
	return s;
}

int sva_dev_pasid_free_owned(struct sva_dev *dev, uint32_t pasid, void *owner)
{
	struct sva_pasid_space *s;
	int err;

	if (!dev)
		return sva_fail(sva_log_default(), -EINVAL, "sva_dev_pasid_free: NULL device");
	s = route(dev, pasid, "free", false, &err);
	return s ? sva_pasid_free_owned(s, pasid, owner) : err;
}

SVA_EXPORT int sva_dev_pasid_free(struct sva_dev *dev, uint32_t pasid)
{
	return sva_dev_pasid_free_owned(dev, pasid, NULL);
}

SVA_EXPORT int sva_dev_pasid_release(struct sva_dev *dev, uint32_t pasid)
{
	struct sva_pasid_space *s;
	int err;

	if (!dev)
		return sva_fail(sva_log_default(), -EINVAL, "sva_dev_pasid_release: NULL device");
	s = route(dev, pasid, "release", false, &err);
	return s ? sva_pasid_release(s, pasid) : err;
}

/*
 * drvdata per (device, PASID): the drvdata of this device's bond under the
 * value, else that of an unbound allocation made through this device (or
 * straight from the space, which belongs to no device).  A value bound only
 * on other devices, or allocated through another device, is not this one's.
 * Both reads are lock-free; the table is read again after a miss in the space
 * so that a bind racing with the lookup is seen on one side or the other.
 */
SVA_EXPORT int sva_dev_pasid_lookup(struct sva_dev *dev, uint32_t pasid, void **drvdata)
{
	struct sva_pasid_space *s;
	void *owner, *d;
	int err;

	if (!dev)
		return sva_fail(sva_log_default(), -EINVAL, "sva_dev_pasid_lookup: NULL device");
	/* A bond there is the hot case (fault, completion and interrupt paths):
	 * only a value in the device's reach can have one, so no routing first. */
	if (sva_pasid_map_get(dev->bond_map, pasid, NULL, drvdata) == 0)
		return 0;
	s = route(dev, pasid, "look up", true, &err);
	if (!s)
		return err;
	err = sva_pasid_lookup_owner(s, pasid, &owner, &d);
	/* A pinned tag: a bind is taking the value over and has published no
	 * bond yet, so the value is still the allocation it was. */
	owner = SVA_PASID_UNPIN(owner);
	/* Read, not taken: a device that never allocated has no tag yet (0),
	 * and nothing carries that. */
	if (!err && owner && (uintptr_t)owner != atomic_load_explicit(&dev->pasid_tag, memory_order_relaxed))
		err = SVA_PASID_IS_TAG(owner) || sva_pasid_map_get(dev->bond_map, pasid, NULL, &d) ? -ENOENT : 0;
	/* Both are what a driver validating a PASID from a descriptor expects to
	 * meet: debug level (libsva(7), Errors). */
	if (err == -ERANGE)
		sva_logf(&dev->ctx->log, SVA_LOG_DEBUG, "%s: cannot look up PASID %u: outside the device's PASID range",
			 dev->label, pasid);
	else if (err == -ENOENT)
		sva_logf(&dev->ctx->log, SVA_LOG_DEBUG, "%s: nothing of this device under PASID %u", dev->label,
			 pasid);
	else if (!err && drvdata)
		*drvdata = d;
	return err;
}

int sva_dev_pasid_lookup_owner(struct sva_dev *dev, uint32_t pasid, void **owner, void **drvdata)
{
	struct sva_pasid_space *s;

	if (dev->info.max_pasid_log2 == 0)
		return -EOPNOTSUPP;
	s = sva_dev_pasid_space_of(dev, pasid);
	return s ? sva_pasid_lookup_owner(s, pasid, owner, drvdata) : -ERANGE;
}
