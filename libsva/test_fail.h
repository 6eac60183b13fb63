/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Failure injection into libsva's own allocations, for tests only (the
 * libsva-test build, SVA_TEST_HOOKS): the kernel's fail-nth turned on the
 * library.  Every allocation from the arena (arena.c asks at sva_malloc(),
 * which its other allocators and thread stacks go through) and every call
 * below is a failure point; sva_test_fail_nth(n) makes the n-th point reached
 * from then on, by any thread, fail as the real call fails when out of
 * memory.  Included last by internal.h (and by arena.c, a leaf), so every
 * library file goes through it without a line of its own; the system headers
 * come first so that their declarations are not rewritten by the macros.
 */
#ifndef LIBSVA_TEST_FAIL_H
#define LIBSVA_TEST_FAIL_H

#ifdef SVA_TEST_HOOKS
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <sys/eventfd.h>
#include <sys/mman.h>

/* True when this point is the one to fail (test_fail.c). */
bool sva_test_fail_point(void);
/* Arm: the n-th point from now fails (n <= 0 disarms). */
void sva_test_fail_nth(int n);
/* Points still to pass before the failure: 0 once it happened (or disarmed). */
int sva_test_fail_nth_left(void);

static inline void *sva_hooked_mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off)
{
	return sva_test_fail_point() ? (errno = ENOMEM, MAP_FAILED) : mmap(addr, len, prot, flags, fd, off);
}

static inline int sva_hooked_eventfd(unsigned int initval, int flags)
{
	return sva_test_fail_point() ? (errno = EMFILE, -1) : eventfd(initval, flags);
}

static inline int sva_hooked_pthread_create(pthread_t *t, const pthread_attr_t *attr, void *(*fn)(void *), void *arg)
{
	return sva_test_fail_point() ? EAGAIN : pthread_create(t, attr, fn, arg);
}

#define mmap(addr, len, prot, flags, fd, off) sva_hooked_mmap(addr, len, prot, flags, fd, off)
#define eventfd(initval, flags) sva_hooked_eventfd(initval, flags)
#define pthread_create(t, attr, fn, arg) sva_hooked_pthread_create(t, attr, fn, arg)
/* io_uring_queue_init() is declared by liburing.h, which only fault_thread.c
 * includes: it asks sva_test_fail_point() itself. */
#define SVA_TEST_FAIL_POINT() sva_test_fail_point()
#else
#define SVA_TEST_FAIL_POINT() false
#endif

#endif /* LIBSVA_TEST_FAIL_H */
