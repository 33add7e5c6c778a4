/*
 * queue: the spool owner. Creates and commits message files for smtpd,
 * keeps the LMDB index of per-recipient progress, sends deliveries to
 * deliver, retries and expires, and answers the control socket's queue
 * requests (forwarded by facteurd).
 *
 * This file is the daemon glue: configuration, start-up and the
 * decode-act-reply dispatch of IPC frames. See queue.h for the map.
 */
#include <sys/types.h>

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "daemon.h"
#include "ipc.h"
#include "log.h"
#include "util.h"
#include "queue.h"

struct queue_conf	qconf;

static int
first_domain(const char *word, void *arg)
{
	snprintf(arg, ADDR_MAX, "postmaster@%s", word);
	return 1;
}

static void
queue_config(const struct config *cf, int reload)
{
	qconf.retry_min = config_num(cf, NULL, "queue_retry_min");
	qconf.retry_max = config_num(cf, NULL, "queue_retry_max");
	qconf.lifetime = config_num(cf, NULL, "queue_lifetime");
	if (qconf.retry_min == 0)
		qconf.retry_min = 1;
	if (qconf.retry_max < qconf.retry_min)
		qconf.retry_max = qconf.retry_min;
	qconf.delay_warning = config_num(cf, NULL, "delay_warning_time");
	qconf.bounce_size_limit = config_num(cf, NULL, "bounce_size_limit");
	strlcpy(qconf.hostname, config_str(cf, NULL, "hostname"),
	    sizeof(qconf.hostname));
	strlcpy(qconf.postmaster, config_str(cf, NULL, "postmaster_address"),
	    sizeof(qconf.postmaster));
	if (qconf.postmaster[0] == '\0') {
		strlcpy(qconf.postmaster, "postmaster",
		    sizeof(qconf.postmaster));
		config_list(cf, NULL, "domains", first_domain,
		    qconf.postmaster);
	}
	if (reload)
		return;		/* threads and map size are set at start */
	qconf.commit_threads = config_num(cf, NULL, "queue_commit_threads");
	if (qconf.commit_threads < 1)
		qconf.commit_threads = 1;
	if (qconf.commit_threads > 64)
		qconf.commit_threads = 64;
	qconf.map_size = config_num(cf, NULL, "lmdb_map_size");
}

static void
sched_one(struct qmsg *m, void *arg)
{
	sched_message(m);
}

static void
queue_start(void)
{
	sched_init();
	queue_fs_init();
	qdb_open(QUEUE_DB_FILE, qconf.map_size);
	queue_fs_reconcile();
	qmsg_foreach(sched_one, NULL);
	sched_pump();
	sched_flush();
}

static void
queue_peer(int proc, struct ipc_chan *chan)
{
	if (!daemon_started())
		return;
	if (proc == PROC_DELIVER)
		sched_pump();	/* resends what the old deliver had */
	else if (proc == PROC_AUTH)
		expand_auth_up();
}

static void
queue_peer_gone(int proc)
{
	if (proc == PROC_SMTPD)
		queue_fs_smtpd_gone();
	else if (proc == PROC_DELIVER)
		sched_deliver_gone();
	else if (proc == PROC_AUTH)
		expand_auth_gone();
}

static void
queue_msg_smtpd(struct ipc_chan *chan, struct ipc_msg *msg)
{
	static struct ipc_wbuf	 w;
	struct ipc_rbuf	 r;
	char		 id[QUEUEID_LEN + 1], *text;
	uint64_t	 size;

	ipc_rbuf_init(&r, msg->data, msg->hdr.len);
	if (!daemon_started()) {
		/* before the drop we are not in the spool: try again later */
		log_warnx("smtpd: %s before start", ipc_type_name(
		    msg->hdr.type));
		if (msg->hdr.type == IPC_QUEUE_CREATE) {
			ipc_wbuf_init(&w);
			ipc_put_u32(&w, QUEUE_TEMPFAIL);
			ipc_put_str(&w, "");
			ipc_sendw(chan, IPC_QUEUE_CREATED, msg->hdr.reqid, -1,
			    &w);
		} else if (msg->hdr.type == IPC_QUEUE_COMMIT) {
			ipc_wbuf_init(&w);
			ipc_put_u32(&w, QUEUE_TEMPFAIL);
			ipc_get_str(&r, id, sizeof(id));
			ipc_put_str(&w, id);
			ipc_sendw(chan, IPC_QUEUE_COMMITTED, msg->hdr.reqid,
			    -1, &w);
		}
		return;
	}
	switch (msg->hdr.type) {
	case IPC_QUEUE_CREATE:
		text = ipc_get_strdup(&r);
		if (text == NULL || ipc_get_end(&r) == -1) {
			log_warnx("smtpd: bad %s frame", ipc_type_name(
			    msg->hdr.type));
			free(text);
			return;
		}
		queue_fs_create(chan, msg->hdr.reqid, text);
		free(text);
		break;
	case IPC_QUEUE_COMMIT:
		ipc_get_str(&r, id, sizeof(id));
		size = ipc_get_u64(&r);
		if (ipc_get_end(&r) == -1 || !queueid_valid(id)) {
			log_warnx("smtpd: bad %s frame", ipc_type_name(
			    msg->hdr.type));
			return;
		}
		queue_fs_commit(chan, msg->hdr.reqid, id, size);
		break;
	case IPC_QUEUE_ABORT:
		ipc_get_str(&r, id, sizeof(id));
		if (ipc_get_end(&r) == -1 || !queueid_valid(id)) {
			log_warnx("smtpd: bad %s frame", ipc_type_name(
			    msg->hdr.type));
			return;
		}
		queue_fs_abort(id);
		break;
	default:
		log_warnx("smtpd: unexpected %s frame",
		    ipc_type_name(msg->hdr.type));
		break;
	}
}

static void
queue_msg_deliver(struct ipc_chan *chan, struct ipc_msg *msg)
{
	struct ipc_rbuf	 r;
	char		 id[QUEUEID_LEN + 1], *text;
	uint32_t	 idx, status;

	if (!daemon_started())
		return;		/* nothing was sent: an old deliver's answer */
	if (msg->hdr.type != IPC_DELIVER_RESULT) {
		log_warnx("deliver: unexpected %s frame",
		    ipc_type_name(msg->hdr.type));
		return;
	}
	ipc_rbuf_init(&r, msg->data, msg->hdr.len);
	ipc_get_str(&r, id, sizeof(id));
	idx = ipc_get_u32(&r);
	status = ipc_get_u32(&r);
	text = ipc_get_strdup(&r);
	if (text == NULL || ipc_get_end(&r) == -1 || !queueid_valid(id)) {
		log_warnx("deliver: bad %s frame",
		    ipc_type_name(msg->hdr.type));
		free(text);
		return;
	}
	sched_result(id, idx, status, text);
	free(text);
}

static void
queue_msg_auth(struct ipc_chan *chan, struct ipc_msg *msg)
{
	if (!daemon_started())
		return;		/* nothing was asked */
	if (msg->hdr.type != IPC_AUTH_EXPAND_RESULT) {
		log_warnx("auth: unexpected %s frame",
		    ipc_type_name(msg->hdr.type));
		return;
	}
	expand_result(msg->hdr.reqid, msg->data, msg->hdr.len);
}

static void
queue_msg_master(struct ipc_chan *chan, struct ipc_msg *msg)
{
	static struct ipc_wbuf	 w;
	struct ipc_rbuf		 r;
	char			 id[QUEUEID_LEN + 1], sel[ADDR_MAX + 8];
	uint32_t		 n;

	ipc_rbuf_init(&r, msg->data, msg->hdr.len);
	if (!daemon_started() && msg->hdr.type >= IPC_CTL_QUEUE_LIST) {
		/* not in the spool yet: nothing to show */
		ipc_wbuf_init(&w);
		ipc_put_u32(&w, 0);
		ipc_sendw(chan, IPC_CTL_QUEUE_END, msg->hdr.reqid, -1, &w);
		return;
	}
	switch (msg->hdr.type) {
	case IPC_CTL_QUEUE_SHOW:
		ipc_get_str(&r, id, sizeof(id));
		if (ipc_get_end(&r) == -1) {
			log_warnx("facteurd: bad %s frame",
			    ipc_type_name(msg->hdr.type));
			id[0] = '\0';
		}
		ctl_show(chan, msg->hdr.reqid, id);
		break;
	case IPC_CTL_QUEUE_HOLD:
	case IPC_CTL_QUEUE_RELEASE:
	case IPC_CTL_QUEUE_DELETE:
	case IPC_CTL_QUEUE_REQUEUE:
		ipc_get_str(&r, sel, sizeof(sel));
		if (ipc_get_end(&r) == -1) {
			log_warnx("facteurd: bad %s frame",
			    ipc_type_name(msg->hdr.type));
			n = 0;
		} else
			n = ctl_select(msg->hdr.type, sel);
		ipc_wbuf_init(&w);
		ipc_put_u32(&w, n);
		ipc_sendw(chan, IPC_CTL_QUEUE_END, msg->hdr.reqid, -1, &w);
		break;
	case IPC_CTL_QUEUE_LIST:
		if (ipc_get_end(&r) == -1) {
			log_warnx("facteurd: bad %s frame",
			    ipc_type_name(msg->hdr.type));
			return;
		}
		sched_list(chan, msg->hdr.reqid);
		break;
	case IPC_CTL_QUEUE_FLUSH:
		ipc_get_str(&r, id, sizeof(id));
		if (ipc_get_end(&r) == -1 ||
		    (id[0] != '\0' && !queueid_valid(id))) {
			log_warnx("facteurd: bad %s frame",
			    ipc_type_name(msg->hdr.type));
			n = 0;
		} else
			n = sched_flush_request(id);
		ipc_wbuf_init(&w);
		ipc_put_u32(&w, n);
		ipc_sendw(chan, IPC_CTL_QUEUE_END, msg->hdr.reqid, -1, &w);
		break;
	default:
		log_warnx("facteurd: unexpected %s frame",
		    ipc_type_name(msg->hdr.type));
		break;
	}
}

static void
queue_msg(struct ipc_chan *chan, int from, struct ipc_msg *msg)
{
	if (msg->fd != -1) {
		close(msg->fd);		/* nobody sends us an fd */
		msg->fd = -1;
	}
	switch (from) {
	case PROC_SMTPD:
		queue_msg_smtpd(chan, msg);
		break;
	case PROC_DELIVER:
		queue_msg_deliver(chan, msg);
		break;
	case PROC_MASTER:
		queue_msg_master(chan, msg);
		break;
	case PROC_AUTH:
		queue_msg_auth(chan, msg);
		break;
	default:
		log_warnx("%s: unexpected %s frame", proc_name(from),
		    ipc_type_name(msg->hdr.type));
		break;
	}
}

static void
queue_stats(char *buf, size_t bufsz)
{
	sched_stats(buf, bufsz);
}

static const struct daemon_ops queue_ops = {
	.proc = PROC_QUEUE,
	.config = queue_config,
	.peer = queue_peer,
	.peer_gone = queue_peer_gone,
	.msg = queue_msg,
	.start = queue_start,
	.stats = queue_stats,
};

int
main(int argc, char **argv)
{
	return daemon_main(argc, argv, &queue_ops);
}
