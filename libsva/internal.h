/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Private declarations shared by libsva's source files. */
#ifndef LIBSVA_INTERNAL_H
#define LIBSVA_INTERNAL_H

#include <errno.h>
#include <pthread.h>
#include <sys/types.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <time.h>

#include "chunks.h"
#include "fault_window.h"
#include "pin_budget.h"
#include "arena.h"
#include "fork_guard.h"
#include "reach.h"
#include "common.h"
#include "sva/sva.h"

#define SVA_EXPORT __attribute__((visibility("default")))
#define SVA_PRINTF(a, b) __attribute__((format(printf, a, b)))
#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
/* The longest sysfs_root or dev_root (sva_ctx_new(3)): what libsva appends
 * under one, a device name at most, fits the rest of PATH_MAX. */
#define SVA_ROOT_MAX 2048

/* ------------------------------------------------------------------ log.c */

struct sva_log {
	pthread_mutex_t lock; /* fn and arg change together */
	sva_log_fn fn;
	void *arg;
	atomic_int level; /* read lock-free: most lines are filtered out */
	/* Calls of the callback under way (log.c), under lock: `current` of the
	 * pair in place since swap number `swaps`, `draining` of pairs replaced
	 * since; counted in process `fork_gen` (a child starts from none). */
	unsigned swaps, current, draining, fork_gen;
	/* Lines a thread holds for it until its sections end (log.c): under
	 * lock, counted as the calls are; sva_log_fini() waits for them. */
	unsigned deferred;
};

/* A rate limit for one source of log lines (a bond, a context's engine):
 * SVA_LOG_BURST lines per second, the rest counted.  Not thread-safe: its
 * owner serializes (the fault engine's batches). */
struct sva_ratelimit {
	uint64_t window_ns; /* start of the current second */
	unsigned lines;	    /* written in it */
	unsigned suppressed; /* held back since the last line written */
};
#define SVA_LOG_BURST 10u

/* Level from $SVA_LOG (debug|info|warn|error|off), or SVA_LOG_WARN. */
enum sva_log_level sva_log_env_level(void);
void sva_log_init(struct sva_log *log, sva_log_fn fn, void *arg, int level);
/* Replace fn, arg and level of an initialized log (sva_ctx_set_log). */
void sva_log_set(struct sva_log *log, sva_log_fn fn, void *arg, int level);
void sva_log_fini(struct sva_log *log);
void sva_logf(const struct sva_log *log, enum sva_log_level level, const char *fmt, ...) SVA_PRINTF(3, 4);
/* Around a section fork() waits for (the fork guard's): a line logged inside
 * reaches its callback when this thread's outermost such section ends, so
 * that fork() never waits for a callback.  Nestable; end after leaving. */
void sva_log_defer_begin(void);
void sva_log_defer_end(void);
/*
 * A fork-guard section (fork_guard.c) whose lines are deferred: every section
 * outside log.c (whose own hold signals off) is one of these.  The deferral
 * begins before the guard is entered and ends after it is left, so a signal
 * handler's line (a failing lookup logs) anywhere in the section, its entry
 * and exit included, reaches the callback only once the guard's count is
 * gone: a handler may interrupt any section, not only those that log.
 */
static inline void sva_guard_enter(void)
{
	sva_log_defer_begin();
	sva_fork_guard_enter();
}

static inline void sva_guard_leave(void)
{
	sva_fork_guard_leave();
	sva_log_defer_end();
}
/*
 * Log a failure and return err (a negative errno), for `return sva_fail(...)`.
 * The level follows one rule (libsva(7), Errors): sva_fail() logs at error
 * level; sva_fail_debug() at debug level, for outcomes that are the caller's
 * normal business (a lookup that finds nothing, an exhausted PASID space or
 * window, a device not attached yet), which a correct program meets routinely
 * and handles, so an error line for each would flood its log.
 *
 * Macros, not functions, so that the compiler sees the value returned is err
 * (a constant -EINVAL is non-zero) and that an out-parameter a failing call
 * leaves unset is not read: gcc -flto cannot see through a variadic function.
 * err is evaluated once, first; the line is sva_logf()'s.
 */
#define sva_fail(log, err, ...) \
	__extension__({ \
		int sva_fail_err_ = (err); \
		sva_logf((log), SVA_LOG_ERROR, __VA_ARGS__); \
		sva_fail_err_; \
	})
#define sva_fail_debug(log, err, ...) \
	__extension__({ \
		int sva_fail_err_ = (err); \
		sva_logf((log), SVA_LOG_DEBUG, __VA_ARGS__); \
		sva_fail_err_; \
	})
/*
 * This thread is resolving a device's faults (fault.c, around a batch's
 * records): what fails now fails once per fault, as often as the device
 * likes, so a line that is not one call's one line goes through a rate
 * limit (the broker connection's -EPROTO lines, broker_conn.c).
 */
void sva_log_device_driven(bool on);
bool sva_log_is_device_driven(void);
/*
 * One error line per failed call (libsva(7), Errors) where a broker's reply
 * became -EPROTO: the connection (broker_conn.c) logs what came, at error
 * level, and notes it for this thread; a caller's own line for that -EPROTO
 * then goes to debug level.  sva_proto_said_clear() at each request, so a
 * note never outlives the request that made it; sva_proto_said_take()
 * reads and clears it.
 */
void sva_proto_said_note(void);
void sva_proto_said_clear(void);
bool sva_proto_said_take(int err);
#define sva_fail_said(log, err, ...) \
	__extension__({ \
		int sva_fail_err_ = (err); \
		sva_logf((log), sva_proto_said_take(sva_fail_err_) ? SVA_LOG_DEBUG : SVA_LOG_ERROR, __VA_ARGS__); \
		sva_fail_err_; \
	})
/* What to do about a shortage errno, as a suffix for a log line after its
 * strerror ("; close descriptors or raise RLIMIT_NOFILE ..." for -EMFILE);
 * "" for other errnos.  thread: err came from starting a thread (-EAGAIN). */
const char *sva_errno_remedy(int err, bool thread);
/* sva_fail() before the object whose log it would be exists: to the log the
 * caller's options name (sva_ctx_new()'s). */
#define sva_fail_to(fn, arg, level, err, ...) \
	__extension__({ \
		int sva_fail_err_ = (err); \
		sva_log_to((fn), (arg), (level), __VA_ARGS__); \
		sva_fail_err_; \
	})
void sva_log_to(sva_log_fn fn, void *arg, int level, const char *fmt, ...) SVA_PRINTF(4, 5);
/* Tests only: called in vlog() with the log's lock held (test-log-signal).
 * Defined in libsva-test alone (log.c, SVA_TEST_HOOKS); declared here, for
 * log.c and the test alike, so the two cannot disagree on its type. */
extern void (*sva_test_log_locked_hook)(void);
/* sva_logf() under a rate limit: a line over the burst is counted, not
 * written; the next line written says how many were suppressed. */
void sva_logf_rl(const struct sva_log *log, struct sva_ratelimit *rl, enum sva_log_level level, const char *fmt, ...)
	SVA_PRINTF(4, 5);
/* sva_logf_rl() in two halves, for a line that costs something to build (a
 * lookup under a lock): whether it goes out (false: counted as suppressed, or
 * filtered out), with the count owed; then the line, which says it. */
bool sva_log_rl_pass(const struct sva_log *log, struct sva_ratelimit *rl, enum sva_log_level level, unsigned *owed);
void sva_logf_owed(const struct sva_log *log, enum sva_log_level level, unsigned owed, const char *fmt, ...)
	SVA_PRINTF(4, 5);
/* -errno after a call that failed, and so set errno > 0 (POSIX: no function
 * sets it to 0).  The -EIO is never taken: it lets gcc see the value is
 * negative, which a bare -errno is not to it, so that an out-parameter set
 * on success only does not read as maybe-uninitialized under -flto. */
static inline int sva_neg_errno(void)
{
	int e = errno;

	return e > 0 ? -e : -EIO;
}
/* Logging for calls that have no context (standalone PASID spaces). */
const struct sva_log *sva_log_default(void);

/* ------------------------------------------------------------------ opts.c */

/* sva_opts_copy_min() for a src that is not NULL. */
int sva_opts_copy_nonnull(void *dst, size_t dst_size, size_t min_size, const void *src);
/* Copy a caller's size-prefixed options struct (NULL: all defaults) into a
 * zeroed local one.  -EINVAL if the size is smaller than dst_size (the 1.0
 * size), or larger with non-zero unknown fields.  The same for a struct that
 * grew: min_size is its 1.0 size, which gets (or gives) the 1.0 fields only;
 * a size between the two layouts is -EINVAL.  Inline, so that the compiler
 * sees a NULL src accepted: the refusal paths read src->size, which gcc
 * -flto took for a NULL dereference where a caller passes NULL. */
static inline int sva_opts_copy_min(void *dst, size_t dst_size, size_t min_size, const void *src)
{
	if (!src) {
		memset(dst, 0, dst_size);
		memcpy(dst, &dst_size, sizeof(dst_size));
		return 0;
	}
	return sva_opts_copy_nonnull(dst, dst_size, min_size, src);
}
static inline int sva_opts_copy(void *dst, size_t dst_size, const void *src)
{
	return sva_opts_copy_min(dst, dst_size, dst_size, src);
}
/* Copy out a size-prefixed info struct; -EINVAL if the caller's size is
 * smaller than src_size (the 1.0 size); bytes beyond src_size are zeroed.
 * _min: for a struct that grew, min_size its 1.0 size, as above. */
int sva_info_copy(void *dst, const void *src, size_t src_size);
int sva_info_copy_min(void *dst, const void *src, size_t src_size, size_t min_size);
/* Log why sva_opts_copy() or sva_opts_copy_min() refused src (a size to fix, or fields this
 * libsva does not know) as "fn: ..." naming the struct, at error level; returns -EINVAL.
 * A macro, as sva_fail(), so that the compiler sees the value returned. */
void sva_opts_log_refused(const struct sva_log *log, const char *fn, const char *type, size_t dst_size,
			  const void *src);
#define sva_opts_fail(log, fn, type, dst_size, src) \
	(sva_opts_log_refused((log), (fn), (type), (dst_size), (src)), -EINVAL)

/* ------------------------------------------------------------------ sysfs.c */

/* Find the VFIO cdev name ("vfio3") of a PCI device under sysfs_root.
 * -ENOENT no such PCI device; -ENODEV not bound to a VFIO driver or no cdev. */
int sva_sysfs_pci_to_cdev(const char *sysfs_root, const char *pci_addr, char *cdev, size_t len);
/* Find the PCI address of a VFIO cdev ("vfio3"); -ENOENT if it has none. */
int sva_sysfs_cdev_to_pci(const char *sysfs_root, const char *cdev, char pci[16]);
/* The PCI address of char device maj:min (a VFIO cdev under any node name);
 * -ENOENT it has none, -EIO sysfs cannot tell (it has no dev/char). */
int sva_sysfs_char_to_pci(const char *sysfs_root, unsigned maj, unsigned min, char pci[16]);
/* 0 if sysfs says VFIO cdev `cdev` ("vfio3") is another device than maj:min;
 * 1 if it is that device, or sysfs cannot say. */
int sva_sysfs_cdev_is(const char *sysfs_root, const char *cdev, unsigned maj, unsigned min);
/* The device's NUMA node in *node, -1 if sysfs reports none (or cannot be
 * read); -EMFILE/-ENFILE/-ENOMEM when reading it ran out of resources. */
int sva_sysfs_numa_node(const char *sysfs_root, const char *pci_addr, int *node);
/* The name of the driver bound to the device ("vfio-pci"), or -ENOENT. */
int sva_sysfs_driver(const char *sysfs_root, const char *pci_addr, char *drv, size_t len);
/* 1 if char device maj:min is a VFIO cdev, 0 if it is something else, -1 if
 * sysfs cannot tell (not mounted, as in some containers). */
int sva_sysfs_is_vfio_cdev(const char *sysfs_root, unsigned maj, unsigned min);
/* The IOMMU group number, or a negative errno. */
int sva_sysfs_iommu_group(const char *sysfs_root, const char *pci_addr);

/* ------------------------------------------------------------------ vma.c */

#define SVA_PROT_READ 1u
#define SVA_PROT_WRITE 2u
#define SVA_PROT_EXEC 4u
#define SVA_VMA_HUGETLB 8u   /* backed by hugetlbfs (by name until CHECKED) */
#define SVA_VMA_THP 16u	     /* has transparent huge pages */
#define SVA_VMA_CHECKED 32u  /* classified by smaps: THP, hugetlbfs confirmed */
#define SVA_VMA_HUGETLB_NAME 64u /* named like hugetlbfs in /proc/self/maps */

struct sva_vma {
	uint64_t start, end; /* clipped to the range asked for */
	uint32_t prot;	     /* SVA_PROT_*, SVA_VMA_* */
	uint32_t ident;	     /* a hash of what backs it (offset, device, inode, name) in
			      * /proc/self/maps; 0 where not read from there */
	/* The whole mapping, where the reader knew it (whole_end 0: start, end
	 * are the whole of it): userfaultfd registers whole mappings, since a
	 * registration of part of one splits it (mm_map.c). */
	uint64_t whole_start, whole_end;
};

/* The coherence monitor saw the mappings change: the cache below is re-read
 * before it is next trusted.  Lock-free (the monitor calls it). */
void sva_vma_cache_stale(void);
/* The monitor (one writer): [start, end) was unmapped or moved away.  A
 * mapping found there later is a new one, its huge pages classified anew,
 * however like the old it looks (anonymous memory replaced by anonymous
 * memory).  Lock-free: the monitor takes no lock a munmap() caller holds. */
void sva_vma_note_gone(uint64_t start, uint64_t end);
/* The count sva_vma_cache_stale() bumps: a VMA learnt under another count
 * may be gone.  Read inline: every fault reads it, once or twice, and a
 * call costs 50-100 ns under the VM's emulation. */
extern atomic_uint sva_vma_gen_word;
static inline unsigned sva_vma_gen(void)
{
	return atomic_load_explicit(&sva_vma_gen_word, memory_order_acquire);
}

/* Every VMA of the process, sorted; *out is malloc'ed.  Read from a
 * /proc/self/maps of its own, or, when no descriptor is free (EMFILE,
 * ENFILE), from maps_fd (an open /proc/self/maps, or -1: none). */
int sva_vma_snapshot(int maps_fd, struct sva_vma **out, size_t *nr);
/* A field of /proc/self/smaps for the VMA starting at `start` ("AnonHugePages",
 * "KernelPageSize", ...): its number (kB for sizes), or -1 if not found. */
long sva_vma_smaps_kb(uint64_t start, const char *field);
/* Does the VMA starting at `start` hold transparent huge pages (smaps)? */
bool sva_vma_has_thp(uint64_t start);
/* Is every page of [start, end) mapped in the process now?  mincore(), no
 * allocation: callable under mm->map_lock. */
bool sva_vma_range_mapped(uint64_t start, uint64_t end);
/* The VMA containing addr from the process-wide cache (re-read first when
 * refresh), THP-classified if 2 MiB or larger.  -EFAULT: none there.
 * maps_fd: the address space's open /proc/self/maps (or -1), queried and,
 * when no descriptor is free, read instead of a file of its own. */
int sva_vma_find(uint64_t addr, bool refresh, int maps_fd, struct sva_vma *out);

/* The VMAs covering [start, end), clipped to it, in order, at most `max`;
 * maps_fd: an open /proc/self/maps to query through, or -1.
 * -EFAULT if part of the range is not mapped; -E2BIG more than max VMAs. */
int sva_vma_collect(int maps_fd, uint64_t start, uint64_t end, struct sva_vma *out, size_t max, size_t *nr);
/* The same by PROCMAP_QUERY (vma_query.c); -EOPNOTSUPP where the kernel
 * lacks it (before 6.11), and then *nr is meaningless. */
int sva_vma_collect_query(int maps_fd, uint64_t start, uint64_t end, struct sva_vma *out, size_t max, size_t *nr);
/* The VMA at addr by PROCMAP_QUERY through maps_fd (or a maps file of its
 * own if -1), its read/write/exec bits only: 0, -EFAULT (nothing there),
 * -EOPNOTSUPP (no PROCMAP_QUERY), or the open's -errno. */
int sva_vma_query_one(int maps_fd, uint64_t addr, struct sva_vma *out);
/* The bounds of the whole VMA covering addr now, by PROCMAP_QUERY through
 * maps_fd (or a maps file of its own if -1): 0, -EFAULT (nothing there),
 * -EOPNOTSUPP (no PROCMAP_QUERY), or the open's -errno.  No allocation. */
int sva_vma_query_bounds(int maps_fd, uint64_t addr, uint64_t *start, uint64_t *end);
/* Is [start, end) inside one private anonymous mapping now (no file behind
 * it)?  1 yes, 0 no, -EFAULT nothing at start, -EOPNOTSUPP no PROCMAP_QUERY
 * here, other -errno.  maps_fd: an open /proc/self/maps, or -1.  Such memory
 * can be registered with userfaultfd (unless another userfaultfd has it, or
 * it is MAP_DROPPABLE, which the query cannot tell) and pinned (guard
 * regions aside). */
int sva_vma_query_private_anon(int maps_fd, uint64_t start, uint64_t end);

/* ---------------------------------------------------------------- iommufd.c */

/* Thin wrappers over iommufd ioctls: each returns 0 or -errno and logs nothing;
 * callers add the context that makes an error actionable. */
int sva_iommufd_check(int fd);
int sva_iommufd_destroy(int fd, uint32_t id);
int sva_iommufd_ioas_alloc(int fd, uint32_t *ioas_id);
int sva_iommufd_ioas_map(int fd, uint32_t ioas_id, uint64_t va, uint64_t len, uint64_t iova, uint32_t flags);
int sva_iommufd_ioas_unmap(int fd, uint32_t ioas_id, uint64_t iova, uint64_t len);
/* Fills up to *nr ranges, sets *nr to the count; -EMSGSIZE if more exist. */
int sva_iommufd_iova_ranges(int fd, uint32_t ioas_id, struct sva_iova_range *r, size_t *nr);
/* The same with the public contract of sva_dev_iova_ranges()/sva_mm_iova_ranges():
 * -EINVAL for NULL nr or NULL r with *nr > 0, and -ENOSPC if more exist. */
int sva_iommufd_iova_ranges_out(int fd, uint32_t ioas_id, struct sva_iova_range *r, size_t *nr);
/*
 * What sva_mm_iova_ranges() and sva_dev_iova_ranges() return for ret, the
 * answer of IOMMU_IOAS_IOVA_RANGES on fd (mm.c): the kernel's errors pass
 * through, but a broker's outcomes become those of libsva(7)'s list: its
 * objects destroyed by a broker that stopped (-ENOENT) is -ECONNRESET, and
 * an isolated client's request refused as naming no IOAS of its (-EPERM,
 * which the kernel's call never gives) is -EPROTO, its errno logged.
 */
int sva_iova_ranges_ret(struct sva_ctx *ctx, int fd, const char *fn, int ret);
int sva_iommufd_hwpt_alloc(int fd, uint32_t dev_id, uint32_t pt_id, uint32_t flags, uint32_t fault_id,
			   uint32_t *hwpt_id);
int sva_iommufd_hw_info(int fd, uint32_t dev_id, uint32_t *type, uint32_t *pasid_log2, uint64_t *caps);
int sva_iommufd_fault_alloc(int fd, uint32_t *fault_id, int *fault_fd);

/*
 * What a broker context changes in the wrappers above (broker_proxy.c): an
 * isolated context's calls go to the broker (proxy() finds its connection
 * by the descriptor, the other ops make the calls), and a trusted one's
 * objects are told to the broker (note, after creating and before
 * destroying).  A hook table because iommufd.c sits below everything and
 * the broker client sits above the context (docs/design.md, "Layers").
 * Installed when the first broker context is created, never removed; with
 * none installed the wrappers go straight to the kernel.
 */
struct sva_broker_conn;
struct sva_iommufd_hooks {
	struct sva_broker_conn *(*proxy)(int fd);
	void (*note)(int fd, uint32_t id, bool alive);
	int (*destroy)(struct sva_broker_conn *c, uint32_t id);
	int (*ioas_alloc)(struct sva_broker_conn *c, uint32_t *ioas_id);
	int (*ioas_map)(struct sva_broker_conn *c, uint32_t ioas_id, uint64_t va, uint64_t len, uint64_t iova,
			uint32_t flags);
	int (*ioas_unmap)(struct sva_broker_conn *c, uint32_t ioas_id, uint64_t iova, uint64_t len);
	int (*iova_ranges)(struct sva_broker_conn *c, uint32_t ioas_id, struct sva_iova_range *r, size_t *nr);
	int (*hwpt_alloc)(struct sva_broker_conn *c, uint32_t dev_id, uint32_t pt_id, uint32_t flags,
			  uint32_t fault_id, uint32_t *hwpt_id);
	int (*hw_info)(struct sva_broker_conn *c, uint32_t dev_id, uint32_t *type, uint32_t *pasid_log2,
		       uint64_t *caps);
	int (*fault_alloc)(struct sva_broker_conn *c, uint32_t *fault_id, int *fault_fd);
	/* The mock's TRIGGER_IOPF (backend_mock.c), made by the broker. */
	int (*inject)(struct sva_broker_conn *c, uint32_t dev_id, uint32_t pasid, uint64_t addr, uint32_t perm,
		      uint32_t grpid);
	/* Is fd a broker context's (its iommufd, or an isolated one's socket)
	 * whose broker went away? */
	bool (*gone)(int fd);
};
void sva_iommufd_set_hooks(const struct sva_iommufd_hooks *hooks);
/* The installed hooks, or NULL. */
const struct sva_iommufd_hooks *sva_iommufd_hooks(void);
/* The isolated broker connection fd stands for, or NULL (no hooks, or fd is
 * a real iommufd). */
struct sva_broker_conn *sva_iommufd_proxy(int fd);
/* Is fd a broker context's whose broker went away?  A call that failed there
 * says -ECONNRESET rather than what the kernel said about objects the broker
 * destroyed on its way out. */
bool sva_iommufd_broker_gone(int fd);

/* ---------------------------------------------------------------- window.c */

#define SVA_WINDOW_RANGES 64

/* An IOAS's IOVA ranges, at most SVA_WINDOW_RANGES (the lowest when there are
 * more): *n of them in r.  0 or the ioctl's -errno. */
int sva_iova_window(int fd, uint32_t ioas, struct sva_iova_range *r, size_t *n);

/* ------------------------------------------------------------------ ctx.c */

/* A file as fstat() saw it: whether a number still holds it (every
 * anonymous-inode file looks alike).  Zero: not known.  (file_id.c) */
struct sva_file_id {
	dev_t dev;
	ino_t ino;
};
/* 0, or -errno: what fstat() says fd holds. */
int sva_file_id_of(int fd, struct sva_file_id *id);
/* Does fd still hold the file id names?  false for -1 or a closed number. */
bool sva_fd_holds(int fd, const struct sva_file_id *id);

/* The I/O page-fault engine of a context (fault.c, fault_thread.c). */
struct sva_fault_engine {
	/*
	 * The batch gate (fault.c).  A batch (one read, its resolution, its
	 * answers) runs between sva_fault_batch_begin() and _end(), one at a
	 * time; sva_fault_exclude() waits for the batch in progress and holds
	 * the next one off, so unbind (which unpublishes a bond the engine may
	 * have found) and sva_dev_close (which unregisters a device) wait for
	 * one batch, never for a whole storm.  `gate` is the state (fault.c:
	 * a batch bit, waiting batches, excluders), so that a batch nobody
	 * waits for takes no lock; `lock` and `gate_cv` are for waiting, and
	 * `lock` is held by an excluder.  Order: dev->lock, then the gate,
	 * then mm->lock.
	 */
	pthread_mutex_t lock;
	pthread_cond_t gate_cv;
	atomic_uint gate;
	/* Log lines of the engine not about one bond (unknown devices and
	 * PASIDs, queue errors): rate-limited, inside a batch. */
	struct sva_ratelimit rl;
	pthread_mutex_t setup; /* creating the queue and the thread */
	bool poll_mode;	       /* SVA_CTX_FAULT_POLL */
	uint32_t fault_id;     /* 0: no queue yet */
	int fault_fd;	       /* written under setup and lock: read under either */
	int fault_fd_new;      /* the queue's descriptor from its creation until
				* fault_fd holds it, -1 else: a fork() child
				* closes it too (set inside the fork guard) */
	bool thread_started;
	pthread_t thread;
	void *thread_stack; /* from the arena (sva_thread_create) */
	atomic_int thread_error; /* 0, or the -errno that stopped the thread */
	atomic_bool queue_lost;	 /* fault_fd found closed behind our back (or
				  * another file's): not ours to close, and no
				  * fault-capable bind is taken any more */
	struct sva_file_id queue_file; /* fault_fd's file at creation */
	char thread_name[16];
	void (*thread_init)(void *arg);
	void *thread_arg;
	/* The thread's ring's number while it has one (kernels before 5.18
	 * keep it), -1 else: written inside the fork guard, so that a fork()
	 * child closes its copy (sva_fault_child_after_fork()). */
	atomic_int ring_fd;
	struct sva_file_id ring_file;
	int wake_fd; /* eventfd that stops the thread */
	struct sva_file_id wake_file; /* and its file at creation */
	atomic_bool stopping; /* read by the thread on every wake-up and tick */
	atomic_uint stop_futex; /* 1 once stopping: the word its io_uring wait waits on */
	void *buf;   /* read buffer (records) */
	size_t buf_records;
	void *resp;  /* responses */
	void *info;  /* per-record plan, two arrays of buf_records */
	atomic_uint pin_batch; /* batches started + answered: odd while one is in flight (pin_budget.c) */
	/* The device of the last record (fault.c): used and set inside batches
	 * only; a device leaves the context under exclusion (dev.c), and clears
	 * it there, so a batch never finds a closed device here. */
	struct sva_dev *last_dev;
};

struct sva_ctx {
	atomic_int refs; /* the caller's + one per open device and address space */
	pid_t pid;	 /* the process that created it (for messages) */
	uint32_t flags;	 /* SVA_CTX_* */
	unsigned fork_gen; /* sva_fork_gen() there: sva_ctx_forked() compares it */
	int fd;
	/* Frees what the context holds, at its last sva_ctx_put (ctx.c): a
	 * pointer so that the reference count stays a leaf (ctx_ref.c). */
	void (*release)(struct sva_ctx *ctx);
	struct sva_log log;
	char *sysfs_root;
	char *dev_root;
	uint32_t global_pasid_min, global_pasid_max;
	uint64_t pasid_grace_ns; /* 0: default */
	struct sva_pasid_space *global_pasids;
	/* Which bonds share which PASID (struct sva_pasid_share, mm->gshare):
	 * taken inside dev->lock, never with fe.lock or an mm->lock held, and
	 * only inside the fork guard (sva_pasid_lock()), so that a forked
	 * child finds its copy free and what it guards whole. */
	pthread_mutex_t pasid_lock;
	struct sva_pasid_share *pending_shares; /* under pasid_lock (bond_pasid.c) */
	/* Bonds alive but off mm->bonds (by unlinked_next): a sva_bind()'s,
	 * from its allocation until it is linked or freed, and an unbind's,
	 * from before it leaves mm->bonds until just before it leaves
	 * ctx->bonds (after that a sva_dev_close() waiting for it may free the
	 * device).  What a fork in the middle of either leaves the child to
	 * free.  Under pasid_lock. */
	struct sva_bond *unlinked;
	pthread_mutex_t devs_lock; /* the device list: sva_devs_lock() */
	struct sva_dev *devs;
	struct sva_fault_engine fe;
	/* Every bond (bond.c links them), for teardown.c; bonds_cv is broadcast
	 * when one goes.  A leaf lock (taken inside dev->lock). */
	pthread_mutex_t bonds_lock;
	pthread_cond_t bonds_cv;
	struct sva_bond *bonds;
	/* Binds of sva_dev_open_fd() that a later failure left (backend_vfio.c),
	 * under devs_lock. */
	struct sva_spare_bind *spare_binds;
	struct sva_ctx *all_next; /* every live context, for the exit destructor */
	bool exit_done;		  /* the exit destructor tore it down (under ctx.c's all_lock) */
	struct sva_broker_conn *broker; /* SVA_CTX_BROKER: broker_client.c; else NULL */
};

/* devs_lock inside the fork guard (fork_guard.c): fork() waits for the section. */
static inline void sva_devs_lock(struct sva_ctx *ctx)
{
	sva_guard_enter();
	pthread_mutex_lock(&ctx->devs_lock);
}

static inline void sva_devs_unlock(struct sva_ctx *ctx)
{
	pthread_mutex_unlock(&ctx->devs_lock);
	sva_guard_leave();
}

/*
 * pasid_lock inside the fork guard, as devs_lock: fork() waits for the
 * section, so a child never inherits it held, nor the shares, the pending
 * list and the binds and unbinds in progress half changed.  Safe there: what
 * a section under it waits for is held only by threads inside the guard too
 * (pasid_lock itself, a log's lock) or by threads that never enter it while
 * holding it (the leaf locks of a PASID space and of the arena); a thread
 * waiting to enter (dev->lock held, say) holds nothing such a section takes.
 */
static inline void sva_pasid_lock(struct sva_ctx *ctx)
{
	sva_guard_enter();
	pthread_mutex_lock(&ctx->pasid_lock);
}

static inline void sva_pasid_unlock(struct sva_ctx *ctx)
{
	pthread_mutex_unlock(&ctx->pasid_lock);
	sva_guard_leave(); /* the lines logged inside, to the callback: outside the guard */
}

/* Close the spare binds of a context (its last reference). */
void sva_spare_binds_fini(struct sva_ctx *ctx);
void sva_ctx_get(struct sva_ctx *ctx);
/* A reference unless the last one is gone already (a release under way): false then. */
bool sva_ctx_get_live(struct sva_ctx *ctx);
/*
 * True in a forked child.  The child shares the parent's iommufd and VFIO file
 * descriptors, so any ioctl it issued would change the parent's state: every
 * call that would refuses with -ECHILD, and releases free memory only.
 */
bool sva_ctx_forked(const struct sva_ctx *ctx);
/* -ECHILD, logged naming the refused call fn, in a forked child; else 0.  The
 * macros name the calling function: the public call itself, at its top. */
int sva_ctx_check_owner_in(const struct sva_ctx *ctx, const char *fn);
/* The test inline, the refusal in the call: every public call asks. */
#define sva_ctx_check_owner(ctx) (sva_ctx_forked(ctx) ? sva_ctx_check_owner_in((ctx), __func__) : 0)
/*
 * Take m, a lock of one of the parent's objects, in a call that only reads
 * and that a forked child may make (sva_mm_stats(), sva_dev_get_info()).
 * Some such locks are held across system calls (map_lock over IOAS maps,
 * dev->lock over attaches), which fork() does not wait for, so the child's
 * copy may be held by a thread it does not have.  Nothing changes the
 * parent's objects in the child: a copy held there is read without it.
 * Returns whether m was taken (then unlock it).
 */
bool sva_ctx_lock_reader(const struct sva_ctx *ctx, pthread_mutex_t *m);
/* Create / free ctx->global_pasids from ctx->global_pasid_min/max (pasid_policy.c). */
int sva_ctx_pasids_init(struct sva_ctx *ctx);
void sva_ctx_pasids_fini(struct sva_ctx *ctx);
void sva_ctx_put(struct sva_ctx *ctx);
/* What ctx->release holds for a context of sva_ctx_new (ctx.c); a test that
 * builds a context by hand stores it too. */
void sva_ctx_release(struct sva_ctx *ctx);
/* A zeroed context's own state: one reference, this process as its owner,
 * no descriptors, its locks (ctx.c; tests that build one by hand call it). */
void sva_ctx_init_core(struct sva_ctx *ctx);

/* ------------------------------------------------------------------ dev.c */

struct sva_dev;

/* What differs between a VFIO cdev device and the selftest mock. */
struct sva_dev_backend {
	const char *name;
	/* Attach the RID to pt_id, replacing whatever it is attached to. */
	int (*attach)(struct sva_dev *dev, uint32_t pt_id);
	int (*detach)(struct sva_dev *dev);
	int (*pasid_attach)(struct sva_dev *dev, uint32_t pasid, uint32_t pt_id);
	int (*pasid_detach)(struct sva_dev *dev, uint32_t pasid);
	void (*close)(struct sva_dev *dev);
	uint32_t dev_flags; /* SVA_DEV_* every device of this backend has */
};

extern const struct sva_dev_backend sva_backend_vfio;
extern const struct sva_dev_backend sva_backend_mock;

struct sva_dev {
	struct sva_ctx *ctx;
	const struct sva_dev_backend *be;
	int fd;		   /* VFIO cdev fd; -1 for the mock */
	uint32_t stdev_id; /* mock: selftest device object */
	struct sva_dev_info info;
	/* How every log line names the device: "device N (what)", N its iommufd
	 * device ID, what its cdev path (a broker client: the broker's name for
	 * it), PCI address or "mock".  Set once at open (dev.c). */
	char label[96];
	struct sva_pasid_space *pasids; /* NULL: no own space */
	/* A broker client's device: the block of the device's own PASIDs the
	 * broker leased it, [own_min, own_max] (0: none); own_full: the device
	 * has own PASIDs but the broker had no block of them left. */
	uint32_t own_min, own_max;
	bool own_full;
	struct sva_pasid_map *bond_map; /* PASID -> {bond, drvdata}; NULL: no PASIDs */
	/* What its PASID allocations are tagged with (pasid_policy.c): unique per
	 * device, as its address is not (the next device may get a closed one's). */
	_Atomic uintptr_t pasid_tag;

	pthread_mutex_t lock; /* bind/unbind on this device, and the fields below */
	uint32_t rid_pt;      /* what the RID is attached to; 0: nothing we attached */
	uint32_t rid_ioas;    /* IOAS behind rid_pt, for IOVA ranges */
	/*
	 * Where the RID waits while only PASIDs are bound: a PASID-compatible HWPT
	 * on an empty IOAS, so requests without PASID reach nothing.  The mock
	 * creates park_ioas at open (its auto domain needs one); VFIO devices
	 * create it on first use.
	 */
	uint32_t park_ioas, park_hwpt;
	struct sva_bond *bonds; /* every bond of this device */
	/* PASIDs whose detach failed (bond.c): retried at sva_dev_close, before
	 * the device goes (the mock's object cannot go with a PASID attached). */
	uint32_t *stuck;
	size_t nstuck;
	/* Set by a backend's pasid_attach() that failed and could not undo
	 * what it may have attached (the broker's garbled reply, then its
	 * detach refused): bind_pasid() keeps the PASID and the HWPT as an
	 * unbind's failed detach does.  Under dev->lock. */
	bool attach_left;
	struct sva_dev *ctx_next; /* ctx->devs, under ctx->devs_lock */
	/* The RID bond and its drvdata, published under a sequence count so
	 * lock-free lookups never see a mismatched pair. */
	atomic_uint rid_seq;
	_Atomic(struct sva_bond *) rid_bond;
	void *_Atomic rid_drvdata;
};

/* ------------------------------------------------------------ mm.c, bond.c */

/* One HWPT of a device on an address space, shared by its bonds there. */
struct sva_hwpt {
	struct sva_hwpt *next;
	struct sva_dev *dev;
	uint32_t id;
	uint32_t alloc_flags;
	int refs;
};

/* A REMOVE event whose zap may still be running (withdraw.c). */
struct sva_remove_pending {
	uint64_t start, end, t_ns;
};

#define SVA_MM_REMOVES 16

struct sva_mm {
	struct sva_ctx *ctx;
	uint32_t flags;
	uint32_t ioas_id;
	/*
	 * The lock the coherence monitor takes (track.h): the chunk table, the
	 * IOAS maps and unmaps, registration, the fields up to `lock`.  A leaf:
	 * never held across free(), fclose() or anything that may munmap, madvise
	 * or mremap memory.  Order: lock, then map_lock.
	 */
	pthread_mutex_t map_lock;
	struct sva_chunks chunks;     /* what is mapped, chunk by chunk */
	struct sva_chunk *grave;      /* withdrawn, to free outside map_lock (sva_mm_reap) */
	struct sva_remove_pending removes[SVA_MM_REMOVES];
	unsigned nremoves, suspects;  /* pending REMOVEs; SVA_CHUNK_SUSPECT chunks */
	atomic_bool tracked;	      /* registered with the process's userfaultfd */
	bool lost;		      /* was tracked until the monitor failed */
	int untracked_reason;	      /* why not (or why some ranges are not): -errno */
	bool log_untracked, log_lost; /* a log line is owed (written outside map_lock) */
	bool untracked_logged;	      /* the untracked-range line was written once */
	uint64_t untracked_at[2];     /* the range it is about */
	uint64_t reg_start, reg_end;  /* the last range registered ... */
	unsigned reg_gen;	      /* ... under this sva_vma_gen() */
	atomic_uint settle_hint;      /* nremoves + suspects, read without the lock */
	atomic_bool reap_hint;	      /* grave or a log line owed: sva_mm_reap() has work */
	struct sva_mm *track_next;    /* track.c's list, under its lock */
	struct sva_mm *broker_next;   /* an isolated broker context's list (broker_share.c) */
	_Atomic uint64_t st_events, st_withdrawn, st_untracked_ranges, st_untracked_bytes, st_rewithdrawn,
		st_visible;
	struct sva_pin_budget pin; /* under map_lock but its statistics (pin_budget.h) */
	pthread_mutex_t lock; /* resolution and prefault (may allocate), and everything below */
	struct sva_bond *bonds;
	struct sva_hwpt *hwpts;
	struct sva_pasid_share *gshare; /* its global PASID; under ctx->pasid_lock */
	uint64_t fa_cap; /* the largest fault window: fault_around, or the budget's cap if smaller */
	/* Caches for the fault path, under lock. */
	struct sva_vma last_vma; /* the VMA of the last fault (end 0: none) */
	unsigned last_vma_gen;	 /* sva_vma_gen() when it was read */
	struct sva_iova_range ranges[SVA_WINDOW_RANGES]; /* the IOAS's IOVA ranges (window.c) */
	size_t nr_ranges;
	bool ranges_valid; /* cleared when a device attaches or detaches */
	struct sva_rset allowed; /* SVA_MM_RESTRICTED: what faults may map (reach.c) */
	struct sva_reach_undo *undos; /* allows and denies that may be undone (reach.h), under lock */
	int maps_fd; /* /proc/self/maps, open for PROCMAP_QUERY while mm lives (-1: per call) */
};

/* BINDING until sva_bind() is done with the bond: on ctx->bonds already, but
 * no teardown claims it (one waits, as for an EXITING bond). */
enum sva_bond_state { SVA_BOND_BOUND, SVA_BOND_EXITING, SVA_BOND_BINDING };

/*
 * A bound PASID value and the bonds under it (one per device at most), under
 * ctx->pasid_lock.  It is the value's owner in its PASID space while bonds
 * use it, so the driver cannot free it under them.
 */
struct sva_pasid_share {
	struct sva_pasid_space *space;
	uint32_t pasid;
	struct sva_mm *mm;   /* the address space every bond under it is bound to */
	unsigned users;	     /* bonds under it */
	struct sva_bond *bonds; /* them, by bond->share_next; the space holds the
				 * drvdata of the first (unless driver_owned) */
	bool driver_owned;   /* allocated by the driver (SVA_BIND_PASID): it stays
			      * allocated after the last unbind, with these back: */
	void *saved_owner, *saved_drvdata;
	bool retired;	     /* a detach under it failed: never released */
	bool joined;	     /* a second bond joined it once: it goes back through
			      * quarantine, whoever leaves it last */
	/* A driver's value whose first bond is not published yet: the space
	 * shows the driver's tag, pinned (SVA_PASID_PIN), and binds find the
	 * share on ctx->pending_shares. */
	bool pending;
	struct sva_pasid_share *pending_next;
	unsigned npublished; /* bonds under it in their device's table */
};

struct sva_bond {
	struct sva_dev *dev;
	struct sva_mm *mm;
	struct sva_hwpt *hwpt;
	struct sva_pasid_share *share; /* NULL for the RID */
	struct sva_bond *share_next;   /* share->bonds, under ctx->pasid_lock */
	struct sva_bond *unlinked_next; /* ctx->unlinked, under ctx->pasid_lock */
	uint32_t pasid; /* SVA_PASID_RID for the RID */
	uint32_t flags;
	void *drvdata;
	struct sva_bond_ops ops;
	struct sva_bond *mm_next, *dev_next;
	struct sva_bond *ctx_next; /* ctx->bonds, under ctx->bonds_lock (bond.c, teardown.c) */
	atomic_int state;
	_Atomic uint64_t faults, groups, invalid, pages_mapped;
	struct sva_fa_state fa; /* its fault stream, for fault-around; under mm->lock */
	struct sva_ratelimit rl; /* its fault log lines, inside a batch */
};

/* ---------------------------------------------------------------- fault.c */

/* The engine's first buffers (64 records), unless it has them. */
int sva_fault_bufs_alloc(struct sva_fault_engine *fe);
/* 0, or -EBADFD (logged): the queue is lost or the thread stopped. */
int sva_fault_in_service(struct sva_ctx *ctx);
/* Create the context's fault queue (and, in thread mode, its thread). */
int sva_fault_queue_get(struct sva_ctx *ctx, uint32_t *fault_id);
/* Resolve and answer up to max fault records; returns how many, or -errno. */
int sva_fault_process(struct sva_ctx *ctx, unsigned max);
bool sva_fault_queue_ours(const struct sva_fault_engine *fe);
/* Mark the queue's number not ours any more; returns -EBADF. */
int sva_fault_queue_lost(struct sva_fault_engine *fe);
/* Stop the thread and close the queue (last context reference). */
void sva_fault_fini(struct sva_ctx *ctx);
void sva_fault_child_after_fork(struct sva_ctx *ctx);
int sva_fault_thread_start(struct sva_ctx *ctx);
void sva_fault_thread_forget(struct sva_ctx *ctx);
void sva_fault_thread_stop(struct sva_ctx *ctx);
/* Wait for the batch in progress and keep the next one out, until
 * sva_fault_unexclude(): no batch holds a bond or device found before. */
void sva_fault_exclude(struct sva_ctx *ctx);
void sva_fault_unexclude(struct sva_ctx *ctx);
/* Resolve one fault at addr for access SVA_ACCESS_* in mm: 0 or a negative
 * reason (struct sva_fault_report); *pages gets the 4 KiB pages mapped.  The
 * fault-around window follows the stream fa (fault_window.h: the bond's, under
 * mm->lock), and grows to [run_start, run_end) (run_end 0: no run) when the
 * same batch holds faults on the adjacent pages.  Under a pin budget, a window
 * larger than the page leaves `reserve` bytes of room (a page for each later
 * fault of the batch in mm). */
int sva_mm_resolve_fault(struct sva_mm *mm, struct sva_fa_state *fa, uint64_t addr, uint64_t run_start,
			 uint64_t run_end, uint32_t access, uint64_t reserve, uint64_t *pages);

/* mm_map.c.  What one all-or-nothing call mapped, to take back on failure. */
/* Only r[0..n) is ever read: callers set n = 0 rather than zero all of it
 * (a 1 KiB fill per fault was a tenth of the fault path's instructions). */
struct sva_map_undo {
	uint64_t r[64][2];
	size_t n;
};

#define SVA_MAP_FAULT 1u /* sva_mm_map_gaps_locked() for a fault: chunks over a pending REMOVE are suspect */
#define SVA_MAP_AROUND 2u /* a fault's window: in another userfaultfd's mapping, -EBUSY
			   * rather than pin more than one page (mm_map.c) */

/*
 * pin_budget.h's accounting calls made on every fault, inline: under the
 * VM's emulation a call and its return cost 50-100 ns even when hot, and
 * a random fault made some 48 (docs/design.md, "Fault figures").
 */
/* The chunk flags for a map of kind `how` (SVA_MAP_FAULT or not). */
static inline uint32_t sva_pin_chunk_flags(unsigned how)
{
	return (how & SVA_MAP_FAULT) ? SVA_CHUNK_REF : SVA_CHUNK_PINNED;
}

/* The fault engine starts (true) or has answered (false) a batch. */
static inline void sva_pin_batch(struct sva_fault_engine *fe, bool start)
{
	(void)start; /* start and end both bump the count: odd while a batch is in flight */
	atomic_fetch_add_explicit(&fe->pin_batch, 1, memory_order_relaxed);
}

/* Map every gap of [start, end) (inside VMA v, whose prot it takes and which
 * is registered for tracking) under mm->lock, recording each map in undo;
 * *mapped (if not NULL) grows by the bytes mapped.  Returns 0 or the raw
 * -errno, with the gap that failed in fail[] (if not NULL); logs nothing. */
int sva_mm_map_gaps_locked(struct sva_mm *mm, const struct sva_vma *v, uint64_t start, uint64_t end, unsigned how,
			   struct sva_map_undo *undo, uint64_t *mapped, uint64_t fail[2]);
void sva_mm_undo_locked(struct sva_mm *mm, struct sva_map_undo *undo);
/* Does mm map into its IOAS memory the process no longer maps (a munmap()
 * whose event is not applied yet, or an untracked range)?  Takes map_lock. */
bool sva_mm_visible_unmapped(struct sva_mm *mm);
/* The range of mm's window holding [start, end), or NULL (outside, or the
 * ranges cannot be read).  Under mm->lock; the ranges are cached until a
 * device attaches or detaches (refresh: read them again now). */
const struct sva_iova_range *sva_mm_window_find_locked(struct sva_mm *mm, uint64_t start, uint64_t end,
						       bool refresh);
/* The same question as an errno: 0 inside, -ERANGE outside, or why the
 * kernel could not report the ranges. */
int sva_mm_window_check_locked(struct sva_mm *mm, uint64_t start, uint64_t end, bool refresh);
/*
 * upgrade.c, under mm->lock: make the read-only chunk [cs, ce) (prot cprot)
 * writable where the mappings under it now are, by withdrawing it and
 * mapping its range again, plus the gaps of [ws, we) in win_vma (NULL: none);
 * *mapped (if not NULL) gets the bytes mapped.  On failure the chunk is
 * mapped back as it was and the raw -errno returned; -EACCES a part of it
 * is mapped without read or write permission now; -ESTALE nothing under it
 * is writable any more (untouched); -EFAULT part of it is not mapped now;
 * -E2BIG more than 64 mappings lie under it; -EIO the kernel refused to unmap
 * it, or mapping it back failed (it is gone).
 */
int sva_mm_upgrade_locked(struct sva_mm *mm, uint64_t cs, uint64_t ce, uint32_t cprot, unsigned how,
			  const struct sva_vma *win_vma, uint64_t ws, uint64_t we, uint64_t *mapped);
/* Upgrade every read-only chunk overlapping [start, end) that one of the
 * writable vmas (the mappings there, in order) lies under (prefault). */
int sva_mm_upgrade_range_locked(struct sva_mm *mm, const struct sva_vma *vmas, size_t nvma, uint64_t start,
				uint64_t end);
/* CLOCK_MONOTONIC in nanoseconds. */
static inline uint64_t sva_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}
/* -ECHILD when called from a process other than the one that created mm. */
#define sva_mm_check_owner(mm) sva_ctx_check_owner_in((mm)->ctx, __func__)
/* Tear down a bond claimed by sva_unbind() or sva_teardown() (state
 * EXITING): mm_exit, detach, release.  Frees it.  0, or -EIO if the detach
 * failed (the PASID is retired, the HWPT kept). */
int sva_bond_teardown(struct sva_bond *bond);
/* At close: retry the detach of every PASID whose detach failed (the values
 * stay retired whatever the outcome). */
void sva_dev_detach_stuck(struct sva_dev *dev);
/* Park the RID on an empty PASID-compatible HWPT, as a PASID bind does
 * (sva-brokerd parks its devices at open).  Takes dev->lock. */
int sva_dev_rid_park(struct sva_dev *dev);

/* Allocate a device, query hw info and NUMA node; takes a ctx reference. */
int sva_dev_setup(struct sva_ctx *ctx, const struct sva_dev_backend *be, int fd, uint32_t dev_id,
		  const char *pci_addr, const char *path, struct sva_dev **out);
/* Set up / tear down the device's own PASID space from its width (pasid_policy.c). */
int sva_dev_pasids_init(struct sva_dev *dev);
void sva_dev_pasids_fini(struct sva_dev *dev);

/* Last: in the libsva-test build it reroutes the allocations of every file. */
#include "test_fail.h"

#endif /* LIBSVA_INTERNAL_H */
