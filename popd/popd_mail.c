/*
 * popd-mail: the POP3 server's mail half. It runs as the mail store's
 * owner, chrooted to mail_dir (paths "domain/user"), and serves the
 * sessions popd hands it after a successful login (IPC_POP_SESSION, the
 * client socket or a relay socketpair riding along). It never sees a
 * password and parses nothing a client sent before its login.
 */
#include <sys/types.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "daemon.h"
#include "ipc.h"
#include "log.h"
#include "proc.h"
#include "util.h"
#include "handover.h"
#include "popd_mail.h"

char				 popd_mail_hostname[256];
static const struct config	*cfg;

const struct config *
popd_mail_config(void)
{
	return cfg;
}

static void
popd_mail_on_config(const struct config *c, int reload)
{
	cfg = c;
	strlcpy(popd_mail_hostname, config_str(c, NULL, "hostname"),
	    sizeof(popd_mail_hostname));
	if (reload)
		log_info("configuration reloaded: applies to new sessions");
}

static void
popd_mail_on_msg(struct ipc_chan *chan, int from, struct ipc_msg *msg)
{
	struct handover	h;

	if (from != PROC_POPD || msg->hdr.type != IPC_POP_SESSION) {
		log_warnx("unexpected %s from %s",
		    ipc_type_name(msg->hdr.type), proc_name(from));
		goto done;
	}
	if (handover_decode(msg, &h) == -1) {
		log_warnx("bad POP_SESSION frame from popd");
		goto done;
	}
	pop3_mail_start(&h, msg->hdr.reqid);
	handover_clear(&h);
 done:
	if (msg->fd != -1) {
		close(msg->fd);
		msg->fd = -1;
	}
}

static void
popd_mail_on_stats(char *buf, size_t bufsz)
{
	pop3_mail_stats(buf, bufsz);
}

static const struct daemon_ops popd_mail_ops = {
	.proc = PROC_POPD_MAIL,
	.config = popd_mail_on_config,
	.msg = popd_mail_on_msg,
	.stats = popd_mail_on_stats,
};

int
main(int argc, char **argv)
{
	return daemon_main(argc, argv, &popd_mail_ops);
}
