/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Coherence tracking: one userfaultfd per process, registered WP-only (nothing
 * is ever write-protected, so no CPU fault is intercepted) on every range that
 * is mapped into a tracked address space, and a monitor thread that reads its
 * UNMAP, REMOVE and REMAP events and withdraws the overlapping chunks from
 * every tracked address space.  See docs/design.md, "Coherence".
 *
 * Locks: the monitor takes the registry lock, then each address space's
 * map_lock.  Neither is ever held across anything that can munmap, madvise or
 * mremap memory (free(), fclose(), realloc()), so a thread blocked in munmap()
 * waiting for the monitor to read its event never holds a lock the monitor
 * needs.
 */
#ifndef LIBSVA_TRACK_H
#define LIBSVA_TRACK_H

#include <stdbool.h>
#include <stdint.h>

#include "kabi.h"

/* What a userfaultfd must offer for tracking (also asked by sva-info
 * --doctor): the three events, and write-protect mode, in which every range
 * is registered.  A kernel whose architecture (or CPU) has no uffd-wp offers
 * the events, refuses every write-protect registration with EINVAL and says
 * so by leaving PAGEFAULT_FLAG_WP out of UFFDIO_API's features. */
#define SVA_TRACK_UFFD_EVENTS \
	(KABI_UFFD_FEATURE_EVENT_UNMAP | KABI_UFFD_FEATURE_EVENT_REMOVE | KABI_UFFD_FEATURE_EVENT_REMAP)
#define SVA_TRACK_UFFD_NEEDED (SVA_TRACK_UFFD_EVENTS | KABI_UFFD_FEATURE_PAGEFAULT_FLAG_WP)

struct sva_mm;
struct sva_log;

/*
 * Start tracking mm (the process's userfaultfd and monitor are created on
 * first use).  0, or why tracking is impossible here (-EPERM: seccomp or
 * vm.unprivileged_userfaultfd; -ENOSYS: no CONFIG_USERFAULTFD, or seccomp;
 * either with /dev/userfaultfd absent or refused too (uffd_open.h);
 * -EOPNOTSUPP: the kernel lacks the events or write-protect mode, or refuses
 * the API handshake; -ENOMEM, -EMFILE, -ENFILE, -EAGAIN; or the error of a
 * monitor that failed as mm joined it, twice in a row: -EBADF, -EIO, a
 * poll/read errno, as sva_mm_stats(3)'s untracked_reason): mm is then
 * untracked, and *what says what could not be had (sva_track_part_name() for
 * the log line).  On success mm->tracked is set, under the same lock as a
 * failure's walk of the tracked address spaces.
 */
enum sva_track_part { SVA_TRACK_UFFD, SVA_TRACK_EVENTFD, SVA_TRACK_THREAD };
int sva_track_add(struct sva_mm *mm, enum sva_track_part *what);
/* "userfaultfd", "an eventfd", "the monitor thread". */
const char *sva_track_part_name(enum sva_track_part part);
/* Stop tracking mm; the last one stops the monitor and closes the userfaultfd
 * (which unregisters every range and releases any waiter). */
void sva_track_remove(struct sva_mm *mm);

/*
 * Register [start, end) (page-aligned) with the process's userfaultfd.  Called
 * with mm->map_lock held, before the range is mapped into the IOAS.  0 or the
 * errno of UFFDIO_REGISTER (-EBUSY another userfaultfd has it, -EINVAL a VMA
 * that cannot be registered, -ENOMEM part of it is not mapped), or -EIO when
 * the descriptor is no longer the userfaultfd (before or after the ioctl, even
 * one that succeeded there), or the monitor has let it go (failed, or stopped
 * at exit while address spaces still track): tracking is over; the caller
 * marks its own address space, with sva_track_error() (0: -EBADF),
 * sva_mm_tracking_lost_locked().
 */
int sva_track_register(uint64_t start, uint64_t end);

/*
 * Wait until every event the monitor has read is applied: after this, memory
 * whose munmap()/madvise()/mremap() returned before the call is withdrawn from
 * every tracked address space.  No system call when the monitor is idle.
 * 0, or -EIO when the monitor failed (tracking was lost: logged once); by
 * then every tracked address space is untracked and withdrawn.
 */
int sva_track_fence(void);

/*
 * What sva_mm_fence() promises, for callers that map next: events read are
 * applied, and mm's pending REMOVEs end (the caller saw its own madvise()
 * return).  0, or -EIO once tracking stopped.  No system call when nothing is
 * pending.
 */
int sva_track_fence_mm(struct sva_mm *mm);

/* The monitor's read count: it moves whenever the monitor reads events (a
 * registered range was unmapped, discarded or moved).  A caller holding an
 * mm->map_lock sees it move, though not the events applied. */
uint32_t sva_track_seq(void);

/* Wait until the read count is no longer `seq`, or until deadline_ns
 * (CLOCK_MONOTONIC; UINT64_MAX: none, as the fence waits); false if the
 * deadline came first. */
bool sva_track_wait_seq(uint32_t seq, uint64_t deadline_ns);

/* The monitor's health, for stats: 0 running or never needed, else the errno
 * that stopped it. */
int sva_track_error(void);

#endif
