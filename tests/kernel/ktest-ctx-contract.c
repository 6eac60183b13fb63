/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The context pages read as a user reads them: sva_ctx_new(3) (flags,
 * options, errors; not the broker), sva_ctx_free(3), sva_ctx_fd(3),
 * sva_ctx_fault_fd(3), sva_ctx_fault_health(3), sva_ctx_process_faults(3),
 * sva_ctx_global_pasids(3), sva_mm_free(3), sva_mm_iova_ranges(3),
 * sva_ctx_set_log(3), sva_log_level_name(3) and sva_iommu_type_name(3).  Each
 * check is one statement of a page (an errno and its condition, what a failed
 * call leaves, where its line goes, an order, a limit), written from the page
 * and sva.h, so that a page and the code cannot drift apart unnoticed.  The
 * argument checks run anywhere; the rest against the selftest mock.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <sys/resource.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>

#include "ktest.h"

#define BUF_VA 0x50000000ull
#define PG 4096u

/* ------------------------------------------------------------ log capture */

struct cap {
	atomic_int n, nerr, ndebug;
	atomic_int badlevel;
	char last[1024];
};

static void cap_fn(void *arg, enum sva_log_level level, const char *msg)
{
	struct cap *c = arg;

	if (level < SVA_LOG_DEBUG || level > SVA_LOG_ERROR)
		c->badlevel++;
	c->n++;
	if (level == SVA_LOG_ERROR)
		c->nerr++;
	if (level == SVA_LOG_DEBUG)
		c->ndebug++;
	snprintf(c->last, sizeof(c->last), "%s", msg);
}

static int count_fds(void)
{
	return ktest_count_fds();
}

/* stderr into a file while fn runs; returns what was written (static). */
static int saved_err = -1;
static char err_text[8192];

static void err_begin(void)
{
	char path[] = "/tmp/ctxc-errXXXXXX";
	int fd = mkstemp(path);

	unlink(path);
	fflush(stderr);
	saved_err = dup(2);
	dup2(fd, 2);
	close(fd);
}

static const char *err_end(void)
{
	ssize_t n;

	fflush(stderr);
	lseek(2, 0, SEEK_SET);
	n = read(2, err_text, sizeof(err_text) - 1);
	err_text[n > 0 ? n : 0] = 0;
	/* One line in a TAP message: the last newline goes. */
	if (n > 0 && err_text[n - 1] == '\n')
		err_text[n - 1] = 0;
	dup2(saved_err, 2);
	close(saved_err);
	return err_text;
}

static int count_lines(const char *s, const char *prefix)
{
	int n = 0;

	for (const char *p = s; *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : p + strlen(p))
		if (strncmp(p, prefix, strlen(prefix)) == 0)
			n++;
	return n;
}

/* ----------------------------------------------------- no kernel needed */

static void names_checks(void)
{
	static const char *const want[] = { "default", "debug", "info", "warn", "error", "off" };

	for (int i = 0; i <= SVA_LOG_OFF; i++)
		ok(sva_log_level_name((enum sva_log_level)i) && strcmp(sva_log_level_name((enum sva_log_level)i), want[i]) == 0,
		   "sva_log_level_name(%d) is \"%s\"", i, want[i]);
	ok(sva_log_level_name((enum sva_log_level)6) == NULL, "sva_log_level_name(6) is NULL");
	ok(sva_log_level_name((enum sva_log_level)-1) == NULL, "sva_log_level_name(-1) is NULL");

	struct {
		uint32_t t;
		const char *n;
	} types[] = { { SVA_IOMMU_NONE, "none" },	    { SVA_IOMMU_INTEL_VTD, "intel-vtd" },
		      { SVA_IOMMU_ARM_SMMUV3, "arm-smmuv3" }, { SVA_IOMMU_TEGRA241_CMDQV, "tegra241-cmdqv" },
		      { SVA_IOMMU_AMD, "amd" },		    { SVA_IOMMU_SELFTEST, "selftest" },
		      { 5, "unknown" },			    { 0xffffffffu, "unknown" },
		      { 0xfeedbeeeu, "unknown" } };
	for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++)
		ok(sva_iommu_type_name(types[i].t) && strcmp(sva_iommu_type_name(types[i].t), types[i].n) == 0,
		   "sva_iommu_type_name(%#x) is \"%s\"", types[i].t, types[i].n);
}

/* One refused sva_ctx_new(): errno, *out untouched, no descriptor left, and
 * where the line went (opts->log_fn or the default log on stderr). */
static void refused(const char *what, struct sva_ctx_opts *o, int want, bool to_caller_log)
{
	struct sva_ctx *out = (struct sva_ctx *)(uintptr_t)0x5a5a;
	struct cap c = { 0 };
	int fds = count_fds(), ret;
	const char *err;

	o->log_fn = cap_fn;
	o->log_arg = &c;
	/* The default level reads SVA_LOG, which make check sets to off. */
	if (to_caller_log && o->log_level == SVA_LOG_DEFAULT)
		o->log_level = SVA_LOG_ERROR;
	err_begin();
	ret = sva_ctx_new(o, &out);
	err = err_end();
	is_int(ret, want, "sva_ctx_new: %s: %s", what, strerror(-want));
	ok(out == (struct sva_ctx *)(uintptr_t)0x5a5a, "sva_ctx_new: %s: *out untouched", what);
	is_int(count_fds(), fds, "sva_ctx_new: %s: nothing stays open", what);
	if (to_caller_log) {
		ok(c.n == 1 && c.nerr == 1, "sva_ctx_new: %s: one line at error level to opts->log_fn (%d lines, %d error)",
		   what, c.n, c.nerr);
	} else {
		ok(c.n == 0, "sva_ctx_new: %s: not to opts->log_fn (%d lines: %s)", what, c.n, c.last);
		if (!getenv("SVA_LOG"))
			is_int(count_lines(err, "libsva error: "), 1, "sva_ctx_new: %s: one error line on stderr", what);
	}
}

static void ctx_new_einval_checks(void)
{
	struct sva_ctx_opts o;
	struct sva_ctx *out = (struct sva_ctx *)(uintptr_t)0x5a5a;

	err_begin();
	is_int(sva_ctx_new(NULL, NULL), -EINVAL, "sva_ctx_new: out NULL: -EINVAL");
	err_end();

	o = (struct sva_ctx_opts){ .size = sizeof(o) - 1 };
	refused("size one short", &o, -EINVAL, false);
	o = (struct sva_ctx_opts){ .size = 8 };
	refused("size 8", &o, -EINVAL, false);
	o = (struct sva_ctx_opts){ .size = sizeof(o), .flags = 1u << 5 };
	refused("unknown flag 1<<5", &o, -EINVAL, false);
	o = (struct sva_ctx_opts){ .size = sizeof(o), .flags = 1u << 31 };
	refused("unknown flag 1<<31", &o, -EINVAL, false);
	o = (struct sva_ctx_opts){ .size = sizeof(o), .flags = SVA_CTX_ISOLATED };
	refused("ISOLATED without BROKER", &o, -EINVAL, false);
	o = (struct sva_ctx_opts){ .size = sizeof(o), .flags = SVA_CTX_BROKER | SVA_CTX_ADOPT_FD, .iommufd = 0 };
	refused("BROKER with ADOPT_FD", &o, -EINVAL, false);
	o = (struct sva_ctx_opts){ .size = sizeof(o), .flags = SVA_CTX_BROKER, .global_pasid_min = 300 };
	refused("BROKER with global_pasid_min", &o, -EINVAL, false);
	o = (struct sva_ctx_opts){ .size = sizeof(o), .flags = SVA_CTX_BROKER, .global_pasid_max = 3000 };
	refused("BROKER with global_pasid_max", &o, -EINVAL, false);
	o = (struct sva_ctx_opts){ .size = sizeof(o), .flags = SVA_CTX_BROKER, .broker_path = "" };
	refused("BROKER with an empty broker_path", &o, -EINVAL, false);
	o = (struct sva_ctx_opts){ .size = sizeof(o), .log_level = -1 };
	refused("log_level -1", &o, -EINVAL, false);
	o = (struct sva_ctx_opts){ .size = sizeof(o), .log_level = SVA_LOG_OFF + 1 };
	refused("log_level 6", &o, -EINVAL, false);
	o = (struct sva_ctx_opts){ .size = sizeof(o), .fault_thread_name = "" };
	refused("empty fault_thread_name", &o, -EINVAL, false);

	/* A larger size (a newer header): a non-zero byte beyond is refused. */
	struct {
		struct sva_ctx_opts o;
		unsigned char tail[24];
	} big;
	memset(&big, 0, sizeof(big));
	big.o.size = sizeof(big);
	big.tail[23] = 1;
	refused("larger size, non-zero tail", &big.o, -EINVAL, false);
	(void)out;
}

static void ctx_new_name_checks(void)
{
	static char longpath[2051];
	struct sva_ctx_opts o;

	o = (struct sva_ctx_opts){ .size = sizeof(o), .fault_thread_name = "0123456789abcdef" };
	refused("16-byte fault_thread_name", &o, -ENAMETOOLONG, true);
	memset(longpath, 'a', 2049);
	longpath[0] = '/';
	longpath[2049] = 0;
	o = (struct sva_ctx_opts){ .size = sizeof(o), .sysfs_root = longpath };
	refused("2049-byte sysfs_root", &o, -ENAMETOOLONG, true);
	o = (struct sva_ctx_opts){ .size = sizeof(o), .dev_root = longpath };
	refused("2049-byte dev_root", &o, -ENAMETOOLONG, true);
}

/* ----------------------------------------------------- with an iommufd */

static void ctx_new_kernel_checks(void)
{
	struct sva_ctx_opts o;
	struct sva_ctx *ctx;
	static char path2048[2049];

	ctx = NULL;
	ok(sva_ctx_new(NULL, &ctx) == 0 && ctx, "sva_ctx_new: opts NULL selects every default");
	sva_ctx_free(ctx);

	struct {
		struct sva_ctx_opts o;
		unsigned char tail[24];
	} big;
	memset(&big, 0, sizeof(big));
	big.o.size = sizeof(big);
	ctx = NULL;
	ok(sva_ctx_new(&big.o, &ctx) == 0 && ctx, "sva_ctx_new: a larger size with a zero tail is accepted");
	sva_ctx_free(ctx);

	o = (struct sva_ctx_opts){ .size = sizeof(o), .global_pasid_min = 10, .global_pasid_max = 5 };
	refused("global_pasid_min > max", &o, -ERANGE, true);
	o = (struct sva_ctx_opts){ .size = sizeof(o), .global_pasid_max = SVA_PASID_MAX + 1 };
	refused("global_pasid_max beyond SVA_PASID_MAX", &o, -ERANGE, true);
	o = (struct sva_ctx_opts){ .size = sizeof(o), .global_pasid_max = 100 };
	refused("global_pasid_max 100 without a min", &o, -ERANGE, true);
	o = (struct sva_ctx_opts){ .size = sizeof(o), .iommu_path = "/nonexistent-iommu" };
	refused("iommu_path does not exist", &o, -ENOENT, true);
	o = (struct sva_ctx_opts){ .size = sizeof(o), .iommu_path = "/dev/null" };
	refused("iommu_path /dev/null", &o, -ENOTTY, true);
	o = (struct sva_ctx_opts){ .size = sizeof(o), .iommu_path = "/" };
	refused("iommu_path a directory", &o, -EISDIR, true);

	/* A UNIX socket's node: open(2) says ENXIO. */
	int s = socket(AF_UNIX, SOCK_STREAM, 0);
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	snprintf(sa.sun_path, sizeof(sa.sun_path), "/tmp/ctxc-sock-%d", (int)getpid());
	unlink(sa.sun_path);
	if (bind(s, (struct sockaddr *)&sa, sizeof(sa)) == 0) {
		o = (struct sva_ctx_opts){ .size = sizeof(o), .iommu_path = sa.sun_path };
		refused("iommu_path a socket", &o, -ENXIO, true);
	}
	close(s);
	unlink(sa.sun_path);

	o = (struct sva_ctx_opts){ .size = sizeof(o), .flags = SVA_CTX_ADOPT_FD, .iommufd = -1 };
	refused("ADOPT_FD -1", &o, -EBADF, true);
	o = (struct sva_ctx_opts){ .size = sizeof(o), .flags = SVA_CTX_ADOPT_FD, .iommufd = 900 };
	refused("ADOPT_FD of a closed number", &o, -EBADF, true);
	int nul = open("/dev/null", O_RDWR);
	o = (struct sva_ctx_opts){ .size = sizeof(o), .flags = SVA_CTX_ADOPT_FD, .iommufd = nul };
	refused("ADOPT_FD of /dev/null", &o, -ENOTTY, true);
	close(nul);

	/* Adopting: libsva works on a close-on-exec duplicate numbered from 3. */
	int ifd = open("/dev/iommu", O_RDWR);
	o = (struct sva_ctx_opts){ .size = sizeof(o), .flags = SVA_CTX_ADOPT_FD, .iommufd = ifd };
	ctx = NULL;
	if (is_int(sva_ctx_new(&o, &ctx), 0, "ADOPT_FD: an open iommufd is adopted")) {
		int cfd = sva_ctx_fd(ctx);
		struct stat a, b;

		ok(cfd >= 3 && cfd != ifd, "ADOPT_FD: sva_ctx_fd() is libsva's duplicate (%d), not the caller's %d", cfd, ifd);
		ok(fcntl(cfd, F_GETFD) & FD_CLOEXEC, "ADOPT_FD: the duplicate is close-on-exec");
		fstat(cfd, &a);
		fstat(ifd, &b);
		ok(a.st_ino == b.st_ino, "ADOPT_FD: the duplicate is the same file");
		close(ifd);
		struct sva_dev *dev = NULL;
		is_int(sva_dev_open_mock(ctx, NULL, &dev), 0, "ADOPT_FD: the caller closed its fd: the context still works");
		sva_dev_close(dev);
		sva_ctx_free(ctx);
	} else {
		close(ifd);
	}

	/* With SVA_CTX_ADOPT_FD, iommu_path is ignored; without it, iommufd is. */
	ifd = open("/dev/iommu", O_RDWR);
	o = (struct sva_ctx_opts){ .size = sizeof(o), .flags = SVA_CTX_ADOPT_FD, .iommufd = ifd, .iommu_path = "/dev/null" };
	ctx = NULL;
	is_int(sva_ctx_new(&o, &ctx), 0, "ADOPT_FD: iommu_path is ignored");
	sva_ctx_free(ctx);
	close(ifd);
	o = (struct sva_ctx_opts){ .size = sizeof(o), .iommufd = -1 };
	ctx = NULL;
	is_int(sva_ctx_new(&o, &ctx), 0, "without ADOPT_FD: iommufd is ignored");
	ok(ctx && sva_ctx_fd(ctx) >= 0, "sva_ctx_fd: 0 or more");
	ok(ctx && (fcntl(sva_ctx_fd(ctx), F_GETFD) & FD_CLOEXEC), "the opened iommufd is O_CLOEXEC");
	sva_ctx_free(ctx);
	is_int(sva_ctx_fd(NULL), -EINVAL, "sva_ctx_fd(NULL): -EINVAL");

	/* The roots: 2048 bytes fit. */
	memset(path2048, 'a', 2048);
	path2048[0] = '/';
	path2048[2048] = 0;
	o = (struct sva_ctx_opts){ .size = sizeof(o), .sysfs_root = path2048, .dev_root = path2048 };
	ctx = NULL;
	is_int(sva_ctx_new(&o, &ctx), 0, "sysfs_root and dev_root of 2048 bytes are accepted");
	sva_ctx_free(ctx);
	o = (struct sva_ctx_opts){ .size = sizeof(o), .fault_thread_name = "0123456789abcde" };
	ctx = NULL;
	is_int(sva_ctx_new(&o, &ctx), 0, "a 15-byte fault_thread_name is accepted");
	sva_ctx_free(ctx);

	/* Descriptor limits, in children. */
	for (int adopt = 0; adopt < 2; adopt++) {
		pid_t pid = fork();

		if (pid == 0) {
			int f = open("/dev/iommu", O_RDWR);
			struct rlimit rl;
			int n = 0;

			o = (struct sva_ctx_opts){ .size = sizeof(o), .flags = adopt ? SVA_CTX_ADOPT_FD : 0, .iommufd = f,
						   .log_level = SVA_LOG_OFF };
			/* Fill every free number below a low limit. */
			rl.rlim_cur = rl.rlim_max = 64;
			setrlimit(RLIMIT_NOFILE, &rl);
			while (open("/dev/null", O_RDONLY) >= 0 && n < 64)
				n++;
			ctx = NULL;
			int r = sva_ctx_new(&o, &ctx);
			_exit(r == -EMFILE ? 0 : 100 + (r < 0 ? -r : r));
		}
		int st = 0;
		waitpid(pid, &st, 0);
		ok(WIFEXITED(st) && WEXITSTATUS(st) == 0, "%s: no free descriptor: -EMFILE (child status %d)",
		   adopt ? "ADOPT_FD" : "open", WIFEXITED(st) ? WEXITSTATUS(st) : -1);
	}
	{
		pid_t pid = fork();

		if (pid == 0) {
			int f = open("/dev/iommu", O_RDWR);
			struct rlimit rl = { 3, 3 };

			dup2(f, 0);
			o = (struct sva_ctx_opts){ .size = sizeof(o), .flags = SVA_CTX_ADOPT_FD, .iommufd = 0,
						   .log_level = SVA_LOG_OFF };
			close(f);
			setrlimit(RLIMIT_NOFILE, &rl);
			ctx = NULL;
			int r = sva_ctx_new(&o, &ctx);
			_exit(r == -EINVAL ? 0 : 100 + (r < 0 ? -r : r));
		}
		int st = 0;
		waitpid(pid, &st, 0);
		ok(WIFEXITED(st) && WEXITSTATUS(st) == 0, "ADOPT_FD with RLIMIT_NOFILE 3: -EINVAL (child status %d)",
		   WIFEXITED(st) ? WEXITSTATUS(st) : -1);
	}
	/* No permission: a non-root user. */
	{
		pid_t pid = fork();

		if (pid == 0) {
			if (setgid(65534) || setuid(65534))
				_exit(99);
			o = (struct sva_ctx_opts){ .size = sizeof(o), .log_level = SVA_LOG_OFF };
			ctx = NULL;
			int r = sva_ctx_new(&o, &ctx);
			_exit(r == -EACCES || r == -EPERM ? 0 : 100 + (r < 0 ? -r : r));
		}
		int st = 0;
		waitpid(pid, &st, 0);
		if (WIFEXITED(st) && WEXITSTATUS(st) == 99)
			skip(1, "cannot become nobody");
		else
			ok(WIFEXITED(st) && WEXITSTATUS(st) == 0, "no permission to open /dev/iommu: -EACCES/-EPERM (%d)",
			   WIFEXITED(st) ? WEXITSTATUS(st) : -1);
	}
}

/* SVA_LOG and log_level 0; sva_ctx_set_log(). */
static void log_checks(void)
{
	struct sva_ctx_opts o;
	struct sva_ctx *ctx = NULL;
	struct cap c = { 0 }, c2 = { 0 };

	setenv("SVA_LOG", "debug", 1);
	o = (struct sva_ctx_opts){ .size = sizeof(o), .log_fn = cap_fn, .log_arg = &c };
	if (!is_int(sva_ctx_new(&o, &ctx), 0, "log: a context with log_level 0 and SVA_LOG=debug"))
		goto out;
	ok(c.ndebug > 0, "log: SVA_LOG=debug gives debug lines (%d)", c.ndebug);
	unsetenv("SVA_LOG");
	c = (struct cap){ 0 };
	struct sva_dev *dev = NULL;
	sva_dev_open_mock(ctx, NULL, &dev);
	ok(c.n > 0, "log: the level stays debug after unsetenv (read at creation): the open's info line (%d)", c.n);
	sva_dev_close(dev);

	/* set_log with DEFAULT reads SVA_LOG again, now. */
	setenv("SVA_LOG", "warning", 1);
	sva_ctx_set_log(ctx, cap_fn, &c2, SVA_LOG_DEFAULT);
	c2 = (struct cap){ 0 };
	dev = NULL;
	sva_dev_open_mock(ctx, NULL, &dev);
	sva_dev_close(dev);
	is_int(c2.n, 0, "set_log: SVA_LOG_DEFAULT rereads SVA_LOG (warning: no debug/info lines)");
	is_int(sva_ctx_fault_fd(ctx), -EINVAL, "fault_fd: thread mode: -EINVAL");
	ok(c2.nerr == 1 && c.nerr == 0, "fault_fd: thread mode refusal is logged once at error level, to the new callback only");
	setenv("SVA_LOG", "bogus", 1);
	sva_ctx_set_log(ctx, cap_fn, &c2, SVA_LOG_DEFAULT);
	c2 = (struct cap){ 0 };
	sva_ctx_fault_fd(ctx);
	dev = NULL;
	sva_dev_open_mock(ctx, NULL, &dev);
	sva_dev_close(dev);
	ok(c2.n == 1 && c2.nerr == 1, "set_log: SVA_LOG=bogus means warn (%d lines)", c2.n);
	setenv("SVA_LOG", "debug", 1);
	sva_ctx_set_log(ctx, cap_fn, &c2, (enum sva_log_level)42);
	c2 = (struct cap){ 0 };
	dev = NULL;
	sva_dev_open_mock(ctx, NULL, &dev);
	sva_dev_close(dev);
	ok(c2.ndebug > 0, "set_log: an out-of-range level is taken as SVA_LOG_DEFAULT (SVA_LOG=debug)");
	sva_ctx_set_log(ctx, cap_fn, &c2, (enum sva_log_level)-3);
	c2 = (struct cap){ 0 };
	dev = NULL;
	sva_dev_open_mock(ctx, NULL, &dev);
	sva_dev_close(dev);
	ok(c2.ndebug > 0, "set_log: a negative level is taken as SVA_LOG_DEFAULT");
	unsetenv("SVA_LOG");
	ok(c2.badlevel == 0 && c.badlevel == 0, "log: the callback's level is within DEBUG..ERROR");

	sva_ctx_set_log(ctx, cap_fn, &c2, SVA_LOG_ERROR);
	c2 = (struct cap){ 0 };
	dev = NULL;
	sva_dev_open_mock(ctx, NULL, &dev);
	sva_dev_close(dev);
	is_int(c2.n, 0, "set_log: SVA_LOG_ERROR drops lower lines");
	sva_ctx_set_log(ctx, cap_fn, &c2, SVA_LOG_OFF);
	sva_ctx_fault_fd(ctx);
	is_int(c2.n, 0, "set_log: SVA_LOG_OFF drops error lines too");

	/* Control characters and the 511-byte limit: a device name is echoed. */
	sva_ctx_set_log(ctx, cap_fn, &c2, SVA_LOG_DEBUG);
	c2 = (struct cap){ 0 };
	dev = NULL;
	ok(sva_dev_open(ctx, "bad\x1b[31mname\nx\x7f", &dev) < 0, "set_log: a device name with control characters fails");
	ok(c2.n > 0 && !strchr(c2.last, '\x1b') && !strchr(c2.last, '\n') && !strchr(c2.last, '\x7f'),
	   "set_log: control characters are replaced (%s)", c2.last);
	{
		bool clean = true;

		for (const char *p = c2.last; *p; p++)
			if ((unsigned char)*p < 0x20 || *p == 0x7f)
				clean = false;
		ok(clean && strstr(c2.last, "bad?[31mname?x?"), "set_log: each by '?' (%s)", c2.last);
	}
	static char longname[2000];
	memset(longname, 'n', sizeof(longname) - 1);
	c2 = (struct cap){ 0 };
	sva_dev_open(ctx, longname, &dev);
	ok(c2.n > 0 && strlen(c2.last) <= 511, "set_log: lines are at most 511 bytes (%zu)", strlen(c2.last));
	ok(strlen(c2.last) == 511, "set_log: a longer line is truncated to 511 bytes");

	/* fn NULL: stderr, "libsva level: message". */
	sva_ctx_set_log(ctx, NULL, NULL, SVA_LOG_WARN);
	err_begin();
	sva_ctx_fault_fd(ctx);
	const char *e = err_end();
	ok(strncmp(e, "libsva error: ", 14) == 0 && count_lines(e, "libsva ") == 1,
	   "set_log: fn NULL writes \"libsva error: ...\" to stderr (%s)", e);
	/* ctx NULL: no context's log changes, nothing is logged; ctx's lines
	 * still go to stderr, none to the callback given. */
	c2 = (struct cap){ 0 };
	err_begin();
	sva_ctx_set_log(NULL, cap_fn, &c2, SVA_LOG_DEBUG);
	e = err_end();
	ok(e[0] == '\0' && c2.n == 0, "set_log: ctx NULL logs nothing (%s; %d lines)", e, c2.n);
	err_begin();
	sva_ctx_fault_fd(ctx);
	e = err_end();
	ok(count_lines(e, "libsva error: ") == 1 && c2.n == 0,
	   "set_log: ctx NULL does nothing: ctx's next error still on stderr, not to that callback (%d lines): %s", c2.n, e);

	sva_ctx_free(ctx);
out:
	unsetenv("SVA_LOG");
}

/* ------------------------------------------------ callbacks calling libsva */

struct cbstate {
	struct sva_ctx *ctx;
	struct sva_dev *dev;
	struct sva_mm *mm;
	struct sva_bond *bond;
	int in_fault_error, pf_ret, pf0_ret, bind_ret, unbind_ret, calls;
	int order[8], norder;
	int pasid_ok;
	struct sva_dev *devs[16];
	uint32_t pasids[16];
	int prev_detached;
	struct sva_pasid_space *gs;
	int quarantined_at_last;
};

static struct cbstate g;

static void fe_cb(struct sva_bond *bond, const struct sva_fault_report *r, void *drvdata)
{
	(void)r;
	(void)drvdata;
	struct sva_bond *b2 = NULL;

	g.calls++;
	g.pf_ret = sva_ctx_process_faults(g.ctx, 8);
	g.pf0_ret = sva_ctx_process_faults(g.ctx, 0); /* the place wins over max 0 */
	g.bind_ret = sva_bind(g.dev, g.mm, NULL, &b2);
	g.unbind_ret = sva_unbind(bond);
	sva_mm_free(g.mm);
	sva_dev_close(g.dev);
	sva_ctx_free(g.ctx);
}

static void fe_checks(int poll_mode)
{
	const char *mode = poll_mode ? "poll" : "thread";
	struct sva_bond_ops ops = { .size = sizeof(ops), .fault_error = fe_cb };
	struct sva_bind_opts bo = { .size = sizeof(bo), .ops = &ops };
	struct sva_ctx_opts o = { .size = sizeof(o), .flags = poll_mode ? SVA_CTX_FAULT_POLL : 0,
				  .pasid_grace_ns = UINT64_MAX };
	struct cap c = { 0 };

	memset(&g, 0, sizeof(g));
	o.log_fn = cap_fn;
	o.log_arg = &c;
	if (sva_ctx_new(&o, &g.ctx) || sva_dev_open_mock(g.ctx, NULL, &g.dev) || sva_mm_new(g.ctx, NULL, &g.mm) ||
	    sva_bind(g.dev, g.mm, &bo, &g.bond)) {
		ok(0, "%s: fault_error setup", mode);
		return;
	}
	is_int(ktest_inject_and_wait(g.dev, g.bond, BUF_VA + 0x700000, SVA_ACCESS_READ, 5000), 0,
	       "%s: a fault on unmapped memory is handled", mode);
	is_int(g.calls, 1, "%s: fault_error called once", mode);
	is_int(g.pf_ret, -EDEADLK, "%s: process_faults from fault_error: -EDEADLK", mode);
	is_int(g.pf0_ret, -EDEADLK, "%s: process_faults(ctx, 0) from fault_error: -EDEADLK, not -EINVAL", mode);
	is_int(g.bind_ret, -EDEADLK, "%s: bind from fault_error: -EDEADLK", mode);
	is_int(g.unbind_ret, -EDEADLK, "%s: unbind from fault_error: -EDEADLK", mode);
	ok(c.nerr >= 3, "%s: mm_free, dev_close and ctx_free from fault_error log errors (%d)", mode, c.nerr);
	is_int(sva_bond_pasid(g.bond) != SVA_PASID_RID && ktest_pasid_check(g.dev, sva_bond_pasid(g.bond), 0) != 0,
	       1, "%s: and did nothing: the bond is still attached", mode);
	is_int(sva_unbind(g.bond), 0, "%s: unbind after the callback", mode);
	sva_mm_free(g.mm);
	sva_dev_close(g.dev);
	sva_ctx_free(g.ctx);
}

/* A log callback that calls libsva (against the rules, but guarded). */
static struct {
	struct sva_ctx *ctx;
	int depth, maxdepth, pf, bind, unbind, lines;
	struct sva_dev *dev;
	struct sva_mm *mm;
	struct sva_bond *bond;
	bool armed;
} L;

static void log_cb(void *arg, enum sva_log_level level, const char *msg)
{
	(void)arg;
	(void)level;
	(void)msg;
	L.lines++;
	if (++L.depth > L.maxdepth)
		L.maxdepth = L.depth;
	if (L.armed && L.depth == 1) {
		struct sva_bond *b = NULL;

		L.armed = false;
		L.pf = sva_ctx_process_faults(L.ctx, 8);
		L.bind = sva_bind(L.dev, L.mm, NULL, &b);
		L.unbind = sva_unbind(L.bond);
		L.armed = true;
	} else if (L.depth == 2) {
		sva_ctx_process_faults(L.ctx, 8); /* logs again: dropped */
	}
	L.depth--;
}

static void log_cb_checks(void)
{
	struct sva_ctx_opts o = { .size = sizeof(o), .flags = SVA_CTX_FAULT_POLL, .log_fn = log_cb,
				  .log_level = SVA_LOG_ERROR };
	struct sva_bind_opts bo = { .size = sizeof(bo), .flags = SVA_BIND_PINNED };

	memset(&L, 0, sizeof(L));
	if (sva_ctx_new(&o, &L.ctx) || sva_dev_open_mock(L.ctx, NULL, &L.dev) || sva_mm_new(L.ctx, NULL, &L.mm) ||
	    sva_bind(L.dev, L.mm, &bo, &L.bond)) {
		ok(0, "log callback setup");
		return;
	}
	L.maxdepth = 0;
	L.armed = true;
	struct sva_dev *d = NULL;
	sva_dev_open(L.ctx, "/nonexistent", &d); /* logs at error */
	L.armed = false;
	is_int(L.pf, -EDEADLK, "log callback: process_faults: -EDEADLK");
	is_int(L.bind, -EDEADLK, "log callback: bind: -EDEADLK");
	is_int(L.unbind, -EDEADLK, "log callback: unbind: -EDEADLK");
	is_int(L.maxdepth, 2, "log callback: a call that logs calls it again, nested, once (lines from deeper are dropped)");
	sva_unbind(L.bond);
	sva_mm_free(L.mm);
	sva_dev_close(L.dev);
	sva_ctx_free(L.ctx);

	/* In thread mode, -EDEADLK comes before -EINVAL. */
	o.flags = 0;
	memset(&L, 0, sizeof(L));
	if (sva_ctx_new(&o, &L.ctx) || sva_dev_open_mock(L.ctx, NULL, &L.dev) || sva_mm_new(L.ctx, NULL, &L.mm) ||
	    sva_bind(L.dev, L.mm, &bo, &L.bond)) {
		ok(0, "log callback setup (thread)");
		return;
	}
	L.armed = true;
	sva_dev_open(L.ctx, "/nonexistent", &d);
	L.armed = false;
	is_int(L.pf, -EDEADLK, "log callback, thread mode: process_faults: -EDEADLK, not -EINVAL");
	sva_unbind(L.bond);
	sva_mm_free(L.mm);
	sva_dev_close(L.dev);
	sva_ctx_free(L.ctx);
}

/* --------------------------------------------------------- poll mode */

static void poll_checks(void)
{
	struct sva_ctx_opts o = { .size = sizeof(o), .flags = SVA_CTX_FAULT_POLL, .pasid_grace_ns = UINT64_MAX };
	struct sva_ctx *ctx = NULL;
	struct sva_dev *dev = NULL;
	struct sva_mm *mm = NULL;
	struct sva_bond *bond = NULL, *b2 = NULL;
	struct cap c = { 0 };
	int fd, fds;

	o.log_fn = cap_fn;
	o.log_arg = &c;
	if (!is_int(sva_ctx_new(&o, &ctx), 0, "poll: context"))
		return;
	is_int(sva_ctx_process_faults(NULL, 8), -EINVAL, "process_faults: NULL ctx: -EINVAL");
	is_int(sva_ctx_process_faults(ctx, 0), -EINVAL, "process_faults: max 0: -EINVAL");
	is_int(c.n, 0, "process_faults: max 0 is not logged");
	fds = count_fds();
	is_int(sva_ctx_process_faults(ctx, 8), 0, "process_faults: before the queue exists: 0");
	is_int(count_fds(), fds, "process_faults: and creates no queue");
	is_int(sva_ctx_fault_health(ctx), 0, "fault_health: poll mode: 0");
	is_int(sva_ctx_fault_fd(NULL), -EINVAL, "fault_fd: NULL: -EINVAL");
	fd = sva_ctx_fault_fd(ctx);
	ok(fd >= 0, "fault_fd: before the first bind: a descriptor (%d)", fd);
	is_int(sva_ctx_fault_fd(ctx), fd, "fault_fd: every call returns the same descriptor");
	ok(fcntl(fd, F_GETFD) & FD_CLOEXEC, "fault_fd: close-on-exec");
	struct pollfd p = { .fd = fd, .events = POLLIN | POLLOUT };
	poll(&p, 1, 0);
	ok((p.revents & POLLOUT) && !(p.revents & POLLIN), "fault_fd: empty: POLLOUT, not POLLIN (%#x)", p.revents);
	is_int(sva_ctx_process_faults(ctx, 8), 0, "process_faults: empty queue: 0");

	sva_dev_open_mock(ctx, NULL, &dev);
	sva_mm_new(ctx, NULL, &mm);
	if (!is_int(sva_bind(dev, mm, NULL, &bond), 0, "poll: a fault-capable bind"))
		goto out;
	for (int i = 0; i < 3; i++)
		sva_dev_inject_fault(dev, sva_bond_pasid(bond), BUF_VA + 0x800000 + i * PG, SVA_ACCESS_READ, (uint32_t)i);
	p.events = POLLIN;
	is_int(poll(&p, 1, 2000), 1, "fault_fd: readable with faults waiting");
	is_int(sva_ctx_process_faults(ctx, 1), 1, "process_faults: max 1 handles one single-record group");
	is_int(sva_ctx_process_faults(ctx, 64), 2, "process_faults: then the other two");
	is_int(sva_ctx_process_faults(ctx, 64), 0, "process_faults: then 0");

	/* In a forked child. */
	pid_t pid = fork();
	if (pid == 0) {
		int a = sva_ctx_process_faults(ctx, 8), b = sva_ctx_fault_fd(ctx), h = sva_ctx_fault_health(ctx);
		struct sva_iova_range r[4];
		size_t nr = 4;
		int m = sva_mm_iova_ranges(mm, r, &nr);

		_exit((a == -ECHILD) | (b == -ECHILD) << 1 | (h == 0) << 2 | (m == -ECHILD) << 3);
	}
	int st = 0;
	waitpid(pid, &st, 0);
	is_int(WIFEXITED(st) ? WEXITSTATUS(st) & 1 : 0, 1, "process_faults: forked child: -ECHILD");
	is_int(WIFEXITED(st) ? (WEXITSTATUS(st) >> 1) & 1 : 0, 1, "fault_fd: forked child: -ECHILD");
	is_int(WIFEXITED(st) ? (WEXITSTATUS(st) >> 2) & 1 : 0, 1, "fault_health: forked child: the parent's value (0)");
	is_int(WIFEXITED(st) ? (WEXITSTATUS(st) >> 3) & 1 : 0, 1, "mm_iova_ranges: forked child: -ECHILD");

	/* The queue's descriptor closed behind libsva's back, its number reused by /dev/null. */
	int nul = open("/dev/null", O_RDWR);
	dup2(nul, fd);
	close(nul);
	c = (struct cap){ 0 };
	is_int(sva_ctx_process_faults(ctx, 8), -EBADF, "process_faults: queue replaced by /dev/null: -EBADF");
	ok(c.nerr == 1, "process_faults: -EBADF logged at error level (%d)", c.nerr);
	is_int(sva_ctx_process_faults(ctx, 8), -EBADF, "process_faults: -EBADF again at once");
	is_int(sva_ctx_fault_fd(ctx), -EBADFD, "fault_fd: after that: -EBADFD");
	is_int(sva_bind(dev, mm, &(struct sva_bind_opts){ .size = sizeof(struct sva_bind_opts),
							  .flags = SVA_BIND_EXTRA_PASID },
			&b2),
	       -EBADFD, "bind: a fault-capable bind after that: -EBADFD");
	is_int(sva_ctx_fault_health(ctx), 0, "fault_health: poll mode still 0");
	sva_unbind(bond);
	bond = NULL;
out:
	sva_unbind(bond);
	sva_mm_free(mm);
	sva_dev_close(dev);
	sva_ctx_free(ctx);
	if (fd >= 0) {
		ok(fcntl(fd, F_GETFD) >= 0, "fault_fd: the reused number is left open at release");
		close(fd);
	}

	/* The queue is closed when the context is released. */
	ctx = NULL;
	if (sva_ctx_new(&o, &ctx) == 0) {
		fd = sva_ctx_fault_fd(ctx);
		sva_ctx_free(ctx);
		ok(fd >= 0 && fcntl(fd, F_GETFD) < 0 && errno == EBADF, "fault_fd: closed when the context is released");
	}
}

/* ----------------------------------------------------- thread mode */

static atomic_int init_calls;
static atomic_long init_tid;
static void *init_arg;
static char init_comm[32];

static void thread_init(void *arg)
{
	init_calls++;
	init_tid = syscall(SYS_gettid);
	init_arg = arg;
	ktest_thread_comm((pid_t)init_tid, init_comm, sizeof(init_comm));
}

/* Is a thread of this process named `name`?  A listing that fails ends the
 * test rather than be a "no". */
static bool thread_named(const char *name)
{
	int n = ktest_for_each_thread_named(name, NULL, NULL);

	if (n < 0)
		ktest_bail("listing the threads named %s: %s", name, strerror(-n));
	return n > 0;
}

static void thread_checks(void)
{
	char name[16] = "ctx-faults";
	int marker = 7;
	struct sva_ctx_opts o = { .size = sizeof(o), .fault_thread_name = name, .fault_thread_init = thread_init,
				  .fault_thread_arg = &marker, .pasid_grace_ns = UINT64_MAX };
	struct sva_ctx *ctx = NULL;
	struct sva_dev *dev = NULL;
	struct sva_mm *mm = NULL;
	struct sva_bond *bond = NULL, *b2 = NULL;
	struct cap c = { 0 };

	o.log_fn = cap_fn;
	o.log_arg = &c;
	if (!is_int(sva_ctx_new(&o, &ctx), 0, "thread: context"))
		return;
	strcpy(name, "overwritten");
	is_int(sva_ctx_fault_health(NULL), -EINVAL, "fault_health: NULL: -EINVAL");
	is_int(sva_ctx_fault_health(ctx), 0, "fault_health: before the thread: 0");
	is_int(sva_ctx_process_faults(ctx, 8), -EINVAL, "process_faults: thread mode: -EINVAL");
	is_int(init_calls, 0, "fault_thread_init: not called before the first fault-capable bind");
	sva_dev_open_mock(ctx, NULL, &dev);
	sva_mm_new(ctx, NULL, &mm);
	if (!is_int(sva_bind(dev, mm, NULL, &bond), 0, "thread: a fault-capable bind"))
		goto out;
	is_int(ktest_inject_and_wait(dev, bond, BUF_VA + 0x900000, SVA_ACCESS_READ, 5000), 0, "thread: a fault is handled");
	is_int(init_calls, 1, "fault_thread_init: called once");
	ok(init_arg == &marker, "fault_thread_init: with fault_thread_arg");
	ok(init_tid != syscall(SYS_gettid), "fault_thread_init: on another thread");
	ok(thread_named("ctx-faults"), "fault_thread_name: the thread is named as given (the string was copied)");
	ok(strcmp(init_comm, "ctx-faults") == 0, "fault_thread_init: runs on the named thread (%s)", init_comm);
	is_int(sva_ctx_fault_health(ctx), 0, "fault_health: the thread runs: 0");

	/* Close the queue behind libsva's back: the thread stops, -EBADF. */
#ifdef KTEST_TSAN
	skip(5, "ThreadSanitizer fails (CHECK) on a descriptor closed under another thread");
	goto out;
#endif
	int qfd = ctx->fe.fault_fd; /* white-box: the number only */
	int nul = open("/dev/null", O_RDWR);
	dup2(nul, qfd);
	close(nul);
	sva_dev_inject_fault(dev, sva_bond_pasid(bond), BUF_VA + 0x901000, SVA_ACCESS_READ, 0);
	int h = 0;
	for (int i = 0; i < 3000 && (h = sva_ctx_fault_health(ctx)) == 0; i++)
		usleep(1000);
	is_int(h, -EBADF, "fault_health: the queue closed behind libsva's back: -EBADF");
	{
		pid_t pid = fork();

		if (pid == 0)
			_exit(sva_ctx_fault_health(ctx) == -EBADF ? 0 : 1);
		int st = 0;
		waitpid(pid, &st, 0);
		ok(WIFEXITED(st) && WEXITSTATUS(st) == 0, "fault_health: a forked child gets the parent's value (-EBADF)");
	}
	is_int(sva_bind(dev, mm, &(struct sva_bind_opts){ .size = sizeof(struct sva_bind_opts), .flags = SVA_BIND_EXTRA_PASID },
			&b2),
	       -EBADFD, "fault_health stopped: a fault-capable bind: -EBADFD");
	struct sva_mm *mm2 = NULL;
	sva_mm_new(ctx, NULL, &mm2);
	is_int(sva_bind(dev, mm2, &(struct sva_bind_opts){ .size = sizeof(struct sva_bind_opts), .flags = SVA_BIND_PINNED },
			&b2),
	       0, "fault_health stopped: a pinned bind is still taken");
	sva_unbind(b2);
	sva_mm_free(mm2);
	sva_unbind(bond);
	bond = NULL;
	sva_mm_free(mm);
	sva_dev_close(dev);
	sva_ctx_free(ctx);
	ok(fcntl(qfd, F_GETFD) >= 0, "fault_health -EBADF: the number is not libsva's: the release leaves it open");
	close(qfd);
	goto named;
out:
	sva_unbind(bond);
	sva_mm_free(mm);
	sva_dev_close(dev);
	sva_ctx_free(ctx);
named:
	/* The default name. */
	ctx = NULL;
	sva_ctx_new(&(struct sva_ctx_opts){ .size = sizeof(struct sva_ctx_opts) }, &ctx);
	dev = NULL;
	mm = NULL;
	bond = NULL;
	sva_dev_open_mock(ctx, NULL, &dev);
	sva_mm_new(ctx, NULL, &mm);
	if (sva_bind(dev, mm, NULL, &bond) == 0)
		ok(thread_named(KTEST_FAULT_THREAD), "fault_thread_name NULL: sva-fault");
	else
		ok(0, "default-name bind");
	sva_unbind(bond);
	sva_mm_free(mm);
	sva_dev_close(dev);
	sva_ctx_free(ctx);
}

/* --------------------------------------------- PASID range and grace */

static void pasid_checks(void)
{
	struct sva_pasid_stats s = { .size = sizeof(s) };
	struct sva_ctx *ctx = NULL;
	struct sva_pasid_space *gs;
	uint32_t p;

	ok(sva_ctx_global_pasids(NULL) == NULL, "global_pasids: NULL: NULL");
	sva_ctx_new(NULL, &ctx);
	gs = sva_ctx_global_pasids(ctx);
	ok(gs && sva_pasid_stats(gs, &s) == 0 && s.min == 256 && s.max == SVA_PASID_MAX,
	   "global_pasids: by default [256, 2^20-1] ([%u, %u])", s.min, s.max);
	sva_ctx_free(ctx);

	for (int mode = 0; mode < 3; mode++) {
		static const uint64_t grace[] = { 0, UINT64_MAX, 1000000 };
		static const char *const gname[] = { "default 100 ms", "UINT64_MAX", "1 ms" };
		struct cap c = { 0 };
		struct sva_ctx_opts o = { .size = sizeof(o), .global_pasid_min = 1000, .global_pasid_max = 1000,
					  .pasid_grace_ns = grace[mode], .log_fn = cap_fn, .log_arg = &c };

		ctx = NULL;
		if (!is_int(sva_ctx_new(&o, &ctx), 0, "grace %s: a context with global range [1000, 1000]", gname[mode]))
			continue;
		gs = sva_ctx_global_pasids(ctx);
		if (mode == 0) {
			ok(sva_pasid_stats(gs, &s) == 0 && s.min == 1000 && s.max == 1000, "global range as set ([%u, %u])",
			   s.min, s.max);
			sva_pasid_space_free(gs);
			ok(c.nerr == 1, "sva_pasid_space_free of the global space logs an error (%d)", c.nerr);
			ok(sva_pasid_stats(gs, &s) == 0 && s.free == 1, "and frees nothing");
		}
		sva_pasid_alloc(gs, NULL, &p);
		sva_pasid_free(gs, p);
		sva_pasid_release(gs, p);
		if (mode != 2)
			is_int(sva_pasid_alloc(gs, NULL, &p), -ENOSPC, "grace %s: in quarantine right after release",
			       gname[mode]);
		usleep(300000);
		if (mode == 1) {
			is_int(sva_pasid_alloc(gs, NULL, &p), -ENOSPC, "grace UINT64_MAX: still in quarantine after 300 ms");
			sva_pasid_barrier(gs);
		}
		is_int(sva_pasid_alloc(gs, NULL, &p), 0, "grace %s: allocatable after %s", gname[mode],
		       mode == 1 ? "a barrier" : "300 ms");
		sva_ctx_free(ctx);
	}
	struct sva_ctx_opts o = { .size = sizeof(o), .global_pasid_min = 10, .global_pasid_max = 100 };
	ctx = NULL;
	is_int(sva_ctx_new(&o, &ctx), 0, "global_pasid_max below 256 with an explicit min");
	sva_ctx_free(ctx);
	o = (struct sva_ctx_opts){ .size = sizeof(o), .global_pasid_min = 1, .global_pasid_max = SVA_PASID_MAX };
	ctx = NULL;
	is_int(sva_ctx_new(&o, &ctx), 0, "global range [1, SVA_PASID_MAX]");
	sva_ctx_free(ctx);
}

/* --------------------------------------- ctx_free / mm_free order */

static void exit_cb(struct sva_bond *bond, void *drvdata)
{
	if (g.norder > 0) {
		int prev = g.order[g.norder - 1];

		if (g.devs[prev])
			g.prev_detached += ktest_pasid_check(g.devs[prev], g.pasids[prev], 0) == 0;
	}
	if (g.gs) {
		struct sva_pasid_stats st = { .size = sizeof(st) };

		sva_pasid_stats(g.gs, &st);
		g.quarantined_at_last = (int)st.quarantined;
	}
	g.order[g.norder++] = (int)(intptr_t)drvdata;
	if (sva_bond_pasid(bond) != SVA_PASID_RID && g.devs[(intptr_t)drvdata])
		g.pasid_ok += ktest_pasid_check(g.devs[(intptr_t)drvdata], sva_bond_pasid(bond), 0) != 0;
}

static void exit_free_cb(struct sva_bond *bond, void *drvdata)
{
	(void)bond;
	(void)drvdata;
	g.calls++;
	sva_ctx_free(g.ctx);
	sva_mm_free(g.mm);
}

static void order_checks(void)
{
	struct sva_bond_ops ops = { .size = sizeof(ops), .mm_exit = exit_cb };
	struct sva_ctx *ctx = NULL;
	struct sva_dev *d1 = NULL, *d2 = NULL;
	struct sva_mm *m1 = NULL, *m2 = NULL;
	struct sva_bond *b[3];
	struct cap c = { 0 };
	struct sva_ctx_opts o = { .size = sizeof(o), .pasid_grace_ns = UINT64_MAX, .log_fn = cap_fn, .log_arg = &c,
				  .log_level = SVA_LOG_DEBUG };

	memset(&g, 0, sizeof(g));
	KTEST_QUIET_NOOP(sva_ctx_free(NULL), "ctx_free(NULL)");
	KTEST_QUIET_NOOP(sva_mm_free(NULL), "mm_free(NULL)");
	if (sva_ctx_new(&o, &ctx) || sva_dev_open_mock(ctx, NULL, &d1) || sva_dev_open_mock(ctx, NULL, &d2) ||
	    sva_mm_new(ctx, NULL, &m1) || sva_mm_new(ctx, NULL, &m2)) {
		ok(0, "order setup");
		return;
	}
	struct sva_bind_opts bo = { .size = sizeof(bo), .flags = SVA_BIND_PINNED, .ops = &ops };
	g.devs[1] = d1;
	g.devs[2] = d2;
	g.devs[3] = d1;
	bo.drvdata = (void *)1;
	sva_bind(d1, m1, &bo, &b[0]);
	g.pasids[1] = sva_bond_pasid(b[0]);
	bo.drvdata = (void *)2;
	sva_bind(d2, m2, &bo, &b[1]);
	g.pasids[2] = sva_bond_pasid(b[1]);
	bo.drvdata = (void *)3;
	sva_bind(d1, m2, &bo, &b[2]);
	g.pasids[3] = sva_bond_pasid(b[2]);
	g.gs = sva_ctx_global_pasids(ctx);
	sva_ctx_free(ctx);
	is_int(g.prev_detached, 2, "ctx_free: each bond's PASID is detached before the next bond's mm_exit runs");
	is_int(g.quarantined_at_last, 1, "ctx_free: and quarantined (m2's global PASID, once both its bonds went)");
	g.gs = NULL;
	ok(g.norder == 3 && g.order[0] == 3 && g.order[1] == 2 && g.order[2] == 1,
	   "ctx_free: every bond's mm_exit, most recently bound first (%d: %d %d %d)", g.norder, g.order[0], g.order[1],
	   g.order[2]);
	is_int(g.pasid_ok, 3, "ctx_free: mm_exit runs while the PASID still translates");
	{
		struct sva_iova_range rr[64];
		size_t n1 = 64, n2 = 64;
		struct sva_mm *fresh = NULL;
		struct sva_iova_range rf[64];

		/* A fresh address space of the same context: nothing bound. */
		sva_mm_new(ctx, NULL, &fresh); /* ctx is still alive: its devices hold it */
		sva_mm_iova_ranges(fresh, rf, &n2);
		ok(sva_mm_iova_ranges(m2, rr, &n1) == 0 && n1 == n2 && n1 && rr[n1 - 1].last == rf[n2 - 1].last,
		   "ctx_free: the page tables on the address spaces went with their bonds (ranges as with nothing bound)");
		sva_mm_free(fresh);
	}
	struct sva_bond *nb = NULL;
	is_int(sva_bind(d1, m1, &(struct sva_bind_opts){ .size = sizeof(struct sva_bind_opts), .flags = SVA_BIND_PINNED },
			&nb),
	       0, "ctx_free: devices and address spaces stay usable");
	sva_unbind(nb);
	c = (struct cap){ 0 };
	sva_mm_free(m1);
	sva_dev_close(d1);
	ok(c.n > 0, "ctx_free: the log callback is still called until the context goes (%d lines)", c.n);
	/* Silence it: no more calls. */
	sva_mm_free(m2);
	sva_dev_close(d2);

	/* mm_free: most recent first, across devices. */
	memset(&g, 0, sizeof(g));
	ctx = NULL;
	d1 = d2 = NULL;
	m1 = NULL;
	o.log_level = 0;
	if (sva_ctx_new(&o, &ctx) || sva_dev_open_mock(ctx, NULL, &d1) || sva_dev_open_mock(ctx, NULL, &d2) ||
	    sva_mm_new(ctx, NULL, &m1)) {
		ok(0, "mm order setup");
		return;
	}
	g.devs[1] = d2;
	g.devs[2] = d1;
	g.devs[3] = d2;
	bo.drvdata = (void *)1;
	sva_bind(d2, m1, &bo, &b[0]);
	g.pasids[1] = sva_bond_pasid(b[0]);
	bo.drvdata = (void *)2;
	sva_bind(d1, m1, &bo, &b[1]);
	g.pasids[2] = sva_bond_pasid(b[1]);
	bo.drvdata = (void *)3;
	bo.flags |= SVA_BIND_EXTRA_PASID;
	sva_bind(d2, m1, &bo, &b[2]);
	g.pasids[3] = sva_bond_pasid(b[2]);
	sva_mm_free(m1);
	is_int(g.prev_detached, 2, "mm_free: each bond's PASID is detached before the next bond's mm_exit runs");
	ok(g.norder == 3 && g.order[0] == 3 && g.order[1] == 2 && g.order[2] == 1,
	   "mm_free: every bond's mm_exit, most recently bound first (%d: %d %d %d)", g.norder, g.order[0], g.order[1],
	   g.order[2]);
	is_int(g.pasid_ok, 3, "mm_free: mm_exit runs while the PASID still translates");
	struct sva_dev_info info = { .size = sizeof(info) };
	is_int(sva_dev_get_info(d1, &info), 0, "mm_free: the devices stay open");

	/* Inside mm_exit: ctx_free and mm_free are refused. */
	struct sva_bond_ops ops2 = { .size = sizeof(ops2), .mm_exit = exit_free_cb };
	memset(&g, 0, sizeof(g));
	g.ctx = ctx;
	sva_mm_new(ctx, NULL, &g.mm);
	bo = (struct sva_bind_opts){ .size = sizeof(bo), .flags = SVA_BIND_PINNED, .ops = &ops2 };
	struct sva_bond *bb = NULL;
	sva_bind(d1, g.mm, &bo, &bb);
	c = (struct cap){ 0 };
	sva_unbind(bb);
	ok(g.calls == 1 && c.nerr == 2, "mm_exit: ctx_free and mm_free log an error each (%d)", c.nerr);
	struct sva_iova_range r[8];
	size_t nr = 8;
	is_int(sva_mm_iova_ranges(g.mm, r, &nr), 0, "mm_exit: and did nothing: the address space is valid");
	is_int(sva_ctx_fd(ctx) >= 0, 1, "mm_exit: the context is valid");
	sva_mm_free(g.mm);

	/* A forked child: no mm_exit, the parent's bond stays attached. */
	g.norder = 0;
	m1 = NULL;
	sva_mm_new(ctx, NULL, &m1);
	bo = (struct sva_bind_opts){ .size = sizeof(bo), .flags = SVA_BIND_PINNED, .ops = &ops, .drvdata = (void *)9 };
	struct sva_bond *fb = NULL;
	sva_bind(d1, m1, &bo, &fb);
	pid_t pid = fork();
	if (pid == 0) {
		sva_mm_free(m1);
		sva_ctx_free(ctx);
		_exit(g.norder);
	}
	int st = 0;
	waitpid(pid, &st, 0);
	ok(WIFEXITED(st) && WEXITSTATUS(st) == 0, "forked child: mm_free and ctx_free run no mm_exit");
	ok(ktest_pasid_check(d1, sva_bond_pasid(fb), 0) != 0, "forked child: the parent's bond stays attached");
	sva_mm_free(m1);
	sva_dev_close(d1);
	sva_dev_close(d2);
	sva_ctx_free(ctx);
}

/* -------------------------------------------------- mm_iova_ranges */

static void ranges_checks(void)
{
	struct cap c = { 0 };
	struct sva_ctx_opts o = { .size = sizeof(o), .log_fn = cap_fn, .log_arg = &c, .log_level = SVA_LOG_DEBUG };
	struct sva_ctx *ctx = NULL;
	struct sva_mm *mm = NULL;
	struct sva_dev *dev = NULL;
	struct sva_bond *bond = NULL;
	struct sva_iova_range r[64], one;
	size_t nr, all;

	if (sva_ctx_new(&o, &ctx) || sva_mm_new(ctx, NULL, &mm)) {
		ok(0, "ranges setup");
		return;
	}
	nr = 4;
	err_begin();
	is_int(sva_mm_iova_ranges(NULL, r, &nr), -EINVAL, "iova_ranges: NULL mm: -EINVAL");
	const char *e = err_end();
	is_int(count_lines(e, "libsva"), 1, "iova_ranges: NULL mm is logged, once (libsva(7), Errors)");
	c = (struct cap){ 0 };
	is_int(sva_mm_iova_ranges(mm, r, NULL), -EINVAL, "iova_ranges: NULL nr: -EINVAL");
	nr = 1;
	is_int(sva_mm_iova_ranges(mm, NULL, &nr), -EINVAL, "iova_ranges: *nr 1 with NULL ranges: -EINVAL");
	is_int(c.n, 0, "iova_ranges: -EINVAL is not logged");
	nr = 0;
	int ret = sva_mm_iova_ranges(mm, NULL, &nr);
	ok((ret == -ENOSPC && nr > 0) || (ret == 0 && nr == 0), "iova_ranges: NULL, 0: the count (%d, %zu)", ret, nr);
	all = 64;
	is_int(sva_mm_iova_ranges(mm, r, &all), 0, "iova_ranges: nothing bound");
	is_int(all, nr, "iova_ranges: the count matches");
	bool asc = true;
	for (size_t i = 0; i < all; i++)
		if (r[i].last < r[i].start || (i && r[i].start <= r[i - 1].last))
			asc = false;
	ok(asc, "iova_ranges: ascending, last >= start");
	uint64_t first_last = all ? r[all - 1].last : 0;
	sva_dev_open_mock(ctx, NULL, &dev);
	sva_bind(dev, mm, &(struct sva_bind_opts){ .size = sizeof(struct sva_bind_opts), .flags = SVA_BIND_PINNED }, &bond);
	size_t nb = 64;
	is_int(sva_mm_iova_ranges(mm, r, &nb), 0, "iova_ranges: with the mock bound");
	ok(nb > 0 && r[nb - 1].last < first_last, "iova_ranges: a bound device narrows them (last %#llx < %#llx)",
	   nb ? (unsigned long long)r[nb - 1].last : 0ull, (unsigned long long)first_last);
	if (nb > 1) {
		nr = 1;
		memset(&one, 0, sizeof(one));
		c = (struct cap){ 0 };
		is_int(sva_mm_iova_ranges(mm, &one, &nr), -ENOSPC, "iova_ranges: room for 1 of %zu: -ENOSPC", nb);
		ok(nr == nb && one.start == r[0].start && one.last == r[0].last, "iova_ranges: first filled, *nr the count");
		is_int(c.n, 0, "iova_ranges: -ENOSPC logs nothing");
	} else {
		skip(3, "one range only");
	}
	sva_unbind(bond);
	size_t na = 64;
	struct sva_iova_range ra[64];
	is_int(sva_mm_iova_ranges(mm, ra, &na), 0, "iova_ranges: after the last bond's unbind");
	ok(na == all && na && ra[na - 1].last == first_last,
	   "iova_ranges: the device's page table went with its last bond: the whole space again (%zu, last %#llx)", na,
	   na ? (unsigned long long)ra[na - 1].last : 0ull);
	struct sva_dev_info info = { .size = sizeof(info) };
	ok(sva_dev_get_info(dev, &info) == 0 && info.iommu_type == SVA_IOMMU_SELFTEST &&
		   strcmp(sva_iommu_type_name(info.iommu_type), "selftest") == 0,
	   "iommu_type_name: the mock reports SVA_IOMMU_SELFTEST, named \"selftest\"");
	sva_dev_close(dev);
	sva_mm_free(mm);
	sva_ctx_free(ctx);
}

/* The monitor thread goes with the last tracked address space. */
static int count_threads(void)
{
	/* A joined thread can linger in the count until the kernel has reaped
	 * it: take the count once it has held for 20 ms (1 s at most). */
	int n = (int)ktest_self_status_num("Threads"), m;

	for (int i = 0; i < 50; i++, n = m) {
		usleep(20000);
		m = (int)ktest_self_status_num("Threads");
		if (m == n)
			break;
	}
	return n;
}

static void *nothing(void *arg)
{
	return arg;
}

static void monitor_checks(void)
{
	struct sva_ctx *ctx = NULL;
	struct sva_mm *mm = NULL;
	int t0, f0, t1;

	/* A first thread of the process's own, so that a sanitizer's helper
	 * thread, started with it, is there before the count. */
	pthread_t t;
	pthread_create(&t, NULL, nothing, NULL);
	pthread_join(t, NULL);
	sva_ctx_new(NULL, &ctx);
	t0 = count_threads();
	f0 = count_fds();
	if (sva_mm_new(ctx, NULL, &mm)) {
		ok(0, "monitor setup");
		return;
	}
	t1 = count_threads();
	sva_mm_free(mm);
	ok(t1 == t0 + 1, "mm_new: the first tracked address space starts the monitor (%d -> %d)", t0, t1);
	is_int(count_threads(), t0, "mm_free: the last tracked address space takes the monitor thread");
	is_int(count_fds(), f0 + 1, "mm_free: one descriptor (the monitor's eventfd) stays");
	sva_ctx_free(ctx);
}


/* ------------------------------------------------------ more statements */

static struct {
	struct sva_dev *dev;
	struct sva_mm *mm;
	int bind_ret;
	atomic_int done;
	struct sva_bond *bond;
} TI;

static void init_binds(void *arg)
{
	(void)arg;
	usleep(200000);
	TI.bind_ret = sva_bind(TI.dev, TI.mm,
			       &(struct sva_bind_opts){ .size = sizeof(struct sva_bind_opts), .flags = SVA_BIND_PINNED },
			       &TI.bond);
	TI.done = 1;
}

static atomic_int fe_saw_init_done = -1;

static void fe_order(struct sva_bond *bond, const struct sva_fault_report *r, void *drvdata)
{
	(void)bond;
	(void)r;
	(void)drvdata;
	fe_saw_init_done = TI.done;
}

static void init_calls_libsva(void)
{
	struct sva_ctx_opts o = { .size = sizeof(o), .fault_thread_init = init_binds, .pasid_grace_ns = UINT64_MAX };
	struct sva_bond_ops ops = { .size = sizeof(ops), .fault_error = fe_order };
	struct sva_bind_opts bo = { .size = sizeof(bo), .ops = &ops };
	struct sva_ctx *ctx = NULL;
	struct sva_mm *mm = NULL;
	struct sva_bond *bond = NULL;

	memset(&TI, 0, sizeof(TI));
	if (sva_ctx_new(&o, &ctx) || sva_dev_open_mock(ctx, NULL, &TI.dev) || sva_mm_new(ctx, NULL, &mm) ||
	    sva_mm_new(ctx, NULL, &TI.mm)) {
		ok(0, "init setup");
		return;
	}
	/* The hook binds on the same device while the first bind may still run. */
	is_int(sva_bind(TI.dev, mm, &bo, &bond), 0, "fault_thread_init: the first fault-capable bind");
	sva_dev_inject_fault(TI.dev, sva_bond_pasid(bond), BUF_VA + 0xa00000, SVA_ACCESS_READ, 0);
	for (int i = 0; i < 5000 && fe_saw_init_done < 0; i++)
		usleep(1000);
	is_int(TI.done, 1, "fault_thread_init: it may call libsva (a bind): it returned");
	is_int(TI.bind_ret, 0, "fault_thread_init: its bind succeeded");
	is_int(fe_saw_init_done, 1, "fault_thread_init: a fault that arrived meanwhile waited for it to return");
	sva_unbind(TI.bond);
	sva_unbind(bond);
	sva_mm_free(TI.mm);
	sva_mm_free(mm);
	sva_dev_close(TI.dev);
	sva_ctx_free(ctx);
}

static int pm_exit_ret = 1;
static struct sva_ctx *pm_ctx;

static void pm_exit(struct sva_bond *bond, void *drvdata)
{
	(void)bond;
	(void)drvdata;
	pm_exit_ret = sva_ctx_process_faults(pm_ctx, 8);
}

static void poll_mm_exit_checks(void)
{
	struct sva_ctx_opts o = { .size = sizeof(o), .flags = SVA_CTX_FAULT_POLL, .pasid_grace_ns = UINT64_MAX };
	struct sva_bond_ops ops = { .size = sizeof(ops), .mm_exit = pm_exit };
	struct sva_bind_opts bo = { .size = sizeof(bo), .ops = &ops };
	struct sva_dev *dev = NULL;
	struct sva_mm *mm = NULL;
	struct sva_bond *bond = NULL;

	pm_ctx = NULL;
	if (sva_ctx_new(&o, &pm_ctx) || sva_dev_open_mock(pm_ctx, NULL, &dev) || sva_mm_new(pm_ctx, NULL, &mm) ||
	    sva_bind(dev, mm, &bo, &bond)) {
		ok(0, "poll mm_exit setup");
		return;
	}
	int fd = sva_ctx_fault_fd(pm_ctx);
	sva_dev_inject_fault(dev, sva_bond_pasid(bond), BUF_VA + 0xb00000, SVA_ACCESS_READ, 0);
	usleep(10000);
	sva_ctx_free(pm_ctx);
	is_int(pm_exit_ret, 1, "ctx_free, poll mode: mm_exit may call process_faults (it answered the pending fault)");
	ok(fcntl(fd, F_GETFD) >= 0, "fault_fd: still open while a device keeps the context");
	sva_mm_free(mm);
	sva_dev_close(dev);
	ok(fcntl(fd, F_GETFD) < 0, "fault_fd: closed with the context's last device and address space");
}

static void pasid_space_log_checks(void)
{
	struct cap c = { 0 };
	struct sva_ctx_opts o = { .size = sizeof(o), .log_fn = cap_fn, .log_arg = &c, .pasid_grace_ns = UINT64_MAX };
	struct sva_ctx *ctx = NULL;
	struct sva_dev *dev = NULL, *np = NULL;
	struct sva_pasid_stats st = { .size = sizeof(st) };
	uint32_t p;

	if (sva_ctx_new(&o, &ctx) || sva_dev_open_mock(ctx, NULL, &dev)) {
		ok(0, "space log setup");
		return;
	}
	ok(sva_dev_pasids(NULL) == NULL, "dev_pasids: NULL: NULL");
	struct sva_pasid_space *ds = sva_dev_pasids(dev);
	ok(ds && sva_pasid_stats(ds, &st) == 0 && st.min == 1 && st.max == 255,
	   "dev_pasids: a 20-bit device's own space is [1, 255] ([%u, %u])", st.min, st.max);
	struct sva_mock_opts mo = { .size = sizeof(mo), .flags = SVA_MOCK_NO_PASID };
	if (sva_dev_open_mock(ctx, &mo, &np) == 0)
		ok(sva_dev_pasids(np) == NULL, "dev_pasids: a device without PASIDs has none");
	else
		ok(0, "a mock without PASIDs");
	sva_dev_close(np);
	c = (struct cap){ 0 };
	err_begin();
	int r1 = sva_pasid_free(sva_ctx_global_pasids(ctx), 5);
	int r2 = sva_pasid_release(ds, 77);
	const char *e = err_end();
	ok(r1 < 0 && r2 < 0, "space errors (%d, %d)", r1, r2);
	ok(c.nerr == 2 && count_lines(e, "libsva") == 0,
	   "dev_pasids/global_pasids: their errors are logged through the context's log (%d there, %d on stderr)", c.nerr,
	   count_lines(e, "libsva"));
	c = (struct cap){ 0 };
	sva_pasid_space_free(ds);
	ok(c.nerr == 1 && sva_pasid_stats(ds, &st) == 0, "sva_pasid_space_free of a device's space logs, frees nothing");
	/* The device's space uses the context's grace too. */
	if (is_int(sva_dev_set_pasid_range(dev, 7, 7), 0, "narrow the device's space to [7, 7]")) {
		sva_pasid_alloc(ds, NULL, &p);
		sva_pasid_free(ds, p);
		sva_pasid_release(ds, p);
		usleep(300000);
		is_int(sva_pasid_alloc(ds, NULL, &p), -ENOSPC, "dev_pasids: the context's grace (UINT64_MAX) holds");
		sva_pasid_barrier(ds);
		is_int(sva_pasid_alloc(ds, NULL, &p), 0, "dev_pasids: until a barrier");
		ok(sva_dev_pasids(dev) == ds, "dev_pasids: the pointer is unchanged across set_pasid_range");
	}
	sva_dev_close(dev);
	sva_ctx_free(ctx);

	/* iommu_path NULL is /dev/iommu, whatever dev_root says. */
	o = (struct sva_ctx_opts){ .size = sizeof(o), .dev_root = "/nonexistent" };
	ctx = NULL;
	is_int(sva_ctx_new(&o, &ctx), 0, "iommu_path NULL is /dev/iommu independently of dev_root");
	sva_ctx_free(ctx);
}

static void closed_queue_checks(void)
{
	struct sva_ctx_opts o = { .size = sizeof(o), .flags = SVA_CTX_FAULT_POLL, .log_level = SVA_LOG_OFF };
	struct sva_ctx *ctx = NULL;
	int fd;

	/* Closed outright (poll mode). */
	if (sva_ctx_new(&o, &ctx) == 0) {
		fd = sva_ctx_fault_fd(ctx);
		close(fd);
		is_int(sva_ctx_process_faults(ctx, 8), -EBADF, "process_faults: the queue's number closed: -EBADF");
		is_int(sva_ctx_fault_fd(ctx), -EBADFD, "fault_fd: then -EBADFD");
		sva_ctx_free(ctx);
	}
	/* A pipe's write end, a memfd at its number. */
	for (int kind = 0; kind < 2; kind++) {
		ctx = NULL;
		if (sva_ctx_new(&o, &ctx))
			continue;
		fd = sva_ctx_fault_fd(ctx);
		int other;
		int pfd[2] = { -1, -1 };
		if (kind == 0) {
			if (pipe(pfd))
				continue;
			other = pfd[1];
		} else {
			other = memfd_create("ctxc", 0);
			if (write(other, "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef", 64) < 0)
				diag("write");
			lseek(other, 0, SEEK_SET);
		}
		dup2(other, fd);
		close(other);
		is_int(sva_ctx_process_faults(ctx, 8), -EBADF, "process_faults: %s at the queue's number: -EBADF",
		       kind ? "a memfd" : "a pipe's write end");
		sva_ctx_free(ctx);
		ok(fcntl(fd, F_GETFD) >= 0, "  and the number is left open at release");
		close(fd);
		if (pfd[0] >= 0)
			close(pfd[0]);
	}
	/* A non-blocking eventfd, an epoll instance at the number: /proc tells
	 * their files from the queue's, where fstat() cannot. */
	for (int kind = 0; kind < 2; kind++) {
		ctx = NULL;
		if (sva_ctx_new(&o, &ctx))
			continue;
		fd = sva_ctx_fault_fd(ctx);
		int other = kind ? epoll_create1(0) : eventfd(0, EFD_NONBLOCK);

		dup2(other, fd);
		close(other);
		is_int(sva_ctx_process_faults(ctx, 8), -EBADF, "process_faults: %s at the queue's number: -EBADF",
		       kind ? "an epoll instance" : "a non-blocking eventfd");
		sva_ctx_free(ctx);
		ok(fcntl(fd, F_GETFD) >= 0, "  and the number is left open at release");
		close(fd);
	}
	/* fault_fd: no descriptor free, then one is: tried again. */
	ctx = NULL;
	if (sva_ctx_new(&o, &ctx) == 0) {
		struct rlimit old, rl;
		int n = 0, last = -1, d;

		getrlimit(RLIMIT_NOFILE, &old);
		rl = old;
		rl.rlim_cur = (rlim_t)count_fds() + 8;
		setrlimit(RLIMIT_NOFILE, &rl);
		while ((d = open("/dev/null", O_RDONLY)) >= 0) {
			last = d;
			n++;
		}
		is_int(sva_ctx_fault_fd(ctx), -EMFILE, "fault_fd: no descriptor free: -EMFILE");
		close(last);
		ok(sva_ctx_fault_fd(ctx) >= 0, "fault_fd: a failed creation is tried again by the next call");
		for (int i = last - 1; i > last - n; i--)
			close(i);
		setrlimit(RLIMIT_NOFILE, &old);
		sva_ctx_free(ctx);
	}
}

/* exit(3) from a log callback: atexit handlers run inside it. */
static struct sva_ctx *ex_ctx;
static struct sva_dev *ex_dev;
static struct sva_mm *ex_mm;
static struct sva_bond *ex_bond;
static int ex_pipe = -1;
static int ex_exits;

static void ex_atexit(void)
{
	struct sva_bond *b = NULL;
	int r[3];

	r[0] = sva_ctx_process_faults(ex_ctx, 8);
	r[1] = sva_bind(ex_dev, ex_mm, NULL, &b);
	r[2] = sva_unbind(ex_bond);
	sva_mm_free(ex_mm);
	sva_dev_close(ex_dev);
	sva_ctx_free(ex_ctx);
	if (write(ex_pipe, r, sizeof(r)) < 0)
		_exit(3);
}

static void ex_log(void *arg, enum sva_log_level level, const char *msg)
{
	(void)arg;
	(void)level;
	(void)msg;
	if (ex_exits++ == 0)
		exit(0);
}

static void ex_mm_exit(struct sva_bond *bond, void *drvdata)
{
	(void)bond;
	(void)drvdata;
	ex_exits += 100;
}

static void exit_from_log_checks(void)
{
	int p[2];
	int r[3] = { 0, 0, 0 };

	if (pipe(p))
		return;
	pid_t pid = fork();
	if (pid == 0) {
		struct sva_ctx_opts o = { .size = sizeof(o), .flags = SVA_CTX_FAULT_POLL, .log_level = SVA_LOG_OFF };
		struct sva_bond_ops ops = { .size = sizeof(ops), .mm_exit = ex_mm_exit };

		close(p[0]);
		ex_pipe = p[1];
		if (sva_ctx_new(&o, &ex_ctx) || sva_dev_open_mock(ex_ctx, NULL, &ex_dev) || sva_mm_new(ex_ctx, NULL, &ex_mm) ||
		    sva_bind(ex_dev, ex_mm, &(struct sva_bind_opts){ .size = sizeof(struct sva_bind_opts), .flags = SVA_BIND_RID | SVA_BIND_PINNED, .ops = &ops }, &ex_bond))
			_exit(2);
		atexit(ex_atexit);
		sva_ctx_set_log(ex_ctx, ex_log, NULL, SVA_LOG_ERROR);
		struct sva_dev *d = NULL;
		sva_dev_open(ex_ctx, "/nonexistent", &d);
		_exit(4);
	}
	close(p[1]);
	ssize_t n = read(p[0], r, sizeof(r));
	close(p[0]);
	int st = 0;
	waitpid(pid, &st, 0);
	ok(n == sizeof(r), "exit from a log callback: the atexit handler ran (%zd)", n);
	is_int(r[0], -EDEADLK, "exit from a log callback: process_faults in atexit: -EDEADLK");
	is_int(r[1], -EDEADLK, "exit from a log callback: bind in atexit: -EDEADLK");
	is_int(r[2], -EDEADLK, "exit from a log callback: unbind in atexit: -EDEADLK");
	ok(WIFEXITED(st) && WEXITSTATUS(st) == 0, "exit from a log callback: the process exits (status %d)",
	   WIFEXITED(st) ? WEXITSTATUS(st) : -1);
}

/* set_log waits for a call of the old callback under way in another thread. */
static atomic_int slow_in, slow_out;

static void slow_log(void *arg, enum sva_log_level level, const char *msg)
{
	(void)arg;
	(void)level;
	(void)msg;
	slow_in = 1;
	usleep(300000);
	slow_out = 1;
}

static void *slow_thread(void *arg)
{
	sva_ctx_fault_fd(arg); /* thread mode: logs an error */
	return NULL;
}

static void set_log_wait_checks(void)
{
	struct sva_ctx_opts o = { .size = sizeof(o), .log_fn = slow_log, .log_level = SVA_LOG_ERROR };
	struct sva_ctx *ctx = NULL;
	pthread_t t;
	struct cap c = { 0 };

	if (sva_ctx_new(&o, &ctx))
		return;
	pthread_create(&t, NULL, slow_thread, ctx);
	while (!slow_in)
		usleep(1000);
	sva_ctx_set_log(ctx, cap_fn, &c, SVA_LOG_ERROR);
	is_int(slow_out, 1, "set_log: returns only once the old callback's call in another thread is done");
	pthread_join(t, NULL);
	sva_ctx_free(ctx);
}

/* The default log reads SVA_LOG once, at its first use (re-executed). */
static int deflog_child(const char *mode)
{
	struct sva_ctx_opts bad = { .size = sizeof(bad), .flags = 1u << 30 };
	struct sva_ctx *ctx = NULL;
	const char *e;
	int a, b;

	if (strcmp(mode, "first-fail") == 0) {
		/* SVA_LOG=off at start; error before the first use; off after. */
		setenv("SVA_LOG", "error", 1);
		err_begin();
		sva_ctx_new(&bad, &ctx);
		e = err_end();
		a = count_lines(e, "libsva error: ");
		setenv("SVA_LOG", "off", 1);
		err_begin();
		sva_ctx_new(&bad, &ctx);
		e = err_end();
		b = count_lines(e, "libsva error: ");
		return a == 1 && b == 1 ? 0 : 10 + a * 3 + b;
	}
	if (strcmp(mode, "silent-use") == 0) {
		struct sva_pasid_space *sp = NULL;

		/* A space_new that succeeds and logs nothing reads it (off). */
		sva_pasid_space_new(NULL, &sp);
		sva_pasid_space_free(sp);
		setenv("SVA_LOG", "error", 1);
		err_begin();
		sva_ctx_new(&bad, &ctx);
		e = err_end();
		a = count_lines(e, "libsva");
		return a == 0 ? 0 : 10 + a;
	}
	if (strcmp(mode, "ctx-new") == 0) {
		/* A context that succeeds does not read it for the default log. */
		if (sva_ctx_new(NULL, &ctx))
			return 2;
		sva_ctx_free(ctx);
		setenv("SVA_LOG", "error", 1);
		err_begin();
		sva_ctx_new(&bad, &ctx);
		e = err_end();
		a = count_lines(e, "libsva error: ");
		return a == 1 ? 0 : 10 + a;
	}
	return 3;
}

static void deflog_checks(bool kernel)
{
	static const char *const modes[] = { "first-fail", "silent-use", "ctx-new" };

	for (int i = 0; i < (kernel ? 3 : 2); i++) {
		pid_t pid = fork();

		if (pid == 0) {
			setenv("SVA_LOG", "off", 1);
			execl("/proc/self/exe", "ktest-ctx-contract", "--deflog", modes[i], (char *)NULL);
			_exit(4);
		}
		int st = 0;
		waitpid(pid, &st, 0);
		ok(WIFEXITED(st) && WEXITSTATUS(st) == 0, "default log: SVA_LOG read once at its first use (%s): status %d",
		   modes[i], WIFEXITED(st) ? WEXITSTATUS(st) : -1);
	}
}

static void *ctx_churn(void *arg)
{
	atomic_int *bad = arg;

	for (int i = 0; i < 20; i++) {
		struct sva_ctx *ctx = NULL;
		struct sva_dev *dev = NULL;

		if (sva_ctx_new(NULL, &ctx) || sva_dev_open_mock(ctx, NULL, &dev))
			(*bad)++;
		sva_dev_close(dev);
		sva_ctx_free(ctx);
	}
	return NULL;
}

static void null_logged_checks(void)
{
	atomic_int bad = 0;
	pthread_t t[3];

	err_begin();
	int a = sva_ctx_fault_fd(NULL), b = sva_ctx_process_faults(NULL, 1), c = sva_ctx_fault_health(NULL),
	    d = sva_ctx_fd(NULL);
	size_t nr = 0;
	int f = sva_mm_iova_ranges(NULL, NULL, &nr);
	const char *e = err_end();
	ok(a == -EINVAL && b == -EINVAL && c == -EINVAL && d == -EINVAL && f == -EINVAL, "NULL ctx/mm: -EINVAL each");
	is_int(count_lines(e, "libsva"), 5,
	       "NULL ctx/mm of fault_fd, process_faults, fault_health, ctx_fd, iova_ranges: one line each (libsva(7), Errors)");

	for (int i = 0; i < 3; i++)
		pthread_create(&t[i], NULL, ctx_churn, &bad);
	for (int i = 0; i < 3; i++)
		pthread_join(t[i], NULL);
	is_int(bad, 0, "sva_ctx_new: concurrent from three threads");

	/* SVA_LOG=info: info lines, not debug; off: nothing. */
	struct cap cp = { 0 };
	struct sva_ctx_opts o = { .size = sizeof(o), .log_fn = cap_fn, .log_arg = &cp };
	struct sva_ctx *ctx = NULL;
	struct sva_dev *dev = NULL;
	setenv("SVA_LOG", "info", 1);
	if (sva_ctx_new(&o, &ctx) == 0) {
		sva_dev_open_mock(ctx, NULL, &dev);
		sva_dev_close(dev);
		ok(cp.n > 0 && cp.ndebug == 0, "SVA_LOG=info: info lines, no debug (%d, %d)", cp.n, cp.ndebug);
		setenv("SVA_LOG", "off", 1);
		sva_ctx_set_log(ctx, cap_fn, &cp, SVA_LOG_DEFAULT);
		cp = (struct cap){ 0 };
		sva_ctx_fault_fd(ctx);
		is_int(cp.n, 0, "SVA_LOG=off: not even error lines");
		setenv("SVA_LOG", "error", 1);
		sva_ctx_set_log(ctx, cap_fn, &cp, SVA_LOG_DEFAULT);
		dev = NULL;
		sva_dev_open_mock(ctx, NULL, &dev);
		sva_dev_close(dev);
		sva_ctx_fault_fd(ctx);
		ok(cp.n == 1 && cp.nerr == 1, "SVA_LOG=error: the error line only (%d)", cp.n);
		sva_ctx_free(ctx);
	}
	unsetenv("SVA_LOG");
}

/* An unbind under way in another thread: mm_free / ctx_free wait, once. */
static atomic_int slow_exit_calls, slow_exit_done;

static void slow_exit(struct sva_bond *bond, void *drvdata)
{
	(void)bond;
	(void)drvdata;
	slow_exit_calls++;
	usleep(300000);
	slow_exit_done = 1;
}

static void *unbind_thread(void *arg)
{
	sva_unbind(arg);
	return NULL;
}

static void concurrent_unbind_checks(int which)
{
	const char *what = which ? "ctx_free" : "mm_free";
	struct sva_bond_ops ops = { .size = sizeof(ops), .mm_exit = slow_exit };
	struct sva_bind_opts bo = { .size = sizeof(bo), .flags = SVA_BIND_PINNED, .ops = &ops };
	struct sva_ctx *ctx = NULL;
	struct sva_dev *dev = NULL;
	struct sva_mm *mm = NULL;
	struct sva_bond *bond = NULL;
	pthread_t t;

	slow_exit_calls = slow_exit_done = 0;
	if (sva_ctx_new(NULL, &ctx) || sva_dev_open_mock(ctx, NULL, &dev) || sva_mm_new(ctx, NULL, &mm) ||
	    sva_bind(dev, mm, &bo, &bond)) {
		ok(0, "concurrent unbind setup");
		return;
	}
	pthread_create(&t, NULL, unbind_thread, bond);
	while (!slow_exit_calls)
		usleep(1000);
	if (which)
		sva_ctx_free(ctx);
	else
		sva_mm_free(mm);
	is_int(slow_exit_done, 1, "%s: waits for an sva_unbind under way in another thread", what);
	pthread_join(t, NULL);
	is_int(slow_exit_calls, 1, "%s: and does not unbind that bond again", what);
	if (which)
		sva_mm_free(mm);
	sva_dev_close(dev);
	if (!which)
		sva_ctx_free(ctx);
}

static void *fault_fd_thread(void *arg)
{
	return (void *)(intptr_t)sva_ctx_fault_fd(arg);
}

struct pf_arg {
	struct sva_ctx *ctx;
	atomic_int *total;
	int want;
};

static void *pf_thread(void *p)
{
	struct pf_arg *a = p;

	for (int i = 0; i < 5000 && *a->total < a->want; i++) {
		int n = sva_ctx_process_faults(a->ctx, 4);

		if (n > 0)
			*a->total += n;
		else
			usleep(500);
	}
	return NULL;
}

static void poll_threads_checks(void)
{
	struct sva_ctx_opts o = { .size = sizeof(o), .flags = SVA_CTX_FAULT_POLL, .pasid_grace_ns = UINT64_MAX };
	struct sva_ctx *ctx = NULL;
	struct sva_dev *dev = NULL;
	struct sva_mm *mm = NULL;
	struct sva_bond *bond = NULL;
	pthread_t t[4];
	void *r[4];

	if (sva_ctx_new(&o, &ctx))
		return;
	for (int i = 0; i < 4; i++)
		pthread_create(&t[i], NULL, fault_fd_thread, ctx);
	for (int i = 0; i < 4; i++)
		pthread_join(t[i], &r[i]);
	ok((intptr_t)r[0] >= 0 && r[0] == r[1] && r[1] == r[2] && r[2] == r[3],
	   "fault_fd: concurrent first calls create one queue");
	if (sva_dev_open_mock(ctx, NULL, &dev) || sva_mm_new(ctx, NULL, &mm) || sva_bind(dev, mm, NULL, &bond)) {
		ok(0, "poll threads setup");
		goto out;
	}
	is_int(sva_ctx_fault_fd(ctx), (intptr_t)r[0], "fault_fd: the bind used that queue");
	atomic_int total = 0;
	struct pf_arg a = { ctx, &total, 24 };
	for (int i = 0; i < 24; i++)
		sva_dev_inject_fault(dev, sva_bond_pasid(bond), BUF_VA + 0xc00000 + (uint64_t)i * PG, SVA_ACCESS_READ,
				     (uint32_t)i);
	for (int i = 0; i < 3; i++)
		pthread_create(&t[i], NULL, pf_thread, &a);
	for (int i = 0; i < 3; i++)
		pthread_join(t[i], NULL);
	struct sva_bond_stats st = { .size = sizeof(st) };
	sva_bond_stats(bond, &st);
	ok(total == 24 && st.faults == 24, "process_faults from three threads: each fault handled once (%d, %llu)",
	   (int)total, (unsigned long long)st.faults);
out:
	sva_unbind(bond);
	sva_mm_free(mm);
	sva_dev_close(dev);
	sva_ctx_free(ctx);
}

/* Rate limit of the lost-queue line, and the suffix that follows a burst. */
static void ratelimit_checks(void)
{
	struct cap c = { 0 };
	struct sva_ctx_opts o = { .size = sizeof(o), .flags = SVA_CTX_FAULT_POLL, .log_fn = cap_fn, .log_arg = &c };
	struct sva_ctx *ctx = NULL;

	if (sva_ctx_new(&o, &ctx))
		return;
	int fd = sva_ctx_fault_fd(ctx);
	close(fd);
	for (int i = 0; i < 30; i++)
		sva_ctx_process_faults(ctx, 8);
	ok(c.nerr >= 1 && c.nerr <= 10, "process_faults -EBADF: at most 10 lines a second (%d)", c.nerr);
	int first = c.nerr;
	usleep(1100000);
	sva_ctx_process_faults(ctx, 8);
	char want[80];
	snprintf(want, sizeof(want), " (%d similar lines suppressed before this one)", 30 - first);
	ok(c.nerr == first + 1 && strlen(c.last) > strlen(want) && strcmp(c.last + strlen(c.last) - strlen(want), want) == 0,
	   "a line after a burst ends with the suppressed count (%s)", c.last);
	sva_ctx_free(ctx);

	/* The context's iommufd is closed when the context goes. */
	ctx = NULL;
	if (sva_ctx_new(NULL, &ctx) == 0) {
		int ifd = sva_ctx_fd(ctx);
		sva_ctx_free(ctx);
		ok(fcntl(ifd, F_GETFD) < 0, "ctx_free: the iommufd is closed with the context");
	}
}

/* What a context costs, the fork handler's close, and the roots' use. */
static void cost_checks(void)
{
	for (int poll_mode = 0; poll_mode < 2; poll_mode++) {
		const char *mode = poll_mode ? "poll" : "thread";
		struct sva_ctx_opts o = { .size = sizeof(o), .flags = poll_mode ? SVA_CTX_FAULT_POLL : 0 };
		struct sva_ctx *ctx = NULL;
		struct sva_dev *dev = NULL;
		struct sva_mm *mm = NULL, *m2 = NULL;
		struct sva_bond *bond = NULL, *pb = NULL;
		int f0 = count_fds(), t0 = count_threads(), f1, t1, f2, t2;

		if (sva_ctx_new(&o, &ctx))
			continue;
		is_int(count_fds(), f0 + 1, "%s: a context costs one open file", mode);
		sva_dev_open_mock(ctx, NULL, &dev);
		sva_mm_new(ctx, NULL, &mm);
		sva_mm_new(ctx, NULL, &m2);
		f1 = count_fds();
		t1 = count_threads();
		sva_bind(dev, m2, &(struct sva_bind_opts){ .size = sizeof(struct sva_bind_opts), .flags = SVA_BIND_PINNED }, &pb);
		ok(count_fds() == f1 && count_threads() == t1, "%s: a pinned bond needs no fault queue nor thread", mode);
		if (!is_int(sva_bind(dev, mm, NULL, &bond), 0, "%s: a fault-capable bind", mode))
			goto out;
		/* the thread closes its ring's descriptor once registered */
		is_int(ktest_fault_threads_settle(KTEST_FAULT_THREAD, !poll_mode, 10000), 0,
		       "%s: the fault thread (%s) waits for faults", mode, poll_mode ? "none" : "one");
		if (!poll_mode)
			is_int(ktest_fault_threads_settle("sva-fualt", 1, 0), -ESRCH,
			       "thread: a misspelled fault thread name does not settle: no thread has it");
		f2 = count_fds();
		t2 = count_threads();
		if (poll_mode)
			ok(f2 == f1 + 1 && t2 == t1, "poll: the first fault-capable bind adds the queue, no thread (%d fds, %d threads)",
			   f2 - f1, t2 - t1);
		else
			ok(f2 == f1 + 2 && t2 == t1 + 1,
			   "thread: the first fault-capable bind adds the queue, an eventfd and the thread, no io_uring descriptor (%d fds, %d threads)",
			   f2 - f1, t2 - t1);
		if (poll_mode) {
			int qfd = sva_ctx_fault_fd(ctx);
			pid_t pid = fork();

			if (pid == 0)
				_exit(fcntl(qfd, F_GETFD) < 0 ? 0 : 1);
			int st = 0;
			waitpid(pid, &st, 0);
			ok(WIFEXITED(st) && WEXITSTATUS(st) == 0, "poll: a fork(2) child's copy of the queue is closed at the fork");
		}
out:
		sva_unbind(bond);
		sva_unbind(pb);
		sva_mm_free(mm);
		sva_mm_free(m2);
		sva_dev_close(dev);
		sva_ctx_free(ctx);
		/* Joined threads may stay listed a moment (names_at_return in
		 * ktest-coherence): waited for, up to 2 s, not slept 100 ms for;
		 * one that stays is still counted. */
		KTEST_WAIT_WHILE(count_threads() != t0, 2000);
		is_int(count_threads(), t0, "%s: the context's release stops its fault thread (and the last address space the monitor)", mode);
		is_int(count_fds(), f0, "%s: and closes its queue, eventfd and iommufd", mode);
	}

	struct cap c = { 0 };
	struct sva_ctx_opts o = { .size = sizeof(o), .sysfs_root = "/tmp/ctxcsys", .dev_root = "/tmp/ctxcdev",
				  .log_fn = cap_fn, .log_arg = &c };
	struct sva_ctx *ctx = NULL;
	struct sva_dev *dev = NULL;

	if (sva_ctx_new(&o, &ctx))
		return;
	ok(sva_dev_open(ctx, "vfio7", &dev) < 0 && strstr(c.last, "/tmp/ctxcdev/vfio/devices/vfio7"),
	   "dev_root: vfioN opens DEV_ROOT/vfio/devices/vfioN (%s)", c.last);
	c = (struct cap){ 0 };
	ok(sva_dev_open(ctx, "0000:00:1f.7", &dev) < 0 && strstr(c.last, "/tmp/ctxcsys/"),
	   "sysfs_root: PCI addresses are resolved under it (%s)", c.last);
	sva_ctx_free(ctx);
}

static int xt_pipe = -1;

static void xt_exit(struct sva_bond *bond, void *drvdata)
{
	(void)bond;
	(void)drvdata;
	if (write(xt_pipe, "x", 1) < 0)
		_exit(5);
}

/* exit(3): the destructor runs mm_exit, except with NO_EXIT_TEARDOWN or in a forked child. */
static void exit_teardown_checks(void)
{
	static const char *const what[] = { "exit(): the destructor runs mm_exit of a live context's bonds",
					    "exit() with SVA_CTX_NO_EXIT_TEARDOWN: no mm_exit",
					    "exit() in a forked child of the context's process: no mm_exit" };
	static const int want[] = { 1, 0, 0 };

	for (int k = 0; k < 3; k++) {
		int p[2];
		char buf[8];

		if (pipe(p))
			return;
		fflush(stdout);
		fflush(stderr);
		pid_t pid = fork();
		if (pid == 0) {
			struct sva_ctx_opts o = { .size = sizeof(o), .flags = k == 1 ? SVA_CTX_NO_EXIT_TEARDOWN : 0 };
			struct sva_bond_ops ops = { .size = sizeof(ops), .mm_exit = xt_exit };
			struct sva_ctx *ctx = NULL;
			struct sva_dev *dev = NULL;
			struct sva_mm *mm = NULL;
			struct sva_bond *bond = NULL;

			close(p[0]);
			xt_pipe = p[1];
			if (sva_ctx_new(&o, &ctx) || sva_dev_open_mock(ctx, NULL, &dev) || sva_mm_new(ctx, NULL, &mm) ||
			    sva_bind(dev, mm, &(struct sva_bind_opts){ .size = sizeof(struct sva_bind_opts), .flags = SVA_BIND_RID | SVA_BIND_PINNED, .ops = &ops }, &bond))
				_exit(2);
			if (k == 2) {
				pid_t gc = fork();

				if (gc == 0)
					exit(0);
				int st2 = 0;
				waitpid(gc, &st2, 0);
				if (write(p[1], "|", 1) < 0)
					_exit(6);
				sva_unbind(bond);
				_exit(0);
			}
			exit(0);
		}
		close(p[1]);
		ssize_t n = read(p[0], buf, sizeof(buf));
		ssize_t m = n > 0 ? read(p[0], buf + n, sizeof(buf) - (size_t)n) : 0;
		close(p[0]);
		int st = 0;
		waitpid(pid, &st, 0);
		n = n < 0 ? 0 : n;
		n += m > 0 ? m : 0;
		buf[n] = 0;
		if (k == 2)
			ok(buf[0] == '|', "%s (%s)", what[k], buf);
		else
			is_int(n, want[k], "%s", what[k]);
	}
}

/* Writes its bond's drvdata, a character, for exit_mixed_checks(). */
static void xt_exit_tag(struct sva_bond *bond, void *drvdata)
{
	(void)bond;
	if (write(xt_pipe, drvdata, 1) < 0)
		_exit(5);
}

/*
 * sva_ctx_new(3), SVA_CTX_NO_EXIT_TEARDOWN: "exit(3) leaves the context's
 * bonds alone", the context's, not the process's: a context made without
 * it, alive at the same exit, still has its bonds' mm_exit run.  Both
 * contexts' bonds are fault-capable, so both fault threads run into the
 * exit, the flagged one's left running: the child still exits with its
 * status, without hanging, whichever context was made first.
 */
static void exit_mixed_checks(void)
{
	for (int first_flagged = 0; first_flagged < 2; first_flagged++) {
		int p[2], st = 0;
		char buf[8];
		ssize_t n, m;
		pid_t pid;

		if (pipe(p))
			return;
		fflush(stdout);
		fflush(stderr);
		pid = fork();
		if (pid == 0) {
			static char tags[2] = { 'd', 'n' }; /* default, NO_EXIT_TEARDOWN */
			struct sva_bond_ops ops = { .size = sizeof(ops), .mm_exit = xt_exit_tag };

			alarm(10); /* a hang at exit is a failure, not a stuck test */
			close(p[0]);
			xt_pipe = p[1];
			for (int i = 0; i < 2; i++) {
				int flagged = i == 0 ? first_flagged : !first_flagged;
				struct sva_ctx_opts o = { .size = sizeof(o),
							  .flags = flagged ? SVA_CTX_NO_EXIT_TEARDOWN : 0 };
				struct sva_ctx *ctx = NULL;
				struct sva_dev *dev = NULL;
				struct sva_mm *mm = NULL;
				struct sva_bond *bond = NULL;

				/* the RID: a PASID left attached on the mock warns
				 * in the kernel's log (sva_dev_open_mock(3)) */
				if (sva_ctx_new(&o, &ctx) || sva_dev_open_mock(ctx, NULL, &dev) ||
				    sva_mm_new(ctx, NULL, &mm) ||
				    sva_bind(dev, mm, &(struct sva_bind_opts){ .size = sizeof(struct sva_bind_opts),
									       .flags = SVA_BIND_RID,
									       .drvdata = &tags[flagged], .ops = &ops },
					     &bond))
					_exit(2);
			}
			exit(0);
		}
		close(p[1]);
		n = read(p[0], buf, sizeof(buf) - 1);
		m = n > 0 ? read(p[0], buf + n, sizeof(buf) - 1 - (size_t)n) : 0;
		close(p[0]);
		if (pid < 0 || waitpid(pid, &st, 0) != pid)
			st = -1;
		n = n < 0 ? 0 : n;
		n += m > 0 ? m : 0;
		buf[n] = 0;
		is_int(st >= 0 && WIFEXITED(st) ? WEXITSTATUS(st) : 128 + (st >= 0 ? WTERMSIG(st) : 0), 0,
		       "exit(0) with a SVA_CTX_NO_EXIT_TEARDOWN context (made %s) and a default one alive: "
		       "status 0, no hang (2: set-up, 5: write, 128+: a signal)", first_flagged ? "first" : "second");
		ok(!strcmp(buf, "d"), "  the default context's bond had its mm_exit, the other's not (\"%s\")", buf);
	}
}

static void more_poll_checks(void)
{
	struct sva_ctx_opts o = { .size = sizeof(o), .flags = SVA_CTX_FAULT_POLL, .pasid_grace_ns = UINT64_MAX,
				  .log_level = SVA_LOG_OFF };
	struct sva_ctx *ctx = NULL;
	struct sva_dev *dev = NULL;
	struct sva_mm *mm = NULL;
	struct sva_bond *bond = NULL;

	if (sva_ctx_new(&o, &ctx) || sva_dev_open_mock(ctx, NULL, &dev) || sva_mm_new(ctx, NULL, &mm) ||
	    sva_bind(dev, mm, NULL, &bond)) {
		ok(0, "edge setup");
		return;
	}
	for (int i = 0; i < 5; i++)
		sva_dev_inject_fault(dev, sva_bond_pasid(bond), BUF_VA + 0xd00000 + (uint64_t)i * PG, SVA_ACCESS_READ,
				     (uint32_t)i);
	int a = sva_ctx_process_faults(ctx, 2), b = sva_ctx_process_faults(ctx, 2), c = sva_ctx_process_faults(ctx, 2);
	ok(a == 2 && b == 2 && c == 1, "process_faults: 5 single faults with max 2: 2, 2, 1 (%d %d %d)", a, b, c);
	struct pollfd p = { .fd = sva_ctx_fault_fd(ctx), .events = POLLIN };
	is_int(poll(&p, 1, 0), 0, "process_faults: less than max: the queue is empty, the fd not readable");
	sva_unbind(bond);
	sva_mm_free(mm);
	sva_dev_close(dev);
	sva_ctx_free(ctx);

	/* /dev/zero and a memfd at the queue's number: nothing answered into them. */
	for (int kind = 0; kind < 2; kind++) {
		ctx = NULL;
		if (sva_ctx_new(&o, &ctx))
			continue;
		int fd = sva_ctx_fault_fd(ctx), other;
		unsigned char junk[256];

		for (size_t i = 0; i < sizeof(junk); i++)
			junk[i] = (unsigned char)(i * 7 + 1);
		if (kind == 0) {
			other = open("/dev/zero", O_RDWR);
		} else {
			other = memfd_create("ctxcb", 0);
			if (write(other, junk, sizeof(junk)) < 0)
				diag("write");
			lseek(other, 0, SEEK_SET);
		}
		dup2(other, fd);
		is_int(sva_ctx_process_faults(ctx, 8), -EBADF, "process_faults: %s at the queue's number: -EBADF",
		       kind ? "a memfd of records naming no device" : "/dev/zero");
		if (kind == 1) {
			struct stat stt;
			unsigned char back[sizeof(junk)];

			fstat(other, &stt);
			ok(stt.st_size == (off_t)sizeof(junk) && pread(other, back, sizeof(back), 0) == (ssize_t)sizeof(back) &&
				   memcmp(back, junk, sizeof(junk)) == 0,
			   "process_faults: nothing was answered into the memfd (size %lld)", (long long)stt.st_size);
		}
		close(other);
		sva_ctx_free(ctx);
		close(fd);
	}
}

static void log_format_checks(void)
{
	struct cap c = { 0 };
	struct sva_ctx_opts o = { .size = sizeof(o), .log_fn = cap_fn, .log_arg = &c, .log_level = SVA_LOG_DEBUG };
	struct sva_ctx *ctx = NULL;
	struct sva_dev *dev = NULL;
	const char *e;

	if (sva_ctx_new(&o, &ctx))
		return;
	sva_dev_open(ctx, "caf\xc3\xa9-\xff", &dev);
	ok(strstr(c.last, "caf\xc3\xa9-\xff") != NULL, "log: bytes from 0x80 up pass unchanged (%s)", c.last);
	/* To stderr, sanitized the same way, one line. */
	sva_ctx_set_log(ctx, NULL, NULL, SVA_LOG_ERROR);
	err_begin();
	sva_dev_open(ctx, "two\nlines\x1b", &dev);
	e = err_end();
	ok(count_lines(e, "libsva error: ") == 1 && strstr(e, "two?lines?") && !strchr(e, '\x1b'),
	   "log to stderr: control characters as '?', one line (%s)", e);
	sva_ctx_set_log(ctx, NULL, NULL, SVA_LOG_INFO);
	err_begin();
	sva_dev_open_mock(ctx, NULL, &dev);
	e = err_end();
	ok(strncmp(e, "libsva info: ", 13) == 0, "log to stderr: \"libsva info: ...\" (%s)", e);
	sva_dev_close(dev);
	/* The change applies to the global PASID space and the devices at once. */
	dev = NULL;
	sva_ctx_set_log(ctx, NULL, NULL, SVA_LOG_ERROR);
	sva_dev_open_mock(ctx, NULL, &dev);
	struct cap c2 = { 0 };
	sva_ctx_set_log(ctx, cap_fn, &c2, SVA_LOG_ERROR);
	err_begin();
	sva_pasid_release(sva_ctx_global_pasids(ctx), 300);
	sva_pasid_release(sva_dev_pasids(dev), 3);
	e = err_end();
	ok(c2.nerr == 2 && count_lines(e, "libsva") == 0, "set_log: the spaces' errors go to the new callback (%d)", c2.nerr);
	/* set_log from inside a log callback does not wait (for itself). */
	sva_dev_close(dev);
	sva_ctx_free(ctx);
}

static void sigblk_of(long tid, char *out, size_t len)
{
	ktest_thread_status((pid_t)tid, "SigBlk", out, len);
}

static void misc_checks(void)
{
	/* Own spaces against the global range. */
	for (int k = 0; k < 2; k++) {
		struct sva_ctx_opts o = { .size = sizeof(o), .global_pasid_min = k ? 10 : 1 };
		struct sva_ctx *ctx = NULL;
		struct sva_dev *dev = NULL;
		struct sva_pasid_stats st = { .size = sizeof(st) };

		if (sva_ctx_new(&o, &ctx) || sva_dev_open_mock(ctx, NULL, &dev)) {
			ok(0, "own space setup");
			continue;
		}
		if (k)
			ok(sva_dev_pasids(dev) && sva_pasid_stats(sva_dev_pasids(dev), &st) == 0 && st.min == 1 && st.max == 9,
			   "dev_pasids: global_pasid_min 10: the device's own space is [1, 9] ([%u, %u])", st.min, st.max);
		else
			ok(sva_dev_pasids(dev) == NULL, "dev_pasids: global_pasid_min 1: the device has no own space");
		sva_dev_close(dev);
		sva_ctx_free(ctx);
	}

	/* The roots are copied. */
	char root[64];
	struct cap c = { 0 };
	snprintf(root, sizeof(root), "/tmp/ctxccopied");
	struct sva_ctx_opts o = { .size = sizeof(o), .sysfs_root = root, .log_fn = cap_fn, .log_arg = &c };
	struct sva_ctx *ctx = NULL;
	struct sva_dev *dev = NULL;
	if (sva_ctx_new(&o, &ctx) == 0) {
		snprintf(root, sizeof(root), "/tmp/overwrite");
		sva_dev_open(ctx, "0000:00:1f.7", &dev);
		ok(strstr(c.last, "/tmp/ctxccopied") != NULL, "sysfs_root is copied: it need not outlive the call (%s)", c.last);
		sva_ctx_free(ctx);
	}

	/* The fault thread blocks every signal. */
	ctx = NULL;
	init_tid = 0;
	o = (struct sva_ctx_opts){ .size = sizeof(o), .fault_thread_init = thread_init };
	struct sva_mm *mm = NULL;
	struct sva_bond *bond = NULL;
	if (sva_ctx_new(&o, &ctx) == 0 && sva_dev_open_mock(ctx, NULL, &dev) == 0 && sva_mm_new(ctx, NULL, &mm) == 0 &&
	    sva_bind(dev, mm, NULL, &bond) == 0) {
		for (int i = 0; i < 5000 && !init_tid; i++)
			usleep(1000);
		usleep(50000);
		char blk[256];
		sigblk_of(init_tid, blk, sizeof(blk));
		ok(strcmp(blk, "fffffffe7ffbfeff") == 0 || strcmp(blk, "ffffffffffffffff") == 0 ||
			   strspn(blk, "f") >= 8,
		   "the fault thread blocks every signal (SigBlk %s)", blk);
	}
	sva_unbind(bond);
	sva_mm_free(mm);
	sva_dev_close(dev);
	sva_ctx_free(ctx);
}

static bool set_uring_disabled(int val, int *old)
{
	FILE *f = fopen("/proc/sys/kernel/io_uring_disabled", "r+");
	bool ok_ = f && fscanf(f, "%d", old) == 1 && fseek(f, 0, SEEK_SET) == 0 && fprintf(f, "%d\n", val) > 0;

	if (f && fclose(f))
		ok_ = false;
	return ok_;
}

/* Where io_uring is not available: poll(2), said at INFO; a closed queue seen within a second. */
static void poll_wait_checks(void)
{
	struct cap c = { 0 };
	struct sva_ctx_opts o = { .size = sizeof(o), .log_fn = cap_fn, .log_arg = &c, .log_level = SVA_LOG_INFO,
				  .pasid_grace_ns = UINT64_MAX };
	struct sva_ctx *ctx = NULL;
	struct sva_dev *dev = NULL;
	struct sva_mm *mm = NULL;
	struct sva_bond *bond = NULL;
	int old = 0, dummy;

#ifdef KTEST_TSAN
	skip(4, "ThreadSanitizer fails (CHECK) on a descriptor closed under another thread");
	return;
#endif
	if (!set_uring_disabled(2, &old)) {
		skip(4, "no /proc/sys/kernel/io_uring_disabled");
		return;
	}
	if (sva_ctx_new(&o, &ctx) || sva_dev_open_mock(ctx, NULL, &dev) || sva_mm_new(ctx, NULL, &mm) ||
	    sva_bind(dev, mm, NULL, &bond)) {
		ok(0, "poll wait setup");
		goto out;
	}
	is_int(ktest_inject_and_wait(dev, bond, BUF_VA + 0xe00000, SVA_ACCESS_READ, 5000), 0,
	       "poll(2) wait: a fault is handled without io_uring");
	ok(strstr(c.last, "poll") != NULL || c.n > 0, "poll(2) wait: said at INFO level (%s)", c.last);
	int qfd = ctx->fe.fault_fd;
	int h = 0;
	close(qfd);
	uint64_t t0 = ktest_now_ns();
	for (int i = 0; i < 3000 && (h = sva_ctx_fault_health(ctx)) == 0; i++)
		usleep(1000);
	uint64_t ms = (ktest_now_ns() - t0) / 1000000;
	is_int(h, -EBADF, "poll(2) wait: the queue closed, no fault: health -EBADF");
	ok(ms <= 1900, "poll(2) wait: within a second, by its tick (%llu ms)", (unsigned long long)ms);
out:
	sva_unbind(bond);
	sva_mm_free(mm);
	sva_dev_close(dev);
	sva_ctx_free(ctx);
	set_uring_disabled(old, &dummy);
}

static struct sva_ctx *sl_ctx;
static atomic_int sl_done;

static void setlog_in_cb(void *arg, enum sva_log_level level, const char *msg)
{
	(void)arg;
	(void)level;
	(void)msg;
	if (!sl_done) {
		sl_done = 1;
		sva_ctx_set_log(sl_ctx, NULL, NULL, SVA_LOG_OFF);
		sl_done = 2;
	}
}

static void setlog_in_callback_checks(void)
{
	struct sva_ctx_opts o = { .size = sizeof(o), .log_fn = setlog_in_cb, .log_level = SVA_LOG_ERROR };

	sl_ctx = NULL;
	if (sva_ctx_new(&o, &sl_ctx))
		return;
	alarm(20);
	sva_ctx_fault_fd(sl_ctx);
	alarm(0);
	is_int(sl_done, 2, "set_log from a log callback does not wait (for itself)");
	sva_ctx_free(sl_ctx);
}

int main(int argc, char **argv)
{
	if (argc == 3 && strcmp(argv[1], "--deflog") == 0)
		return deflog_child(argv[2]);
	names_checks();
	deflog_checks(access("/dev/iommu", R_OK | W_OK) == 0);
	ctx_new_einval_checks();
	ctx_new_name_checks();
	if (access("/dev/iommu", R_OK | W_OK)) {
		if (getenv("SVA_VM"))
			ok(0, "/dev/iommu is usable inside the test VM");
		else
			diag("no usable /dev/iommu: the kernel checks are skipped (make check-vm runs them)");
		return done_testing();
	}
	{
		struct sva_ctx *probe = NULL;
		struct sva_dev *dev = NULL;
		int ret = sva_ctx_new(NULL, &probe) ? -ENODEV : sva_dev_open_mock(probe, NULL, &dev);

		sva_dev_close(dev);
		sva_ctx_free(probe);
		if (ret == -EOPNOTSUPP && !getenv("SVA_VM")) {
			diag("the kernel has no CONFIG_IOMMUFD_TEST: the kernel checks are skipped (make check-vm)");
			return done_testing();
		}
	}
	monitor_checks();
	ctx_new_kernel_checks();
	log_checks();
	pasid_checks();
	ranges_checks();
	order_checks();
	poll_checks();
	fe_checks(1);
	fe_checks(0);
	log_cb_checks();
	thread_checks();
	init_calls_libsva();
	poll_mm_exit_checks();
	pasid_space_log_checks();
	closed_queue_checks();
	exit_from_log_checks();
	set_log_wait_checks();
	null_logged_checks();
	concurrent_unbind_checks(0);
	concurrent_unbind_checks(1);
	poll_threads_checks();
	ratelimit_checks();
	cost_checks();
	exit_teardown_checks();
	exit_mixed_checks();
	more_poll_checks();
	log_format_checks();
	misc_checks();
	poll_wait_checks();
	setlog_in_callback_checks();
	return done_testing();
}
