/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Helper of ktest-secure-env (not a test itself): prints what libsva made of
 * its environment variables, and whether the process runs in secure mode
 * (AT_SECURE: setuid, setgid or file capabilities):
 *   secure=0|1 log=<level> lock=symmetric|asymmetric
 * Linked with an absolute RPATH to the VM's /lib/sva: a secure-mode
 * process ignores LD_LIBRARY_PATH, as it ignores SVA_*.
 */
#include <stdio.h>
#include <sys/auxv.h>

#include "internal.h"
#include "lock.h"

int main(void)
{
	printf("secure=%lu log=%s lock=%s\n", getauxval(AT_SECURE), sva_log_level_name(sva_log_env_level()),
	       sva_lock_mode() == SVA_LOCK_ASYMMETRIC ? "asymmetric" : "symmetric");
	return 0;
}
