/*
 * Aliases: the compiled aliases_file (local names, every local domain) and
 * virtual_aliases_file (per address, "@domain" catch-alls), both LMDB
 * files written by newaliases(8), and the recursive expansion of a
 * recipient into final addresses (see aliases.c for the rules).
 */
#ifndef FACTEUR_ALIASES_H
#define FACTEUR_ALIASES_H

#include <stddef.h>

#include "addr.h"

#define ALIASES_MAX_DEPTH	16	/* nested aliases */
#define ALIASES_MAX_ITEMS	1000	/* final addresses of one expansion */
/* the RCPT TO mailbox of an alias: the queue expands it (IPC_AUTH_EXPAND);
   shaped "x/y" so that the envelope takes it; queue/queue.h has it too */
#define ALIASES_MAILBOX		"@alias/expand"

struct aliases;
struct config;
struct users;

struct alias_item {
	int	status;			/* enum auth_expand_status */
	char	addr[ADDR_MAX];		/* final address */
	char	mailbox[ADDR_MAX];	/* "domain/user", "-" or "" */
};

struct aliases	*aliases_new(void);
void		 aliases_free(struct aliases *);
/* paths, recipient_delimiter, postmaster_address; reopens the maps */
void		 aliases_config(struct aliases *, const struct config *);

/*
 * Expands address (already parsed, domain lower-cased) into *items (n
 * entries, malloc'd, free() them). Returns an enum auth_expand_status for
 * the whole: AUTH_EXPAND_OK (items say the rest), AUTH_EXPAND_TEMPFAIL
 * or AUTH_EXPAND_TOOBIG (no items).
 */
int		 aliases_expand(struct aliases *, struct users *,
		    const char *address, struct alias_item **items, size_t *n);

/*
 * For RCPT TO: an enum auth_rcpt_status. LOCAL with "domain/user" when
 * the address is one account, LOCAL with ALIASES_MAILBOX when the queue must
 * expand it after the commit (IPC_AUTH_EXPAND).
 */
int		 aliases_rcpt(struct aliases *, struct users *,
		    const char *address, char *mailbox, size_t mailboxsz);

/* "aliases=N virtual=N" (entries of the open maps) */
void		 aliases_stats(struct aliases *, char *, size_t);

#endif
