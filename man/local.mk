# Man pages: section 3 for every public function, 1 for tools, 7 for concepts.

# Contexts, logging, devices, the selftest mock.
dist_man_MANS += man/sva-bench.1 \
	man/sva_ctx_new.3 \
	man/sva_ctx_free.3 \
	man/sva_ctx_fd.3 \
	man/sva_ctx_set_log.3 \
	man/sva_ctx_share_memfd.3 \
	man/sva_ctx_unshare_memfd.3 \
	man/sva_log_level_name.3 \
	man/sva_dev_open.3 \
	man/sva_dev_open_fd.3 \
	man/sva_dev_close.3 \
	man/sva_dev_get_info.3 \
	man/sva_dev_fd.3 \
	man/sva_dev_iova_ranges.3 \
	man/sva_iommu_type_name.3 \
	man/sva_dev_open_mock.3 \
	man/sva_dev_inject_fault.3

# Tools.
dist_man_MANS += man/sva-info.1 man/sva-brokerd.8

# PASID spaces and their man pages.
include man/pasid.mk
include man/bind.mk
include man/fault.mk
include man/mem.mk
