/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* A process with no descriptor free, for a while (tests only). */
#ifndef SVA_TESTS_FD_FILL_H
#define SVA_TESTS_FD_FILL_H

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <sys/resource.h>
#include <unistd.h>

#define FD_FILL_MAX 1024

struct fd_fill {
	struct rlimit old; /* the limit fd_fill_undo() puts back */
	int limit;	   /* RLIMIT_NOFILE while filled: the highest descriptor in use + 1 */
	bool full;	   /* the last open() failed with EMFILE: nothing is free */
	int n, fds[FD_FILL_MAX];
};

/*
 * RLIMIT_NOFILE down to exactly the descriptors in use, and the holes below
 * it taken with /dev/null, so that the next open() fails with EMFILE.
 * -1 (errno set) if the limit cannot be lowered; f->full says whether every
 * hole was taken.
 */
static inline int fd_fill(struct fd_fill *f)
{
	struct rlimit low;
	int top = -1;

	f->n = 0;
	f->full = false;
	getrlimit(RLIMIT_NOFILE, &f->old);
	for (int fd = 0; fd < 65536 && (rlim_t)fd < f->old.rlim_cur; fd++)
		if (fcntl(fd, F_GETFD) >= 0)
			top = fd;
	f->limit = top + 1;
	low = f->old;
	low.rlim_cur = (rlim_t)f->limit;
	if (setrlimit(RLIMIT_NOFILE, &low))
		return -1;
	while (f->n < FD_FILL_MAX && (f->fds[f->n] = open("/dev/null", O_RDONLY | O_CLOEXEC)) >= 0)
		f->n++;
	f->full = f->n < FD_FILL_MAX && errno == EMFILE;
	return 0;
}

/* The holes given back and the limit restored. */
static inline void fd_fill_undo(struct fd_fill *f)
{
	while (f->n > 0)
		close(f->fds[--f->n]);
	setrlimit(RLIMIT_NOFILE, &f->old);
}

#endif
