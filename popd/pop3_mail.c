/*
 * One POP3 client after login: the TRANSACTION and UPDATE states (RFC
 * 1939 5 and 6; STAT, LIST, RETR, DELE, NOOP, RSET, QUIT, TOP, UIDL in 7;
 * CAPA from RFC 2449 5; RESP-CODES [IN-USE] and [SYS/TEMP] from RFC 2449
 * 8 and RFC 3206).
 *
 * - Exclusive access (RFC 1939 8): an flock on <mailbox>/facteur-pop3.lock
 *   taken before the store is opened; a second session is refused with
 *   "-ERR [IN-USE]". The list of messages is the one at login: mail that
 *   arrives meanwhile is seen by the next session.
 * - DELE only marks; files are removed in the UPDATE state after QUIT. A
 *   connection that drops or times out removes nothing.
 * - Sizes (STAT, LIST, "+OK n octets") are the CRLF sizes (,W=) the
 *   client receives; RETR and TOP stream the file in chunks, converting
 *   LF to CRLF and byte-stuffing leading dots, with flow control on the
 *   socket (only a bounded amount is ever buffered).
 * - UIDL is the base name, or a hash of it (store.h): stable for ever.
 */
#include <sys/types.h>
#include <sys/file.h>
#include <sys/queue.h>
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

#include "config.h"
#include "daemon.h"
#include "ipc.h"
#include "linein.h"
#include "log.h"
#include "proc.h"
#include "util.h"
#include "handover.h"
#include "pop3_parse.h"
#include "popd_mail.h"
#include "store.h"

#define LOCK_NAME	"facteur-pop3.lock"
#define STREAM_CHUNK	(16 * 1024)
#define STREAM_HIGH	(128 * 1024)	/* stop reading the file above */
#define STREAM_LOW	(32 * 1024)	/* resume below */
#define LINE_MAX_POP3	1024		/* lenient: RFC 2449 says 255 */

enum mail_state {
	M_TRANS,		/* reading commands */
	M_STREAM,		/* sending a message (RETR, TOP) */
	M_CLOSING,
};

#define MF_SKIPLINE	0x01
#define MF_TLS		0x02

struct mail_session {
	TAILQ_ENTRY(mail_session) entry;
	uint32_t		 id;
	struct bufferevent	*bev;
	struct evbuffer		*in;		/* what the client sent */
	struct event		*timer;
	int			 state;
	int			 flags;
	int			 cmd;
	char			 address[ADDR_MAX];
	char			 mailbox[ADDR_MAX];
	char			 ip[64];
	int			 lockfd;
	struct store_mailbox	*mb;
	size_t			 nmsgs;
	uint8_t			*deleted;
	size_t			 ndeleted;
	uint64_t		 octets;	/* not deleted */

	/* the message being sent */
	int			 msgfd;
	uint64_t		 off;
	struct store_crlf	 crlf;
	int			 top;		/* TOP, not RETR */
	int			 top_body;	/* past the header */
	int			 top_bol;
	uint32_t		 top_left;	/* body lines still to send */

	/* counters for the log */
	unsigned int		 nretr, ntop;
	uint64_t		 sent;
	size_t			 removed;	/* in the UPDATE state */
};

struct mail_command {
	int	 cmd;
	void	(*proceed)(struct mail_session *, const char *);
};

TAILQ_HEAD(mail_list, mail_session);

static struct mail_list	sessions = TAILQ_HEAD_INITIALIZER(sessions);
static unsigned int	nsessions;
static uint64_t		stat_logins, stat_inuse, stat_retr, stat_deleted;

static void	mail_process(struct mail_session *);
static void	mail_close(struct mail_session *);
static void	mail_free(struct mail_session *);
static void	mail_reply(struct mail_session *, const char *, ...)
		    __attribute__((format(printf, 2, 3)));
static void	mail_io_update(struct mail_session *);
static void	mail_stream(struct mail_session *);

static void	mail_proceed_stat(struct mail_session *, const char *);
static void	mail_proceed_list(struct mail_session *, const char *);
static void	mail_proceed_retr(struct mail_session *, const char *);
static void	mail_proceed_dele(struct mail_session *, const char *);
static void	mail_proceed_noop(struct mail_session *, const char *);
static void	mail_proceed_rset(struct mail_session *, const char *);
static void	mail_proceed_quit(struct mail_session *, const char *);
static void	mail_proceed_top(struct mail_session *, const char *);
static void	mail_proceed_uidl(struct mail_session *, const char *);
static void	mail_proceed_capa(struct mail_session *, const char *);
static void	mail_proceed_authz(struct mail_session *, const char *);

/* The TRANSACTION state: one row per command (indexed by pop3_cmd). */
static const struct mail_command mail_commands[POP3_CMD_COUNT] = {
	{ POP3_UNKNOWN,	NULL },
	{ POP3_USER,	mail_proceed_authz },
	{ POP3_PASS,	mail_proceed_authz },
	{ POP3_APOP,	mail_proceed_authz },
	{ POP3_AUTH,	mail_proceed_authz },
	{ POP3_CAPA,	mail_proceed_capa },
	{ POP3_STLS,	mail_proceed_authz },
	{ POP3_QUIT,	mail_proceed_quit },
	{ POP3_NOOP,	mail_proceed_noop },
	{ POP3_STAT,	mail_proceed_stat },
	{ POP3_LIST,	mail_proceed_list },
	{ POP3_RETR,	mail_proceed_retr },
	{ POP3_DELE,	mail_proceed_dele },
	{ POP3_RSET,	mail_proceed_rset },
	{ POP3_TOP,	mail_proceed_top },
	{ POP3_UIDL,	mail_proceed_uidl },
};

/* --- socket I/O --- */

static void
mail_write(struct mail_session *s, const char *buf, size_t len)
{
	if (evbuffer_add(bufferevent_get_output(s->bev), buf, len) == -1)
		fatalx("evbuffer_add: out of memory");
}

static void
mail_reply(struct mail_session *s, const char *fmt, ...)
{
	char	buf[1024];
	va_list	ap;
	int	n;

	if (s->state == M_CLOSING)
		return;
	va_start(ap, fmt);
	n = vsnprintf(buf, sizeof(buf) - 2, fmt, ap);
	va_end(ap);
	if (n < 0)
		fatalx("mail_reply: vsnprintf");
	if ((size_t)n > sizeof(buf) - 3)
		n = sizeof(buf) - 3;
	if (buf[0] == '-')
		log_debug("%s %s> %s", s->address, s->ip, buf);
	buf[n++] = '\r';
	buf[n++] = '\n';
	mail_write(s, buf, (size_t)n);
}

static void
mail_io_update(struct mail_session *s)
{
	struct timeval	tv;
	int		timeout;

	if (s->state != M_TRANS) {
		bufferevent_disable(s->bev, EV_READ);
		return;
	}
	timeout = config_num(popd_mail_config(), NULL, "pop3_timeout");
	tv.tv_sec = timeout;
	tv.tv_usec = 0;
	bufferevent_set_timeouts(s->bev, &tv, &tv);
	bufferevent_enable(s->bev, EV_READ);
}

static void
mail_read_cb(struct bufferevent *bev, void *arg)
{
	struct mail_session	*s = arg;

	/* our own input buffer: it starts with what popd handed over */
	if (evbuffer_add_buffer(s->in, bufferevent_get_input(bev)) == -1)
		fatalx("evbuffer_add_buffer: out of memory");
	mail_process(s);
}

static void
mail_written_cb(struct bufferevent *bev, void *arg)
{
	struct mail_session	*s = arg;

	if (s->state == M_STREAM) {
		mail_stream(s);
		/* done: the pipelined commands that waited for it */
		if (s->state == M_TRANS)
			mail_process(s);
	} else if (s->state == M_CLOSING &&
	    evbuffer_get_length(bufferevent_get_output(bev)) == 0)
		mail_free(s);
}

static void
mail_event_cb(struct bufferevent *bev, short what, void *arg)
{
	struct mail_session	*s = arg;

	if (s->state == M_CLOSING) {
		mail_free(s);
		return;
	}
	if (what & BEV_EVENT_TIMEOUT) {
		log_info("timeout user=%s client=[%s]: nothing deleted",
		    s->address, s->ip);
		if (what & BEV_EVENT_READING)
			mail_reply(s, "-ERR Autologout; idle for too long");
		mail_close(s);
		return;
	}
	log_info("lost connection user=%s client=[%s]: nothing deleted",
	    s->address, s->ip);
	mail_free(s);
}

static void
mail_timer_cb(int fd, short ev, void *arg)
{
	mail_free(arg);
}

/* stops reading, flushes the replies, then frees */
static void
mail_close(struct mail_session *s)
{
	struct timeval	tv = { 0, 0 };

	if (s->state == M_CLOSING)
		return;
	if (s->msgfd != -1) {
		close(s->msgfd);
		s->msgfd = -1;
	}
	s->state = M_CLOSING;
	bufferevent_disable(s->bev, EV_READ);
	if (evbuffer_get_length(bufferevent_get_output(s->bev)) == 0)
		evtimer_add(s->timer, &tv);
}

static void
session_end(uint32_t id)
{
	struct ipc_chan	*chan;

	if ((chan = daemon_peer(PROC_POPD)) != NULL)
		ipc_send(chan, IPC_POP_SESSION_END, id, -1, NULL, 0);
}

static void
mail_free(struct mail_session *s)
{
	log_info("logout user=%s client=[%s] retr=%u top=%u deleted=%zu "
	    "left=%zu bytes=%llu", s->address, s->ip, s->nretr, s->ntop,
	    s->removed, s->nmsgs - s->removed, (unsigned long long)s->sent);
	TAILQ_REMOVE(&sessions, s, entry);
	nsessions--;
	session_end(s->id);
	if (s->msgfd != -1)
		close(s->msgfd);
	store_close(s->mb);
	if (s->lockfd != -1)
		close(s->lockfd);		/* releases the flock */
	free(s->deleted);
	event_free(s->timer);
	bufferevent_free(s->bev);
	evbuffer_free(s->in);
	free(s);
}

/* --- the maildrop --- */

/* creates "domain" and "domain/user" when needed */
static int
mailbox_mkdirs(const char *mailbox)
{
	char	path[PATH_MAX], *slash;

	strlcpy(path, mailbox, sizeof(path));
	if ((slash = strchr(path, '/')) == NULL)
		return -1;
	*slash = '\0';
	if (mkdir(path, 0700) == -1 && errno != EEXIST)
		return -1;
	*slash = '/';
	if (mkdir(path, 0700) == -1 && errno != EEXIST)
		return -1;
	return 0;
}

/* -1 error, 0 locked, 1 in use */
static int
mailbox_lock(struct mail_session *s)
{
	char	path[PATH_MAX];

	if (mailbox_mkdirs(s->mailbox) == -1) {
		log_warn("%s: mkdir", s->mailbox);
		return -1;
	}
	snprintf(path, sizeof(path), "%s/" LOCK_NAME, s->mailbox);
	s->lockfd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW,
	    0600);
	if (s->lockfd == -1) {
		log_warn("open %s", path);
		return -1;
	}
	if (flock(s->lockfd, LOCK_EX | LOCK_NB) == -1) {
		if (errno == EWOULDBLOCK)
			return 1;
		log_warn("flock %s", path);
		return -1;
	}
	return 0;
}

static void
mail_start_fail(struct mail_session *s, const char *reply)
{
	mail_reply(s, "%s", reply);
	mail_close(s);
}

void
pop3_mail_start(struct handover *h, uint32_t id)
{
	const struct config	*cfg = popd_mail_config();
	struct mail_session	*s;
	const struct store_msg	*m;
	char			 err[512];
	size_t			 i;
	int			 r;

	s = xcalloc(1, sizeof(*s));
	s->id = id;
	s->lockfd = -1;
	s->msgfd = -1;
	s->state = M_TRANS;
	strlcpy(s->address, h->address, sizeof(s->address));
	strlcpy(s->mailbox, h->mailbox, sizeof(s->mailbox));
	strlcpy(s->ip, h->client, sizeof(s->ip));
	if (h->flags & POP_SESSION_F_TLS)
		s->flags |= MF_TLS;
	if (fd_nonblock(h->fd) == -1)
		fatal("fd_nonblock");
	s->bev = bufferevent_socket_new(daemon_base(), h->fd,
	    BEV_OPT_CLOSE_ON_FREE);
	if (s->bev == NULL)
		fatalx("bufferevent_socket_new");
	h->fd = -1;
	if ((s->in = evbuffer_new()) == NULL)
		fatalx("evbuffer_new: out of memory");
	if ((s->timer = evtimer_new(daemon_base(), mail_timer_cb, s)) == NULL)
		fatalx("evtimer_new");
	bufferevent_setcb(s->bev, mail_read_cb, mail_written_cb,
	    mail_event_cb, s);
	bufferevent_setwatermark(s->bev, EV_WRITE, STREAM_LOW, 0);
	bufferevent_enable(s->bev, EV_WRITE);
	TAILQ_INSERT_TAIL(&sessions, s, entry);
	nsessions++;

	if (store_path_valid(s->mailbox) == -1) {
		log_warnx("user=%s: invalid mailbox '%s'", s->address,
		    s->mailbox);
		mail_start_fail(s, "-ERR [SYS/PERM] Invalid mailbox");
		return;
	}
	if ((r = mailbox_lock(s)) == 1) {
		stat_inuse++;
		log_info("login user=%s client=[%s]: maildrop in use",
		    s->address, s->ip);
		mail_start_fail(s, "-ERR [IN-USE] Mailbox is locked by "
		    "another POP3 session");
		return;
	}
	if (r == -1) {
		mail_start_fail(s, "-ERR [SYS/TEMP] Cannot lock the mailbox, "
		    "try again later");
		return;
	}
	s->mb = store_open(s->mailbox, (size_t)config_num(cfg, NULL,
	    "mail_index_map_size"), err, sizeof(err));
	if (s->mb == NULL) {
		log_warnx("user=%s: %s", s->address, err);
		mail_start_fail(s, "-ERR [SYS/TEMP] Cannot open the mailbox, "
		    "try again later");
		return;
	}
	s->nmsgs = store_count(s->mb);
	s->deleted = xcalloc(s->nmsgs + 1, 1);
	for (i = 0; i < s->nmsgs; i++) {
		m = store_get(s->mb, i);
		s->octets += m->vsize;
	}
	stat_logins++;
	log_info("session user=%s mailbox=%s client=[%s] messages=%zu "
	    "octets=%llu%s", s->address, s->mailbox, s->ip, s->nmsgs,
	    (unsigned long long)s->octets,
	    (s->flags & MF_TLS) ? " tls=yes" : "");
	mail_reply(s, "+OK Logged in, maildrop has %zu messages (%llu octets)",
	    s->nmsgs, (unsigned long long)s->octets);
	if (h->npending > 0 && evbuffer_add(s->in, h->pending,
	    h->npending) == -1)
		fatalx("evbuffer_add: out of memory");
	mail_process(s);
}

/* message number -> index; replies -ERR and returns -1 when unusable */
static int
msg_index(struct mail_session *s, const char *args, size_t *idx)
{
	uint32_t	n;

	if (pop3_parse_msgno(args, &n) == -1) {
		mail_reply(s, "-ERR Syntax: %s message-number",
		    pop3_cmd_name(s->cmd));
		return -1;
	}
	if (n == 0 || n > s->nmsgs) {
		mail_reply(s, "-ERR No such message");
		return -1;
	}
	if (s->deleted[n - 1]) {
		mail_reply(s, "-ERR Message %u already deleted", n);
		return -1;
	}
	*idx = n - 1;
	return 0;
}

/* --- the commands --- */

static void
mail_proceed_stat(struct mail_session *s, const char *args)
{
	if (args[0] != '\0') {
		mail_reply(s, "-ERR Syntax: STAT");
		return;
	}
	mail_reply(s, "+OK %zu %llu", s->nmsgs - s->ndeleted,
	    (unsigned long long)s->octets);
}

static void
mail_proceed_list(struct mail_session *s, const char *args)
{
	struct evbuffer	*out = bufferevent_get_output(s->bev);
	size_t		 i;

	if (args[0] != '\0') {
		if (msg_index(s, args, &i) == 0)
			mail_reply(s, "+OK %zu %llu", i + 1,
			    (unsigned long long)store_get(s->mb, i)->vsize);
		return;
	}
	mail_reply(s, "+OK %zu messages (%llu octets)",
	    s->nmsgs - s->ndeleted, (unsigned long long)s->octets);
	for (i = 0; i < s->nmsgs; i++)
		if (!s->deleted[i])
			evbuffer_add_printf(out, "%zu %llu\r\n", i + 1,
			    (unsigned long long)store_get(s->mb, i)->vsize);
	mail_write(s, ".\r\n", 3);
}

static void
mail_proceed_uidl(struct mail_session *s, const char *args)
{
	struct evbuffer	*out = bufferevent_get_output(s->bev);
	char		 uidl[STORE_UIDL_MAX + 1];
	size_t		 i;

	if (args[0] != '\0') {
		if (msg_index(s, args, &i) == 0) {
			store_uidl(store_get(s->mb, i)->base, uidl,
			    sizeof(uidl));
			mail_reply(s, "+OK %zu %s", i + 1, uidl);
		}
		return;
	}
	mail_reply(s, "+OK Unique-ID listing follows");
	for (i = 0; i < s->nmsgs; i++) {
		if (s->deleted[i])
			continue;
		store_uidl(store_get(s->mb, i)->base, uidl, sizeof(uidl));
		evbuffer_add_printf(out, "%zu %s\r\n", i + 1, uidl);
	}
	mail_write(s, ".\r\n", 3);
}

static int
stream_open(struct mail_session *s, size_t idx)
{
	if ((s->msgfd = store_msg_open(s->mb, idx)) == -1) {
		if (errno == ENOENT) {
			log_info("user=%s message %zu vanished from the "
			    "Maildir", s->address, idx + 1);
			mail_reply(s, "-ERR Message %zu was removed by another "
			    "program", idx + 1);
		} else {
			log_warn("user=%s: open %s", s->address,
			    store_get(s->mb, idx)->name);
			mail_reply(s, "-ERR [SYS/TEMP] Cannot read message "
			    "%zu", idx + 1);
		}
		return -1;
	}
	s->off = 0;
	store_crlf_init(&s->crlf, 1);
	s->top_body = 0;
	s->top_bol = 1;
	return 0;
}

static void
mail_proceed_retr(struct mail_session *s, const char *args)
{
	size_t	idx;

	if (msg_index(s, args, &idx) == -1 || stream_open(s, idx) == -1)
		return;
	s->top = 0;
	s->nretr++;
	stat_retr++;
	mail_reply(s, "+OK %llu octets",
	    (unsigned long long)store_get(s->mb, idx)->vsize);
	s->state = M_STREAM;
	mail_stream(s);
}

static void
mail_proceed_top(struct mail_session *s, const char *args)
{
	uint32_t	n, lines;
	size_t		idx;

	if (pop3_parse_top(args, &n, &lines) == -1) {
		mail_reply(s, "-ERR Syntax: TOP message-number lines");
		return;
	}
	if (n == 0 || n > s->nmsgs) {
		mail_reply(s, "-ERR No such message");
		return;
	}
	if (s->deleted[n - 1]) {
		mail_reply(s, "-ERR Message %u already deleted", n);
		return;
	}
	idx = n - 1;
	if (stream_open(s, idx) == -1)
		return;
	s->top = 1;
	s->top_left = lines;
	s->ntop++;
	mail_reply(s, "+OK Top of message follows");
	s->state = M_STREAM;
	mail_stream(s);
}

/* TOP: how much of buf to send; sets *done when the cut is reached */
static size_t
top_cut(struct mail_session *s, const char *buf, size_t len, int *done)
{
	size_t	i;

	for (i = 0; i < len; i++) {
		if (!s->top_body) {
			if (buf[i] == '\n' && s->top_bol)
				s->top_body = 1;	/* the empty line */
			s->top_bol = buf[i] == '\n';
			continue;
		}
		if (s->top_left == 0) {
			*done = 1;
			return i;
		}
		if (buf[i] == '\n')
			s->top_left--;
	}
	if (s->top_body && s->top_left == 0)
		*done = 1;
	return len;
}

static void
stream_end(struct mail_session *s)
{
	close(s->msgfd);
	s->msgfd = -1;
	if (!s->crlf.bol)
		mail_write(s, "\r\n", 2);
	mail_write(s, ".\r\n", 3);
	s->state = M_TRANS;
}

/* sends the message until the socket's buffer is full enough */
static void
mail_stream(struct mail_session *s)
{
	struct evbuffer	*out = bufferevent_get_output(s->bev);
	static char	 in[STREAM_CHUNK], conv[2 * STREAM_CHUNK + 2];
	ssize_t		 n;
	size_t		 len, clen;
	int		 done = 0;

	while (s->state == M_STREAM && evbuffer_get_length(out) < STREAM_HIGH) {
		n = pread(s->msgfd, in, sizeof(in), (off_t)s->off);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1) {
			/* the "+OK" is out: all we can do is hang up */
			log_warn("user=%s: read message", s->address);
			mail_close(s);
			return;
		}
		if (n == 0) {
			stream_end(s);
			break;
		}
		s->off += (uint64_t)n;
		len = (size_t)n;
		if (s->top)
			len = top_cut(s, in, len, &done);
		clen = store_crlf(&s->crlf, in, len, conv);
		s->sent += clen;
		mail_write(s, conv, clen);
		if (done) {
			stream_end(s);
			break;
		}
	}
}

static void
mail_proceed_dele(struct mail_session *s, const char *args)
{
	size_t	idx;

	if (msg_index(s, args, &idx) == -1)
		return;
	s->deleted[idx] = 1;
	s->ndeleted++;
	s->octets -= store_get(s->mb, idx)->vsize;
	mail_reply(s, "+OK Message %zu deleted", idx + 1);
}

static void
mail_proceed_noop(struct mail_session *s, const char *args)
{
	if (args[0] != '\0')
		mail_reply(s, "-ERR Syntax: NOOP");
	else
		mail_reply(s, "+OK");
}

static void
mail_proceed_rset(struct mail_session *s, const char *args)
{
	size_t	i;

	if (args[0] != '\0') {
		mail_reply(s, "-ERR Syntax: RSET");
		return;
	}
	memset(s->deleted, 0, s->nmsgs);
	s->ndeleted = 0;
	s->octets = 0;
	for (i = 0; i < s->nmsgs; i++)
		s->octets += store_get(s->mb, i)->vsize;
	mail_reply(s, "+OK Maildrop has %zu messages (%llu octets)", s->nmsgs,
	    (unsigned long long)s->octets);
}

/* RFC 1939 6: the UPDATE state */
static void
mail_proceed_quit(struct mail_session *s, const char *args)
{
	char	err[512];
	size_t	i, failed = 0;

	for (i = 0; i < s->nmsgs; i++) {
		if (!s->deleted[i])
			continue;
		if (store_msg_remove(s->mb, i) == -1) {
			log_warn("user=%s: remove %s", s->address,
			    store_get(s->mb, i)->name);
			failed++;
		} else {
			stat_deleted++;
			s->removed++;
		}
	}
	if (s->ndeleted > 0 && store_sync(s->mb, err, sizeof(err)) == -1)
		log_warnx("user=%s: %s", s->address, err);
	if (failed > 0)
		mail_reply(s, "-ERR [SYS/TEMP] %zu of the deleted messages "
		    "could not be removed", failed);
	else
		mail_reply(s, "+OK Bye, %zu messages deleted, %zu left",
		    s->ndeleted, s->nmsgs - s->ndeleted);
	mail_close(s);
}

static void
mail_proceed_capa(struct mail_session *s, const char *args)
{
	mail_reply(s, "+OK Capability list follows");
	mail_reply(s, "TOP");
	mail_reply(s, "UIDL");
	mail_reply(s, "RESP-CODES");
	mail_reply(s, "AUTH-RESP-CODE");
	mail_reply(s, "PIPELINING");
	mail_reply(s, "EXPIRE NEVER");
	mail_reply(s, "IMPLEMENTATION facteur");
	mail_reply(s, ".");
}

static void
mail_proceed_authz(struct mail_session *s, const char *args)
{
	mail_reply(s, "-ERR Already logged in");
}

/* --- the input loop --- */

static void
mail_command(struct mail_session *s, char *line, size_t len)
{
	const char	*args;
	int		 cmd, r;

	r = pop3_cmd_parse(line, len, &cmd, &args);
	s->cmd = cmd;
	log_debug("%s %s< %.*s", s->address, s->ip, (int)len, line);
	if (r == POP3_P_TOOLONG) {
		mail_reply(s, "-ERR Line too long");
		return;
	}
	if (r == POP3_P_BADCHAR) {
		mail_reply(s, "-ERR Bad character in command");
		return;
	}
	if (cmd == POP3_UNKNOWN || mail_commands[cmd].proceed == NULL) {
		mail_reply(s, "-ERR Unknown command");
		return;
	}
	mail_commands[cmd].proceed(s, args);
}

static void
mail_process(struct mail_session *s)
{
	char	line[LINE_MAX_POP3 + 2];
	size_t	n;
	int	r, skip;

	while (s->state == M_TRANS) {
		skip = (s->flags & MF_SKIPLINE) != 0;
		r = linein_get(s->in, line, sizeof(line), &n, &skip);
		s->flags = skip ? (s->flags | MF_SKIPLINE) :
		    (s->flags & ~MF_SKIPLINE);
		if (r == 0)
			break;
		if (r == -1) {
			mail_reply(s, "-ERR Line too long");
			continue;
		}
		mail_command(s, line, n);
	}
	mail_io_update(s);
}

void
pop3_mail_stats(char *buf, size_t bufsz)
{
	char	w[256];

	snprintf(w, sizeof(w), "sessions=%u logins=%llu in_use=%llu "
	    "retr=%llu deleted=%llu ", nsessions,
	    (unsigned long long)stat_logins, (unsigned long long)stat_inuse,
	    (unsigned long long)stat_retr, (unsigned long long)stat_deleted);
	strlcat(buf, w, bufsz);
}
