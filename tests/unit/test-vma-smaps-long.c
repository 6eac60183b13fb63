/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * A mapped file's path longer than smaps_fields()'s line buffer (libsva/vma.c)
 * must not be read as lines of its own: a name whose tail, where the buffer
 * ends, reads "AnonHugePages: 2048 kB" made a small-page file mapping pass for
 * transparent huge pages (review Z93: 2 MiB fault windows for 4 KiB pages).
 * sva_vma_snapshot() already skipped the rest of a long line.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "internal.h"
#include "../tap.h"

/* smaps_fields()'s buffer holds 511 characters and the NUL: the next read of
 * a longer line starts at this column. */
#define TAIL_AT 511
#define FAKE "AnonHugePages:    2048 kB"

static char top[] = "/tmp/sva-smaps-long-XXXXXX";

/* The column where the mapping's path starts in its smaps header line, or -1. */
static int path_column(uint64_t start)
{
	FILE *f = fopen("/proc/self/smaps", "re");
	char *line = NULL;
	size_t cap = 0;
	int col = -1;

	if (!f)
		return -1;
	while (getline(&line, &cap, f) > 0) {
		uint64_t lo;
		char *slash;

		if (sscanf(line, "%" SCNx64 "-", &lo) == 1 && lo == start && (slash = strchr(line, '/'))) {
			col = (int)(slash - line);
			break;
		}
	}
	free(line);
	fclose(f);
	return col;
}

/* Directories under top whose path, with its slash, is n characters long. */
static char *dirs_of_length(size_t n)
{
	char *path = malloc(PATH_MAX);
	size_t len = strlen(top);

	if (!path || n < len + 2 || n >= PATH_MAX - sizeof(FAKE))
		return free(path), NULL;
	strcpy(path, top);
	while (len + 1 < n) {
		size_t part = n - len - 1 > 200 ? 200 : n - len - 1;

		/* A last component of 1 would leave a lone slash: split evenly. */
		if (n - len - 1 > 200 && n - len - 1 - 200 < 2)
			part = 100;
		path[len++] = '/';
		memset(path + len, 'd', part - 1);
		len += part - 1;
		path[len] = '\0';
		if (mkdir(path, 0700) && errno != EEXIST)
			return free(path), NULL;
	}
	path[len++] = '/';
	path[len] = '\0';
	return path;
}

int main(void)
{
	char first[PATH_MAX], *dir, *final;
	long page = sysconf(_SC_PAGESIZE);
	int fd, col;
	void *p;

	if (!mkdtemp(top))
		tap_bail("mkdtemp: %s", strerror(errno));
	snprintf(first, sizeof(first), "%s/f", top);
	fd = open(first, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0 || ftruncate(fd, page))
		tap_bail("%s: %s", first, strerror(errno));
	p = mmap(NULL, (size_t)page, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (p == MAP_FAILED)
		tap_bail("mmap: %s", strerror(errno));
	memset(p, 1, (size_t)page);

	col = path_column((uintptr_t)p);
	if (col < 0)
		tap_bail("no smaps header with a path at %p", p);
	dir = dirs_of_length((size_t)(TAIL_AT - col));
	if (!dir)
		tap_bail("directories for a %d-character prefix: %s", TAIL_AT - col, strerror(errno));
	final = malloc(PATH_MAX);
	if (!final)
		tap_bail("malloc");
	snprintf(final, PATH_MAX, "%s%s", dir, FAKE);
	if (rename(first, final))
		tap_bail("rename to %s: %s", final, strerror(errno));

	/* The renamed file's header: its name starts where the buffer ends. */
	if (path_column((uintptr_t)p) != col)
		skip_all("the smaps header's path column moved after the rename");
	ok(sva_vma_smaps_kb((uintptr_t)p, "AnonHugePages") <= 0,
	   "a file named \"%s\" at column %d of its smaps header is no AnonHugePages line (got %ld)", FAKE, TAIL_AT,
	   sva_vma_smaps_kb((uintptr_t)p, "AnonHugePages"));
	ok(!sva_vma_has_thp((uintptr_t)p), "a 4 KiB shared file mapping with such a name has no THP");
	ok(sva_vma_smaps_kb((uintptr_t)p, "Rss") == page / 1024, "its Rss is still read: %ld kB",
	   sva_vma_smaps_kb((uintptr_t)p, "Rss"));

	munmap(p, (size_t)page);
	close(fd);
	unlink(final);
	/* Remove the directories, deepest first. */
	for (char *s = dir + strlen(dir) - 1; s > dir + strlen(top); s--) {
		if (*s != '/')
			continue;
		*s = '\0';
		rmdir(dir);
	}
	rmdir(top);
	free(final);
	free(dir);
	return done_testing();
}
