/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * A lookup from a signal handler that interrupts, on its own thread, a writer
 * between the stores lock-free readers wait for (sigblock.h).  The test hook
 * raises the signal inside each such window; the writer holds signals off
 * there, so the handler runs after the last store and sees a whole pair.
 * Run in a child under alarm(): a handler spinning on the window (the bug)
 * ends as a SIGALRM death, not a hung test.  Shared by the unit tests (one
 * window, one run) and ktest-teardown (whole binds: several windows).
 */
#ifndef SVA_TESTS_BUSY_WINDOW_H
#define SVA_TESTS_BUSY_WINDOW_H

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

extern void (*sva_test_busy_window_hook)(void); /* test_fail.c, libsva-test only */

static int (*bw_lookup)(void); /* 0: what it saw is right */
static volatile sig_atomic_t bw_ran, bw_wrong;

static void bw_handler(int sig)
{
	(void)sig;
	bw_ran++;
	if (bw_lookup())
		bw_wrong++;
}

static void bw_raise(void)
{
	raise(SIGUSR1);
}

/*
 * write() in a child, with lookup() run by the handler of each signal the hook
 * raises.  The child's exit code: 0 (as above), 2 the handler ran fewer than
 * min_runs or more than max_runs times, 3 a lookup saw something wrong, what
 * write() exits with itself (it may _exit() on a failure of its own), 100 +
 * the signal that killed it.
 */
static inline int busy_window_run(void (*write)(void), int (*lookup)(void), int min_runs, int max_runs)
{
	int st = 0;
	pid_t pid = fork();

	if (pid == 0) {
		struct sigaction sa = { .sa_handler = bw_handler };

		alarm(20);
		sigemptyset(&sa.sa_mask);
		sigaction(SIGUSR1, &sa, NULL);
		bw_lookup = lookup;
		sva_test_busy_window_hook = bw_raise;
		write();
		sva_test_busy_window_hook = NULL;
		_exit(bw_ran < min_runs || bw_ran > max_runs ? 2 : bw_wrong ? 3 : 0);
	}
	if (pid < 0 || waitpid(pid, &st, 0) != pid)
		return -1;
	return WIFEXITED(st) ? WEXITSTATUS(st) : 100 + WTERMSIG(st);
}

#endif
