/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * sva-brokerd with a real VFIO device: QEMU's edu behind emulated VT-d, which
 * has no PASIDs, so one trusted client at a time holds its RID (rid.c).  A
 * broker configured with edu by PCI address, then one by cdev path; a client
 * opening it through the broker (SVA_CTX_BROKER) gets the device file lent,
 * binds its RID pinned, prefaults, and runs real edu DMA whose bytes it
 * checks; a second client, trusted or isolated, is refused while the first
 * holds it, and served after it closes; a holder killed with SIGKILL gets its
 * owner-side mm_exit, the device is quiesced and detached and its objects
 * destroyed, and the next client finds it idle and working; an unauthorized
 * uid is refused; a PASID attach or a foreign HWPT is refused; a holder
 * whose broker is killed unbinds through its own copy of the device file.
 */
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>

#include "ktest_broker.h"
#include "ktest_edu.h"
#include "edu_find.h"

#define BUF_VA 0x8000000ull /* under edu's 28-bit DMA mask */
#define PG 4096u

static char pci[16], cdev[64];
static char drain_prog[96], drain_out[96];

struct res {
	int ok, ret, bme;
	uint32_t ioas;
	char why[200];
};

struct cmd {
	/* 'o' open edu; 'd' bind its RID and run DMA; 'c' is IOAS `ioas` gone?;
	 * 'x' unbind, close, free and exit */
	char op;
	uint32_t ioas;
};

/* ------------------------------------------------------------ the broker */

static pid_t start_broker(const char *source, int *mm_exit_rd)
{
	struct broker_conf conf;

	broker_conf_defaults(&conf);
	snprintf(conf.socket, sizeof(conf.socket), "%s", sock_path);
	conf.socket_mode = 0666; /* who may use it is the allowlist's business here */
	conf.pasids_per_client = 16;
	conf.grace_ns = 1000000; /* blocks come back at once: many clients in turn */
	conf.ndevs = 1;
	snprintf(conf.devs[0].name, sizeof(conf.devs[0].name), "edu");
	snprintf(conf.devs[0].source, sizeof(conf.devs[0].source), "%s", source);
	conf.devs[0].uids[conf.devs[0].nuids++] = 0;
	/* The device's drain program, for a holder that ends with the RID bound. */
	snprintf(conf.devs[0].mm_exit, sizeof(conf.devs[0].mm_exit), "%s", drain_prog);
	conf.devs[0].mm_exit_ms = 10000;
	return broker_fork(&conf, mm_exit_rd, source);
}

static void stop_broker(pid_t pid, const char *what)
{
	int st = 0;

	kill(pid, SIGTERM);
	waitpid(pid, &st, 0);
	is_int(WIFEXITED(st) ? WEXITSTATUS(st) : -1, 0, "%s: the broker stops cleanly on SIGTERM", what);
	unlink(sock_path);
}

/* ------------------------------------------------------------ the clients */

static char log_buf[512];

static void capture_log(void *arg, enum sva_log_level level, const char *msg)
{
	(void)arg;
	if (level >= SVA_LOG_ERROR && !log_buf[0])
		snprintf(log_buf, sizeof(log_buf), "%s", msg);
}

static int broker_ctx(struct sva_ctx **ctx, uint32_t flags)
{
	struct sva_ctx_opts o = { .size = sizeof(o), .flags = SVA_CTX_BROKER | flags, .broker_path = sock_path,
				  .log_fn = capture_log, .log_level = SVA_LOG_ERROR };

	log_buf[0] = '\0';
	return sva_ctx_new(&o, ctx);
}

/* Is bus mastering on?  -1: the config space cannot be read. */
static int bus_master(struct sva_dev *dev)
{
	struct kabi_vfio_region_info ri;
	uint16_t cmd;

	if (ktest_vfio_region(dev, KABI_VFIO_PCI_CONFIG_REGION_INDEX, &ri) ||
	    pread(sva_dev_fd(dev), &cmd, 2, (off_t)ri.offset + 4) != 2)
		return -1;
	return !!(cmd & 0x4);
}

static void do_open(struct sva_ctx *ctx, struct sva_dev **dev, struct res *r)
{
	struct sva_dev_info info = { .size = sizeof(info) };

	log_buf[0] = '\0';
	r->ret = sva_dev_open(ctx, "edu", dev);
	snprintf(r->why, sizeof(r->why), "%.190s", log_buf);
	if (r->ret)
		return;
	sva_dev_get_info(*dev, &info);
	r->bme = bus_master(*dev);
	if (strcmp(info.pci_addr, pci))
		snprintf(r->why, sizeof(r->why), "PCI address '%s', not %s", info.pci_addr, pci);
	else if (info.max_pasid_log2 != 0)
		snprintf(r->why, sizeof(r->why), "PASID width %u", info.max_pasid_log2);
	else if (sva_dev_fd(*dev) < 0)
		snprintf(r->why, sizeof(r->why), "no device file lent: %d", sva_dev_fd(*dev));
	else if (r->bme < 0)
		snprintf(r->why, sizeof(r->why), "its config space cannot be read");
	else
		r->ok = 1;
}

/* Bind the RID pinned, prefault, and a DMA round trip whose bytes are the client's own. */
static void do_dma(int seed, struct sva_dev *dev, struct sva_mm **mm, struct sva_bond **bond, struct res *r)
{
	struct sva_bind_opts po = { .size = sizeof(po), .flags = SVA_BIND_PINNED };
	struct sva_bind_opts ro = { .size = sizeof(ro), .flags = SVA_BIND_PINNED | SVA_BIND_RID };
	uint8_t *src = ktest_map_at(BUF_VA, 2 * PG, PROT_READ | PROT_WRITE), *dst = src + PG;
	volatile uint8_t *bar;
	size_t bar_len;
	int ret;

	for (unsigned i = 0; i < EDU_DMA_LEN; i++)
		src[i] = (uint8_t)(i * 11 + seed);
	memset(dst, 0, PG);
	if ((ret = sva_mm_new(dev->ctx, NULL, mm))) {
		snprintf(r->why, sizeof(r->why), "sva_mm_new: %s", strerror(-ret));
		return;
	}
	if ((ret = sva_bind(dev, *mm, &po, bond)) != -EOPNOTSUPP) {
		snprintf(r->why, sizeof(r->why), "a PASID bind was not refused -EOPNOTSUPP: %d", ret);
		return;
	}
	log_buf[0] = '\0';
	if ((ret = sva_bind(dev, *mm, &ro, bond)) || (ret = sva_mm_prefault(*mm, src, 2 * PG))) {
		snprintf(r->why, sizeof(r->why), "RID bind/prefault: %s: %.150s", strerror(-ret), log_buf);
		return;
	}
	r->ioas = (*mm)->ioas_id;
	if (!(bar = ktest_edu_bar(dev, &bar_len))) {
		snprintf(r->why, sizeof(r->why), "mapping BAR0 of the lent device file failed");
		return;
	}
	if ((ktest_edu_rd32(bar, EDU_ID) & 0xff) != 0xed)
		snprintf(r->why, sizeof(r->why), "edu's id register reads 0x%08x", ktest_edu_rd32(bar, EDU_ID));
	else if ((ret = ktest_edu_dma(bar, BUF_VA, EDU_DEV_BUF, EDU_DMA_LEN, 0)) ||
		 (ret = ktest_edu_dma(bar, EDU_DEV_BUF, BUF_VA + PG, EDU_DMA_LEN, 1)))
		snprintf(r->why, sizeof(r->why), "DMA: %s", strerror(-ret));
	else if (memcmp(src, dst, EDU_DMA_LEN))
		snprintf(r->why, sizeof(r->why), "the bytes did not make the round trip");
	else
		r->ok = 1;
	/* The BAR mapping stays: a killed holder leaves it, and bus mastering on. */
}

/* The broker cleans up right after the peer's end; objects a dead process's
 * files still hold are retried for a while: give it 5 s. */
static void do_gone(struct sva_ctx *ctx, uint32_t ioas, struct res *r)
{
	unsigned char b;
	int ret = 0;

	for (int t = 0; t < 500; t++) {
		ret = ktest_access_rw(ctx, ioas, BUF_VA, &b, 1, 0);
		if (ret == -ENOENT) {
			r->ok = 1;
			return;
		}
		usleep(10000);
	}
	snprintf(r->why, sizeof(r->why), "IOAS %u still exists (%d)", ioas, ret);
}

static void client(int seed, int cmd_fd, int res_fd)
{
	struct sva_ctx *ctx;
	struct sva_dev *dev = NULL;
	struct sva_mm *mm = NULL;
	struct sva_bond *bond = NULL;
	struct res r = { 0 };
	struct cmd c;

	r.ret = broker_ctx(&ctx, 0);
	r.ok = r.ret == 0;
	snprintf(r.why, sizeof(r.why), "%.190s", log_buf);
	xwrite(res_fd, &r, sizeof(r));
	if (r.ret)
		_exit(1);
	while (xread(cmd_fd, &c, sizeof(c)) == 0) {
		memset(&r, 0, sizeof(r));
		if (c.op == 'o')
			do_open(ctx, &dev, &r);
		else if (c.op == 'd')
			do_dma(seed, dev, &mm, &bond, &r);
		else if (c.op == 'c')
			do_gone(ctx, c.ioas, &r);
		else {
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

struct cl {
	pid_t pid;
	int cmd, res;
};

static void run_client(void *arg, int cmd_fd, int res_fd)
{
	client(*(int *)arg, cmd_fd, res_fd);
}

static struct res spawn(struct cl *c, int seed)
{
	struct res r = { 0 };

	c->pid = fork_client(run_client, &seed, &c->cmd, &c->res);
	if (xread(c->res, &r, sizeof(r)))
		snprintf(r.why, sizeof(r.why), "the client died");
	return r;
}

static struct res ask(struct cl *c, char op, uint32_t ioas)
{
	struct cmd m = { .op = op, .ioas = ioas };
	struct res r = { 0 };

	client_call(c->cmd, c->res, &m, sizeof(m), &r, sizeof(r), r.why, sizeof(r.why));
	return r;
}

static void finish(struct cl *c, int i)
{
	struct res r = ask(c, 'x', 0);
	int st = 0;

	ok(r.ok, "client %d unbinds through the broker, closes the device and exits", i);
	waitpid(c->pid, &st, 0);
}

/* --------------------------------------------------- refused clients */

static void isolated_refused(void)
{
	int st = 0;
	pid_t pid = fork();

	if (pid == 0) {
		struct sva_ctx *ctx;
		struct sva_dev *dev;

		if (broker_ctx(&ctx, SVA_CTX_ISOLATED))
			_exit(10);
		if (sva_dev_open(ctx, "edu", &dev) != -EOPNOTSUPP)
			_exit(11);
		if (!strstr(log_buf, "only a trusted client")) {
			printf("# the log said: %s\n", log_buf);
			_exit(12);
		}
		sva_ctx_free(ctx);
		_exit(0);
	}
	waitpid(pid, &st, 0);
	is_int(WIFEXITED(st) ? WEXITSTATUS(st) : -1, 0,
	       "an isolated client is refused the device with -EOPNOTSUPP: its file would reach every IOAS");
}

/*
 * An open whose reply's descriptor (the lent VFIO file) finds no room in the
 * client: -EMFILE, and the device is not left lent to it (review Z64: the
 * broker kept it held, other clients got -EBUSY naming this pid, and this
 * client's own retry "open in this client already").
 */
static void open_emfile(void)
{
	int st = 0;
	pid_t pid = fork();

	if (pid == 0) {
		struct sva_ctx *ctx;
		struct sva_dev *dev;
		int fills[64], nf, ret;
		pid_t other;

		if (broker_ctx(&ctx, 0))
			_exit(10);
		if ((nf = fds_take_all(fills)) < 0)
			_exit(11);
		ret = sva_dev_open(ctx, "edu", &dev);
		fds_give_back(fills, nf);
		if (ret != -EMFILE) {
			dprintf(1, "# open with no descriptor free: %d\n", ret);
			_exit(12);
		}
		other = fork();
		if (other == 0) {
			struct sva_ctx *c2;

			if (broker_ctx(&c2, 0))
				_exit(20);
			ret = sva_dev_open(c2, "edu", &dev);
			if (ret) {
				dprintf(1, "# another client's open: %d: %s\n", ret, log_buf);
				_exit(21);
			}
			sva_dev_close(dev);
			sva_ctx_free(c2);
			_exit(0);
		}
		waitpid(other, &st, 0);
		if (!WIFEXITED(st) || WEXITSTATUS(st))
			_exit(WIFEXITED(st) ? WEXITSTATUS(st) : 22);
		ret = sva_dev_open(ctx, "edu", &dev);
		if (ret) {
			dprintf(1, "# the open again: %d: %s\n", ret, log_buf);
			_exit(13);
		}
		sva_dev_close(dev);
		sva_ctx_free(ctx);
		_exit(0);
	}
	waitpid(pid, &st, 0);
	is_int(WIFEXITED(st) ? WEXITSTATUS(st) : -1, 0,
	       "an open that fails -EMFILE (no descriptor for the lent file) leaves edu free: another client and "
	       "the same one open it after");
}

static void unauthorized(void)
{
	int st = 0;
	pid_t pid = fork();

	if (pid == 0) {
		struct sva_ctx *ctx;

		if (chdir(dir_path) || setgid(65534) || setuid(65534))
			_exit(10);
		snprintf(sock_path, sizeof(sock_path), "socket");
		if (broker_ctx(&ctx, 0) != -EACCES)
			_exit(11);
		if (strstr(log_buf, "uid 65534") && strstr(log_buf, "allowlist"))
			_exit(0);
		printf("# the log said: %s\n", log_buf);
		_exit(12);
	}
	waitpid(pid, &st, 0);
	is_int(WIFEXITED(st) ? WEXITSTATUS(st) : -1, 0,
	       "uid 65534 (nobody) is refused with -EACCES and a log line naming its uid and the allowlist");
}

/* A client speaking the protocol itself: a PASID attach, a HWPT not its own. */
static void raw_refusals(uint32_t foreign_hwpt)
{
	struct sva_broker_msg m;
	uint64_t first, dev_id;
	int s = raw_connect();

	is_int(raw_hello(s, &m, SVA_BROKER_TRUSTED), 0, "raw client: hello");
	first = m.arg[0];
	sva_broker_msg_init(&m, SVA_BOP_OPEN);
	strcpy(m.text, "edu");
	is_int(raw_call(s, &m), 0, "raw client: it holds edu");
	dev_id = m.arg[0];
	sva_broker_msg_init(&m, SVA_BOP_ATTACH);
	m.arg[0] = dev_id;
	m.arg[1] = first;
	m.arg[2] = foreign_hwpt;
	is_int(raw_call(s, &m), -EOPNOTSUPP, "a PASID attach on a device without PASIDs is refused (-EOPNOTSUPP)");
	ok(strstr(m.text, "no PASIDs") != NULL, "  saying why: %s", m.text);
	sva_broker_msg_init(&m, SVA_BOP_RID_ATTACH);
	m.arg[0] = dev_id;
	m.arg[1] = foreign_hwpt;
	is_int(raw_call(s, &m), -EPERM, "a RID attach to a HWPT the client did not create is refused (-EPERM)");
	sva_broker_msg_init(&m, SVA_BOP_RID_DETACH);
	m.arg[0] = dev_id;
	is_int(raw_call(s, &m), -ENOENT, "a RID detach of nothing attached: -ENOENT");
	close(s);
}

/* The mm-exit program: a script that writes down its arguments and
 * environment (what sva-brokerd(8) promises it: name, source, "rid", pid). */
static void make_drain_program(void)
{
	FILE *f;

	snprintf(drain_prog, sizeof(drain_prog), "%s/drain.sh", dir_path);
	snprintf(drain_out, sizeof(drain_out), "%s/drained", dir_path);
	f = fopen(drain_prog, "w");
	if (!f)
		ktest_bail("%s: %s", drain_prog, strerror(errno));
	fprintf(f, "#!/bin/sh\necho \"$1 $3 $4 $SVA_DEVICE $SVA_PASID $SVA_CLIENT_PID\" > %s.tmp && mv %s.tmp %s\n",
		drain_out, drain_out, drain_out);
	if (fclose(f) || chmod(drain_prog, 0755))
		ktest_bail("%s: %s", drain_prog, strerror(errno));
}

/* What the drain program wrote, "" if it did not run. */
static const char *drained(void)
{
	static char line[160];
	FILE *f = fopen(drain_out, "r");

	line[0] = 0;
	if (f) {
		if (!fgets(line, sizeof(line), f))
			line[0] = 0;
		fclose(f);
		line[strcspn(line, "\n")] = 0;
	}
	return line;
}

int main(void)
{
	struct cl cl[4];
	struct res r;
	uint32_t dead_ioas;
	int mx, st;
	pid_t bpid;

	if (!ktest_find_pci(EDU_VENDOR, EDU_DEVICE, pci)) {
		if (getenv("SVA_VM") && strcmp(ktest_topology(), "mock") != 0)
			ktest_bail("no edu device in topology %s", ktest_topology());
		skip_all("no QEMU edu device here: the broker's VFIO path needs a real device (the vtd39 and "
			 "vtd48-numa VM topologies have edu; ktest-broker covers the mock)");
	}
	ktest_require_iommufd();
	if (!edu_find_cdev(pci, cdev, sizeof(cdev)))
		ktest_bail("no vfio cdev under " EDU_FIND_SYSFS "/%s/vfio-dev (is edu bound to vfio-pci?)", pci);
	alarm(280);
	sock_dir("ktest-broker-edu");
	make_drain_program();

	/* ---- a broker with edu by PCI address */
	bpid = start_broker(pci, &mx);
	r = spawn(&cl[0], 1);
	ok(r.ok, "client 0 connects to a broker holding edu (%s) %s", pci, r.why);
	r = ask(&cl[0], 'o', 0);
	ok(r.ok, "client 0 opens edu through the broker: PCI address, no PASIDs, its VFIO file lent %s", r.why);
	r = ask(&cl[0], 'd', 0);
	ok(r.ok, "client 0: a PASID bind is refused, its RID bound pinned, prefaulted; real edu DMA makes the round "
		 "trip through the IOMMU with its own bytes %s",
	   r.why);

	r = spawn(&cl[1], 2);
	ok(r.ok, "client 1 connects %s", r.why);
	r = ask(&cl[1], 'o', 0);
	is_int(r.ret, -EBUSY, "client 1 is refused edu while client 0 holds its RID (-EBUSY)");
	ok(strstr(r.why, "no PASIDs") && strstr(r.why, "holds it"), "  saying why: %s", r.why);
	isolated_refused();

	finish(&cl[0], 0);
	ok(!drained()[0], "client 0 unbound before it closed: the drain program did not run (%s)", drained());
	r = ask(&cl[1], 'o', 0);
	ok(r.ok, "after client 0 closed it, client 1 opens edu %s", r.why);
	is_int(r.bme, 0, "and finds it quiesced: bus mastering off");
	r = ask(&cl[1], 'd', 0);
	ok(r.ok, "client 1: real DMA with its own bytes %s", r.why);
	dead_ioas = r.ioas;

	kill(cl[1].pid, SIGKILL);
	waitpid(cl[1].pid, &st, 0);
	is_int(wait_mm_exit(mx), SVA_PASID_RID, "client 1 killed while bound: the broker ran the owner-side mm_exit of the RID");
	{
		char want[160];

		snprintf(want, sizeof(want), "edu rid %d edu rid %d", (int)cl[1].pid, (int)cl[1].pid);
		/* The program runs (and is waited for) before the in-process hook. */
		ok(!strcmp(drained(), want), "  and, before it, the device's mm-exit program: name, \"rid\", the client's pid (%s)",
		   drained());
	}
	r = spawn(&cl[2], 3);
	ok(r.ok, "client 2 connects %s", r.why);
	r = ask(&cl[2], 'o', 0);
	ok(r.ok, "the dead client's hold is released: client 2 opens edu %s", r.why);
	is_int(r.bme, 0, "the device the dead client left bus-mastering was quiesced");
	/* Its HWPT could not go while attached, nor its IOAS under the HWPT: gone means detached. */
	r = ask(&cl[2], 'c', dead_ioas);
	ok(r.ok, "the RID was detached and the dead client's HWPT and IOAS destroyed (pages unpinned) %s", r.why);
	r = ask(&cl[2], 'd', 0);
	ok(r.ok, "client 2: real DMA with its own bytes after the SIGKILL cleanup %s", r.why);
	unauthorized();
	finish(&cl[2], 2);
	open_emfile();
	raw_refusals(1);
	stop_broker(bpid, "by PCI address");
	close(mx);

	/* ---- a broker with edu by cdev path */
	bpid = start_broker(cdev, &mx);
	r = spawn(&cl[3], 4);
	ok(r.ok, "a broker holding edu by cdev path %s: a client connects %s", cdev, r.why);
	r = ask(&cl[3], 'o', 0);
	ok(r.ok, "  opens edu (its PCI address resolved from the cdev) %s", r.why);
	r = ask(&cl[3], 'd', 0);
	ok(r.ok, "  and runs real DMA with its own bytes %s", r.why);
	/* The holder's duplicate of the device file outlives the broker: it detaches the RID itself. */
	kill(bpid, SIGKILL);
	waitpid(bpid, &st, 0);
	r = ask(&cl[3], 'x', 0);
	ok(r.ok, "the broker killed under the holder: its RID unbind detaches through the lent file (0), and "
		 "releasing everything does not hang");
	waitpid(cl[3].pid, &st, 0);
	unlink(sock_path);
	unlink(drain_prog);
	unlink(drain_out);
	close(mx);
	ktest_broker_unlink_lock(sock_path);
	rmdir(dir_path);
	return done_testing();
}
