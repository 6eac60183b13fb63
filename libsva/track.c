/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Coherence tracking (see track.h): the process's userfaultfd and its monitor.
 *
 * Why a thread of its own, even in poll mode: the thread that calls munmap()
 * on registered memory is blocked until somebody read()s the event.  If the
 * reader were the fault thread, a free() on that thread that trims a heap the
 * device has seen would wait for itself; in poll mode a single-threaded
 * application blocked in munmap() could never call back in to read.  So one
 * monitor per process reads and applies events, and does nothing else: no
 * allocation, no free, no lock that is ever held across munmap/madvise.
 *
 * The fence.  The kernel lets the munmap() caller go when the event is read,
 * before the monitor has withdrawn anything.  `seq` is odd from just before
 * each read until the events read are applied, so a caller that returned from
 * munmap() and then calls sva_track_fence() either sees an even count (applied)
 * or waits for the next one.
 */
#define _GNU_SOURCE /* pthread_setname_np() */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "callback.h"
#include "fork.h"
#include "internal.h"
#include "kabi.h"
#include "track.h"
#include "uffd_open.h"
#include "withdraw.h"

#define FEATURES_WANTED (KABI_UFFD_FEATURE_WP_HUGETLBFS_SHMEM | KABI_UFFD_FEATURE_WP_ASYNC)
#define MSGS_PER_READ 32

#ifdef SVA_TEST_HOOKS
/* Tests only (libsva-test): called as the monitor applies an event, T.reg held. */
void (*sva_test_track_apply_hook)(void);
#define APPLY_HOOK() (sva_test_track_apply_hook ? sva_test_track_apply_hook() : (void)0)
/* A hook a test sets while the monitor runs: loaded once, then called. */
#define CALL_ATOMIC_HOOK(hook)                                                    \
	do {                                                                      \
		void (*hook_)(void) = atomic_load(&(hook));                       \
		if (hook_)                                                        \
			hook_();                                                  \
	} while (0)
/* Tests only: called as the monitor is about to read events (the read count
 * not moved yet), so a test can hold an event unread. */
void (*_Atomic sva_test_track_read_hook)(void);
#define READ_HOOK() CALL_ATOMIC_HOOK(sva_test_track_read_hook)
/* Tests only: called as the monitor ends, before it lets its userfaultfd go. */
void (*_Atomic sva_test_track_exit_hook)(void);
#define EXIT_HOOK() CALL_ATOMIC_HOOK(sva_test_track_exit_hook)
/* Tests only: called by a registration that has the userfaultfd's number,
 * found it still libsva's and has not made its ioctl yet (T.uffd_lock held). */
void (*_Atomic sva_test_track_register_hook)(void);
#define REGISTER_HOOK() CALL_ATOMIC_HOOK(sva_test_track_register_hook)
/* Tests only: called by sva_track_add() with a monitor running, before the
 * address space joins its list (T.setup held). */
void (*_Atomic sva_test_track_add_hook)(void);
#define ADD_HOOK() CALL_ATOMIC_HOOK(sva_test_track_add_hook)
/* Tests only: called by a fence that found the monitor failed, before it
 * waits for the walk (withdraw_if_lost()). */
void (*_Atomic sva_test_track_fence_hook)(void);
#define FENCE_HOOK() CALL_ATOMIC_HOOK(sva_test_track_fence_hook)
/* Tests only: the clock (sva_now_ns()) of the monitor's last check of what
 * REMOVEs left pending, stored once the check is done, so that a test waits
 * for a check past a time instead of sleeping for one. */
_Atomic uint64_t sva_test_track_checked_ns;
#define CHECKED(now) atomic_store(&sva_test_track_checked_ns, (now))
#else
#define APPLY_HOOK() ((void)0)
#define READ_HOOK() do {} while (0)
#define EXIT_HOOK() do {} while (0)
#define REGISTER_HOOK() do {} while (0)
#define ADD_HOOK() do {} while (0)
#define FENCE_HOOK() do {} while (0)
#define CHECKED(now) ((void)0)
#endif

static struct {
	pthread_mutex_t setup; /* start/stop; never taken by the monitor */
	pthread_mutex_t reg;   /* the list below; the monitor holds it while applying */
	struct sva_mm *mms;
	unsigned nmms;
	_Atomic int uffd; /* -1: none */
	/* Held by whoever gives uffd's number up and closes it (the ending
	 * monitor, a failed start()), by stop() while it asks whether the
	 * number still holds the userfaultfd, and by a registration from its
	 * look at the number to the end of its ioctl: else a look or ioctl
	 * begun before the close reaches the number after it, another file's
	 * by then (ThreadSanitizer, which does not see the kernel order the
	 * doorbell gives, reported stop()'s look; a registration's ioctl went
	 * to the application's userfaultfd).  Taken last, with nothing taken
	 * under it; held across no wait for the monitor. */
	pthread_mutex_t uffd_lock;
	struct sva_file_id uffd_file; /* uffd's userfaultfd, as fstat() saw it at creation */
	_Atomic int stopfd; /* the eventfd: the fallback wake-up, and the abandon's */
	struct sva_file_id stop_file; /* stopfd's eventfd, as fstat() saw it at creation */
	atomic_bool stopping;	      /* stop() was called: read after every wake-up */
	/* The generation whose stop() rings the doorbell (0: none): its monitor
	 * stops once it has read the doorbell's event, not at the first wake-up
	 * after stopping is set.  A monitor that left the event unread left the
	 * ringer's madvise() waiting for as long as another process (a child
	 * made without the atfork handler) held the userfaultfd open. */
	_Atomic unsigned bell;
	void *doorbell;		      /* an arena page registered with the userfaultfd (stop()) */
	bool doorbell_armed;	      /* registered with the current one */
	pthread_t thread;
	void *stack; /* from the arena */
	bool running;
	unsigned fork_gen; /* sva_fork_gen() when the monitor started */
	/* The sequence fences wait on (sva_track_seq(): odd while a drain has
	 * read events it has not applied) in the low half; in the high half
	 * the generation whose monitor moves it (0: none).  One word, so that
	 * a monitor stop() let go, which may end or be stuck halfway through
	 * a drain (reading the application's file at its number) long after,
	 * moves nothing of the running monitor's (review Z78). */
	_Atomic uint64_t seq;
	_Atomic int error; /* what stopped the monitor, negative errno */
	atomic_bool withdrawn; /* every address space has learnt error */
	/* The generation whose monitor is to stop, lost: a registration found
	 * that monitor's userfaultfd number another file's (0: none).  A
	 * generation, not a flag, as stopfd_dropped: a monitor that stop() let
	 * go runs on, and must neither take a newer monitor's abandon (which
	 * then took the eventfd's readiness for another file's, left it out
	 * and slept on the application's file for good) nor leave it one. */
	_Atomic unsigned abandon;
	/* The running monitor's generation: one per start(), moved under T.setup
	 * and T.reg, before the new userfaultfd is published in T.uffd. */
	_Atomic unsigned gen;
	/* The latest generation whose monitor left the eventfd's number out of
	 * its wait.  A generation, not a flag: a monitor that stop() let go runs
	 * on, and its drop must not count as the newer monitor's. */
	_Atomic unsigned stopfd_dropped;
	pthread_mutex_t wait_lock;
	pthread_cond_t wait_cond;
	atomic_int waiters;
} T = {
	.setup = PTHREAD_MUTEX_INITIALIZER,
	.reg = PTHREAD_MUTEX_INITIALIZER,
	.uffd = -1,
	.uffd_lock = PTHREAD_MUTEX_INITIALIZER,
	.stopfd = -1,
	.wait_lock = PTHREAD_MUTEX_INITIALIZER,
	.wait_cond = PTHREAD_COND_INITIALIZER,
};

/* A userfaultfd with the events enabled, or -errno.  The API handshake can be
 * done once per descriptor, so the features are learnt on a first one.  The
 * descriptor comes from userfaultfd(2) or, where that is refused, from
 * /dev/userfaultfd (uffd_open.h); log says which, at debug level. */
static int uffd_create(const struct sva_log *log)
{
	struct kabi_uffdio_api api;
	struct sva_uffd_how how;
	long long have = sva_uffd_features(&how);
	int fd, ret;

	if (have < 0) {
		if (how.dev_errno)
			sva_logf(log, SVA_LOG_DEBUG,
				 "userfaultfd(2) is refused (%s), and " KABI_USERFAULTFD_PATH " too (%s)",
				 strerror(how.sys_errno), strerror(how.dev_errno));
		return (int)have;
	}
	if ((have & SVA_TRACK_UFFD_NEEDED) != SVA_TRACK_UFFD_NEEDED)
		return -EOPNOTSUPP;
	fd = sva_uffd_open(&how);
	if (fd < 0)
		return fd;
	api = (struct kabi_uffdio_api){ .api = KABI_UFFD_API,
					.features = SVA_TRACK_UFFD_EVENTS | ((uint64_t)have & FEATURES_WANTED) };
	if (ioctl(fd, KABI_UFFDIO_API, &api)) {
		ret = -errno;
		close(fd);
		/* EINVAL: as sva_uffd_features() reads it. */
		return ret == -EINVAL ? -EOPNOTSUPP : ret;
	}
	if (how.via_dev)
		sva_logf(log, SVA_LOG_DEBUG, "coherence tracking: userfaultfd(2) is refused (%s): the userfaultfd is "
			 "made through " KABI_USERFAULTFD_PATH, strerror(how.sys_errno));
	else
		sva_logf(log, SVA_LOG_DEBUG, "coherence tracking: the userfaultfd is made by userfaultfd(2)");
	return fd;
}

/* Apply one event to every tracked address space. */
static void apply(const struct kabi_uffd_msg *m)
{
	uint64_t a0 = 0, a1 = 0, b0 = 0, b1 = 0;
	bool remove = false;

	switch (m->event) {
	case KABI_UFFD_EVENT_UNMAP:
		a0 = m->arg.remove.start;
		a1 = m->arg.remove.end;
		break;
	case KABI_UFFD_EVENT_REMOVE:
		a0 = m->arg.remove.start;
		a1 = m->arg.remove.end;
		remove = true;
		break;
	case KABI_UFFD_EVENT_REMAP:
		/* Both: the old range is empty now, and whatever was at the new one is gone. */
		a0 = m->arg.remap.from;
		a1 = a0 + m->arg.remap.len;
		b0 = m->arg.remap.to;
		b1 = b0 + m->arg.remap.len;
		break;
	default:
		return; /* no other event is enabled */
	}
	/* madvise() leaves the mappings as they were: only unmaps and moves
	 * change what the VMA cache and the registration record describe. */
	if (!remove) {
		sva_vma_note_gone(a0, a1);
		if (b1 > b0)
			sva_vma_note_gone(b0, b1);
		sva_vma_cache_stale();
	}
	pthread_mutex_lock(&T.reg);
	APPLY_HOOK();
	for (struct sva_mm *mm = T.mms; mm; mm = mm->track_next) {
		sva_mm_withdraw_event(mm, a0, a1, remove, sva_now_ns());
		if (b1 > b0)
			sva_mm_withdraw_event(mm, b0, b1, false, sva_now_ns());
	}
	pthread_mutex_unlock(&T.reg);
}

static void fence_wake(void)
{
	if (atomic_load(&T.waiters)) {
		pthread_mutex_lock(&T.wait_lock);
		pthread_cond_broadcast(&T.wait_cond);
		pthread_mutex_unlock(&T.wait_lock);
	}
}

/* Move the sequence by n, if gen's monitor owns it. */
static void seq_add(unsigned gen, uint32_t n)
{
	uint64_t w = atomic_load(&T.seq);

	do {
		if ((uint32_t)(w >> 32) != gen)
			return;
	} while (!atomic_compare_exchange_weak(&T.seq, &w, (w & ~0xffffffffull) | (uint32_t)((uint32_t)w + n)));
	fence_wake();
}

/* The sequence passes to gen's monitor (0: none), even: a let-go monitor
 * may have left it odd.  Moved if so, which wakes the fences waiting on it. */
static void seq_hand_over(unsigned gen)
{
	uint64_t w = atomic_load(&T.seq), nw;

	do {
		uint32_t s = (uint32_t)w;

		nw = (uint64_t)gen << 32 | (uint32_t)(s + (s & 1));
	} while (!atomic_compare_exchange_weak(&T.seq, &w, nw));
	fence_wake();
}

/*
 * Is gen's monitor still the one tracking (it owns the fences' sequence)?
 * stop() hands the sequence to none when it lets a monitor go, and start()
 * to the next: a let-go monitor's number holds the application's file, whose
 * bytes are no events of the address spaces tracked now (review Z78: 32-byte
 * records read there were applied as UNMAP/REMOVE/REMAP, withdrawing memory
 * of the running monitor's address spaces).
 */
static bool tracking(unsigned gen)
{
	return (uint32_t)(atomic_load(&T.seq) >> 32) == gen;
}

/* Only the events libsva enables: anything else was not read from a
 * userfaultfd of its own. */
static bool events_known(const struct kabi_uffd_msg *m, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (m[i].event != KABI_UFFD_EVENT_UNMAP && m[i].event != KABI_UFFD_EVENT_REMOVE &&
		    m[i].event != KABI_UFFD_EVENT_REMAP)
			return false;
	return true;
}

/* Read and apply every pending event; 0 or -errno of read(), or -ESTALE when
 * gen's monitor was let go (what it read is not applied).  *rung is set if
 * the doorbell's event was among them. */
static int drain(int uffd, const struct sva_file_id *uffd_file, unsigned gen, uintptr_t doorbell, bool *rung)
{
	struct kabi_uffd_msg msgs[MSGS_PER_READ];
	int ret = 0;

	READ_HOOK();
	seq_add(gen, 1); /* odd: events read and not yet applied may exist */
	for (;;) {
		ssize_t n = read(uffd, msgs, sizeof(msgs));

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			if (errno != EAGAIN)
				ret = -errno;
			break;
		}
		/* A userfaultfd never reads 0 bytes: the number is another file's
		 * now (the application closed ours, e.g. close_range()).  Stop
		 * rather than spin on it. */
		if (n == 0 || (size_t)n % sizeof(msgs[0])) {
			ret = -EBADF;
			break;
		}
		/* Let go while it read (blocked, say, in a read of the
		 * application's pipe): nothing it read is applied. */
		if (!tracking(gen)) {
			ret = -ESTALE;
			break;
		}
		/* A file whose read() never runs dry sits at the number (the
		 * application put /dev/zero or /dev/urandom there): stop as for
		 * any other file, rather than read it for good or take its
		 * bytes for unmaps (Z103).  Nothing of this read is applied. */
		if (!events_known(msgs, (size_t)n / sizeof(msgs[0])) && !sva_fd_holds(uffd, uffd_file)) {
			ret = -EBADF;
			break;
		}
		for (size_t i = 0; i < (size_t)n / sizeof(msgs[0]); i++) {
			if (doorbell && msgs[i].event == KABI_UFFD_EVENT_REMOVE && msgs[i].arg.remove.start == doorbell)
				*rung = true;
			apply(&msgs[i]);
		}
	}
	seq_add(gen, 1);
	return ret;
}

/* Withdraw what faults mapped while a REMOVE's zap may still have been running;
 * returns the milliseconds until the next check is due (-1: none). */
static int settle(void)
{
	uint64_t next = 0, now = sva_now_ns();

	pthread_mutex_lock(&T.reg);
	for (struct sva_mm *mm = T.mms; mm; mm = mm->track_next) {
		uint64_t due = sva_mm_settle(mm, now, false);

		if (due && (!next || due < next))
			next = due;
	}
	pthread_mutex_unlock(&T.reg);
	CHECKED(now);
	if (!next)
		return -1;
	return next <= now ? 0 : (int)((next - now + 999999) / 1000000);
}

/*
 * If tracking has stopped (T.error), every address space registered learns
 * it: untracked, everything visible withdrawn (each once; the log says so
 * later).  Returns the error, 0 if none.  T.error is read under T.reg: an
 * address space of a newer monitor joins the list only after start()
 * cleared it, so only the failed monitor's address spaces are touched.
 */
static int withdraw_if_lost(void)
{
	int err;

	/* Once done, later fences (the fault engine's, one a batch) walk
	 * nothing: no address space joins until start() clears both. */
	if (atomic_load(&T.withdrawn))
		return atomic_load(&T.error);
	pthread_mutex_lock(&T.reg);
	err = atomic_load(&T.error);
	if (err) {
		for (struct sva_mm *mm = T.mms; mm; mm = mm->track_next)
			sva_mm_tracking_lost(mm, err);
		atomic_store(&T.withdrawn, true);
	}
	pthread_mutex_unlock(&T.reg);
	return err;
}

/*
 * Tracking is gone: every address space learns it, and the log says so once
 * each.  Only if gen is still the running generation: a monitor that stop()
 * let go runs on, and when it ends later (the application's file at its
 * userfaultfd's number became readable, say) the tracking it stops is no
 * longer the newer monitor's, whose address spaces it used to withdraw
 * (review Z73).  Under T.reg, where start() moves the generation.
 */
static void lost(int err, unsigned gen)
{
	bool current;

	pthread_mutex_lock(&T.reg);
	current = atomic_load(&T.gen) == gen;
	if (current)
		atomic_store(&T.error, err);
	pthread_mutex_unlock(&T.reg);
	if (current)
		withdraw_if_lost();
}

/* What start() gives a monitor: its descriptors as they were then (a monitor
 * stop() had to let go may run after a newer one started).  It frees it. */
struct monitor_arg {
	int uffd, stopfd;
	unsigned gen;
	uintptr_t doorbell; /* the doorbell page, if registered with uffd */
	struct sva_file_id uffd_file;
};

static void *monitor(void *arg)
{
	struct monitor_arg *a = arg;
	int uffd = a->uffd, own = a->uffd, stopfd = a->stopfd, timeout = -1, ret = 0;
	bool stopping;
	struct sva_file_id uffd_file = a->uffd_file;
	unsigned gen = a->gen;
	uintptr_t doorbell = a->doorbell;
	bool rung = false;

	sva_free(a);
	/* Findable by name, as the fault thread is (libsva(7)). */
	pthread_setname_np(pthread_self(), "sva-coherence");
	for (;;) {
		struct pollfd pfd[2] = { { .fd = uffd, .events = POLLIN }, { .fd = stopfd, .events = POLLIN } };
		int n = poll(pfd, 2, timeout);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			ret = -errno;
			break;
		}
		/* A registration found our number taken by another file:
		 * tracking is over everywhere, as if the monitor had seen it
		 * itself.  (Told through the eventfd, or found at the next
		 * wake-up if that was lost too.) */
		if (atomic_load(&T.abandon) == gen) {
			uffd = -1;
			ret = -EBADF;
			break;
		}
		/* Let go (stop() could not wake it): it ends at its first
		 * wake-up, reading nothing, whatever a newer monitor has
		 * done to T.stopping since. */
		if (!tracking(gen))
			break;
		/* A stop rung through the eventfd, or one whose doorbell is not
		 * ours to wait for: now.  One that rings our doorbell: once its
		 * event is read (below), for the ringer's madvise() returns only
		 * then while another process holds the userfaultfd open. */
		stopping = atomic_load(&T.stopping);
		if (stopping && (pfd[1].revents || atomic_load(&T.bell) != gen))
			break;
		/* The eventfd with no stop asked for and no abandon: its number
		 * is another file's now (closed behind our back, then reused),
		 * and that file's readiness is no stop.  Leave it out: stop()
		 * rings the doorbell. */
		if (pfd[1].revents && !stopping) {
			unsigned seen = atomic_load(&T.stopfd_dropped);

			stopfd = -1;
			/* Never back to an older generation's (see T). */
			while ((int)(gen - seen) > 0 && !atomic_compare_exchange_weak(&T.stopfd_dropped, &seen, gen))
				;
			continue;
		}
		if (pfd[0].revents & POLLNVAL) {
			/* Somebody closed our descriptor (close_range()): its number may
			 * be another file's by now, so it is not ours to close. */
			uffd = -1;
			ret = -EBADF;
			break;
		}
		if (pfd[0].revents & POLLERR) {
			ret = -EIO;
			break;
		}
		/* A userfaultfd never hangs up: the number is another file's now
		 * (a pipe whose writer is gone), which poll() would report at
		 * once, again and again.  Not ours to close either. */
		if ((pfd[0].revents & POLLHUP) && !(pfd[0].revents & POLLIN)) {
			uffd = -1;
			ret = -EBADF;
			break;
		}
		if (pfd[0].revents & POLLIN) {
			/* Another file at the number is not read: stopping,
			 * stop() rings the eventfd; else tracking is over.
			 * Asked at every wake-up with events, not only when a
			 * read brings records libsva never enables (drain()): an
			 * application's userfaultfd that asks for unmap events
			 * gives UNMAP records, which were read (taken from the
			 * application, its munmap() let go) and applied, and the
			 * monitor went on as if tracking.  One fstat() per
			 * wake-up, not per fault nor per event; a file that
			 * comes to the number between this look and the read is
			 * the limit (drain() still asks when what it read is not
			 * events of ours). */
			if (!sva_fd_holds(uffd, &uffd_file)) {
				if (stopping)
					break;
				uffd = -1; /* not ours to close */
				ret = -EBADF;
				break;
			}
			ret = drain(uffd, &uffd_file, gen, doorbell, &rung);
			if (ret == -ESTALE) {
				ret = 0; /* let go: it just ends */
				break;
			}
			if (ret == -EBADF)
				uffd = -1; /* another file's: not ours to close */
			if (ret || rung || (atomic_load(&T.stopping) && atomic_load(&T.bell) != gen))
				break;
		}
		timeout = settle();
	}
	if (ret)
		lost(ret, gen);
	EXIT_HOOK();
	/*
	 * Closing unregisters every range and lets any munmap() still waiting
	 * go: a monitor that stops must never leave them hanging.
	 */
	/* Only if it is still ours: a monitor a stop() let go (detached) may end
	 * while a newer one runs, whose number registrations must keep using. */
	pthread_mutex_lock(&T.uffd_lock);
	atomic_compare_exchange_strong(&T.uffd, &own, -1);
	/* Woken for a stop through the eventfd, the number may hold another
	 * file (see stop()): that one is the application's. */
	if (uffd >= 0 && sva_fd_holds(uffd, &uffd_file))
		close(uffd);
	pthread_mutex_unlock(&T.uffd_lock);
	/* From now on no event says a mapping went: what the fault path learnt
	 * of the mappings (transparent huge pages) is not carried over to one
	 * of the same bounds, which may be another one by the time a tracked
	 * address space asks again (review Z93: a small-page buffer at a freed
	 * THP buffer's place got 2 MiB windows). */
	sva_vma_note_gone(0, UINT64_MAX);
	sva_vma_cache_stale();
	seq_add(gen, 2); /* wake fences that wait on a stopped monitor */
	return NULL;
}

/*
 * In a forked child: its copy of the userfaultfd would keep the file open after
 * the parent's monitor closes its own, and the parent's later munmap() of
 * once-registered memory would wait for this child to exit.  The child has no
 * monitor thread; it forgets everything of the parent's.
 */
static void child_forget(void)
{
	int fd = atomic_exchange(&T.uffd, -1);

	if (fd >= 0)
		close(fd);
	fd = atomic_exchange(&T.stopfd, -1);
	if (fd >= 0 && sva_fd_holds(fd, &T.stop_file))
		close(fd); /* a number the parent's application reused is not ours */
	T.doorbell_armed = false; /* a child's mappings are registered with no userfaultfd */
	T.running = false;
	T.mms = NULL;
	T.nmms = 0;
	atomic_store(&T.seq, 0); /* no monitor's */
	atomic_store(&T.bell, 0);
	atomic_store(&T.waiters, 0);
}

/* Free in the child unless a thread of the parent held it at the fork; that
 * thread does not exist here, so its copy is made free again. */
static void child_unlock(pthread_mutex_t *m)
{
	if (pthread_mutex_trylock(m) == 0)
		pthread_mutex_unlock(m);
	else
		pthread_mutex_init(m, NULL);
}

/* The monitor may have been applying events (T.reg), a fence waiting
 * (wait_lock), another thread starting or stopping tracking (setup): a child
 * that makes address spaces of its own must not find those locks taken. */
static void child_after_fork(void)
{
	child_unlock(&T.setup);
	child_unlock(&T.reg);
	child_unlock(&T.uffd_lock);
	child_unlock(&T.wait_lock);
	pthread_cond_init(&T.wait_cond, NULL);
	child_forget();
}

static void install_atfork(void)
{
	pthread_atfork(NULL, NULL, child_after_fork);
}

/* One page, for the process's life: a page that was registered with a
 * userfaultfd must not go back to the arena, whose madvise() would ring it. */
#define DOORBELL 4096

/* Register the doorbell with a new userfaultfd (see stop()). */
static void doorbell_arm(int fd)
{
	struct kabi_uffdio_register r = { .range = { .len = DOORBELL }, .mode = KABI_UFFDIO_REGISTER_MODE_WP };

	if (!T.doorbell)
		T.doorbell = sva_aligned_alloc(DOORBELL, DOORBELL);
	r.range.start = (uintptr_t)T.doorbell;
	T.doorbell_armed = T.doorbell && ioctl(fd, KABI_UFFDIO_REGISTER, &r) == 0;
}

/* Called with T.setup held.  On failure *what says what could not be had. */
static int start(enum sva_track_part *what, const struct sva_log *log)
{
	static pthread_once_t once = PTHREAD_ONCE_INIT;
	bool made_stopfd = false;
	int fd, stopfd, ret;

	pthread_once(&once, install_atfork);
	*what = SVA_TRACK_UFFD;
	fd = uffd_create(log);
	if (fd < 0)
		return fd;
	ret = sva_file_id_of(fd, &T.uffd_file);
	if (ret) {
		close(fd);
		return ret;
	}
	*what = SVA_TRACK_EVENTFD;
	/* One eventfd for the process's life (a child makes its own): a
	 * registration that raced a stop may still write to it, and must never
	 * write to a number some other file took after a close.  Emptied here. */
	stopfd = atomic_load(&T.stopfd);
	if (stopfd >= 0 && !sva_fd_holds(stopfd, &T.stop_file))
		stopfd = -1; /* closed behind our back, maybe another file's: not ours */
	if (stopfd < 0) {
		stopfd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		made_stopfd = stopfd >= 0;
		ret = stopfd < 0 ? -errno : sva_file_id_of(stopfd, &T.stop_file);
		if (ret) {
			if (stopfd >= 0)
				close(stopfd);
			atomic_store(&T.stopfd, -1);
			close(fd);
			return ret;
		}
	}
	atomic_store(&T.stopfd, stopfd);
	{
		uint64_t n;

		while (read(stopfd, &n, sizeof(n)) == sizeof(n))
			;
	}
	doorbell_arm(fd);
	atomic_store(&T.stopping, false);
	/* The generation first: a registration that finds this userfaultfd in
	 * T.uffd reads its generation after it (sva_track_register()). */
	pthread_mutex_lock(&T.reg);
	atomic_fetch_add(&T.gen, 1);
	atomic_store(&T.withdrawn, false);
	atomic_store(&T.error, 0);
	pthread_mutex_unlock(&T.reg);
	seq_hand_over(atomic_load(&T.gen)); /* before its monitor runs */
	atomic_store(&T.uffd, fd);
	sva_vma_cache_stale(); /* ranges registered with an earlier userfaultfd are not any more */
	struct monitor_arg *a = sva_malloc(sizeof(*a));

	*what = SVA_TRACK_THREAD;
	if (a) {
		*a = (struct monitor_arg){
			.uffd = fd, .stopfd = stopfd, .uffd_file = T.uffd_file, .gen = atomic_load(&T.gen),
			.doorbell = T.doorbell_armed ? (uintptr_t)T.doorbell : 0,
		};
		ret = sva_thread_create(&T.thread, monitor, a, &T.stack);
		if (ret)
			sva_free(a);
		else /* named when the call that started it returns (libsva(7)) */
			pthread_setname_np(T.thread, "sva-coherence");
	} else {
		ret = -ENOMEM;
	}
	if (ret) {
		/* A registration may have read the number already (see T). */
		pthread_mutex_lock(&T.uffd_lock);
		atomic_store(&T.uffd, -1);
		close(fd);
		pthread_mutex_unlock(&T.uffd_lock);
		/* Made just now, so no registration can write to it yet: a
		 * failed start leaves no descriptor behind (sva.h). */
		if (made_stopfd) {
			atomic_store(&T.stopfd, -1);
			close(stopfd);
		}
		return ret;
	}
	T.running = true;
	T.fork_gen = sva_fork_gen_init();
	return 0;
}

/* The doorbell's ringer: its madvise() returns once the monitor has read the
 * REMOVE event, or once the userfaultfd is gone.  Returns NULL if it failed. */
static void *ring(void *arg)
{
	return madvise(arg, DOORBELL, MADV_DONTNEED) == 0 ? arg : NULL;
}

/* How long stop() waits between looks at the monitor, and how long for one
 * woken through its eventfd alone before it is let go. */
#define STOP_LOOK_NS (20 * 1000000ull)
#define STOP_GRACE_NS (2000 * 1000000ull)

#ifdef SVA_TEST_HOOKS
/* Tests only (libsva-test): the grace in ns instead of STOP_GRACE_NS, for a
 * test whose monitor cannot end before it is let go, so that the grace only
 * sets how long that takes.  0: the default. */
_Atomic uint64_t sva_test_stop_grace_ns;

static uint64_t stop_grace_ns(void)
{
	uint64_t ns = atomic_load(&sva_test_stop_grace_ns);

	return ns ? ns : STOP_GRACE_NS;
}
#else
static uint64_t stop_grace_ns(void)
{
	return STOP_GRACE_NS;
}
#endif

/* CLOCK_REALTIME ns from now: the clock of pthread_timedjoin_np() and of
 * T.wait_cond's timed wait. */
static struct timespec realtime_in(uint64_t ns)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += (time_t)(ns / 1000000000u);
	ts.tv_nsec += (long)(ns % 1000000000u);
	if (ts.tv_nsec >= 1000000000) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000;
	}
	return ts;
}

/* Join t within ns: true if joined. */
static bool join_within(pthread_t t, uint64_t ns)
{
	struct timespec ts = realtime_in(ns);

	return pthread_timedjoin_np(t, NULL, &ts) == 0;
}

/* The eventfd, if the monitor still waits on it and the number still holds
 * an eventfd: true if written. */
static bool ring_eventfd(void)
{
	int stopfd = atomic_load(&T.stopfd);
	uint64_t one = 1;

	return atomic_load(&T.stopfd_dropped) != atomic_load(&T.gen) && sva_fd_holds(stopfd, &T.stop_file) &&
	       write(stopfd, &one, sizeof(one)) == sizeof(one);
}

/* Does T.uffd hold the running monitor's userfaultfd, or has the monitor let
 * the number go (-1)?  False: another file is at the number.  Under
 * T.uffd_lock, so the number looked at is not one the monitor is closing. */
static bool uffd_ours_or_gone(void)
{
	int uffd;
	bool ret;

	pthread_mutex_lock(&T.uffd_lock);
	uffd = atomic_load(&T.uffd);
	ret = uffd < 0 || sva_fd_holds(uffd, &T.uffd_file);
	pthread_mutex_unlock(&T.uffd_lock);
	return ret;
}

/*
 * Called with T.setup held.  The doorbell wakes the monitor through its own
 * userfaultfd: the REMOVE event of an madvise() of the doorbell page reaches
 * the file the monitor's poll holds, whatever the application did with the
 * descriptor numbers (closed them, or put its own files there), and the
 * madvise() returns once the monitor has read it, or once that file is gone.
 * But poll() looks the numbers up again at every wake-up: with another file at
 * the userfaultfd's number, one that never becomes ready (an idle eventfd),
 * the event wakes nothing and the madvise() would wait for good.  So the
 * doorbell only while the number holds our userfaultfd (or the monitor has
 * already let it go); otherwise, and for a userfaultfd that refused the
 * doorbell's registration, the eventfd, if the monitor still waits on it.
 *
 * The number can be given away after that look too, while the monitor is
 * being woken (review Z71): the doorbell is rung from a thread of its own, and
 * a monitor not gone soon while the number holds another file is woken
 * through the eventfd as well.  A monitor neither can wake (or stuck reading
 * the file now at its number) is let go (its stack stays).
 */
static void stop(void)
{
	bool bell = T.doorbell_armed && uffd_ours_or_gone();
	bool joined = false, efd = false, rang = true;
	pthread_t ringer;
	void *ringer_stack = NULL;
	uint64_t waited = 0;

	if (!T.running)
		return;
	/* Before stopping: a monitor that sees stopping sees this too. */
	atomic_store(&T.bell, bell ? atomic_load(&T.gen) : 0);
	atomic_store(&T.stopping, true);
	if (bell && sva_thread_create(&ringer, ring, T.doorbell, &ringer_stack)) {
		ringer_stack = NULL; /* no thread: rung here, as it always was */
		if (madvise(T.doorbell, DOORBELL, MADV_DONTNEED) == 0) {
			pthread_join(T.thread, NULL);
			joined = true;
		} else {
			atomic_store(&T.bell, 0); /* no event to wait for */
		}
		bell = false;
	}
	if (!joined && !bell)
		efd = ring_eventfd();
	while (!joined && (bell || efd)) {
		joined = join_within(T.thread, STOP_LOOK_NS);
		if (joined)
			break;
		waited += STOP_LOOK_NS;
		if (ringer_stack) {
			void *r;

			if (pthread_tryjoin_np(ringer, &r) == 0) {
				sva_thread_stack_free(ringer_stack);
				ringer_stack = NULL;
				rang = r != NULL; /* a failed madvise() rang nothing */
				if (!rang)
					atomic_store(&T.bell, 0);
			}
		}
		/* Rung, and the number still holds our userfaultfd: the monitor
		 * gets the event (or is busy with earlier ones).  Or the monitor
		 * has let the number go itself (-1): it is ending.  Only another
		 * file at the number calls for the eventfd. */
		if (!efd && rang && uffd_ours_or_gone())
			continue;
		if (!efd) {
			efd = ring_eventfd();
			waited = 0;
			if (!efd)
				break;
		} else if (waited >= stop_grace_ns()) {
			break;
		}
	}
	if (joined) {
		sva_thread_stack_free(T.stack);
	} else {
		atomic_store(&T.bell, 0); /* let go: it ends at any wake-up */
		pthread_detach(T.thread);
		atomic_store(&T.uffd, -1); /* its own now */
		seq_hand_over(0); /* and it moves the fences' sequence no more */
	}
	/* The monitor gone, its userfaultfd is (or the event read): the ringer
	 * returns.  One still waiting (a let-go monitor's file) is left too. */
	if (ringer_stack) {
		if (join_within(ringer, joined ? STOP_GRACE_NS : STOP_LOOK_NS))
			sva_thread_stack_free(ringer_stack);
		else
			pthread_detach(ringer);
	}
	T.doorbell_armed = false; /* the userfaultfd that had it is closed */
	T.running = false;
}

const char *sva_track_part_name(enum sva_track_part part)
{
	switch (part) {
	case SVA_TRACK_UFFD:
		return "userfaultfd";
	case SVA_TRACK_EVENTFD:
		return "an eventfd";
	case SVA_TRACK_THREAD:
		return "the monitor thread";
	}
	return "?";
}

int sva_track_add(struct sva_mm *mm, enum sva_track_part *what)
{
	int ret = 0;

	pthread_mutex_lock(&T.setup);
	if (T.running && T.fork_gen != sva_fork_gen())
		child_forget(); /* a child made without the atfork handler (_Fork) */
	for (int again = 1;; again--) {
		/* A monitor that has failed (T.error), even one still
		 * withdrawing before it exits, is replaced: an address space
		 * must not join it. */
		if (!T.running || atomic_load(&T.uffd) < 0 || atomic_load(&T.error)) {
			if (T.running) /* the monitor stopped by itself: start afresh */
				stop();
			ret = start(what, &mm->ctx->log);
			if (ret)
				break;
		}
		ADD_HOOK();
		/*
		 * Marked tracked and linked under T.reg, where a failure sets
		 * T.error and then walks the list: a failure before this is
		 * seen here, one after it finds the address space tracked and
		 * marks it lost.  Marked by the caller after the link, it
		 * could join a monitor whose walk had passed and call itself
		 * tracked for good.  A monitor that failed in between is
		 * replaced once, as for any address space created after.
		 */
		pthread_mutex_lock(&T.reg);
		ret = atomic_load(&T.error);
		if (!ret) {
			atomic_store(&mm->tracked, true);
			mm->track_next = T.mms;
			T.mms = mm;
			T.nmms++;
		}
		pthread_mutex_unlock(&T.reg);
		if (!ret || !again)
			break;
	}
	pthread_mutex_unlock(&T.setup);
	return ret;
}

void sva_track_remove(struct sva_mm *mm)
{
	bool last;

	pthread_mutex_lock(&T.setup);
	pthread_mutex_lock(&T.reg);
	for (struct sva_mm **pp = &T.mms; *pp; pp = &(*pp)->track_next) {
		if (*pp == mm) {
			*pp = mm->track_next;
			T.nmms--;
			break;
		}
	}
	last = T.nmms == 0;
	pthread_mutex_unlock(&T.reg);
	if (last && T.fork_gen == sva_fork_gen())
		stop();
	pthread_mutex_unlock(&T.setup);
}

int sva_track_register(uint64_t start, uint64_t end)
{
	struct kabi_uffdio_register r = {
		.range = { .start = start, .len = end - start },
		.mode = KABI_UFFDIO_REGISTER_MODE_WP,
	};
	int fd, err, expected = 0;
	unsigned gen;

	for (int again = 1;; again--) {
		/* The number and the ioctl under T.uffd_lock: an address
		 * space's map_lock orders this before a close only when the
		 * monitor walks every address space before it closes (a
		 * failure, the doorbell's event); a stop rung through the
		 * eventfd, a let-go monitor and a failed start() do not.  Only
		 * a registration that does make its system call takes it. */
		pthread_mutex_lock(&T.uffd_lock);
		fd = atomic_load(&T.uffd);
		err = 0;
		if (fd >= 0) {
			/*
			 * Whose file the number holds is asked before the ioctl
			 * and after it, whatever it said.  Before: an
			 * application's userfaultfd at the number (ours closed,
			 * its userfaultfd() took the number) accepts the
			 * registration, and the application's file then has a
			 * range it never asked for, and its unmap events if it
			 * enabled them; libsva took the success for its own and
			 * called the range tracked.  After: the number can change
			 * hands in between (another thread of the application
			 * closing it); the ioctl then reached the other file.
			 * Refused there (an application's userfaultfd without
			 * its handshake says EINVAL, /dev/urandom too), the
			 * errno is not the mapping's refusal, which the caller
			 * would take for a race with munmap() (-EFAULT) or a
			 * mapping that cannot be tracked; accepted there, that
			 * registration is left as it is: the application's
			 * userfaultfd may have had the range registered itself,
			 * and UFFDIO_UNREGISTER would take that away too.  Either
			 * way tracking's end (below).  Two fstat() per
			 * registration, which is made once per mapping (the map
			 * path skips ranges it registered) next to an ioctl that
			 * takes the mmap lock for writing.
			 */
			if (!sva_fd_holds(fd, &T.uffd_file)) {
				err = EBADF;
			} else {
				REGISTER_HOOK();
				err = ioctl(fd, KABI_UFFDIO_REGISTER, &r) ? errno : 0;
				if (err != EBADF && err != ENOTTY && !sva_fd_holds(fd, &T.uffd_file))
					err = EBADF;
			}
		}
		pthread_mutex_unlock(&T.uffd_lock);
		/* The monitor has let the number go: with an error, it failed,
		 * and its walk has not reached this address space yet (the
		 * caller holds its map_lock); with none, it was stopped while
		 * address spaces still track (the exit destructor, with another
		 * thread or a later destructor still mapping).  Tracking is over
		 * here too, not a refusal of the mapping's: it used to say
		 * -EBADF for the second, which the caller took for the
		 * mapping's (strict: refused with EBADF; else mapped untracked
		 * by an address space that still called itself tracked). */
		if (fd < 0)
			return -EIO;
		if (!err)
			return 0;
		/* EPERM: a shared mapping the process may never write (no
		 * VM_MAYWRITE: a file opened read-only, a write-sealed memfd).
		 * A kind of mapping userfaultfd cannot register, as its
		 * EINVALs are; -EPERM means a refused userfaultfd (seccomp) in
		 * sva_mm_stats(3) and unpinnable pages in sva_mm_prefault(3). */
		if (err == EPERM)
			return -EINVAL;
		if (err != ENOTTY && err != EBADF)
			return -err;
		/* A new monitor started meanwhile, on a new userfaultfd: its own. */
		if (!again || atomic_load(&T.uffd) == fd)
			break;
	}
	/* The number is no longer our userfaultfd (the application closed it,
	 * or put another file there): tracking is over, as if the monitor had
	 * failed.  Fences read the error from here on; the monitor, which may
	 * sleep on the other file for good, is woken to withdraw every address
	 * space's chunks and stop, so the next address space starts a new one. */
	gen = atomic_load(&T.gen);
	if (atomic_load(&T.uffd) != fd || atomic_load(&T.gen) != gen)
		return -EIO; /* not the running monitor's failure */
	atomic_compare_exchange_strong(&T.error, &expected, -EBADF);
	/* Told to that monitor only (its generation): see T.abandon. */
	if (atomic_exchange(&T.abandon, gen) != gen) {
		uint64_t one = 1;

		/* Not to another file at the eventfd's number: the monitor then
		 * learns it at its next wake-up. */
		int stopfd = atomic_load(&T.stopfd);

		if (sva_fd_holds(stopfd, &T.stop_file) && write(stopfd, &one, sizeof(one)) != sizeof(one))
			atomic_compare_exchange_strong(&T.abandon, &gen, 0); /* cannot happen on an eventfd */
	}
	return -EIO;
}

uint32_t sva_track_seq(void)
{
	return (uint32_t)atomic_load(&T.seq);
}

/* An untracked address space's fence: -EIO if it lost its tracking. */
static int untracked_fence(struct sva_mm *mm)
{
	int ret;

	pthread_mutex_lock(&mm->map_lock);
	ret = mm->lost ? -EIO : 0;
	pthread_mutex_unlock(&mm->map_lock);
	return ret;
}

int sva_track_fence_mm(struct sva_mm *mm)
{
	int ret;

	if (!atomic_load_explicit(&mm->tracked, memory_order_acquire))
		return untracked_fence(mm);
	ret = sva_track_fence();
	/* Walked while the fence waited: the error that walk set may be gone
	 * already, cleared by a newer monitor's start() (an address space
	 * created meanwhile), and the fence said 0 for an address space that
	 * had lost its tracking (Z103's test, once on vtd48-numa).  Its own
	 * mark says, as for one found untracked above. */
	if (!ret && !atomic_load_explicit(&mm->tracked, memory_order_acquire))
		return untracked_fence(mm);
	if (atomic_load_explicit(&mm->settle_hint, memory_order_relaxed)) {
		sva_mm_settle(mm, sva_now_ns(), true);
		sva_mm_reap(mm);
	}
	return ret;
}

bool sva_track_wait_seq(uint32_t seq, uint64_t deadline_ns)
{
	bool moved;

	pthread_mutex_lock(&T.wait_lock);
	atomic_fetch_add(&T.waiters, 1);
	while (!(moved = (uint32_t)atomic_load(&T.seq) != seq)) {
		uint64_t now;
		struct timespec ts;

		if (deadline_ns == UINT64_MAX) { /* the fence's: no deadline */
			pthread_cond_wait(&T.wait_cond, &T.wait_lock);
			continue;
		}
		now = sva_now_ns();
		if (now >= deadline_ns)
			break;
		/* The condition variable's clock is CLOCK_REALTIME: a wait of what
		 * is left, from now, however that clock is set. */
		ts = realtime_in(deadline_ns - now);
		pthread_cond_timedwait(&T.wait_cond, &T.wait_lock, &ts);
	}
	atomic_fetch_sub(&T.waiters, 1);
	pthread_mutex_unlock(&T.wait_lock);
	return moved;
}

int sva_track_fence(void)
{
	uint32_t s = (uint32_t)atomic_load(&T.seq);

	if (s & 1)
		sva_track_wait_seq(s, UINT64_MAX);
	if (!atomic_load(&T.error))
		return 0;
	FENCE_HOOK();
	/* The error is set before the monitor (or a registration that found
	 * the number another file's) has withdrawn anything: a fence that
	 * says -EIO must find it done (sva_mm_fence(3)), so it does it too. */
	return withdraw_if_lost() ? -EIO : 0;
}

int sva_track_error(void)
{
	return atomic_load(&T.error);
}

/*
 * At exit() or dlclose(): after the contexts' own destructor has run every
 * mm_exit (those may still munmap registered memory), stop the monitor so its
 * code is not unloaded under it.  Priority 200 runs after default ones.
 */
__attribute__((destructor(200))) static void track_at_exit(void)
{
	/* exit() in a log callback: T.setup may be this thread's (its warnings
	 * are logged under it), and the process ends anyway. */
	if (sva_in_log_callback())
		return;
	pthread_mutex_lock(&T.setup);
	if (T.fork_gen == sva_fork_gen())
		stop();
	pthread_mutex_unlock(&T.setup);
}
