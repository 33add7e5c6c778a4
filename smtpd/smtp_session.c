/*
 * One SMTP session: I/O, limits, the command table, the transaction, the
 * DATA and BDAT phases. AUTH is in smtp_auth.c, STARTTLS in smtp_tls.c.
 *
 * RFC 5321 3 (transactions), 4.1.1 (commands), 4.1.4 (command order),
 * 4.2 (replies), 4.4 (Received header), 4.5.3.1.4 (512-octet command
 * lines), 4.5.3.2 (timeouts); RFC 2920 PIPELINING (commands are read from
 * the input buffer one at a time; replies go to the output buffer, which
 * libevent writes out whenever the loop runs, so a batch of replies
 * leaves in one write and nothing waits on a full buffer); RFC 1870 SIZE;
 * RFC 6152 8BITMIME; RFC 2034 / 3463 ENHANCEDSTATUSCODES; RFC 3461 DSN
 * (parameters stored in the envelope); RFC 6531 SMTPUTF8 (3.4 the MAIL
 * parameter, 3.7.3 the "UTF8SMTP" with-protocols); RFC 3030 CHUNKING
 * (BDAT); RFC 3848 (ESMTPS, ESMTPA, ESMTPSA).
 *
 * Socket I/O happens only in this file's io_* functions and the
 * bufferevent callbacks; smtp_tls.c swaps in bufferevent_openssl.
 * A session waits for at most one request to auth or queue at a time; the
 * request carries a fresh reqid, and answers are looked up by it, so an
 * answer for a session that is gone is recognised and dropped.
 *
 * Limits (each a setting, scopable per listener): max_sessions (all
 * listeners together) and max_sessions_per_ip (421 4.7.0 at connect),
 * max_message_size (552 5.3.4), max_recipients (452 4.5.3), max_commands
 * and max_errors (421 4.7.0, then close), command lines of 512 octets
 * (12288 for AUTH), max_line_length for message lines, command_timeout
 * (idle between commands), data_timeout (idle in DATA/BDAT),
 * session_timeout (the whole session), greet_pause (early talkers on the
 * smtp listener: 554 5.5.0 and close) and min_data_rate (slow-drip
 * senders: a DATA phase may last data_timeout plus one second per
 * min_data_rate octets received, then 421 4.4.2).
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
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

#include "addr.h"
#include "config.h"
#include "daemon.h"
#include "envelope.h"
#include "ipc.h"
#include "log.h"
#include "proc.h"
#include "util.h"
#include "smtpd.h"
#include "smtp_data.h"
#include "smtp_parse.h"
#include "smtp_session.h"

#define SMTP_WBUF_SIZE	(64 * 1024)

struct smtp_command {
	int		 cmd;
	const char	*name;
	int		(*check)(struct smtp_session *, const char *);
	void		(*proceed)(struct smtp_session *, const char *);
};

TAILQ_HEAD(session_list, smtp_session);

static struct session_list	sessions = TAILQ_HEAD_INITIALIZER(sessions);
static unsigned int		nsessions;
static uint64_t			stat_accepted, stat_messages, stat_rejected,
				stat_early, stat_auth;

/* the session waiting for reqid (a few hundred sessions at most) */
static struct smtp_session *
session_by_reqid(uint32_t reqid)
{
	struct smtp_session	*s;

	if (reqid == 0)
		return NULL;
	TAILQ_FOREACH(s, &sessions, entry)
		if (s->reqid == reqid)
			return s;
	return NULL;
}

static void	smtp_free(struct smtp_session *);
static void	smtp_greet(struct smtp_session *);
static void	queue_abort(const char *);

static int	smtp_check_helo(struct smtp_session *, const char *);
static void	smtp_proceed_helo(struct smtp_session *, const char *);
static void	smtp_proceed_ehlo(struct smtp_session *, const char *);
static int	smtp_check_mail(struct smtp_session *, const char *);
static void	smtp_proceed_mail(struct smtp_session *, const char *);
static int	smtp_check_rcpt(struct smtp_session *, const char *);
static void	smtp_proceed_rcpt(struct smtp_session *, const char *);
static int	smtp_check_data(struct smtp_session *, const char *);
static void	smtp_proceed_data(struct smtp_session *, const char *);
static int	smtp_check_bdat(struct smtp_session *, const char *);
static void	smtp_proceed_bdat(struct smtp_session *, const char *);
static void	smtp_proceed_rset(struct smtp_session *, const char *);
static void	smtp_proceed_noop(struct smtp_session *, const char *);
static void	smtp_proceed_quit(struct smtp_session *, const char *);
static int	smtp_check_vrfy(struct smtp_session *, const char *);
static void	smtp_proceed_vrfy(struct smtp_session *, const char *);
static void	smtp_proceed_help(struct smtp_session *, const char *);
static void	smtp_proceed_unimpl(struct smtp_session *, const char *);
static void	smtp_chunk_end(struct smtp_session *);
static void	smtp_data_end(struct smtp_session *);

/* The protocol: one row per verb (indexed by enum smtp_cmd). */
static const struct smtp_command smtp_commands[CMD_COUNT] = {
	{ CMD_UNKNOWN,	"UNKNOWN",	NULL,		NULL },
	{ CMD_HELO,	"HELO",	smtp_check_helo, smtp_proceed_helo },
	{ CMD_EHLO,	"EHLO",	smtp_check_helo, smtp_proceed_ehlo },
	{ CMD_MAIL,	"MAIL",	smtp_check_mail, smtp_proceed_mail },
	{ CMD_RCPT,	"RCPT",	smtp_check_rcpt, smtp_proceed_rcpt },
	{ CMD_DATA,	"DATA",	smtp_check_data, smtp_proceed_data },
	{ CMD_RSET,	"RSET",	NULL,		smtp_proceed_rset },
	{ CMD_NOOP,	"NOOP",	NULL,		smtp_proceed_noop },
	{ CMD_QUIT,	"QUIT",	NULL,		smtp_proceed_quit },
	{ CMD_VRFY,	"VRFY",	smtp_check_vrfy, smtp_proceed_vrfy },
	{ CMD_EXPN,	"EXPN",	NULL,		smtp_proceed_unimpl },
	{ CMD_HELP,	"HELP",	NULL,		smtp_proceed_help },
	{ CMD_STARTTLS,	"STARTTLS", smtp_check_starttls,
	    smtp_proceed_starttls },
	{ CMD_AUTH,	"AUTH",	smtp_check_auth, smtp_proceed_auth },
	{ CMD_BDAT,	"BDAT",	smtp_check_bdat, smtp_proceed_bdat },
	{ CMD_ETRN,	"ETRN",	NULL,		smtp_proceed_unimpl },
	{ CMD_TURN,	"TURN",	NULL,		smtp_proceed_unimpl },
	{ CMD_SEND,	"SEND",	NULL,		smtp_proceed_unimpl },
	{ CMD_SOML,	"SOML",	NULL,		smtp_proceed_unimpl },
	{ CMD_SAML,	"SAML",	NULL,		smtp_proceed_unimpl },
};

const char *
smtp_cmd_label(int cmd)
{
	if (cmd < 0 || cmd >= CMD_COUNT)
		return "UNKNOWN";
	return smtp_commands[cmd].name;
}

/* --- socket I/O --- */

static void
io_write(struct smtp_session *s, const char *buf, size_t len)
{
	if (evbuffer_add(bufferevent_get_output(s->bev), buf, len) == -1)
		fatalx("evbuffer_add: out of memory");
}

void
smtp_reply(struct smtp_session *s, const char *fmt, ...)
{
	char	buf[1024];
	va_list	ap;
	int	n;

	if (s->flags & SF_CLOSING)
		return;
	va_start(ap, fmt);
	n = vsnprintf(buf, sizeof(buf) - 2, fmt, ap);
	va_end(ap);
	if (n < 0)
		fatalx("smtp_reply: vsnprintf");
	if ((size_t)n > sizeof(buf) - 3)
		n = sizeof(buf) - 3;
	log_debug("%s> %s", s->ip, buf);
	buf[n++] = '\r';
	buf[n++] = '\n';
	io_write(s, buf, n);

	if ((buf[0] == '4' || buf[0] == '5') && strncmp(buf, "421", 3) != 0) {
		stat_rejected++;
		log_info("reject cmd=%s client=[%s] helo=%s reply=\"%.*s\"",
		    smtp_commands[s->cmd].name, s->ip,
		    s->helo[0] ? s->helo : "-", n - 2, buf);
		if (++s->errors >= s->max_errors) {
			smtp_reply(s, "421 4.7.0 %s Error: too many errors",
			    smtpd_hostname);
			log_info("client=[%s] too many errors: disconnecting",
			    s->ip);
			smtp_close(s);
		}
	}
}

void
smtp_io_update(struct smtp_session *s)
{
	struct timeval	rt, wt;

	if (s->flags & SF_CLOSING)
		return;
	if (s->wait != WAIT_NONE || (s->flags & SF_STARTTLS)) {
		bufferevent_disable(s->bev, EV_READ);
		return;
	}
	rt.tv_sec = (s->state == S_DATA || (s->flags & SF_INCHUNK) ||
	    s->discard_left > 0) ? s->data_timeout : s->cmd_timeout;
	rt.tv_usec = 0;
	wt.tv_sec = s->cmd_timeout;
	wt.tv_usec = 0;
	bufferevent_set_timeouts(s->bev, &rt, &wt);
	bufferevent_enable(s->bev, EV_READ);
}

static void
smtp_read_cb(struct bufferevent *bev, void *arg)
{
	struct smtp_session	*s = arg;

	if (s->flags & SF_GREETWAIT) {
		/* RFC 5321 4.3.1: the client waits for the greeting */
		s->flags &= ~SF_GREETWAIT;
		evtimer_del(s->timer);
		stat_early++;
		log_info("early talker client=[%s]: sent %zu bytes before the "
		    "greeting", s->ip,
		    evbuffer_get_length(bufferevent_get_input(bev)));
		evbuffer_drain(bufferevent_get_input(bev),
		    evbuffer_get_length(bufferevent_get_input(bev)));
		smtp_reply(s, "554 5.5.0 %s Error: SMTP protocol "
		    "synchronization: talking before the greeting",
		    smtpd_hostname);
		smtp_close(s);
		return;
	}
	smtp_process(s);
}

static void
smtp_write_cb(struct bufferevent *bev, void *arg)
{
	struct smtp_session	*s = arg;
	struct timeval		 tv = { 0, 0 };

	if (evbuffer_get_length(bufferevent_get_output(bev)) != 0)
		return;
	if (s->flags & SF_CLOSING)
		smtp_free(s);
	else if (s->flags & SF_STARTTLS)
		evtimer_add(s->timer, &tv);	/* switch outside the cb */
}

static void
smtp_event_cb(struct bufferevent *bev, short what, void *arg)
{
	struct smtp_session	*s = arg;

	if (what & BEV_EVENT_CONNECTED) {
		/* TLS handshake done */
		smtp_tls_connected(s);
		return;
	}
	if (s->flags & SF_CLOSING) {
		smtp_free(s);
		return;
	}
	if ((what & BEV_EVENT_TIMEOUT) && (what & BEV_EVENT_READING)) {
		log_info("timeout client=[%s] state=%s", s->ip,
		    (s->flags & SF_HANDSHAKE) ? "TLS handshake" :
		    (s->state == S_DATA || (s->flags & SF_INCHUNK)) ?
		    "DATA" : "command");
		smtp_reply(s, "421 4.4.2 %s Error: timeout exceeded",
		    smtpd_hostname);
		smtp_close(s);
		return;
	}
	if (s->flags & SF_HANDSHAKE) {
		char	err[512];

		smtp_tls_errors(bev, err, sizeof(err));
		log_info("TLS handshake failed client=[%s]: %s", s->ip, err);
	} else if (what & BEV_EVENT_ERROR)
		log_info("lost connection client=[%s] after %s: %s", s->ip,
		    smtp_commands[s->cmd].name, errno ? strerror(errno) :
		    "TLS error");
	else if (s->state != S_INIT && s->state != S_HELO)
		log_info("lost connection client=[%s] after %s", s->ip,
		    smtp_commands[s->cmd].name);
	smtp_free(s);
}

void
smtp_set_bev(struct smtp_session *s, struct bufferevent *bev)
{
	s->bev = bev;
	bufferevent_setcb(bev, smtp_read_cb, smtp_write_cb, smtp_event_cb, s);
	smtp_io_update(s);
}

static void
smtp_timer_cb(int fd, short ev, void *arg)
{
	struct smtp_session	*s = arg;

	if (s->flags & SF_CLOSING) {
		smtp_free(s);
		return;
	}
	if (s->flags & SF_GREETWAIT) {
		s->flags &= ~SF_GREETWAIT;
		smtp_greet(s);
		smtp_process(s);
		return;
	}
	if (s->flags & SF_STARTTLS) {
		smtp_tls_switch(s);
		return;
	}
	if (s->wait == WAIT_NONE)
		return;
	/* auth or queue did not answer in time */
	log_warnx("client=[%s] %s did not answer in %d s", s->ip,
	    (s->wait == WAIT_AUTH_RCPT || s->wait == WAIT_AUTH_LOGIN ||
	    s->wait == WAIT_AUTH_SENDER) ? "auth" : "queue",
	    SMTPD_IPC_TIMEOUT);
	s->reqid = 0;
	switch (s->wait) {
	case WAIT_AUTH_RCPT:
		s->wait = WAIT_NONE;
		smtp_reply(s, "451 4.3.0 <%s>: Temporary lookup failure",
		    s->rcpt_addr);
		break;
	case WAIT_AUTH_LOGIN:
		s->wait = WAIT_NONE;
		smtp_auth_fail_temp(s);
		break;
	case WAIT_AUTH_SENDER:
		s->wait = WAIT_NONE;
		smtp_reply(s, "451 4.3.0 <%s>: Temporary lookup failure",
		    s->env.sender);
		smtp_txn_reset(s);
		break;
	default:
		/* after COMMIT the queue may still commit it: no ABORT */
		if (s->wait == WAIT_QUEUE_COMMIT)
			s->queueid[0] = '\0';
		if (s->wait == WAIT_QUEUE_CREATE && s->state == S_RCPT &&
		    s->cmd == CMD_BDAT && s->chunk_left > 0)
			s->discard_left = s->chunk_left;
		s->wait = WAIT_NONE;
		smtp_reply(s, "451 4.3.0 Error: queue timeout, try again "
		    "later");
		smtp_txn_reset(s);
		break;
	}
	smtp_process(s);
}

static void
smtp_life_cb(int fd, short ev, void *arg)
{
	struct smtp_session	*s = arg;

	if (s->flags & SF_CLOSING)
		return;
	log_info("session timeout client=[%s] after %s", s->ip,
	    smtp_commands[s->cmd].name);
	smtp_reply(s, "421 4.4.2 %s Error: session time limit exceeded",
	    smtpd_hostname);
	smtp_close(s);
}

/* stops reading, flushes the replies, then frees */
void
smtp_close(struct smtp_session *s)
{
	struct timeval	tv = { 0, 0 };

	if (s->flags & SF_CLOSING)
		return;
	s->flags |= SF_CLOSING;
	s->flags &= ~(SF_STARTTLS | SF_GREETWAIT);
	s->state = S_CLOSING;
	s->reqid = 0;
	s->wait = WAIT_NONE;
	evtimer_del(s->timer);
	bufferevent_disable(s->bev, EV_READ);
	if (evbuffer_get_length(bufferevent_get_output(s->bev)) == 0)
		evtimer_add(s->timer, &tv);
}

/* --- sessions --- */

static int
cidr_list_match(const char *cidr, void *arg)
{
	int	r;

	if ((r = smtp_cidr_match(cidr, arg)) == -1)
		log_warnx("bad network '%s' in the configuration", cidr);
	return r == 1;
}

static int
is_loopback(const struct sockaddr *sa)
{
	return smtp_cidr_match("127.0.0.0/8", sa) == 1 ||
	    smtp_cidr_match("::1", sa) == 1;
}

static unsigned int
sessions_from(const struct sockaddr_storage *ss)
{
	struct smtp_session	*s;
	unsigned int		 n = 0;

	TAILQ_FOREACH(s, &sessions, entry) {
		if (s->ss.ss_family != ss->ss_family)
			continue;
		if (ss->ss_family == AF_INET &&
		    memcmp(&((struct sockaddr_in *)&s->ss)->sin_addr,
		    &((const struct sockaddr_in *)ss)->sin_addr,
		    sizeof(struct in_addr)) == 0)
			n++;
		else if (ss->ss_family == AF_INET6 &&
		    memcmp(&((struct sockaddr_in6 *)&s->ss)->sin6_addr,
		    &((const struct sockaddr_in6 *)ss)->sin6_addr,
		    sizeof(struct in6_addr)) == 0)
			n++;
	}
	return n;
}

static void
refuse_connection(int fd, const char *why, const char *ip)
{
	char	buf[512];
	int	n;

	n = snprintf(buf, sizeof(buf), "421 4.7.0 %s Error: %s\r\n",
	    smtpd_hostname, why);
	if (n > 0 && write(fd, buf, n) == -1)
		log_debug("refused client=[%s]: write: %s", ip,
		    strerror(errno));
	close(fd);
	log_info("refused client=[%s]: %s", ip, why);
}

/* require_auth: yes, no, or auto (yes on submission and smtps) */
static int
require_auth(const struct config *cfg, const char *listener)
{
	const char	*v = config_str(cfg, listener, "require_auth");

	if (strcasecmp(v, "yes") == 0 || strcasecmp(v, "true") == 0 ||
	    strcasecmp(v, "on") == 0 || strcmp(v, "1") == 0)
		return 1;
	if (strcasecmp(v, "no") == 0 || strcasecmp(v, "false") == 0 ||
	    strcasecmp(v, "off") == 0 || strcmp(v, "0") == 0)
		return 0;
	if (strcasecmp(v, "auto") != 0)
		log_warnx("require_auth: '%s' is not yes, no or auto: using "
		    "auto", v);
	return strcmp(listener, "submission") == 0 ||
	    strcmp(listener, "smtps") == 0;
}

static void
smtp_greet(struct smtp_session *s)
{
	const char	*banner;

	banner = config_str(smtpd_config(), s->l->name, "smtpd_banner");
	if (banner[0] != '\0')
		smtp_reply(s, "220 %s", banner);
	else
		smtp_reply(s, "220 %s ESMTP facteur", smtpd_hostname);
}

void
smtp_session_accept(struct smtp_listener *l, int fd,
    const struct sockaddr *sa, socklen_t salen)
{
	const struct config	*cfg = smtpd_config();
	struct smtp_session	*s;
	struct ucred		 cred;
	socklen_t		 credlen = sizeof(cred);
	struct sockaddr_storage	 ss;
	struct timeval		 tv;
	char			 ip[64];
	long long		 pause, life;

	memset(&ss, 0, sizeof(ss));
	if (salen > sizeof(ss))
		salen = sizeof(ss);
	memcpy(&ss, sa, salen);
	if (l->local || (sa->sa_family != AF_INET &&
	    sa->sa_family != AF_INET6))
		strlcpy(ip, "local", sizeof(ip));
	else if (getnameinfo(sa, salen, ip, sizeof(ip), NULL, 0,
	    NI_NUMERICHOST) != 0)
		strlcpy(ip, "unknown", sizeof(ip));

	if (nsessions >= (unsigned long long)config_num(cfg, l->name,
	    "max_sessions")) {
		refuse_connection(fd, "too many connections", ip);
		return;
	}
	if (!l->local && sessions_from(&ss) >=
	    (unsigned long long)config_num(cfg, l->name,
	    "max_sessions_per_ip")) {
		refuse_connection(fd, "too many connections from your address",
		    ip);
		return;
	}

	s = xcalloc(1, sizeof(*s));
	s->l = l;
	s->fd = fd;
	s->ss = ss;
	s->sslen = salen;
	strlcpy(s->ip, ip, sizeof(s->ip));
	s->uid = -1;
	s->msgfd = -1;
	s->state = S_INIT;
	envelope_init(&s->env);
	s->max_size = config_num(cfg, l->name, "max_message_size");
	s->max_rcpt = config_num(cfg, l->name, "max_recipients");
	s->max_errors = config_num(cfg, l->name, "max_errors");
	if (s->max_errors == 0)
		s->max_errors = 1;
	s->max_line = config_num(cfg, l->name, "max_line_length");
	s->cmd_timeout = config_num(cfg, l->name, "command_timeout");
	s->data_timeout = config_num(cfg, l->name, "data_timeout");
	s->max_commands = config_num(cfg, l->name, "max_commands");
	s->min_rate = config_num(cfg, l->name, "min_data_rate");
	s->require_auth = require_auth(cfg, l->name);
	s->sender_check = config_bool(cfg, l->name, "sender_login_check");
	if (l->local) {
		s->flags |= SF_BARELF | SF_LOOPBACK;
		if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred,
		    &credlen) == 0)
			s->uid = cred.uid;
	} else {
		if (config_list(cfg, l->name, "bare_newline_exclusions",
		    cidr_list_match, &s->ss))
			s->flags |= SF_BARELF;
		if (is_loopback((struct sockaddr *)&s->ss))
			s->flags |= SF_LOOPBACK;
	}

	if ((s->timer = evtimer_new(daemon_base(), smtp_timer_cb, s)) == NULL ||
	    (s->life = evtimer_new(daemon_base(), smtp_life_cb, s)) == NULL)
		fatalx("evtimer_new");
	TAILQ_INSERT_TAIL(&sessions, s, entry);
	nsessions++;
	l->nsessions++;
	stat_accepted++;

	if (l->local)
		log_info("connect from=local uid=%ld listener=%s", s->uid,
		    l->name);
	else
		log_info("connect from=[%s] listener=%s", s->ip, l->name);

	if ((life = config_num(cfg, l->name, "session_timeout")) > 0) {
		tv.tv_sec = life;
		tv.tv_usec = 0;
		evtimer_add(s->life, &tv);
	}

	if (strcmp(l->name, "smtps") == 0) {
		/* RFC 8314 3.3: TLS from the first byte */
		if (smtp_tls_accept(s) == -1) {
			log_warnx("client=[%s] listener=smtps: no TLS "
			    "certificate configured (tls_cert, tls_key)",
			    s->ip);
			s->bev = bufferevent_socket_new(daemon_base(), fd, 0);
			if (s->bev == NULL)
				fatalx("bufferevent_socket_new");
			bufferevent_setcb(s->bev, smtp_read_cb, smtp_write_cb,
			    smtp_event_cb, s);
			smtp_close(s);
			return;
		}
		smtp_greet(s);
		smtp_io_update(s);
		return;
	}

	s->bev = bufferevent_socket_new(daemon_base(), fd, 0);
	if (s->bev == NULL)
		fatalx("bufferevent_socket_new");
	bufferevent_setcb(s->bev, smtp_read_cb, smtp_write_cb, smtp_event_cb,
	    s);

	pause = config_num(cfg, l->name, "greet_pause");
	if (!l->local && strcmp(l->name, "smtp") == 0 && pause > 0 &&
	    !config_list(cfg, l->name, "greet_pause_exclusions",
	    cidr_list_match, &s->ss)) {
		/* early talkers: anything before the greeting is refused */
		s->flags |= SF_GREETWAIT;
		tv.tv_sec = pause;
		tv.tv_usec = 0;
		evtimer_add(s->timer, &tv);
		smtp_io_update(s);
		return;
	}
	smtp_greet(s);
	smtp_io_update(s);
}

static void
smtp_free(struct smtp_session *s)
{
	char	counts[512];
	size_t	i, total = 0;

	counts[0] = '\0';
	for (i = 0; i < CMD_COUNT; i++) {
		char	w[32];
		size_t	j;

		if (s->ncmd[i] == 0)
			continue;
		total += s->ncmd[i];
		snprintf(w, sizeof(w), " %s=%u", smtp_commands[i].name,
		    s->ncmd[i]);
		for (j = 0; w[j] != '\0'; j++)
			if (w[j] >= 'A' && w[j] <= 'Z')
				w[j] += 'a' - 'A';
		strlcat(counts, w, sizeof(counts));
	}
	if (s->l->local)
		log_info("disconnect from=local uid=%ld%s commands=%zu",
		    s->uid, counts, total);
	else
		log_info("disconnect from=[%s]%s commands=%zu", s->ip, counts,
		    total);

	smtp_txn_reset(s);
	envelope_clear(&s->env);
	explicit_bzero(s->sasl_user, sizeof(s->sasl_user));
	TAILQ_REMOVE(&sessions, s, entry);
	nsessions--;
	s->l->nsessions--;
	event_free(s->timer);
	event_free(s->life);
	if (s->ssl != NULL) {
		/* bufferevent_openssl: frees the SSL and closes the fd */
		bufferevent_free(s->bev);
	} else {
		bufferevent_free(s->bev);
		close(s->fd);
	}
	free(s);
}

/* --- requests to auth and queue --- */

int
smtp_request(struct smtp_session *s, int proc, uint32_t type, int wait,
    const struct ipc_wbuf *w)
{
	struct timeval	tv = { SMTPD_IPC_TIMEOUT, 0 };
	uint32_t	reqid;

	if (w->error)
		return -1;
	reqid = smtpd_new_reqid();
	if (smtpd_send(proc, type, reqid, -1, w->data, w->len) == -1)
		return -1;
	s->reqid = reqid;
	s->wait = wait;
	evtimer_add(s->timer, &tv);
	return 0;
}
static void
queue_abort(const char *id)
{
	struct ipc_wbuf	w;

	ipc_wbuf_init(&w);
	ipc_put_str(&w, id);
	smtpd_send(PROC_QUEUE, IPC_QUEUE_ABORT, 0, -1, w.data, w.len);
}

/* ends the transaction; an uncommitted queue file is aborted */
void
smtp_txn_reset(struct smtp_session *s)
{
	if (s->msgfd != -1) {
		close(s->msgfd);
		s->msgfd = -1;
	}
	if (s->queueid[0] != '\0' && !(s->flags & SF_QUEUELOST))
		queue_abort(s->queueid);
	s->queueid[0] = '\0';
	s->flags &= ~SF_QUEUELOST;
	smtp_data_free(&s->data);
	free(s->wbuf);
	s->wbuf = NULL;
	s->wlen = 0;
	s->written = 0;
	s->werrno = 0;
	envelope_clear(&s->env);
	s->rcpt_tried = 0;
	s->chunk_left = 0;
	s->chunk_last = 0;
	s->flags &= ~SF_INCHUNK;
	if (s->state >= S_HELO && s->state <= S_BDAT)
		s->state = S_HELO;
}

/* --- the commands --- */

static int
smtp_check_helo(struct smtp_session *s, const char *args)
{
	if (smtp_parse_helo(args, s->helo, sizeof(s->helo)) == -1) {
		smtp_reply(s, "501 5.5.4 Syntax: %s hostname",
		    smtp_commands[s->cmd].name);
		return -1;
	}
	return 0;
}

static void
smtp_proceed_helo(struct smtp_session *s, const char *args)
{
	smtp_txn_reset(s);
	s->state = S_HELO;
	s->flags &= ~SF_EHLO;
	smtp_reply(s, "250 %s", smtpd_hostname);
}

/* everything listed here works (RFC 5321 4.1.1.1, 2.2.2) */
static void
smtp_proceed_ehlo(struct smtp_session *s, const char *args)
{
	smtp_txn_reset(s);
	s->state = S_HELO;
	s->flags |= SF_EHLO;
	smtp_reply(s, "250-%s", smtpd_hostname);
	smtp_reply(s, "250-PIPELINING");
	smtp_reply(s, "250-SIZE %llu", (unsigned long long)s->max_size);
	smtp_reply(s, "250-8BITMIME");
	if (smtp_tls_offered(s))
		smtp_reply(s, "250-STARTTLS");
	if (smtp_auth_offered(s))
		smtp_reply(s, "250-AUTH PLAIN LOGIN");
	smtp_reply(s, "250-DSN");
	smtp_reply(s, "250-SMTPUTF8");
	smtp_reply(s, "250-CHUNKING");
	smtp_reply(s, "250 ENHANCEDSTATUSCODES");
}

static int
smtp_check_mail(struct smtp_session *s, const char *args)
{
	const char	*err;

	if (s->state == S_INIT) {
		smtp_reply(s, "503 5.5.1 Error: send HELO/EHLO first");
		return -1;
	}
	if (s->state != S_HELO) {
		smtp_reply(s, "503 5.5.1 Error: nested MAIL command");
		return -1;
	}
	if (s->require_auth && s->auth_user[0] == '\0') {
		if (!(s->flags & SF_TLS) && smtp_tls_offered(s) &&
		    !smtp_auth_offered(s))
			smtp_reply(s, "530 5.7.0 Must issue a STARTTLS "
			    "command first");
		else
			smtp_reply(s, "530 5.7.0 Authentication required");
		return -1;
	}
	switch (smtp_parse_mail(args, &s->mail, &err)) {
	case SMTP_P_OK:
		break;
	case SMTP_P_ADDR:
		smtp_reply(s, "501 5.1.7 %s", err);
		return -1;
	case SMTP_P_PARAM:
		smtp_reply(s, "555 5.5.4 %s", err);
		return -1;
	default:
		smtp_reply(s, "501 5.5.4 %s", err);
		return -1;
	}
	if (s->mail.size >= 0 && s->max_size > 0 &&
	    (unsigned long long)s->mail.size > s->max_size) {
		smtp_reply(s, "552 5.3.4 Message size exceeds fixed limit");
		return -1;
	}
	return 0;
}

/* RFC 3848 and RFC 6531 3.7.3 "with" protocol names */
static void
set_proto(struct smtp_session *s)
{
	char	*p = s->env.proto;
	size_t	 sz = sizeof(s->env.proto);

	if (!(s->flags & SF_EHLO)) {
		strlcpy(p, "SMTP", sz);
		return;
	}
	strlcpy(p, s->mail.smtputf8 ? "UTF8SMTP" : "ESMTP", sz);
	if (s->flags & SF_TLS)
		strlcat(p, "S", sz);
	if (s->auth_user[0] != '\0')
		strlcat(p, "A", sz);
}

/* MAIL is accepted: the transaction starts */
static void
mail_accept(struct smtp_session *s)
{
	addr_format(&s->mail.addr, s->env.sender, sizeof(s->env.sender));
	strlcpy(s->env.client, s->ip, sizeof(s->env.client));
	strlcpy(s->env.helo, s->helo, sizeof(s->env.helo));
	set_proto(s);
	strlcpy(s->env.auth, s->auth_user, sizeof(s->env.auth));
	s->env.body = s->mail.body == -1 ? ENV_BODY_7BIT : s->mail.body;
	s->env.smtputf8 = s->mail.smtputf8;
	s->env.ret = s->mail.ret;
	strlcpy(s->env.envid, s->mail.envid, sizeof(s->env.envid));
	s->state = S_MAIL;
	smtp_reply(s, "250 2.1.0 Ok");
}

static void
smtp_proceed_mail(struct smtp_session *s, const char *args)
{
	struct ipc_wbuf	w;

	smtp_txn_reset(s);
	addr_format(&s->mail.addr, s->env.sender, sizeof(s->env.sender));
	if (s->auth_user[0] == '\0' || !s->sender_check ||
	    s->env.sender[0] == '\0') {
		mail_accept(s);
		return;
	}
	/* an authenticated client sends as one of its own addresses */
	ipc_wbuf_init(&w);
	ipc_put_str(&w, s->auth_user);
	ipc_put_str(&w, s->env.sender);
	if (smtp_request(s, PROC_AUTH, IPC_AUTH_SENDER, WAIT_AUTH_SENDER,
	    &w) == -1) {
		smtp_reply(s, "451 4.3.0 <%s>: Temporary lookup failure",
		    s->env.sender);
		smtp_txn_reset(s);
	}
}

static void
smtp_sender_result(struct smtp_session *s, struct ipc_msg *msg)
{
	struct ipc_rbuf	r;
	uint32_t	status;

	ipc_rbuf_init(&r, msg->data, msg->hdr.len);
	status = ipc_get_u32(&r);
	if (ipc_get_end(&r) == -1) {
		log_warnx("bad IPC_AUTH_SENDER_RESULT from auth");
		status = 2;
	}
	switch (status) {
	case 0:
		mail_accept(s);
		break;
	case 1:
		log_info("sender not owned client=[%s] user=%s sender=<%s>",
		    s->ip, s->auth_user, s->env.sender);
		smtp_reply(s, "553 5.7.1 <%s>: Sender address rejected: not "
		    "owned by user %s", s->env.sender, s->auth_user);
		smtp_txn_reset(s);
		break;
	default:
		smtp_reply(s, "451 4.3.0 <%s>: Temporary lookup failure",
		    s->env.sender);
		smtp_txn_reset(s);
		break;
	}
}

static int
smtp_check_rcpt(struct smtp_session *s, const char *args)
{
	const char	*err;

	if (s->state == S_BDAT) {
		smtp_reply(s, "503 5.5.1 Error: RCPT after BDAT");
		return -1;
	}
	if (s->state != S_MAIL && s->state != S_RCPT) {
		smtp_reply(s, "503 5.5.1 Error: need MAIL command");
		return -1;
	}
	switch (smtp_parse_rcpt(args, s->env.smtputf8 ? ADDR_F_UTF8 : 0,
	    &s->rcpt, &err)) {
	case SMTP_P_OK:
		break;
	case SMTP_P_ADDR:
		smtp_reply(s, "501 5.1.3 %s", err);
		return -1;
	case SMTP_P_PARAM:
		smtp_reply(s, "555 5.5.4 %s", err);
		return -1;
	default:
		smtp_reply(s, "501 5.5.4 %s", err);
		return -1;
	}
	if (s->env.nrcpt >= s->max_rcpt) {
		smtp_reply(s, "452 4.5.3 Error: too many recipients");
		return -1;
	}
	return 0;
}

static int
first_domain(const char *word, void *arg)
{
	strlcpy(arg, word, ADDR_DOMAIN_MAX + 1);
	return 1;
}

static void
smtp_proceed_rcpt(struct smtp_session *s, const char *args)
{
	struct ipc_wbuf	w;
	size_t		i;

	s->rcpt_tried = 1;
	if (s->rcpt.addr.domain[0] == '\0') {
		/* <postmaster>: ours, at the first domain we serve */
		strlcpy(s->rcpt.addr.domain, smtpd_hostname,
		    sizeof(s->rcpt.addr.domain));
		config_list(smtpd_config(), NULL, "domains", first_domain,
		    s->rcpt.addr.domain);
		str_lower(s->rcpt.addr.domain);
	}
	addr_format(&s->rcpt.addr, s->rcpt_addr, sizeof(s->rcpt_addr));
	for (i = 0; i < s->env.nrcpt; i++) {
		if (strcasecmp(s->env.rcpt[i].addr, s->rcpt_addr) == 0) {
			smtp_reply(s, "250 2.1.5 Ok");
			return;
		}
	}
	ipc_wbuf_init(&w);
	ipc_put_str(&w, s->rcpt_addr);
	if (smtp_request(s, PROC_AUTH, IPC_AUTH_RCPT, WAIT_AUTH_RCPT,
	    &w) == -1)
		smtp_reply(s, "451 4.3.0 <%s>: Temporary lookup failure",
		    s->rcpt_addr);
}

static void
rcpt_add(struct smtp_session *s, const char *mailbox)
{
	struct env_rcpt	r;

	memset(&r, 0, sizeof(r));
	strlcpy(r.addr, s->rcpt_addr, sizeof(r.addr));
	strlcpy(r.mailbox, mailbox, sizeof(r.mailbox));
	strlcpy(r.orcpt, s->rcpt.orcpt, sizeof(r.orcpt));
	r.notify = s->rcpt.notify;
	if (envelope_add_rcpt(&s->env, &r) == -1) {
		smtp_reply(s, "452 4.5.3 Error: too many recipients");
		return;
	}
	s->state = S_RCPT;
	smtp_reply(s, "250 2.1.5 Ok");
}

static void
smtp_rcpt_result(struct smtp_session *s, struct ipc_msg *msg)
{
	struct ipc_rbuf	 r;
	char		 mailbox[ADDR_MAX];
	uint32_t	 status;

	ipc_rbuf_init(&r, msg->data, msg->hdr.len);
	status = ipc_get_u32(&r);
	ipc_get_str(&r, mailbox, sizeof(mailbox));
	if (ipc_get_end(&r) == -1) {
		log_warnx("bad IPC_AUTH_RCPT_RESULT from auth");
		status = AUTH_RCPT_TEMPFAIL;
	}
	switch (status) {
	case AUTH_RCPT_LOCAL:
		if (mailbox[0] == '\0' || strcmp(mailbox, "-") == 0) {
			log_warnx("auth: LOCAL without a mailbox for %s",
			    s->rcpt_addr);
			smtp_reply(s, "451 4.3.0 <%s>: Temporary lookup "
			    "failure", s->rcpt_addr);
			return;
		}
		rcpt_add(s, mailbox);
		break;
	case AUTH_RCPT_NOUSER:
		smtp_reply(s, "550 5.1.1 <%s>: Recipient address rejected: "
		    "User unknown", s->rcpt_addr);
		break;
	case AUTH_RCPT_NOTLOCAL:
		/* relaying: the local socket and authenticated clients */
		if (s->l->local || s->auth_user[0] != '\0') {
			rcpt_add(s, "");	/* relayed later: "-" */
			break;
		}
		smtp_reply(s, "554 5.7.1 <%s>: Relay access denied",
		    s->rcpt_addr);
		break;
	case AUTH_RCPT_TEMPFAIL:
	default:
		smtp_reply(s, "451 4.3.0 <%s>: Temporary lookup failure",
		    s->rcpt_addr);
		break;
	}
}

static int
smtp_check_data(struct smtp_session *s, const char *args)
{
	if (s->state == S_BDAT) {
		/* RFC 3030 2: no DATA in a BDAT transaction */
		smtp_reply(s, "503 5.5.1 Error: DATA after BDAT; send RSET");
		return -1;
	}
	if (s->state != S_MAIL && s->state != S_RCPT) {
		smtp_reply(s, "503 5.5.1 Error: need MAIL command");
		return -1;
	}
	if (s->env.nrcpt == 0) {
		if (s->rcpt_tried)
			smtp_reply(s, "554 5.5.1 Error: no valid recipients");
		else
			smtp_reply(s, "503 5.5.1 Error: need RCPT command");
		return -1;
	}
	if (args[0] != '\0') {
		smtp_reply(s, "501 5.5.4 Syntax: DATA");
		return -1;
	}
	return 0;
}

/* asks queue for a file; the answer continues in smtp_queue_created */
static int
queue_create(struct smtp_session *s)
{
	struct ipc_wbuf	*w;
	char		*text;
	ssize_t		 len;
	int		 r;

	s->env.arrival = now_sec();
	s->env.id[0] = '\0';
	if ((len = envelope_format(&s->env, &text)) == -1) {
		log_warnx("client=[%s] cannot format the envelope", s->ip);
		smtp_reply(s, "451 4.3.0 Error: internal error");
		smtp_txn_reset(s);
		return -1;
	}
	w = xmalloc(sizeof(*w));
	ipc_wbuf_init(w);
	ipc_put_strn(w, text, (size_t)len);
	free(text);
	r = smtp_request(s, PROC_QUEUE, IPC_QUEUE_CREATE, WAIT_QUEUE_CREATE,
	    w);
	free(w);
	if (r == -1) {
		smtp_reply(s, "451 4.3.0 Error: queue unavailable, try again "
		    "later");
		smtp_txn_reset(s);
	}
	return r;
}

static void
smtp_proceed_data(struct smtp_session *s, const char *args)
{
	(void)queue_create(s);
}

/* the octets of a chunk that cannot be taken are read and dropped */
static void
bdat_refuse(struct smtp_session *s, unsigned long long size)
{
	s->discard_left = size;
	s->chunk_left = 0;
	s->flags &= ~SF_INCHUNK;
}

static int
smtp_check_bdat(struct smtp_session *s, const char *args)
{
	unsigned long long	size;
	int			last;

	if (smtp_parse_bdat(args, &size, &last) == -1) {
		/* the chunk's length is unknown: its octets become lines */
		smtp_reply(s, "501 5.5.4 Syntax: BDAT size [LAST]");
		return -1;
	}
	if (s->state == S_INIT) {
		bdat_refuse(s, size);
		smtp_reply(s, "503 5.5.1 Error: send HELO/EHLO first");
		return -1;
	}
	if (s->state != S_RCPT && s->state != S_BDAT) {
		bdat_refuse(s, size);
		if (s->state == S_MAIL && s->rcpt_tried)
			smtp_reply(s, "554 5.5.1 Error: no valid recipients");
		else if (s->state == S_MAIL)
			smtp_reply(s, "503 5.5.1 Error: need RCPT command");
		else
			smtp_reply(s, "503 5.5.1 Error: need MAIL command");
		return -1;
	}
	s->chunk_size = size;
	s->chunk_left = size;
	s->chunk_last = last;
	return 0;
}

static void
smtp_proceed_bdat(struct smtp_session *s, const char *args)
{
	unsigned long long	size = s->chunk_left;

	if (s->state == S_RCPT) {
		/* the first chunk: a queue file first */
		if (queue_create(s) == -1)
			bdat_refuse(s, size);
		return;
	}
	s->phase_start = mono_msec();
	s->phase_bytes = 0;
	s->flags |= SF_INCHUNK;
	if (s->chunk_left == 0)
		smtp_chunk_end(s);
}

/*
 * The message cannot be queued (DATA refused it, or queue went away
 * meanwhile): answer, log, and drop the transaction. 1 when it did.
 */
static int
smtp_msg_refused(struct smtp_session *s)
{
	if (s->data.status != DATA_OK) {
		log_info("%s: reject client=[%s] size=%llu: %s", s->queueid,
		    s->ip, (unsigned long long)s->data.size,
		    smtp_data_reply(s->data.status));
		smtp_reply(s, "%s", smtp_data_reply(s->data.status));
		smtp_txn_reset(s);
		return 1;
	}
	if (s->flags & SF_QUEUELOST) {
		smtp_reply(s, "451 4.3.0 Error: queue unavailable, try again "
		    "later");
		smtp_txn_reset(s);
		return 1;
	}
	return 0;
}

/* the octets of a chunk were all read */
static void
smtp_chunk_end(struct smtp_session *s)
{
	s->flags &= ~SF_INCHUNK;
	if (s->chunk_last) {
		smtp_data_finish(&s->data);
		smtp_data_end(s);
		return;
	}
	if (smtp_msg_refused(s))
		return;
	smtp_reply(s, "250 2.0.0 Ok: %llu octets received", s->chunk_size);
}

static void
msg_flush(struct smtp_session *s)
{
	if (s->wlen == 0)
		return;
	if (s->werrno == 0 && write_all(s->msgfd, s->wbuf, s->wlen) == -1) {
		s->werrno = errno ? errno : EIO;
		log_warn("%s: write to queue file", s->queueid);
	}
	s->wlen = 0;
}

static void
msg_write(struct smtp_session *s, const char *p, size_t n)
{
	size_t	chunk;

	while (n > 0) {
		if (s->wlen == SMTP_WBUF_SIZE)
			msg_flush(s);
		chunk = SMTP_WBUF_SIZE - s->wlen;
		if (chunk > n)
			chunk = n;
		memcpy(s->wbuf + s->wlen, p, chunk);
		s->wlen += chunk;
		s->written += chunk;
		p += chunk;
		n -= chunk;
	}
}

static void
data_out(void *arg, const char *line, size_t len)
{
	msg_write(arg, line, len);
}

/* RFC 5321 4.4 trace information; TLS as a comment, as Postfix does */
static void
write_received(struct smtp_session *s)
{
	char		 hdr[2048], date[64], from[512], forc[ADDR_MAX + 16];
	char		 tls[256];
	time_t		 t = (time_t)s->env.arrival;
	struct tm	 tm;
	int		 n;

	if (localtime_r(&t, &tm) == NULL ||
	    strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S %z",
	    &tm) == 0)
		strlcpy(date, "Thu, 01 Jan 1970 00:00:00 +0000", sizeof(date));
	if (s->l->local)
		snprintf(from, sizeof(from), "local (uid %ld)", s->uid);
	else
		snprintf(from, sizeof(from), "%s (rdns-not-done [%s])",
		    s->helo[0] ? s->helo : "unknown", s->ip);
	tls[0] = '\0';
	if ((s->flags & SF_TLS) && s->tls_info[0] != '\0')
		snprintf(tls, sizeof(tls), "\r\n\t(using %s)", s->tls_info);
	forc[0] = '\0';
	if (s->env.nrcpt == 1)
		snprintf(forc, sizeof(forc), "\r\n\tfor <%s>",
		    s->env.rcpt[0].addr);
	n = snprintf(hdr, sizeof(hdr), "Received: from %s%s\r\n\tby %s "
	    "(facteur) with %s id %s%s; %s\r\n", from, tls, smtpd_hostname,
	    s->env.proto, s->queueid, forc, date);
	if (n < 0 || (size_t)n >= sizeof(hdr))
		fatalx("Received header too long");
	msg_write(s, hdr, n);
}

static void
smtp_queue_created(struct smtp_session *s, struct ipc_msg *msg)
{
	struct ipc_rbuf	 r;
	char		 id[QUEUEID_LEN + 1];
	uint32_t	 status;
	int		 fd = msg->fd, bdat = s->cmd == CMD_BDAT;

	msg->fd = -1;
	ipc_rbuf_init(&r, msg->data, msg->hdr.len);
	status = ipc_get_u32(&r);
	ipc_get_str(&r, id, sizeof(id));
	if (ipc_get_end(&r) == -1 || (status == QUEUE_OK &&
	    (!queueid_valid(id) || fd == -1))) {
		log_warnx("bad IPC_QUEUE_CREATED from queue");
		if (fd != -1)
			close(fd);
		if (status == QUEUE_OK && queueid_valid(id))
			queue_abort(id);
		status = QUEUE_TEMPFAIL;
	} else if (status != QUEUE_OK && fd != -1) {
		close(fd);
		fd = -1;
	}
	if (status != QUEUE_OK && bdat)
		bdat_refuse(s, s->chunk_left);
	switch (status) {
	case QUEUE_OK:
		break;
	case QUEUE_NOSPACE:
		smtp_reply(s, "452 4.3.1 Insufficient system storage");
		smtp_txn_reset(s);
		return;
	case QUEUE_REJECT:
		smtp_reply(s, "554 5.6.0 Message refused");
		smtp_txn_reset(s);
		return;
	default:
		smtp_reply(s, "451 4.3.0 Error: queue file write error, "
		    "try again later");
		smtp_txn_reset(s);
		return;
	}
	s->msgfd = fd;
	strlcpy(s->queueid, id, sizeof(s->queueid));
	strlcpy(s->env.id, id, sizeof(s->env.id));
	s->wbuf = xmalloc(SMTP_WBUF_SIZE);
	s->wlen = 0;
	s->written = 0;
	smtp_data_init(&s->data, ((s->flags & SF_BARELF) ? DATA_F_BARELF : 0) |
	    (bdat ? DATA_F_RAW : 0), s->max_line, s->max_size, data_out, s);
	write_received(s);
	s->phase_start = mono_msec();
	s->phase_bytes = 0;
	if (bdat) {
		s->state = S_BDAT;
		s->flags |= SF_INCHUNK;
		if (s->chunk_left == 0)
			smtp_chunk_end(s);
		return;
	}
	s->state = S_DATA;
	/* 3yz replies have no enhanced code (RFC 3463 classes 2, 4, 5) */
	smtp_reply(s, "354 End data with <CR><LF>.<CR><LF>");
}

/* the end of DATA (or BDAT LAST) was read */
static void
smtp_data_end(struct smtp_session *s)
{
	struct ipc_wbuf	w;

	msg_flush(s);
	close(s->msgfd);
	s->msgfd = -1;
	if (smtp_msg_refused(s))
		return;
	if (s->werrno == ENOSPC || s->werrno == EDQUOT) {
		smtp_reply(s, "452 4.3.1 Error: insufficient system storage, "
		    "try again later");
		smtp_txn_reset(s);
		return;
	}
	if (s->werrno != 0) {
		smtp_reply(s, "451 4.3.0 Error: queue file write error, "
		    "try again later");
		smtp_txn_reset(s);
		return;
	}
	ipc_wbuf_init(&w);
	ipc_put_str(&w, s->queueid);
	ipc_put_u64(&w, s->written);
	if (smtp_request(s, PROC_QUEUE, IPC_QUEUE_COMMIT, WAIT_QUEUE_COMMIT,
	    &w) == -1) {
		smtp_reply(s, "451 4.3.0 Error: queue unavailable, try again "
		    "later");
		smtp_txn_reset(s);
	}
}

static void
smtp_queue_committed(struct smtp_session *s, struct ipc_msg *msg)
{
	struct ipc_rbuf	 r;
	char		 id[QUEUEID_LEN + 1], authw[ADDR_MAX + 8];
	uint32_t	 status;

	ipc_rbuf_init(&r, msg->data, msg->hdr.len);
	status = ipc_get_u32(&r);
	ipc_get_str(&r, id, sizeof(id));
	if (ipc_get_end(&r) == -1 || strcmp(id, s->queueid) != 0) {
		log_warnx("bad IPC_QUEUE_COMMITTED from queue");
		status = QUEUE_TEMPFAIL;
	}
	switch (status) {
	case QUEUE_OK:
		s->nmsg++;
		stat_messages++;
		authw[0] = '\0';
		if (s->auth_user[0] != '\0')
			snprintf(authw, sizeof(authw), " auth=%s",
			    s->auth_user);
		log_info("%s: from=<%s> size=%llu nrcpt=%zu proto=%s "
		    "client=[%s] helo=%s%s%s%s", s->queueid, s->env.sender,
		    (unsigned long long)s->written, s->env.nrcpt,
		    s->env.proto, s->ip, s->helo[0] ? s->helo : "-", authw,
		    (s->flags & SF_TLS) ? " tls=" : "",
		    (s->flags & SF_TLS) ? s->tls_info : "");
		smtp_reply(s, "250 2.0.0 Ok: queued as %s", s->queueid);
		s->queueid[0] = '\0';	/* committed: nothing to abort */
		break;
	case QUEUE_NOSPACE:
		smtp_reply(s, "452 4.3.1 Insufficient system storage");
		break;
	case QUEUE_REJECT:
		smtp_reply(s, "554 5.6.0 Message refused");
		break;
	default:
		smtp_reply(s, "451 4.3.0 Error: queue file write error, "
		    "try again later");
		break;
	}
	smtp_txn_reset(s);
}

static void
smtp_proceed_rset(struct smtp_session *s, const char *args)
{
	smtp_txn_reset(s);
	smtp_reply(s, "250 2.0.0 Ok");
}

static void
smtp_proceed_noop(struct smtp_session *s, const char *args)
{
	smtp_reply(s, "250 2.0.0 Ok");
}

static void
smtp_proceed_quit(struct smtp_session *s, const char *args)
{
	smtp_reply(s, "221 2.0.0 Bye");
	smtp_close(s);
}

static int
smtp_check_vrfy(struct smtp_session *s, const char *args)
{
	if (args[0] == '\0') {
		smtp_reply(s, "501 5.5.4 Syntax: VRFY address");
		return -1;
	}
	return 0;
}

static void
smtp_proceed_vrfy(struct smtp_session *s, const char *args)
{
	smtp_reply(s, "252 2.5.2 Cannot VRFY user, but will accept message "
	    "and attempt delivery");
}

static void
smtp_proceed_help(struct smtp_session *s, const char *args)
{
	smtp_reply(s, "214 2.0.0 Commands: HELO EHLO MAIL RCPT DATA BDAT "
	    "RSET NOOP QUIT VRFY HELP%s%s",
	    smtp_tls_offered(s) ? " STARTTLS" : "",
	    smtp_auth_offered(s) ? " AUTH" : "");
}

static void
smtp_proceed_unimpl(struct smtp_session *s, const char *args)
{
	smtp_reply(s, "502 5.5.1 Error: command not implemented");
}

/* --- the input loop --- */

static void
smtp_command(struct smtp_session *s, char *line, size_t len)
{
	const struct smtp_command	*c;
	const char			*args;
	int				 cmd, r;

	if (s->sasl != SASL_NONE) {
		log_debug("%s< (SASL response, %zu octets)", s->ip, len);
		smtp_auth_response(s, line, len);
		return;
	}
	r = smtp_cmd_parse(line, len, &cmd, &args);
	if (cmd == CMD_AUTH)
		log_debug("%s< AUTH (%zu octets)", s->ip, len);
	else
		log_debug("%s< %.*s", s->ip, (int)len, line);
	s->cmd = cmd;
	s->ncmd[cmd]++;
	if (++s->ncommands > s->max_commands && s->max_commands > 0) {
		log_info("client=[%s] too many commands: disconnecting",
		    s->ip);
		smtp_reply(s, "421 4.7.0 %s Error: too many commands",
		    smtpd_hostname);
		smtp_close(s);
		return;
	}
	if (r == SMTP_CMD_TOOLONG) {
		smtp_reply(s, "500 5.5.2 Error: line too long");
		return;
	}
	if (r == SMTP_CMD_BADCHAR) {
		smtp_reply(s, "500 5.5.2 Error: bad character in command");
		return;
	}
	if (cmd == CMD_UNKNOWN) {
		smtp_reply(s, "500 5.5.1 Error: command not recognized");
		return;
	}
	c = &smtp_commands[cmd];
	if (c->check != NULL && c->check(s, args) == -1)
		return;
	c->proceed(s, args);
}

/* slow-drip senders: data_timeout plus 1 s per min_data_rate octets */
static int
smtp_too_slow(struct smtp_session *s)
{
	uint64_t	elapsed, allowed;

	if (s->min_rate == 0)
		return 0;
	elapsed = mono_msec() - s->phase_start;
	allowed = (uint64_t)s->data_timeout * 1000 +
	    s->phase_bytes * 1000 / s->min_rate;
	if (elapsed <= allowed)
		return 0;
	log_info("client=[%s] too slow: %llu octets in %llu ms "
	    "(min_data_rate %llu/s): disconnecting", s->ip,
	    (unsigned long long)s->phase_bytes,
	    (unsigned long long)elapsed, (unsigned long long)s->min_rate);
	smtp_reply(s, "421 4.4.2 %s Error: data rate too low",
	    smtpd_hostname);
	smtp_close(s);
	return 1;
}

static void
smtp_process_data(struct smtp_session *s, struct evbuffer *in)
{
	struct evbuffer_iovec	v;
	size_t			n;

	while (!s->data.done && evbuffer_get_length(in) > 0) {
		if (evbuffer_peek(in, -1, NULL, &v, 1) < 1)
			break;
		n = smtp_data_feed(&s->data, v.iov_base, v.iov_len);
		evbuffer_drain(in, n);
		s->phase_bytes += n;
	}
	if (s->data.done)
		smtp_data_end(s);
	else
		(void)smtp_too_slow(s);
}

/* the octets of a BDAT chunk */
static void
smtp_process_chunk(struct smtp_session *s, struct evbuffer *in)
{
	struct evbuffer_iovec	v;
	size_t			n;

	while (s->chunk_left > 0 && evbuffer_get_length(in) > 0) {
		if (evbuffer_peek(in, -1, NULL, &v, 1) < 1)
			break;
		n = v.iov_len;
		if (n > s->chunk_left)
			n = s->chunk_left;
		(void)smtp_data_feed(&s->data, v.iov_base, n);
		evbuffer_drain(in, n);
		s->chunk_left -= n;
		s->phase_bytes += n;
	}
	if (s->chunk_left == 0)
		smtp_chunk_end(s);
	else
		(void)smtp_too_slow(s);
}

/* handles what the client sent, as far as the session can go now */
void
smtp_process(struct smtp_session *s)
{
	struct evbuffer		*in = bufferevent_get_input(s->bev);
	struct evbuffer_ptr	 eol;
	char			 line[SMTP_AUTH_MAX + 2];
	size_t			 eollen, len, n;

	while (!(s->flags & (SF_CLOSING | SF_STARTTLS | SF_GREETWAIT)) &&
	    s->wait == WAIT_NONE && (len = evbuffer_get_length(in)) > 0) {
		if (s->discard_left > 0) {
			n = len < s->discard_left ? len : s->discard_left;
			evbuffer_drain(in, n);
			s->discard_left -= n;
			continue;
		}
		if (s->flags & SF_INCHUNK) {
			smtp_process_chunk(s, in);
			continue;
		}
		if (s->state == S_DATA) {
			smtp_process_data(s, in);
			continue;
		}
		eol = evbuffer_search_eol(in, NULL, &eollen, EVBUFFER_EOL_LF);
		if (eol.pos == -1) {
			if (len > SMTP_AUTH_MAX) {
				if (!(s->flags & SF_SKIPLINE)) {
					s->cmd = CMD_UNKNOWN;
					smtp_reply(s, "500 5.5.2 Error: line "
					    "too long");
				}
				s->flags |= SF_SKIPLINE;
				evbuffer_drain(in, len);
			}
			break;
		}
		n = (size_t)eol.pos;
		if ((s->flags & SF_SKIPLINE) || n >= sizeof(line)) {
			if (!(s->flags & SF_SKIPLINE)) {
				s->cmd = CMD_UNKNOWN;
				smtp_reply(s, "500 5.5.2 Error: line too long");
			}
			s->flags &= ~SF_SKIPLINE;
			evbuffer_drain(in, n + 1);
			continue;
		}
		evbuffer_remove(in, line, n + 1);
		line[n] = '\0';
		if (n > 0 && line[n - 1] == '\r')
			line[--n] = '\0';
		smtp_command(s, line, n);
		explicit_bzero(line, n);
	}
	smtp_io_update(s);
}

/* --- answers from auth and queue --- */

void
smtp_session_answer(int from, struct ipc_msg *msg)
{
	struct smtp_session	*s;
	struct ipc_rbuf		 r;
	char			 id[QUEUEID_LEN + 1];
	int			 want, fromauth;

	s = session_by_reqid(msg->hdr.reqid);
	switch (msg->hdr.type) {
	case IPC_AUTH_RCPT_RESULT:
		want = WAIT_AUTH_RCPT;
		break;
	case IPC_AUTH_LOGIN_RESULT:
		want = WAIT_AUTH_LOGIN;
		break;
	case IPC_AUTH_SENDER_RESULT:
		want = WAIT_AUTH_SENDER;
		break;
	case IPC_QUEUE_CREATED:
		want = WAIT_QUEUE_CREATE;
		break;
	case IPC_QUEUE_COMMITTED:
		want = WAIT_QUEUE_COMMIT;
		break;
	default:
		want = WAIT_NONE;
		break;
	}
	fromauth = want == WAIT_AUTH_RCPT || want == WAIT_AUTH_LOGIN ||
	    want == WAIT_AUTH_SENDER;
	if (want == WAIT_NONE || (from == PROC_AUTH) != fromauth) {
		log_warnx("unexpected %s from %s",
		    ipc_type_name(msg->hdr.type), proc_name(from));
		s = NULL;
	} else if (s != NULL && s->wait != want) {
		log_warnx("%s from %s does not match the request",
		    ipc_type_name(msg->hdr.type), proc_name(from));
		s = NULL;
	}
	if (s == NULL) {
		/* late: the session is gone or gave up; drop the file */
		if (msg->hdr.type == IPC_QUEUE_CREATED && msg->fd != -1) {
			ipc_rbuf_init(&r, msg->data, msg->hdr.len);
			(void)ipc_get_u32(&r);
			ipc_get_str(&r, id, sizeof(id));
			if (!r.error && queueid_valid(id))
				queue_abort(id);
		}
		if (msg->fd != -1) {
			close(msg->fd);
			msg->fd = -1;
		}
		log_debug("late %s reqid=%u dropped",
		    ipc_type_name(msg->hdr.type), msg->hdr.reqid);
		return;
	}

	s->reqid = 0;
	s->wait = WAIT_NONE;
	evtimer_del(s->timer);
	switch (want) {
	case WAIT_AUTH_RCPT:
		smtp_rcpt_result(s, msg);
		break;
	case WAIT_AUTH_LOGIN:
		smtp_auth_result(s, msg);
		if (s->auth_user[0] != '\0')
			stat_auth++;
		break;
	case WAIT_AUTH_SENDER:
		smtp_sender_result(s, msg);
		break;
	case WAIT_QUEUE_CREATE:
		smtp_queue_created(s, msg);
		break;
	case WAIT_QUEUE_COMMIT:
		smtp_queue_committed(s, msg);
		break;
	}
	if (msg->fd != -1) {
		close(msg->fd);
		msg->fd = -1;
	}
	smtp_process(s);
}

void
smtp_session_peer_gone(int proc)
{
	struct smtp_session	*s;
	int			 fromauth;

	TAILQ_FOREACH(s, &sessions, entry) {
		if (s->flags & SF_CLOSING)
			continue;
		if (proc == PROC_QUEUE && (s->state == S_DATA ||
		    s->state == S_BDAT) && s->wait == WAIT_NONE) {
			/* the tmp file is stale: read on, answer 451 */
			s->flags |= SF_QUEUELOST;
			continue;
		}
		fromauth = s->wait == WAIT_AUTH_RCPT ||
		    s->wait == WAIT_AUTH_LOGIN || s->wait == WAIT_AUTH_SENDER;
		if (s->wait == WAIT_NONE || (proc == PROC_AUTH) != fromauth)
			continue;
		s->reqid = 0;
		evtimer_del(s->timer);
		switch (s->wait) {
		case WAIT_AUTH_RCPT:
			s->wait = WAIT_NONE;
			smtp_reply(s, "451 4.3.0 <%s>: Temporary lookup "
			    "failure", s->rcpt_addr);
			break;
		case WAIT_AUTH_LOGIN:
			s->wait = WAIT_NONE;
			smtp_auth_fail_temp(s);
			break;
		case WAIT_AUTH_SENDER:
			s->wait = WAIT_NONE;
			smtp_reply(s, "451 4.3.0 <%s>: Temporary lookup "
			    "failure", s->env.sender);
			smtp_txn_reset(s);
			break;
		default:
			if (s->wait == WAIT_QUEUE_CREATE &&
			    s->cmd == CMD_BDAT && s->state == S_RCPT)
				bdat_refuse(s, s->chunk_left);
			s->wait = WAIT_NONE;
			smtp_reply(s, "451 4.3.0 Error: queue unavailable, "
			    "try again later");
			s->flags |= SF_QUEUELOST;	/* no ABORT to a new queue */
			smtp_txn_reset(s);
			break;
		}
		smtp_process(s);
	}
}

void
smtp_session_stats(char *buf, size_t bufsz)
{
	char	w[256];

	snprintf(w, sizeof(w), "sessions=%u accepted=%llu messages=%llu "
	    "rejected=%llu early_talkers=%llu auth=%llu ", nsessions,
	    (unsigned long long)stat_accepted,
	    (unsigned long long)stat_messages,
	    (unsigned long long)stat_rejected,
	    (unsigned long long)stat_early, (unsigned long long)stat_auth);
	strlcat(buf, w, bufsz);
	smtp_tls_stats(buf, bufsz);
}
