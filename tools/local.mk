# Command-line tools, each in its own folder of small files.

# sva-info: the VFIO cdev devices of the machine and what libsva sees of them
# (tools/info/sva-info.h names the job of each file).  It uses the public API,
# plus libsva-common for the PCI address and sysfs helpers the library has too.
bin_PROGRAMS += tools/sva-info
tools_sva_info_SOURCES = \
	tools/info/sva-info.h \
	tools/stdout_done.h \
	tools/option_error.h \
	tools/utf8.h \
	tools/number.h \
	tools/info/main.c \
	tools/info/hints.c \
	tools/info/devices.c \
	tools/info/text.c \
	tools/info/json.c \
	tools/info/cdi.c \
	tools/info/doctor.h \
	tools/info/doctor.c \
	tools/info/check_kernel.c \
	tools/info/check_iommu.c \
	tools/info/check_devices.c \
	tools/info/check_pci.c \
	tools/info/check_limits.c \
	tools/info/check_uffd.c \
	libsva/uffd_open.h
tools_sva_info_CFLAGS = $(AM_CFLAGS) $(JSON_C_CFLAGS) $(ZLIB_CFLAGS)
tools_sva_info_LDADD = libsva/libsva.la libsva/libsva-common.la $(JSON_C_LIBS) $(ZLIB_LIBS)

# Its test drives the built binary against a fake sysfs tree; cdi-validate
# checks --cdi's output against the CDI schema's required fields.
TESTS += tests/unit/test-sva-info.sh
check_PROGRAMS += tests/unit/cdi-validate
tests_unit_cdi_validate_SOURCES = tests/unit/cdi-validate.c
tests_unit_cdi_validate_CFLAGS = $(AM_CFLAGS) $(JSON_C_CFLAGS)
tests_unit_cdi_validate_LDADD = $(JSON_C_LIBS)
EXTRA_DIST += tests/unit/test-sva-info.sh

# sva-demo: the main job, told in plain words (tools/demo.sh runs it in the VM).
bin_PROGRAMS += tools/sva-demo
tools_sva_demo_SOURCES = tools/sva-demo.c tools/stdout_done.h tools/option_error.h tools/number.h
tools_sva_demo_LDADD = libsva/libsva.la
TESTS += tests/unit/test-sva-demo.sh
EXTRA_DIST += tests/unit/test-sva-demo.sh
# The four tools' usage errors as their pages word them, the hint last.
TESTS += tests/unit/test-usage-lines.sh
EXTRA_DIST += tests/unit/test-usage-lines.sh
TESTS += tests/unit/test-top-scripts.sh
EXTRA_DIST += tests/unit/test-top-scripts.sh

# The README's two commands.
EXTRA_DIST += tools/test-all.sh tools/demo.sh tools/install-deps.sh .ci/run

# sva-bench: every benchmark, each with its baseline and the ratio.
include tools/bench/local.mk
include tools/broker/local.mk
