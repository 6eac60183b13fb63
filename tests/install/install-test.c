/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * A program built against an installed libsva, as a user builds one: only
 * <sva/sva.h> and what `pkg-config --cflags --libs libsva` says.  It needs no
 * IOMMU: it makes a standalone PASID space, allocates a PASID with driver data,
 * looks it up, frees and releases it.  It prints where libsva was loaded from
 * (from /proc/self/maps; "static" when linked statically), so the install test
 * can tell that it ran against the installed library.  Exit status 0 on
 * success.
 */
#include <stdio.h>
#include <string.h>

#include <sva/sva.h>

static int fail(const char *what, int ret)
{
	fprintf(stderr, "install-test: %s failed: %d (%s)\n", what, ret, ret < 0 ? strerror(-ret) : "?");
	return 1;
}

/* The path of the mapped libsva.so, or "static". */
static void print_libsva_path(void)
{
	char line[4096], *path;
	FILE *f = fopen("/proc/self/maps", "re");

	if (f) {
		while (fgets(line, sizeof(line), f)) {
			path = strchr(line, '/');
			if (path && strstr(path, "/libsva.so")) {
				path[strcspn(path, "\n")] = '\0';
				printf("libsva: %s\n", path);
				fclose(f);
				return;
			}
		}
		fclose(f);
	}
	printf("libsva: static\n");
}

int main(void)
{
	struct sva_pasid_space_opts opts = { .size = sizeof(opts), .min = 16, .max = 31 };
	struct sva_pasid_space *space;
	int marker = 42;
	void *drvdata = NULL;
	uint32_t pasid = 0;
	int ret;

	ret = sva_pasid_space_new(&opts, &space);
	if (ret)
		return fail("sva_pasid_space_new", ret);
	ret = sva_pasid_alloc(space, &marker, &pasid);
	if (ret)
		return fail("sva_pasid_alloc", ret);
	if (pasid < 16 || pasid > 31) {
		fprintf(stderr, "install-test: PASID %u is outside [16, 31]\n", pasid);
		return 1;
	}
	ret = sva_pasid_lookup(space, pasid, &drvdata);
	if (ret)
		return fail("sva_pasid_lookup", ret);
	if (drvdata != &marker) {
		fprintf(stderr, "install-test: the lookup returned the wrong driver data\n");
		return 1;
	}
	ret = sva_pasid_free(space, pasid);
	if (ret)
		return fail("sva_pasid_free", ret);
	ret = sva_pasid_release(space, pasid);
	if (ret)
		return fail("sva_pasid_release", ret);
	sva_pasid_space_free(space);

	printf("sva.h: %d.%d\n", SVA_VERSION_MAJOR, SVA_VERSION_MINOR);
	printf("pasid: %u\n", pasid);
	print_libsva_path();
	return 0;
}
