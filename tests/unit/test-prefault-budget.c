/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * sva_mm_prefault() under a pin budget without a kernel: a hand-built context
 * and address space, chunks inserted as if faults had mapped them, and
 * ioctl() answering IOMMU_IOAS_MAP and IOMMU_IOAS_UNMAP.
 *
 * sva_mm_prefault(3): "all or nothing"; a refusal changes nothing.  It used to
 * make room in the budget (evicting fault-mapped memory) before checking the
 * range, so a prefault of an unmapped range failed with -EFAULT after an
 * eviction, and an -EAGAIN came after evicting what could be evicted.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "internal.h"
#include "kabi.h"
#include "../tap.h"

#define P 4096ull

static int unmaps, maps;

static bool fake_ioctl(unsigned long req, void *arg, int *rc)
{
	*rc = 0;
	if (req == KABI_IOMMU_IOAS_UNMAP) {
		unmaps++;
	} else if (req == KABI_IOMMU_IOAS_MAP) {
		maps++;
	} else if (req == KABI_IOMMU_IOAS_IOVA_RANGES) { /* the window: everything */
		struct kabi_iommu_ioas_iova_ranges *c = arg;
		struct kabi_iommu_iova_range *r = (void *)(uintptr_t)c->allowed_iovas;

		if (c->num_iovas >= 1) {
			r[0].start = 0;
			r[0].last = (1ull << 47) - 1;
		}
		c->num_iovas = 1;
		c->out_iova_alignment = P;
	} else {
		return false;
	}
	return true;
}
#include "fake_ioctl.h"

static void quiet(void *arg, enum sva_log_level level, const char *msg)
{
	(void)arg;
	(void)level;
	(void)msg;
}

static struct sva_ctx *fake_ctx(void)
{
	struct sva_ctx *ctx = calloc(1, sizeof(*ctx));

	sva_ctx_init_core(ctx);
	sva_log_init(&ctx->log, quiet, NULL, SVA_LOG_DEBUG);
	return ctx;
}

static struct sva_mm *fake_mm(struct sva_ctx *ctx, uint64_t budget)
{
	struct sva_mm *mm = calloc(1, sizeof(*mm));

	mm->ctx = ctx;
	mm->flags = SVA_MM_UNTRACKED;
	mm->maps_fd = open("/proc/self/maps", O_RDONLY | O_CLOEXEC);
	mm->pin.budget = budget;
	pthread_mutex_init(&mm->lock, NULL);
	pthread_mutex_init(&mm->map_lock, NULL);
	return mm;
}

static void mm_done(struct sva_mm *mm)
{
	sva_chunks_clear(&mm->chunks);
	close(mm->maps_fd);
	pthread_mutex_destroy(&mm->lock);
	pthread_mutex_destroy(&mm->map_lock);
	free(mm);
}

/* A chunk a fault mapped: in the table and counted visible. */
static struct sva_chunk *faulted(struct sva_mm *mm, uint64_t start, uint64_t len)
{
	struct sva_chunk *c = sva_chunks_insert(&mm->chunks, start, start + len, SVA_PROT_READ | SVA_PROT_WRITE);

	atomic_fetch_add(&mm->st_visible, len);
	return c;
}

static struct sva_mm_stats stats_of(struct sva_mm *mm)
{
	struct sva_mm_stats s = { .size = sizeof(s) };

	sva_mm_stats(mm, &s);
	return s;
}

int main(void)
{
	struct sva_ctx *ctx = fake_ctx();
	struct sva_mm_stats before, after;
	void *buf;

	plan(12);
	buf = mmap(NULL, 6 * P, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (buf == MAP_FAILED) {
		printf("Bail out! mmap failed\n");
		return 1;
	}

	/* A range nothing maps, over what the budget has free: -EFAULT, no eviction. */
	{
		struct sva_mm *mm = fake_mm(ctx, 8 * P);
		void *hole;

		faulted(mm, 0x20000000, 4 * P);
		before = stats_of(mm);
		/* An address nothing maps now (last: libsva's arena could take it). */
		hole = mmap(NULL, 6 * P, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		munmap(hole, 6 * P);
		unmaps = 0;
		is_int(sva_mm_prefault(mm, hole, 6 * P), -EFAULT, "prefault of an unmapped range: -EFAULT");
		after = stats_of(mm);
		is_int(unmaps, 0, "  nothing was unmapped to make room first");
		ok(after.evictions == before.evictions && after.bytes_visible == before.bytes_visible,
		   "  nothing evicted: %llu bytes visible as before", (unsigned long long)after.bytes_visible);
		mm_done(mm);
	}

	/* The room is held by the batch in flight: -EAGAIN, and nothing evicted
	 * on the way (the old code evicted what it could, then gave up). */
	{
		struct sva_mm *mm = fake_mm(ctx, 8 * P);
		struct sva_chunk *held = faulted(mm, 0x20000000, 4 * P);

		faulted(mm, 0x21000000, 2 * P); /* evictable, but 2 pages are not enough */
		atomic_store(&ctx->fe.pin_batch, 1);
		held->stamp = 1; /* mapped for the batch in flight */
		before = stats_of(mm);
		unmaps = 0;
		is_int(sva_mm_prefault(mm, buf, 6 * P), -EAGAIN, "prefault the budget cannot make room for: -EAGAIN");
		after = stats_of(mm);
		is_int(unmaps, 0, "  nothing was unmapped");
		ok(after.evictions == before.evictions && after.bytes_visible == 6 * P,
		   "  nothing evicted: %llu bytes visible", (unsigned long long)after.bytes_visible);
		is_int(mm->chunks.count, 2, "  both chunks are still there");

		/* The batch answered: the same prefault evicts and maps. */
		atomic_store(&ctx->fe.pin_batch, 2);
		maps = 0;
		is_int(sva_mm_prefault(mm, buf, 6 * P), 0, "once the batch is answered, the same prefault succeeds");
		after = stats_of(mm);
		ok(after.evictions > before.evictions, "  evicting fault-mapped memory (%llu evictions)",
		   (unsigned long long)(after.evictions - before.evictions));
		ok(after.bytes_visible <= 8 * P && after.bytes_prefaulted == 6 * P,
		   "  within the budget: %llu visible, %llu prefaulted", (unsigned long long)after.bytes_visible,
		   (unsigned long long)after.bytes_prefaulted);
		ok(maps >= 1, "  and mapping the range (%d IOMMU_IOAS_MAP)", maps);
		mm_done(mm);
	}

	/* A PROT_NONE range: -EACCES before any room is made. */
	{
		struct sva_mm *mm = fake_mm(ctx, 8 * P);

		faulted(mm, 0x20000000, 4 * P);
		mprotect(buf, 6 * P, PROT_NONE);
		unmaps = 0;
		int ret = sva_mm_prefault(mm, buf, 6 * P);

		ok(ret == -EACCES && unmaps == 0, "prefault of a PROT_NONE range: -EACCES (%d), and no eviction (%d unmaps)",
		   ret, unmaps);
		mprotect(buf, 6 * P, PROT_READ | PROT_WRITE);
		mm_done(mm);
	}
	munmap(buf, 6 * P);
	sva_log_fini(&ctx->log);
	free(ctx);
	return done_testing();
}
