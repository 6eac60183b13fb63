/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Black-box review of libsva(7), "One libsva per process", against the
 * installed form of the library: every other test links the convenience
 * library, so nothing else loads libsva.so.1 or unloads it.  This program
 * links no libsva at all; it dlopen(3)s the built shared library (next to
 * itself, as the test VM packs it, or in the build tree's libsva/.libs;
 * SVA_TEST_LIBSVA names another) and calls only what <sva/sva.h> declares.
 * Checked, sentence by sentence:
 *  - dlclose(3) once every object is freed: the library's threads are gone,
 *    its code is unmapped, and the process goes on (fork, threads, munmap of
 *    memory it tracked);
 *  - what it leaves open: the coherence monitor's eventfd, one per load that
 *    created a tracked address space, and nothing else;
 *  - objects still alive at the unload: each bond's mm_exit runs, as at
 *    exit(3), and the iommufd, fault queue and maps descriptors stay open;
 *  - a second copy loaded by another path with RTLD_LOCAL runs its own code
 *    and shares nothing: memory the first copy tracks is untracked for it
 *    (prefault maps it with a warning naming another userfaultfd, or fails
 *    -EBUSY under SVA_MM_TRACK_STRICT).
 * Without /dev/iommu only the load, the unload and the two copies' code are
 * checked.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <sva/sva.h>

#include "../tap.h"
#include "ktest_proc.h"

#define PG 4096ul
#define REGION (16 * PG)
/* Inside the mock's window [16 MiB, 2 GiB) (libsva(7), The mock device). */
#define SLOT(n) ((uintptr_t)0x50000000ul + (uintptr_t)(n) * 0x1000000ul)
#define MAXFD 1024

/* One loaded copy: the API through dlsym, typed by the header's declarations. */
struct lib {
	void *h;
	char path[PATH_MAX];
	__typeof__(&sva_log_level_name) log_level_name;
	__typeof__(&sva_ctx_new) ctx_new;
	__typeof__(&sva_ctx_free) ctx_free;
	__typeof__(&sva_dev_open_mock) dev_open_mock;
	__typeof__(&sva_dev_close) dev_close;
	__typeof__(&sva_mm_new) mm_new;
	__typeof__(&sva_mm_free) mm_free;
	__typeof__(&sva_mm_prefault) mm_prefault;
	__typeof__(&sva_mm_stats) mm_stats;
	__typeof__(&sva_bind) bind;
	__typeof__(&sva_unbind) unbind;
	__typeof__(&sva_bond_pasid) bond_pasid;
	__typeof__(&sva_dev_inject_fault) dev_inject_fault;
};

static bool sym(void *h, const char *name, void *fp)
{
	void *p = dlsym(h, name);

	memcpy(fp, &p, sizeof(p)); /* object to function pointer, as POSIX allows */
	if (!p)
		diag("dlsym(%s): %s", name, dlerror());
	return p != NULL;
}

static bool lib_open(struct lib *l, const char *path)
{
	memset(l, 0, sizeof(*l));
	snprintf(l->path, sizeof(l->path), "%s", path);
	l->h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
	if (!l->h) {
		diag("dlopen(%s): %s", path, dlerror());
		return false;
	}
	bool all = true;
#define S(f) all &= sym(l->h, "sva_" #f, &l->f)
	S(log_level_name);
	S(ctx_new);
	S(ctx_free);
	S(dev_open_mock);
	S(dev_close);
	S(mm_new);
	S(mm_free);
	S(mm_prefault);
	S(mm_stats);
	S(bind);
	S(unbind);
	S(bond_pasid);
	S(dev_inject_fault);
#undef S
	return all;
}

static int lib_close(struct lib *l)
{
	int r = dlclose(l->h);

	l->h = NULL;
	return r;
}

/* Is a file of this path still mapped, or still known to the dynamic loader? */
static bool mapped(const char *path)
{
	char line[PATH_MAX + 256], real[PATH_MAX];
	bool found = false;
	FILE *f = fopen("/proc/self/maps", "r");

	if (!realpath(path, real))
		snprintf(real, sizeof(real), "%s", path);
	while (f && fgets(line, sizeof(line), f)) {
		char *p = strchr(line, '/');

		if (p) {
			p[strcspn(p, "\n")] = 0;
			found |= !strcmp(p, real);
		}
	}
	if (f)
		fclose(f);
	return found;
}

static bool loaded(const char *path)
{
	void *h = dlopen(path, RTLD_NOW | RTLD_NOLOAD);

	if (h)
		dlclose(h);
	return h != NULL;
}

static int count_tasks(void)
{
	return ktest_count_tasks();
}

/*
 * The task count once it reaches want, waiting up to a second: a thread that
 * pthread_join() has returned for (its exit is done: the kernel cleared its
 * tid) may stay listed in /proc/self/task a moment longer.
 */
static int tasks_settle(int want)
{
	int n = count_tasks();

	for (int i = 0; i < 100 && n != want; i++) {
		usleep(10000);
		n = count_tasks();
	}
	return n;
}

/* What each descriptor is: "" where closed. */
struct fdset {
	char what[MAXFD][96];
};

static struct fdset *fdset_new(void)
{
	struct fdset *s = malloc(sizeof(*s));

	if (!s)
		tap_bail("out of memory for a descriptor snapshot");
	return s;
}

static void fds_snap(struct fdset *s)
{
	for (int fd = 0; fd < MAXFD; fd++) {
		char p[64];
		ssize_t n;

		snprintf(p, sizeof(p), "/proc/self/fd/%d", fd);
		n = readlink(p, s->what[fd], sizeof(s->what[fd]) - 1);
		s->what[fd][n > 0 ? n : 0] = 0;
	}
}

/* Descriptors open in b that were not open (or were something else) in a;
 * each one's name into names, separated by ", ". */
static int fds_new(const struct fdset *a, const struct fdset *b, char *names, size_t len, const char *like)
{
	int n = 0;

	if (names)
		names[0] = 0;
	for (int fd = 0; fd < MAXFD; fd++) {
		if (!b->what[fd][0] || !strcmp(a->what[fd], b->what[fd]))
			continue;
		if (like && !strstr(b->what[fd], like))
			continue;
		n++;
		if (names && strlen(names) + strlen(b->what[fd]) + 16 < len) {
			char one[128];

			snprintf(one, sizeof(one), "%s%d=%s", names[0] ? ", " : "", fd, b->what[fd]);
			strcat(names, one);
		}
	}
	return n;
}

/* ----------------------------------------------------------- log capture */
static pthread_mutex_t cap_lock = PTHREAD_MUTEX_INITIALIZER;
static char cap_text[16384];

static void cap_fn(void *arg, enum sva_log_level level, const char *msg)
{
	(void)arg;
	(void)level;
	pthread_mutex_lock(&cap_lock);
	if (strlen(cap_text) + strlen(msg) + 2 < sizeof(cap_text)) {
		strcat(cap_text, msg);
		strcat(cap_text, "\n");
	}
	pthread_mutex_unlock(&cap_lock);
}

static void cap_reset(void)
{
	pthread_mutex_lock(&cap_lock);
	cap_text[0] = 0;
	pthread_mutex_unlock(&cap_lock);
}

/* ----------------------------------------------------------- callbacks */
static int exits; /* mm_exit calls (this program's code: it stays mapped) */

static void on_mm_exit(struct sva_bond *bond, void *drvdata)
{
	(void)bond;
	(void)drvdata;
	__atomic_fetch_add(&exits, 1, __ATOMIC_SEQ_CST);
}

static const struct sva_bond_ops ops = { .size = sizeof(ops), .mm_exit = on_mm_exit };

/* ----------------------------------------------------------- after the unload */
static const char *alarm_what;

static void on_alarm(int sig)
{
	static const char msg[] = "not ok - hung after dlclose: ";

	(void)sig;
	if (write(1, msg, sizeof(msg) - 1) < 0 || write(1, alarm_what, strlen(alarm_what)) < 0 ||
	    write(1, "\n", 1) < 0)
		_exit(3);
	_exit(2);
}

static void *thread_fn(void *arg)
{
	return arg;
}

/*
 * Nothing of the library runs any more: a fork (its atfork handlers, were they
 * left registered, would jump into unmapped code), a thread, memory mapped and
 * unmapped, and the munmap of a range it tracked (with its userfaultfd left
 * registered and unread, that munmap would wait for the monitor for good).
 */
static void process_goes_on(const char *label, void *tracked, size_t len)
{
	struct sigaction sa = { .sa_handler = on_alarm };
	pthread_t t;
	pid_t pid;
	int st = -1;

	sigaction(SIGALRM, &sa, NULL);
	alarm_what = label;
	alarm(30);
	if (tracked)
		ok(munmap(tracked, len) == 0, "%s: munmap of memory it tracked returns", label);
	void *p = mmap(NULL, REGION, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	bool mm_ok = p != MAP_FAILED && (memset(p, 1, REGION), munmap(p, REGION) == 0);
	ok(mm_ok, "%s: new mmap, touch, munmap", label);
	pid = fork();
	if (pid == 0)
		_exit(7);
	if (pid > 0)
		while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
			;
	ok(pid > 0 && WIFEXITED(st) && WEXITSTATUS(st) == 7, "%s: fork: the child runs and exits (status %#x)",
	   label, st);
	int before = count_tasks();
	ok(!pthread_create(&t, NULL, thread_fn, NULL) && !pthread_join(t, NULL), "%s: a new thread starts and ends",
	   label);
	tasks_settle(before); /* the next case's baseline */
	alarm(0);
}

static void *map_region(int slot)
{
	void *p = mmap((void *)SLOT(slot), REGION, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);

	if (p == MAP_FAILED || p != (void *)SLOT(slot))
		tap_bail("cannot map slot %d: %s", slot, strerror(errno));
	memset(p, 0x5a, REGION);
	return p;
}

static struct sva_ctx *new_ctx(struct lib *l, bool capture)
{
	struct sva_ctx_opts o = { .size = sizeof(o) };
	struct sva_ctx *c = NULL;
	int r;

	if (capture) {
		o.log_fn = cap_fn;
		o.log_level = SVA_LOG_DEBUG;
	}
	r = l->ctx_new(&o, &c);
	if (r)
		diag("sva_ctx_new: %d", r);
	return r ? NULL : c;
}

/* ----------------------------------------------------------- no kernel needed */
static void load_unload(const char *so)
{
	struct lib l;
	struct fdset *a = fdset_new(), *b = fdset_new();
	int t0 = count_tasks();
	char names[1024];

	fds_snap(a);
	ok(!loaded(so) && !mapped(so), "no libsva in the process before the load (this test links none)");
	if (!ok(lib_open(&l, so), "dlopen(%s) and every symbol used", so)) {
		free(a);
		free(b);
		tap_bail("cannot load %s", so);
	}
	ok(l.log_level_name(SVA_LOG_WARN) != NULL,
	   "the loaded copy answers (sva_log_level_name)");
	is_int(lib_close(&l), 0, "dlclose with nothing created");
	ok(!loaded(so) && !mapped(so), "unloaded: not known to the loader, not mapped");
	fds_snap(b);
	is_int(fds_new(a, b, names, sizeof(names), NULL), 0, "no descriptor left open (%s)", names);
	is_int(tasks_settle(t0), t0, "no thread left");
	process_goes_on("load/unload", NULL, 0);
	free(a);
	free(b);
}

/* ----------------------------------------------------------- the kernel cases */
static bool have_mock(const char *so)
{
	struct lib l;
	struct sva_ctx *c;
	struct sva_dev *d = NULL;
	int r = -1;

	if (!lib_open(&l, so))
		return false;
	c = new_ctx(&l, false);
	if (c)
		r = l.dev_open_mock(c, NULL, &d);
	l.dev_close(d);
	l.ctx_free(c);
	lib_close(&l);
	if (r)
		diag("no mock device (%d)", r);
	return r == 0;
}

/* Load, then a context, the mock, a tracked address space and a bond of it
 * (ops' callbacks): 0, or the first call's error. */
static int bring_up(struct lib *l, const char *so, struct sva_ctx **c, struct sva_dev **d, struct sva_mm **m,
		    struct sva_bond **bond)
{
	struct sva_bind_opts bo = { .size = sizeof(bo), .ops = &ops };
	int r;

	if (!lib_open(l, so) || !(*c = new_ctx(l, false)))
		tap_bail("cannot load %s or make a context", so);
	r = l->dev_open_mock(*c, NULL, d);
	if (!r)
		r = l->mm_new(*c, NULL, m);
	if (!r)
		r = l->bind(*d, *m, &bo, bond);
	return r;
}

/* Sentences 1 and 2: everything freed, then unloaded. */
static void freed_then_unloaded(const char *so)
{
	struct fdset *a = fdset_new(), *b = fdset_new();
	struct lib l;
	struct sva_ctx *c;
	struct sva_dev *d = NULL;
	struct sva_mm *m = NULL;
	struct sva_bond *bond = NULL;
	char names[2048];
	int t0 = count_tasks(), r;
	void *buf = map_region(0);

	fds_snap(a);
	r = bring_up(&l, so, &c, &d, &m, &bond);
	if (!r)
		r = l.mm_prefault(m, buf, REGION / 2);
	/* A fault the fault thread resolves: its code has run. */
	if (!r)
		r = l.dev_inject_fault(d, l.bond_pasid(bond), (uint64_t)(uintptr_t)buf + REGION - PG, SVA_ACCESS_READ, 0);
	is_int(r, 0, "freed: device, tracked address space, bond, prefault, fault");
	ok(count_tasks() > t0, "freed: the library runs threads (%d, %d before the load)", count_tasks(), t0);
	exits = 0;
	is_int(l.unbind(bond), 0, "freed: sva_unbind");
	l.mm_free(m);
	l.dev_close(d);
	l.ctx_free(c);
	is_int(exits, 1, "freed: mm_exit ran once, at the unbind");
	/* The monitor stopped with the last tracked address space; a new one
	 * starts it again, in the same load: still one eventfd. */
	c = new_ctx(&l, false);
	m = NULL;
	r = c ? l.mm_new(c, NULL, &m) : -1;
	is_int(r, 0, "freed: another tracked address space, after the first was freed");
	l.mm_free(m);
	l.ctx_free(c);
	is_int(lib_close(&l), 0, "freed: dlclose");
	ok(!loaded(so) && !mapped(so), "freed: unloaded, its code unmapped");
	is_int(tasks_settle(t0), t0, "freed: its threads are gone after the unload");
	is_int(exits, 1, "freed: nothing called back after the unload");
	fds_snap(b);
	int n = fds_new(a, b, names, sizeof(names), NULL);
	ok(n == 1 && fds_new(a, b, NULL, 0, "eventfd") == 1,
	   "freed: left open is the coherence monitor's eventfd and nothing else (%d: %s)", n, names);
	process_goes_on("freed", buf, REGION);
	free(a);
	free(b);
}

/* Sentence 3: objects still alive at the unload. */
static void alive_at_unload(const char *so)
{
	struct fdset *a = fdset_new(), *pre = fdset_new(), *b = fdset_new();
	struct lib l;
	struct sva_ctx *c;
	struct sva_dev *d = NULL, *d2 = NULL;
	struct sva_mm *m = NULL;
	struct sva_bond *pb = NULL, *rb = NULL;
	struct sva_bind_opts bo = { .size = sizeof(bo), .ops = &ops };
	struct sva_bind_opts ro = { .size = sizeof(ro), .flags = SVA_BIND_RID, .ops = &ops };
	char names[2048];
	int t0 = count_tasks(), r;
	void *buf = map_region(1);

	fds_snap(a);
	if (!lib_open(&l, so) || !(c = new_ctx(&l, false)))
		tap_bail("cannot load %s or make a context", so);
	r = l.dev_open_mock(c, NULL, &d);
	if (!r)
		r = l.dev_open_mock(c, NULL, &d2);
	if (!r)
		r = l.mm_new(c, NULL, &m);
	if (!r)
		r = l.bind(d, m, &bo, &pb);
	if (!r)
		r = l.bind(d2, m, &ro, &rb);
	if (!r)
		r = l.mm_prefault(m, buf, REGION);
	if (!r)
		r = l.dev_inject_fault(d, l.bond_pasid(pb), (uint64_t)(uintptr_t)buf, SVA_ACCESS_READ, 0);
	is_int(r, 0, "alive: two devices, a PASID and a RID bond, prefault, fault");
	exits = 0;
	fds_snap(pre);
	is_int(lib_close(&l), 0, "alive: dlclose with the context, devices, address space and bonds alive");
	ok(!loaded(so) && !mapped(so), "alive: unloaded, its code unmapped");
	is_int(exits, 2, "alive: each bond's mm_exit ran, as at exit (the PASID and the RID bond)");
	is_int(tasks_settle(t0), t0, "alive: its threads are gone after the unload");
	fds_snap(b);
	fds_new(a, pre, names, sizeof(names), NULL);
	diag("alive: open before the unload: %s", names);
	fds_new(a, b, names, sizeof(names), NULL);
	diag("alive: open after the unload: %s", names);
	/* What stays: every descriptor of the live objects, unchanged. */
	int kept = 0, closed = 0;
	for (int fd = 0; fd < MAXFD; fd++) {
		if (!pre->what[fd][0] || !strcmp(a->what[fd], pre->what[fd]))
			continue;
		if (!strcmp(pre->what[fd], b->what[fd]))
			kept++;
		else if (!b->what[fd][0])
			closed++;
	}
	is_int(fds_new(pre, b, names, sizeof(names), NULL), 0, "alive: the unload opened nothing (%s)", names);
	is_int(fds_new(a, b, NULL, 0, "/dev/iommu"), 1, "alive: the iommufd stays open");
	is_int(fds_new(a, b, NULL, 0, "iommufd-pgfault"), 1, "alive: the fault queue stays open");
	is_int(fds_new(a, b, NULL, 0, "/maps"), 1, "alive: the maps descriptor stays open");
	is_int(fds_new(a, b, NULL, 0, "eventfd"), 1, "alive: one eventfd (the monitor's) stays open");
	fds_new(a, b, names, sizeof(names), NULL);
	is_int(fds_new(a, b, NULL, 0, NULL), 4, "alive: and nothing else (%s)", names);
	diag("alive: %d descriptors kept, %d closed by the unload", kept, closed);
	process_goes_on("alive", buf, REGION);
	free(a);
	free(pre);
	free(b);
}

/* "One per load that created a tracked address space": a load that made only
 * untracked ones leaves nothing open. */
static void untracked_only(const char *so)
{
	struct fdset *a = fdset_new(), *b = fdset_new();
	struct sva_mm_opts uo = { .size = sizeof(uo), .flags = SVA_MM_UNTRACKED };
	struct lib l;
	struct sva_ctx *c;
	struct sva_mm *m = NULL;
	char names[2048];
	int t0 = count_tasks();

	fds_snap(a);
	if (!lib_open(&l, so) || !(c = new_ctx(&l, false)))
		tap_bail("cannot load %s or make a context", so);
	is_int(l.mm_new(c, &uo, &m), 0, "untracked only: an SVA_MM_UNTRACKED address space");
	l.mm_free(m);
	l.ctx_free(c);
	is_int(lib_close(&l), 0, "untracked only: dlclose");
	is_int(tasks_settle(t0), t0, "untracked only: no thread left");
	fds_snap(b);
	is_int(fds_new(a, b, names, sizeof(names), NULL), 0, "untracked only: no descriptor left open (%s)", names);
	free(a);
	free(b);
}

/*
 * The context freed (its bonds with it), its device and address space still
 * open and holding it: the unload stops its fault thread and the monitor too.
 */
static void ctx_freed_first(const char *so)
{
	struct fdset *a = fdset_new(), *b = fdset_new();
	struct lib l;
	struct sva_ctx *c;
	struct sva_dev *d = NULL;
	struct sva_mm *m = NULL;
	struct sva_bond *bond = NULL;
	char names[2048];
	int t0 = count_tasks(), r;
	void *buf = map_region(3);

	fds_snap(a);
	r = bring_up(&l, so, &c, &d, &m, &bond);
	if (!r)
		r = l.dev_inject_fault(d, l.bond_pasid(bond), (uint64_t)(uintptr_t)buf, SVA_ACCESS_WRITE, 0);
	is_int(r, 0, "ctx freed first: device, tracked address space, bond, fault");
	exits = 0;
	l.ctx_free(c);
	is_int(exits, 1, "ctx freed first: sva_ctx_free ran the bond's mm_exit");
	is_int(lib_close(&l), 0, "ctx freed first: dlclose with its device and address space open");
	ok(!loaded(so) && !mapped(so), "ctx freed first: unloaded, its code unmapped");
	is_int(exits, 1, "ctx freed first: no mm_exit again at the unload");
	is_int(tasks_settle(t0), t0, "ctx freed first: its threads are gone after the unload");
	fds_snap(b);
	fds_new(a, b, names, sizeof(names), NULL);
	is_int(fds_new(a, b, NULL, 0, "eventfd"), 1, "ctx freed first: one eventfd (the monitor's) stays open (%s)",
	       names);
	is_int(fds_new(a, b, NULL, 0, "userfaultfd"), 0, "ctx freed first: no userfaultfd stays open");
	process_goes_on("ctx freed first", buf, REGION);
	free(a);
	free(b);
}

/* Sentence "One libsva per process": a second copy by another path. */
static void two_copies(const char *so, const char *copy)
{
	struct fdset *a = fdset_new(), *b = fdset_new();
	struct lib l1, l2;
	struct sva_ctx *c1, *c2;
	struct sva_mm *m1 = NULL, *m2 = NULL, *m2s = NULL;
	struct sva_mm_opts strict = { .size = sizeof(strict), .flags = SVA_MM_TRACK_STRICT };
	char names[2048];
	int t0 = count_tasks(), r;
	void *buf = map_region(2);

	fds_snap(a);
	if (!lib_open(&l1, so) || !lib_open(&l2, copy))
		tap_bail("cannot load both copies");
	ok(mapped(so) && mapped(copy), "two copies: both mapped");
	ok((void *)l1.ctx_new != (void *)l2.ctx_new && (void *)l1.mm_prefault != (void *)l2.mm_prefault,
	   "two copies: each has its own code");
	c1 = new_ctx(&l1, false);
	c2 = new_ctx(&l2, true);
	r = c1 && c2 ? 0 : -1;
	if (!r)
		r = l1.mm_new(c1, NULL, &m1);
	if (!r)
		r = l1.mm_prefault(m1, buf, REGION);
	if (!r)
		r = l2.mm_new(c2, NULL, &m2);
	if (!r)
		r = l2.mm_new(c2, &strict, &m2s);
	is_int(r, 0, "two copies: a tracked address space in each, the first's prefaulted");
	if (!r) {
		int t = count_tasks();
		ok(t >= t0 + 2, "two copies: each runs its own coherence monitor (%d threads, %d before)", t, t0);
	} else {
		skip(1, "no address spaces");
	}
	cap_reset();
	r = m2 ? l2.mm_prefault(m2, buf, REGION) : -1;
	is_int(r, 0, "two copies: the second's prefault maps memory the first tracks");
	pthread_mutex_lock(&cap_lock);
	{
		char range[64];

		snprintf(range, sizeof(range), "0x%lx-0x%lx", (unsigned long)SLOT(2), (unsigned long)(SLOT(2) + REGION));
		ok(strstr(cap_text, range) && strstr(cap_text, "another userfaultfd") && strstr(cap_text, "untracked"),
		   "two copies: with a warning that names another userfaultfd (the range's own) and says untracked");
	}
	diag("second copy's log: %s", cap_text);
	pthread_mutex_unlock(&cap_lock);
	{
		struct sva_mm_stats st = { .size = sizeof(st) };

		r = m2 ? l2.mm_stats(m2, &st) : -1;
		ok(!r && st.untracked_ranges == 1 && st.untracked_bytes == REGION && st.untracked_reason == -EBUSY,
		   "two copies: the second counts it untracked, -EBUSY (%llu ranges, %llu bytes, reason %d)",
		   (unsigned long long)st.untracked_ranges, (unsigned long long)st.untracked_bytes,
		   st.untracked_reason);
	}
	r = m2s ? l2.mm_prefault(m2s, buf, REGION) : -1;
	is_int(r, -EBUSY, "two copies: SVA_MM_TRACK_STRICT: the second's prefault fails -EBUSY");
	l2.mm_free(m2s);
	l2.mm_free(m2);
	l2.ctx_free(c2);
	l1.mm_free(m1);
	l1.ctx_free(c1);
	is_int(lib_close(&l2), 0, "two copies: dlclose of the second");
	ok(!mapped(copy) && mapped(so), "two copies: the second unloaded, the first still there");
	is_int(lib_close(&l1), 0, "two copies: dlclose of the first");
	ok(!mapped(so) && !loaded(so), "two copies: the first unloaded");
	is_int(tasks_settle(t0), t0, "two copies: every thread gone");
	fds_snap(b);
	int n = fds_new(a, b, names, sizeof(names), NULL);
	ok(n == 2 && fds_new(a, b, NULL, 0, "eventfd") == 2,
	   "two copies: left open, one monitor eventfd per load and nothing else (%d: %s)", n, names);
	process_goes_on("two copies", buf, REGION);
	free(a);
	free(b);
}

static bool find_so(char *out, size_t len)
{
	const char *env = getenv("SVA_TEST_LIBSVA");
	char exe[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);

	if (env && *env) {
		snprintf(out, len, "%s", env);
		return true;
	}
	if (n <= 0)
		return false;
	exe[n] = 0;
	char *dir = dirname(exe);
	/* The test VM packs the library beside the tests; a build tree has it in
	 * libsva/.libs, two levels up from tests/kernel. */
	const char *rel[] = { "/libsva.so.1", "/../../libsva/.libs/libsva.so.1", "/../libsva/.libs/libsva.so.1" };
	for (size_t i = 0; i < sizeof(rel) / sizeof(rel[0]); i++) {
		snprintf(out, len, "%s%s", dir, rel[i]);
		if (!access(out, R_OK))
			return true;
	}
	return false;
}

static bool copy_file(const char *from, const char *to)
{
	char buf[65536];
	ssize_t n = 0;
	bool good = true;
	int in = open(from, O_RDONLY | O_CLOEXEC), out = open(to, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0755);

	while (in >= 0 && out >= 0 && (n = read(in, buf, sizeof(buf))) > 0)
		good &= write(out, buf, (size_t)n) == n;
	good &= in >= 0 && out >= 0 && n == 0; /* a read error is not the end of the file */
	if (in >= 0)
		close(in);
	if (out >= 0)
		close(out);
	return good;
}

int main(void)
{
	char so[PATH_MAX], dir[] = "/tmp/ktest-dlclose.XXXXXX", copy[PATH_MAX];

	if (!find_so(so, sizeof(so)))
		skip_all("no libsva.so.1 built (next to the test or in libsva/.libs): set SVA_TEST_LIBSVA");
	diag("library: %s", so);
	load_unload(so);
	if (access("/dev/iommu", R_OK | W_OK)) {
		diag("no usable /dev/iommu: the kernel checks are skipped");
		return done_testing();
	}
	if (!have_mock(so)) {
		diag("no mock device: the kernel checks are skipped");
		return done_testing();
	}
	freed_then_unloaded(so);
	alive_at_unload(so);
	ctx_freed_first(so);
	untracked_only(so);
	if (!mkdtemp(dir))
		tap_bail("mkdtemp: %s", strerror(errno));
	snprintf(copy, sizeof(copy), "%s/libsva-copy.so.1", dir);
	if (!copy_file(so, copy))
		tap_bail("cannot copy %s to %s", so, copy);
	two_copies(so, copy);
	unlink(copy);
	rmdir(dir);
	return done_testing();
}
