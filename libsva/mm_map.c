/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The map primitives of an address space: map the gaps of a range at IOVA ==
 * VA (registered for tracking first), record the chunks, and take a failed
 * call's maps back.  Below every caller that maps (mm.c, upgrade.c, the pin
 * budget's fault windows): what a map reports goes down, to the accounting
 * (pin_account.c) and withdrawal (withdraw.c), never back up to a caller
 * (docs/design.md, "Layers").
 */
#include <errno.h>
#include <fcntl.h>
#include <unistd.h>
#include <sys/mman.h>

#include "broker_share.h"
#include "internal.h"
#include "kabi.h"
#include "track.h"
#include "withdraw.h"

/*
 * Register [start, end) with the process's userfaultfd (map_lock held), trying
 * the whole VMA [rs, re) first: one registration per VMA keeps the kernel from
 * splitting it at every chunk.  The last range registered is remembered until
 * the next UNMAP or REMAP (sva_vma_gen()), so repeated maps there cost no
 * system call.
 */
#ifdef SVA_TEST_HOOKS
/* Tests only (libsva-test): called before a registration, with its range. */
void (*sva_test_register_hook)(uint64_t start, uint64_t end);
#endif

static int register_locked(struct sva_mm *mm, uint64_t rs, uint64_t re, uint64_t start, uint64_t end)
{
	unsigned gen = sva_vma_gen();
	uint64_t qs = 0, qe = 0;
	int ret;

	if (mm->reg_gen == gen && start >= mm->reg_start && end <= mm->reg_end)
		return 0;
#ifdef SVA_TEST_HOOKS
	if (sva_test_register_hook)
		sva_test_register_hook(rs, re);
#endif
	/*
	 * [rs, re) comes from a read of the mappings that another thread may
	 * have made stale since (unmapped and mapped again there; a retry
	 * passes [start, end) alone), and registering part of a mapping
	 * splits it for good: its mremap() then fails with EFAULT, and on
	 * kernels that move several mappings in one call the move stops
	 * half done (review Z66).  The mapping that holds [start, end) now is
	 * registered whole; where PROCMAP_QUERY is missing, [rs, re) as given.
	 * Nothing at start now is the race (below): registering the old bounds
	 * would take part of whatever the other thread maps there next.
	 */
	int q = sva_vma_query_bounds(mm->maps_fd, start, &qs, &qe);

	for (int tries = 0;; tries++) {
		if (q == -EFAULT)
			return -EFAULT;
		if (!q && qs <= start && end <= qe) {
			rs = qs;
			re = qe;
		}
		ret = sva_track_register(rs, re);
		if (!ret || (rs == start && re == end))
			break;
		/* The whole mapping refused: it may have been replaced
		 * meanwhile, by one of the same bounds too (then again, with
		 * what is there now: a new mapping is never another
		 * userfaultfd's, so not for EBUSY), or cannot be registered
		 * whole (then, after three tries, [start, end) alone).  The
		 * next try registers these bounds: one query per try. */
		q = sva_vma_query_bounds(mm->maps_fd, start, &qs, &qe);
		if (q == -EFAULT)
			return -EFAULT;
		if (tries < 2 && !q && (ret == -EINVAL || ret == -ENOMEM))
			continue;
		rs = start;
		re = end;
		ret = sva_track_register(rs, re);
		break;
	}
	/*
	 * UFFDIO_REGISTER registers the mappings it finds in the range and
	 * accepts holes: a range described by a copy of the mappings read
	 * before another thread unmapped [start, end) registers what is left
	 * around it.  That munmap() sent no event (nothing was registered
	 * there yet), so nothing will withdraw what would be mapped now; and
	 * with no device bound, IOMMU_IOAS_MAP pins nothing and would not
	 * notice.  Mapped now, [start, end) is registered: a later unmap sends
	 * an event.  Not mapped: the race, -EFAULT, and no record of it.
	 */
	if (!ret && !sva_vma_range_mapped(start, end))
		return -EFAULT;
	if (!ret) {
		mm->reg_start = rs;
		mm->reg_end = re;
		mm->reg_gen = gen;
	}
	return ret;
}

/* A range mapped without tracking (the default policy): counted, logged once. */
static void note_untracked_locked(struct sva_mm *mm, uint64_t start, uint64_t end, int why)
{
	mm->untracked_reason = why;
	atomic_fetch_add_explicit(&mm->st_untracked_ranges, 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&mm->st_untracked_bytes, end - start, memory_order_relaxed);
	if (!mm->untracked_logged && !mm->log_untracked) {
		mm->log_untracked = true;
		atomic_store_explicit(&mm->reap_hint, true, memory_order_relaxed);
		mm->untracked_at[0] = start;
		mm->untracked_at[1] = end;
	}
}

#ifdef SVA_TEST_HOOKS
/* Tests only (libsva-test): the next IOAS map fails with this negative errno,
 * after sva_test_ioas_map_skip maps went through.  One-shot; 0: none. */
int sva_test_ioas_map_fail;
int sva_test_ioas_map_skip;
/* Called before every IOAS map (map_lock held). */
void (*sva_test_ioas_map_hook)(void);
#endif

/* IOMMU_IOAS_MAP at IOVA == VA with the VMA's permissions: 0 or -errno. */
static int ioas_map(struct sva_mm *mm, const struct sva_vma *v, uint64_t start, uint64_t end)
{
	uint32_t flags = KABI_IOMMU_IOAS_MAP_FIXED_IOVA;

#ifdef SVA_TEST_HOOKS
	if (sva_test_ioas_map_hook)
		sva_test_ioas_map_hook();
	if (sva_test_ioas_map_fail && sva_test_ioas_map_skip > 0) {
		sva_test_ioas_map_skip--;
	} else if (sva_test_ioas_map_fail) {
		int ret = sva_test_ioas_map_fail;

		sva_test_ioas_map_fail = 0;
		return ret;
	}
#endif

	if (v->prot & SVA_PROT_READ)
		flags |= KABI_IOMMU_IOAS_MAP_READABLE;
	if (v->prot & SVA_PROT_WRITE)
		flags |= KABI_IOMMU_IOAS_MAP_WRITEABLE;
	return sva_iommufd_ioas_map(mm->ctx->fd, mm->ioas_id, start, end - start, start, flags);
}

/*
 * A registration of [start, end) failed with err (map_lock held).  It says
 * either "nothing is mapped there" (another thread is unmapping or replacing
 * the range) or "userfaultfd cannot track this mapping" (another userfaultfd
 * has it, VM_PFNMAP, a file-backed private mapping on an old kernel...).
 * Only the second may be mapped (untracked, or refused: the policy's call):
 * a mapping that appeared after the failed registration is not registered,
 * its munmap() would send no event, and the device would keep its pages.
 * Only "nothing there" (EINVAL, or ENOMEM on old kernels) can be the race;
 * EBUSY (another userfaultfd) and the rest are the mapping's at once.  It is
 * tried three times while the range is mapped; a hole at any point, or
 * private anonymous memory (which can always be registered, MAP_DROPPABLE
 * memory aside) failing all three, is the race: -EFAULT, nothing mapped (a
 * fault is answered as at any unmapped address, a prefault fails as when the
 * process changes its mappings under it).  Only another kind of mapping is
 * taken at its word; a thread that replaces one in a tight loop can still be
 * mistaken for it.  0: registered now; -EIO: the userfaultfd is gone (the
 * caller's case).
 */
static int settle_registration(struct sva_mm *mm, uint64_t start, uint64_t end, int err)
{
	int anon;

	for (int i = 0; i < 3 && (err == -EINVAL || err == -ENOMEM); i++) {
		if (!sva_vma_range_mapped(start, end))
			return -EFAULT;
		err = register_locked(mm, start, end, start, end);
	}
	if (err != -EINVAL && err != -ENOMEM)
		return err;
	if (!sva_vma_range_mapped(start, end))
		return -EFAULT;
	/* Mapped a moment ago and nothing there now (-EFAULT) is the race too. */
	anon = sva_vma_query_private_anon(mm->maps_fd, start, end);
	return anon == 1 || anon == -EFAULT ? -EFAULT : err;
}

/*
 * A map the kernel refused with EFAULT: the range changed under us (-EFAULT:
 * part of it is unmapped now, or the monitor had read events it had not
 * applied yet (an odd seq0: the registration record may describe a mapping
 * that is gone, so a new one went unregistered, and then unmapped without an
 * event), or it read one since, or the memory is private anonymous, which
 * can always be pinned but for guard regions, MADV_GUARD_INSTALL), or its
 * pages cannot be pinned (-EPERM: PFNMAP, device memory, secretmem).  An
 * unrelated munmap() elsewhere in the process at the same moment makes the
 * second read as the first.
 */
static int map_refused(struct sva_mm *mm, int ret, uint64_t start, uint64_t end, uint32_t seq0)
{
	int anon;

	if (ret != -EFAULT)
		return ret;
	/* An isolated broker client's map is the broker's IOMMU_IOAS_MAP_FILE of
	 * a memfd, whose pages can always be pinned: its -EFAULT is the broker's
	 * "not inside a shared range" (an unshare that raced the caller's check). */
	if (sva_broker_ctx_isolated(mm->ctx))
		return -EFAULT;
	if ((seq0 & 1) || sva_track_seq() != seq0 || !sva_vma_range_mapped(start, end))
		return -EFAULT;
	anon = sva_vma_query_private_anon(mm->maps_fd, start, end);
	return anon == 0 || anon == -EOPNOTSUPP ? -EPERM : -EFAULT;
}

/*
 * Would pinning every page of [start, end) of another userfaultfd's mapping
 * go through without its handler?  Only if each page is in this mapping's page
 * table (/proc/self/pagemap: present), and, for a writable mapping (libsva
 * maps with the mapping's permissions, so the pin is a write), not
 * write-protected by that userfaultfd (the uffd-wp bit, Linux 5.13).  A page
 * not supplied yet (missing mode), in memory but not mapped here (minor mode)
 * or write-protected would make the pin wait for the application's handler.
 * Swapped-out pages are refused too.  Without pagemap (no /proc, or a seccomp
 * filter), mincore(2): in memory, which catches missing mode only.
 */
#define PAGEMAP_PRESENT (1ull << 63)
#define PAGEMAP_UFFD_WP (1ull << 57)

static bool supplied(uint64_t start, uint64_t end, bool writable)
{
	int fd = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);

	if (fd < 0) {
		unsigned char vec;

		for (uint64_t a = start; a < end; a += 4096)
			if (mincore((void *)(uintptr_t)a, 4096, &vec) || !(vec & 1))
				return false;
		return true;
	}
	for (uint64_t a = start; a < end; a += 4096) {
		uint64_t e;

		if (pread(fd, &e, sizeof(e), (off_t)(a / 4096 * sizeof(e))) != (ssize_t)sizeof(e) ||
		    !(e & PAGEMAP_PRESENT) || (writable && (e & PAGEMAP_UFFD_WP))) {
			close(fd);
			return false;
		}
	}
	close(fd);
	return true;
}

/*
 * Register [rs, re) (settled, see above), for a map of [start, end) inside
 * it.  Returns 0 when the map may be made, or the registration's refusal;
 * *untracked: the registration error the policy maps through (0:
 * registered); *pinned: the map is to be tried (an -EFAULT is then the
 * kernel's, not the settling's).
 */
static int register_for_map(struct sva_mm *mm, const struct sva_vma *v, bool tracked, bool fault, bool faulting,
			    uint64_t rs, uint64_t re, uint64_t start, uint64_t end, int *untracked, bool *pinned)
{
	int reg = tracked ? register_locked(mm, rs, re, start, end) : 0;

	*untracked = 0;
	*pinned = false;
	if (reg && reg != -EIO)
		reg = settle_registration(mm, start, end, reg);
	if (reg == -EFAULT)
		return -EFAULT;
	/*
	 * Another userfaultfd has the mapping: pinning a page its owner has
	 * not supplied waits for the owner's handler (and sends it a request
	 * for a page nobody touched).  A fault pins no neighbours: in a window
	 * of more than its page (`fault`), -EBUSY tells the fault path to map
	 * the page alone.  Nor its own page while that is not in memory
	 * (`faulting`): the pin would wait for the owner's handler with
	 * map_lock held, inside a batch that every other fault of the context,
	 * every unbind and close, and the monitor (so every munmap of tracked
	 * memory) then waits for; nor one the owner write-protects or handles
	 * in minor mode (supplied()).
	 */
	if (reg == -EBUSY && (fault || (faulting && !supplied(start, end, v->prot & SVA_PROT_WRITE))))
		return -EBUSY;
	/* Our userfaultfd's number is another file's now, the monitor
	 * failed and its walk has not come here yet, or it was stopped at
	 * exit while this address space still maps (no error then: -EBADF is
	 * the reason given): tracking is over here too, for the reason the
	 * walk would give. */
	if (reg == -EIO) {
		int why = sva_track_error();

		sva_mm_tracking_lost_locked(mm, why ? why : -EBADF);
		if (mm->flags & SVA_MM_TRACK_STRICT)
			return -EIO;
		reg = 0; /* mapped as any address space whose tracking stopped */
	}
	if (reg && (mm->flags & SVA_MM_TRACK_STRICT)) {
		mm->untracked_reason = reg;
		return reg;
	}
	*untracked = reg;
	*pinned = true;
	return 0;
}

/*
 * Map one gap at IOVA == VA (map_lock held): registered first, then recorded
 * and mapped (the record taken out again if the map fails).  Returns 0 or the raw -errno (map_error() explains it).
 * The range is mapped registered, or untracked where userfaultfd cannot
 * track it and the policy allows, not a mapping that merely raced a failed
 * registration (settle_registration(); a registration that succeeded over a
 * hole another thread fills before the pin is the limit, sva_mm_prefault(3)).
 * A pin the kernel refused while the range is mapped again is the same race
 * (unmapped and mapped again in between), tried up to three times in all
 * before it counts as memory that cannot be pinned.
 */
static int map_gap(struct sva_mm *mm, const struct sva_vma *v, uint64_t start, uint64_t end, uint32_t chunk_flags,
		   bool fault, bool faulting)
{
	bool tracked = atomic_load_explicit(&mm->tracked, memory_order_relaxed);
	int reg, ret;
	struct sva_chunk *c;

	/* The monitor stopped (mm->lost): a strict address space maps nothing
	 * more, since nothing would follow it; the others map untracked. */
	if (!tracked && mm->lost && (mm->flags & SVA_MM_TRACK_STRICT))
		return -EIO;
	/* The whole mapping when known (a prefault's part of one): registering
	 * part of a mapping would split it, and a split mapping no longer
	 * mremap()s whole or maps in one chunk.  A second attempt trusts v no
	 * more: only [start, end) itself. */
	bool whole = v->whole_end && v->whole_start <= start && end <= v->whole_end, pinned;
	uint32_t seq0 = sva_track_seq();

	/*
	 * The chunk goes into the table before the map, taken out again if
	 * the map fails: map_lock is held from the table's search to here, so
	 * no one sees it early, and the insert touches the nodes the search
	 * has just read.  After the kernel's map path those lines are cold
	 * again (under emulation, 0.1-0.2 us each), and the insert touched
	 * one or two per level: most of what the insert cost (docs/design.md,
	 * "Fault figures").  Registration comes first: a registration that
	 * ends tracking withdraws the table's chunks.
	 */
	c = NULL;
	for (int attempt = 0;; attempt++) {
		ret = register_for_map(mm, v, tracked, fault, faulting, attempt ? start : whole ? v->whole_start : v->start,
				       attempt ? end : whole ? v->whole_end : v->end, start, end, &reg, &pinned);
		if (!ret) {
			c = sva_chunks_insert(&mm->chunks, start, end,
					      (v->prot & (SVA_PROT_READ | SVA_PROT_WRITE)) | chunk_flags);
			if (!c)
				return -ENOMEM; /* nothing mapped */
			ret = ioas_map(mm, v, start, end);
			if (ret) {
				sva_chunks_remove(&mm->chunks, start);
				c = NULL;
			}
		}
		if (ret != -EFAULT || attempt == 2 || !sva_vma_range_mapped(start, end))
			break;
	}
	if (ret == -EEXIST)
		return 0; /* mapped behind our back (raw ioctls on our IOAS): visible is what counts */
	if (ret)
		return pinned ? map_refused(mm, ret, start, end, seq0) : ret;
	if (reg) /* counted once it stays mapped */
		note_untracked_locked(mm, start, end, reg);
	/* Read again: a registration that found our userfaultfd's number
	 * given away stopped tracking in this very call (register_for_map()),
	 * and this map, made after the stop, is untracked as every later one. */
	if (!atomic_load_explicit(&mm->tracked, memory_order_relaxed) && mm->lost) {
		/* counted as untracked; the loss was logged once */
		atomic_fetch_add_explicit(&mm->st_untracked_ranges, 1, memory_order_relaxed);
		atomic_fetch_add_explicit(&mm->st_untracked_bytes, end - start, memory_order_relaxed);
	}
	if (chunk_flags & SVA_CHUNK_SUSPECT)
		sva_mm_note_suspect_locked(mm);
	atomic_fetch_add_explicit(&mm->st_visible, end - start, memory_order_relaxed);
	sva_pin_mapped_locked(mm, c);
	return 0;
}

/* Take back every map an undo list recorded (a failed all-or-nothing call). */
void sva_mm_undo_locked(struct sva_mm *mm, struct sva_map_undo *undo)
{
	pthread_mutex_lock(&mm->map_lock);
	for (size_t i = 0; i < undo->n; i++)
		sva_mm_withdraw_locked(mm, undo->r[i][0], undo->r[i][1], NULL);
	pthread_mutex_unlock(&mm->map_lock);
	undo->n = 0;
}

int sva_mm_map_gaps_locked(struct sva_mm *mm, const struct sva_vma *v, uint64_t start, uint64_t end, unsigned how,
			   struct sva_map_undo *undo, uint64_t *mapped, uint64_t fail[2])
{
	uint64_t pos = start, now = 0;
	struct sva_chunk *c;
	int ret = 0;

	pthread_mutex_lock(&mm->map_lock);
	if ((how & SVA_MAP_FAULT) && mm->nremoves)
		now = sva_now_ns(); /* only a fault over a pending REMOVE needs the time */
	c = sva_chunks_after(&mm->chunks, start);
	while (pos < end) {
		uint64_t gap_end = end;

		if (c && c->start <= pos) {
			pos = c->end; /* already visible */
			c = sva_chunks_next(c);
			continue;
		}
		if (c && c->start < gap_end)
			gap_end = c->start;
		if (undo->n == ARRAY_SIZE(undo->r)) {
			ret = -E2BIG;
			break;
		}
		/* A window of more than the faulting page: any gap of it may be
		 * a neighbour, however small the gap (register_for_map()). */
		ret = map_gap(mm, v, pos, gap_end,
			      sva_pin_chunk_flags(how) | (now ? sva_mm_remove_pending_locked(mm, pos, gap_end, now) : 0),
			      (how & SVA_MAP_AROUND) && end - start > 4096, how & SVA_MAP_FAULT);
		if (ret) {
			if (fail) {
				fail[0] = pos;
				fail[1] = gap_end;
			}
			break;
		}
		undo->r[undo->n][0] = pos;
		undo->r[undo->n][1] = gap_end;
		undo->n++;
		if (mapped)
			*mapped += gap_end - pos;
		pos = gap_end;
		/* A fault's window is most often one gap: no second search then. */
		if (pos < end)
			c = sva_chunks_after(&mm->chunks, gap_end);
	}
	pthread_mutex_unlock(&mm->map_lock);
	return ret;
}

bool sva_mm_visible_unmapped(struct sva_mm *mm)
{
	bool found = false;

	pthread_mutex_lock(&mm->map_lock);
	for (struct sva_chunk *c = sva_chunks_after(&mm->chunks, 0); c && !found; c = sva_chunks_next(c))
		found = !sva_vma_range_mapped(c->start, c->end);
	pthread_mutex_unlock(&mm->map_lock);
	return found;
}
