/*
 * Aliases and the expansion of a recipient (IPC_AUTH_EXPAND, and the
 * RCPT TO answer). The maps are LMDB files compiled by newaliases(8):
 * aliases_file.lmdb (key: a local name, "postmaster") and
 * virtual_aliases_file.lmdb (key: "user@domain", or "@domain" for a
 * catch-all); each value is the list of targets, comma-separated, as
 * written in the text file. They are opened read-only (MDB_RDONLY,
 * MDB_NOLOCK: newaliases never changes a file in place, it renames a new
 * one over it) and reopened when the file changes.
 *
 * An address local@domain of a local domain resolves, in this order:
 *	1. a virtual alias for local@domain		(then without +ext)
 *	2. a local alias for local (aliases_file)	(then without +ext)
 *	3. the account local@domain			(then without +ext)
 *	4. the catch-all "@domain"
 *	5. postmaster, abuse (RFC 5321 4.5.1, RFC 2142) and root, when
 *	   nothing above exists: postmaster_address if set, else abuse goes
 *	   to postmaster, else the alias "root", else the first account of
 *	   the domain (name order), else the first account of any domain
 *	6. no such user (5.1.1)
 * Targets are expanded again, recursively, up to ALIASES_MAX_DEPTH; a
 * target without a domain gets the domain of the address being expanded.
 * An address met again in its own expansion path is delivered to its
 * account when it has one ("alice: alice, archive", as sendmail and
 * Postfix do), else it is a loop (5.4.6). ":include:/path" (aliases_file
 * only) reads addresses from a file. "|command" and "/file" targets are
 * not supported: skipped with a warning. Sub-addressing (RFC 5233 style,
 * recipient_delimiter): the final address keeps its extension.
 */
#include <sys/types.h>
#include <sys/stat.h>

#include <ctype.h>
#include <errno.h>
#include <lmdb.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "addr.h"
#include "aliases.h"
#include "auth.h"
#include "config.h"
#include "ipc.h"
#include "log.h"
#include "users.h"
#include "util.h"

#define ALIASES_CHECK_MS	1000
#define ALIAS_VALUE_MAX		(64 * 1024)

struct amap {
	const char	*what;		/* "aliases", "virtual" */
	char		*path;		/* the text file; "" none */
	char		*dbpath;	/* path.lmdb */
	MDB_env		*env;
	MDB_dbi		 dbi;
	struct stat	 sb;		/* of dbpath when opened */
	size_t		 entries;
	uint64_t	 checked_ms;
	int		 warned;	/* missing db, said once */
	struct timespec	 newer_warned;	/* text mtime said to be newer */
};

struct aliases {
	struct amap	 local;
	struct amap	 virtual;
	char		 delim[8];
	char		*postmaster;
};

struct xctx {
	struct aliases		*a;
	struct users		*u;
	struct alias_item	*items;
	size_t			 n, cap;
	int			 status;	/* TEMPFAIL, TOOBIG, or OK */
	char			*path[ALIASES_MAX_DEPTH + 1];
	int			 depth;
};

static void	expand_addr(struct xctx *, const char *, const char *);
static void	expand_list(struct xctx *, const char *, const char *, int);

struct aliases *
aliases_new(void)
{
	struct aliases	*a;

	a = xcalloc(1, sizeof(*a));
	a->local.what = "aliases";
	a->virtual.what = "virtual";
	a->local.path = xstrdup("");
	a->virtual.path = xstrdup("");
	a->local.dbpath = xstrdup("");
	a->virtual.dbpath = xstrdup("");
	a->postmaster = xstrdup("");
	return a;
}

static void
amap_close(struct amap *m)
{
	if (m->env != NULL)
		mdb_env_close(m->env);
	m->env = NULL;
	m->entries = 0;
	memset(&m->sb, 0, sizeof(m->sb));
}

void
aliases_free(struct aliases *a)
{
	if (a == NULL)
		return;
	amap_close(&a->local);
	amap_close(&a->virtual);
	free(a->local.path);
	free(a->local.dbpath);
	free(a->virtual.path);
	free(a->virtual.dbpath);
	free(a->postmaster);
	free(a);
}

static void
amap_set(struct amap *m, const char *path)
{
	if (strcmp(m->path, path) == 0)
		return;
	amap_close(m);
	free(m->path);
	free(m->dbpath);
	m->path = xstrdup(path);
	if (path[0] != '\0')
		xasprintf(&m->dbpath, "%s.lmdb", path);
	else
		m->dbpath = xstrdup("");
	m->checked_ms = 0;
	m->warned = 0;
}

void
aliases_config(struct aliases *a, const struct config *cf)
{
	amap_set(&a->local, auth_file_path(cf, "aliases_file"));
	amap_set(&a->virtual, auth_file_path(cf, "virtual_aliases_file"));
	strlcpy(a->delim, config_str(cf, NULL, "recipient_delimiter"),
	    sizeof(a->delim));
	free(a->postmaster);
	a->postmaster = str_lower(xstrdup(config_str(cf, NULL,
	    "postmaster_address")));
	a->local.checked_ms = a->virtual.checked_ms = 0;
}

static int
same_file(const struct stat *a, const struct stat *b)
{
	return a->st_dev == b->st_dev && a->st_ino == b->st_ino &&
	    a->st_size == b->st_size &&
	    a->st_mtim.tv_sec == b->st_mtim.tv_sec &&
	    a->st_mtim.tv_nsec == b->st_mtim.tv_nsec;
}

static void
amap_open(struct amap *m, const struct stat *sb)
{
	MDB_txn		*txn;
	MDB_stat	 st;
	int		 rc;

	if ((rc = mdb_env_create(&m->env)) != 0)
		fatalx("%s: mdb_env_create: %s", m->dbpath, mdb_strerror(rc));
	if ((rc = mdb_env_open(m->env, m->dbpath, MDB_RDONLY | MDB_NOSUBDIR |
	    MDB_NOLOCK | MDB_NOTLS, 0644)) != 0)
		goto bad;
	if ((rc = mdb_txn_begin(m->env, NULL, MDB_RDONLY, &txn)) != 0)
		goto bad;
	if ((rc = mdb_dbi_open(txn, NULL, 0, &m->dbi)) != 0 ||
	    (rc = mdb_stat(txn, m->dbi, &st)) != 0) {
		mdb_txn_abort(txn);
		goto bad;
	}
	mdb_txn_abort(txn);
	m->sb = *sb;
	m->entries = st.ms_entries;
	log_info("%s: opened %s (%zu entries)", m->what, m->dbpath,
	    m->entries);
	return;
 bad:
	log_warnx("%s: cannot open %s: %s", m->what, m->dbpath,
	    mdb_strerror(rc));
	mdb_env_close(m->env);
	m->env = NULL;
	m->sb = *sb;		/* do not retry until it changes */
}

/* stat at most once a second; reopen a changed map */
static void
amap_refresh(struct amap *m)
{
	struct stat	sb, tsb;
	uint64_t	now = mono_msec();

	if (m->path[0] == '\0')
		return;
	if (m->checked_ms != 0 && now - m->checked_ms < ALIASES_CHECK_MS)
		return;
	m->checked_ms = now;
	if (stat(m->dbpath, &sb) == -1) {
		if (m->env != NULL || !m->warned) {
			if (stat(m->path, &tsb) == 0)
				log_warnx("%s: %s exists but %s does not: "
				    "run newaliases", m->what, m->path,
				    m->dbpath);
			m->warned = 1;
		}
		amap_close(m);
		return;
	}
	if (m->sb.st_ino == 0 || !same_file(&sb, &m->sb)) {
		amap_close(m);
		m->warned = 0;
		amap_open(m, &sb);
	}
	/* like Postfix: an edited file that was not compiled, said once */
	if (stat(m->path, &tsb) == 0 && (tsb.st_mtim.tv_sec >
	    sb.st_mtim.tv_sec || (tsb.st_mtim.tv_sec == sb.st_mtim.tv_sec &&
	    tsb.st_mtim.tv_nsec > sb.st_mtim.tv_nsec)) &&
	    (tsb.st_mtim.tv_sec != m->newer_warned.tv_sec ||
	    tsb.st_mtim.tv_nsec != m->newer_warned.tv_nsec)) {
		m->newer_warned = tsb.st_mtim;
		log_warnx("%s: %s is newer than %s: run newaliases", m->what,
		    m->path, m->dbpath);
	}
}

/* the value of key, malloc'd, or NULL; *tempfail set on a read error */
static char *
amap_get(struct amap *m, const char *key, int *tempfail)
{
	MDB_txn		*txn;
	MDB_val		 k, v;
	char		*out = NULL;
	int		 rc;

	if (m->env == NULL || key[0] == '\0')
		return NULL;
	if ((rc = mdb_txn_begin(m->env, NULL, MDB_RDONLY, &txn)) != 0) {
		log_warnx("%s: %s: mdb_txn_begin: %s", m->what, m->dbpath,
		    mdb_strerror(rc));
		*tempfail = 1;
		return NULL;
	}
	k.mv_data = (void *)key;
	k.mv_size = strlen(key);
	rc = mdb_get(txn, m->dbi, &k, &v);
	if (rc == 0 && v.mv_size < ALIAS_VALUE_MAX) {
		out = xmalloc(v.mv_size + 1);
		memcpy(out, v.mv_data, v.mv_size);
		out[v.mv_size] = '\0';
		if (strlen(out) != v.mv_size) {		/* a NUL inside */
			free(out);
			out = NULL;
		}
	} else if (rc != MDB_NOTFOUND && rc != 0) {
		log_warnx("%s: %s: mdb_get: %s", m->what, m->dbpath,
		    mdb_strerror(rc));
		*tempfail = 1;
	}
	mdb_txn_abort(txn);
	return out;
}

/* --- expansion --- */

static void
item_add(struct xctx *x, int status, const char *addr, const char *mailbox)
{
	size_t	i;

	for (i = 0; i < x->n; i++)
		if (strcasecmp(x->items[i].addr, addr) == 0 &&
		    x->items[i].status == status)
			return;		/* once is enough */
	if (x->n >= ALIASES_MAX_ITEMS) {
		x->status = AUTH_EXPAND_TOOBIG;
		return;
	}
	if (x->n == x->cap) {
		x->cap = x->cap ? x->cap * 2 : 8;
		x->items = xreallocarray(x->items, x->cap, sizeof(*x->items));
	}
	x->items[x->n].status = status;
	strlcpy(x->items[x->n].addr, addr, sizeof(x->items[x->n].addr));
	strlcpy(x->items[x->n].mailbox, mailbox,
	    sizeof(x->items[x->n].mailbox));
	x->n++;
}

/*
 * "local@domain" lower-cased, local part unquoted, into buf; local and
 * domain point into it. No domain: dflt. -1 when it does not fit.
 */
static int
split_addr(const char *addr, const char *dflt, char *buf, size_t bufsz,
    char **local, char **domain)
{
	char	*at, *p, *q;
	size_t	 len;

	if (strlcpy(buf, addr, bufsz) >= bufsz)
		return -1;
	if ((at = strrchr(buf, '@')) != NULL) {
		*at = '\0';
		*domain = at + 1;
	} else
		*domain = NULL;
	if (*domain == NULL || **domain == '\0') {
		if (dflt == NULL)
			return -1;
		*domain = (char *)dflt;
	} else
		str_lower(*domain);
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
	return **local == '\0' ? -1 : 0;
}

/* the local part without its +extension into base, or "" when none */
static void
strip_ext(struct aliases *a, const char *local, char *base, size_t basesz)
{
	const char	*d;

	base[0] = '\0';
	if (a->delim[0] == '\0' || local[0] == '\0')
		return;
	/* the first delimiter after the first character */
	if ((d = strpbrk(local + 1, a->delim)) == NULL)
		return;
	if ((size_t)(d - local) >= basesz)
		return;
	memcpy(base, local, d - local);
	base[d - local] = '\0';
}

static int
in_path(struct xctx *x, const char *key)
{
	int	i;

	for (i = 0; i < x->depth; i++)
		if (strcmp(x->path[i], key) == 0)
			return 1;
	return 0;
}

/* root too: "postmaster: root" must reach someone without a root alias */
static int
is_reserved(const char *local)
{
	return strcmp(local, "postmaster") == 0 ||
	    strcmp(local, "abuse") == 0 || strcmp(local, "root") == 0;
}

/* the last resort for postmaster/abuse of domain */
static void
expand_reserved(struct xctx *x, const char *local, const char *domain,
    const char *key)
{
	char	 buf[ADDR_MAX * 2 + 8], addr[ADDR_MAX], mailbox[ADDR_MAX];
	char	*v;
	int	 tf = 0;

	if (x->a->postmaster[0] != '\0' && !in_path(x, x->a->postmaster)) {
		expand_addr(x, x->a->postmaster, domain);
		return;
	}
	if (strcmp(local, "abuse") == 0) {
		snprintf(buf, sizeof(buf), "postmaster@%s", domain);
		if (!in_path(x, buf)) {
			expand_addr(x, buf, domain);
			return;
		}
	}
	if ((v = amap_get(&x->a->local, "root", &tf)) != NULL) {
		expand_list(x, v, domain, 1);
		free(v);
		return;
	}
	if (tf) {
		x->status = AUTH_EXPAND_TEMPFAIL;
		return;
	}
	if (users_first_account(x->u, domain, addr, sizeof(addr), mailbox,
	    sizeof(mailbox)) == 0 || users_first_account(x->u, NULL, addr,
	    sizeof(addr), mailbox, sizeof(mailbox)) == 0) {
		log_debug("%s: no alias nor account: delivered to %s", key,
		    addr);
		item_add(x, AUTH_EXPAND_OK, addr, mailbox);
		return;
	}
	item_add(x, AUTH_EXPAND_NOUSER, key, "");
}

static void
expand_addr(struct xctx *x, const char *addr, const char *dflt_domain)
{
	char	 buf[ADDR_MAX * 2 + 8], key[ADDR_MAX * 2 + 8];
	char	 bkey[ADDR_MAX * 2 + 8], base[ADDR_MAX], mailbox[ADDR_MAX];
	char	*local, *domain, *v = NULL;
	int	 rs, tf = 0;

	if (x->status != AUTH_EXPAND_OK)
		return;
	if (split_addr(addr, dflt_domain, buf, sizeof(buf), &local,
	    &domain) == -1) {
		item_add(x, AUTH_EXPAND_NOUSER, addr, "");
		return;
	}
	snprintf(key, sizeof(key), "%s@%s", local, domain);
	rs = users_lookup(x->u, key, mailbox, sizeof(mailbox));
	if (rs == AUTH_RCPT_TEMPFAIL) {
		x->status = AUTH_EXPAND_TEMPFAIL;
		return;
	}
	if (rs == AUTH_RCPT_NOTLOCAL) {
		item_add(x, AUTH_EXPAND_REMOTE, addr, "-");
		return;
	}
	if (in_path(x, key)) {
		if (rs == AUTH_RCPT_LOCAL)
			item_add(x, AUTH_EXPAND_OK, key, mailbox);
		else {
			log_info("alias loop: <%s> refers to itself", key);
			item_add(x, AUTH_EXPAND_LOOP, key, "");
		}
		return;
	}
	if (x->depth >= ALIASES_MAX_DEPTH) {
		log_info("alias loop: <%s> nested too deep", key);
		item_add(x, AUTH_EXPAND_LOOP, key, "");
		return;
	}
	strip_ext(x->a, local, base, sizeof(base));
	snprintf(bkey, sizeof(bkey), "%s@%s", base, domain);
	x->path[x->depth++] = key;

	/* 1. virtual alias, 2. local alias */
	if ((v = amap_get(&x->a->virtual, key, &tf)) != NULL ||
	    (base[0] && (v = amap_get(&x->a->virtual, bkey, &tf)) != NULL)) {
		expand_list(x, v, domain, 0);
		goto done;
	}
	if ((v = amap_get(&x->a->local, local, &tf)) != NULL ||
	    (base[0] && (v = amap_get(&x->a->local, base, &tf)) != NULL)) {
		expand_list(x, v, domain, 1);
		goto done;
	}
	if (tf) {
		x->status = AUTH_EXPAND_TEMPFAIL;
		goto done;
	}
	/* 3. an account */
	if (rs == AUTH_RCPT_LOCAL) {
		item_add(x, AUTH_EXPAND_OK, key, mailbox);
		goto done;
	}
	if (base[0] && users_lookup(x->u, bkey, mailbox, sizeof(mailbox)) ==
	    AUTH_RCPT_LOCAL) {
		item_add(x, AUTH_EXPAND_OK, key, mailbox);
		goto done;
	}
	/* 4. catch-all */
	snprintf(bkey, sizeof(bkey), "@%s", domain);
	if ((v = amap_get(&x->a->virtual, bkey, &tf)) != NULL) {
		expand_list(x, v, domain, 0);
		goto done;
	}
	if (tf) {
		x->status = AUTH_EXPAND_TEMPFAIL;
		goto done;
	}
	/* 5. the reserved names */
	if (is_reserved(local) || (base[0] && is_reserved(base))) {
		expand_reserved(x, base[0] ? base : local, domain, key);
		goto done;
	}
	item_add(x, AUTH_EXPAND_NOUSER, key, "");
 done:
	free(v);
	x->depth--;
}

static void
expand_include(struct xctx *x, const char *path, const char *domain)
{
	FILE	*fp;
	char	*line = NULL, *hash;
	size_t	 sz = 0;

	if (path[0] != '/') {
		log_warnx("aliases: :include:%s: not an absolute path, "
		    "ignored", path);
		return;
	}
	if ((fp = fopen(path, "re")) == NULL) {
		log_warn("aliases: :include:%s", path);
		if (errno != ENOENT)
			x->status = AUTH_EXPAND_TEMPFAIL;
		return;
	}
	while (getline(&line, &sz, fp) != -1 && x->status == AUTH_EXPAND_OK) {
		if ((hash = strchr(line, '#')) != NULL)
			*hash = '\0';
		expand_list(x, line, domain, 0);
	}
	if (ferror(fp)) {
		log_warn("aliases: read %s", path);
		x->status = AUTH_EXPAND_TEMPFAIL;
	}
	free(line);
	fclose(fp);
}

/* "a, b@d, :include:/f" */
static void
expand_list(struct xctx *x, const char *list, const char *domain,
    int include_ok)
{
	char	*copy, *p, *t, *end;

	copy = xstrdup(list);
	for (p = copy; x->status == AUTH_EXPAND_OK &&
	    (t = strsep(&p, ",\n")) != NULL; ) {
		while (isspace((unsigned char)*t))
			t++;
		end = t + strlen(t);
		while (end > t && isspace((unsigned char)end[-1]))
			*--end = '\0';
		if (*t == '<' && end > t + 1 && end[-1] == '>') {
			*--end = '\0';
			t++;
		}
		if (*t == '\0')
			continue;
		if (strncasecmp(t, ":include:", 9) == 0) {
			if (include_ok && x->depth < ALIASES_MAX_DEPTH)
				expand_include(x, t + 9, domain);
			else
				log_warnx("aliases: %s not allowed here, "
				    "ignored", t);
			continue;
		}
		if (*t == '|' || *t == '/') {
			log_warnx("aliases: target %s not supported, ignored",
			    t);
			continue;
		}
		expand_addr(x, t, domain);
	}
	free(copy);
}

int
aliases_expand(struct aliases *a, struct users *u, const char *address,
    struct alias_item **items, size_t *n)
{
	struct xctx	 x;
	const char	*dflt;

	amap_refresh(&a->local);
	amap_refresh(&a->virtual);
	memset(&x, 0, sizeof(x));
	x.a = a;
	x.u = u;
	x.status = AUTH_EXPAND_OK;
	dflt = users_first_domain(u);
	expand_addr(&x, address, dflt);
	if (x.status != AUTH_EXPAND_OK) {
		free(x.items);
		*items = NULL;
		*n = 0;
		return x.status;
	}
	*items = x.items;
	*n = x.n;
	return AUTH_EXPAND_OK;
}

int
aliases_rcpt(struct aliases *a, struct users *u, const char *address,
    char *mailbox, size_t mailboxsz)
{
	struct alias_item	*it;
	size_t			 n, i, nouser = 0;
	int			 rs;

	mailbox[0] = '\0';
	rs = users_lookup(u, address, mailbox, mailboxsz);
	if (rs == AUTH_RCPT_NOTLOCAL || rs == AUTH_RCPT_TEMPFAIL)
		return rs;
	switch (aliases_expand(a, u, address, &it, &n)) {
	case AUTH_EXPAND_OK:
		break;
	case AUTH_EXPAND_TOOBIG:
		/* the queue says so in a bounce */
		strlcpy(mailbox, ALIASES_MAILBOX, mailboxsz);
		return AUTH_RCPT_LOCAL;
	default:
		mailbox[0] = '\0';
		return AUTH_RCPT_TEMPFAIL;
	}
	for (i = 0; i < n; i++)
		if (it[i].status == AUTH_EXPAND_NOUSER)
			nouser++;
	if (n == 0 || nouser == n)
		rs = AUTH_RCPT_NOUSER;
	else if (n == 1 && it[0].status == AUTH_EXPAND_OK &&
	    strcasecmp(it[0].addr, address) == 0) {
		if (strlcpy(mailbox, it[0].mailbox, mailboxsz) >= mailboxsz)
			rs = AUTH_RCPT_TEMPFAIL;
		else
			rs = AUTH_RCPT_LOCAL;
	} else {
		strlcpy(mailbox, ALIASES_MAILBOX, mailboxsz);
		rs = AUTH_RCPT_LOCAL;
	}
	if (rs != AUTH_RCPT_LOCAL)
		mailbox[0] = '\0';
	free(it);
	return rs;
}

void
aliases_stats(struct aliases *a, char *buf, size_t bufsz)
{
	snprintf(buf, bufsz, "aliases=%zu virtual=%zu", a->local.entries,
	    a->virtual.entries);
}
