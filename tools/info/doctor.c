/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* sva-info --doctor: the check results, the verdict, the output, and the
 * helpers every check uses.  The checks themselves are in check_*.c. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1 /* vasprintf() */
#endif

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "doctor.h"

static const char *const doc_status_text[] = { "SKIP", "PASS", "WARN", "FAIL" };
static const char *const doc_status_json[] = { "skip", "pass", "warn", "fail" };

/* Exit statuses of --doctor (0 is also "every check passed or was skipped"). */
#define DOC_EXIT_WARN 3
#define DOC_EXIT_FAIL 4


static char *doc_vasprintf(struct doctor *dr, const char *fmt, va_list ap) SVA_PRINTF(2, 0);
static char *doc_vasprintf(struct doctor *dr, const char *fmt, va_list ap)
{
	char *s;

	if (vasprintf(&s, fmt, ap) < 0) {
		dr->oom = true;
		return NULL;
	}
	return s;
}

static char *doc_strdup(struct doctor *dr, const char *s)
{
	char *d = strdup(s);

	if (!d)
		dr->oom = true;
	return d;
}

/* Add a check result; the message is formatted.  Returns NULL out of memory. */
struct doc_check *doc_add(struct doctor *dr, const char *device, const char *id, enum doc_status st,
				 const char *fmt, ...)
{
	struct doc_check *c;
	va_list ap;

	if (dr->n == dr->cap) {
		size_t cap = dr->cap ? 2 * dr->cap : 32;
		struct doc_check *p = realloc(dr->checks, cap * sizeof(*p));

		if (!p) {
			dr->oom = true;
			return NULL;
		}
		dr->checks = p;
		dr->cap = cap;
	}
	c = &dr->checks[dr->n++];
	memset(c, 0, sizeof(*c));
	c->id = id;
	c->status = st;
	c->device = device ? doc_strdup(dr, device) : NULL;
	va_start(ap, fmt);
	c->msg = doc_vasprintf(dr, fmt, ap);
	va_end(ap);
	return c;
}

/* Set what to do about a check. */
void doc_fix(struct doctor *dr, struct doc_check *c, const char *fmt, ...)
{
	va_list ap;

	if (!c)
		return;
	free(c->fix);
	va_start(ap, fmt);
	c->fix = doc_vasprintf(dr, fmt, ap);
	va_end(ap);
}

static struct doc_datum *doc_datum(struct doc_check *c, const char *key, enum doc_type type)
{
	if (!c || c->ndata == DOC_MAX_DATA)
		return NULL;
	c->data[c->ndata] = (struct doc_datum){ .key = key, .type = type };
	return &c->data[c->ndata++];
}

void doc_str(struct doctor *dr, struct doc_check *c, const char *key, const char *val)
{
	struct doc_datum *d = doc_datum(c, key, DOC_STR);

	if (d && val)
		d->s = doc_strdup(dr, val);
}

void doc_int(struct doc_check *c, const char *key, long long val)
{
	struct doc_datum *d = doc_datum(c, key, DOC_INT);

	if (d)
		d->i = val;
}

void doc_bool(struct doc_check *c, const char *key, bool val)
{
	struct doc_datum *d = doc_datum(c, key, DOC_BOOL);

	if (d)
		d->i = val;
}

static void doc_free(struct doctor *dr)
{
	for (size_t i = 0; i < dr->n; i++) {
		struct doc_check *c = &dr->checks[i];

		free(c->device);
		free(c->msg);
		free(c->fix);
		for (int k = 0; k < c->ndata; k++)
			free(c->data[k].s);
	}
	free(dr->checks);
}


/* Read a small file whole (at most len - 1 bytes, NUL-terminated).  Returns the
 * length or a negative errno. */
ssize_t read_small(const char *path, char *buf, size_t len)
{
	size_t got = 0;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return -errno;
	while (got + 1 < len) {
		ssize_t r = read(fd, buf + got, len - 1 - got);

		if (r < 0) {
			if (errno == EINTR)
				continue;
			r = -errno;
			close(fd);
			return r;
		}
		if (r == 0)
			break;
		got += (size_t)r;
	}
	close(fd);
	buf[got] = '\0';
	return (ssize_t)got;
}

/* Append to the string in buf (of size len), cutting what does not fit. */
void append(char *buf, size_t len, const char *fmt, ...)
{
	size_t l = strlen(buf);
	va_list ap;

	if (l + 1 >= len)
		return;
	va_start(ap, fmt);
	vsnprintf(buf + l, len - l, fmt, ap);
	va_end(ap);
}

/* root/rel as a path, without the doubled slash of a root "/" or "/proc/";
 * false if it does not fit. */

/* CapEff from PROC/self/status. */
static void read_caps(struct doctor *dr)
{
	char path[PATH_MAX], buf[4096], *p;

	dr->caps_known = false;
	if (!join(path, sizeof(path), dr->o->proc_root, "self/status") || read_small(path, buf, sizeof(buf)) <= 0)
		return;
	if (strncmp(buf, "CapEff:", 7) == 0)
		p = buf + 7;
	else if ((p = strstr(buf, "\nCapEff:")) != NULL)
		p += 8;
	else
		return;
	errno = 0;
	dr->cap_eff = strtoull(p, NULL, 16);
	if (!errno)
		dr->caps_known = true;
}

bool has_cap(const struct doctor *dr, int cap)
{
	if (!dr->caps_known)
		return geteuid() == 0; /* root has every capability, as a rule */
	return dr->cap_eff >> cap & 1;
}



static enum doc_status doc_worst(const struct doctor *dr, int count[4])
{
	enum doc_status worst = DOC_SKIP;

	memset(count, 0, 4 * sizeof(count[0]));
	for (size_t i = 0; i < dr->n; i++) {
		count[dr->checks[i].status]++;
		if (dr->checks[i].status > worst)
			worst = dr->checks[i].status;
	}
	return worst;
}

static int doc_exit_status(enum doc_status worst)
{
	return worst == DOC_FAIL ? DOC_EXIT_FAIL : worst == DOC_WARN ? DOC_EXIT_WARN : 0;
}

static const char *doc_verdict(enum doc_status worst)
{
	switch (worst) {
	case DOC_FAIL:
		return "SVA cannot work on this machine yet: fix the FAIL lines first";
	case DOC_WARN:
		return "SVA can work here, with the limits the WARN lines name";
	default:
		return "ready for SVA";
	}
}

static void doc_print_text(const struct doctor *dr)
{
	int count[4];
	enum doc_status worst = doc_worst(dr, count);

	for (size_t i = 0; i < dr->n; i++) {
		const struct doc_check *c = &dr->checks[i];

		printf("%s  ", doc_status_text[c->status]);
		if (c->device) {
			put_text(c->device);
			putchar(' ');
		}
		printf("%s: ", c->id);
		put_text(c->msg ? c->msg : "");
		if (c->fix) {
			printf(". Fix: ");
			put_text(c->fix);
		}
		putchar('\n');
	}
	printf("\n%d passed, %d warning%s, %d failed, %d skipped: %s\n", count[DOC_PASS], count[DOC_WARN],
	       count[DOC_WARN] == 1 ? "" : "s", count[DOC_FAIL], count[DOC_SKIP], doc_verdict(worst));
}

static int doc_print_json(const struct doctor *dr, const struct iommu_rec *im)
{
	struct json_object *root = jv_obj(), *roots = jv_obj(), *checks = jv_arr(), *sum = jv_obj();
	int count[4];
	enum doc_status worst = doc_worst(dr, count);

	jv_set(roots, "sysfs_root", jv_str(dr->o->sysfs_root));
	jv_set(roots, "dev_root", jv_str(dr->o->dev_root));
	jv_set(roots, "proc_root", jv_str(dr->o->proc_root));
	jv_set(roots, "iommu_path", jv_str(im->path));
	/* The file read, whether given or found (null: none could be read). */
	jv_set(roots, "kernel_config", jv_str(dr->kconfig_src[0] ? dr->kconfig_src : NULL));
	jv_set(root, "roots", roots);
	for (size_t i = 0; i < dr->n; i++) {
		const struct doc_check *c = &dr->checks[i];
		struct json_object *jc = jv_obj(), *data = jv_obj();

		jv_set(jc, "id", jv_str(c->id));
		jv_set(jc, "device", jv_str(c->device));
		jv_set(jc, "status", jv_str(doc_status_json[c->status]));
		jv_set(jc, "message", jv_str(c->msg));
		jv_set(jc, "fix", jv_str(c->fix));
		for (int k = 0; k < c->ndata; k++) {
			const struct doc_datum *d = &c->data[k];

			if (d->type == DOC_STR)
				jv_set(data, d->key, jv_str(d->s));
			else if (d->type == DOC_BOOL)
				jv_set(data, d->key, jv_bool(d->i != 0));
			else
				jv_set(data, d->key, jv_int(d->i));
		}
		jv_set(jc, "data", data);
		jv_push(checks, jc);
	}
	jv_set(root, "checks", checks);
	jv_set(sum, "pass", jv_int(count[DOC_PASS]));
	jv_set(sum, "warn", jv_int(count[DOC_WARN]));
	jv_set(sum, "fail", jv_int(count[DOC_FAIL]));
	jv_set(sum, "skip", jv_int(count[DOC_SKIP]));
	jv_set(sum, "result", jv_str(doc_status_json[worst == DOC_SKIP ? DOC_PASS : worst]));
	jv_set(sum, "verdict", jv_str(doc_verdict(worst)));
	jv_set(sum, "exit_status", jv_int(doc_exit_status(worst)));
	jv_set(root, "summary", sum);
	return jv_print(root);
}

int run_doctor(const struct options *o, const struct iommu_rec *im, bool have_ctx, struct dev_rec *devs, int n)
{
	struct doctor dr = { .o = o };
	int count[4], ret;

	read_caps(&dr);
	check_kconfig(&dr);
	check_iommu(&dr);
	check_iommufd(&dr, im);
	check_devices(&dr, devs, n);
	for (int i = 0; i < n; i++)
		check_device(&dr, &devs[i], have_ctx);
	check_memlock(&dr);
	check_hugepages(&dr);
	check_userfaultfd(&dr);
	if (dr.oom || (o->json && doc_print_json(&dr, im))) {
		doc_free(&dr);
		fprintf(stderr, PROG ": out of memory\n");
		return 1;
	}
	if (!o->json)
		doc_print_text(&dr);
	ret = doc_exit_status(doc_worst(&dr, count));
	doc_free(&dr);
	return ret;
}

