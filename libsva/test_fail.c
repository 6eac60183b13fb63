/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The counter behind test_fail.h, in the libsva-test build only. */
#include <stdatomic.h>

#include "internal.h"

/* Points left before the one that fails; 0: disarmed. */
static atomic_int fail_nth;

bool sva_test_fail_point(void)
{
	int n = atomic_load(&fail_nth);

	/* Count down without a lock: threads that race here each take one step. */
	while (n > 0 && !atomic_compare_exchange_weak(&fail_nth, &n, n - 1))
		;
	return n == 1;
}

void sva_test_fail_nth(int n)
{
	atomic_store(&fail_nth, n > 0 ? n : 0);
}

int sva_test_fail_nth_left(void)
{
	return atomic_load(&fail_nth);
}

void (*sva_test_busy_window_hook)(void);
