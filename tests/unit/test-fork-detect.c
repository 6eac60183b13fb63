/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * A forked child must know it is one (sva.h: every call that would issue an
 * ioctl fails with -ECHILD there).  fork() runs libsva's atfork handler;
 * _Fork() and a raw clone() run none, and were taken for the parent.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* _Fork */
#endif
#include <sched.h>
#include <signal.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fork.h"
#include "../tap.h"

static int child_status(pid_t pid)
{
	int st = 0;

	if (pid < 0 || waitpid(pid, &st, 0) != pid)
		return -1;
	return WIFEXITED(st) ? WEXITSTATUS(st) : 100 + (WIFSIGNALED(st) ? WTERMSIG(st) : 0);
}

int main(void)
{
	unsigned gen = sva_fork_gen_init();
	pid_t pid;

	plan(4);
	is_int(sva_fork_gen(), gen, "this process: the generation it started with");
	pid = fork();
	if (pid == 0)
		_exit(sva_fork_gen() != gen ? 0 : 1);
	is_int(child_status(pid), 0, "a fork() child knows it is one");
	pid = _Fork();
	if (pid == 0)
		_exit(sva_fork_gen() != gen && sva_fork_gen() == sva_fork_gen() ? 0 : 1);
	is_int(child_status(pid), 0, "a _Fork() child (no atfork handlers) knows it too, and stays one generation");
	pid = (pid_t)syscall(SYS_clone, SIGCHLD, 0, 0, 0, 0);
	if (pid == 0)
		_exit(sva_fork_gen() != gen ? 0 : 1);
	is_int(child_status(pid), 0, "and a raw clone() child");
	return done_testing();
}
