/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * A device's bonds by PASID (pasid_map.c): value -> {bond, drvdata}, one
 * table per device, lock-free for readers.  Writers of different entries may
 * run at once (buckets never move).  Reserve and set run under the device's
 * lock; an unbind clears its entry under the fault engine's exclusion
 * instead, so a batch that found a bond here can use it until the batch
 * ends (no other writer touches that entry: its value is still the bond's).
 */
#ifndef LIBSVA_PASID_MAP_H
#define LIBSVA_PASID_MAP_H

#include <stdint.h>

struct sva_pasid_map;

/* A table for values 0 .. max.  -ENOMEM. */
int sva_pasid_map_new(uint32_t max, struct sva_pasid_map **out);
/* Nothing may look it up any more (the device is being freed).  NULL-safe. */
void sva_pasid_map_free(struct sva_pasid_map *m);
/* Make room for `pasid` so that set cannot fail.  -ERANGE beyond max; -ENOMEM. */
int sva_pasid_map_reserve(struct sva_pasid_map *m, uint32_t pasid);
/* Publish {bond, drvdata} under a reserved pasid. */
void sva_pasid_map_set(struct sva_pasid_map *m, uint32_t pasid, void *bond, void *drvdata);
/* Unpublish: lookups that start after this return -ENOENT. */
void sva_pasid_map_clear(struct sva_pasid_map *m, uint32_t pasid);
/* A forked child's copy: empties the entry of pasid if it holds bond, or if a
 * fork caught a writer between its stores (readers would wait for the last
 * one for ever; the bond being published is a bind in progress, which no
 * thread of the child finishes).  No reader waits, no writer runs. */
void sva_pasid_map_child_drop(struct sva_pasid_map *m, uint32_t pasid, const void *bond);
/* Lock-free: the pair of an entry that was published at some instant during
 * the call (either pointer may be NULL), or -ENOENT.  Never dereferences the
 * bond.  m may be NULL (a device without PASIDs): -ENOENT.  Waits out a
 * writer between its stores, but in a forked child, where the entry is a
 * parent's bind the fork caught (no writer runs there): -ENOENT. */
int sva_pasid_map_get(const struct sva_pasid_map *m, uint32_t pasid, void **bond, void **drvdata);

#endif /* LIBSVA_PASID_MAP_H */
