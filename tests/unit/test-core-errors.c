/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Every context and device error reachable without a kernel: bad options, a
 * missing or wrong /dev/iommu, bad and wrong-type fds, malformed names, devices
 * not bound to vfio-pci.  Each must return its documented errno, log exactly one
 * error line that says what to do, and leave nothing behind (no fd leaks).
 */
#define _GNU_SOURCE /* memfd_create, O_PATH */
#include <dirent.h>
#include <stdbool.h>
#include <stddef.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <unistd.h>

#include "broker_client.h"
#include "fork.h"
#include "internal.h"
#include "../tap.h"
#include "fake_sysfs.h"

static int errors, any_lines;
static char last[512];

static void capture(void *arg, enum sva_log_level level, const char *msg)
{
	(void)arg;
	any_lines++;
	if (level == SVA_LOG_ERROR) {
		errors++;
		snprintf(last, sizeof(last), "%s", msg);
	}
}

static int count_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *de;
	int n = 0;

	if (!d)
		return -1;
	while ((de = readdir(d)))
		n += de->d_name[0] != '.';
	closedir(d);
	return n;
}

/*
 * Expect `call`, a NULL given to a call that ends an object, to do nothing and
 * log nothing (libsva(7), Errors): no line on the process-wide log, where a
 * NULL object's line would go, captured for the call, and no descriptor
 * opened or closed.
 */
#define EXPECT_QUIET_NOOP(call, what)                                                               \
	do {                                                                                        \
		struct sva_log *dl_ = (struct sva_log *)sva_log_default();                          \
		sva_log_fn fn_ = dl_->fn;                                                           \
		void *arg_ = dl_->arg;                                                              \
		int level_ = atomic_load(&dl_->level), fds_ = count_fds();                          \
		any_lines = 0;                                                                      \
		sva_log_set(dl_, capture, NULL, SVA_LOG_DEBUG);                                     \
		call;                                                                               \
		sva_log_set(dl_, fn_, arg_, level_);                                                \
		ok(any_lines == 0 && count_fds() == fds_,                                           \
		   "%s is a no-op: no line logged (%d), descriptors unchanged (%d, then %d)", what, \
		   any_lines, fds_, count_fds());                                                   \
	} while (0)

/* Expect `call` to fail with `err` after exactly one error line containing `hint`. */
#define EXPECT_FAIL(call, err, hint, what)                                                           \
	do {                                                                                         \
		int fds_ = count_fds(), r_;                                                          \
		errors = 0;                                                                          \
		last[0] = '\0';                                                                      \
		r_ = (call);                                                                         \
		is_int(r_, err, "%s: returns %s", what, #err);                                       \
		ok(errors == 1 && strstr(last, hint), "%s: one error line mentioning '%s' (%d: %s)", \
		   what, hint, errors, last);                                                        \
		is_int(count_fds(), fds_, "%s: no fd leaked", what);                                 \
	} while (0)

static struct sva_ctx_opts base_opts(void)
{
	struct sva_ctx_opts o = { .size = sizeof(o), .log_fn = capture, .log_level = SVA_LOG_DEBUG };

	return o;
}

/* A character major no driver has registered (/proc/devices lists the
 * registered ones), among those the kernel sets aside for local use; 0 if
 * all of them are taken. */
static unsigned int unregistered_char_major(void)
{
	static const unsigned int local[] = { 60, 61, 62, 63, 120, 121, 122, 123, 124, 125, 126, 127 };
	FILE *f = fopen("/proc/devices", "re");
	bool taken[sizeof(local) / sizeof(local[0])] = { false };
	char line[128];
	bool chr = false;

	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f)) {
		unsigned int major;

		if (!strncmp(line, "Character devices:", 18))
			chr = true;
		else if (!strncmp(line, "Block devices:", 14))
			chr = false;
		else if (chr && sscanf(line, "%u", &major) == 1)
			for (size_t i = 0; i < sizeof(local) / sizeof(local[0]); i++)
				taken[i] |= local[i] == major;
	}
	fclose(f);
	for (size_t i = 0; i < sizeof(local) / sizeof(local[0]); i++)
		if (!taken[i])
			return local[i];
	return 0;
}

/*
 * sva_ctx_new(3), ERRORS: "-EISDIR, -ENXIO iommu_path is a directory, or a
 * device node no driver serves (errors of open(2) passed through)".
 */
static void open_passed_through(struct sva_ctx_opts *o, struct sva_ctx **ctx)
{
	char dir[] = "/tmp/test-core-errors-dir.XXXXXX", node[64];
	unsigned int major = unregistered_char_major();
	struct statvfs vfs;

	if (!mkdtemp(dir))
		tap_bail("mkdtemp %s: %s", dir, strerror(errno));
	o->iommu_path = dir;
	EXPECT_FAIL(sva_ctx_new(o, ctx), -EISDIR, "cannot open", "a directory as iommu path");
	snprintf(node, sizeof(node), "%s/nodev", dir);
	/* On a nodev mount every device node is -EACCES, whatever serves it. */
	if (statvfs(dir, &vfs) == 0 && (vfs.f_flag & ST_NODEV))
		skip(3, "the temporary directory is on a nodev mount");
	else if (major && mknod(node, S_IFCHR | 0600, makedev(major, 0)) == 0) {
		o->iommu_path = node;
		EXPECT_FAIL(sva_ctx_new(o, ctx), -ENXIO, "cannot open", "a device node no driver serves as iommu path");
		unlink(node);
	} else {
		skip(3, major ? "mknod needs CAP_MKNOD" : "every local character major is registered");
	}
	rmdir(dir);
}

static void ctx_errors(void)
{
	struct sva_ctx_opts o = base_opts();
	struct sva_ctx *ctx = (struct sva_ctx *)0x1;
	int pipefd[2], nullfd, closed, ret;
	struct {
		struct sva_ctx_opts o;
		uint64_t future;
	} big;

	o.iommu_path = "/nonexistent/iommu";
	EXPECT_FAIL(sva_ctx_new(&o, &ctx), -ENOENT, "CONFIG_IOMMUFD", "missing /dev/iommu");
	ok(ctx == (struct sva_ctx *)0x1, "failed sva_ctx_new leaves *out untouched");

	o.iommu_path = "/dev/null";
	EXPECT_FAIL(sva_ctx_new(&o, &ctx), -ENOTTY, "not an iommufd", "/dev/null as iommu path");
	/* A regular file of the test's own: libsva opens the path O_RDWR, and
	 * one the user cannot write (/proc/self/status, 0444) is -EACCES
	 * unless the test runs as root; package builds run it as a user. */
	char regular[] = "/tmp/test-core-errors-iommu.XXXXXX";
	int regfd = mkstemp(regular);

	if (regfd < 0)
		tap_bail("mkstemp %s: %s", regular, strerror(errno));
	close(regfd);
	o.iommu_path = regular;
	EXPECT_FAIL(sva_ctx_new(&o, &ctx), -ENOTTY, "not an iommufd", "a regular file as iommu path");
	unlink(regular);
	open_passed_through(&o, &ctx);

	o = base_opts();
	o.flags = SVA_CTX_ADOPT_FD;
	o.iommufd = -1;
	EXPECT_FAIL(sva_ctx_new(&o, &ctx), -EBADF, "not a file descriptor", "adopting fd -1");
	closed = open("/dev/null", O_RDONLY | O_CLOEXEC);
	close(closed);
	o.iommufd = closed;
	EXPECT_FAIL(sva_ctx_new(&o, &ctx), -EBADF, "not open", "adopting a closed fd");
	if (pipe(pipefd) == 0) {
		o.iommufd = pipefd[0];
		EXPECT_FAIL(sva_ctx_new(&o, &ctx), -ENOTTY, "not an iommufd", "adopting a pipe");
		ok(fcntl(pipefd[0], F_GETFD) >= 0, "the caller's adopted fd stays open after a failure");
		close(pipefd[0]);
		close(pipefd[1]);
	}
	nullfd = open("/dev/null", O_RDWR | O_CLOEXEC);
	o.iommufd = nullfd;
	EXPECT_FAIL(sva_ctx_new(&o, &ctx), -ENOTTY, "not an iommufd", "adopting /dev/null");
	close(nullfd);

	/* Not an -EINVAL argument check: the caller's log hears it (sva_ctx_new(3), Logging). */
	o = base_opts();
	o.fault_thread_name = "0123456789abcdef";
	EXPECT_FAIL(sva_ctx_new(&o, &ctx), -ENAMETOOLONG, "longer than 15 bytes",
		    "a 16-byte fault_thread_name, reported to opts->log_fn (was the default log)");

	/* A root so long that the paths under it would be cut short (they were
	 * built cut, and whatever the cut path named was opened). */
	static char root[2050];

	memset(root, '/', 2049);
	o = base_opts();
	o.sysfs_root = root;
	EXPECT_FAIL(sva_ctx_new(&o, &ctx), -ENAMETOOLONG, "sysfs_root", "a 2049-byte sysfs_root");
	o = base_opts();
	o.dev_root = root;
	EXPECT_FAIL(sva_ctx_new(&o, &ctx), -ENAMETOOLONG, "dev_root", "a 2049-byte dev_root");
	root[2048] = '\0';
	o.dev_root = root;
	ret = sva_ctx_new(&o, &ctx);
	ok(ret != -ENAMETOOLONG, "a 2048-byte dev_root is long enough");
	if (!ret) /* a host with /dev/iommu */
		sva_ctx_free(ctx);

	o = base_opts();
	o.size = 4;
	is_int(sva_ctx_new(&o, &ctx), -EINVAL, "opts.size too small: -EINVAL");
	memset(&big, 0, sizeof(big));
	big.o = base_opts();
	big.o.size = sizeof(big);
	big.o.iommu_path = "/nonexistent/iommu";
	is_int(sva_ctx_new(&big.o, &ctx), -ENOENT, "a larger opts with zero tail is accepted (fails later: -ENOENT)");
	big.future = 1;
	is_int(sva_ctx_new(&big.o, &ctx), -EINVAL, "a larger opts with a non-zero unknown field: -EINVAL");
	o = base_opts();
	o.flags = 0x80;
	is_int(sva_ctx_new(&o, &ctx), -EINVAL, "unknown ctx flag: -EINVAL");
	o = base_opts();
	o.log_level = 42;
	is_int(sva_ctx_new(&o, &ctx), -EINVAL, "bad log level: -EINVAL");
	/* An empty name named the thread nothing: top -H could not find it. */
	o = base_opts();
	o.fault_thread_name = "";
	ctx = (struct sva_ctx *)0x1;
	is_int(sva_ctx_new(&o, &ctx), -EINVAL, "an empty fault_thread_name: -EINVAL");
	ok(ctx == (struct sva_ctx *)0x1, "an empty fault_thread_name: *out untouched");
	/* An empty root put every path at the top of the tree ("" + "/bus/pci"),
	 * a mistake for NULL that the page did not refuse (review Z128). */
	o = base_opts();
	o.sysfs_root = "";
	is_int(sva_ctx_new(&o, &ctx), -EINVAL, "an empty sysfs_root: -EINVAL");
	o = base_opts();
	o.dev_root = "";
	is_int(sva_ctx_new(&o, &ctx), -EINVAL, "an empty dev_root: -EINVAL");
	ok(ctx == (struct sva_ctx *)0x1, "  *out untouched");
	/* An empty iommu_path was opened as it was: -ENOENT, whose line sent
	 * the reader to CONFIG_IOMMUFD for what is a mistake for NULL. */
	o = base_opts();
	o.iommu_path = "";
	{
		int fds_ = count_fds();

		is_int(sva_ctx_new(&o, &ctx), -EINVAL, "an empty iommu_path: -EINVAL");
		ok(ctx == (struct sva_ctx *)0x1, "  *out untouched");
		is_int(count_fds(), fds_, "  nothing left open");
	}
	/* Ignored with SVA_CTX_ADOPT_FD (sva_ctx_new(3)), as broker_path is
	 * without SVA_CTX_BROKER: the adopted descriptor's own error. */
	o.flags = SVA_CTX_ADOPT_FD;
	o.iommufd = -1;
	is_int(sva_ctx_new(&o, &ctx), -EBADF, "an empty iommu_path with SVA_CTX_ADOPT_FD: ignored (-EBADF for fd -1)");
	o = base_opts();
	o.global_pasid_min = 5000;
	o.global_pasid_max = 4000;
	EXPECT_FAIL(sva_ctx_new(&o, &ctx), -ERANGE, "global PASID range", "inverted global PASID range");
	o.global_pasid_min = 256;
	o.global_pasid_max = 1u << 20;
	EXPECT_FAIL(sva_ctx_new(&o, &ctx), -ERANGE, "global PASID range", "global PASID max beyond 20 bits");
	is_int(sva_ctx_new(NULL, NULL), -EINVAL, "NULL out: -EINVAL");
	ok(ctx == (struct sva_ctx *)0x1, "no failure wrote *out");
	EXPECT_QUIET_NOOP(sva_ctx_free(NULL), "sva_ctx_free(NULL)");
	ok(sva_ctx_fd(NULL) == -EINVAL, "sva_ctx_fd(NULL): -EINVAL");
}

/* A context with no iommufd behind it, enough to reach every pre-bind error. */
static struct sva_ctx *fake_ctx(void)
{
	struct sva_ctx *ctx = calloc(1, sizeof(*ctx));

	atomic_init(&ctx->refs, 1);
	ctx->release = sva_ctx_release;
	ctx->fd = -1;
	ctx->fork_gen = sva_fork_gen_init() + 1; /* made by "another process": this one is a forked child */
	sva_log_init(&ctx->log, capture, NULL, SVA_LOG_DEBUG);
	ctx->sysfs_root = strdup(fake_path("sys"));
	ctx->dev_root = strdup(fake_path("dev"));
	ctx->global_pasid_min = SVA_GLOBAL_PASID_MIN_DEFAULT;
	ctx->global_pasid_max = SVA_GLOBAL_PASID_MAX_DEFAULT;
	if (sva_ctx_pasids_init(ctx)) {
		printf("Bail out! cannot set up the global PASID space\n");
		exit(1);
	}
	return ctx;
}

/*
 * One size rule for every size-prefixed struct (sva.h): at least the 1.0 size
 * (today sizeof the struct), else -EINVAL; larger only with zero bytes beyond
 * what this libsva knows (options) or with them zeroed (information).  Each
 * struct is tried one byte short, at a field boundary an "older header" would
 * have had, at its size and one word larger; the calls that accept it fail
 * later for another reason, which tells the two apart.
 */
struct grown {
	_Alignas(max_align_t) unsigned char raw[512];
};

/* g holds a struct of `real` bytes with its size field set to `size` and the
 * word just beyond `real` (a newer header's field) set to `future`. */
static void *sized_at(struct grown *g, size_t real, size_t size, uint64_t future)
{
	memset(g, 0, sizeof(*g));
	memcpy(g->raw, &size, sizeof(size));
	memcpy(g->raw + real, &future, sizeof(future));
	return g->raw;
}

/* The word beyond a struct of `real` bytes. */
static uint64_t beyond(const struct grown *g, size_t real)
{
	uint64_t v;

	memcpy(&v, g->raw + real, sizeof(v));
	return v;
}

#define sized(g, type, size, future) sized_at((g), sizeof(type), (size), (future))

static void size_rule(void)
{
	struct sva_ctx *ctx = fake_ctx();
	struct sva_dev *dev = calloc(1, sizeof(*dev)), *mdev = (struct sva_dev *)0x1;
	struct sva_mm *mm = calloc(1, sizeof(*mm)), *nmm = (struct sva_mm *)0x1;
	struct sva_pasid_space *space = NULL;
	struct sva_bond *bond = (struct sva_bond *)0x1, *fake_bond = calloc(1, sizeof(*fake_bond));
	struct sva_bind_opts bo;
	struct sva_ctx *nctx;
	struct grown g;
	void *p;

	dev->ctx = ctx;
	dev->fd = -1;
	pthread_mutex_init(&dev->lock, NULL);
	dev->info.size = sizeof(dev->info);
	mm->ctx = ctx;

	/* sva_ctx_opts: accepted, it fails opening the path. */
	struct sva_ctx_opts *co = sized(&g, struct sva_ctx_opts, offsetof(struct sva_ctx_opts, pasid_grace_ns), 0);
	co->iommu_path = "/nonexistent/iommu";
	co->log_fn = capture;
	is_int(sva_ctx_new(co, &nctx), -EINVAL, "size rule: sva_ctx_opts at an older field boundary: -EINVAL");
	co->size = sizeof(*co);
	is_int(sva_ctx_new(co, &nctx), -ENOENT, "size rule: sva_ctx_opts at its size: accepted");
	co->size = sizeof(*co) + 8;
	is_int(sva_ctx_new(co, &nctx), -ENOENT, "size rule: sva_ctx_opts larger, zero beyond: accepted");
	g.raw[sizeof(*co)] = 1;
	is_int(sva_ctx_new(co, &nctx), -EINVAL, "size rule: sva_ctx_opts larger, non-zero beyond: -EINVAL");

	/* sva_mock_opts and sva_mm_opts: accepted, the ioctl on fd -1 fails (-EBADF). */
	ctx->fork_gen = sva_fork_gen(); /* this process made it */
	is_int(sva_dev_open_mock(ctx, sized(&g, struct sva_mock_opts, sizeof(size_t), 0), &mdev), -EINVAL,
	       "size rule: sva_mock_opts without its flags: -EINVAL");
	is_int(sva_dev_open_mock(ctx, sized(&g, struct sva_mock_opts, sizeof(struct sva_mock_opts), 0), &mdev), -EBADF,
	       "size rule: sva_mock_opts at its size: accepted");
	is_int(sva_dev_open_mock(ctx, sized(&g, struct sva_mock_opts, sizeof(struct sva_mock_opts) + 8, 1), &mdev), -EINVAL,
	       "size rule: sva_mock_opts larger, non-zero beyond: -EINVAL");
	((struct sva_mock_opts *)sized(&g, struct sva_mock_opts, sizeof(struct sva_mock_opts), 0))->reserved = 1;
	is_int(sva_dev_open_mock(ctx, (struct sva_mock_opts *)g.raw, &mdev), -EINVAL,
	       "sva_mock_opts.reserved not 0: -EINVAL");
	is_int(sva_mm_new(ctx, sized(&g, struct sva_mm_opts, offsetof(struct sva_mm_opts, fault_around), 0), &nmm), -EINVAL,
	       "size rule: sva_mm_opts without fault_around: -EINVAL");
	is_int(sva_mm_new(ctx, sized(&g, struct sva_mm_opts, sizeof(struct sva_mm_opts), 0), &nmm), -EBADF,
	       "size rule: sva_mm_opts at its size: accepted");
	is_int(sva_mm_new(ctx, sized(&g, struct sva_mm_opts, sizeof(struct sva_mm_opts) + 16, 0), &nmm), -EBADF,
	       "size rule: sva_mm_opts larger, zero beyond: accepted");
	is_int(sva_mm_new(ctx, sized(&g, struct sva_mm_opts, offsetof(struct sva_mm_opts, pin_budget), 0), &nmm), -EBADF,
	       "size rule: sva_mm_opts at its 1.0 size, without pin_budget: accepted");
	is_int(sva_mm_new(ctx, sized(&g, struct sva_mm_opts, offsetof(struct sva_mm_opts, pin_budget) - 1, 0), &nmm),
	       -EINVAL, "size rule: sva_mm_opts under its 1.0 size: -EINVAL");
	is_int(sva_mm_new(ctx, sized(&g, struct sva_mm_opts, offsetof(struct sva_mm_opts, pin_budget) + 4, 0), &nmm),
	       -EINVAL, "size rule: sva_mm_opts cutting pin_budget in half: -EINVAL");
	{
		struct sva_mm_opts *mo = sized(&g, struct sva_mm_opts, sizeof(struct sva_mm_opts), 0);

		mo->pin_budget = 4095;
		is_int(sva_mm_new(ctx, mo, &nmm), -EINVAL, "sva_mm_opts: a pin_budget under one page: -EINVAL");
	}
	{
		struct sva_mm_stats ms;

		memset(&ms, 0xff, sizeof(ms));
		ms.size = offsetof(struct sva_mm_stats, pin_budget);
		mm->st_visible = 8192;
		is_int(sva_mm_stats(mm, &ms), 0, "size rule: sva_mm_stats at its 1.0 size: accepted");
		ok(ms.bytes_visible == 8192 && ms.pin_budget == UINT64_MAX,
		   "size rule: and the fields added since are not written");
		ms.size = offsetof(struct sva_mm_stats, pin_budget) - 8;
		is_int(sva_mm_stats(mm, &ms), -EINVAL, "size rule: sva_mm_stats under its 1.0 size: -EINVAL");
		ms.size = offsetof(struct sva_mm_stats, pin_budget) + 8;
		is_int(sva_mm_stats(mm, &ms), -EINVAL, "size rule: sva_mm_stats between its two layouts: -EINVAL");
		ms.size = sizeof(ms);
		mm->pin.budget = 65536;
		is_int(sva_mm_stats(mm, &ms), 0, "sva_mm_stats at its size");
		ok(ms.pin_budget == 65536 && ms.evictions == 0, "sva_mm_stats: the pin budget is reported");
		mm->st_visible = 0;
	}
	ok(mdev == (struct sva_dev *)0x1 && nmm == (struct sva_mm *)0x1, "size rule: no failure wrote *out");
	ctx->fork_gen = sva_fork_gen() + 1; /* a "forked child" again */

	/* sva_pasid_space_opts: accepted, a space is made. */
	is_int(sva_pasid_space_new(sized(&g, struct sva_pasid_space_opts, offsetof(struct sva_pasid_space_opts, grace_ns), 0), &space), -EINVAL,
	       "size rule: sva_pasid_space_opts without grace_ns: -EINVAL");
	is_int(sva_pasid_space_new(sized(&g, struct sva_pasid_space_opts, sizeof(struct sva_pasid_space_opts) + 8, 0), &space), 0,
	       "size rule: sva_pasid_space_opts larger, zero beyond: accepted");
	sva_pasid_space_free(space);
	space = NULL;
	is_int(sva_pasid_space_new(sized(&g, struct sva_pasid_space_opts, sizeof(struct sva_pasid_space_opts) + 8, 1), &space), -EINVAL,
	       "size rule: sva_pasid_space_opts larger, non-zero beyond: -EINVAL");

	/* sva_bind_opts and sva_bond_ops: accepted, the context is "forked" (-ECHILD). */
	is_int(sva_bind(dev, mm, sized(&g, struct sva_bind_opts, offsetof(struct sva_bind_opts, ops), 0), &bond), -EINVAL,
	       "size rule: sva_bind_opts without ops: -EINVAL");
	is_int(sva_bind(dev, mm, sized(&g, struct sva_bind_opts, sizeof(struct sva_bind_opts) + 8, 0), &bond), -ECHILD,
	       "size rule: sva_bind_opts larger, zero beyond: accepted");
	((struct sva_bind_opts *)sized(&g, struct sva_bind_opts, sizeof(struct sva_bind_opts), 0))->reserved = 1;
	is_int(sva_bind(dev, mm, (struct sva_bind_opts *)g.raw, &bond), -EINVAL, "sva_bind_opts.reserved not 0: -EINVAL");
	/* No options struct ends in padding: a later field would hide there, at
	 * the same sizeof, unseen by the size rule (libsva(7)). */
#define ENDS_AT_LAST(type, last) (offsetof(type, last) + sizeof(((type *)0)->last) == sizeof(type))
	ok(ENDS_AT_LAST(struct sva_ctx_opts, broker_path) && ENDS_AT_LAST(struct sva_mock_opts, reserved) &&
		   ENDS_AT_LAST(struct sva_pasid_space_opts, grace_ns) && ENDS_AT_LAST(struct sva_mm_opts, pin_budget) &&
		   ENDS_AT_LAST(struct sva_bond_ops, fault_error) && ENDS_AT_LAST(struct sva_bind_opts, reserved) &&
		   ENDS_AT_LAST(struct sva_mem_opts, mm),
	   "no options struct has padding at its end");
	bo = (struct sva_bind_opts){ .size = sizeof(bo), .flags = SVA_BIND_PINNED };
	bo.ops = sized(&g, struct sva_bond_ops, offsetof(struct sva_bond_ops, fault_error), 0);
	is_int(sva_bind(dev, mm, &bo, &bond), -EINVAL, "size rule: sva_bond_ops without fault_error: -EINVAL");
	bo.ops = sized(&g, struct sva_bond_ops, sizeof(struct sva_bond_ops), 0);
	is_int(sva_bind(dev, mm, &bo, &bond), -ECHILD, "size rule: sva_bond_ops at its size: accepted");
	bo.ops = sized(&g, struct sva_bond_ops, sizeof(struct sva_bond_ops) + 8, 0);
	is_int(sva_bind(dev, mm, &bo, &bond), -ECHILD, "size rule: sva_bond_ops larger, zero beyond: accepted");
	bo.ops = sized(&g, struct sva_bond_ops, sizeof(struct sva_bond_ops) + 8, 1);
	is_int(sva_bind(dev, mm, &bo, &bond), -EINVAL,
	       "size rule: sva_bond_ops larger, non-zero beyond: -EINVAL (not ignored)");
	ok(bond == (struct sva_bond *)0x1, "size rule: no failed bind wrote *out");

	/* sva_mem_opts: accepted, with no mm and no device it allocates. */
	is_int(sva_mem_alloc(4096, sized(&g, struct sva_mem_opts, offsetof(struct sva_mem_opts, mm), 0), &p), -EINVAL,
	       "size rule: sva_mem_opts without mm: -EINVAL");
	if (is_int(sva_mem_alloc(4096, sized(&g, struct sva_mem_opts, sizeof(struct sva_mem_opts) + 8, 0), &p), 0,
		   "size rule: sva_mem_opts larger, zero beyond: accepted"))
		sva_mem_free(NULL, p, 4096);

	/* Information structs: at least the 1.0 size; beyond it, zeroed. */
	struct sva_dev_info *info = sized(&g, struct sva_dev_info, offsetof(struct sva_dev_info, path), 0);
	is_int(sva_dev_get_info(dev, info), -EINVAL, "size rule: sva_dev_info without path: -EINVAL");
	info = sized(&g, struct sva_dev_info, sizeof(*info) + 8, 0xff);
	ok(sva_dev_get_info(dev, info) == 0 && beyond(&g, sizeof(*info)) == 0 && info->size == sizeof(*info) + 8,
	   "size rule: sva_dev_info larger: filled, the rest zeroed, size kept");
	struct sva_bond_stats *bs = sized(&g, struct sva_bond_stats, offsetof(struct sva_bond_stats, pages_mapped), 0);
	is_int(sva_bond_stats(fake_bond, bs), -EINVAL, "size rule: sva_bond_stats without pages_mapped: -EINVAL");
	bs = sized(&g, struct sva_bond_stats, sizeof(*bs) + 8, 0xff);
	ok(sva_bond_stats(fake_bond, bs) == 0 && beyond(&g, sizeof(*bs)) == 0, "size rule: sva_bond_stats larger: the rest zeroed");
	sva_pasid_space_new(NULL, &space);
	struct sva_pasid_stats *ps = sized(&g, struct sva_pasid_stats, offsetof(struct sva_pasid_stats, free), 0);
	is_int(sva_pasid_stats(space, ps), -EINVAL, "size rule: sva_pasid_stats without free: -EINVAL");
	ps = sized(&g, struct sva_pasid_stats, sizeof(*ps) + 8, 0xff);
	ok(sva_pasid_stats(space, ps) == 0 && beyond(&g, sizeof(*ps)) == 0, "size rule: sva_pasid_stats larger: the rest zeroed");
	sva_pasid_space_free(space);

	free(fake_bond);
	pthread_mutex_destroy(&dev->lock);
	free(dev);
	free(mm);
	sva_ctx_free(ctx);
}

static void dev_errors(void)
{
	struct sva_ctx *ctx = fake_ctx();
	struct sva_dev *dev = (struct sva_dev *)0x1;
	int pipefd[2], nullfd, closed;

	fake_pci_dev("0000:41:00.0", "vfio-pci", 12, 1, "vfio3");
	fake_pci_dev("0000:42:00.0", "nvme", 13, 0, NULL);
	fake_pci_dev("0000:43:00.0", NULL, -1, -1, NULL);
	fake_pci_dev("0000:44:00.0", "vfio-pci", 14, 0, NULL);

	/* Opening binds the device to the parent's iommufd: refused in a child
	 * before any lookup (it used to go on, and bind). */
	EXPECT_FAIL(sva_dev_open(ctx, "0000:41:00.0", &dev), -ECHILD, "sva_dev_open: called in a forked child",
		    "sva_dev_open in a forked child, named");
	nullfd = open("/dev/null", O_RDWR | O_CLOEXEC);
	EXPECT_FAIL(sva_dev_open_fd(ctx, nullfd, &dev), -ECHILD, "sva_dev_open_fd: called in a forked child",
		    "sva_dev_open_fd in a forked child, named");
	close(nullfd);
	ctx->fork_gen = sva_fork_gen(); /* this process's own context from here on */

	EXPECT_FAIL(sva_dev_open(ctx, "", &dev), -EINVAL, "empty", "empty name");
	EXPECT_FAIL(sva_dev_open(ctx, "41:00", &dev), -EINVAL, "PCI address", "malformed PCI address");
	EXPECT_FAIL(sva_dev_open(ctx, "vfio", &dev), -EINVAL, "PCI address", "'vfio' without a number");
	EXPECT_FAIL(sva_dev_open(ctx, "0000:99:00.0", &dev), -ENOENT, "no PCI device", "absent PCI device");
	EXPECT_FAIL(sva_dev_open(ctx, "0000:42:00.0", &dev), -ENODEV, "not vfio-pci", "device bound to nvme");
	EXPECT_FAIL(sva_dev_open(ctx, "43:00.0", &dev), -ENODEV, "bound to no driver", "unbound device");
	EXPECT_FAIL(sva_dev_open(ctx, "0000:44:00.0", &dev), -ENODEV, "CONFIG_VFIO_DEVICE_CDEV",
		    "vfio-pci device without a cdev");
	{
		/* No descriptor free to read the device's vfio-dev/ in sysfs: the
		 * shortage, not "the kernel needs CONFIG_VFIO_DEVICE_CDEV" with
		 * -ENODEV (review Z74). */
		struct rlimit old, low;
		int fd = dup(0);

		getrlimit(RLIMIT_NOFILE, &old);
		low = old;
		low.rlim_cur = (rlim_t)fd; /* the lowest free number is fd: nothing can be opened */
		close(fd);
		setrlimit(RLIMIT_NOFILE, &low);
		errors = 0;
		last[0] = '\0';
		fd = sva_dev_open(ctx, "0000:41:00.0", &dev);
		setrlimit(RLIMIT_NOFILE, &old);
		is_int(fd, -EMFILE, "no descriptor free to resolve a PCI address: -EMFILE, not -ENODEV");
		ok(errors == 1 && strstr(last, "RLIMIT_NOFILE") && !strstr(last, "CONFIG_VFIO_DEVICE_CDEV"),
		   "  one error line with the remedy, not the kernel's configuration (%d: %s)", errors, last);
	}
	/* The fake /dev has no vfio/devices at all: the kernel lacks cdev support. */
	EXPECT_FAIL(sva_dev_open(ctx, "0000:41:00.0", &dev), -ENODEV, "CONFIG_VFIO_DEVICE_CDEV", "no /dev/vfio/devices");
	fake_mkdir(fake_path("dev/vfio/devices"));
	EXPECT_FAIL(sva_dev_open(ctx, "vfio7", &dev), -ENOENT, "does not exist", "absent cdev name");
	fake_write(fake_path("dev/vfio/devices/vfio3"), "not a device\n");
	EXPECT_FAIL(sva_dev_open(ctx, "vfio3", &dev), -ENOTTY, "not a character device", "a regular file as cdev");
	EXPECT_FAIL(sva_dev_open(ctx, "/dev/null", &dev), -ENOTTY, "not a VFIO cdev", "/dev/null as device");
	EXPECT_FAIL(sva_dev_open(ctx, "/tmp", &dev), -ENOTTY, "not a character device", "a directory as device");
	EXPECT_FAIL(sva_dev_open(ctx, fake_path("dev/vfio/devices"), &dev), -ENOTTY, "not a character device",
		    "the cdev directory as device");
	EXPECT_FAIL(sva_dev_open(ctx, NULL, &dev), -EINVAL, "name is NULL", "NULL name");

	EXPECT_FAIL(sva_dev_open_fd(ctx, -1, &dev), -EBADF, "not open", "fd -1");
	closed = open("/dev/null", O_RDONLY | O_CLOEXEC);
	close(closed);
	EXPECT_FAIL(sva_dev_open_fd(ctx, closed, &dev), -EBADF, "not open", "closed fd");
	if (pipe(pipefd) == 0) {
		EXPECT_FAIL(sva_dev_open_fd(ctx, pipefd[0], &dev), -ENOTTY, "not a character device", "a pipe");
		close(pipefd[0]);
		close(pipefd[1]);
	}
	nullfd = open("/dev/null", O_RDWR | O_CLOEXEC);
	EXPECT_FAIL(sva_dev_open_fd(ctx, nullfd, &dev), -ENOTTY, "not a VFIO cdev", "/dev/null fd");
	ok(fcntl(nullfd, F_GETFD) >= 0, "the caller's fd stays open after a failure");
	close(nullfd);
	ok(dev == (struct sva_dev *)0x1, "no failure wrote *out");

	is_int(sva_dev_open(NULL, "vfio0", &dev), -EINVAL, "NULL ctx: -EINVAL");
	is_int(sva_dev_open(ctx, "vfio0", NULL), -EINVAL, "NULL out: -EINVAL");
	is_int(sva_dev_open_mock(NULL, NULL, &dev), -EINVAL, "mock with NULL ctx: -EINVAL");
	is_int(sva_dev_inject_fault(NULL, 1, 0, SVA_ACCESS_READ, 0), -EINVAL, "inject on NULL dev: -EINVAL");
	is_int(sva_dev_get_info(NULL, NULL), -EINVAL, "info of NULL dev: -EINVAL");
	{
		struct sva_mm_stats ms = { .size = sizeof(ms) };

		is_int(sva_mm_fence(NULL), -EINVAL, "fence of NULL mm: -EINVAL");
		is_int(sva_mm_stats(NULL, &ms), -EINVAL, "stats of NULL mm: -EINVAL");
	}

	{
		/* A broker context (nothing of the connection is used before these
		 * refusals).  sva_dev_open_fd(3): -EOPNOTSUPP, "checked before fd";
		 * sva_dev_open_mock(3): -EOPNOTSUPP; sva_dev_open(3): a name of 128
		 * bytes or more is -EINVAL before any request. */
		struct sva_broker_conn *none = ctx->broker;
		char longname[129];

		ctx->broker = (struct sva_broker_conn *)(void *)&longname; /* never dereferenced here */
		EXPECT_FAIL(sva_dev_open_fd(ctx, -1, &dev), -EOPNOTSUPP, "by name",
			    "broker context: sva_dev_open_fd of fd -1 is -EOPNOTSUPP, not -EBADF");
		EXPECT_FAIL(sva_dev_open_mock(ctx, NULL, &dev), -EOPNOTSUPP, "by name",
			    "broker context: sva_dev_open_mock");
		memset(longname, 'a', 128);
		longname[128] = '\0';
		EXPECT_FAIL(sva_dev_open(ctx, longname, &dev), -EINVAL, "too long",
			    "broker context: a 128-byte name");
		ctx->broker = none;
		ok(dev == (struct sva_dev *)0x1, "  none of them wrote *out");
	}
	{
		/* sva_ctx_fd(3): an isolated broker client has no iommufd
		 * (-EOPNOTSUPP, not logged); a trusted one gives its own. */
		struct sva_broker_conn *none = ctx->broker, conn = { .isolated = true };
		int fd = ctx->fd;

		ctx->broker = &conn;
		ctx->fd = 7;
		errors = any_lines = 0;
		is_int(sva_ctx_fd(ctx), -EOPNOTSUPP, "sva_ctx_fd of an isolated broker context: -EOPNOTSUPP");
		ok(errors == 0, "  not logged (%d: %s)", errors, last);
		conn.isolated = false;
		is_int(sva_ctx_fd(ctx), 7, "sva_ctx_fd of a trusted broker context: its iommufd");
		ctx->broker = none;
		ctx->fd = fd;
	}

	/* Another fork generation again: this process is a "forked child". */
	ctx->fork_gen = sva_fork_gen() + 1;
	struct sva_dev *child_dev = calloc(1, sizeof(*child_dev));
	struct sva_iova_range r[4];
	size_t nr = 4;

	child_dev->ctx = ctx;
	child_dev->rid_ioas = 1; /* attached, so only the fork check stands in the way */
	pthread_mutex_init(&child_dev->lock, NULL);
	EXPECT_FAIL(sva_dev_iova_ranges(child_dev, r, &nr), -ECHILD, "forked child",
		    "sva_dev_iova_ranges in a forked child");
	pthread_mutex_destroy(&child_dev->lock);
	free(child_dev);
	EXPECT_QUIET_NOOP(sva_dev_close(NULL), "sva_dev_close(NULL)");
	EXPECT_QUIET_NOOP(sva_mm_free(NULL), "sva_mm_free(NULL)");
	sva_ctx_free(ctx);
}

/*
 * Permission denied: root bypasses file permissions, so a child drops to
 * nobody and opens a root-only node as its iommu path.  Exit status bits name
 * what went wrong; the parent reports them.
 */
static void permission_denied(void)
{
	char path[300];
	int fd, status;
	pid_t pid;

	if (geteuid() != 0) {
		skip(4, "not root: cannot make a node this user may not open (checked as root in CI)");
		return;
	}
	snprintf(path, sizeof(path), "%s", fake_path("root-only"));
	fd = open(path, O_CREAT | O_WRONLY | O_CLOEXEC, 0600);
	if (fd >= 0)
		close(fd);
	pid = fork();
	if (pid == 0) {
		struct sva_ctx_opts o = base_opts();
		struct sva_ctx *ctx;
		int st = 0;

		if (setgid(65534) || setuid(65534))
			_exit(64);
		o.iommu_path = path;
		errors = 0;
		if (sva_ctx_new(&o, &ctx) != -EACCES)
			st |= 1;
		if (errors != 1 || !strstr(last, "permission denied"))
			st |= 2;
		/* sva_dev_open(3): -EACCES, no permission to open the device node
		 * (checked before what the node is). */
		{
			struct sva_ctx *fctx = fake_ctx();
			struct sva_dev *d = (struct sva_dev *)0x1;

			fctx->fork_gen = sva_fork_gen(); /* made by this process */
			errors = 0;
			if (sva_dev_open(fctx, path, &d) != -EACCES || d != (struct sva_dev *)0x1)
				st |= 4;
			if (errors != 1 || !strstr(last, "permission denied"))
				st |= 8;
		}
		_exit(st);
	}
	waitpid(pid, &status, 0);
	if (WIFEXITED(status) && WEXITSTATUS(status) == 64) {
		skip(4, "cannot drop to user nobody here");
		return;
	}
	ok(WIFEXITED(status) && !(WEXITSTATUS(status) & 1), "an iommu path the user may not open: -EACCES");
	ok(WIFEXITED(status) && !(WEXITSTATUS(status) & 2), "one error line saying permission denied, and what to do");
	ok(WIFEXITED(status) && !(WEXITSTATUS(status) & 4), "sva_dev_open of a node the user may not open: -EACCES");
	ok(WIFEXITED(status) && !(WEXITSTATUS(status) & 8), "  one error line saying permission denied");
}

static void log_levels(void)
{
	is_int(sva_log_env_level(), SVA_LOG_WARN, "default level without $SVA_LOG is warn");
	setenv("SVA_LOG", "debug", 1);
	is_int(sva_log_env_level(), SVA_LOG_DEBUG, "SVA_LOG=debug");
	setenv("SVA_LOG", "error", 1);
	is_int(sva_log_env_level(), SVA_LOG_ERROR, "SVA_LOG=error");
	setenv("SVA_LOG", "bogus", 1);
	is_int(sva_log_env_level(), SVA_LOG_WARN, "unknown SVA_LOG falls back to warn");
	/* libsva(7), ENVIRONMENT: "debug, info, warn (or warning), error or off;
	 * any other value, or none, is warn", names "matched exactly, in lower
	 * case" (libsva(7), Logging: also when empty). */
	{
		static const struct {
			const char *value;
			int level;
		} env[] = {
			{ "info", SVA_LOG_INFO },   { "warn", SVA_LOG_WARN },	  { "warning", SVA_LOG_WARN },
			{ "off", SVA_LOG_OFF },	    { "", SVA_LOG_WARN },	  { "DEBUG", SVA_LOG_WARN },
			{ "Off", SVA_LOG_WARN },    { "debug ", SVA_LOG_WARN },	  { "default", SVA_LOG_WARN },
			{ " warn", SVA_LOG_WARN }, { "errors", SVA_LOG_WARN },
		};

		for (size_t i = 0; i < sizeof(env) / sizeof(env[0]); i++) {
			setenv("SVA_LOG", env[i].value, 1);
			is_int(sva_log_env_level(), env[i].level, "SVA_LOG='%s'", env[i].value);
		}
	}
	unsetenv("SVA_LOG");
	ok(strcmp(sva_log_level_name(SVA_LOG_INFO), "info") == 0, "level name of info");
	ok(sva_log_level_name((enum sva_log_level)99) == NULL, "level name out of range is NULL");
	ok(strcmp(sva_iommu_type_name(SVA_IOMMU_INTEL_VTD), "intel-vtd") == 0, "iommu type name");
	ok(strcmp(sva_iommu_type_name(77), "unknown") == 0, "unknown iommu type");
}

/*
 * A NULL argument beside a known context: the context's log hears it
 * (sva_ctx_set_log(3): the process-wide log only before an object is known).
 */
static void null_args_logged(void)
{
	struct sva_ctx *ctx = fake_ctx();
	struct sva_dev *dev = calloc(1, sizeof(*dev));
	struct sva_mm *mm = calloc(1, sizeof(*mm));
	struct sva_dev *ndev0 = NULL;

	ctx->fork_gen = sva_fork_gen_init(); /* this process's: the option checks come next */
	dev->ctx = ctx;
	mm->ctx = ctx;
	EXPECT_FAIL(sva_mm_new(ctx, NULL, NULL), -EINVAL, "sva_mm_new: out is NULL", "sva_mm_new, NULL out");
	EXPECT_FAIL(sva_dev_open_mock(ctx, NULL, NULL), -EINVAL, "sva_dev_open_mock: out is NULL",
		    "sva_dev_open_mock, NULL out");
	EXPECT_FAIL(sva_dev_open(ctx, "x", NULL), -EINVAL, "sva_dev_open: out is NULL", "sva_dev_open, NULL out");
	EXPECT_FAIL(sva_dev_open_fd(ctx, 0, NULL), -EINVAL, "sva_dev_open_fd: out is NULL", "sva_dev_open_fd, NULL out");
	EXPECT_FAIL(sva_bind(dev, mm, NULL, NULL), -EINVAL, "sva_bind: out is NULL", "sva_bind, NULL out");
	EXPECT_FAIL(sva_bind(NULL, mm, NULL, NULL), -EINVAL, "sva_bind: dev is NULL", "sva_bind, NULL dev");
	EXPECT_FAIL(sva_bind(dev, NULL, NULL, NULL), -EINVAL, "sva_bind: mm is NULL", "sva_bind, NULL mm");

	/* A line is one line, whatever the caller's string held. */
	errors = 0;
	is_int(sva_dev_open(ctx, "vfio\n0\033[2J", &ndev0), -EINVAL, "a device name with a newline: -EINVAL");
	ok(errors == 1 && !strpbrk(last, "\n\033") && strstr(last, "vfio?0?[2J"),
	   "  logged on one line, control characters as '?' (%s)", last);

	/* Each refused option says which one, not "size, flags or reserved". */
	struct sva_mm_opts mo = { .size = 8 };
	struct sva_bind_opts bo = { .size = sizeof(bo) };
	struct sva_mock_opts ko = { .size = sizeof(ko), .reserved = 1 };
	struct sva_mm *nmm = NULL;
	struct sva_bond *bond = NULL;
	struct sva_dev *ndev = NULL;

	EXPECT_FAIL(sva_mm_new(ctx, &mo, &nmm), -EINVAL, "set it to sizeof", "sva_mm_new, opts->size 8");
	mo.size = sizeof(mo);
	mo.flags = 1u << 30;
	EXPECT_FAIL(sva_mm_new(ctx, &mo, &nmm), -EINVAL, "unknown flags 0x40000000", "sva_mm_new, an unknown flag");
	bo.reserved = 1;
	EXPECT_FAIL(sva_bind(dev, mm, &bo, &bond), -EINVAL, "reserved is not zero", "sva_bind, reserved set");
	EXPECT_FAIL(sva_dev_open_mock(ctx, &ko, &ndev), -EINVAL, "reserved is not zero",
		    "sva_dev_open_mock, reserved set");
	free(mm);
	free(dev);
	sva_ctx_free(ctx);
}

/*
 * libsva(7), Errors: a NULL object is a bug of the caller's, logged at error
 * level on the process-wide log by every call that fails for it, those that
 * only read included; sva_dev_bond_lookup() logs nothing at all, and the
 * calls that end an object do nothing for NULL.  sva_mm_allow() and
 * sva_mm_deny() logged it, sva_mm_prefault(), sva_mm_fence(), the stats calls
 * and others returned -EINVAL without a line.
 */
#define NULL_LOGGED(call, fn)                                                                          \
	do {                                                                                           \
		int r_;                                                                                \
		errors = 0;                                                                            \
		last[0] = '\0';                                                                        \
		r_ = (int)(call);                                                                      \
		ok(r_ == -EINVAL && errors == 1 && !strncmp(last, fn ": ", strlen(fn) + 2) &&          \
			   strstr(last, "NULL"),                                                       \
		   "%s with a NULL object: -EINVAL (%d) and one error line naming it (%d: %s)", fn, r_, \
		   errors, last);                                                                      \
	} while (0)

static void null_objects_logged(void)
{
	struct sva_dev_info info = { .size = sizeof(info) };
	struct sva_mm_stats ms = { .size = sizeof(ms) };
	struct sva_bond_stats bs = { .size = sizeof(bs) };
	struct sva_pasid_stats ps = { .size = sizeof(ps) };
	struct sva_iova_range r[1];
	struct sva_bond *bond = NULL;
	struct sva_mm *mm = NULL;
	struct sva_dev *dev = NULL;
	static char page[8192] __attribute__((aligned(4096)));
	size_t nr = 1;
	uint32_t pasid = 0;
	void *drv = NULL;

	sva_log_set((struct sva_log *)sva_log_default(), capture, NULL, SVA_LOG_DEBUG);
	NULL_LOGGED(sva_mm_prefault(NULL, page, 4096), "sva_mm_prefault");
	NULL_LOGGED(sva_mm_invalidate(NULL, page, 4096), "sva_mm_invalidate");
	NULL_LOGGED(sva_mm_fence(NULL), "sva_mm_fence");
	NULL_LOGGED(sva_mm_stats(NULL, &ms), "sva_mm_stats");
	NULL_LOGGED(sva_mm_iova_ranges(NULL, r, &nr), "sva_mm_iova_ranges");
	NULL_LOGGED(sva_mm_allow(NULL, page, 4096), "sva_mm_allow");
	NULL_LOGGED(sva_mm_deny(NULL, page, 4096), "sva_mm_deny");
	NULL_LOGGED(sva_mm_new(NULL, NULL, &mm), "sva_mm_new");
	NULL_LOGGED(sva_bind(NULL, NULL, NULL, &bond), "sva_bind");
	NULL_LOGGED(sva_unbind(NULL), "sva_unbind");
	NULL_LOGGED(sva_bond_stats(NULL, &bs), "sva_bond_stats");
	NULL_LOGGED(sva_dev_open(NULL, "x", &dev), "sva_dev_open");
	NULL_LOGGED(sva_dev_open_fd(NULL, 0, &dev), "sva_dev_open_fd");
	NULL_LOGGED(sva_dev_open_mock(NULL, NULL, &dev), "sva_dev_open_mock");
	NULL_LOGGED(sva_dev_get_info(NULL, &info), "sva_dev_get_info");
	NULL_LOGGED(sva_dev_fd(NULL), "sva_dev_fd");
	NULL_LOGGED(sva_dev_iova_ranges(NULL, r, &nr), "sva_dev_iova_ranges");
	NULL_LOGGED(sva_dev_inject_fault(NULL, 1, 0, 1, 0), "sva_dev_inject_fault");
	NULL_LOGGED(sva_dev_set_pasid_range(NULL, 1, 2), "sva_dev_set_pasid_range");
	NULL_LOGGED(sva_dev_pasid_alloc(NULL, SVA_PASID_AUTO, NULL, &pasid), "sva_dev_pasid_alloc");
	NULL_LOGGED(sva_dev_pasid_free(NULL, 1), "sva_dev_pasid_free");
	NULL_LOGGED(sva_dev_pasid_release(NULL, 1), "sva_dev_pasid_release");
	NULL_LOGGED(sva_dev_pasid_lookup(NULL, 1, &drv), "sva_dev_pasid_lookup");
	NULL_LOGGED(sva_ctx_fd(NULL), "sva_ctx_fd");
	NULL_LOGGED(sva_ctx_fault_fd(NULL), "sva_ctx_fault_fd");
	NULL_LOGGED(sva_ctx_fault_health(NULL), "sva_ctx_fault_health");
	NULL_LOGGED(sva_ctx_process_faults(NULL, 1), "sva_ctx_process_faults");
	NULL_LOGGED(sva_ctx_share_memfd(NULL, 0, 0, page, 4096), "sva_ctx_share_memfd");
	NULL_LOGGED(sva_ctx_unshare_memfd(NULL, page, 4096), "sva_ctx_unshare_memfd");
	NULL_LOGGED(sva_pasid_alloc(NULL, NULL, &pasid), "sva_pasid_alloc");
	NULL_LOGGED(sva_pasid_free(NULL, 1), "sva_pasid_free");
	NULL_LOGGED(sva_pasid_release(NULL, 1), "sva_pasid_release");
	NULL_LOGGED(sva_pasid_barrier(NULL), "sva_pasid_barrier");
	NULL_LOGGED(sva_pasid_lookup(NULL, 1, &drv), "sva_pasid_lookup");
	NULL_LOGGED(sva_pasid_stats(NULL, &ps), "sva_pasid_stats");

	/* The exceptions the page names: no line. */
	errors = 0;
	is_int(sva_dev_bond_lookup(NULL, 1, &bond, &drv), -EINVAL, "sva_dev_bond_lookup with a NULL device: -EINVAL");
	sva_ctx_free(NULL);
	sva_dev_close(NULL);
	sva_mm_free(NULL);
	sva_pasid_space_free(NULL);
	ok(sva_bond_pasid(NULL) == SVA_PASID_RID && !sva_bond_drvdata(NULL) && !sva_ctx_global_pasids(NULL) &&
		   !sva_dev_pasids(NULL),
	   "  the property calls answer NULL's value");
	is_int(errors, 0, "  none of these logs (sva_dev_bond_lookup logs nothing at all; the free and close calls "
			  "do nothing for NULL)");
	sva_log_set((struct sva_log *)sva_log_default(), NULL, NULL, -1); /* as it starts */
}

/*
 * The read-only calls' pages: an argument check other than a NULL object
 * logs nothing (sva_mm_stats(3), sva_bond_stats(3), sva_pasid_stats(3),
 * sva_dev_iova_ranges(3), sva_mm_iova_ranges(3): "only a NULL ... is
 * logged"; sva_pasid_stats() logged its at error level), and the iova_ranges
 * calls pass the kernel's errors through without a line ("Only -ECHILD is
 * logged"; sva_dev_iova_ranges(3) adds its -ENOTCONN).  The fake context's
 * iommufd is -1, so the kernel's answer is -EBADF.
 */
static void read_only_quiet(void)
{
	struct sva_ctx *ctx = fake_ctx();
	struct sva_dev *dev = calloc(1, sizeof(*dev));
	struct sva_mm *mm = calloc(1, sizeof(*mm));
	struct sva_bond *bond = calloc(1, sizeof(*bond));
	struct sva_mm_stats ms = { .size = sizeof(size_t) };
	struct sva_bond_stats bs = { .size = sizeof(bs) - 1 };
	struct sva_pasid_stats ps = { .size = sizeof(ps) - 1 };
	struct sva_pasid_space *space = NULL;
	struct sva_iova_range r[2];
	size_t nr = 1;

	ctx->fork_gen = sva_fork_gen_init(); /* this process's: not a forked child */
	dev->ctx = ctx;
	pthread_mutex_init(&dev->lock, NULL);
	snprintf(dev->label, sizeof(dev->label), "fake device");
	mm->ctx = ctx;
	mm->ioas_id = 1;
	sva_log_set((struct sva_log *)sva_log_default(), capture, NULL, SVA_LOG_DEBUG);
	is_int(sva_pasid_space_new(NULL, &space), 0, "a PASID space without a context (it logs process-wide)");
	any_lines = 0;
	is_int(sva_pasid_stats(space, NULL), -EINVAL, "sva_pasid_stats, NULL stats: -EINVAL");
	is_int(sva_pasid_stats(space, &ps), -EINVAL, "sva_pasid_stats, size too small: -EINVAL");
	is_int(sva_mm_stats(mm, NULL), -EINVAL, "sva_mm_stats, NULL stats: -EINVAL");
	is_int(sva_mm_stats(mm, &ms), -EINVAL, "sva_mm_stats, a size smaller than the first layout: -EINVAL");
	is_int(sva_bond_stats(bond, NULL), -EINVAL, "sva_bond_stats, NULL stats: -EINVAL");
	is_int(sva_bond_stats(bond, &bs), -EINVAL, "sva_bond_stats, size too small: -EINVAL");
	is_int(sva_mm_iova_ranges(mm, r, NULL), -EINVAL, "sva_mm_iova_ranges, NULL nr: -EINVAL");
	is_int(sva_mm_iova_ranges(mm, NULL, &nr), -EINVAL, "sva_mm_iova_ranges, *nr 1 and NULL ranges: -EINVAL");
	is_int(sva_dev_iova_ranges(dev, r, NULL), -EINVAL, "sva_dev_iova_ranges, NULL nr: -EINVAL");
	is_int(sva_dev_iova_ranges(dev, NULL, &nr), -EINVAL, "sva_dev_iova_ranges, *nr 1 and NULL ranges: -EINVAL");
	is_int(any_lines, 0, "  none of them logs, on the context's log or the process-wide one");
	nr = 2;
	is_int(sva_mm_iova_ranges(mm, r, &nr), -EBADF, "sva_mm_iova_ranges: the kernel's -EBADF passed through");
	dev->rid_ioas = 1;
	nr = 2;
	is_int(sva_dev_iova_ranges(dev, r, &nr), -EBADF, "sva_dev_iova_ranges: the kernel's -EBADF passed through");
	is_int(any_lines, 0, "  neither logs it");
	sva_log_set((struct sva_log *)sva_log_default(), NULL, NULL, -1); /* as it starts */
	sva_pasid_space_free(space);
	pthread_mutex_destroy(&dev->lock);
	free(bond);
	free(mm);
	free(dev);
	sva_ctx_free(ctx);
}

/*
 * sva_ctx_share_memfd(3), -EBADF: an O_PATH descriptor, even of a memfd, is no
 * file to map (the kernel's mmap(2) and IOMMU_IOAS_MAP_FILE answer EBADF for
 * it); libsva said -EINVAL, "not a memfd".  Checked before the broker is
 * asked: a hand-built isolated context whose socket is -1 is enough.
 */
static void share_memfd_opath(void)
{
	struct sva_ctx *ctx = fake_ctx();
	struct sva_broker_conn *conn = calloc(1, sizeof(*conn));
	long pg = sysconf(_SC_PAGESIZE);
	int mfd = memfd_create("test-core-errors", MFD_CLOEXEC), opath;
	char proc[64];
	void *a = mmap(NULL, (size_t)pg, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (mfd < 0 || ftruncate(mfd, pg) || a == MAP_FAILED) {
		printf("Bail out! memfd or mmap\n");
		exit(1);
	}
	snprintf(proc, sizeof(proc), "/proc/self/fd/%d", mfd);
	opath = open(proc, O_PATH | O_CLOEXEC);
	if (opath < 0) {
		skip(3, "no /proc/self/fd here");
	} else {
		ctx->fork_gen = sva_fork_gen_init(); /* this process's: not a forked child */
		conn->sock = -1;
		conn->fd = -1;
		conn->isolated = true;
		ctx->broker = conn;
		EXPECT_FAIL(sva_ctx_share_memfd(ctx, opath, 0, a, (size_t)pg), -EBADF, "O_PATH",
			    "sva_ctx_share_memfd, an O_PATH descriptor of a memfd");
		ctx->broker = NULL; /* never connected: nothing for sva_broker_conn_free() to end */
		close(opath);
	}
	free(conn);
	munmap(a, (size_t)pg);
	close(mfd);
	sva_ctx_free(ctx);
}

/*
 * What the pages promise of a forked child, on objects its parent made (the
 * fake context is one: its fork generation is not this process's).
 *  - sva_unbind(3), -ECHILD: "Nothing is done": no mm_exit, and the bond is
 *    not marked as being torn down (a second call is -ECHILD again, not the
 *    -EINVAL of a bond already being torn down); its PASID and drvdata still
 *    read (sva_bond_pasid(3)).
 *  - sva_ctx_process_faults(3) and sva_ctx_fault_fd(3): -ECHILD in poll mode;
 *    a context made without SVA_CTX_FAULT_POLL is -EINVAL first, as the pages
 *    say (the mode is checked before the process).
 *  - sva_ctx_fault_health(3), NOTES: the parent's value as it was at the fork.
 *  - sva_mem_alloc(3) and sva_mem_free(3), -ECHILD with the parent's address
 *    space: *out untouched, nothing mapped; nothing unmapped, and the child
 *    frees its copy with a NULL mm.
 */
static int child_exits;

static void child_mm_exit(struct sva_bond *b, void *d)
{
	(void)b;
	(void)d;
	child_exits++;
}

static void forked_child_calls(void)
{
	struct sva_ctx *ctx = fake_ctx();
	struct sva_dev *dev = calloc(1, sizeof(*dev));
	struct sva_mm *mm = calloc(1, sizeof(*mm));
	struct sva_bond *bond = calloc(1, sizeof(*bond));
	struct sva_mem_opts mo = { .size = sizeof(mo), .mm = mm };
	void *p = NULL, *q = (void *)(uintptr_t)0x1234;

	dev->ctx = ctx;
	dev->fd = -1;
	pthread_mutex_init(&dev->lock, NULL);
	mm->ctx = ctx;
	bond->dev = dev;
	bond->mm = mm;
	bond->pasid = 300;
	bond->drvdata = (void *)(uintptr_t)0xd0;
	bond->ops.mm_exit = child_mm_exit;
	atomic_init(&bond->state, SVA_BOND_BOUND);

	EXPECT_FAIL(sva_unbind(bond), -ECHILD, "forked child", "sva_unbind in a forked child");
	ok(child_exits == 0 && atomic_load(&bond->state) == SVA_BOND_BOUND,
	   "  nothing is done: no mm_exit (%d), the bond still bound", child_exits);
	is_int(sva_unbind(bond), -ECHILD, "  a second sva_unbind: -ECHILD again, not -EINVAL (being torn down)");
	ok(sva_bond_pasid(bond) == 300 && sva_bond_drvdata(bond) == (void *)(uintptr_t)0xd0,
	   "  sva_bond_pasid and sva_bond_drvdata still answer");

	ctx->fe.poll_mode = true;
	EXPECT_FAIL(sva_ctx_process_faults(ctx, 8), -ECHILD, "forked child", "sva_ctx_process_faults, poll mode, forked");
	EXPECT_FAIL(sva_ctx_fault_fd(ctx), -ECHILD, "forked child", "sva_ctx_fault_fd, poll mode, forked");
	ctx->fe.poll_mode = false;
	EXPECT_FAIL(sva_ctx_process_faults(ctx, 8), -EINVAL, "fault thread",
		    "sva_ctx_process_faults, thread mode, forked: the mode first");
	EXPECT_FAIL(sva_ctx_fault_fd(ctx), -EINVAL, "fault thread", "sva_ctx_fault_fd, thread mode, forked: the mode first");
	is_int(sva_ctx_fault_health(ctx), 0, "sva_ctx_fault_health, forked: the parent's value (0)");
	atomic_store(&ctx->fe.thread_error, -EBADF);
	is_int(sva_ctx_fault_health(ctx), -EBADF, "sva_ctx_fault_health, forked: the parent's value (-EBADF)");
	atomic_store(&ctx->fe.thread_error, 0);

	EXPECT_FAIL(sva_mem_alloc(4096, &mo, &q), -ECHILD, "forked child", "sva_mem_alloc with the parent's mm");
	ok(q == (void *)(uintptr_t)0x1234, "  *out untouched");
	if (is_int(sva_mem_alloc(4096, NULL, &p), 0, "sva_mem_alloc without an address space")) {
		EXPECT_FAIL(sva_mem_free(mm, p, 4096), -ECHILD, "forked child", "sva_mem_free with the parent's mm");
		ok(msync(p, 4096, MS_ASYNC) == 0 && *(volatile char *)p == 0, "  nothing unmapped: the memory still reads");
		is_int(sva_mem_free(NULL, p, 4096), 0, "  still allocated: a NULL mm frees it");
	}
	pthread_mutex_destroy(&dev->lock);
	free(bond);
	free(mm);
	free(dev);
	sva_ctx_free(ctx);
}

/*
 * libsva(7), "Errors in a forked child": every call refused in a forked child
 * checks its arguments first, so a child passing an argument that is wrong in
 * any process gets that -EINVAL, not -ECHILD; -ECHILD comes before what reads
 * the objects' state.  Each public call that can return -ECHILD is made in a
 * real fork(2) child on objects its parent made, with one argument wrong, and
 * the child sends its answers back through a pipe.
 */
struct fork_case {
	const char *what;
	int want;
};

static const struct fork_case fork_cases[] = {
	{ "sva_dev_open: a name that is no device", -EINVAL },
	{ "sva_dev_open_mock: unknown opts->flags", -EINVAL },
	{ "sva_dev_open_fd: NULL out", -EINVAL },
	{ "sva_dev_inject_fault: perm 0", -EINVAL },
	{ "sva_dev_iova_ranges: *nr 1 and NULL ranges", -EINVAL },
	{ "sva_bind: device and address space of different contexts", -EINVAL },
	{ "sva_unbind: NULL bond", -EINVAL },
	{ "sva_ctx_process_faults: max 0", -EINVAL },
	{ "sva_ctx_fault_fd: a context that runs a fault thread", -EINVAL },
	/* The exception libsva(7) lists: the memfd calls check the context whole,
	 * -ECHILD included, before the arguments. */
	{ "sva_ctx_share_memfd (isolated context): addr not page-aligned: -ECHILD first", -ECHILD },
	{ "sva_ctx_unshare_memfd (isolated context): len 0: -ECHILD first", -ECHILD },
	{ "sva_mem_alloc: opts->mm and opts->dev of different contexts", -EINVAL },
	{ "sva_mem_free: len 0", -EINVAL },
	{ "sva_mm_new: unknown opts->flags", -EINVAL },
	{ "sva_mm_fence: NULL mm", -EINVAL },
	{ "sva_mm_prefault: len 0", -EINVAL },
	{ "sva_mm_invalidate: len 0", -EINVAL },
	{ "sva_mm_iova_ranges: *nr 1 and NULL ranges", -EINVAL },
	{ "sva_mm_allow: addr not page-aligned", -EINVAL },
	{ "sva_mm_deny: addr not page-aligned", -EINVAL },
	/* The same calls with good arguments: the child is seen as one. */
	{ "sva_mm_new, good arguments: -ECHILD", -ECHILD },
	{ "sva_dev_open_mock, good arguments: -ECHILD", -ECHILD },
	{ "sva_ctx_unshare_memfd (isolated context), good arguments: -ECHILD", -ECHILD },
};

#define NFORK_CASES (sizeof(fork_cases) / sizeof(fork_cases[0]))

/* A context of this process, as sva_ctx_new() leaves one (fake_ctx()'s is
 * another process's). */
static struct sva_ctx *own_ctx(void)
{
	struct sva_ctx *ctx = fake_ctx();

	ctx->fork_gen = sva_fork_gen();
	ctx->pid = getpid();
	return ctx;
}

static void forked_child_order(void)
{
	struct sva_ctx *ctx = own_ctx(), *ctx2 = own_ctx(), *iso = own_ctx();
	struct sva_broker_conn *conn = calloc(1, sizeof(*conn));
	struct sva_dev *dev = calloc(1, sizeof(*dev)), *dev2 = calloc(1, sizeof(*dev2));
	struct sva_mm *mm = calloc(1, sizeof(*mm)), *mm2 = calloc(1, sizeof(*mm2));
	struct sva_mm_opts bad_mm = { .size = sizeof(bad_mm), .flags = 0x80000000u };
	struct sva_mock_opts bad_mock = { .size = sizeof(bad_mock), .flags = 0x80000000u };
	struct sva_mem_opts mixed = { .size = sizeof(mixed), .mm = mm, .dev = dev2 };
	void *page = (void *)(uintptr_t)0x100000;
	int got[NFORK_CASES], pfd[2], status;
	pid_t pid;

	conn->isolated = true;
	iso->broker = conn;
	dev->ctx = ctx;
	dev->fd = -1;
	dev->info.flags = SVA_DEV_MOCK;
	pthread_mutex_init(&dev->lock, NULL);
	dev2->ctx = ctx2;
	dev2->fd = -1;
	pthread_mutex_init(&dev2->lock, NULL);
	mm->ctx = ctx;
	mm->flags = SVA_MM_RESTRICTED;
	pthread_mutex_init(&mm->map_lock, NULL);
	mm2->ctx = ctx2;
	ctx->fe.poll_mode = false;

	if (pipe(pfd))
		tap_bail("pipe: %s", strerror(errno));
	/* The parent's answer to one of them: the owner is not refused. */
	{
		struct sva_mm *m = NULL;

		is_int(sva_mm_new(ctx, &bad_mm, &m), -EINVAL, "fork order: the parent's sva_mm_new, bad flags: -EINVAL");
	}
	pid = fork();
	if (pid < 0)
		tap_bail("fork: %s", strerror(errno));
	if (pid == 0) {
		struct sva_dev *d = NULL;
		struct sva_mm *m = NULL;
		struct sva_bond *b = NULL;
		size_t nr = 1;
		void *q = NULL;
		int i = 0;

		close(pfd[0]);
		got[i++] = sva_dev_open(ctx, "not-a-device", &d);
		got[i++] = sva_dev_open_mock(ctx, &bad_mock, &d);
		got[i++] = sva_dev_open_fd(ctx, -1, NULL);
		got[i++] = sva_dev_inject_fault(dev, 1, 0x1000, 0, 0);
		got[i++] = sva_dev_iova_ranges(dev, NULL, &nr);
		got[i++] = sva_bind(dev, mm2, NULL, &b);
		got[i++] = sva_unbind(NULL);
		got[i++] = sva_ctx_process_faults(ctx, 0);
		got[i++] = sva_ctx_fault_fd(ctx);
		got[i++] = sva_ctx_share_memfd(iso, 0, 0, (char *)page + 1, 4096);
		got[i++] = sva_ctx_unshare_memfd(iso, page, 0);
		got[i++] = sva_mem_alloc(4096, &mixed, &q);
		got[i++] = sva_mem_free(mm, page, 0);
		got[i++] = sva_mm_new(ctx, &bad_mm, &m);
		got[i++] = sva_mm_fence(NULL);
		got[i++] = sva_mm_prefault(mm, page, 0);
		got[i++] = (int)sva_mm_invalidate(mm, page, 0);
		got[i++] = sva_mm_iova_ranges(mm, NULL, &nr);
		got[i++] = sva_mm_allow(mm, (char *)page + 1, 4096);
		got[i++] = sva_mm_deny(mm, (char *)page + 1, 4096);
		got[i++] = sva_mm_new(ctx, NULL, &m);
		got[i++] = sva_dev_open_mock(ctx, NULL, &d);
		got[i++] = sva_ctx_unshare_memfd(iso, page, 4096);
		_exit(write(pfd[1], got, sizeof(got)) == (ssize_t)sizeof(got) && i == (int)NFORK_CASES ? 0 : 1);
	}
	close(pfd[1]);
	{
		size_t n = 0;
		ssize_t r;

		while (n < sizeof(got) && (r = read(pfd[0], (char *)got + n, sizeof(got) - n)) > 0)
			n += (size_t)r;
		close(pfd[0]);
		if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status) || WEXITSTATUS(status) || n != sizeof(got))
			tap_bail("the forked child did not report its answers");
	}
	for (size_t i = 0; i < NFORK_CASES; i++)
		is_int(got[i], fork_cases[i].want, "forked child, %s: %s", fork_cases[i].what,
		       fork_cases[i].want == -EINVAL ? "-EINVAL before -ECHILD" : "-ECHILD");

	iso->broker = NULL;
	free(conn);
	pthread_mutex_destroy(&dev->lock);
	pthread_mutex_destroy(&dev2->lock);
	pthread_mutex_destroy(&mm->map_lock);
	free(dev);
	free(dev2);
	free(mm);
	free(mm2);
	sva_ctx_free(iso);
	sva_ctx_free(ctx2);
	sva_ctx_free(ctx);
}

/*
 * libsva(7), "Errors in a forked child": -ECHILD comes before what reads the
 * objects' present state or asks the system, and the one error of an object's
 * kind listed as an exception comes before both.  Each case is an error the
 * owner gets from its objects' state (or the system's limits): the parent
 * asks first and gets it, nothing changing; then a fork(2) child asks the
 * same of the same objects.
 *  - sva_unbind(3): a bond already being torn down, or whose sva_bind() has
 *    not returned, is the bond's state (-EINVAL in the owner): -ECHILD.
 *  - sva_bind(3): a RID already bound (-EBUSY), a device without PASIDs
 *    (-EOPNOTSUPP), a device already bound to the address space (-EEXIST),
 *    a fault engine out of service (-EBADFD): -ECHILD.
 *  - sva_dev_inject_fault(3): a device that is not the mock is -EOPNOTSUPP
 *    before everything, perm and -ECHILD included.
 *  - sva_ctx_share_memfd(3), sva_ctx_unshare_memfd(3): a context that is not
 *    isolated is -EOPNOTSUPP whatever the arguments, in a child too; an
 *    isolated one in a child is -ECHILD whatever the arguments (a memfd of -1
 *    included, -EBADF in the owner), as their pages say.
 *  - sva_dev_open_fd(3): the -EINVAL of an RLIMIT_NOFILE of 3 or less is the
 *    system's (F_DUPFD_CLOEXEC), not an argument's, and a descriptor that is
 *    not open (-EBADF, -1 included) the process's: -ECHILD; so is the
 *    -EOPNOTSUPP of a broker context, which is not one of the exceptions.
 *  - sva_dev_open_mock(3) in a broker context, sva_mem_alloc(3) with an
 *    isolated context's address space: the -EOPNOTSUPP of a context of the
 *    wrong kind is not one of the exceptions either: -ECHILD.
 *  - sva_dev_open(3) in a broker context: a name too long for a request is an
 *    argument, -EINVAL before -ECHILD.
 */
struct state_case {
	const char *what;
	int owner_want, child_want;
};

static const struct state_case state_cases[] = {
	{ "sva_unbind: a bond already being torn down", -EINVAL, -ECHILD },
	{ "sva_unbind: a bond whose sva_bind() has not returned", -EINVAL, -ECHILD },
	{ "sva_bind SVA_BIND_RID: the RID already bound", -EBUSY, -ECHILD },
	{ "sva_bind: a PASID bond on a device without PASIDs", -EOPNOTSUPP, -ECHILD },
	{ "sva_bind: a PASID bond, the device already bound to the address space", -EEXIST, -ECHILD },
	{ "sva_bind: the context's fault thread stopped", -EBADFD, -ECHILD },
	{ "sva_dev_inject_fault: not a mock, perm 0", -EOPNOTSUPP, -EOPNOTSUPP },
	{ "sva_dev_inject_fault: not a mock, good arguments", -EOPNOTSUPP, -EOPNOTSUPP },
	{ "sva_ctx_share_memfd: a context that is not isolated, good arguments", -EOPNOTSUPP, -EOPNOTSUPP },
	{ "sva_ctx_unshare_memfd: a context that is not isolated, good arguments", -EOPNOTSUPP, -EOPNOTSUPP },
	{ "sva_ctx_share_memfd (isolated context): memfd -1", -EBADF, -ECHILD },
	{ "sva_dev_open_fd: RLIMIT_NOFILE of 3", -EINVAL, -ECHILD },
	{ "sva_dev_open_fd: fd -1", -EBADF, -ECHILD },
	{ "sva_dev_open_fd: a broker context", -EOPNOTSUPP, -ECHILD },
	{ "sva_dev_open_mock: a broker context", -EOPNOTSUPP, -ECHILD },
	{ "sva_mem_alloc: an isolated context's address space", -EOPNOTSUPP, -ECHILD },
	{ "sva_dev_open (broker context): a name of 200 bytes", -EINVAL, -EINVAL },
};

#define NSTATE_CASES (sizeof(state_cases) / sizeof(state_cases[0]))

struct state_objs {
	struct sva_ctx *ctx, *stopped, *iso;
	struct sva_dev *busy, *nopasid, *bound, *stopped_dev;
	struct sva_mm *mm, *stopped_mm, *iso_mm;
	struct sva_bond *exiting, *binding, *pasid_bond;
};

static int nofile_3_open_fd(struct sva_ctx *ctx)
{
	struct sva_dev *d = NULL;
	struct rlimit old, low;
	int fd = open("/dev/null", O_RDONLY | O_CLOEXEC), ret;

	/* An open descriptor: the kernel's EBADF of a closed one would come first. */
	if (fd < 0)
		tap_bail("open /dev/null: %s", strerror(errno));
	if (getrlimit(RLIMIT_NOFILE, &old))
		tap_bail("getrlimit: %s", strerror(errno));
	low = old;
	low.rlim_cur = 3;
	if (setrlimit(RLIMIT_NOFILE, &low))
		tap_bail("setrlimit: %s", strerror(errno));
	ret = sva_dev_open_fd(ctx, fd, &d);
	if (setrlimit(RLIMIT_NOFILE, &old))
		tap_bail("setrlimit back: %s", strerror(errno));
	close(fd);
	return ret;
}

static void state_calls(const struct state_objs *o, int *got)
{
	struct sva_bind_opts rid = { .size = sizeof(rid), .flags = SVA_BIND_RID };
	struct sva_bond *b = NULL;
	struct sva_dev *d = NULL;
	char longname[201];
	int i = 0;

	memset(longname, 'x', sizeof(longname) - 1);
	longname[sizeof(longname) - 1] = '\0';
	got[i++] = sva_unbind(o->exiting);
	got[i++] = sva_unbind(o->binding);
	got[i++] = sva_bind(o->busy, o->mm, &rid, &b);
	got[i++] = sva_bind(o->nopasid, o->mm, NULL, &b);
	got[i++] = sva_bind(o->bound, o->mm, NULL, &b);
	got[i++] = sva_bind(o->stopped_dev, o->stopped_mm, NULL, &b);
	got[i++] = sva_dev_inject_fault(o->nopasid, 1, 0x1000, 0, 0);
	got[i++] = sva_dev_inject_fault(o->nopasid, 1, 0x1000, SVA_ACCESS_READ, 0);
	got[i++] = sva_ctx_share_memfd(o->ctx, 0, 0, (void *)(uintptr_t)0x100000, 4096);
	got[i++] = sva_ctx_unshare_memfd(o->ctx, (void *)(uintptr_t)0x100000, 4096);
	got[i++] = sva_ctx_share_memfd(o->iso, -1, 0, (void *)(uintptr_t)0x100000, 4096);
	got[i++] = nofile_3_open_fd(o->ctx);
	got[i++] = sva_dev_open_fd(o->ctx, -1, &d);
	got[i++] = sva_dev_open_fd(o->iso, 0, &d);
	got[i++] = sva_dev_open_mock(o->iso, NULL, &d);
	{
		struct sva_mem_opts mo = { .size = sizeof(mo), .mm = o->iso_mm };
		void *q = NULL;

		got[i++] = sva_mem_alloc(4096, &mo, &q);
		if (q)
			tap_bail("state_calls: sva_mem_alloc mapped memory");
	}
	got[i++] = sva_dev_open(o->iso, longname, &d);
	if (i != (int)NSTATE_CASES || b || d)
		tap_bail("state_calls: %d calls, or an object made", i);
}

static struct sva_dev *state_dev(struct sva_ctx *ctx, uint32_t max_pasid_log2)
{
	struct sva_dev *dev = calloc(1, sizeof(*dev));

	dev->ctx = ctx;
	dev->fd = -1;
	snprintf(dev->label, sizeof(dev->label), "fake");
	dev->info.max_pasid_log2 = max_pasid_log2;
	pthread_mutex_init(&dev->lock, NULL);
	return dev;
}

static struct sva_mm *state_mm(struct sva_ctx *ctx)
{
	struct sva_mm *mm = calloc(1, sizeof(*mm));

	mm->ctx = ctx;
	pthread_mutex_init(&mm->map_lock, NULL);
	pthread_mutex_init(&mm->lock, NULL);
	return mm;
}

static struct sva_bond *state_bond(struct sva_dev *dev, struct sva_mm *mm, uint32_t pasid, int state)
{
	struct sva_bond *bond = calloc(1, sizeof(*bond));

	bond->dev = dev;
	bond->mm = mm;
	bond->pasid = pasid;
	atomic_init(&bond->state, state);
	return bond;
}

static void forked_child_state(void)
{
	struct sva_broker_conn *conn = calloc(1, sizeof(*conn));
	struct sva_bond *rid_holder;
	struct state_objs o;
	int owner[NSTATE_CASES], child[NSTATE_CASES], pfd[2], status;
	size_t n = 0;
	ssize_t r;
	pid_t pid;

	o.ctx = own_ctx();
	o.stopped = own_ctx();
	o.iso = own_ctx();
	conn->isolated = true;
	o.iso->broker = conn;
	o.mm = state_mm(o.ctx);
	o.busy = state_dev(o.ctx, 20);
	o.nopasid = state_dev(o.ctx, 0);
	o.bound = state_dev(o.ctx, 20);
	o.stopped_dev = state_dev(o.stopped, 20);
	o.stopped_mm = state_mm(o.stopped);
	o.iso_mm = state_mm(o.iso);
	atomic_store(&o.stopped->fe.thread_error, -EBADF);
	o.exiting = state_bond(o.busy, o.mm, 300, SVA_BOND_EXITING);
	o.binding = state_bond(o.busy, o.mm, 301, SVA_BOND_BINDING);
	rid_holder = state_bond(o.busy, o.mm, SVA_PASID_RID, SVA_BOND_BOUND);
	atomic_store(&o.busy->rid_bond, rid_holder);
	o.pasid_bond = state_bond(o.bound, o.mm, 302, SVA_BOND_BOUND);
	o.bound->bonds = o.pasid_bond;

	state_calls(&o, owner);
	ok(atomic_load(&o.exiting->state) == SVA_BOND_EXITING && atomic_load(&o.binding->state) == SVA_BOND_BINDING &&
		   atomic_load(&o.busy->rid_bond) == rid_holder && o.bound->bonds == o.pasid_bond &&
		   !o.pasid_bond->dev_next && !o.nopasid->bonds && !o.stopped_dev->bonds && !o.ctx->unlinked,
	   "state order: the owner's refusals changed nothing");
	if (pipe(pfd))
		tap_bail("pipe: %s", strerror(errno));
	pid = fork();
	if (pid < 0)
		tap_bail("fork: %s", strerror(errno));
	if (pid == 0) {
		close(pfd[0]);
		state_calls(&o, child);
		_exit(write(pfd[1], child, sizeof(child)) == (ssize_t)sizeof(child) ? 0 : 1);
	}
	close(pfd[1]);
	while (n < sizeof(child) && (r = read(pfd[0], (char *)child + n, sizeof(child) - n)) > 0)
		n += (size_t)r;
	close(pfd[0]);
	if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status) || WEXITSTATUS(status) || n != sizeof(child))
		tap_bail("the forked child did not report its answers");
	for (size_t i = 0; i < NSTATE_CASES; i++) {
		is_int(owner[i], state_cases[i].owner_want, "state order, the owner: %s", state_cases[i].what);
		is_int(child[i], state_cases[i].child_want, "state order, a forked child: %s", state_cases[i].what);
	}

	o.iso->broker = NULL;
	free(conn);
	atomic_store(&o.busy->rid_bond, NULL);
	o.bound->bonds = NULL;
	free(o.exiting);
	free(o.binding);
	free(rid_holder);
	free(o.pasid_bond);
	for (struct sva_dev **d = (struct sva_dev *[]){ o.busy, o.nopasid, o.bound, o.stopped_dev, NULL }; *d; d++) {
		pthread_mutex_destroy(&(*d)->lock);
		free(*d);
	}
	for (struct sva_mm **m = (struct sva_mm *[]){ o.mm, o.stopped_mm, o.iso_mm, NULL }; *m; m++) {
		pthread_mutex_destroy(&(*m)->map_lock);
		pthread_mutex_destroy(&(*m)->lock);
		free(*m);
	}
	sva_ctx_free(o.iso);
	sva_ctx_free(o.stopped);
	sva_ctx_free(o.ctx);
}

int main(void)
{
	unsetenv("SVA_LOG");
	fake_init();
	log_levels();
	ctx_errors();
	permission_denied();
	dev_errors();
	size_rule();
	null_args_logged();
	null_objects_logged();
	read_only_quiet();
	share_memfd_opath();
	forked_child_calls();
	forked_child_order();
	forked_child_state();
	fake_cleanup();
	return done_testing();
}
