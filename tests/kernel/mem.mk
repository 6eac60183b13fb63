# The placement allocator against real iommufd (included at the end of
# tests/kernel/local.mk): windows of the mock, VT-d 39 and 48 bits, NUMA
# placement on edu's node, huge pages, prefault and free.  Adding it to
# KERNEL_TESTS is enough, even after tests/kernel/local.mk's
# "check_PROGRAMS += $(KERNEL_TESTS)": make expands that reference when it is
# used, and automake resolves every += of KERNEL_TESTS, so adding it to
# check_PROGRAMS and TESTS here too would list it twice (and `make check`
# would count its results twice).
KERNEL_TESTS += tests/kernel/ktest-mem
tests_kernel_ktest_mem_SOURCES = tests/kernel/ktest-mem.c tests/kernel/ktest.h tests/kernel/ktest_edu.h tests/hugetlb.h tests/proc_number.h tests/tap.h
tests_kernel_ktest_mem_LDADD = $(TEST_LIBS) $(LIBNUMA_LIBS)
