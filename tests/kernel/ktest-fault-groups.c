/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Page-request groups of several records.  The selftest mock can only raise
 * single-record groups (TRIGGER_IOPF always sets LAST_PAGE), so here the
 * fault engine reads a file instead of the kernel's fault queue: the test
 * writes the records a PRI-capable device would send, with the real device
 * id and PASID of a bond on the mock, and reads back the answers the engine
 * writes after them.  (A file, not a socket pair: the VM kernel has no
 * CONFIG_UNIX.  Like the queue, it reads 0 when nothing is left.)  Resolution itself is real: the pages are mapped into the kernel's
 * IOAS and checked through its access path.
 *
 * Checked: one answer per group, carrying the group's cookie, all answers in
 * one write; a group is SUCCESS only if every record resolved; after a record
 * fails, the rest of its group is answered without being mapped (sticky) and
 * each is reported once; the next group starts clean; the bond's counters.
 */
#include <fcntl.h>

#include "ktest.h"

#define BUF_VA 0x60000000ull /* inside the mock aperture [16 MiB, 2 GiB) */
#define BUF_LEN 0x80000u
#define WIN 0x10000u	     /* the fault-around cap: no window is larger */
#define PG 4096u

struct reports {
	int n;
	struct sva_fault_report r[8];
};

static void on_fault_error(struct sva_bond *bond, const struct sva_fault_report *r, void *drvdata)
{
	struct reports *rep = drvdata;

	(void)bond;
	if (rep->n < 8)
		rep->r[rep->n] = *r;
	rep->n++;
}

static struct kabi_iommu_hwpt_pgfault rec(struct sva_dev *dev, struct sva_bond *bond, uint64_t addr, uint32_t cookie,
					  bool last)
{
	return (struct kabi_iommu_hwpt_pgfault){
		.flags = KABI_IOMMU_PGFAULT_FLAGS_PASID_VALID | (last ? KABI_IOMMU_PGFAULT_FLAGS_LAST_PAGE : 0),
		.dev_id = dev->info.dev_id,
		.pasid = sva_bond_pasid(bond),
		.grpid = cookie & 0x1ff,
		.perm = KABI_IOMMU_PGFAULT_PERM_READ | KABI_IOMMU_PGFAULT_PERM_WRITE,
		.addr = addr,
		.length = PG,
		.cookie = cookie, /* iommufd gives every record of a group its cookie */
	};
}

/* 0 if the kernel reads the process's bytes at IOVA == VA, else -errno. */
static int visible(struct sva_ctx *ctx, struct sva_mm *mm, uint64_t va)
{
	unsigned char back[PG];
	int ret = ktest_access_rw(ctx, mm->ioas_id, va, back, PG, 0);

	if (ret)
		return ret;
	return memcmp(back, (void *)(uintptr_t)va, PG) ? -EIO : 0;
}

int main(void)
{
	struct sva_ctx_opts co = { .size = sizeof(co), .pasid_grace_ns = UINT64_MAX, .flags = SVA_CTX_FAULT_POLL };
	struct reports rep = { 0 };
	struct sva_bond_ops ops = { .size = sizeof(ops), .fault_error = on_fault_error };
	struct sva_bind_opts bo = { .size = sizeof(bo), .drvdata = &rep, .ops = &ops };
	struct sva_mm_opts mo = { .size = sizeof(mo), .fault_around = WIN };
	struct sva_bond_stats st = { .size = sizeof(st) };
	struct kabi_iommu_hwpt_page_response resp[8];
	struct kabi_iommu_hwpt_pgfault recs[7];
	struct sva_ctx *ctx = NULL;
	struct sva_bond *bond;
	struct sva_dev *dev;
	struct sva_mm *mm;
	char path[] = "fault-groups.XXXXXX";
	int fd, real_fd, ret;
	unsigned char *buf;
	ssize_t got;

	ktest_require_iommufd();
	if (sva_ctx_new(&co, &ctx))
		ktest_bail("sva_ctx_new failed");
	ret = sva_dev_open_mock(ctx, NULL, &dev);
	ktest_skip_without_mock(ret);
	if (ret)
		ktest_bail("sva_dev_open_mock: %s", strerror(-ret));
	/* Capped at WIN, so every record below maps only its own window, whatever
	 * adaptive fault-around makes of their order. */
	if (sva_mm_new(ctx, &mo, &mm) || sva_bind(dev, mm, &bo, &bond))
		ktest_bail("cannot bind the mock");
	real_fd = sva_ctx_fault_fd(ctx);
	if (real_fd < 0)
		ktest_bail("no fault queue: %s", strerror(-real_fd));
	fd = mkstemp(path);
	if (fd < 0)
		ktest_bail("mkstemp in the current directory: %s", strerror(errno));
	unlink(path);

	buf = ktest_map_at(BUF_VA, BUF_LEN, PROT_READ | PROT_WRITE);
	for (unsigned i = 0; i < BUF_LEN; i++)
		buf[i] = (unsigned char)(i * 7 + 3);
	munmap(buf + 3 * WIN, WIN); /* a hole: faults there fail with -EFAULT */

	/* Three groups in one batch: A all good, B fails in the middle, D good.
	 * Each record sits in its own fault-around window, so each maps apart. */
	recs[0] = rec(dev, bond, BUF_VA + 0 * WIN + 8, 0x100, false);
	recs[1] = rec(dev, bond, BUF_VA + 1 * WIN, 0x100, false);
	recs[2] = rec(dev, bond, BUF_VA + 2 * WIN + 100, 0x100, true);
	recs[3] = rec(dev, bond, BUF_VA + 4 * WIN, 0x200, false);
	recs[4] = rec(dev, bond, BUF_VA + 3 * WIN + 16, 0x200, false); /* the hole */
	recs[5] = rec(dev, bond, BUF_VA + 5 * WIN, 0x200, true);
	recs[6] = rec(dev, bond, BUF_VA + 6 * WIN, 0x300, true);
	ok(write(fd, recs, sizeof(recs)) == (ssize_t)sizeof(recs), "queue 7 records in 3 groups (3, 3, 1)");
	lseek(fd, 0, SEEK_SET);

	ktest_queue_use(ctx, fd);
	is_int(sva_ctx_process_faults(ctx, 64), 7, "the engine handles all 7 records in one call");
	ktest_queue_use(ctx, real_fd);

	got = pread(fd, resp, sizeof(resp), sizeof(recs));
	is_int(got, (ssize_t)(3 * sizeof(resp[0])), "three answers, one per group (%zd bytes)", got);
	if (got == (ssize_t)(3 * sizeof(resp[0]))) {
		ok(resp[0].cookie == 0x100 && resp[0].code == KABI_IOMMUFD_PAGE_RESP_SUCCESS,
		   "group A (every record resolves): SUCCESS with its cookie");
		ok(resp[1].cookie == 0x200 && resp[1].code == KABI_IOMMUFD_PAGE_RESP_INVALID,
		   "group B (its second record fails): INVALID with its cookie");
		ok(resp[2].cookie == 0x300 && resp[2].code == KABI_IOMMUFD_PAGE_RESP_SUCCESS,
		   "group D after it starts clean: SUCCESS");
	} else {
		skip(3, "the answers did not come");
	}

	ok(visible(ctx, mm, BUF_VA) == 0 && visible(ctx, mm, BUF_VA + 1 * WIN) == 0 &&
		   visible(ctx, mm, BUF_VA + 2 * WIN) == 0,
	   "group A: all three pages are mapped at IOVA == VA");
	is_int(visible(ctx, mm, BUF_VA + 4 * WIN), 0, "group B: the record before the failure was resolved");
	is_int(visible(ctx, mm, BUF_VA + 5 * WIN), -ENOENT, "group B: the record after it was not mapped (sticky)");
	is_int(visible(ctx, mm, BUF_VA + 6 * WIN), 0, "group D: mapped");

	is_int(rep.n, 2, "fault_error: once for each record of B answered INVALID");
	ok(rep.n >= 2 && rep.r[0].addr == BUF_VA + 3 * WIN + 16 && rep.r[0].reason == -EFAULT &&
		   rep.r[1].addr == BUF_VA + 5 * WIN && rep.r[1].reason == -EFAULT,
	   "the failing record and the one after it, both with the group's reason -EFAULT");
	sva_bond_stats(bond, &st);
	is_int(st.groups, 3, "stats: 3 groups answered");
	is_int(st.faults, 7, "stats: 7 records handled");
	is_int(st.invalid, 2, "stats: 2 records answered INVALID");

	/*
	 * A faulty device's group naming two PASIDs: a record under a second
	 * bond's PASID, then the group's last under this bond's.  The group is
	 * this bond's (the kernel answers it as the last record's): INVALID
	 * whole, nothing resolved for either address space, both records
	 * reported and counted here with -EPROTO.
	 */
	{
		struct sva_bond_stats st2 = { .size = sizeof(st2) }, st0 = { .size = sizeof(st0) };
		struct reports rep2 = { 0 };
		struct sva_bind_opts bo2 = { .size = sizeof(bo2), .drvdata = &rep2, .ops = &ops,
					     .flags = SVA_BIND_EXTRA_PASID };
		struct sva_bond *other;
		struct kabi_iommu_hwpt_pgfault mix[2];
		int rep0 = rep.n;

		if (sva_bind(dev, mm, &bo2, &other))
			ktest_bail("a second bond");
		sva_bond_stats(bond, &st0);
		if (ftruncate(fd, 0))
			ktest_bail("ftruncate");
		mix[0] = rec(dev, other, BUF_VA + 8 * WIN, 0x400, false);
		mix[1] = rec(dev, bond, BUF_VA + 9 * WIN, 0x400, true);
		ok(pwrite(fd, mix, sizeof(mix), 0) == (ssize_t)sizeof(mix), "a group of 2 records under two PASIDs");
		lseek(fd, 0, SEEK_SET);
		ktest_queue_use(ctx, fd);
		is_int(sva_ctx_process_faults(ctx, 64), 2, "  both records handled");
		ktest_queue_use(ctx, real_fd);
		got = pread(fd, resp, sizeof(resp), sizeof(mix));
		ok(got == (ssize_t)sizeof(resp[0]) && resp[0].cookie == 0x400 &&
			   resp[0].code == KABI_IOMMUFD_PAGE_RESP_INVALID,
		   "  one answer: INVALID, with the group's cookie (%zd bytes)", got);
		is_int(visible(ctx, mm, BUF_VA + 8 * WIN), -ENOENT, "  the stray record's page was not mapped");
		is_int(visible(ctx, mm, BUF_VA + 9 * WIN), -ENOENT, "  nor the last record's");
		sva_bond_stats(bond, &st);
		sva_bond_stats(other, &st2);
		ok(st.faults - st0.faults == 2 && st.invalid - st0.invalid == 2 && st.groups - st0.groups == 1 &&
			   st2.faults == 0,
		   "  counted on the group's bond (2 faults, 2 invalid, 1 group), none on the other");
		ok(rep.n - rep0 == 2 && rep.r[rep0 < 8 ? rep0 : 7].reason == -EPROTO && rep2.n == 0,
		   "  both reported to the group's bond with -EPROTO, nothing to the other (%d, %d)", rep.n - rep0,
		   rep2.n);
		sva_unbind(other);
	}

	/* The real queue is back in place and still works. */
	is_int(sva_dev_inject_fault(dev, sva_bond_pasid(bond), BUF_VA + 7 * WIN, SVA_ACCESS_READ, 0), 0,
	       "a real fault from the mock after the swap back");
	is_int(sva_ctx_process_faults(ctx, 8), 1, "is handled from the kernel's queue");
	is_int(visible(ctx, mm, BUF_VA + 7 * WIN), 0, "and mapped");

	close(fd);
	sva_unbind(bond);
	munmap(buf, BUF_LEN);
	sva_mm_free(mm);
	sva_dev_close(dev);
	sva_ctx_free(ctx);
	return done_testing();
}
