/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The mapped-chunk skip list against a flat reference model, under random operations. */
#include <errno.h>
#include <stdlib.h>

#include "chunks.h"
#include "../tap.h"

#define SLOTS 512 /* the model: slot i is the page [i, i + 1) * 4096 */

static uint64_t rng = 12345;

static unsigned rnd(unsigned n)
{
	rng = rng * 6364136223846793005ull + 1442695040888963407ull;
	return (unsigned)((rng >> 33) % n);
}

/* model[i]: the start slot of the chunk covering slot i, or -1. */
static int model[SLOTS];

static int check_against_model(struct sva_chunks *t)
{
	const struct sva_chunk *c = t->head[0];
	uint64_t prev_end = 0;
	size_t n = 0;

	for (; c; c = c->next[0], n++) {
		if (c->start < prev_end || c->end <= c->start)
			return 0;
		for (uint64_t p = c->start / 4096; p < c->end / 4096; p++)
			if (model[p] != (int)(c->start / 4096))
				return 0;
		prev_end = c->end;
	}
	for (int i = 0; i < SLOTS; i++) {
		const struct sva_chunk *a = sva_chunks_after(t, (uint64_t)i * 4096 + 17);

		if (model[i] < 0 ? (a && a->start <= (uint64_t)i * 4096) : (!a || a->start != (uint64_t)model[i] * 4096))
			return 0;
	}
	return n == t->count;
}

/* One address asked again after every change: the table's memo of its last
 * search must never answer from before the change. */
static int probe_matches(struct sva_chunks *t, int slot)
{
	uint64_t addr = (uint64_t)slot * 4096;
	const struct sva_chunk *want = t->head[0];

	while (want && want->end <= addr) /* the truth: a walk of the bottom level */
		want = want->next[0];
	return sva_chunks_after(t, addr) == want;
}

int main(void)
{
	struct sva_chunks t = { .seed = 1 };
	int inserts = 0, removes = 0, good = 1;

	for (int i = 0; i < SLOTS; i++)
		model[i] = -1;
	ok(sva_chunks_after(&t, 0) == NULL, "an empty table has nothing after 0");
	is_int(sva_chunks_remove(&t, 4096), -ENOENT, "removing from an empty table: -ENOENT");
	for (int op = 0; op < 20000 && good; op++) {
		unsigned s = rnd(SLOTS), len = 1 + rnd(8), free_run = 0;

		(void)sva_chunks_after(&t, (uint64_t)s * 4096); /* asked before the change, asked again after it */

		while (s + free_run < SLOTS && free_run < len && model[s + free_run] < 0)
			free_run++;
		if (rnd(3) && free_run) {
			struct sva_chunk *c = sva_chunks_insert(&t, (uint64_t)s * 4096, (uint64_t)(s + free_run) * 4096, 3);

			/* The chunk inserted, as it was asked for. */
			if (!c || c->start != (uint64_t)s * 4096 || c->end != (uint64_t)(s + free_run) * 4096 || c->prot != 3)
				good = 0;
			for (unsigned k = 0; k < free_run; k++)
				model[s + k] = (int)s;
			inserts++;
		} else if (model[s] >= 0) {
			int start = model[s];

			if (sva_chunks_remove(&t, (uint64_t)start * 4096))
				good = 0;
			for (int k = start; k < SLOTS && model[k] == start; k++)
				model[k] = -1;
			removes++;
		} else if (sva_chunks_remove(&t, (uint64_t)s * 4096) != -ENOENT) {
			good = 0;
		}
		if (op % 97 == 0 && !check_against_model(&t))
			good = 0;
		if (!probe_matches(&t, (int)s) || !probe_matches(&t, 300))
			good = 0;
	}
	ok(good && check_against_model(&t), "20000 random inserts and removes match the model (%d in, %d out)", inserts,
	   removes);
	is_int(sva_chunks_remove(&t, 4096 * 600), -ENOENT, "removing a start that is no chunk's: -ENOENT");
	/* Nodes come SVA_CHUNKS_STASH at a time (one arena lock for that many
	 * inserts); a node of more levels than a stash node has comes alone. */
	{
		size_t stashed = 0;

		for (struct sva_chunk *c = t.stash; c; c = c->next[0])
			stashed++;
		ok(stashed < SVA_CHUNKS_STASH, "the stash holds fewer than a refill's nodes (%zu)", stashed);
	}
	/* map_gap()'s failure path: the search, the insert from its memo, and
	 * the remove when the map fails, three times over (its -EFAULT
	 * attempts), then a map that works.  Every level's links must lead to
	 * linked nodes only (no freed one, ASan would see it), each level's
	 * recorded ends must be its next node's, and the table be as before. */
	{
		int fails = 0, slot = -1;
		size_t count0 = t.count;

		for (int i = 0; i < SLOTS && slot < 0; i++)
			if (model[i] < 0)
				slot = i;
		for (int round = 0; round < 64 && slot >= 0; round++) {
			uint64_t a = (uint64_t)slot * 4096;

			for (int attempt = 0; attempt < 3; attempt++) {
				(void)sva_chunks_after(&t, a);
				if (!sva_chunks_insert(&t, a, a + 4096, 3) || sva_chunks_remove(&t, a))
					fails++;
				if (!probe_matches(&t, slot) || t.count != count0)
					fails++;
			}
			for (unsigned l = 0; l < SVA_CHUNKS_LEVELS; l++) {
				uint64_t end = t.head[l] ? t.head_end[l] : 0;

				for (struct sva_chunk *c = t.head[l]; c; c = c->next[l]) {
					if (c->levels <= l || c->end != end || c->start == a)
						fails++;
					end = c->next[l] ? sva_chunk_ends(c)[l] : 0;
				}
				if (l >= t.top && t.head[l])
					fails++;
			}
		}
		ok(slot >= 0 && fails == 0 && check_against_model(&t),
		   "insert then remove at once (a failed map, 3 attempts, 64 rounds): links, ends and memo intact (%d bad)",
		   fails);
	}
	sva_chunks_clear(&t);
	ok(t.count == 0 && t.head[0] == NULL && t.stash == NULL, "clear empties the table and frees the stash");
	ok(sva_chunks_after(&t, 4096 * 300) == NULL, "and no search answers from before the clear");
	return done_testing();
}
