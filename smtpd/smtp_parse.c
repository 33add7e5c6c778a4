/*
 * SMTP command parsing, without I/O.
 *
 * RFC 5321 4.1.1 (command syntax: a verb, case-insensitive, then SP and
 * arguments), 4.1.2 (Path, Mail-parameters, Rcpt-parameters: esmtp-keyword
 * ["=" esmtp-value]), 4.5.3.1.4 (512 octets a command line), RFC 1870
 * (SIZE=), RFC 6152 (BODY=7BIT / 8BITMIME). Liberal where Postfix is:
 * "MAIL FROM: <a@b>" and "MAIL FROM:a@b" are accepted.
 */
#include <sys/types.h>
#include <sys/socket.h>

#include <netinet/in.h>
#include <arpa/inet.h>

#include <ctype.h>
#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "addr.h"
#include "envelope.h"
#include "base64.h"
#include "smtp_parse.h"

static const char *cmd_names[CMD_COUNT] = {
	[CMD_UNKNOWN] = "UNKNOWN",
	[CMD_HELO] = "HELO",
	[CMD_EHLO] = "EHLO",
	[CMD_MAIL] = "MAIL",
	[CMD_RCPT] = "RCPT",
	[CMD_DATA] = "DATA",
	[CMD_RSET] = "RSET",
	[CMD_NOOP] = "NOOP",
	[CMD_QUIT] = "QUIT",
	[CMD_VRFY] = "VRFY",
	[CMD_EXPN] = "EXPN",
	[CMD_HELP] = "HELP",
	[CMD_STARTTLS] = "STARTTLS",
	[CMD_AUTH] = "AUTH",
	[CMD_BDAT] = "BDAT",
	[CMD_ETRN] = "ETRN",
	[CMD_TURN] = "TURN",
	[CMD_SEND] = "SEND",
	[CMD_SOML] = "SOML",
	[CMD_SAML] = "SAML",
};

/* the longest Path we look at: "<" local "@" domain ">" with a route */
#define PATH_MAX_LEN	(ADDR_MAX * 2 + 8)

const char *
smtp_cmd_name(int cmd)
{
	if (cmd < 0 || cmd >= CMD_COUNT)
		return "UNKNOWN";
	return cmd_names[cmd];
}

int
smtp_cmd_parse(char *line, size_t len, int *cmd, const char **args)
{
	size_t	 i, vlen, olen = len;
	int	 c;


	*cmd = CMD_UNKNOWN;
	*args = "";
	if (len > SMTP_AUTH_TEXT_MAX)
		return SMTP_CMD_TOOLONG;
	if (memchr(line, '\0', len) != NULL || memchr(line, '\r', len) != NULL)
		return SMTP_CMD_BADCHAR;
	line[len] = '\0';
	/* trailing white space is not part of any argument */
	while (len > 0 && (line[len - 1] == ' ' || line[len - 1] == '\t'))
		line[--len] = '\0';

	for (vlen = 0; vlen < len && isalnum((unsigned char)line[vlen]); vlen++)
		;
	if (vlen == 0 || (vlen < len && line[vlen] != ' ' &&
	    line[vlen] != '\t'))
		return SMTP_CMD_OK;
	for (c = 1; c < CMD_COUNT; c++) {
		if (strlen(cmd_names[c]) == vlen &&
		    strncasecmp(line, cmd_names[c], vlen) == 0)
			break;
	}
	if (olen > SMTP_CMD_TEXT_MAX && c != CMD_AUTH)
		return SMTP_CMD_TOOLONG;
	if (c == CMD_COUNT)
		return SMTP_CMD_OK;
	*cmd = c;
	for (i = vlen; i < len && (line[i] == ' ' || line[i] == '\t'); i++)
		;
	*args = line + i;
	return SMTP_CMD_OK;
}

/*
 * Splits "FROM:<path> params" after the keyword: copies the path (with
 * its brackets, added when missing) into path and points *rest at the
 * parameters. 0 or -1 (syntax).
 */
static int
split_path(const char *args, const char *kw, char *path, size_t pathsz,
    const char **rest)
{
	size_t		 kwlen = strlen(kw), n;
	const char	*p, *start;
	int		 quoted = 0;

	if (strncasecmp(args, kw, kwlen) != 0)
		return -1;
	p = args + kwlen;
	while (*p == ' ' || *p == '\t')
		p++;
	if (*p == '\0')
		return -1;
	start = p;
	if (*p == '<') {
		for (p++; *p != '\0'; p++) {
			if (quoted && *p == '\\' && p[1] != '\0')
				p++;
			else if (*p == '"')
				quoted = !quoted;
			else if (!quoted && *p == '>')
				break;
		}
		if (*p != '>')
			return -1;
		p++;
		n = p - start;
		if (n + 1 > pathsz)
			return -1;
		memcpy(path, start, n);
		path[n] = '\0';
	} else {
		/* Postfix-like leniency: a bare address up to the next space */
		while (*p != '\0' && *p != ' ' && *p != '\t')
			p++;
		n = p - start;
		if (n + 3 > pathsz || memchr(start, '>', n) != NULL ||
		    memchr(start, '<', n) != NULL)
			return -1;
		path[0] = '<';
		memcpy(path + 1, start, n);
		path[n + 1] = '>';
		path[n + 2] = '\0';
	}
	if (*p != '\0' && *p != ' ' && *p != '\t')
		return -1;
	while (*p == ' ' || *p == '\t')
		p++;
	*rest = p;
	return 0;
}

/*
 * Next "keyword[=value]" from *pp into kw and val ("" when no value).
 * Returns 1 when one was read, 0 at the end, -1 on bad syntax.
 */
static int
next_param(const char **pp, char *kw, size_t kwsz, char *val, size_t valsz,
    int *hasval)
{
	const char	*p = *pp;
	size_t		 n;

	while (*p == ' ' || *p == '\t')
		p++;
	if (*p == '\0')
		return 0;
	/* esmtp-keyword = (ALPHA / DIGIT) *(ALPHA / DIGIT / "-") */
	for (n = 0; isalnum((unsigned char)p[n]) || (n > 0 && p[n] == '-');
	    n++)
		;
	if (n == 0 || n >= kwsz)
		return -1;
	memcpy(kw, p, n);
	kw[n] = '\0';
	p += n;
	*hasval = 0;
	val[0] = '\0';
	if (*p == '=') {
		p++;
		/* esmtp-value = 1*(%d33-60 / %d62-126) */
		for (n = 0; p[n] >= 33 && p[n] <= 126 && p[n] != '='; n++)
			;
		if (n == 0 || n >= valsz)
			return -1;
		memcpy(val, p, n);
		val[n] = '\0';
		p += n;
		*hasval = 1;
	}
	if (*p != '\0' && *p != ' ' && *p != '\t')
		return -1;
	*pp = p;
	return 1;
}

static int
parse_size(const char *val, long long *size)
{
	unsigned long long	 v = 0;
	const char		*p;

	if (*val == '\0')
		return -1;
	for (p = val; *p != '\0'; p++) {
		if (!isdigit((unsigned char)*p))
			return -1;
		if (v > (unsigned long long)LLONG_MAX / 10)
			v = LLONG_MAX;	/* saturate: over any limit */
		else
			v = v * 10 + (*p - '0');
		if (v > (unsigned long long)LLONG_MAX)
			v = LLONG_MAX;
	}
	*size = (long long)v;
	return 0;
}

static int
parse_ret(const char *val, int *ret)
{
	if (strcasecmp(val, "FULL") == 0)
		*ret = ENV_RET_FULL;
	else if (strcasecmp(val, "HDRS") == 0)
		*ret = ENV_RET_HDRS;
	else
		return -1;
	return 0;
}

/* NOTIFY=NEVER or a comma list of SUCCESS, FAILURE, DELAY (RFC 3461 4.1) */
static int
parse_notify(const char *val, int *notify)
{
	static const struct {
		const char	*name;
		int		 flag;
	} names[] = {
		{ "NEVER", ENV_NOTIFY_NEVER },
		{ "SUCCESS", ENV_NOTIFY_SUCCESS },
		{ "FAILURE", ENV_NOTIFY_FAILURE },
		{ "DELAY", ENV_NOTIFY_DELAY },
	};
	const char	*p = val, *comma;
	size_t		 n, i;
	int		 f = 0;

	for (;;) {
		comma = strchr(p, ',');
		n = comma ? (size_t)(comma - p) : strlen(p);
		for (i = 0; i < sizeof(names) / sizeof(names[0]); i++)
			if (strlen(names[i].name) == n &&
			    strncasecmp(p, names[i].name, n) == 0)
				break;
		if (i == sizeof(names) / sizeof(names[0]) ||
		    (f & names[i].flag))
			return -1;
		f |= names[i].flag;
		if (comma == NULL)
			break;
		p = comma + 1;
	}
	if ((f & ENV_NOTIFY_NEVER) && f != ENV_NOTIFY_NEVER)
		return -1;
	*notify = f;
	return 0;
}

/* ORCPT=addr-type;xtext (RFC 3461 4.2): kept as "type;decoded address" */
static int
parse_orcpt(const char *val, char *out, size_t outsz)
{
	const char	*semi;
	size_t		 n, i;

	if ((semi = strchr(val, ';')) == NULL)
		return -1;
	n = semi - val;
	if (n == 0 || n + 2 > outsz)
		return -1;
	for (i = 0; i < n; i++)
		if (!isalnum((unsigned char)val[i]) && val[i] != '-')
			return -1;
	memcpy(out, val, n + 1);
	if (strncasecmp(val, "utf-8;", 6) == 0) {
		/* RFC 6533 utf-8-addr-xtext: kept as written */
		if (strlen(semi + 1) == 0 || strlcpy(out + n + 1, semi + 1,
		    outsz - n - 1) >= outsz - n - 1)
			return -1;
	} else if (semi[1] == '\0' ||
	    smtp_xtext_decode(semi + 1, out + n + 1, outsz - n - 1) == -1)
		return -1;
	return 0;
}

int
smtp_parse_mail(const char *args, struct smtp_mail_args *m, const char **err)
{
	char		 path[PATH_MAX_LEN], kw[32], val[1024];
	const char	*rest, *aerr;
	int		 r, hasval, envid = 0;

	memset(m, 0, sizeof(*m));
	m->size = -1;
	m->body = -1;
	m->ret = ENV_RET_NONE;
	*err = "Syntax: MAIL FROM:<address>";
	if (split_path(args, "FROM:", path, sizeof(path), &rest) == -1)
		return SMTP_P_SYNTAX;
	while ((r = next_param(&rest, kw, sizeof(kw), val, sizeof(val),
	    &hasval)) == 1) {
		if (strcasecmp(kw, "SIZE") == 0) {
			if (m->size != -1 || !hasval ||
			    parse_size(val, &m->size) == -1) {
				*err = "Bad SIZE parameter";
				return SMTP_P_PARAMVAL;
			}
		} else if (strcasecmp(kw, "BODY") == 0) {
			if (m->body != -1 || !hasval) {
				*err = "Bad BODY parameter";
				return SMTP_P_PARAMVAL;
			}
			if (strcasecmp(val, "7BIT") == 0)
				m->body = ENV_BODY_7BIT;
			else if (strcasecmp(val, "8BITMIME") == 0)
				m->body = ENV_BODY_8BITMIME;
			else {
				*err = "Unsupported BODY parameter";
				return SMTP_P_PARAM;
			}
		} else if (strcasecmp(kw, "RET") == 0) {
			if (m->ret != ENV_RET_NONE || !hasval ||
			    parse_ret(val, &m->ret) == -1) {
				*err = "Bad RET parameter";
				return SMTP_P_PARAMVAL;
			}
		} else if (strcasecmp(kw, "ENVID") == 0) {
			if (envid || !hasval || smtp_xtext_decode(val,
			    m->envid, sizeof(m->envid)) == -1) {
				*err = "Bad ENVID parameter";
				return SMTP_P_PARAMVAL;
			}
			envid = 1;
		} else if (strcasecmp(kw, "SMTPUTF8") == 0) {
			if (m->smtputf8 || hasval) {
				*err = "Bad SMTPUTF8 parameter";
				return SMTP_P_PARAMVAL;
			}
			m->smtputf8 = 1;
		} else {
			*err = "Unsupported MAIL parameter";
			return SMTP_P_PARAM;
		}
	}
	if (r == -1) {
		*err = "Syntax: MAIL FROM:<address> [SIZE=n] [BODY=8BITMIME]";
		return SMTP_P_SYNTAX;
	}
	if (addr_parse_path(path, ADDR_F_NULLOK |
	    (m->smtputf8 ? ADDR_F_UTF8 : 0), &m->addr, &aerr) == -1) {
		*err = "Bad sender address syntax";
		return SMTP_P_ADDR;
	}
	*err = NULL;
	return SMTP_P_OK;
}

int
smtp_parse_rcpt(const char *args, int flags, struct smtp_rcpt_args *rc,
    const char **err)
{
	char		 path[PATH_MAX_LEN], kw[32], val[1024];
	const char	*rest, *aerr;
	int		 r, hasval;

	memset(rc, 0, sizeof(*rc));
	*err = "Syntax: RCPT TO:<address>";
	if (split_path(args, "TO:", path, sizeof(path), &rest) == -1)
		return SMTP_P_SYNTAX;
	if (addr_parse_path(path, ADDR_F_NODOMAIN | (flags & ADDR_F_UTF8),
	    &rc->addr, &aerr) == -1) {
		*err = "Bad recipient address syntax";
		return SMTP_P_ADDR;
	}
	/* without a domain, only <postmaster> (RFC 5321 4.5.1) */
	if (rc->addr.domain[0] == '\0' &&
	    strcasecmp(rc->addr.local, "postmaster") != 0) {
		*err = "Bad recipient address syntax";
		return SMTP_P_ADDR;
	}
	while ((r = next_param(&rest, kw, sizeof(kw), val, sizeof(val),
	    &hasval)) == 1) {
		if (strcasecmp(kw, "NOTIFY") == 0) {
			if (rc->notify != 0 || !hasval ||
			    parse_notify(val, &rc->notify) == -1) {
				*err = "Bad NOTIFY parameter";
				return SMTP_P_PARAMVAL;
			}
		} else if (strcasecmp(kw, "ORCPT") == 0) {
			if (rc->orcpt[0] != '\0' || !hasval ||
			    parse_orcpt(val, rc->orcpt,
			    sizeof(rc->orcpt)) == -1) {
				*err = "Bad ORCPT parameter";
				return SMTP_P_PARAMVAL;
			}
		} else {
			*err = "Unsupported RCPT parameter";
			return SMTP_P_PARAM;
		}
	}
	if (r == -1) {
		*err = "Syntax: RCPT TO:<address>";
		return SMTP_P_SYNTAX;
	}
	*err = NULL;
	return SMTP_P_OK;
}

static int
hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

int
smtp_xtext_decode(const char *in, char *out, size_t outsz)
{
	const unsigned char	*p = (const unsigned char *)in;
	size_t			 n = 0;
	int			 hi, lo, c;

	if (outsz == 0)
		return -1;
	while (*p != '\0') {
		if (*p == '+') {
			if ((hi = hexval(p[1])) == -1 ||
			    (lo = hexval(p[2])) == -1)
				return -1;
			c = hi * 16 + lo;
			p += 3;
		} else if (*p >= 33 && *p <= 126 && *p != '=') {
			c = *p++;
		} else
			return -1;
		if (c < 32 || c == 127 || n + 1 >= outsz)
			return -1;
		out[n++] = (char)c;
	}
	out[n] = '\0';
	return 0;
}

int
smtp_parse_bdat(const char *args, unsigned long long *size, int *last)
{
	const char		*p = args;
	unsigned long long	 v = 0;

	*size = 0;
	*last = 0;
	if (!isdigit((unsigned char)*p))
		return -1;
	for (; isdigit((unsigned char)*p); p++) {
		v = v * 10 + (unsigned long long)(*p - '0');
		if (v > SMTP_BDAT_MAX)
			return -1;
	}
	if (*p != '\0') {
		if (*p != ' ' && *p != '\t')
			return -1;
		while (*p == ' ' || *p == '\t')
			p++;
		if (strcasecmp(p, "LAST") != 0)
			return -1;
		*last = 1;
	}
	*size = v;
	return 0;
}

int
smtp_parse_auth(const char *args, char *mech, size_t mechsz, const char **ir)
{
	size_t	n;

	*ir = NULL;
	for (n = 0; args[n] != '\0' && args[n] != ' ' && args[n] != '\t';
	    n++) {
		if (!isalnum((unsigned char)args[n]) && args[n] != '-' &&
		    args[n] != '_')
			return -1;
	}
	if (n == 0 || n > SMTP_SASL_MECH_MAX || n >= mechsz)
		return -1;
	memcpy(mech, args, n);
	mech[n] = '\0';
	for (n = 0; mech[n] != '\0'; n++)
		mech[n] = toupper((unsigned char)mech[n]);
	args += n;
	while (*args == ' ' || *args == '\t')
		args++;
	if (*args != '\0') {
		if (strchr(args, ' ') != NULL || strchr(args, '\t') != NULL)
			return -1;
		*ir = args;
	}
	return 0;
}

long
smtp_b64_decode(const char *in, unsigned char *out, size_t outsz)
{
	ssize_t	n;

	/* room for the NUL the SASL parsers rely on */
	if (outsz == 0 ||
	    (n = base64_decode(in, strlen(in), out, outsz - 1)) == -1)
		return -1;
	out[n] = '\0';
	return (long)n;
}

int
smtp_sasl_plain(const unsigned char *msg, size_t len, char *authz,
    size_t authzsz, char *user, size_t usersz, char *pass, size_t passsz)
{
	const unsigned char	*nul1, *nul2;
	size_t			 a, u, p;

	if ((nul1 = memchr(msg, '\0', len)) == NULL)
		return -1;
	a = nul1 - msg;
	if ((nul2 = memchr(nul1 + 1, '\0', len - a - 1)) == NULL)
		return -1;
	u = nul2 - (nul1 + 1);
	p = len - a - u - 2;
	if (u == 0 || p == 0 || a >= authzsz || u >= usersz || p >= passsz ||
	    memchr(nul2 + 1, '\0', p) != NULL)
		return -1;
	memcpy(authz, msg, a);
	authz[a] = '\0';
	memcpy(user, nul1 + 1, u);
	user[u] = '\0';
	memcpy(pass, nul2 + 1, p);
	pass[p] = '\0';
	return 0;
}

int
smtp_parse_helo(const char *args, char *buf, size_t bufsz)
{
	size_t	n;

	for (n = 0; args[n] != '\0' && args[n] != ' ' && args[n] != '\t'; n++)
		if ((unsigned char)args[n] < 33 || (unsigned char)args[n] > 126)
			return -1;
	if (n == 0 || n > 255 || n >= bufsz)
		return -1;
	memcpy(buf, args, n);
	buf[n] = '\0';
	return 0;
}

int
smtp_cidr_match(const char *cidr, const struct sockaddr *sa)
{
	char			 net[INET6_ADDRSTRLEN + 1];
	const char		*slash;
	unsigned char		 want[16], have[16];
	const unsigned char	*a;
	struct in6_addr		 a6;
	size_t			 n;
	long			 bits, maxbits;
	char			*end;
	int			 fam, i;

	slash = strchr(cidr, '/');
	n = slash ? (size_t)(slash - cidr) : strlen(cidr);
	if (n == 0 || n >= sizeof(net))
		return -1;
	memcpy(net, cidr, n);
	net[n] = '\0';
	if (inet_pton(AF_INET, net, want) == 1) {
		fam = AF_INET;
		maxbits = 32;
	} else if (inet_pton(AF_INET6, net, want) == 1) {
		fam = AF_INET6;
		maxbits = 128;
	} else
		return -1;
	bits = maxbits;
	if (slash) {
		bits = strtol(slash + 1, &end, 10);
		if (slash[1] == '\0' || *end != '\0' || bits < 0 ||
		    bits > maxbits)
			return -1;
	}

	if (sa->sa_family == AF_INET) {
		if (fam != AF_INET)
			return 0;
		memcpy(have, &((const struct sockaddr_in *)sa)->sin_addr, 4);
	} else if (sa->sa_family == AF_INET6) {
		memcpy(&a6, &((const struct sockaddr_in6 *)sa)->sin6_addr,
		    sizeof(a6));
		a = a6.s6_addr;
		if (fam == AF_INET) {
			if (!IN6_IS_ADDR_V4MAPPED(&a6))
				return 0;
			memcpy(have, a + 12, 4);
		} else
			memcpy(have, a, 16);
	} else
		return 0;

	for (i = 0; bits >= 8; i++, bits -= 8)
		if (want[i] != have[i])
			return 0;
	if (bits > 0) {
		unsigned char mask = (unsigned char)(0xff << (8 - bits));
		if ((want[i] & mask) != (have[i] & mask))
			return 0;
	}
	return 1;
}
