/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * A seccomp filter that refuses userfaultfd(2) with err (Docker's default
 * profile answers EPERM; others ENOSYS) and, with dev_refused, the ioctl
 * USERFAULTFD_IOC_NEW of /dev/userfaultfd with EPERM too (as the node's mode
 * or a device cgroup would refuse the device).  Installed in the calling
 * process for good (children and exec'd programs inherit it): call it in a
 * child.  0, or -1 when seccomp filters are not available.
 */
#ifndef KTEST_UFFD_REFUSE_H
#define KTEST_UFFD_REFUSE_H

#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/prctl.h>
#include <sys/syscall.h>

#include "kabi.h"

static inline int ktest_refuse_uffd(int err, bool dev_refused)
{
	struct sock_filter f[] = {
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_userfaultfd, 0, 1),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | (unsigned)err),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_ioctl, 0, 3),
		/* The command's low half (little-endian x86-64). */
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, args[1])),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, dev_refused ? KABI_USERFAULTFD_IOC_NEW : 0xffffffffu, 0, 1),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | EPERM),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
	};
	struct sock_fprog prog = { .len = sizeof(f) / sizeof(f[0]), .filter = f };

	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) || prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog))
		return -1;
	return 0;
}

#endif /* KTEST_UFFD_REFUSE_H */
