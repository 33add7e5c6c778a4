/*
 * SMTP command line parsing: the verb, MAIL FROM / RCPT TO arguments with
 * their ESMTP parameters (RFC 5321 4.1.1, 4.1.2; RFC 1870 SIZE; RFC 6152
 * BODY), and the CIDR lists of the configuration. Pure code, no I/O: unit
 * tested and fuzzed.
 */
#ifndef FACTEUR_SMTP_PARSE_H
#define FACTEUR_SMTP_PARSE_H

#include <stddef.h>

#include "addr.h"

struct sockaddr;

/* a command line, CRLF included (RFC 5321 4.5.3.1.4) */
#define SMTP_CMD_MAX	512
/* the longest line content without its CRLF */
#define SMTP_CMD_TEXT_MAX	(SMTP_CMD_MAX - 2)

enum smtp_cmd {
	CMD_UNKNOWN = 0,
	CMD_HELO,
	CMD_EHLO,
	CMD_MAIL,
	CMD_RCPT,
	CMD_DATA,
	CMD_RSET,
	CMD_NOOP,
	CMD_QUIT,
	CMD_VRFY,
	CMD_EXPN,
	CMD_HELP,
	/* known, not implemented (yet): 502 5.5.1 */
	CMD_STARTTLS,
	CMD_AUTH,
	CMD_BDAT,
	CMD_ETRN,
	CMD_TURN,
	CMD_SEND,
	CMD_SOML,
	CMD_SAML,
	CMD_COUNT
};

/* results of smtp_cmd_parse */
#define SMTP_CMD_OK		0
#define SMTP_CMD_TOOLONG	(-1)	/* 500 5.5.2 line too long */
#define SMTP_CMD_BADCHAR	(-2)	/* NUL or bare CR: 500 5.5.2 */

/*
 * line holds one command without its line end (CRLF or bare LF already
 * stripped), len bytes, NUL-terminated; it is modified (trailing white
 * space removed). Sets *cmd (CMD_UNKNOWN for an unknown verb) and *args
 * (the text after the verb and its spaces, "" when none).
 */
int	 smtp_cmd_parse(char *line, size_t len, int *cmd, const char **args);
const char *smtp_cmd_name(int cmd);

/* results of smtp_parse_mail / smtp_parse_rcpt */
enum smtp_perr {
	SMTP_P_OK = 0,
	SMTP_P_SYNTAX,		/* 501 5.5.4 Syntax: MAIL FROM:<address> */
	SMTP_P_ADDR,		/* 501 5.1.7 / 5.1.3 bad address syntax */
	SMTP_P_PARAM,		/* 555 5.5.4 unsupported parameter */
	SMTP_P_PARAMVAL,	/* 501 5.5.4 bad parameter value */
};

struct smtp_mail_args {
	struct mailaddr	addr;		/* domain "" and local "" for <> */
	long long	size;		/* SIZE=, -1 when not given */
	int		body;		/* ENV_BODY_*, -1 when not given */
};

struct smtp_rcpt_args {
	struct mailaddr	addr;		/* domain "" for <postmaster> */
};

/*
 * args is what follows the verb: "FROM:<a@b> SIZE=10" (a space after the
 * colon is accepted, as is an address without angle brackets). On error
 * *err says why, for the reply text.
 */
int	 smtp_parse_mail(const char *args, struct smtp_mail_args *,
	    const char **err);
int	 smtp_parse_rcpt(const char *args, struct smtp_rcpt_args *,
	    const char **err);

/*
 * HELO/EHLO argument: the first word, 1..255 printable ASCII bytes.
 * Copies it into buf; 0 or -1.
 */
int	 smtp_parse_helo(const char *args, char *buf, size_t bufsz);

/*
 * 1 when sa (AF_INET or AF_INET6) is inside cidr ("127.0.0.0/8", "::1",
 * "10.1.2.3", "fe80::/10"), 0 when not, -1 when cidr is not valid. An
 * IPv4-mapped IPv6 address matches IPv4 networks.
 */
int	 smtp_cidr_match(const char *cidr, const struct sockaddr *sa);

#endif
