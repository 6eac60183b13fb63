/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Withdrawing chunks (see withdraw.h).
 *
 * The REMOVE race.  MADV_DONTNEED (and MADV_FREE, MADV_REMOVE) posts its event
 * before it zaps the pages, so a device fault resolved after the monitor read
 * the event and before the zap pins the old page again.  No event says when the
 * zap is done.  So a REMOVE leaves its range "pending" for
 * SVA_REMOVE_HORIZON_NS: chunks a fault maps over a pending range are flagged
 * suspect and withdrawn once more by the monitor's next check (the device
 * re-faults and gets the new page), the first SVA_REMOVE_SETTLE_NS after the
 * event, then every SVA_REMOVE_SETTLE_NS.  Once pending ranges were dropped at
 * the first check, and a zap that outlasted it (8 MiB under AddressSanitizer
 * and TCG) left a fault after the check with the old page for good.
 * sva_mm_fence() withdraws the suspect chunks at once (its caller has seen its
 * own madvise() return) but leaves the ranges pending to their horizon: another
 * thread's madvise() of the same pages may still be zapping, and a fault after
 * the fence is suspect as before.  The cost: a device that keeps using such a
 * range faults on it after every check until the horizon, fence or no fence.
 * What remains is a zap that runs longer than the horizon while a device
 * faults on the same range, and a prefault racing another thread's madvise of
 * the same range; docs/design.md and libsva(7) say so.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "withdraw.h"

#ifdef SVA_TEST_HOOKS
/* Tests only (libsva-test): the settle time in ns instead of
 * SVA_REMOVE_SETTLE_NS, so that a test can act inside the window however slow
 * its machine is.  0: the default. */
_Atomic uint64_t sva_test_remove_settle_ns;

static uint64_t settle_ns(void)
{
	uint64_t ns = atomic_load_explicit(&sva_test_remove_settle_ns, memory_order_relaxed);

	return ns ? ns : SVA_REMOVE_SETTLE_NS;
}
#else
static uint64_t settle_ns(void)
{
	return SVA_REMOVE_SETTLE_NS;
}
#endif

static uint64_t horizon_ns(void)
{
	uint64_t s = settle_ns();

	return s > SVA_REMOVE_HORIZON_NS ? s : SVA_REMOVE_HORIZON_NS;
}

static void hint(struct sva_mm *mm)
{
	atomic_store_explicit(&mm->settle_hint, mm->nremoves + mm->suspects, memory_order_relaxed);
}

static void bury(struct sva_mm *mm, struct sva_chunk *c)
{
	sva_pin_withdrawn_locked(mm, c->prot, c->end - c->start);
	if (c->prot & SVA_CHUNK_SUSPECT) {
		mm->suspects--;
		hint(mm);
	}
	c->next[0] = mm->grave;
	mm->grave = c;
	atomic_store_explicit(&mm->reap_hint, true, memory_order_relaxed);
}

/*
 * Unmap one chunk.  -ENOENT is "nothing mapped there" only when it says so
 * twice: the kernel also gives it when it fails to look the IOAS up (memory
 * pressure, its fail-nth points), and a chunk buried while the kernel still
 * maps it would stay visible to the device behind libsva's back.
 */
static int unmap_chunk(struct sva_mm *mm, uint64_t start, uint64_t end)
{
	int ret = sva_iommufd_ioas_unmap(mm->ctx->fd, mm->ioas_id, start, end - start);

	if (ret == -ENOENT)
		ret = sva_iommufd_ioas_unmap(mm->ctx->fd, mm->ioas_id, start, end - start);
	return ret == -ENOENT ? 0 : ret;
}

uint64_t sva_mm_withdraw_locked(struct sva_mm *mm, uint64_t start, uint64_t end, unsigned *failed)
{
	struct sva_chunk *c = sva_chunks_after(&mm->chunks, start);
	uint64_t bytes = 0;

	while (c && c->start < end) {
		struct sva_chunk *next = sva_chunks_next(c);
		uint64_t cs = c->start, ce = c->end;
		int ret = unmap_chunk(mm, cs, ce);

		if (ret) {
			if (failed)
				(*failed)++;
		} else {
			/* c is linked (map_lock is held since sva_chunks_after()
			 * found it), so this is c; a NULL would mean the list is
			 * corrupt, and is not buried. */
			struct sva_chunk *dead = sva_chunks_unlink(&mm->chunks, cs);

			if (dead) {
				bury(mm, dead);
				bytes += ce - cs;
			}
		}
		c = next;
	}
	atomic_fetch_sub_explicit(&mm->st_visible, bytes, memory_order_relaxed);
	return bytes;
}

void sva_mm_withdraw_event(struct sva_mm *mm, uint64_t start, uint64_t end, bool remove, uint64_t now)
{
	uint64_t bytes;

	pthread_mutex_lock(&mm->map_lock);
	atomic_fetch_add_explicit(&mm->st_events, 1, memory_order_relaxed);
	bytes = sva_mm_withdraw_locked(mm, start, end, NULL);
	atomic_fetch_add_explicit(&mm->st_withdrawn, bytes, memory_order_relaxed);
	if (remove) {
		/* The same range again (an allocator discarding one block over
		 * and over): one record, from now. */
		for (unsigned i = 0; i < mm->nremoves; i++)
			if (mm->removes[i].start == start && mm->removes[i].end == end) {
				memmove(&mm->removes[i], &mm->removes[i + 1],
					(mm->nremoves - i - 1) * sizeof(mm->removes[0]));
				mm->nremoves--;
				break;
			}
		/* Full: the oldest pending one has had the longest to settle. */
		if (mm->nremoves == SVA_MM_REMOVES) {
			memmove(&mm->removes[0], &mm->removes[1], (SVA_MM_REMOVES - 1) * sizeof(mm->removes[0]));
			mm->nremoves--;
		}
		mm->removes[mm->nremoves++] = (struct sva_remove_pending){ .start = start, .end = end, .t_ns = now };
		hint(mm);
	}
	pthread_mutex_unlock(&mm->map_lock);
}

/*
 * Is a REMOVE at t_ns younger than `age` ns at `now`?  A caller's `now` may be
 * older than the REMOVE: a fence reads the clock before it waits for
 * map_lock, and the monitor may record an event meanwhile.  That one is
 * young (now - t_ns would wrap, and the fence would drop the range of another
 * thread's madvise() whose zap has just begun).
 */
static bool younger(uint64_t t_ns, uint64_t now, uint64_t age)
{
	return now < t_ns + age;
}

/* Is a REMOVE over [start, end) younger than `age` ns? */
static bool removed_within(const struct sva_mm *mm, uint64_t start, uint64_t end, uint64_t now, uint64_t age)
{
	for (unsigned i = 0; i < mm->nremoves; i++) {
		const struct sva_remove_pending *r = &mm->removes[i];

		if (r->start < end && start < r->end && younger(r->t_ns, now, age))
			return true;
	}
	return false;
}

uint32_t sva_mm_remove_pending_locked(struct sva_mm *mm, uint64_t start, uint64_t end, uint64_t now)
{
	return removed_within(mm, start, end, now, horizon_ns()) ? SVA_CHUNK_SUSPECT : 0;
}

uint64_t sva_mm_settle(struct sva_mm *mm, uint64_t now, bool force)
{
	uint64_t due = 0;
	unsigned keep = 0;

	pthread_mutex_lock(&mm->map_lock);
	if (!mm->nremoves && !mm->suspects) {
		pthread_mutex_unlock(&mm->map_lock);
		return 0;
	}
	/* Pending REMOVEs past the horizon go; the others say when to look
	 * again: at their first check, then every settle_ns() (a fault may
	 * still make a suspect chunk over them).  A fence keeps them too: its
	 * caller's own madvise() has returned, but another thread's over the
	 * same pages may not have, and a fault after the fence would keep that
	 * one's old page for good (Z66). */
	for (unsigned i = 0; i < mm->nremoves; i++) {
		struct sva_remove_pending *r = &mm->removes[i];

		if (younger(r->t_ns, now, horizon_ns())) {
			uint64_t d = younger(r->t_ns, now, settle_ns()) ? r->t_ns + settle_ns() : now + settle_ns();

			if (!due || d < due)
				due = d;
			mm->removes[keep++] = *r;
		}
	}
	mm->nremoves = keep;
	hint(mm);
	/* A suspect chunk goes at the first check after every REMOVE over it. */
	for (struct sva_chunk *c = sva_chunks_after(&mm->chunks, 0); c && mm->suspects;) {
		struct sva_chunk *next = sva_chunks_next(c);

		/* Not before the first check: the zap most likely still runs,
		 * and a withdrawal would only be followed by another stale map.
		 * A fence's caller has seen its madvise() return: at once. */
		if ((c->prot & SVA_CHUNK_SUSPECT) && (force || !removed_within(mm, c->start, c->end, now, settle_ns()))) {
			uint64_t bytes = sva_mm_withdraw_locked(mm, c->start, c->end, NULL);

			atomic_fetch_add_explicit(&mm->st_rewithdrawn, bytes, memory_order_relaxed);
			atomic_fetch_add_explicit(&mm->st_withdrawn, bytes, memory_order_relaxed);
		}
		c = next;
	}
	if (mm->suspects && !due)
		due = now + settle_ns(); /* an unmap the kernel refused: try again later */
	pthread_mutex_unlock(&mm->map_lock);
	return due;
}

uint64_t sva_mm_withdraw_suspect(struct sva_mm *mm, uint64_t start, uint64_t end)
{
	uint64_t bytes = 0;

	pthread_mutex_lock(&mm->map_lock);
	for (struct sva_chunk *c = sva_chunks_after(&mm->chunks, start); c && c->start < end && mm->suspects;) {
		struct sva_chunk *next = sva_chunks_next(c);

		if (c->prot & SVA_CHUNK_SUSPECT)
			bytes += sva_mm_withdraw_locked(mm, c->start, c->end, NULL);
		c = next;
	}
	atomic_fetch_add_explicit(&mm->st_rewithdrawn, bytes, memory_order_relaxed);
	atomic_fetch_add_explicit(&mm->st_withdrawn, bytes, memory_order_relaxed);
	pthread_mutex_unlock(&mm->map_lock);
	return bytes;
}

void sva_mm_tracking_lost_locked(struct sva_mm *mm, int err)
{
	if (atomic_load(&mm->tracked)) {
		atomic_store(&mm->tracked, false);
		mm->lost = true;
		mm->untracked_reason = err;
		/*
		 * Events may have been lost with the monitor (the one that woke it
		 * on a replaced descriptor is): anything visible may be a page the
		 * process has unmapped.  Withdraw it all; devices fault back what
		 * they use, and pinned-mode bonds need a new prefault.
		 */
		sva_mm_withdraw_locked(mm, 0, UINT64_MAX, NULL);
		/* Not logged here: a log callback may free(), and the monitor must not. */
		mm->log_lost = true;
		atomic_store_explicit(&mm->reap_hint, true, memory_order_relaxed);
	}
}

void sva_mm_tracking_lost(struct sva_mm *mm, int err)
{
	pthread_mutex_lock(&mm->map_lock);
	sva_mm_tracking_lost_locked(mm, err);
	pthread_mutex_unlock(&mm->map_lock);
}

void sva_mm_reap_hinted(struct sva_mm *mm)
{
	struct sva_chunk *c;
	bool untracked, lost;
	uint64_t at[2];
	int why;

	if (!atomic_exchange_explicit(&mm->reap_hint, false, memory_order_acquire))
		return;
	pthread_mutex_lock(&mm->map_lock);
	at[0] = mm->untracked_at[0];
	at[1] = mm->untracked_at[1];
	c = mm->grave;
	mm->grave = NULL;
	untracked = mm->log_untracked;
	lost = mm->log_lost;
	why = mm->untracked_reason;
	mm->log_untracked = mm->log_lost = false;
	if (untracked)
		mm->untracked_logged = true;
	pthread_mutex_unlock(&mm->map_lock);
	while (c) {
		struct sva_chunk *next = c->next[0];

		sva_free(c);
		c = next;
	}
	if (untracked)
		sva_logf(&mm->ctx->log, SVA_LOG_WARN,
			 "IOAS %u: 0x%llx-0x%llx could not be registered for coherence tracking (%s) and is "
			 "mapped untracked: after munmap()/madvise() of it call sva_mm_invalidate() "
			 "(sva_mm_stats() counts such ranges; logged once)",
			 mm->ioas_id, (unsigned long long)at[0], (unsigned long long)at[1],
			 why == -EBUSY ? "another userfaultfd is registered there: the application's own, or another "
					 "copy of libsva's" : strerror(-why));
	if (lost)
		sva_logf(&mm->ctx->log, SVA_LOG_ERROR,
			 "coherence tracking of IOAS %u stopped (%s): munmap()/madvise() no longer reach the "
			 "devices; call sva_mm_invalidate() after them",
			 mm->ioas_id, strerror(-why));
}

void sva_mm_note_suspect_locked(struct sva_mm *mm)
{
	mm->suspects++;
	hint(mm);
}
