/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The library arena.  A device that faults on a bond, a context or the fault
 * thread's stack must not get it mapped: those hold the function pointers the
 * fault thread calls next.  The heap cannot be told apart from the
 * application's memory, so libsva does not use it: its objects come from
 * reservations of its own.
 *
 * A reservation is 1 GiB of PROT_NONE address space, cut into 64 KiB granules.
 * Its first granule holds a word per granule saying what it is (free, a slab
 * of one small size class, the head or the tail of a large allocation).
 * Small objects (up to 2 KiB, power-of-two classes, so aligned on their size)
 * come from slabs, which are kept for reuse; large ones and thread stacks take
 * whole granules, given back (MADV_DONTNEED, PROT_NONE) when freed.  Memory
 * is committed (made read-write) only as it is handed out, so the reservation
 * costs address space, not memory or overcommit.  Reservations are never
 * unmapped: an address that was the arena's stays excluded, so resolution
 * never races a new allocation.
 *
 * Forked children keep the arena (no MADV_DONTFORK): fork.c lets a child free
 * the objects it inherited, and it must be able to read them for that.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <link.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "arena.h"
#include "sigblock.h"
#include "test_fail.h"

/*
 * Under AddressSanitizer the arena does what ASan's allocator would not see to
 * do: free objects and the slack past each object (at least a 16-byte redzone)
 * are poisoned, so overflows and uses after free in library objects are still
 * caught (without a quarantine: a freed slot is reused first).  The free-list
 * link, the first word of a free object, stays addressable.
 */
#if defined(__SANITIZE_ADDRESS__)
#define ARENA_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define ARENA_ASAN 1
#endif
#endif
#ifdef ARENA_ASAN
#include <sanitizer/asan_interface.h>
#define REDZONE 16u
#define POISON(p, n) ASAN_POISON_MEMORY_REGION((p), (n))
#define UNPOISON(p, n) ASAN_UNPOISON_MEMORY_REGION((p), (n))
#else
#define REDZONE 0u
#define POISON(p, n) ((void)(p), (void)(n))
#define UNPOISON(p, n) ((void)(p), (void)(n))
#endif

#define GRANULE (64ull << 10)
#define RESERVE (1ull << 30)
#define NGRAN (RESERVE / GRANULE) /* 16384 words of 4 bytes: the first granule */
#define MAX_RES 64
#define MAX_EXCL (MAX_RES + 16)
#define MIN_SHIFT 4 /* 16 bytes */
#define NCLASS 8    /* 16 .. 2048 */
#define PAGE 4096ull

#define K_FREE 0u
#define K_META 1u
#define K_SMALL 2u /* + class */
#define K_TAIL 0x40000000u
#define K_HEAD 0x80000000u /* | granules */

struct reservation {
	uint64_t base; /* GRANULE-aligned */
	uint32_t *kind;
	uint32_t hint; /* first granule that may be free */
};

struct obj {
	struct obj *next;
};

static struct {
	pthread_mutex_t lock;
	struct reservation res[MAX_RES];
	unsigned nres;
	struct obj *free[NCLASS];
} A = { .lock = PTHREAD_MUTEX_INITIALIZER };

static struct {
	uint64_t s, e;
} X[MAX_EXCL];
static atomic_uint g_nx;
static pthread_once_t g_once = PTHREAD_ONCE_INIT;
#ifdef SVA_TEST_HOOKS
uint64_t sva_test_arena_at;
#endif

/* Set if a writable segment of the library could not be excluded: no
 * reservation is made then, so libsva allocates nothing a device might reach. */
static bool g_excl_short;

/* Called with A.lock held, or from the once-only initializer.  false: the
 * table is full, which MAX_RES reservations and a few segments never fill;
 * the caller fails rather than abort() (sva.h: libsva never aborts). */
static bool exclude(uint64_t s, uint64_t e)
{
	unsigned n = atomic_load_explicit(&g_nx, memory_order_relaxed);

	if (n == MAX_EXCL)
		return false;
	X[n].s = s;
	X[n].e = e;
	atomic_store_explicit(&g_nx, n + 1, memory_order_release);
	return true;
}

static void before_fork(void)
{
	pthread_mutex_lock(&A.lock);
}

static void after_fork(void)
{
	pthread_mutex_unlock(&A.lock);
}

/* The writable segments (data, bss, GOT) of the object holding this code,
 * when it is a shared object: linked into a program, they are the program's
 * and not ours to refuse (docs/design.md). */
static int image_cb(struct dl_phdr_info *info, size_t size, void *arg)
{
	uint64_t me = (uint64_t)(uintptr_t)arg;
	bool mine = false;

	(void)size;
	for (unsigned i = 0; i < info->dlpi_phnum; i++) {
		const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
		uint64_t s = info->dlpi_addr + ph->p_vaddr;

		if (ph->p_type == PT_LOAD && me >= s && me < s + ph->p_memsz)
			mine = true;
	}
	if (!mine)
		return 0;
	if (!info->dlpi_name || !info->dlpi_name[0])
		return 1;
	for (unsigned i = 0; i < info->dlpi_phnum; i++) {
		const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
		uint64_t s = info->dlpi_addr + ph->p_vaddr;

		if (ph->p_type == PT_LOAD && (ph->p_flags & PF_W) &&
		    !exclude(s & ~(PAGE - 1), (s + ph->p_memsz + PAGE - 1) & ~(PAGE - 1)))
			g_excl_short = true;
	}
	return 1;
}

static void init(void)
{
	pthread_atfork(before_fork, after_fork, after_fork);
	dl_iterate_phdr(image_cb, (void *)(uintptr_t)&sva_excluded);
}

/* A reservation excluded already whose first granule could not be made
 * usable (A.lock): the next reserve() tries it again rather than take, and
 * exclude, more address space each time. */
static void *g_spare;

/* A new reservation (A.lock held).  false: out of address space or slots. */
static bool reserve(void)
{
	struct reservation *r;
	uint64_t base, at;
	void *p;

	if (A.nres == MAX_RES || g_excl_short)
		return false;
	if (g_spare) {
		p = g_spare;
		at = (uint64_t)(uintptr_t)p;
		goto commit;
	}
	p = MAP_FAILED;
#ifdef SVA_TEST_HOOKS
	/* Where a test wants the arena: inside a device's window. */
	if (sva_test_arena_at)
		p = mmap((void *)(uintptr_t)sva_test_arena_at, RESERVE + GRANULE, PROT_NONE,
			 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_FIXED_NOREPLACE, -1, 0);
	sva_test_arena_at = 0;
#endif
	if (p == MAP_FAILED)
		p = mmap(NULL, RESERVE + GRANULE, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (p == MAP_FAILED)
		return false;
	at = (uint64_t)(uintptr_t)p;
	/* Excluded whole, slack included, before any of it is handed out. */
	if (!exclude(at, at + RESERVE + GRANULE)) {
		munmap(p, RESERVE + GRANULE);
		return false;
	}
commit:
	base = (at + GRANULE - 1) & ~(GRANULE - 1);
	if (mprotect((void *)(uintptr_t)base, GRANULE, PROT_READ | PROT_WRITE)) {
		/* Nothing of it was handed out, but its entry stays, and so does the
		 * PROT_NONE reservation: readers scan the set without a lock, so an
		 * entry is never rewritten; the next reserve() tries it again. */
		g_spare = p;
		return false;
	}
	g_spare = NULL;
	r = &A.res[A.nres++];
	r->base = base;
	r->kind = (uint32_t *)(uintptr_t)base;
	r->kind[0] = K_META;
	r->hint = 1;
	return true;
}

static struct reservation *res_of(uint64_t a)
{
	for (unsigned i = 0; i < A.nres; i++)
		if (a >= A.res[i].base && a < A.res[i].base + RESERVE)
			return &A.res[i];
	return NULL;
}

/* n free granules in a row, committed read-write; NULL if none (A.lock held). */
static void *granules(uint32_t n, uint32_t kind)
{
	for (int pass = 0; pass < 2; pass++) {
		for (unsigned i = 0; i < A.nres; i++) {
			struct reservation *r = &A.res[i];

			for (uint32_t g = r->hint, run = 0; g < NGRAN; g++) {
				run = r->kind[g] == K_FREE ? run + 1 : 0;
				if (run < n)
					continue;
				uint32_t first = g + 1 - n;
				void *p = (void *)(uintptr_t)(r->base + first * GRANULE);

				if (mprotect(p, n * GRANULE, PROT_READ | PROT_WRITE))
					return NULL;
				r->kind[first] = kind == K_HEAD ? K_HEAD | n : kind;
				for (uint32_t j = first + 1; j <= g; j++)
					r->kind[j] = K_TAIL;
				if (first == r->hint)
					r->hint = g + 1;
				return p;
			}
		}
		if (pass == 0 && !reserve())
			return NULL;
	}
	return NULL;
}

static int class_of(size_t size)
{
	for (int c = 0; c < NCLASS; c++)
		if (size <= (1u << (MIN_SHIFT + c)))
			return c;
	return -1;
}

/* A free small object of osz bytes goes on its class's list. */
static void push(int c, struct obj *o, size_t osz)
{
	POISON(o, osz);
	UNPOISON(o, sizeof(*o));
	o->next = A.free[c];
	A.free[c] = o;
}

static void *alloc_locked(size_t size)
{
	int c = class_of((size ? size : 1) + REDZONE);

	if (c < 0) {
		if (size > RESERVE - GRANULE)
			return NULL;
		uint32_t n = (uint32_t)((size + GRANULE - 1) / GRANULE);
		void *p = granules(n, K_HEAD);

		if (p) {
			UNPOISON(p, size);
			POISON((char *)p + size, n * GRANULE - size);
		}
		return p;
	}
	if (!A.free[c]) {
		size_t osz = 1u << (MIN_SHIFT + c);
		void *slab = granules(1, K_SMALL + (uint32_t)c);

		if (!slab)
			return NULL;
		for (size_t off = GRANULE; off >= osz; off -= osz)
			push(c, (struct obj *)(uintptr_t)((uintptr_t)slab + off - osz), osz); /* osz-aligned */
	}
	struct obj *o = A.free[c];

	A.free[c] = o->next;
	UNPOISON(o, size);
	POISON((char *)o + size, ((size_t)1 << (MIN_SHIFT + c)) - size);
	return o;
}

bool sva_arena_room(void)
{
	bool room;
	void *p;

	pthread_mutex_lock(&A.lock);
	room = A.nres > 0;
	pthread_mutex_unlock(&A.lock);
	if (room)
		return true;
	p = mmap(NULL, RESERVE + GRANULE, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (p == MAP_FAILED)
		return false;
	munmap(p, RESERVE + GRANULE);
	return true;
}

void *sva_malloc(size_t size)
{
	void *p;

	if (SVA_TEST_FAIL_POINT()) {
		errno = ENOMEM;
		return NULL;
	}
	pthread_once(&g_once, init);
	pthread_mutex_lock(&A.lock);
	p = alloc_locked(size);
	pthread_mutex_unlock(&A.lock);
	if (!p)
		errno = ENOMEM;
	return p;
}

size_t sva_malloc_many(size_t size, void **out, size_t n)
{
	size_t got = 0;

	if (SVA_TEST_FAIL_POINT()) {
		errno = ENOMEM;
		return 0;
	}
	pthread_once(&g_once, init);
	pthread_mutex_lock(&A.lock);
	while (got < n && (out[got] = alloc_locked(size)))
		got++;
	pthread_mutex_unlock(&A.lock);
	if (!got)
		errno = ENOMEM;
	return got;
}

void *sva_calloc(size_t n, size_t size)
{
	void *p;

	if (size && n > SIZE_MAX / size) {
		errno = ENOMEM;
		return NULL;
	}
	p = sva_malloc(n * size);
	if (p)
		memset(p, 0, n * size);
	return p;
}

void *sva_aligned_alloc(size_t align, size_t size)
{
	/* Small classes are aligned on their size, granules on 64 KiB. */
	if (align > GRANULE || (align & (align - 1))) {
		errno = EINVAL;
		return NULL;
	}
	return sva_malloc(size < align ? align : size);
}

char *sva_strdup(const char *s)
{
	size_t n = strlen(s) + 1;
	char *p = sva_malloc(n);

	if (p)
		memcpy(p, s, n);
	return p;
}

/* usable_locked()'s answer for a pointer into the arena that it never handed
 * out (a double free or a stray pointer: a bug of libsva's own). */
#define NOT_HANDED_OUT SIZE_MAX

/* The usable size of an arena pointer, 0 if p is not the arena's (A.lock held). */
static size_t usable_locked(void *p, struct reservation **rp, uint32_t *gp)
{
	uint64_t a = (uint64_t)(uintptr_t)p;
	struct reservation *r = res_of(a);
	uint32_t g, k;

	if (!r)
		return 0;
	g = (uint32_t)((a - r->base) / GRANULE);
	k = r->kind[g];
	*rp = r;
	*gp = g;
	if (k >= K_SMALL && k < K_SMALL + NCLASS)
		return (size_t)1 << (MIN_SHIFT + (k - K_SMALL));
	if ((k & K_HEAD) && a == r->base + g * GRANULE)
		return (k & ~K_HEAD) * GRANULE;
	return NOT_HANDED_OUT;
}

static void free_locked(void *p, struct reservation *r, uint32_t g)
{
	uint32_t k = r->kind[g];

	if (k & K_HEAD) {
		uint32_t n = k & ~K_HEAD;

		madvise(p, n * GRANULE, MADV_DONTNEED);
		mprotect(p, n * GRANULE, PROT_NONE);
		for (uint32_t j = g; j < g + n; j++)
			r->kind[j] = K_FREE;
		if (g < r->hint)
			r->hint = g;
		return;
	}
	push((int)(k - K_SMALL), p, (size_t)1 << (MIN_SHIFT + (k - K_SMALL)));
}

void sva_free(void *p)
{
	struct reservation *r;
	uint32_t g;
	size_t have;

	if (!p)
		return;
	pthread_mutex_lock(&A.lock);
	have = usable_locked(p, &r, &g);
	if (!have) {
		pthread_mutex_unlock(&A.lock);
		free(p); /* libc's, not ours */
		return;
	}
	/* Never handed out: left alone, a leak at worst, where libc would
	 * abort() (which libsva promises never to do). */
	if (have != NOT_HANDED_OUT)
		free_locked(p, r, g);
	pthread_mutex_unlock(&A.lock);
}

void *sva_realloc(void *p, size_t size)
{
	struct reservation *r;
	uint32_t g;
	size_t have;
	void *q;

	if (!p)
		return sva_malloc(size);
	pthread_mutex_lock(&A.lock);
	have = usable_locked(p, &r, &g);
	pthread_mutex_unlock(&A.lock);
	if (!have)
		return realloc(p, size);
	if (have == NOT_HANDED_OUT)
		return NULL; /* as sva_free(): not abort() */
	if (!REDZONE && size && size <= have && (size > have / 2 || have <= (1u << MIN_SHIFT)))
		return p;
	q = sva_malloc(size);
	if (!q)
		return NULL;
	UNPOISON(p, have); /* the old size is not known: copy the slack too */
	memcpy(q, p, size < have ? size : have);
	sva_free(p);
	return q;
}

int sva_thread_create(pthread_t *t, void *(*fn)(void *), void *arg, void **stack)
{
	pthread_attr_t attr;
	size_t size = 0;
	char *p;
	int ret;

	ret = pthread_attr_init(&attr);
	if (ret)
		return -ret;
	/* The size a thread would get by default (RLIMIT_STACK on glibc). */
	pthread_attr_getstacksize(&attr, &size);
	if (size < (256u << 10))
		size = 256u << 10;
	if (size > (64u << 20))
		size = 64u << 20;
	size = (size + GRANULE - 1) & ~(GRANULE - 1);
	p = sva_malloc(size + GRANULE);
	if (!p) {
		pthread_attr_destroy(&attr);
		return -ENOMEM;
	}
	/* A guard page below the stack, as pthread gives its own stacks. */
	mprotect(p, PAGE, PROT_NONE);
	ret = pthread_attr_setstack(&attr, p + GRANULE, size);
	if (!ret) {
		sigset_t old;

		sva_signals_hold(&old); /* the new thread starts with this mask */
		ret = pthread_create(t, &attr, fn, arg);
		sva_signals_restore(&old);
	}
	pthread_attr_destroy(&attr);
	if (ret) {
		sva_free(p);
		return -ret;
	}
	*stack = p;
	return 0;
}

void sva_thread_stack_free(void *stack)
{
	sva_free(stack);
}

bool sva_excluded(uint64_t addr)
{
	unsigned n = atomic_load_explicit(&g_nx, memory_order_acquire);

	for (unsigned i = 0; i < n; i++)
		if (addr >= X[i].s && addr < X[i].e)
			return true;
	return false;
}

bool sva_excluded_overlaps(uint64_t start, uint64_t end)
{
	unsigned n = atomic_load_explicit(&g_nx, memory_order_acquire);

	for (unsigned i = 0; i < n; i++)
		if (start < X[i].e && X[i].s < end)
			return true;
	return false;
}

void sva_excluded_clip(uint64_t addr, uint64_t *ws, uint64_t *we)
{
	unsigned n = atomic_load_explicit(&g_nx, memory_order_acquire);

	for (unsigned i = 0; i < n; i++) {
		if (X[i].e <= addr && X[i].e > *ws)
			*ws = X[i].e;
		if (X[i].s > addr && X[i].s < *we)
			*we = X[i].s;
	}
}
