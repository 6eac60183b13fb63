# Unit tests: no kernel needed.
UNIT_TESTS = \
	tests/unit/test-pci-addr \
	tests/unit/test-sysfs \
	tests/unit/test-core-errors \
	tests/unit/test-chunks \
	tests/unit/test-fault-window \
	tests/unit/test-log-levels \
	tests/unit/test-log-swap \
	tests/unit/test-log-signal \
	tests/unit/test-vma-collect \
	tests/unit/test-vma-classify \
	tests/unit/test-vma-smaps-error \
	tests/unit/test-vma-smaps-long \
	tests/unit/test-fault-storm \
	tests/unit/test-broker-proto \
	tests/unit/test-broker-conf \
	tests/unit/test-broker-client \
	tests/unit/test-brokerd-signal \
	tests/unit/test-brokerd-socket \
	tests/unit/test-broker-map-cap \
	tests/unit/test-reach \
	tests/unit/test-prefault-budget \
	tests/unit/test-mm-api \
	tests/unit/test-arena-limit \
	tests/unit/test-ctx-fail-arena \
	tests/unit/test-option-error
check_PROGRAMS += $(UNIT_TESTS)
TESTS += $(UNIT_TESTS)
tests_unit_test_pci_addr_LDADD = $(TEST_LIBS)
tests_unit_test_sysfs_LDADD = $(TEST_LIBS)
tests_unit_test_core_errors_LDADD = $(TEST_LIBS)
tests_unit_test_sysfs_SOURCES = tests/unit/test-sysfs.c tests/unit/fake_sysfs.h tests/tap.h
tests_unit_test_core_errors_SOURCES = tests/unit/test-core-errors.c tests/unit/fake_sysfs.h tests/tap.h
include tests/unit/man.mk
# sva_ctx_new under an RLIMIT_AS with no room for the arena: the line says so.
tests_unit_test_arena_limit_SOURCES = tests/unit/test-arena-limit.c tests/proc_status.h tests/tap.h
tests_unit_test_arena_limit_LDADD = $(TEST_LIBS)
# tools/option_error.h: abbreviations as getopt_long() reads them, and each
# bad option's and bad value's line.
tests_unit_test_option_error_SOURCES = tests/unit/test-option-error.c tools/option_error.h tools/number.h tests/tap.h
# A failed sva_ctx_new reserves no arena.
tests_unit_test_ctx_fail_arena_SOURCES = tests/unit/test-ctx-fail-arena.c tests/proc_status.h tests/tap.h
tests_unit_test_ctx_fail_arena_LDADD = $(TEST_LIBS)
# sva_mm_prefault under a pin budget: every check before any eviction.
tests_unit_test_prefault_budget_SOURCES = tests/unit/test-prefault-budget.c tests/unit/fake_ioctl.h tests/tap.h
tests_unit_test_prefault_budget_LDADD = $(TEST_LIBS)
# sva_mm_new/free/stats/iova_ranges on a hand-built context: failures change nothing, threads, fork.
tests_unit_test_mm_api_SOURCES = tests/unit/test-mm-api.c tests/unit/fake_ioctl.h tests/unit/fake_bind_objects.h tests/map_fill.h tests/tap.h
tests_unit_test_mm_api_LDADD = $(TEST_LIBS) $(PTHREAD_LIBS)
tests_unit_test_chunks_LDADD = $(TEST_LIBS)
# Adaptive fault-around's pure logic (libsva/fault_window.c).
tests_unit_test_fault_window_SOURCES = tests/unit/test-fault-window.c tests/tap.h
tests_unit_test_fault_window_LDADD = $(TEST_LIBS)
# The log-level rule: expected outcomes at debug level, real errors at error level.
tests_unit_test_log_levels_SOURCES = tests/unit/test-log-levels.c tests/tap.h
tests_unit_test_log_levels_LDADD = $(TEST_LIBS)
# sva_ctx_set_log: the old callback is done with once it returns.
tests_unit_test_log_swap_SOURCES = tests/unit/test-log-swap.c tests/tap.h
tests_unit_test_log_swap_LDADD = $(TEST_LIBS) $(PTHREAD_LIBS)
# A failing lookup in a signal handler that interrupted a log line of its log.
tests_unit_test_log_signal_SOURCES = tests/unit/test-log-signal.c tests/tap.h
tests_unit_test_log_signal_LDADD = $(TEST_LIBS)
# The VMAs of a range: PROCMAP_QUERY against /proc/self/maps (libsva/vma_query.c).
tests_unit_test_vma_collect_SOURCES = tests/unit/test-vma-collect.c tests/fd_fill.h tests/tap.h
tests_unit_test_vma_collect_LDADD = $(TEST_LIBS)
# A VMA's huge-page classification survives a moment without descriptors (vma.c).
tests_unit_test_vma_classify_SOURCES = tests/unit/test-vma-classify.c tests/hugetlb.h tests/proc_number.h tests/tap.h
tests_unit_test_vma_classify_LDADD = $(TEST_LIBS)
# ... and a read of smaps that fails partway decides nothing (vma.c).
tests_unit_test_vma_smaps_error_SOURCES = tests/unit/test-vma-smaps-error.c tests/hugetlb.h tests/proc_number.h tests/tap.h
tests_unit_test_vma_smaps_error_LDADD = $(TEST_LIBS)
# ... and a mapped file's path longer than its line buffer is no field line (vma.c).
tests_unit_test_vma_smaps_long_SOURCES = tests/unit/test-vma-smaps-long.c tests/tap.h
tests_unit_test_vma_smaps_long_LDADD = $(TEST_LIBS)
# The fault engine under storms, on a fake kernel queue (fault.c's read hooks).
tests_unit_test_fault_storm_SOURCES = tests/unit/test-fault-storm.c tests/tap.h
tests_unit_test_fault_storm_LDADD = $(TEST_LIBS) $(PTHREAD_LIBS)
# What a device may reach (libsva/reach.c, arena.c).
tests_unit_test_reach_SOURCES = tests/unit/test-reach.c tests/tap.h
tests_unit_test_reach_LDADD = $(TEST_LIBS) $(PTHREAD_LIBS)
include tests/unit/mem.mk
# The broker's wire protocol and what it does with hostile messages.
tests_unit_test_broker_proto_SOURCES = tests/unit/test-broker-proto.c tests/tap.h
tests_unit_test_broker_proto_LDADD = $(TEST_LIBS)
# sva-brokerd's configuration file.
tests_unit_test_broker_conf_SOURCES = tests/unit/test-broker-conf.c tools/broker/config.c tools/broker/broker.h tests/tap.h
tests_unit_test_broker_conf_LDADD = $(TEST_LIBS)
# The client side of SVA_CTX_BROKER against a fake broker (no kernel).
tests_unit_test_broker_client_SOURCES = tests/unit/test-broker-client.c tests/tap.h
tests_unit_test_broker_client_LDADD = $(TEST_LIBS) $(PTHREAD_LIBS)
# sva-brokerd's signals during its start-up: tools/broker/main.c (included) with a fake start.
tests_unit_test_brokerd_signal_SOURCES = tests/unit/test-brokerd-signal.c tools/broker/config.c \
	tools/broker/broker.h tests/tap.h
tests_unit_test_brokerd_signal_LDADD = $(TEST_LIBS)
# What sva-brokerd does with its socket's path and directory before it listens:
# tools/broker/server.c (included) with a mkdir() that swaps the directory.
tests_unit_test_brokerd_socket_SOURCES = tests/unit/test-brokerd-socket.c tools/broker/config.c \
	tools/broker/requests.c tools/broker/isolated.c tools/broker/rid.c tools/broker/mm_exit.c \
	tools/broker/broker.h tools/number.h tests/tap.h
tests_unit_test_brokerd_socket_LDADD = $(TEST_LIBS)
# sva-brokerd's cap on an isolated client's mappings (-ENOSPC), reached with a
# cap of 256: tools/broker/isolated.c built with a test's BROKER_MAX_MAPS.
tests_unit_test_broker_map_cap_SOURCES = tests/unit/test-broker-map-cap.c tools/broker/config.c \
	tools/broker/requests.c tools/broker/isolated.c tools/broker/rid.c tools/broker/mm_exit.c \
	tools/broker/broker.h tests/unit/fake_ioctl.h tests/tap.h
tests_unit_test_broker_map_cap_CPPFLAGS = $(AM_CPPFLAGS) -DBROKER_MAX_MAPS=256
tests_unit_test_broker_map_cap_LDADD = $(TEST_LIBS)
# The benchmarks' JSON strings (tools/bench/bench.h), and bench-coherence's skip
# member (tools/bench/bench-coherence.c, included), read back with json-c.
check_PROGRAMS += tests/unit/test-bench-json
TESTS += tests/unit/test-bench-json
tests_unit_test_bench_json_SOURCES = tests/unit/test-bench-json.c tools/bench/bench.h tests/tap.h
tests_unit_test_bench_json_CFLAGS = $(AM_CFLAGS) $(JSON_C_CFLAGS)
tests_unit_test_bench_json_LDADD = $(TEST_LIBS) $(PTHREAD_LIBS) $(JSON_C_LIBS)

# sva-bench's main against fake benchmarks: --rounds never reaches coherence
# (sva-bench(1)), which a real coherence run takes minutes to show.  No
# libsva: the test stands in for the four calls main.c makes.
check_PROGRAMS += tests/unit/test-bench-rounds
TESTS += tests/unit/test-bench-rounds
tests_unit_test_bench_rounds_SOURCES = tests/unit/test-bench-rounds.c tools/bench/bench.h tests/tap.h
tests_unit_test_bench_rounds_CFLAGS = $(AM_CFLAGS) $(JSON_C_CFLAGS)
tests_unit_test_bench_rounds_LDADD = $(JSON_C_LIBS)
# A forked child knows it is one: fork(), _Fork() and a raw clone().
check_PROGRAMS += tests/unit/test-fork-detect
TESTS += tests/unit/test-fork-detect
tests_unit_test_fork_detect_SOURCES = tests/unit/test-fork-detect.c tests/tap.h
tests_unit_test_fork_detect_LDADD = $(TEST_LIBS)
# What fork() waits for: the fork guard of the device-list and log sections.
check_PROGRAMS += tests/unit/test-fork-guard
TESTS += tests/unit/test-fork-guard
tests_unit_test_fork_guard_SOURCES = tests/unit/test-fork-guard.c tests/tap.h
tests_unit_test_fork_guard_LDADD = $(TEST_LIBS) $(PTHREAD_LIBS)

# test-sva-info.sh's LD_PRELOAD helper: a userfaultfd without write-protect
# mode.  Its own flags, without the sanitizers' (as occupy-preload's).
check_LTLIBRARIES += tests/unit/uffd-nowp-preload.la
tests_unit_uffd_nowp_preload_la_SOURCES = tests/unit/uffd-nowp-preload.c
tests_unit_uffd_nowp_preload_la_CFLAGS = -std=gnu11 $(WARN_CFLAGS)
tests_unit_uffd_nowp_preload_la_LDFLAGS = -module -avoid-version -shared -rpath /nowhere

# test-sva-info.sh's helper: a program run with userfaultfd refused.
check_PROGRAMS += tests/unit/uffd-refuse
tests_unit_uffd_refuse_SOURCES = tests/unit/uffd-refuse.c

# Not a test: the fault engine's own instructions per random single-page
# fault, without a kernel, for `valgrind --tool=callgrind` (issue 14; how to
# read it in its opening comment).  Built with the tests, run by hand.
check_PROGRAMS += tests/unit/bench-fault-count
tests_unit_bench_fault_count_SOURCES = tests/unit/bench-fault-count.c tests/unit/fake_ioctl.h
tests_unit_bench_fault_count_LDADD = $(TEST_LIBS)

# test-sva-bench.sh's LD_PRELOAD helper: a strerror() whose words need
# escaping in JSON.  Its own flags, without the sanitizers' (as uffd-nowp-preload's).
check_LTLIBRARIES += tests/unit/strerror-preload.la
tests_unit_strerror_preload_la_SOURCES = tests/unit/strerror-preload.c
tests_unit_strerror_preload_la_CFLAGS = -std=gnu11 $(WARN_CFLAGS)
tests_unit_strerror_preload_la_LDFLAGS = -module -avoid-version -shared -rpath /nowhere

# test-sva-bench.sh's LD_PRELOAD helper: sva-bench out of memory for a
# benchmark's output past its first 4 KiB (tests/unit/bench-cut-preload.c).
check_LTLIBRARIES += tests/unit/bench-cut-preload.la
tests_unit_bench_cut_preload_la_SOURCES = tests/unit/bench-cut-preload.c
tests_unit_bench_cut_preload_la_CFLAGS = -std=gnu11 $(WARN_CFLAGS)
tests_unit_bench_cut_preload_la_LDFLAGS = -module -avoid-version -shared -rpath /nowhere
