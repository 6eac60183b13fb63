# The project's kernel ABI against the newest uAPI headers configure was given.
check_PROGRAMS += tests/abi/check-kabi
TESTS += tests/abi/check-kabi
tests_abi_check_kabi_SOURCES = tests/abi/check-kabi.c tests/tap.h
tests_abi_check_kabi_CPPFLAGS = $(UAPI_CPPFLAGS) $(AM_CPPFLAGS)
