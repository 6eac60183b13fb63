/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The mapped-chunk table: a skip list ordered by start (see chunks.h). */
#include <errno.h>
#include <stdlib.h>

#include "arena.h"
#include "chunks.h"

/* Levels with p = 1/4: expected 1.33 links per node, log4(n) hops per level. */
static unsigned random_levels(struct sva_chunks *t)
{
	unsigned levels = 1;
	uint64_t x;

	t->seed = t->seed * 6364136223846793005ull + 1442695040888963407ull;
	x = t->seed >> 20;
	while (levels < SVA_CHUNKS_LEVELS && (x & 3) == 0) {
		levels++;
		x >>= 2;
	}
	return levels;
}

/*
 * Fill prev[l], for each level in use (l < t->top), with the link to follow
 * at level l: the last node at that level whose end is <= addr (NULL: the
 * head).  Levels above are empty; a table of n chunks uses about log4(n) of
 * the 16, and walking the empty ones was a fifth of a search.
 */
static void find(const struct sva_chunks *t, uint64_t addr, struct sva_chunk **prev)
{
	struct sva_chunk *p = NULL;

	for (int l = (int)t->top - 1; l >= 0; l--) {
		struct sva_chunk *n = p ? p->next[l] : t->head[l];
		uint64_t n_end = p ? sva_chunk_ends(p)[l] : t->head_end[l];

		while (n && n_end <= addr) {
			p = n;
			n = p->next[l];
			n_end = sva_chunk_ends(p)[l];
		}
		prev[l] = p;
	}
}

struct sva_chunk *sva_chunks_search(struct sva_chunks *t, uint64_t addr)
{
	find(t, addr, t->memo_prev);
	t->memo_addr = addr;
	t->memo_ok = true;
	return t->top && t->memo_prev[0] ? t->memo_prev[0]->next[0] : t->head[0];
}

struct sva_chunk *sva_chunks_insert(struct sva_chunks *t, uint64_t start, uint64_t end, uint32_t prot)
{
	struct sva_chunk *prev[SVA_CHUNKS_LEVELS], *c;
	unsigned levels = random_levels(t);

	if (levels > SVA_CHUNKS_STASH_LEVELS) {
		c = sva_malloc(sizeof(*c) + levels * (sizeof(c->next[0]) + sizeof(uint64_t)));
	} else {
		if (!t->stash) {
			void *v[SVA_CHUNKS_STASH];
			size_t n = sva_malloc_many(sizeof(*c) + SVA_CHUNKS_STASH_LEVELS *
								    (sizeof(c->next[0]) + sizeof(uint64_t)),
						   v, SVA_CHUNKS_STASH);

			for (size_t i = 0; i < n; i++) {
				struct sva_chunk *s = v[i];

				s->next[0] = t->stash;
				t->stash = s;
			}
		}
		c = t->stash;
		if (c)
			t->stash = c->next[0];
	}
	if (!c)
		return NULL;
	c->start = start;
	c->end = end;
	c->prot = prot;
	c->levels = levels;
	c->stamp = 0;
	/* The links the last search found, read in place: a copy was a call to
	 * memcpy() per fault, 50-100 ns under the VM's emulation. */
	struct sva_chunk **pv = t->memo_prev;

	if (!t->memo_ok || t->memo_addr != start) {
		find(t, start, prev);
		pv = prev;
	}
	t->memo_ok = false;
	for (unsigned l = 0; l < levels; l++) {
		bool after = l < t->top && pv[l];
		struct sva_chunk **link = after ? &pv[l]->next[l] : &t->head[l];
		uint64_t *link_end = after ? &sva_chunk_ends(pv[l])[l] : &t->head_end[l];

		c->next[l] = *link;
		sva_chunk_ends(c)[l] = *link ? *link_end : 0;
		*link = c;
		*link_end = end;
	}
	if (levels > t->top)
		t->top = levels;
	t->count++;
	return c;
}

struct sva_chunk *sva_chunks_unlink(struct sva_chunks *t, uint64_t start)
{
	struct sva_chunk *prev[SVA_CHUNKS_LEVELS], *c;

	find(t, start, prev);
	c = t->top && prev[0] ? prev[0]->next[0] : t->head[0];
	if (!c || c->start != start)
		return NULL;
	t->memo_ok = false;
	for (unsigned l = 0; l < c->levels; l++) {
		struct sva_chunk **link = prev[l] ? &prev[l]->next[l] : &t->head[l];
		uint64_t *link_end = prev[l] ? &sva_chunk_ends(prev[l])[l] : &t->head_end[l];

		if (*link == c) {
			*link = c->next[l];
			*link_end = sva_chunk_ends(c)[l];
		}
	}
	t->count--;
	return c;
}

int sva_chunks_remove(struct sva_chunks *t, uint64_t start)
{
	struct sva_chunk *c = sva_chunks_unlink(t, start);

	if (!c)
		return -ENOENT;
	sva_free(c);
	return 0;
}

void sva_chunks_clear(struct sva_chunks *t)
{
	struct sva_chunk *c = t->head[0];

	while (c) {
		struct sva_chunk *next = c->next[0];

		sva_free(c);
		c = next;
	}
	for (unsigned l = 0; l < SVA_CHUNKS_LEVELS; l++)
		t->head[l] = NULL;
	while (t->stash) {
		struct sva_chunk *next = t->stash->next[0];

		sva_free(t->stash);
		t->stash = next;
	}
	t->count = 0;
	t->top = 0;
	t->memo_ok = false;
}
