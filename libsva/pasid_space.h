/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * PASID spaces: the private interface.
 *
 * pasid_space.c is the standalone allocator (range, quarantine, lock-free
 * lookup); pasid_policy.c maps a context's global space and each device's own
 * space onto it.  Everything here is for other libsva files: the bind code
 * stores a bound value's share (struct sva_pasid_share) as the slot's "owner",
 * a driver's allocation is tagged with its device, ctx.c/dev.c create and
 * free the spaces.
 */
#ifndef LIBSVA_PASID_SPACE_H
#define LIBSVA_PASID_SPACE_H

#include "internal.h"

/* ------------------------------------------------------------ pasid_space.c */

/*
 * sva_pasid_space_new() for libsva's own spaces: errors are logged through
 * `log` (which must outlive the space) and messages name the space `prefix`
 * ("global PASID space", "PASID space of device vfio3").
 */
int sva_pasid_space_create(const struct sva_pasid_space_opts *opts, const struct sva_log *log,
			   const char *prefix, struct sva_pasid_space **out);
/* Free a space sva_pasid_space_create() made for libsva itself (the public
 * sva_pasid_space_free() refuses those: their owner frees them). */
void sva_pasid_space_destroy(struct sva_pasid_space *space);

/* sva_pasid_alloc_ex() flags */
#define SVA_PASID_ALLOC_QUIET_ENOSPC (1u << 0) /* -ENOSPC is expected: do not log it */

/*
 * Allocate as sva_pasid_alloc() and store `owner` beside drvdata.  A PASID
 * with an owner can only be freed by sva_pasid_free_owned() with that owner;
 * sva_pasid_free() refuses it with -EBUSY, so a driver cannot pull a PASID
 * from under a live bond.  An owner with bit 0 set is a tag, not an owner
 * (SVA_PASID_TAG): lookups return it, but the PASID stays freeable by
 * sva_pasid_free() (pasid_policy.c tags a driver's allocation with its device,
 * so that drvdata lookups are per device).  Errors: -ENOSPC, -ENOMEM, -EINVAL
 * (NULL pasid).
 */
#define SVA_PASID_TAG(p) ((void *)((uintptr_t)(p) | 1u))
#define SVA_PASID_IS_TAG(p) (((uintptr_t)(p) & 1u) != 0)
/*
 * A pinned tag (bit 1 set too): lookups still see the tag (SVA_PASID_UNPIN
 * gives it back), but the PASID is owned, so no free takes it.  A bind under
 * a driver's value pins the driver's tag until the bond is published
 * (bond_pasid.c), so the driver's lookups see its allocation until then, and
 * nothing frees the value under the bind.  No owner at all (allocated
 * straight on the space) pins as tag 1.
 */
#define SVA_PASID_PIN(p) ((void *)(((uintptr_t)(p) ? (uintptr_t)(p) : 1u) | 3u))
static inline void *SVA_PASID_UNPIN(void *p)
{
	uintptr_t v = (uintptr_t)p;

	if ((v & 3u) != 3u)
		return p;
	v &= ~(uintptr_t)2u;
	return v == 1u ? NULL : (void *)v;
}
int sva_pasid_alloc_ex(struct sva_pasid_space *space, unsigned int flags, void *owner, void *drvdata,
		       uint32_t *pasid);
int sva_pasid_alloc_owned(struct sva_pasid_space *space, void *owner, void *drvdata, uint32_t *pasid);

/* Built only into the tests' copy of the library (libsva-test, with
 * SVA_TEST_HOOKS): nothing in libsva calls it, so it does not ship. */

/*
 * Allocate one specific value (to reserve it, or for a caller-chosen PASID).
 * Takes it whether never used or back in the pool.  Errors: -ERANGE outside
 * the space; -EBUSY allocated or in quarantine; -ENOMEM.
 */
int sva_pasid_alloc_at(struct sva_pasid_space *space, uint32_t pasid, void *owner, void *drvdata);

/* Shipped: bond_pasid.c hands a shared or chosen PASID from bond to bond. */

/*
 * Replace the owner and drvdata of an allocated PASID (e.g. a bind adopting a
 * PASID the driver allocated earlier).  Concurrent lookups see either the old
 * pair or the new one, never a mix; a lookup of this PASID that runs into the
 * change spins until it is done (two stores).  Errors: -ENOENT not allocated;
 * -ERANGE.
 */
int sva_pasid_set_owner(struct sva_pasid_space *space, uint32_t pasid, void *owner, void *drvdata);

/* Free a PASID allocated with `owner` (NULL frees an unowned one, as
 * sva_pasid_free()).  Errors: -ENOENT; -ERANGE; -EBUSY the owner differs. */
int sva_pasid_free_owned(struct sva_pasid_space *space, uint32_t pasid, void *owner);
/* The same, for good: the value counts as quarantined but can never be
 * released (sva_pasid_release() refuses it), so it is never handed out again.
 * For a value a device may still use (its detach failed). */
int sva_pasid_retire_owned(struct sva_pasid_space *space, uint32_t pasid, void *owner);
/* Undo an allocation no device ever saw (a bind that failed before its
 * attach): no quarantine; the value goes back where the allocator took it
 * from, so the next allocation returns it again if nothing else ran between.
 * Errors as sva_pasid_free_owned(). */
int sva_pasid_unalloc_owned(struct sva_pasid_space *space, uint32_t pasid, void *owner);

/* A value its owner keeps allocated for good because a detach under it failed
 * (a driver's value a bind retired): a refused free says so. */
void sva_pasid_mark_retired(struct sva_pasid_space *space, uint32_t pasid);

/* Whether a value was retired for good by sva_pasid_retire_owned() (takes the
 * space's lock: for error reports, not fast paths). */
bool sva_pasid_is_retired(struct sva_pasid_space *space, uint32_t pasid);

/*
 * Lock-free lookup of both pointers (either may be NULL), consistent with one
 * allocation that was live during the call.  Logs nothing: it is meant for
 * fault and interrupt paths, whose callers decide whether a miss is an error.
 * Errors: -ENOENT not allocated; -ERANGE outside the space.
 */
int sva_pasid_lookup_owner(const struct sva_pasid_space *space, uint32_t pasid, void **owner, void **drvdata);

/*
 * Move the range of a space that has nothing allocated or quarantined (the
 * rest of its state is reset).  Not thread-safe, not even against lookups.
 * Errors: -EBUSY something is allocated or quarantined; -ENOMEM; -EINVAL/-ERANGE
 * as sva_pasid_space_new().
 */
int sva_pasid_space_set_range(struct sva_pasid_space *space, uint32_t min, uint32_t max);

/* ----------------------------------------------------------- pasid_policy.c */

/*
 * For ctx.c: resolve 0 in ctx->global_pasid_min/max to the defaults (writing
 * the result back), check the range and create ctx->global_pasids.  ctx->log
 * must be set up first.  Errors (logged): -ERANGE bad range; -ENOMEM.
 */
int sva_ctx_pasids_init(struct sva_ctx *ctx);
/* Free ctx->global_pasids (NULL-safe, idempotent). */
void sva_ctx_pasids_fini(struct sva_ctx *ctx);

/*
 * For broker_client.c, right after sva_dev_setup(): give a broker client's
 * device its own space, the block [min, max] of the device's own PASIDs the
 * broker leased (max 0: none; full: the device has own PASIDs, but the
 * broker had none left, which DEVICE allocations then say with -ENOSPC).
 * Errors (logged): -EPROTO a block the device cannot have; -ENOMEM.
 */
int sva_dev_pasids_lease(struct sva_dev *dev, uint32_t min, uint32_t max, bool full);

/* sva_dev_pasids_init() is declared in internal.h.  It needs dev->ctx (after
 * sva_ctx_pasids_init) and dev->info.max_pasid_log2.  This frees dev->pasids: */
void sva_dev_pasids_fini(struct sva_dev *dev);

/* The tag sva_dev_pasid_alloc() gives dev's allocations (unique per device). */
void *sva_dev_pasid_tag(struct sva_dev *dev);
/* For the bind code: sva_dev_pasid_alloc() with an owner (see sva_pasid_alloc_ex). */
int sva_dev_pasid_alloc_owned(struct sva_dev *dev, enum sva_pasid_policy policy, void *owner, void *drvdata,
			      uint32_t *pasid);
/* -ERANGE (logged) if policy has no space on dev to allocate from: GLOBAL on
 * a device that does not cover the global range, DEVICE on one with no own
 * range, AUTO on one with neither.  Depends on the device, not on what is
 * allocated. */
int sva_dev_policy_reach(const struct sva_dev *dev, enum sva_pasid_policy policy);
/* sva_pasid_free_owned() / sva_pasid_lookup_owner() routed by value, as the
 * public sva_dev_pasid_* calls are.  The lookup logs nothing. */
int sva_dev_pasid_free_owned(struct sva_dev *dev, uint32_t pasid, void *owner);
int sva_dev_pasid_lookup_owner(struct sva_dev *dev, uint32_t pasid, void **owner, void **drvdata);
/* The space a PASID of dev belongs to, or NULL if none of dev's can hold it. */
struct sva_pasid_space *sva_dev_pasid_space_of(struct sva_dev *dev, uint32_t pasid);
/* Is every global PASID valid on dev? */
bool sva_dev_covers_global(const struct sva_dev *dev);

/* ------------------------------------------------------------- bond_pasid.c */

/*
 * Choose the value a PASID bond binds under (bond->dev, ->mm, ->flags and
 * ->drvdata set) and record it in bond->pasid and bond->share: the chosen
 * `pasid` (SVA_BIND_PASID), or by `policy` the address space's global PASID
 * or a new one.  Logged errors: -ERANGE the value or policy is outside the
 * device's reach; -ENOENT the chosen value is not allocated; -EBUSY it is
 * bound to another address space, is another bond's private PASID, or the
 * device already has a bond under it; -ENOSPC; -ENOMEM.  Called under
 * dev->lock; on error nothing has changed.
 */
int sva_bond_pasid_get(struct sva_dev *dev, struct sva_bond *bond, enum sva_pasid_policy policy, bool chosen,
		       uint32_t pasid);
/* The refusals of sva_bond_pasid_get() known before the bind makes
 * anything: the -ERANGE the device alone decides (its width and ranges),
 * and with a chosen value, its -ENOENT and -EBUSY as the value stands now.
 * Logged; 0 when the value or policy is within reach.  Under dev->lock. */
int sva_bond_pasid_reach(struct sva_dev *dev, struct sva_mm *mm, enum sva_pasid_policy policy, bool chosen,
			 uint32_t pasid);
/* The bond no longer uses its value (detached, unpublished): the last user
 * quarantines and releases it, or hands it back to the driver that owns it. */
void sva_bond_pasid_put(struct sva_bond *bond);
/* The bond is published (its device's lookups find it): a driver's value
 * becomes the share's in its space, so the driver's tag is no longer shown. */
void sva_bond_pasid_published(struct sva_bond *bond);
/* The bond is about to leave its device's table (unbind): the last published
 * bond under a driver's value gives the space the driver's tag back, pinned
 * until sva_bond_pasid_put(), so the allocating device finds the allocation
 * as soon as the bond is gone. */
void sva_bond_pasid_unpublishing(struct sva_bond *bond);
/* Undo sva_bond_pasid_get() of a bind that failed before attaching: a value
 * it allocated goes back unquarantined (no device saw it); otherwise as put. */
void sva_bond_pasid_unget(struct sva_bond *bond);
/* The same after a failed detach: the value is retired, so once its last user
 * goes it stays quarantined (or owned by the bond's share) forever. */
void sva_bond_pasid_retire(struct sva_bond *bond);
/* A bind or unbind in progress, on ctx->unlinked while its bond is alive but
 * may be off mm->bonds: a bind's from its allocation until it is linked
 * (then removed) or freed (removed first), an unbind's from before it leaves
 * mm->bonds until it is freed. */
void sva_bond_unlinked_add(struct sva_bond *bond);
void sva_bond_unlinked_remove(struct sva_bond *bond);
/* A forked child's sva_mm_free(): free the child's copies of mm's bonds, of
 * those of its binds and unbinds a fork caught in progress (ctx->unlinked),
 * and of the shares under them (mm->gshare included), taking a share off
 * ctx->pending_shares.  Memory only: the values and the kernel's objects are
 * the parent's.  A bond's device may be closed already: only a device still
 * on the context's list is followed, to take the bond out of the child's copy
 * of its table (sva_dev_bond_lookup() says -ENOENT for it then). */
void sva_bonds_child_free(struct sva_mm *mm);

#endif /* LIBSVA_PASID_SPACE_H */
