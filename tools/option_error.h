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
 * and a bad value of an option that takes one, by option_nonempty(),
 * option_number() or option_bad_value():
 *
 *   PROG: option '--device' needs a non-empty argument   (or '-d')
 *   PROG: option '--rounds': '5x' is not a number
 *   PROG: option '--rounds': '0' must be between 1 and 1000
 *   PROG: option '--socket': 'a.sock' must be an absolute path ...
 *
 * Every usage error, these and the tool's own, then ends with one hint,
 * usage_hint()'s "Try 'PROG --help' for more information.", and the tool
 * exits with 2: the same last line in every tool (a tool's whole usage after
 * each error buried the line that said what was wrong).
 */
#ifndef SVA_TOOLS_OPTION_ERROR_H
#define SVA_TOOLS_OPTION_ERROR_H

#include <getopt.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "number.h"

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

/* The last line of every usage error; 2, the exit status of one. */
static inline int usage_hint(const char *prog)
{
	fprintf(stderr, "Try '%s --help' for more information.\n", prog);
	return 2;
}

/*
 * The option getopt_long() just returned c for, with its argument in optarg,
 * as the user named it, in buf: "--NAME" (in full, however abbreviated) or
 * "-c".  It is argv[optind - 1], or the word before when optarg is that
 * whole word ("--device X", "-d X"); else the argument is attached to it
 * ("--device=X", "-dX", "-hdX").
 */
static inline const char *option_name(const struct option *longopts, int c, char *const *argv, char *buf,
				      size_t len)
{
	const char *arg = argv[optind - 1] == optarg && optind >= 2 ? argv[optind - 2] : argv[optind - 1];
	const struct option *o = NULL;

	if (strncmp(arg, "--", 2) == 0 && arg[2] && option_matches(longopts, arg, &o) == 1)
		snprintf(buf, len, "--%s", o->name);
	else
		snprintf(buf, len, "-%c", c);
	return buf;
}

/*
 * "PROG: option '--NAME': 'VALUE' " and the reason, of the option
 * getopt_long() just returned c for (its value, optarg), then the hint;
 * returns 2.
 */
static inline int option_bad_value(const char *prog, const struct option *longopts, int c, char *const *argv,
				   const char *fmt, ...) __attribute__((format(printf, 5, 6)));
static inline int option_bad_value(const char *prog, const struct option *longopts, int c, char *const *argv,
				   const char *fmt, ...)
{
	char name[128];
	va_list ap;

	fprintf(stderr, "%s: option '%s': '%s' ", prog, option_name(longopts, c, argv, name, sizeof(name)), optarg);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	return usage_hint(prog);
}

/* 0 if optarg is not empty; else "PROG: option '--NAME' needs a non-empty
 * argument" (an empty name, root or path is none: a missing one, not ""
 * to open) and the hint, and 2. */
static inline int option_nonempty(const char *prog, const struct option *longopts, int c, char *const *argv)
{
	char name[128];

	if (*optarg)
		return 0;
	fprintf(stderr, "%s: option '%s' needs a non-empty argument\n", prog,
		option_name(longopts, c, argv, name, sizeof(name)));
	return usage_hint(prog);
}

/* 0 and optarg in *out if it is a number (tools/number.h: decimal digits
 * only) from min to max; else the error, empty, not a number or out of the
 * range (past 2^64-1 too: digits are a number, however many), and 2. */
static inline int option_number(const char *prog, const struct option *longopts, int c, char *const *argv,
				unsigned long long min, unsigned long long max, unsigned long long *out)
{
	unsigned long long v;

	if (option_nonempty(prog, longopts, c, argv))
		return 2;
	if (optarg[strspn(optarg, "0123456789")])
		return option_bad_value(prog, longopts, c, argv, "is not a number");
	if (!tool_number(optarg, 10, max, &v) || v < min)
		return option_bad_value(prog, longopts, c, argv, "must be between %llu and %llu", min, max);
	*out = v;
	return 0;
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
