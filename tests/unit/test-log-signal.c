/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * A PASID lookup that fails, from a signal handler, while the thread it
 * interrupted holds the lock of the log that lookup's debug line goes to.
 * sva_pasid_lookup(3): a lookup "may run in a signal handler, whatever call
 * the handler interrupted", the log callback being fit for one.  The handler
 * must log its line and return, not wait for a lock its own thread holds.
 * Run in a child under alarm(): a self-deadlock ends as a SIGALRM death.
 */
#include <errno.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include "internal.h"
#include "pasid_space.h"
#include "../tap.h"

static struct sva_pasid_space *space;
static volatile sig_atomic_t lines, ran, looked_up;

/* Fit for a signal handler: counts, nothing else. */
static void count_line(void *arg, enum sva_log_level level, const char *msg)
{
	(void)arg;
	(void)level;
	(void)msg;
	lines++;
}

static void on_usr1(int sig)
{
	(void)sig;
	ran++;
	sva_test_log_locked_hook = NULL; /* its own line raises nothing */
	looked_up = sva_pasid_lookup(space, 7, NULL);
}

static void raise_usr1(void)
{
	raise(SIGUSR1);
}

int main(void)
{
	struct sva_log log;
	int st = 0;
	pid_t pid;

	plan(2);
	sva_log_init(&log, count_line, NULL, SVA_LOG_DEBUG);
	is_int(sva_pasid_space_create(NULL, &log, "test space", &space), 0, "a space logging at debug level");
	pid = fork();
	if (pid == 0) {
		struct sigaction sa = { .sa_handler = on_usr1 };

		alarm(10);
		sigemptyset(&sa.sa_mask);
		sigaction(SIGUSR1, &sa, NULL);
		sva_test_log_locked_hook = raise_usr1;
		sva_logf(&log, SVA_LOG_ERROR, "a line whose lock section the signal interrupts");
		sva_test_log_locked_hook = NULL;
		/* The outer line and the lookup's debug line. */
		_exit(ran == 1 && looked_up == -ENOENT && lines == 2 ? 0 : 3);
	}
	if (pid > 0 && waitpid(pid, &st, 0) == pid)
		st = WIFEXITED(st) ? WEXITSTATUS(st) : 100 + WTERMSIG(st);
	else
		st = -1;
	is_int(st, 0, "a failing lookup in a handler that interrupted a log line returns (100 + SIGALRM: it "
		      "waited for the log's lock its own thread holds)");
	sva_pasid_space_destroy(space);
	return done_testing();
}
