/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The client side of sva-brokerd (SVA_CTX_BROKER): broker_client.c. */
#ifndef LIBSVA_BROKER_CLIENT_H
#define LIBSVA_BROKER_CLIENT_H

#include "broker_proto.h"
#include <sys/types.h>

#include "internal.h"

/* The broker contexts one process can have (broker_conn.c). */
#define REG_MAX 64

/* A context's connection to the broker (ctx->broker). */
struct sva_broker_conn {
	pthread_mutex_t lock; /* one request and its reply at a time */
	int sock;
	/* Where sva_broker_rpc() says what a reply it maps to -EPROTO held: the
	 * hello's boot log, then the context's (sva_broker_adopt()); NULL in
	 * between, the process-wide log. */
	const struct sva_log *log;
	/* Those lines when made resolving faults (sva_log_is_device_driven()),
	 * one per fault of a broker that garbles every map: under lock. */
	struct sva_ratelimit rl;
	uint32_t pasid_min, pasid_max; /* the PASIDs the broker leased us */
	int fd; /* the context's iommufd, registered for sva_broker_note() */
	bool isolated; /* SVA_CTX_ISOLATED: no iommufd; ctx->fd is a duplicate of sock */
	dev_t sock_dev; /* the socket's identity, which its duplicates share */
	ino_t sock_ino;
	/* Isolated: one share or unshare at a time, from before its request
	 * to after its reply is applied to shares[] (broker_share.c), so the
	 * list and the broker's agree whenever it is free.  Taken first, by
	 * those two calls only: never on the fault path. */
	pthread_mutex_t share_op_lock;
	/* Isolated: the ranges shared with the broker (broker_share.c), under
	 * shares_lock, a leaf taken on the fault path under mm->lock. */
	pthread_mutex_t shares_lock;
	struct sva_broker_range {
		uint64_t va, len;
		bool leaving; /* being unshared: faults there are refused */
	} shares[SVA_BROKER_MAX_SHARES];
	size_t nshares;
	/* Isolated: its address spaces (mm->broker_next), for unsharing; taken
	 * before any mm's map_lock, never under one. */
	pthread_mutex_t mms_lock;
	struct sva_mm *mms;
};

/*
 * sva_ctx_new() with SVA_CTX_BROKER (opts already copied and checked), in
 * two halves around the context that ctx.c builds itself: connect gets the
 * connection, the PASID lease and the descriptor the context adopts (a
 * trusted client's iommufd, which the caller closes once the context has its
 * duplicate; an isolated client's socket, registered for the proxy); adopt
 * makes the connection the context's (-EMFILE: too many).  When the context
 * cannot be built or adopt fails, the caller frees the connection with
 * sva_broker_conn_free() and the context itself.
 */
int sva_broker_connect(const struct sva_ctx_opts *opts, struct sva_broker_conn **conn, int *fd);
int sva_broker_adopt(struct sva_broker_conn *conn, const struct sva_ctx_opts *opts, struct sva_ctx *ctx);
/* sva_dev_open() in a broker context: the broker opens, we get its dev_id. */
int sva_broker_dev_open(struct sva_ctx *ctx, const char *name, struct sva_dev **out);
/* At the context's last reference: closing the socket tells the broker. */
void sva_broker_conn_free(struct sva_broker_conn *conn);

extern const struct sva_dev_backend sva_backend_broker;

/*
 * broker_conn.c, the note hook of iommufd.c: for every object created in (alive) or about to be
 * destroyed from (!alive) the iommufd fd: if fd is a broker context's, tell
 * the broker, which destroys what a client leaves behind (the iommufd is
 * shared, so closing the client's descriptor frees nothing).  Free when no
 * broker context exists.
 */
void sva_broker_note(int fd, uint32_t id, bool alive);
/* Is fd a broker context's (see struct sva_iommufd_hooks.gone) whose broker
 * hung up? */
bool sva_broker_gone(int fd);

/*
 * broker_proxy.c: an isolated context's ctx->fd is a duplicate of its broker
 * socket, and the iommufd.c wrappers hand their calls to the broker instead,
 * through the hooks sva_broker_hooks_install() gives them.
 * The connection fd belongs to, or NULL (every descriptor of every context
 * that is not isolated; free when no isolated context exists).
 */
struct sva_broker_conn *sva_broker_proxy(int fd);
int sva_px_ioas_alloc(struct sva_broker_conn *c, uint32_t *ioas_id);
int sva_px_ioas_map(struct sva_broker_conn *c, uint32_t ioas_id, uint64_t va, uint64_t len, uint64_t iova,
		    uint32_t flags);
int sva_px_ioas_unmap(struct sva_broker_conn *c, uint32_t ioas_id, uint64_t iova, uint64_t len);
int sva_px_iova_ranges(struct sva_broker_conn *c, uint32_t ioas_id, struct sva_iova_range *r, size_t *nr);
int sva_px_hwpt_alloc(struct sva_broker_conn *c, uint32_t dev_id, uint32_t pt_id, uint32_t flags, uint32_t fault_id,
		      uint32_t *hwpt_id);
int sva_px_hw_info(struct sva_broker_conn *c, uint32_t dev_id, uint32_t *type, uint32_t *pasid_log2, uint64_t *caps);
int sva_px_fault_alloc(struct sva_broker_conn *c, uint32_t *fault_id, int *fault_fd);
int sva_px_destroy(struct sva_broker_conn *c, uint32_t id);
int sva_px_inject(struct sva_broker_conn *c, uint32_t dev_id, uint32_t pasid, uint64_t addr, uint32_t perm,
		  uint32_t grpid);
void sva_broker_hooks_install(void);
/* broker_conn.c: register or drop a connection (an isolated one for sva_broker_proxy()). */
int sva_broker_reg_add(struct sva_broker_conn *conn);
void sva_broker_reg_remove(struct sva_broker_conn *conn);
/* Is the registry full (REG_MAX contexts of this process)? */
bool sva_broker_reg_full(void);
/* The registered isolated connection whose socket is (dev, ino), or NULL. */
struct sva_broker_conn *sva_broker_reg_find(dev_t dev, ino_t ino);
extern atomic_int sva_broker_isolated_n;
/* One request and its reply on conn; the reply's status.  *fd_out (if not
 * NULL) gets the reply's descriptor or -1.  A reply it turns into -EPROTO
 * (malformed, answering another request, or a status that is no errno) is
 * logged here, once, at error level with what the broker sent; -EPROTO as
 * the broker's own status is the caller's to log. */
int sva_broker_rpc(struct sva_broker_conn *conn, struct sva_broker_msg *m, int fd, int *fd_out);

#endif /* LIBSVA_BROKER_CLIENT_H */
