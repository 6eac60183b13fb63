/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * sva-bench: every libsva benchmark in one tool, each against a baseline
 * measured in the same run, with the ratio.
 *
 *   pasid   the PASID allocator and lookup against a mutex-protected bitmap
 *           with the same quarantine rule (needs no IOMMU)
 *   fault   the fault engine against the minimal handler (trigger, read one
 *           record, map one page, answer); needs /dev/iommu with the iommufd
 *           selftest mock (CONFIG_IOMMUFD_TEST): the test VM, `make bench-vm`
 *   coherence  munmap/madvise of tracked memory against untracked memory, and
 *           first touch of registered memory; needs /dev/iommu and userfaultfd
 *   budget  a device walking 1x, 2x and 4x an address space's pin budget
 *           against one without a budget; needs the selftest mock
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"

/* Why a benchmark that needs /dev/iommu (and, with mock, the selftest mock)
 * cannot run here, or NULL if it can. */
static const char *iommu_unavailable(int mock)
{
	struct sva_ctx_opts o = { .size = sizeof(o), .log_level = SVA_LOG_OFF };
	struct sva_ctx *ctx;
	struct sva_dev *dev;
	const char *why = NULL;

	if (sva_ctx_new(&o, &ctx))
		return "no usable /dev/iommu here (run it in the test VM: make bench-vm)";
	if (mock && sva_dev_open_mock(ctx, NULL, &dev))
		why = "the kernel has no iommufd selftest mock, CONFIG_IOMMUFD_TEST (run it in the test VM: make bench-vm)";
	else if (mock)
		sva_dev_close(dev);
	sva_ctx_free(ctx);
	return why;
}

static void usage(FILE *f)
{
	fprintf(f, "usage: sva-bench [--json] [--rounds N] [pasid|fault|coherence|budget|all]\n"
		   "  --rounds N  rounds per figure for pasid, fault and budget (each round a ratio; default 7, 15, 9)\n"
		   "  pasid      PASID allocation and lookup vs a mutex+bitmap allocator (no IOMMU needed)\n"
		   "  fault      the fault engine vs a minimal fault handler (needs CONFIG_IOMMUFD_TEST)\n"
		   "  coherence  munmap/madvise/first touch of tracked vs untracked memory (needs /dev/iommu)\n"
		   "  budget     a device walking 1x-4x the pin budget vs no budget (needs CONFIG_IOMMUFD_TEST)\n"
		   "  all        every one (the default)\n");
}

static const struct bench {
	const char *name;
	int (*run)(int argc, char **argv);
	int needs;  /* 0: nothing, 1: /dev/iommu, 2: and the selftest mock */
	int rounds; /* takes --rounds */
} benches[] = {
	{ "pasid", bench_pasid, 0, 1 },
	{ "fault", bench_fault, 2, 1 },
	{ "coherence", bench_coherence, 1, 0 },
	{ "budget", bench_budget, 2, 1 },
};

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "rounds", required_argument, NULL, 'r' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	char json_arg[] = "--json", rounds_arg[] = "--rounds", *sub_argv[5] = { argv[0] };
	const char *only = NULL, *rounds = NULL;
	int json = 0, c, rc = 0, first = 1, sub_argc = 1;

	while ((c = getopt_long(argc, argv, "jh", longopts, NULL)) != -1) {
		switch (c) {
		case 'j':
			json = 1;
			break;
		case 'r': {
			char *end;
			long n = strtol(optarg, &end, 10);

			if (*optarg == '\0' || *end || n < 1 || n > 1000) {
				fprintf(stderr, "sva-bench: --rounds wants a number from 1 to 1000\n");
				return 2;
			}
			rounds = optarg;
			break;
		}
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind < argc) {
		int known = !strcmp(argv[optind], "all");

		for (size_t i = 0; i < sizeof(benches) / sizeof(benches[0]); i++)
			known |= !strcmp(argv[optind], benches[i].name);
		if (optind + 1 < argc || !known) {
			usage(stderr);
			return 2;
		}
		if (strcmp(argv[optind], "all"))
			only = argv[optind];
	}
	if (json)
		sub_argv[sub_argc++] = json_arg;
	/* The benchmarks that measure in rounds take it (coherence has its own). */
	if (rounds) {
		sub_argv[sub_argc++] = rounds_arg;
		sub_argv[sub_argc++] = (char *)rounds;
	}
	for (size_t i = 0; i < sizeof(benches) / sizeof(benches[0]); i++) {
		const struct bench *b = &benches[i];
		const char *why = b->needs ? iommu_unavailable(b->needs == 2) : NULL;
		int run = !only || !strcmp(only, b->name);

		if (json)
			printf("%s\"%s\":", first ? "{" : ",", b->name);
		else if (!first && run)
			printf("\n");
		first = 0;
		if (run && !why) {
			fflush(stdout);
			rc |= b->run(b->rounds ? sub_argc : json ? 2 : 1, sub_argv);
		} else if (run) {
			if (json)
				printf("{\"skipped\":\"%s\"}", why);
			else
				printf("%s benchmark skipped: %s\n", b->name, why);
		} else if (json) {
			printf("null");
		}
	}
	if (json)
		printf("}\n");
	if (fflush(stdout) || ferror(stdout)) {
		fprintf(stderr, "sva-bench: writing the results failed: %s\n", strerror(errno));
		rc |= 1;
	}
	return rc;
}
