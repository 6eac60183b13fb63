/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* sva-brokerd's configuration file: one directive a line, '#' starts a comment. */
#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "broker.h"
#include "common.h"
#include "../number.h"

/* A device source in one of the forms sva_dev_open(3) takes: checked here, so
 * that --check refuses what the broker could never open. */
static bool source_form_ok(const char *s)
{
	char pci[16];

	if (!strcmp(s, "mock") || s[0] == '/' || sva_pci_addr_parse(s, pci) == 0)
		return true;
	if (strncmp(s, "vfio", 4) || !s[4])
		return false;
	for (const char *p = s + 4; *p; p++)
		if (*p < '0' || *p > '9')
			return false;
	return true;
}

void broker_conf_defaults(struct broker_conf *c)
{
	memset(c, 0, sizeof(*c));
	snprintf(c->socket, sizeof(c->socket), "%s", SVA_BROKER_DEFAULT_SOCKET);
	c->socket_mode = 0660;
	c->socket_gid = -1;
	c->pasids_per_client = 64;
	c->dev_pasids_per_client = 16;
	c->pasid_min = SVA_GLOBAL_PASID_MIN_DEFAULT;
	c->pasid_max = SVA_GLOBAL_PASID_MAX_DEFAULT;
	c->grace_ns = SVA_PASID_GRACE_DEFAULT_NS;
	c->max_clients = 64;
	c->isolated_pin_max = BROKER_PIN_MAX_DEFAULT;
}

__attribute__((format(printf, 5, 6))) static int bad(char *err, size_t len, const char *fname, unsigned line,
						     const char *fmt, ...)
{
	char msg[200];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	snprintf(err, len, "%s:%u: %s", fname, line, msg);
	return -EINVAL;
}

/* "unlimited" (0), or a whole number of bytes with an optional K, M, G or T
 * (powers of 1024), at least one page. */
static bool broker_conf_bytes(const char *s, uint64_t *out)
{
	static const char units[] = "KMGT";
	size_t len = strlen(s);
	const char *u;
	unsigned long long v;
	unsigned shift = 0;

	if (!strcmp(s, "unlimited")) {
		*out = 0;
		return true;
	}
	if (len && (u = strchr(units, s[len - 1])) != NULL) {
		shift = 10 * (unsigned)(u - units + 1);
		len--;
	}
	if (!tool_number_n(s, len, 10, UINT64_MAX >> shift, &v) || (v << shift) < 4096)
		return false;
	*out = v << shift;
	return true;
}

static struct broker_dev_conf *find_dev(struct broker_conf *c, const char *name)
{
	for (size_t i = 0; i < c->ndevs; i++)
		if (!strcmp(c->devs[i].name, name))
			return &c->devs[i];
	return NULL;
}

/* A user or group, by number or name.  -1: unknown; -2: a number past the
 * largest id, (uid_t)-1 being chown(2)'s "no change", not an id. */
static long long lookup_id(const char *s, bool group)
{
	unsigned long long v;

	if (tool_number(s, 10, UINT32_MAX - 1, &v))
		return (long long)v;
	if (*s && strspn(s, "0123456789") == strlen(s))
		return -2;
	if (group) {
		struct group *g = getgrnam(s);

		return g ? (long long)g->gr_gid : -1;
	}
	struct passwd *p = getpwnam(s);

	return p ? (long long)p->pw_uid : -1;
}

static int directive(struct broker_conf *c, char **w, int n, const char *f, unsigned ln, char *err, size_t el)
{
	unsigned long long v, v2;

	if (!strcmp(w[0], "socket") && n == 2) {
		if (w[1][0] != '/' || strlen(w[1]) >= sizeof(c->socket))
			return bad(err, el, f, ln, "socket: an absolute path of at most %zu bytes", sizeof(c->socket) - 1);
		snprintf(c->socket, sizeof(c->socket), "%s", w[1]);
	} else if (!strcmp(w[0], "socket-mode") && n == 2) {
		if (!tool_number(w[1], 8, 0777, &v))
			return bad(err, el, f, ln, "socket-mode: an octal mode such as 0660");
		c->socket_mode = (unsigned)v;
	} else if (!strcmp(w[0], "socket-group") && n == 2) {
		long long g = lookup_id(w[1], true);

		if (g == -2)
			return bad(err, el, f, ln, "socket-group: '%s' is not a group id: a number is at most %u", w[1],
				   UINT32_MAX - 1);
		if (g < 0)
			return bad(err, el, f, ln, "socket-group: no group '%s'", w[1]);
		c->socket_gid = (long)g;
	} else if (!strcmp(w[0], "pasids-per-client") && n == 2) {
		if (!tool_number(w[1], 10, SVA_PASID_MAX, &v) || v == 0)
			return bad(err, el, f, ln, "pasids-per-client: a number from 1 to %u", SVA_PASID_MAX);
		c->pasids_per_client = (uint32_t)v;
	} else if (!strcmp(w[0], "device-pasids-per-client") && n == 2) {
		if (!tool_number(w[1], 10, SVA_PASID_MAX, &v) || v == 0)
			return bad(err, el, f, ln, "device-pasids-per-client: a number from 1 to %u", SVA_PASID_MAX);
		c->dev_pasids_per_client = (uint32_t)v;
	} else if (!strcmp(w[0], "mm-exit") && (n == 3 || n == 4)) {
		struct broker_dev_conf *d = find_dev(c, w[1]);

		if (!d)
			return bad(err, el, f, ln, "mm-exit: no device '%s' defined above", w[1]);
		if (d->mm_exit[0])
			return bad(err, el, f, ln, "mm-exit: device '%s' has one already", w[1]);
		/* Run without a shell or $PATH: the administrator names the file. */
		if (w[2][0] != '/' || strlen(w[2]) >= sizeof(d->mm_exit))
			return bad(err, el, f, ln, "mm-exit: the program is an absolute path of at most %zu bytes",
				   sizeof(d->mm_exit) - 1);
		if (n == 4 && (!tool_number(w[3], 10, 600000, &v) || v == 0))
			return bad(err, el, f, ln, "mm-exit: the timeout is a number of milliseconds from 1 to 600000");
		snprintf(d->mm_exit, sizeof(d->mm_exit), "%s", w[2]);
		d->mm_exit_ms = n == 4 ? (unsigned)v : BROKER_MM_EXIT_MS;
	} else if (!strcmp(w[0], "pasids") && n == 3) {
		if (!tool_number(w[1], 10, SVA_PASID_MAX, &v) || !tool_number(w[2], 10, SVA_PASID_MAX, &v2) || v == 0 || v > v2)
			return bad(err, el, f, ln, "pasids: MIN MAX with 1 <= MIN <= MAX <= %u", SVA_PASID_MAX);
		c->pasid_min = (uint32_t)v;
		c->pasid_max = (uint32_t)v2;
	} else if (!strcmp(w[0], "grace-ms") && n == 2) {
		if (!tool_number(w[1], 10, UINT64_MAX / 1000000, &v))
			return bad(err, el, f, ln, "grace-ms: a number of milliseconds");
		c->grace_ns = v ? v * 1000000ull : UINT64_MAX; /* 0: until the broker restarts */
	} else if (!strcmp(w[0], "max-clients") && n == 2) {
		if (!tool_number(w[1], 10, 4096, &v) || v == 0)
			return bad(err, el, f, ln, "max-clients: a number from 1 to 4096");
		c->max_clients = (unsigned)v;
	} else if (!strcmp(w[0], "clients-per-user") && n == 2) {
		if (!strcmp(w[1], "unlimited"))
			v = 0;
		else if (!tool_number(w[1], 10, 4096, &v) || v == 0)
			return bad(err, el, f, ln, "clients-per-user: a number from 1 to 4096, or 'unlimited'");
		c->clients_per_user = (unsigned)v;
	} else if (!strcmp(w[0], "isolated-pin-max") && n == 2) {
		if (!broker_conf_bytes(w[1], &c->isolated_pin_max))
			return bad(err, el, f, ln, "isolated-pin-max: bytes (K, M, G, T suffixes), at least 4096, or "
				   "'unlimited'");
	} else if (!strcmp(w[0], "device") && n == 3) {
		struct broker_dev_conf *d;

		if (find_dev(c, w[1]))
			return bad(err, el, f, ln, "device '%s' is defined twice", w[1]);
		if (c->ndevs == BROKER_MAX_DEVS)
			return bad(err, el, f, ln, "more than %d devices", BROKER_MAX_DEVS);
		if (strlen(w[1]) >= sizeof(d->name) || strlen(w[2]) >= sizeof(d->source))
			return bad(err, el, f, ln, "device name or source too long");
		if (!source_form_ok(w[2]))
			return bad(err, el, f, ln,
				   "device %s: '%s' is not a device source: mock, a VFIO cdev path "
				   "(/dev/vfio/devices/vfioN), a cdev name (vfioN) or a PCI address (0000:41:00.0)",
				   w[1], w[2]);
		d = &c->devs[c->ndevs++];
		memset(d, 0, sizeof(*d));
		snprintf(d->name, sizeof(d->name), "%s", w[1]);
		snprintf(d->source, sizeof(d->source), "%s", w[2]);
	} else if (!strcmp(w[0], "allow") && n == 4) {
		struct broker_dev_conf *d = find_dev(c, w[1]);
		bool group = !strcmp(w[2], "gid") || !strcmp(w[2], "group");
		long long id;

		if (!d)
			return bad(err, el, f, ln, "allow: no device '%s' defined above", w[1]);
		/* A line with allow's four words is an allow line: a mistyped kind
		 * is named, not reported as an unknown directive. */
		if (!group && strcmp(w[2], "uid") && strcmp(w[2], "user"))
			return bad(err, el, f, ln, "allow: 'uid', 'gid', 'user' or 'group', not '%s'", w[2]);
		id = lookup_id(w[3], group);
		if (id == -2)
			return bad(err, el, f, ln, "allow: '%s' is not a %s id: a number is at most %u", w[3],
				   group ? "group" : "user", UINT32_MAX - 1);
		if (id < 0)
			return bad(err, el, f, ln, "allow: no %s '%s'", group ? "group" : "user", w[3]);
		/* The same id twice is one entry: it must not use up the list. */
		for (size_t i = 0; i < (group ? d->ngids : d->nuids); i++)
			if ((group ? d->gids[i] : d->uids[i]) == (uint32_t)id)
				return 0;
		if ((group ? d->ngids : d->nuids) == BROKER_MAX_ALLOW)
			return bad(err, el, f, ln, "allow: more than %d entries", BROKER_MAX_ALLOW);
		if (group)
			d->gids[d->ngids++] = (uint32_t)id;
		else
			d->uids[d->nuids++] = (uint32_t)id;
	} else if (!strcmp(w[0], "trust") && n == 3) {
		struct broker_dev_conf *d = find_dev(c, w[1]);

		if (!d)
			return bad(err, el, f, ln, "trust: no device '%s' defined above", w[1]);
		if (strcmp(w[2], "isolated") && strcmp(w[2], "any"))
			return bad(err, el, f, ln, "trust: 'isolated' or 'any', not '%s'", w[2]);
		/* A later "trust NAME any" must not quietly undo an isolation. */
		if (d->trust_given)
			return bad(err, el, f, ln, "trust: device '%s' has a trust line already", w[1]);
		d->trust_given = true;
		d->isolated_only = !strcmp(w[2], "isolated");
	} else {
		return bad(err, el, f, ln, "unknown directive or wrong number of words: '%s'", w[0]);
	}
	return 0;
}

/* The longest directive: the line without its comment and the blanks around
 * it (sva-brokerd(8), CONFIGURATION).  Comments are not kept, so any length. */
#define DIRECTIVE_MAX 510

static bool blank(int ch)
{
	return ch == ' ' || ch == '\t' || ch == '\r';
}

/* Line ln's directive into line[]: 1, or 0 at the end of the file, or an
 * error.  A byte at a time, so that a comment is skipped, never stored. */
static int read_directive(FILE *f, const char *fname, unsigned ln, char *line, char *err, size_t errlen)
{
	size_t len = 0, blanks = 0; /* blanks: after the text so far, not stored yet */
	bool comment = false, any = false;
	int ch;

	while ((ch = getc(f)) != EOF) {
		any = true;
		if (ch == '\n')
			break;
		if (ch == '\0')
			return bad(err, errlen, fname, ln, "the line contains a NUL byte");
		if (comment)
			continue;
		if (ch == '#') {
			comment = true;
		} else if (blank(ch)) {
			if (len)
				blanks++;
		} else {
			if (len + blanks + 1 > DIRECTIVE_MAX)
				return bad(err, errlen, fname, ln,
					   "directive longer than %d bytes (a comment may be longer)", DIRECTIVE_MAX);
			for (; blanks; blanks--)
				line[len++] = ' ';
			line[len++] = (char)ch;
		}
	}
	line[len] = '\0';
	return any;
}

int broker_conf_parse(FILE *f, const char *fname, struct broker_conf *c, char *err, size_t errlen)
{
	char line[DIRECTIVE_MAX + 1];
	unsigned ln = 0, size_ln = 0; /* size_ln: the last pasids or pasids-per-client line */
	int ret;

	while ((ret = read_directive(f, fname, ln + 1, line, err, errlen)) > 0) {
		char *w[8], *save = NULL;
		int n = 0;

		ln++;
		for (char *t = strtok_r(line, " ", &save); t; t = strtok_r(NULL, " ", &save)) {
			if (n == 8)
				return bad(err, errlen, fname, ln, "too many words");
			w[n++] = t;
		}
		if (n && directive(c, w, n, fname, ln, err, errlen))
			return -EINVAL;
		if (n && (!strcmp(w[0], "pasids") || !strcmp(w[0], "pasids-per-client")))
			size_ln = ln;
	}
	if (ret < 0)
		return ret;
	/* Known only at the end, but the line to fix is the later of the two
	 * (sva-brokerd(8): an error is reported as file:line:). */
	if (c->pasids_per_client > c->pasid_max - c->pasid_min + 1)
		return bad(err, errlen, fname, size_ln, "pasids-per-client %u is more than the %u PASIDs of [%u, %u]",
			   c->pasids_per_client, c->pasid_max - c->pasid_min + 1, c->pasid_min, c->pasid_max);
	return 0;
}

int broker_conf_load(const char *path, struct broker_conf *c, char *err, size_t errlen)
{
	FILE *f = fopen(path, "re");
	struct stat st;
	int ret;

	broker_conf_defaults(c);
	if (!f) {
		ret = -errno;
		snprintf(err, errlen, "cannot open %s: %s", path, strerror(errno));
		return ret;
	}
	/* fopen() opens a directory, and reading it fails: not an empty file. */
	if (fstat(fileno(f), &st) == 0 && S_ISDIR(st.st_mode)) {
		fclose(f);
		snprintf(err, errlen, "cannot open %s: %s", path, strerror(EISDIR));
		return -EISDIR;
	}
	ret = broker_conf_parse(f, path, c, err, errlen);
	if (!ret && ferror(f)) {
		ret = -EIO;
		snprintf(err, errlen, "cannot read %s", path);
	}
	fclose(f);
	return ret;
}
