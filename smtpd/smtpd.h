/*
 * smtpd: the SMTP server daemon. smtpd.c is the daemon (listeners, IPC
 * with auth and queue, configuration, the TLS context); smtp_session.c is
 * one client's session (I/O, limits, the command table, DATA and BDAT),
 * smtp_auth.c its AUTH command, smtp_tls.c its STARTTLS and implicit TLS.
 */
#ifndef FACTEUR_SMTPD_H
#define FACTEUR_SMTPD_H

#include <sys/types.h>
#include <sys/socket.h>

#include <stdint.h>

struct config;
struct ipc_msg;
struct evconnlistener;

struct smtp_listener {
	char			 name[16];	/* smtp, submission, smtps,
						   local */
	char			 addr[256];
	int			 fd;
	int			 local;		/* the sendmail socket */
	struct evconnlistener	*evl;
	unsigned int		 nsessions;
	struct smtp_listener	*next;
};

/* what a session waits for (one request at a time) */
enum smtp_wait {
	WAIT_NONE = 0,
	WAIT_AUTH_RCPT,
	WAIT_QUEUE_CREATE,
	WAIT_QUEUE_COMMIT,
	WAIT_AUTH_LOGIN,
	WAIT_AUTH_SENDER,
};

/* the time auth or queue has to answer (seconds) */
#define SMTPD_IPC_TIMEOUT	30

/* smtpd.c */
extern char	smtpd_hostname[256];
const struct config *smtpd_config(void);
/* the server TLS context (from IPC_TLS_MATERIAL), NULL when there is none */
struct ssl_ctx_st *smtpd_tls_ctx(void);
/* sends a request to auth or queue; 0, or -1 when the peer is down */
int	smtpd_send(int proc, uint32_t type, uint32_t reqid, int fd,
	    const void *data, size_t len);
uint32_t smtpd_new_reqid(void);

/* smtp_session.c */
void	smtp_session_accept(struct smtp_listener *, int fd,
	    const struct sockaddr *, socklen_t);
/* an answer from auth or queue for reqid; handler owns msg->fd */
void	smtp_session_answer(int from_proc, struct ipc_msg *);
/* a peer went away: fail the sessions waiting on it */
void	smtp_session_peer_gone(int proc);
void	smtp_session_stats(char *buf, size_t bufsz);

#endif
