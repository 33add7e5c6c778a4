/*
 * The queue side of the control socket's requests (forwarded by
 * facteurd, answered with the same reqid): show one message, and hold,
 * release, delete, requeue by selector, as postsuper(1) -h/-H/-d/-r do.
 *
 * Selector (common/ipc.h): "ID", "ALL", "from=ADDR" (the envelope sender,
 * "<>" or "" for the null sender), "to=ADDR" (any recipient, alias or
 * final); addresses compare case-insensitively.
 *
 *	hold	the message is not delivered until released (deliveries
 *		already sent to deliver finish)
 *	release	held no more; deferred recipients are tried now
 *	delete	the file and its record are removed; no notification
 *	requeue	every recipient not final is resolved again through auth
 *		(aliases may have changed) and tried now
 */
#include <sys/types.h>

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ipc.h"
#include "log.h"
#include "util.h"
#include "queue.h"

#define SHOW_CHUNK	(32 * 1024)

struct sel {
	uint32_t	 type;
	const char	*id;
	const char	*from;
	const char	*to;
	int		 all;
	uint32_t	 n;
	char		 act[16];
};

static int
sel_match(const struct sel *s, const struct qmsg *m)
{
	size_t	i;

	if (s->all)
		return 1;
	if (s->id != NULL)
		return strcmp(s->id, m->id) == 0;
	if (s->from != NULL) {
		if (s->from[0] == '\0' || strcmp(s->from, "<>") == 0)
			return m->env.sender[0] == '\0';
		return strcasecmp(s->from, m->env.sender) == 0;
	}
	if (s->to != NULL)
		for (i = 0; i < m->env.nrcpt; i++)
			if (strcasecmp(s->to, m->env.rcpt[i].addr) == 0)
				return 1;
	return 0;
}

static void
do_hold(struct qmsg *m)
{
	m->flags |= QM_HELD;
	qmsg_dirty(m);
	log_info("%s: held", m->id);
}

static void
do_release(struct qmsg *m)
{
	uint32_t	i;

	m->flags &= ~QM_HELD;
	for (i = 0; i < m->env.nrcpt; i++)
		if (m->rcpt[i].state == RS_DEFERRED)
			m->rcpt[i].next = 0;
	qmsg_dirty(m);
	log_info("%s: released", m->id);
	sched_message(m);
}

static void
do_requeue(struct qmsg *m)
{
	struct qrcpt	*r;
	uint32_t	 i;

	for (i = 0; i < m->env.nrcpt; i++) {
		r = &m->rcpt[i];
		if (rcpt_final(r) || r->inflight || r->queued || r->expanding)
			continue;
		/* resolved again: an alias, an account or a remote address */
		strlcpy(m->env.rcpt[i].mailbox, QUEUE_MAILBOX_EXPAND,
		    sizeof(m->env.rcpt[i].mailbox));
		r->state = RS_PENDING;
		r->next = 0;
	}
	qmsg_dirty(m);
	log_info("%s: requeued", m->id);
	sched_message(m);
}

static void
sel_one(struct qmsg *m, void *arg)
{
	struct sel	*s = arg;

	if (!sel_match(s, m))
		return;
	switch (s->type) {
	case IPC_CTL_QUEUE_HOLD:
		if (m->flags & QM_HELD)
			return;
		do_hold(m);
		break;
	case IPC_CTL_QUEUE_RELEASE:
		if (!(m->flags & QM_HELD))
			return;
		do_release(m);
		break;
	case IPC_CTL_QUEUE_DELETE:
		log_info("%s: removed (deleted by the administrator)", m->id);
		qmsg_delete(m);
		break;
	case IPC_CTL_QUEUE_REQUEUE:
		do_requeue(m);
		break;
	default:
		return;
	}
	s->n++;
}

/* the number of messages affected, or 0 for a bad selector */
uint32_t
ctl_select(uint32_t type, const char *selector)
{
	struct sel	 s;

	memset(&s, 0, sizeof(s));
	s.type = type;
	if (strcmp(selector, "ALL") == 0)
		s.all = 1;
	else if (strncmp(selector, "from=", 5) == 0)
		s.from = selector + 5;
	else if (strncmp(selector, "to=", 3) == 0 && selector[3] != '\0')
		s.to = selector + 3;
	else if (queueid_valid(selector))
		s.id = selector;
	else {
		log_warnx("control: bad selector '%s'", selector);
		return 0;
	}
	qmsg_foreach(sel_one, &s);
	if (s.n)
		sched_pump();
	sched_flush();
	return s.n;
}

/* IPC_CTL_QUEUE_SHOW: the listing record, the header (LF), END */
void
ctl_show(struct ipc_chan *chan, uint32_t reqid, const char *id)
{
	static struct ipc_wbuf	 w;
	struct qmsg		*m;
	char			*buf, *p, *q, *end;
	size_t			 want, got = 0, n;
	ssize_t			 r;
	int			 fd;

	if ((m = qmsg_find(id)) == NULL) {
		ipc_wbuf_init(&w);
		ipc_put_u32(&w, 0);
		ipc_sendw(chan, IPC_CTL_QUEUE_END, reqid, -1, &w);
		return;
	}
	list_one(chan, reqid, m);
	want = m->size < QUEUE_SHOW_MAX ? m->size : QUEUE_SHOW_MAX;
	buf = xmalloc(want + 1);
	if ((fd = queue_fs_open(m->id)) != -1) {
		while (got < want) {
			r = pread(fd, buf + got, want - got, m->offset + got);
			if (r == -1 && errno == EINTR)
				continue;
			if (r <= 0)
				break;
			got += r;
		}
		close(fd);
	} else
		log_warn("%s: open %s/%s", m->id, QUEUE_QUEUE_DIR, m->id);
	buf[got] = '\0';
	if ((end = strstr(buf, "\r\n\r\n")) != NULL)
		end[2] = '\0';
	else if ((end = strstr(buf, "\n\n")) != NULL)
		end[1] = '\0';
	/* CRLF -> LF; NULs end it */
	for (p = q = buf; *p != '\0'; p++)
		if (!(*p == '\r' && p[1] == '\n'))
			*q++ = *p;
	*q = '\0';
	for (p = buf, n = strlen(buf); n > 0; ) {
		size_t c = n < SHOW_CHUNK ? n : SHOW_CHUNK;

		ipc_wbuf_init(&w);
		ipc_put_strn(&w, p, c);
		ipc_sendw(chan, IPC_CTL_QUEUE_TEXT, reqid, -1, &w);
		p += c;
		n -= c;
	}
	free(buf);
	ipc_wbuf_init(&w);
	ipc_put_u32(&w, 1);
	ipc_sendw(chan, IPC_CTL_QUEUE_END, reqid, -1, &w);
}
