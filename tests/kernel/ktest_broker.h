/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * What the broker's kernel tests share (ktest-broker, ktest-broker-dev,
 * ktest-broker-edu): a broker forked from the test with a configuration the
 * test builds, the pipe its in-process mm_exit hook reports on, exact reads
 * and writes on the pipes to client processes, and a protocol call of a
 * client that speaks the wire format itself.  One test program includes it
 * once; every function is static inline so that each uses what it needs.
 */
#ifndef KTEST_BROKER_H
#define KTEST_BROKER_H

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>

#include "../../tools/broker/broker.h"
#include "broker_proto.h"
#include "ktest.h"

/* The broker's socket, in a directory of the test's own (sock_dir()). */
static char sock_path[108], dir_path[64];

/* A directory every user can search (the unauthorized-uid checks connect
 * as nobody), named after the test and its pid, with the socket path in it. */
static inline void sock_dir(const char *test)
{
	static const char *const parents[] = { "/run", "/tmp", "/" };

	for (size_t i = 0; i < ARRAY_SIZE(parents); i++) {
		struct stat stb;

		if (stat(parents[i], &stb) || !(stb.st_mode & S_IXOTH))
			continue;
		snprintf(dir_path, sizeof(dir_path), "%s/sva-%s-%d", strcmp(parents[i], "/") ? parents[i] : "", test,
			 (int)getpid());
		if (mkdir(dir_path, 0755) || chmod(dir_path, 0755))
			continue;
		snprintf(sock_path, sizeof(sock_path), "%s/socket", dir_path);
		return;
	}
	ktest_bail("no directory every user can search for the broker's socket");
}

/* <path>.lock, which every broker started on path leaves behind
 * (sva-brokerd(8), FILES): removed before its directory can be. */
static inline void ktest_broker_unlink_lock(const char *path)
{
	char lock[sizeof(sock_path) + sizeof(".lock")];

	snprintf(lock, sizeof(lock), "%s.lock", path);
	unlink(lock);
}

/* A write to a pipe of the test's own: a short one is a broken test. */
static inline void xwrite(int fd, const void *p, size_t n)
{
	if (write(fd, p, n) != (ssize_t)n)
		_exit(3);
}

/* 0 when all n bytes came, -1 at EOF or an error. */
static inline int xread(int fd, void *p, size_t n)
{
	ssize_t r;

	do
		r = read(fd, p, n);
	while (r < 0 && errno == EINTR);
	return r == (ssize_t)n ? 0 : -1;
}

/* One command to a client process and its result; `why` says so if the
 * client died instead of answering. */
static inline void client_call(int cmd_fd, int res_fd, const void *cmd, size_t clen, void *res, size_t rlen,
			       char *why, size_t wlen)
{
	xwrite(cmd_fd, cmd, clen);
	if (xread(res_fd, res, rlen))
		snprintf(why, wlen, "the client died");
}

static struct broker broker;  /* in the forked broker process */
static int mm_exit_pipe = -1; /* its end of the mm_exit pipe */

static inline void broker_on_term(int sig)
{
	(void)sig;
	broker.stop = 1;
}

/* The in-process owner-side hook: each PASID it is called for goes down the pipe. */
static inline void report_mm_exit(void *arg, const struct broker_dev *dev, uint32_t pasid, pid_t pid)
{
	(void)arg;
	(void)dev;
	(void)pid;
	xwrite(mm_exit_pipe, &pasid, sizeof(pasid));
}

/*
 * Fork a broker serving `conf` until SIGTERM.  With mm_exit_rd, the broker's
 * in-process mm_exit hook reports each PASID on a pipe whose read end is
 * stored there.  Returns its pid once it is serving; bails out if it did not
 * start (after the mock check: a kernel without the selftest mock skips).
 */
static inline pid_t broker_fork(const struct broker_conf *conf, int *mm_exit_rd, const char *what)
{
	int ready[2], mx[2] = { -1, -1 }, ret = 0;
	pid_t pid;

	if (pipe(ready) || (mm_exit_rd && pipe(mx)))
		ktest_bail("pipe: %s", strerror(errno));
	pid = fork();
	if (pid < 0)
		ktest_bail("fork: %s", strerror(errno));
	if (pid == 0) {
		struct sigaction sa = { .sa_handler = broker_on_term };

		close(ready[0]);
		if (mm_exit_rd) {
			close(mx[0]);
			mm_exit_pipe = mx[1];
		}
		sigaction(SIGTERM, &sa, NULL);
		signal(SIGPIPE, SIG_IGN);
		ret = broker_start(&broker, conf);
		if (mm_exit_rd)
			broker.mm_exit = report_mm_exit;
		xwrite(ready[1], &ret, sizeof(ret));
		if (ret)
			_exit(1);
		broker_run(&broker);
		broker_fini(&broker);
		_exit(0);
	}
	close(ready[1]);
	if (mm_exit_rd)
		close(mx[1]);
	if (xread(ready[0], &ret, sizeof(ret)))
		ktest_bail("the broker died while starting");
	close(ready[0]);
	if (conf->ndevs && !strcmp(conf->devs[0].source, "mock"))
		ktest_skip_without_mock(ret);
	if (ret)
		ktest_bail("the broker did not start%s%s: %s", what ? " " : "", what ? what : "", strerror(-ret));
	if (mm_exit_rd)
		*mm_exit_rd = mx[0];
	return pid;
}

/* The PASID the broker's mm_exit hook reported next, 0 if none within 5 s. */
static inline uint32_t wait_mm_exit(int mx)
{
	struct pollfd pfd = { .fd = mx, .events = POLLIN };
	uint32_t pasid = 0;

	if (poll(&pfd, 1, 5000) != 1 || xread(mx, &pasid, sizeof(pasid)))
		return 0;
	return pasid;
}

/*
 * In a client process about to fail a call for want of descriptors: lower
 * RLIMIT_NOFILE to 64 and take every free descriptor below it (fills holds
 * them); the number taken, or -1.  fds_give_back() closes them.
 */
static inline int fds_take_all(int fills[64])
{
	struct rlimit rl;
	int n = 0;

	getrlimit(RLIMIT_NOFILE, &rl);
	rl.rlim_cur = 64;
	if (setrlimit(RLIMIT_NOFILE, &rl))
		return -1;
	while (n < 64 && (fills[n] = open("/dev/null", O_RDONLY | O_CLOEXEC)) >= 0)
		n++;
	return n;
}

static inline void fds_give_back(int *fills, int n)
{
	while (n > 0)
		close(fills[--n]);
}

/* A connection of a client that speaks the protocol itself. */
static inline int raw_connect(void)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int s = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);

	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", sock_path);
	if (s < 0 || connect(s, (struct sockaddr *)&sa, sizeof(sa)))
		ktest_bail("connect to the broker: %s", strerror(errno));
	return s;
}

/* One request of a client speaking the protocol itself: the reply's status
 * (a descriptor the reply carries is closed). */
static inline int raw_call(int s, struct sva_broker_msg *m)
{
	int fd, ret = sva_broker_send(s, m, -1);

	if (!ret)
		ret = sva_broker_recv(s, m, &fd);
	if (!ret && fd >= 0)
		close(fd);
	return ret ? ret : m->status;
}

/* A raw client's hello in trust mode `mode`: the reply's status; m holds the reply. */
static inline int raw_hello(int s, struct sva_broker_msg *m, uint32_t mode)
{
	sva_broker_msg_init(m, SVA_BOP_HELLO);
	m->arg[0] = mode;
	return raw_call(s, m);
}

/*
 * A client process: fn(arg, cmd_fd, res_fd) runs in the child, reading
 * commands and writing results on its ends of two pipes, and never returns;
 * the parent gets its pid and the other ends.
 */
static inline pid_t fork_client(void (*fn)(void *arg, int cmd_fd, int res_fd), void *arg, int *cmd_fd, int *res_fd)
{
	int cp[2], rp[2];
	pid_t pid;

	if (pipe(cp) || pipe(rp))
		ktest_bail("pipe");
	pid = fork();
	if (pid < 0)
		ktest_bail("fork");
	if (pid == 0) {
		close(cp[1]);
		close(rp[0]);
		fn(arg, cp[0], rp[1]);
		_exit(1);
	}
	close(cp[0]);
	close(rp[1]);
	*cmd_fd = cp[1];
	*res_fd = rp[0];
	return pid;
}

#endif
