# sva-brokerd: shares devices between processes (tools/broker/broker.h names
# the job of each file).  It links the library's objects directly
# (libsva-internal): it parks RIDs and attaches its clients' PASIDs through
# the device backends, which the public API does not offer.
sbin_PROGRAMS += tools/sva-brokerd
BROKER_SOURCES = \
	tools/broker/broker.h \
	tools/number.h \
	tools/broker/config.c \
	tools/broker/server.c \
	tools/broker/requests.c \
	tools/broker/isolated.c \
	tools/broker/rid.c \
	tools/broker/mm_exit.c
tools_sva_brokerd_SOURCES = $(BROKER_SOURCES) tools/broker/main.c tools/stdout_done.h tools/option_error.h
tools_sva_brokerd_LDADD = libsva/libsva-internal.la
# The sample configuration and the systemd unit, for the administrator (and
# the packages) to put in /etc and the unit directory.
brokerexampledir = $(docdir)/examples
dist_brokerexample_DATA = tools/broker/sva-brokerd.service tools/broker/sva-brokerd.conf

# Its command line without a kernel (the broker at work: ktest-broker).
TESTS += tests/unit/test-sva-brokerd.sh tests/unit/test-brokerd-blackbox.sh
EXTRA_DIST += tests/unit/test-sva-brokerd.sh tests/unit/test-brokerd-blackbox.sh
