/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * tools/option_error.h, the tools' one wording of a bad option: which long
 * options an abbreviation stands for (as getopt_long() decides it: aliases
 * are one option), and the line each error prints.
 */
#define _GNU_SOURCE
#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "../../tools/option_error.h"
#include "../tap.h"

enum { OPT_COLOUR = 256, OPT_COLUMN, OPT_LOOSE_A };

static const struct option longopts[] = {
	{ "colour", no_argument, NULL, OPT_COLOUR },
	{ "color", no_argument, NULL, OPT_COLOUR }, /* an alias: the same option */
	{ "column", required_argument, NULL, OPT_COLUMN },
	{ "verbose", no_argument, NULL, 'v' },
	{ "version", no_argument, NULL, 'V' },
	{ "check", no_argument, NULL, 'c' },
	{ "checker", no_argument, NULL, 'C' },
	{ "device", required_argument, NULL, 'd' },
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

	return done_testing();
}
