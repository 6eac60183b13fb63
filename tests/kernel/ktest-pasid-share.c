/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * One PASID for one address space on every device, on three mock devices: an
 * address space's global PASID shared by GLOBAL and AUTO binds, faults on
 * each device resolved through that device's bond and counted there, the
 * value kept while any bond uses it and quarantined once when the last one
 * goes, private PASIDs with SVA_BIND_EXTRA_PASID, binds under a PASID the
 * driver allocated (SVA_BIND_PASID) and each of their errors, and drvdata per
 * (device, PASID).
 */
#include <pthread.h>
#include <semaphore.h>

#include "ktest.h"

extern int (*sva_test_mock_pasid_attach_hook)(struct sva_dev *dev, uint32_t pasid); /* libsva-test only */

#define BUF_VA 0x50000000ull /* inside the mock aperture */
#define PG 4096u

/* Per-bond driver state: what its callbacks saw. */
struct drv {
	int exits, reports;
	struct sva_bond *last_bond;
	struct sva_dev *last_dev;
};

static void on_exit_cb(struct sva_bond *bond, void *drvdata)
{
	struct drv *d = drvdata;

	d->exits++;
	d->last_bond = bond;
}

static void on_fault_error(struct sva_bond *bond, const struct sva_fault_report *r, void *drvdata)
{
	struct drv *d = drvdata;

	d->reports++;
	d->last_bond = bond;
	d->last_dev = r->dev;
}

static const struct sva_bond_ops ops = { .size = sizeof(ops), .mm_exit = on_exit_cb, .fault_error = on_fault_error };
static struct sva_ctx *ctx;
static struct sva_dev *d1, *d2, *d3;
static struct ktest_line last_line = { .level = -1 };

static struct sva_bind_opts opts(uint32_t flags, enum sva_pasid_policy policy, struct drv *drv)
{
	return (struct sva_bind_opts){ .size = sizeof(struct sva_bind_opts), .flags = flags, .policy = policy,
				       .drvdata = drv, .ops = &ops };
}

static uint64_t faults_of(struct sva_bond *b, uint64_t *invalid)
{
	struct sva_bond_stats st = { .size = sizeof(st) };

	sva_bond_stats(b, &st);
	if (invalid)
		*invalid = st.invalid;
	return st.faults;
}

/* Inject one fault on (dev, pasid) and process it in poll mode: records handled. */
static int fault(struct sva_dev *dev, uint32_t pasid, uint64_t addr)
{
	int ret = sva_dev_inject_fault(dev, pasid, addr, SVA_ACCESS_READ, 0);

	return ret ? ret : sva_ctx_process_faults(ctx, 16);
}

static struct sva_pasid_stats gstats(void)
{
	struct sva_pasid_stats st = { .size = sizeof(st) };

	sva_pasid_stats(sva_ctx_global_pasids(ctx), &st);
	return st;
}

static void shared_global(void)
{
	struct drv a = { 0 }, b = { 0 }, c = { 0 }, x = { 0 };
	struct sva_bind_opts o;
	struct sva_bond *b1, *b2, *b3, *e1, *e2, *found;
	struct sva_pasid_stats st;
	struct sva_mm *mm;
	uint64_t inv;
	uint32_t p;
	void *data;

	is_int(sva_mm_new(ctx, NULL, &mm), 0, "sva_mm_new");
	o = opts(0, SVA_PASID_GLOBAL, &a);
	is_int(sva_bind(d1, mm, &o, &b1), 0, "d1: GLOBAL bind");
	p = sva_bond_pasid(b1);
	ok(p >= SVA_GLOBAL_PASID_MIN_DEFAULT, "d1 has global PASID %u", p);
	o = opts(0, SVA_PASID_GLOBAL, &b);
	is_int(sva_bind(d2, mm, &o, &b2), 0, "d2: GLOBAL bind of the same address space");
	is_int(sva_bond_pasid(b2), p, "d2 binds under the address space's global PASID");
	ok(b2 != b1, "with a bond of its own");
	o = opts(0, SVA_PASID_AUTO, &c);
	is_int(sva_bind(d3, mm, &o, &b3), 0, "d3: AUTO bind");
	is_int(sva_bond_pasid(b3), p, "AUTO lands in the global space: the same PASID");
	st = gstats();
	is_int(st.allocated, 1, "one global PASID allocated for the three bonds");
	is_int(ktest_pasid_check(d1, p, b1->hwpt->id), 0, "kernel: d1's PASID %u on d1's HWPT", p);
	is_int(ktest_pasid_check(d2, p, b2->hwpt->id), 0, "kernel: d2's PASID %u on d2's HWPT", p);
	is_int(ktest_pasid_check(d3, p, b3->hwpt->id), 0, "kernel: d3's PASID %u on d3's HWPT", p);

	/* Per-(device, PASID) lookups. */
	ok(sva_dev_bond_lookup(d1, p, &found, &data) == 0 && found == b1 && data == &a, "d1 finds its own bond");
	ok(sva_dev_bond_lookup(d2, p, &found, &data) == 0 && found == b2 && data == &b, "d2 finds its own bond");
	ok(sva_dev_pasid_lookup(d2, p, &data) == 0 && data == &b, "d2's drvdata under %u is d2's", p);
	ok(sva_dev_pasid_lookup(d3, p, &data) == 0 && data == &c, "d3's drvdata under %u is d3's", p);

	/* Faults on each device go to that device's bond. */
	is_int(fault(d1, p, BUF_VA), 1, "a fault on d1 under %u", p);
	is_int(fault(d2, p, BUF_VA + PG), 1, "a fault on d2 under %u", p);
	is_int(fault(d2, p, BUF_VA + 2 * PG), 1, "another on d2");
	is_int(faults_of(b1, NULL), 1, "counted once on d1's bond");
	is_int(faults_of(b2, &inv), 2, "twice on d2's bond");
	is_int(inv, 0, "both resolved");
	is_int(faults_of(b3, NULL), 0, "none on d3's bond");
	is_int(fault(d2, p, 0x7000000000ull), 1, "a fault on d2 outside the mock aperture");
	ok(b.reports == 1 && b.last_bond == b2 && b.last_dev == d2 && a.reports == 0 && c.reports == 0,
	   "reported to d2's fault_error with d2's bond and device, nowhere else");

	/* Private PASIDs still come with SVA_BIND_EXTRA_PASID. */
	o = opts(SVA_BIND_EXTRA_PASID, SVA_PASID_GLOBAL, &x);
	is_int(sva_bind(d1, mm, &o, &e1), 0, "d1: EXTRA_PASID, GLOBAL");
	ok(sva_bond_pasid(e1) != p && sva_bond_pasid(e1) >= SVA_GLOBAL_PASID_MIN_DEFAULT,
	   "a private global PASID (%u)", sva_bond_pasid(e1));
	o = opts(SVA_BIND_EXTRA_PASID, SVA_PASID_DEVICE, &x);
	is_int(sva_bind(d2, mm, &o, &e2), 0, "d2: EXTRA_PASID, DEVICE");
	ok(sva_bond_pasid(e2) < SVA_GLOBAL_PASID_MIN_DEFAULT, "a private PASID of d2's own space (%u)",
	   sva_bond_pasid(e2));
	is_int(sva_dev_bond_lookup(d1, sva_bond_pasid(e2), &found, NULL), -ENOENT,
	       "d2's own PASID is nothing on d1");
	is_int(sva_dev_bond_lookup(d2, sva_bond_pasid(e1), &found, NULL), -ENOENT,
	       "d1's private global PASID is nothing on d2");
	is_int(fault(d1, sva_bond_pasid(e1), BUF_VA + 3 * PG), 1, "a fault under d1's private PASID");
	is_int(faults_of(e1, NULL), 1, "counted on the private bond");
	is_int(faults_of(b1, NULL), 1, "not on the shared one");
	is_int(sva_unbind(e1), 0, "unbind the private global PASID");
	is_int(sva_unbind(e2), 0, "unbind the private own-space PASID");
	ok(x.exits == 2, "their mm_exits ran");
	is_int(sva_pasid_barrier(sva_ctx_global_pasids(ctx)), 1, "the private global PASID was released alone");
	ok(sva_dev_bond_lookup(d2, p, &found, NULL) == 0 && found == b2, "the shared one is untouched");

	/* Unbinding one device keeps the others and the value. */
	is_int(sva_unbind(b1), 0, "unbind d1's shared bond");
	ok(a.exits == 1 && a.last_bond == b1 && b.exits == 0 && c.exits == 0, "only d1's mm_exit ran, for its bond");
	is_int(ktest_pasid_check(d1, p, 0), 0, "kernel: %u detached on d1", p);
	is_int(ktest_pasid_check(d2, p, b2->hwpt->id), 0, "kernel: still attached on d2");
	is_int(sva_dev_bond_lookup(d1, p, &found, NULL), -ENOENT, "d1 has nothing under %u now", p);
	st = gstats();
	ok(st.allocated == 1 && st.quarantined == 0, "the shared value stays allocated (allocated %llu, quarantined %llu)",
	   (unsigned long long)st.allocated, (unsigned long long)st.quarantined);
	is_int(fault(d2, p, BUF_VA + 4 * PG), 1, "d2 still resolves faults under %u", p);
	is_int(faults_of(b2, NULL), 4, "on its bond");
	o = opts(0, SVA_PASID_GLOBAL, &a);
	is_int(sva_bind(d1, mm, &o, &b1), 0, "d1 binds again");
	is_int(sva_bond_pasid(b1), p, "under the same global PASID");
	is_int(sva_unbind(b1), 0, "and unbinds");
	is_int(sva_unbind(b3), 0, "unbind d3");
	st = gstats();
	is_int(st.quarantined, 0, "still nothing in quarantine");
	is_int(sva_unbind(b2), 0, "unbind d2, the last bond under %u", p);
	ok(b.exits == 1 && c.exits == 1, "each device's mm_exit ran once for its own bond");
	st = gstats();
	ok(st.allocated == 0 && st.quarantined == 1, "the value is quarantined once (allocated %llu, quarantined %llu)",
	   (unsigned long long)st.allocated, (unsigned long long)st.quarantined);
	is_int(sva_pasid_barrier(sva_ctx_global_pasids(ctx)), 1, "and was released: a barrier returns it");
	is_int(sva_dev_pasid_lookup(d2, p, &data), -ENOENT, "no device finds it");

	/* A new global PASID for the address space next time. */
	o = opts(0, SVA_PASID_AUTO, &b);
	is_int(sva_bind(d2, mm, &o, &b2), 0, "d2 binds again");
	ok(sva_bond_pasid(b2) != p && sva_bond_pasid(b2) >= SVA_GLOBAL_PASID_MIN_DEFAULT,
	   "under a new global PASID (%u)", sva_bond_pasid(b2));
	o = opts(0, SVA_PASID_DEVICE, &a);
	is_int(sva_bind(d1, mm, &o, &b1), 0, "d1 binds with DEVICE");
	ok(sva_bond_pasid(b1) < SVA_GLOBAL_PASID_MIN_DEFAULT, "DEVICE keeps to the device's own space (%u)",
	   sva_bond_pasid(b1));
	sva_mm_free(mm); /* unbinds b1 and b2 */
	st = gstats();
	is_int(st.allocated, 0, "sva_mm_free: nothing global left allocated");
}

static void chosen_pasid(void)
{
	struct drv a = { 0 }, b = { 0 }, x = { 0 };
	struct sva_bond *b1, *b2, *b3, *g1, *e1, *found;
	struct sva_mock_opts mo = { .size = sizeof(mo), .flags = SVA_MOCK_NO_PASID };
	struct sva_pasid_stats before, after;
	struct sva_dev *nopasid;
	struct sva_bind_opts o;
	struct sva_mm *mm, *mm2;
	int drv_alloc, drv_own;
	uint32_t v, w, q;
	void *data;

	is_int(sva_mm_new(ctx, NULL, &mm), 0, "sva_mm_new");
	is_int(sva_mm_new(ctx, NULL, &mm2), 0, "a second address space");
	is_int(sva_dev_pasid_alloc(d1, SVA_PASID_GLOBAL, &drv_alloc, &v), 0, "the driver allocates a global PASID");
	ok(sva_dev_pasid_lookup(d1, v, &data) == 0 && data == &drv_alloc, "found on d1 with its drvdata");
	is_int(sva_dev_pasid_lookup(d2, v, &data), -ENOENT, "not d2's: -ENOENT");

	o = opts(SVA_BIND_PASID, SVA_PASID_AUTO, &a);
	o.pasid = v;
	is_int(sva_bind(d1, mm, &o, &b1), 0, "d1 binds mm under it (SVA_BIND_PASID)");
	is_int(sva_bond_pasid(b1), v, "the bond's PASID is the chosen one");
	o.drvdata = &b;
	is_int(sva_bind(d2, mm, &o, &b2), 0, "d2 binds mm under the same value");
	ok(sva_dev_pasid_lookup(d1, v, &data) == 0 && data == &a, "d1's drvdata under %u: its bond's", v);
	ok(sva_dev_bond_lookup(d2, v, &found, &data) == 0 && found == b2 && data == &b, "d2's bond under %u", v);
	is_int(sva_dev_bond_lookup(d3, v, &found, &data), -ENOENT, "d3 has nothing under it");
	is_int(sva_dev_pasid_lookup(d3, v, &data), -ENOENT, "nor drvdata");
	sva_ctx_set_log(ctx, ktest_keep_line, &last_line, SVA_LOG_ERROR);
	is_int(sva_dev_pasid_free(d1, v), -EBUSY, "the driver cannot free it while bound: -EBUSY");
	sva_ctx_set_log(ctx, NULL, NULL, SVA_LOG_DEFAULT);
	ok(strstr(last_line.text, "unbind its bonds first") && strstr(last_line.text, "to be freed"),
	   "its line says to unbind first and free it then (%s)", last_line.text);
	is_int(fault(d2, v, BUF_VA), 1, "a fault on d2 under the chosen PASID");
	is_int(faults_of(b2, NULL), 1, "resolved through d2's bond");

	/* Each error, and nothing changed by it. */
	sva_pasid_barrier(sva_ctx_global_pasids(ctx));
	before = gstats();
	o = opts(SVA_BIND_PASID, SVA_PASID_AUTO, &x);
	o.pasid = v;
	is_int(sva_bind(d3, mm2, &o, &b3), -EBUSY, "under a value bound to another address space: -EBUSY");
	o.flags |= SVA_BIND_EXTRA_PASID;
	is_int(sva_bind(d1, mm, &o, &b3), -EBUSY, "twice on one device under one value: -EBUSY");
	o.pasid = v + 1000;
	o.flags = SVA_BIND_PASID;
	is_int(sva_bind(d3, mm2, &o, &b3), -ENOENT, "under a value not allocated: -ENOENT");
	o.pasid = SVA_PASID_MAX + 1;
	is_int(sva_bind(d3, mm2, &o, &b3), -ERANGE, "beyond the device's PASIDs: -ERANGE");
	o.pasid = 0;
	is_int(sva_bind(d3, mm2, &o, &b3), -ERANGE, "PASID 0: -ERANGE");
	is_int(sva_dev_pasid_alloc(d1, SVA_PASID_DEVICE, &drv_own, &w), 0, "d1 allocates from its own space");
	o.pasid = w;
	is_int(sva_bind(d2, mm2, &o, &b3), -ENOENT, "d1's own value on d2 is not allocated there: -ENOENT");
	o.flags = SVA_BIND_PASID | SVA_BIND_RID;
	is_int(sva_bind(d3, mm2, &o, &b3), -EINVAL, "SVA_BIND_PASID with SVA_BIND_RID: -EINVAL");
	o.flags = SVA_BIND_EXTRA_PASID | SVA_BIND_RID;
	o.pasid = 0;
	is_int(sva_bind(d3, mm2, &o, &b3), -EINVAL, "SVA_BIND_EXTRA_PASID with SVA_BIND_RID: -EINVAL");
	o.pasid = w;
	o.flags = 0;
	is_int(sva_bind(d3, mm2, &o, &b3), -EINVAL, "opts.pasid set without SVA_BIND_PASID: -EINVAL");
	is_int(sva_dev_open_mock(ctx, &mo, &nopasid), 0, "a mock without PASIDs");
	o.flags = SVA_BIND_PASID;
	o.pasid = v;
	is_int(sva_bind(nopasid, mm2, &o, &b3), -EOPNOTSUPP, "SVA_BIND_PASID on it: -EOPNOTSUPP");
	is_int(sva_dev_bond_lookup(nopasid, v, &found, NULL), -EOPNOTSUPP, "bond lookup on it: -EOPNOTSUPP");
	sva_dev_close(nopasid);
	is_int(sva_dev_bond_lookup(d1, 0, &found, NULL), -ERANGE, "bond lookup of PASID 0: -ERANGE");
	is_int(sva_dev_bond_lookup(d1, SVA_PASID_MAX + 1, &found, NULL), -ERANGE, "beyond 2^20-1: -ERANGE");
	o = opts(SVA_BIND_EXTRA_PASID, SVA_PASID_GLOBAL, &x);
	is_int(sva_bind(d3, mm2, &o, &e1), 0, "d3: a private global PASID on mm2");
	q = sva_bond_pasid(e1);
	o = opts(SVA_BIND_PASID, SVA_PASID_AUTO, &x);
	o.pasid = q;
	is_int(sva_bind(d1, mm2, &o, &b3), -EBUSY, "under another bond's private PASID: -EBUSY");
	is_int(sva_unbind(e1), 0, "unbind it");
	sva_pasid_barrier(sva_ctx_global_pasids(ctx));
	after = gstats();
	ok(after.allocated == before.allocated && after.quarantined == before.quarantined,
	   "the refused binds changed nothing (allocated %llu, quarantined %llu)",
	   (unsigned long long)after.allocated, (unsigned long long)after.quarantined);
	ok(sva_dev_bond_lookup(d1, v, &found, NULL) == 0 && found == b1, "d1's bond is still there");

	/* The address space's own global PASID can be chosen too. */
	o = opts(0, SVA_PASID_GLOBAL, &x);
	is_int(sva_bind(d3, mm2, &o, &g1), 0, "d3 binds mm2 GLOBAL");
	o = opts(SVA_BIND_PASID, SVA_PASID_AUTO, &x);
	o.pasid = sva_bond_pasid(g1);
	is_int(sva_bind(d1, mm2, &o, &b3), 0, "d1 binds mm2 under mm2's global PASID, chosen");
	is_int(sva_unbind(b3), 0, "unbind it");
	is_int(sva_unbind(g1), 0, "unbind d3");

	/* A value of the device's own space. */
	o = opts(SVA_BIND_PASID | SVA_BIND_EXTRA_PASID, SVA_PASID_AUTO, &x);
	o.pasid = w;
	is_int(sva_bind(d1, mm, &o, &b3), 0, "d1 binds under its own-space value %u", w);
	is_int(sva_unbind(b3), 0, "unbind it");
	ok(sva_dev_pasid_lookup(d1, w, &data) == 0 && data == &drv_own, "the driver's drvdata is back");
	is_int(sva_dev_pasid_free(d1, w), 0, "the driver frees it");

	/* The driver keeps its value after the last unbind. */
	is_int(sva_unbind(b1), 0, "unbind d1");
	is_int(sva_unbind(b2), 0, "unbind d2");
	ok(a.exits == 1 && b.exits == 1, "each mm_exit ran once");
	ok(sva_dev_pasid_lookup(d1, v, &data) == 0 && data == &drv_alloc,
	   "still allocated, with the driver's drvdata, on the device that allocated it");
	is_int(sva_dev_pasid_lookup(d2, v, &data), -ENOENT, "nothing on d2 any more");
	is_int(sva_dev_pasid_free(d1, v), 0, "the driver frees it");
	is_int(sva_dev_pasid_release(d1, v), 0, "and releases it");
	sva_mm_free(mm2);
	sva_mm_free(mm);
}

/*
 * A bind that joins an address space's global PASID and then fails, while the
 * bond it joined is unbound: the value was attached on the other device, so
 * it goes back through quarantine like any released value, never straight
 * to the pool (sva_unbind(3): "becomes allocatable again after the grace
 * time").  The hook fails the joining attach once the other unbind is done.
 */
static sem_t join_in, join_go;

static int fail_after_unbind(struct sva_dev *dev, uint32_t pasid)
{
	(void)dev;
	(void)pasid;
	sem_post(&join_in);
	sem_wait(&join_go);
	return -EIO;
}

static void *unbinder(void *arg)
{
	sem_wait(&join_in);
	sva_unbind(arg);
	sem_post(&join_go);
	return NULL;
}

static void failed_join(void)
{
	struct drv a = { 0 }, b = { 0 };
	struct sva_bind_opts o = opts(0, SVA_PASID_GLOBAL, &a);
	struct sva_bond *b1 = NULL, *b2 = NULL;
	struct sva_pasid_stats st;
	struct sva_mm *mm;
	pthread_t t;
	uint32_t p;
	void *data;
	int ret;

	sem_init(&join_in, 0, 0);
	sem_init(&join_go, 0, 0);
	sva_pasid_barrier(sva_ctx_global_pasids(ctx)); /* what earlier cases left in quarantine */
	if (sva_mm_new(ctx, NULL, &mm) || sva_bind(d1, mm, &o, &b1))
		ktest_bail("failed_join: setup");
	p = sva_bond_pasid(b1);
	sva_test_mock_pasid_attach_hook = fail_after_unbind;
	if (pthread_create(&t, NULL, unbinder, b1))
		ktest_bail("pthread_create");
	o = opts(0, SVA_PASID_GLOBAL, &b);
	ret = sva_bind(d2, mm, &o, &b2);
	pthread_join(t, NULL);
	sva_test_mock_pasid_attach_hook = NULL;
	ok(ret < 0, "a bind joining global PASID %u whose attach fails: fails (%d)", p, ret);
	st = gstats();
	ok(st.allocated == 0 && st.quarantined == 1,
	   "the value its unbound first user attached went to quarantine (allocated %llu, quarantined %llu)",
	   (unsigned long long)st.allocated, (unsigned long long)st.quarantined);
	is_int(sva_dev_pasid_lookup(d1, p, &data), -ENOENT, "no device finds it");
	is_int(sva_pasid_barrier(sva_ctx_global_pasids(ctx)), 1, "a barrier releases it");
	sva_mm_free(mm);
}

int main(void)
{
	struct sva_ctx_opts co = { .size = sizeof(co), .flags = SVA_CTX_FAULT_POLL, .pasid_grace_ns = UINT64_MAX };
	int ret;

	ktest_require_iommufd();
	if (sva_ctx_new(&co, &ctx))
		ktest_bail("sva_ctx_new failed");
	ret = sva_dev_open_mock(ctx, NULL, &d1);
	ktest_skip_without_mock(ret);
	if (ret || sva_dev_open_mock(ctx, NULL, &d2) || sva_dev_open_mock(ctx, NULL, &d3))
		ktest_bail("opening three mock devices failed");
	ktest_map_at(BUF_VA, 64 * PG, PROT_READ | PROT_WRITE);
	shared_global();
	chosen_pasid();
	failed_join();
	sva_dev_close(d3);
	sva_dev_close(d2);
	sva_dev_close(d1);
	sva_ctx_free(ctx);
	return done_testing();
}
