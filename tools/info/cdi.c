/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * sva-info --cdi: a Container Device Interface spec (the JSON podman,
 * containerd and CRI-O read from /etc/cdi or /var/run/cdi).  Two kinds of
 * device: "broker", which gives a container sva-brokerd's socket (many
 * containers share the device, each under PASIDs of its own), and one per
 * VFIO cdev, which gives a single-tenant container /dev/iommu and that cdev.
 * CDI cannot set an rlimit, so the memlock the container needs is stated in
 * the spec's annotations and the container's environment, for the runtime's
 * --ulimit memlock.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <json-c/json.h>

#include "sva-info.h"

/* 0.6.0 is the first CDI version with annotations. */
#define CDI_VERSION "0.6.0"
#define CDI_KIND "libsva/sva"
#define BROKER_DEFAULT_SOCKET "/run/sva-brokerd/socket"

static struct json_object *str_array(const char *const *v, size_t n)
{
	struct json_object *a = jv_arr();

	for (size_t i = 0; i < n; i++)
		jv_push(a, jv_str(v[i]));
	return a;
}

static struct json_object *device(const char *name, struct json_object *edits)
{
	struct json_object *d = jv_obj();

	jv_set(d, "name", jv_str(name));
	jv_set(d, "containerEdits", edits);
	return d;
}

static struct json_object *broker_device(const char *sock, const char *memlock_env)
{
	struct json_object *edits = jv_obj(), *mounts = jv_arr(), *m = jv_obj();
	static const char *const opts[] = { "bind", "rw" };
	char dir[PATH_MAX], env[PATH_MAX + 32];
	const char *envs[2] = { env, memlock_env };
	char *slash;

	/* The directory, not the socket file: a broker restarted makes a new socket. */
	snprintf(dir, sizeof(dir), "%s", sock);
	slash = strrchr(dir, '/');
	if (slash && slash != dir)
		*slash = '\0';
	snprintf(env, sizeof(env), "SVA_BROKER_SOCKET=%s", sock);
	jv_set(m, "hostPath", jv_str(dir));
	jv_set(m, "containerPath", jv_str(dir));
	jv_set(m, "options", str_array(opts, 2));
	jv_push(mounts, m);
	jv_set(edits, "env", str_array(envs, 2));
	jv_set(edits, "mounts", mounts);
	return device("broker", edits);
}

/* Does a broker listen at sock?  A socket file alone may be a dead broker's. */
static bool listening(const char *sock)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct stat st;
	bool yes;
	int fd;

	if (stat(sock, &st) || !S_ISSOCK(st.st_mode) || strlen(sock) >= sizeof(sa.sun_path))
		return false;
	memcpy(sa.sun_path, sock, strlen(sock) + 1);
	fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return false;
	yes = connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0;
	close(fd);
	return yes;
}

static struct json_object *node(const char *path, const char *host)
{
	struct json_object *n = jv_obj();

	jv_set(n, "path", jv_str(path));
	if (host && strcmp(host, path))
		jv_set(n, "hostPath", jv_str(host));
	jv_set(n, "permissions", jv_str("rw"));
	return n;
}

static struct json_object *cdev_device(const struct options *o, const struct dev_rec *d, const char *memlock_env)
{
	struct json_object *edits = jv_obj(), *nodes = jv_arr();
	char path[PATH_MAX], host[PATH_MAX], iommu[PATH_MAX], env[PATH_MAX + 16];
	const char *envs[2] = { env, memlock_env };

	snprintf(path, sizeof(path), "vfio/devices/%s", d->name);
	join(host, sizeof(host), o->dev_root, path);
	join(iommu, sizeof(iommu), o->dev_root, "iommu");
	snprintf(path, sizeof(path), "/dev/vfio/devices/%s", d->name);
	jv_push(nodes, node("/dev/iommu", o->iommu_path ? o->iommu_path : iommu));
	jv_push(nodes, node(path, host));
	snprintf(env, sizeof(env), "SVA_DEVICE=%s", path);
	jv_set(edits, "env", str_array(envs, 2));
	jv_set(edits, "deviceNodes", nodes);
	return device(d->name, edits);
}

/* A CDI device name: alphanumerics, '-', '_' and '.', starting and ending alphanumeric. */
static bool cdi_name_ok(const char *s)
{
	size_t n = strlen(s);

	if (!n)
		return false;
	for (size_t i = 0; i < n; i++) {
		bool alnum = (s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') || (s[i] >= '0' && s[i] <= '9');

		if (!alnum && ((i == 0 || i == n - 1) || !strchr("-_.", s[i])))
			return false;
	}
	return true;
}

int print_cdi(const struct options *o, const struct dev_rec *devs, int n)
{
	struct json_object *root = jv_obj(), *list = jv_arr(), *ann = jv_obj();
	const char *sock = o->broker_socket ? o->broker_socket : BROKER_DEFAULT_SOCKET;
	char memlock[32], memlock_env[48], hint[200];
	int ndev = 0;

	snprintf(memlock, sizeof(memlock), "%llu", o->memlock);
	snprintf(memlock_env, sizeof(memlock_env), "SVA_MEMLOCK=%s", memlock);
	snprintf(hint, sizeof(hint),
		 "run the container with --ulimit memlock=%s:%s: the memory it mirrors is pinned on its own "
		 "RLIMIT_MEMLOCK",
		 memlock, memlock);
	jv_set(root, "cdiVersion", jv_str(CDI_VERSION));
	jv_set(root, "kind", jv_str(CDI_KIND));
	jv_set(ann, "libsva/memlock", jv_str(memlock));
	jv_set(ann, "libsva/memlock-hint", jv_str(hint));
	jv_set(root, "annotations", ann);
	/* The broker's device when asked for, or when a broker is listening. */
	if (o->broker_socket || listening(sock)) {
		jv_push(list, broker_device(sock, memlock_env));
		ndev++;
	}
	for (int i = 0; i < n; i++) {
		/* Every cdev sysfs lists: the runtime checks the node when it injects it. */
		if (!cdi_name_ok(devs[i].name)) {
			fprintf(stderr, PROG ": --cdi: left out %s: not a valid CDI device name\n", devs[i].name);
			continue;
		}
		jv_push(list, cdev_device(o, &devs[i], memlock_env));
		ndev++;
	}
	jv_set(root, "devices", list);
	if (!ndev) {
		json_object_put(root);
		fprintf(stderr, PROG ": --cdi: no device to describe (no VFIO cdev, no broker at %s); a CDI spec "
				"needs at least one\n",
			sock);
		return -ENODEV;
	}
	return jv_print(root);
}
