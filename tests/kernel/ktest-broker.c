/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * sva-brokerd on the selftest mock: a broker process and three trusted
 * client processes (SVA_CTX_BROKER).  Each client gets its own PASID from
 * its own block, and a fault on it resolves into that client's memory (read
 * back through the kernel's access path); a client killed with SIGKILL has
 * its PASID detached (the broker runs the owner-side mm_exit first), its
 * IOAS destroyed and its block quarantined, while the others keep working;
 * an unauthorized uid is refused with a clear error; a hostile client's
 * garbage, foreign PASIDs and unknown requests are refused and the broker
 * serves on.  Isolated clients: a fault-around window clipped at the end of a
 * shared range, the per-client isolated-pin-max (over it, faults are answered
 * INVALID with -ENOMEM and prefaults fail; unmapping gives room back), and
 * sva_ctx_unshare_memfd() (the broker unmaps what it mapped from the range,
 * seen through the kernel's access path, also for a raw client that never
 * withdraws anything itself).
 */
#define _GNU_SOURCE /* memfd_create */
#include <dirent.h>
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>

#include "broker_client.h"
#include "ktest_broker.h"

#define PG 4096u
#define VA(i) (0x50000000ull + (uint64_t)(i) * 0x1000000ull) /* inside the mock aperture */
#define NCLIENTS 3
#define PER_CLIENT 16
#define ISO_LEN (1u << 20) /* the isolated client's memfd */
#define ISO_BYTE 0x5a
#define NEAR_LEN (10 * PG) /* shared of the 64 KiB memfd at VA(7): not a window boundary */
#define ISO_PIN (512u << 10) /* isolated-pin-max of the second broker */

/* The socket goes in a directory of its own that every user can search, so
 * the unauthorized client meets the allowlist, not the file permissions. */

struct res {
	int ok;
	uint32_t pasid, hwpt, ioas, fault;
	char why[160];
};

/* Does the fault queue `fault` still exist?  Probed by making a HWPT on it. */
static bool fault_queue_exists(struct sva_dev *dev, struct sva_mm *mm, uint32_t fault)
{
	uint32_t hwpt;
	int ret = sva_iommufd_hwpt_alloc(dev->ctx->fd, dev->info.dev_id, mm->ioas_id,
					 KABI_IOMMU_HWPT_ALLOC_PASID | KABI_IOMMU_HWPT_FAULT_ID_VALID, fault, &hwpt);

	if (!ret)
		sva_iommufd_destroy(dev->ctx->fd, hwpt);
	return ret != -ENOENT;
}

struct cmd {
	/* 'f' another fault; 'c' check a dead peer's PASID, IOAS and fault queue
	 * are gone; 'r' read the isolated client's IOAS; 'x' unbind, free and
	 * exit; 'e' exit() with everything still bound; 'u' after the broker
	 * died: unbind, bind, release */
	char op;
	uint32_t pasid, ioas, fault;
	uint64_t addr; /* 'R': the page to read; want: 1 mapped with ISO_BYTE, 0 not mapped */
	int want;
};

/* ------------------------------------------------------------ the broker */

#define MANY_GROUPS_GID 4242 /* allowed by group, for many_groups() */

static pid_t start_broker(int *mm_exit_rd, bool isolated_only, uint64_t pin_max)
{
	struct broker_conf conf;

	broker_conf_defaults(&conf);
	snprintf(conf.socket, sizeof(conf.socket), "%s", sock_path);
	conf.socket_mode = 0666; /* who may use it is the allowlist's business here */
	conf.pasids_per_client = PER_CLIENT;
	/* Room for exactly NCLIENTS blocks and the raw client's: one more client
	 * after those shows the quarantine. */
	conf.pasid_min = 256;
	conf.pasid_max = 256 + (NCLIENTS + 1) * PER_CLIENT - 1;
	conf.grace_ns = UINT64_MAX;
	conf.ndevs = 1;
	snprintf(conf.devs[0].name, sizeof(conf.devs[0].name), "mock0");
	snprintf(conf.devs[0].source, sizeof(conf.devs[0].source), "mock");
	conf.devs[0].uids[conf.devs[0].nuids++] = 0;
	conf.devs[0].gids[conf.devs[0].ngids++] = MANY_GROUPS_GID;
	conf.devs[0].isolated_only = isolated_only;
	conf.isolated_pin_max = pin_max;
	return broker_fork(&conf, mm_exit_rd, NULL);
}

/*
 * What sva-brokerd finds at its socket path: a live broker's socket, or a
 * file that is no socket, stays (sva-brokerd(8)); only a stale socket goes.
 * A second broker started in this process, with no devices.
 */
static void socket_guard(void)
{
	struct broker b2;
	struct broker_conf conf;
	char file[sizeof(conf.socket)];
	struct stat st;
	int ret;

	broker_conf_defaults(&conf);
	snprintf(conf.socket, sizeof(conf.socket), "%s", sock_path);
	ret = broker_start(&b2, &conf);
	if (!ret)
		broker_fini(&b2);
	is_int(ret, -EADDRINUSE, "a second broker on the first one's live socket is refused");
	/* With a device it cannot open (the first broker holds a real one:
	 * busy): the socket is what it says, before any device is opened. */
	snprintf(conf.devs[0].name, sizeof(conf.devs[0].name), "x");
	snprintf(conf.devs[0].source, sizeof(conf.devs[0].source), "vfio-no-such-device");
	conf.ndevs = 1;
	ret = broker_start(&b2, &conf);
	if (!ret)
		broker_fini(&b2);
	is_int(ret, -EADDRINUSE, "  also with a device it cannot open: the live socket is the reason given");
	conf.ndevs = 0;
	ret = raw_connect(); /* bails if nothing listens */
	ok(ret >= 0, "  and the first one still listens there");
	close(ret);
	snprintf(file, sizeof(file), "%s/not-a-socket", dir_path);
	close(open(file, O_CREAT | O_WRONLY | O_CLOEXEC, 0600));
	snprintf(conf.socket, sizeof(conf.socket), "%s", file);
	ret = broker_start(&b2, &conf);
	if (!ret)
		broker_fini(&b2);
	ok(ret == -EEXIST && stat(file, &st) == 0 && S_ISREG(st.st_mode),
	   "a socket path that is a regular file is refused (%d) and left alone", ret);
	unlink(file);
}

/* ------------------------------------------------------------ the clients */

static char log_buf[512];
static int log_errors;

static void capture_log(void *arg, enum sva_log_level level, const char *msg)
{
	(void)arg;
	if (level >= SVA_LOG_ERROR)
		log_errors++;
	if (level >= SVA_LOG_ERROR && !log_buf[0])
		snprintf(log_buf, sizeof(log_buf), "%s", msg);
}

static int broker_ctx(struct sva_ctx **ctx)
{
	struct sva_ctx_opts o = { .size = sizeof(o), .flags = SVA_CTX_BROKER, .broker_path = sock_path,
				  .pasid_grace_ns = UINT64_MAX, .log_fn = capture_log, .log_level = SVA_LOG_ERROR };

	log_buf[0] = '\0';
	return sva_ctx_new(&o, ctx);
}

/*
 * fork() while a thread of the parent is in the middle of a broker request
 * (holding the connection's lock, as a request does until the reply): the
 * child frees its copy of the context, which takes that lock, and must not
 * wait forever on a copy nobody will release.
 */
static atomic_int mid_state;

static void *hold_conn(void *arg)
{
	struct sva_ctx *ctx = arg;

	pthread_mutex_lock(&ctx->broker->lock);
	atomic_store(&mid_state, 1);
	while (atomic_load(&mid_state) != 2)
		usleep(1000);
	pthread_mutex_unlock(&ctx->broker->lock);
	return NULL;
}

static void fork_mid_request(void)
{
	struct sva_ctx *ctx = NULL;
	pthread_t t;
	pid_t pid;
	int status = 0;
	bool hung;

	if (broker_ctx(&ctx)) {
		ok(0, "fork mid-request: a broker context (%s)", log_buf);
		return;
	}
	atomic_store(&mid_state, 0);
	pthread_create(&t, NULL, hold_conn, ctx);
	while (atomic_load(&mid_state) != 1)
		usleep(1000);
	pid = fork();
	if (pid == 0) {
		alarm(10);
		sva_ctx_free(ctx);
		_exit(0);
	}
	hung = ktest_wait_child(pid, 15000, &status) != 0;
	atomic_store(&mid_state, 2);
	pthread_join(t, NULL);
	ok(!hung && WIFEXITED(status) && WEXITSTATUS(status) == 0,
	   "fork while a thread is in the middle of a broker request: the child frees its copy of the context "
	   "(%s)", hung ? "hung" : WIFEXITED(status) ? "exited" : "killed by a signal");
	sva_ctx_free(ctx);
}

/* Fault on page `page` of client i's buffer; ok if resolved into its own bytes. */
static int fault_own(int i, struct sva_dev *dev, struct sva_bond *bond, struct sva_mm *mm, unsigned page,
		     char *why, size_t len)
{
	struct sva_bond_stats st = { .size = sizeof(st) };
	unsigned char back[PG];
	uint64_t addr = VA(i) + page * (SVA_FA_START * 2);
	int ret = ktest_inject_and_wait(dev, bond, addr + 0x80, SVA_ACCESS_READ | SVA_ACCESS_WRITE, 5000);

	if (ret)
		return snprintf(why, len, "fault at 0x%llx: %s", (unsigned long long)addr, strerror(-ret)), 0;
	sva_bond_stats(bond, &st);
	if (st.invalid)
		return snprintf(why, len, "fault answered INVALID"), 0;
	ret = ktest_access_rw(dev->ctx, mm->ioas_id, addr, back, PG, 0);
	if (ret)
		return snprintf(why, len, "kernel read: %s", strerror(-ret)), 0;
	if (memcmp(back, (void *)(uintptr_t)addr, PG))
		return snprintf(why, len, "the kernel sees other bytes than the client's"), 0;
	return 1;
}

/* The client's own mm_exit, reported to the parent when it exits bound ('e'). */
static int exit_res_fd = -1;

static void client_mm_exit(struct sva_bond *bond, void *drvdata)
{
	struct res r = { .ok = 1, .pasid = sva_bond_pasid(bond) };

	(void)drvdata;
	snprintf(r.why, sizeof(r.why), "(the client's mm_exit ran in its exit destructor)");
	if (exit_res_fd >= 0)
		xwrite(exit_res_fd, &r, sizeof(r));
}

static void client(int i, int cmd_fd, int res_fd)
{
	struct sva_bond_ops ops = { .size = sizeof(ops), .mm_exit = client_mm_exit };
	struct sva_bind_opts bo = { .size = sizeof(bo), .ops = &ops };
	struct res r = { 0 };
	struct sva_ctx *ctx;
	struct sva_dev *dev;
	struct sva_mm *mm;
	struct sva_bond *bond;
	unsigned char *buf;
	unsigned page = 0;
	struct cmd c;
	int ret = broker_ctx(&ctx);

	if (ret) {
		snprintf(r.why, sizeof(r.why), "sva_ctx_new(BROKER): %s: %.100s", strerror(-ret), log_buf);
		xwrite(res_fd, &r, sizeof(r));
		_exit(1);
	}
	if ((ret = sva_dev_open(ctx, "mock0", &dev)) || (ret = sva_mm_new(ctx, NULL, &mm)) ||
	    (ret = sva_bind(dev, mm, &bo, &bond))) {
		snprintf(r.why, sizeof(r.why), "open/mm/bind: %s: %.100s", strerror(-ret), log_buf);
		xwrite(res_fd, &r, sizeof(r));
		_exit(1);
	}
	if (i == 0) {
		struct sva_dev *mock;

		if (sva_dev_open_mock(ctx, NULL, &mock) != -EOPNOTSUPP) {
			snprintf(r.why, sizeof(r.why), "sva_dev_open_mock in a broker context was not refused");
			xwrite(res_fd, &r, sizeof(r));
			_exit(1);
		}
		if ((ret = sva_dev_open_fd(ctx, 0, &mock)) != -EOPNOTSUPP) {
			snprintf(r.why, sizeof(r.why), "sva_dev_open_fd in a broker context: %d, not -EOPNOTSUPP", ret);
			xwrite(res_fd, &r, sizeof(r));
			_exit(1);
		}
		if ((ret = sva_ctx_unshare_memfd(ctx, (void *)(uintptr_t)VA(0), PG)) != -EOPNOTSUPP) {
			snprintf(r.why, sizeof(r.why), "sva_ctx_unshare_memfd in a trusted context: %d", ret);
			xwrite(res_fd, &r, sizeof(r));
			_exit(1);
		}
		/* The broker's device: its RID is the broker's.  One line says so
		 * (a HWPT made first used to add a second, blaming "no PRI"). */
		{
			struct sva_bind_opts ro = { .size = sizeof(ro), .flags = SVA_BIND_RID };
			struct sva_bond *rb;
			int before = log_errors;

			log_buf[0] = '\0';
			ret = sva_bind(dev, mm, &ro, &rb);
			if (ret != -EOPNOTSUPP || log_errors - before != 1 || !strstr(log_buf, "belongs to the broker")) {
				snprintf(r.why, sizeof(r.why), "RID bind of the broker's device: %d, %d line(s): %.100s",
					 ret, log_errors - before, log_buf);
				xwrite(res_fd, &r, sizeof(r));
				_exit(1);
			}
		}
	}
	buf = ktest_map_at(VA(i), 16 * SVA_FA_START, PROT_READ | PROT_WRITE);
	memset(buf, 0x11 * (i + 1), 16 * SVA_FA_START);
	r.pasid = sva_bond_pasid(bond);
	r.hwpt = bond->hwpt->id;
	r.ioas = mm->ioas_id;
	r.fault = ctx->fe.fault_id;
	r.ok = fault_own(i, dev, bond, mm, page++, r.why, sizeof(r.why));
	xwrite(res_fd, &r, sizeof(r));
	while (xread(cmd_fd, &c, sizeof(c)) == 0) {
		memset(&r, 0, sizeof(r));
		if (c.op == 'f') {
			r.ok = fault_own(i, dev, bond, mm, page++, r.why, sizeof(r.why));
			r.ok = r.ok && ktest_pasid_check(dev, sva_bond_pasid(bond), bond->hwpt->id) == 0;
			/* The probe the 'c' check relies on sees a live queue. */
			r.ok = r.ok && fault_queue_exists(dev, mm, ctx->fe.fault_id);
		} else if (c.op == 'c') {
			unsigned char b;

			/* The broker cleans up right after the peer's end; a loaded
			 * host under emulation may delay it: 10 s by the clock. */
			for (uint64_t end = ktest_now_ns() + 10000000000ull; ktest_now_ns() < end;) {
				r.ok = ktest_pasid_check(dev, c.pasid, 0) == 0;
				if (!r.ok)
					snprintf(r.why, sizeof(r.why), "PASID %u is still attached", c.pasid);
				ret = ktest_access_rw(ctx, c.ioas, VA(0), &b, 1, 0);
				if (r.ok && ret != -ENOENT) {
					r.ok = 0;
					snprintf(r.why, sizeof(r.why), "IOAS %u still exists (%d)", c.ioas, ret);
				}
				if (r.ok && fault_queue_exists(dev, mm, c.fault)) {
					r.ok = 0;
					snprintf(r.why, sizeof(r.why), "fault queue %u still exists", c.fault);
				}
				if (r.ok)
					break;
				usleep(10000);
			}
		} else if (c.op == 'r') {
			unsigned char back[PG], want[PG];

			memset(want, ISO_BYTE, sizeof(want));
			ret = ktest_access_rw(ctx, c.ioas, VA(5) + 3 * PG, back, PG, 0);
			r.ok = ret == 0 && memcmp(back, want, PG) == 0;
			snprintf(r.why, sizeof(r.why), "(read %d)", ret);
		} else if (c.op == 'R') {
			unsigned char back[PG], want[PG];

			memset(want, ISO_BYTE, sizeof(want));
			ret = ktest_access_rw(ctx, c.ioas, c.addr, back, PG, 0);
			r.ok = c.want ? ret == 0 && memcmp(back, want, PG) == 0 : ret != 0;
			snprintf(r.why, sizeof(r.why), "(the kernel's read of 0x%llx: %d)", (unsigned long long)c.addr, ret);
		} else if (c.op == 'u') {
			/* The broker is gone: unbind, bind again, and release, none may hang. */
			struct sva_bond *again = NULL;
			int e0 = log_errors, u = sva_unbind(bond), e1 = log_errors, b2 = sva_bind(dev, mm, &bo, &again);

			/* One error line per failure, none for a success (libsva(7)). */
			r.ok = u == 0 && b2 == -ECONNRESET && e1 == e0 && log_errors == e1 + 1;
			snprintf(r.why, sizeof(r.why), "(unbind %d with %d error lines, bind again %d with %d)", u, e1 - e0,
				 b2, log_errors - e1);
			sva_mm_free(mm);
			sva_dev_close(dev);
			sva_ctx_free(ctx);
			xwrite(res_fd, &r, sizeof(r));
			_exit(0);
		} else if (c.op == 'e') {
			exit_res_fd = res_fd;
			exit(0);
		} else {
			r.ok = sva_unbind(bond) == 0;
			sva_mm_free(mm);
			sva_dev_close(dev);
			sva_ctx_free(ctx);
			xwrite(res_fd, &r, sizeof(r));
			_exit(0);
		}
		xwrite(res_fd, &r, sizeof(r));
	}
	_exit(0);
}

/* ------------------------------------------------- an isolated client */

static uint32_t peer_ioas; /* a trusted client's IOAS, set before the fork */
static _Atomic int iso_reason; /* the last fault_error's reason: the fault thread's, read by the test */

static void iso_fault_error(struct sva_bond *bond, const struct sva_fault_report *rep, void *drvdata)
{
	(void)bond;
	(void)drvdata;
	iso_reason = rep->reason;
}

/* A fault with access rights in the isolated client: 1 answered as wanted
 * (want_reason 0: resolved; else INVALID with that reason). */
static int iso_fault_as(struct sva_dev *dev, struct sva_bond *bond, uint64_t addr, uint32_t access, int want_reason,
			char *why, size_t len)
{
	struct sva_bond_stats a = { .size = sizeof(a) }, b = { .size = sizeof(b) };
	int ret;

	sva_bond_stats(bond, &a);
	iso_reason = 0;
	ret = ktest_inject_and_wait(dev, bond, addr, access, 5000);
	sva_bond_stats(bond, &b);
	if (ret)
		return snprintf(why, len, "fault at 0x%llx: %s", (unsigned long long)addr, strerror(-ret)), 0;
	if (b.invalid - a.invalid != (want_reason != 0) || iso_reason != want_reason)
		return snprintf(why, len, "fault at 0x%llx: %llu INVALID, reason %d (wanted %d)",
				(unsigned long long)addr, (unsigned long long)(b.invalid - a.invalid), iso_reason,
				want_reason),
		       0;
	return 1;
}

/* A read and write fault (iso_fault_as). */
static int iso_fault(struct sva_dev *dev, struct sva_bond *bond, uint64_t addr, int want_reason, char *why,
		     size_t len)
{
	return iso_fault_as(dev, bond, addr, SVA_ACCESS_READ | SVA_ACCESS_WRITE, want_reason, why, len);
}

/*
 * 'w': the rights of a shared memfd behind a writable mapping of the process
 * (sva_ctx_share_memfd(3)).  Page 0 is shared through a read-only descriptor,
 * page 1 through the memfd itself and then sealed with F_SEAL_FUTURE_WRITE.
 * On both, the device reads (read faults used to be refused -EACCES: the
 * engine asked for a writable map, which the broker refuses whole) and a
 * write is refused -EACCES (the seal added after the share used to be
 * ignored: a write fault resolved, and the device could write the memfd).
 */
static int iso_rights(struct sva_ctx *ctx, struct sva_dev *dev, struct sva_mm *mm, struct sva_bond *bond, char *why,
		      size_t len)
{
	const uint64_t va = VA(8);
	int fd = memfd_create("ktest-broker-rights", MFD_CLOEXEC | MFD_ALLOW_SEALING), ro, ret;
	struct sva_mem_opts mo = { .size = sizeof(mo), .mm = mm };
	char proc[64];
	void *mem = NULL;

	/* Nothing of sva_mem_alloc()'s would be reachable here: refused. */
	if ((ret = sva_mem_alloc(PG, &mo, &mem)) != -EOPNOTSUPP || mem)
		return snprintf(why, len, "sva_mem_alloc with an isolated mm: %d, not -EOPNOTSUPP", ret), 0;
	mo.mm = NULL;
	mo.dev = dev;
	if ((ret = sva_mem_alloc(PG, &mo, &mem)) != -EOPNOTSUPP || mem)
		return snprintf(why, len, "sva_mem_alloc with an isolated device: %d, not -EOPNOTSUPP", ret), 0;

	if (fd < 0 || ftruncate(fd, 2 * PG))
		return snprintf(why, len, "memfd: %s", strerror(errno)), 0;
	mem = mmap((void *)(uintptr_t)va, 2 * PG, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED_NOREPLACE, fd, 0);
	if (mem != (void *)(uintptr_t)va)
		return snprintf(why, len, "mmap: %s", strerror(errno)), 0;
	memset(mem, ISO_BYTE, 2 * PG);
	snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fd);
	ro = open(proc, O_RDONLY | O_CLOEXEC);
	if (ro < 0)
		return snprintf(why, len, "read-only open: %s", strerror(errno)), 0;
	if ((ret = sva_ctx_share_memfd(ctx, ro, 0, mem, PG)) != 0 ||
	    (ret = sva_ctx_share_memfd(ctx, fd, PG, (char *)mem + PG, PG)) != 0)
		return snprintf(why, len, "share: %s", strerror(-ret)), 0;
	close(ro);
	if (fcntl(fd, F_ADD_SEALS, F_SEAL_FUTURE_WRITE))
		return snprintf(why, len, "F_SEAL_FUTURE_WRITE: %s", strerror(errno)), 0;
	close(fd);
	for (int i = 0; i < 2; i++) {
		const char *what = i ? "sealed since its share" : "shared read-only";
		uint64_t at = va + (uint64_t)i * PG + 8;
		size_t n = strlen(why);

		if (!iso_fault_as(dev, bond, at, SVA_ACCESS_WRITE, -EACCES, why, len))
			return snprintf(why + strlen(why), len - strlen(why), " (%s: a write)", what), 0;
		why[n] = '\0';
		if (!iso_fault_as(dev, bond, at, SVA_ACCESS_READ, 0, why, len))
			return snprintf(why + strlen(why), len - strlen(why), " (%s: a read)", what), 0;
		if (!iso_fault_as(dev, bond, at, SVA_ACCESS_WRITE, -EACCES, why, len))
			return snprintf(why + strlen(why), len - strlen(why), " (%s: a write after the read)", what), 0;
	}
	if ((ret = sva_ctx_unshare_memfd(ctx, mem, PG)) != 0 ||
	    (ret = sva_ctx_unshare_memfd(ctx, (char *)mem + PG, PG)) != 0)
		return snprintf(why, len, "unshare: %s", strerror(-ret)), 0;
	munmap(mem, 2 * PG);
	return 1;
}

/* 'n': a fault on the last page of a range shared short of its mapping's end. */
static int iso_near_end(struct sva_ctx *ctx, struct sva_dev *dev, struct sva_bond *bond, char *why, size_t len)
{
	struct sva_bond_stats a = { .size = sizeof(a) }, b = { .size = sizeof(b) };
	int fd = memfd_create("ktest-broker-near", MFD_CLOEXEC), ret;
	void *mem;

	if (fd < 0 || ftruncate(fd, SVA_FA_START))
		return snprintf(why, len, "memfd: %s", strerror(errno)), 0;
	mem = mmap((void *)(uintptr_t)VA(7), SVA_FA_START, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED_NOREPLACE,
		   fd, 0);
	if (mem != (void *)(uintptr_t)VA(7))
		return snprintf(why, len, "mmap: %s", strerror(errno)), 0;
	memset(mem, ISO_BYTE, SVA_FA_START);
	if ((ret = sva_ctx_share_memfd(ctx, fd, 0, mem, NEAR_LEN)) != 0)
		return snprintf(why, len, "share: %s", strerror(-ret)), 0;
	close(fd); /* the broker holds its own */
	sva_bond_stats(bond, &a);
	if (!iso_fault(dev, bond, VA(7) + NEAR_LEN - PG + 8, 0, why, len))
		return 0;
	sva_bond_stats(bond, &b);
	snprintf(why, len, "(%llu pages mapped)", (unsigned long long)(b.pages_mapped - a.pages_mapped));
	return b.pages_mapped - a.pages_mapped >= 1 && b.pages_mapped - a.pages_mapped <= NEAR_LEN / PG;
}

/* 'q': isolated-pin-max (ISO_PIN) full of prefaulted pages. */
static int iso_quota(struct sva_dev *dev, struct sva_mm *mm, struct sva_bond *bond, char *why, size_t len)
{
	void *half = (void *)(uintptr_t)(VA(5) + ISO_LEN / 2);
	long got;
	int ret;

	/* Nothing mapped: the whole limit for the prefault. */
	sva_mm_invalidate(mm, (void *)(uintptr_t)VA(5), ISO_LEN);
	sva_mm_invalidate(mm, (void *)(uintptr_t)VA(7), SVA_FA_START);
	if ((ret = sva_mm_prefault(mm, half, ISO_PIN)) != 0)
		return snprintf(why, len, "prefault of the whole isolated-pin-max: %s", strerror(-ret)), 0;
	if (!iso_fault(dev, bond, VA(5) + 8, -ENOMEM, why, len))
		return 0;
	log_buf[0] = '\0';
	if ((ret = sva_mm_prefault(mm, (void *)(uintptr_t)VA(5), PG)) != -ENOMEM)
		return snprintf(why, len, "a prefault over isolated-pin-max: %d, not -ENOMEM", ret), 0;
	/* Its line names the limit that refused it, not the client's memlock. */
	if (!strstr(log_buf, "isolated-pin-max") || strstr(log_buf, "ulimit"))
		return snprintf(why, len, "the over-limit prefault's line: %.80s", log_buf), 0;
	if ((got = sva_mm_invalidate(mm, half, ISO_PIN)) != ISO_PIN)
		return snprintf(why, len, "unmapping the prefault: %ld", got), 0;
	return iso_fault(dev, bond, VA(5) + 8, 0, why, len);
}

/*
 * 'k': the broker stopped mapping a range the client still counts as shared,
 * as when another thread's sva_ctx_unshare_memfd() lands between a prefault's
 * check and its map (the unshare is sent here behind the client's back, so
 * the race is made, not waited for): the broker's "not shared" is -EFAULT,
 * as sva_mm_prefault(3) says for an isolated client, and a device fault there
 * is answered INVALID with -EFAULT, not "pages the kernel cannot pin" (-EPERM,
 * which the memfd's pages never are).
 */
static int iso_unshared_behind(struct sva_ctx *ctx, struct sva_mm *mm, struct sva_dev *dev, struct sva_bond *bond,
			       char *why, size_t len)
{
	const uint64_t va = VA(10);
	struct sva_broker_msg m;
	void *mem;
	int fd, ret;

	fd = memfd_create("ktest-broker-k", MFD_CLOEXEC);
	if (fd < 0 || ftruncate(fd, 4 * PG))
		return snprintf(why, len, "memfd: %s", strerror(errno)), 0;
	mem = mmap((void *)(uintptr_t)va, 4 * PG, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED_NOREPLACE, fd, 0);
	if (mem != (void *)(uintptr_t)va)
		return snprintf(why, len, "mmap of the memfd: %s", strerror(errno)), 0;
	memset(mem, ISO_BYTE, 4 * PG);
	ret = sva_ctx_share_memfd(ctx, fd, 0, mem, 4 * PG);
	close(fd);
	if (ret)
		return snprintf(why, len, "share: %s", strerror(-ret)), 0;
	sva_broker_msg_init(&m, SVA_BOP_PX_UNSHARE);
	m.arg[0] = va;
	m.arg[1] = 4 * PG;
	if ((ret = sva_broker_rpc(ctx->broker, &m, -1, NULL)) != 0)
		return snprintf(why, len, "the unshare sent to the broker: %s", strerror(-ret)), 0;
	log_buf[0] = '\0';
	if ((ret = sva_mm_prefault(mm, mem, PG)) != -EFAULT)
		return snprintf(why, len, "a prefault the broker refused as not shared: %d, not -EFAULT: %.80s", ret,
				log_buf),
		       0;
	return iso_fault(dev, bond, va + PG + 8, -EFAULT, why, len);
}

/*
 * 'h': a hugetlbfs memfd pins whole 2 MiB pages, however little of one is
 * mapped: 4 KiB of it shared and prefaulted counts 2 MiB against
 * isolated-pin-max (ISO_PIN, 512 KiB), so it does not fit (-ENOMEM), nor does
 * a device fault there.  Without 2 MiB pages in the pool (run-vm.sh
 * --hugepages), nothing to check.
 */
static int iso_huge(struct sva_ctx *ctx, struct sva_mm *mm, struct sva_dev *dev, struct sva_bond *bond, char *why,
		    size_t len)
{
	const uint64_t va = VA(11);
	void *mem;
	int fd, ret;

	fd = memfd_create("ktest-broker-h", MFD_CLOEXEC | MFD_HUGETLB);
	if (fd < 0 || ftruncate(fd, 2u << 20)) {
		if (fd >= 0)
			close(fd);
		return snprintf(why, len, "(no 2 MiB hugetlb pages: not checked)"), 1;
	}
	mem = mmap((void *)(uintptr_t)va, 2u << 20, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED_NOREPLACE, fd, 0);
	if (mem != (void *)(uintptr_t)va) {
		close(fd);
		return snprintf(why, len, "(the hugetlb memfd could not be mapped at 0x%llx: not checked)",
				(unsigned long long)va), 1;
	}
	memset(mem, ISO_BYTE, PG);
	ret = sva_ctx_share_memfd(ctx, fd, 0, mem, PG);
	close(fd);
	if (ret)
		return snprintf(why, len, "sharing 4 KiB of a hugetlb memfd: %s", strerror(-ret)), 0;
	if ((ret = sva_mm_prefault(mm, mem, PG)) != -ENOMEM) {
		if (!ret)
			sva_mm_invalidate(mm, mem, PG);
		sva_ctx_unshare_memfd(ctx, mem, PG);
		return snprintf(why, len, "a prefault of 4 KiB of a 2 MiB page under a %u KiB isolated-pin-max: %d, not "
				"-ENOMEM", ISO_PIN >> 10, ret), 0;
	}
	if (!iso_fault(dev, bond, va + 8, -ENOMEM, why, len))
		return 0;
	if ((ret = sva_ctx_unshare_memfd(ctx, mem, PG)) != 0)
		return snprintf(why, len, "unshare: %s", strerror(-ret)), 0;
	return 1;
}

/* 'u': bad unshares and shares refused, then the 1 MiB memfd at VA(5) unshared. */
static int iso_unshare(struct sva_ctx *ctx, struct sva_dev *dev, struct sva_bond *bond, char *why, size_t len)
{
	const void *va = (void *)(uintptr_t)VA(5);
	int ret;

	if ((ret = sva_ctx_unshare_memfd(NULL, va, ISO_LEN)) != -EINVAL ||
	    (ret = sva_ctx_unshare_memfd(ctx, va, 0)) != -EINVAL ||
	    (ret = sva_ctx_unshare_memfd(ctx, (const char *)va + 8, ISO_LEN)) != -EINVAL)
		return snprintf(why, len, "NULL ctx, len 0 or a misaligned address: %d, not -EINVAL", ret), 0;
	if ((ret = sva_ctx_unshare_memfd(ctx, (const char *)va + PG, ISO_LEN - PG)) != -ENOENT ||
	    (ret = sva_ctx_unshare_memfd(ctx, (void *)(uintptr_t)VA(6), PG)) != -ENOENT)
		return snprintf(why, len, "part of a shared range, or one never shared: %d, not -ENOENT", ret), 0;
	if ((ret = sva_ctx_share_memfd(ctx, -1, 0, (void *)(uintptr_t)VA(6), PG)) != -EBADF)
		return snprintf(why, len, "sharing descriptor -1: %d, not -EBADF", ret), 0;
	/* A write-only descriptor: the device may read only what the client can. */
	{
		int mfd = memfd_create("ktest-broker-wo", MFD_CLOEXEC), wo = -1;
		char proc[64];

		snprintf(proc, sizeof(proc), "/proc/self/fd/%d", mfd);
		if (mfd < 0 || ftruncate(mfd, PG) || (wo = open(proc, O_WRONLY | O_CLOEXEC)) < 0)
			return snprintf(why, len, "memfd: %s", strerror(errno)), 0;
		log_buf[0] = '\0';
		ret = sva_ctx_share_memfd(ctx, wo, 0, (void *)(uintptr_t)VA(6), PG);
		close(wo);
		close(mfd);
		if (ret != -EACCES || !strstr(log_buf, "writing only"))
			return snprintf(why, len, "a write-only descriptor: %d (%.80s), not -EACCES", ret, log_buf), 0;
	}
	/* What the broker cannot map is refused at the share, not at a later fault. */
	{
		int p[2], mfd = memfd_create("ktest-broker-short", MFD_CLOEXEC), bad;

		if (mfd < 0 || ftruncate(mfd, PG) || pipe(p))
			return snprintf(why, len, "memfd or pipe: %s", strerror(errno)), 0;
		log_buf[0] = '\0';
		bad = sva_ctx_share_memfd(ctx, p[0], 0, (void *)(uintptr_t)VA(6), PG);
		ret = -1;
		if (strstr(log_buf, "not a memfd")) {
			log_buf[0] = '\0';
			ret = sva_ctx_share_memfd(ctx, mfd, PG, (void *)(uintptr_t)VA(6), PG);
		}
		close(p[0]);
		close(p[1]);
		close(mfd);
		if (bad != -EINVAL || ret != -EINVAL || !strstr(log_buf, "shorter"))
			return snprintf(why, len, "a pipe, a memfd's range past its end: %d, %d, not -EINVAL (%.80s)", bad,
					ret, log_buf),
			       0;
	}
	/* An offset whose end wraps: refused here, not by the broker. */
	log_buf[0] = '\0';
	if ((ret = sva_ctx_share_memfd(ctx, 0, UINT64_MAX & ~(uint64_t)(PG - 1), (void *)(uintptr_t)VA(6), PG)) !=
		    -EINVAL ||
	    !strstr(log_buf, "sva_ctx_share_memfd: addr, offset and len"))
		return snprintf(why, len, "an offset whose end wraps: %d (%.80s), not -EINVAL", ret, log_buf), 0;
	if ((ret = sva_ctx_unshare_memfd(ctx, va, ISO_LEN)) != 0)
		return snprintf(why, len, "unshare: %s: %.100s", strerror(-ret), log_buf), 0;
	if ((ret = sva_ctx_unshare_memfd(ctx, va, ISO_LEN)) != -ENOENT)
		return snprintf(why, len, "unsharing twice: %d, not -ENOENT", ret), 0;
	/* Memory of the process, but not shared: the broker cannot map it. */
	log_buf[0] = '\0';
	if ((ret = sva_mm_prefault(bond->mm, va, PG)) != -EFAULT || !strstr(log_buf, "shared"))
		return snprintf(why, len, "a prefault of unshared memory: %d (%.80s), not -EFAULT", ret, log_buf), 0;
	return iso_fault(dev, bond, VA(5) + 8, -EFAULT, why, len);
}

/* sva_ctx_fd() of the context in a forked child: what it returned there. */
static int child_ctx_fd(struct sva_ctx *ctx)
{
	int p[2], ret = -1;
	pid_t pid;

	if (pipe(p))
		return -1;
	pid = fork();
	if (pid == 0) {
		ret = sva_ctx_fd(ctx);
		_exit(write(p[1], &ret, sizeof(ret)) == sizeof(ret) ? 0 : 1);
	}
	close(p[1]);
	if (pid < 0 || read(p[0], &ret, sizeof(ret)) != sizeof(ret))
		ret = -1;
	close(p[0]);
	if (pid > 0)
		waitpid(pid, NULL, 0);
	return ret;
}

/* sva_dev_iova_ranges of the device its bind parked, as a local context
 * reads it: the mock's aperture, as the address space has it. */
static int iso_ranges(struct sva_dev *dev, struct sva_mm *mm)
{
	struct sva_iova_range d[64], a[64];
	size_t nd = 64, na = 64;
	int ret = sva_dev_iova_ranges(dev, d, &nd);

	if (ret || (ret = sva_mm_iova_ranges(mm, a, &na)))
		return ret;
	return nd && nd == na && !memcmp(d, a, nd * sizeof(*d)) ? 0 : -EDOM;
}

static void iso_client(int cmd_fd, int res_fd)
{
	struct sva_ctx_opts o = { .size = sizeof(o), .flags = SVA_CTX_BROKER | SVA_CTX_ISOLATED,
				  .broker_path = sock_path, .log_fn = capture_log, .log_level = SVA_LOG_ERROR };
	struct sva_bond_stats st = { .size = sizeof(st) };
	struct sva_bond_ops ops = { .size = sizeof(ops), .fault_error = iso_fault_error };
	struct sva_bind_opts bo = { .size = sizeof(bo), .ops = &ops };
	struct res r = { 0 };
	struct sva_ctx *ctx;
	struct sva_dev *dev;
	struct sva_mm *mm;
	struct sva_bond *bond;
	uint32_t hwpt;
	struct cmd c;
	void *mem;
	int ret, memfd, why = 0;

	log_buf[0] = '\0';
	if ((ret = sva_ctx_new(&o, &ctx)) || (ret = sva_dev_open(ctx, "mock0", &dev)) ||
	    (ret = sva_mm_new(ctx, NULL, &mm)) || (ret = sva_bind(dev, mm, &bo, &bond))) {
		snprintf(r.why, sizeof(r.why), "isolated ctx/open/mm/bind: %s: %.100s", strerror(-ret), log_buf);
		xwrite(res_fd, &r, sizeof(r));
		_exit(1);
	}
	memfd = memfd_create("ktest-broker", MFD_CLOEXEC);
	if (memfd < 0 || ftruncate(memfd, ISO_LEN))
		ktest_bail("memfd: %s", strerror(errno));
	mem = mmap((void *)(uintptr_t)VA(5), ISO_LEN, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED_NOREPLACE, memfd, 0);
	if (mem != (void *)(uintptr_t)VA(5))
		ktest_bail("mmap of the memfd: %s", strerror(errno));
	memset(mem, ISO_BYTE, ISO_LEN);
	ktest_map_at(VA(6), ISO_LEN, PROT_READ | PROT_WRITE); /* private memory, never shared */
	r.pasid = sva_bond_pasid(bond);
	r.ioas = mm->ioas_id;
	r.fault = ctx->fe.fault_id;
	r.ok = 1;
	if (sva_ctx_fd(ctx) != -EOPNOTSUPP)
		why = snprintf(r.why, sizeof(r.why), "it has an iommufd (%d)", sva_ctx_fd(ctx));
	else if ((ret = child_ctx_fd(ctx)) != -EOPNOTSUPP) /* it used to give the socket there */
		why = snprintf(r.why, sizeof(r.why), "in a forked child, sva_ctx_fd gave %d, not -EOPNOTSUPP", ret);
	else if ((ret = iso_ranges(dev, mm)) != 0) /* the broker refused the parking IOAS's (-EPERM) */
		why = snprintf(r.why, sizeof(r.why), "the parked device's IOVA ranges: %s: %.100s", strerror(-ret),
			       log_buf);
	else if ((ret = sva_ctx_share_memfd(ctx, memfd, 0, mem, ISO_LEN)) != 0)
		why = snprintf(r.why, sizeof(r.why), "share: %s: %.100s", strerror(-ret), log_buf);
	else if ((ret = ktest_inject_and_wait(dev, bond, VA(5) + 3 * PG + 8, SVA_ACCESS_READ | SVA_ACCESS_WRITE,
					      5000)) != 0)
		why = snprintf(r.why, sizeof(r.why), "fault in the memfd: %s", strerror(-ret));
	else if (sva_bond_stats(bond, &st), st.invalid != 0)
		why = snprintf(r.why, sizeof(r.why), "a fault in the memfd answered INVALID");
	else if ((ret = ktest_inject_and_wait(dev, bond, VA(6) + 8, SVA_ACCESS_READ, 5000)) != 0)
		why = snprintf(r.why, sizeof(r.why), "fault in private memory: %s", strerror(-ret));
	else if (sva_bond_stats(bond, &st), st.invalid != 1 || iso_reason != -EFAULT)
		why = snprintf(r.why, sizeof(r.why), "a fault in private memory: %llu INVALID, reason %d, not -EFAULT",
			       (unsigned long long)st.invalid, iso_reason);
	else if ((ret = sva_iommufd_ioas_map(ctx->fd, peer_ioas, VA(5), PG, VA(5),
					     KABI_IOMMU_IOAS_MAP_FIXED_IOVA | KABI_IOMMU_IOAS_MAP_READABLE)) != -EPERM)
		why = snprintf(r.why, sizeof(r.why), "mapping into the peer's IOAS %u: %d", peer_ioas, ret);
	else if ((ret = sva_iommufd_destroy(ctx->fd, peer_ioas)) != -EPERM)
		why = snprintf(r.why, sizeof(r.why), "destroying the peer's IOAS: %d", ret);
	else if ((ret = sva_iommufd_hwpt_alloc(ctx->fd, dev->info.dev_id, peer_ioas, KABI_IOMMU_HWPT_ALLOC_PASID, 0,
					       &hwpt)) != -EPERM)
		why = snprintf(r.why, sizeof(r.why), "a HWPT on the peer's IOAS: %d", ret);
	if (why)
		r.ok = 0;
	xwrite(res_fd, &r, sizeof(r));
	while (xread(cmd_fd, &c, sizeof(c)) == 0) {
		memset(&r, 0, sizeof(r));
		r.ioas = mm->ioas_id;
		if (c.op == 'h' || c.op == 'k' || c.op == 'n' || c.op == 'q' || c.op == 'u' || c.op == 'v' || c.op == 'w') {
			if (c.op == 'h')
				r.ok = iso_huge(ctx, mm, dev, bond, r.why, sizeof(r.why));
			else if (c.op == 'k')
				r.ok = iso_unshared_behind(ctx, mm, dev, bond, r.why, sizeof(r.why));
			else if (c.op == 'w')
				r.ok = iso_rights(ctx, dev, mm, bond, r.why, sizeof(r.why));
			else if (c.op == 'n')
				r.ok = iso_near_end(ctx, dev, bond, r.why, sizeof(r.why));
			else if (c.op == 'q')
				r.ok = iso_quota(dev, mm, bond, r.why, sizeof(r.why));
			else if (c.op == 'u')
				r.ok = iso_unshare(ctx, dev, bond, r.why, sizeof(r.why));
			else if ((ret = sva_ctx_share_memfd(ctx, memfd, 0, mem, ISO_LEN)) != 0)
				snprintf(r.why, sizeof(r.why), "sharing again: %s", strerror(-ret));
			else
				r.ok = iso_fault(dev, bond, VA(5) + 8, 0, r.why, sizeof(r.why));
			xwrite(res_fd, &r, sizeof(r));
			continue;
		}
		r.ok = sva_unbind(bond) == 0;
		sva_mm_free(mm);
		sva_dev_close(dev);
		sva_ctx_free(ctx);
		xwrite(res_fd, &r, sizeof(r));
		_exit(0);
	}
	_exit(0);
}

struct cl {
	pid_t pid;
	int cmd, res;
	struct res first;
};

/* Client i, or an isolated client for i < 0. */
static void run_client(void *arg, int cmd_fd, int res_fd)
{
	int i = *(int *)arg;

	if (i < 0)
		iso_client(cmd_fd, res_fd);
	client(i, cmd_fd, res_fd);
}

static void spawn(struct cl *c, int i)
{
	c->pid = fork_client(run_client, &i, &c->cmd, &c->res);
	if (xread(c->res, &c->first, sizeof(c->first)))
		memset(&c->first, 0, sizeof(c->first));
}

static struct res ask3(struct cl *c, char op, const struct res *peer)
{
	struct cmd m = { .op = op, .pasid = peer->pasid, .ioas = peer->ioas, .fault = peer->fault };
	struct res r = { 0 };

	client_call(c->cmd, c->res, &m, sizeof(m), &r, sizeof(r), r.why, sizeof(r.why));
	return r;
}

static struct res ask(struct cl *c, char op, uint32_t pasid, uint32_t ioas)
{
	struct cmd m = { .op = op, .pasid = pasid, .ioas = ioas };
	struct res r = { 0 };

	client_call(c->cmd, c->res, &m, sizeof(m), &r, sizeof(r), r.why, sizeof(r.why));
	return r;
}

/* Client c reads page addr of IOAS ioas through the kernel: want mapped (ISO_BYTE) or not. */
static struct res ask_read(struct cl *c, uint32_t ioas, uint64_t addr, int want)
{
	struct cmd m = { .op = 'R', .ioas = ioas, .addr = addr, .want = want };
	struct res r = { 0 };

	client_call(c->cmd, c->res, &m, sizeof(m), &r, sizeof(r), r.why, sizeof(r.why));
	return r;
}

static bool in_block(uint32_t pasid, uint32_t first)
{
	return pasid >= first && pasid < first + PER_CLIENT;
}

/* ---------------------------------------------------- refused clients */

/*
 * Run fn in a child as uid and gid 65534 (nobody), in these supplementary
 * groups if any are given: its exit status, or -1.  The VM's / may be closed
 * to others, so the child reaches the socket from its own directory, by a
 * relative path.
 */
static int as_nobody(int ngroups, const gid_t *groups, int (*fn)(void))
{
	int st = 0;
	pid_t pid = fork();

	if (pid == 0) {
		if (chdir(dir_path) || (ngroups && setgroups((size_t)ngroups, groups)) || setgid(65534) ||
		    setuid(65534))
			_exit(10);
		snprintf(sock_path, sizeof(sock_path), "socket");
		_exit(fn());
	}
	waitpid(pid, &st, 0);
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static int refused_by_allowlist(void)
{
	struct sva_ctx *ctx;

	if (broker_ctx(&ctx) != -EACCES)
		return 11;
	if (strstr(log_buf, "uid 65534") && strstr(log_buf, "allowlist"))
		return 0;
	printf("# the log said: %s\n", log_buf);
	return 12;
}

static void unauthorized(void)
{
	is_int(as_nobody(0, NULL, refused_by_allowlist), 0,
	       "uid 65534 (nobody) is refused with -EACCES and a log line naming its uid and the allowlist");
}

static int served(void)
{
	struct sva_ctx *ctx;
	int ret = broker_ctx(&ctx);

	if (ret) {
		printf("# sva_ctx_new: %s: %s\n", strerror(-ret), log_buf);
		return 11;
	}
	sva_ctx_free(ctx);
	return 0;
}

/*
 * A user allowed by one of its supplementary groups, in more than 64 groups
 * (the allowed one 71st): the broker read 64 and, told ERANGE, none.
 */
static void many_groups(void)
{
	gid_t groups[80];

	for (int i = 0; i < 80; i++)
		groups[i] = i == 70 ? MANY_GROUPS_GID : (gid_t)(5000 + i);
	is_int(as_nobody(80, groups, served), 0, "uid 65534 in 80 groups, the 71st allowed: served");
}

/*
 * max-clients: a client beyond it gets -EUSERS (sva_ctx_new(3)), every time.
 * The broker used to close at once with the hello unread, which resets the
 * connection: the client read ECONNRESET about half the time.
 */
/* The defaults, on the test's socket (mode 0666), with one mock device "mock0" for root. */
static void mock_conf(struct broker_conf *conf)
{
	broker_conf_defaults(conf);
	snprintf(conf->socket, sizeof(conf->socket), "%s", sock_path);
	conf->socket_mode = 0666;
	conf->ndevs = 1;
	snprintf(conf->devs[0].name, sizeof(conf->devs[0].name), "mock0");
	snprintf(conf->devs[0].source, sizeof(conf->devs[0].source), "mock");
	conf->devs[0].uids[conf->devs[0].nuids++] = 0;
}

/* A broker with max-clients 1, full: *first is its one client, served. */
static pid_t full_broker(int *first, const char *what)
{
	struct broker_conf conf;
	struct sva_broker_msg m;
	pid_t pid;

	mock_conf(&conf);
	conf.max_clients = 1;
	pid = broker_fork(&conf, NULL, "with max-clients 1");
	*first = raw_connect();
	is_int(raw_hello(*first, &m, SVA_BROKER_TRUSTED), 0, "%s: the first client is served", what);
	return pid;
}

static void max_clients(void)
{
	int st, first, eusers = 0, other = 0;
	pid_t pid = full_broker(&first, "max-clients 1");

	for (int i = 0; i < 20; i++) {
		struct sva_ctx *ctx;
		int ret = broker_ctx(&ctx);

		if (!ret)
			sva_ctx_free(ctx);
		eusers += ret == -EUSERS;
		other += ret != -EUSERS;
	}
	ok(eusers == 20, "  20 more clients: each refused -EUSERS (%d), nothing else (%d)", eusers, other);
	close(first);
	kill(pid, SIGTERM);
	waitpid(pid, &st, 0);
	unlink(sock_path);
}

/*
 * clients-per-user: one uid's client beyond it gets -EUSERS naming the
 * directive, while another uid is still served and the first uid is served
 * again once one of its clients ends.
 */
static void clients_per_user(void)
{
	struct broker_conf conf;
	struct sva_ctx *ctx[2] = { NULL, NULL }, *more = NULL;
	int st, ret, got[2];
	pid_t pid;

	mock_conf(&conf);
	conf.max_clients = 8;
	conf.clients_per_user = 2;
	conf.devs[0].uids[conf.devs[0].nuids++] = 65534;
	pid = broker_fork(&conf, NULL, "with clients-per-user 2");
	for (int i = 0; i < 2; i++)
		got[i] = broker_ctx(&ctx[i]);
	ok(got[0] == 0 && got[1] == 0, "clients-per-user 2: root's first two clients are served (%d, %d)", got[0],
	   got[1]);
	ret = broker_ctx(&more);
	if (!ret)
		sva_ctx_free(more);
	ok(ret == -EUSERS && strstr(log_buf, "uid 0 has 2 clients") && strstr(log_buf, "clients-per-user"),
	   "  its third gets -EUSERS, the log naming the uid and clients-per-user (%d: %s)", ret, log_buf);
	is_int(as_nobody(0, NULL, served), 0, "  uid 65534 is still served");
	sva_ctx_free(ctx[1]);
	/* The broker learns of the end when it next polls: wait by the clock. */
	KTEST_WAIT_WHILE((ret = broker_ctx(&more)) == -EUSERS, 10000);
	is_int(ret, 0, "  once one of root's clients ends, root is served again");
	if (!ret)
		sva_ctx_free(more);
	sva_ctx_free(ctx[0]);
	kill(pid, SIGTERM);
	waitpid(pid, &st, 0);
	ok(WIFEXITED(st) && WEXITSTATUS(st) == 0, "  the broker ends cleanly (status 0x%x)", st);
	unlink(sock_path);
}

/* Is s closed by the broker within 5 s, with an orderly end (no reset)? */
static bool closed_cleanly(int s)
{
	struct pollfd p = { .fd = s, .events = POLLIN };
	char buf[sizeof(struct sva_broker_msg)];

	return poll(&p, 1, 5000) == 1 && recv(s, buf, sizeof(buf), MSG_DONTWAIT) == 0;
}

/*
 * Once full, the broker used to wait up to 200 ms for each refused
 * connection's hello, serving no one meanwhile: three silent connections
 * held its clients up for 600 ms.  It must answer them at once, keep the
 * refused connections open until their hello comes (then close them with
 * no reset) or their deadline (1 s), and never wait for either.
 */
static void refusals_do_not_stall(void)
{
	struct sva_broker_msg m;
	int st, fd, first, silent[3], still_open = 0;
	pid_t pid = full_broker(&first, "refusals");
	uint64_t t0 = sva_now_ns(), took;

	for (int i = 0; i < 3; i++) {
		silent[i] = raw_connect();
		fd = -1;
		is_int(sva_broker_recv(silent[i], &m, &fd) ? -EIO : m.status, -EUSERS,
		       "  silent connection %d: refused -EUSERS before its hello", i);
		if (fd >= 0)
			close(fd);
	}
	is_int(raw_hello(first, &m, SVA_BROKER_TRUSTED), -EALREADY, "  the served client still gets its answers");
	took = sva_now_ns() - t0;
	for (int i = 0; i < 3; i++) {
		char c;

		still_open += recv(silent[i], &c, 1, MSG_DONTWAIT) < 0 && errno == EAGAIN;
	}
	if (took > 900000000ull) {
		char why[128];

		snprintf(why, sizeof(why), "the test itself took %llu ms, near the 1 s a refused connection is kept",
			 (unsigned long long)(took / 1000000));
		skip(1, why);
	} else
		ok(still_open == 3, "  ... while the 3 refused connections wait for their hello (%d open after %llu ms)",
		   still_open, (unsigned long long)(took / 1000000));
	sva_broker_msg_init(&m, SVA_BOP_HELLO);
	ok(sva_broker_send(silent[0], &m, -1) == 0 && closed_cleanly(silent[0]),
	   "  a refused connection is closed once its hello comes, with no reset");
	ok(closed_cleanly(silent[1]) && closed_cleanly(silent[2]),
	   "  the silent ones are closed at their deadline, with no reset");
	for (int i = 0; i < 3; i++)
		close(silent[i]);
	close(first);
	kill(pid, SIGTERM);
	waitpid(pid, &st, 0);
	ok(WIFEXITED(st) && WEXITSTATUS(st) == 0, "  the broker ends cleanly (status 0x%x)", st);
	unlink(sock_path);
}

/* The broker's CPU time so far, in clock ticks (utime + stime). */
static long cpu_ticks(pid_t pid)
{
	char path[64], buf[1024], *p;
	unsigned long ut = 0, stime = 0;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	f = fopen(path, "r");
	if (!f)
		return -1;
	p = fgets(buf, sizeof(buf), f) ? strrchr(buf, ')') : NULL;
	fclose(f);
	/* After the name: state ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt utime stime */
	if (!p || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &ut, &stime) != 2)
		return -1;
	return (long)(ut + stime);
}

/*
 * Out of file descriptors (a broker whose RLIMIT_NOFILE is small, here 32,
 * hard limit too, so it cannot raise it): the connection it cannot accept
 * used to stay in the backlog, poll() reported it again at once, and the
 * broker spun at 100% CPU while that client waited for good.  It must stay
 * idle, refuse the client (-EMFILE in the hello's reply) and keep serving.
 */
static void fd_exhaustion(void)
{
	struct rlimit old, low = { .rlim_cur = 32, .rlim_max = 32 };
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct broker_conf conf;
	struct sva_broker_msg m;
	int socks[48], n = 0, refused = 0, st, fd;
	long t0, t1;
	pid_t pid;

	mock_conf(&conf);
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", sock_path);
	getrlimit(RLIMIT_NOFILE, &old);
	if (setrlimit(RLIMIT_NOFILE, &low))
		ktest_bail("setrlimit: %s", strerror(errno));
	pid = broker_fork(&conf, NULL, "with 32 file descriptors");
	if (setrlimit(RLIMIT_NOFILE, &old))
		ktest_bail("setrlimit back: %s", strerror(errno));
	for (int i = 0; i < 48; i++) {
		int s = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0), c = -1;

		/* A full backlog (EAGAIN) for 3 s: the broker stopped accepting. */
		for (int tries = 0; s >= 0 && tries < 300; tries++) {
			c = connect(s, (struct sockaddr *)&sa, sizeof(sa));
			if (c == 0 || errno != EAGAIN)
				break;
			usleep(10000);
		}
		if (c) {
			if (s >= 0)
				close(s);
			break;
		}
		sva_broker_msg_init(&m, SVA_BOP_HELLO);
		m.arg[0] = SVA_BROKER_TRUSTED;
		sva_broker_send(s, &m, -1);
		socks[n++] = s;
	}
	usleep(500000);
	t0 = cpu_ticks(pid);
	usleep(1000000);
	t1 = cpu_ticks(pid);
	for (int i = 0; i < n; i++) {
		int flags = fcntl(socks[i], F_GETFL);
		struct timeval tv = { .tv_sec = 2 }; /* a reply that never comes: a failure, not a hang */

		fcntl(socks[i], F_SETFL, flags & ~O_NONBLOCK);
		setsockopt(socks[i], SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
		/* The last connections are the refused ones: one reply, then EOF. */
		if (i >= n - 8 && sva_broker_recv(socks[i], &m, &fd) == 0) {
			refused += m.status == -EMFILE;
			if (fd >= 0)
				close(fd);
		}
	}
	ok(n == 48, "48 connections to a broker with 32 descriptors: none left hanging in the backlog (%d)", n);
	ok(t0 >= 0 && t1 - t0 < 30, "  and the broker stays idle meanwhile (%ld ticks of CPU in 1 s)", t1 - t0);
	ok(refused > 0, "  the last ones are refused with -EMFILE in the hello's reply (%d of 8)", refused);
	for (int i = 0; i < n; i++)
		close(socks[i]);
	kill(pid, SIGTERM);
	waitpid(pid, &st, 0);
	unlink(sock_path);
}

/* A broker with one mock device, `blocks` global blocks of 64 from 17, and
 * the device's own PASIDs [1, 16] in blocks of 16: one block. */
static pid_t one_block_broker(unsigned blocks)
{
	struct broker_conf conf;

	mock_conf(&conf);
	conf.pasid_min = 17;
	conf.pasid_max = 17 + blocks * 64 - 1;
	conf.pasids_per_client = 64;
	conf.dev_pasids_per_client = 16;
	conf.grace_ns = UINT64_MAX;
	return broker_fork(&conf, NULL, "with one-block PASID ranges");
}

static void stop_broker(pid_t pid)
{
	int st;

	kill(pid, SIGTERM);
	waitpid(pid, &st, 0);
	unlink(sock_path);
}

/*
 * A range of exactly one block is one block: the broker numbered blocks from
 * 0, and a space whose largest value is 0 means "up to SVA_PASID_MAX", so a
 * second client got a block past the range (global), or past the device's own
 * PASIDs (sva_dev_open() then failed with -EPROTO).
 */
static void one_block(void)
{
	struct sva_ctx *c1 = NULL, *c2 = NULL;
	struct sva_dev *d1 = NULL, *d2 = NULL;
	uint32_t p = 0;
	pid_t pid = one_block_broker(1);
	int ret;

	is_int(broker_ctx(&c1), 0, "one global block: the first client is served");
	ret = broker_ctx(&c2);
	is_int(ret, -ENOSPC, "  a second client: -ENOSPC, no block left (was served past the range)");
	if (!ret)
		sva_ctx_free(c2);
	sva_ctx_free(c1);
	stop_broker(pid);

	pid = one_block_broker(2);
	if (broker_ctx(&c1) || broker_ctx(&c2))
		ktest_bail("two clients of two global blocks: %s", log_buf);
	is_int(sva_dev_open(c1, "mock0", &d1), 0, "one block of own PASIDs: the first client opens the device");
	ret = d1 ? sva_dev_pasid_alloc(d1, SVA_PASID_DEVICE, NULL, &p) : -ENODEV;
	ok(ret == 0 && p >= 1 && p <= 16, "  and allocates one of them (%d, %u)", ret, p);
	ret = sva_dev_open(c2, "mock0", &d2);
	is_int(ret, 0, "  a second client opens it too (was -EPROTO: own PASIDs leased past the device's)");
	if (!ret) {
		is_int(sva_dev_pasid_alloc(d2, SVA_PASID_DEVICE, NULL, &p), -ENOSPC,
		       "  and its SVA_PASID_DEVICE allocations fail -ENOSPC");
		sva_dev_close(d2);
	} else {
		skip(1, "the second client could not open the device");
	}
	sva_dev_close(d1);
	sva_ctx_free(c2);
	sva_ctx_free(c1);
	stop_broker(pid);
}

/*
 * 64 broker contexts per process: the 65th is refused -EMFILE before its
 * hello (which would lease a block only to quarantine it), and a forked child
 * of a process at the limit creates contexts of its own (it counted its
 * parent's, which it cannot use).
 */
static void context_limit(void)
{
	struct broker_conf conf;
	static struct sva_ctx *ctx[65];
	int n = 0, ret = 0;
	pid_t pid;

	mock_conf(&conf);
	conf.max_clients = 100;
	conf.pasid_min = 256;
	conf.pasid_max = 256 + 66 * 16 - 1; /* 66 blocks: the parent's 64, the child's, one spare */
	conf.pasids_per_client = 16;
	conf.grace_ns = UINT64_MAX;
	pid = broker_fork(&conf, NULL, "with room for 66 clients");
	while (n < 65 && (ret = broker_ctx(&ctx[n])) == 0)
		n++;
	ok(n == 64 && ret == -EMFILE, "64 broker contexts in one process, then -EMFILE (%d contexts, %d)", n, ret);
	int st;
	pid_t child = fork();

	if (child == 0) {
		struct sva_ctx *c = NULL;

		ret = broker_ctx(&c);
		sva_ctx_free(c);
		_exit(ret == 0 ? 0 : 1);
	}
	waitpid(child, &st, 0);
	ok(WIFEXITED(st) && WEXITSTATUS(st) == 0, "a child of a process at the limit creates a context of its own");
	/* 66 blocks: 64 held, the child's in quarantine, and one left only if
	 * the refused 65th did not lease (and quarantine) it. */
	if (n > 0) {
		sva_ctx_free(ctx[--n]);
		ret = broker_ctx(&ctx[n]);
		is_int(ret, 0, "the refused 65th took no block: with room again, the parent gets the last one");
		if (!ret)
			n++;
	}
	while (n > 0)
		sva_ctx_free(ctx[--n]);
	stop_broker(pid);
}

/*
 * One or two descriptors free: the socket takes one, and the iommufd in the
 * broker's reply, or the context's duplicate of it, has no room.  With one
 * free the kernel dropped the iommufd (MSG_CTRUNC) and sva_ctx_new() said
 * -EPROTO, with two the duplicate failed; either way the hello had leased the
 * broker's only block, which then sat in quarantine (the next client got
 * -ENOSPC).  Now -EMFILE, before the hello.
 */
static void fd_limit(void)
{
	struct rlimit old, low;
	int fds[64], ret;
	pid_t pid = one_block_broker(1);

	getrlimit(RLIMIT_NOFILE, &old);
	low = old;
	low.rlim_cur = 64;
	if (setrlimit(RLIMIT_NOFILE, &low))
		ktest_bail("setrlimit(RLIMIT_NOFILE): %s", strerror(errno));
	for (int spare = 1; spare <= 2; spare++) {
		struct sva_ctx *ctx = NULL;
		int n = 0;

		for (int f; n < 64 && (f = open("/dev/null", O_RDONLY | O_CLOEXEC)) >= 0;)
			fds[n++] = f;
		if (n < spare || n == 64 || errno != EMFILE)
			ktest_bail("could not fill the descriptor table (%d: %s)", n, strerror(errno));
		for (int i = 0; i < spare; i++)
			close(fds[--n]);
		ret = broker_ctx(&ctx);
		is_int(ret, -EMFILE, "%d descriptor(s) free: the broker context fails -EMFILE (%s)", spare, log_buf);
		ok(ret ? ctx == NULL : ctx != NULL, "  *out untouched");
		if (!ret)
			sva_ctx_free(ctx);
		while (n > 0)
			close(fds[--n]);
	}
	setrlimit(RLIMIT_NOFILE, &old);
	{
		struct sva_ctx *ctx = NULL;

		ret = broker_ctx(&ctx);
		is_int(ret, 0, "  with room again, the broker's only block is still free (%s)", log_buf);
		if (!ret)
			sva_ctx_free(ctx);
	}
	stop_broker(pid);
}

/*
 * A broker stopped with SIGTERM ends its clients first, as if they had died:
 * their PASIDs detached, the objects they created (and the mock) destroyed.
 * A trusted client's next bind, prefault and fault injection say the broker
 * went away (-ECONNRESET, as after SIGKILL), not what the kernel says of the
 * destroyed objects (-ENOENT), and its unbinds succeed (nothing is attached
 * any more) instead of retiring the PASIDs (-EIO).
 */
static void clean_stop(void)
{
	struct sva_bind_opts pin = { .size = sizeof(pin), .flags = SVA_BIND_PINNED };
	struct sva_bond *faulting = NULL, *pinned = NULL, *late = NULL;
	struct sva_mm *mm = NULL, *mm2 = NULL, *mm3 = NULL;
	struct sva_ctx *ctx = NULL;
	struct sva_dev *dev = NULL;
	unsigned char *mem;
	pid_t pid = one_block_broker(2);

	if (broker_ctx(&ctx) || sva_dev_open(ctx, "mock0", &dev) || sva_mm_new(ctx, NULL, &mm) ||
	    sva_mm_new(ctx, NULL, &mm2) || sva_mm_new(ctx, NULL, &mm3) || sva_bind(dev, mm, NULL, &faulting) ||
	    sva_bind(dev, mm2, &pin, &pinned))
		ktest_bail("a trusted client with two bonds: %s", log_buf);
	mem = ktest_map_at(0x58000000ull, 1u << 20, PROT_READ | PROT_WRITE);
	memset(mem, 1, 1u << 20);
	is_int(sva_mm_prefault(mm2, mem, 65536), 0, "before the broker stops, a prefault works");
	stop_broker(pid);
	log_errors = 0;
	is_int(sva_bind(dev, mm3, &pin, &late), -ECONNRESET, "after the broker stopped (SIGTERM): bind -ECONNRESET");
	is_int(log_errors, 1, "  one error line for the failed bind (libsva(7), Errors)");
	log_errors = 0;
	log_buf[0] = '\0';
	is_int(sva_mm_prefault(mm2, mem + 65536, 65536), -ECONNRESET, "  prefault -ECONNRESET");
	ok(log_errors == 1 && strstr(log_buf, "broker went away"), "  with one error line, saying why: %s", log_buf);
	is_int(sva_dev_inject_fault(dev, sva_bond_pasid(faulting), (uintptr_t)mem, SVA_ACCESS_READ, 0), -ECONNRESET,
	       "  fault injection -ECONNRESET");
	/* Their pages' contract: the IOAS the broker destroyed on its way out
	 * is the broker gone, not the kernel's -ENOENT about an ID. */
	{
		struct sva_iova_range r[8];
		size_t nr = 8;

		is_int(sva_dev_iova_ranges(dev, r, &nr), -ECONNRESET, "  sva_dev_iova_ranges -ECONNRESET");
		nr = 8;
		is_int(sva_mm_iova_ranges(mm, r, &nr), -ECONNRESET, "  sva_mm_iova_ranges of a bound mm -ECONNRESET");
		nr = 8;
		is_int(sva_mm_iova_ranges(mm3, r, &nr), -ECONNRESET, "  sva_mm_iova_ranges of an unbound mm -ECONNRESET");
		is_int(sva_mm_prefault(mm3, mem, 65536), -ECONNRESET, "  prefault of an unbound mm -ECONNRESET");
	}
	log_errors = 0;
	is_int(sva_unbind(faulting), 0, "  the fault-capable bond's unbind succeeds (the broker detached it)");
	is_int(sva_unbind(pinned), 0, "  and the pinned one's");
	is_int(log_errors, 0, "  and a successful unbind logs no error");
	sva_mm_free(mm3);
	sva_mm_free(mm2);
	sva_mm_free(mm);
	sva_dev_close(dev);
	sva_ctx_free(ctx);
	munmap(mem, 1u << 20);
}

/*
 * The same for an isolated client, whose fault injection goes through the
 * broker: its line said "the broker refused: Connection reset by peer"
 * (Z64); the broker refused nothing, it is gone.
 */
static void iso_clean_stop(void)
{
	struct sva_ctx_opts io = { .size = sizeof(io), .flags = SVA_CTX_BROKER | SVA_CTX_ISOLATED,
				   .broker_path = sock_path, .log_fn = capture_log, .log_level = SVA_LOG_ERROR };
	struct sva_bond *bond = NULL;
	struct sva_ctx *ctx = NULL;
	struct sva_dev *dev = NULL;
	struct sva_mm *mm = NULL;
	pid_t pid = one_block_broker(2);

	if (sva_ctx_new(&io, &ctx) || sva_dev_open(ctx, "mock0", &dev) || sva_mm_new(ctx, NULL, &mm) ||
	    sva_bind(dev, mm, NULL, &bond))
		ktest_bail("an isolated client with a bond: %s", log_buf);
	stop_broker(pid);
	log_errors = 0;
	log_buf[0] = '\0';
	is_int(sva_dev_inject_fault(dev, sva_bond_pasid(bond), 0x58000000ull, SVA_ACCESS_READ, 0), -ECONNRESET,
	       "isolated, after the broker stopped: fault injection -ECONNRESET");
	ok(log_errors == 1 && strstr(log_buf, "broker went away") && !strstr(log_buf, "refused"),
	   "  with one error line that says the broker went away: %s", log_buf);
	sva_unbind(bond);
	sva_mm_free(mm);
	sva_dev_close(dev);
	sva_ctx_free(ctx);
}

/*
 * A trusted raw client registers an id that names no object and hangs up.
 * The broker's destroy of it fails -ENOENT, and it was kept and retried for
 * 10 s: once the kernel gave that id (the lowest free one) to another
 * client's new IOAS, the retry destroyed it (Z64).  An id that is gone is
 * dropped.
 */
static void made_up_id(void)
{
	struct sva_broker_msg m;
	struct sva_ctx *ctx = NULL;
	struct sva_mm *mm = NULL;
	unsigned char *mem;
	uint32_t id;
	pid_t pid = one_block_broker(2);
	int s;

	if (broker_ctx(&ctx) || sva_mm_new(ctx, NULL, &mm))
		ktest_bail("a trusted client: %s", log_buf);
	id = mm->ioas_id;
	sva_mm_free(mm); /* the id is free: the next IOAS gets it */
	s = raw_connect();
	if (raw_hello(s, &m, SVA_BROKER_TRUSTED))
		ktest_bail("raw hello");
	sva_broker_msg_init(&m, SVA_BOP_REGISTER);
	m.arg[0] = id;
	if (sva_broker_send(s, &m, -1))
		ktest_bail("register");
	close(s);
	usleep(100000); /* the broker ends the client */
	if (sva_mm_new(ctx, NULL, &mm))
		ktest_bail("sva_mm_new: %s", log_buf);
	if (mm->ioas_id != id) {
		char why[96];

		snprintf(why, sizeof(why), "the new IOAS got id %u, not the made-up %u", mm->ioas_id, id);
		skip(1, why);
	} else {
		usleep(200000); /* ten turns of the broker's 20 ms retries */
		mem = ktest_map_at(0x5a000000ull, 65536, PROT_READ | PROT_WRITE);
		memset(mem, 1, 65536);
		is_int(sva_mm_prefault(mm, mem, 65536), 0,
		       "an id a hung-up client made up is not retried: another client's IOAS that got it lives (%s)",
		       log_buf);
		munmap(mem, 65536);
	}
	sva_mm_free(mm);
	sva_ctx_free(ctx);
	stop_broker(pid);
}

/*
 * A trusted raw client registers one id over and over.  Each used to take a
 * slot of its 65536: a real object registered after them was not recorded,
 * and stayed when the client died; and the repeated id was destroyed once
 * per registration, the second time whatever object the kernel had given
 * that id meanwhile (Z64).  A repeat is recorded once.
 */
static void registered_twice(void)
{
	struct sva_broker_msg m;
	struct sva_ctx *ctx = NULL;
	struct sva_mm *a = NULL, *b = NULL;
	unsigned char *mem;
	pid_t pid = one_block_broker(2);
	int s;

	if (broker_ctx(&ctx) || sva_mm_new(ctx, NULL, &a) || sva_mm_new(ctx, NULL, &b))
		ktest_bail("a trusted client: %s", log_buf);
	s = raw_connect();
	if (raw_hello(s, &m, SVA_BROKER_TRUSTED))
		ktest_bail("raw hello");
	for (unsigned i = 0; i <= 65536; i++) {
		sva_broker_msg_init(&m, SVA_BOP_REGISTER);
		m.arg[0] = a->ioas_id;
		if (sva_broker_send(s, &m, -1))
			ktest_bail("register %u", i);
	}
	sva_broker_msg_init(&m, SVA_BOP_REGISTER);
	m.arg[0] = b->ioas_id;
	if (sva_broker_send(s, &m, -1))
		ktest_bail("register");
	close(s); /* the broker destroys what the client registered */
	mem = ktest_map_at(0x5b000000ull, 65536, PROT_READ | PROT_WRITE);
	memset(mem, 1, 65536);
	KTEST_WAIT_WHILE(sva_mm_prefault(b, mem, 65536) != -ENOENT, 10000);
	log_buf[0] = '\0';
	ok(sva_mm_prefault(b, mem, 65536) < 0,
	   "an id registered 65537 times takes one slot: the next object registered is destroyed at the client's end too");
	munmap(mem, 65536);
	sva_mm_free(b);
	sva_mm_free(a);
	sva_ctx_free(ctx);
	stop_broker(pid);
}

/*
 * Run by hand, as the README shows, the broker's socket directory
 * (/run/sva-brokerd, which the systemd unit makes) may not exist: the broker
 * makes that last component (it failed: "cannot listen on ...: No such file
 * or directory"), never a whole missing path.
 */
static void socket_dir_made(void)
{
	struct broker_conf conf;
	struct sva_ctx *ctx = NULL;
	char saved[sizeof(sock_path)], sub[sizeof(dir_path) + 8];
	struct stat st;
	pid_t pid;

	memcpy(saved, sock_path, sizeof(saved));
	snprintf(sub, sizeof(sub), "%s/made", dir_path);
	if ((size_t)snprintf(sock_path, sizeof(sock_path), "%s/socket", sub) >= sizeof(sock_path))
		ktest_bail("socket path too long");
	mock_conf(&conf);
	pid = broker_fork(&conf, NULL, "with its socket's directory missing");
	ok(stat(sub, &st) == 0 && S_ISDIR(st.st_mode) && (st.st_mode & 07777) == 0755,
	   "the socket's missing directory is made, mode 0755");
	is_int(broker_ctx(&ctx), 0, "  and clients connect (%s)", log_buf);
	sva_ctx_free(ctx);
	stop_broker(pid);
	/* The broker's lock file stays (sva-brokerd(8), FILES): the directory
	 * goes only once it does. */
	ktest_broker_unlink_lock(sock_path);
	rmdir(sub);
	if ((size_t)snprintf(sock_path, sizeof(sock_path), "%s/a/b/socket", dir_path) >= sizeof(sock_path))
		ktest_bail("socket path too long");
	mock_conf(&conf);
	{
		struct broker probe = { 0 };

		ok(broker_start(&probe, &conf) != 0 && stat(sock_path, &st) != 0,
		   "  a path missing more than its last directory is refused, nothing made");
	}
	memcpy(sock_path, saved, sizeof(saved));
}

static void hostile(uint32_t foreign_pasid, uint32_t hwpt)
{
	struct sva_broker_msg m;
	char junk[37] = "not a broker message";
	int s = raw_connect(), fd;

	sva_broker_msg_init(&m, SVA_BOP_OPEN);
	strcpy(m.text, "mock0");
	is_int(raw_call(s, &m), -EPROTO, "hostile: a request before hello is refused (-EPROTO)");
	sva_broker_msg_init(&m, 77);
	is_int(raw_call(s, &m), -EPROTO, "hostile: an unknown op before hello too");
	is_int(raw_hello(s, &m, 77), -EOPNOTSUPP, "hostile: an unknown trust mode is refused");
	close(s);
	/* The blocks are all taken or quarantined now: hello itself says so. */
	s = raw_connect();
	is_int(raw_hello(s, &m, SVA_BROKER_TRUSTED), -ENOSPC,
	       "a fourth client gets no PASIDs: the dead client's block is in quarantine");
	close(s);
	(void)foreign_pasid;
	(void)hwpt;
	s = raw_connect();
	if (send(s, junk, sizeof(junk), 0) != (ssize_t)sizeof(junk))
		ktest_bail("send");
	ok(sva_broker_recv(s, &m, &fd) == 0 && m.status == -EBADMSG, "hostile: garbage is answered -EBADMSG");
	is_int(sva_broker_recv(s, &m, &fd), -ECONNRESET, "hostile: and the broker hangs up");
	close(s);
}

/* How many files process pid has open. */
static int open_fds(pid_t pid)
{
	char path[64];
	struct dirent *e;
	DIR *d;
	int n = 0;

	snprintf(path, sizeof(path), "/proc/%d/fd", (int)pid);
	if (!(d = opendir(path)))
		return -1;
	while ((e = readdir(d)))
		n += e->d_name[0] != '.';
	closedir(d);
	return n;
}

/* A raw isolated client's IOMMU_IOAS_MAP of [va, va + len) at IOVA == VA: the reply's status. */
static int raw_map(int s, struct sva_broker_msg *m, uint32_t ioas, uint64_t va, uint64_t len, uint32_t flags)
{
	sva_broker_msg_init(m, SVA_BOP_PX_IOAS_MAP);
	m->arg[0] = ioas;
	m->arg[1] = m->arg[3] = va;
	m->arg[2] = len;
	m->arg[4] = flags;
	return raw_call(s, m);
}

/*
 * A raw isolated client that never withdraws anything itself: what the broker
 * maps for it counts against isolated-pin-max, an unmap cutting a mapping is
 * refused whole, and an unshare has the broker unmap the range (peer reads
 * the IOAS through the kernel).
 */
static void raw_isolated(struct cl *peer)
{
	const uint32_t rw = KABI_IOMMU_IOAS_MAP_FIXED_IOVA | KABI_IOMMU_IOAS_MAP_READABLE |
			    KABI_IOMMU_IOAS_MAP_WRITEABLE;
	unsigned char page[PG];
	struct sva_broker_msg m;
	int s = raw_connect(), fd = memfd_create("ktest-broker-raw", MFD_CLOEXEC), rfd = -1;
	uint32_t ioas;
	struct res r;

	memset(page, ISO_BYTE, sizeof(page));
	if (fd < 0 || ftruncate(fd, ISO_LEN) || pwrite(fd, page, PG, 0) != PG || pwrite(fd, page, PG, ISO_PIN / 2) != PG)
		ktest_bail("memfd: %s", strerror(errno));
	is_int(raw_hello(s, &m, SVA_BROKER_ISOLATED), 0, "raw isolated client: hello");
	sva_broker_msg_init(&m, SVA_BOP_PX_IOAS_ALLOC);
	is_int(raw_call(s, &m), 0, "raw isolated client: an IOAS");
	ioas = (uint32_t)m.arg[0];
	sva_broker_msg_init(&m, SVA_BOP_PX_SHARE);
	m.arg[1] = VA(9);
	m.arg[2] = ISO_LEN;
	if (sva_broker_send(s, &m, fd) || sva_broker_recv(s, &m, &rfd))
		ktest_bail("share: the broker went away");
	is_int(m.status, 0, "raw isolated client: shares a 1 MiB memfd");
	if (rfd >= 0)
		close(rfd);
	is_int(raw_map(s, &m, ioas, VA(9), ISO_LEN, rw), -ENOMEM, "mapping all of it, more than isolated-pin-max (%u KiB): -ENOMEM", ISO_PIN >> 10);
	ok(strstr(m.text, "isolated-pin-max") != NULL, "  saying so: %s", m.text);
	for (int k = 0; k < 3; k++) {
		is_int(raw_map(s, &m, ioas, VA(9) + k * (ISO_PIN / 2), k < 2 ? ISO_PIN / 2 : PG, rw), k < 2 ? 0 : -ENOMEM, "%s", k == 0 ? "mapping half the limit"
						     : k == 1 ? "the other half: exactly the limit"
							      : "one page more: -ENOMEM");
	}
	sva_broker_msg_init(&m, SVA_BOP_PX_IOAS_UNMAP);
	m.arg[0] = ioas;
	m.arg[1] = VA(9) + PG;
	m.arg[2] = ISO_PIN / 2;
	is_int(raw_call(s, &m), -ENOENT, "an unmap cutting a mapping is refused whole (-ENOENT)");
	r = ask_read(peer, ioas, VA(9), 1);
	ok(r.ok, "  the mapping is still there %s", r.why);
	sva_broker_msg_init(&m, SVA_BOP_PX_IOAS_UNMAP);
	m.arg[0] = ioas;
	m.arg[1] = VA(9);
	m.arg[2] = ISO_PIN / 2;
	is_int(raw_call(s, &m), 0, "an unmap of a whole mapping");
	r = ask_read(peer, ioas, VA(9), 0);
	ok(r.ok, "  is gone from the kernel's view %s", r.why);
	is_int(raw_map(s, &m, ioas, VA(9), ISO_PIN / 2, rw), 0, "  and its bytes count no more: mapped again within the limit");
	sva_broker_msg_init(&m, SVA_BOP_PX_UNSHARE);
	m.arg[0] = VA(9);
	m.arg[1] = ISO_LEN / 2;
	is_int(raw_call(s, &m), -ENOENT, "unsharing part of a range: -ENOENT");
	r = ask_read(peer, ioas, VA(9) + ISO_PIN / 2, 1);
	ok(r.ok, "  the memfd is still mapped %s", r.why);
	sva_broker_msg_init(&m, SVA_BOP_PX_UNSHARE);
	m.arg[0] = VA(9);
	m.arg[1] = ISO_LEN;
	is_int(raw_call(s, &m), 0, "unsharing the range, the client unmapping nothing itself");
	r = ask_read(peer, ioas, VA(9), 0);
	ok(r.ok, "  the broker unmapped the first mapping from it %s", r.why);
	r = ask_read(peer, ioas, VA(9) + ISO_PIN / 2, 0);
	ok(r.ok, "  and the second one %s", r.why);
	is_int(raw_map(s, &m, ioas, VA(9), PG, rw), -EFAULT, "  and maps nothing of it any more (-EFAULT)");
	sva_broker_msg_init(&m, SVA_BOP_PX_UNSHARE);
	m.arg[0] = VA(9);
	m.arg[1] = ISO_LEN;
	is_int(raw_call(s, &m), -ENOENT, "unsharing it twice: -ENOENT");
	/* Shared through a read-only descriptor: devices may read it, not write. */
	{
		char proc[64];
		int ro;

		snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fd);
		ro = open(proc, O_RDONLY | O_CLOEXEC);
		sva_broker_msg_init(&m, SVA_BOP_PX_SHARE);
		m.arg[1] = VA(9);
		m.arg[2] = PG;
		if (ro < 0 || sva_broker_send(s, &m, ro) || sva_broker_recv(s, &m, &rfd))
			ktest_bail("read-only share: %s", strerror(errno));
		close(ro);
		is_int(m.status, 0, "a memfd shared through a read-only descriptor");
		is_int(raw_map(s, &m, ioas, VA(9), PG, rw), -EACCES, "  is never mapped writable for the device (-EACCES)");
		is_int(raw_map(s, &m, ioas, VA(9), PG, rw & ~KABI_IOMMU_IOAS_MAP_WRITEABLE), 0, "  but read-only, yes");
		sva_broker_msg_init(&m, SVA_BOP_PX_UNSHARE);
		m.arg[0] = VA(9);
		m.arg[1] = PG;
		is_int(raw_call(s, &m), 0, "  and unshared");
	}
	/* Shared through a write-only descriptor: the device must not read
	 * what the client cannot (review Z53: it was mapped readable). */
	{
		char proc[64];
		int wo;

		snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fd);
		wo = open(proc, O_WRONLY | O_CLOEXEC);
		sva_broker_msg_init(&m, SVA_BOP_PX_SHARE);
		m.arg[1] = VA(9);
		m.arg[2] = PG;
		if (wo < 0 || sva_broker_send(s, &m, wo) || sva_broker_recv(s, &m, &rfd))
			ktest_bail("write-only share: %s", strerror(errno));
		close(wo);
		is_int(m.status, -EACCES, "a memfd shared through a write-only descriptor is refused (-EACCES)");
		is_int(raw_map(s, &m, ioas, VA(9), PG, rw & ~KABI_IOMMU_IOAS_MAP_WRITEABLE), -EFAULT,
		       "  and nothing of it is mapped (-EFAULT: not shared)");
	}
	/* Maps that are not whole pages: isolated-pin-max counts bytes, the
	 * kernel pins pages (review Z53: 128 maps of half a page each pinned
	 * twice what the limit allowed on the mock's 2 KiB IOMMU pages). */
	{
		sva_broker_msg_init(&m, SVA_BOP_PX_SHARE);
		m.arg[1] = VA(9);
		m.arg[2] = ISO_LEN;
		if (sva_broker_send(s, &m, fd) || sva_broker_recv(s, &m, &rfd))
			ktest_bail("share: the broker went away");
		is_int(m.status, 0, "the 1 MiB memfd shared again");
		is_int(raw_map(s, &m, ioas, VA(9), PG / 2, rw), -EINVAL, "  a map of half a page: -EINVAL");
		is_int(raw_map(s, &m, ioas, VA(9) + PG / 2, PG / 2, rw), -EINVAL, "  one starting mid-page: -EINVAL");
		is_int(raw_map(s, &m, ioas, VA(9) + PG, PG, rw), 0, "  a whole page: mapped");
		sva_broker_msg_init(&m, SVA_BOP_PX_UNSHARE);
		m.arg[0] = VA(9);
		m.arg[1] = ISO_LEN;
		is_int(raw_call(s, &m), 0, "  and unshared");
	}
	/* Pages past the memfd's end, truncated since the share, on this IOAS
	 * that no HWPT holds (review Z64: the kernel, which pins nothing
	 * there, took the map, and the device's first HWPT on the IOAS failed
	 * -EINVAL instead; sva_ctx_share_memfd(3) promises -EINVAL). */
	{
		int tf = memfd_create("ktest-broker-trunc", MFD_CLOEXEC);

		if (tf < 0 || ftruncate(tf, 2 * PG) || pwrite(tf, page, PG, 0) != PG || pwrite(tf, page, PG, PG) != PG)
			ktest_bail("memfd: %s", strerror(errno));
		sva_broker_msg_init(&m, SVA_BOP_PX_SHARE);
		m.arg[1] = VA(9);
		m.arg[2] = 2 * PG;
		if (sva_broker_send(s, &m, tf) || sva_broker_recv(s, &m, &rfd))
			ktest_bail("share: the broker went away");
		is_int(m.status, 0, "a 2-page memfd shared");
		if (ftruncate(tf, PG))
			ktest_bail("ftruncate: %s", strerror(errno));
		is_int(raw_map(s, &m, ioas, VA(9) + PG, PG, rw), -EINVAL,
		       "  truncated to 1 page: a map of the page past its end, on an IOAS with no HWPT, is refused (-EINVAL)");
		ok(strstr(m.text, "past the memfd's end") != NULL, "  saying so: %s", m.text);
		r = ask_read(peer, ioas, VA(9) + PG, 0);
		ok(r.ok, "  and nothing is mapped there %s", r.why);
		is_int(raw_map(s, &m, ioas, VA(9), 2 * PG, rw), -EINVAL, "  a map of both pages: -EINVAL too");
		is_int(raw_map(s, &m, ioas, VA(9), PG, rw), 0, "  the page inside the file: mapped");
		r = ask_read(peer, ioas, VA(9), 1);
		ok(r.ok, "  and readable %s", r.why);
		if (ftruncate(tf, 2 * PG))
			ktest_bail("ftruncate: %s", strerror(errno));
		is_int(raw_map(s, &m, ioas, VA(9) + PG, PG, rw), 0, "  grown back: the second page maps");
		sva_broker_msg_init(&m, SVA_BOP_PX_UNSHARE);
		m.arg[0] = VA(9);
		m.arg[1] = 2 * PG;
		is_int(raw_call(s, &m), 0, "  and unshared");
		close(tf);
	}
	/* Refused requests that carry a descriptor: the broker closes each (it
	 * kept those of early refusals, and a client could fill its table). */
	{
		struct ucred uc;
		socklen_t ul = sizeof(uc);
		int before, after, refused = 0;

		if (getsockopt(s, SOL_SOCKET, SO_PEERCRED, &uc, &ul))
			ktest_bail("SO_PEERCRED: %s", strerror(errno));
		before = open_fds(uc.pid);
		for (int i = 0; i < 50; i++) {
			sva_broker_msg_init(&m, SVA_BOP_PX_IOAS_MAP);
			m.arg[0] = ioas + 1000; /* not this client's */
			m.arg[1] = m.arg[3] = VA(9);
			m.arg[2] = PG;
			m.arg[4] = rw;
			if (sva_broker_send(s, &m, fd) || sva_broker_recv(s, &m, &rfd))
				ktest_bail("the broker went away");
			refused += m.status == -EPERM;
		}
		after = open_fds(uc.pid);
		ok(refused == 50 && after == before,
		   "50 refused requests carrying a descriptor: the broker's open files %d, then %d", before, after);
	}
	close(fd);
	close(s);
}

/* How many fault queues the broker's iommufd holds among ids [1, last]:
 * probed through a trusted context's device and IOAS (a HWPT on each). */
static int fault_queues(struct sva_dev *dev, struct sva_mm *mm, uint32_t last)
{
	int n = 0;

	for (uint32_t id = 1; id <= last; id++)
		n += fault_queue_exists(dev, mm, id);
	return n;
}

/*
 * An isolated client's bind whose fault queue's descriptor finds no room in
 * the client (-EMFILE): the broker's queue goes too (review Z64: it stayed in
 * the broker's iommufd, and counted among the client's objects, until the
 * client ended, one more for each such bind).  In a child, exit status 0 when
 * so.
 */
static void iso_fault_emfile(void)
{
	struct broker_conf conf;
	int st = 0;
	pid_t bpid, pid;

	mock_conf(&conf);
	bpid = broker_fork(&conf, NULL, NULL);
	pid = fork();

	if (pid == 0) {
		struct sva_ctx_opts io = { .size = sizeof(io), .flags = SVA_CTX_BROKER | SVA_CTX_ISOLATED,
					   .broker_path = sock_path, .log_level = SVA_LOG_OFF };
		struct sva_mm_opts mo = { .size = sizeof(mo), .flags = SVA_MM_UNTRACKED };
		struct sva_ctx *tctx, *ictx;
		struct sva_dev *tdev, *idev;
		struct sva_mm *tmm, *imm;
		struct sva_bond *bond;
		int fills[64], nf, ret, before, after;
		uint32_t last;

		if (broker_ctx(&tctx) || sva_dev_open(tctx, "mock0", &tdev) || sva_mm_new(tctx, &mo, &tmm) ||
		    sva_ctx_new(&io, &ictx) || sva_dev_open(ictx, "mock0", &idev) || sva_mm_new(ictx, NULL, &imm))
			_exit(10);
		before = fault_queues(tdev, tmm, tmm->ioas_id + 64);
		if ((nf = fds_take_all(fills)) < 0)
			_exit(11);
		ret = sva_bind(idev, imm, NULL, &bond);
		fds_give_back(fills, nf);
		if (ret != -EMFILE) {
			dprintf(1, "# the bind with no descriptor free: %d\n", ret);
			_exit(12);
		}
		if ((ret = sva_bind(idev, imm, NULL, &bond)) != 0) {
			dprintf(1, "# the bind again: %d\n", ret);
			_exit(13);
		}
		last = ictx->fe.fault_id + 8;
		after = fault_queues(tdev, tmm, last);
		if (after != before + 1) {
			dprintf(1, "# fault queues among ids [1, %u]: %d before, %d after one bound client\n", last, before,
				after);
			_exit(14);
		}
		sva_unbind(bond);
		_exit(0);
	}
	waitpid(pid, &st, 0);
	is_int(WIFEXITED(st) ? WEXITSTATUS(st) : -1, 0,
	       "isolated: a bind that fails -EMFILE (no descriptor for its fault queue) leaves no queue at the broker");
	kill(bpid, SIGTERM);
	waitpid(bpid, &st, 0);
	unlink(sock_path);
}

/* A client holding a block asks for a PASID of another block. */
static void foreign_attach(uint32_t foreign_pasid, uint32_t hwpt)
{
	struct sva_broker_msg m;
	uint64_t block_first;
	int s = raw_connect();

	if (raw_hello(s, &m, SVA_BROKER_TRUSTED)) {
		skip(4, "no block free for the raw client");
		close(s);
		return;
	}
	block_first = m.arg[0];
	sva_broker_msg_init(&m, SVA_BOP_OPEN);
	strcpy(m.text, "mock0");
	raw_call(s, &m);
	{
		uint64_t dev_id = m.arg[0];

		sva_broker_msg_init(&m, SVA_BOP_ATTACH);
		m.arg[0] = dev_id;
		m.arg[1] = foreign_pasid;
		m.arg[2] = hwpt;
		is_int(raw_call(s, &m), -EPERM, "a PASID outside the client's block is refused (-EPERM)");
		ok(strstr(m.text, "block") != NULL, "  saying so: %s", m.text);
		sva_broker_msg_init(&m, SVA_BOP_ATTACH);
		m.arg[0] = dev_id;
		m.arg[1] = block_first;
		m.arg[2] = hwpt;
		is_int(raw_call(s, &m), -EPERM, "a PASID of its own on another client's HWPT is refused (-EPERM)");
		ok(strstr(m.text, "not created by this client") != NULL, "  saying so: %s", m.text);
	}
	sva_broker_msg_init(&m, SVA_BOP_OPEN);
	strcpy(m.text, "nosuch");
	is_int(raw_call(s, &m), -ENOENT, "a device the configuration does not name: -ENOENT");
	close(s);
}


int main(void)
{
	struct cl cl[NCLIENTS];
	int mx, st;
	pid_t bpid;
	uint32_t pasid;
	struct res r;

	ktest_require_iommufd();
	alarm(120);
	sock_dir("ktest-broker");
	bpid = start_broker(&mx, false, 0);
	socket_guard();

	for (int i = 0; i < NCLIENTS; i++)
		spawn(&cl[i], i);
	for (int i = 0; i < NCLIENTS; i++)
		ok(cl[i].first.ok, "client %d: PASID %u bound through the broker, a fault resolved into its own memory%s %s",
		   i, cl[i].first.pasid, i ? "" : " (and sva_dev_open_mock refused)", cl[i].first.why);
	ok(cl[0].first.pasid != cl[1].first.pasid && cl[1].first.pasid != cl[2].first.pasid &&
		   cl[0].first.pasid != cl[2].first.pasid,
	   "each client has its own PASID (%u, %u, %u)", cl[0].first.pasid, cl[1].first.pasid, cl[2].first.pasid);
	ok(!in_block(cl[1].first.pasid, cl[0].first.pasid) && !in_block(cl[2].first.pasid, cl[0].first.pasid) &&
		   !in_block(cl[2].first.pasid, cl[1].first.pasid),
	   "from its own block of %u", PER_CLIENT);
	foreign_attach(cl[0].first.pasid, cl[1].first.hwpt);

	kill(cl[1].pid, SIGKILL);
	waitpid(cl[1].pid, &st, 0);
	{
		struct pollfd pfd = { .fd = mx, .events = POLLIN };

		pasid = 0;
		if (poll(&pfd, 1, 5000) == 1 && xread(mx, &pasid, sizeof(pasid)))
			pasid = 0;
	}
	ok(pasid == cl[1].first.pasid,
	   "the killed client's PASID %u got its owner-side mm_exit in the broker", cl[1].first.pasid);
	r = ask3(&cl[0], 'c', &cl[1].first);
	ok(r.ok, "its PASID is detached, its IOAS (pages unpinned) and fault queue destroyed %s", r.why);
	for (int i = 0; i < NCLIENTS; i += 2) {
		r = ask(&cl[i], 'f', 0, 0);
		ok(r.ok, "client %d keeps working: another fault resolves, its PASID and fault queue still there %s", i, r.why);
	}
	unauthorized();
	hostile(cl[0].first.pasid, cl[0].first.hwpt);
	r = ask(&cl[2], 'f', 0, 0);
	ok(r.ok, "after the hostile clients, the broker still serves client 2 %s", r.why);
	r = ask(&cl[2], 'e', 0, 0);
	ok(r.ok && r.pasid == cl[2].first.pasid, "client 2 exits bound: its own mm_exit runs in its exit destructor %s",
	   r.why);
	waitpid(cl[2].pid, &st, 0);
	{
		struct pollfd pfd = { .fd = mx, .events = POLLIN };

		ok(poll(&pfd, 1, 300) == 0, "and the broker had no mm_exit of its own to run for it");
	}
	r = ask3(&cl[0], 'c', &cl[2].first);
	ok(r.ok, "its PASID is detached, and the IOAS and fault queue it never freed are destroyed by the broker %s",
	   r.why);
	r = ask(&cl[0], 'x', 0, 0);
	ok(r.ok, "client 0 unbinds through the broker, frees everything and exits");
	waitpid(cl[0].pid, &st, 0);
	kill(bpid, SIGTERM);
	waitpid(bpid, &st, 0);
	is_int(WIFEXITED(st) ? WEXITSTATUS(st) : -1, 0, "the broker stops cleanly on SIGTERM");
	ok(access(sock_path, F_OK) != 0, "and removes its socket");

	/* A broker that dies under a bound client; first, an isolated client beside it. */
	bpid = start_broker(&mx, false, ISO_PIN);
	spawn(&cl[0], 0);
	ok(cl[0].first.ok, "a client of a second broker binds %s", cl[0].first.why);
	{
		struct cl iso;

		peer_ioas = cl[0].first.ioas;
		spawn(&iso, -1);
		ok(iso.first.ok,
		   "isolated client: no iommufd; binds PASID %u; a fault in its shared memfd resolves, one in private "
		   "memory is answered INVALID (-EFAULT); the peer's IOAS is out of its reach (-EPERM) %s",
		   iso.first.pasid, iso.first.why);
		r = ask(&cl[0], 'r', 0, iso.first.ioas);
		ok(r.ok, "the kernel reads the isolated client's memfd bytes at IOVA == VA in its IOAS %s", r.why);
		r = ask(&iso, 'n', 0, 0);
		ok(r.ok, "isolated: a fault on the last page of a range shared short of its mapping's end, with "
			 "fault-around, resolves %s", r.why);
		r = ask_read(&cl[0], iso.first.ioas, VA(7) + NEAR_LEN - PG, 1);
		ok(r.ok, "  the kernel reads that page %s", r.why);
		r = ask_read(&cl[0], iso.first.ioas, VA(7) + NEAR_LEN, 0);
		ok(r.ok, "  and nothing past the shared range is mapped %s", r.why);
		r = ask(&iso, 'w', 0, 0);
		ok(r.ok, "isolated: sva_mem_alloc is refused (-EOPNOTSUPP); a memfd shared read-only, and one sealed "
			 "against writes after its share, behind a writable mapping: device reads resolve, writes are "
			 "answered INVALID (-EACCES) %s", r.why);
		r = ask(&iso, 'q', 0, 0);
		ok(r.ok, "isolated-pin-max: with the client's limit prefaulted, a fault is answered INVALID (-ENOMEM) "
			 "and a prefault fails -ENOMEM; unmapped, the fault resolves %s", r.why);
		r = ask_read(&cl[0], iso.first.ioas, VA(5), 1);
		ok(r.ok, "  the kernel reads the page it mapped %s", r.why);
		r = ask(&iso, 'u', 0, 0);
		ok(r.ok, "sva_ctx_unshare_memfd: bad ranges refused (-EINVAL, -ENOENT), as are shares of a pipe and "
			 "past a memfd's end (-EINVAL); the memfd unshared, a fault there answered INVALID (-EFAULT) %s",
		   r.why);
		r = ask_read(&cl[0], iso.first.ioas, VA(5), 0);
		ok(r.ok, "  the device can no longer reach it (the kernel's view) %s", r.why);
		r = ask(&iso, 'v', 0, 0);
		ok(r.ok, "shared again, a fault there resolves (no stale chunk said it was mapped) %s", r.why);
		r = ask_read(&cl[0], iso.first.ioas, VA(5), 1);
		ok(r.ok, "  the kernel reads it again %s", r.why);
		r = ask(&iso, 'k', 0, 0);
		ok(r.ok, "a range the broker no longer maps though the client counts it shared (an unshare racing a "
			 "prefault): the prefault fails -EFAULT, a fault there is answered INVALID (-EFAULT) %s",
		   r.why);
		r = ask(&iso, 'h', 0, 0);
		ok(r.ok, "isolated-pin-max counts the file pages a map pins: 4 KiB of a hugetlb memfd counts its "
			 "2 MiB page, over the limit (-ENOMEM) %s",
		   r.why);
		raw_isolated(&cl[0]);
		r = ask(&iso, 'x', 0, 0);
		ok(r.ok, "the isolated client unbinds and exits");
		waitpid(iso.pid, &st, 0);

		spawn(&iso, -1);
		ok(iso.first.ok, "a second isolated client binds PASID %u %s", iso.first.pasid, iso.first.why);
		kill(iso.pid, SIGKILL);
		waitpid(iso.pid, &st, 0);
		r = ask3(&cl[0], 'c', &iso.first);
		ok(r.ok, "killed, its PASID is detached, its IOAS and fault queue destroyed by the broker %s", r.why);
	}
	kill(bpid, SIGKILL);
	waitpid(bpid, &st, 0);
	r = ask(&cl[0], 'u', 0, 0);
	ok(r.ok, "the broker killed: unbind detaches the mock's PASID itself, a new bind says -ECONNRESET, "
		 "and releasing everything does not hang %s",
	   r.why);
	waitpid(cl[0].pid, &st, 0);
	unlink(sock_path);
	iso_fault_emfile();

	/* A broker whose device admits isolated clients only. */
	bpid = start_broker(&mx, true, 0);
	{
		struct sva_broker_msg m;
		int s = raw_connect();

		is_int(raw_hello(s, &m, SVA_BROKER_TRUSTED), -EACCES, "trust isolated: a trusted client is refused (-EACCES)");
		ok(strstr(m.text, "admits isolated clients only") != NULL, "  saying why: %s", m.text);
		close(s);
		s = raw_connect();
		is_int(raw_hello(s, &m, SVA_BROKER_ISOLATED), 0, "trust isolated: an isolated client is served");
		close(s);
	}
	kill(bpid, SIGTERM);
	waitpid(bpid, &st, 0);
	unlink(sock_path);

	/* A broker with room for a client in this process. */
	bpid = start_broker(&mx, false, 0);
	fork_mid_request();
	many_groups();
	kill(bpid, SIGTERM);
	waitpid(bpid, &st, 0);
	unlink(sock_path);
	max_clients();
	clients_per_user();
	refusals_do_not_stall();
	fd_exhaustion();
	one_block();
	context_limit();
	fd_limit();
	clean_stop();
	iso_clean_stop();
	made_up_id();
	registered_twice();
	socket_dir_made();
	close(mx);
	unlink(sock_path);
	ktest_broker_unlink_lock(sock_path);
	rmdir(dir_path);
	return done_testing();
}
