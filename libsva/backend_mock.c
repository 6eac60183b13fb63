/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The iommufd selftest mock backend (CONFIG_IOMMUFD_TEST): a software device
 * with PASIDs and I/O page faults, so drivers can test SVA without hardware.
 */
#include <errno.h>
#include <string.h>
#include <sys/ioctl.h>

#include "internal.h"
#include "kabi_selftest.h"

static int test_cmd(int fd, struct kabi_iommu_test_cmd *cmd)
{
	cmd->size = sizeof(*cmd);
	return ioctl(fd, KABI_IOMMU_TEST_CMD, cmd) ? -errno : 0;
}

static int mock_attach(struct sva_dev *dev, uint32_t pt_id)
{
	struct kabi_iommu_test_cmd cmd = {
		.op = KABI_TEST_OP_MOCK_DOMAIN_REPLACE,
		.id = dev->stdev_id,
		.mock_domain_replace.pt_id = pt_id,
	};

	return test_cmd(dev->ctx->fd, &cmd);
}

#ifdef SVA_TEST_HOOKS
/* Tests only (libsva-test): the next detach of a mock device, RID or PASID,
 * fails with this negative errno and leaves the kernel's attachment as it is.
 * One-shot; 0: none. */
int sva_test_mock_detach_fail;

static int detach_hook(void)
{
	/* One exchange: two detaches on two threads must not both take it. */
	return __atomic_exchange_n(&sva_test_mock_detach_fail, 0, __ATOMIC_SEQ_CST);
}
#else
static int detach_hook(void)
{
	return 0;
}
#endif

/* The mock RID cannot be left unattached: put it back on its own IOAS. */
static int mock_detach(struct sva_dev *dev)
{
	int ret = detach_hook();

	return ret ? ret : mock_attach(dev, dev->park_ioas);
}

static int mock_pasid_op(struct sva_dev *dev, uint32_t op, uint32_t pasid, uint32_t pt_id)
{
	struct kabi_iommu_test_cmd cmd = {
		.op = op,
		.id = dev->stdev_id,
		.pasid_attach = { .pasid = pasid, .pt_id = pt_id },
	};

	return test_cmd(dev->ctx->fd, &cmd);
}

#ifdef SVA_TEST_HOOKS
/* Tests only (libsva-test): called before a PASID attach of a mock device; a
 * negative errno fails the attach with it. */
int (*sva_test_mock_pasid_attach_hook)(struct sva_dev *dev, uint32_t pasid);
#endif

static int mock_pasid_attach(struct sva_dev *dev, uint32_t pasid, uint32_t pt_id)
{
#ifdef SVA_TEST_HOOKS
	int ret = sva_test_mock_pasid_attach_hook ? sva_test_mock_pasid_attach_hook(dev, pasid) : 0;

	if (ret)
		return ret;
#endif
	return mock_pasid_op(dev, KABI_TEST_OP_PASID_ATTACH, pasid, pt_id);
}

static int mock_pasid_detach(struct sva_dev *dev, uint32_t pasid)
{
	int ret = detach_hook();

	if (ret)
		return ret;
	return mock_pasid_op(dev, KABI_TEST_OP_PASID_DETACH, pasid, 0);
}

static void mock_close(struct sva_dev *dev)
{
	/* Destroying the selftest device object unplugs the mock. */
	sva_iommufd_destroy(dev->ctx->fd, dev->stdev_id);
}

const struct sva_dev_backend sva_backend_mock = {
	.name = "mock",
	.dev_flags = SVA_DEV_MOCK,
	.attach = mock_attach,
	.detach = mock_detach,
	.pasid_attach = mock_pasid_attach,
	.pasid_detach = mock_pasid_detach,
	.close = mock_close,
};

SVA_EXPORT int sva_dev_open_mock(struct sva_ctx *ctx, const struct sva_mock_opts *uopts, struct sva_dev **out)
{
	struct kabi_iommu_test_cmd cmd = { .op = KABI_TEST_OP_MOCK_DOMAIN_FLAGS };
	struct sva_mock_opts opts;
	struct sva_dev *dev;
	uint32_t ioas;
	int ret;

	if (!ctx || !out)
		return sva_fail(ctx ? &ctx->log : sva_log_default(), -EINVAL, "sva_dev_open_mock: %s is NULL",
				ctx ? "out" : "ctx");
	if (sva_opts_copy(&opts, sizeof(opts), uopts))
		return sva_opts_fail(&ctx->log, "sva_dev_open_mock", "sva_mock_opts", sizeof(opts), uopts);
	if (opts.flags & ~SVA_MOCK_NO_PASID)
		return sva_fail(&ctx->log, -EINVAL, "sva_dev_open_mock: unknown flags 0x%x",
				opts.flags & ~SVA_MOCK_NO_PASID);
	if (opts.reserved)
		return sva_fail(&ctx->log, -EINVAL, "sva_dev_open_mock: opts->reserved is not zero");
	/* After the arguments (libsva(7), Errors in a forked child). */
	ret = sva_ctx_check_owner(ctx);
	if (ret)
		return ret;
	/* It would live in the broker's iommufd, where nothing tracks it. */
	if (ctx->broker)
		return sva_fail(&ctx->log, -EOPNOTSUPP,
				"sva_dev_open_mock: a broker client opens the broker's mock by name (sva_dev_open)");
	/*
	 * The mock's RID domain narrows whatever IOAS it sits on to the mock aperture,
	 * so it lives on a scratch IOAS of its own until something attaches it.
	 */
	ret = sva_iommufd_ioas_alloc(ctx->fd, &ioas);
	if (ret)
		return sva_fail(&ctx->log, ret, "mock: IOMMU_IOAS_ALLOC failed: %s", strerror(-ret));
	cmd.id = ioas;
	cmd.mock_domain_flags.dev_flags = (opts.flags & SVA_MOCK_NO_PASID) ? 0 : KABI_MOCK_FLAGS_DEVICE_PASID;
	ret = test_cmd(ctx->fd, &cmd);
	if (ret) {
		sva_iommufd_destroy(ctx->fd, ioas);
		if (ret == -ENOTTY || ret == -EOPNOTSUPP)
			return sva_fail(&ctx->log, -EOPNOTSUPP,
					"the mock device needs a kernel built with CONFIG_IOMMUFD_TEST "
					"(a test kernel; see tests/vm in the libsva sources)");
		return sva_fail(&ctx->log, ret, "mock: creating the selftest device failed: %s", strerror(-ret));
	}
	ret = sva_dev_setup(ctx, &sva_backend_mock, -1, cmd.mock_domain_flags.out_idev_id, NULL, NULL, &dev);
	if (ret) {
		sva_iommufd_destroy(ctx->fd, cmd.mock_domain_flags.out_stdev_id);
		sva_iommufd_destroy(ctx->fd, ioas);
		return ret;
	}
	dev->stdev_id = cmd.mock_domain_flags.out_stdev_id;
	dev->park_ioas = ioas;
	*out = dev;
	return 0;
}

SVA_EXPORT int sva_dev_inject_fault(struct sva_dev *dev, uint32_t pasid, uint64_t addr, uint32_t perm,
				    uint32_t grpid)
{
	struct kabi_iommu_test_cmd cmd = { .op = KABI_TEST_OP_TRIGGER_IOPF };
	int ret;

	if (!dev)
		return sva_fail(sva_log_default(), -EINVAL, "sva_dev_inject_fault: dev is NULL");
	/* A broker client's mock (SVA_DEV_MOCK) is reachable through the shared iommufd. */
	if (!(dev->info.flags & SVA_DEV_MOCK))
		return sva_fail(&dev->ctx->log, -EOPNOTSUPP, "only the mock device can inject faults");
	if (!perm || (perm & ~(SVA_ACCESS_READ | SVA_ACCESS_WRITE | SVA_ACCESS_EXEC | SVA_ACCESS_PRIV)))
		return sva_fail(&dev->ctx->log, -EINVAL, "inject_fault: bad access bits 0x%x", perm);
	/* After the arguments (libsva(7), Errors in a forked child). */
	ret = sva_ctx_check_owner(dev->ctx);
	if (ret)
		return ret;
	{
		/* An isolated broker client has no iommufd: the broker injects. */
		struct sva_broker_conn *px = sva_iommufd_proxy(dev->ctx->fd);

		if (px) {
			ret = sva_iommufd_hooks()->inject(px, dev->info.dev_id, pasid, addr, perm, grpid);
			if (ret)
				return sva_fail(&dev->ctx->log, ret, "inject_fault: %s: %s",
						ret == -ECONNRESET ? "the broker went away" : "the broker refused",
						strerror(-ret));
			return 0;
		}
	}
	cmd.trigger_iopf.dev_id = dev->info.dev_id;
	cmd.trigger_iopf.pasid = pasid;
	cmd.trigger_iopf.grpid = grpid;
	cmd.trigger_iopf.perm = perm;
	cmd.trigger_iopf.addr = addr;
	ret = test_cmd(dev->ctx->fd, &cmd);
	/* A broker that stopped cleanly destroyed the mock on its way out. */
	if (ret == -ENOENT && sva_iommufd_broker_gone(dev->ctx->fd))
		return sva_fail(&dev->ctx->log, -ECONNRESET, "inject_fault: the broker went away");
	if (ret)
		return sva_fail(&dev->ctx->log, ret, "inject_fault: TRIGGER_IOPF failed: %s", strerror(-ret));
	return 0;
}
