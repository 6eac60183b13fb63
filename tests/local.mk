# Tests.  Unit tests need no kernel; kernel tests run natively only where
# /dev/iommu is usable, and in the QEMU VM through `make check-vm`.
TEST_LIBS = libsva/libsva-test.la
include tests/unit/local.mk
include tests/abi/local.mk
include tests/pasid.mk
include tests/kernel/local.mk
include tests/vm/local.mk
