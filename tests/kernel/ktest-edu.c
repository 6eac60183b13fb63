/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * QEMU's edu device behind an emulated Intel VT-d, through VFIO cdev and libsva:
 * open by path and by PCI address, hw info, NUMA node, the IOVA window, the PASID
 * error, and real DMA at IOVA == VA, including DMA to and from memory that was
 * never made visible, which must not land, and coherence: after munmap + a new
 * mapping at the same address, and after MADV_DONTNEED, the device reads the
 * process's new bytes and its writes reach the process.
 */
#include <fcntl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>

#include "ktest_edu.h"

#define BUF_VA 0x8000000ull /* 128 MiB: under edu's 28-bit DMA mask */
#define PG 4096u

struct edu {
	struct sva_dev *dev;
	volatile uint8_t *bar;
	size_t bar_len;
};

extern int sva_test_dev_setup_fail; /* dev.c, libsva-test only */

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

	/* sva_dev_open_fd failing after the bind: the caller's fd keeps the
	 * file (and the bind) alive, so a retry must not get -EBUSY. */
	int cfd = open("/dev/vfio/devices/vfio0", O_RDWR | O_CLOEXEC);

	if (!ok(cfd >= 0, "open the cdev (%s)", strerror(errno)))
		return;
	sva_test_dev_setup_fail = -ENOMEM;
	is_int(sva_dev_open_fd(ctx, cfd, &dev), -ENOMEM, "sva_dev_open_fd failing after the bind: -ENOMEM");
	is_int(sva_dev_open_fd(ctx, cfd, &dev), 0, "a retry with the same fd succeeds");
	sva_dev_close(dev);
	close(cfd);
	is_int(sva_dev_open(ctx, "vfio0", &dev), 0, "then the device is free again");

	/* A BAR left mapped holds the file as a descriptor would: the closed
	 * device stays bound until it is unmapped (sva_dev_fd(3)). */
	size_t bar_len = 0;
	volatile uint8_t *bar = ktest_edu_bar(dev, &bar_len);

	if (!ok(bar != NULL, "map edu's BAR0"))
		return;
	sva_dev_close(dev);
	is_int(sva_dev_open(ctx, "vfio0", &again), -EBUSY,
	       "a device closed with its BAR still mapped: a new open is -EBUSY (sva_dev_fd(3))");
	munmap((void *)bar, bar_len);
	is_int(sva_dev_open(ctx, "vfio0", &dev), 0, "once the BAR is unmapped the device opens again");
	sva_dev_close(dev);
}

/*
 * A node under another name (a symbolic link, a copy made with mknod, a
 * container's renamed node) or a passed fd is the same PCI device: the old
 * code took the address from the node's name and reported flags 0, no PCI
 * address and NUMA node -1 for all three.
 */
static void renamed_node_checks(struct sva_ctx *ctx, const char *pci)
{
	const char *link = "/tmp/edu-link", *copy = "/tmp/edu-node";
	struct sva_dev_info want = { .size = sizeof(want) };
	struct stat st;
	struct sva_dev *dev;

	if (!is_int(sva_dev_open(ctx, pci, &dev), 0, "open edu by PCI address"))
		return;
	sva_dev_get_info(dev, &want);
	sva_dev_close(dev);
	unlink(link);
	unlink(copy);
	if (!ok(stat("/dev/vfio/devices/vfio0", &st) == 0 && symlink("/dev/vfio/devices/vfio0", link) == 0 &&
			mknod(copy, S_IFCHR | 0600, st.st_rdev) == 0,
		"a symbolic link and a mknod copy of the cdev (%s)", strerror(errno)))
		return;
	const char *paths[] = { link, copy };

	for (int i = 0; i < 3; i++) {
		struct sva_dev_info info = { .size = sizeof(info) };
		const char *name = i < 2 ? paths[i] : "an fd of the copy";
		int fd = -1, ret;

		if (i < 2) {
			ret = sva_dev_open(ctx, paths[i], &dev);
		} else {
			fd = open(copy, O_RDWR | O_CLOEXEC);
			ret = sva_dev_open_fd(ctx, fd, &dev);
		}
		if (!is_int(ret, 0, "open edu through %s", name))
			continue;
		sva_dev_get_info(dev, &info);
		ok((info.flags & SVA_DEV_PCI) && strcmp(info.pci_addr, pci) == 0 && info.numa_node == want.numa_node,
		   "through %s: a PCI device at %s, node %d (flags %#x, '%s', node %d)", name, pci, want.numa_node,
		   info.flags, info.pci_addr, info.numa_node);
		sva_dev_close(dev);
		if (fd >= 0)
			close(fd);
	}
	unlink(link);
	unlink(copy);
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

/*
 * One descriptor free: the open takes it for the cdev, and reading the node
 * from sysfs needs another.  The node must not come back -1 as if the
 * machine were not NUMA: the open fails with -EMFILE or reports node 1.
 */
static void numa_short_of_fds(struct sva_ctx *ctx, const char *pci)
{
	struct sva_dev_info info = { .size = sizeof(info) };
	struct rlimit old, one;
	struct sva_dev *dev = NULL;
	int fd = dup(0), ret;

	if (strcmp(ktest_topology(), "vtd48-numa") != 0 || fd < 0)
		return;
	getrlimit(RLIMIT_NOFILE, &old);
	one = old;
	one.rlim_cur = (rlim_t)fd + 1; /* fd is the lowest free number: just it */
	close(fd);
	setrlimit(RLIMIT_NOFILE, &one);
	ret = sva_dev_open(ctx, pci, &dev);
	setrlimit(RLIMIT_NOFILE, &old);
	if (!ret)
		sva_dev_get_info(dev, &info);
	ok(ret == -EMFILE || (ret == 0 && info.numa_node == 1),
	   "with one descriptor free: -EMFILE or NUMA node 1, never node -1 (%d, node %d)", ret,
	   ret ? 0 : info.numa_node);
	if (!ret)
		sva_dev_close(dev);
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
	uint8_t before[EDU_DMA_LEN];
	int landed;

	if (!ok((e.bar = ktest_edu_bar(dev, &e.bar_len)) != NULL, "map edu's BAR0 and enable bus mastering"))
		return;
	is_int(ktest_edu_rd32(e.bar, EDU_ID) & 0xff, 0xed, "edu id register (0x%08x)", ktest_edu_rd32(e.bar, EDU_ID));
	for (unsigned i = 0; i < EDU_DMA_LEN; i++)
		src[i] = (uint8_t)(i * 13 + 1);
	memset(dst, 0, PG);
	memset(hidden, 0x5a, PG);
	is_int(sva_mm_prefault(mm, src, 2 * PG), 0, "make src and dst visible at IOVA == VA");

	is_int(ktest_edu_dma(e.bar, BUF_VA, EDU_DEV_BUF, EDU_DMA_LEN, 0), 0, "DMA RAM -> device");
	is_int(ktest_edu_dma(e.bar, EDU_DEV_BUF, BUF_VA + PG, EDU_DMA_LEN, 1), 0, "DMA device -> RAM");
	ok(memcmp(src, dst, EDU_DMA_LEN) == 0, "the bytes made the round trip through the IOMMU");

	/* Reading memory that was never made visible must not bring its bytes in. */
	is_int(ktest_edu_dma(e.bar, BUF_VA + 2 * PG, EDU_DEV_BUF, EDU_DMA_LEN, 0), 0, "DMA from an invisible IOVA completes");
	memset(dst, 0, PG);
	ktest_edu_dma(e.bar, EDU_DEV_BUF, BUF_VA + PG, EDU_DMA_LEN, 1);
	landed = 0;
	for (unsigned i = 0; i < EDU_DMA_LEN; i++)
		landed += dst[i] == 0x5a;
	ok(landed < (int)EDU_DMA_LEN, "the invisible page's bytes did not reach the device (%d of %u matched)", landed,
	   EDU_DMA_LEN);

	/* Writing to memory that was never made visible must not land. */
	ktest_edu_dma(e.bar, BUF_VA, EDU_DEV_BUF, EDU_DMA_LEN, 0);
	is_int(ktest_edu_dma(e.bar, EDU_DEV_BUF, BUF_VA + 2 * PG, EDU_DMA_LEN, 1), 0, "DMA to an invisible IOVA completes");
	landed = 0;
	for (unsigned i = 0; i < EDU_DMA_LEN; i++)
		landed += hidden[i] != 0x5a;
	is_int(landed, 0, "the invisible page is untouched");

	/* Device memory (edu's own BAR0 mapped again, low: a VM_PFNMAP
	 * mapping) is memory the kernel cannot pin: sva_mm_prefault(3) says
	 * -EPERM once a device is bound. */
	{
		struct kabi_vfio_region_info ri;
		void *at = (void *)(uintptr_t)(BUF_VA + 16 * PG);
		void *bar2 = ktest_vfio_region(dev, KABI_VFIO_PCI_BAR0_REGION_INDEX, &ri)
				     ? MAP_FAILED
				     : mmap(at, PG, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED_NOREPLACE,
					    sva_dev_fd(dev), (off_t)ri.offset);

		if (ok(bar2 == at, "edu's BAR0 mapped a second time at %p (%s)", at,
		       bar2 == MAP_FAILED ? strerror(errno) : "ok")) {
			is_int(sva_mm_prefault(mm, bar2, PG), -EPERM,
			       "sva_mm_prefault of device memory (edu's BAR0, VM_PFNMAP): -EPERM");
			munmap(bar2, PG);
		}
	}

	/* After invalidate, the device loses access at once. */
	is_int(sva_mm_invalidate(mm, dst, PG), 2 * PG,
	       "invalidate dst (its chunk spans src too)");
	memcpy(before, dst, EDU_DMA_LEN);
	ktest_edu_dma(e.bar, EDU_DEV_BUF, BUF_VA + PG, EDU_DMA_LEN, 1);
	ok(memcmp(before, dst, EDU_DMA_LEN) == 0, "a DMA after invalidate does not land");
	munmap((void *)e.bar, e.bar_len);
	munmap(src, PG);
	munmap(dst, PG);
	munmap(hidden, PG);
}

/* Fill a page with a pattern derived from seed. */
static void pattern(uint8_t *p, unsigned seed)
{
	for (unsigned i = 0; i < EDU_DMA_LEN; i++)
		p[i] = (uint8_t)(i * 7 + seed);
}

/* Real DMA after the process changed its mappings (a tracked address space). */
static void coherence_checks(struct sva_dev *dev, struct sva_mm *mm)
{
	struct edu e = { .dev = dev };
	uint8_t *a = ktest_map_at(BUF_VA, PG, PROT_READ | PROT_WRITE);
	uint8_t *b = ktest_map_at(BUF_VA + PG, PG, PROT_READ | PROT_WRITE);
	uint8_t want[EDU_DMA_LEN];

	if (!ok((e.bar = ktest_edu_bar(dev, &e.bar_len)) != NULL, "coherence: map edu's BAR0"))
		return;
	pattern(a, 1);
	memset(b, 0, PG);
	sva_mm_prefault(mm, a, 2 * PG);
	ktest_edu_dma(e.bar, BUF_VA, EDU_DEV_BUF, EDU_DMA_LEN, 0);

	/* munmap + a new mapping at the same address + prefault. */
	munmap(a, PG);
	a = ktest_map_at(BUF_VA, PG, PROT_READ | PROT_WRITE);
	pattern(a, 2);
	/* The munmap withdrew the whole chunk, b's page too: a pinned device needs both prefaulted again. */
	is_int(sva_mm_prefault(mm, a, 2 * PG), 0, "coherence: munmap + new mmap at the same VA + prefault");
	ktest_edu_dma(e.bar, BUF_VA, EDU_DEV_BUF, EDU_DMA_LEN, 0);
	is_int(ktest_edu_dma(e.bar, EDU_DEV_BUF, BUF_VA + PG, EDU_DMA_LEN, 1), 0, "coherence: DMA round trip");
	pattern(want, 2);
	ok(memcmp(b, want, EDU_DMA_LEN) == 0, "coherence: after munmap + mmap the device reads the new bytes");
	pattern(want, 2);
	memset(a, 0, PG);
	ktest_edu_dma(e.bar, EDU_DEV_BUF, BUF_VA, EDU_DMA_LEN, 1);
	ok(memcmp(a, want, EDU_DMA_LEN) == 0, "coherence: the device's writes reach the new mapping");

	/* MADV_DONTNEED + rewrite + prefault. */
	madvise(b, PG, MADV_DONTNEED);
	pattern(b, 3);
	is_int(sva_mm_prefault(mm, a, 2 * PG), 0, "coherence: MADV_DONTNEED + rewrite + prefault");
	ktest_edu_dma(e.bar, BUF_VA + PG, EDU_DEV_BUF, EDU_DMA_LEN, 0);
	ktest_edu_dma(e.bar, EDU_DEV_BUF, BUF_VA, EDU_DMA_LEN, 1);
	pattern(want, 3);
	ok(memcmp(a, want, EDU_DMA_LEN) == 0, "coherence: after MADV_DONTNEED the device reads the new bytes");
	pattern(a, 4);
	ktest_edu_dma(e.bar, BUF_VA, EDU_DEV_BUF, EDU_DMA_LEN, 0);
	ktest_edu_dma(e.bar, EDU_DEV_BUF, BUF_VA + PG, EDU_DMA_LEN, 1);
	pattern(want, 4);
	ok(memcmp(b, want, EDU_DMA_LEN) == 0, "coherence: the device's writes reach the page after MADV_DONTNEED");

	/* munmap alone: the device loses the page, it does not keep reading it. */
	pattern(a, 5);
	ktest_edu_dma(e.bar, BUF_VA, EDU_DEV_BUF, EDU_DMA_LEN, 0); /* the device buffer holds pattern 5 */
	munmap(b, PG);						   /* b held pattern 4 */
	is_int(sva_mm_fence(mm), 0, "coherence: munmap + sva_mm_fence");
	sva_mm_prefault(mm, a, PG); /* a went with b's chunk: show it again, to read back */
	ktest_edu_dma(e.bar, BUF_VA + PG, EDU_DEV_BUF, EDU_DMA_LEN, 0);
	memset(a, 0, PG);
	ktest_edu_dma(e.bar, EDU_DEV_BUF, BUF_VA, EDU_DMA_LEN, 1);
	pattern(want, 4);
	ok(memcmp(a, want, EDU_DMA_LEN) != 0, "coherence: after munmap the device no longer reads the old page");
	b = ktest_map_at(BUF_VA + PG, PG, PROT_READ | PROT_WRITE);
	munmap((void *)e.bar, e.bar_len);
	munmap(a, PG);
	munmap(b, PG);
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
	renamed_node_checks(ctx, pci);
	numa_short_of_fds(ctx, pci);
	if (!is_int(sva_dev_open(ctx, pci, &dev), 0, "open edu by PCI address %s", pci))
		return done_testing();
	info_checks(dev, pci);
	is_int(sva_dev_iova_ranges(dev, r, &nr), -ENOTCONN, "IOVA ranges before attach: -ENOTCONN");
	if (sva_mm_new(ctx, NULL, &mm))
		ktest_bail("sva_mm_new");
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
		coherence_checks(dev, mm);
		is_int(sva_unbind(bond), 0, "unbind");
		nr = 4;
		is_int(sva_dev_iova_ranges(dev, r, &nr), -ENOTCONN, "detached again after unbind");
	}
	sva_mm_free(mm);
	sva_dev_close(dev);
	sva_ctx_free(ctx);
	return done_testing();
}
