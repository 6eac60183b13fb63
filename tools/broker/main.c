/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* sva-brokerd: share SVA devices between processes (sva-brokerd(8)). */
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "broker.h"
#include "../option_error.h"
#include "../stdout_done.h"

static struct broker broker;
/* Kept apart from broker.stop: broker_start() clears the whole struct broker,
 * and a signal taken before that (the handlers are in place first, so that
 * none kills a broker with its socket half made) would be lost with it. */
static volatile sig_atomic_t stop_asked;

static void on_signal(int sig)
{
	(void)sig;
	stop_asked = 1;
	broker.stop = 1;
}

static void usage(FILE *f)
{
	fprintf(f, "usage: sva-brokerd [-c FILE] [-s SOCKET] [--check]\n"
		   "       sva-brokerd -h | --help | -V | --version\n"
		   "  -c, --config FILE  configuration (default /etc/sva-brokerd.conf)\n"
		   "  -s, --socket PATH  listen here instead of the configured socket\n"
		   "      --check        read the configuration, report, and exit\n"
		   "  -h, --help         print this help and exit\n"
		   "  -V, --version      print the version and exit\n");
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "config", required_argument, NULL, 'c' }, { "socket", required_argument, NULL, 's' },
		{ "check", no_argument, NULL, 'C' },	    { "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },	    { NULL, 0, NULL, 0 },
	};
	const char *config = "/etc/sva-brokerd.conf", *sock = NULL;
	struct sigaction sa = { .sa_handler = on_signal };
	struct broker_conf conf;
	char err[300];
	int opt, check = 0, ret, asked = 0;

	opterr = 0; /* option_error() says what is wrong, as the other tools do */
	while ((opt = getopt_long(argc, argv, ":c:s:hV", longopts, NULL)) != -1) {
		switch (opt) {
		case 'c':
			/* Empty: a missing file name, not one to open. */
			if (option_nonempty("sva-brokerd", longopts, opt, argv))
				return 2;
			config = optarg;
			break;
		case 's':
			/* A usage error (status 2) before the configuration is read (status 1). */
			if (option_nonempty("sva-brokerd", longopts, opt, argv))
				return 2;
			if (optarg[0] != '/' || strlen(optarg) >= sizeof(conf.socket))
				return option_bad_value("sva-brokerd", longopts, opt, argv,
							"must be an absolute path shorter than %zu bytes",
							sizeof(conf.socket));
			sock = optarg;
			break;
		case 'C':
			check = 1;
			break;
		case 'h':
		case 'V':
			asked = opt; /* printed once the command line is known good */
			break;
		default:
			option_error("sva-brokerd", longopts, opt, argv);
			return usage_hint("sva-brokerd");
		}
	}
	if (optind != argc) {
		fprintf(stderr, "sva-brokerd: unexpected argument '%s'\n", argv[optind]);
		return usage_hint("sva-brokerd");
	}
	if (asked) {
		if (asked == 'h')
			usage(stdout);
		else
			printf("sva-brokerd (libsva) %s\n", PACKAGE_VERSION);
		return stdout_done("sva-brokerd", "to standard output");
	}
	if (broker_conf_load(config, &conf, err, sizeof(err))) {
		fprintf(stderr, "sva-brokerd: %s\n", err);
		return 1;
	}
	if (sock)
		snprintf(conf.socket, sizeof(conf.socket), "%s", sock);
	if (check) {
		printf("%s: socket %s, %zu device%s, %u PASIDs per client from [%u, %u]\n", config, conf.socket,
		       conf.ndevs, conf.ndevs == 1 ? "" : "s", conf.pasids_per_client, conf.pasid_min, conf.pasid_max);
		printf("%s: at most %u client%s", config, conf.max_clients, conf.max_clients == 1 ? "" : "s");
		if (conf.clients_per_user && conf.clients_per_user < conf.max_clients)
			printf(", %u for one user\n", conf.clients_per_user);
		else
			printf(", without a limit for one user\n");
		if (conf.isolated_pin_max)
			printf("%s: isolated clients map at most %llu bytes each\n", config,
			       (unsigned long long)conf.isolated_pin_max);
		else
			printf("%s: isolated clients map without limit\n", config);
		printf("%s: socket mode %04o%s, %u device PASIDs per client, grace ", config, conf.socket_mode,
		       conf.socket_gid >= 0 ? ", group set" : "", conf.dev_pasids_per_client);
		/* grace-ms 0: a block stays in quarantine until the broker restarts */
		if (conf.grace_ns == UINT64_MAX)
			printf("until the broker restarts\n");
		else
			printf("%llu ms\n", (unsigned long long)(conf.grace_ns / 1000000));
		for (size_t i = 0; i < conf.ndevs; i++) {
			const struct broker_dev_conf *d = &conf.devs[i];

			printf("%s: device %s from %s, allowed to %zu user%s and %zu group%s%s", config, d->name,
			       d->source, d->nuids, d->nuids == 1 ? "" : "s", d->ngids, d->ngids == 1 ? "" : "s",
			       d->isolated_only ? ", isolated clients only" : "");
			if (d->mm_exit[0])
				printf(", mm-exit %s (%u ms)\n", d->mm_exit, d->mm_exit_ms);
			else
				printf("\n");
		}
		return stdout_done("sva-brokerd", "the report");
	}
	if (conf.ndevs == 0)
		fprintf(stderr, "sva-brokerd: %s defines no device: every client will be refused\n", config);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	/* Not a reload: a broker started from a terminal that closes would
	 * otherwise die and leave its socket behind (sva-brokerd(8)). */
	sigaction(SIGHUP, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	/* A signal mask outlives exec(): started by a process that had these
	 * blocked, the broker would never take them, and only SIGKILL (which
	 * leaves the socket behind) would stop it.  Unblocked once caught, so
	 * one already pending reaches the handler, not the default action. */
	{
		sigset_t stops;

		sigemptyset(&stops);
		sigaddset(&stops, SIGTERM);
		sigaddset(&stops, SIGINT);
		sigaddset(&stops, SIGHUP);
		sigprocmask(SIG_UNBLOCK, &stops, NULL);
	}
	ret = broker_start(&broker, &conf);
	if (ret) {
		fprintf(stderr, "sva-brokerd: cannot start: %s\n", strerror(-ret));
		return 1;
	}
	if (stop_asked)
		broker.stop = 1;
	broker_run(&broker);
	broker_fini(&broker);
	return 0;
}
