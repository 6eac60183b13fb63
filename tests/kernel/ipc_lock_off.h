/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * CAP_IPC_LOCK taken out of this process's effective set for a while and put
 * back (kernel tests that check the pin budget's default, which only a
 * process without the capability gets: sva_mm_new(3)).  The caller includes
 * tests/tap.h first (tap_bail()).
 */
#ifndef SVA_TESTS_IPC_LOCK_OFF_H
#define SVA_TESTS_IPC_LOCK_OFF_H

#include <errno.h>
#include <stdbool.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <linux/capability.h>

/* The capability sets as they are now, into was: 0, or -1 (errno). */
static inline int ipc_lock_save(struct __user_cap_data_struct was[2])
{
	struct __user_cap_header_struct h = { .version = _LINUX_CAPABILITY_VERSION_3 };

	return (int)syscall(SYS_capget, &h, was);
}

/* was without CAP_IPC_LOCK in the effective set: whether it could be set. */
static inline bool ipc_lock_off(const struct __user_cap_data_struct was[2])
{
	struct __user_cap_header_struct h = { .version = _LINUX_CAPABILITY_VERSION_3 };
	struct __user_cap_data_struct d[2];

	memcpy(d, was, sizeof(d));
	d[CAP_IPC_LOCK / 32].effective &= ~(1u << (CAP_IPC_LOCK % 32));
	return syscall(SYS_capset, &h, d) == 0;
}

/* was back, or the test cannot go on: what follows would run without it. */
static inline void ipc_lock_back(const struct __user_cap_data_struct was[2])
{
	struct __user_cap_header_struct h = { .version = _LINUX_CAPABILITY_VERSION_3 };

	if (syscall(SYS_capset, &h, was))
		tap_bail("cannot put CAP_IPC_LOCK back: %s", strerror(errno));
}

#endif /* SVA_TESTS_IPC_LOCK_OFF_H */
