/*
 * One request to facteurd over <run_dir>/control.sock (AF_UNIX
 * SOCK_SEQPACKET, common/ipc.h framing, self PROC_CTL, peer PROC_MASTER),
 * and the answer frames, each handed to the caller's function. facteurd
 * answers status requests itself and hands queue requests to the queue
 * daemon (master/control.c).
 */
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/un.h>

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "config.h"
#include "ctl.h"
#include "ipc.h"
#include "proc.h"
#include "util.h"

#define CTL_TIMEOUT		30	/* seconds without a frame */
#define CTL_QUEUE_DOWN		0xffffffffU
#define CTL_REQID		1

struct ctl_req {
	struct event_base	*base;
	struct ipc_chan		*chan;
	struct event		*timer;
	ctl_frame_fn		*frame;
	int			 done;
	int			 failed;
	void			*arg;
};

static int
ctl_connect(const struct config *conf)
{
	struct sockaddr_un	 sun;
	const char		*run_dir = config_str(conf, NULL, "run_dir");
	int			 fd;

	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	if ((size_t)snprintf(sun.sun_path, sizeof(sun.sun_path),
	    "%s/control.sock", run_dir) >= sizeof(sun.sun_path)) {
		fprintf(stderr, "%s: %s/control.sock: path too long\n",
		    ctl_progname, run_dir);
		return -1;
	}
	if ((fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0)) == -1) {
		fprintf(stderr, "%s: socket: %s\n", ctl_progname,
		    strerror(errno));
		return -1;
	}
	if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) == -1) {
		if (errno == ENOENT || errno == ECONNREFUSED ||
		    errno == ENOTDIR)
			fprintf(stderr, "%s: facteur is not running (cannot "
			    "connect to %s: %s)\n", ctl_progname,
			    sun.sun_path, strerror(errno));
		else
			fprintf(stderr, "%s: cannot connect to %s: %s%s\n",
			    ctl_progname, sun.sun_path, strerror(errno),
			    errno == EACCES ? " (run as root or as facteur's "
			    "user)" : "");
		close(fd);
		return -1;
	}
	if (fd_nonblock(fd) == -1) {
		fprintf(stderr, "%s: %s: %s\n", ctl_progname, sun.sun_path,
		    strerror(errno));
		close(fd);
		return -1;
	}
	return fd;
}

static void
ctl_finish(struct ctl_req *req, int failed)
{
	req->done = 1;
	req->failed = failed;
	event_base_loopbreak(req->base);
}

static void
ctl_timeout(int fd, short ev, void *arg)
{
	struct ctl_req	*req = arg;

	fprintf(stderr, "%s: no answer from facteurd in %d seconds\n",
	    ctl_progname, CTL_TIMEOUT);
	ctl_finish(req, 1);
}

static void
ctl_on_msg(struct ipc_chan *chan, struct ipc_msg *msg, void *arg)
{
	struct ctl_req	*req = arg;
	struct timeval	 tv = { CTL_TIMEOUT, 0 };

	if (msg->fd != -1) {
		close(msg->fd);
		msg->fd = -1;
	}
	if (req->done)
		return;
	evtimer_add(req->timer, &tv);
	if (msg->hdr.reqid != CTL_REQID) {
		ctl_unexpected(msg);
		ctl_finish(req, 1);
		return;
	}
	switch (req->frame(req->arg, msg)) {
	case 0:
		break;
	case 1:
		ctl_finish(req, 0);
		break;
	default:
		ctl_finish(req, 1);
		break;
	}
}

static void
ctl_on_close(struct ipc_chan *chan, void *arg)
{
	struct ctl_req	*req = arg;

	if (req->done)
		return;
	fprintf(stderr, "%s: facteurd closed the connection (is this user "
	    "allowed to use the control socket? run as root or as "
	    "facteur's user)\n", ctl_progname);
	ctl_finish(req, 1);
}

int
ctl_request(const struct config *conf, uint32_t type,
    const struct ipc_wbuf *w, ctl_frame_fn *fn, void *arg)
{
	struct ctl_req	 req;
	struct timeval	 tv = { CTL_TIMEOUT, 0 };
	int		 fd;

	memset(&req, 0, sizeof(req));
	req.frame = fn;
	req.arg = arg;
	if ((fd = ctl_connect(conf)) == -1)
		return -1;
	if ((req.base = event_base_new()) == NULL) {
		fprintf(stderr, "%s: event_base_new failed\n", ctl_progname);
		close(fd);
		return -1;
	}
	req.timer = evtimer_new(req.base, ctl_timeout, &req);
	req.chan = ipc_chan_new(req.base, fd, PROC_CTL, PROC_MASTER,
	    ctl_on_msg, ctl_on_close, &req);
	if (req.chan == NULL) {
		fprintf(stderr, "%s: cannot set up the control channel\n",
		    ctl_progname);
		close(fd);
		req.failed = 1;
		goto out;
	}
	if (ipc_sendw(req.chan, type, CTL_REQID, -1, w) == -1) {
		fprintf(stderr, "%s: cannot send the request to facteurd\n",
		    ctl_progname);
		req.failed = 1;
		goto out;
	}
	evtimer_add(req.timer, &tv);
	while (!req.done)
		if (event_base_loop(req.base, EVLOOP_ONCE) == -1) {
			fprintf(stderr, "%s: event loop failed\n",
			    ctl_progname);
			req.failed = 1;
			break;
		}
out:
	if (req.chan != NULL)
		ipc_chan_free(req.chan);
	event_free(req.timer);
	event_base_free(req.base);
	return req.failed ? -1 : 0;
}

int64_t
ctl_queue_end_count(struct ipc_msg *msg)
{
	struct ipc_rbuf	r;
	uint32_t	count;

	ipc_rbuf_init(&r, msg->data, msg->hdr.len);
	count = ipc_get_u32(&r);
	if (ipc_get_end(&r) == -1) {
		fprintf(stderr, "%s: bad answer from facteurd\n",
		    ctl_progname);
		return -1;
	}
	if (count == CTL_QUEUE_DOWN) {
		fprintf(stderr, "%s: the queue daemon is not running\n",
		    ctl_progname);
		return -1;
	}
	return count;
}

int
ctl_unexpected(struct ipc_msg *msg)
{
	fprintf(stderr, "%s: unexpected %s frame from facteurd\n",
	    ctl_progname, ipc_type_name(msg->hdr.type));
	return -1;
}
