# The placement allocator without a kernel (included from tests/unit/local.mk):
# the gap search on synthetic windows and mappings, and sva_mem_alloc() /
# sva_mem_free() over the whole address space: errors, NUMA, huge pages,
# concurrency.
check_PROGRAMS += tests/unit/test-mem-window
TESTS += tests/unit/test-mem-window
tests_unit_test_mem_window_SOURCES = tests/unit/test-mem-window.c tests/hugetlb.h tests/proc_number.h tests/map_fill.h tests/tap.h
tests_unit_test_mem_window_LDADD = $(TEST_LIBS) $(LIBNUMA_LIBS) $(PTHREAD_LIBS)
# fork() while a thread holds the allocator's lock.
check_PROGRAMS += tests/unit/test-mem-fork
TESTS += tests/unit/test-mem-fork
tests_unit_test_mem_fork_SOURCES = tests/unit/test-mem-fork.c tests/tap.h
tests_unit_test_mem_fork_LDADD = $(TEST_LIBS) $(PTHREAD_LIBS)
