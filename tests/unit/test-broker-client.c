/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The client side of sva-brokerd without a kernel: sva_ctx_new() with
 * SVA_CTX_BROKER refuses bad options, says clearly when no broker listens,
 * passes on a broker's refusal with its reason, and refuses a malformed or
 * hostile reply (no iommufd, a bad PASID block, garbage) without crashing.
 * A fake broker (a thread on a listening socket) answers each case.  It
 * never waits unbounded: a client that failed before connecting, or that
 * stopped talking, used to leave it in accept() or a read for good, and the
 * test hung in pthread_join() instead of failing (fake_wait()).
 */
#define _GNU_SOURCE /* memfd_create */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stddef.h>
#include <stdbool.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stdatomic.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <unistd.h>

#include "broker_client.h"
#include "broker_proto.h"
#include "broker_share.h"
#include "internal.h"
#include "sva/sva.h"
#include "../tap.h"

static char path[108];
static char logged[512];

/*
 * sendmsg(2) for the static libsva-test this links: when short_send is set,
 * the next call (the client's: the fake broker only answers) sends nothing
 * and reports one byte less than asked, the short send sva_broker_send()
 * turns into -EIO (libsva(7), the broker's errors).  A SOCK_SEQPACKET socket
 * does not send part of a message by itself: only this makes one.
 */
static atomic_bool short_send;
/* ... or, when set, the next request of this op only (a bind makes several). */
static _Atomic uint32_t short_send_op;

static bool short_send_now(const struct msghdr *msg)
{
	const struct sva_broker_msg *m = msg->msg_iov[0].iov_base;
	uint32_t op = atomic_load(&short_send_op);

	if (op && msg->msg_iovlen && msg->msg_iov[0].iov_len >= sizeof(*m) && m->op == op)
		return atomic_exchange(&short_send_op, 0) == op;
	return atomic_exchange(&short_send, false);
}

ssize_t sendmsg(int fd, const struct msghdr *msg, int flags);
ssize_t sendmsg(int fd, const struct msghdr *msg, int flags)
{
	if (short_send_now(msg)) {
		size_t len = 0;

		for (size_t i = 0; i < msg->msg_iovlen; i++)
			len += msg->msg_iov[i].iov_len;
		return len ? (ssize_t)len - 1 : 0;
	}
	return (ssize_t)syscall(SYS_sendmsg, fd, msg, flags);
}

/*
 * recvmsg(2) for the same libsva-test: when hangup_after_enoent is set, a
 * received reply to IOVA_RANGES with status -ENOENT returns only once its
 * sender hung up (the fake broker closes the connection right after it): a
 * broker that stopped cleanly after destroying the client's objects, seen
 * as the client sees it, without a race against the fake's close.
 */
#define FAKE_WAIT_MS_EARLY 30000
static atomic_bool hangup_after_enoent;

ssize_t recvmsg(int fd, struct msghdr *msg, int flags);
ssize_t recvmsg(int fd, struct msghdr *msg, int flags)
{
	ssize_t n = (ssize_t)syscall(SYS_recvmsg, fd, msg, flags);
	const struct sva_broker_msg *m = msg->msg_iov[0].iov_base;

	if (atomic_load(&hangup_after_enoent) && n == (ssize_t)sizeof(*m) &&
	    msg->msg_iov[0].iov_len >= sizeof(*m) && m->op == SVA_BOP_PX_IOVA_RANGES && m->status == -ENOENT) {
		struct pollfd p = { .fd = fd, .events = POLLRDHUP };

		while (poll(&p, 1, FAKE_WAIT_MS_EARLY) < 0 && errno == EINTR)
			;
	}
	return n;
}

static void capture(void *arg, enum sva_log_level level, const char *msg)
{
	(void)arg;
	if (level >= SVA_LOG_ERROR && !logged[0])
		snprintf(logged, sizeof(logged), "%s", msg);
}

enum answer { A_REFUSE, A_NO_FD, A_BAD_BLOCK, A_GARBAGE, A_HANGUP, A_ISO_FD, A_OPEN };
enum form { F_WHOLE, F_SHORT, F_BAD_MAGIC, F_WITH_FD };

struct fake {
	int lsock;
	enum answer a;
	int status; /* A_REFUSE's */
	const char *pci; /* A_OPEN: the PCI address its open reply gives */
	int closes;	 /* A_OPEN: the SVA_BOP_CLOSE requests it got */
	int unshare_status; /* A_OPEN: its answer to an unshare */
	int unshares;	    /* A_OPEN: the unshare requests it got */
	bool hold_unshare;  /* A_OPEN: hold an unshare's answer until released */
	/* A_OPEN: its answer to the first request of op px_op (0: none): status
	 * px_status, or hanging up when px_hangup.
	 * Atomic: the test thread sets them between two requests of one
	 * connection, which ThreadSanitizer does not see ordered by the socket. */
	_Atomic uint32_t px_op;
	_Atomic int px_status;
	atomic_bool px_hangup;
	atomic_bool px_then_hangup; /* ... or answering it, then hanging up */
	/* ... or its answer (status px_status) cut short, or with a wrong magic. */
	_Atomic int px_form;
	atomic_bool px_every; /* ... and so to every request of op px_op, not the first only */
	/* A_OPEN: PASIDs attached (ATTACH answered 0, less DETACHes) and HWPTs
	 * made (less destroyed): what the client left bound at the broker. */
	atomic_int attached, hwpts;
	/* A_OPEN: the PASID of the last ATTACH seen; the next DETACH refused
	 * with this status, nothing detached (0: answered as above). */
	_Atomic uint32_t last_attach_pasid;
	atomic_int detach_status;
	int queue_fd;  /* A_OPEN: sent with a fault queue's reply (-1: none) */
	int extra_fd;  /* A_OPEN: sent with an F_WITH_FD reply (made before the
			* test fills the table this thread shares) */
	int rid_fd;    /* A_OPEN: sent with an open's reply, a lent VFIO file (-1: none) */
	atomic_int rid_attached; /* A_OPEN: RID_ATTACHes answered 0, less RID_DETACHes */
	uint32_t park_ioas; /* A_OPEN: the parking IOAS its open reply names (0: none) */
	bool pasids;	    /* A_OPEN: its HW_INFO answers a 20-bit PASID width */
	int destroys;  /* A_OPEN: the PX_DESTROY requests of that queue it got */
	/* A_OPEN: the ranges it holds shared, as the real broker's (it refuses a
	 * share beyond max_shares, SVA_BROKER_MAX_SHARES when 0, -ENOSPC). */
	uint64_t share_va[128], share_len[128];
	int nshares, max_shares;
	pthread_mutex_t lock;
	pthread_cond_t cond; /* unshares and hold_unshare change */
	int wake[2];	     /* written by serve_end(): the client is done */
	bool accepted;	     /* the fake broker took a connection */
	bool timed_out;	     /* ... or waited FAKE_WAIT_MS for it, or for a message */
};

/* A bound on a wait for what comes at once when all is well (a connection,
 * a message, the end of the test's client): not a measure of speed, only
 * what turns a hang into a failing line. */
#define FAKE_WAIT_MS 30000

/*
 * Wait until fd is readable (a connection, a message, or its end): true.
 * false once the test's client is done (serve_end()) with nothing there, or
 * after FAKE_WAIT_MS.  The client's connection and messages are queued
 * before its call returns, so they are seen before the wake-up.
 */
static bool fake_wait(struct fake *f, int fd)
{
	struct pollfd p[2] = { { .fd = fd, .events = POLLIN }, { .fd = f->wake[0], .events = POLLIN } };
	int ret;

	do
		ret = poll(p, 2, FAKE_WAIT_MS);
	while (ret < 0 && errno == EINTR);
	if (ret > 0 && p[0].revents)
		return true;
	if (ret == 0)
		f->timed_out = true;
	return false;
}

/* A_OPEN: an isolated client's broker that grants the hello, answers an open
 * with f->pci as the device's address, and every other request with 0. */
static void serve_open(struct fake *f, int s, struct sva_broker_msg *m)
{
	int fd;

	m->arg[0] = 256;
	m->arg[1] = 319;
	sva_broker_send(s, m, -1);
	while (fake_wait(f, s) && sva_broker_recv(s, m, &fd) == 0) {
		if (fd >= 0)
			close(fd);
		if (m->op == SVA_BOP_OPEN) {
			memset(m->arg, 0, sizeof(m->arg));
			m->arg[0] = 7; /* the device's ID */
			m->arg[3] = f->park_ioas;
			memset(m->text, 0, sizeof(m->text));
			if (f->pci)
				memcpy(m->text, f->pci, strlen(f->pci) < sizeof(m->text) ? strlen(f->pci) : sizeof(m->text));
		} else if (m->op == SVA_BOP_CLOSE) {
			f->closes++;
		} else if (m->op == SVA_BOP_PX_HW_INFO && f->pasids) {
			m->arg[1] = 20;
		} else if (m->op == SVA_BOP_PX_HWPT_ALLOC) {
			m->arg[0] = 13; /* the HWPT's ID */
		} else if (m->op == SVA_BOP_PX_FAULT_ALLOC) {
			m->arg[0] = 9; /* the queue's ID */
		} else if (m->op == SVA_BOP_PX_DESTROY && m->arg[0] == 9) {
			f->destroys++;
		}
		m->status = 0;
		bool hang = false;
		int form = F_WHOLE;

		if (f->px_op && m->op == f->px_op) {
			bool every = atomic_load(&f->px_every);

			if (!every)
				f->px_op = 0;
			if (f->px_hangup)
				break;
			m->status = f->px_status;
			hang = f->px_then_hangup;
			form = every ? atomic_load(&f->px_form) : atomic_exchange(&f->px_form, F_WHOLE);
		}
		/* Done as the broker does it, whatever the answer looks like. */
		if (m->op == SVA_BOP_ATTACH)
			atomic_store(&f->last_attach_pasid, (uint32_t)m->arg[1]);
		if (m->op == SVA_BOP_ATTACH && !m->status)
			atomic_fetch_add(&f->attached, 1);
		if (m->op == SVA_BOP_DETACH) {
			if (atomic_load(&f->detach_status))
				m->status = atomic_exchange(&f->detach_status, 0);
			else if (atomic_load(&f->attached) > 0)
				atomic_fetch_sub(&f->attached, 1);
			else
				m->status = -ENOENT;
		}
		if (m->op == SVA_BOP_RID_ATTACH && !m->status)
			atomic_store(&f->rid_attached, 1);
		if (m->op == SVA_BOP_RID_DETACH) {
			if (atomic_exchange(&f->rid_attached, 0) == 0)
				m->status = -ENOENT;
		}
		if (m->op == SVA_BOP_PX_HWPT_ALLOC && !m->status)
			atomic_fetch_add(&f->hwpts, 1);
		if (m->op == SVA_BOP_PX_DESTROY && m->arg[0] == 13)
			atomic_fetch_sub(&f->hwpts, 1);
		/* Whole, but carrying a descriptor this reply never carries. */
		if (form == F_WITH_FD) {
			sva_broker_send(s, m, f->extra_fd);
			continue;
		}
		if (form != F_WHOLE) {
			if (form == F_BAD_MAGIC)
				m->magic ^= 1;
			if (send(s, m, form == F_SHORT ? offsetof(struct sva_broker_msg, arg) : sizeof(*m), 0) < 0)
				break;
			continue;
		}
		if (m->op == SVA_BOP_PX_FAULT_ALLOC && !m->status) {
			sva_broker_send(s, m, f->queue_fd);
			continue;
		}
		if (m->op == SVA_BOP_OPEN && !m->status && f->rid_fd >= 0) {
			sva_broker_send(s, m, f->rid_fd);
			continue;
		}
		if (m->op == SVA_BOP_PX_SHARE) {
			int max = f->max_shares ? f->max_shares : SVA_BROKER_MAX_SHARES;

			pthread_mutex_lock(&f->lock);
			if (f->nshares >= max || f->nshares == (int)(sizeof(f->share_va) / sizeof(f->share_va[0]))) {
				m->status = -ENOSPC;
			} else {
				f->share_va[f->nshares] = m->arg[1];
				f->share_len[f->nshares++] = m->arg[2];
			}
			pthread_mutex_unlock(&f->lock);
		}
		if (m->op == SVA_BOP_PX_UNSHARE) {
			int i;

			pthread_mutex_lock(&f->lock);
			f->unshares++;
			pthread_cond_broadcast(&f->cond);
			while (f->hold_unshare)
				pthread_cond_wait(&f->cond, &f->lock);
			m->status = f->unshare_status;
			for (i = 0; i < f->nshares; i++)
				if (f->share_va[i] == m->arg[0] && f->share_len[i] == m->arg[1])
					break;
			if (i == f->nshares)
				m->status = -ENOENT;
			else if (!m->status) {
				f->share_va[i] = f->share_va[--f->nshares];
				f->share_len[i] = f->share_len[f->nshares];
			}
			pthread_mutex_unlock(&f->lock);
		}
		sva_broker_send(s, m, -1);
		if (hang)
			break;
	}
}

static void *serve_one(void *arg)
{
	struct fake *f = arg;
	struct sva_broker_msg m;
	int s, fd;

	if (!fake_wait(f, f->lsock))
		return NULL;
	s = accept(f->lsock, NULL, NULL);
	if (s < 0)
		return NULL;
	f->accepted = true;
	if (fake_wait(f, s) && sva_broker_recv(s, &m, &fd) == 0) {
		switch (f->a) {
		case A_REFUSE:
			m.status = f->status;
			snprintf(m.text, sizeof(m.text), "uid 1234 is in no device's allowlist");
			sva_broker_send(s, &m, -1);
			break;
		case A_NO_FD:
			m.arg[0] = 256;
			m.arg[1] = 319;
			sva_broker_send(s, &m, -1);
			break;
		case A_BAD_BLOCK:
			m.arg[0] = 500;
			m.arg[1] = 400;
			sva_broker_send(s, &m, 0); /* any descriptor: stdin */
			break;
		case A_GARBAGE:
			if (send(s, "junk", 4, 0) != 4)
				break;
			break;
		case A_HANGUP:
			break;
		case A_OPEN:
			serve_open(f, s, &m);
			break;
		case A_ISO_FD: /* an isolated client never receives the iommufd */
			m.arg[0] = 256;
			m.arg[1] = 319;
			sva_broker_send(s, &m, 0);
			break;
		}
	}
	close(s);
	return NULL;
}

static void serve_start(struct fake *f, pthread_t *t)
{
	f->accepted = false;
	f->timed_out = false;
	f->nshares = 0; /* a new client: nothing shared (no server thread runs yet) */
	if (pipe2(f->wake, O_CLOEXEC) || pthread_create(t, NULL, serve_one, f))
		tap_bail("cannot start the fake broker: %s", strerror(errno));
}

/* The test's client is done: the fake broker stops waiting for it.  Fails a
 * line if it never connected (what = the case), or a wait ran out. */
static void serve_end(struct fake *f, pthread_t t, const char *what)
{
	if (write(f->wake[1], "", 1) != 1)
		tap_bail("cannot wake the fake broker: %s", strerror(errno));
	pthread_join(t, NULL);
	close(f->wake[0]);
	close(f->wake[1]);
	if (!f->accepted)
		ok(false, "%s: the client never connected to the fake broker", what);
	if (f->timed_out)
		ok(false, "%s: the fake broker waited %d s for its client", what, FAKE_WAIT_MS / 1000);
}

/* The client's objects given back, each that was made, device first, as an
 * application would; then serve_end(). */
static void client_end(struct fake *f, pthread_t t, struct sva_dev *dev, struct sva_mm *mm, struct sva_ctx *ctx,
		       const char *what)
{
	if (dev)
		sva_dev_close(dev);
	if (mm)
		sva_mm_free(mm);
	if (ctx)
		sva_ctx_free(ctx);
	serve_end(f, t, what);
}

static int try_ctx(enum answer a, struct fake *f)
{
	struct sva_ctx_opts o = { .size = sizeof(o),
				  .flags = SVA_CTX_BROKER | (a == A_ISO_FD ? SVA_CTX_ISOLATED : 0), .broker_path = path,
				  .log_fn = capture, .log_level = SVA_LOG_ERROR };
	struct sva_ctx *ctx = NULL;
	pthread_t t;
	int ret;

	f->a = a;
	logged[0] = '\0';
	serve_start(f, &t);
	ret = sva_ctx_new(&o, &ctx);
	if (!ret)
		sva_ctx_free(ctx);
	serve_end(f, t, "try_ctx");
	return ret;
}

/*
 * sva_dev_get_info(3): pci_addr is the canonical address or "".  A broker
 * context's comes from the broker's open reply, which was taken as it came:
 * anything there became a path under the sysfs root, and pci_addr.  What is
 * no PCI address is a broken broker's: -EPROTO, the device given back.
 */
/*
 * An isolated context on the A_OPEN broker, whose open reply names `pci`:
 * sva_dev_open()'s result; *opened whether it gave a device, *info its
 * information then.  Everything is closed again; the broker's CLOSE
 * requests are in f->closes.  -1000: no context.
 */
static int open_reply(struct fake *f, const char *pci, bool *opened, struct sva_dev_info *info)
{
	struct sva_ctx_opts o = { .size = sizeof(o), .flags = SVA_CTX_BROKER | SVA_CTX_ISOLATED,
				  .broker_path = path, .log_fn = capture, .log_level = SVA_LOG_ERROR };
	struct sva_ctx *ctx = NULL;
	struct sva_dev *dev = NULL;
	pthread_t t;
	int ret = -1000;

	f->a = A_OPEN;
	f->pci = pci;
	f->closes = 0;
	*opened = false;
	serve_start(f, &t);
	if (is_int(sva_ctx_new(&o, &ctx), 0, "an isolated broker context")) {
		logged[0] = '\0';
		ret = sva_dev_open(ctx, "acc0", &dev);
		*opened = dev != NULL;
		if (dev && sva_dev_get_info(dev, info))
			info->pci_addr[0] = '\0';
		if (dev)
			sva_dev_close(dev);
		sva_ctx_free(ctx);
	}
	serve_end(f, t, "open_reply");
	return ret;
}

static void open_checks(struct fake *f)
{
	static const char *const bad[] = { "../../../etc", "41:00.0/../../x", "0000:41:00.0 ", "mock" };
	struct sva_dev_info info = { .size = sizeof(info) };
	bool opened;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		is_int(open_reply(f, bad[i], &opened, &info), -EPROTO,
		       "an open reply whose PCI address is '%s': -EPROTO", bad[i]);
		ok(!opened && strstr(logged, "malformed open reply"), "  nothing returned, said: %s", logged);
		ok(f->closes == 1, "  the device given back to the broker (%d closes)", f->closes);
	}
	/* A PCI address in another spelling: taken, in canonical form. */
	is_int(open_reply(f, "4A:0.3", &opened, &info), 0, "an open reply with PCI address '4A:0.3': opened");
	ok(opened && (info.flags & SVA_DEV_PCI) && !strcmp(info.pci_addr, "0000:4a:00.3"),
	   "  SVA_DEV_PCI, pci_addr in canonical form (%s)", info.pci_addr);
}

/*
 * sva_ctx_new(3), iommu_path: "An empty iommu_path is -EINVAL.  Ignored with
 * SVA_CTX_ADOPT_FD and SVA_CTX_BROKER": a broker context opens no iommufd
 * node, so an empty one is no mistake of its.
 */
static void empty_iommu_path(struct fake *f)
{
	struct sva_ctx_opts o = { .size = sizeof(o), .flags = SVA_CTX_BROKER | SVA_CTX_ISOLATED,
				  .broker_path = path, .iommu_path = "", .log_fn = capture,
				  .log_level = SVA_LOG_ERROR };
	struct sva_ctx *ctx = NULL;
	pthread_t t;
	int ret;

	f->a = A_OPEN;
	logged[0] = '\0';
	serve_start(f, &t);
	ret = sva_ctx_new(&o, &ctx);
	is_int(ret, 0, "SVA_CTX_BROKER with an empty iommu_path: made, the path ignored");
	ok(ctx != NULL && !logged[0], "  a context, no error line (%s)", logged);
	if (ctx)
		sva_ctx_free(ctx);
	/* Refused before it connected (-EINVAL), the server is released. */
	serve_end(f, t, "empty iommu_path");
}

/*
 * sva_ctx_unshare_memfd(3), what the client itself keeps: "On failure the
 * range stays shared" (an -EBUSY of the broker's unmap: a later unshare of it
 * is asked of the broker again, not refused -ENOENT as never shared), and
 * -ENOENT for "another thread is unsharing it" (without asking the broker).
 */
struct unshare_arg {
	struct sva_ctx *ctx;
	void *a;
	int ret;
};

static void *unshare_thread(void *arg)
{
	struct unshare_arg *u = arg;

	u->ret = sva_ctx_unshare_memfd(u->ctx, u->a, 2 * 4096);
	return NULL;
}

static int unshares_seen(struct fake *f)
{
	int n;

	pthread_mutex_lock(&f->lock);
	n = f->unshares;
	pthread_mutex_unlock(&f->lock);
	return n;
}

static void unshare_checks(struct fake *f)
{
	struct sva_ctx_opts o = { .size = sizeof(o), .flags = SVA_CTX_BROKER | SVA_CTX_ISOLATED,
				  .broker_path = path, .log_fn = capture, .log_level = SVA_LOG_ERROR };
	struct sva_ctx *ctx = NULL;
	pthread_t t, u;
	int fd = memfd_create("unshare", MFD_CLOEXEC);
	void *a = MAP_FAILED;

	f->a = A_OPEN;
	f->pci = NULL;
	f->unshares = 0; /* no server thread runs yet */
	f->unshare_status = 0;
	f->hold_unshare = false;
	if (fd < 0 || ftruncate(fd, 4 * 4096) ||
	    (a = mmap(NULL, 4 * 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0)) == MAP_FAILED) {
		skip(7, "no memfd");
		if (fd >= 0)
			close(fd);
		return;
	}
	serve_start(f, &t);
	if (is_int(sva_ctx_new(&o, &ctx), 0, "unshare: an isolated broker context")) {
		if (!is_int(sva_ctx_share_memfd(ctx, fd, 0, a, 2 * 4096), 0, "unshare: a range shared")) {
			skip(5, "nothing shared");
		} else {
			struct unshare_arg ua = { ctx, a, 1 };

			int r;

			pthread_mutex_lock(&f->lock);
			f->unshare_status = -EBUSY;
			pthread_mutex_unlock(&f->lock);
			is_int(sva_ctx_unshare_memfd(ctx, a, 2 * 4096), -EBUSY, "the broker's unmap refused: -EBUSY");
			pthread_mutex_lock(&f->lock);
			f->unshare_status = 0;
			pthread_mutex_unlock(&f->lock);
			r = sva_ctx_unshare_memfd(ctx, a, 2 * 4096);
			is_int(r, 0, "  the range stayed shared: unsharing it again reaches the broker (%d requests)",
			       unshares_seen(f));
			is_int(sva_ctx_unshare_memfd(ctx, a, 2 * 4096), -ENOENT, "  then it is gone: -ENOENT");
			sva_ctx_share_memfd(ctx, fd, 0, a, 2 * 4096);
			pthread_mutex_lock(&f->lock);
			f->hold_unshare = true;
			f->unshares = 0;
			pthread_mutex_unlock(&f->lock);
			pthread_create(&u, NULL, unshare_thread, &ua);
			pthread_mutex_lock(&f->lock);
			while (f->unshares == 0)
				pthread_cond_wait(&f->cond, &f->lock);
			pthread_mutex_unlock(&f->lock);
			is_int(sva_ctx_unshare_memfd(ctx, a, 2 * 4096), -ENOENT,
			       "another thread is unsharing the range: -ENOENT");
			pthread_mutex_lock(&f->lock);
			f->hold_unshare = false;
			pthread_cond_broadcast(&f->cond);
			pthread_mutex_unlock(&f->lock);
			pthread_join(u, NULL);
			ok(ua.ret == 0 && unshares_seen(f) == 1,
			   "  without asking the broker; the other thread's unshare: %d", ua.ret);
		}
		sva_ctx_free(ctx);
	} else {
		skip(6, "no context");
	}
	serve_end(f, t, "unshare");
	munmap(a, 4 * 4096);
	close(fd);
}

/*
 * sva_ctx_share_memfd(3), -ENOSPC: "The client has shared as many ranges as
 * the broker allows (64)", and the client keeps its own list of them for its
 * fault path (sva_broker_share_bounds()).  Review Z175: thread A unshares a
 * range of a full list; the broker forgets it and answers; before A takes it
 * off the client's list, thread B shares a new range.  The broker had room
 * and took it, the client's list was still full: B's range was left out of
 * it, B's call returned 0, and every fault in B's range was answered INVALID
 * (unsharing it said -ENOENT).  libsva-test's sva_test_unshare_replied_hook
 * holds A in that window while B shares; sva_test_share_wait_hook tells that
 * B waits for A (then A is let go, or the test would deadlock).
 */
extern void (*sva_test_unshare_replied_hook)(void); /* broker_share.c, libsva-test only */
extern void (*sva_test_share_wait_hook)(void);	    /* likewise */

static struct {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	bool armed, in_window, release, b_waiting, b_done;
} race = { .lock = PTHREAD_MUTEX_INITIALIZER, .cond = PTHREAD_COND_INITIALIZER };

static void race_in_window(void)
{
	pthread_mutex_lock(&race.lock);
	if (race.armed) {
		race.armed = false;
		race.in_window = true;
		pthread_cond_broadcast(&race.cond);
		while (!race.release)
			pthread_cond_wait(&race.cond, &race.lock);
	}
	pthread_mutex_unlock(&race.lock);
}

static void race_b_waits(void)
{
	pthread_mutex_lock(&race.lock);
	race.b_waiting = true;
	pthread_cond_broadcast(&race.cond);
	pthread_mutex_unlock(&race.lock);
}

struct share_arg {
	struct sva_ctx *ctx;
	int fd;
	uint64_t off;
	void *a;
	int ret;
};

static void *share_thread(void *arg)
{
	struct share_arg *s = arg;

	s->ret = sva_ctx_share_memfd(s->ctx, s->fd, s->off, s->a, 4096);
	pthread_mutex_lock(&race.lock);
	race.b_done = true;
	pthread_cond_broadcast(&race.cond);
	pthread_mutex_unlock(&race.lock);
	return NULL;
}

static void *unshare_page_thread(void *arg)
{
	struct unshare_arg *u = arg;

	u->ret = sva_ctx_unshare_memfd(u->ctx, u->a, 4096);
	return NULL;
}

static int fake_nshares(struct fake *f)
{
	int n;

	pthread_mutex_lock(&f->lock);
	n = f->nshares;
	pthread_mutex_unlock(&f->lock);
	return n;
}

#define NPAGES (SVA_BROKER_MAX_SHARES + 1)

/* An isolated context on the A_OPEN broker (which holds max shares), with
 * the first SVA_BROKER_MAX_SHARES pages of a shared; 0 or a failed line. */
static struct sva_ctx *full_ctx(struct fake *f, int fd, char *a, int max, pthread_t *t)
{
	struct sva_ctx_opts o = { .size = sizeof(o), .flags = SVA_CTX_BROKER | SVA_CTX_ISOLATED,
				  .broker_path = path, .log_fn = capture, .log_level = SVA_LOG_ERROR };
	struct sva_ctx *ctx = NULL;
	int i, ret = 0;

	f->a = A_OPEN;
	f->pci = NULL;
	f->unshare_status = 0;
	f->hold_unshare = false;
	f->max_shares = max;
	serve_start(f, t);
	if (!is_int(sva_ctx_new(&o, &ctx), 0, "cap: an isolated broker context"))
		return NULL;
	for (i = 0; i < SVA_BROKER_MAX_SHARES && !ret; i++)
		ret = sva_ctx_share_memfd(ctx, fd, (uint64_t)i * 4096, a + i * 4096, 4096);
	if (!is_int(ret, 0, "  %d ranges shared", i)) {
		sva_ctx_free(ctx);
		return NULL;
	}
	return ctx;
}

/*
 * libsva(7), the broker's errors, which the pages of the calls that talk to
 * the broker refer to: passed on by a call of an isolated context, whose
 * iommufd requests all go to the broker (sva_mm_new(3)'s IOAS here, and
 * sva_ctx_fault_fd(3)'s fault queue, whose reply carries a descriptor).
 */
static int queue_stand_in(void)
{
	int p[2];

	if (pipe2(p, O_CLOEXEC))
		tap_bail("pipe: %s", strerror(errno));
	close(p[1]);
	return p[0];
}

/*
 * Every error line of a context (sva_ctx_set_log), for the checks that a
 * broker's errno turned into another is said once, at error level.
 */
static struct {
	char text[2048];
	int n;
} lines;

static void collect(void *arg, enum sva_log_level level, const char *msg)
{
	size_t used = strlen(lines.text);

	(void)arg;
	if (level < SVA_LOG_ERROR)
		return;
	lines.n++;
	snprintf(lines.text + used, sizeof(lines.text) - used, "%s|", msg);
}

static void lines_reset(void)
{
	lines.text[0] = '\0';
	lines.n = 0;
}

/* How many of the collected lines hold what. */
static int lines_with(const char *what)
{
	int n = 0;

	for (const char *p = lines.text; (p = strstr(p, what)) != NULL; p += strlen(what))
		n++;
	return n;
}

static void broker_error_checks(struct fake *f)
{
	struct sva_ctx_opts o = { .size = sizeof(o), .flags = SVA_CTX_BROKER | SVA_CTX_ISOLATED | SVA_CTX_FAULT_POLL,
				  .broker_path = path, .log_fn = capture, .log_level = SVA_LOG_ERROR };
	static const struct {
		int status;
		bool hangup, short_send;
		int want;
		const char *what;
	} cases[] = {
		{ -ENOSPC, false, false, -ENOSPC, "the broker's table of objects is full: -ENOSPC" },
		{ 5, false, false, -EPROTO, "a reply whose status is no errno: -EPROTO" },
		{ 0, false, true, -EIO, "the socket took only part of the request: -EIO" },
		{ 0, true, false, -ECONNRESET, "the broker hangs up: -ECONNRESET" },
	};
	struct sva_ctx *ctx = NULL;
	struct sva_mm *mm = NULL;
	struct rlimit rl;
	pthread_t t;

	f->a = A_OPEN;
	f->pci = NULL;
	/* A short hello: sva_ctx_new(3)'s -EIO. */
	serve_start(f, &t);
	atomic_store(&short_send, true);
	is_int(sva_ctx_new(&o, &ctx), -EIO, "a hello the socket took only part of: -EIO");
	ok(ctx == NULL, "  and no context");
	serve_end(f, t, "short hello");

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		f->px_op = SVA_BOP_PX_IOAS_ALLOC;
		f->px_status = cases[i].status;
		f->px_hangup = cases[i].hangup;
		serve_start(f, &t);
		if (!is_int(sva_ctx_new(&o, &ctx), 0, "an isolated broker context")) {
			serve_end(f, t, "broker errors");
			continue;
		}
		atomic_store(&short_send, cases[i].short_send);
		mm = NULL;
		sva_ctx_set_log(ctx, collect, NULL, SVA_LOG_ERROR);
		lines_reset();
		is_int(sva_mm_new(ctx, NULL, &mm), cases[i].want, "sva_mm_new: %s", cases[i].what);
		ok(mm == NULL, "  and no address space");
		if (!cases[i].hangup)
			ok(lines.n == 1, "  one error line (%d): %s", lines.n, lines.text);
		atomic_store(&short_send, false);
		sva_ctx_free(ctx);
		serve_end(f, t, "broker errors");
	}

	/* sva_ctx_fault_fd(3): a queue reply without its descriptor breaks the
	 * protocol; one whose descriptor finds no room here is -EMFILE, and the
	 * queue the broker made for it is destroyed there. */
	f->px_op = 0;
	f->queue_fd = -1;
	serve_start(f, &t);
	if (is_int(sva_ctx_new(&o, &ctx), 0, "an isolated broker context in poll mode")) {
		sva_ctx_set_log(ctx, collect, NULL, SVA_LOG_ERROR);
		lines_reset();
		is_int(sva_ctx_fault_fd(ctx), -EPROTO, "sva_ctx_fault_fd: a queue reply without a descriptor: -EPROTO");
		ok(lines.n == 1 && lines_with("no descriptor") == 1 && !lines_with("Linux 6.11"),
		   "  one error line, saying the reply came without its descriptor, no kernel hint (%d): %s", lines.n,
		   lines.text);
		/* A malformed queue reply: said once, by the connection. */
		f->px_op = SVA_BOP_PX_FAULT_ALLOC;
		f->px_status = 0;
		f->px_hangup = false;
		atomic_store(&f->px_form, F_SHORT);
		lines_reset();
		is_int(sva_ctx_fault_fd(ctx), -EPROTO, "sva_ctx_fault_fd: a queue reply cut short: -EPROTO");
		ok(lines.n == 1 && lines_with("malformed reply") == 1 && !lines_with("Linux 6.11"),
		   "  one error line, saying so, no kernel hint (%d): %s", lines.n, lines.text);
		f->px_op = 0;
		sva_ctx_free(ctx);
	}
	serve_end(f, t, "fault queue");

	f->queue_fd = queue_stand_in();
	f->destroys = 0;
	serve_start(f, &t);
	if (is_int(sva_ctx_new(&o, &ctx), 0, "an isolated broker context in poll mode") && !getrlimit(RLIMIT_NOFILE, &rl)) {
		struct rlimit low = rl;
		int lowest = fcntl(0, F_DUPFD_CLOEXEC, 0), ret;

		/* Every descriptor below the limit taken: none for the reply's. */
		close(lowest);
		low.rlim_cur = (rlim_t)lowest;
		if (setrlimit(RLIMIT_NOFILE, &low))
			tap_bail("setrlimit: %s", strerror(errno));
		ret = sva_ctx_fault_fd(ctx);
		setrlimit(RLIMIT_NOFILE, &rl);
		is_int(ret, -EMFILE, "sva_ctx_fault_fd: no descriptor free for the queue the reply carried: -EMFILE");
		sva_ctx_free(ctx);
	}
	serve_end(f, t, "fault queue, no descriptor free");
	is_int(f->destroys, 1, "  the queue destroyed at the broker");
	close(f->queue_fd);
	f->queue_fd = -1;
}

/*
 * The broker refuses an isolated client's IOVA_RANGES with -EPERM when the
 * IOAS is neither the client's nor a parking one of a device it opened
 * (tools/broker/isolated.c): a client and broker that disagree about its
 * objects.  sva_mm_iova_ranges(3) and sva_dev_iova_ranges(3) list no -EPERM
 * (the kernel's IOMMU_IOAS_IOVA_RANGES has none): the calls answer with
 * libsva(7)'s -EPROTO, the broker found the request broke the protocol, and
 * log the broker's errno.
 */
static void iova_ranges_refusal_checks(struct fake *f)
{
	struct sva_ctx_opts o = { .size = sizeof(o), .flags = SVA_CTX_BROKER | SVA_CTX_ISOLATED,
				  .broker_path = path, .log_fn = capture, .log_level = SVA_LOG_ERROR };
	struct sva_iova_range r[4];
	struct sva_ctx *ctx = NULL;
	struct sva_mm *mm = NULL;
	struct sva_dev *dev = NULL;
	pthread_t t;
	size_t nr;

	f->a = A_OPEN;
	f->pci = NULL;
	f->px_op = 0;
	f->park_ioas = 11;
	serve_start(f, &t);
	if (is_int(sva_ctx_new(&o, &ctx), 0, "iova ranges: an isolated broker context") &&
	    is_int(sva_mm_new(ctx, NULL, &mm), 0, "  an address space") &&
	    is_int(sva_dev_open(ctx, "dev0", &dev), 0, "  a device parked on IOAS 11")) {
		f->px_op = SVA_BOP_PX_IOVA_RANGES;
		f->px_status = -EPERM;
		f->px_hangup = false;
		nr = 4;
		logged[0] = '\0';
		is_int(sva_mm_iova_ranges(mm, r, &nr), -EPROTO,
		       "sva_mm_iova_ranges: the broker's -EPERM (not this client's IOAS) is libsva(7)'s -EPROTO");
		ok(strstr(logged, "Operation not permitted") != NULL, "  the broker's errno logged: %s", logged);
		f->px_op = SVA_BOP_PX_IOVA_RANGES;
		nr = 4;
		logged[0] = '\0';
		is_int(sva_dev_iova_ranges(dev, r, &nr), -EPROTO,
		       "sva_dev_iova_ranges: the broker's -EPERM (not a parking IOAS of its) is -EPROTO");
		ok(strstr(logged, "Operation not permitted") != NULL, "  the broker's errno logged: %s", logged);
	}
	f->px_op = 0;
	client_end(f, t, dev, mm, ctx, "iova ranges refusal");
	f->park_ioas = 0;
}

/*
 * The broker refuses a PASID attach with -EPERM when the PASID is outside
 * the client's blocks or the HWPT is not one it saw the client create (a
 * trusted client's registration the broker's full table dropped): no errno
 * sva_bind(3) lists.  The bind answers -EPROTO, libsva(7)'s broker error for
 * a request the broker found breaking the protocol.
 */
static void bind_refusal_checks(struct fake *f)
{
	struct sva_ctx_opts o = { .size = sizeof(o), .flags = SVA_CTX_BROKER | SVA_CTX_ISOLATED,
				  .broker_path = path, .log_fn = capture, .log_level = SVA_LOG_ERROR };
	struct sva_bind_opts bo = { .size = sizeof(bo), .flags = SVA_BIND_PINNED };
	struct sva_ctx *ctx = NULL;
	struct sva_mm *mm = NULL;
	struct sva_dev *dev = NULL;
	struct sva_bond *bond = NULL;
	pthread_t t;

	f->a = A_OPEN;
	f->pci = NULL;
	f->px_op = 0;
	f->pasids = true;
	serve_start(f, &t);
	if (is_int(sva_ctx_new(&o, &ctx), 0, "bind refusal: an isolated broker context") &&
	    is_int(sva_mm_new(ctx, NULL, &mm), 0, "  an address space") &&
	    is_int(sva_dev_open(ctx, "dev0", &dev), 0, "  a device with PASIDs")) {
		f->px_op = SVA_BOP_ATTACH;
		f->px_status = -EPERM;
		f->px_hangup = false;
		logged[0] = '\0';
		is_int(sva_bind(dev, mm, &bo, &bond), -EPROTO,
		       "sva_bind: the broker's -EPERM (PASID or HWPT not this client's) is libsva(7)'s -EPROTO");
		ok(bond == NULL, "  and no bond");
		f->px_op = SVA_BOP_PX_HWPT_ALLOC;
		f->px_status = -EPERM;
		logged[0] = '\0';
		is_int(sva_bind(dev, mm, &bo, &bond), -EPROTO,
		       "sva_bind: the broker's -EPERM to the HWPT (IOAS not this client's) is -EPROTO");
		ok(strstr(logged, "Operation not permitted") != NULL, "  the broker's errno logged: %s", logged);
		ok(bond == NULL, "  and no bond");
	}
	f->px_op = 0;
	f->pasids = false;
	client_end(f, t, dev, mm, ctx, "bind refusal");
}

/*
 * A broker that stops cleanly destroys its clients' objects on its way out:
 * the kernel's -ENOENT about them (a trusted client asks its own iommufd; the
 * fake broker stands in with -ENOENT, then hangs up) tells the caller nothing
 * the iova_ranges pages list: the broker went away, -ECONNRESET.
 */
static void iova_ranges_gone_checks(struct fake *f)
{
	struct sva_ctx_opts o = { .size = sizeof(o), .flags = SVA_CTX_BROKER | SVA_CTX_ISOLATED,
				  .broker_path = path, .log_fn = capture, .log_level = SVA_LOG_ERROR };
	struct sva_iova_range r[4];
	struct sva_ctx *ctx = NULL;
	struct sva_mm *mm = NULL;
	pthread_t t;
	size_t nr = 4;

	f->a = A_OPEN;
	f->pci = NULL;
	f->px_op = 0;
	serve_start(f, &t);
	if (is_int(sva_ctx_new(&o, &ctx), 0, "iova ranges, broker stopped: an isolated broker context") &&
	    is_int(sva_mm_new(ctx, NULL, &mm), 0, "  an address space")) {
		f->px_op = SVA_BOP_PX_IOVA_RANGES;
		f->px_status = -ENOENT;
		f->px_hangup = false;
		f->px_then_hangup = true;
		atomic_store(&hangup_after_enoent, true);
		is_int(sva_mm_iova_ranges(mm, r, &nr), -ECONNRESET,
		       "sva_mm_iova_ranges: -ENOENT from a broker that then stopped is -ECONNRESET");
		atomic_store(&hangup_after_enoent, false);
	}
	f->px_op = 0;
	f->px_then_hangup = false;
	client_end(f, t, NULL, mm, ctx, "iova ranges, broker stopped");
}

/*
 * sva_bind(3) in a broker context, each way the broker's answer to the
 * attach can fail: the broker's errno passed on, a reply that breaks the
 * protocol (a status that is no errno, cut short, a wrong magic) -EPROTO, a
 * request the socket took only part of -EIO, and a broker that hangs up
 * -ECONNRESET (libsva(7), the broker's errors, to which sva_bind(3) ERRORS
 * refers).  After each, nothing is bound: no bond, nothing attached or left
 * allocated at the broker, and the same bind then succeeds.  A broker's errno
 * made into another (-EPERM, a status that is no errno) is logged once, in
 * the one error line of the failed call.
 */
static void bind_broker_failure_checks(struct fake *f)
{
	struct sva_ctx_opts o = { .size = sizeof(o), .flags = SVA_CTX_BROKER | SVA_CTX_ISOLATED,
				  .broker_path = path, .log_fn = capture, .log_level = SVA_LOG_ERROR };
	struct sva_bind_opts bo = { .size = sizeof(bo), .flags = SVA_BIND_PINNED };
	static const struct {
		int status, form;
		bool short_req, hangup;
		int want;
		const char *what, *said;
	} cases[] = {
		{ -ENOSPC, F_WHOLE, false, false, -ENOSPC, "the broker's error answer (-ENOSPC): passed on", NULL },
		{ -EPERM, F_WHOLE, false, false, -EPROTO, "the broker's -EPERM: -EPROTO", "Operation not permitted" },
		{ 5, F_WHOLE, false, false, -EPROTO, "a status that is no errno: -EPROTO", "status 5," },
		{ 0, F_SHORT, false, false, -EPROTO, "a reply cut short: -EPROTO", "malformed reply to attach" },
		{ 0, F_BAD_MAGIC, false, false, -EPROTO, "a reply with a wrong magic: -EPROTO",
		  "malformed reply to attach" },
		{ 0, F_WHOLE, true, false, -EIO, "a request the socket took only part of: -EIO", NULL },
		{ 0, F_WHOLE, false, true, -ECONNRESET, "the broker hangs up: -ECONNRESET", NULL },
	};
	struct sva_ctx *ctx = NULL;
	struct sva_mm *mm = NULL;
	struct sva_dev *dev = NULL;
	struct sva_bond *bond = NULL;
	struct sva_iova_range r[4];
	size_t nr = 4;
	pthread_t t;

	f->a = A_OPEN;
	f->pci = NULL;
	f->px_op = 0;
	f->pasids = true;
	atomic_store(&f->attached, 0);
	atomic_store(&f->hwpts, 0);
	serve_start(f, &t);
	if (!is_int(sva_ctx_new(&o, &ctx), 0, "bind, broker failures: an isolated broker context") ||
	    !is_int(sva_mm_new(ctx, NULL, &mm), 0, "  an address space") ||
	    !is_int(sva_dev_open(ctx, "dev0", &dev), 0, "  a device with PASIDs"))
		goto out;
	sva_ctx_set_log(ctx, collect, NULL, SVA_LOG_ERROR);

	/* The isolated client's own iommufd requests: the broker's status that
	 * is no errno, and a malformed reply, are said in the line. */
	f->px_op = SVA_BOP_PX_IOVA_RANGES;
	f->px_status = -4096;
	lines_reset();
	is_int(sva_mm_iova_ranges(mm, r, &nr), -EPROTO, "sva_mm_iova_ranges: a status that is no errno: -EPROTO");
	ok(lines.n == 1 && lines_with("status -4096,") == 1, "  the broker's status said once, at error level: %s",
	   lines.text);
	f->px_op = SVA_BOP_PX_IOVA_RANGES;
	f->px_status = 0;
	atomic_store(&f->px_form, F_SHORT);
	lines_reset();
	nr = 4;
	is_int(sva_mm_iova_ranges(mm, r, &nr), -EPROTO, "sva_mm_iova_ranges: a reply cut short: -EPROTO");
	ok(lines.n == 1 && lines_with("malformed reply to iova-ranges") == 1, "  said once, at error level: %s",
	   lines.text);
	/* What a bind and its unbind leave at the broker: the device's parking
	 * objects, made at its first bind, stay with it. */
	if (is_int(sva_bind(dev, mm, &bo, &bond), 0, "a bind with all answers whole"))
		is_int(sva_unbind(bond), 0, "  and its unbind");
	int hwpts = atomic_load(&f->hwpts);

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		f->px_op = SVA_BOP_ATTACH;
		f->px_status = cases[i].status;
		atomic_store(&f->px_form, cases[i].form);
		f->px_hangup = cases[i].hangup;
		atomic_store(&short_send_op, cases[i].short_req ? SVA_BOP_ATTACH : 0);
		if (cases[i].short_req)
			f->px_op = 0; /* the broker never sees it */
		lines_reset();
		bond = NULL;
		is_int(sva_bind(dev, mm, &bo, &bond), cases[i].want, "sva_bind: %s", cases[i].what);
		ok(bond == NULL, "  and no bond");
		ok(lines.n == 1, "  one error line (%d): %s", lines.n, lines.text);
		if (cases[i].said)
			ok(lines_with(cases[i].said) == 1, "  saying '%s' once", cases[i].said);
		atomic_store(&short_send_op, 0);
		f->px_op = 0;
		if (cases[i].hangup)
			break;
		is_int(atomic_load(&f->attached), 0, "  nothing left attached at the broker");
		is_int(atomic_load(&f->hwpts), hwpts, "  nor a page table beyond the device's parking one");
		if (is_int(sva_bind(dev, mm, &bo, &bond), 0, "  the same bind then succeeds"))
			is_int(sva_unbind(bond), 0, "  and unbinds");
	}
out:
	f->px_op = 0;
	f->pasids = false;
	client_end(f, t, dev, mm, ctx, "bind, broker failures");
}

/*
 * The same for a device without PASIDs, whose RID the broker attaches to
 * the client's HWPT: a reply to the RID attach that breaks the protocol may
 * come after the attach was made, and the failed bind must leave nothing
 * attached at the broker.
 */
static void rid_bind_failure_checks(struct fake *f)
{
	struct sva_ctx_opts o = { .size = sizeof(o), .flags = SVA_CTX_BROKER | SVA_CTX_ISOLATED,
				  .broker_path = path, .log_fn = capture, .log_level = SVA_LOG_ERROR };
	struct sva_bind_opts bo = { .size = sizeof(bo), .flags = SVA_BIND_PINNED | SVA_BIND_RID };
	static const struct {
		int status, form;
		const char *what;
	} cases[] = {
		{ 5, F_WHOLE, "a status that is no errno" },
		{ 0, F_SHORT, "a reply cut short" },
		{ 0, F_BAD_MAGIC, "a reply with a wrong magic" },
	};
	struct sva_ctx *ctx = NULL;
	struct sva_mm *mm = NULL;
	struct sva_dev *dev = NULL;
	struct sva_bond *bond = NULL;
	pthread_t t;

	f->a = A_OPEN;
	f->pci = NULL;
	f->px_op = 0;
	f->pasids = false;
	f->rid_fd = open("/dev/null", O_RDWR | O_CLOEXEC);
	atomic_store(&f->rid_attached, 0);
	serve_start(f, &t);
	if (!ok(f->rid_fd >= 0, "RID bind, broker failures: a stand-in VFIO file") ||
	    !is_int(sva_ctx_new(&o, &ctx), 0, "  an isolated broker context") ||
	    !is_int(sva_mm_new(ctx, NULL, &mm), 0, "  an address space") ||
	    !is_int(sva_dev_open(ctx, "dev0", &dev), 0, "  a device without PASIDs, lent"))
		goto out;
	sva_ctx_set_log(ctx, collect, NULL, SVA_LOG_ERROR);
	if (is_int(sva_bind(dev, mm, &bo, &bond), 0, "a RID bind with all answers whole")) {
		is_int(atomic_load(&f->rid_attached), 1, "  the RID attached at the broker");
		is_int(sva_unbind(bond), 0, "  and its unbind");
	}
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		f->px_op = SVA_BOP_RID_ATTACH;
		f->px_status = cases[i].status;
		atomic_store(&f->px_form, cases[i].form);
		f->px_hangup = false;
		lines_reset();
		bond = NULL;
		is_int(sva_bind(dev, mm, &bo, &bond), -EPROTO, "sva_bind of a RID: %s: -EPROTO", cases[i].what);
		ok(bond == NULL, "  and no bond");
		ok(lines.n == 1, "  one error line (%d): %s", lines.n, lines.text);
		f->px_op = 0;
		is_int(atomic_load(&f->rid_attached), 0, "  nothing left attached at the broker");
		if (is_int(sva_bind(dev, mm, &bo, &bond), 0, "  the same bind then succeeds"))
			is_int(sva_unbind(bond), 0, "  and unbinds");
	}
out:
	f->px_op = 0;
	client_end(f, t, dev, mm, ctx, "RID bind, broker failures");
	if (f->rid_fd >= 0)
		close(f->rid_fd);
	f->rid_fd = -1;
}

/*
 * A garbled reply to an attach the broker made, and the detach that undoes
 * it refused: the PASID may still be attached, to the bind's HWPT.  As for
 * an unbind whose detach failed, the value must never be handed out again
 * (the next bind of this device gets another), the HWPT must not be
 * destroyed under it, and sva_dev_close(3) detaches it.
 */
static void bind_attach_left_checks(struct fake *f)
{
	struct sva_ctx_opts o = { .size = sizeof(o), .flags = SVA_CTX_BROKER | SVA_CTX_ISOLATED,
				  .broker_path = path, .log_fn = capture, .log_level = SVA_LOG_ERROR };
	struct sva_bind_opts bo = { .size = sizeof(bo), .flags = SVA_BIND_PINNED };
	struct sva_ctx *ctx = NULL;
	struct sva_mm *mm = NULL;
	struct sva_dev *dev = NULL;
	struct sva_bond *bond = NULL;
	pthread_t t;

	f->a = A_OPEN;
	f->pci = NULL;
	f->px_op = 0;
	f->pasids = true;
	f->px_hangup = false;
	f->px_then_hangup = false;
	atomic_store(&f->attached, 0);
	atomic_store(&f->hwpts, 0);
	serve_start(f, &t);
	if (!is_int(sva_ctx_new(&o, &ctx), 0, "bind, attach left: an isolated broker context") ||
	    !is_int(sva_mm_new(ctx, NULL, &mm), 0, "  an address space") ||
	    !is_int(sva_dev_open(ctx, "dev0", &dev), 0, "  a device with PASIDs"))
		goto out;
	sva_ctx_set_log(ctx, collect, NULL, SVA_LOG_ERROR);
	/* The device's parking objects, made at its first bind, stay with it. */
	if (is_int(sva_bind(dev, mm, &bo, &bond), 0, "a bind with all answers whole"))
		is_int(sva_unbind(bond), 0, "  and its unbind");
	int hwpts = atomic_load(&f->hwpts);

	f->px_op = SVA_BOP_ATTACH;
	f->px_status = 0;
	atomic_store(&f->px_form, F_SHORT);
	atomic_store(&f->detach_status, -EIO);
	lines_reset();
	bond = NULL;
	is_int(sva_bind(dev, mm, &bo, &bond), -EPROTO, "sva_bind: a garbled attach reply, its undo refused: -EPROTO");
	f->px_op = 0;
	uint32_t left = atomic_load(&f->last_attach_pasid);

	ok(lines_with("may still be attached") == 1, "  saying the PASID may still be attached: %s", lines.text);
	is_int(atomic_load(&f->attached), 1, "  the PASID still attached at the broker");
	is_int(atomic_load(&f->hwpts), hwpts + 1, "  its page table not destroyed under it");
	if (is_int(sva_bind(dev, mm, &bo, &bond), 0, "  the same bind then succeeds")) {
		ok(sva_bond_pasid(bond) != left, "  under another PASID than %u, which may still be attached (%u)", left,
		   sva_bond_pasid(bond));
		is_int(sva_unbind(bond), 0, "  and unbinds");
	}
	sva_dev_close(dev);
	dev = NULL;
	is_int(atomic_load(&f->attached), 0, "  sva_dev_close() detached the PASID left attached");
out:
	f->px_op = 0;
	atomic_store(&f->detach_status, 0);
	f->pasids = false;
	client_end(f, t, dev, mm, ctx, "bind, attach left");
}

/* Fill this process's descriptor table (under a lowered soft limit, so it
 * takes few): *n descriptors in fds, and the old limit in *old.  false: the
 * limit could not be lowered (say why). */
static bool fds_fill(int *fds, int max, int *n, struct rlimit *old)
{
	struct rlimit lim;
	int top = dup(0);

	*n = 0;
	if (top < 0 || getrlimit(RLIMIT_NOFILE, old) || (rlim_t)top + 32 > old->rlim_cur) {
		if (top >= 0)
			close(top);
		return false;
	}
	close(top);
	lim = *old;
	lim.rlim_cur = (rlim_t)top + 32;
	if (setrlimit(RLIMIT_NOFILE, &lim))
		return false;
	while (*n < max) {
		int fd = dup(0);

		if (fd < 0)
			break;
		fds[(*n)++] = fd;
	}
	return true;
}

static void fds_free(const int *fds, int n, const struct rlimit *old)
{
	for (int i = 0; i < n; i++)
		close(fds[i]);
	setrlimit(RLIMIT_NOFILE, old);
}

/*
 * An attach reply carrying a descriptor (no attach reply does) while this
 * process has none free: the kernel drops the descriptor and says only
 * MSG_CTRUNC.  Still a reply that broke the protocol, whatever the
 * process's table: -EPROTO (sva_bind(3)), said once, and the attach the
 * broker may have made undone, as for every malformed attach reply.
 */
static void bind_attach_fd_checks(struct fake *f)
{
	struct sva_ctx_opts o = { .size = sizeof(o), .flags = SVA_CTX_BROKER | SVA_CTX_ISOLATED,
				  .broker_path = path, .log_fn = capture, .log_level = SVA_LOG_ERROR };
	struct sva_bind_opts bo = { .size = sizeof(bo), .flags = SVA_BIND_PINNED };
	struct sva_ctx *ctx = NULL;
	struct sva_mm *mm = NULL;
	struct sva_dev *dev = NULL;
	struct sva_bond *bond = NULL;
	struct rlimit old;
	int fds[64], n, ret;
	pthread_t t;

	f->a = A_OPEN;
	f->pci = NULL;
	f->px_op = 0;
	f->pasids = true;
	f->px_hangup = false;
	f->px_then_hangup = false;
	atomic_store(&f->attached, 0);
	serve_start(f, &t);
	if (!is_int(sva_ctx_new(&o, &ctx), 0, "attach reply with a descriptor: an isolated broker context") ||
	    !is_int(sva_mm_new(ctx, NULL, &mm), 0, "  an address space") ||
	    !is_int(sva_dev_open(ctx, "dev0", &dev), 0, "  a device with PASIDs"))
		goto out;
	sva_ctx_set_log(ctx, collect, NULL, SVA_LOG_ERROR);
	if (is_int(sva_bind(dev, mm, &bo, &bond), 0, "a bind with all answers whole"))
		is_int(sva_unbind(bond), 0, "  and its unbind");
	f->px_op = SVA_BOP_ATTACH;
	f->px_status = 0;
	atomic_store(&f->px_form, F_WITH_FD);
	f->extra_fd = queue_stand_in();
	lines_reset();
	bond = NULL;
	if (!fds_fill(fds, 64, &n, &old)) {
		skip(5, "RLIMIT_NOFILE cannot be lowered");
		goto out;
	}
	ret = sva_bind(dev, mm, &bo, &bond);
	fds_free(fds, n, &old);
	f->px_op = 0;
	is_int(ret, -EPROTO, "sva_bind: an attach reply with a descriptor, none free here: -EPROTO");
	is_int(lines.n, 1, "  one error line: %s", lines.text);
	is_int(atomic_load(&f->attached), 0, "  the attach undone at the broker");
	if (is_int(sva_bind(dev, mm, &bo, &bond), 0, "  the same bind then succeeds"))
		is_int(sva_unbind(bond), 0, "  and unbinds");
out:
	f->px_op = 0;
	atomic_store(&f->px_form, F_WHOLE);
	f->pasids = false;
	client_end(f, t, dev, mm, ctx, "attach reply with a descriptor");
	if (f->extra_fd >= 0)
		close(f->extra_fd);
	f->extra_fd = -1;
}

/*
 * The per-thread note that the connection said a request's -EPROTO
 * (sva_fail_said()) is left set by a call that returns rpc's -EPROTO
 * without a line of its own (sva_mm_iova_ranges(3)).  A later call's
 * -EPROTO that the connection did not say (the broker's own status) must
 * still get its error line: one, not zero.
 */
static void proto_note_checks(struct fake *f)
{
	struct sva_ctx_opts o = { .size = sizeof(o), .flags = SVA_CTX_BROKER | SVA_CTX_ISOLATED,
				  .broker_path = path, .log_fn = capture, .log_level = SVA_LOG_ERROR };
	struct sva_ctx *ctx = NULL;
	struct sva_mm *mm = NULL, *mm2 = NULL;
	struct sva_iova_range r[4];
	size_t nr = 4;
	pthread_t t;

	f->a = A_OPEN;
	f->pci = NULL;
	f->px_op = 0;
	f->px_hangup = false;
	f->px_then_hangup = false;
	serve_start(f, &t);
	if (!is_int(sva_ctx_new(&o, &ctx), 0, "stale note: an isolated broker context") ||
	    !is_int(sva_mm_new(ctx, NULL, &mm), 0, "  an address space"))
		goto out;
	sva_ctx_set_log(ctx, collect, NULL, SVA_LOG_ERROR);
	f->px_op = SVA_BOP_PX_IOVA_RANGES;
	f->px_status = 0;
	atomic_store(&f->px_form, F_SHORT);
	lines_reset();
	is_int(sva_mm_iova_ranges(mm, r, &nr), -EPROTO, "sva_mm_iova_ranges: a reply cut short: -EPROTO");
	is_int(lines.n, 1, "  one error line: %s", lines.text);
	f->px_op = SVA_BOP_PX_IOAS_ALLOC;
	f->px_status = -EPROTO;
	lines_reset();
	is_int(sva_mm_new(ctx, NULL, &mm2), -EPROTO, "then sva_mm_new: the broker's own -EPROTO");
	is_int(lines.n, 1, "  one error line, not put to debug by the earlier call's note: %s", lines.text);
out:
	f->px_op = 0;
	atomic_store(&f->px_form, F_WHOLE);
	if (mm2)
		sva_mm_free(mm2);
	client_end(f, t, NULL, mm, ctx, "stale note");
}

/*
 * A broker that garbles every map while faults are resolved: the
 * connection's line for each would be one per fault.  Made resolving
 * faults (sva_log_device_driven(), set by fault.c around a batch's
 * records), its lines go through a rate limit of SVA_LOG_BURST a second;
 * a call's own line never does.
 */
static void proto_ratelimit_checks(struct fake *f)
{
	struct sva_ctx_opts o = { .size = sizeof(o), .flags = SVA_CTX_BROKER | SVA_CTX_ISOLATED,
				  .broker_path = path, .log_fn = capture, .log_level = SVA_LOG_ERROR };
	struct sva_ctx *ctx = NULL;
	int bad = 0, n;
	pthread_t t;

	f->a = A_OPEN;
	f->pci = NULL;
	f->px_hangup = false;
	f->px_then_hangup = false;
	serve_start(f, &t);
	if (!is_int(sva_ctx_new(&o, &ctx), 0, "rate limit: an isolated broker context"))
		goto out;
	sva_ctx_set_log(ctx, collect, NULL, SVA_LOG_ERROR);
	f->px_status = 0;
	atomic_store(&f->px_form, F_SHORT);
	atomic_store(&f->px_every, true);
	f->px_op = SVA_BOP_PX_IOAS_MAP;
	lines_reset();
	uint64_t t0 = sva_now_ns();

	sva_log_device_driven(true);
	for (int i = 0; i < 3 * (int)SVA_LOG_BURST; i++)
		bad += sva_px_ioas_map(ctx->broker, 1, 0x10000, 0x1000, 0x10000, 0) != -EPROTO;
	sva_log_device_driven(false);
	/* A slow run (a sanitizer) may span more than one second's burst. */
	int allowed = (int)SVA_LOG_BURST * (int)(1 + (sva_now_ns() - t0) / 1000000000u + 1);

	n = lines_with("malformed reply to ioas-map");
	is_int(bad, 0, "%u garbled map replies resolving faults: each -EPROTO", 3 * SVA_LOG_BURST);
	ok(n >= 1 && n <= allowed && n < 3 * (int)SVA_LOG_BURST, "  at most %u error lines a second for them (%d)",
	   SVA_LOG_BURST, n);
	lines_reset();
	is_int(sva_px_ioas_map(ctx->broker, 1, 0x10000, 0x1000, 0x10000, 0), -EPROTO,
	       "  then one made by a call, in the same second: -EPROTO");
	is_int(lines_with("malformed reply to ioas-map"), 1, "  its line not rate-limited: %s", lines.text);
out:
	f->px_op = 0;
	atomic_store(&f->px_every, false);
	atomic_store(&f->px_form, F_WHOLE);
	client_end(f, t, NULL, NULL, ctx, "rate limit");
}

/* A garbled reply to a share or an unshare: the connection's line is the
 * call's one error line (libsva(7), Errors), the call's own at debug. */
static void share_line_checks(struct fake *f)
{
	struct sva_ctx_opts o = { .size = sizeof(o), .flags = SVA_CTX_BROKER | SVA_CTX_ISOLATED,
				  .broker_path = path, .log_fn = capture, .log_level = SVA_LOG_ERROR };
	int fd = memfd_create("share-line", MFD_CLOEXEC);
	struct sva_ctx *ctx = NULL;
	void *a = MAP_FAILED;
	pthread_t t;

	f->a = A_OPEN;
	f->pci = NULL;
	f->px_hangup = false;
	f->px_then_hangup = false;
	f->unshare_status = 0;
	f->hold_unshare = false;
	if (fd < 0 || ftruncate(fd, 4096) ||
	    (a = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0)) == MAP_FAILED) {
		skip(5, "no memfd");
		if (fd >= 0)
			close(fd);
		return;
	}
	serve_start(f, &t);
	if (is_int(sva_ctx_new(&o, &ctx), 0, "share lines: an isolated broker context")) {
		sva_ctx_set_log(ctx, collect, NULL, SVA_LOG_ERROR);
		f->px_status = 0;
		atomic_store(&f->px_form, F_SHORT);
		f->px_op = SVA_BOP_PX_SHARE;
		lines_reset();
		is_int(sva_ctx_share_memfd(ctx, fd, 0, a, 4096), -EPROTO, "sva_ctx_share_memfd: a reply cut short: -EPROTO");
		is_int(lines.n, 1, "  one error line: %s", lines.text);
		f->px_op = 0;
		atomic_store(&f->px_form, F_WHOLE);
		if (is_int(sva_ctx_share_memfd(ctx, fd, 0, a, 4096), 0, "  shared with a whole reply")) {
			atomic_store(&f->px_form, F_SHORT);
			f->px_op = SVA_BOP_PX_UNSHARE;
			lines_reset();
			is_int(sva_ctx_unshare_memfd(ctx, a, 4096), -EPROTO,
			       "sva_ctx_unshare_memfd: a reply cut short: -EPROTO");
			is_int(lines.n, 1, "  one error line: %s", lines.text);
		} else {
			skip(2, "nothing shared");
		}
		f->px_op = 0;
		atomic_store(&f->px_form, F_WHOLE);
		sva_ctx_free(ctx);
	} else {
		skip(4, "no context");
	}
	serve_end(f, t, "share lines");
	pthread_mutex_lock(&f->lock);
	f->nshares = 0;
	pthread_mutex_unlock(&f->lock);
	munmap(a, 4096);
	close(fd);
}

static void cap_checks(struct fake *f)
{
	int fd = memfd_create("cap", MFD_CLOEXEC);
	char *a = MAP_FAILED, *last;
	struct sva_ctx *ctx;
	pthread_t t, ta, tb;
	uint64_t start, end;

	if (fd < 0 || ftruncate(fd, NPAGES * 4096) ||
	    (a = mmap(NULL, NPAGES * 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0)) == MAP_FAILED) {
		skip(14, "no memfd");
		if (fd >= 0)
			close(fd);
		return;
	}
	last = a + SVA_BROKER_MAX_SHARES * 4096;

	/* A broker allowing more than the client can track: the client refuses
	 * before asking, so nothing is shared that its faults would not find. */
	ctx = full_ctx(f, fd, a, 2 * SVA_BROKER_MAX_SHARES, &t);
	if (ctx) {
		is_int(sva_ctx_share_memfd(ctx, fd, SVA_BROKER_MAX_SHARES * 4096, last, 4096), -ENOSPC,
		       "a share beyond the %d ranges the client tracks: -ENOSPC", SVA_BROKER_MAX_SHARES);
		is_int(fake_nshares(f), SVA_BROKER_MAX_SHARES, "  nothing more shared at the broker");
		sva_ctx_free(ctx);
	} else {
		skip(2, "no context");
	}
	serve_end(f, t, "cap");

	ctx = full_ctx(f, fd, a, 0, &t);
	if (ctx) {
		struct unshare_arg ua = { ctx, a, 1 };
		struct share_arg sa = { ctx, fd, SVA_BROKER_MAX_SHARES * 4096, last, 1 };

		is_int(sva_ctx_share_memfd(ctx, fd, SVA_BROKER_MAX_SHARES * 4096, last, 4096), -ENOSPC,
		       "the broker's %d ranges shared: one more is -ENOSPC", SVA_BROKER_MAX_SHARES);
		race.armed = true;
		race.in_window = race.release = race.b_waiting = race.b_done = false;
		sva_test_unshare_replied_hook = race_in_window;
		sva_test_share_wait_hook = race_b_waits;
		pthread_create(&ta, NULL, unshare_page_thread, &ua);
		pthread_mutex_lock(&race.lock);
		while (!race.in_window)
			pthread_cond_wait(&race.cond, &race.lock);
		pthread_mutex_unlock(&race.lock);
		pthread_create(&tb, NULL, share_thread, &sa);
		pthread_mutex_lock(&race.lock);
		while (!race.b_done && !race.b_waiting)
			pthread_cond_wait(&race.cond, &race.lock);
		race.release = true;
		pthread_cond_broadcast(&race.cond);
		pthread_mutex_unlock(&race.lock);
		pthread_join(ta, NULL);
		pthread_join(tb, NULL);
		sva_test_unshare_replied_hook = NULL;
		sva_test_share_wait_hook = NULL;
		is_int(ua.ret, 0, "thread A unshared the first range");
		is_int(sa.ret, 0, "  thread B shared a new one while A was between the broker's reply and its list");
		is_int(sva_broker_share_bounds(ctx, (uintptr_t)last, &start, &end), 0,
		       "  a fault in B's range is asked of the broker (not answered INVALID)");
		ok(start == (uintptr_t)last && end == (uintptr_t)last + 4096, "  within B's range");
		is_int(sva_broker_share_bounds(ctx, (uintptr_t)a, &start, &end), -EFAULT,
		       "  one in A's is answered INVALID");
		is_int(sva_ctx_unshare_memfd(ctx, last, 4096), 0, "  B's range can be unshared");
		for (int i = 1; i < SVA_BROKER_MAX_SHARES; i++)
			if (sva_ctx_unshare_memfd(ctx, a + i * 4096, 4096))
				break;
		is_int(fake_nshares(f), 0, "  the rest unshared: the broker holds nothing");
		sva_ctx_free(ctx);
	} else {
		skip(8, "no context");
	}
	serve_end(f, t, "cap race");
	munmap(a, NPAGES * 4096);
	close(fd);
}

int main(void)
{
	struct sva_ctx_opts o = { .size = sizeof(o), .flags = SVA_CTX_BROKER, .log_fn = capture,
				  .log_level = SVA_LOG_ERROR };
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct sva_ctx *ctx = NULL;
	struct fake f = { .lock = PTHREAD_MUTEX_INITIALIZER, .cond = PTHREAD_COND_INITIALIZER, .queue_fd = -1, .extra_fd = -1,
			  .rid_fd = -1 };
	char longpath[200];

	snprintf(path, sizeof(path), "%s/sva-broker-client-%d.sock", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp",
		 (int)getpid());

	o.flags = SVA_CTX_BROKER | SVA_CTX_ADOPT_FD;
	is_int(sva_ctx_new(&o, &ctx), -EINVAL, "BROKER with ADOPT_FD: -EINVAL");
	o.flags = SVA_CTX_ISOLATED;
	is_int(sva_ctx_new(&o, &ctx), -EINVAL, "ISOLATED without BROKER: -EINVAL");
	/* Its line says what is wrong (review Z128: with ADOPT_FD too it said
	 * BROKER and ADOPT_FD exclude each other, BROKER not being set).  The
	 * -EINVAL checks go to the process-wide log. */
	sva_log_set((struct sva_log *)sva_log_default(), capture, NULL, SVA_LOG_ERROR);
	o.flags = SVA_CTX_ISOLATED | SVA_CTX_ADOPT_FD;
	logged[0] = '\0';
	is_int(sva_ctx_new(&o, &ctx), -EINVAL, "ISOLATED and ADOPT_FD without BROKER: -EINVAL");
	ok(strstr(logged, "SVA_CTX_ISOLATED needs SVA_CTX_BROKER") != NULL, "  saying ISOLATED needs BROKER: %s",
	   logged);
	sva_log_set((struct sva_log *)sva_log_default(), NULL, NULL, SVA_LOG_DEFAULT);
	o.flags = SVA_CTX_BROKER;
	o.global_pasid_min = 300;
	is_int(sva_ctx_new(&o, &ctx), -EINVAL, "BROKER with a global PASID range: -EINVAL (the broker leases them)");
	o.global_pasid_min = 0;
	o.broker_path = "";
	is_int(sva_ctx_new(&o, &ctx), -EINVAL, "an empty broker_path: -EINVAL (it used to connect to no address)");
	memset(longpath, 'x', sizeof(longpath) - 1);
	longpath[0] = '/';
	longpath[sizeof(longpath) - 1] = '\0';
	o.broker_path = longpath;
	is_int(sva_ctx_new(&o, &ctx), -ENAMETOOLONG, "a socket path too long: -ENAMETOOLONG");
	o.broker_path = path;
	logged[0] = '\0';
	is_int(sva_ctx_new(&o, &ctx), -ENOENT, "no socket there: -ENOENT");
	ok(strstr(logged, "is sva-brokerd running?") != NULL, "  saying so: %s", logged);
	/* Ignored (sva_ctx_new(3)): the missing socket is the error, not the path. */
	o.iommu_path = "";
	logged[0] = '\0';
	is_int(sva_ctx_new(&o, &ctx), -ENOENT, "an empty iommu_path with SVA_CTX_BROKER: ignored (-ENOENT, no socket)");
	ok(strstr(logged, "is sva-brokerd running?") != NULL, "  saying so, not that the path is empty: %s", logged);
	o.iommu_path = NULL;
	ok(ctx == NULL, "and nothing is returned");
	is_int(sva_ctx_share_memfd(NULL, 0, 0, NULL, 4096), -EINVAL, "sva_ctx_share_memfd(NULL ctx): -EINVAL");
	is_int(sva_ctx_unshare_memfd(NULL, NULL, 4096), -EINVAL, "sva_ctx_unshare_memfd(NULL ctx): -EINVAL");

	f.lsock = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	if (f.lsock < 0 || bind(f.lsock, (struct sockaddr *)&sa, sizeof(sa)))
		return printf("Bail out! cannot bind %s\n", path), 1;
	is_int(sva_ctx_new(&o, &ctx), -ECONNREFUSED, "a socket nobody listens on: -ECONNREFUSED");
	if (listen(f.lsock, 4))
		return printf("Bail out! listen\n"), 1;

	f.status = -EACCES;
	is_int(try_ctx(A_REFUSE, &f), -EACCES, "the broker refuses: its errno (-EACCES)");
	ok(strstr(logged, "uid 1234 is in no device's allowlist") != NULL, "  and its reason is logged: %s", logged);
	/* The other refusals of a hello sva_ctx_new(3) lists, passed on as the
	 * broker sent them (the kernel tier makes a real broker send most). */
	static const int hello_refusals[] = { -EPERM, -ENOSPC, -EUSERS, -EMFILE, -EOPNOTSUPP };
	for (size_t i = 0; i < sizeof(hello_refusals) / sizeof(hello_refusals[0]); i++) {
		f.status = hello_refusals[i];
		is_int(try_ctx(A_REFUSE, &f), hello_refusals[i], "the broker refuses the hello with %s: passed on",
		       strerror(-hello_refusals[i]));
		ok(strstr(logged, "uid 1234 is in no device's allowlist") != NULL, "  with its reason logged: %s",
		   logged);
	}
	is_int(try_ctx(A_NO_FD, &f), -EPROTO, "a hello reply without the iommufd: -EPROTO");
	is_int(try_ctx(A_BAD_BLOCK, &f), -EPROTO, "a hello reply with an inverted PASID block: -EPROTO");
	is_int(try_ctx(A_GARBAGE, &f), -EPROTO, "a garbage reply: -EPROTO, as sva_ctx_new(3) says (was -EBADMSG)");
	is_int(try_ctx(A_HANGUP, &f), -ECONNRESET, "the broker hangs up: -ECONNRESET");
	/* Review Z64: the descriptor was taken as the context's iommufd, whose
	 * calls then bypassed the broker (with a real iommufd the context was
	 * made, "isolated", holding it); here stdin failed -ENOTTY. */
	is_int(try_ctx(A_ISO_FD, &f), -EPROTO, "an isolated client's hello reply carrying a descriptor: -EPROTO");
	open_checks(&f);
	empty_iommu_path(&f);
	unshare_checks(&f);
	cap_checks(&f);
	broker_error_checks(&f);
	iova_ranges_refusal_checks(&f);
	iova_ranges_gone_checks(&f);
	bind_refusal_checks(&f);
	bind_broker_failure_checks(&f);
	rid_bind_failure_checks(&f);
	bind_attach_left_checks(&f);
	bind_attach_fd_checks(&f);
	proto_note_checks(&f);
	proto_ratelimit_checks(&f);
	share_line_checks(&f);
	close(f.lsock);
	unlink(path);
	return done_testing();
}
