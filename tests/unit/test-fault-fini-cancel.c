/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * A thread cancelled in sva_ctx_free(): the fault queue's descriptor is
 * closed inside a fork-guard section (sva_fault_fini()), and close() is a
 * cancellation point.  A cancel acting there ended the thread still counted
 * inside the guard, and every later fork() in the process waited for it for
 * ever (fork_guard.c).  The cancel is made pending before the call, so it
 * acts at the first cancellation point; nothing timed.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/types.h>
#include <unistd.h>

#include "internal.h"
#include "../tap.h"

extern ssize_t (*sva_test_fault_read)(int fd, void *buf, size_t len); /* fault.c */
unsigned sva_test_fork_guard_inside(void);			       /* fork_guard.c */

static ssize_t no_read(int fd, void *buf, size_t len)
{
	(void)fd;
	(void)buf;
	(void)len;
	return 0;
}

static struct sva_ctx ctx;
static atomic_bool returned;

static void *fini_cancelled(void *arg)
{
	(void)arg;
	pthread_cancel(pthread_self()); /* pending: acts at the first cancellation point */
	sva_fault_fini(&ctx);
	atomic_store(&returned, true);
	pthread_testcancel();
	return NULL;
}

int main(void)
{
	int p[2];
	pthread_t t;
	void *res;

	plan(3);
	if (pipe(p))
		tap_bail("pipe: %s", strerror(errno));
	sva_log_init(&ctx.log, NULL, NULL, SVA_LOG_OFF);
	ctx.fe.fault_fd = p[0]; /* taken for the queue's (the test hook) */
	ctx.fe.fault_fd_new = -1;
	sva_test_fault_read = no_read;
	ok(sva_test_fork_guard_inside() == 0, "no thread inside a fork-guard section to begin with");
	if (pthread_create(&t, NULL, fini_cancelled, NULL))
		tap_bail("pthread_create: %s", strerror(errno));
	pthread_join(t, &res);
	ok(res == PTHREAD_CANCELED, "the thread was cancelled (%s)", atomic_load(&returned) ? "after the call" : "in it");
	ok(sva_test_fork_guard_inside() == 0,
	   "a cancel pending at the queue's close in sva_fault_fini(): the thread is not left counted inside the "
	   "fork guard (%u)",
	   sva_test_fork_guard_inside());
	return done_testing();
}
