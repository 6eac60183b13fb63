/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * What a device may reach, without a kernel (libsva/reach.c, arena.c): the
 * allowed-range set (merge, split, lookup, cover), the library arena's objects
 * and thread stacks in the excluded set, windows clipped around both, and the
 * errors of sva_mm_allow()/sva_mm_deny(), each changing nothing; and what
 * sva_mem_free() does when the kernel refuses to unmap a chunk of the memory,
 * or refuses its munmap(2) while another thread denies part of it; and what
 * an allow's undo (sva_mem_alloc() failing) takes back.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* RTLD_NEXT */
#endif
#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "chunks.h"
#include "fork.h"
#include "internal.h"
#include "../tap.h"

#define PG 4096ull

/*
 * munmap(2) refused at one address, as the kernel refuses it at the map
 * count limit (ENOMEM), with something run first: what another thread does
 * while sva_mem_free() waits for the kernel.  Every other call passes
 * through (libsva-test is linked into this program, so its calls come here).
 */
static void *refuse_munmap_at;
static void (*while_munmap)(void);

int munmap(void *addr, size_t len)
{
	static int (*real)(void *, size_t);

	if (addr && addr == refuse_munmap_at) {
		if (while_munmap)
			while_munmap();
		errno = ENOMEM;
		return -1;
	}
	if (!real)
		real = (int (*)(void *, size_t))dlsym(RTLD_NEXT, "munmap");
	return real(addr, len);
}

void sva_test_fail_nth(int n); /* test_fail.c, libsva-test only */

static int errors;
static char last_error[256]; /* the last error line */

static void capture(void *arg, enum sva_log_level level, const char *msg)
{
	(void)arg;
	if (level == SVA_LOG_ERROR) {
		errors++;
		snprintf(last_error, sizeof(last_error), "%s", msg);
	}
}

/* The set as a string, "[s,e)..." in pages, to compare in one line. */
static const char *show(const struct sva_rset *s)
{
	static char buf[512];
	size_t o = 0;

	buf[0] = 0;
	for (size_t i = 0; i < s->n; i++)
		o += (size_t)snprintf(buf + o, sizeof(buf) - o, "[%llu,%llu)", (unsigned long long)(s->v[i].start / PG),
				      (unsigned long long)(s->v[i].end / PG));
	return buf;
}

static void rset_logic(void)
{
	struct sva_rset s = { 0 };

	ok(!sva_rset_find(&s, 0) && !sva_rset_covers(&s, 0, PG), "empty set: nothing found or covered");
	sva_rset_add(&s, 10 * PG, 20 * PG);
	sva_rset_add(&s, 30 * PG, 40 * PG);
	is_int(strcmp(show(&s), "[10,20)[30,40)"), 0, "two disjoint ranges stay apart: %s", show(&s));
	sva_rset_add(&s, 20 * PG, 25 * PG);
	is_int(strcmp(show(&s), "[10,25)[30,40)"), 0, "an adjacent range merges: %s", show(&s));
	sva_rset_add(&s, 5 * PG, 6 * PG);
	is_int(strcmp(show(&s), "[5,6)[10,25)[30,40)"), 0, "a range before all goes first: %s", show(&s));
	sva_rset_add(&s, 8 * PG, 35 * PG);
	is_int(strcmp(show(&s), "[5,6)[8,40)"), 0, "a range over two merges them: %s", show(&s));
	sva_rset_add(&s, 0, 100 * PG);
	is_int(strcmp(show(&s), "[0,100)"), 0, "a range from 0 over everything: %s", show(&s));
	sva_rset_del(&s, 40 * PG, 50 * PG);
	is_int(strcmp(show(&s), "[0,40)[50,100)"), 0, "a deny inside splits: %s", show(&s));
	sva_rset_del(&s, 30 * PG, 60 * PG);
	is_int(strcmp(show(&s), "[0,30)[60,100)"), 0, "a deny over an edge of each trims both: %s", show(&s));
	sva_rset_del(&s, 0, 30 * PG);
	is_int(strcmp(show(&s), "[60,100)"), 0, "a deny of a whole range drops it: %s", show(&s));
	sva_rset_del(&s, 0, 10 * PG);
	is_int(strcmp(show(&s), "[60,100)"), 0, "a deny of what is not allowed changes nothing: %s", show(&s));
	sva_rset_add(&s, 200 * PG, 210 * PG);
	sva_rset_add(&s, 300 * PG, 310 * PG);
	sva_rset_del(&s, 50 * PG, 400 * PG);
	is_int(s.n, 0, "a deny over several drops them all");

	for (uint64_t i = 0; i < 100; i++)
		sva_rset_add(&s, i * 2 * PG, (i * 2 + 1) * PG);
	is_int(s.n, 100, "100 separate ranges (the set grows)");
	ok(sva_rset_find(&s, 198 * PG) && !sva_rset_find(&s, 199 * PG), "lookup: inside a range and in a gap");
	ok(sva_rset_covers(&s, 50 * PG, 51 * PG) && !sva_rset_covers(&s, 50 * PG, 53 * PG),
	   "cover: one range, not across a gap");
	sva_rset_add(&s, 0, 200 * PG);
	is_int(strcmp(show(&s), "[0,200)"), 0, "one add over them merges all: %s", show(&s));
	ok(sva_rset_covers(&s, 0, 200 * PG) && !sva_rset_covers(&s, 0, 201 * PG), "cover: to the edge, not past it");
	sva_rset_fini(&s);
}

static void *idle(void *arg)
{
	volatile char here = 0;

	*(uintptr_t *)arg = (uintptr_t)&here;
	return NULL;
}

static void arena(void)
{
	struct sva_bond *bond = sva_calloc(1, sizeof(*bond));
	void *big = sva_malloc(3u << 20), *stack;
	int on_heap = 0;
	void *heap = malloc(64);
	uintptr_t sp = 0;
	pthread_t t;

	ok(bond && sva_excluded((uintptr_t)bond), "a bond from the arena is excluded");
	ok(big && sva_excluded((uintptr_t)big + (2u << 20)), "a large allocation is excluded");
	ok(!sva_excluded((uintptr_t)heap), "the application's heap is not");
	ok(!sva_excluded((uintptr_t)&on_heap), "the caller's stack is not");
	ok(!sva_excluded_overlaps((uintptr_t)heap, (uintptr_t)heap + 64), "no overlap with the heap");
	ok(sva_excluded_overlaps((uintptr_t)bond - (1u << 30), (uintptr_t)bond + 1), "a range over a bond overlaps");
	/* t and stack are set only if the thread started. */
	bool started = is_int(sva_thread_create(&t, idle, &sp, &stack), 0, "a thread on an arena stack");

	if (started)
		pthread_join(t, NULL);
	ok(sp && sva_excluded(sp), "its stack is excluded");
	if (started)
		sva_thread_stack_free(stack);

	/* A window around a free address next to the arena stops short of it. */
	uint64_t ws = 0, we = UINT64_MAX - PG, a = (uintptr_t)heap & ~(PG - 1);

	sva_excluded_clip(a, &ws, &we);
	ok(ws <= a && we > a && !sva_excluded_overlaps(ws, we), "a clipped window holds the address and no arena");

	char *s = sva_strdup("libsva");
	void *r = sva_realloc(s, 5000);

	ok(r && !strcmp(r, "libsva") && sva_excluded((uintptr_t)r), "realloc keeps the bytes, in the arena");
	ok(sva_aligned_alloc(4096, 100) && ((uintptr_t)sva_aligned_alloc(4096, 100) & 4095) == 0,
	   "aligned_alloc aligns");
	/* A pointer inside an allocation was never handed out: libc would
	 * abort(), and so did the arena; libsva promises never to (sva.h). */
	memset(big, 0x5a, 3u << 20);
	sva_free((char *)big + 4096);
	ok(sva_realloc((char *)big + 4096, 10) == NULL, "a pointer the arena never handed out: free ignores it, "
							 "realloc fails, neither aborts");
	void *other = sva_malloc(3u << 20);
	size_t changed = 0;

	/* Freed, its granules would have been zeroed (MADV_DONTNEED) and handed
	 * out again to the next allocation of its size. */
	for (size_t i = 0; i < 3u << 20; i++)
		changed += ((unsigned char *)big)[i] != 0x5a;
	ok(changed == 0 && other && other != big,
	   "  and the allocation it points into is intact: its bytes kept (%zu changed), still held (%p, then %p)",
	   changed, big, other);
	sva_free(other);
	sva_free(r);
	sva_free(heap); /* libc's: handed back to libc */
	sva_free(big);
	sva_free(bond);
	/* The arena's frees took effect: an object of a small class comes back
	 * off its free list first, a granule run is handed out again (zeroed). */
	void *bond2 = sva_calloc(1, sizeof(*bond));
	void *big2 = sva_malloc(3u << 20);

	ok(bond2 == (void *)bond && big2 == big && ((unsigned char *)big2)[4096] == 0,
	   "frees of arena pointers hand their memory back (%p, then %p; %p, then %p)", (void *)bond, bond2, big, big2);
	sva_free(big2);
	sva_free(bond2);
}

static struct sva_mm *fake_mm(uint32_t flags, bool child)
{
	struct sva_ctx *ctx = sva_calloc(1, sizeof(*ctx));
	struct sva_mm *mm = sva_calloc(1, sizeof(*mm));

	atomic_init(&ctx->refs, 1);
	ctx->fd = -1;
	ctx->fork_gen = sva_fork_gen_init() + (child ? 1 : 0);
	sva_log_init(&ctx->log, capture, NULL, SVA_LOG_DEBUG);
	mm->ctx = ctx;
	mm->flags = flags;
	pthread_mutex_init(&mm->lock, NULL);
	pthread_mutex_init(&mm->map_lock, NULL);
	return mm;
}

static void api(void)
{
	struct sva_mm *mm = fake_mm(SVA_MM_RESTRICTED, false), *open = fake_mm(0, false);
	struct sva_mm *child = fake_mm(SVA_MM_RESTRICTED, true);
	char *base = (char *)(uintptr_t)(64ull << 30);
	struct sva_bond *bond = sva_calloc(1, sizeof(*bond));
	uint64_t ws, we;

	errors = 0;
	is_int(sva_mm_allow(NULL, base, PG), -EINVAL, "allow: NULL mm");
	is_int(sva_mm_allow(mm, base, 0), -EINVAL, "allow: len 0");
	is_int(sva_mm_allow(mm, base + 1, PG), -EINVAL, "allow: unaligned addr");
	is_int(sva_mm_allow(mm, base, PG + 1), -EINVAL, "allow: unaligned len");
	is_int(sva_mm_allow(mm, (void *)(uintptr_t)(UINT64_MAX - PG + 1), 2 * PG), -EINVAL, "allow: wraps");
	is_int(sva_mm_allow(open, base, PG), -EINVAL, "allow: not SVA_MM_RESTRICTED");
	is_int(sva_mm_deny(open, base, PG), -EINVAL, "deny: not SVA_MM_RESTRICTED");
	is_int(sva_mm_deny(mm, base + 1, PG), -EINVAL, "deny: unaligned");
	is_int(sva_mm_allow(child, base, PG), -ECHILD, "allow: in a forked child");
	is_int(errors, 8, "each error logged once (NULL mm: on the default log)");
	is_int(mm->allowed.n + open->allowed.n + child->allowed.n, 0, "no error changed a set");
	/* Nothing allowed yet (no table at all): denying is not an error, and
	 * moves nothing (a memmove from NULL, which UBSan aborts on). */
	is_int(sva_mm_deny(mm, base, PG), 0, "deny with nothing ever allowed: 0");
	/* Only the last page of the 64-bit space is out: the one below it is fine. */
	is_int(sva_mm_allow(mm, (void *)(uintptr_t)(UINT64_MAX - 2 * PG + 1), PG), 0,
	       "allow: the page below the last one");
	is_int(sva_mm_deny(mm, (void *)(uintptr_t)(UINT64_MAX - 2 * PG + 1), PG), 0, "deny: the same page");
	is_int(mm->allowed.n, 0, "  and the set is empty again");

	is_int(sva_mm_allow(mm, base, 16 * PG), 0, "allow 16 pages");
	is_int(sva_reach_check_locked(mm, (uintptr_t)base + 15 * PG), 0, "a fault inside resolves");
	is_int(sva_reach_check_locked(mm, (uintptr_t)base + 16 * PG), -ENXIO, "a fault just past it: -ENXIO");
	is_int(sva_reach_check_locked(mm, (uintptr_t)bond), -EXDEV, "a fault at a bond: -EXDEV");
	is_int(sva_reach_check_locked(open, (uintptr_t)bond), -EXDEV, "... in an unrestricted mm too");
	is_int(sva_reach_check_locked(open, (uintptr_t)base + 16 * PG), 0, "unrestricted: anything else passes");
	ws = (uintptr_t)base - (1u << 20);
	we = (uintptr_t)base + (1u << 20);
	sva_reach_clip_locked(mm, (uintptr_t)base + 4 * PG, &ws, &we);
	ok(ws == (uintptr_t)base && we == (uintptr_t)base + 16 * PG, "a 2 MiB window is clipped to the allowed range");
	is_int(sva_reach_prefault_locked(mm, (uintptr_t)base, (uintptr_t)base + 16 * PG), 0, "prefault inside: ok");
	is_int(sva_reach_prefault_locked(mm, (uintptr_t)base, (uintptr_t)base + 17 * PG), -EACCES,
	       "prefault past the edge: -EACCES");
	is_int(sva_reach_prefault_locked(open, (uintptr_t)bond & ~(PG - 1), ((uintptr_t)bond & ~(PG - 1)) + PG),
	       -EXDEV, "prefault of a bond's page: -EXDEV");
	is_int(sva_mm_deny(mm, base + 4 * PG, 4 * PG), 0, "deny 4 pages in the middle");
	is_int(sva_reach_check_locked(mm, (uintptr_t)base + 5 * PG), -ENXIO, "a fault there: -ENXIO");
	ws = (uintptr_t)base;
	we = (uintptr_t)base + (1u << 20);
	sva_reach_clip_locked(mm, (uintptr_t)base + 9 * PG, &ws, &we);
	ok(ws == (uintptr_t)base + 8 * PG && we == (uintptr_t)base + 16 * PG, "the window stays in its own piece");
	is_int(sva_mm_deny(mm, base, 64 * PG), 0, "deny all (more than is allowed)");
	is_int(mm->allowed.n, 0, "nothing allowed any more");
	sva_free(bond);
}

/*
 * A chunk the kernel refuses to unmap (here: the IOAS ioctl on fd -1 fails,
 * as it would with EBUSY while an in-kernel user holds the area).
 * sva_mm_invalidate(3): logged at error level, stays visible, not counted, and
 * the call still succeeds.  sva_mm_deny(3): -EIO (logged), the range is no
 * longer allowed, the chunk stays visible until withdrawn.
 */
static void refused_unmap(void)
{
	struct sva_mm *mm = fake_mm(SVA_MM_RESTRICTED, false);
	char *base = (char *)(uintptr_t)(64ull << 30);
	uint64_t b = (uintptr_t)base;
	long n;

	mm->ioas_id = 1;
	ok(sva_chunks_insert(&mm->chunks, b, b + 4 * PG, SVA_PROT_READ | SVA_PROT_WRITE) != NULL,
	   "a visible chunk of 4 pages (no kernel: its unmap will fail)");
	atomic_store(&mm->st_visible, 4 * PG);

	errors = 0;
	n = sva_mm_invalidate(mm, base + PG, PG);
	is_int((int)n, 0, "invalidate of a chunk the kernel refuses to unmap: 0 bytes, not an error");
	is_int(errors, 1, "  one error line");
	ok(sva_chunks_after(&mm->chunks, b) && sva_chunks_after(&mm->chunks, b)->start == b,
	   "  the chunk stays in the table (still visible)");
	ok(atomic_load(&mm->st_visible) == 4 * PG, "  bytes_visible unchanged");

	is_int(sva_mm_allow(mm, base, 16 * PG), 0, "allow 16 pages around it");
	errors = 0;
	is_int(sva_mm_deny(mm, base, 8 * PG), -EIO, "deny over a chunk the kernel refuses to unmap: -EIO");
	is_int(errors, 1, "  one error line");
	is_int(sva_reach_check_locked(mm, b + PG), -ENXIO, "  the range is no longer allowed all the same");
	is_int(sva_reach_check_locked(mm, b + 8 * PG), 0, "  the rest stays allowed");
	ok(sva_chunks_after(&mm->chunks, b) && atomic_load(&mm->st_visible) == 4 * PG,
	   "  the chunk stays visible, counted");
	sva_chunks_clear(&mm->chunks);
}

/* 1: addr is mapped in this process; 0: not (mincore(2) answers ENOMEM). */
static int mapped(const void *addr)
{
	unsigned char vec;

	return mincore((void *)(uintptr_t)addr, PG, &vec) == 0 ? 1 : errno == ENOMEM ? 0 : -1;
}

/*
 * sva_mem_free(3), ERRORS: "An unmap the kernel refuses while withdrawing is
 * logged and its chunk stays visible, as with sva_mm_invalidate(3); the memory
 * is freed anyway."  Memory from sva_mem_alloc() with no address space, made
 * "visible" in a hand-built one by a chunk (the IOAS ioctl on fd -1 fails), in
 * an open address space (the withdrawal) and a restricted one (the deny first,
 * -EIO, then the withdrawal).
 */
static void mem_free_refused_unmap(void)
{
	for (int restricted = 0; restricted < 2; restricted++) {
		struct sva_mm *mm = fake_mm(restricted ? SVA_MM_RESTRICTED : 0, false);
		const char *what = restricted ? "restricted" : "open";
		void *p = NULL;
		uint64_t b;

		mm->ioas_id = 1;
		if (sva_mem_alloc(4 * PG, NULL, &p)) {
			skip(7, "sva_mem_alloc failed");
			continue;
		}
		b = (uintptr_t)p;
		if (restricted)
			sva_mm_allow(mm, p, 4 * PG);
		sva_chunks_insert(&mm->chunks, b, b + 4 * PG, SVA_PROT_READ | SVA_PROT_WRITE);
		atomic_store(&mm->st_visible, 4 * PG);
		errors = 0;
		is_int(sva_mem_free(mm, p, 4 * PG), 0, "%s mm: sva_mem_free over a chunk the kernel refuses to unmap: 0",
		       what);
		/* One failure, one line: in a restricted mm the deny's line and
		 * the withdrawal's retry's were two. */
		is_int(errors, 1, "  the refusal is logged once, at error level");
		/* The call the application made, not the one libsva made for it. */
		ok(!strncmp(last_error, "sva_mem_free: ", 14), "  the line names sva_mem_free (%s)", last_error);
		is_int(mapped(p), 0, "  the memory is unmapped from the process");
		ok(sva_chunks_after(&mm->chunks, b) && sva_chunks_after(&mm->chunks, b)->start == b &&
			   atomic_load(&mm->st_visible) == 4 * PG,
		   "  its chunk stays in the table, counted visible");
		errors = 0;
		is_int(sva_mem_free(mm, p, 4 * PG), -EINVAL, "  freed all the same: a second free is -EINVAL");
		if (restricted)
			is_int(sva_reach_check_locked(mm, b), -ENXIO, "  and no longer allowed");
		else
			is_int(errors, 1, "  said in one line");
		sva_chunks_clear(&mm->chunks);
	}
}

/*
 * sva_mem_free(3), ERRORS: after a refused munmap(2) in a restricted mm "what
 * of the memory was allowed there before the call is allowed again, and only
 * that".  Another thread's sva_mm_deny() of a page of it, made and returned 0
 * while the call waited for the kernel, is not undone: in whatever order the
 * two calls are taken to have run, that page ends denied.
 */
static struct sva_mm *race_mm;
static char *race_page;
static int race_deny = 1;

static bool race_oom; /* the deny's first allocation fails */

static void deny_meanwhile(void)
{
	if (race_oom)
		sva_test_fail_nth(1);
	race_deny = sva_mm_deny(race_mm, race_page, PG);
	sva_test_fail_nth(0);
}

static void mem_free_refused_keeps_concurrent_deny(void)
{
	struct sva_mm *mm = fake_mm(SVA_MM_RESTRICTED, false);
	void *p = NULL;
	uint64_t b;
	int r;

	if (sva_mem_alloc(4 * PG, NULL, &p) || sva_mm_allow(mm, p, 4 * PG)) {
		skip(4, "sva_mem_alloc or sva_mm_allow failed");
		return;
	}
	b = (uintptr_t)p;
	race_mm = mm;
	race_page = (char *)p + 2 * PG;
	refuse_munmap_at = p;
	while_munmap = deny_meanwhile;
	errors = 0;
	r = sva_mem_free(mm, p, 4 * PG);
	refuse_munmap_at = NULL;
	while_munmap = NULL;
	is_int(r, -ENOMEM, "restricted mm, munmap refused while another call denies a page of it: -ENOMEM");
	is_int(race_deny, 0, "  that sva_mm_deny returned 0");
	is_int(sva_reach_check_locked(mm, b + 2 * PG), -ENXIO, "  the page it denied stays denied");
	ok(!sva_reach_check_locked(mm, b) && !sva_reach_check_locked(mm, b + PG) &&
		   !sva_reach_check_locked(mm, b + 3 * PG),
	   "  the rest allowed again (%zu ranges)", mm->allowed.n);
	if (sva_mem_free(mm, p, 4 * PG))
		diag("could not free the memory");
}

/*
 * The same, where taking that page out of what is to be put back needs
 * memory (it splits one of 8 ranges, the first capacity) and there is none:
 * the deny still holds, and nothing is put back rather than the page with
 * it; the line says part stays denied.
 */
static void mem_free_refused_concurrent_deny_oom(void)
{
	struct sva_mm *mm = fake_mm(SVA_MM_RESTRICTED, false);
	void *p = NULL;
	uint64_t b;
	bool any = false;
	int r;

	if (sva_mem_alloc(32 * PG, NULL, &p)) {
		skip(4, "sva_mem_alloc failed");
		return;
	}
	b = (uintptr_t)p;
	for (int i = 0; i < 8; i++)
		if (sva_mm_allow(mm, (char *)p + 4 * i * PG, 3 * PG))
			tap_bail("sva_mm_allow failed");
	race_mm = mm;
	race_page = (char *)p + PG; /* the middle of the first range */
	race_oom = true;
	refuse_munmap_at = p;
	while_munmap = deny_meanwhile;
	errors = 0;
	last_error[0] = '\0';
	r = sva_mem_free(mm, p, 32 * PG);
	refuse_munmap_at = NULL;
	while_munmap = NULL;
	race_oom = false;
	is_int(r, -ENOMEM, "restricted mm, munmap refused, a deny meanwhile with no memory to note it: -ENOMEM");
	is_int(race_deny, 0, "  that sva_mm_deny returned 0");
	for (int pg = 0; pg < 32; pg++)
		any |= !sva_reach_check_locked(mm, b + (uint64_t)pg * PG);
	ok(!any, "  nothing of the memory is allowed again, so neither is the page denied (%zu ranges)", mm->allowed.n);
	ok(errors == 1 && strstr(last_error, "part of it stays denied"), "  one line, saying part stays denied (%s)",
	   last_error);
	if (sva_mem_free(mm, p, 32 * PG))
		diag("could not free the memory");
}

/*
 * sva_mem_free(3), ERRORS, -ENOMEM: the deny out of memory.  Its one line
 * names the call the application made, as the withdrawal's does.
 */
static void mem_free_deny_oom_line(void)
{
	struct sva_mm *mm = fake_mm(SVA_MM_RESTRICTED, false);
	void *p = NULL;
	int r;

	if (sva_mem_alloc(4 * PG, NULL, &p) || sva_mm_allow(mm, p, 4 * PG)) {
		skip(3, "sva_mem_alloc or sva_mm_allow failed");
		return;
	}
	errors = 0;
	last_error[0] = '\0';
	sva_test_fail_nth(1); /* the note of what was allowed */
	r = sva_mem_free(mm, p, 4 * PG);
	sva_test_fail_nth(0);
	is_int(r, -ENOMEM, "restricted mm, the deny out of memory: -ENOMEM");
	is_int(errors, 1, "  one error line");
	ok(!strncmp(last_error, "sva_mem_free: ", 14), "  naming sva_mem_free (%s)", last_error);
	if (sva_mem_free(mm, p, 4 * PG))
		diag("could not free the memory");
}

/*
 * sva_mm_prefault(3), sva_mm_invalidate(3): the range check comes before the
 * owner check, and its edge is exactly 2^64 - 4096: a range ending there is
 * not -EINVAL (here: -ECHILD, in a "forked child"), one byte more is.
 */
static void range_edge(void)
{
	struct sva_mm *child = fake_mm(0, true);
	void *below = (void *)(uintptr_t)(UINT64_MAX - 2 * PG + 1); /* the page below the last */

	errors = 0;
	is_int(sva_mm_prefault(child, below, PG), -ECHILD, "prefault ending at 2^64 - 4096: range accepted (-ECHILD)");
	is_int(sva_mm_prefault(child, below, PG + 1), -EINVAL, "prefault one byte into the last page: -EINVAL");
	is_int(sva_mm_prefault(child, below, 0), -EINVAL, "prefault of 0 bytes: -EINVAL, before -ECHILD");
	is_int((int)sva_mm_invalidate(child, below, PG), -ECHILD,
	       "invalidate ending at 2^64 - 4096: range accepted (-ECHILD)");
	is_int((int)sva_mm_invalidate(child, below, PG + 1), -EINVAL, "invalidate one byte into the last page: -EINVAL");
	is_int((int)sva_mm_invalidate(child, (char *)below + 1, SIZE_MAX), -EINVAL, "invalidate wrapping: -EINVAL");
	is_int(errors, 6, "  each logged once");
	child->flags = SVA_MM_RESTRICTED;
	is_int(sva_mm_deny(child, below, PG), -ECHILD, "deny in a forked child: -ECHILD");
}

/*
 * sva_mm_prefault(3): the reach comes first ("-EXDEV ... Checked first, before
 * the mappings are read"; then the restricted address space's allowed
 * ranges), then the mappings: libsva's own memory is -EXDEV even where the
 * range is neither allowed nor entirely mapped, memory that is not allowed is
 * -EACCES even where it is not mapped, and only allowed memory that is not
 * mapped is -EFAULT.  No kernel: the address space is untracked and has no
 * IOAS, and nothing gets as far as a map.
 */
static void prefault_order(void)
{
	struct sva_mm *mm = fake_mm(SVA_MM_RESTRICTED, false);
	struct sva_bond *bond = sva_calloc(1, sizeof(*bond));
	char *own = (char *)((uintptr_t)bond & ~(uintptr_t)(PG - 1));
	/* A place with nothing mapped (a fixed one may be a sanitizer's shadow). */
	char *hole = mmap(NULL, 4 * PG, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (hole == MAP_FAILED || munmap(hole, 4 * PG))
		tap_bail("mmap: %s", strerror(errno));
	mm->maps_fd = -1;
	errors = 0;
	is_int(sva_mm_prefault(mm, own, 1ul << 40), -EXDEV,
	       "prefault from libsva's own memory on, not allowed and not all mapped: -EXDEV");
	is_int(sva_mm_prefault(mm, hole, PG), -EACCES, "prefault not allowed and not mapped: -EACCES");
	is_int(sva_mm_allow(mm, hole, 4 * PG), 0, "allow it");
	is_int(sva_mm_prefault(mm, hole, PG), -EFAULT, "prefault allowed but not mapped: -EFAULT");
	is_int(errors, 3, "  each failure logged once");
	is_int(sva_mm_deny(mm, hole, 4 * PG), 0, "deny it again");
	sva_free(bond);
}

/*
 * sva_mm_allow(3)/sva_mm_deny(3), -ENOMEM "(the set of ranges grows)":
 * nothing changed, the set included, and a deny that could not split a range
 * withdrew nothing either.
 */
static void out_of_memory(void)
{
	struct sva_mm *mm = fake_mm(SVA_MM_RESTRICTED, false);
	char *base = (char *)(uintptr_t)(64ull << 30);
	int ret;

	errors = 0;
	sva_test_fail_nth(1);
	ret = sva_mm_allow(mm, base, PG);
	sva_test_fail_nth(0);
	is_int(ret, -ENOMEM, "allow, the set cannot grow: -ENOMEM");
	is_int((int)mm->allowed.n, 0, "  nothing allowed");
	for (int i = 0; i < 8; i++)
		sva_mm_allow(mm, base + 4 * i * PG, 3 * PG);
	is_int((int)mm->allowed.n, 8, "8 separate ranges allowed");
	mm->ioas_id = 1;
	sva_chunks_insert(&mm->chunks, (uintptr_t)base + 4 * PG, (uintptr_t)base + 6 * PG, SVA_PROT_READ);
	sva_test_fail_nth(1);
	ret = sva_mm_deny(mm, base + 5 * PG, PG); /* splits [4, 7) in two: a ninth range */
	sva_test_fail_nth(0);
	is_int(ret, -ENOMEM, "deny that splits a range, the set cannot grow: -ENOMEM");
	ok(mm->allowed.n == 8 && sva_reach_check_locked(mm, (uintptr_t)base + 5 * PG) == 0,
	   "  still 8 ranges, the page still allowed");
	is_int(errors, 2, "  each failure logged once (no unmap was even tried: it would log too)");
	sva_chunks_clear(&mm->chunks);
}

/*
 * An allow's undo (reach.h; what sva_mem_alloc() takes back when a later step
 * fails): it denies what its allow added and nothing else.  Not what was
 * allowed before, not what another call allows while it is pending, even
 * inside what it added; a deny meanwhile needs no undoing.  And a pending
 * undo that would need memory to take another call's range out fails that
 * allow, nothing changed, rather than taking it back later.
 */
static bool allowed_at(struct sva_mm *mm, const char *base, int pg)
{
	return sva_rset_find(&mm->allowed, (uintptr_t)base + (uint64_t)pg * PG) != NULL;
}

static void allow_undo(void)
{
	struct sva_mm *mm = fake_mm(SVA_MM_RESTRICTED, false);
	char *base = (char *)(uintptr_t)(64ull << 30);
	struct sva_reach_undo u = { 0 }, w = { 0 };
	unsigned refused = 1;
	bool bad = false;
	int ret;

	errors = 0;
	if (sva_mm_allow(mm, base, PG))
		tap_bail("sva_mm_allow failed");
	is_int(sva_reach_allow(mm, base, 8 * PG, &u, "test"), 0, "an allow with an undo: pages 0-7, page 0 allowed already");
	ok(sva_rset_covers(&mm->allowed, (uintptr_t)base, (uintptr_t)base + 8 * PG), "  all 8 allowed");
	is_int(sva_mm_allow(mm, base + 3 * PG, PG), 0, "another call allows page 3 meanwhile");
	is_int(sva_mm_deny(mm, base + 5 * PG, PG), 0, "another call denies page 5 meanwhile");
	is_int(sva_reach_restore(mm, &u, &refused), 0, "the undo: 0");
	is_int((int)refused, 0, "  no unmap refused");
	ok(allowed_at(mm, base, 0), "  page 0, allowed before, stays allowed");
	ok(allowed_at(mm, base, 3), "  page 3, allowed meanwhile, stays allowed");
	for (int pg = 1; pg < 8; pg++)
		bad |= pg != 3 && allowed_at(mm, base, pg);
	ok(!bad, "  the rest is denied (%zu ranges)", mm->allowed.n);
	ok(!mm->undos, "  and the undo is off the list");
	is_int(errors, 0, "  nothing logged");

	/* Eight gaps of 3 pages between 7 allowed pages: the undo holds 8
	 * ranges, its first capacity, and an allow in the middle of one splits
	 * it. */
	sva_mm_deny(mm, base, 64 * PG);
	for (int i = 0; i < 7; i++)
		sva_mm_allow(mm, base + (4 * i + 3) * PG, PG);
	is_int(sva_reach_allow(mm, base, 31 * PG, &w, "test"), 0, "an allow with an undo over 8 gaps");
	ok(w.set.n == 8 && w.set.cap == 8, "  the undo holds 8 ranges at its capacity (%zu, %zu)", w.set.n, w.set.cap);
	sva_test_fail_nth(1);
	ret = sva_mm_allow(mm, base + PG, PG);
	sva_test_fail_nth(0);
	is_int(ret, -ENOMEM, "an allow inside a gap, no memory to take it out of the undo: -ENOMEM");
	ok(w.set.n == 8 && sva_rset_covers(&w.set, (uintptr_t)base, (uintptr_t)base + 3 * PG),
	   "  nothing changed: the undo still holds the whole gap");
	is_int(errors, 1, "  logged once");
	is_int(sva_mm_allow(mm, base + PG, PG), 0, "  with memory: 0");
	is_int(sva_reach_restore(mm, &w, NULL), 0, "the undo: 0");
	bad = false;
	for (int pg = 0; pg < 31; pg++)
		bad |= allowed_at(mm, base, pg) != (pg == 1 || pg % 4 == 3);
	ok(!bad, "  denies the gaps but page 1; the 7 pages allowed before and page 1 stay allowed");
	ok(!mm->undos, "  and the undo is off the list");
	sva_mm_deny(mm, base, 64 * PG);
}

int main(void)
{
	rset_logic();
	arena();
	api();
	refused_unmap();
	mem_free_refused_unmap();
	mem_free_refused_keeps_concurrent_deny();
	mem_free_refused_concurrent_deny_oom();
	mem_free_deny_oom_line();
	range_edge();
	prefault_order();
	out_of_memory();
	allow_undo();
	return done_testing();
}
