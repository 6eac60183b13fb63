/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* sva-info --doctor: the host's limits on SVA: RLIMIT_MEMLOCK and huge pages. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "doctor.h"

/* The RLIMIT_MEMLOCK below which prefaulted (pinned-mode) memory is likely to
 * run out, and fault-capable devices re-fault often under the pin budget. */
#define DOC_MEMLOCK_MIN (64ull << 20)
/* What the pin budget needs for a full batch of 64 random page requests, the
 * wider first windows of each bond's ramp included (libsva(7), Pin budget):
 * below it the last faults of a burst may be answered INVALID. */
#define DOC_BUDGET_FLOOR (512ull << 10)

/* "8 MiB", "1.5 GiB", "512 KiB", "100 bytes" */
static void fmt_size(char *buf, size_t len, unsigned long long v)
{
	static const char *const units[] = { "KiB", "MiB", "GiB", "TiB", "PiB" };
	unsigned long long unit = 1024, tenths;
	int u = 0;

	if (v < 1024) {
		snprintf(buf, len, "%llu bytes", v);
		return;
	}
	while (v / unit >= 1024 && u + 1 < (int)ARRAY_SIZE(units)) {
		unit *= 1024;
		u++;
	}
	/* Tenths rounded down, not to nearest: a limit a byte short of 512 KiB
	 * must not read "512.0 KiB" in a line saying it is below 512 KiB. */
	tenths = v / unit * 10 + v % unit * 10 / unit;
	if (v % unit == 0)
		snprintf(buf, len, "%llu %s", v / unit, units[u]);
	else
		snprintf(buf, len, "%llu.%llu %s", tenths / 10, tenths % 10, units[u]);
}


/* The soft RLIMIT_MEMLOCK: from PROC/self/limits, else getrlimit(). */
static int memlock_limit(const struct doctor *dr, unsigned long long *lim, bool *unlimited, const char **src)
{
	char path[PATH_MAX], buf[4096], *p;
	struct rlimit rl;

	if (join(path, sizeof(path), dr->o->proc_root, "self/limits") && read_small(path, buf, sizeof(buf)) > 0 &&
	    (p = strstr(buf, "Max locked memory")) != NULL) {
		p += strlen("Max locked memory");
		p += strspn(p, " \t");
		*src = "limits";
		if (strncmp(p, "unlimited", 9) == 0) {
			*unlimited = true;
			*lim = 0;
			return 0;
		}
		errno = 0;
		*lim = strtoull(p, NULL, 10);
		*unlimited = false;
		if (!errno)
			return 0;
	}
	*src = "getrlimit";
	if (getrlimit(RLIMIT_MEMLOCK, &rl))
		return -errno;
	*unlimited = rl.rlim_cur == RLIM_INFINITY;
	*lim = *unlimited ? 0 : (unsigned long long)rl.rlim_cur;
	return 0;
}

void check_memlock(struct doctor *dr)
{
	unsigned long long lim = 0;
	bool unlimited = false, ipc_lock = has_cap(dr, DOC_CAP_IPC_LOCK);
	const char *src = NULL;
	char size[32], need[32], floor[32];
	struct doc_check *c;
	int err = memlock_limit(dr, &lim, &unlimited, &src);

	fmt_size(size, sizeof(size), lim);
	fmt_size(need, sizeof(need), DOC_MEMLOCK_MIN);
	fmt_size(floor, sizeof(floor), DOC_BUDGET_FLOOR);
	if (err) {
		c = doc_add(dr, NULL, "memlock", DOC_WARN, "cannot read RLIMIT_MEMLOCK: %s", strerror(-err));
		doc_fix(dr, c, "check it with 'ulimit -l' in the driver's environment: 64 MiB or more is "
			       "comfortable");
	} else if (ipc_lock) {
		c = doc_add(dr, NULL, "memlock", DOC_PASS,
			    "CAP_IPC_LOCK: iommufd does not charge pinned pages to RLIMIT_MEMLOCK, so its value "
			    "(%s) does not limit SVA",
			    unlimited ? "unlimited" : size);
	} else if (unlimited) {
		c = doc_add(dr, NULL, "memlock", DOC_PASS, "RLIMIT_MEMLOCK is unlimited");
	} else if (lim >= DOC_MEMLOCK_MIN) {
		c = doc_add(dr, NULL, "memlock", DOC_PASS,
			    "RLIMIT_MEMLOCK is %s: SVA can pin up to that much (iommufd charges pinned pages "
			    "per user, with the user's other locked memory); it is each address space's default "
			    "pin budget, past which fault-mapped memory is evicted",
			    size);
	} else if (lim >= DOC_BUDGET_FLOOR) {
		c = doc_add(dr, NULL, "memlock", DOC_WARN,
			    "RLIMIT_MEMLOCK is %s and this process lacks CAP_IPC_LOCK: it is each address space's "
			    "default pin budget, so fault-capable devices keep working past it (cold memory is "
			    "evicted and faulted again, at a cost when their working set is larger) but prefaults "
			    "past %s fail (%s or more is comfortable)",
			    size, size, need);
	} else {
		c = doc_add(dr, NULL, "memlock", DOC_WARN,
			    "RLIMIT_MEMLOCK is %s and this process lacks CAP_IPC_LOCK: the default pin budget is "
			    "below %s, what a batch of 64 random page requests needs, so bursts of I/O "
			    "page faults may be answered INVALID, and prefaults past %s fail (%s or more is "
			    "comfortable)",
			    size, floor, size, need);
	}
	if (c && c->status == DOC_WARN && !err)
		doc_fix(dr, c,
			"raise it where the driver runs: 'ulimit -l unlimited' (or a size in KiB) in its shell, a "
			"memlock line in /etc/security/limits.conf, LimitMEMLOCK= for a systemd service, "
			"--ulimit memlock=-1 for a container; or give the driver CAP_IPC_LOCK");
	if (!c)
		return;
	if (!err) {
		doc_bool(c, "unlimited", unlimited);
		doc_int(c, "limit_bytes", unlimited ? -1 : (long long)lim);
	}
	doc_bool(c, "cap_ipc_lock", ipc_lock);
	doc_int(c, "recommended_bytes", (long long)DOC_MEMLOCK_MIN);
	doc_int(c, "pin_budget_floor_bytes", (long long)DOC_BUDGET_FLOOR);
}

/* The bracketed word of "always [madvise] never". */
static bool thp_mode(const struct doctor *dr, char *mode, size_t len)
{
	char buf[128], *a, *b;

	if (sva_sysfs_read_attr(dr->o->sysfs_root, "kernel/mm/transparent_hugepage/enabled", buf, sizeof(buf)))
		return false;
	a = strchr(buf, '[');
	b = a ? strchr(a, ']') : NULL;
	if (!b)
		return false;
	*b = '\0';
	snprintf(mode, len, "%s", a + 1);
	return true;
}

void check_hugepages(struct doctor *dr)
{
	char path[PATH_MAX], buf[4096], mode[32], *p;
	long nr = -1, free_pages = -1, size_kb = -1;
	bool have_thp = thp_mode(dr, mode, sizeof(mode));
	bool thp_on = have_thp && (!strcmp(mode, "always") || !strcmp(mode, "madvise"));
	char thp_text[64], tlb_text[192];
	struct doc_check *c;

	if (join(path, sizeof(path), dr->o->proc_root, "sys/vm/nr_hugepages") && read_small(path, buf, sizeof(buf)) > 0)
		nr = strtol(buf, NULL, 10);
	if (join(path, sizeof(path), dr->o->proc_root, "meminfo") && read_small(path, buf, sizeof(buf)) > 0) {
		if ((p = strstr(buf, "HugePages_Free:")) != NULL)
			free_pages = strtol(p + strlen("HugePages_Free:"), NULL, 10);
		if ((p = strstr(buf, "Hugepagesize:")) != NULL)
			size_kb = strtol(p + strlen("Hugepagesize:"), NULL, 10);
	}
	if (have_thp)
		snprintf(thp_text, sizeof(thp_text), "transparent huge pages: %s", mode);
	else
		snprintf(thp_text, sizeof(thp_text), "transparent huge pages: unknown");
	if (nr < 0)
		snprintf(tlb_text, sizeof(tlb_text), "hugetlb pages: unknown");
	else if (free_pages >= 0 && size_kb > 0)
		snprintf(tlb_text, sizeof(tlb_text), "hugetlb pages: %ld reserved, %ld free, %ld kB each", nr,
			 free_pages, size_kb);
	else
		snprintf(tlb_text, sizeof(tlb_text), "hugetlb pages: %ld reserved", nr);

	/*
	 * SVA_MEM_HUGE asks for the 2 MiB pool (MAP_HUGE_2MB).  With another
	 * default size (default_hugepagesz=1G), nr_hugepages counts that pool,
	 * which sva_mem_alloc() never uses: look at the 2 MiB one instead.
	 */
	long usable = nr;

	if (nr >= 0 && size_kb > 0 && size_kb != 2048) {
		char b2[32];

		usable = sva_sysfs_read_attr(dr->o->sysfs_root, "kernel/mm/hugepages/hugepages-2048kB/nr_hugepages", b2,
					     sizeof(b2))
				 ? 0
				 : strtol(b2, NULL, 10);
		size_t l = strlen(tlb_text);

		snprintf(tlb_text + l, sizeof(tlb_text) - l, ", %ld of 2048 kB (the size SVA_MEM_HUGE uses)", usable);
	}
	if (thp_on || usable > 0) {
		c = doc_add(dr, NULL, "hugepages", DOC_PASS, "%s; %s", thp_text, tlb_text);
	} else if (!have_thp && nr < 0) {
		c = doc_add(dr, NULL, "hugepages", DOC_WARN, "cannot tell whether huge pages are available (%s; %s)",
			    thp_text, tlb_text);
		doc_fix(dr, c, "make /sys/kernel/mm/transparent_hugepage and /proc/sys/vm/nr_hugepages readable "
			       "(under --sysfs-root and --proc-root) to have this checked");
	} else {
		c = doc_add(dr, NULL, "hugepages", DOC_WARN,
			    "no huge pages (%s; %s): every 4 KiB page of a buffer takes its own IOMMU mapping and "
			    "IOTLB entry",
			    thp_text, tlb_text);
		doc_fix(dr, c, "echo madvise > /sys/kernel/mm/transparent_hugepage/enabled, or reserve hugetlb "
			       "pages: %s",
			size_kb > 0 && size_kb != 2048
				? "echo N > /sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages"
				: "sysctl vm.nr_hugepages=N");
	}
	doc_str(dr, c, "thp", have_thp ? mode : NULL);
	doc_int(c, "nr_hugepages", nr);
	doc_int(c, "hugepage_kb", size_kb);
}
