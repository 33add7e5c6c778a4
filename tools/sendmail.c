/*
 * sendmail: the Sendmail/Postfix compatible submission command.
 *
 * Reads a message on standard input (RFC 5322), adds the From, Date and
 * Message-ID header fields it lacks (RFC 5322 sections 3.6.1, 3.6.2,
 * 3.6.4), takes the recipients from the command line and/or (-t) from the
 * To, Cc and Bcc fields (section 3.6.3; Bcc is then removed), and submits
 * it over SMTP (RFC 5321 section 3.3, dot-stuffing as in 4.5.2) to smtpd's
 * local socket <run_dir>/sendmail.sock, which records the caller's uid.
 * -bp lists the queue (as mailq), -bs speaks SMTP on stdin/stdout, -q
 * flushes the queue. Exit codes are those of sysexits.h.
 */
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/un.h>

#include <errno.h>
#include <getopt.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "ctl.h"
#include "log.h"
#include "util.h"

#define SENDMAIL_DEFAULT_CONF	SYSCONFDIR "/facteur/facteur.conf"
#define SMTP_TIMEOUT		300	/* seconds, per read or write */
#define SMTP_REPLY_MAX		4096
#define OUTBUF_SIZE		(64 * 1024)

const char	*ctl_progname = "sendmail";

struct line {
	char	*s;
	size_t	 len;		/* without the line end */
};

struct message {
	struct line	*line;
	size_t		 n;
	size_t		 hdr_end;	/* first line after the header fields */
	int		 has_blank;	/* line[hdr_end] is the empty line */
	int		 eightbit;
	size_t		 size;		/* with CRLF line ends */
};

struct rcpts {
	char	**addr;
	size_t	  n;
};

struct smtp {
	int	 fd;
	FILE	*in;
	int	 verbose;
	char	 reply[SMTP_REPLY_MAX];	/* lines joined with '\n' */
	char	 out[OUTBUF_SIZE];
	size_t	 outlen;
	/* EHLO keywords */
	int	 ext_8bitmime;
	int	 ext_smtputf8;
	int	 ext_size;
};

static int	 verbose;

static void __attribute__((noreturn))
usage(void)
{
	fprintf(stderr, "usage: sendmail [-i] [-t] [-f sender] [-F fullname] "
	    "[-C config] [-oi] [--] [recipient ...]\n"
	    "       sendmail -bp | -bs | -q [-C config]\n");
	exit(EX_USAGE);
}

static void __attribute__((noreturn, format(printf, 2, 3)))
die(int status, const char *fmt, ...)
{
	va_list	ap;

	fprintf(stderr, "sendmail: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\n");
	exit(status);
}

/* --- addresses --- */

static int
addr_bad_bytes(const char *s)
{
	for (; *s != '\0'; s++)
		if ((unsigned char)*s < 0x21 || *s == 0x7f || *s == '<' ||
		    *s == '>')
			return 1;
	return 0;
}

static void
rcpts_add(struct rcpts *r, const char *addr, const char *hostname)
{
	char	*a;
	size_t	 i;

	if (strchr(addr, '@') == NULL)
		xasprintf(&a, "%s@%s", addr, hostname);
	else
		a = xstrdup(addr);
	if (addr_bad_bytes(a))
		die(EX_DATAERR, "bad recipient address: %s", a);
	for (i = 0; i < r->n; i++)
		if (strcmp(r->addr[i], a) == 0) {
			free(a);
			return;
		}
	r->addr = xreallocarray(r->addr, r->n + 1, sizeof(char *));
	r->addr[r->n++] = a;
}

/*
 * An RFC 5322 address-list (section 3.4): "Name <a@b>, c@d (comment),
 * group: e@f, g@h;". Adds the addr-spec of each mailbox to r.
 */
static void
addrlist_parse(const char *s, struct rcpts *r, const char *hostname)
{
	size_t	 len = strlen(s);
	char	*plain = xmalloc(len + 1), *angle = xmalloc(len + 1);
	char	*cur = plain;
	size_t	 np = 0, na = 0, *n = &np;
	int	 quote = 0, comment = 0, in_angle = 0, have_angle = 0;

	for (;; s++) {
		char	c = *s;

		if (c != '\0' && quote) {
			cur[(*n)++] = c;
			if (c == '\\' && s[1] != '\0')
				cur[(*n)++] = *++s;
			else if (c == '"')
				quote = 0;
			continue;
		}
		if (c != '\0' && comment) {
			if (c == '\\' && s[1] != '\0')
				s++;
			else if (c == '(')
				comment++;
			else if (c == ')')
				comment--;
			continue;
		}
		if (c == '\0' || ((c == ',' || c == ';') && !in_angle)) {
			const char	*a = have_angle ? angle : plain;

			plain[np] = '\0';
			angle[na] = '\0';
			if (*a != '\0')
				rcpts_add(r, a, hostname);
			np = na = 0;
			have_angle = in_angle = 0;
			cur = plain;
			n = &np;
			if (c == '\0')
				break;
			continue;
		}
		switch (c) {
		case '"':
			quote = 1;
			cur[(*n)++] = c;
			break;
		case '(':
			comment = 1;
			break;
		case '<':
			in_angle = 1;
			have_angle = 1;
			na = 0;
			cur = angle;
			n = &na;
			break;
		case '>':
			in_angle = 0;
			cur = plain;
			n = &np;
			break;
		case ':':
			/* a group's name, or a source route inside <> */
			*n = 0;
			break;
		case ' ':
		case '\t':
		case '\r':
		case '\n':
			break;
		default:
			cur[(*n)++] = c;
			break;
		}
	}
	free(plain);
	free(angle);
}

/* the sender as given to -f: "<a@b>", "a@b", "<>" or "" (null sender) */
static char *
sender_arg(const char *arg)
{
	char	*s = xstrdup(arg);
	size_t	 len = strlen(s);

	if (len >= 2 && s[0] == '<' && s[len - 1] == '>') {
		memmove(s, s + 1, len - 2);
		s[len - 2] = '\0';
	}
	if (addr_bad_bytes(s))
		die(EX_USAGE, "bad sender address: %s", arg);
	return s;
}

/* --- the message --- */

static void
message_add(struct message *m, char *s, size_t len)
{
	size_t	i;

	m->line = xreallocarray(m->line, m->n + 1, sizeof(struct line));
	m->line[m->n].s = s;
	m->line[m->n].len = len;
	m->n++;
	for (i = 0; i < len && !m->eightbit; i++)
		if ((unsigned char)s[i] >= 0x80)
			m->eightbit = 1;
}

static void
message_read(struct message *m, int dot_ends)
{
	char	*buf = NULL;
	size_t	 bufsz = 0;
	ssize_t	 len;
	int	 first = 1;

	memset(m, 0, sizeof(*m));
	while ((len = getline(&buf, &bufsz, stdin)) != -1) {
		if (len > 0 && buf[len - 1] == '\n')
			buf[--len] = '\0';
		if (len > 0 && buf[len - 1] == '\r')
			buf[--len] = '\0';
		if (dot_ends && len == 1 && buf[0] == '.')
			break;
		/* an mbox "From " line is not part of the message */
		if (first && len >= 5 && strncmp(buf, "From ", 5) == 0) {
			first = 0;
			continue;
		}
		first = 0;
		message_add(m, xstrdup(buf), len);
	}
	if (ferror(stdin))
		die(EX_IOERR, "cannot read the message: %s", strerror(errno));
	free(buf);
}

static void
message_free(struct message *m)
{
	size_t	i;

	for (i = 0; i < m->n; i++)
		free(m->line[i].s);
	free(m->line);
	memset(m, 0, sizeof(*m));
}

static void
rcpts_free(struct rcpts *r)
{
	size_t	i;

	for (i = 0; i < r->n; i++)
		free(r->addr[i]);
	free(r->addr);
	memset(r, 0, sizeof(*r));
}

/* "Name:" with printable ASCII name, RFC 5322 section 2.2 */
static int
is_field(const struct line *l)
{
	size_t	i;

	for (i = 0; i < l->len; i++) {
		unsigned char	c = l->s[i];

		if (c == ':')
			return i > 0;
		if (c < 33 || c > 126)
			return 0;
	}
	return 0;
}

static int
field_is(const struct line *l, const char *name)
{
	size_t	n = strlen(name);

	return l->len > n && strncasecmp(l->s, name, n) == 0 &&
	    l->s[n] == ':';
}

static void
message_headers(struct message *m)
{
	size_t	i;

	m->hdr_end = m->n;
	m->has_blank = 0;
	for (i = 0; i < m->n; i++) {
		if (m->line[i].len == 0) {
			m->hdr_end = i;
			m->has_blank = 1;
			return;
		}
		if (i > 0 && (m->line[i].s[0] == ' ' ||
		    m->line[i].s[0] == '\t'))
			continue;
		if (!is_field(&m->line[i])) {
			m->hdr_end = i;
			return;
		}
	}
}

static int
message_has(const struct message *m, const char *name)
{
	size_t	i;

	for (i = 0; i < m->hdr_end; i++)
		if (field_is(&m->line[i], name))
			return 1;
	return 0;
}

/* the unfolded body of the field starting at line i */
static char *
field_value(const struct message *m, size_t i)
{
	const struct line	*l = &m->line[i];
	char			*v, *colon;
	size_t			 j, len;

	colon = memchr(l->s, ':', l->len);
	v = xstrdup(colon + 1);
	len = strlen(v);
	for (j = i + 1; j < m->hdr_end && (m->line[j].s[0] == ' ' ||
	    m->line[j].s[0] == '\t'); j++) {
		v = xreallocarray(v, len + m->line[j].len + 2, 1);
		v[len++] = ' ';
		memcpy(v + len, m->line[j].s, m->line[j].len + 1);
		len += m->line[j].len;
	}
	return v;
}

/* -t: recipients from To, Cc and Bcc; Bcc lines are dropped */
static void
message_extract(struct message *m, struct rcpts *r, const char *hostname)
{
	char	*v;
	size_t	 i, j;

	for (i = 0; i < m->hdr_end; i++) {
		if (!field_is(&m->line[i], "To") &&
		    !field_is(&m->line[i], "Cc") &&
		    !field_is(&m->line[i], "Bcc"))
			continue;
		v = field_value(m, i);
		addrlist_parse(v, r, hostname);
		free(v);
	}
	for (i = 0; i < m->hdr_end; ) {
		if (!field_is(&m->line[i], "Bcc")) {
			i++;
			continue;
		}
		for (j = i + 1; j < m->hdr_end && (m->line[j].s[0] == ' ' ||
		    m->line[j].s[0] == '\t'); j++)
			;
		while (j-- > i) {
			free(m->line[j].s);
			memmove(&m->line[j], &m->line[j + 1],
			    (m->n - j - 1) * sizeof(struct line));
			m->n--;
			m->hdr_end--;
		}
	}
}

/* a display name, quoted when it holds specials (RFC 5322 3.2.3) */
static char *
display_name(const char *name)
{
	const char	*p;
	char		*q, *out;

	if (strpbrk(name, "()<>[]:;@\\,.\"") == NULL)
		return xstrdup(name);
	out = q = xmalloc(strlen(name) * 2 + 3);
	*q++ = '"';
	for (p = name; *p != '\0'; p++) {
		if (*p == '"' || *p == '\\')
			*q++ = '\\';
		*q++ = *p;
	}
	*q++ = '"';
	*q = '\0';
	return out;
}

static char *
gecos_name(void)
{
	struct passwd	*pw;
	char		*name;

	if ((pw = getpwuid(getuid())) == NULL || pw->pw_gecos == NULL ||
	    *pw->pw_gecos == '\0')
		return NULL;
	name = xstrdup(pw->pw_gecos);
	name[strcspn(name, ",")] = '\0';
	if (*name == '\0') {
		free(name);
		return NULL;
	}
	return name;
}

/* inserts the fields the message lacks at the end of its header */
static void
message_complete(struct message *m, const char *from, const char *fullname,
    const char *hostname)
{
	char		*add[4], *name, *dn, date[64];
	size_t		 nadd = 0, i;
	time_t		 now = time(NULL);

	if (!message_has(m, "From")) {
		name = fullname != NULL ? xstrdup(fullname) : gecos_name();
		if (name != NULL && *name != '\0' && !addr_bad_bytes(from)) {
			dn = display_name(name);
			xasprintf(&add[nadd++], "From: %s <%s>", dn, from);
			free(dn);
		} else
			xasprintf(&add[nadd++], "From: %s", from);
		free(name);
	}
	if (!message_has(m, "Date")) {
		strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S %z",
		    localtime(&now));
		xasprintf(&add[nadd++], "Date: %s", date);
	}
	if (!message_has(m, "Message-ID")) {
		strftime(date, sizeof(date), "%Y%m%d%H%M%S", gmtime(&now));
		xasprintf(&add[nadd++], "Message-ID: <%s.%ld.%08x@%s>", date,
		    (long)getpid(), arc4random(), hostname);
	}
	if (!m->has_blank && m->hdr_end < m->n)
		add[nadd++] = xstrdup("");
	m->line = xreallocarray(m->line, m->n + nadd, sizeof(struct line));
	memmove(&m->line[m->hdr_end + nadd], &m->line[m->hdr_end],
	    (m->n - m->hdr_end) * sizeof(struct line));
	for (i = 0; i < nadd; i++) {
		m->line[m->hdr_end + i].s = add[i];
		m->line[m->hdr_end + i].len = strlen(add[i]);
	}
	m->n += nadd;
	m->hdr_end += nadd;
	m->size = 0;
	for (i = 0; i < m->n; i++)
		m->size += m->line[i].len + 2;
}

/* --- SMTP to the local socket --- */

static int
smtp_connect(const struct config *conf)
{
	struct sockaddr_un	 sun;
	struct timeval		 tv = { SMTP_TIMEOUT, 0 };
	const char		*run_dir = config_str(conf, NULL, "run_dir");
	int			 fd;

	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	if ((size_t)snprintf(sun.sun_path, sizeof(sun.sun_path),
	    "%s/sendmail.sock", run_dir) >= sizeof(sun.sun_path))
		die(EX_CONFIG, "%s/sendmail.sock: path too long", run_dir);
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1)
		die(EX_OSERR, "socket: %s", strerror(errno));
	if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) == -1) {
		if (errno == ENOENT || errno == ECONNREFUSED ||
		    errno == ENOTDIR)
			die(EX_TEMPFAIL, "facteur is not running (cannot "
			    "connect to %s: %s)", sun.sun_path,
			    strerror(errno));
		die(EX_TEMPFAIL, "cannot connect to %s: %s", sun.sun_path,
		    strerror(errno));
	}
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	return fd;
}

static void
smtp_flush(struct smtp *s)
{
	if (s->outlen == 0)
		return;
	if (write_all(s->fd, s->out, s->outlen) == -1)
		die(EX_TEMPFAIL, "lost the connection to facteur: %s",
		    errno == EAGAIN ? "timed out" : strerror(errno));
	s->outlen = 0;
}

static void
smtp_write(struct smtp *s, const char *p, size_t len)
{
	size_t	n;

	while (len > 0) {
		if (s->outlen == sizeof(s->out))
			smtp_flush(s);
		n = sizeof(s->out) - s->outlen;
		if (n > len)
			n = len;
		memcpy(s->out + s->outlen, p, n);
		s->outlen += n;
		p += n;
		len -= n;
	}
}

static void __attribute__((format(printf, 2, 3)))
smtp_cmd(struct smtp *s, const char *fmt, ...)
{
	va_list	 ap;
	char	*line;
	int	 len;

	va_start(ap, fmt);
	len = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (len < 0)
		die(EX_SOFTWARE, "bad SMTP command format");
	line = xmalloc(len + 1);
	va_start(ap, fmt);
	vsnprintf(line, len + 1, fmt, ap);
	va_end(ap);
	if (s->verbose)
		fprintf(stderr, ">>> %s\n", line);
	smtp_write(s, line, len);
	smtp_write(s, "\r\n", 2);
	smtp_flush(s);
	free(line);
}

/* reads a reply into s->reply; returns its code */
static int
smtp_reply(struct smtp *s)
{
	char	*buf = NULL;
	size_t	 bufsz = 0, used = 0;
	ssize_t	 len;
	int	 code = -1;

	s->reply[0] = '\0';
	for (;;) {
		if ((len = getline(&buf, &bufsz, s->in)) == -1)
			die(EX_TEMPFAIL, "lost the connection to facteur%s%s",
			    ferror(s->in) ? ": " : "", ferror(s->in) ?
			    (errno == EAGAIN ? "timed out" : strerror(errno)) :
			    "");
		while (len > 0 && (buf[len - 1] == '\n' ||
		    buf[len - 1] == '\r'))
			buf[--len] = '\0';
		if (s->verbose)
			fprintf(stderr, "<<< %s\n", buf);
		if (len < 3 || buf[0] < '2' || buf[0] > '5' ||
		    buf[1] < '0' || buf[1] > '9' || buf[2] < '0' ||
		    buf[2] > '9' || (len > 3 && buf[3] != ' ' &&
		    buf[3] != '-'))
			die(EX_PROTOCOL, "bad SMTP reply from facteur: %s",
			    buf);
		code = (buf[0] - '0') * 100 + (buf[1] - '0') * 10 +
		    (buf[2] - '0');
		if (used > 0 && used < sizeof(s->reply) - 1)
			s->reply[used++] = '\n';
		used += strlcpy(s->reply + used, buf,
		    used < sizeof(s->reply) ? sizeof(s->reply) - used : 0);
		if (used >= sizeof(s->reply))
			used = sizeof(s->reply) - 1;
		if (len == 3 || buf[3] == ' ')
			break;
	}
	free(buf);
	return code;
}

/* the reply on one line, for messages */
static const char *
smtp_reply_text(struct smtp *s)
{
	char	*p;

	for (p = s->reply; *p != '\0'; p++)
		if (*p == '\n')
			*p = ' ';
	return s->reply;
}

/* QUIT, then the reply if one comes: the transaction is over anyway */
static void
smtp_quit(struct smtp *s)
{
	char	*buf = NULL;
	size_t	 bufsz = 0;
	ssize_t	 len;

	smtp_cmd(s, "QUIT");
	while ((len = getline(&buf, &bufsz, s->in)) != -1) {
		if (s->verbose)
			fprintf(stderr, "<<< %s", buf);
		if (len < 4 || buf[3] != '-')
			break;
	}
	free(buf);
	fclose(s->in);
	close(s->fd);
}

static int
status_for(int code, int perm)
{
	return code / 100 == 4 ? EX_TEMPFAIL : perm;
}

static void
smtp_ehlo(struct smtp *s)
{
	char	*line, *next;
	int	 code;

	smtp_cmd(s, "EHLO localhost");
	if ((code = smtp_reply(s)) / 100 != 2) {
		smtp_cmd(s, "HELO localhost");
		if ((code = smtp_reply(s)) / 100 != 2)
			die(status_for(code, EX_UNAVAILABLE),
			    "HELO refused: %s", smtp_reply_text(s));
		return;
	}
	for (line = s->reply; line != NULL; line = next) {
		if ((next = strchr(line, '\n')) != NULL)
			*next++ = '\0';
		if (strlen(line) < 4)
			continue;
		line += 4;
		if (strncasecmp(line, "8BITMIME", 8) == 0)
			s->ext_8bitmime = 1;
		else if (strncasecmp(line, "SMTPUTF8", 8) == 0)
			s->ext_smtputf8 = 1;
		else if (strncasecmp(line, "SIZE", 4) == 0 &&
		    (line[4] == '\0' || line[4] == ' '))
			s->ext_size = 1;
	}
}

static int
any_utf8(const char *from, const struct rcpts *r)
{
	size_t		 i;
	const char	*p;

	for (p = from; *p != '\0'; p++)
		if ((unsigned char)*p >= 0x80)
			return 1;
	for (i = 0; i < r->n; i++)
		for (p = r->addr[i]; *p != '\0'; p++)
			if ((unsigned char)*p >= 0x80)
				return 1;
	return 0;
}

static void
smtp_data(struct smtp *s, const struct message *m)
{
	size_t	i;

	for (i = 0; i < m->n; i++) {
		if (m->line[i].len > 0 && m->line[i].s[0] == '.')
			smtp_write(s, ".", 1);
		smtp_write(s, m->line[i].s, m->line[i].len);
		smtp_write(s, "\r\n", 2);
	}
	smtp_write(s, ".\r\n", 3);
	smtp_flush(s);
}

/* one transaction; returns the exit status */
static int
submit(const struct config *conf, const char *sender, const struct rcpts *r,
    const struct message *m)
{
	struct smtp	 s;
	char		 size[32] = "";
	int		 code, status = EX_OK, accepted = 0, tempfail = 0;
	size_t		 i;

	memset(&s, 0, sizeof(s));
	s.verbose = verbose;
	s.fd = smtp_connect(conf);
	if ((s.in = fdopen(dup(s.fd), "r")) == NULL)
		die(EX_OSERR, "fdopen: %s", strerror(errno));
	if ((code = smtp_reply(&s)) != 220)
		die(EX_TEMPFAIL, "facteur refused the connection: %s",
		    smtp_reply_text(&s));
	smtp_ehlo(&s);
	if (s.ext_size)
		snprintf(size, sizeof(size), " SIZE=%zu", m->size);
	smtp_cmd(&s, "MAIL FROM:<%s>%s%s%s", sender, size,
	    m->eightbit && s.ext_8bitmime ? " BODY=8BITMIME" : "",
	    any_utf8(sender, r) && s.ext_smtputf8 ? " SMTPUTF8" : "");
	if ((code = smtp_reply(&s)) / 100 != 2)
		die(status_for(code, EX_DATAERR), "MAIL FROM:<%s> refused: %s",
		    sender, smtp_reply_text(&s));
	for (i = 0; i < r->n; i++) {
		smtp_cmd(&s, "RCPT TO:<%s>", r->addr[i]);
		code = smtp_reply(&s);
		if (code / 100 == 2) {
			accepted++;
			continue;
		}
		fprintf(stderr, "sendmail: RCPT TO:<%s> refused: %s\n",
		    r->addr[i], smtp_reply_text(&s));
		if (code / 100 == 4)
			tempfail = 1;
		else
			status = EX_NOUSER;
	}
	/* a temporary refusal: send nothing, so that a retry sends all */
	if (tempfail || accepted == 0) {
		smtp_quit(&s);
		return tempfail ? EX_TEMPFAIL : status;
	}
	smtp_cmd(&s, "DATA");
	if ((code = smtp_reply(&s)) != 354)
		die(status_for(code, EX_DATAERR), "DATA refused: %s",
		    smtp_reply_text(&s));
	smtp_data(&s, m);
	if ((code = smtp_reply(&s)) / 100 != 2)
		die(status_for(code, EX_DATAERR), "message refused: %s",
		    smtp_reply_text(&s));
	smtp_quit(&s);
	return status;
}

/* -bs: relays SMTP between stdin/stdout and smtpd */
static int
relay_smtp(const struct config *conf)
{
	struct pollfd	pfd[2];
	char		buf[16384];
	ssize_t		n;
	int		fd = smtp_connect(conf), in_open = 1;
	struct timeval	tv = { 0, 0 };

	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	for (;;) {
		pfd[0].fd = in_open ? STDIN_FILENO : -1;
		pfd[0].events = POLLIN;
		pfd[1].fd = fd;
		pfd[1].events = POLLIN;
		if (poll(pfd, 2, -1) == -1) {
			if (errno == EINTR)
				continue;
			die(EX_OSERR, "poll: %s", strerror(errno));
		}
		if (pfd[1].revents & (POLLIN | POLLHUP | POLLERR)) {
			if ((n = read(fd, buf, sizeof(buf))) <= 0)
				return EX_OK;
			if (write_all(STDOUT_FILENO, buf, n) == -1)
				return EX_IOERR;
		}
		if (in_open && (pfd[0].revents & (POLLIN | POLLHUP | POLLERR))) {
			if ((n = read(STDIN_FILENO, buf, sizeof(buf))) <= 0) {
				shutdown(fd, SHUT_WR);
				in_open = 0;
			} else if (write_all(fd, buf, n) == -1)
				return EX_TEMPFAIL;
		}
	}
}

static char *
default_sender(const char *hostname)
{
	struct passwd	*pw;
	char		*s;

	if ((pw = getpwuid(getuid())) != NULL)
		xasprintf(&s, "%s@%s", pw->pw_name, hostname);
	else
		xasprintf(&s, "uid%u@%s", (unsigned)getuid(), hostname);
	return s;
}

int
main(int argc, char **argv)
{
	struct config	*conf;
	struct message	 m;
	struct rcpts	 r;
	const char	*path = NULL, *fullname = NULL, *hostname;
	const char	*qid = NULL;
	char		*sender = NULL, *from, err[1024];
	int		 ch, dot_ends = 1, extract = 0, mode = 'm', i, status;

	log_init("sendmail", 0);
	signal(SIGPIPE, SIG_IGN);
	while ((ch = getopt(argc, argv,
	    "A:B:C:F:GIL:N:O:R:UV:X:b:d:f:h:io:q::r:tv")) != -1) {
		switch (ch) {
		case 'b':
			if (strlen(optarg) != 1 ||
			    strchr("mpsi", optarg[0]) == NULL)
				die(EX_USAGE, "-b%s is not supported", optarg);
			mode = optarg[0];
			break;
		case 'C':
			path = optarg;
			break;
		case 'F':
			fullname = optarg;
			break;
		case 'f':
		case 'r':
			free(sender);
			sender = sender_arg(optarg);
			break;
		case 'i':
			dot_ends = 0;
			break;
		case 'o':
			/* -oi as -i; other -o options are ignored */
			if (optarg[0] == 'i')
				dot_ends = 0;
			break;
		case 'q':
			mode = 'q';
			if (optarg != NULL && optarg[0] == 'I')
				qid = optarg + 1;
			break;
		case 't':
			extract = 1;
			break;
		case 'v':
			verbose = 1;
			break;
		case 'A': case 'B': case 'G': case 'I': case 'L': case 'N':
		case 'O': case 'R': case 'U': case 'V': case 'X': case 'd':
		case 'h':
			/* accepted for compatibility; nothing to do */
			break;
		default:
			usage();
		}
	}
	argc -= optind;
	argv += optind;

	if (path == NULL)
		path = getenv("FACTEUR_CONF");
	if (path == NULL || *path == '\0')
		path = SENDMAIL_DEFAULT_CONF;
	if ((conf = config_load(path, err, sizeof(err))) == NULL)
		die(EX_CONFIG, "%s", err);
	hostname = config_str(conf, NULL, "hostname");

	switch (mode) {
	case 'p':
		status = ctl_queue_list(conf) == 0 ? EX_OK : EX_TEMPFAIL;
		config_free(conf);
		return status;
	case 'q':
		status = ctl_queue_flush(conf, qid) == 0 ? EX_OK : EX_TEMPFAIL;
		config_free(conf);
		return status;
	case 's':
		status = relay_smtp(conf);
		config_free(conf);
		return status;
	case 'i':
		/* sendmail -bi is newaliases, as everywhere */
		config_free(conf);
		execl(SBINDIR "/newaliases", "newaliases", "-c", path,
		    (char *)NULL);
		die(EX_UNAVAILABLE, "%s/newaliases: %s", SBINDIR,
		    strerror(errno));
	}

	memset(&r, 0, sizeof(r));
	for (i = 0; i < argc; i++)
		addrlist_parse(argv[i], &r, hostname);
	if (r.n == 0 && !extract)
		die(EX_USAGE, "no recipients specified");
	if (sender == NULL)
		sender = default_sender(hostname);

	message_read(&m, dot_ends);
	message_headers(&m);
	if (extract)
		message_extract(&m, &r, hostname);
	if (r.n == 0)
		die(EX_DATAERR, "no recipient addresses found in the message "
		    "header");
	if (*sender != '\0' && strchr(sender, '@') == NULL) {
		xasprintf(&from, "%s@%s", sender, hostname);
		free(sender);
		sender = from;
	}
	from = *sender != '\0' ? xstrdup(sender) : default_sender(hostname);
	message_complete(&m, from, fullname, hostname);
	free(from);

	status = submit(conf, sender, &r, &m);
	message_free(&m);
	rcpts_free(&r);
	free(sender);
	config_free(conf);
	return status;
}
