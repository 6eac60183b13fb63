/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * sva-brokerd(8) as its page describes it, against the real daemon
 * (/tests/sva-brokerd in the VM, or $SVA_BROKERD), written from the page
 * alone: -s at run time, socket-mode and socket-group on the socket it
 * makes, the socket's directory (0755 whatever the umask), the lock file
 * (0600, left behind), the "listening on" line at info level, a second
 * broker on the same path, the allowlist (-EACCES at hello, -EACCES and
 * -EBUSY at open), max-clients (-EUSERS, a closed client's place given
 * back), the reasons a client logs (a device for isolated clients only,
 * clients-per-user, 64 PASIDs attached per client), SIGTERM with the
 * signal blocked by whoever started it (a live client's bind then
 * -ECONNRESET), SIGINT, SIGHUP (a stop, not a reload), a broker killed
 * with SIGKILL not keeping the next one from starting, RLIMIT_NOFILE raised
 * to the hard limit, a client refused at its hello counting against
 * max-clients until it closes, the debug lines of refused connections,
 * SVA_LOG ignored in secure mode (a set-group-ID copy), the lock held by a
 * broker stopping while a live client holds its objects, and exit status 1
 * for a configuration error, a device that cannot be opened, a file at
 * the socket's path and another user's stale socket there.
 * The in-process broker (ktest-broker) covers the protocol; this covers
 * what only the binary does.  About a second on the mock.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>

#include "broker_proto.h"
#include "ktest.h"

#define GID 12345 /* socket-group: a number is taken as it is, known or not */

static const char *prog;
static char dir[64], conf[128], sock[108], log_path[128];
static char text[8192];
static const char *log_env = "info";	/* SVA_LOG of the brokers started */
static const char *exe;			/* the binary start() runs: prog unless set */
static rlim_t nofile_soft;		/* a soft RLIMIT_NOFILE to start with (0: inherited) */

static void write_file(const char *path, const char *s)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);

	if (fd < 0 || write(fd, s, strlen(s)) != (ssize_t)strlen(s))
		ktest_bail("writing %s: %s", path, strerror(errno));
	close(fd);
}

/* The broker's standard error so far. */
static const char *log_text(void)
{
	int fd = open(log_path, O_RDONLY | O_CLOEXEC);
	ssize_t n = fd < 0 ? 0 : read(fd, text, sizeof(text) - 1);

	text[n > 0 ? n : 0] = 0;
	if (fd >= 0)
		close(fd);
	return text;
}

/* Start the broker with these arguments, standard error to log_path, the
 * given signal blocked (0: none) and umask; returns its pid. */
static pid_t start(const char *const *argv, int block, mode_t mask)
{
	pid_t pid = fork();

	if (pid == 0) {
		int e = open(log_path, O_WRONLY | O_CREAT | O_APPEND, 0600);
		sigset_t s;

		if (e >= 0)
			dup2(e, 2);
		sigemptyset(&s);
		if (block)
			sigaddset(&s, block);
		sigprocmask(SIG_SETMASK, &s, NULL);
		umask(mask);
		if (nofile_soft) {
			struct rlimit rl;

			getrlimit(RLIMIT_NOFILE, &rl);
			rl.rlim_cur = nofile_soft;
			setrlimit(RLIMIT_NOFILE, &rl);
		}
		setenv("SVA_LOG", log_env, 1);
		execv(exe ? exe : prog, (char *const *)argv);
		_exit(127);
	}
	return pid;
}

static int try_connect(const char *path)
{
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	int sk = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0), r;

	snprintf(a.sun_path, sizeof(a.sun_path), "%s", path);
	r = connect(sk, (struct sockaddr *)&a, sizeof(a));
	close(sk);
	return r;
}

/* Bounded wait until the broker listens at path; false if it exited first
 * (its status in *status) or never did. */
static bool wait_listening(pid_t pid, const char *path, int *status)
{
	for (int i = 0; i < 1000; i++) {
		if (!try_connect(path))
			return true;
		if (waitpid(pid, status, WNOHANG) == pid)
			return false;
		usleep(10000);
	}
	return false;
}

/* Stop with sig and return the exit status (-1: not exited in 10 s). */
static int stop(pid_t pid, int sig)
{
	int st;

	kill(pid, sig);
	if (ktest_wait_child(pid, 10000, &st))
		return -1;
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

static int client(struct sva_ctx **c)
{
	struct sva_ctx_opts o = { .size = sizeof(o), .flags = SVA_CTX_BROKER, .broker_path = sock,
				  .log_level = SVA_LOG_OFF };

	return sva_ctx_new(&o, c);
}

/* What a client's libsva logs: the reasons the broker gave. */
static char lines[4096];

static void keep(void *arg, enum sva_log_level level, const char *msg)
{
	(void)arg;
	(void)level;
	snprintf(lines + strlen(lines), sizeof(lines) - strlen(lines), "%s\n", msg);
}

static int client_logged(uint32_t flags, struct sva_ctx **c)
{
	struct sva_ctx_opts o = { .size = sizeof(o), .flags = SVA_CTX_BROKER | flags, .broker_path = sock,
				  .log_fn = keep, .log_level = SVA_LOG_DEBUG };

	lines[0] = 0;
	return sva_ctx_new(&o, c);
}

/*
 * A device for isolated clients only refuses trusted clients at their hello
 * (-EACCES, naming the device); clients-per-user refuses a user's next
 * client (-EUSERS, "uid N has n clients of this broker, its most
 * (clients-per-user)"); a client's 65th attached PASID is refused (-ENOSPC,
 * its line naming "a limit of the broker's: PASIDs attached per client").
 */
static void reasons(void)
{
	const char *const argv[] = { "sva-brokerd", "-c", conf, NULL };
	struct sva_ctx *c = NULL, *c2 = NULL;
	struct sva_dev *d = NULL;
	struct sva_mm *mm[65] = { 0 };
	struct sva_bond *b[65] = { 0 };
	int status = 0, ret, n = 0;
	pid_t pid;

	snprintf(text, sizeof(text),
		 "socket %s\nclients-per-user 1\npasids-per-client 128\n"
		 "device m mock\nallow m uid 0\ndevice iso mock\nallow iso uid 0\ntrust iso isolated\n",
		 sock);
	write_file(conf, text);
	write_file(log_path, "");
	pid = start(argv, 0, 022);
	if (!wait_listening(pid, sock, &status))
		ktest_bail("sva-brokerd did not listen at %s (status %#x): %s", sock, status, log_text());
	ret = client_logged(0, &c);
	if (!ok(ret == -EACCES && strstr(lines, "iso"), "trust iso isolated: a trusted client's hello, -EACCES naming the device (%d)",
		ret))
		diag("its lines: %s", lines);
	/* The refused client counts until its connection is closed, which
	 * sva_ctx_new() did as it failed; the broker learns so asynchronously. */
	ret = -EUSERS;
	for (int i = 0; i < 500 && ret == -EUSERS; i++)
		if ((ret = client_logged(SVA_CTX_ISOLATED, &c)) == -EUSERS)
			usleep(10000);
	is_int(ret, 0, "an isolated client is served");
	ret = client_logged(SVA_CTX_ISOLATED, &c2);
	if (!ok(ret == -EUSERS && strstr(lines, "uid 0 has 1 client") &&
			strstr(lines, "of this broker, its most (clients-per-user)"),
		"clients-per-user 1: the user's second client, -EUSERS, \"uid 0 has 1 client... its most (clients-per-user)\" (%d)",
		ret))
		diag("its lines: %s", lines);
	if (c && !sva_dev_open(c, "m", &d)) {
		for (n = 0; n < 65; n++) {
			lines[0] = 0;
			if ((ret = sva_mm_new(c, NULL, &mm[n])) || (ret = sva_bind(d, mm[n], NULL, &b[n])))
				break;
		}
		if (!ok(n == 64 && ret == -ENOSPC && strstr(lines, "a limit of the broker's: PASIDs attached per client"),
			"64 PASIDs attached, the 65th: -ENOSPC, its line naming the limit (%d after %d)", ret, n))
			diag("its lines: %s", lines);
		lines[0] = 0;
		if (n == 64) {
			sva_unbind(b[0]);
			b[0] = NULL;
			is_int(sva_bind(d, mm[64], NULL, &b[64]), 0, "  once one is detached, the next attach: 0");
		} else {
			skip(1, "the limit was not reached");
		}
		for (int i = 0; i < 65; i++) {
			if (b[i])
				sva_unbind(b[i]);
			if (mm[i])
				sva_mm_free(mm[i]);
		}
		sva_dev_close(d);
	} else {
		ok(0, "the isolated client opens device m");
		skip(1, "no device");
	}
	sva_ctx_free(c);
	is_int(stop(pid, SIGHUP), 0, "SIGHUP: exit 0");
	ok(access(sock, F_OK) != 0, "  the socket removed");
}

/* Whether the broker's log has a line "libsva <lvl>: sva-brokerd: ..." with
 * both a and b in it. */
static bool logged(const char *lvl, const char *a, const char *b)
{
	char head[64];
	int n = snprintf(head, sizeof(head), "libsva %s: sva-brokerd: ", lvl);

	for (const char *l = log_text(); *l;) {
		const char *e = strchr(l, '\n');
		size_t len = e ? (size_t)(e - l) : strlen(l);

		if (len >= (size_t)n && !strncmp(l, head, (size_t)n) && memmem(l, len, a, strlen(a)) &&
		    memmem(l, len, b, strlen(b)))
			return true;
		l += len + (e != NULL);
	}
	return false;
}

/* The soft RLIMIT_NOFILE of pid and its hard one, from /proc. */
static bool nofile_of(pid_t pid, unsigned long long *soft, unsigned long long *hard)
{
	char path[64], buf[4096], *l;
	int fd;
	ssize_t n;

	snprintf(path, sizeof(path), "/proc/%d/limits", (int)pid);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
		return false;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	buf[n > 0 ? n : 0] = 0;
	l = strstr(buf, "Max open files");
	return l && sscanf(l + strlen("Max open files"), "%llu %llu", soft, hard) == 2;
}

/*
 * max-clients 1, root in no device's allowlist, SVA_LOG=debug, started with
 * a soft RLIMIT_NOFILE below the hard one:
 * - the soft limit is raised to the hard one;
 * - a connection refused at its hello still counts against max-clients until
 *   it is closed (the next client: -EUSERS), and not after;
 * - debug adds the connections it refuses: the hello refused for the
 *   allowlist, and the connection refused for max-clients;
 * - SIGHUP stops it (exit 0) and does not reload the configuration (made
 *   invalid just before: no error about it).
 */
static void refused_count(void)
{
	const char *const argv[] = { "sva-brokerd", "-c", conf, NULL };
	unsigned long long soft = 0, hard = 0;
	struct sva_broker_msg m;
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	struct sva_ctx *c = NULL;
	struct rlimit rl;
	int status = 0, ret, s;
	pid_t pid;

	snprintf(text, sizeof(text), "socket %s\nmax-clients 1\ndevice n mock\nallow n uid 4242\n", sock);
	write_file(conf, text);
	write_file(log_path, "");
	getrlimit(RLIMIT_NOFILE, &rl);
	nofile_soft = rl.rlim_max > 64 ? 64 : 0;
	log_env = "debug";
	pid = start(argv, 0, 022);
	log_env = "info";
	nofile_soft = 0;
	if (!wait_listening(pid, sock, &status))
		ktest_bail("sva-brokerd did not listen at %s (status %#x): %s", sock, status, log_text());
	/* Read before ok(): its arguments are evaluated in no set order. */
	if (rl.rlim_max > 64 && !nofile_of(pid, &soft, &hard))
		soft = hard = 0;
	if (rl.rlim_max > 64)
		ok(soft == hard && hard == (unsigned long long)rl.rlim_max,
		   "started with a soft RLIMIT_NOFILE of 64: raised to the hard limit (%llu of %llu)", soft, hard);
	else
		skip(1, "a hard RLIMIT_NOFILE of 64 or less");

	snprintf(a.sun_path, sizeof(a.sun_path), "%s", sock);
	s = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	if (s < 0 || connect(s, (struct sockaddr *)&a, sizeof(a)))
		ktest_bail("connect: %s", strerror(errno));
	sva_broker_msg_init(&m, SVA_BOP_HELLO);
	m.arg[0] = SVA_BROKER_TRUSTED;
	ret = sva_broker_send(s, &m, -1);
	if (!ret) {
		int fd = -1;

		ret = sva_broker_recv(s, &m, &fd);
		if (fd >= 0)
			close(fd);
	}
	is_int(ret ? ret : m.status, -EACCES, "max-clients 1: a connection refused at its hello (-EACCES), kept open");
	is_int(client(&c), -EUSERS, "  still counts: the next client, -EUSERS");
	close(s);
	/* The broker learns of the close asynchronously: bounded retries. */
	ret = -EUSERS;
	for (int i = 0; i < 500 && ret == -EUSERS; i++)
		if ((ret = client(&c)) == -EUSERS)
			usleep(10000);
	is_int(ret, -EACCES, "  once it is closed, the next client is served (its hello: -EACCES, the allowlist)");
	sva_ctx_free(c);

	/* A reload would read this and complain. */
	write_file(conf, "this is not a directive\n");
	is_int(stop(pid, SIGHUP), 0, "SIGHUP: exit 0, not a reload");
	ok(!strstr(log_text(), conf), "  the configuration, made invalid before it, not read again");
	if (!ok(logged("debug", "hello refused", "allowlist"), "SVA_LOG=debug: a debug line for the hello refused"))
		diag("its log: %s", log_text());
	if (!ok(logged("debug", "refused", "max-clients"), "  and one for the connection refused for max-clients"))
		diag("its log: %s", log_text());
}

/*
 * Secure mode (ENVIRONMENT): a set-group-ID copy of the broker (group 65534,
 * as ktest-secure-env does) runs with AT_SECURE and ignores SVA_LOG=debug: no
 * debug or info line, where the same variable gives both without it (the
 * runs above).  In secure mode the loader ignores LD_LIBRARY_PATH, and the VM
 * keeps the libraries in /lib/sva: they are linked into /lib, a directory the
 * loader searches, for this run only.  VM only (it writes to /lib).
 */
static void secure_mode(void)
{
	const char *const argv[] = { "sva-brokerd", "-c", conf, NULL };
	char copy[128], made[32][300];
	int nmade = 0, status = 0, in, out;
	struct dirent *e;
	ssize_t n = 0;
	DIR *d;
	pid_t pid;

	if (!getenv("SVA_VM") || geteuid() != 0) {
		skip(2, "the test VM only (a set-group-ID copy, its libraries linked into /lib)");
		return;
	}
	snprintf(copy, sizeof(copy), "%s/sva-brokerd-sgid", dir);
	in = open(prog, O_RDONLY | O_CLOEXEC);
	out = open(copy, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0755);
	while (in >= 0 && out >= 0 && (n = read(in, text, sizeof(text))) > 0)
		if (write(out, text, (size_t)n) != n)
			n = -1;
	if (in < 0 || out < 0 || n < 0 || close(out) || chown(copy, 0, 65534) || chmod(copy, 02755))
		ktest_bail("cannot make a set-group-ID copy of %s: %s", prog, strerror(errno));
	close(in);
	if ((d = opendir("/lib/sva"))) {
		while ((e = readdir(d)) && nmade < 32) {
			char from[300];

			if (e->d_name[0] == '.')
				continue;
			snprintf(from, sizeof(from), "/lib/sva/%s", e->d_name);
			snprintf(made[nmade], sizeof(made[nmade]), "/lib/%s", e->d_name);
			if (!symlink(from, made[nmade]))
				nmade++;
		}
		closedir(d);
	}
	snprintf(text, sizeof(text), "socket %s\ndevice m mock\nallow m uid 0\n", sock);
	write_file(conf, text);
	write_file(log_path, "");
	exe = copy;
	log_env = "debug";
	pid = start(argv, 0, 022);
	exe = NULL;
	log_env = "info";
	if (ok(wait_listening(pid, sock, &status), "a set-group-ID copy, SVA_LOG=debug: it starts and listens (%#x)",
	       status)) {
		is_int(stop(pid, SIGTERM), 0, "  SIGTERM: exit 0");
		if (!ok(!strstr(log_text(), "libsva debug:") && !strstr(log_text(), "libsva info:"),
			"  secure mode: SVA_LOG ignored, no debug or info line"))
			diag("its log: %s", log_text());
	} else {
		diag("its log: %s", log_text());
		skip(2, "it did not start");
	}
	while (nmade)
		unlink(made[--nmade]);
	unlink(copy);
}

/*
 * A broker stopping while a live client's fault queue holds objects retries
 * them for up to 2 s after it has removed its socket (SIGNALS).  Its lock
 * (FILES) is held until it has closed its devices: a broker started on the
 * path meanwhile, as a restart that does not wait for the old process does,
 * is refused with the lock's line.  It used to take the lock, find no socket
 * and listen (or find a real device busy).  Once the client lets go, the
 * first exits and the next one starts.  A host so slow that the first broker
 * had exited before the second was looked at proves nothing: skipped.
 */
static void stop_while_held(void)
{
	const char *const argv[] = { "sva-brokerd", "-c", conf, NULL };
	struct sva_ctx *c = NULL;
	struct sva_dev *d = NULL;
	struct sva_mm *mm = NULL;
	struct sva_bond *b = NULL;
	int status = 0, st2 = -1, i;
	bool gone = false, listened = false, first_alive;
	pid_t pid, pid2;

	snprintf(text, sizeof(text), "socket %s\ndevice m mock\nallow m uid 0\n", sock);
	write_file(conf, text);
	write_file(log_path, "");
	pid = start(argv, 0, 022);
	if (!wait_listening(pid, sock, &status))
		ktest_bail("sva-brokerd did not listen at %s (status %#x): %s", sock, status, log_text());
	if (client(&c) || sva_dev_open(c, "m", &d) || sva_mm_new(c, NULL, &mm) || sva_bind(d, mm, NULL, &b))
		ktest_bail("a client of the broker could not bind");
	kill(pid, SIGTERM);
	/* Bounded: the socket goes first thing in its stop. */
	for (i = 0; i < 5000 && access(sock, F_OK) == 0; i++)
		usleep(1000);
	pid2 = start(argv, 0, 022);
	/* Until the second broker exits or listens, whichever comes first. */
	for (i = 0; i < 5000; i++) {
		if (waitpid(pid2, &st2, WNOHANG) == pid2) {
			gone = true;
			break;
		}
		if (!try_connect(sock)) {
			listened = true;
			break;
		}
		usleep(1000);
	}
	first_alive = waitpid(pid, &status, WNOHANG) == 0;
	if (!first_alive && !listened && !gone)
		ktest_bail("the second broker neither exited nor listened");
	if (!first_alive && (!gone || !WIFEXITED(st2) || WEXITSTATUS(st2) != 1)) {
		skip(1, "the first broker had exited before the second was seen (a slow host)");
	} else if (!ok(gone && WIFEXITED(st2) && WEXITSTATUS(st2) == 1 &&
			       strstr(log_text(), "another sva-brokerd is starting or running there"),
		       "a broker started on the path while the first stops, a live client's objects held: exit 1, "
		       "\"another sva-brokerd is starting or running there\" (%s, %#x)",
		       gone ? "exited" : listened ? "it listened" : "still running", st2)) {
		diag("its log: %s", log_text());
	}
	if (!gone) {
		kill(pid2, SIGKILL);
		waitpid(pid2, &st2, 0);
	}
	sva_unbind(b);
	sva_mm_free(mm);
	sva_dev_close(d);
	sva_ctx_free(c);
	if (first_alive) {
		ktest_wait_child(pid, 10000, &status);
		ok(WIFEXITED(status) && WEXITSTATUS(status) == 0, "  the first exits 0 once the client let go (%#x)",
		   status);
	} else {
		ok(WIFEXITED(status) && WEXITSTATUS(status) == 0, "  the first exited 0 (%#x)", status);
	}
	unlink(sock); /* left by the second, if it listened */
	pid = start(argv, 0, 022);
	ok(wait_listening(pid, sock, &status), "  and the next broker starts there (status %#x)", status);
	is_int(stop(pid, SIGTERM), 0, "  SIGTERM: exit 0");
}

/* sva-brokerd(8), ENVIRONMENT: SVA_LOG is "warn (or warning) ... warn when
 * unset, empty or another value".  At warn a refused hello leaves its warning
 * and the "listening on" line (info) is not written; so a broker started with
 * "warning", "" and "loud" logs the one and not the other. */
static void log_levels(void)
{
	static const char *const levels[] = { "warning", "", "loud" };
	const char *const argv[] = { "sva-brokerd", "-c", conf, NULL };
	char conf_text[256];

	snprintf(conf_text, sizeof(conf_text), "socket %s\ndevice n mock\nallow n uid 4242\n", sock);
	write_file(conf, conf_text);
	for (size_t i = 0; i < sizeof(levels) / sizeof(levels[0]); i++) {
		struct sva_ctx *c = NULL;
		int status = 0;
		pid_t pid;

		log_env = levels[i];
		write_file(log_path, "");
		pid = start(argv, 0, 022);
		if (!wait_listening(pid, sock, &status)) {
			ok(0, "SVA_LOG='%s': the broker listens (status %#x): %s", levels[i], status, log_text());
			kill(pid, SIGKILL);
			waitpid(pid, NULL, 0);
			continue;
		}
		is_int(client(&c), -EACCES, "SVA_LOG='%s': a client in no allowlist refused", levels[i]);
		sva_ctx_free(c);
		is_int(stop(pid, SIGTERM), 0, "  SIGTERM: exit 0");
		ok(strstr(log_text(), "libsva warn: sva-brokerd:") && !strstr(log_text(), "libsva info: "),
		   "  the log at warn: the refusal's warning, no info line: %s", log_text());
	}
	log_env = "info";
}

/* EXIT STATUS 1: a device that cannot be opened, and a path that is not a
 * socket (left as it is). */
static void cannot_start(void)
{
	const char *const argv[] = { "sva-brokerd", "-c", conf, NULL };
	struct stat st0, st1;
	int st = -1;
	pid_t pid;

	snprintf(text, sizeof(text), "socket %s\ndevice gone vfio999\nallow gone uid 0\n", sock);
	write_file(conf, text);
	write_file(log_path, "");
	pid = start(argv, 0, 022);
	ktest_wait_child(pid, 10000, &st);
	if (!ok(WIFEXITED(st) && WEXITSTATUS(st) == 1 && strstr(log_text(), "sva-brokerd: cannot start") &&
			access(sock, F_OK) != 0,
		"a device that cannot be opened: exit 1, \"cannot start\", no socket (%#x)", st))
		diag("its log: %s", log_text());
	snprintf(text, sizeof(text), "socket %s\ndevice m mock\nallow m uid 0\n", sock);
	write_file(conf, text);
	write_file(sock, "not a socket\n");
	stat(sock, &st0);
	write_file(log_path, "");
	pid = start(argv, 0, 022);
	ktest_wait_child(pid, 10000, &st);
	if (!ok(WIFEXITED(st) && WEXITSTATUS(st) == 1 && strstr(log_text(), "cannot listen on") &&
			strstr(log_text(), "not removing it") && stat(sock, &st1) == 0 && S_ISREG(st1.st_mode) &&
			st1.st_ino == st0.st_ino,
		"a regular file at the socket's path: exit 1, \"cannot listen on ... not removing it\", the file left (%#x)",
		st))
		diag("its log: %s", log_text());
	unlink(sock);
	/* Another user's stale socket: a root broker leaves it, with the two
	 * lines the page quotes word for word for the administrator. */
	if (geteuid() != 0) {
		skip(1, "not root: no socket of another owner can be made");
	} else {
		struct sockaddr_un sa = { .sun_family = AF_UNIX };
		int s = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
		char want[400];

		snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", sock);
		if (s < 0 || bind(s, (struct sockaddr *)&sa, sizeof(sa)) || lchown(sock, 65534, 65534))
			ktest_bail("a socket of uid 65534 at %s: %s", sock, strerror(errno));
		close(s);
		lstat(sock, &st0);
		write_file(log_path, "");
		pid = start(argv, 0, 022);
		ktest_wait_child(pid, 10000, &st);
		snprintf(want, sizeof(want),
			 "libsva error: sva-brokerd: cannot listen on %s: it is another user's socket (uid 65534), not "
			 "one this user's broker left; not removing it\nsva-brokerd: cannot start: Address already in "
			 "use\n", sock);
		if (!ok(WIFEXITED(st) && WEXITSTATUS(st) == 1 && strstr(log_text(), want) && lstat(sock, &st1) == 0 &&
				S_ISSOCK(st1.st_mode) && st1.st_ino == st0.st_ino,
			"another user's stale socket at the path, a root broker: exit 1, the page's two lines, the "
			"socket left (%#x)", st))
			diag("its log: %s", log_text());
		unlink(sock);
	}
}


int main(void)
{
	char conf_sock[128], lock[128], sub[96];
	struct sva_ctx *c1 = NULL, *c2 = NULL, *c3 = NULL;
	struct sva_dev *d = NULL, *d2 = NULL;
	struct sva_mm *mm1 = NULL;
	struct stat st;
	pid_t pid, pid2;
	int status = 0, ret;

	ktest_require_iommufd();
	prog = getenv("SVA_BROKERD");
	if (!prog || access(prog, X_OK))
		prog = "/tests/sva-brokerd";
	if (access(prog, X_OK)) {
		if (getenv("SVA_VM"))
			ktest_bail("the test VM carries /tests/sva-brokerd (check-vm packs it)");
		skip_all("no sva-brokerd: set SVA_BROKERD");
	}
	snprintf(dir, sizeof(dir), "/tmp/kbb-XXXXXX");
	if (!mkdtemp(dir))
		ktest_bail("mkdtemp: %s", strerror(errno));
	snprintf(conf, sizeof(conf), "%s/conf", dir);
	snprintf(conf_sock, sizeof(conf_sock), "%s/configured", dir);
	snprintf(sub, sizeof(sub), "%s/made", dir);
	snprintf(sock, sizeof(sock), "%s/socket", sub);
	snprintf(lock, sizeof(lock), "%s.lock", sock);
	snprintf(log_path, sizeof(log_path), "%s/log", dir);
	/* Device m admits root, device n only uid 4242: root is in one
	 * allowlist (its hello passes) and outside the other. */
	snprintf(text, sizeof(text),
		 "socket %s\nsocket-mode 0640\nsocket-group %d\nmax-clients 2\n"
		 "device m mock\nallow m uid 0\ndevice n mock\nallow n uid 4242\n",
		 conf_sock, GID);
	write_file(conf, text);

	/* -s in a directory that does not exist yet, under umask 077, with
	 * SIGTERM blocked by the starter (execve keeps the mask). */
	{
		const char *const argv[] = { "sva-brokerd", "-c", conf, "-s", sock, NULL };

		pid = start(argv, SIGTERM, 077);
	}
	if (!wait_listening(pid, sock, &status))
		ktest_bail("sva-brokerd did not listen at %s (status %#x): %s", sock, status, log_text());
	/* stat() before ok(), not in its first argument: ok()'s arguments are
	 * evaluated in no set order, so the mode shown was the previous file's. */
	ret = stat(sub, &st);
	ok(ret == 0 && S_ISDIR(st.st_mode) && (st.st_mode & 07777) == 0755,
	   "the missing socket directory is made mode 0755 under umask 077 (%o)", (unsigned)st.st_mode);
	ok(access(conf_sock, F_OK) != 0, "-s: nothing at the configured socket");
	ret = stat(sock, &st);
	ok(ret == 0 && S_ISSOCK(st.st_mode) && (st.st_mode & 0777) == 0640,
	   "-s: the socket there, with socket-mode 0640 (%o)", (unsigned)st.st_mode);
	ok(st.st_gid == GID, "  and socket-group %d, a number no group has (%u)", GID, (unsigned)st.st_gid);
	ret = stat(lock, &st);
	ok(ret == 0 && S_ISREG(st.st_mode) && (st.st_mode & 07777) == 0600,
	   "socket.lock beside it: a regular file, mode 0600 (%o)", (unsigned)st.st_mode);
	/* The line comes once listen_on() has returned, just after the socket
	 * began to take connections: wait for it as for the socket. */
	for (int i = 0; i < 1000 && !strstr(log_text(), "libsva info: sva-brokerd: listening on"); i++)
		usleep(10000);
	ok(strstr(log_text(), "libsva info: sva-brokerd: listening on") != NULL,
	   "SVA_LOG=info: the \"libsva info: sva-brokerd: listening on\" line");

	/* A second broker on that path does not start, and the first serves on. */
	{
		const char *const argv[] = { "sva-brokerd", "-c", conf, "-s", sock, NULL };
		int st2 = -1;

		pid2 = start(argv, 0, 022);
		ktest_wait_child(pid2, 10000, &st2);
		/* The test kernel has file locks (CONFIG_FILE_LOCKING), so the
		 * start-up lock refuses the second broker.  On a kernel without
		 * them (flock() ENOSYS) the broker warns and starts unlocked,
		 * and the second one meets the first one's listening socket
		 * instead: still right, and said so. */
		bool unlocked = strstr(log_text(), "(Function not implemented): starting without the lock") != NULL;
		const char *why = unlocked ? "is where a seqpacket socket listens" :
					     "another sva-brokerd is starting or running there";

		if (!ok(WIFEXITED(st2) && WEXITSTATUS(st2) == 1 && strstr(log_text(), why),
			"a second broker on the path (%s): exit 1, \"%s\" (%#x)",
			unlocked ? "no file locks in this kernel: flock() ENOSYS, the socket check" : "the start-up lock",
			why, st2))
			diag("its log: %s", log_text());
		ok(try_connect(sock) == 0, "  the first one still listens");
	}

	/* The allowlist. */
	ret = client(&c1);
	is_int(ret, 0, "a client in device m's allowlist: its hello passes");
	if (!ret) {
		is_int(sva_dev_open(c1, "n", &d), -EACCES, "  opening device n, outside its allowlist: -EACCES");
		is_int(sva_dev_open(c1, "m", &d), 0, "  opening device m: 0");
		is_int(sva_dev_open(c1, "m", &d2), -EBUSY, "  a second open of m: -EBUSY");
	} else {
		skip(3, "no client");
	}

	/* max-clients 2: a third is refused, and a closed one's place is given back. */
	is_int(client(&c2), 0, "max-clients 2: the second client");
	is_int(client(&c3), -EUSERS, "  a third: -EUSERS");
	sva_ctx_free(c2);
	c2 = NULL;
	/* The broker learns of the close asynchronously: bounded retries. */
	ret = -EUSERS;
	for (int i = 0; i < 500 && ret == -EUSERS; i++) {
		ret = client(&c3);
		if (ret == -EUSERS)
			usleep(10000);
	}
	is_int(ret, 0, "  once the second closed, a new client is served");
	sva_ctx_free(c3);
	c3 = NULL;
	/* c1 stays, with device m open and an address space: the broker's
	 * stop ends it as if it had died, and its binds fail. */
	if (d && sva_mm_new(c1, NULL, &mm1))
		mm1 = NULL;
	is_int(stop(pid, SIGTERM), 0, "SIGTERM, blocked in the mask the broker inherited: exit 0");
	ok(access(sock, F_OK) != 0, "  the socket removed");
	if (d && mm1) {
		struct sva_bond *b1 = NULL;

		is_int(sva_bind(d, mm1, NULL, &b1), -ECONNRESET, "  a client alive then: its bind, -ECONNRESET");
		if (b1)
			sva_unbind(b1);
	} else {
		skip(1, "no client with a device and an address space");
	}
	if (mm1)
		sva_mm_free(mm1);
	if (d)
		sva_dev_close(d);
	sva_ctx_free(c1);
	c1 = NULL;
	ok(access(lock, F_OK) == 0, "  the lock file left (the broker never removes it)");

	/* A client in no device's allowlist is refused at its hello, with a
	 * warning in the broker's log. */
	snprintf(text, sizeof(text), "socket %s\ndevice n mock\nallow n uid 4242\n", sock);
	write_file(conf, text);
	{
		const char *const argv[] = { "sva-brokerd", "-c", conf, NULL };

		write_file(log_path, "");
		pid = start(argv, 0, 022);
	}
	if (!wait_listening(pid, sock, &status))
		ktest_bail("sva-brokerd did not listen at %s (status %#x): %s", sock, status, log_text());
	is_int(client(&c1), -EACCES, "a client in no device's allowlist: -EACCES at its hello");
	/* The warning is written before or as the refusal is sent: the
	 * broker's log is read after it has stopped. */
	kill(pid, SIGKILL);
	waitpid(pid, &status, 0);
	ok(strstr(log_text(), "libsva warn: sva-brokerd:") != NULL, "  and a warning in the broker's log");

	/* Killed with SIGKILL, it leaves its socket and lock: the next starts. */
	ok(access(sock, F_OK) == 0 && access(lock, F_OK) == 0, "SIGKILL: the socket and the lock file are left");
	{
		const char *const argv[] = { "sva-brokerd", "-c", conf, NULL };

		pid = start(argv, 0, 022);
	}
	ok(wait_listening(pid, sock, &status), "  and the next broker starts there (status %#x)", status);
	is_int(stop(pid, SIGINT), 0, "SIGINT: exit 0");
	ok(access(sock, F_OK) != 0, "  the socket removed");

	reasons();
	refused_count();
	secure_mode();
	stop_while_held();
	log_levels();
	cannot_start();

	/* A configuration error when starting (not --check): file:line:, exit 1. */
	write_file(conf, "device m mock\nallow z uid 0\n");
	{
		const char *const argv[] = { "sva-brokerd", "-c", conf, NULL };
		int st3 = -1;
		char want[192];

		write_file(log_path, "");
		pid = start(argv, 0, 022);
		ktest_wait_child(pid, 10000, &st3);
		snprintf(want, sizeof(want), "%s:2: allow: no device 'z' defined above", conf);
		ok(WIFEXITED(st3) && WEXITSTATUS(st3) == 1 && strstr(log_text(), want),
		   "a configuration error at start: exit 1, \"%s\" (%#x)", want, st3);
	}
	return done_testing();
}
