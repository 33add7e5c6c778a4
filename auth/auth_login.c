/*
 * Password logins: SMTP AUTH (RFC 4954), POP3 USER/PASS and AUTH
 * (RFC 1939, RFC 5034), IMAP LOGIN/AUTHENTICATE. The network daemons
 * never see a hash; they send what the client typed and get back the
 * canonical address and mailbox, or a refusal.
 *
 * A refusal is answered late: auth_fail_delay, doubled for every further
 * failure from the same client address within auth_fail_window, capped at
 * auth_fail_delay_max. A success from that address resets it. The
 * password is wiped once checked and never logged.
 */
#include <sys/types.h>
#include <sys/tree.h>

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "addr.h"
#include "auth_login.h"
#include "config.h"
#include "daemon.h"
#include "ipc.h"
#include "log.h"
#include "users.h"
#include "util.h"

#define FAIL_CLIENTS_MAX	4096	/* remembered client addresses */

struct fail_client {
	RB_ENTRY(fail_client)	 entry;
	char			 addr[64];
	unsigned		 count;
	uint64_t		 last;		/* mono_msec of the last one */
};

RB_HEAD(fail_tree, fail_client);

static int
fail_cmp(struct fail_client *a, struct fail_client *b)
{
	return strcmp(a->addr, b->addr);
}

RB_GENERATE_STATIC(fail_tree, fail_client, entry, fail_cmp)

/* a refusal waiting for its delay to pass */
struct late_reply {
	struct event	*ev;
	int		 proc;		/* reply to whoever runs it then */
	uint32_t	 reqid;
};

static struct fail_tree	 fails = RB_INITIALIZER(&fails);
static size_t		 nfails;
static struct users	*users;
static char		**domains;
static size_t		 ndomains;
static uint64_t		 fail_delay_ms, fail_delay_max_ms, fail_window_ms;

static int
domain_add(const char *word, void *arg)
{
	domains = xreallocarray(domains, ndomains + 1, sizeof(char *));
	domains[ndomains++] = xstrdup(word);
	return 0;
}

void
auth_login_config(const struct config *conf, struct users *u)
{
	size_t	i;

	users = u;
	for (i = 0; i < ndomains; i++)
		free(domains[i]);
	free(domains);
	domains = NULL;
	ndomains = 0;
	config_list(conf, NULL, "domains", domain_add, NULL);
	fail_delay_ms = config_num(conf, NULL, "auth_fail_delay") * 1000;
	fail_delay_max_ms = config_num(conf, NULL, "auth_fail_delay_max") *
	    1000;
	fail_window_ms = config_num(conf, NULL, "auth_fail_window") * 1000;
}

static struct fail_client *
fail_find(const char *client)
{
	struct fail_client	key;

	strlcpy(key.addr, client, sizeof(key.addr));
	return RB_FIND(fail_tree, &fails, &key);
}

/* Forget old entries; keeps the table bounded whatever clients do. */
static void
fail_expire(uint64_t now)
{
	struct fail_client	*f, *next;

	RB_FOREACH_SAFE(f, fail_tree, &fails, next) {
		if (nfails < FAIL_CLIENTS_MAX && now - f->last < fail_window_ms)
			continue;
		RB_REMOVE(fail_tree, &fails, f);
		free(f);
		nfails--;
	}
}

/* Records a failure; returns how long to wait before answering. */
static uint64_t
fail_record(const char *client)
{
	struct fail_client	*f;
	uint64_t		 now = mono_msec(), delay;
	unsigned		 i;

	fail_expire(now);
	if ((f = fail_find(client)) == NULL) {
		f = xcalloc(1, sizeof(*f));
		strlcpy(f->addr, client, sizeof(f->addr));
		RB_INSERT(fail_tree, &fails, f);
		nfails++;
	}
	f->count++;
	f->last = now;
	delay = fail_delay_ms;
	for (i = 1; i < f->count && delay < fail_delay_max_ms; i++)
		delay *= 2;
	return delay > fail_delay_max_ms ? fail_delay_max_ms : delay;
}

static void
fail_clear(const char *client)
{
	struct fail_client	*f;

	if ((f = fail_find(client)) != NULL) {
		RB_REMOVE(fail_tree, &fails, f);
		free(f);
		nfails--;
	}
}

static void
login_reply(int proc, uint32_t reqid, int status, const char *address,
    const char *mailbox)
{
	struct ipc_wbuf	 wb;
	struct ipc_chan	*chan;

	if ((chan = daemon_peer(proc)) == NULL)
		return;		/* it restarted: the session is gone */
	ipc_wbuf_init(&wb);
	ipc_put_u32(&wb, status);
	ipc_put_str(&wb, address);
	ipc_put_str(&wb, mailbox);
	ipc_sendw(chan, IPC_AUTH_LOGIN_RESULT, reqid, -1, &wb);
}

static void
login_late_cb(evutil_socket_t fd, short ev, void *arg)
{
	struct late_reply	*lr = arg;

	login_reply(lr->proc, lr->reqid, AUTH_LOGIN_FAIL, "", "");
	event_free(lr->ev);
	free(lr);
}

/*
 * The name as typed: "alice@example.test", or a bare "alice" when exactly
 * one local domain has such an account (what people type in the lab).
 * Returns the lookup status with the canonical address and mailbox.
 */
static int
login_resolve(const char *typed, char *address, size_t addresssz,
    char *mailbox, size_t mailboxsz)
{
	char	 cand[ADDR_MAX * 2 + ADDR_DOMAIN_MAX + 2], mb[ADDR_MAX];
	size_t	 i, found = 0;
	int	 r;

	if (strchr(typed, '@') != NULL) {
		strlcpy(address, typed, addresssz);
		str_lower(address);
		return users_lookup(users, address, mailbox, mailboxsz);
	}
	for (i = 0; i < ndomains; i++) {
		snprintf(cand, sizeof(cand), "%s@%s", typed, domains[i]);
		str_lower(cand);
		r = users_lookup(users, cand, mb, sizeof(mb));
		if (r == AUTH_RCPT_TEMPFAIL)
			return r;
		if (r == AUTH_RCPT_LOCAL && found++ == 0) {
			strlcpy(address, cand, addresssz);
			strlcpy(mailbox, mb, mailboxsz);
		}
	}
	return found == 1 ? AUTH_RCPT_LOCAL : AUTH_RCPT_NOUSER;
}

void
auth_login(struct ipc_chan *chan, int from, struct ipc_msg *msg)
{
	struct ipc_rbuf		 rb;
	struct late_reply	*lr;
	struct timeval		 tv;
	char			 service[16], client[64], typed[ADDR_MAX * 2];
	char			 address[ADDR_MAX], mailbox[ADDR_MAX];
	char			*password;
	uint64_t		 delay;
	int			 r, ok = 0;

	ipc_rbuf_init(&rb, msg->data, msg->hdr.len);
	ipc_get_str(&rb, service, sizeof(service));
	ipc_get_str(&rb, client, sizeof(client));
	ipc_get_str(&rb, typed, sizeof(typed));
	password = ipc_get_strdup(&rb);
	if (ipc_get_end(&rb) == -1 || password == NULL) {
		log_warnx("bad AUTH_LOGIN frame from %s", proc_name(from));
		if (password != NULL) {
			explicit_bzero(password, strlen(password));
			free(password);
		}
		login_reply(from, msg->hdr.reqid, AUTH_LOGIN_TEMPFAIL, "", "");
		return;
	}
	address[0] = mailbox[0] = '\0';
	r = login_resolve(typed, address, sizeof(address), mailbox,
	    sizeof(mailbox));
	if (r == AUTH_RCPT_TEMPFAIL) {
		explicit_bzero(password, strlen(password));
		free(password);
		log_warnx("login service=%s user=<%s> client=[%s] "
		    "status=tempfail (users file unreadable)", service, typed,
		    client);
		login_reply(from, msg->hdr.reqid, AUTH_LOGIN_TEMPFAIL, "", "");
		return;
	}
	/* an unknown user costs a hash too: no timing oracle */
	if (users_check_password(users, r == AUTH_RCPT_LOCAL ? address :
	    "nobody@invalid", password) == 0 && r == AUTH_RCPT_LOCAL)
		ok = 1;
	explicit_bzero(password, strlen(password));
	free(password);

	if (ok) {
		fail_clear(client);
		log_info("login service=%s user=<%s> client=[%s] status=ok",
		    service, address, client);
		login_reply(from, msg->hdr.reqid, AUTH_LOGIN_OK, address,
		    mailbox);
		return;
	}
	delay = fail_record(client);
	log_notice("login service=%s user=<%s> client=[%s] status=failed "
	    "delay=%llums", service, typed, client,
	    (unsigned long long)delay);
	lr = xcalloc(1, sizeof(*lr));
	lr->proc = from;
	lr->reqid = msg->hdr.reqid;
	lr->ev = evtimer_new(daemon_base(), login_late_cb, lr);
	tv.tv_sec = delay / 1000;
	tv.tv_usec = (delay % 1000) * 1000;
	evtimer_add(lr->ev, &tv);
}

/*
 * May the user logged in as auth send as sender? Yes for the null sender,
 * for the login address itself, and for any address that resolves to the
 * same mailbox (sub-addresses and aliases, as users_lookup knows them).
 */
void
auth_sender(struct ipc_chan *chan, struct ipc_msg *msg)
{
	struct ipc_rbuf	 rb;
	struct ipc_wbuf	 wb;
	char		 login[ADDR_MAX], sender[ADDR_MAX * 2];
	char		 mb1[ADDR_MAX], mb2[ADDR_MAX];
	uint32_t	 verdict = 1;
	int		 r1, r2;

	ipc_rbuf_init(&rb, msg->data, msg->hdr.len);
	ipc_get_str(&rb, login, sizeof(login));
	ipc_get_str(&rb, sender, sizeof(sender));
	if (ipc_get_end(&rb) == -1)
		verdict = 2;
	else if (sender[0] == '\0' || strcmp(sender, "<>") == 0 ||
	    strcasecmp(sender, login) == 0)
		verdict = 0;
	else {
		r1 = users_lookup(users, login, mb1, sizeof(mb1));
		r2 = users_lookup(users, sender, mb2, sizeof(mb2));
		if (r1 == AUTH_RCPT_TEMPFAIL || r2 == AUTH_RCPT_TEMPFAIL)
			verdict = 2;
		else if (r1 == AUTH_RCPT_LOCAL && r2 == AUTH_RCPT_LOCAL &&
		    strcmp(mb1, mb2) == 0)
			verdict = 0;
	}
	log_debug("sender check login=<%s> sender=<%s> verdict=%u", login,
	    sender, verdict);
	ipc_wbuf_init(&wb);
	ipc_put_u32(&wb, verdict);
	ipc_sendw(chan, IPC_AUTH_SENDER_RESULT, msg->hdr.reqid, -1, &wb);
}
