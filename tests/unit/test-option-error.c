/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * tools/option_error.h, the tools' one wording of a bad option and of a bad
 * value: which long options an abbreviation stands for (as getopt_long()
 * decides it: aliases are one option), and the line each error prints.
 */
#define _GNU_SOURCE
#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "../../tools/option_error.h"
#include "../tap.h"

enum { OPT_COLOUR = 256, OPT_COLUMN, OPT_ROUNDS, OPT_LOOSE_A, OPT_LOOSE_B };

static const struct option longopts[] = {
	{ "colour", no_argument, NULL, OPT_COLOUR },
	{ "color", no_argument, NULL, OPT_COLOUR }, /* an alias: the same option */
	{ "column", required_argument, NULL, OPT_COLUMN },
	{ "verbose", no_argument, NULL, 'v' },
	{ "version", no_argument, NULL, 'V' },
	{ "check", no_argument, NULL, 'c' },
	{ "checker", no_argument, NULL, 'C' },
	{ "device", required_argument, NULL, 'd' },
	{ "rounds", required_argument, NULL, OPT_ROUNDS },
	/* The same val, but one takes an argument: two options, not aliases. */
	{ "loose", no_argument, NULL, OPT_LOOSE_A },
	{ "loosen", required_argument, NULL, OPT_LOOSE_A },
	{ "help", no_argument, NULL, 'h' },
	{ NULL, 0, NULL, 0 },
};

#define SHORTOPTS ":d:hvVcC"

/* getopt_long() over argv from its start; its first return. */
static int first_option(int argc, char **argv)
{
	optind = 0; /* glibc: start again, forgetting a group half read */
	opterr = 0;
	return getopt_long(argc, argv, SHORTOPTS, longopts, NULL);
}

/* What was written to f, its lines joined by " / " (one TAP line). */
static const char *captured(FILE *f, char *buf, size_t len)
{
	size_t n = 0;
	int ch;

	fflush(stderr);
	rewind(f);
	while ((ch = getc(f)) != EOF && n + 4 < len) {
		if (ch != '\n')
			buf[n++] = (char)ch;
		else if ((ch = getc(f)) != EOF) {
			memcpy(buf + n, " / ", 3);
			n += 3;
			ungetc(ch, f);
		}
	}
	buf[n] = '\0';
	return buf;
}

static FILE *err_file;
static int saved_err;

static void capture_start(void)
{
	fflush(stderr);
	err_file = tmpfile();
	if (!err_file)
		tap_bail("tmpfile failed");
	saved_err = dup(2);
	dup2(fileno(err_file), 2);
}

static const char *capture_end(char *buf, size_t len)
{
	const char *s = captured(err_file, buf, len);

	dup2(saved_err, 2);
	close(saved_err);
	fclose(err_file);
	return s;
}

/* option_matches() says "ambiguous" (more than 1) exactly when getopt_long()
 * refuses the word as one. */
static void matches(const char *arg, int want)
{
	char *argv[] = { (char *)"prog", (char *)arg, NULL };
	const struct option *o = NULL;
	int n = option_matches(longopts, arg, &o);
	int c = first_option(2, argv);

	is_int(n, want, "%s: %d long option%s", arg, want, want == 1 ? "" : "s");
	ok((n > 1) == (c == '?' && !optopt), "  getopt_long() agrees: %s (it returned %d, optopt %d)",
	   n > 1 ? "ambiguous" : "one option", c, optopt);
}

/* The line option_error() prints for argv, after getopt_long()'s first return. */
static void error_line(int argc, char **argv, const char *want)
{
	char buf[512];
	int c = first_option(argc, argv);

	capture_start();
	option_error("prog", longopts, c, argv);
	ok(!strcmp(capture_end(buf, sizeof(buf)), want), "%s: \"%s\" (got \"%s\")", argv[1], want, buf);
}

/* The lines a value check prints for argv: getopt_long() run until it
 * returns val, then check() on that option; its status 2 and the lines. */
static void value_lines(int argc, char **argv, int val, int number, const char *want)
{
	char buf[512], what[256] = "";
	unsigned long long n = 0;
	int c, rc = -1;

	optind = 0;
	opterr = 0;
	while ((c = getopt_long(argc, argv, SHORTOPTS, longopts, NULL)) != -1 && c != val)
		;
	for (int i = 1; i < argc; i++)
		snprintf(what + strlen(what), sizeof(what) - strlen(what), "%s'%s'", i > 1 ? " " : "", argv[i]);
	if (c != val) {
		ok(0, "%s: getopt_long() never returned %d", what, val);
		return;
	}
	capture_start();
	rc = number ? option_number("prog", longopts, c, argv, 1, 1000, &n) : option_nonempty("prog", longopts, c, argv);
	capture_end(buf, sizeof(buf));
	ok(rc == 2 && !strcmp(buf, want), "%s: status 2, \"%s\" (got %d, \"%s\")", what, want, rc, buf);
}

int main(void)
{
	char p[] = "prog";

	/* Aliases: getopt_long() takes "--colo" as --colour (glibc compares
	 * has_arg, flag and val), and the header said it was ambiguous. */
	matches("--colo", 1);
	matches("--colou", 1);
	matches("--color", 1);
	matches("--col", 3); /* column is another option */
	matches("--ver", 2);
	matches("--check", 1); /* exact, though checker starts with it */
	matches("--loos", 2);  /* one val, but has_arg differs */
	matches("--dev", 1);
	{
		char a1[] = "--colo=x";
		char *argv[] = { p, a1, NULL };

		error_line(2, argv, "prog: option '--colo=x' takes no argument");
	}
	{
		char a1[] = "--col";
		char *argv[] = { p, a1, NULL };

		error_line(2, argv, "prog: ambiguous option '--col' (--colour, --color, --column)");
	}
	{
		char a1[] = "--ver=1";
		char *argv[] = { p, a1, NULL };

		error_line(2, argv, "prog: ambiguous option '--ver' (--verbose, --version)");
	}

	/* Bad values: the option named as typed (a long one in full), the
	 * value quoted, and the hint last. */
	{
		char a1[] = "--dev", a2[] = "";
		char *argv[] = { p, a1, a2, NULL };

		value_lines(3, argv, 'd', 0,
			    "prog: option '--device' needs a non-empty argument / "
			    "Try 'prog --help' for more information.");
	}
	{
		char a1[] = "--device=";
		char *argv[] = { p, a1, NULL };

		value_lines(2, argv, 'd', 0,
			    "prog: option '--device' needs a non-empty argument / "
			    "Try 'prog --help' for more information.");
	}
	{
		char a1[] = "-hd", a2[] = "";
		char *argv[] = { p, a1, a2, NULL };

		value_lines(3, argv, 'd', 0,
			    "prog: option '-d' needs a non-empty argument / "
			    "Try 'prog --help' for more information.");
	}
	{
		/* The value spelled like the option: still named by the word before. */
		char a1[] = "-d", a2[] = "-d";
		char *argv[] = { p, a1, a2, NULL };

		value_lines(3, argv, 'd', 1,
			    "prog: option '-d': '-d' is not a number / "
			    "Try 'prog --help' for more information.");
	}
	{
		char a1[] = "--rou=5x";
		char *argv[] = { p, a1, NULL };

		value_lines(2, argv, OPT_ROUNDS, 1,
			    "prog: option '--rounds': '5x' is not a number / "
			    "Try 'prog --help' for more information.");
	}
	{
		char a1[] = "--rounds", a2[] = "-1";
		char *argv[] = { p, a1, a2, NULL };

		value_lines(3, argv, OPT_ROUNDS, 1,
			    "prog: option '--rounds': '-1' is not a number / "
			    "Try 'prog --help' for more information.");
	}
	{
		char a1[] = "--rounds=99999999999999999999";
		char *argv[] = { p, a1, NULL };

		value_lines(2, argv, OPT_ROUNDS, 1,
			    "prog: option '--rounds': '99999999999999999999' must be between 1 and 1000 / "
			    "Try 'prog --help' for more information.");
	}
	{
		char a1[] = "--rounds=0";
		char *argv[] = { p, a1, NULL };

		value_lines(2, argv, OPT_ROUNDS, 1,
			    "prog: option '--rounds': '0' must be between 1 and 1000 / "
			    "Try 'prog --help' for more information.");
	}
	{
		char a1[] = "--rounds=0100";
		char *argv[] = { p, a1, NULL };
		unsigned long long n = 0;
		int c;

		optind = 0;
		opterr = 0;
		c = getopt_long(2, argv, SHORTOPTS, longopts, NULL);
		c = c == OPT_ROUNDS ? option_number("prog", longopts, c, argv, 1, 1000, &n) : -1;
		ok(c == 0 && n == 100, "--rounds=0100: taken, 100 (got %d, %llu)", c, n);
	}
	return done_testing();
}
