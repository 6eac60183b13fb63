/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Fault thread control (issue 12), on the selftest mock: its name, the init
 * hook that runs on it before it serves faults (where an application pins
 * it), sva_ctx_fault_health() when waiting for faults fails, and fork() while
 * the fault thread is busy (the child's cleanup must not wait for a lock the
 * thread held at the fork, by chance in a fault storm and for certain with
 * a thread holding the locks), and that sva_ctx_free() leaves nothing in an
 * iommufd the application keeps (the fault queue the thread's io_uring held).
 */
#define _GNU_SOURCE /* memfd_create */
#include <pthread.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <fcntl.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <sys/wait.h>

#include "ktest.h"

extern int sva_test_fault_poll_fail; /* fault_thread.c, libsva-test only */
extern int sva_test_fault_no_futex;  /* likewise */
extern int sva_test_fault_keep_ring_fd; /* likewise */
extern void (*sva_test_fault_counted_hook)(struct sva_bond *bond); /* fault.c, likewise */
extern void (*sva_test_fault_queue_created)(void); /* fault_queue.c, likewise */
extern void (*sva_test_fault_ring_made)(void); /* fault_thread.c, likewise */
extern void (*sva_test_ctx_releasing)(void);   /* ctx.c, likewise */
extern void (*sva_test_fault_queue_dropped)(void); /* fault_queue.c, likewise */
void sva_test_fail_nth(int n);			  /* test_fail.c, likewise */
int sva_test_fail_nth_left(void);		  /* likewise */

static atomic_int hook_calls, hook_lagging;

/* Right after a fault is counted: sva_bond_stats' promise says its group is
 * visible by now (every fault here is a group of one). */
static void on_counted(struct sva_bond *bond)
{
	struct sva_bond_stats st = { .size = sizeof(st) };

	sva_bond_stats(bond, &st);
	atomic_fetch_add(&hook_calls, 1);
	if (st.groups < st.faults)
		atomic_fetch_add(&hook_lagging, 1);
}

static atomic_bool poll_stop;

static void *poller(void *arg)
{
	while (!atomic_load(&poll_stop))
		sva_ctx_process_faults(arg, 16);
	return NULL;
}

/* Poll mode: faults processed in one thread while another binds (which
 * creates the queue): the queue's fd is published under the lock the batch
 * reads it under (ThreadSanitizer reported this race before). */
static void poll_while_binding(void)
{
	struct sva_ctx_opts o = { .size = sizeof(o), .flags = SVA_CTX_FAULT_POLL };
	struct sva_ctx *ctx;
	struct sva_dev *dev;
	struct sva_mm *mm;
	struct sva_bond *bond;
	pthread_t t;

	if (sva_ctx_new(&o, &ctx) || sva_dev_open_mock(ctx, NULL, &dev) || sva_mm_new(ctx, NULL, &mm))
		ktest_bail("poll-mode context");
	/* Set before the thread starts, cleared after it ends: no race on it. */
	sva_test_fault_counted_hook = on_counted;
	pthread_create(&t, NULL, poller, ctx);
	usleep(20000);
	is_int(sva_bind(dev, mm, NULL, &bond), 0, "a fault-capable bind while another thread processes faults");
	ktest_map_at(0x4a000000ull, 4096, PROT_READ | PROT_WRITE);
	for (int i = 0; i < 4; i++)
		ktest_inject_and_wait(dev, bond, 0x4a000000ull, SVA_ACCESS_READ, 5000);
	atomic_store(&poll_stop, true);
	pthread_join(t, NULL);
	sva_test_fault_counted_hook = NULL;
	ok(atomic_load(&hook_calls) >= 4, "faults were counted (%d)", atomic_load(&hook_calls));
	is_int(atomic_load(&hook_lagging), 0, "sva_bond_stats: a counted fault's group is counted already");
	sva_unbind(bond);
	sva_mm_free(mm);
	sva_dev_close(dev);
	sva_ctx_free(ctx);
}

static atomic_int init_calls;
static atomic_long init_tid;
static char init_name[16];

static void on_init(void *arg)
{
	*(int *)arg = 1;
	prctl(PR_GET_NAME, init_name); /* what the hook sees of itself */
	atomic_store(&init_tid, (long)syscall(SYS_gettid));
	atomic_fetch_add(&init_calls, 1); /* last: publishes the two above */
}

/* A context whose first fault-capable bind starts the thread. */
static int start(const struct sva_ctx_opts *o, struct sva_ctx **ctx, struct sva_dev **dev, struct sva_mm **mm,
		 struct sva_bond **bond)
{
	int ret = sva_ctx_new(o, ctx);

	if (ret)
		return ret;
	if (sva_dev_open_mock(*ctx, NULL, dev) || sva_mm_new(*ctx, NULL, mm) || sva_bind(*dev, *mm, NULL, bond))
		ktest_bail("mock, address space or fault-capable bind");
	return 0;
}

static void stop(struct sva_ctx *ctx, struct sva_dev *dev, struct sva_mm *mm)
{
	sva_mm_free(mm);
	sva_dev_close(dev);
	sva_ctx_free(ctx);
}

#define KT_BUF 0x4c000000ull /* inside the mock aperture, mapped by queue_closed() */

static atomic_int error_lines;

static void count_errors(void *arg, enum sva_log_level level, const char *msg)
{
	(void)arg;
	(void)msg;
	if (level >= SVA_LOG_ERROR)
		atomic_fetch_add(&error_lines, 1);
}

/* Is /proc/sys/kernel/io_uring_disabled there, and set it (old value in *old). */
static bool io_uring_disable(int val, int *old)
{
	FILE *f = fopen("/proc/sys/kernel/io_uring_disabled", "r+");
	bool ok_ = f && fscanf(f, "%d", old) == 1 && fseek(f, 0, SEEK_SET) == 0 && fprintf(f, "%d\n", val) > 0;

	if (f && fclose(f))
		ok_ = false;
	return ok_;
}

/*
 * Can a test that closes libsva's descriptors under its threads run here, with
 * the fault thread on poll(2) if use_poll (io_uring disabled, *old the setting
 * to restore)?  If not, its n tests are skipped, saying why.
 */
static bool closing_runs(bool use_poll, int n, int *old)
{
#ifdef KTEST_TSAN
	(void)use_poll;
	(void)old;
	skip(n, "ThreadSanitizer's own descriptor bookkeeping fails (CHECK) on a descriptor closed under another thread");
	return false;
#else
	if (use_poll && !io_uring_disable(2, old)) {
		skip(n, "no /proc/sys/kernel/io_uring_disabled here: the poll(2) thread cannot be forced");
		return false;
	}
	return true;
#endif
}

/*
 * The fault queue's descriptor closed behind libsva's back (a close_range()
 * of everything): the thread stops with -EBADF, which sva_ctx_fault_health()
 * reports, rather than spin on a descriptor that polls invalid (poll(2)) or
 * re-arm a poll that fails at once (io_uring), logging as it goes.
 */
static void queue_closed(bool use_poll)
{
	const char *how = use_poll ? "poll(2)" : "io_uring";
	struct sva_ctx *ctx;
	struct sva_dev *dev;
	struct sva_mm *mm;
	struct sva_bond *bond;
	struct rusage r0, r1;
	int old = 0, fd;

	if (!closing_runs(use_poll, 8, &old))
		return;
	ktest_map_at(KT_BUF, 2 * 4096, PROT_READ | PROT_WRITE);
	struct sva_ctx_opts co = { .size = sizeof(co), .log_fn = count_errors, .log_level = SVA_LOG_ERROR };

	atomic_store(&error_lines, 0);
	if (start(&co, &ctx, &dev, &mm, &bond)) {
		if (use_poll) /* later tests must not run without io_uring unknowingly */
			io_uring_disable(old, &old);
		ktest_bail("context");
	}
	/* A fault first: the thread exists and waits on the queue. */
	is_int(ktest_inject_and_wait(dev, bond, KT_BUF, SVA_ACCESS_READ, 5000), 0, "%s: a fault is answered", how);
	fd = ctx->fe.fault_fd;
	close(fd);
	/* The thread's wait holds the file (an armed io_uring poll, a poll(2)
	 * in progress) and a close does not wake it: the next fault does. */
	sva_dev_inject_fault(dev, sva_bond_pasid(bond), KT_BUF + 4096, SVA_ACCESS_READ, 0);
	KTEST_WAIT_WHILE(sva_ctx_fault_health(ctx) == 0, 10000);
	is_int(sva_ctx_fault_health(ctx), -EBADF, "%s: the queue closed behind libsva's back: health -EBADF", how);
	is_int(atomic_load(&error_lines), 1, "%s: one error line says the thread stopped", how);
	getrusage(RUSAGE_SELF, &r0);
	usleep(300000);
	getrusage(RUSAGE_SELF, &r1);
	long us = (r1.ru_utime.tv_sec - r0.ru_utime.tv_sec + r1.ru_stime.tv_sec - r0.ru_stime.tv_sec) * 1000000L +
		  (r1.ru_utime.tv_usec - r0.ru_utime.tv_usec) + (r1.ru_stime.tv_usec - r0.ru_stime.tv_usec);
	ok(us < 100000, "%s: and the thread stopped: %ld us of CPU in 300 ms", how, us);
	{
		struct sva_mm *mm2;
		struct sva_bond *b2 = NULL;

		if (sva_mm_new(ctx, NULL, &mm2))
			ktest_bail("a second address space");
		is_int(sva_bind(dev, mm2, NULL, &b2), -EBADFD,
		       "%s: a fault-capable bind after the thread stopped: -EBADFD (nothing would answer)", how);
		ok(!b2, "%s: and no bond", how);
		struct sva_bind_opts bo = { .size = sizeof(bo), .flags = SVA_BIND_EXTRA_PASID };

		is_int(sva_bind(dev, mm, &bo, &b2), -EBADFD,
		       "%s: another PASID on the bound address space (its HWPT exists): -EBADFD too", how);
		sva_mm_free(mm2);
	}
	/* The number is another file's now: the teardown must leave it alone. */
	int filler = open("/dev/null", O_RDONLY | O_CLOEXEC);

	if (filler != fd && (filler < 0 || dup2(filler, fd) < 0))
		ktest_bail("dup2");
	stop(ctx, dev, mm);
	ok(fcntl(fd, F_GETFD) >= 0, "%s: sva_ctx_free() left the number, another file's now, open", how);
	close(fd);
	if (filler != fd)
		close(filler);
	munmap((void *)(uintptr_t)KT_BUF, 2 * 4096);
	if (use_poll)
		io_uring_disable(old, &old);
}

/* A file to put at a number libsva opened: the kinds a reused number gets. */
enum filler { F_NULL, F_ZERO, F_MEMFD_DATA, F_MEMFD_EMPTY };

static const char *const filler_name[] = { "/dev/null", "/dev/zero", "a memfd with data", "an empty memfd" };

static int filler_open(enum filler kind)
{
	unsigned char junk[4096];
	int fd;

	if (kind == F_NULL || kind == F_ZERO)
		return open(kind == F_NULL ? "/dev/null" : "/dev/zero", O_RDWR | O_CLOEXEC);
	memset(junk, 0xa5, sizeof(junk));
	fd = memfd_create("filler", MFD_CLOEXEC);
	if (fd >= 0 && kind == F_MEMFD_DATA && pwrite(fd, junk, sizeof(junk), 0) != (ssize_t)sizeof(junk)) {
		close(fd);
		return -1;
	}
	return fd;
}

/* Put a new file of that kind at the number fd (which stays fd). */
static void refill(int fd, enum filler kind)
{
	int f = filler_open(kind);

	if (f < 0 || dup2(f, fd) != fd)
		ktest_bail("a file at descriptor %d: %s", fd, strerror(errno));
	close(f);
}

/*
 * Poll mode: the queue's descriptor closed by the application and its number
 * given to another file: sva_ctx_process_faults() says -EBADF and neither
 * takes the file's bytes for records nor writes answers into it (/dev/zero and
 * a memfd with data were read as records and answered; /dev/null, which reads
 * 0 and polls readable as a queue with a group too large for the buffer, gave
 * -E2BIG, blaming a group of more than 65536 records), later fault-capable
 * binds and sva_ctx_fault_fd() say -EBADFD, and the teardown leaves the
 * number, the file's, open (it closed it).
 */
static void queue_closed_poll_mode(enum filler kind)
{
	static struct ktest_line line = { .match = "closed behind libsva's back", .level = SVA_LOG_ERROR };
	struct sva_ctx_opts co = { .size = sizeof(co), .flags = SVA_CTX_FAULT_POLL, .log_fn = ktest_keep_line,
				   .log_arg = &line, .log_level = SVA_LOG_ERROR };
	const char *what = filler_name[kind];
	struct sva_ctx *ctx;
	struct sva_dev *dev;
	struct sva_mm *mm, *mm2;
	struct sva_bond *bond, *b2 = NULL;
	struct stat st;
	int fd;

	if (start(&co, &ctx, &dev, &mm, &bond) || sva_mm_new(ctx, NULL, &mm2))
		ktest_bail("poll-mode context");
	fd = sva_ctx_fault_fd(ctx);
	if (fd < 0)
		ktest_bail("the queue");
	refill(fd, kind);
	line.text[0] = '\0';
	is_int(sva_ctx_process_faults(ctx, 16), -EBADF, "poll mode, the queue's number %s's: -EBADF", what);
	/* /dev/zero and memfds were read as records, found another file's and
	 * refused without a line; every later call too. */
	ok(line.text[0], "poll mode, %s: its error line says so: %s", what, line.text);
	line.text[0] = '\0';
	is_int(sva_ctx_process_faults(ctx, 16), -EBADF, "poll mode, %s: -EBADF again", what);
	ok(line.text[0], "poll mode, %s: with its line again", what);
	ok(fstat(fd, &st) == 0 && st.st_size == (kind == F_MEMFD_DATA ? 4096 : 0),
	   "poll mode, %s: nothing written into it (%lld bytes)", what, (long long)st.st_size);
	is_int(sva_bind(dev, mm2, NULL, &b2), -EBADFD, "poll mode, %s: a fault-capable bind after that: -EBADFD", what);
	ok(!b2, "poll mode, %s: and no bond", what);
	is_int(sva_ctx_fault_fd(ctx), -EBADFD, "poll mode, %s: sva_ctx_fault_fd() after that: -EBADFD", what);
	sva_mm_free(mm2);
	stop(ctx, dev, mm);
	ok(fcntl(fd, F_GETFD) >= 0, "poll mode, %s: sva_ctx_free() left the number open", what);
	close(fd);
}

/*
 * A number the fault thread uses, given to another file behind libsva's back
 * while the thread waits, in a child killed after 20 s (a hang is a failure,
 * not a stuck suite); what the child saw comes back as bits.  Before: the
 * teardown waited forever (eventfd, io_uring) or the thread took /dev/null's
 * POLLIN for its stop (eventfd, poll(2)); it read /dev/zero as records
 * forever; it spun on a pipe's POLLERR (poll(2)); a forked child's release
 * closed the file at the eventfd's number; the ring's number was closed.
 */
enum scene {
	S_WAKE_NULL,	 /* its eventfd -> /dev/null: goes on answering */
	S_QUEUE_ZERO,	 /* its queue -> /dev/zero, then a fault: stops, -EBADF */
	S_QUEUE_PIPE_WR, /* its queue -> a pipe's write end, no reader (POLLERR only) */
	S_RING_NULL,	 /* its io_uring's ring -> /dev/null: poll(2) takes over (a ring
			  * with a number: before Linux 5.18, forced here) */
	S_FORK_WAKE,	 /* a forked child's release, its eventfd -> /dev/null */
};
enum { B_SERVES = 1, B_HEALTH = 2, B_TORN_DOWN = 4, B_LEFT_OPEN = 8 };

/* The io_uring instance's descriptor (there is one); -1: none. */
static int ring_fd(void)
{
	return ktest_anon_fd("anon_inode:[io_uring]");
}

static bool health_becomes(struct sva_ctx *ctx, int want)
{
	KTEST_WAIT_WHILE(sva_ctx_fault_health(ctx) != want, 10000);
	return sva_ctx_fault_health(ctx) == want;
}

static int scene_fd(struct sva_ctx *ctx, enum scene sc)
{
	switch (sc) {
	case S_WAKE_NULL:
	case S_FORK_WAKE:
		return ctx->fe.wake_fd;
	case S_QUEUE_ZERO:
	case S_QUEUE_PIPE_WR:
		return ctx->fe.fault_fd;
	case S_RING_NULL:
		return ring_fd();
	}
	return -1;
}

/* The forked child releases everything; does it leave the number open? */
static int fork_release(struct sva_ctx *ctx, struct sva_dev *dev, struct sva_mm *mm, int fd)
{
	int st = 0;
	pid_t pid = fork();

	if (pid == 0) {
		refill(fd, F_NULL);
		stop(ctx, dev, mm);
		_exit(fcntl(fd, F_GETFD) >= 0 ? 0 : 1);
	}
	return pid > 0 && waitpid(pid, &st, 0) == pid && WIFEXITED(st) && WEXITSTATUS(st) == 0 ? B_LEFT_OPEN : 0;
}

static int scene_child(enum scene sc)
{
	struct sva_ctx_opts co = { .size = sizeof(co), .log_level = SVA_LOG_OFF };
	bool stops = sc == S_QUEUE_ZERO || sc == S_QUEUE_PIPE_WR;
	struct sva_ctx *ctx;
	struct sva_dev *dev;
	struct sva_mm *mm;
	struct sva_bond *bond;
	int got = 0, fd, p[2];

	ktest_map_at(KT_BUF, 2 * 4096, PROT_READ | PROT_WRITE);
	if (start(&co, &ctx, &dev, &mm, &bond) ||
	    ktest_inject_and_wait(dev, bond, KT_BUF, SVA_ACCESS_READ, 5000)) /* the thread waits */
		return 0;
	fd = scene_fd(ctx, sc);
	if (fd < 0)
		return 0;
	if (sc == S_FORK_WAKE) {
		got = fork_release(ctx, dev, mm, fd);
		stop(ctx, dev, mm);
		return got | B_TORN_DOWN;
	}
	if (sc == S_QUEUE_PIPE_WR) {
		if (pipe(p) || dup2(p[1], fd) != fd)
			return 0;
		close(p[0]);
		close(p[1]);
	} else {
		refill(fd, sc == S_QUEUE_ZERO ? F_ZERO : F_NULL);
	}
	/* S_RING_NULL: the wait in progress holds the ring's file; the fault
	 * below is answered, and the next wait fails on /dev/null. */
	if (sc == S_QUEUE_ZERO)
		sva_dev_inject_fault(dev, sva_bond_pasid(bond), KT_BUF + 4096, SVA_ACCESS_READ, 0);
	else if (!stops && ktest_inject_and_wait(dev, bond, KT_BUF + 4096, SVA_ACCESS_READ, 5000) == 0)
		got |= B_SERVES;
	if (health_becomes(ctx, stops ? -EBADF : 0))
		got |= B_HEALTH;
	stop(ctx, dev, mm);
	got |= B_TORN_DOWN;
	if (fcntl(fd, F_GETFD) >= 0)
		got |= B_LEFT_OPEN;
	return got;
}

static void scene(enum scene sc, bool use_poll)
{
	static const char *const name[] = {
		"eventfd -> /dev/null", "queue -> /dev/zero, a fault", "queue -> a pipe's write end",
		"io_uring ring -> /dev/null", "eventfd -> /dev/null in a forked child",
	};
	char how[128];
	int old = 0, st = 0, waited = -1, p[2];
	unsigned char got = 0;
	pid_t pid;

	snprintf(how, sizeof(how), "%s thread, %s",
		 use_poll			 ? "poll(2)"
		 : sva_test_fault_keep_ring_fd ? "io_uring (a ring with a number, as before Linux 5.18)"
		 : sva_test_fault_no_futex	 ? "io_uring (no futex wait)"
						 : "io_uring",
		 name[sc]);
	if (!closing_runs(use_poll, 3, &old))
		return;
	if (pipe(p))
		ktest_bail("pipe");
	pid = fork();
	if (pid == 0) {
		close(p[0]);
		got = (unsigned char)scene_child(sc);
		_exit(write(p[1], &got, 1) == 1 ? 0 : 1);
	}
	close(p[1]);
	if (pid > 0)
		waited = ktest_wait_child(pid, 20000, &st);
	if (read(p[0], &got, 1) != 1) /* the child is gone: no wait */
		got = 0;
	close(p[0]);
	if (use_poll)
		io_uring_disable(old, &old);
	ok(waited == 0 && (got & B_TORN_DOWN), "%s: the teardown returns (%s, status 0x%x)", how,
	   waited ? "killed after 20 s" : "in time", st);
	if (sc == S_FORK_WAKE)
		ok(got & B_TORN_DOWN, "%s: and the parent's after it", how);
	else if (sc == S_QUEUE_ZERO || sc == S_QUEUE_PIPE_WR)
		ok(got & B_HEALTH, "%s: the thread stops, health -EBADF", how);
	else
		ok((got & B_SERVES) && (got & B_HEALTH), "%s: faults still answered, health 0", how);
	ok(got & B_LEFT_OPEN, "%s: the number, another file's now, left open", how);
}

/*
 * An iommufd the application keeps (SVA_CTX_ADOPT_FD): everything libsva made
 * in it must be destroyed by sva_ctx_free(), the fault queue included, which
 * the fault thread's io_uring held a reference to (IOMMU_DESTROY says EBUSY
 * while it does).  Checked by destroying each object again: -ENOENT.
 */
static void adopted_fd_teardown(void)
{
	int fd = open("/dev/iommu", O_RDWR | O_CLOEXEC);
	struct sva_ctx_opts o = { .size = sizeof(o), .flags = SVA_CTX_ADOPT_FD, .iommufd = fd };
	struct sva_ctx *ctx;
	struct sva_dev *dev;
	struct sva_mm *mm;
	struct sva_bond *bond;
	uint32_t fault_id, ioas;
	int left = 0;

	if (fd < 0 || start(&o, &ctx, &dev, &mm, &bond))
		ktest_bail("adopted iommufd context");
	if (ktest_inject_and_wait(dev, bond, 0x40000000ull, SVA_ACCESS_READ, 5000) == -ETIMEDOUT)
		diag("adopted fd: the fault was not answered");
	fault_id = ctx->fe.fault_id;
	ioas = mm->ioas_id;
	sva_unbind(bond);
	stop(ctx, dev, mm);
	for (int i = 0; i < 2; i++) {
		struct kabi_iommu_destroy d = { .size = sizeof(d), .id = i ? ioas : fault_id };

		if (ioctl(fd, KABI_IOMMU_DESTROY, &d) == 0 || errno != ENOENT) {
			diag("adopted fd: the %s was still there", i ? "IOAS" : "fault queue");
			left++;
		}
	}
	is_int(left, 0, "adopted iommufd: sva_ctx_free destroyed the fault queue (%u) and the IOAS (%u) in it",
	       fault_id, ioas);
	close(fd);
}

/*
 * Once the fault thread is joined, its ring holds the queue's file no more:
 * it cancels and reaps its poll of the queue before it ends.  It used to
 * leave that to the ring's exit work, which runs after the thread is gone,
 * asynchronously: right after the join IOMMU_DESTROY of the queue said EBUSY
 * in about two rounds of three, and under load for longer than the teardown
 * waited, which then warned "could not be destroyed" (review Z73).
 */
static void ring_lets_go_at_join(void)
{
	int busy = 0, failed = 0;

	for (int r = 0; r < 20; r++) {
		struct sva_ctx *ctx;
		struct sva_dev *dev;
		struct sva_mm *mm;
		struct sva_bond *bond;
		struct kabi_iommu_destroy d = { .size = sizeof(d) };
		int ret;

		if (start(NULL, &ctx, &dev, &mm, &bond))
			ktest_bail("fault-thread context");
		if (ktest_inject_and_wait(dev, bond, 0x40000000ull, SVA_ACCESS_READ, 5000))
			failed++;
		sva_unbind(bond); /* the page table that refers to the queue goes */
		sva_fault_thread_stop(ctx);
		close(ctx->fe.fault_fd);
		ctx->fe.fault_fd = -1;
		d.id = ctx->fe.fault_id;
		ret = ioctl(sva_ctx_fd(ctx), KABI_IOMMU_DESTROY, &d) ? -errno : 0;
		if (ret == -EBUSY)
			busy++;
		else if (ret == 0)
			ctx->fe.fault_id = 0;
		stop(ctx, dev, mm);
	}
	is_int(failed, 0, "20 contexts: each one's fault answered");
	is_int(busy, 0, "  right after the fault thread's join and the close, IOMMU_DESTROY of the queue works "
			"(EBUSY in %d of 20)", busy);
}

static char queue_line[256];
static atomic_int queue_lines, queue_warns;

static void queue_capture(void *arg, enum sva_log_level level, const char *msg)
{
	(void)arg;
	if (!strstr(msg, "fault queue (object"))
		return;
	atomic_fetch_add(&queue_lines, 1);
	if (level >= SVA_LOG_WARN)
		atomic_fetch_add(&queue_warns, 1);
	snprintf(queue_line, sizeof(queue_line), "%s", msg);
}

/*
 * A child that holds copies of the parent's descriptors while the parent
 * frees its context.  A fork() child's copy of the fault queue's descriptor
 * is closed at the fork: the parent's teardown destroys the queue at once,
 * also in an iommufd the application keeps (SVA_CTX_ADOPT_FD), where it used
 * to stay after a second's wait and a warning (review Z73).  A child made
 * without the fork handlers (_Fork()) keeps its copy: in an iommufd libsva
 * opened the queue goes with it, so the teardown neither waits nor warns; in
 * an adopted one it stays, and the warning says so (sva_ctx_free(3)).
 */
/* What a forked child holds of the fault queue: its descriptors whose
 * link names the iommufd fault file. */
static int child_queue_fds(void)
{
	int n = 0;

	for (int fd = 0; fd < 1024; fd++) {
		char path[64], link[128];
		ssize_t len;

		snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
		len = readlink(path, link, sizeof(link) - 1);
		if (len > 0) {
			link[len] = '\0';
			n += strstr(link, "iommufd-pgfault") != NULL;
		}
	}
	return n;
}

static int made_child_status = -1;

/* Between the queue's creation and its publication: a fork() there (as
 * another thread of the application may do) must not leave the child with
 * the queue's descriptor, which would keep the parent's teardown from
 * destroying the queue (review Z78). */
static void fork_at_queue_made(void)
{
	pid_t pid = fork();

	if (pid == 0)
		_exit(child_queue_fds() ? 1 : 0);
	if (pid > 0)
		waitpid(pid, &made_child_status, 0);
}

static void fork_while_queue_made(void)
{
	struct sva_ctx *ctx;
	struct sva_dev *dev;
	struct sva_mm *mm;
	struct sva_bond *bond;

	sva_test_fault_queue_created = fork_at_queue_made;
	if (start(NULL, &ctx, &dev, &mm, &bond))
		ktest_bail("context for the fork-at-creation test");
	sva_test_fault_queue_created = NULL;
	ok(made_child_status != -1, "a child was forked while the fault queue was being made");
	ok(WIFEXITED(made_child_status) && WEXITSTATUS(made_child_status) == 0,
	   "and it held no descriptor of the queue (status %#x; old code: it kept one until it exited)",
	   (unsigned)made_child_status);
	ok(ktest_inject_and_wait(dev, bond, 0x40000000ull, SVA_ACCESS_READ, 5000) == 0,
	   "the parent's queue serves faults after that fork");
	stop(ctx, dev, mm);
}

/*
 * A fork() while another thread releases a context, its fault queue not yet
 * closed: the context had left the fork handler's list first thing, so the
 * child kept its copy of the queue's descriptor, and the release could not
 * destroy the queue while the child lived (in an adopted iommufd it stayed,
 * after a second's wait and a warning).  The child here lives until the
 * parent's release has returned.
 */
static int release_pipe[2] = { -1, -1 };
static pid_t release_child = -1;

static void fork_at_release(void)
{
	pid_t pid = fork();

	if (pid == 0) {
		int held = child_queue_fds() + (ring_fd() != -1);
		char c;

		close(release_pipe[1]);
		_exit(read(release_pipe[0], &c, 1) < 0 ? 100 : held);
	}
	release_child = pid;
}

static void fork_while_released(void)
{
	int app = open("/dev/iommu", O_RDWR | O_CLOEXEC), status = -1, ret;
	struct sva_ctx_opts o = { .size = sizeof(o), .flags = SVA_CTX_ADOPT_FD, .iommufd = app,
				  .log_fn = queue_capture, .log_level = SVA_LOG_DEBUG };
	struct kabi_iommu_destroy d = { .size = sizeof(d) };
	struct sva_ctx *ctx;
	struct sva_dev *dev;
	struct sva_mm *mm;
	struct sva_bond *bond;

	if (app < 0 || pipe(release_pipe) || start(&o, &ctx, &dev, &mm, &bond))
		ktest_bail("context for the fork-at-release test");
	if (ktest_inject_and_wait(dev, bond, 0x40000000ull, SVA_ACCESS_READ, 5000))
		diag("fork at release: the fault was not answered");
	d.id = ctx->fe.fault_id;
	atomic_store(&queue_warns, 0);
	queue_line[0] = '\0';
	release_child = -1;
	sva_test_ctx_releasing = fork_at_release;
	stop(ctx, dev, mm);
	sva_test_ctx_releasing = NULL;
	ret = ioctl(app, KABI_IOMMU_DESTROY, &d) ? -errno : 0; /* the child still runs */
	close(release_pipe[1]);
	close(release_pipe[0]);
	ok(release_child > 0, "a child was forked while the context was being released");
	if (release_child > 0)
		ktest_wait_child(release_child, 10000, &status);
	ok(WIFEXITED(status) && WEXITSTATUS(status) == 0,
	   "  it held no descriptor of the fault queue or its ring (status %#x; old code: the queue's)",
	   (unsigned)status);
	is_int(ret, -ENOENT, "  the release destroyed the queue %u while that child lived (adopted iommufd)", d.id);
	is_int(atomic_load(&queue_warns), 0, "  and did not warn (%s)", queue_line);
	if (ret == 0 || ret == -EBUSY)
		ioctl(app, KABI_IOMMU_DESTROY, &d); /* the child is gone: the test cleans up */
	close(app);
}

/*
 * The fault thread does not start (an injected failure of its eventfd or
 * pthread_create()): the bind fails and the new queue goes.  A fork() after
 * the queue was unpublished and before its descriptor was closed left the
 * child a copy (review Z144), which kept the queue from being destroyed.
 */
static int dropped_child_status = -1;

static void fork_at_queue_dropped(void)
{
	pid_t pid = fork();

	if (pid == 0)
		_exit(child_queue_fds() ? 1 : 0);
	if (pid > 0)
		waitpid(pid, &dropped_child_status, 0);
}

/*
 * sva_bind(3), ERRORS: "-EAGAIN The fault thread cannot be created
 * (pthread_create(3))", and "-EMFILE ... for the fault thread's eventfd(2)".
 * The first fault-capable bind of a fresh context, its n-th failure point
 * failing (test_fail.h: pthread_create gives EAGAIN, eventfd EMFILE, an
 * allocation ENOMEM), n = 1, 2, ... until the bind gets past them all: each
 * failure is one of those errnos with *out untouched, and the thread's own
 * two are both met.
 */
#define NOT_WRITTEN ((struct sva_bond *)(uintptr_t)0x5e47) /* never a bond's address */

static void bind_thread_start_fails(void)
{
	struct sva_ctx_opts co = { .size = sizeof(co), .log_fn = count_errors, .log_level = SVA_LOG_ERROR };
	unsigned seen = 0, other = 0, touched = 0;
	int n, ret = -1;

	for (n = 1; n < 200 && ret; n++) {
		struct sva_bond *bond = NOT_WRITTEN;
		struct sva_ctx *ctx;
		struct sva_dev *dev;
		struct sva_mm *mm;

		if (sva_ctx_new(&co, &ctx) || sva_dev_open_mock(ctx, NULL, &dev) || sva_mm_new(ctx, NULL, &mm))
			ktest_bail("context for the thread-start failures");
		sva_test_fail_nth(n);
		ret = sva_bind(dev, mm, NULL, &bond);
		sva_test_fail_nth(0);
		if (ret == 0)
			sva_unbind(bond);
		else if (bond != NOT_WRITTEN)
			touched++;
		if (ret == -EAGAIN)
			seen |= 1;
		else if (ret == -EMFILE)
			seen |= 2;
		else if (ret && ret != -ENOMEM) {
			diag("failure point %d: %d (%s)", n, ret, strerror(-ret));
			other++;
		}
		stop(ctx, dev, mm);
	}
	ok(ret == 0, "a first fault-capable bind: %d failure points, then it succeeds", n - 2);
	is_int((int)seen, 3, "  the fault thread's pthread_create gives -EAGAIN, its eventfd -EMFILE (bits 1, 2)");
	is_int((int)other, 0, "  every other failure is -ENOMEM");
	is_int((int)touched, 0, "  *out untouched by every failure");
}

static void fork_while_queue_dropped(void)
{
	struct sva_ctx *ctx;
	struct sva_dev *dev;
	struct sva_mm *mm;
	struct sva_bond *bond = NULL;
	int n, ret = 0;

	dropped_child_status = -1;
	sva_test_fault_queue_dropped = fork_at_queue_dropped;
	/* The n-th failure point of a first fault-capable bind, n = 1, 2, ...
	 * until one fails the thread's start (the hook forks there); a fresh
	 * context each time, as a failure may stop a thread that did start. */
	for (n = 1; n < 200 && dropped_child_status == -1; n++) {
		if (sva_ctx_new(NULL, &ctx) || sva_dev_open_mock(ctx, NULL, &dev) || sva_mm_new(ctx, NULL, &mm))
			ktest_bail("context for the fork-at-drop test");
		sva_test_fail_nth(n);
		ret = sva_bind(dev, mm, NULL, &bond);
		sva_test_fail_nth(0);
		if (!ret)
			sva_unbind(bond);
		stop(ctx, dev, mm);
		if (!ret)
			break; /* past every failure point of the bind: the thread always started */
	}
	sva_test_fault_queue_dropped = NULL;
	ok(dropped_child_status != -1, "a fork() while a queue whose thread did not start goes (failure point %d: %d)",
	   n - 1, ret);
	ok(WIFEXITED(dropped_child_status) && WEXITSTATUS(dropped_child_status) == 0,
	   "  the child held no descriptor of the queue (status %#x; old code: it kept one)",
	   (unsigned)dropped_child_status);
}

static void teardown_with_child(bool adopt, bool handlers)
{
	int app = open("/dev/iommu", O_RDWR | O_CLOEXEC), p[2], r[2];
	struct sva_ctx_opts o = { .size = sizeof(o), .flags = adopt ? SVA_CTX_ADOPT_FD : 0, .iommufd = app,
				  .log_fn = queue_capture, .log_level = SVA_LOG_DEBUG };
	struct kabi_iommu_destroy d = { .size = sizeof(d) };
	const char *how = handlers ? "fork()" : "_Fork()";
	struct sva_ctx *ctx;
	struct sva_dev *dev;
	struct sva_mm *mm;
	struct sva_bond *bond;
	uint64_t t0, ms;
	int status, ret;
	pid_t pid;
	char c;

	if (app < 0 || pipe(p) || pipe(r) || start(&o, &ctx, &dev, &mm, &bond))
		ktest_bail("context for the child test");
	if (ktest_inject_and_wait(dev, bond, 0x40000000ull, SVA_ACCESS_READ, 5000))
		diag("%s child: the fault was not answered", how);
	d.id = ctx->fe.fault_id;
	atomic_store(&queue_lines, 0);
	atomic_store(&queue_warns, 0);
	queue_line[0] = '\0';
	pid = handlers ? fork() : _Fork();
	if (pid == 0) {
		close(p[1]);
		/* Running: fork()'s handlers are done.  It holds its copies
		 * until the parent closes the pipe. */
		_exit(write(r[1], "r", 1) != 1 || read(p[0], &c, 1) < 0 ? 1 : 0);
	}
	close(p[0]);
	close(r[1]);
	if (read(r[0], &c, 1) != 1)
		diag("%s child: not started", how);
	close(r[0]);
	sva_unbind(bond);
	sva_mm_free(mm);
	sva_dev_close(dev);
	t0 = ktest_now_ns();
	sva_ctx_free(ctx); /* the last reference: the queue goes here */
	ms = (ktest_now_ns() - t0) / 1000000;
	ret = ioctl(app, KABI_IOMMU_DESTROY, &d) ? -errno : 0; /* the child still runs */
	close(p[1]);
	ktest_wait_child(pid, 10000, &status);
	if (handlers) {
		if (adopt)
			is_int(ret, -ENOENT, "%s child alive, adopted iommufd: the queue %u was destroyed by sva_ctx_free",
			       how, d.id);
		is_int(atomic_load(&queue_lines), 0, "%s child alive, %s iommufd: no line about the queue (%s)", how,
		       adopt ? "adopted" : "libsva's", queue_line);
	} else if (adopt) {
		is_int(ret, -EBUSY, "%s child alive, adopted iommufd: the queue %u stays (the child holds it)", how,
		       d.id);
		ok(atomic_load(&queue_warns) == 1 && strstr(queue_line, "stays in the adopted iommufd"),
		   "  one warning, which says the queue stays in the adopted iommufd (%s)", queue_line);
		ioctl(app, KABI_IOMMU_DESTROY, &d); /* the child is gone: the test cleans up */
	} else {
		is_int(atomic_load(&queue_warns), 0, "%s child alive, libsva's iommufd: no warning (%s)", how,
		       queue_line);
	}
	if (!adopt || handlers)
		ok(ms < 500, "  and sva_ctx_free did not wait for the child (%llu ms)", (unsigned long long)ms);
	close(app);
}

/*
 * The application put a file of its own at the fault queue's number (dup2())
 * before fork(): the child's copy of that file is the application's, not
 * libsva's to close at the fork, nor is the parent's at sva_ctx_free()
 * (libsva(7): "those it never closes once the number holds another file").
 * Every anonymous-inode file has the same st_dev and st_ino, so fstat()
 * took an eventfd there for the queue, and both closed it (review Z78).
 */
static void foreign_file_at_queue_number(bool use_eventfd)
{
	const char *what = use_eventfd ? "an eventfd" : "/dev/null";
	struct sva_ctx *ctx;
	struct sva_dev *dev;
	struct sva_mm *mm;
	struct sva_bond *bond;
	int p[2], status, mine, q, child_open = -1;
	pid_t pid;

	if (start(NULL, &ctx, &dev, &mm, &bond))
		ktest_bail("context");
	q = ctx->fe.fault_fd;
	mine = use_eventfd ? eventfd(0, EFD_CLOEXEC) : open("/dev/null", O_RDONLY | O_CLOEXEC);
	if (q < 0 || mine < 0 || dup2(mine, q) != q || pipe(p))
		ktest_bail("%s at the queue's number", what);
	close(mine);
	pid = fork();
	if (pid == 0) {
		int open_ = fcntl(q, F_GETFD) >= 0;

		_exit(write(p[1], &open_, sizeof(open_)) == sizeof(open_) ? 0 : 1);
	}
	if (read(p[0], &child_open, sizeof(child_open)) != sizeof(child_open))
		child_open = -2;
	ktest_wait_child(pid, 10000, &status);
	is_int(child_open, 1, "%s the application put at the queue's number: open in the fork() child", what);
	sva_unbind(bond);
	stop(ctx, dev, mm);
	is_int(fcntl(q, F_GETFD) >= 0, 1, "  and in the parent after sva_ctx_free()");
	close(q);
	close(p[0]);
	close(p[1]);
}

static atomic_bool storm_stop;

struct storm_arg {
	struct sva_dev *dev;
	struct sva_bond *bond;
};

/* Faults without a break: resolved ones and refused ones, so the fault
 * thread is always inside a batch, holding its locks and the arena's. */
static void *storm(void *p)
{
	struct storm_arg *a = p;
	uint32_t pasid = sva_bond_pasid(a->bond);

	for (unsigned i = 0; !atomic_load(&storm_stop); i++) {
		sva_dev_inject_fault(a->dev, pasid, 0x4b000000ull + (i % 16) * 4096ull, SVA_ACCESS_READ, 0);
		sva_dev_inject_fault(a->dev, pasid, 0x7f000000ull, SVA_ACCESS_READ, 0);
	}
	return NULL;
}

/*
 * fork() while the fault thread resolves faults, 40 times: each child frees
 * everything (what a forked child may do: the memory only) and exits.  Before
 * the atfork handlers a child could inherit a lock the thread held at the
 * fork and wait for it forever.
 */
static void fork_during_faults(void)
{
	struct storm_arg a;
	struct sva_ctx *ctx;
	struct sva_mm *mm;
	pthread_t t;
	int hung = 0, failed = 0;

	if (start(NULL, &ctx, &a.dev, &mm, &a.bond))
		ktest_bail("fault-thread context");
	memset(ktest_map_at(0x4b000000ull, 16 * 4096, PROT_READ | PROT_WRITE), 1, 16 * 4096);
	pthread_create(&t, NULL, storm, &a);
	for (int i = 0; i < 40; i++) {
		int status = 0;
		pid_t pid;

		usleep(2000);
		pid = fork();
		if (pid == 0) {
			int ctx_fd = sva_ctx_fd(ctx), queue_fd = ctx->fe.fault_fd;

			alarm(10);
			sva_mm_free(mm);
			sva_dev_close(a.dev);
			sva_ctx_free(ctx);
			/* Its copies of the iommufd and the queue are closed: they
			 * would keep the parent's IOAS and pins alive. */
			_exit(fcntl(ctx_fd, F_GETFD) != -1 || fcntl(queue_fd, F_GETFD) != -1 ? 5 : 0);
		}
		if (ktest_wait_child(pid, 10000, &status)) {
			hung++;
		} else if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
			/* Its alarm(10) fires before this wait gives up: a child
			 * that hung ends by SIGALRM and is counted here. */
			const char *why = "";

			if (WIFSIGNALED(status) && WTERMSIG(status) == SIGALRM)
				why = " (SIGALRM: it hung in its cleanup)";
			else if (WIFEXITED(status) && WEXITSTATUS(status) == 5)
				why = " (its copies of the descriptors stayed open)";
			failed++;
			diag("fork %d: the child %s %d%s", i, WIFEXITED(status) ? "exited" : "was killed by signal",
			     WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status), why);
		}
	}
	atomic_store(&storm_stop, true);
	pthread_join(t, NULL);
	is_int(hung, 0, "fork during a fault storm: no child hung in its cleanup (40 forks)");
	is_int(failed, 0, "and every child exited 0, its copies of the iommufd and the fault queue closed");
	is_int(sva_ctx_fault_health(ctx), 0, "the parent's fault thread is still healthy");
	stop(ctx, a.dev, mm);
}

static atomic_int holder_state; /* 1: holding, 2: released */

/*
 * fault_error may call sva_dev_get_info() (sva_bind(3): queries are fine in
 * it) while another thread unbinds another bond of the same device.  The
 * unbind waits for the batch the callback is in; it used to wait holding the
 * device's lock, which the callback's query takes: both hung.
 */
static struct sva_dev *fe_dev;
static atomic_int fe_in, fe_ret = 1, fe_process = 1;

static void query_in_fault_error(struct sva_bond *bond, const struct sva_fault_report *r, void *drvdata)
{
	struct sva_dev_info di = { .size = sizeof(di) };

	(void)bond;
	(void)r;
	(void)drvdata;
	if (atomic_exchange(&fe_in, 1))
		return;
	/* Refused as a deadlock in either mode (this context runs a thread). */
	atomic_store(&fe_process, sva_ctx_process_faults(fe_dev->ctx, 1));
	usleep(200000); /* the unbind reaches its wait meanwhile */
	atomic_store(&fe_ret, sva_dev_get_info(fe_dev, &di));
}

static void query_while_unbinding(void)
{
	struct sva_bond_ops ops = { .size = sizeof(ops), .fault_error = query_in_fault_error };
	struct sva_bind_opts bo = { .size = sizeof(bo), .ops = &ops };
	struct sva_ctx *ctx;
	struct sva_mm *mm;
	struct sva_bond *y, *x;
	int ret;

	if (sva_ctx_new(NULL, &ctx) || sva_dev_open_mock(ctx, NULL, &fe_dev) || sva_mm_new(ctx, NULL, &mm) ||
	    sva_bind(fe_dev, mm, &bo, &y))
		ktest_bail("set up of the fault_error query test");
	bo.ops = NULL;
	bo.flags = SVA_BIND_EXTRA_PASID;
	if (sva_bind(fe_dev, mm, &bo, &x))
		ktest_bail("the second bond");
	/* Nothing is mapped there: refused, so fault_error runs. */
	sva_dev_inject_fault(fe_dev, sva_bond_pasid(y), 0x7f0000000000ull, SVA_ACCESS_READ, 0);
	KTEST_WAIT_WHILE(!atomic_load(&fe_in), 10000);
	ok(atomic_load(&fe_in), "fault_error runs for a refused fault");
	ret = sva_unbind(x); /* hung here (the alarm ends the test) */
	is_int(ret, 0, "sva_unbind of another bond of the device while fault_error queries the device");
	KTEST_WAIT_WHILE(atomic_load(&fe_ret) == 1, 10000);
	is_int(atomic_load(&fe_ret), 0, "and the query in fault_error returned");
	is_int(atomic_load(&fe_process), -EDEADLK,
	       "sva_ctx_process_faults in fault_error of a context with a fault thread: -EDEADLK");
	sva_mm_free(mm);
	sva_dev_close(fe_dev);
	sva_ctx_free(ctx);
}

static void quiet(void *arg, enum sva_log_level level, const char *msg)
{
	(void)arg;
	(void)level;
	(void)msg;
}

/* What the fault thread does for every record it reads (dev_by_id), and any
 * thread that logs: hold the device list's and the log's locks a while, each
 * inside the fork guard as libsva takes them (log.c nests in the guard too). */
static void *hold_locks(void *p)
{
	struct sva_ctx *ctx = p;

	sva_devs_lock(ctx);
	sva_fork_guard_enter();
	pthread_mutex_lock(&ctx->log.lock);
	atomic_store(&holder_state, 1);
	usleep(200000);
	atomic_store(&holder_state, 2);
	pthread_mutex_unlock(&ctx->log.lock);
	sva_fork_guard_leave();
	sva_devs_unlock(ctx);
	return NULL;
}

/*
 * The race above made certain: fork() while another thread holds the locks
 * a child's cleanup takes.  The fork waits for them (the atfork handlers), so
 * the child's copies are free and its cleanup ends.
 */
static void fork_while_locked(void)
{
	struct sva_ctx *ctx;
	struct sva_dev *dev;
	struct sva_mm *mm;
	struct sva_bond *bond;
	pthread_t t;
	int status = 0, state_at_fork;
	bool hung;
	pid_t pid;

	if (start(NULL, &ctx, &dev, &mm, &bond))
		ktest_bail("fault-thread context");
	sva_ctx_set_log(ctx, quiet, NULL, SVA_LOG_DEBUG); /* so the child's cleanup logs */
	pthread_create(&t, NULL, hold_locks, ctx);
	while (atomic_load(&holder_state) != 1)
		usleep(1000);
	pid = fork();
	if (pid == 0) {
		alarm(10);
		sva_mm_free(mm);
		sva_dev_close(dev);
		sva_ctx_free(ctx);
		_exit(0);
	}
	state_at_fork = atomic_load(&holder_state);
	hung = ktest_wait_child(pid, 15000, &status) != 0;
	pthread_join(t, NULL);
	is_int(state_at_fork, 2, "fork() waits for a thread holding the device list's and the log's locks");
	ok(!hung && WIFEXITED(status) && WEXITSTATUS(status) == 0,
	   "the child's cleanup does not hang on their copies (%s %d)",
	   hung ? "hung" : WIFEXITED(status) ? "exited" : "killed by signal",
	   hung ? 0 : WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status));
	stop(ctx, dev, mm);
}

/*
 * The thread enters its ring by a registered index and holds no number for it
 * (Linux 5.18): an application that closes libsva's descriptors, or puts its
 * own io_uring at that number, cannot make the thread wait on or submit to
 * another ring.  With the number, the teardown then waited forever: the
 * futex wait and the eventfd poll had been cancelled with the lost ring.
 */
static void ring_has_no_number(void)
{
	struct sva_ctx *ctx;
	struct sva_dev *dev;
	struct sva_mm *mm;
	struct sva_bond *bond;

	ktest_map_at(KT_BUF, 2 * 4096, PROT_READ | PROT_WRITE);
	if (start(NULL, &ctx, &dev, &mm, &bond))
		ktest_bail("context");
	is_int(ktest_inject_and_wait(dev, bond, KT_BUF, SVA_ACCESS_READ, 5000), 0, "io_uring thread: a fault is answered");
	is_int(ring_fd(), -1, "  and the process holds no descriptor of its ring (a registered index)");
	is_int(ktest_inject_and_wait(dev, bond, KT_BUF + 4096, SVA_ACCESS_READ, 5000), 0, "  the next fault too");
	stop(ctx, dev, mm);
	munmap((void *)KT_BUF, 2 * 4096);
}

/*
 * The fault thread makes its ring after the first fault-capable bind may have
 * returned, and the ring has a descriptor until the thread registers it (for
 * good on kernels before 5.18).  A child forked then got a copy, and with it
 * the ring's poll of the fault queue: the parent's context could not destroy
 * its queue while the child lived.  A fork() waits for that moment to pass,
 * and a number the ring keeps is closed in the child, as the queue's is.
 */
static atomic_int ring_window; /* 1: the hook holds the moment open; 2: it let go */

/*
 * Where the fork is, told by the test's own fork handlers (armed only here):
 * fork_begun by a prepare handler that runs before libsva's (registered
 * after them), fork_passed by one that runs after them (registered before
 * any context, in main()), with the window as it found it, and fork_done by
 * the parent's handler once the child exists.  The hook holds the ring's
 * set-up until the fork has begun and then, should the fork get past
 * libsva's handlers (the old code: nothing waited for the set-up), until the
 * child exists, so the old code's child always has the ring; a fork that
 * waits (the fix) can only pass once the hook has let go, so the hook lets
 * go when none has passed 300 ms after the fork began.
 */
static atomic_bool fork_armed, fork_begun, fork_passed, fork_done;
static atomic_int window_at_fork;

static void on_fork_begin(void)
{
	if (atomic_load(&fork_armed))
		atomic_store(&fork_begun, true);
}

static void on_fork_passed(void)
{
	if (atomic_load(&fork_armed)) {
		atomic_store(&window_at_fork, atomic_load(&ring_window));
		atomic_store(&fork_passed, true);
	}
}

static void on_fork_done(void)
{
	if (atomic_load(&fork_armed))
		atomic_store(&fork_done, true);
}

static void hold_ring_window(void)
{
	atomic_store(&ring_window, 1);
	/* The 10 s bounds are against a hang only; the 300 ms one is how
	 * long a fork that waits is given to show it does not. */
	KTEST_WAIT_WHILE(!atomic_load(&fork_begun), 10000);
	KTEST_WAIT_WHILE(!atomic_load(&fork_passed), 300);
	if (atomic_load(&fork_passed))
		KTEST_WAIT_WHILE(!atomic_load(&fork_done), 10000);
	atomic_store(&ring_window, 2);
}

/* An io_uring mapped here: a mapping holds the ring as a descriptor does. */
static bool ring_mapped(void)
{
	FILE *f = fopen("/proc/self/maps", "r");
	char line[512];
	bool found = false;

	if (!f)
		return true; /* unknown: counted as a copy, never as none */
	while (!found && fgets(line, sizeof(line), f))
		found = strstr(line, "io_uring") != NULL;
	fclose(f);
	return found;
}

/* Fork now: 0 when the child has no descriptor of an io_uring and maps
 * none, 1 when it has a descriptor, 2 when it maps one, -1 when it could not
 * be forked or waited for. */
static int child_has_ring(void)
{
	int status;
	pid_t pid = fork();

	if (pid == 0)
		_exit(ring_fd() != -1 ? 1 : ring_mapped() ? 2 : 0);
	if (pid < 0 || waitpid(pid, &status, 0) != pid || !WIFEXITED(status))
		return -1;
	return WEXITSTATUS(status);
}

static void register_fork_begin(void)
{
	if (pthread_atfork(on_fork_begin, NULL, NULL))
		ktest_bail("pthread_atfork");
}

static void fork_at_ring_setup(bool keep_number)
{
	static pthread_once_t once = PTHREAD_ONCE_INIT;
	struct sva_ctx *ctx;
	struct sva_dev *dev;
	struct sva_mm *mm;
	struct sva_bond *bond;
	const char *when = keep_number ? "a ring keeping its number (as before Linux 5.18)"
				       : "the ring made, not yet registered";

	atomic_store(&ring_window, 0);
	atomic_store(&fork_begun, false);
	atomic_store(&fork_passed, false);
	atomic_store(&fork_done, false);
	atomic_store(&window_at_fork, 0);
	atomic_store(&fork_armed, !keep_number);
	sva_test_fault_keep_ring_fd = keep_number;
	sva_test_fault_ring_made = keep_number ? NULL : hold_ring_window;
	pthread_once(&once, register_fork_begin); /* after libsva's handlers: runs before them */
	if (start(NULL, &ctx, &dev, &mm, &bond))
		ktest_bail("context");
	if (keep_number)
		KTEST_WAIT_WHILE(ring_fd() == -1, 5000);
	else
		KTEST_WAIT_WHILE(atomic_load(&ring_window) == 0, 5000);
	is_int(child_has_ring(), 0, "fork(), %s: the child has no copy of the ring's descriptor or mappings", when);
	if (!keep_number) {
		ok(atomic_load(&fork_passed) && atomic_load(&window_at_fork) == 2,
		   "  the fork waited for the thread to register its ring (it passed libsva's handlers: %d, the window "
		   "then: %d)",
		   (int)atomic_load(&fork_passed), atomic_load(&window_at_fork));
		atomic_store(&fork_armed, false);
	}
	sva_test_fault_ring_made = NULL;
	sva_test_fault_keep_ring_fd = 0;
	ktest_map_at(KT_BUF, 4096, PROT_READ | PROT_WRITE);
	is_int(ktest_inject_and_wait(dev, bond, KT_BUF, SVA_ACCESS_READ, 5000), 0, "  the parent's thread answers a fault");
	stop(ctx, dev, mm);
	munmap((void *)KT_BUF, 4096);
}

/*
 * Two contexts, the second's fault thread setting up its ring (its init hook
 * holds it back) only once the first context is gone: the kernel maps the
 * new ring where the first thread's was.  liburing unmapped that one by a
 * system call of its own, which ThreadSanitizer does not see, so it checked
 * the second thread's accesses against the first's, with nothing ordering
 * them but the kernel, and reported data races on anon_inode:[io_uring]
 * (the tsan tier fails a test on any report).  The hook waits on a relaxed
 * flag: an application's contexts need not synchronize with each other, so
 * the test gives the sanitizer no order either.
 */
static atomic_bool first_gone;

static void wait_first_gone(void *arg)
{
	(void)arg;
	for (int ms = 0; ms < 10000 && !atomic_load_explicit(&first_gone, memory_order_relaxed); ms++)
		usleep(1000);
}

static void rings_of_two_contexts(void)
{
	struct sva_ctx_opts o = { .size = sizeof(o), .fault_thread_init = wait_first_gone };
	struct sva_ctx *c1, *c2;
	struct sva_dev *d1, *d2;
	struct sva_mm *m1, *m2;
	struct sva_bond *b1, *b2;

	ktest_map_at(KT_BUF, 2 * 4096, PROT_READ | PROT_WRITE);
	atomic_store_explicit(&first_gone, false, memory_order_relaxed);
	if (start(NULL, &c1, &d1, &m1, &b1))
		ktest_bail("context");
	is_int(ktest_inject_and_wait(d1, b1, KT_BUF, SVA_ACCESS_READ, 5000), 0,
	       "two contexts: the first one's fault thread answers a fault");
	if (start(&o, &c2, &d2, &m2, &b2))
		ktest_bail("context");
	stop(c1, d1, m1);
	atomic_store_explicit(&first_gone, true, memory_order_relaxed);
	is_int(ktest_inject_and_wait(d2, b2, KT_BUF + 4096, SVA_ACCESS_READ, 10000), 0,
	       "  the second one's, whose ring was set up after the first context went (no ThreadSanitizer report)");
	stop(c2, d2, m2);
	munmap((void *)KT_BUF, 2 * 4096);
}

/* The voluntary context switches of thread tid so far; -1: unknown. */
static long switches_of(long tid)
{
	return ktest_thread_status_num((pid_t)tid, "voluntary_ctxt_switches");
}

/*
 * An idle io_uring fault thread waits on the teardown's futex word
 * (IORING_OP_FUTEX_WAIT, Linux 6.7): it does not wake at all.  It used to
 * wake once a second to read its stop flag, which it still does where the
 * kernel refuses that wait (forced here with sva_test_fault_no_futex).
 */
static void idle_wakeups(bool no_futex)
{
	const char *how = no_futex ? "io_uring (no futex wait, as before Linux 6.7)" : "io_uring";
	struct sva_ctx_opts o = { .size = sizeof(o), .fault_thread_init = on_init };
	struct sva_ctx *ctx;
	struct sva_dev *dev;
	struct sva_mm *mm;
	struct sva_bond *bond;
	int arg = 0, calls = atomic_load(&init_calls);
	long before, after;

	o.fault_thread_arg = &arg;
	sva_test_fault_no_futex = no_futex;
	ktest_map_at(KT_BUF, 4096, PROT_READ | PROT_WRITE);
	if (start(&o, &ctx, &dev, &mm, &bond))
		ktest_bail("context");
	is_int(ktest_inject_and_wait(dev, bond, KT_BUF, SVA_ACCESS_READ, 5000), 0, "%s thread: a fault is answered",
	       how);
	KTEST_WAIT_WHILE(atomic_load(&init_calls) == calls, 10000);
	usleep(100000); /* back in its wait */
	before = switches_of(atomic_load(&init_tid));
	if (no_futex) /* the same 2.2 s at most, over once it has woken twice */
		KTEST_WAIT_WHILE(switches_of(atomic_load(&init_tid)) - before < 2, 2200);
	else
		usleep(2200000);
	after = switches_of(atomic_load(&init_tid));
	if (no_futex)
		ok(before >= 0 && after - before >= 2, "%s thread: idle, it wakes once a second (%ld times within 2.2 s)",
		   how, after - before);
	else
		ok(before >= 0 && after == before, "%s thread: idle, it does not wake (%ld times in 2.2 s)", how,
		   after - before);
	stop(ctx, dev, mm); /* a hang here is the alarm's */
	munmap((void *)KT_BUF, 4096);
	sva_test_fault_no_futex = 0;
}

static atomic_int g_close_fd = -1; /* set by the main thread, taken by the fault thread */

/* fault_error runs between a batch's read and its answer: close the queue there. */
static void close_queue_in_batch(struct sva_bond *bond, const struct sva_fault_report *r, void *drvdata)
{
	(void)bond;
	(void)r;
	(void)drvdata;
	int fd = atomic_exchange(&g_close_fd, -1);

	if (fd >= 0)
		close(fd);
}

/*
 * The queue closed behind libsva's back between a batch's read and its answer
 * (a close_range() racing a batch): the answer fails with EBADF and the thread
 * stops; one error line says so.  The old code logged the failed answer too.
 */
static void queue_closed_in_batch(void)
{
	struct sva_ctx_opts co = { .size = sizeof(co), .log_fn = count_errors, .log_level = SVA_LOG_ERROR };
	struct sva_bond_ops ops = { .size = sizeof(ops), .fault_error = close_queue_in_batch };
	struct sva_bind_opts bo = { .size = sizeof(bo), .ops = &ops };
	struct sva_ctx *ctx;
	struct sva_dev *dev;
	struct sva_mm *mm;
	struct sva_bond *bond;
	int fd, old = 0;

	if (!closing_runs(false, 2, &old))
		return;
	if (sva_ctx_new(&co, &ctx) || sva_dev_open_mock(ctx, NULL, &dev) || sva_mm_new(ctx, NULL, &mm) ||
	    sva_bind(dev, mm, &bo, &bond))
		ktest_bail("mock, address space or fault-capable bind");
	fd = ctx->fe.fault_fd;
	atomic_store(&g_close_fd, fd);
	atomic_store(&error_lines, 0);
	/* Nothing is mapped there: refused, so fault_error runs before the answer. */
	sva_dev_inject_fault(dev, sva_bond_pasid(bond), 0x4e000000ull, SVA_ACCESS_READ, 0);
	KTEST_WAIT_WHILE(sva_ctx_fault_health(ctx) == 0, 10000);
	is_int(sva_ctx_fault_health(ctx), -EBADF, "queue closed inside a batch: health -EBADF");
	usleep(100000); /* a second line, if any, comes from the same thread before it stops */
	is_int(atomic_load(&error_lines), 1, "queue closed inside a batch: one error line, the thread's");
	/* The number is another file's now: the teardown must leave it alone. */
	int filler = open("/dev/null", O_RDONLY | O_CLOEXEC);

	if (filler != fd && (filler < 0 || dup2(filler, fd) < 0))
		ktest_bail("dup2");
	stop(ctx, dev, mm);
	close(fd);
	if (filler != fd)
		close(filler);
}

int main(void)
{
	struct sva_ctx_opts o = { .size = sizeof(o) };
	struct sva_ctx *ctx;
	struct sva_dev *dev;
	struct sva_mm *mm;
	struct sva_bond *bond;
	char comm[32];
	int arg = 0, ret;

	ktest_require_iommufd();
	alarm(120);
	/* Before any context: runs after libsva's handlers (fork_at_ring_setup()). */
	if (pthread_atfork(on_fork_passed, on_fork_done, NULL))
		ktest_bail("pthread_atfork");
	ret = sva_ctx_new(NULL, &ctx);
	if (ret)
		ktest_bail("sva_ctx_new: %s", strerror(-ret));
	ret = sva_dev_open_mock(ctx, NULL, &dev);
	ktest_skip_without_mock(ret);
	if (!is_int(ret, 0, "sva_dev_open_mock"))
		return done_testing();
	sva_dev_close(dev);
	sva_ctx_free(ctx);

	o.fault_thread_name = "a-name-of-16-byt";
	is_int(sva_ctx_new(&o, &ctx), -ENAMETOOLONG, "a 16-byte thread name: -ENAMETOOLONG");

	o.fault_thread_name = "drv-faults";
	o.fault_thread_init = on_init;
	o.fault_thread_arg = &arg;
	is_int(start(&o, &ctx, &dev, &mm, &bond), 0, "a context with a named thread and an init hook");
	is_int(sva_ctx_fault_health(ctx), 0, "healthy");
	KTEST_WAIT_WHILE(!atomic_load(&init_calls), 10000);
	is_int(atomic_load(&init_calls), 1, "the init hook ran once");
	ok(arg == 1 && atomic_load(&init_tid) != (long)syscall(SYS_gettid), "on the fault thread, with its arg");
	ktest_thread_comm((pid_t)atomic_load(&init_tid), comm, sizeof(comm));
	ok(strcmp(comm, "drv-faults") == 0, "the thread carries the name asked for (%s)", comm);
	ok(strcmp(init_name, "drv-faults") == 0, "already when its init hook runs (%s)", init_name);
	stop(ctx, dev, mm);

	/* Waiting for faults fails: the thread stops, and says so. */
	sva_test_fault_poll_fail = EBADF;
	is_int(start(NULL, &ctx, &dev, &mm, &bond), 0, "a context whose fault thread's wait fails");
	KTEST_WAIT_WHILE(sva_ctx_fault_health(ctx) == 0, 10000);
	is_int(sva_ctx_fault_health(ctx), -EBADF, "sva_ctx_fault_health: -EBADF, the error that stopped it");
	sva_test_fault_poll_fail = 0;
	stop(ctx, dev, mm);
	/* sva_ctx_fault_health(3): "-ENOMEM The fault thread stopped: poll(2),
	 * which the thread uses where io_uring is unavailable or failed, ran out
	 * of memory; logged when it happened." */
	sva_test_fault_poll_fail = ENOMEM;
	atomic_store(&error_lines, 0);
	{
		struct sva_ctx_opts lo = { .size = sizeof(lo), .log_fn = count_errors, .log_level = SVA_LOG_ERROR };

		is_int(start(&lo, &ctx, &dev, &mm, &bond), 0, "a context whose fault thread's poll(2) runs out of memory");
	}
	KTEST_WAIT_WHILE(sva_ctx_fault_health(ctx) == 0, 10000);
	is_int(sva_ctx_fault_health(ctx), -ENOMEM, "sva_ctx_fault_health: -ENOMEM, the error that stopped it");
	ok(atomic_load(&error_lines) >= 1, "  logged at error level when it happened (%d lines)",
	   atomic_load(&error_lines));
	is_int(sva_ctx_fault_health(ctx), -ENOMEM, "  and again at the next call: the thread stays stopped");
	sva_test_fault_poll_fail = 0;
	stop(ctx, dev, mm);
	bind_thread_start_fails();
	is_int(sva_ctx_fault_health(NULL), -EINVAL, "NULL: -EINVAL");
	queue_closed(false);
	queue_closed(true);
	queue_closed_in_batch();
	for (enum filler k = F_NULL; k <= F_MEMFD_EMPTY; k++)
		queue_closed_poll_mode(k);
	idle_wakeups(false);
	idle_wakeups(true);
	/* Without the futex wait, the tick stops a thread whose eventfd is lost. */
	sva_test_fault_no_futex = 1;
	scene(S_WAKE_NULL, false);
	sva_test_fault_no_futex = 0;
	for (int poll_thread = 0; poll_thread < 2; poll_thread++) {
		scene(S_WAKE_NULL, poll_thread);
		scene(S_QUEUE_ZERO, poll_thread);
		scene(S_FORK_WAKE, poll_thread);
	}
	sva_test_fault_keep_ring_fd = 1;
	scene(S_RING_NULL, false);
	sva_test_fault_keep_ring_fd = 0;
	ring_has_no_number();
	fork_at_ring_setup(false);
	fork_at_ring_setup(true);
	rings_of_two_contexts();
	foreign_file_at_queue_number(false);
	foreign_file_at_queue_number(true);
	scene(S_QUEUE_PIPE_WR, true);
	poll_while_binding();
	query_while_unbinding();
	fork_during_faults();
	fork_while_locked();
	for (int i = 0; i < 5; i++)
		adopted_fd_teardown();
	ring_lets_go_at_join();
	for (int adopt = 0; adopt < 2; adopt++) {
		teardown_with_child(adopt, true);
		teardown_with_child(adopt, false);
	}
	fork_while_queue_made();
	fork_while_released();
	fork_while_queue_dropped();
	return done_testing();
}
