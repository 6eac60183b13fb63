/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The library arena (arena.c): where every object libsva allocates lives, and
 * the stacks of its threads, so that no device can be given them.  Address
 * space is reserved up front (PROT_NONE) and committed piece by piece: an
 * address of the arena is the arena's for the life of the process, which is
 * what lets resolution refuse it without a race against a new allocation.
 * A leaf: it uses nothing else of the library.
 */
#ifndef LIBSVA_ARENA_H
#define LIBSVA_ARENA_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The C allocator's contract, on arena memory.  sva_free(NULL) is a no-op;
 * a pointer the arena did not hand out is passed to libc's free() (memory
 * libc allocated for us, as strdup() would).  Allocations over 2 KiB are whole
 * 64 KiB granules, zero-filled (lazily) when they come from sva_malloc(). */
/* Whether the first allocation could reserve the arena now: true once it is
 * reserved, else after a trial reservation given back at once.  For a call
 * that must fail for want of address space before anything else, yet reserve
 * nothing when it fails for another reason. */
bool sva_arena_room(void);
void *sva_malloc(size_t size);
/* Up to n objects of size bytes each under one lock, each freed on its own
 * with sva_free(): how many (0, errno ENOMEM, when not even one). */
size_t sva_malloc_many(size_t size, void **out, size_t n);
void *sva_calloc(size_t n, size_t size);
void *sva_realloc(void *p, size_t size);
void *sva_aligned_alloc(size_t align, size_t size);
char *sva_strdup(const char *s);
void sva_free(void *p);
/* For the log line of a failed allocation where the first one may be the
 * arena's reservation: what an address-space limit does to it. */
#define SVA_ARENA_ENOMEM                                                                              \
	"out of memory (or RLIMIT_AS, ulimit -v, leaves no room for the 1 GiB of address space libsva " \
	"reserves for its own memory)"

/* pthread_create() on a stack from the arena (a PROT_NONE guard page below
 * it), of the size a thread gets by default (256 KiB to 64 MiB), with every
 * signal blocked: the application's signals are not libsva's threads' to
 * receive (libsva(7)).  *stack gets
 * what to pass to sva_thread_stack_free() once the thread is joined.  0 or
 * -errno (-ENOMEM: no stack; never a stack outside the arena). */
int sva_thread_create(pthread_t *t, void *(*fn)(void *), void *arg, void **stack);
void sva_thread_stack_free(void *stack);

/*
 * The excluded set: the arena's reservations and the writable segments of
 * libsva's own image (when it is a shared object).  Lock-free: ranges are
 * only ever added.  sva_excluded() is true if addr is in it; sva_excluded_clip()
 * narrows [*ws, *we) (which holds addr, itself not excluded) to the part
 * around addr that touches none of it; sva_excluded_overlaps() is true if
 * [start, end) touches it.
 */
bool sva_excluded(uint64_t addr);
void sva_excluded_clip(uint64_t addr, uint64_t *ws, uint64_t *we);
bool sva_excluded_overlaps(uint64_t start, uint64_t end);

#ifdef SVA_TEST_HOOKS
/* The address (GRANULE-aligned) of the next reservation, if free: tests put
 * the arena inside the mock's window.  Used once. */
extern uint64_t sva_test_arena_at;
#endif

#endif /* LIBSVA_ARENA_H */
