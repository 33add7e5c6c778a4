/*
 * The control socket, <run_dir>/control.sock: AF_UNIX SOCK_SEQPACKET,
 * mode 0600, the IPC framing of ipc.h (the tool is PROC_CTL, facteurd
 * PROC_MASTER). Only root, facteurd's own uid (and in sandbox mode the
 * sandbox account) may connect: SO_PEERCRED is checked at accept.
 *
 * Requests from a tool (facteurctl, mailq):
 *	IPC_CTL_QUEUE_LIST	forwarded to queue; the answers
 *	IPC_CTL_QUEUE_FLUSH	(IPC_CTL_QUEUE_ENTRY*, IPC_CTL_QUEUE_TEXT*,
 *	IPC_CTL_QUEUE_SHOW	IPC_CTL_QUEUE_END) come back with the tool's
 *	IPC_CTL_QUEUE_HOLD	reqid. When queue is not running:
 *	IPC_CTL_QUEUE_RELEASE	IPC_CTL_QUEUE_END with count 0xffffffff at
 *	IPC_CTL_QUEUE_DELETE	once (and when queue dies before its
 *	IPC_CTL_QUEUE_REQUEUE	IPC_CTL_QUEUE_END).
 *	IPC_CTL_STATUS		(or IPC_STATS) answered by facteurd itself:
 *				it asks every running daemon IPC_STATS
 *				(waiting at most STATUS_WAIT_MS), then sends
 *				one IPC_CTL_STATUS frame, u32 count, then
 *				count str, one per process:
 *				"name=facteurd pid=N uptime=S restarts=0"
 *				"name=smtpd pid=N uptime=S restarts=N ..."
 *				(pid=0 uptime=0 for a daemon that is down);
 *				the daemon's own IPC_STATS words (key=value,
 *				e.g. the queue's queue_active=N received=N)
 *				follow restarts=N on its line. A daemon that
 *				is not configured (popd without a POP3
 *				listener) has no line.
 */
#include <sys/types.h>
#include <sys/queue.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include <errno.h>
#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "ipc.h"
#include "log.h"
#include "master.h"
#include "util.h"

#define CONTROL_MAX_CONNS	64
#define QUEUE_DOWN		0xffffffffU
#define STATUS_WAIT_MS		2000	/* for the daemons' IPC_STATS */
#define STATS_MAX		1024	/* bytes of one daemon's stats kept */

struct ctl_conn {
	TAILQ_ENTRY(ctl_conn)	 entry;
	struct ipc_chan		*chan;
	struct master		*m;
	uid_t			 uid;
};

/* a request forwarded to queue */
struct ctl_req {
	TAILQ_ENTRY(ctl_req)	 entry;
	uint32_t		 reqid;		/* ours, on the queue channel */
	uint32_t		 orig;		/* the tool's */
	struct ctl_conn		*conn;		/* NULL once the tool left */
};

/* a status request waiting for the daemons' IPC_STATS */
struct ctl_status {
	TAILQ_ENTRY(ctl_status)	 entry;
	uint32_t		 reqid;		/* ours, on the daemon channels */
	uint32_t		 orig;		/* the tool's */
	struct ctl_conn		*conn;		/* NULL once the tool left */
	struct event		*timer;
	int			 waiting[PROC_COUNT];
	char			*stats[PROC_COUNT];
};

static TAILQ_HEAD(, ctl_conn)	conns = TAILQ_HEAD_INITIALIZER(conns);
static TAILQ_HEAD(, ctl_req)	reqs = TAILQ_HEAD_INITIALIZER(reqs);
static TAILQ_HEAD(, ctl_status)	statuses =
    TAILQ_HEAD_INITIALIZER(statuses);
static size_t			nconns;
static uint32_t			next_reqid;
static int			ctl_fd = -1;
static char			*ctl_path;
static struct event		*ctl_ev;

static void	control_accept(int, short, void *);
static void	control_msg(struct ipc_chan *, struct ipc_msg *, void *);
static void	control_closed(struct ipc_chan *, void *);
static void	control_drop(struct ctl_conn *);
static void	control_forward(struct ctl_conn *, struct ipc_msg *);
static void	control_status(struct master *, struct ctl_conn *, uint32_t);
static void	control_status_send(struct ctl_status *);
static void	control_status_timeout(int, short, void *);
static void	control_forget(struct ctl_conn *);
static void	control_end(struct ctl_conn *, uint32_t, uint32_t);

/* Binds the socket (before facteurd detaches, so errors are seen). */
void
control_listen(struct master *m)
{
	struct sockaddr_un	sun;
	mode_t			old;

	if (xasprintf(&ctl_path, "%s/control.sock",
	    config_str(m->conf, NULL, "run_dir")) == -1)
		fatal("asprintf");
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	if (strlcpy(sun.sun_path, ctl_path, sizeof(sun.sun_path)) >=
	    sizeof(sun.sun_path))
		fatalx("%s: path too long for a socket", ctl_path);
	if ((ctl_fd = socket(AF_UNIX,
	    SOCK_SEQPACKET | SOCK_NONBLOCK | SOCK_CLOEXEC, 0)) == -1)
		fatal("socket");
	if (unlink(ctl_path) == -1 && errno != ENOENT)
		fatal("unlink %s", ctl_path);
	old = umask(0177);
	if (bind(ctl_fd, (struct sockaddr *)&sun, sizeof(sun)) == -1)
		fatal("cannot bind %s", ctl_path);
	umask(old);
	if (chmod(ctl_path, 0600) == -1)
		fatal("chmod %s", ctl_path);
	if (m->ctl_uid != geteuid() && chown(ctl_path, m->ctl_uid,
	    (gid_t)-1) == -1)
		fatal("chown %s", ctl_path);
	if (listen(ctl_fd, 16) == -1)
		fatal("listen on %s", ctl_path);
}

void
control_start(struct master *m)
{
	ctl_ev = event_new(m->base, ctl_fd, EV_READ | EV_PERSIST,
	    control_accept, m);
	if (ctl_ev == NULL)
		fatalx("event_new failed");
	event_add(ctl_ev, NULL);
}

void
control_close(struct master *m)
{
	if (ctl_ev != NULL)
		event_del(ctl_ev);
	if (ctl_fd != -1)
		close(ctl_fd);
	ctl_fd = -1;
	if (ctl_path != NULL)
		unlink(ctl_path);
}

static void
control_accept(int fd, short ev, void *arg)
{
	struct master	*m = arg;
	struct ctl_conn	*c;
	struct ucred	 cred;
	socklen_t	 len = sizeof(cred);
	int		 s;

	if ((s = accept4(fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC)) ==
	    -1) {
		if (errno != EAGAIN && errno != EINTR &&
		    errno != ECONNABORTED)
			log_warn("control: accept");
		return;
	}
	if (getsockopt(s, SOL_SOCKET, SO_PEERCRED, &cred, &len) == -1) {
		log_warn("control: SO_PEERCRED");
		close(s);
		return;
	}
	if (cred.uid != 0 && cred.uid != geteuid() && cred.uid != m->ctl_uid) {
		log_warnx("control: refused connection from uid=%u pid=%d",
		    (unsigned int)cred.uid, (int)cred.pid);
		close(s);
		return;
	}
	if (nconns >= CONTROL_MAX_CONNS) {
		log_warnx("control: too many connections, refused pid=%d",
		    (int)cred.pid);
		close(s);
		return;
	}
	c = xcalloc(1, sizeof(*c));
	c->uid = cred.uid;
	c->m = m;
	c->chan = ipc_chan_new(m->base, s, PROC_MASTER, PROC_CTL,
	    control_msg, control_closed, c);
	if (c->chan == NULL) {
		close(s);
		free(c);
		return;
	}
	TAILQ_INSERT_TAIL(&conns, c, entry);
	nconns++;
}

static const char *
control_verb(uint32_t type)
{
	switch (type) {
	case IPC_CTL_QUEUE_HOLD:
		return "hold";
	case IPC_CTL_QUEUE_RELEASE:
		return "release";
	case IPC_CTL_QUEUE_DELETE:
		return "delete";
	case IPC_CTL_QUEUE_REQUEUE:
		return "requeue";
	default:
		return ipc_type_name(type);
	}
}

static void
control_msg(struct ipc_chan *chan, struct ipc_msg *msg, void *arg)
{
	struct ctl_conn	*c = arg;
	struct ipc_rbuf	 rb;
	char		 sel[1024];

	if (msg->fd != -1) {
		close(msg->fd);
		msg->fd = -1;
	}
	ipc_rbuf_init(&rb, msg->data, msg->hdr.len);
	switch (msg->hdr.type) {
	case IPC_CTL_QUEUE_LIST:
		if (ipc_get_end(&rb) == -1)
			goto bad;
		control_forward(c, msg);
		break;
	case IPC_CTL_QUEUE_FLUSH:
	case IPC_CTL_QUEUE_SHOW:
	case IPC_CTL_QUEUE_HOLD:
	case IPC_CTL_QUEUE_RELEASE:
	case IPC_CTL_QUEUE_DELETE:
	case IPC_CTL_QUEUE_REQUEUE:
		/* an id or a selector ("ID", "ALL", "from=A", "to=A"):
		   queue checks what it means */
		ipc_get_str(&rb, sel, sizeof(sel));
		if (ipc_get_end(&rb) == -1)
			goto bad;
		/* what changes the queue is logged, with who asked */
		if (msg->hdr.type != IPC_CTL_QUEUE_FLUSH &&
		    msg->hdr.type != IPC_CTL_QUEUE_SHOW)
			log_info("control: queue %s %s by uid=%u",
			    control_verb(msg->hdr.type), sel,
			    (unsigned int)c->uid);
		control_forward(c, msg);
		break;
	case IPC_CTL_STATUS:
	case IPC_STATS:
		if (ipc_get_end(&rb) == -1)
			goto bad;
		control_status(c->m, c, msg->hdr.reqid);
		break;
	default:
		goto bad;
	}
	return;
 bad:
	log_warnx("control: bad %s frame from uid=%u, closing",
	    ipc_type_name(msg->hdr.type), (unsigned int)c->uid);
	control_drop(c);
}

static void
control_end(struct ctl_conn *c, uint32_t reqid, uint32_t count)
{
	struct ipc_wbuf	w;

	ipc_wbuf_init(&w);
	ipc_put_u32(&w, count);
	ipc_sendw(c->chan, IPC_CTL_QUEUE_END, reqid, -1, &w);
}

static void
control_forward(struct ctl_conn *c, struct ipc_msg *msg)
{
	struct ipc_chan	*q;
	struct ctl_req	*r;

	if ((q = supervise_chan(PROC_QUEUE)) == NULL) {
		control_end(c, msg->hdr.reqid, QUEUE_DOWN);
		return;
	}
	r = xcalloc(1, sizeof(*r));
	r->reqid = ++next_reqid;
	r->orig = msg->hdr.reqid;
	r->conn = c;
	if (ipc_send(q, msg->hdr.type, r->reqid, -1, msg->data,
	    msg->hdr.len) == -1) {
		free(r);
		control_end(c, msg->hdr.reqid, QUEUE_DOWN);
		return;
	}
	TAILQ_INSERT_TAIL(&reqs, r, entry);
}

/* IPC_CTL_QUEUE_ENTRY / IPC_CTL_QUEUE_END from queue. */
void
control_queue_reply(struct ipc_msg *msg)
{
	struct ctl_req	*r;

	TAILQ_FOREACH(r, &reqs, entry)
		if (r->reqid == msg->hdr.reqid)
			break;
	if (r == NULL) {
		log_debug("control: queue answered unknown request %u",
		    msg->hdr.reqid);
		return;
	}
	if (r->conn != NULL)
		ipc_send(r->conn->chan, msg->hdr.type, r->orig, -1, msg->data,
		    msg->hdr.len);
	if (msg->hdr.type == IPC_CTL_QUEUE_END) {
		TAILQ_REMOVE(&reqs, r, entry);
		free(r);
	}
}

/* queue died or its channel closed: nothing more will come. */
void
control_queue_gone(void)
{
	struct ctl_req	*r;

	while ((r = TAILQ_FIRST(&reqs)) != NULL) {
		TAILQ_REMOVE(&reqs, r, entry);
		if (r->conn != NULL)
			control_end(r->conn, r->orig, QUEUE_DOWN);
		free(r);
	}
}

/*
 * IPC_CTL_STATUS: asks every running daemon for its IPC_STATS line and
 * answers when all have answered or after STATUS_WAIT_MS.
 */
static void
control_status(struct master *m, struct ctl_conn *c, uint32_t reqid)
{
	struct ctl_status	*st;
	struct ipc_chan		*chan;
	struct timeval		 tv;
	int			 p, n = 0;

	st = xcalloc(1, sizeof(*st));
	st->reqid = ++next_reqid;
	st->orig = reqid;
	st->conn = c;
	TAILQ_INSERT_TAIL(&statuses, st, entry);
	for (p = PROC_SMTPD; p < PROC_COUNT; p++) {
		if ((chan = supervise_chan(p)) == NULL)
			continue;
		if (ipc_send(chan, IPC_STATS, st->reqid, -1, NULL, 0) == 0) {
			st->waiting[p] = 1;
			n++;
		}
	}
	if (n == 0) {
		control_status_send(st);
		return;
	}
	if ((st->timer = evtimer_new(m->base, control_status_timeout,
	    st)) == NULL)
		fatalx("evtimer_new failed");
	tv.tv_sec = STATUS_WAIT_MS / 1000;
	tv.tv_usec = (STATUS_WAIT_MS % 1000) * 1000;
	evtimer_add(st->timer, &tv);
}

static void
control_status_timeout(int fd, short ev, void *arg)
{
	struct ctl_status	*st = arg;
	int			 p;

	for (p = PROC_SMTPD; p < PROC_COUNT; p++)
		if (st->waiting[p])
			log_warnx("control: no IPC_STATS from %s in %d ms",
			    proc_name(p), STATUS_WAIT_MS);
	control_status_send(st);
}

/*
 * IPC_STATS from a daemon: "key=value ..." (daemon.c sends the text as
 * the whole payload; an ipc_put_str()'d str is accepted too). Only
 * printable words are kept.
 */
void
control_stats_reply(int proc, struct ipc_msg *msg)
{
	struct ctl_status	*st;
	const char		*p = (const char *)msg->data;
	size_t			 len = msg->hdr.len, i, o;
	uint32_t		 slen;
	char			*text;
	int			 q;

	TAILQ_FOREACH(st, &statuses, entry)
		if (st->reqid == msg->hdr.reqid)
			break;
	if (st == NULL || proc <= PROC_MASTER || proc >= PROC_COUNT ||
	    !st->waiting[proc])
		return;
	if (len >= 4) {
		memcpy(&slen, p, 4);
		if (slen == len - 4) {
			p += 4;
			len -= 4;
		}
	}
	if (len > STATS_MAX)
		len = STATS_MAX;
	text = xmalloc(len + 1);
	for (i = o = 0; i < len; i++) {
		if (p[i] == '\0')
			break;
		text[o++] = ((unsigned char)p[i] < 0x20 ||
		    (unsigned char)p[i] >= 0x7f) ? ' ' : p[i];
	}
	while (o > 0 && text[o - 1] == ' ')
		o--;
	text[o] = '\0';
	free(st->stats[proc]);
	st->stats[proc] = text;
	st->waiting[proc] = 0;
	for (q = PROC_SMTPD; q < PROC_COUNT; q++)
		if (st->waiting[q])
			return;
	control_status_send(st);
}

/* a daemon went away: do not wait for its stats */
void
control_stats_gone(int proc)
{
	struct ctl_status	*st, *next;
	int			 q, waiting;

	if (proc <= PROC_MASTER || proc >= PROC_COUNT)
		return;
	for (st = TAILQ_FIRST(&statuses); st != NULL; st = next) {
		next = TAILQ_NEXT(st, entry);
		if (!st->waiting[proc])
			continue;
		st->waiting[proc] = 0;
		for (q = PROC_SMTPD, waiting = 0; q < PROC_COUNT; q++)
			waiting |= st->waiting[q];
		if (!waiting)
			control_status_send(st);
	}
}

/* Answers a status request (if the tool is still there) and frees it. */
static void
control_status_send(struct ctl_status *st)
{
	struct ipc_wbuf		 w;
	struct daemon_slot	*s;
	char			 line[STATS_MAX + 256];
	const char		*stats;
	uint64_t		 now = now_sec();
	uint32_t		 n = 1;
	int			 p;

	for (p = PROC_SMTPD; p < PROC_COUNT; p++) {
		s = &env->slots[p];
		if (!s->disabled)
			n++;
	}
	ipc_wbuf_init(&w);
	ipc_put_u32(&w, n);
	snprintf(line, sizeof(line), "name=facteurd pid=%d uptime=%llu "
	    "restarts=0", (int)getpid(),
	    (unsigned long long)(now - env->start_sec));
	ipc_put_str(&w, line);
	for (p = PROC_SMTPD; p < PROC_COUNT; p++) {
		s = &env->slots[p];
		/* not configured (popd without a POP3 listener) */
		if (s->disabled)
			continue;
		stats = st->stats[p] != NULL && s->pid > 0 ? st->stats[p] : "";
		snprintf(line, sizeof(line), "name=%s pid=%d uptime=%llu "
		    "restarts=%u%s%s", proc_name(p),
		    s->pid > 0 ? (int)s->pid : 0,
		    s->pid > 0 ? (unsigned long long)(now - s->start_sec) : 0,
		    s->restarts, *stats != '\0' ? " " : "", stats);
		ipc_put_str(&w, line);
	}
	if (st->conn != NULL && !w.error)
		ipc_sendw(st->conn->chan, IPC_CTL_STATUS, st->orig, -1, &w);
	else if (w.error)
		log_warnx("control: status answer too large");
	TAILQ_REMOVE(&statuses, st, entry);
	if (st->timer != NULL)
		event_free(st->timer);
	for (p = 0; p < PROC_COUNT; p++)
		free(st->stats[p]);
	free(st);
}

/* the tool is gone: what it asked must not be answered to it */
static void
control_forget(struct ctl_conn *c)
{
	struct ctl_req		*r;
	struct ctl_status	*st;

	TAILQ_FOREACH(r, &reqs, entry)
		if (r->conn == c)
			r->conn = NULL;
	TAILQ_FOREACH(st, &statuses, entry)
		if (st->conn == c)
			st->conn = NULL;
}

/* The tool went away (or broke the protocol). */
static void
control_closed(struct ipc_chan *chan, void *arg)
{
	struct ctl_conn	*c = arg;

	control_forget(c);
	TAILQ_REMOVE(&conns, c, entry);
	nconns--;
	ipc_chan_free(chan);
	free(c);
}

/* Close a connection (ipc_chan_free is safe from its own callbacks). */
static void
control_drop(struct ctl_conn *c)
{
	control_forget(c);
	TAILQ_REMOVE(&conns, c, entry);
	nconns--;
	ipc_chan_free(c->chan);
	free(c);
}
