/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * sva-brokerd's isolated clients: they never hold the iommufd, so the broker
 * makes their iommufd calls, each on objects the broker made for that client
 * only, and maps memory only from memfds the client shared, with
 * IOMMU_IOAS_MAP_FILE (which needs no mm: the pages are the memfd's).  The
 * client's libsva forwards its calls here from the iommufd.c wrappers, and
 * reads its own fault queue (whose descriptor it receives), so its fault
 * engine works unchanged and resolves faults only inside what it shared.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "broker.h"
#include "internal.h"
#include "kabi.h"
#include "kabi_selftest.h"

static int add_object(struct broker *b, struct broker_client *c, uint32_t id)
{
	struct sva_broker_msg m;

	/* The same bookkeeping as a trusted client's registration. */
	sva_broker_msg_init(&m, SVA_BOP_REGISTER);
	m.arg[0] = id;
	broker_note_object(b, c, &m);
	return c->objs_overflow ? -ENOSPC : 0;
}

static bool owns(const struct broker_client *c, uint64_t id)
{
	for (size_t i = 0; i < c->nobjs; i++)
		if (c->objs[i] == id)
			return true;
	return false;
}

static bool opened(const struct broker *b, const struct broker_client *c, uint64_t dev_id, size_t *idx)
{
	for (size_t i = 0; i < b->ndevs; i++)
		if (b->devs[i].dev_id == dev_id && c->opened[i]) {
			*idx = i;
			return true;
		}
	return false;
}

/* The share holding [va, va + len), or NULL. */
static const struct broker_share *share_of(const struct broker_client *c, uint64_t va, uint64_t len)
{
	for (size_t i = 0; i < c->nshares; i++) {
		const struct broker_share *s = &c->shares[i];

		if (va >= s->va && len <= s->len && va - s->va <= s->len - len)
			return s;
	}
	return NULL;
}

static int map_file(int iommufd, uint32_t ioas, int fd, uint64_t start, uint64_t len, uint64_t iova, uint32_t flags)
{
	struct kabi_iommu_ioas_map_file cmd = {
		.size = sizeof(cmd),
		.flags = flags,
		.ioas_id = ioas,
		.fd = fd,
		.start = start,
		.length = len,
		.iova = iova,
	};

	return ioctl(iommufd, KABI_IOMMU_IOAS_MAP_FILE, &cmd) ? -errno : 0;
}

static void share(struct broker_client *c, struct sva_broker_msg *m, int *fd)
{
	uint64_t off = m->arg[0], va = m->arg[1], len = m->arg[2];
	long pg = sysconf(_SC_PAGESIZE);

	if (*fd < 0)
		return broker_refuse(m, -EBADF, "share: no memfd came with the request");
	if (!len || (va | len | off) % (uint64_t)pg || va + len < va || off + len < off)
		return broker_refuse(m, -EINVAL, "share: offset, address and length must be page-aligned, length not 0");
	if (c->nshares == BROKER_MAX_SHARES)
		return broker_refuse(m, -ENOSPC, "share: more than %d shared ranges", BROKER_MAX_SHARES);
	for (size_t i = 0; i < c->nshares; i++)
		if (va < c->shares[i].va + c->shares[i].len && c->shares[i].va < va + len)
			return broker_refuse(m, -EEXIST, "share: [0x%llx, +0x%llx) overlaps a range shared before",
					     (unsigned long long)va, (unsigned long long)len);
	c->shares[c->nshares++] = (struct broker_share){ .fd = *fd, .off = off, .va = va, .len = len };
	*fd = -1; /* kept until the client ends */
}

/* Answer one proxied request of an isolated client; *fd is the request's
 * descriptor in, the reply's out. */
void broker_proxy(struct broker *b, struct broker_client *c, struct sva_broker_msg *m, int *fd)
{
	int bfd = sva_ctx_fd(b->ctx), in = *fd, ret = 0;
	uint32_t id = 0, t = 0, w = 0;
	uint64_t caps = 0;
	size_t idx;

	*fd = -1;
	if (!c->isolated)
		return broker_refuse(m, -EPROTO, "%s: only for isolated clients", sva_broker_op_name(m->op));
	switch (m->op) {
	case SVA_BOP_PX_IOAS_ALLOC:
		ret = sva_iommufd_ioas_alloc(bfd, &id);
		if (!ret && (ret = add_object(b, c, id)) != 0)
			sva_iommufd_destroy(bfd, id);
		m->arg[0] = id;
		break;
	case SVA_BOP_PX_IOAS_MAP: {
		const struct broker_share *s = share_of(c, m->arg[1], m->arg[2]);
		uint32_t flags = (uint32_t)m->arg[4] & (KABI_IOMMU_IOAS_MAP_FIXED_IOVA | KABI_IOMMU_IOAS_MAP_WRITEABLE |
							  KABI_IOMMU_IOAS_MAP_READABLE);

		if (!owns(c, m->arg[0]))
			return broker_refuse(m, -EPERM, "IOAS %llu is not this client's", (unsigned long long)m->arg[0]);
		if (!s)
			return broker_refuse(m, -EFAULT, "[0x%llx, +0x%llx) is not inside memory this client shared",
					     (unsigned long long)m->arg[1], (unsigned long long)m->arg[2]);
		ret = map_file(bfd, (uint32_t)m->arg[0], s->fd, s->off + (m->arg[1] - s->va), m->arg[2], m->arg[3],
			       flags);
		break;
	}
	case SVA_BOP_PX_IOAS_UNMAP:
		if (!owns(c, m->arg[0]))
			return broker_refuse(m, -EPERM, "IOAS %llu is not this client's", (unsigned long long)m->arg[0]);
		ret = sva_iommufd_ioas_unmap(bfd, (uint32_t)m->arg[0], m->arg[1], m->arg[2]);
		break;
	case SVA_BOP_PX_IOVA_RANGES: {
		struct sva_iova_range r[64];
		size_t n = 64;

		if (!owns(c, m->arg[0]))
			return broker_refuse(m, -EPERM, "IOAS %llu is not this client's", (unsigned long long)m->arg[0]);
		ret = sva_iommufd_iova_ranges(bfd, (uint32_t)m->arg[0], r, &n);
		if (ret == -EMSGSIZE)
			ret = 0;
		idx = m->arg[1] < n ? (size_t)m->arg[1] : n;
		m->arg[0] = n;
		for (size_t k = 0; k < 2 && idx + k < n; k++) {
			m->arg[1 + 2 * k] = r[idx + k].start;
			m->arg[2 + 2 * k] = r[idx + k].last;
		}
		break;
	}
	case SVA_BOP_PX_HWPT_ALLOC: {
		uint32_t flags = (uint32_t)m->arg[2];

		if (!opened(b, c, m->arg[0], &idx))
			return broker_refuse(m, -ENODEV, "device %llu is not open in this client",
					     (unsigned long long)m->arg[0]);
		if (!owns(c, m->arg[1]) || ((flags & KABI_IOMMU_HWPT_FAULT_ID_VALID) && !owns(c, m->arg[3])))
			return broker_refuse(m, -EPERM, "IOAS %llu or fault queue %llu is not this client's",
					     (unsigned long long)m->arg[1], (unsigned long long)m->arg[3]);
		if (flags & ~(KABI_IOMMU_HWPT_ALLOC_PASID | KABI_IOMMU_HWPT_FAULT_ID_VALID))
			return broker_refuse(m, -EINVAL, "HWPT flags 0x%x are not served", flags);
		ret = sva_iommufd_hwpt_alloc(bfd, (uint32_t)m->arg[0], (uint32_t)m->arg[1], flags, (uint32_t)m->arg[3],
					     &id);
		if (!ret && (ret = add_object(b, c, id)) != 0)
			sva_iommufd_destroy(bfd, id);
		m->arg[0] = id;
		break;
	}
	case SVA_BOP_PX_HW_INFO:
		if (!opened(b, c, m->arg[0], &idx))
			return broker_refuse(m, -ENODEV, "device %llu is not open in this client",
					     (unsigned long long)m->arg[0]);
		ret = sva_iommufd_hw_info(bfd, (uint32_t)m->arg[0], &t, &w, &caps);
		m->arg[0] = t;
		m->arg[1] = w;
		m->arg[2] = caps;
		break;
	case SVA_BOP_PX_FAULT_ALLOC: {
		int ffd = -1;

		ret = sva_iommufd_fault_alloc(bfd, &id, &ffd);
		if (!ret && (ret = add_object(b, c, id)) != 0) {
			close(ffd);
			sva_iommufd_destroy(bfd, id);
		}
		if (!ret)
			*fd = ffd; /* sent, then closed here: the client holds the queue */
		m->arg[0] = id;
		break;
	}
	case SVA_BOP_PX_DESTROY:
		if (!owns(c, m->arg[0]))
			return broker_refuse(m, -EPERM, "object %llu is not this client's", (unsigned long long)m->arg[0]);
		ret = sva_iommufd_destroy(bfd, (uint32_t)m->arg[0]);
		if (!ret) {
			struct sva_broker_msg u;

			sva_broker_msg_init(&u, SVA_BOP_UNREGISTER);
			u.arg[0] = (uint32_t)m->arg[0];
			broker_note_object(b, c, &u);
		}
		break;
	case SVA_BOP_PX_INJECT: {
		struct kabi_iommu_test_cmd cmd = { .size = sizeof(cmd), .op = KABI_TEST_OP_TRIGGER_IOPF };

		if (!opened(b, c, m->arg[0], &idx) || !(b->devs[idx].flags & SVA_DEV_MOCK))
			return broker_refuse(m, -EOPNOTSUPP, "device %llu is not a mock open in this client",
					     (unsigned long long)m->arg[0]);
		if (m->arg[1] < c->pasid_min || m->arg[1] > c->pasid_max)
			return broker_refuse(m, -EPERM, "PASID %llu is not in this client's block",
					     (unsigned long long)m->arg[1]);
		cmd.trigger_iopf.dev_id = (uint32_t)m->arg[0];
		cmd.trigger_iopf.pasid = (uint32_t)m->arg[1];
		cmd.trigger_iopf.addr = m->arg[2];
		cmd.trigger_iopf.perm = (uint32_t)m->arg[3];
		cmd.trigger_iopf.grpid = (uint32_t)m->arg[4];
		ret = ioctl(bfd, KABI_IOMMU_TEST_CMD, &cmd) ? -errno : 0;
		break;
	}
	case SVA_BOP_PX_SHARE:
		share(c, m, &in);
		break;
	default:
		ret = -EOPNOTSUPP;
	}
	if (in >= 0)
		close(in);
	if (ret && !m->status)
		broker_refuse(m, ret, "%s: %s", sva_broker_op_name(m->op), strerror(-ret));
}
