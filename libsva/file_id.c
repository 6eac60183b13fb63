/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Which file a descriptor number holds, as fstat() tells it.  libsva's threads
 * keep descriptors the application can close behind their back (close_range()
 * of everything) and whose numbers the next open() then reuses: before libsva
 * reads, writes or closes one on a rare path, it asks whether the number still
 * holds the file it made.  Every anonymous-inode file looks alike to fstat()
 * (one inode for all eventfds, say), which is the limit of this check.
 */
#include <errno.h>
#include <sys/stat.h>

#include "internal.h"

int sva_file_id_of(int fd, struct sva_file_id *id)
{
	struct stat st;

	if (fstat(fd, &st))
		return -errno;
	id->dev = st.st_dev;
	id->ino = st.st_ino;
	return 0;
}

bool sva_fd_holds(int fd, const struct sva_file_id *id)
{
	struct sva_file_id now = { 0 };

	return fd >= 0 && sva_file_id_of(fd, &now) == 0 && now.dev == id->dev && now.ino == id->ino;
}
