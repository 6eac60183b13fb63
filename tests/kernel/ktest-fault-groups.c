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
 *
 * And the odd records (libsva(7), The fault engine and Logging;
 * sva_ctx_process_faults(3)): records no bond claims are answered INVALID,
 * logged at warning level naming the device ("device N (mock)", or "device N
 * (unknown)" for one the context does not know, a stray record by its own
 * device, its line blaming its group of several devices or PASIDs, not its own
 * PASID), at most 10 lines a second for the context, apart from the bond's
 * own limit, and counted on no bond; a group of more than 4096 records
 * (through a read hook that hands out whole groups, as the kernel does) is
 * answered INVALID once, unresolved, counted only in the return value, with
 * one line that carries the count held back from the lines of no bond (the
 * limit they share).
 */
#include <fcntl.h>
#include <pthread.h>

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

/* ------------------------------------------------ the context's own lines */

/* What the context logged while capturing: lines at warning level and above
 * (and at info), the text of every line.  Under cap_lock: the callback runs
 * in whichever thread logs (a fault thread's batch, a sva_ctx_process_faults()
 * caller), while the test reads and resets it. */
static pthread_mutex_t cap_lock = PTHREAD_MUTEX_INITIALIZER;
static struct {
	int warn, info;
	char text[16384];
} cap;

static void cap_fn(void *arg, enum sva_log_level level, const char *msg)
{
	size_t used;

	(void)arg;
	pthread_mutex_lock(&cap_lock);
	used = strlen(cap.text);
	if (level == SVA_LOG_WARN)
		cap.warn++;
	else if (level == SVA_LOG_INFO)
		cap.info++;
	if (used + strlen(msg) + 2 < sizeof(cap.text)) {
		strcat(cap.text, msg);
		strcat(cap.text, "\n");
	}
	pthread_mutex_unlock(&cap_lock);
}

static void cap_reset(void)
{
	pthread_mutex_lock(&cap_lock);
	memset(&cap, 0, sizeof(cap));
	pthread_mutex_unlock(&cap_lock);
}

/* Lines captured at level (SVA_LOG_WARN or SVA_LOG_INFO) so far. */
static int cap_count(enum sva_log_level level)
{
	int n;

	pthread_mutex_lock(&cap_lock);
	n = level == SVA_LOG_WARN ? cap.warn : cap.info;
	pthread_mutex_unlock(&cap_lock);
	return n;
}

/* The first captured line holding `what`, into out ("" if none). */
static void cap_line(const char *what, char *out, size_t len)
{
	const char *at, *start, *end;

	out[0] = 0;
	pthread_mutex_lock(&cap_lock);
	at = strstr(cap.text, what);
	if (at) {
		for (start = at; start > cap.text && start[-1] != '\n'; start--)
			;
		end = strchr(at, '\n');
		snprintf(out, len, "%.*s", (int)(end ? end - start : (ptrdiff_t)strlen(start)), start);
	}
	pthread_mutex_unlock(&cap_lock);
}

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/*
 * A stand-in for the kernel's queue that hands out whole groups only, as
 * iommufd does (a regular file would hand out part of a group), and fails
 * with EINVAL when the first group does not fit (Linux 7.3): the only way to
 * give the engine a group larger than it ever resolves, which no IOMMU
 * raises.  Its answers go to the file the engine writes into.
 */
extern ssize_t (*sva_test_fault_read)(int fd, void *buf, size_t len);

#define BIG 5000u /* over the 4096 records a group is ever resolved with */
static struct kabi_iommu_hwpt_pgfault big_q[BIG + 1];
static size_t big_groups[2] = { BIG, 1 }, big_next;

static ssize_t big_read(int fd, void *buf, size_t len)
{
	size_t done = 0, first = 0;

	(void)fd;
	for (size_t g = 0; g < big_next; g++)
		first += big_groups[g];
	while (big_next < 2 && (done + big_groups[big_next]) * sizeof(big_q[0]) <= len) {
		memcpy((char *)buf + done * sizeof(big_q[0]), &big_q[first + done], big_groups[big_next] * sizeof(big_q[0]));
		done += big_groups[big_next++];
	}
	if (!done && big_next < 2) {
		errno = EINVAL;
		return -1;
	}
	return (ssize_t)(done * sizeof(big_q[0]));
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

	/*
	 * Faults no bond claims (libsva(7), The fault engine and Logging;
	 * sva_ctx_process_faults(3)): a record of a device the context does not
	 * know, then records of the mock under a PASID nothing is bound to.
	 * Each is answered INVALID and logged at warning level, naming the
	 * device "device N (what)" where the context knows it; at most 10
	 * lines a second for the context, apart from each bond's own 10 (a
	 * refused fault of the bond in the same batch still logs its line);
	 * nothing is counted on or reported to a bond.
	 */
	enum { UN = 30 };
	uint32_t free_pasid = sva_bond_pasid(bond) ^ 0x40000u;
	struct sva_bond_stats u0 = { .size = sizeof(u0) }, u1 = { .size = sizeof(u1) };
	uint64_t el_un = 0;
	int rep_un = rep.n;
	char line[512], want[256];
	{
		struct kabi_iommu_hwpt_pgfault un[UN + 2];
		struct kabi_iommu_hwpt_page_response ans[UN + 2];
		int invalid = 0, ordered = 0, r, warns;

		if (sva_dev_bond_lookup(dev, free_pasid, NULL, NULL) != -ENOENT)
			ktest_bail("PASID %u is bound on the mock", free_pasid);
		un[0] = rec(dev, bond, 0x7f000000, 0x500, true);
		un[0].dev_id = 0xdead; /* no device of the context */
		for (unsigned i = 1; i <= UN; i++) {
			un[i] = rec(dev, bond, BUF_VA + 5 * WIN, 0x500 + i, true);
			un[i].pasid = free_pasid;
		}
		un[UN + 1] = rec(dev, bond, BUF_VA + 3 * WIN, 0x5ff, true); /* the hole: the bond's own refusal */
		sva_bond_stats(bond, &u0);
		sva_ctx_set_log(ctx, cap_fn, NULL, SVA_LOG_INFO);
		usleep(1100000); /* a fresh second for the context's lines */
		cap_reset();
		if (ftruncate(fd, 0) || pwrite(fd, un, sizeof(un), 0) != (ssize_t)sizeof(un))
			ktest_bail("the records of no bond");
		lseek(fd, 0, SEEK_SET);
		ktest_queue_use(ctx, fd);
		uint64_t t0 = now_ms();
		r = sva_ctx_process_faults(ctx, 64);
		el_un = now_ms() - t0;
		ktest_queue_use(ctx, real_fd);
		is_int(r, UN + 2, "records of no bond: all %d handled", UN + 2);
		got = pread(fd, ans, sizeof(ans), sizeof(un));
		for (unsigned i = 0; got == (ssize_t)sizeof(ans) && i <= UN; i++) {
			invalid += ans[i].code == KABI_IOMMUFD_PAGE_RESP_INVALID;
			ordered += ans[i].cookie == 0x500 + i;
		}
		ok(invalid == UN + 1 && ordered == UN + 1, "  each answered INVALID with its cookie (%d, %d of %d)", invalid,
		   ordered, UN + 1);
		sva_bond_stats(bond, &u1);
		ok(u1.faults - u0.faults == 1 && u1.invalid - u0.invalid == 1 && u1.groups - u0.groups == 1 &&
			   rep.n - rep_un == 1,
		   "  none counted on the bond nor reported to it: only its own refusal (%llu faults, %d reports)",
		   (unsigned long long)(u1.faults - u0.faults), rep.n - rep_un);
		snprintf(want, sizeof(want), "device %u (mock) PASID %u", dev->info.dev_id, free_pasid);
		cap_line(want, line, sizeof(line));
		ok(line[0] && strstr(line, "no bond"), "  a line names the device as libsva(7) says: \"%s\" (%s)", want,
		   line);
		cap_line("device 57005", line, sizeof(line));
		ok(strstr(line, "device 57005 (unknown) PASID") != NULL,
		   "  a device the context does not know: \"device 57005 (unknown)\" (%s)", line);
		warns = cap_count(SVA_LOG_WARN);
		ok(warns >= 1 && warns <= (int)SVA_LOG_BURST * (int)(el_un / 1000 + 1),
		   "  at warning level, at most 10 lines a second for the context (%d in %llu ms)", warns,
		   (unsigned long long)el_un);
		snprintf(want, sizeof(want), "from device %u (mock) PASID %u at 0x%llx", dev->info.dev_id,
			 sva_bond_pasid(bond), (unsigned long long)(BUF_VA + 3 * WIN));
		cap_line(want, line, sizeof(line));
		ok(cap_count(SVA_LOG_INFO) == 1 && line[0], "  the bond's refusal in the same second still has its info line (%s)", line);
	}

	/*
	 * An oversize page-request group (libsva(7), The fault engine;
	 * sva_ctx_process_faults(3), step 1): 5000 records of the bond, more
	 * than the 4096 a group is resolved with, then an ordinary group.  The
	 * big one is answered INVALID once, nothing of it is mapped, its
	 * records are counted in the return value only (not in the bond's
	 * counters, not passed to fault_error), and it has one warning line,
	 * naming the device, on the context's limit shared with the lines of
	 * faults no bond claims: it says how many of those were held back.
	 * The group after it is resolved.
	 */
	{
		struct sva_bond_stats b0 = { .size = sizeof(b0) }, b1 = { .size = sizeof(b1) };
		struct kabi_iommu_hwpt_page_response ans[3];
		unsigned char *ext = ktest_map_at(BUF_VA + 16 * WIN, 2 * WIN, PROT_READ | PROT_WRITE);
		int rep0 = rep.n, r;

		memset(ext, 0x5a, 2 * WIN);
		for (unsigned i = 0; i < BIG; i++)
			big_q[i] = rec(dev, bond, BUF_VA + 16 * WIN + (i % 16) * PG, 0x800, i + 1 == BIG);
		big_q[BIG] = rec(dev, bond, BUF_VA + 17 * WIN, 0x900, true);
		big_next = 0;
		sva_bond_stats(bond, &b0);
		usleep(1100000); /* the next second: the held-back count is owed */
		cap_reset();
		if (ftruncate(fd, 0) || lseek(fd, 0, SEEK_SET))
			ktest_bail("ftruncate");
		ktest_queue_use(ctx, fd);
		sva_test_fault_read = big_read;
		r = sva_ctx_process_faults(ctx, 64);
		sva_test_fault_read = NULL;
		ktest_queue_use(ctx, real_fd);
		is_int(r, BIG + 1, "a group of %u records and one of 1: the return value counts all %u", BIG, BIG + 1);
		got = pread(fd, ans, sizeof(ans), 0);
		ok(got == (ssize_t)(2 * sizeof(ans[0])) && ans[0].cookie == 0x800 &&
			   ans[0].code == KABI_IOMMUFD_PAGE_RESP_INVALID && ans[1].cookie == 0x900 &&
			   ans[1].code == KABI_IOMMUFD_PAGE_RESP_SUCCESS,
		   "  the big group answered INVALID once, the next one SUCCESS (%zd bytes)", got);
		is_int(visible(ctx, mm, BUF_VA + 16 * WIN), -ENOENT, "  nothing of the big group was mapped (unresolved)");
		is_int(visible(ctx, mm, BUF_VA + 17 * WIN), 0, "  the group after it was");
		sva_bond_stats(bond, &b1);
		ok(b1.faults - b0.faults == 1 && b1.groups - b0.groups == 1 && b1.invalid == b0.invalid && rep.n == rep0,
		   "  the bond counts only the ordinary group (%llu faults, %llu groups, %llu invalid), no fault_error (%d)",
		   (unsigned long long)(b1.faults - b0.faults), (unsigned long long)(b1.groups - b0.groups),
		   (unsigned long long)(b1.invalid - b0.invalid), rep.n - rep0);
		snprintf(want, sizeof(want), "device %u (mock)", dev->info.dev_id);
		cap_line("5000 records", line, sizeof(line));
		ok(cap_count(SVA_LOG_WARN) == 1 && strstr(line, want), "  one warning line, naming \"%s\" (%s)", want, line);
		snprintf(want, sizeof(want), "(%d similar lines suppressed before this one)", UN + 1 - (int)SVA_LOG_BURST);
		if (el_un < 1000)
			ok(strlen(line) > strlen(want) && !strcmp(line + strlen(line) - strlen(want), want),
			   "  it ends \"%s\": the limit is the context's, shared with faults of no bond", want);
		else
			skip(1, "the records of no bond took more than a second: more than one rate window");
		is_int(sva_ctx_fault_health(ctx), 0, "  the engine is still healthy");
		munmap(ext, 2 * WIN);
	}

	/*
	 * A faulty group whose last record no bond claims: a record of the
	 * bond, then one of a device the context does not know.  The group
	 * is the last record's (plan_batch()), so neither is the bond's; each
	 * line names the record's own device, not the group's, and says what
	 * failed it: the group, not its own PASID, which is bound (the line
	 * said "with no bond").
	 */
	{
		struct kabi_iommu_hwpt_pgfault two[2];
		struct kabi_iommu_hwpt_page_response ans[2];
		struct sva_bond_stats s0 = { .size = sizeof(s0) }, s1 = { .size = sizeof(s1) };
		int rep0 = rep.n;

		two[0] = rec(dev, bond, BUF_VA + 5 * WIN, 0xa00, false);
		two[1] = rec(dev, bond, BUF_VA + 5 * WIN, 0xa00, true);
		two[1].dev_id = 0xdead;
		sva_bond_stats(bond, &s0);
		cap_reset();
		if (ftruncate(fd, 0) || pwrite(fd, two, sizeof(two), 0) != (ssize_t)sizeof(two) || lseek(fd, 0, SEEK_SET))
			ktest_bail("the stray group");
		ktest_queue_use(ctx, fd);
		is_int(sva_ctx_process_faults(ctx, 64), 2, "a group ending in a record of an unknown device: both handled");
		ktest_queue_use(ctx, real_fd);
		got = pread(fd, ans, sizeof(ans), sizeof(two));
		ok(got == (ssize_t)sizeof(ans[0]) && ans[0].cookie == 0xa00 && ans[0].code == KABI_IOMMUFD_PAGE_RESP_INVALID,
		   "  one answer, INVALID (%zd bytes)", got);
		sva_bond_stats(bond, &s1);
		ok(s1.faults == s0.faults && rep.n == rep0, "  nothing counted on or reported to the bond");
		snprintf(want, sizeof(want),
			 "device %u (mock) PASID %u at 0x%llx in a page-request group that names several devices or "
			 "PASIDs, answered as a whole as its last record, which nothing claims: INVALID",
			 dev->info.dev_id, sva_bond_pasid(bond), (unsigned long long)(BUF_VA + 5 * WIN));
		cap_line(want, line, sizeof(line));
		ok(line[0] != 0, "  the bond's record is named by its own device, the group blamed: \"%s\"", want);
		cap_line("no bond", line, sizeof(line));
		ok(line[0] == 0, "  no line says \"no bond\": the bond's own PASID is bound (got \"%s\")", line);
		cap_line("device 57005 (unknown)", line, sizeof(line));
		ok(strstr(line, "in a page-request group that names several devices or PASIDs") != NULL,
		   "  the last by its own: \"device 57005 (unknown)\", the group blamed too (%s)", line);
	}

	/*
	 * The same with one device and two PASIDs: the group's last record is
	 * the mock's under a PASID nothing is bound to.  Each record is named
	 * by its own PASID on the device the context knows, and both lines
	 * blame the group; nothing is counted on the bond, the engine stays
	 * healthy, and the records count only in the return value.
	 */
	{
		struct kabi_iommu_hwpt_pgfault two[2];
		struct kabi_iommu_hwpt_page_response ans[2];
		struct sva_bond_stats s0 = { .size = sizeof(s0) }, s1 = { .size = sizeof(s1) };
		int rep0 = rep.n, lines0;

		two[0] = rec(dev, bond, BUF_VA + 5 * WIN, 0xb00, false);
		two[1] = rec(dev, bond, BUF_VA + 5 * WIN + PG, 0xb00, true);
		two[1].pasid = free_pasid;
		sva_bond_stats(bond, &s0);
		cap_reset();
		if (ftruncate(fd, 0) || pwrite(fd, two, sizeof(two), 0) != (ssize_t)sizeof(two) || lseek(fd, 0, SEEK_SET))
			ktest_bail("the stray group of two PASIDs");
		ktest_queue_use(ctx, fd);
		is_int(sva_ctx_process_faults(ctx, 64), 2,
		       "a group of the mock ending in a record under a PASID nothing is bound to: both handled");
		ktest_queue_use(ctx, real_fd);
		got = pread(fd, ans, sizeof(ans), sizeof(two));
		ok(got == (ssize_t)sizeof(ans[0]) && ans[0].cookie == 0xb00 && ans[0].code == KABI_IOMMUFD_PAGE_RESP_INVALID,
		   "  one answer, INVALID (%zd bytes)", got);
		is_int(visible(ctx, mm, BUF_VA + 5 * WIN), -ENOENT, "  the bond's record was not resolved");
		sva_bond_stats(bond, &s1);
		ok(s1.faults == s0.faults && s1.invalid == s0.invalid && s1.groups == s0.groups && rep.n == rep0,
		   "  nothing counted on or reported to the bond (%llu faults, %llu groups, %d reports)",
		   (unsigned long long)(s1.faults - s0.faults), (unsigned long long)(s1.groups - s0.groups),
		   rep.n - rep0);
		lines0 = cap_count(SVA_LOG_WARN);
		is_int(lines0, 2, "  two lines at warning level, one for each record");
		snprintf(want, sizeof(want),
			 "device %u (mock) PASID %u at 0x%llx in a page-request group that names several devices or "
			 "PASIDs, answered as a whole as its last record, which nothing claims: INVALID",
			 dev->info.dev_id, sva_bond_pasid(bond), (unsigned long long)(BUF_VA + 5 * WIN));
		cap_line(want, line, sizeof(line));
		ok(line[0] != 0, "  the bond's record by its own PASID, the group blamed: \"%s\"", want);
		snprintf(want, sizeof(want),
			 "device %u (mock) PASID %u at 0x%llx in a page-request group that names several devices or "
			 "PASIDs",
			 dev->info.dev_id, free_pasid, (unsigned long long)(BUF_VA + 5 * WIN + PG));
		cap_line(want, line, sizeof(line));
		ok(line[0] != 0, "  the last record by its own PASID, the group blamed too: \"%s\"", want);
		is_int(sva_ctx_fault_health(ctx), 0, "  the engine is still healthy");
	}
	sva_ctx_set_log(ctx, NULL, NULL, SVA_LOG_DEFAULT);

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
