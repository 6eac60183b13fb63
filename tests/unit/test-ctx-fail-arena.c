/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * sva_ctx_new(3): "On failure ... nothing stays open".  The first call used to
 * reserve libsva's arena (1 GiB of address space, for the process's life)
 * before it found /dev/iommu missing, unopenable or not an iommufd, or the
 * PASID range bad (review Z71), or with SVA_CTX_BROKER found no broker
 * listening or was refused by it (Z128): a failed call took a gigabyte of the process's RLIMIT_AS
 * for nothing.  A process of its own, since the arena is
 * reserved once per process; no kernel support is needed.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <sva/sva.h>

#include "../tap.h"
#include "../proc_status.h"


static void quiet(void *arg, enum sva_log_level level, const char *msg)
{
	(void)arg;
	(void)level;
	(void)msg;
}

static void one(const char *what, uint32_t flags, const char *path, uint32_t pmin, uint32_t pmax, int want)
{
	struct sva_ctx_opts o = { .size = sizeof(o), .flags = flags, .log_fn = quiet, .log_level = SVA_LOG_ERROR,
				  .iommu_path = path, .broker_path = path, .global_pasid_min = pmin,
				  .global_pasid_max = pmax };
	struct sva_ctx *ctx = NULL;
	unsigned long long before = proc_vm_size(), after;
	int ret = sva_ctx_new(&o, &ctx);

	after = proc_vm_size();
	is_int(ret, want, "%s: %d", what, want);
	ok(after < before + (256ull << 20), "  the failed call reserved no arena (VmSize %llu MiB -> %llu MiB)",
	   before >> 20, after >> 20);
	if (!ret)
		sva_ctx_free(ctx);
}

int main(void)
{
	if (!proc_vm_size())
		tap_bail("no VmSize in /proc/self/status");
	one("no device node", 0, "/nonexistent/iommu", 0, 0, -ENOENT);
	one("not an iommufd", 0, "/dev/null", 0, 0, -ENOTTY);
	one("an inverted global PASID range", 0, "/nonexistent/iommu", 9, 3, -ERANGE);
	/* The broker client's state used to be allocated before it connected
	 * (review Z128): no broker at the path reserved the arena. */
	one("no broker listening", SVA_CTX_BROKER, "/nonexistent/sva-brokerd.sock", 0, 0, -ENOENT);
	one("an isolated client, no broker", SVA_CTX_BROKER | SVA_CTX_ISOLATED, "/nonexistent/sva-brokerd.sock", 0, 0,
	    -ENOENT);
	/* A broker that takes the hello and hangs up (a child process plays
	 * it): the state was allocated before the hello. */
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int ls = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0), st = 0;
	pid_t pid;

	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s/ctx-fail-arena-%d.sock",
		 getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp", (int)getpid());
	unlink(sa.sun_path);
	if (ls < 0 || bind(ls, (struct sockaddr *)&sa, sizeof(sa)) || listen(ls, 1))
		tap_bail("cannot listen at %s: %s", sa.sun_path, strerror(errno));
	pid = fork();
	if (pid == 0) {
		char buf[4096];
		int s = accept(ls, NULL, NULL);

		if (s >= 0 && recv(s, buf, sizeof(buf), 0) < 0)
			_exit(1);
		_exit(0);
	}
	close(ls);
	one("a broker that hangs up at the hello", SVA_CTX_BROKER, sa.sun_path, 0, 0, -ECONNRESET);
	waitpid(pid, &st, 0);
	unlink(sa.sun_path);
	return done_testing();
}
