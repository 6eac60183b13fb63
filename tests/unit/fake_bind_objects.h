/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * A context, devices and address spaces put together by hand around a fake
 * backend, for the unit tests of the bind path (test-bind-pasid,
 * test-bind-contract): what sva_ctx_new(), sva_dev_open() and sva_mm_new()
 * would set up, minus the kernel.  The including test supplies the backend,
 * the log callback and the object ids (fake_noop_* for the steps it does not
 * hook).
 */
#ifndef SVA_TESTS_FAKE_BIND_OBJECTS_H
#define SVA_TESTS_FAKE_BIND_OBJECTS_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "kabi.h"
#include "pasid_space.h"
#include "../tap.h"

static inline void fake_ctx_init(struct sva_ctx *c, sva_log_fn log_fn, uint64_t grace_ns)
{
	memset(c, 0, sizeof(*c));
	sva_ctx_init_core(c);
	sva_log_init(&c->log, log_fn, NULL, SVA_LOG_DEBUG);
	c->pasid_grace_ns = grace_ns;
	if (sva_ctx_pasids_init(c))
		tap_bail("sva_ctx_pasids_init failed");
}

static inline void fake_dev_init(struct sva_dev *d, struct sva_ctx *c, const struct sva_dev_backend *be,
				 uint32_t dev_id, uint32_t width, const char *name)
{
	memset(d, 0, sizeof(*d));
	d->ctx = c;
	d->fd = -1;
	d->be = be;
	d->info.size = sizeof(d->info);
	d->info.max_pasid_log2 = width;
	d->info.dev_id = dev_id;
	snprintf(d->info.path, sizeof(d->info.path), "%s", name);
	pthread_mutex_init(&d->lock, NULL);
	if (sva_dev_pasids_init(d))
		tap_bail("sva_dev_pasids_init(%s) failed", name);
}

static inline void fake_mm_init(struct sva_mm *m, struct sva_ctx *c, uint32_t ioas_id)
{
	memset(m, 0, sizeof(*m));
	m->ctx = c;
	m->ioas_id = ioas_id;
	m->maps_fd = -1;
	pthread_mutex_init(&m->lock, NULL);
	pthread_mutex_init(&m->map_lock, NULL);
}

/* For a test's fake_ioctl() (fake_ioctl.h): the kernel's HWPT and IOAS
 * objects, each allocation given the next id of *next, a destroy or an unmap
 * done; true if req was one of them (*rc is then 0). */
static inline bool fake_objects_ioctl(unsigned long req, void *arg, int *rc, atomic_uint *next)
{
	*rc = 0;
	if (req == KABI_IOMMU_HWPT_ALLOC)
		((struct kabi_iommu_hwpt_alloc *)arg)->out_hwpt_id = atomic_fetch_add(next, 1);
	else if (req == KABI_IOMMU_IOAS_ALLOC)
		((struct kabi_iommu_ioas_alloc *)arg)->out_ioas_id = atomic_fetch_add(next, 1);
	else if (req != KABI_IOMMU_DESTROY && req != KABI_IOMMU_IOAS_UNMAP)
		return false;
	return true;
}

/* A backend's steps that succeed and do nothing, for the tests whose fake
 * device needs no hook in that step. */
static inline int fake_noop_attach(struct sva_dev *d, uint32_t pt)
{
	(void)d;
	(void)pt;
	return 0;
}

static inline int fake_noop_detach(struct sva_dev *d)
{
	(void)d;
	return 0;
}

static inline int fake_noop_pasid_attach(struct sva_dev *d, uint32_t pasid, uint32_t pt)
{
	(void)d;
	(void)pasid;
	(void)pt;
	return 0;
}

static inline int fake_noop_pasid_detach(struct sva_dev *d, uint32_t pasid)
{
	(void)d;
	(void)pasid;
	return 0;
}

static inline void fake_noop_close(struct sva_dev *d)
{
	(void)d;
}

static inline struct sva_pasid_stats fake_pasid_stats(struct sva_pasid_space *s)
{
	struct sva_pasid_stats st = { .size = sizeof(st) };

	sva_pasid_stats(s, &st);
	return st;
}

static inline bool fake_same_counts(struct sva_pasid_stats a, struct sva_pasid_stats b)
{
	return a.allocated == b.allocated && a.quarantined == b.quarantined && a.free == b.free;
}

#endif
