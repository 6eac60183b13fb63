/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * A broker connection once made: the registry of connections (which
 * iommufd or socket is whose), one request and its reply, and the notes
 * that tell the broker of a trusted client's objects.  Below both the
 * client (broker_client.c, which makes connections) and the proxy
 * (broker_proxy.c, which the iommufd wrappers reach through their hooks),
 * so neither calls the other back (docs/design.md, "Layers").
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* POLLRDHUP */
#endif
#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "broker_client.h"

/* The iommufds of broker contexts: few, usually one. */
static pthread_mutex_t reg_lock = PTHREAD_MUTEX_INITIALIZER;
static struct sva_broker_conn *reg[REG_MAX];
static atomic_int reg_n;

atomic_int sva_broker_isolated_n;

static void child_reset(void);
static pthread_once_t atfork_once = PTHREAD_ONCE_INIT;

static void atfork_register(void)
{
	pthread_atfork(NULL, NULL, child_reset);
}

/*
 * fork() while another thread is in the middle of a request, a note or a
 * registry scan leaves the child copies of locks that nobody will release,
 * and freeing its copy of a context takes them.  The child never talks on a
 * connection (the socket is its parent's; its calls fail with -ECHILD), so
 * it may start with fresh locks.  Holding them across fork() instead would
 * make every fork wait for a broker's reply.  Nor does the child look its
 * parent's connections up (no call of its reaches an ioctl), so the registry
 * starts empty: the child's own contexts have all of its room (libsva(7):
 * a child creates contexts of its own), and freeing a copy of the parent's
 * finds nothing to remove.
 */
static void child_reset(void)
{
	pthread_mutex_init(&reg_lock, NULL);
	for (size_t i = 0; i < REG_MAX; i++) {
		if (reg[i]) {
			pthread_mutex_init(&reg[i]->lock, NULL);
			pthread_mutex_init(&reg[i]->share_op_lock, NULL);
			pthread_mutex_init(&reg[i]->shares_lock, NULL);
			pthread_mutex_init(&reg[i]->mms_lock, NULL);
			reg[i] = NULL;
		}
	}
	atomic_store(&reg_n, 0);
	atomic_store(&sva_broker_isolated_n, 0);
}

bool sva_broker_reg_full(void)
{
	size_t n = 0;

	pthread_once(&atfork_once, atfork_register);
	pthread_mutex_lock(&reg_lock);
	for (size_t i = 0; i < REG_MAX; i++)
		n += reg[i] != NULL;
	pthread_mutex_unlock(&reg_lock);
	return n == REG_MAX;
}

int sva_broker_reg_add(struct sva_broker_conn *conn)
{
	int ret = -EMFILE;

	pthread_once(&atfork_once, atfork_register);
	pthread_mutex_lock(&reg_lock);
	for (size_t i = 0; i < REG_MAX; i++) {
		if (!reg[i]) {
			reg[i] = conn;
			atomic_fetch_add(conn->isolated ? &sva_broker_isolated_n : &reg_n, 1);
			ret = 0;
			break;
		}
	}
	pthread_mutex_unlock(&reg_lock);
	return ret;
}

void sva_broker_reg_remove(struct sva_broker_conn *conn)
{
	pthread_mutex_lock(&reg_lock);
	for (size_t i = 0; i < REG_MAX; i++) {
		if (reg[i] == conn) {
			reg[i] = NULL;
			atomic_fetch_sub(conn->isolated ? &sva_broker_isolated_n : &reg_n, 1);
		}
	}
	pthread_mutex_unlock(&reg_lock);
}

struct sva_broker_conn *sva_broker_reg_find(dev_t dev, ino_t ino)
{
	struct sva_broker_conn *found = NULL;

	pthread_mutex_lock(&reg_lock);
	for (size_t i = 0; i < REG_MAX && !found; i++)
		if (reg[i] && reg[i]->isolated && reg[i]->sock_dev == dev && reg[i]->sock_ino == ino)
			found = reg[i];
	pthread_mutex_unlock(&reg_lock);
	return found;
}

bool sva_broker_gone(int fd)
{
	struct pollfd p = { .fd = -1, .events = POLLIN | POLLRDHUP };
	struct stat st;
	bool known = fstat(fd, &st) == 0, gone;

	pthread_mutex_lock(&reg_lock);
	for (size_t i = 0; i < REG_MAX && p.fd < 0; i++) {
		const struct sva_broker_conn *c = reg[i];

		/* A trusted context's iommufd by number; an isolated one's
		 * duplicate of the socket by identity. */
		if (c && (c->isolated ? known && c->sock_dev == st.st_dev && c->sock_ino == st.st_ino : c->fd == fd))
			p.fd = c->sock;
	}
	/* Polled under the registry's lock: sva_broker_conn_free() closes the
	 * socket only after it left the registry.  The broker never writes
	 * unasked, so a hang-up is all there can be to see. */
	gone = p.fd >= 0 && poll(&p, 1, 0) == 1 && (p.revents & (POLLHUP | POLLRDHUP | POLLERR));
	pthread_mutex_unlock(&reg_lock);
	return gone;
}

void sva_broker_note(int fd, uint32_t id, bool alive)
{
	struct sva_broker_msg m;

	if (atomic_load_explicit(&reg_n, memory_order_relaxed) == 0)
		return;
	sva_broker_msg_init(&m, alive ? SVA_BOP_REGISTER : SVA_BOP_UNREGISTER);
	m.arg[0] = id;
	pthread_mutex_lock(&reg_lock);
	for (size_t i = 0; i < REG_MAX; i++) {
		if (reg[i] && !reg[i]->isolated && reg[i]->fd == fd) {
			struct sva_broker_conn *conn = reg[i];

			/*
			 * One-way: a broker gone is met by the next request.  The
			 * registry's lock is dropped before the send, which can block
			 * on a broker that stopped reading: every iommufd call of the
			 * process scans the registry.  The connection's own lock,
			 * taken first, keeps sva_broker_conn_free() waiting.
			 */
			pthread_mutex_lock(&conn->lock);
			pthread_mutex_unlock(&reg_lock);
			sva_broker_send(conn->sock, &m, -1);
			pthread_mutex_unlock(&conn->lock);
			return;
		}
	}
	pthread_mutex_unlock(&reg_lock);
}

/*
 * Say what made a reply -EPROTO, and note it said (internal.h,
 * sva_fail_said()).  A call's one line always goes out; made resolving
 * faults, the line goes through the connection's rate limit, as the fault
 * engine's own lines do (libsva(7), Logging).
 */
static void proto_say(struct sva_broker_conn *conn, const char *fmt, ...) SVA_PRINTF(2, 3);

static void proto_say(struct sva_broker_conn *conn, const char *fmt, ...)
{
	const struct sva_log *log = conn->log ? conn->log : sva_log_default();
	unsigned owed = 0;
	char msg[400];
	va_list ap;

	sva_proto_said_note();
	if (sva_log_is_device_driven()) {
		bool pass;

		pthread_mutex_lock(&conn->lock);
		pass = sva_log_rl_pass(log, &conn->rl, SVA_LOG_ERROR, &owed);
		pthread_mutex_unlock(&conn->lock);
		if (!pass)
			return;
	}
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	sva_logf_owed(log, SVA_LOG_ERROR, owed, "%s", msg);
}

int sva_broker_rpc(struct sva_broker_conn *conn, struct sva_broker_msg *m, int fd, int *fd_out)
{
	uint32_t op = m->op;
	int rfd = -1, sent, ret;

	sva_proto_said_clear();
	pthread_mutex_lock(&conn->lock);
	ret = sent = sva_broker_send(conn->sock, m, fd);
	if (!ret)
		ret = sva_broker_recv(conn->sock, m, &rfd);
	pthread_mutex_unlock(&conn->lock);
	/*
	 * A descriptor dropped for want of room (MSG_CTRUNC, none free here)
	 * with a reply that never carries one (the caller wants none): a reply
	 * that broke the protocol, whatever this process's table, and -EPROTO
	 * as such (an attach's is undone: broker_client.c).  -EMFILE would
	 * name a shortage that the call, which makes no descriptor, never has.
	 */
	if (!sent && (ret == -EMFILE || ret == -ENFILE) && !fd_out) {
		proto_say(conn,
			  "broker: the reply to %s carried a file descriptor, which it never does (dropped: %s): "
			  "taken as a protocol error",
			  sva_broker_op_name(op), strerror(-ret));
		return -EPROTO;
	}
	/*
	 * A reply of the wrong size or magic is a malformed reply: -EPROTO, as
	 * the man pages say, like every other malformed reply.  Each reply made
	 * -EPROTO here is logged with what came (libsva(7): a mapped errno is
	 * said once, at error level): a caller's line says only "Protocol
	 * error", and an isolated context's iommufd requests have no other.
	 */
	if (ret == -EBADMSG || ret == -EPROTO) {
		proto_say(conn, "broker: a malformed reply to %s (%s): taken as a protocol error", sva_broker_op_name(op),
			  strerror(-ret));
		return -EPROTO;
	}
	if (ret)
		return ret == -EPIPE ? -ECONNRESET : ret;
	if (m->op != op || m->status > 0 || m->status < -4095) {
		/* A status is 0 or a negative errno, nothing else. */
		if (m->op != op)
			proto_say(conn, "broker: a reply to %s answered %s (status %d): taken as a protocol error",
				  sva_broker_op_name(op), sva_broker_op_name(m->op), (int)m->status);
		else
			proto_say(conn,
				  "broker: the reply to %s has status %d, which is no errno: taken as a protocol error",
				  sva_broker_op_name(op), (int)m->status);
		ret = -EPROTO;
	} else {
		ret = m->status;
	}
	if (!ret && fd_out)
		*fd_out = rfd;
	else if (rfd >= 0)
		close(rfd);
	return ret;
}

void sva_broker_conn_free(struct sva_broker_conn *conn)
{
	if (!conn)
		return;
	sva_broker_reg_remove(conn);
	/* A note found it in the registry before: wait until its send is done. */
	pthread_mutex_lock(&conn->lock);
	pthread_mutex_unlock(&conn->lock);
	close(conn->sock);
	pthread_mutex_destroy(&conn->lock);
	pthread_mutex_destroy(&conn->share_op_lock);
	pthread_mutex_destroy(&conn->shares_lock);
	pthread_mutex_destroy(&conn->mms_lock);
	sva_free(conn);
}
