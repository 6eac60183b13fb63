/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Fork detection without a system call (fork.c).  A leaf: it uses nothing else. */
#ifndef LIBSVA_FORK_H
#define LIBSVA_FORK_H

/* Install the fork handler (once) and return the current generation: store it
 * in an object, and the object was made by another process iff it differs
 * from sva_fork_gen() later. */
unsigned sva_fork_gen_init(void);
unsigned sva_fork_gen(void);

#endif
