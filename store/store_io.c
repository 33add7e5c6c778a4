/*
 * Message text as a client receives it. Maildir files have LF line ends;
 * POP3 (RFC 1939 3) and IMAP (RFC 9051 2.2) send CRLF, and POP3
 * byte-stuffs a line that starts with "." (RFC 1939 3). Every LF becomes
 * CRLF, exactly as deliver counts the ",W=" size, so the octet counts in
 * LIST and STAT match what RETR sends.
 */
#include <sys/types.h>

#include <string.h>

#include "store.h"

void
store_crlf_init(struct store_crlf *c, int dotstuff)
{
	c->bol = 1;
	c->dotstuff = dotstuff;
}

size_t
store_crlf(struct store_crlf *c, const char *in, size_t inlen, char *out)
{
	const char	*p = in, *end = in + inlen, *nl;
	char		*o = out;
	size_t		 n;

	while (p < end) {
		if (c->bol && c->dotstuff && *p == '.')
			*o++ = '.';
		c->bol = 0;
		nl = memchr(p, '\n', (size_t)(end - p));
		n = (size_t)((nl != NULL ? nl : end) - p);
		memcpy(o, p, n);
		o += n;
		p += n;
		if (nl != NULL) {
			*o++ = '\r';
			*o++ = '\n';
			p++;
			c->bol = 1;
		}
	}
	return (size_t)(o - out);
}

uint64_t
store_crlf_size(const char *buf, size_t len)
{
	const char	*p = buf, *end = buf + len;
	uint64_t	 n = len;

	while (p < end && (p = memchr(p, '\n', (size_t)(end - p))) != NULL) {
		n++;
		p++;
	}
	return n;
}
