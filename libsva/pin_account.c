/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The pin budget's accounting (pin_budget.h): what a map (mm_map.c), a
 * withdrawal (withdraw.c) or a fault batch reports, kept where the eviction
 * policy (pin_budget.c) reads it.  A leaf under the map primitives and
 * withdrawal, which the policy calls to evict and to map its fault windows:
 * split from the policy so that neither calls the other back
 * (docs/design.md, "Layers").
 */
#include "internal.h"

uint32_t sva_pin_batch_in_flight(struct sva_mm *mm)
{
	unsigned b = atomic_load_explicit(&mm->ctx->fe.pin_batch, memory_order_relaxed);

	return (b & 1) ? b : 0;
}

void sva_pin_mapped_locked(struct sva_mm *mm, struct sva_chunk *c)
{
	struct sva_pin_budget *pb = &mm->pin;
	uint64_t visible = atomic_load_explicit(&mm->st_visible, memory_order_relaxed);

	if (c->prot & SVA_CHUNK_PINNED)
		pb->pinned += c->end - c->start;
	else
		c->stamp = sva_pin_batch_in_flight(mm);
	if (visible > atomic_load_explicit(&pb->peak, memory_order_relaxed))
		atomic_store_explicit(&pb->peak, visible, memory_order_relaxed);
}

void sva_pin_withdrawn_locked(struct sva_mm *mm, uint32_t flags, uint64_t bytes)
{
	if (flags & SVA_CHUNK_PINNED)
		mm->pin.pinned -= bytes;
}

void sva_pin_touch_locked(struct sva_mm *mm, void *chunk)
{
	struct sva_chunk *c = chunk;

	c->prot |= SVA_CHUNK_REF;
	if (!(c->prot & SVA_CHUNK_PINNED))
		c->stamp = sva_pin_batch_in_flight(mm);
}

void sva_pin_keep(struct sva_mm *mm, uint64_t addr)
{
	struct sva_chunk *c;

	pthread_mutex_lock(&mm->map_lock);
	c = sva_chunks_after(&mm->chunks, addr);
	if (c && c->start <= addr && !(c->prot & SVA_CHUNK_PINNED))
		c->stamp = sva_pin_batch_in_flight(mm);
	pthread_mutex_unlock(&mm->map_lock);
}
