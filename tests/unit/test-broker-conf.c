/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* sva-brokerd's configuration (tools/broker/config.c): directives, defaults,
 * and a clear file:line reason for every mistake. */
#define _GNU_SOURCE /* fmemopen */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "../../tools/broker/broker.h"
#include "../tap.h"

static int parse(const char *text, struct broker_conf *c, char *err, size_t len)
{
	FILE *f = fmemopen((void *)text, strlen(text), "r");
	int ret;

	if (!f)
		return -errno;
	broker_conf_defaults(c);
	err[0] = '\0';
	ret = broker_conf_parse(f, "t.conf", c, err, len);
	fclose(f);
	return ret;
}

static void refused(const char *text, const char *want, const char *what)
{
	struct broker_conf c;
	char err[300];

	is_int(parse(text, &c, err, sizeof(err)), -EINVAL, "%s: -EINVAL", what);
	ok(strstr(err, want) != NULL, "  saying so: %s", err);
}

int main(void)
{
	struct broker_conf c;
	char err[300];

	is_int(parse("", &c, err, sizeof(err)), 0, "an empty file is valid");
	ok(!strcmp(c.socket, "/run/sva-brokerd/socket") && c.socket_mode == 0660 && c.pasids_per_client == 64 &&
		   c.pasid_min == 256 && c.pasid_max == SVA_PASID_MAX && c.ndevs == 0 && c.socket_gid == -1,
	   "defaults: the socket, 0660, 64 PASIDs per client from [256, 2^20-1], no device");
	ok(c.isolated_pin_max == 1ull << 30, "default isolated-pin-max: 1 GiB");
	ok(c.max_clients == 64 && c.clients_per_user == 0, "default max-clients 64, clients-per-user no limit (0)");
	is_int(parse("# a comment\n"
		     "socket /tmp/b.sock   # trailing comment\n"
		     "socket-mode 0666\n"
		     "socket-group 0\n"
		     "pasids-per-client 8\n"
		     "pasids 100 163\n"
		     "grace-ms 0\n"
		     "max-clients 3\n"
		     "device acc0 0000:41:00.0\n"
		     "device m mock\n"
		     "allow acc0 uid 1000\n"
		     "allow acc0 gid 27\n"
		     "allow m user root\n"
		     "trust m isolated\n"
		     "trust acc0 any\n",
		     &c, err, sizeof(err)),
	       0, "every directive %s", err);
	ok(!strcmp(c.socket, "/tmp/b.sock") && c.socket_mode == 0666 && c.socket_gid == 0 && c.pasids_per_client == 8 &&
		   c.pasid_min == 100 && c.pasid_max == 163 && c.grace_ns == UINT64_MAX && c.max_clients == 3,
	   "their values (grace-ms 0: until restart)");
	ok(c.ndevs == 2 && !strcmp(c.devs[0].name, "acc0") && !strcmp(c.devs[0].source, "0000:41:00.0") &&
		   c.devs[0].nuids == 1 && c.devs[0].uids[0] == 1000 && c.devs[0].ngids == 1 && c.devs[0].gids[0] == 27 &&
		   !strcmp(c.devs[1].source, "mock") && c.devs[1].nuids == 1 && c.devs[1].uids[0] == 0,
	   "devices and their allowlists (names resolved)");
	ok(!c.devs[0].isolated_only && c.devs[1].isolated_only, "trust: any, isolated");

	is_int(parse("device a mock\n"
		     "device b mock\n"
		     "device-pasids-per-client 4\n"
		     "mm-exit a /usr/libexec/drain-a\n"
		     "mm-exit b /bin/true 250\n",
		     &c, err, sizeof(err)),
	       0, "device-pasids-per-client and mm-exit %s", err);
	ok(c.dev_pasids_per_client == 4 && !strcmp(c.devs[0].mm_exit, "/usr/libexec/drain-a") &&
		   c.devs[0].mm_exit_ms == BROKER_MM_EXIT_MS && !strcmp(c.devs[1].mm_exit, "/bin/true") &&
		   c.devs[1].mm_exit_ms == 250,
	   "their values (mm-exit's timeout defaults to %u ms)", BROKER_MM_EXIT_MS);
	parse("", &c, err, sizeof(err));
	ok(c.dev_pasids_per_client == 16, "device-pasids-per-client defaults to 16");
	refused("device-pasids-per-client 0\n", "device-pasids-per-client: a number", "no device PASIDs per client");
	refused("mm-exit a /bin/true\n", "mm-exit: no device 'a'", "mm-exit before its device");
	refused("device a mock\nmm-exit a drain.sh\n", "absolute path", "mm-exit: a relative program");
	refused("device a mock\nmm-exit a /bin/true 0\n", "from 1 to 600000", "mm-exit: a zero timeout");
	refused("device a mock\nmm-exit a /bin/true 600001\n", "from 1 to 600000", "mm-exit: a timeout too long");
	refused("device a mock\nmm-exit a /bin/true 5s\n", "milliseconds", "mm-exit: a timeout with a unit");
	refused("device a mock\nmm-exit a\n", "wrong number of words", "mm-exit without a program");
	refused("device a mock\nmm-exit a /bin/true\nmm-exit a /bin/false\n", "t.conf:3: mm-exit: device 'a' has one already",
		"mm-exit twice for one device");
	refused("device a mock\ntrust a isolated\ntrust a any\n", "t.conf:3: trust: device 'a' has a trust line already",
		"trust twice for one device (a later 'any' does not undo 'isolated')");
	refused("device a mock\ntrust a any\ntrust a any\n", "has a trust line already", "the same trust line twice");
	is_int(parse("device a mock\nallow a uid 7\nallow a uid 7\nallow a gid 7\nallow a group 7\n", &c, err, sizeof(err)), 0,
	       "an allow entry twice is accepted %s", err);
	ok(c.devs[0].nuids == 1 && c.devs[0].ngids == 1, "and counts once (%zu uids, %zu gids)", c.devs[0].nuids,
	   c.devs[0].ngids);
	refused("device a mock\nmm-exit a /bin/true 5 x\n", "wrong number of words", "mm-exit with a word too many");
	refused("frobnicate 1\n", "t.conf:1: unknown directive", "an unknown directive");
	refused("\nsocket relative\n", "t.conf:2: socket", "a relative socket path");
	refused("socket-mode 999\n", "octal", "a bad mode");
	refused("allow acc0 uid 1\n", "no device 'acc0'", "allow before its device");
	refused("device a mock\ndevice a mock\n", "defined twice", "a device twice");
	refused("device a mock\nallow a uid -1\n", "no user", "a negative uid");
	refused("device a mock\nallow a group no-such-group-here\n", "no group", "an unknown group");
	refused("socket-group no-such-group-here\n", "no group", "an unknown socket-group name");
	/* sva-brokerd(8): a number is taken as it is, known or not, as chown(1) does. */
	is_int(parse("socket-group 4000000000\ndevice a mock\nallow a gid 4000000001\nallow a uid 4000000002\n", &c, err,
		     sizeof(err)),
	       0, "numbers the system may not know %s", err);
	ok(c.socket_gid == 4000000000ll && c.devs[0].gids[0] == 4000000001u && c.devs[0].uids[0] == 4000000002u,
	   "  are taken as they are");
	refused("pasids 300 200\n", "pasids: MIN MAX", "an inverted range");
	refused("pasids 0 10\n", "pasids: MIN MAX", "PASID 0");
	refused("pasids 256 263\npasids-per-client 9\n", "more than the 8 PASIDs", "a block larger than the range");
	/* The line named is the one to fix, not the file's last (it was t.conf:5). */
	refused("pasids-per-client 9\npasids 256 263\n# more\n\nmax-clients 4\n", "t.conf:2: pasids-per-client 9 is more",
		"a block larger than the range: the later of the two lines named");
	refused("pasids 256 263\npasids-per-client 9\n# end\n", "t.conf:2: pasids-per-client 9 is more",
		"  ... either way round");
	refused("max-clients 0\n", "max-clients", "no clients");
	is_int(parse("clients-per-user 3\n", &c, err, sizeof(err)), 0, "clients-per-user 3 %s", err);
	ok(c.clients_per_user == 3, "  is 3");
	is_int(parse("clients-per-user 3\nclients-per-user unlimited\n", &c, err, sizeof(err)), 0,
	       "clients-per-user unlimited, the last one counting %s", err);
	ok(c.clients_per_user == 0, "  is no limit (0)");
	refused("clients-per-user 0\n", "clients-per-user: a number from 1 to 4096", "clients-per-user 0");
	refused("clients-per-user 4097\n", "clients-per-user: a number from 1 to 4096", "clients-per-user over 4096");
	refused("clients-per-user -1\n", "clients-per-user: a number from 1 to 4096", "a negative clients-per-user");
	refused("isolated-pin-max 4095\n", "isolated-pin-max: bytes", "a pin limit under one page");
	refused("isolated-pin-max 12X\n", "isolated-pin-max: bytes", "an unknown unit");
	refused("isolated-pin-max 16777216T\n", "isolated-pin-max: bytes", "a pin limit beyond 64 bits");
	refused("isolated-pin-max -1\n", "isolated-pin-max: bytes", "a negative pin limit");
	is_int(parse("isolated-pin-max 64K\n", &c, err, sizeof(err)), 0, "isolated-pin-max 64K %s", err);
	ok(c.isolated_pin_max == 65536, "  is 65536 bytes");
	is_int(parse("isolated-pin-max 3G\nisolated-pin-max 8192\n", &c, err, sizeof(err)), 0,
	       "isolated-pin-max in bytes, the last one counting %s", err);
	ok(c.isolated_pin_max == 8192, "  is 8192 bytes");
	is_int(parse("isolated-pin-max unlimited\n", &c, err, sizeof(err)), 0, "isolated-pin-max unlimited %s", err);
	ok(c.isolated_pin_max == 0, "  is no limit (0)");
	refused("device a mock\ntrust a paranoid\n", "'isolated' or 'any'", "an unknown trust mode");
	refused("trust a isolated\n", "no device 'a'", "trust before its device");
	refused("device a mock extra\n", "wrong number of words", "too many words");
	{
		char big[700];

		memset(big, 'x', sizeof(big) - 2);
		big[sizeof(big) - 2] = '\n';
		big[sizeof(big) - 1] = '\0';
		refused(big, "longer than", "an overlong line");
	}
	{
		/* A comment is not a directive: its length does not count (sva-brokerd(8)). */
		char text[1400];

		memset(text, 'y', sizeof(text));
		memcpy(text, "# ", 2);
		memcpy(text + 700, "\ndevice acc0 mock   # ", 22);
		memcpy(text + sizeof(text) - 2, "\n", 2);
		text[sizeof(text) - 1] = '\0';
		is_int(parse(text, &c, err, sizeof(err)), 0,
		       "a comment line and a trailing comment longer than 510 bytes %s", err);
		ok(c.ndevs == 1 && !strcmp(c.devs[0].source, "mock"), "  the directive before the long comment counts");
		text[700] = '\0';
		is_int(parse(text, &c, err, sizeof(err)), 0, "a long comment on the last line, without a newline %s",
		       err);
	}
	{
		/* The limit is on the directive's text, blanks around it and its comment aside. */
		char text[700];
		size_t n;

		memset(text, ' ', sizeof(text));
		memcpy(text + 100, "socket /", 8);
		memset(text + 108, 'd', 510 - 8);
		n = 100 + 510;
		memcpy(text + n + 50, "# x\n", 5);
		text[n + 55] = '\0';
		refused(text, "socket: an absolute path",
			"a 510-byte directive between blanks (read whole: the socket is too long)");
		text[n] = 'e';
		refused(text, "t.conf:1: directive longer than 510 bytes", "a 511-byte directive");
	}
	{
		static const char nul[] = "device acc0 mock\n# a comment\0 with a NUL\n";
		struct broker_conf cn;
		char e[300] = "";
		FILE *f = fmemopen((void *)nul, sizeof(nul) - 1, "r");

		broker_conf_defaults(&cn);
		is_int(f ? broker_conf_parse(f, "t.conf", &cn, e, sizeof(e)) : -errno, -EINVAL, "a NUL byte: -EINVAL");
		ok(strstr(e, "t.conf:2: the line contains a NUL byte") != NULL, "  saying so: %s", e);
		if (f)
			fclose(f);
	}
	{
		char many[BROKER_MAX_DEVS * 20 + 20] = "";

		for (int i = 0; i <= BROKER_MAX_DEVS; i++)
			snprintf(many + strlen(many), sizeof(many) - strlen(many), "device d%d mock\n", i);
		refused(many, "more than 16 devices", "too many devices");
	}
	/* sva-brokerd(8), CONFIGURATION: a number is digits only, leading zeros
	 * change nothing, and one past its range is refused, never wrapped.
	 * strtoull() took a '+' and a leading \v or \f. */
	refused("pasids-per-client +8\n", "pasids-per-client: a number", "pasids-per-client +8 (a sign)");
	refused("max-clients \v8\n", "max-clients: a number", "max-clients with a vertical tab before it");
	refused("grace-ms \f100\n", "grace-ms: a number", "grace-ms with a form feed before it");
	/* The blanks that separate words (spaces, tabs) are no part of the
	 * number: sva-brokerd(8) refuses only a vertical tab or form feed. */
	is_int(parse("max-clients \t  8\ngrace-ms\t\t100 \t\n", &c, err, sizeof(err)), 0,
	       "blanks between a directive and its number separate them %s", err);
	ok(c.max_clients == 8 && c.grace_ns == 100ull * 1000000ull, "  max-clients 8, grace-ms 100");
	refused("socket-mode +0660\n", "socket-mode: an octal mode", "socket-mode +0660 (a sign)");
	refused("pasids +256 1000\n", "pasids: MIN MAX", "pasids with a sign");
	refused("device a mock\nmm-exit a /bin/true +250\n", "mm-exit: the timeout", "an mm-exit timeout with a sign");
	refused("device a mock\nallow a uid +1000\n", "allow: no user '+1000'", "a uid with a sign (not a number: a name)");
	refused("clients-per-user +3\n", "clients-per-user: a number", "clients-per-user +3");
	refused("isolated-pin-max +64K\n", "isolated-pin-max: bytes", "isolated-pin-max with a sign");
	refused("max-clients 0x10\n", "max-clients: a number", "max-clients in hexadecimal");
	refused("grace-ms 18446744073709551616\n", "grace-ms: a number", "grace-ms past 64 bits");
	refused("grace-ms 18446744073710\n", "grace-ms: a number", "grace-ms past 2^64 ns");
	is_int(parse("max-clients 010\npasids 0256 01279\nsocket-mode 660\ngrace-ms 0018446744073709\n", &c, err,
		     sizeof(err)),
	       0, "leading zeros, and an octal mode without one %s", err);
	ok(c.max_clients == 10 && c.pasid_min == 256 && c.pasid_max == 1279 && c.socket_mode == 0660 &&
		   c.grace_ns == 18446744073709ull * 1000000ull,
	   "  are decimal (010 is ten), the mode octal; grace-ms's largest value");
	/* Leading zeros change nothing in a byte count either, however many: the
	 * unit was once split off in a 32-byte copy, which refused 28 zeros. */
	is_int(parse("isolated-pin-max 000000000000000000000000000000000000000064K\n", &c, err, sizeof(err)), 0,
	       "isolated-pin-max with 40 leading zeros %s", err);
	ok(c.isolated_pin_max == 64ull << 10, "  is 64K");
	is_int(parse("isolated-pin-max 00000000000000000000000000000000000008192\n", &c, err, sizeof(err)), 0,
	       "isolated-pin-max in bytes with 35 leading zeros %s", err);
	ok(c.isolated_pin_max == 8192, "  is 8192");
	refused("isolated-pin-max K\n", "isolated-pin-max: bytes", "a unit without a number");
	refused("isolated-pin-max 64KK\n", "isolated-pin-max: bytes", "two units");
	/* Every limit sva-brokerd(8) gives, at its value (taken) and one past it
	 * (a configuration error, never cut down). */
	{
		char text[1200], name[70], src[300], prog[300];
		size_t i;

		memset(name, 'n', 63);
		name[63] = '\0';
		memset(src, 's', 255);
		src[0] = '/';
		src[255] = '\0';
		snprintf(text, sizeof(text), "device %s %s\n", name, src);
		is_int(parse(text, &c, err, sizeof(err)), 0, "device: a 63-byte name and a 255-byte source %s", err);
		ok(c.ndevs == 1 && strlen(c.devs[0].name) == 63 && strlen(c.devs[0].source) == 255, "  kept whole");
		name[63] = 'n';
		name[64] = '\0';
		snprintf(text, sizeof(text), "device %s mock\n", name);
		refused(text, "t.conf:1: device name or source too long", "device: a 64-byte name");
		src[255] = 's';
		src[256] = '\0';
		snprintf(text, sizeof(text), "device d %s\n", src);
		refused(text, "t.conf:1: device name or source too long", "device: a 256-byte source");

		memset(prog, 'p', 255);
		prog[0] = '/';
		prog[255] = '\0';
		snprintf(text, sizeof(text), "device d mock\nmm-exit d %s 600000\n", prog);
		is_int(parse(text, &c, err, sizeof(err)), 0, "mm-exit: a 255-byte program, timeout 600000 %s", err);
		ok(strlen(c.devs[0].mm_exit) == 255 && c.devs[0].mm_exit_ms == 600000, "  kept whole");
		prog[255] = 'p';
		prog[256] = '\0';
		snprintf(text, sizeof(text), "device d mock\nmm-exit d %s\n", prog);
		refused(text, "t.conf:2: mm-exit: the program is an absolute path of at most 255 bytes",
			"mm-exit: a 256-byte program");

		memset(prog, 'k', 107);
		prog[0] = '/';
		prog[107] = '\0';
		snprintf(text, sizeof(text), "socket %s\n", prog);
		is_int(parse(text, &c, err, sizeof(err)), 0, "socket: a 107-byte path %s", err);
		ok(strlen(c.socket) == 107, "  kept whole");
		prog[107] = 'k';
		prog[108] = '\0';
		snprintf(text, sizeof(text), "socket %s\n", prog);
		refused(text, "t.conf:1: socket: an absolute path of at most 107 bytes", "socket: a 108-byte path");

		for (int group = 0; group < 2; group++) {
			size_t n = (size_t)snprintf(text, sizeof(text), "device d mock\n");

			for (i = 0; i < BROKER_MAX_ALLOW; i++)
				n += (size_t)snprintf(text + n, sizeof(text) - n, "allow d %s %zu\n", group ? "gid" : "uid",
						      1000 + i);
			is_int(parse(text, &c, err, sizeof(err)), 0, "allow: %d %s %s", BROKER_MAX_ALLOW,
			       group ? "groups" : "users", err);
			ok((group ? c.devs[0].ngids : c.devs[0].nuids) == BROKER_MAX_ALLOW &&
				   (group ? c.devs[0].nuids : c.devs[0].ngids) == 0,
			   "  all kept, in their own list");
			snprintf(text + n, sizeof(text) - n, "allow d %s 5000\n", group ? "group" : "user");
			refused(text, "t.conf:34: allow: more than 32 entries", group ? "allow: a 33rd group" : "allow: a 33rd user");
		}
	}
	is_int(parse("socket-mode 0777\n", &c, err, sizeof(err)), 0, "socket-mode 0777 %s", err);
	ok(c.socket_mode == 0777, "  is 0777");
	refused("socket-mode 01000\n", "socket-mode: an octal mode", "socket-mode 01000 (past 0777)");
	refused("socket-mode 0668\n", "socket-mode: an octal mode", "socket-mode with an 8 (not octal)");
	is_int(parse("socket-group 4294967294\n", &c, err, sizeof(err)), 0, "socket-group 4294967294 %s", err);
	ok(c.socket_gid == 4294967294ll, "  is taken as it is");
	refused("socket-group 4294967295\n", "socket-group: '4294967295' is not a group id: a number is at most 4294967294",
		"socket-group 4294967295 (past the range: not an id, sva-brokerd(8))");
	refused("device a mock\nallow a uid 4294967295\n",
		"allow: '4294967295' is not a user id: a number is at most 4294967294",
		"allow uid 4294967295 (past the range: not an id)");
	is_int(parse("pasids 1 1048575\npasids-per-client 1048575\ndevice-pasids-per-client 1048575\nmax-clients "
		     "4096\nclients-per-user 4096\n",
		     &c, err, sizeof(err)),
	       0, "every count at its largest %s", err);
	ok(c.pasid_min == 1 && c.pasid_max == 1048575 && c.pasids_per_client == 1048575 &&
		   c.dev_pasids_per_client == 1048575 && c.max_clients == 4096 && c.clients_per_user == 4096,
	   "  taken as they are");
	refused("pasids 1 1048576\n", "pasids: MIN MAX", "pasids past 1048575");
	refused("pasids-per-client 1048576\n", "pasids-per-client: a number from 1 to 1048575",
		"pasids-per-client past 1048575");
	refused("device-pasids-per-client 1048576\n", "device-pasids-per-client: a number from 1 to 1048575",
		"device-pasids-per-client past 1048575");
	refused("max-clients 4097\n", "max-clients: a number from 1 to 4096", "max-clients past 4096");
	is_int(parse("isolated-pin-max 4096\n", &c, err, sizeof(err)), 0, "isolated-pin-max 4096 (its least) %s", err);
	ok(c.isolated_pin_max == 4096, "  is 4096 bytes");
	is_int(parse("isolated-pin-max 1T\n", &c, err, sizeof(err)), 0, "isolated-pin-max 1T %s", err);
	ok(c.isolated_pin_max == 1ull << 40, "  is 2^40 bytes");
	refused("isolated-pin-max 3K\n", "isolated-pin-max: bytes", "isolated-pin-max 3K (under 4096)");
	refused("isolated-pin-max 64k\n", "isolated-pin-max: bytes", "isolated-pin-max 64k (the units are upper case)");
	is_int(broker_conf_load("/nonexistent/sva-brokerd.conf", &c, err, sizeof(err)), -ENOENT,
	       "a missing file: -ENOENT");
	ok(strstr(err, "/nonexistent/sva-brokerd.conf") != NULL, "  naming it: %s", err);
	return done_testing();
}
