# Man pages of the placement allocator.  Included from man/local.mk.
dist_man_MANS += \
	man/sva_mem_alloc.3 \
	man/sva_mem_free.3
