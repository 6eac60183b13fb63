/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Which PASID value a bond binds under, and when the value goes back.
 *
 * The kernel's SVA gives an mm one PASID valid on every device it is bound
 * to (ENQCMD-style submission and DSA/IAA handing work between them need
 * that).  Here: an address space's first bind that lands in the global space
 * (GLOBAL, or AUTO on a device that covers the global range) allocates its
 * global PASID (mm->gshare); later binds of that address space on other
 * devices, under GLOBAL or AUTO, bind under the same value.  The value stays
 * allocated while any bond uses it; the last unbind quarantines it, then
 * releases it (every bond's mm_exit has returned and every device has
 * detached it by then).  SVA_BIND_EXTRA_PASID always allocates a private
 * value, and so does a bind from the device's own space.
 *
 * SVA_BIND_PASID binds under a value the driver allocated earlier
 * (upstream's iommu_sva_bind_device_pasid()): the driver keeps owning it, so
 * after the last unbind it is allocated again with the driver's drvdata, for
 * the driver to free.  Several devices may bind the same driver value, all to
 * one address space; so may the address space's global PASID.  A private
 * value of another bond is refused.
 *
 * Until the first bond under a driver's value is published, and again from
 * when the last one leaves its device's table until the value goes back, the
 * space shows the driver's tag, pinned (SVA_PASID_PIN): the allocating
 * device's lookups find the allocation, as nothing is bound then, and no free
 * takes the value; binds joining it find the share on ctx->pending_shares.
 *
 * Everything here runs under ctx->pasid_lock, so two devices binding one
 * address space at once agree on its value, and an unbind that drops the last
 * user cannot race a bind joining it.
 */
#include <errno.h>
#include <stdlib.h>

#include "pasid_map.h"
#include "pasid_space.h"
#include "sigblock.h"

/* A driver's value a bind is taking over, before its first bond is published. */
static struct sva_pasid_share *pending_find(struct sva_ctx *ctx, struct sva_pasid_space *s, uint32_t pasid)
{
	for (struct sva_pasid_share *sh = ctx->pending_shares; sh; sh = sh->pending_next)
		if (sh->space == s && sh->pasid == pasid)
			return sh;
	return NULL;
}

static void pending_drop(struct sva_ctx *ctx, struct sva_pasid_share *sh)
{
	for (struct sva_pasid_share **pp = &ctx->pending_shares; *pp; pp = &(*pp)->pending_next)
		if (*pp == sh) {
			*pp = sh->pending_next;
			break;
		}
	sh->pending = false;
}

/* Under an existing share: one more bond, at the end.  Under ctx->pasid_lock. */
static void join(struct sva_bond *bond, struct sva_pasid_share *sh)
{
	struct sva_bond **pp = &sh->bonds;

	while (*pp)
		pp = &(*pp)->share_next;
	*pp = bond;
	bond->share_next = NULL;
	if (++sh->users > 1)
		sh->joined = true;
	bond->share = sh;
	bond->pasid = sh->pasid;
}

/* -ERANGE, logged, where the device cannot hold `pasid` at all: its width
 * and ranges decide, not what is allocated. */
static int chosen_reach(struct sva_dev *dev, uint32_t pasid)
{
	struct sva_ctx *ctx = dev->ctx;
	struct sva_pasid_space *s = sva_dev_pasid_space_of(dev, pasid);

	if (!s || pasid == 0)
		return sva_fail(&ctx->log, -ERANGE,
				"%s: cannot bind under PASID %u: outside the device's reach (%s)", dev->label,
				pasid, pasid == 0 ? "PASID 0 is the RID's: bind it with SVA_BIND_RID"
				: pasid >= ctx->global_pasid_min ? "a global value on a device that does not cover "
								   "the global range" : "no own PASID space");
	if (sva_pasid_lookup_owner(s, pasid, NULL, NULL) == -ERANGE)
		return sva_fail(&ctx->log, -ERANGE, "%s: cannot bind under PASID %u: outside the device's PASID range",
				dev->label, pasid);
	return 0;
}

/*
 * What a bind of `mm` under the chosen `pasid` (within the device's reach)
 * would join: the share already bound under it (*shp), or NULL for the
 * driver's own allocation (*ownerp, *datap: its entry in *sp).  -ENOENT or
 * -EBUSY, logged, when it cannot be bound.  Changes nothing.  Under
 * ctx->pasid_lock and dev->lock.
 */
static int chosen_lookup(struct sva_dev *dev, struct sva_mm *mm, uint32_t pasid, struct sva_pasid_space **sp,
			 struct sva_pasid_share **shp, void **ownerp, void **datap)
{
	struct sva_ctx *ctx = dev->ctx;
	struct sva_pasid_space *s = sva_dev_pasid_space_of(dev, pasid);
	struct sva_pasid_share *sh;
	void *owner, *data;
	int ret = sva_pasid_lookup_owner(s, pasid, &owner, &data);

	if (ret && sva_pasid_is_retired(s, pasid))
		return sva_fail(&ctx->log, -ENOENT,
				"%s: cannot bind under PASID %u: it is retired for good (a detach under it failed, "
				"so a device may still use it): choose another",
				dev->label, pasid);
	if (ret)
		return sva_fail(&ctx->log, -ENOENT,
				"%s: cannot bind under PASID %u: it is not allocated (allocate it first with "
				"sva_dev_pasid_alloc(); a value freed, or whose last bond went, stays in quarantine "
				"until it is released and its grace has passed: choose another)",
				dev->label, pasid);
	if (owner && SVA_PASID_UNPIN(owner) != owner) {
		sh = pending_find(ctx, s, pasid);
		if (!sh) /* cannot happen: a pinned tag has its share */
			return sva_fail(&ctx->log, -EBUSY, "%s: cannot bind under PASID %u: a bind is taking it over",
					dev->label, pasid);
		owner = sh;
	}
	*shp = NULL;
	if (owner && !SVA_PASID_IS_TAG(owner)) {
		sh = owner;
		if (!sh->mm || sh->retired) /* a detach under it failed (put()) */
			return sva_fail(&ctx->log, -EBUSY,
					"%s: cannot bind under PASID %u: it is retired for good (a detach under it "
					"failed, so a device may still use it): choose another",
					dev->label, pasid);
		if (sh->mm != mm)
			return sva_fail(&ctx->log, -EBUSY,
					"%s: cannot bind under PASID %u: it is bound to another address space",
					dev->label, pasid);
		if (!sh->driver_owned && sh != mm->gshare)
			return sva_fail(&ctx->log, -EBUSY,
					"%s: cannot bind under PASID %u: it is another bond's private PASID",
					dev->label, pasid);
		if (sva_pasid_map_get(dev->bond_map, pasid, NULL, NULL) == 0)
			return sva_fail(&ctx->log, -EBUSY,
					"%s: cannot bind under PASID %u: the device already has a bond under it",
					dev->label, pasid);
		*shp = sh;
	}
	*sp = s;
	*ownerp = owner;
	*datap = data;
	return 0;
}

int sva_bond_pasid_reach(struct sva_dev *dev, struct sva_mm *mm, enum sva_pasid_policy policy, bool chosen,
			 uint32_t pasid)
{
	struct sva_pasid_space *s;
	struct sva_pasid_share *sh;
	void *owner, *data;
	int ret;

	if (!chosen)
		return sva_dev_policy_reach(dev, policy);
	ret = chosen_reach(dev, pasid);
	if (ret)
		return ret;
	/* The value's state too, so that a bind under a value it cannot take
	 * makes nothing (the fault queue and thread included).  Checked again
	 * when the PASID is taken: another thread may free or bind the value
	 * in between, and that bind then fails after the queue was made. */
	sva_pasid_lock(dev->ctx);
	ret = chosen_lookup(dev, mm, pasid, &s, &sh, &owner, &data);
	sva_pasid_unlock(dev->ctx);
	return ret;
}

static int get_chosen(struct sva_dev *dev, struct sva_bond *bond, uint32_t pasid)
{
	struct sva_ctx *ctx = dev->ctx;
	struct sva_pasid_space *s;
	struct sva_pasid_share *sh;
	void *owner, *data;
	int ret;

	/* Checked before the bind made anything too; the range cannot have
	 * changed since (sva_dev_set_pasid_range() is not thread-safe). */
	ret = chosen_reach(dev, pasid);
	if (!ret)
		ret = chosen_lookup(dev, bond->mm, pasid, &s, &sh, &owner, &data);
	if (ret)
		return ret;
	if (sh) {
		join(bond, sh);
		return 0;
	}
	/* The driver's allocation: the share becomes its owner while bound. */
	sh = sva_calloc(1, sizeof(*sh));
	if (!sh)
		return sva_fail(&ctx->log, -ENOMEM, "%s: cannot bind under PASID %u: out of memory", dev->label,
				pasid);
	*sh = (struct sva_pasid_share){ .space = s, .pasid = pasid, .mm = bond->mm, .driver_owned = true,
					.saved_owner = owner, .saved_drvdata = data, .pending = true };
	ret = sva_pasid_set_owner(s, pasid, SVA_PASID_PIN(owner), data);
	if (ret) {
		sva_free(sh);
		return ret;
	}
	sh->pending_next = ctx->pending_shares;
	ctx->pending_shares = sh;
	join(bond, sh);
	return 0;
}

static int get_new(struct sva_dev *dev, struct sva_bond *bond, enum sva_pasid_policy policy)
{
	struct sva_ctx *ctx = dev->ctx;
	struct sva_mm *mm = bond->mm;
	bool extra = bond->flags & SVA_BIND_EXTRA_PASID;
	struct sva_pasid_share *sh;
	uint32_t pasid;
	int ret;

	if (!extra && mm->gshare && policy != SVA_PASID_DEVICE) {
		if (sva_dev_covers_global(dev)) {
			join(bond, mm->gshare);
			return 0;
		}
		if (policy == SVA_PASID_GLOBAL)
			return sva_fail(&ctx->log, -ERANGE,
					"%s: cannot bind under the address space's global PASID %u: the device's "
					"%u-bit PASIDs do not cover the global range (bind with SVA_PASID_DEVICE or "
					"SVA_PASID_AUTO for a PASID of its own)",
					dev->label, mm->gshare->pasid, dev->info.max_pasid_log2);
	}
	sh = sva_calloc(1, sizeof(*sh));
	if (!sh)
		return sva_fail(&ctx->log, -ENOMEM, "%s: cannot bind: out of memory for its PASID's state",
				dev->label);
	ret = sva_dev_pasid_alloc_owned(dev, policy, sh, bond->drvdata, &pasid);
	if (ret) {
		sva_free(sh);
		return ret;
	}
	*sh = (struct sva_pasid_share){ .space = sva_dev_pasid_space_of(dev, pasid), .pasid = pasid, .mm = mm };
	if (!extra && pasid >= ctx->global_pasid_min && !mm->gshare)
		mm->gshare = sh;
	join(bond, sh);
	return 0;
}

int sva_bond_pasid_get(struct sva_dev *dev, struct sva_bond *bond, enum sva_pasid_policy policy, bool chosen,
		       uint32_t pasid)
{
	struct sva_ctx *ctx = dev->ctx;
	int ret;

	sva_pasid_lock(ctx);
	ret = chosen ? get_chosen(dev, bond, pasid) : get_new(dev, bond, policy);
	sva_pasid_unlock(ctx);
	return ret;
}

void sva_bond_pasid_published(struct sva_bond *bond)
{
	struct sva_ctx *ctx = bond->dev->ctx;
	struct sva_pasid_share *sh = bond->share;

	sva_pasid_lock(ctx);
	sh->npublished++;
	if (sh->pending) {
		pending_drop(ctx, sh);
		sva_pasid_set_owner(sh->space, sh->pasid, sh, sh->saved_drvdata);
	}
	sva_pasid_unlock(ctx);
}

void sva_bond_pasid_unpublishing(struct sva_bond *bond)
{
	struct sva_ctx *ctx = bond->dev->ctx;
	struct sva_pasid_share *sh = bond->share;

	sva_pasid_lock(ctx);
	if (--sh->npublished == 0 && sh->driver_owned && !sh->pending) {
		sva_pasid_set_owner(sh->space, sh->pasid, SVA_PASID_PIN(sh->saved_owner), sh->saved_drvdata);
		sh->pending = true;
		sh->pending_next = ctx->pending_shares;
		ctx->pending_shares = sh;
	}
	sva_pasid_unlock(ctx);
}

static void put(struct sva_bond *bond, bool detached)
{
	struct sva_ctx *ctx = bond->dev->ctx;
	struct sva_pasid_share *sh = bond->share;
	struct sva_pasid_space *release = NULL;
	uint32_t pasid = bond->pasid;
	bool was_first;

	sva_pasid_lock(ctx);
	bond->share = NULL;
	/* A device may still use the value: it must never be handed out again,
	 * nor joined by another bind while its other bonds last.  The address
	 * space's later binds get a global PASID of their own. */
	if (!detached) {
		sh->retired = true;
		if (sh->mm->gshare == sh)
			sh->mm->gshare = NULL;
	}
	was_first = sh->bonds == bond;
	for (struct sva_bond **pp = &sh->bonds; *pp; pp = &(*pp)->share_next)
		if (*pp == bond) {
			*pp = bond->share_next;
			break;
		}
	/*
	 * The space's drvdata of a value bound by the library is its first
	 * bond's (what sva_pasid_lookup() on the space returns): when that bond
	 * goes and others stay, the next one's, so no lookup returns it once
	 * its sva_unbind() has returned (libsva(7); during the unbind, mm_exit
	 * included, one may).
	 */
	if (--sh->users > 0 && !sh->driver_owned && was_first && sh->bonds->drvdata != bond->drvdata)
		sva_pasid_set_owner(sh->space, pasid, sh, sh->bonds->drvdata);
	if (sh->users == 0 && sh->retired) {
		/*
		 * Quarantined and never released: the space keeps it out of every
		 * allocation.  A driver-owned value stays owned by the share, so
		 * the driver's sva_dev_pasid_free() of it is refused (-EBUSY).
		 */
		if (!sh->driver_owned)
			sva_pasid_retire_owned(sh->space, pasid, sh);
		else { /* owned by the share for good, never the driver's again */
			if (sh->pending) {
				pending_drop(ctx, sh);
				sva_pasid_set_owner(sh->space, pasid, sh, sh->saved_drvdata);
			}
			sva_pasid_mark_retired(sh->space, pasid);
		}
		if (sh->mm->gshare == sh)
			sh->mm->gshare = NULL;
		if (sh->driver_owned)
			sh->mm = NULL; /* no bind can join it again */
		else
			sva_free(sh);
	} else if (sh->users == 0) {
		if (sh->driver_owned) {
			/* Back to the driver, as it allocated it. */
			if (sh->pending)
				pending_drop(ctx, sh);
			sva_pasid_set_owner(sh->space, pasid, sh->saved_owner, sh->saved_drvdata);
		} else {
			/* Quarantined now: no bond finds it any more. */
			sva_pasid_free_owned(sh->space, pasid, sh);
			release = sh->space;
		}
		if (sh->mm->gshare == sh)
			sh->mm->gshare = NULL;
		sva_free(sh);
	}
	sva_pasid_unlock(ctx);
	/* Released: every bond's mm_exit has returned and every device has
	 * detached the value, so nothing can still use it. */
	if (release)
		sva_pasid_release(release, pasid);
}

void sva_bond_pasid_put(struct sva_bond *bond)
{
	put(bond, true);
}

void sva_bond_pasid_retire(struct sva_bond *bond)
{
	put(bond, false);
}

void sva_bond_pasid_unget(struct sva_bond *bond)
{
	struct sva_ctx *ctx = bond->dev->ctx;
	struct sva_pasid_share *sh = bond->share;

	sva_pasid_lock(ctx);
	/* Its own new value, which no other bond ever joined (and so no device
	 * ever had attached): back without quarantine.  A value another bond
	 * joined, even one unbound since, may still be in that device's
	 * caches, and one retired for good never goes back at all. */
	if (sh->users == 1 && !sh->driver_owned && !sh->joined && !sh->retired) {
		bond->share = NULL;
		sva_pasid_unalloc_owned(sh->space, bond->pasid, sh);
		if (sh->mm->gshare == sh)
			sh->mm->gshare = NULL;
		sva_free(sh);
		sva_pasid_unlock(ctx);
		return;
	}
	sva_pasid_unlock(ctx);
	put(bond, true);
}

void sva_bond_unlinked_add(struct sva_bond *bond)
{
	struct sva_ctx *ctx = bond->dev->ctx;

	sva_pasid_lock(ctx);
	bond->unlinked_next = ctx->unlinked;
	ctx->unlinked = bond;
	sva_pasid_unlock(ctx);
}

void sva_bond_unlinked_remove(struct sva_bond *bond)
{
	struct sva_ctx *ctx = bond->dev->ctx;

	sva_pasid_lock(ctx);
	for (struct sva_bond **pp = &ctx->unlinked; *pp; pp = &(*pp)->unlinked_next)
		if (*pp == bond) {
			*pp = bond->unlinked_next;
			break;
		}
	sva_pasid_unlock(ctx);
}

/*
 * The bonds of mm's binds and unbinds that a fork caught in progress, onto
 * mm->bonds, where the child frees them with the rest.  A bind leaves
 * ctx->unlinked only after linking its bond, and an unbind joins it before
 * unlinking, so one may be on both: it is taken once.  An unbind's bond whose
 * share was put already has none (bond->share NULL): it goes alone.  The
 * child's only thread runs here, so no lock: pasid_lock was free at the fork
 * (the fork guard), and ctx->unlinked whole.
 */
static void child_adopt_unlinked(struct sva_mm *mm)
{
	for (struct sva_bond **pp = &mm->ctx->unlinked; *pp;) {
		struct sva_bond *b = *pp, *o;

		if (b->mm != mm) {
			pp = &b->unlinked_next;
			continue;
		}
		*pp = b->unlinked_next;
		for (o = mm->bonds; o && o != b; o = o->mm_next)
			;
		if (!o) {
			b->mm_next = mm->bonds;
			mm->bonds = b;
		}
	}
}

/*
 * The child's copy of the bond's device table stops returning it: a lookup
 * in the child after its sva_mm_free() says -ENOENT, not a freed pointer.
 * The device is compared, not followed, until found on the context's list: a
 * device the child closed is freed, and the child opens none (-ECHILD) that
 * could take its address.  The RID's pair as bond.c's rid_publish() writes
 * it, with the count made even first: a fork may have caught a publish
 * between its stores, and readers wait out an odd count.
 */
static void child_unpublish(struct sva_ctx *ctx, struct sva_bond *bond)
{
	struct sva_dev *dev;
	unsigned seq;
	sigset_t old;

	for (dev = ctx->devs; dev && dev != bond->dev; dev = dev->ctx_next)
		;
	if (!dev)
		return;
	if (bond->pasid != SVA_PASID_RID) {
		/* Also empties an entry a fork caught half written, which
		 * nothing in the child completes (lookups there already pass
		 * it by: sva_pasid_map_get()). */
		sva_pasid_map_child_drop(dev->bond_map, bond->pasid, bond);
		return;
	}
	seq = atomic_load_explicit(&dev->rid_seq, memory_order_relaxed);
	/* An odd count is a publish or unpublish the fork caught, of a bind
	 * or unbind in progress: nothing of the child's may find that bond. */
	if (!(seq & 1) && atomic_load_explicit(&dev->rid_bond, memory_order_relaxed) != bond)
		return;
	seq |= 1;
	sva_signals_hold(&old);
	atomic_store_explicit(&dev->rid_seq, seq, memory_order_relaxed);
	atomic_store_explicit(&dev->rid_bond, NULL, memory_order_release);
	atomic_store_explicit(&dev->rid_drvdata, NULL, memory_order_release);
	atomic_store_explicit(&dev->rid_seq, seq + 1, memory_order_release);
	sva_signals_restore(&old);
}

static void child_free_share(struct sva_ctx *ctx, struct sva_pasid_share *sh)
{
	if (sh->pending)
		pending_drop(ctx, sh);
	sva_free(sh);
}

/*
 * A HWPT record a bond in progress holds off mm->hwpts: one a bind was
 * creating or an unbind destroying at the fork (bond.c's hwpt_free_held()),
 * which nothing else of the child's reaches.  One on the list goes with the
 * list (mm.c), after this: compared here, not followed, before.
 */
static void child_free_held_hwpt(struct sva_mm *mm, struct sva_bond *b)
{
	struct sva_hwpt *h = b->hwpt, *o;

	for (o = mm->hwpts; h && o && o != h; o = o->next)
		;
	if (!h || o)
		return;
	/* Only the last put's bond holds one off the list: never two bonds. */
	sva_free(h);
	b->hwpt = NULL;
}

void sva_bonds_child_free(struct sva_mm *mm)
{
	struct sva_pasid_share *g = mm->gshare;

	child_adopt_unlinked(mm);
	/* Every bond under a share is bound to its address space (share->mm),
	 * so each share goes with the last of mm's bonds under it. */
	for (struct sva_bond *b = mm->bonds, *n; b; b = n) {
		struct sva_pasid_share *sh = b->share;
		bool last = true;

		n = b->mm_next;
		for (struct sva_bond *o = n; sh && o; o = o->mm_next)
			if (o->share == sh)
				last = false;
		if (sh && last) {
			if (sh == g)
				g = NULL;
			child_free_share(mm->ctx, sh);
		}
		child_unpublish(mm->ctx, b);
		child_free_held_hwpt(mm, b);
		sva_free(b);
	}
	/* A share no bond is under, as a fork in the middle of a bind leaves it. */
	if (g)
		child_free_share(mm->ctx, g);
	mm->bonds = NULL;
	mm->gshare = NULL;
}
