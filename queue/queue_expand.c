/*
 * Alias expansion after the commit, as Postfix's cleanup does it with
 * virtual_alias_maps: a recipient whose mailbox starts with '@' (auth
 * answered RCPT TO with "@alias/expand") is sent to auth as IPC_AUTH_EXPAND; the
 * answer lists its final addresses. One address equal to the recipient's
 * own just sets its mailbox; otherwise the recipient becomes "expanded"
 * and its addresses are appended to the message's recipients, each with
 * the recipient as parent and its ORCPT (or "rfc822;<alias>" when the
 * client gave none: RFC 3461 4.2, the Original-Recipient of a DSN). Those
 * appended recipients live in the index record only; after an index
 * rebuild the aliases are expanded again (a possible duplicate, never a
 * loss). Indexes of recipients never change (Maildir base names use
 * them), so expansion only ever appends.
 *
 * While auth is down requests wait; they are sent again when it is back.
 * A temporary failure defers the recipient (retried with backoff).
 */
#include <sys/types.h>

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "daemon.h"
#include "ipc.h"
#include "log.h"
#include "util.h"
#include "queue.h"

struct xreq {
	TAILQ_ENTRY(xreq)	 entry;
	uint32_t		 reqid;
	char			 id[QUEUEID_LEN + 1];
	uint32_t		 idx;
	int			 sent;
};

static TAILQ_HEAD(, xreq)	reqs = TAILQ_HEAD_INITIALIZER(reqs);
static uint32_t			next_reqid = 1;

/* sends x if auth is there; frees it when its message is gone */
static void
xreq_send(struct xreq *x)
{
	static struct ipc_wbuf	 w;
	struct ipc_chan		*chan;
	struct qmsg		*m;

	if ((m = qmsg_find(x->id)) == NULL || x->idx >= m->env.nrcpt ||
	    !m->rcpt[x->idx].expanding) {
		TAILQ_REMOVE(&reqs, x, entry);
		free(x);
		return;
	}
	if ((chan = daemon_peer(PROC_AUTH)) == NULL)
		return;
	ipc_wbuf_init(&w);
	ipc_put_str(&w, m->env.rcpt[x->idx].addr);
	if (ipc_sendw(chan, IPC_AUTH_EXPAND, x->reqid, -1, &w) == 0)
		x->sent = 1;
}

void
expand_request(struct qmsg *m, uint32_t i)
{
	struct xreq	*x;

	if (m->rcpt[i].expanding)
		return;
	m->rcpt[i].expanding = 1;
	x = xcalloc(1, sizeof(*x));
	x->reqid = next_reqid++;
	if (next_reqid == 0)
		next_reqid = 1;
	strlcpy(x->id, m->id, sizeof(x->id));
	x->idx = i;
	TAILQ_INSERT_TAIL(&reqs, x, entry);
	xreq_send(x);
}

void
expand_auth_up(void)
{
	struct xreq	*x, *next;

	for (x = TAILQ_FIRST(&reqs); x != NULL; x = next) {
		next = TAILQ_NEXT(x, entry);
		if (!x->sent)
			xreq_send(x);
	}
}

void
expand_auth_gone(void)
{
	struct xreq	*x;
	int		 n = 0;

	TAILQ_FOREACH(x, &reqs, entry) {
		if (x->sent)
			n++;
		x->sent = 0;
	}
	if (n)
		log_info("auth gone: %d alias expansions will be asked again",
		    n);
}

/* is addr already a recipient of m that is not an alias? */
static int
rcpt_known(struct qmsg *m, const char *addr)
{
	size_t	i;

	for (i = 0; i < m->env.nrcpt; i++)
		if (m->rcpt[i].state != RS_EXPANDED &&
		    m->env.rcpt[i].mailbox[0] != '@' &&
		    strcasecmp(m->env.rcpt[i].addr, addr) == 0)
			return 1;
	return 0;
}

/* sets where recipient i goes, by one expansion item */
static void
rcpt_resolved(struct qmsg *m, uint32_t i, uint32_t st, const char *mailbox)
{
	struct env_rcpt	*er = &m->env.rcpt[i];

	switch (st) {
	case AUTH_EXPAND_OK:
		strlcpy(er->mailbox, mailbox, sizeof(er->mailbox));
		qmsg_dirty(m);
		job_add(m, i);
		break;
	case AUTH_EXPAND_REMOTE:
		strlcpy(er->mailbox, "-", sizeof(er->mailbox));
		qmsg_dirty(m);
		rcpt_defer(m, i, "no relay configured");
		break;
	case AUTH_EXPAND_LOOP:
		rcpt_bounce(m, i, "5.4.6", "alias loop");
		break;
	case AUTH_EXPAND_NOUSER:
	default:
		rcpt_bounce(m, i, "5.1.1", "no such user");
		break;
	}
}

/* appends a recipient made from alias i; its index or -1 */
static int
rcpt_append(struct qmsg *m, uint32_t i, const char *addr)
{
	struct env_rcpt	 er;
	struct qrcpt	*r;
	size_t		 n = m->env.nrcpt;

	memset(&er, 0, sizeof(er));
	strlcpy(er.addr, addr, sizeof(er.addr));
	strlcpy(er.mailbox, "-", sizeof(er.mailbox));
	er.notify = m->env.rcpt[i].notify;
	if (m->env.rcpt[i].orcpt[0] != '\0')
		strlcpy(er.orcpt, m->env.rcpt[i].orcpt, sizeof(er.orcpt));
	else
		snprintf(er.orcpt, sizeof(er.orcpt), "rfc822;%s",
		    m->env.rcpt[i].addr);
	if (envelope_add_rcpt(&m->env, &er) == -1)
		return -1;
	m->rcpt = xreallocarray(m->rcpt, n + 1, sizeof(*m->rcpt));
	r = &m->rcpt[n];
	memset(r, 0, sizeof(*r));
	r->parent = i;
	return n;
}

/* a whole answer without addresses */
static void
expand_apply(struct qmsg *m, uint32_t i, uint32_t status)
{
	switch (status) {
	case AUTH_EXPAND_TEMPFAIL:
		rcpt_defer(m, i, "alias lookup failed, will retry");
		break;
	case AUTH_EXPAND_TOOBIG:
		rcpt_bounce(m, i, "5.3.4", "alias expands to too many "
		    "recipients");
		break;
	case AUTH_EXPAND_OK:
		rcpt_bounce(m, i, "5.1.1", "alias expands to no recipient");
		break;
	default:
		rcpt_defer(m, i, "bad answer from auth");
		break;
	}
}

/* the answer, read item by item (the frame is valid during the call) */
void
expand_result(uint32_t reqid, const void *data, size_t len)
{
	struct ipc_rbuf	 rb;
	struct xreq	*x;
	struct qmsg	*m;
	char		 addr[ADDR_MAX], mailbox[ADDR_MAX];
	uint32_t	 status, n, k, st, i, added = 0, dup = 0;
	int		 c;

	TAILQ_FOREACH(x, &reqs, entry)
		if (x->reqid == reqid)
			break;
	if (x == NULL) {
		log_warnx("auth: unexpected expansion answer %" PRIu32
		    " ignored", reqid);
		return;
	}
	TAILQ_REMOVE(&reqs, x, entry);
	i = x->idx;
	m = qmsg_find(x->id);
	free(x);
	if (m == NULL || i >= m->env.nrcpt || !m->rcpt[i].expanding)
		return;		/* deleted meanwhile */
	m->rcpt[i].expanding = 0;
	if (m->rcpt[i].state != RS_PENDING)
		goto done;

	ipc_rbuf_init(&rb, data, len);
	status = ipc_get_u32(&rb);
	n = ipc_get_u32(&rb);
	if (rb.error || n > ENVELOPE_MAX_RCPT) {
		log_warnx("%s: bad expansion answer from auth", m->id);
		rcpt_defer(m, i, "bad answer from auth");
		goto done;
	}
	if (status != AUTH_EXPAND_OK || n == 0) {
		expand_apply(m, i, status);
		goto done;
	}
	if (n == 1) {
		st = ipc_get_u32(&rb);
		ipc_get_str(&rb, addr, sizeof(addr));
		ipc_get_str(&rb, mailbox, sizeof(mailbox));
		if (ipc_get_end(&rb) == -1) {
			log_warnx("%s: bad expansion answer from auth", m->id);
			rcpt_defer(m, i, "bad answer from auth");
			goto done;
		}
		if (strcasecmp(addr, m->env.rcpt[i].addr) == 0) {
			rcpt_resolved(m, i, st, mailbox);
			goto done;
		}
		ipc_rbuf_init(&rb, data, len);
		(void)ipc_get_u32(&rb);
		(void)ipc_get_u32(&rb);
	}
	/* an alias: its addresses become recipients */
	m->rcpt[i].state = RS_EXPANDED;
	m->rcpt[i].next = 0;
	m->rcpt[i].dflags |= QR_DSN_DONE;
	for (k = 0; k < n; k++) {
		st = ipc_get_u32(&rb);
		ipc_get_str(&rb, addr, sizeof(addr));
		ipc_get_str(&rb, mailbox, sizeof(mailbox));
		if (rb.error)
			break;
		if (rcpt_known(m, addr)) {
			dup++;
			continue;
		}
		if ((c = rcpt_append(m, i, addr)) == -1) {
			log_warnx("%s: too many recipients: <%s> and the "
			    "rest of <%s> dropped", m->id, addr,
			    m->env.rcpt[i].addr);
			break;
		}
		added++;
		rcpt_resolved(m, c, st, mailbox);
	}
	if (rb.error)
		log_warnx("%s: bad expansion answer from auth (%" PRIu32
		    " of %" PRIu32 " read)", m->id, k, n);
	sched_stats_count(RS_EXPANDED);
	log_info("%s: to=<%s>%s status=expanded nrcpt=%" PRIu32
	    "%s", m->id, m->env.rcpt[i].addr, rcpt_orig_to(m, i), added,
	    dup ? " (duplicates removed)" : "");
	qmsg_dirty(m);
 done:
	msg_check_done(m);
	sched_pump();
}
