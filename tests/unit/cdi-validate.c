/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Check a CDI spec (FILE, or stdin) against what the CDI JSON schema requires
 * (cncf-tags/container-device-interface, schema/schema.json and defs.json, and
 * SPEC.md's rules on versions, kinds and names): cdiVersion (semver), kind
 * (prefix/name), a non-empty devices array of {name, containerEdits} objects
 * with nothing else but annotations, deviceNodes with an absolute path,
 * mounts with hostPath and containerPath, env entries "NAME=VALUE", string
 * annotations.  Exit 0 if it passes; else 1 and the first reason on stderr.
 * Used by tests/unit/test-sva-info.sh.
 */
#include <ctype.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include <json-c/json.h>

static const char *why;

static bool fail(const char *reason)
{
	if (!why)
		why = reason;
	return false;
}

static bool is_type(struct json_object *o, json_type t)
{
	return o && json_object_is_type(o, t);
}

static struct json_object *get(struct json_object *o, const char *k)
{
	struct json_object *v = NULL;

	return json_object_object_get_ex(o, k, &v) ? v : NULL;
}

static bool only_keys(struct json_object *o, const char *const *keys)
{
	json_object_object_foreach(o, k, v)
	{
		bool known = false;

		(void)v;
		for (const char *const *p = keys; *p; p++)
			known |= !strcmp(k, *p);
		if (!known)
			return false;
	}
	return true;
}

static bool semver(const char *s)
{
	int parts = 0;

	while (*s) {
		if (!isdigit((unsigned char)*s))
			return false;
		while (isdigit((unsigned char)*s))
			s++;
		parts++;
		if (*s == '.')
			s++;
		else if (*s)
			return false;
	}
	return parts == 3;
}

/* Alphanumerics, and `extra` between them. */
static bool name_ok(const char *s, size_t len, const char *extra)
{
	if (!len || !isalnum((unsigned char)s[0]) || !isalnum((unsigned char)s[len - 1]))
		return false;
	for (size_t i = 0; i < len; i++)
		if (!isalnum((unsigned char)s[i]) && !strchr(extra, s[i]))
			return false;
	return true;
}

static bool kind_ok(const char *k)
{
	const char *slash = strchr(k, '/');

	if (!slash || strchr(slash + 1, '/') || slash == k || slash - k > 253 || strlen(slash + 1) > 63)
		return false;
	return name_ok(k, (size_t)(slash - k), "-.") && name_ok(slash + 1, strlen(slash + 1), "-_.");
}

static bool strings(struct json_object *a, bool env)
{
	if (!is_type(a, json_type_array))
		return false;
	for (size_t i = 0; i < json_object_array_length(a); i++) {
		struct json_object *s = json_object_array_get_idx(a, i);

		if (!is_type(s, json_type_string) || (env && !strchr(json_object_get_string(s), '=')))
			return false;
	}
	return true;
}

static bool annotations_ok(struct json_object *a)
{
	if (!a)
		return true;
	if (!is_type(a, json_type_object))
		return false;
	json_object_object_foreach(a, k, v)
	{
		(void)k;
		if (!is_type(v, json_type_string))
			return false;
	}
	return true;
}

static bool edits_ok(struct json_object *e)
{
	static const char *const keys[] = { "env", "deviceNodes", "mounts", "hooks", "netDevices", "intelRdt",
					    "additionalGids", NULL };
	struct json_object *v;

	if (!is_type(e, json_type_object))
		return fail("containerEdits is not an object");
	if (!only_keys(e, keys))
		return fail("containerEdits has an unknown field");
	if ((v = get(e, "env")) && !strings(v, true))
		return fail("env is not an array of NAME=VALUE strings");
	if ((v = get(e, "deviceNodes"))) {
		if (!is_type(v, json_type_array))
			return fail("deviceNodes is not an array");
		for (size_t i = 0; i < json_object_array_length(v); i++) {
			struct json_object *n = json_object_array_get_idx(v, i), *p = get(n, "path");

			if (!is_type(p, json_type_string) || json_object_get_string(p)[0] != '/')
				return fail("a deviceNode without an absolute path");
		}
	}
	if ((v = get(e, "mounts"))) {
		if (!is_type(v, json_type_array))
			return fail("mounts is not an array");
		for (size_t i = 0; i < json_object_array_length(v); i++) {
			struct json_object *m = json_object_array_get_idx(v, i), *o = get(m, "options");

			if (!is_type(get(m, "hostPath"), json_type_string) ||
			    !is_type(get(m, "containerPath"), json_type_string))
				return fail("a mount without hostPath and containerPath");
			if (o && !strings(o, false))
				return fail("mount options are not an array of strings");
		}
	}
	return true;
}

static bool spec_ok(struct json_object *d)
{
	static const char *const top[] = { "cdiVersion", "kind", "annotations", "devices", NULL };
	static const char *const dev[] = { "name", "annotations", "containerEdits", NULL };
	struct json_object *v = get(d, "cdiVersion"), *devs;

	if (!is_type(d, json_type_object))
		return fail("not a JSON object");
	if (!only_keys(d, top))
		return fail("an unknown top-level field");
	if (!is_type(v, json_type_string) || !semver(json_object_get_string(v)))
		return fail("cdiVersion missing or not MAJOR.MINOR.PATCH");
	v = get(d, "kind");
	if (!is_type(v, json_type_string) || !kind_ok(json_object_get_string(v)))
		return fail("kind missing or not PREFIX/NAME");
	if (!annotations_ok(get(d, "annotations")))
		return fail("annotations are not an object of strings");
	devs = get(d, "devices");
	if (!is_type(devs, json_type_array) || json_object_array_length(devs) == 0)
		return fail("devices missing or empty");
	for (size_t i = 0; i < json_object_array_length(devs); i++) {
		struct json_object *x = json_object_array_get_idx(devs, i), *n = get(x, "name");

		if (!is_type(x, json_type_object) || !only_keys(x, dev))
			return fail("a device is not an object of name, annotations, containerEdits");
		if (!is_type(n, json_type_string) || !name_ok(json_object_get_string(n),
							      strlen(json_object_get_string(n)), "-_."))
			return fail("a device name missing or not [A-Za-z0-9][A-Za-z0-9_.-]*[A-Za-z0-9]");
		if (!get(x, "containerEdits"))
			return fail("a device without containerEdits");
		if (!edits_ok(get(x, "containerEdits")) || !annotations_ok(get(x, "annotations")))
			return false;
	}
	return true;
}

int main(int argc, char **argv)
{
	struct json_object *d = argc > 1 ? json_object_from_file(argv[1]) : NULL;

	if (argc != 2) {
		fprintf(stderr, "usage: cdi-validate FILE\n");
		return 2;
	}
	if (!d) {
		fprintf(stderr, "cdi-validate: %s: not JSON\n", argv[1]);
		return 1;
	}
	if (!spec_ok(d)) {
		fprintf(stderr, "cdi-validate: %s: %s\n", argv[1], why ? why : "invalid");
		json_object_put(d);
		return 1;
	}
	json_object_put(d);
	return 0;
}
