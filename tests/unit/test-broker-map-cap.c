/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * sva-brokerd(8): "The broker records at most 262144 mappings a client; a
 * map beyond is refused with -ENOSPC."  Reaching 262144 real maps would cost
 * a VM run about 100 MB of kernel memory and minutes, so the broker's
 * isolated code (tools/broker/isolated.c and requests.c, built here) is
 * compiled with a cap of 256 (BROKER_MAX_MAPS, see local.mk) and driven
 * through broker_proxy() against a fake kernel that counts the mappings it
 * holds.  The refused map must leave the kernel, the broker's records and
 * the client's pinned bytes as they were, and an unmap gives the room back.
 */
#define _GNU_SOURCE /* memfd_create */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "sva/sva.h"
#include "../../tools/broker/broker.h"
#include "kabi.h"
#include "../tap.h"

#if BROKER_MAX_MAPS >= 262144
#error "built without the test's BROKER_MAX_MAPS (tests/unit/local.mk)"
#endif

/* ------------------------------------------------------ the fake kernel side */

static uint32_t next_id = 100;
static long kernel_maps; /* mappings the fake kernel holds now */

static bool fake_ioctl(unsigned long req, void *arg, int *rc)
{
	*rc = 0;
	if (req == KABI_IOMMU_OPTION || req == KABI_IOMMU_DESTROY)
		return true;
	if (req == KABI_IOMMU_IOAS_ALLOC) {
		((struct kabi_iommu_ioas_alloc *)arg)->out_ioas_id = next_id++;
		return true;
	}
	if (req == KABI_IOMMU_IOAS_MAP_FILE) {
		kernel_maps++;
		return true;
	}
	if (req == KABI_IOMMU_IOAS_UNMAP) {
		kernel_maps--;
		return true;
	}
	return false;
}
#include "fake_ioctl.h"

static void quiet(void *arg, enum sva_log_level level, const char *msg)
{
	(void)arg;
	(void)level;
	(void)msg;
}

/* server.c's, which this test does not build: the broker's log is not what
 * it checks. */
void broker_log(struct broker *br, enum sva_log_level level, const char *fmt, ...)
{
	(void)br;
	(void)level;
	(void)fmt;
}

static struct broker b;
static struct broker_client c;

/* One proxied request of the isolated client c; its reply's status. */
static int req(uint32_t op, const uint64_t *args, size_t n, int fd)
{
	struct sva_broker_msg m;

	sva_broker_msg_init(&m, op);
	for (size_t i = 0; i < n; i++)
		m.arg[i] = args[i];
	broker_proxy(&b, &c, &m, &fd);
	if (fd >= 0)
		close(fd);
	return m.status;
}

int main(void)
{
	const uint64_t pg = (uint64_t)sysconf(_SC_PAGESIZE), va = 0x40000000;
	const uint64_t len = (BROKER_MAX_MAPS + 1) * pg;
	const uint32_t rw = KABI_IOMMU_IOAS_MAP_FIXED_IOVA | KABI_IOMMU_IOAS_MAP_READABLE |
			    KABI_IOMMU_IOAS_MAP_WRITEABLE;
	struct sva_ctx_opts o = { .size = sizeof(o), .iommu_path = "/dev/null", .log_fn = quiet };
	uint64_t ioas;
	int fd, ret, refused = 0;

	plan(8);
	if (sva_ctx_new(&o, &b.ctx))
		tap_bail("sva_ctx_new on the fake iommufd failed");
	b.lsock = b.lock_fd = b.spare_fd = -1;
	c.isolated = c.hello = true;
	c.pid = getpid();

	ret = req(SVA_BOP_PX_IOAS_ALLOC, NULL, 0, -1);
	if (ret)
		tap_bail("PX_IOAS_ALLOC: %d", ret);
	ioas = c.objs[0];
	fd = memfd_create("map-cap", MFD_CLOEXEC);
	if (fd < 0 || ftruncate(fd, (off_t)len))
		tap_bail("memfd: %s", strerror(errno));
	{
		const uint64_t a[] = { 0, va, len };

		ret = req(SVA_BOP_PX_SHARE, a, 3, fd);
		if (ret)
			tap_bail("PX_SHARE: %d", ret);
	}

	/* One page a map: the cap counts mappings, not bytes. */
	for (uint64_t i = 0; i < BROKER_MAX_MAPS; i++) {
		const uint64_t a[] = { ioas, va + i * pg, pg, va + i * pg, rw };

		if (req(SVA_BOP_PX_IOAS_MAP, a, 5, -1))
			refused++;
	}
	is_int(refused, 0, "the first %d maps are taken", BROKER_MAX_MAPS);
	{
		const uint64_t a[] = { ioas, va + BROKER_MAX_MAPS * pg, pg, va + BROKER_MAX_MAPS * pg, rw };

		is_int(req(SVA_BOP_PX_IOAS_MAP, a, 5, -1), -ENOSPC, "map %d: -ENOSPC, as sva-brokerd(8) says",
		       BROKER_MAX_MAPS + 1);
		is_int(kernel_maps, BROKER_MAX_MAPS, "the refused map is not left in the kernel");
		is_int(c.nmaps, BROKER_MAX_MAPS, "nor in the broker's records");
		ok(c.mapped == BROKER_MAX_MAPS * pg, "nor counted under isolated-pin-max (%llu bytes)",
		   (unsigned long long)c.mapped);
	}
	{
		const uint64_t u[] = { ioas, va, pg };
		const uint64_t a[] = { ioas, va + BROKER_MAX_MAPS * pg, pg, va + BROKER_MAX_MAPS * pg, rw };

		is_int(req(SVA_BOP_PX_IOAS_UNMAP, u, 3, -1), 0, "an unmap of one mapping");
		is_int(req(SVA_BOP_PX_IOAS_MAP, a, 5, -1), 0, "gives its room to the next map");
		is_int(kernel_maps, BROKER_MAX_MAPS, "which the kernel holds");
	}
	broker_isolated_end(&c);
	free(c.objs);
	sva_ctx_free(b.ctx);
	return done_testing();
}
