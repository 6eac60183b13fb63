/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The tools' one wording of a bad option.  glibc's getopt_long() says
 * "unrecognized option '--x'" of a long option and "invalid option -- 'x'"
 * of a short one, and names the program by its path: each tool sets opterr
 * to 0, starts its short options with ':' and, when getopt_long() returns
 * '?' or ':', has this print one line instead:
 *
 *   PROG: unknown option '--frobnicate'       (or '-x')
 *   PROG: ambiguous option '--v' (--verbose, --version)
 *   PROG: option '--help=x' takes no argument
 *   PROG: option '--device' needs an argument (or '-d')
 *
 * The tool then prints its usage, or where to find it, and exits with 2.
 */
#ifndef SVA_TOOLS_OPTION_ERROR_H
#define SVA_TOOLS_OPTION_ERROR_H

#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

/* How many long options `arg` ("--NAME" or "--NAME=...") may stand for:
 * NAME itself or abbreviations of it; *first, the first such option.  As
 * getopt_long() decides: an exact name is never ambiguous, and names that
 * differ but mean the same (aliases: the same has_arg, flag and val) are one
 * option, so 1; else the number of names the abbreviation fits. */
static inline int option_matches(const struct option *longopts, const char *arg, const struct option **first)
{
	size_t len = strcspn(arg + 2, "=");
	int n = 0;
	bool alike = true;

	for (const struct option *o = longopts; o->name; o++) {
		if (strncmp(o->name, arg + 2, len) != 0)
			continue;
		if (strlen(o->name) == len) {
			*first = o;
			return 1;
		}
		if (!n++)
			*first = o;
		else if (o->has_arg != (*first)->has_arg || o->flag != (*first)->flag || o->val != (*first)->val)
			alike = false;
	}
	return alike && n ? 1 : n;
}

/*
 * After getopt_long() returned c, '?' or ':' (opterr 0, short options that
 * start with ':'): say what is wrong with the option on standard error.
 * argv[optind - 1] is the option only for a long one: a short one may sit
 * in a group ("-hd", "--help -xy"), so a short one is named by optopt.
 */
static inline void option_error(const char *prog, const struct option *longopts, int c, char *const *argv)
{
	const char *arg = argv[optind - 1];
	const struct option *o = NULL;
	bool is_long = strncmp(arg, "--", 2) == 0 && arg[2];
	int n = is_long ? option_matches(longopts, arg, &o) : 0;

	/* glibc reports "--help=x" by the option's val in optopt, as it does an
	 * unknown short option: the long one is told apart by its '=', and by
	 * naming an option without an argument whose val that is (else the
	 * error is a short option grouped after a long one: "--rounds=5 -rx"). */
	if (c == '?' && optopt &&
	    !(is_long && n == 1 && o->val == optopt && o->has_arg == no_argument && strchr(arg, '=')))
		is_long = false;
	if (c == ':' && is_long)
		fprintf(stderr, "%s: option '%.*s' needs an argument\n", prog, (int)strcspn(arg, "="), arg);
	else if (c == ':')
		fprintf(stderr, "%s: option '-%c' needs an argument\n", prog, optopt);
	else if (!is_long)
		fprintf(stderr, "%s: unknown option '-%c'\n", prog, optopt);
	else if (n == 1 && strchr(arg, '=') && o->has_arg == no_argument)
		fprintf(stderr, "%s: option '%s' takes no argument\n", prog, arg);
	else if (n > 1) {
		size_t len = strcspn(arg + 2, "=");
		const char *sep = " (";

		fprintf(stderr, "%s: ambiguous option '%.*s'", prog, (int)len + 2, arg);
		for (o = longopts; o->name; o++)
			if (!strncmp(o->name, arg + 2, len)) {
				fprintf(stderr, "%s--%s", sep, o->name);
				sep = ", ";
			}
		fprintf(stderr, ")\n");
	} else {
		fprintf(stderr, "%s: unknown option '%.*s'\n", prog, (int)strcspn(arg, "="), arg);
	}
}

#endif
