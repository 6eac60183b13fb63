/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The pin budget (pin_budget.h).  iommufd pins every page an IOAS maps and
 * charges it to the user's RLIMIT_MEMLOCK (unless CAP_IPC_LOCK), so mirroring
 * a device's faults pins ever more until unbind; ODP-style devices evict
 * instead, and so does this.
 *
 * Victims are chosen by CLOCK: a hand sweeps the chunk table in address order;
 * a chunk mapped (or found mapped by a fault) since the hand last passed has
 * its reference bit cleared and is spared once, any other is withdrawn through
 * withdraw.c, the one path by which memory leaves an IOAS.  A device's
 * accesses to a mapped chunk cause no fault, so nothing finer than "faulted
 * recently" is known: CLOCK approximates least-recently-faulted without a list
 * to keep in order on the fault path.  Never victims: prefaulted chunks
 * (pinned-mode devices cannot fault them back), chunks mapped or used for the
 * fault batch in flight (evicting them before their group is answered would
 * answer SUCCESS for a page already gone; fault.c answers a batch's resolved
 * groups early when a later fault finds no room), and chunks
 * overlapping the window being made room for.
 */
#include <errno.h>
#include <pthread.h>
#include <linux/capability.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "fork.h"
#include "internal.h"
#include "withdraw.h"

#define PAGE 4096ull
#define GRANULE_SHIFT 16 /* re-faults are counted per 64 KiB */

uint64_t sva_pin_default_budget(void)
{
	struct __user_cap_header_struct h = { .version = _LINUX_CAPABILITY_VERSION_3, .pid = 0 };
	struct __user_cap_data_struct d[2] = { { 0 } };
	struct rlimit rl;

	/* CAP_IPC_LOCK (effective) exempts iommufd's pins from the limit. */
	if (syscall(SYS_capget, &h, d) == 0 && (d[CAP_IPC_LOCK / 32].effective & (1u << (CAP_IPC_LOCK % 32))))
		return 0;
	if (getrlimit(RLIMIT_MEMLOCK, &rl) || rl.rlim_cur == RLIM_INFINITY)
		return 0;
	/* A limit under one page would make every fault fail: one page, and the
	 * kernel's -ENOMEM says the rest. */
	return rl.rlim_cur < PAGE ? PAGE : (uint64_t)rl.rlim_cur & ~(PAGE - 1);
}

const char *sva_pin_enomem_advice(void)
{
	return sva_pin_default_budget()
		       ? "out of memory or over RLIMIT_MEMLOCK (raise it with ulimit -l or grant CAP_IPC_LOCK)"
		       : "out of memory (RLIMIT_MEMLOCK does not bind this process: it has CAP_IPC_LOCK or no "
			 "limit)";
}

/* A block's slot: hashed, not g % slots, so that blocks a power-of-two
 * stride apart (a device walking 1 MiB or 4 MiB apart) do not all share a
 * few slots and lose each other's counts. */
static _Atomic uint64_t *refault_slot(struct sva_pin_budget *pb, uint64_t g)
{
	return &pb->refault_slot[((g * 0x9e3779b97f4a7c15ull) >> 32) % SVA_PIN_REFAULT_SLOTS];
}

static void refault_note(struct sva_pin_budget *pb, uint64_t start, uint64_t end)
{
	uint64_t g = start >> GRANULE_SHIFT, ge = (end - 1) >> GRANULE_SHIFT;

	for (unsigned n = 0; g <= ge && n < SVA_PIN_REFAULT_SLOTS; g++, n++)
		atomic_store_explicit(refault_slot(pb, g), g + 1, memory_order_relaxed);
}

static void refault_check(struct sva_pin_budget *pb, uint64_t addr)
{
	uint64_t g = addr >> GRANULE_SHIFT;
	_Atomic uint64_t *slot = refault_slot(pb, g);
	uint64_t want = g + 1;

	/* Without map_lock: an eviction noting this slot meanwhile loses at most
	 * one count, and the exchange counts a re-fault once however many race. */
	if (atomic_load_explicit(slot, memory_order_relaxed) == want &&
	    atomic_compare_exchange_strong_explicit(slot, &want, 0, memory_order_relaxed, memory_order_relaxed))
		atomic_fetch_add_explicit(&pb->refaults, 1, memory_order_relaxed);
}

static bool evictable(const struct sva_chunk *c, uint64_t ws, uint64_t we, uint32_t batch)
{
	if (c->prot & SVA_CHUNK_PINNED)
		return false;
	if (batch && c->stamp == batch)
		return false;
	return !(c->start < we && ws < c->end);
}

/*
 * Evict until `want` bytes are freed (map_lock held), sparing [ws, we); the
 * bytes freed.  Two sweeps at most: the first may only clear reference bits.
 */
static uint64_t evict_locked(struct sva_mm *mm, uint64_t want, uint64_t ws, uint64_t we)
{
	struct sva_pin_budget *pb = &mm->pin;
	uint32_t batch = sva_pin_batch_in_flight(mm);
	uint64_t freed = 0;
	size_t steps = 2 * mm->chunks.count + 2;

	while (freed < want && steps-- && mm->chunks.count) {
		struct sva_chunk *c = sva_chunks_after(&mm->chunks, pb->hand);
		uint64_t cs, ce, bytes;

		if (!c) {
			pb->hand = 0; /* wrap */
			continue;
		}
		cs = c->start;
		ce = c->end;
		pb->hand = ce;
		if (!evictable(c, ws, we, batch))
			continue;
		if (c->prot & SVA_CHUNK_REF) {
			c->prot &= ~SVA_CHUNK_REF; /* second chance */
			continue;
		}
		bytes = sva_mm_withdraw_locked(mm, cs, ce, NULL);
		if (!bytes)
			continue; /* the kernel refused: it stays (withdraw.c counts nothing) */
		freed += bytes;
		refault_note(pb, cs, ce);
		atomic_fetch_add_explicit(&pb->evictions, 1, memory_order_relaxed);
		atomic_fetch_add_explicit(&pb->bytes_evicted, bytes, memory_order_relaxed);
	}
	return freed;
}

/* ------------------------------------------------------------------ donors */

static pthread_mutex_t donors_lock = PTHREAD_MUTEX_INITIALIZER;
static struct sva_mm *donors;
static unsigned donors_gen; /* sva_fork_gen() of the process the list is of */

/* A fork() child has no thread that could hold the lock (its list goes by
 * the generation, below). */
static void donors_child(void)
{
	pthread_mutex_init(&donors_lock, NULL);
}

/* Under donors_lock: a forked child finds its parent's list, whose address
 * spaces are not its own (their iommufd is the parent's): forget it before
 * any use.  The generation changes in every child, fork()'s and those that
 * run no handler (_Fork(), a raw clone()). */
static void donors_check_gen(void)
{
	unsigned gen = sva_fork_gen();

	if (donors_gen != gen) {
		donors = NULL;
		donors_gen = gen;
	}
}

static void donors_install(void)
{
	pthread_atfork(NULL, NULL, donors_child);
}

void sva_pin_donor_add(struct sva_mm *mm)
{
	static pthread_once_t once = PTHREAD_ONCE_INIT;

	/*
	 * No budget, no donor.  With CAP_IPC_LOCK or no limit, nothing it pins
	 * counts against a limit the others could be short of.  With
	 * SVA_PIN_UNLIMITED under RLIMIT_MEMLOCK it does count, but the caller
	 * chose that what it pins stays pinned: sva_mm_new(3) names it among
	 * the pins the other address spaces' faults cannot take back.  Not a
	 * donor, it takes from none either (evict_donors()).
	 */
	if (!mm->pin.budget)
		return;
	pthread_once(&once, donors_install);
	pthread_mutex_lock(&donors_lock);
	donors_check_gen();
	mm->pin.donor_next = donors;
	donors = mm;
	mm->pin.donor = true;
	pthread_mutex_unlock(&donors_lock);
}

void sva_pin_donor_remove(struct sva_mm *mm)
{
	if (!mm->pin.donor)
		return;
	pthread_mutex_lock(&donors_lock);
	donors_check_gen();
	for (struct sva_mm **pp = &donors; *pp; pp = &(*pp)->pin.donor_next)
		if (*pp == mm) {
			*pp = mm->pin.donor_next;
			break;
		}
	mm->pin.donor = false;
	pthread_mutex_unlock(&donors_lock);
}

/*
 * The kernel refused a map of `self` with ENOMEM and self had nothing to
 * evict: take up to `want` bytes of cold fault-mapped memory from the other
 * donors (their CLOCK hands, their batches in flight spared), the bytes
 * freed.  Called with self's mm->lock and no map_lock held.  A donor is
 * taken only with both its locks, as its own faults take them: mm->lock
 * keeps its prefaults whole (their chunks are marked pinned only at the end,
 * under mm->lock) and map_lock its chunk table.  Both are only tried: a busy
 * donor is skipped rather than waited for, as its holder may be waiting for
 * this thread.  A donor that gave goes to the list's end, so the
 * next shortfall takes from another first.  The evicted chunks' memory goes
 * to the donor's graveyard, freed by its next fault or its sva_mm_free().
 */
static uint64_t evict_donors(struct sva_mm *self, uint64_t want)
{
	uint64_t freed = 0;

	if (!self->pin.donor)
		return 0;
	pthread_mutex_lock(&donors_lock);
	donors_check_gen();
	for (struct sva_mm **pp = &donors; *pp && freed < want;) {
		struct sva_mm *o = *pp;
		uint64_t got;

		if (o == self || pthread_mutex_trylock(&o->lock)) {
			pp = &o->pin.donor_next;
			continue;
		}
		if (pthread_mutex_trylock(&o->map_lock)) {
			pthread_mutex_unlock(&o->lock);
			pp = &o->pin.donor_next;
			continue;
		}
		got = evict_locked(o, want - freed, 0, 0);
		pthread_mutex_unlock(&o->map_lock);
		pthread_mutex_unlock(&o->lock);
		freed += got;
		if (!got || !o->pin.donor_next) {
			pp = &o->pin.donor_next;
			continue;
		}
		/* To the end: *pp is the next one now. */
		*pp = o->pin.donor_next;
		struct sva_mm **tail = pp;

		while (*tail)
			tail = &(*tail)->pin.donor_next;
		*tail = o;
		o->pin.donor_next = NULL;
	}
	pthread_mutex_unlock(&donors_lock);
	return freed;
}

/* Bytes of [start, end) no chunk covers (map_lock held). */
static uint64_t gap_bytes_locked(struct sva_mm *mm, uint64_t start, uint64_t end)
{
	uint64_t covered = 0;

	for (struct sva_chunk *c = sva_chunks_after(&mm->chunks, start); c && c->start < end; c = sva_chunks_next(c))
		covered += (c->end < end ? c->end : end) - (c->start > start ? c->start : start);
	return end - start - covered;
}

/* Room for `need` more bytes under the budget, evicting if needed (map_lock held). */
static bool make_room_locked(struct sva_mm *mm, uint64_t need, uint64_t ws, uint64_t we)
{
	uint64_t budget = mm->pin.budget, visible;

	if (!budget)
		return true;
	if (need > budget)
		return false;
	visible = atomic_load_explicit(&mm->st_visible, memory_order_relaxed);
	if (visible + need <= budget)
		return true;
	evict_locked(mm, visible + need - budget, ws, we);
	return atomic_load_explicit(&mm->st_visible, memory_order_relaxed) + need <= budget;
}

/* The largest power-of-two window around addr strictly inside [*ws, *we). */
static void shrink(uint64_t addr, uint64_t *ws, uint64_t *we)
{
	uint64_t len = *we - *ws, size = PAGE, ns, ne;

	while (size * 2 < len)
		size *= 2;
	ns = addr & ~(size - 1);
	ne = ns + size;
	*ws = ns > *ws ? ns : *ws;
	*we = ne < *we ? ne : *we;
}

uint64_t sva_pin_window_cap(uint64_t budget)
{
	uint64_t cap = PAGE;

	if (!budget)
		return UINT64_MAX;
	while (cap * 2 <= budget / 4)
		cap *= 2;
	return cap;
}

int sva_pin_map_fault_locked(struct sva_mm *mm, const struct sva_vma *v, uint64_t addr, uint64_t *ws,
			     uint64_t *we, uint64_t reserve, uint64_t *mapped)
{
	unsigned kernel_retries = 0;
	int ret;

	refault_check(&mm->pin, addr);
	/* The ramp stops at the cap already (mm->fa_cap); what can still pass
	 * it: whole huge pages and a batch's run around the fault. */
	if (mm->pin.budget) {
		uint64_t cap = sva_pin_window_cap(mm->pin.budget);

		while (*we - *ws > cap)
			shrink(addr, ws, we);
	}
	for (;;) {
		struct sva_map_undo undo; /* not "= { 0 }": 1 KiB zeroed per fault, when only r[0..n) is read */
		uint64_t got = 0;
		bool room;

		undo.n = 0;

		room = true;
		if (mm->pin.budget) { /* unbounded: no lock, no walk */
			pthread_mutex_lock(&mm->map_lock);
			room = make_room_locked(mm, gap_bytes_locked(mm, *ws, *we) + (*we - *ws > PAGE ? reserve : 0),
						*ws, *we);
			pthread_mutex_unlock(&mm->map_lock);
		}
		if (room) {
			ret = sva_mm_map_gaps_locked(mm, v, *ws, *we, SVA_MAP_FAULT | SVA_MAP_AROUND, &undo, &got, NULL);
			if (!ret) {
				*mapped += got;
				return 0;
			}
			sva_mm_undo_locked(mm, &undo);
			if (ret != -ENOMEM)
				return ret;
			/*
			 * The kernel's limit (shared with the user's other pins, other
			 * address spaces included): evict as much as the window and try
			 * again, a few times, before a smaller window.
			 */
			uint64_t asked = *we - *ws, freed;

			pthread_mutex_lock(&mm->map_lock);
			freed = evict_locked(mm, asked, *ws, *we);
			pthread_mutex_unlock(&mm->map_lock);
			if (!freed) /* nothing of its own: the other address spaces' */
				freed = evict_donors(mm, asked);
			/*
			 * The kernel's room is unknown, but for what was just freed:
			 * a window must leave a page for each later page request of
			 * the batch there too, as under the budget, or the first
			 * fault of a batch takes the whole limit (a THP window of
			 * 2 MiB halved to whatever fits) and the rest, which cannot
			 * evict it before the batch is answered, fail (review Z93).
			 */
			while (reserve && *we - *ws > PAGE && *we - *ws + reserve > freed)
				shrink(addr, ws, we);
			if ((freed && kernel_retries++ < 4) || *we - *ws < asked)
				continue;
		}
		if (*we - *ws <= PAGE)
			return -ENOMEM;
		shrink(addr, ws, we);
		kernel_retries = 0;
	}
}

/* What evict_locked() could free, sparing [ws, we) (map_lock held). */
static uint64_t evictable_bytes_locked(struct sva_mm *mm, uint64_t ws, uint64_t we)
{
	uint32_t batch = sva_pin_batch_in_flight(mm);
	uint64_t bytes = 0;

	for (struct sva_chunk *c = sva_chunks_after(&mm->chunks, 0); c; c = sva_chunks_next(c))
		if (evictable(c, ws, we, batch))
			bytes += c->end - c->start;
	return bytes;
}

int sva_pin_prefault_locked(struct sva_mm *mm, uint64_t start, uint64_t end)
{
	struct sva_pin_budget *pb = &mm->pin;
	uint64_t gaps, promote = 0, visible;
	int ret = 0;

	if (!pb->budget)
		return 0;
	pthread_mutex_lock(&mm->map_lock);
	gaps = gap_bytes_locked(mm, start, end);
	for (struct sva_chunk *c = sva_chunks_after(&mm->chunks, start); c && c->start < end; c = sva_chunks_next(c))
		if (!(c->prot & SVA_CHUNK_PINNED))
			promote += c->end - c->start;
	visible = atomic_load_explicit(&mm->st_visible, memory_order_relaxed);
	if (pb->pinned + promote + gaps > pb->budget)
		ret = -ENOSPC;
	/* Known before anything is evicted: a refusal evicts nothing. */
	else if (visible + gaps > pb->budget && visible + gaps - evictable_bytes_locked(mm, start, end) > pb->budget)
		ret = -EAGAIN;
	else if (!make_room_locked(mm, gaps, start, end))
		ret = -EAGAIN; /* the kernel refused to unmap a victim */
	pthread_mutex_unlock(&mm->map_lock);
	return ret;
}

uint64_t sva_pin_evict_for_locked(struct sva_mm *mm, uint64_t start, uint64_t end)
{
	uint64_t freed, want;

	pthread_mutex_lock(&mm->map_lock);
	want = gap_bytes_locked(mm, start, end);
	freed = evict_locked(mm, want, start, end);
	pthread_mutex_unlock(&mm->map_lock);
	return freed ? freed : evict_donors(mm, want);
}

void sva_pin_prefault_done_locked(struct sva_mm *mm, uint64_t start, uint64_t end)
{
	pthread_mutex_lock(&mm->map_lock);
	for (struct sva_chunk *c = sva_chunks_after(&mm->chunks, start); c && c->start < end; c = sva_chunks_next(c))
		if (!(c->prot & SVA_CHUNK_PINNED)) {
			c->prot = (c->prot | SVA_CHUNK_PINNED) & ~SVA_CHUNK_REF;
			mm->pin.pinned += c->end - c->start;
		}
	pthread_mutex_unlock(&mm->map_lock);
}
