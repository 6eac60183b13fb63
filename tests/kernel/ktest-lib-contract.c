/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Black-box review of the library-wide parts of libsva(7) that the other
 * contract programs leave out, and of sva_ctx_new(3)'s remaining promises:
 * Versions (the header's version), ENVIRONMENT (SVA_NO_MEMBARRIER, and the
 * membarrier(2) registration it turns off, against a seccomp filter that
 * kills on membarrier), Errors (never standard output; the default log's
 * "libsva level: message" form; every descriptor close-on-exec), Thread
 * safety (one fault thread per context, one coherence monitor per process
 * that blocks every signal and goes with the last tracked address space, an
 * idle fault thread that does not wake, a child made without the fork
 * handlers still known for a child, mm_free/dev_close/ctx_free refused
 * inside a log callback), Logging (a device named "device N (mock)", the
 * per-bond rate limit and its "suppressed" count), Teardown (exit(3) from
 * mm_exit, fault_error or a log callback, with atexit(3) handlers: the
 * process exits, the handlers' calls are refused), and sva_ctx_new(3)'s
 * -ENOMEM under RLIMIT_AS (the line names the limit, raising it is enough, a
 * failure for another reason reserves nothing) and its thread safety.
 * Checked only against the pages and sva.h.  The first part needs no kernel
 * and runs under make check; the rest needs the selftest mock.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/membarrier.h>
#include <linux/seccomp.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <sva/sva.h>

#include "../tap.h"
#include "ktest_proc.h"
#include "edu_find.h"

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define SANITIZED 1
#endif
#endif
#ifndef SANITIZED
#define SANITIZED 0
#endif

#define PG 4096ul
#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))
#define MiB (1024ul * 1024ul)
/* Inside the mock's window [16 MiB, 2 GiB) (libsva(7), The mock device). */
#define SLOT(n) ((uintptr_t)0x48000000ul + (uintptr_t)(n) * 0x1000000ul)

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static int wait_child(pid_t pid)
{
	int st = 0;

	if (pid < 0)
		return -1000;
	while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
		;
	if (WIFEXITED(st))
		return WEXITSTATUS(st);
	if (WIFSIGNALED(st))
		return -WTERMSIG(st);
	return -999;
}

/* ----------------------------------------------------------- log capture */
static pthread_mutex_t cap_lock = PTHREAD_MUTEX_INITIALIZER;
static int cap_n[6];
static char cap_text[65536];

static void cap_fn(void *arg, enum sva_log_level level, const char *msg)
{
	(void)arg;
	pthread_mutex_lock(&cap_lock);
	if ((int)level >= 0 && (int)level < 6)
		cap_n[level]++;
	size_t used = strlen(cap_text);
	if (used + strlen(msg) + 2 < sizeof(cap_text)) {
		strcat(cap_text, msg);
		strcat(cap_text, "\n");
	}
	pthread_mutex_unlock(&cap_lock);
}

static void cap_reset(void)
{
	pthread_mutex_lock(&cap_lock);
	memset(cap_n, 0, sizeof(cap_n));
	cap_text[0] = 0;
	pthread_mutex_unlock(&cap_lock);
}

/* ================================================================ host part */

static void versions(void)
{
	/* libsva(7), Versions: "1 and 0 for libsva 1.0". */
	ok(SVA_VERSION_MAJOR == 1 && SVA_VERSION_MINOR == 0, "Versions: the header says 1.0 (%d.%d)",
	   SVA_VERSION_MAJOR, SVA_VERSION_MINOR);
	/* What the preprocessor makes of them, against what the compiler does:
	 * a value #if cannot evaluate (a cast, an enum) would differ, or not build. */
#if SVA_VERSION_MAJOR == 1 && SVA_VERSION_MINOR == 0
	const int pp = 100;
#else
	const int pp = -1;
#endif
	is_int(pp, SVA_VERSION_MAJOR * 100 + SVA_VERSION_MINOR, "Versions: SVA_VERSION_MAJOR and _MINOR usable in #if");
}

/* A seccomp filter whose answer to membarrier(2) is `action`. */
static int filter_membarrier(uint32_t action)
{
	struct sock_filter f[] = {
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, AUDIT_ARCH_X86_64, 1, 0),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_membarrier, 0, 1),
		BPF_STMT(BPF_RET | BPF_K, action),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
	};
	struct sock_fprog prog = { .len = sizeof(f) / sizeof(f[0]), .filter = f };

	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0))
		return -errno;
	if (syscall(__NR_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog))
		return -errno;
	return 0;
}

static void *space_hammer(void *arg)
{
	struct sva_pasid_space *sp = arg;
	uintptr_t bad = 0;

	for (int i = 0; i < 3000; i++) {
		uint32_t p;

		if (sva_pasid_alloc(sp, NULL, &p) || sva_pasid_free(sp, p) || sva_pasid_release(sp, p))
			bad++;
	}
	return (void *)bad;
}

/* In a child: install the filter, then make the process's first PASID space
 * and contend its lock from four threads.  Exit 0 if every call worked. */
static int membarrier_child(const char *env, uint32_t action)
{
	pid_t pid = fork();

	if (pid == 0) {
		if (env)
			setenv("SVA_NO_MEMBARRIER", env, 1);
		else
			unsetenv("SVA_NO_MEMBARRIER");
		setenv("SVA_LOG", "off", 1);
		if (filter_membarrier(action))
			_exit(77);
		struct sva_pasid_space_opts o = { .size = sizeof(o), .min = 1, .max = 4000, .grace_ns = 1 };
		struct sva_pasid_space *sp = NULL;
		if (sva_pasid_space_new(&o, &sp))
			_exit(2);
		pthread_t t[4];
		uintptr_t bad = 0;
		for (int i = 0; i < 4; i++)
			if (pthread_create(&t[i], NULL, space_hammer, sp))
				_exit(3);
		for (int i = 0; i < 4; i++) {
			void *r;
			pthread_join(t[i], &r);
			bad += (uintptr_t)r;
		}
		sva_pasid_space_free(sp);
		_exit(bad ? 4 : 0);
	}
	return wait_child(pid);
}

/* libsva(7), Thread safety and ENVIRONMENT, SVA_NO_MEMBARRIER.  Forked before
 * this process makes any PASID space, so each child's is the first. */
static void membarrier_env(void)
{
	long q = syscall(__NR_membarrier, MEMBARRIER_CMD_QUERY, 0, 0);
	int r;

#ifndef __x86_64__
	/* The filter names x86-64's architecture and system call numbers. */
	(void)q;
	(void)r;
	skip(3, "the seccomp filter is written for x86-64 only");
	return;
#endif
	r = membarrier_child("1", SECCOMP_RET_KILL_PROCESS);
	if (r == 77) {
		skip(3, "seccomp filters are not available here");
		return;
	}
	ok(r == 0, "SVA_NO_MEMBARRIER set: no membarrier(2), even with the lock contended (child %d)", r);
	r = membarrier_child(NULL, SECCOMP_RET_ERRNO | EPERM);
	ok(r == 0, "membarrier(2) refused by the kernel: PASID spaces do without it (child %d)", r);
	if (q < 0 || !(q & MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED)) {
		skip(1, "this kernel has no private expedited membarrier");
		return;
	}
	r = membarrier_child(NULL, SECCOMP_RET_KILL_PROCESS);
	ok(r == -SIGSYS, "without it, the first PASID space registers with membarrier(2) (child %d, want %d)", r,
	   -SIGSYS);
}

/* libsva(7), Errors: "libsva never prints to standard output"; sva_ctx_new(3),
 * log_fn: "NULL writes each line to standard error as "libsva level:
 * message"". */
static void never_stdout(void)
{
	char out_path[] = "/tmp/ktest-lib-out-XXXXXX", err_path[] = "/tmp/ktest-lib-err-XXXXXX";
	int fo = mkstemp(out_path), fe = mkstemp(err_path);
	pid_t pid;

	if (fo < 0 || fe < 0) {
		ok(0, "temporary files");
		return;
	}
	fflush(stdout);
	pid = fork();
	if (pid == 0) {
		dup2(fo, 1);
		dup2(fe, 2);
		setenv("SVA_LOG", "debug", 1);
		struct sva_ctx *c = (struct sva_ctx *)(uintptr_t)1;
		struct sva_ctx_opts o = { .size = sizeof(o), .iommu_path = "/dev/null" };
		int r1 = sva_ctx_new(&o, &c);
		o.iommu_path = "/nonexistent/iommu";
		int r2 = sva_ctx_new(&o, &c);
		int r3 = sva_ctx_new(NULL, NULL);
		_exit(r1 == -ENOTTY && r2 == -ENOENT && r3 == -EINVAL && c == (struct sva_ctx *)(uintptr_t)1 ? 0 : 1);
	}
	int r = wait_child(pid);
	off_t so = lseek(fo, 0, SEEK_END), se = lseek(fe, 0, SEEK_END);
	char buf[4096] = "";
	ssize_t n = pread(fe, buf, sizeof(buf) - 1, 0);

	if (n > 0)
		buf[n] = 0;
	ok(r == 0, "failing sva_ctx_new calls (-ENOTTY, -ENOENT, -EINVAL), *out untouched (child %d)", r);
	ok(so == 0, "nothing on standard output (%lld bytes)", (long long)so);
	int lines = 0, good = 0;
	for (char *l = buf; *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : l + strlen(l)) {
		lines++;
		if (!strncmp(l, "libsva error: ", 14) || !strncmp(l, "libsva debug: ", 14) ||
		    !strncmp(l, "libsva info: ", 13) || !strncmp(l, "libsva warn", 11))
			good++;
	}
	ok(se > 0 && lines >= 3 && good == lines, "the default log: each line on standard error as \"libsva level: ...\" (%d of %d)",
	   good, lines);
	ok(strstr(buf, "libsva error: ") != NULL, "  the refusals at error level");
	close(fo);
	close(fe);
	unlink(out_path);
	unlink(err_path);
}

/* sva_ctx_new(3), -ENOMEM: "A call that fails for another reason (no device
 * node, say) reserves nothing."  In a child that has never reserved. */
static void arena_not_reserved(void)
{
	pid_t pid = fork();

	if (pid == 0) {
		setenv("SVA_LOG", "off", 1);
		long before = ktest_self_status_num("VmSize");
		struct sva_ctx *c = NULL;
		struct sva_ctx_opts o = { .size = sizeof(o), .iommu_path = "/nonexistent/iommu" };
		int r = sva_ctx_new(&o, &c);
		o.iommu_path = "/dev/null";
		int r2 = sva_ctx_new(&o, &c);
		long after = ktest_self_status_num("VmSize");
		if (r != -ENOENT || r2 != -ENOTTY)
			_exit(2);
		if (before <= 0 || after <= 0) /* no VmSize: nothing was compared */
			_exit(3);
		_exit(after - before < 256 * 1024 ? 0 : 1);
	}
	int r = wait_child(pid);
	ok(r == 0, "sva_ctx_new failing for no device node (or not an iommufd) reserves no arena (child %d)", r);
}


/* libsva(7), Logging: SVA_LOG is debug, info, warn (or warning), error or
 * off, "matched exactly, in lower case"; warn when unset, empty or another
 * value.  What a context made with level 0 passes on, seen through the error
 * line of a refused iommu_path (sva_ctx_new(3): it goes to the log given). */
static int lines_with_env(const char *val, int *debug)
{
	struct sva_ctx_opts o = { .size = sizeof(o), .iommu_path = "/dev/null", .log_fn = cap_fn };
	struct sva_ctx *c = NULL;

	if (val)
		setenv("SVA_LOG", val, 1);
	else
		unsetenv("SVA_LOG");
	cap_reset();
	if (sva_ctx_new(&o, &c) != -ENOTTY)
		return -1;
	*debug = cap_n[SVA_LOG_DEBUG] + cap_n[SVA_LOG_INFO];
	return cap_n[SVA_LOG_ERROR];
}

static void log_env(void)
{
	char *old = getenv("SVA_LOG") ? strdup(getenv("SVA_LOG")) : NULL;
	int d0 = 0, d1 = 0, d2 = 0, d3 = 0, d4 = 0;

	int off = lines_with_env("off", &d0);
	int upper = lines_with_env("OFF", &d1);
	int empty = lines_with_env("", &d2);
	int unset = lines_with_env(NULL, &d3);
	int spaced = lines_with_env("off ", &d4);
	ok(off == 0 && d0 == 0, "SVA_LOG=off: not even the error line (%d)", off);
	ok(upper == 1 && d1 == 0, "SVA_LOG=OFF is not off (lower case only): warn, the error line (%d, %d)", upper, d1);
	ok(empty == 1 && d2 == 0, "SVA_LOG empty: warn (%d, %d)", empty, d2);
	ok(unset == 1 && d3 == 0, "SVA_LOG unset: warn (%d, %d)", unset, d3);
	ok(spaced == 1 && d4 == 0, "SVA_LOG=\"off \" is matched exactly: warn (%d, %d)", spaced, d4);
	if (old)
		setenv("SVA_LOG", old, 1);
	else
		unsetenv("SVA_LOG");
	free(old);
}

/* ============================================================== kernel part */

/* sva_ctx_new(3), -ENOMEM: a limit too low for the arena fails, the line
 * names the limit, and raising it is enough.  In a child that has never
 * reserved; not under the sanitizers, whose shadow memory needs RLIMIT_AS
 * unlimited. */
static void arena_rlimit(void)
{
	if (SANITIZED) {
		skip(4, "RLIMIT_AS: not under a sanitizer");
		return;
	}
	int pfd[2];
	if (pipe(pfd)) {
		ok(0, "pipe");
		return;
	}
	pid_t pid = fork();

	if (pid == 0) {
		close(pfd[0]);
		long kb = ktest_self_status_num("VmSize");
		struct rlimit rl = { .rlim_cur = (rlim_t)(kb * 1024 + 256 * MiB), .rlim_max = RLIM_INFINITY };
		struct sva_ctx *sentinel = (struct sva_ctx *)(uintptr_t)8, *c = sentinel;
		struct sva_ctx_opts o = { .size = sizeof(o), .log_fn = cap_fn, .log_level = SVA_LOG_DEBUG };
		int fds_before, fds_after;

		fds_before = ktest_count_fds();
		if (kb <= 0) /* no VmSize: the limit would be a guess */
			_exit(92);
		if (setrlimit(RLIMIT_AS, &rl))
			_exit(90);
		/* Only this call's lines: the capture holds the earlier checks' too. */
		cap_reset();
		int r = sva_ctx_new(&o, &c);
		int errs = cap_n[SVA_LOG_ERROR];
		int names = strstr(cap_text, "RLIMIT_AS") || strstr(cap_text, "ulimit -v");
		fds_after = ktest_count_fds();
		char res[96];
		rl.rlim_cur = RLIM_INFINITY;
		setrlimit(RLIMIT_AS, &rl);
		struct sva_ctx *c2 = NULL;
		int r2 = sva_ctx_new(&o, &c2);
		/* One write: the parent reads once. */
		snprintf(res, sizeof(res), "%d %d %d %d %d %d", r, c == sentinel, fds_after - fds_before, errs, r2,
			 names);
		if (write(pfd[1], res, strlen(res)) < 0)
			_exit(91);
		sva_ctx_free(c2);
		_exit(0);
	}
	close(pfd[1]);
	char buf[128] = "";
	ssize_t n = read(pfd[0], buf, sizeof(buf) - 1);
	close(pfd[0]);
	int st = wait_child(pid);
	int r = 0, untouched = 0, fdd = -1, errs = 0, r2 = -1, names = 0;

	if (n > 0)
		buf[n] = 0;
	if (st != 0 || sscanf(buf, "%d %d %d %d %d %d", &r, &untouched, &fdd, &errs, &r2, &names) != 6) {
		ok(0, "RLIMIT_AS child (%d: %s)", st, buf);
		return;
	}
	ok(r == -ENOMEM && untouched, "RLIMIT_AS too low for the arena: -ENOMEM, *out untouched (%d)", r);
	ok(fdd == 0 && errs >= 1, "  nothing stays open (%d), an error line (%d)", fdd, errs);
	ok(names, "  the line names the limit");
	ok(r2 == 0, "  raising the limit is enough: the next call succeeds (%d)", r2);
}

/* ------------------------------------------------------ threads of libsva */

struct tids {
	long *tid;
	int n, max;
};

static int add_tid(pid_t tid, void *arg)
{
	struct tids *t = arg;

	if (t->n < t->max)
		t->tid[t->n++] = tid;
	return 0;
}

/* This process's threads, at most max of them: a listing that fails ends the
 * test, as a list of none would pass the "no thread" checks. */
static int task_list(long *tids, int max)
{
	struct tids t = { tids, 0, max };
	int ret = ktest_for_each_thread_named(NULL, add_tid, &t);

	if (ret < 0)
		tap_bail("listing /proc/self/task: %s", strerror(-ret));
	return t.n;
}

static void task_comm(long tid, char *out, size_t len)
{
	ktest_thread_comm((pid_t)tid, out, len);
}

/* Threads that are in `now` and not in `before`, but for those that bear the
 * main thread's name: a sanitizer's runtime starts threads of its own (TSan's
 * background thread), which inherit it, while libsva names its threads. */
static int new_tasks(const long *before, int nb, const long *now, int nn, long *out)
{
	char main_comm[32], comm[32];
	int k = 0;

	task_comm((long)getpid(), main_comm, sizeof(main_comm));
	for (int i = 0; i < nn; i++) {
		int seen = 0;
		for (int j = 0; j < nb; j++)
			seen |= before[j] == now[i];
		if (seen)
			continue;
		task_comm(now[i], comm, sizeof(comm));
		if (!strcmp(comm, main_comm))
			continue;
		out[k++] = now[i];
	}
	return k;
}

static int sigblk_all(const char *blk)
{
	/* Every signal but those nobody can block (SIGKILL, SIGSTOP: the
	 * kernel clears them) and the C library's internal ones (32 and 33 for
	 * glibc), whichever way the mask was set. */
	const unsigned long long spare = 1ULL << (SIGKILL - 1) | 1ULL << (SIGSTOP - 1) | 1ULL << 31 | 1ULL << 32;
	char *end;
	unsigned long long m = strtoull(blk, &end, 16);

	return *blk && *end == 0 && (m | spare) == ~0ULL;
}

/* The two contexts' objects of the thread and descriptor checks, in
 * teardown order.  The free calls take NULL; sva_unbind() fails and logs
 * for it (libsva(7), Errors), so a bond already unbound is skipped. */
static void release_two(struct sva_bond *b[2], struct sva_mm *m[2], struct sva_dev *d[2], struct sva_ctx *c[2])
{
	for (int i = 0; i < 2; i++) {
		if (b[i])
			sva_unbind(b[i]);
		sva_mm_free(m[i]);
		sva_dev_close(d[i]);
		sva_ctx_free(c[i]);
	}
}

static struct sva_ctx *new_ctx(uint32_t flags)
{
	struct sva_ctx_opts o = { .size = sizeof(o), .flags = flags, .log_fn = cap_fn, .log_level = SVA_LOG_DEBUG };
	struct sva_ctx *c = NULL;

	return sva_ctx_new(&o, &c) ? NULL : c;
}

/* libsva(7), Thread safety: "one thread per process, the coherence monitor,
 * with the first tracked address space, in poll mode too; it blocks every
 * signal and lasts until the last tracked address space is freed". */
static void monitor_thread(void)
{
	long t0[256], t1[256], t2[256], t3[256], nw[256];
	int n0 = task_list(t0, 256);
	struct sva_ctx *a = new_ctx(SVA_CTX_FAULT_POLL), *b = new_ctx(SVA_CTX_FAULT_POLL);
	struct sva_mm *ma = NULL, *mb = NULL;

	if (!a || !b || sva_mm_new(a, NULL, &ma) || sva_mm_new(b, NULL, &mb)) {
		ok(0, "monitor setup");
		goto out;
	}
	int n1 = task_list(t1, 256);
	int k = new_tasks(t0, n0, t1, n1, nw);
	ok(k == 1, "two tracked address spaces in two poll-mode contexts: one new thread (%d)", k);
	if (k == 1) {
		char blk[64];
		ktest_thread_status((pid_t)nw[0], "SigBlk", blk, sizeof(blk));
		ok(sigblk_all(blk), "  the monitor blocks every signal (SigBlk %s)", blk);
	} else {
		ok(0, "  the monitor blocks every signal");
	}
	sva_mm_free(ma);
	ma = NULL;
	int n2 = task_list(t2, 256);
	ok(new_tasks(t0, n0, t2, n2, nw) == 1, "  it stays while one tracked address space is left");
	sva_mm_free(mb);
	mb = NULL;
	int gone = 0;
	for (int i = 0; i < 2000 && !gone; i++) {
		int n3 = task_list(t3, 256);
		gone = new_tasks(t0, n0, t3, n3, nw) == 0;
		if (!gone)
			usleep(1000);
	}
	ok(gone, "  and goes with the last one");
out:
	sva_mm_free(ma);
	sva_mm_free(mb);
	sva_ctx_free(a);
	sva_ctx_free(b);
}

/* libsva(7), Thread safety: "one thread per context, the fault thread, when
 * the context's first fault-capable bond is bound ... Idle, it does not
 * wake ... without that wait ... it wakes once a second". */
static void fault_threads(void)
{
	long t0[256], t1[256], nw[256];
	int n0 = task_list(t0, 256);
	struct sva_ctx *c[2] = { 0 };
	struct sva_dev *d[2] = { 0 };
	struct sva_mm *m[2] = { 0 };
	struct sva_bond *b[2] = { 0 };
	struct sva_mm_opts mo = { .size = sizeof(mo), .flags = SVA_MM_UNTRACKED };
	int setup = 1;

	cap_reset();
	for (int i = 0; i < 2; i++) {
		c[i] = new_ctx(0);
		if (!c[i] || sva_dev_open_mock(c[i], NULL, &d[i]) || sva_mm_new(c[i], &mo, &m[i]))
			setup = 0;
	}
	if (!setup) {
		ok(0, "fault thread setup");
		goto out;
	}
	int n1 = task_list(t1, 256);
	ok(new_tasks(t0, n0, t1, n1, nw) == 0, "no thread before the first fault-capable bind");
	for (int i = 0; i < 2; i++)
		if (sva_bind(d[i], m[i], NULL, &b[i]))
			setup = 0;
	if (!setup) {
		ok(0, "fault thread binds");
		goto out;
	}
	/* The threads name themselves once running: a loaded guest may take a
	 * while to get there, so wait (5 s at most) rather than guess. */
	int k = 0, named = 0;
	for (int tries = 0; tries < 50 && !(k == 2 && named == 2); tries++) {
		usleep(100000);
		n1 = task_list(t1, 256);
		k = new_tasks(t0, n0, t1, n1, nw);
		named = 0;
		for (int i = 0; i < k; i++) {
			char comm[32];
			task_comm(nw[i], comm, sizeof(comm));
			named += !strcmp(comm, KTEST_FAULT_THREAD);
		}
	}
	ok(k == 2 && named == 2, "two thread-mode contexts with a fault-capable bond: two sva-fault threads (%d, %d)", k,
	   named);
	if (k >= 1) {
		int polling = strstr(cap_text, "poll(2)") != NULL;
		/* Measured from when it has settled into its wait (its count
		 * still over 300 ms, 5 s at most): the start-up's own switches are
		 * not waking up. */
		long v0 = ktest_thread_status_num((pid_t)nw[0], "voluntary_ctxt_switches"), vs = 0;
		for (int tries = 0; tries < 16; tries++, v0 = vs) {
			usleep(300000);
			vs = ktest_thread_status_num((pid_t)nw[0], "voluntary_ctxt_switches");
			if (vs == v0)
				break;
		}
		usleep(1500000);
		long v1 = ktest_thread_status_num((pid_t)nw[0], "voluntary_ctxt_switches");
		if (polling)
			ok(v1 - v0 <= 3, "idle with the poll(2) wait: it wakes about once a second (%ld)", v1 - v0);
		else
			ok(v0 >= 0 && v1 == v0, "idle with the io_uring wait: it does not wake in 1.5 s (%ld switches)",
			   v1 - v0);
	} else {
		ok(0, "idle fault thread");
	}
	sva_unbind(b[0]);
	b[0] = NULL;
	n1 = task_list(t1, 256);
	ok(new_tasks(t0, n0, t1, n1, nw) == 2, "  it outlives the unbind: it lasts until the context is released");
	sva_mm_free(m[0]);
	sva_dev_close(d[0]);
	sva_ctx_free(c[0]);
	m[0] = NULL;
	d[0] = NULL;
	c[0] = NULL;
	int left = -1;
	for (int i = 0; i < 3000; i++) {
		n1 = task_list(t1, 256);
		left = new_tasks(t0, n0, t1, n1, nw);
		if (left == 1)
			break;
		usleep(1000);
	}
	ok(left == 1, "  the released context's thread goes, the other stays (%d)", left);
out:
	release_two(b, m, d, c);
}

/* libsva(7), Errors: "opens every file descriptor close-on-exec": every
 * descriptor that appears while contexts (both modes), mock devices, tracked
 * address spaces, binds and faults are alive. */
static void cloexec_all(void)
{
	char before[1024] = { 0 };
	DIR *dir = opendir("/proc/self/fd");
	struct dirent *e;

	while (dir && (e = readdir(dir))) {
		int fd = atoi(e->d_name);
		if (fd >= 0 && fd < 1024)
			before[fd] = 1;
	}
	if (dir)
		closedir(dir);

	struct sva_ctx *c[2] = { new_ctx(0), new_ctx(SVA_CTX_FAULT_POLL) };
	struct sva_dev *d[2] = { 0 };
	struct sva_mm *m[2] = { 0 };
	struct sva_bond *b[2] = { 0 };
	char *buf = mmap((void *)SLOT(1), 4 * PG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE,
			 -1, 0);
	int setup = buf == (char *)SLOT(1);

	for (int i = 0; i < 2 && setup; i++)
		if (!c[i] || sva_dev_open_mock(c[i], NULL, &d[i]) || sva_mm_new(c[i], NULL, &m[i]) ||
		    sva_bind(d[i], m[i], NULL, &b[i]))
			setup = 0;
	if (!setup) {
		ok(0, "close-on-exec setup");
		goto out;
	}
	buf[0] = 1;
	ok(sva_mm_prefault(m[0], buf, PG) == 0, "prefault (the address space's tracking set up)");
	for (int i = 0; i < 2; i++)
		sva_dev_inject_fault(d[i], sva_bond_pasid(b[i]), (uint64_t)(uintptr_t)buf + PG, SVA_ACCESS_READ, 0);
	sva_ctx_process_faults(c[1], 16);
	usleep(100000);
	int fresh = 0, cloexec = 0;
	char bad[256] = "";
	dir = opendir("/proc/self/fd");
	while (dir && (e = readdir(dir))) {
		int fd = atoi(e->d_name);
		if (e->d_name[0] == '.' || fd == dirfd(dir) || (fd < 1024 && before[fd]))
			continue;
		fresh++;
		int fl = fcntl(fd, F_GETFD);
		if (fl >= 0 && (fl & FD_CLOEXEC))
			cloexec++;
		else {
			char p[64], t[128] = "";
			snprintf(p, sizeof(p), "/proc/self/fd/%d", fd);
			ssize_t n = readlink(p, t, sizeof(t) - 1);
			if (n > 0)
				t[n] = 0;
			snprintf(bad + strlen(bad), sizeof(bad) - strlen(bad), " %d:%s", fd, t);
		}
	}
	if (dir)
		closedir(dir);
	ok(fresh >= 6 && cloexec == fresh, "every descriptor libsva opened is close-on-exec (%d of %d;%s)", cloexec, fresh,
	   bad);
out:
	release_two(b, m, d, c);
	if (buf != MAP_FAILED)
		munmap(buf, 4 * PG);
}

/* libsva(7), Thread safety: "A child made without the handlers (clone(2)
 * called directly, _Fork(3)) ... is still known for a child: ... its calls
 * fail with -ECHILD as in a fork(2) child." */
static void raw_clone_child(void)
{
	struct sva_ctx *c = new_ctx(SVA_CTX_FAULT_POLL);
	struct sva_dev *d = NULL;
	struct sva_mm *m = NULL;
	struct sva_mm_opts mo = { .size = sizeof(mo), .flags = SVA_MM_UNTRACKED };
	char *buf = mmap((void *)SLOT(2), 4 * PG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE,
			 -1, 0);

	if (!c || buf != (char *)SLOT(2) || sva_dev_open_mock(c, NULL, &d) || sva_mm_new(c, &mo, &m)) {
		ok(0, "raw clone setup");
		goto out;
	}
	buf[0] = 1;
	struct sva_mm_stats s0 = { .size = sizeof(s0) }, s1 = { .size = sizeof(s1) };
	sva_mm_stats(m, &s0);
	fflush(stdout);
	fflush(stderr);
	/* clone(2) without CLONE_VM: a fork that runs no pthread_atfork handler. */
	pid_t pid = (pid_t)syscall(SYS_clone, (unsigned long)SIGCHLD, 0ul, 0ul, 0ul, 0ul);
	if (pid == 0) {
		int mask = 0;
		struct sva_bond *bd = (struct sva_bond *)(uintptr_t)8;
		if (sva_mm_prefault(m, buf, PG) != -ECHILD)
			mask |= 1;
		if (sva_mm_invalidate(m, buf, PG) != -ECHILD)
			mask |= 2;
		if (sva_mm_fence(m) != -ECHILD)
			mask |= 4;
		if (sva_bind(d, m, NULL, &bd) != -ECHILD || bd != (struct sva_bond *)(uintptr_t)8)
			mask |= 8;
		syscall(SYS_exit_group, mask);
	}
	int r = wait_child(pid);
	ok(r == 0, "clone(2) without the fork handlers: prefault, invalidate, fence, bind: -ECHILD (mask %d)", r);
	sva_mm_stats(m, &s1);
	ok(s1.bytes_visible == s0.bytes_visible && s1.bytes_visible == 0, "  and the parent's address space is unchanged");
	ok(sva_mm_prefault(m, buf, PG) == 0, "  the parent still works on it");
out:
	sva_mm_free(m);
	sva_dev_close(d);
	sva_ctx_free(c);
	if (buf != MAP_FAILED)
		munmap(buf, 4 * PG);
}

/* libsva(7), Thread safety: sva_mm_free(3), sva_dev_close(3) and
 * sva_ctx_free(3) "log an error and do nothing" inside a log callback. */
static struct {
	struct sva_ctx *ctx;
	struct sva_dev *dev;
	struct sva_mm *mm;
	int armed, ran, errors;
} lg;
static _Thread_local int in_log;

static void freeing_log(void *arg, enum sva_log_level level, const char *msg)
{
	(void)arg;
	(void)msg;
	if (level == SVA_LOG_ERROR)
		lg.errors++;
	if (in_log || !lg.armed || level != SVA_LOG_ERROR)
		return;
	in_log = 1;
	lg.armed = 0;
	lg.ran = 1;
	sva_mm_free(lg.mm);
	sva_dev_close(lg.dev);
	sva_ctx_free(lg.ctx);
	in_log = 0;
}

static void log_callback_frees(void)
{
	fflush(stdout);
	pid_t pid = fork();

	if (pid == 0) {
		/* In a child: if a call was not refused, what follows uses freed memory. */
		struct sva_ctx_opts o = { .size = sizeof(o), .log_fn = freeing_log, .log_level = SVA_LOG_DEBUG };
		if (sva_ctx_new(&o, &lg.ctx) || sva_dev_open_mock(lg.ctx, NULL, &lg.dev) || sva_mm_new(lg.ctx, NULL, &lg.mm))
			_exit(90);
		char *buf = mmap((void *)SLOT(3), PG, PROT_READ | PROT_WRITE,
				 MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
		if (buf != (char *)SLOT(3))
			_exit(91);
		buf[0] = 1;
		lg.armed = 1;
		/* An error line: a bind with a size no header declared (-EINVAL). */
		struct sva_bind_opts bad = { .size = 1 };
		struct sva_bond *nb = NULL;
		if (sva_bind(lg.dev, lg.mm, &bad, &nb) != -EINVAL || nb)
			_exit(92);
		int mask = 0;
		if (!lg.ran)
			_exit(93);
		if (lg.errors < 4)
			mask |= 1;
		struct sva_mm_stats st = { .size = sizeof(st) };
		if (sva_mm_stats(lg.mm, &st) || sva_mm_prefault(lg.mm, buf, PG))
			mask |= 2;
		struct sva_bond *b = NULL;
		if (sva_bind(lg.dev, lg.mm, NULL, &b))
			mask |= 4;
		sva_unbind(b);
		sva_mm_free(lg.mm);
		sva_dev_close(lg.dev);
		sva_ctx_free(lg.ctx);
		_exit(mask);
	}
	int r = wait_child(pid);
	ok(r == 0,
	   "from a log callback, mm_free, dev_close and ctx_free log an error each and do nothing: the objects work after (child %d)",
	   r);
}

/* libsva(7), Logging: a line about a device names it "device N (mock)", and
 * the lines a device causes are at most 10 a second for each bond, the next
 * one saying how many were held back. */
static void rate_limit(void)
{
	struct sva_ctx_opts o = { .size = sizeof(o),
				  .flags = SVA_CTX_FAULT_POLL,
				  .log_fn = cap_fn,
				  .log_level = SVA_LOG_INFO };
	struct sva_ctx *c = NULL;
	struct sva_dev *d = NULL;
	struct sva_mm *m = NULL;
	struct sva_bond *b = NULL;
	struct sva_mm_opts mo = { .size = sizeof(mo), .flags = SVA_MM_UNTRACKED };
	struct sva_dev_info info = { .size = sizeof(info) };
	/* An address inside the window that nothing maps. */
	char *hole = mmap((void *)SLOT(4), PG, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);

	if (hole != (char *)SLOT(4) || munmap(hole, PG) || sva_ctx_new(&o, &c) || sva_dev_open_mock(c, NULL, &d) ||
	    sva_dev_get_info(d, &info) || sva_mm_new(c, &mo, &m) || sva_bind(d, m, NULL, &b)) {
		ok(0, "rate limit setup");
		goto out;
	}
	cap_reset();
	const int N = 30;
	uint64_t t0 = now_ms();
	int injected = 0;
	for (int i = 0; i < N; i++) {
		if (sva_dev_inject_fault(d, sva_bond_pasid(b), (uint64_t)(uintptr_t)hole, SVA_ACCESS_READ, (uint32_t)i) == 0)
			injected++;
		sva_ctx_process_faults(c, 64);
	}
	uint64_t el = now_ms() - t0;
	struct sva_bond_stats bs = { .size = sizeof(bs) };
	sva_bond_stats(b, &bs);
	pthread_mutex_lock(&cap_lock);
	int lines = cap_n[SVA_LOG_INFO] + cap_n[SVA_LOG_WARN] + cap_n[SVA_LOG_ERROR];
	char name[64];
	snprintf(name, sizeof(name), "device %u (mock)", info.dev_id);
	int named = strstr(cap_text, name) != NULL;
	pthread_mutex_unlock(&cap_lock);
	ok(injected == N && bs.invalid == (uint64_t)N, "%d refused faults (%llu INVALID)", N,
	   (unsigned long long)bs.invalid);
	ok(named, "  the lines name the device \"%s\"", name);
	int limit = 10 * (int)(el / 1000 + 1);
	ok(lines >= 1 && lines <= limit, "  at most 10 lines a second for the bond (%d lines in %llu ms)", lines,
	   (unsigned long long)el);
	usleep(1100000);
	cap_reset();
	sva_dev_inject_fault(d, sva_bond_pasid(b), (uint64_t)(uintptr_t)hole, SVA_ACCESS_READ, 99);
	sva_ctx_process_faults(c, 64);
	pthread_mutex_lock(&cap_lock);
	char want[96];
	snprintf(want, sizeof(want), "(%d similar lines suppressed before this one)", N - lines);
	char *at = strstr(cap_text, want);
	int at_end = at && at[strlen(want)] == '\n';
	char seen[512];
	memcpy(seen, cap_text, sizeof(seen) - 1);
	seen[sizeof(seen) - 1] = 0;
	pthread_mutex_unlock(&cap_lock);
	seen[strcspn(seen, "\n")] = 0;
	/* The count is exact only if the 30 faults fell in one rate window: a
	 * guest too loaded to make them within a second starts a second one. */
	if (el < 1000)
		ok(N - lines > 0 && at_end, "  the next line ends \"%s\" (%s)", want, seen);
	else
		skip(1, "the faults took more than a second: more than one rate window");
out:
	sva_unbind(b);
	sva_mm_free(m);
	sva_dev_close(d);
	sva_ctx_free(c);
}

/* sva_ctx_new(3), THREAD SAFETY: "it may run concurrently with any other
 * libsva call". */
static void *ctx_churn(void *arg)
{
	uintptr_t bad = 0;

	(void)arg;
	for (int i = 0; i < 20; i++) {
		struct sva_ctx_opts o = { .size = sizeof(o), .flags = SVA_CTX_FAULT_POLL, .log_level = SVA_LOG_OFF };
		struct sva_ctx *c = NULL;
		struct sva_dev *d = NULL;
		if (sva_ctx_new(&o, &c) || sva_dev_open_mock(c, NULL, &d))
			bad++;
		sva_dev_close(d);
		sva_ctx_free(c);
	}
	return (void *)bad;
}

static void ctx_new_threads(void)
{
	pthread_t t[4];
	uintptr_t bad = 0;

	for (int i = 0; i < 4; i++)
		pthread_create(&t[i], NULL, ctx_churn, NULL);
	for (int i = 0; i < 4; i++) {
		void *r;
		pthread_join(t[i], &r);
		bad += (uintptr_t)r;
	}
	ok(bad == 0, "sva_ctx_new from four threads at once: 80 contexts with a device each (%lu failed)",
	   (unsigned long)bad);
}


/* --------------------------------------------------------------- vtd39 */

/* The test VM's topologies but the mock have QEMU's edu device as vfio0
 * (tests/vm/run-vm.sh): its absence there is a broken VM or kernel, not a
 * host without one. */
static bool vm_should_have_edu(void)
{
	const char *t = getenv("SVA_TOPOLOGY");

	return getenv("SVA_VM") && t && *t && strcmp(t, "mock") != 0;
}

/* libsva(7), Thread safety: after the parent's sva_dev_close(3) the device
 * stays bound while a child holds its copy, and a new sva_dev_open(3) fails
 * with -EBUSY until the child calls sva_dev_close(3) on its copy
 * (sva_ctx_free(3) alone closes no device). */
static void edu_fork_busy(void)
{
	char addr[256];
	struct sva_ctx *c = NULL;
	struct sva_dev *d = NULL, *d2 = (struct sva_dev *)(uintptr_t)8;
	int to_child[2], to_parent[2];

	if (!edu_find(addr, sizeof(addr), NULL, 0)) {
		if (vm_should_have_edu()) {
			ok(0, "the %s topology has QEMU's edu device (none in /sys/bus/pci/devices)", getenv("SVA_TOPOLOGY"));
			skip(3, "no edu device");
		} else {
			skip(4, "no edu device (the VT-d topologies have one)");
		}
		return;
	}
	if (!(c = new_ctx(SVA_CTX_FAULT_POLL)) || sva_dev_open(c, addr, &d) || pipe(to_child) || pipe(to_parent)) {
		ok(0, "edu setup");
		sva_dev_close(d);
		sva_ctx_free(c);
		return;
	}
	fflush(stdout);
	/* A child gone early makes the parent's reads see the end of file and
	 * its writes fail, not hang or kill it: each side closes the other's
	 * ends. */
	signal(SIGPIPE, SIG_IGN);
	pid_t pid = fork();
	if (pid == 0) {
		char x;
		close(to_child[1]);
		close(to_parent[0]);
		if (read(to_child[0], &x, 1) != 1)
			_exit(1);
		sva_ctx_free(c);
		if (write(to_parent[1], "f", 1) != 1 || read(to_child[0], &x, 1) != 1)
			_exit(1);
		sva_dev_close(d);
		if (write(to_parent[1], "c", 1) != 1 || read(to_child[0], &x, 1) != 1)
			_exit(1);
		_exit(0);
	}
	char x;
	close(to_child[0]);
	close(to_parent[1]);
	sva_dev_close(d);
	int r1 = sva_dev_open(c, addr, &d2);
	ok(r1 == -EBUSY && d2 == (struct sva_dev *)(uintptr_t)8,
	   "edu: closed in the parent, a child's copy open: sva_dev_open is -EBUSY, *out untouched (%d)", r1);
	if (r1 == 0) {
		sva_dev_close(d2);
		d2 = NULL;
	}
	int r2 = -1, r3 = -1;
	if (write(to_child[1], "1", 1) == 1 && read(to_parent[0], &x, 1) == 1)
		r2 = sva_dev_open(c, addr, &d2);
	ok(r2 == -EBUSY, "  still -EBUSY after the child's sva_ctx_free alone (%d)", r2);
	if (r2 == 0)
		sva_dev_close(d2);
	d2 = NULL;
	if (write(to_child[1], "2", 1) == 1 && read(to_parent[0], &x, 1) == 1)
		r3 = sva_dev_open(c, addr, &d2);
	ok(r3 == 0, "  the child's sva_dev_close of its copy frees it: the open succeeds (%d)", r3);
	sva_dev_close(d2);
	if (write(to_child[1], "3", 1) != 1)
		diag("child gone early");
	close(to_child[1]);
	ok(wait_child(pid) == 0, "  the child ran its part");
	close(to_parent[0]);
	sva_ctx_free(c);
}

/*
 * exit(3) from inside a callback, with the application's atexit(3) handlers
 * (libsva(7), Teardown: the mm_exit contract; libsva(7), Calls inside
 * callbacks; sva_ctx_set_log(3)): libsva's exit teardown is skipped and the
 * bonds are left to the kernel; the handlers run on that thread, still inside
 * the callback, where bind and unbind are refused with -EDEADLK,
 * sva_ctx_process_faults(3) too inside a fault_error or log callback (inside
 * mm_exit it is allowed), and mm_free, dev_close and ctx_free log an error
 * and do nothing.  Each case runs in a child that must exit with the status
 * the callback gave within 20 s, or is killed and fails; each with an
 * untracked address space and again with a tracked one, whose exit also stops
 * the coherence monitor from inside the callback.
 */
enum exit_from { EX_MM_EXIT_UNBIND, EX_MM_EXIT_MM_FREE, EX_LOG_IN_BATCH, EX_FAULT_ERROR };

static struct {
	enum exit_from from;
	struct sva_ctx *ctx;
	struct sva_dev *dev;
	struct sva_mm *mm;
	struct sva_bond *bond;
	int pipe, status;
} xc = { .pipe = -1 };

static void xc_atexit(void)
{
	struct sva_bond *b = NULL;
	int r[4];

	r[0] = sva_ctx_process_faults(xc.ctx, 8);
	r[1] = sva_bind(xc.dev, xc.mm, NULL, &b);
	r[2] = sva_unbind(xc.bond);
	sva_mm_free(xc.mm);
	sva_dev_close(xc.dev);
	sva_ctx_free(xc.ctx);
	r[3] = 1; /* the frees returned */
	if (write(xc.pipe, r, sizeof(r)) != (ssize_t)sizeof(r))
		_exit(3);
}

static void xc_leave(void)
{
	int status = xc.status;

	xc.status = 0;
	if (status)
		exit(status);
}

static void xc_mm_exit(struct sva_bond *bond, void *drvdata)
{
	(void)bond;
	(void)drvdata;
	if (xc.from == EX_MM_EXIT_UNBIND || xc.from == EX_MM_EXIT_MM_FREE)
		xc_leave();
}

static void xc_fault_error(struct sva_bond *bond, const struct sva_fault_report *rep, void *drvdata)
{
	(void)bond;
	(void)rep;
	(void)drvdata;
	if (xc.from == EX_FAULT_ERROR)
		xc_leave();
}

static void xc_log(void *arg, enum sva_log_level level, const char *msg)
{
	(void)arg;
	(void)level;
	if (xc.from == EX_LOG_IN_BATCH && strstr(msg, "I/O page fault"))
		xc_leave();
}

static void xc_child(enum exit_from from, bool tracked, int status, int wfd)
{
	bool poll_mode = from != EX_MM_EXIT_MM_FREE;
	struct sva_ctx_opts o = { .size = sizeof(o),
				  .flags = poll_mode ? SVA_CTX_FAULT_POLL : 0,
				  .log_fn = xc_log,
				  .log_level = SVA_LOG_INFO };
	struct sva_bond_ops ops = { .size = sizeof(ops), .mm_exit = xc_mm_exit, .fault_error = xc_fault_error };
	/* The RID: the mock cannot be destroyed at exit with a PASID still
	 * attached without a kernel warning (sva_dev_open_mock(3)). */
	struct sva_bind_opts bo = { .size = sizeof(bo), .flags = SVA_BIND_RID, .ops = &ops };
	struct sva_mm_opts mo = { .size = sizeof(mo), .flags = tracked ? 0 : SVA_MM_UNTRACKED };

	xc.from = from;
	xc.pipe = wfd;
	if (sva_ctx_new(&o, &xc.ctx) || sva_dev_open_mock(xc.ctx, NULL, &xc.dev) || sva_mm_new(xc.ctx, &mo, &xc.mm) ||
	    sva_bind(xc.dev, xc.mm, &bo, &xc.bond))
		_exit(90);
	if (atexit(xc_atexit))
		_exit(91);
	xc.status = status;
	switch (from) {
	case EX_MM_EXIT_UNBIND:
		sva_unbind(xc.bond);
		break;
	case EX_MM_EXIT_MM_FREE:
		sva_mm_free(xc.mm);
		break;
	case EX_LOG_IN_BATCH:
	case EX_FAULT_ERROR:
		/* Nothing is mapped there (SLOT(6) is never mapped): refused,
		 * with an info line and a fault_error call, inside the batch. */
		if (sva_dev_inject_fault(xc.dev, 0, (uint64_t)SLOT(6), SVA_ACCESS_READ, 0))
			_exit(92);
		sva_ctx_process_faults(xc.ctx, 8);
		break;
	}
	_exit(93); /* the callback did not exit */
}

/* The child's exit status, -SIGKILL if it hung past `secs` and was killed. */
static int wait_child_for(pid_t pid, int secs)
{
	uint64_t end = now_ms() + (uint64_t)secs * 1000;
	int st = 0;
	pid_t w;

	if (pid < 0)
		return -1000;
	while ((w = waitpid(pid, &st, WNOHANG)) == 0 && now_ms() < end)
		usleep(20000);
	if (w == 0) {
		kill(pid, SIGKILL);
		return wait_child(pid) == -SIGKILL ? -SIGKILL : -998;
	}
	if (w < 0)
		return -997;
	return WIFEXITED(st) ? WEXITSTATUS(st) : WIFSIGNALED(st) ? -WTERMSIG(st) : -999;
}

static void exit_in_callbacks(void)
{
	static const struct {
		enum exit_from from;
		const char *what;
		int want_process; /* sva_ctx_process_faults in the handler */
	} cases[] = {
		{ EX_MM_EXIT_UNBIND, "mm_exit (sva_unbind, poll mode)", 0 },
		{ EX_MM_EXIT_MM_FREE, "mm_exit (sva_mm_free, thread mode)", -EINVAL },
		{ EX_LOG_IN_BATCH, "a log callback inside a poll-mode batch", -EDEADLK },
		{ EX_FAULT_ERROR, "fault_error", -EDEADLK },
	};

	for (size_t k = 0; k < 2 * ARRAY_LEN(cases); k++) {
		size_t i = k % ARRAY_LEN(cases);
		bool tracked = k >= ARRAY_LEN(cases);
		const char *mmk = tracked ? "a tracked" : "an untracked";
		int p[2], r[4] = { 0, 0, 0, 0 }, status = 40 + (int)k;

		if (pipe(p)) {
			ok(0, "pipe");
			continue;
		}
		fflush(stdout);
		pid_t pid = fork();
		if (pid == 0) {
			close(p[0]);
			xc_child(cases[i].from, tracked, status, p[1]);
		}
		close(p[1]);
		int got = wait_child_for(pid, 20);
		ssize_t n = read(p[0], r, sizeof(r));
		close(p[0]);
		ok(got == status, "exit(%d) from %s, %s address space, with an atexit handler: the process exits (%d%s)",
		   status, cases[i].what, mmk, got, got == -SIGKILL ? ": hung, killed after 20 s" : "");
		ok(n == (ssize_t)sizeof(r) && r[3] == 1, "  the handler ran, its mm_free, dev_close and ctx_free returned");
		ok(n == (ssize_t)sizeof(r) && r[0] == cases[i].want_process && r[1] == -EDEADLK && r[2] == -EDEADLK,
		   "  in it process_faults %d (want %d), bind %d and unbind %d (want -EDEADLK)", r[0],
		   cases[i].want_process, r[1], r[2]);
	}
}

int main(void)
{
	uint64_t t0 = now_ms();

	/* Before this process makes any PASID space or reserves libsva's arena:
	 * the children must be the first to. */
	versions();
	membarrier_env();
	arena_not_reserved();
	never_stdout();
	log_env();
	if (access("/dev/iommu", R_OK | W_OK)) {
		if (getenv("SVA_VM"))
			ok(0, "/dev/iommu is usable inside the test VM (%s)", strerror(errno));
		else
			diag("no usable /dev/iommu: the kernel checks are skipped");
		return done_testing();
	}
	arena_rlimit();
	edu_fork_busy();
	{
		struct sva_ctx *c = new_ctx(SVA_CTX_FAULT_POLL);
		struct sva_dev *d = NULL;
		int r = c ? sva_dev_open_mock(c, NULL, &d) : -1;
		sva_dev_close(d);
		sva_ctx_free(c);
		if (r) {
			/* The VM's kernel has CONFIG_IOMMUFD_TEST: there, every
			 * topology has the mock. */
			if (getenv("SVA_VM"))
				ok(0, "the test VM has the selftest mock (sva_dev_open_mock: %d)", r);
			else
				diag("no mock device (%d): the device checks are skipped", r);
			return done_testing();
		}
	}
	monitor_thread();
	fault_threads();
	cloexec_all();
	raw_clone_child();
	log_callback_frees();
	rate_limit();
	exit_in_callbacks();
	ctx_new_threads();
	diag("took %llu ms", (unsigned long long)(now_ms() - t0));
	return done_testing();
}
