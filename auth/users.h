/*
 * The users file: "user@domain:hash" lines (hash as crypt(3) writes it:
 * yescrypt $y$, sha512-crypt $6$, bcrypt $2b$), '#' comments, blank
 * lines. Local domains are the `domains` setting plus every domain that
 * appears in the file. The file is re-read when it changes.
 */
#ifndef FACTEUR_USERS_H
#define FACTEUR_USERS_H

#include <stddef.h>

struct users;

/* path is opened as is (absolute); domains: the configured domains */
struct users	*users_new(const char *path);
void		 users_free(struct users *);
/* replaces the configured domains (a copy is kept) */
void		 users_set_domains(struct users *, const char *const *, size_t);
/* re-reads the file now if it changed (force: even if it did not) */
void		 users_refresh(struct users *, int force);

/*
 * Recipient lookup for RCPT TO: returns an enum auth_rcpt_status
 * (ipc.h) and, for AUTH_RCPT_LOCAL, "domain/user" in mailbox.
 */
int		 users_lookup(struct users *, const char *address,
		    char *mailbox, size_t mailboxsz);

/* 0 when password matches the account's hash, else -1 (constant time) */
int		 users_check_password(struct users *, const char *address,
		    const char *password);

/* the first configured domain (else the first known one), or NULL */
const char	*users_first_domain(struct users *);
/* the first account (in name order) of domain, or of any domain when
   domain is NULL: 0 with its address and mailbox, or -1 */
int		 users_first_account(struct users *, const char *domain,
		    char *addr, size_t addrsz, char *mailbox, size_t mailboxsz);

/* "users=N domains=N" */
void		 users_stats(struct users *, char *, size_t);

#endif
