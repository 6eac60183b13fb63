/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * bench-coherence: what coherence tracking costs the process, against the same
 * operations on untracked memory, in one run (needs /dev/iommu: the test VM).
 *
 *   munmap, madvise(MADV_DONTNEED) of 4 KiB and 2 MiB that a tracked address
 *   space has mapped (so registered, and the caller waits for the monitor to
 *   read the event), against the same memory mapped in an untracked address
 *   space; target: tracked <= 3x untracked.
 *   first touch of registered memory against unregistered memory (no CPU fault
 *   may be intercepted); target <= 1.05x.
 *   sva_mm_fence() with nothing pending (no system call).
 *   For sva_mem_alloc's backing (docs/design.md, "Coherence"): one
 *   IOMMU_IOAS_MAP + UNMAP of anonymous memory against IOMMU_IOAS_MAP_FILE of
 *   a memfd + UNMAP, 64 KiB and 2 MiB, pinned through the mock's domain
 *   (no target: a figure for the decision).
 * Each round gives a ratio, of the two sides' medians over iterations that
 * alternate tracked and untracked (who goes first alternating too); a figure has the median, min, max and
 * halves of the ratios over the rounds (--rounds N, 7 by default) and the
 * verdict rule of bench-fault (bench.h, bench_summarize()).
 *
 *   bench-coherence [--json] [--rounds N]
 *
 * Without /dev/iommu (any Linux host with userfaultfd) it measures the same
 * operations on memory registered with libsva's userfaultfd against plain
 * memory: the round trip to the monitor that a tracked munmap() pays, without
 * the IOAS (whose unmap runs on the monitor, after the caller is released).
 */
#define _GNU_SOURCE /* memfd_create() */
#include <fcntl.h>
#include <sys/mman.h>
#include <time.h>

#include "bench.h"
#include "track.h"

#define PG 4096ull
#define REGION 0x48000000ull /* low and free; no device, so any address is in the IOAS */
#define ITERS 200
#define ROUNDS 7
#define TOUCH_PAGES 512u

/* A fresh mapping at REGION, touched, and made visible in mm. */
static unsigned char *visible(struct sva_mm *mm, size_t len)
{
	unsigned char *p = bench_map_at(REGION, len, PROT_READ | PROT_WRITE);

	if (len >= (2u << 20))
		madvise(p, len, MADV_NOHUGEPAGE); /* the same 4 KiB pages on both sides */
	memset(p, 1, len);
	if (sva_mm_prefault(mm, p, len))
		bench_bail("sva_mm_prefault of %zu bytes failed", len);
	return p;
}

/* Native mode: a stand-in address space the monitor applies events to (it has
 * no chunks, so nothing reaches an IOAS), and a flag for registered memory. */
static struct sva_mm *g_native_tracked;

static unsigned char *native_region(struct sva_mm *mm, size_t len)
{
	unsigned char *p = bench_map_at(REGION, len, PROT_READ | PROT_WRITE);

	if (len >= (2u << 20))
		madvise(p, len, MADV_NOHUGEPAGE);
	memset(p, 1, len);
	if (mm == g_native_tracked && sva_track_register(REGION, REGION + len))
		bench_bail("registering %zu bytes with the userfaultfd failed", len);
	return p;
}

/* One timed munmap (op 0) or madvise(DONTNEED) (op 1) of len bytes visible in mm. */
static double one(struct sva_mm *mm, size_t len, int op)
{
	unsigned char *p = mm->ioas_id ? visible(mm, len) : native_region(mm, len);
	uint64_t t0 = bench_now_ns(), t1;

	if (op == 0)
		munmap(p, len);
	else
		madvise(p, len, MADV_DONTNEED);
	t1 = bench_now_ns();
	if (mm->ioas_id) {
		sva_mm_fence(mm);
		sva_mm_invalidate(mm, p, len); /* the untracked side: unpin what the op left */
	} else {
		sva_track_fence();
	}
	if (op == 1)
		munmap(p, len);
	return (double)(t1 - t0);
}

static int rounds = ROUNDS;

/* A figure: each side's median, and the ratio of every round. */
struct figure {
	double tracked, untracked;
	double ratio[BENCH_MAX_ROUNDS];
};

/* Each side's median over the rounds' medians. */
static void sides(struct figure *f, double *rt, double *ru)
{
	f->tracked = bench_median(rt, (size_t)rounds);
	f->untracked = bench_median(ru, (size_t)rounds);
}

static void op_figure(struct sva_mm *tr, struct sva_mm *un, size_t len, int op, struct figure *f)
{
	static double rt[BENCH_MAX_ROUNDS], ru[BENCH_MAX_ROUNDS];

	for (int r = 0; r < rounds; r++) {
		double t[ITERS], u[ITERS];

		/* The sides take turns; who goes first alternates. */
		for (int i = 0; i < ITERS; i++) {
			if ((i + r) & 1) {
				u[i] = one(un, len, op);
				t[i] = one(tr, len, op);
			} else {
				t[i] = one(tr, len, op);
				u[i] = one(un, len, op);
			}
		}
		rt[r] = bench_median(t, ITERS);
		ru[r] = bench_median(u, ITERS);
		f->ratio[r] = rt[r] / ru[r];
	}
	sides(f, rt, ru);
}

/* First touch of TOUCH_PAGES pages, registered with the userfaultfd or not. */
static double touch(int registered)
{
	size_t len = TOUCH_PAGES * PG;
	unsigned char *p = bench_map_at(REGION, len, PROT_READ | PROT_WRITE);
	uint64_t t0, t1;

	madvise(p, len, MADV_NOHUGEPAGE);
	if (registered && sva_track_register(REGION, REGION + len))
		bench_bail("registering the touch region failed");
	t0 = bench_now_ns();
	for (size_t i = 0; i < len; i += PG)
		p[i] = 1;
	t1 = bench_now_ns();
	munmap(p, len);
	return (double)(t1 - t0) / TOUCH_PAGES;
}

static void touch_figure(struct figure *f)
{
	static double rt[BENCH_MAX_ROUNDS], ru[BENCH_MAX_ROUNDS];

	for (int r = 0; r < rounds; r++) {
		double t[21], u[21];

		for (int i = 0; i < 21; i++) {
			if ((i + r) & 1) {
				u[i] = touch(0);
				t[i] = touch(1);
			} else {
				t[i] = touch(1);
				u[i] = touch(0);
			}
		}
		rt[r] = bench_median(t, 21);
		ru[r] = bench_median(u, 21);
		f->ratio[r] = rt[r] / ru[r];
	}
	sides(f, rt, ru);
}

static double fence_ns(struct sva_mm *mm)
{
	uint64_t t0 = bench_now_ns();

	for (int i = 0; i < 100000; i++)
		sva_mm_fence(mm);
	return (double)(bench_now_ns() - t0) / 100000;
}

/* One map + unmap of len bytes at REGION in ioas: anonymous memory, or a memfd
 * by offset (IOMMU_IOAS_MAP_FILE).  ns, or a negative errno. */
static double map_once(int iommufd, uint32_t ioas, size_t len, int file)
{
	const uint32_t rw = KABI_IOMMU_IOAS_MAP_FIXED_IOVA | KABI_IOMMU_IOAS_MAP_READABLE | KABI_IOMMU_IOAS_MAP_WRITEABLE;
	unsigned char *p;
	uint64_t t0, t1;
	int fd = -1, ret;

	if (file) {
		fd = memfd_create("bench-coherence", MFD_CLOEXEC);
		if (fd < 0 || ftruncate(fd, (off_t)len))
			return -errno;
		p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	} else {
		p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	}
	if (p == MAP_FAILED)
		return -errno;
	memset(p, 1, len); /* both populated: the map pins, it does not fault in */
	t0 = bench_now_ns();
	if (file) {
		struct kabi_iommu_ioas_map_file m = { .size = sizeof(m), .flags = rw, .ioas_id = ioas, .fd = fd,
						      .start = 0, .length = len, .iova = REGION };

		ret = ioctl(iommufd, KABI_IOMMU_IOAS_MAP_FILE, &m) ? -errno : 0;
	} else {
		ret = sva_iommufd_ioas_map(iommufd, ioas, (uintptr_t)p, len, REGION, rw);
	}
	if (!ret)
		ret = sva_iommufd_ioas_unmap(iommufd, ioas, REGION, len);
	t1 = bench_now_ns();
	munmap(p, len);
	if (fd >= 0)
		close(fd);
	return ret ? ret : (double)(t1 - t0);
}

/* Median map + unmap, anonymous and memfd, interleaved; 0 if MAP_FILE is refused. */
static int map_file_figure(struct sva_ctx *ctx, size_t len, double *anon, double *file)
{
	struct sva_mm_opts uo = { .size = sizeof(uo), .flags = SVA_MM_UNTRACKED };
	struct sva_bind_opts bo = { .size = sizeof(bo), .flags = SVA_BIND_PINNED | SVA_BIND_RID };
	double a[41], f[41];
	struct sva_bond *bond;
	struct sva_dev *dev;
	struct sva_mm *mm;
	int ok = 1;

	if (sva_dev_open_mock(ctx, NULL, &dev))
		return 0;
	if (sva_mm_new(ctx, &uo, &mm) || sva_bind(dev, mm, &bo, &bond))
		bench_bail("map-file figure: setup failed");
	for (int i = 0; i < 41 && ok; i++) {
		a[i] = map_once(sva_ctx_fd(ctx), mm->ioas_id, len, 0);
		f[i] = map_once(sva_ctx_fd(ctx), mm->ioas_id, len, 1);
		ok = a[i] > 0 && f[i] > 0;
	}
	if (ok) {
		*anon = bench_median(a, 41);
		*file = bench_median(f, 41);
	}
	sva_unbind(bond);
	sva_mm_free(mm);
	sva_dev_close(dev);
	return ok;
}

/* userfaultfd(2) refused (a seccomp filter, as container runtimes' default
 * profiles have; a kernel without it): not a failure, but nothing here to
 * measure.  sva-bench(1): the benchmark is skipped, with the reason. */
static int uffd_refused(int err)
{
	return err == EPERM || err == ENOSYS || err == EOPNOTSUPP;
}

/* The native mode's stand-in context and address spaces (no longer listed by
 * the tracker): freed, so a leak checker has nothing to report. */
static void free_stand_ins(struct sva_ctx *ctx, struct sva_mm *tr, struct sva_mm *un)
{
	pthread_mutex_destroy(&tr->map_lock);
	pthread_mutex_destroy(&un->map_lock);
	free(tr);
	free(un);
	sva_log_fini(&ctx->log);
	free(ctx);
}

static int skipped(int json, int err)
{
	const char *why = "coherence tracking needs userfaultfd(2), refused here";
	char line[256];

	snprintf(line, sizeof(line), "%s: %s", why, strerror(err));
	if (json) {
		bench_json_print(bench_json_outcome("skipped", line));
	} else {
		printf("coherence benchmark skipped: ");
		utf8_put_text(line);
		putchar('\n');
	}
	return 0;
}

int bench_coherence(int argc, char **argv)
{
	struct sva_ctx_opts o = { .size = sizeof(o), .log_level = SVA_LOG_ERROR };
	struct sva_mm_opts uo = { .size = sizeof(uo), .flags = SVA_MM_UNTRACKED };
	struct sva_mm_stats st = { .size = sizeof(st) };
	struct figure f[5];
	static const char *names[5] = { "munmap_4k", "munmap_2m", "madvise_dontneed_4k", "madvise_dontneed_2m",
					"first_touch" };
	static const char *labels[5] = { "munmap 4 KiB", "munmap 2 MiB", "madvise(DONTNEED) 4 KiB",
					 "madvise(DONTNEED) 2 MiB", "first touch, per page" };
	static const double targets[5] = { 3, 3, 3, 3, 1.05 };
	struct bench_summary sum[5];
	struct sva_ctx *ctx;
	struct sva_mm *tr, *un;
	double fence;
	int json = 0, native, ret;

	if (bench_args(argc, argv, "bench-coherence", BENCH_MAX_ROUNDS, &json, &rounds))
		return 2;
	/* Without /dev/iommu this is the userfaultfd-only mode sva-bench(1)
	 * documents: no libsva error line saying the kernel needs iommufd. */
	native = access("/dev/iommu", F_OK) != 0 || sva_ctx_new(&o, &ctx) != 0;

	if (native) {
		/* No /dev/iommu: stand-ins the tracker can list (withdraw.h's calls
		 * only touch map_lock and the empty chunk table). */
		ctx = calloc(1, sizeof(*ctx));
		tr = calloc(1, sizeof(*tr));
		un = calloc(1, sizeof(*un));
		if (!ctx || !tr || !un)
			bench_bail("out of memory");
		ctx->fd = -1;
		sva_log_init(&ctx->log, NULL, NULL, SVA_LOG_OFF);
		tr->ctx = un->ctx = ctx;
		pthread_mutex_init(&tr->map_lock, NULL);
		pthread_mutex_init(&un->map_lock, NULL);
		enum sva_track_part what = SVA_TRACK_UFFD;

		ret = sva_track_add(tr, &what);
		if (ret && what == SVA_TRACK_UFFD && uffd_refused(-ret)) {
			free_stand_ins(ctx, tr, un);
			return skipped(json, -ret);
		}
		if (ret)
			bench_bail("coherence tracking is unavailable here: %s: %s",
				   sva_track_part_name(what), strerror(-ret));
		g_native_tracked = tr;
	} else {
		if (sva_mm_new(ctx, NULL, &tr) || sva_mm_new(ctx, &uo, &un))
			bench_bail("sva_mm_new failed");
		sva_mm_stats(tr, &st);
		if (!(st.flags & SVA_MM_STAT_TRACKED) && uffd_refused(-st.untracked_reason)) {
			sva_mm_free(tr);
			sva_mm_free(un);
			sva_ctx_free(ctx);
			return skipped(json, -st.untracked_reason);
		}
		if (!(st.flags & SVA_MM_STAT_TRACKED))
			bench_bail("coherence tracking is unavailable here (%s)", strerror(-st.untracked_reason));
	}
	op_figure(tr, un, PG, 0, &f[0]);
	op_figure(tr, un, 2u << 20, 0, &f[1]);
	op_figure(tr, un, PG, 1, &f[2]);
	op_figure(tr, un, 2u << 20, 1, &f[3]);
	touch_figure(&f[4]);
	for (int i = 0; i < 5; i++)
		sum[i] = bench_summarize(f[i].ratio, rounds, 1, 1, targets[i]);
	fence = native ? 0 : fence_ns(tr); /* native: no sva_mm_fence to time */
	double mf_anon[2] = { 0, 0 }, mf_file[2] = { 0, 0 };
	int mf = !native && map_file_figure(ctx, 64u << 10, &mf_anon[0], &mf_file[0]) &&
		 map_file_figure(ctx, 2u << 20, &mf_anon[1], &mf_file[1]);
	if (json) {
		json_object *doc = bench_json_made(json_object_new_object()), *fig; /* o is the context's options */

		bench_json_str(doc, "benchmark", "coherence");
		bench_json_str(doc, "mode", native ? "userfaultfd only" : "iommufd");
		bench_json_int(doc, "rounds", rounds);
		for (int i = 0; i < 5; i++) {
			fig = bench_json_obj(doc, names[i]);
			bench_json_num(fig, "tracked_ns", 0, f[i].tracked);
			bench_json_num(fig, "untracked_ns", 0, f[i].untracked);
			bench_json_ratio(fig, &sum[i], 1, 1, targets[i]);
		}
		if (native)
			bench_json_set(doc, "fence_idle_ns", NULL);
		else
			bench_json_num(doc, "fence_idle_ns", 1, fence);
		if (mf) {
			fig = bench_json_obj(doc, "map_anon_vs_file");
			bench_json_num(fig, "anon_64k_ns", 0, mf_anon[0]);
			bench_json_num(fig, "file_64k_ns", 0, mf_file[0]);
			bench_json_num(fig, "anon_2m_ns", 0, mf_anon[1]);
			bench_json_num(fig, "file_2m_ns", 0, mf_file[1]);
		}
		bench_json_print(doc);
	} else {
		printf("bench-coherence: tracked vs untracked memory%s, %d round%s (a ratio per round; values are medians)\n",
		       native ? " (no /dev/iommu: userfaultfd registration only, no IOAS)" : "", rounds,
		       rounds == 1 ? "" : "s");
		for (int i = 0; i < 5; i++)
			printf("  %s: tracked %.2f us, untracked %.2f us\n"
			       "    cost %.2fx (min %.2fx, max %.2fx; halves %.2fx, %.2fx), target <= %.2fx: %d/%d rounds, %s\n",
			       labels[i], f[i].tracked / 1e3, f[i].untracked / 1e3, sum[i].med, sum[i].min, sum[i].max,
			       sum[i].first_half, sum[i].second_half, targets[i], sum[i].met, rounds, sum[i].verdict);
		if (!native)
			printf("  sva_mm_fence with nothing pending: %.1f ns\n", fence);
		if (mf)
			printf("  map + unmap, anonymous vs memfd (IOMMU_IOAS_MAP_FILE): 64 KiB %.1f vs %.1f us (%.2fx), "
			       "2 MiB %.1f vs %.1f us (%.2fx)\n",
			       mf_anon[0] / 1e3, mf_file[0] / 1e3, mf_file[0] / mf_anon[0], mf_anon[1] / 1e3,
			       mf_file[1] / 1e3, mf_file[1] / mf_anon[1]);
	}
	if (native) {
		sva_track_remove(tr); /* the last tracked: the monitor stops */
		free_stand_ins(ctx, tr, un);
		return 0;
	}
	sva_mm_free(tr);
	sva_mm_free(un);
	sva_ctx_free(ctx);
	return 0;
}

#ifndef SVA_BENCH_LIBRARY
int main(int argc, char **argv)
{
	return bench_main_done("bench-coherence", bench_coherence(argc, argv));
}
#endif
