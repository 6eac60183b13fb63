/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * A context's fault queue: created at the first fault-capable bind (or
 * sva_ctx_fault_fd), with the fault thread that serves it, and destroyed
 * with the context.  Above both the batch engine (fault.c) and the thread
 * (fault_thread.c, which runs the engine): the engine never starts or stops
 * the thread that calls it (docs/design.md, "Layers").
 */
#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "internal.h"

#ifdef SVA_TEST_HOOKS
/* Tests only (libsva-test): called once a queue is made, before it is
 * published (ktest-fault-thread forks there). */
void (*sva_test_fault_queue_created)(void);
#define QUEUE_CREATED_HOOK()                          \
	do {                                          \
		if (sva_test_fault_queue_created)     \
			sva_test_fault_queue_created(); \
	} while (0)
/* Likewise, called when a queue whose thread did not start is unpublished,
 * before its descriptor is closed. */
void (*sva_test_fault_queue_dropped)(void);
#define QUEUE_DROPPED_HOOK()                          \
	do {                                          \
		if (sva_test_fault_queue_dropped)     \
			sva_test_fault_queue_dropped(); \
	} while (0)
#else
#define QUEUE_CREATED_HOOK() ((void)0)
#define QUEUE_DROPPED_HOOK() ((void)0)
#endif

/* 0, or -EBADFD (logged): nothing would answer a new fault-capable bond's faults. */
int sva_fault_in_service(struct sva_ctx *ctx)
{
	struct sva_fault_engine *fe = &ctx->fe;
	int err = atomic_load(&fe->thread_error);

	if (atomic_load(&fe->queue_lost))
		return sva_fail(&ctx->log, -EBADFD, "the context's fault queue was closed behind libsva's back: "
						    "no new fault-capable bond (release the context)");
	if (err)
		return sva_fail(&ctx->log, -EBADFD,
				"the context's fault thread stopped (%s): no new fault-capable bond (release the context)",
				strerror(-err));
	return 0;
}

int sva_fault_queue_get(struct sva_ctx *ctx, uint32_t *fault_id)
{
	struct sva_fault_engine *fe = &ctx->fe;
	int ret = 0, fd, cancel;
	uint32_t id;

	pthread_mutex_lock(&fe->setup);
	if (fe->fault_id)
		goto out;
	ret = sva_fault_bufs_alloc(fe);
	if (ret) {
		ret = sva_fail(&ctx->log, ret, "cannot set up fault handling: out of memory for its buffers");
		goto out;
	}
	/* Inside the fork guard, so that a fork() in another thread finds the
	 * descriptor either not yet made or noted for its child to close:
	 * published below only inside the gate, which a guarded section
	 * must not wait for (review Z78). */
	sva_guard_enter();
	ret = sva_iommufd_fault_alloc(ctx->fd, &id, &fd);
	if (!ret)
		fe->fault_fd_new = fd;
	sva_guard_leave();
	if (ret) {
		/* The kernel hint fits the errors an old kernel gives, not a
		 * broker's reply that broke the protocol (its line said what came), nor a full
		 * descriptor table, the process's or the system's: those have
		 * the remedies every descriptor libsva makes has. */
		const char *hint = ret == -EMFILE || ret == -ENFILE || ret == -EPROTO ? ""
				   : ret == -ENOMEM		    ? " (out of memory)"
								    : " (the kernel needs iommufd fault support, "
								      "Linux 6.11 or later)";

		ret = sva_fail_said(&ctx->log, ret, "IOMMU_FAULT_QUEUE_ALLOC failed: %s%s%s", strerror(-ret), hint,
			       sva_errno_remedy(ret, false));
		goto out;
	}
	QUEUE_CREATED_HOOK();
	/* Published under setup and the gate: a batch reads it inside the gate. */
	sva_fault_exclude(ctx);
	if (sva_file_id_of(fd, &fe->queue_file))
		fe->queue_file = (struct sva_file_id){ 0 }; /* not known: taken for ours */
	fe->fault_fd = fd;
	sva_fault_unexclude(ctx);
	fe->fault_fd_new = -1;
	fe->fault_id = id;
	if (!fe->poll_mode) {
		ret = sva_fault_thread_start(ctx);
		if (ret) {
			/* Noted again, for a fork()'s child, while it is
			 * unpublished and until it is closed (review Z144). */
			sva_guard_enter();
			fe->fault_fd_new = fd;
			sva_guard_leave();
			sva_fault_exclude(ctx);
			fe->fault_fd = -1;
			sva_fault_unexclude(ctx);
			QUEUE_DROPPED_HOOK();
			pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, &cancel); /* as in sva_fault_fini() */
			sva_guard_enter();
			close(fd);
			fe->fault_fd_new = -1;
			sva_guard_leave();
			pthread_setcancelstate(cancel, NULL);
			sva_iommufd_destroy(ctx->fd, id);
			fe->fault_id = 0;
		}
	}
out:
	if (!ret)
		*fault_id = fe->fault_id;
	pthread_mutex_unlock(&fe->setup);
	return ret;
}

/*
 * Nothing holds the queue's file once the fault thread is joined (it reaps
 * its ring's poll of the queue before it ends) and the descriptor closed
 * (children made by fork() closed their copies at the fork): IOMMU_DESTROY
 * then works at once.  What can still hold it: a child made without the fork
 * handlers (_Fork(), clone()) until it execs or exits, a page table kept
 * after a failed detach (sva_unbind(3)), an application thread still in a
 * call on the poll-mode descriptor.
 *
 * Where libsva opened the iommufd, closing it (right after this) destroys
 * the queue once the last of those lets go, as it destroys every other
 * object: nothing to wait for, nothing to warn about.  Where the iommufd
 * outlives the context (SVA_CTX_ADOPT_FD, a trusted broker client's), the
 * queue would stay in it until the application closes it: wait a second
 * for a holder that is about to let go (by the clock: 1000 sleeps of 1 ms
 * took 4 s under emulation), then say so (sva_ctx_free(3)).
 */
static void destroy_queue(struct sva_ctx *ctx, uint32_t id)
{
	bool adopted = ctx->flags & SVA_CTX_ADOPT_FD;
	uint64_t deadline = sva_now_ns() + 1000000000ull;
	int ret = sva_iommufd_destroy(ctx->fd, id);

	while (adopted && ret == -EBUSY && sva_now_ns() < deadline) {
		usleep(1000);
		ret = sva_iommufd_destroy(ctx->fd, id);
	}
	if (!ret || ret == -ENOENT)
		return;
	if (adopted)
		sva_logf(&ctx->log, SVA_LOG_WARN,
			 "the fault queue (object %u) could not be destroyed: %s; it stays in the adopted iommufd "
			 "until that is closed (something else still holds the queue: a child made without fork "
			 "handlers, or a page table kept after a failed detach)",
			 id, strerror(-ret));
	else
		sva_logf(&ctx->log, SVA_LOG_DEBUG,
			 "the fault queue (object %u) is still held (%s): it goes with the context's iommufd",
			 id, strerror(-ret));
}

/* The published descriptor closed, unless it was found closed behind our
 * back or now names another file (as far as fstat() tells): that is not
 * ours to close. */
static void queue_fd_close(struct sva_fault_engine *fe)
{
	if (fe->fault_fd >= 0 && !atomic_load(&fe->queue_lost) && sva_fault_queue_ours(fe))
		close(fe->fault_fd);
	fe->fault_fd = -1;
}

/*
 * In a forked child, from ctx.c's fork handler (the only thread there): the
 * child's copy of the queue's descriptor would hold the queue's file, so
 * that the parent's teardown could not destroy the queue (IOMMU_DESTROY says
 * EBUSY) for as long as the child lives without exec (review Z73); in an
 * iommufd the application keeps (SVA_CTX_ADOPT_FD), the queue would stay
 * there.  The child never reads the queue (sva_ctx_process_faults() and
 * sva_ctx_fault_fd() refuse in a child, and it has no fault thread), so its
 * copy goes at once, as does its copy of the number the fault thread's ring
 * keeps on kernels before 5.18.  A child made without the handlers (_Fork(),
 * clone()) keeps them until it execs or exits (libsva(7)).
 */
void sva_fault_child_after_fork(struct sva_ctx *ctx)
{
	struct sva_fault_engine *fe = &ctx->fe;
	int ring_fd = atomic_exchange(&fe->ring_fd, -1);

	int published = fe->fault_fd;

	queue_fd_close(fe);
	/* Forked while another thread was creating the queue, or dropping one
	 * whose thread did not start: its descriptor was open and not (or no
	 * longer) published. */
	if (fe->fault_fd_new >= 0 && fe->fault_fd_new != published)
		close(fe->fault_fd_new);
	fe->fault_fd_new = -1;
	/* The fault thread's ring, where it keeps a number (kernels before
	 * 5.18): it holds a poll of the queue.  (A ring still being made was
	 * waited for: fault_thread.c makes it inside the fork guard.) */
	if (ring_fd >= 0 && sva_fd_holds(ring_fd, &fe->ring_file))
		close(ring_fd);
}

void sva_fault_fini(struct sva_ctx *ctx)
{
	struct sva_fault_engine *fe = &ctx->fe;
	int cancel;

	/* A forked child has no copy of the thread, only of its wake-up fd. */
	if (fe->thread_started && !sva_ctx_forked(ctx))
		sva_fault_thread_stop(ctx);
	else if (fe->thread_started)
		sva_fault_thread_forget(ctx);
	/* Inside the fork guard: the context is still on the fork handler's
	 * list (ctx.c), and a child must find the number either open and
	 * noted or gone.  No cancel there: close() is a cancellation point,
	 * and a thread ended inside the section would stay counted in the
	 * guard, every later fork() waiting for it for ever. */
	pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, &cancel);
	sva_guard_enter();
	queue_fd_close(fe);
	sva_guard_leave();
	pthread_setcancelstate(cancel, NULL);
	/* The queue object dies with the iommufd; a child must not destroy the parent's. */
	if (fe->fault_id && !sva_ctx_forked(ctx))
		destroy_queue(ctx, fe->fault_id);
	sva_free(fe->buf);
	sva_free(fe->resp);
	sva_free(fe->info);
}

SVA_EXPORT int sva_ctx_fault_fd(struct sva_ctx *ctx)
{
	uint32_t id;
	int ret;

	if (!ctx)
		return sva_fail(sva_log_default(), -EINVAL, "sva_ctx_fault_fd: ctx is NULL");
	if (!ctx->fe.poll_mode)
		return sva_fail(&ctx->log, -EINVAL, "sva_ctx_fault_fd: the context runs a fault thread "
						    "(create it with SVA_CTX_FAULT_POLL for poll mode)");
	ret = sva_ctx_check_owner(ctx);
	if (!ret)
		ret = sva_fault_in_service(ctx); /* a bind checks it itself */
	if (ret)
		return ret;
	ret = sva_fault_queue_get(ctx, &id);
	if (ret)
		return ret;
	pthread_mutex_lock(&ctx->fe.setup);
	ret = ctx->fe.fault_fd;
	pthread_mutex_unlock(&ctx->fe.setup);
	return ret;
}
