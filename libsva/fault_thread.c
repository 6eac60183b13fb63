/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The fault thread: waits for the fault queue with io_uring (poll(2) where
 * io_uring is unavailable, as in some containers) and resolves whatever is
 * pending.  It never spins: read() on the queue does not block, so it only
 * reads after the kernel said POLLIN.
 *
 * What stops it must not depend on a descriptor: an application that closed
 * libsva's descriptors (close_range() of everything) must not make the
 * teardown wait forever, and a wait in progress holds the eventfd's file, so
 * nothing else can wake it.  So the io_uring wait also waits on a futex word
 * (fe.stop_futex, IORING_OP_FUTEX_WAIT, Linux 6.7) that the teardown sets and
 * wakes: an idle thread never wakes for nothing.  Where the kernel has no
 * futex wait in io_uring, and in the poll(2) wait, the eventfd stops it, and a
 * tick once a second that reads the stop flag (fe.stopping) stops it when the
 * eventfd cannot.
 */
#define _GNU_SOURCE /* pthread_setname_np() */
#include <errno.h>
#include <liburing.h>
#include <poll.h>
#include <limits.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "internal.h"
#include "kabi.h"

SVA_EXPORT int sva_ctx_fault_health(const struct sva_ctx *ctx)
{
	if (!ctx)
		return sva_fail(sva_log_default(), -EINVAL, "sva_ctx_fault_health: ctx is NULL");
	return atomic_load(&((struct sva_ctx *)ctx)->fe.thread_error);
}

enum { EV_FAULT = 1, EV_WAKE = 2, EV_STOP = 3, EV_CANCEL = 4 };

_Static_assert(offsetof(struct io_uring_sqe, off) == KABI_SQE_OFF_ADDR2, "the futex wait's value");
_Static_assert(offsetof(struct io_uring_sqe, addr3) == KABI_SQE_OFF_ADDR3, "the futex wait's mask");

/* How often a thread that cannot wait on the futex reads the stop flag (see
 * the top of the file). */
#define TICK_MS 1000

/* Woken to stop, or by something else through the eventfd (its number was
 * closed and taken by another file, or written to): that is no stop. */
static bool stopping(struct sva_ctx *ctx)
{
	return atomic_load(&ctx->fe.stopping);
}

/*
 * The queue said POLLIN but nothing could be taken from it (a group larger
 * than any buffer, a read error that repeats): wait a little rather than spin
 * on a queue that stays readable.  The error was logged where it happened.
 */
static void backoff(struct sva_ctx *ctx, int processed)
{
	(void)ctx;
	if (processed <= 0)
		usleep(10000);
}

/*
 * Resolve what is pending.  0, or -EBADF: the queue's number is not the
 * queue's any more (closed behind our back; the engine marked it lost): the
 * thread stops rather than retry it.
 */
static int serve(struct sva_ctx *ctx)
{
	int n = sva_fault_process(ctx, UINT32_MAX);

	if (n == -EBADF)
		return n;
	backoff(ctx, n);
	return 0;
}

/* A free SQE in *sqe (0), flushing a full submission queue first, or -errno. */
static int get_sqe(struct io_uring *ring, struct io_uring_sqe **sqe)
{
	*sqe = io_uring_get_sqe(ring);
	if (!*sqe) {
		int ret = io_uring_submit(ring);

		if (ret < 0)
			return ret;
		*sqe = io_uring_get_sqe(ring);
	}
	return *sqe ? 0 : -EBUSY;
}

/* Queue a one-shot POLLIN on fd. */
static int arm(struct io_uring *ring, int fd, uint64_t tag)
{
	struct io_uring_sqe *sqe;
	int ret = get_sqe(ring, &sqe);

	if (ret)
		return ret;
	io_uring_prep_poll_add(sqe, fd, POLLIN);
	io_uring_sqe_set_data64(sqe, tag);
	return 0;
}

/*
 * The queue's poll, if still armed when the wait ends, holds the queue's
 * file, and the ring lets go of it only after the thread is gone and the
 * ring's exit work has run, asynchronously: until then IOMMU_DESTROY of the
 * queue says EBUSY (a few milliseconds after the join in most teardowns, and
 * longer on a loaded machine, beyond destroy_queue()'s wait: review Z73).  So
 * the thread cancels it and waits for its completion: the kernel puts the
 * file in this thread's io_uring_enter() that reaps it, before it returns.
 * Bounded by a second: a kernel that refuses the cancel, or a ring that
 * fails, leaves the file to the ring's exit, as before.
 */
static void reap_fault_poll(struct io_uring *ring)
{
	uint64_t deadline = sva_now_ns() + 1000000000ull;
	struct io_uring_sqe *sqe;

	if (get_sqe(ring, &sqe))
		return;
	io_uring_prep_cancel64(sqe, EV_FAULT, 0);
	io_uring_sqe_set_data64(sqe, EV_CANCEL);
	while (sva_now_ns() < deadline) {
		struct __kernel_timespec ts = { .tv_nsec = 100 * 1000000L };
		struct io_uring_cqe *cqe;
		unsigned head, seen = 0;
		bool done = false;
		int ret = io_uring_submit_and_wait_timeout(ring, &cqe, 1, &ts, NULL);

		if (ret < 0 && ret != -EINTR && ret != -ETIME)
			return;
		io_uring_for_each_cqe(ring, head, cqe)
		{
			uint64_t tag = io_uring_cqe_get_data64(cqe);

			seen++;
			/* The poll's own completion (cancelled, or fired before
			 * the cancel: -ENOENT then, and it is here too). */
			if (tag == EV_FAULT)
				done = true;
			else if (tag == EV_CANCEL && cqe->res < 0 && cqe->res != -ENOENT && cqe->res != -EALREADY)
				done = true; /* not cancellable here: the ring's exit puts it */
		}
		io_uring_cq_advance(ring, seen);
		if (done)
			return;
	}
}

#ifdef SVA_TEST_HOOKS
/* Tests only (libsva-test): non-zero, the io_uring wait does without the
 * futex, as on kernels before 6.7; and keeps its ring's number, as before
 * 5.18.  The hook runs on the thread once its ring is made, before it is
 * registered (a test holds that moment open). */
int sva_test_fault_no_futex, sva_test_fault_keep_ring_fd;
void (*sva_test_fault_ring_made)(void);
#define TEST_NO_FUTEX sva_test_fault_no_futex
#define TEST_KEEP_RING_FD sva_test_fault_keep_ring_fd
#define TEST_RING_MADE() (sva_test_fault_ring_made ? sva_test_fault_ring_made() : (void)0)
#else
#define TEST_NO_FUTEX 0
#define TEST_KEEP_RING_FD 0
#define TEST_RING_MADE() ((void)0)
#endif

/* Queue a wait for the teardown's wake-up of fe->stop_futex, while it is 0. */
static int arm_stop(struct io_uring *ring, struct sva_fault_engine *fe)
{
	struct io_uring_sqe *sqe;
	int ret = TEST_NO_FUTEX ? -EINVAL : get_sqe(ring, &sqe);

	if (ret)
		return ret;
	/* The futex2 flags go where a descriptor would; the value (0) in
	 * addr2, liburing 2.3's off; the op's own flags word stays 0. */
	io_uring_prep_rw(KABI_IORING_OP_FUTEX_WAIT, sqe, KABI_FUTEX2_SIZE_U32 | KABI_FUTEX2_PRIVATE, &fe->stop_futex, 0,
			 0);
	sqe->addr3 = KABI_FUTEX_BITSET_MATCH_ANY;
	io_uring_sqe_set_data64(sqe, EV_STOP);
	return 0;
}

/* munmap() of whole pages (see ring_exit()). */
static void unmap_pages(void *addr, size_t len)
{
	size_t page = (size_t)sysconf(_SC_PAGESIZE);

	munmap(addr, (len + page - 1) & ~(page - 1));
}

/*
 * io_uring_queue_exit() of a ring set up by io_uring_queue_init() with no
 * flags, but for how its memory goes: through libc's munmap(), where liburing
 * built without libc (Debian 12's 2.3 on x86-64) makes the system calls
 * itself.  ThreadSanitizer sees libc's munmap() and forgets the accesses made
 * to the memory; it never sees liburing's.  The next ring the kernel maps at
 * the same address (another context's fault thread, started while this one
 * ended, or a later one of this context's) was then checked against the
 * accesses of this thread, with nothing ordering the two but the kernel:
 * "data race" reports on anon_inode:[io_uring] between two contexts' fault
 * threads (ktest-fault-thread).  The sizes are io_uring_setup(2)'s, which
 * liburing keeps in the ring: the SQE array, the SQ ring and, unless the
 * kernel maps both rings at once (IORING_FEAT_SINGLE_MMAP), the CQ ring;
 * rounded up to whole pages, which is what the kernel unmaps: the sanitizer
 * forgets only the whole pages of the length it is given, and this ring's
 * are smaller than a page.
 */
static void ring_exit(struct io_uring *ring, bool registered)
{
	size_t sqe_size = ring->flags & IORING_SETUP_SQE128 ? 128 : sizeof(struct io_uring_sqe);

	unmap_pages(ring->sq.sqes, sqe_size * ring->sq.ring_entries);
	unmap_pages(ring->sq.ring_ptr, ring->sq.ring_sz);
	if (ring->cq.ring_ptr && ring->cq.ring_ptr != ring->sq.ring_ptr)
		unmap_pages(ring->cq.ring_ptr, ring->cq.ring_sz);
	/* As liburing does (it fails, harmlessly, on a liburing that needs
	 * the number this thread gave up); else the index goes as the thread
	 * ends. */
	if (registered)
		io_uring_unregister_ring_fd(ring);
	if (ring->ring_fd >= 0)
		close(ring->ring_fd);
}

/*
 * Wait with io_uring; returns when told to stop (0), or on an error: the
 * ring's (poll(2) takes over), or, with *queue_failed, a poll of the queue
 * that failed (a descriptor closed behind our back: the thread stops).  The
 * futex wait stops it; where the kernel refuses that wait, the tick does.  A
 * wake-up poll that failed or fired with no stop asked for is not re-armed.
 */
/*
 * Make the ring.  Its descriptor exists from here until the ring is
 * registered, and for good where it cannot be; a fork() child given a copy
 * would hold the ring, and through its poll the fault queue, so that the
 * parent's teardown could not destroy the queue while the child lives.  So
 * the making runs inside the fork guard (a fork() waits for it: a few system
 * calls), a number the ring keeps is noted for the child to close, as the
 * queue's is, and its mappings are not inherited (MADV_DONTFORK).
 */
static int ring_setup(struct sva_fault_engine *fe, struct io_uring *ring, bool *registered)
{
	struct sva_file_id ring_file = { 0 };
	int ret;

	*registered = false;
	sva_guard_enter();
	ret = SVA_TEST_FAIL_POINT() ? -ENOMEM : io_uring_queue_init(4, ring, 0);
	if (ret)
		goto out;
	/* The ring's mappings hold it as its descriptor does: a child that
	 * inherited them kept the ring, and its poll of the queue, until it
	 * exited, its copy of the number closed or not.  Not fatal: only
	 * that child's hold comes back. */
	(void)io_uring_ring_dontfork(ring);
	TEST_RING_MADE();
	ret = sva_file_id_of(ring->ring_fd, &ring_file);
	if (ret) {
		ring_exit(ring, false);
		goto out;
	}
	/*
	 * Enter the ring by a registered index (Linux 5.18) and give its number
	 * up: an application that closes libsva's descriptors, or puts its own
	 * ring at that number, then cannot make this thread wait on, or submit
	 * to, another ring (where neither the futex nor the eventfd could reach
	 * it).  Without that, the number stays, and the checks below with it.
	 */
	if (!TEST_KEEP_RING_FD && io_uring_register_ring_fd(ring) == 1) {
		close(ring->ring_fd);
		ring->ring_fd = -1;
		*registered = true;
	} else {
		fe->ring_file = ring_file;
		atomic_store(&fe->ring_fd, ring->ring_fd);
	}
out:
	sva_guard_leave();
	return ret;
}

static int wait_uring(struct sva_ctx *ctx, bool *queue_failed)
{
	struct sva_fault_engine *fe = &ctx->fe;
	struct io_uring ring;
	bool futex, fault_armed, registered;
	int ret = ring_setup(fe, &ring, &registered);

	*queue_failed = false;
	if (ret)
		return ret;
	ret = arm(&ring, fe->fault_fd, EV_FAULT);
	fault_armed = !ret;
	if (!ret)
		ret = arm(&ring, fe->wake_fd, EV_WAKE);
	/* The futex wait only on a ring with no number: one whose number was
	 * lost takes the futex wait and the eventfd poll with it, and only the
	 * tick would end the thread's wait on whatever the number holds. */
	futex = !ret && ring.ring_fd < 0 && arm_stop(&ring, fe) == 0;
	while (!ret && !stopping(ctx)) {
		struct __kernel_timespec tick = { .tv_sec = TICK_MS / 1000, .tv_nsec = TICK_MS % 1000 * 1000000L };
		struct io_uring_cqe *cqe;
		bool fault = false, rearm_stop = false;
		unsigned head, seen = 0;

		ret = io_uring_submit_and_wait_timeout(&ring, &cqe, 1, futex ? NULL : &tick, NULL);
		if (ret < 0 && ret != -EINTR && ret != -ETIME)
			break;
		ret = 0;
		io_uring_for_each_cqe(&ring, head, cqe)
		{
			uint64_t tag = io_uring_cqe_get_data64(cqe);

			seen++;
			/* A poll of the queue that failed (-EBADF: not a
			 * descriptor any more) fails again at once if re-armed:
			 * stop, do not spin.  (Other tags: liburing's own
			 * timeouts, on kernels without IORING_FEAT_EXT_ARG.) */
			if (tag == EV_FAULT)
				fault_armed = false;
			if (tag == EV_FAULT && cqe->res < 0 && !ret) {
				ret = cqe->res;
				*queue_failed = true;
				if (ret == -EBADF)
					sva_fault_queue_lost(fe);
			} else if (tag == EV_FAULT) {
				fault = true;
			} else if (tag == EV_STOP) {
				/* Woken (0), or the word was set already
				 * (-EAGAIN): the stop flag says which.  Any
				 * other result is a kernel without the futex
				 * wait (-EINVAL before 6.7): tick from now on. */
				if (cqe->res == 0 || cqe->res == -EAGAIN)
					rearm_stop = true;
				else
					futex = false;
			}
		}
		io_uring_cq_advance(&ring, seen);
		if (ret || stopping(ctx))
			break;
		if (fault) {
			ret = serve(ctx);
			if (ret) {
				*queue_failed = true;
				break;
			}
			ret = arm(&ring, fe->fault_fd, EV_FAULT); /* poll_add is one-shot */
			fault_armed = !ret;
		}
		if (!ret && rearm_stop)
			futex = arm_stop(&ring, fe) == 0;
	}
	/* The ring's number, too, may be another file's now (a failed wait
	 * after a close_range()): not ours to close. */
	if (ring.ring_fd >= 0 && !sva_fd_holds(ring.ring_fd, &fe->ring_file))
		ring.ring_fd = -1;
	else if (fault_armed)
		reap_fault_poll(&ring);
	sva_guard_enter(); /* no child copies a number no longer noted */
	atomic_store(&fe->ring_fd, -1);
	ring_exit(&ring, registered);
	sva_guard_leave();
	return ret;
}

#ifdef SVA_TEST_HOOKS
/* Tests only (libsva-test): the fault thread's poll(2) fails with this errno
 * (positive), and io_uring is skipped.  0: none. */
int sva_test_fault_poll_fail;
#define TEST_POLL_FAIL sva_test_fault_poll_fail
#else
#define TEST_POLL_FAIL 0
#endif

static int wait_poll(struct sva_ctx *ctx)
{
	struct pollfd pfd[2] = {
		{ .fd = ctx->fe.fault_fd, .events = POLLIN },
		{ .fd = ctx->fe.wake_fd, .events = POLLIN },
	};

	while (!stopping(ctx)) {
		int n = TEST_POLL_FAIL ? (errno = TEST_POLL_FAIL, -1) : poll(pfd, 2, TICK_MS);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		/* The queue closed behind our back: poll() reports it at once,
		 * forever.  The eventfd closed, or its number another file's
		 * (readable, say) with no stop asked for: the tick stops us. */
		if (pfd[0].revents & POLLNVAL)
			return sva_fault_queue_lost(&ctx->fe);
		/* The queue never reports these: another file's (a pipe's
		 * write end with no reader), which would poll so forever. */
		if ((pfd[0].revents & (POLLERR | POLLHUP)) && !(pfd[0].revents & POLLIN)) {
			if (!sva_fault_queue_ours(&ctx->fe))
				return sva_fault_queue_lost(&ctx->fe);
			backoff(ctx, 0);
		}
		if (pfd[1].revents && !stopping(ctx))
			pfd[1].fd = -1;
		if ((pfd[0].revents & POLLIN) && serve(ctx))
			return -EBADF;
	}
	return 0;
}

static void *fault_thread(void *arg)
{
	struct sva_ctx *ctx = arg;
	int ret;

	/* Named so that top -H and an application isolating its cores can find
	 * it, before the init hook runs: the hook may look itself up by name. */
	pthread_setname_np(pthread_self(), ctx->fe.thread_name);
	if (ctx->fe.thread_init)
		ctx->fe.thread_init(ctx->fe.thread_arg);
	bool queue_failed = false;

	ret = TEST_POLL_FAIL ? -ENOSYS : wait_uring(ctx, &queue_failed);
	if (ret && !queue_failed) {
		sva_logf(&ctx->log, SVA_LOG_INFO, "fault thread: io_uring unavailable (%s); using poll(2)",
			 strerror(-ret));
		ret = wait_poll(ctx);
	}
	if (ret) {
		/* Nothing serves faults from now on: say so, where the
		 * application can ask (sva_ctx_fault_health) -- after the log
		 * line, so that a watchdog that sees the error finds the line. */
		sva_logf(&ctx->log, SVA_LOG_ERROR,
			 "fault thread: waiting for faults failed (%s); it stopped, and I/O page faults are no "
			 "longer answered (sva_ctx_fault_health)",
			 strerror(-ret));
		atomic_store(&ctx->fe.thread_error, ret);
	}
	return NULL;
}

int sva_fault_thread_start(struct sva_ctx *ctx)
{
	struct sva_fault_engine *fe = &ctx->fe;
	int ret;

	fe->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	ret = fe->wake_fd < 0 ? -errno : sva_file_id_of(fe->wake_fd, &fe->wake_file);
	if (ret) {
		if (fe->wake_fd >= 0)
			close(fe->wake_fd);
		fe->wake_fd = -1;
		return sva_fail(&ctx->log, ret, "fault thread: eventfd failed: %s%s", strerror(-ret),
				sva_errno_remedy(ret, false));
	}
	atomic_store(&fe->stopping, false);
	atomic_store(&fe->stop_futex, 0);
	ret = sva_thread_create(&fe->thread, fault_thread, ctx, &fe->thread_stack);
	if (ret) {
		close(fe->wake_fd);
		fe->wake_fd = -1;
		return sva_fail(&ctx->log, ret, "cannot start the fault thread: %s%s", strerror(-ret),
				sva_errno_remedy(ret, true));
	}
	/* Named here too, not only by itself: the bind that started it may
	 * return before it has run, and the name is what an application
	 * pinning or isolating threads looks for right after (sva_ctx_new(3)). */
	pthread_setname_np(fe->thread, fe->thread_name);
	fe->thread_started = true;
	return 0;
}

static bool wake_fd_ours(const struct sva_fault_engine *fe)
{
	return sva_fd_holds(fe->wake_fd, &fe->wake_file);
}

/* In a forked child, which has no copy of the thread: its copy of the eventfd. */
void sva_fault_thread_forget(struct sva_ctx *ctx)
{
	struct sva_fault_engine *fe = &ctx->fe;

	if (fe->wake_fd >= 0 && wake_fd_ours(fe))
		close(fe->wake_fd);
	fe->wake_fd = -1;
}

void sva_fault_thread_stop(struct sva_ctx *ctx)
{
	struct sva_fault_engine *fe = &ctx->fe;
	bool ours = wake_fd_ours(fe);
	uint64_t one = 1;

	atomic_store(&fe->stopping, true);
	/* The io_uring wait's stop: no descriptor involved.  The eventfd
	 * below stops the poll(2) wait, and the io_uring one on kernels
	 * before 6.7, which also tick. */
	atomic_store(&fe->stop_futex, 1);
	syscall(SYS_futex, &fe->stop_futex, KABI_FUTEX_WAKE | KABI_FUTEX_PRIVATE_FLAG, INT_MAX, NULL, NULL, 0);
	if (!ours)
		sva_logf(&ctx->log, SVA_LOG_ERROR,
			 "the fault thread's eventfd (%d) was closed behind libsva's back: the thread stops "
			 "all the same (within a second where it waits with poll(2) or on a kernel before 6.7), "
			 "and the number is left alone",
			 fe->wake_fd);
	else if (write(fe->wake_fd, &one, sizeof(one)) != sizeof(one))
		sva_logf(&ctx->log, SVA_LOG_ERROR,
			 "cannot wake the fault thread (%s): it stops all the same (within a second where it "
			 "waits with poll(2) or on a kernel before 6.7)",
			 strerror(errno));
	pthread_join(fe->thread, NULL);
	sva_thread_stack_free(fe->thread_stack);
	if (ours)
		close(fe->wake_fd);
	fe->wake_fd = -1;
	fe->thread_started = false;
}
