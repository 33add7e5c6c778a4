/*
 * smtpd: the SMTP server daemon (RFC 5321). facteurd hands it bound
 * listening sockets (smtp, submission, local) and channels to auth and
 * queue; it accepts clients and runs one session each (smtp_session.c).
 * Runs chrooted to an empty directory: it never opens a file, the message
 * file arrives from queue as a passed fd, and the TLS certificate and key
 * arrive from facteurd as PEM text (IPC_TLS_MATERIAL, at start and after
 * every reload: new sessions use the new context).
 */
#include <sys/types.h>
#include <sys/socket.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>
#include <event2/listener.h>

#include <openssl/ssl.h>

#include "config.h"
#include "daemon.h"
#include "ipc.h"
#include "log.h"
#include "proc.h"
#include "tls.h"
#include "util.h"
#include "smtpd.h"

char				 smtpd_hostname[256];
static const struct config	*smtpd_cfg;
static struct smtp_listener	*listeners;
static uint32_t			 last_reqid;
static SSL_CTX			*tls_ctx;

SSL_CTX *
smtpd_tls_ctx(void)
{
	return tls_ctx;
}

/* IPC_TLS_MATERIAL: a new context for new sessions */
static void
smtpd_tls_material(struct ipc_msg *msg)
{
	struct ipc_rbuf	 r;
	char		*cert, *key, err[1024];
	SSL_CTX		*ctx = NULL;

	ipc_rbuf_init(&r, msg->data, msg->hdr.len);
	cert = ipc_get_strdup(&r);
	key = ipc_get_strdup(&r);
	if (cert == NULL || key == NULL || ipc_get_end(&r) == -1)
		log_warnx("bad TLS_MATERIAL frame from facteurd");
	else if ((ctx = tls_server_ctx(cert, key, err, sizeof(err))) == NULL)
		log_warnx("TLS certificate or key refused: %s%s", err,
		    tls_ctx ? " (keeping the previous one)" :
		    " (no STARTTLS, smtps refused)");
	if (key != NULL) {
		explicit_bzero(key, strlen(key));
		free(key);
	}
	free(cert);
	if (ctx == NULL)
		return;
	/* sessions hold their own reference through their SSL */
	SSL_CTX_free(tls_ctx);
	tls_ctx = ctx;
	log_info("TLS certificate loaded: STARTTLS and smtps enabled");
}

const struct config *
smtpd_config(void)
{
	return smtpd_cfg;
}

uint32_t
smtpd_new_reqid(void)
{
	if (++last_reqid == 0)
		last_reqid = 1;
	return last_reqid;
}

int
smtpd_send(int proc, uint32_t type, uint32_t reqid, int fd,
    const void *data, size_t len)
{
	struct ipc_chan	*chan;

	if ((chan = daemon_peer(proc)) == NULL)
		return -1;
	return ipc_send(chan, type, reqid, fd, data, len);
}

static void
smtpd_on_config(const struct config *cfg, int reload)
{
	smtpd_cfg = cfg;
	if (!reload)
		tls_init();	/* before the privilege drop */
	strlcpy(smtpd_hostname, config_str(cfg, NULL, "hostname"),
	    sizeof(smtpd_hostname));
	if (reload)
		log_info("configuration reloaded: applies to new sessions");
}

static void
smtpd_on_listener(const char *name, const char *addr, int fd)
{
	struct smtp_listener	*l;

	l = xcalloc(1, sizeof(*l));
	strlcpy(l->name, name, sizeof(l->name));
	strlcpy(l->addr, addr, sizeof(l->addr));
	l->fd = fd;
	l->local = strcmp(name, "local") == 0;
	l->next = listeners;
	listeners = l;
}

static void
smtpd_accept(struct evconnlistener *evl, evutil_socket_t fd,
    struct sockaddr *sa, int salen, void *arg)
{
	fd_nodelay(fd);
	smtp_session_accept(arg, fd, sa, (socklen_t)salen);
}

static void
smtpd_accept_error(struct evconnlistener *evl, void *arg)
{
	struct smtp_listener	*l = arg;

	log_warn("accept on listener %s (%s)", l->name, l->addr);
}

static void
smtpd_start(void)
{
	struct smtp_listener	*l;

	for (l = listeners; l != NULL; l = l->next) {
		if (fd_nonblock(l->fd) == -1)
			fatal("listener %s (%s): nonblock", l->name, l->addr);
		l->evl = evconnlistener_new(daemon_base(), smtpd_accept, l,
		    LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC, -1, l->fd);
		if (l->evl == NULL)
			fatal("listener %s (%s)", l->name, l->addr);
		evconnlistener_set_error_cb(l->evl, smtpd_accept_error);
		log_info("listening name=%s address=%s", l->name, l->addr);
	}
	if (listeners == NULL)
		log_warnx("no listener received from facteurd");
}

static void
smtpd_on_peer(int proc, struct ipc_chan *chan)
{
	log_debug("peer %s is up", proc_name(proc));
}

static void
smtpd_on_peer_gone(int proc)
{
	log_info("peer %s is gone: failing its pending requests",
	    proc_name(proc));
	smtp_session_peer_gone(proc);
}

static void
smtpd_on_msg(struct ipc_chan *chan, int from, struct ipc_msg *msg)
{
	if (from == PROC_AUTH || from == PROC_QUEUE) {
		smtp_session_answer(from, msg);
		return;
	}
	if (from == PROC_MASTER && msg->hdr.type == IPC_TLS_MATERIAL) {
		smtpd_tls_material(msg);
		if (msg->fd != -1)
			close(msg->fd);
		return;
	}
	log_warnx("unexpected %s from %s", ipc_type_name(msg->hdr.type),
	    proc_name(from));
	if (msg->fd != -1)
		close(msg->fd);
}

static void
smtpd_on_stats(char *buf, size_t bufsz)
{
	smtp_session_stats(buf, bufsz);
}

static const struct daemon_ops smtpd_ops = {
	.proc = PROC_SMTPD,
	.config = smtpd_on_config,
	.listener = smtpd_on_listener,
	.peer = smtpd_on_peer,
	.peer_gone = smtpd_on_peer_gone,
	.msg = smtpd_on_msg,
	.start = smtpd_start,
	.stats = smtpd_on_stats,
};

int
main(int argc, char **argv)
{
	return daemon_main(argc, argv, &smtpd_ops);
}
