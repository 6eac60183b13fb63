# PASID spaces (included from man/local.mk).  Pages holding only ".so" point
# at the page that documents a group of calls.
dist_man_MANS += \
	man/sva_pasid_space_new.3 \
	man/sva_pasid_space_free.3 \
	man/sva_pasid_alloc.3 \
	man/sva_pasid_free.3 \
	man/sva_pasid_release.3 \
	man/sva_pasid_barrier.3 \
	man/sva_pasid_lookup.3 \
	man/sva_pasid_stats.3 \
	man/sva_ctx_global_pasids.3 \
	man/sva_dev_pasids.3 \
	man/sva_dev_set_pasid_range.3 \
	man/sva_dev_pasid_alloc.3 \
	man/sva_dev_pasid_free.3 \
	man/sva_dev_pasid_release.3 \
	man/sva_dev_pasid_lookup.3
