/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * QEMU's edu device behind an emulated Intel VT-d, through VFIO cdev and libsva:
 * open by path and by PCI address, hw info, NUMA node, the IOVA window, the PASID
 * error, and real DMA at IOVA == VA, including DMA to and from memory that was
 * never made visible, which must not land.
 */
#include <time.h>

#include "ktest.h"
#include "kabi.h"

#define EDU_VENDOR 0x1234
#define EDU_DEVICE 0x11e8
#define EDU_ID 0x00
#define EDU_DMA_SRC 0x80
#define EDU_DMA_DST 0x88
#define EDU_DMA_CNT 0x90
#define EDU_DMA_CMD 0x98
#define EDU_CMD_START 1u
#define EDU_CMD_TO_RAM 2u
#define EDU_DEV_BUF 0x40000u
#define DMA_LEN 1024u	    /* QEMU 7.2's edu rejects 4096-byte transfers */
#define BUF_VA 0x8000000ull /* 128 MiB: under edu's 28-bit DMA mask */
#define PG 4096u

struct edu {
	struct sva_dev *dev;
	volatile uint8_t *bar;
	size_t bar_len;
};

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static int region(struct sva_dev *dev, uint32_t index, struct kabi_vfio_region_info *ri)
{
	*ri = (struct kabi_vfio_region_info){ .argsz = sizeof(*ri), .index = index };
	return ioctl(sva_dev_fd(dev), KABI_VFIO_DEVICE_GET_REGION_INFO, ri) ? -errno : 0;
}

static int edu_setup(struct edu *e)
{
	struct kabi_vfio_region_info ri;
	uint16_t cmd;
	void *p;

	if (region(e->dev, KABI_VFIO_PCI_BAR0_REGION_INDEX, &ri) || !(ri.flags & KABI_VFIO_REGION_INFO_FLAG_MMAP))
		return -ENODEV;
	p = mmap(NULL, ri.size, PROT_READ | PROT_WRITE, MAP_SHARED, sva_dev_fd(e->dev), (off_t)ri.offset);
	if (p == MAP_FAILED)
		return -errno;
	e->bar = p;
	e->bar_len = ri.size;
	/* Bus master on, or the device's DMA never leaves it. */
	if (region(e->dev, KABI_VFIO_PCI_CONFIG_REGION_INDEX, &ri))
		return -ENODEV;
	if (pread(sva_dev_fd(e->dev), &cmd, 2, (off_t)ri.offset + 4) != 2)
		return -EIO;
	cmd |= 0x4;
	if (pwrite(sva_dev_fd(e->dev), &cmd, 2, (off_t)ri.offset + 4) != 2)
		return -EIO;
	return 0;
}

static uint32_t rd32(struct edu *e, unsigned off)
{
	return *(volatile uint32_t *)(volatile void *)(e->bar + off);
}

static void wr64(struct edu *e, unsigned off, uint64_t v)
{
	*(volatile uint64_t *)(volatile void *)(e->bar + off) = v;
}

/* One DMA; edu finishes after ~100 ms of virtual time, so poll its command register. */
static int edu_dma(struct edu *e, uint64_t src, uint64_t dst, uint32_t len, int to_ram)
{
	uint64_t deadline = now_ns() + 10ull * 1000000000ull;

	wr64(e, EDU_DMA_SRC, src);
	wr64(e, EDU_DMA_DST, dst);
	wr64(e, EDU_DMA_CNT, len);
	wr64(e, EDU_DMA_CMD, EDU_CMD_START | (to_ram ? EDU_CMD_TO_RAM : 0));
	while (rd32(e, EDU_DMA_CMD) & EDU_CMD_START) {
		if (now_ns() > deadline)
			return -ETIMEDOUT;
		usleep(1000);
	}
	return 0;
}

static void open_checks(struct sva_ctx *ctx, const char *pci)
{
	struct sva_dev_info info = { .size = sizeof(info) };
	struct sva_dev *dev, *again;

	if (!is_int(sva_dev_open(ctx, "/dev/vfio/devices/vfio0", &dev), 0, "open edu by cdev path"))
		return;
	sva_dev_get_info(dev, &info);
	ok(strcmp(info.pci_addr, pci) == 0, "the cdev resolves to PCI address %s (got %s)", pci, info.pci_addr);
	ok(strcmp(info.path, "/dev/vfio/devices/vfio0") == 0, "info.path is the cdev path");
	is_int(sva_dev_open(ctx, pci, &again), -EBUSY, "a second open of the same device: -EBUSY");
	sva_dev_close(dev);
	is_int(sva_dev_open(ctx, "vfio0", &dev), 0, "open edu by cdev name");
	sva_dev_close(dev);
}

static void info_checks(struct sva_dev *dev, const char *pci)
{
	struct sva_dev_info info = { .size = sizeof(info) };
	const char *topo = ktest_topology();

	is_int(sva_dev_get_info(dev, &info), 0, "sva_dev_get_info");
	is_int(info.iommu_type, SVA_IOMMU_INTEL_VTD, "IOMMU type is Intel VT-d");
	is_int(info.max_pasid_log2, 0, "edu has no PASID (width 0)");
	ok(info.flags & SVA_DEV_PCI, "a PCI device");
	ok(strcmp(info.pci_addr, pci) == 0, "PCI address %s", info.pci_addr);
	ok(sva_dev_pasids(dev) == NULL, "no PASID space of its own");
	if (strcmp(topo, "vtd48-numa") == 0)
		is_int(info.numa_node, 1, "edu sits on NUMA node 1 behind the pxb-pcie");
	else
		ok(info.numa_node <= 0, "single-node topology: NUMA node %d", info.numa_node);
}

static void window_checks(struct sva_dev *dev, struct sva_mm *mm)
{
	const char *topo = ktest_topology();
	uint64_t want_last = strcmp(topo, "vtd48-numa") == 0 ? (1ull << 48) - 1 : (1ull << 39) - 1;
	struct sva_bind_opts po = { .size = sizeof(po), .flags = SVA_BIND_PINNED };
	struct sva_iova_range r[16];
	struct sva_bond *bond;
	size_t nr = 16;
	int msi_hole = 1;

	is_int(sva_dev_iova_ranges(dev, r, &nr), 0, "IOVA ranges after the RID attach");
	ok(nr >= 2, "more than one range (holes) (%zu)", nr);
	is_int(r[nr - 1].last, want_last, "the window ends at 2^%d - 1 (%s)", want_last == (1ull << 48) - 1 ? 48 : 39,
	       topo);
	for (size_t i = 0; i < nr; i++) {
		diag("range %zu: 0x%llx-0x%llx", i, (unsigned long long)r[i].start, (unsigned long long)r[i].last);
		if (r[i].start <= 0xfee00000ull && r[i].last >= 0xfeefffffull)
			msi_hole = 0;
	}
	ok(msi_hole, "the MSI window 0xfee00000-0xfeefffff is a hole");
	is_int(sva_bind(dev, mm, &po, &bond), -EOPNOTSUPP, "PASID bind on edu: -EOPNOTSUPP (no PASID support)");
	ok(dev->be->pasid_attach(dev, 1, dev->rid_pt) < 0, "the kernel refuses a PASID attach on edu too");
}

static void dma_checks(struct sva_dev *dev, struct sva_mm *mm)
{
	struct edu e = { .dev = dev };
	uint8_t *src = ktest_map_at(BUF_VA, PG, PROT_READ | PROT_WRITE);
	uint8_t *dst = ktest_map_at(BUF_VA + PG, PG, PROT_READ | PROT_WRITE);
	uint8_t *hidden = ktest_map_at(BUF_VA + 2 * PG, PG, PROT_READ | PROT_WRITE);
	uint8_t before[DMA_LEN];
	int landed;

	if (!is_int(edu_setup(&e), 0, "map edu's BAR0 and enable bus mastering"))
		return;
	is_int(rd32(&e, EDU_ID) & 0xff, 0xed, "edu id register (0x%08x)", rd32(&e, EDU_ID));
	for (unsigned i = 0; i < DMA_LEN; i++)
		src[i] = (uint8_t)(i * 13 + 1);
	memset(dst, 0, PG);
	memset(hidden, 0x5a, PG);
	is_int(sva_mm_prefault(mm, src, 2 * PG), 0, "make src and dst visible at IOVA == VA");

	is_int(edu_dma(&e, BUF_VA, EDU_DEV_BUF, DMA_LEN, 0), 0, "DMA RAM -> device");
	is_int(edu_dma(&e, EDU_DEV_BUF, BUF_VA + PG, DMA_LEN, 1), 0, "DMA device -> RAM");
	ok(memcmp(src, dst, DMA_LEN) == 0, "the bytes made the round trip through the IOMMU");

	/* Reading memory that was never made visible must not bring its bytes in. */
	is_int(edu_dma(&e, BUF_VA + 2 * PG, EDU_DEV_BUF, DMA_LEN, 0), 0, "DMA from an invisible IOVA completes");
	memset(dst, 0, PG);
	edu_dma(&e, EDU_DEV_BUF, BUF_VA + PG, DMA_LEN, 1);
	landed = 0;
	for (unsigned i = 0; i < DMA_LEN; i++)
		landed += dst[i] == 0x5a;
	ok(landed < (int)DMA_LEN, "the invisible page's bytes did not reach the device (%d of %u matched)", landed,
	   DMA_LEN);

	/* Writing to memory that was never made visible must not land. */
	edu_dma(&e, BUF_VA, EDU_DEV_BUF, DMA_LEN, 0);
	is_int(edu_dma(&e, EDU_DEV_BUF, BUF_VA + 2 * PG, DMA_LEN, 1), 0, "DMA to an invisible IOVA completes");
	landed = 0;
	for (unsigned i = 0; i < DMA_LEN; i++)
		landed += hidden[i] != 0x5a;
	is_int(landed, 0, "the invisible page is untouched");

	/* After invalidate, the device loses access at once. */
	is_int(sva_mm_invalidate(mm, dst, PG), 2 * PG,
	       "invalidate dst (its chunk spans src too)");
	memcpy(before, dst, DMA_LEN);
	edu_dma(&e, EDU_DEV_BUF, BUF_VA + PG, DMA_LEN, 1);
	ok(memcmp(before, dst, DMA_LEN) == 0, "a DMA after invalidate does not land");
	munmap((void *)e.bar, e.bar_len);
	munmap(src, PG);
	munmap(dst, PG);
	munmap(hidden, PG);
}

int main(void)
{
	struct sva_bind_opts ro = { .size = sizeof(ro), .flags = SVA_BIND_PINNED | SVA_BIND_RID };
	struct sva_iova_range r[4];
	struct sva_bond *bond;
	struct sva_ctx *ctx;
	struct sva_dev *dev;
	struct sva_mm *mm;
	char pci[16];
	size_t nr = 4;

	if (!ktest_find_pci(EDU_VENDOR, EDU_DEVICE, pci)) {
		if (getenv("SVA_VM") && strcmp(ktest_topology(), "mock") != 0)
			ktest_bail("no edu device in topology %s", ktest_topology());
		skip_all("no QEMU edu device here (the vtd39 and vtd48-numa VM topologies have one)");
	}
	ktest_require_iommufd();
	ctx = ktest_ctx();
	open_checks(ctx, pci);
	if (!is_int(sva_dev_open(ctx, pci, &dev), 0, "open edu by PCI address %s", pci))
		return done_testing();
	info_checks(dev, pci);
	is_int(sva_dev_iova_ranges(dev, r, &nr), -ENOTCONN, "IOVA ranges before attach: -ENOTCONN");
	sva_mm_new(ctx, NULL, &mm);
	{
		struct sva_bind_opts fo = { .size = sizeof(fo), .flags = SVA_BIND_RID };
		struct sva_dev_info info = { .size = sizeof(info) };
		int ret = sva_bind(dev, mm, &fo, &bond);

		ok(ret == -ENODEV || ret == -EOPNOTSUPP || ret == -EINVAL,
		   "a fault-capable bind on edu (no PRI) fails at attach (%s)", strerror(-ret));
		sva_dev_get_info(dev, &info);
		ok(!(info.flags & SVA_DEV_ATTACHED), "and leaves the device unattached");
	}
	if (is_int(sva_bind(dev, mm, &ro, &bond), 0, "pinned RID bind")) {
		window_checks(dev, mm);
		dma_checks(dev, mm);
		is_int(sva_unbind(bond), 0, "unbind");
		nr = 4;
		is_int(sva_dev_iova_ranges(dev, r, &nr), -ENOTCONN, "detached again after unbind");
	}
	sva_mm_free(mm);
	sva_dev_close(dev);
	sva_ctx_free(ctx);
	return done_testing();
}
