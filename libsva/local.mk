# libsva itself.  Three convenience libraries:
#   libsva-common    non-API code the tools share with the library (common.h)
#   libsva-internal  every object of the installed library, which wraps it with
#                    the version script
#   libsva-test      the same sources built with SVA_TEST_HOOKS, for the tests:
#                    the hooks and calls only tests use stay out of what ships
noinst_LTLIBRARIES += libsva/libsva-common.la
libsva_libsva_common_la_SOURCES = \
	libsva/common.h \
	libsva/pci_addr.c \
	libsva/sysfs_attr.c
libsva_libsva_common_la_CFLAGS = $(AM_CFLAGS) -fvisibility=hidden

LIBSVA_SOURCES = \
	libsva/internal.h \
	libsva/kabi.h \
	libsva/kabi_selftest.h \
	libsva/lock.h \
	libsva/sigblock.h \
	libsva/test_fail.h \
	libsva/lock.c \
	libsva/file_id.c \
	libsva/fork.h \
	libsva/fork.c \
	libsva/fork_guard.h \
	libsva/fork_guard.c \
	libsva/arena.h \
	libsva/arena.c \
	libsva/reach.h \
	libsva/reach.c \
	libsva/log.c \
	libsva/opts.c \
	libsva/sysfs.c \
	libsva/iommufd.c \
	libsva/ctx_ref.c \
	libsva/ctx.c \
	libsva/dev.c \
	libsva/backend_vfio.c \
	libsva/backend_mock.c \
	libsva/vma.c \
	libsva/vma_query.c \
	libsva/chunks.h \
	libsva/chunks.c \
	libsva/withdraw.h \
	libsva/withdraw.c \
	libsva/pin_budget.h \
	libsva/pin_account.c \
	libsva/pin_budget.c \
	libsva/track.h \
	libsva/uffd_open.h \
	libsva/track.c \
	libsva/callback.h \
	libsva/callback.c \
	libsva/teardown.h \
	libsva/teardown.c \
	libsva/mm.c \
	libsva/mm_map.c \
	libsva/bond.c \
	libsva/fault.c \
	libsva/fault_resolve.c \
	libsva/upgrade.c \
	libsva/window.c \
	libsva/fault_window.h \
	libsva/fault_window.c \
	libsva/fault_thread.c \
	libsva/fault_queue.c \
	libsva/mem.c \
	libsva/mem_window.h \
	libsva/mem_window.c \
	libsva/pasid_space.h \
	libsva/pasid_space.c \
	libsva/pasid_policy.c \
	libsva/pasid_map.h \
	libsva/pasid_map.c \
	libsva/bond_pasid.c \
	libsva/broker_proto.h \
	libsva/broker_proto.c \
	libsva/broker_client.h \
	libsva/broker_conn.c \
	libsva/broker_client.c \
	libsva/broker_proxy.c \
	libsva/broker_share.h \
	libsva/broker_share.c
LIBSVA_CFLAGS = $(AM_CFLAGS) -fvisibility=hidden $(LIBURING_CFLAGS) $(LIBNUMA_CFLAGS)
LIBSVA_LIBADD = libsva/libsva-common.la $(LIBURING_LIBS) $(LIBNUMA_LIBS) $(PTHREAD_LIBS)

noinst_LTLIBRARIES += libsva/libsva-internal.la
libsva_libsva_internal_la_SOURCES = $(LIBSVA_SOURCES)
libsva_libsva_internal_la_CFLAGS = $(LIBSVA_CFLAGS)
libsva_libsva_internal_la_LIBADD = $(LIBSVA_LIBADD)

# Only the tests link it (TEST_LIBS), so only `make check` (or a test target
# named on the command line) builds it: `make` compiles the library once.
check_LTLIBRARIES += libsva/libsva-test.la
libsva_libsva_test_la_SOURCES = $(LIBSVA_SOURCES) libsva/test_fail.c
libsva_libsva_test_la_CPPFLAGS = $(AM_CPPFLAGS) -DSVA_TEST_HOOKS
libsva_libsva_test_la_CFLAGS = $(LIBSVA_CFLAGS)
libsva_libsva_test_la_LIBADD = $(LIBSVA_LIBADD)

lib_LTLIBRARIES += libsva/libsva.la
libsva_libsva_la_SOURCES =
libsva_libsva_la_LIBADD = libsva/libsva-internal.la
libsva_libsva_la_LDFLAGS = $(AM_LDFLAGS) -version-info $(LIBSVA_LT_VERSION) -no-undefined
if HAVE_VERSION_SCRIPT
libsva_libsva_la_LDFLAGS += -Wl,--version-script=$(top_srcdir)/libsva/libsva.map
endif
if HAVE_BSYMBOLIC_FUNCTIONS
libsva_libsva_la_LDFLAGS += -Wl,-Bsymbolic-functions
endif
EXTRA_libsva_libsva_la_DEPENDENCIES = $(top_srcdir)/libsva/libsva.map
EXTRA_DIST += libsva/libsva.map libsva/libsva.pc.in

# Installed as <sva/sva.h>, the name every user includes.
svaincludedir = $(includedir)/sva
svainclude_HEADERS = include/sva/sva.h
pkgconfig_DATA += libsva/libsva.pc
