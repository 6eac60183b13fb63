/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Read-only visible memory made writable after mprotect (issue 12), on the
 * selftest mock: a write fault upgrades a prefaulted read-only chunk larger
 * than the fault window; a failed upgrade leaves the chunk visible as it was;
 * sva_mm_prefault upgrades read-only chunks whose mapping is now writable.
 */
#include "ktest.h"
#include "pin_budget.h"

extern int sva_test_ioas_map_fail, sva_test_ioas_map_skip; /* mm_map.c, libsva-test only */

#define BUF 0x48000000ull
#define LEN (64u << 10)

/* The chunk covering addr: its bounds and prot, or false. */
static bool chunk_at(struct sva_mm *mm, uint64_t addr, uint64_t *s, uint64_t *e, uint32_t *prot)
{
	struct sva_chunk *c;
	bool have = false;

	pthread_mutex_lock(&mm->map_lock);
	c = sva_chunks_after(&mm->chunks, addr);
	if (c && c->start <= addr) {
		*s = c->start;
		*e = c->end;
		*prot = c->prot;
		have = true;
	}
	pthread_mutex_unlock(&mm->map_lock);
	return have;
}

static uint64_t invalid(struct sva_bond *bond)
{
	struct sva_bond_stats st = { .size = sizeof(st) };

	sva_bond_stats(bond, &st);
	return st.invalid;
}

/* A fresh read-only chunk over [off, off + len) of the buffer, then the mapping made writable. */
static void ro_part_then_rw(struct sva_mm *mm, void *buf, size_t off, size_t len)
{
	sva_mm_invalidate(mm, buf, LEN);
	if (mprotect(buf, LEN, PROT_READ) || sva_mm_prefault(mm, (char *)buf + off, len) ||
	    mprotect(buf, LEN, PROT_READ | PROT_WRITE))
		ktest_bail("setting up a read-only chunk failed");
}

static void ro_chunk_then_rw(struct sva_mm *mm, void *buf)
{
	ro_part_then_rw(mm, buf, 0, LEN);
}

static bool whole(struct sva_mm *mm, bool w)
{
	uint64_t s, e;
	uint32_t prot;

	return chunk_at(mm, BUF, &s, &e, &prot) && s == BUF && e == BUF + LEN && !!(prot & SVA_PROT_WRITE) == w;
}

int main(void)
{
	struct sva_ctx_opts co = { .size = sizeof(co), .flags = SVA_CTX_FAULT_POLL };
	struct sva_mm_opts mo = { .size = sizeof(mo), .fault_around = 4096 };
	struct sva_ctx *ctx;
	struct sva_dev *dev;
	struct sva_mm *mm;
	struct sva_bond *bond;
	uint64_t inv, s, e;
	uint32_t prot;
	void *buf;
	int ret;

	ktest_require_iommufd();
	alarm(60);
	if (sva_ctx_new(&co, &ctx))
		ktest_bail("sva_ctx_new");
	ret = sva_dev_open_mock(ctx, NULL, &dev);
	ktest_skip_without_mock(ret);
	if (!is_int(ret, 0, "sva_dev_open_mock"))
		return done_testing();
	if (sva_mm_new(ctx, &mo, &mm) || sva_bind(dev, mm, NULL, &bond))
		ktest_bail("address space or fault-capable bind");
	buf = ktest_map_at(BUF, LEN, PROT_READ | PROT_WRITE);

	/* 1. A 64 KiB read-only chunk, a 4 KiB fault window, a write fault. */
	ro_chunk_then_rw(mm, buf);
	ok(whole(mm, false), "prefault under PROT_READ: one read-only 64 KiB chunk");
	inv = invalid(bond);
	is_int(ktest_inject_and_wait(dev, bond, BUF + 0x2000, SVA_ACCESS_WRITE, 5000), 0, "write fault handled");
	is_int((int)(invalid(bond) - inv), 0, "a write fault upgrades a read-only chunk larger than the fault window");
	ok(whole(mm, true), "the whole chunk is writable now");

	/* 2. The upgrade's map fails: the chunk stays, read-only.  First a chunk
	 * the fault window covers (4 KiB), then the large one. */
	ro_part_then_rw(mm, buf, 0x2000, 0x1000);
	sva_test_ioas_map_fail = -ENOMEM;
	inv = invalid(bond);
	is_int(ktest_inject_and_wait(dev, bond, BUF + 0x2000, SVA_ACCESS_WRITE, 5000), 0, "write fault handled");
	is_int((int)(invalid(bond) - inv), 1, "a failed upgrade of a 4 KiB chunk answers the fault INVALID");
	ok(chunk_at(mm, BUF + 0x2000, &s, &e, &prot) && s == BUF + 0x2000 && e == BUF + 0x3000 &&
		   !(prot & SVA_PROT_WRITE),
	   "after a failed upgrade the 4 KiB chunk is still visible, read-only");
	ro_chunk_then_rw(mm, buf);
	sva_test_ioas_map_fail = -ENOMEM;
	inv = invalid(bond);
	is_int(ktest_inject_and_wait(dev, bond, BUF + 0x2000, SVA_ACCESS_WRITE, 5000), 0, "write fault handled");
	is_int((int)(invalid(bond) - inv), 1, "a failed upgrade answers the fault INVALID");
	ok(whole(mm, false), "after a failed upgrade the chunk is still visible, read-only, whole");
	is_int(ktest_inject_and_wait(dev, bond, BUF + 0x2000, SVA_ACCESS_WRITE, 5000), 0, "the fault again");
	ok(whole(mm, true), "then it upgrades");

	/* 3. sva_mm_prefault: "writable where the mapping is writable". */
	ro_chunk_then_rw(mm, buf);
	is_int(sva_mm_prefault(mm, buf, LEN), 0, "prefault after mprotect(PROT_READ|PROT_WRITE)");
	ok(whole(mm, true), "prefault made the read-only chunk writable");

	/* 4. Prefault's upgrade fails: the chunk stays as it was, the call says so. */
	ro_chunk_then_rw(mm, buf);
	sva_test_ioas_map_fail = -ENOMEM;
	is_int(sva_mm_prefault(mm, buf, LEN), -ENOMEM, "prefault whose upgrade fails: -ENOMEM");
	ok(whole(mm, false), "and the read-only chunk is still there");

	/* 5. Prefault whose gap map fails after the gap before the chunk mapped:
	 * all or nothing, so the read-only chunk in the middle is not upgraded
	 * either (it was, and stayed writable, when upgrades came first). */
	ro_part_then_rw(mm, buf, 0x2000, 0x1000);
	sva_test_ioas_map_skip = 1;
	sva_test_ioas_map_fail = -EPERM;
	is_int(sva_mm_prefault(mm, buf, LEN), -EPERM, "prefault whose second map fails: -EPERM");
	ok(chunk_at(mm, BUF + 0x2000, &s, &e, &prot) && s == BUF + 0x2000 && e == BUF + 0x3000 &&
		   !(prot & SVA_PROT_WRITE),
	   "the read-only chunk in the range is still read-only");
	ok(!chunk_at(mm, BUF, &s, &e, &prot) && !chunk_at(mm, BUF + 0x3000, &s, &e, &prot),
	   "and nothing else of the range is visible");
	sva_test_ioas_map_fail = sva_test_ioas_map_skip = 0;
	is_int(sva_mm_prefault(mm, buf, LEN), 0, "the same prefault without the failure");
	ok(chunk_at(mm, BUF + 0x2000, &s, &e, &prot) && (prot & SVA_PROT_WRITE), "upgrades the chunk");

	/* 6. A piece that cannot come back whole: one of its pages is
	 * PROT_NONE now.  Prefault says so (it used to return 0 and leave the
	 * writable page read-only to the device), a write fault is refused, and
	 * the piece stays as it was. */
	ro_chunk_then_rw(mm, buf);
	if (mprotect((char *)buf + LEN - 0x1000, 0x1000, PROT_NONE))
		ktest_bail("mprotect");
	is_int(sva_mm_prefault(mm, buf, 0x1000), -EACCES,
	       "prefault of a writable page whose read-only piece has a PROT_NONE page now: -EACCES");
	ok(whole(mm, false), "the piece is still visible, read-only, whole");
	inv = invalid(bond);
	is_int(ktest_inject_and_wait(dev, bond, BUF, SVA_ACCESS_WRITE, 5000), 0, "write fault handled");
	is_int((int)(invalid(bond) - inv), 1, "a write fault there is refused too");
	ok(whole(mm, false), "and the piece is unchanged");
	if (mprotect(buf, LEN, PROT_READ | PROT_WRITE))
		ktest_bail("mprotect");
	is_int(sva_mm_prefault(mm, buf, 0x1000), 0, "with the page accessible again, the prefault upgrades");
	ok(whole(mm, true), "the whole piece, writable");

	/* 7. A piece over more mappings than 16 (it used to give up silently
	 * past 16): 40 pages, every other one made writable. */
	{
		const uint64_t at = BUF + (1u << 20), n = 40;
		char *p = ktest_map_at(at, n * 0x1000, PROT_READ);
		bool all = true;

		is_int(sva_mm_prefault(mm, p, n * 0x1000), 0, "a 40-page read-only piece");
		for (uint64_t i = 0; i < n; i += 2)
			if (mprotect(p + i * 0x1000, 0x1000, PROT_READ | PROT_WRITE))
				ktest_bail("mprotect");
		is_int(sva_mm_prefault(mm, p, 0x1000), 0, "prefault of its first page, now writable among 40 mappings");
		for (uint64_t i = 0; i < n; i++) {
			bool w = chunk_at(mm, at + i * 0x1000, &s, &e, &prot) && (prot & SVA_PROT_WRITE);

			if (w != !(i & 1))
				all = false;
		}
		ok(all, "the piece came back mapping by mapping: writable exactly where the mapping is");
		sva_mm_invalidate(mm, p, n * 0x1000);
		munmap(p, n * 0x1000);
	}

	/* 8. A fault-mapped read-only chunk whose upgrade by a prefault fails:
	 * it comes back "as it was" (sva_mm_prefault(3)), fault-mapped, not
	 * prefaulted (never evicted, counted in bytes_prefaulted). */
	{
		struct sva_mm_stats st0 = { .size = sizeof(st0) }, st1 = { .size = sizeof(st1) };

		sva_mm_invalidate(mm, buf, LEN);
		if (mprotect(buf, LEN, PROT_READ))
			ktest_bail("mprotect");
		is_int(ktest_inject_and_wait(dev, bond, BUF + 0x4000, SVA_ACCESS_READ, 5000), 0, "a read fault on read-only memory");
		ok(chunk_at(mm, BUF + 0x4000, &s, &e, &prot) && !(prot & (SVA_PROT_WRITE | SVA_CHUNK_PINNED)),
		   "maps a read-only, fault-mapped chunk");
		if (mprotect(buf, LEN, PROT_READ | PROT_WRITE))
			ktest_bail("mprotect");
		sva_mm_stats(mm, &st0);
		sva_test_ioas_map_fail = -ENOMEM;
		is_int(sva_mm_prefault(mm, (char *)buf + 0x4000, 0x1000), -ENOMEM, "a prefault whose upgrade of it fails: -ENOMEM");
		sva_test_ioas_map_fail = 0;
		sva_mm_stats(mm, &st1);
		ok(chunk_at(mm, BUF + 0x4000, &s, &e, &prot) && !(prot & (SVA_PROT_WRITE | SVA_CHUNK_PINNED)),
		   "the chunk is back read-only and fault-mapped (prot 0x%x)", prot);
		ok(st1.bytes_prefaulted == st0.bytes_prefaulted && st1.bytes_visible == st0.bytes_visible,
		   "bytes_prefaulted and bytes_visible unchanged (%llu -> %llu, %llu -> %llu)",
		   (unsigned long long)st0.bytes_prefaulted, (unsigned long long)st1.bytes_prefaulted,
		   (unsigned long long)st0.bytes_visible, (unsigned long long)st1.bytes_visible);
	}

	sva_unbind(bond);
	sva_mm_free(mm);
	sva_dev_close(dev);
	sva_ctx_free(ctx);
	return done_testing();
}
