/*
 * popd-mail, the POP3 mail half: popd_mail.c is the daemon (sessions
 * handed over by popd), pop3_mail.c one client's TRANSACTION and UPDATE
 * states over the store.
 */
#ifndef FACTEUR_POPD_MAIL_H
#define FACTEUR_POPD_MAIL_H

#include <stddef.h>
#include <stdint.h>

struct config;
struct handover;

/* popd_mail.c */
extern char	popd_mail_hostname[256];
const struct config *popd_mail_config(void);

/* pop3_mail.c: takes the hand-over's fd; id is echoed in SESSION_END */
void	pop3_mail_start(struct handover *, uint32_t id);
void	pop3_mail_stats(char *buf, size_t bufsz);

#endif
