/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The wire protocol between sva-brokerd and libsva contexts created with
 * SVA_CTX_BROKER: fixed-size messages on an AF_UNIX SOCK_SEQPACKET socket,
 * at most one file descriptor each (SCM_RIGHTS).  One size and one fd limit
 * keep a hostile peer from making either side allocate or hold anything: a
 * message of any other length, with more descriptors, a wrong magic or an
 * unterminated text is refused whole (its descriptors closed).
 */
#ifndef LIBSVA_BROKER_PROTO_H
#define LIBSVA_BROKER_PROTO_H

#include <stddef.h>
#include <stdint.h>

#define SVA_BROKER_MAGIC 0x31425653u /* "SVB1": also the protocol version */
#define SVA_BROKER_TEXT 128
#define SVA_BROKER_DEFAULT_SOCKET "/run/sva-brokerd/socket"
#define SVA_BROKER_MAX_SHARES 64 /* memfd ranges an isolated client shares at once */

enum sva_broker_op {
	SVA_BOP_HELLO = 1, /* c->b arg0 mode; reply arg0/1 the leased PASIDs, fd the iommufd */
	SVA_BOP_OPEN,	   /* c->b text name; reply arg0 dev_id, arg1 SVA_DEV_* flags,
			    * arg2 mock stdev_id, arg3 park IOAS, arg4 park HWPT,
			    * arg5 the block of the device's own PASIDs (SVA_BROKER_OWN), text the
			    * PCI address ("" if none); a device without PASIDs: fd the
			    * VFIO device file, lent to the one client holding its RID */
	SVA_BOP_CLOSE,	   /* c->b arg0 dev_id */
	SVA_BOP_ATTACH,	   /* c->b arg0 dev_id, arg1 pasid, arg2 hwpt */
	SVA_BOP_DETACH,	   /* c->b arg0 dev_id, arg1 pasid */
	SVA_BOP_REGISTER,  /* c->b, no reply: arg0 an object the client created in the iommufd */
	SVA_BOP_UNREGISTER, /* c->b, no reply: arg0 an object the client is about to destroy */
	/* Isolated clients: the broker does their iommufd calls, on their own objects only. */
	SVA_BOP_PX_IOAS_ALLOC, /* reply arg0 the IOAS */
	SVA_BOP_PX_IOAS_MAP,   /* arg0 IOAS, arg1 VA, arg2 length, arg3 IOVA, arg4 flags */
	SVA_BOP_PX_IOAS_UNMAP, /* arg0 IOAS, arg1 IOVA, arg2 length */
	SVA_BOP_PX_IOVA_RANGES, /* arg0 IOAS, arg1 first index; reply arg0 count, arg1-4 two ranges */
	SVA_BOP_PX_HWPT_ALLOC, /* arg0 dev_id, arg1 IOAS, arg2 flags, arg3 fault queue; reply arg0 the HWPT */
	SVA_BOP_PX_HW_INFO,    /* arg0 dev_id; reply arg0 type, arg1 PASID width, arg2 caps */
	SVA_BOP_PX_FAULT_ALLOC, /* reply arg0 the fault queue, fd its descriptor */
	SVA_BOP_PX_DESTROY,    /* arg0 the object */
	SVA_BOP_PX_INJECT,     /* mock: arg0 dev_id, arg1 PASID, arg2 addr, arg3 perm, arg4 group */
	SVA_BOP_PX_SHARE,      /* fd a memfd, arg0 its offset, arg1 the client's VA, arg2 length */
	SVA_BOP_PX_UNSHARE,    /* arg0 VA, arg1 length: exactly a shared range; its mappings go */
	/* A device without PASIDs, held by one trusted client (its OPEN lent it). */
	SVA_BOP_RID_ATTACH, /* c->b arg0 dev_id, arg1 the client's HWPT */
	SVA_BOP_RID_DETACH, /* c->b arg0 dev_id */
	SVA_BOP_END,
};

/* SVA_BOP_OPEN arg5: the client's block [min, max] of the device's own
 * PASIDs (20 bits each), or 0 and SVA_BROKER_OWN_FULL when the device has
 * own PASIDs but none left for this client, or 0: it has none. */
#define SVA_BROKER_OWN(min, max) ((uint64_t)(min) | (uint64_t)(max) << 20)
#define SVA_BROKER_OWN_MIN(a) ((uint32_t)((a) & 0xfffff))
#define SVA_BROKER_OWN_MAX(a) ((uint32_t)(((a) >> 20) & 0xfffff))
#define SVA_BROKER_OWN_FULL (1ull << 40)

/* SVA_BOP_HELLO arg0 */
#define SVA_BROKER_TRUSTED 1u
#define SVA_BROKER_ISOLATED 2u

struct sva_broker_msg {
	uint32_t magic;
	uint32_t op;	 /* enum sva_broker_op; a reply carries the request's */
	int32_t status;	 /* replies: 0 or a negative errno */
	uint32_t nfds;	 /* descriptors sent with it: 0 or 1 */
	uint64_t arg[6];
	char text[SVA_BROKER_TEXT]; /* NUL-terminated: a device name, or why a request was refused */
};

/* A request or reply of op with every other field zero. */
void sva_broker_msg_init(struct sva_broker_msg *m, uint32_t op);
/* Is a received buffer of len bytes with nfds descriptors a well-formed
 * message?  0, or -EBADMSG (length, magic, nfds field, text) / -EPROTO
 * (more than one descriptor, or not as many as the message says). */
int sva_broker_msg_check(const struct sva_broker_msg *m, size_t len, unsigned nfds);
/* Send m with fd (-1: none).  0 or -errno (-EPIPE: the peer is gone). */
int sva_broker_send(int sock, const struct sva_broker_msg *m, int fd);
/*
 * Receive one message; *fd gets its descriptor (O_CLOEXEC) or -1.  0, or
 * -ECONNRESET the peer closed, -EBADMSG/-EPROTO a malformed message (any
 * descriptors it carried are closed), other errnos of recvmsg().
 */
int sva_broker_recv(int sock, struct sva_broker_msg *m, int *fd);
/*
 * Can the broker map [off, off + len) of fd with IOMMU_IOAS_MAP_FILE, as a
 * share asks?  0, or -EINVAL with why[] said: not a memfd (a shmem or
 * hugetlbfs file: the kernel pins no other; F_GET_SEALS answers only those),
 * or shorter than off + len.  Both sides ask: the client for a clear error,
 * the broker because it trusts no client.
 */
int sva_broker_memfd_check(int fd, uint64_t off, uint64_t len, char *why, size_t n);
/* "hello", "open", ...; "unknown" for anything else. */
const char *sva_broker_op_name(uint32_t op);

#endif /* LIBSVA_BROKER_PROTO_H */
