/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The fault engine: one iommufd fault queue per context, shared by every
 * fault-capable HWPT.  A batch reads whole page-request groups, resolves each
 * record, answers each group once (INVALID if any of its records failed:
 * errors are sticky within a group) and writes every answer in one write().
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "internal.h"
#include "kabi.h"
#include "pasid_map.h"
#include "pasid_space.h"
#include "teardown.h"
#include "track.h"

/* What the pre-pass learns of a record: its bond, and the run of faulting pages it starts. */
struct rec_info {
	struct sva_dev *dev;
	struct sva_bond *bond;
	uint64_t page, run_start, run_end; /* run: 0, 0 when the page has no neighbour */
	uint32_t idx;
};

#define BATCH_RECORDS 64u
#define MAX_RECORDS 4096u /* Intel's PRQ holds 2048: no group is larger */

int sva_fault_queue_get(struct sva_ctx *ctx, uint32_t *fault_id)
{
	struct sva_fault_engine *fe = &ctx->fe;
	int ret = 0, fd;
	uint32_t id;

	pthread_mutex_lock(&fe->setup);
	if (fe->fault_id)
		goto out;
	if (!fe->buf) {
		fe->buf_records = BATCH_RECORDS;
		fe->buf = sva_malloc(fe->buf_records * sizeof(struct kabi_iommu_hwpt_pgfault));
		fe->resp = sva_malloc(fe->buf_records * sizeof(struct kabi_iommu_hwpt_page_response));
		fe->info = sva_malloc(2 * fe->buf_records * sizeof(struct rec_info));
		if (!fe->buf || !fe->resp || !fe->info) {
			sva_free(fe->buf);
			sva_free(fe->resp);
			sva_free(fe->info);
			fe->buf = fe->resp = fe->info = NULL;
			ret = -ENOMEM;
			goto out;
		}
	}
	ret = sva_iommufd_fault_alloc(ctx->fd, &id, &fd);
	if (ret) {
		ret = sva_fail(&ctx->log, ret, "IOMMU_FAULT_QUEUE_ALLOC failed: %s (the kernel needs iommufd fault "
					       "support, Linux 6.11 or later)",
			       strerror(-ret));
		goto out;
	}
	/* Published under both locks: a batch reads it under fe->lock. */
	pthread_mutex_lock(&fe->lock);
	fe->fault_fd = fd;
	pthread_mutex_unlock(&fe->lock);
	fe->fault_id = id;
	if (!fe->poll_mode) {
		ret = sva_fault_thread_start(ctx);
		if (ret) {
			pthread_mutex_lock(&fe->lock);
			fe->fault_fd = -1;
			pthread_mutex_unlock(&fe->lock);
			close(fd);
			sva_iommufd_destroy(ctx->fd, id);
			fe->fault_id = 0;
		}
	}
out:
	if (!ret)
		*fault_id = fe->fault_id;
	pthread_mutex_unlock(&fe->setup);
	return ret;
}

void sva_fault_fini(struct sva_ctx *ctx)
{
	struct sva_fault_engine *fe = &ctx->fe;

	/* A forked child has no copy of the thread. */
	if (fe->thread_started && !sva_ctx_forked(ctx))
		sva_fault_thread_stop(ctx);
	if (fe->fault_fd >= 0)
		close(fe->fault_fd);
	/* The queue object dies with the iommufd; a child must not destroy the parent's. */
	if (fe->fault_id && !sva_ctx_forked(ctx))
		sva_iommufd_destroy(ctx->fd, fe->fault_id);
	sva_free(fe->buf);
	sva_free(fe->resp);
	sva_free(fe->info);
}

static struct sva_dev *dev_by_id(struct sva_ctx *ctx, uint32_t dev_id)
{
	struct sva_dev *dev;

	pthread_mutex_lock(&ctx->devs_lock);
	for (dev = ctx->devs; dev; dev = dev->ctx_next)
		if (dev->info.dev_id == dev_id)
			break;
	pthread_mutex_unlock(&ctx->devs_lock);
	return dev;
}

/*
 * The bond a record belongs to: this device's bond under the PASID (one global
 * PASID may have a bond on each device).  Valid while fe->lock is held: unbind
 * unpublishes under it before freeing the bond.
 */
static struct sva_bond *bond_of(struct sva_dev *dev, const struct kabi_iommu_hwpt_pgfault *rec, uint32_t flags)
{
	void *bond;

	if (!(flags & KABI_IOMMU_PGFAULT_FLAGS_PASID_VALID))
		return atomic_load_explicit(&dev->rid_bond, memory_order_acquire);
	return sva_pasid_map_get(dev->bond_map, rec->pasid, &bond, NULL) ? NULL : bond;
}

static uint32_t access_of(uint32_t perm)
{
	return ((perm & KABI_IOMMU_PGFAULT_PERM_READ) ? SVA_ACCESS_READ : 0) |
	       ((perm & KABI_IOMMU_PGFAULT_PERM_WRITE) ? SVA_ACCESS_WRITE : 0) |
	       ((perm & KABI_IOMMU_PGFAULT_PERM_EXEC) ? SVA_ACCESS_EXEC : 0) |
	       ((perm & KABI_IOMMU_PGFAULT_PERM_PRIV) ? SVA_ACCESS_PRIV : 0);
}

/*
 * Resolve one record unless its group already failed; report every record
 * answered INVALID once.  Returns the group's code after this record.
 */
static int by_bond_page(const void *a, const void *b)
{
	const struct rec_info *x = a, *y = b;

	if (x->bond != y->bond)
		return (uintptr_t)x->bond < (uintptr_t)y->bond ? -1 : 1;
	return x->page < y->page ? -1 : x->page > y->page;
}

/*
 * Find every record's bond once, then the runs of pages a bond faulted on in
 * this batch, adjacent or a few pages apart (sva_fa_bridge): the first fault
 * of a run maps it whole, gaps included (batching that saves map calls, not
 * only reads and writes), the rest find it mapped.
 */
static void plan_batch(struct sva_ctx *ctx, const struct kabi_iommu_hwpt_pgfault *rec, size_t n,
		       struct rec_info *info, struct rec_info *sorted)
{
	for (size_t i = 0; i < n; i++) {
		uint32_t flags = rec[i].flags & KABI_IOMMU_PGFAULT_FLAGS_KNOWN;

		/* Records come in runs from one device: look it up once per run. */
		info[i].dev = i && rec[i].dev_id == rec[i - 1].dev_id ? info[i - 1].dev : dev_by_id(ctx, rec[i].dev_id);
		info[i].bond = info[i].dev ? bond_of(info[i].dev, &rec[i], flags) : NULL;
		info[i].page = rec[i].addr & ~4095ull;
		info[i].run_start = info[i].run_end = 0;
		info[i].idx = (uint32_t)i;
	}
	memcpy(sorted, info, n * sizeof(*info));
	qsort(sorted, n, sizeof(*sorted), by_bond_page);
	for (size_t i = 0; i < n;) {
		size_t j = i;

		uint64_t bridge = sorted[i].bond ? sva_fa_bridge(sorted[i].bond->mm->fault_around) : 0;

		while (j + 1 < n && sorted[j + 1].bond == sorted[i].bond &&
		       sorted[j + 1].page <= sorted[j].page + 4096 + bridge)
			j++;
		for (size_t k = i; sorted[i].bond && j > i && k <= j; k++) {
			info[sorted[k].idx].run_start = sorted[i].page;
			info[sorted[k].idx].run_end = sorted[j].page + 4096;
		}
		i = j + 1;
	}
}

#ifdef SVA_TEST_HOOKS
/* Tests only (libsva-test): called right after a fault is counted. */
void (*sva_test_fault_counted_hook)(struct sva_bond *bond);
#define FAULT_COUNTED(b) (sva_test_fault_counted_hook ? sva_test_fault_counted_hook(b) : (void)0)
#else
#define FAULT_COUNTED(b) ((void)0)
#endif

/* The last record of a group (or of the batch, which holds whole groups). */
static uint32_t handle_record(struct sva_ctx *ctx, const struct kabi_iommu_hwpt_pgfault *rec,
			      const struct rec_info *ri, uint32_t code, int *sticky, bool ends_group)
{
	uint32_t flags = rec->flags & KABI_IOMMU_PGFAULT_FLAGS_KNOWN;
	struct sva_dev *dev = ri->dev;
	struct sva_bond *bond = ri->bond;
	uint32_t access = access_of(rec->perm);
	uint64_t pages = 0;
	int reason;

	if (!bond)
		reason = -ENOENT; /* unbound meanwhile, or nothing of ours */
	else if (code != KABI_IOMMUFD_PAGE_RESP_SUCCESS)
		reason = *sticky;
	else
		reason = sva_mm_resolve_fault(bond->mm, &bond->fa, rec->addr, ri->run_start, ri->run_end, access, &pages);
	if (!bond) {
		sva_logf(&ctx->log, SVA_LOG_WARN, "I/O page fault from device %u %s %u at 0x%llx with no bond: INVALID",
			 rec->dev_id, (flags & KABI_IOMMU_PGFAULT_FLAGS_PASID_VALID) ? "PASID" : "RID",
			 rec->pasid, (unsigned long long)rec->addr);
		*sticky = reason;
		return KABI_IOMMUFD_PAGE_RESP_INVALID;
	}
	/*
	 * `faults` is counted last, with release order, after the other counters
	 * (its group's too) and the report: whoever sees a fault counted
	 * (sva_bond_stats reads it first, with acquire) sees everything about it.
	 * A group's records all come from one PASID, so from this bond.
	 */
	atomic_fetch_add_explicit(&bond->pages_mapped, pages, memory_order_relaxed);
	if (ends_group)
		atomic_fetch_add_explicit(&bond->groups, 1, memory_order_relaxed);
	if (!reason) {
		atomic_fetch_add_explicit(&bond->faults, 1, memory_order_release);
		FAULT_COUNTED(bond);
		return code;
	}
	atomic_fetch_add_explicit(&bond->invalid, 1, memory_order_relaxed);
	*sticky = reason;
	if (bond->ops.fault_error) {
		struct sva_fault_report rep = {
			.size = sizeof(rep),
			.dev = dev,
			.pasid = (flags & KABI_IOMMU_PGFAULT_FLAGS_PASID_VALID) ? rec->pasid : SVA_PASID_RID,
			.access = access,
			.addr = rec->addr,
			.reason = reason,
		};

		sva_callback_enter(SVA_CB_FAULT_ERROR);
		bond->ops.fault_error(bond, &rep, bond->drvdata);
		sva_callback_leave(SVA_CB_FAULT_ERROR);
	}
	atomic_fetch_add_explicit(&bond->faults, 1, memory_order_release);
	FAULT_COUNTED(bond);
	return KABI_IOMMUFD_PAGE_RESP_INVALID;
}

/*
 * Answer every group in one write.  The kernel stops at the first answer it
 * refuses (a cookie whose group was already answered INVALID by a detach) and
 * returns the bytes before it: skip that one and write the rest.
 */
static void answer(struct sva_ctx *ctx, struct kabi_iommu_hwpt_page_response *resp, size_t n)
{
	size_t off = 0;

	while (off < n) {
		ssize_t w = write(ctx->fe.fault_fd, resp + off, (n - off) * sizeof(*resp));

		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0 && errno != EINVAL) {
			sva_logf(&ctx->log, SVA_LOG_ERROR, "answering %zu I/O page faults failed: %s", n - off,
				 strerror(errno));
			return;
		}
		off += w < 0 ? 0 : (size_t)w / sizeof(*resp);
		if (off < n) {
			sva_logf(&ctx->log, SVA_LOG_DEBUG, "fault cookie %u is stale (its PASID was detached)",
				 resp[off].cookie);
			off++;
		}
	}
}

/* Grow the buffers when a group does not fit (the kernel returns whole groups only). */
static int grow(struct sva_fault_engine *fe)
{
	size_t n = fe->buf_records * 4;
	void *b, *r;

	if (n > MAX_RECORDS)
		return -E2BIG;
	b = sva_realloc(fe->buf, n * sizeof(struct kabi_iommu_hwpt_pgfault));
	if (!b)
		return -ENOMEM;
	fe->buf = b;
	r = sva_realloc(fe->resp, n * sizeof(struct kabi_iommu_hwpt_page_response));
	if (!r)
		return -ENOMEM;
	fe->resp = r;
	r = sva_realloc(fe->info, 2 * n * sizeof(struct rec_info));
	if (!r)
		return -ENOMEM;
	fe->info = r;
	fe->buf_records = n;
	return 0;
}

int sva_fault_process(struct sva_ctx *ctx, unsigned max)
{
	struct sva_fault_engine *fe = &ctx->fe;
	int ret = 0, total = 0;

	pthread_mutex_lock(&fe->lock);
	while ((unsigned)total < max && fe->fault_fd >= 0) {
		struct kabi_iommu_hwpt_pgfault *rec = fe->buf;
		struct kabi_iommu_hwpt_page_response *resp = fe->resp;
		size_t want = fe->buf_records, nresp = 0;
		uint32_t code = KABI_IOMMUFD_PAGE_RESP_SUCCESS;
		int sticky = 0;
		ssize_t n;

		if (max - (unsigned)total < want)
			want = max - (unsigned)total;
		n = read(fe->fault_fd, rec, want * sizeof(*rec));
		if (n < 0 && errno == EINTR)
			continue;
		/* The first group did not fit: whole groups only, so it may take us past max. */
		if (n < 0 && errno == EINVAL && want < fe->buf_records)
			n = read(fe->fault_fd, rec, fe->buf_records * sizeof(*rec));
		if (n < 0 && errno == EINVAL && (ret = grow(fe)) == 0)
			continue;
		if (n < 0) {
			ret = ret ? ret : -errno;
			sva_logf(&ctx->log, SVA_LOG_ERROR, "reading the fault queue failed: %s", strerror(-ret));
			break;
		}
		if (n == 0)
			break;
		/*
		 * Coherence before resolution: a fault raised after a munmap()
		 * returned was read after the monitor read that munmap's event; wait
		 * until it is applied, so no fault of this batch is answered from a
		 * chunk that event withdraws.
		 */
		sva_track_fence();
		plan_batch(ctx, rec, (size_t)n / sizeof(*rec), fe->info, (struct rec_info *)fe->info + fe->buf_records);
		for (size_t i = 0; i < (size_t)n / sizeof(*rec); i++) {
			bool ends = (rec[i].flags & KABI_IOMMU_PGFAULT_FLAGS_LAST_PAGE) || i + 1 == (size_t)n / sizeof(*rec);

			code = handle_record(ctx, &rec[i], &((struct rec_info *)fe->info)[i], code, &sticky, ends);
			if (ends) {
				resp[nresp].cookie = rec[i].cookie;
				resp[nresp].code = code;
				nresp++;
				code = KABI_IOMMUFD_PAGE_RESP_SUCCESS;
				sticky = 0;
			}
		}
		answer(ctx, resp, nresp);
		total += (int)((size_t)n / sizeof(*rec));
	}
	pthread_mutex_unlock(&fe->lock);
	return total ? total : ret;
}

SVA_EXPORT int sva_ctx_fault_fd(struct sva_ctx *ctx)
{
	uint32_t id;
	int ret;

	if (!ctx)
		return -EINVAL;
	if (!ctx->fe.poll_mode)
		return sva_fail(&ctx->log, -EINVAL, "sva_ctx_fault_fd: the context runs a fault thread "
						    "(create it with SVA_CTX_FAULT_POLL for poll mode)");
	ret = sva_ctx_check_owner(ctx);
	if (ret)
		return ret;
	ret = sva_fault_queue_get(ctx, &id);
	if (ret)
		return ret;
	pthread_mutex_lock(&ctx->fe.setup);
	ret = ctx->fe.fault_fd;
	pthread_mutex_unlock(&ctx->fe.setup);
	return ret;
}

SVA_EXPORT int sva_ctx_process_faults(struct sva_ctx *ctx, unsigned max)
{
	int ret;

	if (!ctx || !max)
		return -EINVAL;
	if (!ctx->fe.poll_mode)
		return sva_fail(&ctx->log, -EINVAL, "sva_ctx_process_faults: the context runs a fault thread");
	ret = sva_ctx_check_owner(ctx);
	if (ret)
		return ret;
	/* The engine's lock is held around fault_error: taking it again would hang. */
	if (sva_in_fault_error())
		return sva_fail(&ctx->log, -EDEADLK, "sva_ctx_process_faults: called from a fault_error callback");
	return sva_fault_process(ctx, max);
}

SVA_EXPORT int sva_bond_stats(const struct sva_bond *bond, struct sva_bond_stats *stats)
{
	struct sva_bond_stats s = { .size = sizeof(s) };

	if (!bond)
		return -EINVAL;
	s.faults = atomic_load_explicit(&((struct sva_bond *)bond)->faults, memory_order_acquire);
	s.groups = atomic_load(&((struct sva_bond *)bond)->groups);
	s.invalid = atomic_load(&((struct sva_bond *)bond)->invalid);
	s.pages_mapped = atomic_load(&((struct sva_bond *)bond)->pages_mapped);
	return sva_info_copy(stats, &s, sizeof(s));
}
