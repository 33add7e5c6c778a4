/*
 * POP3 command lines: RFC 1939 3 (keywords of three or four characters,
 * case-insensitive, arguments separated by a space, up to 40 characters
 * each), RFC 2449 4 (255-octet lines), RFC 5034 4 (AUTH mechanism and
 * initial response; "=" is an empty one), RFC 4616 (SASL PLAIN).
 * Lenient where clients are: several spaces are accepted between words.
 */
#include <sys/types.h>

#include <ctype.h>
#include <string.h>
#include <strings.h>

#include "base64.h"
#include "pop3_parse.h"

static const char *pop3_names[POP3_CMD_COUNT] = {
	"UNKNOWN", "USER", "PASS", "APOP", "AUTH", "CAPA", "STLS", "QUIT",
	"NOOP", "STAT", "LIST", "RETR", "DELE", "RSET", "TOP", "UIDL"
};

const char *
pop3_cmd_name(int cmd)
{
	return cmd >= 0 && cmd < POP3_CMD_COUNT ? pop3_names[cmd] : "?";
}

int
pop3_cmd_parse(const char *line, size_t len, int *cmd, const char **args)
{
	size_t	i, kw;
	int	c;

	*cmd = POP3_UNKNOWN;
	*args = "";
	for (i = 0; i < len; i++)
		if (line[i] == '\0' || line[i] == '\r' || line[i] == '\n')
			return POP3_P_BADCHAR;
	for (kw = 0; kw < len && line[kw] != ' ' && line[kw] != '\t'; kw++)
		;
	if (kw >= 3 && kw <= 4) {
		for (c = 1; c < POP3_CMD_COUNT; c++) {
			if (strlen(pop3_names[c]) == kw &&
			    strncasecmp(line, pop3_names[c], kw) == 0) {
				*cmd = c;
				break;
			}
		}
	}
	i = kw;
	while (i < len && (line[i] == ' ' || line[i] == '\t'))
		i++;
	*args = line + i;
	if (*cmd == POP3_AUTH || *cmd == POP3_UNKNOWN)
		return len > POP3_AUTH_LINE_MAX ? POP3_P_TOOLONG : POP3_P_OK;
	return len > POP3_LINE_MAX ? POP3_P_TOOLONG : POP3_P_OK;
}

/* a decimal number with no sign; advances *pp */
static int
parse_num(const char **pp, uint32_t *out)
{
	const char	*p = *pp;
	uint64_t	 v = 0;

	if (*p < '0' || *p > '9')
		return -1;
	for (; *p >= '0' && *p <= '9'; p++) {
		v = v * 10 + (uint64_t)(*p - '0');
		if (v > 0x7fffffff)
			return -1;
	}
	*pp = p;
	*out = (uint32_t)v;
	return 0;
}

static const char *
skip_blanks(const char *p)
{
	while (*p == ' ' || *p == '\t')
		p++;
	return p;
}

int
pop3_parse_msgno(const char *args, uint32_t *n)
{
	const char	*p = skip_blanks(args);

	if (parse_num(&p, n) == -1)
		return -1;
	return *skip_blanks(p) == '\0' ? 0 : -1;
}

int
pop3_parse_top(const char *args, uint32_t *msg, uint32_t *lines)
{
	const char	*p = skip_blanks(args);

	if (parse_num(&p, msg) == -1 || (*p != ' ' && *p != '\t'))
		return -1;
	p = skip_blanks(p);
	if (parse_num(&p, lines) == -1)
		return -1;
	return *skip_blanks(p) == '\0' ? 0 : -1;
}

int
pop3_parse_auth(const char *args, char *mech, size_t mechsz, const char **ir)
{
	const char	*p = skip_blanks(args);
	size_t		 n = 0;

	*ir = NULL;
	for (; *p != '\0' && *p != ' ' && *p != '\t'; p++) {
		/* RFC 4422 3.1: A-Z 0-9 - _, up to 20 characters */
		if (!isalnum((unsigned char)*p) && *p != '-' && *p != '_')
			return -1;
		if (n + 1 >= mechsz || n >= 20)
			return -1;
		mech[n++] = (char)toupper((unsigned char)*p);
	}
	mech[n] = '\0';
	if (n == 0)
		return -1;
	p = skip_blanks(p);
	if (*p != '\0') {
		*ir = p;
		/* one word: trailing blanks are tolerated, more words not */
		for (; *p != '\0' && *p != ' ' && *p != '\t'; p++)
			;
		if (*skip_blanks(p) != '\0')
			return -1;
	}
	return 0;
}

int
pop3_sasl_plain(const char *b64, char *user, size_t usersz, char *pass,
    size_t passsz)
{
	unsigned char	 buf[1024];
	const char	*authz, *authc, *pw;
	size_t		 alen, clen, plen;
	ssize_t		 n;
	int		 r = -1;

	if (strcmp(b64, "=") == 0)
		return -1;		/* an empty response holds nothing */
	n = base64_decode(b64, strlen(b64), buf, sizeof(buf) - 1);
	if (n <= 0)
		goto done;
	buf[n] = '\0';
	authz = (const char *)buf;
	alen = strlen(authz);
	if ((ssize_t)alen >= n)
		goto done;
	authc = authz + alen + 1;
	clen = strlen(authc);
	if ((ssize_t)(alen + 1 + clen) >= n)
		goto done;
	pw = authc + clen + 1;
	plen = (size_t)n - alen - clen - 2;
	if (memchr(pw, '\0', plen) != NULL || clen == 0 || plen == 0)
		goto done;
	if (alen > 0 && strcmp(authz, authc) != 0)
		goto done;
	if (clen >= usersz || plen >= passsz)
		goto done;
	memcpy(user, authc, clen + 1);
	memcpy(pass, pw, plen);
	pass[plen] = '\0';
	r = 0;
 done:
	explicit_bzero(buf, sizeof(buf));
	return r;
}
