/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * What /proc says of this process's descriptors and threads, for the kernel
 * tests' checks that a call made, or left, none.  Needs nothing of libsva's
 * (the black-box contract tests include it as well as ktest.h does): one copy
 * of each loop, so that every test counts the same way.
 */
#ifndef SVA_TESTS_KTEST_PROC_H
#define SVA_TESTS_KTEST_PROC_H

#include <dirent.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

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

static inline int ktest_count_tasks(void)
{
	return ktest_count_entries("/proc/self/task");
}

/*
 * Is every thread of this process named `name` asleep in one of the system
 * calls nr1, nr2, nr3?  /proc/self/task/TID/syscall gives the number only of
 * a sleeping thread ("running" for one on a CPU or preempted).  True when no
 * thread has the name.
 */
static inline bool ktest_threads_asleep_in(const char *name, long nr1, long nr2, long nr3)
{
	DIR *d = opendir("/proc/self/task");
	struct dirent *e;
	bool all = d != NULL;

	while (all && (e = readdir(d))) {
		char path[300], line[64] = "";
		FILE *f;
		long nr = -1;

		if (e->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "/proc/self/task/%s/comm", e->d_name);
		f = fopen(path, "r");
		if (!f)
			continue; /* gone meanwhile */
		if (!fgets(line, sizeof(line), f))
			line[0] = '\0';
		fclose(f);
		line[strcspn(line, "\n")] = '\0';
		if (strcmp(line, name))
			continue;
		snprintf(path, sizeof(path), "/proc/self/task/%s/syscall", e->d_name);
		f = fopen(path, "r");
		if (f && fgets(line, sizeof(line), f) && sscanf(line, "%ld", &nr) != 1)
			nr = -1;
		if (f)
			fclose(f);
		all = nr >= 0 && (nr == nr1 || nr == nr2 || nr == nr3);
	}
	if (d)
		closedir(d);
	return all;
}

/* poll(2) has no system call of its own on arm64 (glibc's is ppoll). */
#ifdef SYS_poll
#define KTEST_SYS_POLL SYS_poll
#else
#define KTEST_SYS_POLL (-2L)
#endif

/*
 * Wait, up to ms milliseconds by the clock, until libsva's fault threads
 * named `name` ("sva-fault" unless the context names them) sleep in their
 * wait for faults: io_uring_enter(2), or poll(2) where io_uring is not to be
 * had.  A first fault-capable bind may return before its thread has made its
 * ring's descriptor and closed it again (sva_bind(3)): a count of
 * /proc/self/fd taken meanwhile is one off.  False if they did not.
 */
static inline bool ktest_fault_threads_settle(const char *name, unsigned ms)
{
	struct timespec t0, t;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (;;) {
		if (ktest_threads_asleep_in(name, SYS_io_uring_enter, KTEST_SYS_POLL, SYS_ppoll))
			return true;
		clock_gettime(CLOCK_MONOTONIC, &t);
		if ((int64_t)(t.tv_sec - t0.tv_sec) * 1000 + (t.tv_nsec - t0.tv_nsec) / 1000000 >= (int64_t)ms)
			return false;
		usleep(1000);
	}
}

#endif
