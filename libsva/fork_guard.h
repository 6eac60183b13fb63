/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* What fork() waits for: no thread inside certain sections (fork_guard.c).  A leaf. */
#ifndef LIBSVA_FORK_GUARD_H
#define LIBSVA_FORK_GUARD_H

/* Around every critical section a forked child's cleanup may repeat (a
 * context's device list, a log's callback): many threads at once, nestable,
 * brief; waits only while a fork is under way. */
void sva_fork_guard_enter(void);
void sva_fork_guard_leave(void);

/* The fork handlers: blocks new sections and waits for those under way, held
 * across fork() and released on both sides (the child's way in the child), so
 * the child finds no such section half done. */
void sva_fork_guard_block(void);
void sva_fork_guard_unblock(void);
void sva_fork_guard_unblock_child(void);

/* First in the prepare handler: a fork on a thread that is inside a section
 * (from a signal handler that interrupted it) would wait for ever for its own
 * thread.  Says so on standard error and sleeps for good, signals open; on
 * its way in or out (may wait for ever), says so and returns. */
void sva_fork_guard_check_self(void);

#endif
