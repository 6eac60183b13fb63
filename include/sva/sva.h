/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * libsva: Shared Virtual Addressing for user-mode drivers on Linux iommufd + VFIO.
 *
 * This is the only public header.  Conventions that hold for every call:
 *  - Functions return 0 (or a count, where stated) on success and a negative errno
 *    on failure; on failure nothing observable has changed and one log line says
 *    what went wrong and what to do about it.  Each call's man page lists its errnos.
 *    (One exception, of the context's: its fault queue, and fault thread, made by
 *    its first fault-capable sva_bind() stay if a later step of that bind fails;
 *    a failure while making them leaves neither; sva_bind(3).  And a call that
 *    fences first, sva_bind(), sva_mm_prefault(), sva_mem_free(), may withdraw
 *    what device faults mapped over memory just discarded, whether it then
 *    succeeds or not: that is the fence's work, sva_mm_fence(3).)
 *    That line is at error level, except for outcomes that are the caller's
 *    normal business, logged at debug level only: lookups that find nothing,
 *    -ENOSPC of an allocation (PASIDs, sva_bind(), sva_mem_alloc()'s window: a
 *    SVA_MEM_PREFAULT that does not fit the pin budget is an error),
 *    -ENOTCONN of sva_dev_iova_ranges() and -EAGAIN of sva_mm_prefault()
 *    (libsva(7), Errors).  Where a call's comment or page says otherwise
 *    (-ENOSPC of the iova_ranges calls fills the array; -EIO of a withdrawal
 *    the kernel refused; the evictions, and the userfaultfd registrations, of
 *    a failed sva_mm_prefault(); an sva_ctx_unshare_memfd() the kernel refused
 *    part of; an invalid argument "not logged"), it wins.  A NULL object
 *    (context, device, address space, bond, PASID space) is always logged,
 *    at error level on the process-wide log (sva_bind() logs a NULL dev or
 *    mm on the other one's context), by every call that fails for it;
 *    sva_dev_bond_lookup(), which logs nothing, is the one exception.  (The
 *    calls that end an object do nothing for NULL, and sva_bond_pasid(),
 *    sva_bond_drvdata(), sva_ctx_global_pasids() and sva_dev_pasids() give
 *    their NULL answer: they do not fail, and do not log.)
 *  - Objects are opaque.  Options and information structs start with a `size`
 *    field that the caller sets to sizeof(the struct) so they can grow without
 *    breaking ABI; passing NULL for an options pointer selects every default.
 *    One rule for every such struct (struct sva_bond_ops included): a size
 *    smaller than the struct's first layout is -EINVAL (that is sizeof it,
 *    except for sva_mm_opts and sva_mm_stats, whose first layout ends before
 *    pin_budget, and sva_bind_opts, whose first layout ends before pasid); so
 *    is a size between the first layout and sizeof, which would cut a field;
 *    a larger one (a newer header) is accepted for options only if every byte
 *    beyond the fields this libsva knows is zero, and information structs get
 *    those bytes zeroed.  Fields beyond the first layout's size read as zero.
 *    libsva reads (or writes) `size` bytes: set it to sizeof the object.
 *    No public struct has padding at its end, where a later field could go
 *    unseen: a `reserved` field holds that room.  In an options struct it must
 *    be 0 (-EINVAL); in an information struct or a fault report libsva sets
 *    it to 0.
 *  - The library never prints to stdout, never calls abort() or exit(), and
 *    opens every file descriptor O_CLOEXEC.
 *  - This header needs C99 or C++11, or later (libsva(7), Versions); in C++
 *    name the three *_stats structures with `struct` (their functions share
 *    the name).  One copy of libsva per process (libsva(7)).
 *  - Every name beginning with sva_ or SVA_ is reserved for libsva, at file
 *    scope and as a macro: the static library, libsva.a, defines internal
 *    functions and objects with the prefix, so a program's own sva_free(), say,
 *    fails to link statically though it links with libsva.so (libsva(7)).
 *  - "Thread-safe" means the call may run concurrently with any other call on
 *    the same objects; "not thread-safe" means the caller must serialize it
 *    against every other call on the object it names.
 *  - In a forked child every call that would issue an ioctl on an object of
 *    the parent (its context, devices, address spaces, bonds) fails with
 *    -ECHILD: the child shares the parent's iommufd and VFIO descriptors, so
 *    it must not change their state.  Every -EINVAL of the arguments comes
 *    before it but in the memfd calls (libsva(7), Errors in a forked child).  Releasing objects
 *    there frees memory only.  A context the child creates itself is its own.
 */
#ifndef SVA_SVA_H
#define SVA_SVA_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define SVA_VERSION_MAJOR 1
#define SVA_VERSION_MINOR 0

struct sva_ctx;
struct sva_dev;
struct sva_mm;
struct sva_bond;
struct sva_pasid_space;

/* ------------------------------------------------------------------ logging */

enum sva_log_level {
	SVA_LOG_DEFAULT = 0, /* $SVA_LOG (debug|info|warn|warning|error|off), else SVA_LOG_WARN */
	SVA_LOG_DEBUG = 1,
	SVA_LOG_INFO = 2,
	SVA_LOG_WARN = 3,
	SVA_LOG_ERROR = 4,
	SVA_LOG_OFF = 5,
};

/*
 * A log line, without a trailing newline.  Called from whichever thread hit the
 * condition, possibly concurrently; it must not call back into libsva, but for
 * sva_log_level_name(), which only reads a table, and must return (no
 * longjmp() or C++ exception out of it; sva_ctx_set_log(3)).
 */
typedef void (*sva_log_fn)(void *arg, enum sva_log_level level, const char *msg);

/* Name of a level ("default", "debug", "info", "warn", "error", "off"); NULL if out of
 * range.  Thread-safe (constant data only). */
const char *sva_log_level_name(enum sva_log_level level);

/* ------------------------------------------------------------------ context */

/* sva_ctx_opts.flags */
#define SVA_CTX_ADOPT_FD (1u << 0)   /* use opts->iommufd instead of opening a path */
#define SVA_CTX_FAULT_POLL (1u << 1) /* no fault thread: the caller runs
				      * sva_ctx_process_faults() (poll mode) */
#define SVA_CTX_NO_EXIT_TEARDOWN (1u << 2) /* exit() leaves the context's bonds
					    * alone: no mm_exit runs from the
					    * exit destructor (the kernel
					    * detaches at descriptor close) */
#define SVA_CTX_BROKER (1u << 3) /* a client of sva-brokerd(8) at
				  * opts->broker_path: devices, PASIDs and
				  * the iommufd come from the broker */
#define SVA_CTX_ISOLATED (1u << 4) /* with SVA_CTX_BROKER: an isolated
				    * client, without the iommufd; devices
				    * reach only memfds it shares
				    * (sva_ctx_share_memfd()) */

struct sva_ctx_opts {
	size_t size;		/* sizeof(struct sva_ctx_opts) */
	uint32_t flags;		/* SVA_CTX_* */
	int iommufd;		/* with SVA_CTX_ADOPT_FD: an iommufd passed in (the
				 * container case).  libsva works on a duplicate; the
				 * caller keeps and closes its own fd. */
	const char *iommu_path; /* NULL: "/dev/iommu"; ignored with ADOPT_FD, BROKER */
	const char *sysfs_root; /* NULL: "/sys" (a container may see it elsewhere) */
	const char *dev_root;	/* NULL: "/dev" */
	sva_log_fn log_fn;	/* NULL: stderr */
	void *log_arg;		/* used until sva_ctx_set_log() replaces it or the
				 * context goes (after sva_ctx_free() while its
				 * devices or address spaces are open) */
	int log_level;		/* enum sva_log_level; 0 (SVA_LOG_DEFAULT): $SVA_LOG */
	uint32_t global_pasid_min; /* 0: SVA_GLOBAL_PASID_MIN_DEFAULT */
	uint32_t global_pasid_max; /* 0: SVA_GLOBAL_PASID_MAX_DEFAULT */
	uint64_t pasid_grace_ns;   /* quarantine grace of the context's PASID spaces
				    * (global and every device's); 0: the default,
				    * UINT64_MAX: only sva_pasid_barrier() ends it */
	const char *fault_thread_name; /* the fault thread's name (at most 15
					* bytes); NULL: "sva-fault" */
	void (*fault_thread_init)(void *arg); /* run once on the fault thread
					       * when it starts, before it
					       * serves faults: pin it to a
					       * CPU, set its policy; NULL:
					       * nothing */
	void *fault_thread_arg;
	const char *broker_path; /* with SVA_CTX_BROKER: the broker's socket;
				  * NULL: $SVA_BROKER_SOCKET, else
				  * "/run/sva-brokerd/socket" */
};

/*
 * Open (or adopt) an iommufd and create a context on it; with
 * SVA_CTX_BROKER, connect to sva-brokerd instead: the broker hands over a
 * duplicate of its iommufd and a block of PASIDs, which becomes the
 * context's global range (libsva(7), The broker).  Thread-safe.
 * Errors: -EINVAL bad opts, flags or log level, an empty fault_thread_name
 * (NULL names it sva-fault), sysfs_root, dev_root or (without
 * SVA_CTX_ADOPT_FD or SVA_CTX_BROKER) iommu_path, or NULL out (and, with
 * SVA_CTX_BROKER, SVA_CTX_ADOPT_FD or a global PASID range set too, or an
 * empty broker_path;
 * SVA_CTX_ISOLATED without SVA_CTX_BROKER); -ENOENT no
 * /dev/iommu (kernel lacks CONFIG_IOMMUFD); -EACCES/-EPERM no permission;
 * -EBADF adopted fd is not open; -ENOTTY the path or the adopted fd is not an
 * iommufd; -ERANGE bad global PASID range; -ENAMETOOLONG fault_thread_name is
 * longer than 15 bytes, or sysfs_root or dev_root longer than 2048; -ENOMEM;
 * any other errno of open(2) or fcntl(F_DUPFD_CLOEXEC) (e.g. -EISDIR a
 * directory, -ENXIO a device node no driver serves, -EMFILE, -ENFILE;
 * -EINVAL with SVA_CTX_ADOPT_FD when RLIMIT_NOFILE is 3 or less) passed
 * through.  With SVA_CTX_BROKER (a failure after the broker's reply sends the
 * leased block to quarantine): -ENOENT/-ECONNREFUSED no broker listening at
 * broker_path; -EACCES/-EPERM the socket's permissions or the broker's allowlist refuse
 * this user, or its configuration refuses the trust mode asked for (the log
 * line gives the broker's reason); -ENOSPC the broker has no block of PASIDs
 * free; -EUSERS the broker serves its maximum of clients, or of clients of
 * this user (max-clients, clients-per-user); -EOPNOTSUPP the
 * broker does not know the trust mode (an older broker); -EMFILE the process
 * has 64 broker contexts already; -EPROTO/-EIO/-ECONNRESET
 * a malformed reply, the socket took only part of the request, or the broker
 * went away; -ENAMETOOLONG broker_path does not fit a socket address; errors
 * of socket(2), connect(2), and of sendmsg(2) and recvmsg(2) on its socket.
 */
int sva_ctx_new(const struct sva_ctx_opts *opts, struct sva_ctx **out);

/*
 * Unbind every bond of the context (each mm_exit runs first; bonds another
 * thread is unbinding are waited for), then drop the caller's reference.
 * Called from mm_exit, fault_error or a log callback it is refused (logged,
 * nothing freed).  Devices and address spaces still open keep the context
 * alive until the last of them is released, so they and the context may be
 * released in any order.  NULL is a no-op.  Not thread-safe against other calls
 * on ctx or its devices, address spaces and bonds, but for an sva_unbind()
 * already under way (waited for).  In poll mode nothing answers faults once
 * it returns (ctx may not be passed to sva_ctx_process_faults() any more).
 */
void sva_ctx_free(struct sva_ctx *ctx);

/* The context's iommufd (owned by the context; do not close it), or -EINVAL
 * for NULL, -EOPNOTSUPP for an isolated broker context (it has none).
 * Thread-safe. */
int sva_ctx_fd(const struct sva_ctx *ctx);

/* Replace the log callback (NULL: stderr) and level at run time; SVA_LOG_DEFAULT
 * or an out-of-range level means $SVA_LOG.  Thread-safe: a line logged
 * concurrently goes to the old or the new callback, with its own arg (a line
 * held inside a fork-guard section goes to the one in place when it was
 * logged); returns once no call of the old one is under way or held in
 * another thread, so the old arg may be freed then (do not hold a lock any
 * log callback takes: a held line may wait behind another log's line). */
void sva_ctx_set_log(struct sva_ctx *ctx, sva_log_fn fn, void *arg, enum sva_log_level level);

/*
 * In an isolated broker context (SVA_CTX_BROKER | SVA_CTX_ISOLATED), let
 * devices reach [addr, addr + len): the caller has mapped the memfd there
 * (MAP_SHARED, from `offset`), and the broker maps its pages at IOVA == VA
 * when faults or sva_mm_prefault() ask for them.  Memory not shared this way
 * stays out of the device's reach (its faults are answered INVALID, reason
 * EFAULT: nothing mapped there).  A fault-around window is clipped to the
 * shared range that holds the faulting page.  A range stays shared until
 * sva_ctx_unshare_memfd() or the end of the context.  Each mapping the broker
 * makes counts against the client's isolated-pin-max (sva-brokerd(8)): a
 * fault beyond it is answered INVALID, reason ENOMEM, once the client's own
 * cold fault-mapped chunks are evicted, and sva_mm_prefault() fails with
 * ENOMEM.  Thread-safe.
 * Errors: -EINVAL NULL ctx, len 0, addr, offset or len not page-aligned,
 * addr + len or offset + len wraps, memfd is not a memfd (shmem or hugetlbfs:
 * the only files the kernel pins for the broker's map), or the file is
 * shorter than offset + len; -EACCES memfd is open for writing only;
 * -EOPNOTSUPP not an isolated broker context; -EBADF memfd is not an open
 * descriptor; -EEXIST the range overlaps one shared before; -ENOSPC the
 * broker's limit of shared ranges per client (64); -ECONNRESET the broker
 * went away; -ECHILD in a forked child; the broker's errors (libsva(7),
 * Errors).
 */
int sva_ctx_share_memfd(struct sva_ctx *ctx, int memfd, uint64_t offset, const void *addr, size_t len);

/*
 * Take back a range shared with sva_ctx_share_memfd(), given exactly as it was
 * shared: the broker unmaps every mapping it made from it (in every address
 * space of the context: devices can no longer reach it), releases them from
 * the client's isolated-pin-max and closes its duplicate of the memfd; faults
 * there are answered INVALID (reason EFAULT) from then on.  Thread-safe.
 * Errors: -EINVAL NULL ctx, len 0, addr or len not page-aligned, or a
 * wrapping range; -EOPNOTSUPP not an isolated broker context; -ENOENT
 * [addr, addr + len) is not exactly a range this context shared (or another
 * thread is unsharing it); -EBUSY (or another errno of IOMMU_IOAS_UNMAP) the
 * kernel refused to unmap a mapping: the range stays shared, but the mappings
 * unmapped before that one are gone; -ECONNRESET the broker went away; -ECHILD
 * in a forked child; the broker's errors (libsva(7), Errors).
 */
int sva_ctx_unshare_memfd(struct sva_ctx *ctx, const void *addr, size_t len);

/* ------------------------------------------------------------------ devices */

enum sva_iommu_type {
	SVA_IOMMU_NONE = 0,
	SVA_IOMMU_INTEL_VTD = 1,
	SVA_IOMMU_ARM_SMMUV3 = 2,
	SVA_IOMMU_TEGRA241_CMDQV = 3,
	SVA_IOMMU_AMD = 4,
};
/* The iommufd selftest mock.  A macro, not an enumerator: ISO C (before C23)
 * allows enumerators only in the range of int. */
#define SVA_IOMMU_SELFTEST 0xfeedbeefu

/* Name of an IOMMU type ("none", "intel-vtd", "arm-smmuv3", ..., "selftest"), or
 * "unknown" (never NULL).  Thread-safe (constant data only). */
const char *sva_iommu_type_name(uint32_t type);

/* sva_dev_info.hw_caps: the kernel's IOMMU_HW_CAP_* bits, passed through. */
#define SVA_HW_CAP_DIRTY_TRACKING (1ull << 0)
#define SVA_HW_CAP_PCI_PASID_EXEC (1ull << 1)
#define SVA_HW_CAP_PCI_PASID_PRIV (1ull << 2)
#define SVA_HW_CAP_PCI_ATS_NOT_SUPPORTED (1ull << 3)

/* sva_dev_info.flags */
#define SVA_DEV_PCI (1u << 0)	  /* a PCI device; pci_addr is set */
#define SVA_DEV_MOCK (1u << 1)	  /* the iommufd selftest mock device */
#define SVA_DEV_ATTACHED (1u << 2) /* its RID is attached: to a bound address space, or
				    * parked on an empty one (a device with PASID
				    * support: from its first bind, PASID or RID, as
				    * a RID unbind parks it) until sva_dev_close() */

struct sva_dev_info {
	size_t size;		 /* sizeof(struct sva_dev_info), set by the caller */
	uint32_t flags;		 /* SVA_DEV_* */
	uint32_t dev_id;	 /* iommufd device object ID */
	uint32_t iommu_type;	 /* SVA_IOMMU_* */
	uint32_t max_pasid_log2; /* PASID width in bits; 0: no PASID support */
	uint64_t hw_caps;	 /* SVA_HW_CAP_* */
	int32_t numa_node;	 /* -1: unknown or not NUMA */
	char pci_addr[16];	 /* "0000:41:00.0", or "" */
	char path[64];		 /* "/dev/vfio/devices/vfio0", or "" */
	uint32_t reserved;	 /* set to 0 by libsva: the room a later field
				  * takes (no hidden padding) */
};

/*
 * Open a VFIO cdev device and bind it to the context's iommufd.  `name` is a
 * cdev path ("/dev/vfio/devices/vfio3"), a cdev name ("vfio3") or a PCI address
 * ("0000:41:00.0" or "41:00.0", resolved through sysfs vfio-dev/).  In a
 * SVA_CTX_BROKER context `name` is a device name of the broker's
 * configuration, and the broker opens it: -ENOENT no such name there,
 * -EACCES this user is not in its allowlist, -EBUSY this context has it open
 * already, -ECONNRESET the broker went away, -EPROTO the broker leased own
 * PASIDs the device cannot have.  Such a device takes PASID binds only (its
 * RID is the broker's), and its own PASID space is a block the broker leased
 * (sva_dev_pasids()).  A device without PASIDs is lent whole to one trusted
 * client at a time (sva_dev_fd() gives it its VFIO file; it takes RID binds
 * only): -EBUSY another client holds it; -EOPNOTSUPP the context is
 * isolated; -EIO the broker withdrew it (a detach of its RID failed).
 * Thread-safe.
 * Errors: -EINVAL malformed or NULL name, NULL ctx or out; -ENOENT no such
 * device; -ENODEV the device is not bound to vfio-pci or the kernel lacks VFIO
 * cdev (CONFIG_VFIO_DEVICE_CDEV); -ENOTTY the path is not a VFIO cdev (not a
 * character device, a directory included, or another one); -EACCES/-EPERM no
 * permission; -EBUSY the device is already bound through another open of its
 * cdev (a VFIO cdev may be opened many times but bound once); -ECHILD in a forked child; -ENOMEM; other errnos of open(2),
 * VFIO_DEVICE_BIND_IOMMUFD and IOMMU_GET_HW_INFO passed through, and of
 * reading sysfs (-EMFILE/-ENFILE: no descriptor free for a PCI address's
 * vfio-dev/ or the device's numa_node); in a broker context, the broker's
 * errors (libsva(7), Errors).
 */
int sva_dev_open(struct sva_ctx *ctx, const char *name, struct sva_dev **out);

/*
 * As sva_dev_open() for an already open VFIO cdev fd.  libsva works on a
 * duplicate; the caller keeps its fd, which shares the open file, so the device
 * stays bound until both are closed.  Thread-safe.
 * A failure after the bind leaves the device bound (VFIO cannot unbind an
 * open file, and the caller's fd keeps it open): the context keeps that bind,
 * and a retry on the same device takes it over.
 * Errors: -EINVAL NULL ctx or out; -EOPNOTSUPP ctx is a broker context (open
 * the broker's devices by name with sva_dev_open()); -EBADF not an open fd;
 * -ENOTTY not a VFIO cdev device fd; -EBUSY already bound to an iommufd;
 * -EMFILE/-ENFILE no fd free for libsva's duplicate; -ECHILD in a forked
 * child; -ENOMEM; other errnos of fcntl(F_DUPFD_CLOEXEC) (e.g. -EINVAL when
 * RLIMIT_NOFILE is 3 or less), VFIO_DEVICE_BIND_IOMMUFD and IOMMU_GET_HW_INFO.
 */
int sva_dev_open_fd(struct sva_ctx *ctx, int fd, struct sva_dev **out);

/*
 * Unbind and close a device (the kernel detaches it from everything).  A bond
 * of it that another thread is tearing down (inside its mm_exit) is waited
 * for.  NULL is a no-op.  Called from mm_exit, fault_error or a log callback
 * it is refused (logged, nothing closed: see struct sva_bond_ops).  Not thread-safe against
 * other calls on dev.
 */
void sva_dev_close(struct sva_dev *dev);

/* Fill `info` (set info->size first).  Thread-safe.  Errors: -EINVAL NULL dev
 * (logged), NULL info or bad size (not logged). */
int sva_dev_get_info(const struct sva_dev *dev, struct sva_dev_info *info);

/* The device's VFIO cdev fd (owned by libsva; for BAR mmap and region I/O),
 * -ENODEV for the mock device and for a device opened through a broker that
 * keeps it (one with PASIDs; one without is lent with its fd), -EINVAL for
 * NULL.  Thread-safe. */
int sva_dev_fd(const struct sva_dev *dev);

struct sva_iova_range {
	uint64_t start;
	uint64_t last; /* inclusive */
};

/*
 * The IOVA ranges the device can reach through the address space its RID is
 * attached to, as the kernel reports them now.  On entry *nr is the capacity of
 * `ranges`; on return it is the number of ranges (also when -ENOSPC says the
 * array was too small).  Thread-safe.
 * Errors: -ENOTCONN the device is not attached (debug level only); -ENOSPC
 * array too small; -EINVAL NULL dev (logged), NULL nr, or *nr > 0 with NULL
 * ranges (not logged);
 * -ECHILD in a forked child; errors of IOMMU_IOAS_IOVA_RANGES passed through;
 * in a broker context, the broker's errors (libsva(7), Errors): -ECONNRESET
 * also for a broker that stopped and destroyed the address space (not the
 * kernel's error about it), -EPROTO for an isolated client's request the
 * broker refused as naming no IOAS of the client's (the broker's errno
 * logged).  At most 64 ranges are reported.
 */
int sva_dev_iova_ranges(struct sva_dev *dev, struct sva_iova_range *ranges, size_t *nr);

/* ----------------------------------------------------------- testing: mock */

/* sva_mock_opts.flags */
#define SVA_MOCK_NO_PASID (1u << 0) /* a mock without PASID support (width 0) */

struct sva_mock_opts {
	size_t size; /* sizeof(struct sva_mock_opts) */
	uint32_t flags;
	uint32_t reserved; /* 0: the room a later field takes (no hidden padding) */
};

/*
 * Create a device backed by the kernel's iommufd selftest mock (CONFIG_IOMMUFD_TEST):
 * a software device with a 20-bit PASID space and I/O page faults, so driver code
 * can be tested without hardware.  Thread-safe.
 * Errors: -EOPNOTSUPP the kernel was built without CONFIG_IOMMUFD_TEST, or ctx
 * is a SVA_CTX_BROKER context (open the broker's mock by name with
 * sva_dev_open()); -EINVAL NULL ctx or out, or bad opts; -ECHILD in a forked
 * child; -ENOMEM; errors
 * of its iommufd requests (IOMMU_IOAS_ALLOC, IOMMU_TEST_CMD, IOMMU_GET_HW_INFO)
 * passed through.
 */
int sva_dev_open_mock(struct sva_ctx *ctx, const struct sva_mock_opts *opts, struct sva_dev **out);

/* sva_dev_inject_fault() perm bits */
#define SVA_ACCESS_READ (1u << 0)
#define SVA_ACCESS_WRITE (1u << 1)
#define SVA_ACCESS_EXEC (1u << 2)
#define SVA_ACCESS_PRIV (1u << 3)

/*
 * Make the mock device raise an I/O page fault on `pasid` (0: the RID) at `addr`
 * with access `perm` (SVA_ACCESS_*) in page-request group `grpid`.  The kernel
 * drops the fault silently if nothing fault-capable is attached there.  Thread-safe.
 * Errors: -EOPNOTSUPP not a mock device; -EINVAL NULL dev or bad perm;
 * -EPERM an isolated broker client's pasid outside its global block;
 * -ECHILD in a forked child; -ECONNRESET the device's broker went away;
 * errors of IOMMU_TEST_CMD passed through; in a broker context, the broker's
 * errors (libsva(7), Errors).
 */
int sva_dev_inject_fault(struct sva_dev *dev, uint32_t pasid, uint64_t addr, uint32_t perm, uint32_t grpid);

/* ------------------------------------------------------------ PASID spaces */

#define SVA_PASID_MAX ((1u << 20) - 1) /* the PCIe PASID limit */
#define SVA_GLOBAL_PASID_MIN_DEFAULT 256u
#define SVA_GLOBAL_PASID_MAX_DEFAULT SVA_PASID_MAX
#define SVA_PASID_GRACE_DEFAULT_NS 100000000ull /* 100 ms */

/* sva_pasid_space_opts.flags */
#define SVA_PASID_ALLOW_ZERO (1u << 0) /* PASID 0 may be handed out (min must be 0) */

struct sva_pasid_space_opts {
	size_t size;	  /* sizeof(struct sva_pasid_space_opts) */
	uint32_t flags;	  /* SVA_PASID_* */
	uint32_t min;	  /* inclusive; 0 is raised to 1 unless SVA_PASID_ALLOW_ZERO */
	uint32_t max;	  /* inclusive, <= SVA_PASID_MAX; 0: SVA_PASID_MAX (with
			   * ALLOW_ZERO too: no space holds 0 alone) */
	uint64_t grace_ns; /* minimum time in quarantine after release (CLOCK_MONOTONIC);
			    * 0: SVA_PASID_GRACE_DEFAULT_NS; UINT64_MAX: only
			    * sva_pasid_barrier() ends it */
};

/*
 * A standalone PASID allocator: needs no IOMMU and no iommufd.  A PASID goes
 * allocated -> sva_pasid_free() -> quarantine -> sva_pasid_release() -> grace
 * (grace_ns, or a barrier) -> allocatable.  Allocation hands out never-used
 * values first, in increasing order, then returned ones in the order they
 * became allocatable.  Errors are logged through the default log ($SVA_LOG).
 * Thread-safe.  Errors: -EINVAL NULL out, bad opts (size, flags, ALLOW_ZERO
 * with min != 0) or empty/inverted range; -ERANGE max beyond SVA_PASID_MAX; -ENOMEM.
 * The first that applies wins, in this order: out, size, flags, max, min
 * against the flags, the empty range.
 */
int sva_pasid_space_new(const struct sva_pasid_space_opts *opts, struct sva_pasid_space **out);

/*
 * Free a space and everything allocated from it.  Lookups must have stopped.
 * NULL is a no-op.  A context's or device's space (sva_ctx_global_pasids(),
 * sva_dev_pasids()) is not freed: its owner frees it with itself, and the
 * call logs an error.  Not thread-safe.
 */
void sva_pasid_space_free(struct sva_pasid_space *space);

/*
 * Allocate the PASID that became allocatable again the longest ago (released
 * and its grace over; never-used ones first) and attach
 * drvdata to it.  Thread-safe.  Errors: -ENOSPC every PASID is allocated or in
 * quarantine (logged at debug level only); -ENOMEM the lookup table could not grow for a never-used
 * value (it grows as values are first used) and none is allocatable again;
 * -EINVAL NULL space or pasid.
 */
int sva_pasid_alloc(struct sva_pasid_space *space, void *drvdata, uint32_t *pasid);

/*
 * Free an allocated PASID: it enters quarantine and lookups stop finding it.
 * It becomes allocatable again only after sva_pasid_release() and the grace
 * condition.  Thread-safe.  Errors: -EINVAL NULL space; -ENOENT not allocated (never, or already
 * freed; also a value a bind allocated that a failed detach retired: it stays
 * in quarantine for good); -ERANGE outside the space; -EBUSY the PASID is
 * bound (sva_bind()): the last sva_unbind() under it frees it (or, for a
 * PASID the driver bound with SVA_BIND_PASID, hands it back to be freed
 * then), or a failed detach retired it (a value the driver allocated: it
 * stays allocated; sva_unbind()).  A NULL space comes first, then -ERANGE,
 * then the value's state.
 */
int sva_pasid_free(struct sva_pasid_space *space, uint32_t pasid);

/*
 * The owner is done with a quarantined PASID (its device has drained it).  The
 * PASID returns to the pool once the grace time has passed since this call, or
 * at the next sva_pasid_barrier().  Thread-safe.  Errors: -EINVAL NULL space, or not in
 * quarantine (still allocated, never allocated, already released, or retired
 * for good by a failed detach: sva_unbind()); -ERANGE
 * outside the space, which comes before the value's state.
 */
int sva_pasid_release(struct sva_pasid_space *space, uint32_t pasid);

/*
 * End the grace period of every PASID released before this call: they are
 * allocatable when it returns (freed PASIDs not yet released stay in
 * quarantine).  Thread-safe.  Returns the number it made allocatable (not
 * those whose grace time had ended already), or -EINVAL for a NULL space.
 */
int sva_pasid_barrier(struct sva_pasid_space *space);

/*
 * Look up the drvdata of an allocated PASID.  Lock-free and safe from any
 * thread, including against a concurrent free: the result is the drvdata of an
 * allocation that was live at some instant during the call; the memory libsva
 * reads is never freed before sva_pasid_space_free() (but by
 * sva_dev_set_pasid_range(), which no lookup may overlap).  It waits only
 * while that PASID's owner changes (a spin of two stores): a bind or unbind
 * with SVA_BIND_PASID, or the earliest of several bonds under a global PASID
 * going (unbind, sva_mm_free, sva_dev_close, sva_ctx_free, exit) and handing
 * its drvdata to the next; and never on one its own thread is making: that bind
 * holds signals off across the two, so a signal handler may look up a PASID
 * whose bind it interrupted.  What drvdata points to
 * is the caller's to keep alive.  drvdata may be NULL (an existence test);
 * on error it is left untouched.  Errors: -ENOENT not allocated; -ERANGE
 * outside the space (both logged at debug level only: a lookup answers a
 * question, see libsva(7)); -EINVAL NULL space.
 */
int sva_pasid_lookup(const struct sva_pasid_space *space, uint32_t pasid, void **drvdata);

struct sva_pasid_stats {
	size_t size; /* sizeof(struct sva_pasid_stats), set by the caller */
	uint32_t min, max;
	uint64_t allocated;   /* handed out, not yet freed */
	uint64_t quarantined; /* freed, not yet back in the pool (released or not) */
	uint64_t free;	      /* allocatable now */
};

/* Counts at one instant (allocated + quarantined + free = max - min + 1).
 * Thread-safe.  Errors: -EINVAL NULL or bad size (*stats untouched). */
int sva_pasid_stats(const struct sva_pasid_space *space, struct sva_pasid_stats *stats);

/*
 * PASIDs of a context's devices.  The context has one global space
 * [global_pasid_min, global_pasid_max]: a PASID from it names the same thing on
 * every device whose range covers the global range, so it can be handed from one
 * device to another.  A device of PASID width w accepts 1 .. 2^w-1 and "covers"
 * the global range iff 2^w-1 >= global_pasid_max.  Each device has its own
 * space [1, min(2^w-1, global_pasid_min-1)] (none if that is empty), numbers
 * the global space never uses, so devices with 1-3 SSIDs are never starved by
 * global allocations.  Free, release and lookup route by value: below
 * global_pasid_min to the device's own space, else to the global space (only
 * on a device that covers it).  An address space bound on several devices has
 * one global PASID on all of them (see sva_bind()).  See sva_dev_pasid_alloc(3).
 * In a SVA_CTX_BROKER context the global space is the block of the broker's
 * range leased to this client, and a device's own space the block of the
 * device's own PASIDs (below the broker's range) the broker leased it at
 * sva_dev_open(); none if it had none left (sva-brokerd(8)).
 */
enum sva_pasid_policy {
	SVA_PASID_AUTO = 0,   /* GLOBAL if the device covers the global range and
			       * the global space has a free PASID, else DEVICE */
	SVA_PASID_GLOBAL = 1, /* from the context's global space */
	SVA_PASID_DEVICE = 2, /* from the device's own space */
};

/* The context's global space (owned by the context); NULL for NULL (not
 * logged).  Thread-safe. */
struct sva_pasid_space *sva_ctx_global_pasids(struct sva_ctx *ctx);

/*
 * The device's own space, or NULL when it has none (no PASID support, or its
 * width starts at the global range) and for a NULL dev (not logged).  Owned by
 * the device.  Thread-safe.
 */
struct sva_pasid_space *sva_dev_pasids(struct sva_dev *dev);

/*
 * Narrow the device's own range to [min, max], within [1, min(2^w-1,
 * global_pasid_min-1)] (a broker client: within the block the broker leased
 * it), while nothing of it is allocated or in quarantine.
 * The space keeps its identity (sva_dev_pasids() is unchanged).  Not
 * thread-safe.  Errors, the first that applies wins: -EINVAL NULL dev, then
 * -EINVAL inverted; -EOPNOTSUPP the device has no PASID support; -ERANGE the
 * device has no own space, min 0, beyond the device's width or into the global
 * range, or outside a broker client's block; -EBUSY PASIDs of it are allocated
 * or in quarantine.
 */
int sva_dev_set_pasid_range(struct sva_dev *dev, uint32_t min, uint32_t max);

/*
 * Allocate a PASID usable on `dev` under `policy`.  Thread-safe.
 * Errors: -EOPNOTSUPP no PASID support; -ERANGE GLOBAL on a device that does
 * not cover the global range, DEVICE on a device with no own space, or AUTO on
 * a device with neither (only possible with global_pasid_min 1); -ENOSPC the
 * space(s) the policy allows are exhausted (AUTO: both; debug level only),
 * or, in a broker context, DEVICE (or AUTO on a device that does not cover
 * the global range) when the broker had no block of the device's own PASIDs
 * left for this client;
 * -ENOMEM (AUTO too: it falls back to the own space only from a full global
 * space, not from one out of memory); -EINVAL NULL dev, bad
 * policy or NULL pasid.
 */
int sva_dev_pasid_alloc(struct sva_dev *dev, enum sva_pasid_policy policy, void *drvdata, uint32_t *pasid);

/*
 * Free / release / look up a PASID of `dev`, whichever space it came from:
 * the errors of sva_pasid_free(), sva_pasid_release(), sva_pasid_lookup(),
 * plus -EOPNOTSUPP no PASID support and -ERANGE a value in none of the
 * device's spaces (below the global range with no own space, or a global
 * value on a device that does not cover the global range); a lookup logs
 * them at debug level only.  The first that applies wins: -EINVAL NULL dev
 * (and, for an alloc, NULL pasid or unknown policy), -EOPNOTSUPP (for every
 * value, SVA_PASID_RID included), -ERANGE, then the others.
 *
 * drvdata is per (device, PASID): sva_dev_pasid_lookup() returns the drvdata
 * of dev's bond under the value if it has one, else that of an unbound
 * allocation made through dev (sva_dev_pasid_alloc() on dev, or
 * sva_pasid_alloc() straight on a space, which belongs to no device), and
 * -ENOENT otherwise: a value bound only on other devices, or allocated through
 * another device (a device closed before dev was opened included, whatever
 * its address), is nothing of dev's, nor is one a failed detach retired for
 * good (libsva owns it: sva_unbind(3)).  A driver's PASID that sva_bind() is
 * binding under SVA_BIND_PASID stays the allocation until the bond is
 * published, and is the allocation again once sva_unbind() of the last bond
 * has unpublished it.  The lookup takes no lock, waits only as
 * sva_pasid_lookup() does (never in a signal handler for the bind it
 * interrupted), and is safe against a concurrent bind, unbind or free: the result is what dev had under
 * the value at some instant during the call, and the memory libsva reads is
 * freed only by sva_dev_close() (and by sva_dev_set_pasid_range(), which no
 * lookup may overlap).  What drvdata points to is the caller's to
 * keep alive.  Free and release act on the value, through any device that
 * reaches it.  All three are thread-safe (but for sva_dev_set_pasid_range(),
 * which nothing on the device's own space may overlap).
 */
int sva_dev_pasid_free(struct sva_dev *dev, uint32_t pasid);
int sva_dev_pasid_release(struct sva_dev *dev, uint32_t pasid);
int sva_dev_pasid_lookup(struct sva_dev *dev, uint32_t pasid, void **drvdata);


/* ----------------------------------------------------------- address spaces */

/*
 * An address space as devices see it: an iommufd IOAS in which IOVA == VA.
 * libsva mirrors the process by mapping (and so pinning) its pages on demand;
 * it does not share the CPU page table.
 *
 * Coherence tracking (on by default): every range mapped into a tracked
 * address space is first registered with the process's one userfaultfd
 * (write-protect mode, nothing ever write-protected: no CPU fault is
 * intercepted), and a library thread withdraws from every tracked address
 * space what munmap(), mremap(), madvise(MADV_DONTNEED/MADV_FREE/MADV_REMOVE)
 * and brk() shrinking take away.  Devices then fault the new pages in (or, for
 * pinned-mode bonds, see them after the next sva_mm_prefault()).  What no
 * event reports (mprotect() downgrades, MADV_GUARD_INSTALL, hole punching,
 * truncate, MADV_REMOVE seen through another mapping of the same file pages,
 * remap_file_pages(), shmdt() of memory also mapped elsewhere, MADV_PAGEOUT)
 * and the residual windows are in libsva(7), "Coherence"; sva_mm_invalidate()
 * is the remedy for them.
 */

/* sva_mm_opts.flags */
#define SVA_MM_PRIVATE (1u << 0) /* mirror nothing that was not sva_mm_prefault()ed:
				  * faults elsewhere are INVALID (-ENOENT) */
#define SVA_MM_UNTRACKED (1u << 1) /* no coherence tracking: the caller calls
				    * sva_mm_invalidate() after freeing or remapping
				    * memory devices may have seen */
#define SVA_MM_TRACK_STRICT (1u << 2) /* refuse what cannot be tracked: sva_mm_new()
				       * fails where userfaultfd is unavailable, and a
				       * range that cannot be registered is not mapped
				       * (default: mapped untracked, counted in
				       * sva_mm_stats() and logged once); once tracking
				       * has stopped, every new map is refused (prefault
				       * -EIO, faults INVALID with reason -EIO) */
#define SVA_MM_RESTRICTED (1u << 3) /* faults resolve only inside the ranges
				     * allowed with sva_mm_allow() (and memory
				     * sva_mem_alloc() placed for this mm); elsewhere
				     * they are INVALID (-ENXIO), and fault-around never
				     * maps past an allowed range */

struct sva_mm_opts {
	size_t size;	     /* sizeof(struct sva_mm_opts) */
	uint32_t flags;	     /* SVA_MM_* */
	uint64_t fault_around; /* the cap of adaptive fault-around: at most this
				* many bytes in each fault's own window (4096: the
				* faulting page alone, but for the huge-page and
				* batched-run cases below), a power of two from 4096 to
				* 1 GiB; 0: SVA_FAULT_AROUND_DEFAULT.  The window
				* starts at 64 KiB (or the cap), doubles while a
				* bond's faults arrive in order, halves while they
				* do not; huge-page mappings get whole 2 MiB pages.
				* Runs of neighbouring faults in one batch are
				* mapped together, past the cap if need be.  Under
				* a pin budget a window is at most a quarter of the
				* budget, which then caps the ramp as this does */
	uint64_t pin_budget;   /* (a later field; a smaller size, the first layout's, reads
				* as 0) at most this many bytes pinned in the
				* IOAS, rounded down to whole 4 KiB pages, at
				* least one page.  When a fault would go over it,
				* cold fault-mapped memory is withdrawn (CLOCK:
				* least recently faulted first, approximately) and
				* devices fault it back later; a fault window that
				* does not fit maps less, down to the faulting
				* page.  Prefaulted memory is never evicted and
				* counts against it.  0: the default,
				* RLIMIT_MEMLOCK's soft limit when the process
				* lacks CAP_IPC_LOCK, else unbounded;
				* SVA_PIN_UNLIMITED: unbounded (the kernel's
				* limit still applies: its -ENOMEM also evicts) */
};

#define SVA_FAULT_AROUND_DEFAULT (1u << 20)
#define SVA_PIN_UNLIMITED UINT64_MAX

/*
 * Create an address space in the context, tracked unless SVA_MM_UNTRACKED
 * (the process's userfaultfd and its thread start with the first tracked
 * address space and stop with the last; one eventfd, made with the first,
 * stays open for the process's life; a start that fails leaves none).  Where
 * tracking cannot start (userfaultfd unavailable: seccomp, as in Docker's
 * default profile; vm.unprivileged_userfaultfd=0 on a kernel before 5.11; no
 * CONFIG_USERFAULTFD; or no descriptor, memory or thread for it) the address
 * space is created untracked, which a warning (once for a cause that lasts,
 * again whenever the cause changes) and sva_mm_stats() say, unless
 * SVA_MM_TRACK_STRICT.  Thread-safe.
 * Errors: -EINVAL bad opts (size, unknown flags, SVA_MM_UNTRACKED with
 * SVA_MM_TRACK_STRICT, fault_around, a pin_budget under 4096), NULL ctx or out; -ECHILD in a forked
 * child; -ENOMEM; errors of IOMMU_IOAS_ALLOC;
 * with SVA_MM_TRACK_STRICT, why tracking is impossible: -EPERM (seccomp,
 * sysctl), -ENOSYS (no userfaultfd), -EOPNOTSUPP (the kernel lacks its
 * UNMAP/REMOVE/REMAP events, or write-protect registration: no uffd-wp), -EMFILE/-ENFILE (no fd for the userfaultfd or
 * the eventfd), -EAGAIN (no thread), -EBADF/-EIO (the monitor failed as the
 * address space joined it, twice: libsva's userfaultfd closed or replaced
 * behind its back); in a broker context, the broker's errors (libsva(7),
 * Errors).
 */
int sva_mm_new(struct sva_ctx *ctx, const struct sva_mm_opts *opts, struct sva_mm **out);

/*
 * Unbind every bond on the address space (each bond's mm_exit runs first), unmap
 * everything and free it.  A bond that another thread is unbinding (inside its
 * mm_exit) is waited for, not unbound twice.  NULL is a no-op.  Called from
 * mm_exit, fault_error or a log callback it is refused (logged, nothing freed: see struct
 * sva_bond_ops).  Not thread-safe against other calls on mm, except
 * sva_unbind() of its bonds.
 */
void sva_mm_free(struct sva_mm *mm);

/*
 * Make [addr, addr + len) visible to every device bound to mm at IOVA == VA,
 * now: the pages are faulted in and pinned, writable where the mapping is
 * writable, read-only where it is read-only.  Parts already visible are left
 * as they are, except read-only ones whose mapping has become writable
 * (mprotect): those are mapped again, writable, whole; if that fails they stay
 * visible read-only and the call fails.  This is how pinned-mode bonds see memory, and how fault-capable
 * bonds avoid faults on a hot path.  It first does what sva_mm_fence() does,
 * so memory unmapped or discarded before the call is never "already visible".
 * In a tracked address space the range is registered for tracking first; after
 * a munmap() or madvise() withdraws it, pinned-mode devices see it again only
 * after another sva_mm_prefault().  Prefaulted memory is never evicted by the
 * pin budget (sva_mm_opts.pin_budget) and counts against it: fault-mapped
 * memory is evicted to make room.  On failure nothing of the range is made
 * visible, but a failure after the checks (the reach, the mappings, the window,
 * the pin budget, in that order) may come after such evictions: the kernel's
 * errors, -E2BIG of more than 64 maps, the upgrade's -EACCES/-EFAULT/-E2BIG/
 * -EIO, a strict registration's errors, the late -EXDEV (see the page).
 * Thread-safe.
 * Errors: -EINVAL NULL mm, len 0, or the range wraps or ends past
 * 2^64 - 4096 (its last page could not be rounded up); -ENOSPC the range does
 * not fit in the pin budget beside what is prefaulted already (nothing
 * changed); -EAGAIN it would fit, but chunks mapped for I/O page faults not
 * answered yet hold the room for now (nothing made visible: try again; logged
 * at debug level, as a transient outcome; rarely the kernel refused to unmap
 * a chunk being evicted, and the chunks evicted before stay evicted);
 * -EFAULT part of the range is not mapped in the process, or part of a
 * read-only chunk being made writable (inside the range or not) is not;
 * -EACCES part of it is PROT_NONE; -ERANGE part
 * of it is outside what the bound devices can reach (see sva_mm_iova_ranges());
 * -ENOMEM out of memory or over RLIMIT_MEMLOCK (fault-mapped memory may have
 * been evicted trying to make room: devices fault it back); -EPERM the pages
 * cannot be pinned (VM_IO/PFNMAP, secretmem, ...); -EOPNOTSUPP the kernel
 * cannot pin them (DAX); -E2BIG the range spans more than 64 mappings (split
 * the call).  Before mm's first bind the kernel pins nothing: memory it cannot
 * pin (-EPERM, guard pages' -EFAULT, -EOPNOTSUPP) is accepted then, and that
 * sva_bind() fails (-EFAULT; -EOPNOTSUPP for DAX) until sva_mm_invalidate()
 * withdraws it;
 * -ECHILD in a forked child; -EXDEV part of the range is libsva's own
 * memory (its objects and thread stacks: no device ever reaches them; rarely
 * found after the maps, when every chunk overlapping the range is withdrawn,
 * those visible before included); in a SVA_MM_RESTRICTED address space,
 * -EACCES also when part of the range is not allowed (sva_mm_allow()); in an
 * isolated broker client, -EACCES also for a writable mapping of a memfd
 * shared read-only or write-sealed, and -EFAULT also when the range does not
 * lie in one range shared with sva_ctx_share_memfd(); with SVA_MM_TRACK_STRICT, -EIO coherence
 * tracking stopped (nothing mapped: see sva_mm_fence(); without the flag the
 * range is mapped untracked), -EBUSY part of the range is registered with
 * another userfaultfd, -EINVAL a mapping userfaultfd cannot track
 * (VM_PFNMAP/VM_IO, a shared mapping the process may never write: a file
 * opened read-only, a write-sealed memfd; file-backed MAP_PRIVATE before
 * Linux 6.7), other errors
 * of the userfaultfd registration passed through; -EIO also
 * when the kernel refused to unmap a read-only part being made writable, or
 * it could not be mapped back (logged: that part is no longer visible);
 * -ECONNRESET the context's broker went away (one that stopped cleanly
 * destroyed the IOAS); errors of reading /proc/self/maps (-ENOENT /proc is
 * not mounted; -EMFILE/-ENFILE no descriptor free to open it, when mm keeps
 * none open since sva_mm_new() found none free either) and of
 * IOMMU_IOAS_IOVA_RANGES and IOMMU_IOAS_MAP passed through; in a broker
 * context, the broker's errors (libsva(7), Errors).
 */
int sva_mm_prefault(struct sva_mm *mm, const void *addr, size_t len);

/*
 * Allow devices to reach [addr, addr + len) of a SVA_MM_RESTRICTED address
 * space: faults there resolve (and fault-around stays inside the allowed range
 * holding the fault), and sva_mm_prefault() accepts it.  Ranges merge with
 * those they touch; allowing memory that is not mapped yet is fine.  libsva's
 * own memory stays out of reach whatever is allowed.  sva_mem_alloc() with
 * opts->mm allows what it returns, sva_mem_free() with that mm denies it.
 * Thread-safe.  Errors: -EINVAL NULL mm, len 0, addr or len not a multiple of
 * 4096, the range wraps or ends above 2^64 - 4096, or mm was not created
 * SVA_MM_RESTRICTED; -ENOMEM;
 * -ECHILD in a forked child.  On error nothing changes.
 */
int sva_mm_allow(struct sva_mm *mm, const void *addr, size_t len);

/*
 * Take [addr, addr + len) out of the allowed ranges of a SVA_MM_RESTRICTED
 * address space and withdraw from the devices whatever of it is visible (as
 * sva_mm_invalidate() does: chunks go whole, so allowed memory next to it may
 * have to be faulted in again).  When it returns, no device reaches the range
 * until it is allowed again.  Denying what is not allowed is not an error.
 * Thread-safe.  Errors: the errors of sva_mm_allow(); -EIO the kernel (in an
 * isolated broker context, the broker, whatever its error) refused to unmap
 * part of it (logged: that part stays visible, though no fault maps it again).
 */
int sva_mm_deny(struct sva_mm *mm, const void *addr, size_t len);

/*
 * Withdraw [addr, addr + len) from the devices: every mapped chunk that
 * overlaps it is unmapped whole and its pages unpinned.  Tracked address
 * spaces do this by themselves after munmap(), mremap() and madvise(); call
 * it after what no event reports (libsva(7), "Coherence"), and in untracked
 * ones after freeing or remapping memory that devices may have seen.  Returns
 * the number of bytes unmapped (possibly more than len, since chunks go
 * whole).  Thread-safe.
 * Errors: -EINVAL NULL mm, len 0, or the range wraps or ends past
 * 2^64 - 4096 (its last page could not be rounded up); -ECHILD in a forked child.
 * An unmap the kernel refuses is logged and its chunk stays visible.
 */
long sva_mm_invalidate(struct sva_mm *mm, const void *addr, size_t len);

/*
 * The coherence fence: when it returns, every munmap(), mremap() and madvise()
 * of tracked memory that returned before the call has been withdrawn from mm
 * (the kernel lets munmap() return when the library has read its event, a
 * moment before the unmap reaches the IOAS).  Call it before submitting device
 * work on memory just freed or reused, when that matters.  It costs no system
 * call when no event is being applied and no madvise() range is pending.  It
 * also withdraws at once what device faults mapped over pending madvise()
 * ranges (libsva(7), "The REMOVE race"), but the ranges stay pending for their
 * 500 ms (another thread's madvise() of the same pages may still be running):
 * a fault there after the fence is withdrawn once more at the next check, and
 * the device faults again.  The calls that fence first (sva_bind,
 * sva_mm_prefault, sva_mem_free) do the same, also when they then fail: that
 * withdrawal is the fence's, not a change the failing call made.  On an address
 * space created untracked it returns 0 at once.  Thread-safe.  Errors: -EINVAL NULL mm;
 * -ECHILD in a forked child; -EIO tracking stopped (the library's thread
 * failed, or its userfaultfd was closed or replaced behind its back; logged
 * once): from then on call sva_mm_invalidate() yourself.  When it returns
 * -EIO, mm is already untracked and what was visible in it when tracking
 * stopped withdrawn (what calls mapped after the stop stays visible,
 * untracked); every later sva_mm_fence() on mm returns -EIO again, not 0
 * (sva_mm_prefault() maps untracked, or fails -EIO under SVA_MM_TRACK_STRICT;
 * sva_bind() and sva_mem_free() go on).
 */
int sva_mm_fence(struct sva_mm *mm);

/* sva_mm_stats.flags */
#define SVA_MM_STAT_TRACKED (1u << 0) /* coherence tracking is on for this address space */

struct sva_mm_stats {
	size_t size;		     /* sizeof(struct sva_mm_stats), set by the caller */
	uint32_t flags;		     /* SVA_MM_STAT_* */
	int untracked_reason;	     /* 0, or the negative errno why tracking is off
				      * (SVA_MM_UNTRACKED: -ENOTCONN), why the last
				      * untracked range could not be registered, or
				      * why tracking stopped (then kept for good) */
	uint64_t events;	     /* coherence events (UNMAP, REMOVE, REMAP ranges) applied */
	uint64_t bytes_withdrawn;    /* unmapped from the IOAS because of them */
	uint64_t bytes_rewithdrawn;  /* of which withdrawn again: mapped by a fault while a REMOVE was pending */
	uint64_t untracked_ranges;   /* maps made without tracking (default policy) */
	uint64_t untracked_bytes;    /* their bytes */
	uint64_t bytes_visible;	     /* mapped (pinned) in the IOAS now */
	/* Later fields (a smaller size, the first layout's, gets those above only): */
	uint64_t pin_budget;	     /* the budget in bytes (0: unbounded) */
	uint64_t bytes_pinned_peak;  /* the most bytes_visible has been */
	uint64_t bytes_prefaulted;   /* of bytes_visible, in prefaulted chunks (never
				      * evicted): those a prefault mapped, and each
				      * fault-mapped chunk a prefault's range
				      * overlaps, whole */
	uint64_t evictions;	     /* chunks withdrawn to stay within the budget */
	uint64_t bytes_evicted;	     /* their bytes */
	uint64_t refaults;	     /* faults on memory evicted before (counted per
				      * 64 KiB block, in a 1024-entry table blocks
				      * are hashed to: a floor) */
};

/*
 * Coherence counters of an address space (at one instant each, not as a
 * whole).  Thread-safe.  Errors: -EINVAL NULL mm or stats, or bad size.
 */
int sva_mm_stats(const struct sva_mm *mm, struct sva_mm_stats *stats);

/*
 * The IOVA (== virtual) ranges devices can reach through the address space, as
 * the kernel reports them now: what every device bound to it allows, PASID
 * bonds included.  *nr in and out as sva_dev_iova_ranges().  Thread-safe.
 * Errors: -EINVAL NULL mm (logged), NULL nr, or *nr > 0 with NULL ranges (not
 * logged);
 * -ENOSPC array too small (*nr is set to the count); -ECHILD in a forked
 * child; errors of IOMMU_IOAS_IOVA_RANGES passed through; in a broker context,
 * the broker's errors (libsva(7), Errors): -ECONNRESET also for a broker that
 * stopped and destroyed the address space (not the kernel's error about it),
 * -EPROTO for an isolated client's request the broker refused as naming no
 * IOAS of the client's (the broker's errno logged).  At most 64 ranges are reported.
 */
int sva_mm_iova_ranges(struct sva_mm *mm, struct sva_iova_range *ranges, size_t *nr);

/* ------------------------------------------------------------------- bonds */

/* sva_bind_opts.flags */
#define SVA_BIND_RID (1u << 0)	  /* bind the device's RID (requests without PASID) */
#define SVA_BIND_PINNED (1u << 1) /* no I/O page faults: prefaulted memory is visible,
				   * and what fault-capable bonds of the same mm
				   * faulted in (one IOAS) */
#define SVA_BIND_EXTRA_PASID (1u << 2) /* a further PASID on an address space the device
					* is already bound to: without SVA_BIND_PASID a
					* new private PASID (never the address space's
					* global PASID), with it opts->pasid; without
					* this flag that is -EEXIST */
#define SVA_BIND_PASID (1u << 3) /* bind under opts->pasid, a PASID the driver
				  * allocated (sva_dev_pasid_alloc()) */

/* An I/O page fault libsva could not resolve (answered INVALID). */
struct sva_fault_report {
	size_t size;	    /* sizeof(struct sva_fault_report) */
	struct sva_dev *dev;
	uint32_t pasid;	    /* SVA_PASID_RID for a request without PASID */
	uint32_t access;    /* SVA_ACCESS_* the device asked for */
	uint64_t addr;	    /* the faulting address (page-aligned on some IOMMUs) */
	int reason;	    /* why, as a negative errno: -EFAULT nothing mapped
			     * there; -EACCES the mapping does not allow the
			     * access; -ERANGE outside the device-reachable
			     * window; -EPERM a privileged request, or pages the
			     * kernel cannot pin; -ENOENT not visible in a private
			     * address space; -ENOMEM out of memory/RLIMIT_MEMLOCK
			     * (an isolated broker client: its isolated-pin-max);
			     * -EXDEV libsva's own memory (its objects and thread
			     * stacks), never device-visible; -ENXIO outside the
			     * allowed ranges of a SVA_MM_RESTRICTED address space;
			     * -EPROTO a page-request group naming more than one
			     * device or PASID (a faulty device); other errnos
			     * are passed through, such as -EBUSY of registering
			     * with userfaultfd in a SVA_MM_TRACK_STRICT address
			     * space (another userfaultfd has it), or in any
			     * address space for a page another userfaultfd has
			     * not supplied yet, -EMFILE reading
			     * /proc/self/maps with no descriptor free (sva_bind(3),
			     * Fault reports) */
	uint32_t reserved;  /* set to 0 by libsva: the room a later field
			     * takes (no hidden padding) */
};

struct sva_bond_stats {
	size_t size;		/* sizeof(struct sva_bond_stats), set by the caller */
	uint64_t faults;	/* fault records handled for this bond */
	uint64_t groups;	/* page-request groups answered */
	uint64_t invalid;	/* faults answered INVALID */
	uint64_t pages_mapped;	/* 4 KiB pages made visible by faults */
};

#define SVA_PASID_RID UINT32_MAX /* sva_bond_pasid() of a RID bond */

struct sva_bond_ops {
	size_t size; /* sizeof(struct sva_bond_ops) */
	/*
	 * The address space is going away for this bond (sva_unbind(),
	 * sva_mm_free(), sva_dev_close()): stop submitting work tagged with its
	 * PASID and drain the device before returning.  It may block.  Called
	 * exactly once per bond, with no libsva lock held, while the PASID is still
	 * attached; afterwards libsva detaches it and quarantines the PASID.
	 * sva_ctx_free() runs it for every bond of the context, and so does
	 * exit() (a destructor) for contexts still alive without
	 * SVA_CTX_NO_EXIT_TEARDOWN; after kill -9 nothing runs: the kernel
	 * detaches everything when the descriptors close (on the mock device,
	 * with kernel warnings: sva_dev_open_mock(3)).
	 *
	 * Inside mm_exit and fault_error, a call that binds, unbinds or frees
	 * could wait for the callback's own bond, so it is refused: sva_bind()
	 * and sva_unbind() return -EDEADLK (and so does
	 * sva_ctx_process_faults() inside fault_error only: in poll mode an
	 * mm_exit may have to answer its device's faults); sva_mm_free(), sva_dev_close() and sva_ctx_free() log an
	 * error and do nothing (the object stays valid: release it after the
	 * callback returns).  The refusal comes before every other check but
	 * that of a NULL object (libsva(7), Thread safety).  exit() from inside one skips the teardown of every
	 * bond (the kernel detaches them as the descriptors close).  Every other
	 * call is allowed (lookups, stats, PASID allocation, prefault,
	 * invalidate, fence), with the locks the callback's own code holds as
	 * the only limit.
	 */
	void (*mm_exit)(struct sva_bond *bond, void *drvdata);
	/*
	 * An I/O page fault of this bond could not be resolved.  Called once for
	 * the record that failed and once for each later record of its
	 * page-request group (the whole group is answered INVALID; records of the
	 * group resolved before the failure are not reported).  Runs on the fault
	 * thread (or in sva_ctx_process_faults() in poll mode) inside a batch of
	 * the fault engine: the calls that would wait for it are refused, as
	 * in mm_exit above.  May be NULL.
	 */
	void (*fault_error)(struct sva_bond *bond, const struct sva_fault_report *report, void *drvdata);
};

struct sva_bind_opts {
	size_t size;			 /* sizeof(struct sva_bind_opts); a caller built
					  * before `pasid` passes the smaller size */
	uint32_t flags;			 /* SVA_BIND_* */
	enum sva_pasid_policy policy;	 /* which space the PASID comes from;
					  * ignored (not checked) with
					  * SVA_BIND_RID or SVA_BIND_PASID */
	void *drvdata;			 /* returned by lookups and passed to ops */
	const struct sva_bond_ops *ops; /* may be NULL; copied at bind */
	uint32_t pasid;			 /* with SVA_BIND_PASID: the value to bind
					  * under (policy is ignored); else 0 */
	uint32_t reserved;		 /* 0: the room a later field takes (no
					  * hidden padding) */
};

/*
 * Bind mm to dev under a PASID (or to its RID with SVA_BIND_RID): devices
 * then reach mm's memory by virtual address.  Which PASID:
 *  - GLOBAL, or AUTO on a device that covers the global range: the address
 *    space's global PASID.  Its first such bind allocates it; binds of mm on
 *    other devices of the context bind under the same value (one PASID for one
 *    address space on every device, as the kernel's SVA gives an mm).  It
 *    stays allocated while any bond uses it; the last sva_unbind()
 *    quarantines and releases it.  One a failed detach retired (sva_unbind())
 *    is joined by no later bind: the next one allocates a new global PASID.  A GLOBAL bind on a device that does not
 *    cover the global range is refused (-ERANGE, nothing changed); AUTO there
 *    takes a number of the device's own space.
 *  - DEVICE, or SVA_BIND_EXTRA_PASID without SVA_BIND_PASID: a new private
 *    PASID of the bond.
 *  - SVA_BIND_PASID: opts->pasid, a PASID the driver allocated with
 *    sva_dev_pasid_alloc() (from dev's space or the global one, through dev
 *    or another device), or the address space's global PASID.  The driver
 *    keeps owning its PASID: it cannot free it while bonds use it (-EBUSY),
 *    and after the last unbind it is allocated again with the driver's
 *    drvdata.  Several devices may bind under one value, to one address space.
 * Without SVA_BIND_PINNED the bond
 * resolves the device's I/O page faults through the context's fault engine
 * (the device and its IOMMU must support PRI/stall; otherwise the attach
 * fails and the bind with it).  Thread-safe.
 * Errors: -EINVAL NULL dev, mm or out, bad opts (NULL opts means a
 * fault-capable bind), dev and mm in different contexts; -ENODEV/-EOPNOTSUPP/-EINVAL from the attach of a
 * fault-capable bind: the device or its IOMMU cannot take page faults (bind
 * with SVA_BIND_PINNED); -EINVAL also from the attach of a PASID bind, pinned
 * ones included, where VFIO cannot attach PASIDs (before Linux 6.15); -ENOTTY
 * a kernel without iommufd fault queues (before 6.11); -EMFILE/-ENFILE/-EAGAIN
 * creating the fault queue or thread; -EBADFD a fault-capable bind in a context
 * whose fault thread stopped (sva_ctx_fault_health() says why) or whose queue
 * descriptor was closed behind libsva's back: nothing would answer; -EEXIST
 * dev already has a PASID bond on mm (pass SVA_BIND_EXTRA_PASID for another);
 * -EOPNOTSUPP PASID bind on a device without PASID support, or a RID bind on
 * a device with PASIDs opened through sva-brokerd (its RID is the broker's; a
 * device without PASIDs is lent whole, RID binds only); -ECONNRESET sva-brokerd, through
 * which the device was opened, went away; -EBUSY the RID is
 * already bound; -ENOSPC no PASID left (logged at debug level only, as every
 * exhaustion: see libsva(7)), or, through sva-brokerd, the client has 64
 * PASIDs attached already (the broker's limit: logged at error level);
 * -ERANGE the policy has no space to allocate from on this device (GLOBAL on
 * a device that does not cover the global range, DEVICE on one with no own
 * range; refused before anything is made, the fault queue included, as is
 * every -ERANGE of SVA_BIND_PASID below); -EADDRINUSE memory already
 * visible in mm overlaps a range the device reserves (the MSI window) or lies
 * outside its aperture: invalidate it first; -EFAULT the first device of an
 * untracked mm, with prefaulted memory no longer mapped in the process
 * (invalidate it first); -ECHILD in a forked child;
 * -ENOMEM; errors of the kernel's HWPT allocation and attach; in a broker
 * context, the broker's errors (libsva(7), Errors): -EPROTO a reply that
 * broke the protocol (what the broker sent is logged, and the PASID detached
 * at the broker again) or an attach the broker refused as not the client's
 * (its errno logged), -EIO a request the socket took only part of; nothing
 * is left bound.  With
 * SVA_BIND_PASID: -ENOENT opts->pasid is not allocated in the space dev
 * routes it to; -EBUSY it is bound to another address space, is another
 * bond's private PASID, was retired by a failed detach (a driver's value, or
 * one a bind allocated while other bonds still use it: sva_unbind(); once its
 * last bond is gone, one a bind allocated is -ENOENT: in quarantine for good), or
 * dev already has a bond under it (one on mm itself
 * is -EEXIST, as above, unless SVA_BIND_EXTRA_PASID); -ERANGE it is
 * outside dev's reach (0, beyond its PASID width or its own range as
 * sva_dev_set_pasid_range() may have narrowed it, a global value on a device
 * that does not cover the global range, above the global range, or below the
 * global range on a device with no own space); -EINVAL with SVA_BIND_RID, or opts->pasid set without
 * SVA_BIND_PASID.  SVA_BIND_EXTRA_PASID with SVA_BIND_RID is -EINVAL; with
 * SVA_BIND_PASID it only allows the further bond: the PASID is opts->pasid,
 * even the address space's global one.  -EDEADLK called from an mm_exit, fault_error or log
 * callback (sva_ctx_set_log(3)): only a NULL dev or mm comes before it, every
 * other -EINVAL (NULL out included) and -ECHILD after (libsva(7), Thread safety).
 * A failed bind leaves the device, the address space and
 * every PASID as they were.
 */
int sva_bind(struct sva_dev *dev, struct sva_mm *mm, const struct sva_bind_opts *opts, struct sva_bond **out);

/*
 * Tear a bond down: its mm_exit, detach of its PASID on its device, and, if it
 * was the last bond under that value, quarantine of the PASID, released at
 * once (every mm_exit under it has returned); a PASID the driver allocated
 * (SVA_BIND_PASID) goes back to the driver instead.  The bond is freed when
 * it returns.  Not thread-safe against other calls on the bond; an
 * sva_mm_free(), sva_dev_close() or sva_ctx_free() meanwhile waits for it.
 * Errors: -EINVAL NULL bond, or it is already being torn down; -EDEADLK
 * called from an mm_exit, fault_error or log callback (nothing done; only a
 * NULL bond comes before it, -ECHILD and the teardown's -EINVAL after); -EIO the
 * device (or, in a broker context, the broker, whatever its error) refused
 * to detach: the bond is gone all the same, but the device may still reach
 * the address space, so its PASID is never handed out again
 * (quarantined for good, or, for SVA_BIND_PASID, kept away from the driver)
 * and its HWPT stays until the context's iommufd closes; sva_dev_close()
 * retries the detach; -ECHILD in a forked child.
 */
int sva_unbind(struct sva_bond *bond);

/* The bond's PASID, or SVA_PASID_RID (a RID bond, or NULL).  Thread-safe. */
uint32_t sva_bond_pasid(const struct sva_bond *bond);

/* The bond's drvdata (NULL for NULL).  Thread-safe. */
void *sva_bond_drvdata(const struct sva_bond *bond);

/*
 * Fault counters of a bond.  `faults` is updated last: once it counts a fault,
 * the other counters and the fault_error report of that fault are visible, so
 * waiting for `faults` to reach N and then reading `invalid` is reliable.
 * Thread-safe.  Errors: -EINVAL NULL or bad size.
 */
int sva_bond_stats(const struct sva_bond *bond, struct sva_bond_stats *stats);

/* ------------------------------------------------------------ fault engine */

/*
 * Fault-capable bonds of a context share one iommufd fault queue.  By default a
 * library thread waits on it (io_uring, or poll(2) where io_uring is not
 * available) and resolves faults by mapping the faulting pages at IOVA == VA.
 * With SVA_CTX_FAULT_POLL there is no thread: watch sva_ctx_fault_fd() for
 * POLLIN and call sva_ctx_process_faults().
 */

/*
 * The fault queue's fd (created on first use; owned by the context) for poll
 * mode.  Thread-safe.  Errors: -EINVAL NULL ctx, or the context runs a fault
 * thread; -ENOTTY a kernel without iommufd fault queues (before 6.11);
 * -EMFILE/-ENFILE no file descriptor free for the queue; -EBADFD the queue's
 * descriptor was closed behind libsva's back (sva_ctx_process_faults() found
 * it so); -ENOMEM; -ECHILD in
 * a forked child; other errors of IOMMU_FAULT_QUEUE_ALLOC passed through; in
 * a broker context, the broker's errors (libsva(7), Errors).
 */
int sva_ctx_fault_fd(struct sva_ctx *ctx);

/*
 * Is the context's fault engine serving faults?  0: yes, or nothing needs it
 * yet (no fault-capable bind so far, or poll mode, where the caller runs it).
 * Otherwise the fault thread has stopped: waiting on the queue failed and
 * faults are no longer answered (the devices wait until their PASIDs detach);
 * the error is the negative errno that stopped it, logged when it happened.
 * Thread-safe, lock-free (but for the log line of a NULL ctx).  Errors:
 * -EINVAL NULL ctx; the errno that stopped
 * the thread: -EBADF its queue's descriptor was closed behind libsva's back,
 * -ENOMEM from poll(2), or another error of the wait.  (Its wake-up eventfd
 * closed behind libsva's back does not stop it, and the teardown still stops
 * it: at once through a futex word its io_uring wait waits on (Linux 6.7 and
 * later), within a second by a tick otherwise.)  After a stop, fault-capable
 * binds are refused.
 */
int sva_ctx_fault_health(const struct sva_ctx *ctx);

/*
 * Resolve at most `max` pending faults (whole page-request groups, so a group
 * may take it past max) and answer them.  It never waits for faults (read()
 * on the queue does not block); it may wait for a concurrent call or for an
 * address space's lock.  Returns the number of fault records handled (0: none
 * pending).  Thread-safe (calls serialize).  Errors: -EINVAL NULL ctx, max
 * 0, or the context runs a fault thread; -ECHILD in a forked child; -ENOMEM
 * growing the read buffer for a large group; -E2BIG a page-request group of
 * more than 65536 records waits in the queue, which cannot be read (a group
 * of 4097 to 65536 records is answered INVALID unresolved and logged, without
 * fault_error or bond counters, and counts in the return value);
 * -EDEADLK called from a fault_error or log callback, in either mode and
 * whatever max is (it runs inside a batch; only a NULL ctx comes before it,
 * then max 0, the mode, -ECHILD: the rule of every call refused inside a
 * callback, libsva(7) Thread safety); -EBADF the queue's descriptor was closed behind libsva's back, or
 * its number is another file's as far as fstat() and /proc/self/fd tell,
 * checked where a drain ends and on rare paths, not per batch (a read of 0
 * bytes, a read error, a record that names no device: not another context's
 * queue, nor a file whose read blocks, see the page);
 * fault-capable binds and sva_ctx_fault_fd() are refused from then on, and
 * the number is left open at teardown;
 * other errors of
 * reading the fault queue, when nothing was handled.  A failed answer is logged, not
 * returned: the kernel answers it INVALID when the PASID detaches.
 */
int sva_ctx_process_faults(struct sva_ctx *ctx, unsigned max);

/* ------------------------------------------------------- memory placement */

/* sva_mem_opts.flags */
#define SVA_MEM_HUGE (1u << 0)	   /* 2 MiB aligned and rounded, on 2 MiB pages where possible:
				    * hugetlb if enough are free (on the nodes the caller's
				    * own memory policy allows), else THP (MADV_HUGEPAGE) */
#define SVA_MEM_PREFAULT (1u << 1) /* make all of it visible in opts->mm at once */
#define SVA_MEM_NODE (1u << 2)	   /* prefer opts->numa_node (else: opts->dev's node) */
#define SVA_MEM_ANY_NODE (1u << 3) /* no NUMA placement at all */

struct sva_mem_opts {
	size_t size;	     /* sizeof(struct sva_mem_opts) */
	uint32_t flags;	     /* SVA_MEM_* */
	int numa_node;	     /* with SVA_MEM_NODE, the node whose memory to prefer
			      * (MPOL_PREFERRED); ignored otherwise.  Without either
			      * node flag the memory prefers opts->dev's node (none
			      * if that is unknown, there is no device, or mbind()
			      * refuses it: never the call's error). */
	struct sva_dev *dev; /* whose node, and whose window while its RID is
			      * attached; may be NULL */
	struct sva_mm *mm;   /* whose window (its IOVA ranges now) the memory must
			      * sit in, and where SVA_MEM_PREFAULT maps it; may be NULL */
};

/*
 * Allocate len bytes (rounded up to the page size, or 2 MiB) of zeroed
 * anonymous read-write memory at the lowest free virtual addresses inside the
 * window: the IOVA ranges of opts->mm, narrowed to those of the address space
 * opts->dev's RID is attached to, as the kernel reports them now (neither: the
 * whole user address space), so IOVA == VA works for it.  Bind first, then
 * allocate.  NULL opts: no mm, no device, no placement.  In a
 * SVA_MM_RESTRICTED opts->mm the memory is allowed (sva_mm_allow()).  Free it
 * with sva_mem_free() only.  Thread-safe.
 * Errors: -EINVAL len 0, NULL out, bad opts (size, unknown flags, both node
 * flags, SVA_MEM_NODE with a negative numa_node, SVA_MEM_PREFAULT without
 * opts->mm), or opts->dev and opts->mm in different contexts; -EOPNOTSUPP
 * opts->mm or opts->dev belongs to an isolated broker context (its devices
 * reach only shared memfds: sva_ctx_share_memfd()); -ENOSPC no free range of that size inside the window (debug
 * level only); -ENODEV the SVA_MEM_NODE node does not exist
 * or has no memory this process may use; -ECHILD in a forked child (with
 * opts->mm or opts->dev); -ENOMEM; errors of sva_mm_prefault() with
 * SVA_MEM_PREFAULT; errors of reading /proc/self/maps and of
 * IOMMU_IOAS_IOVA_RANGES, mmap() and mbind() passed through (it sends the
 * broker nothing itself: a broker context adds only what sva_mm_prefault()
 * returns there).  On failure nothing stays
 * mapped (in a restricted opts->mm, a failed undo can leave the range
 * allowed: see the page).
 */
int sva_mem_alloc(size_t len, const struct sva_mem_opts *opts, void **out);

/*
 * Free memory from sva_mem_alloc(): deny it in mm if mm is SVA_MM_RESTRICTED
 * (sva_mm_deny()), unmap it (no lock held across munmap()),
 * then, unless mm is NULL, wait as sva_mm_fence() does and withdraw it from mm
 * as sva_mm_invalidate() does.  Unmapping first keeps a device from faulting
 * the old pages back in.  len is the length asked for or the rounded one.
 * Thread-safe.  Errors: -EINVAL NULL addr, len 0, addr not returned by
 * sva_mem_alloc() (or already freed, or being freed) or len not its length;
 * -ECHILD mm, in a forked child; -ENOMEM denying it in a restricted mm needed
 * memory (nothing changed); errors of munmap() passed through (the memory
 * stays allocated, and in a restricted mm allowed again, or still denied if
 * allowing it ran out of memory).
 */
int sva_mem_free(struct sva_mm *mm, void *addr, size_t len);

/*
 * Find dev's bond under pasid and its drvdata; pasid SVA_PASID_RID finds a RID
 * bond.  One global PASID may have a bond on each of several devices: this
 * finds dev's, and -ENOENT on a device with none under it.  Lock-free (no lock,
 * no wait except for a bind or unbind of that very value on another thread,
 * between two stores: the binding thread holds signals off across them, so a
 * signal handler that interrupted it does not wait) and safe against a concurrent sva_unbind(): the lookup reads
 * the pair from dev's own table and never dereferences the bond, and that
 * table is freed only by sva_dev_close() (a lookup that misses reads the
 * device's own PASID space, whose table sva_dev_set_pasid_range() replaces:
 * no lookup may overlap that call).  The pair is one that was
 * published at some instant during the call.  The bond pointer is valid
 * until sva_unbind() of that bond returns (it frees the bond); a caller that
 * may race an unbind may compare it but must not pass it to a libsva call
 * unless it holds something the bond's mm_exit waits for (mm_exit runs
 * before the bond is freed).  The drvdata is the caller's to keep alive.
 * Errors: -ENOENT no bond there; -ERANGE/-EOPNOTSUPP the PASID cannot exist
 * on this device; -EINVAL NULL dev.
 */
int sva_dev_bond_lookup(struct sva_dev *dev, uint32_t pasid, struct sva_bond **bond, void **drvdata);

#ifdef __cplusplus
}
#endif

#endif /* SVA_SVA_H */
