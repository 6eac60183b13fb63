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
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "broker.h"
#include "internal.h"
#include "kabi.h"
#include "kabi_selftest.h"

static int add_object(struct broker *b, struct broker_client *c, uint32_t id)
{
	struct sva_broker_msg m;
	size_t before = c->nobjs;

	/* The same bookkeeping as a trusted client's registration.  Whether
	 * this one was recorded, not whether one ever overflowed: room made
	 * by destroying objects counts again. */
	sva_broker_msg_init(&m, SVA_BOP_REGISTER);
	m.arg[0] = id;
	broker_note_object(b, c, &m);
	return c->nobjs > before ? 0 : -ENOSPC;
}

static bool owns(const struct broker_client *c, uint64_t id)
{
	for (size_t i = 0; i < c->nobjs; i++)
		if (c->objs[i] == id)
			return true;
	return false;
}

/* The parking IOAS of a device c opened: c may read its ranges
 * (sva_dev_iova_ranges(3) of a parked device), nothing else. */
static bool parks_for(const struct broker *b, const struct broker_client *c, uint64_t id)
{
	for (size_t i = 0; i < b->ndevs; i++)
		if (c->opened[i] && b->devs[i].park_ioas == id)
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
static struct broker_share *share_of(struct broker_client *c, uint64_t va, uint64_t len)
{
	for (size_t i = 0; i < c->nshares; i++) {
		struct broker_share *s = &c->shares[i];

		if (va >= s->va && len <= s->len && va - s->va <= s->len - len)
			return s;
	}
	return NULL;
}

/* IOMMU_IOAS_MAP_FILE; *iova in: the IOVA asked for (FIXED_IOVA), out: the one mapped. */
static int map_file(int iommufd, uint32_t ioas, int fd, uint64_t start, uint64_t len, uint64_t *iova, uint32_t flags)
{
	struct kabi_iommu_ioas_map_file cmd = {
		.size = sizeof(cmd),
		.flags = flags,
		.ioas_id = ioas,
		.fd = fd,
		.start = start,
		.length = len,
		.iova = *iova,
	};

	if (ioctl(iommufd, KABI_IOMMU_IOAS_MAP_FILE, &cmd))
		return -errno;
	*iova = cmd.iova;
	return 0;
}

/*
 * The client's mappings, one record per IOMMU_IOAS_MAP_FILE: they are what
 * isolated-pin-max counts, what an unshare takes back, and the only ranges
 * its unmaps may name, so the records and the kernel's areas never differ.
 */
static int add_map(struct broker_client *c, uint32_t ioas, uint64_t iova, uint64_t len, uint64_t share_va,
		   uint64_t charge)
{
	if (c->nmaps == c->cap_maps) {
		size_t cap = c->cap_maps ? 2 * c->cap_maps : 64;
		struct broker_map *grown = cap <= BROKER_MAX_MAPS ? realloc(c->maps, cap * sizeof(*grown)) : NULL;

		if (!grown)
			return -ENOSPC;
		c->maps = grown;
		c->cap_maps = cap;
	}
	c->maps[c->nmaps++] =
		(struct broker_map){ .ioas = ioas, .iova = iova, .len = len, .share_va = share_va, .charge = charge };
	c->mapped += charge;
	return 0;
}

static void drop_map(struct broker_client *c, size_t i)
{
	c->mapped -= c->maps[i].charge;
	c->maps[i] = c->maps[--c->nmaps];
}

/*
 * Unmap record i and forget it: 0, or the kernel's -errno (kept).  ENOENT
 * means "nothing there" only when said twice: the kernel also gives it when it
 * fails to look the IOAS up, and a record dropped while its pages stay mapped
 * would leave a device reaching memory the client took back (withdraw.c).
 */
static int unmap_one(int bfd, struct broker_client *c, size_t i)
{
	const struct broker_map *mp = &c->maps[i];
	int ret = sva_iommufd_ioas_unmap(bfd, mp->ioas, mp->iova, mp->len);

	if (ret == -ENOENT)
		ret = sva_iommufd_ioas_unmap(bfd, mp->ioas, mp->iova, mp->len);
	if (ret && ret != -ENOENT)
		return ret;
	drop_map(c, i);
	return 0;
}

/* IOMMU_IOAS_UNMAP of [iova, iova + len) in ioas, mapping by mapping: as the
 * kernel, a range that cuts a mapping is refused whole (-ENOENT), and so is
 * one that holds none. */
static int unmap_range(int bfd, struct broker_client *c, uint32_t ioas, uint64_t iova, uint64_t len)
{
	uint64_t last = len && iova + len - 1 >= iova ? iova + len - 1 : UINT64_MAX;
	bool any = false;
	int ret;

	if (!len)
		return -EINVAL;
	for (size_t i = 0; i < c->nmaps; i++) {
		const struct broker_map *mp = &c->maps[i];

		if (mp->ioas == ioas && mp->iova <= last && iova <= mp->iova + mp->len - 1 &&
		    (mp->iova < iova || mp->iova + mp->len - 1 > last))
			return -ENOENT;
	}
	/* From the end: drop_map() moves the last record into the hole. */
	for (size_t i = c->nmaps; i-- > 0;) {
		const struct broker_map *mp = &c->maps[i];

		if (mp->ioas != ioas || mp->iova < iova || mp->iova > last)
			continue;
		any = true;
		ret = unmap_one(bfd, c, i);
		if (ret)
			return ret;
	}
	return any ? 0 : -ENOENT;
}

/* Object id was destroyed: if it was an IOAS, its mappings went with it. */
static void forget_ioas(struct broker_client *c, uint32_t id)
{
	for (size_t i = c->nmaps; i-- > 0;)
		if (c->maps[i].ioas == id)
			drop_map(c, i);
}

/* fcntl(2)'s seals, declared by <fcntl.h> only under _GNU_SOURCE (which
 * would also declare unshare(2), a name used here): the kernel's values. */
#ifndef F_GET_SEALS
#define F_GET_SEALS 1034 /* F_LINUX_SPECIFIC_BASE + 10 */
#endif
#ifndef F_SEAL_WRITE
#define F_SEAL_WRITE 0x0008
#endif
#ifndef F_SEAL_FUTURE_WRITE
#define F_SEAL_FUTURE_WRITE 0x0010 /* Linux 5.1 */
#endif

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
	{
		char why[160];
		int ret = sva_broker_memfd_check(*fd, off, len, why, sizeof(why));

		if (ret)
			return broker_refuse(m, ret, "share: %s", why);
	}
	for (size_t i = 0; i < c->nshares; i++)
		if (va < c->shares[i].va + c->shares[i].len && c->shares[i].va < va + len)
			return broker_refuse(m, -EEXIST, "share: [0x%llx, +0x%llx) overlaps a range shared before",
					     (unsigned long long)va, (unsigned long long)len);
	/* The broker maps the file's pages for the client's device with its own
	 * rights: never writable through a descriptor the client could not write
	 * through itself.  The check above saw the seals answer; should they not
	 * now, read-only is the side to err on. */
	int acc = fcntl(*fd, F_GETFL), seals = fcntl(*fd, F_GET_SEALS);
	bool writable = acc >= 0 && (acc & O_ACCMODE) == O_RDWR && seals >= 0 &&
			!(seals & (F_SEAL_WRITE | F_SEAL_FUTURE_WRITE));
	/* The kernel pins the file's pages whole: a map of 4 KiB of a hugetlbfs
	 * memfd pins its 2 MiB page, which is what isolated-pin-max must count. */
	struct stat st;
	uint64_t pgsz = !fstat(*fd, &st) && st.st_blksize > pg && !(st.st_blksize & (st.st_blksize - 1))
				? (uint64_t)st.st_blksize
				: (uint64_t)pg;

	c->shares[c->nshares++] = (struct broker_share){ .fd = *fd, .off = off, .va = va, .len = len,
							 .pgsz = pgsz, .writable = writable };
	*fd = -1; /* kept until the client unshares it or ends */
}

/* Take back every mapping made from the range shared at exactly [va, va + len), then forget it. */
static void unshare(int bfd, struct broker_client *c, struct sva_broker_msg *m)
{
	uint64_t va = m->arg[0], len = m->arg[1];
	struct broker_share *s = NULL;
	int ret;

	for (size_t i = 0; i < c->nshares; i++)
		if (c->shares[i].va == va && c->shares[i].len == len)
			s = &c->shares[i];
	if (!s)
		return broker_refuse(m, -ENOENT, "unshare: [0x%llx, +0x%llx) is not a range this client shared",
				     (unsigned long long)va, (unsigned long long)len);
	for (size_t i = c->nmaps; i-- > 0;) {
		const struct broker_map *mp = &c->maps[i];
		uint64_t iova = mp->iova;

		if (mp->share_va != va)
			continue;
		ret = unmap_one(bfd, c, i);
		if (ret)
			return broker_refuse(m, ret, "unshare: unmapping IOVA 0x%llx failed (%s): the range stays shared",
					     (unsigned long long)iova, strerror(-ret));
	}
	close(s->fd);
	*s = c->shares[--c->nshares];
}

void broker_isolated_end(struct broker_client *c)
{
	/* The IOASes are destroyed (or waiting to be): their mappings went. */
	free(c->maps);
	c->maps = NULL;
	c->nmaps = c->cap_maps = 0;
	c->mapped = 0;
	for (size_t i = 0; i < c->nshares; i++)
		close(c->shares[i].fd);
	c->nshares = 0;
}

/* Answer one proxied request of an isolated client: *inp is the request's
 * descriptor (set to -1 when kept), *fd the reply's. */
static void proxy(struct broker *b, struct broker_client *c, struct sva_broker_msg *m, int *fd, int *inp)
{
	int bfd = sva_ctx_fd(b->ctx), in = *inp, ret = 0;
	uint32_t id = 0, t = 0, w = 0;
	uint64_t caps = 0, iova, charge, max = b->conf.isolated_pin_max;
	size_t idx;

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
		struct broker_share *s = share_of(c, m->arg[1], m->arg[2]);
		uint32_t flags = (uint32_t)m->arg[4] & (KABI_IOMMU_IOAS_MAP_FIXED_IOVA | KABI_IOMMU_IOAS_MAP_WRITEABLE |
							  KABI_IOMMU_IOAS_MAP_READABLE);

		if (!owns(c, m->arg[0]))
			return broker_refuse(m, -EPERM, "IOAS %llu is not this client's", (unsigned long long)m->arg[0]);
		if (!s)
			return broker_refuse(m, -EFAULT, "[0x%llx, +0x%llx) is not inside memory this client shared",
					     (unsigned long long)m->arg[1], (unsigned long long)m->arg[2]);
		/* The kernel pins whole pages: isolated-pin-max counts bytes
		 * mapped, which are pages only when every map is whole pages
		 * (an IOMMU page smaller than the CPU's, as the mock's, would
		 * let a map of half a page pin a whole one). */
		if ((m->arg[1] | m->arg[2]) % (uint64_t)sysconf(_SC_PAGESIZE))
			return broker_refuse(m, -EINVAL, "[0x%llx, +0x%llx): maps are whole pages",
					     (unsigned long long)m->arg[1], (unsigned long long)m->arg[2]);
		/* A write seal added since the share ends writable maps from
		 * then on, as it ends new writable mmap()s (mappings made
		 * before stay, as the process's own do). */
		if ((flags & KABI_IOMMU_IOAS_MAP_WRITEABLE) && s->writable) {
			int seals = fcntl(s->fd, F_GET_SEALS);

			s->writable = seals >= 0 && !(seals & (F_SEAL_WRITE | F_SEAL_FUTURE_WRITE));
		}
		if ((flags & KABI_IOMMU_IOAS_MAP_WRITEABLE) && !s->writable)
			return broker_refuse(m, -EACCES, "[0x%llx, +0x%llx) was shared through a descriptor not open "
					     "for writing, or sealed against writes: devices may only read it",
					     (unsigned long long)m->arg[1], (unsigned long long)m->arg[2]);
		/* Pages past the memfd's end (truncated since the share) are
		 * refused -EINVAL, as the kernel refuses them when it pins at
		 * once: on an IOAS with no domain yet it pins nothing and took
		 * them, and the device's first HWPT on that IOAS failed instead
		 * (review Z64).  A truncation racing this check is the
		 * kernel's to refuse (sva_ctx_share_memfd(3), NOTES). */
		{
			uint64_t foff = s->off + (m->arg[1] - s->va);
			struct stat st;

			if (!fstat(s->fd, &st) && (st.st_size < 0 || (uint64_t)st.st_size < foff + m->arg[2]))
				return broker_refuse(m, -EINVAL,
						     "[0x%llx, +0x%llx) reaches past the memfd's end (it is 0x%llx "
						     "bytes, the map needs 0x%llx): truncated since it was shared",
						     (unsigned long long)m->arg[1], (unsigned long long)m->arg[2],
						     (unsigned long long)st.st_size,
						     (unsigned long long)(foff + m->arg[2]));
		}
		/* -ENOMEM, as the kernel's own memlock limit: the client's pin
		 * budget evicts its cold chunks and shrinks the window, then
		 * answers the fault INVALID. */
		/* What it pins: the file's pages it touches, whole (a hugetlbfs
		 * memfd's 2 MiB pages however little of them is mapped). */
		{
			uint64_t foff = s->off + (m->arg[1] - s->va);

			charge = ((foff + m->arg[2] + s->pgsz - 1) & ~(s->pgsz - 1)) - (foff & ~(s->pgsz - 1));
		}
		if (max && (charge > max || c->mapped > max - charge))
			return broker_refuse(m, -ENOMEM,
					     "isolated-pin-max: 0x%llx bytes more (the file pages 0x%llx bytes map) do "
					     "not fit beside the 0x%llx this client has pinned (of 0x%llx)",
					     (unsigned long long)charge, (unsigned long long)m->arg[2],
					     (unsigned long long)c->mapped, (unsigned long long)max);
		iova = m->arg[3];
		ret = map_file(bfd, (uint32_t)m->arg[0], s->fd, s->off + (m->arg[1] - s->va), m->arg[2], &iova, flags);
		if (!ret && (ret = add_map(c, (uint32_t)m->arg[0], iova, m->arg[2], s->va, charge)) != 0)
			sva_iommufd_ioas_unmap(bfd, (uint32_t)m->arg[0], iova, m->arg[2]);
		m->arg[3] = iova;
		break;
	}
	case SVA_BOP_PX_IOAS_UNMAP:
		if (!owns(c, m->arg[0]))
			return broker_refuse(m, -EPERM, "IOAS %llu is not this client's", (unsigned long long)m->arg[0]);
		ret = unmap_range(bfd, c, (uint32_t)m->arg[0], m->arg[1], m->arg[2]);
		break;
	case SVA_BOP_PX_IOVA_RANGES: {
		struct sva_iova_range r[64];
		size_t n = 64;

		if (!owns(c, m->arg[0]) && !parks_for(b, c, m->arg[0]))
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
			forget_ioas(c, (uint32_t)m->arg[0]);
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
	case SVA_BOP_PX_UNSHARE:
		unshare(bfd, c, m);
		break;
	default:
		ret = -EOPNOTSUPP;
	}
	*inp = in;
	if (ret && !m->status)
		broker_refuse(m, ret, "%s: %s", sva_broker_op_name(m->op), strerror(-ret));
}

/* *fd is the request's descriptor in, the reply's out. */
void broker_proxy(struct broker *b, struct broker_client *c, struct sva_broker_msg *m, int *fd)
{
	int in = *fd;

	*fd = -1;
	proxy(b, c, m, fd, &in);
	/* Every refusal included, early ones too: a client must not be able to
	 * fill the broker's descriptor table by sending descriptors. */
	if (in >= 0)
		close(in);
}
