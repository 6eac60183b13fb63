/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The fault engine against the iommufd selftest mock: faults injected with
 * TRIGGER_IOPF are resolved by mapping at IOVA == VA (checked through the
 * kernel's own access path), refused ones are answered INVALID and reported
 * with the right reason, fault-around maps a window, private address spaces
 * map nothing on demand, teardown with faults pending is clean, and both the
 * library thread and poll mode work.
 */
#define _GNU_SOURCE /* memfd_create() */
#include <fcntl.h>
#include <poll.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>

#include "fault_window.h"
#include "../fd_fill.h"
#include "ktest.h"
#include "pasid_space.h"

#define BUF_VA 0x50000000ull /* inside the mock aperture [16 MiB, 2 GiB) */
#define PG 4096u

struct reports {
	int n;
	struct sva_fault_report last;
};

static void on_fault_error(struct sva_bond *bond, const struct sva_fault_report *r, void *drvdata)
{
	struct reports *rep = drvdata;

	(void)bond;
	rep->n++;
	rep->last = *r;
}

static struct sva_ctx *ctx_mode(int poll_mode)
{
	struct sva_ctx_opts o = { .size = sizeof(o), .pasid_grace_ns = UINT64_MAX,
				  .flags = poll_mode ? SVA_CTX_FAULT_POLL : 0 };
	struct sva_ctx *ctx = NULL;

	if (sva_ctx_new(&o, &ctx))
		ktest_bail("sva_ctx_new failed");
	return ctx;
}

/* Wait until the bond has handled `want` faults (thread mode), up to 5 s. */
static int wait_faults(struct sva_bond *bond, uint64_t want)
{
	struct sva_bond_stats st = { .size = sizeof(st) };

	for (int i = 0; i < 5000; i++) {
		sva_bond_stats(bond, &st);
		if (st.faults >= want)
			return 0;
		usleep(1000);
	}
	return -ETIMEDOUT;
}

/* Inject one fault and have it handled: poll mode processes it, thread mode waits. */
static int fault(struct sva_ctx *ctx, struct sva_dev *dev, struct sva_bond *bond, uint64_t addr, uint32_t perm,
		 int poll_mode)
{
	struct sva_bond_stats st = { .size = sizeof(st) };
	int ret;

	sva_bond_stats(bond, &st);
	ret = sva_dev_inject_fault(dev, sva_bond_pasid(bond) == SVA_PASID_RID ? 0 : sva_bond_pasid(bond), addr, perm, 0);
	if (ret)
		return ret;
	if (poll_mode)
		return sva_ctx_process_faults(ctx, 64) == 1 ? 0 : -EIO;
	return wait_faults(bond, st.faults + 1);
}

/* What most tests below set up, released in order. */
static void release_all(struct sva_ctx *ctx, struct sva_dev *dev, struct sva_mm *mm, struct sva_bond *bond)
{
	sva_unbind(bond);
	sva_mm_free(mm);
	sva_dev_close(dev);
	sva_ctx_free(ctx);
}

/* ... and a memfd mapped at p. */
static void release_memfd_setup(struct sva_ctx *ctx, struct sva_dev *dev, struct sva_mm *mm, struct sva_bond *bond,
				void *p, size_t len, int fd)
{
	release_all(ctx, dev, mm, bond);
	munmap(p, len);
	close(fd);
}

static void engine_checks(int poll_mode)
{
	const char *mode = poll_mode ? "poll" : "thread";
	struct sva_ctx *ctx = ctx_mode(poll_mode);
	struct reports rep = { 0 };
	struct sva_bond_ops ops = { .size = sizeof(ops), .fault_error = on_fault_error };
	struct sva_bind_opts bo = { .size = sizeof(bo), .drvdata = &rep, .ops = &ops };
	struct sva_bond_stats st = { .size = sizeof(st) }, base = { .size = sizeof(base) };
	unsigned char *buf, *ro, back[PG];
	struct sva_bond *bond;
	struct sva_dev *dev;
	struct sva_mm *mm;
	int stack_var = 1;

	if (!is_int(sva_dev_open_mock(ctx, NULL, &dev), 0, "%s: open the mock", mode))
		return;
	sva_mm_new(ctx, NULL, &mm);
	if (!is_int(sva_bind(dev, mm, &bo, &bond), 0, "%s: fault-capable PASID bind", mode))
		goto out;
	if (poll_mode) {
		int fd = sva_ctx_fault_fd(ctx);
		struct pollfd pfd = { .fd = fd, .events = POLLIN };

		ok(fd >= 0, "poll: the fault queue fd (%d)", fd);
		is_int(sva_ctx_process_faults(ctx, 8), 0, "poll: nothing pending: 0");
		is_int(sva_ctx_process_faults(ctx, 0), -EINVAL, "poll: max 0: -EINVAL");
		sva_dev_inject_fault(dev, sva_bond_pasid(bond), BUF_VA + 0x100000, SVA_ACCESS_READ, 0);
		is_int(poll(&pfd, 1, 2000), 1, "poll: the fd turns readable on a fault");
		ok(sva_ctx_process_faults(ctx, 8) == 1, "poll: one fault processed");
		ok(rep.n == 1 && rep.last.reason == -EFAULT, "poll: (nothing mapped there yet: INVALID, -EFAULT)");
		rep.n = 0;
	} else {
		is_int(sva_ctx_fault_fd(ctx), -EINVAL, "thread: no fault fd in thread mode");
		is_int(sva_ctx_process_faults(ctx, 8), -EINVAL, "thread: process_faults refused in thread mode");
	}

	sva_bond_stats(bond, &base);
	buf = ktest_map_at(BUF_VA, 256 * 1024, PROT_READ | PROT_WRITE);
	for (unsigned i = 0; i < 256 * 1024; i++)
		buf[i] = (unsigned char)(i * 11 + 5);
	is_int(fault(ctx, dev, bond, BUF_VA + 5 * PG + 123, SVA_ACCESS_READ | SVA_ACCESS_WRITE, poll_mode), 0,
	       "%s: a write fault is handled", mode);
	sva_bond_stats(bond, &st);
	is_int(st.invalid - base.invalid, 0, "%s: and not answered INVALID", mode);
	ok(ktest_access_rw(ctx, mm->ioas_id, BUF_VA + 5 * PG, back, PG, 0) == 0 && memcmp(back, buf + 5 * PG, PG) == 0,
	   "%s: the kernel reads the process's bytes at IOVA == VA through the new mapping", mode);
	is_int(st.pages_mapped, SVA_FA_START / PG, "%s: fault-around mapped the first 64 KiB window (%llu pages)",
	       mode, (unsigned long long)st.pages_mapped);
	ok(ktest_access_rw(ctx, mm->ioas_id, BUF_VA + 15 * PG, back, PG, 0) == 0 &&
		   memcmp(back, buf + 15 * PG, PG) == 0,
	   "%s: a neighbouring page in the window is visible too", mode);
	is_int(ktest_access_rw(ctx, mm->ioas_id, BUF_VA + 16 * PG, back, PG, 0), -ENOENT,
	       "%s: the page past the aligned window is not", mode);
	is_int(fault(ctx, dev, bond, BUF_VA + 6 * PG, SVA_ACCESS_READ, poll_mode), 0,
	       "%s: a fault on an already visible page is answered SUCCESS", mode);
	sva_bond_stats(bond, &st);
	is_int(st.pages_mapped, 16, "%s: and maps nothing more", mode);
	/* The next fault just past the window is in order: the window doubles and
	 * runs forward from it (adaptive fault-around). */
	is_int(fault(ctx, dev, bond, BUF_VA + 16 * PG, SVA_ACCESS_READ, poll_mode), 0,
	       "%s: a fault just past the window is handled", mode);
	sva_bond_stats(bond, &st);
	is_int(st.pages_mapped, 16 + 32, "%s: in order, the window doubled to 128 KiB (%llu pages in all)", mode,
	       (unsigned long long)st.pages_mapped);
	ok(ktest_access_rw(ctx, mm->ioas_id, BUF_VA + 47 * PG, back, PG, 0) == 0,
	   "%s: its last page is visible", mode);
	is_int(ktest_access_rw(ctx, mm->ioas_id, BUF_VA + 48 * PG, back, PG, 0), -ENOENT,
	       "%s: the page past it is not", mode);
	/* Twelve pages past it is still in order (less than a window): 256 KiB
	 * forward from the fault, clipped to the end of the mapping. */
	is_int(fault(ctx, dev, bond, BUF_VA + 60 * PG, SVA_ACCESS_READ, poll_mode), 0,
	       "%s: a fault a few pages past the window is handled", mode);
	sva_bond_stats(bond, &st);
	is_int(st.pages_mapped, 16 + 32 + 4, "%s: its window stops at the end of the mapping (%llu pages in all)", mode,
	       (unsigned long long)st.pages_mapped);
	is_int(ktest_access_rw(ctx, mm->ioas_id, BUF_VA + 59 * PG, back, PG, 0), -ENOENT,
	       "%s: and starts at the fault: the skipped pages stay unmapped", mode);

	/* Read-only memory: a read maps it read-only; a write is refused. */
	ro = ktest_map_at(BUF_VA + 0x100000, PG, PROT_READ);
	rep.n = 0;
	is_int(fault(ctx, dev, bond, BUF_VA + 0x100000, SVA_ACCESS_WRITE, poll_mode), 0, "%s: a write fault on read-only memory",
	       mode);
	ok(rep.n == 1 && rep.last.reason == -EACCES && rep.last.addr == BUF_VA + 0x100000 &&
		   rep.last.access == SVA_ACCESS_WRITE && rep.last.dev == dev && rep.last.pasid == sva_bond_pasid(bond),
	   "%s: is INVALID, reported once with -EACCES, address, access, device and PASID", mode);
	is_int(fault(ctx, dev, bond, BUF_VA + 0x100000, SVA_ACCESS_READ, poll_mode), 0, "%s: a read fault on it", mode);
	ok(ktest_access_rw(ctx, mm->ioas_id, BUF_VA + 0x100000, back, PG, 0) == 0, "%s: maps it", mode);
	ok(ktest_access_rw(ctx, mm->ioas_id, BUF_VA + 0x100000, back, PG, 1) != 0, "%s: read-only", mode);

	/* Nothing mapped there, and outside the window. */
	rep.n = 0;
	fault(ctx, dev, bond, BUF_VA + 0x200000, SVA_ACCESS_READ, poll_mode);
	ok(rep.n == 1 && rep.last.reason == -EFAULT, "%s: a fault on unmapped memory: INVALID, -EFAULT", mode);
	rep.n = 0;
	fault(ctx, dev, bond, (uintptr_t)&stack_var, SVA_ACCESS_READ, poll_mode);
	ok(rep.n == 1 && rep.last.reason == -ERANGE, "%s: a fault outside the mock window: INVALID, -ERANGE", mode);
	rep.n = 0;
	fault(ctx, dev, bond, BUF_VA + 20 * PG, SVA_ACCESS_READ | SVA_ACCESS_PRIV, poll_mode);
	ok(rep.n == 1 && rep.last.reason == -EPERM, "%s: a privileged request: INVALID, -EPERM", mode);
	sva_bond_stats(bond, &st);
	is_int(st.invalid - base.invalid, 4, "%s: four faults counted INVALID on the bond", mode);
	ok(st.groups >= st.faults - 1 && st.groups <= st.faults, "%s: each single-fault group answered once (%llu/%llu)",
	   mode, (unsigned long long)st.groups, (unsigned long long)st.faults);

	/* An execute request needs an executable mapping, whether the page is
	 * visible already or not (the kernel's SVA checks every fault). */
	rep.n = 0;
	fault(ctx, dev, bond, BUF_VA + 0x100000, SVA_ACCESS_READ | SVA_ACCESS_EXEC, poll_mode);
	ok(rep.n == 1 && rep.last.reason == -EACCES,
	   "%s: an execute request on a visible, non-executable page: INVALID, -EACCES (%d reports, reason %d)", mode,
	   rep.n, rep.n ? rep.last.reason : 0);
	unsigned char *x = ktest_map_at(BUF_VA + 0x400000, PG, PROT_READ | PROT_EXEC);

	rep.n = 0;
	fault(ctx, dev, bond, BUF_VA + 0x400000, SVA_ACCESS_READ | SVA_ACCESS_EXEC, poll_mode);
	ok(rep.n == 0 && ktest_access_rw(ctx, mm->ioas_id, BUF_VA + 0x400000, back, PG, 0) == 0,
	   "%s: an execute request on an executable mapping: resolved, visible", mode);
	fault(ctx, dev, bond, BUF_VA + 0x400000, SVA_ACCESS_READ | SVA_ACCESS_EXEC, poll_mode);
	is_int(rep.n, 0, "%s: and again once visible: resolved", mode);
	munmap(x, PG);

	/* The documented way to wait for an injected fault (sva_dev_inject_fault(3)). */
	rep.n = 0;
	is_int(ktest_inject_and_wait(dev, bond, BUF_VA + 0x300000, SVA_ACCESS_READ, 5000), 0,
	       "%s: inject and wait: the fault is handled", mode);
	ok(rep.n == 1 && rep.last.reason == -EFAULT, "%s: inject and wait: its report is there when it returns", mode);
	is_int(ktest_inject_and_wait(dev, bond, BUF_VA + 0x300000, SVA_ACCESS_READ | SVA_ACCESS_EXEC | 0x10, 10),
	       -EINVAL, "%s: inject and wait: bad access bits: -EINVAL at once", mode);

	/* Prefault ahead of a job: the job then takes no faults. */
	sva_bond_stats(bond, &st);
	uint64_t before = st.faults;
	is_int(sva_mm_prefault(mm, buf + 32 * PG, 32 * PG), 0, "%s: prefault 128 KiB ahead of a job", mode);
	ok(ktest_access_rw(ctx, mm->ioas_id, BUF_VA + 32 * PG, back, PG, 0) == 0, "%s: visible without a fault", mode);
	sva_bond_stats(bond, &st);
	is_int(st.faults, before, "%s: the prefaulted job took zero faults", mode);

	munmap(ro, PG);
	munmap(buf, 256 * 1024);
	sva_unbind(bond);
out:
	sva_mm_free(mm);
	sva_dev_close(dev);
	sva_ctx_free(ctx);
}

static int exit_calls, exit_attached;
static struct sva_dev *g_dev;

static void on_exit_cb(struct sva_bond *bond, void *drvdata)
{
	(void)drvdata;
	exit_calls++;
	exit_attached = ktest_pasid_check(g_dev, sva_bond_pasid(bond), bond->hwpt->id) == 0;
}

/* Private spaces, two PASIDs, teardown with a fault pending, quarantine, fork. */
static void lifecycle_checks(void)
{
	struct sva_ctx *ctx = ctx_mode(1);
	struct reports rep = { 0 };
	struct sva_bond_ops ops = { .size = sizeof(ops), .mm_exit = on_exit_cb, .fault_error = on_fault_error };
	struct sva_bind_opts bo = { .size = sizeof(bo), .drvdata = &rep, .ops = &ops };
	struct sva_mm_opts po = { .size = sizeof(po), .flags = SVA_MM_PRIVATE };
	struct sva_pasid_stats ps = { .size = sizeof(ps) };
	struct sva_bond *b1, *b2, *priv;
	struct sva_mm *mm, *pmm;
	unsigned char *buf, back[PG];
	uint32_t p1, p2, h;
	int status;
	pid_t pid;

	if (sva_dev_open_mock(ctx, NULL, &g_dev))
		ktest_bail("cannot open the mock");
	sva_mm_new(ctx, NULL, &mm);
	buf = ktest_map_at(BUF_VA + 0x400000, 64 * 1024, PROT_READ | PROT_WRITE);
	memset(buf, 0x33, 64 * 1024);

	is_int(sva_bind(g_dev, mm, &bo, &b1), 0, "two PASIDs on one address space: first");
	bo.flags = SVA_BIND_EXTRA_PASID;
	is_int(sva_bind(g_dev, mm, &bo, &b2), 0, "second (SVA_BIND_EXTRA_PASID)");
	bo.flags = 0;
	p1 = sva_bond_pasid(b1);
	p2 = sva_bond_pasid(b2);
	ok(p1 != p2, "distinct PASIDs %u and %u", p1, p2);
	sva_dev_inject_fault(g_dev, p2, BUF_VA + 0x400000, SVA_ACCESS_READ, 0);
	is_int(sva_ctx_process_faults(g_dev->ctx, 4), 1, "a fault on the second PASID is resolved");
	ok(ktest_access_rw(ctx, mm->ioas_id, BUF_VA + 0x400000, back, PG, 0) == 0 && back[0] == 0x33,
	   "into the shared address space");

	/* A private address space mirrors nothing on demand. */
	is_int(sva_mm_new(ctx, &po, &pmm), 0, "a private address space");
	is_int(sva_bind(g_dev, pmm, &bo, &priv), 0, "bound to a third PASID");
	rep.n = 0;
	sva_dev_inject_fault(g_dev, sva_bond_pasid(priv), BUF_VA + 0x400000, SVA_ACCESS_READ, 0);
	sva_ctx_process_faults(ctx, 4);
	ok(rep.n == 1 && rep.last.reason == -ENOENT, "a fault outside what was mapped into it: INVALID, -ENOENT");
	is_int(sva_mm_prefault(pmm, buf, PG), 0, "map one page into it explicitly");
	rep.n = 0;
	sva_dev_inject_fault(g_dev, sva_bond_pasid(priv), BUF_VA + 0x400000, SVA_ACCESS_READ, 0);
	sva_ctx_process_faults(ctx, 4);
	is_int(rep.n, 0, "a fault inside what was mapped is answered SUCCESS");
	sva_unbind(priv);
	sva_mm_free(pmm);

	/* Unbind with a fault read but not answered: the detach answers it, our late answer is dropped. */
	h = b1->hwpt->id;
	sva_dev_inject_fault(g_dev, p1, BUF_VA + 0x408000, SVA_ACCESS_READ, 0);
	exit_calls = 0;
	is_int(sva_unbind(b1), 0, "unbind with a fault pending");
	is_int(exit_calls, 1, "mm_exit ran once");
	ok(exit_attached, "while the PASID was still attached");
	is_int(ktest_pasid_check(g_dev, p1, 0), 0, "the PASID is detached after unbind");
	ok(sva_ctx_process_faults(ctx, 4) >= 0, "the engine copes with the fault of the detached PASID");
	(void)h;
	sva_pasid_stats(sva_ctx_global_pasids(ctx), &ps);
	is_int(ps.quarantined, 2, "its PASID and the private bond's are quarantined");
	for (int i = 0; i < 8; i++) {
		uint32_t p;

		if (sva_dev_pasid_alloc(g_dev, SVA_PASID_GLOBAL, NULL, &p) == 0)
			ok(p != p1, "allocation %d does not reuse the quarantined PASID (%u)", i, p);
	}

	/* A forked child cannot touch the engine. */
	pid = fork();
	if (pid == 0)
		_exit(sva_ctx_process_faults(ctx, 4) == -ECHILD && sva_ctx_fault_fd(ctx) == -ECHILD ? 0 : 1);
	waitpid(pid, &status, 0);
	ok(WIFEXITED(status) && WEXITSTATUS(status) == 0, "fork: the child's fault calls fail with -ECHILD");

	exit_calls = 0;
	sva_ctx_free(ctx);
	is_int(exit_calls, 1, "sva_ctx_free tears down the remaining bond (mm_exit once)");
	is_int(ktest_pasid_check(g_dev, p2, 0), 0, "and detaches its PASID");
	sva_mm_free(mm);
	sva_dev_close(g_dev);
	munmap(buf, 64 * 1024);
}

/*
 * The engine remembers the device of the last fault.  That device closed
 * while another stays open: the other's faults must be resolved in its own
 * bond, and the closed device's memory (freed: a use after free in the
 * AddressSanitizer tier if the memory were kept) never looked at.  Then a
 * third device, which iommufd may give the closed one's id.
 */
static void reopen_checks(void)
{
	struct sva_ctx *ctx = ctx_mode(1);
	struct sva_bind_opts bo = { .size = sizeof(bo) };
	struct sva_bond_stats st = { .size = sizeof(st) };
	struct sva_dev *a = NULL, *b = NULL, *c = NULL;
	struct sva_bond *ba = NULL, *bb = NULL, *bc = NULL;
	struct sva_mm *mm = NULL;
	unsigned char *buf, back[PG];
	uint32_t id_a;

	if (sva_dev_open_mock(ctx, NULL, &a) || sva_dev_open_mock(ctx, NULL, &b) || sva_mm_new(ctx, NULL, &mm) ||
	    sva_bind(a, mm, &bo, &ba) || sva_bind(b, mm, &bo, &bb))
		ktest_bail("reopen: setup failed");
	buf = ktest_map_at(BUF_VA + 0x800000, 3 * PG, PROT_READ | PROT_WRITE);
	memset(buf, 0x5a, 3 * PG);
	sva_dev_inject_fault(a, sva_bond_pasid(ba), BUF_VA + 0x800000, SVA_ACCESS_READ, 0);
	is_int(sva_ctx_process_faults(ctx, 4), 1, "reopen: a fault on the first device");
	id_a = a->info.dev_id;
	sva_unbind(ba);
	sva_dev_close(a);
	sva_dev_inject_fault(b, sva_bond_pasid(bb), BUF_VA + 0x800000 + PG, SVA_ACCESS_READ, 0);
	is_int(sva_ctx_process_faults(ctx, 4), 1, "reopen: first closed, a fault on the second");
	sva_bond_stats(bb, &st);
	ok(st.faults == 1 && st.invalid == 0, "reopen: resolved in the second device's bond (%llu faults, %llu invalid)",
	   (unsigned long long)st.faults, (unsigned long long)st.invalid);
	if (sva_dev_open_mock(ctx, NULL, &c) || sva_bind(c, mm, &bo, &bc))
		ktest_bail("reopen: third device failed");
	diag("reopen: device ids %u, %u, then %u", id_a, b->info.dev_id, c->info.dev_id);
	sva_dev_inject_fault(c, sva_bond_pasid(bc), BUF_VA + 0x800000 + 2 * PG, SVA_ACCESS_READ, 0);
	is_int(sva_ctx_process_faults(ctx, 4), 1, "reopen: a fault on a device opened after the close");
	st.faults = st.invalid = 0;
	sva_bond_stats(bc, &st);
	ok(st.faults == 1 && st.invalid == 0, "reopen: resolved in its bond (%llu faults, %llu invalid)",
	   (unsigned long long)st.faults, (unsigned long long)st.invalid);
	ok(ktest_access_rw(ctx, mm->ioas_id, BUF_VA + 0x800000 + 2 * PG, back, PG, 0) == 0 && back[0] == 0x5a,
	   "reopen: and visible");
	sva_unbind(bb);
	sva_unbind(bc);
	sva_dev_close(b);
	sva_dev_close(c);
	sva_mm_free(mm);
	sva_ctx_free(ctx);
	munmap(buf, 3 * PG);
}

static int exit_pipe = -1;

static void exit_marker(struct sva_bond *bond, void *drvdata)
{
	(void)bond;
	(void)drvdata;
	if (write(exit_pipe, "X", 1) != 1)
		_exit(3);
}

/* exit() without unbinding still runs mm_exit (a destructor), as mm exit does in the kernel. */
static void exit_checks(void)
{
	char got[4] = "";
	int p[2], status;
	pid_t pid;

	if (pipe(p))
		ktest_bail("pipe");
	pid = fork();
	if (pid == 0) {
		struct sva_bond_ops ops = { .size = sizeof(ops), .mm_exit = exit_marker };
		struct sva_bind_opts bo = { .size = sizeof(bo), .ops = &ops };
		struct sva_ctx *ctx = ctx_mode(1);
		struct sva_bond *bond;
		struct sva_dev *dev;
		struct sva_mm *mm;

		close(p[0]);
		exit_pipe = p[1];
		if (sva_dev_open_mock(ctx, NULL, &dev) || sva_mm_new(ctx, NULL, &mm) || sva_bind(dev, mm, &bo, &bond))
			_exit(2);
		exit(0); /* no unbind, no free */
	}
	close(p[1]);
	waitpid(pid, &status, 0);
	ok(WIFEXITED(status) && WEXITSTATUS(status) == 0, "exit: the child bound and called exit()");
	ok(read(p[0], got, sizeof(got)) == 1 && got[0] == 'X', "exit: its bond's mm_exit ran once during exit()");
	close(p[0]);
}

/*
 * Bind, fault once inside the 2 MiB page at `page` (filled with `fill`), and
 * check the whole page became visible: the huge-page path of fault-around.
 */
static void huge_page_fault(const char *what, uint64_t page, unsigned char fill)
{
	struct sva_ctx *ctx = ctx_mode(1);
	struct sva_bind_opts bo = { .size = sizeof(bo) };
	struct sva_bond_stats st = { .size = sizeof(st) };
	const uint64_t huge = 2ull << 20;
	unsigned char back[PG];
	struct sva_bond *bond;
	struct sva_dev *dev;
	struct sva_mm *mm;

	sva_dev_open_mock(ctx, NULL, &dev);
	sva_mm_new(ctx, NULL, &mm);
	is_int(sva_bind(dev, mm, &bo, &bond), 0, "%s: bind", what);
	sva_dev_inject_fault(dev, sva_bond_pasid(bond), page + 12345, SVA_ACCESS_READ | SVA_ACCESS_WRITE, 0);
	is_int(sva_ctx_process_faults(ctx, 4), 1, "%s: a fault inside a huge page", what);
	sva_bond_stats(bond, &st);
	is_int(st.pages_mapped, huge / PG, "%s: maps the whole 2 MiB page (%llu pages)", what,
	       (unsigned long long)st.pages_mapped);
	ok(ktest_access_rw(ctx, mm->ioas_id, page + huge - PG, back, PG, 0) == 0 && back[0] == fill,
	   "%s: its last 4 KiB page is visible too", what);
	release_all(ctx, dev, mm, bond);
}

/* Transparent huge pages. */
static void thp_checks(void)
{
	const uint64_t huge = 2ull << 20, at = 0x60000000ull;
	unsigned char *buf = ktest_map_at(at, 2 * huge, PROT_READ | PROT_WRITE);

	if (madvise(buf, 2 * huge, MADV_HUGEPAGE) == 0)
		memset(buf, 7, 2 * huge);
	if (sva_vma_has_thp(at))
		huge_page_fault("thp", at + huge, 7);
	else
		skip(4, "no transparent huge pages in this kernel/VM (CONFIG_TRANSPARENT_HUGEPAGE, or none free)");
	munmap(buf, 2 * huge);
}

/*
 * Anonymous THP memory unmapped and replaced at the same place by anonymous
 * memory without huge pages: it looks the same in /proc/self/maps, but the
 * unmap's event says it is new, so it is classified anew (it kept the old
 * 2 MiB windows; the reverse kept small ones).  With `untracked`, the THP
 * buffer's address space (the process's last tracked one) is freed before the
 * unmap, so no event reports it, and the replacement is faulted through a new
 * address space: tracking stopped in between, so what was learnt of the old
 * mapping is not carried over (it kept the 2 MiB windows; review Z93).
 */
static void thp_replaced_checks(bool untracked)
{
	const uint64_t huge = 2ull << 20, at = 0x74000000ull;
	struct sva_mm_opts mo = { .size = sizeof(mo), .fault_around = 4096 };
	struct sva_bond_stats st = { .size = sizeof(st) };
	unsigned char *buf = ktest_map_at(at, 2 * huge, PROT_READ | PROT_WRITE);
	const char *what = untracked ? "THP, its address space freed before the unmap" : "THP, fault_around 4096";
	struct sva_ctx *ctx;
	struct sva_bond *bond;
	struct sva_dev *dev;
	struct sva_mm *mm;

	if (madvise(buf, 2 * huge, MADV_HUGEPAGE) == 0)
		memset(buf, 7, 2 * huge);
	if (sva_vma_smaps_kb(at, "AnonHugePages") <= 0) {
		skip(untracked ? 2 : 3, "no transparent huge pages in this kernel/VM (CONFIG_TRANSPARENT_HUGEPAGE, or none free)");
		munmap(buf, 2 * huge);
		return;
	}
	ctx = ctx_mode(1);
	if (sva_dev_open_mock(ctx, NULL, &dev) || sva_mm_new(ctx, &mo, &mm) || sva_bind(dev, mm, NULL, &bond))
		ktest_bail("mock, address space or bind");
	fault(ctx, dev, bond, at + huge, SVA_ACCESS_READ, 1);
	sva_bond_stats(bond, &st);
	is_int(st.pages_mapped, 512, "%s: the whole 2 MiB page", what);
	if (untracked)
		release_all(ctx, dev, mm, bond);
	munmap(buf, 2 * huge);
	buf = mmap((void *)(uintptr_t)at, 2 * huge, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE,
		   -1, 0);
	if (buf == MAP_FAILED || madvise(buf, 2 * huge, MADV_NOHUGEPAGE))
		ktest_bail("the replacement");
	memset(buf, 8, 2 * huge);
	if (untracked) {
		ctx = ctx_mode(1);
		if (sva_dev_open_mock(ctx, NULL, &dev) || sva_mm_new(ctx, &mo, &mm) || sva_bind(dev, mm, NULL, &bond))
			ktest_bail("mock, address space or bind");
		fault(ctx, dev, bond, at + huge + PG, SVA_ACCESS_READ, 1);
	} else {
		is_int(fault(ctx, dev, bond, at + huge + PG, SVA_ACCESS_READ, 1), 0, "replaced by small pages: a fault");
	}
	sva_bond_stats(bond, &st);
	is_int(st.pages_mapped, untracked ? 1 : 513, "%s: classified anew, one more page, not a 2 MiB window (%llu)",
	       untracked ? "replaced while nothing was tracked" : "replaced by small pages",
	       (unsigned long long)st.pages_mapped);
	release_all(ctx, dev, mm, bond);
	munmap(buf, 2 * huge);
}

/*
 * Two faults of one batch on either side of a 2 MiB boundary in THP memory:
 * one run, mapped as the whole huge pages that hold it.  The run's end used
 * to be taken as it was, a page into the second huge page, which stayed
 * split between two chunks for good (no 2 MiB IOMMU entry).
 */
static void thp_run_checks(void)
{
	const uint64_t huge = 2ull << 20, at = 0x7c000000ull;
	struct sva_mm_opts mo = { .size = sizeof(mo), .fault_around = 4096 };
	struct sva_bond_stats st = { .size = sizeof(st) };
	struct sva_mm_stats ms = { .size = sizeof(ms) };
	unsigned char *buf = ktest_map_at(at, 2 * huge, PROT_READ | PROT_WRITE);
	struct sva_ctx *ctx;
	struct sva_bond *bond;
	struct sva_dev *dev;
	struct sva_mm *mm;

	if (madvise(buf, 2 * huge, MADV_HUGEPAGE) == 0)
		memset(buf, 7, 2 * huge);
	if (sva_vma_smaps_kb(at, "AnonHugePages") < 4096) {
		skip(2, "no transparent huge pages in this kernel/VM (CONFIG_TRANSPARENT_HUGEPAGE, or none free)");
		munmap(buf, 2 * huge);
		return;
	}
	ctx = ctx_mode(1);
	if (sva_dev_open_mock(ctx, NULL, &dev) || sva_mm_new(ctx, &mo, &mm) || sva_bind(dev, mm, NULL, &bond))
		ktest_bail("mock, address space or bind");
	uint32_t pasid = sva_bond_pasid(bond) == SVA_PASID_RID ? 0 : sva_bond_pasid(bond);

	if (sva_dev_inject_fault(dev, pasid, at + huge - PG, SVA_ACCESS_READ, 0) ||
	    sva_dev_inject_fault(dev, pasid, at + huge, SVA_ACCESS_READ, 0))
		ktest_bail("inject");
	is_int(sva_ctx_process_faults(ctx, 64), 2, "THP: two faults across a 2 MiB boundary, one batch");
	sva_bond_stats(bond, &st);
	sva_mm_stats(mm, &ms);
	ok(st.pages_mapped == 1024 && ms.bytes_visible == 2 * huge,
	   "  ... mapped as both whole huge pages (%llu pages, %llu bytes visible)", (unsigned long long)st.pages_mapped,
	   (unsigned long long)ms.bytes_visible);
	release_all(ctx, dev, mm, bond);
	munmap(buf, 2 * huge);
}

/* hugetlbfs pages (make check-vm reserves some). */
static void hugetlb_checks(void)
{
	const uint64_t huge = 2ull << 20, at = 0x64000000ull;
	unsigned char *buf = mmap((void *)(uintptr_t)at, huge, PROT_READ | PROT_WRITE,
				  MAP_PRIVATE | MAP_ANONYMOUS | MAP_HUGETLB | MAP_FIXED_NOREPLACE, -1, 0);

	if (buf == MAP_FAILED) {
		skip(4, "no hugetlb pages reserved (make check-vm reserves 8: SVA_VM_HUGEPAGES)");
		return;
	}
	memset(buf, 9, huge);
	huge_page_fault("hugetlb", at, 9);
	munmap(buf, huge);
}

static struct ktest_line queue_log = { .level = -1 };

/* No descriptor for the fault queue: -EMFILE, and the log line says what to
 * do about it (it used to blame the kernel's age). */
static void queue_fd_limit(void)
{
	struct sva_ctx *ctx = ctx_mode(1);
	struct rlimit old, low;
	int fds[64], n = 0, ret;

	getrlimit(RLIMIT_NOFILE, &old);
	sva_ctx_set_log(ctx, ktest_keep_line, &queue_log, SVA_LOG_ERROR);
	low = old;
	low.rlim_cur = 64;
	if (setrlimit(RLIMIT_NOFILE, &low))
		ktest_bail("setrlimit");
	while (n < 64 && (fds[n] = open("/dev/null", O_RDONLY | O_CLOEXEC)) >= 0)
		n++;
	ret = sva_ctx_fault_fd(ctx);
	while (n > 0)
		close(fds[--n]);
	setrlimit(RLIMIT_NOFILE, &old);
	is_int(ret, -EMFILE, "no descriptor free: sva_ctx_fault_fd() is -EMFILE");
	ok(strstr(queue_log.text, "RLIMIT_NOFILE") && !strstr(queue_log.text, "6.11"), "and the log says why: %s",
	   queue_log.text);
	ok(sva_ctx_fault_fd(ctx) >= 0, "with descriptors free again, it works");
	sva_ctx_free(ctx);
}

/*
 * A fault on memory the engine has not seen yet, in a process with no
 * descriptor free: the mappings are re-read through the address space's open
 * /proc/self/maps, and the fault resolves as the kernel's SVA would resolve it
 * (the engine used to open the file anew, and answered INVALID with -EMFILE).
 */
static void fresh_memory_no_fd(int poll_mode)
{
	const char *mode = poll_mode ? "poll" : "thread";
	struct sva_ctx *ctx = ctx_mode(poll_mode);
	struct reports rep = { 0 };
	struct sva_bond_ops ops = { .size = sizeof(ops), .fault_error = on_fault_error };
	struct sva_bind_opts bo = { .size = sizeof(bo), .drvdata = &rep, .ops = &ops };
	struct sva_bond_stats st = { .size = sizeof(st) }, base = { .size = sizeof(base) };
	unsigned char *seen, *fresh, back[PG];
	struct fd_fill ff;
	struct sva_bond *bond;
	struct sva_dev *dev;
	struct sva_mm *mm;
	int ret;

	if (!is_int(sva_dev_open_mock(ctx, NULL, &dev), 0, "%s, no fd free: open the mock", mode))
		return;
	sva_mm_new(ctx, NULL, &mm);
	if (!is_int(sva_bind(dev, mm, &bo, &bond), 0, "%s, no fd free: fault-capable bind", mode))
		goto out;
	/* A first fault with descriptors to spare: the queue, the thread and the
	 * VMA cache all exist before the limit comes down. */
	seen = ktest_map_at(BUF_VA, 16 * PG, PROT_READ | PROT_WRITE);
	memset(seen, 1, 16 * PG);
	is_int(fault(ctx, dev, bond, BUF_VA, SVA_ACCESS_READ, poll_mode), 0, "%s, no fd free: a first fault", mode);
	/* Memory mapped after it: in no cache of the engine. */
	fresh = ktest_map_at(BUF_VA + 0x800000, 16 * PG, PROT_READ | PROT_WRITE);
	for (unsigned i = 0; i < 16 * PG; i++)
		fresh[i] = (unsigned char)(i * 7 + 3);

	if (fd_fill(&ff))
		ktest_bail("setrlimit: %s", strerror(errno));
	sva_bond_stats(bond, &base);
	rep.n = 0;
	ret = fault(ctx, dev, bond, BUF_VA + 0x800000 + 5 * PG, SVA_ACCESS_READ | SVA_ACCESS_WRITE, poll_mode);
	fd_fill_undo(&ff);

	ok(ff.full, "%s, no fd free: RLIMIT_NOFILE %d, every descriptor below it in use", mode, ff.limit);
	is_int(ret, 0, "%s, no fd free: a fault on fresh memory is handled", mode);
	sva_bond_stats(bond, &st);
	ok(st.invalid == base.invalid && rep.n == 0,
	   "%s, no fd free: and resolved, not answered INVALID (%llu INVALID, last reason %d; old code: -EMFILE)",
	   mode, (unsigned long long)(st.invalid - base.invalid), rep.n ? rep.last.reason : 0);
	ok(ktest_access_rw(ctx, mm->ioas_id, BUF_VA + 0x800000 + 5 * PG, back, PG, 0) == 0 &&
		   memcmp(back, fresh + 5 * PG, PG) == 0,
	   "%s, no fd free: the device reads the process's bytes there", mode);
	munmap(fresh, 16 * PG);
	munmap(seen, 16 * PG);
	sva_unbind(bond);
out:
	sva_mm_free(mm);
	sva_dev_close(dev);
	sva_ctx_free(ctx);
}

/*
 * hugetlbfs is recognised by name (/anon_hugepage, a mount path with
 * "hugepages") and then confirmed by its kernel page size: a memfd or file of
 * 4 KiB pages named so is not, and fault_around 4096 maps its page alone (it
 * used to map 2 MiB).
 */
static void hugepage_names(void)
{
	const uint64_t at = 0x6a000000ull, len = 4u << 20;
	struct sva_mm_opts mo = { .size = sizeof(mo), .fault_around = 4096 };
	struct sva_ctx *ctx = ctx_mode(1);
	struct sva_bond_stats st = { .size = sizeof(st) };
	struct sva_bond *bond;
	struct sva_dev *dev;
	struct sva_mm *mm;
	int fd = memfd_create("hugepages", MFD_CLOEXEC);
	unsigned char *p;

	if (fd < 0 || ftruncate(fd, (off_t)len))
		ktest_bail("memfd");
	p = mmap((void *)(uintptr_t)at, len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED_NOREPLACE, fd, 0);
	if (p == MAP_FAILED)
		ktest_bail("mmap of the memfd");
	memset(p, 3, 2 * PG);
	if (sva_dev_open_mock(ctx, NULL, &dev) || sva_mm_new(ctx, &mo, &mm) || sva_bind(dev, mm, NULL, &bond))
		ktest_bail("mock, address space or bind");
	is_int(fault(ctx, dev, bond, at + PG, SVA_ACCESS_READ, 1), 0, "memfd named \"hugepages\": a fault");
	sva_bond_stats(bond, &st);
	is_int(st.pages_mapped, 1, "memfd named \"hugepages\" (4 KiB pages), fault_around 4096: one page mapped (%llu)",
	       (unsigned long long)st.pages_mapped);
	release_memfd_setup(ctx, dev, mm, bond, p, len, fd);
}

/* Transparent huge pages of shmem (a memfd) count as huge pages too. */
static void shmem_thp_checks(void)
{
	const uint64_t huge = 2ull << 20, at = 0x70000000ull;
	const char *knob = "/sys/kernel/mm/transparent_hugepage/shmem_enabled";
	char old[128] = "";
	FILE *f = fopen(knob, "r");
	int fd = memfd_create("thp", MFD_CLOEXEC);
	unsigned char *p = MAP_FAILED;

	if (f) {
		if (fgets(old, sizeof(old), f)) {
			/* "always [never] ...": the bracketed one is in force. */
			char *l = strchr(old, '['), *r = l ? strchr(l, ']') : NULL;

			if (l && r) {
				memmove(old, l + 1, (size_t)(r - l - 1));
				old[r - l - 1] = '\0';
			}
		}
		fclose(f);
	}
	f = fopen(knob, "w");
	if (f) {
		fputs("always", f);
		if (fclose(f))
			f = NULL;
	}
	if (fd >= 0 && !ftruncate(fd, (off_t)(2 * huge)))
		p = mmap((void *)(uintptr_t)at, 2 * huge, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED_NOREPLACE, fd, 0);
	if (p != MAP_FAILED)
		memset(p, 5, 2 * huge);
	if (f && p != MAP_FAILED && sva_vma_smaps_kb(at, "ShmemPmdMapped") > 0) {
		huge_page_fault("shmem thp", at + huge, 5);
		/* Replaced at the same bounds and rights by anonymous memory
		 * without huge pages: a new mapping, classified anew (it kept
		 * the memfd's THP and mapped 2 MiB). */
		struct sva_mm_opts mo = { .size = sizeof(mo), .fault_around = 4096 };
		struct sva_ctx *ctx = ctx_mode(1);
		struct sva_bond_stats st = { .size = sizeof(st) };
		struct sva_bond *bond;
		struct sva_dev *dev;
		struct sva_mm *mm;

		p = mmap((void *)(uintptr_t)at, 2 * huge, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED,
			 -1, 0);
		if (p == MAP_FAILED || madvise(p, 2 * huge, MADV_NOHUGEPAGE))
			ktest_bail("the anonymous replacement");
		memset(p, 6, 2 * huge);
		if (sva_dev_open_mock(ctx, NULL, &dev) || sva_mm_new(ctx, &mo, &mm) || sva_bind(dev, mm, NULL, &bond))
			ktest_bail("mock, address space or bind");
		is_int(fault(ctx, dev, bond, at + huge + PG, SVA_ACCESS_READ, 1), 0, "replaced by anonymous memory: a fault");
		sva_bond_stats(bond, &st);
		is_int(st.pages_mapped, 1, "the replacement is classified anew: one page with fault_around 4096 (%llu)",
		       (unsigned long long)st.pages_mapped);
		release_all(ctx, dev, mm, bond);
	} else {
		skip(6, "no shmem transparent huge pages here (CONFIG_TRANSPARENT_HUGEPAGE, shmem_enabled)");
	}
	if (p != MAP_FAILED)
		munmap(p, 2 * huge);
	if (fd >= 0)
		close(fd);
	if (old[0] && (f = fopen(knob, "w"))) {
		fputs(old, f);
		fclose(f);
	}
}

/*
 * Fault-around never refuses a fault its own page resolves (kernel SVA maps
 * the faulting page only): a window over pages the kernel will not pin (past
 * the end of a file, a page another userfaultfd has not supplied) falls back
 * to the page alone.  Only a fault on such a page itself is refused.
 */
static void unpinnable_neighbours(void)
{
	const uint64_t at = 0x68000000ull, len = 64u << 10;
	struct reports rep = { 0 };
	struct sva_bond_ops ops = { .size = sizeof(ops), .fault_error = on_fault_error };
	struct sva_bind_opts bo = { .size = sizeof(bo), .ops = &ops, .drvdata = &rep };
	struct sva_ctx *ctx = ctx_mode(1);
	struct sva_bond_stats st = { .size = sizeof(st) };
	unsigned char back[2];
	struct sva_bond *bond;
	struct sva_dev *dev;
	struct sva_mm *mm;
	int fd = memfd_create("short", MFD_CLOEXEC);
	unsigned char *p;

	if (fd < 0 || ftruncate(fd, 5000))
		ktest_bail("memfd");
	/* 64 KiB over a 5000-byte file: pages 0 and 1 exist, 2 to 15 are past its end. */
	p = mmap((void *)(uintptr_t)at, len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED_NOREPLACE, fd, 0);
	if (p == MAP_FAILED)
		ktest_bail("mmap of the short file");
	p[0] = 0x5a;
	p[PG] = 0x5b;
	if (sva_dev_open_mock(ctx, NULL, &dev) || sva_mm_new(ctx, NULL, &mm) || sva_bind(dev, mm, &bo, &bond))
		ktest_bail("mock, address space or bind");
	is_int(fault(ctx, dev, bond, at + 100, SVA_ACCESS_READ, 1), 0, "short file: a fault on its first page");
	is_int(rep.n, 0, "short file: resolved, though the window reaches past the end of the file");
	ok(ktest_access_rw(ctx, mm->ioas_id, at, back, 1, 0) == 0 && back[0] == 0x5a,
	   "short file: the device reads the file's first page");
	is_int(fault(ctx, dev, bond, at + PG + 8, SVA_ACCESS_READ | SVA_ACCESS_WRITE, 1), 0,
	       "short file: a write fault on its second page");
	is_int(rep.n, 0, "short file: resolved too");
	is_int(fault(ctx, dev, bond, at + 3 * PG, SVA_ACCESS_READ, 1), 0, "short file: a fault past its end");
	ok(rep.n == 1 && rep.last.reason == -EPERM && rep.last.addr == at + 3 * PG,
	   "short file: refused, -EPERM (the process would get SIGBUS there): %d", rep.last.reason);
	sva_bond_stats(bond, &st);
	is_int(st.pages_mapped, 2, "short file: two pages mapped, no more");

	/* The same for a write that upgrades a read-only page: the upgrade's
	 * window reaches past the end too, and the page alone comes back. */
	sva_mm_invalidate(mm, p, len);
	if (mprotect(p, len, PROT_READ) || sva_mm_prefault(mm, p, PG) || mprotect(p, len, PROT_READ | PROT_WRITE))
		ktest_bail("a read-only page of the short file");
	is_int(fault(ctx, dev, bond, at + 8, SVA_ACCESS_WRITE, 1), 0, "short file: a write on its read-only first page");
	is_int(rep.n, 1, "short file: the upgrade resolved it, though its window reaches past the end");
	back[0] = 0x77;
	ok(ktest_access_rw(ctx, mm->ioas_id, at + 1, back, 1, 1) == 0 && p[1] == 0x77,
	   "short file: and the device's write reaches the file's page");
	release_memfd_setup(ctx, dev, mm, bond, p, len, fd);
}

/*
 * memfd_secret(2) memory: the kernel pins none of it (its pages are out of
 * the kernel's direct map), so sva_bind(3) and sva_mm_prefault(3) promise
 * -EPERM for it, a fault answered INVALID with that reason and a prefault
 * refused with it, nothing mapped.
 */
static void secret_memory(void)
{
	const uint64_t at = 0x69000000ull;
	struct reports rep = { 0 };
	struct sva_bond_ops ops = { .size = sizeof(ops), .fault_error = on_fault_error };
	struct sva_bind_opts bo = { .size = sizeof(bo), .ops = &ops, .drvdata = &rep };
	struct sva_bond_stats st = { .size = sizeof(st) };
	struct sva_ctx *ctx;
	struct sva_bond *bond;
	struct sva_dev *dev;
	struct sva_mm *mm;
	unsigned char *p;
	int fd;

#ifdef SYS_memfd_secret
	fd = (int)syscall(SYS_memfd_secret, 0);
#else
	fd = -1;
	errno = ENOSYS;
#endif
	if (fd < 0 || ftruncate(fd, 2 * PG)) {
		char why[128];

		snprintf(why, sizeof(why), "memfd_secret(2) is not available here (%s)", strerror(errno));
		skip(4, why);
		if (fd >= 0)
			close(fd);
		return;
	}
	p = mmap((void *)(uintptr_t)at, 2 * PG, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED_NOREPLACE, fd, 0);
	if (p == MAP_FAILED) {
		char why[128];

		snprintf(why, sizeof(why), "mmap of memfd_secret(2) memory failed (%s)", strerror(errno));
		skip(4, why);
		close(fd);
		return;
	}
	p[0] = 0x5a;
	ctx = ctx_mode(1);
	if (sva_dev_open_mock(ctx, NULL, &dev) || sva_mm_new(ctx, NULL, &mm) || sva_bind(dev, mm, &bo, &bond))
		ktest_bail("mock, address space or bind");
	is_int(fault(ctx, dev, bond, at + 8, SVA_ACCESS_READ, 1), 0, "memfd_secret: a fault on it is answered");
	ok(rep.n == 1 && rep.last.reason == -EPERM, "memfd_secret: refused, -EPERM (%d reports, reason %d)", rep.n,
	   rep.last.reason);
	is_int(sva_mm_prefault(mm, p + PG, PG), -EPERM, "memfd_secret: sva_mm_prefault with a device bound: -EPERM");
	sva_bond_stats(bond, &st);
	is_int(st.pages_mapped, 0, "memfd_secret: nothing mapped");
	release_memfd_setup(ctx, dev, mm, bond, p, 2 * PG, fd);
}

/*
 * A mapping the application registered with its own userfaultfd (MISSING
 * mode, not user-mode only), one page supplied, no handler running: pinning
 * a page nobody supplied would wait for the handler, so a fault there must
 * map its own page and no neighbour.  It used to pin the whole window: the
 * engine hung (thread mode: every device's faults with it), and the handler
 * got requests for 15 pages nobody touched.
 */
static void foreign_uffd_window(void)
{
	const uint64_t at = 0x6e000000ull, len = 64u << 10;
	struct sva_ctx *ctx = ctx_mode(1);
	struct sva_bond_stats st = { .size = sizeof(st) };
	struct kabi_uffdio_api api = { .api = KABI_UFFD_API };
	struct kabi_uffdio_register reg = { .range = { at, len }, .mode = 1 /* MISSING */ };
	struct kabi_uffd_msg msg;
	unsigned char *p = ktest_map_at(at, len, PROT_READ | PROT_WRITE);
	struct sva_bond *bond;
	struct sva_dev *dev;
	struct sva_mm *mm;
	int ufd = (int)syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK);

	p[0] = 0x42; /* supplied: populated before the registration */
	p[2 * PG] = p[4 * PG] = 0x43;
	if (ufd < 0 || ioctl(ufd, KABI_UFFDIO_API, &api) || ioctl(ufd, KABI_UFFDIO_REGISTER, &reg)) {
		skip(6, "cannot register a (kernel-fault) userfaultfd here");
		sva_ctx_free(ctx);
		munmap(p, len);
		return;
	}
	if (sva_dev_open_mock(ctx, NULL, &dev) || sva_mm_new(ctx, NULL, &mm) || sva_bind(dev, mm, NULL, &bond))
		ktest_bail("mock, address space or bind");
	alarm(30); /* the old code never returns from the fault */
	is_int(fault(ctx, dev, bond, at + 8, SVA_ACCESS_READ, 1), 0, "another userfaultfd's mapping: a fault on a supplied page");
	alarm(0);
	sva_bond_stats(bond, &st);
	ok(st.invalid == 0 && st.pages_mapped == 1, "resolved with its page alone (%llu pages, %llu invalid)",
	   (unsigned long long)st.pages_mapped, (unsigned long long)st.invalid);
	ok(read(ufd, &msg, sizeof(msg)) < 0 && errno == EAGAIN, "and the application's handler was asked for nothing");
	ok(ktest_access_rw(ctx, mm->ioas_id, at, &msg, 1, 0) == 0 && ((unsigned char *)&msg)[0] == 0x42,
	   "the device reads the supplied page");
	/* A window whose only small gap is an unsupplied page between two
	 * visible ones: a neighbour all the same. */
	sva_mm_invalidate(mm, p, len);
	sva_unbind(bond);
	if (sva_bind(dev, mm, NULL, &bond) || sva_mm_prefault(mm, p, PG) || sva_mm_prefault(mm, p + 2 * PG, PG))
		ktest_bail("prefaults of pages 0 and 2");
	alarm(30);
	is_int(fault(ctx, dev, bond, at + 4 * PG, SVA_ACCESS_READ, 1), 0,
	       "a fault whose window has a one-page gap at an unsupplied page");
	alarm(0);
	sva_bond_stats(bond, &st);
	ok(st.invalid == 0 && st.pages_mapped == 1 && read(ufd, &msg, sizeof(msg)) < 0 && errno == EAGAIN,
	   "resolved with its page alone, the handler asked for nothing (%llu pages)", (unsigned long long)st.pages_mapped);
	release_all(ctx, dev, mm, bond);
	close(ufd);
	munmap(p, len);
}

/*
 * mprotect() sends no event: the engine works from the mappings it read last,
 * and sva_mm_invalidate() is the documented remedy (libsva(7), "What no event
 * reports") for memory not visible yet too.  A fault used the mapping, then
 * part of it lost its read right (write-only) or its execute right; after an
 * invalidate of that part, a read or execute fault there is refused
 * (-EACCES), as the kernel's own SVA refuses it.  It was resolved from the
 * remembered rights, invalidate or not.
 */
static void rights_taken_away(void)
{
	static const struct {
		int from, to;
		uint32_t access;
		const char *what;
	} cases[] = {
		{ PROT_READ | PROT_WRITE, PROT_WRITE, SVA_ACCESS_READ, "a read of memory made write-only" },
		{ PROT_READ | PROT_WRITE | PROT_EXEC, PROT_READ | PROT_WRITE, SVA_ACCESS_READ | SVA_ACCESS_EXEC,
		  "an execute request on memory no longer executable" },
	};

	for (size_t k = 0; k < sizeof(cases) / sizeof(cases[0]); k++) {
		struct sva_mm_opts mo = { .size = sizeof(mo), .fault_around = PG };
		struct reports rep = { 0 };
		struct sva_bond_ops ops = { .size = sizeof(ops), .fault_error = on_fault_error };
		struct sva_bind_opts bo = { .size = sizeof(bo), .ops = &ops, .drvdata = &rep };
		struct sva_ctx *ctx = ctx_mode(1);
		struct sva_dev *dev = NULL;
		struct sva_mm *mm = NULL;
		struct sva_bond *bond = NULL;
		uint8_t *p = ktest_map_at(BUF_VA, 64 * PG, cases[k].from);
		int ret;

		if (sva_dev_open_mock(ctx, NULL, &dev) || sva_mm_new(ctx, &mo, &mm) || sva_bind(dev, mm, &bo, &bond))
			ktest_bail("rights taken away: setup failed");
		p[0] = 1;
		ret = fault(ctx, dev, bond, BUF_VA, cases[k].access, 1);
		ok(ret == 0 && rep.n == 0, "%s: a first fault in the mapping resolves", cases[k].what);
		ok(mprotect(p + 16 * PG, 16 * PG, cases[k].to) == 0, "  mprotect of another part of it");
		ok(sva_mm_invalidate(mm, p + 16 * PG, 16 * PG) == 0, "  sva_mm_invalidate of that part (nothing visible)");
		ret = fault(ctx, dev, bond, BUF_VA + 20 * PG, cases[k].access, 1);
		ok(ret == 0 && rep.n == 1 && rep.last.reason == -EACCES,
		   "  a fault there is refused with -EACCES (%d reports, reason %d)", rep.n, rep.last.reason);
		release_all(ctx, dev, mm, bond);
		munmap(p, 64 * PG);
	}
}

int main(void)
{
	struct sva_ctx *probe;
	struct sva_dev *dev;
	int ret;

	ktest_require_iommufd();
	probe = ktest_ctx();
	ret = sva_dev_open_mock(probe, NULL, &dev);
	ktest_skip_without_mock(ret);
	if (ret)
		ktest_bail("sva_dev_open_mock: %s", strerror(-ret));
	sva_dev_close(dev);
	sva_ctx_free(probe);
	engine_checks(1);
	engine_checks(0);
	lifecycle_checks();
	reopen_checks();
	exit_checks();
	thp_checks();
	thp_replaced_checks(false);
	thp_replaced_checks(true);
	thp_run_checks();
	hugetlb_checks();
	unpinnable_neighbours();
	secret_memory();
	hugepage_names();
	shmem_thp_checks();
	queue_fd_limit();
	fresh_memory_no_fd(1);
	fresh_memory_no_fd(0);
	foreign_uffd_window();
	rights_taken_away();
	return done_testing();
}
