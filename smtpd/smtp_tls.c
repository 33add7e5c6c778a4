/*
 * TLS in an SMTP session: STARTTLS (RFC 3207) on the smtp and submission
 * listeners, implicit TLS (RFC 8314 3.3) on the smtps listener, through
 * libevent's OpenSSL bufferevents.
 *
 * DESIGN.md "Known traps" (libevent 2.1.12, OpenSSL 3): at STARTTLS the
 * plaintext input buffer is drained (anything pipelined after STARTTLS is
 * discarded: RFC 3207 4.2 and the CVE-2011-0411 command injection), 220
 * is written, and once it is flushed the plaintext bufferevent is freed
 * without closing the socket and a bufferevent_openssl_socket_new(...,
 * BUFFEREVENT_SSL_ACCEPTING) takes the same socket. The session then
 * starts over (RFC 3207 4.2: EHLO again, no transaction, no AUTH).
 */
#include <sys/types.h>

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

#include "daemon.h"
#include "log.h"
#include "tls.h"
#include "smtpd.h"
#include "smtp_session.h"

static uint64_t	stat_tls, stat_tls_failed, stat_injected;

int
smtp_tls_offered(struct smtp_session *s)
{
	return smtpd_tls_ctx() != NULL && !(s->flags & SF_TLS) &&
	    !s->l->local;
}

int
smtp_check_starttls(struct smtp_session *s, const char *args)
{
	if (s->flags & SF_TLS) {
		smtp_reply(s, "554 5.5.1 Error: TLS already active");
		return -1;
	}
	if (!smtp_tls_offered(s)) {
		smtp_reply(s, "502 5.5.1 Error: command not implemented");
		return -1;
	}
	if (args[0] != '\0') {
		smtp_reply(s, "501 5.5.4 Syntax: STARTTLS");
		return -1;
	}
	return 0;
}

void
smtp_proceed_starttls(struct smtp_session *s, const char *args)
{
	struct evbuffer	*in = bufferevent_get_input(s->bev);
	size_t		 n;

	if ((n = evbuffer_get_length(in)) > 0) {
		stat_injected++;
		log_info("client=[%s] %zu octets pipelined after STARTTLS "
		    "discarded", s->ip, n);
		evbuffer_drain(in, n);
	}
	smtp_txn_reset(s);
	smtp_reply(s, "220 2.0.0 Ready to start TLS");
	/* the write callback switches once the 220 is out */
	s->flags |= SF_STARTTLS;
	bufferevent_disable(s->bev, EV_READ);
}

static struct bufferevent *
tls_bev(struct smtp_session *s)
{
	struct bufferevent	*bev;
	SSL			*ssl;

	if ((ssl = SSL_new(smtpd_tls_ctx())) == NULL)
		fatalx("SSL_new: out of memory");
	bev = bufferevent_openssl_socket_new(daemon_base(), s->fd, ssl,
	    BUFFEREVENT_SSL_ACCEPTING, BEV_OPT_CLOSE_ON_FREE);
	if (bev == NULL)
		fatalx("bufferevent_openssl_socket_new");
	bufferevent_openssl_set_allow_dirty_shutdown(bev, 1);
	s->ssl = ssl;
	s->flags |= SF_TLS | SF_HANDSHAKE;
	return bev;
}

void
smtp_tls_switch(struct smtp_session *s)
{
	struct evbuffer	*in = bufferevent_get_input(s->bev);
	size_t		 n;

	s->flags &= ~SF_STARTTLS;
	if (smtpd_tls_ctx() == NULL) {
		smtp_close(s);
		return;
	}
	if ((n = evbuffer_get_length(in)) > 0) {
		stat_injected++;
		log_info("client=[%s] %zu octets pipelined after STARTTLS "
		    "discarded", s->ip, n);
	}
	/* the socket stays open: the TLS bufferevent takes it over */
	bufferevent_free(s->bev);
	s->bev = NULL;

	/* RFC 3207 4.2: forget everything the client said */
	s->state = S_INIT;
	s->helo[0] = '\0';
	s->flags &= ~SF_EHLO;
	s->sasl = SASL_NONE;
	s->auth_user[0] = '\0';
	explicit_bzero(s->sasl_user, sizeof(s->sasl_user));
	smtp_set_bev(s, tls_bev(s));
}

int
smtp_tls_accept(struct smtp_session *s)
{
	if (smtpd_tls_ctx() == NULL)
		return -1;
	smtp_set_bev(s, tls_bev(s));
	return 0;
}

void
smtp_tls_connected(struct smtp_session *s)
{
	s->flags &= ~SF_HANDSHAKE;
	stat_tls++;
	tls_info(s->ssl, s->tls_info, sizeof(s->tls_info));
	log_info("TLS client=[%s] listener=%s version=%s cipher=%s", s->ip,
	    s->l->name, tls_version(s->ssl), tls_cipher(s->ssl));
	smtp_process(s);
}

void
smtp_tls_errors(struct bufferevent *bev, char *buf, size_t bufsz)
{
	unsigned long	e;
	char		one[256];
	size_t		n;

	stat_tls_failed++;
	buf[0] = '\0';
	while ((e = bufferevent_get_openssl_error(bev)) != 0) {
		if (ERR_GET_LIB(e) == 0)
			continue;	/* libevent's own marker */
		ERR_error_string_n(e, one, sizeof(one));
		n = strlen(buf);
		if (n > 0)
			strlcat(buf, "; ", bufsz);
		strlcat(buf, one, bufsz);
	}
	if (buf[0] == '\0')
		strlcpy(buf, errno ? strerror(errno) :
		    "connection closed during the handshake", bufsz);
}

void
smtp_tls_stats(char *buf, size_t bufsz)
{
	char	w[128];

	snprintf(w, sizeof(w), "tls=%llu tls_failed=%llu "
	    "starttls_injection=%llu ", (unsigned long long)stat_tls,
	    (unsigned long long)stat_tls_failed,
	    (unsigned long long)stat_injected);
	strlcat(buf, w, bufsz);
}
