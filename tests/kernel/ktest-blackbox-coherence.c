/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * An outside tester's pass over the coherence promise of libsva(7) ("the
 * device sees the pages that were mirrored ... until they are withdrawn";
 * Coherence, What a device can reach, The REMOVE race, What no event reports),
 * sva_mm_fence(3), sva_mm_invalidate(3) and sva_mm_prefault(3), written from
 * the pages and sva.h alone, for the edges ktest-coherence and
 * ktest-containment leave out:
 *
 *  - whole chunks: a munmap of one page in the middle of a chunk withdraws the
 *    still-mapped rest; a munmap across the border of two chunks withdraws
 *    both and leaves a third alone; a one-byte invalidate at an unaligned
 *    address withdraws its whole chunk;
 *  - mremap: move, grow in place (no event: the old part stays), shrink (the
 *    chunk of the tail goes whole), MREMAP_DONTUNMAP (both withdrawn, the old
 *    range empty);
 *  - madvise DONTNEED, DONTNEED_LOCKED, FREE, FREE refused on a memfd
 *    (withdrawn all the same), REMOVE (the range given, not a second mapping
 *    of the same pages: the documented limit, mended by invalidate);
 *  - mmap MAP_FIXED over visible memory; ftruncate of a mapped memfd (no
 *    event: prefault does not mend, invalidate does);
 *  - fork: after the fork the parent's writes are what the device sees, for
 *    prefaulted and fault-mapped pages alike, while the child lives;
 *  - mprotect to read-only: after sva_mm_invalidate a write fault is refused
 *    and a read fault resolves;
 *  - THP: a fault maps the whole huge page; a munmap of 4 KiB of it
 *    withdraws the rest;
 *  - a munmap in another thread, then sva_mm_fence(): the bytes are withdrawn
 *    when the fence returns (many rounds, racing the monitor); a device fault
 *    the moment another thread's munmap returned is refused;
 *  - a device fault right after munmap (no fence): refused -EFAULT; right
 *    after munmap + mmap at the same address: the new page, never the old;
 *  - libsva's own memory: sva_mm_prefault of an object's page is -EXDEV, a
 *    fault there is INVALID with the reason -EXDEV;
 *  - and: mremap onto visible memory, DONTUNMAP of a memfd, two mappings of
 *    one memfd, process_madvise of itself, two tracked address spaces, the
 *    engine's cached maps after mprotect, read-only pages (private file,
 *    untouched anonymous) made writable, sva_mem_free then reuse, hugetlb,
 *    one prefault across two mappings (two chunks).
 *
 * "The device sees" is asked of the selftest mock's own page table
 * (mock_sees.h): the IOVA maps the very page the process has there now.  A
 * stale page and no page both answer false, so staleness is told by reusing
 * the address and faulting: a fault on a page still visible maps nothing, so
 * the mock keeps the old page and mock_sees stays false.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <sva/sva.h>

#include "../tap.h"
#include "mock_sees.h"
#include "../hugetlb.h"

#ifndef MADV_DONTNEED_LOCKED
#define MADV_DONTNEED_LOCKED 24 /* Linux 5.18; older headers lack it */
#endif

#define PG 4096ull
#define HUGE (2ull << 20)
#define VP(va) ((const void *)(uintptr_t)(va))
/* Inside the mock's window [16 MiB, 2 GiB), below ASan's shadow at 0x7fff8000. */
#define BASE 0x48000000ull
#define AT(i) (BASE + (uint64_t)(i) * 0x00400000ull) /* 4 MiB apart, one slot per case */

static struct sva_ctx *g_ctx;
static struct sva_dev *g_dev;
static struct sva_mm *g_mm;
static struct sva_bond *g_bond;

static pthread_mutex_t g_rep_lock = PTHREAD_MUTEX_INITIALIZER;
static int g_rep_reason;
static uint64_t g_rep_addr;
static int g_rep_n;

static void on_fault_error(struct sva_bond *b, const struct sva_fault_report *r, void *d)
{
	(void)b;
	(void)d;
	pthread_mutex_lock(&g_rep_lock);
	g_rep_reason = r->reason;
	g_rep_addr = r->addr;
	g_rep_n++;
	pthread_mutex_unlock(&g_rep_lock);
}

static void rep_reset(void)
{
	pthread_mutex_lock(&g_rep_lock);
	g_rep_reason = 0;
	g_rep_addr = 0;
	g_rep_n = 0;
	pthread_mutex_unlock(&g_rep_lock);
}

static int rep_reason(uint64_t *addr)
{
	int r;

	pthread_mutex_lock(&g_rep_lock);
	r = g_rep_n ? g_rep_reason : 0;
	if (addr)
		*addr = g_rep_addr;
	pthread_mutex_unlock(&g_rep_lock);
	return r;
}

static void nap_ms(long ms)
{
	nanosleep(&(struct timespec){ .tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000 }, NULL);
}

static uint64_t bond_faults(void)
{
	struct sva_bond_stats s = { .size = sizeof(s) };

	if (sva_bond_stats(g_bond, &s))
		return UINT64_MAX;
	return s.faults;
}

/* sva_dev_inject_fault(3), NOTES: wait for the bond's faults counter. */
static int fault(uint64_t va, uint32_t perm)
{
	uint64_t before = bond_faults();
	int ret = sva_dev_inject_fault(g_dev, sva_bond_pasid(g_bond), va, perm, 0);

	if (ret)
		return ret;
	for (int i = 0; i < 2000; i++) {
		if (bond_faults() > before)
			return 0;
		nap_ms(1);
	}
	return -ETIMEDOUT;
}

static bool sees(uint64_t va)
{
	return mock_sees(g_ctx, (const void *)(uintptr_t)va);
}

/* Fault, and ask; a REMOVE range's pending checks may withdraw the page again
 * between the two (The REMOVE race), so a few tries. */
static bool fault_sees(uint64_t va, uint32_t perm)
{
	for (int i = 0; i < 5; i++) {
		if (fault(va, perm) == 0 && sees(va))
			return true;
		nap_ms(2);
	}
	return false;
}

static struct sva_mm_stats mm_stats(void)
{
	struct sva_mm_stats s = { .size = sizeof(s) };

	if (sva_mm_stats(g_mm, &s))
		memset(&s, 0xff, sizeof(s));
	return s;
}

static unsigned char *map_at(uint64_t va, size_t len, int prot, int flags, int fd)
{
	void *p = mmap((void *)(uintptr_t)va, len, prot, flags | MAP_FIXED_NOREPLACE | (fd < 0 ? MAP_ANONYMOUS : 0), fd, 0);

	if (p != (void *)(uintptr_t)va)
		tap_bail("mmap at 0x%llx: %s", (unsigned long long)va, p == MAP_FAILED ? strerror(errno) : "elsewhere");
	return p;
}

static unsigned char *anon_at(uint64_t va, size_t len, unsigned char fill)
{
	unsigned char *p = map_at(va, len, PROT_READ | PROT_WRITE, MAP_PRIVATE, -1);

	memset(p, fill, len);
	return p;
}

static bool prefault(uint64_t va, uint64_t len)
{
	return sva_mm_prefault(g_mm, VP(va), len) == 0;
}

/* ---------------------------------------------------------- whole chunks */

/*
 * libsva(7), Coherence: "withdraws ... every visible chunk that overlaps the
 * range ... whole chunks, so the part of a chunk that is still mapped (after a
 * partial munmap(2), say) is withdrawn too"; then "a fault-capable device's
 * next access to the range faults and the fault engine maps what the process
 * has there then (or refuses the fault with -EFAULT if nothing is mapped)".
 */
static void munmap_middle(void)
{
	uint64_t va = AT(0);
	uint64_t gone;
	int ret;

	anon_at(va, 8 * PG, 0x11);
	ok(prefault(va, 8 * PG) && sees(va) && sees(va + 7 * PG), "middle munmap: 8 pages visible after one prefault");
	munmap((void *)(uintptr_t)(va + 3 * PG), PG);
	ok(sva_mm_fence(g_mm) == 0, "middle munmap: fence");
	ok(!sees(va) && !sees(va + 2 * PG) && !sees(va + 4 * PG) && !sees(va + 7 * PG),
	   "middle munmap: the still-mapped rest of the chunk is withdrawn too");
	rep_reset();
	ret = fault(va + 3 * PG, SVA_ACCESS_READ);
	ok(ret == 0 && rep_reason(&gone) == -EFAULT && gone == va + 3 * PG,
	   "middle munmap: a fault on the hole is refused with -EFAULT (%d)", rep_reason(NULL));
	ok(fault_sees(va + 4 * PG, SVA_ACCESS_READ) && fault_sees(va, SVA_ACCESS_WRITE),
	   "middle munmap: faults on the rest map the process's pages again");
	munmap((void *)(uintptr_t)va, 8 * PG);
}

/* A range spanning two chunks withdraws both, whole; a third is left alone. */
static void munmap_two_chunks(void)
{
	uint64_t va = AT(1), other = AT(1) + 16 * PG;
	struct sva_mm_stats s0, s1;

	anon_at(va, 8 * PG, 0x22);
	anon_at(other, PG, 0x23);
	ok(prefault(va, 4 * PG) && prefault(va + 4 * PG, 4 * PG) && prefault(other, PG),
	   "two chunks: prefaulted [0,4), [4,8) and a third mapping");
	s0 = mm_stats();
	munmap((void *)(uintptr_t)(va + 3 * PG), 2 * PG);
	sva_mm_fence(g_mm);
	s1 = mm_stats();
	ok(!sees(va) && !sees(va + 2 * PG) && !sees(va + 5 * PG) && !sees(va + 7 * PG),
	   "two chunks: a munmap across their border withdraws both whole");
	ok(sees(other), "two chunks: the chunk it does not overlap stays visible");
	is_int(s1.bytes_withdrawn - s0.bytes_withdrawn, 8 * PG, "two chunks: bytes_withdrawn counts both chunks");
	munmap((void *)(uintptr_t)va, 8 * PG);
	munmap((void *)(uintptr_t)other, PG);
}

/* sva_mm_invalidate(3): "rounded out to whole 4 KiB pages"; "withdrawing one
 * byte of a chunk withdraws all of it", "the return value says how much". */
static void invalidate_one_byte(void)
{
	uint64_t va = AT(2);
	int64_t ret;

	anon_at(va, 4 * PG, 0x33);
	prefault(va, 4 * PG);
	ret = sva_mm_invalidate(g_mm, VP(va + 2 * PG + 100), 1);
	ok(ret == (int64_t)(4 * PG) && !sees(va) && !sees(va + 3 * PG),
	   "invalidate of one unaligned byte withdraws the whole 4-page chunk (%lld)", (long long)ret);
	ok(sva_mm_prefault(g_mm, VP(va + PG - 1), 2) == 0 && sees(va) && sees(va + PG) && !sees(va + 2 * PG),
	   "prefault of 2 bytes across a page border makes both pages visible, no more");
	munmap((void *)(uintptr_t)va, 4 * PG);
}

/* ------------------------------------------------------------------ mremap */

static void mremap_cases(void)
{
	uint64_t va = AT(3), to = AT(3) + 0x200000;
	void *q;

	/* move */
	anon_at(va, 4 * PG, 0x44);
	prefault(va, 4 * PG);
	q = mremap((void *)(uintptr_t)va, 4 * PG, 4 * PG, MREMAP_MAYMOVE | MREMAP_FIXED, (void *)(uintptr_t)to);
	ok(q == (void *)(uintptr_t)to, "mremap move");
	sva_mm_fence(g_mm);
	anon_at(va, 4 * PG, 0x45);
	ok(fault_sees(va, SVA_ACCESS_READ), "mremap move: the old range was withdrawn (a new page there is faulted in)");
	ok(!sees(to) && fault_sees(to + PG, SVA_ACCESS_READ), "mremap move: the new range is visible only by a fault");
	munmap((void *)(uintptr_t)va, 4 * PG);
	munmap((void *)(uintptr_t)to, 4 * PG);

	/* grow in place: "No event, and none is needed" */
	anon_at(va, 2 * PG, 0x46);
	prefault(va, 2 * PG);
	q = mremap((void *)(uintptr_t)va, 2 * PG, 4 * PG, 0);
	ok(q == (void *)(uintptr_t)va, "mremap grow in place");
	sva_mm_fence(g_mm);
	ok(sees(va) && sees(va + PG), "mremap grow: the old pages stay visible");
	((unsigned char *)q)[3 * PG] = 1;
	ok(!sees(va + 3 * PG) && fault_sees(va + 3 * PG, SVA_ACCESS_READ),
	   "mremap grow: the added part is visible only once a fault maps it");
	munmap(q, 4 * PG);

	/* shrink: the tail goes, and with it the whole chunk */
	anon_at(va, 4 * PG, 0x47);
	prefault(va, 4 * PG);
	q = mremap((void *)(uintptr_t)va, 4 * PG, 2 * PG, 0);
	sva_mm_fence(g_mm);
	ok(q == (void *)(uintptr_t)va && !sees(va), "mremap shrink: the chunk the tail was in is withdrawn whole");
	anon_at(va + 2 * PG, 2 * PG, 0x48);
	ok(fault_sees(va + 3 * PG, SVA_ACCESS_READ) && fault_sees(va, SVA_ACCESS_READ),
	   "mremap shrink: new memory at the tail and the head fault in afresh");
	munmap((void *)(uintptr_t)va, 4 * PG);

	/* MREMAP_DONTUNMAP: both withdrawn, the old range stays mapped and empty */
	{
		unsigned char *p = anon_at(va, 2 * PG, 0x49);

		prefault(va, 2 * PG);
		q = mremap(p, 2 * PG, 2 * PG, MREMAP_MAYMOVE | MREMAP_FIXED | MREMAP_DONTUNMAP, (void *)(uintptr_t)to);
		if (q == MAP_FAILED) {
			skip(2, "MREMAP_DONTUNMAP refused by this kernel");
		} else {
			sva_mm_fence(g_mm);
			ok(p[0] == 0 && fault_sees(va, SVA_ACCESS_READ),
			   "DONTUNMAP: the old range is empty for the process and the device faults that in");
			ok(((unsigned char *)q)[PG] == 0x49 && fault_sees(to + PG, SVA_ACCESS_READ),
			   "DONTUNMAP: the moved pages are visible at the new address by a fault");
			munmap(q, 2 * PG);
		}
		munmap(p, 2 * PG);
	}
}

/* ----------------------------------------------------------------- madvise */

static void madvise_case(const char *what, int advice, bool shared)
{
	uint64_t va = AT(4);
	struct sva_mm_stats s0, s1;
	unsigned char *p;
	int fd = -1, ret;

	if (shared) {
		fd = memfd_create("bbcoh", 0);
		if (fd < 0 || ftruncate(fd, 4 * PG))
			tap_bail("memfd");
		p = map_at(va, 4 * PG, PROT_READ | PROT_WRITE, MAP_SHARED, fd);
		memset(p, 0x55, 4 * PG);
	} else {
		p = anon_at(va, 4 * PG, 0x55);
	}
	prefault(va, 4 * PG);
	s0 = mm_stats();
	ret = madvise(p + PG, PG, advice);
	sva_mm_fence(g_mm);
	s1 = mm_stats();
	if (ret && errno != EINVAL) {
		skip(2, "the kernel refuses this advice");
		goto out;
	}
	ok(s1.bytes_withdrawn - s0.bytes_withdrawn == 4 * PG && !sees(va),
	   "%s%s: the whole chunk is withdrawn (%llu bytes)", what, ret ? " (refused with EINVAL)" : "",
	   (unsigned long long)(s1.bytes_withdrawn - s0.bytes_withdrawn));
	p[PG] = 0x56; /* the process's page now, new or the same */
	ok(fault_sees(va + PG, SVA_ACCESS_READ) && fault_sees(va + 3 * PG, SVA_ACCESS_READ),
	   "%s: faults map the process's pages again", what);
out:
	munmap(p, 4 * PG);
	if (fd >= 0)
		close(fd);
}

/*
 * MADV_REMOVE: "It frees the file's pages under every other mapping of them
 * too, and those are not withdrawn"; "Calling sva_mm_prefault(3) again does
 * not mend it (the range is visible already): invalidate the other mappings'
 * ranges first."
 */
static void remove_second_mapping(void)
{
	uint64_t va = AT(5), va2 = AT(5) + 0x100000;
	int fd = memfd_create("bbcoh-rm", 0);
	unsigned char *p, *p2;

	if (fd < 0 || ftruncate(fd, 2 * PG))
		tap_bail("memfd");
	p = map_at(va, 2 * PG, PROT_READ | PROT_WRITE, MAP_SHARED, fd);
	p2 = map_at(va2, 2 * PG, PROT_READ | PROT_WRITE, MAP_SHARED, fd);
	memset(p, 0x66, 2 * PG);
	prefault(va, 2 * PG);
	prefault(va2, 2 * PG);
	ok(sees(va) && sees(va2) && p2[0] == 0x66, "REMOVE: two mappings of one memfd, both visible");
	ok(madvise(p, 2 * PG, MADV_REMOVE) == 0, "REMOVE through the first");
	sva_mm_fence(g_mm);
	p[0] = 0x67; /* a new file page, under both mappings */
	ok(p2[0] == 0x67 && !sees(va2), "REMOVE: the second mapping's device page is the old one (documented)");
	ok(prefault(va2, 2 * PG) && !sees(va2), "REMOVE: prefault does not mend the second mapping (documented)");
	ok(sva_mm_invalidate(g_mm, VP(va2), 2 * PG) > 0 && prefault(va2, 2 * PG) && sees(va2),
	   "REMOVE: invalidate + prefault does");
	ok(fault_sees(va, SVA_ACCESS_READ), "REMOVE: the range given was withdrawn and faults back the new page");
	munmap(p, 2 * PG);
	munmap(p2, 2 * PG);
	close(fd);
}

/* What no event reports: ftruncate of a mapped memfd. */
static void ftruncate_case(void)
{
	uint64_t va = AT(6);
	int fd = memfd_create("bbcoh-tr", 0);
	unsigned char *p;

	if (fd < 0 || ftruncate(fd, 2 * PG))
		tap_bail("memfd");
	p = map_at(va, 2 * PG, PROT_READ | PROT_WRITE, MAP_SHARED, fd);
	memset(p, 0x77, 2 * PG);
	prefault(va, 2 * PG);
	if (ftruncate(fd, 0) || ftruncate(fd, 2 * PG))
		tap_bail("ftruncate");
	ok(p[0] == 0 && !sees(va), "ftruncate: the process sees a new zeroed page, the device the old one");
	ok(prefault(va, 2 * PG) && !sees(va), "ftruncate: prefault finds it visible already and does not mend");
	ok(sva_mm_invalidate(g_mm, VP(va), 2 * PG) == (int64_t)(2 * PG) && fault_sees(va, SVA_ACCESS_WRITE),
	   "ftruncate: after invalidate a fault maps the new page");
	munmap(p, 2 * PG);
	close(fd);
}

/* mmap(2) with MAP_FIXED over registered memory: "As munmap(2) of what it replaces". */
static void map_fixed_over(void)
{
	uint64_t va = AT(7);
	unsigned char *p = anon_at(va, 4 * PG, 0x88);
	struct sva_mm_stats s0, s1;

	prefault(va, 4 * PG);
	s0 = mm_stats();
	if (mmap(p + PG, PG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0) != p + PG)
		tap_bail("MAP_FIXED");
	sva_mm_fence(g_mm);
	s1 = mm_stats();
	ok(s1.bytes_withdrawn - s0.bytes_withdrawn == 4 * PG && !sees(va),
	   "MAP_FIXED over one page: the whole chunk is withdrawn");
	p[PG] = 0x89;
	ok(fault_sees(va + PG, SVA_ACCESS_READ) && fault_sees(va, SVA_ACCESS_READ),
	   "MAP_FIXED: faults map the new page and the old neighbours again");
	munmap(p, 4 * PG);
}

/* ------------------------------------------------------------------- fork */

/*
 * libsva(7), The coherence monitor: "Its pinned anonymous pages are copied for
 * the child at the fork (the parent and its devices keep the originals)": the
 * parent's writes after the fork are what the device sees, while the child
 * still holds its copy, for prefaulted and fault-mapped pages alike.
 */
static void fork_case(void)
{
	uint64_t va = AT(8);
	unsigned char *p = anon_at(va, 2 * PG, 0x99);
	int go[2], back[2], status = 0;
	char c = 0;
	pid_t pid;

	prefault(va, PG);
	ok(fault_sees(va + PG, SVA_ACCESS_WRITE), "fork: one page prefaulted, one fault-mapped");
	if (pipe(go) || pipe(back))
		tap_bail("pipe");
	pid = fork();
	if (pid == 0) {
		/* The child's own write: its copy, never the parent's page. */
		char r = p[0] == 0x99 ? 1 : 0;

		p[0] = 0x5a;
		p[PG] = 0x5a;
		if (write(back[1], &r, 1) != 1 || read(go[0], &r, 1) < 0)
			_exit(2);
		_exit(0);
	}
	if (pid < 0)
		tap_bail("fork");
	if (read(back[0], &c, 1) != 1)
		c = 0;
	p[0] = 0x9a;
	p[PG] = 0x9b;
	ok(c == 1 && sees(va) && sees(va + PG) && p[0] == 0x9a,
	   "fork: after the parent's writes (child alive) the device sees the parent's pages");
	if (write(go[1], "x", 1) != 1)
		tap_bail("pipe write");
	waitpid(pid, &status, 0);
	ok(WIFEXITED(status) && WEXITSTATUS(status) == 0 && sees(va) && sees(va + PG) && p[PG] == 0x9b,
	   "fork: after the child's exit too");
	close(go[0]);
	close(go[1]);
	close(back[0]);
	close(back[1]);
	munmap(p, 2 * PG);
}

/* ---------------------------------------------------------------- mprotect */

static void mprotect_case(void)
{
	uint64_t va = AT(9);
	unsigned char *p = anon_at(va, PG, 0xaa);
	int ret;

	prefault(va, PG);
	mprotect(p, PG, PROT_READ);
	ok(sees(va), "mprotect to read-only: no event, the device keeps the page (documented)");
	ok(sva_mm_invalidate(g_mm, VP(va), PG) == (int64_t)PG && !sees(va), "mprotect: invalidate withdraws it");
	rep_reset();
	ret = fault(va, SVA_ACCESS_WRITE);
	ok(ret == 0 && rep_reason(NULL) == -EACCES && !sees(va), "mprotect: then a write fault is refused, -EACCES (%d)",
	   rep_reason(NULL));
	ok(fault_sees(va, SVA_ACCESS_READ), "mprotect: and a read fault resolves");
	munmap(p, PG);
}

/* -------------------------------------------------------------------- THP */

static bool thp_enabled(void)
{
	char b[128] = "";
	FILE *f = fopen("/sys/kernel/mm/transparent_hugepage/enabled", "r");

	if (!f)
		return false;
	if (!fgets(b, sizeof(b), f))
		b[0] = 0;
	fclose(f);
	return strstr(b, "[never]") == NULL && b[0];
}

/* The fault engine: "In ... mappings that hold transparent huge pages windows
 * are rounded out to whole 2 MiB pages"; a munmap of 4 KiB then withdraws the
 * whole chunk. */
static void thp_case(void)
{
	uint64_t va = AT(10); /* 2 MiB aligned */
	unsigned char *p;

	if (!thp_enabled()) {
		skip(3, "no transparent huge pages");
		return;
	}
	p = map_at(va, HUGE, PROT_READ | PROT_WRITE, MAP_PRIVATE, -1);
	madvise(p, HUGE, MADV_HUGEPAGE);
	memset(p, 0xbb, HUGE);
	if (!fault_sees(va + 5 * PG, SVA_ACCESS_READ)) {
		ok(0, "THP: a fault resolves");
		skip(2, "no fault");
		munmap(p, HUGE);
		return;
	}
	if (!sees(va + HUGE - PG)) {
		skip(3, "the buffer did not get a huge page (no THP formed)");
		munmap(p, HUGE);
		return;
	}
	ok(sees(va) && sees(va + HUGE - PG), "THP: one fault maps the whole 2 MiB page");
	munmap(p + HUGE / 2, PG);
	sva_mm_fence(g_mm);
	ok(!sees(va) && !sees(va + HUGE - PG), "THP: a munmap of 4 KiB in it withdraws all of it");
	ok(fault_sees(va + HUGE - PG, SVA_ACCESS_READ), "THP: the rest faults back in");
	munmap(p, HUGE);
}

/* ------------------------------------------------- threads and the fence */

struct unmapper {
	atomic_int round, done;
	int rounds;
};

static void *unmapper_fn(void *arg)
{
	struct unmapper *u = arg;

	for (int r = 1; r <= u->rounds; r++) {
		while (atomic_load(&u->round) != r)
			;
		munmap((void *)(uintptr_t)AT(11), 2 * PG);
		atomic_store(&u->done, r);
	}
	return NULL;
}

/*
 * sva_mm_fence(3): "when it returns, every one of those operations on tracked
 * memory that returned before the call has been withdrawn from mm"; the munmap
 * from another thread, the fence called the moment it returned.
 */
static void fence_race(void)
{
	struct unmapper u = { .rounds = 200 };
	int bad = 0, stale = 0;
	pthread_t t;

	if (pthread_create(&t, NULL, unmapper_fn, &u))
		tap_bail("pthread_create");
	for (int r = 1; r <= u.rounds; r++) {
		struct sva_mm_stats s0, s1;

		anon_at(AT(11), 2 * PG, (unsigned char)r);
		prefault(AT(11), 2 * PG);
		s0 = mm_stats();
		atomic_store(&u.round, r);
		while (atomic_load(&u.done) != r)
			;
		if (sva_mm_fence(g_mm))
			bad++;
		s1 = mm_stats();
		if (s1.bytes_withdrawn - s0.bytes_withdrawn < 2 * PG)
			bad++;
		/* The address reused at once: the device gets the new page. */
		anon_at(AT(11), 2 * PG, 0);
		if (!prefault(AT(11), 2 * PG) || !sees(AT(11) + PG))
			stale++;
		munmap((void *)(uintptr_t)AT(11), 2 * PG);
	}
	pthread_join(t, NULL);
	ok(bad == 0, "fence after another thread's munmap: withdrawn when it returns (%d of %d rounds not)", bad,
	   u.rounds);
	ok(stale == 0, "  and the address reused at once is made visible with its new page (%d stale)", stale);
}

/* The engine's own fence, across threads: a device fault raised the moment
 * another thread's munmap returned is refused, never answered from the old
 * chunk. */
static void fault_after_thread_munmap(void)
{
	struct unmapper u = { .rounds = 50 };
	int refused = 0;
	pthread_t t;

	if (pthread_create(&t, NULL, unmapper_fn, &u))
		tap_bail("pthread_create");
	for (int r = 1; r <= u.rounds; r++) {
		anon_at(AT(11), 2 * PG, (unsigned char)r);
		prefault(AT(11), 2 * PG);
		atomic_store(&u.round, r);
		while (atomic_load(&u.done) != r)
			;
		rep_reset();
		if (fault(AT(11) + PG, SVA_ACCESS_READ) == 0 && rep_reason(NULL) == -EFAULT && !sees(AT(11) + PG))
			refused++;
	}
	pthread_join(t, NULL);
	is_int(refused, u.rounds, "a fault right after another thread's munmap returned is refused -EFAULT, every time");
}

/*
 * libsva(7): "a fault raised after a munmap(2) returned is never answered with
 * the old pages": no fence between the munmap (or the munmap and a new map at
 * the same address) and the fault.
 */
static void fault_after_munmap(void)
{
	uint64_t va = AT(12);
	int refused = 0, stale = 0, n = 50;

	for (int i = 0; i < n; i++) {
		anon_at(va, PG, 0xc1);
		prefault(va, PG);
		munmap((void *)(uintptr_t)va, PG);
		rep_reset();
		if (fault(va, SVA_ACCESS_READ) == 0 && rep_reason(NULL) == -EFAULT)
			refused++;

		anon_at(va, PG, 0xc2);
		prefault(va, PG);
		munmap((void *)(uintptr_t)va, PG);
		anon_at(va, PG, 0xc3);
		if (fault(va, SVA_ACCESS_READ) != 0 || !sees(va))
			stale++;
		munmap((void *)(uintptr_t)va, PG);
	}
	is_int(refused, n, "a fault right after munmap is refused with -EFAULT, every time");
	is_int(stale, 0, "a fault right after munmap + mmap at the same address maps the new page, every time");
}

/* ------------------------------------------------------ libsva's own memory */

/*
 * What a device can reach: "libsva's objects ... A fault there is answered
 * INVALID with the reason -EXDEV ... sva_mm_prefault(3) refuses a range that
 * touches them (-EXDEV)", "In every mode".
 */
static void arena_case(void)
{
	uint64_t objs[] = { (uintptr_t)g_mm, (uintptr_t)g_bond, (uintptr_t)g_ctx, (uintptr_t)g_dev };
	int pre_ok = 0, fault_ok = 0, reasons[4] = { 0 };

	for (int i = 0; i < 4; i++) {
		uint64_t page = objs[i] & ~(PG - 1);

		if (sva_mm_prefault(g_mm, VP(page), PG) == -EXDEV)
			pre_ok++;
		rep_reset();
		if (fault(objs[i], SVA_ACCESS_WRITE) == 0)
			reasons[i] = rep_reason(NULL);
		if (reasons[i] == -EXDEV && !sees(page))
			fault_ok++;
	}
	is_int(pre_ok, 4, "own memory: prefault of the page of an mm, bond, context or device object is -EXDEV");
	ok(fault_ok == 4, "own memory: a device fault there is INVALID with the reason -EXDEV (%d %d %d %d)",
	   reasons[0], reasons[1], reasons[2], reasons[3]);
}


/* ----------------------------------------------------------- more edges */

static int fault_on(struct sva_bond *b, uint64_t va, uint32_t perm)
{
	struct sva_bond_stats st = { .size = sizeof(st) };
	uint64_t before;
	int ret;

	if (sva_bond_stats(b, &st))
		return -EIO;
	before = st.faults;
	ret = sva_dev_inject_fault(g_dev, sva_bond_pasid(b), va, perm, 0);
	for (int i = 0; !ret && i < 2000; i++) {
		if (sva_bond_stats(b, &st) == 0 && st.faults > before)
			return 0;
		nap_ms(1);
	}
	return ret ? ret : -ETIMEDOUT;
}

/*
 * mremap(2) moving onto visible memory (MREMAP_FIXED): "The old and the new
 * range are withdrawn": what was visible at the target is not what the
 * device keeps.
 */
static void mremap_onto_visible(void)
{
	uint64_t va = AT(13), to = AT(13) + 0x100000;
	void *q;

	anon_at(va, 2 * PG, 0xd1);
	anon_at(to, 4 * PG, 0xd2);
	prefault(va, 2 * PG);
	prefault(to, 4 * PG);
	q = mremap((void *)(uintptr_t)va, 2 * PG, 2 * PG, MREMAP_MAYMOVE | MREMAP_FIXED, (void *)(uintptr_t)to);
	ok(q == (void *)(uintptr_t)to, "mremap onto a visible range");
	sva_mm_fence(g_mm);
	ok(!sees(to) && !sees(to + PG) && !sees(to + 3 * PG),
	   "mremap onto visible memory: the target's chunk is withdrawn whole, its untouched tail too");
	ok(fault_sees(to, SVA_ACCESS_READ) && ((unsigned char *)q)[0] == 0xd1 && fault_sees(to + 3 * PG, SVA_ACCESS_READ),
	   "  and faults map the moved pages and the tail again");
	munmap((void *)(uintptr_t)to, 4 * PG);
}

/* MREMAP_DONTUNMAP of a shared mapping: "the file's pages again for a shared
 * or file mapping (a device that reaches it later gets those pages)". */
static void dontunmap_shared(void)
{
	uint64_t va = AT(14), to = AT(14) + 0x100000;
	int fd = memfd_create("bbcoh-du", 0);
	unsigned char *p;
	void *q;

	if (fd < 0 || ftruncate(fd, 2 * PG))
		tap_bail("memfd");
	p = map_at(va, 2 * PG, PROT_READ | PROT_WRITE, MAP_SHARED, fd);
	memset(p, 0xd3, 2 * PG);
	prefault(va, 2 * PG);
	q = mremap(p, 2 * PG, 2 * PG, MREMAP_MAYMOVE | MREMAP_FIXED | MREMAP_DONTUNMAP, (void *)(uintptr_t)to);
	if (q == MAP_FAILED) {
		skip(1, "MREMAP_DONTUNMAP of shared memory refused by this kernel");
	} else {
		sva_mm_fence(g_mm);
		ok(p[0] == 0xd3 && fault_sees(va, SVA_ACCESS_READ) && fault_sees(to, SVA_ACCESS_READ),
		   "DONTUNMAP of a memfd: the old range shows the file's pages again, and the device faults them in at both");
		munmap(q, 2 * PG);
	}
	munmap(p, 2 * PG);
	close(fd);
}

/* Two mappings of one memfd: a munmap of one withdraws that one only. */
static void memfd_two_views(void)
{
	uint64_t va = AT(15), va2 = AT(15) + 0x100000;
	int fd = memfd_create("bbcoh-2v", 0);
	unsigned char *p, *p2;

	if (fd < 0 || ftruncate(fd, PG))
		tap_bail("memfd");
	p = map_at(va, PG, PROT_READ | PROT_WRITE, MAP_SHARED, fd);
	p2 = map_at(va2, PG, PROT_READ | PROT_WRITE, MAP_SHARED, fd);
	p[0] = 0xd4;
	prefault(va, PG);
	prefault(va2, PG);
	munmap(p, PG);
	sva_mm_fence(g_mm);
	p2[1] = 0xd5;
	ok(sees(va2) && p2[0] == 0xd4, "memfd, two mappings: a munmap of one leaves the other visible, the same page");
	munmap(p2, PG);
	close(fd);
}

/* libsva(7), Coherence: "process_madvise(2) of the process itself" is followed. */
static void process_madvise_self(void)
{
	uint64_t va = AT(16);
	unsigned char *p = anon_at(va, 2 * PG, 0xd6);
	struct iovec iov = { .iov_base = p, .iov_len = PG };
	struct sva_mm_stats s0, s1;
	int pidfd = (int)syscall(SYS_pidfd_open, getpid(), 0);
	long ret;

	prefault(va, 2 * PG);
	s0 = mm_stats();
	ret = pidfd < 0 ? -1 : syscall(SYS_process_madvise, pidfd, &iov, 1, MADV_DONTNEED, 0);
	if (ret < 0) {
		skip(1, "process_madvise(MADV_DONTNEED) of itself refused by this kernel");
	} else {
		sva_mm_fence(g_mm);
		s1 = mm_stats();
		ok(p[0] == 0 && s1.bytes_withdrawn - s0.bytes_withdrawn == 2 * PG && !sees(va + PG),
		   "process_madvise(DONTNEED) of itself withdraws the chunk (%llu bytes)",
		   (unsigned long long)(s1.bytes_withdrawn - s0.bytes_withdrawn));
	}
	if (pidfd >= 0)
		close(pidfd);
	munmap(p, 2 * PG);
}

/* "The monitor withdraws from every tracked address space of the process". */
static void two_address_spaces(void)
{
	uint64_t va = AT(17);
	struct sva_mm_opts mo = { .size = sizeof(mo), .fault_around = PG };
	struct sva_mm *mm2 = NULL;
	struct sva_bond *b2 = NULL;
	unsigned char *p;

	if (sva_mm_new(g_ctx, &mo, &mm2) || sva_bind(g_dev, mm2, NULL, &b2)) {
		ok(0, "a second address space bound to the mock");
		sva_mm_free(mm2);
		return;
	}
	p = anon_at(va, 2 * PG, 0xd7);
	prefault(va, 2 * PG);
	sva_mm_prefault(mm2, p, 2 * PG);
	munmap(p + PG, PG);
	sva_mm_fence(g_mm);
	sva_mm_fence(mm2);
	ok(!sees(va), "two address spaces: a munmap withdraws the chunk from both");
	rep_reset();
	ok(fault_on(b2, va, SVA_ACCESS_READ) == 0 && sees(va), "  and a fault of the second one's device maps it again");
	munmap(p, PG);
	sva_unbind(b2);
	sva_mm_free(mm2);
}

/*
 * What no event reports, mprotect: "memory not visible yet may still be made
 * visible for a read the process took away ... A write to memory made
 * read-only is refused all the same": a write fault on a page of a mapping
 * made read-only after the engine read it, without sva_mm_invalidate.
 */
static void mprotect_cached(void)
{
	uint64_t va = AT(18);
	unsigned char *p = anon_at(va, 2 * PG, 0xd8);
	int ret;

	ok(fault_sees(va, SVA_ACCESS_WRITE), "mprotect, cached maps: the engine has read the mapping");
	mprotect(p, 2 * PG, PROT_READ);
	rep_reset();
	ret = fault(va + PG, SVA_ACCESS_WRITE);
	ok(ret == 0 && rep_reason(NULL) != 0 && !sees(va + PG),
	   "mprotect, cached maps: a write fault on the read-only page is refused all the same (%d)", rep_reason(NULL));
	munmap(p, 2 * PG);
}

/* A private file mapping, read-only when made visible, then made writable
 * and written: "A pinned page of a private file mapping (MAP_PRIVATE) is a
 * private copy, for a read as for a write". */
static void private_file_write(void)
{
	uint64_t va = AT(19);
	int fd = memfd_create("bbcoh-pf", 0);
	unsigned char *p;

	if (fd < 0 || ftruncate(fd, PG) || pwrite(fd, "\xd9", 1, 0) != 1)
		tap_bail("memfd");
	p = map_at(va, PG, PROT_READ, MAP_PRIVATE, fd);
	ok(fault_sees(va, SVA_ACCESS_READ), "private file mapping, read-only: a read fault makes it visible");
	mprotect(p, PG, PROT_READ | PROT_WRITE);
	p[1] = 0xda;
	ok(sees(va), "  made writable and written by the process: the device still sees the process's page");
	munmap(p, PG);
	close(fd);
}

/* sva_mem_free(3): unmapped, fenced and withdrawn: the address reused at once
 * by the process is faulted in afresh. */
static void mem_free_reuse(void)
{
	struct sva_mem_opts o = { .size = sizeof(o), .flags = SVA_MEM_PREFAULT, .mm = g_mm, .dev = g_dev };
	void *buf = NULL;
	uint64_t va;

	if (sva_mem_alloc(2 * PG, &o, &buf)) {
		ok(0, "sva_mem_alloc");
		return;
	}
	va = (uintptr_t)buf;
	ok(sees(va) && sees(va + PG), "sva_mem_alloc(SVA_MEM_PREFAULT): visible");
	ok(sva_mem_free(g_mm, buf, 2 * PG) == 0, "sva_mem_free");
	anon_at(va, 2 * PG, 0xdb);
	ok(fault_sees(va + PG, SVA_ACCESS_READ), "  the address reused by the process: a fault maps the new page");
	munmap((void *)(uintptr_t)va, 2 * PG);
}

/* hugetlb: a chunk of two huge pages, one unmapped: the other goes too. */
static void hugetlb_case(void)
{
	uint64_t va = AT(20);
	unsigned char *p;

	if (free_hugetlb() < 2) {
		skip(4, "fewer than 2 free 2 MiB hugetlb pages (SVA_VM_HUGEPAGES)");
		return;
	}
	p = map_at(va, 2 * HUGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_HUGETLB, -1);
	memset(p, 0xdc, 2 * HUGE);
	ok(fault_sees(va + PG, SVA_ACCESS_READ) && sees(va + HUGE - PG), "hugetlb: a fault maps its whole huge page");
	ok(prefault(va, 2 * HUGE) && sees(va + HUGE), "hugetlb: prefault makes the second visible");
	munmap(p + HUGE, HUGE);
	sva_mm_fence(g_mm);
	ok(sees(va + PG) && sees(va + HUGE - PG),
	   "hugetlb: a munmap of the second huge page leaves the first (a chunk of its own) visible");
	madvise(p, HUGE, MADV_DONTNEED);
	sva_mm_fence(g_mm);
	p[0] = 0xdd;
	ok(fault_sees(va, SVA_ACCESS_READ) && sees(va + HUGE - PG),
	   "hugetlb: after MADV_DONTNEED a fault maps the new huge page, whole");
	munmap(p, HUGE);
}

/*
 * A read-only private anonymous mapping never written, made visible, then
 * made writable and written by the process: libsva(7) lists only mprotect(2)
 * "taking permissions away" as unreported; sva_mm_prefault(3) NOTES: "once
 * the mapping has become writable ... the write fault maps the whole part
 * again".  Does a device reading it see what the process wrote?
 */
static void readonly_untouched(const char *how, uint64_t va, bool by_prefault)
{
	unsigned char *p = map_at(va, 2 * PG, PROT_READ, MAP_PRIVATE, -1);
	bool vis = by_prefault ? prefault(va, 2 * PG) : fault_sees(va, SVA_ACCESS_READ);

	ok(vis && p[0] == 0, "read-only untouched anon, %s: visible", how);
	mprotect(p, 2 * PG, PROT_READ | PROT_WRITE);
	p[0] = 0xe1;
	ok(sees(va), "  made writable and written by the process: the device reads the process's page (%s)", how);
	ok(fault_sees(va, SVA_ACCESS_WRITE), "  a device write fault maps the process's page");
	munmap(p, 2 * PG);
}

/* sva_mm_invalidate(3): a chunk is "a run of pages ... within one mapping of
 * the process, in one call": a prefault across two mappings makes two chunks,
 * and a munmap of the first leaves the second visible. */
static void prefault_two_mappings(void)
{
	uint64_t va = AT(23);
	struct sva_mm_stats s0, s1;

	anon_at(va, 2 * PG, 0xe2);
	map_at(va + 2 * PG, 2 * PG, PROT_READ, MAP_PRIVATE, -1); /* another protection: not merged */
	ok(prefault(va, 4 * PG) && sees(va) && sees(va + 3 * PG), "one prefault across two mappings");
	s0 = mm_stats();
	munmap((void *)(uintptr_t)va, 2 * PG);
	sva_mm_fence(g_mm);
	s1 = mm_stats();
	ok(sees(va + 2 * PG) && sees(va + 3 * PG) && s1.bytes_withdrawn - s0.bytes_withdrawn == 2 * PG,
	   "  a munmap of the first mapping leaves the second (its own chunk) visible (%llu bytes withdrawn)",
	   (unsigned long long)(s1.bytes_withdrawn - s0.bytes_withdrawn));
	munmap((void *)(uintptr_t)(va + 2 * PG), 2 * PG);
}

int main(void)
{
	struct sva_mm_opts mo = { .size = sizeof(mo), .fault_around = PG };
	struct sva_bond_ops ops = { .size = sizeof(ops), .fault_error = on_fault_error };
	struct sva_bind_opts bo = { .size = sizeof(bo), .ops = &ops };
	struct sva_mm_stats st = { .size = sizeof(st) };
	int ret;

	if (access("/dev/iommu", R_OK | W_OK)) {
		if (getenv("SVA_VM"))
			tap_bail("no usable /dev/iommu in the test VM");
		skip_all("no usable /dev/iommu");
	}
	if (sva_ctx_new(NULL, &g_ctx))
		tap_bail("sva_ctx_new");
	ret = sva_dev_open_mock(g_ctx, NULL, &g_dev);
	if (ret) {
		if (getenv("SVA_VM"))
			tap_bail("no mock device in the test VM (%s)", strerror(-ret));
		skip_all("no mock device");
	}
	if (sva_mm_new(g_ctx, &mo, &g_mm) || sva_bind(g_dev, g_mm, &bo, &g_bond))
		tap_bail("mm/bind");
	if (sva_mm_stats(g_mm, &st) || !(st.flags & SVA_MM_STAT_TRACKED))
		skip_all("the address space is not tracked here");

	munmap_middle();
	munmap_two_chunks();
	invalidate_one_byte();
	mremap_cases();
	madvise_case("DONTNEED", MADV_DONTNEED, false);
	madvise_case("DONTNEED_LOCKED", MADV_DONTNEED_LOCKED, false);
	madvise_case("FREE", MADV_FREE, false);
	madvise_case("FREE of a memfd", MADV_FREE, true);
	madvise_case("REMOVE of a memfd", MADV_REMOVE, true);
	remove_second_mapping();
	ftruncate_case();
	map_fixed_over();
	fork_case();
	mprotect_case();
	thp_case();
	fence_race();
	fault_after_munmap();
	fault_after_thread_munmap();
	arena_case();
	mremap_onto_visible();
	dontunmap_shared();
	memfd_two_views();
	process_madvise_self();
	two_address_spaces();
	mprotect_cached();
	private_file_write();
	mem_free_reuse();
	hugetlb_case();
	readonly_untouched("prefaulted", AT(21), true);
	readonly_untouched("fault-mapped", AT(22), false);
	prefault_two_mappings();

	sva_unbind(g_bond);
	sva_mm_free(g_mm);
	sva_dev_close(g_dev);
	sva_ctx_free(g_ctx);
	return done_testing();
}
