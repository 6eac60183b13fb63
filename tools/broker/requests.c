/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * sva-brokerd's answers to requests, and a client's end.  Every refusal
 * carries its reason in the reply's text, which the client logs.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "broker.h"
#include "internal.h"

void broker_refuse(struct sva_broker_msg *m, int err, const char *fmt, ...)
{
	va_list ap;

	m->status = err;
	va_start(ap, fmt);
	vsnprintf(m->text, sizeof(m->text), fmt, ap);
	va_end(ap);
}

static bool allowed(const struct broker_dev_conf *d, const struct broker_client *c)
{
	for (size_t i = 0; i < d->nuids; i++)
		if (d->uids[i] == c->uid)
			return true;
	for (size_t i = 0; i < d->ngids; i++)
		for (size_t j = 0; j < c->ngids; j++)
			if (d->gids[i] == c->gids[j])
				return true;
	return false;
}

static struct broker_dev *dev_by_id(struct broker *b, const struct broker_client *c, uint64_t dev_id, size_t *idx)
{
	for (size_t i = 0; i < b->ndevs; i++)
		if (b->devs[i].dev_id == dev_id && c->opened[i]) {
			*idx = i;
			return &b->devs[i];
		}
	return NULL;
}

static void hello(struct broker *b, struct broker_client *c, struct sva_broker_msg *m, int *fd)
{
	bool any = false;
	int ret;

	if (c->hello)
		return broker_refuse(m, -EALREADY, "hello twice");
	for (size_t i = 0; i < b->ndevs; i++)
		any |= allowed(b->devs[i].conf, c);
	if (!any) {
		broker_log(b, SVA_LOG_WARN, "client pid %d: uid %u gid %u is not allowed on any device: refused",
			   (int)c->pid, (unsigned)c->uid, c->ngids ? (unsigned)c->gids[0] : 0u);
		return broker_refuse(m, -EACCES, "uid %u (gid %u) is in no device's allowlist of this broker", (unsigned)c->uid,
			      c->ngids ? (unsigned)c->gids[0] : 0u);
	}
	if (m->arg[0] != SVA_BROKER_TRUSTED && m->arg[0] != SVA_BROKER_ISOLATED)
		return broker_refuse(m, -EOPNOTSUPP, "unknown trust mode %llu", (unsigned long long)m->arg[0]);
	/* A trusted client holds the one iommufd every tenant's objects live in:
	 * one device that admits isolated clients only rules it out for all. */
	for (size_t i = 0; m->arg[0] == SVA_BROKER_TRUSTED && i < b->ndevs; i++)
		if (b->devs[i].conf->isolated_only)
			return broker_refuse(m, -EACCES,
					     "device %s admits isolated clients only (SVA_CTX_ISOLATED): a trusted "
					     "client would hold the iommufd its tenants share",
					     b->devs[i].conf->name);
	ret = sva_pasid_alloc(b->blocks, c, &c->block);
	if (ret)
		return broker_refuse(m, ret == -ENOSPC ? -ENOSPC : ret,
			      "no block of PASIDs left (%s): too many clients, or blocks in quarantine",
			      strerror(-ret));
	c->hello = true;
	c->isolated = m->arg[0] == SVA_BROKER_ISOLATED;
	c->pasid_min = b->conf.pasid_min + (c->block - 1) * b->conf.pasids_per_client; /* blocks count from 1 */
	c->pasid_max = c->pasid_min + b->conf.pasids_per_client - 1;
	m->arg[0] = c->pasid_min;
	m->arg[1] = c->pasid_max;
	/* Only a trusted client gets the iommufd. */
	*fd = c->isolated ? -1 : sva_ctx_fd(b->ctx);
	broker_log(b, SVA_LOG_INFO, "client pid %d uid %u: %s, PASIDs [%u, %u]", (int)c->pid, (unsigned)c->uid,
		   c->isolated ? "isolated" : "trusted", c->pasid_min, c->pasid_max);
}

/* The client's block of device i's own PASIDs, leased at its open, as
 * SVA_BOP_OPEN's arg5 says it. */
static uint64_t own_lease(struct broker *b, struct broker_client *c, size_t i)
{
	struct broker_dev *d = &b->devs[i];
	struct broker_own *o = &c->own[i];

	if (!d->own)
		return 0;
	if (!o->held) {
		if (sva_pasid_alloc(d->own, c, &o->block)) {
			broker_log(b, SVA_LOG_INFO, "client pid %d: no block of device %s's own PASIDs left",
				   (int)c->pid, d->conf->name);
			return SVA_BROKER_OWN_FULL;
		}
		o->held = true;
		o->min = 1 + (o->block - 1) * d->own_size; /* blocks count from 1 */
		o->max = o->min + d->own_size - 1;
		broker_log(b, SVA_LOG_INFO, "client pid %d: device %s's own PASIDs [%u, %u]", (int)c->pid,
			   d->conf->name, o->min, o->max);
	}
	return SVA_BROKER_OWN(o->min, o->max);
}

/* Back to the device's blocks, quarantined for the grace (grace-ms), or for
 * good when a PASID of it may still reach the client's pages (retire). */
static void own_return(struct broker *b, struct broker_client *c, size_t i, bool retire)
{
	struct broker_own *o = &c->own[i];

	if (!o->held)
		return;
	if (retire)
		broker_log(b, SVA_LOG_ERROR, "client pid %d: device %s's own PASIDs [%u, %u] retired: a detach failed",
			   (int)c->pid, b->devs[i].conf->name, o->min, o->max);
	else if (sva_pasid_free(b->devs[i].own, o->block) == 0)
		sva_pasid_release(b->devs[i].own, o->block);
	o->held = false;
}

static void open_dev(struct broker *b, struct broker_client *c, struct sva_broker_msg *m, const char *name, int *fd)
{
	for (size_t i = 0; i < b->ndevs; i++) {
		struct broker_dev *d = &b->devs[i];

		if (strcmp(d->conf->name, name))
			continue;
		if (!allowed(d->conf, c))
			return broker_refuse(m, -EACCES, "uid %u may not use device %s", (unsigned)c->uid, d->conf->name);
		/* As a VFIO cdev opens once: two opens would share one block of own
		 * PASIDs, which the first close would take from the second. */
		if (c->opened[i])
			return broker_refuse(m, -EBUSY, "device %s is open in this client already", d->conf->name);
		if (d->rid_only && (broker_rid_open(b, c, d, m, fd), m->status))
			return;
		c->opened[i] = true;
		snprintf(m->text, sizeof(m->text), "%s", d->dev->info.pci_addr);
		m->arg[5] = own_lease(b, c, i);
		m->arg[0] = d->dev_id;
		m->arg[1] = d->flags;
		m->arg[2] = d->stdev_id;
		m->arg[3] = d->park_ioas;
		m->arg[4] = d->park_hwpt;
		return;
	}
	broker_refuse(m, -ENOENT, "no device named '%.64s' in this broker's configuration", name);
}

static int detach(struct broker *b, struct broker_dev *d, uint32_t pasid)
{
	int ret;

	pthread_mutex_lock(&d->dev->lock);
	ret = d->dev->be->pasid_detach(d->dev, pasid);
	pthread_mutex_unlock(&d->dev->lock);
	if (ret)
		broker_log(b, SVA_LOG_ERROR, "device %s: detaching PASID %u failed: %s", d->conf->name, pasid,
			   strerror(-ret));
	return ret;
}

bool broker_client_owns(const struct broker_client *c, uint32_t id)
{
	for (size_t i = 0; i < c->nobjs; i++)
		if (c->objs[i] == id)
			return true;
	return false;
}

static void attach(struct broker *b, struct broker_client *c, struct sva_broker_msg *m)
{
	struct broker_dev *d;
	size_t idx;
	int ret;

	if (!(d = dev_by_id(b, c, m->arg[0], &idx)))
		return broker_refuse(m, -ENODEV, "device %llu is not open in this client", (unsigned long long)m->arg[0]);
	if ((m->arg[1] < c->pasid_min || m->arg[1] > c->pasid_max) &&
	    (!c->own[idx].held || m->arg[1] < c->own[idx].min || m->arg[1] > c->own[idx].max)) {
		if (!c->own[idx].held)
			return broker_refuse(m, -EPERM, "PASID %llu is not in this client's block [%u, %u]",
					     (unsigned long long)m->arg[1], c->pasid_min, c->pasid_max);
		return broker_refuse(m, -EPERM,
				     "PASID %llu is not in this client's block [%u, %u] nor in its block [%u, %u] "
				     "of %s's own",
				     (unsigned long long)m->arg[1], c->pasid_min, c->pasid_max, c->own[idx].min,
				     c->own[idx].max, d->conf->name);
	}
	if (m->arg[2] > UINT32_MAX)
		return broker_refuse(m, -EINVAL, "object ids beyond 32 bits");
	if (c->natt == BROKER_MAX_ATTACH)
		return broker_refuse(m, -ENOSPC, "more than %d PASIDs attached for one client", BROKER_MAX_ATTACH);
	if (d->rid_only)
		/* The kernel would take it and do nothing: max_pasids 0 skips set_dev_pasid. */
		return broker_refuse(m, -EOPNOTSUPP, "device %s has no PASIDs: bind its RID (SVA_BIND_RID)",
				     d->conf->name);
	if (!broker_client_owns(c, (uint32_t)m->arg[2]))
		return broker_refuse(m, -EPERM, "HWPT %llu was not created by this client", (unsigned long long)m->arg[2]);
	pthread_mutex_lock(&d->dev->lock);
	ret = d->dev->be->pasid_attach(d->dev, (uint32_t)m->arg[1], (uint32_t)m->arg[2]);
	pthread_mutex_unlock(&d->dev->lock);
	if (ret)
		return broker_refuse(m, ret, "attaching PASID %llu of device %s to HWPT %llu failed: %s",
			      (unsigned long long)m->arg[1], d->conf->name, (unsigned long long)m->arg[2],
			      strerror(-ret));
	c->att[c->natt++] = (struct broker_att){ .dev_id = d->dev_id, .pasid = (uint32_t)m->arg[1],
						 .hwpt = (uint32_t)m->arg[2] };
}

static void detach_req(struct broker *b, struct broker_client *c, struct sva_broker_msg *m)
{
	struct broker_dev *d;
	size_t idx;
	int ret;

	if (!(d = dev_by_id(b, c, m->arg[0], &idx)))
		return broker_refuse(m, -ENODEV, "device %llu is not open in this client", (unsigned long long)m->arg[0]);
	for (size_t i = 0; i < c->natt; i++) {
		if (c->att[i].dev_id != d->dev_id || c->att[i].pasid != m->arg[1])
			continue;
		ret = detach(b, d, c->att[i].pasid);
		if (ret)
			/* Kept: the end of the client retries it. */
			return broker_refuse(m, ret, "detaching PASID %u failed: %s", c->att[i].pasid, strerror(-ret));
		c->att[i] = c->att[--c->natt];
		return;
	}
	broker_refuse(m, -ENOENT, "PASID %llu of device %s was not attached by this client", (unsigned long long)m->arg[1],
	       d->conf->name);
}

static void close_dev(struct broker *b, struct broker_client *c, struct sva_broker_msg *m)
{
	struct broker_dev *d;
	size_t idx;

	if (!(d = dev_by_id(b, c, m->arg[0], &idx)))
		return broker_refuse(m, -ENODEV, "device %llu is not open in this client", (unsigned long long)m->arg[0]);
	for (size_t i = 0; i < c->natt; i++)
		if (c->att[i].dev_id == d->dev_id)
			return broker_refuse(m, -EBUSY, "PASID %u is still attached on device %s", c->att[i].pasid,
				      d->conf->name);
	if (d->rid_only && broker_rid_release(b, c, d, false) == -EBUSY)
		return broker_refuse(m, -EBUSY, "the RID of device %s is still attached", d->conf->name);
	c->opened[idx] = false;
	own_return(b, c, idx, false);
}

/* SVA_BOP_RID_ATTACH, SVA_BOP_RID_DETACH: the device this client holds (rid.c). */
static void rid_req(struct broker *b, struct broker_client *c, struct sva_broker_msg *m)
{
	struct broker_dev *d;
	size_t idx;

	if (!(d = dev_by_id(b, c, m->arg[0], &idx)))
		return broker_refuse(m, -ENODEV, "device %llu is not open in this client", (unsigned long long)m->arg[0]);
	if (!d->rid_only)
		return broker_refuse(m, -EOPNOTSUPP, "device %s has PASIDs: its RID stays the broker's (bind a PASID)",
				     d->conf->name);
	if (m->op == SVA_BOP_RID_ATTACH)
		broker_rid_attach(b, c, d, m);
	else
		broker_rid_detach(b, c, d, m);
}

/* Is id one of the broker's own objects (a device's parking)? */
static bool broker_owns(const struct broker *b, uint32_t id)
{
	for (size_t i = 0; i < b->ndevs; i++)
		if (id == b->devs[i].park_ioas || id == b->devs[i].park_hwpt || id == b->devs[i].dev_id ||
		    id == b->devs[i].stdev_id)
			return true;
	return false;
}

/* SVA_BOP_REGISTER / UNREGISTER: one-way, no reply. */
void broker_note_object(struct broker *b, struct broker_client *c, const struct sva_broker_msg *m)
{
	uint32_t id = (uint32_t)m->arg[0];

	if (m->arg[0] > UINT32_MAX || !id || broker_owns(b, id))
		return;
	if (m->op == SVA_BOP_UNREGISTER) {
		for (size_t i = c->nobjs; i-- > 0;)
			if (c->objs[i] == id) {
				memmove(&c->objs[i], &c->objs[i + 1], (c->nobjs - i - 1) * sizeof(*c->objs));
				c->nobjs--;
				return;
			}
		return;
	}
	/* A repeat takes no second slot, and is not destroyed twice at the
	 * client's end (the second time another client's object by then). */
	for (size_t i = c->nobjs; i-- > 0;)
		if (c->objs[i] == id)
			return;
	if (c->nobjs == c->cap_objs) {
		size_t cap = c->cap_objs ? 2 * c->cap_objs : 16;
		uint32_t *grown = cap <= BROKER_MAX_OBJECTS ? realloc(c->objs, cap * sizeof(*grown)) : NULL;

		if (!grown) {
			if (!c->objs_overflow)
				broker_log(b, SVA_LOG_WARN,
					   c->isolated ? "client pid %d: more than %zu iommufd objects: the next are refused"
						       : "client pid %d: more than %zu iommufd objects: the rest stay if it dies",
					   (int)c->pid, c->nobjs);
			c->objs_overflow = true;
			return;
		}
		c->objs = grown;
		c->cap_objs = cap;
	}
	c->objs[c->nobjs++] = id;
}

void broker_handle(struct broker *b, struct broker_client *c, struct sva_broker_msg *m, int in_fd)
{
	char name[SVA_BROKER_TEXT];
	int fd = -1;

	/* One-way; an isolated client's objects are the broker's to track. */
	if (m->op == SVA_BOP_REGISTER || m->op == SVA_BOP_UNREGISTER) {
		if (in_fd >= 0)
			close(in_fd);
		if (c->hello && !c->isolated)
			broker_note_object(b, c, m);
		return;
	}

	/* The reply reuses the request; its text becomes the refusal's reason. */
	memcpy(name, m->text, sizeof(name));
	m->status = 0;
	m->text[0] = '\0';
	if (m->op != SVA_BOP_HELLO && !c->hello)
		broker_refuse(m, -EPROTO, "%s before hello", sva_broker_op_name(m->op));
	else if (m->op == SVA_BOP_HELLO)
		hello(b, c, m, &fd);
	else if (m->op == SVA_BOP_OPEN)
		open_dev(b, c, m, name, &fd);
	else if (m->op == SVA_BOP_CLOSE)
		close_dev(b, c, m);
	else if (m->op == SVA_BOP_ATTACH)
		attach(b, c, m);
	else if (m->op == SVA_BOP_DETACH)
		detach_req(b, c, m);
	else if (m->op == SVA_BOP_RID_ATTACH || m->op == SVA_BOP_RID_DETACH)
		rid_req(b, c, m);
	else if (m->op >= SVA_BOP_PX_IOAS_ALLOC && m->op <= SVA_BOP_PX_UNSHARE) {
		broker_proxy(b, c, m, &in_fd);
		fd = in_fd;
		in_fd = -1;
	} else
		broker_refuse(m, -EOPNOTSUPP, "unknown request %u", m->op);
	if (m->status)
		broker_log(b, SVA_LOG_DEBUG, "client pid %d: %s refused: %s", (int)c->pid, sva_broker_op_name(m->op),
			   m->text);
	if (in_fd >= 0)
		close(in_fd);
	sva_broker_send(c->sock, m, m->status ? -1 : fd);
	/* A descriptor made for the client (its fault queue, a device's
	 * duplicate) is the client's now. */
	if (fd >= 0 && fd != sva_ctx_fd(b->ctx))
		close(fd);
}

/* Destroy what the client left in the iommufd, newest first; objects that
 * others hold (an IOAS under a HWPT) go in a later pass, once those have. */
static void destroy_objects(struct broker *b, struct broker_client *c)
{
	size_t before;

	do {
		before = c->nobjs;
		for (size_t i = c->nobjs; i-- > 0;) {
			/* -ENOENT: gone already (a hostile client's made-up id); kept,
			 * its retries could destroy that id once the kernel reuses it
			 * for another client's object. */
			int ret = sva_iommufd_destroy(sva_ctx_fd(b->ctx), c->objs[i]);

			if (ret && ret != -ENOENT)
				continue;
			memmove(&c->objs[i], &c->objs[i + 1], (c->nobjs - i - 1) * sizeof(*c->objs));
			c->nobjs--;
		}
	} while (c->nobjs && c->nobjs < before);
	if (c->nobjs) {
		struct broker_grave *g = realloc(b->grave, (b->ngrave + c->nobjs) * sizeof(*g));

		if (g) {
			b->grave = g;
			for (size_t i = c->nobjs; i-- > 0;)
				b->grave[b->ngrave++] = (struct broker_grave){ .id = c->objs[i], .pid = c->pid,
										.since_ns = sva_now_ns() };
		} else {
			broker_log(b, SVA_LOG_WARN, "client pid %d: %zu of its iommufd objects stay (out of memory)",
				   (int)c->pid, c->nobjs);
		}
	}
	free(c->objs);
	c->objs = NULL;
	c->nobjs = c->cap_objs = 0;
}

void broker_reap(struct broker *b, bool final)
{
	uint64_t now = sva_now_ns();

	for (size_t i = b->ngrave; i-- > 0;) {
		struct broker_grave *g = &b->grave[i];
		int ret = sva_iommufd_destroy(sva_ctx_fd(b->ctx), g->id);

		if (ret == -ENOENT) /* gone: destroyed by a holder, as destroy_objects() says */
			ret = 0;
		if (ret && !final && now - g->since_ns < BROKER_GRAVE_NS)
			continue;
		if (ret)
			broker_log(b, SVA_LOG_WARN, "client pid %d: its iommufd object %u could not be destroyed: %s",
				   (int)g->pid, g->id, strerror(-ret));
		*g = b->grave[--b->ngrave];
	}
	if (!b->ngrave) {
		free(b->grave);
		b->grave = NULL;
	}
}

void broker_client_end(struct broker *b, struct broker_client *c)
{
	bool retire = false, cleaned = false, retire_own[BROKER_MAX_DEVS] = { false };

	if (!c->hello)
		return;
	if (c->natt)
		broker_log(b, SVA_LOG_WARN, "client pid %d ended with %zu PASID%s attached: mm_exit, detach, quarantine",
			   (int)c->pid, c->natt, c->natt == 1 ? "" : "s");
	for (size_t i = 0; i < c->natt; i++) {
		struct broker_dev *d = NULL;
		size_t k;
		uint32_t pasid = c->att[i].pasid;

		for (k = 0; k < b->ndevs && !d; k++)
			if (b->devs[k].dev_id == c->att[i].dev_id)
				d = &b->devs[k];
		if (!d)
			continue;
		k--;
		/* The drain comes before the detach: the device may still be at work under the PASID. */
		if (d->conf->mm_exit[0])
			broker_mm_exit_run(b, d, pasid, c->pid);
		if (b->mm_exit)
			b->mm_exit(b->mm_exit_arg, d, pasid, c->pid);
		if (!d->conf->mm_exit[0] && !b->mm_exit)
			broker_log(b, SVA_LOG_INFO, "client pid %d: mm_exit of PASID %u on %s", (int)c->pid, pasid,
				   d->conf->name);
		/* A PASID that may still reach the client's pages never goes to another client. */
		if (detach(b, d, pasid) == 0)
			continue;
		if (pasid >= c->pasid_min && pasid <= c->pasid_max)
			retire = true;
		else
			retire_own[k] = true;
	}
	for (size_t k = 0; k < b->ndevs; k++) {
		struct broker_dev *d = &b->devs[k];

		if (d->holder != c)
			continue;
		if (d->rid_hwpt) {
			broker_log(b, SVA_LOG_WARN, "client pid %d ended holding the RID of %s: mm_exit, quiesce, detach",
				   (int)c->pid, d->conf->name);
			cleaned = true;
		}
		broker_rid_release(b, c, d, true);
	}
	for (size_t k = 0; k < b->ndevs; k++)
		own_return(b, c, k, retire_own[k]);
	if (c->natt || cleaned)
		b->clients_cleaned++;
	/* Only now, detached: the objects go, and the pages they pinned. */
	destroy_objects(b, c);
	/* Its memfds go with the mappings that used them. */
	broker_isolated_end(c);
	c->natt = 0;
	if (retire) {
		broker_log(b, SVA_LOG_ERROR, "client pid %d: PASIDs [%u, %u] retired: a detach failed", (int)c->pid,
			   c->pasid_min, c->pasid_max);
	} else if (sva_pasid_free(b->blocks, c->block) == 0) {
		/* Detached: the grace (grace-ms) starts now. */
		sva_pasid_release(b->blocks, c->block);
	}
	c->hello = false;
}
