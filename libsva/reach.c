/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * What a device may reach.  Two rules, checked by resolution before it maps
 * anything and applied to its window (fault-around, batched runs), and by
 * sva_mm_prefault():
 *  - the library's own memory (arena.h) is never mapped, in any mode: a device
 *    that could write a bond could make the fault thread call its code;
 *  - a restricted address space (SVA_MM_RESTRICTED) maps only inside the ranges
 *    the driver allowed (sva_mm_allow(), and sva_mem_alloc() for it).
 * The allowed set lives under mm->lock, the lock resolution holds from this
 * check to its map, so a deny cannot slip between them.
 */
#include <errno.h>
#include <string.h>

#include "arena.h"
#include "internal.h"
#include "reach.h"
#include "withdraw.h"

#define PAGE 4096ull

/* Index of the first range ending after addr (n if none). */
static size_t first_after(const struct sva_rset *s, uint64_t addr)
{
	size_t lo = 0, hi = s->n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (s->v[mid].end <= addr)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

static int reserve(struct sva_rset *s, size_t n)
{
	if (n <= s->cap)
		return 0;
	size_t cap = s->cap ? s->cap * 2 : 8;
	struct sva_range2 *v;

	while (cap < n)
		cap *= 2;
	v = sva_realloc(s->v, cap * sizeof(*v));
	if (!v)
		return -ENOMEM;
	s->v = v;
	s->cap = cap;
	return 0;
}

int sva_rset_add(struct sva_rset *s, uint64_t start, uint64_t end)
{
	/* Ranges touching [start, end), adjacent ones included: [i, j). */
	size_t i = first_after(s, start ? start - 1 : 0), j = i;

	while (j < s->n && s->v[j].start <= end)
		j++;
	if (i == j) {
		if (reserve(s, s->n + 1))
			return -ENOMEM;
		memmove(&s->v[i + 1], &s->v[i], (s->n - i) * sizeof(s->v[0]));
		s->v[i].start = start;
		s->v[i].end = end;
		s->n++;
		return 0;
	}
	if (s->v[i].start < start)
		start = s->v[i].start;
	if (s->v[j - 1].end > end)
		end = s->v[j - 1].end;
	s->v[i].start = start;
	s->v[i].end = end;
	memmove(&s->v[i + 1], &s->v[j], (s->n - j) * sizeof(s->v[0]));
	s->n -= j - i - 1;
	return 0;
}

int sva_rset_del(struct sva_rset *s, uint64_t start, uint64_t end)
{
	size_t i, j;

	if (!s->n)
		return 0; /* nothing to remove, and maybe no table yet: no memmove from NULL */
	i = first_after(s, start);
	j = i;

	if (i < s->n && s->v[i].start < start && s->v[i].end > end) {
		/* Inside one range: it splits in two. */
		if (reserve(s, s->n + 1))
			return -ENOMEM;
		memmove(&s->v[i + 1], &s->v[i], (s->n - i) * sizeof(s->v[0]));
		s->n++;
		s->v[i].end = start;
		s->v[i + 1].start = end;
		return 0;
	}
	if (i < s->n && s->v[i].start < start) {
		s->v[i].end = start; /* keeps its head */
		i++, j++;
	}
	while (j < s->n && s->v[j].end <= end)
		j++; /* wholly inside: dropped */
	if (j < s->n && s->v[j].start < end)
		s->v[j].start = end; /* keeps its tail */
	memmove(&s->v[i], &s->v[j], (s->n - j) * sizeof(s->v[0]));
	s->n -= j - i;
	return 0;
}

const struct sva_range2 *sva_rset_find(const struct sva_rset *s, uint64_t addr)
{
	size_t i = first_after(s, addr);

	return i < s->n && s->v[i].start <= addr ? &s->v[i] : NULL;
}

bool sva_rset_covers(const struct sva_rset *s, uint64_t start, uint64_t end)
{
	const struct sva_range2 *r = sva_rset_find(s, start);

	/* Ranges never touch, so one range holds all of it or it is not covered. */
	return r && end <= r->end;
}

int sva_rset_add_part(struct sva_rset *out, const struct sva_rset *s, uint64_t start, uint64_t end)
{
	int ret = 0;

	for (size_t i = first_after(s, start); !ret && i < s->n && s->v[i].start < end; i++)
		ret = sva_rset_add(out, s->v[i].start > start ? s->v[i].start : start,
				   s->v[i].end < end ? s->v[i].end : end);
	return ret;
}

void sva_rset_fini(struct sva_rset *s)
{
	sva_free(s->v);
	memset(s, 0, sizeof(*s));
}

int sva_reach_check_locked(struct sva_mm *mm, uint64_t addr)
{
	if (sva_excluded(addr))
		return -EXDEV;
	if ((mm->flags & SVA_MM_RESTRICTED) && !sva_rset_find(&mm->allowed, addr))
		return -ENXIO;
	return 0;
}

void sva_reach_clip_locked(struct sva_mm *mm, uint64_t addr, uint64_t *ws, uint64_t *we)
{
	sva_excluded_clip(addr, ws, we);
	if (mm->flags & SVA_MM_RESTRICTED) {
		const struct sva_range2 *r = sva_rset_find(&mm->allowed, addr);

		if (r && *ws < r->start)
			*ws = r->start;
		if (r && *we > r->end)
			*we = r->end;
	}
}

int sva_reach_prefault_locked(struct sva_mm *mm, uint64_t start, uint64_t end)
{
	if (sva_excluded_overlaps(start, end))
		return sva_fail(&mm->ctx->log, -EXDEV,
				"sva_mm_prefault: 0x%llx-0x%llx holds libsva's own memory, which no device may reach "
				"(leave it out: give devices memory of sva_mem_alloc() or a mapping of your own)",
				(unsigned long long)start, (unsigned long long)end);
	if ((mm->flags & SVA_MM_RESTRICTED) && !sva_rset_covers(&mm->allowed, start, end))
		return sva_fail(&mm->ctx->log, -EACCES,
				"sva_mm_prefault: 0x%llx-0x%llx is not all inside the ranges allowed with sva_mm_allow() "
				"(SVA_MM_RESTRICTED: allow it first)",
				(unsigned long long)start, (unsigned long long)end);
	return 0;
}

static int check_args(struct sva_mm *mm, const void *addr, size_t len, const char *fn, uint64_t *start,
		      uint64_t *end)
{
	uint64_t a = (uintptr_t)addr;

	if (!mm)
		return sva_fail(sva_log_default(), -EINVAL, "%s: mm is NULL", fn);
	if (!len || ((a | len) & (PAGE - 1)) || a + len < a || a + len > UINT64_MAX - PAGE + 1)
		return sva_fail(&mm->ctx->log, -EINVAL,
				"%s: %p+%zu is empty, not page-aligned, or wraps around the address space", fn, addr,
				len);
	if (!(mm->flags & SVA_MM_RESTRICTED))
		return sva_fail(&mm->ctx->log, -EINVAL, "%s: the address space was not created SVA_MM_RESTRICTED", fn);
	*start = a;
	*end = a + len;
	return sva_ctx_check_owner_in(mm->ctx, fn);
}

/* Add to out what of [start, end) s does not hold: 0 or -ENOMEM. */
static int add_gaps(struct sva_rset *out, const struct sva_rset *s, uint64_t start, uint64_t end)
{
	uint64_t pos = start;
	int ret = 0;

	for (size_t i = first_after(s, start); !ret && pos < end; i++) {
		uint64_t gap_end = i < s->n && s->v[i].start < end ? s->v[i].start : end;

		if (pos < gap_end)
			ret = sva_rset_add(out, pos, gap_end);
		if (gap_end == end)
			break;
		pos = s->v[i].end;
	}
	return ret;
}

/*
 * A call takes its range out of the pending undos (mm->lock held) that would
 * reverse it: an allow out of those that deny (an allow's), a deny out of
 * those that allow again (a deny's).  Putting back what the call just set
 * would take back a call that returned 0.  An undo of the other kind leaves
 * the range as the call left it.
 *
 * A deny's split may need memory, and an undo that cannot take it puts
 * nothing back (see sva_reach_restore()).
 */
static void undos_del_locked(struct sva_mm *mm, uint64_t start, uint64_t end)
{
	for (struct sva_reach_undo *u = mm->undos; u; u = u->next)
		if (!u->deny && !u->lost && sva_rset_del(&u->set, start, end))
			u->lost = true;
}

/*
 * An allow takes its range out of the denying undos, and there an undo that
 * lost track could only deny too much (taking back this allow) or too little
 * (leaving reachable what its call added): so room for the one split each
 * may need is made first, and without it the allow fails, nothing changed.
 */
static int undos_reserve_denying_locked(struct sva_mm *mm)
{
	for (struct sva_reach_undo *u = mm->undos; u; u = u->next)
		if (u->deny && u->set.n && reserve(&u->set, u->set.n + 1))
			return -ENOMEM;
	return 0;
}

static void link_locked(struct sva_mm *mm, struct sva_reach_undo *undo, bool deny)
{
	undo->deny = deny;
	undo->next = mm->undos;
	mm->undos = undo;
}

int sva_reach_allow(struct sva_mm *mm, const void *addr, size_t len, struct sva_reach_undo *undo, const char *fn)
{
	uint64_t start, end;
	int ret;

	ret = check_args(mm, addr, len, fn, &start, &end);
	if (ret)
		return ret;
	pthread_mutex_lock(&mm->lock);
	ret = undos_reserve_denying_locked(mm);
	/* What this allow adds, noted under the same hold as the add: what an
	 * undo denies is exactly that, never what was allowed before. */
	if (!ret && undo)
		ret = add_gaps(&undo->set, &mm->allowed, start, end);
	if (!ret)
		ret = sva_rset_add(&mm->allowed, start, end);
	if (!ret) {
		for (struct sva_reach_undo *u = mm->undos; u; u = u->next)
			if (u->deny)
				(void)sva_rset_del(&u->set, start, end); /* cannot fail: room made above */
		if (undo)
			link_locked(mm, undo, true);
	}
	pthread_mutex_unlock(&mm->lock);
	if (ret) {
		if (undo)
			sva_rset_fini(&undo->set);
		return sva_fail(&mm->ctx->log, ret, "%s: out of memory", fn);
	}
	return 0;
}

SVA_EXPORT int sva_mm_allow(struct sva_mm *mm, const void *addr, size_t len)
{
	return sva_reach_allow(mm, addr, len, NULL, "sva_mm_allow");
}

static void undo_unlink_locked(struct sva_mm *mm, struct sva_reach_undo *undo)
{
	for (struct sva_reach_undo **pp = &mm->undos; *pp; pp = &(*pp)->next) {
		if (*pp == undo) {
			*pp = undo->next;
			break;
		}
	}
}

int sva_reach_deny(struct sva_mm *mm, const void *addr, size_t len, unsigned *failed, struct sva_reach_undo *undo,
		   const char *fn)
{
	uint64_t start, end;
	unsigned refused = 0;
	int ret;

	if (failed)
		*failed = 0;
	ret = check_args(mm, addr, len, fn, &start, &end);
	if (ret)
		return ret;
	pthread_mutex_lock(&mm->lock);
	/* The snapshot under the same hold as the deny: what a restore puts
	 * back is exactly what this deny took away. */
	if (undo)
		ret = sva_rset_add_part(&undo->set, &mm->allowed, start, end);
	if (!ret)
		ret = sva_rset_del(&mm->allowed, start, end);
	if (!ret) {
		undos_del_locked(mm, start, end);
		if (undo)
			link_locked(mm, undo, false);
		/* Faults resolve under mm->lock: none can map it back between the
		 * two.  Chunks go whole, as in sva_mm_invalidate(). */
		pthread_mutex_lock(&mm->map_lock);
		sva_mm_withdraw_locked(mm, start, end, &refused);
		pthread_mutex_unlock(&mm->map_lock);
	}
	pthread_mutex_unlock(&mm->lock);
	sva_mm_reap(mm);
	if (ret) {
		if (undo)
			sva_rset_fini(&undo->set);
		return sva_fail(&mm->ctx->log, ret, "%s: out of memory", fn);
	}
	if (failed)
		*failed = refused;
	return 0;
}

int sva_reach_restore(struct sva_mm *mm, struct sva_reach_undo *undo, unsigned *failed)
{
	unsigned refused = 0;
	int ret = 0;

	pthread_mutex_lock(&mm->lock);
	undo_unlink_locked(mm, undo);
	if (undo->deny) {
		/*
		 * An allow's undo denies what it added, less what allows made
		 * since took: no one else's allowance is taken back.  A piece
		 * the set has no memory to split off stays allowed; the others
		 * go all the same.  (Pending undos of denies need not lose the
		 * range: none covers memory an allocation still holds.)
		 */
		for (size_t i = 0; i < undo->set.n; i++)
			if (sva_rset_del(&mm->allowed, undo->set.v[i].start, undo->set.v[i].end))
				ret = -ENOMEM;
		pthread_mutex_lock(&mm->map_lock);
		for (size_t i = 0; i < undo->set.n; i++)
			sva_mm_withdraw_locked(mm, undo->set.v[i].start, undo->set.v[i].end, &refused);
		pthread_mutex_unlock(&mm->map_lock);
	} else {
		/*
		 * No memory needed unless another thread changed the allowances
		 * meanwhile: each range of the set before the deny comes back
		 * whole or as at most one piece (two only where the deny split
		 * it, and that split reserved the room), and the capacity never
		 * shrinks.  Every piece is tried: one that needs memory there is
		 * none for holds no other back.
		 */
		ret = undo->lost ? -ENOMEM : 0; /* a deny of another thread sets it under the lock */
		for (size_t i = 0; i < undo->set.n && !undo->lost; i++)
			if (sva_rset_add(&mm->allowed, undo->set.v[i].start, undo->set.v[i].end))
				ret = -ENOMEM;
	}
	pthread_mutex_unlock(&mm->lock);
	if (undo->deny)
		sva_mm_reap(mm);
	sva_rset_fini(&undo->set);
	if (failed)
		*failed = refused;
	return ret;
}

void sva_reach_undo_drop(struct sva_mm *mm, struct sva_reach_undo *undo)
{
	pthread_mutex_lock(&mm->lock);
	undo_unlink_locked(mm, undo);
	pthread_mutex_unlock(&mm->lock);
	sva_rset_fini(&undo->set);
}

SVA_EXPORT int sva_mm_deny(struct sva_mm *mm, const void *addr, size_t len)
{
	uint64_t start = (uintptr_t)addr, end = start + len; /* page-aligned: check_args() */
	unsigned failed;
	int ret;

	ret = sva_reach_deny(mm, addr, len, &failed, NULL, "sva_mm_deny");
	if (ret)
		return ret;
	if (failed)
		return sva_fail(&mm->ctx->log, -EIO,
				"sva_mm_deny: the kernel refused to unmap %u chunk(s) in 0x%llx-0x%llx: they stay "
				"visible",
				failed, (unsigned long long)start, (unsigned long long)end);
	return 0;
}
