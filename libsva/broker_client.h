/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The client side of sva-brokerd (SVA_CTX_BROKER): broker_client.c. */
#ifndef LIBSVA_BROKER_CLIENT_H
#define LIBSVA_BROKER_CLIENT_H

#include "broker_proto.h"
#include "internal.h"

/* A context's connection to the broker (ctx->broker). */
struct sva_broker_conn {
	pthread_mutex_t lock; /* one request and its reply at a time */
	int sock;
	uint32_t pasid_min, pasid_max; /* the PASIDs the broker leased us */
	int fd; /* the context's iommufd, registered for sva_broker_note() */
};

/* sva_ctx_new() with SVA_CTX_BROKER (opts already copied and checked). */
int sva_broker_ctx_new(const struct sva_ctx_opts *opts, struct sva_ctx **out);
/* sva_dev_open() in a broker context: the broker opens, we get its dev_id. */
int sva_broker_dev_open(struct sva_ctx *ctx, const char *name, struct sva_dev **out);
/* At the context's last reference: closing the socket tells the broker. */
void sva_broker_conn_free(struct sva_broker_conn *conn);

extern const struct sva_dev_backend sva_backend_broker;

/*
 * Called by iommufd.c for every object created in (alive) or about to be
 * destroyed from (!alive) the iommufd fd: if fd is a broker context's, tell
 * the broker, which destroys what a client leaves behind (the iommufd is
 * shared, so closing the client's descriptor frees nothing).  Free when no
 * broker context exists.
 */
void sva_broker_note(int fd, uint32_t id, bool alive);

#endif /* LIBSVA_BROKER_CLIENT_H */
