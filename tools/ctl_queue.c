/*
 * facteurctl queue list|flush, mailq, sendmail -bp, facteurctl status:
 * requests to facteurd over <run_dir>/control.sock (AF_UNIX SOCK_SEQPACKET,
 * common/ipc.h framing, self PROC_CTL, peer PROC_MASTER). facteurd hands
 * queue requests to the queue daemon and streams its answers back.
 *
 * The listing is printed the way Postfix's mailq prints it; the entry
 * format is documented in queue/queue.h.
 */
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/un.h>

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "config.h"
#include "ctl.h"
#include "envelope.h"
#include "ipc.h"
#include "proc.h"
#include "util.h"

#define CTL_TIMEOUT		30	/* seconds without a frame */
#define CTL_QUEUE_DOWN		0xffffffffU
#define CTL_REQID		1

struct ctl_req;
typedef int	ctl_frame_fn(struct ctl_req *, struct ipc_msg *);

struct ctl_req {
	struct event_base	*base;
	struct ipc_chan		*chan;
	struct event		*timer;
	ctl_frame_fn		*frame;
	int			 done;
	int			 failed;
	void			*arg;
};

/* --- the connection --- */

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

	if (msg->fd != -1)
		close(msg->fd);
	if (req->done)
		return;
	evtimer_add(req->timer, &tv);
	if (msg->hdr.reqid != CTL_REQID) {
		fprintf(stderr, "%s: unexpected %s frame from facteurd\n",
		    ctl_progname, ipc_type_name(msg->hdr.type));
		ctl_finish(req, 1);
		return;
	}
	switch (req->frame(req, msg)) {
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

/*
 * Sends one request and feeds every answer frame to fn until it returns 1
 * (done) or -1 (failed, it printed why). Returns 0 or -1.
 */
static int
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

/* --- the listing --- */

struct listing {
	unsigned long	 nmsg;
	uint64_t	 bytes;
};

/* decodes an envelope_encode()d value; "" and "-" both mean empty */
static void
value_decode(const char *in, char *out, size_t outsz)
{
	if (envelope_decode(in, out, outsz) == -1)
		strlcpy(out, in, outsz);
	if (strcmp(out, "-") == 0)
		out[0] = '\0';
}

static const char *
sender_shown(const char *s)
{
	if (*s == '\0' || strcmp(s, "<>") == 0)
		return "MAILER-DAEMON";
	return s;
}

/* "ADDR,STATE,ATTEMPTS,NEXT,ERROR": prints it unless it is final */
static void
listing_rcpt(char *val)
{
	char	*field[5], *p = val;
	char	 addr[ADDR_MAX * 3 + 1], error[IPC_MAX_STR];
	int	 i;

	for (i = 0; i < 5; i++)
		field[i] = NULL;
	for (i = 0; i < 5 && p != NULL; i++) {
		field[i] = p;
		if (i < 4 && (p = strchr(p, ',')) != NULL)
			*p++ = '\0';
	}
	if (field[0] == NULL)
		return;
	if (field[1] != NULL && (strcmp(field[1], "delivered") == 0 ||
	    strcmp(field[1], "bounced") == 0))
		return;
	value_decode(field[0], addr, sizeof(addr));
	error[0] = '\0';
	if (field[4] != NULL)
		value_decode(field[4], error, sizeof(error));
	if (error[0] != '\0')
		printf("%47s(%s)\n", "", error);
	printf("%48s%s\n", "", addr);
}

static int
listing_entry(struct listing *l, const char *text)
{
	char		*copy, *word, *next, *val;
	char		 id[64] = "?", sender[ADDR_MAX * 3 + 1] = "";
	char		 when[32];
	unsigned long	 more = 0;
	uint64_t	 size = 0;
	time_t		 arrival = 0;
	int		 held = 0, header = 0;

	if (l->nmsg == 0)
		printf("%-17s %8s %-20s %s\n", "-Queue ID-", "--Size--",
		    "----Arrival Time----", "-Sender/Recipient-------");
	else
		printf("\n");
	l->nmsg++;
	copy = xstrdup(text);
	for (word = copy; word != NULL; word = next) {
		if ((next = strchr(word, ' ')) != NULL)
			*next++ = '\0';
		if (*word == '\0' || (val = strchr(word, '=')) == NULL)
			continue;
		*val++ = '\0';
		if (strcmp(word, "rcpt") == 0) {
			if (!header) {
				/* asctime's first 20 characters, as Postfix */
				strftime(when, sizeof(when), "%a %b %e %H:%M:%S ",
				    localtime(&arrival));
				printf("%-16.16s%c %8" PRIu64 " %20.20s %s\n",
				    id, held ? '!' : ' ', size, when,
				    sender_shown(sender));
				header = 1;
			}
			listing_rcpt(val);
		} else if (strcmp(word, "id") == 0)
			value_decode(val, id, sizeof(id));
		else if (strcmp(word, "arrival") == 0)
			arrival = strtoll(val, NULL, 10);
		else if (strcmp(word, "size") == 0)
			size = strtoull(val, NULL, 10);
		else if (strcmp(word, "sender") == 0)
			value_decode(val, sender, sizeof(sender));
		else if (strcmp(word, "held") == 0)
			held = strcmp(val, "0") != 0;
		else if (strcmp(word, "more") == 0)
			more = strtoul(val, NULL, 10);
	}
	if (!header) {
		strftime(when, sizeof(when), "%a %b %e %H:%M:%S ",
		    localtime(&arrival));
		printf("%-16.16s%c %8" PRIu64 " %20.20s %s\n", id,
		    held ? '!' : ' ', size, when, sender_shown(sender));
	}
	if (more > 0)
		printf("%48s(%lu more recipient%s)\n", "", more,
		    more == 1 ? "" : "s");
	l->bytes += size;
	free(copy);
	return 0;
}

/* the count in IPC_CTL_QUEUE_END, or -1 after printing why */
static int64_t
queue_end_count(struct ipc_msg *msg)
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

static int
list_frame(struct ctl_req *req, struct ipc_msg *msg)
{
	struct listing	*l = req->arg;
	struct ipc_rbuf	 r;
	char		*text;

	switch (msg->hdr.type) {
	case IPC_CTL_QUEUE_ENTRY:
		ipc_rbuf_init(&r, msg->data, msg->hdr.len);
		text = ipc_get_strdup(&r);
		if (text == NULL || ipc_get_end(&r) == -1) {
			free(text);
			fprintf(stderr, "%s: bad queue entry from facteurd\n",
			    ctl_progname);
			return -1;
		}
		listing_entry(l, text);
		free(text);
		return 0;
	case IPC_CTL_QUEUE_END:
		return queue_end_count(msg) == -1 ? -1 : 1;
	default:
		fprintf(stderr, "%s: unexpected %s frame from facteurd\n",
		    ctl_progname, ipc_type_name(msg->hdr.type));
		return -1;
	}
}

int
ctl_queue_list(const struct config *conf)
{
	struct listing	l;
	struct ipc_wbuf	w;

	memset(&l, 0, sizeof(l));
	ipc_wbuf_init(&w);
	if (ctl_request(conf, IPC_CTL_QUEUE_LIST, &w, list_frame, &l) == -1) {
		fflush(stdout);
		return -1;
	}
	if (l.nmsg == 0)
		printf("Mail queue is empty\n");
	else
		printf("-- %" PRIu64 " Kbytes in %lu Request%s.\n",
		    (l.bytes + 1023) / 1024, l.nmsg, l.nmsg == 1 ? "" : "s");
	if (fflush(stdout) == EOF)
		return -1;
	return 0;
}

/* --- flush --- */

/* a queue id as typed (any case) into buf, upper-case: 16 hex digits */
static int
queueid_arg(const char *arg, char *buf, size_t bufsz)
{
	size_t	i;

	if (strlen(arg) != QUEUEID_LEN || bufsz < QUEUEID_LEN + 1)
		return -1;
	for (i = 0; i < QUEUEID_LEN; i++) {
		if (!isxdigit((unsigned char)arg[i]))
			return -1;
		buf[i] = toupper((unsigned char)arg[i]);
	}
	buf[i] = '\0';
	return 0;
}

static int
flush_frame(struct ctl_req *req, struct ipc_msg *msg)
{
	int64_t	*count = req->arg;

	if (msg->hdr.type != IPC_CTL_QUEUE_END) {
		fprintf(stderr, "%s: unexpected %s frame from facteurd\n",
		    ctl_progname, ipc_type_name(msg->hdr.type));
		return -1;
	}
	if ((*count = queue_end_count(msg)) == -1)
		return -1;
	return 1;
}

int
ctl_queue_flush(const struct config *conf, const char *id)
{
	struct ipc_wbuf	 w;
	char		 qid[QUEUEID_LEN + 1];
	int64_t		 count = 0;

	if (id == NULL)
		id = "";
	if (*id != '\0') {
		if (queueid_arg(id, qid, sizeof(qid)) == -1) {
			fprintf(stderr, "%s: %s is not a queue id\n",
			    ctl_progname, id);
			return -1;
		}
		id = qid;
	}
	ipc_wbuf_init(&w);
	ipc_put_str(&w, id);
	if (ctl_request(conf, IPC_CTL_QUEUE_FLUSH, &w, flush_frame,
	    &count) == -1)
		return -1;
	if (*id != '\0' && count == 0) {
		fprintf(stderr, "%s: %s: no such message, or nothing deferred "
		    "to flush\n", ctl_progname, id);
		return -1;
	}
	printf("%" PRId64 " message%s scheduled for delivery now\n", count,
	    count == 1 ? "" : "s");
	return 0;
}

/* --- status --- */

static void
uptime_format(unsigned long long s, char *buf, size_t bufsz)
{
	if (s >= 86400)
		snprintf(buf, bufsz, "%llud%02lluh", s / 86400,
		    s % 86400 / 3600);
	else if (s >= 3600)
		snprintf(buf, bufsz, "%lluh%02llum", s / 3600, s % 3600 / 60);
	else if (s >= 60)
		snprintf(buf, bufsz, "%llum%02llus", s / 60, s % 60);
	else
		snprintf(buf, bufsz, "%llus", s);
}

/* "name=smtpd pid=N uptime=S restarts=N" as one table row */
static void
status_line(const char *text)
{
	char			*copy, *word, *next, *val;
	char			 name[32] = "?", up[32];
	unsigned long long	 uptime = 0;
	long			 pid = 0;
	unsigned long		 restarts = 0;

	copy = xstrdup(text);
	for (word = copy; word != NULL; word = next) {
		if ((next = strchr(word, ' ')) != NULL)
			*next++ = '\0';
		if ((val = strchr(word, '=')) == NULL)
			continue;
		*val++ = '\0';
		if (strcmp(word, "name") == 0)
			strlcpy(name, val, sizeof(name));
		else if (strcmp(word, "pid") == 0)
			pid = strtol(val, NULL, 10);
		else if (strcmp(word, "uptime") == 0)
			uptime = strtoull(val, NULL, 10);
		else if (strcmp(word, "restarts") == 0)
			restarts = strtoul(val, NULL, 10);
	}
	free(copy);
	if (pid > 0) {
		uptime_format(uptime, up, sizeof(up));
		printf("%-10s %-8ld %-8s %lu\n", name, pid, up, restarts);
	} else
		printf("%-10s %-8s %-8s %lu\n", name, "-", "down", restarts);
}

static int
status_frame(struct ctl_req *req, struct ipc_msg *msg)
{
	struct ipc_rbuf	 r;
	char		*text;
	uint32_t	 count, i;

	if (msg->hdr.type != IPC_CTL_STATUS) {
		fprintf(stderr, "%s: unexpected %s frame from facteurd\n",
		    ctl_progname, ipc_type_name(msg->hdr.type));
		return -1;
	}
	ipc_rbuf_init(&r, msg->data, msg->hdr.len);
	count = ipc_get_u32(&r);
	if (r.error || count > 64) {
		fprintf(stderr, "%s: bad status from facteurd\n",
		    ctl_progname);
		return -1;
	}
	printf("%-10s %-8s %-8s %s\n", "DAEMON", "PID", "UPTIME",
	    "RESTARTS");
	for (i = 0; i < count; i++) {
		if ((text = ipc_get_strdup(&r)) == NULL) {
			fprintf(stderr, "%s: bad status from facteurd\n",
			    ctl_progname);
			return -1;
		}
		status_line(text);
		free(text);
	}
	return 1;
}

int
ctl_status(const struct config *conf)
{
	struct ipc_wbuf	w;

	ipc_wbuf_init(&w);
	if (ctl_request(conf, IPC_CTL_STATUS, &w, status_frame, NULL) == -1)
		return -1;
	return fflush(stdout) == EOF ? -1 : 0;
}
