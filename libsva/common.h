/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Code the library and the tools share that is not API: PCI addresses and
 * sysfs attributes.  It lives in its own convenience library (libsva-common)
 * so a tool gets these few functions without the library's internals, and the
 * library hides them (they are built with hidden visibility).
 */
#ifndef LIBSVA_COMMON_H
#define LIBSVA_COMMON_H

#include <stddef.h>

/* --------------------------------------------------------------- pci_addr.c */

/* Parse "DDDD:BB:DD.F" (a domain of 1 to 6 digits) or "BB:DD.F" into the
 * canonical "dddd:bb:dd.f" (at least 4 domain digits, as sysfs names it; at
 * most 15 bytes + NUL).  Returns 0 or -EINVAL. */
int sva_pci_addr_parse(const char *in, char out[16]);

/* ------------------------------------------------------------- sysfs_attr.c */

/* Read the one-line attribute dir/name into buf, without its line end.
 * 0; -ENODATA if it is empty; -ENAMETOOLONG if the path does not fit; -errno. */
int sva_sysfs_read_attr(const char *dir, const char *name, char *buf, size_t len);
/* The last component of the target of the symlink dir/name ("vfio-pci" for a
 * driver link).  0; -ENAMETOOLONG if it is empty or does not fit; -errno. */
int sva_sysfs_link_base(const char *dir, const char *name, char *out, size_t len);

#endif /* LIBSVA_COMMON_H */
