/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Bonds: (device, PASID or RID, address space).  Bind attaches an HWPT of the
 * address space's IOAS; unbind runs the mm_exit contract in the kernel's own
 * order, the six steps of sva_unbind(3): callback, detach, unpublish between
 * two fault batches, drop the HWPT, quarantine and release the PASID (or hand
 * a driver's back), free the bond.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "callback.h"
#include "fork_guard.h"
#include "internal.h"
#include "kabi.h"
#include "pasid_map.h"
#include "pasid_space.h"
#include "sigblock.h"
#include "track.h"

static bool dev_has_pasid(const struct sva_dev *dev)
{
	return dev->info.max_pasid_log2 > 0;
}

/* HWPT flags for a bond: PASID-compatible wherever the device has PASIDs, so
 * RID and PASID attachments can coexist (the kernel requires both compatible),
 * and fault-capable unless pinned. */
static uint32_t hwpt_flags(const struct sva_dev *dev, bool faults)
{
	return (dev_has_pasid(dev) ? KABI_IOMMU_HWPT_ALLOC_PASID : 0) | (faults ? KABI_IOMMU_HWPT_FAULT_ID_VALID : 0);
}

static void mm_window_changed(struct sva_mm *mm)
{
	pthread_mutex_lock(&mm->lock);
	mm->ranges_valid = false;
	pthread_mutex_unlock(&mm->lock);
}

/*
 * The first HWPT of an address space pins what it maps (-EFAULT for memory
 * the process no longer maps).  In a tracked one, that can be another
 * thread's munmap() in flight: its pages are gone, its event not read yet,
 * so the bind's fence had nothing to apply.  Wait (at most until deadline)
 * for the monitor to read and apply it; true when the bind should try again:
 * nothing visible is unmapped any more and the monitor moved since the
 * attempt (seq0), which an -EFAULT with nothing to withdraw would not do.
 */
#define UNMAP_WAIT_NS 500000000ull /* 500 ms: far more than an event takes to arrive */

static bool unmap_applied(struct sva_mm *mm, uint32_t seq0, uint64_t deadline)
{
	if (!atomic_load_explicit(&mm->tracked, memory_order_acquire))
		return false;
	for (;;) {
		uint32_t seq = sva_track_seq();

		if (sva_now_ns() >= deadline)
			return false;
		if (!sva_mm_visible_unmapped(mm))
			return seq != seq0;
		if (!sva_track_wait_seq(seq, deadline))
			return false;
		(void)sva_track_fence_mm(mm); /* -EIO: everything withdrawn, the retry maps nothing */
	}
}

/*
 * A forked child frees its copy of a HWPT record that is on mm->hwpts, or
 * that the bond of a bind or unbind in progress (on ctx->unlinked) holds and
 * is not on that list: a record in creation or, after its last put, in
 * destruction (sva_bonds_child_free()).  So a bond holds a record from its
 * allocation to its push onto mm->hwpts, and from its removal to its free;
 * the record is freed and the bond's pointer cleared inside one fork-guard
 * section (a fork between the two would leave the child a pointer to memory
 * freed before the fork, or a record nothing points to), and so are a
 * record's allocation and the bond's hold of it (hwpt_get()); and a put that is
 * not the last clears the pointer under mm->lock, before another bond's put
 * can take the record off and free it.
 */
static void hwpt_free_held(struct sva_hwpt **holder)
{
	struct sva_hwpt *h = *holder;

	sva_guard_enter();
	*holder = NULL;
	sva_free(h);
	sva_guard_leave();
}

#ifdef SVA_TEST_HOOKS
/* Tests only (libsva-test): called inside a push onto mm->hwpts or
 * mm->bonds, between its two stores. */
void (*sva_test_push_hook)(void);
#define PUSH_HOOK() (sva_test_push_hook ? sva_test_push_hook() : (void)0)
#else
#define PUSH_HOOK() ((void)0)
#endif

/*
 * A push onto mm->hwpts or mm->bonds (under mm->lock), inside one fork-guard
 * section: a fork finds it done or not begun.  Its two plain stores may
 * become visible in either order (the compiler's or a weakly ordered CPU's
 * choice); a child that saw the new head before its link lost every record
 * behind it: bonds leaked, and a lost HWPT record, no longer on the list,
 * taken by each bond holding it for one held off the list and freed once
 * per bond (child_free_held_hwpt(), bond_pasid.c).  mm->lock itself cannot
 * be a guard section (fault resolution holds it while it resolves and
 * logs), but this can: it waits for nothing, and no guard section takes
 * mm->lock, so a thread holding it that waits to enter waits for no one
 * who waits for it.
 */
static void push_hwpt(struct sva_mm *mm, struct sva_hwpt *h)
{
	sva_guard_enter();
	h->next = mm->hwpts;
	PUSH_HOOK();
	mm->hwpts = h;
	sva_guard_leave();
}

static void push_bond(struct sva_mm *mm, struct sva_bond *bond)
{
	sva_guard_enter();
	bond->mm_next = mm->bonds;
	PUSH_HOOK();
	mm->bonds = bond;
	sva_guard_leave();
}

#ifdef SVA_TEST_HOOKS
/* Tests only (libsva-test): called in hwpt_get() between a new record's
 * allocation and its hold by the bond, where test-bind-fork forks. */
void (*sva_test_hwpt_made_hook)(struct sva_hwpt *h);
#define HWPT_MADE(h) (sva_test_hwpt_made_hook ? sva_test_hwpt_made_hook(h) : (void)0)
#else
#define HWPT_MADE(h) ((void)0)
#endif

/* Find or create the device's HWPT on mm, into *out (the bond's; see above).
 * Called with dev->lock held. */
static int hwpt_get(struct sva_dev *dev, struct sva_mm *mm, bool faults, struct sva_hwpt **out)
{
	uint32_t flags = hwpt_flags(dev, faults), fault_id = 0;
	struct sva_hwpt *h;
	int ret;

	pthread_mutex_lock(&mm->lock);
	for (h = mm->hwpts; h; h = h->next)
		if (h->dev == dev && h->alloc_flags == flags)
			break;
	if (h) {
		h->refs++;
		pthread_mutex_unlock(&mm->lock);
		*out = h;
		return 0;
	}
	pthread_mutex_unlock(&mm->lock);

	if (faults) {
		ret = sva_fault_queue_get(dev->ctx, &fault_id);
		if (ret)
			return ret;
	}
	/* The bond holds the record until the push (a fork meanwhile: the
	 * child frees it).  Allocated and held inside one fork-guard section,
	 * as hwpt_free_held() frees and clears: a fork between the two left
	 * the child a record nothing reached. */
	sva_guard_enter();
	h = sva_calloc(1, sizeof(*h));
	if (h)
		HWPT_MADE(h);
	*out = h;
	sva_guard_leave();
	if (!h)
		return sva_fail(&dev->ctx->log, -ENOMEM, "sva_bind: out of memory for a HWPT's state");
	for (uint64_t deadline = sva_now_ns() + UNMAP_WAIT_NS;;) {
		uint32_t seq0 = sva_track_seq();

		ret = sva_iommufd_hwpt_alloc(dev->ctx->fd, dev->info.dev_id, mm->ioas_id, flags, fault_id, &h->id);
		if (ret != -EFAULT || !unmap_applied(mm, seq0, deadline))
			break;
	}
	if (ret) {
		char why[400] = "";

		if (ret == -ENOMEM) /* the first domain pins what prefaults made visible */
			snprintf(why, sizeof(why), " (pinning the memory already visible in the address space: %s)",
				 sva_pin_enomem_advice());
		else if (ret == -EADDRINUSE)
			snprintf(why, sizeof(why), " (memory already visible in the address space lies outside this "
						   "device's aperture: sva_mm_invalidate() it first, or bind before "
						   "making memory visible)");
		else if (ret == -EFAULT)
			snprintf(why, sizeof(why), " (memory sva_mm_prefault() made visible is memory the kernel "
						   "cannot pin (device memory, memfd_secret, past a file's end, a "
						   "guard page), or is no longer mapped or readable in the process, "
						   "and nothing withdrew it: sva_mm_invalidate() it first; or another "
						   "thread's munmap() of it sent no event within 500 ms: retry)");
		else if (ret == -EOPNOTSUPP && (flags & KABI_IOMMU_HWPT_FAULT_ID_VALID))
			snprintf(why, sizeof(why), " (the IOMMU driver cannot deliver this device's page faults: "
						   "bind with SVA_BIND_PINNED and sva_mm_prefault())");
		/* An isolated client's broker refuses an IOAS or fault queue it
		 * does not count as the client's with -EPERM, which sva_bind(3)
		 * does not list (the kernel's allocation never gives it): libsva
		 * and the broker disagree, libsva(7)'s -EPROTO.  The line says
		 * the broker's errno. */
		bool refused = ret == -EPERM && sva_iommufd_proxy(dev->ctx->fd);

		if (refused)
			snprintf(why, sizeof(why), " (the broker's refusal: the IOAS or the fault queue is not this "
						   "client's, as it counts them; returned as a protocol error)");
		hwpt_free_held(out);
		return sva_fail_said(&dev->ctx->log, refused ? -EPROTO : ret, "IOMMU_HWPT_ALLOC for %s on IOAS %u failed: %s%s",
				dev->label, mm->ioas_id, strerror(-ret), why);
	}
	h->dev = dev;
	h->alloc_flags = flags;
	h->refs = 1;
	pthread_mutex_lock(&mm->lock);
	push_hwpt(mm, h);
	pthread_mutex_unlock(&mm->lock);
	return 0;
}

/* Drop the reference *holder (a bond's) has, and clear it; the last one
 * destroys the HWPT (nothing is attached to it). */
static void hwpt_put(struct sva_mm *mm, struct sva_hwpt **holder)
{
	struct sva_hwpt *h = *holder, **pp;

	pthread_mutex_lock(&mm->lock);
	if (--h->refs > 0) {
		*holder = NULL; /* before another put may free it: see hwpt_free_held() */
		pthread_mutex_unlock(&mm->lock);
		return;
	}
	for (pp = &mm->hwpts; *pp != h; pp = &(*pp)->next)
		;
	*pp = h->next;
	pthread_mutex_unlock(&mm->lock);
	sva_iommufd_destroy(mm->ctx->fd, h->id);
	hwpt_free_held(holder);
}

/*
 * Put the RID on an empty PASID-compatible HWPT: PASID attach needs the RID's
 * domain to be PASID-compatible, and an empty one keeps requests without a
 * PASID away from every address space.  Called with dev->lock held.  `step`
 * NULL: a failure is logged here.  Else it is not (the caller says what
 * failed in its own one line, an unbind's -EIO) and *step names what failed,
 * for that line.
 */
static int rid_park_at(struct sva_dev *dev, const char **step)
{
	struct sva_ctx *ctx = dev->ctx;
	int ret;

	if (!dev->park_ioas) {
		ret = sva_iommufd_ioas_alloc(ctx->fd, &dev->park_ioas);
		if (ret && step)
			*step = "IOMMU_IOAS_ALLOC of its parking IOAS";
		if (ret)
			return step ? ret
				    : sva_fail_said(&ctx->log, ret, "IOMMU_IOAS_ALLOC for parking the RID failed: %s",
					       strerror(-ret));
	}
	if (!dev->park_hwpt) {
		ret = sva_iommufd_hwpt_alloc(ctx->fd, dev->info.dev_id, dev->park_ioas, KABI_IOMMU_HWPT_ALLOC_PASID, 0,
					     &dev->park_hwpt);
		if (ret && step)
			*step = "IOMMU_HWPT_ALLOC(ALLOC_PASID) of its parking page table";
		if (ret)
			return step ? ret
				    : sva_fail_said(&ctx->log, ret,
					       "IOMMU_HWPT_ALLOC(ALLOC_PASID) for %s failed: %s; its IOMMU "
					       "cannot attach PASIDs",
					       dev->label, strerror(-ret));
	}
	if (dev->rid_pt == dev->park_hwpt)
		return 0;
	ret = dev->be->attach(dev, dev->park_hwpt);
	if (ret && step)
		*step = "the attach to its parking page table";
	if (ret)
		return step ? ret
			    : sva_fail(&ctx->log, ret, "parking the RID of %s failed: %s", dev->label,
				       strerror(-ret));
	dev->rid_pt = dev->park_hwpt;
	dev->rid_ioas = dev->park_ioas;
	return 0;
}

static int rid_park(struct sva_dev *dev)
{
	return rid_park_at(dev, NULL);
}

/*
 * A sequence count over the (bond, drvdata) pair.  The release stores order the
 * odd count before the data and the data before the even count; a reader's
 * acquire loads order its second count read after the data.
 */
#ifdef SVA_TEST_HOOKS
/* Tests only (libsva-test): called inside a RID unpublish, between its stores. */
void (*sva_test_rid_unpublish_hook)(struct sva_dev *dev);
#define RID_UNPUBLISH(d) (sva_test_rid_unpublish_hook ? sva_test_rid_unpublish_hook(d) : (void)0)
#else
#define RID_UNPUBLISH(d) ((void)0)
#endif

static void rid_publish(struct sva_dev *dev, struct sva_bond *bond, void *drvdata)
{
	unsigned seq = atomic_load_explicit(&dev->rid_seq, memory_order_relaxed);
	sigset_t old;

	sva_signals_hold(&old); /* readers wait out an odd count: sigblock.h */
	atomic_store_explicit(&dev->rid_seq, seq + 1, memory_order_relaxed);
	atomic_store_explicit(&dev->rid_bond, bond, memory_order_release);
	SVA_BUSY_WINDOW();
	if (!bond)
		RID_UNPUBLISH(dev);
	atomic_store_explicit(&dev->rid_drvdata, drvdata, memory_order_release);
	atomic_store_explicit(&dev->rid_seq, seq + 2, memory_order_release);
	sva_signals_restore(&old);
}

/* The attach of a fault-capable HWPT is where a device without PRI is refused. */
/* The bond's membership of ctx->bonds, which sva_teardown() scans. */
static void bond_link(struct sva_bond *bond)
{
	struct sva_ctx *ctx = bond->dev->ctx;

	pthread_mutex_lock(&ctx->bonds_lock);
	bond->ctx_next = ctx->bonds;
	ctx->bonds = bond;
	pthread_mutex_unlock(&ctx->bonds_lock);
}

/*
 * The bind is done with the bond: from here a teardown may claim it (and free
 * it), and one that waits for it is woken.  Until then it was on ctx->bonds
 * as BINDING, which a teardown (process exit, sva_dev_close(), sva_mm_free()
 * or sva_ctx_free() on another thread) waits for: it used to claim the bond
 * as soon as it was linked, put it on ctx->unlinked a second time (while the
 * bind still had it there) and free it under the bind, which then read it.
 */
static void bond_bound(struct sva_bond *bond, struct sva_ctx *ctx)
{
	pthread_mutex_lock(&ctx->bonds_lock);
	atomic_store(&bond->state, SVA_BOND_BOUND);
	pthread_cond_broadcast(&ctx->bonds_cv);
	pthread_mutex_unlock(&ctx->bonds_lock);
}

/* Off the list, and teardowns waiting for it woken.  Before free(bond). */
static void bond_unlink(struct sva_bond *bond)
{
	struct sva_ctx *ctx = bond->dev->ctx;

	pthread_mutex_lock(&ctx->bonds_lock);
	for (struct sva_bond **pp = &ctx->bonds; *pp; pp = &(*pp)->ctx_next) {
		if (*pp == bond) {
			*pp = bond->ctx_next;
			break;
		}
	}
	pthread_cond_broadcast(&ctx->bonds_cv);
	pthread_mutex_unlock(&ctx->bonds_lock);
}

static int attach_failed(struct sva_dev *dev, struct sva_bond *bond, const char *what, int ret)
{
	struct sva_ctx *ctx = dev->ctx;

	if (ret == -EADDRINUSE)
		return sva_fail(&ctx->log, ret,
				"cannot attach %s: memory already visible in the address space overlaps "
				"a range the device reserves (e.g. the MSI window); invalidate it first",
				dev->label);
	if (!(bond->flags & SVA_BIND_PINNED) && (ret == -ENODEV || ret == -EOPNOTSUPP || ret == -EINVAL))
		return sva_fail(&ctx->log, ret,
				"attaching the %s of %s for I/O page faults failed (%s): the device or its "
				"IOMMU cannot take page faults (no PRI/stall); bind with SVA_BIND_PINNED and "
				"sva_mm_prefault()",
				what, dev->label, strerror(-ret));
	/* A broker's -EPROTO was logged at error level where it arose (a
	 * malformed reply, a status that is no errno, the broker's -EPERM or its
	 * own -EPROTO: broker_client.c, broker_conn.c): one error line. */
	if (ctx->broker && ret == -EPROTO)
		return sva_fail_debug(&ctx->log, ret, "attaching the %s of %s failed: %s (said above)", what,
				      dev->label, strerror(-ret));
	/* A broker's other refusals say why at the debug level (broker_client.c). */
	return sva_fail(&ctx->log, ret, "attaching the %s of %s failed: %s%s", what, dev->label,
			strerror(-ret),
			!ctx->broker		 ? ""
			: ret == -ECONNRESET ? " (the broker went away)"
			: ret == -ENOSPC     ? " (a limit of the broker's: PASIDs attached per client, see sva-brokerd(8))"
					     : " (the broker refused it: its reason is logged at debug level)");
}

static int bind_rid(struct sva_dev *dev, struct sva_bond *bond)
{
	struct sva_ctx *ctx = dev->ctx;
	int ret;

	/* An unbind clears the pair after it let go of dev->lock (sva_bond_teardown()):
	 * bound until the count is even again, or the two would interleave their
	 * stores and publish this bond with the old one's drvdata. */
	if (atomic_load_explicit(&dev->rid_bond, memory_order_acquire) ||
	    (atomic_load_explicit(&dev->rid_seq, memory_order_acquire) & 1))
		return sva_fail(&ctx->log, -EBUSY, "the RID of %s is already bound", dev->label);
	/* A broker client's device without its VFIO file: the RID is the
	 * broker's.  Said before anything is made, in one line. */
	if (ctx->broker && dev->fd < 0)
		return sva_fail(&ctx->log, -EOPNOTSUPP,
				"%s belongs to the broker: its RID cannot be bound by a client (bind a PASID)",
				dev->label);
	ret = hwpt_get(dev, bond->mm, !(bond->flags & SVA_BIND_PINNED), &bond->hwpt);
	if (ret)
		return ret;
	ret = dev->be->attach(dev, bond->hwpt->id);
	if (ret) {
		hwpt_put(bond->mm, &bond->hwpt);
		return attach_failed(dev, bond, "RID", ret);
	}
	dev->rid_pt = bond->hwpt->id;
	dev->rid_ioas = bond->mm->ioas_id;
	bond->pasid = SVA_PASID_RID;
	mm_window_changed(bond->mm);
	rid_publish(dev, bond, bond->drvdata);
	return 0;
}

/* Undo rid_park() of a bind that failed, so a failed call changes nothing. */
static void rid_unpark(struct sva_dev *dev)
{
	if (dev->be->detach(dev) == 0) {
		dev->rid_pt = 0;
		dev->rid_ioas = 0;
	}
}

/*
 * A failed bind also takes back the parking objects rid_park() made for it
 * (had_*: what the device had before the call, such as the mock's own IOAS),
 * once nothing is attached to them: otherwise they stayed in the iommufd
 * until sva_dev_close().
 */
static void park_discard(struct sva_dev *dev, uint32_t had_ioas, uint32_t had_hwpt)
{
	if (dev->bonds)
		return;
	if (!had_hwpt && dev->park_hwpt && dev->rid_pt != dev->park_hwpt) {
		sva_iommufd_destroy(dev->ctx->fd, dev->park_hwpt);
		dev->park_hwpt = 0;
	}
	if (!had_ioas && !dev->park_hwpt && dev->park_ioas && dev->rid_ioas != dev->park_ioas) {
		sva_iommufd_destroy(dev->ctx->fd, dev->park_ioas);
		dev->park_ioas = 0;
	}
}

/* What a detach that failed leaves (below, detach_failed()). */
static void attach_keep(struct sva_dev *dev, struct sva_bond *bond);

static int bind_pasid(struct sva_dev *dev, struct sva_bond *bond, const struct sva_bind_opts *opts)
{
	struct sva_ctx *ctx = dev->ctx;
	uint32_t had_ioas = dev->park_ioas, had_hwpt = dev->park_hwpt;
	bool parked_now = false;
	int ret;

	if (!dev_has_pasid(dev))
		return sva_fail(&ctx->log, -EOPNOTSUPP,
				"%s has no PASID support (width 0): bind its RID with SVA_BIND_RID",
				dev->label);
	if (!(bond->flags & SVA_BIND_EXTRA_PASID)) {
		for (struct sva_bond *b = dev->bonds; b; b = b->dev_next)
			if (b->mm == bond->mm && b->pasid != SVA_PASID_RID)
				return sva_fail(&ctx->log, -EEXIST,
						"%s is already bound to this address space under PASID %u; "
						"pass SVA_BIND_EXTRA_PASID for another PASID on it",
						dev->label, b->pasid);
	}
	/* Refused before anything is made, the fault queue included: no state
	 * of the spaces can bring a value or policy into the device's reach,
	 * and a chosen value not allocated or taken is a caller's mistake. */
	ret = sva_bond_pasid_reach(dev, bond->mm, opts->policy, opts->flags & SVA_BIND_PASID, opts->pasid);
	if (ret)
		return ret;
	if (!dev->rid_pt) {
		ret = rid_park(dev);
		if (ret) {
			park_discard(dev, had_ioas, had_hwpt);
			return ret;
		}
		parked_now = true;
	}
	ret = hwpt_get(dev, bond->mm, !(bond->flags & SVA_BIND_PINNED), &bond->hwpt);
	if (ret)
		goto unpark;
	ret = sva_bond_pasid_get(dev, bond, opts->policy, opts->flags & SVA_BIND_PASID, opts->pasid);
	if (ret) {
		hwpt_put(bond->mm, &bond->hwpt);
		goto unpark;
	}
	ret = sva_pasid_map_reserve(dev->bond_map, bond->pasid);
	if (ret)
		sva_fail(&ctx->log, ret, "%s: out of memory for its bond table", dev->label);
	else if ((ret = dev->be->pasid_attach(dev, bond->pasid, bond->hwpt->id)) != 0) {
		char what[32];

		snprintf(what, sizeof(what), "PASID %u", bond->pasid);
		attach_failed(dev, bond, what, ret);
	}
	if (ret && dev->attach_left) {
		/* Perhaps attached after all, and not undone: kept as a failed
		 * unbind's detach keeps it (detach_failed()), the value never
		 * handed out again, the HWPT never destroyed under it, and the
		 * PASID detached again at sva_dev_close().  The backend said so
		 * in its error line. */
		dev->attach_left = false;
		attach_keep(dev, bond);
		sva_bond_pasid_retire(bond);
		goto unpark;
	}
	if (ret) {
		/* Never attached here, so nothing can use it through this bond:
		 * a value it allocated that no other bond joined goes back
		 * without quarantine (sva_bond_pasid_unget()). */
		sva_bond_pasid_unget(bond);
		hwpt_put(bond->mm, &bond->hwpt);
		goto unpark;
	}
	/* Published once attached: lookups and the fault engine find it now. */
	sva_pasid_map_set(dev->bond_map, bond->pasid, bond, bond->drvdata);
	sva_bond_pasid_published(bond);
	mm_window_changed(bond->mm);
	return 0;
unpark:
	if (parked_now && !dev->bonds) {
		rid_unpark(dev);
		park_discard(dev, had_ioas, had_hwpt);
	}
	return ret;
}

SVA_EXPORT int sva_bind(struct sva_dev *dev, struct sva_mm *mm, const struct sva_bind_opts *uopts,
			struct sva_bond **out)
{
	struct sva_bind_opts opts;
	struct sva_bond_ops ops;
	struct sva_bond *bond;
	int ret;

	if (!dev || !mm)
		return sva_fail(dev ? &dev->ctx->log : mm ? &mm->ctx->log : sva_log_default(), -EINVAL,
				"sva_bind: %s is NULL", !dev ? "dev" : "mm");
	/* Before every other check (libsva(7), Calls inside callbacks): no
	 * other argument mends a bind that could wait for the callback's own
	 * bond, and a caller fixing the first error it sees should see this. */
	if (sva_callback_refusing())
		return sva_fail(&dev->ctx->log, -EDEADLK, "sva_bind: called from %s; bind after it returns",
				sva_callback_refusing());
	if (!out)
		return sva_fail(&dev->ctx->log, -EINVAL, "sva_bind: out is NULL");
	/* The first layout ended before pasid (SVA_BIND_PASID came later). */
	if (sva_opts_copy_min(&opts, sizeof(opts), offsetof(struct sva_bind_opts, pasid), uopts))
		return sva_opts_fail(&dev->ctx->log, "sva_bind", "sva_bind_opts", sizeof(opts), uopts);
	if (opts.flags & ~(SVA_BIND_RID | SVA_BIND_PINNED | SVA_BIND_EXTRA_PASID | SVA_BIND_PASID))
		return sva_fail(&dev->ctx->log, -EINVAL, "sva_bind: unknown flags 0x%x",
				opts.flags & ~(SVA_BIND_RID | SVA_BIND_PINNED | SVA_BIND_EXTRA_PASID | SVA_BIND_PASID));
	if (opts.reserved)
		return sva_fail(&dev->ctx->log, -EINVAL, "sva_bind: opts->reserved is not zero");
	/* Ignored, as documented, where the PASID is not chosen from a space. */
	if (!(opts.flags & (SVA_BIND_RID | SVA_BIND_PASID)) && (unsigned)opts.policy > SVA_PASID_DEVICE)
		return sva_fail(&dev->ctx->log, -EINVAL, "sva_bind: unknown PASID policy %d", (int)opts.policy);
	if ((opts.flags & SVA_BIND_PASID) && (opts.flags & SVA_BIND_RID))
		return sva_fail(&dev->ctx->log, -EINVAL, "sva_bind: SVA_BIND_PASID and SVA_BIND_RID exclude each other");
	if ((opts.flags & SVA_BIND_EXTRA_PASID) && (opts.flags & SVA_BIND_RID))
		return sva_fail(&dev->ctx->log, -EINVAL,
				"sva_bind: SVA_BIND_EXTRA_PASID is for PASID bonds, not with SVA_BIND_RID");
	if (!(opts.flags & SVA_BIND_PASID) && opts.pasid)
		return sva_fail(&dev->ctx->log, -EINVAL, "sva_bind: opts->pasid is set without SVA_BIND_PASID");
	/* The ops follow the size rule of every options struct (opts.c). */
	if (sva_opts_copy(&ops, sizeof(ops), opts.ops))
		return sva_fail(&dev->ctx->log, -EINVAL,
				"sva_bind: ops->size %zu is not sizeof(struct sva_bond_ops) (%zu), or bytes beyond "
				"the fields this libsva knows are set", opts.ops->size, sizeof(ops));
	if (mm->ctx != dev->ctx)
		return sva_fail(&dev->ctx->log, -EINVAL, "sva_bind: device and address space are in different contexts");
	ret = sva_ctx_check_owner(dev->ctx);
	if (ret)
		return ret;
	/* Also where the HWPT exists already, which would skip the queue's check. */
	if (!(opts.flags & SVA_BIND_PINNED)) {
		ret = sva_fault_in_service(dev->ctx);
		if (ret)
			return ret;
	}
	/*
	 * The first device's HWPT makes the kernel pin everything the IOAS maps
	 * (an IOAS without a domain pins nothing): memory prefaulted before and
	 * unmapped since, whose event the monitor has read but not applied yet,
	 * would fail that pin (-EFAULT).  The fence applies it; no system call
	 * when nothing is pending.  A failure here (tracking stopped) has
	 * withdrawn everything already.
	 */
	(void)sva_track_fence_mm(mm);
	/* Gone already: one line that says so, not the kernel's view of it. */
	if (dev->ctx->broker && sva_iommufd_broker_gone(dev->ctx->fd))
		return sva_fail(&dev->ctx->log, -ECONNRESET, "sva_bind: the broker went away");
	bond = sva_calloc(1, sizeof(*bond));
	if (!bond)
		return sva_fail(&dev->ctx->log, -ENOMEM, "sva_bind: out of memory for the bond");
	bond->dev = dev;
	bond->mm = mm;
	bond->flags = opts.flags;
	bond->drvdata = opts.drvdata;
	bond->ops = ops;
	atomic_init(&bond->state, SVA_BOND_BINDING);
	/* Reachable from the context while unlinked: a fork in the middle
	 * leaves the child's sva_mm_free() its copy to free. */
	sva_bond_unlinked_add(bond);

	pthread_mutex_lock(&dev->lock);
	ret = (opts.flags & SVA_BIND_RID) ? bind_rid(dev, bond) : bind_pasid(dev, bond, &opts);
	if (ret) {
		pthread_mutex_unlock(&dev->lock);
		sva_bond_unlinked_remove(bond);
		sva_free(bond);
		/* A broker that stopped cleanly destroyed the device's objects
		 * first: the kernel's -ENOENT means the broker went away (it did
		 * during this call: the line about the failure is logged). */
		if (ret == -ENOENT && sva_iommufd_broker_gone(dev->ctx->fd))
			ret = sva_fail_debug(&dev->ctx->log, -ECONNRESET, "sva_bind: the broker went away");
		return ret;
	}
	bond->dev_next = dev->bonds;
	dev->bonds = bond;
	bond_link(bond);
	pthread_mutex_lock(&mm->lock);
	push_bond(mm, bond);
	pthread_mutex_unlock(&mm->lock);
	pthread_mutex_unlock(&dev->lock);
	/* Only now: a fork in between leaves it on both, which the child
	 * takes once (sva_bonds_child_free()). */
	sva_bond_unlinked_remove(bond);
	sva_logf(&dev->ctx->log, SVA_LOG_INFO, "bound %s %s %u to IOAS %u (%s)", dev->label,
		 bond->pasid == SVA_PASID_RID ? "RID" : "PASID", bond->pasid == SVA_PASID_RID ? 0 : bond->pasid,
		 mm->ioas_id, (opts.flags & SVA_BIND_PINNED) ? "pinned" : "faults");
	/* Last: from here another thread's teardown may free the bond. */
	bond_bound(bond, dev->ctx);
	*out = bond;
	return 0;
}

static void unlink_bond(struct sva_bond **head, struct sva_bond *bond, bool by_mm)
{
	for (struct sva_bond **pp = head; *pp; pp = by_mm ? &(*pp)->mm_next : &(*pp)->dev_next) {
		if (*pp == bond) {
			*pp = by_mm ? bond->mm_next : bond->dev_next;
			return;
		}
	}
}

/*
 * The detach failed: the device may still reach the address space through
 * the PASID (or RID).  The bond goes, but what the device may still use
 * stays: the HWPT keeps this bond's reference (never destroyed while it may
 * be attached; sva_mm_free() forgets it, the kernel frees it with the
 * iommufd), and the PASID value is retired for good (sva_bond_pasid_retire()
 * never releases it).  Called with dev->lock held.  `step`: what failed, for
 * a RID parked again (rid_park_at()); else NULL.
 */
static void attach_keep(struct sva_dev *dev, struct sva_bond *bond)
{
	/* The kept HWPT is no device's to share any more: a later bind of this
	 * device gets a new one, and once the device is closed its pointer here
	 * could match another device opened at the same address. */
	pthread_mutex_lock(&bond->mm->lock);
	bond->hwpt->dev = NULL;
	pthread_mutex_unlock(&bond->mm->lock);
	if (bond->pasid != SVA_PASID_RID) {
		uint32_t *s = sva_realloc(dev->stuck, (dev->nstuck + 1) * sizeof(*s));

		if (s) {
			s[dev->nstuck++] = bond->pasid;
			dev->stuck = s;
		}
	}
}

static int detach_failed(struct sva_dev *dev, struct sva_bond *bond, int ret, const char *step)
{
	attach_keep(dev, bond);
	return sva_fail(&dev->ctx->log, -EIO,
			"detaching %s %u of %s failed%s%s%s: %s; the bond is gone but the device may still "
			"reach the address space; its HWPT is kept, and %s",
			bond->pasid == SVA_PASID_RID ? "RID" : "PASID", bond->pasid == SVA_PASID_RID ? 0 : bond->pasid,
			dev->label, step ? " (parking it again: " : "", step ? step : "", step ? ")" : "", strerror(-ret),
			bond->pasid == SVA_PASID_RID ? "a later RID bind attaches the RID anew"
						     : "its PASID stays reserved for good");
}

#ifdef SVA_TEST_HOOKS
/* Tests only (libsva-test): called in an unbind once the bond has left its
 * device's table, before its PASID goes back. */
void (*sva_test_unpublished_hook)(struct sva_bond *bond);
#define UNPUBLISHED(b) (sva_test_unpublished_hook ? sva_test_unpublished_hook(b) : (void)0)
#else
#define UNPUBLISHED(b) ((void)0)
#endif

#ifdef SVA_TEST_HOOKS
/* Tests only (libsva-test): called in an unbind once the bond is off
 * ctx->bonds, before it is freed.  From here a teardown that waited for it
 * (sva_dev_close(), sva_mm_free(), sva_ctx_free()) may run to its end and
 * free the device, the address space and the context; test-unbind-close
 * lets it, to catch a read of any of them after this point. */
void (*sva_test_off_bonds_hook)(struct sva_bond *bond);
#define OFF_BONDS(b) (sva_test_off_bonds_hook ? sva_test_off_bonds_hook(b) : (void)0)
#else
#define OFF_BONDS(b) ((void)0)
#endif

/* The bond is claimed (state EXITING, by sva_unbind() or sva_teardown()). */
int sva_bond_teardown(struct sva_bond *bond)
{
	struct sva_dev *dev = bond->dev;
	struct sva_mm *mm = bond->mm;
	const char *step = NULL;
	int ret;

	/* 1. The driver drains its work while the PASID still translates. No lock held. */
	if (bond->ops.mm_exit) {
		sva_callback_enter(SVA_CB_MM_EXIT);
		bond->ops.mm_exit(bond, bond->drvdata);
		sva_callback_leave(SVA_CB_MM_EXIT);
	}

	pthread_mutex_lock(&dev->lock);
	/* 2. Detach: the kernel answers whatever faults are still pending. */
	if (bond->pasid == SVA_PASID_RID) {
		/* Quiet: detach_failed() logs the call's one line (libsva(7), Errors). */
		ret = dev_has_pasid(dev) ? rid_park_at(dev, &step) : dev->be->detach(dev);
		if (!dev_has_pasid(dev) && !ret) {
			dev->rid_pt = 0;
			dev->rid_ioas = 0;
		}
	} else {
		ret = dev->be->pasid_detach(dev, bond->pasid);
	}
	if (ret)
		ret = detach_failed(dev, bond, ret, step);
	mm_window_changed(mm);
	pthread_mutex_unlock(&dev->lock);
	/*
	 * Unpublish with the fault engine's batches held off: a batch that already
	 * found this bond finishes first, and none after this can find it.  Not
	 * under dev->lock: that batch's fault_error callback may call
	 * sva_dev_get_info() of this device, which takes it.  Nothing else can
	 * write this entry meanwhile: a bind under the same PASID or RID sees it
	 * still published (-EBUSY) until it is cleared here, and the value
	 * stays this bond's until step 5 of sva_unbind(3) frees it.
	 */
	if (bond->pasid != SVA_PASID_RID)
		sva_bond_pasid_unpublishing(bond); /* before: no lookup ever finds nothing */
	sva_fault_exclude(dev->ctx);
	if (bond->pasid == SVA_PASID_RID)
		rid_publish(dev, NULL, NULL);
	else
		sva_pasid_map_clear(dev->bond_map, bond->pasid);
	sva_fault_unexclude(dev->ctx);
	UNPUBLISHED(bond);
	/* Reachable from the context until it leaves ctx->bonds: a fork until
	 * then leaves the child's sva_mm_free() its copy (and share) to free. */
	sva_bond_unlinked_add(bond);
	pthread_mutex_lock(&dev->lock);
	unlink_bond(&dev->bonds, bond, false);
	pthread_mutex_lock(&mm->lock);
	unlink_bond(&mm->bonds, bond, true);
	pthread_mutex_unlock(&mm->lock);
	/* 3. The HWPT goes when its last bond does, unless it may still be attached. */
	if (!ret)
		hwpt_put(mm, &bond->hwpt);
	/* 4-5. The last bond under the value quarantines and releases it: every
	 * mm_exit under it has returned, every device has detached it. */
	if (bond->pasid != SVA_PASID_RID && ret)
		sva_bond_pasid_retire(bond);
	else if (bond->pasid != SVA_PASID_RID)
		sva_bond_pasid_put(bond);
	pthread_mutex_unlock(&dev->lock);
	if (!ret)
		sva_logf(&dev->ctx->log, SVA_LOG_INFO, "unbound %s %s %u", dev->label,
			 bond->pasid == SVA_PASID_RID ? "RID" : "PASID",
			 bond->pasid == SVA_PASID_RID ? 0 : bond->pasid);
	/* Before bond_unlink(): once off ctx->bonds, a sva_dev_close() or
	 * sva_ctx_free() waiting for it may free the device and the context
	 * this reads (a fork in between costs the child this bond's copy). */
	sva_bond_unlinked_remove(bond);
	bond_unlink(bond);
	OFF_BONDS(bond);
	/* Nothing of dev, mm or the context from here on: only the bond. */
	sva_free(bond);
	return ret;
}

SVA_EXPORT int sva_unbind(struct sva_bond *bond)
{
	struct sva_ctx *ctx;
	int expected = SVA_BOND_BOUND, ret;

	if (!bond)
		return sva_fail(sva_log_default(), -EINVAL, "sva_unbind: bond is NULL");
	ctx = bond->dev->ctx;
	/* Before -ECHILD too (libsva(7), Calls inside callbacks). */
	if (sva_callback_refusing())
		return sva_fail(&ctx->log, -EDEADLK,
				"sva_unbind: called from %s, where unbinding could wait for itself; unbind after "
				"the callback returns", sva_callback_refusing());
	ret = sva_ctx_check_owner(ctx);
	if (ret)
		return ret;
	if (!atomic_compare_exchange_strong(&bond->state, &expected, SVA_BOND_EXITING))
		return sva_fail(&ctx->log, -EINVAL, "sva_unbind: bond is %s",
				expected == SVA_BOND_BINDING ? "still being bound (its sva_bind() has not returned)"
							     : "already being torn down");
	return sva_bond_teardown(bond);
}

void sva_dev_detach_stuck(struct sva_dev *dev)
{
	pthread_mutex_lock(&dev->lock);
	for (size_t i = 0; i < dev->nstuck; i++) {
		int ret = dev->be->pasid_detach(dev, dev->stuck[i]);

		if (ret)
			sva_logf(&dev->ctx->log, SVA_LOG_ERROR, "%s: detaching PASID %u failed again: %s",
				 dev->label, dev->stuck[i], strerror(-ret));
	}
	sva_free(dev->stuck);
	dev->stuck = NULL;
	dev->nstuck = 0;
	pthread_mutex_unlock(&dev->lock);
}

SVA_EXPORT uint32_t sva_bond_pasid(const struct sva_bond *bond)
{
	return bond ? bond->pasid : SVA_PASID_RID;
}

SVA_EXPORT void *sva_bond_drvdata(const struct sva_bond *bond)
{
	return bond ? bond->drvdata : NULL;
}

SVA_EXPORT int sva_dev_bond_lookup(struct sva_dev *dev, uint32_t pasid, struct sva_bond **bondp, void **drvdata)
{
	void *bond, *data;
	unsigned seq;

	if (!dev)
		return -EINVAL;
	if (pasid != SVA_PASID_RID) {
		/* The pair comes from the device's own table: the bond is never
		 * dereferenced here, so an unbind racing the lookup cannot turn it
		 * into a use after free. */
		if (sva_pasid_map_get(dev->bond_map, pasid, &bond, &data)) {
			/* Why not, for the errno: -EOPNOTSUPP, -ERANGE or -ENOENT. */
			int ret = sva_dev_pasid_lookup_owner(dev, pasid, NULL, NULL);

			return ret == -EOPNOTSUPP || ret == -ERANGE ? ret : -ENOENT;
		}
	} else {
		for (;;) {
			seq = atomic_load_explicit(&dev->rid_seq, memory_order_acquire);
			/* An odd count in a forked child is a parent's publish
			 * or unpublish the fork caught (a bind or unbind in
			 * progress, which no thread here finishes), or the
			 * child's own sva_mm_free() writing NULL: no bond of
			 * the child's either way. */
			if (__builtin_expect(seq & 1, 0) && sva_ctx_forked(dev->ctx))
				return -ENOENT;
			bond = atomic_load_explicit(&dev->rid_bond, memory_order_acquire);
			data = atomic_load_explicit(&dev->rid_drvdata, memory_order_acquire);
			if (!(seq & 1) && seq == atomic_load_explicit(&dev->rid_seq, memory_order_relaxed))
				break;
		}
		if (!bond)
			return -ENOENT;
	}
	if (bondp)
		*bondp = bond;
	if (drvdata)
		*drvdata = data;
	return 0;
}

/* sva-brokerd parks the RID of the devices it opens (broker clients bind PASIDs only). */
int sva_dev_rid_park(struct sva_dev *dev)
{
	int ret;

	pthread_mutex_lock(&dev->lock);
	ret = rid_park(dev);
	pthread_mutex_unlock(&dev->lock);
	return ret;
}
