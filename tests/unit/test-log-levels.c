/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The log-level rule of libsva(7) (Errors): a failure that is the caller's
 * normal business (a lookup that finds nothing, an exhausted PASID space or
 * placement window, a device not attached yet) is logged at debug level only;
 * every other failure at error level.  For each expected-outcome errno of each
 * call this counts the lines at every level: none at warn or error, one at
 * debug (so SVA_LOG=debug still explains it).  A few real errors next to them
 * must still give one error line, so the rule is not met by logging nothing.
 * Contexts and devices are built by hand, as in test-pasid-policy.
 */
#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "fork.h"
#include "pasid_space.h"
#include "../tap.h"

static struct {
	int at[SVA_LOG_OFF]; /* lines per level */
	char last[512];
} cap;

static void capture(void *arg, enum sva_log_level level, const char *msg)
{
	(void)arg;
	if (level > SVA_LOG_DEFAULT && level < SVA_LOG_OFF)
		cap.at[level]++;
	snprintf(cap.last, sizeof(cap.last), "%s", msg);
}

static void cap_reset(void)
{
	memset(&cap, 0, sizeof(cap));
}

/* `expr` returns `want`, an expected outcome: no warn or error line, one debug line. */
#define OUTCOME(expr, want, name)                                                                          \
	do {                                                                                               \
		int r_;                                                                                    \
		cap_reset();                                                                               \
		r_ = (expr);                                                                               \
		is_int(r_, (want), "%s: %s", (name), #want);                                               \
		is_int(cap.at[SVA_LOG_ERROR] + cap.at[SVA_LOG_WARN], 0, "%s: no error or warning line (%s)", \
		       (name), cap.last);                                                                  \
		is_int(cap.at[SVA_LOG_DEBUG], 1, "%s: one debug line", (name));                            \
	} while (0)

/* `expr` returns `want` without logging anything (NULL-object and hot-path checks). */
#define SILENT(expr, want, name)                                                                           \
	do {                                                                                               \
		int r_;                                                                                    \
		cap_reset();                                                                               \
		r_ = (expr);                                                                               \
		is_int(r_, (want), "%s: %s", (name), #want);                                               \
		is_int(cap.at[SVA_LOG_ERROR] + cap.at[SVA_LOG_WARN], 0, "%s: no error or warning line (%s)", \
		       (name), cap.last);                                                                  \
	} while (0)

/* `expr` returns `want`, a real error: one error line. */
#define REAL_ERROR(expr, want, name)                                                                       \
	do {                                                                                               \
		int r_;                                                                                    \
		cap_reset();                                                                               \
		r_ = (expr);                                                                               \
		is_int(r_, (want), "%s: %s", (name), #want);                                               \
		is_int(cap.at[SVA_LOG_ERROR], 1, "%s: one error line", (name));                            \
	} while (0)

static void ctx_init(struct sva_ctx *ctx, uint32_t gmin, uint32_t gmax)
{
	memset(ctx, 0, sizeof(*ctx));
	atomic_init(&ctx->refs, 1);
	ctx->fd = -1;
	ctx->pid = getpid();
	ctx->fork_gen = sva_fork_gen_init();
	sva_log_init(&ctx->log, capture, NULL, SVA_LOG_DEBUG);
	ctx->global_pasid_min = gmin;
	ctx->global_pasid_max = gmax;
	if (sva_ctx_pasids_init(ctx))
		diag("sva_ctx_pasids_init failed");
}

static void dev_init(struct sva_dev *dev, struct sva_ctx *ctx, uint32_t width, const char *name)
{
	memset(dev, 0, sizeof(*dev));
	dev->ctx = ctx;
	dev->fd = -1;
	pthread_mutex_init(&dev->lock, NULL);
	dev->info.size = sizeof(dev->info);
	dev->info.max_pasid_log2 = width;
	snprintf(dev->info.path, sizeof(dev->info.path), "%s", name);
	if (sva_dev_pasids_init(dev))
		diag("sva_dev_pasids_init(%s) failed", name);
}

static void standalone_space(void)
{
	struct sva_pasid_space_opts o = { .size = sizeof(o), .min = 1, .max = 2 };
	struct sva_pasid_space *s;
	uint32_t p;
	void *d;

	/* Standalone spaces log through the process-wide log. */
	sva_log_init((struct sva_log *)sva_log_default(), capture, NULL, SVA_LOG_DEBUG);
	if (!is_int(sva_pasid_space_new(&o, &s), 0, "a standalone space [1, 2]"))
		return;
	OUTCOME(sva_pasid_lookup(s, 1, &d), -ENOENT, "sva_pasid_lookup of a free PASID");
	OUTCOME(sva_pasid_lookup(s, 0, &d), -ERANGE, "sva_pasid_lookup below the space");
	OUTCOME(sva_pasid_lookup(s, 7, &d), -ERANGE, "sva_pasid_lookup above the space");
	sva_pasid_alloc(s, NULL, &p);
	sva_pasid_alloc(s, NULL, &p);
	OUTCOME(sva_pasid_alloc(s, NULL, &p), -ENOSPC, "sva_pasid_alloc of a full space");
	sva_pasid_free(s, 2);
	OUTCOME(sva_pasid_alloc(s, NULL, &p), -ENOSPC, "sva_pasid_alloc with the rest in quarantine");

	REAL_ERROR(sva_pasid_free(s, 2), -ENOENT, "sva_pasid_free, a double free");
	REAL_ERROR(sva_pasid_free(s, 9), -ERANGE, "sva_pasid_free outside the space");
	REAL_ERROR(sva_pasid_release(s, 1), -EINVAL, "sva_pasid_release of an allocated PASID");
	sva_pasid_space_free(s);
}

static void device_pasids(void)
{
	struct sva_ctx ctx;
	struct sva_dev wide, narrow, none;
	struct sva_bond *bond;
	uint32_t p;
	void *d;

	ctx_init(&ctx, 256, 258); /* 3 global PASIDs */
	dev_init(&wide, &ctx, 20, "wide");     /* covers the global range, own [1, 255] */
	dev_init(&narrow, &ctx, 2, "narrow");  /* own [1, 3] only */
	dev_init(&none, &ctx, 0, "none");      /* no PASIDs */

	OUTCOME(sva_dev_pasid_lookup(&wide, 5, &d), -ENOENT, "sva_dev_pasid_lookup of a free device PASID");
	OUTCOME(sva_dev_pasid_lookup(&wide, 257, &d), -ENOENT, "sva_dev_pasid_lookup of a free global PASID");
	OUTCOME(sva_dev_pasid_lookup(&wide, SVA_PASID_MAX + 1, &d), -ERANGE,
		"sva_dev_pasid_lookup beyond 2^20-1");
	OUTCOME(sva_dev_pasid_lookup(&narrow, 256, &d), -ERANGE,
		"sva_dev_pasid_lookup of a global value on a non-covering device");
	OUTCOME(sva_dev_pasid_lookup(&narrow, 7, &d), -ERANGE,
		"sva_dev_pasid_lookup beyond the device's own space");
	OUTCOME(sva_dev_pasid_lookup(&none, 5, &d), -EOPNOTSUPP, "sva_dev_pasid_lookup without PASID support");

	/* sva_dev_bond_lookup logs nothing at all: it runs on fault paths. */
	SILENT(sva_dev_bond_lookup(&wide, 5, &bond, &d), -ENOENT, "sva_dev_bond_lookup: no bond there");
	SILENT(sva_dev_bond_lookup(&wide, SVA_PASID_RID, &bond, &d), -ENOENT, "sva_dev_bond_lookup: no RID bond");
	SILENT(sva_dev_bond_lookup(&narrow, 256, &bond, &d), -ERANGE, "sva_dev_bond_lookup: a value not on it");
	SILENT(sva_dev_bond_lookup(&none, 5, &bond, &d), -EOPNOTSUPP, "sva_dev_bond_lookup without PASIDs");

	for (int i = 0; i < 3; i++)
		sva_dev_pasid_alloc(&wide, SVA_PASID_GLOBAL, NULL, &p);
	OUTCOME(sva_dev_pasid_alloc(&wide, SVA_PASID_GLOBAL, NULL, &p), -ENOSPC,
		"sva_dev_pasid_alloc GLOBAL of a full global space");
	for (int i = 0; i < 3; i++)
		sva_dev_pasid_alloc(&narrow, SVA_PASID_DEVICE, NULL, &p);
	OUTCOME(sva_dev_pasid_alloc(&narrow, SVA_PASID_DEVICE, NULL, &p), -ENOSPC,
		"sva_dev_pasid_alloc DEVICE of a full own space");
	OUTCOME(sva_dev_pasid_alloc(&narrow, SVA_PASID_AUTO, NULL, &p), -ENOSPC,
		"sva_dev_pasid_alloc AUTO, own space full and no global one");
	for (int i = 0; i < 255; i++)
		sva_dev_pasid_alloc(&wide, SVA_PASID_DEVICE, NULL, &p);
	OUTCOME(sva_dev_pasid_alloc(&wide, SVA_PASID_AUTO, NULL, &p), -ENOSPC,
		"sva_dev_pasid_alloc AUTO with both spaces full");

	REAL_ERROR(sva_dev_pasid_alloc(&narrow, SVA_PASID_GLOBAL, NULL, &p), -ERANGE,
		   "sva_dev_pasid_alloc GLOBAL on a device that does not cover the range");
	REAL_ERROR(sva_dev_pasid_alloc(&none, SVA_PASID_AUTO, NULL, &p), -EOPNOTSUPP,
		   "sva_dev_pasid_alloc without PASID support");
	REAL_ERROR(sva_dev_pasid_free(&narrow, 256), -ERANGE, "sva_dev_pasid_free of a value not on the device");
	REAL_ERROR(sva_dev_pasid_free(&none, 1), -EOPNOTSUPP, "sva_dev_pasid_free without PASID support");

	/* Not attached yet: an answer a driver may ask for before it binds. */
	struct sva_iova_range r[4];
	size_t nr = 4;

	OUTCOME(sva_dev_iova_ranges(&wide, r, &nr), -ENOTCONN, "sva_dev_iova_ranges of a device not attached");

	sva_dev_pasids_fini(&wide);
	sva_dev_pasids_fini(&narrow);
	sva_dev_pasids_fini(&none);
	sva_ctx_pasids_fini(&ctx);
}

static void placement(void)
{
	struct sva_mem_opts o = { .size = sizeof(o), .flags = SVA_MEM_ANY_NODE };
	void *p;
	int debug;

	sva_log_init((struct sva_log *)sva_log_default(), capture, NULL, SVA_LOG_DEBUG);
	cap_reset();
	is_int(sva_mem_alloc(SIZE_MAX / 2, &o, &p), -ENOSPC, "sva_mem_alloc of more than user space: -ENOSPC");
	debug = cap.at[SVA_LOG_DEBUG];
	is_int(cap.at[SVA_LOG_ERROR] + cap.at[SVA_LOG_WARN], 0, "sva_mem_alloc -ENOSPC: no error or warning line (%s)",
	       cap.last);
	is_int(debug, 1, "sva_mem_alloc -ENOSPC: one debug line");
	REAL_ERROR(sva_mem_alloc(0, &o, &p), -EINVAL, "sva_mem_alloc of 0 bytes");
}

/*
 * sva_ctx_process_faults(3) from a log callback: -EDEADLK, and its error line
 * reaches the callback, nested.  A callback that calls it for every line (as
 * a test of that -EDEADLK would) is not re-entered without end: the refusal
 * made from the nested call logs nothing (sva_ctx_set_log(3)).
 */
static struct sva_ctx nest_ctx;
static int nest_depth, nest_max, nest_lines, nest_ret = 1, nest_ret0 = 1;

static void nesting(void *arg, enum sva_log_level level, const char *msg)
{
	(void)arg;
	(void)level;
	(void)msg;
	nest_lines++;
	if (++nest_depth > nest_max)
		nest_max = nest_depth;
	if (nest_depth < 64) { /* the old recursion ends here rather than in a stack overflow */
		int r = sva_ctx_process_faults(&nest_ctx, 1);

		if (nest_depth == 1) {
			nest_ret = r;
			/* Two mistakes at once: the place wins, as it does over
			 * thread mode's -EINVAL (sva_ctx_process_faults(3)). */
			nest_ret0 = sva_ctx_process_faults(&nest_ctx, 0);
		}
	}
	nest_depth--;
}

static void nested_refusal(void)
{
	ctx_init(&nest_ctx, 256, 1023);
	nest_ctx.fe.poll_mode = true;
	sva_ctx_set_log(&nest_ctx, nesting, NULL, SVA_LOG_DEBUG);
	sva_logf(&nest_ctx.log, SVA_LOG_ERROR, "a line");
	is_int(nest_ret, -EDEADLK, "sva_ctx_process_faults from a log callback: -EDEADLK");
	is_int(nest_ret0, -EDEADLK, "  with max 0 too: -EDEADLK, not max 0's -EINVAL");
	is_int(nest_max, 2, "its error line reaches the callback nested once, not again from there (depth %d)", nest_max);
	is_int(nest_lines, 3, "three lines: the first and the two refusals'");
}

int main(void)
{
	unsetenv("SVA_LOG");
	standalone_space();
	device_pasids();
	placement();
	nested_refusal();
	return done_testing();
}
