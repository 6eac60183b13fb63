/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * An outside tester's pass over the address-space, memory, bond and fault
 * pages: every promise below was taken from a sentence of sva_mm_new(3),
 * sva_mm_stats(3), sva_mm_iova_ranges(3), sva_mm_fence(3),
 * sva_mm_invalidate(3), sva_mm_prefault(3), sva_mm_allow(3), sva_mm_free(3),
 * sva_mem_alloc(3), sva_mem_free(3), sva_bond_pasid(3), sva_bond_stats(3),
 * sva_dev_bond_lookup(3), sva_dev_inject_fault(3), sva_ctx_fault_health(3),
 * sva_ctx_process_faults(3), sva_ctx_share_memfd(3) and
 * sva_ctx_unshare_memfd(3), and is checked through sva.h alone.  Each check
 * names what it asserts; the errors' "nothing changed" is read back through
 * sva_mm_stats() (bytes_visible) and the calls' own outputs.
 *
 * Runs on the mock (one to two seconds); skips where /dev/iommu or the mock
 * is missing.  As root it also lowers vm.max_map_count for a moment (a
 * refused munmap in sva_mem_free) and puts it back.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>
#include <linux/capability.h>
#include <fcntl.h>
#include <linux/userfaultfd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <sva/sva.h>

#include "../proc_number.h"
#include "../tap.h"
#include "ktest_proc.h"
#include "edu_find.h"
#include "ipc_lock_off.h"

#define PG 4096ul

static struct sva_ctx *ctx;
static struct sva_dev *dev;

static void quiet(void *arg, enum sva_log_level level, const char *msg)
{
	(void)arg;
	(void)level;
	(void)msg;
}

static struct sva_mm_stats mst(const struct sva_mm *mm)
{
	struct sva_mm_stats s = { .size = sizeof(s) };

	if (sva_mm_stats(mm, &s))
		memset(&s, 0xff, sizeof(s));
	return s;
}

static struct sva_mm *new_mm(uint32_t flags)
{
	struct sva_mm_opts o = { .size = sizeof(o), .flags = flags };
	struct sva_mm *mm = NULL;

	if (sva_mm_new(ctx, &o, &mm))
		tap_bail("sva_mm_new(flags %#x) failed", flags);
	return mm;
}

/* Lines on the main context's log, by level (the fault thread may log too). */
static int lines[8];

static void count(void *arg, enum sva_log_level level, const char *msg)
{
	(void)arg;
	(void)msg;
	if ((unsigned)level < 8)
		__atomic_add_fetch(&lines[level], 1, __ATOMIC_SEQ_CST);
}

static int errs(void)
{
	return __atomic_load_n(&lines[SVA_LOG_ERROR], __ATOMIC_SEQ_CST);
}

static int all_lines(void)
{
	int n = 0;

	for (int i = 0; i < 8; i++)
		n += __atomic_load_n(&lines[i], __ATOMIC_SEQ_CST);
	return n;
}

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* ----------------------------------------------------------- sva_mm_new(3) */

static void mm_new_opts(void)
{
	struct sva_mm *sentinel = (struct sva_mm *)(uintptr_t)0x1234, *mm = sentinel;
	struct {
		struct sva_mm_opts o;
		uint64_t extra;
	} big;
	struct sva_mm_opts o;

	is_int(sva_mm_new(NULL, NULL, &mm), -EINVAL, "mm_new: NULL ctx: -EINVAL");
	is_int(sva_mm_new(ctx, NULL, NULL), -EINVAL, "mm_new: NULL out: -EINVAL");

	o = (struct sva_mm_opts){ .size = offsetof(struct sva_mm_opts, pin_budget) - 1 };
	is_int(sva_mm_new(ctx, &o, &mm), -EINVAL, "mm_new: size below the first layout: -EINVAL");
	ok(mm == sentinel, "  *out left untouched");
	o = (struct sva_mm_opts){ .size = offsetof(struct sva_mm_opts, pin_budget) + 4 };
	is_int(sva_mm_new(ctx, &o, &mm), -EINVAL, "mm_new: size between the layouts: -EINVAL");
	memset(&big, 0, sizeof(big));
	big.o.size = sizeof(big);
	big.extra = 1;
	is_int(sva_mm_new(ctx, &big.o, &mm), -EINVAL, "mm_new: larger size, non-zero tail: -EINVAL");
	ok(mm == sentinel, "  *out left untouched");

	o = (struct sva_mm_opts){ .size = sizeof(o), .flags = 1u << 7 };
	is_int(sva_mm_new(ctx, &o, &mm), -EINVAL, "mm_new: unknown flag: -EINVAL");
	o = (struct sva_mm_opts){ .size = sizeof(o), .flags = SVA_MM_UNTRACKED | SVA_MM_TRACK_STRICT };
	is_int(sva_mm_new(ctx, &o, &mm), -EINVAL, "mm_new: UNTRACKED|TRACK_STRICT: -EINVAL");
	static const uint64_t bad_fa[] = { 1, 2048, 3 * 4096, 1ull << 31, 4096 + 4096 * 2 };
	for (size_t i = 0; i < sizeof(bad_fa) / sizeof(bad_fa[0]); i++) {
		o = (struct sva_mm_opts){ .size = sizeof(o), .fault_around = bad_fa[i] };
		is_int(sva_mm_new(ctx, &o, &mm), -EINVAL, "mm_new: fault_around %#llx: -EINVAL",
		       (unsigned long long)bad_fa[i]);
	}
	o = (struct sva_mm_opts){ .size = sizeof(o), .pin_budget = 4095 };
	is_int(sva_mm_new(ctx, &o, &mm), -EINVAL, "mm_new: pin_budget 4095: -EINVAL");
	ok(mm == sentinel, "  *out left untouched by every refusal");

	static const uint64_t good_fa[] = { 4096, 1ull << 30, SVA_FAULT_AROUND_DEFAULT };
	for (size_t i = 0; i < sizeof(good_fa) / sizeof(good_fa[0]); i++) {
		struct sva_mm *m = NULL;

		o = (struct sva_mm_opts){ .size = sizeof(o), .fault_around = good_fa[i] };
		is_int(sva_mm_new(ctx, &o, &m), 0, "mm_new: fault_around %#llx accepted", (unsigned long long)good_fa[i]);
		sva_mm_free(m);
	}

	/* The first layout: accepted, the budget takes its default (what NULL opts give). */
	{
		struct sva_mm *a = NULL, *b = NULL;

		o = (struct sva_mm_opts){ .size = offsetof(struct sva_mm_opts, pin_budget) };
		is_int(sva_mm_new(ctx, &o, &a), 0, "mm_new: the first layout's size: accepted");
		is_int(sva_mm_new(ctx, NULL, &b), 0, "mm_new: NULL opts: accepted");
		if (a && b)
			ok(mst(a).pin_budget == mst(b).pin_budget, "  the first layout's budget is the default (%llu, %llu)",
			   (unsigned long long)mst(a).pin_budget, (unsigned long long)mst(b).pin_budget);
		sva_mm_free(a);
		sva_mm_free(b);
	}
	{
		struct sva_mm *m = NULL;

		memset(&big, 0, sizeof(big));
		big.o.size = sizeof(big);
		is_int(sva_mm_new(ctx, &big.o, &m), 0, "mm_new: a larger size with a zero tail: accepted");
		sva_mm_free(m);
	}
	/* Budgets: rounded down to whole pages; SVA_PIN_UNLIMITED sets none. */
	{
		struct sva_mm *m = NULL;

		o = (struct sva_mm_opts){ .size = sizeof(o), .pin_budget = 3 * PG + 100 };
		is_int(sva_mm_new(ctx, &o, &m), 0, "mm_new: pin_budget 3 pages + 100 bytes: accepted");
		if (m)
			is_int(mst(m).pin_budget, 3 * PG, "  rounded down to whole pages");
		sva_mm_free(m);
		m = NULL;
		o = (struct sva_mm_opts){ .size = sizeof(o), .pin_budget = 4096 };
		is_int(sva_mm_new(ctx, &o, &m), 0, "mm_new: pin_budget 4096: accepted");
		sva_mm_free(m);
		m = NULL;
		o = (struct sva_mm_opts){ .size = sizeof(o), .pin_budget = SVA_PIN_UNLIMITED };
		is_int(sva_mm_new(ctx, &o, &m), 0, "mm_new: SVA_PIN_UNLIMITED: accepted");
		if (m)
			is_int(mst(m).pin_budget, 0, "  stats: pin_budget 0 (unbounded)");
		sva_mm_free(m);
	}
	/* SVA_MM_UNTRACKED: flags without TRACKED, reason -ENOTCONN; the default is tracked. */
	{
		struct sva_mm *u = new_mm(SVA_MM_UNTRACKED), *t = new_mm(0);
		struct sva_mm_stats su = mst(u), st = mst(t);

		ok(!(su.flags & SVA_MM_STAT_TRACKED), "untracked mm: no SVA_MM_STAT_TRACKED");
		is_int(su.untracked_reason, -ENOTCONN, "untracked mm: untracked_reason -ENOTCONN");
		ok(st.flags & SVA_MM_STAT_TRACKED, "default mm: SVA_MM_STAT_TRACKED");
		is_int(st.untracked_reason, 0, "default mm: untracked_reason 0");
		is_int(st.bytes_visible, 0, "a new address space is empty (bytes_visible 0)");
		is_int(sva_mm_fence(u), 0, "fence on an untracked mm: 0 at once");
		is_int(sva_mm_fence(t), 0, "fence on a tracked mm with nothing pending: 0");
		sva_mm_free(u);
		sva_mm_free(t);
	}
	KTEST_QUIET_NOOP(sva_mm_free(NULL), "sva_mm_free(NULL)");
}

/* --------------------------------------------------------- sva_mm_stats(3) */

static void stats_layouts(struct sva_mm *mm)
{
	struct {
		struct sva_mm_stats s;
		uint64_t extra[2];
	} big;
	struct sva_mm_stats s;
	const size_t first = offsetof(struct sva_mm_stats, pin_budget);

	is_int(sva_mm_stats(NULL, &s), -EINVAL, "mm_stats: NULL mm: -EINVAL");
	is_int(sva_mm_stats(mm, NULL), -EINVAL, "mm_stats: NULL stats: -EINVAL");
	memset(&s, 0, sizeof(s));
	s.size = first - 1;
	is_int(sva_mm_stats(mm, &s), -EINVAL, "mm_stats: size below the first layout: -EINVAL");
	s.size = first + 8;
	is_int(sva_mm_stats(mm, &s), -EINVAL, "mm_stats: size between the layouts: -EINVAL");

	memset(&s, 0xa5, sizeof(s));
	s.size = first;
	is_int(sva_mm_stats(mm, &s), 0, "mm_stats: the first layout's size: accepted");
	{
		unsigned char tail[sizeof(s) - offsetof(struct sva_mm_stats, pin_budget)];
		bool untouched = true;

		memcpy(tail, (char *)&s + first, sizeof(tail));
		for (size_t i = 0; i < sizeof(tail); i++)
			untouched &= tail[i] == 0xa5;
		ok(untouched, "  the fields from pin_budget on are left alone");
		ok(s.flags & SVA_MM_STAT_TRACKED, "  the fields before it are filled (flags)");
	}

	memset(&big, 0xa5, sizeof(big));
	big.s.size = sizeof(big);
	is_int(sva_mm_stats(mm, &big.s), 0, "mm_stats: a larger size: accepted");
	ok(big.extra[0] == 0 && big.extra[1] == 0, "  the bytes past the known structure are zero-filled");
	is_int(big.s.size, sizeof(big), "  size is left as the caller set it");
}

/* --------------------------------------------------- sva_mm_iova_ranges(3) */

static void iova_ranges(struct sva_mm *mm)
{
	struct sva_iova_range r[64], one[2];
	size_t nr = 64, n0;
	int ret;

	is_int(sva_mm_iova_ranges(NULL, r, &nr), -EINVAL, "iova_ranges: NULL mm: -EINVAL");
	is_int(sva_mm_iova_ranges(mm, r, NULL), -EINVAL, "iova_ranges: NULL nr: -EINVAL");
	nr = 1;
	is_int(sva_mm_iova_ranges(mm, NULL, &nr), -EINVAL, "iova_ranges: *nr 1 with NULL ranges: -EINVAL");
	nr = 64;
	ret = sva_mm_iova_ranges(mm, r, &nr);
	is_int(ret, 0, "iova_ranges: room for 64: 0");
	ok(nr >= 1 && nr <= 64, "  at least one range (%zu)", nr);
	{
		bool sorted = true;

		for (size_t i = 0; i < nr; i++) {
			sorted &= r[i].start <= r[i].last;
			if (i)
				sorted &= r[i - 1].last < r[i].start;
		}
		ok(sorted, "  ascending, each start <= last");
	}
	n0 = 0;
	ret = sva_mm_iova_ranges(mm, NULL, &n0);
	ok((ret == -ENOSPC && n0 == nr) || (ret == 0 && nr == 0), "iova_ranges: NULL with *nr 0: -ENOSPC and the count (%d, %zu)",
	   ret, n0);
	if (nr >= 2) {
		memset(one, 0xee, sizeof(one));
		n0 = 1;
		is_int(sva_mm_iova_ranges(mm, one, &n0), -ENOSPC, "iova_ranges: room for 1 of %zu: -ENOSPC", nr);
		is_int(n0, nr, "  *nr is the count");
		ok(one[0].start == r[0].start && one[0].last == r[0].last, "  the first range is filled");
		ok(one[1].start == 0xeeeeeeeeeeeeeeeeull, "  nothing past the room given");
	} else {
		diag("one range only: the partial -ENOSPC fill is not exercised here");
	}
}

/* ------------------------------------------- range errors, nothing changed */

static void range_errors(struct sva_mm *mm, char *buf)
{
	const uintptr_t last = UINT64_MAX - PG + 1;
	uint64_t vis;
	void *none;

	is_int(sva_mm_prefault(mm, buf, 4 * PG), 0, "prefault 4 pages");
	vis = mst(mm).bytes_visible;
	ok(vis >= 4 * PG, "  bytes_visible counts them (%llu)", (unsigned long long)vis);

	is_int(sva_mm_prefault(NULL, buf, PG), -EINVAL, "prefault: NULL mm: -EINVAL");
	is_int(sva_mm_prefault(mm, buf, 0), -EINVAL, "prefault: len 0: -EINVAL");
	is_int(sva_mm_prefault(mm, (void *)(uintptr_t)(UINT64_MAX - PG + 1), 2 * PG), -EINVAL,
	       "prefault: wraps: -EINVAL");
	is_int(sva_mm_prefault(mm, (void *)(uintptr_t)(last - PG), 2 * PG), -EINVAL,
	       "prefault: reaches into the last page: -EINVAL");
	none = mmap(NULL, 2 * PG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (none != MAP_FAILED) {
		munmap((char *)none + PG, PG);
		is_int(sva_mm_prefault(mm, none, 2 * PG), -EFAULT, "prefault: part of the range unmapped: -EFAULT");
		mprotect(none, PG, PROT_NONE);
		is_int(sva_mm_prefault(mm, none, PG), -EACCES, "prefault: PROT_NONE: -EACCES");
		munmap(none, PG);
	}
	is_int(mst(mm).bytes_visible, vis, "  the refused prefaults changed nothing (bytes_visible)");

	is_int(sva_mm_invalidate(NULL, buf, PG), -EINVAL, "invalidate: NULL mm: -EINVAL");
	is_int(sva_mm_invalidate(mm, buf, 0), -EINVAL, "invalidate: len 0: -EINVAL");
	is_int(sva_mm_invalidate(mm, (void *)(uintptr_t)(UINT64_MAX - PG + 1), 2 * PG), -EINVAL,
	       "invalidate: wraps: -EINVAL");
	is_int(sva_mm_invalidate(mm, (void *)(uintptr_t)(last - PG), 2 * PG), -EINVAL,
	       "invalidate: reaches into the last page: -EINVAL");
	is_int(sva_mm_invalidate(mm, (void *)(uintptr_t)(last - PG), PG), 0,
	       "invalidate: ending right where the last page starts: accepted (0)");
	is_int(sva_mm_invalidate(mm, (void *)(uintptr_t)(last - PG), PG + 1), -EINVAL,
	       "invalidate: one byte into the last page: -EINVAL");
	ok(sva_mm_prefault(mm, (void *)(uintptr_t)(last - PG), PG) != -EINVAL,
	   "prefault: ending right where the last page starts: not -EINVAL");
	is_int(mst(mm).bytes_visible, vis, "  the refused invalidates withdrew nothing");
	is_int(sva_mm_fence(NULL), -EINVAL, "fence: NULL mm: -EINVAL");

	is_int(sva_mm_invalidate(mm, buf + 64 * PG, PG), 0, "invalidate of what is not visible: 0");
	{
		long n = sva_mm_invalidate(mm, buf + 1, 1);

		ok(n >= (long)PG, "invalidate of one byte of a visible page: the whole chunk withdrawn (%ld)", n);
		is_int(mst(mm).bytes_visible, vis - (uint64_t)(n > 0 ? n : 0), "  bytes_visible drops by the count");
	}
	is_int(sva_mm_allow(mm, buf, PG), -EINVAL, "allow on a mm without SVA_MM_RESTRICTED: -EINVAL");
	is_int(sva_mm_deny(mm, buf, PG), -EINVAL, "deny on a mm without SVA_MM_RESTRICTED: -EINVAL");
}

/* --------------------------------------------------- restricted mm, allow */

static void restricted(char *buf)
{
	struct sva_mm *rm = new_mm(SVA_MM_RESTRICTED);

	is_int(sva_mm_prefault(rm, buf, PG), -EACCES, "restricted: prefault of a range not allowed: -EACCES");
	is_int(sva_mm_allow(rm, buf, 2 * PG), 0, "allow pages 0..1");
	is_int(sva_mm_allow(rm, buf + 2 * PG, 2 * PG), 0, "allow pages 2..3 (touching: they merge)");
	is_int(sva_mm_prefault(rm, buf, 4 * PG), 0, "  a prefault across the two allowances: 0");
	is_int(sva_mm_prefault(rm, buf, 5 * PG), -EACCES, "  one page past them: -EACCES");
	is_int(mst(rm).bytes_visible, 4 * PG, "  the refusal made nothing more visible");
	is_int(sva_mm_allow(rm, (void *)(uintptr_t)(UINT64_MAX - 2 * PG + 1), 2 * PG), -EINVAL,
	       "allow reaching into the last page: -EINVAL");
	is_int(sva_mm_deny(rm, buf + PG, PG), 0, "deny page 1");
	is_int(mst(rm).bytes_visible < 4 * PG, 1, "  it is withdrawn (whole chunks)");
	is_int(mst(rm).bytes_prefaulted, mst(rm).bytes_visible, "  and leaves bytes_prefaulted with it");
	is_int(sva_mm_prefault(rm, buf, 2 * PG), -EACCES, "  a prefault over it: -EACCES");
	is_int(sva_mm_prefault(rm, buf + 2 * PG, 2 * PG), 0, "  pages 2..3 still allowed");
	is_int(sva_mm_deny(rm, buf + 64 * PG, PG), 0, "deny what is not allowed: 0");
	sva_mm_free(rm);
}

/* ------------------------------------------------ sva_mem_alloc/free(3) */

static void mem(struct sva_mm *mm)
{
	struct sva_mem_opts o;
	void *sentinel = (void *)(uintptr_t)0x5678, *p = sentinel;
	struct {
		struct sva_mem_opts o;
		uint64_t extra;
	} big;
	struct sva_ctx *other = NULL;
	struct sva_mm *omm = NULL;

	is_int(sva_mem_alloc(0, NULL, &p), -EINVAL, "mem_alloc: len 0: -EINVAL");
	is_int(sva_mem_alloc(PG, NULL, NULL), -EINVAL, "mem_alloc: NULL out: -EINVAL");
	o = (struct sva_mem_opts){ .size = sizeof(o) - 1 };
	is_int(sva_mem_alloc(PG, &o, &p), -EINVAL, "mem_alloc: size smaller than the structure: -EINVAL");
	memset(&big, 0, sizeof(big));
	big.o.size = sizeof(big);
	big.extra = 1;
	is_int(sva_mem_alloc(PG, &big.o, &p), -EINVAL, "mem_alloc: larger size, non-zero tail: -EINVAL");
	o = (struct sva_mem_opts){ .size = sizeof(o), .flags = 1u << 9 };
	is_int(sva_mem_alloc(PG, &o, &p), -EINVAL, "mem_alloc: unknown flag: -EINVAL");
	o = (struct sva_mem_opts){ .size = sizeof(o), .flags = SVA_MEM_NODE | SVA_MEM_ANY_NODE };
	is_int(sva_mem_alloc(PG, &o, &p), -EINVAL, "mem_alloc: NODE|ANY_NODE: -EINVAL");
	o = (struct sva_mem_opts){ .size = sizeof(o), .flags = SVA_MEM_NODE, .numa_node = -1 };
	is_int(sva_mem_alloc(PG, &o, &p), -EINVAL, "mem_alloc: SVA_MEM_NODE with node -1: -EINVAL");
	o = (struct sva_mem_opts){ .size = sizeof(o), .flags = SVA_MEM_PREFAULT };
	is_int(sva_mem_alloc(PG, &o, &p), -EINVAL, "mem_alloc: PREFAULT without mm: -EINVAL");
	if (sva_ctx_new(NULL, &other) == 0 && sva_mm_new(other, NULL, &omm) == 0) {
		sva_ctx_set_log(other, quiet, NULL, SVA_LOG_ERROR);
		o = (struct sva_mem_opts){ .size = sizeof(o), .dev = dev, .mm = omm };
		is_int(sva_mem_alloc(PG, &o, &p), -EINVAL, "mem_alloc: dev and mm of different contexts: -EINVAL");
	}
	o = (struct sva_mem_opts){ .size = sizeof(o), .flags = SVA_MEM_NODE, .numa_node = 4000 };
	is_int(sva_mem_alloc(PG, &o, &p), -ENODEV, "mem_alloc: a node that does not exist: -ENODEV");
	o = (struct sva_mem_opts){ .size = sizeof(o), .mm = mm };
	is_int(sva_mem_alloc(1ull << 62, &o, &p), -ENOSPC, "mem_alloc: larger than any window can be: -ENOSPC");
	ok(p == sentinel, "  *out left as it was by every failure");

	/* Success: inside the window, zeroed, freed with either length. */
	{
		struct sva_iova_range r[64];
		size_t nr = 64;
		void *a = NULL;
		bool inside = false;

		o = (struct sva_mem_opts){ .size = sizeof(o), .mm = mm, .flags = SVA_MEM_PREFAULT };
		is_int(sva_mem_alloc(100, &o, &a), 0, "mem_alloc: 100 bytes, prefaulted in mm");
		if (a && sva_mm_iova_ranges(mm, r, &nr) == 0)
			for (size_t i = 0; i < nr; i++)
				inside |= (uint64_t)(uintptr_t)a >= r[i].start &&
					  (uint64_t)(uintptr_t)a + PG - 1 <= r[i].last;
		ok(inside, "  inside the mm's IOVA ranges (%p)", a);
		ok(a && ((uintptr_t)a & (PG - 1)) == 0 && ((char *)a)[0] == 0 && ((char *)a)[PG - 1] == 0,
		   "  page-aligned, zeroed, the whole rounded page usable");
		ok(mst(mm).bytes_prefaulted >= PG, "  SVA_MEM_PREFAULT: visible as prefaulted memory");
		is_int(sva_mem_free(mm, a, 0), -EINVAL, "mem_free: len 0: -EINVAL");
		is_int(sva_mem_free(mm, NULL, PG), -EINVAL, "mem_free: NULL addr: -EINVAL");
		{
			int e = errs();

			is_int(sva_mem_free(mm, a, 2 * PG), -EINVAL,
			       "mem_free: a length neither asked for nor rounded: -EINVAL");
			is_int(errs() - e, 1, "  one line at error level, on mm's context's log");
		}
		is_int(sva_mem_free(mm, (char *)a + PG, PG), -EINVAL, "mem_free: an address not returned by mem_alloc: -EINVAL");
		ok(((volatile char *)a)[0] == 0, "  still mapped after the refusals");
		is_int(sva_mem_free(mm, a, PG), 0, "mem_free: the rounded length: 0");
		is_int(sva_mem_free(mm, a, PG), -EINVAL, "mem_free: a double free: -EINVAL");
		a = NULL;
		o = (struct sva_mem_opts){ .size = sizeof(o), .flags = SVA_MEM_HUGE | SVA_MEM_ANY_NODE };
		is_int(sva_mem_alloc(100, &o, &a), 0, "mem_alloc: 100 bytes, SVA_MEM_HUGE");
		ok(a && ((uintptr_t)a & ((2u << 20) - 1)) == 0, "  2 MiB aligned (%p)", a);
		is_int(sva_mem_free(NULL, a, PG), -EINVAL, "  mem_free with the page-rounded length: -EINVAL (rounded is 2 MiB)");
		is_int(sva_mem_free(NULL, a, 2u << 20), 0, "  mem_free with 2 MiB: 0");
		a = NULL;
		is_int(sva_mem_alloc(100, NULL, &a), 0, "mem_alloc: NULL opts: 0");
		is_int(sva_mem_free(NULL, a, 200), -EINVAL, "mem_free: a length between the asked and the rounded: -EINVAL");
		is_int(sva_mem_free(NULL, a, 100), 0, "mem_free: the length asked for: 0");
	}
	sva_mm_free(omm);
	sva_ctx_free(other);
}

/* ---------------------------------------------- bonds, lookup, injection */

static int fe_count, fe_reason, fe_process;
static uint32_t fe_pasid;
static void on_fault_error(struct sva_bond *bond, const struct sva_fault_report *r, void *drvdata)
{
	(void)bond;
	(void)drvdata;
	__atomic_store_n(&fe_reason, r->reason, __ATOMIC_SEQ_CST);
	__atomic_store_n(&fe_pasid, r->pasid, __ATOMIC_SEQ_CST);
	__atomic_store_n(&fe_process, sva_ctx_process_faults(ctx, 1), __ATOMIC_SEQ_CST);
	__atomic_add_fetch(&fe_count, 1, __ATOMIC_SEQ_CST);
}

static struct sva_bond_stats bst(struct sva_bond *b)
{
	struct sva_bond_stats s = { .size = sizeof(s) };

	sva_bond_stats(b, &s);
	return s;
}

static int wait_faults(struct sva_bond *b, uint64_t want)
{
	uint64_t end = now_ms() + 5000;

	while (now_ms() < end) {
		if (bst(b).faults >= want)
			return 0;
		usleep(500);
	}
	return -ETIMEDOUT;
}

static void bonds(struct sva_mm *mm, char *buf)
{
	static const struct sva_bond_ops ops = { .size = sizeof(ops), .fault_error = on_fault_error };
	int drv = 42;
	struct sva_bind_opts bo = { .size = sizeof(bo), .drvdata = &drv, .ops = &ops };
	struct sva_bond *b = NULL, *found = (struct sva_bond *)(uintptr_t)1;
	void *dd = (void *)(uintptr_t)1;
	uint32_t pasid, unbound = 0;

	is_int(sva_bond_pasid(NULL), SVA_PASID_RID, "bond_pasid(NULL): SVA_PASID_RID");
	ok(sva_bond_drvdata(NULL) == NULL, "bond_drvdata(NULL): NULL");
	is_int(sva_dev_bond_lookup(NULL, 1, &found, &dd), -EINVAL, "bond_lookup: NULL dev: -EINVAL");
	is_int(sva_dev_bond_lookup(dev, SVA_PASID_RID, &found, &dd), -ENOENT, "bond_lookup: no RID bond: -ENOENT");
	is_int(sva_dev_bond_lookup(dev, 0, &found, &dd), -ERANGE, "bond_lookup: PASID 0: -ERANGE");
	is_int(sva_dev_bond_lookup(dev, SVA_PASID_MAX + 1, &found, &dd), -ERANGE,
	       "bond_lookup: beyond SVA_PASID_MAX: -ERANGE");
	ok(found == (struct sva_bond *)(uintptr_t)1 && dd == (void *)(uintptr_t)1, "  the outputs untouched by misses");
	is_int(sva_ctx_fault_health(ctx), 0, "fault_health before any fault-capable bind: 0");

	if (sva_bind(dev, mm, &bo, &b)) {
		ok(0, "sva_bind of the mock");
		return;
	}
	pasid = sva_bond_pasid(b);
	ok(pasid != SVA_PASID_RID && pasid != 0, "bond_pasid: a PASID (%u)", pasid);
	ok(sva_bond_drvdata(b) == &drv, "bond_drvdata: the drvdata of the bind");
	is_int(sva_dev_bond_lookup(dev, pasid, &found, &dd), 0, "bond_lookup: the bond's PASID: 0");
	ok(found == b && dd == &drv, "  the bond and its drvdata");
	is_int(sva_dev_bond_lookup(dev, pasid, NULL, NULL), 0, "bond_lookup: both outputs NULL: 0");
	if (sva_dev_pasid_alloc(dev, SVA_PASID_AUTO, NULL, &unbound) == 0) {
		is_int(sva_dev_bond_lookup(dev, unbound, &found, &dd), -ENOENT,
		       "bond_lookup: allocated, not bound: -ENOENT");
		sva_dev_pasid_free(dev, unbound);
	}

	{
		struct sva_bond_stats s;
		struct {
			struct sva_bond_stats s;
			uint64_t extra;
		} big;

		is_int(sva_bond_stats(NULL, &s), -EINVAL, "bond_stats: NULL bond: -EINVAL");
		is_int(sva_bond_stats(b, NULL), -EINVAL, "bond_stats: NULL stats: -EINVAL");
		s.size = sizeof(s) - 1;
		is_int(sva_bond_stats(b, &s), -EINVAL, "bond_stats: size too small: -EINVAL");
		memset(&big, 0xa5, sizeof(big));
		big.s.size = sizeof(big);
		is_int(sva_bond_stats(b, &big.s), 0, "bond_stats: a larger size: 0");
		ok(big.extra == 0, "  the bytes past it are zeroed");
		ok(big.s.faults == 0 && big.s.groups == 0 && big.s.invalid == 0 && big.s.pages_mapped == 0,
		   "  a new bond's counters are 0");
	}

	is_int(sva_dev_inject_fault(NULL, pasid, (uintptr_t)buf, SVA_ACCESS_READ, 0), -EINVAL,
	       "inject: NULL dev: -EINVAL");
	is_int(sva_dev_inject_fault(dev, pasid, (uintptr_t)buf, 0, 0), -EINVAL, "inject: perm 0: -EINVAL");
	is_int(sva_dev_inject_fault(dev, pasid, (uintptr_t)buf, 1u << 4, 0), -EINVAL, "inject: unknown perm bit: -EINVAL");
	is_int(bst(b).faults, 0, "  the refused injections raised nothing");

	/* A fault on memory the process has: resolved, counted once, one group. */
	{
		struct sva_mm_stats m0 = mst(mm);
		struct sva_bond_stats s;

		is_int(sva_dev_inject_fault(dev, pasid, (uintptr_t)buf + 40 * PG, SVA_ACCESS_READ | SVA_ACCESS_WRITE, 3), 0,
		       "inject a write fault on mapped memory: 0");
		is_int(wait_faults(b, 1), 0, "  the engine handles it");
		s = bst(b);
		ok(s.faults == 1 && s.groups == 1 && s.invalid == 0 && s.pages_mapped >= 1,
		   "  faults 1, groups 1, invalid 0, pages_mapped %llu", (unsigned long long)s.pages_mapped);
		is_int(mst(mm).bytes_visible, m0.bytes_visible + s.pages_mapped * PG,
		       "  bytes_visible grows by pages_mapped");
	}
	/* A fault where nothing is mapped: INVALID, counted, reported. */
	{
		void *hole = mmap(NULL, PG, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		struct sva_bond_stats s;

		munmap(hole, PG);
		is_int(sva_dev_inject_fault(dev, pasid, (uintptr_t)hole, SVA_ACCESS_READ, 4), 0,
		       "inject a fault on unmapped memory: 0");
		is_int(wait_faults(b, 2), 0, "  the engine handles it");
		s = bst(b);
		ok(s.faults == 2 && s.groups == 2 && s.invalid == 1, "  faults 2, groups 2, invalid 1");
		is_int(__atomic_load_n(&fe_count, __ATOMIC_SEQ_CST), 1, "  fault_error called once");
		is_int(__atomic_load_n(&fe_reason, __ATOMIC_SEQ_CST), -EFAULT, "  its reason: -EFAULT (nothing mapped)");
		is_int(__atomic_load_n(&fe_pasid, __ATOMIC_SEQ_CST), pasid, "  its pasid: the bond's");
		is_int(__atomic_load_n(&fe_process, __ATOMIC_SEQ_CST), -EDEADLK,
		       "  process_faults inside fault_error, thread mode: -EDEADLK (before -EINVAL)");
	}
	/* A page visible read-only, made writable by a write fault once its
	 * mapping is: counted again; a fault on what is visible maps nothing. */
	{
		struct sva_bond_stats a, c;
		uint64_t n = bst(b).faults;
		char *pg = buf + 100 * PG;

		/* Visible read-only first (sva_bind(3): the mapping's rights). */
		mprotect(pg, PG, PROT_READ);
		sva_dev_inject_fault(dev, pasid, (uintptr_t)pg, SVA_ACCESS_READ, 5);
		wait_faults(b, n + 1);
		a = bst(b);
		ok(a.pages_mapped > 0, "a read fault maps pages");
		sva_dev_inject_fault(dev, pasid, (uintptr_t)pg, SVA_ACCESS_READ, 6);
		wait_faults(b, n + 2);
		c = bst(b);
		is_int(c.pages_mapped, a.pages_mapped, "  a second read fault on the same page maps nothing more");
		mprotect(pg, PG, PROT_READ | PROT_WRITE);
		sva_dev_inject_fault(dev, pasid, (uintptr_t)pg, SVA_ACCESS_READ | SVA_ACCESS_WRITE, 7);
		wait_faults(b, n + 3);
		ok(bst(b).pages_mapped > c.pages_mapped, "  a write fault once the mapping is writable: counted again");
	}
	/* Now bound to the mock: its window is [16 MiB, 2 GiB). */
	{
		struct sva_mem_opts o = { .size = sizeof(o), .mm = mm };
		void *p = NULL;

		int e = errs();

		is_int(sva_mem_alloc(4ull << 30, &o, &p), -ENOSPC, "mem_alloc: 4 GiB in the bound mock's 2 GiB window: -ENOSPC");
		is_int(errs() - e, 0, "  a full window is logged at debug level only");
		ok(p == NULL, "  *out left as it was");
		o.dev = dev;
		is_int(sva_mem_alloc(PG, &o, &p), 0, "mem_alloc with dev and mm of one context: 0");
		ok(p && (uintptr_t)p >= (16u << 20) && (uintptr_t)p + PG <= (2ull << 30), "  inside the mock's window (%p)", p);
		if (p)
			sva_mem_free(mm, p, PG);
		iova_ranges(mm);
	}
	is_int(sva_dev_inject_fault(dev, SVA_PASID_MAX, (uintptr_t)buf, SVA_ACCESS_READ, 0), 0,
	       "inject under a PASID nothing is attached to: 0 (dropped)");
	is_int(sva_ctx_fault_health(ctx), 0, "fault_health while the thread runs: 0");
	is_int(sva_ctx_fault_health(NULL), -EINVAL, "fault_health(NULL): -EINVAL");
	is_int(sva_ctx_process_faults(ctx, 16), -EINVAL, "process_faults in thread mode: -EINVAL");
	is_int(sva_ctx_process_faults(NULL, 16), -EINVAL, "process_faults(NULL): -EINVAL");

	sva_unbind(b);
	is_int(sva_dev_bond_lookup(dev, pasid, &found, &dd), -ENOENT, "bond_lookup after the unbind: -ENOENT");
}

/* ------------------------------------------------- private and restricted */

static void fault_reasons(char *buf)
{
	static const struct sva_bond_ops ops = { .size = sizeof(ops), .fault_error = on_fault_error };
	struct sva_bind_opts bo = { .size = sizeof(bo), .ops = &ops };
	static const uint32_t flags[] = { SVA_MM_PRIVATE, SVA_MM_RESTRICTED, SVA_MM_PRIVATE | SVA_MM_RESTRICTED };
	static const int want[] = { -ENOENT, -ENXIO, -ENOENT };

	for (int i = 0; i < 3; i++) {
		struct sva_mm *m = new_mm(flags[i]);
		struct sva_bond *b = NULL;
		int before = __atomic_load_n(&fe_count, __ATOMIC_SEQ_CST);

		if (sva_bind(dev, m, &bo, &b)) {
			ok(0, "bind to the flags %#x mm", flags[i]);
			sva_mm_free(m);
			continue;
		}
		if (flags[i] & SVA_MM_RESTRICTED)
			sva_mm_allow(m, buf + 8 * PG, 8 * PG);
		/* Private: a page inside the allowed range, not prefaulted (-ENOENT,
		 * allowed or not); restricted alone: a page outside it. */
		sva_dev_inject_fault(dev, sva_bond_pasid(b),
				     (uintptr_t)buf + (flags[i] == SVA_MM_RESTRICTED ? 40 : 8) * PG, SVA_ACCESS_READ, 1);
		wait_faults(b, 1);
		ok(__atomic_load_n(&fe_count, __ATOMIC_SEQ_CST) == before + 1 &&
		   __atomic_load_n(&fe_reason, __ATOMIC_SEQ_CST) == want[i],
		   "mm flags %#x: a fault %s is INVALID with %d (got %d)", flags[i],
		   flags[i] == SVA_MM_RESTRICTED ? "outside the allowed range" : "on a page not prefaulted", want[i],
		   __atomic_load_n(&fe_reason, __ATOMIC_SEQ_CST));
		is_int(bst(b).invalid, 1, "  counted in invalid");
		is_int(mst(m).bytes_visible, 0, "  nothing made visible");
		if (flags[i] & SVA_MM_PRIVATE) {
			struct sva_bond_stats a;

			is_int(sva_mm_prefault(m, buf + 8 * PG, PG), 0, "  prefault a page of it");
			sva_dev_inject_fault(dev, sva_bond_pasid(b), (uintptr_t)buf + 8 * PG, SVA_ACCESS_READ, 2);
			wait_faults(b, 2);
			a = bst(b);
			ok(a.invalid == 1 && a.pages_mapped == 0, "  a fault on the prefaulted page succeeds, mapping nothing");
		}
		sva_unbind(b);
		sva_mm_free(m);
	}
}

/* A budget: a prefault that does not fit is -ENOSPC and counts nowhere. */
static void budget(char *buf)
{
	struct sva_mm_opts o = { .size = sizeof(o), .pin_budget = 4 * PG };
	struct sva_mm *m = NULL;
	struct sva_mm_stats s;

	if (sva_mm_new(ctx, &o, &m)) {
		ok(0, "mm_new with a 4-page budget");
		return;
	}
	is_int(sva_mm_prefault(m, buf, 8 * PG), -ENOSPC, "budget 4 pages: a prefault of 8: -ENOSPC");
	s = mst(m);
	ok(s.bytes_visible == 0 && s.bytes_pinned_peak == 0 && s.bytes_prefaulted == 0,
	   "  nothing visible, peak 0, prefaulted 0 (%llu, %llu, %llu)", (unsigned long long)s.bytes_visible,
	   (unsigned long long)s.bytes_pinned_peak, (unsigned long long)s.bytes_prefaulted);
	is_int(sva_mm_prefault(m, buf, 4 * PG), 0, "  a prefault of 4: 0");
	s = mst(m);
	ok(s.bytes_visible == 4 * PG && s.bytes_prefaulted == 4 * PG && s.bytes_pinned_peak == 4 * PG,
	   "  visible, prefaulted and peak: 4 pages");
	is_int(sva_mm_prefault(m, buf + 4 * PG, PG), -ENOSPC, "  one more page: -ENOSPC");
	ok(sva_mm_invalidate(m, buf, 4 * PG) >= (long)(4 * PG), "  invalidate them");
	s = mst(m);
	ok(s.bytes_visible == 0 && s.bytes_prefaulted == 0 && s.bytes_pinned_peak == 4 * PG,
	   "  visible and prefaulted back to 0, the peak stays");
	ok(s.bytes_withdrawn == 0, "  bytes_withdrawn does not count sva_mm_invalidate");
	sva_mm_free(m);
}

/* Faults under a budget of 8 pages: windows of at most a quarter of it,
 * never more than the budget visible, eviction to make room. */
static void budget_faults(char *buf)
{
	struct sva_mm_opts o = { .size = sizeof(o), .pin_budget = 8 * PG };
	struct sva_bind_opts bo = { .size = sizeof(bo) };
	struct sva_mm *m = NULL;
	struct sva_bond *b = NULL;
	uint64_t worst = 0, prev = 0;
	struct sva_mm_stats s;

	if (sva_mm_new(ctx, &o, &m) || sva_bind(dev, m, &bo, &b)) {
		ok(0, "an 8-page budget with a fault-capable bond");
		sva_mm_free(m);
		return;
	}
	for (int i = 0; i < 12; i++) {
		uint64_t pm;

		sva_dev_inject_fault(dev, sva_bond_pasid(b), (uintptr_t)buf + (uint64_t)(i * 9 % 120) * PG,
				     SVA_ACCESS_READ | SVA_ACCESS_WRITE, 1);
		wait_faults(b, (uint64_t)i + 1);
		pm = bst(b).pages_mapped;
		if (pm - prev > worst)
			worst = pm - prev;
		prev = pm;
	}
	s = mst(m);
	is_int(bst(b).invalid, 0, "budget 8 pages: 12 scattered faults all resolve");
	ok(worst >= 1 && worst <= 2, "  each window at most a quarter of the budget (largest %llu pages)",
	   (unsigned long long)worst);
	ok(s.bytes_pinned_peak <= 8 * PG && s.bytes_visible <= 8 * PG, "  peak %llu and visible %llu within the budget",
	   (unsigned long long)s.bytes_pinned_peak, (unsigned long long)s.bytes_visible);
	ok(s.evictions > 0 && s.bytes_evicted >= s.evictions * PG, "  evictions made room (%llu chunks, %llu bytes)",
	   (unsigned long long)s.evictions, (unsigned long long)s.bytes_evicted);
	is_int(s.bytes_withdrawn, 0, "  bytes_withdrawn does not count evictions");
	sva_unbind(b);
	sva_mm_free(m);
}

/* ------------------------------------------ chunks: what one map made */

/*
 * sva_mm_invalidate(3), "Whole chunks": a chunk is "a run of pages that were
 * not visible yet, within one mapping of the process, in one call"; "To
 * withdraw buffers one at a time, make each visible in its own
 * sva_mm_prefault(3) call"; the count "can be more than len".
 */
static void chunks(char *buf)
{
	struct sva_mm *m = new_mm(0);
	char *p;

	is_int(sva_mm_prefault(m, buf, 4 * PG), 0, "chunks: prefault pages 0..3");
	is_int(sva_mm_prefault(m, buf + 4 * PG, 4 * PG), 0, "chunks: prefault pages 4..7 in a call of their own");
	is_int(sva_mm_invalidate(m, buf, 4 * PG), 4 * PG, "  invalidate pages 0..3: exactly their 4 pages, not the neighbour");
	is_int(mst(m).bytes_visible, 4 * PG, "  pages 4..7 stay visible");
	is_int(sva_mm_prefault(m, buf, 4 * PG), 0, "  pages 0..3 again, in their own call");
	is_int(sva_mm_invalidate(m, buf + 3 * PG, 2 * PG), 8 * PG,
	       "  invalidate 2 pages across both chunks: both whole, 8 pages (more than len)");
	is_int(mst(m).bytes_visible, 0, "  nothing visible");

	/* Parts already visible are left as they are: one call maps the runs around them. */
	is_int(sva_mm_prefault(m, buf + 2 * PG, 2 * PG), 0, "chunks: prefault pages 2..3");
	is_int(sva_mm_prefault(m, buf, 8 * PG), 0, "  then pages 0..7: maps the runs 0..1 and 4..7");
	is_int(mst(m).bytes_visible, 8 * PG, "  8 pages visible");
	is_int(sva_mm_invalidate(m, buf, 1), 2 * PG, "  invalidate page 0: the run 0..1 only");
	is_int(sva_mm_invalidate(m, buf + 2 * PG + 5, 1), 2 * PG, "  invalidate a byte of page 2: the earlier chunk 2..3");
	is_int(sva_mm_invalidate(m, buf + 7 * PG, PG), 4 * PG, "  invalidate page 7: the run 4..7");
	is_int(sva_mm_invalidate(m, buf, 8 * PG), 0, "  then nothing is left: 0");

	/* Within one mapping: a range over two mappings is two chunks. */
	p = mmap((void *)(uintptr_t)0x5a000000ul, 8 * PG, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
	if (p != MAP_FAILED) {
		memset(p, 3, 8 * PG);
		mprotect(p + 4 * PG, 4 * PG, PROT_READ);
		is_int(sva_mm_prefault(m, p, 8 * PG), 0, "chunks: one prefault over a read-write and a read-only mapping");
		is_int(sva_mm_invalidate(m, p, 1), 4 * PG, "  invalidate a byte of the first: its mapping's 4 pages only");
		is_int(mst(m).bytes_visible, 4 * PG, "  the read-only mapping's chunk stays");
		munmap(p, 8 * PG);
		sva_mm_fence(m);
		is_int(mst(m).bytes_visible, 0, "  munmap of both (tracked): nothing left");
	} else {
		ok(0, "mmap for the two-mapping chunk check");
	}
	sva_mm_free(m);
}

/* ------------------------------------ allowed ranges: merge, split, faults */

/*
 * sva_mm_allow(3): "Ranges that touch or overlap merge"; sva_mm_deny() "takes
 * [addr, addr + len) out of the allowed ranges" (so a deny inside one splits
 * it); after a deny "a fault there is answered INVALID with the reason
 * -ENXIO, until it is allowed again".
 */
static void allow_ranges(char *buf)
{
	static const struct sva_bond_ops ops = { .size = sizeof(ops), .fault_error = on_fault_error };
	struct sva_bind_opts bo = { .size = sizeof(bo), .ops = &ops };
	struct sva_mm *rm = new_mm(SVA_MM_RESTRICTED);
	struct sva_bond *b = NULL;
	struct sva_bond_stats a;
	int before;

	is_int(sva_mm_allow(rm, buf, 4 * PG), 0, "allow: pages 0..3");
	is_int(sva_mm_allow(rm, buf + 2 * PG, 4 * PG), 0, "allow: pages 2..5 (overlapping)");
	is_int(sva_mm_prefault(rm, buf, 6 * PG), 0, "  a prefault of 0..5: 0 (one allowed range)");
	is_int(sva_mm_deny(rm, buf + 2 * PG, PG), 0, "deny: page 2, inside the range");
	is_int(mst(rm).bytes_visible, 0, "  the chunk over it is withdrawn whole");
	is_int(sva_mm_prefault(rm, buf, 2 * PG), 0, "  pages 0..1 still allowed");
	is_int(sva_mm_prefault(rm, buf + 3 * PG, 3 * PG), 0, "  pages 3..5 still allowed");
	is_int(sva_mm_prefault(rm, buf + PG, 2 * PG), -EACCES, "  pages 1..2: -EACCES (page 2 denied)");
	is_int(sva_mm_prefault(rm, buf + 2 * PG, PG), -EACCES, "  page 2: -EACCES");
	is_int(sva_mm_prefault(rm, buf + 5 * PG, 2 * PG), -EACCES, "  pages 5..6: -EACCES (6 never allowed)");
	is_int(sva_mm_allow(rm, buf + 2 * PG, PG), 0, "allow: page 2 again");
	is_int(sva_mm_prefault(rm, buf, 6 * PG), 0, "  a prefault of 0..5: 0 again");
	is_int(mst(rm).bytes_visible, 6 * PG, "  6 pages visible");
	is_int(sva_mm_deny(rm, buf + 4 * PG, 8 * PG), 0, "deny: pages 4..11, partly allowed: 0");
	is_int(sva_mm_prefault(rm, buf + 4 * PG, PG), -EACCES, "  page 4: -EACCES");
	is_int(sva_mm_prefault(rm, buf + 3 * PG, PG), 0, "  page 3 still allowed");
	sva_mm_invalidate(rm, buf, 8 * PG);

	if (sva_bind(dev, rm, &bo, &b)) {
		ok(0, "bind to the restricted mm");
		sva_mm_free(rm);
		return;
	}
	is_int(sva_mm_allow(rm, buf + 64 * PG, 8 * PG), 0, "allow: pages 64..71, bound");
	sva_dev_inject_fault(dev, sva_bond_pasid(b), (uintptr_t)buf + 64 * PG, SVA_ACCESS_READ, 1);
	wait_faults(b, 1);
	a = bst(b);
	ok(a.invalid == 0 && a.pages_mapped >= 1 && a.pages_mapped <= 8,
	   "  a fault there resolves, its window inside the 8 allowed pages (%llu invalid, %llu pages)",
	   (unsigned long long)a.invalid, (unsigned long long)a.pages_mapped);
	is_int(sva_mm_deny(rm, buf + 64 * PG, 8 * PG), 0, "deny: pages 64..71");
	is_int(mst(rm).bytes_visible, 0, "  what the fault mapped is withdrawn");
	before = __atomic_load_n(&fe_count, __ATOMIC_SEQ_CST);
	sva_dev_inject_fault(dev, sva_bond_pasid(b), (uintptr_t)buf + 64 * PG, SVA_ACCESS_READ, 2);
	wait_faults(b, 2);
	ok(bst(b).invalid == 1 && __atomic_load_n(&fe_count, __ATOMIC_SEQ_CST) == before + 1 &&
	   __atomic_load_n(&fe_reason, __ATOMIC_SEQ_CST) == -ENXIO,
	   "  a fault there now: INVALID with -ENXIO (%d)", __atomic_load_n(&fe_reason, __ATOMIC_SEQ_CST));
	is_int(mst(rm).bytes_visible, 0, "  nothing mapped");
	is_int(sva_mm_allow(rm, buf + 64 * PG, 8 * PG), 0, "allow: pages 64..71 again");
	sva_dev_inject_fault(dev, sva_bond_pasid(b), (uintptr_t)buf + 64 * PG, SVA_ACCESS_READ, 3);
	wait_faults(b, 3);
	ok(bst(b).invalid == 1 && mst(rm).bytes_visible >= PG, "  a fault there resolves again");
	sva_unbind(b);
	sva_mm_free(rm);
}

/* ---------------------------------- the budget: prefault evicts, faults */

/*
 * sva_mm_new(3), "Pin budget", and sva_mm_prefault(3): "Memory that faults
 * made visible is evicted to make room for a prefault; a range that does not
 * fit beside what is prefaulted already fails with -ENOSPC, and nothing is
 * changed (no eviction either)"; prefaulted memory is never evicted; "Only
 * when not even the faulting page fits is the fault answered INVALID with
 * -ENOMEM"; refaults count "Faults on memory evicted before".
 */
static void budget_prefault(char *buf)
{
	static const struct sva_bond_ops ops = { .size = sizeof(ops), .fault_error = on_fault_error };
	struct sva_mm_opts o = { .size = sizeof(o), .pin_budget = 16 * PG };
	struct sva_bind_opts bo = { .size = sizeof(bo), .ops = &ops };
	static const int at[] = { 0, 40, 80 };
	struct sva_mm *m = NULL;
	struct sva_bond *b = NULL;
	struct sva_mm_stats s0, s1;
	uint64_t nf = 0, r0;
	int before;

	if (sva_mm_new(ctx, &o, &m) || sva_bind(dev, m, &bo, &b)) {
		ok(0, "a 16-page budget with a fault-capable bond");
		sva_mm_free(m);
		return;
	}
	for (int i = 0; i < 3; i++) {
		sva_dev_inject_fault(dev, sva_bond_pasid(b), (uintptr_t)buf + (uint64_t)at[i] * PG,
				     SVA_ACCESS_READ | SVA_ACCESS_WRITE, 1);
		wait_faults(b, ++nf);
	}
	s0 = mst(m);
	ok(bst(b).invalid == 0 && s0.bytes_visible > 4 * PG && s0.bytes_prefaulted == 0,
	   "budget 16 pages: 3 faults map %llu bytes, none prefaulted", (unsigned long long)s0.bytes_visible);
	is_int(sva_mm_prefault(m, buf + 100 * PG, 12 * PG), 0, "  a prefault of 12 pages: 0, room made by eviction");
	s1 = mst(m);
	ok(s1.evictions > s0.evictions && s1.bytes_prefaulted == 12 * PG && s1.bytes_visible <= 16 * PG,
	   "  evicted fault-mapped chunks (%llu), 12 pages prefaulted, %llu bytes visible",
	   (unsigned long long)(s1.evictions - s0.evictions), (unsigned long long)s1.bytes_visible);
	s0 = s1;
	is_int(sva_mm_prefault(m, buf + 60 * PG, 8 * PG), -ENOSPC, "  8 more pages beside 12 prefaulted: -ENOSPC");
	s1 = mst(m);
	ok(s1.evictions == s0.evictions && s1.bytes_visible == s0.bytes_visible &&
	   s1.bytes_prefaulted == s0.bytes_prefaulted,
	   "  nothing changed, no eviction either (evictions %llu -> %llu, visible %llu -> %llu)",
	   (unsigned long long)s0.evictions, (unsigned long long)s1.evictions,
	   (unsigned long long)s0.bytes_visible, (unsigned long long)s1.bytes_visible);
	is_int(sva_mm_prefault(m, buf + 60 * PG, 4 * PG), 0, "  4 more pages: 0, the budget all prefaulted");
	s1 = mst(m);
	ok(s1.bytes_visible == 16 * PG && s1.bytes_prefaulted == 16 * PG,
	   "  every fault-mapped chunk evicted: visible = prefaulted = 16 pages (%llu, %llu)",
	   (unsigned long long)s1.bytes_visible, (unsigned long long)s1.bytes_prefaulted);
	r0 = s1.refaults;
	before = __atomic_load_n(&fe_count, __ATOMIC_SEQ_CST);
	sva_dev_inject_fault(dev, sva_bond_pasid(b), (uintptr_t)buf, SVA_ACCESS_READ, 2);
	wait_faults(b, ++nf);
	ok(bst(b).invalid == 1 && __atomic_load_n(&fe_count, __ATOMIC_SEQ_CST) == before + 1 &&
	   __atomic_load_n(&fe_reason, __ATOMIC_SEQ_CST) == -ENOMEM,
	   "  a fault with the budget all prefaulted: INVALID with -ENOMEM (%d)",
	   __atomic_load_n(&fe_reason, __ATOMIC_SEQ_CST));
	s1 = mst(m);
	is_int(s1.bytes_prefaulted, 16 * PG, "  prefaulted memory is not evicted for it");
	ok(sva_mm_invalidate(m, buf + 100 * PG, PG) == (long)(12 * PG), "  invalidate the 12-page chunk");
	s0 = mst(m);
	sva_dev_inject_fault(dev, sva_bond_pasid(b), (uintptr_t)buf, SVA_ACCESS_READ, 3);
	wait_faults(b, ++nf);
	s1 = mst(m);
	ok(bst(b).invalid == 1 && s1.bytes_visible > s0.bytes_visible, "  with room again the fault resolves");
	ok(s1.refaults > r0, "  counted as a refault of evicted memory (%llu -> %llu)", (unsigned long long)r0,
	   (unsigned long long)s1.refaults);
	ok(s1.bytes_pinned_peak <= 16 * PG, "  the peak never passed the budget (%llu)",
	   (unsigned long long)s1.bytes_pinned_peak);
	sva_unbind(b);
	sva_mm_free(m);
}

/* ------------------------------------- the default budget: the soft limit */

/*
 * sva_mm_new(3): "0 selects the default: the soft RLIMIT_MEMLOCK limit when
 * the process lacks CAP_IPC_LOCK".  The process drops CAP_IPC_LOCK from its
 * effective set and sets a soft limit below its hard one for one context and
 * address space, then puts both back (in this process, not a forked child:
 * ThreadSanitizer cannot start the address space's threads in a child of a
 * process that has threads).
 */
static void soft_limit_budget(void)
{
	struct __user_cap_data_struct was[2];
	struct rlimit rl = { 256 * 1024 + 100, 1024 * 1024 }, old;
	struct sva_mm_stats st = { .size = sizeof(st) };
	struct sva_ctx *c = NULL;
	struct sva_mm *m = NULL;
	uint64_t got = UINT64_MAX;
	bool dropped = false, limited = false;

	if (geteuid() != 0 || ipc_lock_save(was) || getrlimit(RLIMIT_MEMLOCK, &old)) {
		skip(1, "not root: cannot check the soft limit against the hard one");
		return;
	}
	dropped = ipc_lock_off(was);
	limited = dropped && setrlimit(RLIMIT_MEMLOCK, &rl) == 0;
	if (limited && sva_ctx_new(NULL, &c) == 0) {
		sva_ctx_set_log(c, quiet, NULL, SVA_LOG_ERROR);
		if (sva_mm_new(c, NULL, &m) == 0 && sva_mm_stats(m, &st) == 0)
			got = st.pin_budget;
		else
			got = UINT64_MAX - 1;
		sva_mm_free(m);
		sva_ctx_free(c);
	}
	if (limited && setrlimit(RLIMIT_MEMLOCK, &old))
		tap_bail("cannot put RLIMIT_MEMLOCK back: %s", strerror(errno));
	if (dropped)
		ipc_lock_back(was);
	if (!limited)
		diag("could not drop CAP_IPC_LOCK (%d) or set the limit", dropped);
	is_int(got, 256 * 1024, "pin_budget 0, no CAP_IPC_LOCK, soft limit 256 KiB + 100 under a 1 MiB hard one: "
	       "the soft one, rounded down (%llu)", (unsigned long long)got);
}

/* -------------------------------------------- a prefault that fails late */

/*
 * sva_mm_prefault(3): "if one of the maps fails, the maps this call made are
 * undone: nothing of the range is made visible ... once the call has
 * returned, the statistics count none of it, bytes_pinned_peak included"
 * (sva_mm_stats(3) too).  The range is a private anonymous part, mapped
 * first, then a shared memfd mapping whose second page is past the end of
 * the file, which the kernel does not pin (-EPERM once a device is bound).
 */
static void prefault_undone(void)
{
	struct sva_bind_opts bo = { .size = sizeof(bo) };
	struct sva_mm *m = new_mm(0);
	struct sva_bond *b = NULL;
	char *want = (char *)(uintptr_t)0x5c000000ul, *a, *f;
	struct sva_mm_stats s;
	int fd, ret;

	fd = memfd_create("z-blackbox-short", MFD_CLOEXEC);
	if (fd < 0 || ftruncate(fd, (off_t)PG) || sva_bind(dev, m, &bo, &b)) {
		ok(0, "memfd and bind for the late-failure check");
		goto out;
	}
	a = mmap(want, 4 * PG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
	f = mmap(want + 4 * PG, 2 * PG, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED_NOREPLACE, fd, 0);
	if (a != want || f != want + 4 * PG) {
		ok(0, "adjacent anonymous and memfd mappings");
		goto out;
	}
	memset(a, 5, 4 * PG);
	f[0] = 5;
	ret = sva_mm_prefault(m, a, 6 * PG);
	is_int(ret, -EPERM, "prefault over anonymous memory and a page past the end of a file: -EPERM");
	s = mst(m);
	ok(s.bytes_visible == 0 && s.bytes_prefaulted == 0 && s.bytes_pinned_peak == 0,
	   "  the anonymous part's map is undone: visible, prefaulted, peak 0 (%llu, %llu, %llu)",
	   (unsigned long long)s.bytes_visible, (unsigned long long)s.bytes_prefaulted,
	   (unsigned long long)s.bytes_pinned_peak);
	is_int(sva_mm_invalidate(m, a, 6 * PG), 0, "  nothing of the range is visible (invalidate: 0)");
	is_int(sva_mm_prefault(m, a, 5 * PG), 0, "  the part inside the file: 0");
	is_int(mst(m).bytes_pinned_peak, 5 * PG, "  the peak counts that one (5 pages)");
	munmap(a, 4 * PG);
	munmap(f, 2 * PG);
out:
	if (fd >= 0)
		close(fd);
	sva_unbind(b);
	sva_mm_free(m);
}

/* ------------------------------------------ the checks' order, prefault */

/*
 * sva_mm_prefault(3), DESCRIPTION: the allowed ranges (step 1) before the
 * mappings (step 2), those before the window (step 3), that before the
 * budget (step 4).
 */
static void prefault_steps(void)
{
	struct sva_mm_opts o = { .size = sizeof(o), .pin_budget = 4 * PG };
	struct sva_bind_opts bo = { .size = sizeof(bo) };
	struct sva_mm *rm = new_mm(SVA_MM_RESTRICTED), *m = NULL;
	struct sva_bond *b = NULL;
	char *hole = (char *)(uintptr_t)0x5d000000ul, *hi;

	/* Nothing is mapped at the hole (MAP_FIXED_NOREPLACE proves it, then it goes). */
	if (mmap(hole, 8 * PG, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0) != hole) {
		ok(0, "an unmapped hole for the order check");
		sva_mm_free(rm);
		return;
	}
	munmap(hole, 8 * PG);
	is_int(sva_mm_prefault(rm, hole, 8 * PG), -EACCES, "prefault steps: not allowed and not mapped: -EACCES (step 1)");
	sva_mm_free(rm);
	if (sva_mm_new(ctx, &o, &m) || sva_bind(dev, m, &bo, &b)) {
		ok(0, "a budgeted bound mm for the order check");
		sva_mm_free(m);
		return;
	}
	is_int(sva_mm_prefault(m, hole, 8 * PG), -EFAULT, "prefault steps: not mapped, over the budget: -EFAULT (step 2)");
	/* Above the mock's window, which ends at 2 GiB: where the kernel puts
	 * a mapping of its own choice (a fixed address there may be taken:
	 * AddressSanitizer reserves 0x8fff7000 up as its shadow gap). */
	hi = mmap(NULL, 8 * PG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (hi != MAP_FAILED && (uintptr_t)hi >= (2ul << 30)) {
		is_int(sva_mm_prefault(m, hi, 8 * PG), -ERANGE,
		       "prefault steps: outside the window, over the budget: -ERANGE (step 3)");
	} else {
		ok(0, "mmap above the mock's window (%p)", hi);
	}
	if (hi != MAP_FAILED)
		munmap(hi, 8 * PG);
	is_int(mst(m).bytes_visible, 0, "  nothing made visible");
	sva_unbind(b);
	sva_mm_free(m);
}

/* -------------------------------------------- sva_mem_alloc/free, more */

/*
 * sva_mem_alloc(3): a SVA_MEM_PREFAULT block the budget cannot hold fails
 * with -ENOSPC, "nothing stays mapped", *out "left as it was", one line at
 * error level; the lowest place first, so freed addresses come back.
 * sva_mem_free(3) step 2 withdraws from an untracked mm.
 */
static void mem_more(void)
{
	struct sva_mm_opts mo = { .size = sizeof(mo), .pin_budget = 4 * PG };
	struct sva_mm *m = NULL, *u = new_mm(SVA_MM_UNTRACKED);
	struct sva_mem_opts o = { .size = sizeof(o), .flags = SVA_MEM_PREFAULT };
	void *sentinel = (void *)(uintptr_t)0x5678, *p = sentinel, *q = NULL;
	int n0, e;

	if (sva_mm_new(ctx, &mo, &m)) {
		ok(0, "a 4-page budget for mem_alloc");
		sva_mm_free(u);
		return;
	}
	o.mm = m;
	n0 = proc_maps_lines();
	e = errs();
	is_int(sva_mem_alloc(8 * PG, &o, &p), -ENOSPC, "mem_alloc: SVA_MEM_PREFAULT of 8 pages, budget 4: -ENOSPC");
	ok(p == sentinel, "  *out left as it was");
	is_int(proc_maps_lines(), n0, "  nothing stays mapped in the process (/proc/self/maps lines)");
	is_int(mst(m).bytes_visible, 0, "  nothing visible in mm");
	ok(errs() - e >= 1, "  an error-level line says so (%d)", errs() - e);
	p = NULL;
	is_int(sva_mem_alloc(4 * PG, &o, &p), 0, "mem_alloc: 4 pages, within the budget: 0");
	{
		char line[512], perm[8] = "";
		unsigned long lo, hi, off, ino = 1;
		FILE *f = fopen("/proc/self/maps", "r");
		bool found = false;

		/* The line that holds it (a neighbour of the same kind may share it). */
		while (f && !found && fgets(line, sizeof(line), f))
			found = sscanf(line, "%lx-%lx %4s %lx %*s %lu", &lo, &hi, perm, &off, &ino) == 5 &&
				lo <= (uintptr_t)p && (uintptr_t)p + 4 * PG <= hi;
		if (f)
			fclose(f);
		ok(found && strcmp(perm, "rw-p") == 0 && ino == 0,
		   "  private, anonymous, read-write in /proc/self/maps (%s, inode %lu)", perm, ino);
	}
	is_int(mst(m).bytes_prefaulted, 4 * PG, "  prefaulted in mm, one chunk");
	is_int(sva_mem_free(m, p, 4 * PG), 0, "  mem_free with mm");
	is_int(mst(m).bytes_visible, 0, "  withdrawn");
	o.mm = NULL;
	o.flags = 0;
	if (sva_mem_alloc(4 * PG, &o, &q) == 0) {
		ok(q == p, "  the freed addresses are taken again, lowest first (%p, %p)", q, p);
		sva_mem_free(NULL, q, 4 * PG);
	}

	/* An untracked mm: the munmap withdraws nothing; step 2 does. */
	o.mm = u;
	o.flags = SVA_MEM_PREFAULT;
	p = NULL;
	if (sva_mem_alloc(4 * PG, &o, &p) == 0) {
		is_int(mst(u).bytes_visible, 4 * PG, "mem_alloc in an untracked mm: visible");
		is_int(sva_mem_free(u, p, 4 * PG), 0, "  mem_free with it: 0");
		is_int(mst(u).bytes_visible, 0, "  withdrawn by the call itself");
	} else {
		ok(0, "mem_alloc in an untracked mm");
	}
	sva_mm_free(u);
	sva_mm_free(m);
}

/* ------------------------------------- allowed ranges against a model */

/*
 * sva_mm_allow(3)/sva_mm_deny(3) as set operations: after any sequence of
 * allows and denies, a prefault of [i, j) is refused with -EACCES exactly
 * when a page of it is not in the union of what was allowed less what was
 * denied since.  Random operations on a 96-page region, checked against a
 * bitmap after each one.
 */
#define AR_PAGES 96
static void allow_model(void)
{
	struct sva_mm *rm = new_mm(SVA_MM_RESTRICTED);
	char *r = mmap((void *)(uintptr_t)0x5e000000ul, AR_PAGES * PG, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
	bool model[AR_PAGES] = { false };
	uint32_t seed = 12345;
	int bad_op = 0, bad_probe = 0, probes = 0, first_bad = -1;

	if (r == MAP_FAILED) {
		ok(0, "mmap for the allowed-range model");
		sva_mm_free(rm);
		return;
	}
	memset(r, 7, AR_PAGES * PG);
	for (int op = 0; op < 200; op++) {
		unsigned i, n;
		bool allow;
		int ret;

		seed = seed * 1103515245u + 12345u;
		i = (seed >> 8) % AR_PAGES;
		seed = seed * 1103515245u + 12345u;
		n = 1 + (seed >> 8) % 12;
		if (i + n > AR_PAGES)
			n = AR_PAGES - i;
		allow = (seed >> 20) & 1;
		ret = allow ? sva_mm_allow(rm, r + i * PG, n * PG) : sva_mm_deny(rm, r + i * PG, n * PG);
		if (ret && !bad_op++)
			diag("op %d: %s pages %u..%u: %d", op, allow ? "allow" : "deny", i, i + n - 1, ret);
		for (unsigned k = i; k < i + n; k++)
			model[k] = allow;
		/* Probe: a random range, and the pages at the edges of this op. */
		for (int t = 0; t < 4; t++) {
			unsigned a, b;
			bool all = true;

			seed = seed * 1103515245u + 12345u;
			a = t == 0 ? (i ? i - 1 : 0) : t == 1 ? i : t == 2 ? i + n - 1 : (seed >> 8) % AR_PAGES;
			b = t == 3 ? a + 1 + (seed >> 20) % 6 : a + 1 + (t == 1 ? n - 1 : 0);
			if (t == 2 && a + 2 <= AR_PAGES)
				b = a + 2;
			if (b > AR_PAGES)
				b = AR_PAGES;
			for (unsigned k = a; k < b; k++)
				all &= model[k];
			ret = sva_mm_prefault(rm, r + a * PG, (b - a) * PG);
			probes++;
			if (ret != (all ? 0 : -EACCES)) {
				if (!bad_probe++)
					first_bad = op;
				if (bad_probe <= 3)
					diag("op %d (%s %u..%u): prefault of %u..%u: %d, want %d", op, allow ? "allow" : "deny",
					     i, i + n - 1, a, b - 1, ret, all ? 0 : -EACCES);
			}
			if (ret == 0)
				sva_mm_invalidate(rm, r + a * PG, (b - a) * PG);
		}
	}
	is_int(bad_op, 0, "allow/deny model: 200 random operations all return 0");
	ok(bad_probe == 0, "  %d prefaults agree with the model's allowed pages (%d disagree, first after op %d)", probes,
	   bad_probe, first_bad);
	is_int(mst(rm).bytes_visible, 0, "  nothing left visible");
	sva_mm_free(rm);
	munmap(r, AR_PAGES * PG);
}

/* ---------------------------------------- the window under small budgets */

/*
 * sva_mm_new(3): "Under a pin budget a window ... is at most a quarter of the
 * budget (the largest power of two that fits, at least one page)", and "Each
 * bond's window starts at 64 KiB (or the cap, if smaller)": the first fault of
 * a bond maps exactly that much of a large mapping.
 */
static void budget_windows(char *buf)
{
	static const struct { uint64_t budget, want; } c[] = {
		{ 12 * PG, 2 }, { 16 * PG, 4 }, { 7 * PG, 1 }, { PG, 1 }, { 40 * PG, 8 }, { 1024 * PG, 16 },
	};
	struct sva_bind_opts bo = { .size = sizeof(bo) };

	for (size_t i = 0; i < sizeof(c) / sizeof(c[0]); i++) {
		struct sva_mm_opts o = { .size = sizeof(o), .pin_budget = c[i].budget };
		struct sva_mm *m = NULL;
		struct sva_bond *b = NULL;

		if (sva_mm_new(ctx, &o, &m) || sva_bind(dev, m, &bo, &b)) {
			ok(0, "a %llu-page budget with a bond", (unsigned long long)(c[i].budget / PG));
			sva_mm_free(m);
			continue;
		}
		/* Page 70 of buf, inside the block's second half for every size above a page. */
		sva_dev_inject_fault(dev, sva_bond_pasid(b), (uintptr_t)buf + 70 * PG + 123, SVA_ACCESS_READ, 1);
		wait_faults(b, 1);
		ok(bst(b).invalid == 0 && bst(b).pages_mapped == c[i].want,
		   "budget %llu pages: the first fault's window is %llu pages (%llu)",
		   (unsigned long long)(c[i].budget / PG), (unsigned long long)c[i].want,
		   (unsigned long long)bst(b).pages_mapped);
		{
			uint64_t start = 70 & ~(c[i].want - 1);

			is_int(sva_mm_invalidate(m, buf + (start - 1) * PG, PG), 0, "  nothing below the aligned block");
			is_int(sva_mm_invalidate(m, buf + start * PG, 1), (long)(c[i].want * PG),
			       "  the window is the block aligned on its size around the fault (from page %llu)",
			       (unsigned long long)start);
		}
		sva_unbind(b);
		sva_mm_free(m);
	}
}

/*
 * sva_mm_new(3): "Every window is clipped to the process's mapping".  A
 * 3-page mapping and the default 64 KiB first window.
 */
static void window_clipped(void)
{
	struct sva_bind_opts bo = { .size = sizeof(bo) };
	struct sva_mm *m = new_mm(0);
	struct sva_bond *b = NULL;
	char *p = mmap((void *)(uintptr_t)0x5b001000ul, 3 * PG, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);

	if (p == MAP_FAILED || sva_bind(dev, m, &bo, &b)) {
		ok(0, "a 3-page mapping and a bond");
		goto out;
	}
	memset(p, 4, 3 * PG);
	sva_dev_inject_fault(dev, sva_bond_pasid(b), (uintptr_t)p + PG, SVA_ACCESS_READ, 1);
	wait_faults(b, 1);
	ok(bst(b).invalid == 0 && bst(b).pages_mapped == 3 && mst(m).bytes_visible == 3 * PG,
	   "a fault in a 3-page mapping: its 64 KiB window clipped to the mapping's 3 pages (%llu)",
	   (unsigned long long)bst(b).pages_mapped);
	sva_unbind(b);
out:
	if (p != MAP_FAILED)
		munmap(p, 3 * PG);
	sva_mm_free(m);
}

/* ------------------------------- ranges another userfaultfd holds */

static int warns(void)
{
	return __atomic_load_n(&lines[SVA_LOG_WARN], __ATOMIC_SEQ_CST);
}

/*
 * sva_mm_new(3): "A range that cannot be registered (another userfaultfd has
 * it ...) is likewise mapped untracked, counted, and logged once per address
 * space"; sva_mm_stats(3): "The first one is logged at warning level; these
 * counters count all"; sva_mm_invalidate(3), "Ranges left untracked": "as in
 * an untracked address space" (a munmap does not withdraw them).
 */
static void foreign_uffd(void)
{
	char *u = mmap((void *)(uintptr_t)0x5f000000ul, 8 * PG, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
	struct uffdio_api api = { .api = UFFD_API };
	struct uffdio_register reg = { .range = { .start = (uintptr_t)u, .len = 8 * PG },
				       .mode = UFFDIO_REGISTER_MODE_MISSING };
	struct sva_mm *m = NULL, *m2 = NULL;
	struct sva_mm_stats s0, s1;
	int fd, w0;

	if (u == MAP_FAILED) {
		ok(0, "mmap for the foreign userfaultfd check");
		return;
	}
	memset(u, 9, 8 * PG); /* populated: a MISSING registration never blocks */
	fd = (int)syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK | UFFD_USER_MODE_ONLY);
	if (fd < 0)
		fd = (int)syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK);
	if (fd < 0 || ioctl(fd, UFFDIO_API, &api) || ioctl(fd, UFFDIO_REGISTER, &reg)) {
		diag("userfaultfd: %s", strerror(errno));
		skip(9, "no userfaultfd of our own");
		if (fd >= 0)
			close(fd);
		munmap(u, 8 * PG);
		return;
	}
	m = new_mm(0);
	s0 = mst(m);
	w0 = warns();
	is_int(sva_mm_prefault(m, u, 2 * PG), 0, "foreign uffd: a prefault of a range it holds: mapped (0)");
	is_int(sva_mm_prefault(m, u + 4 * PG, 2 * PG), 0, "  a second range of it: mapped (0)");
	s1 = mst(m);
	ok(s1.untracked_ranges == s0.untracked_ranges + 2 && s1.untracked_bytes == s0.untracked_bytes + 4 * PG &&
	   s1.untracked_reason == -EBUSY && (s1.flags & SVA_MM_STAT_TRACKED),
	   "  both counted (%llu ranges, %llu bytes), reason -EBUSY (%d), the mm still tracked",
	   (unsigned long long)(s1.untracked_ranges - s0.untracked_ranges),
	   (unsigned long long)(s1.untracked_bytes - s0.untracked_bytes), s1.untracked_reason);
	is_int(warns() - w0, 1, "  one warning line for the two (once per address space)");
	m2 = new_mm(0);
	w0 = warns();
	is_int(sva_mm_prefault(m2, u, PG), 0, "  another address space maps it too");
	is_int(warns() - w0, 1, "  and warns once of its own");
	sva_mm_free(m2);

	/* Untracked ranges are as in an untracked address space. */
	s0 = mst(m);
	munmap(u, 2 * PG);
	is_int(sva_mm_fence(m), 0, "  munmap of the first range, fence: 0");
	s1 = mst(m);
	ok(s1.bytes_visible == s0.bytes_visible && s1.bytes_withdrawn == s0.bytes_withdrawn,
	   "  the devices keep it: visible %llu -> %llu, nothing withdrawn", (unsigned long long)s0.bytes_visible,
	   (unsigned long long)s1.bytes_visible);
	is_int(sva_mm_invalidate(m, u, 2 * PG), 2 * PG, "  sva_mm_invalidate withdraws it");
	sva_mm_free(m);
	close(fd);
	munmap(u, 8 * PG);
}

/* --------------------------------- sva_mem_free whose munmap is refused */

static int write_long(const char *path, long v)
{
	FILE *f = fopen(path, "w");
	int ret;

	if (!f)
		return -errno;
	ret = fprintf(f, "%ld\n", v) > 0 ? 0 : -EIO;
	if (fclose(f))
		ret = -errno;
	return ret;
}

/*
 * sva_mem_free(3): "An error of munmap(2) (such as -ENOMEM when splitting a
 * mapping would exceed vm.max_map_count) is passed through; the memory stays
 * allocated and mapped in the process.  If mm is restricted, what of the
 * memory was allowed there before the call is allowed again, and only that (a
 * part the driver had denied stays denied ...)"; "What devices had visible of
 * the memory was withdrawn before the munmap(2) was tried"; in an mm that is
 * not restricted the memory is "still allocated and mapped as before".  Two
 * allocations side by side share one mapping of the process, so freeing one
 * splits it; vm.max_map_count at the process's count refuses the split.
 */
static void mem_free_refused(uint32_t flags)
{
	static const char mmc[] = "/proc/sys/vm/max_map_count";
	const bool restr = flags & SVA_MM_RESTRICTED;
	struct sva_mm *m = new_mm(flags);
	struct sva_mem_opts o = { .size = sizeof(o), .mm = m };
	char *x = NULL, *a = NULL, *b = NULL;
	long was = proc_read_long(mmc);
	int ret, e;

	if (geteuid() != 0 || was < 0) {
		skip(restr ? 8 : 6, "cannot set vm.max_map_count");
		sva_mm_free(m);
		return;
	}
	/* Three side by side, lowest first: the middle one is a hole to punch. */
	if (sva_mem_alloc(4 * PG, &o, (void **)&x) || sva_mem_alloc(4 * PG, &o, (void **)&a) ||
	    sva_mem_alloc(4 * PG, &o, (void **)&b) || a != x + 4 * PG || b != a + 4 * PG) {
		ok(0, "three allocations side by side (%p, %p, %p)", (void *)x, (void *)a, (void *)b);
		goto out;
	}
	if (restr)
		sva_mm_deny(m, a + 3 * PG, PG);
	is_int(sva_mm_prefault(m, a, 3 * PG), 0, "%s mm, mem_free refused: pages 0..2 of the middle allocation visible",
	       restr ? "restricted" : "default");
	e = errs();
	/* At most the process's count ([vsyscall] is listed, not counted): no hole can be punched. */
	if (write_long(mmc, proc_maps_lines() - 1)) {
		ok(0, "set vm.max_map_count");
		goto out;
	}
	ret = sva_mem_free(m, a, 4 * PG);
	write_long(mmc, was);
	is_int(ret, -ENOMEM, "  sva_mem_free of the middle one over vm.max_map_count: -ENOMEM");
	if (ret == 0) {
		a = NULL;
		goto out;
	}
	ok(errs() - e >= 1, "  an error line says so (%d)", errs() - e);
	ok(((volatile char *)a)[0] == 0 && ((volatile char *)a)[4 * PG - 1] == 0, "  the memory is still mapped");
	if (restr) {
		is_int(mst(m).bytes_visible, 0, "  what was visible was withdrawn before the munmap");
		is_int(sva_mm_prefault(m, a, 3 * PG), 0, "  pages 0..2 allowed again");
		is_int(sva_mm_prefault(m, a + 3 * PG, PG), -EACCES, "  page 3, which the driver denied, stays denied");
	} else {
		is_int(mst(m).bytes_visible, 3 * PG, "  still visible as before");
	}
	is_int(sva_mem_free(m, a, 4 * PG), 0, "  still allocated: freed once the limit is back");
	a = NULL;
out:
	if (x)
		sva_mem_free(m, x, 4 * PG);
	if (a)
		sva_mem_free(m, a, 4 * PG);
	if (b)
		sva_mem_free(m, b, 4 * PG);
	sva_mm_free(m);
}

/* ------------------------------------------- eviction: CLOCK's order */

/*
 * sva_mm_new(3), "Pin budget": "Victims are chosen by CLOCK, an
 * approximation of least recently faulted first: a hand sweeps the chunks in
 * address order and spares once each chunk a fault has mapped or used since
 * it last passed."  One-page windows under a 4-page budget: chunks A, B, C, D
 * fill it; E's fault makes the hand pass them all (each spared once) and
 * evict the first; a fault then uses B; F's fault spares B, which a fault used
 * since the hand passed, and evicts C, which none did.
 */
static void clock_order(char *buf)
{
	struct sva_mm_opts o = { .size = sizeof(o), .fault_around = PG, .pin_budget = 4 * PG };
	struct sva_bind_opts bo = { .size = sizeof(bo) };
	static const int pg[] = { 0, 10, 20, 30, 40, 50 }; /* A..F */
	struct sva_mm *m = NULL;
	struct sva_bond *b = NULL;
	uint64_t nf = 0, pm;
	long v[6];

	if (sva_mm_new(ctx, &o, &m) || sva_bind(dev, m, &bo, &b)) {
		ok(0, "a 4-page budget, one-page windows, a bond");
		sva_mm_free(m);
		return;
	}
#define CLOCK_FAULT(i)                                                                                          \
	do {                                                                                                    \
		sva_dev_inject_fault(dev, sva_bond_pasid(b), (uintptr_t)buf + (uint64_t)pg[i] * PG, SVA_ACCESS_READ, \
				     1);                                                                        \
		if (wait_faults(b, ++nf))                                                                       \
			diag("CLOCK: fault %d: %llu faults, want %llu", i, (unsigned long long)bst(b).faults,     \
			     (unsigned long long)nf);                                                           \
	} while (0)
	for (int i = 0; i < 4; i++)
		CLOCK_FAULT(i);
	ok(mst(m).bytes_visible == 4 * PG && mst(m).evictions == 0, "CLOCK: A, B, C, D fill the 4-page budget");
	CLOCK_FAULT(4);
	is_int(mst(m).evictions, 1, "  E's fault evicts one chunk");
	pm = bst(b).pages_mapped;
	CLOCK_FAULT(1);
	ok(bst(b).pages_mapped == pm && mst(m).evictions == 1, "  a fault on B finds it visible: maps nothing");
	CLOCK_FAULT(5);
	is_int(mst(m).evictions, 2, "  F's fault evicts one more");
	is_int(bst(b).invalid, 0, "  no fault refused");
	for (int i = 0; i < 6; i++)
		v[i] = sva_mm_invalidate(m, buf + pg[i] * PG, PG);
	diag("CLOCK: visible after F: A %ld B %ld C %ld D %ld E %ld F %ld", v[0], v[1], v[2], v[3], v[4], v[5]);
	ok(v[1] == (long)PG, "  B, used by a fault since the hand passed it, is spared");
	ok(v[4] == (long)PG && v[5] == (long)PG, "  E and F, the newest, stay");
	ok(v[0] == 0 && v[2] == 0 && v[3] == (long)PG,
	   "  the hand, from the lowest address, evicted A and then C (never used since it passed), not D");
#undef CLOCK_FAULT
	sva_unbind(b);
	sva_mm_free(m);
}

/* -E2BIG past 64 mappings; 64 is fine. */
static void many_mappings(void)
{
	struct sva_mm *m = new_mm(0);
	char *p = mmap((void *)(uintptr_t)0x58000000ul, 132 * PG, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);

	if (p == MAP_FAILED) {
		ok(0, "mmap for the mappings check");
		sva_mm_free(m);
		return;
	}
	memset(p, 2, 132 * PG);
	/* Every other page read-only: each page its own mapping. */
	for (int i = 1; i < 132; i += 2)
		mprotect(p + i * PG, PG, PROT_READ);
	is_int(sva_mm_prefault(m, p, 65 * PG), -E2BIG, "prefault over 65 mappings: -E2BIG");
	is_int(mst(m).bytes_visible, 0, "  nothing made visible");
	is_int(sva_mm_prefault(m, p, 64 * PG), 0, "prefault over 64 mappings: 0");
	is_int(mst(m).bytes_visible, 64 * PG, "  all 64 pages visible");
	sva_mm_free(m);
	munmap(p, 132 * PG);
}

/* A prefault inside a chunk a fault mapped makes the whole chunk prefaulted. */
static void prefault_in_fault_chunk(char *buf)
{
	struct sva_bind_opts bo = { .size = sizeof(bo) };
	struct sva_mm *m = new_mm(0);
	struct sva_bond *b = NULL;
	struct sva_mm_stats s0, s1;
	uint64_t mapped;

	if (sva_bind(dev, m, &bo, &b)) {
		ok(0, "bind for the chunk check");
		sva_mm_free(m);
		return;
	}
	sva_dev_inject_fault(dev, sva_bond_pasid(b), (uintptr_t)buf + 80 * PG, SVA_ACCESS_READ | SVA_ACCESS_WRITE, 1);
	wait_faults(b, 1);
	mapped = bst(b).pages_mapped;
	s0 = mst(m);
	ok(mapped > 1 && s0.bytes_prefaulted == 0, "a fault maps a window of %llu pages, none prefaulted",
	   (unsigned long long)mapped);
	is_int(sva_mm_prefault(m, buf + 80 * PG, PG), 0, "  prefault one page inside it: 0");
	s1 = mst(m);
	is_int(s1.bytes_prefaulted, mapped * PG, "  the whole chunk counts in bytes_prefaulted");
	is_int(s1.bytes_visible, s0.bytes_visible, "  nothing more made visible");
	sva_unbind(b);
	sva_mm_free(m);
}

/* sva_mem_alloc in a restricted mm allows; sva_mem_free with it denies, with NULL it does not. */
static void mem_restricted(void)
{
	struct sva_mm *rm = new_mm(SVA_MM_RESTRICTED);
	struct sva_mem_opts o = { .size = sizeof(o), .mm = rm };
	void *p = NULL, *q;

	if (sva_mem_alloc(PG, &o, &p)) {
		ok(0, "mem_alloc in a restricted mm");
		sva_mm_free(rm);
		return;
	}
	is_int(sva_mm_prefault(rm, p, PG), 0, "mem_alloc in a restricted mm: the memory is allowed there");
	is_int(sva_mem_free(rm, p, PG), 0, "mem_free with that mm: 0");
	is_int(mst(rm).bytes_visible, 0, "  withdrawn from it");
	q = mmap(p, PG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
	if (q == p) {
		is_int(sva_mm_prefault(rm, q, PG), -EACCES, "  and denied: new memory there is out of reach");
		munmap(q, PG);
	}
	p = NULL;
	if (sva_mem_alloc(PG, &o, &p) == 0) {
		is_int(sva_mem_free(NULL, p, PG), 0, "mem_free of restricted memory with a NULL mm: 0");
		q = mmap(p, PG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
		if (q == p) {
			is_int(sva_mm_prefault(rm, q, PG), 0, "  it stays allowed: new memory there is reachable");
			sva_mm_invalidate(rm, q, PG);
			munmap(q, PG);
		}
	}
	sva_mm_free(rm);
}

/* Poll mode: the caller's call handles what the mock raised. */
static void poll_faults(char *buf)
{
	struct sva_ctx_opts co = { .size = sizeof(co), .flags = SVA_CTX_FAULT_POLL };
	struct sva_ctx *pc = NULL;
	struct sva_dev *pd = NULL;
	struct sva_mm *pm = NULL;
	struct sva_bond *b = NULL;
	struct sva_bind_opts bo = { .size = sizeof(bo) };
	int n = 0;

	if (sva_ctx_new(&co, &pc) || sva_dev_open_mock(pc, NULL, &pd) || sva_mm_new(pc, NULL, &pm) ||
	    sva_bind(pd, pm, &bo, &b)) {
		ok(0, "a poll-mode context with a bound mock");
		goto out;
	}
	is_int(sva_dev_inject_fault(pd, sva_bond_pasid(b), (uintptr_t)buf + 120 * PG, SVA_ACCESS_READ, 1), 0,
	       "poll mode: inject a fault");
	for (int i = 0; i < 1000 && n == 0; i++) {
		n = sva_ctx_process_faults(pc, 1);
		if (n == 0)
			usleep(1000);
	}
	is_int(n, 1, "  process_faults handles it: returns 1");
	is_int(bst(b).faults, 1, "  counted for the bond");
	is_int(sva_ctx_process_faults(pc, 16), 0, "  then nothing pending: 0");
out:
	sva_unbind(b);
	sva_mm_free(pm);
	sva_dev_close(pd);
	sva_ctx_free(pc);
}

/* ------------------------------------------------ RID and pinned bonds */

static void rid_and_pinned(char *buf)
{
	static const struct sva_bond_ops ops = { .size = sizeof(ops), .fault_error = on_fault_error };
	struct sva_bind_opts bo = { .size = sizeof(bo), .flags = SVA_BIND_RID, .ops = &ops, .drvdata = buf };
	struct sva_mm *m = new_mm(0);
	struct sva_bond *b = NULL, *found = NULL;
	void *dd = NULL;
	int before;

	if (sva_bind(dev, m, &bo, &b)) {
		ok(0, "a fault-capable RID bond on the mock");
		sva_mm_free(m);
		return;
	}
	is_int(sva_bond_pasid(b), SVA_PASID_RID, "RID bond: bond_pasid is SVA_PASID_RID");
	ok(sva_dev_bond_lookup(dev, SVA_PASID_RID, &found, &dd) == 0 && found == b && dd == buf,
	   "RID bond: bond_lookup(SVA_PASID_RID) finds it and its drvdata");
	is_int(sva_dev_inject_fault(dev, 0, (uintptr_t)buf + 60 * PG, SVA_ACCESS_READ, 1), 0,
	       "inject pasid 0 (a request without PASID)");
	is_int(wait_faults(b, 1), 0, "  the RID bond handles it");
	ok(bst(b).invalid == 0 && bst(b).pages_mapped > 0, "  resolved, pages mapped");
	before = __atomic_load_n(&fe_count, __ATOMIC_SEQ_CST);
	{
		void *hole = mmap(NULL, PG, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

		munmap(hole, PG);
		sva_dev_inject_fault(dev, 0, (uintptr_t)hole, SVA_ACCESS_READ, 2);
		wait_faults(b, 2);
	}
	ok(__atomic_load_n(&fe_count, __ATOMIC_SEQ_CST) == before + 1 &&
	   __atomic_load_n(&fe_pasid, __ATOMIC_SEQ_CST) == SVA_PASID_RID,
	   "  a refused RID fault is reported with pasid SVA_PASID_RID");
	sva_unbind(b);
	is_int(sva_dev_bond_lookup(dev, SVA_PASID_RID, NULL, NULL), -ENOENT, "after the unbind: -ENOENT");

	bo = (struct sva_bind_opts){ .size = sizeof(bo), .flags = SVA_BIND_PINNED };
	b = NULL;
	if (sva_bind(dev, m, &bo, &b) == 0) {
		struct sva_bond_stats st;

		sva_dev_inject_fault(dev, sva_bond_pasid(b), (uintptr_t)buf + 70 * PG, SVA_ACCESS_READ, 3);
		usleep(20000);
		st = bst(b);
		ok(st.faults == 0 && st.groups == 0 && st.invalid == 0 && st.pages_mapped == 0,
		   "a pinned bond takes no faults: its counters stay 0");
		sva_unbind(b);
	} else {
		ok(0, "a pinned bond on the mock");
	}
	sva_mm_free(m);
}

/* ------------------------------------- a real device (QEMU's edu, VT-d) */

static void real_device(void)
{
	struct sva_bind_opts bo = { .size = sizeof(bo), .flags = SVA_BIND_RID | SVA_BIND_PINNED };
	struct sva_dev_info di = { .size = sizeof(di) };
	struct sva_iova_range r[64], two[2];
	struct sva_dev *edu = NULL;
	struct sva_bond *b = NULL;
	struct sva_mm *m;
	char addr[32];
	size_t nr = 64, n;

	edu_find(addr, sizeof(addr), NULL, 0);
	if (!addr[0] || sva_dev_open(ctx, addr, &edu)) {
		const char *t = getenv("SVA_TOPOLOGY");

		/* The VT-d topologies have edu: its absence there is a failure. */
		if (t && !strncmp(t, "vtd", 3))
			ok(0, "edu opens on the %s topology (%s)", t, addr[0] ? addr : "not found");
		else
			diag("no edu device to open: the real-device checks are skipped");
		return;
	}
	is_int(sva_dev_inject_fault(edu, 1, 0x50000000ul, SVA_ACCESS_READ, 0), -EOPNOTSUPP,
	       "inject on a device that is not a mock: -EOPNOTSUPP");
	is_int(sva_dev_inject_fault(edu, 1, 0x50000000ul, 0, 0), -EOPNOTSUPP,
	       "  also with perm 0 (checked before perm)");
	if (sva_dev_get_info(edu, &di) == 0 && di.max_pasid_log2 == 0)
		is_int(sva_dev_bond_lookup(edu, 1, NULL, NULL), -EOPNOTSUPP,
		       "bond_lookup of a PASID on a device without PASIDs: -EOPNOTSUPP");
	m = new_mm(0);
	if (sva_bind(edu, m, &bo, &b)) {
		ok(0, "a pinned RID bind of edu");
		goto out;
	}
	is_int(sva_mm_iova_ranges(m, r, &nr), 0, "iova_ranges of a mm bound to edu: 0");
	diag("%zu ranges", nr);
	if (nr >= 2) {
		memset(two, 0xee, sizeof(two));
		n = 1;
		is_int(sva_mm_iova_ranges(m, two, &n), -ENOSPC, "  room for 1 of %zu: -ENOSPC", nr);
		is_int(n, nr, "  *nr is the count");
		ok(two[0].start == r[0].start && two[0].last == r[0].last && two[1].start == 0xeeeeeeeeeeeeeeeeull,
		   "  the first range filled, nothing past the room");
		{
			bool sorted = true;

			for (size_t i = 1; i < nr; i++)
				sorted &= r[i - 1].last < r[i].start && r[i].start <= r[i].last;
			ok(sorted, "  ascending, disjoint");
		}
	}
	sva_unbind(b);
out:
	sva_mm_free(m);
	sva_dev_close(edu);
}

/* ------------------------------------------------ what is logged, or not */

static void logging(struct sva_mm *mm)
{
	struct sva_mm_opts o = { .size = sizeof(o), .fault_around = 12345 };
	struct sva_mm_stats s = { .size = 8 };
	struct sva_mm *m = NULL;
	struct sva_bond *b = NULL;
	size_t nr;
	int e, n;

	e = errs();
	is_int(sva_mm_new(ctx, &o, &m), -EINVAL, "log: mm_new refused (fault_around)");
	is_int(errs() - e, 1, "  one line at error level");
	n = all_lines();
	nr = 0;
	ok(sva_mm_iova_ranges(mm, NULL, &nr) == -ENOSPC, "log: iova_ranges -ENOSPC");
	nr = 1;
	ok(sva_mm_iova_ranges(mm, NULL, &nr) == -EINVAL, "log: iova_ranges NULL ranges with *nr 1: -EINVAL");
	ok(sva_mm_stats(mm, &s) == -EINVAL, "log: mm_stats with a bad size: -EINVAL");
	ok(sva_mm_stats(mm, NULL) == -EINVAL, "log: mm_stats with NULL stats: -EINVAL");
	is_int(all_lines() - n, 0, "  none of these is logged");
	n = all_lines();
	ok(sva_dev_bond_lookup(dev, 0, &b, NULL) == -ERANGE && sva_dev_bond_lookup(dev, SVA_PASID_RID, &b, NULL) == -ENOENT,
	   "log: bond_lookup misses");
	is_int(all_lines() - n, 0, "  log nothing");
	e = errs();
	is_int(sva_ctx_process_faults(ctx, 0), -EINVAL, "log: process_faults with max 0: -EINVAL");
	is_int(errs() - e, 0, "  not logged");
	e = errs();
	is_int(sva_ctx_process_faults(ctx, 1), -EINVAL, "log: process_faults in thread mode: -EINVAL");
	is_int(errs() - e, 1, "  one line at error level");
	e = errs();
	is_int(sva_mm_prefault(mm, (void *)(uintptr_t)0x50000000ul, 0), -EINVAL, "log: prefault len 0");
	is_int(errs() - e, 1, "  one line at error level");
	e = errs();
	is_int(sva_ctx_fault_health(ctx), 0, "log: fault_health");
	is_int(errs() - e, 0, "  logs nothing");
}

/* A narrow global range: lookups past its end are -ERANGE. */
static void narrow_global(void)
{
	struct sva_ctx_opts co = { .size = sizeof(co), .global_pasid_min = 256, .global_pasid_max = 1000 };
	struct sva_ctx *c = NULL;
	struct sva_dev *d = NULL;

	if (sva_ctx_new(&co, &c) || sva_dev_open_mock(c, NULL, &d)) {
		ok(0, "a context with the global range [256, 1000] and its mock");
		sva_ctx_free(c);
		return;
	}
	sva_ctx_set_log(c, quiet, NULL, SVA_LOG_ERROR);
	is_int(sva_dev_bond_lookup(d, 1001, NULL, NULL), -ERANGE, "global range [256, 1000]: lookup 1001: -ERANGE");
	is_int(sva_dev_bond_lookup(d, 1000, NULL, NULL), -ENOENT, "  lookup 1000 (in range, unbound): -ENOENT");
	is_int(sva_dev_bond_lookup(d, 256, NULL, NULL), -ENOENT, "  lookup 256: -ENOENT");
	sva_dev_close(d);
	sva_ctx_free(c);
}

/* ----------------------------------------------------- poll mode, memfds */

static void poll_mode(void)
{
	struct sva_ctx_opts co = { .size = sizeof(co), .flags = SVA_CTX_FAULT_POLL };
	struct sva_ctx *pc = NULL;

	if (sva_ctx_new(&co, &pc)) {
		ok(0, "a poll-mode context");
		return;
	}
	sva_ctx_set_log(pc, quiet, NULL, SVA_LOG_ERROR);
	is_int(sva_ctx_process_faults(pc, 0), -EINVAL, "process_faults: max 0: -EINVAL");
	is_int(sva_ctx_process_faults(pc, 16), 0, "process_faults with nothing pending: 0");
	is_int(sva_ctx_fault_health(pc), 0, "fault_health in poll mode: 0");
	sva_ctx_free(pc);
}

static void memfds(char *buf)
{
	is_int(sva_ctx_share_memfd(NULL, -1, 0, buf, PG), -EINVAL, "share_memfd: NULL ctx: -EINVAL");
	is_int(sva_ctx_share_memfd(ctx, -1, 1, buf + 1, 0), -EOPNOTSUPP,
	       "share_memfd: not an isolated context, bad arguments: -EOPNOTSUPP first");
	is_int(sva_ctx_unshare_memfd(NULL, buf, PG), -EINVAL, "unshare_memfd: NULL ctx: -EINVAL");
	is_int(sva_ctx_unshare_memfd(ctx, buf + 1, 0), -EOPNOTSUPP,
	       "unshare_memfd: not an isolated context, bad arguments: -EOPNOTSUPP first");
}

/* ------------------------------------------------------------ forked child */

static void child_calls(struct sva_mm *mm, char *buf)
{
	struct sva_ctx_opts co = { .size = sizeof(co), .flags = SVA_CTX_FAULT_POLL };
	struct sva_mem_opts mo = { .size = sizeof(mo), .mm = mm };
	struct sva_ctx *pc = NULL;
	void *a = NULL;
	pid_t pid;
	int st = 0;

	if (sva_ctx_new(&co, &pc))
		pc = NULL;
	else
		sva_ctx_set_log(pc, quiet, NULL, SVA_LOG_ERROR);
	if (sva_mem_alloc(PG, &mo, &a))
		a = NULL;
	pid = fork();

	if (pid == 0) {
		struct sva_mm_stats s = { .size = sizeof(s) };
		struct sva_iova_range r[4];
		size_t nr = 4;
		int bad = 0;

		bad |= sva_mm_prefault(mm, buf, PG) != -ECHILD;
		bad |= (sva_mm_invalidate(mm, buf, PG) != -ECHILD) << 1;
		bad |= (sva_mm_fence(mm) != -ECHILD) << 2;
		bad |= (sva_mm_iova_ranges(mm, r, &nr) != -ECHILD) << 3;
		bad |= (sva_mm_stats(mm, &s) != 0 || (s.flags & SVA_MM_STAT_TRACKED)) << 4;
		bad |= (sva_ctx_fault_health(ctx) != 0) << 5;
		if (a)
			bad |= (sva_mem_free(mm, a, PG) != -ECHILD || ((volatile char *)a)[0] != 0) << 6;
		{
			void *c = NULL;

			bad |= (sva_mem_alloc(PG, &mo, &c) != -ECHILD || c != NULL) << 7;
		}
		bad |= (sva_ctx_process_faults(ctx, 1) != -EINVAL) << 8;
		if (pc)
			bad |= (sva_ctx_process_faults(pc, 1) != -ECHILD) << 9;
		bad |= (sva_ctx_share_memfd(ctx, -1, 0, buf, PG) != -EOPNOTSUPP) << 10;
		bad |= (sva_dev_inject_fault(dev, 1, (uintptr_t)buf, SVA_ACCESS_READ, 0) != -ECHILD) << 11;
		if (bad)
			printf("# child: the checks that failed: %#x\n", bad);
		fflush(stdout);
		/* The status carries 8 bits: fold the word into them. */
		_exit(bad ? (bad & 0xff) | (bad >> 8 ? 0x80 : 0) | 1 : 0);
	}
	if (pid < 0 || waitpid(pid, &st, 0) != pid) {
		ok(0, "fork");
		return;
	}
	is_int(WIFEXITED(st) ? WEXITSTATUS(st) : -1, 0,
	       "in a forked child: prefault/invalidate/fence/iova_ranges/mem_free/mem_alloc/inject -ECHILD "
	       "(mem_free unmaps nothing), stats answer untracked, fault_health answers, process_faults "
	       "-EINVAL in thread mode and -ECHILD in poll mode, share_memfd -EOPNOTSUPP first");
	if (a)
		is_int(sva_mem_free(mm, a, PG), 0, "  the parent frees its memory afterwards: 0");
	sva_ctx_free(pc);
}

/*
 * libsva(7), "Errors in a forked child", from the page's words: "What would
 * be wrong in any process [...] is -EINVAL in the child as in the parent";
 * "-ECHILD comes after those, and before everything that reads the objects'
 * present state or asks the system".  Each call is made on the parent's
 * objects in a fork(2) child with one argument wrong in a way the page names,
 * and the same call is made in the parent; then calls whose arguments are
 * right but whose object's state is wrong (an address not allocated, a
 * mapping userfaultfd cannot track, a device that is missing).
 */
struct order_case {
	const char *what;
	int child_want; /* what the child must answer */
	bool same;	/* and the parent the same */
	int parent_want; /* if not same: the parent's own error, where one is certain (0: any) */
};

static const struct order_case order_cases[] = {
	{ "sva_mm_new: NULL out", -EINVAL, true, 0 },
	{ "sva_mm_new: opts->size 3 (a bad size)", -EINVAL, true, 0 },
	{ "sva_mm_new: SVA_MM_UNTRACKED with SVA_MM_TRACK_STRICT", -EINVAL, true, 0 },
	{ "sva_mm_new: fault_around 3", -EINVAL, true, 0 },
	{ "sva_mm_prefault: a range that wraps", -EINVAL, true, 0 },
	{ "sva_mm_invalidate: a range reaching into the last page", -EINVAL, true, 0 },
	{ "sva_mm_allow: an address space not SVA_MM_RESTRICTED", -EINVAL, true, 0 },
	{ "sva_mm_deny: len 0", -EINVAL, true, 0 },
	{ "sva_mm_iova_ranges: NULL nr", -EINVAL, true, 0 },
	{ "sva_dev_open: an empty name", -EINVAL, true, 0 },
	{ "sva_dev_open: a relative path", -EINVAL, true, 0 },
	{ "sva_dev_open: vfio and 11 digits", -EINVAL, true, 0 },
	{ "sva_dev_open: NULL out", -EINVAL, true, 0 },
	{ "sva_dev_open_mock: opts->size 3", -EINVAL, true, 0 },
	{ "sva_dev_open_mock: opts->reserved not 0", -EINVAL, true, 0 },
	{ "sva_dev_inject_fault: perm with an unknown bit", -EINVAL, true, 0 },
	{ "sva_bind: NULL out", -EINVAL, true, 0 },
	{ "sva_bind: opts->reserved not 0", -EINVAL, true, 0 },
	{ "sva_bind: SVA_BIND_RID with SVA_BIND_PASID", -EINVAL, true, 0 },
	{ "sva_mem_alloc: opts->size 3, with the parent's mm", -EINVAL, true, 0 },
	{ "sva_mem_alloc: SVA_MEM_NODE and SVA_MEM_ANY_NODE, with the parent's mm", -EINVAL, true, 0 },
	{ "sva_mem_free: len 0", -EINVAL, true, 0 },
	{ "sva_ctx_fault_fd: a context that runs a fault thread", -EINVAL, true, 0 },
	{ "sva_ctx_share_memfd: not isolated, bad range: -EOPNOTSUPP (the exception)", -EOPNOTSUPP, true, 0 },
	{ "sva_ctx_unshare_memfd: not isolated, len 0: -EOPNOTSUPP (the exception)", -EOPNOTSUPP, true, 0 },
	/* Good arguments, state the call would have to read: -ECHILD. */
	{ "sva_mem_free: an address sva_mem_alloc did not return: -ECHILD", -ECHILD, false, 0 },
	{ "sva_mem_free: memory of sva_mem_alloc with another length: -ECHILD", -ECHILD, false, 0 },
	{ "sva_mm_prefault (SVA_MM_TRACK_STRICT): the vDSO, which userfaultfd cannot track: -ECHILD", -ECHILD, false, 0 },
	{ "sva_dev_open: a well-formed cdev name of no device: -ECHILD", -ECHILD, false, 0 },
	{ "sva_dev_open: a well-formed PCI address of no device: -ECHILD", -ECHILD, false, 0 },
	/* The device's bonds are its state: "busy or of the wrong kind for a bind". */
	{ "sva_bind SVA_BIND_RID, the RID bound already: -ECHILD, not -EBUSY", -ECHILD, false, -EBUSY },
	{ "sva_bind, the device bound to the address space under a PASID already: -ECHILD, not -EEXIST", -ECHILD, false,
	  -EEXIST },
};

#define NORDER (sizeof(order_cases) / sizeof(order_cases[0]))

static void order_calls(struct sva_mm *mm, struct sva_mm *strict, char *buf, void *mem, int *got)
{
	struct sva_mm_opts o3 = { .size = 3 };
	struct sva_mm_opts both = { .size = sizeof(both), .flags = SVA_MM_UNTRACKED | SVA_MM_TRACK_STRICT };
	struct sva_mm_opts around = { .size = sizeof(around), .fault_around = 3 };
	struct sva_mock_opts k3 = { .size = 3 }, kres = { .size = sizeof(kres), .reserved = 1 };
	struct sva_bind_opts bres = { .size = sizeof(bres), .reserved = 1 };
	struct sva_bind_opts ridp = { .size = sizeof(ridp), .flags = SVA_BIND_RID | SVA_BIND_PASID, .pasid = 5 };
	struct sva_mem_opts m3 = { .size = 3, .mm = mm };
	struct sva_mem_opts nodes = { .size = sizeof(nodes), .mm = mm, .flags = SVA_MEM_NODE | SVA_MEM_ANY_NODE };
	void *vdso = (void *)(uintptr_t)getauxval(AT_SYSINFO_EHDR);
	struct sva_mm *m = NULL;
	struct sva_dev *d = NULL;
	void *q = NULL;
	int i = 0;

	got[i++] = sva_mm_new(ctx, NULL, NULL);
	got[i++] = sva_mm_new(ctx, &o3, &m);
	got[i++] = sva_mm_new(ctx, &both, &m);
	got[i++] = sva_mm_new(ctx, &around, &m);
	got[i++] = sva_mm_prefault(mm, buf, SIZE_MAX - PG);
	got[i++] = (int)sva_mm_invalidate(mm, (void *)(uintptr_t)(UINT64_MAX - 2 * PG + 1), 2 * PG);
	got[i++] = sva_mm_allow(mm, buf, PG);
	got[i++] = sva_mm_deny(mm, buf, 0);
	got[i++] = sva_mm_iova_ranges(mm, NULL, NULL);
	got[i++] = sva_dev_open(ctx, "", &d);
	got[i++] = sva_dev_open(ctx, "dev/vfio/devices/vfio0", &d);
	got[i++] = sva_dev_open(ctx, "vfio12345678901", &d);
	got[i++] = sva_dev_open(ctx, "vfio0", NULL);
	got[i++] = sva_dev_open_mock(ctx, &k3, &d);
	got[i++] = sva_dev_open_mock(ctx, &kres, &d);
	got[i++] = sva_dev_inject_fault(dev, 1, (uintptr_t)buf, 0x80000000u, 0);
	got[i++] = sva_bind(dev, mm, NULL, NULL);
	{
		struct sva_bond *b = NULL;

		got[i++] = sva_bind(dev, mm, &bres, &b);
		got[i++] = sva_bind(dev, mm, &ridp, &b);
	}
	got[i++] = sva_mem_alloc(PG, &m3, &q);
	got[i++] = sva_mem_alloc(PG, &nodes, &q);
	got[i++] = sva_mem_free(mm, buf, 0);
	got[i++] = sva_ctx_fault_fd(ctx);
	got[i++] = sva_ctx_share_memfd(ctx, -1, 1, buf + 1, 0);
	got[i++] = sva_ctx_unshare_memfd(ctx, buf, 0);
	got[i++] = sva_mem_free(mm, buf, PG);
	got[i++] = mem ? sva_mem_free(mm, mem, 3 * PG) : -ECHILD;
	got[i++] = vdso ? sva_mm_prefault(strict, vdso, PG) : -ECHILD;
	got[i++] = sva_dev_open(ctx, "vfio4000000000", &d);
	got[i++] = sva_dev_open(ctx, "00fe:1f:1f.7", &d);
	{
		struct sva_bind_opts rid = { .size = sizeof(rid), .flags = SVA_BIND_RID | SVA_BIND_PINNED };
		struct sva_bind_opts pasid = { .size = sizeof(pasid), .flags = SVA_BIND_PINNED };
		struct sva_bond *b = NULL;

		got[i++] = sva_bind(dev, mm, &rid, &b);
		got[i++] = sva_bind(dev, mm, &pasid, &b);
	}
	if (i != (int)NORDER)
		abort();
}

static void child_error_order(struct sva_mm *mm, char *buf)
{
	struct sva_mm *strict = new_mm(SVA_MM_TRACK_STRICT);
	struct sva_mem_opts mo = { .size = sizeof(mo), .mm = mm };
	void *mem = NULL;
	int child[NORDER], parent[NORDER], pfd[2], st = 0;
	size_t n = 0;
	ssize_t r;
	pid_t pid;

	struct sva_bind_opts rid = { .size = sizeof(rid), .flags = SVA_BIND_RID | SVA_BIND_PINNED };
	struct sva_bind_opts pasid = { .size = sizeof(pasid), .flags = SVA_BIND_PINNED };
	struct sva_bond *rb = NULL, *pb = NULL;

	if (sva_mem_alloc(PG, &mo, &mem))
		mem = NULL;
	ok(mem != NULL, "order: one page of sva_mem_alloc() for the length case");
	is_int(sva_bind(dev, mm, &rid, &rb), 0, "order: the parent binds the mock's RID");
	is_int(sva_bind(dev, mm, &pasid, &pb), 0, "order: the parent binds the mock to the address space under a PASID");
	if (pipe(pfd)) {
		ok(0, "pipe");
		sva_mm_free(strict);
		return;
	}
	pid = fork();
	if (pid == 0) {
		close(pfd[0]);
		order_calls(mm, strict, buf, mem, child);
		_exit(write(pfd[1], child, sizeof(child)) == (ssize_t)sizeof(child) ? 0 : 1);
	}
	close(pfd[1]);
	while (pid > 0 && n < sizeof(child) && (r = read(pfd[0], (char *)child + n, sizeof(child) - n)) > 0)
		n += (size_t)r;
	close(pfd[0]);
	if (pid < 0 || waitpid(pid, &st, 0) != pid || !WIFEXITED(st) || WEXITSTATUS(st) || n != sizeof(child)) {
		ok(0, "the forked child reports its answers (status %#x)", (unsigned)st);
		sva_mm_free(strict);
		return;
	}
	order_calls(mm, strict, buf, mem, parent);
	for (size_t i = 0; i < NORDER; i++) {
		is_int(child[i], order_cases[i].child_want, "forked child, %s", order_cases[i].what);
		if (order_cases[i].same)
			is_int(parent[i], child[i], "  the parent's answer is the same");
		else if (order_cases[i].parent_want)
			is_int(parent[i], order_cases[i].parent_want, "  the parent's is an error of its own");
		else
			ok(parent[i] < 0 && parent[i] != -ECHILD, "  the parent's is an error of its own (%d)",
			   parent[i]);
	}
	if (rb)
		is_int(sva_unbind(rb), 0, "  the parent's RID bond is still its own to unbind: 0");
	if (pb)
		is_int(sva_unbind(pb), 0, "  the parent's PASID bond is still its own to unbind: 0");
	if (mem)
		is_int(sva_mem_free(mm, mem, PG), 0, "  the page is still the parent's to free: 0");
	sva_mm_free(strict);
}

int main(void)
{
	struct sva_mm *mm;
	char *buf;
	uint64_t t0 = now_ms();
	int ret;

	/* In the test VM both must be there: a skip would hide their loss. */
	if (access("/dev/iommu", R_OK | W_OK)) {
		if (getenv("SVA_VM"))
			tap_bail("no usable /dev/iommu in the test VM");
		skip_all("no usable /dev/iommu");
	}
	if (sva_ctx_new(NULL, &ctx))
		tap_bail("sva_ctx_new");
	sva_ctx_set_log(ctx, count, NULL, SVA_LOG_DEBUG);
	ret = sva_dev_open_mock(ctx, NULL, &dev);
	if (ret) {
		if (getenv("SVA_VM"))
			tap_bail("no mock device in the test VM (%s)", strerror(-ret));
		sva_ctx_free(ctx);
		skip_all("no mock device");
	}
	mm_new_opts();
	mm = new_mm(0);
	logging(mm);
	/* In the mock's window [16 MiB, 2 GiB). */
	buf = mmap((void *)(uintptr_t)0x50000000ul, 128 * PG, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
	if (buf == MAP_FAILED)
		tap_bail("mmap in the mock's window");
	memset(buf, 1, 128 * PG);
	stats_layouts(mm);
	iova_ranges(mm);
	range_errors(mm, buf);
	restricted(buf);
	mem(mm);
	bonds(mm, buf);
	fault_reasons(buf);
	rid_and_pinned(buf);
	budget(buf);
	budget_faults(buf);
	many_mappings();
	chunks(buf);
	allow_ranges(buf);
	budget_prefault(buf);
	soft_limit_budget();
	prefault_undone();
	prefault_steps();
	mem_more();
	allow_model();
	budget_windows(buf);
	window_clipped();
	clock_order(buf);
	foreign_uffd();
	mem_free_refused(0);
	mem_free_refused(SVA_MM_RESTRICTED);
	prefault_in_fault_chunk(buf);
	mem_restricted();
	poll_mode();
	poll_faults(buf);
	narrow_global();
	real_device();
	memfds(buf);
	child_calls(mm, buf);
	child_error_order(mm, buf);
	sva_mm_free(mm);
	sva_dev_close(dev);
	sva_ctx_free(ctx);
	diag("took %llu ms", (unsigned long long)(now_ms() - t0));
	return done_testing();
}
