# sva-bench: every benchmark, each with its baseline and the ratio.  The
# benchmarks measure libsva's internals, so it links the library's objects
# (libsva-internal: what ships, without the tests' hooks).
bin_PROGRAMS += tools/sva-bench
tools_sva_bench_SOURCES = tools/bench/main.c tools/bench/bench.h tools/stdout_done.h tools/bench/bench-pasid.c \
	tools/bench/bench-fault.c tools/bench/bench-coherence.c tools/bench/bench-budget.c
tools_sva_bench_CPPFLAGS = $(AM_CPPFLAGS) -DSVA_BENCH_LIBRARY
tools_sva_bench_LDADD = libsva/libsva-internal.la $(PTHREAD_LIBS)
TESTS += tests/unit/test-sva-bench.sh
EXTRA_DIST += tests/unit/test-sva-bench.sh

# Each benchmark alone, with its own options (bench-pasid and bench-fault --rounds N); `make`
# builds them, nothing installs them.
noinst_PROGRAMS += tools/bench/bench-pasid tools/bench/bench-fault tools/bench/bench-coherence \
	tools/bench/bench-budget
tools_bench_bench_pasid_SOURCES = tools/bench/bench-pasid.c tools/bench/bench.h
tools_bench_bench_pasid_LDADD = libsva/libsva-internal.la $(PTHREAD_LIBS)
tools_bench_bench_fault_SOURCES = tools/bench/bench-fault.c tools/bench/bench.h
tools_bench_bench_fault_LDADD = libsva/libsva-internal.la
tools_bench_bench_coherence_SOURCES = tools/bench/bench-coherence.c tools/bench/bench.h
tools_bench_bench_coherence_LDADD = libsva/libsva-internal.la $(PTHREAD_LIBS)
tools_bench_bench_budget_SOURCES = tools/bench/bench-budget.c tools/bench/bench.h
tools_bench_bench_budget_LDADD = libsva/libsva-internal.la $(PTHREAD_LIBS)

# make bench-vm: sva-bench (every benchmark) in the test VM, on the mock topology.
bench-vm: tools/sva-bench
	@kernel=`$(SHELL) $(top_srcdir)/tests/vm/build-kernel.sh` || exit 1; \
	$(MKDIR_P) $(top_builddir)/test-results/bench || exit 1; \
	$(SHELL) $(top_srcdir)/tests/vm/run-vm.sh --topology mock --raw --timeout 900 \
	  --logdir $(top_builddir)/test-results/bench --kernel "$$kernel" -- tools/sva-bench >/dev/null; \
	rc=$$?; cat $(top_builddir)/test-results/bench/sva-bench-mock.log; exit $$rc
.PHONY: bench-vm
