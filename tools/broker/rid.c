/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * A device without PASIDs (QEMU's edu behind emulated VT-d, most devices
 * behind an IOMMU without PASID or PRI) has one translation: its RID's.  So
 * it cannot be shared the way PASIDs are: one trusted client at a time holds
 * it, from its open to its close or its end.  The holder gets a duplicate of
 * the VFIO device file (it programs the device: BARs, DMA) and has the broker
 * attach the RID to a HWPT of its own; everyone else meets -EBUSY saying who
 * holds it.  An isolated client is refused: with the device file it could
 * attach the RID to any IOAS of the iommufd, another tenant's included.  When
 * the hold ends the device is quiesced (VFIO_DEVICE_RESET where it has one,
 * and bus mastering off) while the RID still reaches the holder's pinned
 * pages, then detached, so the next holder finds it idle and blocked.
 */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "broker.h"
#include "internal.h"
#include "kabi.h"

bool broker_dev_rid_only(const struct sva_dev *dev)
{
	return !(dev->info.flags & SVA_DEV_MOCK) && dev->info.max_pasid_log2 == 0;
}

void broker_rid_open(struct broker *b, struct broker_client *c, struct broker_dev *d, struct sva_broker_msg *m,
		     int *fd)
{
	if (c->isolated)
		return broker_refuse(m, -EOPNOTSUPP,
				     "device %s has no PASIDs: only a trusted client can hold its RID (its device "
				     "file reaches every IOAS of the broker)",
				     d->conf->name);
	if (d->withdrawn)
		return broker_refuse(m, -EIO, "device %s was withdrawn: a detach of its RID failed (see the broker's log)",
				     d->conf->name);
	if (d->holder)
		return broker_refuse(m, -EBUSY,
				     "device %s has no PASIDs: one client at a time holds its RID, and pid %d "
				     "holds it",
				     d->conf->name, (int)d->holder->pid);
	*fd = fcntl(sva_dev_fd(d->dev), F_DUPFD_CLOEXEC, 0);
	if (*fd < 0)
		return broker_refuse(m, -errno, "device %s: duplicating its VFIO file: %s", d->conf->name,
				     strerror(errno));
	d->holder = c;
	broker_log(b, SVA_LOG_INFO, "device %s: client pid %d holds its RID", d->conf->name, (int)c->pid);
}

void broker_rid_attach(struct broker *b, struct broker_client *c, struct broker_dev *d, struct sva_broker_msg *m)
{
	int ret;

	(void)b;
	if (d->holder != c)
		return broker_refuse(m, -EPERM, "device %s: this client does not hold its RID", d->conf->name);
	if (m->arg[1] > UINT32_MAX || !broker_client_owns(c, (uint32_t)m->arg[1]))
		return broker_refuse(m, -EPERM, "HWPT %llu was not created by this client", (unsigned long long)m->arg[1]);
	pthread_mutex_lock(&d->dev->lock);
	ret = d->dev->be->attach(d->dev, (uint32_t)m->arg[1]);
	pthread_mutex_unlock(&d->dev->lock);
	if (ret)
		return broker_refuse(m, ret, "attaching the RID of device %s to HWPT %llu failed: %s", d->conf->name,
				     (unsigned long long)m->arg[1], strerror(-ret));
	d->rid_hwpt = (uint32_t)m->arg[1];
}

static int rid_detach(struct broker *b, struct broker_dev *d)
{
	int ret;

	pthread_mutex_lock(&d->dev->lock);
	ret = d->dev->be->detach(d->dev);
	pthread_mutex_unlock(&d->dev->lock);
	if (ret)
		broker_log(b, SVA_LOG_ERROR, "device %s: detaching its RID failed: %s", d->conf->name, strerror(-ret));
	else
		d->rid_hwpt = 0;
	return ret;
}

void broker_rid_detach(struct broker *b, struct broker_client *c, struct broker_dev *d, struct sva_broker_msg *m)
{
	int ret;

	if (d->holder != c || !d->rid_hwpt)
		return broker_refuse(m, -ENOENT, "the RID of device %s was not attached by this client", d->conf->name);
	ret = rid_detach(b, d);
	if (ret)
		broker_refuse(m, ret, "detaching the RID of device %s failed: %s", d->conf->name, strerror(-ret));
}

/*
 * Stop whatever the holder left the device doing: a reset where it has one,
 * then bus mastering off in any case, since VFIO_DEVICE_RESET restores the
 * command register it saved (pci_try_reset_function()), bus mastering
 * included: seen on edu behind a PCIe root port (vtd48-numa).
 */
static void quiesce(struct broker *b, struct broker_dev *d)
{
	struct kabi_vfio_region_info ri = { .argsz = sizeof(ri), .index = KABI_VFIO_PCI_CONFIG_REGION_INDEX };
	int fd = sva_dev_fd(d->dev);
	uint16_t cmd;

	if (ioctl(fd, KABI_VFIO_DEVICE_RESET) == 0)
		broker_log(b, SVA_LOG_INFO, "device %s: reset", d->conf->name);
	else
		broker_log(b, SVA_LOG_DEBUG, "device %s: no reset (%s)", d->conf->name, strerror(errno));
	if (ioctl(fd, KABI_VFIO_DEVICE_GET_REGION_INFO, &ri) || pread(fd, &cmd, 2, (off_t)ri.offset + 4) != 2)
		goto fail;
	cmd &= (uint16_t)~0x4u; /* PCI_COMMAND_MASTER */
	if (pwrite(fd, &cmd, 2, (off_t)ri.offset + 4) == 2)
		return;
fail:
	broker_log(b, SVA_LOG_ERROR, "device %s: cannot turn its bus mastering off: %s", d->conf->name,
		   strerror(errno));
}

int broker_rid_release(struct broker *b, struct broker_client *c, struct broker_dev *d, bool ended)
{
	int ret = 0;

	if (d->holder != c)
		return 0;
	if (d->rid_hwpt && !ended)
		return -EBUSY;
	if (d->rid_hwpt && d->conf->mm_exit[0])
		broker_mm_exit_run(b, d, SVA_PASID_RID, c->pid);
	if (d->rid_hwpt && b->mm_exit)
		b->mm_exit(b->mm_exit_arg, d, SVA_PASID_RID, c->pid);
	if (d->rid_hwpt && !d->conf->mm_exit[0] && !b->mm_exit)
		broker_log(b, SVA_LOG_INFO, "client pid %d: mm_exit of the RID of %s", (int)c->pid, d->conf->name);
	/* While the RID still reaches the holder's pages: DMA in flight lands there. */
	quiesce(b, d);
	if (d->rid_hwpt)
		ret = rid_detach(b, d);
	if (ret) {
		/* The RID may still reach the ended client's pages: nobody else gets it. */
		broker_log(b, SVA_LOG_ERROR, "device %s: withdrawn until the broker restarts", d->conf->name);
		d->withdrawn = true;
		d->holder = NULL;
		return ret;
	}
	d->holder = NULL;
	broker_log(b, SVA_LOG_INFO, "device %s: client pid %d released its RID", d->conf->name, (int)c->pid);
	return 0;
}
