/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * A lookup from a signal handler that interrupts, on its own thread, a writer
 * between the stores lock-free readers wait for (sigblock.h).  The test hook
 * raises the signal inside that window; the writer holds signals off there,
 * so the handler must run once, after the last store, and see the new pair.
 * Run in a child under alarm(): a handler spinning on the window (the bug)
 * ends as a SIGALRM death, not a hung test.
 */
#ifndef SVA_TESTS_BUSY_WINDOW_H
#define SVA_TESTS_BUSY_WINDOW_H

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

extern void (*sva_test_busy_window_hook)(void); /* test_fail.c, libsva-test only */

static int (*bw_lookup)(void); /* 0: it saw the new pair */
static volatile sig_atomic_t bw_ran, bw_result;

static void bw_handler(int sig)
{
	(void)sig;
	bw_ran++;
	bw_result = bw_lookup();
}

static void bw_raise(void)
{
	raise(SIGUSR1);
}

/* The child's exit code: 0 (as above), 2 the handler ran other than once,
 * 3 its lookup saw something else, 100 + the signal that killed it. */
static inline int busy_window_run(void (*write)(void), int (*lookup)(void))
{
	int st = 0;
	pid_t pid = fork();

	if (pid == 0) {
		struct sigaction sa = { .sa_handler = bw_handler };

		alarm(5);
		sigemptyset(&sa.sa_mask);
		sigaction(SIGUSR1, &sa, NULL);
		bw_lookup = lookup;
		sva_test_busy_window_hook = bw_raise;
		write();
		sva_test_busy_window_hook = NULL;
		_exit(bw_ran != 1 ? 2 : bw_result ? 3 : 0);
	}
	if (pid < 0 || waitpid(pid, &st, 0) != pid)
		return -1;
	return WIFEXITED(st) ? WEXITSTATUS(st) : 100 + WTERMSIG(st);
}

#endif
