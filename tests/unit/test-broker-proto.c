/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The broker's wire protocol (libsva/broker_proto.c): a message and its one
 * descriptor go through intact, and everything a hostile peer might send
 * instead (short, long, wrong magic, unterminated text, too many or missing
 * descriptors) is refused whole, with the descriptors it carried closed.
 */
#define _GNU_SOURCE /* pipe2, memfd_create */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include "broker_proto.h"
#include "../tap.h"

static void pair(int sv[2])
{
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv))
		abort();
}

/* Send raw bytes with n copies of fd as SCM_RIGHTS. */
static void send_raw(int sock, const void *buf, size_t len, int fd, int n)
{
	union {
		char b[CMSG_SPACE(sizeof(int) * 8)];
		struct cmsghdr align;
	} ctl;
	struct iovec iov = { .iov_base = (void *)buf, .iov_len = len };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };

	memset(&ctl, 0, sizeof(ctl));
	if (n) {
		struct cmsghdr *c;

		mh.msg_control = ctl.b;
		mh.msg_controllen = CMSG_SPACE(sizeof(int) * (size_t)n);
		c = CMSG_FIRSTHDR(&mh);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int) * (size_t)n);
		for (int i = 0; i < n; i++)
			memcpy(CMSG_DATA(c) + i * sizeof(int), &fd, sizeof(int));
	}
	if (sendmsg(sock, &mh, 0) < 0)
		abort();
}

/* How many descriptors are open in this process. */
static int open_fds(void)
{
	int n = 0;

	for (int fd = 0; fd < 1024; fd++)
		if (fcntl(fd, F_GETFD) >= 0)
			n++;
	return n;
}

/* What a share may carry: a memfd at least offset + len long, nothing else. */
static void memfd_checks(int pipe_rd)
{
	char why[160] = "";
	int mfd = memfd_create("test-broker-proto", MFD_CLOEXEC), null = open("/dev/null", O_RDONLY | O_CLOEXEC);

	if (mfd < 0 || null < 0 || ftruncate(mfd, 2 * 4096))
		tap_bail("memfd or /dev/null");
	is_int(sva_broker_memfd_check(mfd, 0, 2 * 4096, why, sizeof(why)), 0, "a memfd of the range's size: fine");
	is_int(sva_broker_memfd_check(mfd, 4096, 4096, why, sizeof(why)), 0, "its second page: fine");
	is_int(sva_broker_memfd_check(mfd, 4096, 2 * 4096, why, sizeof(why)), -EINVAL,
	       "a range past its end: -EINVAL");
	ok(strstr(why, "shorter") && strstr(why, "ftruncate"), "  saying so (%s)", why);
	is_int(sva_broker_memfd_check(pipe_rd, 0, 4096, why, sizeof(why)), -EINVAL, "a pipe: -EINVAL");
	ok(strstr(why, "not a memfd") != NULL, "  saying so (%s)", why);
	is_int(sva_broker_memfd_check(null, 0, 4096, why, sizeof(why)), -EINVAL, "/dev/null: -EINVAL");
	/* The broker's check too: an O_PATH descriptor maps nothing (EBADF, as
	 * mmap(2) answers), though the file it names is a memfd. */
	char proc[64];
	snprintf(proc, sizeof(proc), "/proc/self/fd/%d", mfd);
	int opath = open(proc, O_PATH | O_CLOEXEC);
	if (opath < 0) {
		skip(2, "no /proc/self/fd here");
	} else {
		is_int(sva_broker_memfd_check(opath, 0, 4096, why, sizeof(why)), -EBADF,
		       "an O_PATH descriptor of the memfd: -EBADF");
		ok(strstr(why, "O_PATH") != NULL, "  saying so (%s)", why);
		close(opath);
	}
	close(mfd);
	close(null);
}

int main(void)
{
	struct sva_broker_msg m, r;
	int sv[2], fd, base, pipefd[2];

	pair(sv);
	if (pipe2(pipefd, O_CLOEXEC))
		abort();
	memfd_checks(pipefd[0]);

	sva_broker_msg_init(&m, SVA_BOP_OPEN);
	strcpy(m.text, "mock0");
	m.arg[5] = 0x1122334455667788ull;
	is_int(sva_broker_send(sv[0], &m, -1), 0, "send a message");
	is_int(sva_broker_recv(sv[1], &r, &fd), 0, "receive it");
	ok(r.op == SVA_BOP_OPEN && !strcmp(r.text, "mock0") && r.arg[5] == 0x1122334455667788ull && fd == -1,
	   "every field arrives, no descriptor");

	is_int(sva_broker_send(sv[0], &m, pipefd[1]), 0, "send with a descriptor");
	is_int(sva_broker_recv(sv[1], &r, &fd), 0, "receive it");
	ok(fd >= 0 && fd != pipefd[1] && r.nfds == 1, "a new descriptor arrives (%d)", fd);
	ok(fd >= 0 && (fcntl(fd, F_GETFD) & FD_CLOEXEC), "close-on-exec");
	if (fd >= 0)
		close(fd);

	base = open_fds();
	send_raw(sv[0], &m, sizeof(m) - 1, -1, 0);
	is_int(sva_broker_recv(sv[1], &r, &fd), -EBADMSG, "a short message: -EBADMSG");
	{
		char big[sizeof(m) + 64];

		memset(big, 0, sizeof(big));
		memcpy(big, &m, sizeof(m));
		send_raw(sv[0], big, sizeof(big), pipefd[0], 1);
		is_int(sva_broker_recv(sv[1], &r, &fd), -EBADMSG, "a long message: -EBADMSG");
		is_int(open_fds(), base, "and its descriptor is closed");
	}
	r = m;
	r.magic ^= 1;
	send_raw(sv[0], &r, sizeof(r), -1, 0);
	is_int(sva_broker_recv(sv[1], &r, &fd), -EBADMSG, "a wrong magic: -EBADMSG");
	r = m;
	memset(r.text, 'x', sizeof(r.text));
	send_raw(sv[0], &r, sizeof(r), -1, 0);
	is_int(sva_broker_recv(sv[1], &r, &fd), -EBADMSG, "an unterminated text: -EBADMSG");
	r = m;
	r.nfds = 3;
	send_raw(sv[0], &r, sizeof(r), pipefd[0], 3);
	is_int(sva_broker_recv(sv[1], &r, &fd), -EPROTO, "three descriptors: -EPROTO");
	is_int(open_fds(), base, "and all three are closed");
	r = m;
	r.nfds = 1;
	send_raw(sv[0], &r, sizeof(r), -1, 0);
	is_int(sva_broker_recv(sv[1], &r, &fd), -EPROTO, "a descriptor announced but missing: -EPROTO");
	r = m;
	r.nfds = 0;
	send_raw(sv[0], &r, sizeof(r), pipefd[0], 1);
	is_int(sva_broker_recv(sv[1], &r, &fd), -EPROTO, "a descriptor not announced: -EPROTO");
	is_int(open_fds(), base, "and it is closed");
	/* sva-brokerd(8): "a message of 0 bytes reads as the socket's end: the
	 * client is ended as for a hang-up, with no reply" (review Z64: one
	 * carrying a descriptor was answered -EBADMSG instead). */
	send_raw(sv[0], "", 0, pipefd[0], 1);
	is_int(sva_broker_recv(sv[1], &r, &fd), -ECONNRESET, "0 bytes with a descriptor: -ECONNRESET, as a hang-up");
	is_int(open_fds(), base, "and the descriptor is closed");
	is_int(sva_broker_msg_check(&m, sizeof(m), 0), 0, "msg_check accepts a good message");
	is_int(sva_broker_msg_check(&m, sizeof(m), 2), -EPROTO, "msg_check: two descriptors");

	sva_broker_msg_init(&m, 999);
	is_int(sva_broker_send(sv[0], &m, -1), 0, "an unknown op is well-formed on the wire");
	is_int(sva_broker_recv(sv[1], &r, &fd), 0, "it is received (the broker refuses it by op)");
	ok(!strcmp(sva_broker_op_name(r.op), "unknown"), "its name is 'unknown'");
	ok(!strcmp(sva_broker_op_name(SVA_BOP_ATTACH), "attach"), "op names");
	ok(!strcmp(sva_broker_op_name(SVA_BOP_RID_ATTACH), "rid-attach") &&
		   !strcmp(sva_broker_op_name(SVA_BOP_RID_DETACH), "rid-detach"),
	   "the RID requests of a device without PASIDs have names");

	close(sv[0]);
	is_int(sva_broker_recv(sv[1], &r, &fd), -ECONNRESET, "the peer closed: -ECONNRESET");
	close(sv[1]);
	pair(sv);
	close(sv[1]);
	is_int(sva_broker_send(sv[0], &m, -1), -EPIPE, "sending to a closed peer: -EPIPE, no SIGPIPE");
	close(sv[0]);
	close(pipefd[0]);
	close(pipefd[1]);
	return done_testing();
}
