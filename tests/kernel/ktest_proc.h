/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * What /proc says of this process's descriptors and threads, for the kernel
 * tests' checks that a call made, or left, none.  Needs nothing of libsva's
 * (the black-box contract tests include it as well as ktest.h does): one copy
 * of each loop, so that every test counts the same way (the status files'
 * reader, tests/proc_status.h, the unit tests share).
 */
#ifndef SVA_TESTS_KTEST_PROC_H
#define SVA_TESTS_KTEST_PROC_H

#include <dirent.h>
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#include "../proc_status.h"

/*
 * The entries of a /proc directory, "." and ".." included, and for
 * /proc/self/fd the listing's own descriptor: compare counts taken the same
 * way, or set a limit just above one (-1: unreadable).
 */
static inline int ktest_count_entries(const char *dir)
{
	DIR *d = opendir(dir);
	int n = 0;

	if (!d)
		return -1;
	while (readdir(d))
		n++;
	closedir(d);
	return n;
}

static inline int ktest_count_fds(void)
{
	return ktest_count_entries("/proc/self/fd");
}

/* A thread name's longest: TASK_COMM_LEN (16) less its NUL.  A longer one
 * can never match, so asking for it is the caller's mistake. */
#define KTEST_COMM_MAX 15

/* libsva's own thread names (libsva(7)), one spelling for every test. */
#define KTEST_FAULT_THREAD "sva-fault"
#define KTEST_MONITOR_THREAD "sva-coherence"

/*
 * Thread tid's name, its newline cut, into out (len bytes; KTEST_COMM_MAX + 2
 * hold any): 0, or -errno (-ENOENT: the thread is gone), out then "".
 */
static inline int ktest_thread_comm(pid_t tid, char *out, size_t len)
{
	char path[64];
	FILE *f;
	int ret = 0;

	out[0] = '\0';
	snprintf(path, sizeof(path), "/proc/self/task/%ld/comm", (long)tid);
	f = fopen(path, "r");
	if (!f)
		return -errno;
	if (!fgets(out, (int)len, f)) {
		out[0] = '\0';
		ret = -EIO;
	}
	fclose(f);
	out[strcspn(out, "\n")] = '\0';
	return ret;
}

/*
 * The one walk of /proc/self/task: fn(tid, arg) for each thread of this
 * process named `name` (each thread when name is NULL), a thread gone
 * meanwhile skipped.  fn (NULL: count only) returns 0 to go on, 1 to stop
 * there, or a negative errno to stop with it.  Returns how many threads
 * matched (fn's last included), or a negative errno: -EINVAL an empty name,
 * -ENAMETOOLONG one no thread can bear, opendir()'s, or fn's.  0 is a count,
 * not an error: a caller that expects a thread says so by checking it.
 */
static inline int ktest_for_each_thread_named(const char *name, int (*fn)(pid_t tid, void *arg), void *arg)
{
	struct dirent *e;
	int n = 0, ret = 0;
	DIR *d;

	if (name && !name[0])
		return -EINVAL;
	if (name && strlen(name) > KTEST_COMM_MAX)
		return -ENAMETOOLONG;
	d = opendir("/proc/self/task");
	if (!d)
		return -errno;
	while (!ret && (e = readdir(d))) {
		char comm[KTEST_COMM_MAX + 2], *end;
		long tid = strtol(e->d_name, &end, 10);

		if (tid <= 0 || *end)
			continue; /* "." and ".." */
		if (name && (ktest_thread_comm((pid_t)tid, comm, sizeof(comm)) || strcmp(comm, name)))
			continue;
		n++;
		if (fn)
			ret = fn((pid_t)tid, arg);
	}
	closedir(d);
	return ret < 0 ? ret : n;
}

/* This process's threads, as the one walk above counts them (-errno:
 * /proc/self/task unreadable): compare counts taken the same way. */
static inline int ktest_count_tasks(void)
{
	return ktest_for_each_thread_named(NULL, NULL, NULL);
}

/* Thread tid's line "key:" of /proc/self/task/TID/status, as
 * proc_status_text() (-ENOENT: the thread is gone). */
static inline int ktest_thread_status(pid_t tid, const char *key, char *out, size_t len)
{
	char path[64];

	snprintf(path, sizeof(path), "/proc/self/task/%ld/status", (long)tid);
	return proc_status_text(path, key, out, len);
}

/* Its value as a number, as proc_status_num(). */
static inline long ktest_thread_status_num(pid_t tid, const char *key)
{
	char path[64];

	snprintf(path, sizeof(path), "/proc/self/task/%ld/status", (long)tid);
	return proc_status_num(path, key);
}

/* The process's line "key:" of /proc/self/status as a number (VmSize,
 * VmPin, Threads), as proc_status_num(). */
static inline long ktest_self_status_num(const char *key)
{
	return proc_status_num("/proc/self/status", key);
}

/*
 * The system call thread tid sleeps in, from /proc/self/task/TID/syscall:
 * its number, or -1 for a thread on a CPU or preempted ("running"), blocked
 * outside a system call, or gone.  *sp (unless NULL): its user stack pointer
 * when the line has it (a thread asleep in a system call), else untouched.
 */
static inline long ktest_thread_syscall(pid_t tid, uintptr_t *sp)
{
	unsigned long v[8];
	char path[64], line[256];
	long nr = -1;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/self/task/%ld/syscall", (long)tid);
	f = fopen(path, "r");
	if (!f)
		return -1;
	if (fgets(line, sizeof(line), f) && sscanf(line, "%ld", &nr) != 1)
		nr = -1;
	fclose(f);
	if (sp && nr >= 0 &&
	    sscanf(line, "%*d %lx %lx %lx %lx %lx %lx %lx %lx", &v[0], &v[1], &v[2], &v[3], &v[4], &v[5], &v[6],
		   &v[7]) == 8)
		*sp = v[6];
	return nr;
}

struct ktest_asleep {
	long nr[3];
	int asleep;
};

static inline int ktest_asleep_one(pid_t tid, void *arg)
{
	struct ktest_asleep *a = arg;
	long nr = ktest_thread_syscall(tid, NULL);

	a->asleep += nr >= 0 && (nr == a->nr[0] || nr == a->nr[1] || nr == a->nr[2]);
	return 0;
}

/*
 * How many of this process's threads are named `name` (or a negative errno,
 * as ktest_for_each_thread_named()); *asleep: how many of those sleep in one
 * of the system calls nr1, nr2, nr3.  /proc/self/task/TID/syscall gives the
 * number only of a sleeping thread.  "All of them" is asleep == the count,
 * which holds for none as well: the caller compares the count with what it
 * expects, so that a wrong name is not an empty set that always settles.
 */
static inline int ktest_threads_asleep_in(const char *name, long nr1, long nr2, long nr3, int *asleep)
{
	struct ktest_asleep a = { { nr1, nr2, nr3 }, 0 };
	int n = ktest_for_each_thread_named(name, ktest_asleep_one, &a);

	*asleep = a.asleep;
	return n;
}

/* poll(2) has no system call of its own on arm64 (glibc's is ppoll). */
#ifdef SYS_poll
#define KTEST_SYS_POLL SYS_poll
#else
#define KTEST_SYS_POLL (-2L)
#endif

/* For ktest_fault_threads_settle(): the caller cannot know how many fault
 * threads there are (a check shared by contexts with and without one). */
#define KTEST_THREADS_ANY (-1)

/*
 * Wait, up to ms milliseconds by the clock, until exactly `want` threads are
 * named `name` (KTEST_FAULT_THREAD unless the context names them;
 * KTEST_THREADS_ANY: any number, none included) and all of them sleep in
 * their wait for faults: io_uring_enter(2), or poll(2) where io_uring is not
 * to be had.  A first fault-capable bind may return before its thread has
 * made its ring's descriptor and closed it again (sva_bind(3)): a count of
 * /proc/self/fd taken meanwhile is one off.  0 when they did; -ESRCH when
 * the number of threads so named was still not `want` (a thread missing, or
 * a name no thread has: it used to count as settled), -ETIMEDOUT when it
 * was but one of them was not asleep there; or a negative errno of
 * ktest_for_each_thread_named() at once.
 */
static inline int ktest_fault_threads_settle(const char *name, int want, unsigned ms)
{
	struct timespec t0, t;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (;;) {
		int asleep, n = ktest_threads_asleep_in(name, SYS_io_uring_enter, KTEST_SYS_POLL, SYS_ppoll, &asleep);

		if (n < 0)
			return n;
		if ((want == KTEST_THREADS_ANY || n == want) && asleep == n)
			return 0;
		clock_gettime(CLOCK_MONOTONIC, &t);
		if ((int64_t)(t.tv_sec - t0.tv_sec) * 1000 + (t.tv_nsec - t0.tv_nsec) / 1000000 >= (int64_t)ms)
			return want == KTEST_THREADS_ANY || n == want ? -ETIMEDOUT : -ESRCH;
		usleep(1000);
	}
}

/*
 * Assert (with tap.h's ok() and skip(), which the includer has) that `call`,
 * a NULL given to a call that ends an object, does nothing and logs nothing
 * (libsva(7), Errors): no descriptor is opened or closed, and with stderr,
 * where the process-wide log writes (warning level and up unless $SVA_LOG
 * says otherwise; a NULL object's line would be an error), in an unlinked
 * file, nothing is written there.  Two lines: under SVA_LOG=off, which make
 * check sets, that log writes nothing whatever the call does, so the second
 * is a skip there rather than a pass that could not fail (it is checked in
 * the VM, where $SVA_LOG is the host's, unset by default).
 */
#define KTEST_QUIET_NOOP(call, what)                                                                   \
	do {                                                                                           \
		char path_[] = "/tmp/ktest-quietXXXXXX";                                               \
		const char *env_ = getenv("SVA_LOG");                                                  \
		int tmp_ = mkstemp(path_), saved_ = -1, fds_, fds2_;                                   \
		long long n_ = -1;                                                                     \
                                                                                                       \
		if (tmp_ >= 0) {                                                                       \
			unlink(path_);                                                                 \
			fflush(stderr);                                                                \
			saved_ = dup(2);                                                               \
			dup2(tmp_, 2);                                                                 \
			close(tmp_);                                                                   \
		}                                                                                      \
		fds_ = ktest_count_entries("/proc/self/fd");                                           \
		call;                                                                                  \
		fds2_ = ktest_count_entries("/proc/self/fd");                                          \
		if (saved_ >= 0) {                                                                     \
			fflush(stderr);                                                                \
			n_ = (long long)lseek(2, 0, SEEK_END);                                         \
			dup2(saved_, 2);                                                               \
			close(saved_);                                                                 \
		}                                                                                      \
		ok(fds_ >= 0 && fds2_ == fds_, "%s is a no-op: descriptors unchanged (%d, then %d)",   \
		   what, fds_, fds2_);                                                                 \
		if (env_ && strcmp(env_, "off") == 0)                                                  \
			skip(1, "SVA_LOG=off: the process-wide log writes nothing, its silence says "  \
				"nothing here");                                                       \
		else                                                                                   \
			ok(n_ == 0, "  and logs nothing: nothing on stderr (%lld bytes)", n_);        \
	} while (0)

#endif
