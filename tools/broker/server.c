/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * sva-brokerd's socket and its clients' lives.  One thread and poll(2): every
 * request is a few ioctls, so serializing them costs nothing and keeps the
 * state plain.  A client's end is seen as EOF or POLLHUP on its socket,
 * which the kernel gives however the process ended, kill -9 included.
 */
#define _GNU_SOURCE /* struct ucred, accept4 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/file.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "broker.h"
#include "internal.h"

void broker_log(struct broker *b, enum sva_log_level level, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (b->ctx)
		sva_logf(&b->ctx->log, level, "sva-brokerd: %s", msg);
	else if (level >= SVA_LOG_WARN)
		fprintf(stderr, "sva-brokerd: %s\n", msg);
}

/*
 * The device's own PASIDs, as a local context has them: the numbers below
 * the global range that its width allows, [1, min(2^w - 1, pasid_min - 1)].
 * Leased in blocks (one per client that opens it), as the global space is:
 * allocating, freeing and looking up stay in the client, with no request,
 * and the broker checks an attach against the block it leased.
 */
static int own_space(struct broker *b, struct broker_dev *bd)
{
	struct sva_pasid_space_opts so = { .size = sizeof(so), .min = 1, .grace_ns = b->conf.grace_ns };
	uint32_t w = bd->dev->info.max_pasid_log2, top = w >= 20 ? SVA_PASID_MAX : (1u << w) - 1;

	bd->own = NULL;
	if (top > b->conf.pasid_min - 1)
		top = b->conf.pasid_min - 1;
	if (w == 0 || top == 0)
		return 0;
	/* A device with fewer own PASIDs than a block still serves one client. */
	bd->own_size = b->conf.dev_pasids_per_client < top ? b->conf.dev_pasids_per_client : top;
	/* Blocks are numbered from 1 (requests.c takes 1 off): a space's max of
	 * 0 would mean "up to SVA_PASID_MAX", and one block must mean one. */
	so.max = top / bd->own_size;
	return sva_pasid_space_new(&so, &bd->own);
}

static int open_device(struct broker *b, const struct broker_dev_conf *dc, struct broker_dev *bd)
{
	int ret;

	if (!strcmp(dc->source, "mock"))
		ret = sva_dev_open_mock(b->ctx, NULL, &bd->dev);
	else
		ret = sva_dev_open(b->ctx, dc->source, &bd->dev);
	if (ret) {
		broker_log(b, SVA_LOG_ERROR, "device %s (%s): cannot open: %s", dc->name, dc->source, strerror(-ret));
		return ret;
	}
	bd->conf = dc;
	bd->rid_only = broker_dev_rid_only(bd->dev);
	/* Clients bind PASIDs only; the RID waits on an empty IOAS, reaching
	 * nothing.  A device without PASIDs stays detached (blocked) until a
	 * client holds it (rid.c): parking needs a PASID-compatible HWPT. */
	ret = bd->rid_only ? 0 : sva_dev_rid_park(bd->dev);
	if (ret) {
		broker_log(b, SVA_LOG_ERROR, "device %s: cannot park its RID for PASID use: %s", dc->name,
			   strerror(-ret));
		sva_dev_close(bd->dev);
		return ret;
	}
	ret = own_space(b, bd);
	if (ret) {
		broker_log(b, SVA_LOG_ERROR, "device %s: no room for its own PASIDs: %s", dc->name, strerror(-ret));
		sva_dev_close(bd->dev);
		return ret;
	}
	bd->dev_id = bd->dev->info.dev_id;
	bd->flags = bd->dev->info.flags;
	bd->stdev_id = bd->dev->stdev_id;
	bd->park_ioas = bd->dev->park_ioas;
	bd->park_hwpt = bd->dev->park_hwpt;
	if (bd->rid_only)
		broker_log(b, SVA_LOG_INFO, "device %s (%s): dev_id %u, no PASIDs: lent whole to one trusted client at a time",
			   dc->name, dc->source, bd->dev_id);
	else if (bd->own)
		broker_log(b, SVA_LOG_INFO, "device %s (%s): dev_id %u, own PASIDs in blocks of %u from 1", dc->name,
			   dc->source, bd->dev_id, bd->own_size);
	else
		broker_log(b, SVA_LOG_INFO, "device %s (%s): dev_id %u, no own PASIDs", dc->name, dc->source,
			   bd->dev_id);
	return 0;
}

/* connect() to sa as a seqpacket client: 0 (someone listens), or the errno. */
static int socket_probe(const struct sockaddr_un *sa)
{
	/* Non-blocking: a live broker whose queue of connections waiting to be
	 * accepted is full would keep a blocking connect() waiting (EAGAIN). */
	int probe = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0), err = 0;

	if (probe < 0)
		return errno;
	if (connect(probe, (const struct sockaddr *)sa, sizeof(*sa)) != 0)
		err = errno;
	close(probe);
	return err;
}

/*
 * Is the socket path ours to take?  A stale socket of an earlier run is (1:
 * remove it); a live one, or anything else at that path, is not (-EADDRINUSE,
 * -EEXIST, logged); 0: nothing there.  Stale means a socket of the broker's
 * user whose probe connect() was refused (ECONNREFUSED: nobody listens, or
 * the socket of any type is closed) twice, BROKER_STALE_RECHECK_US apart, and
 * nothing else.  A live seqpacket socket that is bound and not listening is
 * refused as a stale one is: a broker in that state holds the lock
 * (socket_lock()), so none reaches here, but another program between its
 * bind() and its listen() does, and the second probe finds it listening; one
 * that binds and does not listen for all that time cannot be told from a
 * stale socket and is removed (sva-brokerd(8) says so).  Another user's
 * socket is never the leftover of this broker's earlier run: left alone.
 * A live socket of another type refuses a seqpacket client with EPROTOTYPE
 * whether it listens or is only bound, and a socket the broker may not
 * connect to (EACCES), or a probe that fails for want of memory or
 * descriptors, says nothing about a listener.  Those are refused too
 * (-EADDRINUSE, or the error), the path left alone.  The second probe is
 * made only if removing (the look that decides the removal).  1: *judged is
 * the socket judged stale, for stale_remove().
 */
static int socket_path_check(struct broker *b, const struct sockaddr_un *sa, bool removing, struct stat *judged)
{
	const struct broker_conf *c = &b->conf;
	struct stat st;
	int err;
	const char *why = NULL;

	if (lstat(c->socket, &st) != 0)
		return 0;
	/* A symbolic link is said as such: the line would otherwise call a
	 * link to a socket "not a socket", which ls -L contradicts. */
	if (S_ISLNK(st.st_mode)) {
		broker_log(b, SVA_LOG_ERROR, "cannot listen on %s: it is a symbolic link, which the broker neither "
			   "follows nor removes; not removing it", c->socket);
		return -EEXIST;
	}
	if (!S_ISSOCK(st.st_mode)) {
		broker_log(b, SVA_LOG_ERROR, "cannot listen on %s: it exists and is not a socket; not removing it",
			   c->socket);
		return -EEXIST;
	}
	err = socket_probe(sa);
	if (err == ECONNREFUSED && st.st_uid != geteuid()) {
		broker_log(b, SVA_LOG_ERROR, "cannot listen on %s: it is another user's socket (uid %u), not one this "
			   "user's broker left; not removing it", c->socket, (unsigned)st.st_uid);
		return -EADDRINUSE;
	}
	/* Only before a removal: broker_start()'s early look removes nothing,
	 * and listen_on() looks again. */
	if (err == ECONNREFUSED && removing) {
		struct stat now;

		usleep(BROKER_STALE_RECHECK_US);
		err = socket_probe(sa);
		/* What listen_on() removes is what is at the path now: it must
		 * be the socket whose owner and type were judged above, not a
		 * file (a connect() to one is refused too) or another user's
		 * socket put there during the wait. */
		if (err == ECONNREFUSED && lstat(c->socket, &now) != 0)
			err = errno;
		else if (err == ECONNREFUSED && (now.st_dev != st.st_dev || now.st_ino != st.st_ino ||
						 !S_ISSOCK(now.st_mode) || now.st_uid != st.st_uid)) {
			broker_log(b, SVA_LOG_ERROR, "cannot listen on %s: it was replaced while it was being checked; "
				   "not removing it", c->socket);
			return -EADDRINUSE;
		}
	}
	if (err == ECONNREFUSED) {
		*judged = st;
		return 1;
	}
	if (err == ENOENT) /* gone since the lstat(): the path is free */
		return 0;
	/* Only what the answer tells: a seqpacket listener may be another
	 * program's, and EPROTOTYPE comes from any live socket of another type
	 * bound there, listening or not (a closed one is refused: stale). */
	if (!err)
		why = "is where a seqpacket socket listens (another sva-brokerd's, or another program's)";
	else if (err == EAGAIN)
		why = "is where a seqpacket socket listens with its queue of connections full (another sva-brokerd's, "
		      "or another program's)";
	else if (err == EPROTOTYPE)
		why = "is a socket of another type (stream or datagram) that a running program holds";
	if (why) {
		broker_log(b, SVA_LOG_ERROR, "cannot listen on %s: it %s; not removing it", c->socket, why);
		return -EADDRINUSE;
	}
	broker_log(b, SVA_LOG_ERROR,
		   "cannot listen on %s: a socket there that may be in use (connecting to it: %s); not removing it",
		   c->socket, strerror(err));
	return -err;
}

/*
 * Move the name at the socket's path aside to <socket>.stale.<pid>, and
 * remove what was moved if it is the socket want (its inode, type and
 * owner), else put it back.  unlink() by name would remove whatever is at
 * the path by then: another program's socket bound there between the last
 * look and the unlink(), a microsecond window, would be removed in place of
 * the stale one.  A rename moves one object whole, the one at the path at
 * that instant, and it is judged after it moved, so nothing but the socket
 * judged is removed.  renameat2(RENAME_NOREPLACE): nothing already at either
 * name is replaced, the path's newcomer put back included (should yet
 * another have come to the path meanwhile, the moved one stays aside and the
 * caller says where).  The aside name is removed by name in turn, but it is
 * the broker's own, in the socket's directory: no other program binds there
 * (one that writes to that directory to rename it can as well remove a
 * running broker's socket).  0: removed, or gone; 1: another object, put
 * back; 2: another object, left at *aside; -errno.  A filesystem without
 * RENAME_NOREPLACE (EINVAL) or a kernel without renameat2() (ENOSYS): removed
 * by name if by_name, as before, the window open; else 3, nothing removed
 * (nothing there can be proved to be want).  An aside name already taken:
 * the next of <socket>.stale.<pid>.1 ... .15.
 */
static int socket_remove_if(const char *path, const struct stat *want, bool by_name, char *aside, size_t size)
{
	struct stat st;
	int moved, k = 0;

	/* Another name if that one is taken: a leftover of a broker of the
	 * same process ID (a container's PID 1) killed between the move and
	 * the removal, or what a put-back could not return.  Neither is the
	 * broker's to remove, nor a reason not to start. */
	do {
		if (k)
			snprintf(aside, size, "%s.stale.%ld.%d", path, (long)getpid(), k);
		else
			snprintf(aside, size, "%s.stale.%ld", path, (long)getpid());
		moved = renameat2(AT_FDCWD, path, AT_FDCWD, aside, RENAME_NOREPLACE);
	} while (moved && errno == EEXIST && ++k < BROKER_ASIDE_TRIES);
	if (moved) {
		if (errno == ENOENT)
			return 0;
		if (errno != EINVAL && errno != ENOSYS)
			return -errno;
		if (!by_name)
			return 3;
		return unlink(path) && errno != ENOENT ? -errno : 0;
	}
	if (lstat(aside, &st))
		return 0; /* the moved object removed by another: not at the path */
	if (st.st_dev == want->st_dev && st.st_ino == want->st_ino && S_ISSOCK(st.st_mode) &&
	    st.st_uid == want->st_uid)
		return unlink(aside) && errno != ENOENT ? -errno : 0;
	return renameat2(AT_FDCWD, aside, AT_FDCWD, path, RENAME_NOREPLACE) ? 2 : 1;
}

/* The stale socket socket_path_check() judged, removed: 0, or -errno logged. */
static int stale_remove(struct broker *b, const struct stat *judged)
{
	char aside[sizeof(b->conf.socket) + 32];
	int ret = socket_remove_if(b->conf.socket, judged, true, aside, sizeof(aside));

	if (ret < 0)
		broker_log(b, SVA_LOG_ERROR, "cannot listen on %s: cannot move its stale socket aside to %s to "
			   "remove it: %s; not removing it", b->conf.socket, aside, strerror(-ret));
	else if (ret == 1)
		broker_log(b, SVA_LOG_ERROR, "cannot listen on %s: it was replaced while it was being checked; not "
			   "removing it", b->conf.socket);
	else if (ret == 2)
		broker_log(b, SVA_LOG_ERROR, "cannot listen on %s: it was replaced while it was being checked, and "
			   "replaced again once moved aside: what replaced it first is at %s; not removing it",
			   b->conf.socket, aside);
	return ret > 0 ? -EADDRINUSE : ret;
}

/*
 * Start-up is one broker's at a time: the stale check, the unlink and the
 * bind()/listen() run under an flock() of <socket>.lock, held until the
 * broker ends.  Without it a broker between its bind() and listen() looked
 * stale to another starting at once (its probe was refused), which removed
 * the first one's socket and bound its own: both ran, the first unreachable.
 * The lock dies with its process, however it ended, so a leftover file
 * blocks nothing; the file is never removed (a killed broker could not
 * remove it anyway, and a file that stays keeps its mode and owner).  It
 * must be a regular file of the broker's user: one of another user's could
 * be held by that user for good.  The file locked must be the one at the
 * path once locked: another program may remove or replace the name between
 * the open() and the flock() (Z148), and the next broker would make and lock
 * a new file while this one held the old, each holding "the" lock.  So the
 * name is looked at after the flock() and, if it names another file or
 * none, the open is made again, a few times at most.  What this cannot see
 * is the name removed later, while the broker runs: sva-brokerd(8) says not
 * to.
 * A kernel built without file locks (CONFIG_FILE_LOCKING=n: flock() is
 * ENOSYS), or a filesystem without them (EOPNOTSUPP), must not keep the
 * broker from starting: it starts unlocked, as before the lock, and warns.
 * 0, -EADDRINUSE (another broker holds it), or -errno; -ENOENT unlogged
 * (the socket's directory does not exist yet: listen_on() makes it).
 */
static int socket_lock(struct broker *b)
{
	char path[sizeof(b->conf.socket) + sizeof(".lock")];
	struct stat st, now;
	int fd = -1, ret = 0, tries;

	if (b->lock_fd >= 0 || b->no_file_locks)
		return 0;
	snprintf(path, sizeof(path), "%s.lock", b->conf.socket);
	for (tries = 0; tries < BROKER_LOCK_TRIES; tries++) {
		/* O_NONBLOCK: a FIFO put there must not hang the open. */
		fd = open(path, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK, 0600);
		if (fd < 0) {
			ret = -errno;
			if (ret == -ENOENT)
				return ret;
			/* O_NOFOLLOW's ELOOP, unless a directory above loops. */
			if (ret == -ELOOP && lstat(path, &now) == 0 && S_ISLNK(now.st_mode)) {
				broker_log(b, SVA_LOG_ERROR, "cannot listen on %s: its lock file %s is a symbolic link, "
					   "which the broker does not follow; not using it", b->conf.socket, path);
				return ret;
			}
			break;
		}
		if (fstat(fd, &st)) {
			ret = -errno;
			break;
		}
		if (!S_ISREG(st.st_mode) || st.st_uid != geteuid()) {
			broker_log(b, SVA_LOG_ERROR, "cannot listen on %s: its lock file %s is not a regular file of "
				   "this user's; not using it", b->conf.socket, path);
			close(fd);
			return -EPERM;
		}
		if (flock(fd, LOCK_EX | LOCK_NB)) {
			ret = errno == EWOULDBLOCK ? -EADDRINUSE : -errno;
			if (ret == -ENOSYS || ret == -EOPNOTSUPP) {
				broker_log(b, SVA_LOG_WARN, "cannot lock %s (%s): starting without the lock, so two "
					   "brokers started at once on %s may both run, one unreachable", path,
					   strerror(-ret), b->conf.socket);
				b->no_file_locks = true;
				close(fd);
				return 0;
			}
			break;
		}
		if (lstat(path, &now) == 0) {
			if (now.st_dev == st.st_dev && now.st_ino == st.st_ino) {
				b->lock_fd = fd;
				return 0;
			}
		} else if (errno != ENOENT) {
			ret = -errno;
			break;
		}
		/* Another file, or none, at the name now: this one is no lock. */
		close(fd);
		fd = -1;
	}
	if (tries == BROKER_LOCK_TRIES) {
		broker_log(b, SVA_LOG_ERROR, "cannot listen on %s: its lock file %s was replaced each time it was "
			   "locked (%d times); not using it", b->conf.socket, path, BROKER_LOCK_TRIES);
		return -EAGAIN;
	}
	if (ret == -EADDRINUSE)
		broker_log(b, SVA_LOG_ERROR, "cannot listen on %s: another sva-brokerd is starting or running there "
			   "(it holds %s); not removing it", b->conf.socket, path);
	else
		broker_log(b, SVA_LOG_ERROR, "cannot listen on %s: cannot lock %s: %s", b->conf.socket, path,
			   strerror(-ret));
	if (fd >= 0)
		close(fd);
	return ret;
}

static void socket_addr(const struct broker *b, struct sockaddr_un *sa)
{
	memset(sa, 0, sizeof(*sa));
	sa->sun_family = AF_UNIX;
	snprintf(sa->sun_path, sizeof(sa->sun_path), "%s", b->conf.socket);
}

/*
 * The socket's directory listen_on() has just made, made mode 0755: mkdir()
 * takes the umask off, and under an administrator's 077 the directory was
 * 0700, so no client but root reached the socket, whatever socket-mode said
 * (the page promises 0755).  Through a descriptor, not chmod() by path: in a
 * parent that others may write to (without the sticky bit) the name can be
 * swapped between mkdir() and chmod() for a symlink, which chmod() follows,
 * or for another directory, and that one would be made 0755 and get the
 * socket.  O_NOFOLLOW refuses a symlink; a directory not owned by us, or with
 * a bit mkdir(0755) cannot give, is not the one made.  Either: refused (the
 * broker does not start), nothing changed.  0, or -errno.
 */
static int socket_dir_mode(struct broker *b, const char *dir)
{
	struct stat st;
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC), ret = 0;

	if (fd < 0 || fstat(fd, &st)) {
		ret = -errno;
	} else if (!S_ISDIR(st.st_mode) || st.st_uid != geteuid() || (st.st_mode & 07777 & ~(mode_t)(0755 | S_ISGID))) {
		/* A setgid parent passes S_ISGID on to the directory made. */
		ret = -EPERM;
	}
	if (ret) {
		broker_log(b, SVA_LOG_ERROR,
			   "cannot listen on %s: its directory %s, just made, was replaced before it could be made mode "
			   "0755 (%s); not using it",
			   b->conf.socket, dir, ret == -EPERM ? "not a directory of this user's making" : strerror(-ret));
	} else if (fchmod(fd, 0755)) {
		broker_log(b, SVA_LOG_WARN, "cannot make %s mode 0755: %s", dir, strerror(errno));
	}
	if (fd >= 0)
		close(fd);
	return ret;
}

/*
 * A name beside the socket's path to bind at first, <dir>/.sbd.<8 random
 * characters>: no other program can know it before it is made.  One of
 * the broker's user that watches the directory (inotify) and swaps what is
 * at that name in the microseconds between bind() and lstat() is not
 * excluded; it could as well remove the running broker's socket.  false if it does not fit in sun_path (a directory path of more
 * than BROKER_STAGE_DIR_MAX bytes).
 */
static bool staging_addr(const char *path, struct sockaddr_un *ta)
{
	static const char digits[] = "0123456789abcdefghijklmnopqrstuvwxyz";
	const char *slash = strrchr(path, '/');
	unsigned char r[8];
	char name[sizeof(r) + 1];

	if (!slash || (size_t)(slash - path) > BROKER_STAGE_DIR_MAX)
		return false;
	if (getrandom(r, sizeof(r), GRND_NONBLOCK) != (ssize_t)sizeof(r)) {
		uint64_t x = sva_now_ns() ^ ((uint64_t)getpid() << 40);

		for (size_t i = 0; i < sizeof(r); i++)
			r[i] = (unsigned char)(x >> (8 * i));
	}
	for (size_t i = 0; i < sizeof(r); i++)
		name[i] = digits[r[i] % (sizeof(digits) - 1)];
	name[sizeof(r)] = '\0';
	memset(ta, 0, sizeof(*ta));
	ta->sun_family = AF_UNIX;
	snprintf(ta->sun_path, sizeof(ta->sun_path), "%.*s/.sbd.%s", (int)(slash - path), path, name);
	return true;
}

/* s, bound at name, given the configured mode and group, and listening: 0,
 * or -errno logged. */
static int socket_ready(struct broker *b, int s, const char *name)
{
	const struct broker_conf *c = &b->conf;
	int ret;

	if (chmod(name, c->socket_mode) || (c->socket_gid >= 0 && chown(name, (uid_t)-1, (gid_t)c->socket_gid)) ||
	    listen(s, 16)) {
		ret = -errno;
		broker_log(b, SVA_LOG_ERROR, "cannot listen on %s: %s", c->socket, strerror(-ret));
		return ret;
	}
	return 0;
}

/*
 * The staged socket moved to the socket's path, never in place of what is
 * there: renameat2(RENAME_NOREPLACE), or, on a filesystem without it (NFS:
 * EINVAL; a kernel before 3.15: ENOSYS), link() then unlink() of the staging
 * name, link() refusing an existing name as well.  0; -EEXIST (something is
 * at the path); 1: neither can be done here (link() EPERM: no hard links);
 * or -errno.
 */
static int socket_publish(struct broker *b, const char *staged, const char *path)
{
	if (!renameat2(AT_FDCWD, staged, AT_FDCWD, path, RENAME_NOREPLACE))
		return 0;
	if (errno != EINVAL && errno != ENOSYS)
		return -errno;
	if (link(staged, path))
		return errno == EPERM || errno == EOPNOTSUPP ? 1 : -errno;
	if (unlink(staged))
		broker_log(b, SVA_LOG_WARN, "cannot remove %s, a second name of its socket %s: %s", staged, path,
			   strerror(errno));
	return 0;
}

/*
 * s bound and listening at the socket's path, its inode noted for
 * socket_unlink_own().  An lstat() of the path after a bind() there could
 * find another program's socket, put there between the two by one of the
 * broker's user, and the broker would remove it as its own when it stops.
 * So s is bound at a name no other program knows beforehand
 * (staging_addr()), its inode taken from that name, made ready to serve
 * (mode, group, listen(): a client never finds it at the path bound and
 * not listening, which looks stale to a starting broker), and then moved to the path without replacing anything
 * there (socket_publish()): a live broker's socket, or anything put there
 * since socket_path_check() found the path free or its stale socket removed,
 * keeps the path, and this broker does not start.  Where the staging name
 * does not fit, or the filesystem can move it neither way, a socket is bound
 * at the path itself, as bind() never replaces either, and its inode is not
 * noted (unknown: the stop leaves the path).  0, or -errno logged; *sp may
 * be a new socket.
 */
static int socket_bind_own(struct broker *b, int *sp, const struct sockaddr_un *sa)
{
	const struct broker_conf *c = &b->conf;
	struct sockaddr_un ta;
	struct stat st;
	bool fits = staging_addr(c->socket, &ta), staged = false;
	int ret, s;

	/* Another name if one is taken: not by chance, 36^8 of them. */
	for (int tries = 0; fits && !staged && tries < BROKER_STAGE_TRIES; tries++) {
		if (tries)
			staging_addr(c->socket, &ta);
		if (!bind(*sp, (const struct sockaddr *)&ta, sizeof(ta)))
			staged = true;
		else if (errno != EADDRINUSE || tries + 1 == BROKER_STAGE_TRIES) {
			ret = -errno;
			broker_log(b, SVA_LOG_ERROR, "cannot listen on %s: cannot bind a socket at %s beside it: %s",
				   c->socket, ta.sun_path, strerror(-ret));
			return ret;
		}
	}
	if (staged) {
		if (lstat(ta.sun_path, &st) == 0) {
			b->sock_dev = st.st_dev;
			b->sock_ino = st.st_ino;
		}
		ret = socket_ready(b, *sp, ta.sun_path);
		if (!ret) {
			ret = socket_publish(b, ta.sun_path, c->socket);
			if (!ret)
				return 0;
			if (ret == -EEXIST)
				broker_log(b, SVA_LOG_ERROR, "cannot listen on %s: a file was put there while the broker "
					   "made its socket; not removing it", c->socket);
			else if (ret < 0)
				broker_log(b, SVA_LOG_ERROR, "cannot listen on %s: cannot move its socket there from %s: "
					   "%s", c->socket, ta.sun_path, strerror(-ret));
		}
		b->sock_dev = 0;
		b->sock_ino = 0;
		unlink(ta.sun_path);
		if (ret < 0)
			return ret == -EEXIST ? -EADDRINUSE : ret;
		/* A bound socket cannot be bound again: a new one for the path. */
		s = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
		if (s < 0) {
			ret = -errno;
			broker_log(b, SVA_LOG_ERROR, "cannot listen on %s: %s", c->socket, strerror(-ret));
			return ret;
		}
		close(*sp);
		*sp = s;
	}
	if (bind(*sp, (const struct sockaddr *)sa, sizeof(*sa))) {
		ret = -errno;
		broker_log(b, SVA_LOG_ERROR, "cannot listen on %s: %s", c->socket, strerror(-ret));
		return ret;
	}
	return socket_ready(b, *sp, c->socket);
}

static int listen_on(struct broker *b)
{
	struct sockaddr_un sa;
	const struct broker_conf *c = &b->conf;
	struct stat judged;
	int s, ret;

	socket_addr(b, &sa);
	s = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (s < 0)
		return -errno;
	/* Run by hand, not by the systemd unit (RuntimeDirectory=): the socket's
	 * own directory (/run/sva-brokerd) may not exist yet.  Only that last
	 * component is made, never a whole missing path. */
	{
		char dir[sizeof(sa.sun_path)];
		char *slash;

		snprintf(dir, sizeof(dir), "%s", c->socket);
		slash = strrchr(dir, '/');
		if (slash && slash != dir) {
			*slash = '\0';
			if (mkdir(dir, 0755) == 0) {
				ret = socket_dir_mode(b, dir);
				if (ret) {
					close(s);
					return ret;
				}
				broker_log(b, SVA_LOG_INFO, "created %s for the socket", dir);
			}
		}
	}
	/* Locked, if broker_start() could not (no directory then), and checked
	 * again under the lock: another broker may have ended since. */
	ret = socket_lock(b);
	if (ret == -ENOENT)
		broker_log(b, SVA_LOG_ERROR, "cannot listen on %s: %s", c->socket, strerror(-ret));
	if (!ret)
		ret = socket_path_check(b, &sa, true, &judged);
	if (ret == 1)
		ret = stale_remove(b, &judged);
	if (ret < 0) {
		close(s);
		return ret;
	}
	ret = socket_bind_own(b, &s, &sa);
	if (ret) {
		close(s);
		return ret;
	}
	return s;
}

/*
 * The broker's socket removed as it stops, as stale_remove() removes a stale
 * one: only the file it bound, if still at the path.  Another program's put
 * there since (the broker's removed by hand, or a second broker's where the
 * lock could not be taken) is left, with a line.  Where the socket cannot be
 * moved aside (no RENAME_NOREPLACE: NFS) nothing at the path is proved to be
 * the broker's, and an unlink() by name would remove whatever is there at
 * that instant: the path is left, with a line (stale, if its own, to the
 * next broker, which removes it as such).
 */
static void socket_unlink_own(struct broker *b)
{
	struct stat own = { .st_dev = b->sock_dev, .st_ino = b->sock_ino, .st_mode = S_IFSOCK, .st_uid = geteuid() };
	char aside[sizeof(b->conf.socket) + 32];
	int ret;

	if (!b->sock_ino) {
		/* Its lstat() after the bind() failed: what is at the path may
		 * be anything by now.  A socket of its own left there is stale,
		 * and the next broker removes it. */
		broker_log(b, SVA_LOG_WARN, "cannot tell whether %s is this broker's socket; not removing it",
			   b->conf.socket);
		return;
	}
	/* Never by name: what is at the path then may be another's. */
	ret = socket_remove_if(b->conf.socket, &own, false, aside, sizeof(aside));
	if (ret < 0)
		broker_log(b, SVA_LOG_WARN, "cannot remove %s: cannot move it aside to %s: %s", b->conf.socket, aside,
			   strerror(-ret));
	else if (ret == 1)
		broker_log(b, SVA_LOG_WARN, "%s is no longer this broker's socket; not removing it", b->conf.socket);
	else if (ret == 2)
		broker_log(b, SVA_LOG_WARN, "%s is no longer this broker's socket, and it was replaced again once moved "
			   "aside: what was there is at %s; not removing it", b->conf.socket, aside);
	else if (ret == 3)
		broker_log(b, SVA_LOG_WARN, "cannot tell whether %s is this broker's socket: its filesystem cannot "
			   "move it aside to look (no RENAME_NOREPLACE); not removing it", b->conf.socket);
}

/* The spare descriptor back, after a refusal used it (accept_client()). */
static void spare_back(struct broker *b)
{
	if (b->spare_fd < 0)
		b->spare_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
}

int broker_start(struct broker *b, const struct broker_conf *conf)
{
	struct sva_ctx_opts o = { .size = sizeof(o), .flags = SVA_CTX_NO_EXIT_TEARDOWN };
	struct sva_pasid_space_opts so = { .size = sizeof(so), .min = 1 };
	int ret;

	memset(b, 0, sizeof(*b));
	b->lsock = -1;
	b->lock_fd = -1;
	b->conf = *conf;
	/* Every client holds descriptors here (its socket, its shared memfds,
	 * its fault queues): the soft limit up to the hard one, and one spare
	 * kept for refusing a connection once they run out (accept_client()). */
	{
		struct rlimit rl;

		if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
			rl.rlim_cur = rl.rlim_max;
			setrlimit(RLIMIT_NOFILE, &rl);
		}
	}
	b->spare_fd = -1; /* opened once it listens */
	ret = sva_ctx_new(&o, &b->ctx);
	if (ret) {
		broker_log(b, SVA_LOG_ERROR, "cannot create the iommufd context: %s", strerror(-ret));
		return ret;
	}
	/* Before the devices: a second broker started by mistake must say that
	 * another one listens there, not that the devices are busy (the first
	 * broker has them).  No directory yet: locked once listen_on() made it. */
	{
		struct sockaddr_un sa;
		struct stat judged;

		socket_addr(b, &sa);
		ret = socket_lock(b);
		if (ret == -ENOENT)
			ret = 0;
		if (!ret)
			ret = socket_path_check(b, &sa, false, &judged);
		if (ret < 0)
			goto err;
	}
	for (size_t i = 0; i < b->conf.ndevs; i++) {
		ret = open_device(b, &b->conf.devs[i], &b->devs[b->ndevs]);
		if (ret)
			goto err;
		b->ndevs++;
	}
	/* Numbered from 1, as the devices' own blocks are (own_space()). */
	so.max = (b->conf.pasid_max - b->conf.pasid_min + 1) / b->conf.pasids_per_client;
	so.grace_ns = b->conf.grace_ns;
	ret = sva_pasid_space_new(&so, &b->blocks);
	if (ret)
		goto err;
	ret = listen_on(b);
	if (ret < 0)
		goto err;
	b->lsock = ret;
	spare_back(b);
	broker_log(b, SVA_LOG_INFO, "listening on %s: %zu device%s, %u blocks of %u PASIDs from %u", b->conf.socket,
		   b->ndevs, b->ndevs == 1 ? "" : "s", so.max, b->conf.pasids_per_client, b->conf.pasid_min);
	return 0;
err:
	broker_fini(b);
	return ret;
}

/* Is gid in some device's allowlist?  Only those of a client's groups matter. */
static bool gid_allowed_somewhere(const struct broker_conf *conf, gid_t gid)
{
	for (size_t d = 0; d < conf->ndevs; d++)
		for (size_t i = 0; i < conf->devs[d].ngids; i++)
			if (conf->devs[d].gids[i] == gid)
				return true;
	return false;
}

static void peer_creds(const struct broker *b, struct broker_client *c)
{
	struct ucred uc;
	socklen_t len = sizeof(uc);

	c->pid = -1;
	c->uid = (uid_t)-1;
	c->ngids = 0;
	if (getsockopt(c->sock, SOL_SOCKET, SO_PEERCRED, &uc, &len) == 0) {
		c->pid = uc.pid;
		c->uid = uc.uid;
		c->gids[c->ngids++] = uc.gid;
	}
#ifdef SO_PEERGROUPS
	/* A user may be in up to 65536 groups: ask for as many as there are
	 * (ERANGE says how many), keep those an allowlist names. */
	{
		gid_t *groups = NULL;

		len = 0;
		if (getsockopt(c->sock, SOL_SOCKET, SO_PEERGROUPS, NULL, &len) && errno != ERANGE)
			len = 0;
		if (len && (groups = malloc(len)) &&
		    getsockopt(c->sock, SOL_SOCKET, SO_PEERGROUPS, groups, &len) == 0)
			for (size_t i = 0; i < len / sizeof(gid_t) && c->ngids < BROKER_MAX_GROUPS + 1; i++)
				if (gid_allowed_somewhere(&b->conf, groups[i]))
					c->gids[c->ngids++] = groups[i];
		free(groups);
	}
#endif
}

/* Read what a refused connection sent (its hello: a few messages at most,
 * so a peer that keeps writing cannot hold the loop), then close it: no reset. */
static void refused_close(int s)
{
	struct sva_broker_msg hello;

	for (int i = 0; i < 4 && recv(s, &hello, sizeof(hello), MSG_DONTWAIT) > 0; i++)
		;
	close(s);
}

static void park_refused(struct broker *b, int s)
{
	if (b->nrefused == BROKER_MAX_REFUSED) {
		refused_close(b->refused[0].sock);
		memmove(b->refused, b->refused + 1, --b->nrefused * sizeof(b->refused[0]));
	}
	b->refused[b->nrefused++] = (struct broker_refused){ .sock = s, .deadline_ns = sva_now_ns() + BROKER_REFUSED_NS };
}

/* Close the first n parked connections that poll() found readable or hung up
 * (ev[i]), or whose deadline passed; keep the others in order. */
static void reap_refused(struct broker *b, const struct pollfd *ev, size_t n)
{
	uint64_t now = sva_now_ns();
	size_t kept = 0;

	for (size_t i = 0; i < b->nrefused; i++) {
		if ((i < n && ev[i].revents) || b->refused[i].deadline_ns <= now)
			refused_close(b->refused[i].sock);
		else
			b->refused[kept++] = b->refused[i];
	}
	b->nrefused = kept;
}

/*
 * Answer a connection's hello before it is sent, with status and why.
 * -EUSERS: parked until its hello comes (see struct broker_refused); any other
 * refusal holds the spare descriptor, which must come back, so a short wait
 * for the hello (a client sends it at once).
 */
static void refuse_connection(struct broker *b, int s, int status, const char *why)
{
	struct sva_broker_msg m;
	struct ucred uc = { .pid = -1, .uid = (uid_t)-1 };
	socklen_t len = sizeof(uc);

	/* sva-brokerd(8): debug lists every connection refused, whatever the
	 * reason (max-clients, clients-per-user, out of descriptors). */
	if (getsockopt(s, SOL_SOCKET, SO_PEERCRED, &uc, &len))
		uc = (struct ucred){ .pid = -1, .uid = (uid_t)-1 };
	broker_log(b, SVA_LOG_DEBUG, "client pid %d uid %u refused: %s", (int)uc.pid, (unsigned)uc.uid, why);
	sva_broker_msg_init(&m, SVA_BOP_HELLO);
	m.status = status;
	snprintf(m.text, sizeof(m.text), "%s", why);
	sva_broker_send(s, &m, -1);
	if (status == -EUSERS) {
		park_refused(b, s);
		return;
	}
	{
		struct pollfd p = { .fd = s, .events = POLLIN };

		poll(&p, 1, 200);
	}
	refused_close(s);
	spare_back(b);
}

/* The connections of uid counted against clients-per-user: every client
 * until its connection closes, as for max-clients. */
static unsigned clients_of(const struct broker *b, uid_t uid)
{
	unsigned n = 0;

	for (size_t i = 0; i < b->nclients; i++)
		n += b->clients[i]->uid == uid;
	return n;
}

static void accept_client(struct broker *b)
{
	struct broker_client *c, **grown;
	char why[sizeof(((struct sva_broker_msg *)0)->text)];
	int s = accept4(b->lsock, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);

	/*
	 * Out of descriptors: the connection would stay in the backlog, poll()
	 * would report it at once, again and again (a spin), and its client
	 * would wait for good.  Give up the spare to take it, refuse it, and
	 * take the spare back.
	 */
	if (s < 0 && (errno == EMFILE || errno == ENFILE) && b->spare_fd >= 0) {
		if (!b->fd_short_logged)
			broker_log(b, SVA_LOG_ERROR, "out of file descriptors (%s): refusing new clients until "
				   "some end (raise LimitNOFILE)", strerror(errno));
		b->fd_short_logged = true;
		close(b->spare_fd);
		s = accept4(b->lsock, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
		b->spare_fd = -1;
		if (s >= 0)
			refuse_connection(b, s, -EMFILE, "the broker is out of file descriptors: try again later");
		else
			spare_back(b);
		return;
	}
	if (s < 0) {
		spare_back(b);
		return;
	}
	if (b->nclients >= b->conf.max_clients) {
		snprintf(why, sizeof(why), "the broker serves at most %u client%s (max-clients)", b->conf.max_clients,
			 b->conf.max_clients == 1 ? "" : "s");
		refuse_connection(b, s, -EUSERS, why);
		return;
	}
	b->fd_short_logged = false;
	c = calloc(1, sizeof(*c));
	grown = realloc(b->clients, (b->nclients + 1) * sizeof(*grown));
	if (!c || !grown) {
		free(c);
		if (grown)
			b->clients = grown;
		close(s);
		return;
	}
	b->clients = grown;
	c->sock = s;
	peer_creds(b, c);
	if (b->conf.clients_per_user && clients_of(b, c->uid) >= b->conf.clients_per_user) {
		snprintf(why, sizeof(why), "uid %u has %u client%s of this broker, its most (clients-per-user)",
			 (unsigned)c->uid, b->conf.clients_per_user, b->conf.clients_per_user == 1 ? "" : "s");
		free(c);
		refuse_connection(b, s, -EUSERS, why);
		return;
	}
	b->clients[b->nclients++] = c;
	b->clients_seen++;
	broker_log(b, SVA_LOG_DEBUG, "client pid %d uid %u connected", (int)c->pid, (unsigned)c->uid);
}

static void drop_client(struct broker *b, size_t i)
{
	struct broker_client *c = b->clients[i];

	broker_client_end(b, c);
	close(c->sock);
	free(c);
	b->clients[i] = b->clients[--b->nclients];
}

/* Serve one message of client i; false if the client is to be dropped. */
static bool serve(struct broker *b, struct broker_client *c)
{
	struct sva_broker_msg m;
	int fd, ret = sva_broker_recv(c->sock, &m, &fd);

	if (ret == -EAGAIN)
		return true;
	if (ret == -ECONNRESET)
		return false;
	/* The message arrived whole, but the descriptor it carried found no room
	 * here: the broker's own limit, not the client's fault.  The request is
	 * refused, the client stays. */
	if (ret == -EMFILE || ret == -ENFILE) {
		broker_log(b, SVA_LOG_WARN, "client pid %d: its %s request carried a file descriptor and the broker "
			   "has none free (%s)", (int)c->pid, sva_broker_op_name(m.op), strerror(-ret));
		m.status = ret;
		snprintf(m.text, sizeof(m.text), "the broker has no file descriptor free for the one the request carried");
		sva_broker_send(c->sock, &m, -1);
		return true;
	}
	if (ret) {
		/* Malformed: tell the peer why, then stop trusting the stream. */
		broker_log(b, SVA_LOG_WARN, "client pid %d: malformed message (%s): disconnected", (int)c->pid,
			   strerror(-ret));
		sva_broker_msg_init(&m, 0);
		m.status = ret;
		snprintf(m.text, sizeof(m.text), "malformed message: %s", strerror(-ret));
		sva_broker_send(c->sock, &m, -1);
		return false;
	}
	broker_handle(b, c, &m, fd);
	return true;
}

int broker_run(struct broker *b)
{
	struct pollfd *pfd = NULL;

	while (!b->stop) {
		struct pollfd *grown = realloc(pfd, (b->nclients + 1 + b->nrefused) * sizeof(*pfd));
		size_t n, nr;
		int ret, wait_ms = b->ngrave ? 20 : 200;

		if (!grown)
			break;
		pfd = grown;
		pfd[0] = (struct pollfd){ .fd = b->lsock, .events = POLLIN };
		for (size_t i = 0; i < b->nclients; i++)
			pfd[i + 1] = (struct pollfd){ .fd = b->clients[i]->sock, .events = POLLIN };
		n = b->nclients;
		nr = b->nrefused;
		for (size_t i = 0; i < nr; i++)
			pfd[n + 1 + i] = (struct pollfd){ .fd = b->refused[i].sock, .events = POLLIN };
		if (nr) { /* the oldest parked refusal's deadline comes first */
			uint64_t now = sva_now_ns(), due = b->refused[0].deadline_ns;
			uint64_t ms = due > now ? (due - now) / 1000000 + 1 : 0;

			if (ms < (uint64_t)wait_ms)
				wait_ms = (int)ms;
		}
		ret = poll(pfd, n + 1 + nr, wait_ms);
		if (ret < 0 && errno != EINTR)
			break;
		if (b->ngrave)
			broker_reap(b, false);
		if (nr)
			reap_refused(b, ret > 0 ? pfd + n + 1 : NULL, ret > 0 ? nr : 0);
		if (ret <= 0)
			continue;
		/* From the end: drop_client() moves the last client into the hole. */
		for (size_t i = n; i-- > 0;) {
			short ev = pfd[i + 1].revents;

			if (!ev)
				continue;
			if ((ev & POLLIN) ? !serve(b, b->clients[i]) : true)
				drop_client(b, i);
		}
		if (pfd[0].revents & POLLIN)
			accept_client(b);
	}
	free(pfd);
	while (b->nclients)
		drop_client(b, b->nclients - 1);
	return 0;
}

void broker_fini(struct broker *b)
{
	if (b->spare_fd >= 0)
		close(b->spare_fd);
	b->spare_fd = -1;
	while (b->nclients)
		drop_client(b, b->nclients - 1);
	while (b->nrefused)
		refused_close(b->refused[--b->nrefused].sock);
	free(b->clients);
	b->clients = NULL;
	if (b->lsock >= 0) {
		/* Removed before the close: the socket bound holds its inode
		 * until then, so no other file can have its number meanwhile
		 * (once freed, a filesystem may give it to the next file made,
		 * another broker's socket bound at the path, say). */
		socket_unlink_own(b);
		close(b->lsock);
		b->lsock = -1;
	}
	/* Clients that ended just now: give the kernel a moment to let go. */
	for (int i = 0; b->ngrave && i < BROKER_STOP_RETRIES; i++) {
		broker_reap(b, false);
		if (b->ngrave)
			usleep(BROKER_STOP_RETRY_US);
	}
	if (b->ngrave)
		broker_reap(b, true);
	for (size_t i = 0; i < b->ndevs; i++) {
		sva_dev_close(b->devs[i].dev);
		sva_pasid_space_free(b->devs[i].own);
	}
	b->ndevs = 0;
	sva_pasid_space_free(b->blocks);
	b->blocks = NULL;
	sva_ctx_free(b->ctx);
	b->ctx = NULL;
	/* Last, after the unlink, the retries and the devices: a broker started
	 * on this path before this one is gone is refused with the lock's line
	 * rather than finding the devices busy, and once it holds the lock it
	 * finds no socket of this one's. */
	if (b->lock_fd >= 0)
		close(b->lock_fd);
	b->lock_fd = -1;
}
