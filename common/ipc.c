/*
 * Frames between facteur's processes over SOCK_SEQPACKET socketpairs:
 * one datagram is one frame (header + payload, at most one fd), so the
 * kernel keeps the framing and a short read cannot split a frame. A frame
 * that is truncated, oversized, lies about its length or carries more than
 * one fd is a protocol error: the channel is closed and the owner told.
 */
#include <sys/types.h>
#include <sys/queue.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "ipc.h"
#include "log.h"
#include "proc.h"
#include "util.h"

#define IPC_FRAME_MAX	(sizeof(struct ipc_hdr) + IPC_MAX_PAYLOAD)
#define IPC_READ_BATCH	64	/* frames per wake-up, for fairness */

struct ipc_frame {
	TAILQ_ENTRY(ipc_frame)	 entry;
	size_t			 len;
	int			 fd;
	uint8_t			 data[];
};

struct ipc_chan {
	struct event_base	*base;
	int			 fd;
	int			 self;
	int			 peer;
	int			 hello;		/* peer's HELLO checked */
	int			 dead;
	int			 dispatching;
	int			 free_pending;
	struct event		*ev_read;
	struct event		*ev_write;
	TAILQ_HEAD(, ipc_frame)	 outq;
	size_t			 npending;
	ipc_msg_cb		*msg_cb;
	ipc_close_cb		*close_cb;
	void			*arg;
};

static void	ipc_read_cb(evutil_socket_t, short, void *);
static void	ipc_write_cb(evutil_socket_t, short, void *);
static int	ipc_send_frame(struct ipc_chan *, struct ipc_frame *);

const char *
ipc_build_id(void)
{
	return PACKAGE_VERSION " " __DATE__ " " __TIME__;
}

const char *
ipc_type_name(uint32_t type)
{
	switch (type) {
	case IPC_HELLO:			return "HELLO";
	case IPC_CONFIG:		return "CONFIG";
	case IPC_PRIVSEP:		return "PRIVSEP";
	case IPC_PEER:			return "PEER";
	case IPC_LISTENER:		return "LISTENER";
	case IPC_START:			return "START";
	case IPC_READY:			return "READY";
	case IPC_LOG:			return "LOG";
	case IPC_RELOAD:		return "RELOAD";
	case IPC_STATS:			return "STATS";
	case IPC_AUTH_RCPT:		return "AUTH_RCPT";
	case IPC_AUTH_RCPT_RESULT:	return "AUTH_RCPT_RESULT";
	case IPC_QUEUE_CREATE:		return "QUEUE_CREATE";
	case IPC_QUEUE_CREATED:		return "QUEUE_CREATED";
	case IPC_QUEUE_COMMIT:		return "QUEUE_COMMIT";
	case IPC_QUEUE_COMMITTED:	return "QUEUE_COMMITTED";
	case IPC_QUEUE_ABORT:		return "QUEUE_ABORT";
	case IPC_DELIVER:		return "DELIVER";
	case IPC_DELIVER_RESULT:	return "DELIVER_RESULT";
	case IPC_CTL_QUEUE_LIST:	return "CTL_QUEUE_LIST";
	case IPC_CTL_QUEUE_ENTRY:	return "CTL_QUEUE_ENTRY";
	case IPC_CTL_QUEUE_END:		return "CTL_QUEUE_END";
	case IPC_CTL_QUEUE_FLUSH:	return "CTL_QUEUE_FLUSH";
	case IPC_CTL_STATUS:		return "CTL_STATUS";
	case IPC_CTL_QUEUE_SHOW:	return "CTL_QUEUE_SHOW";
	case IPC_CTL_QUEUE_TEXT:	return "CTL_QUEUE_TEXT";
	case IPC_CTL_QUEUE_HOLD:	return "CTL_QUEUE_HOLD";
	case IPC_CTL_QUEUE_RELEASE:	return "CTL_QUEUE_RELEASE";
	case IPC_CTL_QUEUE_DELETE:	return "CTL_QUEUE_DELETE";
	case IPC_CTL_QUEUE_REQUEUE:	return "CTL_QUEUE_REQUEUE";
	case IPC_TLS_MATERIAL:		return "TLS_MATERIAL";
	case IPC_POP_SESSION:		return "POP_SESSION";
	case IPC_POP_SESSION_END:	return "POP_SESSION_END";
	case IPC_AUTH_LOGIN:		return "AUTH_LOGIN";
	case IPC_AUTH_LOGIN_RESULT:	return "AUTH_LOGIN_RESULT";
	case IPC_AUTH_SENDER:		return "AUTH_SENDER";
	case IPC_AUTH_SENDER_RESULT:	return "AUTH_SENDER_RESULT";
	case IPC_AUTH_EXPAND:		return "AUTH_EXPAND";
	case IPC_AUTH_EXPAND_RESULT:	return "AUTH_EXPAND_RESULT";
	}
	return "UNKNOWN";
}

/* --- payload encoding --- */

void
ipc_wbuf_init(struct ipc_wbuf *wb)
{
	wb->len = 0;
	wb->error = 0;
}

static void
ipc_put(struct ipc_wbuf *wb, const void *p, size_t n)
{
	if (wb->error || n > sizeof(wb->data) - wb->len) {
		wb->error = 1;
		return;
	}
	memcpy(wb->data + wb->len, p, n);
	wb->len += n;
}

void
ipc_put_u32(struct ipc_wbuf *wb, uint32_t v)
{
	ipc_put(wb, &v, sizeof(v));
}

void
ipc_put_u64(struct ipc_wbuf *wb, uint64_t v)
{
	ipc_put(wb, &v, sizeof(v));
}

void
ipc_put_strn(struct ipc_wbuf *wb, const char *s, size_t n)
{
	if (n > IPC_MAX_STR || memchr(s, '\0', n) != NULL) {
		wb->error = 1;
		return;
	}
	ipc_put_u32(wb, (uint32_t)n);
	ipc_put(wb, s, n);
}

void
ipc_put_str(struct ipc_wbuf *wb, const char *s)
{
	ipc_put_strn(wb, s, strlen(s));
}

void
ipc_rbuf_init(struct ipc_rbuf *rb, const void *p, size_t n)
{
	rb->p = p;
	rb->left = n;
	rb->error = 0;
}

static int
ipc_get(struct ipc_rbuf *rb, void *dst, size_t n)
{
	if (rb->error || rb->left < n) {
		rb->error = 1;
		return -1;
	}
	memcpy(dst, rb->p, n);
	rb->p += n;
	rb->left -= n;
	return 0;
}

uint32_t
ipc_get_u32(struct ipc_rbuf *rb)
{
	uint32_t	v = 0;

	if (ipc_get(rb, &v, sizeof(v)) == -1)
		return 0;
	return v;
}

uint64_t
ipc_get_u64(struct ipc_rbuf *rb)
{
	uint64_t	v = 0;

	if (ipc_get(rb, &v, sizeof(v)) == -1)
		return 0;
	return v;
}

/* returns the length of the next str field, its bytes at *p; -1 on error */
static ssize_t
ipc_get_strfield(struct ipc_rbuf *rb, const uint8_t **p)
{
	uint32_t	n;

	n = ipc_get_u32(rb);
	if (rb->error || n > IPC_MAX_STR || n > rb->left ||
	    memchr(rb->p, '\0', n) != NULL) {
		rb->error = 1;
		return -1;
	}
	*p = rb->p;
	rb->p += n;
	rb->left -= n;
	return n;
}

void
ipc_get_str(struct ipc_rbuf *rb, char *dst, size_t dstsz)
{
	const uint8_t	*p;
	ssize_t		 n;

	if (dstsz > 0)
		dst[0] = '\0';
	if ((n = ipc_get_strfield(rb, &p)) == -1)
		return;
	if ((size_t)n >= dstsz) {
		rb->error = 1;
		return;
	}
	memcpy(dst, p, n);
	dst[n] = '\0';
}

char *
ipc_get_strdup(struct ipc_rbuf *rb)
{
	const uint8_t	*p;
	ssize_t		 n;
	char		*s;

	if ((n = ipc_get_strfield(rb, &p)) == -1)
		return NULL;
	s = xmalloc(n + 1);
	memcpy(s, p, n);
	s[n] = '\0';
	return s;
}

int
ipc_get_end(struct ipc_rbuf *rb)
{
	return (rb->error || rb->left != 0) ? -1 : 0;
}

/* --- channels --- */

struct ipc_chan *
ipc_chan_new(struct event_base *base, int fd, int self, int peer,
    ipc_msg_cb *msg_cb, ipc_close_cb *close_cb, void *arg)
{
	struct ipc_chan	*c;
	struct ipc_wbuf	 wb;
	int		 sz = 512 * 1024;

	if (fd_nonblock(fd) == -1 || fd_cloexec(fd) == -1)
		fatal("ipc channel fd %d", fd);
	/* room for a few full frames before a writer has to queue */
	(void)setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sz, sizeof(sz));
	(void)setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &sz, sizeof(sz));

	c = xcalloc(1, sizeof(*c));
	c->base = base;
	c->fd = fd;
	c->self = self;
	c->peer = peer;
	c->msg_cb = msg_cb;
	c->close_cb = close_cb;
	c->arg = arg;
	TAILQ_INIT(&c->outq);
	c->ev_read = event_new(base, fd, EV_READ | EV_PERSIST, ipc_read_cb, c);
	c->ev_write = event_new(base, fd, EV_WRITE, ipc_write_cb, c);
	if (c->ev_read == NULL || c->ev_write == NULL)
		fatalx("event_new");
	event_add(c->ev_read, NULL);

	ipc_wbuf_init(&wb);
	ipc_put_u32(&wb, IPC_VERSION);
	ipc_put_str(&wb, ipc_build_id());
	ipc_put_u32(&wb, self);
	ipc_sendw(c, IPC_HELLO, 0, -1, &wb);
	return c;
}

static void
ipc_chan_release(struct ipc_chan *c)
{
	struct ipc_frame	*f;

	while ((f = TAILQ_FIRST(&c->outq)) != NULL) {
		TAILQ_REMOVE(&c->outq, f, entry);
		if (f->fd != -1)
			close(f->fd);
		free(f);
	}
	event_free(c->ev_read);
	event_free(c->ev_write);
	close(c->fd);
	free(c);
}

void
ipc_chan_free(struct ipc_chan *c)
{
	if (c == NULL)
		return;
	if (c->dispatching) {
		/* freed from one of its own callbacks: finish the dispatch */
		c->free_pending = 1;
		c->dead = 1;
		return;
	}
	ipc_chan_release(c);
}

int
ipc_chan_peer(struct ipc_chan *c)
{
	return c->peer;
}

size_t
ipc_chan_pending(struct ipc_chan *c)
{
	return c->npending;
}

/* The peer is gone or broke the protocol: stop, and tell the owner once. */
static void
ipc_chan_die(struct ipc_chan *c)
{
	if (c->dead)
		return;
	c->dead = 1;
	event_del(c->ev_read);
	event_del(c->ev_write);
	if (c->close_cb != NULL)
		c->close_cb(c, c->arg);
}

static int
ipc_check_hello(struct ipc_chan *c, struct ipc_msg *m)
{
	struct ipc_rbuf	 rb;
	char		 build[256];
	uint32_t	 version, proc;

	if (m->hdr.type != IPC_HELLO) {
		log_warnx("ipc: %s sent %s before HELLO", proc_name(c->peer),
		    ipc_type_name(m->hdr.type));
		return -1;
	}
	ipc_rbuf_init(&rb, m->data, m->hdr.len);
	version = ipc_get_u32(&rb);
	ipc_get_str(&rb, build, sizeof(build));
	proc = ipc_get_u32(&rb);
	if (ipc_get_end(&rb) == -1) {
		log_warnx("ipc: bad HELLO from %s", proc_name(c->peer));
		return -1;
	}
	if (version != IPC_VERSION || strcmp(build, ipc_build_id()) != 0) {
		log_warnx("ipc: %s speaks version %u build \"%s\", we are "
		    "version %u build \"%s\": refused", proc_name(proc),
		    version, build, IPC_VERSION, ipc_build_id());
		return -1;
	}
	if ((int)proc != c->peer) {
		log_warnx("ipc: expected %s, got HELLO from %s",
		    proc_name(c->peer), proc_name(proc));
		return -1;
	}
	c->hello = 1;
	return 0;
}

/* Reads one frame; 1 when one was handled, 0 when none is waiting, -1 on
   EOF or a protocol error. */
static int
ipc_read_one(struct ipc_chan *c)
{
	static uint8_t	 buf[IPC_FRAME_MAX + 1];
	union {
		struct cmsghdr	hdr;
		char		buf[CMSG_SPACE(sizeof(int) * 4)];
	}		 cmsgbuf;
	struct msghdr	 mh;
	struct iovec	 iov;
	struct cmsghdr	*cm;
	struct ipc_msg	 m;
	ssize_t		 n;
	int		 fds[4], nfds = 0, i, bad = 0;

	memset(&mh, 0, sizeof(mh));
	iov.iov_base = buf;
	iov.iov_len = sizeof(buf);
	mh.msg_iov = &iov;
	mh.msg_iovlen = 1;
	mh.msg_control = &cmsgbuf.buf;
	mh.msg_controllen = sizeof(cmsgbuf.buf);

	n = recvmsg(c->fd, &mh, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
	if (n == -1) {
		if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
			return 0;
		return -1;
	}
	if (n == 0)
		return -1;

	for (cm = CMSG_FIRSTHDR(&mh); cm != NULL; cm = CMSG_NXTHDR(&mh, cm)) {
		if (cm->cmsg_level == SOL_SOCKET &&
		    cm->cmsg_type == SCM_RIGHTS) {
			int	k = (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int);
			int	*p = (int *)CMSG_DATA(cm);

			for (i = 0; i < k; i++) {
				if (nfds < 4)
					fds[nfds++] = p[i];
				else
					close(p[i]);
			}
		}
	}
	if (mh.msg_flags & (MSG_TRUNC | MSG_CTRUNC) || nfds > 1 ||
	    (size_t)n < sizeof(struct ipc_hdr))
		bad = 1;
	else {
		memcpy(&m.hdr, buf, sizeof(m.hdr));
		if (m.hdr.len != (size_t)n - sizeof(struct ipc_hdr))
			bad = 1;
	}
	if (bad) {
		for (i = 0; i < nfds; i++)
			close(fds[i]);
		log_warnx("ipc: malformed frame from %s (%zd bytes)",
		    proc_name(c->peer), n);
		return -1;
	}
	m.data = buf + sizeof(struct ipc_hdr);
	m.fd = nfds ? fds[0] : -1;

	if (!c->hello) {
		if (m.fd != -1)
			close(m.fd);
		return ipc_check_hello(c, &m) == 0 ? 1 : -1;
	}
	if (m.hdr.type == IPC_HELLO) {
		if (m.fd != -1)
			close(m.fd);
		log_warnx("ipc: second HELLO from %s", proc_name(c->peer));
		return -1;
	}
	c->msg_cb(c, &m, c->arg);
	return 1;
}

static void
ipc_read_cb(evutil_socket_t fd, short ev, void *arg)
{
	struct ipc_chan	*c = arg;
	int		 i, r = 0;

	c->dispatching = 1;
	for (i = 0; i < IPC_READ_BATCH && !c->dead; i++) {
		if ((r = ipc_read_one(c)) != 1)
			break;
	}
	if (r == -1 && !c->dead)
		ipc_chan_die(c);
	c->dispatching = 0;
	if (c->free_pending)
		ipc_chan_release(c);
}

static int
ipc_send_frame(struct ipc_chan *c, struct ipc_frame *f)
{
	union {
		struct cmsghdr	hdr;
		char		buf[CMSG_SPACE(sizeof(int))];
	}		 cmsgbuf;
	struct msghdr	 mh;
	struct iovec	 iov;
	struct cmsghdr	*cm;

	memset(&mh, 0, sizeof(mh));
	iov.iov_base = f->data;
	iov.iov_len = f->len;
	mh.msg_iov = &iov;
	mh.msg_iovlen = 1;
	if (f->fd != -1) {
		memset(&cmsgbuf, 0, sizeof(cmsgbuf));
		mh.msg_control = &cmsgbuf.buf;
		mh.msg_controllen = sizeof(cmsgbuf.buf);
		cm = CMSG_FIRSTHDR(&mh);
		cm->cmsg_len = CMSG_LEN(sizeof(int));
		cm->cmsg_level = SOL_SOCKET;
		cm->cmsg_type = SCM_RIGHTS;
		memcpy(CMSG_DATA(cm), &f->fd, sizeof(int));
	}
	if (sendmsg(c->fd, &mh, MSG_DONTWAIT | MSG_NOSIGNAL) == -1) {
		if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR ||
		    errno == ENOBUFS)
			return 0;
		return -1;
	}
	return 1;
}

static void
ipc_write_cb(evutil_socket_t fd, short ev, void *arg)
{
	struct ipc_chan		*c = arg;
	struct ipc_frame	*f;
	int			 r;

	while ((f = TAILQ_FIRST(&c->outq)) != NULL) {
		if ((r = ipc_send_frame(c, f)) == 0) {
			event_add(c->ev_write, NULL);
			return;
		}
		TAILQ_REMOVE(&c->outq, f, entry);
		c->npending--;
		if (f->fd != -1)
			close(f->fd);
		free(f);
		if (r == -1) {
			ipc_chan_die(c);
			return;
		}
	}
}

int
ipc_send(struct ipc_chan *c, uint32_t type, uint32_t reqid, int fd,
    const void *data, size_t len)
{
	struct ipc_frame	*f;
	struct ipc_hdr		 hdr;
	int			 r;

	if (c == NULL || c->dead || len > IPC_MAX_PAYLOAD)
		return -1;
	f = xmalloc(sizeof(*f) + sizeof(hdr) + len);
	hdr.type = type;
	hdr.len = len;
	hdr.reqid = reqid;
	hdr.pid = getpid();
	memcpy(f->data, &hdr, sizeof(hdr));
	if (len)
		memcpy(f->data + sizeof(hdr), data, len);
	f->len = sizeof(hdr) + len;
	f->fd = fd;

	if (TAILQ_EMPTY(&c->outq)) {
		r = ipc_send_frame(c, f);
		if (r == 1) {
			free(f);
			return 0;
		}
		if (r == -1) {
			free(f);
			return -1;	/* the read side will see the EOF */
		}
	}
	/* it must wait: keep our own copy of the fd */
	if (fd != -1 && (f->fd = fcntl(fd, F_DUPFD_CLOEXEC, 0)) == -1) {
		free(f);
		return -1;
	}
	TAILQ_INSERT_TAIL(&c->outq, f, entry);
	c->npending++;
	event_add(c->ev_write, NULL);
	return 0;
}

int
ipc_sendw(struct ipc_chan *c, uint32_t type, uint32_t reqid, int fd,
    const struct ipc_wbuf *wb)
{
	if (wb->error)
		return -1;
	return ipc_send(c, type, reqid, fd, wb->data, wb->len);
}

void
ipc_flush(struct ipc_chan *c)
{
	struct ipc_frame	*f;
	struct pollfd		 pfd;
	int			 r, tries = 0;

	while (!c->dead && (f = TAILQ_FIRST(&c->outq)) != NULL &&
	    tries < 20) {
		if ((r = ipc_send_frame(c, f)) == 0) {
			pfd.fd = c->fd;
			pfd.events = POLLOUT;
			(void)poll(&pfd, 1, 100);
			tries++;
			continue;
		}
		TAILQ_REMOVE(&c->outq, f, entry);
		c->npending--;
		if (f->fd != -1)
			close(f->fd);
		free(f);
		if (r == -1)
			return;
	}
}
