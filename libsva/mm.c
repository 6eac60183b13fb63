/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Address spaces: an IOAS in which IOVA == VA, and the table of chunks mapped
 * into it.  IOMMU_IOAS_UNMAP must cover whole mapped areas (a partial unmap is
 * ENOENT), so the granularity of a map is the granularity of its unmap: the
 * table records exactly what each IOAS_MAP call mapped.
 */
#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "callback.h"
#include "broker_share.h"
#include "internal.h"
#include "pasid_space.h"
#include "teardown.h"
#include "track.h"
#include "withdraw.h"

#define PAGE 4096ull

/* The last reason an untracked creation was logged for (0: none yet). */
static atomic_int g_untracked_logged;

/* What to do about ret, the failure to get what (sva_track_add()). */
static const char *track_remedy(int ret, enum sva_track_part what)
{
	switch (ret) {
	case -EPERM:
		return what != SVA_TRACK_UFFD ? ""
						    : "; a seccomp profile (Docker's default) or "
						      "vm.unprivileged_userfaultfd=0 refuses it, and "
						      "/dev/userfaultfd (Linux 6.1) is absent or not open to this user";
	case -ENOSYS:
		return what != SVA_TRACK_UFFD ? ""
					      : "; the kernel has no CONFIG_USERFAULTFD (or a seccomp filter answers "
						"ENOSYS, and /dev/userfaultfd is absent or not open to this user)";
	case -EOPNOTSUPP:
		return "; the kernel lacks its UNMAP, REMOVE or REMAP events, or write-protect registration "
		       "(UFFD_FEATURE_PAGEFAULT_FLAG_WP: no uffd-wp on this architecture or CPU), or refuses "
		       "the API handshake (UFFDIO_API)";
	default:
		return sva_errno_remedy(ret, what == SVA_TRACK_THREAD);
	}
}

static int track_start(struct sva_mm *mm)
{
	enum sva_track_part what = SVA_TRACK_UFFD;
	int ret;

	if (mm->flags & SVA_MM_UNTRACKED) {
		mm->untracked_reason = -ENOTCONN;
		return 0;
	}
	ret = sva_track_add(mm, &what); /* marks mm tracked */
	if (!ret)
		return 0;
	mm->untracked_reason = ret;
	if (mm->flags & SVA_MM_TRACK_STRICT)
		return sva_fail(&mm->ctx->log, ret,
				"sva_mm_new: coherence tracking is impossible here (%s: %s%s) and "
				"SVA_MM_TRACK_STRICT was asked for",
				sva_track_part_name(what), strerror(-ret), track_remedy(ret, what));
	/* Once per process for a lasting cause (seccomp), but again when the
	 * cause changes: a passing shortage must not hide it. */
	if (atomic_exchange(&g_untracked_logged, ret) != ret)
		sva_logf(&mm->ctx->log, SVA_LOG_WARN,
			 "coherence tracking is unavailable (%s: %s%s): the address space is not tracked, so "
			 "call sva_mm_invalidate() after munmap()/madvise() of memory devices have seen",
			 sva_track_part_name(what), strerror(-ret), track_remedy(ret, what));
	return 0;
}

SVA_EXPORT int sva_mm_new(struct sva_ctx *ctx, const struct sva_mm_opts *uopts, struct sva_mm **out)
{
	const uint32_t known = SVA_MM_PRIVATE | SVA_MM_UNTRACKED | SVA_MM_TRACK_STRICT | SVA_MM_RESTRICTED;
	struct sva_mm_opts opts;
	struct sva_mm *mm;
	int ret;

	if (!ctx || !out)
		return sva_fail(ctx ? &ctx->log : sva_log_default(), -EINVAL, "sva_mm_new: %s is NULL",
				ctx ? "out" : "ctx");
	/* 1.0's struct ended before pin_budget. */
	if (sva_opts_copy_min(&opts, sizeof(opts), offsetof(struct sva_mm_opts, pin_budget), uopts))
		return sva_opts_fail(&ctx->log, "sva_mm_new", "sva_mm_opts", sizeof(opts), uopts);
	if (opts.flags & ~known)
		return sva_fail(&ctx->log, -EINVAL, "sva_mm_new: unknown flags 0x%x", opts.flags & ~known);
	if ((opts.flags & SVA_MM_UNTRACKED) && (opts.flags & SVA_MM_TRACK_STRICT))
		return sva_fail(&ctx->log, -EINVAL, "sva_mm_new: SVA_MM_UNTRACKED and SVA_MM_TRACK_STRICT together");
	if (opts.fault_around && (opts.fault_around < 4096 || (opts.fault_around & (opts.fault_around - 1)) ||
				  opts.fault_around > (1ull << 30)))
		return sva_fail(&ctx->log, -EINVAL,
				"sva_mm_new: fault_around %llu is not a power of two between 4 KiB and 1 GiB",
				(unsigned long long)opts.fault_around);
	if (opts.pin_budget && opts.pin_budget < PAGE)
		return sva_fail(&ctx->log, -EINVAL, "sva_mm_new: pin_budget %llu is less than one 4 KiB page",
				(unsigned long long)opts.pin_budget);
	/* After the arguments (libsva(7), Errors in a forked child). */
	ret = sva_ctx_check_owner(ctx);
	if (ret)
		return ret;
	mm = sva_calloc(1, sizeof(*mm));
	if (!mm)
		return sva_fail(&ctx->log, -ENOMEM, "sva_mm_new: out of memory for the address space's state");
	ret = sva_iommufd_ioas_alloc(ctx->fd, &mm->ioas_id);
	if (ret) {
		sva_free(mm);
		return sva_fail_said(&ctx->log, ret, "IOMMU_IOAS_ALLOC failed: %s", strerror(-ret));
	}
	pthread_mutex_init(&mm->lock, NULL);
	pthread_mutex_init(&mm->map_lock, NULL);
	mm->maps_fd = open("/proc/self/maps", O_RDONLY | O_CLOEXEC); /* -1: opened per prefault */
	mm->ctx = ctx;
	mm->flags = opts.flags;
	mm->pin.budget = opts.pin_budget == SVA_PIN_UNLIMITED ? 0
			 : opts.pin_budget			? opts.pin_budget & ~(PAGE - 1)
								: sva_pin_default_budget();
	/* The ramp stops where the budget caps a window, as it stops at
	 * fault_around: capping it after the fact cut an in-order window down
	 * to the aligned block around the fault, mostly mapped already. */
	mm->fa_cap = opts.fault_around ? opts.fault_around : SVA_FAULT_AROUND_DEFAULT;
	if (mm->fa_cap > sva_pin_window_cap(mm->pin.budget))
		mm->fa_cap = sva_pin_window_cap(mm->pin.budget);
	ret = track_start(mm);
	if (ret) {
		sva_iommufd_destroy(ctx->fd, mm->ioas_id);
		pthread_mutex_destroy(&mm->lock);
		pthread_mutex_destroy(&mm->map_lock);
		if (mm->maps_fd >= 0)
			close(mm->maps_fd);
		sva_free(mm);
		return ret;
	}
	sva_broker_mm_add(mm); /* an isolated client's: unsharing withdraws from it */
	if (!sva_broker_ctx_isolated(ctx)) /* the broker maps an isolated client's, under its own limit */
		sva_pin_donor_add(mm);
	sva_ctx_get(ctx);
	*out = mm;
	return 0;
}

/* The IOAS of a freed address space that a kept HWPT holds: unmap it all
 * (iova 0, length UINT64_MAX is IOMMU_IOAS_UNMAP's "everything": the kernel
 * answers 0 for an empty IOAS, an isolated broker -ENOENT). */
static void empty_kept_ioas(struct sva_mm *mm)
{
	int ret = sva_iommufd_ioas_unmap(mm->ctx->fd, mm->ioas_id, 0, UINT64_MAX);

	if (ret && ret != -ENOENT)
		sva_logf(&mm->ctx->log, SVA_LOG_ERROR,
			 "sva_mm_free: IOAS %u, held by the page table a failed detach kept, could not be "
			 "emptied (%s): its pages stay pinned until the context is freed",
			 mm->ioas_id, strerror(-ret));
	else
		sva_logf(&mm->ctx->log, SVA_LOG_WARN,
			 "sva_mm_free: IOAS %u is held by the page table a failed detach kept: emptied and "
			 "unpinned instead of destroyed; it goes when the context is freed",
			 mm->ioas_id);
}

SVA_EXPORT void sva_mm_free(struct sva_mm *mm)
{
	struct sva_ctx *ctx;

	if (!mm)
		return;
	ctx = mm->ctx;
	if (sva_callback_refusing()) {
		sva_fail(&ctx->log, -EDEADLK, "sva_mm_free: called from %s, where it could wait for that "
			 "callback's own bond or lock; nothing was freed", sva_callback_refusing());
		return;
	}
	if (sva_ctx_forked(ctx)) {
		/* The parent's bonds and IOAS are not ours to tear down. */
		sva_logf(&ctx->log, SVA_LOG_DEBUG, "forked child: freeing address space memory only");
		sva_chunks_clear(&mm->chunks);
		for (struct sva_chunk *c = mm->grave, *n; c; c = n) {
			n = c->next[0];
			sva_free(c);
		}
		/* Likewise the bonds and their PASIDs' shares: as the parent's
		 * sva_mm_free() ends its bonds, the child's ends its copies.
		 * First: it compares the bonds' HWPT records with mm->hwpts. */
		sva_bonds_child_free(mm);
		/* Only the records: the HWPTs are the parent's. */
		for (struct sva_hwpt *h = mm->hwpts, *n; h; h = n) {
			n = h->next;
			sva_free(h);
		}
		sva_rset_fini(&mm->allowed);
		if (mm->maps_fd >= 0)
			close(mm->maps_fd);
		sva_free(mm);
		/* Its reference too: the child's last put closes its copies of the
		 * context's descriptors (the iommufd, the fault queue, a broker's
		 * socket), which would otherwise keep the parent's objects alive. */
		sva_ctx_put(ctx);
		return;
	}
	/* Bonds another thread is tearing down are waited for. */
	sva_teardown(ctx, SVA_TEARDOWN_MM, mm);
	/* Off the monitor's, the broker client's and the donors' lists before anything of mm goes. */
	sva_track_remove(mm);
	sva_broker_mm_remove(mm);
	sva_pin_donor_remove(mm);
	/* Destroying the IOAS unmaps and unpins everything still in it.  A HWPT
	 * a failed detach kept (bond.c) holds it: then it is emptied instead, so
	 * its pins go and the device that may still use the PASID reaches
	 * nothing; the empty IOAS goes with the iommufd. */
	if (sva_iommufd_destroy(ctx->fd, mm->ioas_id) && mm->hwpts)
		empty_kept_ioas(mm);
	/* HWPTs left only by failed detaches (bond.c): the kernel frees them
	 * with the iommufd; here only their records go. */
	for (struct sva_hwpt *h = mm->hwpts, *n; h; h = n) {
		n = h->next;
		sva_free(h);
	}
	sva_mm_reap(mm);
	pthread_mutex_destroy(&mm->lock);
	pthread_mutex_destroy(&mm->map_lock);
	sva_chunks_clear(&mm->chunks);
	sva_rset_fini(&mm->allowed);
	if (mm->maps_fd >= 0)
		close(mm->maps_fd);
	sva_free(mm);
	sva_ctx_put(ctx);
}

static int check_range(const void *addr, size_t len, uint64_t *start, uint64_t *end)
{
	uint64_t a = (uintptr_t)addr;

	/* Its end must round up to a page without wrapping: up to 2^64 - 4096. */
	if (!len || a + len < a || a + len > UINT64_MAX - PAGE + 1)
		return -EINVAL;
	*start = a & ~(PAGE - 1);
	*end = (a + len + PAGE - 1) & ~(PAGE - 1);
	return 0;
}

/* Is [start, end) inside the IOVA ranges the IOAS allows now? */
static int reachable(struct sva_mm *mm, uint64_t start, uint64_t end)
{
	/* Read afresh: the same reader and limits as the fault path (window.c). */
	return sva_mm_window_check_locked(mm, start, end, true);
}

/* The log line for a failed map, written outside map_lock (a log callback may free()). */
static int map_error(struct sva_mm *mm, int ret, uint64_t start, uint64_t end)
{
	switch (ret) {
	case -ENOMEM:
		/* An isolated client's pins are the broker's, within its isolated-pin-max. */
		if (sva_broker_ctx_isolated(mm->ctx))
			return sva_fail(&mm->ctx->log, ret,
					"sva_mm_prefault: mapping 0x%llx-0x%llx: over the broker's isolated-pin-max "
					"for this client, or the broker's own memory lock limit (unshare or "
					"invalidate what the device no longer needs, or raise isolated-pin-max: "
					"sva-brokerd(8))",
					(unsigned long long)start, (unsigned long long)end);
		return sva_fail(&mm->ctx->log, ret, "sva_mm_prefault: mapping 0x%llx-0x%llx: %s",
				(unsigned long long)start, (unsigned long long)end, sva_pin_enomem_advice());
	case -EPERM:
		return sva_fail(&mm->ctx->log, ret,
				"sva_mm_prefault: mapping 0x%llx-0x%llx: the kernel cannot pin these pages "
				"(device memory, PFNMAP, secretmem, a page past the end of a file, or a "
				"dirty-tracked shared file mapping)",
				(unsigned long long)start, (unsigned long long)end);
	case -EBUSY:
	case -EINVAL:
		if (mm->flags & SVA_MM_TRACK_STRICT)
			return sva_fail(&mm->ctx->log, ret,
					"sva_mm_prefault: mapping 0x%llx-0x%llx: it cannot be tracked (%s) and "
					"the address space is SVA_MM_TRACK_STRICT",
					(unsigned long long)start, (unsigned long long)end,
					ret == -EBUSY ? "another userfaultfd has registered it"
						      : "userfaultfd cannot register this kind of mapping");
		break;
	case -EIO:
		/* A registration that found the userfaultfd's number closed or
		 * another file's: nothing was mapped, and the kernel's map was
		 * never asked (the other -EIOs, of an upgrade, log their own
		 * line first). */
		if ((mm->flags & SVA_MM_TRACK_STRICT) && !atomic_load(&mm->tracked))
			return sva_fail(&mm->ctx->log, ret,
					"sva_mm_prefault: mapping 0x%llx-0x%llx: coherence tracking stopped "
					"(SVA_MM_TRACK_STRICT): nothing mapped",
					(unsigned long long)start, (unsigned long long)end);
		break;
	case -E2BIG:
		return sva_fail(&mm->ctx->log, ret,
				"sva_mm_prefault: 0x%llx-0x%llx: the pieces around what is visible already "
				"need more than 64 maps: split the call",
				(unsigned long long)start, (unsigned long long)end);
	case -EFAULT:
		if (sva_broker_ctx_isolated(mm->ctx))
			return sva_fail(&mm->ctx->log, ret,
					"sva_mm_prefault: mapping 0x%llx-0x%llx: the broker maps only inside a range "
					"this isolated client shared, and it is not (unshared by another thread "
					"meanwhile?)",
					(unsigned long long)start, (unsigned long long)end);
		return sva_fail(&mm->ctx->log, ret,
				"sva_mm_prefault: mapping 0x%llx-0x%llx: part of it holds guard pages "
				"(MADV_GUARD_INSTALL), or the process unmapped or replaced it meanwhile "
				"(another thread?)",
				(unsigned long long)start, (unsigned long long)end);
	default:
		break;
	}
	return sva_fail_said(&mm->ctx->log, ret, "sva_mm_prefault: IOMMU_IOAS_MAP 0x%llx-0x%llx failed: %s",
			(unsigned long long)start, (unsigned long long)end, strerror(-ret));
}

#define MAP_VMAS 64

/* The checks of a map, before anything changes: the VMAs of [start, end) into
 * vmas[MAP_VMAS].  Logged errors: -EFAULT, -E2BIG, -EACCES, -ERANGE, others
 * of reading the mappings. */
static int map_check_locked(struct sva_mm *mm, uint64_t start, uint64_t end, struct sva_vma *vmas, size_t *nvmap)
{
	size_t nvma;
	int ret;

	ret = sva_vma_collect(mm->maps_fd, start, end, vmas, MAP_VMAS, &nvma);
	if (ret == -EFAULT)
		return sva_fail(&mm->ctx->log, ret,
				"sva_mm_prefault: 0x%llx-0x%llx is not (entirely) mapped in this process: map it "
				"first, or prefault only what is mapped",
				(unsigned long long)start, (unsigned long long)end);
	if (ret == -E2BIG)
		return sva_fail(&mm->ctx->log, ret,
				"sva_mm_prefault: 0x%llx-0x%llx spans more than %u mappings: split the call",
				(unsigned long long)start, (unsigned long long)end, MAP_VMAS);
	if (ret)
		return sva_fail(&mm->ctx->log, ret, "sva_mm_prefault: cannot read this process's mappings: %s",
				strerror(-ret));
	for (size_t i = 0; i < nvma; i++)
		if (!vmas[i].prot)
			return sva_fail(&mm->ctx->log, -EACCES,
					"sva_mm_prefault: 0x%llx-0x%llx is PROT_NONE: a device cannot use it "
					"(mprotect() it first, or leave it out of the range)",
					(unsigned long long)vmas[i].start, (unsigned long long)vmas[i].end);
	ret = reachable(mm, start, end);
	if (ret == -ERANGE)
		return sva_fail(&mm->ctx->log, ret,
				"sva_mm_prefault: 0x%llx-0x%llx is outside the IOVA window the bound devices "
				"can reach (see sva_mm_iova_ranges; allocate device memory inside it)",
				(unsigned long long)start, (unsigned long long)end);
	/* The kernel could not say what the window is: a broker that stopped
	 * destroyed the objects it would ask about. */
	if (ret == -ENOENT && sva_iommufd_broker_gone(mm->ctx->fd))
		return sva_fail(&mm->ctx->log, -ECONNRESET,
				"sva_mm_prefault: 0x%llx-0x%llx: the broker went away",
				(unsigned long long)start, (unsigned long long)end);
	if (ret)
		return sva_fail(&mm->ctx->log, ret,
				"sva_mm_prefault: 0x%llx-0x%llx: the IOVA window could not be read: %s",
				(unsigned long long)start, (unsigned long long)end, strerror(-ret));
	*nvmap = nvma;
	return 0;
}

/*
 * The map itself, over the VMAs map_check_locked() found.  The gaps first,
 * then the upgrades: a gap the kernel refuses then leaves every chunk as it
 * was (an upgrade turns a fault-mapped chunk into prefaulted memory), and a
 * failed upgrade takes this call's gap maps back with it.
 */
static int map_checked_locked(struct sva_mm *mm, uint64_t start, uint64_t end, const struct sva_vma *vmas,
			      size_t nvma)
{
	/* Map what is not mapped yet, VMA by VMA; on failure undo this call's maps. */
	struct sva_map_undo undo = { .n = 0 };
	uint64_t done = 0, fail[2] = { start, end };
	bool retried = false;
	int ret;

	for (size_t i = 0; i < nvma; i++) {
		ret = sva_mm_map_gaps_locked(mm, &vmas[i], vmas[i].start, vmas[i].end, 0, &undo, &done, fail);
		if (ret) {
			sva_mm_undo_locked(mm, &undo);
			/* Over the kernel's memlock limit: fault-mapped memory makes room, once. */
			if (ret == -ENOMEM && !retried && sva_pin_evict_for_locked(mm, start, end)) {
				retried = true;
				done = 0;
				i = (size_t)-1;
				continue;
			}
			return map_error(mm, ret, fail[0], fail[1]);
		}
	}

	/* "Writable where the mapping is writable": read-only chunks under a
	 * mapping made writable since come back writable (upgrade.c). */
	ret = sva_mm_upgrade_range_locked(mm, vmas, nvma, start, end);
	if (ret) {
		sva_mm_undo_locked(mm, &undo);
		return sva_fail(&mm->ctx->log, ret,
				"sva_mm_prefault: 0x%llx-0x%llx: making read-only memory writable failed: %s",
				(unsigned long long)start, (unsigned long long)end, strerror(-ret));
	}
	return 0;
}

SVA_EXPORT int sva_mm_fence(struct sva_mm *mm)
{
	int ret;

	if (!mm)
		return sva_fail(sva_log_default(), -EINVAL, "sva_mm_fence: mm is NULL");
	ret = sva_mm_check_owner(mm);
	if (ret)
		return ret;
	ret = sva_track_fence_mm(mm);
	if (ret)
		sva_mm_reap(mm); /* writes the log line owed */
	return ret;
}

SVA_EXPORT int sva_mm_prefault(struct sva_mm *mm, const void *addr, size_t len)
{
	struct sva_vma vmas[MAP_VMAS];
	uint64_t start, end;
	size_t nvma = 0;
	int ret;

	if (!mm)
		return sva_fail(sva_log_default(), -EINVAL, "sva_mm_prefault: mm is NULL");
	if (check_range(addr, len, &start, &end))
		return sva_fail(&mm->ctx->log, -EINVAL,
				"sva_mm_prefault: range %p+%zu is empty, wraps, or reaches the last page", addr, len);
	ret = sva_mm_check_owner(mm);
	if (ret)
		return ret;
	ret = sva_track_fence_mm(mm);
	if (ret && (mm->flags & SVA_MM_TRACK_STRICT)) {
		sva_mm_reap(mm);
		return sva_fail(&mm->ctx->log, ret, "sva_mm_prefault: coherence tracking stopped (SVA_MM_TRACK_STRICT)");
	}
	pthread_mutex_lock(&mm->lock);
	/* The fence above leaves the madvise() ranges pending (withdraw.c): a
	 * fault between it and mm->lock mapped a suspect chunk, which the map
	 * below would take as visible (and prefaulted) and the monitor would
	 * withdraw at its next check, leaving a pinned-mode device a hole.
	 * Faults wait on mm->lock now: withdraw those, the map makes them
	 * afresh. */
	if (atomic_load_explicit(&mm->settle_hint, memory_order_relaxed))
		sva_mm_withdraw_suspect(mm, start, end);
	/* Every check before the budget makes room (it may evict fault-mapped
	 * memory): a refused prefault changes nothing. */
	ret = sva_reach_prefault_locked(mm, start, end);
	if (!ret)
		ret = map_check_locked(mm, start, end, vmas, &nvma);
	/* An isolated broker client: the broker maps only what was shared, one
	 * shared range holding the whole range (else it refuses, -EFAULT). */
	if (!ret) {
		uint64_t ss, se;

		ret = sva_broker_share_bounds(mm->ctx, start, &ss, &se);
		if (ret || end > se)
			ret = sva_fail(&mm->ctx->log, -EFAULT,
				       "sva_mm_prefault: 0x%llx-0x%llx is not inside one range this isolated client "
				       "shared (sva_ctx_share_memfd)",
				       (unsigned long long)start, (unsigned long long)end);
	}
	if (!ret) {
		ret = sva_pin_prefault_locked(mm, start, end);
		if (ret == -ENOSPC)
			ret = sva_fail(&mm->ctx->log, ret,
				       "sva_mm_prefault: 0x%llx-0x%llx does not fit in the pin budget (%llu bytes) beside "
				       "what is prefaulted already (sva_mm_invalidate() what devices no longer need, or "
				       "make the address space with a larger pin_budget)",
				       (unsigned long long)start, (unsigned long long)end,
				       (unsigned long long)mm->pin.budget);
		else if (ret)
			ret = sva_fail_debug(&mm->ctx->log, ret,
					     "sva_mm_prefault: faults in flight hold the pin budget: try again");
	}
	if (!ret) {
		/* Maps that a later failure undoes were never the call's result:
		 * the peak goes back (faults wait on mm->lock, so nothing else
		 * raised it meanwhile). */
		uint64_t peak = atomic_load_explicit(&mm->pin.peak, memory_order_relaxed);

		ret = map_checked_locked(mm, start, end, vmas, nvma);
		/* As in fault_resolve.c: the arena may have reserved a hole the
		 * process made after the check; what was mapped there goes again. */
		if (!ret && sva_excluded_overlaps(start, end)) {
			pthread_mutex_lock(&mm->map_lock);
			sva_mm_withdraw_locked(mm, start, end, NULL);
			pthread_mutex_unlock(&mm->map_lock);
			ret = sva_fail(&mm->ctx->log, -EXDEV, "sva_mm_prefault: 0x%llx-0x%llx became libsva's own memory",
				       (unsigned long long)start, (unsigned long long)end);
		}
		if (ret)
			atomic_store_explicit(&mm->pin.peak, peak, memory_order_relaxed);
		else
			sva_pin_prefault_done_locked(mm, start, end);
	}
	pthread_mutex_unlock(&mm->lock);
	sva_mm_reap(mm);
	/* A broker that stopped cleanly destroyed our objects on its way out:
	 * the kernel's -ENOENT about them means the broker went away. */
	/* (No check before the work: a trusted client's objects outlive a
	 * broker that was killed, and its prefaults go on working.)  The map's
	 * failure is logged already: one line, this one at debug level. */
	if (ret == -ENOENT && sva_iommufd_broker_gone(mm->ctx->fd))
		ret = sva_fail_debug(&mm->ctx->log, -ECONNRESET, "sva_mm_prefault: the broker went away");
	return ret;
}

long sva_mm_invalidate_as(struct sva_mm *mm, const void *addr, size_t len, const char *fn)
{
	uint64_t start, end, bytes;
	unsigned failed = 0;
	int ret;

	if (!mm)
		return sva_fail(sva_log_default(), -EINVAL, "%s: mm is NULL", fn);
	if (check_range(addr, len, &start, &end))
		return sva_fail(&mm->ctx->log, -EINVAL, "%s: range %p+%zu is empty, wraps, or reaches the last page",
				fn, addr, len);
	ret = sva_ctx_check_owner_in(mm->ctx, fn);
	if (ret)
		return ret;
	pthread_mutex_lock(&mm->map_lock);
	bytes = sva_mm_withdraw_locked(mm, start, end, &failed);
	/* What no event reports (shmdt, ...) may have replaced the mapping the
	 * registration memo covers: the next map there registers again. */
	if (start < mm->reg_end && mm->reg_start < end)
		mm->reg_start = mm->reg_end = 0;
	pthread_mutex_unlock(&mm->map_lock);
	/* Nor mprotect(): every VMA the engine remembers (its last one, the
	 * process-wide cache) is read afresh at the next fault, so rights taken
	 * away are not granted again from memory (libsva(7), "What no event
	 * reports"). */
	sva_vma_cache_stale();
	sva_mm_reap(mm);
	if (failed)
		sva_logf(&mm->ctx->log, SVA_LOG_ERROR,
			 "%s: the kernel refused to unmap %u chunk(s) in 0x%llx-0x%llx: they stay visible", fn,
			 failed, (unsigned long long)start, (unsigned long long)end);
	return (long)bytes;
}

SVA_EXPORT long sva_mm_invalidate(struct sva_mm *mm, const void *addr, size_t len)
{
	return sva_mm_invalidate_as(mm, addr, len, "sva_mm_invalidate");
}

SVA_EXPORT int sva_mm_stats(const struct sva_mm *cmm, struct sva_mm_stats *stats)
{
	struct sva_mm *mm = (struct sva_mm *)cmm;
	struct sva_mm_stats s = { .size = sizeof(s) };

	if (!mm)
		return sva_fail(sva_log_default(), -EINVAL, "sva_mm_stats: mm is NULL");
	if (!stats)
		return -EINVAL;
	bool locked = sva_ctx_lock_reader(mm->ctx, &mm->map_lock);

	/* A forked child's memory is not tracked: the registrations are the parent's. */
	s.flags = atomic_load(&mm->tracked) && !sva_ctx_forked(mm->ctx) ? SVA_MM_STAT_TRACKED : 0;
	s.untracked_reason = mm->untracked_reason;
	s.bytes_prefaulted = mm->pin.pinned;
	if (locked)
		pthread_mutex_unlock(&mm->map_lock);
	s.events = atomic_load_explicit(&mm->st_events, memory_order_relaxed);
	s.bytes_withdrawn = atomic_load_explicit(&mm->st_withdrawn, memory_order_relaxed);
	s.bytes_rewithdrawn = atomic_load_explicit(&mm->st_rewithdrawn, memory_order_relaxed);
	s.untracked_ranges = atomic_load_explicit(&mm->st_untracked_ranges, memory_order_relaxed);
	s.untracked_bytes = atomic_load_explicit(&mm->st_untracked_bytes, memory_order_relaxed);
	s.bytes_visible = atomic_load_explicit(&mm->st_visible, memory_order_relaxed);
	s.pin_budget = mm->pin.budget;
	s.bytes_pinned_peak = atomic_load_explicit(&mm->pin.peak, memory_order_relaxed);
	s.evictions = atomic_load_explicit(&mm->pin.evictions, memory_order_relaxed);
	s.bytes_evicted = atomic_load_explicit(&mm->pin.bytes_evicted, memory_order_relaxed);
	s.refaults = atomic_load_explicit(&mm->pin.refaults, memory_order_relaxed);
	/* 1.0's struct ended before pin_budget. */
	return sva_info_copy_min(stats, &s, sizeof(s), offsetof(struct sva_mm_stats, pin_budget));
}

SVA_EXPORT int sva_mm_iova_ranges(struct sva_mm *mm, struct sva_iova_range *ranges, size_t *nr)
{
	int ret;

	/* The arguments first, as sva_dev_iova_ranges() checks them. */
	if (!mm)
		return sva_fail(sva_log_default(), -EINVAL, "sva_mm_iova_ranges: mm is NULL");
	if (!nr || (*nr && !ranges))
		return -EINVAL;
	ret = sva_mm_check_owner(mm);
	if (ret)
		return ret;
	ret = sva_iommufd_iova_ranges_out(mm->ctx->fd, mm->ioas_id, ranges, nr);
	return sva_iova_ranges_ret(mm->ctx, mm->ctx->fd, "sva_mm_iova_ranges", ret);
}

int sva_iova_ranges_ret(struct sva_ctx *ctx, int fd, const char *fn, int ret)
{
	/* A caller switching on errno trusts the page: the broker's -ENOENT
	 * about objects it destroyed on its way out says nothing of the call's
	 * arguments, and it went away, which is -ECONNRESET everywhere else. */
	if (ret == -ENOENT && ctx->broker && sva_iommufd_broker_gone(fd))
		return sva_fail_debug(&ctx->log, -ECONNRESET, "%s: the broker went away", fn);
	/* The broker's own refusal: the IOAS is not one it made for this client
	 * (a client and broker that disagree about the client's objects). */
	if (ret == -EPERM && ctx->broker && sva_iommufd_proxy(fd))
		return sva_fail(&ctx->log, -EPROTO,
				"%s: the broker refused the address space as not this client's (%s): "
				"libsva and the broker disagree",
				fn, strerror(EPERM));
	return ret;
}
