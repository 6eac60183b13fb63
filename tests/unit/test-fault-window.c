/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Adaptive fault-around (libsva/fault_window.c) without a kernel: the first
 * window, the ramp of an in-order stream up to the cap, the fall to one page
 * on random faults, the cap as a fixed one-page window, huge pages, and the
 * numbers the benchmark's targets rest on (faults per page of a sequential
 * walk, pages per fault of random faults), and how far apart faults of one
 * batch may be to share a map.
 */
#include <stdint.h>

#include "fault_window.h"
#include "../tap.h"

#define PG 4096ull
#define KiB (1ull << 10)
#define MiB (1ull << 20)

/* One fault as libsva takes it: plan, then (the map succeeded) commit. */
static uint64_t fault(struct sva_fa_state *st, uint64_t addr, uint64_t cap, bool huge, uint64_t *ws, uint64_t *we)
{
	uint64_t s, e, size = sva_fa_window(st, addr, cap, huge, &s, &e);

	st->size = size;
	st->next = e;
	if (ws)
		*ws = s;
	if (we)
		*we = e;
	return e - s;
}

/* Walk [base, base + len) in order, faulting where nothing is mapped yet. */
static unsigned walk(struct sva_fa_state *st, uint64_t base, uint64_t len, uint64_t cap)
{
	uint64_t mapped_to = 0;
	unsigned faults = 0;

	for (uint64_t a = base; a < base + len; a += PG) {
		uint64_t we;

		if (a < mapped_to)
			continue;
		fault(st, a, cap, false, NULL, &we);
		mapped_to = we;
		faults++;
	}
	return faults;
}

int main(void)
{
	struct sva_fa_state st = { 0 };
	uint64_t ws, we, seed = 7;
	unsigned n, more;

	/* The first fault: the old fixed 64 KiB block, aligned on its size. */
	is_int(fault(&st, 0x10005000, 1 * MiB, false, &ws, &we), 64 * KiB, "first fault: 64 KiB");
	ok(ws == 0x10000000 && we == 0x10010000, "first fault: the aligned block around the address");
	st = (struct sva_fa_state){ 0 };
	is_int(fault(&st, 0x10005000, 16 * KiB, false, &ws, &we), 16 * KiB, "first fault under a 16 KiB cap: 16 KiB");
	ok(ws == 0x10004000, "first fault under a 16 KiB cap: aligned on 16 KiB");

	/* In order: doubles, runs forward from the fault, stops at the cap. */
	st = (struct sva_fa_state){ 0 };
	fault(&st, 0x10000000, 1 * MiB, false, NULL, &we);
	is_int(fault(&st, we, 1 * MiB, false, &ws, &we), 128 * KiB, "the fault just past the window: it doubles");
	is_int(ws, 0x10010000, "and starts at the fault, not before it");
	is_int(fault(&st, we + 8 * PG, 1 * MiB, false, &ws, NULL), 256 * KiB,
	       "a fault a few pages past the window is in order too");
	for (int i = 0; i < 8; i++)
		fault(&st, st.next, 1 * MiB, false, NULL, NULL);
	is_int(st.size, 1 * MiB, "a long in-order stream stops at the cap");

	/* Out of order: halves, down to one page, aligned around the fault. */
	fault(&st, 0x30000000, 1 * MiB, false, &ws, &we);
	is_int(we - ws, 512 * KiB, "a fault elsewhere: it halves");
	ok(ws == 0x30000000 && (ws & (512 * KiB - 1)) == 0, "aligned on its size");
	fault(&st, 0x10000000, 1 * MiB, false, NULL, NULL);
	is_int(st.size, 256 * KiB, "a fault behind the window is not in order");
	for (int i = 0; i < 20; i++)
		fault(&st, 0x20000000 + (uint64_t)i * 7 * MiB, 1 * MiB, false, NULL, NULL);
	is_int(st.size, PG, "random faults: one page");
	fault(&st, 0x50003000, 1 * MiB, false, &ws, &we);
	ok(ws == 0x50003000 && we == 0x50004000, "one page: the faulting page alone");
	is_int(fault(&st, 0x50004000, 1 * MiB, false, NULL, NULL), 2 * PG, "and the next page in order: two");

	/* A 4 KiB cap: no fault-around, in order or not. */
	st = (struct sva_fa_state){ 0 };
	n = 0;
	for (int i = 0; i < 10; i++)
		n += fault(&st, 0x10000000 + (uint64_t)i * PG, PG, false, NULL, NULL) == PG;
	is_int(n, 10, "a 4 KiB cap: every window is one page");

	/* Huge pages: whole 2 MiB pages, whatever the cap or the state. */
	st = (struct sva_fa_state){ 0 };
	fault(&st, 0x40123000, 64 * KiB, true, &ws, &we);
	ok(ws == 0x40000000 && we == 0x40200000, "a huge mapping: the whole 2 MiB page under a 64 KiB cap");
	for (int i = 0; i < 20; i++)
		fault(&st, 0x20000000 + (uint64_t)i * 7 * MiB + 5 * PG, 1 * MiB, true, &ws, &we);
	ok((ws & (2 * MiB - 1)) == 0 && we - ws == 2 * MiB, "a huge mapping, random faults: still one whole 2 MiB page");
	fault(&st, 0x60000000, 4 * MiB, true, NULL, NULL);
	for (int i = 0; i < 3; i++)
		fault(&st, st.next, 4 * MiB, true, &ws, &we);
	ok(we - ws == 4 * MiB && (ws & (2 * MiB - 1)) == 0, "a huge mapping, in order: whole pages up to the cap");
	/* In order but a page into the next huge page: the window starts at the
	 * page holding addr (it used to start at addr and be rounded out to two
	 * huge pages, twice the cap or more). */
	for (uint64_t cap = PG; cap <= 2 * MiB; cap *= 16) {
		st = (struct sva_fa_state){ 0 };
		fault(&st, 0x40000000, cap, true, NULL, NULL);
		fault(&st, st.next + PG, cap, true, &ws, &we);
		ok(ws == 0x40200000 && we == 0x40400000,
		   "a huge mapping, in order a page past the window, cap %llu KiB: the one 2 MiB page [%#llx, %#llx)",
		   (unsigned long long)(cap / KiB), (unsigned long long)ws, (unsigned long long)we);
	}
	st = (struct sva_fa_state){ 0 };
	fault(&st, 0x40000000, 8 * MiB, true, NULL, NULL);
	n = 0;
	for (int i = 0; i < 4; i++) {
		uint64_t addr = st.next + 3 * PG, size = sva_fa_window(&st, addr, 8 * MiB, true, &ws, &we);

		n += ws == (addr & ~(2 * MiB - 1)) && we - ws == size && size <= 8 * MiB;
		st.size = size;
		st.next = we;
	}
	is_int(n, 4, "a huge mapping, in order a few pages in, cap 8 MiB: each window its size, from addr's 2 MiB page");

	/* The benchmark's sequential target: >= 16x fewer faults than pages. */
	st = (struct sva_fa_state){ 0 };
	n = walk(&st, 0x10000000, 4 * MiB, SVA_FA_START * 16);
	ok(n * 16 <= 1024, "a 4 MiB walk under a 1 MiB cap: %u faults for 1024 pages", n);
	st = (struct sva_fa_state){ 0 };
	for (int i = 0; i < 20; i++)
		fault(&st, 0x20000000 + (uint64_t)i * 7 * MiB, 1 * MiB, false, NULL, NULL);
	more = walk(&st, 0x10000000, 4 * MiB, SVA_FA_START * 16);
	ok(more <= n + 5, "after random faults, the same walk ramps up again: %u faults", more);

	/* The random target: about one page per fault once the stream is random. */
	st = (struct sva_fa_state){ 0 };
	n = 0;
	for (int i = 0; i < 1024; i++) {
		seed = seed * 6364136223846793005ull + 1442695040888963407ull;
		n += (unsigned)(fault(&st, 0x40000000 + ((seed >> 33) % 1024) * PG, 1 * MiB, false, NULL, NULL) / PG);
	}
	ok(n < 1024 + 64, "1024 random faults over 4 MiB map %u pages", n);

	/* A window the pin budget or a mapping clipped to a length that is no
	 * power of two (resolve stores what fitted): every later window is a
	 * power of two of whole pages, in order or not. */
	{
		static const uint64_t clipped[] = { 60 * PG, 15 * PG, 3 * PG, 6144, 12 * PG + 2048 };
		bool whole = true;

		for (size_t i = 0; i < sizeof(clipped) / sizeof(clipped[0]); i++) {
			uint64_t a = 0x20000000;

			st = (struct sva_fa_state){ .next = 0x10000000, .size = clipped[i] };
			for (int k = 0; k < 12; k++) {
				uint64_t len = fault(&st, a, 1 * MiB, false, &ws, &we);

				if (len < PG || (len & (len - 1)) || (ws & (PG - 1)) || ws > a || we <= a)
					whole = false;
				/* Backward (halves), then forward in order (doubles). */
				a = k < 6 ? a - 64 * KiB : st.next;
				if (k == 5)
					st.next = a;
			}
		}
		ok(whole, "after a clipped window: powers of two of whole pages, holding the fault");
	}

	/* Bridging faults of one batch: a few pages, never past the cap. */
	is_int(sva_fa_bridge(PG), 0, "a 4 KiB cap: no bridge, no page that was not asked for");
	is_int(sva_fa_bridge(16 * KiB), 12 * KiB, "a 16 KiB cap: at most 3 pages between faults");
	is_int(sva_fa_bridge(1 * MiB), 32 * KiB, "the default cap: 8 pages");
	return done_testing();
}
