/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * An isolated broker context (SVA_CTX_BROKER | SVA_CTX_ISOLATED) never holds
 * the iommufd: its ctx->fd is a duplicate of the broker socket, and the
 * iommufd.c wrappers send their calls here, to the broker, which makes them
 * on this client's own objects only (tools/broker/isolated.c).  The rest of
 * the library is unchanged: the fault engine reads the fault queue whose
 * descriptor the broker passed, and resolves a fault by "mapping" the VA,
 * which the broker turns into IOMMU_IOAS_MAP_FILE of the memfd the client
 * shared there (sva_ctx_share_memfd, broker_share.c), or refuses with -EFAULT.
 */
#include <errno.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "broker_client.h"

struct sva_broker_conn *sva_broker_proxy(int fd)
{
	struct stat st;

	if (atomic_load_explicit(&sva_broker_isolated_n, memory_order_relaxed) == 0)
		return NULL;
	if (fd < 0 || fstat(fd, &st) || !S_ISSOCK(st.st_mode))
		return NULL;
	return sva_broker_reg_find(st.st_dev, st.st_ino);
}

static int px(struct sva_broker_conn *c, uint32_t op, const uint64_t *args, size_t nargs, struct sva_broker_msg *reply,
	      int *fd_out)
{
	sva_broker_msg_init(reply, op);
	for (size_t i = 0; i < nargs; i++)
		reply->arg[i] = args[i];
	return sva_broker_rpc(c, reply, -1, fd_out);
}

int sva_px_ioas_alloc(struct sva_broker_conn *c, uint32_t *ioas_id)
{
	struct sva_broker_msg m;
	int ret = px(c, SVA_BOP_PX_IOAS_ALLOC, NULL, 0, &m, NULL);

	if (!ret)
		*ioas_id = (uint32_t)m.arg[0];
	return ret;
}

int sva_px_ioas_map(struct sva_broker_conn *c, uint32_t ioas_id, uint64_t va, uint64_t len, uint64_t iova,
		    uint32_t flags)
{
	const uint64_t a[] = { ioas_id, va, len, iova, flags };
	struct sva_broker_msg m;

	return px(c, SVA_BOP_PX_IOAS_MAP, a, 5, &m, NULL);
}

int sva_px_ioas_unmap(struct sva_broker_conn *c, uint32_t ioas_id, uint64_t iova, uint64_t len)
{
	const uint64_t a[] = { ioas_id, iova, len };
	struct sva_broker_msg m;

	return px(c, SVA_BOP_PX_IOAS_UNMAP, a, 3, &m, NULL);
}

/* The wrapper's contract: up to *nr ranges, *nr the count, -EMSGSIZE if more. */
int sva_px_iova_ranges(struct sva_broker_conn *c, uint32_t ioas_id, struct sva_iova_range *r, size_t *nr)
{
	size_t n = 0, got = 0;

	do {
		const uint64_t a[] = { ioas_id, got };
		struct sva_broker_msg m;
		int ret = px(c, SVA_BOP_PX_IOVA_RANGES, a, 2, &m, NULL);

		if (ret)
			return ret;
		n = m.arg[0] < 64 ? (size_t)m.arg[0] : 64;
		for (size_t k = 0; k < 2 && got < n; k++, got++)
			if (got < *nr) {
				r[got].start = m.arg[1 + 2 * k];
				r[got].last = m.arg[2 + 2 * k];
			}
	} while (got < n && got < *nr);
	{
		int ret = n > *nr ? -EMSGSIZE : 0;

		*nr = n;
		return ret;
	}
}

int sva_px_hwpt_alloc(struct sva_broker_conn *c, uint32_t dev_id, uint32_t pt_id, uint32_t flags, uint32_t fault_id,
		      uint32_t *hwpt_id)
{
	const uint64_t a[] = { dev_id, pt_id, flags, fault_id };
	struct sva_broker_msg m;
	int ret = px(c, SVA_BOP_PX_HWPT_ALLOC, a, 4, &m, NULL);

	if (!ret)
		*hwpt_id = (uint32_t)m.arg[0];
	return ret;
}

int sva_px_hw_info(struct sva_broker_conn *c, uint32_t dev_id, uint32_t *type, uint32_t *pasid_log2, uint64_t *caps)
{
	const uint64_t a[] = { dev_id };
	struct sva_broker_msg m;
	int ret = px(c, SVA_BOP_PX_HW_INFO, a, 1, &m, NULL);

	if (!ret) {
		*type = (uint32_t)m.arg[0];
		*pasid_log2 = (uint32_t)m.arg[1];
		*caps = m.arg[2];
	}
	return ret;
}

int sva_px_fault_alloc(struct sva_broker_conn *c, uint32_t *fault_id, int *fault_fd)
{
	struct sva_broker_msg m;
	int fd = -1, ret = px(c, SVA_BOP_PX_FAULT_ALLOC, NULL, 0, &m, &fd);

	/* The broker made the queue, but its descriptor found no room here (the
	 * kernel dropped it): destroy it at the broker, or it stays there, one
	 * of this client's objects, until the client ends. */
	if ((ret == -EMFILE || ret == -ENFILE) && m.op == SVA_BOP_PX_FAULT_ALLOC && m.status == 0 && m.arg[0])
		sva_px_destroy(c, (uint32_t)m.arg[0]);
	/* Said here, once: the caller's line knows only "Protocol error". */
	if (!ret && fd < 0) {
		sva_logf(c->log ? c->log : sva_log_default(), SVA_LOG_ERROR,
			 "broker: the reply to %s came with no descriptor for the queue: taken as a protocol error",
			 sva_broker_op_name(SVA_BOP_PX_FAULT_ALLOC));
		sva_proto_said_note();
		ret = -EPROTO;
	}
	if (!ret) {
		*fault_id = (uint32_t)m.arg[0];
		*fault_fd = fd;
	}
	return ret;
}

int sva_px_destroy(struct sva_broker_conn *c, uint32_t id)
{
	const uint64_t a[] = { id };
	struct sva_broker_msg m;

	return px(c, SVA_BOP_PX_DESTROY, a, 1, &m, NULL);
}

int sva_px_inject(struct sva_broker_conn *c, uint32_t dev_id, uint32_t pasid, uint64_t addr, uint32_t perm,
		  uint32_t grpid)
{
	const uint64_t a[] = { dev_id, pasid, addr, perm, grpid };
	struct sva_broker_msg m;

	return px(c, SVA_BOP_PX_INJECT, a, 5, &m, NULL);
}

/* Installed, not called by name: iommufd.c sits below the broker client. */
static const struct sva_iommufd_hooks hooks = {
	.proxy = sva_broker_proxy,
	.note = sva_broker_note,
	.destroy = sva_px_destroy,
	.ioas_alloc = sva_px_ioas_alloc,
	.ioas_map = sva_px_ioas_map,
	.ioas_unmap = sva_px_ioas_unmap,
	.iova_ranges = sva_px_iova_ranges,
	.hwpt_alloc = sva_px_hwpt_alloc,
	.hw_info = sva_px_hw_info,
	.fault_alloc = sva_px_fault_alloc,
	.inject = sva_px_inject,
	.gone = sva_broker_gone,
};

void sva_broker_hooks_install(void)
{
	sva_iommufd_set_hooks(&hooks);
}
