/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The tools as their pages describe them, on a real iommufd: sva-info's
 * listing (sva-info(1), TEXT OUTPUT and JSON OUTPUT) of the iommufd and, on
 * the VT-d topologies, of edu bound to vfio-pci, opened and not (--no-open),
 * and held by another user (EBUSY: NOTES, and the iommufd-info check of
 * DOCTOR); the --doctor --json data of the checks only a real machine
 * reaches (iommufd passing, userfaultfd probed, iommufd-info of edu);
 * sva-demo --device by PCI address (sva-demo(1), OPTIONS); and one
 * short sva-bench budget and fault run each (sva-bench(1): --rounds 1 makes
 * every ratio's verdict unstable; --json members and types; --compare of a
 * run with itself); on mock, one more fault run with transparent huge pages
 * turned off (its 2 MiB figures skipped; about 4 s of the VM's time).
 * The VM packs the tools as helpers (+tools/sva-info, +tools/sva-demo,
 * +tools/sva-bench); each part is skipped where its tool is not packed.
 */
#include <json-c/json.h>

#include "ktest.h"

#define INFO "/tests/sva-info"
#define DEMO "/tests/sva-demo"
#define BENCH "/tests/sva-bench"
#define EDU_NODE "/dev/vfio/devices/vfio0"

static char out[1 << 17];

/* cmd's standard output in out; its exit status, or -1. */
static int run(const char *cmd)
{
	int rc = ktest_run_capture(cmd, out, sizeof(out));

	if (rc != 0 && rc != 3)
		diag("%s: exit %d: %.*s", cmd, rc, 2000, out);
	return rc;
}

static struct json_object *get(struct json_object *o, const char *key)
{
	struct json_object *v = NULL;

	return o && json_object_object_get_ex(o, key, &v) ? v : NULL;
}

static bool has(struct json_object *o, const char *key)
{
	return o && json_object_object_get_ex(o, key, NULL);
}

static bool is(struct json_object *o, const char *key, json_type t)
{
	return has(o, key) && json_object_is_type(get(o, key), t);
}

static bool is_str(struct json_object *o, const char *key, const char *want)
{
	return is(o, key, json_type_string) && !strcmp(json_object_get_string(get(o, key)), want);
}

/* The device of a sva-info --json listing named name, or NULL. */
static struct json_object *json_device(struct json_object *doc, const char *name)
{
	struct json_object *devs = get(doc, "devices");

	for (size_t i = 0; devs && i < json_object_array_length(devs); i++)
		if (is_str(json_object_array_get_idx(devs, i), "name", name))
			return json_object_array_get_idx(devs, i);
	return NULL;
}

/* The check id of device (NULL: machine-wide) in a --doctor --json document. */
static struct json_object *json_check(struct json_object *doc, const char *device, const char *id)
{
	struct json_object *checks = get(doc, "checks");

	for (size_t i = 0; checks && i < json_object_array_length(checks); i++) {
		struct json_object *c = json_object_array_get_idx(checks, i);
		bool dev_ok = device ? is_str(c, "device", device) : is(c, "device", json_type_null);

		if (dev_ok && is_str(c, "id", id))
			return c;
	}
	return NULL;
}

static void listing(bool edu)
{
	struct json_object *doc, *im, *d, *hw, *err;
	int rc;

	rc = run(INFO " 2>/dev/null");
	is_int(rc, 0, "sva-info exits 0");
	ok(!strncmp(out, "/dev/iommu: ok (iommufd)\n", 25), "its first line: /dev/iommu: ok (iommufd)");
	if (!edu) {
		ok(strstr(out, "\nno VFIO cdev devices found (is a device bound to vfio-pci? is "
			       "CONFIG_VFIO_DEVICE_CDEV set?)\n") != NULL,
		   "no VFIO device: the page's sentence");
	} else {
		ok(strstr(out, "\nvfio0\n  device node:    " EDU_NODE "\n") != NULL, "vfio0's block and its node");
		ok(strstr(out, "\n  vendor:device:  " EDU_VENDOR_STR ":" EDU_DEVICE_STR "\n") != NULL, "edu's vendor:device IDs");
		ok(strstr(out, "\n  driver:         vfio-pci\n") != NULL, "bound to vfio-pci");
		ok(strstr(out, "\n  iommu:          intel-vtd (type 0x1)\n") != NULL, "iommu: the type's name and number");
		ok(strstr(out, "\n  pasid width:    0 (no PASID support)\n") != NULL, "edu's PASID width: none");
		ok(strstr(out, "\n  iommufd dev id: ") != NULL, "the iommufd device ID");
		ok(strstr(out, "\n\n1 VFIO cdev device\n") != NULL, "the count, singular");
	}

	rc = run(INFO " --json 2>/dev/null");
	doc = json_tokener_parse(out);
	is_int(rc, 0, "sva-info --json exits 0");
	ok(doc && json_object_object_length(doc) == 2 && is(doc, "devices", json_type_array),
	   "--json: one object, iommufd and devices");
	im = get(doc, "iommufd");
	ok(is_str(im, "path", "/dev/iommu") && is(im, "available", json_type_boolean) &&
		   json_object_get_boolean(get(im, "available")) && is(im, "error", json_type_null) &&
		   is_str(im, "sysfs_root", "/sys") && is_str(im, "dev_root", "/dev"),
	   "--json: iommufd path, available true, error null, the roots");
	d = json_device(doc, "vfio0");
	if (edu) {
		hw = get(d, "hw_info");
		ok(is_str(d, "path", EDU_NODE) && json_object_get_boolean(get(d, "path_exists")) &&
			   json_object_get_boolean(get(d, "path_is_chardev")) && is_str(d, "bus", "pci") &&
			   is_str(d, "vendor_id", EDU_VENDOR_STR) && is_str(d, "device_id", EDU_DEVICE_STR) &&
			   is_str(d, "driver", "vfio-pci") && is(d, "iommu_group", json_type_int) &&
			   is(d, "sysfs_path", json_type_string) && is(d, "pci_addr", json_type_string),
		   "--json: vfio0's sysfs members and their types");
		ok(is(d, "hw_info", json_type_object) && is(d, "hw_info_error", json_type_null),
		   "--json: hw_info an object, hw_info_error null");
		ok(is(hw, "dev_id", json_type_int) && is_str(hw, "iommu_type", "intel-vtd") &&
			   is(hw, "iommu_type_id", json_type_int) && json_object_get_int(get(hw, "iommu_type_id")) == 1 &&
			   is(hw, "max_pasid_log2", json_type_int) && json_object_get_int(get(hw, "max_pasid_log2")) == 0 &&
			   is(hw, "hw_caps", json_type_int) && is(hw, "hw_caps_names", json_type_array) && has(hw, "numa_node"),
		   "--json: hw_info's members: dev_id, iommu_type, iommu_type_id, max_pasid_log2, hw_caps, "
		   "hw_caps_names, numa_node");
	} else {
		ok(is(doc, "devices", json_type_array) && json_object_array_length(get(doc, "devices")) == 0,
		   "--json: no device");
		skip(2, "no VFIO device on this topology");
	}
	json_object_put(doc);

	if (!edu) {
		skip(2, "--no-open: no VFIO device on this topology");
		return;
	}
	rc = run(INFO " --no-open --json 2>/dev/null");
	doc = json_tokener_parse(out);
	d = json_device(doc, "vfio0");
	err = get(d, "hw_info_error");
	ok(rc == 0 && json_object_get_boolean(get(get(doc, "iommufd"), "available")),
	   "--no-open --json: exit 0, the iommufd still opened");
	ok(is(d, "hw_info", json_type_null) && is_str(err, "reason", "not-opened") &&
		   is_str(err, "message", "not read (--no-open)") && !has(err, "error"),
	   "--no-open --json: hw_info null, hw_info_error not-opened with its message");
	json_object_put(doc);
}

/* The members of o, in order, are exactly the NULL-terminated keys. */
static bool members(struct json_object *o, const char *const *keys)
{
	size_t n = 0;

	if (!o || !json_object_is_type(o, json_type_object))
		return false;
	json_object_object_foreach(o, k, v) {
		(void)v;
		if (!keys[n] || strcmp(k, keys[n]) != 0)
			return false;
		n++;
	}
	return keys[n] == NULL;
}

/* sva-info(1), DOCTOR, --json, on a machine whose iommufd opens: the data
 * members of the checks that only a real machine reaches (iommufd passing,
 * userfaultfd probed in this /proc, iommufd-info of an opened device), and
 * the exit status the summary gives. */
static void doctor_json(bool edu)
{
	static const char *const iommufd_keys[] = { "path", NULL };
	static const char *const info_keys[] = { "iommu_type", "max_pasid_log2", "hw_caps", NULL };
	static const char *const memlock_tail[] = { "cap_ipc_lock", "recommended_bytes", "pin_budget_floor_bytes", NULL };
	struct json_object *doc, *c, *d, *s;
	int rc = run(INFO " --doctor --json 2>/dev/null");
	size_t n = 0;

	doc = json_tokener_parse(out);
	s = get(doc, "summary");
	ok(doc && (rc == 0 || rc == 3 || rc == 4) && is(s, "exit_status", json_type_int) &&
	   json_object_get_int(get(s, "exit_status")) == rc,
	   "--doctor --json: exit %d, the summary's exit_status", rc);
	ok(is_str(get(doc, "roots"), "proc_root", "/proc") && is_str(get(doc, "roots"), "iommu_path", "/dev/iommu"),
	   "--doctor --json: roots proc_root /proc, iommu_path /dev/iommu");
	c = json_check(doc, NULL, "iommufd");
	ok(is_str(c, "status", "pass") && members(get(c, "data"), iommufd_keys) &&
	   is_str(get(c, "data"), "path", "/dev/iommu"),
	   "--doctor --json: iommufd passes, data {path} only (error only when it fails): %s",
	   c ? json_object_to_json_string(get(c, "data")) : "absent");
	c = json_check(doc, NULL, "userfaultfd");
	d = get(c, "data");
	ok(c && is(d, "tracking", json_type_boolean) &&
	   (is_str(c, "status", "pass") ? json_object_get_boolean(get(d, "tracking")) && !has(d, "errno")
					: is_str(c, "status", "warn") && !json_object_get_boolean(get(d, "tracking"))),
	   "--doctor --json: userfaultfd probed in /proc: tracking true on a pass (no errno), false on a warning: %s %s",
	   c ? json_object_get_string(get(c, "status")) : "absent", d ? json_object_to_json_string(d) : "");
	c = json_check(doc, NULL, "memlock");
	d = get(c, "data");
	/* unlimited and limit_bytes lead when the limit was read. */
	if (d && has(d, "unlimited"))
		n = 2;
	{
		const char *const *want = memlock_tail;
		size_t k = 0, skipn = n;

		json_object_object_foreach(d, key, v) {
			(void)v;
			if (skipn) {
				skipn--;
				continue;
			}
			if (!want[k] || strcmp(key, want[k]) != 0)
				break;
			k++;
		}
		ok(want[k] == NULL && json_object_object_length(d) == (int)(n + 3) &&
		   json_object_get_int64(get(d, "recommended_bytes")) == 67108864 &&
		   json_object_get_int64(get(d, "pin_budget_floor_bytes")) == 524288 && is(d, "cap_ipc_lock", json_type_boolean),
		   "--doctor --json: memlock data ends cap_ipc_lock, recommended_bytes 67108864, pin_budget_floor_bytes 524288: %s",
		   d ? json_object_to_json_string(d) : "absent");
	}
	if (edu) {
		c = json_check(doc, "vfio0", "iommufd-info");
		d = get(c, "data");
		ok((is_str(c, "status", "pass") || is_str(c, "status", "warn")) && members(d, info_keys) &&
		   is_str(d, "iommu_type", "intel-vtd") && is(d, "max_pasid_log2", json_type_int) &&
		   json_object_get_int(get(d, "max_pasid_log2")) == 0 && is(d, "hw_caps", json_type_int),
		   "--doctor --json: edu's iommufd-info data {iommu_type intel-vtd, max_pasid_log2 0, hw_caps}: %s",
		   d ? json_object_to_json_string(d) : "absent");
	} else {
		skip(1, "iommufd-info data: no VFIO device on this topology");
	}
	json_object_put(doc);
}

/* sva-info(1), DOCTOR, EXIT STATUS: with --doctor "the status is the worst
 * result": 0 when every check passed or was skipped, 3 with a warning and no
 * failure.  Only a machine whose iommufd opens gets there (the unit tier's
 * always fails its iommufd check, status 4), so this is a fake machine in
 * sysfs, proc and dev trees around the real /dev/iommu: a platform device
 * (no PCI checks) behind a DMA group, not opened (--no-open, SKIP), and
 * userfaultfd not probed (a --proc-root that is not /proc, SKIP).  Then the
 * same with transparent huge pages off and none reserved: one WARN.  (That
 * --json's exit_status is the status, doctor_json() checks.) */
/* The last lines of s, where --doctor writes its count and verdict. */
static const char *tail(const char *s)
{
	size_t n = strlen(s);

	return n > 300 ? s + n - 300 : s;
}

static void doctor_status(void)
{
	static const char script[] =
		"set -e; T=$1; S=$T/sys P=$T/proc D=$T/dev; rm -rf \"$T\"\n"
		"mkdir -p $S/class/iommu/dmar0 $S/kernel/iommu_groups/7 $S/class/vfio-dev/vfio5 "
		"$S/devices/platform/foo.0 $S/bus/platform/drivers/vfio-platform $S/kernel/mm/transparent_hugepage "
		"$P/sys/kernel $P/sys/vm $P/self $D/vfio/devices\n"
		"echo DMA >$S/kernel/iommu_groups/7/type\n"
		"ln -s ../../../bus/platform/drivers/vfio-platform $S/devices/platform/foo.0/driver\n"
		"ln -s ../../../kernel/iommu_groups/7 $S/devices/platform/foo.0/iommu_group\n"
		"ln -s ../../../bus/platform $S/devices/platform/foo.0/subsystem\n"
		"ln -s ../../../devices/platform/foo.0 $S/class/vfio-dev/vfio5/device\n"
		"echo '[always] madvise never' >$S/kernel/mm/transparent_hugepage/enabled\n"
		"mknod $D/vfio/devices/vfio5 c 1 3\n"
		"echo root=/dev/vda >$P/cmdline\n"
		"printf 'processor\\t: 0\\nflags\\t\\t: fpu vme\\n' >$P/cpuinfo\n"
		"printf 'Hugepagesize:       2048 kB\\n' >$P/meminfo\n"
		"echo 7.0.0-fake >$P/sys/kernel/osrelease\n"
		"echo 0 >$P/sys/vm/nr_hugepages\n"
		"printf 'Name:\\tsva-info\\nCapEff:\\t0000000000000000\\n' >$P/self/status\n"
		"printf 'Max locked memory         unlimited            unlimited            bytes\\n' >$P/self/limits\n"
		"printf 'CONFIG_IOMMUFD=y\\nCONFIG_VFIO_DEVICE_CDEV=y\\n' >$T/config\n";
#define FAKE "/tmp/ktest-tools-doctor"
#define DOCTOR INFO " --doctor --no-open --sysfs-root=" FAKE "/sys --proc-root=" FAKE "/proc --dev-root=" FAKE \
		    "/dev --kernel-config=" FAKE "/config --iommu-path=/dev/iommu"
	FILE *f = fopen("/tmp/ktest-tools-doctor.sh", "w");
	int rc;

	if (!f || fputs(script, f) < 0 || fclose(f) != 0 || run("sh /tmp/ktest-tools-doctor.sh " FAKE " 2>&1") != 0) {
		diag("the fake machine could not be made: %s", out);
		skip(2, "no fake machine for --doctor's exit status");
		return;
	}
	rc = run(DOCTOR " 2>&1");
	ok(rc == 0 && strstr(out, "PASS  iommufd: ") && strstr(out, "\n9 passed, 0 warnings, 0 failed, 2 skipped: "),
	   "--doctor: every check passed or was skipped: exit 0 (got %d: ...%s)", rc, tail(out));
	/* Nothing to make SVA_MEM_HUGE or THP work: the hugepages warning. */
	if (run("echo 'always madvise [never]' >" FAKE "/sys/kernel/mm/transparent_hugepage/enabled") != 0) {
		skip(1, "the fake THP mode could not be written");
		return;
	}
	rc = run(DOCTOR " 2>&1");
	ok(rc == 3 && strstr(out, "WARN  hugepages: ") && strstr(out, "\n8 passed, 1 warning, 0 failed, 2 skipped: "),
	   "--doctor: a warning and no failure: exit 3 (got %d: ...%s)", rc, tail(out));
#undef DOCTOR
#undef FAKE
}

/* sva-info(1), TEXT OUTPUT and JSON OUTPUT: the capability names are
 * dirty-tracking, pasid-exec, pasid-priv and ats-not-supported for the
 * SVA_HW_CAP_* bits; the text's "hw caps:" line and hw_caps_names name the
 * bits of hw_caps (edu behind VT-d: no ATS). */
static void hw_caps_names(void)
{
	static const char *const names[] = { "dirty-tracking", "pasid-exec", "pasid-priv", "ats-not-supported" };
	char want[256] = "", line[300];
	struct json_object *doc, *hw, *arr;
	uint64_t caps;
	bool same = true;
	size_t n = 0;

	run(INFO " --json 2>/dev/null");
	doc = json_tokener_parse(out);
	hw = get(json_device(doc, "vfio0"), "hw_info");
	arr = get(hw, "hw_caps_names");
	caps = (uint64_t)json_object_get_int64(get(hw, "hw_caps"));
	for (unsigned int b = 0; b < 4; b++) {
		if (!(caps & (1ull << b)))
			continue;
		snprintf(want + strlen(want), sizeof(want) - strlen(want), "%s%s", n ? ", " : "", names[b]);
		if (!arr || n >= json_object_array_length(arr) ||
		    strcmp(json_object_get_string(json_object_array_get_idx(arr, n)), names[b]) != 0)
			same = false;
		n++;
	}
	if (caps >> 4) {
		diag("hw_caps 0x%llx", (unsigned long long)caps);
		skip(2, "hw_caps has bits without a name");
		json_object_put(doc);
		return;
	}
	ok(caps && (caps & SVA_HW_CAP_PCI_ATS_NOT_SUPPORTED) && same && arr && json_object_array_length(arr) == n,
	   "--json: hw_caps 0x%llx, hw_caps_names the names of its bits: %s", (unsigned long long)caps,
	   arr ? json_object_to_json_string(arr) : "absent");
	json_object_put(doc);
	run(INFO " 2>/dev/null");
	snprintf(line, sizeof(line), "\n  hw caps:        %s\n", want);
	ok(strstr(out, line) != NULL, "text: the hw caps line names the same bits (%s)", want);
}

/* sva-info(1), NOTES: a device in use by another process is reported with
 * EBUSY; DOCTOR: that iommufd-info is a warning, its data the errno's name. */
static void busy(void)
{
	struct sva_ctx *ctx = ktest_ctx();
	struct sva_dev *dev = NULL;
	struct json_object *doc, *d, *err, *c;
	int rc;

	if (sva_dev_open(ctx, EDU_NODE, &dev)) {
		skip(6, "cannot hold edu open here");
		sva_ctx_free(ctx);
		return;
	}
	rc = run(INFO " 2>/dev/null");
	ok(rc == 0 && strstr(out, "\n  hw info:        cannot open the device: Device or resource busy\n"),
	   "held by another process: the text names EBUSY's reason, exit 0 (got %d)", rc);
	rc = run(INFO " --json 2>/dev/null");
	doc = json_tokener_parse(out);
	d = json_device(doc, "vfio0");
	err = get(d, "hw_info_error");
	ok(rc == 0 && is(d, "hw_info", json_type_null) && is_str(err, "reason", "open-failed") && !has(err, "message"),
	   "--json: hw_info null, hw_info_error open-failed and no message");
	err = get(err, "error");
	ok(is(err, "errno", json_type_int) && json_object_get_int(get(err, "errno")) == EBUSY &&
		   is_str(err, "name", "EBUSY") && is(err, "message", json_type_string) && has(err, "hint"),
	   "--json: its error object: errno 16, name EBUSY, message, hint");
	json_object_put(doc);
	rc = run(INFO " --doctor 2>/dev/null");
	ok(rc == 3 && strstr(out, "\nWARN  vfio0 iommufd-info: "), "--doctor: EBUSY is a warning (exit %d)", rc);
	rc = run(INFO " --doctor --json 2>/dev/null");
	doc = json_tokener_parse(out);
	c = json_check(doc, "vfio0", "iommufd-info");
	ok(rc == 3 && is_str(c, "status", "warn") && is_str(get(c, "data"), "error", "EBUSY") &&
		   json_object_object_length(get(c, "data")) == 1,
	   "--doctor --json: iommufd-info warn, data only error \"EBUSY\"");
	json_object_put(doc);
	sva_dev_close(dev);
	rc = run(INFO " 2>/dev/null");
	ok(rc == 0 && strstr(out, "\n  iommu:          intel-vtd"), "released: sva-info opens it again");
	sva_ctx_free(ctx);
}

static void demo_by_pci_address(void)
{
	char pci[16], cmd[128];
	int rc;

	if (!ktest_find_pci(EDU_VENDOR, EDU_DEVICE, pci)) {
		skip(1, "no edu device");
		return;
	}
	snprintf(cmd, sizeof(cmd), DEMO " --device %s 2>&1", pci);
	rc = run(cmd);
	ok(rc == 0 && strstr(out, "\n== devices\n") && strstr(out, " at ") && strstr(out, "not with --device"),
	   "sva-demo --device %s (a PCI address): opens it, exit 0 (got %d)", pci, rc);
}

/* Every figure with a ratio: target a string or null, verdict "no target"
 * with a null one, the ratio's members, and with one round unstable. */
static void budget_figures(struct json_object *figs, int *n, int *bad)
{
	/* A run with no figures (or no document) has none to check: n stays 0. */
	if (!json_object_is_type(figs, json_type_object))
		return;
	json_object_object_foreach(figs, key, f)
	{
		struct json_object *r = get(f, "ratio");
		bool targeted = is(f, "target", json_type_string);
		const char *v = is(f, "verdict", json_type_string) ? json_object_get_string(get(f, "verdict")) : "";

		if (!is(f, "ratio", json_type_object))
			continue;
		(*n)++;
		if (!(targeted || is(f, "target", json_type_null)) || !is(r, "median", json_type_double) ||
		    !is(r, "min", json_type_double) || !is(r, "max", json_type_double) ||
		    !is(r, "halves", json_type_array) || !is(f, "rounds_met", json_type_int) ||
		    !is(f, "rounds", json_type_int) || strcmp(v, targeted ? "unstable" : "no target")) {
			diag("budget figure %s: %s", key, json_object_to_json_string(f));
			(*bad)++;
		}
	}
}

static void bench(void)
{
	struct json_object *doc, *b;
	int rc, n = 0, bad = 0;

	rc = run(BENCH " --rounds 1 --json budget 2>/dev/null >/tmp/ktest-tools-run1.json; echo $?");
	rc = atoi(out);
	doc = json_object_from_file("/tmp/ktest-tools-run1.json");
	b = get(doc, "budget");
	ok(rc == 0 && doc && json_object_object_length(doc) == 4 && is(doc, "pasid", json_type_null) &&
		   is(doc, "fault", json_type_null) && is(doc, "coherence", json_type_null) &&
		   is(doc, "budget", json_type_object) && !has(b, "skipped") && !has(b, "failed"),
	   "sva-bench --rounds 1 --json budget: exit 0 (got %d), the four members, the others null", rc);
	budget_figures(get(b, "figures") ? get(b, "figures") : b, &n, &bad);
	ok(n > 0 && bad == 0, "budget: %d figures, each with its ratio's members, target string or null, "
			      "and with one round every targeted verdict unstable (%d not)", n, bad);
	json_object_put(doc);
	rc = run(BENCH " --compare /tmp/ktest-tools-run1.json /tmp/ktest-tools-run1.json 2>&1");
	ok(rc == 1 && strstr(out, "target budget.") && strstr(out, "not a stable verdict"),
	   "--compare of a one-round run with itself: unstable verdicts do not agree, exit 1 (got %d)", rc);
	unlink("/tmp/ktest-tools-run1.json");
	rc = run(BENCH " --rounds 1 budget 2>/dev/null");
	ok(rc == 0 && strncmp(out, "bench-budget: 1 round on ", 25) == 0,
	   "sva-bench --rounds 1 budget: its header says '1 round', not '1 rounds' (got %d: %.80s)", rc, out);
}

/*
 * fault, as sva-bench(1) --json describes it: every figure with a ratio has
 * its members, its target a string and, with one round, the verdict unstable
 * (or, where the host could not measure it, is {"skipped": reason}); the
 * prefaulted job's count has the target "<= 0.00" and is met or missed, never
 * unstable.  (coherence, which keeps its 7 rounds whatever --rounds says,
 * would take minutes under TCG.)
 */
static void bench_fault(void)
{
	struct json_object *doc, *f, *pj;
	int rc, n = 0, bad = 0, skipped = 0;

#ifdef KTEST_TSAN
	/* The tools of this tier are ThreadSanitizer builds too, and the fault
	 * benchmark's shadow memory outgrows the VM's 1 GiB: the OOM killer
	 * took sva-bench (and the kernel warned as its iommufd went).  The JSON
	 * checked here is the same in every build; the gcc and ASan tiers run
	 * it. */
	skip(3, "sva-bench fault under ThreadSanitizer needs more memory than the VM has (OOM-killed); the "
		"gcc and ASan tiers check its --json");
	return;
#endif
	rc = run(BENCH " --rounds 1 --json fault 2>/dev/null >/tmp/ktest-tools-fault.json; echo $?");
	rc = atoi(out);
	doc = json_object_from_file("/tmp/ktest-tools-fault.json");
	f = get(doc, "fault");
	ok(rc == 0 && doc && json_object_object_length(doc) == 4 && is(doc, "pasid", json_type_null) &&
		   is(doc, "budget", json_type_null) && is(doc, "coherence", json_type_null) &&
		   is(doc, "fault", json_type_object) && !has(f, "skipped") && !has(f, "failed"),
	   "sva-bench --rounds 1 --json fault: exit 0 (got %d), the four members, the others null", rc);
	if (is(f, "rounds", json_type_int) && json_object_get_int(get(f, "rounds")) == 1) {
		json_object_object_foreach(f, key, fig)
		{
			if (!json_object_is_type(fig, json_type_object))
				continue;
			if (is(fig, "skipped", json_type_string) && json_object_object_length(fig) == 1) {
				skipped++;
				continue;
			}
			if (!has(fig, "ratio"))
				continue;
			n++;
			/* Each fault figure has a target (sva-bench(1), fault). */
			if (!is(fig, "target", json_type_string) || !is(get(fig, "ratio"), "median", json_type_double) ||
			    !is(get(fig, "ratio"), "min", json_type_double) ||
			    !is(get(fig, "ratio"), "max", json_type_double) ||
			    !is(get(fig, "ratio"), "halves", json_type_array) ||
			    json_object_array_length(get(get(fig, "ratio"), "halves")) != 2 ||
			    !is(fig, "rounds_met", json_type_int) || !is(fig, "rounds", json_type_int) ||
			    json_object_get_int(get(fig, "rounds")) != 1 || !is_str(fig, "verdict", "unstable")) {
				diag("fault figure %s: %s", key, json_object_to_json_string(fig));
				bad++;
			}
		}
	} else {
		bad++;
	}
	ok(n >= 5 && bad == 0,
	   "fault: %d figures (%d skipped here), each with its ratio's members and a target, every verdict "
	   "unstable with one round (%d not)",
	   n, skipped, bad);
	pj = get(f, "prefaulted_job");
	ok(is(pj, "faults", json_type_int) && is_str(pj, "target", "<= 0.00") &&
		   (is_str(pj, "verdict", "met") || is_str(pj, "verdict", "missed")) && !has(pj, "ratio"),
	   "fault: the prefaulted job's count, target \"<= 0.00\", met or missed even with one round (%s)",
	   pj ? json_object_to_json_string(pj) : "absent");
	json_object_put(doc);
	unlink("/tmp/ktest-tools-fault.json");

}

#define THP_MODE "/sys/kernel/mm/transparent_hugepage/enabled"

/* Write word to the sysfs file path: 0, or -1. */
static int write_word(const char *path, const char *word)
{
	FILE *f = fopen(path, "w");
	int bad;

	if (!f)
		return -1;
	bad = fputs(word, f) < 0;
	return fclose(f) || bad ? -1 : 0;
}

/*
 * sva-bench(1), --json: a figure this host cannot measure is {"skipped":
 * reason} instead, "fault's prefault and invalidate figures in 2 MiB pages
 * where the host has no transparent huge pages" (64 and 256 MiB: four
 * figures); the 4 KiB ones are still measured, and the run exits 0.  The VM
 * kernel has THP: its mode set to never makes it a host without them for
 * one run (mock only: the figures are the mock's on every topology).
 */
static void bench_fault_no_thp(void)
{
	struct json_object *doc, *f;
	char mode[128] = "", was[16] = "";
	int rc, skipped = 0, skipped_2m = 0, measured_4k = 0;
	int text_rc, text_skipped = 0, text_skipped_2m = 0, text_4k = 0;
	FILE *m = fopen(THP_MODE, "r");
	const char *b, *e;

#ifdef KTEST_TSAN
	/* As bench_fault(): under ThreadSanitizer the benchmark outgrows the VM. */
	skip(3, "sva-bench fault under ThreadSanitizer needs more memory than the VM has");
	if (m)
		fclose(m);
	return;
#endif
	if (m) {
		if (!fgets(mode, sizeof(mode), m))
			mode[0] = '\0';
		fclose(m);
	}
	b = strchr(mode, '[');
	e = b ? strchr(b, ']') : NULL;
	if (!e || e - b - 1 >= (int)sizeof(was)) {
		diag("%s: %s", THP_MODE, mode);
		skip(3, "no transparent huge pages to turn off here");
		return;
	}
	snprintf(was, sizeof(was), "%.*s", (int)(e - b - 1), b + 1);
	if (write_word(THP_MODE, "never")) {
		skip(3, "cannot set " THP_MODE " to never");
		return;
	}
	rc = run(BENCH " --rounds 1 --json fault 2>/dev/null >/tmp/ktest-tools-nothp.json; echo $?");
	rc = atoi(out);
	/* The text form of the same figures, THP still off: "what: skipped
	 * (reason)" (sva-bench(1), --json), one line each. */
	text_rc = run(BENCH " --rounds 1 fault 2>/dev/null");
	for (const char *l = out; l && *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL) {
		size_t len = strcspn(l, "\n");
		char line[256];

		snprintf(line, sizeof(line), "%.*s", (int)len, l);
		if (strstr(line, "skipped")) {
			text_skipped++;
			text_skipped_2m += (!strncmp(line, "  sva_mm_prefault, ", 19) ||
					    !strncmp(line, "  sva_mm_invalidate, ", 21)) &&
					   strstr(line, " MiB in 2 MiB pages: skipped (") && line[strlen(line) - 1] == ')';
		} else if (strstr(line, " MiB in 4 KiB pages: baseline ")) {
			text_4k++;
		}
	}
	if (write_word(THP_MODE, was))
		ktest_bail("cannot put %s back to %s", THP_MODE, was);
	doc = json_object_from_file("/tmp/ktest-tools-nothp.json");
	f = get(doc, "fault");
	ok(rc == 0 && is(doc, "fault", json_type_object) && !has(f, "skipped") && !has(f, "failed"),
	   "sva-bench --rounds 1 --json fault without transparent huge pages: the benchmark runs, exit 0 (got %d)", rc);
	json_object_object_foreach(f, key, fig)
	{
		bool pf = !strncmp(key, "prefault_", 9) || !strncmp(key, "invalidate_", 11);
		size_t kl = strlen(key);

		if (!json_object_is_type(fig, json_type_object))
			continue;
		if (is(fig, "skipped", json_type_string) && json_object_object_length(fig) == 1 &&
		    *json_object_get_string(get(fig, "skipped"))) {
			skipped++;
			skipped_2m += pf && kl > 3 && !strcmp(key + kl - 3, "_2M");
			diag("%s: %s", key, json_object_to_json_string(fig));
		} else if (pf && kl > 3 && !strcmp(key + kl - 3, "_4K") && has(fig, "ratio")) {
			measured_4k++;
		}
	}
	ok(skipped == 4 && skipped_2m == 4 && measured_4k == 4,
	   "  its prefault and invalidate figures in 2 MiB pages, and only those, are {\"skipped\": reason} (%d "
	   "skipped, %d of them 2 MiB ones); the four 4 KiB ones measured (%d)",
	   skipped, skipped_2m, measured_4k);
	ok(text_rc == 0 && text_skipped == 4 && text_skipped_2m == 4 && text_4k == 4,
	   "  in text, exit 0 (got %d): four lines \"sva_mm_prefault|sva_mm_invalidate, N MiB in 2 MiB pages: "
	   "skipped (reason)\", no other skipped (%d lines say skipped, %d of them so); the four 4 KiB ones "
	   "measured (%d)",
	   text_rc, text_skipped, text_skipped_2m, text_4k);
	if (text_skipped_2m != 4)
		diag("its output: %.2000s", out);
	json_object_put(doc);
	unlink("/tmp/ktest-tools-nothp.json");
}

int main(void)
{
	bool edu;

	ktest_require_iommufd();
	edu = access(EDU_NODE, F_OK) == 0;
	/* The VM's topologies but the mock have edu as vfio0 (run-vm.sh): its
	 * absence there fails once here, and the checks that need it skip. */
	if (getenv("SVA_VM") && *ktest_topology() && strcmp(ktest_topology(), "mock") != 0)
		ok(edu, "the %s topology has edu as %s", ktest_topology(), EDU_NODE);
	if (access(INFO, X_OK) == 0) {
		listing(edu);
		doctor_json(edu);
		doctor_status();
		if (edu)
			hw_caps_names();
		else
			skip(2, "hw caps: no VFIO device on this topology");
		if (edu)
			busy();
		else
			skip(6, "EBUSY: no VFIO device on this topology");
	} else {
		skip(1, INFO " is not packed");
	}
	if (access(DEMO, X_OK) == 0)
		demo_by_pci_address();
	else
		skip(1, DEMO " is not packed");
	if (access(BENCH, X_OK) == 0) {
		bench();
		bench_fault();
		if (!strcmp(ktest_topology(), "mock"))
			bench_fault_no_thp();
		else
			skip(3, "without THP: the mock topology runs it (the figures are the mock's)");
	} else {
		skip(10, BENCH " is not packed");
	}
	return done_testing();
}
