/*
 * The state of one SMTP session, shared by the files that implement it:
 * smtp_session.c (I/O, limits, the command table, the transaction, DATA
 * and BDAT), smtp_auth.c (AUTH, RFC 4954) and smtp_tls.c (STARTTLS,
 * RFC 3207, and implicit TLS, RFC 8314). Private to smtpd.
 */
#ifndef FACTEUR_SMTP_SESSION_H
#define FACTEUR_SMTP_SESSION_H

#include <sys/types.h>
#include <sys/socket.h>
#include <sys/queue.h>

#include <stdint.h>

#include <openssl/ssl.h>

#include "addr.h"
#include "envelope.h"
#include "ipc.h"
#include "smtp_data.h"
#include "smtp_parse.h"

struct bufferevent;
struct event;
struct smtp_listener;

enum smtp_state {
	S_INIT,			/* greeted, no HELO/EHLO yet */
	S_HELO,			/* HELO/EHLO done, no transaction */
	S_MAIL,			/* MAIL accepted */
	S_RCPT,			/* at least one RCPT accepted */
	S_DATA,			/* reading the message after DATA */
	S_BDAT,			/* BDAT chunks are coming (RFC 3030) */
	S_CLOSING,		/* flushing the last replies */
};

#define SF_EHLO		0x0001	/* EHLO (not HELO) was used */
#define SF_BARELF	0x0002	/* LF.LF may end DATA */
#define SF_SKIPLINE	0x0004	/* discarding an over-long command line */
#define SF_CLOSING	0x0008
#define SF_QUEUELOST	0x0010	/* queue went away during DATA */
#define SF_GREETWAIT	0x0020	/* greet_pause: not greeted yet */
#define SF_STARTTLS	0x0040	/* 220 to STARTTLS sent: switch when flushed */
#define SF_TLS		0x0080	/* TLS is on (STARTTLS or smtps) */
#define SF_HANDSHAKE	0x0100	/* TLS handshake in progress */
#define SF_INCHUNK	0x0200	/* reading the octets of a BDAT chunk */
#define SF_LOOPBACK	0x0400	/* client on loopback or the local socket */

/* SASL exchange in progress (RFC 4954 4: 334 challenges) */
enum smtp_sasl {
	SASL_NONE = 0,
	SASL_PLAIN,		/* waiting for the PLAIN message */
	SASL_LOGIN_USER,	/* waiting for the LOGIN user name */
	SASL_LOGIN_PASS,	/* waiting for the LOGIN password */
};

struct smtp_session {
	TAILQ_ENTRY(smtp_session) entry;
	uint32_t		 reqid;		/* pending request, 0 none */
	int			 wait;		/* enum smtp_wait */
	struct smtp_listener	*l;
	struct bufferevent	*bev;
	int			 fd;
	SSL			*ssl;		/* owned by bev once TLS is on */
	struct event		*timer;		/* request timeout, greeting,
						   STARTTLS switch, close */
	struct event		*life;		/* session_timeout */
	struct sockaddr_storage	 ss;
	socklen_t		 sslen;
	char			 ip[64];	/* address, or "local" */
	long			 uid;		/* local: peer uid */
	int			 state;
	int			 flags;
	int			 cmd;		/* command being handled */
	char			 helo[256];

	/* limits of the listener, taken at connect */
	uint64_t		 max_size;
	size_t			 max_rcpt;
	unsigned int		 max_errors;
	size_t			 max_line;
	int			 cmd_timeout;
	int			 data_timeout;
	unsigned int		 max_commands;
	uint64_t		 min_rate;	/* bytes/s during DATA, BDAT */
	int			 require_auth;
	int			 sender_check;

	unsigned int		 errors;
	unsigned int		 ncommands;
	unsigned int		 ncmd[CMD_COUNT];
	unsigned int		 nmsg;

	/* TLS */
	char			 tls_info[160];	/* "TLSv1.3 with cipher ..." */

	/* AUTH */
	int			 sasl;		/* enum smtp_sasl */
	char			 sasl_mech[SMTP_SASL_MECH_MAX + 1];
	char			 sasl_user[ADDR_MAX * 2];
	char			 auth_user[ADDR_MAX];	/* "" until AUTH */

	/* the transaction */
	struct envelope		 env;
	int			 rcpt_tried;
	struct smtp_mail_args	 mail;
	struct smtp_rcpt_args	 rcpt;
	char			 rcpt_addr[ADDR_MAX];	/* waiting for auth */

	/* DATA and BDAT */
	struct smtp_data	 data;
	int			 msgfd;
	char			 queueid[QUEUEID_LEN + 1];
	char			*wbuf;
	size_t			 wlen;
	uint64_t		 written;
	int			 werrno;
	uint64_t		 phase_start;	/* mono ms: DATA or chunk began */
	uint64_t		 phase_bytes;	/* octets read since */
	unsigned long long	 chunk_size;	/* octets of this chunk */
	unsigned long long	 chunk_left;	/* octets of this chunk to read */
	int			 chunk_last;	/* it is BDAT ... LAST */
	unsigned long long	 discard_left;	/* octets of a refused chunk */
};

/* smtp_session.c */
void	smtp_reply(struct smtp_session *, const char *, ...)
	    __attribute__((format(printf, 2, 3)));
void	smtp_close(struct smtp_session *);
void	smtp_txn_reset(struct smtp_session *);
void	smtp_process(struct smtp_session *);
void	smtp_io_update(struct smtp_session *);
/* installs bev as the session's connection (callbacks, timeouts) */
void	smtp_set_bev(struct smtp_session *, struct bufferevent *);
int	smtp_request(struct smtp_session *, int proc, uint32_t type, int wait,
	    const struct ipc_wbuf *);
const char *smtp_cmd_label(int cmd);

/* smtp_auth.c */
int	smtp_auth_offered(struct smtp_session *);
int	smtp_check_auth(struct smtp_session *, const char *);
void	smtp_proceed_auth(struct smtp_session *, const char *);
/* a line of the SASL exchange (not a command) */
void	smtp_auth_response(struct smtp_session *, char *line, size_t len);
void	smtp_auth_result(struct smtp_session *, struct ipc_msg *);
void	smtp_auth_fail_temp(struct smtp_session *);

/* smtp_tls.c */
int	smtp_tls_offered(struct smtp_session *);
int	smtp_check_starttls(struct smtp_session *, const char *);
void	smtp_proceed_starttls(struct smtp_session *, const char *);
/* the 220 went out: start the handshake on the same socket */
void	smtp_tls_switch(struct smtp_session *);
/* smtps: the connection starts with TLS; -1 when there is no context */
int	smtp_tls_accept(struct smtp_session *);
/* the handshake is done */
void	smtp_tls_connected(struct smtp_session *);
void	smtp_tls_stats(char *, size_t);
/* why the handshake or the connection failed (OpenSSL errors) */
void	smtp_tls_errors(struct bufferevent *, char *, size_t);

#endif
