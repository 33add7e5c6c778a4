/*
 * The listening sockets. facteurd binds them (as root, so smtpd never
 * needs privileges), keeps them for its whole life and hands them to
 * every smtpd it starts as IPC_LISTENER (name, address, fd):
 *
 *	smtp		smtp_listen	 (RFC 5321 MX service, port 25)
 *	submission	submission_listen (RFC 6409, port 587)
 *	smtps		smtps_listen	 (RFC 8314 implicit TLS, port 465)
 *	local		<run_dir>/sendmail.sock, a Unix stream socket, 0666,
 *			for the sendmail tool
 *
 * Addresses: "127.0.0.1:2525", "[::1]:25", "0.0.0.0:25", "*:25" (every
 * address, IPv4 and IPv6). A bind failure is fatal.
 */
#include <sys/types.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include <netinet/in.h>

#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "log.h"
#include "master.h"
#include "util.h"

#define LISTEN_BACKLOG	128

static const struct {
	const char	*name;
	const char	*setting;
} listen_kinds[] = {
	{ "smtp",	"smtp_listen" },
	{ "submission",	"submission_listen" },
	{ "smtps",	"smtps_listen" },
	{ "pop3",	"pop3_listen" },
	{ "pop3s",	"pop3s_listen" },
};

int
listener_proc(const char *name)
{
	if (strncmp(name, "pop3", 4) == 0)
		return PROC_POPD;
	return PROC_SMTPD;
}

struct listen_ctx {
	struct master	*m;
	const char	*name;
	const char	*setting;
};

static int	listen_inet(const char *, void *);
static void	listen_local(struct master *);
static void	listen_add(struct master *, const char *, const char *, int);
static int	listen_describe_one(const char *, void *);

void
listen_all(struct master *m)
{
	struct listen_ctx	ctx;
	size_t			i;

	ctx.m = m;
	for (i = 0; i < sizeof(listen_kinds) / sizeof(listen_kinds[0]); i++) {
		ctx.name = listen_kinds[i].name;
		ctx.setting = listen_kinds[i].setting;
		config_list(m->conf, NULL, ctx.setting, listen_inet, &ctx);
	}
	listen_local(m);
}

static void
listen_add(struct master *m, const char *name, const char *addr, int fd)
{
	struct listener	*l;

	m->listeners = xreallocarray(m->listeners, m->nlisteners + 1,
	    sizeof(*m->listeners));
	l = &m->listeners[m->nlisteners++];
	strlcpy(l->name, name, sizeof(l->name));
	strlcpy(l->addr, addr, sizeof(l->addr));
	l->fd = fd;
	log_info("listening name=%s address=%s", name, addr);
}

/* config_list callback: binds every address one word resolves to. */
static int
listen_inet(const char *addr, void *arg)
{
	struct listen_ctx	*ctx = arg;
	struct addrinfo		 hints, *res, *ai;
	char			 host[256], port[32];
	const char		*h;
	int			 fd, error, on = 1, wild, n = 0;

	if (parse_hostport(addr, host, sizeof(host), port, sizeof(port)) == -1)
		fatalx("%s: bad address '%s' (host:port, [v6]:port or "
		    "*:port)", ctx->setting, addr);
	wild = host[0] == '\0' || strcmp(host, "*") == 0;
	h = wild ? NULL : host;
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_PASSIVE;
	if ((error = getaddrinfo(h, port, &hints, &res)) != 0)
		fatalx("%s: %s: %s", ctx->setting, addr, gai_strerror(error));
	for (ai = res; ai != NULL; ai = ai->ai_next) {
		fd = socket(ai->ai_family,
		    ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC,
		    ai->ai_protocol);
		if (fd == -1) {
			if (wild && errno == EAFNOSUPPORT)
				continue;
			fatal("%s: socket for %s", ctx->setting, addr);
		}
		if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on,
		    sizeof(on)) == -1)
			fatal("setsockopt SO_REUSEADDR");
		if (ai->ai_family == AF_INET6 && setsockopt(fd, IPPROTO_IPV6,
		    IPV6_V6ONLY, &on, sizeof(on)) == -1)
			fatal("setsockopt IPV6_V6ONLY");
		if (bind(fd, ai->ai_addr, ai->ai_addrlen) == -1) {
			if (wild && ai->ai_family == AF_INET6 &&
			    errno == EADDRNOTAVAIL) {
				close(fd);
				continue;
			}
			fatal("%s: cannot bind %s", ctx->setting, addr);
		}
		if (listen(fd, LISTEN_BACKLOG) == -1)
			fatal("%s: listen on %s", ctx->setting, addr);
		listen_add(ctx->m, ctx->name, addr, fd);
		n++;
	}
	freeaddrinfo(res);
	if (n == 0)
		fatalx("%s: nothing to bind for %s", ctx->setting, addr);
	return 0;
}

/* The sendmail socket: plain SMTP, any local user may connect. */
static void
listen_local(struct master *m)
{
	struct sockaddr_un	 sun;
	char			*path;
	mode_t			 old;
	int			 fd;

	if (xasprintf(&path, "%s/sendmail.sock",
	    config_str(m->conf, NULL, "run_dir")) == -1)
		fatal("asprintf");
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	if (strlcpy(sun.sun_path, path, sizeof(sun.sun_path)) >=
	    sizeof(sun.sun_path))
		fatalx("%s: path too long for a socket", path);
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
	    0)) == -1)
		fatal("socket");
	if (unlink(path) == -1 && errno != ENOENT)
		fatal("unlink %s", path);
	old = umask(0);
	if (bind(fd, (struct sockaddr *)&sun, sizeof(sun)) == -1)
		fatal("cannot bind %s", path);
	umask(old);
	if (chmod(path, 0666) == -1)
		fatal("chmod %s", path);
	if (listen(fd, LISTEN_BACKLOG) == -1)
		fatal("listen on %s", path);
	listen_add(m, "local", path, fd);
	free(path);
}

void
listen_close(struct master *m)
{
	size_t	i;

	for (i = 0; i < m->nlisteners; i++) {
		if (strcmp(m->listeners[i].name, "local") == 0)
			unlink(m->listeners[i].addr);
		close(m->listeners[i].fd);
	}
	free(m->listeners);
	m->listeners = NULL;
	m->nlisteners = 0;
}

struct describe_ctx {
	char	buf[4096];
};

static int
listen_describe_one(const char *word, void *arg)
{
	struct describe_ctx	*d = arg;

	strlcat(d->buf, word, sizeof(d->buf));
	strlcat(d->buf, ",", sizeof(d->buf));
	return 0;
}

char *
listen_describe(const struct config *conf)
{
	struct describe_ctx	d;
	size_t			i;

	d.buf[0] = '\0';
	for (i = 0; i < sizeof(listen_kinds) / sizeof(listen_kinds[0]); i++) {
		strlcat(d.buf, listen_kinds[i].name, sizeof(d.buf));
		strlcat(d.buf, "=", sizeof(d.buf));
		config_list(conf, NULL, listen_kinds[i].setting,
		    listen_describe_one, &d);
		strlcat(d.buf, " ", sizeof(d.buf));
	}
	strlcat(d.buf, "run_dir=", sizeof(d.buf));
	strlcat(d.buf, config_str(conf, NULL, "run_dir"), sizeof(d.buf));
	return xstrdup(d.buf);
}
