/*
 * The control socket, <run_dir>/control.sock: AF_UNIX SOCK_SEQPACKET,
 * mode 0600, the IPC framing of ipc.h (the tool is PROC_CTL, facteurd
 * PROC_MASTER). Only root, facteurd's own uid (and in sandbox mode the
 * sandbox account) may connect: SO_PEERCRED is checked at accept.
 *
 * Requests from a tool (facteurctl, mailq):
 *	IPC_CTL_QUEUE_LIST	forwarded to queue; the answers
 *	IPC_CTL_QUEUE_FLUSH	(IPC_CTL_QUEUE_ENTRY*, IPC_CTL_QUEUE_END)
 *				come back with the tool's reqid. When queue
 *				is not running: IPC_CTL_QUEUE_END with
 *				count 0xffffffff at once.
 *	IPC_CTL_STATUS		(or IPC_STATS) answered by facteurd itself:
 *				one IPC_CTL_STATUS frame, u32 count, then
 *				count str, one per process:
 *				"name=facteurd pid=N uptime=S restarts=0"
 *				"name=smtpd pid=N uptime=S restarts=N" ...
 *				(pid=0 uptime=0 for a daemon that is down).
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

struct ctl_conn {
	TAILQ_ENTRY(ctl_conn)	 entry;
	struct ipc_chan		*chan;
	uid_t			 uid;
};

/* a request forwarded to queue */
struct ctl_req {
	TAILQ_ENTRY(ctl_req)	 entry;
	uint32_t		 reqid;		/* ours, on the queue channel */
	uint32_t		 orig;		/* the tool's */
	struct ctl_conn		*conn;		/* NULL once the tool left */
};

static TAILQ_HEAD(, ctl_conn)	conns = TAILQ_HEAD_INITIALIZER(conns);
static TAILQ_HEAD(, ctl_req)	reqs = TAILQ_HEAD_INITIALIZER(reqs);
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
static void	control_status(struct ctl_conn *, uint32_t);
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

static void
control_msg(struct ipc_chan *chan, struct ipc_msg *msg, void *arg)
{
	struct ctl_conn	*c = arg;
	struct ipc_rbuf	 rb;
	char		 id[64];

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
		ipc_get_str(&rb, id, sizeof(id));
		if (ipc_get_end(&rb) == -1)
			goto bad;
		control_forward(c, msg);
		break;
	case IPC_CTL_STATUS:
	case IPC_STATS:
		control_status(c, msg->hdr.reqid);
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

static void
control_status(struct ctl_conn *c, uint32_t reqid)
{
	struct ipc_wbuf		 w;
	struct daemon_slot	*s;
	char			 line[256];
	uint64_t		 now = now_sec();
	int			 p;

	ipc_wbuf_init(&w);
	ipc_put_u32(&w, PROC_COUNT);
	snprintf(line, sizeof(line), "name=facteurd pid=%d uptime=%llu "
	    "restarts=0", (int)getpid(),
	    (unsigned long long)(now - env->start_sec));
	ipc_put_str(&w, line);
	for (p = PROC_SMTPD; p < PROC_COUNT; p++) {
		s = &env->slots[p];
		snprintf(line, sizeof(line), "name=%s pid=%d uptime=%llu "
		    "restarts=%u", proc_name(p), s->pid > 0 ? (int)s->pid : 0,
		    s->pid > 0 ? (unsigned long long)(now - s->start_sec) : 0,
		    s->restarts);
		ipc_put_str(&w, line);
	}
	ipc_sendw(c->chan, IPC_CTL_STATUS, reqid, -1, &w);
}

/* The tool went away (or broke the protocol). */
static void
control_closed(struct ipc_chan *chan, void *arg)
{
	struct ctl_conn	*c = arg;
	struct ctl_req	*r;

	TAILQ_FOREACH(r, &reqs, entry)
		if (r->conn == c)
			r->conn = NULL;
	TAILQ_REMOVE(&conns, c, entry);
	nconns--;
	ipc_chan_free(chan);
	free(c);
}

/* Close a connection (ipc_chan_free is safe from its own callbacks). */
static void
control_drop(struct ctl_conn *c)
{
	struct ctl_req	*r;

	TAILQ_FOREACH(r, &reqs, entry)
		if (r->conn == c)
			r->conn = NULL;
	TAILQ_REMOVE(&conns, c, entry);
	nconns--;
	ipc_chan_free(c->chan);
	free(c);
}
