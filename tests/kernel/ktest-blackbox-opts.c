/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * An outside tester's pass over every options and information structure of
 * sva.h, written from sva.h's general rules and the pages alone.  The other
 * black-box programs check one or two points of the size rule per structure;
 * this one sweeps the whole of it, at every edge:
 *
 *  - every size below sizeof but the first layout's is -EINVAL (options and
 *    information structures alike), and leaves the output as it was;
 *  - a larger size with zeros beyond is accepted at every length from
 *    sizeof + 1 to sizeof + 16, and a non-zero byte at any position beyond
 *    is -EINVAL with nothing made (options); an information structure gets
 *    the bytes beyond zeroed and no byte past its size written;
 *  - libsva reads `size` bytes: what lies past a first layout's size is not
 *    read (sva_mm_opts, sva_bind_opts);
 *  - every flag bit the header does not define, one at a time, is -EINVAL
 *    with the output untouched and no descriptor or PASID left behind;
 *  - sva_pasid_space_opts' defaults, exact edges and the documented order of
 *    its refusals; sva_mem_opts' numa_node ignored without SVA_MEM_NODE and
 *    SVA_MEM_HUGE's 2 MiB rounding; sva_ctx_opts.log_level's last value.
 *
 * Runs on the selftest mock (about a second); skips where /dev/iommu or the
 * mock is missing.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/capability.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <sva/sva.h>

#include "../tap.h"
#include "ipc_lock_off.h"

#define PG 4096ul
#define MiB (1ul << 20)
#define TAIL 16

static struct sva_ctx *ctx;
static struct sva_dev *dev;
static struct sva_mm *mm;

static void quiet(void *arg, enum sva_log_level level, const char *msg)
{
	(void)arg;
	(void)level;
	(void)msg;
}

/* Open descriptors of the process: a refused call must leave none behind. */
static int nfds(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	int n = 0;

	if (!d)
		return -1;
	while ((e = readdir(d)))
		n += e->d_name[0] != '.';
	closedir(d);
	return n;
}

static uint64_t global_allocated(void)
{
	struct sva_pasid_stats s = { .size = sizeof(s) };

	if (sva_pasid_stats(sva_ctx_global_pasids(ctx), &s))
		return UINT64_MAX;
	return s.allocated;
}

/* ------------------------------------------------- one options structure */

/* The bytes handed to the call: a valid template, then the size under test. */
static union {
	max_align_t align;
	unsigned char b[512];
} buf;

#define SENTINEL ((void *)(uintptr_t)0x5a5a5a5a)

/*
 * One options structure: `call` passes buf to the function under test and,
 * on success, releases what it made.  *out_untouched says whether the
 * function's output pointer still held SENTINEL after a failure.
 */
struct optdesc {
	const char *name;
	size_t sz, first;
	uint32_t known; /* the SVA_*_ flag bits the header defines */
	size_t flags_off; /* SIZE_MAX: no flags field */
	const void *tmpl;
	int (*call)(bool *out_untouched);
};

static struct sva_ctx_opts ctx_tmpl = { .log_fn = quiet };
static int call_ctx(bool *untouched)
{
	struct sva_ctx *c = SENTINEL;
	int r = sva_ctx_new((void *)buf.b, &c);

	*untouched = c == SENTINEL;
	if (!r)
		sva_ctx_free(c);
	return r;
}

static struct sva_mm_opts mm_tmpl;
static int call_mm(bool *untouched)
{
	struct sva_mm *m = SENTINEL;
	int r = sva_mm_new(ctx, (void *)buf.b, &m);

	*untouched = m == SENTINEL;
	if (!r)
		sva_mm_free(m);
	return r;
}

static struct sva_mem_opts mem_tmpl; /* .mm set in main */
static int call_mem(bool *untouched)
{
	void *p = SENTINEL;
	int r = sva_mem_alloc(PG, (void *)buf.b, &p);

	*untouched = p == SENTINEL;
	if (!r && sva_mem_free(mm, p, PG))
		tap_bail("sva_mem_free of a fresh allocation failed");
	return r;
}

static struct sva_pasid_space_opts pasid_tmpl;
static int call_pasid(bool *untouched)
{
	struct sva_pasid_space *s = SENTINEL;
	int r = sva_pasid_space_new((void *)buf.b, &s);

	*untouched = s == SENTINEL;
	if (!r)
		sva_pasid_space_free(s);
	return r;
}

static struct sva_mock_opts mock_tmpl;
static int call_mock(bool *untouched)
{
	struct sva_dev *d = SENTINEL;
	int r = sva_dev_open_mock(ctx, (void *)buf.b, &d);

	*untouched = d == SENTINEL;
	if (!r)
		sva_dev_close(d);
	return r;
}

static struct sva_bind_opts bind_tmpl = { .flags = SVA_BIND_PINNED };
static int call_bind(bool *untouched)
{
	struct sva_bond *b = SENTINEL;
	int r = sva_bind(dev, mm, (void *)buf.b, &b);

	*untouched = b == SENTINEL;
	if (!r && sva_unbind(b))
		tap_bail("sva_unbind of a fresh bond failed");
	return r;
}

static void mm_exit_nop(struct sva_bond *b, void *drvdata)
{
	(void)b;
	(void)drvdata;
}
static struct sva_bond_ops ops_tmpl = { .mm_exit = mm_exit_nop };
static int call_ops(bool *untouched)
{
	struct sva_bind_opts o = { .size = sizeof(o), .flags = SVA_BIND_PINNED, .ops = (void *)buf.b };
	struct sva_bond *b = SENTINEL;
	int r = sva_bind(dev, mm, &o, &b);

	*untouched = b == SENTINEL;
	if (!r && sva_unbind(b))
		tap_bail("sva_unbind of a fresh bond failed");
	return r;
}

static void load(const struct optdesc *d, size_t size)
{
	memset(buf.b, 0, sizeof(buf.b));
	memcpy(buf.b, d->tmpl, d->sz);
	memcpy(buf.b, &size, sizeof(size));
}

static void sweep_options(const struct optdesc *d)
{
	size_t bad_size = SIZE_MAX, bad_tail = SIZE_MAX, bad_tail_len = SIZE_MAX;
	unsigned bad_bit = 32;
	bool untouched, all_untouched = true;
	int fds0 = nfds(), r;
	uint64_t alloc0 = global_allocated();

	/* "a size smaller than the struct's first layout is -EINVAL ...; so is a
	 * size between the first layout and sizeof" */
	for (size_t s = 0; s < d->sz; s++) {
		if (s == d->first)
			continue;
		load(d, s);
		r = d->call(&untouched);
		all_untouched &= untouched;
		if (r != -EINVAL && bad_size == SIZE_MAX)
			bad_size = s;
	}
	ok(bad_size == SIZE_MAX, "%s: every size from 0 to sizeof - 1 but the first layout's is -EINVAL (first not: %zu)",
	   d->name, bad_size == SIZE_MAX ? (size_t)0 : bad_size);
	load(d, d->sz);
	is_int(d->call(&untouched), 0, "%s: size sizeof (%zu): accepted", d->name, d->sz);
	if (d->first != d->sz) {
		load(d, d->first);
		is_int(d->call(&untouched), 0, "%s: the first layout's size (%zu): accepted", d->name, d->first);
	}

	/* "a larger one (a newer header) is accepted for options only if every
	 * byte beyond the fields this libsva knows is zero" */
	for (size_t s = d->sz + 1; s <= d->sz + TAIL; s++) {
		load(d, s);
		if (d->call(&untouched) != 0 && bad_tail_len == SIZE_MAX)
			bad_tail_len = s;
	}
	ok(bad_tail_len == SIZE_MAX, "%s: sizes sizeof + 1 .. sizeof + %d with zeros beyond: all accepted (first not: %zu)",
	   d->name, TAIL, bad_tail_len == SIZE_MAX ? (size_t)0 : bad_tail_len);
	for (size_t i = 0; i < TAIL; i++) {
		load(d, d->sz + TAIL);
		buf.b[d->sz + i] = 0x80;
		r = d->call(&untouched);
		all_untouched &= untouched;
		if (r != -EINVAL && bad_tail == SIZE_MAX)
			bad_tail = i;
	}
	ok(bad_tail == SIZE_MAX, "%s: size sizeof + %d, a non-zero byte at any one of the %d beyond: -EINVAL (first not: +%zu)",
	   d->name, TAIL, TAIL, bad_tail == SIZE_MAX ? (size_t)0 : bad_tail);

	/* Every bit the header leaves undefined, alone. */
	if (d->flags_off != SIZE_MAX) {
		for (unsigned bit = 0; bit < 32; bit++) {
			uint32_t f = 1u << bit;

			if (d->known & f)
				continue;
			load(d, d->sz);
			memcpy(buf.b + d->flags_off, &f, sizeof(f));
			r = d->call(&untouched);
			all_untouched &= untouched;
			if (r != -EINVAL && bad_bit == 32)
				bad_bit = bit;
		}
		ok(bad_bit == 32, "%s: each undefined flag bit alone (known %#x): -EINVAL (first not: bit %u)", d->name,
		   d->known, bad_bit == 32 ? 0 : bad_bit);
	}
	ok(all_untouched, "%s: the output pointer is left as it was by every refusal", d->name);
	is_int(nfds(), fds0, "%s: no descriptor left behind by the sweep", d->name);
	ok(global_allocated() == alloc0, "%s: no global PASID left allocated by the sweep", d->name);
}

/* -------------------------------------------- one information structure */

struct infodesc {
	const char *name;
	size_t sz, first;
	int (*call)(void);
};

static struct sva_bond *info_bond;
static struct sva_pasid_space *info_space;

static int info_dev(void)
{
	return sva_dev_get_info(dev, (void *)buf.b);
}
static int info_mm(void)
{
	return sva_mm_stats(mm, (void *)buf.b);
}
static int info_pasid(void)
{
	return sva_pasid_stats(info_space, (void *)buf.b);
}
static int info_bond_stats(void)
{
	return sva_bond_stats(info_bond, (void *)buf.b);
}

static bool all_bytes(size_t from, size_t to, unsigned char v)
{
	for (size_t i = from; i < to; i++)
		if (buf.b[i] != v)
			return false;
	return true;
}

static void sweep_info(const struct infodesc *d)
{
	size_t bad_size = SIZE_MAX, touched = SIZE_MAX;
	int r;

	for (size_t s = 0; s < d->sz; s++) {
		if (s == d->first)
			continue;
		memset(buf.b, 0xa5, sizeof(buf.b));
		memcpy(buf.b, &s, sizeof(s));
		r = d->call();
		if (r != -EINVAL && bad_size == SIZE_MAX)
			bad_size = s;
		if (!all_bytes(sizeof(s), sizeof(buf.b), 0xa5) && touched == SIZE_MAX)
			touched = s;
	}
	ok(bad_size == SIZE_MAX, "%s: every size from 0 to sizeof - 1 but the first layout's is -EINVAL (first not: %zu)",
	   d->name, bad_size == SIZE_MAX ? (size_t)0 : bad_size);
	ok(touched == SIZE_MAX, "%s: ... and the structure is left as it was (first written: size %zu)", d->name,
	   touched == SIZE_MAX ? (size_t)0 : touched);

	/* "information structs get those bytes zeroed"; "libsva reads (or
	 * writes) `size` bytes" */
	for (size_t extra = 1; extra <= TAIL; extra++) {
		size_t s = d->sz + extra;

		memset(buf.b, 0xa5, sizeof(buf.b));
		memcpy(buf.b, &s, sizeof(s));
		r = d->call();
		if (r || !all_bytes(d->sz, s, 0) || !all_bytes(s, sizeof(buf.b), 0xa5)) {
			ok(0, "%s: size sizeof + %zu: %d, the bytes beyond zeroed, none past size written", d->name,
			   extra, r);
			return;
		}
	}
	ok(1, "%s: sizes sizeof + 1 .. + %d: accepted, the bytes beyond zeroed, none past size written", d->name, TAIL);
}

/* ------------------------------------------------ what a size does not read */

/* "libsva reads `size` bytes": a first layout's caller has other things
 * there, and "Fields beyond the first layout's size read as zero". */
static void first_layouts(void)
{
	struct sva_mm_opts o = { .size = offsetof(struct sva_mm_opts, pin_budget), .pin_budget = 4095 };
	struct sva_mm_stats s0 = { .size = sizeof(s0) }, s1 = { .size = sizeof(s1) };
	struct sva_mm *m = NULL, *m0 = NULL;
	struct sva_bond *b = NULL;

	is_int(sva_mm_new(ctx, &o, &m), 0, "mm_opts: first layout, 4095 past its size (a refused budget): not read");
	if (m && sva_mm_new(ctx, NULL, &m0) == 0) {
		sva_mm_stats(m, &s1);
		sva_mm_stats(m0, &s0);
		is_int(s1.pin_budget, s0.pin_budget, "  its budget is the default's (pin_budget read as 0)");
	} else {
		ok(0, "  its budget is the default's (no address space to compare)");
	}
	sva_mm_free(m0);
	sva_mm_free(m);

	{
		struct sva_bind_opts bo = { .size = offsetof(struct sva_bind_opts, pasid), .flags = SVA_BIND_PINNED,
					    .pasid = 77, .reserved = 9 };

		is_int(sva_bind(dev, mm, &bo, &b), 0,
		       "bind_opts: first layout, pasid 77 and reserved 9 past its size: not read");
		ok(b && sva_bond_pasid(b) != 77 && sva_bond_pasid(b) >= SVA_GLOBAL_PASID_MIN_DEFAULT,
		   "  the bond takes the policy's (global) PASID, not 77 (%u)", b ? sva_bond_pasid(b) : 0);
		if (b)
			sva_unbind(b);
	}
	{
		/* SVA_BIND_PASID from a first-layout caller: its pasid "reads as
		 * zero", which is outside every device's reach (-ERANGE), even
		 * with a valid allocation lying past the size. */
		uint32_t mine = 0;
		struct sva_bind_opts bo = { .size = offsetof(struct sva_bind_opts, pasid),
					    .flags = SVA_BIND_PASID | SVA_BIND_PINNED };

		b = SENTINEL;
		if (sva_dev_pasid_alloc(dev, SVA_PASID_DEVICE, NULL, &mine)) {
			ok(0, "bind_opts: a PASID of the device's own space to bind under");
		} else {
			bo.pasid = mine;
			is_int(sva_bind(dev, mm, &bo, &b), -ERANGE,
			       "bind_opts: first layout with SVA_BIND_PASID: pasid read as 0, -ERANGE (%u past the size)",
			       mine);
			ok(b == SENTINEL, "  *out left as it was");
			if (b != SENTINEL && b)
				sva_unbind(b);
			is_int(sva_dev_pasid_free(dev, mine), 0, "  the driver's PASID is still its own: freed");
		}
	}
}

/* --------------------------------------------- sva_pasid_space_opts edges */

static int space(uint32_t flags, uint32_t min, uint32_t max, struct sva_pasid_stats *st, uint32_t *first)
{
	struct sva_pasid_space_opts o = { .size = sizeof(o), .flags = flags, .min = min, .max = max };
	struct sva_pasid_space *s = NULL;
	int r = sva_pasid_space_new(&o, &s);

	if (r)
		return r;
	st->size = sizeof(*st);
	if (sva_pasid_stats(s, st) || sva_pasid_alloc(s, NULL, first))
		r = -1000;
	sva_pasid_space_free(s);
	return r;
}

static void pasid_edges(void)
{
	struct sva_pasid_stats st;
	uint32_t first = UINT32_MAX;

	is_int(space(0, 1, SVA_PASID_MAX, &st, &first), 0, "pasid_space: max SVA_PASID_MAX: accepted");
	is_int(space(0, 1, SVA_PASID_MAX + 1, &st, &first), -ERANGE, "pasid_space: max SVA_PASID_MAX + 1: -ERANGE");
	is_int(space(0, 1, UINT32_MAX, &st, &first), -ERANGE, "pasid_space: max UINT32_MAX: -ERANGE");
	is_int(space(0, 0, 0, &st, &first), 0, "pasid_space: min 0, max 0: accepted");
	ok(st.min == 1 && st.max == SVA_PASID_MAX && first == 1, "  [1, SVA_PASID_MAX], first PASID 1 (%u %u %u)", st.min,
	   st.max, first);
	is_int(space(SVA_PASID_ALLOW_ZERO, 0, 0, &st, &first), 0, "pasid_space: ALLOW_ZERO, min 0, max 0: accepted");
	ok(st.min == 0 && st.max == SVA_PASID_MAX && first == 0, "  [0, SVA_PASID_MAX], first PASID 0 (%u %u %u)", st.min,
	   st.max, first);
	is_int(space(SVA_PASID_ALLOW_ZERO, 0, 1, &st, &first), 0, "pasid_space: ALLOW_ZERO, [0, 1]: accepted");
	ok(st.min == 0 && st.max == 1 && st.free == 2, "  two PASIDs (%u %u %llu)", st.min, st.max,
	   (unsigned long long)st.free);
	is_int(space(SVA_PASID_ALLOW_ZERO, 1, 5, &st, &first), -EINVAL, "pasid_space: ALLOW_ZERO with min 1: -EINVAL");
	is_int(space(0, SVA_PASID_MAX, SVA_PASID_MAX, &st, &first), 0, "pasid_space: [SVA_PASID_MAX] alone: accepted");
	ok(st.free == 1 && first == SVA_PASID_MAX, "  one PASID, SVA_PASID_MAX (%llu %u)", (unsigned long long)st.free,
	   first);
	is_int(space(0, 6, 5, &st, &first), -EINVAL, "pasid_space: min = max + 1: -EINVAL");
	/* min 0 is raised to 1 before the range is judged: [0 -> 1, 1] holds 1. */
	is_int(space(0, 0, 1, &st, &first), 0, "pasid_space: min 0, max 1: accepted ([1, 1])");
	ok(st.min == 1 && st.max == 1 && first == 1, "  [1, 1] (%u %u %u)", st.min, st.max, first);

	/* "The first that applies wins, in this order: out, size, flags, max,
	 * min against the flags, the empty range." */
	{
		struct sva_pasid_space_opts o = { .size = sizeof(o), .max = SVA_PASID_MAX + 1 };

		is_int(sva_pasid_space_new(&o, NULL), -EINVAL, "order: NULL out before max: -EINVAL, not -ERANGE");
	}
	{
		struct sva_pasid_space_opts o = { .size = sizeof(o) - 1, .max = SVA_PASID_MAX + 1 };
		struct sva_pasid_space *s = SENTINEL;

		is_int(sva_pasid_space_new(&o, &s), -EINVAL, "order: size before max: -EINVAL, not -ERANGE");
	}
	is_int(space(1u << 7, 1, SVA_PASID_MAX + 1, &st, &first), -EINVAL, "order: flags before max: -EINVAL, not -ERANGE");
	is_int(space(SVA_PASID_ALLOW_ZERO, 3, SVA_PASID_MAX + 1, &st, &first), -ERANGE,
	       "order: max before min against the flags: -ERANGE");
	is_int(space(0, 9, SVA_PASID_MAX + 1, &st, &first), -ERANGE, "order: max before the empty range: -ERANGE");
}

/* --------------------------------------------------- sva_mem_opts fields */

static void mem_fields(void)
{
	void *p = NULL;
	struct sva_mem_opts o = { .size = sizeof(o), .mm = mm, .numa_node = -5 };

	/* "with SVA_MEM_NODE, the node whose memory to prefer; ignored otherwise" */
	is_int(sva_mem_alloc(PG, &o, &p), 0, "mem_opts: numa_node -5 without SVA_MEM_NODE: ignored");
	if (p)
		sva_mem_free(mm, p, PG);
	p = NULL;
	o.flags = SVA_MEM_ANY_NODE;
	o.numa_node = INT_MIN;
	is_int(sva_mem_alloc(PG, &o, &p), 0, "mem_opts: numa_node INT_MIN with SVA_MEM_ANY_NODE: ignored");
	if (p)
		sva_mem_free(mm, p, PG);
	p = SENTINEL;
	o.flags = SVA_MEM_NODE;
	o.numa_node = INT_MAX;
	is_int(sva_mem_alloc(PG, &o, &p), -ENODEV, "mem_opts: SVA_MEM_NODE, node INT_MAX: -ENODEV");
	ok(p == SENTINEL, "  *out left as it was");
	p = NULL;
	o.numa_node = 0;
	is_int(sva_mem_alloc(PG, &o, &p), 0, "mem_opts: SVA_MEM_NODE, node 0: accepted");
	if (p)
		sva_mem_free(mm, p, PG);

	p = SENTINEL;
	o = (struct sva_mem_opts){ .size = sizeof(o), .dev = dev, .flags = SVA_MEM_PREFAULT };
	is_int(sva_mem_alloc(PG, &o, &p), -EINVAL, "mem_opts: SVA_MEM_PREFAULT with a dev but no mm: -EINVAL");
	ok(p == SENTINEL, "  *out left as it was");

	/* "2 MiB aligned and rounded"; sva_mem_free's len "is the length asked
	 * for or the rounded one". */
	p = NULL;
	o = (struct sva_mem_opts){ .size = sizeof(o), .mm = mm, .flags = SVA_MEM_HUGE };
	is_int(sva_mem_alloc(1, &o, &p), 0, "mem_opts: SVA_MEM_HUGE, 1 byte: accepted");
	ok(((uintptr_t)p & (2 * MiB - 1)) == 0, "  2 MiB aligned (%p)", p);
	is_int(sva_mem_free(mm, p, 2 * MiB + PG), -EINVAL, "  freed with neither length: -EINVAL");
	is_int(sva_mem_free(mm, p, 2 * MiB), 0, "  freed with the rounded length, 2 MiB: 0");
	p = NULL;
	is_int(sva_mem_alloc(2 * MiB + 1, &o, &p), 0, "mem_opts: SVA_MEM_HUGE, 2 MiB + 1: accepted");
	is_int(sva_mem_free(mm, p, 4 * MiB), 0, "  rounded to 4 MiB: freed with it");

	/* SVA_MEM_PREFAULT makes "all of it visible in opts->mm at once": the
	 * rounded length. */
	{
		struct sva_mm_stats a = { .size = sizeof(a) }, b = { .size = sizeof(b) };

		p = NULL;
		o = (struct sva_mem_opts){ .size = sizeof(o), .mm = mm, .flags = SVA_MEM_PREFAULT };
		sva_mm_stats(mm, &a);
		is_int(sva_mem_alloc(PG + 1, &o, &p), 0, "mem_opts: SVA_MEM_PREFAULT, one page + 1 byte: accepted");
		sva_mm_stats(mm, &b);
		is_int(b.bytes_visible - a.bytes_visible, 2 * PG, "  two pages visible in mm");
		is_int(sva_mem_free(mm, p, PG + 1), 0, "  freed with the length asked for: 0");
		sva_mm_stats(mm, &b);
		is_int(b.bytes_visible, a.bytes_visible, "  and withdrawn from mm");
	}
}

/* ----------------------------------------------- sva_mm_opts.pin_budget */

static uint64_t budget_of(uint64_t pin_budget, int *r)
{
	struct sva_mm_opts o = { .size = sizeof(o), .pin_budget = pin_budget };
	struct sva_mm_stats st = { .size = sizeof(st) };
	struct sva_mm *m = NULL;

	*r = sva_mm_new(ctx, &o, &m);
	if (*r)
		return UINT64_MAX;
	if (sva_mm_stats(m, &st))
		st.pin_budget = UINT64_MAX;
	sva_mm_free(m);
	return st.pin_budget;
}

/* "at most this many bytes pinned in the IOAS, rounded down to whole 4 KiB
 * pages, at least one page"; "SVA_PIN_UNLIMITED: unbounded", which
 * sva_mm_stats reports as "0: unbounded". */
static void budget_edges(void)
{
	int r;
	uint64_t b;

	b = budget_of(SVA_PIN_UNLIMITED - 1, &r);
	ok(r == 0 && b == (SVA_PIN_UNLIMITED - 1) / PG * PG,
	   "pin_budget SVA_PIN_UNLIMITED - 1: accepted, rounded down to whole pages (%d, %#llx)", r, (unsigned long long)b);
	b = budget_of(1ull << 63, &r);
	ok(r == 0 && b == 1ull << 63, "pin_budget 2^63: accepted as it is (%d, %#llx)", r, (unsigned long long)b);
	b = budget_of(SVA_PIN_UNLIMITED, &r);
	ok(r == 0 && b == 0, "pin_budget SVA_PIN_UNLIMITED: accepted, reported unbounded, 0 (%d, %#llx)", r,
	   (unsigned long long)b);
	b = budget_of(2 * PG - 1, &r);
	ok(r == 0 && b == PG, "pin_budget 8191: one page (%d, %llu)", r, (unsigned long long)b);
	(void)budget_of(PG - 1, &r);
	is_int(r, -EINVAL, "pin_budget 4095: -EINVAL");
	(void)budget_of(1, &r);
	is_int(r, -EINVAL, "pin_budget 1: -EINVAL");
}

/*
 * sva_mm_new(3), pin_budget 0 without CAP_IPC_LOCK: "the soft RLIMIT_MEMLOCK
 * limit ..., rounded down to whole pages but at least one page (a limit under
 * 4096 gives 4096 ...), unbounded otherwise or when the limit is infinite".
 * ktest-blackbox-mm checks one limit in the middle; these are the edges.  In
 * this process (the address space's threads), with everything put back.
 */
static void default_budget_edges(void)
{
	static const struct {
		rlim_t soft;
		uint64_t want;
	} cases[] = {
		{ 0, PG }, { 100, PG }, { PG - 1, PG }, { PG, PG }, { 3 * PG - 1, 2 * PG }, { RLIM_INFINITY, 0 },
	};
	struct __user_cap_data_struct was[2];
	struct rlimit old;

	if (geteuid() != 0 || ipc_lock_save(was) || getrlimit(RLIMIT_MEMLOCK, &old)) {
		skip(6, "not root: cannot drop CAP_IPC_LOCK and raise the hard limit");
		return;
	}
	if (!ipc_lock_off(was)) {
		skip(6, "cannot drop CAP_IPC_LOCK");
		return;
	}
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct rlimit rl = { cases[i].soft, RLIM_INFINITY };
		uint64_t got = UINT64_MAX;
		int r = -1;

		if (setrlimit(RLIMIT_MEMLOCK, &rl) == 0)
			got = budget_of(0, &r);
		ok(r == 0 && got == cases[i].want,
		   "pin_budget 0, no CAP_IPC_LOCK, soft RLIMIT_MEMLOCK %#llx: budget %llu (%d, %llu)",
		   (unsigned long long)cases[i].soft, (unsigned long long)cases[i].want, r, (unsigned long long)got);
	}
	if (setrlimit(RLIMIT_MEMLOCK, &old))
		tap_bail("cannot put RLIMIT_MEMLOCK back: %s", strerror(errno));
	ipc_lock_back(was);
}

/* ------------------------------------------ sva_pasid_space_opts.grace_ns */

static int one_pasid_cycle(struct sva_pasid_space *s)
{
	uint32_t p;

	if (sva_pasid_alloc(s, NULL, &p) || sva_pasid_free(s, p) || sva_pasid_release(s, p))
		return -1;
	return 0;
}

/* "0: SVA_PASID_GRACE_DEFAULT_NS; UINT64_MAX: only sva_pasid_barrier() ends
 * it", on a space of one PASID. */
static void grace_edges(void)
{
	const uint64_t graces[] = { 0, 1, UINT64_MAX };

	for (size_t i = 0; i < 3; i++) {
		struct sva_pasid_space_opts o = { .size = sizeof(o), .min = 7, .max = 7, .grace_ns = graces[i] };
		struct sva_pasid_space *s = NULL;
		struct timespec t0, t1;
		uint32_t p = 0;
		int r;

		if (sva_pasid_space_new(&o, &s) || one_pasid_cycle(s)) {
			ok(0, "grace_ns %llu: a space of one PASID, allocated, freed, released",
			   (unsigned long long)graces[i]);
			sva_pasid_space_free(s);
			continue;
		}
		clock_gettime(CLOCK_MONOTONIC, &t0);
		if (graces[i] == 1) {
			usleep(1000);
			is_int(sva_pasid_alloc(s, NULL, &p), 0, "grace_ns 1: allocatable again a millisecond later");
		} else if (graces[i] == 0) {
			r = sva_pasid_alloc(s, NULL, &p);
			clock_gettime(CLOCK_MONOTONIC, &t1);
			/* Only a refusal well inside 100 ms says anything. */
			if ((t1.tv_sec - t0.tv_sec) * 1000000000ll + t1.tv_nsec - t0.tv_nsec < 50000000)
				is_int(r, -ENOSPC, "grace_ns 0: still in its grace right after the release (-ENOSPC)");
			else
				skip(1, "the release and the allocation were 50 ms or more apart");
			usleep(SVA_PASID_GRACE_DEFAULT_NS / 1000 + 20000);
			is_int(sva_pasid_alloc(s, NULL, &p), 0, "grace_ns 0: allocatable after the default 100 ms");
		} else {
			usleep(150000);
			is_int(sva_pasid_alloc(s, NULL, &p), -ENOSPC, "grace_ns UINT64_MAX: still held 150 ms later");
			is_int(sva_pasid_barrier(s), 1, "  sva_pasid_barrier() ends it: 1");
			is_int(sva_pasid_alloc(s, NULL, &p), 0, "  allocatable after the barrier");
		}
		sva_pasid_space_free(s);
	}
}

/* ------------------------------------------------- sva_mock_opts.flags */

static void mock_flags(void)
{
	struct sva_mock_opts o = { .size = sizeof(o), .flags = SVA_MOCK_NO_PASID };
	struct sva_dev_info in = { .size = sizeof(in) }, in0 = { .size = sizeof(in0) };
	struct sva_dev *d = NULL;

	is_int(sva_dev_open_mock(ctx, &o, &d), 0, "mock_opts: SVA_MOCK_NO_PASID: accepted");
	ok(d && sva_dev_get_info(d, &in) == 0 && in.max_pasid_log2 == 0 && sva_dev_pasids(d) == NULL,
	   "  PASID width 0, no own space (%u)", in.max_pasid_log2);
	sva_dev_close(d);
	ok(sva_dev_get_info(dev, &in0) == 0 && in0.max_pasid_log2 == 20, "mock_opts NULL: a 20-bit PASID space (%u)",
	   in0.max_pasid_log2);
}

/* ------------------------------------------ every combination of known flags */

/*
 * Each structure's defined flags, every combination: refused exactly where
 * a page says so, with the documented errno, before anything else is tried
 * (with SVA_CTX_BROKER no broker listens here, so a refusal that came after
 * the connect would be -ENOENT or -ECONNREFUSED).
 */
static void flag_combinations(void)
{
	int bad_mm = -1, bad_mem = -1, bad_ctx = -1, fds0 = nfds();
	int got_mm = 0, got_mem = 0, got_ctx = 0;

	for (uint32_t f = 0; f < 16; f++) {
		struct sva_mm_opts o = { .size = sizeof(o), .flags = f };
		bool refuse = (f & SVA_MM_UNTRACKED) && (f & SVA_MM_TRACK_STRICT);
		struct sva_mm *m = NULL;
		int r = sva_mm_new(ctx, &o, &m);

		if ((refuse ? r != -EINVAL : r != 0) && bad_mm < 0) {
			bad_mm = (int)f;
			got_mm = r;
		}
		sva_mm_free(r ? NULL : m);
	}
	ok(bad_mm < 0, "mm_opts: of the 16 combinations of the SVA_MM_* flags only UNTRACKED|TRACK_STRICT is refused, "
		       "-EINVAL (first not: %#x: %d)", bad_mm < 0 ? 0u : (unsigned)bad_mm, got_mm);

	for (uint32_t f = 0; f < 16; f++) {
		for (int with_mm = 0; with_mm < 2; with_mm++) {
			struct sva_mem_opts o = { .size = sizeof(o), .flags = f, .mm = with_mm ? mm : NULL };
			bool refuse = ((f & SVA_MEM_NODE) && (f & SVA_MEM_ANY_NODE)) ||
				      ((f & SVA_MEM_PREFAULT) && !with_mm);
			void *p = NULL;
			int r = sva_mem_alloc(PG, &o, &p);

			if ((refuse ? r != -EINVAL : r != 0) && bad_mem < 0) {
				bad_mem = (int)(f | (unsigned)with_mm << 8);
				got_mem = r;
			}
			if (!r && sva_mem_free(o.mm, p, PG))
				tap_bail("sva_mem_free of a fresh allocation failed");
		}
	}
	ok(bad_mem < 0, "mem_opts: of the 16 combinations of the SVA_MEM_* flags, with and without mm, only both node "
			"flags and PREFAULT without mm are refused, -EINVAL (first not: %#x: %d)",
	   bad_mem < 0 ? 0u : (unsigned)bad_mem, got_mem);

	{
		int fd = sva_ctx_fd(ctx);

		for (uint32_t f = 0; f < 32; f++) {
			struct sva_ctx_opts o = { .size = sizeof(o), .flags = f, .iommufd = fd, .log_fn = quiet,
						  .broker_path = "/nonexistent/z196-no-broker.sock" };
			bool refuse = ((f & SVA_CTX_ISOLATED) && !(f & SVA_CTX_BROKER)) ||
				      ((f & SVA_CTX_BROKER) && (f & SVA_CTX_ADOPT_FD));
			struct sva_ctx *c = NULL;
			int r;

			/* BROKER alone (or with POLL, NO_EXIT_TEARDOWN, ISOLATED)
			 * is valid, and fails only at the connect. */
			if ((f & SVA_CTX_BROKER) && !refuse) {
				r = sva_ctx_new(&o, &c);
				if ((r != -ENOENT && r != -ECONNREFUSED) && bad_ctx < 0) {
					bad_ctx = (int)f;
					got_ctx = r;
				}
				if (!r)
					sva_ctx_free(c);
				/* With a global range set, it is refused first. */
				o.global_pasid_min = 300;
				if (sva_ctx_new(&o, &c) != -EINVAL && bad_ctx < 0)
					bad_ctx = (int)f | 0x100;
				continue;
			}
			r = sva_ctx_new(&o, &c);
			if ((refuse ? r != -EINVAL : r != 0) && bad_ctx < 0) {
				bad_ctx = (int)f;
				got_ctx = r;
			}
			if (!r)
				sva_ctx_free(c);
		}
		{
			struct sva_ctx_opts o = { .size = sizeof(o), .flags = SVA_CTX_BROKER, .log_fn = quiet,
						  .broker_path = "/nonexistent/z196-no-broker.sock" };
			struct sva_ctx *c = SENTINEL;

			o.global_pasid_max = 5000;
			is_int(sva_ctx_new(&o, &c), -EINVAL, "ctx_opts: SVA_CTX_BROKER with global_pasid_max set: -EINVAL, "
							      "before any connect");
			o.global_pasid_max = 0;
			o.broker_path = "";
			is_int(sva_ctx_new(&o, &c), -EINVAL, "ctx_opts: SVA_CTX_BROKER with an empty broker_path: -EINVAL");
			ok(c == SENTINEL, "  *out left as it was");
		}
	}
	ok(bad_ctx < 0, "ctx_opts: the 32 combinations of the SVA_CTX_* flags: ISOLATED without BROKER and BROKER with "
			"ADOPT_FD, or with a global range (0x100), -EINVAL; BROKER otherwise fails at the connect; the rest accepted (first not: %#x: %d)",
	   bad_ctx < 0 ? 0u : (unsigned)bad_ctx, got_ctx);
	is_int(nfds(), fds0, "flag combinations: no descriptor left behind");
}

/*
 * sva_bind(3): the 16 combinations of the SVA_BIND_* flags on a device not
 * yet bound to mm.  -EINVAL: SVA_BIND_RID with SVA_BIND_PASID or
 * SVA_BIND_EXTRA_PASID.  Every other one binds: SVA_BIND_PASID under the
 * driver's opts->pasid, SVA_BIND_EXTRA_PASID alone under a new PASID
 * (nothing to be "further" to is no refusal), SVA_BIND_RID under the RID.
 */
static void bind_combinations(void)
{
	uint32_t mine = 0;
	int bad = -1, got = 0;
	uint32_t got_pasid = 0;

	if (sva_dev_pasid_alloc(dev, SVA_PASID_GLOBAL, NULL, &mine)) {
		ok(0, "bind flags: a driver's PASID to bind under");
		return;
	}
	for (uint32_t f = 0; f < 16; f++) {
		struct sva_bind_opts o = { .size = sizeof(o), .flags = f, .pasid = (f & SVA_BIND_PASID) ? mine : 0 };
		bool refuse = (f & SVA_BIND_RID) && (f & (SVA_BIND_PASID | SVA_BIND_EXTRA_PASID));
		struct sva_bond *b = SENTINEL;
		int r = sva_bind(dev, mm, &o, &b);
		uint32_t p = r ? 0 : sva_bond_pasid(b);
		bool right = refuse ? r == -EINVAL && b == SENTINEL
				    : r == 0 && ((f & SVA_BIND_RID)	   ? p == SVA_PASID_RID
						 : (f & SVA_BIND_PASID) ? p == mine
									: p != SVA_PASID_RID && p != 0);

		if (!right && bad < 0) {
			bad = (int)f;
			got = r;
			got_pasid = p;
		}
		if (!r && sva_unbind(b))
			tap_bail("sva_unbind of a fresh bond failed");
	}
	ok(bad < 0, "bind flags: of the 16 combinations, RID with PASID or EXTRA_PASID -EINVAL, the rest bind where "
		    "they say (first not: %#x: %d, PASID %#x)", bad < 0 ? 0u : (unsigned)bad, got, got_pasid);
	is_int(sva_dev_pasid_free(dev, mine), 0, "  the driver's PASID is its own again after them: freed");
}

/* --------------------------------------------------- sva_ctx_opts fields */

static void ctx_fields(void)
{
	struct sva_ctx_opts o = { .size = sizeof(o), .log_fn = quiet, .log_level = SVA_LOG_OFF };
	struct sva_ctx *c = NULL;

	is_int(sva_ctx_new(&o, &c), 0, "ctx_opts: log_level SVA_LOG_OFF (the last level): accepted");
	sva_ctx_free(c);
	c = SENTINEL;
	o.log_level = SVA_LOG_OFF + 1;
	is_int(sva_ctx_new(&o, &c), -EINVAL, "ctx_opts: log_level SVA_LOG_OFF + 1: -EINVAL");
	o.log_level = INT_MAX;
	is_int(sva_ctx_new(&o, &c), -EINVAL, "ctx_opts: log_level INT_MAX: -EINVAL");
	o.log_level = INT_MIN;
	is_int(sva_ctx_new(&o, &c), -EINVAL, "ctx_opts: log_level INT_MIN: -EINVAL");
	ok(c == SENTINEL, "  *out left as it was");
}

int main(void)
{
	int ret;

	/* The sweeps make hundreds of refusals on the process-wide log, each
	 * as it should: keep the test's output readable, unless asked. */
	setenv("SVA_LOG", "off", 0);
	if (access("/dev/iommu", R_OK | W_OK)) {
		if (getenv("SVA_VM"))
			tap_bail("no usable /dev/iommu in the test VM");
		skip_all("no usable /dev/iommu");
	}
	if (sva_ctx_new(&(struct sva_ctx_opts){ .size = sizeof(struct sva_ctx_opts), .log_fn = quiet }, &ctx))
		tap_bail("sva_ctx_new");
	ret = sva_dev_open_mock(ctx, NULL, &dev);
	if (ret) {
		if (getenv("SVA_VM"))
			tap_bail("no mock device in the test VM (%s)", strerror(-ret));
		sva_ctx_free(ctx);
		skip_all("no mock device");
	}
	if (sva_mm_new(ctx, NULL, &mm))
		tap_bail("sva_mm_new");
	mem_tmpl.mm = mm;

	{
		const struct optdesc opts[] = {
			{ "sva_ctx_opts", sizeof(struct sva_ctx_opts), sizeof(struct sva_ctx_opts),
			  SVA_CTX_ADOPT_FD | SVA_CTX_FAULT_POLL | SVA_CTX_NO_EXIT_TEARDOWN | SVA_CTX_BROKER |
				  SVA_CTX_ISOLATED,
			  offsetof(struct sva_ctx_opts, flags), &ctx_tmpl, call_ctx },
			{ "sva_mm_opts", sizeof(struct sva_mm_opts), offsetof(struct sva_mm_opts, pin_budget),
			  SVA_MM_PRIVATE | SVA_MM_UNTRACKED | SVA_MM_TRACK_STRICT | SVA_MM_RESTRICTED,
			  offsetof(struct sva_mm_opts, flags), &mm_tmpl, call_mm },
			{ "sva_mem_opts", sizeof(struct sva_mem_opts), sizeof(struct sva_mem_opts),
			  SVA_MEM_HUGE | SVA_MEM_PREFAULT | SVA_MEM_NODE | SVA_MEM_ANY_NODE,
			  offsetof(struct sva_mem_opts, flags), &mem_tmpl, call_mem },
			{ "sva_pasid_space_opts", sizeof(struct sva_pasid_space_opts),
			  sizeof(struct sva_pasid_space_opts), SVA_PASID_ALLOW_ZERO,
			  offsetof(struct sva_pasid_space_opts, flags), &pasid_tmpl, call_pasid },
			{ "sva_mock_opts", sizeof(struct sva_mock_opts), sizeof(struct sva_mock_opts), SVA_MOCK_NO_PASID,
			  offsetof(struct sva_mock_opts, flags), &mock_tmpl, call_mock },
			{ "sva_bind_opts", sizeof(struct sva_bind_opts), offsetof(struct sva_bind_opts, pasid),
			  SVA_BIND_RID | SVA_BIND_PINNED | SVA_BIND_EXTRA_PASID | SVA_BIND_PASID,
			  offsetof(struct sva_bind_opts, flags), &bind_tmpl, call_bind },
			{ "sva_bond_ops", sizeof(struct sva_bond_ops), sizeof(struct sva_bond_ops), 0, SIZE_MAX,
			  &ops_tmpl, call_ops },
		};

		for (size_t i = 0; i < sizeof(opts) / sizeof(opts[0]); i++)
			sweep_options(&opts[i]);
	}

	{
		struct sva_pasid_space_opts so = { .size = sizeof(so) };
		const struct infodesc infos[] = {
			{ "sva_dev_info", sizeof(struct sva_dev_info), sizeof(struct sva_dev_info), info_dev },
			{ "sva_mm_stats", sizeof(struct sva_mm_stats), offsetof(struct sva_mm_stats, pin_budget),
			  info_mm },
			{ "sva_pasid_stats", sizeof(struct sva_pasid_stats), sizeof(struct sva_pasid_stats),
			  info_pasid },
			{ "sva_bond_stats", sizeof(struct sva_bond_stats), sizeof(struct sva_bond_stats),
			  info_bond_stats },
		};

		if (sva_pasid_space_new(&so, &info_space) ||
		    sva_bind(dev, mm, &(struct sva_bind_opts){ .size = sizeof(struct sva_bind_opts) }, &info_bond))
			tap_bail("a space and a bond for the information structures");
		for (size_t i = 0; i < sizeof(infos) / sizeof(infos[0]); i++)
			sweep_info(&infos[i]);
		sva_unbind(info_bond);
		sva_pasid_space_free(info_space);
	}

	first_layouts();
	pasid_edges();
	mem_fields();
	ctx_fields();
	budget_edges();
	default_budget_edges();
	grace_edges();
	mock_flags();
	flag_combinations();
	bind_combinations();

	sva_mm_free(mm);
	sva_dev_close(dev);
	sva_ctx_free(ctx);
	return done_testing();
}
