# Unit tests: no kernel needed.
UNIT_TESTS = \
	tests/unit/test-pci-addr \
	tests/unit/test-sysfs \
	tests/unit/test-core-errors \
	tests/unit/test-chunks \
	tests/unit/test-fault-window \
	tests/unit/test-log-levels \
	tests/unit/test-reach
check_PROGRAMS += $(UNIT_TESTS)
TESTS += $(UNIT_TESTS)
tests_unit_test_pci_addr_LDADD = $(TEST_LIBS)
tests_unit_test_sysfs_LDADD = $(TEST_LIBS)
tests_unit_test_core_errors_LDADD = $(TEST_LIBS)
tests_unit_test_sysfs_SOURCES = tests/unit/test-sysfs.c tests/unit/fake_sysfs.h tests/tap.h
tests_unit_test_core_errors_SOURCES = tests/unit/test-core-errors.c tests/unit/fake_sysfs.h tests/tap.h
include tests/unit/man.mk
tests_unit_test_chunks_LDADD = $(TEST_LIBS)
# Adaptive fault-around's pure logic (libsva/fault_window.c).
tests_unit_test_fault_window_SOURCES = tests/unit/test-fault-window.c tests/tap.h
tests_unit_test_fault_window_LDADD = $(TEST_LIBS)
# The log-level rule: expected outcomes at debug level, real errors at error level.
tests_unit_test_log_levels_SOURCES = tests/unit/test-log-levels.c tests/tap.h
tests_unit_test_log_levels_LDADD = $(TEST_LIBS)
# What a device may reach (libsva/reach.c, arena.c).
tests_unit_test_reach_SOURCES = tests/unit/test-reach.c tests/tap.h
tests_unit_test_reach_LDADD = $(TEST_LIBS) $(PTHREAD_LIBS)
include tests/unit/mem.mk
