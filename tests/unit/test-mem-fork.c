/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * fork() while another thread is inside sva_mem_alloc() (holding the
 * allocator's table lock): the child frees its copy with sva_mem_free(NULL,
 * ...), as sva_mem_free(3) says it may.  The child used to inherit the lock
 * held, and hang.  No kernel needed: no address space, no device.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <sys/wait.h>
#include <unistd.h>

#include "sva/sva.h"
#include "../tap.h"

void sva_mem_test_lock(bool hold); /* mem.c, libsva-test only */

static atomic_int held, let_go;

static void *holder(void *arg)
{
	(void)arg;
	sva_mem_test_lock(true);
	atomic_store(&held, 1);
	usleep(300000); /* the fork starts meanwhile */
	sva_mem_test_lock(false);
	atomic_store(&let_go, 1);
	return NULL;
}

int main(void)
{
	void *p = NULL, *q = NULL;
	pthread_t t;
	int st = 0;
	pid_t pid;

	plan(3);
	is_int(sva_mem_alloc(1 << 16, NULL, &p), 0, "sva_mem_alloc without an address space");
	pthread_create(&t, NULL, holder, NULL);
	/* Detached: the child inherits no thread to join (ThreadSanitizer
	 * reports one left unjoined in the child as a leak). */
	pthread_detach(t);
	while (!atomic_load(&held))
		usleep(1000);
	pid = fork();
	if (pid == 0) {
		alarm(5); /* the old child hung here */
		if (sva_mem_free(NULL, p, 1 << 16))
			_exit(2);
		if (sva_mem_alloc(1 << 16, NULL, &q) || sva_mem_free(NULL, q, 1 << 16))
			_exit(3);
		_exit(0);
	}
	waitpid(pid, &st, 0);
	while (!atomic_load(&let_go))
		usleep(1000);
	ok(WIFEXITED(st) && WEXITSTATUS(st) == 0,
	   "a child forked while another thread held the allocator's lock frees and allocates (%s %d)",
	   WIFSIGNALED(st) ? "signal" : "exit", WIFSIGNALED(st) ? WTERMSIG(st) : WEXITSTATUS(st));
	is_int(sva_mem_free(NULL, p, 1 << 16), 0, "the parent frees its own");
	return done_testing();
}
