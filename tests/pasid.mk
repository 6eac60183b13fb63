# PASID spaces (included from tests/local.mk): unit tests, a concurrency stress
# test (meant for --enable-sanitizers=thread too), a replay of the fuzz target's
# corpus, and the libFuzzer target itself when clang allows.

pasid_tests = \
	tests/unit/test-lock \
	tests/unit/test-lock-symmetric \
	tests/unit/test-pasid-space \
	tests/unit/test-pasid-quarantine \
	tests/unit/test-pasid-exhaust \
	tests/unit/test-pasid-policy \
	tests/unit/test-bind-pasid \
	tests/unit/test-bind-contract \
	tests/unit/test-bind-fork \
	tests/unit/test-log-fork \
	tests/unit/test-push-fork \
	tests/unit/test-log-guard \
	tests/unit/test-fault-fini-cancel \
	tests/unit/test-unbind-close \
	tests/unit/test-ctx-fork-exit \
	tests/unit/test-pasid-map \
	tests/stress/stress-pasid \
	tests/stress/stress-bind-fork \
	tests/stress/stress-pasid-free \
	tests/fuzz/fuzz-replay-pasid
check_PROGRAMS += $(pasid_tests)
TESTS += $(pasid_tests)

# The allocator's lock, in the mode this machine allows and forced symmetric.
tests_unit_test_lock_SOURCES = tests/unit/test-lock.c tests/tap.h
tests_unit_test_lock_LDADD = $(TEST_LIBS) $(PTHREAD_LIBS)
tests_unit_test_lock_symmetric_SOURCES = tests/unit/test-lock.c tests/tap.h
tests_unit_test_lock_symmetric_CPPFLAGS = $(AM_CPPFLAGS) -DFORCE_SYMMETRIC
tests_unit_test_lock_symmetric_LDADD = $(TEST_LIBS) $(PTHREAD_LIBS)
tests_unit_test_pasid_space_SOURCES = tests/unit/test-pasid-space.c tests/busy_window.h tests/tap.h
tests_unit_test_pasid_space_LDADD = $(TEST_LIBS) $(PTHREAD_LIBS)
tests_unit_test_pasid_quarantine_SOURCES = tests/unit/test-pasid-quarantine.c tests/tap.h
tests_unit_test_pasid_quarantine_LDADD = $(TEST_LIBS)
tests_unit_test_pasid_exhaust_SOURCES = tests/unit/test-pasid-exhaust.c tests/tap.h
tests_unit_test_pasid_exhaust_LDADD = $(TEST_LIBS)
tests_unit_test_pasid_policy_SOURCES = tests/unit/test-pasid-policy.c tests/tap.h
tests_unit_test_pasid_policy_LDADD = $(TEST_LIBS) $(PTHREAD_LIBS)
tests_unit_test_bind_pasid_SOURCES = tests/unit/test-bind-pasid.c tests/unit/fake_ioctl.h tests/unit/fake_bind_objects.h tests/tap.h
tests_unit_test_bind_pasid_LDADD = $(TEST_LIBS) $(PTHREAD_LIBS)
tests_unit_test_bind_contract_SOURCES = tests/unit/test-bind-contract.c tests/unit/fake_ioctl.h tests/unit/fake_bind_objects.h tests/tap.h
tests_unit_test_bind_contract_LDADD = $(TEST_LIBS) $(PTHREAD_LIBS)
tests_unit_test_bind_fork_SOURCES = tests/unit/test-bind-fork.c tests/unit/fake_ioctl.h tests/unit/fake_bind_objects.h tests/unit/fake_fork_ctx.h tests/tap.h
tests_unit_test_bind_fork_LDADD = $(TEST_LIBS) $(PTHREAD_LIBS)
# A log callback that takes a lock the forking thread holds across fork().
tests_unit_test_log_fork_SOURCES = tests/unit/test-log-fork.c tests/unit/fake_ioctl.h tests/unit/fake_bind_objects.h tests/unit/fake_noop_kernel.h tests/tap.h
tests_unit_test_log_fork_LDADD = $(TEST_LIBS) $(PTHREAD_LIBS)
# A fork while a bind pushes onto mm->hwpts or mm->bonds.
tests_unit_test_push_fork_SOURCES = tests/unit/test-push-fork.c tests/unit/fake_ioctl.h tests/unit/fake_bind_objects.h tests/unit/fake_noop_kernel.h tests/unit/fake_fork_ctx.h tests/tap.h
tests_unit_test_push_fork_LDADD = $(TEST_LIBS) $(PTHREAD_LIBS)
# A signal handler's log line inside a fork-guard section: after the section.
tests_unit_test_log_guard_SOURCES = tests/unit/test-log-guard.c tests/unit/fake_ioctl.h tests/unit/fake_bind_objects.h tests/unit/fake_noop_kernel.h tests/tap.h
tests_unit_test_log_guard_LDADD = $(TEST_LIBS) $(PTHREAD_LIBS)
# A thread cancelled inside sva_fault_fini()'s fork-guard section.
tests_unit_test_fault_fini_cancel_SOURCES = tests/unit/test-fault-fini-cancel.c tests/tap.h
tests_unit_test_fault_fini_cancel_LDADD = $(TEST_LIBS) $(PTHREAD_LIBS)
# An unbind whose last step lets a waiting sva_dev_close/mm_free/ctx_free free
# what it releases: nothing of it is read afterwards.
tests_unit_test_unbind_close_SOURCES = tests/unit/test-unbind-close.c tests/unit/fake_ioctl.h tests/unit/fake_bind_objects.h tests/unit/fake_noop_kernel.h tests/tap.h
tests_unit_test_unbind_close_LDADD = $(TEST_LIBS) $(PTHREAD_LIBS)
# exit() or an unbind during a bind; a signal on the forking thread inside the
# fork handler.
tests_unit_test_ctx_fork_exit_SOURCES = tests/unit/test-ctx-fork-exit.c tests/unit/fake_ioctl.h tests/unit/fake_bind_objects.h tests/proc_status.h tests/tap.h
tests_unit_test_ctx_fork_exit_LDADD = $(TEST_LIBS) $(PTHREAD_LIBS)
tests_unit_test_pasid_map_SOURCES = tests/unit/test-pasid-map.c tests/busy_window.h tests/tap.h
tests_unit_test_pasid_map_LDADD = $(TEST_LIBS) $(PTHREAD_LIBS)
tests_stress_stress_pasid_SOURCES = tests/stress/stress-pasid.c tests/tap.h
tests_stress_stress_pasid_LDADD = $(TEST_LIBS) $(PTHREAD_LIBS)
tests_stress_stress_bind_fork_SOURCES = tests/stress/stress-bind-fork.c tests/unit/fake_ioctl.h tests/unit/fake_bind_objects.h tests/unit/fake_fork_ctx.h tests/tap.h
tests_stress_stress_bind_fork_LDADD = $(TEST_LIBS) $(PTHREAD_LIBS)
tests_stress_stress_pasid_free_SOURCES = tests/stress/stress-pasid-free.c tests/unit/fake_bind_objects.h tests/tap.h
tests_stress_stress_pasid_free_LDADD = $(TEST_LIBS) $(PTHREAD_LIBS)
# The fuzz target driven by a plain main(): corpus files + fixed random inputs.
tests_fuzz_fuzz_replay_pasid_SOURCES = tests/fuzz/fuzz-replay.c tests/fuzz/fuzz-pasid.c tests/tap.h
tests_fuzz_fuzz_replay_pasid_LDADD = $(TEST_LIBS)

if HAVE_FUZZER
# Built from the sources, not the libtool library, so that every object gets
# the fuzzer's instrumentation and these sanitizers whatever --enable-sanitizers
# says (per-target flags replace AM_CFLAGS/AM_LDFLAGS).  Run it with
# tests/fuzz/run-fuzz.sh SECONDS.  SVA_TEST_HOOKS: as libsva-test, the calls only tests use.
noinst_PROGRAMS += tests/fuzz/fuzz-pasid
tests_fuzz_fuzz_pasid_SOURCES = tests/fuzz/fuzz-pasid.c libsva/pasid_space.c libsva/arena.c libsva/lock.c libsva/log.c \
	libsva/fork_guard.c libsva/fork.c libsva/callback.c \
	libsva/test_fail.c
tests_fuzz_fuzz_pasid_CPPFLAGS = $(AM_CPPFLAGS) -DSVA_TEST_HOOKS
tests_fuzz_fuzz_pasid_CFLAGS = -std=gnu11 $(WARN_CFLAGS) $(PTHREAD_CFLAGS) -g -O1 \
	-fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
tests_fuzz_fuzz_pasid_LDFLAGS = -fsanitize=fuzzer,address,undefined
tests_fuzz_fuzz_pasid_LDADD = $(PTHREAD_LIBS)
endif

EXTRA_DIST += \
	tests/fuzz/run-fuzz.sh \
	tests/fuzz/corpus/pasid/allow-zero \
	tests/fuzz/corpus/pasid/exhaust-small \
	tests/fuzz/corpus/pasid/owners \
	tests/fuzz/corpus/pasid/set-range \
	tests/fuzz/corpus/pasid/stages \
	tests/fuzz/corpus/pasid/tombstone-compaction \
	tests/fuzz/corpus/pasid/unalloc-retire \
	tests/fuzz/corpus/pasid/top-of-range
