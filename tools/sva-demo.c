/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * sva-demo: libsva's main job, told in plain words.  It opens the IOMMU, finds
 * devices, allocates PASIDs, binds an address space, makes a buffer visible at
 * IOVA == VA, runs real DMA through it, and tears a bond down through mm_exit.
 *
 * With no --device it uses what the test VM has: the iommufd selftest mock
 * (PASIDs) and QEMU's edu device behind VT-d (real DMA).  With --device it uses
 * that device on this machine.
 */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdbool.h>
#include <linux/vfio.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "sva/sva.h"
#include "option_error.h"
#include "stdout_done.h"

#define EDU_BUF_VA 0x8000000ul /* under edu's 28-bit DMA mask */
#define DMA_LEN 1024u
#define USAGE "usage: sva-demo [--device DEV]\n       sva-demo -h | --help | -V | --version\n"

static int failures;
/* A step was left out, whole or in part (it said why): the last line must
 * not say "everything worked". */
static int skipped;

static void step(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void step(const char *fmt, ...)
{
	va_list ap;

	printf("\n== ");
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
}

static void say(int ok, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void say(int ok, const char *fmt, ...)
{
	va_list ap;

	printf("   %s ", ok ? "-" : "!");
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	fflush(stdout);
	if (!ok)
		failures++;
}

static void describe(struct sva_dev *dev)
{
	struct sva_dev_info info = { .size = sizeof(info) };

	sva_dev_get_info(dev, &info);
	say(1, "%s%s%s: IOMMU %s, PASID width %u bits, NUMA node %d",
	    (info.flags & SVA_DEV_MOCK) ? "mock device" : info.path, *info.pci_addr ? " at " : "", info.pci_addr,
	    sva_iommu_type_name(info.iommu_type), info.max_pasid_log2, info.numa_node);
}

static void reg_write(volatile uint8_t *regs, unsigned off, uint64_t v)
{
	*(volatile uint64_t *)(volatile void *)(regs + off) = v;
}

static uint32_t reg_read(volatile uint8_t *regs, unsigned off)
{
	return *(volatile uint32_t *)(volatile void *)(regs + off);
}

static void on_mm_exit(struct sva_bond *bond, void *drvdata)
{
	say(1, "mm_exit(PASID %u, drvdata \"%s\"): the driver stops its queue and drains the device",
	    sva_bond_pasid(bond), (const char *)drvdata);
}

static char client_a[] = "client A", client_b[] = "client B", queue0[] = "queue 0";

static void pasid_story(struct sva_ctx *ctx, struct sva_dev *dev)
{
	struct sva_pasid_stats st = { .size = sizeof(st) };
	uint32_t g, d;
	int ret;

	step("PASIDs");
	ret = sva_dev_pasid_alloc(dev, SVA_PASID_GLOBAL, client_a, &g);
	say(ret == 0, "global PASID %u (valid on every device of this context)", g);
	ret = sva_dev_pasid_alloc(dev, SVA_PASID_DEVICE, client_b, &d);
	say(ret == 0, "per-device PASID %u (from the device's own small range)", d);
	sva_dev_pasid_free(dev, g);
	sva_pasid_stats(sva_ctx_global_pasids(ctx), &st);
	say(st.quarantined == 1, "freed PASID %u is quarantined (%llu in quarantine), not reused at once", g,
	    (unsigned long long)st.quarantined);
	sva_dev_pasid_release(dev, g);
	sva_dev_pasid_free(dev, d);
	sva_dev_pasid_release(dev, d);
}

static void on_fault_error(struct sva_bond *bond, const struct sva_fault_report *r, void *drvdata)
{
	(void)drvdata;
	say(1, "fault_error: PASID %u %s at 0x%llx refused (%s), answered INVALID", sva_bond_pasid(bond),
	    (r->access & SVA_ACCESS_WRITE) ? "write" : "read", (unsigned long long)r->addr, strerror(-r->reason));
}

/* Wait for the fault thread to have handled `want` faults of the bond. */
static int wait_faults(struct sva_bond *bond, uint64_t want, struct sva_bond_stats *st)
{
	for (int i = 0; i < 5000; i++) {
		st->size = sizeof(*st);
		sva_bond_stats(bond, st);
		if (st->faults >= want)
			return 0;
		usleep(1000);
	}
	return -ETIMEDOUT;
}

/* len bytes at exactly addr, which must be free; MAP_FAILED with *err set if not. */
static void *map_fixed(unsigned long addr, size_t len, int prot, int *err)
{
	void *p = mmap((void *)addr, len, prot, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);

	/* Kernels before 4.17 ignore the flag and may map elsewhere. */
	if (p != MAP_FAILED && p != (void *)addr) {
		munmap(p, len);
		errno = EEXIST;
		p = MAP_FAILED;
	}
	if (p == MAP_FAILED)
		*err = errno;
	return p;
}

static void bind_story(struct sva_ctx *ctx, struct sva_dev *dev, int can_inject)
{
	struct sva_bond_ops ops = { .size = sizeof(ops), .mm_exit = on_mm_exit, .fault_error = on_fault_error };
	struct sva_bind_opts bo = { .size = sizeof(bo), .drvdata = queue0, .ops = &ops };
	struct sva_bond_stats st;
	struct sva_bond *bond, *found;
	struct sva_mm *mm;
	void *data, *buf = MAP_FAILED, *ro = MAP_FAILED;
	int ret, map_err = 0;

	step("a bind");
	if (sva_mm_new(ctx, NULL, &mm)) {
		say(0, "cannot create an address space");
		return;
	}
	ret = sva_bind(dev, mm, &bo, &bond);
	say(ret == 0, "bound this process's address space to PASID %u, resolving the device's page faults",
	    ret ? 0 : sva_bond_pasid(bond));
	if (ret) {
		sva_mm_free(mm);
		return;
	}
	ret = sva_dev_bond_lookup(dev, sva_bond_pasid(bond), &found, &data);
	say(ret == 0 && found == bond, "lookup by PASID %u gives drvdata \"%s\"", sva_bond_pasid(bond),
	    ret ? "?" : (const char *)data);

	step("faults resolved");
	/* The mock reaches [16 MiB, 2 GiB): put the buffers there. */
	if (can_inject)
		buf = map_fixed(0x40000000ul, 1 << 20, PROT_READ | PROT_WRITE, &map_err);
	if (buf != MAP_FAILED)
		ro = map_fixed(0x40200000ul, 4096, PROT_READ, &map_err);
	if (!can_inject) {
		say(1, "this device cannot be made to fault on purpose: skipping (the mock device can)");
		skipped = 1;
	} else if (buf == MAP_FAILED || ro == MAP_FAILED) {
		/* The device could fault: the address is not ours to use (sva-demo(1), NOTES). */
		unsigned long at = buf == MAP_FAILED ? 0x40000000ul : 0x40200000ul;

		skipped = 1;
		if (map_err == EEXIST)
			say(1, "address 0x%lx is already occupied in this process: skipping the injected faults", at);
		else
			say(1, "cannot map a buffer at 0x%lx (%s): skipping the injected faults", at,
			    strerror(map_err));
	} else {
		for (int i = 0; i < 4; i++)
			sva_dev_inject_fault(dev, sva_bond_pasid(bond), 0x40000000ull + (uint64_t)i * 4096 * 20,
					     SVA_ACCESS_READ | SVA_ACCESS_WRITE, 0);
		ret = wait_faults(bond, 4, &st);
		say(ret == 0 && st.invalid == 0,
		    "the device faulted on 4 pages: all resolved by the fault thread, %llu pages mapped at IOVA == VA "
		    "(adaptive fault-around: the window grows as they arrive in order)",
		    (unsigned long long)st.pages_mapped);
		sva_dev_inject_fault(dev, sva_bond_pasid(bond), 0x40200000ull, SVA_ACCESS_WRITE, 0);
		wait_faults(bond, 5, &st);
		say(st.invalid == 1, "a write to read-only memory is refused, not mapped (%llu refused)",
		    (unsigned long long)st.invalid);
		ret = sva_mm_prefault(mm, (char *)buf + 512 * 1024, 256 * 1024);
		say(ret == 0, "256 KiB prefaulted ahead of a job: the job takes no faults");
	}
	/* A refusal on purpose: the demo reports it, so the library's error line is noise here. */
	sva_ctx_set_log(ctx, NULL, NULL, SVA_LOG_OFF);
	ret = sva_mm_prefault(mm, &ret, sizeof(ret));
	sva_ctx_set_log(ctx, NULL, NULL, SVA_LOG_DEFAULT);
	if (ret == -ERANGE)
		say(1, "the stack at %p is outside the device's window: refused with ERANGE", (void *)&ret);
	else
		say(ret == 0, "the stack at %p is inside this device's window: visible too", (void *)&ret);

	step("mm_exit teardown");
	ret = sva_unbind(bond);
	say(ret == 0, "unbound: callback first, then PASID detached, then quarantined");
	sva_mm_free(mm);
	if (buf != MAP_FAILED)
		munmap(buf, 1 << 20);
	if (ro != MAP_FAILED)
		munmap(ro, 4096);
}

/* Real DMA: QEMU's edu copies RAM -> its buffer -> RAM through the IOMMU. */
static void dma_story(struct sva_ctx *ctx, const char *name)
{
	struct sva_bind_opts bo = { .size = sizeof(bo), .flags = SVA_BIND_PINNED | SVA_BIND_RID };
	struct vfio_region_info bar = { .argsz = sizeof(bar), .index = VFIO_PCI_BAR0_REGION_INDEX };
	struct vfio_region_info cfg = { .argsz = sizeof(cfg), .index = VFIO_PCI_CONFIG_REGION_INDEX };
	volatile uint8_t *regs;
	struct sva_bond *bond;
	struct sva_dev *dev;
	struct sva_mm *mm;
	uint8_t *src, *dst;
	uint16_t cmd;
	int ret, fd, same, map_err = 0;

	step("real DMA (edu at %s)", name);
	ret = sva_dev_open(ctx, name, &dev);
	if (ret) {
		say(0, "cannot open %s: %s", name, strerror(-ret));
		return;
	}
	describe(dev);
	sva_mm_new(ctx, NULL, &mm);
	ret = sva_bind(dev, mm, &bo, &bond);
	say(ret == 0, "bound the device's RID (edu has no PASID) in pinned mode");
	src = map_fixed(EDU_BUF_VA, 8192, PROT_READ | PROT_WRITE, &map_err);
	dst = src + 4096;
	fd = sva_dev_fd(dev);
	if (!ret && src == MAP_FAILED) {
		say(0, "cannot map the DMA buffers at 0x%lx, under edu's 28-bit DMA mask: %s", EDU_BUF_VA,
		    map_err == EEXIST ? "the address is already occupied in this process" : strerror(map_err));
		goto out;
	}
	if (ret || ioctl(fd, VFIO_DEVICE_GET_REGION_INFO, &bar) || ioctl(fd, VFIO_DEVICE_GET_REGION_INFO, &cfg)) {
		say(0, "cannot set up the DMA buffers or the device's registers");
		goto out;
	}
	regs = mmap(NULL, bar.size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, (off_t)bar.offset);
	if (regs == MAP_FAILED || pread(fd, &cmd, 2, (off_t)cfg.offset + 4) != 2) {
		say(0, "cannot map BAR0");
		goto out;
	}
	cmd |= 4; /* bus master */
	if (pwrite(fd, &cmd, 2, (off_t)cfg.offset + 4) != 2)
		say(0, "cannot enable bus mastering");
	for (unsigned i = 0; i < DMA_LEN; i++)
		src[i] = (uint8_t)(i * 31 + 7);
	ret = sva_mm_prefault(mm, src, 8192);
	say(ret == 0, "8 KiB at %p visible at IOVA == VA", (void *)src);
	for (int dir = 0; dir < 2; dir++) {
		reg_write(regs, 0x80, dir ? 0x40000 : (uint64_t)(uintptr_t)src);
		reg_write(regs, 0x88, dir ? (uint64_t)(uintptr_t)dst : 0x40000);
		reg_write(regs, 0x90, DMA_LEN);
		reg_write(regs, 0x98, 1u | (dir ? 2u : 0u));
		for (int spin = 0; spin < 10000 && (reg_read(regs, 0x98) & 1); spin++)
			usleep(1000);
	}
	same = memcmp(src, dst, DMA_LEN) == 0;
	say(same, "edu copied %u bytes RAM -> device -> RAM by virtual address: %s", DMA_LEN,
	    same ? "bytes match" : "MISMATCH");
	munmap((void *)regs, bar.size);
out:
	if (!ret)
		sva_unbind(bond);
	sva_mm_free(mm);
	sva_dev_close(dev);
	if (src != MAP_FAILED)
		munmap(src, 8192);
}

static unsigned read_hex(const char *dir, const char *name)
{
	char path[300], buf[16] = "";
	FILE *f;

	snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/%s", dir, name);
	if (!(f = fopen(path, "r")))
		return 0;
	if (!fgets(buf, sizeof(buf), f))
		buf[0] = '\0';
	fclose(f);
	return (unsigned)strtoul(buf, NULL, 16);
}

/* QEMU's edu: vendor 0x1234, device 0x11e8. */
static const char *find_edu(void)
{
	static char addr[64];
	struct dirent *de;
	DIR *d = opendir("/sys/bus/pci/devices");

	if (!d)
		return NULL;
	addr[0] = '\0';
	while (!*addr && (de = readdir(d)))
		if (de->d_name[0] != '.' && read_hex(de->d_name, "vendor") == 0x1234 &&
		    read_hex(de->d_name, "device") == 0x11e8 && strlen(de->d_name) < sizeof(addr))
			memcpy(addr, de->d_name, strlen(de->d_name) + 1);
	closedir(d);
	return *addr ? addr : NULL;
}

/* The last step, also after a step that could not go on (sva-demo(1): done
 * says "something went wrong" when a line is marked !); the exit status. */
static int done(struct sva_ctx *ctx)
{
	sva_ctx_free(ctx);
	step("done: %s", failures  ? "something went wrong (marked with !)"
			 : skipped ? "everything that ran worked (some steps were skipped, as said above)"
				   : "everything worked");
	/* A report that did not reach standard output (a full disk, a closed
	 * descriptor) is no success, however the steps went. */
	if (stdout_done("sva-demo", "the report"))
		return 1;
	return failures ? 1 : 0;
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "device", required_argument, NULL, 'd' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	const char *device = NULL, *edu;
	struct sva_ctx *ctx;
	struct sva_dev *dev;
	int c, ret, help = 0;

	opterr = 0; /* option_error() says what is wrong, as the other tools do */
	while ((c = getopt_long(argc, argv, ":d:hV", longopts, NULL)) != -1) {
		switch (c) {
		case 'd':
			if (option_nonempty("sva-demo", longopts, c, argv))
				return 2;
			device = optarg;
			break;
		case 'h':
		case 'V':
			help = c; /* printed once the command line is known good */
			break;
		default:
			option_error("sva-demo", longopts, c, argv);
			return usage_hint("sva-demo");
		}
	}
	if (optind < argc) {
		fprintf(stderr, "sva-demo: unexpected argument '%s'\n", argv[optind]);
		return usage_hint("sva-demo");
	}
	if (help == 'V') {
		printf("sva-demo (libsva) %s\n", PACKAGE_VERSION);
		return stdout_done("sva-demo", "to standard output");
	}
	if (help) {
		printf(USAGE "  -d, --device DEV  use DEV, a VFIO cdev path, cdev name or PCI address;\n"
		       "                    without it the demo uses the iommufd selftest mock\n"
		       "                    and QEMU's edu device (the test VM)\n"
		       "  -h, --help        print this help and exit\n"
		       "  -V, --version     print the version and exit\n");
		return stdout_done("sva-demo", "to standard output");
	}
	step("the IOMMU");
	ret = sva_ctx_new(NULL, &ctx);
	if (ret) {
		/* Only a missing iommufd is the test VM's business. */
		say(0, "cannot open /dev/iommu: %s (%s)", strerror(-ret),
		    ret == -EACCES || ret == -EPERM ? "run as root, or give this user /dev/iommu"
		    : device ? "no iommufd here: tools/demo.sh without --device runs the demo in the test VM"
			     : "tools/demo.sh runs this demo in the test VM");
		return done(NULL);
	}
	say(1, "/dev/iommu opened (iommufd %d)", sva_ctx_fd(ctx));

	step("devices");
	ret = device ? sva_dev_open(ctx, device, &dev) : sva_dev_open_mock(ctx, NULL, &dev);
	if (ret == -EOPNOTSUPP && !device) {
		say(1, "no iommufd selftest mock in this kernel (CONFIG_IOMMUFD_TEST): skipping the PASID part");
		skipped = 1;
	} else if (ret) {
		say(0, "cannot open %s: %s", device ? device : "the mock device", strerror(-ret));
		return done(ctx);
	} else {
		struct sva_dev_info info = { .size = sizeof(info) };

		describe(dev);
		sva_dev_get_info(dev, &info);
		if (info.max_pasid_log2) {
			pasid_story(ctx, dev);
			bind_story(ctx, dev, (info.flags & SVA_DEV_MOCK) != 0);
		} else {
			say(1, "this device has no PASID support: only its RID can be bound; skipping the "
			       "steps from PASIDs to mm_exit teardown");
			skipped = 1;
		}
		sva_dev_close(dev);
	}
	edu = device ? NULL : find_edu();
	if (edu) {
		dma_story(ctx, edu);
	} else {
		step("real DMA");
		say(1, "%s: skipping it", device ? "not with --device (without it, the demo uses the test VM's edu device)"
						 : "no edu device here");
		skipped = 1;
	}
	return done(ctx);
}
