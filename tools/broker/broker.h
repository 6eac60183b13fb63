/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * sva-brokerd: one process owns the iommufd and the devices; clients (libsva
 * contexts made with SVA_CTX_BROKER) connect over an AF_UNIX SOCK_SEQPACKET
 * socket.  config.c reads the configuration, server.c runs the socket and
 * the clients' lives, requests.c answers each request, isolated.c an
 * isolated client's iommufd calls, rid.c the lending of a device without
 * PASIDs.
 */
#ifndef SVA_BROKER_H
#define SVA_BROKER_H

#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

#include "broker_proto.h"
#include "sva/sva.h"

#define BROKER_MAX_DEVS 16
#define BROKER_MAX_ALLOW 32
#define BROKER_MAX_ATTACH 64 /* PASID attachments per client */
/* A client's supplementary groups kept: those some allowlist names, all of them fit */
#define BROKER_MAX_GROUPS (BROKER_MAX_DEVS * BROKER_MAX_ALLOW)

struct broker_dev_conf {
	char name[64];	  /* what clients pass to sva_dev_open() */
	char source[256]; /* "mock", or the name sva_dev_open() takes here */
	uint32_t uids[BROKER_MAX_ALLOW], gids[BROKER_MAX_ALLOW];
	size_t nuids, ngids;
	bool isolated_only; /* "trust NAME isolated": no trusted client at all (see requests.c) */
	bool trust_given;   /* a trust line named it: a second is refused, not the last one winning */
	char mm_exit[256];  /* "mm-exit NAME PROGRAM [TIMEOUT-MS]": the drain program, or "" */
	unsigned mm_exit_ms;
};

#define BROKER_MM_EXIT_MS 5000 /* mm-exit's default timeout */

struct broker_conf {
	char socket[108];
	unsigned socket_mode; /* chmod of the socket */
	long socket_gid;      /* chown of the socket; -1: leave it */
	uint32_t pasids_per_client;
	uint32_t pasid_min, pasid_max; /* the broker's global PASID space */
	uint32_t dev_pasids_per_client; /* a block of a device's own PASIDs [1, pasid_min - 1] */
	uint64_t grace_ns;	       /* quarantine of a client's block after it ends */
	unsigned max_clients;
	unsigned clients_per_user; /* connections one uid may hold; 0: no limit beyond max_clients */
	uint64_t isolated_pin_max; /* bytes an isolated client may have mapped; 0: no limit */
	struct broker_dev_conf devs[BROKER_MAX_DEVS];
	size_t ndevs;
};

/* Defaults for everything (no devices). */
void broker_conf_defaults(struct broker_conf *c);
/* Read a configuration (sva-brokerd(8), CONFIGURATION) over the defaults.
 * 0, or -EINVAL with the file, line and reason in err. */
int broker_conf_parse(FILE *f, const char *fname, struct broker_conf *c, char *err, size_t errlen);
int broker_conf_load(const char *path, struct broker_conf *c, char *err, size_t errlen);

struct broker_client;

struct broker_dev {
	const struct broker_dev_conf *conf;
	struct sva_dev *dev;
	uint32_t dev_id, flags, stdev_id, park_ioas, park_hwpt;
	/* A device without PASIDs (rid.c): one client holds it at a time. */
	bool rid_only;
	struct broker_client *holder;
	uint32_t rid_hwpt; /* the holder's HWPT its RID is attached to; 0: none */
	bool withdrawn;	   /* a detach failed: lent to nobody again */
	/* The device's own PASIDs [1, min(2^w - 1, pasid_min - 1)], in blocks of
	 * own_size: block k is 1 + k * own_size ...  NULL: it has none. */
	struct sva_pasid_space *own;
	uint32_t own_size;
};

/* One PASID a client had the broker attach. */
struct broker_att {
	uint32_t dev_id, pasid, hwpt;
};

#define BROKER_MAX_OBJECTS 65536 /* iommufd objects tracked per client */
#define BROKER_MAX_SHARES SVA_BROKER_MAX_SHARES /* memfd ranges an isolated client shares */
/* IOAS mappings an isolated client holds.  Overridable only so that a unit
 * test reaches the cap in a few hundred maps (test-broker-map-cap); add_map()
 * grows the table by doubling from 64, so the cap must be 64 times a power
 * of two to be exact. */
#ifndef BROKER_MAX_MAPS
#define BROKER_MAX_MAPS 262144
#endif
_Static_assert(BROKER_MAX_MAPS >= 64 && BROKER_MAX_MAPS % 64 == 0 &&
		       ((BROKER_MAX_MAPS / 64) & (BROKER_MAX_MAPS / 64 - 1)) == 0,
	       "add_map() reaches BROKER_MAX_MAPS exactly only from 64 by doubling");
#define BROKER_PIN_MAX_DEFAULT (1ull << 30) /* isolated-pin-max */

/* A memfd range an isolated client shared: its pages may appear at [va, va + len). */
struct broker_share {
	int fd;
	uint64_t off, va, len;
	uint64_t pgsz; /* the file's page size: 2 MiB (or more) for a hugetlbfs memfd */
	bool writable; /* its descriptor is open for writing and not sealed against writes */
};

/* A mapping the broker made for an isolated client, from the share at share_va. */
struct broker_map {
	uint32_t ioas;
	uint64_t iova, len, share_va;
	uint64_t charge; /* what it counts against isolated-pin-max: the file pages it pins, whole */
};

struct broker_client {
	int sock;
	pid_t pid;
	uid_t uid;
	gid_t gids[BROKER_MAX_GROUPS + 1]; /* primary, then supplementary */
	size_t ngids;
	bool hello;
	bool isolated; /* never holds the iommufd: isolated.c does its calls */
	uint32_t block, pasid_min, pasid_max;
	bool opened[BROKER_MAX_DEVS];
	/* Its block of each open device's own PASIDs (held: it has one). */
	struct broker_own {
		bool held;
		uint32_t block, min, max;
	} own[BROKER_MAX_DEVS];
	struct broker_att att[BROKER_MAX_ATTACH];
	size_t natt;
	/* The objects it created in the shared iommufd and has not destroyed
	 * (SVA_BOP_REGISTER): the broker destroys them when it ends. */
	uint32_t *objs;
	size_t nobjs, cap_objs;
	bool objs_overflow; /* logged once */
	struct broker_share shares[BROKER_MAX_SHARES];
	size_t nshares;
	/* Its mappings (isolated.c), and their bytes, held under isolated-pin-max. */
	struct broker_map *maps;
	size_t nmaps, cap_maps;
	uint64_t mapped;
};

#define BROKER_MAX_REFUSED 16

struct broker {
	struct broker_conf conf;
	struct sva_ctx *ctx;
	struct broker_dev devs[BROKER_MAX_DEVS];
	size_t ndevs;
	struct sva_pasid_space *blocks; /* block b = PASIDs pasid_min + b * per_client ... */
	int lsock;
	/* The socket file listen_on() bound, removed at the stop only if still
	 * at the path (0: unknown, removed by name) */
	dev_t sock_dev;
	ino_t sock_ino;
	int lock_fd; /* <socket>.lock, flock()ed until broker_fini() has let go of all else (socket_lock()) */
	bool no_file_locks; /* flock() is not there: started without the lock, warned once */
	int spare_fd; /* /dev/null, given up to accept and refuse a connection when out of descriptors */
	bool fd_short_logged;
	struct broker_client **clients;
	size_t nclients;
	volatile sig_atomic_t stop;
	/* The owner side of mm_exit: a client's PASID is about to be detached
	 * because the client ended without unbinding it (its process died).
	 * Drain the device's work under that PASID here.  Called after the
	 * device's mm-exit program (mm_exit.c), if it has one.  NULL: none. */
	void (*mm_exit)(void *arg, const struct broker_dev *dev, uint32_t pasid, pid_t pid);
	void *mm_exit_arg;
	uint64_t clients_seen, clients_cleaned;
	/* Objects of ended clients the kernel still held (EBUSY: a dead
	 * process's files close asynchronously, io_uring's among them):
	 * retried at every turn of the loop for BROKER_GRAVE_NS. */
	struct broker_grave {
		uint32_t id;
		pid_t pid;
		uint64_t since_ns;
	} *grave;
	size_t ngrave;
	/* Connections refused with -EUSERS whose hello is still unread: each is
	 * closed once its hello comes (closing with it unread would reset the
	 * connection, and the client would read ECONNRESET, not the refusal)
	 * or at its deadline.  Never waited for: the other clients are served
	 * meanwhile.  At most BROKER_MAX_REFUSED; the oldest goes first. */
	struct broker_refused {
		int sock;
		uint64_t deadline_ns;
	} refused[BROKER_MAX_REFUSED];
	size_t nrefused;
};

/* How long an ended client's object the kernel still holds is retried
 * while the broker runs, before its line is logged (sva-brokerd(8)). */
#define BROKER_GRAVE_NS 10000000000ull
/* A stopping broker's retries of those (broker_fini()): every 20 ms for
 * 2 s, then the last try and the lines; its lock is held throughout. */
#define BROKER_STOP_RETRY_US 20000
#define BROKER_STOP_RETRIES 100
/* Between the two probes of a socket found at the path (socket_path_check()):
 * long beside a program's bind() to listen(), short beside a start. */
#define BROKER_STALE_RECHECK_US 100000
#define BROKER_REFUSED_NS 1000000000ull
/* Opens of <socket>.lock whose name then named another file, before the
 * broker gives up (socket_lock()): another program changing it each time. */
#define BROKER_LOCK_TRIES 8
/* Names tried for a socket moved aside (socket_remove_if()), each taken by
 * a leftover of a broker of the same process ID. */
#define BROKER_ASIDE_TRIES 16
/* Names tried to bind the broker's socket at beside its path before moving
 * it there (socket_bind_own()): one is taken only if guessed. */
#define BROKER_STAGE_TRIES 4
/* The longest directory of the socket that such a name, "/.sbd." and 8
 * characters, fits in with a sockaddr_un's 108 bytes, its NUL included. */
#define BROKER_STAGE_DIR_MAX 93

/* Open the context and the devices, park their RIDs, listen.  0 or -errno (logged). */
int broker_start(struct broker *b, const struct broker_conf *conf);
/* Serve until b->stop; then end every client as if it had died, close. */
int broker_run(struct broker *b);
void broker_fini(struct broker *b);

/* requests.c */
/* Answer one well-formed request of c, which came with descriptor fd (-1:
 * none; closed here). */
void broker_handle(struct broker *b, struct broker_client *c, struct sva_broker_msg *m, int fd);
/* Make m a refusal: err and the reason in its text. */
void broker_refuse(struct sva_broker_msg *m, int err, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* Track (SVA_BOP_REGISTER) or forget (SVA_BOP_UNREGISTER) an object of c. */
void broker_note_object(struct broker *b, struct broker_client *c, const struct sva_broker_msg *m);
/* Did the client register id (SVA_BOP_REGISTER)? */
bool broker_client_owns(const struct broker_client *c, uint32_t id);
/* rid.c: a device without PASIDs, lent whole to one trusted client. */
bool broker_dev_rid_only(const struct sva_dev *dev);
/* Open: lend it to c, *fd the duplicate of its VFIO file, or refuse. */
void broker_rid_open(struct broker *b, struct broker_client *c, struct broker_dev *d, struct sva_broker_msg *m,
		     int *fd);
void broker_rid_attach(struct broker *b, struct broker_client *c, struct broker_dev *d, struct sva_broker_msg *m);
void broker_rid_detach(struct broker *b, struct broker_client *c, struct broker_dev *d, struct sva_broker_msg *m);
/* c's hold of d ends (its close, or its end: ended, mm_exit and detach
 * first): quiesce the device, take it back.  0; -EBUSY (a close with the RID
 * still attached); or the detach's error, which withdraws the device. */
int broker_rid_release(struct broker *b, struct broker_client *c, struct broker_dev *d, bool ended);
/* isolated.c: an isolated client's proxied iommufd call; *fd in and out. */
void broker_proxy(struct broker *b, struct broker_client *c, struct sva_broker_msg *m, int *fd);
/* isolated.c: the client ended: forget its mappings (its IOASes went) and close its memfds. */
void broker_isolated_end(struct broker_client *c);
/* The client is gone: its PASIDs' mm_exit, detach, its objects destroyed, its block quarantined. */
void broker_client_end(struct broker *b, struct broker_client *c);
/* Retry the destruction of ended clients' objects (final: the last try). */
void broker_reap(struct broker *b, bool final);
/* mm_exit.c: run the device's mm-exit program for a PASID of client pid,
 * and wait for it (at most its timeout).  0, or -errno (logged). */
int broker_mm_exit_run(struct broker *b, const struct broker_dev *d, uint32_t pasid, pid_t pid);
/* log through the broker's context log, to stderr (the journal under systemd). */
void broker_log(struct broker *b, enum sva_log_level level, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

#endif /* SVA_BROKER_H */
