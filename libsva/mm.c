/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Address spaces: an IOAS in which IOVA == VA, and the table of chunks mapped
 * into it.  IOMMU_IOAS_UNMAP must cover whole mapped areas (a partial unmap is
 * ENOENT), so the granularity of a map is the granularity of its unmap: the
 * table records exactly what each IOAS_MAP call mapped.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "internal.h"
#include "kabi.h"

#define PAGE 4096ull

SVA_EXPORT int sva_mm_new(struct sva_ctx *ctx, const struct sva_mm_opts *uopts, struct sva_mm **out)
{
	struct sva_mm_opts opts;
	struct sva_mm *mm;
	int ret;

	if (!ctx || !out)
		return sva_fail(sva_log_default(), -EINVAL, "sva_mm_new: ctx or out is NULL");
	ret = sva_ctx_check_owner(ctx);
	if (ret)
		return ret;
	ret = sva_opts_copy(&opts, sizeof(opts), uopts);
	if (ret || (opts.flags & ~SVA_MM_PRIVATE))
		return sva_fail(&ctx->log, -EINVAL, "sva_mm_new: bad opts size or unknown flags");
	mm = calloc(1, sizeof(*mm));
	if (!mm)
		return -ENOMEM;
	ret = sva_iommufd_ioas_alloc(ctx->fd, &mm->ioas_id);
	if (ret) {
		free(mm);
		return sva_fail(&ctx->log, ret, "IOMMU_IOAS_ALLOC failed: %s", strerror(-ret));
	}
	pthread_mutex_init(&mm->lock, NULL);
	if (opts.fault_around && (opts.fault_around < 4096 || (opts.fault_around & (opts.fault_around - 1)) ||
				  opts.fault_around > (1ull << 30))) {
		sva_iommufd_destroy(ctx->fd, mm->ioas_id);
		free(mm);
		return sva_fail(&ctx->log, -EINVAL,
				"sva_mm_new: fault_around %llu is not a power of two between 4 KiB and 1 GiB",
				(unsigned long long)opts.fault_around);
	}
	mm->fault_around = opts.fault_around ? opts.fault_around : SVA_FAULT_AROUND_DEFAULT;
	mm->ctx = ctx;
	mm->flags = opts.flags;
	sva_ctx_get(ctx);
	*out = mm;
	return 0;
}

SVA_EXPORT void sva_mm_free(struct sva_mm *mm)
{
	struct sva_ctx *ctx;

	if (!mm)
		return;
	ctx = mm->ctx;
	if (sva_ctx_forked(ctx)) {
		/* The parent's bonds and IOAS are not ours to tear down. */
		sva_logf(&ctx->log, SVA_LOG_DEBUG, "forked child: freeing address space memory only");
		sva_chunks_clear(&mm->chunks);
		free(mm);
		return;
	}
	/* Each unbind takes the bond off the list. */
	for (;;) {
		struct sva_bond *bond;

		pthread_mutex_lock(&mm->lock);
		bond = mm->bonds;
		pthread_mutex_unlock(&mm->lock);
		if (!bond)
			break;
		sva_unbind(bond);
	}
	/* Destroying the IOAS unmaps and unpins everything still in it. */
	sva_iommufd_destroy(ctx->fd, mm->ioas_id);
	pthread_mutex_destroy(&mm->lock);
	sva_chunks_clear(&mm->chunks);
	free(mm);
	sva_ctx_put(ctx);
}

static int check_range(const void *addr, size_t len, uint64_t *start, uint64_t *end)
{
	uint64_t a = (uintptr_t)addr;

	if (!len || a + len < a || a + len > UINT64_MAX - PAGE)
		return -EINVAL;
	*start = a & ~(PAGE - 1);
	*end = (a + len + PAGE - 1) & ~(PAGE - 1);
	return 0;
}

/* Is [start, end) inside the IOVA ranges the IOAS allows now? */
static int reachable(struct sva_mm *mm, uint64_t start, uint64_t end)
{
	struct sva_iova_range r[64];
	size_t nr = ARRAY_SIZE(r);
	int ret = sva_iommufd_iova_ranges(mm->ctx->fd, mm->ioas_id, r, &nr);

	if (ret)
		return ret == -EMSGSIZE ? 0 : ret; /* too fragmented to judge: let the kernel decide */
	for (size_t i = 0; i < nr; i++)
		if (start >= r[i].start && end - 1 <= r[i].last)
			return 0;
	return -ERANGE;
}

/*
 * Map one gap: the kernel's errors translated into the documented ones.  The
 * fault path passes quiet: its failures go to fault_error, not the log.
 */
static int map_gap(struct sva_mm *mm, uint64_t start, uint64_t end, uint32_t prot, bool quiet)
{
	uint32_t flags = KABI_IOMMU_IOAS_MAP_FIXED_IOVA;
	int ret;

	if (prot & SVA_PROT_READ)
		flags |= KABI_IOMMU_IOAS_MAP_READABLE;
	if (prot & SVA_PROT_WRITE)
		flags |= KABI_IOMMU_IOAS_MAP_WRITEABLE;
	ret = sva_iommufd_ioas_map(mm->ctx->fd, mm->ioas_id, start, end - start, start, flags);
	if (ret == -EEXIST)
		return 0; /* mapped behind our back (raw ioctls on our IOAS): visible is what counts */
	if (ret && quiet)
		return ret == -EFAULT ? -EPERM : ret;
	switch (ret) {
	case 0:
		break;
	case -ENOMEM:
		return sva_fail(&mm->ctx->log, ret,
				"mapping 0x%llx-0x%llx: out of memory or over RLIMIT_MEMLOCK "
				"(raise it with ulimit -l or grant CAP_IPC_LOCK)",
				(unsigned long long)start, (unsigned long long)end);
	case -EFAULT:
		return sva_fail(&mm->ctx->log, -EPERM,
				"mapping 0x%llx-0x%llx: the kernel cannot pin these pages "
				"(device memory, PFNMAP or secretmem)",
				(unsigned long long)start, (unsigned long long)end);
	default:
		return sva_fail(&mm->ctx->log, ret, "IOMMU_IOAS_MAP 0x%llx-0x%llx failed: %s",
				(unsigned long long)start, (unsigned long long)end, strerror(-ret));
	}
	ret = sva_chunks_insert(&mm->chunks, start, end, prot);
	if (ret)
		sva_iommufd_ioas_unmap(mm->ctx->fd, mm->ioas_id, start, end - start);
	return ret;
}

/* Take back every map an undo list recorded (a failed all-or-nothing call). */
void sva_mm_undo_locked(struct sva_mm *mm, struct sva_map_undo *undo)
{
	for (size_t i = 0; i < undo->n; i++) {
		sva_iommufd_ioas_unmap(mm->ctx->fd, mm->ioas_id, undo->r[i][0], undo->r[i][1] - undo->r[i][0]);
		sva_chunks_remove(&mm->chunks, undo->r[i][0]);
	}
	undo->n = 0;
}

int sva_mm_map_gaps_locked(struct sva_mm *mm, uint64_t start, uint64_t end, uint32_t prot, bool quiet,
			   struct sva_map_undo *undo, uint64_t *mapped)
{
	struct sva_chunk *c = sva_chunks_after(&mm->chunks, start);
	uint64_t pos = start;
	int ret;

	while (pos < end) {
		uint64_t gap_end = end;

		if (c && c->start <= pos) {
			pos = c->end; /* already visible */
			c = sva_chunks_next(c);
			continue;
		}
		if (c && c->start < gap_end)
			gap_end = c->start;
		if (undo->n == ARRAY_SIZE(undo->r))
			return quiet ? -E2BIG : sva_fail(&mm->ctx->log, -E2BIG, "range too fragmented to map in one call");
		ret = map_gap(mm, pos, gap_end, prot & (SVA_PROT_READ | SVA_PROT_WRITE), quiet);
		if (ret)
			return ret;
		undo->r[undo->n][0] = pos;
		undo->r[undo->n][1] = gap_end;
		undo->n++;
		if (mapped)
			*mapped += gap_end - pos;
		c = sva_chunks_after(&mm->chunks, gap_end);
		pos = gap_end;
	}
	return 0;
}

int sva_mm_map_locked(struct sva_mm *mm, uint64_t start, uint64_t end, uint64_t *mapped)
{
	struct sva_vma vmas[64];
	size_t nvma;
	int ret;

	ret = sva_vma_collect(start, end, vmas, ARRAY_SIZE(vmas), &nvma);
	if (ret == -EFAULT)
		return sva_fail(&mm->ctx->log, ret, "0x%llx-0x%llx is not (entirely) mapped in this process",
				(unsigned long long)start, (unsigned long long)end);
	if (ret == -E2BIG)
		return sva_fail(&mm->ctx->log, ret, "0x%llx-0x%llx spans more than %zu mappings: split the call",
				(unsigned long long)start, (unsigned long long)end, ARRAY_SIZE(vmas));
	if (ret)
		return sva_fail(&mm->ctx->log, ret, "cannot read this process's mappings: %s", strerror(-ret));
	for (size_t i = 0; i < nvma; i++)
		if (!vmas[i].prot)
			return sva_fail(&mm->ctx->log, -EACCES, "0x%llx-0x%llx is PROT_NONE: a device cannot use it",
					(unsigned long long)vmas[i].start, (unsigned long long)vmas[i].end);
	ret = reachable(mm, start, end);
	if (ret)
		return sva_fail(&mm->ctx->log, ret,
				"0x%llx-0x%llx is outside the IOVA window the bound devices can reach "
				"(see sva_mm_iova_ranges; allocate device memory inside it)",
				(unsigned long long)start, (unsigned long long)end);

	/* Map what is not mapped yet, VMA by VMA; on failure undo this call's maps. */
	struct sva_map_undo undo = { .n = 0 };
	uint64_t done = 0;

	for (size_t i = 0; i < nvma; i++) {
		ret = sva_mm_map_gaps_locked(mm, vmas[i].start, vmas[i].end, vmas[i].prot, false, &undo, &done);
		if (ret) {
			sva_mm_undo_locked(mm, &undo);
			return ret;
		}
	}
	if (mapped)
		*mapped = done;
	return 0;
}

SVA_EXPORT int sva_mm_prefault(struct sva_mm *mm, const void *addr, size_t len)
{
	uint64_t start, end;
	int ret;

	if (!mm)
		return -EINVAL;
	if (check_range(addr, len, &start, &end))
		return sva_fail(&mm->ctx->log, -EINVAL, "sva_mm_prefault: empty or wrapping range %p+%zu", addr, len);
	ret = sva_mm_check_owner(mm);
	if (ret)
		return ret;
	pthread_mutex_lock(&mm->lock);
	ret = sva_mm_map_locked(mm, start, end, NULL);
	pthread_mutex_unlock(&mm->lock);
	return ret;
}

SVA_EXPORT long sva_mm_invalidate(struct sva_mm *mm, const void *addr, size_t len)
{
	uint64_t start, end;
	struct sva_chunk *c;
	long bytes = 0;
	int ret;

	if (!mm)
		return -EINVAL;
	if (check_range(addr, len, &start, &end))
		return sva_fail(&mm->ctx->log, -EINVAL, "sva_mm_invalidate: empty or wrapping range %p+%zu", addr,
				len);
	ret = sva_mm_check_owner(mm);
	if (ret)
		return ret;
	pthread_mutex_lock(&mm->lock);
	c = sva_chunks_after(&mm->chunks, start);
	while (c && c->start < end) {
		struct sva_chunk *next = sva_chunks_next(c);
		uint64_t cs = c->start, ce = c->end;

		ret = sva_iommufd_ioas_unmap(mm->ctx->fd, mm->ioas_id, cs, ce - cs);
		if (ret && ret != -ENOENT) {
			sva_logf(&mm->ctx->log, SVA_LOG_ERROR, "IOMMU_IOAS_UNMAP 0x%llx-0x%llx failed: %s",
				 (unsigned long long)cs, (unsigned long long)ce, strerror(-ret));
		} else {
			sva_chunks_remove(&mm->chunks, cs);
			bytes += (long)(ce - cs);
		}
		c = next;
	}
	pthread_mutex_unlock(&mm->lock);
	return bytes;
}

SVA_EXPORT int sva_mm_iova_ranges(struct sva_mm *mm, struct sva_iova_range *ranges, size_t *nr)
{
	int ret;

	if (!mm)
		return -EINVAL;
	ret = sva_mm_check_owner(mm);
	if (ret)
		return ret;
	return sva_iommufd_iova_ranges_out(mm->ctx->fd, mm->ioas_id, ranges, nr);
}

int sva_mm_check_owner(struct sva_mm *mm)
{
	return sva_ctx_check_owner(mm->ctx);
}
