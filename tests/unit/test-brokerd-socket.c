/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * sva-brokerd(8), socket and FILES: what the broker does with its socket's
 * path before it listens, without a kernel.  tools/broker/server.c is built
 * here and its listen_on() called directly (the whole broker needs
 * /dev/iommu before it gets that far).
 *
 * Only a socket nobody listens on (connect() refused) is stale and removed;
 * a socket the broker cannot tell is stale (another program's stream
 * listener, one it may not connect to) is left alone and the broker does not
 * start.  A socket directory it makes is made mode 0755 through a descriptor
 * of that directory: a symlink or another directory swapped in after mkdir(),
 * as anyone may in a parent others can write to, is refused, not chmod()ed.
 * mkdir() is wrapped so that the swap happens at that moment every time.
 * Start-up is exclusive (a lock file beside the socket): listen() is wrapped
 * to start a second broker while the first is between bind() and listen(),
 * and broker_reap() to start one while the first is stopping; flock() is
 * wrapped to remove or replace the lock file's name after the broker opened
 * it, unlink() and renameat2() to put a file at the socket's path as the
 * broker removes the stale socket there, or its own as it stops; close() and
 * lstat() to bind another socket there as the broker stops, under the
 * number of the inode the broker's close freed; bind() to put another
 * program's socket at the path right after the broker's bind(), and link()
 * as a filesystem without hard links has it.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <dirent.h>
#include <unistd.h>

/* What happens to the directory right after listen_on()'s mkdir() makes it. */
enum swap { SWAP_NONE, SWAP_SYMLINK, SWAP_OTHER_OWNER };
static enum swap swap_after_mkdir;
static char swap_target[512]; /* SWAP_SYMLINK: where the symlink points */

static int racing_mkdir(const char *path, mode_t mode)
{
	char moved[600];
	int ret = mkdir(path, mode);

	if (ret || swap_after_mkdir == SWAP_NONE)
		return ret;
	snprintf(moved, sizeof(moved), "%s.made", path);
	if (rename(path, moved))
		abort();
	if (swap_after_mkdir == SWAP_SYMLINK && symlink(swap_target, path))
		abort();
	if (swap_after_mkdir == SWAP_OTHER_OWNER && (mkdir(path, 0700) || chown(path, 65534, 65534)))
		abort();
	return 0;
}

/* The socket at the path removed (by the broker that left it, say) between
 * the check's lstat() and its connect(). */
static bool unlink_before_connect;

static int racing_connect(int fd, const struct sockaddr *sa, socklen_t len)
{
	if (unlink_before_connect && sa->sa_family == AF_UNIX)
		unlink(((const struct sockaddr_un *)sa)->sun_path);
	return connect(fd, sa, len);
}

/* A second broker started on the same path while the first is between its
 * bind() and its listen(): its socket is there, refusing connections as a
 * stale one does.  The second start runs inside the first one's listen(). */
struct broker;
static int listen_on(struct broker *b);
static ino_t ino_of(const char *path);
static struct broker *second;
static char second_path[400];
static int second_ret = 1;
static ino_t first_ino;

static int racing_listen(int fd, int backlog)
{
	if (second) {
		struct broker *b = second;

		second = NULL;
		first_ino = ino_of(second_path);
		second_ret = listen_on(b);
	}
	return listen(fd, backlog);
}

/* flock() as a kernel without CONFIG_FILE_LOCKING has it. */
static bool no_flock;

/* What happens to the lock file's name between the broker's open() of it and
 * its flock(), as another program (a cleaner of /run, an administrator's rm)
 * may do: the broker then holds a file no other broker opens. */
enum lock_swap { LOCK_SWAP_NONE, LOCK_SWAP_REMOVE, LOCK_SWAP_FILE, LOCK_SWAP_SYMLINK };
static enum lock_swap lock_swap;
static bool lock_swap_always; /* at every flock(), not the first only */
static char lock_swap_path[420], lock_swap_target[420];
static int flocks; /* flock() calls seen */

static int maybe_flock(int fd, int op)
{
	flocks++;
	if (no_flock) {
		errno = ENOSYS;
		return -1;
	}
	if (lock_swap != LOCK_SWAP_NONE) {
		if (unlink(lock_swap_path))
			abort();
		if (lock_swap == LOCK_SWAP_FILE) {
			int f = open(lock_swap_path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);

			if (f < 0)
				abort();
			close(f);
		}
		if (lock_swap == LOCK_SWAP_SYMLINK && symlink(lock_swap_target, lock_swap_path))
			abort();
		if (!lock_swap_always)
			lock_swap = LOCK_SWAP_NONE;
	}
	return flock(fd, op);
}

/* What happens to the socket's path as the broker removes the stale socket
 * it checked: another program's file put in its place, whose inode is kept.
 * Both ways of removing it are wrapped (by name, and by renaming it away). */
static char swap_at_removal[400];
static ino_t swapped_in;
static int swapped_fd = -1; /* kept open: its inode is not reused meanwhile */

static void removal_swap(const char *path)
{
	struct stat st;
	int f;

	if (!swap_at_removal[0] || strcmp(path, swap_at_removal))
		return;
	swap_at_removal[0] = '\0';
	if (unlink(path) || (f = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600)) < 0)
		abort();
	if (fstat(f, &st))
		abort();
	swapped_fd = f;
	swapped_in = st.st_ino;
}

__attribute__((unused)) static int racing_unlink(const char *path)
{
	removal_swap(path);
	return unlink(path);
}

/* And, as the broker puts back what it moved aside, yet another file there. */
static char swap_at_putback[400];
/* A filesystem that cannot rename without replacing (NFS): EINVAL. */
static bool no_noreplace;

__attribute__((unused)) static int racing_renameat2(int ofd, const char *old, int nfd, const char *new, unsigned flags)
{
	if (no_noreplace && (flags & RENAME_NOREPLACE)) {
		errno = EINVAL;
		return -1;
	}
	removal_swap(old);
	if (swap_at_putback[0] && !strcmp(new, swap_at_putback)) {
		swap_at_putback[0] = '\0';
		close(open(new, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600));
	}
	return renameat2(ofd, old, nfd, new, flags);
}

/* A stopping broker (broker_fini()) whose ended clients' objects the kernel
 * still holds: it retries them (broker_reap()) between sleeps, then closes
 * its devices and its context.  Each step is wrapped to look at the start-up
 * lock then, and to start a second broker on the path at the first retry,
 * as a restart that does not wait for the old process to exit does.  No
 * sleep: the retries are counted, not timed. */
#include "sva/sva.h"
#include "../../tools/broker/broker.h"
static void stopping_reap(struct broker *b, bool final);
static void stopping_ctx_free(struct sva_ctx *ctx);

/* Another program's seqpacket socket, bound: made to listen during the
 * broker's wait between its two probes (-1: none). */
static int listen_while_waiting = -1;
static int waits;
/* Or run during that wait: what another program does to the path then. */
static void (*while_waiting)(void);

static int no_sleep(useconds_t us)
{
	(void)us;
	waits++;
	if (listen_while_waiting >= 0 && listen(listen_while_waiting, 4))
		abort();
	listen_while_waiting = -1;
	if (while_waiting)
		while_waiting();
	while_waiting = NULL;
	return 0;
}

/*
 * A stopping broker's socket, removed by hand, and another program's socket
 * bound at the path once the broker's listening socket is closed: the inode
 * the broker bound is freed then, and a filesystem may give its number to
 * the newcomer (ext4 does; tmpfs, where the tests may run, does not, so the
 * number is given here: lstat() reports the newcomer with the freed inode's
 * number, and only after that close()).  Or the broker's lstat() right after
 * its bind() fails (reuse_fail_bound_lstat), so it knows no inode of its own.
 */
static int reuse_fd = -1;	    /* the broker's listening socket */
static char reuse_path[400];	    /* where the newcomer binds once it is closed */
static int reuse_newcomer = -1;	    /* the newcomer's socket */
static ino_t reuse_newcomer_ino;    /* its real inode */
static dev_t reuse_dev;		    /* the broker's inode: given to the newcomer */
static ino_t reuse_ino;
static bool reuse_fail_bound_lstat; /* listen_on()'s lstat() after its bind() fails */
static int socket_at(const char *path, int type, bool listening);

__attribute__((unused)) static int racing_close(int fd)
{
	int ret = close(fd);
	struct stat st;

	if (fd == reuse_fd && reuse_path[0]) {
		reuse_fd = -1;
		reuse_newcomer = socket_at(reuse_path, SOCK_SEQPACKET, true);
		if (lstat(reuse_path, &st))
			abort();
		reuse_newcomer_ino = st.st_ino;
	}
	return ret;
}

__attribute__((unused)) static int racing_lstat(const char *path, struct stat *st)
{
	int ret = lstat(path, st);

	if (!ret && reuse_newcomer_ino && st->st_ino == reuse_newcomer_ino && st->st_dev == reuse_dev)
		st->st_ino = reuse_ino;
	return ret;
}

#define mkdir(path, mode) racing_mkdir(path, mode)
#define flock(fd, op) maybe_flock(fd, op)
#define broker_reap(b, final) stopping_reap(b, final)
#define sva_ctx_free(ctx) stopping_ctx_free(ctx)
#define usleep(us) no_sleep(us)
#define connect(fd, sa, len) racing_connect(fd, sa, len)
#define listen(fd, backlog) racing_listen(fd, backlog)
#define unlink(path) racing_unlink(path)
#define renameat2(ofd, old, nfd, new, flags) racing_renameat2(ofd, old, nfd, new, flags)
#define close(fd) racing_close(fd)
#define lstat(path, st) racing_lstat(path, st)
/* listen_on()'s own lstat() of the socket it bound, the one after bind(). */
static bool no_lstat_once;
/* Another program of the broker's user that puts its own listening socket at
 * the socket's path right after the broker's bind(), before the broker looks
 * at what it bound (-1, 0: none yet). */
static char swap_after_bind[440];
static int bind_newcomer = -1;
static ino_t bind_newcomer_ino;

__attribute__((unused)) static int racing_bind(int s, const struct sockaddr *sa, socklen_t len)
{
	int ret = bind(s, sa, len);
	struct stat st;

	no_lstat_once = !ret && reuse_fail_bound_lstat;
	if (!ret && swap_after_bind[0]) {
		if (unlink(swap_after_bind) && errno != ENOENT)
			abort();
		bind_newcomer = socket_at(swap_after_bind, SOCK_SEQPACKET, true);
		if (lstat(swap_after_bind, &st))
			abort();
		bind_newcomer_ino = st.st_ino;
		swap_after_bind[0] = '\0';
	}
	return ret;
}
#define bind(s, sa, len) racing_bind(s, sa, len)
/* A filesystem without hard links (link() EPERM). */
static bool no_link;
__attribute__((unused)) static int racing_link(const char *old, const char *new)
{
	if (no_link) {
		errno = EPERM;
		return -1;
	}
	return link(old, new);
}
#define link(old, new) racing_link(old, new)
#undef lstat
#define lstat(path, st) (no_lstat_once ? (no_lstat_once = false, errno = EACCES, -1) : racing_lstat(path, st))
#include "../../tools/broker/server.c"
#undef link
#undef bind
#undef lstat
#undef close
#undef renameat2
#undef unlink
#undef usleep
#undef sva_ctx_free
#undef broker_reap
#undef listen
#undef flock
#undef connect
#undef mkdir

#include "../tap.h"

static char tmp[256], errfile[512];

static struct broker *broker_init(struct broker *b, const char *path)
{
	memset(b, 0, sizeof(*b));
	b->lsock = -1;
	b->lock_fd = -1;
	b->no_file_locks = false;
	b->spare_fd = -1;
	broker_conf_defaults(&b->conf);
	if (strlen(path) >= sizeof(b->conf.socket))
		tap_bail("socket path too long: %s", path);
	memcpy(b->conf.socket, path, strlen(path) + 1);
	return b;
}

static struct broker *broker_at(const char *path)
{
	static struct broker b;

	return broker_init(&b, path);
}

/* Its lock let go, as broker_fini() does: the next case may start there. */
static void unlock(struct broker *b)
{
	if (b->lock_fd >= 0)
		close(b->lock_fd);
	b->lock_fd = -1;
}

/* listen_on() for path, its standard error kept in errfile: the fd, or -errno.
 * The broker's lock is kept if keep_lock (else let go) and *b set to it. */
static int listen_locked(const char *path, bool keep_lock, struct broker **b)
{
	int saved = dup(2), e = open(errfile, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600), ret;
	struct broker *br = broker_at(path);

	if (saved < 0 || e < 0 || dup2(e, 2) < 0)
		tap_bail("cannot redirect standard error: %s", strerror(errno));
	close(e);
	ret = listen_on(br);
	fflush(stderr);
	dup2(saved, 2);
	close(saved);
	if (!keep_lock)
		unlock(br);
	if (b)
		*b = br;
	return ret;
}

static int listen_at(const char *path)
{
	return listen_locked(path, false, NULL);
}

/* A broker listening at path and holding its lock, its socket its own (as
 * broker_run() leaves it, for broker_fini() to remove): where the tests of
 * its stop start.  Bails out if it cannot listen. */
static struct broker *listening(const char *path)
{
	struct broker *b;
	int fd = listen_locked(path, true, &b);

	if (fd < 0)
		tap_bail("cannot listen at %s: %d", path, fd);
	b->lsock = fd;
	return b;
}

static bool err_has_(const char *what, bool quiet)
{
	char buf[4096];
	FILE *f = fopen(errfile, "r");
	size_t n = f ? fread(buf, 1, sizeof(buf) - 1, f) : 0;

	if (f)
		fclose(f);
	buf[n] = '\0';
	if (!strstr(buf, what)) {
		if (!quiet)
			diag("standard error: %s", buf);
		return false;
	}
	return true;
}

static bool err_has(const char *what)
{
	return err_has_(what, false);
}

/* For what must not be said. */
static bool err_has_quiet(const char *what)
{
	return err_has_(what, true);
}

/* What the broker knows of a seqpacket client's EPROTOTYPE: a live socket of
 * another type is bound there; whether it listens, it cannot tell. */
#define OTHER_TYPE                                                                                                   \
	"is a socket of another type (stream or datagram) that a running program holds; not removing it"

/* A socket of type at path, bound; listening if listening. */
static int socket_at(const char *path, int type, bool listening)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int s = socket(AF_UNIX, type | SOCK_CLOEXEC, 0);

	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	if (s < 0 || bind(s, (struct sockaddr *)&sa, sizeof(sa)) || (listening && listen(s, 4)))
		tap_bail("cannot make a socket at %s: %s", path, strerror(errno));
	return s;
}

static int connect_to(const char *path, int type)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int s = socket(AF_UNIX, type | SOCK_CLOEXEC, 0), ret;

	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	ret = s >= 0 && connect(s, (struct sockaddr *)&sa, sizeof(sa)) == 0 ? 0 : -errno;
	if (s >= 0)
		close(s);
	return ret;
}

static bool accepts(int fd);
static mode_t mode_of(const char *path);

static ino_t ino_of(const char *path)
{
	struct stat st;

	return lstat(path, &st) ? 0 : st.st_ino;
}

/* The path during the broker's wait between its two probes. */
static char waiting_path[400];

static void gone_while_waiting(void)
{
	unlink(waiting_path);
}

static void file_while_waiting(void)
{
	unlink(waiting_path);
	close(open(waiting_path, O_WRONLY | O_CREAT | O_CLOEXEC, 0600));
}

static void theirs_while_waiting(void)
{
	unlink(waiting_path);
	close(socket_at(waiting_path, SOCK_SEQPACKET, false));
	if (lchown(waiting_path, 65534, 65534))
		abort();
}

/*
 * What else may be at the path, or happen to it while the broker waits
 * between its two probes (100 ms: long beside a program's own steps).  The
 * ownership and the type were looked at before the wait; whatever is there
 * after it is what gets removed, so it must still be the socket looked at.
 */
static void odd_paths(void)
{
	char path[400], target[480];
	ino_t ino, tino;
	int fd;

	/* Gone during the wait: the path is free, nothing to say. */
	snprintf(path, sizeof(path), "%s/gone-waiting.sock", tmp);
	close(socket_at(path, SOCK_SEQPACKET, false));
	snprintf(waiting_path, sizeof(waiting_path), "%s", path);
	while_waiting = gone_while_waiting;
	waits = 0;
	fd = listen_at(path);
	while_waiting = NULL; /* even if no wait came: no later case runs it */
	ok(fd >= 0 && waits == 1 && connect_to(path, SOCK_SEQPACKET) == 0 && accepts(fd),
	   "a stale socket removed during the wait between the probes: the path is free, the broker listens there "
	   "(got %d, %d waits)", fd, waits);
	if (fd >= 0)
		close(fd);

	/* Replaced by a file during the wait: a connect() to a file is refused
	 * too (ECONNREFUSED), as to a stale socket. */
	snprintf(path, sizeof(path), "%s/file-waiting.sock", tmp);
	close(socket_at(path, SOCK_SEQPACKET, false));
	snprintf(waiting_path, sizeof(waiting_path), "%s", path);
	while_waiting = file_while_waiting;
	waits = 0;
	fd = listen_at(path);
	while_waiting = NULL;
	{
		struct stat st;
		bool file = lstat(path, &st) == 0 && S_ISREG(st.st_mode);

		ok(fd == -EADDRINUSE && waits == 1 && file && err_has("was replaced while it was being checked"),
		   "a stale socket replaced by a file during the wait: -EADDRINUSE, saying so, the file left (got "
		   "%d, %s)", fd, file ? "a file there" : "no file there");
	}
	if (fd >= 0)
		close(fd);

	/* Replaced by another user's socket during the wait: that one was not
	 * looked at, and is not this user's to remove. */
	if (geteuid() != 0) {
		skip(1, "not root: no socket of another owner can be made");
	} else {
		struct stat st;

		snprintf(path, sizeof(path), "%s/theirs-waiting.sock", tmp);
		close(socket_at(path, SOCK_SEQPACKET, false));
		snprintf(waiting_path, sizeof(waiting_path), "%s", path);
		while_waiting = theirs_while_waiting;
		waits = 0;
		fd = listen_at(path);
		while_waiting = NULL;
		ok(fd == -EADDRINUSE && lstat(path, &st) == 0 && st.st_uid == 65534,
		   "a stale socket replaced by another user's during the wait: -EADDRINUSE, theirs left (got %d)", fd);
		if (fd >= 0)
			close(fd);
	}

	/* A symbolic link to a stale socket: lstat() sees a link, and the
	 * broker neither follows nor removes it; the line says what it is. */
	snprintf(target, sizeof(target), "%s/symlink-target.sock", tmp);
	snprintf(path, sizeof(path), "%s/symlink.sock", tmp);
	close(socket_at(target, SOCK_SEQPACKET, false));
	if (symlink(target, path))
		tap_bail("symlink %s: %s", path, strerror(errno));
	ino = ino_of(path);
	tino = ino_of(target);
	fd = listen_at(path);
	ok(fd == -EEXIST && err_has("is a symbolic link") && ino_of(path) == ino && ino_of(target) == tino,
	   "a symbolic link to a stale socket at the path: -EEXIST, saying it is a link, link and socket left "
	   "(got %d)", fd);
	if (fd >= 0)
		close(fd);
}

static void stale_and_live(void)
{
	char path[400];
	int s, fd;
	ino_t ino;

	/* A socket nobody listens on: stale, replaced by the broker's own. */
	snprintf(path, sizeof(path), "%s/stale.sock", tmp);
	close(socket_at(path, SOCK_SEQPACKET, false));
	is_int(connect_to(path, SOCK_SEQPACKET), -ECONNREFUSED, "a socket nobody listens on refuses a connection");
	fd = listen_at(path);
	ok(fd >= 0, "a stale socket at the path: removed, and the broker listens there (got %d)", fd);
	is_int(connect_to(path, SOCK_SEQPACKET), 0, "  a client reaches it");
	if (fd >= 0)
		close(fd);

	/* A leftover of a broker of the same process ID (a container's broker
	 * is often PID 1) at the aside name: a broker killed between its move
	 * and its removal, or another program's socket it put aside.  Neither
	 * is the broker's to remove, nor a reason not to start. */
	{
		char aside[420];
		struct stat left;
		int lf;

		snprintf(path, sizeof(path), "%s/leftover.sock", tmp);
		snprintf(aside, sizeof(aside), "%s.stale.%ld", path, (long)getpid());
		lf = open(aside, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
		if (lf >= 0)
			close(lf);
		close(socket_at(path, SOCK_SEQPACKET, false));
		fd = listen_at(path);
		ok(fd >= 0, "a stale socket, a leftover at <socket>.stale.<pid>: removed, and the broker listens "
			    "there (got %d)", fd);
		ok(lstat(aside, &left) == 0 && S_ISREG(left.st_mode), "  the leftover left as it was");
		if (fd >= 0)
			close(fd);
		unlink(aside);
	}

	/* The stale socket gone before the check's connect(): the path is free. */
	snprintf(path, sizeof(path), "%s/gone.sock", tmp);
	close(socket_at(path, SOCK_SEQPACKET, false));
	unlink_before_connect = true;
	fd = listen_at(path);
	unlink_before_connect = false;
	ok(fd >= 0, "a socket removed between the check's lstat() and connect(): the broker listens there (got %d)",
	   fd);
	if (fd >= 0)
		close(fd);

	/* Another broker listening. */
	snprintf(path, sizeof(path), "%s/live.sock", tmp);
	s = socket_at(path, SOCK_SEQPACKET, true);
	ino = ino_of(path);
	fd = listen_at(path);
	ok(fd == -EADDRINUSE && err_has("is where a seqpacket socket listens (another sva-brokerd's, or another "
					"program's); not removing it"),
	   "a broker listening at the path: -EADDRINUSE, saying a seqpacket socket listens (got %d)", fd);
	ok(ino && ino_of(path) == ino && connect_to(path, SOCK_SEQPACKET) == 0, "  its socket left in place, still listening");
	close(s);

	/* Another program's stream socket: connect() with SOCK_SEQPACKET fails
	 * with EPROTOTYPE, not ECONNREFUSED.  Someone listens there. */
	snprintf(path, sizeof(path), "%s/stream.sock", tmp);
	s = socket_at(path, SOCK_STREAM, true);
	ino = ino_of(path);
	is_int(connect_to(path, SOCK_SEQPACKET), -EPROTOTYPE, "a stream listener refuses a seqpacket client with EPROTOTYPE");
	fd = listen_at(path);
	ok(fd == -EADDRINUSE && err_has(OTHER_TYPE),
	   "a stream listener at the path: -EADDRINUSE, saying a running program holds a socket of another type "
	   "(got %d)", fd);
	ok(ino && ino_of(path) == ino && connect_to(path, SOCK_STREAM) == 0,
	   "  its socket left in place, still reaching its listener");
	if (fd >= 0)
		close(fd);
	close(s);

	/* The same answer for another type's socket that is bound and does not
	 * listen (yet, or ever: a datagram socket), which the line used to call
	 * a listener. */
	for (int i = 0; i < 2; i++) {
		int type = i ? SOCK_DGRAM : SOCK_STREAM;
		const char *name = i ? "datagram" : "stream";

		snprintf(path, sizeof(path), "%s/%s-bound.sock", tmp, name);
		s = socket_at(path, type, false);
		ino = ino_of(path);
		is_int(connect_to(path, SOCK_SEQPACKET), -EPROTOTYPE,
		       "a bound %s socket, not listening, refuses a seqpacket client with EPROTOTYPE", name);
		fd = listen_at(path);
		ok(fd == -EADDRINUSE && err_has(OTHER_TYPE) && !err_has_quiet("listens"),
		   "  at the path: -EADDRINUSE, saying a running program holds a socket of another type, not that "
		   "it listens (got %d)", fd);
		ok(ino && ino_of(path) == ino, "  its socket left in place");
		if (fd >= 0)
			close(fd);
		close(s);
	}

	/* Another type's socket whose program closed it: refused as a stale
	 * seqpacket one is (ECONNREFUSED), so stale, and removed. */
	snprintf(path, sizeof(path), "%s/stream-gone.sock", tmp);
	close(socket_at(path, SOCK_STREAM, true));
	is_int(connect_to(path, SOCK_SEQPACKET), -ECONNREFUSED,
	       "a stream socket whose listener is gone refuses a seqpacket client with ECONNREFUSED");
	fd = listen_at(path);
	ok(fd >= 0 && connect_to(path, SOCK_SEQPACKET) == 0, "  stale: removed, and the broker listens there (got %d)",
	   fd);
	if (fd >= 0)
		close(fd);

	/* Another program's seqpacket socket, bound, listening a moment later
	 * (between its bind() and its listen() at the first probe): refused
	 * twice, it was removed as stale, and that program listened unseen.
	 * The broker asks again after a wait, and finds it listening. */
	snprintf(path, sizeof(path), "%s/binding.sock", tmp);
	s = socket_at(path, SOCK_SEQPACKET, false);
	ino = ino_of(path);
	listen_while_waiting = s;
	waits = 0;
	fd = listen_at(path);
	listen_while_waiting = -1;
	ok(fd == -EADDRINUSE && waits == 1 && err_has("is where a seqpacket socket listens"),
	   "another program's seqpacket socket, bound, listening once the broker asks again: -EADDRINUSE, saying "
	   "a seqpacket socket listens (got %d, %d waits)", fd, waits);
	ok(ino && ino_of(path) == ino && connect_to(path, SOCK_SEQPACKET) == 0,
	   "  its socket left in place, reaching that program");
	if (fd >= 0)
		close(fd);
	close(s);

	/* The same, bound and still not listening when asked again: nothing
	 * tells it from a stale socket, and it is removed (sva-brokerd(8)). */
	snprintf(path, sizeof(path), "%s/bound.sock", tmp);
	s = socket_at(path, SOCK_SEQPACKET, false);
	ino = ino_of(path);
	waits = 0;
	fd = listen_at(path);
	ok(fd >= 0 && waits == 1 && ino_of(path) != ino && connect_to(path, SOCK_SEQPACKET) == 0 && accepts(fd),
	   "another program's seqpacket socket, bound and not listening at either probe: removed as stale, the "
	   "broker listens there (got %d, %d waits)", fd, waits);
	if (fd >= 0)
		close(fd);
	close(s);

	/* Another user's socket nobody listens on: no leftover of this user's
	 * broker, left alone without a second probe. */
	if (geteuid() != 0) {
		skip(1, "not root: no socket of another owner can be made");
	} else {
		snprintf(path, sizeof(path), "%s/theirs.sock", tmp);
		close(socket_at(path, SOCK_SEQPACKET, false));
		if (lchown(path, 65534, 65534))
			tap_bail("lchown %s: %s", path, strerror(errno));
		ino = ino_of(path);
		waits = 0;
		fd = listen_at(path);
		ok(fd == -EADDRINUSE && waits == 0 && err_has("is another user's socket (uid 65534)") &&
			   ino_of(path) == ino,
		   "another user's socket nobody listens on: -EADDRINUSE, saying whose, left in place (got %d)", fd);
		if (fd >= 0)
			close(fd);
	}

	odd_paths();

	/* Not a socket at all. */
	snprintf(path, sizeof(path), "%s/file", tmp);
	close(open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0600));
	ino = ino_of(path);
	fd = listen_at(path);
	ok(fd == -EEXIST && err_has("exists and is not a socket; not removing it") && ino_of(path) == ino,
	   "a file at the path: -EEXIST, saying so, the file left (got %d)", fd);
}

/*
 * A socket the broker may not connect to (EACCES): whether anyone listens is
 * unknown, so it is not stale.  Root connects to anything: the check runs in
 * a child as nobody, in a directory nobody may write to (as the broker's
 * would be if it could remove the socket).
 */
static void not_permitted(void)
{
	char dir[400], path[480];
	int s, status;
	ino_t ino;
	pid_t pid;

	snprintf(dir, sizeof(dir), "%s/open", tmp);
	snprintf(path, sizeof(path), "%s/acc.sock", dir);
	if (mkdir(dir, 0700) || chmod(dir, 0777) || chmod(tmp, 0755))
		tap_bail("cannot make %s: %s", dir, strerror(errno));
	s = socket_at(path, SOCK_SEQPACKET, true);
	if (chmod(path, 0))
		tap_bail("chmod %s: %s", path, strerror(errno));
	ino = ino_of(path);
	fflush(stdout);
	pid = fork();
	if (pid == 0) {
		int fd;

		if (geteuid() == 0 && (setgid(65534) || setuid(65534)))
			_exit(20);
		snprintf(errfile, sizeof(errfile), "%s/stderr", dir); /* one nobody may write */
		if (connect_to(path, SOCK_SEQPACKET) != -EACCES)
			_exit(21);
		fd = listen_at(path);
		_exit(fd == -EACCES && err_has("cannot listen on") && err_has("not removing it") ? 0 : fd >= 0 ? 22 : 23);
	}
	waitpid(pid, &status, 0);
	ok(WIFEXITED(status) && WEXITSTATUS(status) == 0,
	   "a socket the broker may not connect to (EACCES): -EACCES, saying it is not removed (child status %d: "
	   "20 no setuid, 21 connect not EACCES, 22 it listened, 23 other error)",
	   WIFEXITED(status) ? WEXITSTATUS(status) : -1);
	ok(ino && ino_of(path) == ino, "  the socket left in place");
	close(s);
}

/*
 * A live broker whose queue of connections waiting to be accepted is full (a
 * burst of clients, or a broker stuck): a blocking connect() waits there
 * until one is accepted, so the new broker's check hung.  It is a listener:
 * in use.  Run in a child with an alarm, so that a hang fails the check
 * rather than the whole test.
 */
static void full_backlog(void)
{
	char path[400];
	int s, status, n = 0;
	ino_t ino;
	pid_t pid;

	snprintf(path, sizeof(path), "%s/full.sock", tmp);
	s = socket_at(path, SOCK_SEQPACKET, false);
	ino = ino_of(path);
	if (listen(s, 0))
		tap_bail("listen %s: %s", path, strerror(errno));
	for (;;) { /* connected and never accepted, until the queue refuses */
		struct sockaddr_un sa = { .sun_family = AF_UNIX };
		int c = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);

		if (c < 0 || strlen(path) >= sizeof(sa.sun_path))
			tap_bail("socket for %s: %s", path, strerror(errno));
		memcpy(sa.sun_path, path, strlen(path) + 1);
		if (connect(c, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
			if (errno != EAGAIN)
				tap_bail("connect %s: %s", path, strerror(errno));
			close(c);
			break;
		}
		if (++n > 64)
			tap_bail("%s: the queue never filled", path);
	}
	fflush(stdout);
	pid = fork();
	if (pid == 0) {
		int fd;

		alarm(10);
		fd = listen_at(path);
		_exit(fd == -EADDRINUSE &&
		      err_has("is where a seqpacket socket listens with its queue of connections full (another "
			      "sva-brokerd's, or another program's)") ? 0 : fd >= 0 ? 22 : 23);
	}
	waitpid(pid, &status, 0);
	ok(WIFEXITED(status) && WEXITSTATUS(status) == 0,
	   "a broker whose queue of connections is full (%d waiting): -EADDRINUSE at once, saying so "
	   "(child %s %d: 22 it listened, 23 other error, SIGALRM: the check waited for the queue)",
	   n, WIFEXITED(status) ? "status" : "killed by signal",
	   WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status));
	ok(ino && ino_of(path) == ino, "  its socket left in place");
	close(s);
}

/* Is a connection waiting on listening socket fd?  Taken and closed if so. */
static bool accepts(int fd)
{
	int c = accept4(fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);

	if (c < 0)
		return false;
	close(c);
	return true;
}

/*
 * Two brokers started at once on one path: the first has bound its socket
 * and not yet listened when the second checks the path.  Its probe was
 * refused (nobody listens yet), it removed the first one's socket as stale
 * and bound its own: both ran, the first unreachable.  Start-up is exclusive:
 * the second is refused, the first's socket left in place.
 */
static void two_at_once(void)
{
	static struct broker b2;
	struct broker *b1;
	char path[400];
	int fd, c;

	snprintf(path, sizeof(path), "%s/race.sock", tmp);
	snprintf(second_path, sizeof(second_path), "%s", path);
	second = broker_init(&b2, path);
	second_ret = 1;
	fd = listen_locked(path, false, &b1);
	ok(second == NULL, "a second broker started while the first was between bind() and listen()");
	ok(second_ret == -EADDRINUSE && err_has("another sva-brokerd is starting or running there"),
	   "  the second: -EADDRINUSE, saying another broker is starting there (got %d)", second_ret);
	/* Bound at a name of its own, it is moved to the path once it listens:
	 * nothing there during its listen(), no socket refusing connections. */
	ok(fd >= 0 && first_ino == 0 && b1->sock_ino && ino_of(path) == b1->sock_ino,
	   "  the first listens, its socket at the path only once listening, and still there (got %d, %s during "
	   "listen())", fd, first_ino ? "a file there" : "nothing there");
	c = connect_to(path, SOCK_SEQPACKET);
	ok(c == 0 && fd >= 0 && accepts(fd), "  a client reaches the first broker (connect %d)", c);
	if (second_ret >= 0)
		close(second_ret);
	unlock(&b2);
	if (fd >= 0)
		close(fd);
}

/*
 * The lock: held while the broker runs, refusing a second one even where
 * the socket check alone would not (the first's socket removed by hand: a
 * second broker would listen unseen beside it); a leftover lock file of a
 * broker that died blocks no restart; a lock file that is not the broker's
 * own regular file is refused, the path left alone.
 */
static void start_lock(void)
{
	char path[400], lock[420], other[420], want[1000];
	struct broker *b;
	struct stat st;
	int fd, fd2, status;
	pid_t pid;

	snprintf(path, sizeof(path), "%s/held.sock", tmp);
	snprintf(lock, sizeof(lock), "%s.lock", path);
	fd = listen_locked(path, true, &b);
	if (lstat(lock, &st))
		st.st_mode = 0;
	ok(fd >= 0 && S_ISREG(st.st_mode) && (st.st_mode & 07777) == 0600,
	   "a broker listening holds %s, a regular file of mode 0600 (got %d, %o)", lock, fd,
	   (unsigned)(st.st_mode & 07777));
	unlink(path);
	{
		static struct broker b2;
		int saved = dup(2), e = open(errfile, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);

		if (saved < 0 || e < 0 || dup2(e, 2) < 0)
			tap_bail("cannot redirect standard error: %s", strerror(errno));
		close(e);
		fd2 = listen_on(broker_init(&b2, path));
		fflush(stderr);
		dup2(saved, 2);
		close(saved);
		unlock(&b2);
	}
	ok(fd2 == -EADDRINUSE && err_has("another sva-brokerd is starting or running there") && ino_of(path) == 0,
	   "  its socket removed by hand, a second broker is still refused: -EADDRINUSE (got %d)", fd2);
	if (fd2 >= 0)
		close(fd2);
	if (fd >= 0)
		close(fd);
	unlock(b);

	/* A broker killed: its socket and lock file stay, its lock does not. */
	snprintf(path, sizeof(path), "%s/killed.sock", tmp);
	snprintf(lock, sizeof(lock), "%s.lock", path);
	fflush(stdout);
	pid = fork();
	if (pid == 0) {
		if (listen_locked(path, true, NULL) < 0)
			_exit(1);
		raise(SIGKILL);
		_exit(2);
	}
	waitpid(pid, &status, 0);
	ok(WIFSIGNALED(status) && ino_of(path) && ino_of(lock),
	   "a broker killed while listening leaves its socket and lock file (status %#x)", (unsigned)status);
	fd = listen_at(path);
	ok(fd >= 0, "  a broker started after it listens there (got %d)", fd);
	ok(fd >= 0 && connect_to(path, SOCK_SEQPACKET) == 0 && accepts(fd), "  and a client reaches it");
	if (fd >= 0)
		close(fd);

	/* A kernel without file locks (the test VM's tinyconfig one): the
	 * broker starts unlocked, as before the lock, and says so. */
	snprintf(path, sizeof(path), "%s/nolocks.sock", tmp);
	no_flock = true;
	fd = listen_at(path);
	no_flock = false;
	ok(fd >= 0 && err_has("starting without the lock") && err_has("Function not implemented"),
	   "flock() ENOSYS: the broker listens all the same, with a warning (got %d)", fd);
	ok(fd >= 0 && connect_to(path, SOCK_SEQPACKET) == 0 && accepts(fd), "  and a client reaches it");
	if (fd >= 0)
		close(fd);

	/* A symbolic link as the lock file: not followed, not written. */
	snprintf(path, sizeof(path), "%s/link.sock", tmp);
	snprintf(lock, sizeof(lock), "%s.lock", path);
	snprintf(other, sizeof(other), "%s/elsewhere.lock", tmp);
	if (symlink(other, lock))
		tap_bail("symlink %s: %s", lock, strerror(errno));
	fd = listen_at(path);
	ok(fd < 0 && err_has("is a symbolic link, which the broker does not follow; not using it") &&
		   ino_of(other) == 0 && ino_of(path) == 0,
	   "a symbolic link as the lock file: refused, saying so, its target not made, no socket (got %d)", fd);
	/* sva-brokerd(8) quotes the line: word for word. */
	snprintf(want, sizeof(want),
		 "cannot listen on %s: its lock file %s is a symbolic link, which the broker does not follow; not "
		 "using it", path, lock);
	ok(err_has(want), "  the page's line, word for word");
	if (fd >= 0)
		close(fd);

	/* A FIFO there: refused, without waiting for a writer. */
	snprintf(path, sizeof(path), "%s/fifo.sock", tmp);
	snprintf(lock, sizeof(lock), "%s.lock", path);
	if (mkfifo(lock, 0600))
		tap_bail("mkfifo %s: %s", lock, strerror(errno));
	fd = listen_at(path);
	ok(fd == -EPERM && err_has("is not a regular file of this user's") && ino_of(path) == 0,
	   "a FIFO as the lock file: -EPERM, saying so, no socket (got %d)", fd);
	snprintf(want, sizeof(want),
		 "cannot listen on %s: its lock file %s is not a regular file of this user's; not using it", path, lock);
	ok(err_has(want), "  the page's line, word for word");
	if (fd >= 0)
		close(fd);

	/* Another user's lock file: that user could hold it for good. */
	if (geteuid() != 0) {
		skip(1, "not root: no lock file of another owner can be made");
		return;
	}
	snprintf(path, sizeof(path), "%s/owned.sock", tmp);
	snprintf(lock, sizeof(lock), "%s.lock", path);
	fd = open(lock, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0 || fchown(fd, 65534, 65534))
		tap_bail("cannot make %s another user's: %s", lock, strerror(errno));
	close(fd);
	fd = listen_at(path);
	ok(fd == -EPERM && err_has("is not a regular file of this user's") && ino_of(path) == 0,
	   "another user's lock file: -EPERM, saying so, no socket (got %d)", fd);
	if (fd >= 0)
		close(fd);
}

static bool lock_held(const char *lock);

/* listen_on() of a second broker at path, its lock let go, standard error
 * kept in errfile: the fd, or -errno. */
static int second_broker(const char *path)
{
	static struct broker b2;
	int saved = dup(2), e = open(errfile, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600), ret;

	if (saved < 0 || e < 0 || dup2(e, 2) < 0)
		tap_bail("cannot redirect standard error: %s", strerror(errno));
	close(e);
	ret = listen_on(broker_init(&b2, path));
	fflush(stderr);
	dup2(saved, 2);
	close(saved);
	unlock(&b2);
	return ret;
}

/*
 * The lock file's name changed between the broker's open() and its flock()
 * (Z148): it locked a file that was no longer at the path, and the next
 * broker made and locked another, each holding "the" lock.  The file locked
 * must be the one at the path once locked, else it is opened again; a
 * symbolic link put there is refused as one found there at once, and a name
 * that changes at every try is refused after a few.
 */
static void lock_swapped(void)
{
	static const char *const what[] = { "removed", "replaced by another file" };
	char path[400], lock[420], target[420], want[1000];
	struct broker *b;
	int fd, fd2;

	for (int i = 0; i < 2; i++) {
		snprintf(path, sizeof(path), "%s/lockswap%d.sock", tmp, i);
		snprintf(lock, sizeof(lock), "%s.lock", path);
		snprintf(lock_swap_path, sizeof(lock_swap_path), "%s", lock);
		lock_swap = i ? LOCK_SWAP_FILE : LOCK_SWAP_REMOVE;
		flocks = 0;
		fd = listen_locked(path, true, &b);
		lock_swap = LOCK_SWAP_NONE;
		ok(fd >= 0 && flocks == 2 && lock_held(lock),
		   "the lock file %s between the broker's open() and its flock(): it locks the file at the path "
		   "(got %d, %d flock() calls, %s)", what[i], fd, flocks, lock_held(lock) ? "held" : "not held");
		unlink(path);
		fd2 = second_broker(path);
		ok(fd2 == -EADDRINUSE && err_has("another sva-brokerd is starting or running there") && ino_of(path) == 0,
		   "  a second broker, the first one's socket removed by hand: refused by the lock (got %d)", fd2);
		if (fd2 >= 0)
			close(fd2);
		if (fd >= 0)
			close(fd);
		unlock(b);
	}

	/* A symbolic link swapped in: what a second open() finds, as at once. */
	snprintf(path, sizeof(path), "%s/lockswap-link.sock", tmp);
	snprintf(lock, sizeof(lock), "%s.lock", path);
	snprintf(target, sizeof(target), "%s/lockswap-elsewhere.lock", tmp);
	snprintf(lock_swap_path, sizeof(lock_swap_path), "%s", lock);
	snprintf(lock_swap_target, sizeof(lock_swap_target), "%s", target);
	lock_swap = LOCK_SWAP_SYMLINK;
	fd = listen_at(path);
	lock_swap = LOCK_SWAP_NONE;
	ok(fd < 0 && err_has("its lock file") && err_has("is a symbolic link, which the broker does not follow; not "
							   "using it") && ino_of(target) == 0 && ino_of(path) == 0,
	   "the lock file swapped for a symbolic link before its flock(): refused, saying so, its target not made, "
	   "no socket (got %d)", fd);
	if (fd >= 0)
		close(fd);

	/* Replaced at every try: refused after a few, not looped on for good. */
	snprintf(path, sizeof(path), "%s/lockswap-always.sock", tmp);
	snprintf(lock, sizeof(lock), "%s.lock", path);
	snprintf(lock_swap_path, sizeof(lock_swap_path), "%s", lock);
	lock_swap = LOCK_SWAP_FILE;
	lock_swap_always = true;
	flocks = 0;
	fd = listen_at(path);
	lock_swap = LOCK_SWAP_NONE;
	lock_swap_always = false;
	ok(fd == -EAGAIN && flocks > 1 && err_has("was replaced each time it was locked") && ino_of(path) == 0,
	   "the lock file replaced at every flock(): -EAGAIN after %d tries, saying so, no socket (got %d)", flocks, fd);
	snprintf(want, sizeof(want),
		 "cannot listen on %s: its lock file %s was replaced each time it was locked (8 times); not using it",
		 path, lock);
	ok(err_has(want) && flocks == 8, "  the page's line, word for word, after its 8 tries (%d)", flocks);
	if (fd >= 0)
		close(fd);
}

/*
 * The stale socket replaced by another program's file between the check and
 * the removal: what is removed must be the socket checked, not whatever is
 * at the path by then.  The file is left, and the broker does not start.
 */
static void stale_swapped(void)
{
	char path[400], moved[440];
	int fd;

	snprintf(path, sizeof(path), "%s/swapped.sock", tmp);
	close(socket_at(path, SOCK_SEQPACKET, false));
	snprintf(swap_at_removal, sizeof(swap_at_removal), "%s", path);
	swapped_in = 0;
	fd = listen_at(path);
	swap_at_removal[0] = '\0';
	snprintf(moved, sizeof(moved), "%s.stale.%ld", path, (long)getpid());
	{
		struct stat st;
		bool there = swapped_in && lstat(path, &st) == 0 && S_ISREG(st.st_mode) && st.st_ino == swapped_in;

		ok(fd == -EADDRINUSE && there && ino_of(moved) == 0 &&
			   err_has("was replaced while it was being checked; not removing it"),
		   "a stale socket replaced by another program's file as the broker removes it: -EADDRINUSE, "
		   "saying so, that file left at the path (got %d, %s)", fd,
		   !swapped_in ? "no swap" : there ? "the file there" : "the file gone");
	}
	if (swapped_fd >= 0)
		close(swapped_fd);
	swapped_fd = -1;
	if (fd >= 0)
		close(fd);

	/* Yet another file at the path by the time the first is put back: the
	 * first cannot go back, and stays aside, where the line says. */
	snprintf(path, sizeof(path), "%s/swapped2.sock", tmp);
	close(socket_at(path, SOCK_SEQPACKET, false));
	snprintf(swap_at_removal, sizeof(swap_at_removal), "%s", path);
	snprintf(swap_at_putback, sizeof(swap_at_putback), "%s", path);
	swapped_in = 0;
	fd = listen_at(path);
	swap_at_removal[0] = swap_at_putback[0] = '\0';
	snprintf(moved, sizeof(moved), "%s.stale.%ld", path, (long)getpid());
	ok(fd == -EADDRINUSE && swapped_in && ino_of(moved) == swapped_in && ino_of(path) &&
		   ino_of(path) != swapped_in && err_has("replaced again once moved aside") && err_has(moved),
	   "  replaced again before it is put back: -EADDRINUSE, the first file left aside at the name the line "
	   "gives, the second at the path (got %d)", fd);
	if (swapped_fd >= 0)
		close(swapped_fd);
	swapped_fd = -1;
	if (fd >= 0)
		close(fd);
}

/*
 * sva-brokerd(8): "On a filesystem that cannot rename without replacing
 * (renameat2(2) RENAME_NOREPLACE: NFS, for one) the stale socket is removed by
 * its name, and a socket another program binds there in the microseconds
 * between the broker's last look and that removal is removed instead."
 */
static void stale_no_noreplace(void)
{
	char path[400], moved[440];
	int fd;

	snprintf(path, sizeof(path), "%s/nfs.sock", tmp);
	snprintf(moved, sizeof(moved), "%s.stale.%ld", path, (long)getpid());
	close(socket_at(path, SOCK_SEQPACKET, false));
	no_noreplace = true;
	fd = listen_at(path);
	ok(fd >= 0 && ino_of(moved) == 0 && connect_to(path, SOCK_SEQPACKET) == 0,
	   "no RENAME_NOREPLACE: the stale socket removed by its name, nothing left aside, the broker listens "
	   "(got %d)", fd);
	if (fd >= 0)
		close(fd);

	/* The window the page owns to: what is put there at that moment goes. */
	snprintf(path, sizeof(path), "%s/nfs2.sock", tmp);
	snprintf(moved, sizeof(moved), "%s.stale.%ld", path, (long)getpid());
	close(socket_at(path, SOCK_SEQPACKET, false));
	snprintf(swap_at_removal, sizeof(swap_at_removal), "%s", path);
	swapped_in = 0;
	fd = listen_at(path);
	swap_at_removal[0] = '\0';
	ok(fd >= 0 && swapped_in && ino_of(path) != swapped_in && ino_of(moved) == 0,
	   "  a file put at the path just before that removal is removed in its place, as the page warns "
	   "(got %d, %s)", fd, swapped_in ? "swapped" : "no swap");
	no_noreplace = false;
	if (swapped_fd >= 0)
		close(swapped_fd);
	swapped_fd = -1;
	if (fd >= 0)
		close(fd);
}

/* Does someone hold the flock() of lock?  Tried from a new open file, which
 * conflicts with any other, this process's included. */
static bool lock_held(const char *lock)
{
	int fd = open(lock, O_RDWR | O_CLOEXEC), held = 0;

	if (fd < 0)
		return false;
	if (flock(fd, LOCK_EX | LOCK_NB))
		held = errno == EWOULDBLOCK;
	else
		flock(fd, LOCK_UN);
	close(fd);
	return held;
}

static struct broker *stopping;	/* the broker in broker_fini() */
static char stopping_lock[420];
static int stopping_busy;	/* retries before its last object goes */
static int reaps, reaps_locked;	/* retries seen, and with the lock held */
static int ctx_frees, ctx_frees_locked;
static int restart_ret = 1;	/* what the second broker's listen_on() gave */
static struct broker restart;

/* The stopping broker's own lock, not one a broker restarted meanwhile took. */
static bool held_by_stopping(void)
{
	return stopping->lock_fd >= 0 && lock_held(stopping_lock);
}

static void stopping_reap(struct broker *b, bool final)
{
	if (b != stopping)
		tap_bail("broker_reap() of another broker");
	reaps++;
	reaps_locked += held_by_stopping();
	if (reaps == 1) {
		int saved = dup(2), e = open(errfile, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);

		if (saved < 0 || e < 0 || dup2(e, 2) < 0)
			tap_bail("cannot redirect standard error: %s", strerror(errno));
		close(e);
		restart_ret = listen_on(broker_init(&restart, b->conf.socket));
		fflush(stderr);
		dup2(saved, 2);
		close(saved);
	}
	if (final || reaps > stopping_busy) {
		free(b->grave);
		b->grave = NULL;
		b->ngrave = 0;
	}
}

static void stopping_ctx_free(struct sva_ctx *ctx)
{
	ctx_frees++;
	ctx_frees_locked += stopping && held_by_stopping();
	sva_ctx_free(ctx);
}

/*
 * A broker stopping while a client that is still alive holds some of its
 * objects (sva-brokerd(8), SIGNALS) retries them, then closes its devices.
 * It let go of its lock before the retries: a broker restarted on the path
 * meanwhile took the lock, found no socket, and would have found the devices
 * busy.  The lock now outlives everything the broker holds: the restart is
 * refused with the lock's line, and the lock is free once the broker is done.
 */
static void stop_keeps_lock(void)
{
	char path[400];
	struct broker *b;

	snprintf(path, sizeof(path), "%s/stopping.sock", tmp);
	snprintf(stopping_lock, sizeof(stopping_lock), "%s.lock", path);
	b = listening(path);
	b->grave = calloc(1, sizeof(*b->grave));
	if (!b->grave)
		tap_bail("out of memory");
	b->grave[0] = (struct broker_grave){ .id = 7, .pid = 42 };
	b->ngrave = 1;
	stopping = b;
	stopping_busy = 3;
	broker_fini(b);
	stopping = NULL;
	ok(reaps == 4 && reaps_locked == reaps,
	   "a stopping broker retrying an object a live client holds: its lock held at every retry (%d of %d)",
	   reaps_locked, reaps);
	ok(restart_ret == -EADDRINUSE && err_has("another sva-brokerd is starting or running there"),
	   "  a broker started there meanwhile: -EADDRINUSE, the lock's line, not the devices (got %d)", restart_ret);
	ok(ctx_frees == 1 && ctx_frees_locked == 1,
	   "  the lock still held as it closes its context, the devices' last holder (%d of %d)", ctx_frees_locked,
	   ctx_frees);
	ok(b->lock_fd < 0 && !lock_held(stopping_lock) && ino_of(path) == 0,
	   "  and let go once the broker is done, its socket removed: the next may start");
	if (restart_ret >= 0)
		close(restart_ret);
	unlock(&restart);
}

/*
 * A stopping broker removes its socket by name: another program's file put
 * at the path meanwhile (the broker's socket removed by hand, say) was
 * removed in its place.  Only the socket the broker bound goes.
 */
static void stop_swapped(void)
{
	char path[400], moved[440];
	struct broker *b;
	struct stat st;
	bool there;

	snprintf(path, sizeof(path), "%s/stop-swapped.sock", tmp);
	b = listening(path);
	snprintf(swap_at_removal, sizeof(swap_at_removal), "%s", path);
	swapped_in = 0;
	{
		int saved = dup(2), e = open(errfile, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);

		if (saved < 0 || e < 0 || dup2(e, 2) < 0)
			tap_bail("cannot redirect standard error: %s", strerror(errno));
		close(e);
		broker_fini(b);
		fflush(stderr);
		dup2(saved, 2);
		close(saved);
	}
	swap_at_removal[0] = '\0';
	snprintf(moved, sizeof(moved), "%s.stale.%ld", path, (long)getpid());
	there = swapped_in && lstat(path, &st) == 0 && S_ISREG(st.st_mode) && st.st_ino == swapped_in;
	ok(there && ino_of(moved) == 0 && err_has("is no longer this broker's socket; not removing it"),
	   "another program's file put at the path of a broker's socket, as the broker stops: left there, saying "
	   "so (%s)", !swapped_in ? "no swap" : there ? "the file there" : "the file gone");
	if (swapped_fd >= 0)
		close(swapped_fd);
	swapped_fd = -1;
	unlink(path);

	/* Its own socket still there: removed, as before. */
	snprintf(path, sizeof(path), "%s/stop-own.sock", tmp);
	b = listening(path);
	broker_fini(b);
	ok(ino_of(path) == 0 && ino_of(moved) == 0, "  its own socket there: removed at its stop");
}

/* broker_fini() of b, its standard error kept in errfile. */
static void fini_logged(struct broker *b)
{
	int saved = dup(2), e = open(errfile, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);

	if (saved < 0 || e < 0 || dup2(e, 2) < 0)
		tap_bail("cannot redirect standard error: %s", strerror(errno));
	close(e);
	broker_fini(b);
	fflush(stderr);
	dup2(saved, 2);
	close(saved);
}

/*
 * The broker's socket removed by hand, and another program's (another
 * broker's of the same user, started without the lock, say) bound at the
 * path once the broker's socket is closed, under the number of the inode
 * that close freed (see racing_close()): the stop compared the number only
 * after its close(), and removed the newcomer.  And a broker that could not
 * lstat() the socket it bound: it removed whatever was at the path by name.
 */
static void stop_reused(void)
{
	char path[400];
	struct broker *b;
	struct stat st;

	snprintf(path, sizeof(path), "%s/stop-reused.sock", tmp);
	b = listening(path);
	if (unlink(path)) /* by hand */
		tap_bail("unlink %s: %s", path, strerror(errno));
	reuse_fd = b->lsock;
	reuse_dev = b->sock_dev;
	reuse_ino = b->sock_ino;
	snprintf(reuse_path, sizeof(reuse_path), "%s", path);
	fini_logged(b);
	ok(reuse_newcomer >= 0 && reuse_newcomer_ino && lstat(path, &st) == 0 && st.st_ino == reuse_newcomer_ino &&
		   connect_to(path, SOCK_SEQPACKET) == 0 && accepts(reuse_newcomer),
	   "another program's socket bound at a stopping broker's path under its freed inode's number: left, "
	   "still listening (%s)", lstat(path, &st) ? "gone" : "there");
	reuse_path[0] = '\0';
	reuse_newcomer_ino = 0;
	if (reuse_newcomer >= 0)
		close(reuse_newcomer);
	reuse_newcomer = -1;
	unlink(path);

	reuse_fail_bound_lstat = true;
	b = listening(path);
	reuse_fail_bound_lstat = false;
	if (unlink(path)) /* by hand */
		tap_bail("unlink %s: %s", path, strerror(errno));
	reuse_newcomer = socket_at(path, SOCK_SEQPACKET, true);
	fini_logged(b);
	ok(b->sock_ino == 0 && ino_of(path) && connect_to(path, SOCK_SEQPACKET) == 0 && accepts(reuse_newcomer) &&
		   err_has("not removing it"),
	   "  a broker that does not know the socket it bound: another program's there left as it stops, "
	   "saying so (%s)", ino_of(path) ? "there" : "gone");
	close(reuse_newcomer);
	reuse_newcomer = -1;
	unlink(path);
}

/* Are the entries of dir, . and .. aside, no more than n and each one of names? */
static bool dir_holds_only(const char *dir, const char *const *names, size_t n)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	size_t seen = 0;
	bool only = d != NULL;

	while (d && (e = readdir(d))) {
		bool known = false;

		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		for (size_t i = 0; i < n; i++)
			known = known || !strcmp(e->d_name, names[i]);
		if (!known)
			diag("unexpected in %s: %s", dir, e->d_name);
		only = only && known;
		seen++;
	}
	if (d)
		closedir(d);
	return only && seen <= n;
}

/*
 * The socket's path replaced by another program of the broker's user right
 * after the broker's bind() (see racing_bind()): the broker took the file it
 * found there by lstat() afterwards for its own, and removed that program's
 * socket as it stopped.  It now binds at a name of its own beside the path,
 * knows that file by it, and moves it to the path without replacing what is
 * there: the newcomer keeps the path, and the broker does not start.  Both
 * ways of moving it: renameat2(RENAME_NOREPLACE), and link() where the
 * filesystem has no RENAME_NOREPLACE.
 */
static void bound_swapped(void)
{
	static const char *const left[] = { "sock", "sock.lock" };
	char dir[400], path[420];
	struct broker *b;
	bool took;
	int fd;

	for (int nfs = 0; nfs < 2; nfs++) {
		snprintf(dir, sizeof(dir), "%s/bound-swapped%d", tmp, nfs);
		snprintf(path, sizeof(path), "%s/sock", dir);
		if (mkdir(dir, 0700))
			tap_bail("mkdir %s: %s", dir, strerror(errno));
		no_noreplace = nfs;
		snprintf(swap_after_bind, sizeof(swap_after_bind), "%s", path);
		fd = listen_locked(path, true, &b);
		swap_after_bind[0] = '\0';
		took = fd >= 0 && bind_newcomer_ino && b->sock_ino == bind_newcomer_ino;
		if (fd >= 0) {
			b->lsock = fd;
			fini_logged(b);
		} else {
			unlock(b);
		}
		no_noreplace = false;
		ok(bind_newcomer >= 0 && !took && ino_of(path) == bind_newcomer_ino &&
			   connect_to(path, SOCK_SEQPACKET) == 0 && accepts(bind_newcomer),
		   "%sanother program's socket put at the path right after the broker's bind(): not taken for the "
		   "broker's, and still there and listening once the broker has stopped or given up (%s, got %d)",
		   nfs ? "  no RENAME_NOREPLACE: " : "", took ? "taken for its own" : "not taken", fd);
		ok(fd == -EADDRINUSE && err_has("was put there while the broker made its socket; not removing it") &&
			   dir_holds_only(dir, left, 2),
		   "  the broker does not start (-EADDRINUSE), saying so, and leaves no name of its own (got %d)", fd);
		if (bind_newcomer >= 0)
			close(bind_newcomer);
		bind_newcomer = -1;
		bind_newcomer_ino = 0;
	}

	/* Nothing there: the broker's socket is moved to the path, known as its own. */
	for (int nfs = 0; nfs < 2; nfs++) {
		snprintf(dir, sizeof(dir), "%s/bound-own%d", tmp, nfs);
		snprintf(path, sizeof(path), "%s/sock", dir);
		if (mkdir(dir, 0700))
			tap_bail("mkdir %s: %s", dir, strerror(errno));
		no_noreplace = nfs;
		fd = listen_locked(path, false, &b);
		no_noreplace = false;
		ok(fd >= 0 && b->sock_ino && ino_of(path) == b->sock_ino && (mode_of(path) & 0777) == 0660 &&
			   connect_to(path, SOCK_SEQPACKET) == 0 && accepts(fd) && dir_holds_only(dir, left, 2),
		   "%sits own socket at the path, mode 0660, listening, known by its inode, no other name left "
		   "(got %d)", nfs ? "  no RENAME_NOREPLACE: " : "", fd);
		if (fd >= 0)
			close(fd);
	}
}

/*
 * The longest directory a name beside the path fits in (BROKER_STAGE_DIR_MAX
 * bytes: that name, "/.sbd." and 8 characters, fills sun_path to its NUL):
 * still bound there and moved, so known as the broker's own.  bound_direct()
 * checks one byte more; together they pin the bound.
 */
static void bound_edge(void)
{
	static const char *const left[] = { "s", "s.lock" };
	char dir[400], path[420];
	struct broker *b;
	int fd;

	if (strlen(tmp) + 1 >= BROKER_STAGE_DIR_MAX) {
		skip(1, "the test directory leaves no room for one of BROKER_STAGE_DIR_MAX bytes");
		return;
	}
	snprintf(dir, sizeof(dir), "%s/%0*d", tmp, (int)(BROKER_STAGE_DIR_MAX - strlen(tmp) - 1), 1);
	snprintf(path, sizeof(path), "%s/s", dir);
	if (mkdir(dir, 0700))
		tap_bail("mkdir %s: %s", dir, strerror(errno));
	fd = listen_locked(path, false, &b);
	ok(strlen(dir) == BROKER_STAGE_DIR_MAX && fd >= 0 && b->sock_ino && ino_of(path) == b->sock_ino &&
		   connect_to(path, SOCK_SEQPACKET) == 0 && accepts(fd) && dir_holds_only(dir, left, 2),
	   "a directory of %d bytes: bound at a name beside the path, moved there, known as its own (got %d, %zu "
	   "bytes)", BROKER_STAGE_DIR_MAX, fd, strlen(dir));
	if (fd >= 0)
		close(fd);
	unlink(path);
}

/*
 * Where the broker cannot bind at a name of its own and move the socket to
 * the path without replacing (a directory too long for that name in a
 * sockaddr_un; a filesystem with neither RENAME_NOREPLACE nor hard links),
 * it binds at the path itself, as bind() replaces nothing, and does not know
 * that socket for its own: it listens, and its stop leaves the path, saying so.
 */
static void bound_direct(void)
{
	static const char *const left[] = { "s", "s.lock" };
	char dir[400], path[420];
	struct broker *b;
	int fd;

	for (int longdir = 0; longdir < 2; longdir++) {
		if (longdir && strlen(tmp) + 1 >= BROKER_STAGE_DIR_MAX + 1) {
			skip(1, "the test directory leaves no room for a longer one");
			continue;
		}
		if (longdir)
			snprintf(dir, sizeof(dir), "%s/%0*d", tmp, (int)(BROKER_STAGE_DIR_MAX - strlen(tmp)), 0);
		else
			snprintf(dir, sizeof(dir), "%s/direct", tmp);
		snprintf(path, sizeof(path), "%s/s", dir);
		if (mkdir(dir, 0700))
			tap_bail("mkdir %s: %s", dir, strerror(errno));
		no_noreplace = no_link = !longdir;
		fd = listen_locked(path, true, &b);
		no_noreplace = no_link = false;
		if (fd >= 0) {
			b->lsock = fd;
			fini_logged(b);
		} else {
			unlock(b);
		}
		ok(fd >= 0 && b->sock_ino == 0 && ino_of(path) && err_has("cannot tell whether") &&
			   err_has("not removing it") && dir_holds_only(dir, left, 2),
		   "%s: bound at the path itself, not known as its own, left there at the stop, saying so, no other "
		   "name left (got %d, "
		   "directory of %zu bytes)", longdir ? "a directory too long for a name beside the path" :
		   "neither RENAME_NOREPLACE nor link()", fd, strlen(dir));
		unlink(path);
	}
}

/*
 * A stopping broker on a filesystem without RENAME_NOREPLACE (NFS): it
 * removed the path by name, whatever was there, another program's socket put
 * in place of its own included.  It cannot move the path aside to check it
 * there, and now leaves it, its own socket too, with a warning.
 */
static void stop_no_noreplace(void)
{
	char path[400];
	struct broker *b;
	ino_t own;
	int other;

	snprintf(path, sizeof(path), "%s/stop-nfs.sock", tmp);
	b = listening(path);
	if (unlink(path)) /* by hand */
		tap_bail("unlink %s: %s", path, strerror(errno));
	other = socket_at(path, SOCK_SEQPACKET, true);
	no_noreplace = true;
	fini_logged(b);
	no_noreplace = false;
	ok(ino_of(path) && connect_to(path, SOCK_SEQPACKET) == 0 && accepts(other) &&
		   err_has("cannot tell whether") && err_has("not removing it"),
	   "no RENAME_NOREPLACE: another program's socket at a stopping broker's path is left, listening, with a "
	   "warning (%s)", ino_of(path) ? "there" : "gone");
	close(other);
	unlink(path);

	b = listening(path);
	own = b->sock_ino;
	no_noreplace = true;
	fini_logged(b);
	no_noreplace = false;
	ok(own && ino_of(path) == own && err_has("cannot tell whether") && err_has("not removing it"),
	   "  its own socket there: left too, with the same warning (%s)", ino_of(path) ? "there" : "gone");
	unlink(path);
}

/* broker_reap() on an ended client's object that the kernel will not let
 * go, standard error kept in errfile; the objects left to retry. */
static size_t reap_logged(struct broker *b, uint64_t age_ns, bool final)
{
	int saved = dup(2), e = open(errfile, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);

	if (saved < 0 || e < 0 || dup2(e, 2) < 0)
		tap_bail("cannot redirect standard error: %s", strerror(errno));
	close(e);
	b->grave = calloc(1, sizeof(*b->grave));
	if (!b->grave)
		tap_bail("out of memory");
	/* Modular: a clock younger than age_ns still gives that age. */
	b->grave[0] = (struct broker_grave){ .id = 7, .pid = 42, .since_ns = sva_now_ns() - age_ns };
	b->ngrave = 1;
	broker_reap(b, final);
	fflush(stderr);
	dup2(saved, 2);
	close(saved);
	return b->ngrave;
}

/*
 * sva-brokerd(8): an ended client's object the kernel still holds is retried
 * for ten seconds (BROKER_GRAVE_NS) while the broker runs, then its line is
 * logged and the object left; a stopping broker logs it after its last try.
 * The age is given, not waited for.  The broker has no context here, so the
 * destroy fails (as EBUSY would) with an error of its own.
 */
static void grave_lines(void)
{
	static const char line[] = "sva-brokerd: client pid 42: its iommufd object 7 could not be destroyed: ";
	struct broker *b = broker_at("/nonexistent/grave.sock");
	size_t left;

	left = reap_logged(b, 0, false);
	ok(left == 1 && !err_has_quiet("could not be destroyed"),
	   "an ended client's object still held, just now: kept for another try, no line (%zu left)", left);
	free(b->grave);
	b->grave = NULL;
	b->ngrave = 0;
	left = reap_logged(b, BROKER_GRAVE_NS - 1000000, false);
	ok(left == 1 && !err_has_quiet("could not be destroyed"),
	   "  still held a moment short of ten seconds later: kept, no line (%zu left)", left);
	free(b->grave);
	b->grave = NULL;
	b->ngrave = 0;
	left = reap_logged(b, BROKER_GRAVE_NS, false);
	ok(left == 0 && b->grave == NULL && err_has(line),
	   "  ten seconds later: its line, \"%s...\", and no more tries (%zu left)", line, left);
	left = reap_logged(b, 0, true);
	ok(left == 0 && b->grave == NULL && err_has(line),
	   "  at the broker's stop (the last try): the same line at once (%zu left)", left);
}

static mode_t mode_of(const char *path)
{
	struct stat st;

	return lstat(path, &st) ? (mode_t)-1 : st.st_mode & 07777;
}

static void socket_dir(void)
{
	char dir[400], path[480], elsewhere[400];
	mode_t old = umask(077);
	int fd;

	/* The directory made for the socket: 0755 under umask 077. */
	snprintf(dir, sizeof(dir), "%s/run", tmp);
	snprintf(path, sizeof(path), "%s/sock", dir);
	fd = listen_at(path);
	ok(fd >= 0 && mode_of(dir) == 0755, "a socket directory made under umask 077 is mode 0755 (got %d, %o)", fd,
	   (unsigned)mode_of(dir));
	if (fd >= 0)
		close(fd);

	/* Under a setgid parent the directory made is setgid too: still the
	 * one made, and 0755 once listening (the bit dropped with the mode). */
	snprintf(dir, sizeof(dir), "%s/sgid", tmp);
	if (mkdir(dir, 0700) || chmod(dir, 02777))
		tap_bail("mkdir %s: %s", dir, strerror(errno));
	snprintf(dir, sizeof(dir), "%s/sgid/run", tmp);
	snprintf(path, sizeof(path), "%s/sock", dir);
	fd = listen_at(path);
	ok(fd >= 0 && mode_of(dir) == 0755, "a socket directory made under a setgid parent is taken, mode 0755 (got %d, %o)",
	   fd, (unsigned)mode_of(dir));
	if (fd >= 0)
		close(fd);

	/* A symlink put in its place between mkdir() and the chmod: followed,
	 * it would make its target 0755 and put the socket there. */
	snprintf(elsewhere, sizeof(elsewhere), "%s/elsewhere", tmp);
	if (mkdir(elsewhere, 0700) || chmod(elsewhere, 0700))
		tap_bail("mkdir %s: %s", elsewhere, strerror(errno));
	snprintf(swap_target, sizeof(swap_target), "%s", elsewhere);
	snprintf(dir, sizeof(dir), "%s/run2", tmp);
	snprintf(path, sizeof(path), "%s/sock", dir);
	swap_after_mkdir = SWAP_SYMLINK;
	fd = listen_at(path);
	swap_after_mkdir = SWAP_NONE;
	ok(fd < 0 && err_has("cannot listen on") && err_has("was replaced"),
	   "the socket directory swapped for a symlink after mkdir(): refused, saying so (got %d)", fd);
	ok(mode_of(elsewhere) == 0700, "  the symlink's target keeps its mode 0700 (got %o)", (unsigned)mode_of(elsewhere));
	snprintf(path, sizeof(path), "%s/sock", elsewhere);
	ok(ino_of(path) == 0, "  and no socket is made in it");
	if (fd >= 0)
		close(fd);

	/* Another user's directory in its place: not the one made. */
	if (geteuid() != 0) {
		skip(2, "not root: no directory of another owner can be swapped in");
	} else {
		snprintf(dir, sizeof(dir), "%s/run3", tmp);
		snprintf(path, sizeof(path), "%s/sock", dir);
		swap_after_mkdir = SWAP_OTHER_OWNER;
		fd = listen_at(path);
		swap_after_mkdir = SWAP_NONE;
		ok(fd < 0 && err_has("was replaced"),
		   "the socket directory swapped for another owner's after mkdir(): refused, saying so (got %d)", fd);
		ok(mode_of(dir) == 0700, "  that directory keeps its mode 0700 (got %o)", (unsigned)mode_of(dir));
		if (fd >= 0)
			close(fd);
	}
	umask(old);
}

int main(void)
{
	char cmd[300];

	snprintf(tmp, sizeof(tmp), "%s/brokerd-socket.XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
	if (!mkdtemp(tmp))
		tap_bail("mkdtemp: %s", strerror(errno));
	snprintf(errfile, sizeof(errfile), "%s/stderr", tmp);
	stale_and_live();
	two_at_once();
	start_lock();
	lock_swapped();
	stale_swapped();
	stale_no_noreplace();
	stop_keeps_lock();
	stop_swapped();
	stop_reused();
	bound_swapped();
	bound_direct();
	bound_edge();
	stop_no_noreplace();
	grave_lines();
	not_permitted();
	full_backlog();
	socket_dir();
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmp);
	if (system(cmd) != 0)
		diag("could not remove %s", tmp);
	return done_testing();
}
