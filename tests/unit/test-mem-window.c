/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The placement allocator without a kernel.
 *  1. The pure parts (mem_window.c): range normalization and intersection, and
 *     the gap search on synthetic windows and mappings (empty and full windows,
 *     exact fits, alignment, the MSI hole, several ranges, the top of the 64-bit
 *     space), then checked against a brute-force search on random inputs.
 *  2. sva_mem_alloc()/sva_mem_free() over the whole address space (no address
 *     space, no device): usable memory, every error with exactly one log line
 *     and nothing left mapped, NUMA nodes, SVA_MEM_HUGE, the EEXIST retry,
 *     threads allocating and freeing concurrently without overlap, two threads
 *     freeing one allocation, a munmap the kernel refuses, and the room kept
 *     above the program break and below the stack.
 */
#include <errno.h>
#include <fcntl.h>
#include <numa.h>
#include <numaif.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fork.h"
#include "internal.h"
#include "mem_window.h"
#include "../hugetlb.h"
#include "../map_fill.h"
#include "../proc_number.h"
#include "../tap.h"

#define KiB (1ull << 10)
#define MiB (1ull << 20)
#define GiB (1ull << 30)
#define PG 4096ull

typedef struct sva_iova_range R;

/* ------------------------------------------------------------ pure parts */

/* The gap search on copies (it reorders its inputs). */
static int gap(const R *win, size_t nwin, const R *busy, size_t nbusy, uint64_t len, uint64_t align, uint64_t *out)
{
	R w[64], b[64];

	memcpy(w, win, nwin * sizeof(*w));
	memcpy(b, busy, nbusy * sizeof(*b));
	return sva_mem_find_gap(w, &nwin, b, &nbusy, len, align, out);
}

#define GAP_IS(win, busy, len, align, want, what)                                                        \
	do {                                                                                             \
		uint64_t got_ = 0xdeadbeef;                                                              \
		int r_ = gap(win, ARRAY_SIZE(win), busy, ARRAY_SIZE(busy), len, align, &got_);          \
		ok(r_ == 0 && got_ == (want), "%s: 0x%llx (got %d, 0x%llx)", what, (unsigned long long)(want), \
		   r_, (unsigned long long)got_);                                                        \
	} while (0)

#define GAP_FAILS(win, nwin, busy, nbusy, len, align, err, what)                \
	do {                                                                    \
		uint64_t got_ = 0xdeadbeef;                                     \
		int r_ = gap(win, nwin, busy, nbusy, len, align, &got_);        \
		ok(r_ == (err) && got_ == 0xdeadbeef, "%s: %s", what, #err);    \
	} while (0)

static void normalize_checks(void)
{
	R r[] = { { 0x5000, 0x5fff }, { 0x1000, 0x1fff }, { 0x2000, 0x2fff }, { 0x9000, 0x8000 },
		  { 0x1800, 0x1900 }, { 0x4000, 0x5800 }, { UINT64_MAX - 9, UINT64_MAX }, { UINT64_MAX, UINT64_MAX } };
	size_t n = sva_mem_ranges_normalize(r, ARRAY_SIZE(r));

	is_int(n, 3, "normalize: adjacent and nested ranges merge, empty ones go");
	ok(r[0].start == 0x1000 && r[0].last == 0x2fff, "normalize: [0x1000,0x1fff]+[0x2000,0x2fff] touch: one range");
	ok(r[1].start == 0x4000 && r[1].last == 0x5fff, "normalize: overlapping ranges merge");
	ok(r[2].start == UINT64_MAX - 9 && r[2].last == UINT64_MAX, "normalize: a range ending at 2^64-1");
	is_int(sva_mem_ranges_normalize(r, 0), 0, "normalize: nothing");

	R a[] = { { 0, 0xfedfffff }, { 0xfef00000, (1ull << 39) - 1 } };
	R b[] = { { 0x1000000, 0x7fffffff } };
	R c[] = { { 0x10000, (1ull << 47) - 1 } };
	R o[4];

	is_int(sva_mem_ranges_intersect(a, 2, b, 1, o, 4), 1, "intersect: the mock aperture inside VT-d's window");
	ok(o[0].start == 0x1000000 && o[0].last == 0x7fffffff, "intersect: is the mock aperture");
	is_int(sva_mem_ranges_intersect(a, 2, c, 1, o, 4), 2, "intersect: VT-d 39 and the user space: two ranges");
	ok(o[0].start == 0x10000 && o[0].last == 0xfedfffff && o[1].start == 0xfef00000 &&
		   o[1].last == (1ull << 39) - 1,
	   "intersect: the floor clips the first, the hole stays");
	is_int(sva_mem_ranges_intersect(a, 2, c, 1, o, 1), 2, "intersect: too small an output: the count needed");
	ok(o[0].start == 0x10000 && o[0].last == 0xfedfffff, "intersect: and the lowest range");
	is_int(sva_mem_ranges_intersect(a, 2, b, 0, o, 4), 0, "intersect with nothing: nothing");
}

static void gap_checks(void)
{
	const R none[1] = { { 1, 0 } }; /* empty: last < start */
	const R w1[] = { { 0x1000, 0x2fff } };
	const R all[] = { { 0, UINT64_MAX } };
	uint64_t got;

	GAP_FAILS(none, 0, none, 0, PG, PG, -ENOSPC, "empty window");
	{
		const R busy[] = { { 0, 0xffffffff } };
		const R win[] = { { 0x1000000, 0x7fffffff } };

		GAP_FAILS(win, 1, busy, 1, PG, PG, -ENOSPC, "window full");
	}
	{
		const R busy[] = { { 0x1000000, 0x1ffffff }, { 0x2001000, 0x7fffffff } };
		const R win[] = { { 0x1000000, 0x7fffffff } };

		GAP_IS(win, busy, PG, PG, 0x2000000ull, "the only free page of the mock window");
		GAP_FAILS(win, 1, busy, 2, 2 * PG, PG, -ENOSPC, "two pages do not fit in it");
	}
	GAP_IS(w1, none, 0x2000, PG, 0x1000ull, "exact fit of a whole window");
	GAP_FAILS(w1, 1, none, 0, 0x2001, PG, -ENOSPC, "one byte more than the window");
	{
		const R win[] = { { 0, 0xffff } };
		const R busy[] = { { 0, 0xfff }, { 0x3000, 0xffff } };

		GAP_IS(win, busy, 0x2000, PG, 0x1000ull, "exact fit between two mappings");
		GAP_FAILS(win, 1, busy, 2, 0x3000, PG, -ENOSPC, "a page too many between them");
	}
	{
		const R win[] = { { 0x1000, 0x3fff } };
		const R busy[] = { { 0x1000, 0x1fff } };

		GAP_IS(win, busy, PG, PG, 0x2000ull, "right after a mapping at the window's start");
	}
	{
		const R win[] = { { 0x1001, 0x100000 } };

		GAP_IS(win, none, PG, PG, 0x2000ull, "an unaligned window start is rounded up");
	}
	{
		const R win[] = { { 0x1000, 0x5fffff } };

		GAP_IS(win, none, 2 * MiB, 2 * MiB, 2 * MiB, "2 MiB alignment");
		GAP_IS(win, none, 4 * MiB, 2 * MiB, 2 * MiB, "2 MiB aligned, exactly to the window's end");
		GAP_FAILS(win, 1, none, 0, 4 * MiB + 2 * MiB, 2 * MiB, -ENOSPC, "6 MiB aligned: no room");
	}
	{
		const R win[] = { { 0x10000, 0x7fffffff } };
		const R busy[] = { { 0x10000, 0x2fffff } };

		GAP_IS(win, busy, 2 * MiB, 2 * MiB, 4 * MiB, "alignment after a mapping: the next 2 MiB boundary");
		GAP_IS(win, busy, PG, PG, 0x300000ull, "4 KiB: right after it");
	}
	/* VT-d 39-bit with the MSI hole. */
	{
		const R win[] = { { 0x10000, 0xfedfffff }, { 0xfef00000, (1ull << 39) - 1 } };
		const R busy[] = { { 0, 0xfecfffff } };

		GAP_IS(win, busy, 1 * MiB, PG, 0xfed00000ull, "exact fit just below the MSI hole");
		GAP_IS(win, busy, 2 * MiB, PG, 0xfef00000ull, "too big for below the hole: just above it");
		GAP_IS(win, busy, 2 * MiB, 2 * MiB, 0xff000000ull, "2 MiB aligned above the hole");
	}
	{
		const R win[] = { { 0x10000, 0xfedfffff }, { 0xfef00000, (1ull << 39) - 1 } };
		const R busy[] = { { 0, (1ull << 39) - 4 * MiB - 1 } };

		GAP_IS(win, busy, 4 * MiB, PG, (1ull << 39) - 4 * MiB, "exact fit at the top of 2^39");
		GAP_FAILS(win, 2, busy, 1, 4 * MiB + PG, PG, -ENOSPC, "a page more: beyond 2^39");
	}
	/* Several ranges, given out of order; the lowest fit wins. */
	{
		const R win[] = { { 0x40000000, 0x4fffffff }, { 0x10000000, 0x10003fff }, { 0x20000000, 0x2fffffff } };
		const R busy[] = { { 0x20000000, 0x20000fff } };

		GAP_IS(win, busy, 0x4000, PG, 0x10000000ull, "several ranges out of order: the lowest that fits");
		GAP_IS(win, busy, 0x5000, PG, 0x20001000ull, "too big for the first: the next, after its mapping");
		GAP_IS(win, busy, 0x10000000, PG, 0x40000000ull, "only the last is big enough");
	}
	/* Busy ranges out of order and overlapping (maps plus chunks plus reserves). */
	{
		const R win[] = { { 0x10000, 0xffffffff } };
		const R busy[] = { { 0x30000, 0x3ffff }, { 0x10000, 0x1ffff }, { 0x18000, 0x2ffff }, { 0x50000, 0x5ffff } };

		GAP_IS(win, busy, 0x10000, PG, 0x40000ull, "overlapping, unsorted mappings");
		GAP_IS(win, busy, 0x10001, PG, 0x60000ull, "the same, one byte too many for the hole");
	}
	/* The top of the 64-bit space: no overflow. */
	{
		const R win[] = { { UINT64_MAX - 0xfff, UINT64_MAX } };
		const R busy[] = { { UINT64_MAX, UINT64_MAX } };

		GAP_IS(win, none, PG, PG, UINT64_MAX - 0xfff, "the last page of the 64-bit space");
		GAP_FAILS(win, 1, busy, 1, PG, PG, -ENOSPC, "its last byte taken");
		const R from1[] = { { 1, UINT64_MAX } };
		const R ends[] = { { 0, 0 }, { UINT64_MAX, UINT64_MAX } };

		GAP_IS(all, none, UINT64_MAX, PG, 0ull, "2^64-1 bytes fit the whole space at 0");
		GAP_FAILS(from1, 1, none, 0, UINT64_MAX - PG + 2, PG, -ENOSPC, "2^64-4094 bytes from 4 KiB: -ENOSPC");
		GAP_IS(all, none, 1ull << 63, 1ull << 63, 0ull, "2^63 bytes aligned to 2^63 at 0");
		GAP_FAILS(all, 1, ends, 2, 1ull << 63, 1ull << 63, -ENOSPC,
			  "2^63 aligned to 2^63 with the first and last bytes taken");
	}
	{
		const R busy[] = { { 0, UINT64_MAX - 0x1000 } };

		ok(gap(all, 1, busy, 1, 0x1000, 0x2000, &got) == -ENOSPC,
		   "the only free page is not 8 KiB aligned: -ENOSPC at 8 KiB alignment");
		ok(gap(all, 1, busy, 1, 0x1000, 0x1000, &got) == 0 && got == UINT64_MAX - 0xfff,
		   "and found at 4 KiB alignment");
	}
	GAP_FAILS(all, 1, none, 0, 0, PG, -EINVAL, "len 0: -EINVAL");
	GAP_FAILS(all, 1, none, 0, PG, 0, -EINVAL, "align 0: -EINVAL");
	GAP_FAILS(all, 1, none, 0, PG, 3 * PG, -EINVAL, "align not a power of two: -EINVAL");
}

/* The guarded search: from 16 MiB up while the window has room there. */
static int gap_guarded(const R *win, size_t nwin, const R *busy, size_t nbusy, uint64_t len, uint64_t *out)
{
	R w[64], b[64];

	memcpy(w, win, nwin * sizeof(*w));
	memcpy(b, busy, nbusy * sizeof(*b));
	return sva_mem_find_gap_guarded(w, &nwin, b, &nbusy, len, PG, 16 * MiB, out);
}

#define GUARDED_IS(win, busy, len, want, what)                                                            \
	do {                                                                                              \
		uint64_t got_ = 0xdeadbeef;                                                               \
		int r_ = gap_guarded(win, ARRAY_SIZE(win), busy, ARRAY_SIZE(busy), len, &got_);          \
		ok(r_ == 0 && got_ == (want), "guard: %s: 0x%llx (got %d, 0x%llx)", what,                 \
		   (unsigned long long)(want), r_, (unsigned long long)got_);                             \
	} while (0)

static void guard_checks(void)
{
	const R none[] = { { 1, 0 } }; /* empty: dropped by normalization */
	const R user[] = { { 64 * KiB, (1ull << 47) - 1 } };
	const R low[] = { { 64 * KiB, 8 * MiB - 1 } };
	const R straddle[] = { { 64 * KiB, 17 * MiB - 1 } };
	const R mock[] = { { 16 * MiB, 2 * GiB - 1 } };
	const R guard_full[] = { { 16 * MiB, (1ull << 47) - 1 } };
	const R guard_part[] = { { 16 * MiB, 20 * MiB - 1 } };
	uint64_t got;

	GUARDED_IS(user, none, PG, 16 * MiB, "the whole user space: at 16 MiB, not at 64 KiB");
	GUARDED_IS(user, guard_part, PG, 20 * MiB, "16-20 MiB taken: above them, though low memory is free");
	GUARDED_IS(mock, none, PG, 16 * MiB, "the mock's window starts at the guard: at 16 MiB");
	GUARDED_IS(low, none, PG, 64 * KiB, "a window below 16 MiB: as low as it goes");
	GUARDED_IS(straddle, none, 2 * MiB, 64 * KiB, "2 MiB do not fit above 16 MiB in [64 KiB, 17 MiB): below");
	GUARDED_IS(straddle, none, MiB, 16 * MiB, "1 MiB does: above");
	GUARDED_IS(user, guard_full, PG, 64 * KiB, "everything above 16 MiB taken: below it");
	ok(gap_guarded(low, 1, none, 1, 8 * MiB, &got) == -ENOSPC, "guard: more than the window: -ENOSPC");
}

/* ----------------------------------------- brute force, on random inputs */

static uint64_t rng = 88172645463325252ull;

static uint64_t rnd(uint64_t n)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng % n;
}

/* Is every byte of [a, last] in some range of win (the window is their union)? */
static int covered(const R *win, size_t nwin, uint64_t a, uint64_t last)
{
	for (;;) {
		size_t i;

		for (i = 0; i < nwin; i++)
			if (win[i].start <= win[i].last && win[i].start <= a && a <= win[i].last)
				break;
		if (i == nwin)
			return 0;
		if (win[i].last >= last)
			return 1;
		a = win[i].last + 1;
	}
}

/* The lowest aligned address of [0, 64 units) that fits, address by address. */
static int brute(const R *win, size_t nwin, const R *busy, size_t nbusy, uint64_t len, uint64_t align, uint64_t *out)
{
	for (uint64_t a = 0; a + len <= 64 * PG; a += align) {
		int inside = covered(win, nwin, a, a + len - 1), clash = 0;

		for (size_t i = 0; i < nbusy; i++)
			if (busy[i].start <= busy[i].last && busy[i].start <= a + len - 1 && busy[i].last >= a)
				clash = 1;
		if (inside && !clash) {
			*out = a;
			return 0;
		}
	}
	return -ENOSPC;
}

static void random_checks(void)
{
	int mismatches = 0, found = 0, runs = 20000;

	for (int run = 0; run < runs; run++) {
		R win[6], busy[10];
		size_t nwin = rnd(7), nbusy = rnd(11);
		uint64_t len = (1 + rnd(8)) * PG, align = PG << rnd(3), a = 1, b = 2;
		int ra, rb;

		for (size_t i = 0; i < nwin; i++) {
			uint64_t s = rnd(64), l = rnd(24);

			/* Byte-granular edges, empty ranges now and then. */
			win[i].start = s * PG + (rnd(4) == 0 ? rnd(PG) : 0);
			win[i].last = rnd(8) == 0 ? win[i].start - 1 : (s + l) * PG + PG - 1 - (rnd(4) == 0 ? rnd(PG) : 0);
		}
		for (size_t i = 0; i < nbusy; i++) {
			uint64_t s = rnd(64), l = rnd(6);

			busy[i].start = s * PG;
			busy[i].last = (s + l) * PG + PG - 1;
		}
		ra = gap(win, nwin, busy, nbusy, len, align, &a);
		rb = brute(win, nwin, busy, nbusy, len, align, &b);
		/* Window ranges may reach past the brute force's 64 units. */
		if (ra == 0 && a + len > 64 * PG)
			ra = -ENOSPC;
		if (ra != rb || (ra == 0 && a != b)) {
			if (mismatches++ < 5)
				diag("mismatch: len 0x%llx align 0x%llx: search %d 0x%llx, brute force %d 0x%llx",
				     (unsigned long long)len, (unsigned long long)align, ra, (unsigned long long)a, rb,
				     (unsigned long long)b);
		}
		found += ra == 0;
	}
	is_int(mismatches, 0, "the gap search agrees with a brute-force search on %d random inputs (%d fits)", runs,
	       found);
}

/* ------------------------------------------------ the allocator, no kernel */

/* Error lines of the process-wide log (calls with no context log there). */
static pthread_mutex_t err_lock = PTHREAD_MUTEX_INITIALIZER;
static int err_lines, warn_lines, dbg_lines;
static char err_last[512], alloc_last[512];

static void capture(void *arg, enum sva_log_level level, const char *msg)
{
	(void)arg;
	pthread_mutex_lock(&err_lock);
	if (level >= SVA_LOG_WARN) {
		err_lines++;
		warn_lines += level == SVA_LOG_WARN;
		snprintf(err_last, sizeof(err_last), "%s", msg);
	} else if (level == SVA_LOG_DEBUG && strncmp(msg, "sva_mem_alloc: 0x", 17) != 0) {
		dbg_lines++; /* not counting the debug line of a success */
	} else if (level == SVA_LOG_DEBUG) {
		snprintf(alloc_last, sizeof(alloc_last), "%s", msg);
	}
	pthread_mutex_unlock(&err_lock);
}

static void errlog_start(void)
{
	err_lines = 0;
	warn_lines = 0;
	dbg_lines = 0;
	err_last[0] = '\0';
}

static int errlog_lines(char *last, size_t size)
{
	snprintf(last, size, "%s", err_last);
	return err_lines;
}

/* Expect `call` to fail with `err`, log one error line, map nothing, leave out alone. */
#define EXPECT_FAIL(call, err, what)                                                                     \
	do {                                                                                             \
		int maps_ = proc_maps_lines(), r_, n_;                                                        \
		char last_[512] = "";                                                                    \
		errlog_start();                                                                          \
		r_ = (call);                                                                             \
		n_ = errlog_lines(last_, sizeof(last_));                                                 \
		is_int(r_, err, "%s: %s", what, #err);                                                   \
		ok(n_ == 1, "%s: one error line (%d: %s)", what, n_, last_);                            \
		is_int(proc_maps_lines(), maps_, "%s: nothing left mapped", what);                           \
	} while (0)

/* Expect `call` to fail with `err`, an expected outcome (libsva(7), Errors):
 * no error or warning line, one debug line, nothing mapped, out left alone. */
#define EXPECT_OUTCOME(call, err, what)                                                                  \
	do {                                                                                             \
		int maps_ = proc_maps_lines(), r_, n_;                                                        \
		char last_[512] = "";                                                                    \
		errlog_start();                                                                          \
		r_ = (call);                                                                             \
		n_ = errlog_lines(last_, sizeof(last_));                                                 \
		is_int(r_, err, "%s: %s", what, #err);                                                   \
		ok(n_ == 0 && dbg_lines == 1, "%s: no error line, one debug line (%d: %s; %d)", what, n_,  \
		   last_, dbg_lines);                                                                    \
		is_int(proc_maps_lines(), maps_, "%s: nothing left mapped", what);                           \
	} while (0)

static void alloc_basics(void)
{
	void *p = NULL, *q, *untouched = (void *)0x1234;
	unsigned char *c;
	int bad = 0;

	if (!is_int(sva_mem_alloc(10000, NULL, &p), 0, "alloc 10000 bytes, NULL opts"))
		return;
	ok(((uintptr_t)p & (PG - 1)) == 0, "page aligned (%p)", p);
	ok((uintptr_t)p >= 16 * MiB, "not in the first 16 MiB, the guard against NULL-plus-offset bugs (%p)", p);
	c = p;
	for (unsigned i = 0; i < 3 * PG; i++)
		c[i] = (unsigned char)(i * 31 + 7);
	for (unsigned i = 0; i < 3 * PG; i++)
		bad += c[i] != (unsigned char)(i * 31 + 7);
	is_int(bad, 0, "all three pages are usable");
	is_int(sva_mem_backing(p), SVA_MEM_BACKING_PAGES, "backed by base pages");

	EXPECT_FAIL(sva_mem_free(NULL, p, 9999), -EINVAL, "free with a wrong len");
	EXPECT_FAIL(sva_mem_free(NULL, c + PG, 10000 - PG), -EINVAL, "free of a pointer inside the allocation");
	is_int(sva_mem_free(NULL, p, 10000), 0, "free with the len asked for");
	EXPECT_FAIL(sva_mem_free(NULL, p, 10000), -EINVAL, "double free");
	is_int(sva_mem_backing(p), -ENOENT, "no longer in the table");

	is_int(sva_mem_alloc(10000, NULL, &q), 0, "alloc again");
	is_int(sva_mem_free(NULL, q, 3 * PG), 0, "free with the rounded length works too");

	EXPECT_FAIL(sva_mem_free(NULL, &bad, sizeof(bad)), -EINVAL, "free of a stack variable");
	c = malloc(100);
	EXPECT_FAIL(sva_mem_free(NULL, c, 100), -EINVAL, "free of malloc() memory");
	free(c);
	EXPECT_FAIL(sva_mem_free(NULL, NULL, 100), -EINVAL, "free of NULL");
	EXPECT_FAIL(sva_mem_free(NULL, p, 0), -EINVAL, "free of 0 bytes");

	/* Errors of sva_mem_alloc. */
	struct sva_mem_opts o = { .size = sizeof(o), .flags = SVA_MEM_ANY_NODE };
	struct {
		struct sva_mem_opts o;
		uint64_t future;
	} big = { .o = { .size = sizeof(big) }, .future = 1 };
	size_t small = 4;

	EXPECT_FAIL(sva_mem_alloc(0, &o, &untouched), -EINVAL, "alloc of 0 bytes");
	EXPECT_FAIL(sva_mem_alloc(PG, &o, NULL), -EINVAL, "alloc with NULL out");
	EXPECT_FAIL(sva_mem_alloc(PG, (const struct sva_mem_opts *)&small, &untouched), -EINVAL,
		    "opts size smaller than size_t");
	EXPECT_FAIL(sva_mem_alloc(PG, &big.o, &untouched), -EINVAL, "a bigger opts with an unknown field set");
	big.future = 0;
	ok(sva_mem_alloc(PG, &big.o, &q) == 0 && sva_mem_free(NULL, q, PG) == 0,
	   "a bigger opts with its unknown fields zero works");
	o.flags = 1u << 7;
	EXPECT_FAIL(sva_mem_alloc(PG, &o, &untouched), -EINVAL, "unknown flags");
	o.flags = SVA_MEM_PREFAULT;
	EXPECT_FAIL(sva_mem_alloc(PG, &o, &untouched), -EINVAL, "SVA_MEM_PREFAULT without an address space");
	o.flags = SVA_MEM_NODE;
	o.numa_node = -3;
	EXPECT_FAIL(sva_mem_alloc(PG, &o, &untouched), -EINVAL, "SVA_MEM_NODE with NUMA node -3");
	o.numa_node = 9999;
	EXPECT_FAIL(sva_mem_alloc(PG, &o, &untouched), -ENODEV, "NUMA node 9999 does not exist");
	o.flags = SVA_MEM_NODE | SVA_MEM_ANY_NODE;
	o.numa_node = 0;
	EXPECT_FAIL(sva_mem_alloc(PG, &o, &untouched), -EINVAL, "SVA_MEM_NODE and SVA_MEM_ANY_NODE together");
	o.flags = SVA_MEM_ANY_NODE;
	EXPECT_OUTCOME(sva_mem_alloc(SIZE_MAX, &o, &untouched), -ENOSPC, "SIZE_MAX bytes");
	EXPECT_OUTCOME(sva_mem_alloc(SIZE_MAX / 2, &o, &untouched), -ENOSPC, "SIZE_MAX / 2 bytes: more than user space");
	ok(untouched == (void *)0x1234, "failed calls leave *out alone");
}

static void numa_checks(void)
{
	struct sva_mem_opts o = { .size = sizeof(o), .flags = SVA_MEM_ANY_NODE };
	struct sva_mem_opts zeroed = { .size = sizeof(zeroed) };
	int mode = -1;
	void *p;

	if (is_int(sva_mem_alloc(PG, &zeroed, &p), 0, "a zeroed opts (no device) works")) {
		if (numa_available() >= 0) {
			is_int(get_mempolicy(&mode, NULL, 0, p, MPOL_F_ADDR), 0, "get_mempolicy of it");
			is_int(mode, MPOL_DEFAULT, "a zeroed opts asks for no node, not node 0");
		} else {
			skip(2, "no NUMA support here (numa_available() < 0)");
		}
		sva_mem_free(NULL, p, PG);
	}
	if (is_int(sva_mem_alloc(PG, &o, &p), 0, "SVA_MEM_ANY_NODE works")) {
		if (numa_available() >= 0) {
			is_int(get_mempolicy(&mode, NULL, 0, p, MPOL_F_ADDR), 0, "get_mempolicy of it");
			is_int(mode, MPOL_DEFAULT, "SVA_MEM_ANY_NODE: no policy of its own");
		} else {
			skip(2, "no NUMA support here (numa_available() < 0)");
		}
		sva_mem_free(NULL, p, PG);
	}
	o.flags = 0;
	ok(sva_mem_alloc(PG, &o, &p) == 0 && sva_mem_free(NULL, p, PG) == 0,
	   "the device's node without a device: no placement, works");
	o.flags = SVA_MEM_NODE;
	o.numa_node = 0;
	if (is_int(sva_mem_alloc(4 * PG, &o, &p), 0, "node 0 works")) {
		if (numa_available() >= 0) {
			unsigned long mask[16] = { 0 };

			mode = -1;
			is_int(get_mempolicy(&mode, mask, 16 * 8 * sizeof(long), p, MPOL_F_ADDR), 0, "get_mempolicy of it");
			ok(mode == MPOL_PREFERRED && (mask[0] & 1), "node 0 is the preferred node (mode %d, mask 0x%lx)",
			   mode, mask[0]);
			int r;

			*(volatile char *)p = 1;
			mode = -1;
			r = get_mempolicy(&mode, NULL, 0, p, MPOL_F_ADDR | MPOL_F_NODE);
			ok(r == 0 && mode == 0, "a touched page is on node 0 (%d)", mode);
		} else {
			skip(3, "no NUMA support here (numa_available() < 0)");
		}
		sva_mem_free(NULL, p, 4 * PG);
	}
	o.numa_node = numa_available() >= 0 ? numa_max_node() + 1 : 1;
	EXPECT_FAIL(sva_mem_alloc(PG, &o, &p), -ENODEV, "the first node beyond the last one");
}

/* A seccomp filter answering mbind(2) with err, for good: call it in a child. */
static int refuse_mbind(int err)
{
	struct sock_filter f[] = {
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_mbind, 0, 1),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | (unsigned)err),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
	};
	struct sock_fprog prog = { .len = sizeof(f) / sizeof(f[0]), .filter = f };

	return prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) || prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog) ? -1 : 0;
}

/*
 * sva_mem_alloc(3), NUMA and ERRORS: the device's node is a preference, and
 * mbind(2)'s errors are passed through only for a node SVA_MEM_NODE names.
 * Whatever mbind(2) answers for the device's node, the memory is left
 * unplaced and the call succeeds; the named node fails with the error.  What
 * a system may answer (EPERM, ENOSYS of a sandbox, or any errno a seccomp
 * filter was told to give, as systemd's SystemCallErrorNumber=EACCES; EINVAL
 * of a cpuset changed since the node was checked; ENOMEM) is said at debug
 * level; only EFAULT (the range libsva gave is not mapped) can only be a
 * libsva bug and is a warning.  A fake device on node 0 whose RID is not attached (it adds
 * nothing to the window), in a child per errno, as the filter stays.
 * Exit status bits: 1 the device's node failed, 2 the memory has a policy,
 * 4 SVA_MEM_NODE did not fail with the error, 8 the device's node's refusal
 * was not one line at the level above, 64 no seccomp.
 */
static void device_node_refused(void)
{
	static const struct {
		int err;
		bool system; /* an answer of the system's, not a libsva bug */
	} errs[] = { { EPERM, true },  { ENOSYS, true }, { EINVAL, true },
		     { ENOMEM, true }, { EACCES, true }, { EFAULT, false } };
	struct sva_mem_opts n0 = { .size = sizeof(n0), .flags = SVA_MEM_NODE, .numa_node = 0 };
	void *q = NULL;
	bool usable = numa_available() >= 0 && sva_mem_alloc(PG, &n0, &q) == 0;

	if (q)
		sva_mem_free(NULL, q, PG);
	if (!usable) {
		skip(3 * (int)ARRAY_SIZE(errs), "no NUMA support here, or node 0 is not usable");
		return;
	}
	for (size_t i = 0; i < ARRAY_SIZE(errs); i++) {
		int err = errs[i].err, status = 0;
		pid_t pid = fork();

		if (pid == 0) {
			struct sva_ctx *ctx = calloc(1, sizeof(*ctx));
			struct sva_dev *dev = calloc(1, sizeof(*dev));
			struct sva_mem_opts o = { .size = sizeof(o), .dev = dev };
			void *p = NULL;
			int st = 0, mode = -1, r;

			ctx->fork_gen = sva_fork_gen(); /* this process's context */
			ctx->fd = -1;
			sva_log_init(&ctx->log, capture, NULL, SVA_LOG_DEBUG);
			dev->ctx = ctx;
			pthread_mutex_init(&dev->lock, NULL);
			dev->info.numa_node = 0;
			if (refuse_mbind(err))
				_exit(64);
			errlog_start();
			if (sva_mem_alloc(PG, &o, &p))
				st |= 1;
			else if (get_mempolicy(&mode, NULL, 0, p, MPOL_F_ADDR) || mode != MPOL_DEFAULT)
				st |= 2;
			if (errs[i].system ? err_lines != 0 || dbg_lines != 1
					   : err_lines != 1 || warn_lines != 1 || dbg_lines != 0)
				st |= 8;
			o = (struct sva_mem_opts){ .size = sizeof(o), .flags = SVA_MEM_NODE, .numa_node = 0 };
			r = sva_mem_alloc(PG, &o, &p);
			if (r != -err)
				st |= 4;
			_exit(st);
		}
		waitpid(pid, &status, 0);
		if (WIFEXITED(status) && WEXITSTATUS(status) == 64) {
			skip(3, "no seccomp filters here");
			continue;
		}
		ok(WIFEXITED(status) && !(WEXITSTATUS(status) & 3),
		   "the device's node, mbind(2) refused with %s: allocated, no placement (status %d)", strerror(err),
		   WIFEXITED(status) ? WEXITSTATUS(status) : -1);
		ok(WIFEXITED(status) && !(WEXITSTATUS(status) & 8), "  said in one %s line (status %d)",
		   errs[i].system ? "debug" : "warning", WIFEXITED(status) ? WEXITSTATUS(status) : -1);
		ok(WIFEXITED(status) && !(WEXITSTATUS(status) & 4), "  a node SVA_MEM_NODE names: fails with it (%s)",
		   strerror(err));
	}
}

static void huge_checks(void)
{
	struct sva_mem_opts o = { .size = sizeof(o), .flags = SVA_MEM_HUGE | SVA_MEM_ANY_NODE };
	long free_huge = free_hugetlb();
	int thp = access("/sys/kernel/mm/transparent_hugepage/enabled", F_OK) == 0;
	char mode[128] = "";
	FILE *f = fopen("/sys/kernel/mm/transparent_hugepage/enabled", "re");

	if (f) {
		if (!fgets(mode, sizeof(mode), f))
			mode[0] = '\0';
		fclose(f);
	}
	void *p;
	int b;

	if (!is_int(sva_mem_alloc(3 * MiB, &o, &p), 0, "SVA_MEM_HUGE: 3 MiB"))
		return;
	ok(((uintptr_t)p & (2 * MiB - 1)) == 0, "2 MiB aligned (%p)", p);
	b = sva_mem_backing(p);
	diag("backing: %s (free 2 MiB hugetlb pages: %ld, THP %s)", sva_mem_backing_name(b), free_huge,
	     thp ? "built in" : "absent");
	if (free_huge >= 2)
		is_int(b, SVA_MEM_BACKING_HUGETLB, "with free hugetlb pages: hugetlb");
	else if (thp && !strstr(mode, "[never]"))
		is_int(b, SVA_MEM_BACKING_THP, "without free hugetlb pages: THP (MADV_HUGEPAGE)");
	else if (thp)
		is_int(b, SVA_MEM_BACKING_PAGES, "without free hugetlb pages, THP disabled ([never]): base pages");
	else
		is_int(b, SVA_MEM_BACKING_PAGES, "with neither: base pages");
	if (b == SVA_MEM_BACKING_HUGETLB)
		is_int(sva_vma_smaps_kb((uintptr_t)(p), "KernelPageSize"), 2048, "smaps: 2 MiB kernel pages");
	else if (b == SVA_MEM_BACKING_THP && !strstr(mode, "[never]"))
		is_int(sva_vma_smaps_kb((uintptr_t)(p), "THPeligible"), 1, "smaps: THP eligible (THP mode %.*s)", (int)strcspn(mode, "\n"),
		       mode);
	else if (b == SVA_MEM_BACKING_THP)
		skip(1, "THP is disabled system-wide ([never])");
	else
		skip(1, "base pages");
	memset(p, 0x5a, 3 * MiB);
	diag("after touching 3 MiB: AnonHugePages %ld kB, KernelPageSize %ld kB", sva_vma_smaps_kb((uintptr_t)(p), "AnonHugePages"),
	     sva_vma_smaps_kb((uintptr_t)(p), "KernelPageSize"));
	is_int(sva_mem_free(NULL, p, 3 * MiB), 0, "free with the len asked for");
	ok(sva_mem_alloc(5 * MiB, &o, &p) == 0 && sva_mem_free(NULL, p, 6 * MiB) == 0,
	   "5 MiB, freed with the rounded 6 MiB");
}

/* The EEXIST path: something takes the chosen address before the allocator maps it. */
static int race_left;
static void *race_taken[80];
static int race_n;

static void race_hook(uint64_t addr, uint64_t len)
{
	void *p;

	(void)len;
	if (!race_left)
		return;
	race_left--;
	p = mmap((void *)(uintptr_t)addr, PG, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
	if (p != MAP_FAILED && race_n < (int)ARRAY_SIZE(race_taken))
		race_taken[race_n++] = p;
}

static void race_checks(void)
{
	struct sva_mem_opts o = { .size = sizeof(o), .flags = SVA_MEM_ANY_NODE };
	void *p = NULL;

	sva_mem_test_race_hook = race_hook;
	race_left = 1;
	if (is_int(sva_mem_alloc(2 * PG, &o, &p), 0, "another thread takes the chosen address: still works")) {
		ok(race_n == 1 && p != race_taken[0] && ((char *)p + 2 * PG <= (char *)race_taken[0] ||
							 (char *)p >= (char *)race_taken[0] + PG),
		   "at another address (%p, the taken one %p)", p, race_n ? race_taken[0] : NULL);
		sva_mem_free(NULL, p, 2 * PG);
	}
	for (int i = 0; i < race_n; i++)
		munmap(race_taken[i], PG);
	race_n = 0;

	int r, n;
	char last[512] = "";

	race_left = 1000;
	errlog_start();
	r = sva_mem_alloc(PG, &o, &p);
	n = errlog_lines(last, sizeof(last));
	is_int(r, -ENOSPC, "every candidate taken, 64 times in a row: -ENOSPC");
	ok(n == 0 && dbg_lines == 1, "no error line, one debug line: -ENOSPC is an expected outcome (%d: %s; %d)",
	   n, last, dbg_lines);
	diag("the racing thread took %d addresses", race_n);
	for (int i = 0; i < race_n; i++)
		munmap(race_taken[i], PG);
	/* Every place the allocator tried is free again (its own bookkeeping may have grown the heap). */
	int left = 0;

	for (int i = 0; i < race_n; i++) {
		void *q = mmap(race_taken[i], PG, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);

		left += q != race_taken[i];
		if (q != MAP_FAILED)
			munmap(q, PG);
	}
	is_int(left, 0, "once the racer's mappings are gone, nothing is left mapped at the %d places tried", race_n);
	race_n = 0;
	race_left = 0;
	sva_mem_test_race_hook = NULL;
}

/* Threads allocating, filling, checking and freeing, with a bystander mapping and unmapping. */
#define THREADS 4
#define ROUNDS 400
#define LIVE 8

static pthread_mutex_t live_lock = PTHREAD_MUTEX_INITIALIZER;
static struct {
	uintptr_t addr;
	size_t len;
} live[THREADS * LIVE];
static int overlaps;
static atomic_int failures, corrupted, stop_bystander;
static uintptr_t ever[THREADS][ROUNDS];
static int never[THREADS];

static void live_set(int slot, void *p, size_t len)
{
	pthread_mutex_lock(&live_lock);
	for (int i = 0; p && i < THREADS * LIVE; i++)
		if (i != slot && live[i].len && (uintptr_t)p < live[i].addr + live[i].len &&
		    live[i].addr < (uintptr_t)p + len)
			overlaps++;
	live[slot].addr = (uintptr_t)p;
	live[slot].len = p ? len : 0;
	pthread_mutex_unlock(&live_lock);
}

static void *worker(void *arg)
{
	int id = (int)(intptr_t)arg;
	struct sva_mem_opts o = { .size = sizeof(o), .flags = SVA_MEM_ANY_NODE };
	unsigned char *mine[LIVE] = { 0 };
	size_t lens[LIVE] = { 0 };
	unsigned seed = (unsigned)id * 7919u + 1;
	int err;

	for (int r = 0; r < ROUNDS; r++) {
		int s = (int)((seed = seed * 1103515245u + 12345u) >> 16) % LIVE;

		if (mine[s]) {
			for (size_t i = 0; i < lens[s]; i += 512)
				corrupted += mine[s][i] != (unsigned char)(id * LIVE + s);
			live_set(id * LIVE + s, NULL, 0);
			if ((err = sva_mem_free(NULL, mine[s], lens[s])) && failures++ < 3)
				printf("# worker %d: sva_mem_free(%p, %zu): %s\n", id, (void *)mine[s], lens[s],
				       strerror(-err));
			mine[s] = NULL;
			continue;
		}
		lens[s] = 1 + ((seed >> 8) % (64 * 1024));
		o.flags = (seed >> 4) % 7 == 0 ? SVA_MEM_HUGE : 0;
		if ((err = sva_mem_alloc(lens[s], &o, (void **)&mine[s]))) {
			if (failures++ < 3)
				printf("# worker %d: sva_mem_alloc(%zu, flags 0x%x): %s\n", id, lens[s], o.flags,
				       strerror(-err));
			mine[s] = NULL;
			continue;
		}
		live_set(id * LIVE + s, mine[s], lens[s]);
		ever[id][never[id]++] = (uintptr_t)mine[s];
		memset(mine[s], id * LIVE + s, lens[s]);
	}
	for (int s = 0; s < LIVE; s++)
		if (mine[s]) {
			live_set(id * LIVE + s, NULL, 0);
			failures += sva_mem_free(NULL, mine[s], lens[s]) != 0;
		}
	return NULL;
}

/* Maps and unmaps low addresses with MAP_FIXED_NOREPLACE, where the allocator works. */
static void *bystander(void *arg)
{
	uint64_t a = 64 * KiB;

	(void)arg;
	while (!stop_bystander) {
		void *p = mmap((void *)(uintptr_t)a, PG, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE,
			       -1, 0);

		if (p != MAP_FAILED)
			munmap(p, PG);
		a = a >= 64 * MiB ? 64 * KiB : a + PG;
	}
	return NULL;
}

static void thread_checks(void)
{
	pthread_t t[THREADS], by;
	int still = 0;

	pthread_create(&by, NULL, bystander, NULL);
	for (int i = 0; i < THREADS; i++)
		pthread_create(&t[i], NULL, worker, (void *)(intptr_t)i);
	for (int i = 0; i < THREADS; i++)
		pthread_join(t[i], NULL);
	stop_bystander = 1;
	pthread_join(by, NULL);
	is_int(failures, 0, "%d threads x %d rounds of alloc/free: no call failed", THREADS, ROUNDS);
	is_int(overlaps, 0, "no two live allocations overlapped");
	is_int(corrupted, 0, "no allocation's contents were overwritten by another");
	for (int i = 0; i < THREADS; i++)
		for (int j = 0; j < never[i]; j++)
			still += sva_mem_backing((void *)ever[i][j]) != -ENOENT;
	is_int(still, 0, "nothing is left in the allocation table");
}

extern const char *sva_mem_test_thp_path;

/*
 * THP disabled system-wide ("[never]" in transparent_hugepage/enabled):
 * madvise(MADV_HUGEPAGE) still succeeds, yet the memory gets base pages.  The
 * debug line of the allocation used to say THP all the same (review Z71); it
 * must say base pages and why.  A file of the test's own stands for the
 * kernel's.
 */
static void thp_never_checks(void)
{
	struct sva_mem_opts o = { .size = sizeof(o), .flags = SVA_MEM_HUGE | SVA_MEM_ANY_NODE };
	char path[] = "/tmp/test-mem-window-thp.XXXXXX";
	int fd = mkstemp(path);
	void *p;

	if (free_hugetlb() >= 2 || access("/sys/kernel/mm/transparent_hugepage/enabled", F_OK) != 0) {
		skip(5, "hugetlb pages free, or no THP in this kernel");
		if (fd >= 0)
			close(fd), unlink(path);
		return;
	}
	if (fd < 0 || write(fd, "always madvise [never]\n", 23) != 23)
		tap_bail("cannot write %s", path);
	close(fd);
	sva_mem_test_thp_path = path;
	alloc_last[0] = '\0';
	if (is_int(sva_mem_alloc(3 * MiB, &o, &p), 0, "THP [never]: SVA_MEM_HUGE 3 MiB still allocates")) {
		is_int(sva_mem_backing(p), SVA_MEM_BACKING_PAGES, "  backed by base pages");
		ok(strstr(alloc_last, "): pages (no hugetlb pages free, THP disabled") != NULL,
		   "  its debug line says base pages, THP disabled: %s", alloc_last);
		sva_mem_free(NULL, p, 3 * MiB);
	} else {
		skip(2, "no allocation");
	}
	fd = open(path, O_WRONLY | O_TRUNC);
	if (fd < 0 || write(fd, "always [madvise] never\n", 23) != 23)
		tap_bail("cannot write %s", path);
	close(fd);
	alloc_last[0] = '\0';
	if (is_int(sva_mem_alloc(3 * MiB, &o, &p), 0, "THP [madvise]: SVA_MEM_HUGE 3 MiB")) {
		ok(strstr(alloc_last, "): THP,") != NULL, "  its debug line says THP: %s", alloc_last);
		sva_mem_free(NULL, p, 3 * MiB);
	} else {
		skip(1, "no allocation");
	}
	sva_mem_test_thp_path = NULL;
	unlink(path);
}

/*
 * sva_mem_alloc(3), Where in the window: the memory lands clear of "64 MiB
 * above the program break, so that a brk(2) heap ... can still grow" and of
 * "the room the main thread's stack may grow into: RLIMIT_STACK (at least
 * 8 MiB, at most 1 GiB) plus 1 MiB below it".  With the whole user address
 * space but one hole reserved (PROT_NONE, nothing committed), the lowest-first
 * search must skip the kept room inside the hole: right above the break it
 * would take the break itself, and a hole the stack's room covers whole has
 * no place at all (-ENOSPC).
 */
#define HOLES_MAX 256

static R held[HOLES_MAX];
static size_t nheld;

static void release_all(void)
{
	for (size_t i = 0; i < nheld; i++)
		munmap((void *)(uintptr_t)held[i].start, held[i].last - held[i].start + 1);
	nheld = 0;
}

/* Reserve every unmapped page from 64 KiB to the highest mapping, but
 * [hole_lo, hole_hi); *stack gets the start of [stack].  false: not possible
 * here (a sanitizer that refuses fixed mappings, too many gaps). */
static bool reserve_all_but(uint64_t hole_lo, uint64_t hole_hi, uint64_t *stack)
{
	R maps[1024];
	size_t n = 0;
	char line[512];
	FILE *f = fopen("/proc/self/maps", "re");
	uint64_t pos = 64 * KiB;

	if (!f)
		return false;
	*stack = 0;
	while (fgets(line, sizeof(line), f) && n < ARRAY_SIZE(maps)) {
		unsigned long long lo, hi;

		if (sscanf(line, "%llx-%llx", &lo, &hi) != 2 || hi > (1ull << 47))
			continue;
		if (strstr(line, " [stack]"))
			*stack = lo;
		maps[n++] = (R){ lo, hi - 1 };
	}
	fclose(f);
	nheld = 0;
	for (size_t i = 0; i <= n; i++) {
		uint64_t end = i < n ? maps[i].start : pos; /* past the last mapping: nothing more */

		for (int part = 0; part < 2 && pos < end; part++) {
			/* The gap [pos, end) minus the hole: below it, then above it. */
			uint64_t a = part ? (pos > hole_hi ? pos : hole_hi) : pos;
			uint64_t b = part ? end : (end < hole_lo ? end : hole_lo);

			if (a >= b)
				continue;
			if (nheld == HOLES_MAX ||
			    mmap((void *)(uintptr_t)a, b - a, PROT_NONE,
				 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_FIXED_NOREPLACE, -1, 0) !=
				    (void *)(uintptr_t)a) {
				release_all();
				return false;
			}
			held[nheld++] = (R){ a, b - 1 };
		}
		if (i < n && maps[i].last + 1 > pos)
			pos = maps[i].last + 1;
	}
	return true;
}

static void heap_and_stack_room(void)
{
	struct rlimit old, rl;
	uint64_t brk_now = (uintptr_t)sbrk(0), stack;
	void *p = NULL;
	int r;

	brk_now = (brk_now + PG - 1) & ~(PG - 1);
	if (!reserve_all_but(brk_now, brk_now + 128 * MiB, &stack)) {
		skip(6, "cannot reserve the address space around a hole here (a sanitizer's fixed-mapping rules?)");
		return;
	}
	r = sva_mem_alloc(PG, NULL, &p);
	release_all();
	if (is_int(r, 0, "room: a page with only [break, break + 128 MiB) free")) {
		ok((uintptr_t)p >= brk_now + 64 * MiB && (uintptr_t)p < brk_now + 128 * MiB,
		   "  64 MiB above the program break kept for the heap (%p, break at 0x%llx)", p,
		   (unsigned long long)brk_now);
		sva_mem_free(NULL, p, PG);
	}

	if (getrlimit(RLIMIT_STACK, &old)) {
		skip(4, "no RLIMIT_STACK");
		return;
	}
	reserve_all_but(0, 0, &stack); /* only to find [stack] */
	release_all();
	if (!stack || stack < 1 * GiB) {
		skip(4, "no [stack] mapping found");
		return;
	}
	/* RLIMIT_STACK, the hole below [stack], the room the page says is kept. */
	static const struct {
		uint64_t rlim, hole, kept;
	} cases[] = {
		{ 2 * MiB, 9 * MiB, 9 * MiB },	 /* "at least 8 MiB", plus 1 MiB */
		{ 16 * MiB, 17 * MiB, 17 * MiB }, /* RLIMIT_STACK plus 1 MiB */
		{ 16 * MiB, 18 * MiB, 17 * MiB }, /* and not more */
	};
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		uint64_t top = stack;

		rl = old;
		rl.rlim_cur = cases[i].rlim;
		if ((rl.rlim_max != RLIM_INFINITY && rl.rlim_max < rl.rlim_cur) || setrlimit(RLIMIT_STACK, &rl)) {
			skip(i < 2 ? 1 : 2, "cannot set RLIMIT_STACK");
			continue;
		}
		p = (void *)(uintptr_t)0x1234;
		r = reserve_all_but(top - cases[i].hole, top, &stack) ? sva_mem_alloc(PG, NULL, &p) : -EAGAIN;
		release_all();
		setrlimit(RLIMIT_STACK, &old);
		if (r == -EAGAIN) {
			skip(i < 2 ? 1 : 2, "cannot reserve the address space around a hole here");
			continue;
		}
		if (cases[i].hole == cases[i].kept) {
			is_int(r, -ENOSPC, "room: RLIMIT_STACK %llu MiB, only the %llu MiB below [stack] free: all kept, -ENOSPC",
			       (unsigned long long)(cases[i].rlim >> 20), (unsigned long long)(cases[i].hole >> 20));
		} else if (is_int(r, 0, "room: RLIMIT_STACK %llu MiB, the %llu MiB below [stack] free: a page",
				  (unsigned long long)(cases[i].rlim >> 20), (unsigned long long)(cases[i].hole >> 20))) {
			ok((uintptr_t)p >= top - cases[i].hole && (uintptr_t)p + PG <= top - cases[i].kept,
			   "  between the hole's start and the %llu MiB kept (%p, stack at 0x%llx)",
			   (unsigned long long)(cases[i].kept >> 20), p, (unsigned long long)top);
		}
		if (r == 0)
			sva_mem_free(NULL, p, PG);
	}
}

/*
 * sva_mem_free(3), THREAD SAFETY: "two threads freeing the same allocation
 * get 0 in one and -EINVAL in the other" (the entry is marked as being freed
 * under the lock, not held across the munmap()).  A race each round, started
 * together; whichever comes second must be refused, never freed twice.
 */
#define DOUBLE_ROUNDS 200

static pthread_barrier_t dbl_go;
static void *dbl_p;

static void *double_freer(void *arg)
{
	int *ret = arg;

	pthread_barrier_wait(&dbl_go);
	*ret = sva_mem_free(NULL, dbl_p, 3 * PG);
	return NULL;
}

static void double_free_race(void)
{
	int bad = 0, lines = 0;

	pthread_barrier_init(&dbl_go, NULL, 2);
	for (int i = 0; i < DOUBLE_ROUNDS; i++) {
		pthread_t t;
		int a = 1, b = 1;

		if (sva_mem_alloc(3 * PG, NULL, &dbl_p)) {
			bad++;
			break;
		}
		errlog_start();
		pthread_create(&t, NULL, double_freer, &a);
		double_freer(&b);
		pthread_join(t, NULL);
		lines += err_lines;
		if (!((a == 0 && b == -EINVAL) || (a == -EINVAL && b == 0))) {
			if (bad++ < 3)
				printf("# round %d: %d and %d\n", i, a, b);
		}
	}
	pthread_barrier_destroy(&dbl_go);
	is_int(bad, 0, "two threads free one allocation, %d times: 0 in one, -EINVAL in the other", DOUBLE_ROUNDS);
	is_int(lines, DOUBLE_ROUNDS, "  one error line for each refusal");
}

/*
 * sva_mem_free(3), ERRORS: "An error of munmap(2) (such as -ENOMEM when
 * splitting a mapping would exceed vm.max_map_count) is passed through; the
 * memory stays allocated and mapped in the process."  Anonymous mappings
 * right before and after the allocation merge with it, so unmapping the
 * allocation leaves two mappings of one; with the process at its map count
 * limit (a region of alternating protections fills it) the kernel refuses.
 */
static void munmap_refused(void)
{
	struct map_fill f;
	const char *why = map_fill_why_not(&f);
	char *p = NULL;
	int r = 1;

	if (why) {
		skip(5, why);
		return;
	}
	if (sva_mem_alloc(4 * PG, NULL, (void **)&p)) {
		skip(5, "no allocation");
		return;
	}
	if (map_fill_around(&f, p, 4 * PG)) {
		skip(5, "cannot map next to the allocation, or the region to fill the map count");
		goto out;
	}
	map_fill(&f);
	errlog_start();
	r = sva_mem_free(NULL, p, 4 * PG);
	if (r == 0) {
		skip(5, "the kernel did not refuse the munmap (the mappings did not merge?)");
		p = NULL;
		goto out;
	}
	is_int(r, -ENOMEM, "munmap refused at the map count limit (%ld split): sva_mem_free passes -ENOMEM", f.split);
	ok(err_lines == 1 && strstr(err_last, "munmap"), "  one error line saying so (%d: %s)", err_lines, err_last);
	map_fill_release(&f);
	ok(p[0] == 1, "  the memory is still mapped, its contents kept");
	is_int(sva_mem_free(NULL, p, 4 * PG), 0, "  and still allocated: freed once the map count allows");
	p = NULL;
	ok(f.before[0] == 1 && f.after[0] == 1, "  the neighbouring mappings untouched");
out:
	map_fill_release(&f);
	if (p)
		sva_mem_free(NULL, p, 4 * PG);
	map_fill_undo(&f);
}

int main(void)
{
	normalize_checks();
	gap_checks();
	guard_checks();
	random_checks();

	/* Count the error lines of the process-wide log (internal: it has no public setter). */
	sva_log_set((struct sva_log *)(uintptr_t)sva_log_default(), capture, NULL, SVA_LOG_DEBUG);

	alloc_basics();
	numa_checks();
	device_node_refused();
	huge_checks();
	thp_never_checks();
	race_checks();
	thread_checks();
	double_free_race();
	munmap_refused();
	heap_and_stack_room();
	return done_testing();
}
