/*
 * SMTP command line parsing: the verb, MAIL FROM / RCPT TO arguments with
 * their ESMTP parameters (RFC 5321 4.1.1, 4.1.2; RFC 1870 SIZE; RFC 6152
 * BODY; RFC 3461 DSN RET ENVID NOTIFY ORCPT; RFC 6531 SMTPUTF8), BDAT
 * (RFC 3030), AUTH and its SASL responses (RFC 4954, RFC 4648 base64,
 * RFC 4616 PLAIN), and the CIDR lists of the configuration. Pure code, no
 * I/O: unit tested and fuzzed.
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
/* AUTH command lines and SASL responses (RFC 4954 4), CRLF included */
#define SMTP_AUTH_MAX		12288
#define SMTP_AUTH_TEXT_MAX	(SMTP_AUTH_MAX - 2)

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
	CMD_STARTTLS,
	CMD_AUTH,
	CMD_BDAT,
	/* known, not implemented: 502 5.5.1 */
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
 * space removed). Lines longer than SMTP_CMD_TEXT_MAX are too long, except
 * AUTH lines, which may have SMTP_AUTH_TEXT_MAX octets. Sets *cmd (CMD_UNKNOWN for an unknown verb) and *args
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

#define SMTP_ENVID_MAX	100	/* RFC 3461 4.4 */
#define SMTP_ORCPT_MAX	(ADDR_MAX + 16)

struct smtp_mail_args {
	struct mailaddr	addr;		/* domain "" and local "" for <> */
	long long	size;		/* SIZE=, -1 when not given */
	int		body;		/* ENV_BODY_*, -1 when not given */
	int		ret;		/* ENV_RET_*, ENV_RET_NONE when not given */
	int		smtputf8;	/* SMTPUTF8 given (RFC 6531 3.4) */
	char		envid[SMTP_ENVID_MAX + 1];	/* xtext-decoded, "" */
};

struct smtp_rcpt_args {
	struct mailaddr	addr;		/* domain "" for <postmaster> */
	int		notify;		/* ENV_NOTIFY_* bits, 0 when not given */
	char		orcpt[SMTP_ORCPT_MAX];	/* "rfc822;addr" decoded, "" */
};

/*
 * args is what follows the verb: "FROM:<a@b> SIZE=10" (a space after the
 * colon is accepted, as is an address without angle brackets). On error
 * *err says why, for the reply text. UTF-8 in the sender is allowed only
 * with the SMTPUTF8 parameter; in a recipient only when flags has
 * ADDR_F_UTF8 (the transaction was started with SMTPUTF8).
 */
int	 smtp_parse_mail(const char *args, struct smtp_mail_args *,
	    const char **err);
int	 smtp_parse_rcpt(const char *args, int flags, struct smtp_rcpt_args *,
	    const char **err);

/*
 * RFC 3461 4 xtext: "+" and two upper-case hex digits stand for one
 * octet; other octets are 33..126 except "+" and "=". Decodes into out;
 * 0, or -1 when in is not xtext, does not fit, or decodes to a control
 * character.
 */
int	 smtp_xtext_decode(const char *in, char *out, size_t outsz);

/* "BDAT 1234 [LAST]" arguments (RFC 3030 2): 0 or -1 */
#define SMTP_BDAT_MAX	1000000000000ULL	/* a sane cap on a chunk */
int	 smtp_parse_bdat(const char *args, unsigned long long *size,
	    int *last);

/*
 * "AUTH mechanism [initial-response]" (RFC 4954 4): copies the mechanism
 * (upper-cased, 1..20 of A-Z 0-9 - _) into mech, sets *ir to the initial
 * response or NULL when there is none. 0 or -1.
 */
#define SMTP_SASL_MECH_MAX	20
int	 smtp_parse_auth(const char *args, char *mech, size_t mechsz,
	    const char **ir);

/*
 * Base64 (RFC 4648 4), strict: length a multiple of 4, padding only at
 * the end, no white space. Writes at most outsz bytes and a NUL after
 * them (so outsz must leave room for it). Returns the decoded length, or
 * -1.
 */
long	 smtp_b64_decode(const char *in, unsigned char *out, size_t outsz);

/*
 * A SASL PLAIN message (RFC 4616 2): authzid NUL authcid NUL passwd.
 * Copies the three parts; -1 when the message is malformed or a part does
 * not fit (authcid and passwd must not be empty).
 */
int	 smtp_sasl_plain(const unsigned char *msg, size_t len, char *authz,
	    size_t authzsz, char *user, size_t usersz, char *pass,
	    size_t passsz);

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
