/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * sva-info: the JSON report of the devices, and the json-c helpers the
 * doctor's JSON uses too.  json-c builds the document; these helpers add what
 * sva-info promises on top: unknown values are null, and bytes that are not
 * UTF-8 (sysfs names and paths are just bytes) become U+FFFD.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "sva-info.h"

/* A constructor returned NULL: the document is incomplete. */
static bool json_oom;

static struct json_object *noted(struct json_object *o)
{
	if (!o)
		json_oom = true;
	return o;
}

struct json_object *jv_str(const char *s)
{
	static const char fffd[] = "\xef\xbf\xbd";
	const unsigned char *p;
	struct json_object *o;
	size_t len = 0, n;
	char *buf, *q;

	if (!s || !*s)
		return NULL;
	/* json-c copies bytes as they are: replace what is not UTF-8 first. */
	for (p = (const unsigned char *)s; *p; p += n) {
		n = *p < 0x80 ? 1 : utf8_seq_len(p);
		len += n ? n : sizeof(fffd) - 1;
		n = n ? n : 1;
	}
	q = buf = malloc(len + 1);
	if (!buf) {
		json_oom = true;
		return NULL;
	}
	for (p = (const unsigned char *)s; *p; p += n) {
		n = *p < 0x80 ? 1 : utf8_seq_len(p);
		if (n) {
			memcpy(q, p, n);
			q += n;
		} else {
			memcpy(q, fffd, sizeof(fffd) - 1);
			q += sizeof(fffd) - 1;
			n = 1;
		}
	}
	*q = '\0';
	o = noted(json_object_new_string_len(buf, (int)len));
	free(buf);
	return o;
}

struct json_object *jv_int(long long v)
{
	return noted(json_object_new_int64(v));
}

struct json_object *jv_nonneg(long long v)
{
	return v >= 0 ? jv_int(v) : NULL;
}

struct json_object *jv_bool(bool v)
{
	return noted(json_object_new_boolean(v));
}

struct json_object *jv_obj(void)
{
	return noted(json_object_new_object());
}

struct json_object *jv_arr(void)
{
	return noted(json_object_new_array());
}

void jv_set(struct json_object *o, const char *key, struct json_object *val)
{
	if (!o || json_object_object_add(o, key, val)) {
		json_object_put(val);
		json_oom = true;
	}
}

void jv_push(struct json_object *a, struct json_object *val)
{
	if (!a || json_object_array_add(a, val)) {
		json_object_put(val);
		json_oom = true;
	}
}

struct json_object *jv_error(int err, const char *hint)
{
	struct json_object *e = jv_obj();

	jv_set(e, "errno", jv_int(-err));
	jv_set(e, "name", jv_str(errno_name(-err)));
	jv_set(e, "message", jv_str(strerror(-err)));
	jv_set(e, "hint", jv_str(hint));
	return e;
}

int jv_print(struct json_object *root)
{
	const char *text;

	if (!root || json_oom) {
		json_object_put(root);
		return -ENOMEM;
	}
	/* Two-space indentation, "key": value, and '/' left alone. */
	text = json_object_to_json_string_ext(root, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_SPACED |
							    JSON_C_TO_STRING_NOSLASHESCAPE);
	if (text)
		printf("%s\n", text);
	json_object_put(root);
	return text ? 0 : -ENOMEM;
}

static void jv_cap(void *arg, const char *name)
{
	jv_push(arg, jv_str(name));
}

static struct json_object *jv_device(const struct dev_rec *d)
{
	struct json_object *j = jv_obj(), *hw, *caps, *why;

	jv_set(j, "name", jv_str(d->name));
	jv_set(j, "path", jv_str(d->node));
	/* Only a node found (a character device or not) or found missing is known;
	 * stat(2) failing otherwise (EACCES, ELOOP, a name too long) says neither. */
	bool known = d->node_err == 0 || d->node_err == -ENOTTY || d->node_err == -ENOENT || d->node_err == -ENOTDIR;

	jv_set(j, "path_exists", known ? jv_bool(d->node_err == 0 || d->node_err == -ENOTTY) : NULL);
	jv_set(j, "path_is_chardev", known ? jv_bool(d->node_err == 0) : NULL);
	jv_set(j, "sysfs_path", jv_str(d->sysdev));
	jv_set(j, "bus", jv_str(d->bus));
	jv_set(j, "pci_addr", jv_str(d->pci));
	jv_set(j, "vendor_id", jv_str(d->vendor));
	jv_set(j, "device_id", jv_str(d->device));
	jv_set(j, "driver", jv_str(d->driver));
	jv_set(j, "iommu_group", jv_nonneg(d->iommu_group));
	jv_set(j, "numa_node", jv_nonneg(d->numa_node));
	if (d->hw == HW_OK) {
		hw = jv_obj();
		jv_set(hw, "dev_id", jv_int(d->info.dev_id));
		jv_set(hw, "iommu_type", jv_str(sva_iommu_type_name(d->info.iommu_type)));
		jv_set(hw, "iommu_type_id", jv_int(d->info.iommu_type));
		jv_set(hw, "max_pasid_log2", jv_int(d->info.max_pasid_log2));
		jv_set(hw, "hw_caps", jv_int((long long)d->info.hw_caps));
		caps = jv_arr();
		for_each_cap(d->info.hw_caps, jv_cap, caps);
		jv_set(hw, "hw_caps_names", caps);
		jv_set(hw, "numa_node", jv_nonneg(d->info.numa_node));
		jv_set(j, "hw_info", hw);
		jv_set(j, "hw_info_error", NULL);
		return j;
	}
	jv_set(j, "hw_info", NULL);
	why = jv_obj();
	switch (d->hw) {
	case HW_NO_IOMMUFD:
		jv_set(why, "reason", jv_str("no-iommufd"));
		jv_set(why, "message", jv_str("the iommufd cannot be opened"));
		break;
	case HW_NOT_OPENED:
		jv_set(why, "reason", jv_str("not-opened"));
		jv_set(why, "message", jv_str("not read (--no-open)"));
		break;
	default:
		jv_set(why, "reason", jv_str(d->hw == HW_OPEN_FAILED ? "open-failed" : "info-failed"));
		jv_set(why, "error", jv_error(d->hw_err, d->hw == HW_OPEN_FAILED ? dev_hint(d->hw_err) : NULL));
		break;
	}
	jv_set(j, "hw_info_error", why);
	return j;
}

int print_json(const struct options *o, const struct iommu_rec *im, const struct dev_rec *devs, int n)
{
	struct json_object *root = jv_obj(), *iommufd = jv_obj(), *list = jv_arr();

	jv_set(iommufd, "path", jv_str(im->path));
	jv_set(iommufd, "available", jv_bool(im->err == 0));
	jv_set(iommufd, "error", im->err ? jv_error(im->err, iommu_hint(im->err)) : NULL);
	jv_set(iommufd, "sysfs_root", jv_str(o->sysfs_root));
	jv_set(iommufd, "dev_root", jv_str(o->dev_root));
	jv_set(root, "iommufd", iommufd);
	for (int i = 0; i < n; i++)
		jv_push(list, jv_device(&devs[i]));
	jv_set(root, "devices", list);
	return jv_print(root);
}
