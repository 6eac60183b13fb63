/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The placement allocator: anonymous memory at virtual addresses the devices
 * can reach as IOVA == VA, preferably on the device's NUMA node, optionally on
 * 2 MiB pages and made visible in an address space at once.
 *
 * The window.  Re-read from the kernel at every call: the IOVA ranges of
 * opts->mm's IOAS, intersected with those of the IOAS opts->dev's RID is
 * attached to (when it is), clipped to the user address space [floor, top]:
 * floor is max(64 KiB, vm.mmap_min_addr), top the end of the highest mapping
 * of the process (its stack, or the vDSO just above it).
 *
 * The address.  Lowest fit first (bottom-up), aligned to the page size or to
 * 2 MiB: a device whose DMA mask is narrower than its IOMMU window (32-bit DMA
 * engines, QEMU's 28-bit edu) then gets addresses it can use whenever low ones
 * are free, while the kernel's own mmap(NULL) placement works top-down from
 * below the stack, so the two rarely meet.  But not right above the floor:
 * the first fit is searched from MEM_GUARD (16 MiB) up, and below it only when
 * the window has no room there (a window that ends below 16 MiB), so that a
 * driver's NULL-plus-offset bug faults instead of reading or writing memory a
 * device sees.  16 MiB leaves every offset into a struct or a small array
 * unmapped, and is where the selftest mock's window starts anyway.
 *
 * Taken: every mapping of /proc/self/maps; MEM_BRK_ROOM above the program
 * break (so a brk heap of a non-PIE program can still grow); the stack's
 * growth room below [stack]; every chunk already visible in opts->mm (stale
 * pages of memory unmapped without sva_mm_invalidate() would otherwise be
 * "already visible" in the new allocation); and every allocation of the table (one the caller munmap()ed by
 * hand stays taken until sva_mem_free()).  The address is then mapped with
 * MAP_FIXED_NOREPLACE; if another thread took part of it meanwhile (EEXIST),
 * the search runs again without it.
 *
 * Allocations are recorded in a table (sorted by address, one mutex) so that
 * sva_mem_free() can refuse pointers and lengths that are not its own.
 */
#include <errno.h>
#include <inttypes.h>
#include <numa.h>
#include <stdarg.h>
#include <numaif.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <unistd.h>

#include "broker_share.h"
#include "internal.h"
#include "mem_window.h"
#include "withdraw.h"

#define MEM_HUGE_SIZE (2ull << 20)
#define MEM_FLOOR_MIN (64ull << 10)
#define MEM_GUARD (16ull << 20) /* lowest address used while the window has room above */
#define MEM_BRK_ROOM (64ull << 20)
#define MEM_STACK_ROOM_MIN (8ull << 20)
#define MEM_STACK_ROOM_MAX (1ull << 30)
#define MEM_STACK_GUARD (1ull << 20)
#define MEM_NR_RANGES SVA_WINDOW_RANGES		  /* what sva_iova_window() reports at most */
#define MEM_WIN_CAP (2 * MEM_NR_RANGES + 2) /* an intersection of two such lists */
#define MEM_RETRIES 64				  /* EEXIST races before giving up */

#ifndef MAP_HUGE_SHIFT
#define MAP_HUGE_SHIFT 26
#endif
#define MEM_MAP_HUGE_2MB (21 << MAP_HUGE_SHIFT)

#define BITS_PER_ULONG (8 * sizeof(unsigned long))

struct mem_ent {
	uint64_t addr, maplen;
	size_t len; /* as asked */
	int backing;
	bool busy; /* being set up or torn down: not freeable */
};

static struct {
	pthread_mutex_t lock;
	struct mem_ent *v; /* sorted by addr */
	size_t n, cap;
} g_mem = { .lock = PTHREAD_MUTEX_INITIALIZER };

#ifdef SVA_TEST_HOOKS
void (*sva_mem_test_race_hook)(uint64_t addr, uint64_t len);
/* Tests only: hold or let go of the table's lock, as a thread inside
 * sva_mem_alloc() would (a fork then must not leave the child stuck). */
void sva_mem_test_lock(bool hold);
void sva_mem_test_lock(bool hold)
{
	if (hold)
		pthread_mutex_lock(&g_mem.lock);
	else
		pthread_mutex_unlock(&g_mem.lock);
}
#endif

/*
 * fork(): the child frees its copies with sva_mem_free(NULL, ...) and may
 * allocate, so it must not inherit g_mem.lock held by another thread.  The
 * forking thread takes it before the fork.  It is a leaf but for the arena's
 * lock (the table grows with sva_malloc()), so the handler is registered
 * after the arena's (which makes it run before it), once the arena is up.
 */
static void mem_fork_prepare(void)
{
	pthread_mutex_lock(&g_mem.lock);
}

static void mem_fork_done(void)
{
	pthread_mutex_unlock(&g_mem.lock);
}

static void mem_fork_install(void)
{
	sva_free(sva_malloc(1)); /* the arena and its fork handler first */
	pthread_atfork(mem_fork_prepare, mem_fork_done, mem_fork_done);
}

static void mem_init(void)
{
	static pthread_once_t once = PTHREAD_ONCE_INIT;

	pthread_once(&once, mem_fork_install);
}

/* A growable list of ranges. */
struct rvec {
	struct sva_iova_range *v;
	size_t n, cap;
};

static int rvec_push(struct rvec *r, uint64_t start, uint64_t last)
{
	if (r->n == r->cap) {
		size_t cap = r->cap ? r->cap * 2 : 256;
		struct sva_iova_range *v = sva_realloc(r->v, cap * sizeof(*v));

		if (!v)
			return -ENOMEM;
		r->v = v;
		r->cap = cap;
	}
	r->v[r->n++] = (struct sva_iova_range){ .start = start, .last = last };
	return 0;
}

/* ------------------------------------------------------------ the table */

/* Index of the entry at addr, or the insertion point (g_mem.lock held). */
static size_t ent_search(uint64_t addr)
{
	size_t lo = 0, hi = g_mem.n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (g_mem.v[mid].addr < addr)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

static int ent_insert(const struct mem_ent *e)
{
	size_t at = ent_search(e->addr);

	if (g_mem.n == g_mem.cap) {
		size_t cap = g_mem.cap ? g_mem.cap * 2 : 64;
		struct mem_ent *v = sva_realloc(g_mem.v, cap * sizeof(*v));

		if (!v)
			return -ENOMEM;
		g_mem.v = v;
		g_mem.cap = cap;
	}
	memmove(&g_mem.v[at + 1], &g_mem.v[at], (g_mem.n - at) * sizeof(*g_mem.v));
	g_mem.v[at] = *e;
	g_mem.n++;
	return 0;
}

/* Drop the entry of an allocation (its memory is unmapped already). */
static void ent_drop(uint64_t addr)
{
	size_t at;

	pthread_mutex_lock(&g_mem.lock);
	at = ent_search(addr);
	if (at < g_mem.n && g_mem.v[at].addr == addr) {
		memmove(&g_mem.v[at], &g_mem.v[at + 1], (g_mem.n - at - 1) * sizeof(*g_mem.v));
		g_mem.n--;
	}
	pthread_mutex_unlock(&g_mem.lock);
}

/*
 * Unmap an allocation; its entry stays (busy) until the caller drops it, so no
 * concurrent allocation can take the address before the old memory is
 * withdrawn everywhere.  No lock is held across munmap(): tracked memory
 * blocks it until the coherence monitor reads the event.
 */
static int ent_unmap_only(uint64_t addr, uint64_t maplen)
{
	return munmap((void *)(uintptr_t)addr, maplen) ? -errno : 0;
}

static void ent_set_busy(uint64_t addr, bool busy)
{
	size_t at;

	pthread_mutex_lock(&g_mem.lock);
	at = ent_search(addr);
	if (at < g_mem.n && g_mem.v[at].addr == addr)
		g_mem.v[at].busy = busy;
	pthread_mutex_unlock(&g_mem.lock);
}

int sva_mem_backing(const void *addr)
{
	uint64_t a = (uintptr_t)addr;
	int ret = -ENOENT;
	size_t at;

	pthread_mutex_lock(&g_mem.lock);
	at = ent_search(a);
	if (at < g_mem.n && g_mem.v[at].addr == a && !g_mem.v[at].busy)
		ret = g_mem.v[at].backing;
	pthread_mutex_unlock(&g_mem.lock);
	return ret;
}

const char *sva_mem_backing_name(int backing)
{
	switch (backing) {
	case SVA_MEM_BACKING_HUGETLB:
		return "hugetlb";
	case SVA_MEM_BACKING_THP:
		return "THP";
	case SVA_MEM_BACKING_PAGES:
		return "pages";
	default:
		return "unknown";
	}
}

/* ----------------------------------------------------------- the window */

static uint64_t g_floor = MEM_FLOOR_MIN;
static pthread_once_t g_floor_once = PTHREAD_ONCE_INIT;

static void floor_init(void)
{
	FILE *f = fopen("/proc/sys/vm/mmap_min_addr", "re");
	unsigned long long v;

	if (!f)
		return;
	if (fscanf(f, "%llu", &v) == 1 && v > g_floor)
		g_floor = v;
	fclose(f);
}

/*
 * The process's mappings into busy, [start, last]; *top gets the last byte of
 * the highest user mapping, *stack the start of [stack] (0 if none).
 */
static int read_maps(struct rvec *busy, uint64_t *top, uint64_t *stack)
{
	FILE *f = fopen("/proc/self/maps", "re");
	char line[512];
	int ret = 0;

	*top = 0;
	*stack = 0;
	if (!f)
		return -errno;
	while (fgets(line, sizeof(line), f)) {
		uint64_t lo, hi;
		bool whole = strchr(line, '\n') != NULL;

		if (sscanf(line, "%" SCNx64 "-%" SCNx64, &lo, &hi) == 2 && hi > lo) {
			ret = rvec_push(busy, lo, hi - 1);
			if (ret)
				break;
			if (hi <= (1ull << 63) && hi - 1 > *top)
				*top = hi - 1; /* [vsyscall] sits above 2^63: not user space */
			if (strstr(line, " [stack]"))
				*stack = lo;
		}
		/* Long path names spill over the buffer: skip the rest of such lines. */
		if (!whole) {
			int c;

			while ((c = fgetc(f)) != EOF && c != '\n')
				;
		}
	}
	fclose(f);
	if (!ret && !*top)
		ret = -ENOENT; /* no mappings at all: not a real /proc */
	return ret;
}

/* Room kept free below the main stack for it to grow. */
static uint64_t stack_room(void)
{
	struct rlimit rl;
	uint64_t room = MEM_STACK_ROOM_MAX;

	if (getrlimit(RLIMIT_STACK, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < MEM_STACK_ROOM_MAX)
		room = rl.rlim_cur < MEM_STACK_ROOM_MIN ? MEM_STACK_ROOM_MIN : rl.rlim_cur;
	return room + MEM_STACK_GUARD;
}

/* The IOVA ranges of an IOAS, normalized (at most MEM_NR_RANGES: with more,
 * the lowest ones, a subset of the window, which is safe). */
static int ioas_ranges(int fd, uint32_t ioas, struct sva_iova_range *r, size_t *n)
{
	size_t nr;
	int ret = sva_iova_window(fd, ioas, r, &nr);

	if (ret)
		return ret;
	*n = sva_mem_ranges_normalize(r, nr);
	return 0;
}

/* win (capacity MEM_WIN_CAP) narrowed to its intersection with r. */
static void narrow(struct sva_iova_range *win, size_t *nwin, const struct sva_iova_range *r, size_t nr)
{
	struct sva_iova_range tmp[MEM_WIN_CAP];
	size_t n = sva_mem_ranges_intersect(win, *nwin, r, nr, tmp, MEM_WIN_CAP);

	if (n > MEM_WIN_CAP)
		n = MEM_WIN_CAP;
	memcpy(win, tmp, n * sizeof(*tmp));
	*nwin = n;
}

/*
 * What the kernel allows now: opts->mm's IOAS ranges, narrowed by those of the
 * IOAS opts->dev's RID is attached to.  Neither: everything.
 */
#ifdef SVA_TEST_HOOKS
/* Tests only (libsva-test): called once kernel_window() has the IOAS of
 * opts->dev's RID and before it asks the kernel about it. */
void (*sva_test_kernel_window_hook)(void);
#define KERNEL_WINDOW_HOOK() (sva_test_kernel_window_hook ? sva_test_kernel_window_hook() : (void)0)
#else
#define KERNEL_WINDOW_HOOK() ((void)0)
#endif

static int kernel_window(const struct sva_mem_opts *o, const struct sva_log *log, struct sva_iova_range *win,
			 size_t *nwin)
{
	struct sva_iova_range r[MEM_NR_RANGES];
	size_t nr = 0;
	int ret;

	win[0] = (struct sva_iova_range){ .start = 0, .last = UINT64_MAX };
	*nwin = 1;
	if (o->mm) {
		ret = ioas_ranges(o->mm->ctx->fd, o->mm->ioas_id, r, &nr);
		if (ret)
			return sva_fail_said(log, ret, "sva_mem_alloc: IOMMU_IOAS_IOVA_RANGES of the address space failed: %s",
					strerror(-ret));
		narrow(win, nwin, r, nr);
	}
	if (o->dev) {
		uint32_t ioas;

		/*
		 * dev->lock is held over the query, as in sva_dev_iova_ranges():
		 * a RID unbind clears rid_ioas under it, and only after that can
		 * sva_mm_free() destroy the IOAS.  Read under the lock and
		 * queried after it, the number could name an IOAS destroyed
		 * meanwhile, or, reused, another address space's, whose window
		 * (without this device's aperture or reserved regions) placed
		 * the memory where the device cannot reach it.
		 */
		pthread_mutex_lock(&o->dev->lock);
		ioas = o->dev->rid_ioas;
		ret = 0;
		if (ioas) {
			KERNEL_WINDOW_HOOK();
			ret = ioas_ranges(o->dev->ctx->fd, ioas, r, &nr);
		}
		pthread_mutex_unlock(&o->dev->lock);
		if (ioas) {
			if (ret)
				return sva_fail(log, ret,
						"sva_mem_alloc: IOMMU_IOAS_IOVA_RANGES of device %u's address space "
						"failed: %s",
						o->dev->info.dev_id, strerror(-ret));
			narrow(win, nwin, r, nr);
		}
	}
	return 0;
}

/* Chunks visible in mm: taken, whatever the process has there now. */
static int mm_chunks(struct sva_mm *mm, struct rvec *out)
{
	size_t n;
	int ret = 0;

	/*
	 * mm->lock keeps the table from growing; it may shrink (the coherence
	 * monitor) but map_lock must not be held across the allocation.
	 */
	pthread_mutex_lock(&mm->lock);
	pthread_mutex_lock(&mm->map_lock);
	n = mm->chunks.count;
	pthread_mutex_unlock(&mm->map_lock);
	if (n > out->cap) {
		struct sva_iova_range *v = sva_realloc(out->v, n * sizeof(*v));

		if (!v)
			ret = -ENOMEM;
		else {
			out->v = v;
			out->cap = n;
		}
	}
	if (!ret) {
		pthread_mutex_lock(&mm->map_lock);
		for (const struct sva_chunk *c = sva_chunks_after(&mm->chunks, 0); c; c = sva_chunks_next(c))
			out->v[out->n++] = (struct sva_iova_range){ .start = c->start, .last = c->end - 1 };
		pthread_mutex_unlock(&mm->map_lock);
	}
	pthread_mutex_unlock(&mm->lock);
	return ret;
}

/* ------------------------------------------------------------- NUMA */

/*
 * 1: node n exists and has memory this process may use; 0: not.  Asked of the
 * kernel at each call (MPOL_F_MEMS_ALLOWED: the cpuset's nodes that have
 * memory), not of libnuma's numa_all_nodes_ptr, a snapshot of
 * /proc/self/status taken at load which, on a kernel without cpusets, lists
 * every node up to the highest, memoryless ones included: mbind() refuses
 * those with EINVAL.
 */
static int node_usable(int n)
{
	size_t bits, words;
	unsigned long *mask;
	int ret;

	if (numa_available() < 0)
		return n == 0; /* not NUMA: node 0 is all there is */
	if (n > numa_max_node())
		return 0;
	/* The kernel wants room for every possible node (nr_node_ids). */
	bits = (size_t)numa_num_possible_nodes();
	if (bits <= (size_t)n)
		bits = (size_t)n + 1;
	words = (bits + BITS_PER_ULONG - 1) / BITS_PER_ULONG;
	mask = sva_calloc(words, sizeof(*mask));
	if (!mask) /* libnuma's snapshot, then */
		return numa_bitmask_isbitset(numa_all_nodes_ptr, (unsigned)n);
	if (get_mempolicy(NULL, mask, words * BITS_PER_ULONG, NULL, MPOL_F_MEMS_ALLOWED)) /* seccomp? */
		ret = numa_bitmask_isbitset(numa_all_nodes_ptr, (unsigned)n);
	else
		ret = (int)(mask[(size_t)n / BITS_PER_ULONG] >> ((size_t)n % BITS_PER_ULONG) & 1);
	sva_free(mask);
	return ret;
}

/* The node to prefer (-1: none), from opts. */
static int mem_node(const struct sva_mem_opts *o, const struct sva_log *log, int *node)
{
	int n = o->numa_node;

	*node = -1;
	if (o->flags & SVA_MEM_ANY_NODE)
		return 0;
	if (!(o->flags & SVA_MEM_NODE)) {
		struct sva_dev_info info = { .size = sizeof(info) };

		if (!o->dev || sva_dev_get_info(o->dev, &info) || info.numa_node < 0)
			return 0;
		n = info.numa_node;
		if (!node_usable(n)) {
			sva_logf(log, SVA_LOG_DEBUG,
				 "sva_mem_alloc: the device's NUMA node %d has no memory this process may use: "
				 "no placement", n);
			return 0;
		}
	} else if (!node_usable(n)) {
		return sva_fail(log, -ENODEV,
				"sva_mem_alloc: NUMA node %d does not exist or has no memory this process may use "
				"(nodes 0-%d; see numactl --hardware)",
				n, numa_available() < 0 ? 0 : numa_max_node());
	}
	if (numa_available() >= 0)
		*node = n;
	return 0;
}

/* Prefer `node` for the pages of [p, p + len). */
static int bind_node(void *p, uint64_t len, int node)
{
	size_t words = (size_t)node / BITS_PER_ULONG + 1;
	unsigned long *mask = sva_calloc(words, sizeof(*mask));
	int ret = 0;

	if (!mask)
		return -ENOMEM;
	mask[(size_t)node / BITS_PER_ULONG] = 1ul << ((size_t)node % BITS_PER_ULONG);
	if (mbind(p, len, MPOL_PREFERRED, mask, words * BITS_PER_ULONG + 1, 0))
		ret = -errno;
	sva_free(mask);
	return ret;
}

/* ---------------------------------------------------------- allocation */

#ifdef SVA_TEST_HOOKS
/* Tests only: the file read for the THP mode instead of the kernel's. */
const char *sva_mem_test_thp_path;
#endif

/* Transparent huge pages are disabled system-wide ("[never]"): madvise(
 * MADV_HUGEPAGE) still succeeds, but the memory gets base pages. */
static bool thp_never(void)
{
	const char *path = "/sys/kernel/mm/transparent_hugepage/enabled";
	char mode[128] = "";
	FILE *f;

#ifdef SVA_TEST_HOOKS
	if (sva_mem_test_thp_path)
		path = sva_mem_test_thp_path;
#endif
	f = fopen(path, "re");
	if (!f)
		return false; /* no THP at all: madvise() says so itself */
	if (!fgets(mode, sizeof(mode), f))
		mode[0] = '\0';
	fclose(f);
	return strstr(mode, "[never]") != NULL;
}

/*
 * mmap exactly at addr, not replacing anything.  Huge: hugetlb 2 MiB pages if
 * the kernel has them free, else base pages marked MADV_HUGEPAGE (which are
 * base pages only, and said so, while THP is disabled).  Returns 0,
 * -EEXIST (something is there: try elsewhere) or another -errno.
 */
static int map_at(uint64_t addr, uint64_t len, bool huge, int *backing)
{
	const int flags = MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE;
	void *want = (void *)(uintptr_t)addr, *p;

	if (huge) {
		p = mmap(want, len, PROT_READ | PROT_WRITE, flags | MAP_HUGETLB | MEM_MAP_HUGE_2MB, -1, 0);
		if (p == want) {
			*backing = SVA_MEM_BACKING_HUGETLB;
			return 0;
		}
		if (p != MAP_FAILED) { /* a kernel that takes NOREPLACE as a hint: taken */
			munmap(p, len);
			return -EEXIST;
		}
		if (errno == EEXIST)
			return -EEXIST;
		/* ENOMEM: no free huge pages reserved; EINVAL: no hugetlbfs.  THP. */
	}
	p = mmap(want, len, PROT_READ | PROT_WRITE, flags, -1, 0);
	if (p == MAP_FAILED)
		return -errno;
	if (p != want) {
		munmap(p, len);
		return -EEXIST;
	}
	*backing = SVA_MEM_BACKING_PAGES;
	if (huge && madvise(p, len, MADV_HUGEPAGE) == 0 && !thp_never())
		*backing = SVA_MEM_BACKING_THP;
	return 0;
}

/*
 * A log line made under g_mem.lock and written after it: the fork handlers
 * take g_mem.lock, and nothing may wait for another lock while holding it
 * (a log callback could do anything).
 */
struct later {
	enum sva_log_level level;
	char msg[256];
};

static int defer(struct later *l, enum sva_log_level level, int err, const char *fmt, ...) SVA_PRINTF(4, 5);
static int defer(struct later *l, enum sva_log_level level, int err, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(l->msg, sizeof(l->msg), fmt, ap);
	va_end(ap);
	l->level = level;
	return err;
}

/*
 * Choose an address in kwin and map maplen bytes there; the table gets a busy
 * entry for it.  Called and returns with g_mem.lock held.
 */
static int place_locked(struct later *why, const struct sva_iova_range *kwin, size_t nkwin,
			const struct rvec *taken, uint64_t maplen, uint64_t align, bool huge, struct mem_ent *e)
{
	struct sva_iova_range blocked[MEM_RETRIES], win[MEM_WIN_CAP];
	struct rvec busy = { 0 };
	size_t nblocked = 0;
	uint64_t brk_now = (uintptr_t)sbrk(0), room = stack_room();
	int ret;

	for (;;) {
		uint64_t top, stack, cand;
		size_t nwin = nkwin;
		struct sva_iova_range user;

		busy.n = 0;
		ret = read_maps(&busy, &top, &stack);
		if (ret) {
			ret = defer(why, SVA_LOG_ERROR, ret, "sva_mem_alloc: cannot read /proc/self/maps: %s%s",
				    strerror(-ret), sva_errno_remedy(ret, false));
			break;
		}
		for (size_t i = 0; i < taken->n && !ret; i++)
			ret = rvec_push(&busy, taken->v[i].start, taken->v[i].last);
		for (size_t i = 0; i < nblocked && !ret; i++)
			ret = rvec_push(&busy, blocked[i].start, blocked[i].last);
		/* Our own allocations, even if the caller unmapped one behind our back. */
		for (size_t i = 0; i < g_mem.n && !ret; i++)
			ret = rvec_push(&busy, g_mem.v[i].addr, g_mem.v[i].addr + g_mem.v[i].maplen - 1);
		if (!ret && brk_now != UINT64_MAX && brk_now < UINT64_MAX - MEM_BRK_ROOM)
			ret = rvec_push(&busy, brk_now, brk_now + MEM_BRK_ROOM - 1);
		if (!ret && stack > room)
			ret = rvec_push(&busy, stack - room, stack - 1);
		if (ret) {
			ret = defer(why, SVA_LOG_ERROR, ret, "sva_mem_alloc: out of memory");
			break;
		}

		pthread_once(&g_floor_once, floor_init);
		user = (struct sva_iova_range){ .start = g_floor, .last = top };
		memcpy(win, kwin, nkwin * sizeof(*kwin));
		narrow(win, &nwin, &user, 1);
		ret = sva_mem_find_gap_guarded(win, &nwin, busy.v, &busy.n, maplen, align, MEM_GUARD, &cand);
		if (ret) {
			/* A full window is the caller's business (libsva(7), Errors). */
			ret = defer(why, SVA_LOG_DEBUG, -ENOSPC,
					     "sva_mem_alloc: no free %" PRIu64 " KiB range inside the device-reachable "
					     "window (%zu range(s)%s, lowest 0x%" PRIx64 "): free memory there, or ask "
					     "for less",
					     maplen >> 10, nwin, nblocked ? ", some taken concurrently" : "",
					     nwin ? win[0].start : 0);
			break;
		}
#ifdef SVA_TEST_HOOKS
		if (sva_mem_test_race_hook)
			sva_mem_test_race_hook(cand, maplen);
#endif
		ret = map_at(cand, maplen, huge, &e->backing);
		if (ret == -EEXIST) {
			/* Another thread mapped something there since maps was read. */
			if (nblocked == MEM_RETRIES) {
				ret = defer(why, SVA_LOG_DEBUG, -ENOSPC,
						     "sva_mem_alloc: %d candidate addresses were taken by concurrent "
						     "mmap()s in a row: giving up",
						     MEM_RETRIES);
				break;
			}
			blocked[nblocked++] = (struct sva_iova_range){ .start = cand, .last = cand + maplen - 1 };
			continue;
		}
		if (ret) {
			ret = defer(why, SVA_LOG_ERROR, ret,
				       "sva_mem_alloc: mmap of %" PRIu64 " KiB at 0x%" PRIx64 " failed: %s%s", maplen >> 10,
				       cand, strerror(-ret),
				       ret == -ENOMEM ? " (out of memory, overcommit or vm.max_map_count)" : "");
			break;
		}
		e->addr = cand;
		e->maplen = maplen;
		e->busy = true;
		ret = ent_insert(e);
		if (ret) {
			munmap((void *)(uintptr_t)cand, maplen);
			ret = defer(why, SVA_LOG_ERROR, ret, "sva_mem_alloc: out of memory");
		}
		break;
	}
	sva_free(busy.v);
	return ret;
}

SVA_EXPORT int sva_mem_alloc(size_t len, const struct sva_mem_opts *uopts, void **out)
{
	const size_t page = (size_t)sysconf(_SC_PAGESIZE);
	struct sva_iova_range kwin[MEM_WIN_CAP];
	const struct sva_log *log;
	struct sva_mem_opts o;
	struct rvec taken = { 0 };
	struct mem_ent e = { .len = len };
	struct later why = { .msg = "" };
	uint64_t align, maplen;
	char where[40];
	size_t nkwin;
	bool huge, allowed = false;
	struct sva_reach_undo undo = { 0 }; /* what of the range this call allowed */
	int ret, node;

	mem_init();
	if (sva_opts_copy(&o, sizeof(o), uopts))
		return sva_opts_fail(sva_log_default(), "sva_mem_alloc", "sva_mem_opts", sizeof(o), uopts);
	log = o.mm ? &o.mm->ctx->log : o.dev ? &o.dev->ctx->log : sva_log_default();
	if (!out)
		return sva_fail(log, -EINVAL, "sva_mem_alloc: out is NULL");
	if (o.flags & ~(SVA_MEM_HUGE | SVA_MEM_PREFAULT | SVA_MEM_NODE | SVA_MEM_ANY_NODE))
		return sva_fail(log, -EINVAL, "sva_mem_alloc: unknown flags 0x%x",
				o.flags & ~(SVA_MEM_HUGE | SVA_MEM_PREFAULT | SVA_MEM_NODE | SVA_MEM_ANY_NODE));
	if ((o.flags & SVA_MEM_NODE) && (o.flags & SVA_MEM_ANY_NODE))
		return sva_fail(log, -EINVAL, "sva_mem_alloc: SVA_MEM_NODE and SVA_MEM_ANY_NODE together");
	if ((o.flags & SVA_MEM_NODE) && o.numa_node < 0)
		return sva_fail(log, -EINVAL, "sva_mem_alloc: SVA_MEM_NODE with NUMA node %d", o.numa_node);
	if ((o.flags & SVA_MEM_PREFAULT) && !o.mm)
		return sva_fail(log, -EINVAL, "sva_mem_alloc: SVA_MEM_PREFAULT needs opts->mm");
	if (!len)
		return sva_fail(log, -EINVAL, "sva_mem_alloc: len is 0");
	if (o.mm && o.dev && o.mm->ctx != o.dev->ctx)
		return sva_fail(log, -EINVAL, "sva_mem_alloc: opts->dev and opts->mm are in different contexts");
	/* After the arguments (libsva(7), Errors in a forked child). */
	if (o.mm && (ret = sva_ctx_check_owner(o.mm->ctx)))
		return ret;
	if (o.dev && (ret = sva_ctx_check_owner(o.dev->ctx)))
		return ret;
	/* Its broker maps only the memfds it shared: anonymous memory here
	 * would be placed, allowed and prefaulted for nothing a device reaches. */
	if ((o.mm && sva_broker_ctx_isolated(o.mm->ctx)) || (o.dev && sva_broker_ctx_isolated(o.dev->ctx)))
		return sva_fail(log, -EOPNOTSUPP,
				"sva_mem_alloc: in an isolated broker context (SVA_CTX_ISOLATED) devices reach only "
				"memfds shared with sva_ctx_share_memfd(); map a memfd and share it instead");

	huge = o.flags & SVA_MEM_HUGE;
	align = huge && page < MEM_HUGE_SIZE ? MEM_HUGE_SIZE : page;
	if (len > UINT64_MAX - align || len > SIZE_MAX - align)
		return sva_fail_debug(log, -ENOSPC, "sva_mem_alloc: %zu bytes is more than any window", len);
	maplen = ((uint64_t)len + align - 1) & ~(align - 1);

	ret = mem_node(&o, log, &node);
	if (ret)
		return ret;
	ret = kernel_window(&o, log, kwin, &nkwin);
	if (ret)
		return ret;
	if (o.mm && mm_chunks(o.mm, &taken)) {
		sva_free(taken.v);
		return sva_fail(log, -ENOMEM, "sva_mem_alloc: out of memory");
	}

	pthread_mutex_lock(&g_mem.lock);
	ret = place_locked(&why, kwin, nkwin, &taken, maplen, align, huge, &e);
	pthread_mutex_unlock(&g_mem.lock);
	if (ret && why.msg[0])
		ret = why.level == SVA_LOG_DEBUG ? sva_fail_debug(log, ret, "%s", why.msg)
						 : sva_fail(log, ret, "%s", why.msg);
	sva_free(taken.v);
	if (ret)
		return ret;

	void *p = (void *)(uintptr_t)e.addr;

	if (node >= 0 && (ret = bind_node(p, maplen, node))) {
		/* The device's node is a preference, as when it has no memory:
		 * whatever refuses it (a sandbox's EPERM, as Docker's default
		 * seccomp profile without CAP_SYS_NICE, or ENOSYS; EINVAL of a
		 * cpuset changed since the node was checked; ENOMEM) leaves the
		 * memory unplaced, not the call failed (sva_mem_alloc(3) passes
		 * mbind()'s errors through only for a node SVA_MEM_NODE names).
		 * A seccomp filter may be told to answer any errno (systemd's
		 * SystemCallErrorNumber=), so only EFAULT (the range is not
		 * mapped), which no sandbox gives, can only be a libsva bug:
		 * still no reason to fail a preference, but one a debug line
		 * would hide.  A node the caller named is its requirement. */
		if (!(o.flags & SVA_MEM_NODE)) {
			bool system = ret != -EFAULT;

			sva_logf(log, system ? SVA_LOG_DEBUG : SVA_LOG_WARN,
				 "sva_mem_alloc: mbind to the device's NUMA node %d refused (%s): no placement%s", node,
				 strerror(-ret), system ? "" : " (a libsva bug: please report it)");
			node = -1;
			ret = 0;
		} else {
			ret = sva_fail(log, ret, "sva_mem_alloc: mbind to NUMA node %d failed: %s%s", node,
				       strerror(-ret),
				       ret == -EPERM ? " (a seccomp profile refuses mbind(), as Docker's default does "
						       "without CAP_SYS_NICE: allow it, or pass SVA_MEM_ANY_NODE)"
						     : "");
			goto undo;
		}
	}
	/* A restricted address space reaches what was allocated for it.  Only an
	 * allowance this call adds is taken back if it fails: what the driver
	 * allowed already, of all the range or part of it, is not this call's to
	 * deny, nor what another thread allows meanwhile (the undo on mm's list
	 * loses it: reach.h). */
	if (o.mm && (o.mm->flags & SVA_MM_RESTRICTED)) {
		ret = sva_reach_allow(o.mm, p, maplen, &undo, "sva_mem_alloc"); /* logs its own error */
		if (ret)
			goto undo;
		allowed = true;
	}
	if (o.flags & SVA_MEM_PREFAULT) {
		ret = sva_mm_prefault(o.mm, p, maplen); /* logs its own error */
		if (ret)
			goto undo;
	}
	ent_set_busy(e.addr, false);
	if (node >= 0)
		snprintf(where, sizeof(where), "NUMA node %d preferred", node);
	else
		snprintf(where, sizeof(where), "no NUMA placement");
	sva_logf(log, SVA_LOG_DEBUG, "sva_mem_alloc: 0x%" PRIx64 "-0x%" PRIx64 " (%zu bytes asked): %s%s, %s%s", e.addr,
		 e.addr + maplen, len, sva_mem_backing_name(e.backing),
		 e.backing == SVA_MEM_BACKING_PAGES && huge
			 ? (thp_never() ? " (no hugetlb pages free, THP disabled: [never])" : " (no hugetlb pages free, no THP)")
			 : "",
		 where,
		 (o.flags & SVA_MEM_PREFAULT) ? ", visible in the address space" : "");
	if (allowed)
		sva_reach_undo_drop(o.mm, &undo);
	*out = p;
	return 0;

undo:
	if (allowed) {
		unsigned refused;

		if (sva_reach_restore(o.mm, &undo, &refused))
			sva_logf(log, SVA_LOG_ERROR,
				 "sva_mem_alloc: out of memory to deny again what it allowed of 0x%" PRIx64 "-0x%" PRIx64
				 ": part of it stays allowed, though nothing of the call stays mapped",
				 e.addr, e.addr + maplen);
		if (refused)
			sva_logf(log, SVA_LOG_ERROR,
				 "sva_mem_alloc: the kernel refused to unmap %u chunk(s) in 0x%" PRIx64 "-0x%" PRIx64
				 ": they stay visible",
				 refused, e.addr, e.addr + maplen);
	}
	/*
	 * As sva_mem_free(): what got mapped in the IOAS meanwhile (a device's
	 * fault, another thread's prefault: an unrestricted mm reaches any
	 * address) is withdrawn once the memory is unmapped, by the monitor's
	 * event (the fence) or, untracked, by the invalidate; the entry stays
	 * until then so no other allocation is placed there first.
	 */
	int unmapped = ent_unmap_only(e.addr, maplen);

	if (!unmapped) {
		if (o.mm) {
			sva_mm_fence(o.mm);
			sva_mm_invalidate_as(o.mm, p, maplen, "sva_mem_alloc");
		}
		ent_drop(e.addr);
	} else {
		/* Mapped still, so its entry stays (busy: no placement there, no
		 * free of an address the caller never got), and said, as
		 * sva_mem_free() says its own refused munmap. */
		sva_logf(log, SVA_LOG_ERROR,
			 "sva_mem_alloc: munmap of 0x%" PRIx64 "-0x%" PRIx64 " after the failure failed: %s: the memory "
			 "stays mapped and allocated",
			 e.addr, e.addr + maplen, strerror(-unmapped));
	}
	return ret;
}

SVA_EXPORT int sva_mem_free(struct sva_mm *mm, void *addr, size_t len)
{
	const struct sva_log *log = mm ? &mm->ctx->log : sva_log_default();
	uint64_t a = (uintptr_t)addr, maplen = 0;
	const char *why = NULL;
	struct sva_reach_undo undo = { 0 }; /* what was allowed of it before the deny */
	bool denied = false;
	size_t at;
	int ret;

	if (!addr || !len)
		return sva_fail(log, -EINVAL, "sva_mem_free: %s", addr ? "len is 0" : "addr is NULL");
	if (mm && (ret = sva_ctx_check_owner(mm->ctx)))
		return ret;

	mem_init();
	pthread_mutex_lock(&g_mem.lock);
	at = ent_search(a);
	if (at == g_mem.n || g_mem.v[at].addr != a)
		why = "was not returned by sva_mem_alloc, or was freed already";
	else if (g_mem.v[at].busy)
		why = "is being freed by another thread";
	else if (len != g_mem.v[at].len && len != g_mem.v[at].maplen)
		why = "is another length than was allocated there";
	else {
		g_mem.v[at].busy = true;
		maplen = g_mem.v[at].maplen;
	}
	pthread_mutex_unlock(&g_mem.lock);
	if (why)
		return sva_fail(log, -EINVAL, "sva_mem_free: %p+%zu %s", addr, len, why);

	/* Denied first in a restricted address space: then no fault maps it,
	 * whatever comes to live at that address next.  A chunk the kernel
	 * refuses to unmap stays visible: the invalidate below tries it again
	 * and logs what still fails, one line for one failure. */
	if (mm && (mm->flags & SVA_MM_RESTRICTED)) {
		ret = sva_reach_deny(mm, addr, maplen, NULL, &undo, "sva_mem_free"); /* logs its own error */
		if (ret) {
			ent_set_busy(a, false);
			return ret;
		}
		denied = true;
	}
	/*
	 * Unmap first: once the mapping is gone a device cannot fault it back in
	 * (withdrawing first would let it re-fault the old pages before munmap).
	 * The coherence monitor withdraws it from tracked address spaces; the
	 * fence waits for that, and the invalidate covers an untracked mm.
	 */
	ret = ent_unmap_only(a, maplen);
	if (ret) {
		/* Still allocated and mapped "as before": allowed as before, too
		 * (only what was: the driver may have denied part of it, before
		 * or meanwhile). */
		bool short_mem = denied && sva_reach_restore(mm, &undo, NULL);

		ent_set_busy(a, false);
		return sva_fail(log, ret, "sva_mem_free: munmap of %p+%" PRIu64 " failed: %s%s", addr, maplen,
				strerror(-ret),
				short_mem ? "; out of memory to allow it again (the allowances of mm changed "
					    "meanwhile): part of it stays denied"
					  : "");
	}
	if (denied)
		sva_reach_undo_drop(mm, &undo);
	/*
	 * The fence applies the UNMAP event of what was tracked; the invalidate
	 * takes what no event reports (a part mapped untracked: another
	 * userfaultfd had it; tracking stopped; an untracked address space).
	 * The entry is still in the table, so no sva_mem_alloc() has placed
	 * new memory there yet for the invalidate to take.
	 */
	if (mm) {
		sva_mm_fence(mm);
		sva_mm_invalidate_as(mm, addr, maplen, "sva_mem_free");
	}
	ent_drop(a);
	return 0;
}
