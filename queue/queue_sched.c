/*
 * The messages in the queue (in memory, mirrored in the index) and their
 * scheduling: deliveries to deliver (at most QUEUE_MAX_INFLIGHT at once),
 * results, retries with backoff, expiry after queue_lifetime, removal of
 * finished messages, and the control requests (listing, flush).
 *
 * Every change of a recipient's state marks its message dirty; dirty
 * messages are written to the index in one transaction per event loop
 * turn (sched_flush). A lost update is harmless: the recipient is sent
 * again with DELIVER_F_MAYBE_DONE and deliver finds it stored already.
 *
 * Retry schedule: queue_retry_min, doubled per failed attempt, at most
 * queue_retry_max, plus up to 10% jitter. Remote recipients (mailbox "-")
 * are deferred "no relay configured" on the same schedule until a relay
 * exists; they are never dropped, and bounce only at queue_lifetime
 * (status=expired, DSN 4.4.7).
 *
 * A recipient whose mailbox starts with '@' is an alias (auth said so at
 * RCPT time): it is expanded through auth (queue_expand.c) before any
 * delivery. A message is removed when every recipient is final
 * (delivered, bounced, expanded) and every notification it owes is
 * committed (queue_bounce.c).
 */
#include <sys/types.h>
#include <sys/time.h>

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "daemon.h"
#include "ipc.h"
#include "log.h"
#include "util.h"
#include "queue.h"

struct qjob {
	TAILQ_ENTRY(qjob)	entry;
	char			id[QUEUEID_LEN + 1];
	uint32_t		idx;
};

RB_HEAD(qmsg_tree, qmsg);

static int
qmsg_cmp(struct qmsg *a, struct qmsg *b)
{
	return strcmp(a->id, b->id);
}
/* libbsd's sys/cdefs.h leaves __unused undefined (Debian #522773) */
#ifndef __unused
#define __unused	__attribute__((__unused__))
#endif
RB_GENERATE_STATIC(qmsg_tree, qmsg, entry, qmsg_cmp)

static struct qmsg_tree		msgs = RB_INITIALIZER(&msgs);
static size_t			nmsgs;
static TAILQ_HEAD(, qmsg)	dirty = TAILQ_HEAD_INITIALIZER(dirty);
static TAILQ_HEAD(, qjob)	jobs = TAILQ_HEAD_INITIALIZER(jobs);
static int			inflight;
static struct event		*timer_ev, *flush_ev;
static uint64_t			last_reader_check;

static struct {
	uint64_t	received;
	uint64_t	delivered;
	uint64_t	deferred;
	uint64_t	bounced;
	uint64_t	expired;
	uint64_t	expanded;
} stats;

static const char *state_names[] = {
	"pending", "deferred", "delivered", "bounced", "expanded"
};

const char *
rcpt_state_name(int s)
{
	if (s < 0 || s > RS_EXPANDED)
		return "?";
	return state_names[s];
}

int
rcpt_state_parse(const char *s)
{
	int	i;

	for (i = 0; i <= RS_EXPANDED; i++)
		if (strcmp(s, state_names[i]) == 0)
			return i;
	return -1;
}

/* --- the messages --- */

struct qmsg *
qmsg_new(const char *id)
{
	struct qmsg	*m;

	m = xcalloc(1, sizeof(*m));
	strlcpy(m->id, id, sizeof(m->id));
	envelope_init(&m->env);
	return m;
}

void
qmsg_free(struct qmsg *m)
{
	size_t	i;

	if (m->rcpt != NULL) {
		for (i = 0; i < m->env.nrcpt; i++)
			free(m->rcpt[i].error);
		free(m->rcpt);
	}
	envelope_clear(&m->env);
	free(m);
}

struct qmsg *
qmsg_find(const char *id)
{
	struct qmsg	key;

	strlcpy(key.id, id, sizeof(key.id));
	return RB_FIND(qmsg_tree, &msgs, &key);
}

void
qmsg_insert(struct qmsg *m)
{
	if (RB_INSERT(qmsg_tree, &msgs, m) != NULL)
		fatalx("%s: duplicate queue id", m->id);
	nmsgs++;
}

void
qmsg_dirty(struct qmsg *m)
{
	static const struct timeval	now = { 0, 0 };

	if (m->dirty)
		return;
	m->dirty = 1;
	TAILQ_INSERT_TAIL(&dirty, m, dirty_entry);
	/* a zero timeout runs after this loop turn: results are batched */
	if (flush_ev != NULL && !evtimer_pending(flush_ev, NULL))
		evtimer_add(flush_ev, &now);
}

void
qmsg_drop(struct qmsg *m)
{
	RB_REMOVE(qmsg_tree, &msgs, m);
	nmsgs--;
	m->gone = 1;
	qmsg_dirty(m);
}

void
qmsg_foreach(void (*fn)(struct qmsg *, void *), void *arg)
{
	struct qmsg	*m, *next;

	RB_FOREACH_SAFE(m, qmsg_tree, &msgs, next)
		fn(m, arg);
}

double
qmsg_delay(const struct qmsg *m)
{
	struct timespec	 ts;
	char		 hex[10], *ep;
	double		 t0 = (double)m->env.arrival;
	unsigned long long sec, usec;

	/* the queue id carries the arrival to the microsecond */
	memcpy(hex, m->id, 9);
	hex[9] = '\0';
	sec = strtoull(hex, &ep, 16);
	if (*ep == '\0' && sec + 2 >= m->env.arrival &&
	    sec <= m->env.arrival + 2) {
		memcpy(hex, m->id + 9, 5);
		hex[5] = '\0';
		usec = strtoull(hex, &ep, 16);
		if (*ep == '\0' && usec < 1000000)
			t0 = (double)sec + (double)usec / 1e6;
	}
	clock_gettime(CLOCK_REALTIME, &ts);
	t0 = (double)ts.tv_sec + (double)ts.tv_nsec / 1e9 - t0;
	return t0 < 0 ? 0 : t0;
}

/* --- the index --- */

void
sched_flush(void)
{
	struct qmsg	*m, *next;
	char		*rec;
	size_t		 len;
	int		 failed = 0;

	if (TAILQ_EMPTY(&dirty))
		return;
	qdb_begin();
	TAILQ_FOREACH(m, &dirty, dirty_entry) {
		if (m->gone) {
			qdb_del(m->id);
			continue;
		}
		len = qrec_encode(m, &rec);
		failed = qdb_put(m->id, rec, len) == -1;
		free(rec);
		if (failed)
			break;
	}
	if (!failed && qdb_commit() == -1)
		failed = 1;
	if (failed) {
		/* full: at least remove what is finished, retry the rest */
		log_debug("index: cannot record progress (full), will retry");
		qdb_begin();
		TAILQ_FOREACH(m, &dirty, dirty_entry)
			if (m->gone)
				qdb_del(m->id);
		if (qdb_commit() == -1)
			return;
	}
	for (m = TAILQ_FIRST(&dirty); m != NULL; m = next) {
		next = TAILQ_NEXT(m, dirty_entry);
		if (failed && !m->gone)
			continue;
		TAILQ_REMOVE(&dirty, m, dirty_entry);
		m->dirty = 0;
		if (m->gone)
			qmsg_free(m);
	}
}

static void
flush_cb(int fd, short ev, void *arg)
{
	sched_flush();
}

/* --- recipient state changes --- */

int
rcpt_remote(const struct env_rcpt *er)
{
	return er->mailbox[0] == '\0' || strcmp(er->mailbox, "-") == 0;
}

int
rcpt_final(const struct qrcpt *r)
{
	return r->state == RS_DELIVERED || r->state == RS_BOUNCED ||
	    r->state == RS_EXPANDED;
}

const char *
rcpt_orig_to(const struct qmsg *m, uint32_t i)
{
	static char	buf[ADDR_MAX + 16];
	int		p = m->rcpt[i].parent;

	buf[0] = '\0';
	if (p >= 0 && (size_t)p < m->env.nrcpt)
		snprintf(buf, sizeof(buf), " orig_to=<%s>",
		    m->env.rcpt[p].addr);
	return buf;
}

static void
rcpt_set_error(struct qrcpt *r, const char *text)
{
	free(r->error);
	r->error = (text != NULL && text[0] != '\0') ? xstrdup(text) : NULL;
}

static uint64_t
backoff(uint32_t attempts)
{
	uint64_t	d = qconf.retry_min ? qconf.retry_min : 1;
	uint32_t	i;

	for (i = 1; i < attempts && d < qconf.retry_max; i++)
		d *= 2;
	if (qconf.retry_max && d > qconf.retry_max)
		d = qconf.retry_max;
	return d + arc4random_uniform(d / 10 + 1);
}

static int
msg_expired(const struct qmsg *m)
{
	return now_sec() >= m->env.arrival + qconf.lifetime;
}

void
rcpt_bounce(struct qmsg *m, uint32_t i, const char *dsn, const char *text)
{
	struct qrcpt	*r = &m->rcpt[i];
	char		*err;
	int		 expired = strcmp(dsn, "4.4.7") == 0;

	r->state = RS_BOUNCED;
	r->next = 0;
	xasprintf(&err, "%s %s", dsn, text);
	rcpt_set_error(r, err);
	free(err);
	if (expired)
		stats.expired++;
	stats.bounced++;
	log_notice("%s: to=<%s>%s status=%s delay=%.2f dsn=%s (%s)",
	    m->id, m->env.rcpt[i].addr, rcpt_orig_to(m, i),
	    expired ? "expired" : "bounced", qmsg_delay(m), dsn, text);
	qmsg_dirty(m);
}

void
rcpt_defer(struct qmsg *m, uint32_t i, const char *text)
{
	struct qrcpt	*r = &m->rcpt[i];
	char		*why;

	r->attempts++;
	if (msg_expired(m)) {
		xasprintf(&why, "expired in the queue after %" PRIu32
		    " attempts: %s", r->attempts, text);
		rcpt_bounce(m, i, "4.4.7", why);
		free(why);
		return;
	}
	r->state = RS_DEFERRED;
	r->next = now_sec() + backoff(r->attempts);
	rcpt_set_error(r, text);
	stats.deferred++;
	log_info("%s: to=<%s>%s status=deferred delay=%.2f dsn=4.0.0 (%s) "
	    "attempts=%" PRIu32 " next=%" PRIu64, m->id, m->env.rcpt[i].addr,
	    rcpt_orig_to(m, i), qmsg_delay(m), text, r->attempts,
	    r->next - now_sec());
	qmsg_dirty(m);
}

/*
 * Notifications first (a bounce reads the message), then, when every
 * recipient is final: remove the file, then the record.
 */
int
msg_check_done(struct qmsg *m)
{
	size_t	i;

	if (bounce_pending(m))
		return 0;
	for (i = 0; i < m->env.nrcpt; i++)
		if (!rcpt_final(&m->rcpt[i]))
			return 0;
	queue_fs_remove(m->id);
	log_info("%s: removed", m->id);
	qmsg_drop(m);
	return 1;
}

void
job_add(struct qmsg *m, uint32_t i)
{
	struct qjob	*j;
	struct qrcpt	*r = &m->rcpt[i];

	if (r->queued || r->inflight)
		return;
	r->queued = 1;
	j = xcalloc(1, sizeof(*j));
	strlcpy(j->id, m->id, sizeof(j->id));
	j->idx = i;
	TAILQ_INSERT_TAIL(&jobs, j, entry);
}

void
sched_rcpt(struct qmsg *m, uint32_t i)
{
	if (m->flags & QM_HELD)
		return;
	if (m->env.rcpt[i].mailbox[0] == '@') {
		expand_request(m, i);
		return;
	}
	if (rcpt_remote(&m->env.rcpt[i])) {
		rcpt_defer(m, i, "no relay configured");
		return;
	}
	job_add(m, i);
}

void
sched_message(struct qmsg *m)
{
	uint32_t	i;

	for (i = 0; i < m->env.nrcpt; i++)
		if (m->rcpt[i].state == RS_PENDING)
			sched_rcpt(m, i);
	msg_check_done(m);
}

/* --- deliveries --- */

/* 0 sent or handled, -1 the channel is dead */
static int
send_delivery(struct ipc_chan *chan, struct qmsg *m, uint32_t i)
{
	static struct ipc_wbuf	 w;
	struct qrcpt		*r = &m->rcpt[i];
	uint32_t		 flags = 0;
	int			 fd, rc;

	if ((fd = queue_fs_open(m->id)) == -1) {
		log_warn("%s: open %s/%s", m->id, QUEUE_QUEUE_DIR, m->id);
		rcpt_defer(m, i, "cannot open the spool file");
		return 0;
	}
	if (!m->fresh || r->sent)
		flags |= DELIVER_F_MAYBE_DONE;
	ipc_wbuf_init(&w);
	ipc_put_str(&w, m->id);
	ipc_put_u32(&w, i);
	ipc_put_u64(&w, m->env.arrival);
	ipc_put_u64(&w, m->offset);
	ipc_put_str(&w, m->env.rcpt[i].mailbox);
	ipc_put_str(&w, m->env.rcpt[i].addr);
	ipc_put_str(&w, m->env.sender);
	ipc_put_u32(&w, flags);
	rc = ipc_sendw(chan, IPC_DELIVER, 0, fd, &w);
	close(fd);
	if (rc == -1)
		return -1;
	r->inflight = 1;
	r->sent = 1;
	inflight++;
	return 0;
}

void
sched_pump(void)
{
	struct ipc_chan	*chan;
	struct qjob	*j;
	struct qmsg	*m;
	struct qrcpt	*r;

	while ((chan = daemon_peer(PROC_DELIVER)) != NULL &&
	    inflight < QUEUE_MAX_INFLIGHT && (j = TAILQ_FIRST(&jobs)) != NULL) {
		TAILQ_REMOVE(&jobs, j, entry);
		if ((m = qmsg_find(j->id)) == NULL || j->idx >= m->env.nrcpt) {
			free(j);
			continue;
		}
		r = &m->rcpt[j->idx];
		r->queued = 0;
		if (r->state != RS_PENDING || r->inflight ||
		    (m->flags & QM_HELD)) {
			free(j);
			continue;
		}
		if (send_delivery(chan, m, j->idx) == -1) {
			r->queued = 1;
			TAILQ_INSERT_HEAD(&jobs, j, entry);
			break;
		}
		free(j);
		msg_check_done(m);
	}
}

void
sched_result(const char *id, uint32_t idx, uint32_t status, const char *text)
{
	struct qmsg	*m;
	struct qrcpt	*r;

	if ((m = qmsg_find(id)) == NULL || idx >= m->env.nrcpt ||
	    !m->rcpt[idx].inflight) {
		log_warnx("%s: unexpected delivery result for recipient %"
		    PRIu32 " ignored", id, idx);
		return;
	}
	r = &m->rcpt[idx];
	r->inflight = 0;
	inflight--;
	switch (status) {
	case DELIVER_OK:
		r->state = RS_DELIVERED;
		r->next = 0;
		rcpt_set_error(r, text);
		stats.delivered++;
		log_info("%s: to=<%s>%s relay=local status=sent delay=%.2f "
		    "dsn=2.0.0 (stored as %s)", m->id, m->env.rcpt[idx].addr,
		    rcpt_orig_to(m, idx), qmsg_delay(m), text);
		qmsg_dirty(m);
		break;
	case DELIVER_PERMFAIL:
		rcpt_bounce(m, idx, "5.2.0", text[0] ? text :
		    "delivery failed");
		break;
	case DELIVER_TEMPFAIL:
	default:
		rcpt_defer(m, idx, text[0] ? text : "temporary failure");
		break;
	}
	msg_check_done(m);
	sched_pump();
}

void
sched_deliver_gone(void)
{
	struct qmsg	*m;
	uint32_t	 i;
	int		 n = 0;

	RB_FOREACH(m, qmsg_tree, &msgs)
		for (i = 0; i < m->env.nrcpt; i++)
			if (m->rcpt[i].inflight) {
				m->rcpt[i].inflight = 0;
				job_add(m, i);	/* resent with MAYBE_DONE */
				n++;
			}
	inflight = 0;
	if (n)
		log_info("deliver gone: %d deliveries will be sent again", n);
}

/* --- retries --- */

void
run_due(void)
{
	struct qmsg	*m, *next;
	uint64_t	 now = now_sec();
	uint32_t	 i;

	RB_FOREACH_SAFE(m, qmsg_tree, &msgs, next) {
		if (m->flags & QM_HELD)
			continue;
		for (i = 0; i < m->env.nrcpt; i++) {
			struct qrcpt *r = &m->rcpt[i];

			if (r->state != RS_DEFERRED || r->next > now)
				continue;
			if (msg_expired(m)) {
				char	*why;

				xasprintf(&why, "expired in the queue after %"
				    PRIu32 " attempts: %s", r->attempts,
				    r->error ? r->error : "deferred");
				rcpt_bounce(m, i, "4.4.7", why);
				free(why);
				continue;
			}
			r->state = RS_PENDING;
			sched_rcpt(m, i);
		}
		bounce_delay_check(m);
		msg_check_done(m);
	}
	sched_pump();
}

static void
timer_cb(int fd, short ev, void *arg)
{
	uint64_t	now = now_sec();

	run_due();
	expand_auth_up();	/* requests that could not be sent */
	sched_flush();
	if (now >= last_reader_check + 60) {
		qdb_reader_check();
		last_reader_check = now;
	}
}

void
sched_init(void)
{
	static const struct timeval	one = { 1, 0 };

	flush_ev = evtimer_new(daemon_base(), flush_cb, NULL);
	timer_ev = event_new(daemon_base(), -1, EV_PERSIST, timer_cb, NULL);
	if (flush_ev == NULL || timer_ev == NULL ||
	    event_add(timer_ev, &one) == -1)
		fatalx("sched: event_new");
	last_reader_check = now_sec();
}

/* --- control --- */

/* envelope_encode, and ',' as %2C: a listing value holds no ' ' nor ',' */
void
list_encode(const char *in, char *out, size_t outsz)
{
	char	*tmp, *p;
	size_t	 n = 0, tsz = strlen(in) * 3 + 4;

	tmp = xmalloc(tsz);
	envelope_encode(in, tmp, tsz);
	for (p = tmp; *p != '\0' && n + 4 < outsz; p++) {
		if (*p == ',') {
			memcpy(out + n, "%2C", 3);
			n += 3;
		} else
			out[n++] = *p;
	}
	out[n] = '\0';
	free(tmp);
}

#define LIST_LINE_MAX	(IPC_MAX_STR - 1)

void
list_one(struct ipc_chan *chan, uint32_t reqid, struct qmsg *m)
{
	static struct ipc_wbuf	 w;
	static char	 line[LIST_LINE_MAX + 1];
	static char	 word[3 * (ADDR_MAX + 1024) + 64];
	char		 addr[3 * ADDR_MAX + 8], err[3 * 512 + 8];
	size_t		 len, i;
	const char	*etext;

	list_encode(m->env.sender[0] ? m->env.sender : "<>", addr,
	    sizeof(addr));
	len = snprintf(line, sizeof(line), "id=%s arrival=%" PRIu64
	    " size=%" PRIu64 " sender=%s held=%d", m->id, m->env.arrival,
	    m->size, addr, (m->flags & QM_HELD) ? 1 : 0);
	for (i = 0; i < m->env.nrcpt; i++) {
		const struct qrcpt *r = &m->rcpt[i];
		size_t wl;

		etext = r->state == RS_DELIVERED ? "" : r->error;
		list_encode(m->env.rcpt[i].addr, addr, sizeof(addr));
		list_encode(etext ? etext : "", err, sizeof(err));
		wl = snprintf(word, sizeof(word), " rcpt=%s,%s,%" PRIu32
		    ",%" PRIu64 ",%s", addr, rcpt_state_name(r->state),
		    r->attempts, r->state == RS_DEFERRED ? r->next : 0, err);
		/* keep room for " more=NNNNN" */
		if (len + wl + 12 > LIST_LINE_MAX) {
			len += snprintf(line + len, sizeof(line) - len,
			    " more=%zu", m->env.nrcpt - i);
			break;
		}
		memcpy(line + len, word, wl + 1);
		len += wl;
	}
	for (i = 0; i < m->env.nrcpt; i++) {
		size_t wl;
		int p = m->rcpt[i].parent;

		if (p < 0 || (size_t)p >= m->env.nrcpt)
			continue;
		list_encode(m->env.rcpt[p].addr, addr, sizeof(addr));
		wl = snprintf(word, sizeof(word), " orig=%zu,%s", i, addr);
		if (len + wl + 1 > LIST_LINE_MAX)
			break;
		memcpy(line + len, word, wl + 1);
		len += wl;
	}
	ipc_wbuf_init(&w);
	ipc_put_str(&w, line);
	if (ipc_sendw(chan, IPC_CTL_QUEUE_ENTRY, reqid, -1, &w) == -1)
		log_warnx("%s: listing entry not sent", m->id);
}

void
sched_list(struct ipc_chan *chan, uint32_t reqid)
{
	static struct ipc_wbuf	 w;
	struct qmsg		*m;
	uint32_t		 n = 0;

	RB_FOREACH(m, qmsg_tree, &msgs) {
		list_one(chan, reqid, m);
		n++;
	}
	ipc_wbuf_init(&w);
	ipc_put_u32(&w, n);
	ipc_sendw(chan, IPC_CTL_QUEUE_END, reqid, -1, &w);
}

uint32_t
sched_flush_request(const char *id)
{
	struct qmsg	*m;
	uint32_t	 n = 0, i;
	int		 any;

	RB_FOREACH(m, qmsg_tree, &msgs) {
		if (id[0] != '\0' && strcmp(id, m->id) != 0)
			continue;
		for (any = 0, i = 0; i < m->env.nrcpt; i++)
			if (m->rcpt[i].state == RS_DEFERRED) {
				m->rcpt[i].next = 0;
				any = 1;
			}
		n += any;
	}
	if (n) {
		log_info("flush: %" PRIu32 " messages due now", n);
		run_due();
	}
	return n;
}

void
sched_count_received(void)
{
	stats.received++;
}

void
sched_stats_count(int what)
{
	if (what == RS_EXPANDED)
		stats.expanded++;
}

/*
 * Queue sizes, as Postfix's queues: held messages; deferred ones (every
 * recipient left is waiting for its next attempt); active (the rest).
 */
void
sched_stats(char *buf, size_t bufsz)
{
	struct qmsg	*m;
	size_t		 deferred = 0, held = 0, active = 0, len = strlen(buf);
	uint32_t	 i;
	int		 waiting, busy;

	RB_FOREACH(m, qmsg_tree, &msgs) {
		if (m->flags & QM_HELD) {
			held++;
			continue;
		}
		for (waiting = busy = 0, i = 0; i < m->env.nrcpt; i++) {
			if (m->rcpt[i].state == RS_DEFERRED)
				waiting = 1;
			else if (!rcpt_final(&m->rcpt[i]))
				busy = 1;
		}
		if (waiting && !busy)
			deferred++;
		else
			active++;
	}
	if (len >= bufsz)
		return;
	snprintf(buf + len, bufsz - len, "queue_active=%zu queue_deferred=%zu "
	    "queue_held=%zu queue_total=%zu "
	    "received=%" PRIu64 " delivered=%" PRIu64 " deferred=%" PRIu64
	    " bounced=%" PRIu64 " expired=%" PRIu64 " expanded=%" PRIu64
	    " notifications=%" PRIu64 " inflight=%d ", active, deferred, held,
	    nmsgs, stats.received, stats.delivered, stats.deferred,
	    stats.bounced, stats.expired, stats.expanded, stat_dsn, inflight);
}

/* an administrator's delete: forget deliveries in flight, then drop */
void
qmsg_delete(struct qmsg *m)
{
	uint32_t	i;

	for (i = 0; i < m->env.nrcpt; i++)
		if (m->rcpt[i].inflight) {
			m->rcpt[i].inflight = 0;
			inflight--;
		}
	queue_fs_remove(m->id);
	qmsg_drop(m);
}

struct qrcpt *
qrcpt_new(size_t n)
{
	struct qrcpt	*r;
	size_t		 i;

	r = xcalloc(n ? n : 1, sizeof(*r));
	for (i = 0; i < n; i++)
		r[i].parent = -1;
	return r;
}
