/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The table of mapped chunks of an address space: non-overlapping [start, end)
 * ranges, each exactly one IOMMU_IOAS_MAP (so it can be unmapped whole).  A
 * skip list: faults insert in random order, and a sorted array's memmove on
 * every insert cost more than the map itself under emulation.  Every call,
 * searches included (they update the memo below), is made under the owner's
 * lock (mm->map_lock); there is no read-only access to share.
 */
#ifndef LIBSVA_CHUNKS_H
#define LIBSVA_CHUNKS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SVA_CHUNKS_LEVELS 16

struct sva_chunk {
	uint64_t start, end; /* [start, end), page-aligned */
	uint32_t prot;	     /* SVA_PROT_READ | SVA_PROT_WRITE, and the owner's flags */
	unsigned levels;
	uint32_t stamp;		  /* the fault batch that mapped or last used it (pin_budget.c) */
	/* One link per level, then (sva_chunk_ends()) the end of the chunk each
	 * link leads to: a search decides whether to step from the node it is
	 * on, and reads no node it does not step onto (each a cold line). */
	struct sva_chunk *next[];
};

static inline uint64_t *sva_chunk_ends(struct sva_chunk *c)
{
	return (uint64_t *)(void *)&c->next[c->levels];
}

struct sva_chunks {
	struct sva_chunk *head[SVA_CHUNKS_LEVELS];
	uint64_t head_end[SVA_CHUNKS_LEVELS]; /* head[l]->end, where head[l] is not NULL */
	size_t count;
	unsigned top;  /* levels in use: head[l] is NULL for every l >= top */
	uint64_t seed; /* for node levels */
	/* The last search, until the table changes: a fault looks its page up,
	 * then maps a window that starts there and inserts its chunk
	 * (fault_resolve.c, mm_map.c): one search serves all three. */
	bool memo_ok;
	uint64_t memo_addr;
	struct sva_chunk *memo_prev[SVA_CHUNKS_LEVELS];
	/* Nodes of SVA_CHUNKS_STASH_LEVELS levels or fewer (15 in 16),
	 * allocated SVA_CHUNKS_STASH at a time and linked by next[0]: an insert
	 * takes the arena's lock once in that many (sva_chunks_clear frees them). */
	struct sva_chunk *stash;
};

#define SVA_CHUNKS_STASH 16
#define SVA_CHUNKS_STASH_LEVELS 2 /* 64 bytes: 15 nodes in 16 */

/* sva_chunks_after() past its memo: a search, remembered. */
struct sva_chunk *sva_chunks_search(struct sva_chunks *t, uint64_t addr);

/* The first chunk whose end is above addr (it contains addr if its start <= addr), or NULL.
 * The memo's answer inline: a fault's window asks again for the address its
 * lookup just searched, and a call costs 50-100 ns under the VM's emulation. */
static inline struct sva_chunk *sva_chunks_after(struct sva_chunks *t, uint64_t addr)
{
	if (!t->memo_ok || t->memo_addr != addr)
		return sva_chunks_search(t, addr);
	return t->top && t->memo_prev[0] ? t->memo_prev[0]->next[0] : t->head[0];
}

static inline struct sva_chunk *sva_chunks_next(const struct sva_chunk *c)
{
	return c->next[0];
}

/* Insert [start, end); the caller guarantees it overlaps nothing.  The new
 * chunk (the fault path stamps it without a second search), or NULL: no memory. */
struct sva_chunk *sva_chunks_insert(struct sva_chunks *t, uint64_t start, uint64_t end, uint32_t prot);

/* Remove and free the chunk that starts at `start`; 0 or -ENOENT. */
int sva_chunks_remove(struct sva_chunks *t, uint64_t start);

/* Remove the chunk that starts at `start` and hand it back unfreed (the
 * caller may not be allowed to free); NULL if there is none. */
struct sva_chunk *sva_chunks_unlink(struct sva_chunks *t, uint64_t start);

/* Free every chunk. */
void sva_chunks_clear(struct sva_chunks *t);

#endif
