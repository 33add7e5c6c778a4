/*
 * Unit tests for smtpd/smtp_parse.c: verbs, MAIL FROM / RCPT TO with
 * their parameters, HELO arguments, line length, CIDR matching.
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
	{ "FROM:<a@b.test> SMTPUTF8", SMTP_P_PARAM, NULL, 0, 0 },
	{ "FROM:<a@b.test> BODY=BINARYMIME", SMTP_P_PARAM, NULL, 0, 0 },
	{ "FROM:<a@b.test> SIZE=abc", SMTP_P_PARAMVAL, NULL, 0, 0 },
	{ "FROM:<a@b.test> SIZE", SMTP_P_PARAMVAL, NULL, 0, 0 },
	{ "FROM:<a@b.test> SIZE=1 SIZE=2", SMTP_P_PARAMVAL, NULL, 0, 0 },
	{ "FROM:<a@b.test> BODY", SMTP_P_PARAMVAL, NULL, 0, 0 },
};

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
	{ "TO:<bob@example.test> NOTIFY=NEVER", SMTP_P_PARAM, NULL },
	{ "TO:<bob@example.test> ORCPT=rfc822;bob@example.test",
	    SMTP_P_PARAM, NULL },
};

static void
test_rcpt(void)
{
	struct smtp_rcpt_args	 rc;
	const char		*err;
	char			 buf[ADDR_MAX];
	size_t			 i;
	int			 r;

	for (i = 0; i < sizeof(rcpts) / sizeof(rcpts[0]); i++) {
		r = smtp_parse_rcpt(rcpts[i].args, &rc, &err);
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
	test_rcpt();
	test_helo();
	test_cidr();
	return t_done();
}
