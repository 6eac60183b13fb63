/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * A context served by sva-brokerd (SVA_CTX_BROKER), trusted mode: the broker
 * hands us a duplicate of its iommufd and a block of PASIDs; we create our
 * own IOAS, fault queue and HWPTs in that iommufd (IOMMU_IOAS_MAP pins our
 * own pages), and ask the broker only for what needs its device: opening it
 * (which leases us a block of the device's own PASIDs too) and attaching or
 * detaching our PASIDs.  Faults reach our own fault queue,
 * so the usual engine resolves them.
 */
#define _GNU_SOURCE /* secure_getenv */
#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "broker_client.h"
#include "kabi.h"
#include "pasid_space.h"

/*
 * One request, one reply; the reply's status is returned, its text logged.
 * An attach or detach failing is its caller's to report (bond.c logs the
 * bind's or unbind's one line, and an unbind may succeed all the same): its
 * details go to the debug level.
 */
static int call(struct sva_ctx *ctx, struct sva_broker_msg *m, int *fd_out)
{
	uint32_t op = m->op;
	int ret = sva_broker_rpc(ctx->broker, m, -1, fd_out);
	enum sva_log_level lvl = op == SVA_BOP_ATTACH || op == SVA_BOP_DETACH || op == SVA_BOP_RID_ATTACH ||
						 op == SVA_BOP_RID_DETACH
					 ? SVA_LOG_DEBUG
					 : SVA_LOG_ERROR;

	/* sva_broker_rpc() made the exchange and checked the reply; here it is
	 * only told apart, for the log line.  An -EPROTO that is not the
	 * broker's own status it logged already, with what the broker sent. */
	if (!ret)
		return 0;
	if (ret == -EPROTO && (m->op != op || m->status != -EPROTO))
		return ret;
	/* The broker's own -EPROTO (it found the request broke the protocol) is
	 * at error level even for an attach: bond.c leaves every broker -EPROTO
	 * to the line logged where it arose. */
	if (ret == -EPROTO)
		lvl = SVA_LOG_ERROR;
	if (m->status) /* a refusal */
		sva_logf(&ctx->log, lvl, "broker refused %s: %s", sva_broker_op_name(op),
			 m->text[0] ? m->text : strerror(-ret));
	else if (ret == -EMFILE || ret == -ENFILE)
		sva_logf(&ctx->log, lvl, "broker: the reply to %s carried a file descriptor and none is free: %s",
			 sva_broker_op_name(op), strerror(-ret));
	else
		sva_logf(&ctx->log, lvl, "broker: %s request failed: %s (the broker went away?)", sva_broker_op_name(op),
			 strerror(-ret));
	return ret;
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

/* $SVA_BROKER_SOCKET is what sva-info --cdi gives a container. */
static const char *socket_path(const struct sva_ctx_opts *opts)
{
	const char *env = secure_getenv("SVA_BROKER_SOCKET");

	return opts->broker_path ? opts->broker_path : env && *env ? env : SVA_BROKER_DEFAULT_SOCKET;
}

int sva_broker_connect(const struct sva_ctx_opts *opts, struct sva_broker_conn **connp, int *fdp)
{
	const char *path = socket_path(opts);
	struct sva_broker_conn *conn, hs; /* hs: the hello's, before anything is allocated */
	struct sva_broker_msg m;
	struct sva_ctx boot = { 0 }; /* a log for call() before the context exists */
	int fd = -1, ret;

	/* Without SVA_CTX_BROKER first: the other checks name it. */
	if ((opts->flags & SVA_CTX_ISOLATED) && !(opts->flags & SVA_CTX_BROKER))
		return sva_fail(sva_log_default(), -EINVAL, "sva_ctx_new: SVA_CTX_ISOLATED needs SVA_CTX_BROKER");
	if (opts->flags & SVA_CTX_ADOPT_FD)
		return sva_fail(sva_log_default(), -EINVAL,
				"sva_ctx_new: SVA_CTX_BROKER and SVA_CTX_ADOPT_FD exclude each other");
	if (opts->global_pasid_min || opts->global_pasid_max)
		return sva_fail(sva_log_default(), -EINVAL,
				"sva_ctx_new: with SVA_CTX_BROKER the broker chooses the PASIDs; leave "
				"global_pasid_min/max 0");
	if (opts->broker_path && !*opts->broker_path)
		return sva_fail(sva_log_default(), -EINVAL,
				"sva_ctx_new: broker_path is empty (NULL means $SVA_BROKER_SOCKET, else %s)",
				SVA_BROKER_DEFAULT_SOCKET);
	/* Want of room for the arena is told first, as sva_ctx_new() does
	 * without a broker; the check reserves nothing. */
	if (!sva_arena_room())
		return sva_fail_to(opts->log_fn, opts->log_arg, opts->log_level, -ENOMEM,
				   "sva_ctx_new: " SVA_ARENA_ENOMEM);
	sva_log_init(&boot.log, opts->log_fn, opts->log_arg, opts->log_level);
	/* Full before the hello, not after: a hello leases a block of PASIDs,
	 * which a refused context would send into quarantine. */
	if (sva_broker_reg_full()) {
		ret = sva_fail(&boot.log, -EMFILE, "more than %d broker contexts in one process", REG_MAX);
		goto err_log;
	}
	/*
	 * The hello is made on a connection of the stack's, and the state is
	 * allocated only once the broker has accepted: the first allocation
	 * reserves libsva's arena for the process's life (1 GiB of address
	 * space), which a call that finds no broker, or that the broker
	 * refuses, must not leave behind (sva_ctx_new(3): a call that fails
	 * for another reason reserves nothing).
	 */
	ret = connect_broker(&boot.log, path);
	if (ret < 0)
		goto err_log;
	memset(&hs, 0, sizeof(hs));
	pthread_mutex_init(&hs.lock, NULL);
	hs.sock = ret;
	hs.log = &boot.log;
	hs.isolated = opts->flags & SVA_CTX_ISOLATED;
	boot.broker = &hs;
	/* From the first broker context on, the iommufd wrappers look for one. */
	sva_broker_hooks_install();
	/* Room for the descriptor the reply carries and the context's duplicate
	 * of it (sva_ctx_new() adopts a copy), checked before the hello leases a
	 * block: the kernel would drop a descriptor that does not fit, or the
	 * duplicate would fail, and the block would go to quarantine with the
	 * connection. */
	int spare[2] = { fcntl(hs.sock, F_DUPFD_CLOEXEC, 0), -1 };

	if (spare[0] >= 0)
		spare[1] = fcntl(hs.sock, F_DUPFD_CLOEXEC, 0);
	ret = spare[1] < 0 ? -errno : 0;
	for (int i = 0; i < 2; i++)
		if (spare[i] >= 0)
			close(spare[i]);
	if (ret) {
		ret = sva_fail(&boot.log, ret, "no file descriptor is free for the broker's iommufd: %s", strerror(-ret));
		goto err_sock;
	}
	sva_broker_msg_init(&m, SVA_BOP_HELLO);
	m.arg[0] = hs.isolated ? SVA_BROKER_ISOLATED : SVA_BROKER_TRUSTED;
	ret = call(&boot, &m, &fd);
	if (ret)
		goto err_sock;
	/* An isolated client never receives the iommufd: a reply that carries
	 * a descriptor breaks the protocol (taken as the context's iommufd, its
	 * calls would bypass the broker). */
	if (hs.isolated && fd >= 0) {
		ret = sva_fail(&boot.log, -EPROTO, "broker: a malformed hello reply (a descriptor for an isolated client)");
		goto err_fd;
	}
	if ((!hs.isolated && fd < 0) || m.arg[0] == 0 || m.arg[0] > m.arg[1] || m.arg[1] > SVA_PASID_MAX) {
		ret = sva_fail(&boot.log, -EPROTO, "broker: a malformed hello reply (no iommufd, or PASIDs [%llu, %llu])",
			       (unsigned long long)m.arg[0], (unsigned long long)m.arg[1]);
		goto err_fd;
	}
	/* From here a failure (out of memory, say) closes the connection with
	 * the block leased, and the broker quarantines it as an ended client's
	 * (sva_ctx_new(3), sva-brokerd(8)): the accepted cost of allocating
	 * nothing before the hello, which a refused hello would have left
	 * reserving the arena (above; review Z129). */
	conn = sva_calloc(1, sizeof(*conn));
	if (!conn) {
		ret = sva_fail(&boot.log, -ENOMEM, "sva_ctx_new: " SVA_ARENA_ENOMEM);
		goto err_fd;
	}
	pthread_mutex_init(&conn->lock, NULL);
	pthread_mutex_init(&conn->share_op_lock, NULL);
	pthread_mutex_init(&conn->shares_lock, NULL);
	pthread_mutex_init(&conn->mms_lock, NULL);
	conn->sock = hs.sock;
	conn->isolated = hs.isolated;
	conn->pasid_min = (uint32_t)m.arg[0];
	conn->pasid_max = (uint32_t)m.arg[1];
	if (conn->isolated) {
		struct stat st;

		/* The context's "iommufd" is a duplicate of the socket, found by identity. */
		if (fstat(conn->sock, &st)) {
			ret = sva_fail(&boot.log, sva_neg_errno(), "broker: fstat of its socket: %s", strerror(errno));
			goto err_conn;
		}
		conn->sock_dev = st.st_dev;
		conn->sock_ino = st.st_ino;
		ret = sva_broker_reg_add(conn);
		if (ret) {
			sva_fail(&boot.log, ret, "more than %d broker contexts in one process", REG_MAX);
			goto err_conn;
		}
		fd = conn->sock;
	}
	pthread_mutex_destroy(&hs.lock);
	sva_log_fini(&boot.log);
	*connp = conn;
	*fdp = fd;
	return 0;
err_conn:
	pthread_mutex_destroy(&conn->lock);
	pthread_mutex_destroy(&conn->share_op_lock);
	pthread_mutex_destroy(&conn->shares_lock);
	pthread_mutex_destroy(&conn->mms_lock);
	sva_free(conn);
err_fd:
	if (fd >= 0)
		close(fd);
err_sock:
	close(hs.sock);
	pthread_mutex_destroy(&hs.lock);
err_log:
	sva_log_fini(&boot.log);
	return ret;
}

int sva_broker_adopt(struct sva_broker_conn *conn, const struct sva_ctx_opts *opts, struct sva_ctx *ctx)
{
	int ret;

	conn->fd = ctx->fd;
	conn->log = &ctx->log;
	ret = conn->isolated ? 0 : sva_broker_reg_add(conn);
	if (ret)
		return sva_fail(&ctx->log, ret, "more than %d broker contexts in one process", REG_MAX);
	ctx->broker = conn;
	sva_logf(&ctx->log, SVA_LOG_INFO, "broker %s: %s client, PASIDs [%u, %u]", socket_path(opts),
		 conn->isolated ? "isolated" : "trusted", conn->pasid_min, conn->pasid_max);
	return 0;
}

/*
 * An attach the broker refused with -EPERM (a PASID outside the client's
 * blocks, a HWPT or RID it did not see the client hold: tools/broker) is no
 * errno sva_bind(3) lists, and the kernel's attach never gives it: libsva
 * and the broker disagree about the client's objects, which libsva(7) calls
 * -EPROTO.  The broker's errno is said here, at error level, as at every
 * point where libsva turns a broker's errno into another (libsva(7),
 * Errors); its reason went to the debug level (call()), and the bind's own
 * line, this -EPROTO having been said, goes there too (bond.c).
 */
static int attach_ret(struct sva_dev *dev, const char *what, int ret)
{
	if (ret != -EPERM)
		return ret;
	return sva_fail(&dev->ctx->log, -EPROTO,
			"%s: the broker refused the %s attach (%s): libsva and the broker disagree about the "
			"client's objects, returned as a protocol error",
			dev->label, what, strerror(EPERM));
}

/*
 * A device with PASIDs: the broker parked its RID, which stays the broker's.
 * A device without: this client holds it (its open said so, lending the VFIO
 * file), and the broker attaches the RID to one of our HWPTs.
 */
static int broker_attach(struct sva_dev *dev, uint32_t pt_id)
{
	struct sva_broker_msg m;
	int ret;

	if (pt_id == dev->park_hwpt && dev->park_hwpt)
		return 0;
	if (dev->fd < 0) {
		sva_logf(&dev->ctx->log, SVA_LOG_ERROR,
			 "%s belongs to the broker: its RID cannot be bound by a client (bind a PASID)",
			 dev->label);
		return -EOPNOTSUPP;
	}
	sva_broker_msg_init(&m, SVA_BOP_RID_ATTACH);
	m.arg[0] = dev->info.dev_id;
	m.arg[1] = pt_id;
	ret = call(dev->ctx, &m, NULL);
	/*
	 * As for a PASID (broker_pasid_attach()): a reply that broke the
	 * protocol may have come after the broker attached the RID.  A RID
	 * bind finds none of ours attached (bind_rid(): one RID bond at a
	 * time), so detaching undoes this attach only; -ENOENT: none made.
	 */
	if (ret == -EPROTO) {
		int undo;

		sva_broker_msg_init(&m, SVA_BOP_RID_DETACH);
		m.arg[0] = dev->info.dev_id;
		undo = call(dev->ctx, &m, NULL);
		if (undo && undo != -ENOENT)
			sva_logf(&dev->ctx->log, SVA_LOG_ERROR,
				 "%s: its RID may still be attached at the broker (its detach after a malformed "
				 "attach reply: %s)",
				 dev->label, strerror(-undo));
	}
	return attach_ret(dev, "RID", ret);
}

static int broker_detach(struct sva_dev *dev)
{
	struct sva_broker_msg m;
	int ret;

	if (dev->fd < 0)
		return -EOPNOTSUPP;
	sva_broker_msg_init(&m, SVA_BOP_RID_DETACH);
	m.arg[0] = dev->info.dev_id;
	ret = call(dev->ctx, &m, NULL);
	/*
	 * The broker is gone, but our duplicate of the VFIO file keeps the
	 * device bound and attached to our HWPT: detach it ourselves.  The
	 * ioctl is written out here, since backend_vfio.c sits above this file.
	 */
	if (ret == -ECONNRESET) {
		struct kabi_vfio_device_detach_iommufd_pt cmd = {
			.argsz = offsetof(struct kabi_vfio_device_detach_iommufd_pt, pasid),
		};

		ret = ioctl(dev->fd, KABI_VFIO_DEVICE_DETACH_IOMMUFD_PT, &cmd) ? -errno : 0;
	}
	return ret;
}

static int broker_pasid_attach(struct sva_dev *dev, uint32_t pasid, uint32_t pt_id)
{
	struct sva_broker_msg m;
	int ret;

	sva_broker_msg_init(&m, SVA_BOP_ATTACH);
	m.arg[0] = dev->info.dev_id;
	m.arg[1] = pasid;
	m.arg[2] = pt_id;
	ret = call(dev->ctx, &m, NULL);
	/*
	 * A reply that broke the protocol may have come after the broker made
	 * the attach: undo it, or the PASID stays attached at the broker while
	 * the bind fails and gives the PASID back (sva_bind(3): a failed bind
	 * leaves nothing bound).  An attach that was not made is refused
	 * -ENOENT, which is all the answer needs to be.
	 */
	if (ret == -EPROTO) {
		int undo;

		sva_broker_msg_init(&m, SVA_BOP_DETACH);
		m.arg[0] = dev->info.dev_id;
		m.arg[1] = pasid;
		undo = call(dev->ctx, &m, NULL);
		/* bind_pasid() keeps the value and the HWPT (under dev->lock,
		 * which the bind holds). */
		if (undo && undo != -ENOENT) {
			dev->attach_left = true;
			sva_logf(&dev->ctx->log, SVA_LOG_ERROR,
				 "%s: PASID %u may still be attached at the broker (its detach after a malformed "
				 "attach reply: %s): its HWPT is kept, and the PASID stays reserved for good",
				 dev->label, pasid, strerror(-undo));
		}
	}
	return attach_ret(dev, "PASID", ret);
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
	 * but a trusted client's mock device is an object of the iommufd we
	 * share: detach it ourselves, or the kernel cannot release the iommufd
	 * cleanly.  An isolated client's mock lived in the broker's iommufd,
	 * which went with the broker: detached already (ctx->fd is the socket).
	 */
	if (ret == -ECONNRESET && (dev->info.flags & SVA_DEV_MOCK))
		ret = dev->ctx->broker->isolated ? 0 : sva_backend_mock.pasid_detach(dev, pasid);
	/* A broker that stopped cleanly ended us on its way out: it detached
	 * our PASIDs and destroyed the mock, so nothing is left to detach. */
	if (ret == -ENOENT && (dev->info.flags & SVA_DEV_MOCK) && sva_iommufd_broker_gone(dev->ctx->fd))
		ret = 0;
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
	/* A device we held: our duplicate of its VFIO file, after the broker took it back. */
	if (dev->fd >= 0)
		close(dev->fd);
	dev->fd = -1;
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
	int fd = -1, ret;

	if (strlen(name) >= sizeof(m.text))
		return sva_fail(&ctx->log, -EINVAL, "sva_dev_open: broker device name '%.32s...' is too long", name);
	ret = sva_ctx_check_owner_in(ctx, "sva_dev_open");
	if (ret)
		return ret;
	sva_broker_msg_init(&m, SVA_BOP_OPEN);
	memcpy(m.text, name, strlen(name) + 1);
	ret = call(ctx, &m, &fd);
	/*
	 * The broker opened it, but the descriptor its reply carried (a device
	 * without PASIDs: the lent VFIO file) found no room here: the kernel
	 * dropped it.  Close it at the broker too, or the broker goes on lending
	 * the device to this client (every other client's open -EBUSY, and this
	 * one's "open already") until the client ends.
	 */
	if ((ret == -EMFILE || ret == -ENFILE) && m.op == SVA_BOP_OPEN && m.status == 0 && m.arg[0]) {
		uint64_t dev_id = m.arg[0];

		sva_broker_msg_init(&m, SVA_BOP_CLOSE);
		m.arg[0] = dev_id;
		call(ctx, &m, NULL);
	}
	if (ret)
		return ret;
	/* The broker sends its device's PCI address, canonical, or "": what is
	 * none is a broken broker's, and would become a sysfs path here. */
	char pci[16] = "";

	if (m.text[0] && sva_pci_addr_parse(m.text, pci))
		ret = sva_fail(&ctx->log, -EPROTO, "broker: a malformed open reply for %s (PCI address '%.40s')", name,
			       m.text);
	else
		/* A device without PASIDs comes with its VFIO file: this client holds it. */
		ret = sva_dev_setup(ctx, &sva_backend_broker, fd, (uint32_t)m.arg[0], pci, name, &dev);
	if (ret) {
		uint64_t dev_id = m.arg[0];

		if (fd >= 0)
			close(fd);
		sva_broker_msg_init(&m, SVA_BOP_CLOSE);
		m.arg[0] = dev_id;
		call(ctx, &m, NULL);
		return ret;
	}
	/* Per-device PASIDs: the broker leased us a block of the device's own. */
	ret = sva_dev_pasids_lease(dev, SVA_BROKER_OWN_MIN(m.arg[5]), SVA_BROKER_OWN_MAX(m.arg[5]),
				   m.arg[5] & SVA_BROKER_OWN_FULL);
	if (ret) {
		sva_dev_close(dev); /* tells the broker */
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
