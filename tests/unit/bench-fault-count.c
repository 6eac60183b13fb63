/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The fault engine's own work per random single-page fault, without a
 * kernel, for instruction counts (valgrind --tool=callgrind): a context,
 * device, bond and address space built by hand, a fake fault queue (the
 * engine's read hook) handing out one record per batch, answers written to
 * /dev/null, and ioctl() answering IOMMU_IOAS_MAP and the IOVA window.  The
 * path is sva_ctx_process_faults(ctx, 1), as bench-fault's random figure
 * runs it.  Not a test: `bench-fault-count [N]` faults N random pages of a
 * 64 MiB buffer (default 4096) and prints the maps made.  Per fault:
 *   valgrind --tool=callgrind --toggle-collect=sva_ctx_process_faults \
 *     --callgrind-out-file=/dev/null tests/unit/bench-fault-count N
 * for N = 4096 and 8192, the difference of the two totals over 4096 (the
 * first fault reads the mappings once; the chunk table grows as it would).
 * No system call is made per fault but the answer's write() (strace -c).
 * What it cannot show: under emulation (the VM's TCG) a fault's cost is
 * more the lines it touches after the kernel's map path than its
 * instructions (docs/design.md, "Fault figures").
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "internal.h"
#include "kabi.h"

static unsigned long maps;

static bool fake_ioctl(unsigned long req, void *arg, int *rc)
{
	*rc = 0;
	if (req == KABI_IOMMU_IOAS_MAP) {
		maps++;
	} else if (req == KABI_IOMMU_IOAS_IOVA_RANGES) {
		struct kabi_iommu_ioas_iova_ranges *c = arg;
		struct kabi_iommu_iova_range *r = (void *)(uintptr_t)c->allowed_iovas;

		if (c->num_iovas >= 1) {
			r[0].start = 0;
			r[0].last = (1ull << 47) - 1;
		}
		c->num_iovas = 1;
		c->out_iova_alignment = 4096;
	} else if (req != KABI_IOMMU_IOAS_UNMAP) {
		return false;
	}
	return true;
}
#include "fake_ioctl.h"

extern ssize_t (*sva_test_fault_read)(int fd, void *buf, size_t len);

#define DEV_ID 7
#define NPAGES (64u << 8) /* 64 MiB */

static uint64_t next_addr;
static unsigned next_cookie;

static ssize_t one_record(int fd, void *buf, size_t len)
{
	struct kabi_iommu_hwpt_pgfault *r = buf;

	(void)fd;
	if (len < sizeof(*r))
		return 0;
	memset(r, 0, sizeof(*r));
	r->flags = KABI_IOMMU_PGFAULT_FLAGS_LAST_PAGE;
	r->dev_id = DEV_ID;
	r->perm = KABI_IOMMU_PGFAULT_PERM_READ | KABI_IOMMU_PGFAULT_PERM_WRITE;
	r->addr = next_addr;
	r->cookie = next_cookie++;
	return sizeof(*r);
}

static void quiet(void *arg, enum sva_log_level level, const char *msg)
{
	(void)arg;
	(void)level;
	(void)msg;
}

int main(int argc, char **argv)
{
	unsigned n = argc > 1 ? (unsigned)strtoul(argv[1], NULL, 0) : 4096;
	static struct sva_ctx ctx;
	static struct sva_dev dev;
	static struct sva_mm mm;
	static struct sva_bond bond;
	uint32_t *order = malloc(NPAGES * sizeof(*order));
	char *buf = mmap(NULL, NPAGES * 4096ull, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (!order || buf == MAP_FAILED)
		return 1;
	sva_ctx_init_core(&ctx);
	sva_log_init(&ctx.log, quiet, NULL, SVA_LOG_DEBUG);
	ctx.fe.fault_fd = open("/dev/null", O_WRONLY | O_CLOEXEC);
	ctx.fe.poll_mode = true;
	if (ctx.fe.fault_fd < 0 || sva_fault_bufs_alloc(&ctx.fe))
		return 1;
	dev.ctx = &ctx;
	dev.info.dev_id = DEV_ID;
	snprintf(dev.label, sizeof(dev.label), "bench");
	ctx.devs = &dev;
	mm.ctx = &ctx;
	mm.flags = SVA_MM_UNTRACKED;
	mm.maps_fd = open("/proc/self/maps", O_RDONLY | O_CLOEXEC);
	mm.fa_cap = SVA_FAULT_AROUND_DEFAULT;
	pthread_mutex_init(&mm.lock, NULL);
	pthread_mutex_init(&mm.map_lock, NULL);
	bond.mm = &mm;
	bond.pasid = SVA_PASID_RID;
	atomic_store(&dev.rid_bond, &bond);
	sva_test_fault_read = one_record;

	srand(1);
	for (unsigned i = 0; i < NPAGES; i++)
		order[i] = i;
	for (unsigned i = NPAGES - 1; i > 0; i--) {
		unsigned j = (unsigned)rand() % (i + 1), t = order[i];

		order[i] = order[j];
		order[j] = t;
	}
	for (unsigned i = 0; i < n && i < NPAGES; i++) {
		next_addr = (uint64_t)(uintptr_t)buf + order[i] * 4096ull;
		if (sva_ctx_process_faults(&ctx, 1) != 1)
			return 2;
	}
	printf("%u faults, %lu maps, %llu pages mapped, %llu faults counted\n", n, maps,
	       (unsigned long long)atomic_load(&bond.pages_mapped), (unsigned long long)atomic_load(&bond.faults));
	return 0;
}
