/*
 * popd/pop3_parse.c: command lines, message numbers, TOP arguments, AUTH
 * arguments, base64 and SASL PLAIN. Table-driven, bad input included.
 */
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/types.h>

#include "base64.h"
#include "t.h"
#include "../../popd/pop3_parse.h"

static const struct {
	const char	*line;
	int		 result;
	int		 cmd;
	const char	*args;
} cmds[] = {
	{ "USER alice", POP3_P_OK, POP3_USER, "alice" },
	{ "user alice@example.test", POP3_P_OK, POP3_USER,
	    "alice@example.test" },
	{ "PASS  two words ", POP3_P_OK, POP3_PASS, "two words " },
	{ "STAT", POP3_P_OK, POP3_STAT, "" },
	{ "stat", POP3_P_OK, POP3_STAT, "" },
	{ "LIST 3", POP3_P_OK, POP3_LIST, "3" },
	{ "TOP 1 5", POP3_P_OK, POP3_TOP, "1 5" },
	{ "Uidl", POP3_P_OK, POP3_UIDL, "" },
	{ "CAPA", POP3_P_OK, POP3_CAPA, "" },
	{ "STLS", POP3_P_OK, POP3_STLS, "" },
	{ "AUTH PLAIN AGFsaWNlAHB3", POP3_P_OK, POP3_AUTH,
	    "PLAIN AGFsaWNlAHB3" },
	{ "QUIT", POP3_P_OK, POP3_QUIT, "" },
	{ "NOOP", POP3_P_OK, POP3_NOOP, "" },
	{ "RSET", POP3_P_OK, POP3_RSET, "" },
	{ "DELE 1", POP3_P_OK, POP3_DELE, "1" },
	{ "RETR 1", POP3_P_OK, POP3_RETR, "1" },
	{ "APOP a b", POP3_P_OK, POP3_APOP, "a b" },
	{ "STATS", POP3_P_OK, POP3_UNKNOWN, "" },
	{ "ST", POP3_P_OK, POP3_UNKNOWN, "" },
	{ "", POP3_P_OK, POP3_UNKNOWN, "" },
	{ " STAT", POP3_P_OK, POP3_UNKNOWN, "STAT" },
	{ "HELO x", POP3_P_OK, POP3_UNKNOWN, "x" },
	{ "USER a\rb", POP3_P_BADCHAR, POP3_UNKNOWN, "" },
};

static const struct {
	const char	*args;
	int		 ok;
	uint32_t	 n;
} msgnos[] = {
	{ "1", 0, 1 }, { " 42 ", 0, 42 }, { "2147483647", 0, 2147483647 },
	{ "0", 0, 0 }, { "", -1, 0 }, { "x", -1, 0 }, { "-1", -1, 0 },
	{ "+1", -1, 0 }, { "1 2", -1, 0 }, { "2147483648", -1, 0 },
	{ "99999999999999999999", -1, 0 }, { "1x", -1, 0 },
};

static const struct {
	const char	*args;
	int		 ok;
	uint32_t	 msg, lines;
} tops[] = {
	{ "1 5", 0, 1, 5 }, { "3  0", 0, 3, 0 }, { " 1 1 ", 0, 1, 1 },
	{ "1", -1, 0, 0 }, { "", -1, 0, 0 }, { "1 x", -1, 0, 0 },
	{ "1 2 3", -1, 0, 0 }, { "a 1", -1, 0, 0 }, { "1 -1", -1, 0, 0 },
};

static const struct {
	const char	*args;
	int		 ok;
	const char	*mech;
	const char	*ir;
} auths[] = {
	{ "PLAIN", 0, "PLAIN", NULL },
	{ "plain AGEAYg==", 0, "PLAIN", "AGEAYg==" },
	{ "PLAIN =", 0, "PLAIN", "=" },
	{ "SCRAM-SHA-256", 0, "SCRAM-SHA-256", NULL },
	{ "", -1, NULL, NULL },
	{ "PL@IN", -1, NULL, NULL },
	{ "PLAIN a b", -1, NULL, NULL },
	{ "ABCDEFGHIJKLMNOPQRSTUVWXYZ", -1, NULL, NULL },
};

static const struct {
	const char	*b64;
	int		 ok;
	const char	*user, *pass;
} plains[] = {
	/* "\0alice\0alice-pw" */
	{ "AGFsaWNlAGFsaWNlLXB3", 0, "alice", "alice-pw" },
	/* "alice\0alice\0pw" */
	{ "YWxpY2UAYWxpY2UAcHc=", 0, "alice", "pw" },
	/* "bob\0alice\0pw": another authzid */
	{ "Ym9iAGFsaWNlAHB3", -1, NULL, NULL },
	/* "\0alice\0": empty password */
	{ "AGFsaWNlAA==", -1, NULL, NULL },
	/* "\0\0pw": empty user */
	{ "AABwdw==", -1, NULL, NULL },
	/* "alice" only */
	{ "YWxpY2U=", -1, NULL, NULL },
	{ "=", -1, NULL, NULL },
	{ "", -1, NULL, NULL },
	{ "!!!!", -1, NULL, NULL },
	{ "AGFsaWNlAGFsaWNlLXB3=", -1, NULL, NULL },
	{ "AG=sAGFs", -1, NULL, NULL },
};

int
main(void)
{
	char		 mech[32], user[256], pass[256];
	unsigned char	 out[16];
	const char	*args, *ir;
	uint32_t	 n, m;
	size_t		 i;
	int		 cmd, r;

	for (i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++) {
		r = pop3_cmd_parse(cmds[i].line, strlen(cmds[i].line), &cmd,
		    &args);
		CHECK_NUM(r, cmds[i].result, "cmd %zu result", i);
		if (r != POP3_P_OK)
			continue;
		CHECK_NUM(cmd, cmds[i].cmd, "cmd %zu '%s'", i, cmds[i].line);
		CHECK_STR(args, cmds[i].args, "cmd %zu args", i);
	}
	/* a NUL inside the line */
	r = pop3_cmd_parse("STAT\0x", 6, &cmd, &args);
	CHECK_NUM(r, POP3_P_BADCHAR, "NUL in a line");
	/* line lengths: 255 for commands, more for AUTH */
	{
		char	long_line[POP3_AUTH_LINE_MAX + 10];

		memset(long_line, 'a', sizeof(long_line));
		memcpy(long_line, "USER ", 5);
		CHECK_NUM(pop3_cmd_parse(long_line, POP3_LINE_MAX, &cmd,
		    &args), POP3_P_OK, "255 octets");
		CHECK_NUM(pop3_cmd_parse(long_line, POP3_LINE_MAX + 1, &cmd,
		    &args), POP3_P_TOOLONG, "256 octets");
		memcpy(long_line, "AUTH ", 5);
		CHECK_NUM(pop3_cmd_parse(long_line, 1000, &cmd, &args),
		    POP3_P_OK, "AUTH 1000 octets");
		CHECK_NUM(pop3_cmd_parse(long_line, POP3_AUTH_LINE_MAX + 1,
		    &cmd, &args), POP3_P_TOOLONG, "AUTH too long");
	}

	for (i = 0; i < sizeof(msgnos) / sizeof(msgnos[0]); i++) {
		n = 12345;
		r = pop3_parse_msgno(msgnos[i].args, &n);
		CHECK_NUM(r, msgnos[i].ok, "msgno %zu '%s'", i, msgnos[i].args);
		if (r == 0)
			CHECK_NUM(n, msgnos[i].n, "msgno %zu value", i);
	}
	for (i = 0; i < sizeof(tops) / sizeof(tops[0]); i++) {
		r = pop3_parse_top(tops[i].args, &n, &m);
		CHECK_NUM(r, tops[i].ok, "top %zu '%s'", i, tops[i].args);
		if (r == 0) {
			CHECK_NUM(n, tops[i].msg, "top %zu msg", i);
			CHECK_NUM(m, tops[i].lines, "top %zu lines", i);
		}
	}
	for (i = 0; i < sizeof(auths) / sizeof(auths[0]); i++) {
		r = pop3_parse_auth(auths[i].args, mech, sizeof(mech), &ir);
		CHECK_NUM(r, auths[i].ok, "auth %zu '%s'", i, auths[i].args);
		if (r == 0) {
			CHECK_STR(mech, auths[i].mech, "auth %zu mech", i);
			CHECK_STR(ir, auths[i].ir, "auth %zu ir", i);
		}
	}
	for (i = 0; i < sizeof(plains) / sizeof(plains[0]); i++) {
		r = pop3_sasl_plain(plains[i].b64, user, sizeof(user), pass,
		    sizeof(pass));
		CHECK_NUM(r, plains[i].ok, "plain %zu '%s'", i,
		    plains[i].b64);
		if (r == 0) {
			CHECK_STR(user, plains[i].user, "plain %zu user", i);
			CHECK_STR(pass, plains[i].pass, "plain %zu pass", i);
		}
	}
	CHECK_NUM(base64_decode("YWJj", 4, out, sizeof(out)), 3,
	    "base64 abc");
	CHECK_NUM(base64_decode("YWI=", 4, out, sizeof(out)), 2,
	    "base64 ab");
	CHECK_NUM(base64_decode("YQ==", 4, out, sizeof(out)), 1,
	    "base64 a");
	CHECK_NUM(base64_decode("YQ=a", 4, out, sizeof(out)), -1,
	    "base64 bad padding");
	CHECK_NUM(base64_decode("YWJjYWJjYWJjYWJjYWJjYWJj", 24, out,
	    sizeof(out)), -1, "base64 too long for the buffer");
	return t_done();
}
