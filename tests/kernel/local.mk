# Kernel-tier tests: against real Linux iommufd/VFIO.  Under `make check` they
# run natively only where /dev/iommu is usable and skip (saying why) elsewhere;
# `make check-vm` runs them in the QEMU VM on every topology.  They link the
# convenience library, so they are real ELF binaries the initramfs can carry.
KERNEL_TESTS = \
	tests/kernel/ktest-smoke \
	tests/kernel/ktest-mock \
	tests/kernel/ktest-edu \
	tests/kernel/ktest-fault \
	tests/kernel/ktest-fault-groups \
	tests/kernel/ktest-coherence \
	tests/kernel/ktest-process-events \
	tests/kernel/ktest-register-query \
	tests/kernel/ktest-kernel-lacks \
	tests/kernel/ktest-doctor \
	tests/kernel/ktest-pasid-share \
	tests/kernel/ktest-pasid-race \
	tests/kernel/ktest-pasid-contract \
	tests/kernel/ktest-pasid-contract-broker \
	tests/kernel/ktest-teardown \
	tests/kernel/ktest-upgrade \
	tests/kernel/ktest-fault-thread \
	tests/kernel/ktest-window \
	tests/kernel/ktest-fail-nth \
	tests/kernel/ktest-pin-budget \
	tests/kernel/ktest-storm \
	tests/kernel/ktest-secure-env \
	tests/kernel/ktest-fault-fuzz \
	tests/kernel/ktest-broker \
	tests/kernel/ktest-broker-edu \
	tests/kernel/ktest-broker-dev \
	tests/kernel/ktest-containment \
	tests/kernel/ktest-bench-bail \
	tests/kernel/ktest-demo \
	tests/kernel/ktest-tools \
	tests/kernel/ktest-brokerd-bin \
	tests/kernel/ktest-dev-contract \
	tests/kernel/ktest-ctx-contract \
	tests/kernel/ktest-mm-contract \
	tests/kernel/ktest-blackbox-mm \
	tests/kernel/ktest-bind-contract \
	tests/kernel/ktest-share-contract \
	tests/kernel/ktest-lib-contract \
	tests/kernel/ktest-blackbox-ctx \
	tests/kernel/ktest-blackbox-pasid \
	tests/kernel/ktest-blackbox-lib \
	tests/kernel/ktest-blackbox-opts \
	tests/kernel/ktest-blackbox-coherence \
	tests/kernel/ktest-dlclose \
	tests/kernel/ktest-stress-api
check_PROGRAMS += $(KERNEL_TESTS) tests/kernel/sva-env-helper
TESTS += $(KERNEL_TESTS)
tests_kernel_ktest_smoke_SOURCES = tests/kernel/ktest-smoke.c tests/kernel/edu_find.h tests/tap.h
tests_kernel_ktest_mock_SOURCES = tests/kernel/ktest-mock.c tests/kernel/ktest.h tests/kernel/ktest_proc.h tests/proc_status.h tests/tap.h
tests_kernel_ktest_edu_SOURCES = tests/kernel/ktest-edu.c tests/kernel/ktest.h tests/kernel/ktest_edu.h tests/tap.h
tests_kernel_ktest_smoke_LDADD = $(TEST_LIBS)
tests_kernel_ktest_mock_LDADD = $(TEST_LIBS)
tests_kernel_ktest_edu_LDADD = $(TEST_LIBS)
tests_kernel_ktest_fault_SOURCES = tests/kernel/ktest-fault.c tests/kernel/ktest.h tests/fd_fill.h tests/tap.h
tests_kernel_ktest_fault_LDADD = $(TEST_LIBS)
tests_kernel_ktest_fault_groups_SOURCES = tests/kernel/ktest-fault-groups.c tests/kernel/ktest.h tests/kernel/ktest_proc.h tests/proc_status.h tests/tap.h
tests_kernel_ktest_fault_groups_LDADD = $(TEST_LIBS)
tests_kernel_ktest_coherence_SOURCES = tests/kernel/ktest-coherence.c tests/kernel/ktest.h tests/kernel/uffd_refuse.h tests/hugetlb.h tests/proc_number.h tests/tap.h
tests_kernel_ktest_coherence_LDADD = $(TEST_LIBS)
# fork, mprotect, migration, shared memory, private file COW: the device's page is the process's.
tests_kernel_ktest_process_events_SOURCES = tests/kernel/ktest-process-events.c tests/kernel/ktest.h \
	tests/kernel/ktest_edu.h tests/tap.h
tests_kernel_ktest_process_events_LDADD = $(TEST_LIBS)
tests_kernel_ktest_register_query_SOURCES = tests/kernel/ktest-register-query.c tests/kernel/ktest.h tests/unit/fake_ioctl.h tests/tap.h
tests_kernel_ktest_register_query_LDADD = $(TEST_LIBS)
# PROCMAP_QUERY refused by a sandbox, a userfaultfd without uffd-wp (the test plays the kernel's answers).
tests_kernel_ktest_kernel_lacks_SOURCES = tests/kernel/ktest-kernel-lacks.c tests/kernel/ktest.h tests/kernel/uffd_refuse.h tests/tap.h
tests_kernel_ktest_kernel_lacks_LDADD = $(TEST_LIBS)
tests_kernel_ktest_bench_bail_SOURCES = tests/kernel/ktest-bench-bail.c tests/kernel/ktest.h tests/kernel/uffd_refuse.h tests/tap.h
tests_kernel_ktest_bench_bail_LDADD = $(TEST_LIBS) $(JSON_C_LIBS)
tests_kernel_ktest_bench_bail_CFLAGS = $(AM_CFLAGS) $(JSON_C_CFLAGS)
tests_kernel_ktest_demo_SOURCES = tests/kernel/ktest-demo.c tests/kernel/ktest.h tests/kernel/ktest_proc.h tests/proc_status.h tests/tap.h
tests_kernel_ktest_demo_LDADD = $(TEST_LIBS)
# The device and memory pages, checked black-box (sva.h only) on mock and vtd39.
tests_kernel_ktest_dev_contract_SOURCES = tests/kernel/ktest-dev-contract.c tests/kernel/ktest_proc.h tests/proc_status.h tests/kernel/edu_find.h tests/tap.h
tests_kernel_ktest_dev_contract_LDADD = $(TEST_LIBS)
# The context pages, statement by statement, on the mock.
tests_kernel_ktest_ctx_contract_SOURCES = tests/kernel/ktest-ctx-contract.c tests/kernel/ktest.h tests/kernel/ktest_proc.h tests/proc_status.h tests/tap.h
tests_kernel_ktest_ctx_contract_LDADD = $(TEST_LIBS)
# The context and device pages again, as an outside tester reads them (sva.h only), on the mock.
tests_kernel_ktest_blackbox_ctx_SOURCES = tests/kernel/ktest-blackbox-ctx.c tests/kernel/ktest_proc.h tests/proc_status.h \
	tests/kernel/edu_find.h tests/tap.h
tests_kernel_ktest_blackbox_ctx_LDADD = $(TEST_LIBS) $(PTHREAD_LIBS)
# libsva(7) Thread safety: every thread-safe call at once on shared objects (mock).
tests_kernel_ktest_stress_api_SOURCES = tests/kernel/ktest-stress-api.c tests/tap.h
tests_kernel_ktest_stress_api_LDADD = $(TEST_LIBS) $(PTHREAD_LIBS)
# The address-space pages, checked black-box (sva.h only) on the mock, with threads.
tests_kernel_ktest_mm_contract_SOURCES = tests/kernel/ktest-mm-contract.c tests/tap.h
tests_kernel_ktest_mm_contract_LDADD = $(TEST_LIBS) $(PTHREAD_LIBS)
# Black-box: each promise of the mm, memory, bond and fault pages, through sva.h only.
tests_kernel_ktest_blackbox_mm_SOURCES = tests/kernel/ktest-blackbox-mm.c tests/kernel/edu_find.h tests/kernel/ipc_lock_off.h tests/proc_number.h tests/tap.h
tests_kernel_ktest_blackbox_mm_LDADD = $(TEST_LIBS)
# The PASID pages, black-box (sva.h only): where failures log, release's -ERANGE,
# owned spaces, set_pasid_range's bounds, threads; the standalone part under make check.
tests_kernel_ktest_blackbox_pasid_SOURCES = tests/kernel/ktest-blackbox-pasid.c tests/kernel/edu_find.h tests/tap.h
tests_kernel_ktest_blackbox_pasid_LDADD = $(TEST_LIBS) $(PTHREAD_LIBS)
# Black-box: libsva(7)'s general rules (the process-wide log, untouched outputs,
# callbacks, stats against the fault engine) and the device/bond pages' rest.
tests_kernel_ktest_blackbox_lib_SOURCES = tests/kernel/ktest-blackbox-lib.c tests/kernel/mock_sees.h tests/kernel/edu_find.h tests/tap.h
tests_kernel_ktest_blackbox_lib_LDADD = $(TEST_LIBS) $(PTHREAD_LIBS)
# Black-box: the size rule, undefined flag bits and the edges of every options and
# information structure, swept whole (sva.h only), on the mock.
tests_kernel_ktest_blackbox_opts_SOURCES = tests/kernel/ktest-blackbox-opts.c tests/kernel/ipc_lock_off.h tests/tap.h
tests_kernel_ktest_blackbox_opts_LDADD = $(TEST_LIBS)
# Black-box: what the device sees after each process operation (libsva(7), Coherence), on the mock.
tests_kernel_ktest_blackbox_coherence_SOURCES = tests/kernel/ktest-blackbox-coherence.c tests/kernel/mock_sees.h tests/hugetlb.h tests/proc_number.h tests/tap.h
tests_kernel_ktest_blackbox_coherence_LDADD = $(TEST_LIBS) $(PTHREAD_LIBS)
# The bond pages (bind, unbind, lookups, callbacks, injection), black-box (sva.h only), on mock and vtd39.
tests_kernel_ktest_bind_contract_SOURCES = tests/kernel/ktest-bind-contract.c tests/kernel/ktest_proc.h tests/proc_status.h tests/kernel/mock_sees.h tests/kernel/edu_find.h tests/tap.h
tests_kernel_ktest_bind_contract_LDADD = $(TEST_LIBS) $(PTHREAD_LIBS)
# The memfd-sharing pages and sva-brokerd(8), black-box against the real
# daemon (tools/sva-brokerd, packed into the VM as /tests/sva-brokerd).
tests_kernel_ktest_share_contract_SOURCES = tests/kernel/ktest-share-contract.c tests/tap.h
tests_kernel_ktest_share_contract_LDADD = $(TEST_LIBS) $(PTHREAD_LIBS)
# libsva(7)'s library-wide promises (threads, log, descriptors, environment,
# fork without handlers) and sva_ctx_new(3)'s rest, black-box; the host part under make check.
tests_kernel_ktest_lib_contract_SOURCES = tests/kernel/ktest-lib-contract.c tests/kernel/ktest_proc.h tests/proc_status.h tests/kernel/edu_find.h tests/tap.h
tests_kernel_ktest_lib_contract_LDADD = $(TEST_LIBS) $(PTHREAD_LIBS)
# libsva(7), One libsva per process: dlopen()s the built libsva.so.1 (it links
# no libsva of its own), unloads it, loads a second copy by another path.
# check-vm packs libsva/.libs/libsva.so.1 beside it.
tests_kernel_ktest_dlclose_SOURCES = tests/kernel/ktest-dlclose.c tests/kernel/ktest_proc.h tests/proc_status.h tests/tap.h
tests_kernel_ktest_dlclose_LDADD = $(PTHREAD_LIBS)
EXTRA_tests_kernel_ktest_dlclose_DEPENDENCIES = libsva/libsva.la
# ktest-demo's LD_PRELOAD helper, packed into the VM as /tests/occupy-preload.so.
# Its own flags, without the sanitizers': it runs before the program's runtime
# is set up (the file says why).
check_LTLIBRARIES += tests/kernel/occupy-preload.la
tests_kernel_occupy_preload_la_SOURCES = tests/kernel/occupy-preload.c
tests_kernel_occupy_preload_la_CFLAGS = -std=gnu11 $(WARN_CFLAGS)
tests_kernel_occupy_preload_la_LDFLAGS = -module -avoid-version -shared -rpath /nowhere
tests_kernel_ktest_doctor_SOURCES = tests/kernel/ktest-doctor.c tests/kernel/ktest.h tests/kernel/uffd_refuse.h tests/tap.h
tests_kernel_ktest_doctor_LDADD = $(TEST_LIBS)
# sva-info, sva-demo and sva-bench as their pages say, on a real iommufd; json-c reads their --json.
tests_kernel_ktest_tools_SOURCES = tests/kernel/ktest-tools.c tests/kernel/ktest.h tests/kernel/ktest_proc.h tests/proc_status.h tests/tap.h
tests_kernel_ktest_tools_CFLAGS = $(AM_CFLAGS) $(JSON_C_CFLAGS)
tests_kernel_ktest_tools_LDADD = $(TEST_LIBS) $(JSON_C_LIBS)
tests_kernel_ktest_pasid_contract_SOURCES = tests/kernel/ktest-pasid-contract.c tests/kernel/ktest.h tests/kernel/ktest_proc.h tests/proc_status.h tests/tap.h
tests_kernel_ktest_pasid_contract_LDADD = $(TEST_LIBS)
tests_kernel_ktest_pasid_share_SOURCES = tests/kernel/ktest-pasid-share.c tests/kernel/ktest.h tests/kernel/ktest_proc.h tests/proc_status.h tests/tap.h
tests_kernel_ktest_pasid_share_LDADD = $(TEST_LIBS) $(PTHREAD_LIBS)
# Lookups racing unbind/rebind: under --enable-sanitizers (the asan and tsan tiers) too.
tests_kernel_ktest_pasid_race_SOURCES = tests/kernel/ktest-pasid-race.c tests/kernel/ktest.h tests/kernel/ktest_proc.h tests/proc_status.h tests/tap.h
tests_kernel_ktest_pasid_race_LDADD = $(TEST_LIBS) $(PTHREAD_LIBS)
# Teardown that cannot hang (alarm()), with threads: under the sanitizer tiers too.
tests_kernel_ktest_teardown_SOURCES = tests/kernel/ktest-teardown.c tests/kernel/ktest.h tests/busy_window.h tests/tap.h
tests_kernel_ktest_teardown_LDADD = $(TEST_LIBS) $(PTHREAD_LIBS)
tests_kernel_ktest_upgrade_SOURCES = tests/kernel/ktest-upgrade.c tests/kernel/ktest.h tests/kernel/ktest_proc.h tests/proc_status.h tests/tap.h
tests_kernel_ktest_upgrade_LDADD = $(TEST_LIBS)
tests_kernel_ktest_fault_thread_SOURCES = tests/kernel/ktest-fault-thread.c tests/kernel/ktest.h tests/kernel/ktest_proc.h tests/proc_status.h tests/tap.h
tests_kernel_ktest_fault_thread_LDADD = $(TEST_LIBS) $(PTHREAD_LIBS)
tests_kernel_ktest_window_SOURCES = tests/kernel/ktest-window.c tests/kernel/ktest.h tests/kernel/ktest_proc.h tests/proc_status.h tests/tap.h
tests_kernel_ktest_window_LDADD = $(TEST_LIBS)
tests_kernel_ktest_fail_nth_SOURCES = tests/kernel/ktest-fail-nth.c tests/kernel/ktest.h tests/kernel/ktest_proc.h tests/proc_status.h tests/tap.h
tests_kernel_ktest_fail_nth_LDADD = $(TEST_LIBS)
# Eviction racing invalidation and unbind, with threads: under the sanitizer tiers too.
tests_kernel_ktest_pin_budget_SOURCES = tests/kernel/ktest-pin-budget.c tests/kernel/ktest.h tests/kernel/ktest_proc.h tests/proc_status.h tests/tap.h
tests_kernel_ktest_pin_budget_LDADD = $(TEST_LIBS) $(PTHREAD_LIBS)
# A fault storm against unbinds (threads): under the sanitizer tiers too.
tests_kernel_ktest_storm_SOURCES = tests/kernel/ktest-storm.c tests/kernel/ktest.h tests/kernel/ktest_proc.h tests/proc_status.h tests/tap.h
tests_kernel_ktest_storm_LDADD = $(TEST_LIBS) $(PTHREAD_LIBS)
# secure_getenv: a set-group-ID copy of the helper, in the VM (which packs it).
tests_kernel_ktest_secure_env_SOURCES = tests/kernel/ktest-secure-env.c tests/kernel/ktest.h tests/kernel/ktest_proc.h tests/proc_status.h tests/tap.h
tests_kernel_ktest_secure_env_LDADD = $(TEST_LIBS)
# Its RPATH (not RUNPATH: it must cover indirect libraries, libasan's libm) is
# where the VM keeps the libraries: secure mode ignores LD_LIBRARY_PATH.
tests_kernel_sva_env_helper_SOURCES = tests/kernel/sva-env-helper.c
tests_kernel_sva_env_helper_LDADD = $(TEST_LIBS)
tests_kernel_sva_env_helper_LDFLAGS = -Wl,--disable-new-dtags,-rpath,/lib/sva
# The fault-record fuzzer: its seeds (tests/fuzz/corpus/fault) go into the
# binary, since the VM carries binaries only.
FAULT_CORPUS = \
	tests/fuzz/corpus/fault/groups \
	tests/fuzz/corpus/fault/hole-ro \
	tests/fuzz/corpus/fault/kernel-wrap \
	tests/fuzz/corpus/fault/never-closed \
	tests/fuzz/corpus/fault/same-bad \
	tests/fuzz/corpus/fault/unknown
tests_kernel_ktest_fault_fuzz_SOURCES = tests/kernel/ktest-fault-fuzz.c tests/kernel/ktest.h tests/kernel/ktest_proc.h tests/proc_status.h tests/tap.h
nodist_tests_kernel_ktest_fault_fuzz_SOURCES = tests/kernel/fault-corpus.h
tests_kernel_ktest_fault_fuzz_LDADD = $(TEST_LIBS)
BUILT_SOURCES = tests/kernel/fault-corpus.h
tests/kernel/ktest-fault-fuzz.$(OBJEXT): tests/kernel/fault-corpus.h
CLEANFILES += tests/kernel/fault-corpus.h
EXTRA_DIST += tests/fuzz/embed-corpus.sh $(FAULT_CORPUS)
tests/kernel/fault-corpus.h: $(FAULT_CORPUS) tests/fuzz/embed-corpus.sh
	$(AM_V_GEN)$(MKDIR_P) tests/kernel && \
	$(SHELL) $(top_srcdir)/tests/fuzz/embed-corpus.sh $(FAULT_CORPUS:%=$(top_srcdir)/%) > $@.tmp && mv $@.tmp $@
# sva-brokerd and three client processes (the broker's sources linked in).
tests_kernel_ktest_broker_SOURCES = tests/kernel/ktest-broker.c $(BROKER_SOURCES) tests/kernel/ktest.h tests/kernel/ktest_broker.h \
	tests/tap.h
tests_kernel_ktest_broker_LDADD = $(TEST_LIBS)
# The broker lending edu (no PASIDs) to one client at a time, with real DMA.
tests_kernel_ktest_broker_edu_SOURCES = tests/kernel/ktest-broker-edu.c $(BROKER_SOURCES) tests/kernel/ktest.h \
	tests/kernel/ktest_edu.h tests/kernel/ktest_broker.h tests/kernel/edu_find.h tests/tap.h
tests_kernel_ktest_broker_edu_LDADD = $(TEST_LIBS)
# The PASID pages' broker paragraphs, as a user reads them.
tests_kernel_ktest_pasid_contract_broker_SOURCES = tests/kernel/ktest-pasid-contract-broker.c $(BROKER_SOURCES) \
	tests/kernel/ktest.h tests/kernel/ktest_broker.h tests/tap.h
tests_kernel_ktest_pasid_contract_broker_LDADD = $(TEST_LIBS)
# Per-device PASIDs through the broker, and the mm-exit program (which is
# this binary again, run by the broker with five arguments).
tests_kernel_ktest_broker_dev_SOURCES = tests/kernel/ktest-broker-dev.c $(BROKER_SOURCES) tests/kernel/ktest.h \
	tests/kernel/ktest_broker.h tests/tap.h
tests_kernel_ktest_broker_dev_LDADD = $(TEST_LIBS)
include tests/kernel/mem.mk
# What a device can reach: the library's memory never, restricted address spaces.
tests_kernel_ktest_containment_SOURCES = tests/kernel/ktest-containment.c tests/kernel/ktest.h tests/kernel/ktest_proc.h tests/proc_status.h tests/tap.h
tests_kernel_ktest_containment_LDADD = $(TEST_LIBS) $(PTHREAD_LIBS)
# sva-brokerd(8) against the binary itself (packed as /tests/sva-brokerd):
# -s, the socket's mode, group and directory, the lock, signals, allowlist.
tests_kernel_ktest_brokerd_bin_SOURCES = tests/kernel/ktest-brokerd-bin.c tests/kernel/ktest.h tests/tap.h
tests_kernel_ktest_brokerd_bin_LDADD = $(TEST_LIBS)
