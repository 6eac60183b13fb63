/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The fault engine: one iommufd fault queue per context, shared by every
 * fault-capable HWPT.  A batch reads whole page-request groups, resolves each
 * record, answers each group once (INVALID if any of its records failed:
 * errors are sticky within a group) and writes every answer in one write().
 *
 * A device decides how many faults come, and what they say: nothing here
 * may cost the rest of the process more than one batch at a time (the gate
 * below), a few log lines a second (rate limits), or memory a device can
 * choose (the read buffer's bounds).
 */
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "callback.h"
#include "internal.h"
#include "kabi.h"
#include "pasid_map.h"
#include "pasid_space.h"
#include "track.h"

/* What the pre-pass learns of a record: its bond, and the run of faulting pages it starts. */
struct rec_info {
	struct sva_dev *dev;
	struct sva_bond *bond;
	uint64_t page, run_start, run_end; /* run: 0, 0 when the page has no neighbour */
	uint32_t idx;
	uint32_t later; /* records after this one in the batch in the same address space */
	bool stray;	/* in a group whose records name more than one device or PASID */
};

#define BATCH_RECORDS 64u
/* The read buffer grows to hold a group up to MAX_RECORDS (Intel's PRQ holds
 * 2048: no real group is larger).  A larger one is read into a scratch
 * buffer of at most DROP_RECORDS (2.5 MiB), answered INVALID unresolved and
 * freed; nothing larger is ever allocated, so the queue stalls on a group
 * beyond that (-E2BIG, logged), the one thing a device can do no better. */
#define MAX_RECORDS 4096u
#define DROP_RECORDS 65536u

/*
 * The gate.  Batches take turns, and give way to excluders between them: an
 * unbind waits for the batch in progress, then gets in before the next,
 * however many faults are pending.  One atomic word holds the state, so a
 * batch that nobody waits on costs one compare-and-swap to start and one
 * atomic AND to end (two lock sections and a broadcast before: a tenth of a
 * random fault's work in libsva).  Whoever has to wait does it under `lock`
 * with a condition variable, having first counted itself in the word, so the
 * batch that ends sees it and wakes it (a waiter's count and its check are
 * one critical section that the waker must enter to broadcast: no lost
 * wake-up).  A condition variable rather than a bare mutex because a mutex
 * released and taken again at once by the fault thread lets a waiter starve
 * (glibc's mutexes are not fair).
 */
#define GATE_BATCH 1u		/* a batch is in progress */
#define GATE_WAITER 2u		/* one per batch waiting for its turn (bits 1-15) */
#define GATE_EXCLUDER (1u << 16) /* one per excluder, waiting or in */

static void batch_begin(struct sva_fault_engine *fe)
{
	unsigned s = 0;

	if (atomic_compare_exchange_strong_explicit(&fe->gate, &s, GATE_BATCH, memory_order_acquire,
						    memory_order_relaxed))
		return;
	pthread_mutex_lock(&fe->lock);
	atomic_fetch_add_explicit(&fe->gate, GATE_WAITER, memory_order_relaxed);
	for (;;) {
		s = atomic_load_explicit(&fe->gate, memory_order_relaxed);
		if (!(s & GATE_BATCH) && s < GATE_EXCLUDER) {
			if (atomic_compare_exchange_weak_explicit(&fe->gate, &s, (s - GATE_WAITER) | GATE_BATCH,
								  memory_order_acquire, memory_order_relaxed))
				break;
			continue;
		}
		pthread_cond_wait(&fe->gate_cv, &fe->lock);
	}
	pthread_mutex_unlock(&fe->lock);
}

static void batch_end(struct sva_fault_engine *fe)
{
	unsigned old = atomic_fetch_and_explicit(&fe->gate, ~GATE_BATCH, memory_order_acq_rel);

	if (old != GATE_BATCH) { /* a batch or an excluder waits */
		pthread_mutex_lock(&fe->lock);
		pthread_cond_broadcast(&fe->gate_cv);
		pthread_mutex_unlock(&fe->lock);
	}
}

void sva_fault_exclude(struct sva_ctx *ctx)
{
	struct sva_fault_engine *fe = &ctx->fe;

	pthread_mutex_lock(&fe->lock);
	atomic_fetch_add_explicit(&fe->gate, GATE_EXCLUDER, memory_order_acq_rel);
	while (atomic_load_explicit(&fe->gate, memory_order_acquire) & GATE_BATCH)
		pthread_cond_wait(&fe->gate_cv, &fe->lock);
}

void sva_fault_unexclude(struct sva_ctx *ctx)
{
	struct sva_fault_engine *fe = &ctx->fe;

	atomic_fetch_sub_explicit(&fe->gate, GATE_EXCLUDER, memory_order_release);
	pthread_cond_broadcast(&fe->gate_cv);
	pthread_mutex_unlock(&fe->lock);
}

int sva_fault_bufs_alloc(struct sva_fault_engine *fe)
{
	if (fe->buf)
		return 0;
	fe->buf_records = BATCH_RECORDS;
	fe->buf = sva_malloc(fe->buf_records * sizeof(struct kabi_iommu_hwpt_pgfault));
	fe->resp = sva_malloc(fe->buf_records * sizeof(struct kabi_iommu_hwpt_page_response));
	fe->info = sva_malloc(2 * fe->buf_records * sizeof(struct rec_info));
	if (!fe->buf || !fe->resp || !fe->info) {
		sva_free(fe->buf);
		sva_free(fe->resp);
		sva_free(fe->info);
		fe->buf = fe->resp = fe->info = NULL;
		return -ENOMEM;
	}
	return 0;
}

/* Inside a batch: faults come from one device at a time, mostly. */
static struct sva_dev *dev_by_id_listed(struct sva_ctx *ctx, uint32_t dev_id)
{
	struct sva_dev *dev;

	sva_devs_lock(ctx);
	for (dev = ctx->devs; dev; dev = dev->ctx_next)
		if (dev->info.dev_id == dev_id)
			break;
	sva_devs_unlock(ctx);
	if (dev)
		ctx->fe.last_dev = dev;
	return dev;
}

/* The memo inline: one call less per batch (50-100 ns under the VM's emulation). */
static inline struct sva_dev *dev_by_id(struct sva_ctx *ctx, uint32_t dev_id)
{
	struct sva_dev *dev = ctx->fe.last_dev;

	return dev && dev->info.dev_id == dev_id ? dev : dev_by_id_listed(ctx, dev_id);
}

/* How a log line names a record's device (libsva(7), Logging): its label, or,
 * for one the context does not know, "device N (unknown)" written into buf. */
#define DEV_NAME_MAX 32

static const char *dev_name(const struct sva_dev *dev, uint32_t dev_id, char buf[DEV_NAME_MAX])
{
	if (dev)
		return dev->label;
	snprintf(buf, DEV_NAME_MAX, "device %u (unknown)", dev_id);
	return buf;
}

/*
 * The bond a record belongs to: this device's bond under the PASID (one global
 * PASID may have a bond on each device).  Valid until the batch ends: unbind
 * unpublishes inside sva_fault_exclude() before freeing the bond.
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
 * Per record, the records after it in the same address space: under a pin
 * budget a fault's window leaves a page of room for each (pin_budget.c), since
 * nothing mapped for the batch can be evicted before it is answered.  Most
 * batches fault in one or two address spaces: a few counters, and a record of
 * any further one counts every record after it.
 */
static void count_later(struct rec_info *info, size_t n)
{
	struct mm_count {
		const struct sva_mm *mm;
		uint32_t seen;
	} c[4];
	unsigned used = 0;

	for (size_t i = n; i-- > 0;) {
		const struct sva_mm *mm = info[i].bond ? info[i].bond->mm : NULL;
		unsigned k = 0;

		if (!mm)
			continue; /* resolved nowhere */
		while (k < used && c[k].mm != mm)
			k++;
		if (k == used && used < ARRAY_SIZE(c))
			c[used++] = (struct mm_count){ .mm = mm, .seen = 0 };
		/* Past the counters: every later record, whatever its address
		 * space (too much room kept, never too little). */
		info[i].later = k < used ? c[k].seen++ : (uint32_t)(n - 1 - i);
	}
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
		info[i].stray = false;
		info[i].later = 0;
	}
	if (n < 2)
		return; /* one record is no run (a device faulting one page at a time) */
	count_later(info, n);
	/*
	 * A group is one PASID's: the kernel routes and answers it by its last
	 * record.  A device whose group also names another device or PASID is
	 * faulty: the whole group is answered INVALID, as its last record's
	 * bond's, and nothing is resolved for it in any address space (the
	 * kernel merges a group's records by group id only).
	 */
	for (size_t g = 0, last; g < n; g = last + 1) {
		bool stray = false;

		for (last = g; last + 1 < n && !(rec[last].flags & KABI_IOMMU_PGFAULT_FLAGS_LAST_PAGE); last++)
			;
		for (size_t k = g; k < last; k++)
			stray |= rec[k].dev_id != rec[last].dev_id || rec[k].pasid != rec[last].pasid ||
				 ((rec[k].flags ^ rec[last].flags) & KABI_IOMMU_PGFAULT_FLAGS_PASID_VALID);
		for (size_t k = g; stray && k <= last; k++) {
			info[k].stray = true;
			info[k].dev = info[last].dev;
			info[k].bond = info[last].bond;
		}
	}
	memcpy(sorted, info, n * sizeof(*info));
	for (size_t i = 0; i < n; i++)
		if (sorted[i].stray)
			sorted[i].bond = NULL; /* in no run: their pages are mapped for no one */
	qsort(sorted, n, sizeof(*sorted), by_bond_page);
	for (size_t i = 0; i < n;) {
		size_t j = i;

		uint64_t bridge = sorted[i].bond ? sva_fa_bridge(sorted[i].bond->mm->fa_cap) : 0;

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

/*
 * What a batch has resolved so far (resolve_records()): answers built, how
 * many of them are written, and where the group being resolved starts.
 */
struct batch_state {
	const struct kabi_iommu_hwpt_pgfault *rec;
	const struct rec_info *info;
	struct kabi_iommu_hwpt_page_response *resp;
	size_t nresp, answered, group_start;
};

static void answer(struct sva_ctx *ctx, struct kabi_iommu_hwpt_page_response *resp, size_t n);

/*
 * A fault of the batch found no room (-ENOMEM) while chunks mapped for the
 * batch's earlier groups, which cannot be evicted before they are answered,
 * may hold it: answer those groups now and start a new batch count, so that
 * their chunks are cold memory like any other (a device touching them again
 * re-faults, the price a small budget documents, not an INVALID answer;
 * review Z74).  The records of the group in progress, rec[group_start, cur),
 * stay kept for it.  False when there was nothing to answer.
 */
static bool answer_resolved(struct sva_ctx *ctx, struct batch_state *b, size_t cur)
{
	struct sva_fault_engine *fe = &ctx->fe;

	if (b->answered == b->nresp)
		return false;
	answer(ctx, b->resp + b->answered, b->nresp - b->answered);
	b->answered = b->nresp;
	sva_pin_batch(fe, false);
	sva_pin_batch(fe, true);
	for (size_t k = b->group_start; k < cur; k++)
		if (b->info[k].bond)
			sva_pin_keep(b->info[k].bond->mm, b->rec[k].addr);
	return true;
}

/* The last record of a group (or of the batch, which holds whole groups). */
static uint32_t handle_record(struct sva_ctx *ctx, const struct kabi_iommu_hwpt_pgfault *rec,
			      const struct rec_info *ri, uint32_t code, int *sticky, bool ends_group,
			      struct batch_state *b)
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
	else if (ri->stray)
		reason = -EPROTO; /* a group of several PASIDs: a faulty device (plan_batch()) */
	else {
		reason = sva_mm_resolve_fault(bond->mm, &bond->fa, rec->addr, ri->run_start, ri->run_end, access,
					      (uint64_t)ri->later * 4096, &pages);
		if (reason == -ENOMEM && answer_resolved(ctx, b, (size_t)(rec - b->rec)))
			reason = sva_mm_resolve_fault(bond->mm, &bond->fa, rec->addr, ri->run_start, ri->run_end,
						      access, (uint64_t)ri->later * 4096, &pages);
	}
	if (!bond) {
		bool pasid = flags & KABI_IOMMU_PGFAULT_FLAGS_PASID_VALID;
		char unknown[DEV_NAME_MAX];
		unsigned owed;

		/* The limit before the line: a flood of stray records of a
		 * device the context does not know would take the device
		 * list's lock for each, the line written or not. */
		if (sva_log_rl_pass(&ctx->log, &ctx->fe.rl, SVA_LOG_WARN, &owed)) {
			/* A stray record's info holds its group's device, not
			 * its own (plan_batch()); any other's was looked up by
			 * its own id.  A stray record's own PASID may well be
			 * bound: what fails it is its group, answered as the
			 * group's last record, which no bond claims. */
			const struct sva_dev *from = ri->stray ? dev_by_id(ctx, rec->dev_id) : dev;

			sva_logf_owed(&ctx->log, SVA_LOG_WARN, owed, "I/O page fault from %s %s %u at 0x%llx %s: INVALID",
				      dev_name(from, rec->dev_id, unknown), pasid ? "PASID" : "RID",
				      pasid ? rec->pasid : 0, (unsigned long long)rec->addr,
				      ri->stray ? "in a page-request group that names several devices or PASIDs, "
						  "answered as a whole as its last record, which nothing claims"
						: "with no bond");
		}
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
	if (code == KABI_IOMMUFD_PAGE_RESP_SUCCESS) /* the group's first failure */
		sva_logf_rl(&ctx->log, &bond->rl, SVA_LOG_INFO, "I/O page fault from %s %s %u at 0x%llx: %s",
			    dev->label, bond->pasid == SVA_PASID_RID ? "RID" : "PASID",
			    bond->pasid == SVA_PASID_RID ? 0 : bond->pasid, (unsigned long long)rec->addr,
			    strerror(-reason));
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
		/* The queue closed behind libsva's back since the read (a
		 * close_range() racing the batch): a fault thread stops and
		 * says so itself (one_batch()), one line, not two. */
		if (w < 0 && errno == EBADF && !ctx->fe.poll_mode) {
			sva_fault_queue_lost(&ctx->fe);
			return;
		}
		if (w < 0 && errno != EINVAL) {
			sva_logf_rl(&ctx->log, &ctx->fe.rl, SVA_LOG_ERROR, "answering %zu I/O page faults failed: %s",
				    n - off, strerror(errno));
			return;
		}
		off += w < 0 ? 0 : (size_t)w / sizeof(*resp);
		if (off < n) {
			sva_logf_rl(&ctx->log, &ctx->fe.rl, SVA_LOG_DEBUG,
				    "fault cookie %u is stale (its PASID was detached)", resp[off].cookie);
			off++;
		}
	}
}

/* Grow the buffers when a group does not fit (the kernel returns whole groups only). */
static int grow(struct sva_fault_engine *fe)
{
	size_t n = fe->buf_records * 4;
	void *b, *r;

	if (fe->buf_records >= MAX_RECORDS)
		return -E2BIG;
	if (n > MAX_RECORDS)
		n = MAX_RECORDS;
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

#ifdef SVA_TEST_HOOKS
/* Tests only (libsva-test): read the queue, and say whether it polls readable,
 * through these instead (a fake kernel queue).  NULL: the real calls. */
ssize_t (*sva_test_fault_read)(int fd, void *buf, size_t len);
bool (*sva_test_fault_readable)(int fd);
#define QUEUE_READ(fd, b, l) (sva_test_fault_read ? sva_test_fault_read(fd, b, l) : read(fd, b, l))
#else
#define QUEUE_READ(fd, b, l) read(fd, b, l)
#endif

/* fstat() fault_fd into *st (st_mode 0 if that fails): does it hold the
 * queue's file?  One call for both, where the drain asks both. */
static bool queue_stat(const struct sva_fault_engine *fe, struct stat *st)
{
	bool known = fe->queue_file.dev || fe->queue_file.ino;

	if (fstat(fe->fault_fd, st)) {
		st->st_mode = 0;
		return !known;
	}
	return !known || (st->st_dev == fe->queue_file.dev && st->st_ino == fe->queue_file.ino);
}

/*
 * Does fault_fd hold the queue's file, as far as fstat() can tell?  Asked on
 * the rare paths only (a read error, a part of a record, a record naming no
 * device of ours) and at teardown, not per batch; the end of a drain asks
 * queue_stat().  Every anonymous-inode file looks alike, so a number the
 * application closed and gave to an eventfd, say, cannot be told from the
 * queue.  True where the queue is unknown (no fstat at creation, or tests'
 * stand-in queues).
 */
bool sva_fault_queue_ours(const struct sva_fault_engine *fe)
{
	static const char anon[] = "anon_inode:", queue[] = "anon_inode:[iommufd-pgfault]";
	char path[40] = "/proc/self/fd/", link[64], digits[12];
	struct stat st;
	size_t len = 0;
	ssize_t n;

#ifdef SVA_TEST_HOOKS
	if (sva_test_fault_read)
		return true;
#endif
	if (!queue_stat(fe, &st))
		return false;
	/* An eventfd, an epoll or a timerfd at the number passes fstat() as the
	 * queue; the name /proc gives the anonymous file tells them apart
	 * (review Z78: a fork() child closed the application's eventfd).
	 * Without /proc, as before.  Built by hand: the fork handler calls it. */
	for (unsigned v = (unsigned)fe->fault_fd; len == 0 || v; v /= 10)
		digits[len++] = (char)('0' + v % 10);
	for (size_t i = 0; i < len; i++)
		path[14 + i] = digits[len - 1 - i];
	path[14 + len] = '\0';
	n = readlink(path, link, sizeof(link) - 1);
	if (n <= 0)
		return true;
	link[n] = '\0';
	return strncmp(link, anon, sizeof(anon) - 1) != 0 || strcmp(link, queue) == 0;
}

/* The queue's number is not the queue's any more: not ours to read or close. */
int sva_fault_queue_lost(struct sva_fault_engine *fe)
{
	atomic_store(&fe->queue_lost, true);
	return -EBADF;
}

/*
 * read() gave 0: is the queue empty, or does its next group not fit?  Older
 * kernels return 0 for both (Linux 7.3 returns -EINVAL for the second, see
 * iommufd_fault_fops_read()).  The queue polls readable while a group waits.  (A regular file, as tests use
 * in place of the queue, always polls readable: there 0 is the end.)  And is
 * the number still the queue's?  0, 1 (a group waits), or -EBADF (lost).
 */
static int group_waits(struct sva_fault_engine *fe)
{
	struct pollfd p = { .fd = fe->fault_fd, .events = POLLIN };
	struct stat st;

#ifdef SVA_TEST_HOOKS
	if (sva_test_fault_readable)
		return sva_test_fault_readable(fe->fault_fd);
#endif
	if (!queue_stat(fe, &st))
		return sva_fault_queue_lost(fe);
	if (S_ISREG(st.st_mode))
		return 0;
	return poll(&p, 1, 0) == 1 && (p.revents & POLLIN);
}

static void resolve_records(struct sva_ctx *ctx, const struct kabi_iommu_hwpt_pgfault *rec, size_t n);

/* Answer the group rec[0..n) INVALID unresolved: it is over MAX_RECORDS. */
static void drop_group(struct sva_ctx *ctx, const struct kabi_iommu_hwpt_pgfault *rec, size_t n)
{
	struct kabi_iommu_hwpt_page_response resp = {
		.cookie = rec[n - 1].cookie,
		.code = KABI_IOMMUFD_PAGE_RESP_INVALID,
	};

	/* Named by its last record, by which the kernel routes the answer (a
	 * faulty device's group may name several). */
	const struct kabi_iommu_hwpt_pgfault *last = &rec[n - 1];
	const struct sva_dev *dev = dev_by_id(ctx, last->dev_id);
	bool pasid = last->flags & KABI_IOMMU_PGFAULT_FLAGS_PASID_VALID;
	char unknown[DEV_NAME_MAX];

	answer(ctx, &resp, 1);
	sva_logf_rl(&ctx->log, &ctx->fe.rl, SVA_LOG_WARN,
		    "a page-request group of %zu records (more than %u) from %s %s %u: answered INVALID, unresolved", n,
		    MAX_RECORDS, dev_name(dev, last->dev_id, unknown), pasid ? "PASID" : "RID", pasid ? last->pasid : 0);
}

/*
 * The next group is larger than MAX_RECORDS: read it into a scratch buffer,
 * grown to DROP_RECORDS at most, and free it after.  The oversize groups
 * are answered INVALID unresolved; the ordinary ones the same read returned
 * after them are resolved as any batch.  Returns the records handled, or
 * -E2BIG (a group larger still: nothing read), or another -errno.
 */
static ssize_t read_oversize(struct sva_ctx *ctx)
{
	struct sva_fault_engine *fe = &ctx->fe;
	struct kabi_iommu_hwpt_pgfault *big = NULL;
	size_t cap = MAX_RECORDS, nrec, start = 0, slice = 0;
	ssize_t n = 0;
	int err = E2BIG, waits;

	while (cap < DROP_RECORDS) {
		cap = cap * 4 < DROP_RECORDS ? cap * 4 : DROP_RECORDS;
		sva_free(big);
		big = sva_malloc(cap * sizeof(*big));
		if (!big)
			return -ENOMEM;
		do
			n = QUEUE_READ(fe->fault_fd, big, cap * sizeof(*big));
		while (n < 0 && errno == EINTR);
		if (n > 0)
			break;
		if (n < 0 && errno != EINVAL) {
			err = errno;
			break;
		}
		if (n == 0 && (waits = group_waits(fe)) <= 0) {
			sva_free(big);
			return waits;
		}
	}
	if (n <= 0) {
		sva_free(big);
		if (err == E2BIG)
			sva_logf_rl(&ctx->log, &fe->rl, SVA_LOG_ERROR,
				    "a page-request group of more than %u records waits in the fault queue: it is not "
				    "read, and the queue is stalled until its PASID detaches",
				    DROP_RECORDS);
		return -err;
	}
	/* Whole groups, each ending at its LAST_PAGE record (the last at the end). */
	nrec = (size_t)n / sizeof(*big);
	for (size_t i = 0; i < nrec; i++) {
		if (!(big[i].flags & KABI_IOMMU_PGFAULT_FLAGS_LAST_PAGE) && i + 1 < nrec)
			continue;
		if (i + 1 - start > MAX_RECORDS) {
			if (start > slice)
				resolve_records(ctx, big + slice, start - slice);
			drop_group(ctx, big + start, i + 1 - start);
			slice = i + 1;
		} else if (i + 1 - slice > fe->buf_records) {
			resolve_records(ctx, big + slice, start - slice);
			slice = start;
		}
		start = i + 1;
	}
	if (nrec > slice)
		resolve_records(ctx, big + slice, nrec - slice);
	sva_free(big);
	return (ssize_t)nrec;
}

/*
 * Read whole groups into fe->buf, want records at most unless the first group
 * needs more (then up to the whole buffer, grown to MAX_RECORDS).  Returns the
 * records read, 0 when the queue is empty, -EAGAIN when an oversize group was
 * read and handled apart (*dropped records, with what came after it), or -errno.
 */
static ssize_t read_batch(struct sva_ctx *ctx, size_t want, size_t *dropped)
{
	struct sva_fault_engine *fe = &ctx->fe;
	const size_t rec = sizeof(struct kabi_iommu_hwpt_pgfault);
	bool reread = false;

	for (;;) {
		ssize_t n = QUEUE_READ(fe->fault_fd, fe->buf, want * rec);
		int ret, waits;

		/* The queue gives whole records: a part of one is another file's. */
		if (n > 0 && (n % (ssize_t)rec == 0 || sva_fault_queue_ours(fe)))
			return n / (ssize_t)rec;
		if (n > 0)
			return sva_fault_queue_lost(fe);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno != EINVAL)
			return errno == EBADF || !sva_fault_queue_ours(fe) ? sva_fault_queue_lost(fe) : -errno;
		if (n == 0 && (waits = group_waits(fe)) <= 0)
			return waits;
		/* Readable after a read of 0: a group that does not fit, or
		 * one that arrived after the read found the queue empty.  Read
		 * again at the same size before taking it for the first: a
		 * larger read would take more than max, and a full buffer
		 * would grow for no large group.  A group that does not fit
		 * reads 0 again. */
		if (n == 0 && !reread) {
			reread = true;
			continue;
		}
		/* The first group does not fit in want records -- or the
		 * number is another file's, which a group too large to read
		 * must not be blamed for (/dev/null reads 0 and polls readable). */
		if (n < 0 && !sva_fault_queue_ours(fe))
			return sva_fault_queue_lost(fe);
		if (want < fe->buf_records) {
			want = fe->buf_records;
			continue;
		}
		ret = grow(fe);
		if (!ret) {
			want = fe->buf_records;
			continue;
		}
		if (ret != -E2BIG)
			return ret;
		n = read_oversize(ctx);
		if (n <= 0)
			return n;
		*dropped = (size_t)n;
		return -EAGAIN;
	}
}

/* Plan, resolve and answer n records (whole groups, n <= fe->buf_records). */
static void resolve_records(struct sva_ctx *ctx, const struct kabi_iommu_hwpt_pgfault *rec, size_t n)
{
	struct sva_fault_engine *fe = &ctx->fe;
	struct kabi_iommu_hwpt_page_response *resp = fe->resp;
	struct rec_info *info = fe->info;
	uint32_t code = KABI_IOMMUFD_PAGE_RESP_SUCCESS;
	int sticky = 0;

	/*
	 * Coherence before resolution: a fault raised after a munmap()
	 * returned was read after the monitor read that munmap's event; wait
	 * until it is applied, so no fault of this batch is answered from a
	 * chunk that event withdraws.
	 */
	sva_track_fence();
	sva_pin_batch(fe, true);
	plan_batch(ctx, rec, n, info, info + fe->buf_records);
	/* Records of no device of ours are rare (a device closed since): on
	 * those only, is the number still the queue's?  Another file's bytes
	 * (/dev/zero, a memfd) are not answered into it. */
	size_t stray = 0;

	while (stray < n && info[stray].dev)
		stray++;
	if (stray < n && !sva_fault_queue_ours(fe)) {
		sva_fault_queue_lost(fe);
		sva_pin_batch(fe, false);
		return;
	}
	struct batch_state b = { .rec = rec, .info = info, .resp = resp };

	sva_log_device_driven(true);
	for (size_t i = 0; i < n; i++) {
		bool ends = (rec[i].flags & KABI_IOMMU_PGFAULT_FLAGS_LAST_PAGE) || i + 1 == n;

		code = handle_record(ctx, &rec[i], &info[i], code, &sticky, ends, &b);
		if (ends) {
			resp[b.nresp].cookie = rec[i].cookie;
			resp[b.nresp].code = code;
			b.nresp++;
			b.group_start = i + 1;
			code = KABI_IOMMUFD_PAGE_RESP_SUCCESS;
			sticky = 0;
		}
	}
	sva_log_device_driven(false);
	answer(ctx, resp + b.answered, b.nresp - b.answered);
	sva_pin_batch(fe, false);
}

/*
 * The queue's number is closed or another file's (inside the gate): -EBADF,
 * with its line in poll mode, each call (rate-limited).  A fault thread that
 * finds its queue gone stops and says so itself (fault_thread.c): one line,
 * not two.
 */
static ssize_t queue_gone(struct sva_ctx *ctx)
{
	struct sva_fault_engine *fe = &ctx->fe;

	if (fe->poll_mode)
		sva_logf_rl(&ctx->log, &fe->rl, SVA_LOG_ERROR,
			    "the fault queue's descriptor %d was closed behind libsva's back (or is another "
			    "file's now): faults are no longer read; never close libsva's descriptors",
			    fe->fault_fd);
	return -EBADF;
}

/* One batch of at most `left` records (more if the first group needs it):
 * read, then resolve.  Returns the records handled, 0 when the queue is
 * empty, or -errno (logged).  The buffers are read inside the gate only:
 * they exist once fault_fd is published there. */
static ssize_t one_batch(struct sva_ctx *ctx, size_t left)
{
	struct sva_fault_engine *fe = &ctx->fe;
	size_t dropped = 0, want;
	ssize_t got;

	if (fe->fault_fd < 0)
		return 0;
	if (atomic_load(&fe->queue_lost))
		return queue_gone(ctx); /* the number is not ours to read */
	want = left < fe->buf_records ? left : fe->buf_records;
	got = read_batch(ctx, want, &dropped);
	if (got == -EAGAIN)
		return (ssize_t)dropped;
	if (got == -EBADF)
		return queue_gone(ctx);
	if (got < 0 && got != -E2BIG)
		sva_logf_rl(&ctx->log, &fe->rl, SVA_LOG_ERROR, "reading the fault queue failed: %s",
			    strerror((int)-got));
	if (got > 0)
		resolve_records(ctx, fe->buf, (size_t)got); /* read_batch() may have moved fe->buf */
	return got > 0 && atomic_load(&fe->queue_lost) ? queue_gone(ctx) : got;
}

/*
 * Batch after batch until max records or the queue is empty, each inside the
 * gate on its own: an unbind or a close waits for one batch, not the drain.
 */
int sva_fault_process(struct sva_ctx *ctx, unsigned max)
{
	struct sva_fault_engine *fe = &ctx->fe;
	uint64_t total = 0; /* the fault thread asks for UINT32_MAX: a storm may pass INT_MAX */
	int ret = 0;

	/* A stop between batches: a teardown waits for one batch, not a drain
	 * that may not end (a number given to /dev/zero reads forever). */
	while (total < max && !atomic_load(&fe->stopping)) {
		ssize_t n;

		batch_begin(fe);
		n = one_batch(ctx, (size_t)(max - total));
		batch_end(fe);
		if (n <= 0) {
			ret = (int)n;
			break;
		}
		total += (uint64_t)n;
	}
	return total ? (total > INT_MAX ? INT_MAX : (int)total) : ret;
}

SVA_EXPORT int sva_ctx_process_faults(struct sva_ctx *ctx, unsigned max)
{
	int ret;

	if (!ctx)
		return sva_fail(sva_log_default(), -EINVAL, "sva_ctx_process_faults: ctx is NULL");
	/* Before max and the mode, in either mode: the batch that runs
	 * fault_error holds the gate, so a batch started from inside it would
	 * wait for itself, whatever the arguments; and it is the mistake that
	 * no other argument mends (max 0 would also hide it unlogged). */
	if (sva_in_fault_error_or_log())
		return sva_fail(&ctx->log, -EDEADLK, "sva_ctx_process_faults: called from %s",
				sva_in_fault_error() ? "a fault_error callback" : sva_callback_refusing());
	if (!max)
		return -EINVAL;
	if (!ctx->fe.poll_mode)
		return sva_fail(&ctx->log, -EINVAL, "sva_ctx_process_faults: the context runs a fault thread");
	ret = sva_ctx_check_owner(ctx);
	if (ret)
		return ret;
	return sva_fault_process(ctx, max);
}

SVA_EXPORT int sva_bond_stats(const struct sva_bond *bond, struct sva_bond_stats *stats)
{
	struct sva_bond_stats s = { .size = sizeof(s) };

	if (!bond)
		return sva_fail(sva_log_default(), -EINVAL, "sva_bond_stats: bond is NULL");
	s.faults = atomic_load_explicit(&((struct sva_bond *)bond)->faults, memory_order_acquire);
	s.groups = atomic_load(&((struct sva_bond *)bond)->groups);
	s.invalid = atomic_load(&((struct sva_bond *)bond)->invalid);
	s.pages_mapped = atomic_load(&((struct sva_bond *)bond)->pages_mapped);
	return sva_info_copy(stats, &s, sizeof(s));
}
