# bench-fault: the fault engine against a minimal baseline, in the test VM.
#   make bench-vm      runs sva-bench (every benchmark) on the mock topology
noinst_PROGRAMS += tests/bench/bench-fault
tests_bench_bench_fault_SOURCES = tests/bench/bench-fault.c tests/kernel/ktest.h tests/tap.h
tests_bench_bench_fault_LDADD = $(TEST_LIBS)

bench-vm: tools/sva-bench
	@kernel=`$(SHELL) $(top_srcdir)/tests/vm/build-kernel.sh` || exit 1; \
	$(MKDIR_P) $(top_builddir)/test-results/bench || exit 1; \
	$(SHELL) $(top_srcdir)/tests/vm/run-vm.sh --topology mock --raw --timeout 900 \
	  --logdir $(top_builddir)/test-results/bench --kernel "$$kernel" -- tools/sva-bench >/dev/null; \
	rc=$$?; cat $(top_builddir)/test-results/bench/sva-bench-mock.log; exit $$rc
.PHONY: bench-vm
