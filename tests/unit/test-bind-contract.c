/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Promises of sva_bind(3) and sva_unbind(3) that need no kernel, checked with
 * a context, devices and address spaces built by hand (as test-bind-pasid.c
 * does), a backend that records what it is asked, and ioctl() answering the
 * few iommufd calls a bind makes.  IOMMU_FAULT_QUEUE_ALLOC is refused
 * (ENOTTY, a kernel without fault queues): a fault-capable bind that gets as
 * far as step 2 fails with that error, which shows where a bind stopped.
 *
 *  - A policy, or opts->pasid, that the device cannot reach at all is -ERANGE
 *    before the bind makes anything: no RID parking, no page table, no fault
 *    queue ("SVA_PASID_GLOBAL on a device that does not cover the global
 *    range fails with -ERANGE and changes nothing").  It made the RID
 *    parking, the page table and the context's fault queue and thread first,
 *    and the fault queue stayed.
 *  - -EEXIST comes first, before the checks of opts->pasid.
 *  - ops is copied: the structure need not outlive the call.
 *  - The order of an unbind: mm_exit with no libsva lock held and the bond
 *    still found; the detach with the device's lock held and the bond still
 *    found; the bond unpublished before its PASID goes back; the PASID in
 *    quarantine once the call returns.
 *  - Inside mm_exit -EDEADLK comes before every other check but a NULL dev
 *    or mm (libsva(7), Calls inside callbacks): an unknown flag, a NULL out,
 *    a forked child's -ECHILD, for sva_bind() and sva_unbind() alike.
 *  - One INFO line records each bond and its mode.
 *  - A RID whose detach failed is not retired: -EIO, the bond gone, its page
 *    table kept, and a later RID bind attaches the RID anew.
 *  - sva_ctx_fault_fd(3) in poll mode passes on the kernel's refusal of the
 *    queue (-ENOTTY before Linux 6.11, -ENOMEM, -ENFILE) with one error
 *    line, and the next call tries again.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fork.h"
#include "kabi.h"
#include "pasid_space.h"
#include "../tap.h"
#include "fake_bind_objects.h"

static int err_lines, info_lines;
static char last[512], last_info[512];

static void capture(void *arg, enum sva_log_level level, const char *msg)
{
	(void)arg;
	if (level == SVA_LOG_INFO) {
		info_lines++;
		snprintf(last_info, sizeof(last_info), "%s", msg);
	}
	if (level < SVA_LOG_WARN)
		return;
	err_lines++;
	snprintf(last, sizeof(last), "%s", msg);
}

/* ------------------------------------------------------ the fake kernel side */

static uint32_t next_id = 100;
static int n_hwpt, n_ioas, n_queue, n_destroy;
static int queue_errno = ENOTTY; /* IOMMU_FAULT_QUEUE_ALLOC's refusal */

static bool fake_ioctl(unsigned long req, void *arg, int *rc)
{
	*rc = 0;
	if (req == KABI_IOMMU_HWPT_ALLOC) {
		n_hwpt++;
		((struct kabi_iommu_hwpt_alloc *)arg)->out_hwpt_id = next_id++;
	} else if (req == KABI_IOMMU_IOAS_ALLOC) {
		n_ioas++;
		((struct kabi_iommu_ioas_alloc *)arg)->out_ioas_id = next_id++;
	} else if (req == KABI_IOMMU_FAULT_QUEUE_ALLOC) {
		n_queue++;
		errno = queue_errno;
		*rc = -1;
	} else if (req == KABI_IOMMU_DESTROY) {
		n_destroy++;
	} else {
		return false;
	}
	return true;
}
#include "fake_ioctl.h"

/* What the backend saw, in order. */
static int n_attach, n_pasid_attach;
static char steps[64];

static void step(char c)
{
	size_t n = strlen(steps);

	if (n + 1 < sizeof(steps))
		steps[n] = c, steps[n + 1] = '\0';
}

/* During the detach: the device's lock held (trylock by its owner: EBUSY),
 * and the bond still published. */
static int detach_dev_lock = -1, detach_lookup = -1;

static int attach_err, detach_err;

static int f_attach(struct sva_dev *d, uint32_t pt)
{
	(void)d;
	(void)pt;
	n_attach++;
	return attach_err;
}

static int f_detach(struct sva_dev *d)
{
	(void)d;
	return detach_err;
}

static int f_pasid_attach(struct sva_dev *d, uint32_t pasid, uint32_t pt)
{
	(void)d;
	(void)pasid;
	(void)pt;
	n_pasid_attach++;
	return 0;
}

static int f_pasid_detach(struct sva_dev *d, uint32_t pasid)
{
	step('D');
	detach_dev_lock = pthread_mutex_trylock(&d->lock);
	if (detach_dev_lock == 0)
		pthread_mutex_unlock(&d->lock);
	detach_lookup = sva_dev_bond_lookup(d, pasid, NULL, NULL);
	return 0;
}

static const struct sva_dev_backend fake_be = {
	"fake", f_attach, f_detach,
	f_pasid_attach, f_pasid_detach, fake_noop_close, 0,
};

static void ctx_init(struct sva_ctx *c)
{
	/* No value leaves quarantine during the test: the unbind checks count
	 * it there, and a preempted run (the sanitizer tiers) let it expire. */
	fake_ctx_init(c, capture, UINT64_MAX);
}

static void dev_init(struct sva_dev *d, struct sva_ctx *c, uint32_t width, const char *name)
{
	fake_dev_init(d, c, &fake_be, next_id++, width, name);
}

static void mm_init(struct sva_mm *m, struct sva_ctx *c)
{
	fake_mm_init(m, c, next_id++);
}

#define stats_of fake_pasid_stats
#define same_counts fake_same_counts

#define SENTINEL ((struct sva_bond *)0x5a5a)

/* ------------------------------------------------------------------ tests */

/*
 * sva_bind(3): "SVA_PASID_GLOBAL on a device that does not cover the global
 * range fails with -ERANGE and changes nothing"; the other -ERANGE cases of
 * the page are as static (the device's width and range, not what is
 * allocated): refused before step 1, so even a context's first fault-capable
 * bind makes no fault queue for them.
 */
static void test_range_first(struct sva_ctx *ctx, struct sva_dev *narrow, struct sva_dev *ranged, struct sva_mm *mm)
{
	static const struct {
		uint32_t flags;
		enum sva_pasid_policy policy;
		uint32_t pasid;
		int ranged;
		const char *what;
	} cases[] = {
		{ 0, SVA_PASID_GLOBAL, 0, 0, "SVA_PASID_GLOBAL on a device that does not cover the global range" },
		{ SVA_BIND_EXTRA_PASID, SVA_PASID_GLOBAL, 0, 0, "EXTRA with SVA_PASID_GLOBAL there" },
		{ SVA_BIND_PASID, SVA_PASID_AUTO, 0, 0, "SVA_BIND_PASID under 0" },
		{ SVA_BIND_PASID, SVA_PASID_AUTO, 1000, 0, "SVA_BIND_PASID under a global value the device cannot reach" },
		{ SVA_BIND_PASID, SVA_PASID_AUTO, 200, 1, "SVA_BIND_PASID beyond the device's narrowed own range" },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		for (int pinned = 0; pinned < 2; pinned++) {
			struct sva_bind_opts bo = { .size = sizeof(bo),
						    .flags = cases[i].flags | (pinned ? SVA_BIND_PINNED : 0),
						    .policy = cases[i].policy,
						    .pasid = cases[i].pasid };
			struct sva_dev *dev = cases[i].ranged ? ranged : narrow;
			struct sva_pasid_stats g0 = stats_of(ctx->global_pasids), d0 = stats_of(dev->pasids);
			struct sva_bond *bond = SENTINEL;
			int e0 = err_lines, ret;

			n_hwpt = n_ioas = n_queue = n_attach = n_pasid_attach = 0;
			ret = sva_bind(dev, mm, &bo, &bond);
			is_int(ret, -ERANGE, "%s (%s): -ERANGE", cases[i].what, pinned ? "pinned" : "fault-capable");
			ok(n_queue == 0 && n_hwpt == 0 && n_ioas == 0 && n_attach == 0 && n_pasid_attach == 0,
			   "  before anything is made (fault queue %d, HWPT %d, IOAS %d, RID attach %d, PASID attach %d)",
			   n_queue, n_hwpt, n_ioas, n_attach, n_pasid_attach);
			ok(bond == SENTINEL && err_lines - e0 == 1, "  *out untouched, one error line (%d): %s",
			   err_lines - e0, last);
			ok(dev->rid_pt == 0 && dev->park_ioas == 0 && dev->park_hwpt == 0 && mm->hwpts == NULL &&
				   same_counts(stats_of(ctx->global_pasids), g0) && same_counts(stats_of(dev->pasids), d0),
			   "  the device, the address space and the PASID spaces as they were");
		}
	}
	/* What is in reach still gets as far as the fault queue. */
	n_queue = 0;
	{
		struct sva_bond *bond = SENTINEL;

		is_int(sva_bind(narrow, mm, NULL, &bond), -ENOTTY,
		       "AUTO on the narrow device goes on to step 2 (the fault queue, refused here)");
		ok(n_queue == 1 && bond == SENTINEL, "  which it tried once");
	}
}

/* "The usual rule still holds, and comes first": -EEXIST before any check of
 * opts->pasid, also one the device could not reach. */
static void test_eexist_first(struct sva_dev *dev, struct sva_mm *mm)
{
	struct sva_bind_opts bo = { .size = sizeof(bo), .flags = SVA_BIND_PINNED };
	struct sva_bond *bond = NULL, *x = SENTINEL;
	static const uint32_t pasids[] = { 0, 7, 5000, SVA_PASID_RID };

	if (sva_bind(dev, mm, &bo, &bond))
		tap_bail("cannot bind for the -EEXIST test");
	for (size_t i = 0; i < sizeof(pasids) / sizeof(pasids[0]); i++) {
		struct sva_bind_opts o = { .size = sizeof(o), .flags = SVA_BIND_PINNED | SVA_BIND_PASID,
					   .pasid = pasids[i] };

		is_int(sva_bind(dev, mm, &o, &x), -EEXIST,
		       "SVA_BIND_PASID under %u (out of reach or not allocated) where the device has a bond on mm: "
		       "-EEXIST first", pasids[i]);
	}
	{
		struct sva_bind_opts o = { .size = sizeof(o), .flags = SVA_BIND_PINNED, .policy = SVA_PASID_DEVICE };

		is_int(sva_bind(dev, mm, &o, &x), -EEXIST, "a second bond on mm under another policy: -EEXIST");
	}
	ok(x == SENTINEL, "  *out untouched");
	sva_unbind(bond);
}

static int exit_a, exit_b;
static void on_exit_a(struct sva_bond *b, void *d)
{
	(void)b;
	(void)d;
	exit_a++;
}

static void on_exit_b(struct sva_bond *b, void *d)
{
	(void)b;
	(void)d;
	exit_b++;
}

/* "The structure is copied: it need not outlive the call." */
static void test_ops_copied(struct sva_dev *dev, struct sva_mm *mm)
{
	struct sva_bond_ops *ops = malloc(sizeof(*ops));
	struct sva_bind_opts bo = { .size = sizeof(bo), .flags = SVA_BIND_PINNED };
	struct sva_bond *bond = NULL;

	if (!ops)
		tap_bail("out of memory");
	*ops = (struct sva_bond_ops){ .size = sizeof(*ops), .mm_exit = on_exit_a };
	bo.ops = ops;
	is_int(sva_bind(dev, mm, &bo, &bond), 0, "bind with ops");
	ops->mm_exit = on_exit_b;
	ops->size = 1;
	free(ops);
	exit_a = exit_b = 0;
	is_int(sva_unbind(bond), 0, "unbind after the caller changed and freed its ops");
	ok(exit_a == 1 && exit_b == 0, "  the mm_exit it was bound with ran, once (%d, %d)", exit_a, exit_b);
}

/* The six steps of sva_unbind(3), as far as a backend sees them. */
static struct {
	struct sva_dev *dev;
	struct sva_mm *mm;
	struct sva_ctx *ctx;
	uint32_t pasid;
	int calls, lookup, dev_lock, mm_lock, pasid_lock, bad_bind, null_out, bind;
	int forked_bind, forked_unbind, real_fork, set_range;
	void *drvdata;
} ex;

extern void (*sva_test_unpublished_hook)(struct sva_bond *bond);
static int unpub_lookup = 1;
static struct sva_pasid_stats unpub_stats;

static void on_unpublished(struct sva_bond *bond)
{
	step('U');
	unpub_lookup = sva_dev_bond_lookup(bond->dev, ex.pasid, NULL, NULL);
	unpub_stats = stats_of(ex.ctx->global_pasids);
}

static int trylock_free(pthread_mutex_t *m)
{
	int r = pthread_mutex_trylock(m);

	if (r == 0)
		pthread_mutex_unlock(m);
	return r;
}

static void probe_exit(struct sva_bond *bond, void *drvdata)
{
	struct sva_bond *x = SENTINEL;
	struct sva_bind_opts bad = { .size = sizeof(bad), .flags = SVA_BIND_PINNED | (1u << 7) };
	struct sva_bind_opts good = { .size = sizeof(good), .flags = SVA_BIND_PINNED | SVA_BIND_EXTRA_PASID };
	unsigned gen;

	step('X');
	ex.calls++;
	ex.drvdata = drvdata;
	ex.lookup = sva_dev_bond_lookup(ex.dev, sva_bond_pasid(bond), NULL, NULL);
	ex.dev_lock = trylock_free(&ex.dev->lock);
	ex.mm_lock = trylock_free(&ex.mm->lock);
	ex.pasid_lock = trylock_free(&ex.ctx->pasid_lock);
	ex.bad_bind = sva_bind(ex.dev, ex.mm, &bad, &x);
	ex.null_out = sva_bind(ex.dev, ex.mm, &good, NULL);
	ex.bind = sva_bind(ex.dev, ex.mm, &good, &x);
	/* Not among the calls refused inside a callback: an inverted range is
	 * its own -EINVAL, where a refusal would come first (-EDEADLK). */
	ex.set_range = sva_dev_set_pasid_range(ex.dev, 5, 4);
	/* As if this ran in a forked child, which -ECHILD refuses elsewhere. */
	gen = ex.ctx->fork_gen;
	ex.ctx->fork_gen = sva_fork_gen() + 1;
	ex.forked_bind = sva_bind(ex.dev, ex.mm, &good, &x);
	ex.forked_unbind = sva_unbind(bond);
	ex.ctx->fork_gen = gen;
	/* A real fork(2): the child's one thread, a copy of this one, is still
	 * inside mm_exit (libsva(7), Thread safety), and knows it is a child. */
	ex.real_fork = -1;
	{
		pid_t pid = fork();
		int st;

		if (pid == 0) {
			int b = sva_bind(ex.dev, ex.mm, &good, &x), u = sva_unbind(bond);
			int r = sva_dev_set_pasid_range(ex.dev, 5, 4), l;

			/* Still inside mm_exit: sva_mm_free() does nothing, so the
			 * bond stays in the device's table (a child's free outside
			 * a callback would take it out: sva_dev_bond_lookup(3)). */
			sva_mm_free(ex.mm);
			l = sva_dev_bond_lookup(ex.dev, ex.pasid, NULL, NULL);
			_exit(!sva_ctx_forked(ex.ctx) ? 3 : b != -EDEADLK ? 4 : u != -EDEADLK ? 5 : x != SENTINEL ? 6
			      : r != -EINVAL ? 7 : l != 0 ? 8 : 0);
		}
		if (pid > 0 && waitpid(pid, &st, 0) == pid && WIFEXITED(st))
			ex.real_fork = WEXITSTATUS(st);
	}
	if (x != SENTINEL)
		ex.bind = 1000;
}

static void test_unbind_order(struct sva_ctx *ctx, struct sva_dev *dev, struct sva_mm *mm)
{
	struct sva_bond_ops ops = { .size = sizeof(ops), .mm_exit = probe_exit };
	int drv;
	struct sva_bind_opts bo = { .size = sizeof(bo), .flags = SVA_BIND_PINNED, .drvdata = &drv, .ops = &ops };
	struct sva_bond *bond = NULL;
	struct sva_pasid_stats g0, g1;

	if (sva_bind(dev, mm, &bo, &bond))
		tap_bail("cannot bind for the unbind order test");
	memset(&ex, 0, sizeof(ex));
	ex.dev = dev, ex.mm = mm, ex.ctx = ctx, ex.pasid = sva_bond_pasid(bond);
	steps[0] = '\0';
	sva_test_unpublished_hook = on_unpublished;
	g0 = stats_of(ctx->global_pasids);
	is_int(sva_unbind(bond), 0, "sva_unbind of a bond with mm_exit");
	sva_test_unpublished_hook = NULL;
	g1 = stats_of(ctx->global_pasids);
	ok(strcmp(steps, "XDU") == 0, "  mm_exit, then the detach, then the unpublish (%s)", steps);
	ok(ex.calls == 1 && ex.drvdata == &drv, "  mm_exit once, with the bond's drvdata");
	is_int(ex.lookup, 0, "  inside mm_exit the bond is still found");
	ok(ex.dev_lock == 0 && ex.mm_lock == 0 && ex.pasid_lock == 0,
	   "  and no libsva lock is held there (device %d, address space %d, PASIDs %d)", ex.dev_lock, ex.mm_lock,
	   ex.pasid_lock);
	is_int(ex.bad_bind, -EDEADLK, "  inside it a bind with an unknown flag: -EDEADLK (before the argument checks)");
	is_int(ex.null_out, -EDEADLK, "  a bind with a NULL out: -EDEADLK");
	is_int(ex.bind, -EDEADLK, "  a valid bind: -EDEADLK, *out untouched");
	is_int(ex.forked_bind, -EDEADLK, "  a bind in a forked child: -EDEADLK, before -ECHILD");
	is_int(ex.forked_unbind, -EDEADLK, "  an unbind of its bond in a forked child: -EDEADLK, before -ECHILD");
	is_int(ex.real_fork, 0,
	       "  a child fork(2)ed inside mm_exit is a child, and its bind and unbind are still -EDEADLK, not -ECHILD "
	       "(3: not seen as a child, 4: bind, 5: unbind, 6: *out written, 7: set_pasid_range refused, "
	       "8: sva_mm_free not refused, its bond no longer found)");
	is_int(ex.set_range, -EINVAL,
	       "  sva_dev_set_pasid_range inside mm_exit is not refused: an inverted range is -EINVAL, not -EDEADLK");
	{
		/* Nor in a forked child: its own -EINVAL, not -ECHILD. */
		pid_t pid = fork();
		int st = -1;

		if (pid == 0)
			_exit(!sva_ctx_forked(ctx) ? 3 : sva_dev_set_pasid_range(dev, 5, 4) != -EINVAL ? 4 : 0);
		if (pid < 0 || waitpid(pid, &st, 0) != pid || !WIFEXITED(st))
			st = -1;
		is_int(st < 0 ? -1 : WEXITSTATUS(st), 0,
		       "  sva_dev_set_pasid_range in a forked child is not refused: an inverted range is -EINVAL, "
		       "not -ECHILD (3: not seen as a child, 4: refused)");
	}
	is_int(detach_dev_lock, EBUSY, "  the detach runs with the device's lock held");
	is_int(detach_lookup, 0, "  and the bond is still found during it (unpublished after the detach)");
	is_int(unpub_lookup, -ENOENT, "  once unpublished, the device's lookup finds nothing");
	ok(same_counts(unpub_stats, g0), "  and the PASID is still allocated then (%llu allocated)",
	   (unsigned long long)unpub_stats.allocated);
	ok(g1.allocated == g0.allocated - 1 && g1.quarantined == g0.quarantined + 1,
	   "  when the call returns it is in quarantine (allocated %llu -> %llu, quarantined %llu -> %llu)",
	   (unsigned long long)g0.allocated, (unsigned long long)g1.allocated, (unsigned long long)g0.quarantined,
	   (unsigned long long)g1.quarantined);
}

/*
 * sva_unbind(3), When the detach fails: for a RID bond, -EIO, the bond gone
 * (lookups find nothing, its mm_exit ran once), its page table kept (it may
 * still be attached), and "the RID is not retired: a later SVA_BIND_RID bind
 * attaches it anew".  On a device with PASIDs the RID's "detach" is its
 * parking again, whose failure was logged twice (the parking's line, then
 * the unbind's): one line, as every failing call logs (libsva(7), Errors).
 */
static void test_rid_detach_fails(struct sva_ctx *ctx, struct sva_mm *mm)
{
	struct sva_dev with, without;
	struct sva_bond_ops ops = { .size = sizeof(ops), .mm_exit = on_exit_a };
	struct sva_bind_opts bo = { .size = sizeof(bo), .flags = SVA_BIND_PINNED | SVA_BIND_RID, .ops = &ops };

	dev_init(&with, ctx, 20, "rid-with-pasids");
	dev_init(&without, ctx, 0, "rid-without-pasids");
	for (int i = 0; i < 2; i++) {
		struct sva_dev *dev = i ? &without : &with;
		const char *what = i ? "a device without PASIDs (detach)" : "a device with PASIDs (parked again)";
		struct sva_bond *bond = NULL, *again = NULL;
		int e0, ret;

		is_int(sva_bind(dev, mm, &bo, &bond), 0, "%s: RID bind", what);
		if (!bond)
			continue;
		exit_a = 0;
		if (i)
			detach_err = -EBUSY;
		else
			attach_err = -EBUSY;
		e0 = err_lines;
		n_destroy = 0;
		ret = sva_unbind(bond);
		attach_err = detach_err = 0;
		is_int(ret, -EIO, "%s: an unbind whose detach fails: -EIO", what);
		ok(err_lines - e0 == 1 && strstr(last, "RID"), "  one error line about the RID (%d): %s", err_lines - e0,
		   last);
		if (!i)
			ok(strstr(last, "parking it again: the attach") != NULL,
			   "  the line says which step of the parking failed: %s", last);
		ok(exit_a == 1, "  its mm_exit ran, once (%d)", exit_a);
		is_int(sva_dev_bond_lookup(dev, SVA_PASID_RID, NULL, NULL), -ENOENT, "  the bond is gone from lookups");
		ok(n_destroy == 0, "  its page table is not destroyed (%d destroys)", n_destroy);
		ok(mm->hwpts != NULL, "  the address space still holds it");
		n_attach = 0;
		ret = sva_bind(dev, mm, &(struct sva_bind_opts){ .size = sizeof(bo), .flags = SVA_BIND_PINNED | SVA_BIND_RID },
			       &again);
		ok(ret == 0 && n_attach == 1, "  the RID is not retired: a later RID bind attaches it anew (%d, %d attach)",
		   ret, n_attach);
		if (again)
			is_int(sva_unbind(again), 0, "  and unbinds");
	}
}

/* "An INFO-level log line records each bond and its mode." */
static void test_info_line(struct sva_dev *dev, struct sva_mm *mm)
{
	struct sva_bind_opts bo = { .size = sizeof(bo), .flags = SVA_BIND_PINNED };
	struct sva_bond *bond = NULL;
	int i0 = info_lines;

	if (sva_bind(dev, mm, &bo, &bond))
		tap_bail("cannot bind for the INFO line test");
	ok(info_lines - i0 == 1 && strstr(last_info, "pinned"), "a pinned bind: one INFO line, with its mode (%s)",
	   last_info);
	sva_unbind(bond);
	bo.flags = SVA_BIND_PINNED | SVA_BIND_RID;
	i0 = info_lines;
	if (sva_bind(dev, mm, &bo, &bond))
		tap_bail("cannot bind the RID for the INFO line test");
	ok(info_lines - i0 == 1 && strstr(last_info, "pinned") && strstr(last_info, "RID"),
	   "a pinned RID bind: one INFO line, with its kind and mode (%s)", last_info);
	sva_unbind(bond);
}

/* The context is made a poll-mode one for the calls, and put back. */
static void test_fault_fd_refused(struct sva_ctx *ctx)
{
	static const int errs[] = { ENOTTY, ENOMEM, ENFILE, EMFILE };
	bool poll = ctx->fe.poll_mode;

	ctx->fe.poll_mode = true;
	for (size_t i = 0; i < sizeof(errs) / sizeof(errs[0]); i++) {
		int before = n_queue;

		queue_errno = errs[i];
		for (int call = 0; call < 2; call++) {
			err_lines = 0;
			last[0] = '\0';
			is_int(sva_ctx_fault_fd(ctx), -errs[i], "sva_ctx_fault_fd: the kernel refuses the queue with %s: "
				"passed on (call %d)", strerror(errs[i]), call + 1);
			ok(err_lines == 1 && strstr(last, "IOMMU_FAULT_QUEUE_ALLOC"), "  one error line naming it (%d: %s)",
			   err_lines, last);
			/* The system's table is full, not the process's: raising
			 * RLIMIT_NOFILE does not help. */
			if (errs[i] == ENFILE)
				ok(!strstr(last, "RLIMIT_NOFILE") && strstr(last, "fs.file-max"),
				   "  ENFILE: the remedy is the system's limit (%s)", last);
			if (errs[i] == EMFILE)
				ok(strstr(last, "RLIMIT_NOFILE") && !strstr(last, "fs.file-max") && !strstr(last, "6.11"),
				   "  EMFILE: the remedy is the process's limit (%s)", last);
		}
		is_int(n_queue - before, 2, "  each call asked the kernel again");
	}
	queue_errno = ENOTTY;
	ctx->fe.poll_mode = poll;
}

/*
 * sva_bind(3), ERRORS: "-EMFILE, -ENFILE No file descriptor is free for the
 * context's fault queue ... when the first fault-capable bind of the context
 * creates them", and -ENOMEM "in the kernel": the queue's refusal is the
 * bind's errno, and the bind changes nothing (*out untouched, no bond on the
 * address space, the PASID spaces as they were).
 */
static void test_bind_queue_refused(struct sva_ctx *ctx, struct sva_dev *dev, struct sva_mm *mm)
{
	static const int errs[] = { ENFILE, EMFILE, ENOMEM };

	for (size_t i = 0; i < sizeof(errs) / sizeof(errs[0]); i++) {
		struct sva_pasid_stats g0 = stats_of(ctx->global_pasids), d0 = stats_of(dev->pasids);
		struct sva_bond *bond = SENTINEL, *found = SENTINEL;
		void *h0 = mm->hwpts;

		queue_errno = errs[i];
		n_queue = 0;
		is_int(sva_bind(dev, mm, NULL, &bond), -errs[i],
		       "a fault-capable bind whose fault queue the kernel refuses with %s: passed on", strerror(errs[i]));
		ok(bond == SENTINEL && n_queue == 1 && same_counts(stats_of(ctx->global_pasids), g0) &&
			   same_counts(stats_of(dev->pasids), d0) && mm->hwpts == h0,
		   "  *out untouched, the queue asked for once (%d), no PASID taken, the page tables as they were",
		   n_queue);
		for (uint32_t p = d0.min; p <= d0.max && found == SENTINEL; p++)
			if (sva_dev_bond_lookup(dev, p, &found, NULL) != -ENOENT)
				found = NULL;
		ok(found == SENTINEL, "  no bond of the device under any of its PASIDs");
	}
	queue_errno = ENOTTY;
}

/*
 * libsva(7), Thread safety: a thread that forks inside a log callback is, in
 * the child, still inside it, so there sva_bind() and sva_unbind() are
 * -EDEADLK, not the -ECHILD of a forked child, and sva_mm_free() does
 * nothing (the bond is still found).  The log callback forks on the line of
 * a bind refused for a bad flag.
 */
static struct {
	struct sva_ctx *ctx;
	struct sva_dev *dev;
	struct sva_mm *mm;
	struct sva_bond *bond;
	int forked, status;
} lf = { .status = -1 };

static void fork_in_log(void *arg, enum sva_log_level level, const char *msg)
{
	struct sva_bind_opts good = { .size = sizeof(good), .flags = SVA_BIND_PINNED | SVA_BIND_EXTRA_PASID };
	struct sva_bond *x = SENTINEL;
	pid_t pid;
	int st;

	capture(arg, level, msg);
	if (lf.forked++)
		return;
	pid = fork();
	if (pid == 0) {
		int b, u, l;

		alarm(10); /* a hang is a failure, not a stuck test */
		b = sva_bind(lf.dev, lf.mm, &good, &x);
		u = sva_unbind(lf.bond);
		sva_mm_free(lf.mm);
		l = sva_dev_bond_lookup(lf.dev, sva_bond_pasid(lf.bond), NULL, NULL);
		_exit(!sva_ctx_forked(lf.ctx) ? 3 : b != -EDEADLK ? 4 : u != -EDEADLK ? 5 : x != SENTINEL ? 6 : l != 0 ? 7 : 0);
	}
	if (pid > 0 && waitpid(pid, &st, 0) == pid)
		lf.status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

static void test_fork_in_log(struct sva_ctx *ctx, struct sva_dev *dev, struct sva_mm *mm)
{
	struct sva_bind_opts good = { .size = sizeof(good), .flags = SVA_BIND_PINNED };
	struct sva_bind_opts bad = { .size = sizeof(bad), .flags = SVA_BIND_PINNED | (1u << 7) };
	struct sva_bond *x = NULL;

	if (sva_bind(dev, mm, &good, &lf.bond))
		tap_bail("cannot bind for the fork-in-log test");
	lf.ctx = ctx, lf.dev = dev, lf.mm = mm;
	sva_ctx_set_log(ctx, fork_in_log, NULL, SVA_LOG_DEBUG);
	is_int(sva_bind(dev, mm, &bad, &x), -EINVAL, "a bind with an unknown flag: -EINVAL, its line logged");
	sva_ctx_set_log(ctx, capture, NULL, SVA_LOG_DEBUG);
	ok(lf.forked >= 1, "  the log callback ran and forked");
	is_int(lf.status, 0,
	       "  a child fork(2)ed inside a log callback: bind and unbind -EDEADLK, not -ECHILD, and sva_mm_free "
	       "did nothing (3: not seen as a child, 4: bind, 5: unbind, 6: *out written, 7: the bond no longer found; 128+: a signal)");
	is_int(sva_unbind(lf.bond), 0, "  the parent's bond unbinds");
}

int main(void)
{
	struct sva_ctx ctx;
	struct sva_dev narrow, ranged, wide;
	struct sva_mm mm;

	ctx_init(&ctx);
	/* 8-bit PASIDs under the default global range (from 256): all its own. */
	dev_init(&narrow, &ctx, 8, "narrow");
	dev_init(&ranged, &ctx, 8, "ranged");
	if (sva_dev_set_pasid_range(&ranged, 1, 100))
		tap_bail("sva_dev_set_pasid_range failed");
	dev_init(&wide, &ctx, 20, "wide");
	sva_log_set((struct sva_log *)sva_log_default(), capture, NULL, SVA_LOG_DEBUG);
	mm_init(&mm, &ctx);
	test_range_first(&ctx, &narrow, &ranged, &mm);
	test_eexist_first(&wide, &mm);
	test_ops_copied(&wide, &mm);
	test_unbind_order(&ctx, &wide, &mm);
	test_info_line(&wide, &mm);
	test_rid_detach_fails(&ctx, &mm);
	test_fault_fd_refused(&ctx);
	test_bind_queue_refused(&ctx, &narrow, &mm);
	test_fork_in_log(&ctx, &wide, &mm);
	return done_testing();
}
