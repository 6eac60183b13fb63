/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Encoding and checking of broker messages (broker_proto.h). */
#define _GNU_SOURCE /* F_GET_SEALS */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/socket.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include "broker_proto.h"

/* Room for more descriptors than allowed, so excess ones arrive and are closed
 * here rather than silently dropped by a truncated control buffer. */
#define RECV_FDS 8

void sva_broker_msg_init(struct sva_broker_msg *m, uint32_t op)
{
	memset(m, 0, sizeof(*m));
	m->magic = SVA_BROKER_MAGIC;
	m->op = op;
}

int sva_broker_msg_check(const struct sva_broker_msg *m, size_t len, unsigned nfds)
{
	if (len != sizeof(*m) || m->magic != SVA_BROKER_MAGIC)
		return -EBADMSG;
	if (nfds > 1 || m->nfds != nfds)
		return -EPROTO;
	if (!memchr(m->text, '\0', sizeof(m->text)))
		return -EBADMSG;
	return 0;
}

int sva_broker_send(int sock, const struct sva_broker_msg *m, int fd)
{
	struct sva_broker_msg copy = *m;
	union {
		char buf[CMSG_SPACE(sizeof(int))];
		struct cmsghdr align;
	} ctl;
	struct iovec iov = { .iov_base = &copy, .iov_len = sizeof(copy) };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };
	ssize_t n;

	copy.nfds = fd >= 0 ? 1 : 0;
	if (fd >= 0) {
		struct cmsghdr *c;

		memset(&ctl, 0, sizeof(ctl));
		mh.msg_control = ctl.buf;
		mh.msg_controllen = sizeof(ctl.buf);
		c = CMSG_FIRSTHDR(&mh);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(c), &fd, sizeof(int));
	}
	do
		n = sendmsg(sock, &mh, MSG_NOSIGNAL);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return -errno;
	return n == (ssize_t)sizeof(copy) ? 0 : -EIO;
}

/*
 * A reply whose descriptors did not all arrive (MSG_CTRUNC): the kernel drops
 * one that the process has no room for (EMFILE, ENFILE) the same way as one
 * beyond the control buffer (a peer breaking the protocol).  Out of
 * descriptors now: that (-EMFILE, -ENFILE); else -EPROTO.
 */
static int ctrunc_cause(int sock)
{
	int t = fcntl(sock, F_DUPFD_CLOEXEC, 0);

	if (t >= 0) {
		close(t);
		return -EPROTO;
	}
	return errno == EMFILE || errno == ENFILE ? -errno : -EPROTO;
}

int sva_broker_recv(int sock, struct sva_broker_msg *m, int *fd)
{
	/* One byte more than a message, so a longer one shows as too long. */
	char buf[sizeof(*m) + 1];
	union {
		char buf[CMSG_SPACE(sizeof(int) * RECV_FDS)];
		struct cmsghdr align;
	} ctl;
	struct iovec iov = { .iov_base = buf, .iov_len = sizeof(buf) };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl.buf,
			     .msg_controllen = sizeof(ctl.buf) };
	int fds[RECV_FDS];
	unsigned nfds = 0;
	ssize_t n;
	int ret;

	*fd = -1;
	do
		n = recvmsg(sock, &mh, MSG_CMSG_CLOEXEC);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return -errno;
	for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c)) {
		size_t k;

		if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
			continue;
		k = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		for (size_t i = 0; i < k && nfds < RECV_FDS; i++)
			memcpy(&fds[nfds++], CMSG_DATA(c) + i * sizeof(int), sizeof(int));
	}
	/* 0 bytes: the peer's end, or a 0-byte message, which reads the same
	 * (sva-brokerd(8)); any descriptor it carried is closed. */
	if (n == 0) {
		for (unsigned i = 0; i < nfds; i++)
			close(fds[i]);
		return -ECONNRESET;
	}
	if ((size_t)n == sizeof(*m))
		memcpy(m, buf, sizeof(*m));
	if ((size_t)n != sizeof(*m))
		ret = -EBADMSG;
	else if (mh.msg_flags & (MSG_TRUNC | MSG_CTRUNC))
		ret = ctrunc_cause(sock);
	else
		ret = sva_broker_msg_check(m, (size_t)n, nfds);
	if (ret) {
		for (unsigned i = 0; i < nfds; i++)
			close(fds[i]);
		return ret;
	}
	if (nfds)
		*fd = fds[0];
	return 0;
}

int sva_broker_memfd_check(int fd, uint64_t off, uint64_t len, char *why, size_t n)
{
	struct stat st;
	int acc = fcntl(fd, F_GETFL);

	/* An O_PATH descriptor names the file but maps nothing (mmap(2) and
	 * IOMMU_IOAS_MAP_FILE answer EBADF); it also fails F_GET_SEALS, which
	 * would call even a memfd's "not a memfd". */
	if (acc >= 0 && (acc & O_PATH)) {
		snprintf(why, n, "descriptor %d was opened with O_PATH, which allows no mapping: pass the memfd itself",
			 fd);
		return -EBADF;
	}
	if (fcntl(fd, F_GET_SEALS) < 0) {
		snprintf(why, n, "descriptor %d is not a memfd (memfd_create(2): a shmem or hugetlbfs file)", fd);
		return -EINVAL;
	}
	/* The broker maps the file with the descriptor's rights: the device
	 * must not read what the client could not (review Z53). */
	if (acc < 0 || (acc & O_ACCMODE) == O_WRONLY) {
		snprintf(why, n, "descriptor %d is open for writing only: a device may read only what the client can "
			 "(share one open for reading)", fd);
		return -EACCES;
	}
	if (fstat(fd, &st)) {
		snprintf(why, n, "fstat of descriptor %d failed", fd);
		return -EINVAL;
	}
	if (st.st_size < 0 || (uint64_t)st.st_size < off + len) {
		snprintf(why, n, "the memfd is %lld bytes, shorter than offset + len (%llu): ftruncate(2) it first",
			 (long long)st.st_size, (unsigned long long)(off + len));
		return -EINVAL;
	}
	return 0;
}

const char *sva_broker_op_name(uint32_t op)
{
	static const char *const names[] = {
		[SVA_BOP_HELLO] = "hello", [SVA_BOP_OPEN] = "open", [SVA_BOP_CLOSE] = "close",
		[SVA_BOP_ATTACH] = "attach", [SVA_BOP_DETACH] = "detach", [SVA_BOP_REGISTER] = "register",
		[SVA_BOP_UNREGISTER] = "unregister", [SVA_BOP_PX_IOAS_ALLOC] = "ioas-alloc",
		[SVA_BOP_PX_IOAS_MAP] = "ioas-map", [SVA_BOP_PX_IOAS_UNMAP] = "ioas-unmap",
		[SVA_BOP_PX_IOVA_RANGES] = "iova-ranges", [SVA_BOP_PX_HWPT_ALLOC] = "hwpt-alloc",
		[SVA_BOP_PX_HW_INFO] = "hw-info", [SVA_BOP_PX_FAULT_ALLOC] = "fault-alloc",
		[SVA_BOP_PX_DESTROY] = "destroy", [SVA_BOP_PX_INJECT] = "inject", [SVA_BOP_PX_SHARE] = "share",
		[SVA_BOP_RID_ATTACH] = "rid-attach", [SVA_BOP_RID_DETACH] = "rid-detach",
		[SVA_BOP_PX_UNSHARE] = "unshare",
	};

	return op < SVA_BOP_END && names[op] ? names[op] : "unknown";
}
