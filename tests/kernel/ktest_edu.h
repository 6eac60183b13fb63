/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* QEMU's edu device through VFIO, for the kernel tests: BAR0 and its DMA engine. */
#ifndef SVA_TESTS_KTEST_EDU_H
#define SVA_TESTS_KTEST_EDU_H

#include "ktest.h"
#include "kabi.h"

#define EDU_ID 0x00
#define EDU_DMA_SRC 0x80
#define EDU_DMA_DST 0x88
#define EDU_DMA_CNT 0x90
#define EDU_DMA_CMD 0x98
#define EDU_CMD_START 1u
#define EDU_CMD_TO_RAM 2u
#define EDU_DEV_BUF 0x40000u /* the device's own buffer, in its DMA space */
#define EDU_DMA_MASK ((1ull << 28) - 1)
#define EDU_DMA_LEN 1024u /* QEMU 7.2's edu rejects 4096-byte transfers */

static inline int ktest_vfio_region(struct sva_dev *dev, uint32_t index, struct kabi_vfio_region_info *ri)
{
	*ri = (struct kabi_vfio_region_info){ .argsz = sizeof(*ri), .index = index };
	return ioctl(sva_dev_fd(dev), KABI_VFIO_DEVICE_GET_REGION_INFO, ri) ? -errno : 0;
}

/* Map BAR0 and turn bus mastering on (else the device's DMA never leaves it); NULL on failure. */
static inline volatile uint8_t *ktest_edu_bar(struct sva_dev *dev, size_t *len)
{
	struct kabi_vfio_region_info ri;
	uint16_t cmd;
	void *p;

	if (ktest_vfio_region(dev, KABI_VFIO_PCI_BAR0_REGION_INDEX, &ri) ||
	    !(ri.flags & KABI_VFIO_REGION_INFO_FLAG_MMAP))
		return NULL;
	p = mmap(NULL, ri.size, PROT_READ | PROT_WRITE, MAP_SHARED, sva_dev_fd(dev), (off_t)ri.offset);
	if (p == MAP_FAILED)
		return NULL;
	*len = ri.size;
	if (ktest_vfio_region(dev, KABI_VFIO_PCI_CONFIG_REGION_INDEX, &ri) ||
	    pread(sva_dev_fd(dev), &cmd, 2, (off_t)ri.offset + 4) != 2)
		return NULL;
	cmd |= 0x4;
	if (pwrite(sva_dev_fd(dev), &cmd, 2, (off_t)ri.offset + 4) != 2)
		return NULL;
	return p;
}

static inline uint32_t ktest_edu_rd32(volatile uint8_t *bar, unsigned off)
{
	return *(volatile uint32_t *)(volatile void *)(bar + off);
}

/* One DMA; edu finishes after ~100 ms of virtual time, so poll its command register. */
static inline int ktest_edu_dma(volatile uint8_t *bar, uint64_t src, uint64_t dst, uint32_t len, int to_ram)
{
	uint64_t deadline = ktest_now_ns() + 10ull * 1000000000ull;

	*(volatile uint64_t *)(volatile void *)(bar + EDU_DMA_SRC) = src;
	*(volatile uint64_t *)(volatile void *)(bar + EDU_DMA_DST) = dst;
	*(volatile uint64_t *)(volatile void *)(bar + EDU_DMA_CNT) = len;
	*(volatile uint64_t *)(volatile void *)(bar + EDU_DMA_CMD) = EDU_CMD_START | (to_ram ? EDU_CMD_TO_RAM : 0);
	while (ktest_edu_rd32(bar, EDU_DMA_CMD) & EDU_CMD_START) {
		if (ktest_now_ns() > deadline)
			return -ETIMEDOUT;
		usleep(1000);
	}
	return 0;
}

#endif
