/*
 * Delivery status notifications: RFC 3464 DSNs in an RFC 6522
 * multipart/report, following the NOTIFY and RET parameters of RFC 3461.
 *
 *	failure		recipients bounced (or expired): to the sender,
 *			unless NOTIFY says otherwise (default FAILURE,DELAY)
 *	delay		recipients not delivered after delay_warning_time
 *			(failed at least once, still retried),
 *			once per recipient, when NOTIFY has DELAY (default)
 *	success		recipients delivered with NOTIFY=SUCCESS
 *	double bounce	a message with the null sender failed (a bounce
 *			that could not be delivered): to the postmaster
 *			(RFC 5321 6.1 / 4.5.5: never a bounce to <>); if
 *			that fails too, it is logged and dropped
 *
 * One notification covers every recipient of the message that is due when
 * a delivery pass ends (nothing in flight). The third part is the whole
 * message (message/rfc822) for a failure when RET is FULL or absent (as
 * Postfix does) and the message is at most bounce_size_limit; else its
 * header (text/rfc822-headers, RFC 6522), and always the header for delay
 * and success notices (RFC 3461 4.3).
 *
 * A notification is a new queue message (null sender, proto DSN or DSN2,
 * its recipient resolved through auth like any other) committed through
 * queue_fs.c's durable path; the recipients it reports are marked only
 * once it is committed. A crash in between may send it twice, never lose
 * it.
 */
#include <sys/types.h>

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "util.h"
#include "queue.h"

#define DSN_TEXT_MAX	400	/* diagnostic text in one field */
#define DSN_RETRY	10	/* seconds after a failed commit */

enum dsn_kind { DSN_FAILURE, DSN_DELAY, DSN_SUCCESS, DSN_DOUBLE };

static const char *kind_names[] = { "failure", "delay", "success",
    "double-bounce" };

struct dsnjob {
	char		 id[QUEUEID_LEN + 1];
	int		 kind;
	uint32_t	*idx;
	size_t		 n;
	char		 to[ADDR_MAX];
};

uint64_t	stat_dsn;

struct sbuf {
	char	*p;
	size_t	 len, cap;
};

static void
sb_add(struct sbuf *b, const char *s, size_t n)
{
	if (b->len + n + 1 > b->cap) {
		while (b->len + n + 1 > b->cap)
			b->cap = b->cap ? b->cap * 2 : 4096;
		b->p = xreallocarray(b->p, b->cap, 1);
	}
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = '\0';
}

static void __attribute__((format(printf, 2, 3)))
sb_printf(struct sbuf *b, const char *fmt, ...)
{
	char	*s;
	va_list	 ap;
	int	 n;

	va_start(ap, fmt);
	n = vasprintf(&s, fmt, ap);
	va_end(ap);
	if (n == -1)
		fatal("vasprintf");
	sb_add(b, s, n);
	free(s);
}

static void
rfc5322_date(uint64_t t, char *buf, size_t bufsz)
{
	time_t		tt = (time_t)t;
	struct tm	tm;

	localtime_r(&tt, &tm);
	if (strftime(buf, bufsz, "%a, %d %b %Y %H:%M:%S %z", &tm) == 0)
		strlcpy(buf, "Thu, 01 Jan 1970 00:00:00 +0000", bufsz);
}

/* printable ASCII only, at most DSN_TEXT_MAX bytes */
static void
clean_text(const char *in, char *out, size_t outsz)
{
	size_t	n = 0;

	for (; *in != '\0' && n + 1 < outsz && n < DSN_TEXT_MAX; in++)
		out[n++] = (*in >= 0x20 && *in < 0x7f) ? *in : '?';
	out[n] = '\0';
}

static int
rcpt_notify(const struct env_rcpt *er)
{
	/* RFC 3461 4.1: no NOTIFY means FAILURE,DELAY (our choice) */
	return er->notify ? er->notify : (ENV_NOTIFY_FAILURE |
	    ENV_NOTIFY_DELAY);
}

static int
msg_busy(const struct qmsg *m)
{
	size_t	i;

	for (i = 0; i < m->env.nrcpt; i++)
		if (m->rcpt[i].inflight || m->rcpt[i].queued ||
		    m->rcpt[i].expanding)
			return 1;
	return 0;
}

/* "X.Y.Z text" of a bounced recipient into code and text */
static void
split_error(const struct qrcpt *r, char *code, size_t codesz, char *text,
    size_t textsz)
{
	const char	*e = r->error ? r->error : "";
	size_t		 n = strcspn(e, " ");

	if (n >= 5 && n < codesz && (e[0] == '4' || e[0] == '5') &&
	    e[1] == '.') {
		memcpy(code, e, n);
		code[n] = '\0';
		e += n;
		while (*e == ' ')
			e++;
	} else
		strlcpy(code, r->state == RS_BOUNCED ? "5.0.0" : "4.0.0",
		    codesz);
	clean_text(*e ? e : "delivery failed", text, textsz);
}

/* the original message: header only, or all of it (up to limit) */
static char *
read_original(struct qmsg *m, int full, size_t *lenp)
{
	char	*buf, *end;
	size_t	 want, got = 0;
	ssize_t	 r;
	int	 fd;

	*lenp = 0;
	if ((fd = queue_fs_open(m->id)) == -1)
		return NULL;
	want = m->size;
	if (!full && want > QUEUE_SHOW_MAX)
		want = QUEUE_SHOW_MAX;
	buf = xmalloc(want + 3);
	while (got < want) {
		r = pread(fd, buf + got, want - got, m->offset + got);
		if (r == -1 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		got += r;
	}
	close(fd);
	buf[got] = '\0';
	if (!full) {
		if ((end = strstr(buf, "\r\n\r\n")) != NULL)
			got = end - buf + 2;
		else if (memchr(buf, '\0', got) == NULL &&
		    (end = strstr(buf, "\n\n")) != NULL)
			got = end - buf + 1;
	}
	if (got < 2 || buf[got - 2] != '\r' || buf[got - 1] != '\n') {
		memcpy(buf + got, "\r\n", 2);
		got += 2;
	}
	*lenp = got;
	return buf;
}

static void
human_part(struct sbuf *b, struct qmsg *m, int kind, uint32_t *idx,
    size_t n, int truncated)
{
	char		 code[16], text[DSN_TEXT_MAX + 1], date[64];
	const char	*what;
	size_t		 k;

	sb_printf(b, "This is the facteur mail system at %s.\r\n\r\n",
	    qconf.hostname);
	switch (kind) {
	case DSN_FAILURE:
		sb_printf(b, "Your message could not be delivered to the "
		    "recipients below.\r\nThe mail system has given up on "
		    "them; the reasons follow.\r\n");
		break;
	case DSN_DELAY:
		rfc5322_date(m->env.arrival + qconf.lifetime, date,
		    sizeof(date));
		sb_printf(b, "Your message has not been delivered yet to the "
		    "recipients below.\r\nThe mail system keeps trying "
		    "until %s;\r\nyou do not need to send it again.\r\n",
		    date);
		break;
	case DSN_SUCCESS:
		sb_printf(b, "Your message was delivered to the recipients "
		    "below, as you asked.\r\n");
		break;
	case DSN_DOUBLE:
		sb_printf(b, "A message with no return address (usually a "
		    "delivery notification)\r\ncould not be delivered. It "
		    "cannot be returned, so this copy goes to\r\nthe "
		    "postmaster.\r\n");
		break;
	}
	sb_printf(b, "\r\nQueue id: %s\r\n\r\n", m->id);
	for (k = 0; k < n; k++) {
		const struct qrcpt *r = &m->rcpt[idx[k]];

		if (r->state == RS_DELIVERED)
			what = "delivered";
		else {
			split_error(r, code, sizeof(code), text, sizeof(text));
			what = text;
		}
		sb_printf(b, "<%s>", m->env.rcpt[idx[k]].addr);
		if (r->parent >= 0)
			sb_printf(b, " (expanded from <%s>)",
			    m->env.rcpt[r->parent].addr);
		sb_printf(b, ": %s\r\n", what);
	}
	if (truncated)
		sb_printf(b, "\r\nThe message is larger than %" PRIu64
		    " bytes: only its header is returned.\r\n",
		    qconf.bounce_size_limit);
}

static void
status_part(struct sbuf *b, struct qmsg *m, int kind, uint32_t *idx,
    size_t n)
{
	char		 code[16], text[DSN_TEXT_MAX + 1], date[64], *semi;
	char		 orcpt[sizeof(m->env.rcpt[0].orcpt)];
	size_t		 k;

	sb_printf(b, "Reporting-MTA: dns; %s\r\n", qconf.hostname);
	sb_printf(b, "X-Facteur-Queue-ID: %s\r\n", m->id);
	if (m->env.envid[0] != '\0')
		sb_printf(b, "Original-Envelope-Id: %s\r\n", m->env.envid);
	if (m->env.sender[0] != '\0')
		sb_printf(b, "X-Facteur-Sender: rfc822; %s\r\n",
		    m->env.sender);
	rfc5322_date(m->env.arrival, date, sizeof(date));
	sb_printf(b, "Arrival-Date: %s\r\n", date);
	rfc5322_date(now_sec(), date, sizeof(date));
	for (k = 0; k < n; k++) {
		const struct env_rcpt	*er = &m->env.rcpt[idx[k]];
		const struct qrcpt	*r = &m->rcpt[idx[k]];

		sb_printf(b, "\r\nFinal-Recipient: rfc822; %s\r\n", er->addr);
		if (er->orcpt[0] != '\0') {
			strlcpy(orcpt, er->orcpt, sizeof(orcpt));
			if ((semi = strchr(orcpt, ';')) != NULL) {
				*semi = '\0';
				sb_printf(b, "Original-Recipient: %s; %s\r\n",
				    orcpt, semi + 1);
			}
		}
		if (r->state == RS_DELIVERED) {
			sb_printf(b, "Action: delivered\r\nStatus: 2.0.0\r\n"
			    "Diagnostic-Code: X-Facteur; delivered to "
			    "mailbox\r\n");
		} else if (kind == DSN_DELAY) {
			clean_text(r->error ? r->error : "deferred", text,
			    sizeof(text));
			sb_printf(b, "Action: delayed\r\nStatus: 4.0.0\r\n"
			    "Diagnostic-Code: X-Facteur; %s\r\n", text);
		} else {
			split_error(r, code, sizeof(code), text, sizeof(text));
			sb_printf(b, "Action: failed\r\nStatus: %s\r\n"
			    "Diagnostic-Code: X-Facteur; %s\r\n", code, text);
		}
		sb_printf(b, "Last-Attempt-Date: %s\r\n", date);
		if (kind == DSN_DELAY) {
			char	until[64];

			rfc5322_date(m->env.arrival + qconf.lifetime, until,
			    sizeof(until));
			sb_printf(b, "Will-Retry-Until: %s\r\n", until);
		}
	}
}

/* the whole notification message, CRLF; sets *body8 when 8-bit */
static char *
dsn_compose(struct qmsg *m, int kind, const char *to, uint32_t *idx,
    size_t n, size_t *lenp, int *body8)
{
	static const char *subjects[] = {
		"Delivery Status Notification (Failure)",
		"Delivery Status Notification (Delay)",
		"Delivery Status Notification (Success)",
		"Undeliverable notification (double bounce)",
	};
	struct sbuf	 b = { NULL, 0, 0 };
	char		 date[64], boundary[320], *orig;
	size_t		 olen;
	int		 full = 0, truncated = 0;

	*body8 = 0;
	if (kind == DSN_FAILURE && m->env.ret != ENV_RET_HDRS &&
	    m->env.body != ENV_BODY_BINARYMIME) {
		if (m->size <= qconf.bounce_size_limit)
			full = 1;
		else
			truncated = 1;
	}
	orig = read_original(m, full, &olen);
	if (full && orig != NULL && m->env.body == ENV_BODY_8BITMIME)
		*body8 = 1;

	rfc5322_date(now_sec(), date, sizeof(date));
	snprintf(boundary, sizeof(boundary), "%s.%" PRIu64 "/%s", m->id,
	    now_sec(), qconf.hostname);
	sb_printf(&b, "Date: %s\r\n", date);
	sb_printf(&b, "From: Mail Delivery System <MAILER-DAEMON@%s>\r\n",
	    qconf.hostname);
	sb_printf(&b, "To: <%s>\r\n", to);
	sb_printf(&b, "Subject: %s\r\n", subjects[kind]);
	sb_printf(&b, "Message-ID: <%s.%s.%" PRIu64 "@%s>\r\n", m->id,
	    kind_names[kind], now_sec(), qconf.hostname);
	sb_printf(&b, "Auto-Submitted: auto-replied\r\n");
	sb_printf(&b, "MIME-Version: 1.0\r\n");
	sb_printf(&b, "Content-Type: multipart/report; "
	    "report-type=delivery-status;\r\n\tboundary=\"%s\"\r\n",
	    boundary);
	sb_printf(&b, "\r\nThis is a MIME-encapsulated message.\r\n\r\n");

	sb_printf(&b, "--%s\r\nContent-Description: Notification\r\n"
	    "Content-Type: text/plain; charset=us-ascii\r\n\r\n", boundary);
	human_part(&b, m, kind, idx, n, truncated);

	sb_printf(&b, "\r\n--%s\r\nContent-Description: Delivery report\r\n"
	    "Content-Type: message/delivery-status\r\n\r\n", boundary);
	status_part(&b, m, kind, idx, n);

	if (orig != NULL) {
		if (full)
			sb_printf(&b, "\r\n--%s\r\nContent-Description: "
			    "Undelivered Message\r\nContent-Type: "
			    "message/rfc822\r\n%s\r\n", boundary,
			    *body8 ? "Content-Transfer-Encoding: 8bit\r\n" :
			    "");
		else
			sb_printf(&b, "\r\n--%s\r\nContent-Description: "
			    "Message Headers\r\nContent-Type: "
			    "text/rfc822-headers\r\n\r\n", boundary);
		sb_add(&b, orig, olen);
		free(orig);
	} else
		sb_printf(&b, "\r\n");
	sb_printf(&b, "--%s--\r\n", boundary);
	*lenp = b.len;
	return b.p;
}

static void
dsn_committed(int status, const char *newid, void *arg)
{
	struct dsnjob	*j = arg;
	struct qmsg	*m;
	size_t		 k;

	m = qmsg_find(j->id);
	if (status != QUEUE_OK) {
		log_warnx("%s: cannot write the %s notification to <%s>: %s; "
		    "will retry", j->id, kind_names[j->kind], j->to,
		    status == QUEUE_NOSPACE ? "no space" : "temporary error");
		if (m != NULL) {
			m->dsn_busy = 0;
			m->dsn_next = now_sec() + DSN_RETRY;
		}
		goto done;
	}
	stat_dsn++;
	log_info("%s: notification=%s kind=%s to=<%s> nrcpt=%zu", j->id,
	    newid, kind_names[j->kind], j->to, j->n);
	if (m == NULL)
		goto done;		/* deleted meanwhile */
	m->dsn_busy = 0;
	for (k = 0; k < j->n; k++) {
		if (j->idx[k] >= m->env.nrcpt)
			continue;
		if (j->kind == DSN_DELAY)
			m->rcpt[j->idx[k]].dflags |= QR_DELAY_SENT;
		else
			m->rcpt[j->idx[k]].dflags |= QR_DSN_DONE;
	}
	qmsg_dirty(m);
	msg_check_done(m);
 done:
	free(j->idx);
	free(j);
}

static void
postmaster_of(char *buf, size_t bufsz)
{
	strlcpy(buf, qconf.postmaster, bufsz);
}

/* writes a notification of kind about idx[] of m; takes idx */
static void
dsn_send(struct qmsg *m, int kind, uint32_t *idx, size_t n)
{
	struct envelope	 env;
	struct env_rcpt	 er;
	struct dsnjob	*j;
	char		*text, extra[64];
	size_t		 len;
	int		 body8;

	j = xcalloc(1, sizeof(*j));
	strlcpy(j->id, m->id, sizeof(j->id));
	j->kind = kind;
	j->idx = idx;
	j->n = n;
	if (kind == DSN_DOUBLE)
		postmaster_of(j->to, sizeof(j->to));
	else
		strlcpy(j->to, m->env.sender, sizeof(j->to));

	text = dsn_compose(m, kind, j->to, idx, n, &len, &body8);
	envelope_init(&env);
	env.sender[0] = '\0';
	strlcpy(env.client, "local", sizeof(env.client));
	strlcpy(env.helo, qconf.hostname, sizeof(env.helo));
	strlcpy(env.proto, kind == DSN_DOUBLE ? QUEUE_PROTO_DSN2 :
	    QUEUE_PROTO_DSN, sizeof(env.proto));
	env.body = body8 ? ENV_BODY_8BITMIME : ENV_BODY_7BIT;
	env.smtputf8 = m->env.smtputf8;
	memset(&er, 0, sizeof(er));
	strlcpy(er.addr, j->to, sizeof(er.addr));
	strlcpy(er.mailbox, QUEUE_MAILBOX_EXPAND, sizeof(er.mailbox));
	envelope_add_rcpt(&env, &er);
	snprintf(extra, sizeof(extra), " orig_id=%s kind=%s", m->id,
	    kind_names[kind]);
	m->dsn_busy = 1;
	queue_fs_inject(&env, text, len, extra, dsn_committed, j);
	envelope_clear(&env);
	free(text);
}

int
bounce_pending(struct qmsg *m)
{
	uint32_t	*idx;
	size_t		 i, n = 0;
	int		 nullsender, dsn2, nfail = 0, notify;

	if (m->dsn_busy)
		return 1;
	nullsender = m->env.sender[0] == '\0';
	dsn2 = nullsender && strcmp(m->env.proto, QUEUE_PROTO_DSN2) == 0;
	idx = xcalloc(m->env.nrcpt ? m->env.nrcpt : 1, sizeof(*idx));
	for (i = 0; i < m->env.nrcpt; i++) {
		struct qrcpt *r = &m->rcpt[i];

		if (r->dflags & QR_DSN_DONE)
			continue;
		notify = rcpt_notify(&m->env.rcpt[i]);
		if (r->state == RS_DELIVERED) {
			if (nullsender || !(notify & ENV_NOTIFY_SUCCESS)) {
				r->dflags |= QR_DSN_DONE;
				qmsg_dirty(m);
			} else
				idx[n++] = i;
		} else if (r->state == RS_BOUNCED) {
			if (dsn2) {
				log_warnx("%s: to=<%s> double bounce not "
				    "delivered: dropped", m->id,
				    m->env.rcpt[i].addr);
				r->dflags |= QR_DSN_DONE;
				qmsg_dirty(m);
			} else if (!nullsender &&
			    !(notify & ENV_NOTIFY_FAILURE)) {
				log_info("%s: to=<%s> no notification "
				    "(NOTIFY)", m->id, m->env.rcpt[i].addr);
				r->dflags |= QR_DSN_DONE;
				qmsg_dirty(m);
			} else {
				idx[n++] = i;
				nfail++;
			}
		}
	}
	if (n == 0) {
		free(idx);
		return 0;
	}
	if (msg_busy(m) || now_sec() < m->dsn_next) {
		free(idx);
		return 1;		/* one notice when the pass ends */
	}
	dsn_send(m, nfail && nullsender ? DSN_DOUBLE : (nfail ? DSN_FAILURE :
	    DSN_SUCCESS), idx, n);
	return 1;
}

void
bounce_delay_check(struct qmsg *m)
{
	uint32_t	*idx;
	size_t		 i, n = 0;

	if (qconf.delay_warning == 0 || m->dsn_busy ||
	    m->env.sender[0] == '\0' || (m->flags & QM_HELD) ||
	    now_sec() < m->env.arrival + qconf.delay_warning ||
	    now_sec() < m->dsn_next)
		return;
	idx = xcalloc(m->env.nrcpt ? m->env.nrcpt : 1, sizeof(*idx));
	for (i = 0; i < m->env.nrcpt; i++) {
		struct qrcpt *r = &m->rcpt[i];

		/* failed at least once, not final (maybe being retried) */
		if (rcpt_final(r) || r->attempts == 0 ||
		    (r->dflags & (QR_DELAY_SENT | QR_DSN_DONE)))
			continue;
		if (!(rcpt_notify(&m->env.rcpt[i]) & ENV_NOTIFY_DELAY)) {
			r->dflags |= QR_DELAY_SENT;
			qmsg_dirty(m);
			continue;
		}
		idx[n++] = i;
	}
	if (n == 0) {
		free(idx);
		return;
	}
	dsn_send(m, DSN_DELAY, idx, n);
}
