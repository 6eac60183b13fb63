/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Promises of sva_mm_new(3), sva_mm_free(3), sva_mm_stats(3) and
 * sva_mm_iova_ranges(3) that need no IOMMU: the public calls on a context
 * built by hand, with ioctl() playing iommufd (IOAS_ALLOC, DESTROY,
 * IOVA_RANGES) and the real userfaultfd and monitor thread of this process
 * where the host gives them.
 *
 *  - A failed sva_mm_new() changes nothing, at every point it can fail
 *    (libsva's allocations, the eventfd, the userfaultfd, the monitor's
 *    thread: failure injection), with SVA_MM_TRACK_STRICT so that a tracking
 *    failure is an error: *out untouched, one line at error level, no
 *    descriptor, no IOAS and no context reference left behind.
 *  - An IOAS_ALLOC the kernel refuses is passed through, the same way.
 *  - A size of the first layout reads nothing past it: whatever the caller's
 *    memory holds where pin_budget would be, the budget takes its default.
 *  - sva_mm_stats(): a refused size leaves every byte of *stats as it was.
 *  - sva_mm_iova_ranges(): -ENOSPC fills the first *nr and writes nothing
 *    past them, *nr the count; NULL with 0 asks for the count; the kernel's
 *    errors are passed through; only -ECHILD is logged; at most 64 ranges.
 *  - sva_dev_iova_ranges(): the same, from the device's RID address space;
 *    -ENOTCONN before the RID is attached, at debug level only.
 *  - Thread-safe sva_mm_new(): four threads make and free tracked, strict
 *    and untracked address spaces on one context; the last tracked one
 *    takes the monitor's userfaultfd with it (only the process's eventfd
 *    stays).
 *  - Thread-safe sva_mm_allow()/sva_mm_deny(): four threads on one
 *    restricted address space beside stats and invalidations; the set they
 *    leave is the one sva_mm_prefault() then accepts.
 *  - sva_mem_free() on a restricted address space whose deny runs out of
 *    memory: -ENOMEM, nothing changed (still allowed, mapped, allocated);
 *    and whose munmap the kernel refuses: passed through, allowed again.
 *  - sva_mem_alloc() on a restricted address space failing after its allow:
 *    a page another call allowed meanwhile stays allowed.
 *  - A forked child: sva_mm_iova_ranges() is -ECHILD, logged;
 *    sva_mm_stats() answers, untracked (the child's munmap is not followed);
 *    sva_mm_free() leaves the parent's IOAS alone (no IOMMU_DESTROY) and frees
 *    the child's copies of its HWPT records, bonds and PASID shares;
 *    sva_mm_new() on the parent's context is -ECHILD, *out untouched.
 */
#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "internal.h"
#include "kabi.h"
#include "pin_budget.h"
#include "reach.h"
#include "../map_fill.h"
#include "../tap.h"
#include "fake_bind_objects.h"

void sva_test_fail_nth(int n);	  /* test_fail.c, libsva-test only */
int sva_test_fail_nth_left(void); /* likewise */

/* ------------------------------------------------------ the fake kernel side */

static atomic_uint next_id = 100;
static atomic_int n_ioas, n_destroy;
static int ioas_errno;	 /* IOAS_ALLOC's refusal, 0: none */
static int ranges_errno; /* IOVA_RANGES' refusal, 0: none */
static unsigned n_ranges = 3;
static bool wide_window; /* IOVA_RANGES: one range, the whole user space */
static atomic_int n_map;
static int map_errno; /* IOAS_MAP's refusal, 0: none */
static atomic_int map_fail_every; /* refuse every Nth IOAS_MAP (ENOMEM), 0: none */
static atomic_int map_calls;

static bool fake_ioctl(unsigned long req, void *arg, int *rc)
{
	*rc = 0;
	if (req == KABI_IOMMU_IOAS_ALLOC) {
		if (ioas_errno) {
			errno = ioas_errno;
			*rc = -1;
			return true;
		}
		atomic_fetch_add(&n_ioas, 1);
		((struct kabi_iommu_ioas_alloc *)arg)->out_ioas_id = atomic_fetch_add(&next_id, 1);
	} else if (req == KABI_IOMMU_IOAS_MAP) {
		int every = atomic_load(&map_fail_every);

		if (map_errno || (every && atomic_fetch_add(&map_calls, 1) % every == 0)) {
			errno = map_errno ? map_errno : ENOMEM;
			*rc = -1;
			return true;
		}
		atomic_fetch_add(&n_map, 1);
	} else if (req == KABI_IOMMU_IOAS_UNMAP) {
		/* nothing to do: the pages were never pinned */
	} else if (req == KABI_IOMMU_DESTROY) {
		atomic_fetch_add(&n_destroy, 1);
	} else if (req == KABI_IOMMU_IOAS_IOVA_RANGES) {
		/* As the kernel: fill what fits, report the count, EMSGSIZE if more. */
		struct kabi_iommu_ioas_iova_ranges *c = arg;
		struct kabi_iommu_iova_range *r = (void *)(uintptr_t)c->allowed_iovas;

		if (wide_window) {
			if (c->num_iovas >= 1) {
				r[0].start = 0;
				r[0].last = (1ull << 47) - 1;
			}
			c->num_iovas = 1;
			return true;
		}
		if (ranges_errno) {
			errno = ranges_errno;
			*rc = -1;
			return true;
		}
		for (unsigned i = 0; i < n_ranges && i < c->num_iovas; i++) {
			r[i].start = (i + 1ull) << 24;
			r[i].last = ((i + 1ull) << 24) + 0xfffff;
		}
		if (n_ranges > c->num_iovas) {
			errno = EMSGSIZE;
			*rc = -1;
		}
		c->num_iovas = n_ranges;
	} else {
		return false;
	}
	return true;
}
#include "fake_ioctl.h"

/* --------------------------------------------------------------- helpers */

static atomic_int err_lines, all_lines;

/* Run at sva_mm_prefault()'s error line, once: what another thread does
 * while sva_mem_alloc() is between its allowance and its failure. */
static void (*at_prefault_error)(void);

static char last_err[512]; /* the last error line, for the tests that read it */

static void capture(void *arg, enum sva_log_level level, const char *msg)
{
	(void)arg;
	atomic_fetch_add(&all_lines, 1);
	if (level >= SVA_LOG_ERROR) {
		atomic_fetch_add(&err_lines, 1);
		snprintf(last_err, sizeof(last_err), "%s", msg);
	}
	if (at_prefault_error && level >= SVA_LOG_ERROR && !strncmp(msg, "sva_mm_prefault: ", 17)) {
		void (*f)(void) = at_prefault_error;

		at_prefault_error = NULL;
		f();
	}
}

static void lines_reset(void)
{
	atomic_store(&err_lines, 0);
	atomic_store(&all_lines, 0);
}

static int count_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	int n = 0;

	if (!d)
		tap_bail("opendir /proc/self/fd: %s", strerror(errno));
	while ((e = readdir(d)))
		if (e->d_name[0] != '.')
			n++;
	closedir(d);
	return n - 1; /* the directory's own */
}

#define SENT ((struct sva_mm *)0x5a5a)

static struct sva_ctx ctx;

static struct sva_mm_stats stats_of(const struct sva_mm *mm)
{
	struct sva_mm_stats s = { .size = sizeof(s) };

	if (sva_mm_stats(mm, &s))
		tap_bail("sva_mm_stats failed");
	return s;
}

/* --------------------------------------------------- sva_mm_new's failures */

/* The failures a run met, one bit per errno of sva_mm_new(3)'s ERRORS. */
#define ERRNO_BIT(ret) ((ret) == -ENOMEM ? 1u : (ret) == -EMFILE ? 2u : (ret) == -EAGAIN ? 4u : 8u)

/*
 * sva_mm_new(3), RETURN VALUE: "*out is left untouched and one line at error
 * level says what went wrong"; "A start that fails leaves no descriptor
 * behind".  Every failure point in turn, under SVA_MM_TRACK_STRICT, before
 * any address space of the process was tracked: the process's eventfd is made
 * on the way, and kept only once one start succeeded.
 */
static bool new_fails_change_nothing(int *kept, unsigned *seen)
{
	struct sva_mm_opts strict = { .size = sizeof(strict), .flags = SVA_MM_TRACK_STRICT };
	bool tracking = true;
	int fds = count_fds(), refs = atomic_load(&ctx.refs);
	int ioas = atomic_load(&n_ioas), destroyed = atomic_load(&n_destroy);
	int failures = 0, bad_strict = 0, bad_out = 0, bad_lines = 0, bad_fds = 0, bad_refs = 0, bad_ioas = 0, n;
	struct sva_mm *mm;
	int ret;

	for (n = 1; n < 64; n++) {
		mm = SENT;
		lines_reset();
		sva_test_fail_nth(n);
		ret = sva_mm_new(&ctx, &strict, &mm);
		bool hit = sva_test_fail_nth_left() == 0;

		sva_test_fail_nth(0);
		if (ret && !hit && tracking) {
			/* No userfaultfd here: the same points, untracked. */
			diag("SVA_MM_TRACK_STRICT refused without a failure point (%s): userfaultfd unavailable",
			     strerror(-ret));
			tracking = false;
			strict.flags = 0;
			n--;
			continue;
		}
		if (ret == 0) {
			/* A failure it absorbed (a fallback) must not leave a strict
			 * address space untracked. */
			if (hit && tracking && !(stats_of(mm).flags & SVA_MM_STAT_TRACKED)) {
				diag("failure point %d absorbed: untracked (%d)", n, stats_of(mm).untracked_reason);
				bad_strict++;
			}
			if (hit)
				diag("failure point %d absorbed (a fallback)", n);
			sva_mm_free(mm);
			/* The first tracked address space made keeps the eventfd open. */
			*kept += count_fds() - fds;
			fds = count_fds();
			if (!hit)
				break; /* every point passed: no later one */
			continue;
		}
		failures++;
		diag("failure point %d: %s", n, strerror(-ret));
		*seen |= ERRNO_BIT(ret);
		if (mm != SENT)
			bad_out++;
		if (atomic_load(&err_lines) != 1)
			bad_lines++;
		if (count_fds() != fds)
			bad_fds++;
		if (atomic_load(&ctx.refs) != refs)
			bad_refs++;
		if (atomic_load(&n_ioas) - ioas != atomic_load(&n_destroy) - destroyed)
			bad_ioas++;
		if (bad_out + bad_lines + bad_fds + bad_refs + bad_ioas)
			diag("failure point %d: %d (%s), fds %d/%d, ioas %d/%d", n, ret, strerror(-ret), count_fds(),
			     fds, atomic_load(&n_ioas) - ioas, atomic_load(&n_destroy) - destroyed);
	}
	ok(n < 64 && failures > 0, "sva_mm_new, SVA_MM_TRACK_STRICT: %d failure points tried, %d failed", n - 1,
	   failures);
	is_int(bad_strict, 0, "  a failure absorbed on the way still gives a tracked address space");
	is_int(bad_out, 0, "  *out untouched after each failure");
	is_int(bad_lines, 0, "  one line at error level for each");
	is_int(bad_fds, 0, "  no descriptor left behind by any (the eventfd included)");
	is_int(bad_refs, 0, "  no context reference kept by any");
	is_int(bad_ioas, 0, "  every IOAS made was destroyed again");

	/* The kernel refuses the IOAS. */
	mm = SENT;
	lines_reset();
	ioas_errno = ENOSPC;
	ret = sva_mm_new(&ctx, NULL, &mm);
	ioas_errno = 0;
	is_int(ret, -ENOSPC, "IOAS_ALLOC refused: its error passed through");
	ok(mm == SENT && atomic_load(&err_lines) == 1 && count_fds() == fds && atomic_load(&ctx.refs) == refs,
	   "  *out untouched, one error line, no descriptor, no reference (%d lines)", atomic_load(&err_lines));
	return tracking;
}

/* ------------------------------------------------------------ what it costs */

static int count_threads(void)
{
	DIR *d = opendir("/proc/self/task");
	struct dirent *e;
	int n = 0;

	if (!d)
		tap_bail("opendir /proc/self/task: %s", strerror(errno));
	while ((e = readdir(d)))
		if (e->d_name[0] != '.')
			n++;
	closedir(d);
	return n;
}

/* The descriptor newest in the table that reads /proc/<pid>/maps, -1 if none. */
static int maps_fd(void)
{
	char path[64], target[64];
	int found = -1;

	for (int fd = 0; fd < 1024; fd++) {
		ssize_t n;

		snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
		n = readlink(path, target, sizeof(target) - 1);
		if (n <= 0)
			continue;
		target[n] = '\0';
		if (n > 5 && !strcmp(target + n - 5, "/maps"))
			found = fd;
	}
	return found;
}

/*
 * sva_mm_new(3), NOTES: "An address space costs one kernel object, a small
 * allocation and one file descriptor (/proc/self/maps, kept open
 * close-on-exec ...; closed by sva_mm_free(3)); the first tracked one of the
 * process adds the userfaultfd and the monitor thread, which go with the last
 * one"; SVA_MM_UNTRACKED: "no monitor thread is started for this address
 * space".  Called with no address space alive.
 */
static void costs(bool tracking)
{
	const struct sva_mm_opts untracked = { .size = sizeof(untracked), .flags = SVA_MM_UNTRACKED };
	int fds = count_fds(), threads = count_threads(), fd;
	struct sva_mm *u = NULL, *a = NULL, *b = NULL;

	if (sva_mm_new(&ctx, &untracked, &u))
		tap_bail("sva_mm_new(SVA_MM_UNTRACKED) failed");
	fd = maps_fd();
	ok(count_fds() == fds + 1 && count_threads() == threads,
	   "SVA_MM_UNTRACKED: one descriptor more (%d -> %d), no thread (%d -> %d)", fds, count_fds(), threads,
	   count_threads());
	ok(fd >= 0 && (fcntl(fd, F_GETFD) & FD_CLOEXEC), "  /proc/self/maps, close-on-exec (fd %d)", fd);
	if (!tracking) {
		skip(3, "userfaultfd unavailable");
		sva_mm_free(u);
		return;
	}
	if (sva_mm_new(&ctx, NULL, &a) || sva_mm_new(&ctx, NULL, &b))
		tap_bail("sva_mm_new failed");
	ok(count_fds() == fds + 4 && count_threads() == threads + 1,
	   "two tracked beside it: a descriptor each, one userfaultfd, one monitor thread (fds +%d, threads +%d)",
	   count_fds() - fds, count_threads() - threads);
	sva_mm_free(a);
	ok(count_fds() == fds + 3 && count_threads() == threads + 1, "one tracked freed: the monitor stays");
	sva_mm_free(b);
	sva_mm_free(u);
	ok(count_fds() == fds && count_threads() == threads,
	   "the last freed: the userfaultfd and the monitor go with it (fds %+d, threads %+d)", count_fds() - fds,
	   count_threads() - threads);
}

/* ------------------------------------------------------- the first layout */

/*
 * sva_mm_new(3), size: "A size of exactly offsetof(struct sva_mm_opts,
 * pin_budget) (its first layout) is accepted and the budget takes its
 * default": an old caller's struct ends there, so whatever follows it in
 * memory is not the caller's budget.
 */
static void first_layout(void)
{
	union {
		struct sva_mm_opts o;
		unsigned char bytes[sizeof(struct sva_mm_opts)];
	} u;
	struct sva_mm *mm = NULL;
	uint64_t def = sva_pin_default_budget();
	int ret;

	memset(u.bytes, 0, sizeof(u.bytes));
	u.o.size = offsetof(struct sva_mm_opts, pin_budget);
	u.o.flags = SVA_MM_UNTRACKED;
	u.o.pin_budget = 3 * 4096; /* not the caller's: past its size */
	ret = sva_mm_new(&ctx, &u.o, &mm);
	is_int(ret, 0, "first layout, other bytes where pin_budget would be: accepted");
	if (ret == 0) {
		ok(stats_of(mm).pin_budget == def,
		   "  the budget is the default (%llu), not the bytes past the size (%llu)",
		   (unsigned long long)def, (unsigned long long)stats_of(mm).pin_budget);
		sva_mm_free(mm);
	} else {
		skip(1, "no address space");
	}
}

/* -------------------------------------------------------------- sva_mm_stats */

/* sva_mm_stats(3): a refused size is -EINVAL, and *stats keeps every byte. */
static void stats_refused_untouched(struct sva_mm *mm)
{
	const size_t first = offsetof(struct sva_mm_stats, pin_budget);
	const size_t bad[] = { 0, sizeof(size_t), offsetof(struct sva_mm_stats, bytes_visible), first - 1, first + 1,
			       first + 8, sizeof(struct sva_mm_stats) - 1 };
	int changed = 0, not_einval = 0;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		union {
			struct sva_mm_stats s;
			unsigned char b[sizeof(struct sva_mm_stats)];
		} u, was;

		memset(u.b, 0xa5, sizeof(u.b));
		u.s.size = bad[i];
		was = u;
		if (sva_mm_stats(mm, &u.s) != -EINVAL)
			not_einval++;
		if (memcmp(u.b, was.b, sizeof(u.b)))
			changed++;
	}
	is_int(not_einval, 0, "sva_mm_stats: each bad size is -EINVAL");
	is_int(changed, 0, "  and leaves *stats as it was, every byte");
}

/* -------------------------------------------------------- sva_mm_iova_ranges */

static void iova_ranges(struct sva_mm *mm)
{
	struct sva_iova_range r[70];
	size_t nr;
	int ret;

	lines_reset();
	n_ranges = 3;
	memset(r, 0xa5, sizeof(r));
	nr = 1;
	ret = sva_mm_iova_ranges(mm, r, &nr);
	is_int(ret, -ENOSPC, "iova_ranges: room for 1 of 3: -ENOSPC");
	ok(nr == 3 && r[0].start == 1ull << 24 && r[0].last == (1ull << 24) + 0xfffff,
	   "  the first filled, *nr the count (%zu)", nr);
	ok(r[1].start == 0xa5a5a5a5a5a5a5a5ull && r[1].last == 0xa5a5a5a5a5a5a5a5ull,
	   "  nothing written past the room given");
	nr = 0;
	is_int(sva_mm_iova_ranges(mm, NULL, &nr), -ENOSPC, "iova_ranges: NULL and 0: -ENOSPC");
	is_int((int)nr, 3, "  with the count");
	nr = 0;
	is_int(sva_mm_iova_ranges(mm, r, &nr), -ENOSPC, "iova_ranges: an array and 0: -ENOSPC, the count");
	nr = 5;
	ok(sva_mm_iova_ranges(mm, r, &nr) == 0 && nr == 3 && r[2].start == 3ull << 24 && r[1].start < r[2].start,
	   "iova_ranges: room for 5: 0, the 3 in ascending order");
	n_ranges = 0;
	nr = 0;
	ret = sva_mm_iova_ranges(mm, NULL, &nr);
	ok(ret == 0 && nr == 0, "iova_ranges: no ranges, NULL and 0: 0, count 0 (%d)", ret);
	n_ranges = 70;
	nr = 70;
	ret = sva_mm_iova_ranges(mm, r, &nr);
	ok(ret == 0 && nr == 64 && r[63].start == 64ull << 24, "iova_ranges: 70 ranges: the first 64 reported (BUGS)");
	n_ranges = 3;
	nr = 4;
	is_int(sva_mm_iova_ranges(mm, r, NULL), -EINVAL, "iova_ranges: NULL nr: -EINVAL");
	is_int(sva_mm_iova_ranges(mm, NULL, &nr), -EINVAL, "iova_ranges: *nr 4, NULL ranges: -EINVAL");
	is_int((int)nr, 4, "  *nr left as it was");
	ranges_errno = ENOENT;
	is_int(sva_mm_iova_ranges(mm, r, &nr), -ENOENT, "iova_ranges: the kernel's -ENOENT passed through");
	ranges_errno = 0;
	is_int(atomic_load(&all_lines), 0, "  none of these logged (only -ECHILD and a NULL mm are)");
}

/*
 * sva_dev_iova_ranges(3) on a device whose RID sits on an address space: the
 * same -ENOSPC, count and 64-range rules as sva_mm_iova_ranges(), read from
 * the device's RID IOAS, and what is logged.  The mock has one range only,
 * so the VM tier never reaches the partial fill of a too-small array.
 */
static void dev_iova_ranges(struct sva_mm *mm)
{
	struct sva_iova_range r[70];
	struct sva_dev dev;
	size_t nr;
	int ret;

	fake_dev_init(&dev, &ctx, NULL, 7, 20, "fake-dev");
	lines_reset();
	nr = 4;
	is_int(sva_dev_iova_ranges(&dev, r, &nr), -ENOTCONN, "dev iova_ranges, RID not attached: -ENOTCONN");
	ok(atomic_load(&err_lines) == 0 && atomic_load(&all_lines) == 1, "  one line, at debug level (%d, %d)",
	   atomic_load(&err_lines), atomic_load(&all_lines));
	dev.rid_ioas = mm->ioas_id;
	lines_reset();
	n_ranges = 3;
	memset(r, 0xa5, sizeof(r));
	nr = 2;
	ret = sva_dev_iova_ranges(&dev, r, &nr);
	is_int(ret, -ENOSPC, "dev iova_ranges: room for 2 of 3: -ENOSPC");
	ok(nr == 3 && r[0].start == 1ull << 24 && r[1].start == 2ull << 24 && r[1].last == (2ull << 24) + 0xfffff,
	   "  the first 2 filled, in ascending order, *nr the count (%zu)", nr);
	ok(r[2].start == 0xa5a5a5a5a5a5a5a5ull && r[2].last == 0xa5a5a5a5a5a5a5a5ull,
	   "  nothing written past the room given");
	nr = 0;
	is_int(sva_dev_iova_ranges(&dev, NULL, &nr), -ENOSPC, "dev iova_ranges: NULL and 0: -ENOSPC");
	is_int((int)nr, 3, "  with the count");
	nr = 3;
	ok(sva_dev_iova_ranges(&dev, r, &nr) == 0 && nr == 3 && r[2].start == 3ull << 24,
	   "dev iova_ranges: room for exactly 3: 0, all 3");
	n_ranges = 0;
	nr = 0;
	ret = sva_dev_iova_ranges(&dev, NULL, &nr);
	ok(ret == 0 && nr == 0, "dev iova_ranges: no ranges, NULL and 0: 0, count 0 (%d)", ret);
	n_ranges = 70;
	nr = 70;
	ret = sva_dev_iova_ranges(&dev, r, &nr);
	ok(ret == 0 && nr == 64 && r[63].start == 64ull << 24, "dev iova_ranges: 70 ranges: the first 64 (BUGS)");
	n_ranges = 3;
	nr = 4;
	is_int(sva_dev_iova_ranges(&dev, NULL, &nr), -EINVAL, "dev iova_ranges: *nr 4, NULL ranges: -EINVAL");
	is_int((int)nr, 4, "  *nr left as it was");
	ranges_errno = ENOENT;
	is_int(sva_dev_iova_ranges(&dev, r, &nr), -ENOENT, "dev iova_ranges: the kernel's -ENOENT passed through");
	ranges_errno = 0;
	is_int(atomic_load(&all_lines), 0, "  none of these logged (only -ENOTCONN, -ECHILD and a NULL dev are)");
	dev.rid_ioas = 0;
	sva_dev_pasids_fini(&dev);
	pthread_mutex_destroy(&dev.lock);
}

/* ------------------------------------------------------------- thread safety */

#define THREADS 4
#define ROUNDS 25

static atomic_int th_bad;

static void *churn(void *arg)
{
	static const uint32_t flags[] = { 0, SVA_MM_TRACK_STRICT, SVA_MM_UNTRACKED, SVA_MM_PRIVATE };
	bool tracking = arg != NULL;

	for (int i = 0; i < ROUNDS; i++) {
		struct sva_mm_opts o = { .size = sizeof(o), .flags = flags[i % 4] };
		struct sva_mm *mm = NULL;
		struct sva_mm_stats s = { .size = sizeof(s) };
		bool want_tracked = tracking && !(o.flags & SVA_MM_UNTRACKED);

		if ((o.flags & SVA_MM_TRACK_STRICT) && !tracking)
			continue;
		if (sva_mm_new(&ctx, &o, &mm) || !mm) {
			atomic_fetch_add(&th_bad, 1);
			continue;
		}
		if (sva_mm_stats(mm, &s) || !!(s.flags & SVA_MM_STAT_TRACKED) != want_tracked || sva_mm_fence(mm))
			atomic_fetch_add(&th_bad, 1);
		sva_mm_free(mm);
	}
	return NULL;
}

/*
 * sva_mm_new(3): "Thread-safe"; the monitor "starts with the first tracked
 * address space and stops when the last is freed"; sva_mm_free(3), NOTES:
 * the last takes the userfaultfd with it, the eventfd stays.
 */
static void threads(bool tracking)
{
	pthread_t t[THREADS];
	int fds, refs = atomic_load(&ctx.refs);
	int ioas = atomic_load(&n_ioas), destroyed = atomic_load(&n_destroy);

	fds = count_fds(); /* after a first tracked address space: its eventfd is open */
	atomic_store(&th_bad, 0);
	for (int i = 0; i < THREADS; i++)
		if (pthread_create(&t[i], NULL, churn, tracking ? &ctx : NULL))
			tap_bail("pthread_create");
	for (int i = 0; i < THREADS; i++)
		pthread_join(t[i], NULL);
	is_int(atomic_load(&th_bad), 0, "%d threads x %d sva_mm_new/stats/fence/free on one context: each as asked",
	       THREADS, ROUNDS);
	is_int(count_fds(), fds, "  all freed: the userfaultfd and every maps descriptor closed");
	ok(atomic_load(&ctx.refs) == refs &&
		   atomic_load(&n_ioas) - ioas == atomic_load(&n_destroy) - destroyed,
	   "  every reference dropped, every IOAS destroyed");
}

/* ------------------------------------------------- allow/deny from threads */

#define AD_PAGES 16
#define AD_ROUNDS 200
#define PG 4096ul

static struct sva_mm *ad_mm;
static char *ad_base;
static atomic_int ad_bad, ad_stop;

/* Thread i works on its own 16 pages, splitting and merging them, and leaves
 * them allowed but for their last page. */
static void *ad_worker(void *arg)
{
	char *r = ad_base + (uintptr_t)arg * AD_PAGES * PG;

	for (int i = 0; i < AD_ROUNDS; i++) {
		if (sva_mm_allow(ad_mm, r, AD_PAGES * PG) || sva_mm_deny(ad_mm, r + 6 * PG, 4 * PG) ||
		    sva_mm_allow(ad_mm, r + 6 * PG, 4 * PG) || sva_mm_deny(ad_mm, r, AD_PAGES * PG))
			atomic_fetch_add(&ad_bad, 1);
	}
	if (sva_mm_allow(ad_mm, r, AD_PAGES * PG) || sva_mm_deny(ad_mm, r + (AD_PAGES - 1) * PG, PG))
		atomic_fetch_add(&ad_bad, 1);
	return NULL;
}

/* Reads and withdrawals beside them: sva_mm_stats, sva_mm_invalidate. */
static void *ad_reader(void *arg)
{
	(void)arg;
	while (!atomic_load(&ad_stop)) {
		struct sva_mm_stats s = { .size = sizeof(s) };

		if (sva_mm_stats(ad_mm, &s) || sva_mm_invalidate(ad_mm, ad_base, 4 * AD_PAGES * PG) < 0)
			atomic_fetch_add(&ad_bad, 1);
	}
	return NULL;
}

/*
 * sva_mm_allow(3), THREAD SAFETY: "Thread-safe."  Four threads allow, split,
 * merge and deny their own ranges of one restricted address space while a
 * fifth reads its statistics and invalidates: every call succeeds, and what
 * is allowed at the end is what each thread left (sva_mm_prefault accepts
 * it, and refuses each denied last page with -EACCES).
 */
static void allow_deny_threads(void)
{
	const struct sva_mm_opts o = { .size = sizeof(o), .flags = SVA_MM_RESTRICTED };
	pthread_t t[5];
	int refused = 0, accepted = 0;

	ad_base = mmap(NULL, 4 * AD_PAGES * PG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (ad_base == MAP_FAILED || sva_mm_new(&ctx, &o, &ad_mm))
		tap_bail("set-up failed");
	atomic_store(&ad_bad, 0);
	atomic_store(&ad_stop, 0);
	if (pthread_create(&t[4], NULL, ad_reader, NULL))
		tap_bail("pthread_create");
	for (uintptr_t i = 0; i < 4; i++)
		if (pthread_create(&t[i], NULL, ad_worker, (void *)i))
			tap_bail("pthread_create");
	for (int i = 0; i < 4; i++)
		pthread_join(t[i], NULL);
	atomic_store(&ad_stop, 1);
	pthread_join(t[4], NULL);
	is_int(atomic_load(&ad_bad), 0, "allow/deny from 4 threads, stats and invalidate from a fifth: every call 0");
	wide_window = true;
	for (int i = 0; i < 4; i++) {
		char *r = ad_base + i * AD_PAGES * PG;

		accepted += sva_mm_prefault(ad_mm, r, (AD_PAGES - 1) * PG) == 0;
		refused += sva_mm_prefault(ad_mm, r + (AD_PAGES - 1) * PG, PG) == -EACCES;
	}
	wide_window = false;
	ok(accepted == 4 && refused == 4, "  what each left allowed is, what each denied is not (%d, %d of 4)",
	   accepted,
	   refused);
	sva_mm_free(ad_mm);
	munmap(ad_base, 4 * AD_PAGES * PG);
}

/* ------------------------------------------------------------------ fork(2) */

static void forked(void)
{
	struct sva_mm *mm = NULL;
	pid_t pid;
	int st = 0, destroyed;

	if (sva_mm_new(&ctx, NULL, &mm))
		tap_bail("sva_mm_new failed");
	destroyed = atomic_load(&n_destroy);
	pid = fork();
	if (pid == 0) {
		struct sva_iova_range r[4];
		size_t nr = 4;
		struct sva_mm_stats s = { .size = sizeof(s) };
		struct sva_bond *b[3] = { sva_calloc(1, sizeof(*b[0])), sva_calloc(1, sizeof(*b[0])),
					  sva_calloc(1, sizeof(*b[0])) };
		struct sva_pasid_share *sh[2] = { sva_calloc(1, sizeof(*sh[0])), sva_calloc(1, sizeof(*sh[0])) };
		int bad = 0;

		lines_reset();
		if (sva_mm_iova_ranges(mm, r, &nr) != -ECHILD)
			bad |= 1;
		if (atomic_load(&err_lines) != 1)
			bad |= 2;
		if (sva_mm_stats(mm, &s) || (s.flags & SVA_MM_STAT_TRACKED))
			bad |= 4;
		{
			struct sva_mm *m2 = SENT;

			lines_reset();
			if (sva_mm_new(&ctx, NULL, &m2) != -ECHILD || m2 != SENT || atomic_load(&err_lines) != 1)
				bad |= 16;
		}
		{
			/* Bonds and the PASID shares under them, inherited: the
			 * child's sva_mm_free() frees its copies too.  Two
			 * bonds under the global PASID's share, one under a
			 * driver's value waiting on the context's pending list
			 * (which it must leave).  Given back: their slots come
			 * back among the next allocations of their sizes. */
			if (!b[0] || !b[1] || !b[2] || !sh[0] || !sh[1]) {
				bad |= 64;
			} else {
				sh[0]->mm = sh[1]->mm = mm;
				sh[0]->users = 2;
				sh[0]->bonds = b[0];
				b[0]->share_next = b[2];
				b[0]->share = b[2]->share = sh[0];
				sh[1]->users = 1;
				sh[1]->bonds = b[1];
				sh[1]->driver_owned = sh[1]->pending = true;
				sh[1]->pending_next = ctx.pending_shares;
				ctx.pending_shares = sh[1];
				b[1]->share = sh[1];
				b[0]->mm_next = b[1];
				b[1]->mm_next = b[2];
				b[2]->mm_next = mm->bonds;
				mm->bonds = b[0];
				mm->gshare = sh[0];
			}
		}
		{
			/* Records of HWPTs kept by failed detaches (bond.c),
			 * inherited: the child's sva_mm_free() frees them too.
			 * The arena hands a freed slot out first, so both come
			 * back among the next allocations of their size. */
			struct sva_hwpt *h[2] = { sva_calloc(1, sizeof(*h[0])), sva_calloc(1, sizeof(*h[0])) };
			void *again[64];
			int back = 0;

			if (!h[0] || !h[1])
				bad |= 64;
			else {
				h[0]->next = h[1];
				h[1]->next = mm->hwpts;
				mm->hwpts = h[0];
			}
			sva_mm_free(mm);
			for (int i = 0; i < 64; i++) {
				again[i] = sva_malloc(sizeof(*h[0]));
				back += again[i] && (again[i] == h[0] || again[i] == h[1]);
			}
			for (int i = 0; i < 64; i++)
				sva_free(again[i]);
			if (back != 2)
				bad |= 32;
		}
		if (!(bad & 64)) {
			void *again[2][64];
			int back = 0;

			for (struct sva_pasid_share *p = ctx.pending_shares; p; p = p->pending_next)
				if (p == sh[1])
					bad |= 128;
			for (int i = 0; i < 64; i++) {
				again[0][i] = sva_malloc(sizeof(struct sva_bond));
				again[1][i] = sva_malloc(sizeof(struct sva_pasid_share));
				for (int j = 0; j < 3; j++)
					back += again[0][i] && again[0][i] == (void *)b[j];
				for (int j = 0; j < 2; j++)
					back += again[1][i] && again[1][i] == (void *)sh[j];
			}
			for (int i = 0; i < 64; i++) {
				sva_free(again[0][i]);
				sva_free(again[1][i]);
			}
			if (back != 5)
				bad |= 128;
		}
		if (atomic_load(&n_destroy) != destroyed)
			bad |= 8;
		_exit(bad);
	}
	if (pid < 0 || waitpid(pid, &st, 0) != pid)
		tap_bail("fork: %s", strerror(errno));
	ok(WIFEXITED(st), "forked child exits");
	st = WIFEXITED(st) ? WEXITSTATUS(st) : 15;
	ok(!(st & 1), "forked child: sva_mm_iova_ranges is -ECHILD");
	ok(!(st & 2), "  logged, once, at error level");
	ok(!(st & 4), "  sva_mm_stats answers, and says untracked: the child's munmap is not followed");
	ok(!(st & 8), "  sva_mm_free issues no IOMMU_DESTROY: the parent's address space is left alone");
	ok(!(st & 16), "  sva_mm_new on the parent's context: -ECHILD, *out untouched, one error line");
	/* (64: an allocation of the test failed; an exit status has 8 bits.) */
	ok(!(st & (32 | 64)), "  sva_mm_free frees the records of HWPTs kept by failed detaches (%s)",
	   st & 64 ? "not allocated" : st & 32 ? "not given back" : "given back");
	ok(!(st & (128 | 64)),
	   "  sva_mm_free frees its bonds and the PASID shares under them, a share waiting for its first bond's "
	   "publication off the context's pending list (%s)",
	   st & 64 ? "not allocated" : st & 128 ? "not given back" : "given back");
	is_int(atomic_load(&n_destroy), destroyed, "the parent's IOAS still there");
	sva_mm_free(mm);
	is_int(atomic_load(&n_destroy), destroyed + 1, "  and the parent's sva_mm_free destroys it");
}

/*
 * sva_mem_free(3), ERRORS: "-ENOMEM: mm is restricted and denying the memory
 * there needed memory (splitting an allowed range): nothing changed, the
 * memory stays allocated and allowed."  The allocation sits inside one
 * allowed range of a set at its first capacity (8 ranges), so the deny must
 * grow the set; the first allocation of the call fails, then the second.
 */
static void mem_free_deny_enomem(void)
{
	const struct sva_mm_opts o = { .size = sizeof(o), .flags = SVA_MM_RESTRICTED | SVA_MM_UNTRACKED };
	struct sva_mm *mm = NULL;
	char *p = NULL, *other;
	int r, lines;
	bool hit;

	other = mmap(NULL, 16 * PG, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (other == MAP_FAILED || sva_mm_new(&ctx, &o, &mm) || sva_mem_alloc(4 * PG, NULL, (void **)&p))
		tap_bail("set-up failed");
	for (int i = 0; i < 7; i++)
		if (sva_mm_allow(mm, other + 2 * i * PG, PG))
			tap_bail("sva_mm_allow failed");
	if (sva_mm_allow(mm, p - PG, 6 * PG) || mm->allowed.n != 8 || mm->allowed.cap != 8) {
		skip(10, "the allowed set is not at its capacity");
		goto out;
	}
	p[PG] = 7;
	/* 1: the snapshot of what is allowed (to put back after a refused
	 * munmap); 2: the split. */
	for (int nth = 1; nth <= 2; nth++) {
		lines_reset();
		sva_test_fail_nth(nth);
		r = sva_mem_free(mm, p, 4 * PG);
		hit = sva_test_fail_nth_left() == 0;
		sva_test_fail_nth(0);
		lines = atomic_load(&err_lines);
		is_int(r, -ENOMEM, "sva_mem_free, restricted mm, the deny out of memory (allocation %d): -ENOMEM (injected: %d)",
		       nth, hit);
		ok(lines == 1, "  one error line (%d)", lines);
		ok(mm->allowed.n == 8 && sva_rset_covers(&mm->allowed, (uintptr_t)(p - PG), (uintptr_t)(p + 5 * PG)),
		   "  nothing changed: the memory still allowed (%zu ranges)", mm->allowed.n);
		ok(r != 0 && p[PG] == 7, "  still mapped, its contents kept");
	}
	is_int(sva_mem_free(mm, p, 4 * PG), 0, "  still allocated: the next free takes it");
	ok(!sva_rset_find(&mm->allowed, (uintptr_t)(p + PG)) && sva_rset_covers(&mm->allowed, (uintptr_t)(p - PG), (uintptr_t)p) &&
		   sva_rset_covers(&mm->allowed, (uintptr_t)(p + 4 * PG), (uintptr_t)(p + 5 * PG)),
	   "  which denies it, and only it");
	p = NULL;
out:
	if (p)
		sva_mem_free(mm, p, 4 * PG);
	sva_mm_free(mm);
	munmap(other, 16 * PG);
}

/*
 * sva_mem_free(3), ERRORS: a munmap(2) error "is passed through; the memory
 * stays allocated and mapped in the process.  If mm is restricted, what of
 * the memory was allowed there before the call is allowed again".  Mappings merged on both sides of the allocation
 * make its munmap split one mapping in two, which the kernel refuses with the
 * process at its map count limit.
 */
static void mem_free_munmap_refused(void)
{
	const struct sva_mm_opts o = { .size = sizeof(o), .flags = SVA_MM_RESTRICTED | SVA_MM_UNTRACKED };
	struct map_fill f;
	const char *why = map_fill_why_not(&f);
	struct sva_mm *mm = NULL;
	char *p = NULL;
	int r;

	if (why) {
		skip(4, why);
		return;
	}
	if (sva_mm_new(&ctx, &o, &mm) || sva_mem_alloc(4 * PG, NULL, (void **)&p) || sva_mm_allow(mm, p, 4 * PG))
		tap_bail("set-up failed");
	if (map_fill_around(&f, p, 4 * PG)) {
		skip(4, "cannot map around the allocation, or the region to fill the map count");
		goto out;
	}
	map_fill(&f);
	lines_reset();
	r = sva_mem_free(mm, p, 4 * PG);
	map_fill_release(&f);
	if (r == 0) {
		skip(4, "the kernel did not refuse the munmap");
		p = NULL;
		goto out;
	}
	is_int(r, -ENOMEM, "sva_mem_free, restricted mm, munmap refused at the map count limit: -ENOMEM");
	ok(sva_rset_covers(&mm->allowed, (uintptr_t)p, (uintptr_t)(p + 4 * PG)), "  the memory is allowed again");
	ok(p[0] == 1, "  still mapped");
	is_int(sva_mem_free(mm, p, 4 * PG), 0, "  still allocated: freed once the map count allows");
	p = NULL;
out:
	map_fill_release(&f);
	if (p)
		sva_mem_free(mm, p, 4 * PG);
	map_fill_undo(&f);
	sva_mm_free(mm);
}

/*
 * sva_mem_free(3), ERRORS: after a munmap(2) error in a restricted mm "what
 * of the memory was allowed there before the call is allowed again, and only
 * that", and "putting it back needs no memory" (one line, the munmap's).  The set holds
 * 8 ranges at its first capacity, 8: the driver allowed half the allocation
 * (the other half must not become reachable), then none of it (allowing it
 * all needed a ninth range, and the injected failure left a second line).
 */
static void mem_free_munmap_refused_allowances(void)
{
	const struct sva_mm_opts o = { .size = sizeof(o), .flags = SVA_MM_RESTRICTED | SVA_MM_UNTRACKED };
	struct map_fill f;
	const char *why = map_fill_why_not(&f);
	struct sva_mm *mm = NULL;
	char *p = NULL, *other;
	uintptr_t a;
	int r, lines;

	if (why) {
		skip(9, why);
		return;
	}
	other = mmap(NULL, 16 * PG, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (other == MAP_FAILED || sva_mm_new(&ctx, &o, &mm) || sva_mem_alloc(4 * PG, NULL, (void **)&p))
		tap_bail("set-up failed");
	a = (uintptr_t)p;
	for (int i = 0; i < 7; i++)
		if (sva_mm_allow(mm, other + 2 * i * PG, PG))
			tap_bail("sva_mm_allow failed");
	if (sva_mm_allow(mm, p, 2 * PG) || mm->allowed.n != 8 || mm->allowed.cap != 8) {
		skip(9, "the allowed set is not at its capacity");
		goto out;
	}
	if (map_fill_around(&f, p, 4 * PG)) {
		skip(9, "cannot map around the allocation, or the region to fill the map count");
		goto out;
	}

	map_fill(&f);
	lines_reset();
	sva_test_fail_nth(2); /* past the snapshot of what is allowed: the putting back */
	r = sva_mem_free(mm, p, 4 * PG);
	sva_test_fail_nth(0);
	lines = atomic_load(&err_lines);
	map_fill_release(&f);
	if (r == 0) {
		skip(9, "the kernel did not refuse the munmap");
		p = NULL;
		goto out;
	}
	is_int(r, -ENOMEM, "sva_mem_free, restricted mm, half of it allowed, munmap refused: -ENOMEM");
	is_int(lines, 1, "  one error line");
	ok(sva_rset_covers(&mm->allowed, a, a + 2 * PG), "  the half the driver allowed is allowed again");
	ok(!sva_rset_find(&mm->allowed, a + 2 * PG) && !sva_rset_find(&mm->allowed, a + 3 * PG) &&
		   mm->allowed.n == 8,
	   "  the half it had not allowed stays denied (%zu ranges)", mm->allowed.n);

	if (sva_mm_deny(mm, p, 4 * PG) || sva_mm_allow(mm, other + 14 * PG, PG) || mm->allowed.n != 8 ||
	    mm->allowed.cap != 8)
		tap_bail("set-up failed");
	map_fill(&f);
	lines_reset();
	sva_test_fail_nth(1);
	r = sva_mem_free(mm, p, 4 * PG);
	sva_test_fail_nth(0);
	lines = atomic_load(&err_lines);
	map_fill_release(&f);
	is_int(r, -ENOMEM, "sva_mem_free, restricted mm, none of it allowed, munmap refused: -ENOMEM");
	is_int(lines, 1, "  one error line");
	ok(!sva_rset_find(&mm->allowed, a) && !sva_rset_find(&mm->allowed, a + 3 * PG) && mm->allowed.n == 8,
	   "  none of it allowed, as before (%zu ranges)", mm->allowed.n);
	ok(p[0] == 1, "  still mapped");
	is_int(sva_mem_free(mm, p, 4 * PG), 0, "  still allocated: freed once the map count allows");
	p = NULL;
out:
	map_fill_release(&f);
	if (p)
		sva_mem_free(mm, p, 4 * PG);
	map_fill_undo(&f);
	sva_mm_free(mm);
	munmap(other, 16 * PG);
}

/*
 * sva_mem_alloc(3), ERRORS: a failure after the memory was allowed in a
 * restricted mm takes back only the allowance the call added.  Another
 * thread's sva_mm_allow() of a page of it, made and returned 0 while the call
 * was between its allowance and its failure (here: at the prefault's error
 * line, the prefault refused as in a strict address space whose tracking
 * stopped), is not taken back: in whatever order the two calls are taken to
 * have run, that page ends allowed.
 */
static struct sva_mm *race_mm;
static uint64_t race_start, race_end; /* what the allocation allowed */
static int race_allow = 1;

static void allow_meanwhile(void)
{
	struct sva_mm *mm = race_mm;

	pthread_mutex_lock(&mm->lock);
	if (mm->allowed.n == 1) {
		race_start = mm->allowed.v[0].start;
		race_end = mm->allowed.v[0].end;
	}
	pthread_mutex_unlock(&mm->lock);
	if (race_end - race_start >= 4 * PG)
		race_allow = sva_mm_allow(mm, (void *)(uintptr_t)(race_start + PG), PG);
}

static void mem_alloc_fail_keeps_concurrent_allow(void)
{
	const struct sva_mm_opts o = { .size = sizeof(o), .flags = SVA_MM_RESTRICTED | SVA_MM_UNTRACKED };
	struct sva_mm *mm = NULL;
	void *p = NULL;
	int r;

	if (sva_mm_new(&ctx, &o, &mm))
		tap_bail("set-up failed");
	struct sva_mem_opts mo = { .size = sizeof(mo), .flags = SVA_MEM_PREFAULT, .mm = mm };

	mm->flags |= SVA_MM_TRACK_STRICT;
	pthread_mutex_lock(&mm->map_lock);
	mm->lost = true;
	pthread_mutex_unlock(&mm->map_lock);
	wide_window = true;
	race_mm = mm;
	at_prefault_error = allow_meanwhile;
	lines_reset();
	r = sva_mem_alloc(4 * PG, &mo, &p);
	at_prefault_error = NULL;
	wide_window = false;
	is_int(r, -EIO, "sva_mem_alloc, restricted mm, the prefault refused while another call allows a page of it: -EIO");
	ok(race_end - race_start == 4 * PG, "  the memory was allowed meanwhile (0x%llx-0x%llx)",
	   (unsigned long long)race_start, (unsigned long long)race_end);
	is_int(race_allow, 0, "  that sva_mm_allow returned 0");
	ok(race_start && sva_rset_find(&mm->allowed, race_start + PG), "  the page it allowed stays allowed");
	ok(race_start && !sva_rset_find(&mm->allowed, race_start) && !sva_rset_find(&mm->allowed, race_start + 2 * PG) &&
		   !sva_rset_find(&mm->allowed, race_start + 3 * PG),
	   "  the rest of the memory is denied again (%zu ranges)", mm->allowed.n);
	pthread_mutex_lock(&mm->map_lock);
	mm->lost = false;
	pthread_mutex_unlock(&mm->map_lock);
	mm->flags &= ~(uint32_t)SVA_MM_TRACK_STRICT;
	sva_mm_free(mm);
}

/*
 * sva_mem_alloc(3): a call that fails leaves nothing of its memory visible.
 * A page mapped in the IOAS while the call was between its mmap() and its
 * failure (a device's fault or another thread's prefault of it: in an
 * unrestricted mm any address is reachable) is withdrawn with the unmap, as
 * sva_mem_free() withdraws it; in an untracked mm no event would, and the
 * IOAS kept the old pages pinned at an address the process no longer maps.
 */
static struct sva_mm *visible_mm;
static int visible_prefault = 1;
static size_t visible_len; /* the length of the munmap(2) to run before_munmap() in */
static size_t refuse_munmap_len; /* the length of the next munmap(2) to refuse (ENOMEM) */

/* munmap(2), with a page of the memory prefaulted first when its length is
 * visible_len: what a device's fault does between the failure and the
 * unmap.  libsva-test is linked into this program, so its calls come here. */
int munmap(void *addr, size_t len)
{
	static int (*real)(void *, size_t);

	if (refuse_munmap_len && len == refuse_munmap_len) {
		refuse_munmap_len = 0;
		errno = ENOMEM;
		return -1;
	}
	if (visible_len && len == visible_len) {
		visible_len = 0;
		map_errno = 0; /* the kernel maps again */
		visible_prefault = sva_mm_prefault(visible_mm, (char *)addr + PG, PG);
	}
	if (!real)
		real = (int (*)(void *, size_t))dlsym(RTLD_NEXT, "munmap");
	return real(addr, len);
}

static void mem_alloc_fail_withdraws_what_was_mapped(void)
{
	const struct sva_mm_opts o = { .size = sizeof(o), .flags = SVA_MM_UNTRACKED };
	struct sva_mm_stats st = { .size = sizeof(st) };
	struct sva_mm *mm = NULL;
	void *p = NULL;
	int r;

	if (sva_mm_new(&ctx, &o, &mm))
		tap_bail("set-up failed");
	struct sva_mem_opts mo = { .size = sizeof(mo), .flags = SVA_MEM_PREFAULT, .mm = mm };

	wide_window = true;
	visible_mm = mm;
	visible_len = 4 * PG;
	map_errno = ENOMEM;
	lines_reset();
	r = sva_mem_alloc(4 * PG, &mo, &p);
	visible_len = 0;
	map_errno = 0;
	wide_window = false;
	is_int(r, -ENOMEM, "sva_mem_alloc, untracked mm, the kernel refused the prefault's map, a page of the memory "
			   "mapped before the unmap: -ENOMEM");
	is_int(visible_prefault, 0, "  the page was mapped before the unmap");
	is_int(sva_mm_stats(mm, &st), 0, "  sva_mm_stats");
	is_int((int)st.bytes_visible, 0, "  nothing of the memory stays visible once it is unmapped (bytes_visible)");
	sva_mm_free(mm);
}

/*
 * sva_mem_alloc(3): a failed call leaves nothing mapped, and one line says
 * what went wrong.  A munmap(2) of its memory that the kernel refuses on the
 * way out cannot keep the first promise: then a second line says the memory
 * stays mapped, as sva_mem_free() says of its own refused munmap, rather than
 * the memory staying mapped and allocated without a word.
 */
static void mem_alloc_fail_munmap_refused(void)
{
	const struct sva_mm_opts o = { .size = sizeof(o), .flags = SVA_MM_UNTRACKED };
	struct sva_mm *mm = NULL;
	void *p = NULL;
	int r, errs;

	if (sva_mm_new(&ctx, &o, &mm))
		tap_bail("set-up failed");
	struct sva_mem_opts mo = { .size = sizeof(mo), .flags = SVA_MEM_PREFAULT, .mm = mm };

	wide_window = true;
	map_errno = ENOMEM;
	refuse_munmap_len = 8 * PG;
	lines_reset();
	last_err[0] = '\0';
	r = sva_mem_alloc(8 * PG, &mo, &p);
	errs = atomic_load(&err_lines);
	map_errno = 0;
	wide_window = false;
	is_int(r, -ENOMEM, "sva_mem_alloc, the prefault's map refused, then the munmap of its memory: -ENOMEM");
	ok(refuse_munmap_len == 0, "  the munmap was tried and refused");
	ok(p == NULL, "  *out untouched");
	is_int(errs, 2, "  two error lines: the failure, and the memory that stays mapped");
	ok(strstr(last_err, "munmap") && strstr(last_err, "stays mapped"),
	   "  the second says its munmap failed and the memory stays mapped (%s)", last_err);
	refuse_munmap_len = 0;
	sva_mm_free(mm);
}

/*
 * sva_mem_alloc(3), sva_mem_free(3), sva_mm_allow(3), sva_mm_deny(3),
 * THREAD SAFETY: two threads allocate and free memory for one restricted
 * address space (a third of the prefaults' maps refused, so a third of the
 * allocations take their undo) while two others allow and deny pages across
 * the same addresses.  Every call answers 0 (an allocation may fail with the
 * refused map's -ENOMEM, or the prefault's -EACCES when a deny came between
 * its allow and its prefault),
 * no undo is left on the address space's list, and once the allocators are
 * done the last allow and deny decide what is allowed (under
 * ThreadSanitizer in the tsan tier: the undo list's links and ranges).
 */
#define UR_PAGES 32
#define UR_ALLOCS 150

static struct sva_mm *ur_mm;
static uint64_t ur_base;
static atomic_int ur_bad, ur_allocs_done, ur_refused;

static void *ur_allocator(void *arg)
{
	struct sva_mem_opts mo = { .size = sizeof(mo), .flags = SVA_MEM_PREFAULT, .mm = ur_mm };

	(void)arg;
	for (int i = 0; i < UR_ALLOCS; i++) {
		void *p = NULL;
		int r = sva_mem_alloc((size_t)(1 + i % 4) * PG, &mo, &p);

		/* -ENOMEM: the map refused; -EACCES: another thread denied part
		 * of the memory between the call's allow and its prefault. */
		if (r == -ENOMEM || r == -EACCES) {
			atomic_fetch_add(&ur_refused, 1);
		} else if (r) {
			if (atomic_fetch_add(&ur_bad, 1) < 3)
				diag("sva_mem_alloc: %d", r);
		} else if ((r = sva_mem_free(ur_mm, p, (size_t)(1 + i % 4) * PG))) {
			if (atomic_fetch_add(&ur_bad, 1) < 3)
				diag("sva_mem_free: %d", r);
		}
	}
	atomic_fetch_add(&ur_allocs_done, 1);
	return NULL;
}

static void *ur_allower(void *arg)
{
	unsigned k = (unsigned)(uintptr_t)arg * 7;

	while (atomic_load(&ur_allocs_done) < 2) {
		char *a = (char *)(uintptr_t)(ur_base + (k % (UR_PAGES - 2)) * PG);

		int r = sva_mm_allow(ur_mm, a, 2 * PG);

		if (!r)
			r = sva_mm_deny(ur_mm, a + ((k / 3) % 2) * PG, PG);
		if (r && atomic_fetch_add(&ur_bad, 1) < 3)
			diag("sva_mm_allow or sva_mm_deny: %d", r);
		k = k * 1103515245u + 12345u;
	}
	return NULL;
}

static void undo_threads(void)
{
	const struct sva_mm_opts o = { .size = sizeof(o), .flags = SVA_MM_RESTRICTED };
	struct sva_mem_opts mo = { .size = sizeof(mo), .mm = NULL };
	pthread_t t[4];
	void *p = NULL;
	bool undos_left;

	wide_window = true;
	if (sva_mm_new(&ctx, &o, &ur_mm))
		tap_bail("set-up failed");
	mo.mm = ur_mm;
	/* Where the allocations go: the lowest free addresses of the window. */
	if (sva_mem_alloc(UR_PAGES * PG, &mo, &p) || sva_mem_free(ur_mm, p, UR_PAGES * PG))
		tap_bail("set-up allocation failed");
	ur_base = (uintptr_t)p;
	atomic_store(&ur_bad, 0);
	atomic_store(&ur_allocs_done, 0);
	atomic_store(&ur_refused, 0);
	atomic_store(&map_calls, 0);
	atomic_store(&map_fail_every, 3);
	for (uintptr_t i = 0; i < 4; i++)
		if (pthread_create(&t[i], NULL, i < 2 ? ur_allocator : ur_allower, (void *)i))
			tap_bail("pthread_create");
	for (int i = 0; i < 4; i++)
		pthread_join(t[i], NULL);
	atomic_store(&map_fail_every, 0);
	is_int(atomic_load(&ur_bad), 0, "alloc/free from 2 threads, allow/deny over the same pages from 2 others: "
					"every call 0, or the allocation's -ENOMEM (map refused) or -EACCES (denied meanwhile)");
	ok(atomic_load(&ur_refused) > 0, "  allocations failed after their allow, and took their undo (%d)",
	   atomic_load(&ur_refused));
	pthread_mutex_lock(&ur_mm->lock);
	undos_left = ur_mm->undos != NULL;
	pthread_mutex_unlock(&ur_mm->lock);
	ok(!undos_left, "  no undo is left on the address space's list");
	/* The last word is the last call's. */
	if (sva_mm_allow(ur_mm, (void *)(uintptr_t)ur_base, UR_PAGES * PG) ||
	    sva_mm_deny(ur_mm, (void *)(uintptr_t)(ur_base + 8 * PG), PG))
		tap_bail("allow/deny failed");
	ok(sva_rset_covers(&ur_mm->allowed, ur_base, ur_base + 8 * PG) &&
		   !sva_rset_find(&ur_mm->allowed, ur_base + 8 * PG) &&
		   sva_rset_covers(&ur_mm->allowed, ur_base + 9 * PG, ur_base + UR_PAGES * PG),
	   "  then one allow and one deny decide what is allowed (%zu ranges)", ur_mm->allowed.n);
	wide_window = false;
	sva_mm_free(ur_mm);
}

int main(void)
{
	struct sva_mm *mm = NULL;
	int kept[2] = { 0, 0 };
	bool tracking;

	fake_ctx_init(&ctx, capture, UINT64_MAX);
	/* First with no address space tracked in this process yet (the eventfd
	 * is made on the way), then with the eventfd kept: the points after it
	 * differ. */
	unsigned seen = 0;

	tracking = new_fails_change_nothing(&kept[0], &seen);
	tracking = new_fails_change_nothing(&kept[1], &seen) && tracking;
	/* sva_mm_new(3), ERRORS, under SVA_MM_TRACK_STRICT: -ENOMEM (libsva's
	 * allocations), -EMFILE ("No file descriptor is free ... for the eventfd
	 * that the first tracked address space of the process creates") and
	 * -EAGAIN ("The monitor thread cannot be created (pthread_create(3)"):
	 * each is met at its failure point, and no other errno is. */
	if (tracking)
		is_int((int)seen, 7, "failure points give -ENOMEM, -EMFILE (eventfd) and -EAGAIN (monitor thread), "
				     "nothing else (bits 1, 2, 4; 8 for another errno)");
	else
		skip(1, "no userfaultfd here: the tracking failures are not reached");
	/* sva_mm_free(3), NOTES: "a count of open descriptors taken before the
	 * first address space is one short of what is open after the last is
	 * freed" (the eventfd), and only the first. */
	if (tracking)
		ok(kept[0] == 1 && kept[1] == 0,
		   "one descriptor kept after the first tracked address space, none after later ones (%d, %d)",
		   kept[0], kept[1]);
	else
		skip(1, "userfaultfd unavailable");
	if (sva_mm_new(&ctx, NULL, &mm))
		tap_bail("sva_mm_new failed");
	ok(!!(stats_of(mm).flags & SVA_MM_STAT_TRACKED) == tracking,
	   "a default address space is tracked where userfaultfd works (%d)",
	   tracking);
	stats_refused_untouched(mm);
	iova_ranges(mm);
	dev_iova_ranges(mm);
	sva_mm_free(mm);
	costs(tracking);
	first_layout();
	threads(tracking);
	allow_deny_threads();
	mem_free_deny_enomem();
	mem_free_munmap_refused();
	mem_free_munmap_refused_allowances();
	mem_alloc_fail_keeps_concurrent_allow();
	mem_alloc_fail_withdraws_what_was_mapped();
	undo_threads();
	forked();
	/* Last: its memory stays mapped and allocated. */
	mem_alloc_fail_munmap_refused();
	return done_testing();
}
