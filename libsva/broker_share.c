/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The memory an isolated broker client shares (sva_ctx_share_memfd) and takes
 * back (sva_ctx_unshare_memfd).  The broker is the authority: it maps only
 * inside what was shared (tools/broker/isolated.c).  The client keeps its own
 * list of the ranges so that its fault engine asks only for what the broker
 * will map: a fault outside every range is answered INVALID (-EFAULT) without
 * a round trip, and a fault-around window is clipped to the range that holds
 * the faulting page (the broker refuses a window crossing a range's end whole).
 *
 * Unsharing, the broker unmaps every mapping it made from the range before it
 * forgets it; then the client withdraws the range from each of its address
 * spaces, which drops the chunks the broker unmapped (ENOENT counts as
 * withdrawn), so no chunk table says visible what the device cannot reach.
 * Meanwhile the range is "leaving": its faults are refused here, so none maps
 * it again between the two steps.
 */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include "broker_client.h"
#include "broker_share.h"
#include "withdraw.h"

#ifdef SVA_TEST_HOOKS
/* tests/unit/test-broker-client.c: held between an unshare's reply and the
 * client's own list catching up; a share about to wait for such a window. */
void (*sva_test_unshare_replied_hook)(void);
void (*sva_test_share_wait_hook)(void);
#define UNSHARE_REPLIED() (sva_test_unshare_replied_hook ? sva_test_unshare_replied_hook() : (void)0)
#define SHARE_WAIT() (sva_test_share_wait_hook ? sva_test_share_wait_hook() : (void)0)
#else
#define UNSHARE_REPLIED() ((void)0)
#define SHARE_WAIT() ((void)0)
#endif

static struct sva_broker_conn *isolated(const struct sva_ctx *ctx)
{
	return ctx->broker && ctx->broker->isolated ? ctx->broker : NULL;
}

bool sva_broker_ctx_isolated(const struct sva_ctx *ctx)
{
	return isolated(ctx) != NULL;
}

int sva_broker_share_bounds(const struct sva_ctx *ctx, uint64_t addr, uint64_t *start, uint64_t *end)
{
	struct sva_broker_conn *c = isolated(ctx);
	int ret = -EFAULT;

	*start = 0;
	*end = UINT64_MAX;
	if (!c)
		return 0;
	pthread_mutex_lock(&c->shares_lock);
	for (size_t i = 0; i < c->nshares; i++) {
		const struct sva_broker_range *r = &c->shares[i];

		if (addr - r->va < r->len) {
			if (!r->leaving) {
				*start = r->va;
				*end = r->va + r->len;
				ret = 0;
			}
			break;
		}
	}
	pthread_mutex_unlock(&c->shares_lock);
	return ret;
}

void sva_broker_mm_add(struct sva_mm *mm)
{
	struct sva_broker_conn *c = isolated(mm->ctx);

	if (!c)
		return;
	pthread_mutex_lock(&c->mms_lock);
	mm->broker_next = c->mms;
	c->mms = mm;
	pthread_mutex_unlock(&c->mms_lock);
}

void sva_broker_mm_remove(struct sva_mm *mm)
{
	struct sva_broker_conn *c = isolated(mm->ctx);

	if (!c)
		return;
	pthread_mutex_lock(&c->mms_lock);
	for (struct sva_mm **pp = &c->mms; *pp; pp = &(*pp)->broker_next)
		if (*pp == mm) {
			*pp = mm->broker_next;
			break;
		}
	pthread_mutex_unlock(&c->mms_lock);
}

/*
 * Wait for any share or unshare of c in progress (at most its broker's reply,
 * which this call would wait for on c->lock anyway, and an unshare's
 * withdrawal), then hold share_op_lock.
 */
static void share_op_begin(struct sva_broker_conn *c)
{
	if (pthread_mutex_trylock(&c->share_op_lock)) {
		SHARE_WAIT();
		pthread_mutex_lock(&c->share_op_lock);
	}
}

/* The checks both calls share: 0, or the -errno logged. */
static int check(struct sva_ctx *ctx, const char *fn, uint64_t offset, const void *addr, size_t len)
{
	long pg = sysconf(_SC_PAGESIZE);
	int ret;

	if (!ctx)
		return sva_fail(sva_log_default(), -EINVAL, "%s: ctx is NULL", fn);
	if (!isolated(ctx))
		return sva_fail(&ctx->log, -EOPNOTSUPP,
				"%s: only an isolated broker context (SVA_CTX_ISOLATED) shares memfds; "
				"others map their memory themselves",
				fn);
	/* Before the arguments, as the memfd pages have always said: an
	 * exception libsva(7)'s "Errors in a forked child" lists. */
	ret = sva_ctx_check_owner_in(ctx, fn);
	if (ret)
		return ret;
	if (!len || ((uintptr_t)addr | len | offset) % (uint64_t)pg || (uintptr_t)addr + len < (uintptr_t)addr ||
	    offset + len < offset)
		return sva_fail(&ctx->log, -EINVAL, "%s: addr%s and len must be page-aligned, len not 0 nor wrapping",
				fn, strcmp(fn, "sva_ctx_share_memfd") ? "" : ", offset");
	return 0;
}

SVA_EXPORT int sva_ctx_share_memfd(struct sva_ctx *ctx, int memfd, uint64_t offset, const void *addr, size_t len)
{
	struct sva_broker_conn *c;
	struct sva_broker_msg m;
	bool full;
	int ret = check(ctx, "sva_ctx_share_memfd", offset, addr, len);

	if (ret)
		return ret;
	if (memfd < 0 || fcntl(memfd, F_GETFD) < 0)
		return sva_fail(&ctx->log, -EBADF, "sva_ctx_share_memfd: %d is not an open file descriptor", memfd);
	{
		char why[160];

		ret = sva_broker_memfd_check(memfd, offset, len, why, sizeof(why));
		if (ret)
			return sva_fail(&ctx->log, ret, "sva_ctx_share_memfd: %s", why);
	}
	c = ctx->broker;
	share_op_begin(c);
	/* Only a share adds to the list, under share_op_lock: room seen here is
	 * room when the broker's yes comes, so nothing is shared that the fault
	 * path would not find (a broker allowing more must not make the client
	 * skip one).  A range being unshared holds its slot until the broker
	 * has let it go, as the broker does. */
	pthread_mutex_lock(&c->shares_lock);
	full = c->nshares == SVA_BROKER_MAX_SHARES;
	pthread_mutex_unlock(&c->shares_lock);
	if (full) {
		pthread_mutex_unlock(&c->share_op_lock);
		return sva_fail(&ctx->log, -ENOSPC, "sva_ctx_share_memfd: [%p, +0x%zx): %d ranges shared already",
				addr, len, SVA_BROKER_MAX_SHARES);
	}
	sva_broker_msg_init(&m, SVA_BOP_PX_SHARE);
	m.arg[0] = offset;
	m.arg[1] = (uintptr_t)addr;
	m.arg[2] = len;
	ret = sva_broker_rpc(c, &m, memfd, NULL);
	if (!ret) {
		pthread_mutex_lock(&c->shares_lock);
		c->shares[c->nshares++] = (struct sva_broker_range){ .va = (uintptr_t)addr, .len = len };
		pthread_mutex_unlock(&c->shares_lock);
	}
	pthread_mutex_unlock(&c->share_op_lock);
	if (ret)
		return sva_fail_said(&ctx->log, ret, "sva_ctx_share_memfd: %s [%p, +0x%zx): %s",
				     ret == -ECONNRESET ? "the broker went away before mapping" : "the broker refused", addr, len,
				     m.text[0] && m.op == SVA_BOP_PX_SHARE ? m.text : strerror(-ret));
	return 0;
}

SVA_EXPORT int sva_ctx_unshare_memfd(struct sva_ctx *ctx, const void *addr, size_t len)
{
	struct sva_broker_conn *c;
	struct sva_broker_msg m;
	bool found = false;
	int ret = check(ctx, "sva_ctx_unshare_memfd", 0, addr, len);

	if (ret)
		return ret;
	c = ctx->broker;
	pthread_mutex_lock(&c->shares_lock);
	for (size_t i = 0; i < c->nshares && !found; i++)
		if (c->shares[i].va == (uintptr_t)addr && c->shares[i].len == len && !c->shares[i].leaving)
			found = c->shares[i].leaving = true;
	pthread_mutex_unlock(&c->shares_lock);
	if (!found)
		return sva_fail(&ctx->log, -ENOENT,
				"sva_ctx_unshare_memfd: [%p, +0x%zx) is not a range this context shared (or it is "
				"being unshared)",
				addr, len);
	share_op_begin(c);
	sva_broker_msg_init(&m, SVA_BOP_PX_UNSHARE);
	m.arg[0] = (uintptr_t)addr;
	m.arg[1] = len;
	ret = sva_broker_rpc(c, &m, -1, NULL);
	UNSHARE_REPLIED();
	pthread_mutex_lock(&c->shares_lock);
	for (size_t i = 0; i < c->nshares; i++)
		if (c->shares[i].va == (uintptr_t)addr && c->shares[i].len == len && c->shares[i].leaving) {
			if (ret)
				c->shares[i].leaving = false; /* still shared: faults map it again */
			else
				c->shares[i] = c->shares[--c->nshares];
			break;
		}
	pthread_mutex_unlock(&c->shares_lock);
	if (ret) {
		pthread_mutex_unlock(&c->share_op_lock);
		return sva_fail_said(&ctx->log, ret, "sva_ctx_unshare_memfd: %s [%p, +0x%zx): %s",
				     ret == -ECONNRESET ? "the broker went away before unmapping" : "the broker refused", addr, len,
				     m.text[0] && m.op == SVA_BOP_PX_UNSHARE ? m.text : strerror(-ret));
	}
	/* The broker unmapped it all: drop the chunks that said otherwise.  Still
	 * under share_op_lock: a range shared again over this one waits, so no
	 * chunk its faults map is withdrawn here. */
	pthread_mutex_lock(&c->mms_lock);
	for (struct sva_mm *mm = c->mms; mm; mm = mm->broker_next) {
		pthread_mutex_lock(&mm->map_lock);
		sva_mm_withdraw_locked(mm, (uintptr_t)addr, (uintptr_t)addr + len, NULL);
		pthread_mutex_unlock(&mm->map_lock);
		sva_mm_reap(mm);
	}
	pthread_mutex_unlock(&c->mms_lock);
	pthread_mutex_unlock(&c->share_op_lock);
	return 0;
}
