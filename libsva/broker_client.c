/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * A context served by sva-brokerd (SVA_CTX_BROKER), trusted mode: the broker
 * hands us a duplicate of its iommufd and a block of PASIDs; we create our
 * own IOAS, fault queue and HWPTs in that iommufd (IOMMU_IOAS_MAP pins our
 * own pages), and ask the broker only for what needs its device: opening it
 * and attaching or detaching our PASIDs.  Faults reach our own fault queue,
 * so the usual engine resolves them.
 */
#define _GNU_SOURCE /* secure_getenv */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "broker_client.h"

/* The iommufds of broker contexts: few, usually one. */
#define REG_MAX 64
static pthread_mutex_t reg_lock = PTHREAD_MUTEX_INITIALIZER;
static struct sva_broker_conn *reg[REG_MAX];
static atomic_int reg_n;

atomic_int sva_broker_isolated_n;

int sva_broker_reg_add(struct sva_broker_conn *conn)
{
	int ret = -EMFILE;

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
			/* One-way: a broker gone is met by the next request. */
			pthread_mutex_lock(&reg[i]->lock);
			sva_broker_send(reg[i]->sock, &m, -1);
			pthread_mutex_unlock(&reg[i]->lock);
			break;
		}
	}
	pthread_mutex_unlock(&reg_lock);
}

int sva_broker_rpc(struct sva_broker_conn *conn, struct sva_broker_msg *m, int fd, int *fd_out)
{
	uint32_t op = m->op;
	int rfd = -1, ret;

	pthread_mutex_lock(&conn->lock);
	ret = sva_broker_send(conn->sock, m, fd);
	if (!ret)
		ret = sva_broker_recv(conn->sock, m, &rfd);
	pthread_mutex_unlock(&conn->lock);
	if (ret)
		return ret == -EPIPE ? -ECONNRESET : ret;
	if (m->op != op || m->status > 0)
		ret = -EPROTO;
	else
		ret = m->status;
	if (!ret && fd_out)
		*fd_out = rfd;
	else if (rfd >= 0)
		close(rfd);
	return ret;
}

/* One request, one reply; the reply's status is returned, its text logged. */
static int call(struct sva_ctx *ctx, struct sva_broker_msg *m, int *fd_out)
{
	struct sva_broker_conn *conn = ctx->broker;
	uint32_t op = m->op;
	int fd = -1, ret;

	pthread_mutex_lock(&conn->lock);
	ret = sva_broker_send(conn->sock, m, -1);
	if (!ret)
		ret = sva_broker_recv(conn->sock, m, &fd);
	pthread_mutex_unlock(&conn->lock);
	if (ret)
		return sva_fail(&ctx->log, ret == -EPIPE || ret == -ECONNRESET ? -ECONNRESET : ret,
				"broker: %s request failed: %s (the broker went away?)", sva_broker_op_name(op),
				strerror(-ret));
	if (m->op != op) {
		if (fd >= 0)
			close(fd);
		return sva_fail(&ctx->log, -EPROTO, "broker: a reply to %s answered %s", sva_broker_op_name(op),
				sva_broker_op_name(m->op));
	}
	if (m->status < 0 || m->status > 0) {
		if (fd >= 0)
			close(fd);
		return sva_fail(&ctx->log, m->status < 0 ? m->status : -EPROTO, "broker refused %s: %s",
				sva_broker_op_name(op), m->text[0] ? m->text : strerror(-m->status));
	}
	if (fd_out)
		*fd_out = fd;
	else if (fd >= 0)
		close(fd);
	return 0;
}

static int connect_broker(const struct sva_log *log, const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int sock, err;

	if (strlen(path) >= sizeof(sa.sun_path))
		return sva_fail(log, -ENAMETOOLONG, "broker socket path '%s' is too long", path);
	memcpy(sa.sun_path, path, strlen(path) + 1);
	sock = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	if (sock < 0)
		return sva_fail(log, -errno, "cannot create a socket for the broker: %s", strerror(errno));
	if (connect(sock, (struct sockaddr *)&sa, sizeof(sa)) == 0)
		return sock;
	err = -errno;
	close(sock);
	if (err == -ENOENT || err == -ECONNREFUSED)
		return sva_fail(log, err, "no broker listening at %s (is sva-brokerd running?)", path);
	if (err == -EACCES || err == -EPERM)
		return sva_fail(log, err,
				"permission denied on the broker's socket %s: ask its administrator to add your "
				"user or group (sva-brokerd(8))",
				path);
	return sva_fail(log, err, "cannot connect to the broker at %s: %s", path, strerror(-err));
}

int sva_broker_ctx_new(const struct sva_ctx_opts *opts, struct sva_ctx **out)
{
	/* $SVA_BROKER_SOCKET is what sva-info --cdi gives a container. */
	const char *env = secure_getenv("SVA_BROKER_SOCKET");
	const char *path = opts->broker_path ? opts->broker_path : env && *env ? env : SVA_BROKER_DEFAULT_SOCKET;
	struct sva_ctx_opts local = *opts;
	struct sva_broker_conn *conn;
	struct sva_broker_msg m;
	struct sva_ctx boot = { 0 }; /* a log for call() before the context exists */
	int fd = -1, ret;

	if (opts->flags & SVA_CTX_ADOPT_FD)
		return sva_fail(sva_log_default(), -EINVAL,
				"sva_ctx_new: SVA_CTX_BROKER and SVA_CTX_ADOPT_FD exclude each other");
	if ((opts->flags & SVA_CTX_ISOLATED) && !(opts->flags & SVA_CTX_BROKER))
		return sva_fail(sva_log_default(), -EINVAL, "sva_ctx_new: SVA_CTX_ISOLATED needs SVA_CTX_BROKER");
	if (opts->global_pasid_min || opts->global_pasid_max)
		return sva_fail(sva_log_default(), -EINVAL,
				"sva_ctx_new: with SVA_CTX_BROKER the broker chooses the PASIDs; leave "
				"global_pasid_min/max 0");
	conn = sva_calloc(1, sizeof(*conn));
	if (!conn)
		return -ENOMEM;
	pthread_mutex_init(&conn->lock, NULL);
	sva_log_init(&boot.log, opts->log_fn, opts->log_arg, opts->log_level);
	boot.broker = conn;
	ret = connect_broker(&boot.log, path);
	if (ret < 0)
		goto err;
	conn->sock = ret;
	conn->isolated = opts->flags & SVA_CTX_ISOLATED;
	sva_broker_msg_init(&m, SVA_BOP_HELLO);
	m.arg[0] = conn->isolated ? SVA_BROKER_ISOLATED : SVA_BROKER_TRUSTED;
	ret = call(&boot, &m, &fd);
	if (ret)
		goto err_sock;
	if (conn->isolated && fd < 0) {
		struct stat st;

		/* The context's "iommufd" is a duplicate of the socket, found by identity. */
		if (fstat(conn->sock, &st)) {
			ret = sva_fail(&boot.log, -errno, "broker: fstat of its socket: %s", strerror(errno));
			goto err_sock;
		}
		conn->sock_dev = st.st_dev;
		conn->sock_ino = st.st_ino;
		ret = sva_broker_reg_add(conn);
		if (ret) {
			sva_fail(&boot.log, ret, "more than %d broker contexts in one process", REG_MAX);
			goto err_sock;
		}
		fd = conn->sock;
	}
	if (fd < 0 || m.arg[0] == 0 || m.arg[0] > m.arg[1] || m.arg[1] > SVA_PASID_MAX) {
		ret = sva_fail(&boot.log, -EPROTO, "broker: a malformed hello reply (no iommufd, or PASIDs [%llu, %llu])",
			       (unsigned long long)m.arg[0], (unsigned long long)m.arg[1]);
		goto err_fd;
	}
	conn->pasid_min = (uint32_t)m.arg[0];
	conn->pasid_max = (uint32_t)m.arg[1];
	local.flags = (opts->flags & ~(SVA_CTX_BROKER | SVA_CTX_ISOLATED)) | SVA_CTX_ADOPT_FD;
	local.iommufd = fd;
	local.broker_path = NULL;
	local.global_pasid_min = conn->pasid_min;
	local.global_pasid_max = conn->pasid_max;
	ret = sva_ctx_new(&local, out);
	if (!conn->isolated)
		close(fd); /* the context works on its own duplicate */
	if (ret) {
		if (conn->isolated)
			sva_broker_reg_remove(conn);
		goto err_sock;
	}
	conn->fd = (*out)->fd;
	ret = conn->isolated ? 0 : sva_broker_reg_add(conn);
	if (ret) {
		sva_fail(&(*out)->log, ret, "more than %d broker contexts in one process", REG_MAX);
		sva_ctx_free(*out);
		*out = NULL;
		goto err_sock;
	}
	(*out)->broker = conn;
	sva_logf(&(*out)->log, SVA_LOG_INFO, "broker %s: %s client, PASIDs [%u, %u]", path,
		 conn->isolated ? "isolated" : "trusted", conn->pasid_min, conn->pasid_max);
	sva_log_fini(&boot.log);
	return 0;
err_fd:
	if (fd != conn->sock)
		close(fd);
	if (conn->isolated)
		sva_broker_reg_remove(conn);
err_sock:
	close(conn->sock);
err:
	sva_log_fini(&boot.log);
	pthread_mutex_destroy(&conn->lock);
	sva_free(conn);
	return ret;
}

void sva_broker_conn_free(struct sva_broker_conn *conn)
{
	if (!conn)
		return;
	sva_broker_reg_remove(conn);
	close(conn->sock);
	pthread_mutex_destroy(&conn->lock);
	sva_free(conn);
}

/* The broker parked the RID when it opened the device; the RID stays its own. */
static int broker_attach(struct sva_dev *dev, uint32_t pt_id)
{
	if (pt_id == dev->park_hwpt)
		return 0;
	sva_logf(&dev->ctx->log, SVA_LOG_ERROR,
		 "device %u belongs to the broker: its RID cannot be bound by a client (bind a PASID)",
		 dev->info.dev_id);
	return -EOPNOTSUPP;
}

static int broker_detach(struct sva_dev *dev)
{
	(void)dev;
	return -EOPNOTSUPP;
}

static int broker_pasid_attach(struct sva_dev *dev, uint32_t pasid, uint32_t pt_id)
{
	struct sva_broker_msg m;

	sva_broker_msg_init(&m, SVA_BOP_ATTACH);
	m.arg[0] = dev->info.dev_id;
	m.arg[1] = pasid;
	m.arg[2] = pt_id;
	return call(dev->ctx, &m, NULL);
}

static int broker_pasid_detach(struct sva_dev *dev, uint32_t pasid)
{
	struct sva_broker_msg m;
	int ret;

	sva_broker_msg_init(&m, SVA_BOP_DETACH);
	m.arg[0] = dev->info.dev_id;
	m.arg[1] = pasid;
	ret = call(dev->ctx, &m, NULL);
	/*
	 * A dead broker's VFIO devices closed with it (their PASIDs detached),
	 * but a mock device is an object of the iommufd we share: detach it
	 * ourselves, or the kernel cannot release the iommufd cleanly.
	 */
	if (ret == -ECONNRESET && (dev->info.flags & SVA_DEV_MOCK))
		ret = sva_backend_mock.pasid_detach(dev, pasid);
	return ret;
}

static void broker_close(struct sva_dev *dev)
{
	struct sva_broker_msg m;

	sva_broker_msg_init(&m, SVA_BOP_CLOSE);
	m.arg[0] = dev->info.dev_id;
	call(dev->ctx, &m, NULL);
	/* The parking objects are the broker's: sva_dev_close() must not destroy them. */
	dev->park_hwpt = 0;
	dev->park_ioas = 0;
}

const struct sva_dev_backend sva_backend_broker = {
	.name = "broker",
	.attach = broker_attach,
	.detach = broker_detach,
	.pasid_attach = broker_pasid_attach,
	.pasid_detach = broker_pasid_detach,
	.close = broker_close,
};

int sva_broker_dev_open(struct sva_ctx *ctx, const char *name, struct sva_dev **out)
{
	struct sva_broker_msg m;
	struct sva_dev *dev;
	int ret;

	if (strlen(name) >= sizeof(m.text))
		return sva_fail(&ctx->log, -EINVAL, "sva_dev_open: broker device name '%.32s...' is too long", name);
	ret = sva_ctx_check_owner(ctx);
	if (ret)
		return ret;
	sva_broker_msg_init(&m, SVA_BOP_OPEN);
	memcpy(m.text, name, strlen(name) + 1);
	ret = call(ctx, &m, NULL);
	if (ret)
		return ret;
	ret = sva_dev_setup(ctx, &sva_backend_broker, -1, (uint32_t)m.arg[0], NULL, name, &dev);
	if (ret) {
		uint64_t dev_id = m.arg[0];

		sva_broker_msg_init(&m, SVA_BOP_CLOSE);
		m.arg[0] = dev_id;
		call(ctx, &m, NULL);
		return ret;
	}
	pthread_mutex_lock(&dev->lock);
	dev->info.flags |= (uint32_t)m.arg[1] & SVA_DEV_MOCK;
	dev->stdev_id = (uint32_t)m.arg[2];
	dev->park_ioas = (uint32_t)m.arg[3];
	dev->park_hwpt = (uint32_t)m.arg[4];
	dev->rid_ioas = dev->park_ioas;
	dev->rid_pt = dev->park_hwpt;
	pthread_mutex_unlock(&dev->lock);
	*out = dev;
	return 0;
}
