/*
 * Mail addresses as SMTP carries them (RFC 5321 section 4.1.2: Path,
 * Mailbox, Local-part as Dot-string or Quoted-string, Domain or
 * address-literal), and RFC 6531 UTF-8 when allowed.
 */
#ifndef FACTEUR_ADDR_H
#define FACTEUR_ADDR_H

#include <stddef.h>

#define ADDR_LOCAL_MAX	64	/* RFC 5321 4.5.3.1.1 */
#define ADDR_DOMAIN_MAX	255	/* RFC 5321 4.5.3.1.2 */
#define ADDR_MAX	(ADDR_LOCAL_MAX + 1 + ADDR_DOMAIN_MAX + 1)

struct mailaddr {
	char	local[ADDR_LOCAL_MAX * 2 + 3];	/* as written, quotes kept */
	char	domain[ADDR_DOMAIN_MAX + 1];	/* lower-cased ASCII; "" for
						   the null path <> */
};

#define ADDR_F_UTF8	0x1	/* SMTPUTF8: allow UTF-8 in local and domain */
#define ADDR_F_NULLOK	0x2	/* accept "<>" (MAIL FROM) */
#define ADDR_F_NODOMAIN	0x4	/* accept "postmaster" without a domain */

/*
 * Parses a Path "<local@domain>" (with an optional, ignored source route
 * "@a,@b:" as RFC 5321 4.1.2 says to accept) from s, which holds exactly
 * the path and nothing else. Returns 0, or -1 with a short reason in err.
 */
int	 addr_parse_path(const char *s, int flags, struct mailaddr *,
	    const char **err);
/* "local@domain" into buf, or "" for the null path; returns buf */
char	*addr_format(const struct mailaddr *, char *buf, size_t bufsz);
/* the local part without quotes (for account lookup), into buf */
int	 addr_local_unquoted(const struct mailaddr *, char *buf, size_t);

#endif
