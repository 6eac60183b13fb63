/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * sva-brokerd on the selftest mock, per device: each client that opens a
 * device gets a block of its own PASIDs (below the global range) and binds
 * from it, faults resolving into its own memory; a PASID of another
 * client's block is refused; a client killed with SIGKILL has its device
 * PASID drained by the device's mm-exit program (this binary, run again by
 * the broker), which sees it still attached, then detached and its block
 * quarantined while the others work on; an mm-exit program that hangs is
 * killed at its timeout and holds the other clients up no longer.  A broker
 * whose global range starts at 1 has no device block to lease: SVA_PASID_DEVICE
 * is -ERANGE and says it is the broker's range.
 */
#define _GNU_SOURCE
#include <poll.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>

#include "ktest_broker.h"

extern char **environ;

#define VA(i) (0x50000000ull + (uint64_t)(i) * 0x1000000ull) /* inside the mock aperture */
#define GMIN 13u	 /* the global range starts here: devices' own PASIDs are [1, 12] */
#define OWN_PER 4u	 /* three blocks of them per device */
/* The "hang" device's mm-exit timeout.  The program must get to write its
 * "started" file inside it: starting this binary took longer than 500 ms
 * under ThreadSanitizer and TCG, and longer than 3 s once under
 * AddressSanitizer, and the broker killed it first.  So the wrapper script
 * plays "hang" itself (make_program()): a shell's start, not a sanitizer's. */
#define HANG_MS 3000u

/* How long a detach may take once the broker has the means to do it. */
#define DETACH_WAIT_MS 10000u

static char self[256];

/* ------------------------------------------- the mm-exit program (argc 5) */

static void put_file(const char *name, const char *text)
{
	char tmp[64];
	FILE *f;

	snprintf(tmp, sizeof(tmp), "%s.tmp", name);
	f = fopen(tmp, "w");
	if (!f || fputs(text, f) < 0 || fclose(f) || rename(tmp, name))
		_exit(20);
}

/* argv: program, device, source, PASID, client pid; the environment: PATH
 * and the same four as SVA_*.  "drain" waits for the test's "go"; "hang"
 * (played by the wrapper script, but kept here as the same role) never
 * ends. */
static int mm_exit_program(char **argv)
{
	char line[256], started[64];
	const char *pasid = getenv("SVA_PASID"), *dev = getenv("SVA_DEVICE"), *cpid = getenv("SVA_CLIENT_PID");
	size_t nenv = 0;

	/* The wrapper script adds LD_LIBRARY_PATH, and a shell may add PWD. */
	for (char **e = environ; *e; e++)
		nenv += strncmp(*e, "LD_LIBRARY_PATH=", 16) && strncmp(*e, "PWD=", 4) && strncmp(*e, "SHLVL=", 6);
	snprintf(line, sizeof(line), "%s %s %s %s %d env=%s\n", argv[1], argv[2], argv[3], argv[4], (int)getpid(),
		 nenv == 5 && getenv("PATH") && getenv("SVA_SOURCE") && pasid && !strcmp(pasid, argv[3]) && dev &&
				 !strcmp(dev, argv[1]) && cpid && !strcmp(cpid, argv[4])
			 ? "ok"
			 : "bad");
	snprintf(started, sizeof(started), "started.%s", argv[1]);
	put_file(started, line);
	if (!strcmp(argv[1], "hang"))
		for (;;)
			pause();
	KTEST_WAIT_WHILE(access("go", F_OK), 10000);
	put_file("done.drain", "done\n");
	return 0;
}

/* ------------------------------------------------------------ the broker */

/*
 * The program the broker runs: this binary, through a script that gives it
 * back the library path the broker's fixed environment drops (the VM keeps
 * the tests' libraries off the default path).
 */
static char program[sizeof(dir_path) + 16];

static void make_program(void)
{
	const char *lib = getenv("LD_LIBRARY_PATH");
	FILE *f;

	snprintf(program, sizeof(program), "%s/mm-exit.sh", dir_path);
	f = fopen(program, "w");
	if (!f)
		ktest_bail("%s: %s", program, strerror(errno));
	/* "hang": the started line as mm_exit_program() writes it (its pid
	 * the one the broker must kill: sleep takes it over), then never ends. */
	fprintf(f,
		"#!/bin/sh\n"
		"if [ \"$1\" = hang ]; then\n"
		"\techo \"$1 $2 $3 $4 $$ env=unchecked\" > started.hang.tmp && mv started.hang.tmp started.hang "
		"|| exit 20\n"
		"\texec sleep 100000\n"
		"fi\n"
		"%s%s%sexec '%s' \"$@\"\n",
		lib ? "LD_LIBRARY_PATH='" : "", lib ? lib : "", lib ? "' " : "", self);
	if (fclose(f) || chmod(program, 0755))
		ktest_bail("%s: %s", program, strerror(errno));
}

static void add_dev(struct broker_conf *conf, const char *name, unsigned ms)
{
	struct broker_dev_conf *d = &conf->devs[conf->ndevs++];

	snprintf(d->name, sizeof(d->name), "%s", name);
	snprintf(d->source, sizeof(d->source), "mock");
	d->uids[d->nuids++] = 0;
	snprintf(d->mm_exit, sizeof(d->mm_exit), "%s", program);
	d->mm_exit_ms = ms;
}

static pid_t start_broker(uint32_t gmin)
{
	struct broker_conf conf;

	broker_conf_defaults(&conf);
	snprintf(conf.socket, sizeof(conf.socket), "%s", sock_path);
	conf.pasids_per_client = 16;
	conf.pasid_min = gmin;
	conf.pasid_max = gmin + 5 * 16 - 1;
	conf.dev_pasids_per_client = OWN_PER;
	conf.grace_ns = UINT64_MAX;
	add_dev(&conf, "drain", 10000);
	add_dev(&conf, "hang", HANG_MS);
	return broker_fork(&conf, NULL, NULL);
}

/* ------------------------------------------------------------ the clients */

struct res {
	int ok;
	uint32_t pasid, hwpt, ms;
	char why[200];
};

struct cmd {
	/* 'f' another fault; 's' bind the peer's PASID; 'k' is the peer's PASID
	 * still on its HWPT; 'c' is it detached (dev: 0 drain, 1 hang); 't' open
	 * "hang", timed; 'o' open "drain" again; 'x' unbind and exit */
	char op;
	uint32_t pasid, hwpt, dev;
};

static char log_buf[512];

static void capture_log(void *arg, enum sva_log_level level, const char *msg)
{
	(void)arg;
	/* Errors, and the debug line of a full block that the test looks for. */
	if ((level >= SVA_LOG_ERROR || strstr(msg, "no block")) && !log_buf[0])
		snprintf(log_buf, sizeof(log_buf), "%s", msg);
}

/* Fault on the next page of the client's buffer; 1 if it resolved into its own bytes. */
static int fault_own(struct sva_dev *dev, struct sva_bond *bond, struct sva_mm *mm, uint64_t va, char *why,
		     size_t len)
{
	struct sva_bond_stats st = { .size = sizeof(st) };
	unsigned char back[4096];
	int ret = ktest_inject_and_wait(dev, bond, va + 0x40, SVA_ACCESS_READ | SVA_ACCESS_WRITE, 5000);

	if (ret)
		return snprintf(why, len, "fault at 0x%llx: %s", (unsigned long long)va, strerror(-ret)), 0;
	sva_bond_stats(bond, &st);
	if (st.invalid)
		return snprintf(why, len, "fault answered INVALID"), 0;
	ret = ktest_access_rw(dev->ctx, mm->ioas_id, va, back, sizeof(back), 0);
	if (ret)
		return snprintf(why, len, "kernel read: %s", strerror(-ret)), 0;
	if (memcmp(back, (void *)(uintptr_t)va, sizeof(back)))
		return snprintf(why, len, "the kernel sees other bytes than the client's"), 0;
	return 1;
}

/* Bind a PASID of dev's own space, allocated through the broker's lease. */
static int bind_own(struct sva_dev *dev, struct sva_mm *mm, struct sva_bond **bond, uint32_t *pasid)
{
	struct sva_bind_opts bo = { .size = sizeof(bo), .flags = SVA_BIND_PASID };
	int ret = sva_dev_pasid_alloc(dev, SVA_PASID_DEVICE, NULL, pasid);

	if (ret)
		return ret;
	bo.pasid = *pasid;
	return sva_bind(dev, mm, &bo, bond);
}

/* Client i: 'A'/'B' bind on "drain"; 'C' finds "drain" full and binds on "hang". */
static void client(int i, char mode, int cmd_fd, int res_fd)
{
	struct sva_ctx_opts o = { .size = sizeof(o), .flags = SVA_CTX_BROKER, .broker_path = sock_path,
				  .pasid_grace_ns = UINT64_MAX, .log_fn = capture_log, .log_level = SVA_LOG_DEBUG };
	struct sva_dev *devs[2] = { NULL, NULL }, *dev;
	struct sva_bond *bond;
	struct sva_ctx *ctx;
	struct sva_mm *mm;
	struct res r = { 0 };
	struct cmd c;
	unsigned page = 0;
	uint32_t pasid;
	int ret;

	if ((ret = sva_ctx_new(&o, &ctx)) || (ret = sva_dev_open(ctx, "drain", &devs[0])) ||
	    (ret = sva_mm_new(ctx, NULL, &mm))) {
		snprintf(r.why, sizeof(r.why), "ctx/open/mm: %s: %.100s", strerror(-ret), log_buf);
		xwrite(res_fd, &r, sizeof(r));
		_exit(1);
	}
	if (mode == 'C') {
		log_buf[0] = '\0';
		ret = sva_dev_pasid_alloc(devs[0], SVA_PASID_DEVICE, NULL, &pasid);
		if (ret != -ENOSPC || sva_dev_pasids(devs[0]) || !strstr(log_buf, "no block")) {
			snprintf(r.why, sizeof(r.why), "a device PASID on a full 'drain': %d, %s", ret, log_buf);
			xwrite(res_fd, &r, sizeof(r));
			_exit(1);
		}
		if ((ret = sva_dev_open(ctx, "hang", &devs[1]))) {
			snprintf(r.why, sizeof(r.why), "open hang: %s: %.100s", strerror(-ret), log_buf);
			xwrite(res_fd, &r, sizeof(r));
			_exit(1);
		}
	}
	dev = devs[mode == 'C'];
	if (!sva_dev_pasids(dev) || (ret = bind_own(dev, mm, &bond, &pasid))) {
		snprintf(r.why, sizeof(r.why), "own space %p, bind: %s: %.100s", (void *)sva_dev_pasids(dev),
			 strerror(-ret), log_buf);
		xwrite(res_fd, &r, sizeof(r));
		_exit(1);
	}
	memset(ktest_map_at(VA(i), 16 * 4096, PROT_READ | PROT_WRITE), 0x11 * (i + 1), 16 * 4096);
	r.pasid = pasid;
	r.hwpt = bond->hwpt->id;
	r.ok = fault_own(dev, bond, mm, VA(i) + 4096 * page++, r.why, sizeof(r.why));
	xwrite(res_fd, &r, sizeof(r));
	while (xread(cmd_fd, &c, sizeof(c)) == 0) {
		memset(&r, 0, sizeof(r));
		if (c.op == 'f') {
			r.ok = fault_own(dev, bond, mm, VA(i) + 4096 * page++, r.why, sizeof(r.why)) &&
			       ktest_pasid_check(dev, pasid, bond->hwpt->id) == 0;
		} else if (c.op == 's') {
			struct sva_bind_opts bo = { .size = sizeof(bo), .flags = SVA_BIND_PASID, .pasid = c.pasid };
			struct sva_bond *stolen = NULL;
			struct sva_mm *mm2 = NULL;

			ret = sva_mm_new(ctx, NULL, &mm2);
			if (!ret)
				ret = sva_bind(dev, mm2, &bo, &stolen);
			sva_mm_free(mm2);
			r.ok = ret == -ERANGE;
			snprintf(r.why, sizeof(r.why), "(bind: %d)", ret);
		} else if (c.op == 'k') {
			ret = ktest_pasid_check(devs[0], c.pasid, c.hwpt);
			r.ok = ret == 0;
			snprintf(r.why, sizeof(r.why), "(check: %d)", ret);
		} else if (c.op == 'c') {
			/* The broker detaches after it reaps the program: that
			 * program's exit (LeakSanitizer's scan, under emulation)
			 * and the reaping take their time, so wait by the clock. */
			uint64_t t0 = ktest_now_ns();

			KTEST_WAIT_WHILE((ret = ktest_pasid_check(devs[c.dev], c.pasid, 0)) != 0, DETACH_WAIT_MS);
			r.ms = (uint32_t)((ktest_now_ns() - t0) / 1000000);
			r.ok = ret == 0;
			snprintf(r.why, sizeof(r.why), "(%s after %u ms: check %d)", r.ok ? "detached" : "still attached",
				 r.ms, ret);
		} else if (c.op == 'o') {
			struct sva_dev *again = NULL;

			log_buf[0] = '\0';
			ret = sva_dev_open(ctx, "drain", &again);
			r.ok = ret == -EBUSY && strstr(log_buf, "open in this client already") != NULL;
			snprintf(r.why, sizeof(r.why), "(%d: %.150s)", ret, log_buf);
		} else if (c.op == 't') {
			uint64_t t0 = ktest_now_ns();

			ret = sva_dev_open(ctx, "hang", &devs[1]);
			r.ms = (uint32_t)((ktest_now_ns() - t0) / 1000000);
			r.ok = ret == 0;
			snprintf(r.why, sizeof(r.why), "(open: %d, %u ms)", ret, r.ms);
		} else {
			r.ok = sva_unbind(bond) == 0;
			sva_mm_free(mm);
			sva_dev_close(devs[0]);
			sva_dev_close(devs[1]);
			sva_ctx_free(ctx);
			xwrite(res_fd, &r, sizeof(r));
			_exit(0);
		}
		xwrite(res_fd, &r, sizeof(r));
	}
	_exit(0);
}

/* An isolated client (no iommufd) leases, binds and frees device PASIDs the same way. */
static void isolated(void)
{
	struct sva_ctx_opts o = { .size = sizeof(o), .flags = SVA_CTX_BROKER | SVA_CTX_ISOLATED,
				  .broker_path = sock_path, .log_fn = capture_log, .log_level = SVA_LOG_ERROR };
	int st = 0;
	pid_t pid = fork();

	if (pid == 0) {
		struct sva_ctx *ctx;
		struct sva_dev *dev;
		struct sva_mm *mm;
		struct sva_bond *bond;
		uint32_t pasid = 0;
		int ret;

		if ((ret = sva_ctx_new(&o, &ctx)) || (ret = sva_dev_open(ctx, "hang", &dev)) ||
		    (ret = sva_mm_new(ctx, NULL, &mm)) || (ret = bind_own(dev, mm, &bond, &pasid))) {
			printf("# isolated: %s: %s\n", strerror(-ret), log_buf);
			_exit(10);
		}
		if (pasid < 2 * OWN_PER + 1 || pasid > 3 * OWN_PER)
			_exit(11);
		if (sva_unbind(bond) || sva_dev_pasid_free(dev, pasid) || sva_dev_pasid_release(dev, pasid))
			_exit(12);
		sva_mm_free(mm);
		sva_dev_close(dev);
		sva_ctx_free(ctx);
		_exit(0);
	}
	waitpid(pid, &st, 0);
	is_int(WIFEXITED(st) ? WEXITSTATUS(st) : -1, 0,
	       "an isolated client gets the last block of 'hang''s own PASIDs, binds one, unbinds and frees it");
}

struct cl {
	pid_t pid;
	int cmd, res;
	struct res first;
};

struct client_arg {
	int i;
	char mode;
};

static void run_client(void *arg, int cmd_fd, int res_fd)
{
	const struct client_arg *a = arg;

	client(a->i, a->mode, cmd_fd, res_fd);
}

static void spawn(struct cl *c, int i, char mode)
{
	struct client_arg a = { .i = i, .mode = mode };

	c->pid = fork_client(run_client, &a, &c->cmd, &c->res);
	if (xread(c->res, &c->first, sizeof(c->first)))
		snprintf(c->first.why, sizeof(c->first.why), "the client died");
}

static struct res ask(struct cl *c, char op, uint32_t pasid, uint32_t hwpt, uint32_t dev)
{
	struct cmd m = { .op = op, .pasid = pasid, .hwpt = hwpt, .dev = dev };
	struct res r = { 0 };

	client_call(c->cmd, c->res, &m, sizeof(m), &r, sizeof(r), r.why, sizeof(r.why));
	return r;
}

/* ---------------------------------------------------------------- checks */

/* A client with a block of its own on "drain" asks for a PASID of A's block. */
static void foreign_own(uint32_t pasid, uint32_t hwpt)
{
	struct sva_broker_msg m;
	uint64_t own, dev_id;
	int s = raw_connect();

	is_int(raw_hello(s, &m, SVA_BROKER_TRUSTED), 0, "a raw client says hello");
	sva_broker_msg_init(&m, SVA_BOP_OPEN);
	strcpy(m.text, "drain");
	is_int(raw_call(s, &m), 0, "and opens 'drain'");
	own = m.arg[5];
	ok(SVA_BROKER_OWN_MIN(own) == OWN_PER + 1 && SVA_BROKER_OWN_MAX(own) == 2 * OWN_PER,
	   "it gets the next block of the device's own PASIDs, [%u, %u]", SVA_BROKER_OWN_MIN(own),
	   SVA_BROKER_OWN_MAX(own));
	dev_id = m.arg[0];
	sva_broker_msg_init(&m, SVA_BOP_ATTACH);
	m.arg[0] = dev_id;
	m.arg[1] = pasid;
	m.arg[2] = hwpt;
	is_int(raw_call(s, &m), -EPERM, "attaching device PASID %u of another client's block is refused (-EPERM)",
	       pasid);
	ok(strstr(m.text, "nor in its block") != NULL, "  saying so: %s", m.text);
	close(s); /* its block goes to quarantine (grace: until restart) */
}

/* Wait up to ms for the file; its first line in buf, or false. */
static bool wait_file(const char *name, char *buf, size_t len, int ms)
{
	for (int t = 0; t < ms / 10; t++) {
		FILE *f = fopen(name, "r");

		if (f) {
			bool got = fgets(buf, (int)len, f) != NULL;

			buf[strcspn(buf, "\n")] = '\0';

			fclose(f);
			if (got)
				return true;
		}
		usleep(10000);
	}
	return false;
}

static void work_dir(void)
{
	static const char *const parents[] = { "/run", "/tmp" };

	for (size_t i = 0; i < ARRAY_SIZE(parents); i++) {
		snprintf(dir_path, sizeof(dir_path), "%s/sva-ktest-broker-dev-%d", parents[i], (int)getpid());
		if (mkdir(dir_path, 0700) == 0 && chdir(dir_path) == 0) {
			snprintf(sock_path, sizeof(sock_path), "%s/socket", dir_path);
			return;
		}
	}
	ktest_bail("no directory for the broker's socket");
}

int main(int argc, char **argv)
{
	struct cl a, b, c;
	struct res r;
	char line[256], want[256];
	int st, hang_pid = 0;
	ssize_t n;
	pid_t bpid;

	if (argc == 5)
		return mm_exit_program(argv);
	ktest_require_iommufd();
	alarm(120);
	n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (n <= 0 || n >= (ssize_t)sizeof(self) - 1)
		ktest_bail("readlink /proc/self/exe");
	self[n] = '\0';
	work_dir();
	make_program();
	bpid = start_broker(GMIN);

	spawn(&a, 0, 'A');
	ok(a.first.ok && a.first.pasid >= 1 && a.first.pasid <= OWN_PER,
	   "client A: device PASID %u from its block [1, %u] of 'drain''s own, bound, a fault resolved into its "
	   "memory %s",
	   a.first.pasid, OWN_PER, a.first.why);
	foreign_own(a.first.pasid, a.first.hwpt);
	spawn(&b, 1, 'B');
	ok(b.first.ok && b.first.pasid > 2 * OWN_PER && b.first.pasid < GMIN,
	   "client B: device PASID %u from the third block, bound, a fault resolved into its memory %s",
	   b.first.pasid, b.first.why);
	r = ask(&a, 's', b.first.pasid, 0, 0);
	ok(r.ok, "A cannot bind B's device PASID %u: outside its own space (-ERANGE) %s", b.first.pasid, r.why);
	r = ask(&b, 'o', 0, 0, 0);
	ok(r.ok, "B cannot open 'drain' a second time: -EBUSY, saying so %s", r.why);
	r = ask(&a, 'f', 0, 0, 0);
	ok(r.ok, "A and B work side by side: another fault of A resolves %s", r.why);

	/* A dies with its device PASID attached: the drain program runs first. */
	kill(a.pid, SIGKILL);
	waitpid(a.pid, &st, 0);
	snprintf(want, sizeof(want), "drain mock %u %d ", a.first.pasid, (int)a.pid);
	ok(wait_file("started.drain", line, sizeof(line), 5000) && !strncmp(line, want, strlen(want)),
	   "mm-exit program ran with argv: device, source, PASID, client pid (%s)", line);
	ok(strstr(line, "env=ok") != NULL, "and an environment of PATH and the same four as SVA_* only");
	r = ask(&b, 'k', a.first.pasid, a.first.hwpt, 0);
	ok(r.ok, "while it runs, A's PASID %u is still attached to A's HWPT %u %s", a.first.pasid, a.first.hwpt, r.why);
	put_file("go", "go\n");
	r = ask(&b, 'c', a.first.pasid, 0, 0);
	ok(r.ok, "once it exits, the PASID is detached %s", r.why);
	ok(access("done.drain", F_OK) == 0, "  and the program had ended on its own, not killed at its timeout");
	r = ask(&b, 'f', 0, 0, 0);
	ok(r.ok, "B keeps working: another fault resolves, its PASID still attached %s", r.why);

	/* A's and the raw client's blocks are in quarantine, B holds the last. */
	spawn(&c, 2, 'C');
	ok(c.first.ok,
	   "client C: no block of 'drain''s own PASIDs left (A's quarantined): -ENOSPC saying so; on 'hang' it "
	   "binds device PASID %u %s",
	   c.first.pasid, c.first.why);

	kill(c.pid, SIGKILL);
	waitpid(c.pid, &st, 0);
	ok(wait_file("started.hang", line, sizeof(line), 5000) && sscanf(line, "hang mock %*u %*d %d", &hang_pid) == 1,
	   "C killed: the 'hang' device's mm-exit program started (%s)", line);
	r = ask(&b, 't', 0, 0, 0);
	ok(r.ok && r.ms < HANG_MS + 1000, "B's next request is answered within the %u ms timeout (%u ms) %s", HANG_MS,
	   r.ms, r.why);
	{
		bool gone = false;

		for (int t = 0; t < (int)(HANG_MS + 3000) / 10 && !gone; t++) {
			gone = hang_pid > 0 && kill(hang_pid, 0) != 0 && errno == ESRCH;
			if (!gone)
				usleep(10000);
		}
		ok(gone, "the hung program (pid %d) was killed and reaped", hang_pid);
	}
	r = ask(&b, 'c', c.first.pasid, 0, 1);
	ok(r.ok, "and C's PASID %u on 'hang' is detached all the same %s", c.first.pasid, r.why);

	isolated();
	r = ask(&b, 'x', 0, 0, 0);
	ok(r.ok, "B unbinds and exits %s", r.why);
	waitpid(b.pid, &st, 0);
	kill(bpid, SIGTERM);
	waitpid(bpid, &st, 0);
	is_int(WIFEXITED(st) ? WEXITSTATUS(st) : -1, 0, "the broker stops cleanly");
	unlink(sock_path);

	/* A global range from PASID 1: no device numbers are left below it to lease. */
	bpid = start_broker(1);
	{
		struct sva_ctx_opts o = { .size = sizeof(o), .flags = SVA_CTX_BROKER, .broker_path = sock_path,
					  .log_fn = capture_log, .log_level = SVA_LOG_ERROR };
		struct sva_ctx *ctx = NULL;
		struct sva_dev *dev = NULL;
		uint32_t pasid;

		log_buf[0] = '\0';
		if (sva_ctx_new(&o, &ctx) || sva_dev_open(ctx, "drain", &dev)) {
			ok(0, "a client of a broker whose global range starts at 1 (%s)", log_buf);
		} else {
			is_int(sva_dev_pasid_alloc(dev, SVA_PASID_DEVICE, NULL, &pasid), -ERANGE,
			       "global range from 1: SVA_PASID_DEVICE has no block to take: -ERANGE");
			ok(strstr(log_buf, "the broker leased this client none") != NULL,
			   "  saying it is the broker's global range: %s", log_buf);
			int ret = sva_dev_pasid_alloc(dev, SVA_PASID_AUTO, NULL, &pasid);

			ok(ret == 0 && pasid >= 1 && pasid < 1 + 5 * 16,
			   "  and SVA_PASID_AUTO takes one from the client's global block (%d, PASID %u)", ret,
			   ret ? 0 : pasid);
		}
		sva_dev_close(dev);
		sva_ctx_free(ctx);
	}
	kill(bpid, SIGTERM);
	waitpid(bpid, &st, 0);
	unlink("started.drain");
	unlink("started.hang");
	unlink("done.drain");
	unlink("go");
	unlink(program);
	ktest_broker_unlink_lock(sock_path);
	if (chdir("/") == 0)
		rmdir(dir_path);
	return done_testing();
}
