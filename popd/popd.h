/*
 * popd, the POP3 pre-login half: popd.c is the daemon (listeners "pop3"
 * with STLS and "pop3s" with implicit TLS, TLS material, channels to auth
 * and popd-mail); pop3_login.c is one client's AUTHORIZATION state, up to
 * the hand-over to popd-mail.
 */
#ifndef FACTEUR_POPD_H
#define FACTEUR_POPD_H

#include <sys/types.h>
#include <sys/socket.h>

#include <stdint.h>

#include <openssl/ssl.h>

struct config;
struct ipc_msg;
struct evconnlistener;

struct pop3_listener {
	char			 name[16];	/* pop3, pop3s */
	char			 addr[256];
	int			 fd;
	int			 implicit_tls;	/* pop3s */
	struct evconnlistener	*evl;
	unsigned int		 nsessions;
	struct pop3_listener	*next;
};

/* the time auth and popd-mail have to answer (seconds) */
#define POPD_IPC_TIMEOUT	30

/* popd.c */
extern char	popd_hostname[256];
const struct config *popd_config(void);
SSL_CTX		*popd_tls_ctx(void);	/* NULL without TLS material */
int		 popd_send(int proc, uint32_t type, uint32_t reqid, int fd,
		    const void *data, size_t len);
uint32_t	 popd_new_reqid(void);

/* pop3_login.c */
void	pop3_login_accept(struct pop3_listener *, int fd,
	    const struct sockaddr *, socklen_t);
void	pop3_login_answer(int from_proc, struct ipc_msg *);
void	pop3_login_peer_gone(int proc);
void	pop3_login_stats(char *buf, size_t bufsz);

#endif
