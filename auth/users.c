/*
 * The users file and the lookups on it (see users.h). Accounts and local
 * domains are kept in red-black trees keyed by lower-cased names: a
 * lookup is O(log n) and never touches the disk, except for a stat(2) of
 * the file at most once a second (and before answering "no such user",
 * so that an account just added is never refused).
 *
 * RFC 5321 section 2.4: the local part is case-sensitive in principle,
 * but we match it case-insensitively, as most servers do; the domain is
 * case-insensitive. Section 4.5.1: "postmaster" without a domain is
 * looked up as postmaster@ each local domain.
 */
#include <sys/types.h>
#include <sys/stat.h>
#include <sys/tree.h>

#include <crypt.h>
#include <ctype.h>
#include <errno.h>
#include <openssl/crypto.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "addr.h"
#include "ipc.h"
#include "log.h"
#include "users.h"
#include "util.h"

#define USERS_CHECK_MS	1000

#ifndef __unused	/* used by sys/tree.h's generated functions */
#define __unused	__attribute__((__unused__))
#endif

struct account {
	RB_ENTRY(account)	 entry;
	char			*key;		/* "user@domain", lower case */
	char			*hash;
	char			*mailbox;	/* "domain/user" */
};

struct domain {
	RB_ENTRY(domain)	 entry;
	char			*name;
};

RB_HEAD(account_tree, account);
RB_HEAD(domain_tree, domain);

struct users {
	char			*path;
	struct account_tree	 accounts;
	struct domain_tree	 domains;
	char			**conf_domains;
	size_t			 nconf_domains;
	size_t			 naccounts;
	size_t			 ndomains;
	int			 ok;		/* the last read worked */
	int			 have_stat;
	struct stat		 sb;		/* of the file last read */
	uint64_t		 checked_ms;
};

static int	account_cmp(struct account *, struct account *);
static int	domain_cmp(struct domain *, struct domain *);
RB_GENERATE_STATIC(account_tree, account, entry, account_cmp)
RB_GENERATE_STATIC(domain_tree, domain, entry, domain_cmp)

static void	users_clear(struct account_tree *, struct domain_tree *);
static void	users_load(struct users *);
static int	users_parse_line(char *, char **, char **, char **);
static int	users_valid_part(const char *, size_t);
static void	domain_add(struct domain_tree *, size_t *, const char *);
static int	users_split(const char *, char *, size_t, char **, char **);
static struct account *users_find(struct users *, const char *,
		    const char *);

static int
account_cmp(struct account *a, struct account *b)
{
	return strcmp(a->key, b->key);
}

static int
domain_cmp(struct domain *a, struct domain *b)
{
	return strcmp(a->name, b->name);
}

struct users *
users_new(const char *path)
{
	struct users	*u;

	u = xcalloc(1, sizeof(*u));
	u->path = xstrdup(path);
	RB_INIT(&u->accounts);
	RB_INIT(&u->domains);
	return u;
}

static void
users_clear(struct account_tree *at, struct domain_tree *dt)
{
	struct account	*a;
	struct domain	*d;

	while ((a = RB_MIN(account_tree, at)) != NULL) {
		RB_REMOVE(account_tree, at, a);
		free(a->key);
		if (a->hash != NULL) {
			explicit_bzero(a->hash, strlen(a->hash));
			free(a->hash);
		}
		free(a->mailbox);
		free(a);
	}
	while ((d = RB_MIN(domain_tree, dt)) != NULL) {
		RB_REMOVE(domain_tree, dt, d);
		free(d->name);
		free(d);
	}
}

void
users_free(struct users *u)
{
	size_t	i;

	if (u == NULL)
		return;
	users_clear(&u->accounts, &u->domains);
	for (i = 0; i < u->nconf_domains; i++)
		free(u->conf_domains[i]);
	free(u->conf_domains);
	free(u->path);
	free(u);
}

void
users_set_domains(struct users *u, const char *const *list, size_t n)
{
	size_t	i;

	for (i = 0; i < u->nconf_domains; i++)
		free(u->conf_domains[i]);
	free(u->conf_domains);
	u->conf_domains = xcalloc(n + 1, sizeof(char *));
	for (i = 0; i < n; i++)
		u->conf_domains[i] = str_lower(xstrdup(list[i]));
	u->nconf_domains = n;
	u->have_stat = 0;	/* rebuild the domain set at the next look */
}

static void
domain_add(struct domain_tree *dt, size_t *n, const char *name)
{
	struct domain	*d, key;

	key.name = (char *)name;
	if (RB_FIND(domain_tree, dt, &key) != NULL)
		return;
	d = xcalloc(1, sizeof(*d));
	d->name = xstrdup(name);
	RB_INSERT(domain_tree, dt, d);
	(*n)++;
}

/*
 * mode 0: stat the file if the last look is older than a second;
 * 1: stat it now; 2: read it again whatever the stat says.
 * A changed file (device, inode, size, mtime) is read again.
 */
void
users_refresh(struct users *u, int mode)
{
	struct stat	sb;
	uint64_t	now = mono_msec();

	if (mode == 0 && u->have_stat && now - u->checked_ms < USERS_CHECK_MS)
		return;
	u->checked_ms = now;
	if (stat(u->path, &sb) == -1) {
		if (u->ok || !u->have_stat)
			log_warn("users: %s", u->path);
		u->ok = 0;
		u->have_stat = 1;
		memset(&u->sb, 0, sizeof(u->sb));
		return;
	}
	if (mode != 2 && u->have_stat && u->ok && sb.st_dev == u->sb.st_dev &&
	    sb.st_ino == u->sb.st_ino && sb.st_size == u->sb.st_size &&
	    sb.st_mtim.tv_sec == u->sb.st_mtim.tv_sec &&
	    sb.st_mtim.tv_nsec == u->sb.st_mtim.tv_nsec)
		return;
	users_load(u);
}

/* Reads the whole file into new trees; swaps them in on success. */
static void
users_load(struct users *u)
{
	struct account_tree	 at = RB_INITIALIZER(&at);
	struct domain_tree	 dt = RB_INITIALIZER(&dt);
	struct account		*a;
	FILE			*fp;
	char			*line = NULL, *user, *domain, *hash;
	size_t			 sz = 0, i, na = 0, nd = 0, lineno = 0;
	int			 bad = 0;

	u->have_stat = 1;
	if ((fp = fopen(u->path, "re")) == NULL) {
		log_warn("users: cannot read %s", u->path);
		u->ok = 0;
		memset(&u->sb, 0, sizeof(u->sb));
		return;
	}
	if (fstat(fileno(fp), &u->sb) == -1)
		memset(&u->sb, 0, sizeof(u->sb));
	for (i = 0; i < u->nconf_domains; i++)
		domain_add(&dt, &nd, u->conf_domains[i]);
	while (getline(&line, &sz, fp) != -1) {
		lineno++;
		switch (users_parse_line(line, &user, &domain, &hash)) {
		case 0:
			break;
		case 1:
			continue;	/* blank or comment */
		default:
			log_warnx("users: %s:%zu: bad line (want "
			    "user@domain:hash), skipped", u->path, lineno);
			bad++;
			continue;
		}
		a = xcalloc(1, sizeof(*a));
		if (xasprintf(&a->key, "%s@%s", user, domain) == -1 ||
		    xasprintf(&a->mailbox, "%s/%s", domain, user) == -1)
			fatal("asprintf");
		if (RB_INSERT(account_tree, &at, a) != NULL) {
			log_warnx("users: %s:%zu: %s listed again, skipped",
			    u->path, lineno, a->key);
			free(a->key);
			free(a->mailbox);
			free(a);
			bad++;
			continue;
		}
		a->hash = xstrdup(hash);
		na++;
		domain_add(&dt, &nd, domain);
	}
	if (ferror(fp)) {
		log_warn("users: read %s", u->path);
		fclose(fp);
		free(line);
		users_clear(&at, &dt);
		u->ok = 0;
		return;
	}
	fclose(fp);
	if (line != NULL) {
		explicit_bzero(line, sz);
		free(line);
	}
	users_clear(&u->accounts, &u->domains);
	u->accounts = at;
	u->domains = dt;
	u->naccounts = na;
	u->ndomains = nd;
	u->ok = 1;
	log_info("users: loaded %zu accounts in %zu domains from %s%s", na, nd,
	    u->path, bad ? " (some lines skipped)" : "");
}

/* 0: an account; 1: nothing on this line; -1: a bad line */
static int
users_parse_line(char *line, char **user, char **domain, char **hash)
{
	char	*p, *end, *at, *colon;

	for (p = line; *p == ' ' || *p == '\t'; p++)
		;
	end = p + strlen(p);
	while (end > p && isspace((unsigned char)end[-1]))
		*--end = '\0';
	if (*p == '\0' || *p == '#')
		return 1;
	if ((colon = strchr(p, ':')) == NULL)
		return -1;
	*colon = '\0';
	*hash = colon + 1;
	if (**hash == '\0' || strpbrk(*hash, " \t") != NULL)
		return -1;
	if ((at = strrchr(p, '@')) == NULL)
		return -1;
	*at = '\0';
	*user = str_lower(p);
	*domain = str_lower(at + 1);
	if (!users_valid_part(*user, ADDR_LOCAL_MAX) ||
	    !users_valid_part(*domain, ADDR_DOMAIN_MAX))
		return -1;
	return 0;
}

/* A name that may become a path component of a Maildir. */
static int
users_valid_part(const char *s, size_t max)
{
	size_t	len = strlen(s);

	if (len == 0 || len > max || s[0] == '.')
		return 0;
	for (; *s != '\0'; s++)
		if ((unsigned char)*s <= ' ' || *s == 0x7f || *s == '/' ||
		    *s == '@' || *s == ':' || *s == '"' || *s == '\\')
			return 0;
	return 1;
}

/*
 * "local@domain" into buf, lower-cased, the local part unquoted.
 * domain is NULL when there is none. Returns -1 when it does not fit.
 */
static int
users_split(const char *address, char *buf, size_t bufsz, char **local,
    char **domain)
{
	char	*at, *p, *q;
	size_t	 len;

	if (strlcpy(buf, address, bufsz) >= bufsz)
		return -1;
	if ((at = strrchr(buf, '@')) != NULL && at[1] != '\0') {
		*at = '\0';
		*domain = str_lower(at + 1);
	} else {
		if (at != NULL)
			*at = '\0';
		*domain = NULL;
	}
	len = strlen(buf);
	if (len >= 2 && buf[0] == '"' && buf[len - 1] == '"') {
		buf[len - 1] = '\0';
		for (p = buf + 1, q = buf; *p != '\0'; p++) {
			if (*p == '\\' && p[1] != '\0')
				p++;
			*q++ = *p;
		}
		*q = '\0';
	}
	*local = str_lower(buf);
	return 0;
}

static struct account *
users_find(struct users *u, const char *local, const char *domain)
{
	struct account	key;
	char		buf[ADDR_MAX * 2 + 2];

	if ((size_t)snprintf(buf, sizeof(buf), "%s@%s", local, domain) >=
	    sizeof(buf))
		return NULL;
	key.key = buf;
	return RB_FIND(account_tree, &u->accounts, &key);
}

int
users_lookup(struct users *u, const char *address, char *mailbox,
    size_t mailboxsz)
{
	struct account	*a = NULL;
	struct domain	*d, key;
	char		 buf[ADDR_MAX * 2 + 8], *local, *domain;
	int		 again;

	mailbox[0] = '\0';
	if (users_split(address, buf, sizeof(buf), &local, &domain) == -1)
		return AUTH_RCPT_NOUSER;
	users_refresh(u, 0);
	for (again = 0; again < 2; again++) {
		if (!u->ok)
			return AUTH_RCPT_TEMPFAIL;
		if (domain == NULL) {
			/* RFC 5321 4.5.1: <postmaster> */
			if (strcmp(local, "postmaster") != 0)
				return AUTH_RCPT_NOUSER;
			RB_FOREACH(d, domain_tree, &u->domains)
				if ((a = users_find(u, local, d->name)) != NULL)
					break;
		} else {
			key.name = domain;
			if (RB_FIND(domain_tree, &u->domains, &key) == NULL)
				a = NULL;
			else
				a = users_find(u, local, domain);
		}
		if (a != NULL) {
			if (strlcpy(mailbox, a->mailbox, mailboxsz) >=
			    mailboxsz)
				return AUTH_RCPT_TEMPFAIL;
			return AUTH_RCPT_LOCAL;
		}
		if (again == 0)
			users_refresh(u, 1);	/* a negative answer: be sure */
	}
	if (domain != NULL) {
		key.name = domain;
		if (RB_FIND(domain_tree, &u->domains, &key) == NULL)
			return AUTH_RCPT_NOTLOCAL;
	}
	return AUTH_RCPT_NOUSER;
}

/*
 * For AUTH (next issue): crypt(3) the password with the stored hash as
 * setting and compare in constant time. An unknown account costs the
 * same as a known one (a dummy hash of the same kind is used).
 */
int
users_check_password(struct users *u, const char *address,
    const char *password)
{
	static char		 dummy[CRYPT_OUTPUT_SIZE];
	struct crypt_data	*cd;
	struct account		*a = NULL;
	const char		*setting, *out;
	char			 buf[ADDR_MAX * 2 + 8], *local, *domain;
	size_t			 len;
	int			 ret = -1;

	users_refresh(u, 0);
	if (u->ok && users_split(address, buf, sizeof(buf), &local,
	    &domain) == 0 && domain != NULL)
		a = users_find(u, local, domain);
	if (dummy[0] == '\0') {
		const char *salt = crypt_gensalt("$y$", 0, NULL, 0);

		if (salt == NULL || (out = crypt(" ", salt)) == NULL ||
		    out[0] == '*')
			strlcpy(dummy, "*", sizeof(dummy));
		else
			strlcpy(dummy, out, sizeof(dummy));
	}
	setting = a != NULL ? a->hash : dummy;
	cd = xcalloc(1, sizeof(*cd));
	out = crypt_r(password, setting, cd);
	if (out != NULL && out[0] != '*' && a != NULL) {
		len = strlen(a->hash);
		if (strlen(out) == len && CRYPTO_memcmp(out, a->hash,
		    len) == 0)
			ret = 0;
	}
	explicit_bzero(cd, sizeof(*cd));
	free(cd);
	return ret;
}

const char *
users_first_domain(struct users *u)
{
	struct domain	*d;

	users_refresh(u, 0);
	if (u->nconf_domains > 0)
		return u->conf_domains[0];
	if ((d = RB_MIN(domain_tree, &u->domains)) != NULL)
		return d->name;
	return NULL;
}

int
users_first_account(struct users *u, const char *domain, char *addr,
    size_t addrsz, char *mailbox, size_t mailboxsz)
{
	struct account	*a;
	const char	*at;

	users_refresh(u, 0);
	RB_FOREACH(a, account_tree, &u->accounts) {
		if (domain != NULL && ((at = strrchr(a->key, '@')) == NULL ||
		    strcmp(at + 1, domain) != 0))
			continue;
		if (strlcpy(addr, a->key, addrsz) >= addrsz ||
		    strlcpy(mailbox, a->mailbox, mailboxsz) >= mailboxsz)
			return -1;
		return 0;
	}
	return -1;
}

void
users_stats(struct users *u, char *buf, size_t bufsz)
{
	snprintf(buf, bufsz, "users=%zu domains=%zu users_file_ok=%d",
	    u->naccounts, u->ndomains, u->ok);
}
