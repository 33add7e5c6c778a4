/*
 * Unit tests for common/ipc.c: payload fields (round trips, truncation,
 * oversized and NUL-holding strings, leftovers), and frames over real
 * SOCK_SEQPACKET socketpairs in a libevent loop (fd passing, size limit,
 * HELLO checks, malformed frames written raw closing the channel).
 */
#include <sys/socket.h>
#include <sys/time.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "ipc.h"
#include "log.h"
#include "proc.h"
#include "t.h"

static char	last_log[1024];

static void
sink(int prio, const char *line)
{
	snprintf(last_log, sizeof(last_log), "%s", line);
}

/* --- payloads --- */

static void
test_roundtrip(void)
{
	struct ipc_wbuf	 wb;
	struct ipc_rbuf	 rb;
	char		 s[64], *d;

	ipc_wbuf_init(&wb);
	ipc_put_u32(&wb, 0xdeadbeef);
	ipc_put_u64(&wb, 0x0123456789abcdefULL);
	ipc_put_str(&wb, "hello");
	ipc_put_str(&wb, "");
	ipc_put_strn(&wb, "abcdef", 3);
	ipc_put_str(&wb, "dup me");
	ipc_put_u32(&wb, 0);
	CHECK(!wb.error, "puts fit");
	CHECK_NUM(wb.len, 4 + 8 + 4 + 5 + 4 + 4 + 3 + 4 + 6 + 4,
	    "payload length");

	ipc_rbuf_init(&rb, wb.data, wb.len);
	CHECK_NUM(ipc_get_u32(&rb), 0xdeadbeef, "u32 round trip");
	CHECK(ipc_get_u64(&rb) == 0x0123456789abcdefULL, "u64 round trip");
	ipc_get_str(&rb, s, sizeof(s));
	CHECK_STR(s, "hello", "str round trip");
	ipc_get_str(&rb, s, sizeof(s));
	CHECK_STR(s, "", "empty str round trip");
	ipc_get_str(&rb, s, sizeof(s));
	CHECK_STR(s, "abc", "strn round trip");
	d = ipc_get_strdup(&rb);
	CHECK_STR(d, "dup me", "strdup round trip");
	free(d);
	CHECK(ipc_get_end(&rb) == -1, "get_end with a field left over");
	CHECK_NUM(ipc_get_u32(&rb), 0, "last u32");
	CHECK(ipc_get_end(&rb) == 0 && !rb.error, "get_end when all read");
}

static void
test_truncated(void)
{
	struct ipc_wbuf	 wb;
	struct ipc_rbuf	 rb;
	char		 s[64], *d;
	uint8_t		 raw[16];
	uint32_t	 n;

	ipc_wbuf_init(&wb);
	ipc_put_u32(&wb, 7);
	ipc_rbuf_init(&rb, wb.data, 3);
	CHECK_NUM(ipc_get_u32(&rb), 0, "short u32 reads 0");
	CHECK(rb.error, "short u32 sets error");
	CHECK(ipc_get_end(&rb) == -1, "get_end after error");

	ipc_wbuf_init(&wb);
	ipc_put_u64(&wb, 7);
	ipc_rbuf_init(&rb, wb.data, 7);
	CHECK(ipc_get_u64(&rb) == 0 && rb.error, "short u64");

	/* str whose length runs past the end */
	ipc_wbuf_init(&wb);
	ipc_put_str(&wb, "0123456789");
	ipc_rbuf_init(&rb, wb.data, wb.len - 1);
	strcpy(s, "junk");
	ipc_get_str(&rb, s, sizeof(s));
	CHECK(rb.error && s[0] == '\0', "truncated str: error, empty dst");
	ipc_rbuf_init(&rb, wb.data, 2);
	ipc_get_str(&rb, s, sizeof(s));
	CHECK(rb.error, "truncated str length");
	ipc_rbuf_init(&rb, wb.data, wb.len - 1);
	d = ipc_get_strdup(&rb);
	CHECK(d == NULL && rb.error, "truncated strdup");

	/* the error is sticky: later fields fail too */
	ipc_wbuf_init(&wb);
	ipc_put_u32(&wb, 1);
	ipc_put_u32(&wb, 2);
	ipc_rbuf_init(&rb, wb.data, wb.len);
	rb.error = 1;
	CHECK(ipc_get_u32(&rb) == 0 && rb.error, "error is sticky");

	/* a length field of 0xffffffff */
	n = 0xffffffff;
	memset(raw, 'a', sizeof(raw));
	memcpy(raw, &n, sizeof(n));
	ipc_rbuf_init(&rb, raw, sizeof(raw));
	ipc_get_str(&rb, s, sizeof(s));
	CHECK(rb.error, "huge str length refused");

	/* empty payload */
	ipc_rbuf_init(&rb, NULL, 0);
	CHECK(ipc_get_end(&rb) == 0, "empty payload, nothing read");
	ipc_get_u32(&rb);
	CHECK(ipc_get_end(&rb) == -1, "empty payload, u32 read");
}

static void
test_strings(void)
{
	static char	 big[IPC_MAX_STR + 2];
	static uint8_t	 raw[IPC_MAX_STR + 64];
	struct ipc_wbuf	 wb;
	struct ipc_rbuf	 rb;
	char		 s[8], *d;
	uint32_t	 n;
	int		 i;

	memset(big, 'x', sizeof(big) - 1);
	big[IPC_MAX_STR] = '\0';		/* IPC_MAX_STR chars */
	ipc_wbuf_init(&wb);
	ipc_put_str(&wb, big);
	CHECK(!wb.error, "str of IPC_MAX_STR fits");
	ipc_rbuf_init(&rb, wb.data, wb.len);
	d = ipc_get_strdup(&rb);
	CHECK(d != NULL && strlen(d) == IPC_MAX_STR && ipc_get_end(&rb) == 0,
	    "str of IPC_MAX_STR read back");
	free(d);

	big[IPC_MAX_STR] = 'x';			/* IPC_MAX_STR + 1 */
	ipc_wbuf_init(&wb);
	ipc_put_str(&wb, big);
	CHECK(wb.error, "oversized str refused by put");
	CHECK(ipc_sendw(NULL, IPC_LOG, 0, -1, &wb) == -1,
	    "sendw refuses a wbuf in error");

	/* an oversized str written raw is refused by get */
	n = IPC_MAX_STR + 1;
	memcpy(raw, &n, sizeof(n));
	memset(raw + 4, 'y', n);
	ipc_rbuf_init(&rb, raw, 4 + n);
	d = ipc_get_strdup(&rb);
	CHECK(d == NULL && rb.error, "oversized raw str refused by get");

	/* str too big for the destination */
	ipc_wbuf_init(&wb);
	ipc_put_str(&wb, "12345678");
	ipc_rbuf_init(&rb, wb.data, wb.len);
	ipc_get_str(&rb, s, sizeof(s));
	CHECK(rb.error, "str longer than dst refused");
	ipc_wbuf_init(&wb);
	ipc_put_str(&wb, "1234567");
	ipc_rbuf_init(&rb, wb.data, wb.len);
	ipc_get_str(&rb, s, sizeof(s));
	CHECK(!rb.error && strcmp(s, "1234567") == 0, "str that just fits");

	/* NUL inside a str */
	ipc_wbuf_init(&wb);
	ipc_put_strn(&wb, "a\0b", 3);
	CHECK(wb.error, "put_strn with a NUL refused");
	n = 3;
	memcpy(raw, &n, sizeof(n));
	memcpy(raw + 4, "a\0b", 3);
	ipc_rbuf_init(&rb, raw, 7);
	ipc_get_str(&rb, s, sizeof(s));
	CHECK(rb.error, "get_str with a NUL refused");
	ipc_rbuf_init(&rb, raw, 7);
	CHECK(ipc_get_strdup(&rb) == NULL && rb.error,
	    "get_strdup with a NUL refused");

	/* filling the payload */
	ipc_wbuf_init(&wb);
	for (i = 0; i < IPC_MAX_PAYLOAD / 4; i++)
		ipc_put_u32(&wb, i);
	CHECK(!wb.error && wb.len == IPC_MAX_PAYLOAD, "payload filled");
	ipc_put_u32(&wb, 1);
	CHECK(wb.error && wb.len == IPC_MAX_PAYLOAD,
	    "one more u32 sets error");
	ipc_put_str(&wb, "");
	CHECK(wb.error, "error stays");
}

/* --- frames --- */

struct side {
	struct ipc_chan	*chan;
	int		 nmsg;
	int		 closed;
	uint32_t	 type, reqid, len;
	uint8_t		 data[IPC_MAX_PAYLOAD];
	int		 fd;
};

static struct event_base	*base;

static void
side_msg(struct ipc_chan *c, struct ipc_msg *m, void *arg)
{
	struct side	*s = arg;

	s->nmsg++;
	s->type = m->hdr.type;
	s->reqid = m->hdr.reqid;
	s->len = m->hdr.len;
	memcpy(s->data, m->data, m->hdr.len);
	if (s->fd != -1)
		close(s->fd);
	s->fd = m->fd;
	event_base_loopbreak(base);
}

static void
side_close(struct ipc_chan *c, void *arg)
{
	struct side	*s = arg;

	s->closed++;
	ipc_chan_free(c);
	s->chan = NULL;
	event_base_loopbreak(base);
}

static void
timeout_cb(evutil_socket_t fd, short ev, void *arg)
{
	T_NOTE("timeout");
	event_base_loopbreak(base);
}

/* runs the loop until a callback breaks it, or 2 seconds */
static void
run(void)
{
	struct timeval	 tv = { 2, 0 };
	struct event	*ev;

	ev = evtimer_new(base, timeout_cb, NULL);
	evtimer_add(ev, &tv);
	event_base_dispatch(base);
	event_free(ev);
}

static void
side_init(struct side *s)
{
	memset(s, 0, sizeof(*s));
	s->fd = -1;
}

static void
side_done(struct side *s)
{
	if (s->chan != NULL)
		ipc_chan_free(s->chan);
	if (s->fd != -1)
		close(s->fd);
}

static void
test_frames(void)
{
	static uint8_t	 big[IPC_MAX_PAYLOAD + 1];
	struct side	*a, *b;
	struct ipc_wbuf	 wb;
	struct ipc_rbuf	 rb;
	char		 s[64], c;
	int		 sv[2], pp[2];

	a = malloc(sizeof(*a));
	b = malloc(sizeof(*b));
	side_init(a);
	side_init(b);
	if (socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sv) == -1 ||
	    pipe(pp) == -1) {
		CHECK(0, "socketpair: %s", strerror(errno));
		return;
	}
	a->chan = ipc_chan_new(base, sv[0], PROC_SMTPD, PROC_QUEUE,
	    side_msg, side_close, a);
	b->chan = ipc_chan_new(base, sv[1], PROC_QUEUE, PROC_SMTPD,
	    side_msg, side_close, b);
	CHECK_NUM(ipc_chan_peer(a->chan), PROC_QUEUE, "ipc_chan_peer");

	/* a frame with an fd: the write end of a pipe */
	ipc_wbuf_init(&wb);
	ipc_put_str(&wb, "0692F0A3B41C0A00");
	ipc_put_u64(&wb, 1234);
	CHECK(ipc_sendw(a->chan, IPC_QUEUE_COMMIT, 77, pp[1], &wb) == 0,
	    "send a frame with an fd");
	close(pp[1]);		/* ipc_send did not take it */
	run();
	CHECK_NUM(b->nmsg, 1, "frame arrived");
	CHECK_NUM(b->type, IPC_QUEUE_COMMIT, "type");
	CHECK_NUM(b->reqid, 77, "reqid");
	ipc_rbuf_init(&rb, b->data, b->len);
	ipc_get_str(&rb, s, sizeof(s));
	CHECK(strcmp(s, "0692F0A3B41C0A00") == 0 && ipc_get_u64(&rb) == 1234 &&
	    ipc_get_end(&rb) == 0, "payload");
	CHECK(b->fd != -1, "fd arrived");
	CHECK(b->fd != -1 && write(b->fd, "Z", 1) == 1 &&
	    read(pp[0], &c, 1) == 1 && c == 'Z', "the fd is usable");
	close(b->fd);
	b->fd = -1;
	CHECK(read(pp[0], &c, 1) == 0, "no other copy of the fd remains");
	close(pp[0]);

	/* a frame without fd, the other way */
	CHECK(ipc_send(b->chan, IPC_QUEUE_COMMITTED, 5, -1, "x", 1) == 0,
	    "send without fd");
	run();
	CHECK(a->nmsg == 1 && a->fd == -1 && a->len == 1 && a->reqid == 5,
	    "frame without fd arrived, fd is -1");

	/* size limit */
	memset(big, 'q', sizeof(big));
	CHECK(ipc_send(a->chan, IPC_LOG, 0, -1, big, IPC_MAX_PAYLOAD + 1) ==
	    -1, "oversized frame refused by ipc_send");
	CHECK(ipc_send(a->chan, IPC_LOG, 9, -1, big, IPC_MAX_PAYLOAD) == 0,
	    "frame of IPC_MAX_PAYLOAD accepted");
	run();
	CHECK(b->nmsg == 2 && b->len == IPC_MAX_PAYLOAD && b->reqid == 9 &&
	    b->data[IPC_MAX_PAYLOAD - 1] == 'q', "largest frame arrived");

	/* the peer goes away: close_cb */
	ipc_chan_free(a->chan);
	a->chan = NULL;
	run();
	CHECK_NUM(b->closed, 1, "peer gone: close_cb called");
	CHECK(b->chan == NULL, "channel freed from close_cb");
	CHECK_NUM(a->closed, 0, "freeing a channel does not call close_cb");

	side_done(a);
	side_done(b);
	free(a);
	free(b);
}

/* the HELLO a peer would send, as raw bytes; returns the frame length */
static size_t
raw_hello(uint8_t *buf, uint32_t version, const char *build, uint32_t proc)
{
	struct ipc_wbuf	 wb;
	struct ipc_hdr	 h;

	ipc_wbuf_init(&wb);
	ipc_put_u32(&wb, version);
	ipc_put_str(&wb, build);
	ipc_put_u32(&wb, proc);
	memset(&h, 0, sizeof(h));
	h.type = IPC_HELLO;
	h.len = wb.len;
	h.pid = getpid();
	memcpy(buf, &h, sizeof(h));
	memcpy(buf + sizeof(h), wb.data, wb.len);
	return sizeof(h) + wb.len;
}

/*
 * A channel for PROC_QUEUE on one end; the test writes raw datagrams on
 * the other end: an optional HELLO (as PROC_SMTPD) then a bad frame.
 * Returns 1 when close_cb was called, and how many frames got through.
 * The loop stops at the first frame delivered or at the close.
 */
static int
raw_case(int hello, const void *bad, size_t badlen, int *nmsg)
{
	struct side	*b;
	uint8_t		 buf[512];
	size_t		 n;
	int		 sv[2], closed;

	b = malloc(sizeof(*b));
	side_init(b);
	if (socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sv) == -1)
		return -1;
	b->chan = ipc_chan_new(base, sv[1], PROC_QUEUE, PROC_SMTPD,
	    side_msg, side_close, b);
	if (hello) {
		n = raw_hello(buf, IPC_VERSION, ipc_build_id(), PROC_SMTPD);
		send(sv[0], buf, n, 0);
	}
	if (bad != NULL)
		send(sv[0], bad, badlen, 0);
	run();
	closed = b->closed;
	*nmsg = b->nmsg;
	side_done(b);
	free(b);
	close(sv[0]);
	return closed;
}

static void
test_raw(void)
{
	struct ipc_hdr	 h;
	uint8_t		 buf[512];
	size_t		 n;
	int		 nmsg, sv[2];
	struct side	*b;

	/* control: a valid frame after HELLO is delivered, no close */
	memset(&h, 0, sizeof(h));
	h.type = IPC_QUEUE_ABORT;
	h.len = 4;
	memcpy(buf, &h, sizeof(h));
	memset(buf + sizeof(h), 0, 4);
	CHECK(raw_case(1, buf, sizeof(h) + 4, &nmsg) == 0 && nmsg == 1,
	    "raw valid frame delivered");

	/* the header says more than was sent */
	h.len = 100;
	memcpy(buf, &h, sizeof(h));
	last_log[0] = '\0';
	CHECK(raw_case(1, buf, sizeof(h) + 10, &nmsg) == 1 && nmsg == 0,
	    "header length lies (longer): close_cb");
	CHECK(strstr(last_log, "malformed frame") != NULL,
	    "malformed frame logged");
	/* ... or less */
	h.len = 2;
	memcpy(buf, &h, sizeof(h));
	CHECK(raw_case(1, buf, sizeof(h) + 10, &nmsg) == 1 && nmsg == 0,
	    "header length lies (shorter): close_cb");
	/* shorter than a header */
	CHECK(raw_case(1, buf, sizeof(h) - 3, &nmsg) == 1 && nmsg == 0,
	    "truncated header: close_cb");
	/* a frame before HELLO */
	h.len = 0;
	memcpy(buf, &h, sizeof(h));
	CHECK(raw_case(0, buf, sizeof(h), &nmsg) == 1 && nmsg == 0,
	    "frame before HELLO: close_cb");
	/* HELLO from the wrong process */
	n = raw_hello(buf, IPC_VERSION, ipc_build_id(), PROC_DELIVER);
	CHECK(raw_case(0, buf, n, &nmsg) == 1, "HELLO from wrong proc");
	/* HELLO with another version or build */
	n = raw_hello(buf, IPC_VERSION + 1, ipc_build_id(), PROC_SMTPD);
	CHECK(raw_case(0, buf, n, &nmsg) == 1, "HELLO with wrong version");
	n = raw_hello(buf, IPC_VERSION, "other build", PROC_SMTPD);
	CHECK(raw_case(0, buf, n, &nmsg) == 1, "HELLO with wrong build id");
	/* HELLO with leftover bytes */
	n = raw_hello(buf, IPC_VERSION, ipc_build_id(), PROC_SMTPD);
	buf[n] = 0;
	h.len = 0;
	memcpy(&h, buf, sizeof(h));
	h.len++;
	memcpy(buf, &h, sizeof(h));
	CHECK(raw_case(0, buf, n + 1, &nmsg) == 1, "HELLO with leftovers");
	/* a second HELLO */
	n = raw_hello(buf, IPC_VERSION, ipc_build_id(), PROC_SMTPD);
	CHECK(raw_case(1, buf, n, &nmsg) == 1, "second HELLO: close_cb");
	/* an empty datagram reads as 0 bytes: EOF or malformed, closed */
	CHECK(raw_case(1, "", 0, &nmsg) == 1, "empty datagram: close_cb");

	/* more than one fd in a frame */
	b = malloc(sizeof(*b));
	side_init(b);
	if (socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sv) == 0) {
		union {
			struct cmsghdr	hdr;
			char		buf[CMSG_SPACE(2 * sizeof(int))];
		}		 cm;
		struct msghdr	 mh;
		struct iovec	 iov;
		struct cmsghdr	*c;
		int		 fds[2] = { 0, 1 };

		b->chan = ipc_chan_new(base, sv[1], PROC_QUEUE, PROC_SMTPD,
		    side_msg, side_close, b);
		n = raw_hello(buf, IPC_VERSION, ipc_build_id(), PROC_SMTPD);
		send(sv[0], buf, n, 0);
		memset(&h, 0, sizeof(h));
		h.type = IPC_QUEUE_ABORT;
		memcpy(buf, &h, sizeof(h));
		memset(&mh, 0, sizeof(mh));
		memset(&cm, 0, sizeof(cm));
		iov.iov_base = buf;
		iov.iov_len = sizeof(h);
		mh.msg_iov = &iov;
		mh.msg_iovlen = 1;
		mh.msg_control = cm.buf;
		mh.msg_controllen = sizeof(cm.buf);
		c = CMSG_FIRSTHDR(&mh);
		c->cmsg_len = CMSG_LEN(2 * sizeof(int));
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		memcpy(CMSG_DATA(c), fds, sizeof(fds));
		sendmsg(sv[0], &mh, 0);
		run();
		CHECK(b->closed == 1 && b->nmsg == 0, "two fds: close_cb");
		side_done(b);
		close(sv[0]);
	}
	free(b);
}

int
main(void)
{
	log_init("test_ipc", 0);
	log_set_sink(sink);
	test_roundtrip();
	test_truncated();
	test_strings();
	if ((base = event_base_new()) == NULL) {
		CHECK(0, "event_base_new");
		return t_done();
	}
	test_frames();
	test_raw();
	event_base_free(base);
	return t_done();
}
