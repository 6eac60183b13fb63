/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Process-level events that change which page backs a VA without a munmap or
 * madvise: fork() and copy-on-write (either side writing, MADV_DONTFORK,
 * MADV_WIPEONFORK, a transparent huge page), mprotect() both ways, page
 * migration, MADV_COLD/MADV_PAGEOUT, KSM, shared memory mapped twice (memfd,
 * System V), and the first write to a private file mapping or to read-only
 * anonymous memory that still shows the shared zero page.  The device must see
 * exactly what the process sees: against the selftest mock (fault-capable
 * bond; the mock's page table, MD_CHECK_MAP, says whether the device has the
 * process's current page) and, where there is one, QEMU's edu with real DMA.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdatomic.h>
#include <sys/ipc.h>
#include <sys/shm.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#include "ktest_edu.h"

#define PG 4096u
#define VA 0x60000000ull  /* inside the mock aperture [16 MiB, 2 GiB) */
#define VA2 0x64000000ull /* a second mapping */
#define EDU_VA 0x8000000ull /* under edu's 28-bit DMA mask */

#ifndef MADV_COLD
#define MADV_COLD 20
#endif
#ifndef MADV_PAGEOUT
#define MADV_PAGEOUT 21
#endif
#ifndef MADV_WIPEONFORK
#define MADV_WIPEONFORK 18
#endif
#ifndef MPOL_BIND
#define MPOL_BIND 2
#endif
#define KT_MPOL_MF_MOVE (1 << 1)
#define KT_MPOL_MF_STRICT (1 << 0)

static struct sva_ctx *g_ctx;
static struct sva_dev *g_dev;
static struct sva_bond *g_bond;
static struct sva_mm *g_mm;

/* The first byte the device reads at va: -ENOENT nothing mapped, -ESTALE a
 * page the process no longer has there. */
static int seen(uint64_t va)
{
	unsigned char b[PG];
	uint64_t page = va & ~(uint64_t)(PG - 1);

	for (int tries = 0;; tries++) {
		int ret = ktest_access_rw(g_ctx, g_mm->ioas_id, page, b, PG, 0);

		if (ret)
			return ret;
		if (ktest_device_has_page(g_ctx, g_mm, page))
			return b[va - page];
		if (tries == 2)
			return -ESTALE;
	}
}

/* The device writes v at va; -ESTALE: the page is not the process's. */
static int fault(uint64_t va, uint32_t perm);

static int dev_write(uint64_t va, unsigned char v)
{
	unsigned char b[PG];
	uint64_t page = va & ~(uint64_t)(PG - 1);
	int ret = ktest_access_rw(g_ctx, g_mm->ioas_id, page, b, PG, 0);

	if (ret == -ENOENT && fault(va, SVA_ACCESS_READ | SVA_ACCESS_WRITE) == 1) /* as a device would */
		ret = ktest_access_rw(g_ctx, g_mm->ioas_id, page, b, PG, 0);
	if (ret)
		return ret;
	if (!ktest_device_has_page(g_ctx, g_mm, page))
		return -ESTALE;
	b[va - page] = v;
	return ktest_access_rw(g_ctx, g_mm->ioas_id, page, b, PG, 1);
}

/*
 * The device's own view of two visible pages [va, va + 2 pages): a multi-page
 * access reads and writes the pages the IOAS pinned, whatever the process's
 * mapping now allows (a one-page access goes through the process's page
 * table).  Returns the byte at va after writing v there when v >= 0.
 */
static int dev_rw2(uint64_t va, int v)
{
	unsigned char b[2 * PG];
	int ret = ktest_access_rw(g_ctx, g_mm->ioas_id, va, b, sizeof(b), 0);

	if (ret || v < 0)
		return ret ? ret : b[0];
	b[0] = (unsigned char)v;
	ret = ktest_access_rw(g_ctx, g_mm->ioas_id, va, b, sizeof(b), 1);
	return ret ? ret : b[0];
}

static uint64_t invalid_faults(void)
{
	struct sva_bond_stats st = { .size = sizeof(st) };

	sva_bond_stats(g_bond, &st);
	return st.invalid;
}

/* A device fault; 1 if it was resolved, 0 if refused (INVALID), <0 error. */
static int fault(uint64_t va, uint32_t perm)
{
	uint64_t before = invalid_faults();
	int ret = ktest_inject_and_wait(g_dev, g_bond, va, perm, 5000);

	if (ret)
		return ret;
	return invalid_faults() == before;
}

static unsigned char *fill_at(uint64_t va, size_t len, unsigned char v)
{
	unsigned char *p = ktest_map_at(va, len, PROT_READ | PROT_WRITE);

	memset(p, v, len);
	return p;
}

static void drop(void *p, size_t len)
{
	munmap(p, len);
	sva_mm_fence(g_mm);
	sva_mm_invalidate(g_mm, p, len); /* what no event reports (shm, mprotect) */
}

/*
 * A child that stays alive (so the pages stay shared with it) until told to
 * go: it first writes `child_byte` at child_va if child_va is not 0, then
 * answers over `up` with the byte it reads at probe (or 0xff00 + errno-ish
 * codes: 0x100 if probe is not mapped in it).
 */
struct child {
	pid_t pid;
	int down, up;
};

static int probe_byte(uint64_t probe)
{
	unsigned char v;

	if (mincore((void *)(uintptr_t)(probe & ~(uint64_t)(PG - 1)), PG, &v) && errno == ENOMEM)
		return 0x100; /* not mapped in the child */
	return *(volatile unsigned char *)(uintptr_t)probe;
}

static struct child child_start(uint64_t child_va, unsigned char child_byte)
{
	int d[2], u[2];
	struct child c;
	char x;

	if (pipe(d) || pipe(u))
		ktest_bail("pipe");
	c.pid = fork();
	if (c.pid < 0)
		ktest_bail("fork: %s", strerror(errno));
	if (c.pid == 0) {
		uint64_t probe;
		int v;

		alarm(30);
		close(d[1]);
		close(u[0]);
		if (child_va)
			*(volatile unsigned char *)(uintptr_t)child_va = child_byte;
		x = 1;
		if (write(u[1], &x, 1) != 1)
			_exit(1);
		while (read(d[0], &probe, sizeof(probe)) == (ssize_t)sizeof(probe)) {
			if (!probe)
				_exit(0);
			v = probe_byte(probe);
			if (write(u[1], &v, sizeof(v)) != (ssize_t)sizeof(v))
				_exit(1);
		}
		_exit(0);
	}
	close(d[0]);
	close(u[1]);
	c.down = d[1];
	c.up = u[0];
	if (read(c.up, &x, 1) != 1)
		ktest_bail("the child did not start");
	return c;
}

static int child_probe(struct child *c, uint64_t va)
{
	int v = -1;

	if (write(c->down, &va, sizeof(va)) != (ssize_t)sizeof(va) || read(c->up, &v, sizeof(v)) != (ssize_t)sizeof(v))
		return -1;
	return v;
}

static void child_end(struct child *c)
{
	uint64_t zero = 0;
	int st;

	if (write(c->down, &zero, sizeof(zero)) < 0)
		kill(c->pid, SIGKILL);
	waitpid(c->pid, &st, 0);
	close(c->down);
	close(c->up);
}

static long anon_huge_kb(void)
{
	char line[256];
	long kb = 0, n;
	FILE *f = fopen("/proc/self/smaps_rollup", "r");

	while (f && fgets(line, sizeof(line), f))
		if (sscanf(line, "AnonHugePages: %ld", &n) == 1)
			kb = n;
	if (f)
		fclose(f);
	return kb;
}

/* ------------------------------------------------------------------ fork */

static void fork_checks(void)
{
	unsigned char *p = fill_at(VA, 4 * PG, 0x11);
	struct child c;

	is_int(sva_mm_prefault(g_mm, p, 4 * PG), 0, "fork: memory prefaulted before the fork");
	c = child_start(VA, 0x22); /* the child writes first: its own copy */
	is_int(child_probe(&c, VA), 0x22, "  the child sees its own write");
	is_int(p[0], 0x11, "  the parent does not see it");
	is_int(seen(VA), 0x11, "  neither does the device: it has the parent's page");
	p[PG] = 0x33;
	is_int(seen(VA + PG), 0x33, "  the parent writes after the fork (child alive): the device sees the parent's page");
	is_int(dev_write(VA + 2 * PG, 0x44), 0, "  the device writes");
	is_int(p[2 * PG], 0x44, "  the parent sees the device's write");
	is_int(child_probe(&c, VA + 2 * PG), 0x11, "  the child does not");
	child_end(&c);
	drop(p, 4 * PG);

	/* Not visible at the fork: a device fault after it, with the child alive. */
	p = fill_at(VA, 16 * PG, 0x51);
	c = child_start(0, 0);
	is_int(fault(VA, SVA_ACCESS_READ), 1, "fork, then a device read fault on memory shared copy-on-write with the child");
	p[0] = 0x52;
	is_int(seen(VA), 0x52, "  the parent writes: the device sees the parent's page");
	is_int(child_probe(&c, VA), 0x51, "  the child keeps the old bytes");
	is_int(dev_write(VA + PG, 0x53), 0, "  the device writes");
	is_int(p[PG], 0x53, "  the parent sees it");
	is_int(child_probe(&c, VA + PG), 0x51, "  the child does not");
	child_end(&c);
	drop(p, 16 * PG);

	/* Read-only when faulted (a read-only pin), made writable later. */
	p = fill_at(VA, 16 * PG, 0x61);
	mprotect(p, 16 * PG, PROT_READ);
	c = child_start(0, 0);
	is_int(fault(VA, SVA_ACCESS_READ), 1, "fork, read-only memory shared with the child: a device read fault");
	mprotect(p, 16 * PG, PROT_READ | PROT_WRITE);
	p[0] = 0x62;
	is_int(seen(VA), 0x62, "  made writable, the parent writes: the device sees the parent's page");
	is_int(child_probe(&c, VA), 0x61, "  the child keeps the old bytes");
	is_int(fault(VA + PG, SVA_ACCESS_WRITE), 1, "  a device write fault there is resolved (mapping writable now)");
	is_int(dev_write(VA + PG, 0x63), 0, "  the device writes");
	is_int(p[PG], 0x63, "  the parent sees it");
	child_end(&c);
	drop(p, 16 * PG);

	/* MADV_DONTFORK and MADV_WIPEONFORK on visible memory. */
	p = fill_at(VA, 4 * PG, 0x71);
	sva_mm_prefault(g_mm, p, 4 * PG);
	madvise(p, 2 * PG, MADV_DONTFORK);
	madvise(p + 2 * PG, 2 * PG, MADV_WIPEONFORK);
	c = child_start(0, 0);
	is_int(child_probe(&c, VA), 0x100, "MADV_DONTFORK: the child has nothing there");
	is_int(child_probe(&c, VA + 2 * PG), 0, "MADV_WIPEONFORK: the child reads zeroes");
	p[0] = 0x72;
	p[2 * PG] = 0x73;
	is_int(seen(VA), 0x72, "  MADV_DONTFORK: the parent's writes reach the device");
	is_int(seen(VA + 2 * PG), 0x73, "  MADV_WIPEONFORK: the parent's writes reach the device");
	is_int(dev_write(VA + 3 * PG, 0x74), 0, "  the device writes wipe-on-fork memory");
	is_int(p[3 * PG], 0x74, "  the parent sees it");
	is_int(child_probe(&c, VA + 3 * PG), 0, "  the child does not");
	child_end(&c);
	drop(p, 4 * PG);

	/* A transparent huge page, prefaulted, then fork and a parent write. */
	{
		const size_t H = 2u << 20;
		unsigned char *h = ktest_map_at(VA, 2 * H, PROT_READ | PROT_WRITE);
		unsigned char *a = (unsigned char *)(((uintptr_t)h + H - 1) & ~(uintptr_t)(H - 1));

		madvise(a, H, MADV_HUGEPAGE);
		memset(a, 0x81, H);
		is_int(sva_mm_prefault(g_mm, a, H), 0, "THP: 2 MiB prefaulted");
		diag("THP: %ld kB of huge pages in the process", anon_huge_kb());
		c = child_start((uintptr_t)a + 5 * PG, 0x82);
		a[7 * PG] = 0x83;
		is_int(seen((uintptr_t)a + 5 * PG), 0x81, "  fork, the child writes: the device keeps the parent's bytes");
		is_int(seen((uintptr_t)a + 7 * PG), 0x83, "  the parent writes: the device sees it");
		is_int(dev_write((uintptr_t)a + 9 * PG, 0x84), 0, "  the device writes");
		is_int(a[9 * PG], 0x84, "  the parent sees it");
		child_end(&c);
		drop(h, 2 * H);
	}
}

/* MADV_COLLAPSE of visible small pages into a huge page. */
static void collapse_checks(void)
{
	const size_t H = 2u << 20;
	unsigned char *h = ktest_map_at(VA, 2 * H, PROT_READ | PROT_WRITE);
	unsigned char *a = (unsigned char *)(((uintptr_t)h + H - 1) & ~(uintptr_t)(H - 1));
	int r;

	madvise(a, H, MADV_NOHUGEPAGE);
	memset(a, 0x85, H);
	is_int(sva_mm_prefault(g_mm, a, H), 0, "MADV_COLLAPSE: 2 MiB of small pages prefaulted");
	madvise(a, H, MADV_HUGEPAGE);
	r = madvise(a, H, 25 /* MADV_COLLAPSE */);
	diag("MADV_COLLAPSE: %s; %ld kB of huge pages", r ? strerror(errno) : "0", anon_huge_kb());
	a[3 * PG] = 0x86;
	is_int(seen((uintptr_t)a + 3 * PG), 0x86, "  the process writes: the device sees its page");
	drop(h, 2 * H);
}

/*
 * Memory made visible before the first device is bound is not pinned yet:
 * the bind pins what the process has at those addresses then.  A fork and a
 * write in between: the device must get the writer's page.
 */
static void before_bind_checks(void)
{
	struct sva_bind_opts bo = { .size = sizeof(bo) };
	struct sva_mm *keep_mm = g_mm, *mm;
	struct sva_bond *keep_bond = g_bond, *bond;
	unsigned char *p = fill_at(VA, 4 * PG, 0x31);
	struct child c;
	int ret;

	if (sva_mm_new(g_ctx, NULL, &mm))
		ktest_bail("sva_mm_new");
	is_int(sva_mm_prefault(mm, p, 4 * PG), 0, "before the bind: memory prefaulted (nothing pinned yet)");
	c = child_start(VA, 0x32);
	p[PG] = 0x33;
	sva_unbind(keep_bond);
	is_int(sva_bind(g_dev, mm, &bo, &bond), 0, "  fork, the child and the parent write, then the first bind");
	g_mm = mm;
	g_bond = bond;
	is_int(seen(VA), 0x31, "  the device does not see the child's write");
	is_int(seen(VA + PG), 0x33, "  the device sees the parent's write");
	child_end(&c);
	sva_unbind(bond);
	munmap(p, 4 * PG);
	sva_mm_fence(mm);

	/* mprotect(PROT_READ) of memory made visible read-write, before the bind. */
	p = fill_at(VA, 4 * PG, 0x34);
	sva_mm_prefault(mm, p, 4 * PG);
	mprotect(p, 4 * PG, PROT_READ);
	ret = sva_bind(g_dev, mm, &bo, &bond);
	diag("bind after mprotect(PROT_READ) of memory visible read-write: %s", ret ? strerror(-ret) : "0");
	ok(ret == 0 || ret == -EFAULT, "  mprotect(PROT_READ) before the first bind: the bind works or says -EFAULT (%d)", ret);
	if (!ret)
		sva_unbind(bond);
	sva_mm_invalidate(mm, p, 4 * PG);
	munmap(p, 4 * PG);
	sva_mm_fence(mm);
	sva_mm_free(mm);
	g_mm = keep_mm;
	if (sva_bind(g_dev, g_mm, &bo, &g_bond))
		ktest_bail("bind again");
}

/* -------------------------------------------------------------- mprotect */

static void mprotect_checks(void)
{
	unsigned char *p = fill_at(VA, 4 * PG, 0x91), *m;
	unsigned char b[PG];

	sva_mm_prefault(g_mm, p, 4 * PG);
	mprotect(p, 4 * PG, PROT_READ);
	/* libsva(7): "The devices keep the permissions the memory had when it
	 * was made visible: a device may still write memory made read-only." */
	is_int(dev_rw2(VA, 0x92), 0x92, "mprotect(PROT_READ) of visible memory: the device still writes it (documented)");
	is_int(p[0], 0x92, "  and the process sees the write");
	mprotect(p, 4 * PG, PROT_NONE);
	is_int(dev_rw2(VA, -1), 0x92, "mprotect(PROT_NONE): the device still reads it (documented)");
	is_int(dev_rw2(VA, 0x95), 0x95, "  and writes it (documented)");
	sva_mm_invalidate(g_mm, p, 4 * PG);
	is_int(seen(VA), -ENOENT, "  sva_mm_invalidate withdraws it");
	is_int(fault(VA, SVA_ACCESS_READ), 0, "  then a device read fault on PROT_NONE memory is refused");
	mprotect(p, 4 * PG, PROT_READ);
	is_int(fault(VA, SVA_ACCESS_WRITE), 0, "  PROT_READ: a write fault is refused");
	is_int(fault(VA, SVA_ACCESS_READ), 1, "  a read fault is resolved");
	is_int(ktest_access_rw(g_ctx, g_mm->ioas_id, VA, b, PG, 1) != 0, 1, "  read-only in the IOAS");
	mprotect(p, 4 * PG, PROT_READ | PROT_WRITE);
	is_int(fault(VA, SVA_ACCESS_WRITE), 1, "  back to read-write: a write fault is resolved");
	is_int(dev_write(VA + PG, 0x93), 0, "  the device writes");
	is_int(p[PG], 0x93, "  the process sees it");
	drop(p, 4 * PG);

	/* The fault engine read the mapping read-write (a fault elsewhere in it);
	 * then it became read-only, with no event: a write fault on a page not
	 * visible yet is still refused (libsva(7): "A write to memory made
	 * read-only is refused all the same"). */
	m = fill_at(VA, 64 * PG, 0x94);
	is_int(fault(VA, SVA_ACCESS_READ), 1, "mprotect after a fault: the first fault (maps the 64 KiB block)");
	mprotect(m, 64 * PG, PROT_READ);
	is_int(fault(VA + 32 * PG, SVA_ACCESS_WRITE), 0, "  made read-only: a write fault beyond the window is refused");
	is_int(seen(VA + 32 * PG), -ENOENT, "  and maps nothing");
	is_int(fault(VA + 40 * PG, SVA_ACCESS_READ), 1, "  a read fault there is resolved");
	is_int(ktest_access_rw(g_ctx, g_mm->ioas_id, VA + 40 * PG, b, PG, 1) != 0, 1, "  read-only");
	mprotect(m, 64 * PG, PROT_NONE);
	is_int(fault(VA + 56 * PG, SVA_ACCESS_READ), 0,
	       "  made PROT_NONE: a read fault on a page not visible yet is refused");
	drop(m, 64 * PG);

	/* A chunk visible read-only, half of it made writable since: a write
	 * fault there maps the chunk again, each part with its mapping's rights
	 * (sva_bind(3), Fault resolution). */
	p = fill_at(VA, 4 * PG, 0x96);
	mprotect(p, 4 * PG, PROT_READ);
	is_int(sva_mm_prefault(g_mm, p, 4 * PG), 0, "a read-only chunk of 4 pages prefaulted");
	mprotect(p, 2 * PG, PROT_READ | PROT_WRITE);
	is_int(fault(VA, SVA_ACCESS_WRITE), 1, "  its first half made writable: a write fault there is resolved");
	is_int(dev_rw2(VA, 0x97), 0x97, "  the device writes the writable half");
	is_int(p[0], 0x97, "  the process sees it");
	ok(dev_rw2(VA + 2 * PG, 0x98) < 0, "  the read-only half stays read-only in the IOAS");
	is_int(p[2 * PG], 0x96, "  and unchanged");
	is_int(fault(VA + 2 * PG, SVA_ACCESS_WRITE), 0, "  a write fault on the read-only half is refused");
	p[PG] = 0x99;
	is_int(seen(VA + PG), 0x99, "  the process writes: the device sees its page");
	drop(p, 4 * PG);

	/* A pinned-mode driver: prefault read-only, mprotect(RW), prefault again. */
	p = fill_at(VA, 4 * PG, 0x9a);
	mprotect(p, 4 * PG, PROT_READ);
	sva_mm_prefault(g_mm, p, 4 * PG);
	ok(dev_rw2(VA, 0x9b) < 0, "prefaulted read-only: the device cannot write");
	mprotect(p, 4 * PG, PROT_READ | PROT_WRITE);
	is_int(sva_mm_prefault(g_mm, p, 4 * PG), 0, "  made writable, prefaulted again");
	is_int(dev_rw2(VA, 0x9b), 0x9b, "  the device writes");
	is_int(p[0], 0x9b, "  the process sees it");
	drop(p, 4 * PG);
}

/* ---------------------------------------- the shared zero page, private files */

static void zero_page_checks(void)
{
	unsigned char *z;

	/* Read-only anonymous memory never written: its PTEs hold the shared
	 * zero page.  A read-only pin must not keep the zero page for the
	 * device: after mprotect(RW) the process's first write gets a page of
	 * its own. */
	z = ktest_map_at(VA, 16 * PG, PROT_READ);
	is_int(z[0], 0, "zero page: untouched read-only anonymous memory reads 0");
	is_int(fault(VA, SVA_ACCESS_READ), 1, "  a device read fault maps it (read-only)");
	mprotect(z, 16 * PG, PROT_READ | PROT_WRITE);
	z[0] = 0xa1;
	is_int(seen(VA), 0xa1, "  made writable, the process writes: the device sees the process's page");
	is_int(fault(VA + PG, SVA_ACCESS_WRITE), 1, "  a device write fault is resolved");
	z[PG] = 0xa2;
	is_int(seen(VA + PG), 0xa2, "  and after it the device sees the process's page");
	is_int(dev_write(VA + 2 * PG, 0xa3), 0, "  the device writes");
	is_int(z[2 * PG], 0xa3, "  the process sees it");
	drop(z, 16 * PG);

	z = ktest_map_at(VA, 4 * PG, PROT_READ);
	is_int(sva_mm_prefault(g_mm, z, 4 * PG), 0, "zero page: prefault of untouched read-only memory");
	mprotect(z, 4 * PG, PROT_READ | PROT_WRITE);
	z[0] = 0xa4;
	is_int(seen(VA), 0xa4, "  made writable, the process writes: the device sees the process's page");
	drop(z, 4 * PG);

	/* Read-write memory the process only read (the zero page in its PTE). */
	z = ktest_map_at(VA, 16 * PG, PROT_READ | PROT_WRITE);
	is_int(*(volatile unsigned char *)z, 0, "zero page: read-write memory only read so far");
	is_int(fault(VA, SVA_ACCESS_READ), 1, "  a device read fault");
	z[0] = 0xa5;
	is_int(seen(VA), 0xa5, "  the process writes: the device sees the process's page");
	drop(z, 16 * PG);
}

static int tmp_file(size_t len, unsigned char v)
{
	char path[] = "/tmp/ktest-pe-XXXXXX";
	unsigned char buf[PG];
	int fd = mkstemp(path);

	if (fd < 0)
		ktest_bail("mkstemp: %s", strerror(errno));
	unlink(path);
	memset(buf, v, PG);
	for (size_t off = 0; off < len; off += PG)
		if (pwrite(fd, buf, PG, (off_t)off) != PG)
			ktest_bail("pwrite");
	return fd;
}

static void private_file_checks(void)
{
	int fd = tmp_file(16 * PG, 0xb1);
	unsigned char *p;

	p = mmap((void *)(uintptr_t)VA, 16 * PG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_FIXED_NOREPLACE, fd, 0);
	if (p == MAP_FAILED)
		ktest_bail("mmap the file");
	is_int(fault(VA, SVA_ACCESS_READ), 1, "private file mapping: a device read fault before any write");
	is_int(seen(VA), 0xb1, "  the device reads the file's bytes");
	p[0] = 0xb2;
	is_int(seen(VA), 0xb2, "  the process's first write: the device sees the process's private copy");
	is_int(dev_write(VA + PG, 0xb3), 0, "  the device writes");
	is_int(p[PG], 0xb3, "  the process sees it");
	{
		unsigned char f = 0;

		is_int(pread(fd, &f, 1, PG) == 1 ? f : -1, 0xb1, "  the file does not (a private mapping)");
	}
	drop(p, 16 * PG);

	/* Prefault, read-only, made writable, then written. */
	p = mmap((void *)(uintptr_t)VA, 4 * PG, PROT_READ, MAP_PRIVATE | MAP_FIXED_NOREPLACE, fd, 0);
	if (p == MAP_FAILED)
		ktest_bail("mmap the file read-only");
	is_int(sva_mm_prefault(g_mm, p, 4 * PG), 0, "read-only private file mapping prefaulted");
	is_int(seen(VA + PG), 0xb1, "  the device reads the file's bytes");
	if (pwrite(fd, (unsigned char[]){ 0xb4 }, 1, 2 * PG) != 1)
		ktest_bail("pwrite");
	is_int(seen(VA + 2 * PG), p[2 * PG], "  the file changes: the device and the process still agree (0x%02x)",
	       p[2 * PG]);
	mprotect(p, 4 * PG, PROT_READ | PROT_WRITE);
	p[PG] = 0xb5;
	is_int(seen(VA + PG), 0xb5, "  made writable, the process writes: the device sees the process's copy");
	drop(p, 4 * PG);
	close(fd);
}

/* ---------------------------------------------------------- shared memory */

static void shared_checks(void)
{
	int fd = memfd_create("ktest-pe", MFD_CLOEXEC);
	unsigned char *a, *b;
	int id;

	if (fd < 0 || ftruncate(fd, 4 * PG))
		ktest_bail("memfd");
	a = mmap((void *)(uintptr_t)VA, 4 * PG, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED_NOREPLACE, fd, 0);
	b = mmap((void *)(uintptr_t)VA2, 4 * PG, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED_NOREPLACE, fd, 0);
	if (a == MAP_FAILED || b == MAP_FAILED)
		ktest_bail("map the memfd twice");
	memset(a, 0xc1, 4 * PG);
	is_int(fault(VA2, SVA_ACCESS_READ), 1, "memfd at two addresses: a device fault at the second");
	is_int(sva_mm_prefault(g_mm, a, 4 * PG), 0, "  the first prefaulted");
	a[0] = 0xc2;
	is_int(seen(VA2), 0xc2, "  a write through the first: the device sees it at the second");
	is_int(dev_write(VA2 + PG, 0xc3), 0, "  the device writes at the second");
	is_int(a[PG], 0xc3, "  the process sees it through the first");
	is_int(seen(VA + PG), 0xc3, "  and so does the device at the first");
	b[2 * PG] = 0xc4;
	is_int(seen(VA + 2 * PG), 0xc4, "  a write through the second: the device sees it at the first");
	{
		/* MAP_PRIVATE of the same memfd at a third address: copy on write. */
		unsigned char *c = mmap((void *)(uintptr_t)(VA2 + 0x100000), 4 * PG, PROT_READ | PROT_WRITE,
					MAP_PRIVATE | MAP_FIXED_NOREPLACE, fd, 0);

		if (c == MAP_FAILED)
			ktest_bail("map the memfd privately");
		is_int(fault(VA2 + 0x100000 + 3 * PG, SVA_ACCESS_READ), 1, "  a private mapping of it: a device read fault");
		c[3 * PG] = 0xc5;
		is_int(seen(VA2 + 0x100000 + 3 * PG), 0xc5, "  the process writes it: the device sees its private copy");
		is_int(seen(VA + 3 * PG), a[3 * PG], "  the shared mappings keep the file's bytes");
		drop(c, 4 * PG);
	}
	drop(a, 4 * PG);
	drop(b, 4 * PG);
	close(fd);

	/* MAP_SHARED anonymous memory: a forked child shares the pages.  Its
	 * MADV_REMOVE frees them under the parent's mapping with no event the
	 * parent's monitor sees (libsva(7), What no event reports). */
	a = mmap((void *)(uintptr_t)VA, 4 * PG, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE,
		 -1, 0);
	if (a == MAP_FAILED)
		ktest_bail("MAP_SHARED|MAP_ANONYMOUS");
	memset(a, 0xc6, 4 * PG);
	sva_mm_prefault(g_mm, a, 4 * PG);
	{
		pid_t pid = fork();
		int st = 0;

		if (pid == 0)
			_exit(madvise(a, 4 * PG, MADV_REMOVE) ? 1 : 0);
		waitpid(pid, &st, 0);
		is_int(WIFEXITED(st) ? WEXITSTATUS(st) : -1, 0, "shared anonymous memory: a forked child's MADV_REMOVE");
	}
	a[0] = 0xc7;
	sva_mm_fence(g_mm);
	is_int(seen(VA), -ESTALE, "  the parent's devices keep the freed page (documented)");
	sva_mm_invalidate(g_mm, a, 4 * PG);
	sva_mm_prefault(g_mm, a, 4 * PG);
	is_int(seen(VA), 0xc7, "  invalidate and prefault: the device sees the parent's page");
	drop(a, 4 * PG);

	id = shmget(IPC_PRIVATE, 4 * PG, IPC_CREAT | 0600);
	if (id < 0) {
		skip(6, "no System V shared memory");
		return;
	}
	a = shmat(id, (void *)(uintptr_t)VA, 0);
	b = shmat(id, (void *)(uintptr_t)VA2, 0);
	shmctl(id, IPC_RMID, NULL);
	if (a == (void *)-1 || b == (void *)-1) {
		skip(6, "shmat refused");
		return;
	}
	memset(a, 0xd1, 4 * PG);
	is_int(fault(VA2, SVA_ACCESS_READ), 1, "shm attached twice: a device fault at the second address");
	a[0] = 0xd2;
	is_int(seen(VA2), 0xd2, "  a write through the first: the device sees it at the second");
	is_int(dev_write(VA2 + PG, 0xd3), 0, "  the device writes at the second");
	is_int(a[PG], 0xd3, "  the process sees it through the first");
	shmdt(b);
	a[0] = 0xd4;
	{
		/* The device's page at VA2 is still the segment's page the process has at VA. */
		struct kabi_iommu_test_cmd c = { .op = KABI_TEST_OP_MD_CHECK_MAP, .id = g_mm->hwpts->id };

		c.check_map.iova = VA2;
		c.check_map.length = PG;
		c.check_map.uptr = VA;
		is_int(ktest_cmd(g_ctx, &c), 0,
		       "  shmdt of the second: the device keeps reaching the segment there (documented)");
	}
	sva_mm_invalidate(g_mm, b, 4 * PG);
	is_int(seen(VA2), -ENOENT, "  sva_mm_invalidate withdraws it");
	shmdt(a);
	sva_mm_invalidate(g_mm, a, 4 * PG);
}

/* ------------------------------------- migration, reclaim hints, KSM */

static long nodes_online(void)
{
	char buf[64] = "";
	FILE *f = fopen("/sys/devices/system/node/online", "r");
	long a = 0, b = 0;

	if (f && fgets(buf, sizeof(buf), f) && sscanf(buf, "%ld-%ld", &a, &b) == 2) {
		fclose(f);
		return b + 1;
	}
	if (f)
		fclose(f);
	return 1;
}

static int node_of(void *p)
{
	int status = -1;
	void *pages[1] = { p };

	if (syscall(SYS_move_pages, 0, 1UL, pages, NULL, &status, 0))
		return -errno;
	return status;
}

static void migration_checks(void)
{
	unsigned char *p;
	int from, to, status[4];
	void *pages[4];
	int nodes[4];

	if (nodes_online() < 2) {
		/* vtd48-numa's and numa-memless's VM has two nodes with memory:
		 * one there is a broken VM, not a machine to skip. */
		if (!strcmp(ktest_topology(), "vtd48-numa") || !strcmp(ktest_topology(), "numa-memless")) {
			ok(0, "the %s topology has two NUMA nodes online (%ld)", ktest_topology(), nodes_online());
			skip(6, "one NUMA node");
			return;
		}
		skip(7, "one NUMA node (the vtd48-numa topology has two)");
		return;
	}
	p = fill_at(VA, 4 * PG, 0xe1);
	is_int(sva_mm_prefault(g_mm, p, 4 * PG), 0, "migration: memory prefaulted");
	from = node_of(p);
	to = from == 0 ? 1 : 0;
	for (int i = 0; i < 4; i++) {
		pages[i] = p + i * PG;
		nodes[i] = to;
		status[i] = -1;
	}
	long r = syscall(SYS_move_pages, 0, 4UL, pages, nodes, status, 0);

	diag("move_pages from node %d to %d: %ld (%s), status %d %d %d %d, node now %d", from, to, r,
	     r < 0 ? strerror(errno) : "", status[0], status[1], status[2], status[3], node_of(p));
	p[0] = 0xe2;
	is_int(seen(VA), 0xe2, "  move_pages of visible pages: the device still sees the process's page");
	is_int(dev_write(VA + PG, 0xe3), 0, "  the device writes");
	is_int(p[PG], 0xe3, "  the process sees it");
	{
		unsigned long mask = 1ul << to;
		long m = syscall(SYS_mbind, p, 4 * PG, MPOL_BIND, &mask, 8 * sizeof(mask), KT_MPOL_MF_MOVE);

		diag("mbind MPOL_MF_MOVE to node %d: %ld (%s), node now %d", to, m, m ? strerror(errno) : "", node_of(p));
	}
	p[2 * PG] = 0xe4;
	is_int(seen(VA + 2 * PG), 0xe4, "  mbind(MPOL_MF_MOVE): the device still sees the process's page");
	drop(p, 4 * PG);

	/* Migrated before a device fault: the fault maps the page it has now. */
	p = fill_at(VA, 16 * PG, 0xe5);
	pages[0] = p;
	nodes[0] = to;
	syscall(SYS_move_pages, 0, 1UL, pages, nodes, status, 0);
	diag("an unpinned page moved to node %d: now on node %d", to, node_of(p));
	is_int(fault(VA, SVA_ACCESS_READ), 1, "  moved, then a device fault");
	p[0] = 0xe6;
	is_int(seen(VA), 0xe6, "  the device sees the process's page");
	drop(p, 16 * PG);
}

static void reclaim_checks(void)
{
	unsigned char *p = fill_at(VA, 4 * PG, 0xf1);
	int fd = memfd_create("ktest-pe-cold", MFD_CLOEXEC);
	unsigned char *s;
	int r;

	sva_mm_prefault(g_mm, p, 4 * PG);
	r = madvise(p, 4 * PG, MADV_COLD);
	diag("MADV_COLD: %s", r ? strerror(errno) : "0");
	r = madvise(p, 4 * PG, MADV_PAGEOUT);
	diag("MADV_PAGEOUT: %s", r ? strerror(errno) : "0");
	p[0] = 0xf2;
	is_int(seen(VA), 0xf2, "MADV_COLD + MADV_PAGEOUT of visible anonymous memory: the device sees the process's page");
	drop(p, 4 * PG);

	if (fd < 0 || ftruncate(fd, 4 * PG))
		ktest_bail("memfd");
	s = mmap((void *)(uintptr_t)VA, 4 * PG, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED_NOREPLACE, fd, 0);
	memset(s, 0xf3, 4 * PG);
	sva_mm_prefault(g_mm, s, 4 * PG);
	madvise(s, 4 * PG, MADV_PAGEOUT);
	s[0] = 0xf4;
	is_int(seen(VA), 0xf4, "MADV_PAGEOUT of a visible memfd mapping: the device sees the process's page");
	drop(s, 4 * PG);
	close(fd);

	/* A file on the VM's root file system, mapped shared. */
	{
		int ffd = tmp_file(4 * PG, 0xf5);

		s = mmap((void *)(uintptr_t)VA, 4 * PG, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED_NOREPLACE, ffd, 0);
		sva_mm_prefault(g_mm, s, 4 * PG);
		r = madvise(s, 4 * PG, MADV_PAGEOUT);
		s[0] = 0xf6;
		is_int(seen(VA), 0xf6, "MADV_PAGEOUT of a visible shared file mapping: the device sees the process's page (%s)",
		       r ? strerror(errno) : "0");
		drop(s, 4 * PG);
		close(ffd);
	}

	{
		int ksm = access("/sys/kernel/mm/ksm", F_OK) == 0;

		p = fill_at(VA, 4 * PG, 0xf7);
		r = madvise(p, 4 * PG, MADV_MERGEABLE);
		diag("KSM: /sys/kernel/mm/ksm %s; MADV_MERGEABLE: %s", ksm ? "present" : "absent",
		     r ? strerror(errno) : "0");
		munmap(p, 4 * PG);
		sva_mm_fence(g_mm);
	}
}

/* -------------------------------------------------------- edu, real DMA */

static void pattern(uint8_t *p, unsigned seed)
{
	for (unsigned i = 0; i < EDU_DMA_LEN; i++)
		p[i] = (uint8_t)(i * 7 + seed);
}

static bool is_pattern(const uint8_t *p, unsigned seed)
{
	uint8_t want[EDU_DMA_LEN];

	pattern(want, seed);
	return memcmp(p, want, EDU_DMA_LEN) == 0;
}

/* What the device reads at src, written back to dst by DMA: 0 or -errno. */
static int edu_copy(volatile uint8_t *bar, uint64_t src, uint64_t dst)
{
	int ret = ktest_edu_dma(bar, src, EDU_DEV_BUF, EDU_DMA_LEN, 0);

	return ret ? ret : ktest_edu_dma(bar, EDU_DEV_BUF, dst, EDU_DMA_LEN, 1);
}

static void edu_checks(const char *pci)
{
	struct sva_bind_opts ro = { .size = sizeof(ro), .flags = SVA_BIND_PINNED | SVA_BIND_RID };
	struct sva_ctx *ctx = ktest_ctx();
	volatile uint8_t *bar;
	struct sva_bond *bond;
	struct sva_dev *dev;
	struct sva_mm *mm;
	size_t bar_len;
	uint8_t *a, *out, *z;
	struct child c;
	int fd;

	if (sva_dev_open(ctx, pci, &dev) || sva_mm_new(ctx, NULL, &mm))
		ktest_bail("edu: open");
	if (!(bar = ktest_edu_bar(dev, &bar_len)))
		ktest_bail("edu: BAR0");
	out = ktest_map_at(EDU_VA + 64 * PG, PG, PROT_READ | PROT_WRITE);
	memset(out, 0, PG);
	sva_mm_prefault(mm, out, PG);

	/* Visible before the bind (nothing pinned), fork, both write, bind. */
	a = ktest_map_at(EDU_VA, PG, PROT_READ | PROT_WRITE);
	pattern(a, 11);
	sva_mm_prefault(mm, a, PG);
	c = child_start(EDU_VA, 0x99);
	pattern(a, 12);
	if (sva_bind(dev, mm, &ro, &bond))
		ktest_bail("edu: bind");
	edu_copy(bar, EDU_VA, EDU_VA + 64 * PG);
	ok(is_pattern(out, 12), "edu: prefault before the bind, fork, both write, bind: the device reads the parent's bytes");
	child_end(&c);
	munmap(a, PG);
	sva_mm_fence(mm);

	/* fork: visible before it, the child writes, then the parent. */
	a = ktest_map_at(EDU_VA, PG, PROT_READ | PROT_WRITE);
	pattern(a, 1);
	sva_mm_prefault(mm, a, PG);
	c = child_start(EDU_VA, 0x99);
	pattern(a, 2);
	is_int(edu_copy(bar, EDU_VA, EDU_VA + 64 * PG), 0, "edu: fork (child alive), the parent rewrites: DMA");
	ok(is_pattern(out, 2), "edu:   the device reads the parent's new bytes");
	memset(a, 0, PG);
	ktest_edu_dma(bar, EDU_DEV_BUF, EDU_VA, EDU_DMA_LEN, 1);
	ok(is_pattern(a, 2), "edu:   the device's write reaches the parent");
	child_end(&c);
	munmap(a, PG);
	sva_mm_fence(mm);

	/* fork first, prefault while the child shares the page. */
	a = ktest_map_at(EDU_VA, PG, PROT_READ | PROT_WRITE);
	pattern(a, 3);
	c = child_start(0, 0);
	sva_mm_prefault(mm, a, PG);
	pattern(a, 4);
	edu_copy(bar, EDU_VA, EDU_VA + 64 * PG);
	ok(is_pattern(out, 4), "edu: fork, then prefault of copy-on-write memory, the parent rewrites: the device reads it");
	child_end(&c);
	munmap(a, PG);
	sva_mm_fence(mm);

	/* The zero page: read-only, untouched, prefaulted, made writable. */
	z = ktest_map_at(EDU_VA, PG, PROT_READ);
	is_int(sva_mm_prefault(mm, z, PG), 0, "edu: untouched read-only memory (the zero page) prefaulted");
	mprotect(z, PG, PROT_READ | PROT_WRITE);
	pattern(z, 5);
	edu_copy(bar, EDU_VA, EDU_VA + 64 * PG);
	ok(is_pattern(out, 5), "edu:   made writable and written: the device reads the process's bytes");
	munmap(z, PG);
	sva_mm_fence(mm);
	sva_mm_invalidate(mm, z, PG);

	/* A private file mapping, read-only, prefaulted, made writable, written. */
	fd = tmp_file(PG, 0x3c);
	a = mmap((void *)(uintptr_t)EDU_VA, PG, PROT_READ, MAP_PRIVATE | MAP_FIXED_NOREPLACE, fd, 0);
	if (a == MAP_FAILED)
		ktest_bail("edu: map the file");
	sva_mm_prefault(mm, a, PG);
	mprotect(a, PG, PROT_READ | PROT_WRITE);
	pattern(a, 6);
	edu_copy(bar, EDU_VA, EDU_VA + 64 * PG);
	ok(is_pattern(out, 6), "edu: private file mapping prefaulted read-only, then written: the device reads the copy");
	munmap(a, PG);
	sva_mm_fence(mm);
	sva_mm_invalidate(mm, a, PG);
	close(fd);

	/* Prefaulted read-only: DMA to it is blocked; made writable and
	 * prefaulted again (sva_mm_prefault(3)): it lands. */
	a = ktest_map_at(EDU_VA, PG, PROT_READ | PROT_WRITE);
	pattern(a, 9);
	mprotect(a, PG, PROT_READ);
	sva_mm_prefault(mm, a, PG);
	pattern(out, 10);
	sva_mm_prefault(mm, out, PG);
	ktest_edu_dma(bar, EDU_VA + 64 * PG, EDU_DEV_BUF, EDU_DMA_LEN, 0);
	ktest_edu_dma(bar, EDU_DEV_BUF, EDU_VA, EDU_DMA_LEN, 1);
	ok(is_pattern(a, 9), "edu: a DMA write to memory prefaulted read-only does not land");
	mprotect(a, PG, PROT_READ | PROT_WRITE);
	is_int(sva_mm_prefault(mm, a, PG), 0, "edu:   made writable, prefaulted again");
	ktest_edu_dma(bar, EDU_DEV_BUF, EDU_VA, EDU_DMA_LEN, 1);
	ok(is_pattern(a, 10), "edu:   now the DMA write lands");
	munmap(a, PG);
	sva_mm_fence(mm);

	/* mprotect(PROT_READ): documented, the device may still write. */
	pattern(out, 7);
	a = ktest_map_at(EDU_VA, PG, PROT_READ | PROT_WRITE);
	pattern(a, 8);
	sva_mm_prefault(mm, a, PG);
	mprotect(out, PG, PROT_READ);
	edu_copy(bar, EDU_VA, EDU_VA + 64 * PG);
	ok(is_pattern(out, 8), "edu: mprotect(PROT_READ) of visible memory: the device still writes it (documented)");
	mprotect(out, PG, PROT_READ | PROT_WRITE);

	munmap(a, PG);
	munmap(out, PG);
	munmap((void *)bar, bar_len);
	sva_unbind(bond);
	sva_mm_free(mm);
	sva_dev_close(dev);
	sva_ctx_free(ctx);
}

int main(void)
{
	struct sva_bind_opts bo = { .size = sizeof(bo) };
	char pci[16];

	ktest_require_iommufd();
	g_ctx = ktest_ctx();
	if (sva_dev_open_mock(g_ctx, NULL, &g_dev))
		ktest_bail("sva_dev_open_mock failed (CONFIG_IOMMUFD_TEST?)");
	if (sva_mm_new(g_ctx, NULL, &g_mm) || sva_bind(g_dev, g_mm, &bo, &g_bond))
		ktest_bail("bind failed");
	fork_checks();
	collapse_checks();
	before_bind_checks();
	mprotect_checks();
	zero_page_checks();
	private_file_checks();
	shared_checks();
	migration_checks();
	reclaim_checks();
	sva_unbind(g_bond);
	sva_mm_free(g_mm);
	sva_dev_close(g_dev);
	sva_ctx_free(g_ctx);
	if (ktest_find_pci(EDU_VENDOR, EDU_DEVICE, pci))
		edu_checks(pci);
	return done_testing();
}
