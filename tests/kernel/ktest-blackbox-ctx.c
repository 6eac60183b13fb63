/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * An outside tester's pass over the context and device pages, written from
 * the man pages and sva.h alone: sva_ctx_new(3), sva_ctx_free(3), sva_ctx_fd(3),
 * sva_ctx_fault_fd(3), sva_ctx_set_log(3), sva_dev_open(3), sva_dev_close(3),
 * sva_dev_get_info(3), sva_bind(3), sva_unbind(3).  It holds the promises the
 * other contract tests left out: option combinations the pages call ignored,
 * the edges of the global PASID range, strings that are copied, the context's
 * descriptors kept by an address space after sva_ctx_free(), sva_ctx_free() in
 * a forked child, roots of the caller's own making for sva_dev_open(), and
 * what a log line may hold.  Everything kernel-side runs on the selftest mock.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <semaphore.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <poll.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <sva/sva.h>

#include "../tap.h"
#include "ktest_proc.h"
#include "edu_find.h"

#define SENTINEL ((void *)(uintptr_t)0x5a5a)

/* ------------------------------------------------------------ log capture */

struct cap {
	atomic_int n, nerr, ninfo, ndebug;
	atomic_int bad; /* a line with a control character, a newline or > 511 bytes */
	size_t maxlen;
	char last[1024];
};

/* Over the whole run, whatever the struct cap: sva_ctx_set_log(3) passes the
 * callback a level in SVA_LOG_DEBUG..SVA_LOG_ERROR only. */
static atomic_int all_badlevel;

static void cap_fn(void *arg, enum sva_log_level level, const char *msg)
{
	struct cap *c = arg;
	size_t len = strlen(msg);

	c->n++;
	if (level < SVA_LOG_DEBUG || level > SVA_LOG_ERROR)
		all_badlevel++;
	if (level == SVA_LOG_ERROR)
		c->nerr++;
	if (level == SVA_LOG_INFO)
		c->ninfo++;
	if (level == SVA_LOG_DEBUG)
		c->ndebug++;
	for (size_t i = 0; i < len; i++)
		if ((unsigned char)msg[i] < 0x20 || msg[i] == 0x7f)
			c->bad++;
	if (len > 511)
		c->bad++;
	if (len > c->maxlen)
		c->maxlen = len;
	snprintf(c->last, sizeof(c->last), "%s", msg);
}

static void cap_reset(struct cap *c)
{
	c->n = c->nerr = c->ninfo = c->ndebug = c->bad = 0;
	c->maxlen = 0;
	c->last[0] = 0;
}

static struct sva_ctx *new_ctx(struct cap *c, enum sva_log_level level, uint32_t flags)
{
	struct sva_ctx_opts o = { .size = sizeof(o), .flags = flags, .log_fn = cap_fn, .log_arg = c, .log_level = level };
	struct sva_ctx *ctx = NULL;
	int ret = sva_ctx_new(&o, &ctx);

	if (ret)
		tap_bail("sva_ctx_new: %s", strerror(-ret));
	return ctx;
}

static bool fd_open(int fd)
{
	return fd >= 0 && fcntl(fd, F_GETFD) >= 0;
}

/* One sva_ctx_new() that must succeed; the context is freed at once. */
static void ctx_accepts(struct sva_ctx_opts *o, const char *what)
{
	struct sva_ctx *ctx = NULL;
	int ret = sva_ctx_new(o, &ctx);

	ok(ret == 0 && ctx, "sva_ctx_new: %s: accepted (%d)", what, ret);
	sva_ctx_free(ctx);
}

static void ctx_refuses(struct sva_ctx_opts *o, int want, const char *what)
{
	struct sva_ctx *ctx = SENTINEL;
	int fds = ktest_count_fds(), ret = sva_ctx_new(o, &ctx);

	ok(ret == want, "sva_ctx_new: %s: %d, want %d", what, ret, want);
	ok(ctx == SENTINEL, "  *out untouched");
	is_int(ktest_count_fds(), fds, "  nothing stays open");
	if (ret == 0 && ctx != SENTINEL)
		sva_ctx_free(ctx);
}

/* ------------------------------------------------------------ sva_ctx_new */

static void ctx_new_checks(void)
{
	struct sva_ctx_opts o;
	struct cap c = { 0 };

	/* "Ignored with SVA_CTX_ADOPT_FD": an empty iommu_path is no -EINVAL then. */
	int ifd = open("/dev/iommu", O_RDWR | O_CLOEXEC);
	o = (struct sva_ctx_opts){ .size = sizeof(o), .flags = SVA_CTX_ADOPT_FD, .iommufd = ifd, .iommu_path = "" };
	ctx_accepts(&o, "ADOPT_FD with an empty iommu_path");
	close(ifd);

	/* "Ignored with ... SVA_CTX_BROKER": the broker's own error, not -EINVAL. */
	o = (struct sva_ctx_opts){ .size = sizeof(o), .flags = SVA_CTX_BROKER, .iommu_path = "",
				   .broker_path = "/nonexistent-z142/socket", .log_level = SVA_LOG_OFF };
	ctx_refuses(&o, -ENOENT, "BROKER with an empty iommu_path and no broker");

	/* broker_path: "Ignored without the flag". */
	o = (struct sva_ctx_opts){ .size = sizeof(o), .broker_path = "" };
	ctx_accepts(&o, "an empty broker_path without BROKER");

	/* The global range, zeros replaced by the defaults (256 .. SVA_PASID_MAX). */
	o = (struct sva_ctx_opts){ .size = sizeof(o), .global_pasid_min = 1, .global_pasid_max = 255 };
	ctx_accepts(&o, "global range 1..255 (an explicit min)");
	o = (struct sva_ctx_opts){ .size = sizeof(o), .global_pasid_max = 256 };
	ctx_accepts(&o, "global max 256, min default 256: a range of one");
	o = (struct sva_ctx_opts){ .size = sizeof(o), .global_pasid_min = SVA_PASID_MAX };
	ctx_accepts(&o, "global min SVA_PASID_MAX, max default: a range of one");
	o = (struct sva_ctx_opts){ .size = sizeof(o), .global_pasid_max = 255, .log_fn = cap_fn, .log_arg = &c,
				   .log_level = SVA_LOG_ERROR };
	ctx_refuses(&o, -ERANGE, "global max 255 without a min (default min 256)");
	o = (struct sva_ctx_opts){ .size = sizeof(o), .global_pasid_min = SVA_PASID_MAX + 1, .log_level = SVA_LOG_OFF };
	ctx_refuses(&o, -ERANGE, "global min SVA_PASID_MAX + 1, max default");
	o = (struct sva_ctx_opts){ .size = sizeof(o), .global_pasid_min = SVA_PASID_MAX + 1,
				   .global_pasid_max = SVA_PASID_MAX + 1, .log_level = SVA_LOG_OFF };
	ctx_refuses(&o, -ERANGE, "global range beyond SVA_PASID_MAX");

	/* log_level: the whole SVA_LOG_DEFAULT .. SVA_LOG_OFF is accepted. */
	for (int l = SVA_LOG_DEFAULT; l <= SVA_LOG_OFF; l++) {
		char what[64];

		o = (struct sva_ctx_opts){ .size = sizeof(o), .log_level = l };
		snprintf(what, sizeof(what), "log_level %d", l);
		ctx_accepts(&o, what);
	}
	o = (struct sva_ctx_opts){ .size = 0 };
	ctx_refuses(&o, -EINVAL, "size 0");

	/* "-EBADF: ... not an open file descriptor"; "-ENOTTY: ... open but not
	 * an iommufd": a directory's descriptor is open and no iommufd. */
	int dfd = open("/tmp", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	o = (struct sva_ctx_opts){ .size = sizeof(o), .flags = SVA_CTX_ADOPT_FD, .iommufd = dfd, .log_level = SVA_LOG_OFF };
	ctx_refuses(&o, -ENOTTY, "ADOPT_FD of a directory");
	close(dfd);
	/* An O_PATH descriptor of /dev/iommu is open, and is no iommufd one can
	 * use: the page's -ENOTTY (open, not an iommufd) or -EBADF. */
	int pfd = open("/dev/iommu", O_PATH | O_CLOEXEC);
	if (pfd >= 0) {
		struct sva_ctx *ctx = SENTINEL;
		int fds = ktest_count_fds();
		o = (struct sva_ctx_opts){ .size = sizeof(o), .flags = SVA_CTX_ADOPT_FD, .iommufd = pfd,
					   .log_level = SVA_LOG_OFF };
		int ret = sva_ctx_new(&o, &ctx);
		ok(ret == -ENOTTY || ret == -EBADF, "sva_ctx_new: ADOPT_FD of an O_PATH /dev/iommu: refused (%d)", ret);
		ok(ctx == SENTINEL, "  *out untouched");
		is_int(ktest_count_fds(), fds, "  nothing stays open");
		if (ret == 0)
			sva_ctx_free(ctx);
		close(pfd);
	} else {
		skip(3, "no O_PATH descriptor of /dev/iommu");
	}

	/* "The strings are copied: they need not outlive the call": a dev_root
	 * rewritten after the call still names the root the context was given. */
	char root[64];
	snprintf(root, sizeof(root), "/tmp/z142-noroot-%d", (int)getpid());
	o = (struct sva_ctx_opts){ .size = sizeof(o), .dev_root = root, .log_level = SVA_LOG_OFF };
	struct sva_ctx *ctx = NULL;
	if (is_int(sva_ctx_new(&o, &ctx), 0, "sva_ctx_new with a dev_root of the caller's stack")) {
		struct sva_dev *d = SENTINEL;

		snprintf(root, sizeof(root), "/dev");
		/* Under /tmp/z142-noroot-PID there is no vfio/devices: -ENODEV;
		 * had libsva kept the caller's buffer, /dev would give -ENOENT or
		 * a device. */
		is_int(sva_dev_open(ctx, "vfio4000000000", &d), -ENODEV,
		       "  the copy is used: no DEV_ROOT/vfio/devices under the root given: -ENODEV");
		if (d != SENTINEL)
			sva_dev_close(d);
		sva_ctx_free(ctx);
	}
}

/* ------------------------------------- sva_dev_open under roots of our own */

static void write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	if (f) {
		fputs(text, f);
		fclose(f);
	}
}

static void dev_open_root_checks(void)
{
	char base[128], p[512];
	struct cap c = { 0 };
	struct sva_ctx_opts o;
	struct sva_ctx *ctx = NULL;
	struct sva_dev *d;
	int fds, ret;

	snprintf(base, sizeof(base), "/tmp/z142-root-%d", (int)getpid());
	mkdir(base, 0700);
	snprintf(p, sizeof(p), "%s/dev", base);
	mkdir(p, 0700);
	snprintf(p, sizeof(p), "%s/dev/vfio", base);
	mkdir(p, 0700);
	snprintf(p, sizeof(p), "%s/dev/vfio/devices", base);
	mkdir(p, 0700);
	snprintf(p, sizeof(p), "%s/dev/vfio/devices/vfio5", base);
	write_file(p, "not a device\n");
	snprintf(p, sizeof(p), "%s/sys", base);
	mkdir(p, 0700);
	snprintf(p, sizeof(p), "%s/sys/bus", base);
	mkdir(p, 0700);
	snprintf(p, sizeof(p), "%s/sys/bus/pci", base);
	mkdir(p, 0700);
	snprintf(p, sizeof(p), "%s/sys/bus/pci/devices", base);
	mkdir(p, 0700);
	/* A PCI device bound to no VFIO driver: no vfio-dev directory. */
	snprintf(p, sizeof(p), "%s/sys/bus/pci/devices/0000:41:00.0", base);
	mkdir(p, 0700);
	/* One whose vfio-dev names a cdev that DEV_ROOT lacks. */
	snprintf(p, sizeof(p), "%s/sys/bus/pci/devices/0000:42:00.0", base);
	mkdir(p, 0700);
	snprintf(p, sizeof(p), "%s/sys/bus/pci/devices/0000:42:00.0/vfio-dev", base);
	mkdir(p, 0700);
	snprintf(p, sizeof(p), "%s/sys/bus/pci/devices/0000:42:00.0/vfio-dev/vfio9", base);
	mkdir(p, 0700);

	/* sysfs names a device in lower case, a domain above ffff with 5 digits. */
	snprintf(p, sizeof(p), "%s/sys/bus/pci/devices/0000:4a:1f.7", base);
	mkdir(p, 0700);
	snprintf(p, sizeof(p), "%s/sys/bus/pci/devices/10000:4b:00.0", base);
	mkdir(p, 0700);
	/* An empty vfio-dev directory: no cdev. */
	snprintf(p, sizeof(p), "%s/sys/bus/pci/devices/0000:44:00.0", base);
	mkdir(p, 0700);
	snprintf(p, sizeof(p), "%s/sys/bus/pci/devices/0000:44:00.0/vfio-dev", base);
	mkdir(p, 0700);
	/* A cdev whose node is a character device that is no VFIO one. */
	snprintf(p, sizeof(p), "%s/sys/bus/pci/devices/0000:45:00.0", base);
	mkdir(p, 0700);
	snprintf(p, sizeof(p), "%s/sys/bus/pci/devices/0000:45:00.0/vfio-dev", base);
	mkdir(p, 0700);
	snprintf(p, sizeof(p), "%s/sys/bus/pci/devices/0000:45:00.0/vfio-dev/vfio7", base);
	mkdir(p, 0700);
	snprintf(p, sizeof(p), "%s/dev/vfio/devices/vfio7", base);
	if (symlink("/dev/null", p))
		diag("symlink %s: %s", p, strerror(errno));

	char sys[160], dev[160];
	snprintf(sys, sizeof(sys), "%s/sys", base);
	snprintf(dev, sizeof(dev), "%s/dev", base);
	o = (struct sva_ctx_opts){ .size = sizeof(o), .sysfs_root = sys, .dev_root = dev, .log_fn = cap_fn,
				   .log_arg = &c, .log_level = SVA_LOG_ERROR };
	if (sva_ctx_new(&o, &ctx)) {
		ok(0, "sva_ctx_new with roots of our own");
		return;
	}
	struct {
		const char *name;
		int want;
		const char *why;
	} cases[] = {
		{ "vfio5", -ENOTTY, "cdev name whose DEV_ROOT node is a regular file" },
		{ "vfio6", -ENOENT, "cdev name, no node, DEV_ROOT/vfio/devices exists" },
		{ "0000:43:00.0", -ENOENT, "PCI address not under SYSFS_ROOT/bus/pci/devices" },
		{ "43:00.0", -ENOENT, "short PCI address not under SYSFS_ROOT" },
		{ "0000:41:00.0", -ENODEV, "PCI device without vfio-dev (no VFIO driver)" },
		{ "41:00.0", -ENODEV, "short form of the same: domain 0000" },
		{ "0:41:0.0", -ENODEV, "0:41:0.0 is 0000:41:00.0" },
		{ "0000:42:00.0", -ENOENT, "vfio-dev names vfio9, which DEV_ROOT lacks" },
		{ "vfio0123456789", -ENOENT, "a cdev name of 10 digits, no such node" },
		{ "vfio1", -ENOENT, "a cdev name of 1 digit, no such node" },
		{ "0000:4A:1F.7", -ENODEV, "upper case finds sysfs's lower-case name" },
		{ "4A:1f.7", -ENODEV, "short form, mixed case" },
		{ "000000:4a:1f.7", -ENODEV, "a 6-digit domain 000000 is 0000" },
		{ "10000:4B:00.0", -ENODEV, "a 5-digit domain, upper-case bus" },
		{ "010000:4b:0.0", -ENODEV, "010000 is domain 10000" },
		{ "0000:44:00.0", -ENODEV, "an empty vfio-dev directory: no cdev" },
		{ "0000:45:00.0", -ENOTTY, "the cdev's node is /dev/null" },
		{ "vfio7", -ENOTTY, "cdev name whose node is a link to /dev/null" },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		d = SENTINEL;
		cap_reset(&c);
		fds = ktest_count_fds();
		ret = sva_dev_open(ctx, cases[i].name, &d);
		ok(ret == cases[i].want, "sva_dev_open(\"%s\") (%s): %d, want %d", cases[i].name, cases[i].why, ret,
		   cases[i].want);
		ok(d == SENTINEL && ktest_count_fds() == fds && c.nerr == 1,
		   "  *out untouched, nothing open, one error line (%d: %s)", c.nerr, c.last);
		if (ret == 0 && d != SENTINEL)
			sva_dev_close(d);
	}
	sva_ctx_free(ctx);

	/* The same tree without dev/vfio/devices: "-ENODEV ... neither does
	 * DEV_ROOT/vfio/devices". */
	snprintf(p, sizeof(p), "%s/dev/vfio/devices/vfio5", base);
	unlink(p);
	snprintf(p, sizeof(p), "%s/dev/vfio/devices/vfio7", base);
	unlink(p);
	snprintf(p, sizeof(p), "%s/dev/vfio/devices", base);
	rmdir(p);
	ctx = NULL;
	if (sva_ctx_new(&o, &ctx) == 0) {
		d = SENTINEL;
		is_int(sva_dev_open(ctx, "vfio6", &d), -ENODEV, "sva_dev_open(\"vfio6\") without DEV_ROOT/vfio/devices: -ENODEV");
		d = SENTINEL;
		is_int(sva_dev_open(ctx, "0000:42:00.0", &d), -ENODEV,
		       "sva_dev_open by PCI address whose cdev node is missing, no DEV_ROOT/vfio/devices: -ENODEV");
		sva_ctx_free(ctx);
	}
	snprintf(p, sizeof(p), "rm -rf '%s'", base);
	if (system(p))
		diag("could not remove %s", base);
}

/* ------------------------------------------------------ what a line holds */

static void log_line_checks(void)
{
	struct cap c = { 0 };
	struct sva_ctx *ctx = new_ctx(&c, SVA_LOG_DEBUG, 0);
	struct sva_dev *d = SENTINEL;
	static char longname[3000];

	cap_reset(&c);
	sva_dev_open(ctx, "/tmp/z142\nfake\x1b[31mline\x7f", &d);
	ok(c.nerr >= 1 && c.bad == 0, "log: a name with a newline, ESC and DEL: no control character in any line (%d bad)",
	   (int)c.bad);
	ok(strstr(c.last, "z142?fake?[31mline?") != NULL, "log: the control characters are each replaced by '?' (%s)",
	   c.last);
	memset(longname, 'x', sizeof(longname) - 1);
	longname[0] = '/';
	cap_reset(&c);
	d = SENTINEL;
	int ret = sva_dev_open(ctx, longname, &d);
	ok(ret < 0 && d == SENTINEL, "sva_dev_open of a 2999-byte path fails (%d)", ret);
	ok(c.nerr == 1 && c.bad == 0 && c.maxlen <= 511, "log: every line at most 511 bytes, one line (longest %zu)",
	   c.maxlen);

	/* sva_ctx_set_log(3): "A level outside SVA_LOG_DEFAULT..SVA_LOG_OFF is
	 * taken as SVA_LOG_DEFAULT", which reads SVA_LOG again now. */
	const char *old = getenv("SVA_LOG");
	char *saved = old ? strdup(old) : NULL;
	struct sva_dev *m = NULL;

	setenv("SVA_LOG", "error", 1);
	sva_ctx_set_log(ctx, cap_fn, &c, (enum sva_log_level)99);
	cap_reset(&c);
	if (sva_dev_open_mock(ctx, NULL, &m) == 0) {
		sva_dev_close(m);
		ok(c.ninfo == 0 && c.ndebug == 0, "set_log level 99 with SVA_LOG=error: no info or debug line (%d, %d)",
		   (int)c.ninfo, (int)c.ndebug);
		setenv("SVA_LOG", "debug", 1);
		sva_ctx_set_log(ctx, cap_fn, &c, (enum sva_log_level)-3);
		cap_reset(&c);
		m = NULL;
		sva_dev_open_mock(ctx, NULL, &m);
		sva_dev_close(m);
		/* The open logs at info level, the close at debug level. */
		ok(c.ninfo > 0 && c.ndebug > 0, "set_log level -3 with SVA_LOG=debug: info and debug lines (%d, %d)",
		   (int)c.ninfo, (int)c.ndebug);
		setenv("SVA_LOG", "bogus", 1);
		sva_ctx_set_log(ctx, cap_fn, &c, SVA_LOG_DEFAULT);
		cap_reset(&c);
		m = NULL;
		sva_dev_open_mock(ctx, NULL, &m);
		sva_dev_close(m);
		ok(c.ninfo == 0 && c.ndebug == 0, "set_log DEFAULT with SVA_LOG=bogus: warn, no info or debug line");
	} else if (getenv("SVA_VM")) {
		ok(0, "the test VM has the selftest mock (CONFIG_IOMMUFD_TEST)");
		skip(2, "no selftest mock");
	} else {
		skip(3, "no selftest mock");
	}
	if (saved) {
		setenv("SVA_LOG", saved, 1);
		free(saved);
	} else {
		unsetenv("SVA_LOG");
	}
	cap_reset(&c);
	sva_ctx_set_log(NULL, cap_fn, &c, SVA_LOG_DEBUG); /* "nothing happens" */
	is_int(c.n, 0, "sva_ctx_set_log(NULL, ...) returns, and nothing reaches its callback");
	sva_ctx_free(ctx);
}

/* ------------------------------------------ descriptors after sva_ctx_free */

static atomic_int exits;
static void count_exit(struct sva_bond *bond, void *drvdata)
{
	(void)bond;
	(void)drvdata;
	exits++;
}

static void release_checks(uint32_t flags, const char *mode)
{
	struct cap c = { 0 };
	struct sva_ctx *ctx = new_ctx(&c, SVA_LOG_ERROR, flags);
	struct sva_mm *mm = NULL;
	struct sva_dev *dev = NULL;
	int cfd = sva_ctx_fd(ctx), ffd = -1;

	if (sva_mm_new(ctx, NULL, &mm) || sva_dev_open_mock(ctx, NULL, &dev)) {
		ok(0, "%s: mm and mock", mode);
		sva_mm_free(mm);
		sva_ctx_free(ctx);
		return;
	}
	if (flags & SVA_CTX_FAULT_POLL)
		ffd = sva_ctx_fault_fd(ctx);

	/* sva_dev_get_info(3): the mock, before any bind. */
	struct sva_dev_info info;
	memset(&info, 0xa5, sizeof(info));
	info.size = sizeof(info);
	is_int(sva_dev_get_info(dev, &info), 0, "%s: get_info of the mock", mode);
	ok((info.flags & SVA_DEV_MOCK) && !(info.flags & SVA_DEV_PCI) && !(info.flags & SVA_DEV_ATTACHED),
	   "  SVA_DEV_MOCK, not PCI, not attached before a bind (%#x)", info.flags);
	ok(info.iommu_type == SVA_IOMMU_SELFTEST && info.numa_node == -1 && info.pci_addr[0] == 0 && info.path[0] == 0 &&
		   info.reserved == 0 && info.size == sizeof(info),
	   "  selftest type, node -1, no PCI address, no path (own mock), reserved 0, size as it was");
	uint32_t id = info.dev_id;

	struct sva_bond_ops ops = { .size = sizeof(ops), .mm_exit = count_exit };
	struct sva_bind_opts bo = { .size = sizeof(bo), .ops = &ops, .flags = SVA_BIND_PINNED };
	struct sva_bond *b = NULL;
	is_int(sva_bind(dev, mm, &bo, &b), 0, "%s: a pinned PASID bind", mode);
	memset(&info, 0, sizeof(info));
	info.size = sizeof(info);
	sva_dev_get_info(dev, &info);
	ok((info.flags & SVA_DEV_ATTACHED) && info.dev_id == id, "  then SVA_DEV_ATTACHED, the same dev_id");

	exits = 0;
	sva_ctx_free(ctx);
	is_int(exits, 1, "%s: sva_ctx_free ran the bond's mm_exit", mode);
	ok(fd_open(cfd), "%s: sva_ctx_fd's descriptor stays open while a device and an mm keep the context", mode);
	sva_dev_close(dev);
	ok(fd_open(cfd), "%s: and while only the address space keeps it", mode);
	if (flags & SVA_CTX_FAULT_POLL)
		ok(fd_open(ffd), "%s: so does the fault queue's", mode);
	cap_reset(&c);
	sva_mm_free(mm);
	ok(!fd_open(cfd), "%s: the iommufd closes with the last user (the address space)", mode);
	if (flags & SVA_CTX_FAULT_POLL)
		ok(!fd_open(ffd), "%s: the fault queue's too", mode);
	is_int(c.nerr, 0, "%s: no error line from the release", mode);
}

/* sva_ctx_free(3): "In a forked child, step 1 is skipped: the bonds are the
 * parent's."  sva_unbind(3): -ECHILD in a child, nothing done. */
static void child_free_checks(void)
{
	struct cap c = { 0 };
	struct sva_ctx *ctx = new_ctx(&c, SVA_LOG_OFF, 0);
	struct sva_mm *mm = NULL;
	struct sva_dev *dev = NULL;
	struct sva_bond *b = NULL;
	struct sva_bond_ops ops = { .size = sizeof(ops), .mm_exit = count_exit };
	struct sva_bind_opts bo = { .size = sizeof(bo), .ops = &ops, .flags = SVA_BIND_PINNED };

	if (sva_mm_new(ctx, NULL, &mm) || sva_dev_open_mock(ctx, NULL, &dev) || sva_bind(dev, mm, &bo, &b)) {
		ok(0, "child: setup");
		sva_ctx_free(ctx);
		return;
	}
	uint32_t pasid = sva_bond_pasid(b);
	exits = 0;
	pid_t pid = fork();
	if (pid == 0) {
		int u = sva_unbind(b);

		sva_ctx_free(ctx);
		sva_dev_close(dev);
		sva_mm_free(mm);
		_exit((u == -ECHILD ? 1 : 0) | (exits == 0 ? 2 : 0));
	}
	int st = 0;
	waitpid(pid, &st, 0);
	int rc = WIFEXITED(st) ? WEXITSTATUS(st) : 0;
	ok(rc & 1, "child: sva_unbind: -ECHILD");
	ok(rc & 2, "child: sva_ctx_free, sva_dev_close and sva_mm_free ran no mm_exit");
	struct sva_bond *lb = NULL;
	void *dd = NULL;
	ok(sva_dev_bond_lookup(dev, pasid, &lb, &dd) == 0 && lb == b, "parent: the bond is still there after the child's calls");
	is_int(sva_unbind(b), 0, "parent: sva_unbind: 0");
	is_int(exits, 1, "parent: its mm_exit ran once, here");
	sva_dev_close(dev);
	sva_mm_free(mm);
	sva_ctx_free(ctx);
}

/* sva_ctx_free(3): "call sva_ctx_set_log(ctx, NULL, NULL, SVA_LOG_OFF),
 * after which libsva no longer uses the old one". */
static void free_log_checks(void)
{
	struct cap c = { 0 };
	struct sva_ctx *ctx = new_ctx(&c, SVA_LOG_DEBUG, 0);
	struct sva_dev *dev = NULL;

	if (sva_dev_open_mock(ctx, NULL, &dev)) {
		ok(0, "free_log: mock");
		sva_ctx_free(ctx);
		return;
	}
	sva_ctx_free(ctx);
	cap_reset(&c);
	sva_dev_close(dev);
	ok(c.n > 0, "the log callback still gets the lines of a device closed after sva_ctx_free (%d)", (int)c.n);

	ctx = new_ctx(&c, SVA_LOG_DEBUG, 0);
	dev = NULL;
	sva_dev_open_mock(ctx, NULL, &dev);
	sva_ctx_set_log(ctx, NULL, NULL, SVA_LOG_OFF);
	sva_ctx_free(ctx);
	cap_reset(&c);
	sva_dev_close(dev);
	is_int(c.n, 0, "after set_log(ctx, NULL, NULL, SVA_LOG_OFF) the old callback gets nothing");
	KTEST_QUIET_NOOP(sva_ctx_free(NULL), "sva_ctx_free(NULL)");
	KTEST_QUIET_NOOP(sva_dev_close(NULL), "sva_dev_close(NULL)");
}

/* sva_ctx_fault_fd(3): "A context that runs a fault thread gets its -EINVAL
 * in a forked child too: the mode is checked first." */
static void fault_fd_child_checks(void)
{
	struct cap c = { 0 };
	struct sva_ctx *ctx = new_ctx(&c, SVA_LOG_OFF, 0);
	pid_t pid = fork();

	if (pid == 0)
		_exit(sva_ctx_fault_fd(ctx) == -EINVAL ? 0 : 1);
	int st = 0;
	waitpid(pid, &st, 0);
	ok(WIFEXITED(st) && WEXITSTATUS(st) == 0, "fault_fd: thread mode in a forked child: -EINVAL");
	sva_ctx_free(ctx);
}

/* sva_bind(3): failures "leave nothing"; *out untouched; a NULL opts is a
 * fault-capable PASID bond. */
static void bind_checks(void)
{
	struct cap c = { 0 };
	struct sva_ctx *ctx = new_ctx(&c, SVA_LOG_ERROR, 0), *ctx2 = new_ctx(&c, SVA_LOG_ERROR, 0);
	struct sva_mm *mm = NULL, *mm2 = NULL;
	struct sva_dev *dev = NULL;
	struct sva_bond *b;
	struct sva_bind_opts bo;
	int fds;

	if (sva_mm_new(ctx, NULL, &mm) || sva_mm_new(ctx2, NULL, &mm2) || sva_dev_open_mock(ctx, NULL, &dev)) {
		ok(0, "bind: setup");
		goto out;
	}
	struct {
		struct sva_bind_opts o;
		const char *why;
	} bad[] = {
		{ { .size = sizeof(struct sva_bind_opts), .flags = 1u << 4 }, "flag 1<<4" },
		{ { .size = sizeof(struct sva_bind_opts), .flags = SVA_BIND_PINNED, .pasid = 300 }, "pasid without SVA_BIND_PASID" },
		{ { .size = sizeof(struct sva_bind_opts), .flags = SVA_BIND_RID | SVA_BIND_PASID | SVA_BIND_PINNED,
		    .pasid = 300 },
		  "RID|PASID" },
		{ { .size = sizeof(struct sva_bind_opts), .flags = SVA_BIND_PINNED, .reserved = 2 }, "reserved 2" },
		{ { .size = sizeof(struct sva_bind_opts) - 1, .flags = SVA_BIND_PINNED }, "size one short" },
		{ { .size = sizeof(struct sva_bind_opts), .flags = SVA_BIND_PINNED, .policy = (enum sva_pasid_policy)3 },
		  "policy 3" },
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		b = SENTINEL;
		cap_reset(&c);
		fds = ktest_count_fds();
		int ret = sva_bind(dev, mm, &bad[i].o, &b);
		ok(ret == -EINVAL && b == SENTINEL && ktest_count_fds() == fds,
		   "sva_bind: %s: -EINVAL (%d), *out untouched, nothing opened", bad[i].why, ret);
		if (ret == 0 && b != SENTINEL)
			sva_unbind(b);
	}
	/* "policy ... checked only where it is used": not with SVA_BIND_RID. */
	bo = (struct sva_bind_opts){ .size = sizeof(bo), .flags = SVA_BIND_RID | SVA_BIND_PINNED,
				     .policy = (enum sva_pasid_policy)3 };
	b = NULL;
	int ret = sva_bind(dev, mm, &bo, &b);
	ok(ret != -EINVAL, "sva_bind: SVA_BIND_RID ignores a bad policy (%d)", ret);
	if (ret == 0)
		sva_unbind(b);
	b = SENTINEL;
	bo = (struct sva_bind_opts){ .size = sizeof(bo), .flags = SVA_BIND_PINNED };
	is_int(sva_bind(dev, mm2, &bo, &b), -EINVAL, "sva_bind: dev and mm of different contexts: -EINVAL");
	ok(b == SENTINEL, "  *out untouched");
	is_int(sva_bind(NULL, mm, &bo, &b), -EINVAL, "sva_bind: NULL dev");
	is_int(sva_bind(dev, NULL, &bo, &b), -EINVAL, "sva_bind: NULL mm");
	is_int(sva_bind(dev, mm, &bo, NULL), -EINVAL, "sva_bind: NULL out");

	/* NULL opts: fault-capable, a PASID. */
	b = NULL;
	ret = sva_bind(dev, mm, NULL, &b);
	ok(ret == 0 && b && sva_bond_pasid(b) != SVA_PASID_RID && sva_bond_pasid(b) != 0,
	   "sva_bind(NULL opts): a PASID bond (%d, pasid %u)", ret, b ? sva_bond_pasid(b) : 0);
	if (ret == 0) {
		/* A second PASID bond of dev on mm without EXTRA_PASID: -EEXIST. */
		struct sva_bond *b2 = SENTINEL;
		is_int(sva_bind(dev, mm, &bo, &b2), -EEXIST, "sva_bind: a second PASID bond without EXTRA_PASID: -EEXIST");
		ok(b2 == SENTINEL, "  *out untouched");
		bo.flags |= SVA_BIND_EXTRA_PASID;
		b2 = NULL;
		ok(sva_bind(dev, mm, &bo, &b2) == 0 && sva_bond_pasid(b2) != sva_bond_pasid(b),
		   "sva_bind: with SVA_BIND_EXTRA_PASID, another PASID");
		if (b2)
			is_int(sva_unbind(b2), 0, "sva_unbind of the extra bond: 0");
		is_int(sva_unbind(b), 0, "sva_unbind: 0");
	}
	is_int(sva_unbind(NULL), -EINVAL, "sva_unbind(NULL): -EINVAL");
out:
	sva_dev_close(dev);
	sva_mm_free(mm);
	sva_mm_free(mm2);
	sva_ctx_free(ctx);
	sva_ctx_free(ctx2);
}

/* sva_unbind(3), step 1: mm_exit runs in the calling thread, with the
 * bond's drvdata, while sva_dev_bond_lookup() still finds the bond; step 5:
 * the PASID goes to quarantine (a grace of UINT64_MAX: until a barrier). */
static struct {
	struct sva_dev *dev;
	uint32_t pasid;
	pid_t tid;
	int calls, found;
	void *drvdata;
} ue;

static void unbind_exit(struct sva_bond *bond, void *drvdata)
{
	struct sva_bond *lb = NULL;
	void *dd = NULL;

	ue.calls++;
	ue.tid = (pid_t)syscall(SYS_gettid);
	ue.drvdata = drvdata;
	ue.found = sva_dev_bond_lookup(ue.dev, ue.pasid, &lb, &dd) == 0 && lb == bond && dd == drvdata;
}

static void unbind_checks(void)
{
	struct cap c = { 0 };
	struct sva_ctx_opts o = { .size = sizeof(o), .pasid_grace_ns = UINT64_MAX, .log_fn = cap_fn, .log_arg = &c,
				  .log_level = SVA_LOG_ERROR };
	struct sva_ctx *ctx = NULL;
	struct sva_mm *mm = NULL;
	struct sva_dev *dev = NULL;
	struct sva_bond *b = NULL, *lb;
	void *dd;
	int drv = 7;
	struct sva_bond_ops ops = { .size = sizeof(ops), .mm_exit = unbind_exit };
	struct sva_bind_opts bo = { .size = sizeof(bo), .flags = SVA_BIND_PINNED, .ops = &ops, .drvdata = &drv };

	if (sva_ctx_new(&o, &ctx) || sva_mm_new(ctx, NULL, &mm) || sva_dev_open_mock(ctx, NULL, &dev) ||
	    sva_bind(dev, mm, &bo, &b)) {
		ok(0, "unbind: setup");
		goto out;
	}
	ue = (__typeof__(ue)){ .dev = dev, .pasid = sva_bond_pasid(b) };
	uint32_t first = ue.pasid;
	is_int(sva_unbind(b), 0, "unbind: 0");
	ok(ue.calls == 1 && ue.tid == (pid_t)syscall(SYS_gettid) && ue.drvdata == &drv,
	   "unbind: mm_exit once, in the calling thread, with the bond's drvdata");
	ok(ue.found, "unbind: during mm_exit, sva_dev_bond_lookup still finds the bond");
	lb = SENTINEL;
	ok(sva_dev_bond_lookup(dev, first, &lb, &dd) < 0, "unbind: after it, the lookup finds nothing");
	b = NULL;
	bo.ops = NULL;
	is_int(sva_bind(dev, mm, &bo, &b), 0, "unbind: bind again");
	ok(b && sva_bond_pasid(b) != first, "unbind: the released PASID %u is in quarantine, the new bond has %u", first,
	   b ? sva_bond_pasid(b) : 0);
	is_int(c.nerr, 0, "unbind: no error line");
	sva_unbind(b);
out:
	sva_dev_close(dev);
	sva_mm_free(mm);
	sva_ctx_free(ctx);
}

/* A VFIO PCI device (vtd39): the name forms of sva_dev_open(3) and what
 * sva_dev_get_info(3) says of it. */
static void real_dev_checks(void)
{
	char addr[64];

	if (!edu_find_pci_vfio(1, addr, sizeof(addr))) {
		const char *t = getenv("SVA_TOPOLOGY");

		/* The VM's topologies but the mock have edu bound to vfio-pci
		 * (tests/vm/run-vm.sh): none there is a broken VM or kernel. */
		if (getenv("SVA_VM") && t && *t && strcmp(t, "mock") != 0) {
			ok(0, "the %s topology has a VFIO PCI device (none in /sys/bus/pci/devices has vfio-dev)", t);
			skip(12, "no VFIO PCI device");
		} else {
			skip(13, "no VFIO PCI device here (the VT-d topologies have one)");
		}
		return;
	}
	struct cap c = { 0 };
	struct sva_ctx *ctx = new_ctx(&c, SVA_LOG_ERROR, 0);
	char upper[64], shortf[64];
	struct sva_dev *d = NULL;
	struct sva_dev_info info = { .size = sizeof(info) };

	for (size_t i = 0; i <= strlen(addr); i++)
		upper[i] = (char)(addr[i] >= 'a' && addr[i] <= 'f' ? addr[i] - 'a' + 'A' : addr[i]);
	snprintf(shortf, sizeof(shortf), "%s", strncmp(addr, "0000:", 5) == 0 ? addr + 5 : addr);
	int ret = sva_dev_open(ctx, upper, &d);
	is_int(ret, 0, "real device: open by the upper-case address %s", upper);
	if (ret == 0) {
		is_int(sva_dev_get_info(d, &info), 0, "real device: get_info");
		ok((info.flags & SVA_DEV_PCI) && !(info.flags & SVA_DEV_MOCK) && strcmp(info.pci_addr, addr) == 0,
		   "real device: SVA_DEV_PCI, pci_addr canonical lower case (%s, want %s)", info.pci_addr, addr);
		ok(strncmp(info.path, "/dev/vfio/devices/vfio", 22) == 0,
		   "real device: path is the node it was opened by (%s)", info.path);
		ok(info.iommu_type == SVA_IOMMU_INTEL_VTD || strcmp(sva_iommu_type_name(info.iommu_type), "unknown") != 0,
		   "real device: a known IOMMU type (%s)", sva_iommu_type_name(info.iommu_type));
		/* SVA_DEV_ATTACHED: a RID bond attaches the RID; without PASIDs
		 * nothing parks it, so its unbind detaches it. */
		struct sva_mm *mm = NULL;
		struct sva_bond *b = NULL;
		struct sva_bind_opts bo = { .size = sizeof(bo), .flags = SVA_BIND_RID | SVA_BIND_PINNED };
		int rid = -1;

		/* A device without PASIDs is bound by its RID: that bind failing
		 * is a failure, not a device to skip. */
		if (info.max_pasid_log2 == 0) {
			rid = sva_mm_new(ctx, NULL, &mm);
			if (!rid)
				rid = sva_bind(d, mm, &bo, &b);
			is_int(rid, 0, "real device without PASIDs: a RID bond");
		}
		if (rid == 0) {
			struct sva_dev_info i2 = { .size = sizeof(i2) };

			sva_dev_get_info(d, &i2);
			ok(i2.flags & SVA_DEV_ATTACHED, "real device: a RID bond: SVA_DEV_ATTACHED");
			sva_unbind(b);
			i2 = (struct sva_dev_info){ .size = sizeof(i2) };
			sva_dev_get_info(d, &i2);
			ok(!(i2.flags & SVA_DEV_ATTACHED), "real device without PASIDs: its unbind clears SVA_DEV_ATTACHED");
			ok(i2.dev_id == info.dev_id && strcmp(i2.pci_addr, info.pci_addr) == 0,
			   "real device: the rest is as fixed at the open");
		} else {
			skip(3, info.max_pasid_log2 ? "a device with PASIDs" : "no RID bond");
		}
		sva_mm_free(mm);

		/* -EBUSY from another context of the process, which keeps
		 * nothing; once the first closes, the second opens it. */
		struct cap c2 = { 0 };
		struct sva_ctx *other = new_ctx(&c2, SVA_LOG_ERROR, 0);
		struct sva_dev *d2 = SENTINEL;
		int fds = ktest_count_fds();
		ret = sva_dev_open(other, addr, &d2);
		ok(ret == -EBUSY && d2 == SENTINEL && ktest_count_fds() == fds && c2.nerr == 1,
		   "real device: open in a second context while the first has it: -EBUSY, nothing kept, one line (%d)", ret);

		/* sva_ctx_new(3), -ENOTTY: iommu_path naming a VFIO cdev, which
		 * is no iommufd (and is left unbound). */
		char node[sizeof(info.path)];
		snprintf(node, sizeof(node), "%s", info.path);
		sva_dev_close(d);
		struct sva_ctx_opts io = { .size = sizeof(io), .iommu_path = node, .log_level = SVA_LOG_OFF };
		struct sva_ctx *x = SENTINEL;
		fds = ktest_count_fds();
		ret = sva_ctx_new(&io, &x);
		ok(ret == -ENOTTY && x == SENTINEL && ktest_count_fds() == fds,
		   "sva_ctx_new: iommu_path a VFIO cdev (%s): -ENOTTY, nothing open (%d)", node, ret);
		if (ret == 0 && x != SENTINEL)
			sva_ctx_free(x);
		int vfd = open(node, O_RDWR | O_CLOEXEC);
		io = (struct sva_ctx_opts){ .size = sizeof(io), .flags = SVA_CTX_ADOPT_FD, .iommufd = vfd,
					    .log_level = SVA_LOG_OFF };
		x = SENTINEL;
		ret = sva_ctx_new(&io, &x);
		ok(ret == -ENOTTY && x == SENTINEL, "sva_ctx_new: ADOPT_FD of a VFIO cdev: -ENOTTY (%d)", ret);
		if (ret == 0 && x != SENTINEL)
			sva_ctx_free(x);
		if (vfd >= 0)
			close(vfd);
		d2 = NULL;
		ret = sva_dev_open(other, node, &d2);
		is_int(ret, 0, "real device: the second context opens it once the first closed it");
		sva_dev_close(d2);
		sva_ctx_free(other);
		d = NULL;
		ret = sva_dev_open(ctx, shortf, &d);
		is_int(ret, 0, "real device: open again by the short form %s after the close", shortf);
		sva_dev_close(d);
	} else {
		skip(12, "no device");
	}
	sva_ctx_free(ctx);
}

/* SVA_LOG: "names are matched exactly, in lower case"; read when a context
 * with log_level 0 is created, so a later setenv leaves it alone. */
static int mock_info_lines(struct sva_ctx *ctx, struct cap *c)
{
	struct sva_dev *m = NULL;

	cap_reset(c);
	if (sva_dev_open_mock(ctx, NULL, &m))
		return -1;
	sva_dev_close(m);
	return c->ninfo;
}

static void env_level_checks(void)
{
	const char *old = getenv("SVA_LOG");
	char *saved = old ? strdup(old) : NULL;
	struct cap c = { 0 }, c2 = { 0 };
	struct {
		const char *val;
		bool info;
	} cases[] = { { "info", true }, { "INFO", false }, { "Info", false }, { "", false }, { "info ", false },
		      { "debug", true } };

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		setenv("SVA_LOG", cases[i].val, 1);
		struct sva_ctx *ctx = new_ctx(&c, SVA_LOG_DEFAULT, 0);
		int n = mock_info_lines(ctx, &c);
		ok(cases[i].info ? n > 0 : n == 0, "SVA_LOG=\"%s\": %s (%d info lines)", cases[i].val,
		   cases[i].info ? "info lines" : "warn: no info line", n);
		sva_ctx_free(ctx);
	}
	setenv("SVA_LOG", "error", 1);
	struct sva_ctx *a = new_ctx(&c, SVA_LOG_DEFAULT, 0);
	setenv("SVA_LOG", "info", 1);
	struct sva_ctx *b = new_ctx(&c2, SVA_LOG_DEFAULT, 0);
	is_int(mock_info_lines(a, &c), 0, "SVA_LOG set to info after a context was made: it stays at error");
	ok(mock_info_lines(b, &c2) > 0, "  one made after it logs info lines");
	sva_ctx_free(a);
	sva_ctx_free(b);
	if (saved) {
		setenv("SVA_LOG", saved, 1);
		free(saved);
	} else {
		unsetenv("SVA_LOG");
	}
}

/* sva_ctx_new(3), broker_path: "NULL means the environment variable
 * SVA_BROKER_SOCKET ... and /run/sva-brokerd/socket when it is unset or set
 * to the empty string"; "a relative one is taken from the current
 * directory".  A listener that hangs up at once is no broker: whatever
 * reaches it fails with -ECONNRESET or -EPROTO ("it went away"), not -ENOENT.
 * (A SOCK_STREAM listener is refused by connect(2) itself, -EPROTOTYPE,
 * passed through as the page says: the broker's socket is a SOCK_SEQPACKET.) */
static pid_t hangup_listener(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int s = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);

	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	unlink(path);
	if (s < 0 || bind(s, (struct sockaddr *)&sa, sizeof(sa)) || listen(s, 8)) {
		if (s >= 0)
			close(s);
		return -1;
	}
	pid_t pid = fork();
	if (pid == 0) {
		for (;;) {
			int c = accept(s, NULL, NULL);

			if (c >= 0)
				close(c);
		}
	}
	close(s);
	return pid;
}

static int broker_new(const char *path, uint32_t extra)
{
	struct sva_ctx_opts o = { .size = sizeof(o), .flags = SVA_CTX_BROKER | extra, .broker_path = path,
				  .log_level = SVA_LOG_OFF };
	struct sva_ctx *ctx = SENTINEL;
	int fds = ktest_count_fds(), ret = sva_ctx_new(&o, &ctx);

	if (ret == 0)
		sva_ctx_free(ctx);
	else if (ctx != SENTINEL)
		ret = -9999; /* *out touched */
	else if (ktest_count_fds() != fds)
		ret = -9998; /* "nothing stays open" */
	return ret;
}

static void broker_path_checks(void)
{
	char path[108], cwd[512];
	const char *old = getenv("SVA_BROKER_SOCKET");
	char *saved = old ? strdup(old) : NULL;
	struct stat st;

	snprintf(path, sizeof(path), "/tmp/z142-hangup-%d.sock", (int)getpid());
	pid_t pid = hangup_listener(path);
	if (pid < 0) {
		skip(8, "no listening socket");
		free(saved);
		return;
	}
	int r = broker_new(path, 0);
	ok(r == -ECONNRESET || r == -EPROTO, "broker_path of a listener that hangs up: -ECONNRESET/-EPROTO (%d)", r);
	r = broker_new(path, SVA_CTX_ISOLATED);
	ok(r == -ECONNRESET || r == -EPROTO, "  isolated too (%d)", r);
	setenv("SVA_BROKER_SOCKET", path, 1);
	r = broker_new(NULL, 0);
	ok(r == -ECONNRESET || r == -EPROTO, "broker_path NULL: SVA_BROKER_SOCKET names the socket (%d)", r);
	{
		/* Errors of connect(2) are passed through: a stream socket. */
		char spath[108];
		struct sockaddr_un sa = { .sun_family = AF_UNIX };
		int ss = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

		snprintf(spath, sizeof(spath), "/tmp/z142-stream-%d.sock", (int)getpid());
		snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", spath);
		unlink(spath);
		if (ss >= 0 && bind(ss, (struct sockaddr *)&sa, sizeof(sa)) == 0 && listen(ss, 4) == 0)
			is_int(broker_new(spath, 0), -EPROTOTYPE,
			       "broker_path of a stream socket: connect(2)'s -EPROTOTYPE, nothing left open");
		else
			skip(1, "no stream socket");
		if (ss >= 0)
			close(ss);
		unlink(spath);
	}
	{
		/* -EMFILE: "no file descriptor is free ... with SVA_CTX_BROKER,
		 * for the socket". */
		pid_t cp = fork();

		if (cp == 0) {
			struct rlimit rl = { 64, 64 };

			setrlimit(RLIMIT_NOFILE, &rl);
			while (open("/dev/null", O_RDONLY) >= 0)
				;
			_exit(broker_new(path, 0) == -EMFILE ? 0 : 1);
		}
		int cst = 0;
		waitpid(cp, &cst, 0);
		ok(WIFEXITED(cst) && WEXITSTATUS(cst) == 0, "broker context with no descriptor free: -EMFILE (%#x)", cst);
	}
	setenv("SVA_BROKER_SOCKET", "/tmp/z142-nonexistent.sock", 1);
	is_int(broker_new(NULL, 0), -ENOENT, "broker_path NULL, SVA_BROKER_SOCKET names no socket: -ENOENT");
	if (getcwd(cwd, sizeof(cwd)) && chdir("/tmp") == 0) {
		r = broker_new(path + 5, 0); /* "z142-hangup-PID.sock" */
		ok(r == -ECONNRESET || r == -EPROTO, "a relative broker_path is taken from the current directory (%d)", r);
		if (chdir(cwd))
			diag("chdir back: %s", strerror(errno));
	} else {
		skip(1, "chdir");
	}
	/* The default, with SVA_BROKER_SOCKET empty: only where no broker runs. */
	if (stat("/run/sva-brokerd", &st) != 0 && mkdir("/run/sva-brokerd", 0755) == 0) {
		pid_t p2 = hangup_listener("/run/sva-brokerd/socket");

		setenv("SVA_BROKER_SOCKET", "", 1);
		r = broker_new(NULL, 0);
		ok(r == -ECONNRESET || r == -EPROTO, "SVA_BROKER_SOCKET empty: /run/sva-brokerd/socket (%d)", r);
		if (p2 > 0) {
			kill(p2, SIGKILL);
			waitpid(p2, NULL, 0);
		}
		unlink("/run/sva-brokerd/socket");
		rmdir("/run/sva-brokerd");
	} else {
		skip(1, "/run/sva-brokerd exists (a broker may run here)");
	}
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	unlink(path);
	if (saved) {
		setenv("SVA_BROKER_SOCKET", saved, 1);
		free(saved);
	} else {
		unsetenv("SVA_BROKER_SOCKET");
	}
}

/* sva_ctx_set_log(3): "a pthread_exit(3) from it is accounted for, and
 * cancellation is held off during the call": set_log, which waits for calls
 * of the old callback under way, still returns.  In a child with an alarm, so
 * that a wait that never ends fails the check rather than the run. */
static _Thread_local bool ender;
static atomic_int end_how, cb_done;
static sem_t in_cb, cancel_sent;

static void ending_cb(void *arg, enum sva_log_level level, const char *msg)
{
	(void)arg;
	(void)level;
	(void)msg;
	if (!ender)
		return;
	if (end_how == 1)
		pthread_exit(NULL);
	sem_post(&in_cb);
	sem_wait(&cancel_sent);
	usleep(1000); /* a cancellation point: held off */
	cb_done = 1;
}

static void *ending_thread(void *arg)
{
	struct sva_dev *d = NULL;

	ender = true;
	sva_dev_open(arg, "", &d); /* refused: one error line */
	for (;;)
		pthread_testcancel(), usleep(1000);
	return NULL;
}

static void callback_end_checks(void)
{
	for (int how = 1; how <= 2; how++) {
		pid_t pid = fork();

		if (pid == 0) {
			struct cap c = { 0 };
			struct sva_ctx_opts o = { .size = sizeof(o), .log_fn = ending_cb, .log_level = SVA_LOG_ERROR };
			struct sva_ctx *ctx = NULL;
			struct sva_dev *d = NULL;
			pthread_t t;

			alarm(20);
			end_how = how;
			sem_init(&in_cb, 0, 0);
			sem_init(&cancel_sent, 0, 0);
			if (sva_ctx_new(&o, &ctx) || pthread_create(&t, NULL, ending_thread, ctx))
				_exit(10);
			if (how == 2) {
				sem_wait(&in_cb);
				pthread_cancel(t);
				sem_post(&cancel_sent);
			}
			pthread_join(t, NULL);
			if (how == 2 && !cb_done)
				_exit(11); /* the cancel cut the callback short */
			sva_ctx_set_log(ctx, cap_fn, &c, SVA_LOG_ERROR);
			sva_dev_open(ctx, "", &d);
			_exit(c.nerr == 1 ? 0 : 12);
		}
		int st = 0;
		waitpid(pid, &st, 0);
		ok(WIFEXITED(st) && WEXITSTATUS(st) == 0,
		   "log callback %s: the next sva_ctx_set_log returns and the new callback gets the lines (status %#x)",
		   how == 1 ? "that calls pthread_exit" : "whose thread is cancelled in it: it runs to its end, and", st);
	}
}

/* ------------------------------------------------ poll mode, many batches */

/*
 * sva_ctx_process_faults(3), "What one call does": the call repeats batch
 * after batch (64 records at first) until it has handled max records or the
 * queue is empty, and a batch reads fewer than its buffer holds when max is
 * closer; the mock raises groups of one record (sva_dev_inject_fault(3)), so
 * the count is exact.  "Edge-triggered waiting": a return below max means the
 * queue was empty, so the descriptor no longer polls readable.
 * sva_bond_stats(3): faults and groups count every one of them; invalid
 * counts a refused record also when the bond has no fault_error callback; and
 * each refused group has one line at info level, which the warn level hides.
 */
static int pollin(int fd)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };

	return poll(&p, 1, 0) == 1 && (p.revents & POLLIN);
}

static struct sva_bond_stats bstats(struct sva_bond *b)
{
	struct sva_bond_stats st = { .size = sizeof(st) };

	sva_bond_stats(b, &st);
	return st;
}

/* Process until want records are handled; the mock's faults reach the queue a
 * little after sva_dev_inject_fault() returns. */
static int process_until(struct sva_ctx *ctx, int want)
{
	int got = 0;

	for (int ms = 0; ms < 5000 && got < want; ms++) {
		int r = sva_ctx_process_faults(ctx, 64);

		got += r > 0 ? r : 0;
		if (got < want)
			usleep(1000);
	}
	return got;
}

static void many_batches_checks(void)
{
	enum { N = 200, FIRST = 70, PAGES = 256 };
	const size_t pg = (size_t)sysconf(_SC_PAGESIZE);
	struct cap c = { 0 };
	struct sva_ctx *ctx = new_ctx(&c, SVA_LOG_WARN, SVA_CTX_FAULT_POLL);
	struct sva_mm *mm = NULL;
	struct sva_dev *dev = NULL;
	struct sva_bond *b = NULL;
	/* Low addresses: the mock reaches only part of the address space
	 * (sva_dev_iova_ranges(3)); none of bb-ctx's other checks maps there. */
	char *buf = mmap((void *)(uintptr_t)0x58000000, PAGES * pg, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
	char *none = mmap((void *)(uintptr_t)0x58400000, 4 * pg, PROT_NONE,
			  MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
	struct sva_bond_stats st;
	int fd, injected = 0, r, got;
	uint32_t pasid;

	if (buf != (void *)(uintptr_t)0x58000000 || none != (void *)(uintptr_t)0x58400000 ||
	    sva_mm_new(ctx, NULL, &mm) || sva_dev_open_mock(ctx, NULL, &dev) || sva_bind(dev, mm, NULL, &b)) {
		ok(0, "many batches: setup");
		goto out;
	}
	memset(buf, 1, PAGES * pg);
	fd = sva_ctx_fault_fd(ctx);
	pasid = sva_bond_pasid(b);

	for (int i = 0; i < N; i++)
		injected += sva_dev_inject_fault(dev, pasid, (uintptr_t)(buf + (size_t)(i % PAGES) * pg),
						 SVA_ACCESS_READ, (uint32_t)i & 0x1ff) == 0;
	is_int(injected, N, "many batches: %d single-record groups raised", N);
	/* Each raise is delivered to the queue before the call returns (the
	 * kernel's report path is synchronous, as ktest-ctx-contract's poll
	 * checks also rely on); wait for readability all the same. */
	for (int ms = 0; ms < 5000 && !pollin(fd); ms++)
		usleep(1000);
	r = sva_ctx_process_faults(ctx, FIRST);
	is_int(r, FIRST, "process_faults(max %d) with %d waiting: exactly %d (a batch of 64, then one of %d)", FIRST, N,
	       FIRST, FIRST - 64);
	is_int((int)bstats(b).faults, FIRST, "  bond_stats: faults counts the %d", FIRST);
	ok(pollin(fd), "  the rest waits: the descriptor still polls readable (level-triggered)");
	r = sva_ctx_process_faults(ctx, 4096);
	is_int(r, N - FIRST, "process_faults(max 4096): the other %d, over several batches, in one call", N - FIRST);
	ok(!pollin(fd), "  it returned less than max: the queue is empty, the descriptor not readable");
	is_int(sva_ctx_process_faults(ctx, 4096), 0, "  then 0");
	st = bstats(b);
	ok(st.faults == N && st.groups == N && st.invalid == 0,
	   "  bond_stats: faults %llu, groups %llu, invalid %llu: %d, %d, 0", (unsigned long long)st.faults,
	   (unsigned long long)st.groups, (unsigned long long)st.invalid, N, N);
	/* N distinct pages, visible to nothing before: each was made visible by
	 * this bond's faults, itself or by the fault-around of an earlier one. */
	ok(st.pages_mapped >= N, "  bond_stats: pages_mapped counts at least the %d pages faulted (%llu)", N,
	   (unsigned long long)st.pages_mapped);

	/* Refused records, on a bond bound without fault_error. */
	cap_reset(&c);
	for (int i = 0; i < 3; i++)
		sva_dev_inject_fault(dev, pasid, (uintptr_t)(none + (size_t)i * pg), SVA_ACCESS_READ, (uint32_t)i);
	got = process_until(ctx, 3);
	st = bstats(b);
	ok(got == 3 && st.faults == N + 3 && st.groups == N + 3 && st.invalid == 3,
	   "refused faults, bond without fault_error: counted in invalid all the same (%d handled, invalid %llu)", got,
	   (unsigned long long)st.invalid);
	is_int(c.n, 0, "  the warn level hides their info lines");
	sva_ctx_set_log(ctx, cap_fn, &c, SVA_LOG_INFO);
	sva_dev_inject_fault(dev, pasid, (uintptr_t)none, SVA_ACCESS_WRITE, 5);
	got = process_until(ctx, 1);
	ok(got == 1 && bstats(b).invalid == 4 && c.ninfo == 1 && c.n == 1,
	   "  at the info level: one info line for the refused group (%d lines, %d info: %s)", (int)c.n, (int)c.ninfo,
	   c.last);
out:
	sva_unbind(b);
	sva_mm_free(mm);
	sva_dev_close(dev);
	sva_ctx_free(ctx);
	if (buf != MAP_FAILED)
		munmap(buf, PAGES * pg);
	if (none != MAP_FAILED)
		munmap(none, 4 * pg);
}

int main(void)
{
	if (access("/dev/iommu", R_OK | W_OK)) {
		if (getenv("SVA_VM")) {
			ok(0, "/dev/iommu is usable inside the test VM");
			return done_testing();
		}
		skip_all("no usable /dev/iommu (make check-vm runs this test)");
	}
	{
		struct sva_ctx *probe = NULL;
		struct sva_dev *dev = NULL;
		int ret = sva_ctx_new(NULL, &probe) ? -ENODEV : sva_dev_open_mock(probe, NULL, &dev);

		sva_dev_close(dev);
		sva_ctx_free(probe);
		if (ret && !getenv("SVA_VM"))
			skip_all("no selftest mock (CONFIG_IOMMUFD_TEST): make check-vm runs this test");
	}
	ctx_new_checks();
	dev_open_root_checks();
	log_line_checks();
	release_checks(0, "thread mode");
	release_checks(SVA_CTX_FAULT_POLL, "poll mode");
	child_free_checks();
	free_log_checks();
	fault_fd_child_checks();
	bind_checks();
	unbind_checks();
	real_dev_checks();
	env_level_checks();
	broker_path_checks();
	callback_end_checks();
	many_batches_checks();
	is_int(all_badlevel, 0, "set_log: every line of the run came at a level in SVA_LOG_DEBUG..SVA_LOG_ERROR");
	return done_testing();
}
