# Man pages of address spaces and bonds, the concepts page and sva-demo.
# Included from man/local.mk.

# Address spaces.
dist_man_MANS += \
	man/sva_mm_new.3 \
	man/sva_mm_free.3 \
	man/sva_mm_prefault.3 \
	man/sva_mm_allow.3 \
	man/sva_mm_deny.3 \
	man/sva_mm_invalidate.3 \
	man/sva_mm_iova_ranges.3 \
	man/sva_mm_fence.3 \
	man/sva_mm_stats.3

# Bonds (sva_bond_drvdata.3 is a .so link to sva_bond_pasid.3).
dist_man_MANS += \
	man/sva_bind.3 \
	man/sva_unbind.3 \
	man/sva_bond_pasid.3 \
	man/sva_bond_drvdata.3 \
	man/sva_dev_bond_lookup.3

# Concepts, and the demo.
dist_man_MANS += man/libsva.7 man/sva-demo.1
