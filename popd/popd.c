/*
 * popd: the POP3 server's pre-login half (RFC 1939 4, RFC 2449, RFC 2595,
 * RFC 5034, RFC 8314 for implicit TLS on 995). facteurd hands it the
 * listeners "pop3" (STLS) and "pop3s" (implicit TLS), the TLS material,
 * and channels to auth and popd-mail. It greets, answers CAPA, runs TLS,
 * checks logins through auth, and hands the session to popd-mail. It runs
 * chrooted to an empty directory and never sees a mailbox.
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

#include "config.h"
#include "daemon.h"
#include "ipc.h"
#include "log.h"
#include "proc.h"
#include "tls.h"
#include "util.h"
#include "popd.h"

char				 popd_hostname[256];
static const struct config	*popd_cfg;
static struct pop3_listener	*listeners;
static SSL_CTX			*tls_ctx;
static uint32_t			 last_reqid;

const struct config *
popd_config(void)
{
	return popd_cfg;
}

SSL_CTX *
popd_tls_ctx(void)
{
	return tls_ctx;
}

uint32_t
popd_new_reqid(void)
{
	if (++last_reqid == 0)
		last_reqid = 1;
	return last_reqid;
}

int
popd_send(int proc, uint32_t type, uint32_t reqid, int fd, const void *data,
    size_t len)
{
	struct ipc_chan	*chan;

	if ((chan = daemon_peer(proc)) == NULL)
		return -1;
	return ipc_send(chan, type, reqid, fd, data, len);
}

static void
popd_on_config(const struct config *cfg, int reload)
{
	popd_cfg = cfg;
	strlcpy(popd_hostname, config_str(cfg, NULL, "hostname"),
	    sizeof(popd_hostname));
	if (!reload)
		tls_init();
	else
		log_info("configuration reloaded: applies to new sessions");
}

static void
popd_on_listener(const char *name, const char *addr, int fd)
{
	struct pop3_listener	*l;

	l = xcalloc(1, sizeof(*l));
	strlcpy(l->name, name, sizeof(l->name));
	strlcpy(l->addr, addr, sizeof(l->addr));
	l->fd = fd;
	l->implicit_tls = strcmp(name, "pop3s") == 0;
	l->next = listeners;
	listeners = l;
}

static void
popd_accept(struct evconnlistener *evl, evutil_socket_t fd,
    struct sockaddr *sa, int salen, void *arg)
{
	fd_nodelay(fd);
	pop3_login_accept(arg, fd, sa, (socklen_t)salen);
}

static void
popd_accept_error(struct evconnlistener *evl, void *arg)
{
	struct pop3_listener	*l = arg;

	log_warn("accept on listener %s (%s)", l->name, l->addr);
}

static void
popd_start(void)
{
	struct pop3_listener	*l;

	for (l = listeners; l != NULL; l = l->next) {
		if (l->implicit_tls && tls_ctx == NULL) {
			log_warnx("listener %s (%s): no TLS material "
			    "(tls_cert, tls_key): connections are refused",
			    l->name, l->addr);
		}
		if (fd_nonblock(l->fd) == -1)
			fatal("listener %s (%s): nonblock", l->name, l->addr);
		l->evl = evconnlistener_new(daemon_base(), popd_accept, l,
		    LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC, -1, l->fd);
		if (l->evl == NULL)
			fatal("listener %s (%s)", l->name, l->addr);
		evconnlistener_set_error_cb(l->evl, popd_accept_error);
		log_info("listening name=%s address=%s", l->name, l->addr);
	}
	if (listeners == NULL)
		log_warnx("no listener received from facteurd");
}

static void
popd_tls_material(struct ipc_msg *msg)
{
	struct ipc_rbuf	 r;
	char		*cert, *key, err[512];
	SSL_CTX		*ctx;

	ipc_rbuf_init(&r, msg->data, msg->hdr.len);
	cert = ipc_get_strdup(&r);
	key = ipc_get_strdup(&r);
	if (cert == NULL || key == NULL || ipc_get_end(&r) == -1) {
		log_warnx("bad TLS_MATERIAL frame");
		goto done;
	}
	if ((ctx = tls_server_ctx(cert, key, err, sizeof(err))) == NULL) {
		log_warnx("TLS material refused: %s; keeping the previous",
		    err);
		goto done;
	}
	/* sessions hold their own reference on the old context */
	if (tls_ctx != NULL)
		SSL_CTX_free(tls_ctx);
	tls_ctx = ctx;
	log_info("TLS material loaded");
 done:
	if (key != NULL) {
		explicit_bzero(key, strlen(key));
		free(key);
	}
	free(cert);
}

static void
popd_on_peer(int proc, struct ipc_chan *chan)
{
	log_debug("peer %s is up", proc_name(proc));
}

static void
popd_on_peer_gone(int proc)
{
	log_info("peer %s is gone", proc_name(proc));
	pop3_login_peer_gone(proc);
}

static void
popd_on_msg(struct ipc_chan *chan, int from, struct ipc_msg *msg)
{
	if (from == PROC_MASTER && msg->hdr.type == IPC_TLS_MATERIAL) {
		popd_tls_material(msg);
	} else if (from == PROC_AUTH || from == PROC_POPD_MAIL) {
		pop3_login_answer(from, msg);
	} else
		log_warnx("unexpected %s from %s",
		    ipc_type_name(msg->hdr.type), proc_name(from));
	if (msg->fd != -1) {
		close(msg->fd);
		msg->fd = -1;
	}
}

static void
popd_on_stats(char *buf, size_t bufsz)
{
	pop3_login_stats(buf, bufsz);
}

static const struct daemon_ops popd_ops = {
	.proc = PROC_POPD,
	.config = popd_on_config,
	.listener = popd_on_listener,
	.peer = popd_on_peer,
	.peer_gone = popd_on_peer_gone,
	.msg = popd_on_msg,
	.start = popd_start,
	.stats = popd_on_stats,
};

int
main(int argc, char **argv)
{
	return daemon_main(argc, argv, &popd_ops);
}
