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
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "bench.h"

/* Why the fault benchmark cannot run here, or NULL if it can. */
static const char *fault_unavailable(void)
{
	struct sva_ctx_opts o = { .size = sizeof(o), .log_level = SVA_LOG_OFF };
	struct sva_ctx *ctx;
	struct sva_dev *dev;
	const char *why = NULL;

	if (sva_ctx_new(&o, &ctx))
		return "no usable /dev/iommu here (run it in the test VM: make bench-vm)";
	if (sva_dev_open_mock(ctx, NULL, &dev))
		why = "the kernel has no iommufd selftest mock, CONFIG_IOMMUFD_TEST (run it in the test VM: make bench-vm)";
	else
		sva_dev_close(dev);
	sva_ctx_free(ctx);
	return why;
}

static void usage(FILE *f)
{
	fprintf(f, "usage: sva-bench [--json] [pasid|fault|all]\n"
		   "  pasid  PASID allocation and lookup vs a mutex+bitmap allocator (no IOMMU needed)\n"
		   "  fault  the fault engine vs a minimal fault handler (needs CONFIG_IOMMUFD_TEST)\n"
		   "  all    both (the default)\n");
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	char json_arg[] = "--json", *sub_argv[3] = { argv[0], NULL, NULL };
	int json = 0, pasid = 1, fault = 1, c, rc = 0;
	const char *why;

	while ((c = getopt_long(argc, argv, "jh", longopts, NULL)) != -1) {
		switch (c) {
		case 'j':
			json = 1;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind < argc) {
		if (optind + 1 < argc || (strcmp(argv[optind], "pasid") && strcmp(argv[optind], "fault") &&
					  strcmp(argv[optind], "all"))) {
			usage(stderr);
			return 2;
		}
		pasid = strcmp(argv[optind], "fault") != 0;
		fault = strcmp(argv[optind], "pasid") != 0;
	}
	if (json)
		sub_argv[1] = json_arg;
	why = fault ? fault_unavailable() : NULL;
	if (json)
		printf("{\"pasid\":");
	if (pasid) {
		fflush(stdout);
		rc |= bench_pasid(json ? 2 : 1, sub_argv);
	} else if (json) {
		printf("null");
	}
	if (json)
		printf(",\"fault\":");
	else if (pasid && fault)
		printf("\n");
	if (fault && !why) {
		fflush(stdout);
		rc |= bench_fault(json ? 2 : 1, sub_argv);
	} else if (fault) {
		if (json)
			printf("{\"skipped\":\"%s\"}", why);
		else
			printf("fault benchmark skipped: %s\n", why);
	} else if (json) {
		printf("null");
	}
	if (json)
		printf("}\n");
	return rc;
}
