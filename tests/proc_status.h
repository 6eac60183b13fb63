/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The one reader of /proc status files (VmSize, VmPin, Threads, a thread's
 * State) for the tests of both tiers, so that every test parses them the
 * same way: the unit tests include it as they include tap.h, the kernel
 * tests through tests/kernel/ktest_proc.h.  Needs nothing of libsva's.
 */
#ifndef SVA_TESTS_PROC_STATUS_H
#define SVA_TESTS_PROC_STATUS_H

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/*
 * The value of the line "key:" of a /proc status file, the blanks after the
 * colon and the newline cut, into out (len bytes): 0, or -errno (-ENOENT: no
 * such file, a thread gone; -ENODATA: no such line, a key mistyped or one
 * this kernel does not have), out then "".
 */
static inline int proc_status_text(const char *path, const char *key, char *out, size_t len)
{
	size_t klen = strlen(key);
	char line[256];
	int ret = -ENODATA;
	FILE *f;

	out[0] = '\0';
	f = fopen(path, "r");
	if (!f)
		return -errno;
	while (ret && fgets(line, sizeof(line), f)) {
		if (strncmp(line, key, klen) || line[klen] != ':')
			continue;
		snprintf(out, len, "%s", line + klen + 1 + strspn(line + klen + 1, " \t"));
		out[strcspn(out, "\n")] = '\0';
		ret = 0;
	}
	fclose(f);
	return ret;
}

/* The same line's value as a decimal number (VmSize in kB,
 * voluntary_ctxt_switches); -1 when there is none (no such file or line,
 * not a number). */
static inline long proc_status_num(const char *path, const char *key)
{
	char text[64], *end;
	long v;

	if (proc_status_text(path, key, text, sizeof(text)))
		return -1;
	v = strtol(text, &end, 10);
	return end == text ? -1 : v;
}

/* The process's address space now, in bytes (VmSize), or 0. */
static inline unsigned long long proc_vm_size(void)
{
	long kb = proc_status_num("/proc/self/status", "VmSize");

	return kb > 0 ? (unsigned long long)kb << 10 : 0;
}

/* A thread of this process's state letter ('R', 'S'...), '?' once it is
 * gone: how a test sees a thread asleep in a wait it cannot hook. */
static inline char proc_task_state(int tid)
{
	char path[64], st[32];

	snprintf(path, sizeof(path), "/proc/self/task/%d/status", tid);
	if (proc_status_text(path, "State", st, sizeof(st)) || !st[0])
		return '?';
	return st[0];
}

#endif
