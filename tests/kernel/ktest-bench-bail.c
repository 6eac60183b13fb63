/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * A benchmark that bails out must leave the kernel as it found it.
 * bench-fault attaches a raw baseline PASID behind libsva's back; a
 * bail-out used to exit with it attached, and the iommufd selftest then
 * logged four WARNINGs as the process ended (the VM runner fails a program
 * that leaves any).  Here the bail-out is the documented one of an
 * unprivileged user with a small RLIMIT_MEMLOCK: the baseline's raw 64 MiB
 * map fails with ENOMEM, and the line must say so and name the limit.
 * The VM packs bench-fault as a helper (/tests/bench-fault).
 *
 * Then sva-bench itself (/tests/sva-bench, where the VM packs it with
 * +tools/sva-bench; skipped otherwise): what sva-bench(1) says of a benchmark
 * that cannot run here (skipped, exit 0) and of one that fails (failed,
 * exit 1, a message on standard error).
 *
 * And bench-fault run alone with --json, as root (design.md: each benchmark
 * run alone takes --json and prints one JSON object on one line; it used to
 * print its own JSON by hand over many lines).
 */
#include <fcntl.h>
#include <stddef.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <json-c/json.h>

#include "ktest.h"
#include "uffd_refuse.h"

#define BENCH "/tests/bench-fault"
#define SVA_BENCH "/tests/sva-bench"
#define NOBODY 65534
#define SVA_BENCH_CHECKS 5 /* sva_bench_checks()'s results */
#define ALONE_CHECKS 2 /* bench_fault_alone()'s results */

/* The modes this test opens to nobody, put back on every path out of it. */
static const char *const opened[] = { "/dev/iommu", "/", "/tests" };
static mode_t saved[3];
static int nsaved;

static void restore_modes(void)
{
	while (nsaved > 0) {
		nsaved--;
		chmod(opened[nsaved], saved[nsaved]);
	}
}

/* The VM's / and /tests are root's alone: open them (and /dev/iommu) to nobody. */
static int open_to_nobody(void)
{
	struct stat st;

	atexit(restore_modes);
	for (; nsaved < 3; nsaved++) {
		if (stat(opened[nsaved], &st))
			return -1;
		saved[nsaved] = st.st_mode & 07777;
		if (chmod(opened[nsaved], nsaved ? 0755 : 0666))
			return -1;
	}
	return 0;
}

/* Read all of fd into buf (NUL-terminated), then close it. */
static void slurp(int fd, char *buf, size_t size)
{
	size_t n = 0;
	ssize_t r;

	while (n + 1 < size && (r = read(fd, buf + n, size - 1 - n)) > 0)
		n += (size_t)r;
	buf[n] = '\0';
	close(fd);
}

static char sb_out[1 << 16], sb_err[1 << 12];

/* userfaultfd(2) refused with err (EPERM, as container runtimes' seccomp
 * profiles do; ENOSYS, as a kernel without it answers), in a container not
 * given /dev/userfaultfd (its ioctl refused too, or libsva would track
 * through it): 0, or -1. */
static int refuse_userfaultfd(int err)
{
	return ktest_refuse_uffd(err, true);
}

/* The program at path with the arguments in cmd (separated by spaces), its
 * address space limited to as_mb MiB (0: not), userfaultfd(2) refused with
 * the errno no_uffd (0: not), its output in sb_out and
 * sb_err: its wait status. */
static int run_tool(const char *path, long as_mb, int no_uffd, const char *cmd)
{
	char line[256], *args[16] = { (char *)path };
	int o[2], e[2], status = 0, n = 1;
	pid_t pid;

	snprintf(line, sizeof(line), "%s", cmd);
	for (char *save = NULL, *w = strtok_r(line, " ", &save); w && n < 15; w = strtok_r(NULL, " ", &save))
		args[n++] = w;
	args[n] = NULL;

	if (pipe(o) || pipe(e))
		ktest_bail("pipe: %s", strerror(errno));
	fflush(stdout);
	pid = fork();
	if (pid < 0)
		ktest_bail("fork: %s", strerror(errno));
	if (pid == 0) {
		struct rlimit as = { (rlim_t)as_mb << 20, (rlim_t)as_mb << 20 };

		dup2(o[1], 1);
		dup2(e[1], 2);
		close(o[0]);
		close(e[0]);
		if ((as_mb && setrlimit(RLIMIT_AS, &as)) || (no_uffd && refuse_userfaultfd(no_uffd)))
			_exit(100);
		execv(path, args);
		_exit(101);
	}
	close(o[1]);
	close(e[1]);
	/* Its output is short: the pipes' buffers hold the error side meanwhile. */
	slurp(o[0], sb_out, sizeof(sb_out));
	slurp(e[0], sb_err, sizeof(sb_err));
	waitpid(pid, &status, 0);
	return status;
}

static int sva_bench(long as_mb, int no_uffd, const char *cmd)
{
	return run_tool(SVA_BENCH, as_mb, no_uffd, cmd);
}

/* sva-bench(1), --json: one object on one line, the newline its last byte
 * (a member printed with its own newline split the document). */
static bool one_line(const char *s)
{
	const char *nl = strchr(s, '\n');

	return nl && nl[1] == '\0' && nl > s;
}

/* What sva-bench printed, as diagnostics (TAP lines stay one line each). */
static void diag_output(void)
{
	char *save = NULL;

	for (char *l = strtok_r(sb_out, "\n", &save); l; l = strtok_r(NULL, "\n", &save))
		diag("stdout: %.300s", l);
	for (char *l = strtok_r(sb_err, "\n", &save); l; l = strtok_r(NULL, "\n", &save))
		diag("stderr: %.300s", l);
}

static void sva_bench_checks(void)
{
	int st;

	/* Out of address space, sva_ctx_new fails with ENOMEM: a failure, not
	 * "no usable /dev/iommu" (this VM has one). */
#if defined(KTEST_ASAN) || defined(KTEST_TSAN)
	skip(1, "a sanitizer's runtime cannot start under a 200 MiB RLIMIT_AS (its shadow memory)");
#else
	st = sva_bench(200, 0, "--json --rounds 1 fault");
	ok(WIFEXITED(st) && WEXITSTATUS(st) == 1 && strstr(sb_out, "\"fault\":{\"failed\":") &&
		   strstr(sb_out, "Cannot allocate memory") && !strstr(sb_out, "skipped") &&
		   strstr(sb_err, "Cannot allocate memory"),
	   "sva-bench fault under a 200 MiB RLIMIT_AS: failed with the reason, exit 1 (status 0x%x)", st);
	diag_output();
#endif

	/* userfaultfd refused: coherence cannot run here, it did not fail. */
	st = sva_bench(0, EPERM, "coherence");
	ok(WIFEXITED(st) && WEXITSTATUS(st) == 0 && strstr(sb_out, "coherence benchmark skipped:") &&
		   strstr(sb_out, "userfaultfd") && !strstr(sb_out, "Bail out!"),
	   "sva-bench coherence with userfaultfd refused (seccomp, EPERM): skipped with the reason, exit 0 "
	   "(status 0x%x)",
	   st);
	diag_output();
	st = sva_bench(0, EPERM, "--json coherence");
	ok(WIFEXITED(st) && WEXITSTATUS(st) == 0 && strstr(sb_out, "\"coherence\":{\"skipped\":\"") &&
		   strstr(sb_out, "Operation not permitted") && one_line(sb_out),
	   "  ... and with --json, {\"skipped\": reason}, the document one line (status 0x%x)", st);
	diag_output();
	/* sva-bench(1): ENOSYS, a kernel without userfaultfd, skips it too. */
	st = sva_bench(0, ENOSYS, "--json coherence");
	ok(WIFEXITED(st) && WEXITSTATUS(st) == 0 && strstr(sb_out, "\"coherence\":{\"skipped\":\"") &&
		   strstr(sb_out, "Function not implemented") && !strstr(sb_out, "failed") && one_line(sb_out),
	   "sva-bench --json coherence with userfaultfd(2) refused with ENOSYS: {\"skipped\": reason}, exit 0, "
	   "the document one line (status 0x%x)",
	   st);
	diag_output();
	/* And EOPNOTSUPP, the third errno sva-bench(1) names, in text: the one
	 * line, the reason's words, nothing else. */
	st = sva_bench(0, EOPNOTSUPP, "coherence");
	ok(WIFEXITED(st) && WEXITSTATUS(st) == 0 && !strncmp(sb_out, "coherence benchmark skipped: ", 29) &&
		   strstr(sb_out, "userfaultfd") && strstr(sb_out, strerror(EOPNOTSUPP)) && one_line(sb_out),
	   "sva-bench coherence with userfaultfd(2) refused with EOPNOTSUPP: one line, \"coherence benchmark "
	   "skipped: \" and the reason, exit 0 (status 0x%x)",
	   st);
	diag_output();
}

/* bench-fault --json --rounds 1, run alone: one line, one JSON object
 * naming itself, exit 0. */
static void bench_fault_alone(void)
{
	struct json_object *doc, *name = NULL;
	int st;

#ifdef KTEST_TSAN
	/* Under ThreadSanitizer it ran the mock VM out of memory (its 64 and
	 * 256 MiB prefault figures, the runtime's shadow and history beside
	 * them): the OOM killer ended it, the raw baseline PASID attached. */
	skip(ALONE_CHECKS, "bench-fault under ThreadSanitizer needs more memory than the test VM has");
	return;
#endif
	st = run_tool(BENCH, 0, 0, "--json --rounds 1");

	ok(WIFEXITED(st) && WEXITSTATUS(st) == 0 && one_line(sb_out),
	   "bench-fault --json --rounds 1 run alone: exit 0, one line (status 0x%x)", st);
	doc = json_tokener_parse(sb_out);
	ok(doc && json_object_is_type(doc, json_type_object) && json_object_object_get_ex(doc, "benchmark", &name) &&
		   !strcmp(json_object_get_string(name), "fault"),
	   "  the line is one JSON object, \"benchmark\": \"fault\"");
	if (!doc || !one_line(sb_out))
		diag_output();
	json_object_put(doc);
}

int main(void)
{
	static char out[1 << 16];
	struct rlimit rl = { 8 << 20, 8 << 20 };
	size_t n = 0;
	int p[2], status;
	ssize_t r;
	pid_t pid;

	if (access(BENCH, X_OK) != 0) {
		if (getenv("SVA_VM"))
			ktest_bail("%s is not in the VM (pack it with +tools/bench/bench-fault)", BENCH);
		skip_all("runs in the test VM, which packs bench-fault (make check-vm)");
	}
	if (strcmp(ktest_topology(), "mock"))
		skip_all("the mock topology has what this needs; the others add nothing");
	plan(3 + ALONE_CHECKS + SVA_BENCH_CHECKS);
	if (open_to_nobody() || pipe(p))
		ktest_bail("%s: %s", nsaved < 3 ? opened[nsaved] : "pipe", strerror(errno));
	pid = fork();
	if (pid < 0)
		ktest_bail("fork: %s", strerror(errno));
	if (pid == 0) {
		dup2(p[1], 1);
		close(p[0]);
		/* Unprivileged (no CAP_IPC_LOCK): iommufd charges pins to the limit. */
		if (setrlimit(RLIMIT_MEMLOCK, &rl) || setgid(NOBODY) || setuid(NOBODY))
			_exit(100);
		execl(BENCH, "bench-fault", "--rounds", "1", (char *)NULL);
		_exit(101);
	}
	close(p[1]);
	while (n + 1 < sizeof(out) && (r = read(p[0], out + n, sizeof(out) - 1 - n)) > 0)
		n += (size_t)r;
	out[n] = '\0';
	close(p[0]);
	waitpid(pid, &status, 0);
	restore_modes();
	if (WIFEXITED(status) && WEXITSTATUS(status) >= 100)
		diag("the child could not %s", WEXITSTATUS(status) == 100 ? "become nobody" : "exec " BENCH);
	ok(WIFEXITED(status) && WEXITSTATUS(status) == 1, "bench-fault with an 8 MiB RLIMIT_MEMLOCK, as nobody, exits 1 (status 0x%x)",
	   status);
	ok(strstr(out, "Bail out! raw IOMMU_IOAS_MAP of 64 MiB failed: Cannot allocate memory") != NULL,
	   "  its bail-out line names the error");
	ok(strstr(out, "RLIMIT_MEMLOCK") != NULL, "  ... and the limit to check");
	if (!strstr(out, "Bail out!"))
		diag("its output: %.300s", out);
	bench_fault_alone();
	if (access(SVA_BENCH, X_OK) == 0)
		sva_bench_checks();
	else
		skip(SVA_BENCH_CHECKS, "no " SVA_BENCH " in the VM (pack it with +tools/sva-bench)");
	/* And no kernel WARNING: the VM runner checks dmesg after this program. */
	return done_testing();
}
