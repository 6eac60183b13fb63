/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The fault engine under a storm, with no kernel: a context built by hand
 * whose queue is a fake kernel fault queue (the engine's read hooks), with the
 * semantics of drivers/iommu/iommufd/eventq.c: read() hands out whole groups
 * only, and when the first group does not fit it returns -EINVAL (as Linux
 * 7.3 does) or 0 (as older kernels did), while the queue polls readable.  Answers go to a
 * file, read back here.  Records come from a device the context does not know
 * (the "no bond" path), so every group is answered INVALID and logs a line.
 *
 * Checked: an excluder (what unbind and close do) waits for one batch while a
 * storm never lets the queue empty; with three threads draining and two
 * excluding at once, batches never overlap and never run while excluded (the
 * gate's lock-free fast path); log lines are rate-limited and the count
 * of those held back is printed when logging resumes; a group larger than the
 * buffer is read, under both read() semantics; a group over the engine's
 * bound is answered INVALID unresolved with a log line, and the groups after
 * it are still answered; a group beyond what is ever read stalls with -E2BIG
 * and one log line, not a loop of them; faults that arrive between a read
 * that found the queue empty and its poll are read at the size asked for (no
 * call past max, no growth).  Run under ThreadSanitizer in the
 * tsan tier.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "internal.h"
#include "kabi.h"
#include "../tap.h"

static void bail_out(const char *what, const char *err)
{
	printf("Bail out! %s: %s\n", what, err);
	exit(1);
}

extern ssize_t (*sva_test_fault_read)(int fd, void *buf, size_t len);
extern bool (*sva_test_fault_readable)(int fd);

#define REC sizeof(struct kabi_iommu_hwpt_pgfault)

/* ---------------------------------------------------------- the fake queue */

static struct queue {
	pthread_mutex_t lock;
	unsigned sizes[128], cookies[128], n, head;
	unsigned arrive; /* single-record groups that arrive at the next poll */
	bool old_kernel;   /* 0 (not -EINVAL) when the first group does not fit */
	atomic_bool storm; /* endless single-record groups */
	unsigned read_us;  /* each read costs this long (a slow batch) */
	size_t max_len;	   /* the largest read() asked for */
	unsigned next_cookie;
} q = { .lock = PTHREAD_MUTEX_INITIALIZER };

static void fill(struct kabi_iommu_hwpt_pgfault *r, unsigned nrec, unsigned cookie)
{
	for (unsigned i = 0; i < nrec; i++)
		r[i] = (struct kabi_iommu_hwpt_pgfault){
			.flags = i + 1 == nrec ? KABI_IOMMU_PGFAULT_FLAGS_LAST_PAGE : 0,
			.dev_id = 999,
			.addr = 0x1000ull * i,
			.cookie = cookie,
		};
}

/* The gate's stress test: reads (one per batch) that overlap, or that happen while excluded. */
static struct gate_check {
	atomic_bool on, excluded;
	atomic_int inside;
	atomic_ulong overlaps, during_exclusion, reads;
} gc;

static void gate_check_enter(void)
{
	if (!atomic_load(&gc.on))
		return;
	if (atomic_fetch_add(&gc.inside, 1) != 0)
		atomic_fetch_add(&gc.overlaps, 1);
	if (atomic_load(&gc.excluded))
		atomic_fetch_add(&gc.during_exclusion, 1);
	atomic_fetch_add(&gc.reads, 1);
	sched_yield(); /* widen the window another batch would have to overlap it */
	atomic_fetch_sub(&gc.inside, 1);
}

static ssize_t fake_read(int fd, void *buf, size_t len)
{
	struct kabi_iommu_hwpt_pgfault *r = buf;
	size_t done = 0;

	(void)fd;
	gate_check_enter();
	if (q.read_us)
		usleep(q.read_us);
	pthread_mutex_lock(&q.lock);
	if (len > q.max_len)
		q.max_len = len;
	if (atomic_load(&q.storm)) {
		for (; done + REC <= len; done += REC)
			fill(r + done / REC, 1, q.next_cookie++);
		pthread_mutex_unlock(&q.lock);
		return (ssize_t)done;
	}
	while (q.head < q.n) {
		size_t need = q.sizes[q.head] * REC;

		if (need > len - done) {
			if (done == 0 && !q.old_kernel) {
				pthread_mutex_unlock(&q.lock);
				errno = EINVAL;
				return -1;
			}
			break;
		}
		fill(r + done / REC, q.sizes[q.head], q.cookies[q.head]);
		done += need;
		q.head++;
	}
	pthread_mutex_unlock(&q.lock);
	return (ssize_t)done;
}

static bool fake_readable(int fd)
{
	bool r;

	(void)fd;
	pthread_mutex_lock(&q.lock);
	/* Faults raised between a read() that found the queue empty and this poll. */
	for (; q.arrive && q.n < 128; q.arrive--, q.n++) {
		q.sizes[q.n] = 1;
		q.cookies[q.n] = 0x200 + q.n;
	}
	r = atomic_load(&q.storm) || q.head < q.n;
	pthread_mutex_unlock(&q.lock);
	return r;
}

static void queue_groups(bool old_kernel, const unsigned *sizes, unsigned n)
{
	pthread_mutex_lock(&q.lock);
	q.old_kernel = old_kernel;
	q.n = n;
	q.head = 0;
	q.max_len = 0;
	for (unsigned i = 0; i < n; i++) {
		q.sizes[i] = sizes[i];
		q.cookies[i] = 0x100 + i;
	}
	pthread_mutex_unlock(&q.lock);
}

/* ---------------------------------------------------------- the context */

static struct lines {
	pthread_mutex_t lock;
	unsigned n;
	char last[512], suppressed[512];
} lines = { .lock = PTHREAD_MUTEX_INITIALIZER };

static void on_log(void *arg, enum sva_log_level level, const char *msg)
{
	(void)arg;
	(void)level;
	pthread_mutex_lock(&lines.lock);
	lines.n++;
	snprintf(lines.last, sizeof(lines.last), "%s", msg);
	if (strstr(msg, "suppressed"))
		snprintf(lines.suppressed, sizeof(lines.suppressed), "%s", msg);
	pthread_mutex_unlock(&lines.lock);
}

static unsigned lines_n(void)
{
	unsigned n;

	pthread_mutex_lock(&lines.lock);
	n = lines.n;
	pthread_mutex_unlock(&lines.lock);
	return n;
}

static struct sva_ctx ctx;
static char answers_path[] = "/tmp/fault-storm.XXXXXX";

static void ctx_init(void)
{
	int fd = mkstemp(answers_path);

	if (fd < 0)
		bail_out("mkstemp", strerror(errno));
	unlink(answers_path);
	pthread_mutex_init(&ctx.devs_lock, NULL);
	pthread_mutex_init(&ctx.fe.lock, NULL);
	pthread_cond_init(&ctx.fe.gate_cv, NULL);
	pthread_mutex_init(&ctx.fe.setup, NULL);
	sva_log_init(&ctx.log, on_log, NULL, SVA_LOG_DEBUG);
	ctx.fe.poll_mode = true;
	ctx.fe.fault_fd = fd;
	if (sva_fault_bufs_alloc(&ctx.fe))
		bail_out("the engine's buffers", strerror(ENOMEM));
	sva_test_fault_read = fake_read;
	sva_test_fault_readable = fake_readable;
}

/* The answers written since the last call: count, and the cookies of the first max. */
static size_t take_answers(struct kabi_iommu_hwpt_page_response *out, size_t max)
{
	struct kabi_iommu_hwpt_page_response r;
	size_t n = 0;

	lseek(ctx.fe.fault_fd, 0, SEEK_SET);
	while (read(ctx.fe.fault_fd, &r, sizeof(r)) == (ssize_t)sizeof(r)) {
		if (n < max)
			out[n] = r;
		n++;
	}
	if (ftruncate(ctx.fe.fault_fd, 0))
		bail_out("ftruncate", strerror(errno));
	lseek(ctx.fe.fault_fd, 0, SEEK_SET);
	return n;
}

/* ---------------------------------------------------------- the tests */

static void rate_limit(void)
{
	unsigned before = lines_n(), after;
	uint64_t t0 = sva_now_ns(), secs;

	atomic_store(&q.storm, true);
	is_int(sva_fault_process(&ctx, 20000), 20000, "20000 faults from an unknown device are handled");
	atomic_store(&q.storm, false);
	after = lines_n();
	secs = (sva_now_ns() - t0) / 1000000000ull + 1;
	ok(after - before <= secs * SVA_LOG_BURST, "they wrote %u log lines in %llu s, not one each (burst %u a second)",
	   after - before, (unsigned long long)secs, SVA_LOG_BURST);
	take_answers(NULL, 0);
	usleep(1100000);
	atomic_store(&q.storm, true);
	sva_fault_process(&ctx, 1);
	atomic_store(&q.storm, false);
	pthread_mutex_lock(&lines.lock);
	ok(strstr(lines.suppressed, "similar lines suppressed") != NULL,
	   "a second later the next line says how many were held back: \"%s\"", lines.suppressed);
	pthread_mutex_unlock(&lines.lock);
	take_answers(NULL, 0);
}

static atomic_bool storm_done;

static void *storm_thread(void *arg)
{
	(void)arg;
	/* The queue never empties while the storm lasts: one call, one drain. */
	sva_fault_process(&ctx, UINT32_MAX);
	atomic_store(&storm_done, true);
	return NULL;
}

static int by_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

static void gate(void)
{
	uint64_t wait[50];
	pthread_t t;

	q.read_us = 1000; /* a batch costs at least 1 ms */
	atomic_store(&q.storm, true);
	pthread_create(&t, NULL, storm_thread, NULL);
	usleep(20000);
	for (int i = 0; i < 50; i++) {
		uint64_t t0 = sva_now_ns();

		sva_fault_exclude(&ctx);
		wait[i] = sva_now_ns() - t0;
		sva_fault_unexclude(&ctx);
		usleep(2000);
	}
	ok(!atomic_load(&storm_done), "the storm was still draining the whole time");
	atomic_store(&q.storm, false);
	pthread_join(t, NULL);
	q.read_us = 0;
	qsort(wait, 50, sizeof(wait[0]), by_u64);
	diag("exclusion wait during a storm: median %.2f ms, worst %.2f ms", wait[25] / 1e6, wait[49] / 1e6);
	ok(wait[49] < 200000000ull, "an excluder waits for one batch, not the storm (worst %.2f ms < 200 ms)",
	   wait[49] / 1e6);
	take_answers(NULL, 0);
}

/*
 * The gate under contention: three threads drain one endless storm (poll
 * mode allows it) while two others exclude and unexclude in a loop.  No two
 * batches may overlap, none may run while an excluder is in, and nobody may
 * hang (every thread is joined).  The fast path takes no lock, so this is
 * the test of its atomics; the tsan tier runs it under ThreadSanitizer.
 */
static atomic_bool gate_stop;
static atomic_ulong exclusions;

static void *gate_drainer(void *arg)
{
	(void)arg;
	while (!atomic_load(&gate_stop))
		sva_fault_process(&ctx, 256);
	return NULL;
}

static void *gate_excluder(void *arg)
{
	(void)arg;
	while (!atomic_load(&gate_stop)) {
		sva_fault_exclude(&ctx);
		atomic_store(&gc.excluded, true);
		sched_yield();
		atomic_store(&gc.excluded, false);
		sva_fault_unexclude(&ctx);
		atomic_fetch_add(&exclusions, 1);
	}
	return NULL;
}

static void gate_contention(void)
{
	pthread_t d[3], e[2];

	atomic_store(&gc.on, true);
	atomic_store(&q.storm, true);
	for (int i = 0; i < 3; i++)
		pthread_create(&d[i], NULL, gate_drainer, NULL);
	for (int i = 0; i < 2; i++)
		pthread_create(&e[i], NULL, gate_excluder, NULL);
	usleep(300000);
	atomic_store(&gate_stop, true);
	for (int i = 0; i < 3; i++)
		pthread_join(d[i], NULL);
	for (int i = 0; i < 2; i++)
		pthread_join(e[i], NULL);
	atomic_store(&q.storm, false);
	atomic_store(&gc.on, false);
	diag("gate: %lu batches, %lu exclusions in 0.3 s", atomic_load(&gc.reads), atomic_load(&exclusions));
	ok(atomic_load(&gc.reads) > 10 && atomic_load(&exclusions) > 10,
	   "gate: three drainers and two excluders all made progress (%lu batches, %lu exclusions)",
	   atomic_load(&gc.reads), atomic_load(&exclusions));
	is_int((long)atomic_load(&gc.overlaps), 0, "gate: no two batches ran at once");
	is_int((long)atomic_load(&gc.during_exclusion), 0, "gate: no batch ran while an excluder was in");
	take_answers(NULL, 0);
}

static void large_groups(bool old_kernel)
{
	const char *how = old_kernel ? "read() 0 (older kernels)" : "read() -EINVAL";
	unsigned sizes[] = { 3, 100, 2 };
	struct kabi_iommu_hwpt_page_response a[8];
	size_t n;

	queue_groups(old_kernel, sizes, 3);
	is_int(sva_fault_process(&ctx, 64), 105, "%s: a group of 100 records after one of 3 is read", how);
	n = take_answers(a, 8);
	ok(n == 3 && a[0].cookie == 0x100 && a[1].cookie == 0x101 && a[2].cookie == 0x102,
	   "%s: three groups, three answers in order (%zu)", how, n);
}

/*
 * Faults that arrive between the read() that found the queue empty and the
 * poll that tells an empty queue from a group that does not fit: they are
 * read at the size asked for, so a call takes no more than max single-record
 * groups, and the buffer does not grow for them.
 */
static void arrival_race(void)
{
	size_t records = ctx.fe.buf_records;

	queue_groups(false, NULL, 0);
	q.arrive = 100;
	is_int(sva_fault_process(&ctx, 1), 1, "faults arriving after an empty read: max 1 handles one");
	is_int(sva_fault_process(&ctx, 99), 99, "the other 99 are still queued");
	queue_groups(false, NULL, 0);
	q.arrive = 100;
	is_int(sva_fault_process(&ctx, (unsigned)records), (long)records,
	       "with max the buffer's %zu records: that many, not the 100 that came", records);
	ok(ctx.fe.buf_records == records, "the buffer did not grow for single-record groups (%zu records, was %zu)",
	   ctx.fe.buf_records, records);
	is_int(sva_fault_process(&ctx, 1000), 100 - (long)records, "the rest after");
	take_answers(NULL, 0);
	queue_groups(false, NULL, 0);
}

static void oversize(bool old_kernel)
{
	const char *how = old_kernel ? "read() 0" : "read() -EINVAL";
	unsigned sizes[] = { 2, 5000, 1, 7 };
	struct kabi_iommu_hwpt_page_response a[8];
	size_t n;

	queue_groups(old_kernel, sizes, 4);
	is_int(sva_fault_process(&ctx, 64), 5010, "%s: a group of 5000 records (over 4096) is taken from the queue",
	       how);
	n = take_answers(a, 8);
	ok(n == 4 && a[1].cookie == 0x101 && a[1].code == KABI_IOMMUFD_PAGE_RESP_INVALID,
	   "%s: it is answered INVALID, and every group after it is answered too (%zu answers)", how, n);
	ok(n == 4 && a[2].cookie == 0x102 && a[3].cookie == 0x103, "%s: in order", how);
	ok(q.max_len <= 65536 * REC, "%s: no read asked for more than 65536 records (%zu bytes)", how, q.max_len);
}

static void beyond_bound(void)
{
	unsigned sizes[] = { 70000 };
	unsigned before;

	usleep(1100000); /* a fresh second of the rate limit */
	before = lines_n();
	queue_groups(false, sizes, 1);
	is_int(sva_fault_process(&ctx, 64), -E2BIG, "a group of 70000 records is beyond what is read: -E2BIG");
	for (int i = 0; i < 100; i++)
		sva_fault_process(&ctx, 64);
	ok(q.max_len <= 65536 * REC, "no read asked for more than 65536 records");
	ok(lines_n() - before <= SVA_LOG_BURST, "100 retries log %u lines, not 100", lines_n() - before);
	pthread_mutex_lock(&lines.lock);
	ok(strstr(lines.last, "stalled") != NULL, "the line says the queue is stalled: \"%s\"", lines.last);
	pthread_mutex_unlock(&lines.lock);
	queue_groups(false, NULL, 0);
}

int main(void)
{
	plan(29);
	ctx_init();
	rate_limit();
	gate();
	gate_contention();
	arrival_race();
	large_groups(false);
	large_groups(true);
	oversize(false);
	oversize(true);
	beyond_bound();
	sva_fault_fini(&ctx);
	return done_testing();
}
