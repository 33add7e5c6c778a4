/*
 * One POP3 client before login: the AUTHORIZATION state.
 *
 * RFC 1939 4 (greeting, no APOP timestamp: APOP needs clear passwords and
 * the users file holds only hashes), 7 (USER, PASS, QUIT); RFC 2449 (CAPA,
 * RESP-CODES [IN-USE] [AUTH] [SYS/TEMP], PIPELINING: commands are taken
 * from the input buffer one at a time); RFC 2595 4 (STLS; before TLS,
 * USER and SASL PLAIN are neither advertised nor accepted unless
 * allow_plaintext_auth lets this client log in in the clear); RFC 5034
 * (AUTH PLAIN, with an initial response or after "+ "; "*" cancels);
 * RFC 8314 (implicit TLS on the pop3s listener).
 *
 * A login goes to auth (IPC_AUTH_LOGIN), which delays failures itself.
 * On success the session is handed to popd-mail (handover.h), which
 * locks the maildrop and answers the PASS/AUTH itself ("+OK" or "-ERR
 * [IN-USE]"). A cleartext session leaves this process with its socket;
 * a TLS session stays here as a relay. popd-mail tells us when a session
 * ends (IPC_POP_SESSION_END), so the per-address limit counts every
 * session, logged in or not.
 */
#include <sys/types.h>
#include <sys/socket.h>
#include <sys/queue.h>

#include <netinet/in.h>
#include <netdb.h>

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

#include "addr.h"
#include "config.h"
#include "daemon.h"
#include "ipc.h"
#include "linein.h"
#include "log.h"
#include "proc.h"
#include "tls.h"
#include "util.h"
#include "handover.h"
#include "pop3_parse.h"
#include "popd.h"

enum login_state {
	L_AUTHZ,		/* reading commands */
	L_SASL,			/* AUTH PLAIN: waiting for the response line */
	L_WAIT_AUTH,		/* waiting for auth's answer */
	L_HANDOVER,		/* logged in: flushing, then hand-over */
	L_STLS,			/* "+OK" to STLS is being flushed */
	L_CLOSING,
};

#define LF_TLS		0x01	/* the session is under TLS */
#define LF_LOOPBACK	0x02
#define LF_SKIPLINE	0x04	/* discarding an over-long line */

struct login_session {
	TAILQ_ENTRY(login_session) entry;
	struct pop3_listener	*l;
	struct bufferevent	*bev;
	int			 fd;
	struct event		*timer;
	struct sockaddr_storage	 ss;
	char			 ip[64];
	int			 state;
	int			 flags;
	int			 cmd;
	uint32_t		 reqid;
	char			 user[ADDR_MAX];
	char			 address[ADDR_MAX];	/* from auth */
	char			 mailbox[ADDR_MAX];
	unsigned int		 errors, max_errors;
	int			 timeout;
};

/* a session handed to popd-mail, until it ends */
struct handed {
	TAILQ_ENTRY(handed)	 entry;
	uint32_t		 id;		/* the POP_SESSION reqid */
	struct pop3_listener	*l;
	struct sockaddr_storage	 ss;
	struct handover_relay	*relay;		/* TLS sessions */
};

struct login_command {
	int	 cmd;
	int	(*check)(struct login_session *, const char *);
	void	(*proceed)(struct login_session *, const char *);
};

TAILQ_HEAD(login_list, login_session);
TAILQ_HEAD(handed_list, handed);

static struct login_list	sessions = TAILQ_HEAD_INITIALIZER(sessions);
static struct handed_list	handed = TAILQ_HEAD_INITIALIZER(handed);
static unsigned int		nsessions, nhanded;
static uint64_t			stat_accepted, stat_logins, stat_failures;

static void	login_process(struct login_session *);
static void	login_close(struct login_session *);
static void	login_free(struct login_session *);
static void	login_reply(struct login_session *, const char *, ...)
		    __attribute__((format(printf, 2, 3)));
static void	login_err(struct login_session *, const char *, ...)
		    __attribute__((format(printf, 2, 3)));
static void	login_io_update(struct login_session *);
static void	login_handover(struct login_session *);

static int	login_check_plain(struct login_session *, const char *);
static void	login_proceed_user(struct login_session *, const char *);
static int	login_check_pass(struct login_session *, const char *);
static void	login_proceed_pass(struct login_session *, const char *);
static void	login_proceed_apop(struct login_session *, const char *);
static void	login_proceed_auth(struct login_session *, const char *);
static void	login_proceed_capa(struct login_session *, const char *);
static int	login_check_stls(struct login_session *, const char *);
static void	login_proceed_stls(struct login_session *, const char *);
static void	login_proceed_quit(struct login_session *, const char *);
static void	login_proceed_later(struct login_session *, const char *);

/* The AUTHORIZATION state: one row per command (indexed by pop3_cmd). */
static const struct login_command login_commands[POP3_CMD_COUNT] = {
	{ POP3_UNKNOWN,	NULL,			NULL },
	{ POP3_USER,	login_check_plain,	login_proceed_user },
	{ POP3_PASS,	login_check_pass,	login_proceed_pass },
	{ POP3_APOP,	NULL,			login_proceed_apop },
	{ POP3_AUTH,	NULL,			login_proceed_auth },
	{ POP3_CAPA,	NULL,			login_proceed_capa },
	{ POP3_STLS,	login_check_stls,	login_proceed_stls },
	{ POP3_QUIT,	NULL,			login_proceed_quit },
	{ POP3_NOOP,	NULL,			login_proceed_later },
	{ POP3_STAT,	NULL,			login_proceed_later },
	{ POP3_LIST,	NULL,			login_proceed_later },
	{ POP3_RETR,	NULL,			login_proceed_later },
	{ POP3_DELE,	NULL,			login_proceed_later },
	{ POP3_RSET,	NULL,			login_proceed_later },
	{ POP3_TOP,	NULL,			login_proceed_later },
	{ POP3_UIDL,	NULL,			login_proceed_later },
};

/* --- socket I/O --- */

static void
login_write(struct login_session *s, const char *buf, size_t len)
{
	if (evbuffer_add(bufferevent_get_output(s->bev), buf, len) == -1)
		fatalx("evbuffer_add: out of memory");
}

static void
login_vreply(struct login_session *s, const char *fmt, va_list ap)
{
	char	buf[1024];
	int	n;

	if (s->state == L_CLOSING)
		return;
	n = vsnprintf(buf, sizeof(buf) - 2, fmt, ap);
	if (n < 0)
		fatalx("login_reply: vsnprintf");
	if ((size_t)n > sizeof(buf) - 3)
		n = sizeof(buf) - 3;
	log_debug("%s> %s", s->ip, buf);
	buf[n++] = '\r';
	buf[n++] = '\n';
	login_write(s, buf, (size_t)n);
}

static void
login_reply(struct login_session *s, const char *fmt, ...)
{
	va_list	ap;

	va_start(ap, fmt);
	login_vreply(s, fmt, ap);
	va_end(ap);
}

/* an -ERR that counts towards max_errors */
static void
login_err(struct login_session *s, const char *fmt, ...)
{
	va_list	ap;

	va_start(ap, fmt);
	login_vreply(s, fmt, ap);
	va_end(ap);
	if (++s->errors >= s->max_errors && s->state != L_CLOSING) {
		login_reply(s, "-ERR Too many errors, closing");
		log_info("client=[%s] too many errors: disconnecting", s->ip);
		login_close(s);
	}
}

static void
login_io_update(struct login_session *s)
{
	struct timeval	tv;

	if (s->state == L_CLOSING || s->state == L_HANDOVER ||
	    s->state == L_STLS || s->state == L_WAIT_AUTH) {
		bufferevent_disable(s->bev, EV_READ);
		return;
	}
	tv.tv_sec = s->timeout;
	tv.tv_usec = 0;
	bufferevent_set_timeouts(s->bev, &tv, &tv);
	bufferevent_enable(s->bev, EV_READ);
}

static void
login_read_cb(struct bufferevent *bev, void *arg)
{
	login_process(arg);
}

static void	login_start_tls(struct login_session *);

static void
login_written_cb(struct bufferevent *bev, void *arg)
{
	struct login_session	*s = arg;

	if (evbuffer_get_length(bufferevent_get_output(bev)) != 0)
		return;
	switch (s->state) {
	case L_CLOSING:
		login_free(s);
		break;
	case L_STLS:
		login_start_tls(s);
		break;
	case L_HANDOVER:
		login_handover(s);
		break;
	}
}

static void
login_event_cb(struct bufferevent *bev, short what, void *arg)
{
	struct login_session	*s = arg;
	char			 info[256];

	if (what & BEV_EVENT_CONNECTED) {
		/* the TLS handshake is done */
		tls_info(bufferevent_openssl_get_ssl(bev), info, sizeof(info));
		log_info("client=[%s] listener=%s tls=\"%s\"", s->ip,
		    s->l->name, info);
		return;
	}
	if (s->state == L_CLOSING) {
		login_free(s);
		return;
	}
	if ((what & BEV_EVENT_TIMEOUT) && (what & BEV_EVENT_READING)) {
		log_info("timeout client=[%s] before login", s->ip);
		login_reply(s, "-ERR Timeout, closing");
		login_close(s);
		return;
	}
	if (what & BEV_EVENT_ERROR) {
		unsigned long	e = bufferevent_get_openssl_error(bev);

		if (e != 0)
			log_info("client=[%s] TLS error: %s", s->ip,
			    ERR_error_string(e, NULL));
		else
			log_info("lost connection client=[%s] before login:"
			    " %s", s->ip, strerror(errno));
	} else
		log_debug("lost connection client=[%s] before login", s->ip);
	login_free(s);
}

static void
login_timer_cb(int fd, short ev, void *arg)
{
	struct login_session	*s = arg;

	if (s->state == L_CLOSING) {
		login_free(s);
		return;
	}
	/* auth did not answer in time */
	log_warnx("client=[%s] auth did not answer in %d s", s->ip,
	    POPD_IPC_TIMEOUT);
	s->reqid = 0;
	s->state = L_AUTHZ;
	login_reply(s, "-ERR [SYS/TEMP] Temporary authentication failure, "
	    "try again later");
	login_process(s);
}

/* stops reading, flushes the replies, then frees */
static void
login_close(struct login_session *s)
{
	struct timeval	tv = { 0, 0 };

	if (s->state == L_CLOSING)
		return;
	s->state = L_CLOSING;
	s->reqid = 0;
	evtimer_del(s->timer);
	bufferevent_disable(s->bev, EV_READ);
	if (evbuffer_get_length(bufferevent_get_output(s->bev)) == 0)
		evtimer_add(s->timer, &tv);
	else
		bufferevent_set_timeouts(s->bev, NULL, NULL);
}

/* --- sessions --- */

static int
same_address(const struct sockaddr_storage *a,
    const struct sockaddr_storage *b)
{
	if (a->ss_family != b->ss_family)
		return 0;
	if (a->ss_family == AF_INET)
		return memcmp(&((const struct sockaddr_in *)a)->sin_addr,
		    &((const struct sockaddr_in *)b)->sin_addr,
		    sizeof(struct in_addr)) == 0;
	if (a->ss_family == AF_INET6)
		return memcmp(&((const struct sockaddr_in6 *)a)->sin6_addr,
		    &((const struct sockaddr_in6 *)b)->sin6_addr,
		    sizeof(struct in6_addr)) == 0;
	return 0;
}

static unsigned int
sessions_from(const struct sockaddr_storage *ss)
{
	struct login_session	*s;
	struct handed		*h;
	unsigned int		 n = 0;

	TAILQ_FOREACH(s, &sessions, entry)
		n += same_address(&s->ss, ss);
	TAILQ_FOREACH(h, &handed, entry)
		n += same_address(&h->ss, ss);
	return n;
}

static int
is_loopback(const struct sockaddr_storage *ss)
{
	const struct sockaddr_in	*sin = (const void *)ss;
	const struct sockaddr_in6	*sin6 = (const void *)ss;
	const uint8_t			*b;

	if (ss->ss_family == AF_INET)
		return (ntohl(sin->sin_addr.s_addr) >> 24) == 127;
	if (ss->ss_family != AF_INET6)
		return 0;
	if (IN6_IS_ADDR_LOOPBACK(&sin6->sin6_addr))
		return 1;
	b = sin6->sin6_addr.s6_addr;
	return IN6_IS_ADDR_V4MAPPED(&sin6->sin6_addr) && b[12] == 127;
}

static void
refuse_connection(int fd, const char *why, const char *ip)
{
	char	buf[512];
	int	n;

	n = snprintf(buf, sizeof(buf), "-ERR [SYS/TEMP] %s\r\n", why);
	if (n > 0 && write(fd, buf, (size_t)n) == -1)
		log_debug("refused client=[%s]: write: %s", ip,
		    strerror(errno));
	close(fd);
	log_info("refused client=[%s]: %s", ip, why);
}

static struct bufferevent *
tls_bev(struct login_session *s, int fd)
{
	struct bufferevent	*bev;
	SSL			*ssl;

	if ((ssl = SSL_new(popd_tls_ctx())) == NULL)
		return NULL;
	bev = bufferevent_openssl_socket_new(daemon_base(), fd, ssl,
	    BUFFEREVENT_SSL_ACCEPTING, BEV_OPT_CLOSE_ON_FREE);
	if (bev == NULL) {
		SSL_free(ssl);
		return NULL;
	}
	bufferevent_openssl_set_allow_dirty_shutdown(bev, 1);
	return bev;
}

void
pop3_login_accept(struct pop3_listener *l, int fd, const struct sockaddr *sa,
    socklen_t salen)
{
	const struct config	*cfg = popd_config();
	struct login_session	*s;
	struct sockaddr_storage	 ss;
	char			 ip[64];

	memset(&ss, 0, sizeof(ss));
	if (salen > sizeof(ss))
		salen = sizeof(ss);
	memcpy(&ss, sa, salen);
	if (getnameinfo(sa, salen, ip, sizeof(ip), NULL, 0,
	    NI_NUMERICHOST) != 0)
		strlcpy(ip, "unknown", sizeof(ip));
	if (l->nsessions >= (unsigned long long)config_num(cfg, l->name,
	    "max_sessions")) {
		refuse_connection(fd, "Too many connections", ip);
		return;
	}
	if (sessions_from(&ss) >= (unsigned long long)config_num(cfg,
	    l->name, "max_sessions_per_ip")) {
		refuse_connection(fd, "Too many connections from your address",
		    ip);
		return;
	}
	if (l->implicit_tls && popd_tls_ctx() == NULL) {
		close(fd);
		log_warnx("refused client=[%s] on %s: no TLS material", ip,
		    l->name);
		return;
	}

	s = xcalloc(1, sizeof(*s));
	s->l = l;
	s->ss = ss;
	s->fd = fd;
	strlcpy(s->ip, ip, sizeof(s->ip));
	s->state = L_AUTHZ;
	if (is_loopback(&ss))
		s->flags |= LF_LOOPBACK;
	s->max_errors = config_num(cfg, l->name, "max_errors");
	if (s->max_errors == 0)
		s->max_errors = 1;
	s->timeout = config_num(cfg, NULL, "pop3_timeout");
	if (l->implicit_tls) {
		s->flags |= LF_TLS;
		s->bev = tls_bev(s, fd);
	} else
		s->bev = bufferevent_socket_new(daemon_base(), fd, 0);
	if (s->bev == NULL)
		fatalx("bufferevent_socket_new");
	if ((s->timer = evtimer_new(daemon_base(), login_timer_cb, s)) == NULL)
		fatalx("evtimer_new");
	bufferevent_setcb(s->bev, login_read_cb, login_written_cb,
	    login_event_cb, s);
	bufferevent_enable(s->bev, EV_WRITE);
	TAILQ_INSERT_TAIL(&sessions, s, entry);
	nsessions++;
	l->nsessions++;
	stat_accepted++;

	log_info("connect from=[%s] listener=%s", s->ip, l->name);
	/* RFC 1939 4: no timestamp, APOP is not offered */
	login_reply(s, "+OK %s POP3 server ready (facteur)", popd_hostname);
	login_io_update(s);
}

static void
login_free(struct login_session *s)
{
	TAILQ_REMOVE(&sessions, s, entry);
	nsessions--;
	s->l->nsessions--;
	event_free(s->timer);
	if (s->bev != NULL) {
		bufferevent_free(s->bev);
		/* a cleartext bufferevent does not own the socket */
		if (!(s->flags & LF_TLS))
			close(s->fd);
	}
	explicit_bzero(s->user, sizeof(s->user));
	free(s);
}

/* --- login --- */

static int
plaintext_allowed(struct login_session *s)
{
	const char	*p;

	if (s->flags & LF_TLS)
		return 1;
	p = config_str(popd_config(), s->l->name, "allow_plaintext_auth");
	if (strcasecmp(p, "always") == 0 || strcasecmp(p, "yes") == 0)
		return 1;
	if (strcasecmp(p, "loopback") == 0)
		return (s->flags & LF_LOOPBACK) != 0;
	return 0;
}

static int
stls_available(struct login_session *s)
{
	return !(s->flags & LF_TLS) && !s->l->implicit_tls &&
	    popd_tls_ctx() != NULL;
}

static int
login_check_plain(struct login_session *s, const char *args)
{
	if (!plaintext_allowed(s)) {
		login_err(s, "-ERR [AUTH] Plaintext authentication "
		    "disallowed on non-secure connections%s",
		    stls_available(s) ? " (use STLS)" : "");
		return -1;
	}
	return 0;
}

static int
user_valid(const char *u)
{
	size_t	n = strlen(u);

	if (n == 0 || n >= ADDR_MAX)
		return 0;
	for (; *u != '\0'; u++)
		if ((unsigned char)*u <= 0x20 || *u == 0x7f)
			return 0;
	return 1;
}

static void
login_proceed_user(struct login_session *s, const char *args)
{
	if (!user_valid(args)) {
		s->user[0] = '\0';
		login_err(s, "-ERR Syntax: USER name");
		return;
	}
	strlcpy(s->user, args, sizeof(s->user));
	login_reply(s, "+OK Send your password");
}

static int
login_check_pass(struct login_session *s, const char *args)
{
	if (login_check_plain(s, args) == -1)
		return -1;
	if (s->user[0] == '\0') {
		login_err(s, "-ERR Send USER first");
		return -1;
	}
	if (args[0] == '\0') {
		login_err(s, "-ERR Syntax: PASS password");
		return -1;
	}
	return 0;
}

/* asks auth; the answer comes to pop3_login_answer */
static void
login_request(struct login_session *s, const char *user, const char *pass)
{
	struct timeval	tv = { POPD_IPC_TIMEOUT, 0 };
	struct ipc_wbuf	w;
	uint32_t	reqid;

	ipc_wbuf_init(&w);
	ipc_put_str(&w, "pop3");
	ipc_put_str(&w, s->ip);
	ipc_put_str(&w, user);
	ipc_put_str(&w, pass);
	reqid = popd_new_reqid();
	if (w.error || popd_send(PROC_AUTH, IPC_AUTH_LOGIN, reqid, -1,
	    w.data, w.len) == -1) {
		explicit_bzero(&w, sizeof(w));
		login_reply(s, "-ERR [SYS/TEMP] Authentication service "
		    "unavailable, try again later");
		return;
	}
	explicit_bzero(&w, sizeof(w));
	strlcpy(s->user, user, sizeof(s->user));
	s->reqid = reqid;
	s->state = L_WAIT_AUTH;
	evtimer_add(s->timer, &tv);
}

static void
login_proceed_pass(struct login_session *s, const char *args)
{
	login_request(s, s->user, args);
}

static void
login_proceed_apop(struct login_session *s, const char *args)
{
	login_err(s, "-ERR APOP is not supported");
}

static void
login_sasl_plain(struct login_session *s, const char *b64)
{
	char	user[ADDR_MAX], pass[1024];

	if (pop3_sasl_plain(b64, user, sizeof(user), pass,
	    sizeof(pass)) == -1 || !user_valid(user)) {
		login_err(s, "-ERR [AUTH] Invalid SASL PLAIN response");
		return;
	}
	login_request(s, user, pass);
	explicit_bzero(pass, sizeof(pass));
}

static void
login_proceed_auth(struct login_session *s, const char *args)
{
	char		 mech[32];
	const char	*ir;

	if (args[0] == '\0') {
		/* the list of mechanisms (RFC 1734 usage, as clients probe) */
		if (plaintext_allowed(s)) {
			login_reply(s, "+OK");
			login_reply(s, "PLAIN");
			login_reply(s, ".");
		} else
			login_check_plain(s, args);
		return;
	}
	if (pop3_parse_auth(args, mech, sizeof(mech), &ir) == -1) {
		login_err(s, "-ERR Syntax: AUTH mechanism [initial-response]");
		return;
	}
	if (strcmp(mech, "PLAIN") != 0) {
		login_err(s, "-ERR Unsupported authentication mechanism");
		return;
	}
	if (login_check_plain(s, args) == -1)
		return;
	if (ir != NULL) {
		login_sasl_plain(s, ir);
		return;
	}
	s->state = L_SASL;
	login_reply(s, "+ ");
}

static void
login_sasl_line(struct login_session *s, const char *line)
{
	s->state = L_AUTHZ;
	if (strcmp(line, "*") == 0) {
		login_err(s, "-ERR Authentication cancelled");
		return;
	}
	login_sasl_plain(s, line);
}

static void
login_proceed_capa(struct login_session *s, const char *args)
{
	login_reply(s, "+OK Capability list follows");
	login_reply(s, "TOP");
	login_reply(s, "UIDL");
	login_reply(s, "RESP-CODES");
	login_reply(s, "AUTH-RESP-CODE");
	login_reply(s, "PIPELINING");
	login_reply(s, "EXPIRE NEVER");
	login_reply(s, "IMPLEMENTATION facteur");
	if (stls_available(s))
		login_reply(s, "STLS");
	if (plaintext_allowed(s)) {
		login_reply(s, "USER");
		login_reply(s, "SASL PLAIN");
	}
	login_reply(s, ".");
}

static int
login_check_stls(struct login_session *s, const char *args)
{
	if (s->flags & LF_TLS) {
		login_err(s, "-ERR TLS is already active");
		return -1;
	}
	if (!stls_available(s)) {
		login_err(s, "-ERR STLS is not available");
		return -1;
	}
	if (args[0] != '\0') {
		login_err(s, "-ERR Syntax: STLS");
		return -1;
	}
	return 0;
}

static void
login_proceed_stls(struct login_session *s, const char *args)
{
	struct evbuffer	*in = bufferevent_get_input(s->bev);

	/* RFC 2595 4: anything pipelined after STLS is discarded */
	evbuffer_drain(in, evbuffer_get_length(in));
	s->user[0] = '\0';
	login_reply(s, "+OK Begin TLS negotiation now");
	s->state = L_STLS;
}

/* the "+OK" to STLS has left: the same socket, now under TLS */
static void
login_start_tls(struct login_session *s)
{
	struct bufferevent	*bev;

	bufferevent_free(s->bev);		/* not the socket */
	s->bev = NULL;
	if ((bev = tls_bev(s, s->fd)) == NULL) {
		log_warnx("client=[%s] cannot start TLS", s->ip);
		close(s->fd);
		login_free(s);
		return;
	}
	s->bev = bev;
	s->flags |= LF_TLS;
	s->state = L_AUTHZ;
	bufferevent_setcb(s->bev, login_read_cb, login_written_cb,
	    login_event_cb, s);
	bufferevent_enable(s->bev, EV_WRITE);
	login_io_update(s);
}

static void
login_proceed_quit(struct login_session *s, const char *args)
{
	login_reply(s, "+OK Bye");
	login_close(s);
}

static void
login_proceed_later(struct login_session *s, const char *args)
{
	login_err(s, "-ERR Command not valid before login");
}

/* --- the hand-over to popd-mail --- */

static void
handed_free(struct handed *h)
{
	TAILQ_REMOVE(&handed, h, entry);
	nhanded--;
	h->l->nsessions--;
	free(h);
}

static void
relay_done(void *arg)
{
	struct handed	*h = arg;

	h->relay = NULL;
	handed_free(h);
}

static void
login_handover(struct login_session *s)
{
	struct evbuffer	*in = bufferevent_get_input(s->bev);
	struct handover	 ho;
	struct ipc_wbuf	*w;
	struct handed	*h;
	size_t		 n;
	int		 fd, r;

	if (daemon_peer(PROC_POPD_MAIL) == NULL) {
		log_warnx("client=[%s] user=%s: popd-mail unavailable",
		    s->ip, s->address);
		s->state = L_AUTHZ;
		login_reply(s, "-ERR [SYS/TEMP] Mailbox service unavailable, "
		    "try again later");
		login_process(s);
		return;
	}
	memset(&ho, 0, sizeof(ho));
	strlcpy(ho.address, s->address, sizeof(ho.address));
	strlcpy(ho.mailbox, s->mailbox, sizeof(ho.mailbox));
	strlcpy(ho.client, s->ip, sizeof(ho.client));
	ho.flags = (s->flags & LF_TLS) ? POP_SESSION_F_TLS : 0;
	if ((n = evbuffer_get_length(in)) > HANDOVER_PENDING_MAX) {
		login_reply(s, "-ERR Too much pipelined input");
		login_close(s);
		return;
	}
	ho.pending = xmalloc(n + 1);
	evbuffer_remove(in, ho.pending, n);
	ho.npending = n;
	if (memchr(ho.pending, '\0', n) != NULL) {
		free(ho.pending);
		login_reply(s, "-ERR Bad character in input");
		login_close(s);
		return;
	}

	h = xcalloc(1, sizeof(*h));
	h->id = popd_new_reqid();
	h->l = s->l;
	h->ss = s->ss;
	if (s->flags & LF_TLS) {
		h->relay = handover_relay_new(daemon_base(), s->bev, &fd,
		    relay_done, h);
		if (h->relay == NULL)
			fatal("socketpair");
		s->bev = NULL;		/* the relay has it */
	} else
		fd = s->fd;
	w = xmalloc(sizeof(*w));
	r = handover_encode(w, &ho);
	if (r == 0)
		r = popd_send(PROC_POPD_MAIL, IPC_POP_SESSION, h->id, fd,
		    w->data, w->len);
	free(w);
	free(ho.pending);
	if (r == -1) {
		log_warnx("client=[%s] user=%s: popd-mail unavailable",
		    s->ip, s->address);
		if (h->relay != NULL) {
			handover_relay_free(h->relay);
			close(fd);
		}
		free(h);
		if (s->bev == NULL) {
			/* the relay took the TLS session: it is gone */
			s->flags &= ~LF_TLS;
			s->fd = -1;
			TAILQ_REMOVE(&sessions, s, entry);
			nsessions--;
			s->l->nsessions--;
			event_free(s->timer);
			free(s);
			return;
		}
		s->state = L_AUTHZ;
		login_reply(s, "-ERR [SYS/TEMP] Mailbox service unavailable, "
		    "try again later");
		login_io_update(s);
		return;
	}
	if (h->relay != NULL)
		close(fd);		/* popd-mail has its end */
	TAILQ_INSERT_TAIL(&handed, h, entry);
	nhanded++;
	s->l->nsessions++;		/* moves from s to h */
	log_info("login user=%s client=[%s] listener=%s%s", s->address,
	    s->ip, s->l->name, (s->flags & LF_TLS) ? " tls=yes" : "");
	stat_logins++;
	/* this process is done with the client (a cleartext socket is
	   closed here: popd-mail holds its own copy) */
	if (s->bev != NULL) {
		bufferevent_free(s->bev);
		s->bev = NULL;
		close(s->fd);
	}
	TAILQ_REMOVE(&sessions, s, entry);
	nsessions--;
	s->l->nsessions--;
	event_free(s->timer);
	explicit_bzero(s->user, sizeof(s->user));
	free(s);
}

static void
login_result(struct login_session *s, struct ipc_msg *msg)
{
	struct ipc_rbuf	 r;
	uint32_t	 status;

	ipc_rbuf_init(&r, msg->data, msg->hdr.len);
	status = ipc_get_u32(&r);
	ipc_get_str(&r, s->address, sizeof(s->address));
	ipc_get_str(&r, s->mailbox, sizeof(s->mailbox));
	if (ipc_get_end(&r) == -1) {
		log_warnx("bad AUTH_LOGIN_RESULT from auth");
		status = AUTH_LOGIN_TEMPFAIL;
	}
	if (status == AUTH_LOGIN_OK && (s->mailbox[0] == '\0' ||
	    strcmp(s->mailbox, "-") == 0)) {
		log_warnx("auth: login without a mailbox for %s", s->user);
		status = AUTH_LOGIN_TEMPFAIL;
	}
	s->state = L_AUTHZ;
	switch (status) {
	case AUTH_LOGIN_OK:
		s->state = L_HANDOVER;
		if (evbuffer_get_length(bufferevent_get_output(s->bev)) == 0)
			login_handover(s);
		return;
	case AUTH_LOGIN_FAIL:
		stat_failures++;
		log_info("login failed user=%s client=[%s]", s->user, s->ip);
		s->user[0] = '\0';
		login_err(s, "-ERR [AUTH] Authentication failed");
		break;
	default:
		s->user[0] = '\0';
		login_reply(s, "-ERR [SYS/TEMP] Temporary authentication "
		    "failure, try again later");
		break;
	}
	login_process(s);
}

static struct login_session *
session_by_reqid(uint32_t reqid)
{
	struct login_session	*s;

	if (reqid == 0)
		return NULL;
	TAILQ_FOREACH(s, &sessions, entry)
		if (s->reqid == reqid && s->state == L_WAIT_AUTH)
			return s;
	return NULL;
}

void
pop3_login_answer(int from, struct ipc_msg *msg)
{
	struct login_session	*s;
	struct handed		*h;

	if (from == PROC_POPD_MAIL && msg->hdr.type == IPC_POP_SESSION_END) {
		TAILQ_FOREACH(h, &handed, entry) {
			if (h->id == msg->hdr.reqid) {
				/* a TLS session ends with its relay */
				if (h->relay == NULL)
					handed_free(h);
				break;
			}
		}
		return;
	}
	if (from != PROC_AUTH || msg->hdr.type != IPC_AUTH_LOGIN_RESULT) {
		log_warnx("unexpected %s from %s",
		    ipc_type_name(msg->hdr.type), proc_name(from));
		return;
	}
	if ((s = session_by_reqid(msg->hdr.reqid)) == NULL) {
		log_debug("late AUTH_LOGIN_RESULT reqid=%u dropped",
		    msg->hdr.reqid);
		return;
	}
	s->reqid = 0;
	evtimer_del(s->timer);
	login_result(s, msg);
}

void
pop3_login_peer_gone(int proc)
{
	struct login_session	*s, *next;
	struct handed		*h, *hnext;

	if (proc == PROC_POPD_MAIL) {
		/* cleartext sessions died with it; relays see EOF */
		for (h = TAILQ_FIRST(&handed); h != NULL; h = hnext) {
			hnext = TAILQ_NEXT(h, entry);
			if (h->relay == NULL)
				handed_free(h);
		}
		return;
	}
	if (proc != PROC_AUTH)
		return;
	for (s = TAILQ_FIRST(&sessions); s != NULL; s = next) {
		next = TAILQ_NEXT(s, entry);
		if (s->state != L_WAIT_AUTH)
			continue;
		s->reqid = 0;
		evtimer_del(s->timer);
		s->state = L_AUTHZ;
		s->user[0] = '\0';
		login_reply(s, "-ERR [SYS/TEMP] Temporary authentication "
		    "failure, try again later");
		login_process(s);
	}
}

/* --- the input loop --- */

static void
login_command(struct login_session *s, char *line, size_t len)
{
	const struct login_command	*c;
	const char			*args;
	int				 cmd, r;

	if (s->state == L_SASL) {
		login_sasl_line(s, line);
		return;
	}
	r = pop3_cmd_parse(line, len, &cmd, &args);
	s->cmd = cmd;
	if (cmd == POP3_PASS || cmd == POP3_AUTH)
		log_debug("%s< %s ***", s->ip, pop3_cmd_name(cmd));
	else
		log_debug("%s< %.*s", s->ip, (int)len, line);
	if (r == POP3_P_TOOLONG) {
		login_err(s, "-ERR Line too long");
		return;
	}
	if (r == POP3_P_BADCHAR) {
		login_err(s, "-ERR Bad character in command");
		return;
	}
	if (cmd == POP3_UNKNOWN) {
		login_err(s, "-ERR Unknown command");
		return;
	}
	c = &login_commands[cmd];
	if (c->check != NULL && c->check(s, args) == -1)
		return;
	c->proceed(s, args);
}

static void
login_process(struct login_session *s)
{
	struct evbuffer		*in;
	char			 line[POP3_AUTH_LINE_MAX + 2];
	size_t			 n;
	int			 r, skip;

	if (s->bev == NULL)
		return;
	in = bufferevent_get_input(s->bev);
	while (s->state == L_AUTHZ || s->state == L_SASL) {
		skip = (s->flags & LF_SKIPLINE) != 0;
		r = linein_get(in, line, sizeof(line), &n, &skip);
		s->flags = skip ? (s->flags | LF_SKIPLINE) :
		    (s->flags & ~LF_SKIPLINE);
		if (r == 0)
			break;
		if (r == -1) {
			login_err(s, "-ERR Line too long");
			continue;
		}
		login_command(s, line, n);
		explicit_bzero(line, sizeof(line));
	}
	/* login_handover may have freed the session: only while it lives */
	if (s->state != L_HANDOVER)
		login_io_update(s);
	else if (evbuffer_get_length(bufferevent_get_output(s->bev)) == 0)
		login_handover(s);
	else
		login_io_update(s);
}

void
pop3_login_stats(char *buf, size_t bufsz)
{
	char	w[256];

	snprintf(w, sizeof(w), "sessions=%u handed=%u accepted=%llu "
	    "logins=%llu failures=%llu ", nsessions, nhanded,
	    (unsigned long long)stat_accepted,
	    (unsigned long long)stat_logins,
	    (unsigned long long)stat_failures);
	strlcat(buf, w, bufsz);
}
