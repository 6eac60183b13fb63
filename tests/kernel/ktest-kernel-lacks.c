/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Kernels and sandboxes that lack what libsva uses, the kernel's answers
 * played by the test (its ioctl() replaces libc's for the static libsva-test):
 *
 *  - PROCMAP_QUERY refused by a sandbox or LSM (EACCES from an SELinux ioctl
 *    allowlist; EPERM or ENOSYS from a seccomp filter) while /proc/self/maps
 *    stays readable: libsva reads the file, as on a kernel before 6.11
 *    (ENOTTY), instead of failing every sva_mm_prefault() with "cannot read
 *    this process's mappings" (review Z82).
 *  - A userfaultfd without write-protect registration (an architecture or CPU
 *    without uffd-wp: UFFDIO_API leaves out UFFD_FEATURE_PAGEFAULT_FLAG_WP and
 *    UFFDIO_REGISTER_MODE_WP fails with EINVAL for every range) but with the
 *    UNMAP, REMOVE and REMAP events: tracking is impossible, so the address
 *    space is created untracked (-EOPNOTSUPP), instead of a "tracked" one
 *    whose every prefault of private anonymous memory failed with -EFAULT
 *    (taken for the race with another thread's munmap()) and every fault
 *    was answered INVALID (review Z82).
 */
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/syscall.h>

#include "ktest.h"

#define PG 4096u
#define VA 0x61000000ull /* inside the mock aperture [16 MiB, 2 GiB) */

static int g_procmap_errno; /* 0: the kernel's answer */
static bool g_no_uffd_wp;

int ioctl(int fd, unsigned long req, ...);
int ioctl(int fd, unsigned long req, ...)
{
	va_list ap;
	void *arg;
	int rc;

	va_start(ap, req);
	arg = va_arg(ap, void *);
	va_end(ap);
	if (req == KABI_PROCMAP_QUERY && g_procmap_errno) {
		errno = g_procmap_errno;
		return -1;
	}
	if (req == KABI_UFFDIO_REGISTER && g_no_uffd_wp &&
	    (((struct kabi_uffdio_register *)arg)->mode & KABI_UFFDIO_REGISTER_MODE_WP)) {
		errno = EINVAL;
		return -1;
	}
	rc = (int)syscall(SYS_ioctl, fd, req, arg);
	/* Such a kernel offers the events, not write-protect. */
	if (req == KABI_UFFDIO_API && g_no_uffd_wp && rc == 0)
		((struct kabi_uffdio_api *)arg)->features &= ~KABI_UFFD_FEATURE_PAGEFAULT_FLAG_WP;
	return rc;
}

static struct sva_dev *g_dev;

/* A pinned bond of the mock on mm: the page table ktest_device_has_page() asks. */
static struct sva_bond *pinned_bond(struct sva_mm *mm)
{
	struct sva_bind_opts o = { .size = sizeof(o), .flags = SVA_BIND_PINNED };
	struct sva_bond *b;

	if (sva_bind(g_dev, mm, &o, &b))
		ktest_bail("pinned bind failed");
	return b;
}

static void no_uffd_wp(struct sva_ctx *ctx)
{
	struct sva_bond *b;
	struct sva_mm_opts strict = { .size = sizeof(strict), .flags = SVA_MM_TRACK_STRICT };
	struct sva_mm_stats st = { .size = sizeof(st) };
	struct sva_mm *mm = NULL;
	unsigned char *a = ktest_map_at(VA, 16 * PG, PROT_READ | PROT_WRITE);

	memset(a, 0x5a, 16 * PG);
	g_no_uffd_wp = true;
	is_int(sva_mm_new(ctx, &strict, &mm), -EOPNOTSUPP,
	       "no uffd-wp: a strict address space is refused (-EOPNOTSUPP)");
	if (!ok(sva_mm_new(ctx, NULL, &mm) == 0, "no uffd-wp: a default address space is created")) {
		g_no_uffd_wp = false;
		return;
	}
	b = pinned_bond(mm);
	sva_mm_stats(mm, &st);
	is_int(st.untracked_reason, -EOPNOTSUPP, "it is untracked, and sva_mm_stats says why");
	is_int(sva_mm_prefault(mm, a, 4 * PG), 0, "its prefault of private anonymous memory maps");
	ok(ktest_device_has_page(ctx, mm, VA), "the IOAS maps the page");
	sva_unbind(b);
	sva_mm_free(mm);
	g_no_uffd_wp = false;
	munmap(a, 16 * PG);
}

static void procmap_refused(struct sva_ctx *ctx, int err, const char *who)
{
	struct sva_mm_stats st = { .size = sizeof(st) };
	struct sva_bond *b;
	struct sva_mm *mm;
	unsigned char *a = ktest_map_at(VA, 16 * PG, PROT_READ | PROT_WRITE);

	memset(a, 0x5a, 16 * PG);
	if (sva_mm_new(ctx, NULL, &mm))
		ktest_bail("sva_mm_new failed");
	b = pinned_bond(mm);
	g_procmap_errno = err;
	is_int(sva_mm_prefault(mm, a, 4 * PG), 0, "PROCMAP_QUERY refused with %s (%s): prefault reads the maps file",
	       strerror(err), who);
	ok(ktest_device_has_page(ctx, mm, VA), "%s: the IOAS maps the page", strerror(err));
	is_int(sva_mm_prefault(mm, (void *)(uintptr_t)(VA - 4 * PG), 8 * PG), -EFAULT,
	       "%s: a range over a hole is still -EFAULT", strerror(err));
	/* Tracking still follows the memory registered without the ioctl. */
	munmap(a + 2 * PG, PG);
	is_int(sva_mm_fence(mm), 0, "%s: fence", strerror(err));
	ok(!ktest_device_has_page(ctx, mm, VA + 2 * PG), "%s: an unmapped page is withdrawn", strerror(err));
	sva_mm_stats(mm, &st);
	is_int(st.untracked_ranges, 0, "%s: nothing was mapped untracked", strerror(err));
	g_procmap_errno = 0;
	sva_unbind(b);
	sva_mm_free(mm);
	munmap(a, 16 * PG);
}

int main(void)
{
	struct sva_ctx *ctx;

	ktest_require_iommufd();
	ctx = ktest_ctx();
	ktest_skip_without_mock(sva_dev_open_mock(ctx, NULL, &g_dev));
	if (!g_dev)
		ktest_bail("sva_dev_open_mock failed");
	no_uffd_wp(ctx);
	procmap_refused(ctx, ENOTTY, "a kernel before 6.11");
	procmap_refused(ctx, EACCES, "an SELinux ioctl allowlist");
	procmap_refused(ctx, EPERM, "a seccomp filter");
	procmap_refused(ctx, ENOSYS, "a seccomp filter");
	sva_dev_close(g_dev);
	sva_ctx_free(ctx);
	return done_testing();
}
