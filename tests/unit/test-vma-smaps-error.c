/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * A VMA's huge-page classification (libsva/vma.c) when /proc/self/smaps fails
 * partway through: what was read before the error decides nothing, the VMA is
 * left unclassified and the next look asks again (as after a failed open,
 * test-vma-classify.c).  Old code took the missing fields for absent and
 * marked the VMA checked for as long as it keeps its bounds.
 *
 * fopen() is replaced for the static libsva-test this links (as
 * fake_ioctl.h does for ioctl()): while `cut_at` is set, /proc/self/smaps
 * reads as the real file up to the line after that VMA's header, then fails
 * with EIO.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/types.h>
#include <unistd.h>

#include "internal.h"
#include "../hugetlb.h"
#include "../tap.h"

#define MB (1ull << 20)

static uint64_t cut_at; /* the VMA whose smaps read fails after its first field */
static int cut_opens;	/* smaps opens that failed so */

struct cut {
	char *buf;
	size_t len, pos;
};

static ssize_t cut_read(void *cookie, char *out, size_t size)
{
	struct cut *c = cookie;

	if (c->pos == c->len) {
		errno = EIO;
		return -1;
	}
	if (size > c->len - c->pos)
		size = c->len - c->pos;
	memcpy(out, c->buf + c->pos, size);
	c->pos += size;
	return (ssize_t)size;
}

static int cut_close(void *cookie)
{
	struct cut *c = cookie;

	free(c->buf);
	free(c);
	return 0;
}

/* The real smaps, up to the end of the line after cut_at's header. */
static FILE *cut_smaps(void)
{
	struct cut *c = calloc(1, sizeof(*c));
	size_t cap = 1 << 16;
	int fd = open("/proc/self/smaps", O_RDONLY | O_CLOEXEC);
	ssize_t r;
	char *line;

	if (!c || fd < 0)
		tap_bail("smaps: %s", strerror(errno));
	c->buf = malloc(cap);
	while ((r = read(fd, c->buf + c->len, cap - c->len)) > 0) {
		c->len += (size_t)r;
		if (c->len == cap)
			c->buf = realloc(c->buf, cap *= 2);
	}
	close(fd);
	c->buf[c->len < cap ? c->len : cap - 1] = '\0';
	for (line = c->buf; line && *line; line = strchr(line, '\n') ? strchr(line, '\n') + 1 : NULL) {
		uint64_t lo, hi;

		if (sscanf(line, "%" SCNx64 "-%" SCNx64 " ", &lo, &hi) == 2 && lo == cut_at) {
			char *size = strchr(line, '\n') + 1; /* "Size:" */

			c->len = (size_t)(strchr(size, '\n') + 1 - c->buf);
			cut_opens++;
			return fopencookie(c, "r", (cookie_io_functions_t){ .read = cut_read, .close = cut_close });
		}
	}
	tap_bail("no VMA at %#" PRIx64 " in smaps", cut_at);
}

FILE *fopen(const char *path, const char *mode);
FILE *fopen(const char *path, const char *mode)
{
	int flags = O_CLOEXEC, fd;
	FILE *f;

	if (cut_at && !strcmp(path, "/proc/self/smaps"))
		return cut_smaps();
	if (mode[0] == 'r')
		flags |= strchr(mode, '+') ? O_RDWR : O_RDONLY;
	else
		flags |= (strchr(mode, '+') ? O_RDWR : O_WRONLY) | O_CREAT | (mode[0] == 'a' ? O_APPEND : O_TRUNC);
	fd = open(path, flags, 0666);
	if (fd < 0)
		return NULL;
	f = fdopen(fd, mode);
	if (!f)
		close(fd);
	return f;
}

/* A look at addr whose smaps read fails partway, then one that reads it all. */
static void look_twice(uint64_t addr, struct sva_vma *first, struct sva_vma *second)
{
	int before = cut_opens, ret;

	cut_at = addr;
	ret = sva_vma_find(addr, true, -1, first);
	cut_at = 0;
	ok(ret == 0 && cut_opens == before + 1, "the VMA at %#" PRIx64 " is found, its smaps read fails partway", addr);
	ok(!(first->prot & SVA_VMA_CHECKED), "left unclassified (%#x; old code: checked)", first->prot);
	ret = sva_vma_find(addr, false, -1, second);
	ok(ret == 0 && (second->prot & SVA_VMA_CHECKED), "the next look reads smaps again and classifies it (%#x)",
	   second->prot);
}

int main(void)
{
	struct sva_vma first, second;
	int mfd = memfd_create("hugepages", MFD_CLOEXEC);
	void *named;
	uint64_t big;

	/* A memfd named like hugetlbfs: a candidate until smaps says 4 kB pages. */
	if (mfd < 0 || ftruncate(mfd, 16 * 4096) != 0)
		tap_bail("memfd: %s", strerror(errno));
	named = mmap(NULL, 16 * 4096, PROT_READ | PROT_WRITE, MAP_SHARED, mfd, 0);
	if (named == MAP_FAILED)
		tap_bail("mmap: %s", strerror(errno));
	look_twice((uintptr_t)named, &first, &second);
	ok(first.prot & SVA_VMA_HUGETLB, "before: a hugetlbfs candidate by its name (%#x)", first.prot);
	ok(!(second.prot & SVA_VMA_HUGETLB), "after: not hugetlbfs, its kernel page size is 4 kB (old code: a hugetlbfs guess for good)");

	/* 4 MiB of transparent huge pages, 2 MiB-aligned. */
	big = thp_region_4mib();
	if (!big)
		tap_bail("mmap: %s", strerror(errno));
	if (!sva_vma_has_thp(big)) {
		skip(4, "no transparent huge page in a MADV_HUGEPAGE mapping here");
	} else {
		look_twice(big, &first, &second);
		ok(second.prot & SVA_VMA_THP, "after: transparent huge pages (old code: \"checked, no THP\" for good)");
	}
	return done_testing();
}
