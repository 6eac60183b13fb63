/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * PASID spaces: a range allocator with quarantine and a lock-free lookup table.
 *
 * Layout.  Every value of the range has a slot (32 bytes).  Slots live
 * in buckets that are allocated when the first value in them is handed out and
 * freed only when the space is (sva_pasid_space_destroy()), so a lookup can never touch freed
 * memory (and by sva_pasid_space_set_range() of an empty space, which the
 * device call that uses it documents as not to overlap any lookup).  Bucket k holds 512 << k slots (clipped to the range), so 12 bucket
 * pointers, published with release stores, cover 2^20 values with no
 * resizing, and index math is one count-leading-zeros.  Growing sizes suit
 * both ends: a space that uses a few PASIDs costs one 16 KiB bucket (a device
 * space of 3 PASIDs, three slots), while one that walks all 2^20 values (as
 * never-used-first allocation does over time) gets its big buckets as whole
 * granules of the library arena (arena.c),
 * zero-filled lazily as the walk reaches them.
 *
 * Lookups take no lock.  Each slot holds a sequence word (LIVE, BUSY and
 * OWNED bits, a change counter) and one {drvdata, owner} pair.  A reader
 * loads the word, the pair, then the word again: if it is unchanged and
 * LIVE, the pair is the one of an allocation that was live when the word was
 * first loaded.  Allocation writes the pair while the slot is not LIVE (so
 * no reader uses it) and then publishes a new word; free stores a word
 * without LIVE.  Either bumps the counter, which never wraps in practice
 * (2^61 changes), so no ABA.  sva_pasid_set_owner() changes a LIVE slot: it
 * stores a BUSY word, the pair, then a new word, and a reader that sees BUSY
 * retries, so it never returns an owner from one call with a drvdata from
 * another.  That is the one place a reader can wait for a writer (for two
 * stores, unless the writer is preempted between them); allocation and free
 * never make a reader wait.  Half a cache line per slot, not one: slots of
 * 64 bytes (a second pair, so that set_owner could flip between them and
 * never make a reader wait) cost a 2^20-value space 64 MiB instead of 32.
 *
 * Allocation order.  Never-used values come first, in increasing order (a
 * cursor).  Then values that came back, in the order they became allocatable
 * (a FIFO, the "pool").  A freed value is QUARANTINED (not findable, not
 * allocatable); sva_pasid_release() stamps it and appends it to the grace
 * FIFO; it moves to the pool when grace_ns has passed since that stamp, or at
 * a barrier.  Release stamps are taken under the lock, so the grace FIFO is
 * sorted by time and expiry pops from its head.  Expiry is lazy: it runs only
 * when an allocation finds neither fresh values nor pooled ones, and in stats
 * and barrier.  That keeps the clock off the allocation fast path without
 * changing the order: everything in the pool became allocatable before
 * anything still waiting in the grace FIFO.
 *
 * Both FIFOs are rings of value indices, not lists threaded through the
 * slots: popping reads the next ring entry instead of chasing a link into a
 * cold slot and writing its neighbour's back link, and knowing the next
 * entries lets the pop prefetch the slot the next allocation will write.
 * Positions are free-running counters (entry k lives at [k % capacity]), so
 * growing a ring keeps every position valid.  The rings grow with the number of values ever
 * handed out (at allocation time, the one call that may say -ENOMEM), which
 * bounds what they can hold: no push can fail.  sva_pasid_alloc_at() takes a
 * value out of the middle of the pool by leaving a tombstone at its position;
 * a push that finds the ring full compacts the tombstones away.
 *
 * Allocation and free take a mutex: they are O(1) pops and pushes, the lock is
 * held for a few dozen instructions, and a FIFO that is both lock-free and
 * ordered would cost more than it saves.  The hot concurrent path is lookup.
 * The lock is lock.h's, not a pthread mutex: an alloc+free pair takes it
 * twice, and four out-of-line pthread calls with a locked instruction each
 * cost as much as the allocator's work (tools/sva-bench pasid: 1.2-1.3x the
 * pairs/s single-threaded, 1.5x in a threaded process).  Errors are reported
 * after the lock is dropped, so no user log
 * callback ever runs under it, from cold out-of-line helpers so the fast
 * paths keep few registers live.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

#include "arena.h"
#include "lock.h"
#include "pasid_space.h"
#include "sigblock.h"

#define BUCKET0_SHIFT 9u /* bucket 0 holds 512 slots */
#define NBUCKETS 12u
_Static_assert(SVA_PASID_MAX + (1u << BUCKET0_SHIFT) < (1u << (BUCKET0_SHIFT + NBUCKETS)),
	       "NBUCKETS covers every value of the largest space");
#define BUCKET_MMAP_MIN (256u << 10) /* bigger buckets are not memset: arena granules start zero */

/*
 * Sequence word: bit 0 LIVE (allocated), bit 1 BUSY (set_owner is rewriting
 * the pair), bit 2 OWNED (its owner is a real owner, not NULL nor a tag: lets
 * the common free(owner NULL) check one bit), change counter from bit 3.
 */
#define SEQ_LIVE 1ull
#define SEQ_BUSY 2ull
#define SEQ_OWNED 4ull
#define SEQ_STEP 8ull

/* The next sequence word after seq, with the given flag bits. */
static inline uint64_t seq_next(uint64_t seq, uint64_t flags)
{
	return ((seq & ~(SEQ_STEP - 1)) + SEQ_STEP) | flags;
}

enum slot_state {
	ST_FRESH = 0,	 /* never handed out (what a zeroed bucket holds) */
	ST_ALLOCATED,	 /* live: lookups find it */
	ST_QUARANTINED,	 /* freed, not yet released */
	ST_RELEASED,	 /* released, in the grace FIFO */
	ST_POOLED,	 /* in the pool FIFO: allocatable again */
	ST_RETIRED,	 /* freed for good: a device may still use it */
};

/*
 * Two slots per cache line: a lookup reads one line.  A writer changing a
 * slot invalidates the line of its neighbour, which matters only if another
 * CPU is looking that neighbour up at the same moment.
 */
struct pasid_slot {
	_Alignas(32) _Atomic uint64_t seq;
	void *_Atomic drvdata;
	void *_Atomic owner;
	/* Below: only under the space lock. */
	uint32_t pool_pos; /* while ST_POOLED: its position in the pool ring;
			    * while ST_ALLOCATED: FROM_FRESH if the allocator took
			    * it never used (sva_pasid_unalloc_owned() puts it back) */
	uint8_t state;	   /* enum slot_state */
	bool owner_retired; /* ST_ALLOCATED: its owner retired it (sva_pasid_mark_retired()) */
};
_Static_assert(sizeof(struct pasid_slot) == 32, "two slots per cache line");

struct grace_entry {
	uint64_t released_ns; /* CLOCK_MONOTONIC at sva_pasid_release() */
	uint32_t idx;
};

#define POOL_TOMB UINT32_MAX /* a pool entry sva_pasid_alloc_at() took */
#define FROM_FRESH UINT32_MAX

struct sva_pasid_space {
	/* Read by lookups; written only at creation and by set_range (which
	 * is documented not to run concurrently with anything). */
	uint32_t min, max;
	_Atomic(struct pasid_slot *) bucket[NBUCKETS];
	const struct sva_log *log;
	uint64_t grace_ns;
	char prefix[128];
	bool standalone; /* sva_pasid_space_new()'s: the caller's to free */

	/* Writer state on its own cache line so that allocations do not
	 * slow down lookups running on another CPU. */
	_Alignas(64) struct sva_lock lock;
	uint32_t fresh;	  /* next never-used index (values below it were used) */
	uint32_t nr_used; /* values ever handed out: bounds both rings */
	uint32_t qcap;	  /* capacity of both rings, a power of two >= nr_used */
	uint32_t *pool; /* value indices, oldest at pool_head; POOL_TOMB: taken */
	uint32_t pool_head, pool_tail;
	struct grace_entry *grace; /* oldest release at grace_head */
	uint32_t grace_head, grace_tail;
	uint64_t nr_allocated;
	uint64_t nr_quarantined; /* QUARANTINED + RELEASED */
};

/* ------------------------------------------------------------------ helpers */

static uint32_t space_size(const struct sva_pasid_space *s)
{
	return s->max - s->min + 1;
}

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* Log "<prefix> [min, max]: <message>" at `level`. */
static void space_logf(const struct sva_pasid_space *s, enum sva_log_level level, const char *fmt, ...)
	SVA_PRINTF(3, 4);
static void space_logf(const struct sva_pasid_space *s, enum sva_log_level level, const char *fmt, ...)
{
	char msg[400];
	va_list ap;

	/* Filter before formatting: lookup misses log at debug level on hot paths. */
	if ((int)level < atomic_load_explicit(&s->log->level, memory_order_relaxed))
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	sva_logf(s->log, level, "%s [%u, %u]: %s", s->prefix, s->min, s->max, msg);
}

/* space_logf(), returning err: a macro, as sva_fail() (internal.h), so that
 * the compiler sees the value returned. */
#define space_log(s, level, err, ...) \
	__extension__({ \
		int space_log_err_ = (err); \
		space_logf((s), (level), __VA_ARGS__); \
		space_log_err_; \
	})

#define space_fail(s, err, ...) space_log((s), SVA_LOG_ERROR, (err), __VA_ARGS__)

/* The bucket of index idx, and idx's offset in it. */
static inline unsigned int bucket_of(uint32_t idx, uint32_t *off)
{
	uint32_t v = idx + (1u << BUCKET0_SHIFT);
	unsigned int top = 31u - (unsigned int)__builtin_clz(v);

	*off = v - (1u << top);
	return top - BUCKET0_SHIFT;
}

/* How many slots bucket k holds in a space of n values (k must start inside). */
static size_t bucket_len(uint32_t n, unsigned int k)
{
	size_t start = ((size_t)1 << (BUCKET0_SHIFT + k)) - (1u << BUCKET0_SHIFT);
	size_t len = (size_t)1 << (BUCKET0_SHIFT + k);

	return n - start < len ? n - start : len;
}

static struct pasid_slot *bucket_new(size_t len)
{
	size_t bytes = len * sizeof(struct pasid_slot);
	void *p;

	if (bytes < BUCKET_MMAP_MIN) {
		p = sva_aligned_alloc(_Alignof(struct pasid_slot), bytes);
		if (p)
			memset(p, 0, bytes);
		return p;
	}
	/*
	 * Zero-filled lazily: memory follows use, and no memset.  No
	 * MADV_HUGEPAGE: it cuts the faults of a first walk over 2^20 values
	 * 3x here, but under defrag=madvise a fault may then compact memory
	 * for milliseconds, a stall an allocation should not hide.
	 */
	return sva_malloc(bytes); /* whole arena granules: zero-filled lazily */
}

static void bucket_delete(struct pasid_slot *b, size_t len)
{
	size_t bytes = len * sizeof(struct pasid_slot);

	(void)bytes;
	sva_free(b);
}

/* Free every bucket (of a space of n values). */
static void buckets_free(struct sva_pasid_space *s, uint32_t n)
{
	for (unsigned int k = 0; k < NBUCKETS; k++) {
		struct pasid_slot *b = atomic_load_explicit(&s->bucket[k], memory_order_relaxed);

		if (b)
			bucket_delete(b, bucket_len(n, k));
		atomic_store_explicit(&s->bucket[k], NULL, memory_order_relaxed);
	}
}

/* The slot of idx, or NULL if its bucket does not exist yet.  Lock-free. */
static inline struct pasid_slot *slot_at(const struct sva_pasid_space *s, uint32_t idx)
{
	uint32_t off;
	struct pasid_slot *b = atomic_load_explicit(&s->bucket[bucket_of(idx, &off)], memory_order_acquire);

	return b ? &b[off] : NULL;
}

static __attribute__((noinline)) struct pasid_slot *slot_get_slow(struct sva_pasid_space *s, unsigned int k,
								  uint32_t off)
{
	struct pasid_slot *b = bucket_new(bucket_len(space_size(s), k));

	if (!b)
		return NULL;
	/* Publish the zeroed bucket: lookups read it after an acquire. */
	atomic_store_explicit(&s->bucket[k], b, memory_order_release);
	return &b[off];
}

/* The slot of idx, allocating its bucket if needed.  Under the lock. */
static inline struct pasid_slot *slot_get(struct sva_pasid_space *s, uint32_t idx)
{
	uint32_t off;
	unsigned int k = bucket_of(idx, &off);
	struct pasid_slot *b = atomic_load_explicit(&s->bucket[k], memory_order_relaxed);

	return __builtin_expect(b != NULL, 1) ? &b[off] : slot_get_slow(s, k, off);
}

/* The slot of a value that was handed out at least once (its bucket exists).
 * Under the lock. */
static inline struct pasid_slot *slot_used(const struct sva_pasid_space *s, uint32_t idx)
{
	uint32_t off;
	unsigned int k = bucket_of(idx, &off);

	return &atomic_load_explicit(&s->bucket[k], memory_order_relaxed)[off];
}

/* Slots prefetched ahead of the pool's head: enough to cover a cache miss
 * at ~10 ns per alloc+free pair. */
#define PREFETCH_AHEAD 8u

/*
 * Make room in both rings for one more used value (before a never-used one is
 * handed out).  Under the lock.  On failure nothing has changed.
 */
static __attribute__((noinline)) int rings_grow(struct sva_pasid_space *s)
{
	uint32_t cap = s->qcap ? s->qcap : 4, omask = s->qcap - 1, mask;
	struct grace_entry *grace;
	uint32_t *pool;

	while (cap <= s->nr_used)
		cap *= 2;
	if (cap < 64 && cap < space_size(s))
		cap = 64; /* grow in steps worth a realloc */
	mask = cap - 1;
	pool = sva_malloc(cap * sizeof(*pool));
	grace = sva_malloc(cap * sizeof(*grace));
	if (!pool || !grace) {
		sva_free(pool);
		sva_free(grace);
		return -ENOMEM;
	}
	for (uint32_t k = s->pool_head; k != s->pool_tail; k++)
		pool[k & mask] = s->pool[k & omask];
	for (uint32_t k = s->grace_head; k != s->grace_tail; k++)
		grace[k & mask] = s->grace[k & omask];
	sva_free(s->pool);
	sva_free(s->grace);
	s->pool = pool;
	s->grace = grace;
	s->qcap = cap;
	return 0;
}

static inline int rings_reserve(struct sva_pasid_space *s)
{
	return __builtin_expect(s->nr_used < s->qcap, 1) ? 0 : rings_grow(s);
}

/* Squeeze tombstones out of the pool ring, keeping the order.  Under the lock. */
static void pool_compact(struct sva_pasid_space *s)
{
	uint32_t mask = s->qcap - 1, j = s->pool_head;

	for (uint32_t k = s->pool_head; k != s->pool_tail; k++) {
		uint32_t idx = s->pool[k & mask];

		if (idx == POOL_TOMB)
			continue;
		s->pool[j & mask] = idx;
		slot_used(s, idx)->pool_pos = j++;
	}
	s->pool_tail = j;
}

/*
 * Append to the pool.  Under the lock.  Cannot fail: the pool holds only used
 * values, at most nr_used <= qcap of them, and this one is not among them, so
 * a full ring has tombstones to compact.
 */
static void pool_push(struct sva_pasid_space *s, uint32_t idx)
{
	struct pasid_slot *sl = slot_used(s, idx);

	if (s->pool_tail - s->pool_head == s->qcap)
		pool_compact(s);
	s->pool[s->pool_tail & (s->qcap - 1)] = idx;
	sl->pool_pos = s->pool_tail++;
	sl->state = ST_POOLED;
}

/* Put a value back at the head of the pool, where sva_pasid_alloc() took it
 * from: the next allocation returns it again.  Under the lock.  Cannot fail,
 * as pool_push(). */
static void pool_push_front(struct sva_pasid_space *s, uint32_t idx)
{
	struct pasid_slot *sl = slot_used(s, idx);

	if (s->pool_tail - s->pool_head == s->qcap)
		pool_compact(s);
	s->pool_head--;
	s->pool[s->pool_head & (s->qcap - 1)] = idx;
	sl->pool_pos = s->pool_head;
	sl->state = ST_POOLED;
}

/* Pop the pool's oldest value into *idx; false if it is empty.  Under the lock. */
static inline bool pool_pop(struct sva_pasid_space *s, uint32_t *idx)
{
	uint32_t mask = s->qcap - 1;

	while (s->pool_head != s->pool_tail) {
		*idx = s->pool[s->pool_head++ & mask];
		if (*idx == POOL_TOMB)
			continue; /* taken by sva_pasid_alloc_at() */
		if (s->pool_tail - s->pool_head > PREFETCH_AHEAD) {
			uint32_t next = s->pool[(s->pool_head + PREFETCH_AHEAD) & mask];

			if (next != POOL_TOMB)
				__builtin_prefetch(slot_used(s, next), 1);
		}
		return true;
	}
	return false;
}

/*
 * Move released values whose grace has passed (all of them if `all`) to the
 * pool, oldest first.  Under the lock.  Returns how many moved.
 */
static int grace_expire(struct sva_pasid_space *s, bool all)
{
	uint32_t mask = s->qcap - 1;
	uint64_t now = 0;
	int moved = 0;

	if (s->grace_head == s->grace_tail)
		return 0;
	if (!all)
		now = now_ns();
	while (s->grace_head != s->grace_tail) {
		const struct grace_entry *e = &s->grace[s->grace_head & mask];

		/* Written as a difference so a huge grace_ns cannot overflow. */
		if (!all && now - e->released_ns < s->grace_ns)
			break;
		pool_push(s, e->idx);
		s->grace_head++;
		s->nr_quarantined--;
		moved++;
	}
	return moved;
}

/* OWNED for a real owner or a pinned tag; a tag (SVA_PASID_TAG) leaves the PASID freeable. */
static inline uint64_t owned_bit(const void *owner)
{
	return owner && (((uintptr_t)owner & 3u) != 1u) ? SEQ_OWNED : 0;
}

/*
 * Make the slot sl, which is not LIVE, live with {drvdata, owner}.  Under the
 * lock.  The pair stores are release stores: they order every earlier change
 * of the sequence word (the free, made under this same lock) before them, so
 * a reader whose acquire load sees the new pair also sees a changed word on
 * its re-check.  (Release/acquire on each access rather than fences: the same
 * cost on x86, no worse on arm64, and ThreadSanitizer understands it.)
 */
static inline void slot_publish(struct pasid_slot *sl, void *owner, void *drvdata)
{
	uint64_t seq = atomic_load_explicit(&sl->seq, memory_order_relaxed);

	atomic_store_explicit(&sl->drvdata, drvdata, memory_order_release);
	atomic_store_explicit(&sl->owner, owner, memory_order_release);
	atomic_store_explicit(&sl->seq, seq_next(seq, SEQ_LIVE | owned_bit(owner)), memory_order_release);
}

/*
 * Replace the pair of a LIVE slot.  Under the lock.  BUSY first: a reader that
 * loads any of the new pair (release stores, so the BUSY store is ordered
 * before them) then sees a changed word and retries, and one that loads the
 * BUSY word waits for the final one.
 */
static void slot_reown(struct pasid_slot *sl, void *owner, void *drvdata)
{
	uint64_t seq = atomic_load_explicit(&sl->seq, memory_order_relaxed);
	sigset_t old;

	seq = seq_next(seq, SEQ_LIVE | SEQ_BUSY | (seq & SEQ_OWNED));
	sva_signals_hold(&old); /* readers wait out BUSY: sigblock.h */
	atomic_store_explicit(&sl->seq, seq, memory_order_relaxed);
	atomic_store_explicit(&sl->drvdata, drvdata, memory_order_release);
	SVA_BUSY_WINDOW();
	atomic_store_explicit(&sl->owner, owner, memory_order_release);
	atomic_store_explicit(&sl->seq, seq_next(seq, SEQ_LIVE | owned_bit(owner)), memory_order_release);
	sva_signals_restore(&old);
}

static inline void slot_take(struct sva_pasid_space *s, struct pasid_slot *sl, void *owner, void *drvdata)
{
	slot_publish(sl, owner, drvdata);
	sl->state = ST_ALLOCATED;
	sl->owner_retired = false;
	s->nr_allocated++;
}

/* ------------------------------------------------------------------ create */

static int check_range(const struct sva_log *log, const char *prefix, uint32_t flags, uint32_t *min, uint32_t *max)
{
	if (*max == 0)
		*max = SVA_PASID_MAX;
	if (*max > SVA_PASID_MAX)
		return sva_fail(log, -ERANGE, "%s: max %u is beyond the PCIe PASID limit %u", prefix, *max,
				SVA_PASID_MAX);
	if (flags & SVA_PASID_ALLOW_ZERO) {
		if (*min != 0)
			return sva_fail(log, -EINVAL, "%s: SVA_PASID_ALLOW_ZERO needs min 0, got min %u", prefix,
					*min);
	} else if (*min == 0) {
		*min = 1; /* PASID 0 means "no PASID" on most IOMMUs */
	}
	if (*min > *max)
		return sva_fail(log, -EINVAL, "%s: empty range: min %u is above max %u", prefix, *min, *max);
	return 0;
}

/* Reset the writer state to "everything fresh". */
static void space_reset(struct sva_pasid_space *s)
{
	sva_free(s->pool);
	sva_free(s->grace);
	s->pool = NULL;
	s->grace = NULL;
	s->qcap = 0;
	s->pool_head = s->pool_tail = 0;
	s->grace_head = s->grace_tail = 0;
	s->fresh = 0;
	s->nr_used = 0;
	s->nr_allocated = 0;
	s->nr_quarantined = 0;
}

int sva_pasid_space_create(const struct sva_pasid_space_opts *opts, const struct sva_log *log,
			   const char *prefix, struct sva_pasid_space **out)
{
	struct sva_pasid_space_opts o = { .size = sizeof(o) };
	struct sva_pasid_space *s;
	int err;

	if (!out)
		return sva_fail(log, -EINVAL, "%s: NULL output pointer", prefix);
	if (opts) {
		if (opts->size < sizeof(o))
			return sva_fail(log, -EINVAL, "%s: opts->size %zu is too small (set it to sizeof(struct "
					"sva_pasid_space_opts) = %zu)", prefix, opts->size, sizeof(o));
		/* A newer caller's extra fields are fine only if unused. */
		for (size_t i = sizeof(o); i < opts->size; i++)
			if (((const unsigned char *)opts)[i])
				return sva_fail(log, -EINVAL, "%s: opts sets fields this libsva does not know "
						"(opts->size %zu); upgrade libsva", prefix, opts->size);
		o = *opts;
	}
	if (o.flags & ~SVA_PASID_ALLOW_ZERO)
		return sva_fail(log, -EINVAL, "%s: unknown flags 0x%x", prefix, o.flags & ~SVA_PASID_ALLOW_ZERO);
	err = check_range(log, prefix, o.flags, &o.min, &o.max);
	if (err)
		return err;

	s = sva_aligned_alloc(_Alignof(struct sva_pasid_space), sizeof(*s));
	if (!s)
		return sva_fail(log, -ENOMEM, "%s: " SVA_ARENA_ENOMEM, prefix);
	memset(s, 0, sizeof(*s));
	for (unsigned int k = 0; k < NBUCKETS; k++)
		atomic_init(&s->bucket[k], NULL);
	s->min = o.min;
	s->max = o.max;
	s->log = log;
	s->grace_ns = o.grace_ns ? o.grace_ns : SVA_PASID_GRACE_DEFAULT_NS;
	snprintf(s->prefix, sizeof(s->prefix), "%s", prefix);
	sva_lock_init(&s->lock);
	space_reset(s);
	*out = s;
	return 0;
}

SVA_EXPORT int sva_pasid_space_new(const struct sva_pasid_space_opts *opts, struct sva_pasid_space **out)
{
	int ret = sva_pasid_space_create(opts, sva_log_default(), "PASID space", out);

	if (!ret)
		(*out)->standalone = true;
	return ret;
}

void sva_pasid_space_destroy(struct sva_pasid_space *space)
{
	if (!space)
		return;
	buckets_free(space, space_size(space));
	sva_free(space->pool);
	sva_free(space->grace);
	sva_free(space);
}

SVA_EXPORT void sva_pasid_space_free(struct sva_pasid_space *space)
{
	/* A context's or device's space stays in use by its owner, which
	 * frees it with itself: freeing it here left the owner on freed memory. */
	if (space && !space->standalone) {
		sva_logf(space->log, SVA_LOG_ERROR,
			 "sva_pasid_space_free: the %s belongs to its context or device (sva_ctx_global_pasids(), "
			 "sva_dev_pasids()), which frees it with itself: not freed",
			 space->prefix);
		return;
	}
	sva_pasid_space_destroy(space);
}

int sva_pasid_space_set_range(struct sva_pasid_space *s, uint32_t min, uint32_t max)
{
	uint64_t allocated, quarantined;
	int err;

	err = check_range(s->log, s->prefix, 0, &min, &max);
	if (err)
		return err;
	sva_lock_acquire(&s->lock);
	/* Expiry is lazy: a value whose grace has passed is not in quarantine. */
	grace_expire(s, false);
	allocated = s->nr_allocated;
	quarantined = s->nr_quarantined;
	if (!allocated && !quarantined) {
		buckets_free(s, space_size(s));
		s->min = min;
		s->max = max;
		space_reset(s);
	}
	sva_lock_release(&s->lock);
	if (allocated || quarantined)
		return space_fail(s, -EBUSY, "cannot change the range: %llu PASIDs allocated and %llu in quarantine",
				  (unsigned long long)allocated, (unsigned long long)quarantined);
	return 0;
}

/* ------------------------------------------------------------------- alloc */

/* Account for a never-used slot being handed out.  Under the lock. */
static int take_fresh(struct sva_pasid_space *s)
{
	int err = rings_reserve(s);

	if (!err)
		s->nr_used++;
	return err;
}

/* The value allocatable again the longest ago (its index and slot), or err
 * if there is none.  Under the lock. */
static int reuse_or(struct sva_pasid_space *s, uint32_t *idx, struct pasid_slot **slp, int err)
{
	if (!pool_pop(s, idx) && !(grace_expire(s, false) && pool_pop(s, idx)))
		return err;
	*slp = slot_used(s, *idx);
	(*slp)->pool_pos = 0;
	return 0;
}

/* The next allocatable value in order (its index and slot), or an error.
 * Under the lock. */
static int next_free(struct sva_pasid_space *s, uint32_t *idx, struct pasid_slot **slp)
{
	uint32_t n = space_size(s);
	int err;

	/* Never-used values first.  The cursor skips values sva_pasid_alloc_at()
	 * took out of order; a skip is final, so it changes nothing on failure.
	 * Out of memory for the table a never-used value needs, an allocatable
	 * one is handed out instead: -ENOMEM only when there is none. */
	while (s->fresh < n) {
		struct pasid_slot *sl = slot_get(s, s->fresh);

		if (!sl)
			return reuse_or(s, idx, slp, -ENOMEM);
		if (sl->state == ST_FRESH) {
			err = take_fresh(s);
			if (err)
				return reuse_or(s, idx, slp, err);
			*idx = s->fresh++;
			*slp = sl;
			sl->pool_pos = FROM_FRESH;
			return 0;
		}
		s->fresh++;
	}
	return reuse_or(s, idx, slp, -ENOSPC);
}

/*
 * The error report of a failed allocation.  Error reports run after the lock
 * is dropped (no user callback ever runs under it), from what was read under
 * it; out of line so the fast paths keep few registers live.
 */
static __attribute__((cold, noinline)) void alloc_failed(const struct sva_pasid_space *s, int err,
							  unsigned int flags, uint64_t allocated, uint64_t quarantined)
{
	/* Exhaustion is the caller's business (a broker probes for it): debug. */
	if (err == -ENOSPC && !(flags & SVA_PASID_ALLOC_QUIET_ENOSPC))
		space_log(s, SVA_LOG_DEBUG, err, "no PASID left: %llu allocated, %llu in quarantine (%s)",
			   (unsigned long long)allocated, (unsigned long long)quarantined,
			   quarantined ? "released ones come back after their grace period or at sva_pasid_barrier(); "
					 "freed ones not released yet need sva_pasid_release() first"
				       : "every value is allocated: free some, or make the range larger");
	else if (err == -ENOMEM)
		space_fail(s, err, "out of memory for the PASID table or queues");
}

int sva_pasid_alloc_ex(struct sva_pasid_space *s, unsigned int flags, void *owner, void *drvdata, uint32_t *pasid)
{
	struct pasid_slot *sl;
	uint32_t idx;
	int err;

	if (__builtin_expect(!s || !pasid, 0))
		return sva_fail(s ? s->log : sva_log_default(), -EINVAL, "sva_pasid_alloc: %s is NULL",
				s ? "pasid" : "space");
	sva_lock_acquire(&s->lock);
	err = next_free(s, &idx, &sl);
	if (__builtin_expect(err != 0, 0)) {
		uint64_t allocated = s->nr_allocated, quarantined = s->nr_quarantined;

		sva_lock_release(&s->lock);
		alloc_failed(s, err, flags, allocated, quarantined);
		return err;
	}
	slot_take(s, sl, owner, drvdata);
	*pasid = s->min + idx;
	sva_lock_release(&s->lock);
	return 0;
}

int sva_pasid_alloc_owned(struct sva_pasid_space *space, void *owner, void *drvdata, uint32_t *pasid)
{
	return sva_pasid_alloc_ex(space, 0, owner, drvdata, pasid);
}

SVA_EXPORT int sva_pasid_alloc(struct sva_pasid_space *space, void *drvdata, uint32_t *pasid)
{
	return sva_pasid_alloc_ex(space, 0, NULL, drvdata, pasid);
}

static const char *state_name(uint8_t st)
{
	switch (st) {
	case ST_ALLOCATED:
		return "allocated";
	case ST_QUARANTINED:
		return "in quarantine (freed, not yet released)";
	case ST_RELEASED:
		return "in quarantine (released, grace period running)";
	case ST_POOLED:
		return "free (back in the pool)";
	case ST_RETIRED:
		return "retired for good (its detach failed: a device may still use it)";
	default:
		return "unused (never allocated)";
	}
}

#ifdef SVA_TEST_HOOKS
/* Tests only: they take exact values to set up a state (nothing in libsva does). */
int sva_pasid_alloc_at(struct sva_pasid_space *s, uint32_t pasid, void *owner, void *drvdata)
{
	struct pasid_slot *sl;
	uint8_t st = ST_FRESH;
	uint32_t idx;
	int err = 0;

	if (pasid < s->min || pasid > s->max)
		return space_fail(s, -ERANGE, "cannot allocate PASID %u: outside the space", pasid);
	idx = pasid - s->min;
	sva_lock_acquire(&s->lock);
	sl = slot_get(s, idx);
	if (!sl) {
		err = -ENOMEM;
		goto out;
	}
	if (sl->state == ST_RELEASED)
		grace_expire(s, false);
	st = sl->state;
	switch (st) {
	case ST_FRESH: /* the cursor will skip it */
		err = take_fresh(s);
		if (err)
			goto out;
		break;
	case ST_POOLED: /* leave a tombstone at its place in the pool */
		s->pool[sl->pool_pos & (s->qcap - 1)] = POOL_TOMB;
		break;
	default:
		err = -EBUSY;
		goto out;
	}
	slot_take(s, sl, owner, drvdata);
	sl->pool_pos = 0; /* not the cursor's: an unalloc pools it */
out:
	sva_lock_release(&s->lock);
	if (err == -ENOMEM)
		space_fail(s, err, "cannot allocate PASID %u: out of memory for the PASID table or queues", pasid);
	else if (err)
		space_fail(s, err, "cannot allocate PASID %u: it is %s", pasid, state_name(st));
	return err;
}
#endif

/* -------------------------------------------------------------------- free */

/*
 * Find the slot of a PASID in `want` state, under the lock.  Returns it, or
 * NULL with *st set to the state it is in (ST_FRESH if its bucket is absent).
 */
static struct pasid_slot *slot_in_state(struct sva_pasid_space *s, uint32_t idx, uint8_t want, uint8_t *st)
{
	struct pasid_slot *sl = slot_at(s, idx);

	*st = sl ? sl->state : ST_FRESH;
	return *st == want ? sl : NULL;
}

/* The error report of a refused free, as alloc_failed(). */
static __attribute__((cold, noinline)) int free_failed(const struct sva_pasid_space *s, int err, uint32_t pasid,
							uint8_t st, void *owner, bool owner_retired)
{
	if (err == -EBUSY && !owner && owner_retired)
		return space_fail(s, err,
				  "cannot free PASID %u: it is retired for good (a detach under it failed, so a device "
				  "may still use it): it is never the driver's again",
				  pasid);
	if (err == -ENOENT)
		return space_fail(s, err, "cannot free PASID %u: it is not allocated (%s)", pasid,
				  st == ST_FRESH || st == ST_POOLED ? "never allocated, or freed long ago"
				  : st == ST_RETIRED ? "a bind allocated it, and its detach failed: it is retired for good"
						     : "already freed: double free");
	return space_fail(s, err, "cannot free PASID %u: %s", pasid,
			  owner ? "it belongs to another owner"
				: "a bind holds it: unbind its bonds first (a driver's value bound with "
				  "SVA_BIND_PASID then comes back allocated, to be freed, unless a detach under it "
				  "failed: then it is retired for good; a bind's own value goes with its last "
				  "unbind)");
}

/* Take a live value of `owner` out of the lookups; *slp its slot.  Under the
 * lock (taken here, held on success).  Errors as sva_pasid_free_owned(). */
static int unpublish(struct sva_pasid_space *s, uint32_t pasid, void *owner, struct pasid_slot **slp)
{
	struct pasid_slot *sl;
	uint64_t seq;
	int err = 0;

	if (__builtin_expect(!s, 0))
		return sva_fail(sva_log_default(), -EINVAL, "sva_pasid_free: space is NULL");
	if (__builtin_expect(pasid < s->min || pasid > s->max, 0))
		return space_fail(s, -ERANGE, "cannot free PASID %u: outside the space", pasid);
	sva_lock_acquire(&s->lock);
	sl = slot_at(s, pasid - s->min);
	seq = sl ? atomic_load_explicit(&sl->seq, memory_order_relaxed) : 0;
	if (__builtin_expect(!(seq & SEQ_LIVE), 0))
		err = -ENOENT;
	else if (owner ? atomic_load_explicit(&sl->owner, memory_order_relaxed) != owner
		       : (seq & SEQ_OWNED) != 0)
		err = -EBUSY;
	if (__builtin_expect(err != 0, 0)) {
		uint8_t st = sl ? sl->state : ST_FRESH;
		bool owner_retired = sl && sl->owner_retired;

		sva_lock_release(&s->lock);
		/* err, which free_failed() returns too: returned here, the
		 * compiler sees it non-zero (*slp is set on success only). */
		free_failed(s, err, pasid, st, owner, owner_retired);
		return err;
	}
	/* Clear LIVE and bump the counter: lookups stop finding it now. */
	atomic_store_explicit(&sl->seq, seq_next(seq, 0), memory_order_release);
	s->nr_allocated--;
	*slp = sl;
	return 0;
}

static int free_to(struct sva_pasid_space *s, uint32_t pasid, void *owner, uint8_t state)
{
	struct pasid_slot *sl;
	int err = unpublish(s, pasid, owner, &sl);

	if (err)
		return err;
	sl->state = state;
	s->nr_quarantined++;
	sva_lock_release(&s->lock);
	return 0;
}

int sva_pasid_free_owned(struct sva_pasid_space *s, uint32_t pasid, void *owner)
{
	return free_to(s, pasid, owner, ST_QUARANTINED);
}

int sva_pasid_retire_owned(struct sva_pasid_space *s, uint32_t pasid, void *owner)
{
	return free_to(s, pasid, owner, ST_RETIRED);
}

void sva_pasid_mark_retired(struct sva_pasid_space *s, uint32_t pasid)
{
	struct pasid_slot *sl;

	if (pasid < s->min || pasid > s->max)
		return;
	sva_lock_acquire(&s->lock);
	sl = slot_at(s, pasid - s->min);
	if (sl && sl->state == ST_ALLOCATED)
		sl->owner_retired = true;
	sva_lock_release(&s->lock);
}

bool sva_pasid_is_retired(struct sva_pasid_space *s, uint32_t pasid)
{
	const struct pasid_slot *sl;
	bool retired;

	if (pasid < s->min || pasid > s->max)
		return false;
	sva_lock_acquire(&s->lock);
	sl = slot_at(s, pasid - s->min);
	retired = sl && sl->state == ST_RETIRED;
	sva_lock_release(&s->lock);
	return retired;
}

int sva_pasid_unalloc_owned(struct sva_pasid_space *s, uint32_t pasid, void *owner)
{
	struct pasid_slot *sl;
	uint32_t idx = pasid - (s ? s->min : 0);
	int err = unpublish(s, pasid, owner, &sl);

	if (err)
		return err;
	if (sl->pool_pos == FROM_FRESH && idx + 1 == s->fresh) {
		/* Never used before: the cursor hands it out next again. */
		sl->state = ST_FRESH;
		s->fresh--;
		s->nr_used--;
	} else {
		pool_push_front(s, idx);
	}
	sva_lock_release(&s->lock);
	return 0;
}

SVA_EXPORT int sva_pasid_free(struct sva_pasid_space *space, uint32_t pasid)
{
	return sva_pasid_free_owned(space, pasid, NULL);
}

SVA_EXPORT int sva_pasid_release(struct sva_pasid_space *s, uint32_t pasid)
{
	struct pasid_slot *sl;
	uint8_t st;

	if (!s)
		return sva_fail(sva_log_default(), -EINVAL, "sva_pasid_release: space is NULL");
	if (pasid < s->min || pasid > s->max)
		return space_fail(s, -ERANGE, "cannot release PASID %u: outside the space", pasid);
	sva_lock_acquire(&s->lock);
	sl = slot_in_state(s, pasid - s->min, ST_QUARANTINED, &st);
	if (sl) {
		/* Stamped under the lock so the grace FIFO stays sorted by time.
		 * No room check: it holds distinct used values, at most qcap. */
		s->grace[s->grace_tail & (s->qcap - 1)] = (struct grace_entry){ now_ns(), pasid - s->min };
		s->grace_tail++;
		sl->state = ST_RELEASED;
	}
	sva_lock_release(&s->lock);
	if (!sl)
		return space_fail(s, -EINVAL, "cannot release PASID %u: only a freed PASID can be released; "
				  "this one is %s", pasid, st == ST_RELEASED ? "already released" : state_name(st));
	return 0;
}

SVA_EXPORT int sva_pasid_barrier(struct sva_pasid_space *s)
{
	int moved;

	if (!s)
		return sva_fail(sva_log_default(), -EINVAL, "sva_pasid_barrier: space is NULL");
	sva_lock_acquire(&s->lock);
	/* Those whose grace time has passed were allocatable already (expiry is
	 * only lazy): not the barrier's doing, so not counted. */
	grace_expire(s, false);
	moved = grace_expire(s, true);
	sva_lock_release(&s->lock);
	return moved;
}

/* A shared or chosen PASID changes hands between bonds (bond_pasid.c). */
int sva_pasid_set_owner(struct sva_pasid_space *s, uint32_t pasid, void *owner, void *drvdata)
{
	struct pasid_slot *sl;
	uint8_t st;

	if (pasid < s->min || pasid > s->max)
		return space_fail(s, -ERANGE, "cannot set the owner of PASID %u: outside the space", pasid);
	sva_lock_acquire(&s->lock);
	sl = slot_in_state(s, pasid - s->min, ST_ALLOCATED, &st);
	if (sl)
		slot_reown(sl, owner, drvdata);
	sva_lock_release(&s->lock);
	if (!sl)
		return space_fail(s, -ENOENT, "cannot set the owner of PASID %u: it is %s", pasid, state_name(st));
	return 0;
}

/* ------------------------------------------------------------------ lookup */

int sva_pasid_lookup_owner(const struct sva_pasid_space *s, uint32_t pasid, void **owner, void **drvdata)
{
	const struct pasid_slot *sl;
	uint64_t s1, s2;
	void *o, *d;

	if (pasid < s->min || pasid > s->max)
		return -ERANGE;
	sl = slot_at(s, pasid - s->min);
	if (!sl)
		return -ENOENT;
	/* Seqcount read: see the comment at the top of the file. */
	for (;;) {
		s1 = atomic_load_explicit(&sl->seq, memory_order_acquire);
		if (!(s1 & SEQ_LIVE))
			return -ENOENT;
		if (__builtin_expect(s1 & SEQ_BUSY, 0)) {
			sva_cpu_relax(); /* sva_pasid_set_owner() is mid-way */
			continue;
		}
		/* Acquire: pairs with the writers' release stores, and keeps
		 * the re-check below from moving up before these loads. */
		d = atomic_load_explicit(&sl->drvdata, memory_order_acquire);
		o = atomic_load_explicit(&sl->owner, memory_order_acquire);
		s2 = atomic_load_explicit(&sl->seq, memory_order_relaxed);
		if (s1 == s2)
			break;
		/* Changed under us: freed (the next round says -ENOENT) or
		 * owner replaced; each retry means a writer finished or
		 * started. */
	}
	if (owner)
		*owner = o;
	if (drvdata)
		*drvdata = d;
	return 0;
}

SVA_EXPORT int sva_pasid_lookup(const struct sva_pasid_space *s, uint32_t pasid, void **drvdata)
{
	int err;

	if (!s)
		return sva_fail(sva_log_default(), -EINVAL, "sva_pasid_lookup: space is NULL");
	err = sva_pasid_lookup_owner(s, pasid, NULL, drvdata);
	/* A lookup answers a question: a driver validating a PASID from a device
	 * descriptor, or racing a free on a fault path, gets "no" as a normal
	 * outcome, so it is logged at debug level only. */
	if (err == -ERANGE)
		space_log(s, SVA_LOG_DEBUG, err, "cannot look up PASID %u: outside the space", pasid);
	else if (err == -ENOENT)
		space_log(s, SVA_LOG_DEBUG, err, "PASID %u is not allocated", pasid);
	return err;
}

/* ------------------------------------------------------------------- stats */

SVA_EXPORT int sva_pasid_stats(const struct sva_pasid_space *space, struct sva_pasid_stats *stats)
{
	/* Stats end expired grace periods first so "free" is exact; the lock
	 * and queues are mutable state behind a logically const call. */
	struct sva_pasid_space *s = (struct sva_pasid_space *)space;

	if (!s)
		return sva_fail(sva_log_default(), -EINVAL, "sva_pasid_stats: space is NULL");
	/* Not logged, as the other read-only calls' argument checks (libsva(7),
	 * Errors): only a NULL object is. */
	if (!stats || stats->size < sizeof(*stats))
		return -EINVAL;
	/* Fields a newer caller knows and we do not: zero.  The whole struct
	 * after its size field is zeroed, then the fields set, as
	 * sva_info_copy_min() does: zeroing only the tail, at stats +
	 * sizeof(*stats), made gcc -flto warn of a memset past a caller's struct
	 * of exactly that size on the path it cannot rule out. */
	memset((char *)stats + sizeof(stats->size), 0, stats->size - sizeof(stats->size));
	sva_lock_acquire(&s->lock);
	grace_expire(s, false);
	stats->min = s->min;
	stats->max = s->max;
	stats->allocated = s->nr_allocated;
	stats->quarantined = s->nr_quarantined;
	stats->free = space_size(s) - s->nr_allocated - s->nr_quarantined;
	sva_lock_release(&s->lock);
	return 0;
}
