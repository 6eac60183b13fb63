/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The process's mappings, from /proc/self/maps.  IOAS_MAP pins through GUP,
 * which refuses writes to read-only VMAs, so map permissions must follow the
 * VMA's; and a range with a hole must be refused before anything is mapped.
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "internal.h"

/* One /proc/self/maps line: "start-end perms offset dev inode [path]". */
static int parse_line(const char *line, struct sva_vma *v)
{
	char perms[8];
	int backing = 0, path = 0;

	if (sscanf(line, "%" SCNx64 "-%" SCNx64 " %7s %n%*s %*s %*s %n", &v->start, &v->end, perms, &backing, &path) < 3)
		return -1;
	/* FNV-1a of the rest of the line: another file, device or name at the
	 * same bounds is another mapping (cache_refresh()). */
	v->ident = 2166136261u;
	for (const char *c = line + backing; *c && *c != '\n'; c++)
		v->ident = (v->ident ^ (unsigned char)*c) * 16777619u;
	v->prot = (perms[0] == 'r' ? SVA_PROT_READ : 0) | (perms[1] == 'w' ? SVA_PROT_WRITE : 0) |
		  (perms[2] == 'x' ? SVA_PROT_EXEC : 0);
	v->whole_start = v->whole_end = 0; /* start, end are the whole mapping */
	/* MAP_HUGETLB shows as /anon_hugepage; hugetlbfs files by their mount.
	 * Only a candidate: a memfd or a file may carry such a name too, so
	 * sva_vma_find() asks smaps before a fault relies on it. */
	if (path && (strstr(line + path, "anon_hugepage") || strstr(line + path, "hugepages")))
		v->prot |= SVA_VMA_HUGETLB | SVA_VMA_HUGETLB_NAME;
	return 0;
}

/* The whole of an open /proc/self/maps, read from its start with pread()
 * (the offset of a descriptor others query through stays untouched): 0 with
 * *text (sva_free() it) and *len, or -errno. */
static int read_whole(int fd, char **text, size_t *len)
{
	size_t cap = 64 << 10, n = 0;
	char *buf = sva_malloc(cap), *grown;
	ssize_t r;

	if (!buf)
		return -ENOMEM;
	while ((r = pread(fd, buf + n, cap - n, (off_t)n)) != 0) {
		if (r < 0) {
			if (errno == EINTR)
				continue;
			r = -errno;
			sva_free(buf);
			return (int)r;
		}
		n += (size_t)r;
		if (n == cap) {
			grown = sva_realloc(buf, cap * 2);
			if (!grown) {
				sva_free(buf);
				return -ENOMEM;
			}
			buf = grown;
			cap *= 2;
		}
	}
	*text = buf;
	*len = n;
	return 0;
}

/*
 * What fgets() left of a line longer than its buffer: a mapped file's path
 * can be PATH_MAX long, and its tail, read as a line of its own, could pass
 * for a header or a field line ("AnonHugePages: 2048 kB" in a file name;
 * review Z93).  Only the start of such a line is ever needed.
 */
static void skip_rest(FILE *f, const char *line)
{
	int c;

	if (!strchr(line, '\n'))
		while ((c = fgetc(f)) != EOF && c != '\n')
			;
}

int sva_vma_snapshot(int maps_fd, struct sva_vma **out, size_t *nr)
{
	FILE *f = fopen("/proc/self/maps", "re");
	struct sva_vma *v = NULL, *grown;
	size_t n = 0, cap = 0, len = 0;
	char line[512], *text = NULL;

	/* No descriptor free for a file of our own: the address space's, open
	 * since sva_mm_new(), reads the same mappings (fmemopen() takes none). */
	if (!f && (errno == EMFILE || errno == ENFILE) && maps_fd >= 0) {
		int ret = read_whole(maps_fd, &text, &len);

		if (ret)
			return ret;
		f = fmemopen(text, len, "r");
		if (!f) {
			sva_free(text);
			return -ENOMEM;
		}
	}
	if (!f)
		return sva_neg_errno();
	while (fgets(line, sizeof(line), f)) {
		skip_rest(f, line);
		if (n == cap) {
			cap = cap ? cap * 2 : 64;
			grown = sva_realloc(v, cap * sizeof(*v));
			if (!grown) {
				sva_free(v);
				fclose(f);
				sva_free(text);
				return -ENOMEM;
			}
			v = grown;
		}
		if (parse_line(line, &v[n]) == 0)
			n++;
	}
	fclose(f);
	sva_free(text);
	*out = v;
	*nr = n;
	return 0;
}

int sva_vma_collect(int maps_fd, uint64_t start, uint64_t end, struct sva_vma *out, size_t max, size_t *nr)
{
	struct sva_vma *all;
	uint64_t next = start;
	size_t n_all, n = 0;
	int ret = sva_vma_collect_query(maps_fd, start, end, out, max, nr);

	if (ret != -EOPNOTSUPP)
		return ret;
	ret = sva_vma_snapshot(maps_fd, &all, &n_all);
	if (ret)
		return ret;
	ret = -EFAULT;
	for (size_t i = 0; i < n_all; i++) {
		if (all[i].end <= next)
			continue;
		if (all[i].start > next)
			break; /* a hole before the next VMA */
		if (n == max) {
			ret = -E2BIG;
			break;
		}
		out[n].start = next;
		out[n].end = all[i].end < end ? all[i].end : end;
		out[n].whole_start = all[i].start;
		out[n].ident = all[i].ident;
		out[n].whole_end = all[i].end;
		out[n].prot = all[i].prot & (SVA_PROT_READ | SVA_PROT_WRITE);
		next = out[n].end;
		n++;
		if (next >= end) {
			ret = 0;
			break;
		}
	}
	sva_free(all);
	*nr = n;
	return ret;
}

/* How far smaps_fields() got: the whole VMA read, smaps not opened (errno
 * set), or a read that failed partway (what was read is not kept). */
enum smaps_read { SMAPS_READ, SMAPS_NO_OPEN, SMAPS_PARTIAL };

/* The values of n smaps fields of the VMA starting at `start`, in one read
 * (-1: not there, or not read). */
static enum smaps_read smaps_fields(uint64_t start, const char *const *field, long *val, size_t n)
{
	FILE *f = fopen("/proc/self/smaps", "re");
	char line[512];
	bool in = false;
	size_t found = 0;

	for (size_t i = 0; i < n; i++)
		val[i] = -1;
	if (!f)
		return SMAPS_NO_OPEN;
	while (found < n && fgets(line, sizeof(line), f)) {
		uint64_t lo, hi;

		skip_rest(f, line);

		/* A VMA's header line: "lo-hi perms ..."; field lines start with a name. */
		if (sscanf(line, "%" SCNx64 "-%" SCNx64 " ", &lo, &hi) == 2 && strchr(line, '-') < strchr(line, ' ')) {
			if (in)
				break;
			in = lo == start;
			continue;
		}
		for (size_t i = 0; in && i < n; i++) {
			size_t flen = strlen(field[i]);

			if (val[i] < 0 && strncmp(line, field[i], flen) == 0 && line[flen] == ':') {
				val[i] = strtol(line + flen + 1, NULL, 10);
				found++;
			}
		}
	}
	/* A read that failed partway (the kernel out of memory, a signal)
	 * ended the loop as the end of the file would: the fields not yet
	 * seen would pass for absent. */
	if (ferror(f)) {
		fclose(f);
		for (size_t i = 0; i < n; i++)
			val[i] = -1;
		return SMAPS_PARTIAL;
	}
	fclose(f);
	return SMAPS_READ;
}

long sva_vma_smaps_kb(uint64_t start, const char *field)
{
	long v;

	smaps_fields(start, &field, &v, 1);
	return v;
}

/* Transparent huge pages of anonymous memory, of shmem (memfd, tmpfs) and of
 * files whose page cache holds them. */
static const char *const thp_fields[] = { "AnonHugePages", "ShmemPmdMapped", "FilePmdMapped", "KernelPageSize" };

static bool has_thp(const long *val)
{
	return val[0] > 0 || val[1] > 0 || val[2] > 0;
}

bool sva_vma_has_thp(uint64_t start)
{
	long val[4];

	smaps_fields(start, thp_fields, val, 4);
	return has_thp(val);
}

/*
 * Classify a cached VMA once: hugetlbfs (a name candidate confirmed by its
 * kernel page size: a memfd or file named "hugepages" is not), or transparent
 * huge pages (2 MiB or larger).  Without smaps, a candidate stays hugetlbfs.
 */
static void classify(struct sva_vma *v)
{
	bool big = v->end - v->start >= (2ull << 20);
	long val[4];

	if (!(v->prot & SVA_VMA_HUGETLB) && !big)
		return;
	switch (smaps_fields(v->start, thp_fields, val, 4)) {
	case SMAPS_READ:
		break;
	case SMAPS_NO_OPEN:
		/* Out of descriptors or memory for a moment: a later fault asks
		 * again, rather than this VMA keeping small fault windows (or a
		 * name's hugetlbfs guess) for as long as it keeps its bounds. */
		if (errno != EMFILE && errno != ENFILE && errno != ENOMEM && errno != EINTR && errno != EAGAIN)
			v->prot |= SVA_VMA_CHECKED;
		return;
	case SMAPS_PARTIAL:
		/* Half a VMA's fields decide nothing: left unclassified, the
		 * next fault asks again. */
		return;
	}
	if ((v->prot & SVA_VMA_HUGETLB) && val[3] > 0 && val[3] <= 4)
		v->prot &= ~SVA_VMA_HUGETLB;
	if (!(v->prot & SVA_VMA_HUGETLB) && big && has_thp(val))
		v->prot |= SVA_VMA_THP;
	v->prot |= SVA_VMA_CHECKED;
}

/*
 * The VMAs as last read, for the fault path: one cache for the process (every
 * address space mirrors the same process), refreshed when a fault disagrees
 * with it.  Reading /proc/self/maps, and smaps for the THP check, is the
 * dearest thing a fault can do, so VMAs that did not change keep their
 * classification across refreshes.
 */
static pthread_mutex_t cache_lock = PTHREAD_MUTEX_INITIALIZER;
static struct sva_vma *cache;
static size_t cache_n;
static unsigned cache_gen;	/* sva_vma_gen_word when the cache was read */
atomic_uint sva_vma_gen_word;	/* bumped by every coherence event */

/*
 * What the monitor saw go since the cache last looked: a ring it alone
 * writes, entry k at [k % GONE_RING], `gone_seq` entries written so far.  A
 * reader that fell more than a ring behind (or was overtaken while copying)
 * knows nothing of what went, and carries no classification.
 */
#define GONE_RING 64u
static struct {
	_Atomic uint64_t start, end;
} gone[GONE_RING];
static atomic_ulong gone_seq;
static unsigned long gone_seen; /* under cache_lock */

void sva_vma_note_gone(uint64_t start, uint64_t end)
{
	unsigned long s = atomic_load_explicit(&gone_seq, memory_order_relaxed);

	atomic_store_explicit(&gone[s % GONE_RING].start, start, memory_order_relaxed);
	atomic_store_explicit(&gone[s % GONE_RING].end, end, memory_order_relaxed);
	atomic_store_explicit(&gone_seq, s + 1, memory_order_release);
}

/*
 * A child of a process whose thread was refreshing the cache at the fork: the
 * lock is held by a thread the child does not have, and the cache may be half
 * read.  It starts with its lock free and reads the maps afresh (the half-read
 * copy stays allocated: the child cannot tell what of it is complete).
 */
static void child_after_fork(void)
{
	if (pthread_mutex_trylock(&cache_lock) == 0) {
		pthread_mutex_unlock(&cache_lock);
		return;
	}
	pthread_mutex_init(&cache_lock, NULL);
	cache = NULL;
	cache_n = 0;
	gone_seen = atomic_load(&gone_seq);
}

__attribute__((constructor)) static void vma_atfork(void)
{
	pthread_atfork(NULL, NULL, child_after_fork);
}

/* The ranges gone since the last call, into out[GONE_RING] (under
 * cache_lock); -1: more than the ring holds, so anything may have gone. */
static int gone_since(uint64_t out[][2])
{
	unsigned long now = atomic_load_explicit(&gone_seq, memory_order_acquire), from = gone_seen;
	int n = 0;

	gone_seen = now;
	if (now - from > GONE_RING)
		return -1;
	for (unsigned long k = from; k != now; k++, n++) {
		out[n][0] = atomic_load_explicit(&gone[k % GONE_RING].start, memory_order_relaxed);
		out[n][1] = atomic_load_explicit(&gone[k % GONE_RING].end, memory_order_relaxed);
	}
	/* Overtaken while copying: an entry read may be a newer one's half.
	 * gcc's ThreadSanitizer refuses fences (-Wtsan, an error with
	 * --enable-werror): there a release read-modify-write of the counter
	 * keeps the loads above before it, as the fence does. */
#ifdef __SANITIZE_THREAD__
	unsigned long again = atomic_fetch_add_explicit(&gone_seq, 0, memory_order_acq_rel);
#else
	atomic_thread_fence(memory_order_acquire);
	unsigned long again = atomic_load_explicit(&gone_seq, memory_order_relaxed);
#endif
	if (again - from > GONE_RING)
		return -1;
	return n;
}

static bool went(uint64_t (*g)[2], int n, uint64_t start, uint64_t end)
{
	if (n < 0)
		return true;
	for (int i = 0; i < n; i++)
		if (g[i][0] < end && start < g[i][1])
			return true;
	return false;
}

void sva_vma_cache_stale(void)
{
	atomic_fetch_add_explicit(&sva_vma_gen_word, 1, memory_order_release);
}


static struct sva_vma *cache_find(uint64_t addr)
{
	size_t lo = 0, hi = cache_n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (cache[mid].end <= addr)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < cache_n && cache[lo].start <= addr ? &cache[lo] : NULL;
}

static int cache_refresh(int maps_fd)
{
	struct sva_vma *fresh, *old;
	unsigned gen = sva_vma_gen(); /* before the read: an event during it re-reads next time */
	size_t n = 0;
	int ret = sva_vma_snapshot(maps_fd, &fresh, &n);

	if (ret)
		return ret;
	uint64_t g[GONE_RING][2];
	int ng = gone_since(g);

	for (size_t i = 0; i < n; i++) {
		old = cache_find(fresh[i].start);
		/* The same bounds, rights and backing (offset, device, inode,
		 * name): the same mapping, most likely.  Anonymous memory
		 * replaced by anonymous memory cannot be told apart (sva_bind(3),
		 * BUGS). */
		if (old && old->start == fresh[i].start && old->end == fresh[i].end && old->ident == fresh[i].ident &&
		    (old->prot & (7 | SVA_VMA_HUGETLB_NAME)) == (fresh[i].prot & (7 | SVA_VMA_HUGETLB_NAME)) &&
		    (old->prot & SVA_VMA_CHECKED) && !went(g, ng, fresh[i].start, fresh[i].end))
			fresh[i].prot = (fresh[i].prot & (7 | SVA_VMA_HUGETLB_NAME)) |
					(old->prot & (SVA_VMA_THP | SVA_VMA_HUGETLB | SVA_VMA_CHECKED));
	}
	sva_free(cache);
	cache = fresh;
	cache_n = n;
	cache_gen = gen;
	return 0;
}

/*
 * Is the page at addr unmapped now?  mincore() fails with ENOMEM for a page
 * no VMA covers (and for addresses beyond the user address space): one
 * system call where re-reading /proc/self/maps costs hundreds of
 * microseconds.  Mappings created since the cache was read (which no
 * coherence event reports) are mapped here, so they still force a re-read.
 */
static bool unmapped_now(uint64_t addr)
{
	uint64_t page = addr & ~4095ull;

	return !sva_vma_range_mapped(page, page + 4096);
}

bool sva_vma_range_mapped(uint64_t start, uint64_t end)
{
	unsigned char vec[1024]; /* a page per byte: 4 MiB per call, no allocation */

	for (uint64_t a = start & ~4095ull; a < end;) {
		uint64_t len = end - a < sizeof(vec) * 4096ull ? ((end - a + 4095) & ~4095ull) : sizeof(vec) * 4096ull;

		if (mincore((void *)(uintptr_t)a, len, vec) != 0 && errno == ENOMEM)
			return false;
		a += len;
	}
	return true;
}

#ifdef SVA_TEST_HOOKS
/* Tests only (libsva-test): how many times the cache was read from /proc/self/maps. */
atomic_uint sva_test_vma_reads;
/* Tests only: called as the cache is read, cache_lock held. */
void (*sva_test_vma_read_hook)(void);
#define COUNT_READ() (atomic_fetch_add(&sva_test_vma_reads, 1), sva_test_vma_read_hook ? sva_test_vma_read_hook() : (void)0)
#else
#define COUNT_READ() ((void)0)
#endif

int sva_vma_find(uint64_t addr, bool refresh, int maps_fd, struct sva_vma *out)
{
	struct sva_vma *v;
	int ret = 0;

	pthread_mutex_lock(&cache_lock);
	/* A re-read asked for because the cache has nothing at addr is wasted
	 * when nothing is there: repeated faults at a bad address stay cheap. */
	if (refresh && cache && cache_gen == sva_vma_gen() && !cache_find(addr) && unmapped_now(addr)) {
		pthread_mutex_unlock(&cache_lock);
		return -EFAULT;
	}
	/* Likewise a re-read asked for because the cached VMA refused the access
	 * (a guard page, a write to read-only memory): mprotect() sends no event,
	 * so ask the kernel about this one VMA; if it is as cached, the refusal
	 * stands without reading every mapping of the process. */
	if (refresh && cache && cache_gen == sva_vma_gen() && (v = cache_find(addr))) {
		struct sva_vma now;

		if (sva_vma_query_one(maps_fd, addr, &now) == 0 && now.start == v->start && now.end == v->end &&
		    now.prot == (v->prot & 7))
			refresh = false;
	}
	if (refresh || !cache || cache_gen != sva_vma_gen()) {
		COUNT_READ();
		ret = cache_refresh(maps_fd);
	}
	v = ret ? NULL : cache_find(addr);
	if (v && !(v->prot & SVA_VMA_CHECKED))
		classify(v);
	if (v)
		*out = *v;
	pthread_mutex_unlock(&cache_lock);
	return ret ? ret : v ? 0 : -EFAULT;
}
