/*
 * POP3 command lines (RFC 1939 3, RFC 2449 4, RFC 5034): the keyword,
 * its arguments, and SASL PLAIN. Pure functions, used by both halves of
 * popd, the unit tests and the fuzz target.
 */
#ifndef FACTEUR_POP3_PARSE_H
#define FACTEUR_POP3_PARSE_H

#include <stddef.h>
#include <stdint.h>

enum pop3_cmd {
	POP3_UNKNOWN = 0,
	POP3_USER,
	POP3_PASS,
	POP3_APOP,
	POP3_AUTH,
	POP3_CAPA,
	POP3_STLS,
	POP3_QUIT,
	POP3_NOOP,
	POP3_STAT,
	POP3_LIST,
	POP3_RETR,
	POP3_DELE,
	POP3_RSET,
	POP3_TOP,
	POP3_UIDL,
	POP3_CMD_COUNT
};

/* RFC 2449 4: 255 octets for a command line; AUTH lines may be longer */
#define POP3_LINE_MAX		255
#define POP3_AUTH_LINE_MAX	4096

enum pop3_parse_result {
	POP3_P_OK = 0,
	POP3_P_TOOLONG,
	POP3_P_BADCHAR,		/* NUL or another control byte */
};

const char	*pop3_cmd_name(int);
/*
 * Splits a line (without its CRLF / LF) into the command and its
 * arguments (the rest after the spaces that follow the keyword; "" when
 * none). Keywords are case-insensitive. Returns a pop3_parse_result.
 */
int	pop3_cmd_parse(const char *line, size_t len, int *cmd,
	    const char **args);
/* one message number (1..2^31-1), blanks around allowed; 0 or -1 */
int	pop3_parse_msgno(const char *, uint32_t *);
/* "msg n" for TOP; 0 or -1 */
int	pop3_parse_top(const char *, uint32_t *msg, uint32_t *lines);
/* "MECH [initial-response]"; mech upper-cased; *ir NULL when absent */
int	pop3_parse_auth(const char *, char *mech, size_t mechsz,
	    const char **ir);
/*
 * SASL PLAIN (RFC 4616): base64 of "authzid NUL authcid NUL passwd".
 * The authzid must be empty or equal to the authcid. 0 or -1.
 */
int	pop3_sasl_plain(const char *b64, char *user, size_t usersz,
	    char *pass, size_t passsz);

#endif
