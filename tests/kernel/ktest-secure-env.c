/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * libsva reads its environment variables (SVA_LOG, SVA_NO_MEMBARRIER) with
 * secure_getenv(): a setuid program linked with it must not let its caller
 * turn on debug lines or change its locking.  In the VM, where the tests run
 * as root: a copy of sva-env-helper made set-group-ID (group 65534) runs with
 * an effective group other than its real one, so the kernel gives it
 * AT_SECURE as it does any setuid program; run with both variables set it
 * reports secure mode and the defaults, while the same helper run normally
 * honours them.  (Set-group-ID rather than set-user-ID run by another user:
 * the VM's root directory is not open to other users.)
 */
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "ktest.h"

#define HELPER "/tests/sva-env-helper"
#define SGID_COPY "/tmp/sva-env-helper-sgid"

/* Run path with env; its one line of output in out. */
static int run(const char *path, char *const env[], char *out, size_t len)
{
	int p[2], st;
	ssize_t n;
	pid_t pid;

	if (pipe(p))
		return -errno;
	pid = fork();
	if (pid == 0) {
		dup2(p[1], 1);
		close(p[0]);
		execle(path, path, (char *)NULL, env);
		_exit(127);
	}
	close(p[1]);
	n = read(p[0], out, len - 1);
	out[n > 0 ? n : 0] = 0;
	close(p[0]);
	waitpid(pid, &st, 0);
	if (strchr(out, '\n'))
		*strchr(out, '\n') = 0;
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static int copy(const char *from, const char *to)
{
	char buf[65536];
	int in = open(from, O_RDONLY | O_CLOEXEC), o;
	ssize_t n;

	if (in < 0)
		return -errno;
	o = open(to, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0755);
	if (o < 0) {
		close(in);
		return -errno;
	}
	while ((n = read(in, buf, sizeof(buf))) > 0)
		if (write(o, buf, (size_t)n) != n)
			n = -1;
	close(in);
	close(o);
	return n < 0 ? -EIO : 0;
}

int main(void)
{
	static char log[] = "SVA_LOG=debug", nomb[] = "SVA_NO_MEMBARRIER=1", libs[] = "LD_LIBRARY_PATH=/lib/sva";
	char *set[] = { log, nomb, libs, NULL };
	char *none[] = { libs, NULL };
	char plain[256], base[256], suid[256], want[256];
	const char *lock;
	int rc;

	if (access(HELPER, X_OK) != 0) {
		if (getenv("SVA_VM"))
			ktest_bail("%s is not in the VM (pack it with +tests/kernel/sva-env-helper)", HELPER);
		skip_all("runs in the test VM, which packs sva-env-helper (make check-vm)");
	}
	if (geteuid() != 0)
		skip_all("needs root to make a set-group-ID copy");
	plan(5);

	rc = run(HELPER, set, plain, sizeof(plain));
	diag("plain, with SVA_LOG=debug SVA_NO_MEMBARRIER=1: %s", plain);
	ok(rc == 0 && strcmp(plain, "secure=0 log=debug lock=symmetric") == 0,
	   "without secure mode both variables are honoured");
	rc = run(HELPER, none, base, sizeof(base));
	diag("plain, no variables: %s", base);
	ok(rc == 0 && strncmp(base, "secure=0 log=warn lock=", 23) == 0, "the defaults");

	if (copy(HELPER, SGID_COPY) || chown(SGID_COPY, 0, 65534) || chmod(SGID_COPY, 02755))
		ktest_bail("cannot make a set-group-ID copy in /tmp: %s", strerror(errno));
	rc = run(SGID_COPY, set, suid, sizeof(suid));
	diag("set-group-ID, with both variables: %s", suid);
	ok(rc == 0 && strncmp(suid, "secure=1 ", 9) == 0, "the set-group-ID copy runs in secure mode (AT_SECURE)");
	ok(strstr(suid, " log=warn ") != NULL, "SVA_LOG=debug is ignored there: warn, the default");
	lock = strstr(base, "lock=");
	snprintf(want, sizeof(want), " %s", lock ? lock : "lock=?");
	if (lock && strcmp(lock, "lock=symmetric") == 0)
		skip(1, "no membarrier here: SVA_NO_MEMBARRIER changes nothing to see");
	else
		ok(strstr(suid, want) != NULL, "SVA_NO_MEMBARRIER is ignored there:%s, the default", want);
	unlink(SGID_COPY);
	return done_testing();
}
