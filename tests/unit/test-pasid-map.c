/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * A device's bond table (pasid_map.c) without a kernel: set, clear and get,
 * the edges of its range, buckets on both sides of the mmap threshold, and
 * readers racing a writer that keeps replacing and clearing entries: a read
 * returns a pair from one store (never a bond with another's drvdata), or
 * -ENOENT.  Meant for ThreadSanitizer too (the tsan tier).
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <time.h>

#include "pasid_map.h"
#include "../tap.h"
#include "../busy_window.h"

#define NHOT 4u
#define RUN_NS 500000000ull

static struct sva_pasid_map *map;
static atomic_bool stop;
static atomic_ulong torn, hits, misses;
static const uint32_t hot[NHOT] = { 1, 511, 512, 300000 };

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* A bond and its drvdata encode the same generation: a mismatch is a torn read. */
static void *bond_of_gen(uint64_t gen) { return (void *)(uintptr_t)(gen << 4); }
static void *data_of_gen(uint64_t gen) { return (void *)(uintptr_t)((gen << 4) | 8); }

static void *reader(void *arg)
{
	(void)arg;
	for (unsigned long i = 0; !atomic_load_explicit(&stop, memory_order_relaxed); i++) {
		void *b, *d;

		if (sva_pasid_map_get(map, hot[i % NHOT], &b, &d)) {
			atomic_fetch_add_explicit(&misses, 1, memory_order_relaxed);
			continue;
		}
		if ((uintptr_t)d != ((uintptr_t)b | 8))
			atomic_fetch_add(&torn, 1);
		atomic_fetch_add_explicit(&hits, 1, memory_order_relaxed);
	}
	return NULL;
}

/* A lookup in a handler that interrupts a set's busy window (sigblock.h). */
static void set_gen_9(void)
{
	sva_pasid_map_set(map, hot[0], bond_of_gen(9), data_of_gen(9));
}

static int saw_gen_9(void)
{
	void *b = NULL, *d = NULL;

	return !(sva_pasid_map_get(map, hot[0], &b, &d) == 0 && b == bond_of_gen(9) && d == data_of_gen(9));
}

int main(void)
{
	pthread_t t[2];
	uint64_t gen = 1, end;
	void *b, *d;

	is_int(sva_pasid_map_new((1u << 20) - 1, &map), 0, "a table for 20-bit PASIDs");
	is_int(sva_pasid_map_get(map, 5, &b, &d), -ENOENT, "empty: -ENOENT");
	is_int(sva_pasid_map_get(map, 1u << 20, &b, &d), -ENOENT, "beyond max: -ENOENT");
	is_int(sva_pasid_map_get(NULL, 5, &b, &d), -ENOENT, "no table (no PASIDs): -ENOENT");
	is_int(sva_pasid_map_reserve(map, 1u << 20), -ERANGE, "reserve beyond max: -ERANGE");
	for (uint32_t i = 0; i < NHOT; i++)
		is_int(sva_pasid_map_reserve(map, hot[i]), 0, "reserve %u", hot[i]);
	is_int(sva_pasid_map_reserve(map, (1u << 20) - 1), 0, "reserve the last value (an mmap'ed bucket)");
	sva_pasid_map_set(map, (1u << 20) - 1, bond_of_gen(7), data_of_gen(7));
	ok(sva_pasid_map_get(map, (1u << 20) - 1, &b, &d) == 0 && b == bond_of_gen(7) && d == data_of_gen(7),
	   "set, then get the pair");
	ok(sva_pasid_map_get(map, (1u << 20) - 2, &b, &d) == -ENOENT, "its neighbour is empty");
	sva_pasid_map_set(map, (1u << 20) - 1, bond_of_gen(8), data_of_gen(8));
	ok(sva_pasid_map_get(map, (1u << 20) - 1, NULL, &d) == 0 && d == data_of_gen(8), "replaced");
	sva_pasid_map_clear(map, (1u << 20) - 1);
	is_int(sva_pasid_map_get(map, (1u << 20) - 1, &b, &d), -ENOENT, "cleared: -ENOENT");
	sva_pasid_map_clear(map, 77777); /* never reserved: a no-op */
	sva_pasid_map_clear(map, 1u << 21);

	for (int i = 0; i < 2; i++)
		pthread_create(&t[i], NULL, reader, NULL);
	end = now_ns() + RUN_NS;
	while (now_ns() < end) {
		for (uint32_t i = 0; i < NHOT; i++, gen++) {
			if (gen % 3 == 0)
				sva_pasid_map_clear(map, hot[i]);
			else
				sva_pasid_map_set(map, hot[i], bond_of_gen(gen), data_of_gen(gen));
		}
	}
	atomic_store(&stop, true);
	for (int i = 0; i < 2; i++)
		pthread_join(t[i], NULL);
	is_int(atomic_load(&torn), 0, "no torn pair in %lu hits (%lu misses, %llu writes)", atomic_load(&hits),
	       atomic_load(&misses), (unsigned long long)gen);
	ok(atomic_load(&hits) > 0, "readers saw entries");
	is_int(busy_window_run(set_gen_9, saw_gen_9, 1, 1), 0,
	       "a lookup in a signal handler that interrupts a set on its thread: run after it, new pair");
	sva_pasid_map_free(map);
	sva_pasid_map_free(NULL);
	return done_testing();
}
