/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * ioctl() for unit tests that play the kernel's part: the test defines
 *   static bool fake_ioctl(unsigned long req, void *arg, int *rc);
 * before including this, answering the requests it knows (true, with the
 * result in *rc: 0, or -1 with errno set); every other request goes to the
 * real system call.  Linked into the test program, it replaces libc's
 * ioctl() for the static libsva-test it links.
 */
#ifndef SVA_TESTS_FAKE_IOCTL_H
#define SVA_TESTS_FAKE_IOCTL_H
#include <stdarg.h>
#include <stdbool.h>
#include <sys/syscall.h>
#include <unistd.h>

static bool fake_ioctl(unsigned long req, void *arg, int *rc);

int ioctl(int fd, unsigned long req, ...);
int ioctl(int fd, unsigned long req, ...)
{
	va_list ap;
	void *arg;
	int rc;

	va_start(ap, req);
	arg = va_arg(ap, void *);
	va_end(ap);
	if (fake_ioctl(req, arg, &rc))
		return rc;
	return (int)syscall(SYS_ioctl, fd, req, arg);
}
#endif
