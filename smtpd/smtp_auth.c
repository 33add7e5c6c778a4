/*
 * AUTH in an SMTP session (RFC 4954), mechanisms PLAIN (RFC 4616) and
 * LOGIN (draft-murchison-sasl-login), with an initial response (SASL-IR,
 * RFC 4954 4) or after a "334" challenge; "*" cancels (501). The password
 * goes to auth (IPC_AUTH_LOGIN, service "smtp"), which checks it against
 * the users file and answers failures late; smtpd never sees a hash.
 *
 * Offered under TLS, or in plaintext when allow_plaintext_auth says so
 * (never, loopback: clients on 127.0.0.0/8, ::1 and the local socket,
 * always). Replies: 235 2.7.0 success, 535 5.7.8 bad credentials,
 * 454 4.7.0 auth unavailable, 503 5.5.1 twice / in a transaction / before
 * EHLO, 504 5.5.4 unknown mechanism, 501 5.5.2 bad base64, 501 5.7.0
 * cancelled, 538 5.7.11 plaintext refused where TLS is available.
 * Passwords are never logged; their buffers are cleared.
 */
#include <sys/types.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <event2/bufferevent.h>

#include "config.h"
#include "ipc.h"
#include "log.h"
#include "proc.h"
#include "util.h"
#include "smtpd.h"
#include "smtp_session.h"

/* base64 of "Username:" and "Password:" */
#define LOGIN_USER_CHALLENGE	"VXNlcm5hbWU6"
#define LOGIN_PASS_CHALLENGE	"UGFzc3dvcmQ6"

#define SASL_MAX	(SMTP_AUTH_MAX)

/* a user name that may appear in a log line */
static int
printable(const char *p)
{
	for (; *p != '\0'; p++)
		if ((unsigned char)*p < 32 || *p == 127)
			return 0;
	return 1;
}

int
smtp_auth_offered(struct smtp_session *s)
{
	const char	*v;

	if (s->flags & SF_TLS)
		return !(s->flags & SF_HANDSHAKE);
	v = config_str(smtpd_config(), s->l->name, "allow_plaintext_auth");
	if (strcasecmp(v, "always") == 0 || strcasecmp(v, "yes") == 0)
		return 1;
	if (strcasecmp(v, "loopback") == 0)
		return (s->flags & SF_LOOPBACK) != 0;
	return 0;
}

int
smtp_check_auth(struct smtp_session *s, const char *args)
{
	const char	*ir;

	if (!smtp_auth_offered(s)) {
		if (smtp_tls_offered(s))
			smtp_reply(s, "538 5.7.11 Encryption required for "
			    "requested authentication mechanism");
		else
			smtp_reply(s, "503 5.5.1 Error: authentication not "
			    "enabled");
		return -1;
	}
	if (s->state == S_INIT || !(s->flags & SF_EHLO)) {
		smtp_reply(s, "503 5.5.1 Error: send EHLO first");
		return -1;
	}
	if (s->auth_user[0] != '\0') {
		smtp_reply(s, "503 5.5.1 Error: already authenticated");
		return -1;
	}
	if (s->state != S_HELO) {
		smtp_reply(s, "503 5.5.1 Error: MAIL transaction in progress");
		return -1;
	}
	if (smtp_parse_auth(args, s->sasl_mech, sizeof(s->sasl_mech),
	    &ir) == -1) {
		smtp_reply(s, "501 5.5.4 Syntax: AUTH mechanism "
		    "[initial-response]");
		return -1;
	}
	if (strcmp(s->sasl_mech, "PLAIN") != 0 &&
	    strcmp(s->sasl_mech, "LOGIN") != 0) {
		smtp_reply(s, "504 5.5.4 Unrecognized authentication type");
		return -1;
	}
	return 0;
}

static void
auth_send(struct smtp_session *s, const char *user, const char *pass)
{
	struct ipc_wbuf	*w;
	int		 r;

	w = xmalloc(sizeof(*w));
	ipc_wbuf_init(w);
	ipc_put_str(w, "smtp");
	ipc_put_str(w, s->ip);
	ipc_put_str(w, user);
	ipc_put_str(w, pass);
	strlcpy(s->sasl_user, user, sizeof(s->sasl_user));
	r = smtp_request(s, PROC_AUTH, IPC_AUTH_LOGIN, WAIT_AUTH_LOGIN, w);
	explicit_bzero(w, sizeof(*w));
	free(w);
	if (r == -1)
		smtp_auth_fail_temp(s);
}

/* decodes one base64 SASL message; replies and returns -1 on error */
static long
sasl_decode(struct smtp_session *s, const char *in, unsigned char *out,
    size_t outsz)
{
	long	n;

	if (strcmp(in, "*") == 0) {
		s->sasl = SASL_NONE;
		smtp_reply(s, "501 5.7.0 Authentication aborted");
		return -1;
	}
	if (strcmp(in, "=") == 0) {	/* an empty initial response */
		out[0] = '\0';
		return 0;
	}
	if ((n = smtp_b64_decode(in, out, outsz)) == -1) {
		s->sasl = SASL_NONE;
		smtp_reply(s, "501 5.5.2 Cannot decode response");
		return -1;
	}
	return n;
}

static void
auth_plain(struct smtp_session *s, const char *resp)
{
	unsigned char	 msg[SASL_MAX];
	char		 authz[ADDR_MAX * 2], user[ADDR_MAX * 2], pass[1024];
	long		 n;

	s->sasl = SASL_NONE;
	if ((n = sasl_decode(s, resp, msg, sizeof(msg))) == -1)
		return;
	if (smtp_sasl_plain(msg, (size_t)n, authz, sizeof(authz), user,
	    sizeof(user), pass, sizeof(pass)) == -1) {
		explicit_bzero(msg, sizeof(msg));
		smtp_reply(s, "501 5.5.2 Malformed PLAIN response");
		return;
	}
	explicit_bzero(msg, sizeof(msg));
	if (!printable(user) || !printable(authz)) {
		explicit_bzero(pass, sizeof(pass));
		smtp_reply(s, "501 5.5.2 Malformed PLAIN response");
		return;
	}
	if (authz[0] != '\0' && strcasecmp(authz, user) != 0) {
		/* no proxy authorization (RFC 4616 2) */
		explicit_bzero(pass, sizeof(pass));
		log_info("auth failed client=[%s] mech=PLAIN user=%s: may not "
		    "act as %s", s->ip, user, authz);
		smtp_reply(s, "535 5.7.8 Error: authentication failed");
		return;
	}
	auth_send(s, user, pass);
	explicit_bzero(pass, sizeof(pass));
}

static void
auth_login_user(struct smtp_session *s, const char *resp)
{
	unsigned char	msg[ADDR_MAX * 2];
	long		n;

	if ((n = sasl_decode(s, resp, msg, sizeof(msg))) == -1)
		return;
	if (n == 0 || memchr(msg, '\0', n) != NULL ||
	    !printable((char *)msg)) {
		s->sasl = SASL_NONE;
		smtp_reply(s, "501 5.5.2 Malformed LOGIN user name");
		return;
	}
	strlcpy(s->sasl_user, (char *)msg, sizeof(s->sasl_user));
	s->sasl = SASL_LOGIN_PASS;
	smtp_reply(s, "334 " LOGIN_PASS_CHALLENGE);
}

static void
auth_login_pass(struct smtp_session *s, const char *resp)
{
	unsigned char	msg[1024];
	char		user[sizeof(s->sasl_user)];
	long		n;

	s->sasl = SASL_NONE;
	if ((n = sasl_decode(s, resp, msg, sizeof(msg))) == -1)
		return;
	if (memchr(msg, '\0', n) != NULL) {
		explicit_bzero(msg, sizeof(msg));
		smtp_reply(s, "501 5.5.2 Malformed LOGIN password");
		return;
	}
	strlcpy(user, s->sasl_user, sizeof(user));
	auth_send(s, user, (char *)msg);
	explicit_bzero(msg, sizeof(msg));
}

void
smtp_proceed_auth(struct smtp_session *s, const char *args)
{
	const char	*ir;
	char		 mech[SMTP_SASL_MECH_MAX + 1];

	(void)smtp_parse_auth(args, mech, sizeof(mech), &ir);
	if (strcmp(s->sasl_mech, "PLAIN") == 0) {
		if (ir != NULL)
			auth_plain(s, ir);
		else {
			s->sasl = SASL_PLAIN;
			smtp_reply(s, "334 ");
		}
		return;
	}
	/* LOGIN */
	if (ir != NULL) {
		s->sasl = SASL_LOGIN_USER;
		auth_login_user(s, ir);
	} else {
		s->sasl = SASL_LOGIN_USER;
		smtp_reply(s, "334 " LOGIN_USER_CHALLENGE);
	}
}

void
smtp_auth_response(struct smtp_session *s, char *line, size_t len)
{
	s->cmd = CMD_AUTH;
	if (len > SMTP_AUTH_TEXT_MAX || memchr(line, '\0', len) != NULL) {
		s->sasl = SASL_NONE;
		smtp_reply(s, "501 5.5.2 Cannot decode response");
		return;
	}
	while (len > 0 && (line[len - 1] == ' ' || line[len - 1] == '\t'))
		line[--len] = '\0';
	switch (s->sasl) {
	case SASL_PLAIN:
		auth_plain(s, line);
		break;
	case SASL_LOGIN_USER:
		auth_login_user(s, line);
		break;
	case SASL_LOGIN_PASS:
		auth_login_pass(s, line);
		break;
	default:
		s->sasl = SASL_NONE;
		break;
	}
}

void
smtp_auth_fail_temp(struct smtp_session *s)
{
	s->sasl = SASL_NONE;
	log_info("auth unavailable client=[%s] mech=%s user=%s", s->ip,
	    s->sasl_mech, s->sasl_user[0] ? s->sasl_user : "-");
	explicit_bzero(s->sasl_user, sizeof(s->sasl_user));
	smtp_reply(s, "454 4.7.0 Temporary authentication failure");
}

void
smtp_auth_result(struct smtp_session *s, struct ipc_msg *msg)
{
	struct ipc_rbuf	 r;
	char		 canon[ADDR_MAX], mailbox[ADDR_MAX];
	uint32_t	 status;

	ipc_rbuf_init(&r, msg->data, msg->hdr.len);
	status = ipc_get_u32(&r);
	ipc_get_str(&r, canon, sizeof(canon));
	ipc_get_str(&r, mailbox, sizeof(mailbox));
	if (ipc_get_end(&r) == -1 || (status == AUTH_LOGIN_OK &&
	    canon[0] == '\0')) {
		log_warnx("bad IPC_AUTH_LOGIN_RESULT from auth");
		status = AUTH_LOGIN_TEMPFAIL;
	}
	switch (status) {
	case AUTH_LOGIN_OK:
		strlcpy(s->auth_user, canon, sizeof(s->auth_user));
		log_info("auth ok client=[%s] mech=%s user=%s", s->ip,
		    s->sasl_mech, s->auth_user);
		explicit_bzero(s->sasl_user, sizeof(s->sasl_user));
		smtp_reply(s, "235 2.7.0 Authentication successful");
		break;
	case AUTH_LOGIN_FAIL:
		log_info("auth failed client=[%s] mech=%s user=%s", s->ip,
		    s->sasl_mech, s->sasl_user);
		explicit_bzero(s->sasl_user, sizeof(s->sasl_user));
		smtp_reply(s, "535 5.7.8 Error: authentication failed");
		break;
	default:
		smtp_auth_fail_temp(s);
		break;
	}
}
