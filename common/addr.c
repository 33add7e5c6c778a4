/*
 * SMTP addresses: the Path of MAIL FROM and RCPT TO.
 *
 * RFC 5321 4.1.2 (Path, A-d-l, Mailbox, Local-part, Dot-string,
 * Quoted-string, Domain), 4.1.3 (address literals: IPv4, "IPv6:"),
 * 4.5.3.1 (lengths: local part 64, domain 255, path 256 octets), and
 * RFC 6531 3.3 (UTF-8 in local parts and domains, only with SMTPUTF8).
 * A source route ("<@a,@b:u@d>") is checked and dropped, as 4.1.2 and
 * Appendix C say. Domains are lower-cased; a trailing dot is an error.
 */
#include <arpa/inet.h>
#include <netinet/in.h>

#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "addr.h"

#define PATH_MAX_LEN	256	/* RFC 5321 4.5.3.1.3 */
#define LABEL_MAX	63	/* RFC 1035 2.3.4 */

static size_t	utf8_seq(const unsigned char *, const unsigned char *);
static int	is_atext(int);
static int	is_alnum(int);
static const char *parse_local(const unsigned char **, const unsigned char *,
		    int, struct mailaddr *);
static const char *parse_domain(const unsigned char *, const unsigned char *,
		    int, char *, size_t);
static const char *parse_literal(const unsigned char *, const unsigned char *,
		    char *, size_t);

/* length of the valid UTF-8 multi-byte sequence at p, or 0 (RFC 3629 4) */
static size_t
utf8_seq(const unsigned char *p, const unsigned char *end)
{
	unsigned char	lo = 0x80, hi = 0xbf;
	size_t		n, i;

	if (p[0] >= 0xc2 && p[0] <= 0xdf)
		n = 2;
	else if (p[0] >= 0xe0 && p[0] <= 0xef) {
		n = 3;
		if (p[0] == 0xe0)
			lo = 0xa0;
		else if (p[0] == 0xed)
			hi = 0x9f;
	} else if (p[0] >= 0xf0 && p[0] <= 0xf4) {
		n = 4;
		if (p[0] == 0xf0)
			lo = 0x90;
		else if (p[0] == 0xf4)
			hi = 0x8f;
	} else
		return 0;
	if ((size_t)(end - p) < n)
		return 0;
	if (p[1] < lo || p[1] > hi)
		return 0;
	for (i = 2; i < n; i++)
		if (p[i] < 0x80 || p[i] > 0xbf)
			return 0;
	return n;
}

static int
is_alnum(int c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9');
}

/* RFC 5322 3.2.3 atext, ASCII part */
static int
is_atext(int c)
{
	return is_alnum(c) || (c != '\0' && strchr("!#$%&'*+-/=?^_`{|}~", c));
}

/*
 * Local-part = Dot-string / Quoted-string, from *pp up to the '@' (or end).
 * Copies it as written into a->local; advances *pp.
 */
static const char *
parse_local(const unsigned char **pp, const unsigned char *end, int flags,
    struct mailaddr *a)
{
	const unsigned char	*p = *pp, *start = *pp;
	size_t			 content = 0, n;
	int			 dot = 1;

	if (p < end && *p == '"') {
		for (p++; p < end && *p != '"'; ) {
			if (*p == '\\') {
				if (p + 1 >= end || p[1] < 32 || p[1] > 126)
					return "syntax error in local part";
				p += 2;
				content++;
			} else if (*p >= 32 && *p <= 126) {
				p++;
				content++;
			} else if (*p >= 0x80) {
				if (!(flags & ADDR_F_UTF8))
					return "8-bit address without SMTPUTF8";
				if ((n = utf8_seq(p, end)) == 0)
					return "invalid UTF-8 in local part";
				p += n;
				content += n;
			} else
				return "syntax error in local part";
		}
		if (p >= end)
			return "unterminated quoted local part";
		p++;
	} else {
		while (p < end && *p != '@') {
			if (*p == '.') {
				if (dot)
					return "syntax error in local part";
				dot = 1;
				p++;
				content++;
				continue;
			}
			dot = 0;
			if (is_atext(*p)) {
				p++;
				content++;
			} else if (*p >= 0x80) {
				if (!(flags & ADDR_F_UTF8))
					return "8-bit address without SMTPUTF8";
				if ((n = utf8_seq(p, end)) == 0)
					return "invalid UTF-8 in local part";
				p += n;
				content += n;
			} else
				return "syntax error in local part";
		}
		if (p == start)
			return "empty local part";
		if (dot)
			return "syntax error in local part";
	}
	if (content > ADDR_LOCAL_MAX)
		return "local part too long";
	if ((size_t)(p - start) >= sizeof(a->local))
		return "local part too long";
	memcpy(a->local, start, p - start);
	a->local[p - start] = '\0';
	*pp = p;
	return NULL;
}

/* address-literal (RFC 5321 4.1.3), [start, end) holding "[...]" */
static const char *
parse_literal(const unsigned char *start, const unsigned char *end, char *out,
    size_t outsz)
{
	const unsigned char	*p;
	char			 buf[64];
	struct in6_addr		 in6;
	size_t			 n = end - start, i;
	int			 parts = 0, digits = 0, v = 0;

	if (n < 3 || end[-1] != ']')
		return "bad address literal";
	if (n - 2 >= sizeof(buf) || n >= outsz)
		return "bad address literal";
	memcpy(buf, start + 1, n - 2);
	buf[n - 2] = '\0';

	if (strncasecmp(buf, "IPv6:", 5) == 0) {
		if (inet_pton(AF_INET6, buf + 5, &in6) != 1)
			return "bad IPv6 address literal";
		out[0] = '[';
		memcpy(out + 1, "IPv6:", 5);
		for (i = 5; buf[i] != '\0'; i++)
			out[i + 1] = (buf[i] >= 'A' && buf[i] <= 'Z') ?
			    buf[i] - 'A' + 'a' : buf[i];
		out[i + 1] = ']';
		out[i + 2] = '\0';
		return NULL;
	}
	/* IPv4-address-literal = Snum 3("." Snum), Snum 0-255, 1-3 digits */
	for (p = (unsigned char *)buf; ; p++) {
		if (*p >= '0' && *p <= '9') {
			v = v * 10 + (*p - '0');
			if (++digits > 3 || v > 255)
				return "bad address literal";
			continue;
		}
		if (digits == 0 || (*p != '.' && *p != '\0'))
			return "bad address literal";
		parts++;
		if (*p == '\0')
			break;
		digits = v = 0;
	}
	if (parts != 4)
		return "bad address literal";
	memcpy(out, start, n);
	out[n] = '\0';
	return NULL;
}

/* Domain (RFC 5321 4.1.2, U-labels with SMTPUTF8), lower-cased into out */
static const char *
parse_domain(const unsigned char *start, const unsigned char *end, int flags,
    char *out, size_t outsz)
{
	const unsigned char	*p, *label;
	size_t			 n, len = end - start;

	if (len == 0)
		return "missing domain";
	if (len > ADDR_DOMAIN_MAX || len >= outsz)
		return "domain too long";
	if (end[-1] == '.')
		return "trailing dot in domain";
	for (p = start; p < end; ) {
		label = p;
		/* Let-dig [Ldh-str]: starts and ends with a letter or digit */
		while (p < end && *p != '.') {
			if (is_alnum(*p) || *p == '-')
				p++;
			else if (*p >= 0x80) {
				if (!(flags & ADDR_F_UTF8))
					return "8-bit address without SMTPUTF8";
				if ((n = utf8_seq(p, end)) == 0)
					return "invalid UTF-8 in domain";
				p += n;
			} else
				return "syntax error in domain";
		}
		if (p == label || *label == '-' || p[-1] == '-')
			return "syntax error in domain";
		if ((size_t)(p - label) > LABEL_MAX)
			return "domain label too long";
		if (p < end)
			p++;	/* the dot */
	}
	for (n = 0; n < len; n++)
		out[n] = (start[n] >= 'A' && start[n] <= 'Z') ?
		    start[n] - 'A' + 'a' : start[n];
	out[len] = '\0';
	return NULL;
}

int
addr_parse_path(const char *s, int flags, struct mailaddr *a,
    const char **err)
{
	const unsigned char	*p, *end, *q;
	char			 route[ADDR_DOMAIN_MAX + 1];
	size_t			 n = strlen(s);
	const char		*e;

	memset(a, 0, sizeof(*a));
	*err = NULL;
	if (n > PATH_MAX_LEN) {
		*err = "path too long";
		return -1;
	}
	if (n == 0 || s[0] != '<') {
		*err = "missing '<'";
		return -1;
	}
	if (n < 2 || s[n - 1] != '>') {
		*err = "missing '>'";
		return -1;
	}
	p = (const unsigned char *)s + 1;
	end = (const unsigned char *)s + n - 1;

	if (p == end) {
		if (flags & ADDR_F_NULLOK)
			return 0;
		*err = "null path not allowed";
		return -1;
	}

	/* A-d-l ":" : checked, then dropped */
	if (*p == '@') {
		for (;;) {
			p++;
			for (q = p; q < end && *q != ',' && *q != ':'; q++)
				;
			if (q == end) {
				*err = "syntax error in source route";
				return -1;
			}
			if ((e = parse_domain(p, q, flags, route,
			    sizeof(route))) != NULL) {
				*err = e;
				return -1;
			}
			p = q + 1;
			if (*q == ':')
				break;
			if (p >= end || *p != '@') {
				*err = "syntax error in source route";
				return -1;
			}
		}
	}

	if ((e = parse_local(&p, end, flags, a)) != NULL) {
		*err = e;
		return -1;
	}
	if (p == end) {
		if ((flags & ADDR_F_NODOMAIN) &&
		    strcasecmp(a->local, "postmaster") == 0)
			return 0;
		*err = "missing domain";
		goto fail;
	}
	if (*p != '@') {
		*err = "syntax error in local part";
		goto fail;
	}
	p++;
	if (p < end && *p == '[')
		e = parse_literal(p, end, a->domain, sizeof(a->domain));
	else
		e = parse_domain(p, end, flags, a->domain, sizeof(a->domain));
	if (e != NULL) {
		*err = e;
		goto fail;
	}
	return 0;

fail:
	memset(a, 0, sizeof(*a));
	return -1;
}

char *
addr_format(const struct mailaddr *a, char *buf, size_t bufsz)
{
	if (bufsz == 0)
		return buf;
	if (a->domain[0] == '\0')
		snprintf(buf, bufsz, "%s", a->local);
	else
		snprintf(buf, bufsz, "%s@%s", a->local, a->domain);
	return buf;
}

int
addr_local_unquoted(const struct mailaddr *a, char *buf, size_t bufsz)
{
	const char	*p = a->local;
	size_t		 n = 0;

	if (bufsz == 0)
		return -1;
	if (*p != '"') {
		if (strlen(p) >= bufsz)
			return -1;
		memcpy(buf, p, strlen(p) + 1);
		return 0;
	}
	for (p++; *p != '\0' && *p != '"'; p++) {
		if (*p == '\\' && p[1] != '\0')
			p++;
		if (n + 1 >= bufsz)
			return -1;
		buf[n++] = *p;
	}
	buf[n] = '\0';
	return 0;
}
