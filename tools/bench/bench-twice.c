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
 *
 * Outside the VM (tests/unit/test-sva-bench.sh): bench-twice [SVA_BENCH [DIR]],
 * another program in sva-bench's place and another directory for the files.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <limits.h>

static const char *sva_bench = "/tests/sva-bench";

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
		execl(sva_bench, "sva-bench", arg1, arg2, arg3, (char *)NULL);
		_exit(127);
	}
	while (waitpid(pid, &st, 0) < 0)
		if (errno != EINTR)
			return -1;
	return st;
}

/* Copy path to standard output, ending it with a newline if it has none: the
 * "--- end of run" line that follows must start a line, or make bench-vm's
 * extraction of the JSON document (a sed range of whole lines) runs on. */
static void cat(const char *path)
{
	char buf[4096], last = '\n';
	ssize_t n;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return;
	while ((n = read(fd, buf, sizeof(buf))) > 0) {
		fwrite(buf, 1, (size_t)n, stdout);
		last = buf[n - 1];
	}
	close(fd);
	if (last != '\n')
		putchar('\n');
}

int main(int argc, char **argv)
{
	const char *dir = argc > 2 ? argv[2] : "/tmp";
	char json[2][PATH_MAX], err[PATH_MAX];
	int rc = 0, st;

	if (argc > 1)
		sva_bench = argv[1];
	if (argc > 3 || snprintf(err, sizeof(err), "%s/sva-bench-run.err", dir) >= (int)sizeof(err)) {
		fprintf(stderr, "usage: bench-twice [SVA_BENCH [DIR]]\n");
		return 2;
	}
	for (int k = 0; k < 2; k++)
		if (snprintf(json[k], sizeof(json[k]), "%s/sva-bench-run%d.json", dir, k + 1) >= (int)sizeof(json[k]))
			return 2;
	for (int k = 0; k < 2; k++) {
		st = run(json[k], err, "--json", NULL, NULL);
		printf("--- run %d: sva-bench --json\n", k + 1);
		cat(json[k]);
		printf("--- end of run %d: %s %d\n", k + 1, WIFEXITED(st) ? "exit status" : "killed by signal",
		       WIFEXITED(st) ? WEXITSTATUS(st) : WIFSIGNALED(st) ? WTERMSIG(st) : -1);
		cat(err);
		rc |= st != 0;
	}
	printf("--- the two runs' verdicts: sva-bench --compare\n");
	st = run(NULL, NULL, "--compare", json[0], json[1]);
	rc |= !(WIFEXITED(st) && WEXITSTATUS(st) <= 1); /* 1: they disagree, as printed */
	fflush(stdout);
	return rc;
}
