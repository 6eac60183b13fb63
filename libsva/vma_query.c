/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The VMAs of one range by PROCMAP_QUERY (Linux 6.11): an ioctl per VMA on
 * /proc/self/maps instead of reading and parsing the whole file, which in a
 * process with many mappings costs about a millisecond, more than mapping
 * 64 MiB of huge pages (docs/design.md, fault figures).  vma.c falls back to
 * reading the file where the ioctl is missing.
 */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "internal.h"
#include "kabi.h"

/*
 * A refused PROCMAP_QUERY as -errno: -EFAULT for ENOENT (no VMA at or after
 * the address, a hole like any other), -EOPNOTSUPP where the ioctl cannot be
 * had, so that the caller reads the maps file instead: ENOTTY or EINVAL from
 * a kernel before 6.11, and EPERM, EACCES or ENOSYS from a sandbox or LSM that
 * refuses the ioctl while the file itself stays readable (a seccomp filter,
 * an SELinux ioctl allowlist).
 */
static int query_error(int err)
{
	switch (err) {
	case ENOENT:
		return -EFAULT;
	case ENOTTY:
	case EINVAL:
	case EPERM:
	case EACCES:
	case ENOSYS:
		return -EOPNOTSUPP;
	default:
		return -err;
	}
}

/* The VMA covering addr or the next one: 0, -EFAULT (none), -EOPNOTSUPP. */
static int query(int fd, uint64_t addr, struct kabi_procmap_query *q)
{
	*q = (struct kabi_procmap_query){
		.size = sizeof(*q),
		.query_flags = KABI_PROCMAP_QUERY_COVERING_OR_NEXT_VMA,
		.query_addr = addr,
	};
	if (ioctl(fd, KABI_PROCMAP_QUERY, q) == 0)
		return 0;
	return query_error(errno);
}

static uint32_t prot_of(const struct kabi_procmap_query *q)
{
	return ((q->vma_flags & KABI_PROCMAP_QUERY_VMA_READABLE) ? SVA_PROT_READ : 0) |
	       ((q->vma_flags & KABI_PROCMAP_QUERY_VMA_WRITABLE) ? SVA_PROT_WRITE : 0) |
	       ((q->vma_flags & KABI_PROCMAP_QUERY_VMA_EXECUTABLE) ? SVA_PROT_EXEC : 0);
}

int sva_vma_collect_query(int maps_fd, uint64_t start, uint64_t end, struct sva_vma *out, size_t max, size_t *nr)
{
	/* An address space keeps the file open: under TCG the open and close
	 * cost more than the queries (natively 2.3 us against 0.4 us each). */
	int fd = maps_fd >= 0 ? maps_fd : open("/proc/self/maps", O_RDONLY | O_CLOEXEC);
	uint64_t next = start;
	size_t n = 0;
	int ret = 0;

	*nr = 0;
	if (fd < 0)
		return -errno;
	while (next < end) {
		struct kabi_procmap_query q;

		ret = query(fd, next, &q);
		if (ret)
			break;
		if (q.vma_start > next) {
			ret = -EFAULT; /* a hole before the next VMA */
			break;
		}
		if (n == max) {
			ret = -E2BIG;
			break;
		}
		out[n].start = next;
		out[n].end = q.vma_end < end ? q.vma_end : end;
		out[n].whole_start = q.vma_start;
		out[n].ident = 0;
		out[n].whole_end = q.vma_end;
		out[n].prot = prot_of(&q) & (SVA_PROT_READ | SVA_PROT_WRITE);
		next = out[n].end;
		n++;
	}
	if (fd != maps_fd)
		close(fd);
	*nr = n;
	return ret;
}

/* The VMA covering addr, through maps_fd (an open /proc/self/maps) or, if
 * -1, a maps file of its own: 0, -EFAULT (none there), -EOPNOTSUPP, or the
 * open's -errno. */
static int query_covering(int maps_fd, uint64_t addr, struct kabi_procmap_query *q)
{
	int fd = maps_fd >= 0 ? maps_fd : open("/proc/self/maps", O_RDONLY | O_CLOEXEC);
	int ret;

	if (fd < 0)
		return -errno;
	ret = query(fd, addr, q);
	if (fd != maps_fd)
		close(fd);
	return !ret && q->vma_start > addr ? -EFAULT : ret;
}

/*
 * Named like anonymous memory: no name, the heap, the main stack, or a name
 * the process gave (PR_SET_VMA_ANON_NAME).  Every other name of a mapping
 * without a file is a special mapping's ("[vdso]", "[vvar]", "[uprobes]"),
 * which userfaultfd never registers.
 */
static bool anon_name(const char *name)
{
	return !name[0] || !strcmp(name, "[heap]") || !strcmp(name, "[stack]") || !strncmp(name, "[anon:", 6);
}

int sva_vma_query_private_anon(int maps_fd, uint64_t start, uint64_t end)
{
	struct kabi_procmap_query q;
	/* "[anon:" + a name of at most 80 bytes + "]": a longer one is no anon name. */
	char name[96];
	int fd, ret = query_covering(maps_fd, start, &q);

	if (ret)
		return ret;
	if (end > q.vma_end || q.inode || q.dev_major || q.dev_minor || (q.vma_flags & KABI_PROCMAP_QUERY_VMA_SHARED))
		return 0;
	/* A second query for the name: only here, the rare settling path. */
	fd = maps_fd >= 0 ? maps_fd : open("/proc/self/maps", O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	q = (struct kabi_procmap_query){
		.size = sizeof(q),
		.query_flags = KABI_PROCMAP_QUERY_COVERING_OR_NEXT_VMA,
		.query_addr = start,
		.vma_name_size = sizeof(name),
		.vma_name_addr = (uintptr_t)name,
	};
	name[0] = '\0';
	ret = ioctl(fd, KABI_PROCMAP_QUERY, &q) == 0 ? 0 : -errno;
	if (fd != maps_fd)
		close(fd);
	if (ret == -ENAMETOOLONG)
		return 0;
	if (ret)
		return query_error(-ret);
	if (q.vma_start > start || end > q.vma_end)
		return -EFAULT; /* changed between the two queries: a hole meanwhile */
	if (!q.vma_name_size)
		name[0] = '\0';
	return anon_name(name);
}

int sva_vma_query_bounds(int maps_fd, uint64_t addr, uint64_t *start, uint64_t *end)
{
	struct kabi_procmap_query q;
	int ret = query_covering(maps_fd, addr, &q);

	if (!ret) {
		*start = q.vma_start;
		*end = q.vma_end;
	}
	return ret;
}

int sva_vma_query_one(int maps_fd, uint64_t addr, struct sva_vma *out)
{
	struct kabi_procmap_query q;
	int ret = query_covering(maps_fd, addr, &q);

	if (!ret) {
		out->start = q.vma_start;
		out->end = q.vma_end;
		out->whole_start = out->whole_end = 0;
		out->ident = 0;
		out->prot = prot_of(&q);
	}
	return ret;
}
