/*
 * Unit tests for smtpd/smtp_parse.c: verbs, MAIL FROM / RCPT TO with
 * their parameters (SIZE, BODY, DSN, SMTPUTF8), the relay-trick address
 * forms, HELO arguments, line length, BDAT, AUTH, base64, SASL PLAIN,
 * xtext, CIDR matching.
 */
#include <sys/types.h>
#include <sys/socket.h>

#include <netinet/in.h>
#include <arpa/inet.h>

#include <string.h>

#include "envelope.h"
#include "../../smtpd/smtp_parse.h"
#include "t.h"

static const struct {
	const char	*line;
	int		 ret;
	int		 cmd;
	const char	*args;
} cmds[] = {
	{ "HELO client.example.test", SMTP_CMD_OK, CMD_HELO,
	    "client.example.test" },
	{ "ehlo x", SMTP_CMD_OK, CMD_EHLO, "x" },
	{ "EhLo   x  ", SMTP_CMD_OK, CMD_EHLO, "x" },
	{ "MAIL FROM:<a@b>", SMTP_CMD_OK, CMD_MAIL, "FROM:<a@b>" },
	{ "mail from:<a@b>", SMTP_CMD_OK, CMD_MAIL, "from:<a@b>" },
	{ "MAIL FROM", SMTP_CMD_OK, CMD_MAIL, "FROM" },
	{ "MAIL", SMTP_CMD_OK, CMD_MAIL, "" },
	{ "RCPT TO:<c@d>", SMTP_CMD_OK, CMD_RCPT, "TO:<c@d>" },
	{ "DATA", SMTP_CMD_OK, CMD_DATA, "" },
	{ "rset", SMTP_CMD_OK, CMD_RSET, "" },
	{ "NOOP hello", SMTP_CMD_OK, CMD_NOOP, "hello" },
	{ "QUIT", SMTP_CMD_OK, CMD_QUIT, "" },
	{ "VRFY bob", SMTP_CMD_OK, CMD_VRFY, "bob" },
	{ "EXPN list", SMTP_CMD_OK, CMD_EXPN, "list" },
	{ "HELP", SMTP_CMD_OK, CMD_HELP, "" },
	{ "STARTTLS", SMTP_CMD_OK, CMD_STARTTLS, "" },
	{ "BDAT 10", SMTP_CMD_OK, CMD_BDAT, "10" },
	{ "FOO bar", SMTP_CMD_OK, CMD_UNKNOWN, "" },
	{ "MAILFROM:<a@b>", SMTP_CMD_OK, CMD_UNKNOWN, "" },
	{ "MAIL:x", SMTP_CMD_OK, CMD_UNKNOWN, "" },
	{ "", SMTP_CMD_OK, CMD_UNKNOWN, "" },
	{ " HELO x", SMTP_CMD_OK, CMD_UNKNOWN, "" },
	{ "GET / HTTP/1.0", SMTP_CMD_OK, CMD_UNKNOWN, "" },
	{ "HELO a\rb", SMTP_CMD_BADCHAR, CMD_UNKNOWN, "" },
};

static void
test_cmds(void)
{
	char		 buf[1024];
	const char	*args;
	size_t		 i;
	int		 cmd, r;

	for (i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++) {
		strlcpy(buf, cmds[i].line, sizeof(buf));
		r = smtp_cmd_parse(buf, strlen(buf), &cmd, &args);
		CHECK_NUM(r, cmds[i].ret, "cmd %zu ret \"%s\"", i,
		    cmds[i].line);
		CHECK_NUM(cmd, cmds[i].cmd, "cmd %zu verb \"%s\"", i,
		    cmds[i].line);
		CHECK_STR(args, cmds[i].args, "cmd %zu args \"%s\"", i,
		    cmds[i].line);
	}

	/* NUL inside */
	memcpy(buf, "NOOP a\0b", 9);
	CHECK_NUM(smtp_cmd_parse(buf, 8, &cmd, &args), SMTP_CMD_BADCHAR,
	    "NUL in a command");

	/* 510 octets of text (512 with CRLF) is fine, 511 is too long */
	memset(buf, 'a', sizeof(buf));
	memcpy(buf, "NOOP ", 5);
	buf[SMTP_CMD_TEXT_MAX] = '\0';
	CHECK_NUM(smtp_cmd_parse(buf, SMTP_CMD_TEXT_MAX, &cmd, &args),
	    SMTP_CMD_OK, "510-octet command accepted");
	CHECK_NUM(cmd, CMD_NOOP, "510-octet command is NOOP");
	memset(buf, 'a', sizeof(buf));
	memcpy(buf, "NOOP ", 5);
	buf[SMTP_CMD_TEXT_MAX + 1] = '\0';
	CHECK_NUM(smtp_cmd_parse(buf, SMTP_CMD_TEXT_MAX + 1, &cmd, &args),
	    SMTP_CMD_TOOLONG, "511-octet command too long");

	CHECK_STR(smtp_cmd_name(CMD_RCPT), "RCPT", "name of CMD_RCPT");
	CHECK_STR(smtp_cmd_name(-1), "UNKNOWN", "name of a bad id");
}

static const struct {
	const char	*args;
	int		 ret;
	const char	*addr;		/* "local@domain" */
	long long	 size;
	int		 body;
} mails[] = {
	{ "FROM:<alice@example.test>", SMTP_P_OK, "alice@example.test",
	    -1, -1 },
	{ "from:<alice@Example.TEST>", SMTP_P_OK, "alice@example.test",
	    -1, -1 },
	{ "FROM: <alice@example.test>", SMTP_P_OK, "alice@example.test",
	    -1, -1 },
	{ "FROM:alice@example.test", SMTP_P_OK, "alice@example.test", -1, -1 },
	{ "FROM:<>", SMTP_P_OK, "", -1, -1 },
	{ "FROM:<a@b.test> SIZE=1000", SMTP_P_OK, "a@b.test", 1000, -1 },
	{ "FROM:<a@b.test> size=0 body=8bitmime", SMTP_P_OK, "a@b.test",
	    0, ENV_BODY_8BITMIME },
	{ "FROM:<a@b.test> BODY=7BIT", SMTP_P_OK, "a@b.test", -1,
	    ENV_BODY_7BIT },
	{ "FROM:<a@b.test>  SIZE=99999999999999999999999", SMTP_P_OK,
	    "a@b.test", 9223372036854775807LL, -1 },
	{ "FROM:<\"a b\"@b.test>", SMTP_P_OK, "\"a b\"@b.test", -1, -1 },
	{ "FROM:<\"a>b\"@b.test> SIZE=5", SMTP_P_OK, "\"a>b\"@b.test", 5,
	    -1 },
	{ "FROM:<@relay.test:a@b.test>", SMTP_P_OK, "a@b.test", -1, -1 },
	{ "FROM", SMTP_P_SYNTAX, NULL, 0, 0 },
	{ "", SMTP_P_SYNTAX, NULL, 0, 0 },
	{ "FROM:", SMTP_P_SYNTAX, NULL, 0, 0 },
	{ "FROM: ", SMTP_P_SYNTAX, NULL, 0, 0 },
	{ "TO:<a@b.test>", SMTP_P_SYNTAX, NULL, 0, 0 },
	{ "FROM:<a@b.test", SMTP_P_SYNTAX, NULL, 0, 0 },
	{ "FROM:<a@b.test>x", SMTP_P_SYNTAX, NULL, 0, 0 },
	{ "FROM:<a@b.test> =x", SMTP_P_SYNTAX, NULL, 0, 0 },
	{ "FROM:<a@@b.test>", SMTP_P_ADDR, NULL, 0, 0 },
	{ "FROM:<a@b.test> FOO=bar", SMTP_P_PARAM, NULL, 0, 0 },
	{ "FROM:<a@b.test> SMTPUTF8=yes", SMTP_P_PARAMVAL, NULL, 0, 0 },
	{ "FROM:<a@b.test> SMTPUTF8 SMTPUTF8", SMTP_P_PARAMVAL, NULL, 0, 0 },
	{ "FROM:<j\xc3\xb6rg@b.test>", SMTP_P_ADDR, NULL, 0, 0 },
	{ "FROM:<a@b.test> RET=PARTIAL", SMTP_P_PARAMVAL, NULL, 0, 0 },
	{ "FROM:<a@b.test> RET", SMTP_P_PARAMVAL, NULL, 0, 0 },
	{ "FROM:<a@b.test> RET=FULL RET=HDRS", SMTP_P_PARAMVAL, NULL, 0, 0 },
	{ "FROM:<a@b.test> ENVID=a+2", SMTP_P_PARAMVAL, NULL, 0, 0 },
	{ "FROM:<a@b.test> ENVID=a+0A", SMTP_P_PARAMVAL, NULL, 0, 0 },
	{ "FROM:<a@b.test> ENVID=a+2b", SMTP_P_PARAMVAL, NULL, 0, 0 },
	{ "FROM:<a@b.test> ENVID=x ENVID=y", SMTP_P_PARAMVAL, NULL, 0, 0 },
	{ "FROM:<a@b.test> BODY=BINARYMIME", SMTP_P_PARAM, NULL, 0, 0 },
	{ "FROM:<a@b.test> SIZE=abc", SMTP_P_PARAMVAL, NULL, 0, 0 },
	{ "FROM:<a@b.test> SIZE", SMTP_P_PARAMVAL, NULL, 0, 0 },
	{ "FROM:<a@b.test> SIZE=1 SIZE=2", SMTP_P_PARAMVAL, NULL, 0, 0 },
	{ "FROM:<a@b.test> BODY", SMTP_P_PARAMVAL, NULL, 0, 0 },
};

/* DSN and SMTPUTF8 parameters of MAIL */
static const struct {
	const char	*args;
	int		 ret;
	int		 smtputf8;
	const char	*envid;
	const char	*addr;
} mailext[] = {
	{ "FROM:<a@b.test> RET=FULL", ENV_RET_FULL, 0, "", "a@b.test" },
	{ "FROM:<a@b.test> ret=hdrs ENVID=QQ314159", ENV_RET_HDRS, 0,
	    "QQ314159", "a@b.test" },
	{ "FROM:<a@b.test> ENVID=a+2Bb+3Dc", ENV_RET_NONE, 0, "a+b=c",
	    "a@b.test" },
	{ "FROM:<a@b.test> SMTPUTF8", ENV_RET_NONE, 1, "", "a@b.test" },
	{ "FROM:<j\xc3\xb6rg@b.test> SMTPUTF8 BODY=8BITMIME", ENV_RET_NONE,
	    1, "", "j\xc3\xb6rg@b.test" },
	{ "FROM:<a@\xc3\xa9t\xc3\xa9.test> smtputf8", ENV_RET_NONE, 1, "",
	    "a@\xc3\xa9t\xc3\xa9.test" },
};

static void
test_mail_ext(void)
{
	struct smtp_mail_args	 m;
	const char		*err;
	char			 buf[ADDR_MAX];
	size_t			 i;

	for (i = 0; i < sizeof(mailext) / sizeof(mailext[0]); i++) {
		CHECK_NUM(smtp_parse_mail(mailext[i].args, &m, &err),
		    SMTP_P_OK, "MAIL ext %zu \"%s\"", i, mailext[i].args);
		CHECK_NUM(m.ret, mailext[i].ret, "MAIL ext %zu RET", i);
		CHECK_NUM(m.smtputf8, mailext[i].smtputf8,
		    "MAIL ext %zu SMTPUTF8", i);
		CHECK_STR(m.envid, mailext[i].envid, "MAIL ext %zu ENVID", i);
		addr_format(&m.addr, buf, sizeof(buf));
		CHECK_STR(buf, mailext[i].addr, "MAIL ext %zu address", i);
	}
}

static void
test_mail(void)
{
	struct smtp_mail_args	 m;
	const char		*err;
	char			 buf[ADDR_MAX];
	size_t			 i;
	int			 r;

	for (i = 0; i < sizeof(mails) / sizeof(mails[0]); i++) {
		r = smtp_parse_mail(mails[i].args, &m, &err);
		CHECK_NUM(r, mails[i].ret, "MAIL %zu \"%s\"", i,
		    mails[i].args);
		if (r != SMTP_P_OK || mails[i].ret != SMTP_P_OK) {
			CHECK(r == SMTP_P_OK || err != NULL,
			    "MAIL %zu has a reason", i);
			continue;
		}
		addr_format(&m.addr, buf, sizeof(buf));
		CHECK_STR(buf, mails[i].addr, "MAIL %zu address", i);
		CHECK_NUM(m.size, mails[i].size, "MAIL %zu SIZE", i);
		CHECK_NUM(m.body, mails[i].body, "MAIL %zu BODY", i);
	}
	smtp_parse_mail("FROM", &m, &err);
	CHECK_STR(err, "Syntax: MAIL FROM:<address>",
	    "MAIL FROM without address: the lab's reply text");
}

static const struct {
	const char	*args;
	int		 ret;
	const char	*addr;
} rcpts[] = {
	{ "TO:<bob@example.test>", SMTP_P_OK, "bob@example.test" },
	{ "to: <bob@EXAMPLE.test>", SMTP_P_OK, "bob@example.test" },
	{ "To:bob@example.test", SMTP_P_OK, "bob@example.test" },
	{ "TO:<Postmaster>", SMTP_P_OK, "Postmaster" },
	{ "TO:<bob>", SMTP_P_ADDR, NULL },
	{ "TO:<>", SMTP_P_ADDR, NULL },
	{ "TO", SMTP_P_SYNTAX, NULL },
	{ "FROM:<bob@example.test>", SMTP_P_SYNTAX, NULL },
	{ "TO:<bob@example.test> NOTIFY=NEVER", SMTP_P_OK,
	    "bob@example.test" },
	{ "TO:<bob@example.test> ORCPT=rfc822;bob@example.test",
	    SMTP_P_OK, "bob@example.test" },
	{ "TO:<bob@example.test> FOO=1", SMTP_P_PARAM, NULL },
	{ "TO:<bob@example.test> NOTIFY=NEVER,SUCCESS", SMTP_P_PARAMVAL,
	    NULL },
	{ "TO:<bob@example.test> NOTIFY=SOMETIMES", SMTP_P_PARAMVAL, NULL },
	{ "TO:<bob@example.test> NOTIFY=SUCCESS,SUCCESS", SMTP_P_PARAMVAL,
	    NULL },
	{ "TO:<bob@example.test> NOTIFY", SMTP_P_PARAMVAL, NULL },
	{ "TO:<bob@example.test> NOTIFY=DELAY NOTIFY=DELAY", SMTP_P_PARAMVAL,
	    NULL },
	{ "TO:<bob@example.test> ORCPT=bob@example.test", SMTP_P_PARAMVAL,
	    NULL },
	{ "TO:<bob@example.test> ORCPT=rfc822;", SMTP_P_PARAMVAL, NULL },
	{ "TO:<bob@example.test> ORCPT=rfc822;a+ZZ", SMTP_P_PARAMVAL, NULL },
	{ "TO:<j\xc3\xb6rg@example.test>", SMTP_P_ADDR, NULL },
	/* the classic relay tricks: syntax first (RFC 5321 4.1.2) */
	{ "TO:<user%other.test@example.test>", SMTP_P_OK,
	    "user%other.test@example.test" },
	{ "TO:<other.test!user@example.test>", SMTP_P_OK,
	    "other.test!user@example.test" },
	{ "TO:<@a.test:user@b.test>", SMTP_P_OK, "user@b.test" },
	{ "TO:<@a.test,@b.test:user@c.test>", SMTP_P_OK, "user@c.test" },
	{ "TO:<\"user@other.test\"@example.test>", SMTP_P_OK,
	    "\"user@other.test\"@example.test" },
	{ "TO:<user@[127.0.0.1]>", SMTP_P_OK, "user@[127.0.0.1]" },
	{ "TO:<user@other.test.>", SMTP_P_ADDR, NULL },
	{ "TO:<alice@example.test.>", SMTP_P_ADDR, NULL },
	{ "TO:<USER@Other.TEST>", SMTP_P_OK, "USER@other.test" },
	{ "TO:<user@other.test@example.test>", SMTP_P_ADDR, NULL },
	{ "TO:<user@other.test>@example.test", SMTP_P_SYNTAX, NULL },
	{ "TO:<user@>", SMTP_P_ADDR, NULL },
	{ "TO:<@other.test>", SMTP_P_ADDR, NULL },
	{ "TO:<user@[300.0.0.1]>", SMTP_P_ADDR, NULL },
};

/* DSN parameters of RCPT and UTF-8 recipients */
static void
test_rcpt_ext(void)
{
	struct smtp_rcpt_args	 rc;
	const char		*err;
	char			 buf[ADDR_MAX];

	CHECK_NUM(smtp_parse_rcpt("TO:<b@c.test> NOTIFY=success,Failure,DELAY"
	    " ORCPT=rfc822;B+2Bx@c.test", 0, &rc, &err), SMTP_P_OK,
	    "RCPT NOTIFY and ORCPT");
	CHECK_NUM(rc.notify, ENV_NOTIFY_SUCCESS | ENV_NOTIFY_FAILURE |
	    ENV_NOTIFY_DELAY, "NOTIFY bits");
	CHECK_STR(rc.orcpt, "rfc822;B+x@c.test", "ORCPT decoded");
	CHECK_NUM(smtp_parse_rcpt("TO:<b@c.test> NOTIFY=NEVER", 0, &rc, &err),
	    SMTP_P_OK, "NOTIFY=NEVER");
	CHECK_NUM(rc.notify, ENV_NOTIFY_NEVER, "NEVER bit");
	CHECK_STR(rc.orcpt, "", "no ORCPT");
	CHECK_NUM(smtp_parse_rcpt("TO:<b@c.test> ORCPT=utf-8;j\\x{00F6}rg@c.test",
	    0, &rc, &err), SMTP_P_OK, "ORCPT utf-8 type");
	CHECK_STR(rc.orcpt, "utf-8;j\\x{00F6}rg@c.test", "ORCPT utf-8 kept");
	CHECK_NUM(smtp_parse_rcpt("TO:<j\xc3\xb6rg@c.test>", ADDR_F_UTF8, &rc,
	    &err), SMTP_P_OK, "UTF-8 recipient with SMTPUTF8");
	addr_format(&rc.addr, buf, sizeof(buf));
	CHECK_STR(buf, "j\xc3\xb6rg@c.test", "UTF-8 recipient");
	CHECK_NUM(smtp_parse_rcpt("TO:<j\xc3rg@c.test>", ADDR_F_UTF8, &rc,
	    &err), SMTP_P_ADDR, "bad UTF-8 refused even with SMTPUTF8");
}

static void
test_xtext(void)
{
	char	buf[16];

	CHECK(smtp_xtext_decode("abc", buf, sizeof(buf)) == 0, "xtext plain");
	CHECK_STR(buf, "abc", "xtext plain value");
	CHECK(smtp_xtext_decode("a+20b", buf, sizeof(buf)) == 0,
	    "xtext space");
	CHECK_STR(buf, "a b", "xtext space value");
	CHECK(smtp_xtext_decode("a+2", buf, sizeof(buf)) == -1, "xtext short");
	CHECK(smtp_xtext_decode("a+2g", buf, sizeof(buf)) == -1,
	    "xtext lower/bad hex");
	CHECK(smtp_xtext_decode("a=b", buf, sizeof(buf)) == -1, "xtext =");
	CHECK(smtp_xtext_decode("a+00", buf, sizeof(buf)) == -1, "xtext NUL");
	CHECK(smtp_xtext_decode("0123456789abcdef", buf, sizeof(buf)) == -1,
	    "xtext too long");
	CHECK(smtp_xtext_decode("", buf, sizeof(buf)) == 0, "xtext empty");
}

static void
test_bdat(void)
{
	unsigned long long	size;
	int			last;

	CHECK(smtp_parse_bdat("100", &size, &last) == 0 && size == 100 &&
	    !last, "BDAT 100");
	CHECK(smtp_parse_bdat("0 LAST", &size, &last) == 0 && size == 0 &&
	    last, "BDAT 0 LAST");
	CHECK(smtp_parse_bdat("42 last", &size, &last) == 0 && size == 42 &&
	    last, "BDAT 42 last");
	CHECK(smtp_parse_bdat("", &size, &last) == -1, "BDAT no size");
	CHECK(smtp_parse_bdat("-1", &size, &last) == -1, "BDAT -1");
	CHECK(smtp_parse_bdat("10 FIRST", &size, &last) == -1, "BDAT FIRST");
	CHECK(smtp_parse_bdat("10x", &size, &last) == -1, "BDAT 10x");
	CHECK(smtp_parse_bdat("10 LAST x", &size, &last) == -1,
	    "BDAT LAST x");
	CHECK(smtp_parse_bdat("99999999999999999999999", &size, &last) == -1,
	    "BDAT huge");
}

static void
test_auth(void)
{
	char		 mech[SMTP_SASL_MECH_MAX + 1], user[64], pass[64];
	char		 authz[64], big[SMTP_AUTH_TEXT_MAX + 8];
	unsigned char	 out[64];
	const char	*ir, *args;
	int		 cmd;

	CHECK(smtp_parse_auth("plain", mech, sizeof(mech), &ir) == 0 &&
	    ir == NULL, "AUTH plain");
	CHECK_STR(mech, "PLAIN", "mechanism upper-cased");
	CHECK(smtp_parse_auth("PLAIN AGFsaWNlAHB3", mech, sizeof(mech),
	    &ir) == 0 && ir != NULL, "AUTH PLAIN with SASL-IR");
	CHECK_STR(ir, "AGFsaWNlAHB3", "initial response");
	CHECK(smtp_parse_auth("LOGIN =", mech, sizeof(mech), &ir) == 0,
	    "AUTH LOGIN =");
	CHECK(smtp_parse_auth("", mech, sizeof(mech), &ir) == -1,
	    "AUTH without mechanism");
	CHECK(smtp_parse_auth("PL@IN", mech, sizeof(mech), &ir) == -1,
	    "AUTH bad mechanism name");
	CHECK(smtp_parse_auth("PLAIN a b", mech, sizeof(mech), &ir) == -1,
	    "AUTH two responses");
	CHECK(smtp_parse_auth("ABCDEFGHIJKLMNOPQRSTU", mech, sizeof(mech),
	    &ir) == -1, "AUTH mechanism over 20");

	CHECK_NUM(smtp_b64_decode("AGFsaWNlAHB3", out, sizeof(out)), 9,
	    "base64 PLAIN message");
	CHECK(memcmp(out, "\0alice\0pw", 9) == 0, "base64 value");
	CHECK_NUM(smtp_b64_decode("YQ==", out, sizeof(out)), 1, "base64 pad 2");
	CHECK_NUM(smtp_b64_decode("YWI=", out, sizeof(out)), 2, "base64 pad 1");
	CHECK_NUM(smtp_b64_decode("", out, sizeof(out)), 0, "base64 empty");
	CHECK_NUM(smtp_b64_decode("YQ=", out, sizeof(out)), -1,
	    "base64 bad length");
	CHECK_NUM(smtp_b64_decode("Y===", out, sizeof(out)), -1,
	    "base64 too much padding");
	CHECK_NUM(smtp_b64_decode("YQ==YQ==", out, sizeof(out)), -1,
	    "base64 padding inside");
	CHECK_NUM(smtp_b64_decode("a!bc", out, sizeof(out)), -1,
	    "base64 bad character");
	CHECK_NUM(smtp_b64_decode("YWJjZGVm", out, 6), -1,
	    "base64 no room for the NUL");

	CHECK(smtp_sasl_plain((const unsigned char *)"\0alice\0pw", 9, authz,
	    sizeof(authz), user, sizeof(user), pass, sizeof(pass)) == 0,
	    "PLAIN without authzid");
	CHECK_STR(user, "alice", "PLAIN user");
	CHECK_STR(pass, "pw", "PLAIN password");
	CHECK_STR(authz, "", "PLAIN authzid");
	CHECK(smtp_sasl_plain((const unsigned char *)"bob\0alice\0pw", 12,
	    authz, sizeof(authz), user, sizeof(user), pass, sizeof(pass)) == 0,
	    "PLAIN with authzid");
	CHECK_STR(authz, "bob", "PLAIN authzid value");
	CHECK(smtp_sasl_plain((const unsigned char *)"alice\0pw", 8, authz,
	    sizeof(authz), user, sizeof(user), pass, sizeof(pass)) == -1,
	    "PLAIN with one NUL");
	CHECK(smtp_sasl_plain((const unsigned char *)"\0\0pw", 4, authz,
	    sizeof(authz), user, sizeof(user), pass, sizeof(pass)) == -1,
	    "PLAIN empty user");
	CHECK(smtp_sasl_plain((const unsigned char *)"\0alice\0", 7, authz,
	    sizeof(authz), user, sizeof(user), pass, sizeof(pass)) == -1,
	    "PLAIN empty password");
	CHECK(smtp_sasl_plain((const unsigned char *)"\0a\0b\0c", 6, authz,
	    sizeof(authz), user, sizeof(user), pass, sizeof(pass)) == -1,
	    "PLAIN with a third NUL");

	/* AUTH lines may be longer than other commands (RFC 4954 4) */
	memset(big, 'A', sizeof(big));
	memcpy(big, "AUTH PLAIN ", 11);
	big[1000] = '\0';
	CHECK_NUM(smtp_cmd_parse(big, 1000, &cmd, &args), SMTP_CMD_OK,
	    "1000-octet AUTH line");
	CHECK_NUM(cmd, CMD_AUTH, "long AUTH line is AUTH");
	memset(big, 'A', sizeof(big));
	memcpy(big, "AUTH PLAIN ", 11);
	big[SMTP_AUTH_TEXT_MAX + 1] = '\0';
	CHECK_NUM(smtp_cmd_parse(big, SMTP_AUTH_TEXT_MAX + 1, &cmd, &args),
	    SMTP_CMD_TOOLONG, "AUTH line over 12288 octets");
	memset(big, 'a', sizeof(big));
	memcpy(big, "NOOP ", 5);
	big[1000] = '\0';
	CHECK_NUM(smtp_cmd_parse(big, 1000, &cmd, &args), SMTP_CMD_TOOLONG,
	    "1000-octet NOOP line");
}


static void
test_rcpt(void)
{
	struct smtp_rcpt_args	 rc;
	const char		*err;
	char			 buf[ADDR_MAX];
	size_t			 i;
	int			 r;

	for (i = 0; i < sizeof(rcpts) / sizeof(rcpts[0]); i++) {
		r = smtp_parse_rcpt(rcpts[i].args, 0, &rc, &err);
		CHECK_NUM(r, rcpts[i].ret, "RCPT %zu \"%s\"", i,
		    rcpts[i].args);
		if (r != SMTP_P_OK || rcpts[i].ret != SMTP_P_OK)
			continue;
		addr_format(&rc.addr, buf, sizeof(buf));
		if (rc.addr.domain[0] == '\0')
			strlcpy(buf, rc.addr.local, sizeof(buf));
		CHECK_STR(buf, rcpts[i].addr, "RCPT %zu address", i);
	}
}

static void
test_helo(void)
{
	char	buf[256], big[400];

	CHECK(smtp_parse_helo("client.example.test", buf, sizeof(buf)) == 0,
	    "HELO name");
	CHECK_STR(buf, "client.example.test", "HELO name copied");
	CHECK(smtp_parse_helo("[127.0.0.1] extra", buf, sizeof(buf)) == 0,
	    "HELO first word");
	CHECK_STR(buf, "[127.0.0.1]", "HELO first word copied");
	CHECK(smtp_parse_helo("", buf, sizeof(buf)) == -1, "HELO empty");
	CHECK(smtp_parse_helo("a\001b", buf, sizeof(buf)) == -1,
	    "HELO control byte");
	memset(big, 'a', sizeof(big));
	big[sizeof(big) - 1] = '\0';
	CHECK(smtp_parse_helo(big, buf, sizeof(buf)) == -1, "HELO too long");
}

static int
match(const char *cidr, const char *ip)
{
	struct sockaddr_in	sin;
	struct sockaddr_in6	sin6;

	memset(&sin, 0, sizeof(sin));
	memset(&sin6, 0, sizeof(sin6));
	if (inet_pton(AF_INET, ip, &sin.sin_addr) == 1) {
		sin.sin_family = AF_INET;
		return smtp_cidr_match(cidr, (struct sockaddr *)&sin);
	}
	inet_pton(AF_INET6, ip, &sin6.sin6_addr);
	sin6.sin6_family = AF_INET6;
	return smtp_cidr_match(cidr, (struct sockaddr *)&sin6);
}

static void
test_cidr(void)
{
	CHECK_NUM(match("127.0.0.0/8", "127.0.0.1"), 1, "127/8 has 127.0.0.1");
	CHECK_NUM(match("127.0.0.0/8", "127.255.1.2"), 1, "127/8 wide");
	CHECK_NUM(match("127.0.0.0/8", "128.0.0.1"), 0, "127/8 not 128");
	CHECK_NUM(match("10.1.2.3", "10.1.2.3"), 1, "host match");
	CHECK_NUM(match("10.1.2.3", "10.1.2.4"), 0, "host no match");
	CHECK_NUM(match("192.168.0.0/23", "192.168.1.200"), 1, "/23 in");
	CHECK_NUM(match("192.168.0.0/23", "192.168.2.1"), 0, "/23 out");
	CHECK_NUM(match("0.0.0.0/0", "8.8.8.8"), 1, "/0 all");
	CHECK_NUM(match("::1", "::1"), 1, "::1");
	CHECK_NUM(match("::1", "::2"), 0, "::1 not ::2");
	CHECK_NUM(match("::1", "127.0.0.1"), 0, "::1 not IPv4");
	CHECK_NUM(match("fe80::/10", "fe80::1:2"), 1, "fe80::/10");
	CHECK_NUM(match("127.0.0.0/8", "::ffff:127.0.0.1"), 1,
	    "v4-mapped matches IPv4 network");
	CHECK_NUM(match("127.0.0.0/33", "127.0.0.1"), -1, "bad prefix");
	CHECK_NUM(match("localhost", "127.0.0.1"), -1, "not an address");
	CHECK_NUM(match("127.0.0.0/", "127.0.0.1"), -1, "empty prefix");
}

int
main(void)
{
	test_cmds();
	test_mail();
	test_mail_ext();
	test_rcpt();
	test_rcpt_ext();
	test_xtext();
	test_bdat();
	test_auth();
	test_helo();
	test_cidr();
	return t_done();
}
