# Man pages of the I/O page-fault engine (included from man/local.mk).
dist_man_MANS += \
	man/sva_ctx_fault_fd.3 \
	man/sva_ctx_fault_health.3 \
	man/sva_ctx_process_faults.3 \
	man/sva_bond_stats.3
