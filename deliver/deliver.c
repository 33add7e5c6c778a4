/*
 * deliver: local delivery into Maildirs, for queue. Runs as the mail
 * store's owner, chrooted (system mode) or chdir'ed (sandbox mode) in
 * mail_dir. Each IPC_DELIVER carries the committed spool file (read with
 * pread() only: queue may pass the same file for several recipients) and
 * is answered with one IPC_DELIVER_RESULT. Deliveries are done one after
 * the other in the event loop: they are local disk writes.
 */
#include <sys/types.h>
#include <sys/queue.h>

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "daemon.h"
#include "envelope.h"
#include "ipc.h"
#include "log.h"
#include "util.h"
#include "maildir.h"

/*
 * A request that arrives before IPC_START (facteurd sends PEER before
 * START, and queue writes at once) waits here: before the privilege drop
 * we are not in the mail root.
 */
struct early {
	TAILQ_ENTRY(early)	 entry;
	struct ipc_hdr		 hdr;
	uint8_t			*data;
	int			 fd;
};

static TAILQ_HEAD(, early)	early = TAILQ_HEAD_INITIALIZER(early);
static char			host[1024];

static void
deliver_config(const struct config *cf, int reload)
{
	maildir_escape_host(config_str(cf, NULL, "hostname"), host,
	    sizeof(host));
	if (host[0] == '\0')
		strlcpy(host, "localhost", sizeof(host));
}

static void
deliver_reply(struct ipc_chan *chan, uint32_t reqid, const char *id,
    uint32_t idx, int status, const char *text)
{
	static struct ipc_wbuf	w;

	ipc_wbuf_init(&w);
	ipc_put_str(&w, id);
	ipc_put_u32(&w, idx);
	ipc_put_u32(&w, status);
	ipc_put_str(&w, text);
	if (ipc_sendw(chan, IPC_DELIVER_RESULT, reqid, -1, &w) == -1)
		log_warnx("%s: cannot answer queue", id);
}

static void
deliver_one(struct ipc_chan *chan, struct ipc_msg *msg)
{
	struct maildir_req	 req;
	struct ipc_rbuf		 r;
	char			 id[QUEUEID_LEN + 1], mailbox[ADDR_MAX + 1];
	char			 rcpt[ADDR_MAX + 1], sender[ADDR_MAX + 1];
	char			 text[2048];
	uint64_t		 size;
	uint32_t		 flags;
	int			 status, already;

	memset(&req, 0, sizeof(req));
	ipc_rbuf_init(&r, msg->data, msg->hdr.len);
	ipc_get_str(&r, id, sizeof(id));
	req.rcptidx = ipc_get_u32(&r);
	req.arrival = ipc_get_u64(&r);
	req.offset = ipc_get_u64(&r);
	ipc_get_str(&r, mailbox, sizeof(mailbox));
	ipc_get_str(&r, rcpt, sizeof(rcpt));
	ipc_get_str(&r, sender, sizeof(sender));
	flags = ipc_get_u32(&r);
	if (ipc_get_end(&r) == -1 || !queueid_valid(id)) {
		log_warnx("queue: bad %s frame", ipc_type_name(msg->hdr.type));
		if (queueid_valid(id))
			deliver_reply(chan, msg->hdr.reqid, id, req.rcptidx,
			    DELIVER_TEMPFAIL, "bad delivery request");
		return;
	}
	if (msg->fd == -1) {
		log_warnx("%s: delivery request without a file", id);
		deliver_reply(chan, msg->hdr.reqid, id, req.rcptidx,
		    DELIVER_TEMPFAIL, "no spool file passed");
		return;
	}
	req.id = id;
	req.mailbox = mailbox;
	req.rcpt = rcpt;
	req.sender = sender;
	req.maybe_done = (flags & DELIVER_F_MAYBE_DONE) != 0;
	req.fd = msg->fd;

	status = maildir_deliver(&req, host, text, sizeof(text), &size,
	    &already);
	switch (status) {
	case DELIVER_OK:
		if (already)
			log_info("%s: to=<%s> maildir=%s file=%s already "
			    "stored", id, rcpt, mailbox, text);
		else
			log_info("%s: to=<%s> maildir=%s file=%s size=%"
			    PRIu64, id, rcpt, mailbox, text, size);
		break;
	case DELIVER_PERMFAIL:
		log_warnx("%s: to=<%s> maildir=%s status=permfail (%s)", id,
		    rcpt, mailbox, text);
		break;
	default:
		log_warnx("%s: to=<%s> maildir=%s status=tempfail (%s)", id,
		    rcpt, mailbox, text);
		break;
	}
	deliver_reply(chan, msg->hdr.reqid, id, req.rcptidx, status, text);
}

static void
deliver_msg(struct ipc_chan *chan, int from, struct ipc_msg *msg)
{
	struct early	*e;

	if (from == PROC_QUEUE && msg->hdr.type == IPC_DELIVER &&
	    !daemon_started()) {
		e = xcalloc(1, sizeof(*e));
		e->hdr = msg->hdr;
		e->data = xmalloc(msg->hdr.len ? msg->hdr.len : 1);
		memcpy(e->data, msg->data, msg->hdr.len);
		e->fd = msg->fd;
		msg->fd = -1;
		TAILQ_INSERT_TAIL(&early, e, entry);
		return;
	}
	if (from == PROC_QUEUE && msg->hdr.type == IPC_DELIVER)
		deliver_one(chan, msg);
	else
		log_warnx("%s: unexpected %s frame", proc_name(from),
		    ipc_type_name(msg->hdr.type));
	if (msg->fd != -1) {
		close(msg->fd);
		msg->fd = -1;
	}
}

static void
early_drop(void)
{
	struct early	*e;

	while ((e = TAILQ_FIRST(&early)) != NULL) {
		TAILQ_REMOVE(&early, e, entry);
		if (e->fd != -1)
			close(e->fd);
		free(e->data);
		free(e);
	}
}

static void
deliver_start(void)
{
	struct ipc_chan	*chan;
	struct ipc_msg	 msg;
	struct early	*e;

	while ((chan = daemon_peer(PROC_QUEUE)) != NULL &&
	    (e = TAILQ_FIRST(&early)) != NULL) {
		TAILQ_REMOVE(&early, e, entry);
		msg.hdr = e->hdr;
		msg.data = e->data;
		msg.fd = e->fd;
		deliver_one(chan, &msg);
		if (msg.fd != -1)
			close(msg.fd);
		free(e->data);
		free(e);
	}
	early_drop();
}

/* requests held for a queue channel that is gone are answered by nobody:
   queue sends them again to the next deliver */
static void
deliver_peer_gone(int proc)
{
	if (proc == PROC_QUEUE)
		early_drop();
}

static const struct daemon_ops deliver_ops = {
	.proc = PROC_DELIVER,
	.config = deliver_config,
	.peer_gone = deliver_peer_gone,
	.msg = deliver_msg,
	.start = deliver_start,
};

int
main(int argc, char **argv)
{
	return daemon_main(argc, argv, &deliver_ops);
}
