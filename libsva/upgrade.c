/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Read-only chunks made writable in place, when the process's mapping under
 * them became writable (mprotect) after they were mapped.  An IOAS map cannot
 * overlap another and a chunk can only be unmapped whole, so the chunk is
 * withdrawn and its range mapped again, mapping by mapping with each one's
 * permissions now.  If that fails, what this call mapped is taken back and
 * the chunk is mapped again as it was: a failed upgrade leaves the address
 * space as it found it (a pinned bond must not lose memory it was promised).
 * Runs under mm->lock; withdrawal goes through withdraw.c under map_lock.
 */
#include <errno.h>

#include "internal.h"
#include "withdraw.h"

/* As many as one call can map and undo (struct sva_map_undo): more is -E2BIG. */
#define MAX_VMAS 64

static bool writable(const struct sva_vma *v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (v[i].prot & SVA_PROT_WRITE)
			return true;
	return false;
}

int sva_mm_upgrade_locked(struct sva_mm *mm, uint64_t cs, uint64_t ce, uint32_t cprot, unsigned how,
			  const struct sva_vma *win_vma, uint64_t ws, uint64_t we, uint64_t *mapped)
{
	struct sva_vma vmas[MAX_VMAS], old;
	struct sva_map_undo undo, redo; /* only r[0..n) is read: no 2 KiB zeroed per upgrade */
	unsigned failed = 0;
	size_t n;
	int ret;

	undo.n = redo.n = 0;

	/* The mappings under the whole chunk now: each part comes back with its own rights. */
	/* -EFAULT: partly unmapped (the monitor withdraws it); -E2BIG: too many
	 * mappings to map and undo in one call. */
	ret = sva_vma_collect(mm->maps_fd, cs, ce, vmas, MAX_VMAS, &n);
	if (ret)
		return ret;
	/* A part the device may not use at all: the chunk cannot come back whole. */
	for (size_t i = 0; i < n; i++)
		if (!(vmas[i].prot & (SVA_PROT_READ | SVA_PROT_WRITE)))
			return -EACCES;
	/* Made read-only again since the caller looked: nothing to upgrade. */
	if (!writable(vmas, n))
		return -ESTALE;
	old = vmas[0];
	old.start = cs;
	old.end = ce;
	old.prot = (old.prot & ~(SVA_PROT_READ | SVA_PROT_WRITE | SVA_PROT_EXEC)) | (cprot & (SVA_PROT_READ | SVA_PROT_WRITE));
	/* A prefaulted chunk stays pinned (never evicted) however it comes back. */
	/* The chunk comes back whole (its pages were pinned before); only the
	 * window is fault-around. */
	unsigned chunk_how = ((cprot & SVA_CHUNK_PINNED) ? how & ~SVA_MAP_FAULT : how) & ~SVA_MAP_AROUND;

	pthread_mutex_lock(&mm->map_lock);
	/* A strict address space whose tracking stopped maps nothing again
	 * (mm_map.c): the chunk could not come back, so it stays as it is. */
	if (mm->lost && (mm->flags & SVA_MM_TRACK_STRICT)) {
		pthread_mutex_unlock(&mm->map_lock);
		return -EIO;
	}
	sva_mm_withdraw_locked(mm, cs, ce, &failed);
	pthread_mutex_unlock(&mm->map_lock);
	if (failed)
		return -EIO;
	for (size_t i = 0; i < n && !ret; i++)
		ret = sva_mm_map_gaps_locked(mm, &vmas[i], vmas[i].start, vmas[i].end, chunk_how, &undo, mapped, NULL);
	if (!ret && win_vma && ws < we)
		ret = sva_mm_map_gaps_locked(mm, win_vma, ws, we, how, &undo, mapped, NULL);
	if (!ret)
		return 0;
	sva_mm_undo_locked(mm, &undo);
	if (mapped)
		*mapped = 0;
	/* Back as it was, prefaulted or fault-mapped (a prefault upgrading a
	 * fault-mapped chunk made it prefaulted only if it succeeded).  If even
	 * that fails the chunk is lost: say so. */
	if (sva_mm_map_gaps_locked(mm, &old, cs, ce, (cprot & SVA_CHUNK_PINNED) ? 0 : SVA_MAP_FAULT, &redo, NULL, NULL))
		return -EIO;
	return ret;
}

int sva_mm_upgrade_range_locked(struct sva_mm *mm, const struct sva_vma *vmas, size_t nvma, uint64_t start,
				uint64_t end)
{
	uint64_t pos = start;

	while (pos < end) {
		uint64_t cs = 0, ce = 0;
		uint32_t cprot = 0;
		bool found = false;

		/* The next read-only chunk at or after pos with a writable mapping under it. */
		pthread_mutex_lock(&mm->map_lock);
		for (struct sva_chunk *c = sva_chunks_after(&mm->chunks, pos); c && c->start < end;
		     c = sva_chunks_next(c)) {
			if (c->prot & SVA_PROT_WRITE)
				continue;
			for (size_t i = 0; i < nvma && !found; i++)
				if ((vmas[i].prot & SVA_PROT_WRITE) && vmas[i].start < c->end && c->start < vmas[i].end)
					found = true;
			if (found) {
				cs = c->start;
				ce = c->end;
				cprot = c->prot;
				break;
			}
		}
		pthread_mutex_unlock(&mm->map_lock);
		if (!found)
			return 0;
		int ret = sva_mm_upgrade_locked(mm, cs, ce, cprot, 0, NULL, 0, 0, NULL);

		/* Only an mprotect() that raced this call is no failure: a part
		 * mapped PROT_NONE under the chunk is (it stays read-only). */
		if (ret && ret != -ESTALE)
			return ret;
		pos = ce;
	}
	return 0;
}
