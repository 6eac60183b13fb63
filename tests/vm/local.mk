# tests/vm: the QEMU test VM that runs the kernel tests (KERNEL_TESTS, defined
# by tests/kernel/local.mk) against a real Linux 7.x kernel with iommufd, the
# iommufd selftest mock device, emulated VT-d and QEMU's edu PCI device.
#
#   make check-vm          kernel (built once, cached), then every topology
#   make vm-kernel         only fetch/build the kernel; prints its path
#
# Settings, as make arguments or environment variables:
#   SVA_VM_TOPOLOGIES="mock vtd39 vtd48-numa numa-memless"   which topologies
#                           (that default; numa-memless runs ktest-mem only)
#   SVA_VM_TIMEOUT=900      seconds per topology before QEMU is killed (a cap:
#                           the slowest topology takes under 300 s)
#   SVA_VM_TEST_TIMEOUT=240 seconds with no test beginning or ending before
#                           QEMU is killed, the hung test named
#   SVA_VM_KERNEL=FILE      use this bzImage, fetch and build nothing
#   SVA_VM_HUGEPAGES=N      2 MiB huge pages reserved in the guest (default 8,
#                           so the hugetlb paths are tested; 0 tests their absence)
#   SVA_VM_APPEND="..."     extra kernel parameters (debugging: loglevel=7)
#   SVA_VM_JOBS=N           make -jN for the kernel build (default nproc + 1)
# Results: test-results/vm/TEST-TOPOLOGY.log (plain TAP, one per test binary and
# topology), vm-boot-TOPOLOGY.log (the VM itself, one TAP result; vm-kernel.log
# instead when the kernel could not be built) and
# console-TOPOLOGY.log (the raw serial console: NOT TAP, it repeats the tests'
# lines; leave it out of any count).  The last line is the total,
# "check-vm: N passed, N failed, N skipped".
#
# Not part of `make check`: this downloads Debian's linux-source package and
# boots QEMU.  Needs qemu-system-x86 and busybox-static, plus the kernel build
# dependencies (flex bison bc libelf-dev libssl-dev cpio) unless the kernel is
# cached or given.  The scripts are POSIX sh.
VM_HARNESS_FILES = \
	tests/vm/build-kernel.sh \
	tests/vm/mkinitramfs.sh \
	tests/vm/private-apt.sh \
	tests/vm/run-vm.sh \
	tests/vm/tap-summary.sh
EXTRA_DIST += $(VM_HARNESS_FILES) tests/vm/kernel.config tests/vm/README.md

VM_LOGDIR = $(top_builddir)/test-results/vm

vm-kernel:
	@$(SHELL) $(top_srcdir)/tests/vm/build-kernel.sh

check-vm: $(KERNEL_TESTS) tools/sva-demo tools/sva-info tools/sva-brokerd tools/sva-bench tools/bench/bench-fault tests/kernel/sva-env-helper \
	  tests/kernel/occupy-preload.la libsva/libsva.la
	@if test -z "`echo $(KERNEL_TESTS)`"; then \
	  echo "check-vm: no kernel tests (KERNEL_TESTS, from tests/kernel/local.mk, is empty)" >&2; \
	  exit 1; \
	fi; \
	rm -rf $(VM_LOGDIR) && $(MKDIR_P) $(VM_LOGDIR) || exit 1; \
	kernel=`$(SHELL) $(top_srcdir)/tests/vm/build-kernel.sh` || { \
	  printf '1..1\nnot ok 1 - the test kernel (tests/vm/build-kernel.sh failed)\n' \
	    > $(VM_LOGDIR)/vm-kernel.log; \
	  exit 1; \
	}; \
	rc=0; \
	for topology in $${SVA_VM_TOPOLOGIES:-mock vtd39 vtd48-numa numa-memless}; do \
	  echo "check-vm: topology $$topology"; \
	  tests="$(KERNEL_TESTS) +tools/sva-info +tools/bench/bench-fault +tests/kernel/sva-env-helper \
	    +tools/sva-demo +tools/sva-bench +tools/sva-brokerd +tests/kernel/.libs/occupy-preload.so \
	    +libsva/.libs/libsva.so.1"; \
	  case $$topology in numa-memless) tests=tests/kernel/ktest-mem ;; esac; \
	  $(SHELL) $(top_srcdir)/tests/vm/run-vm.sh --topology $$topology \
	    --logdir $(VM_LOGDIR) --kernel "$$kernel" --hugepages $${SVA_VM_HUGEPAGES:-8} \
	    -- $$tests || rc=1; \
	done; \
	echo "check-vm: the main job (sva-demo, not TAP: its exit status decides)"; \
	$(SHELL) $(top_srcdir)/tests/vm/run-vm.sh --topology vtd48-numa --raw \
	  --logdir $(VM_LOGDIR)/demo --kernel "$$kernel" -- tools/sva-demo || rc=1; \
	$(SHELL) $(top_srcdir)/tests/vm/tap-summary.sh --label check-vm $(VM_LOGDIR)/*.log $(VM_LOGDIR)/demo/*.log; \
	exit $$rc

.PHONY: check-vm vm-kernel
