/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * sva_ctx_new(3), -ENOMEM: libsva's first allocation reserves its arena (1 GiB
 * of address space), which an RLIMIT_AS too low refuses.  The call must say
 * so in one error line naming the limit (it used to return -ENOMEM and log
 * nothing), for a direct and a broker context, and must work once the limit
 * is raised.  A process of its own, since the arena is reserved once per
 * process; no kernel support is needed (the iommufd path does not exist).
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>

#include <sva/sva.h>

#include "../tap.h"
#include "../proc_status.h"

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define SANITIZED 1
#endif
#endif

static int lines;
static char last[512];

static void capture(void *arg, enum sva_log_level level, const char *msg)
{
	(void)arg;
	if (level >= SVA_LOG_ERROR) {
		lines++;
		snprintf(last, sizeof(last), "%s", msg);
	}
}


static int ctx_new(uint32_t flags, struct sva_ctx **ctx)
{
	struct sva_ctx_opts o = { .size = sizeof(o), .flags = flags, .log_fn = capture,
				  .log_level = SVA_LOG_ERROR, .iommu_path = "/nonexistent/iommu",
				  .broker_path = "/nonexistent/socket" };

	lines = 0;
	last[0] = '\0';
	return sva_ctx_new(&o, ctx);
}

int main(void)
{
	struct sva_ctx *ctx = NULL;
	struct rlimit old, low;
	unsigned long long now = proc_vm_size();
	int ret;

#ifdef SANITIZED
	skip_all("a sanitizer's runtime reserves terabytes of address space: RLIMIT_AS cannot be set under it");
#endif
	if (!now || getrlimit(RLIMIT_AS, &old))
		tap_bail("no VmSize in /proc/self/status, or getrlimit failed");
	/* Room for what the process does, not for a 1 GiB reservation. */
	low = old;
	low.rlim_cur = now + (128ull << 20);
	if (setrlimit(RLIMIT_AS, &low))
		tap_bail("setrlimit(RLIMIT_AS): %s", strerror(errno));
	for (int broker = 0; broker < 2; broker++) {
		const char *what = broker ? "a broker context" : "a context";

		ret = ctx_new(broker ? SVA_CTX_BROKER : 0, &ctx);
		is_int(ret, -ENOMEM, "%s under an RLIMIT_AS with no room for the arena: -ENOMEM", what);
		ok(lines == 1 && strstr(last, "RLIMIT_AS") && strstr(last, "ulimit -v"),
		   "  one error line that names the limit (%d: %s)", lines, last);
	}
	if (setrlimit(RLIMIT_AS, &old))
		tap_bail("setrlimit back: %s", strerror(errno));
	ret = ctx_new(0, &ctx);
	ok(ret == -ENOENT && strstr(last, "/nonexistent/iommu"),
	   "with the limit back, the next sva_ctx_new gets past the arena (to the missing iommufd: %d, %s)", ret,
	   last);
	if (!ret)
		sva_ctx_free(ctx);
	return done_testing();
}
