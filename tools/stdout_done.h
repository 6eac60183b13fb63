/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The tools' last step after printing: a full disk or a closed pipe is only
 * seen at the flush, and an exit status of 0 must mean the output is there.
 */
#ifndef SVA_TOOLS_STDOUT_DONE_H
#define SVA_TOOLS_STDOUT_DONE_H

#include <errno.h>
#include <stdio.h>
#include <string.h>

/* 0 when everything printed reached standard output; else 1, having said
 * "PROG: writing WHAT failed: REASON" on standard error. */
static inline int stdout_done(const char *prog, const char *what)
{
	if (fflush(stdout) == 0 && !ferror(stdout))
		return 0;
	fprintf(stderr, "%s: writing %s failed: %s\n", prog, what, strerror(errno));
	return 1;
}

#endif
