/*
 * Unit tests for smtpd/smtp_data.c, the DATA state machine: end of DATA,
 * dot-unstuffing, bare LF lines stored with CRLF, the SMTP smuggling
 * sequences, line and message size limits, input split anywhere.
 */
#include <stdlib.h>
#include <string.h>

#include "../../smtpd/smtp_data.h"
#include "t.h"

struct sink {
	char	buf[8192];
	size_t	len;
};

static void
sink_out(void *arg, const char *p, size_t n)
{
	struct sink	*k = arg;

	if (k->len + n < sizeof(k->buf)) {
		memcpy(k->buf + k->len, p, n);
		k->len += n;
	}
	k->buf[k->len] = '\0';
}

struct result {
	int	done;
	int	status;
	size_t	consumed;
	char	out[8192];
};

/* feeds in, chunk bytes at a time (0: all at once) */
static void
run(const char *in, int flags, size_t maxline, uint64_t maxsize,
    size_t chunk, struct result *r)
{
	struct smtp_data	d;
	struct sink		k;
	size_t			len = strlen(in), off = 0, n, c;

	memset(&k, 0, sizeof(k));
	smtp_data_init(&d, flags, maxline, maxsize, sink_out, &k);
	while (off < len && !d.done) {
		n = chunk ? chunk : len;
		if (n > len - off)
			n = len - off;
		c = smtp_data_feed(&d, in + off, n);
		off += c;
		if (c < n)
			break;
	}
	r->done = d.done;
	r->status = d.status;
	r->consumed = off;
	strlcpy(r->out, k.buf, sizeof(r->out));
	smtp_data_free(&d);
}

static const struct {
	const char	*name;
	const char	*in;
	int		 flags;
	int		 done;
	int		 status;
	const char	*out;
	size_t		 consumed;	/* 0: all of in */
} cases[] = {
	{ "CRLF.CRLF ends", "hi\r\n.\r\n", 0, 1, DATA_OK, "hi\r\n", 0 },
	{ "empty message", ".\r\n", 0, 1, DATA_OK, "", 0 },
	{ "dot-unstuffing", "..a\r\n...\r\n.\r\n", 0, 1, DATA_OK,
	    ".a\r\n..\r\n", 0 },
	{ "dot not alone", ".x\r\nx.\r\n.\r\n", 0, 1, DATA_OK,
	    "x\r\nx.\r\n", 0 },
	{ "rest is left for commands", "a\r\n.\r\nQUIT\r\n", 0, 1, DATA_OK,
	    "a\r\n", 6 },
	{ "not ended", "a\r\nb\r\n", 0, 0, DATA_OK, "a\r\nb\r\n", 0 },
	{ "bare LF lines stored with CRLF", "a\nb\r\n.\r\n",
	    DATA_F_BARELF, 1, DATA_OK, "a\r\nb\r\n", 0 },
	{ "bare LF lines, strict end", "a\nb\r\n.\r\n", 0, 1, DATA_OK,
	    "a\r\nb\r\n", 0 },
	{ "LF.LF ends when allowed", "hi\n.\n", DATA_F_BARELF, 1, DATA_OK,
	    "hi\r\n", 0 },
	{ "LF.CRLF ends when allowed", "hi\n.\r\n", DATA_F_BARELF, 1,
	    DATA_OK, "hi\r\n", 0 },
	{ "CRLF.LF ends when allowed", "hi\r\n.\n", DATA_F_BARELF, 1,
	    DATA_OK, "hi\r\n", 0 },
	{ "LF.LF refused otherwise", "hi\n.\nMAIL FROM:<x@y>\r\n\r\n.\r\n",
	    0, 1, DATA_SMUGGLE, "hi\r\n", 0 },
	{ "LF.CRLF refused otherwise", "hi\n.\r\nx\r\n.\r\n", 0, 1,
	    DATA_SMUGGLE, "hi\r\n", 0 },
	{ "CRLF.LF refused otherwise", "hi\r\n.\nx\r\n.\r\n", 0, 1,
	    DATA_SMUGGLE, "hi\r\n", 0 },
	{ "CR.CR refused", "hi\r.\rRSET\r\n.\r\n", 0, 1,
	    DATA_SMUGGLE, "", 0 },
	{ "CR.CRLF refused", "hi\r.\r\nx\r\n.\r\n", 0, 1, DATA_SMUGGLE,
	    "", 0 },
	{ "CR.CR refused even with bare LF allowed", "hi\r.\rx\r\n.\r\n",
	    DATA_F_BARELF, 1, DATA_SMUGGLE, "", 0 },
	{ "bare CR kept elsewhere", "a\rb\r\n.\r\n", 0, 1, DATA_OK,
	    "a\rb\r\n", 0 },
	{ "CR dot in text kept", "a\r.b\r\n.\r\n", 0, 1, DATA_OK,
	    "a\r.b\r\n", 0 },
	{ "line at the limit", "0123456789\r\n.\r\n", 0, 1, DATA_OK,
	    "0123456789\r\n", 0 },
	{ "line over the limit", "0123456789X\r\nok\r\n.\r\n", 0, 1,
	    DATA_LINELONG, "", 0 },
	{ "line over the limit, read to the end",
	    "a\r\n0123456789012345678901234567890\r\n.\r\nQUIT\r\n", 0, 1,
	    DATA_LINELONG, "a\r\n", 39 },
	{ "message too big", "0123456789\r\n0123456789\r\n0123456789\r\n"
	    "0123456789\r\n.\r\n", 0, 1, DATA_TOOBIG,
	    "0123456789\r\n0123456789\r\n0123456789\r\n", 0 },
};

static void
test_cases(void)
{
	static const size_t	 chunks[] = { 0, 1, 2, 3, 7 };
	struct result		 r;
	size_t			 i, j, want;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		want = cases[i].consumed ? cases[i].consumed :
		    strlen(cases[i].in);
		for (j = 0; j < sizeof(chunks) / sizeof(chunks[0]); j++) {
			run(cases[i].in, cases[i].flags, 10, 40, chunks[j], &r);
			CHECK_NUM(r.done, cases[i].done, "%s: done (chunk %zu)",
			    cases[i].name, chunks[j]);
			CHECK_NUM(r.status, cases[i].status,
			    "%s: status (chunk %zu)", cases[i].name,
			    chunks[j]);
			CHECK_STR(r.out, cases[i].out, "%s: text (chunk %zu)",
			    cases[i].name, chunks[j]);
			CHECK_NUM(r.consumed, want, "%s: consumed (chunk %zu)",
			    cases[i].name, chunks[j]);
		}
	}
}

static void
test_big(void)
{
	struct smtp_data	 d;
	struct sink		 k;
	char			*line;
	size_t			 n = 100000;

	/* a long line within a large limit */
	line = malloc(n + 8);
	memset(line, 'x', n);
	memcpy(line + n, "\r\n.\r\n", 6);
	memset(&k, 0, sizeof(k));
	smtp_data_init(&d, 0, 200000, 0, sink_out, &k);
	CHECK_NUM(smtp_data_feed(&d, line, n + 5), n + 5, "100k line read");
	CHECK(d.done && d.status == DATA_OK, "100k line accepted");
	CHECK_NUM(d.size, n + 2, "100k line size");
	smtp_data_free(&d);

	/* the same line over a 64k limit */
	memset(&k, 0, sizeof(k));
	smtp_data_init(&d, 0, 65536, 0, sink_out, &k);
	CHECK_NUM(smtp_data_feed(&d, line, n + 5), n + 5, "100k line read");
	CHECK(d.done && d.status == DATA_LINELONG, "100k line refused");
	CHECK_NUM(d.size, 0, "nothing stored");
	smtp_data_free(&d);
	free(line);

	CHECK(strncmp(smtp_data_reply(DATA_TOOBIG), "552 5.3.4 ", 10) == 0,
	    "too big reply");
	CHECK(strncmp(smtp_data_reply(DATA_SMUGGLE), "554 5.5.2 ", 10) == 0,
	    "smuggling reply");
	CHECK(strncmp(smtp_data_reply(DATA_LINELONG), "554 5.6.0 ", 10) == 0,
	    "line too long reply");
}

/* BDAT chunks (DATA_F_RAW): no dot handling, no end marker */
static void
test_raw(void)
{
	struct smtp_data	 d;
	struct sink		 k;
	const char		*msg = "Subject: x\r\n\r\n.\r\n..dots\nbare\r\n"
				    ".\r\nend";
	size_t			 len = strlen(msg), i;

	for (i = 1; i <= len; i++) {
		memset(&k, 0, sizeof(k));
		smtp_data_init(&d, DATA_F_RAW, 1000, 0, sink_out, &k);
		CHECK_NUM(smtp_data_feed(&d, msg, i), i,
		    "raw chunk 1 of %zu consumed", i);
		CHECK_NUM(smtp_data_feed(&d, msg + i, len - i), len - i,
		    "raw chunk 2 after %zu consumed", i);
		CHECK(!d.done, "raw: no end marker (%zu)", i);
		smtp_data_finish(&d);
		CHECK(d.done, "raw: finished (%zu)", i);
		CHECK_NUM(d.status, DATA_OK, "raw status (%zu)", i);
		CHECK_STR(k.buf, "Subject: x\r\n\r\n.\r\n..dots\r\nbare\r\n"
		    ".\r\nend\r\n", "raw text kept, CRLF (%zu)", i);
		smtp_data_free(&d);
	}
	memset(&k, 0, sizeof(k));
	smtp_data_init(&d, DATA_F_RAW, 1000, 10, sink_out, &k);
	smtp_data_feed(&d, "0123456789\r\n", 12);
	smtp_data_finish(&d);
	CHECK_NUM(d.status, DATA_TOOBIG, "raw: size limit");
	smtp_data_free(&d);
	memset(&k, 0, sizeof(k));
	smtp_data_init(&d, DATA_F_RAW, 4, 0, sink_out, &k);
	smtp_data_feed(&d, "abcdefgh\r\nab\r\n", 14);
	smtp_data_finish(&d);
	CHECK_NUM(d.status, DATA_LINELONG, "raw: line limit");
	smtp_data_free(&d);
	memset(&k, 0, sizeof(k));
	smtp_data_init(&d, DATA_F_RAW, 1000, 0, sink_out, &k);
	smtp_data_finish(&d);
	CHECK(d.done && k.len == 0, "raw: BDAT 0 LAST is an empty message");
	smtp_data_free(&d);
}

int
main(void)
{
	test_cases();
	test_big();
	test_raw();
	return t_done();
}
