/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The user callbacks this thread is inside (callback.c). */
#ifndef LIBSVA_CALLBACK_H
#define LIBSVA_CALLBACK_H

#include <stdbool.h>

/* Run a user callback with this thread marked as inside it. */
enum sva_callback { SVA_CB_MM_EXIT, SVA_CB_FAULT_ERROR, SVA_CB_LOG };
void sva_callback_enter(enum sva_callback cb);
void sva_callback_leave(enum sva_callback cb);
/* Is this thread inside mm_exit or fault_error?  Calls that tear down or bind
 * refuse there (-EDEADLK): each could wait for itself. */
bool sva_in_callback(void);
/* Where such calls refuse, for their line: "an mm_exit or fault_error
 * callback", "a log callback" (also an atexit handler that exit() in one
 * runs), or NULL outside both. */
const char *sva_callback_refusing(void);
/* Inside fault_error, where the fault engine's lock is held: processing
 * faults refuses too. */
bool sva_in_fault_error(void);
/* Inside a log callback, which may run while libsva holds any of its locks:
 * nothing there waits for libsva (the exit destructors, a log's swap, the
 * calls sva_callback_refusing() names). */
bool sva_in_log_callback(void);
/* Either of the two, in one call (sva_ctx_process_faults() asks per call). */
bool sva_in_fault_error_or_log(void);
/* Inside a log callback that a line logged from another one called: a
 * callback that calls libsva for every line (which it must not) would
 * otherwise be re-entered by each refusal without end. */
bool sva_in_nested_log_callback(void);

#endif
