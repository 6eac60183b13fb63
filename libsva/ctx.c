/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The context: one iommufd, its log, its global PASID space. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "broker_client.h"
#include "callback.h"
#include "fork.h"
#include "internal.h"
#include "pasid_space.h"
#include "sigblock.h"
#include "teardown.h"

/*
 * Every live context of the process, so that exit() can run the mm_exit
 * contract of their bonds (a destructor) as the kernel's SVA does at mm exit.
 */
static pthread_mutex_t all_lock = PTHREAD_MUTEX_INITIALIZER;
static struct sva_ctx *all_ctxs;

/*
 * fork() while another thread holds a lock that a forked child's cleanup
 * takes: the child's copy stays locked for good, and its sva_dev_close() or
 * sva_ctx_free() hangs.  The fault thread looks devices up under devs_lock
 * for every record it reads, an application thread may be creating a context
 * under all_lock, any thread may be logging.  So, as glibc does for malloc,
 * the forking thread takes all_lock and blocks the fork guard (fork_guard.c,
 * which every devs_lock and log-lock section enters) before the fork, and
 * releases both on each side: one lock and one wait, however many contexts.
 * The sections are brief and never wait or call out.  Order: all_lock, then
 * the guard, then devs_lock, then a log lock: nothing takes them the other
 * way round.  Registered after the arena's handler (a context is allocated
 * first), so these run before it: a devs_lock section may free, and the fork
 * takes the arena's lock only once no such section runs.
 *
 * Signals are held off on the forking thread from before all_lock until both
 * are released (glibc runs these handlers with signals open): a handler there
 * that enters a guarded section (a failing PASID lookup's debug line, which
 * libsva(7) allows in a handler) would wait for an unblock only this thread,
 * stuck in that handler, can make.  Its own nesting cannot tell: it is
 * counted in no section.  Held off, the signal arrives once fork() is done,
 * in the parent (the child inherits no pending signal).  The mask is the
 * forking thread's own, so a thread-local keeps it from prepare to parent or
 * child, which run on that thread (the child's copy of it).  The prepare
 * handlers registered before this one (the arena's, the allocator's, another
 * library's) run after it and so with signals held too; their parent and child
 * handlers run before the mask comes back.  Two system calls per fork.
 */
static _Thread_local sigset_t fork_mask;

#ifdef SVA_TEST_HOOKS
/* Tests only (libsva-test): called at the end of fork_prepare(), the guard
 * blocked, where a signal on the forking thread used to deadlock it. */
void (*sva_test_fork_prepare_hook)(void);
#define FORK_PREPARED() (sva_test_fork_prepare_hook ? sva_test_fork_prepare_hook() : (void)0)
#else
#define FORK_PREPARED() ((void)0)
#endif

static void fork_prepare(void)
{
	sva_fork_guard_check_self(); /* a fork from a handler inside a section: said, and no spin */
	sva_signals_hold(&fork_mask);
	pthread_mutex_lock(&all_lock);
	sva_fork_guard_block();
	FORK_PREPARED();
}

static void fork_parent(void)
{
	sva_fork_guard_unblock();
	pthread_mutex_unlock(&all_lock);
	sva_signals_restore(&fork_mask);
}

static void fork_child(void)
{
	/* The child's copies of the fault queues' descriptors go (see
	 * sva_fault_child_after_fork()); the list cannot change under all_lock. */
	for (struct sva_ctx *ctx = all_ctxs; ctx; ctx = ctx->all_next)
		sva_fault_child_after_fork(ctx);
	sva_fork_guard_unblock_child();
	pthread_mutex_unlock(&all_lock);
	sva_signals_restore(&fork_mask);
}

static void fork_install(void)
{
	pthread_atfork(fork_prepare, fork_parent, fork_child);
}

static void all_add(struct sva_ctx *ctx)
{
	static pthread_once_t once = PTHREAD_ONCE_INIT;

	pthread_once(&once, fork_install);
	pthread_mutex_lock(&all_lock);
	ctx->all_next = all_ctxs;
	all_ctxs = ctx;
	pthread_mutex_unlock(&all_lock);
}

static void all_remove_locked(struct sva_ctx *ctx)
{
	for (struct sva_ctx **pp = &all_ctxs; *pp; pp = &(*pp)->all_next) {
		if (*pp == ctx) {
			*pp = ctx->all_next;
			break;
		}
	}
}

static void all_remove(struct sva_ctx *ctx)
{
	pthread_mutex_lock(&all_lock);
	all_remove_locked(ctx);
	pthread_mutex_unlock(&all_lock);
}

/* Contexts the destructor leaves alone: made in another process, or opted out. */
static bool exit_skips(const struct sva_ctx *ctx)
{
	return sva_ctx_forked(ctx) || (ctx->flags & SVA_CTX_NO_EXIT_TEARDOWN);
}

__attribute__((destructor)) static void sva_at_exit(void)
{
	/*
	 * exit() from inside mm_exit or fault_error: the bond whose callback
	 * called it cannot finish tearing down, and waiting for it would hang.
	 * From a log callback: this thread may hold a device's lock, or be the
	 * fault thread inside a batch, which the teardown would wait for.
	 * Leave every bond to the kernel, which detaches them as the
	 * descriptors close.
	 */
	if (sva_in_callback() || sva_in_log_callback())
		return;
	for (;;) {
		struct sva_ctx *ctx;

		pthread_mutex_lock(&all_lock);
		/* A context whose last reference is gone is being released by
		 * the thread that dropped it (it leaves this list once its
		 * fault queue is closed): never revived here. */
		for (ctx = all_ctxs; ctx && (ctx->exit_done || exit_skips(ctx) || !sva_ctx_get_live(ctx));
		     ctx = ctx->all_next)
			;
		pthread_mutex_unlock(&all_lock);
		if (!ctx)
			return;
		sva_logf(&ctx->log, SVA_LOG_DEBUG, "process exit: tearing down the context's bonds");
		sva_teardown(ctx, SVA_TEARDOWN_CTX, ctx);
		/*
		 * At dlclose() the thread's code is about to go away: stop it
		 * first.  Not under fe.setup: a bind on another thread may hold
		 * its device's lock and wait for fe.setup while the thread's
		 * fault_error callback waits for that device's lock.  Once the
		 * queue exists nothing else starts or stops the thread, and the
		 * reference held here keeps sva_fault_fini() away.
		 */
		pthread_mutex_lock(&ctx->fe.setup);
		bool stop = ctx->fe.thread_started;
		pthread_mutex_unlock(&ctx->fe.setup);
		if (stop)
			sva_fault_thread_stop(ctx);
		/* Nothing bound remains; keep the devices (their fds close with
		 * the process).  It stays on the list, for the fork handler,
		 * while the application holds it. */
		pthread_mutex_lock(&all_lock);
		ctx->exit_done = true;
		pthread_mutex_unlock(&all_lock);
		sva_ctx_put(ctx); /* the last one now (a free raced the exit): released as anywhere */
	}
}

static int open_iommufd(struct sva_log *log, const char *path)
{
	int fd = open(path, O_RDWR | O_CLOEXEC), ret;

	if (fd < 0) {
		ret = -errno;
		switch (ret) {
		case -ENOENT:
			return sva_fail(log, ret,
					"%s does not exist: the kernel needs CONFIG_IOMMUFD (try 'modprobe iommufd')", path);
		case -EACCES:
		case -EPERM:
			return sva_fail(log, ret,
					"cannot open %s: permission denied; run as root or give your user access "
					"(a udev rule for the iommufd device node)", path);
		default:
			return sva_fail(log, ret, "cannot open %s: %s%s", path, strerror(-ret),
					sva_errno_remedy(ret, false));
		}
	}
	ret = sva_iommufd_check(fd);
	if (ret) {
		close(fd);
		return sva_fail(log, ret, "%s is not an iommufd device node", path);
	}
	return fd;
}

static int adopt_iommufd(struct sva_log *log, int passed)
{
	int fd, ret;

	if (passed < 0)
		return sva_fail(log, -EBADF, "adopted iommufd %d is not a file descriptor", passed);
	fd = fcntl(passed, F_DUPFD_CLOEXEC, 3);
	if (fd < 0 && errno == EBADF)
		return sva_fail(log, -EBADF, "adopted iommufd %d is not open", passed);
	if (fd < 0)
		return sva_fail(log, -errno, "cannot duplicate iommufd %d: %s%s", passed, strerror(errno),
				sva_errno_remedy(-errno, false));
	ret = sva_iommufd_check(fd);
	if (ret) {
		close(fd);
		return sva_fail(log, -ENOTTY, "adopted fd %d is not an iommufd (open /dev/iommu and pass that)",
				passed);
	}
	return fd;
}

#ifdef SVA_TEST_HOOKS
/* Tests only (libsva-test): called in a release just before the fault queue
 * goes (ktest-fault-thread forks there). */
void (*sva_test_ctx_releasing)(void);
#define RELEASING_HOOK()                        \
	do {                                    \
		if (sva_test_ctx_releasing)     \
			sva_test_ctx_releasing(); \
	} while (0)
#else
#define RELEASING_HOOK() ((void)0)
#endif

/*
 * The context leaves the fork handler's list only once its fault queue's
 * descriptor is closed: a fork() in another thread before that must find it
 * there, so that the child's copy of the descriptor goes at the fork and the
 * queue can be destroyed while the child lives.  The handler reads only the
 * fault engine's descriptors, which sva_fault_fini() clears inside the fork
 * guard.
 */
void sva_ctx_release(struct sva_ctx *ctx)
{
	sva_spare_binds_fini(ctx);
	RELEASING_HOOK();
	sva_fault_fini(ctx);
	all_remove(ctx);
	sva_ctx_pasids_fini(ctx);
	/* Out of the broker registry before the descriptor's number can be reused. */
	sva_broker_conn_free(ctx->broker);
	if (ctx->fd >= 0)
		close(ctx->fd);
	sva_free(ctx->sysfs_root);
	sva_free(ctx->dev_root);
	/*
	 * In a forked child the locks are copies: a condition variable a thread
	 * of the parent waited on at the fork counts a waiter that never leaves,
	 * and glibc's pthread_cond_destroy() waits for it forever.  The memory
	 * goes all the same.
	 */
	if (!sva_ctx_forked(ctx)) {
		sva_log_fini(&ctx->log);
		pthread_mutex_destroy(&ctx->devs_lock);
		pthread_mutex_destroy(&ctx->pasid_lock);
		pthread_mutex_destroy(&ctx->fe.lock);
		pthread_cond_destroy(&ctx->fe.gate_cv);
		pthread_mutex_destroy(&ctx->fe.setup);
		pthread_mutex_destroy(&ctx->bonds_lock);
		pthread_cond_destroy(&ctx->bonds_cv);
	}
	sva_free(ctx);
}

/*
 * A broker context: the broker client connects and hands over the
 * descriptor to adopt and the PASIDs leased; the context is built here, so
 * that broker_client.c never calls back into ctx.c (docs/design.md, "Layers").
 */
static int broker_ctx_new(const struct sva_ctx_opts *opts, struct sva_ctx **out)
{
	struct sva_ctx_opts local = *opts;
	struct sva_broker_conn *conn;
	struct sva_ctx *ctx;
	int fd = -1, ret;

	ret = sva_broker_connect(opts, &conn, &fd);
	if (ret)
		return ret;
	local.flags = (opts->flags & ~(SVA_CTX_BROKER | SVA_CTX_ISOLATED)) | SVA_CTX_ADOPT_FD;
	local.iommufd = fd;
	local.broker_path = NULL;
	local.global_pasid_min = conn->pasid_min;
	local.global_pasid_max = conn->pasid_max;
	ret = sva_ctx_new(&local, &ctx);
	if (!conn->isolated)
		close(fd); /* the context works on its own duplicate */
	if (ret) {
		sva_broker_conn_free(conn);
		return ret;
	}
	ret = sva_broker_adopt(conn, opts, ctx);
	if (ret) {
		sva_ctx_free(ctx);
		sva_broker_conn_free(conn);
		return ret; /* *out untouched, as sva_ctx_new(3) says */
	}
	*out = ctx;
	return 0;
}

void sva_ctx_init_core(struct sva_ctx *ctx)
{
	atomic_init(&ctx->refs, 1);
	ctx->release = sva_ctx_release;
	ctx->pid = getpid();
	ctx->fork_gen = sva_fork_gen_init();
	ctx->fd = -1;
	ctx->fe.fault_fd = -1;
	ctx->fe.fault_fd_new = -1;
	atomic_init(&ctx->fe.ring_fd, -1);
	ctx->fe.wake_fd = -1;
	pthread_mutex_init(&ctx->devs_lock, NULL);
	pthread_mutex_init(&ctx->pasid_lock, NULL);
	pthread_mutex_init(&ctx->fe.lock, NULL);
	pthread_cond_init(&ctx->fe.gate_cv, NULL);
	pthread_mutex_init(&ctx->fe.setup, NULL);
	pthread_mutex_init(&ctx->bonds_lock, NULL);
	pthread_cond_init(&ctx->bonds_cv, NULL);
}

/* A name option too long: not one of the -EINVAL argument checks, so the
 * caller's log hears it. */
static int refuse_name(const struct sva_ctx_opts *o, const char *what, const char *val, size_t max)
{
	return sva_fail_to(o->log_fn, o->log_arg, o->log_level, -ENAMETOOLONG,
			   "sva_ctx_new: %s '%.64s%s' is longer than %zu bytes", what, val,
			   strlen(val) > 64 ? "..." : "", max);
}

SVA_EXPORT int sva_ctx_new(const struct sva_ctx_opts *uopts, struct sva_ctx **out)
{
	struct sva_ctx_opts opts;
	struct sva_ctx *ctx;
	struct sva_log early;
	int fd, ret;

	if (!out)
		return sva_fail(sva_log_default(), -EINVAL, "sva_ctx_new: out is NULL");
	if (sva_opts_copy(&opts, sizeof(opts), uopts))
		return sva_opts_fail(sva_log_default(), "sva_ctx_new", "sva_ctx_opts", sizeof(opts), uopts);
	if (opts.flags &
	    ~(SVA_CTX_ADOPT_FD | SVA_CTX_FAULT_POLL | SVA_CTX_NO_EXIT_TEARDOWN | SVA_CTX_BROKER | SVA_CTX_ISOLATED))
		return sva_fail(sva_log_default(), -EINVAL, "sva_ctx_new: unknown flags 0x%x", opts.flags);
	if (opts.log_level < 0 || opts.log_level > SVA_LOG_OFF)
		return sva_fail(sva_log_default(), -EINVAL, "sva_ctx_new: bad log level %d", opts.log_level);
	/* The kernel keeps 15 bytes of a thread's name (TASK_COMM_LEN); every
	 * path libsva builds under a root must fit PATH_MAX (a root so long that
	 * one would be cut short is refused, not opened cut). */
	if (opts.fault_thread_name && !opts.fault_thread_name[0])
		return sva_fail(sva_log_default(), -EINVAL,
				"sva_ctx_new: fault_thread_name is empty (NULL names the thread sva-fault)");
	if (opts.fault_thread_name && strlen(opts.fault_thread_name) > 15)
		return refuse_name(&opts, "fault_thread_name", opts.fault_thread_name, 15);
	/* "" would put every path at the top of the tree, as "/" says plainly:
	 * an empty root is a mistake for NULL, the default. */
	if (opts.sysfs_root && !opts.sysfs_root[0])
		return sva_fail(sva_log_default(), -EINVAL,
				"sva_ctx_new: sysfs_root is empty (NULL means /sys; \"/\" a tree at the top)");
	if (opts.dev_root && !opts.dev_root[0])
		return sva_fail(sva_log_default(), -EINVAL,
				"sva_ctx_new: dev_root is empty (NULL means /dev; \"/\" a tree at the top)");
	/* open("") is -ENOENT, whose line would blame a kernel without iommufd
	 * for a mistake for NULL.  Ignored with SVA_CTX_ADOPT_FD and
	 * SVA_CTX_BROKER, as broker_path is without SVA_CTX_BROKER. */
	if (!(opts.flags & (SVA_CTX_ADOPT_FD | SVA_CTX_BROKER)) && opts.iommu_path && !opts.iommu_path[0])
		return sva_fail(sva_log_default(), -EINVAL,
				"sva_ctx_new: iommu_path is empty (NULL means /dev/iommu)");
	if (opts.sysfs_root && strlen(opts.sysfs_root) > SVA_ROOT_MAX)
		return refuse_name(&opts, "sysfs_root", opts.sysfs_root, SVA_ROOT_MAX);
	if (opts.dev_root && strlen(opts.dev_root) > SVA_ROOT_MAX)
		return refuse_name(&opts, "dev_root", opts.dev_root, SVA_ROOT_MAX);

	if (opts.flags & (SVA_CTX_BROKER | SVA_CTX_ISOLATED))
		return broker_ctx_new(&opts, out);

	/*
	 * The descriptor first, before the first allocation: the first one
	 * reserves libsva's arena for the process's life (1 GiB of address
	 * space), which a call that fails for want of the device node, or of
	 * permission to open it, or for a bad PASID range, must not leave
	 * behind (sva_ctx_new(3): a failed call changes nothing).  Want of
	 * room for the arena is still told first, as before.
	 */
	if (!sva_arena_room())
		return sva_fail_to(opts.log_fn, opts.log_arg, opts.log_level, -ENOMEM, "sva_ctx_new: " SVA_ARENA_ENOMEM);
	sva_log_init(&early, opts.log_fn, opts.log_arg, opts.log_level);
	if (!opts.global_pasid_min)
		opts.global_pasid_min = SVA_GLOBAL_PASID_MIN_DEFAULT;
	if (!opts.global_pasid_max)
		opts.global_pasid_max = SVA_GLOBAL_PASID_MAX_DEFAULT;
	if (opts.global_pasid_max > SVA_PASID_MAX || opts.global_pasid_min > opts.global_pasid_max)
		fd = sva_fail(&early, -ERANGE, "global PASID range [%u, %u] is empty or beyond %u", opts.global_pasid_min,
			      opts.global_pasid_max, SVA_PASID_MAX);
	else if (opts.flags & SVA_CTX_ADOPT_FD)
		fd = adopt_iommufd(&early, opts.iommufd);
	else
		fd = open_iommufd(&early, opts.iommu_path ? opts.iommu_path : "/dev/iommu");
	sva_log_fini(&early);
	if (fd < 0)
		return fd;
	ctx = sva_calloc(1, sizeof(*ctx));
	if (!ctx) {
		close(fd);
		return sva_fail_to(opts.log_fn, opts.log_arg, opts.log_level, -ENOMEM, "sva_ctx_new: " SVA_ARENA_ENOMEM);
	}
	sva_ctx_init_core(ctx);
	ctx->fd = fd; /* closed by the release of a call that fails below */
	ctx->flags = opts.flags;
	ctx->fe.poll_mode = opts.flags & SVA_CTX_FAULT_POLL;
	snprintf(ctx->fe.thread_name, sizeof(ctx->fe.thread_name), "%s",
		 opts.fault_thread_name ? opts.fault_thread_name : "sva-fault");
	ctx->fe.thread_init = opts.fault_thread_init;
	ctx->fe.thread_arg = opts.fault_thread_arg;
	sva_log_init(&ctx->log, opts.log_fn, opts.log_arg, opts.log_level);
	ctx->global_pasid_min = opts.global_pasid_min;
	ctx->global_pasid_max = opts.global_pasid_max;
	ctx->pasid_grace_ns = opts.pasid_grace_ns;
	ctx->sysfs_root = sva_strdup(opts.sysfs_root ? opts.sysfs_root : "/sys");
	ctx->dev_root = sva_strdup(opts.dev_root ? opts.dev_root : "/dev");
	if (!ctx->sysfs_root || !ctx->dev_root) {
		ret = sva_fail(&ctx->log, -ENOMEM, "sva_ctx_new: out of memory for its paths");
		goto err;
	}
	ret = sva_ctx_pasids_init(ctx);
	if (ret)
		goto err;
	sva_logf(&ctx->log, SVA_LOG_DEBUG, "context on iommufd %d", ctx->fd);
	all_add(ctx);
	*out = ctx;
	return 0;
err:
	sva_ctx_put(ctx);
	return ret;
}

SVA_EXPORT void sva_ctx_free(struct sva_ctx *ctx)
{
	if (!ctx)
		return;
	if (sva_callback_refusing()) {
		sva_fail(&ctx->log, -EDEADLK, "sva_ctx_free: called from %s, where it would wait for that "
			 "callback's own bond or lock; nothing was freed", sva_callback_refusing());
		return;
	}
	/* Freeing the context ends every bond in it (mm_exit first); devices and
	 * address spaces stay usable until released. */
	if (!sva_ctx_forked(ctx))
		sva_teardown(ctx, SVA_TEARDOWN_CTX, ctx);
	sva_ctx_put(ctx);
}

SVA_EXPORT int sva_ctx_fd(const struct sva_ctx *ctx)
{
	if (!ctx)
		return sva_fail(sva_log_default(), -EINVAL, "sva_ctx_fd: ctx is NULL");
	/* An isolated broker client has no iommufd (its fd is the broker's
	 * socket).  Its own flag, not the registry of proxied descriptors: a
	 * forked child's registry is empty, and the socket is no iommufd there
	 * either. */
	return ctx->broker && ctx->broker->isolated ? -EOPNOTSUPP : ctx->fd;
}

SVA_EXPORT void sva_ctx_set_log(struct sva_ctx *ctx, sva_log_fn fn, void *arg, enum sva_log_level level)
{
	if (ctx)
		sva_log_set(&ctx->log, fn, arg, (int)level);
}
