/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The iommufd selftest mock device through libsva: hw info, pinned PASID and
 * RID binds checked against the kernel's own state (PASID_CHECK_HWPT), memory
 * made visible at IOVA == VA and read back through the kernel (ACCESS_RW on the
 * pinned pages, MD_CHECK_MAP), the mm_exit order, and a raw fault-queue round trip.
 */
#define _GNU_SOURCE /* memfd_create() */
#include <poll.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "ktest.h"
#include "pasid_space.h"

#define BUF_VA 0x40000000ull /* inside the mock aperture [16 MiB, 2 GiB) */
#define PG 4096u

static struct sva_dev *g_dev;
static int exit_calls, exit_saw_attached;

static void on_mm_exit(struct sva_bond *bond, void *drvdata)
{
	exit_calls++;
	/* mm_exit runs while the PASID still translates. */
	exit_saw_attached = ktest_pasid_check(g_dev, sva_bond_pasid(bond), bond->hwpt->id) == 0 &&
			    drvdata == (void *)0xd00d;
}

static void info_checks(struct sva_ctx *ctx)
{
	struct sva_mock_opts mo = { .size = sizeof(mo), .flags = SVA_MOCK_NO_PASID };
	struct sva_dev_info info = { .size = sizeof(info) };
	struct sva_dev *nopasid;
	struct sva_mm *mm;
	struct sva_bond *bond;
	struct sva_bind_opts bo = { .size = sizeof(bo), .flags = SVA_BIND_PINNED };

	is_int(sva_dev_get_info(g_dev, &info), 0, "mock: sva_dev_get_info");
	is_int(info.iommu_type, SVA_IOMMU_SELFTEST, "mock: IOMMU type is selftest");
	is_int(info.max_pasid_log2, 20, "mock: PASID width 20");
	ok(info.flags & SVA_DEV_MOCK, "mock: SVA_DEV_MOCK set");
	ok(!(info.flags & SVA_DEV_PCI), "mock: not a PCI device");
	ok(info.dev_id > 0, "mock: has an iommufd device id (%u)", info.dev_id);
	is_int(sva_dev_fd(g_dev), -ENODEV, "mock: no VFIO fd (-ENODEV)");
	ok(sva_dev_pasids(g_dev) != NULL, "mock: has its own PASID space below the global range");

	if (!ok(sva_dev_open_mock(ctx, &mo, &nopasid) == 0, "mock without PASID opens"))
		return;
	info.size = sizeof(info);
	sva_dev_get_info(nopasid, &info);
	is_int(info.max_pasid_log2, 0, "mock without PASID: width 0");
	sva_mm_new(ctx, NULL, &mm);
	is_int(sva_bind(nopasid, mm, &bo, &bond), -EOPNOTSUPP, "PASID bind on a device without PASID: -EOPNOTSUPP");
	sva_mm_free(mm);
	sva_dev_close(nopasid);
}

/*
 * A prefault that fails at its last map (two anonymous pages, then a memfd
 * page past the end of its file, which the kernel cannot pin): the maps it
 * made are undone, and sva_mm_stats() is as before, bytes_pinned_peak too.
 */
static void late_failure_changes_nothing(struct sva_ctx *ctx, struct sva_mm *mm)
{
	const uint64_t va = BUF_VA + 0x40000;
	struct sva_mm_stats before = { .size = sizeof(before) }, after = { .size = sizeof(after) };
	unsigned char *anon = ktest_map_at(va, 2 * PG, PROT_READ | PROT_WRITE), b;
	int mfd = memfd_create("ktest-mock", MFD_CLOEXEC);
	void *file = MAP_FAILED;
	int ret;

	if (mfd >= 0 && ftruncate(mfd, PG) == 0)
		file = mmap((void *)(uintptr_t)(va + 2 * PG), 2 * PG, PROT_READ | PROT_WRITE,
			    MAP_SHARED | MAP_FIXED_NOREPLACE, mfd, 0);
	if (file == MAP_FAILED)
		ktest_bail("a memfd mapped past its end: %s", strerror(errno));
	memset(anon, 1, 2 * PG);
	sva_mm_stats(mm, &before);
	ret = sva_mm_prefault(mm, anon, 4 * PG);
	sva_mm_stats(mm, &after);
	ok(ret == -EPERM || ret == -EFAULT, "a prefault failing at its last map (past a file's end) fails (%d)", ret);
	is_int(ktest_access_rw(ctx, mm->ioas_id, va, &b, 1, 0), -ENOENT, "  its first maps were undone");
	ok(before.bytes_pinned_peak == after.bytes_pinned_peak,
	   "  bytes_pinned_peak is as before (%llu, then %llu)", (unsigned long long)before.bytes_pinned_peak,
	   (unsigned long long)after.bytes_pinned_peak);
	ok(memcmp(&before, &after, sizeof(before)) == 0, "  and so is every other figure of sva_mm_stats()");
	munmap(file, 2 * PG);
	munmap(anon, 2 * PG);
	close(mfd);
}

static void prefault_checks(struct sva_ctx *ctx, struct sva_mm *mm, struct sva_bond *bond)
{
	unsigned char *buf = ktest_map_at(BUF_VA, 2 * PG, PROT_READ | PROT_WRITE);
	unsigned char *ro = ktest_map_at(BUF_VA + 0x10000, PG, PROT_READ);
	unsigned char *none = ktest_map_at(BUF_VA + 0x20000, PG, PROT_NONE);
	unsigned char back[2 * PG];
	struct kabi_iommu_test_cmd check = { .op = KABI_TEST_OP_MD_CHECK_MAP };
	int stack_var = 0;

	for (unsigned i = 0; i < 2 * PG; i++)
		buf[i] = (unsigned char)(i * 7 + 3);
	is_int(sva_mm_prefault(mm, buf, 2 * PG), 0, "prefault two pages at 0x%llx", BUF_VA);
	is_int(sva_mm_prefault(mm, buf + 100, 10), 0, "prefault of an already visible range is a no-op");
	memset(back, 0, sizeof(back));
	is_int(ktest_access_rw(ctx, mm->ioas_id, BUF_VA, back, sizeof(back), 0), 0,
	       "the kernel reads IOVA 0x%llx through the pinned pages", BUF_VA);
	ok(memcmp(back, buf, sizeof(back)) == 0, "and sees the process's bytes at IOVA == VA");
	check.id = bond->hwpt->id;
	check.check_map.iova = BUF_VA;
	check.check_map.length = 2 * PG;
	check.check_map.uptr = (uintptr_t)buf;
	is_int(ktest_cmd(ctx, &check), 0, "MD_CHECK_MAP: the mock page table maps IOVA to the process's pages");

	is_int(sva_mm_prefault(mm, ro, PG), 0, "prefault a read-only page");
	memset(back, 0xee, PG);
	ok(ktest_access_rw(ctx, mm->ioas_id, BUF_VA + 0x10000, back, PG, 1) != 0,
	   "a device write to the read-only mapping is refused");
	ok(ktest_access_rw(ctx, mm->ioas_id, BUF_VA + 0x10000, back, PG, 0) == 0, "a device read of it works");

	is_int(sva_mm_prefault(mm, none, PG), -EACCES, "prefault of PROT_NONE: -EACCES");
	is_int(sva_mm_prefault(mm, (void *)(uintptr_t)(BUF_VA + 0x30000), PG), -EFAULT,
	       "prefault of unmapped memory: -EFAULT");
	is_int(sva_mm_prefault(mm, buf, 0), -EINVAL, "prefault of 0 bytes: -EINVAL");
	is_int(sva_mm_prefault(mm, (void *)UINTPTR_MAX, 2), -EINVAL, "prefault of a wrapping range: -EINVAL");
	/* The last page of the 64-bit space is refused, the one below it is a
	 * range like any other (nothing is mapped there). */
	is_int(sva_mm_prefault(mm, (void *)(uintptr_t)(UINT64_MAX - 4095), 1), -EINVAL,
	       "prefault reaching into the last page: -EINVAL");
	is_int(sva_mm_prefault(mm, (void *)(uintptr_t)(UINT64_MAX - 8191), 4096), -EFAULT,
	       "prefault of the page below it: -EFAULT (not mapped), not -EINVAL");
	is_int((int)sva_mm_invalidate(mm, (void *)(uintptr_t)(UINT64_MAX - 8191), 4096), 0,
	       "invalidate of the page below the last: 0 bytes");
	is_int((int)sva_mm_invalidate(mm, (void *)(uintptr_t)(UINT64_MAX - 8191), 4097), -EINVAL,
	       "invalidate reaching into the last page: -EINVAL");
	is_int(sva_mm_prefault(mm, &stack_var, sizeof(stack_var)), -ERANGE,
	       "prefault of the stack (outside the mock aperture): -ERANGE");
	is_int(ktest_access_rw(ctx, mm->ioas_id, BUF_VA + 0x20000, back, PG, 0), -ENOENT,
	       "nothing was mapped by the failed prefaults");
	late_failure_changes_nothing(ctx, mm);

	is_int(sva_mm_invalidate(mm, buf + PG, 1), 2 * PG, "invalidate one byte unmaps the whole chunk (8 KiB)");
	is_int(ktest_access_rw(ctx, mm->ioas_id, BUF_VA, back, PG, 0), -ENOENT, "after invalidate the device sees nothing");
	is_int(sva_mm_invalidate(mm, buf, PG), 0, "invalidating nothing returns 0");
	is_int(sva_mm_invalidate(mm, buf, 0), -EINVAL, "invalidate of 0 bytes: -EINVAL");
	munmap(buf, 2 * PG);
	munmap(ro, PG);
	munmap(none, PG);
}

/* sva_mm_iova_ranges(): bad arguments, a short array, a forked child. */
static void mm_ranges_errors(struct sva_mm *mm)
{
	struct sva_iova_range r[1];
	size_t nr = 1;
	pid_t pid;
	int st, ret;

	is_int(sva_mm_iova_ranges(NULL, r, &nr), -EINVAL, "sva_mm_iova_ranges: NULL mm: -EINVAL");
	is_int(sva_mm_iova_ranges(mm, r, NULL), -EINVAL, "sva_mm_iova_ranges: NULL nr: -EINVAL");
	is_int(sva_mm_iova_ranges(mm, NULL, &nr), -EINVAL, "sva_mm_iova_ranges: NULL ranges with *nr 1: -EINVAL");
	nr = 0;
	ret = sva_mm_iova_ranges(mm, NULL, &nr);
	ok(ret == -ENOSPC && nr >= 1, "sva_mm_iova_ranges: *nr 0 and NULL ranges: -ENOSPC (%d) and the count (%zu)",
	   ret, nr);
	pid = fork();
	if (pid == 0) {
		nr = 1;
		if (sva_mm_iova_ranges(mm, r, &nr) != -ECHILD)
			_exit(1);
		/* Bad arguments first, as sva_dev_iova_ranges() checks them. */
		_exit(sva_mm_iova_ranges(mm, r, NULL) == -EINVAL ? 0 : 2);
	}
	st = -1;
	if (pid > 0 && waitpid(pid, &st, 0) != pid)
		st = -1;
	ok(WIFEXITED(st) && WEXITSTATUS(st) == 0,
	   "sva_mm_iova_ranges in a forked child: -ECHILD, and -EINVAL for a NULL nr (status 0x%x)", st);
}

static void bind_checks(struct sva_ctx *ctx)
{
	struct sva_bond_ops ops = { .size = sizeof(ops), .mm_exit = on_mm_exit };
	struct sva_bind_opts bo = { .size = sizeof(bo), .flags = SVA_BIND_PINNED, .drvdata = (void *)0xd00d, .ops = &ops };
	struct sva_bond *b1, *b2, *rid, *found;
	struct sva_pasid_stats st = { .size = sizeof(st) };
	struct sva_iova_range r[8];
	size_t nr = 8;
	struct sva_mm *mm;
	uint32_t p1, p2, h1;
	void *data;
	int ret;

	is_int(sva_mm_new(ctx, NULL, &mm), 0, "sva_mm_new");
	is_int(sva_dev_iova_ranges(g_dev, r, &nr), -ENOTCONN, "IOVA ranges before any attach: -ENOTCONN");
	nr = 8;
	ret = sva_mm_iova_ranges(mm, r, &nr);
	ok(ret == 0 && nr == 1 && r[0].start == 0 && r[0].last == UINT64_MAX,
	   "an address space with nothing bound: one range, all of [0, 2^64-1] (%zu ranges, last 0x%llx)", nr,
	   nr ? (unsigned long long)r[nr - 1].last : 0ull);
	is_int(sva_bind(g_dev, mm, &bo, &b1), 0, "pinned PASID bind");
	nr = 8;
	ret = sva_mm_iova_ranges(mm, r, &nr);
	ok(ret == 0 && nr >= 1 && r[0].start == KABI_MOCK_APERTURE_START &&
		   r[nr - 1].last == KABI_MOCK_APERTURE_LAST,
	   "a PASID bind narrows the address space to the mock aperture [0x%llx, 0x%llx]",
	   nr ? (unsigned long long)r[0].start : 0ull, nr ? (unsigned long long)r[nr - 1].last : 0ull);
	mm_ranges_errors(mm);
	p1 = sva_bond_pasid(b1);
	h1 = b1->hwpt->id;
	ok(p1 >= SVA_GLOBAL_PASID_MIN_DEFAULT && p1 != SVA_PASID_RID, "AUTO gave a global PASID (%u)", p1);
	is_int(ktest_pasid_check(g_dev, p1, h1), 0, "kernel: PASID %u is attached to the bond's HWPT", p1);
	ok(sva_dev_bond_lookup(g_dev, p1, &found, &data) == 0 && found == b1 && data == (void *)0xd00d,
	   "lookup by PASID finds the bond and its drvdata");
	ok(sva_bond_drvdata(b1) == (void *)0xd00d, "sva_bond_drvdata");

	is_int(sva_bind(g_dev, mm, &bo, &b2), -EEXIST, "a second PASID bind of the same address space: -EEXIST");
	bo.flags |= SVA_BIND_EXTRA_PASID;
	is_int(sva_bind(g_dev, mm, &bo, &b2), 0, "with SVA_BIND_EXTRA_PASID: a second PASID on the same address space");
	bo.flags &= ~SVA_BIND_EXTRA_PASID;
	p2 = sva_bond_pasid(b2);
	ok(p2 != p1, "with its own PASID (%u)", p2);
	is_int(b2->hwpt->id, h1, "sharing the device's HWPT on that address space");
	is_int(ktest_pasid_check(g_dev, p2, h1), 0, "kernel: PASID %u attached too", p2);

	/* The kernel's own PASID rules, straight through the backend. */
	is_int(g_dev->be->pasid_attach(g_dev, 3000, mm->ioas_id), -EINVAL, "kernel: an IOAS as a PASID's pt: -EINVAL");
	is_int(g_dev->be->pasid_attach(g_dev, p1, h1), -EBUSY, "kernel: attaching an attached PASID again: -EBUSY");

	struct sva_bind_opts ro = { .size = sizeof(ro), .flags = SVA_BIND_PINNED | SVA_BIND_RID, .drvdata = (void *)7 };
	is_int(sva_bind(g_dev, mm, &ro, &rid), 0, "pinned RID bind alongside the PASIDs");
	ok(sva_dev_bond_lookup(g_dev, SVA_PASID_RID, &found, &data) == 0 && found == rid && data == (void *)7,
	   "lookup of the RID bond");
	is_int(sva_bond_pasid(rid), SVA_PASID_RID, "a RID bond reports SVA_PASID_RID");
	is_int(sva_bind(g_dev, mm, &ro, &found), -EBUSY, "a second RID bind: -EBUSY");
	nr = 8;
	ret = sva_dev_iova_ranges(g_dev, r, &nr);
	ok(ret == 0 && nr >= 1, "IOVA ranges after the RID attach (%zu)", nr);
	ok(nr >= 1 && r[0].start == KABI_MOCK_APERTURE_START && r[nr - 1].last == KABI_MOCK_APERTURE_LAST,
	   "the mock aperture [0x%llx, 0x%llx]", nr ? (unsigned long long)r[0].start : 0ull,
	   nr ? (unsigned long long)r[nr - 1].last : 0ull);
	nr = 0;
	is_int(sva_dev_iova_ranges(g_dev, r, &nr), -ENOSPC, "a too-small range array: -ENOSPC");
	ok(nr >= 1, "and the count needed (%zu)", nr);
	is_int(ktest_pasid_check(g_dev, p1, h1), 0, "the PASIDs stay attached across the RID attach");

	prefault_checks(ctx, mm, b1);

	is_int(sva_unbind(rid), 0, "unbind the RID");
	is_int(sva_dev_bond_lookup(g_dev, SVA_PASID_RID, &found, &data), -ENOENT, "no RID bond after unbind");
	is_int(ktest_pasid_check(g_dev, p1, h1), 0, "PASIDs stay attached after the RID unbind (RID parked)");

	exit_calls = 0;
	is_int(sva_unbind(b1), 0, "unbind the first PASID");
	is_int(exit_calls, 1, "mm_exit ran exactly once");
	ok(exit_saw_attached, "mm_exit ran while the PASID was still attached, with the drvdata");
	is_int(ktest_pasid_check(g_dev, p1, 0), 0, "kernel: PASID %u is detached after unbind", p1);
	is_int(sva_dev_bond_lookup(g_dev, p1, &found, &data), -ENOENT, "lookup after unbind: -ENOENT");
	sva_pasid_stats(sva_ctx_global_pasids(ctx), &st);
	is_int(st.quarantined, 1, "the PASID is in quarantine, not back in the pool");
	is_int(sva_pasid_barrier(sva_ctx_global_pasids(ctx)), 1, "a barrier ends its grace (released after mm_exit)");

	exit_calls = 0;
	sva_mm_free(mm);
	is_int(exit_calls, 1, "sva_mm_free ran mm_exit for the remaining bond");
	is_int(ktest_pasid_check(g_dev, p2, 0), 0, "kernel: PASID %u detached by sva_mm_free", p2);
}

/*
 * A forked child shares the parent's descriptors: every call that would touch
 * kernel state refuses with -ECHILD, and releasing objects frees memory only.
 */
static void fork_checks(struct sva_ctx *ctx)
{
	struct sva_bind_opts bo = { .size = sizeof(bo), .flags = SVA_BIND_PINNED };
	struct sva_bond *bond, *other;
	struct sva_iova_range ranges[8];
	size_t nr = 8;
	struct sva_mm *mm, *mm2;
	int status = -1, st;
	uint32_t pasid, hwpt;
	pid_t pid;

	sva_mm_new(ctx, NULL, &mm);
	if (!is_int(sva_bind(g_dev, mm, &bo, &bond), 0, "fork: parent binds a PASID"))
		return;
	pasid = sva_bond_pasid(bond);
	hwpt = bond->hwpt->id;
	is_int(sva_dev_iova_ranges(g_dev, ranges, &nr), 0, "fork: the parent reads the device's IOVA ranges");
	nr = 8;
	pid = fork();
	if (pid == 0) {
		/* Exit status bits name the failed checks; the parent reports them. */
		st = 0;
		if (sva_bind(g_dev, mm, &bo, &other) != -ECHILD)
			st |= 1;
		if (sva_mm_prefault(mm, &st, sizeof(st)) != -ECHILD)
			st |= 2;
		if (sva_unbind(bond) != -ECHILD)
			st |= 4;
		if (sva_mm_new(ctx, NULL, &mm2) != -ECHILD)
			st |= 8;
		if (sva_dev_open_mock(ctx, NULL, &g_dev) != -ECHILD)
			st |= 16;
		/* Attached (the PASID bond parked the RID): only the fork check refuses. */
		if (sva_dev_iova_ranges(g_dev, ranges, &nr) != -ECHILD)
			st |= 32;
		/* Releasing in the child must leave the parent's objects alone. */
		sva_mm_free(mm);
		sva_dev_close(g_dev);
		sva_ctx_free(ctx);
		_exit(st);
	}
	waitpid(pid, &status, 0);
	ok(WIFEXITED(status), "fork: the child exited normally");
	is_int(WEXITSTATUS(status) & 1, 0, "fork: sva_bind in the child: -ECHILD");
	is_int(WEXITSTATUS(status) & 2, 0, "fork: sva_mm_prefault in the child: -ECHILD");
	is_int(WEXITSTATUS(status) & 4, 0, "fork: sva_unbind in the child: -ECHILD");
	is_int(WEXITSTATUS(status) & 8, 0, "fork: sva_mm_new in the child: -ECHILD");
	is_int(WEXITSTATUS(status) & 16, 0, "fork: sva_dev_open_mock in the child: -ECHILD");
	is_int(WEXITSTATUS(status) & 32, 0, "fork: sva_dev_iova_ranges in the child: -ECHILD");
	is_int(ktest_pasid_check(g_dev, pasid, hwpt), 0,
	       "fork: the parent's PASID is still attached after the child freed everything");
	is_int(sva_unbind(bond), 0, "fork: the parent unbinds normally");
	sva_mm_free(mm);
}

/* The fault queue by hand: trigger, read one record, answer, reject a stale cookie. */
static void fault_queue_roundtrip(struct sva_ctx *ctx)
{
	struct kabi_iommu_hwpt_pgfault rec;
	struct kabi_iommu_hwpt_page_response resp;
	struct sva_bind_opts bo = { .size = sizeof(bo), .flags = SVA_BIND_PINNED | SVA_BIND_RID };
	struct pollfd pfd;
	struct sva_bond *rid;
	struct sva_mm *mm;
	uint32_t fault_id, hwpt;
	int fault_fd;
	const uint32_t pasid = 2048;

	sva_mm_new(ctx, NULL, &mm);
	is_int(sva_bind(g_dev, mm, &bo, &rid), 0, "RID bind (puts the RID on a PASID-compatible HWPT)");
	is_int(sva_iommufd_fault_alloc(ctx->fd, &fault_id, &fault_fd), 0, "FAULT_QUEUE_ALLOC");
	is_int(sva_iommufd_hwpt_alloc(ctx->fd, g_dev->info.dev_id, mm->ioas_id,
				      KABI_IOMMU_HWPT_FAULT_ID_VALID | KABI_IOMMU_HWPT_ALLOC_PASID, fault_id, &hwpt),
	       0, "HWPT_ALLOC(FAULT_ID_VALID|ALLOC_PASID) on the paging IOAS");
	is_int(g_dev->be->pasid_attach(g_dev, pasid, hwpt), 0, "attach the IOPF HWPT to PASID %u", pasid);
	pfd = (struct pollfd){ .fd = fault_fd, .events = POLLIN };
	is_int(poll(&pfd, 1, 0), 0, "fault queue is empty before a fault");
	is_int(sva_dev_inject_fault(g_dev, pasid, BUF_VA, SVA_ACCESS_READ | SVA_ACCESS_WRITE, 7), 0, "inject a fault");
	is_int(poll(&pfd, 1, 2000), 1, "poll wakes for it");
	is_int(read(fault_fd, &rec, sizeof(rec)), (long)sizeof(rec), "read one 40-byte record");
	is_int(rec.flags & KABI_IOMMU_PGFAULT_FLAGS_KNOWN,
	       KABI_IOMMU_PGFAULT_FLAGS_PASID_VALID | KABI_IOMMU_PGFAULT_FLAGS_LAST_PAGE, "flags PASID_VALID|LAST_PAGE");
	is_int(rec.pasid, pasid, "record PASID");
	is_int(rec.grpid, 7, "record group id");
	is_int(rec.addr, BUF_VA, "record address");
	is_int(rec.perm, KABI_IOMMU_PGFAULT_PERM_READ | KABI_IOMMU_PGFAULT_PERM_WRITE, "record access");
	is_int(rec.dev_id, g_dev->info.dev_id, "record device id");
	ok(rec.cookie != 0, "record has a cookie (%u)", rec.cookie);
	is_int(read(fault_fd, &rec, sizeof(rec) - 1), -1, "a read not a multiple of 40 bytes fails");
	resp = (struct kabi_iommu_hwpt_page_response){ .cookie = rec.cookie, .code = KABI_IOMMUFD_PAGE_RESP_SUCCESS };
	is_int(write(fault_fd, &resp, sizeof(resp)), (long)sizeof(resp), "answer the group once");
	errno = 0;
	ok(write(fault_fd, &resp, sizeof(resp)) < 0 && errno == EINVAL, "a stale cookie is rejected with EINVAL");
	is_int(read(fault_fd, &rec, sizeof(rec)), 0, "queue empty again (read never blocks)");
	is_int(g_dev->be->pasid_detach(g_dev, pasid), 0, "detach");
	is_int(ktest_pasid_check(g_dev, pasid, 0), 0, "kernel: detached");
	is_int(sva_iommufd_destroy(ctx->fd, hwpt), 0, "destroy the IOPF HWPT");
	close(fault_fd);
	is_int(sva_iommufd_destroy(ctx->fd, fault_id), 0, "destroy the fault queue after its fd is closed");
	sva_unbind(rid);
	sva_mm_free(mm);
}

/*
 * A first bind the kernel refuses because of memory already visible: outside
 * the mock's aperture (-EADDRINUSE), or prefaulted into an untracked address
 * space and unmapped since (-EFAULT).  sva_bind(3) promises a line that says
 * what to do: withdraw it with sva_mm_invalidate().
 */
static void first_bind_refusals(void)
{
	static struct ktest_line error_line = { .level = SVA_LOG_ERROR };
	struct sva_ctx_opts co = { .size = sizeof(co), .log_fn = ktest_keep_line, .log_arg = &error_line };
	struct sva_mm_opts uo = { .size = sizeof(uo), .flags = SVA_MM_UNTRACKED };
	struct sva_bond *bond = (struct sva_bond *)0x1;
	struct sva_dev_info info = { .size = sizeof(info) };
	struct sva_ctx *ctx;
	struct sva_dev *dev;
	struct sva_mm *mm, *umm;
	const uint64_t outside = 0xe00000ull; /* below the mock aperture (16 MiB), where ASan and TSan let a test map */
	void *hi = ktest_map_at(outside, PG, PROT_READ | PROT_WRITE), *lo;
	int ret;

	if (!ok(sva_ctx_new(&co, &ctx) == 0 && sva_dev_open_mock(ctx, NULL, &dev) == 0 && hi,
		"first-bind refusals: setup"))
		return;
	ret = sva_mm_new(ctx, NULL, &mm);
	ok(!ret && sva_mm_prefault(mm, hi, PG) == 0, "memory visible outside the aperture before any bind");
	error_line.text[0] = '\0';
	is_int(sva_bind(dev, mm, NULL, &bond), -EADDRINUSE, "the first bind: -EADDRINUSE");
	ok(bond == (struct sva_bond *)0x1, "  *out untouched");
	ok(strstr(error_line.text, "sva_mm_invalidate"), "  the line says what to do: %s", error_line.text);
	ok(sva_dev_get_info(dev, &info) == 0 && !(info.flags & SVA_DEV_ATTACHED), "  the device is not attached");
	/* The RID parking the bind made first is taken back whole: its HWPT used
	 * to stay in the iommufd until sva_dev_close(). */
	ok(dev->park_hwpt == 0, "  and its parking HWPT is destroyed (%u)", dev->park_hwpt);
	is_int((int)sva_mm_invalidate(mm, hi, PG), PG, "  withdrawn with sva_mm_invalidate (one page)");
	if (is_int(sva_bind(dev, mm, NULL, &bond), 0, "  then bound"))
		sva_unbind(bond);
	sva_mm_free(mm);

	lo = ktest_map_at(BUF_VA + (128u << 20), PG, PROT_READ | PROT_WRITE);
	ret = sva_mm_new(ctx, &uo, &umm);
	ok(!ret && lo && sva_mm_prefault(umm, lo, PG) == 0 && munmap(lo, PG) == 0,
	   "prefaulted into an untracked address space, then unmapped");
	error_line.text[0] = '\0';
	bond = (struct sva_bond *)0x1;
	is_int(sva_bind(dev, umm, NULL, &bond), -EFAULT, "the first bind: -EFAULT");
	ok(strstr(error_line.text, "sva_mm_invalidate"), "  the line says what to do: %s", error_line.text);
	is_int((int)sva_mm_invalidate(umm, lo, PG), PG, "  withdrawn with sva_mm_invalidate (one page)");
	if (is_int(sva_bind(dev, umm, NULL, &bond), 0, "  then bound"))
		sva_unbind(bond);
	sva_mm_free(umm);

	/* Memory the kernel cannot pin, prefaulted before the first bind (the
	 * kernel pins nothing then): the line names that cause too, where the
	 * old one said only "no longer mapped or readable", which it still is. */
	lo = ktest_map_at(BUF_VA + (129u << 20), PG, PROT_READ | PROT_WRITE);
	ret = sva_mm_new(ctx, NULL, &mm);
	if (!lo || madvise(lo, PG, 102 /* MADV_GUARD_INSTALL */) != 0) {
		skip(4, "MADV_GUARD_INSTALL refused (a kernel before 6.13)");
	} else {
		ok(!ret && sva_mm_prefault(mm, lo, PG) == 0, "a guard page prefaulted before any bind is accepted");
		error_line.text[0] = '\0';
		is_int(sva_bind(dev, mm, NULL, &bond), -EFAULT, "the first bind: -EFAULT");
		ok(strstr(error_line.text, "cannot pin") && strstr(error_line.text, "sva_mm_invalidate"),
		   "  the line names memory the kernel cannot pin: %s", error_line.text);
		is_int((int)sva_mm_invalidate(mm, lo, PG), PG, "  withdrawn with sva_mm_invalidate (one page)");
	}
	sva_mm_free(mm);
	if (lo)
		munmap(lo, PG);
	munmap(hi, PG);
	sva_dev_close(dev);
	sva_ctx_free(ctx);
}

/*
 * Every line about a device names it one way: "device N (what)", N its iommufd
 * device ID and what its cdev path, PCI address or "mock".  Lines used to say
 * "device N" in the bind and unbind paths, the cdev path or "mock device" in
 * the PASID paths, and the backend and PCI address at open, so one device's
 * lines could not be told apart from another's or matched to each other.
 * The PASID space's prefix used to be made before the device was marked
 * SVA_DEV_MOCK, and said "device".
 */
static struct {
	char want[64];
	int lines, named;
	char stray[1024];
} dev_lines;

static void count_dev_line(void *arg, enum sva_log_level level, const char *msg)
{
	(void)arg;
	(void)level;
	/* Every line that speaks of a device (but the context's own lines,
	 * none of which name one here) must name it the one way. */
	if (!strstr(msg, "device"))
		return;
	dev_lines.lines++;
	if (strstr(msg, dev_lines.want))
		dev_lines.named++;
	else
		snprintf(dev_lines.stray, sizeof(dev_lines.stray), "%s", msg);
}

static void device_named_one_way(void)
{
	struct sva_ctx_opts co = { .size = sizeof(co), .log_fn = count_dev_line, .log_level = SVA_LOG_DEBUG };
	struct sva_bind_opts far = { .size = sizeof(far), .flags = SVA_BIND_PASID, .pasid = 1u << 20 };
	struct sva_dev_info info = { .size = sizeof(info) };
	struct sva_bond *bond = NULL;
	struct sva_ctx *ctx;
	struct sva_dev *dev;
	struct sva_mm *mm;

	dev_lines.want[0] = '\0';
	if (!ok(sva_ctx_new(&co, &ctx) == 0 && sva_dev_open_mock(ctx, NULL, &dev) == 0 &&
		    sva_dev_get_info(dev, &info) == 0 && sva_mm_new(ctx, NULL, &mm) == 0,
		"device names: setup"))
		return;
	snprintf(dev_lines.want, sizeof(dev_lines.want), "device %u (mock)", info.dev_id);
	dev_lines.lines = dev_lines.named = 0;
	dev_lines.stray[0] = '\0';
	is_int(sva_dev_pasid_free(dev, 7), -ENOENT, "free of an own PASID never allocated: -ENOENT");
	ok(sva_bind(dev, mm, &far, &bond) < 0, "a bind under a PASID beyond the mock's width fails");
	is_int(sva_bind(dev, mm, NULL, &bond), 0, "a bind");
	is_int(sva_unbind(bond), 0, "its unbind");
	sva_dev_close(dev);
	ok(dev_lines.lines >= 5, "  the PASID space, the refusal, bind, unbind and close each said a line (%d)",
	   dev_lines.lines);
	is_int(dev_lines.named, dev_lines.lines, "  each names \"%s\"%s%s", dev_lines.want,
	       dev_lines.stray[0] ? "; not: " : "", dev_lines.stray);
	sva_mm_free(mm);
	sva_ctx_free(ctx);
}

/*
 * sva_pasid_space_free() of a space the context or the device owns
 * (sva_dev_pasids(3): "the context and the device own them and free them
 * with themselves") is refused with an error line and frees nothing.  It used
 * to free it silently: the owner went on using freed memory, another space
 * got the same address, and the owner's release freed it again.
 */
static void owned_space_free(void)
{
	static struct ktest_line line = { .match = "sva_pasid_space_free", .level = SVA_LOG_ERROR };
	struct sva_ctx_opts co = { .size = sizeof(co), .log_fn = ktest_keep_line, .log_arg = &line };
	struct sva_pasid_space *spaces[2], *mine;
	const char *names[2] = { "global", "device" };
	struct sva_ctx *ctx;
	struct sva_dev *dev;

	if (!ok(sva_ctx_new(&co, &ctx) == 0 && sva_dev_open_mock(ctx, NULL, &dev) == 0, "owned space free: setup"))
		return;
	spaces[0] = sva_ctx_global_pasids(ctx);
	spaces[1] = sva_dev_pasids(dev);
	for (int i = 0; i < 2; i++) {
		uint32_t pasid = 0;
		void *data = NULL;

		line.text[0] = '\0';
		sva_pasid_space_free(spaces[i]);
		ok(strstr(line.text, "not freed") != NULL, "sva_pasid_space_free of the %s space: refused, one line: %s",
		   names[i], line.text);
		/* Still the owner's, whole: a standalone space made now is another one. */
		if (sva_pasid_space_new(NULL, &mine))
			ktest_bail("sva_pasid_space_new failed");
		ok(mine != spaces[i], "  a new standalone space does not get its memory");
		is_int(sva_pasid_alloc(spaces[i], (void *)0x5a, &pasid), 0, "  the %s space still allocates", names[i]);
		ok(sva_pasid_lookup(spaces[i], pasid, &data) == 0 && data == (void *)0x5a,
		   "  and finds its value's drvdata");
		is_int(sva_pasid_free(spaces[i], pasid), 0, "  and frees it");
		sva_pasid_space_free(mine);
	}
	/* A refused free above left the spaces whole for their owners: closing
	 * and freeing refuses nothing (no error line) and releases the context
	 * (its iommufd closed; a double free is ASan's to report). */
	line.match = NULL;
	line.text[0] = '\0';
	int iommufd = sva_ctx_fd(ctx);
	struct stat before, after;
	bool had = fstat(iommufd, &before) == 0;

	sva_dev_close(dev);
	sva_ctx_free(ctx);
	ok(had && line.text[0] == '\0' &&
	       (fstat(iommufd, &after) != 0 || after.st_ino != before.st_ino || after.st_dev != before.st_dev),
	   "the context and device then free their spaces, without an error line (%s), the iommufd closed",
	   line.text);
}

int main(void)
{
	struct sva_ctx *ctx;
	struct sva_dev *other;
	int ret;

	ktest_require_iommufd();
	ctx = ktest_ctx();
	ret = sva_dev_open_mock(ctx, NULL, &g_dev);
	ktest_skip_without_mock(ret);
	if (!is_int(ret, 0, "sva_dev_open_mock"))
		return done_testing();
	info_checks(ctx);
	bind_checks(ctx);
	fault_queue_roundtrip(ctx);
	fork_checks(ctx);
	first_bind_refusals();
	device_named_one_way();
	owned_space_free();
	sva_dev_close(g_dev);

	/* Any release order: the context outlives its last device. */
	is_int(sva_dev_open_mock(ctx, NULL, &other), 0, "open another mock");
	int iommufd = sva_ctx_fd(ctx);
	struct stat before, st;

	if (fstat(iommufd, &before))
		ktest_bail("fstat of the context's iommufd: %s", strerror(errno));
	sva_ctx_free(ctx);
	ok(sva_dev_get_info(other, &(struct sva_dev_info){ .size = sizeof(struct sva_dev_info) }) == 0,
	   "a device still works after sva_ctx_free");
	ok(fstat(iommufd, &st) == 0 && st.st_ino == before.st_ino && st.st_dev == before.st_dev,
	   "  its context's iommufd still open then");
	sva_dev_close(other);
	/* A descriptor number may be reused: the same file's, it would still be open. */
	ok(fstat(iommufd, &st) != 0 || st.st_ino != before.st_ino || st.st_dev != before.st_dev,
	   "closing the last device after the context frees both: the iommufd closed");
	return done_testing();
}
