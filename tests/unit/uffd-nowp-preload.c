/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * LD_PRELOAD helper for test-sva-info.sh: plays a kernel whose userfaultfd has
 * its UNMAP, REMOVE and REMAP events but no write-protect mode (an
 * architecture or CPU without uffd-wp), by taking PAGEFAULT_FLAG_WP out of
 * what UFFDIO_API reports.  libsva registers every range in write-protect
 * mode, so there it cannot track (track.c); sva-info --doctor must say so.
 * It creates the file $NOWP_MARK when it takes the flag out, so the test can
 * tell a run it did not reach (a sanitizer's runtime, linked into the
 * program, answers ioctl() before any preloaded library) from a failure.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdlib.h>
#include <unistd.h>

#include "kabi.h"

int ioctl(int fd, unsigned long req, ...);
int ioctl(int fd, unsigned long req, ...)
{
	static int (*real)(int, unsigned long, ...);
	va_list ap;
	void *arg;
	int rc;

	va_start(ap, req);
	arg = va_arg(ap, void *);
	va_end(ap);
	if (!real)
		real = (int (*)(int, unsigned long, ...))dlsym(RTLD_NEXT, "ioctl");
	rc = real(fd, req, arg);
	if (rc == 0 && req == KABI_UFFDIO_API) {
		const char *mark = getenv("NOWP_MARK");
		int m = mark ? open(mark, O_WRONLY | O_CREAT | O_CLOEXEC, 0600) : -1;

		((struct kabi_uffdio_api *)arg)->features &= ~KABI_UFFD_FEATURE_PAGEFAULT_FLAG_WP;
		if (m >= 0)
			close(m);
	}
	return rc;
}
