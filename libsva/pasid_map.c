/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * A device's bonds by PASID: value -> {bond, drvdata}, read lock-free.
 *
 * Why a table per device and not the PASID space's slot: one global PASID can
 * be bound on several devices (an address space's global PASID), each with
 * its own bond and drvdata, so "who is bound under v" is a question about a
 * (device, value) pair.  And the entry holds the pair itself, so neither a
 * lookup nor the fault engine has to dereference a bond to learn whether it
 * belongs to this device: the bond may be freed by a concurrent unbind the
 * moment after the lookup read it.
 *
 * Layout as in pasid_space.c: buckets of 512 << k slots, created on first use
 * (under the writer's lock) and freed only with the table, so a reader never
 * touches freed memory; a seqcount per slot so a reader never returns a bond
 * with another bond's drvdata.  Writers are serialized by the caller (the
 * device's lock); readers take nothing.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "arena.h"
#include "fork.h"
#include "lock.h"
#include "pasid_map.h"
#include "sigblock.h"

#define BUCKET0_SHIFT 9u
#define NBUCKETS 12u
#define BUCKET_MMAP_MIN (256u << 10) /* bigger buckets are not memset: arena granules start zero */

#define SEQ_LIVE 1ull
#define SEQ_BUSY 2ull
#define SEQ_STEP 4ull

struct map_slot {
	_Alignas(32) _Atomic uint64_t seq;
	void *_Atomic bond;
	void *_Atomic drvdata;
};
_Static_assert(sizeof(struct map_slot) == 32, "two slots per cache line");

struct sva_pasid_map {
	uint32_t max;
	unsigned fork_gen; /* sva_fork_gen() of the process that made it */
	_Atomic(struct map_slot *) bucket[NBUCKETS];
};

static inline unsigned int bucket_of(uint32_t idx, uint32_t *off)
{
	uint32_t v = idx + (1u << BUCKET0_SHIFT);
	unsigned int top = 31u - (unsigned int)__builtin_clz(v);

	*off = v - (1u << top);
	return top - BUCKET0_SHIFT;
}

static size_t bucket_bytes(const struct sva_pasid_map *m, unsigned int k)
{
	size_t start = ((size_t)1 << (BUCKET0_SHIFT + k)) - (1u << BUCKET0_SHIFT);
	size_t len = (size_t)1 << (BUCKET0_SHIFT + k), n = (size_t)m->max + 1;

	return (n - start < len ? n - start : len) * sizeof(struct map_slot);
}

int sva_pasid_map_new(uint32_t max, struct sva_pasid_map **out)
{
	struct sva_pasid_map *m = sva_calloc(1, sizeof(*m));

	if (!m)
		return -ENOMEM;
	m->max = max;
	m->fork_gen = sva_fork_gen_init();
	for (unsigned int k = 0; k < NBUCKETS; k++)
		atomic_init(&m->bucket[k], NULL);
	*out = m;
	return 0;
}

void sva_pasid_map_free(struct sva_pasid_map *m)
{
	if (!m)
		return;
	for (unsigned int k = 0; k < NBUCKETS; k++) {
		struct map_slot *b = atomic_load_explicit(&m->bucket[k], memory_order_relaxed);

		sva_free(b);
	}
	sva_free(m);
}

static inline struct map_slot *slot_at(const struct sva_pasid_map *m, uint32_t pasid)
{
	uint32_t off;
	struct map_slot *b = atomic_load_explicit(&m->bucket[bucket_of(pasid, &off)], memory_order_acquire);

	return b ? &b[off] : NULL;
}

int sva_pasid_map_reserve(struct sva_pasid_map *m, uint32_t pasid)
{
	uint32_t off;
	unsigned int k;
	size_t bytes;
	void *b;

	if (pasid > m->max)
		return -ERANGE;
	k = bucket_of(pasid, &off);
	if (atomic_load_explicit(&m->bucket[k], memory_order_relaxed))
		return 0;
	bytes = bucket_bytes(m, k);
	if (bytes < BUCKET_MMAP_MIN) {
		b = sva_aligned_alloc(_Alignof(struct map_slot), bytes);
		if (b)
			memset(b, 0, bytes);
	} else {
		/* Zero-filled lazily: a device that binds a few high values
		 * touches a few pages of it. */
		b = sva_malloc(bytes); /* whole arena granules */
	}
	if (!b)
		return -ENOMEM;
	atomic_store_explicit(&m->bucket[k], b, memory_order_release);
	return 0;
}

void sva_pasid_map_set(struct sva_pasid_map *m, uint32_t pasid, void *bond, void *drvdata)
{
	struct map_slot *sl = slot_at(m, pasid);
	uint64_t seq = atomic_load_explicit(&sl->seq, memory_order_relaxed);
	sigset_t old;

	/* BUSY first, then the pair (release: ordered after BUSY), then the
	 * final word: a reader never pairs one bond with another's drvdata.
	 * Readers wait out BUSY: no handler on this thread may run inside. */
	seq = ((seq & ~(SEQ_STEP - 1)) + SEQ_STEP) | SEQ_BUSY;
	sva_signals_hold(&old);
	atomic_store_explicit(&sl->seq, seq, memory_order_relaxed);
	atomic_store_explicit(&sl->bond, bond, memory_order_release);
	SVA_BUSY_WINDOW();
	atomic_store_explicit(&sl->drvdata, drvdata, memory_order_release);
	atomic_store_explicit(&sl->seq, ((seq & ~(SEQ_STEP - 1)) + SEQ_STEP) | SEQ_LIVE, memory_order_release);
	sva_signals_restore(&old);
}

void sva_pasid_map_clear(struct sva_pasid_map *m, uint32_t pasid)
{
	struct map_slot *sl = pasid <= m->max ? slot_at(m, pasid) : NULL;
	uint64_t seq;

	if (!sl)
		return;
	seq = atomic_load_explicit(&sl->seq, memory_order_relaxed);
	atomic_store_explicit(&sl->seq, (seq & ~(SEQ_STEP - 1)) + SEQ_STEP, memory_order_release);
}

void sva_pasid_map_child_drop(struct sva_pasid_map *m, uint32_t pasid, const void *bond)
{
	struct map_slot *sl = m && pasid <= m->max ? slot_at(m, pasid) : NULL;
	uint64_t seq;

	if (!sl)
		return;
	seq = atomic_load_explicit(&sl->seq, memory_order_relaxed);
	if ((seq & SEQ_BUSY) || ((seq & SEQ_LIVE) && atomic_load_explicit(&sl->bond, memory_order_relaxed) == bond))
		atomic_store_explicit(&sl->seq, (seq & ~(SEQ_STEP - 1)) + SEQ_STEP, memory_order_release);
}

int sva_pasid_map_get(const struct sva_pasid_map *m, uint32_t pasid, void **bond, void **drvdata)
{
	const struct map_slot *sl;
	uint64_t s1, s2;
	void *b, *d;

	if (!m || pasid > m->max || !(sl = slot_at(m, pasid)))
		return -ENOENT;
	for (;;) {
		s1 = atomic_load_explicit(&sl->seq, memory_order_acquire);
		if (!(s1 & SEQ_LIVE) && !(s1 & SEQ_BUSY))
			return -ENOENT;
		if (s1 & SEQ_BUSY) {
			/* A writer is between its two words.  In a forked child
			 * none is: writers are binds, which a child refuses, so
			 * the fork caught a parent's bind there, which no thread
			 * here finishes; its bond was never published in this
			 * process.  Asked only here: a parent's lookup of a
			 * settled entry reads nothing more. */
			if (__builtin_expect(sva_fork_gen() != m->fork_gen, 0))
				return -ENOENT;
			sva_cpu_relax();
			continue;
		}
		b = atomic_load_explicit(&sl->bond, memory_order_acquire);
		d = atomic_load_explicit(&sl->drvdata, memory_order_acquire);
		s2 = atomic_load_explicit(&sl->seq, memory_order_relaxed);
		if (s1 == s2)
			break;
	}
	if (bond)
		*bond = b;
	if (drvdata)
		*drvdata = d;
	return 0;
}
