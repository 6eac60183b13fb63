/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The placement allocator against real iommufd.
 *
 * On the selftest mock (every topology): memory placed inside the mock's
 * window [16 MiB, 2 GiB) of a bound address space, lowest address first; made
 * visible with SVA_MEM_PREFAULT and read and written back by the kernel through
 * the pinned pages (ACCESS_RW, slow path); withdrawn by sva_mem_free(); the
 * window exhausted (-ENOSPC); chunks left visible by a munmap without
 * invalidate avoided; 2 MiB pages (hugetlb with SVA_VM_HUGEPAGES, else THP);
 * -ECHILD in a forked child; a failed prefault (RLIMIT_MEMLOCK) undone.
 *
 * With QEMU's edu behind VT-d (vtd39, vtd48-numa): the NUMA node of the device
 * (node 1 on vtd48-numa, checked page by page with move_pages(2); node 2, which
 * has no memory, on numa-memless, where only this test runs); with its RID
 * bound, the window's MSI hole and its top (2^39 on vtd39, beyond on vtd48)
 * found to the byte; and a real DMA round trip through memory from
 * sva_mem_alloc().
 */
#include <linux/capability.h>
#include <pthread.h>
#include <stdatomic.h>
#include <unistd.h>
#include <numa.h>
#include <numaif.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>

#include "ktest.h"
#include "ktest_edu.h"
#include "../hugetlb.h"
#include "kabi.h"
#include "mem_window.h"

#define KiB (1ull << 10)
#define MiB (1ull << 20)
#define GiB (1ull << 30)
#define PG 4096ull
#define MSI_START 0xfee00000ull
#define MSI_LAST 0xfeefffffull

/* ------------------------------------------------------------- the log */

static int log_errors, log_debug;
static char log_last_error[512], log_last_alloc[512];

static void capture(void *arg, enum sva_log_level level, const char *msg)
{
	(void)arg;
	if (level >= SVA_LOG_WARN) {
		log_errors++;
		snprintf(log_last_error, sizeof(log_last_error), "%s", msg);
	}
	if (level == SVA_LOG_DEBUG && strncmp(msg, "sva_mem_alloc: 0x", 17) != 0)
		log_debug++; /* not the debug line of a success */
	if (strncmp(msg, "sva_mem_alloc: 0x", 17) == 0)
		snprintf(log_last_alloc, sizeof(log_last_alloc), "%s", msg);
	if (getenv("SVA_KTEST_VERBOSE"))
		diag("log %s: %s", sva_log_level_name(level), msg);
}

static struct sva_ctx *mem_ctx(void)
{
	struct sva_ctx_opts o = { .size = sizeof(o),
				  .pasid_grace_ns = UINT64_MAX,
				  .log_fn = capture,
				  .log_level = SVA_LOG_DEBUG };
	struct sva_ctx *ctx = NULL;
	int ret = sva_ctx_new(&o, &ctx);

	if (ret)
		ktest_bail("sva_ctx_new: %s", strerror(-ret));
	return ctx;
}

/* Expect a failure with err and exactly one error line. */
#define EXPECT_FAIL(call, err, ...)                                                     \
	do {                                                                            \
		int r_;                                                                 \
		log_errors = 0;                                                         \
		log_last_error[0] = '\0';                                               \
		r_ = (call);                                                            \
		is_int(r_, err, __VA_ARGS__);                                           \
		ok(log_errors == 1, "  ... with one error line (%d: %s)", log_errors, log_last_error); \
	} while (0)

/* Expect -ENOSPC, an expected outcome (libsva(7), Errors): no error line, one debug line. */
#define EXPECT_NOSPACE(call, ...)                                                       \
	do {                                                                            \
		int r_;                                                                 \
		log_errors = 0;                                                         \
		log_debug = 0;                                                          \
		log_last_error[0] = '\0';                                               \
		r_ = (call);                                                            \
		is_int(r_, -ENOSPC, __VA_ARGS__);                                       \
		ok(log_errors == 0 && log_debug == 1,                                   \
		   "  ... with no error line and one debug line (%d: %s; %d)", log_errors, \
		   log_last_error, log_debug);                                          \
	} while (0)

/* ------------------------------------------------------------- helpers */

/* Is [p, p + len) free in the process (nothing mapped there)? */
static int va_free(void *p, size_t len)
{
	void *q = mmap(p, len, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_FIXED_NOREPLACE, -1, 0);

	if (q == MAP_FAILED)
		return 0;
	munmap(q, len);
	return q == p;
}

/* Take [start, end) of the address space with an inaccessible placeholder. */
static void *block(uint64_t start, uint64_t end)
{
	void *p = mmap((void *)(uintptr_t)start, end - start, PROT_NONE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_FIXED_NOREPLACE, -1, 0);

	return p == (void *)(uintptr_t)start ? p : NULL;
}

/* The node of each page of [p, p + len) (touched first); -1 if they differ or on error. */
static int pages_node(void *p, size_t len)
{
	size_t n = len / PG;
	void **pages = calloc(n, sizeof(*pages));
	int *status = calloc(n, sizeof(*status));
	int node = -2;

	if (!pages || !status) {
		free(pages);
		free(status);
		return -1;
	}
	for (size_t i = 0; i < n; i++) {
		((volatile char *)p)[i * PG] = 1;
		pages[i] = (char *)p + i * PG;
	}
	if (numa_move_pages(0, n, pages, NULL, status, 0) == 0) {
		for (size_t i = 0; i < n; i++) {
			if (node == -2)
				node = status[i];
			else if (status[i] != node)
				node = -1;
		}
	} else {
		node = -1;
	}
	free(pages);
	free(status);
	return node < 0 ? -1 : node;
}

/* Capabilities (CAP_IPC_LOCK: pins are not charged to RLIMIT_MEMLOCK). */
static int cap_effective(int cap, int on)
{
	struct __user_cap_header_struct h = { .version = _LINUX_CAPABILITY_VERSION_3 };
	struct __user_cap_data_struct d[2];

	if (syscall(SYS_capget, &h, d))
		return -errno;
	if (on)
		d[cap / 32].effective |= 1u << (cap % 32);
	else
		d[cap / 32].effective &= ~(1u << (cap % 32));
	return syscall(SYS_capset, &h, d) ? -errno : 0;
}

/* ---------------------------------------------------------- on the mock */

static void mock_window(struct sva_ctx *ctx, struct sva_mm *mm, struct sva_dev *dev)
{
	struct sva_mem_opts o = { .size = sizeof(o), .flags = SVA_MEM_ANY_NODE, .mm = mm };
	struct sva_iova_range r[8];
	size_t nr = 8;
	unsigned char back[3 * PG], *p, *q;
	int bad = 0;

	if (sva_iommufd_iova_ranges(ctx->fd, mm->ioas_id, r, &nr) == 0)
		for (size_t i = 0; i < nr; i++)
			diag("mock: the address space's IOVA range %zu: 0x%llx-0x%llx", i,
			     (unsigned long long)r[i].start, (unsigned long long)r[i].last);

	if (!is_int(sva_mem_alloc(64 * KiB, &o, (void **)&p), 0, "mock: alloc 64 KiB in the bound address space"))
		return;
	ok((uint64_t)(uintptr_t)p >= KABI_MOCK_APERTURE_START &&
		   (uint64_t)(uintptr_t)p + 64 * KiB - 1 <= KABI_MOCK_APERTURE_LAST,
	   "mock: inside the mock window [0x%llx, 0x%llx] (%p)", (unsigned long long)KABI_MOCK_APERTURE_START,
	   (unsigned long long)KABI_MOCK_APERTURE_LAST, (void *)p);
	is_int((uintptr_t)p, KABI_MOCK_APERTURE_START, "mock: at the window's lowest address (bottom-up)");
	ok(strstr(log_last_alloc, "no NUMA placement") != NULL, "mock: the debug line says where it went (%s)",
	   log_last_alloc);
	is_int(ktest_access_rw(ctx, mm->ioas_id, (uintptr_t)p, back, PG, 0), -ENOENT,
	       "mock: without SVA_MEM_PREFAULT the device sees nothing there yet");
	is_int(sva_mm_prefault(mm, p, 64 * KiB), 0, "mock: sva_mm_prefault() of it works (inside the window)");
	is_int(sva_mem_free(mm, p, 64 * KiB), 0, "mock: sva_mem_free");
	is_int(ktest_access_rw(ctx, mm->ioas_id, (uintptr_t)p, back, PG, 0), -ENOENT,
	       "mock: after sva_mem_free the device sees nothing");
	ok(va_free(p, 64 * KiB), "mock: and the range is unmapped in the process");

	/* Visible at once. */
	o.flags = SVA_MEM_PREFAULT;
	if (!is_int(sva_mem_alloc(10000, &o, (void **)&p), 0, "mock: alloc 10000 bytes with SVA_MEM_PREFAULT"))
		return;
	for (unsigned i = 0; i < 3 * PG; i++)
		p[i] = (unsigned char)(i * 13 + 5);
	memset(back, 0, sizeof(back));
	is_int(ktest_access_rw(ctx, mm->ioas_id, (uintptr_t)p, back, sizeof(back), 0), 0,
	       "mock: the kernel reads IOVA %p through the pinned pages", (void *)p);
	ok(memcmp(back, p, sizeof(back)) == 0, "mock: and sees what the process wrote (all 3 pages)");
	memset(back, 0xa5, PG);
	is_int(ktest_access_rw(ctx, mm->ioas_id, (uintptr_t)p + PG, back, PG, 1), 0, "mock: a device write to page 2");
	for (unsigned i = 0; i < PG; i++)
		bad += p[PG + i] != 0xa5;
	is_int(bad, 0, "mock: the process sees the device's bytes");
	is_int(ktest_access_rw(ctx, mm->ioas_id, (uintptr_t)p + 3 * PG, back, PG, 0), -ENOENT,
	       "mock: nothing visible past the rounded length");
	EXPECT_FAIL(sva_mem_free(mm, p + PG, 10000 - PG), -EINVAL, "mock: free of a pointer inside it: -EINVAL");
	is_int(ktest_access_rw(ctx, mm->ioas_id, (uintptr_t)p, back, PG, 0), 0, "mock: a refused free changes nothing");
	is_int(sva_mem_free(mm, p, 10000), 0, "mock: sva_mem_free");
	is_int(ktest_access_rw(ctx, mm->ioas_id, (uintptr_t)p, back, PG, 0), -ENOENT,
	       "mock: after sva_mem_free the device read gives -ENOENT");
	EXPECT_FAIL(sva_mem_free(mm, p, 10000), -EINVAL, "mock: double free: -EINVAL");

	/* Exhaustion: the window is 2 GiB - 16 MiB. */
	o.flags = 0;
	EXPECT_NOSPACE(sva_mem_alloc(4 * GiB, &o, (void **)&p), "mock: 4 GiB in the 2 GiB window: -ENOSPC");
	{
		void *big[4] = { 0 };
		int got = 0;

		for (int i = 0; i < 3; i++)
			got += sva_mem_alloc(512 * MiB, &o, &big[i]) == 0;
		is_int(got, 3, "mock: three 512 MiB allocations fit");
		EXPECT_NOSPACE(sva_mem_alloc(512 * MiB, &o, &big[3]), "mock: a fourth does not: -ENOSPC");
		is_int(sva_mem_alloc(400 * MiB, &o, &big[3]), 0, "mock: 400 MiB still fits in what is left");
		ok((uint64_t)(uintptr_t)big[3] + 400 * MiB - 1 <= KABI_MOCK_APERTURE_LAST,
		   "mock: below the window's end (%p)", big[3]);
		for (int i = 0; i < 3; i++)
			sva_mem_free(mm, big[i], 512 * MiB);
		sva_mem_free(mm, big[3], 400 * MiB);
	}

	/* Tracked (the default): a munmap withdraws the chunk, and its addresses are free again. */
	q = ktest_map_at(KABI_MOCK_APERTURE_START, 2 * PG, PROT_READ | PROT_WRITE);
	is_int(sva_mm_prefault(mm, q, 2 * PG), 0, "mock: make a buffer at the window's start visible");
	munmap(q, 2 * PG);
	sva_mm_fence(mm);
	is_int(ktest_access_rw(ctx, mm->ioas_id, (uintptr_t)q, back, PG, 0), -ENOENT,
	       "mock: a tracked address space withdraws it at munmap");

	/* Untracked: a chunk left visible by a munmap without sva_mm_invalidate is not reused. */
	{
		struct sva_mm_opts uo = { .size = sizeof(uo), .flags = SVA_MM_UNTRACKED };
		struct sva_mm *um;

		if (sva_mm_new(ctx, &uo, &um))
			ktest_bail("sva_mm_new(SVA_MM_UNTRACKED)");
		o.mm = um;
		q = ktest_map_at(KABI_MOCK_APERTURE_START, 2 * PG, PROT_READ | PROT_WRITE);
		is_int(sva_mm_prefault(um, q, 2 * PG), 0, "mock: untracked: make a buffer at 16 MiB visible");
		munmap(q, 2 * PG);
		if (is_int(sva_mem_alloc(PG, &o, (void **)&p), 0,
			   "mock: untracked: then munmap it without invalidate, and allocate")) {
			ok((uintptr_t)p >= (uintptr_t)q + 2 * PG, "mock: the stale chunk's addresses are skipped (%p)",
			   (void *)p);
			sva_mem_free(um, p, PG);
		}
		sva_mm_invalidate(um, q, 2 * PG);
		sva_mm_free(um);
		o.mm = mm;
	}

	/* The device alone: the window of the address space its RID is attached to. */
	o.mm = NULL;
	o.dev = dev;
	if (is_int(sva_mem_alloc(PG, &o, (void **)&p), 0, "mock: opts.dev only (its RID is parked on the mock aperture)")) {
		ok((uint64_t)(uintptr_t)p >= KABI_MOCK_APERTURE_START && (uint64_t)(uintptr_t)p <= KABI_MOCK_APERTURE_LAST,
		   "mock: inside the device's window (%p)", (void *)p);
		sva_mem_free(NULL, p, PG);
	}
	o.flags &= ~SVA_MEM_ANY_NODE;
	ok(sva_mem_alloc(PG, &o, (void **)&p) == 0 && sva_mem_free(NULL, p, PG) == 0,
	   "mock: the device's node, for a device of no known node: no placement, works");

	/* A device and an address space of two contexts: refused, as sva_bind
	 * refuses them (it used to place, allow and prefault for the pair). */
	{
		struct sva_ctx *other = mem_ctx();
		struct sva_mm *om;

		if (sva_mm_new(other, NULL, &om))
			ktest_bail("sva_mm_new in a second context");
		o.mm = om;
		o.flags = SVA_MEM_PREFAULT;
		p = (unsigned char *)&o;
		EXPECT_FAIL(sva_mem_alloc(PG, &o, (void **)&p), -EINVAL,
			    "mock: opts.dev and opts.mm of different contexts: -EINVAL");
		ok(p == (unsigned char *)&o, "  *out untouched");
		ok(strstr(log_last_error, "different contexts") != NULL, "  the line says why");
		sva_mm_free(om);
		sva_ctx_free(other);
		o.flags = 0;
	}
}

static void mock_huge(struct sva_ctx *ctx, struct sva_mm *mm)
{
	struct sva_mem_opts o = { .size = sizeof(o), .flags = SVA_MEM_HUGE | SVA_MEM_PREFAULT | SVA_MEM_ANY_NODE,
				  .mm = mm };
	long avail = free_hugetlb();
	unsigned char *p, back[64];
	int b;

	if (!is_int(sva_mem_alloc(3 * MiB, &o, (void **)&p), 0, "huge: 3 MiB with SVA_MEM_HUGE | SVA_MEM_PREFAULT"))
		return;
	ok(((uintptr_t)p & (2 * MiB - 1)) == 0 && (uint64_t)(uintptr_t)p >= KABI_MOCK_APERTURE_START &&
		   (uint64_t)(uintptr_t)p + 4 * MiB - 1 <= KABI_MOCK_APERTURE_LAST,
	   "huge: 2 MiB aligned, 4 MiB inside the window (%p)", (void *)p);
	b = sva_mem_backing(p);
	diag("huge: free hugetlb pages before: %ld; backing: %s; log: %s", avail, sva_mem_backing_name(b),
	     log_last_alloc);
	if (avail >= 2) {
		is_int(b, SVA_MEM_BACKING_HUGETLB, "huge: hugetlb pages are reserved (SVA_VM_HUGEPAGES): hugetlb");
		is_int(sva_vma_smaps_kb((uintptr_t)(p), "KernelPageSize"), 2048, "huge: smaps says 2 MiB kernel pages");
	} else {
		is_int(b, SVA_MEM_BACKING_THP, "huge: no hugetlb pages reserved: THP (MADV_HUGEPAGE)");
		is_int(sva_vma_smaps_kb((uintptr_t)(p), "THPeligible"), 1, "huge: smaps says THP eligible");
		/* Whether the pin found 2 MiB pages depends on free contiguous memory. */
		diag("huge: AnonHugePages after the prefault: %ld kB (2048 or 4096 when THP got pages)",
		     sva_vma_smaps_kb((uintptr_t)(p), "AnonHugePages"));
	}
	ok(strstr(log_last_alloc, sva_mem_backing_name(b)) != NULL, "huge: the debug line names the backing");
	memset(p, 0x3c, 3 * MiB);
	memset(back, 0, sizeof(back));
	ok(ktest_access_rw(ctx, mm->ioas_id, (uintptr_t)p + 3 * MiB - 64, back, 64, 0) == 0 && back[0] == 0x3c &&
		   back[63] == 0x3c,
	   "huge: the kernel reads the process's bytes at the end of the 3 MiB");
	ok(ktest_access_rw(ctx, mm->ioas_id, (uintptr_t)p + 4 * MiB - 64, back, 64, 0) == 0,
	   "huge: the whole 4 MiB (rounded) is visible");
	is_int(sva_mem_free(mm, p, 3 * MiB), 0, "huge: sva_mem_free with the length asked for");
	is_int(ktest_access_rw(ctx, mm->ioas_id, (uintptr_t)p, back, 64, 0), -ENOENT, "huge: gone from the device's view");
}

/*
 * hugetlb memory and fork(2) (sva_mem_alloc(3), NOTES): a pinned hugetlb
 * page is copied at the fork into a free page of the pool, so with none free
 * fork() fails with ENOMEM; with one free per pinned page it works.
 */
static void mock_huge_fork(struct sva_mm *mm)
{
	struct sva_mem_opts o = { .size = sizeof(o), .flags = SVA_MEM_HUGE | SVA_MEM_PREFAULT | SVA_MEM_ANY_NODE,
				  .mm = mm };
	long avail = free_hugetlb();
	int status = -1;
	pid_t pid;
	void *p;

	if (avail < 2) {
		skip(3, "fewer than 2 free hugetlb pages (SVA_VM_HUGEPAGES)");
		return;
	}
	/* All free pages but one, pinned: the fork copies into the last one. */
	if (!is_int(sva_mem_alloc((size_t)(avail - 1) * 2 * MiB, &o, &p), 0, "huge fork: all free hugetlb pages but one"))
		return;
	if (avail - 1 == 1) {
		pid = fork();
		if (pid == 0)
			_exit(0);
		ok(pid > 0 && waitpid(pid, &status, 0) == pid && WIFEXITED(status),
		   "huge fork: one pinned page, one free: fork() works");
	} else {
		skip(1, "more than one page pinned");
	}
	sva_mem_free(mm, p, (size_t)(avail - 1) * 2 * MiB);
	if (!is_int(sva_mem_alloc((size_t)avail * 2 * MiB, &o, &p), 0, "huge fork: every free hugetlb page"))
		return;
	if (sva_mem_backing(p) == SVA_MEM_BACKING_HUGETLB) {
		errno = 0;
		pid = fork();
		if (pid == 0)
			_exit(0);
		if (pid > 0)
			waitpid(pid, &status, 0);
		ok(pid < 0 && errno == ENOMEM, "huge fork: none free: fork() fails with ENOMEM, as the page says (%s)",
		   pid < 0 ? strerror(errno) : "it worked");
	} else {
		skip(1, "not on hugetlb pages");
	}
	sva_mem_free(mm, p, (size_t)avail * 2 * MiB);
}

static void mock_fork(struct sva_mm *mm)
{
	struct sva_mem_opts o = { .size = sizeof(o), .flags = SVA_MEM_ANY_NODE, .mm = mm };
	int status = -1;
	pid_t pid = fork();

	if (pid == 0) {
		void *p = NULL;
		int st = 0;

		if (sva_mem_alloc(PG, &o, &p) != -ECHILD)
			st |= 1;
		o.mm = NULL;
		if (sva_mem_alloc(PG, &o, &p) != 0 || sva_mem_free(NULL, p, PG) != 0)
			st |= 2;
		_exit(st);
	}
	waitpid(pid, &status, 0);
	ok(WIFEXITED(status), "fork: the child exited normally");
	is_int(WEXITSTATUS(status) & 1, 0, "fork: sva_mem_alloc with the parent's address space: -ECHILD");
	is_int(WEXITSTATUS(status) & 2, 0, "fork: without one it works in the child");
}

/* A prefault the kernel refuses (over RLIMIT_MEMLOCK) leaves nothing behind. */
static void mock_undo(struct sva_ctx *ctx, struct sva_mm *mm)
{
	struct sva_mem_opts o = { .size = sizeof(o), .flags = SVA_MEM_PREFAULT | SVA_MEM_ANY_NODE, .mm = mm };
	struct rlimit old, low;
	unsigned char back[16];
	void *p = (void *)0x1;

	if (getrlimit(RLIMIT_MEMLOCK, &old) || cap_effective(CAP_IPC_LOCK, 0)) {
		skip(4, "cannot drop CAP_IPC_LOCK");
		return;
	}
	low = old;
	low.rlim_cur = 64 * KiB;
	setrlimit(RLIMIT_MEMLOCK, &low);
	EXPECT_FAIL(sva_mem_alloc(1 * MiB, &o, &p), -ENOMEM,
		    "undo: SVA_MEM_PREFAULT of 1 MiB over a 64 KiB RLIMIT_MEMLOCK: -ENOMEM");
	ok(p == (void *)0x1, "undo: *out untouched");
	ok(va_free((void *)(uintptr_t)KABI_MOCK_APERTURE_START, 1 * MiB), "undo: nothing left mapped in the window");
	is_int(ktest_access_rw(ctx, mm->ioas_id, KABI_MOCK_APERTURE_START, back, sizeof(back), 0), -ENOENT,
	       "undo: nothing visible to the device");
	setrlimit(RLIMIT_MEMLOCK, &old);
	cap_effective(CAP_IPC_LOCK, 1);
}

/*
 * The first device of an address space pins what sva_mm_prefault() made
 * visible before it: over RLIMIT_MEMLOCK, sva_bind() fails -ENOMEM with a
 * line that says what to do (it used to give only the ioctl's strerror).
 */
static void mock_first_bind_over_memlock(struct sva_ctx *ctx, struct sva_dev *dev)
{
	struct sva_bind_opts bo = { .size = sizeof(bo), .flags = SVA_BIND_PINNED };
	struct sva_bond *bond = NULL;
	struct sva_mm *mm = NULL;
	struct rlimit old, low;
	unsigned char *p = ktest_map_at(KABI_MOCK_APERTURE_START, 1 * MiB, PROT_READ | PROT_WRITE);

	/* Made with CAP_IPC_LOCK: its pin budget is unbounded.  The kernel
	 * decides whether to charge pages when they are mapped, so the prefault
	 * comes after the drop; with no device yet, it pins nothing. */
	memset(p, 1, 1 * MiB);
	if (sva_mm_new(ctx, NULL, &mm))
		ktest_bail("first bind over memlock: sva_mm_new");
	if (getrlimit(RLIMIT_MEMLOCK, &old) || cap_effective(CAP_IPC_LOCK, 0)) {
		skip(3, "cannot drop CAP_IPC_LOCK");
		if (sva_mm_prefault(mm, p, 1 * MiB))
			ktest_bail("first bind over memlock: prefault");
	} else {
		low = old;
		low.rlim_cur = 64 * KiB;
		setrlimit(RLIMIT_MEMLOCK, &low);
		if (sva_mm_prefault(mm, p, 1 * MiB))
			ktest_bail("first bind over memlock: prefault");
		EXPECT_FAIL(sva_bind(dev, mm, &bo, &bond), -ENOMEM,
			    "first bind, 1 MiB prefaulted over a 64 KiB RLIMIT_MEMLOCK: -ENOMEM");
		ok(strstr(log_last_error, "RLIMIT_MEMLOCK") && strstr(log_last_error, "ulimit -l"),
		   "  the line says to raise RLIMIT_MEMLOCK (%s)", log_last_error);
		setrlimit(RLIMIT_MEMLOCK, &old);
		cap_effective(CAP_IPC_LOCK, 1);
	}
	if (is_int(sva_bind(dev, mm, &bo, &bond), 0, "  and with the limit back, the bind succeeds"))
		sva_unbind(bond);
	sva_mm_free(mm);
	munmap(p, 1 * MiB);
}

/*
 * sva_mem_alloc() with opts.dev racing a RID unbind, the sva_mm_free() of
 * its address space and a new address space, whose IOAS the kernel gives the
 * freed one's number.  kernel_window() read the RID's IOAS under the
 * device's lock and asked the kernel after it: it got the new address
 * space's window (no device, no aperture), or -ENOENT, taken for a device
 * with no window of its own, and placed the memory outside the mock's
 * aperture, which the device's RID had at every moment of the call (its
 * address space's, then the parking one's): 512 MiB, more than three others
 * leave of that aperture, was placed above it instead of refused with
 * -ENOSPC.  A test hook
 * (libsva-test only) holds the call between the two, 300 ms at most: a call
 * that keeps the unbind out meanwhile (as it must) lets it go when it is done.
 */
extern void (*sva_test_kernel_window_hook)(void); /* mem.c */
static atomic_int window_step;

static void hold_window(void)
{
	uint64_t end = ktest_now_ns() + 300000000ull;

	sva_test_kernel_window_hook = NULL;
	atomic_store(&window_step, 1);
	while (atomic_load(&window_step) != 2 && ktest_now_ns() < end)
		usleep(1000);
}

struct window_alloc {
	struct sva_dev *dev;
	void *p;
	int ret;
};

static void *window_alloc(void *arg)
{
	struct window_alloc *w = arg;
	struct sva_mem_opts o = { .size = sizeof(o), .flags = SVA_MEM_ANY_NODE, .dev = w->dev };

	w->ret = sva_mem_alloc(512 * MiB, &o, &w->p);
	return NULL;
}

static void mock_window_vs_unbind(struct sva_ctx *ctx, struct sva_dev *dev)
{
	struct sva_bind_opts ro = { .size = sizeof(ro), .flags = SVA_BIND_PINNED | SVA_BIND_RID };
	struct window_alloc w = { .dev = dev, .ret = -9 };
	struct sva_mem_opts bo = { .size = sizeof(bo), .flags = SVA_MEM_ANY_NODE, .dev = dev };
	struct sva_mm *mm, *other = NULL;
	struct sva_bond *rid;
	void *block[3] = { NULL, NULL, NULL };
	pthread_t t;

	if (sva_mm_new(ctx, NULL, &mm) || sva_bind(dev, mm, &ro, &rid))
		ktest_bail("window vs unbind: an address space and a RID bind failed");
	for (int i = 0; i < 3; i++)
		if (sva_mem_alloc(512 * MiB, &bo, &block[i]))
			block[i] = NULL;
	ok(block[0] && block[1] && block[2], "mock: three 512 MiB blocks in the device's window");
	atomic_store(&window_step, 0);
	sva_test_kernel_window_hook = hold_window;
	if (pthread_create(&t, NULL, window_alloc, &w))
		ktest_bail("pthread_create");
	while (atomic_load(&window_step) != 1)
		usleep(1000);
	sva_unbind(rid);
	sva_mm_free(mm);
	if (sva_mm_new(ctx, NULL, &other))
		other = NULL;
	atomic_store(&window_step, 2);
	pthread_join(t, NULL);
	sva_test_kernel_window_hook = NULL;
	if (!is_int(w.ret, -ENOSPC,
		    "mock: opts.dev only, racing a RID unbind, sva_mm_free() and sva_mm_new(): a fourth does not "
		    "fit the device's window"))
		diag("placed at %p", w.p);
	if (!w.ret)
		sva_mem_free(NULL, w.p, 512 * MiB);
	for (int i = 0; i < 3; i++)
		if (block[i])
			sva_mem_free(NULL, block[i], 512 * MiB);
	if (other)
		sva_mm_free(other);
}

static void mock_checks(struct sva_ctx *ctx)
{
	struct sva_bind_opts bo = { .size = sizeof(bo), .flags = SVA_BIND_PINNED };
	struct sva_bond *bond;
	struct sva_dev *dev;
	struct sva_mm *mm;
	int ret = sva_dev_open_mock(ctx, NULL, &dev);

	if (ret == -EOPNOTSUPP && !getenv("SVA_VM")) {
		skip(1, "the kernel has no CONFIG_IOMMUFD_TEST: no mock checks");
		return;
	}
	if (!is_int(ret, 0, "sva_dev_open_mock"))
		return;
	mock_first_bind_over_memlock(ctx, dev);
	sva_mm_new(ctx, NULL, &mm);
	if (is_int(sva_bind(dev, mm, &bo, &bond), 0, "mock: pinned PASID bind")) {
		mock_window(ctx, mm, dev);
		mock_huge(ctx, mm);
		mock_huge_fork(mm);
		mock_fork(mm);
		mock_undo(ctx, mm);
		sva_unbind(bond);
		mock_window_vs_unbind(ctx, dev);
	}
	sva_mm_free(mm);
	sva_dev_close(dev);
}

/* ----------------------------------------------------------- on VT-d/edu */


/* The NUMA node of the device (before any bind: the window is the whole user space). */
static void edu_numa(struct sva_dev *dev)
{
	const char *topo = ktest_topology();
	int two = strcmp(topo, "vtd48-numa") == 0, memless = strcmp(topo, "numa-memless") == 0;
	struct sva_dev_info info = { .size = sizeof(info) };
	struct sva_mem_opts o = { .size = sizeof(o), .dev = dev }; /* zeroed: the device's node */
	int mode = -1, nodes = numa_available() < 0 ? 1 : numa_max_node() + 1;
	void *p;

	sva_dev_get_info(dev, &info);
	diag("numa: %s: %d node(s), edu on node %d", topo, nodes, info.numa_node);
	if (!is_int(sva_mem_alloc(64 * KiB, &o, &p), 0, "numa: 64 KiB with opts.dev = edu, numa_node -1"))
		return;
	if (two) {
		unsigned long mask[16] = { 0 };

		int r = get_mempolicy(&mode, mask, 16 * 8 * sizeof(long), p, MPOL_F_ADDR);

		is_int(info.numa_node, 1, "numa: edu is on node 1");
		ok(r == 0 && mode == MPOL_PREFERRED && mask[0] == 2, "numa: the range prefers node 1 (mode %d, mask 0x%lx)",
		   mode, mask[0]);
		is_int(pages_node(p, 64 * KiB), 1, "numa: move_pages: all 16 touched pages are on node 1");
		ok(strstr(log_last_alloc, "NUMA node 1") != NULL, "numa: the debug line says so (%s)", log_last_alloc);
	} else if (memless) {
		/* Node 2 has a CPU and no memory: "no placement when ... it has
		 * no memory the process may use" (sva_mem_alloc(3)).  libnuma's
		 * node list of a kernel without cpusets names it all the same,
		 * and mbind() refused it: this allocation failed with -EINVAL. */
		int r = get_mempolicy(&mode, NULL, 0, p, MPOL_F_ADDR);

		is_int(info.numa_node, 2, "numa: edu is on node 2, which has no memory");
		ok(r == 0 && mode == MPOL_DEFAULT, "numa: no placement of its own (mode %d)", mode);
		ok(strstr(log_last_alloc, "no NUMA placement") != NULL, "numa: the debug line says so (%s)",
		   log_last_alloc);
		ok(pages_node(p, 64 * KiB) >= 0, "numa: the pages are on one node with memory (%d)",
		   pages_node(p, 64 * KiB));
	} else {
		int r = get_mempolicy(&mode, NULL, 0, p, MPOL_F_ADDR);

		ok(info.numa_node <= 0, "numa: single node: edu's node is %d", info.numa_node);
		ok(r == 0 && (mode == MPOL_DEFAULT || (info.numa_node == 0 && mode == MPOL_PREFERRED)),
		   "numa: no placement of its own unless the device reports node 0 (mode %d)", mode);
		is_int(pages_node(p, 64 * KiB), 0, "numa: the pages are on node 0, the only one");
		skip(1, "one node");
	}
	sva_mem_free(NULL, p, 64 * KiB);

	o.flags = SVA_MEM_NODE;
	o.numa_node = 0;
	if (is_int(sva_mem_alloc(64 * KiB, &o, &p), 0, "numa: an explicit node 0 overrides the device's")) {
		is_int(pages_node(p, 64 * KiB), 0, "numa: all pages on node 0");
		sva_mem_free(NULL, p, 64 * KiB);
	}
	if (memless) {
		o.numa_node = 2;
		EXPECT_FAIL(sva_mem_alloc(PG, &o, &p), -ENODEV, "numa: an explicit node 2, memoryless: -ENODEV");
		o.numa_node = 1;
		if (is_int(sva_mem_alloc(64 * KiB, &o, &p), 0, "numa: an explicit node 1 still works")) {
			is_int(pages_node(p, 64 * KiB), 1, "numa: all pages on node 1");
			sva_mem_free(NULL, p, 64 * KiB);
		}
	}
	o.numa_node = nodes;
	EXPECT_FAIL(sva_mem_alloc(PG, &o, &p), -ENODEV, "numa: node %d (one past the last): -ENODEV", nodes);
	o.flags = SVA_MEM_ANY_NODE;
	ok(sva_mem_alloc(PG, &o, &p) == 0 && sva_mem_free(NULL, p, PG) == 0, "numa: SVA_MEM_ANY_NODE works");

	/* 2 MiB pages on the device's node. */
	long avail = free_hugetlb();

	o.flags = SVA_MEM_HUGE; /* and the device's node */
	if (is_int(sva_mem_alloc(2 * MiB, &o, &p), 0, "numa: 2 MiB with SVA_MEM_HUGE on edu's node")) {
		int b = sva_mem_backing(p);

		memset(p, 1, 2 * MiB);
		diag("numa: backing %s, AnonHugePages %ld kB, KernelPageSize %ld kB", sva_mem_backing_name(b),
		     sva_vma_smaps_kb((uintptr_t)(p), "AnonHugePages"), sva_vma_smaps_kb((uintptr_t)(p), "KernelPageSize"));
		is_int(b, avail >= 1 ? SVA_MEM_BACKING_HUGETLB : SVA_MEM_BACKING_THP, "numa: %s (%ld free hugetlb pages)",
		       avail >= 1 ? "hugetlb" : "THP", avail);
		if (memless) /* no placement: the toucher's node, or the nearest with memory */
			ok(pages_node(p, 2 * MiB) >= 0, "numa: all 512 4 KiB parts on one node");
		else
			is_int(pages_node(p, 2 * MiB), two ? 1 : 0, "numa: all 512 4 KiB parts on node %d", two ? 1 : 0);
		sva_mem_free(NULL, p, 2 * MiB);
	}
}

/* With the RID bound: the window's MSI hole and its top, to the byte. */
static void edu_window(struct sva_dev *dev, struct sva_mm *mm)
{
	const int wide = strcmp(ktest_topology(), "vtd48-numa") == 0 || strcmp(ktest_topology(), "numa-memless") == 0;
	const uint64_t top39 = 1ull << 39;
	struct sva_mem_opts o = { .size = sizeof(o), .flags = SVA_MEM_ANY_NODE, .dev = dev, .mm = mm };
	struct sva_iova_range r[16];
	size_t nr = 16;
	void *p, *q, *blk;

	if (sva_dev_iova_ranges(dev, r, &nr) == 0)
		for (size_t i = 0; i < nr; i++)
			diag("window: range %zu: 0x%llx-0x%llx", i, (unsigned long long)r[i].start,
			     (unsigned long long)r[i].last);
	if (is_int(sva_mem_alloc(64 * KiB, &o, &p), 0, "window: 64 KiB in the bound address space")) {
		ok((uint64_t)(uintptr_t)p + 64 * KiB - 1 <= (wide ? (1ull << 48) - 1 : top39 - 1),
		   "window: inside [0, 2^%d - 1] (%p)", wide ? 48 : 39, p);
		is_int((uintptr_t)p, 16 * MiB,
		       "window: at the lowest address above the 16 MiB guard (bottom-up; below it only when the "
		       "window has no room above)");
		sva_mem_free(mm, p, 64 * KiB);
	}

	/* Take everything below 0xfed00000: 1 MiB is left below the MSI hole. */
	blk = block(64 * KiB, 0xfed00000ull);
	if (!blk) {
		skip(5, "[64 KiB, 0xfed00000) is partly taken (a sanitizer's shadow memory?)");
	} else {
		if (is_int(sva_mem_alloc(2 * MiB, &o, &p), 0, "window: 2 MiB with only 1 MiB free below the MSI hole")) {
			ok((uint64_t)(uintptr_t)p > MSI_LAST || (uint64_t)(uintptr_t)p + 2 * MiB - 1 < MSI_START,
			   "window: clear of the MSI hole 0xfee00000-0xfeefffff (%p)", p);
			is_int((uintptr_t)p, MSI_LAST + 1, "window: just above it");
			if (is_int(sva_mem_alloc(1 * MiB, &o, &q), 0, "window: 1 MiB")) {
				is_int((uintptr_t)q, 0xfed00000ull, "window: fits exactly below the hole");
				sva_mem_free(mm, q, 1 * MiB);
			}
			sva_mem_free(mm, p, 2 * MiB);
		}
		munmap(blk, 0xfed00000ull - 64 * KiB);
	}

	/* Take everything below 2^39 - 4 MiB: the top of a 39-bit window. */
	blk = block(64 * KiB, top39 - 4 * MiB);
	if (!blk) {
		skip(6, "[64 KiB, 2^39 - 4 MiB) is partly taken (a sanitizer's shadow memory?)");
		return;
	}
	if (is_int(sva_mem_alloc(4 * MiB, &o, &p), 0, "window: 4 MiB")) {
		is_int((uintptr_t)p, top39 - 4 * MiB, "window: the last 4 MiB below 2^39");
		if (wide) {
			if (is_int(sva_mem_alloc(PG, &o, &q), 0, "window: one page more fits in the 48-bit window")) {
				is_int((uintptr_t)q, top39, "window: at 2^39");
				sva_mem_free(mm, q, PG);
			}
		} else {
			EXPECT_NOSPACE(sva_mem_alloc(PG, &o, &q), "window: one page more: -ENOSPC at 2^39");
		}
		sva_mem_free(mm, p, 4 * MiB);
	}
	munmap(blk, top39 - 4 * MiB - 64 * KiB);
	if (!wide)
		EXPECT_NOSPACE(sva_mem_alloc(600 * GiB, &o, &p), "window: 600 GiB in 512 GiB: -ENOSPC");
	else
		skip(2, "600 GiB fits a 48-bit window (mmap would refuse it as overcommit instead)");
}

/* Real DMA through memory from sva_mem_alloc(). */
static void edu_dma_checks(struct sva_dev *dev, struct sva_mm *mm)
{
	struct sva_mem_opts o = { .size = sizeof(o), .flags = SVA_MEM_PREFAULT, .dev = dev, .mm = mm };
	volatile uint8_t *bar;
	uint8_t *src, *dst;
	size_t bar_len = 0;

	if (!is_int(sva_mem_alloc(PG, &o, (void **)&src), 0, "dma: a source page, visible"))
		return;
	if (!is_int(sva_mem_alloc(PG, &o, (void **)&dst), 0, "dma: a destination page, visible")) {
		sva_mem_free(mm, src, PG);
		return;
	}
	/* edu masks DMA addresses to 28 bits: libsva cannot know that, but bottom-up placement keeps them low. */
	if ((uintptr_t)dst + PG - 1 > EDU_DMA_MASK) {
		skip(2, "the allocations lie above edu's 28-bit DMA mask");
	} else if (!(bar = ktest_edu_bar(dev, &bar_len))) {
		ok(0, "dma: map edu's BAR0");
		skip(1, "no BAR");
	} else {
		for (unsigned i = 0; i < EDU_DMA_LEN; i++)
			src[i] = (uint8_t)(i * 7 + 11);
		memset(dst, 0, PG);
		ok(ktest_edu_dma(bar, (uintptr_t)src, EDU_DEV_BUF, EDU_DMA_LEN, 0) == 0 &&
			   ktest_edu_dma(bar, EDU_DEV_BUF, (uintptr_t)dst, EDU_DMA_LEN, 1) == 0,
		   "dma: RAM (%p) -> edu -> RAM (%p)", (void *)src, (void *)dst);
		ok(memcmp(src, dst, EDU_DMA_LEN) == 0, "dma: the bytes made the round trip through the IOMMU");
		munmap((void *)bar, bar_len);
	}
	is_int(sva_mem_free(mm, dst, PG), 0, "dma: free the destination");
	sva_mem_free(mm, src, PG);
}

static void edu_checks(struct sva_ctx *ctx)
{
	struct sva_bind_opts ro = { .size = sizeof(ro), .flags = SVA_BIND_PINNED | SVA_BIND_RID };
	struct sva_bond *bond;
	struct sva_dev *dev;
	struct sva_mm *mm;
	char pci[16];

	if (!ktest_find_pci(EDU_VENDOR, EDU_DEVICE, pci)) {
		if (getenv("SVA_VM") && strcmp(ktest_topology(), "mock") != 0)
			ktest_bail("no edu device in topology %s", ktest_topology());
		skip(1, "no QEMU edu device here (the vtd39 and vtd48-numa VM topologies have one)");
		return;
	}
	if (!is_int(sva_dev_open(ctx, pci, &dev), 0, "edu: open %s", pci))
		return;
	edu_numa(dev);
	sva_mm_new(ctx, NULL, &mm);
	if (is_int(sva_bind(dev, mm, &ro, &bond), 0, "edu: pinned RID bind")) {
		edu_window(dev, mm);
		edu_dma_checks(dev, mm);
		sva_unbind(bond);
	}
	sva_mm_free(mm);
	sva_dev_close(dev);
}

int main(void)
{
	struct sva_ctx *ctx;

	ktest_require_iommufd();
	ctx = mem_ctx();
	mock_checks(ctx);
	edu_checks(ctx);
	sva_ctx_free(ctx);
	return done_testing();
}
