/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Black-box review of the device and memory pages: sva_dev_open(3) (and
 * sva_dev_open_fd), sva_dev_open_mock(3), sva_dev_close(3), sva_dev_fd(3),
 * sva_dev_get_info(3), sva_dev_iova_ranges(3), sva_mem_alloc(3) and
 * sva_mem_free(3), checked only against what the pages and sva.h say.
 * Mock topology: the mock device; vtd39: the edu device as a real VFIO cdev.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <sva/sva.h>

#include "../tap.h"
#include "ktest_proc.h"
#include "edu_find.h"

void sva_test_fail_nth(int n); /* test_fail.c, libsva-test only */

static struct {
	int error, debug, other;
	char last[512];
} lines;

/* The callback may run on several threads at once (sva_ctx_set_log(3)):
 * the race checks open devices from four.  Read after they are joined. */
static pthread_mutex_t lines_lock = PTHREAD_MUTEX_INITIALIZER;

static void count_lines(void *arg, enum sva_log_level level, const char *msg)
{
	(void)arg;
	pthread_mutex_lock(&lines_lock);
	if (level == SVA_LOG_ERROR)
		lines.error++;
	else if (level == SVA_LOG_DEBUG)
		lines.debug++;
	else
		lines.other++;
	snprintf(lines.last, sizeof(lines.last), "%s", msg);
	pthread_mutex_unlock(&lines_lock);
}

static void lines_reset(void)
{
	pthread_mutex_lock(&lines_lock);
	memset(&lines, 0, sizeof(lines));
	pthread_mutex_unlock(&lines_lock);
}

static int wait_child(pid_t pid)
{
	int st;

	if (pid < 0 || waitpid(pid, &st, 0) != pid)
		return -1;
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

static int count_fds(void)
{
	return ktest_count_fds();
}

static struct sva_ctx *new_ctx(void)
{
	struct sva_ctx_opts o = { .size = sizeof(o) };
	struct sva_ctx *ctx = NULL;
	int ret = sva_ctx_new(&o, &ctx);

	if (ret) {
		printf("Bail out! sva_ctx_new: %s\n", strerror(-ret));
		exit(1);
	}
	sva_ctx_set_log(ctx, count_lines, NULL, SVA_LOG_DEBUG);
	return ctx;
}

#define SENTINEL ((struct sva_dev *)0x5a5a)

/* sva_dev_open(ctx, name) fails with want, *out untouched, one error line, no fd left open. */
static void open_fails(struct sva_ctx *ctx, const char *name, int want, const char *why)
{
	struct sva_dev *dev = SENTINEL;
	int before = count_fds(), ret;

	lines_reset();
	ret = sva_dev_open(ctx, name, &dev);
	ok(ret == want, "sva_dev_open(\"%s\") (%s): %d, want %d", name ? name : "(null)", why, ret, want);
	ok(dev == SENTINEL, "  *out untouched");
	ok(count_fds() == before, "  no descriptor left open (%d -> %d)", before, count_fds());
	ok(lines.error == 1, "  one line at error level (%d): %s", lines.error, lines.last);
	if (ret == 0 && dev != SENTINEL)
		sva_dev_close(dev);
}

static void open_fd_fails(struct sva_ctx *ctx, int fd, int want, const char *why)
{
	struct sva_dev *dev = SENTINEL;
	int before = count_fds(), ret, was_open = fd >= 0 && fcntl(fd, F_GETFD) >= 0;

	lines_reset();
	ret = sva_dev_open_fd(ctx, fd, &dev);
	ok(ret == want, "sva_dev_open_fd(%s): %d, want %d", why, ret, want);
	ok(dev == SENTINEL, "  *out untouched");
	ok(count_fds() == before, "  no descriptor left open (%d -> %d)", before, count_fds());
	ok(lines.error == 1, "  one line at error level (%d): %s", lines.error, lines.last);
	if (was_open)
		ok(fcntl(fd, F_GETFD) >= 0, "  the caller's fd stays open");
	if (ret == 0 && dev != SENTINEL)
		sva_dev_close(dev);
}

static void dev_open_errors(struct sva_ctx *ctx)
{
	struct sva_dev *dev = SENTINEL;
	char pci[256], name[128];
	int fd, p[2];
	struct stat st;

	ok(sva_dev_open(NULL, "vfio0", &dev) == -EINVAL && dev == SENTINEL, "sva_dev_open: NULL ctx: -EINVAL");
	ok(sva_dev_open(ctx, "vfio0", NULL) == -EINVAL, "sva_dev_open: NULL out: -EINVAL");
	open_fails(ctx, NULL, -EINVAL, "NULL name");
	open_fails(ctx, "", -EINVAL, "empty");
	open_fails(ctx, "dev/vfio/devices/vfio0", -EINVAL, "relative path");
	open_fails(ctx, "vfio", -EINVAL, "no digits");
	open_fails(ctx, "vfio12345678901", -EINVAL, "11 digits");
	open_fails(ctx, "vfio3x", -EINVAL, "trailing junk");
	open_fails(ctx, "vfio-3", -EINVAL, "sign");
	open_fails(ctx, "0000:41:20.0", -EINVAL, "device 0x20 > 1f");
	open_fails(ctx, "0000:41:00.8", -EINVAL, "function 8");
	open_fails(ctx, "0000000:41:00.0", -EINVAL, "7-digit domain");
	/* up to 6 domain digits: Intel VMD's domains are 10000 and up */
	open_fails(ctx, "10000:7f:1f.7", -ENOENT, "no such PCI device, 5-digit domain");
	open_fails(ctx, "00000:7f:1f.7", -ENOENT, "no such PCI device, 5-digit domain 0");
	open_fails(ctx, "0000:141:00.0", -EINVAL, "3-digit bus");
	open_fails(ctx, "0000:41:00.00", -EINVAL, "2-digit function");
	open_fails(ctx, "0000:41:00", -EINVAL, "no function");
	open_fails(ctx, "0000:4g:00.0", -EINVAL, "not hex");
	open_fails(ctx, "0000:41:00.0 ", -EINVAL, "trailing blank");
	open_fails(ctx, "7f:1f.7", -ENOENT, "no such PCI device, short form");
	open_fails(ctx, "FFFF:7F:1F.7", -ENOENT, "no such PCI device, upper case");
	if (stat("/dev/vfio/devices", &st) == 0) {
		open_fails(ctx, "vfio4000000000", -ENOENT, "no such cdev, directory exists");
		open_fails(ctx, "/dev/vfio/devices/vfio4000000000", -ENOENT, "no such node path");
	} else {
		open_fails(ctx, "vfio4000000000", -ENODEV, "no such cdev, no vfio/devices directory");
	}
	fd = open("/tmp/ktest-dev-contract-regular", O_CREAT | O_RDWR | O_TRUNC, 0600);
	if (fd >= 0)
		close(fd);
	open_fails(ctx, "/tmp/ktest-dev-contract-regular", -ENOTTY, "a regular file");
	open_fails(ctx, "/tmp", -ENOTTY, "a directory");
	open_fails(ctx, "/dev/null", -ENOTTY, "a character device that is not VFIO");
	unlink("/tmp/ktest-dev-contract-fifo");
	if (mkfifo("/tmp/ktest-dev-contract-fifo", 0600) == 0)
		open_fails(ctx, "/tmp/ktest-dev-contract-fifo", -ENOTTY, "a named pipe");
	else
		skip(4, "mkfifo failed");
	unlink("/tmp/ktest-dev-contract-fifo");
	if (edu_find_pci_vfio(0, pci, sizeof(pci)))
		open_fails(ctx, pci, -ENODEV, "a PCI device not bound to a VFIO driver");
	else
		skip(4, "no PCI device without vfio-dev");

	/* sva_dev_open_fd */
	dev = SENTINEL;
	ok(sva_dev_open_fd(NULL, 0, &dev) == -EINVAL && dev == SENTINEL, "sva_dev_open_fd: NULL ctx: -EINVAL");
	ok(sva_dev_open_fd(ctx, 0, NULL) == -EINVAL, "sva_dev_open_fd: NULL out: -EINVAL");
	open_fd_fails(ctx, -1, -EBADF, "fd -1");
	open_fd_fails(ctx, 1000, -EBADF, "a closed fd");
	fd = open("/tmp/ktest-dev-contract-regular", O_RDWR);
	open_fd_fails(ctx, fd, -ENOTTY, "a regular file");
	close(fd);
	fd = open("/tmp", O_RDONLY | O_DIRECTORY);
	open_fd_fails(ctx, fd, -ENOTTY, "a directory");
	close(fd);
	fd = open("/dev/null", O_RDWR);
	open_fd_fails(ctx, fd, -ENOTTY, "/dev/null");
	close(fd);
	if (pipe(p) == 0) {
		open_fd_fails(ctx, p[0], -ENOTTY, "a pipe");
		close(p[0]);
		close(p[1]);
	}
	unlink("/tmp/ktest-dev-contract-regular");
	snprintf(name, sizeof(name), "done");
}

/* In a forked child: -ECHILD from every call that says so. */
static void child_checks(struct sva_ctx *ctx, struct sva_dev *dev, struct sva_mm *mm, void *mem, size_t memlen)
{
	pid_t pid = fork();
	int rc;

	if (pid == 0) {
		struct sva_dev *d = SENTINEL;
		struct sva_iova_range r[4];
		size_t nr = 4;
		struct sva_mem_opts mo = { .size = sizeof(mo), .mm = mm };
		void *out = NULL;
		int bad = 0;

		if (sva_dev_open(ctx, "vfio0", &d) != -ECHILD || d != SENTINEL)
			bad |= 1;
		if (sva_dev_open_fd(ctx, 0, &d) != -ECHILD || d != SENTINEL)
			bad |= 2;
		if (sva_dev_open_mock(ctx, NULL, &d) != -ECHILD || d != SENTINEL)
			bad |= 4;
		if (sva_dev_iova_ranges(dev, r, &nr) != -ECHILD)
			bad |= 8;
		if (sva_mem_alloc(4096, &mo, &out) != -ECHILD || out)
			bad |= 16;
		if (sva_mem_free(mm, mem, memlen) != -ECHILD)
			bad |= 32;
		/* the child's copy is still its own to free with a NULL mm */
		if (sva_mem_free(NULL, mem, memlen) != 0)
			bad |= 64;
		_exit(bad);
	}
	rc = wait_child(pid);
	ok(rc == 0,
	   "in a forked child: -ECHILD from sva_dev_open/open_fd/open_mock/iova_ranges/mem_alloc/mem_free(mm), "
	   "sva_mem_free(NULL) frees the copy (failed bits %#x)",
	   rc);
	ok(((volatile char *)mem)[0] == 0x11, "  the parent's memory is untouched");
}

/* Placement rules of sva_mem_alloc(3), Where in the window. */
static void placement_checks(struct sva_ctx *ctx, struct sva_dev *dev)
{
	struct sva_mm_opts mmo = { .size = sizeof(mmo), .flags = SVA_MM_UNTRACKED };
	struct sva_mm *mm = NULL;
	struct sva_bind_opts bo = { .size = sizeof(bo) };
	struct sva_bond *bond = NULL;
	struct sva_mem_opts o = { .size = sizeof(o) };
	void *a = NULL, *b = NULL, *c = NULL;
	uintptr_t brk0 = (uintptr_t)sbrk(0);
	int ret;

	if (sva_mm_new(ctx, &mmo, &mm) || sva_bind(dev, mm, &bo, &bond)) {
		ok(0, "placement: an untracked mm bound");
		return;
	}
	o.mm = mm;
	o.dev = dev;
	ret = sva_mem_alloc(1 << 20, &o, &a);
	ok(ret == 0, "placement: first 1 MiB (%d) at %p", ret, a);
	ret = sva_mem_alloc(1 << 20, &o, &b);
	ok(ret == 0 && ((uintptr_t)b >= (uintptr_t)a + (1 << 20) || (uintptr_t)b + (1 << 20) <= (uintptr_t)a),
	   "placement: a second allocation does not overlap the first (%p)", b);
	ok(!((uintptr_t)a < brk0 + (64u << 20) && (uintptr_t)a + (1 << 20) > brk0),
	   "placement: clear of 64 MiB above the break (%#lx)", (unsigned long)brk0);
	ok((uintptr_t)a >= 16u << 20, "placement: above the 16 MiB guard");
	/* Visible and then unmapped without sva_mm_invalidate: that range is not reused. */
	if (b) {
		ok(sva_mm_prefault(mm, b, 1 << 20) == 0, "placement: the second allocation made visible");
		/* a hand munmap, which the page warns about: the addresses stay taken anyway */
		ret = sva_mem_free(NULL, b, 1 << 20);
		ok(ret == 0, "placement: freed with a NULL mm (stays visible in the untracked mm)");
		ret = sva_mem_alloc(1 << 20, &o, &c);
		ok(ret == 0 && ((uintptr_t)c >= (uintptr_t)b + (1 << 20) || (uintptr_t)c + (1 << 20) <= (uintptr_t)b),
		   "placement: memory still visible in opts->mm is not reused (%p vs %p)", c, b);
		if (c)
			sva_mem_free(mm, c, 1 << 20);
		sva_mm_invalidate(mm, b, 1 << 20);
	}
	if (a)
		sva_mem_free(mm, a, 1 << 20);
	/* the asked length of a huge allocation */
	o.flags = SVA_MEM_HUGE;
	ret = sva_mem_alloc(4096, &o, &a);
	ok(ret == 0 && (uintptr_t)a % (2u << 20) == 0, "HUGE: 2 MiB aligned (%d, %p)", ret, a);
	if (!ret)
		ok(sva_mem_free(mm, a, 4096) == 0, "HUGE: freed with the asked length");
	o.flags = 0;
	/* NULL opts */
	a = (void *)0x77;
	ret = sva_mem_alloc(4096, NULL, &a);
	ok(ret == 0 && (uintptr_t)a >= (16u << 20), "sva_mem_alloc with NULL opts, as sva_mem_alloc(3) says: %d", ret);
	if (!ret)
		sva_mem_free(NULL, a, 4096);

	/* a SVA_MEM_PREFAULT block over the pin budget: -ENOSPC at error level, nothing stays mapped */
	{
		struct sva_mm_opts bmo = { .size = sizeof(bmo), .pin_budget = 65536 };
		struct sva_mm *bmm = NULL;
		void *m = (void *)0x77, *m2 = NULL;

		if (sva_mm_new(ctx, &bmo, &bmm) == 0) {
			o.mm = bmm;
			o.dev = NULL;
			o.flags = SVA_MEM_PREFAULT;
			lines_reset();
			ret = sva_mem_alloc(1 << 20, &o, &m);
			ok(ret == -ENOSPC && m == (void *)0x77, "PREFAULT over the pin budget: -ENOSPC (%d)", ret);
			ok(lines.error == 1, "  one line at error level (%d): %s", lines.error, lines.last);
			o.flags = 0;
			ret = sva_mem_alloc(1 << 20, &o, &m2);
			ok(ret == 0, "  a plain allocation after it (%d) at %p", ret, m2);
			if (!ret) {
				struct sva_mem_opts o2 = o;
				void *m3 = NULL;

				sva_mem_free(bmm, m2, 1 << 20);
				/* nothing of the failed call stays: the lowest place is the same again */
				ret = sva_mem_alloc(1 << 20, &o2, &m3);
				ok(ret == 0 && m3 == m2, "  the failed call left nothing mapped or taken (%p %p)", m2, m3);
				if (!ret)
					sva_mem_free(bmm, m3, 1 << 20);
			}
			sva_mm_free(bmm);
		}
	}
	sva_unbind(bond);
	sva_mm_free(mm);

	/* restricted: allowed by the alloc, denied by the free */
	mmo.flags = SVA_MM_RESTRICTED;
	mm = NULL;
	if (sva_mm_new(ctx, &mmo, &mm) == 0) {
		o.mm = mm;
		o.dev = NULL;
		ret = sva_mem_alloc(8192, &o, &a);
		ok(ret == 0, "restricted: alloc (%d)", ret);
		if (!ret) {
			struct sva_mm_stats st;
			(void)st;
			ok(sva_mem_free(mm, a, 8192) == 0, "restricted: free");
		}
		sva_mm_free(mm);
	}
}

static struct sva_dev *cb_dev;
static int cb_close_lines;

static void cb_exit(struct sva_bond *bond, void *drvdata)
{
	(void)bond;
	(void)drvdata;
	lines_reset();
	sva_dev_close(cb_dev);
	cb_close_lines = lines.error;
}

static void close_in_callback(struct sva_ctx *ctx)
{
	struct sva_bond_ops ops = { .size = sizeof(ops), .mm_exit = cb_exit };
	struct sva_bind_opts bo = { .size = sizeof(bo), .ops = &ops };
	struct sva_mm_opts mmo = { .size = sizeof(mmo) };
	struct sva_mm *mm = NULL;
	struct sva_bond *bond = NULL;
	struct sva_dev_info info = { .size = sizeof(info) };

	if (sva_dev_open_mock(ctx, NULL, &cb_dev) || sva_mm_new(ctx, &mmo, &mm) || sva_bind(cb_dev, mm, &bo, &bond)) {
		ok(0, "close in callback: setup");
		return;
	}
	ok(sva_unbind(bond) == 0, "unbind whose mm_exit calls sva_dev_close");
	ok(cb_close_lines == 1, "  sva_dev_close in mm_exit: refused with one error line (%d)", cb_close_lines);
	ok(sva_dev_get_info(cb_dev, &info) == 0 && info.dev_id != 0, "  the device stays valid");
	sva_dev_close(cb_dev);
	sva_mm_free(mm);
}

static struct sva_ctx *thr_ctx;
static void *thr_open(void *arg)
{
	int bad = 0;

	(void)arg;
	for (int i = 0; i < 8; i++) {
		struct sva_dev *d = NULL;

		if (sva_dev_open_mock(thr_ctx, NULL, &d)) {
			bad++;
			continue;
		}
		struct sva_dev_info info = { .size = sizeof(info) };
		if (sva_dev_get_info(d, &info) || sva_dev_fd(d) != -ENODEV)
			bad++;
		sva_dev_close(d);
	}
	return (void *)(intptr_t)bad;
}

static struct sva_dev *race_dev;
static atomic_int race_stop; /* read by the racing thread */
static int race_bad, race_ok, race_notconn;
static void *race_ranges(void *arg)
{
	(void)arg;
	while (!race_stop) {
		struct sva_iova_range r[64];
		size_t nr = 64;
		int ret = sva_dev_iova_ranges(race_dev, r, &nr);

		if (ret == 0)
			race_ok++;
		else if (ret == -ENOTCONN)
			race_notconn++;
		else if (!race_bad)
			race_bad = ret;
	}
	return NULL;
}

static void *race_free(void *arg)
{
	void **pp = arg;

	return (void *)(intptr_t)sva_mem_free(NULL, *pp, 4096);
}

static void *race_alloc(void *arg)
{
	void **out = arg;

	for (int i = 0; i < 16; i++)
		if (sva_mem_alloc(4096 * (size_t)(i + 1), NULL, &out[i]))
			out[i] = NULL;
	return NULL;
}

static void race_checks(struct sva_ctx *ctx)
{
	pthread_t t;
	struct sva_mm_opts mmo = { .size = sizeof(mmo) };
	struct sva_bind_opts bo = { .size = sizeof(bo), .flags = SVA_BIND_RID };
	int binds = 0;

	if (sva_dev_open_mock(ctx, &(struct sva_mock_opts){ .size = sizeof(struct sva_mock_opts),
							       .flags = SVA_MOCK_NO_PASID },
			      &race_dev)) {
		ok(0, "race: a mock");
		return;
	}
	race_stop = 0;
	pthread_create(&t, NULL, race_ranges, NULL);
	for (int i = 0; i < 200; i++) {
		struct sva_mm *mm = NULL;
		struct sva_bond *bond = NULL;

		if (sva_mm_new(ctx, &mmo, &mm))
			break;
		if (sva_bind(race_dev, mm, &bo, &bond) == 0) {
			binds++;
			sva_unbind(bond);
		}
		sva_mm_free(mm);
	}
	race_stop = 1;
	pthread_join(t, NULL);
	ok(binds == 200 && race_bad == 0,
	   "iova_ranges against RID bind/unbind/mm_free: only 0 or -ENOTCONN (%d binds, bad %d, %d ok, %d notconn)", binds,
	   race_bad, race_ok, race_notconn);
	sva_dev_close(race_dev);

	/* two threads freeing one allocation: 0 in one, -EINVAL in the other */
	{
		int good = 1;

		for (int i = 0; i < 100 && good; i++) {
			void *m = NULL, *r1, *r2;
			pthread_t a, b;

			if (sva_mem_alloc(4096, NULL, &m))
				break;
			pthread_create(&a, NULL, race_free, &m);
			pthread_create(&b, NULL, race_free, &m);
			pthread_join(a, &r1);
			pthread_join(b, &r2);
			good = ((intptr_t)r1 == 0 && (intptr_t)r2 == -EINVAL) || ((intptr_t)r1 == -EINVAL && (intptr_t)r2 == 0);
			if (!good)
				diag("frees gave %ld and %ld", (long)(intptr_t)r1, (long)(intptr_t)r2);
		}
		ok(good, "two threads freeing one allocation: 0 and -EINVAL, 100 times");
	}
	/* allocations from 4 threads do not overlap */
	{
		void *outs[4][16];
		pthread_t th[4];
		int overlap = 0, got = 0;

		memset(outs, 0, sizeof(outs));
		for (int i = 0; i < 4; i++)
			pthread_create(&th[i], NULL, race_alloc, outs[i]);
		for (int i = 0; i < 4; i++)
			pthread_join(th[i], NULL);
		for (int i = 0; i < 64; i++) {
			uintptr_t a = (uintptr_t)outs[i / 16][i % 16], al = 4096 * (uintptr_t)(i % 16 + 1);

			if (!a)
				continue;
			got++;
			for (int j = i + 1; j < 64; j++) {
				uintptr_t b = (uintptr_t)outs[j / 16][j % 16], bl = 4096 * (uintptr_t)(j % 16 + 1);

				if (b && a < b + bl && b < a + al)
					overlap++;
			}
		}
		ok(got == 64 && overlap == 0, "4 threads x 16 allocations: %d made, %d overlaps", got, overlap);
		for (int i = 0; i < 64; i++)
			if (outs[i / 16][i % 16])
				sva_mem_free(NULL, outs[i / 16][i % 16], 4096 * (size_t)(i % 16 + 1));
	}
}

static int order[4], norder;
static pthread_t main_thread;
static int cb_other_thread;

static void order_exit(struct sva_bond *bond, void *drvdata)
{
	(void)bond;
	if (norder < 4)
		order[norder++] = (int)(intptr_t)drvdata;
	if (!pthread_equal(pthread_self(), main_thread))
		cb_other_thread++;
}

/* sva_dev_close(3): bonds unbound most recent first, callbacks in the calling thread; global PASIDs stay the context's */
static void close_order(struct sva_ctx *ctx)
{
	struct sva_bond_ops ops = { .size = sizeof(ops), .mm_exit = order_exit };
	struct sva_mm_opts mmo = { .size = sizeof(mmo) };
	struct sva_dev *a = NULL, *b = NULL;
	struct sva_mm *mm[3] = { NULL, NULL, NULL };
	uint32_t gp = 0;
	int ret;

	main_thread = pthread_self();
	norder = 0;
	if (sva_dev_open_mock(ctx, NULL, &a) || sva_dev_open_mock(ctx, NULL, &b)) {
		ok(0, "close order: two mocks");
		return;
	}
	for (int i = 0; i < 3; i++) {
		struct sva_bind_opts bo = { .size = sizeof(bo), .ops = &ops, .drvdata = (void *)(intptr_t)(i + 1) };
		struct sva_bond *bond;

		if (sva_mm_new(ctx, &mmo, &mm[i]) || sva_bind(a, mm[i], &bo, &bond))
			ok(0, "close order: bind %d", i);
	}
	ret = sva_dev_pasid_alloc(a, SVA_PASID_GLOBAL, NULL, &gp);
	ok(ret == 0, "a global PASID through device A (%d: %u)", ret, gp);
	sva_dev_close(a);
	ok(norder == 3 && order[0] == 3 && order[1] == 2 && order[2] == 1,
	   "sva_dev_close: mm_exit of every bond, most recent first (%d: %d %d %d)", norder, order[0], order[1], order[2]);
	ok(cb_other_thread == 0, "  in the calling thread");
	if (!ret) {
		ret = sva_dev_pasid_free(b, gp);
		ok(ret == 0, "the global PASID outlives device A: freed through device B (%d)", ret);
	}
	sva_dev_close(b);
	for (int i = 0; i < 3; i++)
		sva_mm_free(mm[i]);
}

static void thread_checks(struct sva_ctx *ctx)
{
	pthread_t t[4];
	intptr_t bad = 0;
	int before = count_fds();

	thr_ctx = ctx;
	for (int i = 0; i < 4; i++)
		pthread_create(&t[i], NULL, thr_open, NULL);
	for (int i = 0; i < 4; i++) {
		void *r;

		pthread_join(t[i], &r);
		bad += (intptr_t)r;
	}
	ok(bad == 0, "4 threads opening and closing mocks at once: no failure (%ld)", (long)bad);
	ok(count_fds() == before, "  and no descriptor left (%d -> %d)", before, count_fds());
}

static void fd_limit_checks(struct sva_ctx *ctx)
{
	pid_t pid = fork();
	int rc;

	if (pid == 0) {
		/* a fresh context in the child: the parent's refuses with -ECHILD */
		struct sva_ctx *c;
		struct rlimit rl;
		int fd = open("/dev/null", O_RDWR), bad = 0, ret;
		struct sva_dev *d = SENTINEL;

		c = new_ctx();
		getrlimit(RLIMIT_NOFILE, &rl);
		rl.rlim_cur = (rlim_t)count_fds() + 1;
		setrlimit(RLIMIT_NOFILE, &rl);
		while (dup(0) >= 0)
			;
		ret = sva_dev_open_fd(c, fd, &d);
		if (ret != -EMFILE || d != SENTINEL)
			bad |= 1, fprintf(stderr, "# open_fd with no fd free: %d\n", ret);
		ret = sva_dev_open(c, "/dev/null", &d);
		if (ret != -EMFILE || d != SENTINEL)
			bad |= 2, fprintf(stderr, "# open with no fd free: %d\n", ret);
		fprintf(stderr, "# step rlimit 3\n");
		rl.rlim_cur = 3;
		setrlimit(RLIMIT_NOFILE, &rl);
		ret = sva_dev_open_fd(c, fd, &d);
		if (ret != -EINVAL)
			bad |= 8, fprintf(stderr, "# open_fd with RLIMIT_NOFILE 3: %d\n", ret);
		fprintf(stderr, "# step exit\n");
		_exit(bad);
	}
	(void)ctx;
	rc = wait_child(pid);
	ok(rc == 0, "no descriptor free: open_fd -EMFILE, open -EMFILE; RLIMIT_NOFILE 3: open_fd -EINVAL (%#x)", rc);
}

static void mock_checks(struct sva_ctx *ctx)
{
	struct sva_mock_opts mo = { .size = sizeof(mo) };
	struct {
		struct sva_mock_opts o;
		char extra[8];
	} big;
	struct sva_dev *dev = SENTINEL, *d2;
	struct sva_dev_info info;
	struct {
		struct sva_dev_info i;
		unsigned char extra[32];
	} binfo;
	int before = count_fds(), ret;

	ok(sva_dev_open_mock(NULL, NULL, &dev) == -EINVAL && dev == SENTINEL, "mock: NULL ctx: -EINVAL");
	ok(sva_dev_open_mock(ctx, NULL, NULL) == -EINVAL, "mock: NULL out: -EINVAL");
	mo.size = 0;
	lines_reset();
	ok(sva_dev_open_mock(ctx, &mo, &dev) == -EINVAL && dev == SENTINEL, "mock: size 0: -EINVAL");
	ok(lines.error == 1, "  one line at error level (%d)", lines.error);
	mo.size = sizeof(size_t) + 4;
	ok(sva_dev_open_mock(ctx, &mo, &dev) == -EINVAL && dev == SENTINEL, "mock: size too small: -EINVAL");
	mo.size = sizeof(mo);
	mo.reserved = 1;
	ok(sva_dev_open_mock(ctx, &mo, &dev) == -EINVAL && dev == SENTINEL, "mock: reserved != 0: -EINVAL");
	mo.reserved = 0;
	mo.flags = 2;
	ok(sva_dev_open_mock(ctx, &mo, &dev) == -EINVAL && dev == SENTINEL, "mock: unknown flag: -EINVAL");
	mo.flags = 1u << 31;
	ok(sva_dev_open_mock(ctx, &mo, &dev) == -EINVAL && dev == SENTINEL, "mock: flag bit 31: -EINVAL");
	memset(&big, 0, sizeof(big));
	big.o.size = sizeof(big);
	big.extra[7] = 1;
	ok(sva_dev_open_mock(ctx, &big.o, &dev) == -EINVAL && dev == SENTINEL,
	   "mock: larger size, non-zero byte beyond: -EINVAL");
	ok(count_fds() == before, "mock: the failures leave no descriptor (%d -> %d)", before, count_fds());
	big.extra[7] = 0;
	ret = sva_dev_open_mock(ctx, &big.o, &d2);
	ok(ret == 0, "mock: larger size, zeros beyond: opens (%d)", ret);
	if (ret == 0)
		sva_dev_close(d2);
	ok(count_fds() == before, "mock: close gives back every descriptor (%d -> %d)", before, count_fds());

	mo.flags = SVA_MOCK_NO_PASID;
	ret = sva_dev_open_mock(ctx, &mo, &d2);
	ok(ret == 0, "mock: SVA_MOCK_NO_PASID opens");
	if (ret == 0) {
		info = (struct sva_dev_info){ .size = sizeof(info) };
		ok(sva_dev_get_info(d2, &info) == 0 && info.max_pasid_log2 == 0, "  PASID width 0 (%u)",
		   info.max_pasid_log2);
		sva_dev_close(d2);
	}

	ret = sva_dev_open_mock(ctx, NULL, &dev);
	ok(ret == 0, "mock: NULL opts opens");
	if (ret)
		exit(1);
	memset(&info, 0xa5, sizeof(info));
	info.size = sizeof(info);
	ok(sva_dev_get_info(dev, &info) == 0, "get_info on the mock");
	ok(info.size == sizeof(info), "  size left as it was");
	ok(info.flags & SVA_DEV_MOCK, "  SVA_DEV_MOCK");
	ok(!(info.flags & SVA_DEV_PCI), "  not SVA_DEV_PCI");
	ok(!(info.flags & SVA_DEV_ATTACHED), "  not SVA_DEV_ATTACHED before any bind");
	ok(info.iommu_type == SVA_IOMMU_SELFTEST, "  iommu_type SVA_IOMMU_SELFTEST (%u)", info.iommu_type);
	ok(info.max_pasid_log2 == 20, "  20-bit PASID space (%u)", info.max_pasid_log2);
	ok(info.numa_node == -1, "  NUMA node -1 (%d)", info.numa_node);
	ok(info.pci_addr[0] == '\0', "  no PCI address");
	ok(info.path[0] == '\0', "  no path");
	ok(info.reserved == 0, "  reserved 0 (%#x)", info.reserved);
	ok(info.dev_id != 0, "  a dev_id (%u)", info.dev_id);

	memset(&binfo, 0xa5, sizeof(binfo));
	binfo.i.size = sizeof(binfo);
	ok(sva_dev_get_info(dev, &binfo.i) == 0, "get_info with a larger size");
	{
		int zero = 1;

		for (size_t i = 0; i < sizeof(binfo.extra); i++)
			zero &= binfo.extra[i] == 0;
		ok(zero, "  the rest zeroed");
		ok(binfo.i.size == sizeof(binfo), "  size left as it was (%zu)", binfo.i.size);
	}
	lines_reset();
	info.size = sizeof(info) - 1;
	ok(sva_dev_get_info(dev, &info) == -EINVAL, "get_info: size one byte short: -EINVAL");
	info.size = 0;
	ok(sva_dev_get_info(dev, &info) == -EINVAL, "get_info: size 0: -EINVAL");
	ok(sva_dev_get_info(NULL, &info) == -EINVAL, "get_info: NULL dev: -EINVAL");
	ok(sva_dev_get_info(dev, NULL) == -EINVAL, "get_info: NULL info: -EINVAL");
	ok(sva_dev_fd(dev) == -ENODEV, "sva_dev_fd of the mock: -ENODEV");
	ok(sva_dev_fd(NULL) == -EINVAL, "sva_dev_fd(NULL): -EINVAL");
	ok(lines.error + lines.other + lines.debug == 0,
	   "  none of those errors on the context's log (%d %d %d: %s; a NULL dev's line is the process-wide log's)",
	   lines.error, lines.other, lines.debug, lines.last);

	/* iova ranges before any bind */
	{
		struct sva_iova_range r[8];
		size_t nr = 8;

		lines_reset();
		ret = sva_dev_iova_ranges(dev, r, &nr);
		ok(ret == -ENOTCONN, "iova_ranges before any bind: -ENOTCONN (%d)", ret);
		ok(lines.error == 0 && lines.other == 0 && lines.debug >= 1,
		   "  logged at debug level only (error %d other %d debug %d)", lines.error, lines.other, lines.debug);
		nr = 8;
		ok(sva_dev_iova_ranges(NULL, r, &nr) == -EINVAL, "iova_ranges: NULL dev: -EINVAL");
		ok(sva_dev_iova_ranges(dev, r, NULL) == -EINVAL, "iova_ranges: NULL nr: -EINVAL");
		nr = 1;
		lines_reset();
		ok(sva_dev_iova_ranges(dev, NULL, &nr) == -EINVAL, "iova_ranges: *nr 1, NULL ranges: -EINVAL");
		ok(lines.error + lines.other == 0, "  not logged");
	}

	/* bind a PASID, then the ranges, ATTACHED */
	{
		struct sva_mm_opts mmo = { .size = sizeof(mmo) };
		struct sva_mm *mm = NULL, *mm2 = NULL;
		struct sva_bind_opts bo = { .size = sizeof(bo) };
		struct sva_bond *bond = NULL;
		struct sva_iova_range r[64];
		size_t nr;

		if (sva_mm_new(ctx, &mmo, &mm) || sva_bind(dev, mm, &bo, &bond)) {
			ok(0, "a PASID bind of the mock");
			exit(1);
		}
		info = (struct sva_dev_info){ .size = sizeof(info) };
		ok(sva_dev_get_info(dev, &info) == 0 && (info.flags & SVA_DEV_ATTACHED),
		   "after a PASID bind: SVA_DEV_ATTACHED (parked)");
		nr = 0;
		ret = sva_dev_iova_ranges(dev, NULL, &nr);
		ok((ret == -ENOSPC && nr >= 1) || (ret == 0 && nr == 0), "iova_ranges *nr 0: -ENOSPC and the count (%d, %zu)",
		   ret, nr);
		{
			size_t want = nr;

			nr = 64;
			ret = sva_dev_iova_ranges(dev, r, &nr);
			ok(ret == 0 && nr == want, "iova_ranges: %zu ranges", nr);
			for (size_t i = 0; i < nr; i++) {
				ok(r[i].start <= r[i].last, "  range %zu %#llx-%#llx", i, (unsigned long long)r[i].start,
				   (unsigned long long)r[i].last);
				if (i)
					ok(r[i].start > r[i - 1].last, "  ascending");
			}
			if (want >= 2) {
				struct sva_iova_range s[2] = { { 1, 1 }, { 7, 7 } };

				nr = 1;
				lines_reset();
				ret = sva_dev_iova_ranges(dev, s, &nr);
				ok(ret == -ENOSPC && nr == want && s[0].start == r[0].start && s[1].start == 7,
				   "  too small: -ENOSPC, first filled, count set, no more written");
				ok(lines.error + lines.other + lines.debug == 0, "  -ENOSPC not logged (%d %d %d)", lines.error,
				   lines.other, lines.debug);
			}
		}

		/* sva_mem_alloc in the device's window */
		{
			struct sva_mem_opts o = { .size = sizeof(o), .dev = dev, .mm = mm };
			void *m = (void *)0x77, *m2 = NULL;
			size_t len = 3 * 4096 + 1;
			struct {
				struct sva_mem_opts o;
				char extra[8];
			} bo2;

			ret = sva_mem_alloc(len, &o, &m);
			ok(ret == 0, "sva_mem_alloc with dev and mm (%d)", ret);
			if (ret == 0) {
				uintptr_t a = (uintptr_t)m;
				int inside = 0;

				ok(a % 4096 == 0, "  page aligned (%p)", m);
				ok(a >= 16u << 20, "  at 16 MiB or above");
				nr = 64;
				sva_dev_iova_ranges(dev, r, &nr);
				for (size_t i = 0; i < nr; i++)
					if (a >= r[i].start && a + 4 * 4096 - 1 <= r[i].last)
						inside = 1;
				ok(inside, "  inside the device's window");
				{
					const unsigned char *c = m;
					int zero = 1;

					for (size_t i = 0; i < 4 * 4096; i++)
						zero &= c[i] == 0;
					ok(zero, "  zero-filled, the whole rounded length");
				}
				memset(m, 0x11, 4 * 4096);
				child_checks(ctx, dev, mm, m, len);
				lines_reset();
				ok(sva_mem_free(mm, m, 4096) == -EINVAL, "mem_free: wrong len: -EINVAL");
				ok(lines.error == 1, "  one line at error level (%d)", lines.error);
				ok(((volatile char *)m)[4096 * 3] == 0x11, "  still mapped");
				ok(sva_mem_free(mm, (char *)m + 4096, 3 * 4096) == -EINVAL, "mem_free: pointer into it: -EINVAL");
				ok(sva_mem_free(mm, m, 0) == -EINVAL, "mem_free: len 0: -EINVAL");
				ok(sva_mem_free(mm, NULL, 4096) == -EINVAL, "mem_free: NULL addr: -EINVAL");
				ok(sva_mem_free(mm, m, 5 * 4096) == -EINVAL, "mem_free: len bigger than rounded: -EINVAL");
				ok(sva_mem_free(mm, m, 4 * 4096) == 0, "mem_free: rounded len: 0");
				ok(sva_mem_free(mm, m, 4 * 4096) == -EINVAL, "mem_free: double free: -EINVAL");
			}
			ret = sva_mem_alloc(len, &o, &m2);
			ok(ret == 0 && sva_mem_free(NULL, m2, len) == 0, "mem_free with the asked len and NULL mm: 0");

			/* errors */
			m = (void *)0x77;
			ok(sva_mem_alloc(0, &o, &m) == -EINVAL && m == (void *)0x77, "mem_alloc: len 0: -EINVAL");
			ok(sva_mem_alloc(4096, &o, NULL) == -EINVAL, "mem_alloc: NULL out: -EINVAL");
			o.size = sizeof(o) - 1;
			ok(sva_mem_alloc(4096, &o, &m) == -EINVAL && m == (void *)0x77, "mem_alloc: small size: -EINVAL");
			o.size = 0;
			ok(sva_mem_alloc(4096, &o, &m) == -EINVAL, "mem_alloc: size 0: -EINVAL");
			o.size = sizeof(o);
			memset(&bo2, 0, sizeof(bo2));
			bo2.o = o;
			bo2.o.size = sizeof(bo2);
			bo2.extra[3] = 1;
			ok(sva_mem_alloc(4096, &bo2.o, &m) == -EINVAL, "mem_alloc: larger size, non-zero beyond: -EINVAL");
			bo2.extra[3] = 0;
			ret = sva_mem_alloc(4096, &bo2.o, &m2);
			ok(ret == 0, "mem_alloc: larger size, zeros beyond: 0 (%d)", ret);
			if (!ret)
				sva_mem_free(mm, m2, 4096);
			o.flags = 1u << 4;
			ok(sva_mem_alloc(4096, &o, &m) == -EINVAL, "mem_alloc: unknown flag: -EINVAL");
			o.flags = SVA_MEM_NODE | SVA_MEM_ANY_NODE;
			ok(sva_mem_alloc(4096, &o, &m) == -EINVAL, "mem_alloc: NODE and ANY_NODE: -EINVAL");
			o.flags = SVA_MEM_NODE;
			o.numa_node = -1;
			ok(sva_mem_alloc(4096, &o, &m) == -EINVAL, "mem_alloc: NODE with -1: -EINVAL");
			o.numa_node = 999;
			lines_reset();
			ret = sva_mem_alloc(4096, &o, &m);
			ok(ret == -ENODEV && m == (void *)0x77, "mem_alloc: NODE 999: -ENODEV (%d)", ret);
			ok(lines.error == 1, "  one line at error level (%d)", lines.error);
			o.numa_node = 0;
			o.flags = SVA_MEM_PREFAULT;
			o.mm = NULL;
			ok(sva_mem_alloc(4096, &o, &m) == -EINVAL, "mem_alloc: PREFAULT without mm: -EINVAL");
			o.flags = 0;
			o.mm = mm;
			lines_reset();
			ret = sva_mem_alloc(SIZE_MAX - 4095, &o, &m);
			ok(ret == -ENOSPC && m == (void *)0x77, "mem_alloc: len larger than any window: -ENOSPC (%d)", ret);
			ok(lines.error == 0, "  not at error level (%d): %s", lines.error, lines.last);
			ret = sva_mem_alloc(1ull << 40, &o, &m);
			ok(ret == -ENOSPC && m == (void *)0x77, "mem_alloc: 1 TiB in the mock's window: -ENOSPC (%d)", ret);
			/* dev and mm of different contexts */
			{
				struct sva_ctx *c2 = new_ctx();
				struct sva_mm *m3 = NULL;

				if (sva_mm_new(c2, &mmo, &m3) == 0) {
					o.mm = m3;
					ok(sva_mem_alloc(4096, &o, &m) == -EINVAL && m == (void *)0x77,
					   "mem_alloc: dev and mm in different contexts: -EINVAL");
					sva_mm_free(m3);
				}
				sva_ctx_free(c2);
				o.mm = mm;
			}
			/* prefault: visible at once */
			o.flags = SVA_MEM_PREFAULT | SVA_MEM_HUGE;
			ret = sva_mem_alloc(4096, &o, &m2);
			ok(ret == 0, "mem_alloc PREFAULT|HUGE (%d)", ret);
			if (!ret) {
				ok((uintptr_t)m2 % (2u << 20) == 0, "  2 MiB aligned (%p)", m2);
				ok(sva_mem_free(mm, m2, 2u << 20) == 0, "  freed with the rounded 2 MiB length");
			}
			(void)mm2;
		}
		sva_unbind(bond);
		info = (struct sva_dev_info){ .size = sizeof(info) };
		ok(sva_dev_get_info(dev, &info) == 0 && (info.flags & SVA_DEV_ATTACHED),
		   "after the last unbind: still SVA_DEV_ATTACHED (parked until close)");
		sva_mm_free(mm);
	}
	placement_checks(ctx, dev);
	sva_dev_close(dev);
	KTEST_QUIET_NOOP(sva_dev_close(NULL), "sva_dev_close(NULL)");
	close_in_callback(ctx);
	thread_checks(ctx);
	close_order(ctx);
	race_checks(ctx);
	fd_limit_checks(ctx);
}

/* --------------------------------------------------------------- vtd39 */

/* In a child with a mount namespace of its own, `over` hidden under an empty tmpfs. */
static int hide(const char *over)
{
	if (unshare(CLONE_NEWNS) || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) ||
	    mount("none", over, "tmpfs", 0, NULL)) {
		fprintf(stderr, "# cannot hide %s: %s\n", over, strerror(errno));
		return -1;
	}
	return 0;
}

static void real_ns_checks(const char *addr, const char *cdev, const char *p)
{
	pid_t pid;
	int rc;

	/* sva_dev_open_fd(3) NOTES: without /proc, no path (and, the page says, no PCI address) */
	pid = fork();
	if (pid == 0) {
		int fd = open(p, O_RDWR | O_CLOEXEC), ret;
		struct sva_ctx *c = new_ctx();
		struct sva_dev *d = NULL;
		struct sva_dev_info info = { .size = sizeof(info) };

		if (fd < 0 || hide("/proc"))
			_exit(90);
		ret = sva_dev_open_fd(c, fd, &d);
		if (ret)
			_exit(91);
		sva_dev_get_info(d, &info);
		fprintf(stderr, "# without /proc: path '%s' pci_addr '%s' flags %#x\n", info.path, info.pci_addr,
			info.flags);
		_exit((info.path[0] ? 1 : 0) | (info.pci_addr[0] ? 2 : 0) | ((info.flags & SVA_DEV_PCI) ? 4 : 0));
	}
	rc = wait_child(pid);
	ok(rc == 6, "open_fd without /proc: no path, but the PCI address from the device number (%d)", rc);

	/* BUGS: SYSFS_ROOT/dev/char unreadable: an already open device is -ENOTTY; names used instead */
	pid = fork();
	if (pid == 0) {
		struct sva_ctx *c = new_ctx();
		struct sva_dev *d = NULL, *d2 = SENTINEL;
		struct sva_dev_info info = { .size = sizeof(info) };
		struct stat st;
		int bad = 0, ret;

		if (hide("/sys/dev"))
			_exit(90);
		ret = sva_dev_open(c, cdev, &d);
		if (ret)
			_exit(91);
		sva_dev_get_info(d, &info);
		if (strcmp(info.pci_addr, addr))
			bad |= 1, fprintf(stderr, "# no dev/char, by cdev name: pci '%s'\n", info.pci_addr);
		ret = sva_dev_open(c, cdev, &d2);
		if (ret != -ENOTTY && ret != -EBUSY)
			bad |= 2;
		fprintf(stderr, "# no dev/char: second open %d (BUGS says -ENOTTY)\n", ret);
		sva_dev_close(d);
		/* a node under another name: no PCI address */
		if (stat(p, &st) == 0 && mknod("/tmp/vfio77", S_IFCHR | 0600, st.st_rdev) == 0) {
			d = NULL;
			ret = sva_dev_open(c, "/tmp/vfio77", &d);
			info = (struct sva_dev_info){ .size = sizeof(info) };
			if (ret == 0)
				sva_dev_get_info(d, &info);
			if (ret || info.pci_addr[0] || (info.flags & SVA_DEV_PCI))
				bad |= 4;
			fprintf(stderr, "# no dev/char, node named vfio77: %d pci '%s'\n", ret, info.pci_addr);
			if (!ret)
				sva_dev_close(d);
			unlink("/tmp/vfio77");
		}
		_exit(bad);
	}
	rc = wait_child(pid);
	ok(rc == 0, "without sysfs dev/char: name used for the PCI address, another name gives none (%d)", rc);

	/* -EMFILE after the bind (the NUMA node's sysfs file), then a retry takes the bind over */
	pid = fork();
	if (pid == 0) {
		struct sva_ctx *c = new_ctx();
		struct sva_dev *d = SENTINEL;
		int fd = open(p, O_RDWR | O_CLOEXEC), ret, bad = 0, last = -1, n;
		struct rlimit rl;

		getrlimit(RLIMIT_NOFILE, &rl);
		rl.rlim_cur = 64;
		setrlimit(RLIMIT_NOFILE, &rl);
		while ((n = dup(0)) >= 0)
			last = n;
		close(last); /* one free: for libsva's duplicate */
		lines_reset();
		ret = sva_dev_open_fd(c, fd, &d);
		fprintf(stderr, "# open_fd with one fd free: %d (%d error lines: %s)\n", ret, lines.error, lines.last);
		if ((ret != -EMFILE && ret != -ENFILE) || d != SENTINEL)
			bad |= 1;
		if (lines.error != 1)
			bad |= 8;
		for (int i = 0; i < 8; i++)
			close(last - 1 - i);
		ret = sva_dev_open_fd(c, fd, &d);
		fprintf(stderr, "# the retry: %d\n", ret);
		if (ret)
			bad |= 2;
		else
			sva_dev_close(d);
		d = SENTINEL;
		ret = sva_dev_open(c, cdev, &d);
		fprintf(stderr, "# sva_dev_open while the caller's fd is open: %d\n", ret);
		if (ret != -EBUSY)
			bad |= 4;
		_exit(bad);
	}
	rc = wait_child(pid);
	ok(rc == 0, "open_fd: -EMFILE after the bind, one line; the retry takes the bind over (%d)", rc);

	/* no descriptor free, or one: sysfs reads fail with -EMFILE, never taken for something else */
	pid = fork();
	if (pid == 0) {
		struct sva_ctx *c = new_ctx();
		struct sva_dev *d = SENTINEL;
		char other[256];
		int ret, bad = 0, last = -1, n, has_other = edu_find_pci_vfio(0, other, sizeof(other));
		struct rlimit rl;

		getrlimit(RLIMIT_NOFILE, &rl);
		rl.rlim_cur = 64;
		setrlimit(RLIMIT_NOFILE, &rl);
		while ((n = dup(0)) >= 0)
			last = n;
		ret = sva_dev_open(c, addr, &d);
		fprintf(stderr, "# open by PCI address, no fd free: %d\n", ret);
		if ((ret != -EMFILE && ret != -ENFILE) || d != SENTINEL)
			bad |= 1;
		if (has_other) {
			ret = sva_dev_open(c, other, &d);
			fprintf(stderr, "# open of %s (no vfio-dev), no fd free: %d\n", other, ret);
			if (ret != -EMFILE && ret != -ENFILE && ret != -ENODEV)
				bad |= 2;
		}
		close(last); /* one free: the node opens and binds, the NUMA node's file does not */
		ret = sva_dev_open(c, cdev, &d);
		fprintf(stderr, "# open by cdev name, one fd free: %d\n", ret);
		if ((ret != -EMFILE && ret != -ENFILE) || d != SENTINEL)
			bad |= 4;
		for (int i = 1; i < 8; i++)
			close(last - i);
		ret = sva_dev_open(c, cdev, &d);
		fprintf(stderr, "# and again with fds free: %d\n", ret);
		if (ret)
			bad |= 8;
		else {
			int old = sva_dev_fd(d);

			sva_dev_close(d);
			if (fcntl(old, F_GETFD) >= 0)
				bad |= 16;
		}
		_exit(bad);
	}
	rc = wait_child(pid);
	ok(rc == 0, "sva_dev_open with no fd free: -EMFILE; failing after the bind leaves nothing bound; close closes "
		    "sva_dev_fd's descriptor (%d)", rc);
}

/* Two threads open one real device at once (sva_dev_open(3): thread-safe;
 * -EBUSY "a second sva_dev_open() of the same device"). */
struct same_open {
	struct sva_ctx *ctx;
	const char *name;
	pthread_barrier_t *go;
	struct sva_dev *dev;
	int ret;
};

static void *same_open_thr(void *arg)
{
	struct same_open *o = arg;

	pthread_barrier_wait(o->go);
	o->ret = sva_dev_open(o->ctx, o->name, &o->dev);
	return NULL;
}

static void same_device_race(struct sva_ctx *ctx, const char *name)
{
	int before = count_fds(), won = 0, busy = 0, other = 0, last_other = 0;

	for (int round = 0; round < 20; round++) {
		pthread_barrier_t go;
		struct same_open o[2] = { { ctx, name, &go, SENTINEL, 1 }, { ctx, name, &go, SENTINEL, 1 } };
		pthread_t t[2];

		pthread_barrier_init(&go, NULL, 2);
		for (int i = 0; i < 2; i++)
			pthread_create(&t[i], NULL, same_open_thr, &o[i]);
		for (int i = 0; i < 2; i++)
			pthread_join(t[i], NULL);
		pthread_barrier_destroy(&go);
		for (int i = 0; i < 2; i++) {
			if (o[i].ret == 0)
				won++;
			else if (o[i].ret == -EBUSY && o[i].dev == SENTINEL)
				busy++;
			else
				other++, last_other = o[i].ret;
		}
		for (int i = 0; i < 2; i++)
			if (o[i].ret == 0)
				sva_dev_close(o[i].dev);
	}
	ok(won == 20 && busy == 20 && other == 0,
	   "two threads open %s at once, 20 times: one opens, the other -EBUSY, *out untouched (%d, %d, %d: %d)",
	   name, won, busy, other, last_other);
	ok(count_fds() == before, "  and no descriptor left (%d -> %d)", before, count_fds());
}

static void real_checks(struct sva_ctx *ctx)
{
	char addr[256], cdev[256] = "", p[600], upper[256], shortf[256];
	struct sva_dev *dev = SENTINEL, *d2 = SENTINEL;
	struct sva_dev_info info = { .size = sizeof(info) };
	int ret, fd, before;

	if (!edu_find(addr, sizeof(addr), NULL, 0)) {
		ok(0, "the edu device is there");
		return;
	}
	/* found without its cdev, so that a missing one fails the check below */
	if (edu_find_cdev(addr, p, sizeof(p))) {
		const char *name = strrchr(p, '/') + 1;

		if (strlen(name) < sizeof(cdev))
			memcpy(cdev, name, strlen(name) + 1);
	}
	ok(cdev[0], "edu %s has a vfio cdev (%s)", addr, cdev);
	before = count_fds();
	ret = sva_dev_open(ctx, addr, &dev);
	ok(ret == 0, "sva_dev_open by PCI address %s (%d)", addr, ret);
	if (ret)
		return;
	ok(sva_dev_get_info(dev, &info) == 0, "get_info of edu");
	ok(info.flags & SVA_DEV_PCI, "  SVA_DEV_PCI");
	ok(!(info.flags & SVA_DEV_MOCK), "  not SVA_DEV_MOCK");
	ok(!strcmp(info.pci_addr, addr), "  pci_addr %s", info.pci_addr);
	snprintf(p, sizeof(p), "/dev/vfio/devices/%s", cdev);
	ok(!strcmp(info.path, p), "  path %s", info.path);
	ok(info.iommu_type == SVA_IOMMU_INTEL_VTD, "  iommu_type intel-vtd (%u: %s)", info.iommu_type,
	   sva_iommu_type_name(info.iommu_type));
	ok(info.numa_node == -1 || info.numa_node >= 0, "  numa node %d", info.numa_node);
	ok(info.reserved == 0, "  reserved 0");
	ok(sva_dev_fd(dev) >= 0, "sva_dev_fd >= 0 (%d)", sva_dev_fd(dev));
	ok(fcntl(sva_dev_fd(dev), F_GETFD) & FD_CLOEXEC, "  close-on-exec");
	lines_reset();
	ret = sva_dev_open(ctx, cdev, &d2);
	ok(ret == -EBUSY && d2 == SENTINEL, "a second open of the same device: -EBUSY (%d)", ret);
	ok(lines.error == 1, "  one line at error level (%d)", lines.error);
	ret = sva_dev_open(ctx, p, &d2);
	ok(ret == -EBUSY && d2 == SENTINEL, "a second open by path: -EBUSY (%d)", ret);
	{
		struct sva_iova_range r[4];
		size_t nr = 4;

		ok(sva_dev_iova_ranges(dev, r, &nr) == -ENOTCONN, "iova_ranges of an unbound edu: -ENOTCONN");
	}
	sva_dev_close(dev);
	ok(count_fds() == before, "close gives back the descriptors (%d -> %d)", before, count_fds());
	{
		/* sva_dev_open(3), ERRORS: "-ENOMEM Out of memory."  Each of
		 * libsva's allocations in the open failing in turn (test_fail.h):
		 * -ENOMEM, *out untouched, no descriptor left. */
		int n, failed = 0, other = 0, touched = 0, leaked = 0;

		ret = -1;
		for (n = 1; n < 100 && ret; n++) {
			d2 = SENTINEL;
			sva_test_fail_nth(n);
			ret = sva_dev_open(ctx, addr, &d2);
			sva_test_fail_nth(0);
			if (!ret) {
				sva_dev_close(d2);
				break;
			}
			failed++;
			if (ret != -ENOMEM) {
				diag("failure point %d: %d (%s)", n, ret, strerror(-ret));
				other++;
			}
			touched += d2 != SENTINEL;
			leaked += count_fds() != before;
		}
		ok(ret == 0 && failed > 0, "sva_dev_open of edu, its n-th allocation failing: %d failed, then it opens",
		   failed);
		is_int(other, 0, "  each failure is -ENOMEM");
		ok(!touched && !leaked, "  *out untouched and no descriptor left by any (%d, %d)", touched, leaked);
	}

	/* the other spellings */
	for (size_t i = 0; addr[i]; i++)
		upper[i] = (char)(addr[i] >= 'a' && addr[i] <= 'f' ? addr[i] - 32 : addr[i]), upper[i + 1] = 0;
	snprintf(shortf, sizeof(shortf), "%s", addr + 5); /* "BB:DD.F" */
	{
		const char *names[] = { cdev, p, upper, shortf };

		for (size_t i = 0; i < 4; i++) {
			dev = NULL;
			ret = sva_dev_open(ctx, names[i], &dev);
			info = (struct sva_dev_info){ .size = sizeof(info) };
			ok(ret == 0 && sva_dev_get_info(dev, &info) == 0 && !strcmp(info.pci_addr, addr),
			   "open by \"%s\": %d, pci_addr %s", names[i], ret, info.pci_addr);
			if (!ret)
				sva_dev_close(dev);
		}
	}
	/* a symbolic link is a PCI device too */
	unlink("/tmp/ktest-dev-contract-link");
	if (symlink(p, "/tmp/ktest-dev-contract-link") == 0) {
		dev = NULL;
		ret = sva_dev_open(ctx, "/tmp/ktest-dev-contract-link", &dev);
		info = (struct sva_dev_info){ .size = sizeof(info) };
		ok(ret == 0 && sva_dev_get_info(dev, &info) == 0 && !strcmp(info.pci_addr, addr) &&
			   (info.flags & SVA_DEV_PCI),
		   "open by a symbolic link: %d, pci_addr %s", ret, info.pci_addr);
		if (!ret)
			sva_dev_close(dev);
		unlink("/tmp/ktest-dev-contract-link");
	}

	/* other spellings and holders */
	{
		char dom1[300], node[] = "/tmp/ktest-dev-contract-node";
		struct stat st;
		pid_t pid;
		int pfd[2], w;

		snprintf(dom1, sizeof(dom1), "0:%s", addr + 5);
		dev = NULL;
		ret = sva_dev_open(ctx, dom1, &dev);
		ok(ret == 0, "open by \"%s\" (1-digit domain): %d", dom1, ret);
		if (!ret)
			sva_dev_close(dev);
		unlink(node);
		if (stat(p, &st) == 0 && mknod(node, S_IFCHR | 0600, st.st_rdev) == 0) {
			dev = NULL;
			ret = sva_dev_open(ctx, node, &dev);
			info = (struct sva_dev_info){ .size = sizeof(info) };
			ok(ret == 0 && sva_dev_get_info(dev, &info) == 0 && !strcmp(info.pci_addr, addr) &&
				   !strcmp(info.path, node),
			   "open by a mknod node elsewhere: %d, pci_addr %s path %s", ret, info.pci_addr, info.path);
			if (!ret)
				sva_dev_close(dev);
			unlink(node);
		}
		/* a forked child's copy holds the device */
		dev = NULL;
		if (sva_dev_open(ctx, cdev, &dev) == 0 && pipe(pfd) == 0) {
			pid = fork();
			if (pid == 0) {
				char c;

				close(pfd[1]);
				if (read(pfd[0], &c, 1) < 0)
					_exit(1);
				_exit(0);
			}
			close(pfd[0]);
			sva_dev_close(dev);
			d2 = SENTINEL;
			ret = sva_dev_open(ctx, cdev, &d2);
			ok(ret == -EBUSY && d2 == SENTINEL, "closed, but a forked child holds its copy: -EBUSY (%d)", ret);
			close(pfd[1]);
			waitpid(pid, &w, 0);
			dev = NULL;
			ret = sva_dev_open(ctx, cdev, &dev);
			ok(ret == 0, "the child exited: opens again (%d)", ret);
			/* a BAR mapping holds it too */
			if (!ret) {
				void *bar = mmap(NULL, 4096, PROT_READ, MAP_SHARED, sva_dev_fd(dev), 0);

				ok(bar != MAP_FAILED, "mmap of BAR0");
				sva_dev_close(dev);
				if (bar != MAP_FAILED) {
					d2 = SENTINEL;
					ret = sva_dev_open(ctx, cdev, &d2);
					ok(ret == -EBUSY && d2 == SENTINEL, "closed with BAR0 mapped: -EBUSY (%d)", ret);
					munmap(bar, 4096);
				}
				dev = NULL;
				ret = sva_dev_open(ctx, cdev, &dev);
				ok(ret == 0, "BAR unmapped: opens again (%d)", ret);
				if (!ret)
					sva_dev_close(dev);
			}
		/* sva_dev_open(3), -EBUSY: a child's copy holds the device until the
		 * child exits, execs "or calls sva_dev_close(3) on its copy": the
		 * parent opens it again while that child still lives. */
		dev = NULL;
		if (sva_dev_open(ctx, cdev, &dev) == 0 && pipe(pfd) == 0) {
			int done[2];
			char c = 0;

			if (pipe(done))
				tap_bail("pipe");
			pid = fork();
			if (pid == 0) {
				close(pfd[1]);
				close(done[0]);
				sva_dev_close(dev);
				if (write(done[1], "c", 1) != 1 || read(pfd[0], &c, 1) < 0)
					_exit(1);
				_exit(0);
			}
			close(pfd[0]);
			close(done[1]);
			ok(read(done[0], &c, 1) == 1 && c == 'c', "a forked child closed its copy with sva_dev_close");
			close(done[0]);
			sva_dev_close(dev);
			d2 = SENTINEL;
			ret = sva_dev_open(ctx, cdev, &d2);
			ok(ret == 0 && d2 != SENTINEL,
			   "closed, the child's copy closed by sva_dev_close in the child: opens again while it lives (%d)",
			   ret);
			if (!ret)
				sva_dev_close(d2);
			close(pfd[1]);
			waitpid(pid, &w, 0);
			ok(WIFEXITED(w) && WEXITSTATUS(w) == 0, "  the child ran to its end (%#x)", w);
		}
		}
	}

	/* path: truncated to 63 bytes */
	{
		char lp[128];

		memset(lp, 'l', sizeof(lp));
		memcpy(lp, "/tmp/", 5);
		lp[100] = '\0';
		unlink(lp);
		if (symlink(p, lp) == 0) {
			dev = NULL;
			ret = sva_dev_open(ctx, lp, &dev);
			info = (struct sva_dev_info){ .size = sizeof(info) };
			if (!ret)
				sva_dev_get_info(dev, &info);
			ok(ret == 0 && strlen(info.path) == 63 && !strncmp(info.path, lp, 63),
			   "a 100-byte path: path truncated to 63 bytes (%d, %zu)", ret, strlen(info.path));
			if (!ret)
				sva_dev_close(dev);
			unlink(lp);
		}
	}
	same_device_race(ctx, cdev);
	real_ns_checks(addr, cdev, p);
	/* sva_dev_open_fd: O_RDONLY works; the caller's fd keeps the bind */
	fd = open(p, O_RDONLY | O_CLOEXEC);
	ok(fd >= 0, "open %s O_RDONLY", p);
	dev = NULL;
	ret = sva_dev_open_fd(ctx, fd, &dev);
	ok(ret == 0, "sva_dev_open_fd of an O_RDONLY fd (%d)", ret);
	if (!ret) {
		char want[64];

		info = (struct sva_dev_info){ .size = sizeof(info) };
		ok(sva_dev_get_info(dev, &info) == 0 && !strcmp(info.pci_addr, addr), "  pci_addr %s", info.pci_addr);
		ok(!strcmp(info.path, p), "  path as /proc/self/fd says: %s", info.path);
		ok(sva_dev_fd(dev) != fd && sva_dev_fd(dev) >= 3, "  sva_dev_fd is libsva's duplicate (%d, caller %d)",
		   sva_dev_fd(dev), fd);
		d2 = SENTINEL;
		lines_reset();
		ret = sva_dev_open_fd(ctx, fd, &d2);
		ok(ret == -EBUSY && d2 == SENTINEL, "sva_dev_open_fd of an fd already bound: -EBUSY (%d)", ret);
		sva_dev_close(dev);
		ok(fcntl(fd, F_GETFD) >= 0, "  the caller's fd stays open after close");
		d2 = SENTINEL;
		ret = sva_dev_open(ctx, cdev, &d2);
		ok(ret == -EBUSY && d2 == SENTINEL, "while the caller's fd is open, sva_dev_open: -EBUSY (%d)", ret);
		snprintf(want, sizeof(want), "%s", "x");
	}
	close(fd);
	dev = NULL;
	ret = sva_dev_open(ctx, cdev, &dev);
	ok(ret == 0, "after the caller closed its fd, the device opens again (%d)", ret);
	if (!ret) {
		struct sva_mm_opts mmo = { .size = sizeof(mmo) };
		struct sva_mm *mm = NULL;
		struct sva_bind_opts bo = { .size = sizeof(bo), .flags = SVA_BIND_RID | SVA_BIND_PINNED };
		struct sva_bond *bond = NULL;
		struct sva_mem_opts o = { .size = sizeof(o), .dev = dev, .flags = SVA_MEM_PREFAULT };

		if (sva_mm_new(ctx, &mmo, &mm) == 0 && (ret = sva_bind(dev, mm, &bo, &bond)) == 0) {
			struct sva_iova_range r[64];
			size_t nr = 64;
			void *m = NULL;

			ret = sva_dev_iova_ranges(dev, r, &nr);
			ok(ret == 0 && nr >= 1, "edu RID bond: %zu ranges", nr);
			for (size_t i = 0; i < nr; i++) {
				diag("range %#llx-%#llx", (unsigned long long)r[i].start, (unsigned long long)r[i].last);
				ok(!(r[i].start <= 0xfee00000ull && r[i].last >= 0xfee00000ull), "  the MSI window is not in it");
			}
			o.mm = mm;
			ret = sva_mem_alloc(8192, &o, &m);
			ok(ret == 0 && (uintptr_t)m >= (16u << 20), "mem_alloc PREFAULT for edu: %d at %p", ret, m);
			if (!ret)
				ok(sva_mem_free(mm, m, 8192) == 0, "  freed");
			sva_unbind(bond);
		} else {
			ok(0, "edu RID bind (%d)", ret);
		}
		sva_mm_free(mm);
		sva_dev_close(dev);
	}
}

int main(void)
{
	const char *topo = getenv("SVA_TOPOLOGY");
	struct sva_ctx *ctx;

	if (access("/dev/iommu", R_OK | W_OK))
		skip_all("no usable /dev/iommu");
	ctx = new_ctx();
	dev_open_errors(ctx);
	if (topo && !strcmp(topo, "vtd39"))
		real_checks(ctx);
	else
		mock_checks(ctx);
	sva_ctx_free(ctx);
	return done_testing();
}
