/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * uffd-refuse SYS DEV API PROGRAM [ARG...]: run PROGRAM under a seccomp
 * filter that refuses userfaultfd(2) with errno SYS, the ioctl
 * USERFAULTFD_IOC_NEW of /dev/userfaultfd with DEV and the ioctl UFFDIO_API
 * with API (each a decimal errno; 0 lets it through).  test-sva-info.sh plays
 * with it the hosts sva-info(1) names: a seccomp profile or
 * vm.unprivileged_userfaultfd refusing the system call, a device node or
 * cgroup refusing /dev/userfaultfd, a kernel refusing the handshake.  A
 * filter, not an LD_PRELOAD, because a sanitizer's runtime answers ioctl()
 * before any preloaded library.  Exit 99 when filters are not available.
 */
#include <errno.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "kabi.h"

#define RET_ERRNO(e) BPF_STMT(BPF_RET | BPF_K, (e) ? SECCOMP_RET_ERRNO | (unsigned)(e) : SECCOMP_RET_ALLOW)

int main(int argc, char **argv)
{
	unsigned sys, dev, api;

	if (argc < 5) {
		fprintf(stderr, "usage: uffd-refuse SYS DEV API PROGRAM [ARG...]\n");
		return 2;
	}
	sys = (unsigned)atoi(argv[1]);
	dev = (unsigned)atoi(argv[2]);
	api = (unsigned)atoi(argv[3]);
	{
		struct sock_filter f[] = {
			BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
			BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_userfaultfd, 0, 1),
			RET_ERRNO(sys),
			BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_ioctl, 1, 0),
			BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
			/* The command's low half (little-endian): the whole number. */
			BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, args[1])),
			BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, (unsigned)KABI_USERFAULTFD_IOC_NEW, 0, 1),
			RET_ERRNO(dev),
			BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, (unsigned)KABI_UFFDIO_API, 0, 1),
			RET_ERRNO(api),
			BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
		};
		struct sock_fprog prog = { .len = sizeof(f) / sizeof(f[0]), .filter = f };

		if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) || prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog)) {
			perror("uffd-refuse: seccomp");
			return 99;
		}
	}
	execv(argv[4], argv + 4);
	perror(argv[4]);
	return 127;
}
