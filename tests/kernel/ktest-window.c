/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * One reader of the IOVA window (issue 12): with more than 16 ranges, the
 * fault path used to refuse (-ERANGE) what sva_mm_prefault accepted.  On the
 * selftest mock, reserved holes (IOMMU_TEST_OP_ADD_RESERVED) cut the window
 * into more than 24 ranges; a fault in the 24th must resolve, as a prefault
 * there does.
 */
#include "ktest.h"

#define NR 24
#define BASE 0x40000000ull
#define STEP (1ull << 20)

int main(void)
{
	struct sva_ctx_opts co = { .size = sizeof(co), .flags = SVA_CTX_FAULT_POLL };
	struct sva_iova_range out[NR + 4];
	struct sva_bond_stats st = { .size = sizeof(st) };
	size_t nr = NR + 4;
	struct sva_ctx *ctx;
	struct sva_dev *dev;
	struct sva_mm *mm;
	struct sva_bond *bond;
	uint64_t last = BASE + (NR - 1) * STEP, before = BASE + (NR - 2) * STEP;
	int ret;

	ktest_require_iommufd();
	alarm(60);
	if (sva_ctx_new(&co, &ctx))
		ktest_bail("sva_ctx_new");
	ret = sva_dev_open_mock(ctx, NULL, &dev);
	ktest_skip_without_mock(ret);
	if (!is_int(ret, 0, "sva_dev_open_mock"))
		return done_testing();
	if (sva_mm_new(ctx, NULL, &mm) || sva_bind(dev, mm, NULL, &bond))
		ktest_bail("address space or fault-capable bind");
	/* Reserved: the second half of every MiB from BASE on, so the window's
	 * ranges from BASE on are the first halves (range 0 starts below BASE). */
	for (int i = 0; i < NR; i++) {
		struct kabi_iommu_test_cmd cmd = { .op = KABI_TEST_OP_ADD_RESERVED, .id = mm->ioas_id,
						   .add_reserved = { .start = BASE + i * STEP + STEP / 2,
								     .length = STEP / 2 } };

		if (ktest_cmd(ctx, &cmd))
			ktest_bail("IOMMU_TEST_OP_ADD_RESERVED: %s", strerror(errno));
	}
	ret = sva_mm_iova_ranges(mm, out, &nr);
	ok(ret == 0 && nr == NR + 1, "the window has %d ranges (%d, %zu)", NR + 1, ret, nr);
	ktest_map_at(BASE, NR * STEP, PROT_READ | PROT_WRITE);

	is_int(sva_mm_prefault(mm, (void *)(uintptr_t)before, 4096), 0, "prefault in range %d", NR - 1);
	is_int(ktest_inject_and_wait(dev, bond, last, SVA_ACCESS_READ, 5000), 0, "a fault in range %d handled", NR);
	sva_bond_stats(bond, &st);
	is_int((int)st.invalid, 0, "the fault path accepts range %d too, as prefault does", NR);
	is_int(ktest_inject_and_wait(dev, bond, last + STEP / 2, SVA_ACCESS_READ, 5000), 0,
	       "a fault in the hole after it handled");
	sva_bond_stats(bond, &st);
	is_int((int)st.invalid, 1, "and refused: outside the window");

	sva_unbind(bond);
	sva_mm_free(mm);
	sva_dev_close(dev);
	sva_ctx_free(ctx);
	return done_testing();
}
