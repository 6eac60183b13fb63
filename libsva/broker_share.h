/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The memory an isolated broker client shares: broker_share.c. */
#ifndef LIBSVA_BROKER_SHARE_H
#define LIBSVA_BROKER_SHARE_H

#include <stdbool.h>
#include <stdint.h>

struct sva_ctx;
struct sva_mm;

/*
 * Where a fault at addr may be mapped (mm->lock held): in an isolated broker
 * context, the shared range [*start, *end) that holds addr, or -EFAULT when
 * none does (or it is being unshared); in any other context 0 and [0,
 * UINT64_MAX).  Takes the connection's leaf lock only.
 */
int sva_broker_share_bounds(const struct sva_ctx *ctx, uint64_t addr, uint64_t *start, uint64_t *end);

/* Is ctx an isolated broker client's (its pins are the broker's, within
 * isolated-pin-max)? */
bool sva_broker_ctx_isolated(const struct sva_ctx *ctx);

/* An address space of an isolated broker context is born or about to go (a
 * no-op in other contexts): unsharing withdraws the range from each. */
void sva_broker_mm_add(struct sva_mm *mm);
void sva_broker_mm_remove(struct sva_mm *mm);

#endif
