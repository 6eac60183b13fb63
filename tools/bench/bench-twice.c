/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * bench-twice: what `make bench-vm` runs in the test VM (which runs its
 * programs without arguments).  Two runs of /tests/sva-bench --json back to
 * back, each printed between "--- run N" lines (its standard error after),
 * then sva-bench --compare of the two: issue 14, two runs back to back must
 * agree on met or missed for every target, and the output says where they
 * do not.  Exit status: 0 when both runs exit 0 and the comparison could be
 * made (verdicts that differ are measured facts, said in the output, not a
 * failure of the benchmark), else 1.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define SVA_BENCH "/tests/sva-bench"

/* Run sva-bench with arg1 (and arg2, arg3), standard output to out (NULL:
 * this one's), standard error to err (NULL: this one's): its wait status, or
 * -1. */
static int run(const char *out, const char *err, const char *arg1, const char *arg2, const char *arg3)
{
	int st;
	pid_t pid;

	fflush(stdout);
	fflush(stderr);
	pid = fork();
	if (pid < 0)
		return -1;
	if (pid == 0) {
		if (out) {
			int fd = open(out, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);

			if (fd < 0 || dup2(fd, STDOUT_FILENO) < 0)
				_exit(127);
		}
		if (err) {
			int fd = open(err, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);

			if (fd < 0 || dup2(fd, STDERR_FILENO) < 0)
				_exit(127);
		}
		execl(SVA_BENCH, "sva-bench", arg1, arg2, arg3, (char *)NULL);
		_exit(127);
	}
	while (waitpid(pid, &st, 0) < 0)
		if (errno != EINTR)
			return -1;
	return st;
}

static void cat(const char *path)
{
	char buf[4096];
	ssize_t n;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return;
	while ((n = read(fd, buf, sizeof(buf))) > 0)
		fwrite(buf, 1, (size_t)n, stdout);
	close(fd);
}

int main(void)
{
	static const char *const json[2] = { "/tmp/sva-bench-run1.json", "/tmp/sva-bench-run2.json" };
	int rc = 0, st;

	for (int k = 0; k < 2; k++) {
		st = run(json[k], "/tmp/sva-bench-run.err", "--json", NULL, NULL);
		printf("--- run %d: sva-bench --json\n", k + 1);
		cat(json[k]);
		printf("--- end of run %d: %s %d\n", k + 1, WIFEXITED(st) ? "exit status" : "killed by signal",
		       WIFEXITED(st) ? WEXITSTATUS(st) : WIFSIGNALED(st) ? WTERMSIG(st) : -1);
		cat("/tmp/sva-bench-run.err");
		rc |= st != 0;
	}
	printf("--- the two runs' verdicts: sva-bench --compare\n");
	st = run(NULL, NULL, "--compare", json[0], json[1]);
	rc |= !(WIFEXITED(st) && WEXITSTATUS(st) <= 1); /* 1: they disagree, as printed */
	fflush(stdout);
	return rc;
}
