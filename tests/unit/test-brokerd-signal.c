/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * sva-brokerd(8): "SIGTERM, SIGINT or SIGHUP: stop".  tools/broker/main.c is
 * built here with fake broker_start()/broker_run()/broker_fini(), so that a
 * signal can be made to arrive at a chosen moment of the start-up: the real
 * broker_start() begins by clearing its struct broker, the stop flag the
 * handler sets included.  A signal taken while the broker starts (the handlers
 * are in place before it, so that one cannot kill it with its socket half
 * made) must still stop it once it runs.  So must one that the process which
 * started the broker had blocked: a signal mask outlives exec().
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define main brokerd_main
int brokerd_main(int argc, char **argv);
#include "../../tools/broker/main.c"
#undef main

#include "../tap.h"

/* What the fake start does, chosen per case before brokerd_main() runs. */
static int signal_before_reset, signal_after_reset;

int broker_start(struct broker *b, const struct broker_conf *conf)
{
	if (signal_before_reset)
		raise(signal_before_reset);
	memset(b, 0, sizeof(*b)); /* as the real one: a fresh broker */
	b->lsock = -1;
	b->conf = *conf;
	if (signal_after_reset)
		raise(signal_after_reset);
	return 0;
}

/* The child's exit status says whether the loop would have stopped at once. */
int broker_run(struct broker *b)
{
	_exit(b->stop ? 10 : 11);
}

void broker_fini(struct broker *b)
{
	(void)b;
}

/* 10: the run saw a stop; 11: it did not; else what went wrong.  blocked:
 * the signal is blocked when the broker starts, as a parent that blocked it
 * leaves it across fork() and exec(); pending: and already sent then. */
static int run_case_masked(const char *config, int before, int after, int blocked, bool pending)
{
	pid_t pid = fork();
	int status;

	if (pid < 0)
		tap_bail("fork: %s", strerror(errno));
	if (pid == 0) {
		char *argv[] = { (char *)"sva-brokerd", (char *)"-c", (char *)config, NULL };
		int null = open("/dev/null", O_WRONLY);

		if (null >= 0)
			dup2(null, STDERR_FILENO); /* "defines no device" */
		signal_before_reset = before;
		signal_after_reset = after;
		if (blocked) {
			sigset_t set;

			sigemptyset(&set);
			sigaddset(&set, blocked);
			sigprocmask(SIG_BLOCK, &set, NULL);
			if (pending)
				raise(blocked);
		}
		_exit(brokerd_main(3, argv) == 0 ? 12 : 13);
	}
	if (waitpid(pid, &status, 0) != pid)
		tap_bail("waitpid: %s", strerror(errno));
	return WIFEXITED(status) ? WEXITSTATUS(status) : 100 + WTERMSIG(status);
}

static int run_case(const char *config, int before, int after)
{
	return run_case_masked(config, before, after, 0, false);
}

int main(void)
{
	static const int sigs[] = { SIGTERM, SIGINT, SIGHUP };
	char config[] = "/tmp/sva-brokerd-signal.XXXXXX";
	int fd = mkstemp(config);

	if (fd < 0)
		tap_bail("mkstemp: %s", strerror(errno));
	close(fd); /* empty: no device, every default */
	plan(13);
	is_int(run_case(config, 0, 0), 11, "no signal: the broker runs (10 stop seen, 11 running)");
	for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++) {
		is_int(run_case(config, sigs[i], 0), 10,
		       "%s taken while the broker starts, before it resets its state: it stops once it runs "
		       "(10 stop seen, 11 running)",
		       strsignal(sigs[i]));
		is_int(run_case(config, 0, sigs[i]), 10,
		       "%s taken while the broker starts, after it reset its state: it stops (10 stop seen, 11 running)",
		       strsignal(sigs[i]));
	}
	for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
		is_int(run_case_masked(config, 0, sigs[i], sigs[i], false), 10,
		       "%s blocked by the parent that started the broker (a mask outlives exec), then sent: it "
		       "stops (10 stop seen, 11 running)",
		       strsignal(sigs[i]));
	for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
		is_int(run_case_masked(config, 0, 0, sigs[i], true), 10,
		       "%s blocked by the parent and already pending when the broker starts: the handler takes it "
		       "once unblocked, not the default action (10 stop seen, 11 running)",
		       strsignal(sigs[i]));
	unlink(config);
	return 0;
}
