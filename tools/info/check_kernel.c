/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* sva-info --doctor: the kernel config (CONFIG_IOMMUFD, CONFIG_VFIO_DEVICE_CDEV). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/utsname.h>
#include <unistd.h>
#include <zlib.h>

#include "doctor.h"

/*
 * Read the options of dr->kconfig from the kernel config at path, plain or
 * gzip-compressed (zlib reads a plain file as it is).  0, or a negative errno
 * with *why set to a short reason.
 */
static int kconfig_read(struct doctor *dr, const char *path, const char **why)
{
	char line[512];
	bool any = false;
	gzFile gz;
	int fd, zerr, err = 0;

	*why = NULL;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	gz = gzdopen(fd, "rb");
	if (!gz) {
		close(fd);
		return -ENOMEM;
	}
	for (size_t k = 0; k < ARRAY_SIZE(dr->kconfig); k++)
		dr->kconfig[k].value = 'n';
	errno = 0;
	while (gzgets(gz, line, sizeof(line))) {
		for (size_t k = 0; k < ARRAY_SIZE(dr->kconfig); k++) {
			const char *name = dr->kconfig[k].name;
			size_t len = strlen(name);
			const char *p = line;

			if (strncmp(p, "# ", 2) == 0)
				p += 2;
			if (strncmp(p, name, len) != 0)
				continue;
			if (p[len] == '=' && (p[len + 1] == 'y' || p[len + 1] == 'm'))
				dr->kconfig[k].value = p[len + 1];
		}
		if (strncmp(line, "CONFIG_", 7) == 0 || strncmp(line, "# CONFIG_", 9) == 0)
			any = true;
	}
	err = errno;
	gzerror(gz, &zerr);
	gzclose_r(gz); /* closes fd */
	if (zerr == Z_ERRNO)
		return err ? -err : -EIO;
	if (zerr != Z_OK) {
		/* A corrupt or truncated gzip file. */
		*why = "gzip could not decompress it";
		return -EIO;
	}
	if (!any) {
		*why = "it holds no CONFIG_ lines";
		return -ENODATA;
	}
	return 0;
}

/* The running kernel's release: PROC/sys/kernel/osrelease, else uname(2). */
static void kernel_release(const struct options *o, char *buf, size_t len)
{
	char path[PATH_MAX];
	struct utsname u;

	if (join(path, sizeof(path), o->proc_root, "sys/kernel/osrelease") && read_small(path, buf, len) > 0) {
		buf[strcspn(buf, "\r\n")] = '\0';
		if (buf[0])
			return;
	}
	if (uname(&u) == 0)
		snprintf(buf, len, "%s", u.release);
	else
		snprintf(buf, len, "unknown");
}

void check_kconfig(struct doctor *dr)
{
	static const char *const hint[] = {
		"boot a kernel built with CONFIG_IOMMUFD (Linux 6.2 or later; Debian 12's 6.1 kernel "
		"predates it)",
		"boot a kernel built with CONFIG_VFIO_DEVICE_CDEV (Linux 6.6 or later; it needs CONFIG_VFIO "
		"and CONFIG_IOMMUFD too)",
	};
	char paths[2][PATH_MAX], rel[128], tried[2 * PATH_MAX + 128] = "";
	const char *why = NULL, *src = NULL;
	int npaths = 0, err;
	struct doc_check *c;

	dr->kconfig[0] = (struct kconfig_opt){ "CONFIG_IOMMUFD", 'n' };
	dr->kconfig[1] = (struct kconfig_opt){ "CONFIG_VFIO_DEVICE_CDEV", 'n' };
	if (dr->o->kernel_config) {
		snprintf(paths[npaths++], PATH_MAX, "%s", dr->o->kernel_config);
	} else {
		if (join(paths[npaths], PATH_MAX, dr->o->proc_root, "config.gz"))
			npaths++;
		kernel_release(dr->o, rel, sizeof(rel));
		snprintf(paths[npaths++], PATH_MAX, "/boot/config-%s", rel);
	}
	for (int i = 0; i < npaths && !src; i++) {
		err = kconfig_read(dr, paths[i], &why);
		if (!err)
			src = paths[i];
		else
			append(tried, sizeof(tried), "%s%s: %s", i ? "; " : "", paths[i], why ? why : strerror(-err));
	}
	if (!src) {
		c = doc_add(dr, NULL, "kernel-config", DOC_WARN,
			    "cannot read the kernel config (%s), so CONFIG_IOMMUFD and CONFIG_VFIO_DEVICE_CDEV "
			    "are not checked; the checks below still show what works",
			    tried);
		if (dr->o->kernel_config)
			doc_fix(dr, c, "give --kernel-config the kernel's .config file");
		else
			doc_fix(dr, c,
				"'modprobe configs' provides /proc/config.gz where the kernel has CONFIG_IKCONFIG; "
				"or give the kernel's .config with --kernel-config=FILE");
		return;
	}
	dr->kconfig_known = true;
	snprintf(dr->kconfig_src, sizeof(dr->kconfig_src), "%s", src);
	for (size_t k = 0; k < ARRAY_SIZE(dr->kconfig); k++) {
		const struct kconfig_opt *kc = &dr->kconfig[k];
		const char *id = k == 0 ? "config-iommufd" : "config-vfio-cdev";

		if (kc->value == 'y') {
			c = doc_add(dr, NULL, id, DOC_PASS, "%s=y (%s)", kc->name, src);
		} else if (kc->value == 'm') {
			c = doc_add(dr, NULL, id, DOC_PASS, "%s=m, a module (%s)", kc->name, src);
		} else {
			c = doc_add(dr, NULL, id, DOC_FAIL, "%s is not set in this kernel (%s)", kc->name, src);
			doc_fix(dr, c, "%s", hint[k]);
		}
		doc_str(dr, c, "option", kc->name);
		doc_str(dr, c, "value", kc->value == 'n' ? "n" : kc->value == 'y' ? "y" : "m");
		doc_str(dr, c, "source", src);
	}
}
