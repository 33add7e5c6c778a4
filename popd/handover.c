/*
 * The hand-over of an authenticated session to a mail half (handover.h),
 * and the relay that carries a TLS session's cleartext to it over a
 * socketpair. The relay is flow-controlled: when one side's output holds
 * more than RELAY_HIGH bytes, the other side is not read until it drains,
 * so a large RETR never piles up in memory here.
 */
#include <sys/types.h>
#include <sys/socket.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>

#include <openssl/ssl.h>

#include "ipc.h"
#include "log.h"
#include "util.h"
#include "handover.h"

#define RELAY_HIGH	(256 * 1024)

struct handover_relay {
	struct bufferevent	*tls;
	struct bufferevent	*pair;
	void			(*done)(void *);
	void			*arg;
	int			 closing;
};

int
handover_encode(struct ipc_wbuf *w, const struct handover *h)
{
	ipc_wbuf_init(w);
	ipc_put_str(w, h->address);
	ipc_put_str(w, h->mailbox);
	ipc_put_str(w, h->client);
	ipc_put_u32(w, h->flags);
	ipc_put_strn(w, h->pending != NULL ? h->pending : "", h->npending);
	return w->error ? -1 : 0;
}

int
handover_decode(struct ipc_msg *msg, struct handover *h)
{
	struct ipc_rbuf	 r;

	memset(h, 0, sizeof(*h));
	h->fd = -1;
	if (msg->fd == -1)
		return -1;
	ipc_rbuf_init(&r, msg->data, msg->hdr.len);
	ipc_get_str(&r, h->address, sizeof(h->address));
	ipc_get_str(&r, h->mailbox, sizeof(h->mailbox));
	ipc_get_str(&r, h->client, sizeof(h->client));
	h->flags = ipc_get_u32(&r);
	h->pending = ipc_get_strdup(&r);
	if (r.error || ipc_get_end(&r) == -1 || h->pending == NULL) {
		free(h->pending);
		h->pending = NULL;
		return -1;
	}
	h->npending = strlen(h->pending);
	h->fd = msg->fd;
	msg->fd = -1;
	return 0;
}

void
handover_clear(struct handover *h)
{
	free(h->pending);
	h->pending = NULL;
	h->npending = 0;
	if (h->fd != -1)
		close(h->fd);
	h->fd = -1;
}

static void
relay_end(struct handover_relay *r)
{
	void	(*done)(void *) = r->done;
	void	*arg = r->arg;

	handover_relay_free(r);
	if (done != NULL)
		done(arg);
}

/* moves what from received into to's output, then throttles */
static void
relay_move(struct handover_relay *r, struct bufferevent *from,
    struct bufferevent *to)
{
	struct evbuffer	*out = bufferevent_get_output(to);

	if (r->closing)
		return;
	evbuffer_add_buffer(out, bufferevent_get_input(from));
	if (evbuffer_get_length(out) > RELAY_HIGH)
		bufferevent_disable(from, EV_READ);
}

static void
relay_tls_read(struct bufferevent *bev, void *arg)
{
	struct handover_relay	*r = arg;

	relay_move(r, r->tls, r->pair);
}

static void
relay_pair_read(struct bufferevent *bev, void *arg)
{
	struct handover_relay	*r = arg;

	relay_move(r, r->pair, r->tls);
}

static void
relay_tls_written(struct bufferevent *bev, void *arg)
{
	struct handover_relay	*r = arg;

	if (r->closing) {
		if (evbuffer_get_length(bufferevent_get_output(bev)) == 0)
			relay_end(r);
		return;
	}
	bufferevent_enable(r->pair, EV_READ);
}

static void
relay_pair_written(struct bufferevent *bev, void *arg)
{
	struct handover_relay	*r = arg;

	if (!r->closing)
		bufferevent_enable(r->tls, EV_READ);
}

static void
relay_tls_event(struct bufferevent *bev, short what, void *arg)
{
	/* the client is gone: the mail half sees EOF on the pair */
	relay_end(arg);
}

static void
relay_pair_event(struct bufferevent *bev, short what, void *arg)
{
	struct handover_relay	*r = arg;

	/* the mail half closed: send the client what is left, then end */
	if (r->closing)
		return;
	relay_move(r, r->pair, r->tls);
	r->closing = 1;
	bufferevent_disable(r->pair, EV_READ);
	bufferevent_disable(r->tls, EV_READ);
	if (evbuffer_get_length(bufferevent_get_output(r->tls)) == 0)
		relay_end(r);
}

struct handover_relay *
handover_relay_new(struct event_base *base, struct bufferevent *tls,
    int *mailfd, void (*done)(void *), void *arg)
{
	struct handover_relay	*r;
	int			 sp[2];

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0,
	    sp) == -1)
		return NULL;
	r = xcalloc(1, sizeof(*r));
	r->tls = tls;
	r->done = done;
	r->arg = arg;
	r->pair = bufferevent_socket_new(base, sp[0], BEV_OPT_CLOSE_ON_FREE);
	if (r->pair == NULL)
		fatalx("bufferevent_socket_new");
	/* the mail half's end: blocking is its business */
	*mailfd = sp[1];
	bufferevent_setcb(r->tls, relay_tls_read, relay_tls_written,
	    relay_tls_event, r);
	bufferevent_setcb(r->pair, relay_pair_read, relay_pair_written,
	    relay_pair_event, r);
	bufferevent_set_timeouts(r->tls, NULL, NULL);
	bufferevent_enable(r->tls, EV_READ | EV_WRITE);
	bufferevent_enable(r->pair, EV_READ | EV_WRITE);
	/* what TLS already decrypted but nobody read yet */
	relay_move(r, r->tls, r->pair);
	return r;
}

void
handover_relay_free(struct handover_relay *r)
{
	SSL	*ssl;

	if (r == NULL)
		return;
	if ((ssl = bufferevent_openssl_get_ssl(r->tls)) != NULL)
		SSL_set_shutdown(ssl, SSL_RECEIVED_SHUTDOWN);
	bufferevent_free(r->tls);
	bufferevent_free(r->pair);
	free(r);
}
