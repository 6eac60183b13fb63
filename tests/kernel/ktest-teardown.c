/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Teardown that cannot hang, spin or lie (issue 12), on the selftest mock:
 * mm_exit calling sva_mm_free() on its own address space, sva_unbind() on
 * its own bond or exit(); sva_mm_free() and sva_dev_close() while another
 * thread is inside a bond's mm_exit (waited for, not spun on); the opt-out of
 * exit-time teardown; an unbind whose detach fails.  alarm() turns a hang
 * into a failure.
 */
#include <limits.h>
#include <pthread.h>
#include <semaphore.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>

#include "ktest.h"
#include "../busy_window.h"

extern int sva_test_mock_detach_fail; /* backend_mock.c, libsva-test only */
extern void (*sva_test_ctx_release_hook)(struct sva_ctx *ctx); /* ctx_ref.c, likewise */
extern void (*sva_test_track_apply_hook)(void);			/* track.c, likewise */
extern void (*sva_test_vma_read_hook)(void);			/* vma.c, likewise */
extern void (*sva_test_rid_unpublish_hook)(struct sva_dev *dev); /* bond.c, likewise */
extern void (*sva_test_ioas_map_hook)(void);			   /* mm_map.c, likewise */
extern int (*sva_test_mock_pasid_attach_hook)(struct sva_dev *dev, uint32_t pasid); /* backend_mock.c */

static atomic_int g_errors, g_deadlk_lines;

static void count_log(void *arg, enum sva_log_level level, const char *msg)
{
	(void)arg;
	if (level == SVA_LOG_ERROR)
		atomic_fetch_add(&g_errors, 1);
	if (strstr(msg, "called from an mm_exit or fault_error callback"))
		atomic_fetch_add(&g_deadlk_lines, 1);
}

static struct sva_ctx *new_ctx(uint32_t flags, uint32_t gmin, uint32_t gmax)
{
	struct sva_ctx_opts o = { .size = sizeof(o), .flags = flags, .log_fn = count_log,
				  .log_level = SVA_LOG_WARN, .pasid_grace_ns = UINT64_MAX,
				  .global_pasid_min = gmin, .global_pasid_max = gmax };
	struct sva_ctx *ctx = NULL;
	int ret = sva_ctx_new(&o, &ctx);

	if (ret)
		ktest_bail("sva_ctx_new: %s", strerror(-ret));
	return ctx;
}

static struct sva_dev *open_mock(struct sva_ctx *ctx)
{
	struct sva_dev *dev = NULL;
	int ret = sva_dev_open_mock(ctx, NULL, &dev);

	if (ret)
		ktest_bail("sva_dev_open_mock: %s", strerror(-ret));
	return dev;
}

/* What an mm_exit does, chosen per test. */
enum exit_action { ACT_NONE, ACT_FREE_MM, ACT_UNBIND_SELF, ACT_SLEEP, ACT_EXIT, ACT_WRITE_PIPE };

struct drv {
	enum exit_action act;
	struct sva_mm *mm;
	atomic_int calls;
	atomic_int inside; /* 1 while mm_exit runs */
	int ret;	   /* what a call inside it returned */
	int fd;		   /* ACT_WRITE_PIPE */
};

static void on_mm_exit(struct sva_bond *bond, void *drvdata)
{
	struct drv *d = drvdata;

	atomic_fetch_add(&d->calls, 1);
	atomic_store(&d->inside, 1);
	switch (d->act) {
	case ACT_FREE_MM:
		sva_mm_free(d->mm);
		break;
	case ACT_UNBIND_SELF:
		d->ret = sva_unbind(bond);
		break;
	case ACT_SLEEP:
		usleep(200 * 1000);
		break;
	case ACT_EXIT:
		exit(7);
	case ACT_WRITE_PIPE:
		if (write(d->fd, "x", 1) != 1)
			_exit(3);
		break;
	case ACT_NONE:
		break;
	}
	atomic_store(&d->inside, 0);
}

static const struct sva_bond_ops g_ops = { .size = sizeof(g_ops), .mm_exit = on_mm_exit };

static struct sva_bond *bind_flags(struct sva_dev *dev, struct sva_mm *mm, struct drv *d, uint32_t flags)
{
	struct sva_bind_opts bo = { .size = sizeof(bo), .flags = SVA_BIND_PINNED | flags, .drvdata = d,
				    .ops = &g_ops };
	struct sva_bond *bond = NULL;
	int ret = sva_bind(dev, mm, &bo, &bond);

	if (ret)
		ktest_bail("sva_bind: %s", strerror(-ret));
	return bond;
}

static struct sva_bond *bind(struct sva_dev *dev, struct sva_mm *mm, struct drv *d)
{
	return bind_flags(dev, mm, d, 0);
}

/* mm_exit calls sva_mm_free() on its own address space, and sva_unbind() on its own bond. */
static void self_calls(void)
{
	struct sva_ctx *ctx = new_ctx(0, 0, 0);
	struct sva_dev *dev = open_mock(ctx);
	struct drv d = { .act = ACT_FREE_MM };
	struct sva_bond *bond;

	sva_mm_new(ctx, NULL, &d.mm);
	bind(dev, d.mm, &d);
	atomic_store(&g_deadlk_lines, 0);
	sva_mm_free(d.mm); /* a hang here is the old bug: alarm() fails the test */
	is_int(atomic_load(&d.calls), 1, "sva_mm_free from its own mm_exit: refused, no hang, mm_exit ran once");
	is_int(atomic_load(&g_deadlk_lines), 1, "the refused sva_mm_free logged one line (no stream of them)");

	/* From sva_unbind: the inner free is refused and mm stays usable. */
	d = (struct drv){ .act = ACT_FREE_MM };
	sva_mm_new(ctx, NULL, &d.mm);
	bond = bind(dev, d.mm, &d);
	is_int(sva_unbind(bond), 0, "sva_unbind whose mm_exit calls sva_mm_free(its mm): 0");
	bond = bind(dev, d.mm, &(struct drv){ .act = ACT_NONE });
	ok(bond != NULL, "the address space it tried to free is still usable (bound again)");
	sva_mm_free(d.mm);

	d = (struct drv){ .act = ACT_UNBIND_SELF };
	sva_mm_new(ctx, NULL, &d.mm);
	bond = bind(dev, d.mm, &d);
	is_int(sva_unbind(bond), 0, "sva_unbind whose mm_exit unbinds its own bond: 0");
	is_int(d.ret, -EDEADLK, "sva_unbind from inside mm_exit: -EDEADLK");
	sva_mm_free(d.mm);
	sva_dev_close(dev);
	sva_ctx_free(ctx);
}

struct unbinder {
	struct sva_bond *bond;
	int ret;
};

static void *do_unbind(void *arg)
{
	struct unbinder *u = arg;

	u->ret = sva_unbind(u->bond);
	return NULL;
}

/* sva_mm_free() (or sva_dev_close()) while another thread is inside that bond's mm_exit. */
static void concurrent(bool close_dev)
{
	const char *what = close_dev ? "sva_dev_close" : "sva_mm_free";
	struct sva_ctx *ctx = new_ctx(0, 0, 0);
	struct sva_dev *dev = open_mock(ctx);
	struct drv d = { .act = ACT_SLEEP };
	struct unbinder u;
	pthread_t t;

	sva_mm_new(ctx, NULL, &d.mm);
	u.bond = bind(dev, d.mm, &d);
	pthread_create(&t, NULL, do_unbind, &u);
	while (!atomic_load(&d.inside))
		usleep(1000);
	atomic_store(&g_errors, 0);
	if (close_dev)
		sva_dev_close(dev);
	else
		sva_mm_free(d.mm);
	ok(atomic_load(&d.inside) == 0, "%s during another thread's mm_exit returned after that mm_exit", what);
	pthread_join(t, NULL);
	is_int(u.ret, 0, "%s concurrent: the unbinding thread's sva_unbind returned 0", what);
	is_int(atomic_load(&d.calls), 1, "%s concurrent: mm_exit ran once", what);
	is_int(atomic_load(&g_errors), 0, "%s concurrent: waited without a single error line (no busy loop)", what);
	if (close_dev)
		sva_mm_free(d.mm);
	else
		sva_dev_close(dev);
	sva_ctx_free(ctx);
}

/* A child's wait status as a shell would give it: its exit status, or 128 + the signal. */
static int exit_code(int st)
{
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

/* In a child: a context whose bond's mm_exit does `act`, then leave through exit(). */
static int child_exit(enum exit_action act, uint32_t ctx_flags, int fd, bool free_ctx)
{
	pid_t pid = fork();
	int st;

	if (pid == 0) {
		struct sva_ctx *ctx = new_ctx(ctx_flags, 0, 0);
		static struct drv d;

		alarm(10);
		d = (struct drv){ .act = act, .fd = fd };
		sva_mm_new(ctx, NULL, &d.mm);
		/* The RID: the kernel's mock object cannot be destroyed at
		 * process exit with a PASID still attached (a WARNING). */
		bind_flags(open_mock(ctx), d.mm, &d, SVA_BIND_RID);
		if (free_ctx)
			sva_ctx_free(ctx);
		exit(0);
	}
	if (pid < 0 || waitpid(pid, &st, 0) != pid)
		return -1;
	return exit_code(st);
}

static void exit_paths(void)
{
	int p[2], n;
	char c;

	is_int(child_exit(ACT_EXIT, 0, -1, true), 7, "mm_exit calling exit() from sva_ctx_free: exits, no hang");
	is_int(child_exit(ACT_EXIT, 0, -1, false), 7, "mm_exit calling exit() from the exit destructor: exits");
	if (pipe(p))
		ktest_bail("pipe: %s", strerror(errno));
	is_int(child_exit(ACT_WRITE_PIPE, 0, p[1], false), 0, "a child with a bond exits");
	n = (int)read(p[0], &c, 1);
	is_int(n, 1, "exit() ran the bond's mm_exit (the default)");
	is_int(child_exit(ACT_WRITE_PIPE, SVA_CTX_NO_EXIT_TEARDOWN, p[1], false), 0,
	       "a child with SVA_CTX_NO_EXIT_TEARDOWN exits");
	close(p[1]);
	n = (int)read(p[0], &c, 1);
	is_int(n, 0, "SVA_CTX_NO_EXIT_TEARDOWN: exit() ran no mm_exit");
	close(p[0]);
}

/*
 * exit() from a log callback.  The callback may run while libsva holds its
 * locks (sva_ctx_set_log(3)): on the fault thread inside a batch (a refused
 * fault's info line), or in a bind holding its device's lock (the attach's
 * error line).  The exit destructor's teardown then waited for that batch or
 * lock for good; it now leaves the bonds to the kernel, as from mm_exit.
 */
static atomic_int log_exit_status; /* read on the fault thread */

static void exit_on_line(void *arg, enum sva_log_level level, const char *msg)
{
	/* Once: the refusals of the atexit() cleanup log error lines too. */
	if ((level == SVA_LOG_ERROR || strstr(msg, "I/O page fault")) && atomic_load(&log_exit_status)) {
		int status = atomic_exchange(&log_exit_status, 0);

		if (status)
			exit(status);
	}
	(void)arg;
}

static int refuse_attach(struct sva_dev *dev, uint32_t pasid)
{
	(void)dev;
	(void)pasid;
	return -EIO;
}

/* An application's atexit() cleanup, run after exit() in the log callback on
 * that thread: its calls are refused as inside mm_exit, not waited out. */
static struct sva_ctx *cleanup_ctx;
static struct sva_bond *cleanup_bond;

static void cleanup_at_exit(void)
{
	if (sva_unbind(cleanup_bond) != -EDEADLK)
		_exit(93);
	sva_ctx_free(cleanup_ctx);
}

/* In a child: exit(`status`) from the log callback at a refused fault (on the
 * fault thread) or at a failed PASID attach (under the device lock), with
 * `cleanup` an atexit() handler that unbinds and frees the context. */
static int child_log_exit(bool at_fault, int status, bool cleanup)
{
	pid_t pid = fork();
	int st;

	if (pid == 0) {
		struct sva_ctx_opts o = { .size = sizeof(o), .log_fn = exit_on_line, .log_level = SVA_LOG_INFO };
		struct sva_bind_opts rid = { .size = sizeof(rid), .flags = SVA_BIND_RID };
		struct sva_bind_opts pinned = { .size = sizeof(pinned), .flags = SVA_BIND_PINNED };
		struct sva_ctx *ctx;
		struct sva_dev *dev;
		struct sva_mm *mm, *mm2;
		struct sva_bond *b, *b2;

		alarm(10);
		if (sva_ctx_new(&o, &ctx) || sva_dev_open_mock(ctx, NULL, &dev) || sva_mm_new(ctx, NULL, &mm) ||
		    sva_mm_new(ctx, NULL, &mm2))
			_exit(90);
		/* The RID carries the bond mm_exit would be run for. */
		if (sva_bind(dev, mm, &rid, &b))
			_exit(91);
		cleanup_ctx = ctx;
		cleanup_bond = b;
		if (cleanup && atexit(cleanup_at_exit))
			_exit(94);
		atomic_store(&log_exit_status, status);
		if (at_fault) {
			/* Nothing mapped there: refused, with an info line. */
			sva_dev_inject_fault(dev, 0, 0x7d000000ull, SVA_ACCESS_READ, 0);
			for (;;)
				pause();
		}
		sva_test_mock_pasid_attach_hook = refuse_attach;
		sva_bind(dev, mm2, &pinned, &b2);
		_exit(92);
	}
	if (pid < 0 || waitpid(pid, &st, 0) != pid)
		return -1;
	return exit_code(st);
}

static void exit_from_log_callback(void)
{
	is_int(child_log_exit(true, 5, false), 5,
	       "exit() in the log callback at a refused fault (the fault thread): exits");
	is_int(child_log_exit(false, 6, false), 6,
	       "exit() in the log callback at a bind's attach error (device lock held): exits");
	is_int(child_log_exit(true, 5, true), 5, "  the same with an atexit() handler that unbinds and frees: exits");
	is_int(child_log_exit(false, 6, true), 6, "  and at the attach error too");
}

/*
 * exit() while another thread drops a context's last reference: the exit
 * destructor must leave that context to the release under way, not take a
 * reference back from zero and tear it down beside the release (each would
 * then stop the fault thread and one would use freed memory).  The hook holds
 * the releasing thread between its last put and the release while exit()
 * runs; the destructor's debug line says whether it took the context.
 */
static sem_t race_entered;
static int race_log_fd = -1;

static void race_log(void *arg, enum sva_log_level level, const char *msg)
{
	(void)arg;
	(void)level;
	if (strstr(msg, "process exit: tearing down") && write(race_log_fd, "x", 1) != 1)
		_exit(3);
}

static void race_hold_release(struct sva_ctx *ctx)
{
	(void)ctx;
	sem_post(&race_entered);
	for (;;)
		pause(); /* exit() ends the process meanwhile, however long it takes */
}

static void *race_free(void *arg)
{
	sva_ctx_free(arg);
	return NULL;
}

static void exit_races_release(void)
{
	int p[2], st = 0;
	char c;
	pid_t pid;

	if (pipe(p))
		ktest_bail("pipe: %s", strerror(errno));
	pid = fork();
	if (pid == 0) {
		struct sva_ctx_opts o = { .size = sizeof(o), .log_fn = race_log, .log_level = SVA_LOG_DEBUG };
		struct sva_ctx *ctx = NULL;
		pthread_t t;

		alarm(10);
		close(p[0]);
		race_log_fd = p[1];
		sem_init(&race_entered, 0, 0);
		if (sva_ctx_new(&o, &ctx))
			_exit(2);
		sva_test_ctx_release_hook = race_hold_release;
		if (pthread_create(&t, NULL, race_free, ctx))
			_exit(2);
		sem_wait(&race_entered);
		exit(0);
	}
	close(p[1]);
	ok(pid > 0 && waitpid(pid, &st, 0) == pid && WIFEXITED(st) && WEXITSTATUS(st) == 0,
	   "exit() while another thread releases the context: exits 0 (status 0x%x)", st);
	is_int((int)read(p[0], &c, 1), 0, "the exit destructor left a context whose last reference was gone alone");
	close(p[0]);
}

/*
 * fork() while another thread holds one of libsva's process-wide locks: the
 * coherence monitor applying an event, a fault reading the process's
 * mappings.  The child has only the forking thread, and must still be able
 * to make a context, an address space and a bond of its own and resolve a
 * fault (libsva(7): "a child never inherits one held").  A hook holds the
 * lock in the parent while it forks.
 */
static sem_t lock_held, lock_release;

#define FORK_VA 0x58000000ull /* inside the mock's aperture [16 MiB, 2 GiB) */

/* Held until the forking process has waited for its child (10 s at most). */
static void hold_lock(void)
{
	struct timespec until;

	sem_post(&lock_held);
	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += 10;
	while (sem_timedwait(&lock_release, &until) && errno == EINTR)
		;
}

/* In the child: its own context, address space and bond, one fault resolved. */
static int child_works(void)
{
	struct sva_ctx_opts o = { .size = sizeof(o), .flags = SVA_CTX_FAULT_POLL, .log_level = SVA_LOG_ERROR };
	struct sva_bind_opts bo = { .size = sizeof(bo) };
	struct sva_bond_stats st = { .size = sizeof(st) };
	struct sva_ctx *ctx;
	struct sva_dev *dev;
	struct sva_mm *mm;
	struct sva_bond *bond;
	char *p;

	sva_test_track_apply_hook = NULL;
	sva_test_vma_read_hook = NULL;
	p = ktest_map_at(FORK_VA + 0x100000, 4096, PROT_READ | PROT_WRITE); /* inside the mock's aperture */
	if (sva_ctx_new(&o, &ctx) || sva_dev_open_mock(ctx, NULL, &dev) ||
	    sva_mm_new(ctx, NULL, &mm) || sva_bind(dev, mm, &bo, &bond))
		return 2;
	p[0] = 1;
	if (sva_dev_inject_fault(dev, sva_bond_pasid(bond), (uintptr_t)p, SVA_ACCESS_READ, 0) ||
	    sva_ctx_process_faults(ctx, 1) != 1 || sva_bond_stats(bond, &st) || st.faults != 1 || st.invalid)
		return 3;
	sva_unbind(bond);
	sva_mm_free(mm);
	sva_dev_close(dev);
	sva_ctx_free(ctx);
	return 0;
}

/* In a process of its own (the hook stalls its monitor or fault thread):
 * hold the lock, fork, and report how the child did. */
static int fork_under_lock(bool monitor)
{
	pid_t pid = fork(), child;
	int st;

	if (pid < 0)
		return -1;
	if (pid == 0) {
		struct sva_ctx *ctx = new_ctx(0, 0, 0);
		struct sva_dev *dev = open_mock(ctx);
		struct sva_bind_opts bo = { .size = sizeof(bo) };
		struct sva_mm *mm;
		struct sva_bond *bond;
		char *p = ktest_map_at(FORK_VA, 8192, PROT_READ | PROT_WRITE);

		alarm(20);
		sem_init(&lock_held, 0, 0);
		sem_init(&lock_release, 0, 0);
		if (sva_mm_new(ctx, NULL, &mm) || sva_bind(dev, mm, &bo, &bond))
			_exit(4);
		p[0] = p[4096] = 1;
		if (monitor) {
			/* Mapped and registered, then unmapped: the monitor applies it. */
			if (sva_mm_prefault(mm, p, 8192))
				_exit(4);
			sva_test_track_apply_hook = hold_lock;
			munmap(p, 8192);
		} else {
			/* The fault thread's first fault reads the mappings. */
			sva_test_vma_read_hook = hold_lock;
			if (sva_dev_inject_fault(dev, sva_bond_pasid(bond), (uintptr_t)p, SVA_ACCESS_READ, 0))
				_exit(4);
		}
		sem_wait(&lock_held);
		sva_test_track_apply_hook = NULL; /* held once; later events pass */
		sva_test_vma_read_hook = NULL;
		child = fork();
		if (child == 0) {
			alarm(10); /* a lock the child inherited held: a hang, killed */
			_exit(child_works());
		}
		if (child < 0 || waitpid(child, &st, 0) != child)
			_exit(5);
		sem_post(&lock_release);
		/* Unbound before the exit: the kernel's mock cannot be destroyed
		 * with a PASID attached (a WARNING).  Waits for the hook. */
		sva_unbind(bond);
		_exit(exit_code(st));
	}
	if (waitpid(pid, &st, 0) != pid)
		return -1;
	return exit_code(st);
}

/*
 * The calls a forked child may make on its parent's objects that only read
 * (libsva(7): "Calls that only read libsva's own memory still answer"), with
 * the parent's threads inside a prefault's map (map_lock) and a bind's attach
 * (the device's lock) at the fork: fork() does not wait for those (they are
 * held across system calls), and the child must not wait for them either.
 */
static int hold_attach(struct sva_dev *dev, uint32_t pasid)
{
	(void)dev;
	(void)pasid;
	hold_lock();
	return 0;
}

struct reader_bg {
	struct sva_dev *dev;
	struct sva_mm *mm;
	void *p;
	struct sva_bond *bond;
};

static void *bg_prefault(void *arg)
{
	struct reader_bg *b = arg;

	sva_mm_prefault(b->mm, b->p, 4096);
	return NULL;
}

static void *bg_bind(void *arg)
{
	struct reader_bg *b = arg;
	struct sva_bind_opts bo = { .size = sizeof(bo), .flags = SVA_BIND_EXTRA_PASID };

	sva_bind(b->dev, b->mm, &bo, &b->bond);
	return NULL;
}

static int child_reads_parent(void)
{
	pid_t pid = fork(), child;
	int st;

	if (pid < 0)
		return -1;
	if (pid == 0) {
		struct sva_ctx *ctx = new_ctx(SVA_CTX_FAULT_POLL, 0, 0);
		struct sva_bind_opts bo = { .size = sizeof(bo) };
		struct reader_bg b = { .dev = open_mock(ctx) };
		struct sva_bond *bond;
		pthread_t t1, t2;

		alarm(20);
		sem_init(&lock_held, 0, 0);
		sem_init(&lock_release, 0, 0);
		b.p = ktest_map_at(FORK_VA + 0x200000, 4096, PROT_READ | PROT_WRITE);
		if (sva_mm_new(ctx, NULL, &b.mm) || sva_bind(b.dev, b.mm, &bo, &bond))
			_exit(4);
		sva_test_ioas_map_hook = hold_lock;
		sva_test_mock_pasid_attach_hook = hold_attach;
		if (pthread_create(&t1, NULL, bg_prefault, &b) || pthread_create(&t2, NULL, bg_bind, &b))
			_exit(4);
		sem_wait(&lock_held);
		sem_wait(&lock_held);
		sva_test_ioas_map_hook = NULL; /* held once each */
		sva_test_mock_pasid_attach_hook = NULL;
		child = fork();
		if (child == 0) {
			struct sva_mm_stats ms = { .size = sizeof(ms) };
			struct sva_dev_info di = { .size = sizeof(di) };

			alarm(10); /* a lock the child waits for: a hang, killed */
			if (sva_mm_stats(b.mm, &ms) || (ms.flags & SVA_MM_STAT_TRACKED))
				_exit(2);
			_exit(sva_dev_get_info(b.dev, &di) ? 3 : 0);
		}
		if (child < 0 || waitpid(child, &st, 0) != child)
			_exit(5);
		sem_post(&lock_release);
		sem_post(&lock_release);
		pthread_join(t1, NULL);
		pthread_join(t2, NULL);
		if (b.bond)
			sva_unbind(b.bond);
		sva_unbind(bond); /* the kernel's mock: no PASID attached at exit */
		_exit(exit_code(st));
	}
	if (waitpid(pid, &st, 0) != pid)
		return -1;
	return exit_code(st);
}

static void fork_inherits_no_lock(void)
{
	is_int(child_reads_parent(), 0,
	       "fork() during a prefault's map and a bind's attach: the child's sva_mm_stats() and "
	       "sva_dev_get_info() of the parent's objects answer");
#ifdef KTEST_TSAN
	skip(2, "ThreadSanitizer refuses new threads in the child of a multi-threaded fork");
	return;
#endif
	is_int(fork_under_lock(true), 0,
	       "fork() while the monitor applies an event: the child makes an address space and resolves a fault");
	is_int(fork_under_lock(false), 0,
	       "fork() while a fault reads the mappings: the child makes an address space and resolves a fault");
}

/*
 * A RID bind while another thread's unbind of the RID is clearing the
 * (bond, drvdata) pair: the bind must not land between the unbind's stores,
 * or the lookup keeps the new bond with the old one's cleared drvdata.  The
 * hook holds the unbind between them.
 */
static sem_t unpub_in, unpub_go;

static void hold_unpublish(struct sva_dev *dev)
{
	(void)dev;
	sem_post(&unpub_in);
	sem_wait(&unpub_go);
}

static void *unbind_thread(void *arg)
{
	sva_unbind(arg);
	return NULL;
}

static void rid_unbind_vs_bind(void)
{
	struct sva_ctx *ctx = new_ctx(0, 0, 0);
	struct sva_dev *dev = open_mock(ctx);
	struct sva_bind_opts bo = { .size = sizeof(bo), .flags = SVA_BIND_RID, .drvdata = (void *)0x1111 };
	struct sva_bond *a = NULL, *b = NULL, *found = NULL;
	struct sva_mm *mm;
	void *data = NULL;
	pthread_t t;
	int ret;

	sem_init(&unpub_in, 0, 0);
	sem_init(&unpub_go, 0, 0);
	if (sva_mm_new(ctx, NULL, &mm) || sva_bind(dev, mm, &bo, &a))
		ktest_bail("RID bind failed");
	sva_test_rid_unpublish_hook = hold_unpublish;
	if (pthread_create(&t, NULL, unbind_thread, a))
		ktest_bail("pthread_create");
	sem_wait(&unpub_in);
	bo.drvdata = (void *)0x2222;
	ret = sva_bind(dev, mm, &bo, &b);
	is_int(ret, -EBUSY, "a RID bind while the RID's unbind clears its lookup: -EBUSY");
	sem_post(&unpub_go);
	pthread_join(t, NULL);
	sva_test_rid_unpublish_hook = NULL;
	if (ret)
		ret = sva_bind(dev, mm, &bo, &b);
	is_int(ret, 0, "the same bind once the unbind returned: 0");
	ret = sva_dev_bond_lookup(dev, SVA_PASID_RID, &found, &data);
	ok(ret == 0 && found == b && data == (void *)0x2222,
	   "the RID's lookup gives the new bond and its drvdata (%d, %p)", ret, data);
	if (b)
		sva_unbind(b);
	sva_mm_free(mm);
	sva_dev_close(dev);
	sva_ctx_free(ctx);
}

struct fe_drv {
	struct sva_mm *mm;
	int unbind_ret, poll_ret;
	atomic_int calls;
};

static void on_fault_error(struct sva_bond *bond, const struct sva_fault_report *rep, void *drvdata)
{
	struct fe_drv *d = drvdata;

	(void)rep;
	d->unbind_ret = sva_unbind(bond);
	d->poll_ret = sva_ctx_process_faults(bond->dev->ctx, 1);
	sva_mm_free(d->mm); /* refused: logged, nothing freed */
	atomic_fetch_add(&d->calls, 1);
}

/* fault_error runs with the engine's lock held: unbind and fault processing
 * from it are refused instead of waiting for that lock forever. */
static void fault_error_calls(void)
{
	static const struct sva_bond_ops ops = { .size = sizeof(ops), .fault_error = on_fault_error };
	struct sva_ctx *ctx = new_ctx(SVA_CTX_FAULT_POLL, 0, 0);
	struct sva_dev *dev = open_mock(ctx);
	struct fe_drv d = { 0 };
	struct sva_bind_opts bo = { .size = sizeof(bo), .drvdata = &d, .ops = &ops };
	struct sva_bond *bond;

	sva_mm_new(ctx, NULL, &d.mm);
	if (sva_bind(dev, d.mm, &bo, &bond))
		ktest_bail("fault-capable bind on the mock failed");
	/* Nothing is mapped there: the fault fails and fault_error runs. */
	is_int(ktest_inject_and_wait(dev, bond, 0x50000000ull, SVA_ACCESS_READ, 5000), 0, "a failing fault was handled");
	is_int(atomic_load(&d.calls), 1, "fault_error ran and returned");
	is_int(d.unbind_ret, -EDEADLK, "sva_unbind from fault_error: -EDEADLK");
	is_int(d.poll_ret, -EDEADLK, "sva_ctx_process_faults from fault_error: -EDEADLK");
	is_int(sva_unbind(bond), 0, "the bond unbinds after the callback");
	sva_mm_free(d.mm);
	sva_dev_close(dev);
	sva_ctx_free(ctx);
}

/* A detach that fails: -EIO, the PASID never comes back, the HWPT stays attached. */
static void failed_detach(void)
{
	const uint32_t gmin = 0x10000;
	struct sva_ctx *ctx = new_ctx(0, gmin, gmin + 1); /* two global values */
	struct sva_dev *dev = open_mock(ctx);
	struct sva_pasid_stats st = { .size = sizeof(st) };
	struct drv d = { .act = ACT_NONE }, d2 = { .act = ACT_NONE };
	struct sva_bond *bond;
	struct sva_mm *mm2;
	struct sva_hwpt *kept;
	uint32_t pasid, hwpt;

	sva_mm_new(ctx, NULL, &d.mm);
	bond = bind(dev, d.mm, &d);
	pasid = sva_bond_pasid(bond);
	hwpt = bond->hwpt->id;
	kept = bond->hwpt; /* stays on the address space's list after the failed detach */
	ok(pasid >= gmin, "bound under global PASID %u", pasid);
	sva_test_mock_detach_fail = -EBUSY;
	is_int(sva_unbind(bond), -EIO, "sva_unbind whose detach fails: -EIO");
	ok(kept->dev == NULL, "the kept HWPT belongs to no device (no later bind shares it)");
	is_int(ktest_pasid_check(dev, pasid, hwpt), 0, "kernel: PASID %u is still attached to its HWPT %u, which exists",
	       pasid, hwpt);
	sva_pasid_barrier(sva_ctx_global_pasids(ctx));
	sva_pasid_stats(sva_ctx_global_pasids(ctx), &st);
	ok(st.quarantined == 1 && st.allocated == 0, "after a barrier the PASID is still quarantined (%llu, %llu)",
	   (unsigned long long)st.quarantined, (unsigned long long)st.allocated);
	sva_mm_new(ctx, NULL, &mm2);
	for (int i = 0; i < 3; i++) {
		bond = bind(dev, mm2, &d2);
		if (!ok(sva_bond_pasid(bond) != pasid, "bind %d after it gets another PASID (%u)", i,
			sva_bond_pasid(bond)))
			break;
		sva_unbind(bond);
		sva_pasid_barrier(sva_ctx_global_pasids(ctx));
	}
	sva_mm_free(mm2);
	/* The kept HWPT belongs to no device: closing this one and opening
	 * another (the same memory, most often) must not attach the new device
	 * to the old device's HWPT. */
	sva_dev_close(dev);
	dev = open_mock(ctx);
	bond = bind(dev, d.mm, &d2);
	ok(bond->hwpt->id != hwpt, "a device opened after the close binds the address space through a HWPT of its own "
				   "(%u, the kept one %u)", bond->hwpt->id, hwpt);
	is_int(sva_unbind(bond), 0, "and unbinds");
	sva_mm_free(d.mm);
	sva_dev_close(dev);
	sva_ctx_free(ctx);
}

/* What iommufd holds pinned for this process, in kB. */
static long vm_pin_kb(void)
{
	return ktest_self_status_num("VmPin");
}

/*
 * sva_mm_free(3) after a failed detach: the kept HWPT holds the IOAS, so it
 * cannot be destroyed, but it is emptied: its pages are unpinned and the
 * device that may still use the PASID reaches nothing.  The old code left
 * both until the context was freed.
 */
static void failed_detach_unpins(void)
{
	const uint64_t va = 0x50000000ull;
	const size_t len = 64 * 1024;
	struct sva_ctx *ctx = new_ctx(0, 0, 0);
	struct sva_dev *dev = open_mock(ctx);
	struct drv d = { .act = ACT_NONE };
	unsigned char back[8] = { 0 };
	struct sva_bond *bond;
	uint32_t ioas;
	long before = vm_pin_kb();
	unsigned char *buf = ktest_map_at(va, len, PROT_READ | PROT_WRITE);

	memset(buf, 0x99, len);
	sva_mm_new(ctx, NULL, &d.mm);
	bond = bind(dev, d.mm, &d);
	ioas = d.mm->ioas_id;
	is_int(sva_mm_prefault(d.mm, buf, len), 0, "prefault 64 KiB");
	ok(vm_pin_kb() >= before + 64, "VmPin grew by the prefault (%ld kB, %ld before)", vm_pin_kb(), before);
	sva_test_mock_detach_fail = -EBUSY;
	is_int(sva_unbind(bond), -EIO, "sva_unbind whose detach fails: -EIO");
	sva_test_mock_detach_fail = 0;
	sva_mm_free(d.mm);
	is_int(vm_pin_kb(), before, "sva_mm_free unpinned the address space the kept HWPT holds (VmPin %ld kB)",
	       vm_pin_kb());
	ok(ktest_access_rw(ctx, ioas, va, back, sizeof(back), 0) != 0 && back[0] != 0x99,
	   "the device reaches nothing through its IOAS %u any more", ioas);
	sva_dev_close(dev);
	sva_ctx_free(ctx);
	munmap(buf, len);
}

/*
 * The three lock-free lookups from a signal handler that interrupts, on its
 * own thread, the bind or unbind of the very value looked up
 * (busy_window.h): the handler used to spin there for ever.
 */
static struct sva_dev *hl_dev;
static struct sva_pasid_space *hl_global;
static volatile uint32_t hl_pasid;

/* 0 unless a bond found is not one of this test's, with its own drvdata. */
static int hl_lookup(void)
{
	struct sva_bond *b = NULL;
	void *d = NULL, *d2 = NULL;
	int torn = sva_dev_bond_lookup(hl_dev, hl_pasid, &b, &d) == 0 && sva_bond_drvdata(b) != d;

	if (hl_pasid != SVA_PASID_RID) {
		sva_dev_pasid_lookup(hl_dev, hl_pasid, &d2);
		sva_pasid_lookup(hl_global, hl_pasid, &d2);
	}
	return torn;
}

/* A RID bind and unbind, then an SVA_BIND_PASID one; _exit(10) or (11) if a
 * call fails. */
static void hl_binds(void)
{
	struct sva_bind_opts rid = { .size = sizeof(rid), .flags = SVA_BIND_RID, .drvdata = (void *)0x1111 };
	struct sva_bind_opts chosen = { .size = sizeof(chosen), .flags = SVA_BIND_PASID, .drvdata = (void *)0x2222 };
	struct sva_ctx *ctx = new_ctx(0, 0, 0);
	struct sva_bond *a = NULL, *b = NULL;
	struct sva_mm *mm = NULL;
	uint32_t pasid = 0;
	void (*hook)(void) = sva_test_busy_window_hook;
	int ret;

	/* No signal while the device opens: only the binds' windows count. */
	sva_test_busy_window_hook = NULL;
	hl_dev = open_mock(ctx);
	hl_global = sva_ctx_global_pasids(ctx);
	ret = sva_mm_new(ctx, NULL, &mm);
	if (!ret)
		ret = sva_dev_pasid_alloc(hl_dev, SVA_PASID_GLOBAL, (void *)0x3333, &pasid);
	if (ret)
		_exit(10);
	chosen.pasid = pasid;
	sva_test_busy_window_hook = hook;
	hl_pasid = SVA_PASID_RID;
	ret = sva_bind(hl_dev, mm, &rid, &a) || sva_unbind(a);
	hl_pasid = pasid;
	ret = ret || sva_bind(hl_dev, mm, &chosen, &b) || sva_unbind(b);
	sva_test_busy_window_hook = NULL;
	if (ret)
		_exit(11);
	sva_dev_pasid_free(hl_dev, pasid);
	sva_mm_free(mm);
	sva_dev_close(hl_dev);
	sva_ctx_free(ctx);
}

static void lookups_in_handler(void)
{
	int ret = busy_window_run(hl_binds, hl_lookup, 2, INT_MAX);

	is_int(ret, 0,
	       "lookups in a signal handler interrupting a RID and an SVA_BIND_PASID bind and unbind of that value "
	       "on its thread: all return, pairs whole (busy_window_run: %d)",
	       ret);
}

int main(void)
{
	struct sva_ctx *ctx;
	struct sva_dev *dev;
	int ret;

	ktest_require_iommufd();
	ctx = new_ctx(0, 0, 0);
	ret = sva_dev_open_mock(ctx, NULL, &dev);
	ktest_skip_without_mock(ret);
	if (!is_int(ret, 0, "sva_dev_open_mock"))
		return done_testing();
	sva_dev_close(dev);
	sva_ctx_free(ctx);
	alarm(60); /* a hang is the bug: SIGALRM ends the test as a failure */
	self_calls();
	concurrent(false);
	concurrent(true);
	exit_paths();
	exit_from_log_callback();
	exit_races_release();
	fork_inherits_no_lock();
	rid_unbind_vs_bind();
	fault_error_calls();
	failed_detach();
	failed_detach_unpins();
	lookups_in_handler();
	return done_testing();
}
