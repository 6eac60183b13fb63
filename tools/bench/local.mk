# sva-bench: every benchmark, each with its baseline and the ratio.  The
# benchmarks measure libsva's internals, so it links the library's objects
# (libsva-internal: what ships, without the tests' hooks).
bin_PROGRAMS += tools/sva-bench
tools_sva_bench_SOURCES = tools/bench/main.c tools/bench/bench.h tools/stdout_done.h tools/option_error.h tools/number.h tools/utf8.h tools/bench/bench-pasid.c \
	tools/bench/bench-fault.c tools/bench/bench-coherence.c tools/bench/bench-budget.c
tools_sva_bench_CPPFLAGS = $(AM_CPPFLAGS) -DSVA_BENCH_LIBRARY
# json-c makes each benchmark's --json report and reads the two runs of
# --compare.
tools_sva_bench_CFLAGS = $(AM_CFLAGS) $(JSON_C_CFLAGS)
tools_sva_bench_LDADD = libsva/libsva-internal.la $(PTHREAD_LIBS) $(JSON_C_LIBS)
TESTS += tests/unit/test-sva-bench.sh
EXTRA_DIST += tests/unit/test-sva-bench.sh

# Each benchmark alone, with its own options (--json, --rounds N); `make`
# builds them, nothing installs them.  Their --json is json-c's, as sva-bench's.
noinst_PROGRAMS += tools/bench/bench-pasid tools/bench/bench-fault tools/bench/bench-coherence \
	tools/bench/bench-budget
tools_bench_bench_pasid_SOURCES = tools/bench/bench-pasid.c tools/bench/bench.h tools/option_error.h
tools_bench_bench_pasid_CFLAGS = $(AM_CFLAGS) $(JSON_C_CFLAGS)
tools_bench_bench_pasid_LDADD = libsva/libsva-internal.la $(PTHREAD_LIBS) $(JSON_C_LIBS)
tools_bench_bench_fault_SOURCES = tools/bench/bench-fault.c tools/bench/bench.h tools/option_error.h
tools_bench_bench_fault_CFLAGS = $(AM_CFLAGS) $(JSON_C_CFLAGS)
tools_bench_bench_fault_LDADD = libsva/libsva-internal.la $(JSON_C_LIBS)
tools_bench_bench_coherence_SOURCES = tools/bench/bench-coherence.c tools/bench/bench.h tools/option_error.h
tools_bench_bench_coherence_CFLAGS = $(AM_CFLAGS) $(JSON_C_CFLAGS)
tools_bench_bench_coherence_LDADD = libsva/libsva-internal.la $(PTHREAD_LIBS) $(JSON_C_LIBS)
tools_bench_bench_budget_SOURCES = tools/bench/bench-budget.c tools/bench/bench.h tools/option_error.h
tools_bench_bench_budget_CFLAGS = $(AM_CFLAGS) $(JSON_C_CFLAGS)
tools_bench_bench_budget_LDADD = libsva/libsva-internal.la $(PTHREAD_LIBS) $(JSON_C_LIBS)

# What make bench-vm runs in the VM (whose programs take no arguments): two
# runs of sva-bench --json back to back, then --compare of their verdicts.
noinst_PROGRAMS += tools/bench/bench-twice
tools_bench_bench_twice_SOURCES = tools/bench/bench-twice.c

# make bench-vm: sva-bench (every benchmark) twice in the test VM, on the mock
# topology, and whether the two runs agree on every target's verdict (issue
# 14); each run's JSON is kept as test-results/bench/run1.json and run2.json.
bench-vm: tools/sva-bench tools/bench/bench-twice
	@kernel=`$(SHELL) $(top_srcdir)/tests/vm/build-kernel.sh` || exit 1; \
	dir=$(top_builddir)/test-results/bench; \
	$(MKDIR_P) $$dir || exit 1; \
	$(SHELL) $(top_srcdir)/tests/vm/run-vm.sh --topology mock --raw --timeout 1800 \
	  --logdir $$dir --kernel "$$kernel" -- tools/bench/bench-twice +tools/sva-bench >/dev/null; \
	rc=$$?; log=$$dir/bench-twice-mock.log; \
	for k in 1 2; do \
	  tr -d '\r' < $$log | sed -n "/^--- run $$k: /,/^--- end of run $$k: /p" | sed '1d;$$d' > $$dir/run$$k.json; \
	done; \
	cat $$log; exit $$rc
.PHONY: bench-vm
