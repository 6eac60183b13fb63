/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Black-box review of memfd sharing and the broker as a user and an untrusted
 * client see them: sva_ctx_share_memfd(3), sva_ctx_unshare_memfd(3) and
 * sva-brokerd(8) (its options, configuration errors, what a client gets, what
 * a dead or misbehaving client leaves), checked only against the pages and
 * sva.h.  The broker is the installed program, run as a separate process
 * (/tests/sva-brokerd in the VM, tools/sva-brokerd in the build tree, or
 * $SVA_BROKERD), never linked in.  The options and the configuration are
 * checked on the host too; the rest needs /dev/iommu and the selftest mock.
 *
 * The mock cannot show the bytes a device reads, so "the device sees the
 * memfd's page" is checked as far as sva.h shows it: the fault is resolved,
 * pages_mapped grows, the broker holds a descriptor per shared range.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <sva/sva.h>

#include "../tap.h"

#define PG 4096u
#define SLOT (16u * PG) /* each test's piece of the reservation */
#define NSLOTS 256u

static char brokerd[PATH_MAX];
static char dir[64]; /* short: socket paths are made under it */
static char sock[108];

static bool file_has(const char *path, const char *what);

/* ------------------------------------------------------------ small helpers */

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static bool find_brokerd(void)
{
	const char *env = getenv("SVA_BROKERD");
	char self[PATH_MAX];
	ssize_t n;

	if (env && !access(env, X_OK))
		return snprintf(brokerd, sizeof(brokerd), "%s", env) > 0;
	if (!access("/tests/sva-brokerd", X_OK))
		return snprintf(brokerd, sizeof(brokerd), "/tests/sva-brokerd") > 0;
	n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (n > 0) {
		char *slash;

		self[n] = '\0';
		slash = strrchr(self, '/');
		if (slash) {
			*slash = '\0';
			/* builddir/tests/kernel/THIS -> builddir/tools/sva-brokerd */
			if (snprintf(brokerd, sizeof(brokerd), "%s/../../tools/sva-brokerd", self) <
				    (int)sizeof(brokerd) &&
			    !access(brokerd, X_OK))
				return true;
		}
	}
	if (!access("tools/sva-brokerd", X_OK))
		return snprintf(brokerd, sizeof(brokerd), "tools/sva-brokerd") > 0;
	return false;
}

static void write_file(const char *path, const char *text, size_t len)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);

	if (fd < 0 || write(fd, text, len) != (ssize_t)len)
		tap_bail("write %s: %s", path, strerror(errno));
	close(fd);
}

/* Start brokerd with args (NULL-ended, argv[0] excluded), its stdout and
 * stderr going to files named by tag. */
static pid_t spawn_brokerd(const char *const *args, int tag)
{
	char op[PATH_MAX], ep[PATH_MAX];
	const char *argv[16];
	int n = 0;
	pid_t pid;

	argv[n++] = "sva-brokerd";
	while (*args && n < 15)
		argv[n++] = *args++;
	argv[n] = NULL;
	snprintf(op, sizeof(op), "%s/out%d", dir, tag);
	snprintf(ep, sizeof(ep), "%s/err%d", dir, tag);
	pid = fork();
	if (pid < 0)
		tap_bail("fork: %s", strerror(errno));
	if (pid == 0) {
		int o = open(op, O_WRONLY | O_CREAT | O_TRUNC, 0600), e = open(ep, O_WRONLY | O_CREAT | O_TRUNC, 0600);

		if (o < 0 || e < 0 || dup2(o, 1) < 0 || dup2(e, 2) < 0)
			_exit(127);
		execv(brokerd, (char *const *)argv);
		_exit(127);
	}
	return pid;
}

/* Its exit status, and what it wrote (each cut to the buffers, newlines
 * made blanks so that a TAP line can quote it). */
static int reap_brokerd(pid_t pid, int tag, char *out, size_t outlen, char *err, size_t errlen)
{
	int status;

	waitpid(pid, &status, 0);
	for (int i = 0; i < 2; i++) {
		char *buf = i ? err : out, path[PATH_MAX];
		size_t len = i ? errlen : outlen;
		int fd;
		ssize_t r;

		snprintf(path, sizeof(path), "%s/%s%d", dir, i ? "err" : "out", tag);
		fd = open(path, O_RDONLY | O_CLOEXEC);
		r = fd < 0 ? 0 : read(fd, buf, len - 1);
		buf[r > 0 ? r : 0] = '\0';
		for (char *nl = buf; (nl = strchr(nl, '\n'));)
			*nl = ' ';
		if (fd >= 0)
			close(fd);
	}
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

static int run_brokerd(const char *const *args, char *out, size_t outlen, char *err, size_t errlen)
{
	return reap_brokerd(spawn_brokerd(args, 0), 0, out, outlen, err, errlen);
}

#define RUNS_MAX 20
#define RUN_OUT 2048

struct runs {
	int status[RUNS_MAX];
	char out[RUNS_MAX][RUN_OUT], err[RUNS_MAX][RUN_OUT];
};

/* Run n brokerds, a few at a time: a sanitizer's runtime makes each start
 * slow (most of the time of this program under TSan), and they are
 * independent. */
static void run_all(const char *const *const *args, int n, struct runs *r)
{
	pid_t pid[RUNS_MAX];
	const int window = 6;

	if (n > RUNS_MAX)
		tap_bail("run_all: %d runs", n);
	for (int i = 0; i < n; i++) {
		if (i >= window)
			r->status[i - window] = reap_brokerd(pid[i - window], 100 + i - window, r->out[i - window],
							      RUN_OUT, r->err[i - window], RUN_OUT);
		pid[i] = spawn_brokerd(args[i], 100 + i);
	}
	for (int j = n > window ? n - window : 0; j < n; j++)
		r->status[j] = reap_brokerd(pid[j], 100 + j, r->out[j], RUN_OUT, r->err[j], RUN_OUT);
}

/* ------------------------------------------------------- options (host) */

static void check_options(void)
{
	static struct runs r;
	char missing[PATH_MAX], longp[200];
	const char *const *args[14];
	int n = 0;

	memset(longp, 'a', sizeof(longp));
	longp[0] = '/';
	longp[108] = '\0'; /* 108 bytes */
	snprintf(missing, sizeof(missing), "%s/missing.conf", dir);
	args[n++] = (const char *[]){ "--help", NULL };
	args[n++] = (const char *[]){ "-h", NULL };
	args[n++] = (const char *[]){ "--version", NULL };
	args[n++] = (const char *[]){ "-V", NULL };
	args[n++] = (const char *[]){ "--help", "--bogus", NULL };
	args[n++] = (const char *[]){ "--version", "stray", NULL };
	args[n++] = (const char *[]){ "--bogus", NULL };
	args[n++] = (const char *[]){ "-c", NULL };
	args[n++] = (const char *[]){ "-c", "", "--check", NULL };
	args[n++] = (const char *[]){ "-s", "relative/sock", "--check", NULL };
	args[n++] = (const char *[]){ "-s", longp, "--check", NULL };
	args[n++] = (const char *[]){ "-c", missing, "--check", NULL };
	args[n++] = (const char *[]){ "-c", dir, "--check", NULL };
	run_all(args, n, &r);

	ok(r.status[0] == 0 && strstr(r.out[0], "sva-brokerd"), "--help: status 0 (%d), the usage on stdout",
	   r.status[0]);
	ok(r.status[1] == 0 && r.out[1][0], "-h: status 0 (%d), usage on stdout", r.status[1]);
	ok(r.status[2] == 0 && !strncmp(r.out[2], "sva-brokerd (libsva) ", 21) && r.out[2][21] >= '0' &&
		   r.out[2][21] <= '9',
	   "--version: status 0 (%d), \"sva-brokerd (libsva) VERSION\" (%.40s)", r.status[2], r.out[2]);
	ok(r.status[3] == 0 && !strcmp(r.out[3], r.out[2]), "-V: the same (%d)", r.status[3]);
	is_int(r.status[4], 2, "--help with an unknown option: the usage error wins, status 2");
	is_int(r.status[5], 2, "--version with a stray argument: status 2");
	ok(strstr(r.err[5], "stray") != NULL, "  the stray argument is named on stderr (%.60s)", r.err[5]);
	ok(r.status[6] == 2 && r.err[6][0], "an unknown option: status 2 (%d), the error on stderr", r.status[6]);
	is_int(r.status[7], 2, "-c without its argument: status 2");
	is_int(r.status[8], 2, "an empty -c argument: status 2");
	is_int(r.status[9], 2, "-s with a relative path: status 2");
	is_int(r.status[10], 2, "-s with a 108-byte path: status 2");
	ok(r.status[11] == 1 && r.err[11][0], "--check of a missing file: status 1 (%d), a message on stderr",
	   r.status[11]);
	is_int(r.status[12], 1, "--check of a directory: status 1");
}

static void check_config(void)
{
	static const struct {
		const char *text, *why, *says;
	} bad[] = {
		{ "socket /tmp/s\nallow m uid 0\n", "allow before its device", "no device 'm' defined above" },
		{ "device m mock\ntrust m isolated\ntrust m any\n", "a second trust line", "has a trust line already" },
		{ "device m mock\nmm-exit m /bin/true\nmm-exit m /bin/false\n", "a second mm-exit line",
		  "has one already" },
		{ "socket relative/sock\ndevice m mock\n", "a relative socket path", NULL },
		{ "max-clients 0\ndevice m mock\n", "max-clients 0", NULL },
		{ "max-clients 4097\ndevice m mock\n", "max-clients 4097", NULL },
		{ "clients-per-user 0\ndevice m mock\n", "clients-per-user 0", NULL },
		{ "isolated-pin-max 4095\ndevice m mock\n", "isolated-pin-max under 4096", NULL },
		{ "device m nonsense-source\n", "a device source of no known form", NULL },
		{ "device m mock\nmm-exit m relative/prog\n", "a relative mm-exit program", NULL },
		{ "device m mock\nmm-exit m /bin/true 600001\n", "an mm-exit timeout over 600000", NULL },
		{ "socket-group no-such-group-zz9\ndevice m mock\n", "an unknown group name", NULL },
	};
	enum { NBAD = sizeof(bad) / sizeof(bad[0]), NRUN = NBAD + 7 };
	static struct runs r;
	static char conf[NRUN][PATH_MAX];
	static const char *argv_[NRUN][4];
	const char *const *args[NRUN];
	char text[4096], sockp[128];
	size_t n;
	int k = 0;

	/* Each configuration in its file; every brokerd --check of them at once. */
#define CONF(t, len)                                                                 \
	do {                                                                         \
		snprintf(conf[k], sizeof(conf[k]), "%s/c%d.conf", dir, k);           \
		write_file(conf[k], (t), (len));                                     \
		argv_[k][0] = "-c";                                                  \
		argv_[k][1] = conf[k];                                               \
		argv_[k][2] = "--check";                                             \
		args[k] = argv_[k];                                                  \
		k++;                                                                 \
	} while (0)
	for (size_t i = 0; i < NBAD; i++)
		CONF(bad[i].text, strlen(bad[i].text));
	snprintf(sockp, sizeof(sockp), "%s/s", dir);
	snprintf(text, sizeof(text),
		 "# a comment\nsocket %s   # trailing comment\nsocket-mode 0600\npasids-per-client 32\n"
		 "pasids 256 1023\nmax-clients 7\nclients-per-user unlimited\nisolated-pin-max 2M\ngrace-ms 0\n"
		 "socket-group 4242\ndevice acc0 mock\nallow acc0 uid 0\nallow acc0 uid 0\nallow acc0 group 4242\n"
		 "trust acc0 isolated\nmm-exit acc0 /bin/true 2000\n",
		 sockp);
	CONF(text, strlen(text)); /* NBAD: valid */
	/* 32 users and one given twice: fine; a 33rd: too many. */
	n = (size_t)snprintf(text, sizeof(text), "device m mock\n");
	for (int u = 0; u < 32; u++)
		n += (size_t)snprintf(text + n, sizeof(text) - n, "allow m uid %d\n", 1000 + u);
	n += (size_t)snprintf(text + n, sizeof(text) - n, "allow m uid 1000\n");
	CONF(text, n); /* NBAD + 1 */
	n += (size_t)snprintf(text + n, sizeof(text) - n, "allow m uid 2000\n");
	CONF(text, n); /* NBAD + 2 */
	/* A directive of 511 bytes; a comment of any length; a NUL byte; a
	 * 64-byte device name. */
	n = (size_t)snprintf(text, sizeof(text), "device m mock\nsocket /");
	while (n < 14 + 511)
		text[n++] = 'a';
	text[n++] = '\n';
	CONF(text, n); /* NBAD + 3 */
	n = (size_t)snprintf(text, sizeof(text), "device m mock # ");
	while (n < 2000)
		text[n++] = 'c';
	text[n++] = '\n';
	CONF(text, n); /* NBAD + 4 */
	memcpy(text, "device m mock\nsocket /tmp/x\0y\n", 31);
	CONF(text, 31); /* NBAD + 5 */
	n = (size_t)snprintf(text, sizeof(text), "device ");
	while (n < 7 + 64)
		text[n++] = 'n';
	n += (size_t)snprintf(text + n, sizeof(text) - n, " mock\n");
	CONF(text, n); /* NBAD + 6 */
#undef CONF
	run_all(args, k, &r);

	for (size_t i = 0; i < NBAD; i++) {
		char where[32];

		snprintf(where, sizeof(where), "c%zu.conf:", i);
		ok(r.status[i] == 1 && strstr(r.err[i], where) && (!bad[i].says || strstr(r.err[i], bad[i].says)),
		   "%s: status 1 (%d), file:line: %s (%.120s)", bad[i].why, r.status[i], bad[i].says ? bad[i].says : "",
		   r.err[i]);
	}
	is_int(r.status[NBAD], 0, "--check of a valid configuration: status 0 (%.100s)", r.err[NBAD]);
	ok(strstr(r.out[NBAD], sockp) && strstr(r.out[NBAD], "acc0") && strstr(r.out[NBAD], "mock") &&
		   strstr(r.out[NBAD], "/bin/true"),
	   "  the summary names the socket, the device, its source and its mm-exit program");
	ok(strstr(r.out[NBAD], "0600") != NULL, "  and the socket's mode");
	is_int(r.status[NBAD + 1], 0, "32 users and one given twice: valid (%.80s)", r.err[NBAD + 1]);
	is_int(r.status[NBAD + 2], 1, "a 33rd user: a configuration error");
	ok(r.status[NBAD + 3] == 1 && strstr(r.err[NBAD + 3], "directive longer than 510 bytes"),
	   "a 511-byte directive: refused (%d: %.100s)", r.status[NBAD + 3], r.err[NBAD + 3]);
	is_int(r.status[NBAD + 4], 0, "a 2000-byte comment after a directive: valid (%.80s)", r.err[NBAD + 4]);
	ok(r.status[NBAD + 5] == 1 && strstr(r.err[NBAD + 5], "the line contains a NUL byte"),
	   "a NUL byte: refused (%d: %.100s)", r.status[NBAD + 5], r.err[NBAD + 5]);
	is_int(r.status[NBAD + 6], 1, "a 64-byte device name: a configuration error");
}

/* ------------------------------------------------------- broker process */

static const char *broker_log_level = "warn";
/* start_broker() clears the socket path first (a socket an earlier broker
 * left must not answer for the new one), but for the check of a stale
 * socket, which must still be there when the broker starts. */
static bool start_keeps_path;
/* The broker's umask, when >= 0: an administrator's 077 must not narrow the
 * socket directory's documented mode. */
static int start_umask = -1;

static pid_t start_broker(const char *name, const char *extra)
{
	char conf[PATH_MAX], text[2048], log[PATH_MAX];
	pid_t pid;

	snprintf(conf, sizeof(conf), "%s/%s.conf", dir, name);
	snprintf(log, sizeof(log), "%s/%s.log", dir, name);
	snprintf(text, sizeof(text), "socket %s\nsocket-mode 0666\nsocket-group 4242\ndevice m mock\nallow m uid 0\n%s",
		 sock, extra);
	write_file(conf, text, strlen(text));
	if (!start_keeps_path)
		unlink(sock);
	pid = fork();
	if (pid < 0)
		tap_bail("fork: %s", strerror(errno));
	if (pid == 0) {
		int e = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0600);

		if (e >= 0)
			dup2(e, 2);
		setenv("SVA_LOG", broker_log_level, 1);
		setenv("KTEST_SHARE_MARKER", "1", 1); /* must not reach an mm-exit program */
		if (start_umask >= 0)
			umask((mode_t)start_umask);
		execl(brokerd, "sva-brokerd", "-c", conf, (char *)NULL);
		_exit(127);
	}
	for (int64_t end = now_ms() + 10000; now_ms() < end; usleep(5000)) {
		struct sockaddr_un a = { .sun_family = AF_UNIX };
		int s = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
		int r;

		snprintf(a.sun_path, sizeof(a.sun_path), "%s", sock);
		r = connect(s, (struct sockaddr *)&a, sizeof(a));
		close(s);
		if (!r)
			return pid;
		if (waitpid(pid, NULL, WNOHANG) == pid)
			tap_bail("sva-brokerd %s exited at start (see %s)", name, log);
	}
	tap_bail("sva-brokerd %s does not listen at %s", name, sock);
}

/* SIGTERM (or sig), and its exit status; one that has not exited 10 s
 * later is killed (status 128 + SIGKILL) and its log shown, so that a
 * broker that ignores the signal fails a check instead of the alarm. */
static int signal_broker(pid_t pid, int sig, const char *name)
{
	int status;

	kill(pid, sig);
	for (int64_t end = now_ms() + 10000; now_ms() < end; usleep(5000))
		if (waitpid(pid, &status, WNOHANG) == pid)
			return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
	diag("sva-brokerd %s (pid %d) did not exit 10 s after signal %d; its state and log:", name, (int)pid, sig);
	/* Blocked, pending or caught (SigBlk, SigPnd, ShdPnd, SigCgt), and where
	 * each thread waits: a signal held off, lost, or a broker stuck elsewhere. */
	{
		char path[PATH_MAX], line[512];
		DIR *d;
		struct dirent *e;
		FILE *f;

		snprintf(path, sizeof(path), "/proc/%d/task", (int)pid);
		d = opendir(path);
		while (d && (e = readdir(d))) {
			static const char *const files[] = { "status", "wchan", "syscall", "stack" };

			if (e->d_name[0] == '.')
				continue;
			for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
				snprintf(path, sizeof(path), "/proc/%d/task/%.20s/%s", (int)pid, e->d_name, files[i]);
				f = fopen(path, "r");
				while (f && fgets(line, sizeof(line), f))
					if (i || !strncmp(line, "Name", 4) || !strncmp(line, "State", 5) ||
					    !strncmp(line, "Sig", 3) || !strncmp(line, "ShdPnd", 6))
						diag("  task %s %s: %s", e->d_name, files[i],
						     strtok(line, "\n") ? line : "");
				if (f)
					fclose(f);
			}
		}
		if (d)
			closedir(d);
	}
	{
		char path[PATH_MAX], line[512];
		FILE *f;

		snprintf(path, sizeof(path), "%s/%s.log", dir, name);
		f = fopen(path, "r");
		while (f && fgets(line, sizeof(line), f))
			diag("  %s", strtok(line, "\n") ? line : "");
		if (f)
			fclose(f);
	}
	kill(pid, SIGKILL);
	waitpid(pid, &status, 0);
	return 128 + SIGKILL;
}

/* The descriptors a client can make the broker hold: memfds, sockets and
 * what it passes (devices).  Not every descriptor: a sanitizer's runtime
 * opens files of its own in /proc now and then. */
static int count_fds(pid_t pid)
{
	char p[64];
	struct dirent *e;
	DIR *d;
	int n = 0;

	snprintf(p, sizeof(p), "/proc/%d/fd", (int)pid);
	d = opendir(p);
	if (!d)
		return -1;
	while ((e = readdir(d))) {
		char f[340], l[300];
		ssize_t k;

		if (e->d_name[0] == '.')
			continue;
		snprintf(f, sizeof(f), "%s/%s", p, e->d_name);
		k = readlink(f, l, sizeof(l) - 1);
		if (k <= 0)
			continue;
		l[k] = '\0';
		if (!strncmp(l, "/memfd:", 7) || !strncmp(l, "socket:", 7) || !strncmp(l, "pipe:", 5) ||
		    !strcmp(l, "/dev/null") || !strcmp(l, "/dev/console"))
			n++;
	}
	closedir(d);
	return n;
}

/* The count once the broker has caught up with what came before (a client
 * that closed its end a moment ago still counts until the broker reads the
 * hang-up): the same count 50 ms apart, 2 s at most. */
static int settled_fds(pid_t pid)
{
	int prev = count_fds(pid), cur = prev;

	for (int i = 0; i < 40; i++) {
		usleep(50000);
		cur = count_fds(pid);
		if (cur == prev)
			break;
		prev = cur;
	}
	return cur;
}

/* Wait up to 3 s for the broker to hold want descriptors. */
static int fds_become(pid_t pid, int want)
{
	int n = count_fds(pid);

	for (int64_t end = now_ms() + 3000; n != want && now_ms() < end; n = count_fds(pid))
		usleep(2000);
	return n;
}

/* Does this process hold an iommufd (opened from /dev/iommu, or received)?
 * A fault queue's descriptor is no iommufd: its link names its own kind. */
static bool holds_iommufd(char *seen, size_t len)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	bool found = false;

	seen[0] = '\0';
	if (!d)
		return false;
	while ((e = readdir(d))) {
		char p[300], l[300];
		ssize_t n;

		snprintf(p, sizeof(p), "/proc/self/fd/%s", e->d_name);
		n = readlink(p, l, sizeof(l) - 1);
		if (n <= 0)
			continue;
		l[n] = '\0';
		if (!strcmp(l, "/dev/iommu") || !strcmp(l, "anon_inode:iommufd") || !strcmp(l, "anon_inode:[iommufd]"))
			found = true;
		if (strlen(seen) + strlen(l) + 2 < len)
			strcat(strcat(seen, " "), l);
	}
	closedir(d);
	return found;
}

static int new_ctx(uint32_t flags, struct sva_ctx **out)
{
	struct sva_ctx_opts o = { .size = sizeof(o), .flags = flags, .broker_path = sock, .log_level = SVA_LOG_OFF };

	*out = NULL;
	return sva_ctx_new(&o, out);
}

static int raw_connect(void)
{
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	int s = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);

	snprintf(a.sun_path, sizeof(a.sun_path), "%s", sock);
	if (s < 0 || connect(s, (struct sockaddr *)&a, sizeof(a))) {
		if (s >= 0)
			close(s);
		return -1;
	}
	return s;
}

/* ---------------------------------------------------- the client's view */

static _Atomic int last_reason;
static _Atomic unsigned other_reasons; /* during the race: neither 0 nor -EFAULT */
static _Atomic bool racing;

static void on_fault_error(struct sva_bond *bond, const struct sva_fault_report *rep, void *drvdata)
{
	(void)bond;
	(void)drvdata;
	last_reason = rep->reason;
	if (racing && rep->reason != -EFAULT)
		other_reasons++;
}

static const struct sva_bond_ops ops = { .size = sizeof(ops), .fault_error = on_fault_error };

struct client {
	struct sva_ctx *ctx;
	struct sva_dev *dev;
	struct sva_mm *mm;
	struct sva_bond *bond;
};

static int client_open(uint32_t flags, struct client *c)
{
	struct sva_bind_opts bo = { .size = sizeof(bo), .ops = &ops };
	int ret;

	memset(c, 0, sizeof(*c));
	if ((ret = new_ctx(flags, &c->ctx)) || (ret = sva_dev_open(c->ctx, "m", &c->dev)) ||
	    (ret = sva_mm_new(c->ctx, NULL, &c->mm)) || (ret = sva_bind(c->dev, c->mm, &bo, &c->bond)))
		return ret;
	return 0;
}

static void client_close(struct client *c)
{
	if (c->bond)
		sva_unbind(c->bond);
	sva_mm_free(c->mm);
	sva_dev_close(c->dev);
	sva_ctx_free(c->ctx);
	memset(c, 0, sizeof(*c));
}

/* A device fault at addr: 0 resolved, the reason if answered INVALID, 1 if
 * it was not answered in 5 s or could not be raised. */
static int fault_at(struct client *c, const void *addr, uint32_t access)
{
	struct sva_bond_stats a = { .size = sizeof(a) }, b = { .size = sizeof(b) };
	uint32_t pasid = sva_bond_pasid(c->bond);

	sva_bond_stats(c->bond, &a);
	last_reason = 0;
	if (sva_dev_inject_fault(c->dev, pasid, (uint64_t)(uintptr_t)addr, access, 0))
		return 1;
	for (int64_t end = now_ms() + 5000; now_ms() < end; usleep(500)) {
		sva_bond_stats(c->bond, &b);
		if (b.faults > a.faults)
			return b.invalid > a.invalid ? (last_reason ? last_reason : -1000) : 0;
	}
	return 1;
}

static uint64_t mapped_pages(struct client *c)
{
	struct sva_bond_stats s = { .size = sizeof(s) };

	sva_bond_stats(c->bond, &s);
	return s.pages_mapped;
}

/* The reservation every test maps its memfds into: inside the window. */
static char *base;

static char *slot(unsigned i)
{
	if (i >= NSLOTS)
		tap_bail("slot %u", i);
	return base + (size_t)i * SLOT;
}

static void reserve(struct sva_mm *mm)
{
	struct sva_iova_range r[16];
	size_t nr = 16;
	size_t len = (size_t)NSLOTS * SLOT;
	void *p;

	if (sva_mm_iova_ranges(mm, r, &nr) || nr == 0)
		tap_bail("sva_mm_iova_ranges");
	p = mmap(NULL, len, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	for (size_t i = 0; p != MAP_FAILED && i < nr && i < 16; i++)
		if ((uint64_t)(uintptr_t)p >= r[i].start && (uint64_t)(uintptr_t)p + len - 1 <= r[i].last) {
			base = p;
			return;
		}
	if (p != MAP_FAILED)
		munmap(p, len);
	for (size_t i = 0; i < nr && i < 16; i++) {
		uint64_t at = r[i].start > (16ull << 20) ? r[i].start : 16ull << 20;

		if (at + len - 1 > r[i].last)
			continue;
		p = mmap((void *)(uintptr_t)at, len, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE |
			 MAP_FIXED_NOREPLACE, -1, 0);
		if (p == (void *)(uintptr_t)at) {
			base = p;
			return;
		}
	}
	tap_bail("no room in the window for %zu bytes", len);
}

/* A memfd of npages, mapped MAP_SHARED read-write at addr (over the
 * reservation), filled with `byte`; returns its descriptor. */
static int map_memfd(void *addr, unsigned npages, unsigned flags, int byte)
{
	int fd = memfd_create("ktest-share", MFD_CLOEXEC | flags);
	void *p;

	if (fd < 0 || ftruncate(fd, (off_t)npages * PG))
		tap_bail("memfd: %s", strerror(errno));
	p = mmap(addr, (size_t)npages * PG, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED, fd, 0);
	if (p != addr)
		tap_bail("mmap: %s", strerror(errno));
	memset(p, byte, (size_t)npages * PG);
	return fd;
}

static void unmap_slot(void *addr, size_t len)
{
	if (mmap(addr, len, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_FIXED, -1, 0) != addr)
		tap_bail("remap PROT_NONE: %s", strerror(errno));
}


/* This program again, as a helper process (helper_main): fork() alone would
 * do, but ThreadSanitizer does not let a child of a threaded process start
 * threads, and a context starts some. */
static pid_t spawn_self(const char *mode, int fd3)
{
	pid_t pid = fork();

	if (pid < 0)
		tap_bail("fork: %s", strerror(errno));
	if (pid == 0) {
		if (fd3 >= 0 && dup2(fd3, 3) != 3)
			_exit(126);
		execl("/proc/self/exe", "ktest-share-contract", mode, sock, (char *)NULL);
		_exit(127);
	}
	if (fd3 >= 0)
		close(fd3);
	return pid;
}

/* --die: an isolated client that shares, prefaults, says so on fd 3 and
 * waits to be killed.  --stranger: a user in no allowlist; the exit status
 * says which hellos were refused -EACCES (100: cannot change user). */
static int helper_main(const char *mode, const char *path)
{
	snprintf(sock, sizeof(sock), "%s", path);
	if (!strcmp(mode, "--die")) {
		struct client k;
		int fd, ok1 = 0;
		char *a;

		if (!client_open(SVA_CTX_BROKER | SVA_CTX_ISOLATED, &k)) {
			reserve(k.mm);
			a = slot(1);
			fd = map_memfd(a, 4, 0, 9);
			ok1 = !sva_ctx_share_memfd(k.ctx, fd, 0, a, 4 * PG) && !sva_mm_prefault(k.mm, a, 4 * PG) &&
			      !holds_iommufd((char[512]){ 0 }, 512);
			close(fd);
		}
		if (write(3, &ok1, sizeof(ok1)) != sizeof(ok1))
			return 1;
		pause();
		return 0;
	}
	if (!strcmp(mode, "--other-user")) {
		struct sva_ctx *x = NULL;
		int r;

		if (setgroups(0, NULL) || setgid(65534) || setuid(65534))
			_exit(100);
		/* A process that changed its uid is not dumpable: /proc/self,
		 * which libsva reads, would be root's and closed to it. */
		prctl(PR_SET_DUMPABLE, 1);
		r = new_ctx(SVA_CTX_BROKER | SVA_CTX_ISOLATED, &x);
		_exit(r ? -r : 0); /* _exit: as for --stranger below */
	}
	if (!strcmp(mode, "--stranger")) {
		struct sva_ctx *x = NULL;
		int r1, r2;

		if (setgroups(0, NULL) || setgid(65534) || setuid(65534))
			return 100;
		prctl(PR_SET_DUMPABLE, 1); /* as for --other-user */
		r1 = new_ctx(SVA_CTX_BROKER | SVA_CTX_ISOLATED, &x);
		r2 = new_ctx(SVA_CTX_BROKER, &x);
		/* _exit: LeakSanitizer's exit check cannot read /proc/self/task
		 * once the process is no longer root's, and fails the status. */
		_exit((r1 == -EACCES) | (r2 == -EACCES) << 1);
	}
	return 2;
}

/* As the broker's mm-exit program (four arguments: device, source, PASID,
 * client pid): note what it was given in /tmp/ktest-share-mmexit-PID. */
static int mm_exit_main(char **argv)
{
	extern char **environ;
	char path[128], text[1024];
	size_t n = 0;
	int nenv = 0, fd;
	struct stat st, null;

	for (char **e = environ; *e; e++) /* not those the script's shell adds */
		nenv += strncmp(*e, "LD_LIBRARY_PATH=", 16) && strncmp(*e, "PWD=", 4) && strncmp(*e, "SHLVL=", 6) &&
			strncmp(*e, "_=", 2) && strncmp(*e, "OLDPWD=", 7);
	n += (size_t)snprintf(text + n, sizeof(text) - n, "args %s %s %s %s\n", argv[1], argv[2], argv[3], argv[4]);
	n += (size_t)snprintf(text + n, sizeof(text) - n, "env %d PATH=%s SVA_DEVICE=%s SVA_SOURCE=%s SVA_PASID=%s SVA_CLIENT_PID=%s\n",
			      nenv, getenv("PATH"), getenv("SVA_DEVICE"), getenv("SVA_SOURCE"), getenv("SVA_PASID"),
			      getenv("SVA_CLIENT_PID"));
	n += (size_t)snprintf(text + n, sizeof(text) - n, "marker %s\n", getenv("KTEST_SHARE_MARKER") ? "leaked" : "none");
	n += (size_t)snprintf(text + n, sizeof(text) - n, "stdin-null %d\n",
			      fstat(0, &st) == 0 && stat("/dev/null", &null) == 0 && st.st_rdev == null.st_rdev &&
				      S_ISCHR(st.st_mode));
	snprintf(path, sizeof(path), "/tmp/ktest-share-mmexit-%s", argv[4]);
	fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
	if (fd < 0 || write(fd, text, n) != (ssize_t)n)
		return 1;
	close(fd);
	return 0;
}

/* --------------------------------------------------------- the checks */

static unsigned next_slot;

static void check_not_isolated(struct client *t)
{
	struct sva_ctx *local = NULL;
	char *a = slot(next_slot++);
	int fd = map_memfd(a, 1, 0, 1), ret;

	is_int(sva_ctx_share_memfd(NULL, fd, 0, a, PG), -EINVAL, "share with a NULL ctx: -EINVAL");
	is_int(sva_ctx_unshare_memfd(NULL, a, PG), -EINVAL, "unshare with a NULL ctx: -EINVAL");
	is_int(sva_ctx_share_memfd(t->ctx, fd, 0, a, PG), -EOPNOTSUPP, "share in a trusted broker context: -EOPNOTSUPP");
	is_int(sva_ctx_share_memfd(t->ctx, -1, 1, a + 1, 0), -EOPNOTSUPP, "  whatever the arguments");
	is_int(sva_ctx_unshare_memfd(t->ctx, a, PG), -EOPNOTSUPP, "unshare in a trusted broker context: -EOPNOTSUPP");
	is_int(sva_ctx_unshare_memfd(t->ctx, a + 1, 0), -EOPNOTSUPP, "  whatever the arguments");
	{
		/* The child starts no thread: fork() alone is fine under TSan. */
		pid_t pid = fork();
		int status;

		if (pid == 0)
			_exit((sva_ctx_share_memfd(t->ctx, -1, 1, a + 1, 0) == -EOPNOTSUPP) |
			      (sva_ctx_unshare_memfd(t->ctx, a + 1, 0) == -EOPNOTSUPP) << 1);
		waitpid(pid, &status, 0);
		ok(WIFEXITED(status) && WEXITSTATUS(status) == 3,
		   "  in a forked child too: -EOPNOTSUPP comes before -ECHILD (%d)", WIFEXITED(status) ? WEXITSTATUS(status) : -1);
	}
	ret = new_ctx(0, &local);
	is_int(ret, 0, "a local context");
	if (!ret) {
		is_int(sva_ctx_share_memfd(local, fd, 0, a, PG), -EOPNOTSUPP, "share in a local context: -EOPNOTSUPP");
		is_int(sva_ctx_share_memfd(local, -1, 3, a, 5), -EOPNOTSUPP, "  with bad arguments too");
		is_int(sva_ctx_unshare_memfd(local, a, PG), -EOPNOTSUPP, "unshare in a local context: -EOPNOTSUPP");
		is_int(sva_ctx_unshare_memfd(local, a, 0), -EOPNOTSUPP, "  with bad arguments too");
		sva_ctx_free(local);
	}
	close(fd);
}

/* What a client gets (sva-brokerd(8)): the trusted one a duplicate of the
 * iommufd and a block of pasids-per-client, the isolated one no iommufd. */
static void check_what_clients_get(struct client *t, struct client *iso, unsigned per)
{
	struct sva_pasid_stats st = { .size = sizeof(st) };
	int fd = sva_ctx_fd(t->ctx);
	char p[64], l[128];
	ssize_t n;

	snprintf(p, sizeof(p), "/proc/self/fd/%d", fd);
	n = fd >= 0 ? readlink(p, l, sizeof(l) - 1) : -1;
	if (n > 0)
		l[n] = '\0';
	ok(fd >= 0 && n > 0 && (!strcmp(l, "/dev/iommu") || strstr(l, "iommufd")), "a trusted client holds an iommufd (%d: %s)", fd,
	   n > 0 ? l : "?");
	ok(!sva_pasid_stats(sva_ctx_global_pasids(t->ctx), &st) && st.max - st.min + 1 == per,
	   "  and a block of pasids-per-client (%u) PASIDs: [%u, %u]", per, st.min, st.max);
	is_int(sva_ctx_fd(iso->ctx), -EOPNOTSUPP, "an isolated context has no iommufd: sva_ctx_fd -EOPNOTSUPP");
	ok(!sva_pasid_stats(sva_ctx_global_pasids(iso->ctx), &st) && st.max - st.min + 1 == per,
	   "  it has a block of %u PASIDs too: [%u, %u]", per, st.min, st.max);
}

/* The errors of sva_ctx_share_memfd(3), each leaving nothing shared. */
static void check_share_errors(struct client *c, pid_t bpid)
{
	char *a = slot(next_slot++);
	int fd = map_memfd(a, 4, 0, 0x5a), fds0 = settled_fds(bpid), ret, p[2];
	char proc[64];

	is_int(sva_ctx_share_memfd(c->ctx, fd, 0, a, 0), -EINVAL, "share: len 0: -EINVAL");
	is_int(sva_ctx_share_memfd(c->ctx, fd, 0, a + 8, PG), -EINVAL, "share: addr unaligned: -EINVAL");
	is_int(sva_ctx_share_memfd(c->ctx, fd, 8, a, PG), -EINVAL, "share: offset unaligned: -EINVAL");
	is_int(sva_ctx_share_memfd(c->ctx, fd, 0, a, PG + 8), -EINVAL, "share: len unaligned: -EINVAL");
	is_int(sva_ctx_share_memfd(c->ctx, fd, 0, (void *)(uintptr_t)(UINT64_MAX - PG + 1), PG), -EINVAL,
	       "share: addr + len reaches 2^64: -EINVAL");
	is_int(sva_ctx_share_memfd(c->ctx, fd, UINT64_MAX - PG + 1, a, PG), -EINVAL,
	       "share: offset + len reaches 2^64: -EINVAL");
	is_int(sva_ctx_share_memfd(c->ctx, fd, 0, a, 5 * PG), -EINVAL, "share: the memfd shorter than offset + len");
	is_int(sva_ctx_share_memfd(c->ctx, fd, 2 * PG, a, 3 * PG), -EINVAL, "  also from an offset");
	is_int(sva_ctx_share_memfd(c->ctx, -1, 0, a, PG), -EBADF, "share: memfd -1: -EBADF");
	{
		int closed = dup(fd);

		close(closed);
		is_int(sva_ctx_share_memfd(c->ctx, closed, 0, a, PG), -EBADF, "share: a closed descriptor: -EBADF");
	}
	if (pipe2(p, O_CLOEXEC) == 0) {
		is_int(sva_ctx_share_memfd(c->ctx, p[0], 0, a, PG), -EINVAL, "share: a pipe: -EINVAL");
		close(p[0]);
		close(p[1]);
	}
	{
		int null = open("/dev/null", O_RDWR | O_CLOEXEC);

		is_int(sva_ctx_share_memfd(c->ctx, null, 0, a, PG), -EINVAL, "share: a device (/dev/null): -EINVAL");
		close(null);
	}
	{
		/* Not /proc/self/exe: in the VM it lives on the initramfs, a tmpfs,
		 * whose files are shmem as a memfd's are. */
		int pf = open("/proc/self/stat", O_RDONLY | O_CLOEXEC);

		is_int(sva_ctx_share_memfd(c->ctx, pf, 0, a, PG), -EINVAL, "share: a procfs file: -EINVAL");
		close(pf);
	}
	snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fd);
	{
		int wo = open(proc, O_WRONLY | O_CLOEXEC);

		is_int(sva_ctx_share_memfd(c->ctx, wo, 0, a, PG), -EACCES, "share: open for writing only: -EACCES");
		close(wo);
	}
	is_int(fds_become(bpid, fds0), fds0, "the broker holds no descriptor more after the refusals");
	is_int(fault_at(c, a, SVA_ACCESS_READ), -EFAULT, "nothing was shared: a fault there is INVALID, -EFAULT");
	is_int(sva_mm_prefault(c->mm, a, PG), -EFAULT, "  and a prefault -EFAULT");

	ret = sva_ctx_share_memfd(c->ctx, fd, 0, a, 2 * PG);
	is_int(ret, 0, "then a valid share of 2 pages");
	is_int(fds_become(bpid, fds0 + 1), fds0 + 1, "  the broker holds one more descriptor (its duplicate)");
	is_int(sva_ctx_share_memfd(c->ctx, fd, 0, a, 2 * PG), -EEXIST, "the same range again: -EEXIST");
	is_int(sva_ctx_share_memfd(c->ctx, fd, 1 * PG, a + PG, 2 * PG), -EEXIST, "an overlapping range: -EEXIST");
	is_int(sva_ctx_share_memfd(c->ctx, fd, 0, a - PG, 2 * PG), -EEXIST, "one overlapping its start: -EEXIST");
	is_int(fault_at(c, a + PG, SVA_ACCESS_READ | SVA_ACCESS_WRITE), 0, "a fault in the shared range is resolved");
	is_int(fault_at(c, a + 2 * PG, SVA_ACCESS_READ), -EFAULT,
	       "  one in the memfd's mapping past the shared range: INVALID -EFAULT");
	is_int(sva_ctx_share_memfd(c->ctx, fd, 2 * PG, a + 2 * PG, 2 * PG), 0, "the adjacent range: shared");

	/* unshare's errors, the range unchanged after each. */
	is_int(sva_ctx_unshare_memfd(c->ctx, a, 0), -EINVAL, "unshare: len 0: -EINVAL");
	is_int(sva_ctx_unshare_memfd(c->ctx, a + 8, 2 * PG), -EINVAL, "unshare: addr unaligned: -EINVAL");
	is_int(sva_ctx_unshare_memfd(c->ctx, a, 2 * PG - 8), -EINVAL, "unshare: len unaligned: -EINVAL");
	is_int(sva_ctx_unshare_memfd(c->ctx, (void *)(uintptr_t)(UINT64_MAX - PG + 1), PG), -EINVAL,
	       "unshare: a wrapping range: -EINVAL");
	is_int(sva_ctx_unshare_memfd(c->ctx, a, PG), -ENOENT, "unshare: part of a range: -ENOENT");
	is_int(sva_ctx_unshare_memfd(c->ctx, a, 4 * PG), -ENOENT, "unshare: two ranges at once: -ENOENT");
	is_int(sva_ctx_unshare_memfd(c->ctx, a, 3 * PG), -ENOENT, "unshare: one and a half: -ENOENT");
	is_int(sva_ctx_unshare_memfd(c->ctx, slot(next_slot), PG), -ENOENT, "unshare: nothing shared there: -ENOENT");
	is_int(fault_at(c, a, SVA_ACCESS_READ), 0, "the range is still shared after the refusals");
	is_int(fds_become(bpid, fds0 + 2), fds0 + 2, "  the broker holds a descriptor for each of the two ranges");

	/* unshare */
	is_int(sva_ctx_unshare_memfd(c->ctx, a, 2 * PG), 0, "unshare the first range");
	is_int(fds_become(bpid, fds0 + 1), fds0 + 1, "  the broker closed its duplicate");
	is_int(fault_at(c, a, SVA_ACCESS_READ), -EFAULT, "  a fault on its page that was mapped: INVALID -EFAULT");
	is_int(fault_at(c, a + PG, SVA_ACCESS_READ), -EFAULT, "  and on the other: INVALID -EFAULT");
	is_int(sva_mm_prefault(c->mm, a, 2 * PG), -EFAULT, "  a prefault there: -EFAULT");
	is_int(fault_at(c, a + 3 * PG, SVA_ACCESS_READ), 0, "the other range is untouched");
	is_int(sva_ctx_unshare_memfd(c->ctx, a, 2 * PG), -ENOENT, "unshare it again: -ENOENT");
	ok(a[0] == 0x5a && a[PG] == 0x5a, "the caller's mapping is untouched by the unshare");
	{
		struct stat s;

		ok(fstat(fd, &s) == 0, "  and its descriptor is still open");
	}
	is_int(sva_ctx_share_memfd(c->ctx, fd, 0, a, 2 * PG), 0, "the range may be shared again");
	is_int(fault_at(c, a, SVA_ACCESS_READ | SVA_ACCESS_WRITE), 0, "  and faults there resolve again");
	is_int(sva_ctx_unshare_memfd(c->ctx, a, 2 * PG), 0, "unshare");
	is_int(sva_ctx_unshare_memfd(c->ctx, a + 2 * PG, 2 * PG), 0, "unshare the other");
	is_int(fds_become(bpid, fds0), fds0, "the broker holds as many descriptors as before the first share");
	close(fd);
	unmap_slot(a, SLOT);
}

/* The share passes the memfd: the caller's descriptor may be closed, and
 * what the process writes after the share is the page the fault maps. */
static void check_share_semantics(struct client *c)
{
	char *a = slot(next_slot++), *b = slot(next_slot++), *h = slot(next_slot++);
	int fd = map_memfd(a, 16, 0, 0), fd2;
	uint64_t m0;
	char proc[64];

	ok(sva_ctx_share_memfd(c->ctx, fd, 0, a, 2 * PG) == 0, "share 2 pages of a 16-page mapping");
	close(fd);
	m0 = mapped_pages(c);
	is_int(fault_at(c, a, SVA_ACCESS_READ), 0, "the caller closed its descriptor: a fault still resolves");
	ok(mapped_pages(c) - m0 >= 1 && mapped_pages(c) - m0 <= 2,
	   "  the fault-around window is clipped to the shared range: %llu pages mapped",
	   (unsigned long long)(mapped_pages(c) - m0));
	is_int(fault_at(c, a + 2 * PG, SVA_ACCESS_READ), -EFAULT, "  the page after the range: INVALID -EFAULT");
	is_int(sva_mm_prefault(c->mm, a, 2 * PG), 0, "a prefault of the shared range: 0");
	is_int(sva_mm_prefault(c->mm, a, 3 * PG), -EFAULT, "one running past it: -EFAULT");
	is_int(sva_ctx_unshare_memfd(c->ctx, a, 2 * PG), 0, "unshare");

	/* A range ending inside the mapping, anywhere (one page in the middle). */
	fd = map_memfd(b, 8, MFD_ALLOW_SEALING, 0);
	is_int(sva_ctx_share_memfd(c->ctx, fd, 3 * PG, b + 3 * PG, PG), 0, "share one page in the middle of a mapping");
	m0 = mapped_pages(c);
	is_int(fault_at(c, b + 3 * PG + 100, SVA_ACCESS_WRITE), 0, "  a write fault there resolves");
	is_int((int)(mapped_pages(c) - m0), 1, "  exactly its page is mapped");
	is_int(fault_at(c, b + 2 * PG, SVA_ACCESS_READ), -EFAULT, "  the page before: INVALID -EFAULT");
	is_int(fault_at(c, b + 4 * PG, SVA_ACCESS_READ), -EFAULT, "  the page after: INVALID -EFAULT");
	is_int(sva_ctx_unshare_memfd(c->ctx, b + 3 * PG, PG), 0, "unshare");

	/* Rights: a read-only descriptor, and a seal added after the share. */
	snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fd);
	fd2 = open(proc, O_RDONLY | O_CLOEXEC);
	is_int(sva_ctx_share_memfd(c->ctx, fd2, 0, b, PG), 0, "share a page through an O_RDONLY reopen");
	close(fd2);
	is_int(fault_at(c, b, SVA_ACCESS_WRITE), -EACCES, "  a device write there: INVALID -EACCES");
	is_int(fault_at(c, b, SVA_ACCESS_READ), 0, "  a device read: resolved");
	is_int(sva_mm_prefault(c->mm, b, PG), -EACCES, "  a prefault of the writable mapping: -EACCES");
	is_int(sva_ctx_share_memfd(c->ctx, fd, PG, b + PG, PG), 0, "share the next page through the memfd itself");
	is_int(fault_at(c, b + PG, SVA_ACCESS_WRITE), 0, "  a device write resolves before any seal");
	ok(fcntl(fd, F_ADD_SEALS, F_SEAL_FUTURE_WRITE) == 0, "add F_SEAL_FUTURE_WRITE");
	is_int(sva_ctx_share_memfd(c->ctx, fd, 5 * PG, b + 5 * PG, PG), 0, "share another page of the sealed memfd");
	is_int(fault_at(c, b + 5 * PG, SVA_ACCESS_WRITE), -EACCES, "  a device write there: INVALID -EACCES");
	is_int(fault_at(c, b + 5 * PG, SVA_ACCESS_READ), 0, "  a read resolves");
	is_int(sva_ctx_unshare_memfd(c->ctx, b, PG), 0, "unshare");
	is_int(sva_ctx_unshare_memfd(c->ctx, b + PG, PG), 0, "unshare");
	is_int(sva_ctx_unshare_memfd(c->ctx, b + 5 * PG, PG), 0, "unshare");
	close(fd);

	/* Nothing mapped at addr; another file mapped there. */
	fd = memfd_create("ktest-share-hole", MFD_CLOEXEC);
	if (fd < 0 || ftruncate(fd, 4 * PG))
		tap_bail("memfd");
	munmap(h, SLOT);
	is_int(sva_ctx_share_memfd(c->ctx, fd, 0, h, 2 * PG), 0,
	       "share at an address with nothing mapped: accepted (not checked)");
	is_int(sva_mm_prefault(c->mm, h, 2 * PG), -EFAULT, "  a prefault there: -EFAULT");
	is_int(fault_at(c, h, SVA_ACCESS_READ), -EFAULT, "  a fault there: INVALID -EFAULT");
	is_int(sva_ctx_unshare_memfd(c->ctx, h, 2 * PG), 0, "unshare");
	if (mmap(h, SLOT, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0) != h)
		tap_bail("mmap anon");
	is_int(sva_ctx_share_memfd(c->ctx, fd, 0, h, 2 * PG), 0, "share where anonymous memory is mapped");
	is_int(sva_mm_prefault(c->mm, h, 2 * PG), 0, "  a prefault maps the memfd's pages with no error");
	is_int(sva_ctx_unshare_memfd(c->ctx, h, 2 * PG), 0, "unshare");
	unmap_slot(h, SLOT);

	/* Truncated below offset + len after the share. */
	{
		char *t = slot(next_slot++);
		int tf = map_memfd(t, 4, 0, 1);

		is_int(sva_ctx_share_memfd(c->ctx, tf, 0, t, 4 * PG), 0, "share 4 pages");
		ok(ftruncate(tf, 2 * PG) == 0, "truncate the memfd to 2 pages");
		is_int(sva_mm_prefault(c->mm, t + 2 * PG, 2 * PG), -EINVAL, "  a prefault of the pages past its end: -EINVAL");
		is_int(fault_at(c, t + 3 * PG, SVA_ACCESS_READ), -EINVAL, "  a fault there: INVALID -EINVAL");
		is_int(sva_mm_prefault(c->mm, t, 2 * PG), 0, "  the pages before the end: 0");
		is_int(sva_ctx_unshare_memfd(c->ctx, t, 4 * PG), 0, "unshare");
		close(tf);
		unmap_slot(t, SLOT);
	}
	unmap_slot(a, SLOT);
	unmap_slot(b, SLOT);
	close(fd);
}

/* Outside the window: -ERANGE however shared. */
static void check_window(struct client *c)
{
	struct sva_iova_range r[16];
	size_t nr = 16;
	uint64_t top = 0;
	void *p = MAP_FAILED;
	int fd;

	if (sva_mm_iova_ranges(c->mm, r, &nr) || nr == 0 || nr > 16) {
		skip(3, "no window");
		return;
	}
	top = r[nr - 1].last + 1;
	if (top != 0 && top < (1ull << 46))
		p = mmap((void *)(uintptr_t)top, PG, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED_NOREPLACE |
			 MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED) {
		skip(3, "the window reaches past where a process maps");
		return;
	}
	munmap(p, PG);
	fd = memfd_create("ktest-share-range", MFD_CLOEXEC);
	if (fd < 0 || ftruncate(fd, PG))
		tap_bail("memfd");
	p = mmap((void *)(uintptr_t)top, PG, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED_NOREPLACE, fd, 0);
	is_int(sva_ctx_share_memfd(c->ctx, fd, 0, p, PG), 0, "share a page past the window");
	is_int(sva_mm_prefault(c->mm, p, PG), -ERANGE, "  a prefault: -ERANGE");
	is_int(sva_ctx_unshare_memfd(c->ctx, p, PG), 0, "  unshare");
	munmap(p, PG);
	close(fd);
}

/* 64 ranges at most; -ECHILD in a forked child, before the arguments. */
static void check_limits(struct client *c, pid_t bpid)
{
	char *a = slot(next_slot);
	int fd = memfd_create("ktest-share-64", MFD_CLOEXEC), fds0 = settled_fds(bpid), ret = 0;
	unsigned i;

	next_slot += 5;
	if (fd < 0 || ftruncate(fd, 65 * PG) ||
	    mmap(a, 65 * PG, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED, fd, 0) != a)
		tap_bail("memfd of 65 pages");
	for (i = 0; i < 64 && !ret; i++)
		ret = sva_ctx_share_memfd(c->ctx, fd, (uint64_t)i * PG, a + (size_t)i * PG, PG);
	ok(!ret && i == 64, "64 ranges shared (%d at %u)", ret, i);
	is_int(fds_become(bpid, fds0 + 64), fds0 + 64, "  the broker holds 64 descriptors more");
	is_int(sva_ctx_share_memfd(c->ctx, fd, 64 * PG, a + 64 * PG, PG), -ENOSPC, "a 65th: -ENOSPC");
	is_int(fault_at(c, a + 64 * PG, SVA_ACCESS_READ), -EFAULT, "  it is not shared");
	is_int(fault_at(c, a + 63 * PG, SVA_ACCESS_READ), 0, "  the 64th is");
	is_int(sva_ctx_unshare_memfd(c->ctx, a, PG), 0, "unshare one");
	is_int(sva_ctx_share_memfd(c->ctx, fd, 64 * PG, a + 64 * PG, PG), 0, "  then the 65th fits");

	{
		pid_t pid = fork();
		int status;

		if (pid == 0) {
			int r1 = sva_ctx_share_memfd(c->ctx, fd, 0, a, PG);
			int r2 = sva_ctx_share_memfd(c->ctx, -1, 3, a + 1, 0);
			int r3 = sva_ctx_unshare_memfd(c->ctx, a + 64 * PG, PG);
			int r4 = sva_ctx_unshare_memfd(c->ctx, a, 0);

			_exit((r1 == -ECHILD) | (r2 == -ECHILD) << 1 | (r3 == -ECHILD) << 2 | (r4 == -ECHILD) << 3);
		}
		waitpid(pid, &status, 0);
		ok(WIFEXITED(status) && (WEXITSTATUS(status) & 1), "a forked child's share: -ECHILD");
		ok(WIFEXITED(status) && (WEXITSTATUS(status) & 2), "  with bad arguments too (context checked first)");
		ok(WIFEXITED(status) && (WEXITSTATUS(status) & 4), "a forked child's unshare: -ECHILD");
		ok(WIFEXITED(status) && (WEXITSTATUS(status) & 8), "  with bad arguments too");
	}
	is_int(fault_at(c, a + 64 * PG, SVA_ACCESS_READ), 0, "the parent's range is still shared after the child");
	ret = 0;
	for (i = 1; i < 65 && !ret; i++)
		ret = sva_ctx_unshare_memfd(c->ctx, a + (size_t)i * PG, PG);
	is_int(ret, 0, "unshare all");
	is_int(fds_become(bpid, fds0), fds0, "  the broker holds as many descriptors as before");
	close(fd);
	munmap(a, 65 * PG);
}

/* isolated-pin-max (here 64 KiB): a prefault beyond it -ENOMEM; an unshare
 * gives the bytes back. */
static void check_pin_max(struct client *c)
{
	char *a = slot(next_slot++), *b = slot(next_slot++);
	int fa = map_memfd(a, 16, 0, 2), fb = map_memfd(b, 16, 0, 3);

	is_int(sva_ctx_share_memfd(c->ctx, fa, 0, a, 16 * PG), 0, "share 64 KiB");
	is_int(sva_ctx_share_memfd(c->ctx, fb, 0, b, 16 * PG), 0, "share 64 KiB more");
	is_int(sva_mm_prefault(c->mm, a, 16 * PG), 0, "prefault the whole isolated-pin-max (64 KiB)");
	is_int(sva_mm_prefault(c->mm, b, PG), -ENOMEM, "one page more: -ENOMEM");
	is_int(fault_at(c, b, SVA_ACCESS_READ), -ENOMEM, "a device fault there: INVALID -ENOMEM");
	is_int(sva_ctx_unshare_memfd(c->ctx, a, 16 * PG), 0, "unshare the first");
	is_int(sva_mm_prefault(c->mm, b, 16 * PG), 0, "  its bytes came back: the second fits");
	is_int(sva_ctx_unshare_memfd(c->ctx, b, 16 * PG), 0, "unshare");
	close(fa);
	close(fb);
	unmap_slot(a, SLOT);
	unmap_slot(b, SLOT);
}

/* A client that shares and is killed: the broker closes what it held and
 * serves the others. */
static void check_client_death(struct client *c, pid_t bpid)
{
	int fds0 = settled_fds(bpid), ready[2], status;
	char *a = slot(next_slot++);
	pid_t pid;

	(void)a;
	if (pipe2(ready, O_CLOEXEC))
		tap_bail("pipe");
	pid = spawn_self("--die", ready[1]);
	close(ready[1]);
	{
		int ok1 = 0;

		ok(read(ready[0], &ok1, sizeof(ok1)) == sizeof(ok1) && ok1,
		   "a child: an isolated context, a share and a prefault; it holds no iommufd");
	}
	close(ready[0]);
	ok(count_fds(bpid) >= fds0 + 2, "  the broker holds its socket and its memfd (%d, was %d)", count_fds(bpid),
	   fds0);
	kill(pid, SIGKILL);
	waitpid(pid, &status, 0);
	is_int(fds_become(bpid, fds0), fds0, "kill -9: the broker closed the client's socket and memfd");
	{
		char path[128], want[128];

		snprintf(path, sizeof(path), "/tmp/ktest-share-mmexit-%d", (int)pid);
		snprintf(want, sizeof(want), "args m mock ");
		ok(file_has(path, want), "  the device's mm-exit program ran with name and source");
		snprintf(want, sizeof(want), " %d\n", (int)pid);
		ok(file_has(path, want), "  and the client's pid last");
		ok(file_has(path, "env 5 PATH=/usr/sbin:/usr/bin:/sbin:/bin SVA_DEVICE=m SVA_SOURCE=mock SVA_PASID="),
		   "  its environment: only PATH, SVA_DEVICE, SVA_SOURCE, SVA_PASID, SVA_CLIENT_PID");
		ok(file_has(path, "marker none"), "  the broker's own environment does not reach it");
		ok(file_has(path, "stdin-null 1"), "  its standard input /dev/null");
		unlink(path);
	}
	is_int(fault_at(c, slot(0), SVA_ACCESS_READ), -EFAULT, "another client is served (a fault answered)");
}

/* max-clients (here 4) counts raw connections before their hello. */
static void check_max_clients(struct client *c, int live)
{
	int raw[8], n = 0, ret = -1;
	struct sva_ctx *x = NULL;

	while (live + n < 4)
		raw[n++] = raw_connect();
	usleep(100000);
	ret = new_ctx(SVA_CTX_BROKER | SVA_CTX_ISOLATED, &x);
	is_int(ret, -EUSERS, "%d connections held without a hello fill max-clients: a new client gets -EUSERS", n);
	if (!ret)
		sva_ctx_free(x);
	close(raw[--n]);
	for (int64_t end = now_ms() + 3000; now_ms() < end; usleep(20000)) {
		ret = new_ctx(SVA_CTX_BROKER | SVA_CTX_ISOLATED, &x);
		if (ret != -EUSERS)
			break;
	}
	is_int(ret, 0, "one closed: a new client is served");
	if (!ret)
		sva_ctx_free(x);
	while (n)
		close(raw[--n]);
	is_int(fault_at(c, slot(0), SVA_ACCESS_READ), -EFAULT, "the first client is still served");
}

/* Read one reply: its size (0 at the socket's end, -1 on timeout), and
 * whether it carried a descriptor. */
static char reply_fd_link[128]; /* the first descriptor a reply carried */

static ssize_t read_reply(int s, char *buf, size_t len, bool *fd_given)
{
	char cbuf[CMSG_SPACE(8 * sizeof(int))];
	struct iovec io = { .iov_base = buf, .iov_len = len };
	struct msghdr m = { .msg_iov = &io, .msg_iovlen = 1, .msg_control = cbuf, .msg_controllen = sizeof(cbuf) };
	struct timeval tv = { .tv_sec = 3 };
	ssize_t r;

	setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	r = recvmsg(s, &m, MSG_CMSG_CLOEXEC);
	if (r < 0)
		return -1;
	for (struct cmsghdr *cm = CMSG_FIRSTHDR(&m); cm; cm = CMSG_NXTHDR(&m, cm))
		if (cm->cmsg_level == SOL_SOCKET && cm->cmsg_type == SCM_RIGHTS) {
			*fd_given = true;
			for (size_t i = 0; i < (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int); i++) {
				int fd;

				memcpy(&fd, CMSG_DATA(cm) + i * sizeof(int), sizeof(fd));
				if (i == 0) {
					char p[64];
					ssize_t n;

					snprintf(p, sizeof(p), "/proc/self/fd/%d", fd);
					n = readlink(p, reply_fd_link, sizeof(reply_fd_link) - 1);
					reply_fd_link[n > 0 ? n : 0] = '\0';
				}
				close(fd);
			}
		}
	return r;
}

static bool reply_says(const char *buf, ssize_t n, int err)
{
	int32_t want = -err;

	for (ssize_t i = 0; i + 4 <= n; i += 4)
		if (!memcmp(buf + i, &want, 4))
			return true;
	return false;
}

/* An untrusted client speaking garbage: answered, disconnected, handed no
 * descriptor; the others keep being served. */
static void check_garbage(struct client *c, pid_t bpid)
{
	char buf[4096];
	bool fd_given;
	ssize_t r, r2;
	int s, fds0 = settled_fds(bpid);

	s = raw_connect();
	fd_given = false;
	ok(s >= 0 && send(s, "", 0, 0) == 0, "a raw connection sends a message of 0 bytes");
	r = read_reply(s, buf, sizeof(buf), &fd_given);
	ok(r == 0 && !fd_given, "  no reply: the socket's end (%zd)", r);
	close(s);

	s = raw_connect();
	fd_given = false;
	ok(s >= 0 && send(s, "xyz", 3, 0) == 3, "a raw connection sends 3 bytes");
	r = read_reply(s, buf, sizeof(buf), &fd_given);
	ok(r > 0 && !fd_given, "  a reply (%zd bytes), with no descriptor", r);
	ok(r > 0 && reply_says(buf, r, EBADMSG), "  it says -EBADMSG");
	r2 = read_reply(s, buf, sizeof(buf), &fd_given);
	ok(r2 == 0 && !fd_given, "  then the client is disconnected (%zd)", r2);
	close(s);

	s = raw_connect();
	fd_given = false;
	memset(buf, 0xff, sizeof(buf));
	ok(s >= 0 && send(s, buf, sizeof(buf), 0) == (ssize_t)sizeof(buf), "a raw connection sends 4 KiB of 0xff");
	r = read_reply(s, buf, sizeof(buf), &fd_given);
	ok(r > 0 && !fd_given && reply_says(buf, r, EBADMSG), "  answered -EBADMSG (%zd bytes), no descriptor", r);
	r2 = read_reply(s, buf, sizeof(buf), &fd_given);
	is_int((int)r2, 0, "  then disconnected");
	close(s);

	/* Two descriptors with one message. */
	s = raw_connect();
	{
		int fds[2] = { 0, 1 };
		char cbuf[CMSG_SPACE(sizeof(fds))];
		char xyz[] = "xyz";
		struct iovec io = { .iov_base = xyz, .iov_len = 3 };
		struct msghdr m = { .msg_iov = &io, .msg_iovlen = 1, .msg_control = cbuf, .msg_controllen = sizeof(cbuf) };
		struct cmsghdr *cm = CMSG_FIRSTHDR(&m);

		cm->cmsg_level = SOL_SOCKET;
		cm->cmsg_type = SCM_RIGHTS;
		cm->cmsg_len = CMSG_LEN(sizeof(fds));
		memcpy(CMSG_DATA(cm), fds, sizeof(fds));
		fd_given = false;
		ok(s >= 0 && sendmsg(s, &m, 0) == 3, "a raw connection sends a message with two descriptors");
		r = read_reply(s, buf, sizeof(buf), &fd_given);
		ok(r > 0 && !fd_given && (reply_says(buf, r, EPROTO) || reply_says(buf, r, EBADMSG)),
		   "  answered -EPROTO or -EBADMSG (%zd bytes), no descriptor", r);
		r2 = read_reply(s, buf, sizeof(buf), &fd_given);
		is_int((int)r2, 0, "  then disconnected");
	}
	close(s);
	is_int(fds_become(bpid, fds0), fds0, "the broker kept none of the descriptors sent");
	is_int(fault_at(c, slot(0), SVA_ACCESS_READ), -EFAULT, "the isolated client is still served");
	{
		char *a = slot(next_slot++);
		int fd = map_memfd(a, 1, 0, 4);

		is_int(sva_ctx_share_memfd(c->ctx, fd, 0, a, PG), 0, "  it still shares");
		is_int(fault_at(c, a, SVA_ACCESS_READ), 0, "  and its faults resolve");
		is_int(sva_ctx_unshare_memfd(c->ctx, a, PG), 0, "  unshare");
		close(fd);
		unmap_slot(a, SLOT);
	}
}

/* A user in no allowlist, connecting through a socket of mode 0666. */
/* Can a user other than root reach paths at all?  Not in a root
 * directory of mode 0700 (an initramfs packed from mktemp -d's). */
static bool others_reach_paths(void)
{
	struct stat st;

	return stat("/", &st) == 0 && (st.st_mode & S_IXOTH) && stat("/tmp", &st) == 0 && (st.st_mode & S_IXOTH);
}

static void check_allowlist(void)
{
	pid_t pid;
	int status;

	if (!others_reach_paths()) {
		skip(3, "/ or /tmp closed to other users");
		return;
	}
	pid = spawn_self("--stranger", -1);

	waitpid(pid, &status, 0);
	if (WIFEXITED(status) && WEXITSTATUS(status) == 100) {
		skip(3, "cannot change user");
		return;
	}
	ok(WIFEXITED(status) && (WEXITSTATUS(status) & 1), "uid 65534, in no allowlist: isolated hello -EACCES");
	ok(WIFEXITED(status) && (WEXITSTATUS(status) & 2), "  trusted hello -EACCES");
	{
		char log[PATH_MAX];

		snprintf(log, sizeof(log), "%s/b1.log", dir);
		ok(file_has(log, "libsva warn: sva-brokerd: ") && file_has(log, "65534"),
		   "the refusal of a user in no allowlist: a warning in the broker's log, naming the uid");
	}
}


static bool file_has(const char *path, const char *what)
{
	char buf[65536];
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n = fd < 0 ? -1 : read(fd, buf, sizeof(buf) - 1);

	if (fd >= 0)
		close(fd);
	if (n <= 0)
		return false;
	buf[n] = '\0';
	for (ssize_t i = 0; i < n; i++)
		if (!buf[i])
			buf[i] = ' ';
	return strstr(buf, what) != NULL;
}

/* The socket as configured; a second broker, a file or a live socket at
 * the path; the socket's directory made when missing. */
static void check_socket(pid_t bpid)
{
	struct stat st = { 0 };
	char other[96], conf[PATH_MAX], text[512], out[4096], err[4096];
	int r, s;
	struct sockaddr_un a = { .sun_family = AF_UNIX };

	(void)bpid;
	r = stat(sock, &st); /* before ok(): its arguments' order is unspecified */
	ok(r == 0 && S_ISSOCK(st.st_mode) && (st.st_mode & 07777) == 0666 && st.st_gid == 4242,
	   "the socket: mode 0666, group 4242 as configured (%o, %u)", (unsigned)(st.st_mode & 07777),
	   (unsigned)st.st_gid);
	snprintf(conf, sizeof(conf), "%s/other.conf", dir);
	snprintf(text, sizeof(text), "socket %s\ndevice m mock\nallow m uid 0\n", sock);
	write_file(conf, text, strlen(text));
	r = run_brokerd((const char *[]){ "-c", conf, NULL }, out, sizeof(out), err, sizeof(err));
	ok(r == 1 && strstr(err, "cannot listen on") && strstr(err, "not removing it"),
	   "a second broker at a live socket: status 1, \"cannot listen on ...: not removing it\" (%d: %.150s)", r,
	   err);
	ok(stat(sock, &st) == 0 && S_ISSOCK(st.st_mode), "  the first broker's socket stays");
	s = raw_connect();
	ok(s >= 0, "  and still takes connections");
	if (s >= 0)
		close(s);

	snprintf(other, sizeof(other), "%s/plain", dir);
	write_file(other, "x", 1);
	r = run_brokerd((const char *[]){ "-c", conf, "-s", other, NULL }, out, sizeof(out), err, sizeof(err));
	ok(r == 1 && strstr(err, "cannot listen on"), "-s at a plain file: status 1 (%d: %.120s)", r, err);
	ok(stat(other, &st) == 0 && S_ISREG(st.st_mode), "  the file stays");

	/* A stale socket (bound, nobody listening) is removed and the broker starts. */
	snprintf(other, sizeof(other), "%s/stale", dir);
	s = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	snprintf(a.sun_path, sizeof(a.sun_path), "%s", other);
	ok(s >= 0 && bind(s, (struct sockaddr *)&a, sizeof(a)) == 0, "a stale socket at %s", other);
	close(s);
	{
		char saved[108];
		pid_t p;

		memcpy(saved, sock, sizeof(saved));
		snprintf(sock, sizeof(sock), "%s", other);
		broker_log_level = "debug"; /* what it did, if it does not stop */
		start_keeps_path = true;
		p = start_broker("stale", "");
		start_keeps_path = false;
		ok(p > 0, "  a broker starts there (the stale socket removed)");
		is_int(signal_broker(p, SIGTERM, "stale"), 0, "  stops on SIGTERM with status 0");
		ok(access(other, F_OK) != 0, "  and removes its socket");

		/* The socket's directory, made when only it is missing. */
		snprintf(sock, sizeof(sock), "%s/newdir/sock", dir);
		p = start_broker("newdir", "");
		snprintf(other, sizeof(other), "%s/newdir", dir);
		r = stat(other, &st);
		ok(r == 0 && S_ISDIR(st.st_mode) && (st.st_mode & 07777) == 0755,
		   "a missing socket directory is made, mode 0755 (%o)", (unsigned)(st.st_mode & 07777));
		is_int(signal_broker(p, SIGHUP, "newdir"), 0, "  SIGHUP stops the broker with status 0");
		/* sva-brokerd(8), FILES: mode 0755 whatever the umask (mkdir(2)
		 * alone gave 0700 under umask 077, and clients other than root
		 * could not reach the socket inside, whatever socket-mode said). */
		snprintf(sock, sizeof(sock), "%s/newdir077/sock", dir);
		start_umask = 077;
		p = start_broker("newdir077", "");
		start_umask = -1;
		snprintf(other, sizeof(other), "%s/newdir077", dir);
		r = stat(other, &st); /* before ok(): its arguments' order is unspecified */
		ok(r == 0 && S_ISDIR(st.st_mode) && (st.st_mode & 07777) == 0755, "  under umask 077 too: mode 0755 (%o)",
		   (unsigned)(st.st_mode & 07777));
		r = stat(sock, &st);
		ok(r == 0 && (st.st_mode & 0777) == 0666, "  and the socket has its socket-mode, 0666 (%o)",
		   (unsigned)(st.st_mode & 0777));
		is_int(signal_broker(p, SIGTERM, "newdir077"), 0, "  the broker stops on SIGTERM");
		snprintf(other, sizeof(other), "%s/no/such/sock", dir);
		r = run_brokerd((const char *[]){ "-c", conf, "-s", other, NULL }, out, sizeof(out), err, sizeof(err));
		ok(r == 1 && strstr(err, "cannot start"), "a socket two directories deep in nothing: status 1 (%d: %.120s)",
		   r, err);
		memcpy(sock, saved, sizeof(saved));
		broker_log_level = "warn";
	}
}

/* Devices: outside the allowlist -EACCES, a second open -EBUSY. */
static void check_devices(struct client *c)
{
	struct sva_dev *d = NULL;

	is_int(sva_dev_open(c->ctx, "m", &d), -EBUSY, "a second open of a device the client has open: -EBUSY");
	is_int(sva_dev_open(c->ctx, "m2", &d), -EACCES, "a device whose allowlist lacks the client: -EACCES");
	/* sva_dev_open(3), in a broker context: "-ENOENT The broker's
	 * configuration names no such device." */
	is_int(sva_dev_open(c->ctx, "nosuch", &d), -ENOENT, "a name the broker's configuration lacks: -ENOENT");
	ok(d == NULL, "  none of the refusals wrote *out");
}

/*
 * sva_dev_inject_fault(3), ERRORS: "-EPERM An isolated broker client asked
 * for a pasid outside its global block (0 and the device's own PASIDs
 * included): the broker refuses it".  Each refusal leaves the client as it
 * was: its bond's counts unchanged, and a fault at its own PASID is still
 * raised and resolved afterwards.
 */
static void check_inject_outside_block(struct client *c)
{
	struct sva_pasid_stats st = { .size = sizeof(st) };
	struct sva_bond_stats a = { .size = sizeof(a) }, b = { .size = sizeof(b) };
	uint32_t bad[4];
	unsigned wrong = 0;
	char *s;
	int fd;

	if (sva_pasid_stats(sva_ctx_global_pasids(c->ctx), &st) || st.min < 3 || st.max >= SVA_PASID_MAX)
		tap_bail("the isolated client's global block");
	bad[0] = 0;	     /* not a PASID */
	bad[1] = 1;	     /* the device's own space: the broker's */
	bad[2] = st.min - 1; /* just below the block */
	bad[3] = st.max + 1; /* just above it */
	s = slot(next_slot++);
	fd = map_memfd(s, 1, 0, 0x3c);
	if (sva_ctx_share_memfd(c->ctx, fd, 0, s, PG))
		tap_bail("share a page for the injections");
	sva_bond_stats(c->bond, &a);
	for (unsigned i = 0; i < 4; i++) {
		int ret = sva_dev_inject_fault(c->dev, bad[i], (uint64_t)(uintptr_t)s, SVA_ACCESS_READ, 0);

		if (ret != -EPERM) {
			diag("inject at PASID %u (block [%u, %u]): %d, not -EPERM", bad[i], st.min, st.max, ret);
			wrong++;
		}
	}
	sva_bond_stats(c->bond, &b);
	is_int(wrong, 0, "isolated client: an injection at PASID 0, 1 (the device's own) or just outside its block "
		"[%u, %u]: -EPERM", st.min, st.max);
	ok(b.faults == a.faults && b.invalid == a.invalid && b.pages_mapped == a.pages_mapped,
	   "  the bond's counts are unchanged (faults %llu -> %llu, pages %llu -> %llu)",
	   (unsigned long long)a.faults, (unsigned long long)b.faults, (unsigned long long)a.pages_mapped,
	   (unsigned long long)b.pages_mapped);
	is_int(fault_at(c, s, SVA_ACCESS_READ), 0, "  and a fault at its own PASID is still raised and resolved");
	sva_ctx_unshare_memfd(c->ctx, s, PG);
	unmap_slot(s, PG);
	close(fd);
}

/* More of the context's life: unshare reaches every address space; an
 * invalidate or the address space's end gives the pin bytes back; the
 * context's end closes what the broker held; a write seal counts from the
 * next writable map. */
static void check_more(struct client *c, pid_t bpid)
{
	struct sva_mm *mm2 = NULL;
	struct sva_bond *b2 = NULL;
	struct sva_bind_opts bo = { .size = sizeof(bo), .ops = &ops };
	char *a = slot(next_slot++), *b = slot(next_slot++);
	int fa = map_memfd(a, 16, MFD_ALLOW_SEALING, 1), fb, ret;
	int fds0 = settled_fds(bpid);

	ret = sva_mm_new(c->ctx, NULL, &mm2);
	is_int(ret, 0, "a second address space");
	ret = ret ? ret : sva_bind(c->dev, mm2, &bo, &b2);
	is_int(ret, 0, "  bound too");
	is_int(sva_ctx_share_memfd(c->ctx, fa, 0, a, 4 * PG), 0, "share 4 pages");
	is_int(sva_mm_prefault(c->mm, a, 2 * PG), 0, "prefault them in the first address space");
	if (mm2)
		is_int(sva_mm_prefault(mm2, a, 2 * PG), 0, "  and in the second");
	is_int(sva_ctx_unshare_memfd(c->ctx, a, 4 * PG), 0, "unshare");
	is_int(fault_at(c, a, SVA_ACCESS_READ), -EFAULT, "  a fault in the first: INVALID -EFAULT");
	if (b2) {
		struct client c2 = { .ctx = c->ctx, .dev = c->dev, .mm = mm2, .bond = b2 };

		is_int(fault_at(&c2, a, SVA_ACCESS_READ), -EFAULT, "  and in the second: INVALID -EFAULT");
	}

	/* isolated-pin-max (64 KiB): an invalidate and an address space's end
	 * give bytes back. */
	fb = map_memfd(b, 16, 0, 2);
	is_int(sva_ctx_share_memfd(c->ctx, fa, 0, a, 16 * PG), 0, "share 64 KiB");
	is_int(sva_ctx_share_memfd(c->ctx, fb, 0, b, 16 * PG), 0, "share 64 KiB more");
	is_int(sva_mm_prefault(c->mm, a, 16 * PG), 0, "prefault the whole isolated-pin-max");
	is_int(sva_mm_prefault(c->mm, b, PG), -ENOMEM, "  one page more: -ENOMEM");
	ok(sva_mm_invalidate(c->mm, a, 16 * PG) >= 0, "sva_mm_invalidate the first range");
	is_int(sva_mm_prefault(c->mm, b, 16 * PG), 0, "  its bytes came back");
	is_int(sva_mm_prefault(c->mm, a, PG), -ENOMEM, "  full again: -ENOMEM");
	if (mm2) {
		sva_mm_invalidate(c->mm, b, 16 * PG);
		is_int(sva_mm_prefault(mm2, b, 16 * PG), 0, "prefault 64 KiB in the second address space");
		is_int(sva_mm_prefault(c->mm, a, PG), -ENOMEM, "  the first: -ENOMEM (one budget per client)");
		sva_unbind(b2);
		sva_mm_free(mm2);
		mm2 = NULL;
		is_int(sva_mm_prefault(c->mm, a, PG), 0, "the second address space freed: its bytes came back");
	}
	sva_mm_invalidate(c->mm, a, 16 * PG);

	/* Fault-mapped memory is evicted to make room for a fault. */
	{
		unsigned resolved = 0;

		for (unsigned i = 0; i < 16; i++)
			resolved += fault_at(c, a + (size_t)i * PG, SVA_ACCESS_READ) == 0;
		is_int((int)resolved, 16, "16 faults fill isolated-pin-max with fault-mapped pages");
		is_int(fault_at(c, b, SVA_ACCESS_READ), 0, "  a fault beyond it resolves: cold chunks evicted");
	}
	is_int(sva_ctx_unshare_memfd(c->ctx, a, 16 * PG), 0, "unshare");
	is_int(sva_ctx_unshare_memfd(c->ctx, b, 16 * PG), 0, "unshare");

	/* A write seal added after a writable map: the page stays writable
	 * until unmapped; then the next map is read-only. */
	is_int(sva_ctx_share_memfd(c->ctx, fa, 0, a, PG), 0, "share a page of a sealable memfd");
	is_int(fault_at(c, a, SVA_ACCESS_WRITE), 0, "  a write fault maps it writable");
	ok(fcntl(fa, F_ADD_SEALS, F_SEAL_FUTURE_WRITE) == 0, "  seal it F_SEAL_FUTURE_WRITE");
	is_int(fault_at(c, a, SVA_ACCESS_WRITE), 0, "  a write fault again: still writable");
	ok(sva_mm_invalidate(c->mm, a, PG) >= 0, "  sva_mm_invalidate");
	is_int(fault_at(c, a, SVA_ACCESS_WRITE), -EACCES, "  then a write fault: INVALID -EACCES");
	is_int(sva_ctx_unshare_memfd(c->ctx, a, PG), 0, "unshare");
	close(fa);
	close(fb);
	unmap_slot(a, SLOT);
	unmap_slot(b, SLOT);
	is_int(fds_become(bpid, fds0), fds0, "the broker holds as many descriptors as before");

	/* A context that ends with ranges shared: the broker closes them. */
	{
		struct client k;
		char *x = slot(next_slot++);
		int fx = map_memfd(x, 4, 0, 5);

		ret = client_open(SVA_CTX_BROKER | SVA_CTX_ISOLATED, &k);
		is_int(ret, 0, "another isolated client");
		if (!ret) {
			is_int(sva_ctx_share_memfd(k.ctx, fx, 0, x, 2 * PG), 0, "  shares two ranges");
			is_int(sva_ctx_share_memfd(k.ctx, fx, 2 * PG, x + 2 * PG, 2 * PG), 0, "  ...");
			sva_mm_prefault(k.mm, x, 4 * PG);
			ok(count_fds(bpid) >= fds0 + 3, "  the broker holds its socket and two memfds");
		}
		client_close(&k);
		is_int(fds_become(bpid, fds0), fds0, "its context freed: the broker closed them");
		close(fx);
		unmap_slot(x, SLOT);
	}
}

/* Refused before the hello, for max-clients: the refusal comes at once,
 * the connection is closed after 1 s, at most 16 wait, the oldest closed
 * first. */
static void check_refused_early(int live)
{
	int held[8], n = 0, w[17];
	char buf[512];
	bool fd_given = false;
	ssize_t r;
	int64_t t;

	while (live + n < 4)
		held[n++] = raw_connect();
	usleep(100000);
	w[0] = raw_connect();
	t = now_ms();
	r = read_reply(w[0], buf, sizeof(buf), &fd_given);
	ok(r > 0 && !fd_given && reply_says(buf, r, EUSERS) && now_ms() - t < 500,
	   "a connection beyond max-clients gets a refusal at once, -EUSERS, no descriptor (%zd bytes, %lld ms)", r,
	   (long long)(now_ms() - t));
	r = read_reply(w[0], buf, sizeof(buf), &fd_given);
	ok(r == 0 && now_ms() - t >= 700 && now_ms() - t < 2500, "  closed after about 1 s (%zd, %lld ms)", r,
	   (long long)(now_ms() - t));
	close(w[0]);
	for (int i = 0; i < 17; i++)
		w[i] = raw_connect();
	usleep(300000);
	fd_given = false;
	r = read_reply(w[0], buf, sizeof(buf), &fd_given); /* the refusal */
	t = now_ms();
	r = read_reply(w[0], buf, sizeof(buf), &fd_given);
	ok(r == 0 && now_ms() - t < 400, "17 refused at once: the oldest is closed at once (%zd, %lld ms)", r,
	   (long long)(now_ms() - t));
	for (int i = 0; i < 17; i++)
		close(w[i]);
	while (n)
		close(held[--n]);
}


/* libsva's hello, as it sends it: caught at a socket of our own. */
struct catcher {
	uint32_t flags;
	const char *path;
	int ret;
};

static void *hello_thread(void *arg)
{
	struct catcher *k = arg;
	struct sva_ctx_opts o = { .size = sizeof(o), .flags = k->flags, .broker_path = k->path,
				  .log_level = SVA_LOG_OFF };
	struct sva_ctx *x = NULL;

	k->ret = sva_ctx_new(&o, &x);
	if (!k->ret)
		sva_ctx_free(x);
	return NULL;
}

static ssize_t catch_hello(uint32_t flags, char *buf, size_t len)
{
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	struct catcher k = { .flags = flags, .path = a.sun_path };
	int l = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0), c;
	struct timeval tv = { .tv_sec = 3 };
	pthread_t t;
	ssize_t n = -1;

	snprintf(a.sun_path, sizeof(a.sun_path), "%s/catch", dir);
	unlink(a.sun_path);
	if (l < 0 || bind(l, (struct sockaddr *)&a, sizeof(a)) || listen(l, 1))
		tap_bail("a socket to catch the hello: %s", strerror(errno));
	pthread_create(&t, NULL, hello_thread, &k);
	c = accept4(l, NULL, NULL, SOCK_CLOEXEC);
	if (c >= 0) {
		setsockopt(c, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
		n = recv(c, buf, len, 0);
		close(c); /* no reply: the context fails */
	}
	pthread_join(t, NULL);
	close(l);
	unlink(a.sun_path);
	return n;
}

/* A raw client replaying libsva's hello: what it gets; a second hello; the
 * hello cut short, made longer, or with a descriptor it does not announce. */
static void check_raw_hello(pid_t bpid)
{
	char hello[4096], buf[4096], bad[4097];
	ssize_t hn, r;
	bool fd_given;
	int s, fds0;

	(void)bpid;
	hn = catch_hello(SVA_CTX_BROKER | SVA_CTX_ISOLATED, hello, sizeof(hello));
	ok(hn > 0, "libsva's isolated hello, caught (%zd bytes)", hn);
	if (hn <= 0) {
		skip(9, "no hello");
		return;
	}
	fds0 = settled_fds(bpid);
	s = raw_connect();
	fd_given = false;
	reply_fd_link[0] = '\0';
	ok(send(s, hello, (size_t)hn, 0) == hn, "a raw client sends it");
	r = read_reply(s, buf, sizeof(buf), &fd_given);
	ok(r > 0 && !(fd_given && (strstr(reply_fd_link, "iommufd]") || !strcmp(reply_fd_link, "/dev/iommu"))),
	   "  a reply (%zd bytes), with no iommufd (%s)", r, fd_given ? reply_fd_link : "no descriptor");
	ok(send(s, hello, (size_t)hn, 0) == hn, "  a second hello");
	r = read_reply(s, buf, sizeof(buf), &fd_given);
	ok(r > 0 && reply_says(buf, r, EALREADY), "  answered -EALREADY (%zd bytes)", r);
	close(s);
	is_int(fds_become(bpid, fds0), fds0, "  closed: the broker keeps no descriptor of it");

	s = raw_connect();
	send(s, hello, (size_t)hn - 1, 0);
	r = read_reply(s, buf, sizeof(buf), &fd_given);
	ok(r > 0 && reply_says(buf, r, EBADMSG) && read_reply(s, buf, sizeof(buf), &fd_given) == 0,
	   "the hello one byte short: -EBADMSG, disconnected");
	close(s);
	s = raw_connect();
	memcpy(bad, hello, (size_t)hn);
	bad[hn] = 0;
	send(s, bad, (size_t)hn + 1, 0);
	r = read_reply(s, buf, sizeof(buf), &fd_given);
	ok(r > 0 && reply_says(buf, r, EBADMSG) && read_reply(s, buf, sizeof(buf), &fd_given) == 0,
	   "the hello one byte long: -EBADMSG, disconnected");
	close(s);
	s = raw_connect();
	{
		int one = 0;
		char cbuf[CMSG_SPACE(sizeof(int))];
		struct iovec io = { .iov_base = hello, .iov_len = (size_t)hn };
		struct msghdr m = { .msg_iov = &io, .msg_iovlen = 1, .msg_control = cbuf, .msg_controllen = sizeof(cbuf) };
		struct cmsghdr *cm = CMSG_FIRSTHDR(&m);

		cm->cmsg_level = SOL_SOCKET;
		cm->cmsg_type = SCM_RIGHTS;
		cm->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(cm), &one, sizeof(one));
		sendmsg(s, &m, 0);
	}
	r = read_reply(s, buf, sizeof(buf), &fd_given);
	ok(r > 0 && reply_says(buf, r, EPROTO) && read_reply(s, buf, sizeof(buf), &fd_given) == 0,
	   "the hello with a descriptor it does not count: -EPROTO, disconnected (%zd)", r);
	close(s);
	is_int(fds_become(bpid, fds0), fds0, "the broker kept none of it");

	hn = catch_hello(SVA_CTX_BROKER, hello, sizeof(hello));
	s = raw_connect();
	fd_given = false;
	reply_fd_link[0] = '\0';
	send(s, hello, hn > 0 ? (size_t)hn : 0, 0);
	r = read_reply(s, buf, sizeof(buf), &fd_given);
	ok(hn > 0 && r > 0 && fd_given && (strstr(reply_fd_link, "iommufd") || !strcmp(reply_fd_link, "/dev/iommu")),
	   "a trusted hello replayed: the reply carries the iommufd (%s)", reply_fd_link);
	close(s);
}


/*
 * libsva's share and unshare requests, as it sends them: a proxy between an
 * isolated context and the broker records what the client sends.  A raw
 * client then replays them with values and descriptors libsva would never
 * send, as a hostile client would: the broker checks them again itself.
 */
#define MAXREC 16

static struct {
	char msg[MAXREC][512];
	ssize_t len[MAXREC];
	bool fd[MAXREC];
	int n;
} rec;

static int fwd(int from, int to, bool record)
{
	char buf[4096], cbuf[CMSG_SPACE(4 * sizeof(int))];
	struct iovec io = { .iov_base = buf, .iov_len = sizeof(buf) };
	struct msghdr m = { .msg_iov = &io, .msg_iovlen = 1, .msg_control = cbuf, .msg_controllen = sizeof(cbuf) };
	int fds[4], nfd = 0;
	ssize_t n = recvmsg(from, &m, MSG_CMSG_CLOEXEC);

	if (n <= 0)
		return -1;
	for (struct cmsghdr *cm = CMSG_FIRSTHDR(&m); cm; cm = CMSG_NXTHDR(&m, cm))
		if (cm->cmsg_level == SOL_SOCKET && cm->cmsg_type == SCM_RIGHTS)
			for (size_t i = 0; i < (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int) && nfd < 4; i++)
				memcpy(&fds[nfd++], CMSG_DATA(cm) + i * sizeof(int), sizeof(int));
	if (record && rec.n < MAXREC && (size_t)n <= sizeof(rec.msg[0])) {
		memcpy(rec.msg[rec.n], buf, (size_t)n);
		rec.len[rec.n] = n;
		rec.fd[rec.n] = nfd > 0;
		rec.n++;
	}
	io.iov_len = (size_t)n;
	m.msg_controllen = nfd ? CMSG_SPACE(nfd * sizeof(int)) : 0;
	if (!nfd)
		m.msg_control = NULL;
	else {
		struct cmsghdr *cm = CMSG_FIRSTHDR(&m);

		cm->cmsg_level = SOL_SOCKET;
		cm->cmsg_type = SCM_RIGHTS;
		cm->cmsg_len = CMSG_LEN(nfd * sizeof(int));
		memcpy(CMSG_DATA(cm), fds, nfd * sizeof(int));
	}
	n = sendmsg(to, &m, MSG_NOSIGNAL);
	for (int i = 0; i < nfd; i++)
		close(fds[i]);
	return n < 0 ? -1 : 0;
}

struct proxied {
	const char *path;
	char *addr;
	int fd, share, unshare;
};

static void *proxied_client(void *arg)
{
	struct proxied *p = arg;
	struct sva_ctx_opts o = { .size = sizeof(o), .flags = SVA_CTX_BROKER | SVA_CTX_ISOLATED,
				  .broker_path = p->path, .log_level = SVA_LOG_OFF };
	struct sva_ctx *x = NULL;

	p->share = p->unshare = 1;
	if (sva_ctx_new(&o, &x))
		return NULL;
	p->share = sva_ctx_share_memfd(x, p->fd, 2 * PG, p->addr, 2 * PG);
	p->unshare = sva_ctx_unshare_memfd(x, p->addr, 2 * PG);
	sva_ctx_free(x);
	return NULL;
}

static bool record_requests(char *addr, int fd)
{
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	struct proxied p = { .path = a.sun_path, .addr = addr, .fd = fd };
	int l = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0), c, up;
	pthread_t t;

	snprintf(a.sun_path, sizeof(a.sun_path), "%s/proxy", dir);
	unlink(a.sun_path);
	if (l < 0 || bind(l, (struct sockaddr *)&a, sizeof(a)) || listen(l, 1))
		tap_bail("the proxy's socket: %s", strerror(errno));
	rec.n = 0;
	pthread_create(&t, NULL, proxied_client, &p);
	c = accept4(l, NULL, NULL, SOCK_CLOEXEC);
	up = raw_connect();
	if (c >= 0 && up >= 0)
		for (;;) {
			struct pollfd pf[2] = { { .fd = c, .events = POLLIN }, { .fd = up, .events = POLLIN } };

			if (poll(pf, 2, 5000) <= 0)
				break;
			if ((pf[0].revents & (POLLIN | POLLHUP)) && fwd(c, up, true))
				break;
			if ((pf[1].revents & (POLLIN | POLLHUP)) && fwd(up, c, false))
				break;
		}
	if (c >= 0)
		close(c);
	if (up >= 0)
		close(up);
	pthread_join(t, NULL);
	close(l);
	unlink(a.sun_path);
	return p.share == 0 && p.unshare == 0;
}

/* The offset of the 8-byte value v in a message, or -1. */
static ssize_t find_u64(const char *m, ssize_t n, uint64_t v)
{
	for (ssize_t i = 0; i + 8 <= n; i++)
		if (!memcmp(m + i, &v, 8))
			return i;
	return -1;
}

static ssize_t send_with_fd(int s, const void *msg, size_t len, int fd)
{
	char cbuf[CMSG_SPACE(sizeof(int))];
	struct iovec io = { .iov_base = (void *)(uintptr_t)msg, .iov_len = len };
	struct msghdr m = { .msg_iov = &io, .msg_iovlen = 1 };

	if (fd >= 0) {
		struct cmsghdr *cm;

		m.msg_control = cbuf;
		m.msg_controllen = sizeof(cbuf);
		cm = CMSG_FIRSTHDR(&m);
		cm->cmsg_level = SOL_SOCKET;
		cm->cmsg_type = SCM_RIGHTS;
		cm->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(cm), &fd, sizeof(int));
	}
	return sendmsg(s, &m, MSG_NOSIGNAL);
}

/* A raw isolated client (the hello replayed); -1 if it was refused. */
static int raw_isolated(const char *hello, ssize_t hn)
{
	char buf[4096];
	bool fd_given = false;
	int s = raw_connect();

	if (s < 0 || send(s, hello, (size_t)hn, 0) != hn || read_reply(s, buf, sizeof(buf), &fd_given) <= 0) {
		if (s >= 0)
			close(s);
		return -1;
	}
	return s;
}

/* Send msg (with fd, or none for -1): the reply says err? */
static bool ask(int s, const char *msg, ssize_t n, int fd, int err, ssize_t *got)
{
	char buf[4096];
	bool fd_given = false;
	ssize_t r;

	if (send_with_fd(s, msg, (size_t)n, fd) != n)
		return false;
	r = read_reply(s, buf, sizeof(buf), &fd_given);
	*got = r;
	return r > 0 && !fd_given && reply_says(buf, r, err);
}

static void check_raw_requests(pid_t bpid)
{
	char hello[4096], sh[512], un[512], m[512], *a = slot(next_slot++);
	ssize_t hn, shn = 0, unn = 0, off_addr, off_len, off_off, got;
	int fd = map_memfd(a, 4, 0, 6), s, fds0, i, p[2];
	char buf[4096];
	bool fd_given = false;

	hn = catch_hello(SVA_CTX_BROKER | SVA_CTX_ISOLATED, hello, sizeof(hello));
	ok(hn > 0 && record_requests(a, fd), "a share and an unshare through a recording proxy");
	for (i = 0; i < rec.n; i++) {
		if (find_u64(rec.msg[i], rec.len[i], (uint64_t)(uintptr_t)a) < 0)
			continue;
		if (rec.fd[i] && !shn) {
			shn = rec.len[i];
			memcpy(sh, rec.msg[i], (size_t)shn);
		} else if (!rec.fd[i] && !unn) {
			unn = rec.len[i];
			memcpy(un, rec.msg[i], (size_t)unn);
		}
	}
	off_addr = shn ? find_u64(sh, shn, (uint64_t)(uintptr_t)a) : -1;
	off_off = shn ? find_u64(sh, shn, 2 * PG) : -1;
	off_len = off_off >= 0 ? find_u64(sh + off_off + 8, shn - off_off - 8, 2 * PG) : -1;
	if (off_len >= 0)
		off_len += off_off + 8;
	ok(shn > 0 && unn > 0 && off_addr >= 0 && off_off >= 0 && off_len >= 0,
	   "  found them: %zd and %zd bytes (addr at %zd, offset and len at %zd, %zd)", shn, unn, off_addr, off_off,
	   off_len);
	if (!(shn > 0 && unn > 0 && off_addr >= 0 && off_off >= 0 && off_len >= 0)) {
		skip(14, "requests not found");
		close(fd);
		return;
	}
	/* offset and len are equal in the recorded share (2 pages each); which
	 * is which does not matter for the checks below but the wrap ones. */
	fds0 = settled_fds(bpid);

	s = raw_connect();
	ok(ask(s, sh, shn, fd, EPROTO, &got), "a share before the hello: -EPROTO (%zd)", got);
	close(s);

	s = raw_isolated(hello, hn);
	ok(s >= 0, "a raw isolated client (libsva's hello replayed)");
	if (pipe2(p, O_CLOEXEC))
		tap_bail("pipe");
	ok(ask(s, sh, shn, p[0], EINVAL, &got), "  its share of a pipe: the broker says -EINVAL");
	close(p[0]);
	close(p[1]);
	{
		char proc[64];
		int wo;

		snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fd);
		wo = open(proc, O_WRONLY | O_CLOEXEC);
		ok(ask(s, sh, shn, wo, EACCES, &got), "  of the memfd open O_WRONLY: -EACCES");
		close(wo);
	}
	memcpy(m, sh, (size_t)shn);
	*(uint64_t *)(void *)(m + off_addr) += 8;
	ok(ask(s, m, shn, fd, EINVAL, &got), "  at an unaligned addr: -EINVAL");
	memcpy(m, sh, (size_t)shn);
	*(uint64_t *)(void *)(m + off_len) = 0;
	ok(ask(s, m, shn, fd, EINVAL, &got), "  with len 0: -EINVAL");
	memcpy(m, sh, (size_t)shn);
	*(uint64_t *)(void *)(m + off_addr) = UINT64_MAX - PG + 1;
	ok(ask(s, m, shn, fd, EINVAL, &got), "  with addr + len past 2^64: -EINVAL");
	memcpy(m, sh, (size_t)shn);
	*(uint64_t *)(void *)(m + off_off) = UINT64_MAX - PG + 1;
	*(uint64_t *)(void *)(m + off_len) = UINT64_MAX - PG + 1;
	ok(ask(s, m, shn, fd, EINVAL, &got), "  with offset + len past 2^64: -EINVAL");
	memcpy(m, sh, (size_t)shn);
	*(uint64_t *)(void *)(m + off_off) = 64 * PG;
	*(uint64_t *)(void *)(m + off_len) = 64 * PG;
	ok(ask(s, m, shn, fd, EINVAL, &got), "  past the memfd's end: -EINVAL");
	is_int(fds_become(bpid, fds0 + 1), fds0 + 1, "  the broker holds only its socket");
	ok(ask(s, un, unn, -1, ENOENT, &got), "  an unshare of nothing shared: -ENOENT");
	ok(send_with_fd(s, sh, (size_t)shn, -1) == shn && read_reply(s, buf, sizeof(buf), &fd_given) > 0,
	   "  a share without its descriptor: answered");
	is_int((int)read_reply(s, buf, sizeof(buf), &fd_given), 0, "  and disconnected");
	close(s);
	is_int(fds_become(bpid, fds0), fds0, "the broker holds no descriptor of it");

	/* 64 ranges a client, counted by the broker itself. */
	s = raw_isolated(hello, hn);
	{
		int refused = 0, n = 0;

		for (i = 0; i < 65; i++) {
			memcpy(m, sh, (size_t)shn);
			*(uint64_t *)(void *)(m + off_addr) = (uint64_t)(uintptr_t)slot(100 + (unsigned)i);
			*(uint64_t *)(void *)(m + off_off) = 0;
			*(uint64_t *)(void *)(m + off_len) = PG;
			if (ask(s, m, shn, fd, ENOSPC, &got))
				refused = i;
			else
				n++;
		}
		ok(refused == 64 && n == 64, "a raw client's 65th share: -ENOSPC from the broker (at %d)", refused);
		is_int(fds_become(bpid, fds0 + 65), fds0 + 65, "  the broker holds 64 memfds and the socket");
	}
	close(s);
	is_int(fds_become(bpid, fds0), fds0, "the raw client closed: the broker closed all 64");

	/* A trusted client asking for an isolated client's request. */
	hn = catch_hello(SVA_CTX_BROKER, hello, sizeof(hello));
	s = raw_isolated(hello, hn);
	ok(s >= 0 && ask(s, sh, shn, fd, EPROTO, &got), "a trusted raw client's share: -EPROTO (%zd)", got);
	if (s >= 0)
		close(s);
	close(fd);
	unmap_slot(a, SLOT);
}

/* ------------------------------------------------------------- stress */

struct worker {
	struct client *c;
	char *addr;
	int fd, fails;
};

static void *share_loop(void *arg)
{
	struct worker *w = arg;

	for (int i = 0; i < 15; i++) {
		if (sva_ctx_share_memfd(w->c->ctx, w->fd, 0, w->addr, 2 * PG))
			w->fails++;
		if (sva_mm_prefault(w->c->mm, w->addr, PG))
			w->fails++;
		if (sva_ctx_unshare_memfd(w->c->ctx, w->addr, 2 * PG))
			w->fails++;
	}
	return NULL;
}

struct unsharer {
	struct client *c;
	char *addr;
	pthread_barrier_t *bar;
	int ret;
};

static void *unshare_once(void *arg)
{
	struct unsharer *u = arg;

	pthread_barrier_wait(u->bar);
	u->ret = sva_ctx_unshare_memfd(u->c->ctx, u->addr, 4 * PG);
	return NULL;
}

static void check_stress(struct client *c, pid_t bpid)
{
	struct worker w[4];
	pthread_t t[4];
	int fails = 0, fds0 = settled_fds(bpid), both = 0, bad = 0, fault_bad = 0;
	char *a;
	int fd;

	for (int i = 0; i < 4; i++) {
		w[i] = (struct worker){ .c = c, .addr = slot(next_slot++) };
		w[i].fd = map_memfd(w[i].addr, 2, 0, i);
		pthread_create(&t[i], NULL, share_loop, &w[i]);
	}
	for (int i = 0; i < 4; i++) {
		pthread_join(t[i], NULL);
		fails += w[i].fails;
		close(w[i].fd);
		unmap_slot(w[i].addr, SLOT);
	}
	is_int(fails, 0, "4 threads sharing, prefaulting, unsharing their own ranges 15 times: no failure");
	is_int(fds_become(bpid, fds0), fds0, "  the broker holds as many descriptors as before");

	/* Two threads unshare one range: one succeeds, the other -ENOENT; a
	 * fault racing them is resolved or INVALID -EFAULT. */
	a = slot(next_slot++);
	fd = map_memfd(a, 4, 0, 7);
	racing = true;
	for (int i = 0; i < 10; i++) {
		pthread_barrier_t bar;
		struct unsharer u[2];
		int f;

		pthread_barrier_init(&bar, NULL, 3);
		if (sva_ctx_share_memfd(c->ctx, fd, 0, a, 4 * PG))
			bad++;
		for (int k = 0; k < 2; k++) {
			u[k] = (struct unsharer){ .c = c, .addr = a, .bar = &bar };
			pthread_create(&t[k], NULL, unshare_once, &u[k]);
		}
		pthread_barrier_wait(&bar);
		f = fault_at(c, a + (size_t)(i % 4) * PG, SVA_ACCESS_READ);
		if (f != 0 && f != -EFAULT)
			fault_bad++;
		for (int k = 0; k < 2; k++)
			pthread_join(t[k], NULL);
		pthread_barrier_destroy(&bar);
		if (!((u[0].ret == 0 && u[1].ret == -ENOENT) || (u[1].ret == 0 && u[0].ret == -ENOENT)))
			both++;
	}
	racing = false;
	is_int(bad, 0, "10 rounds: the range shared each time");
	is_int(both, 0, "  two threads unsharing it: one 0, the other -ENOENT, every round");
	is_int(fault_bad, 0, "  a fault racing the unshare: resolved or INVALID -EFAULT");
	is_int((int)other_reasons, 0, "  no other reason reported");
	is_int(fault_at(c, a, SVA_ACCESS_READ), -EFAULT, "  afterwards the range is unshared");
	close(fd);
	unmap_slot(a, SLOT);
}

/* ---------------------------------------------------------------- main */

/* Each part's time, for the runtime budget (15 s under gcc on the mock). */
#define TIMED(call)                                                                  \
	do {                                                                         \
		int64_t t_ = now_ms();                                               \
		call;                                                                \
		diag("%s: %lld ms", #call, (long long)(now_ms() - t_));              \
	} while (0)

static void kernel_part(void)
{
	struct client iso, tr;
	pid_t bpid;
	int ret, st;
	char extra[PATH_MAX + 256];

	snprintf(sock, sizeof(sock), "%s/sock", dir);
	{
		/* The mm-exit program: this program again, through a script that
		 * gives it back the LD_LIBRARY_PATH the broker takes away (the VM
		 * keeps the libraries in /lib/sva). */
		char self[200], prog[PATH_MAX], text[1024];
		const char *lib = getenv("LD_LIBRARY_PATH");
		ssize_t k = readlink("/proc/self/exe", self, sizeof(self) - 1);

		self[k > 0 ? k : 0] = '\0';
		snprintf(prog, sizeof(prog), "%s/mm-exit.sh", dir);
		snprintf(text, sizeof(text), "#!/bin/sh\n%s%s%sexec '%s' \"$@\"\n", lib ? "LD_LIBRARY_PATH='" : "",
			 lib ? lib : "", lib ? "' " : "", self);
		write_file(prog, text, strlen(text));
		chmod(prog, 0755);
		snprintf(extra, sizeof(extra),
			 "pasids-per-client 16\nmax-clients 4\nisolated-pin-max 64K\ndevice m2 mock\nallow m2 uid 4242\n"
			 "mm-exit m %s 5000\n",
			 prog);
	}
	bpid = start_broker("b1", extra);

	ret = client_open(SVA_CTX_BROKER | SVA_CTX_ISOLATED, &iso);
	if (ret)
		tap_bail("an isolated client: %s", strerror(-ret));
	{
		char seen[2048];

		ok(!holds_iommufd(seen, sizeof(seen)), "the isolated client's process holds no iommufd");
		diag("its descriptors:%s", seen);
	}
	ret = client_open(SVA_CTX_BROKER, &tr);
	if (ret)
		tap_bail("a trusted client: %s", strerror(-ret));
	reserve(iso.mm);
	next_slot = 1; /* slot 0 stays PROT_NONE, never shared */
	TIMED(check_what_clients_get(&tr, &iso, 16));
	TIMED(check_not_isolated(&tr));
	client_close(&tr);

	TIMED(check_share_errors(&iso, bpid));
	TIMED(check_share_semantics(&iso));
	TIMED(check_window(&iso));
	TIMED(check_limits(&iso, bpid));
	TIMED(check_pin_max(&iso));
	TIMED(check_client_death(&iso, bpid));
	TIMED(check_garbage(&iso, bpid));
	TIMED(check_max_clients(&iso, 1));
	TIMED(check_allowlist());
	TIMED(check_socket(bpid));
	TIMED(check_devices(&iso));
	TIMED(check_inject_outside_block(&iso));
	TIMED(check_more(&iso, bpid));
	TIMED(check_refused_early(1));
	TIMED(check_raw_hello(bpid));
	TIMED(check_raw_requests(bpid));
	TIMED(check_stress(&iso, bpid));

	/* The broker ends: the client's calls get -ECONNRESET. */
	{
		char *a = slot(next_slot++);
		int fd = map_memfd(a, 2, 0, 1);

		is_int(sva_ctx_share_memfd(iso.ctx, fd, 0, a, PG), 0, "share before the broker stops");
		st = signal_broker(bpid, SIGTERM, "b1");
		is_int(st, 0, "SIGTERM: the broker exits with status 0");
		ok(access(sock, F_OK) != 0, "  and removes its socket");
		is_int(sva_ctx_share_memfd(iso.ctx, fd, PG, a + PG, PG), -ECONNRESET, "then share: -ECONNRESET");
		is_int(sva_ctx_unshare_memfd(iso.ctx, a, PG), -ECONNRESET, "unshare: -ECONNRESET");
		{
			/* sva_dev_open(3), in a broker context: "-ECONNRESET The
			 * broker went away." */
			struct sva_dev *d = NULL;

			is_int(sva_dev_open(iso.ctx, "m2", &d), -ECONNRESET, "sva_dev_open: -ECONNRESET");
			ok(d == NULL, "  *out untouched");
		}
		close(fd);
	}
	client_close(&iso);

	/* trust m isolated: trusted clients refused at their hello. */
	broker_log_level = "debug";
	bpid = start_broker("b2", "trust m isolated\nallow m uid 65534\nclients-per-user 2\npasids-per-client 80\n");
	{
		struct sva_ctx *x = NULL, *y = NULL, *z = NULL;
		int status;
		pid_t pid;

		is_int(new_ctx(SVA_CTX_BROKER, &x), -EACCES, "trust m isolated: a trusted hello is refused -EACCES");
		ret = new_ctx(SVA_CTX_BROKER | SVA_CTX_ISOLATED, &x);
		is_int(ret, 0, "  an isolated one is served");
		is_int(new_ctx(SVA_CTX_BROKER | SVA_CTX_ISOLATED, &y), 0, "clients-per-user 2: a second client of root");
		is_int(new_ctx(SVA_CTX_BROKER | SVA_CTX_ISOLATED, &z), -EUSERS, "  a third: -EUSERS");
		pid = others_reach_paths() ? spawn_self("--other-user", -1) : -1;
		if (pid > 0)
			waitpid(pid, &status, 0);
		if (pid < 0 || (WIFEXITED(status) && WEXITSTATUS(status) == 100))
			skip(1, "cannot change user");
		else
			if (!ok(WIFEXITED(status) && WEXITSTATUS(status) == 0, "  another user is still served (-%d)",
				WIFEXITED(status) ? WEXITSTATUS(status) : -1)) {
				char path[PATH_MAX], line[512];
				FILE *f;
				struct stat ds = { 0 };

				stat(dir, &ds);
				diag("dir mode %o; b2's log:", (unsigned)ds.st_mode);
				snprintf(path, sizeof(path), "%s/b2.log", dir);
				f = fopen(path, "r");
				while (f && fgets(line, sizeof(line), f))
					diag("  %s", strtok(line, "\n") ? line : "");
				if (f)
					fclose(f);
			}

		/* 64 PASIDs attached at a time, each attachment counted. */
		if (x) {
			struct sva_dev *d = NULL;
			struct sva_mm *mm[65] = { 0 };
			struct sva_bond *b[65] = { 0 };
			int n = 0, r = 0;

			ret = sva_dev_open(x, "m", &d);
			is_int(ret, 0, "an isolated client opens m");
			while (!ret && n < 65) {
				r = sva_mm_new(x, NULL, &mm[n]);
				if (!r)
					r = sva_bind(d, mm[n], NULL, &b[n]);
				if (r)
					break;
				n++;
			}
			ok(n == 64 && r == -ENOSPC, "64 PASIDs attached; the 65th bind: -ENOSPC (%d binds, then %d)", n, r);
			if (n > 0 && r == -ENOSPC) {
				sva_unbind(b[0]);
				b[0] = NULL;
				is_int(sva_bind(d, mm[64], NULL, &b[64]), 0, "  one detached: the next bind fits");
			}
			for (int i = 0; i < 65; i++) {
				if (b[i])
					sva_unbind(b[i]);
				sva_mm_free(mm[i]);
			}
			sva_dev_close(d);
		}
		sva_ctx_free(x);
		sva_ctx_free(y);
	}
	is_int(signal_broker(bpid, SIGINT, "b2"), 0, "SIGINT stops the second broker with status 0");
}

int main(int argc, char **argv)
{
	int64_t t0 = now_ms();

	if (argc == 3)
		return helper_main(argv[1], argv[2]);
	if (argc == 5)
		return mm_exit_main(argv);
	alarm(120);
	if (!getenv("TMPDIR") || snprintf(dir, sizeof(dir), "%s/ktest-share-XXXXXX", getenv("TMPDIR")) >= (int)sizeof(dir))
		snprintf(dir, sizeof(dir), "/tmp/ktest-share-XXXXXX");
	if (!mkdtemp(dir))
		tap_bail("mkdtemp: %s", strerror(errno));
	/* Other users reach the socket: the broker's allowlist, not this
	 * directory, is what refuses them. */
	chmod(dir, 0711);
	if (!find_brokerd()) {
		rmdir(dir);
		skip_all("no sva-brokerd found (set SVA_BROKERD)");
	}
	diag("sva-brokerd: %s", brokerd);
	TIMED(check_options());
	TIMED(check_config());
	if (access("/dev/iommu", R_OK | W_OK) || getuid() != 0)
		skip(1, "the kernel part needs a usable /dev/iommu and root");
	else
		kernel_part();
	{
		char cmd[PATH_MAX + 16];

		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
		if (system(cmd))
			diag("could not remove %s", dir);
	}
	diag("%lld ms", (long long)(now_ms() - t0));
	return done_testing();
}
