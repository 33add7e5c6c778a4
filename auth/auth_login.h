/*
 * Password logins (IPC_AUTH_LOGIN) for smtpd, popd and imapd, and the
 * sender check of authenticated submission (IPC_AUTH_SENDER).
 */
#ifndef FACTEUR_AUTH_LOGIN_H
#define FACTEUR_AUTH_LOGIN_H

struct config;
struct ipc_chan;
struct ipc_msg;
struct users;

void	auth_login_config(const struct config *, struct users *);
void	auth_login(struct ipc_chan *, int from, struct ipc_msg *);
void	auth_sender(struct ipc_chan *, struct ipc_msg *);

#endif
