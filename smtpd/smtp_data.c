/*
 * The DATA phase, byte by byte (RFC 5321 4.1.1.4 end of data, 4.5.2
 * transparency / dot-unstuffing, 4.5.3.1.6 text line length).
 *
 * Lines end at LF; a line ending in a bare LF is treated as a CRLF line
 * and stored with CRLF. The end of DATA is CRLF "." CRLF. With
 * DATA_F_BARELF (bare_newline_exclusions, the local socket) LF "." LF and
 * the mixed forms end DATA too. Otherwise a dot line with a bare LF or a
 * bare CR around it (\n.\n, \n.\r\n, \r\n.\n, \r.\r) does not end DATA
 * and refuses the message (SMTP smuggling, CVE-2023-51764 class): the
 * client is read to the real end, then answered 554 5.5.2. A bare CR
 * around a dot is refused for every client: no SMTP software sends it.
 *
 * With DATA_F_RAW (BDAT chunks, RFC 3030 2) the text is taken as is: no
 * dot-unstuffing, no end marker, no smuggling rule (there is no dot line
 * to smuggle); lines still get CRLF and the size and line limits apply.
 */
#include <stdlib.h>
#include <string.h>

#include "util.h"
#include "smtp_data.h"

enum { BRK_START, BRK_CRLF, BRK_LF };

void
smtp_data_init(struct smtp_data *d, int flags, size_t maxline,
    uint64_t maxsize, smtp_data_out *out, void *arg)
{
	memset(d, 0, sizeof(*d));
	d->flags = flags;
	d->maxline = maxline ? maxline : 1000;
	d->maxsize = maxsize;
	d->out = out;
	d->arg = arg;
	d->prev = BRK_START;
}

void
smtp_data_free(struct smtp_data *d)
{
	free(d->line);
	d->line = NULL;
	d->len = d->cap = 0;
}

const char *
smtp_data_reply(int status)
{
	switch (status) {
	case DATA_OK:
		return "250 2.0.0 Ok";
	case DATA_TOOBIG:
		return "552 5.3.4 Message size exceeds fixed limit";
	case DATA_LINELONG:
		return "554 5.6.0 Message refused: line too long";
	case DATA_SMUGGLE:
	default:
		return "554 5.5.2 Message refused: bare CR or LF around a "
		    "dot line (SMTP smuggling)";
	}
}

static void
refuse(struct smtp_data *d, int status)
{
	if (d->status == DATA_OK)
		d->status = status;
}

static void
append(struct smtp_data *d, const char *p, size_t n)
{
	size_t	need = d->len + n + 2;	/* room for the CRLF we add */

	if (need > d->cap) {
		size_t cap = d->cap ? d->cap : 1024;
		while (cap < need)
			cap *= 2;
		d->line = xreallocarray(d->line, cap, 1);
		d->cap = cap;
	}
	memcpy(d->line + d->len, p, n);
	d->len += n;
}

/* a dot with a bare CR on one side and a line break on the other */
static int
bare_cr_dot(const char *p, size_t n)
{
	size_t	i;

	if (n >= 2 && p[0] == '.' && p[1] == '\r')
		return 1;
	if (n >= 2 && p[n - 2] == '\r' && p[n - 1] == '.')
		return 1;
	for (i = 1; i + 1 < n; i++)
		if (p[i] == '.' && p[i - 1] == '\r' && p[i + 1] == '\r')
			return 1;
	return 0;
}

static void
line_end(struct smtp_data *d)
{
	char	*p = d->line;
	size_t	 n = d->len;
	int	 brk = BRK_LF;

	d->len = 0;
	if (n > 0 && p[n - 1] == '\r') {
		brk = BRK_CRLF;
		n--;
	}
	if (d->skipping) {
		d->skipping = 0;
		d->prev = d->skipcr ? BRK_CRLF : BRK_LF;
		return;
	}
	d->nlines++;
	if (n > d->maxline) {
		refuse(d, DATA_LINELONG);
		d->prev = brk;
		return;
	}
	if (d->flags & DATA_F_RAW) {
		d->prev = brk;
		goto out;
	}
	if (n == 1 && p[0] == '.') {
		if ((d->prev != BRK_LF && brk == BRK_CRLF) ||
		    (d->flags & DATA_F_BARELF)) {
			d->done = 1;
			return;
		}
		refuse(d, DATA_SMUGGLE);
		d->prev = brk;
		return;
	}
	d->prev = brk;
	if (bare_cr_dot(p, n)) {
		refuse(d, DATA_SMUGGLE);
		return;
	}
	if (d->status != DATA_OK)
		return;
	if (n > 0 && p[0] == '.') {
		p++;
		n--;
	}
out:
	if (d->status != DATA_OK)
		return;
	if (d->maxsize > 0 && d->size + n + 2 > d->maxsize) {
		refuse(d, DATA_TOOBIG);
		return;
	}
	p[n] = '\r';
	p[n + 1] = '\n';
	d->out(d->arg, p, n + 2);
	d->size += n + 2;
}

void
smtp_data_finish(struct smtp_data *d)
{
	if (d->len > 0 || d->skipping)
		line_end(d);
	d->done = 1;
}

size_t
smtp_data_feed(struct smtp_data *d, const char *buf, size_t len)
{
	const char	*lf;
	size_t		 off = 0, n;

	while (off < len && !d->done) {
		lf = memchr(buf + off, '\n', len - off);
		n = lf ? (size_t)(lf - (buf + off)) : len - off;
		if (!d->skipping && d->len + n > d->maxline + 1) {
			/* + 1: the CR of a CRLF is still in the line */
			refuse(d, DATA_LINELONG);
			d->skipping = 1;
			d->skipcr = d->len > 0 && d->line[d->len - 1] == '\r';
			d->len = 0;
		}
		if (d->skipping) {
			if (n > 0)
				d->skipcr = buf[off + n - 1] == '\r';
		} else
			append(d, buf + off, n);
		off += n;
		if (lf == NULL)
			break;
		off++;
		line_end(d);
	}
	return off;
}
