/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * sva-info --doctor: can libsva track coherence here?  Its address spaces
 * follow munmap(), mremap() and madvise() through a userfaultfd with the
 * UNMAP, REMOVE and REMAP events; without one they are untracked, and the
 * driver must call sva_mm_invalidate() itself.
 *
 * The probe is live: it opens a userfaultfd the way libsva does (the system
 * call, else /dev/userfaultfd: uffd_open.h).  With a
 * --proc-root that is another directory than /proc there is no machine to
 * probe (the facts come from a test tree), so the check is skipped, saying so.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "doctor.h"
#include "kabi.h"
#include "track.h" /* what libsva needs of a userfaultfd */
#include "uffd_open.h"


/* The Seccomp: mode of PROC/self/status (0 none, 1 strict, 2 filter), or -1. */
static int seccomp_mode(const struct doctor *dr)
{
	char path[PATH_MAX], buf[4096], *p;

	if (!join(path, sizeof(path), dr->o->proc_root, "self/status") || read_small(path, buf, sizeof(buf)) <= 0)
		return -1;
	p = strstr(buf, "\nSeccomp:");
	return p ? atoi(p + 9) : -1;
}

/* Is root this machine's /proc?  Compared as directories, not strings, so that
 * /proc/, //proc or a link to it count as /proc. */
static bool is_proc(const char *root)
{
	struct stat a, b;

	return stat(root, &a) == 0 && stat("/proc", &b) == 0 && a.st_dev == b.st_dev && a.st_ino == b.st_ino;
}

void check_userfaultfd(struct doctor *dr)
{
	const char *const consequence = "address spaces are created untracked, so munmap()/madvise() of memory a "
					"device has seen reach it only through sva_mm_invalidate()";
	struct sva_uffd_how how = { 0 };
	char dev[160] = "";
	struct doc_check *c;
	long long r;

	if (!is_proc(dr->o->proc_root)) {
		c = doc_add(dr, NULL, "userfaultfd", DOC_SKIP, "not probed: --proc-root is not /proc");
		return;
	}
	r = sva_uffd_features(&how); /* as libsva opens and reads it */
	if (how.via_dev)
		snprintf(dev, sizeof(dev), " (through " KABI_USERFAULTFD_PATH ": the system call is refused, %s)",
			 strerror(how.sys_errno));
	else if (how.dev_errno)
		snprintf(dev, sizeof(dev), "; " KABI_USERFAULTFD_PATH " too: %s", strerror(how.dev_errno));
	if (r >= 0 && (r & SVA_TRACK_UFFD_NEEDED) == SVA_TRACK_UFFD_NEEDED) {
		c = doc_add(dr, NULL, "userfaultfd", DOC_PASS,
			    "userfaultfd works with its UNMAP, REMOVE and REMAP events and write-protect mode%s: coherence "
			    "tracking is on",
			    dev);
	} else if (r >= 0 && (r & SVA_TRACK_UFFD_EVENTS) == SVA_TRACK_UFFD_EVENTS) {
		c = doc_add(dr, NULL, "userfaultfd", DOC_WARN,
			    "the kernel's userfaultfd has no write-protect mode (uffd-wp), in which libsva "
			    "registers memory: %s",
			    consequence);
		doc_fix(dr, c, "use a kernel built with uffd-wp (CONFIG_HAVE_ARCH_USERFAULTFD_WP, as on x86-64)");
	} else if (r >= 0) {
		c = doc_add(dr, NULL, "userfaultfd", DOC_WARN,
			    "the kernel's userfaultfd lacks the UNMAP, REMOVE or REMAP event: %s", consequence);
		doc_fix(dr, c, "use Linux 4.11 or later");
	} else if (r == -EOPNOTSUPP) {
		c = doc_add(dr, NULL, "userfaultfd", DOC_WARN,
			    "the kernel's userfaultfd refuses the API handshake (UFFDIO_API: EINVAL): %s", consequence);
		doc_fix(dr, c, "check for a seccomp filter on ioctl() or a kernel patched to refuse it");
	} else if (r == -ENOSYS && seccomp_mode(dr) == 2) {
		c = doc_add(dr, NULL, "userfaultfd", DOC_WARN,
			    "userfaultfd is refused (ENOSYS) and a seccomp filter is active%s: %s", dev, consequence);
		doc_fix(dr, c,
			"allow the userfaultfd system call in the seccomp profile, or give the process "
			"/dev/userfaultfd (Linux 6.1; docker/podman run --device /dev/userfaultfd, read-write for "
			"its user); without a filter, build the kernel with CONFIG_USERFAULTFD=y");
	} else if (r == -ENOSYS) {
		c = doc_add(dr, NULL, "userfaultfd", DOC_WARN, "the kernel has no userfaultfd%s: %s", dev,
			    consequence);
		doc_fix(dr, c, "build the kernel with CONFIG_USERFAULTFD=y");
	} else if (r == -EPERM && seccomp_mode(dr) == 2) {
		c = doc_add(dr, NULL, "userfaultfd", DOC_WARN,
			    "userfaultfd is refused (EPERM) and a seccomp filter is active, as in Docker's default "
			    "profile%s: %s",
			    dev, consequence);
		doc_fix(dr, c,
			"allow the userfaultfd system call in the seccomp profile (docker/podman run "
			"--security-opt seccomp=PROFILE with userfaultfd in its allowed list), or give the process "
			"/dev/userfaultfd (Linux 6.1; docker/podman run --device /dev/userfaultfd, read-write for "
			"its user)");
	} else if (r == -EPERM) {
		c = doc_add(dr, NULL, "userfaultfd", DOC_WARN, "userfaultfd is refused (EPERM)%s: %s", dev,
			    consequence);
		doc_fix(dr, c,
			"on kernels before 5.11, set the sysctl vm.unprivileged_userfaultfd=1 or grant "
			"CAP_SYS_PTRACE; from 5.11 on, check for a seccomp filter or an LSM policy that denies it, "
			"or (Linux 6.1) make /dev/userfaultfd read-write for the user");
	} else {
		c = doc_add(dr, NULL, "userfaultfd", DOC_WARN, "userfaultfd cannot be opened: %s: %s",
			    strerror((int)-r), consequence);
		doc_fix(dr, c, "see the errno: EMFILE/ENFILE mean too many open files");
	}
	doc_bool(c, "tracking", r >= 0 && (r & SVA_TRACK_UFFD_NEEDED) == SVA_TRACK_UFFD_NEEDED);
	if (r < 0)
		doc_int(c, "errno", -r);
}
