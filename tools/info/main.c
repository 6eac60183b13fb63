/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * sva-info: list the VFIO cdev devices of this machine and what libsva sees of
 * them.  sysfs describes each device (PCI address, IDs, driver, IOMMU group,
 * NUMA node) without opening anything; where the iommufd opens, each device is
 * also opened through libsva to read its IOMMU hardware info.
 *
 * Listing nothing is not an error: a machine without an IOMMU or without VFIO
 * devices gets a sentence saying so, and exit status 0.  Exit status 1 means the
 * listing itself failed (unreadable sysfs, out of memory, write error), 2 a
 * usage error.
 *
 * With --doctor it checks instead whether the machine can do SVA, one PASS,
 * WARN, FAIL or SKIP line per check, each failure with what to do; the exit
 * status is then 0 (nothing worse than PASS/SKIP), 3 (a WARN) or 4 (a FAIL),
 * with 1 and 2 meaning what they mean for the listing.
 */
#define _GNU_SOURCE /* secure_getenv */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "sva-info.h"
#include "../option_error.h"
#include "../stdout_done.h"

#ifndef PACKAGE_VERSION
#define SVA_INFO_STR_(x) #x
#define SVA_INFO_STR(x) SVA_INFO_STR_(x)
#define PACKAGE_VERSION SVA_INFO_STR(SVA_VERSION_MAJOR) "." SVA_INFO_STR(SVA_VERSION_MINOR)
#endif

static void usage(FILE *f)
{
	fprintf(f,
		"usage: " PROG " [OPTION]...\n"
		"List the VFIO cdev devices of this machine and their IOMMU capabilities,\n"
		"or with --doctor check whether this machine can do SVA and say what to fix.\n"
		"\n"
		"  -d, --doctor           check kernel, IOMMU, devices, limits and huge pages:\n"
		"                         one PASS, WARN, FAIL or SKIP line per check\n"
		"  -j, --json             print one JSON object instead of text\n"
		"      --cdi              print a CDI spec (Container Device Interface) giving\n"
		"                         containers sva-brokerd's socket, or /dev/iommu and one cdev\n"
		"      --broker-socket=PATH  --cdi: the broker's socket (default: /run/sva-brokerd/socket,\n"
		"                         described only if a broker listens there)\n"
		"      --memlock=BYTES    --cdi: the RLIMIT_MEMLOCK a container needs (default 64 MiB)\n"
		"      --sysfs-root=DIR   read sysfs from DIR (default: $SVA_SYSFS_ROOT, or /sys)\n"
		"      --dev-root=DIR     find device nodes under DIR (default: $SVA_DEV_ROOT, or /dev)\n"
		"      --iommu-path=PATH  the iommufd node (default: DEV_ROOT/iommu)\n"
		"      --proc-root=DIR    --doctor: read procfs from DIR (default: /proc)\n"
		"      --kernel-config=FILE  --doctor: the kernel config, plain or gzip\n"
		"                         (default: PROC_ROOT/config.gz, then /boot/config-RELEASE)\n"
		"      --no-open          read sysfs only: do not open (and so reset) the devices\n"
		"  -v, --verbose          libsva logs at debug level (default: $SVA_LOG, or warn;\n"
		"                         with --doctor, off unless $SVA_LOG is set and not empty)\n"
		"  -h, --help             print this help and exit\n"
		"  -V, --version          print the version and exit\n"
		"\n"
		"Exit status: 0 on success, also when no device or no IOMMU is found;\n"
		"1 if the listing failed; 2 on a usage error.  With --doctor: 0 if every\n"
		"check passed (or was skipped), 3 if the worst was a WARN, 4 if a FAIL.\n");
}

/* An absolute path with no empty, "." or ".." component (so no "//" and no
 * trailing "/"): what it names is what it says. */
static bool plain_path(const char *p)
{
	while (*p == '/') {
		size_t n = strcspn(p + 1, "/");

		if (n == 0 || (n == 1 && p[1] == '.') || (n == 2 && p[1] == '.' && p[2] == '.'))
			return false;
		p += 1 + n;
	}
	return *p == '\0';
}

/* Is the directory of path, where it exists, "/" under another name (a
 * symbolic link to it)? */
static bool dir_is_root(const char *path)
{
	char dir[PATH_MAX], real[PATH_MAX];
	size_t n = (size_t)(strrchr(path, '/') - path);

	if (n == 0 || n >= sizeof(dir))
		return n == 0;
	memcpy(dir, path, n);
	dir[n] = '\0';
	return realpath(dir, real) && !strcmp(real, "/");
}

static int usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int usage_error(const char *fmt, ...)
{
	va_list ap;

	if (fmt) {
		fputs(PROG ": ", stderr);
		va_start(ap, fmt);
		vfprintf(stderr, fmt, ap);
		va_end(ap);
		fputc('\n', stderr);
	}
	return usage_hint(PROG);
}

enum {
	OPT_SYSFS_ROOT = 256,
	OPT_DEV_ROOT,
	OPT_IOMMU_PATH,
	OPT_NO_OPEN,
	OPT_PROC_ROOT,
	OPT_KERNEL_CONFIG,
	OPT_CDI,
	OPT_BROKER_SOCKET,
	OPT_MEMLOCK,
};

static const struct option long_options[] = {
	{ "doctor", no_argument, NULL, 'd' },
	{ "json", no_argument, NULL, 'j' },
	{ "sysfs-root", required_argument, NULL, OPT_SYSFS_ROOT },
	{ "dev-root", required_argument, NULL, OPT_DEV_ROOT },
	{ "iommu-path", required_argument, NULL, OPT_IOMMU_PATH },
	{ "no-open", no_argument, NULL, OPT_NO_OPEN },
	{ "proc-root", required_argument, NULL, OPT_PROC_ROOT },
	{ "kernel-config", required_argument, NULL, OPT_KERNEL_CONFIG },
	{ "cdi", no_argument, NULL, OPT_CDI },
	{ "broker-socket", required_argument, NULL, OPT_BROKER_SOCKET },
	{ "memlock", required_argument, NULL, OPT_MEMLOCK },
	{ "verbose", no_argument, NULL, 'v' },
	{ "help", no_argument, NULL, 'h' },
	{ "version", no_argument, NULL, 'V' },
	{ NULL, 0, NULL, 0 },
};

/* $name if set and not empty, else dflt. */
static const char *env_or(const char *name, const char *dflt)
{
	const char *v = getenv(name);

	return v && *v ? v : dflt;
}

/* Returns -1 to go on, else the exit status; *asked is 'h' or 'V' when the
 * help or version is to be printed, once the whole command line is known
 * good (the roots' lengths are checked in main()). */
static int parse_args(int argc, char **argv, struct options *o, int *asked)
{
	int c;

	opterr = 0; /* option_error() says what is wrong, as the other tools do */
	while ((c = getopt_long(argc, argv, ":djvhV", long_options, NULL)) != -1) {
		switch (c) {
		case 'd':
			o->doctor = true;
			break;
		case 'j':
			o->json = true;
			break;
		case 'v':
			o->verbose = true;
			break;
		case 'h':
		case 'V':
			*asked = c;
			break;
		case OPT_SYSFS_ROOT:
		case OPT_DEV_ROOT:
		case OPT_IOMMU_PATH:
		case OPT_PROC_ROOT:
		case OPT_KERNEL_CONFIG:
			if (option_nonempty(PROG, long_options, c, argv))
				return 2;
			if (c == OPT_SYSFS_ROOT)
				o->sysfs_root = optarg;
			else if (c == OPT_DEV_ROOT)
				o->dev_root = optarg;
			else if (c == OPT_IOMMU_PATH)
				o->iommu_path = optarg;
			else if (c == OPT_PROC_ROOT)
				o->proc_root = optarg;
			else
				o->kernel_config = optarg;
			break;
		case OPT_NO_OPEN:
			o->no_open = true;
			break;
		case OPT_CDI:
			o->cdi = true;
			break;
		case OPT_BROKER_SOCKET:
			if (option_nonempty(PROG, long_options, c, argv))
				return 2;
			if (optarg[0] != '/')
				return option_bad_value(PROG, long_options, c, argv, "is not an absolute path");
			/* Its directory is bind-mounted into the container: spelled
			 * plainly, so that "//s" or "/run/../s" cannot name "/". */
			if (!plain_path(optarg))
				return option_bad_value(PROG, long_options, c, argv,
							"is not written plainly: write it without '.' or '..' "
							"components, '//' or a trailing '/'");
			if (!strchr(optarg + 1, '/') || dir_is_root(optarg))
				return option_bad_value(PROG, long_options, c, argv,
							"is directly under /: give a socket in a directory of its own");
			/* A spec for a socket no broker can listen on would not work. */
			if (strlen(optarg) >= sizeof(((struct sockaddr_un *)0)->sun_path))
				return option_bad_value(PROG, long_options, c, argv,
							"is too long: a socket path must be shorter than %zu bytes",
							sizeof(((struct sockaddr_un *)0)->sun_path));
			o->broker_socket = optarg;
			break;
		case OPT_MEMLOCK: {
			unsigned long long v = 0; /* gcc cannot see option_number() set it */

			if (option_number(PROG, long_options, c, argv, 1, ULLONG_MAX, &v))
				return 2;
			o->memlock = v;
			break;
		}
		default:
			option_error(PROG, long_options, c, argv);
			return usage_error(NULL);
		}
	}
	if (optind < argc)
		return usage_error("unexpected argument '%s'", argv[optind]);
	/* Before --help and --version: a usage error anywhere on the line is
	 * reported instead (sva-info(1)). */
	if (o->cdi && (o->doctor || o->json))
		return usage_error("--cdi prints a spec of its own: not with --%s", o->doctor ? "doctor" : "json");
	/* The spec names nodes and opens nothing, libsva included: neither
	 * option could change it, and the synopsis has neither. */
	if (o->cdi && (o->no_open || o->verbose))
		return usage_error("--cdi opens nothing: not with --%s", o->no_open ? "no-open" : "verbose");
	if (!o->cdi && (o->broker_socket || o->memlock))
		return usage_error("--%s goes with --cdi", o->broker_socket ? "broker-socket" : "memlock");
	if (!o->doctor && (o->proc_root || o->kernel_config))
		return usage_error("--%s goes with --doctor", o->proc_root ? "proc-root" : "kernel-config");
	return -1;
}

/* *path made absolute in buf (PATH_MAX bytes) if it is relative; 0, or -1
 * after saying why not (quiet: 0 and the path as given, for --help and
 * --version, which a failure that is no usage error does not stop). */
static int absolute(const char **path, char *buf, const char *what, bool quiet)
{
	char cwd[PATH_MAX];

	if ((*path)[0] == '/')
		return 0;
	errno = 0;
	if (!getcwd(cwd, sizeof(cwd)) || (size_t)snprintf(buf, PATH_MAX, "%s/%s", cwd, *path) >= PATH_MAX) {
		if (quiet)
			return 0;
		fprintf(stderr, PROG ": cannot make the %s %s absolute: %s\n", what, *path,
			strerror(errno ? errno : ENAMETOOLONG));
		return -1;
	}
	*path = buf;
	return 0;
}

/* An absolute root in its plain spelling: no doubled slash, no "." and no
 * trailing slash ("//proc/", "/./proc" and "/proc/." are /proc), so the paths
 * built under it print clean; "/" stays "/".  ".." stays: behind a link it is
 * not the parent the spelling shows. */
static const char *plain(const char *root, char *buf, size_t len)
{
	size_t n = 1;

	if (root[0] != '/' || strlen(root) >= len)
		return root; /* too long to copy: used as given, and refused as too long later */
	buf[0] = '/';
	for (const char *p = root; *p;) {
		size_t k;

		p += strspn(p, "/");
		k = strcspn(p, "/");
		if (k && !(k == 1 && p[0] == '.')) {
			if (n > 1)
				buf[n++] = '/';
			memcpy(buf + n, p, k);
			n += k;
		}
		p += k;
	}
	buf[n] = '\0';
	return buf;
}

int main(int argc, char **argv)
{
	struct options o = { 0 };
	struct iommu_rec im = { .err = 0 };
	struct sva_ctx_opts copts = { .size = sizeof(copts) };
	struct sva_ctx *ctx = NULL;
	static char dev_root[PATH_MAX], iommu_path[PATH_MAX], sysfs_root[PATH_MAX], proc_root[PATH_MAX],
		iommu_plain[PATH_MAX], kconfig[PATH_MAX], kconfig_plain[PATH_MAX];
	struct dev_rec *devs;
	struct stat st;
	int n, ret, help = 0; /* 'h' or 'V' */

	ret = parse_args(argc, argv, &o, &help);
	if (ret >= 0)
		return ret;
	/* A root over libsva's limit is a usage error, which --help and
	 * --version report instead (sva-info(1)); the environment is not the
	 * command line, so they do not read it. */
	if (!o.sysfs_root)
		o.sysfs_root = help ? "/sys" : env_or("SVA_SYSFS_ROOT", "/sys");
	if (!o.dev_root)
		o.dev_root = help ? "/dev" : env_or("SVA_DEV_ROOT", "/dev");
	if (!o.proc_root)
		o.proc_root = "/proc";
	/* sva_dev_open() takes only absolute paths, and a CDI spec's hostPath is
	 * read from another directory: anchor a relative dev root and iommufd.
	 * The other roots too, so the roots --json reports name one tree. */
	if (absolute(&o.dev_root, dev_root, "dev root", help) ||
	    (o.iommu_path && absolute(&o.iommu_path, iommu_path, "iommu path", help)) ||
	    absolute(&o.sysfs_root, sysfs_root, "sysfs root", help) ||
	    absolute(&o.proc_root, proc_root, "proc root", help) ||
	    (o.kernel_config && absolute(&o.kernel_config, kconfig, "kernel config", help)))
		return 1;
	static char roots[3][PATH_MAX];
	o.sysfs_root = plain(o.sysfs_root, roots[0], sizeof(roots[0]));
	o.dev_root = plain(o.dev_root, roots[1], sizeof(roots[1]));
	o.proc_root = plain(o.proc_root, roots[2], sizeof(roots[2]));
	/* The iommufd too: the listing, --json and a CDI spec's hostPath name
	 * it, and ".//x/./y" there would say less plainly what the roots say. */
	if (o.iommu_path)
		o.iommu_path = plain(o.iommu_path, iommu_plain, sizeof(iommu_plain));
	/* And the kernel config, which --doctor --json names among the roots. */
	if (o.kernel_config)
		o.kernel_config = plain(o.kernel_config, kconfig_plain, sizeof(kconfig_plain));
	/* libsva's limit for both (sva_ctx_new(3), -ENAMETOOLONG): say so here,
	 * not as a failure to open a path that may be short itself. */
	if (strlen(o.sysfs_root) > 2048 || strlen(o.dev_root) > 2048)
		return usage_error("the %s root is longer than 2048 bytes, libsva's limit",
				   strlen(o.sysfs_root) > 2048 ? "sysfs" : "dev");
	if (o.iommu_path && strlen(o.iommu_path) >= sizeof(im.path))
		return usage_error("--iommu-path is longer than %zu bytes, the longest path there is",
				   sizeof(im.path) - 1);
	/* dev-root/iommu always fits: the dev root is at most 2048 bytes (so
	 * sva-info(1) lists no usage error for it). */
	if (o.iommu_path)
		snprintf(im.path, sizeof(im.path), "%s", o.iommu_path);
	else if (!join(im.path, sizeof(im.path), o.dev_root, "iommu"))
		return usage_error("--dev-root is too long");
	if (help) {
		if (help == 'h')
			usage(stdout);
		else
			printf(PROG " (libsva) %s\n", PACKAGE_VERSION);
		return stdout_done(PROG, "to standard output");
	}

	ret = stat(o.sysfs_root, &st) ? errno : !S_ISDIR(st.st_mode) ? ENOTDIR : access(o.sysfs_root, R_OK | X_OK) ? errno : 0;
	if (ret) {
		fprintf(stderr, PROG ": sysfs root %s: %s\n", o.sysfs_root, strerror(ret));
		return 1;
	}
	n = collect_devices(&o, &devs);
	if (n < 0) {
		fprintf(stderr, PROG ": cannot list %s/class/vfio-dev: %s\n", o.sysfs_root, strerror(-n));
		return 1;
	}

	/* A spec names device nodes only: nothing needs opening. */
	if (o.cdi) {
		if (!o.memlock)
			o.memlock = 64ull << 20;
		ret = print_cdi(&o, devs, n);
		free(devs);
		if (ret == -ENOMEM)
			fprintf(stderr, PROG ": out of memory\n");
		if (!ret && stdout_done(PROG, "the output"))
			ret = -EIO;
		return ret ? 1 : 0;
	}
	copts.iommu_path = im.path;
	copts.sysfs_root = o.sysfs_root;
	copts.dev_root = o.dev_root;
	/* The doctor says what went wrong itself: no library log unless asked
	 * for, with -v or SVA_LOG (sva-info(1), ENVIRONMENT).  Nor is the
	 * library asked to open an iommufd path that does not exist unless its
	 * log is: its error line would repeat the listing's first line. */
	{
		const char *env = secure_getenv("SVA_LOG");
		bool asked = o.verbose || (env && *env);

		copts.log_level = o.verbose ? SVA_LOG_DEBUG
				  : o.doctor && !asked ? SVA_LOG_OFF
						       : SVA_LOG_DEFAULT;
		if (!asked && access(im.path, F_OK) != 0 && errno == ENOENT)
			im.err = -ENOENT;
		else
			im.err = sva_ctx_new(&copts, &ctx);
	}
	for (int i = 0; i < n; i++) {
		if (o.no_open) {
			devs[i].hw = HW_NOT_OPENED;
		} else if (im.err) {
			devs[i].hw = HW_NO_IOMMUFD;
		} else if (devs[i].node_err == -ENAMETOOLONG) {
			devs[i].hw = HW_OPEN_FAILED;
			devs[i].hw_err = -ENAMETOOLONG;
		} else {
			probe_hw(ctx, &devs[i]);
		}
	}
	sva_ctx_free(ctx);

	if (o.doctor) {
		ret = run_doctor(&o, &im, im.err == 0, devs, n);
	} else if (o.json) {
		ret = print_json(&o, &im, devs, n) ? 1 : 0;
		if (ret)
			fprintf(stderr, PROG ": out of memory\n");
	} else {
		print_text(&im, devs, n);
		ret = 0;
	}
	free(devs);
	return stdout_done(PROG, "the output") ? 1 : ret;
}
