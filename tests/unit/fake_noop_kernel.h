/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The fake kernel side of a bind-path unit test that hooks none of it
 * (test-push-fork, test-log-fork, test-log-guard, test-unbind-close):
 * next_id, the object ids from 100 (the test takes its device ids from it
 * too); ioctl() answering the HWPT and IOAS requests as fake_objects_ioctl()
 * does, the rest going to the real system call (fake_ioctl.h); and fake_be,
 * a backend whose every step succeeds and does nothing.  A test that hooks
 * a step writes its own.
 */
#ifndef SVA_TESTS_FAKE_NOOP_KERNEL_H
#define SVA_TESTS_FAKE_NOOP_KERNEL_H

#include <stdatomic.h>
#include <stdbool.h>

#include "fake_bind_objects.h"

static atomic_uint next_id = 100;

static bool fake_ioctl(unsigned long req, void *arg, int *rc)
{
	return fake_objects_ioctl(req, arg, rc, &next_id);
}
#include "fake_ioctl.h"

static const struct sva_dev_backend fake_be = {
	"fake", fake_noop_attach, fake_noop_detach,
	fake_noop_pasid_attach, fake_noop_pasid_detach, fake_noop_close, 0,
};

#endif
