# sva-brokerd: shares devices between processes (tools/broker/broker.h names
# the job of each file).  It links the library's objects directly
# (libsva-internal): it parks RIDs and attaches its clients' PASIDs through
# the device backends, which the public API does not offer.
sbin_PROGRAMS += tools/sva-brokerd
BROKER_SOURCES = \
	tools/broker/broker.h \
	tools/broker/config.c \
	tools/broker/server.c \
	tools/broker/requests.c
tools_sva_brokerd_SOURCES = $(BROKER_SOURCES) tools/broker/main.c
tools_sva_brokerd_LDADD = libsva/libsva-internal.la
EXTRA_DIST += tools/broker/sva-brokerd.service tools/broker/sva-brokerd.conf
