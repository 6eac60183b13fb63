/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The owner side of mm_exit as a program ("mm-exit" in sva-brokerd(8)): a
 * client ended with a PASID attached, and before the broker detaches it the
 * administrator's program drains the device's work under that PASID (only
 * the device's own driver knows how).  Synchronous, because the detach must
 * wait for the drain; bounded, because the broker serves every other client
 * from the same thread.  No shell and a fixed environment, so nothing of a
 * client's choosing reaches the program but four numbers and names the
 * configuration gave; a process group of its own, killed whole at the
 * timeout, so a hung program (or what it started) costs at most that.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "broker.h"
#include "internal.h"

/* Wait for child until deadline (ns); true if it ended, *st its status. */
static bool wait_until(pid_t child, uint64_t deadline, int *st)
{
	for (;;) {
		pid_t r = waitpid(child, st, WNOHANG);

		if (r == child || (r < 0 && errno != EINTR))
			return true;
		if (sva_now_ns() >= deadline)
			return false;
		nanosleep(&(struct timespec){ .tv_nsec = 2000000 }, NULL);
	}
}

int broker_mm_exit_run(struct broker *b, const struct broker_dev *d, uint32_t pasid, pid_t pid)
{
	const struct broker_dev_conf *dc = d->conf;
	char spasid[16], spid[16], e_dev[96], e_src[300], e_pasid[32], e_pid[32];
	char e_path[] = "PATH=/usr/sbin:/usr/bin:/sbin:/bin";
	char *argv[] = { (char *)dc->mm_exit, (char *)dc->name, (char *)dc->source, spasid, spid, NULL };
	char *envp[] = { e_path, e_dev, e_src, e_pasid, e_pid, NULL };
	static const int reset[] = { SIGPIPE, SIGTERM, SIGINT, SIGHUP, SIGCHLD };
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t at;
	sigset_t def, none;
	uint64_t t0 = sva_now_ns();
	pid_t child;
	int ret, st = 0;

	/* A device without PASIDs (rid.c): its holder's RID, named "rid". */
	if (pasid == SVA_PASID_RID)
		snprintf(spasid, sizeof(spasid), "rid");
	else
		snprintf(spasid, sizeof(spasid), "%u", pasid);
	snprintf(spid, sizeof(spid), "%d", (int)pid);
	snprintf(e_dev, sizeof(e_dev), "SVA_DEVICE=%s", dc->name);
	snprintf(e_src, sizeof(e_src), "SVA_SOURCE=%s", dc->source);
	snprintf(e_pasid, sizeof(e_pasid), "SVA_PASID=%s", spasid);
	snprintf(e_pid, sizeof(e_pid), "SVA_CLIENT_PID=%d", (int)pid);
	/* The broker ignores SIGPIPE and catches SIGTERM: the program gets the defaults. */
	sigemptyset(&def);
	for (size_t i = 0; i < sizeof(reset) / sizeof(reset[0]); i++)
		sigaddset(&def, reset[i]);
	sigemptyset(&none);
	posix_spawnattr_init(&at);
	posix_spawnattr_setflags(&at, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK);
	posix_spawnattr_setpgroup(&at, 0);
	posix_spawnattr_setsigdefault(&at, &def);
	posix_spawnattr_setsigmask(&at, &none);
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
	ret = -posix_spawn(&child, dc->mm_exit, &fa, &at, argv, envp);
	posix_spawn_file_actions_destroy(&fa);
	posix_spawnattr_destroy(&at);
	if (ret) {
		broker_log(b, SVA_LOG_ERROR, "device %s: mm-exit program %s for PASID %u of client pid %d: cannot run: %s",
			   dc->name, dc->mm_exit, pasid, (int)pid, strerror(-ret));
		return ret;
	}
	if (!wait_until(child, t0 + (uint64_t)dc->mm_exit_ms * 1000000ull, &st)) {
		kill(-child, SIGKILL);
		kill(child, SIGKILL);
		while (waitpid(child, &st, 0) < 0 && errno == EINTR)
			;
		broker_log(b, SVA_LOG_ERROR,
			   "device %s: mm-exit program %s for PASID %u of client pid %d killed after %u ms: detaching "
			   "anyway",
			   dc->name, dc->mm_exit, pasid, (int)pid, dc->mm_exit_ms);
		return -ETIMEDOUT;
	}
	if (WIFEXITED(st) && WEXITSTATUS(st) == 0) {
		broker_log(b, SVA_LOG_INFO, "device %s: mm-exit program for PASID %u of client pid %d done in %llu ms",
			   dc->name, pasid, (int)pid, (unsigned long long)((sva_now_ns() - t0) / 1000000));
		return 0;
	}
	broker_log(b, SVA_LOG_WARN, "device %s: mm-exit program %s for PASID %u of client pid %d %s %d: detaching anyway",
		   dc->name, dc->mm_exit, pasid, (int)pid, WIFEXITED(st) ? "exited" : "was killed by signal",
		   WIFEXITED(st) ? WEXITSTATUS(st) : WTERMSIG(st));
	return -ECHILD;
}
