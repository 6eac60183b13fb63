/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Opening a userfaultfd the way coherence tracking does (track.c), in a header
 * so that sva-info --doctor (tools/info/check_uffd.c) opens it the same way
 * and the two cannot disagree about whether tracking works here.
 *
 * First the system call, with UFFD_USER_MODE_ONLY (Linux 5.11), which the
 * sysctl vm.unprivileged_userfaultfd and CAP_SYS_PTRACE do not gate; before
 * 5.11 the flag is EINVAL and the call is made without it.  If the call is
 * refused with EPERM (a seccomp filter such as Docker's default profile, or
 * the sysctl before 5.11) or ENOSYS (a seccomp filter answering so, or a
 * kernel without CONFIG_USERFAULTFD), /dev/userfaultfd (Linux 6.1) is tried:
 * USERFAULTFD_IOC_NEW on it makes the same userfaultfd, gated by the node's
 * permissions only.  Other errnos (EMFILE, ENFILE, ENOMEM, an LSM's EACCES on
 * the anonymous inode, which the device path meets too) are not retried.
 *
 * When the device is absent (before 6.1, no CONFIG_USERFAULTFD, a container
 * without the node) or refused (its mode, a device cgroup, a seccomp filter
 * on the ioctl), the system call's errno is returned: what libsva did, and
 * said, before it knew the device.
 */
#ifndef LIBSVA_UFFD_OPEN_H
#define LIBSVA_UFFD_OPEN_H

#include <errno.h>
#include <fcntl.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "kabi.h"

struct sva_uffd_how {
	int sys_errno; /* why userfaultfd(2) failed (0: it worked) */
	int dev_errno; /* why /dev/userfaultfd failed (0: it worked or was not tried) */
	int via_dev;   /* the userfaultfd came from /dev/userfaultfd */
};

/* A userfaultfd (O_CLOEXEC | O_NONBLOCK), or -errno of the system call. */
static inline int sva_uffd_open(struct sva_uffd_how *how)
{
	const int flags = O_CLOEXEC | O_NONBLOCK;
	int fd = (int)syscall(SYS_userfaultfd, flags | KABI_UFFD_USER_MODE_ONLY), dev;

	/* Kernels before 5.11 lack USER_MODE_ONLY: they need the privilege anyway. */
	if (fd < 0 && errno == EINVAL)
		fd = (int)syscall(SYS_userfaultfd, flags);
	*how = (struct sva_uffd_how){ .sys_errno = fd < 0 ? errno : 0 };
	if (fd >= 0 || (how->sys_errno != EPERM && how->sys_errno != ENOSYS))
		return fd >= 0 ? fd : -how->sys_errno;
	/* O_RDWR, as the kernel's documentation opens it: a node an
	 * administrator made readable to all is not an invitation. */
	dev = open(KABI_USERFAULTFD_PATH, O_RDWR | O_CLOEXEC);
	if (dev < 0) {
		how->dev_errno = errno;
		return -how->sys_errno;
	}
	/* The device exists from 6.1 on, which knows USER_MODE_ONLY.  The flags
	 * are the ioctl's argument itself, a whole unsigned long: an int passed
	 * through ioctl()'s "..." may leave the register's upper half unset,
	 * and the kernel refuses any unknown bit with EINVAL. */
	fd = ioctl(dev, KABI_USERFAULTFD_IOC_NEW, (unsigned long)(flags | KABI_UFFD_USER_MODE_ONLY));
	how->dev_errno = fd < 0 ? errno : 0;
	close(dev);
	if (fd < 0)
		return -how->sys_errno;
	how->via_dev = 1;
	return fd;
}

/*
 * The features a userfaultfd offers here, or -errno: one opened as above,
 * its API handshake made (which a descriptor allows once) and closed.  The
 * handshake's EINVAL is -EOPNOTSUPP: the kernel refuses this API or these
 * features (a seccomp filter on the ioctl may say so too), a kernel lacking
 * what tracking needs, not a bad argument of the caller's.  Track.c learns
 * the features so before it asks for them; sva-info --doctor reports them.
 */
static inline long long sva_uffd_features(struct sva_uffd_how *how)
{
	struct kabi_uffdio_api api = { .api = KABI_UFFD_API };
	int fd = sva_uffd_open(how), err;

	if (fd < 0)
		return fd;
	err = ioctl(fd, KABI_UFFDIO_API, &api) ? -errno : 0;
	close(fd);
	if (err)
		return err == -EINVAL ? -EOPNOTSUPP : err;
	return (long long)api.features;
}

#endif /* LIBSVA_UFFD_OPEN_H */
