/*
 * newaliases: compiles aliases_file and virtual_aliases_file (facteur.conf)
 * into FILE.lmdb, which auth reads (auth/aliases.c has the rules).
 *
 * aliases(5) format, as sendmail and Postfix read it: "name: target,
 * target" (the ':' may be whitespace in the virtual file), '#' comment
 * lines, blank lines, and continuation lines starting with whitespace.
 * In aliases_file a name is a local part; in virtual_aliases_file it is
 * "user@domain" or "@domain" (a catch-all). Targets: addresses, local
 * names, and (aliases_file only) ":include:/absolute/path".
 *
 * The new map is written to FILE.lmdb.tmp, synced, and renamed over
 * FILE.lmdb (then the directory is synced): auth never sees a half
 * written map. Any error names file:line and leaves the old map alone.
 */
#include <sys/types.h>
#include <sys/stat.h>

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <lmdb.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "addr.h"
#include "config.h"
#include "util.h"

#define NEWALIASES_DEFAULT_CONF	SYSCONFDIR "/facteur/facteur.conf"
#define NA_MAX_VALUE		(60 * 1024)

struct entry {
	char	*key;
	char	*value;
	size_t	 line;
};

struct amap {
	const char	*file;
	int		 virtual;
	struct entry	*e;
	size_t		 n, cap;
	int		 errors;
	size_t		 longest, total;
};

static int	verbose;

static void __attribute__((format(printf, 3, 4)))
map_err(struct amap *m, size_t line, const char *fmt, ...)
{
	va_list	ap;

	fprintf(stderr, "newaliases: %s:%zu: ", m->file, line);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	m->errors++;
}

static void __attribute__((format(printf, 3, 4)))
map_warn(struct amap *m, size_t line, const char *fmt, ...)
{
	va_list	ap;

	fprintf(stderr, "newaliases: warning: %s:%zu: ", m->file, line);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

static char *
trim(char *s)
{
	char	*end;

	while (isspace((unsigned char)*s))
		s++;
	end = s + strlen(s);
	while (end > s && isspace((unsigned char)end[-1]))
		*--end = '\0';
	return s;
}

static int
valid_local(const char *s)
{
	if (*s == '\0' || strlen(s) > ADDR_LOCAL_MAX)
		return 0;
	for (; *s != '\0'; s++)
		if ((unsigned char)*s <= ' ' || *s == 0x7f || *s == ',' ||
		    *s == ':' || *s == '@' || *s == '<' || *s == '>')
			return 0;
	return 1;
}

static int
valid_address(const char *s)
{
	struct mailaddr	 ma;
	const char	*err;
	char		 buf[ADDR_MAX * 2 + 8];

	if (strchr(s, '@') == NULL)
		return valid_local(s);
	if (s[0] == '@')
		return 0;
	if ((size_t)snprintf(buf, sizeof(buf), "<%s>", s) >= sizeof(buf))
		return 0;
	return addr_parse_path(buf, ADDR_F_UTF8, &ma, &err) == 0;
}

/* checks the targets of one entry; the value is kept as written */
static void
check_targets(struct amap *m, size_t line, const char *value)
{
	char	*copy, *p, *t;
	size_t	 n = 0;

	copy = xstrdup(value);
	for (p = copy; (t = strsep(&p, ",")) != NULL; ) {
		t = trim(t);
		if (*t == '<' && t[strlen(t) - 1] == '>') {
			t[strlen(t) - 1] = '\0';
			t++;
		}
		if (*t == '\0') {
			if (p != NULL || n == 0)
				map_err(m, line, "empty target");
			continue;
		}
		n++;
		if (strncasecmp(t, ":include:", 9) == 0) {
			if (m->virtual)
				map_err(m, line, ":include: is not allowed "
				    "in the virtual aliases file");
			else if (t[9] != '/')
				map_err(m, line, ":include: needs an "
				    "absolute path: %s", t);
			else if (access(t + 9, R_OK) == -1)
				map_warn(m, line, "%s: %s", t,
				    strerror(errno));
			continue;
		}
		if (*t == '|' || *t == '/') {
			map_warn(m, line, "target %s not supported (no "
			    "commands or files), ignored", t);
			continue;
		}
		if (!valid_address(t))
			map_err(m, line, "bad target address '%s'", t);
	}
	free(copy);
}

static void
add_entry(struct amap *m, size_t line, char *text)
{
	char	*key, *value, *p, *d;
	size_t	 i, klen;

	/* the key ends at ':' (or, in the virtual file, at whitespace) */
	key = text;
	if (*key == '"') {		/* a quoted local part */
		for (p = key + 1; *p != '\0' && *p != '"'; p++)
			if (*p == '\\' && p[1] != '\0')
				p++;
		if (*p == '"')
			p++;
	} else
		p = key;
	p += strcspn(p, m->virtual ? ": \t" : ":");
	if (*p == '\0') {
		map_err(m, line, "missing ':' after the name");
		return;
	}
	value = p + 1;
	*p = '\0';
	key = trim(key);
	value = trim(value);
	klen = strlen(key);
	if (klen >= 2 && key[0] == '"' && key[klen - 1] == '"') {
		key[klen - 1] = '\0';
		for (p = key + 1, d = key; *p != '\0'; p++) {
			if (*p == '\\' && p[1] != '\0')
				p++;
			*d++ = *p;
		}
		*d = '\0';
	}
	str_lower(key);
	if (m->virtual) {
		if ((p = strrchr(key, '@')) == NULL || p[1] == '\0' ||
		    (p != key && !valid_address(key)) ||
		    strchr(p + 1, ' ') != NULL) {
			map_err(m, line, "bad key '%s' (want user@domain or "
			    "@domain)", key);
			return;
		}
	} else if (!valid_local(key)) {
		map_err(m, line, "bad alias name '%s'%s", key,
		    strchr(key, '@') ? " (addresses with a domain go in "
		    "virtual_aliases_file)" : "");
		return;
	}
	if (*value == '\0') {
		map_err(m, line, "no target for '%s'", key);
		return;
	}
	if (strlen(value) >= NA_MAX_VALUE) {
		map_err(m, line, "too many targets for '%s'", key);
		return;
	}
	check_targets(m, line, value);
	for (i = 0; i < m->n; i++)
		if (strcmp(m->e[i].key, key) == 0) {
			map_warn(m, line, "'%s' already defined at line %zu: "
			    "this one is ignored", key, m->e[i].line);
			return;
		}
	if (m->n == m->cap) {
		m->cap = m->cap ? m->cap * 2 : 64;
		m->e = xreallocarray(m->e, m->cap, sizeof(*m->e));
	}
	m->e[m->n].key = xstrdup(key);
	m->e[m->n].value = xstrdup(value);
	m->e[m->n].line = line;
	m->n++;
	if (strlen(value) > m->longest)
		m->longest = strlen(value);
	m->total += strlen(value);
}

/* reads the text file; -1 when it is missing (errno), else 0 */
static int
map_read(struct amap *m)
{
	FILE	*fp;
	char	*line = NULL, *logical = NULL, *t;
	size_t	 sz = 0, lineno = 0, start = 0, len;

	if ((fp = fopen(m->file, "re")) == NULL)
		return -1;
	while (getline(&line, &sz, fp) != -1) {
		lineno++;
		len = strlen(line);
		if (len && line[len - 1] == '\n')
			line[--len] = '\0';
		if (len && line[len - 1] == '\r')
			line[--len] = '\0';
		t = trim(line);
		if (*t == '\0' || *t == '#')
			continue;
		if (line[0] == ' ' || line[0] == '\t') {
			if (logical == NULL) {
				map_err(m, lineno, "continuation line "
				    "without an entry before it");
				continue;
			}
			t = logical;
			xasprintf(&logical, "%s %s", t, line);
			free(t);
			continue;
		}
		if (logical != NULL)
			add_entry(m, start, logical);
		free(logical);
		logical = xstrdup(line);
		start = lineno;
	}
	if (ferror(fp)) {
		fprintf(stderr, "newaliases: read %s: %s\n", m->file,
		    strerror(errno));
		m->errors++;
	}
	if (logical != NULL)
		add_entry(m, start, logical);
	free(logical);
	free(line);
	fclose(fp);
	return 0;
}

static void
lmdb_fail(const char *path, const char *what, int rc)
{
	fprintf(stderr, "newaliases: %s: %s: %s\n", path, what,
	    mdb_strerror(rc));
	exit(1);
}

static int
fsync_parent(const char *path)
{
	char	*copy, *dir;
	int	 rc;

	copy = xstrdup(path);
	dir = dirname(copy);
	rc = fsync_dir(dir);
	free(copy);
	return rc;
}

/* writes FILE.lmdb.tmp and renames it over FILE.lmdb */
static void
map_write(struct amap *m)
{
	MDB_env		*env;
	MDB_txn		*txn;
	MDB_dbi		 dbi;
	MDB_val		 k, v;
	char		*db, *tmp;
	size_t		 i, mapsize;
	int		 rc, fd;

	xasprintf(&db, "%s.lmdb", m->file);
	xasprintf(&tmp, "%s.lmdb.tmp", m->file);
	if (unlink(tmp) == -1 && errno != ENOENT) {
		fprintf(stderr, "newaliases: unlink %s: %s\n", tmp,
		    strerror(errno));
		exit(1);
	}
	mapsize = 1024 * 1024 + (m->total + m->n * 128) * 4;
	if ((rc = mdb_env_create(&env)) != 0)
		lmdb_fail(tmp, "mdb_env_create", rc);
	if ((rc = mdb_env_set_mapsize(env, mapsize)) != 0)
		lmdb_fail(tmp, "mdb_env_set_mapsize", rc);
	if ((rc = mdb_env_open(env, tmp, MDB_NOSUBDIR | MDB_NOLOCK, 0644)) != 0)
		lmdb_fail(tmp, "mdb_env_open", rc);
	if ((rc = mdb_txn_begin(env, NULL, 0, &txn)) != 0)
		lmdb_fail(tmp, "mdb_txn_begin", rc);
	if ((rc = mdb_dbi_open(txn, NULL, 0, &dbi)) != 0)
		lmdb_fail(tmp, "mdb_dbi_open", rc);
	for (i = 0; i < m->n; i++) {
		k.mv_data = m->e[i].key;
		k.mv_size = strlen(m->e[i].key);
		v.mv_data = m->e[i].value;
		v.mv_size = strlen(m->e[i].value);
		if (k.mv_size > 511) {
			fprintf(stderr, "newaliases: %s:%zu: name too long\n",
			    m->file, m->e[i].line);
			exit(1);
		}
		if ((rc = mdb_put(txn, dbi, &k, &v, 0)) != 0)
			lmdb_fail(tmp, "mdb_put", rc);
	}
	if ((rc = mdb_txn_commit(txn)) != 0)
		lmdb_fail(tmp, "mdb_txn_commit", rc);
	if ((rc = mdb_env_sync(env, 1)) != 0)
		lmdb_fail(tmp, "mdb_env_sync", rc);
	mdb_env_close(env);
	/* readable by auth, whatever the umask */
	if ((fd = open(tmp, O_RDONLY | O_CLOEXEC)) == -1 ||
	    fchmod(fd, 0644) == -1 || fsync(fd) == -1) {
		fprintf(stderr, "newaliases: %s: %s\n", tmp, strerror(errno));
		exit(1);
	}
	close(fd);
	if (rename(tmp, db) == -1) {
		fprintf(stderr, "newaliases: rename %s %s: %s\n", tmp, db,
		    strerror(errno));
		exit(1);
	}
	if (fsync_parent(db) == -1) {
		fprintf(stderr, "newaliases: fsync the directory of %s: %s\n",
		    db, strerror(errno));
		exit(1);
	}
	free(db);
	free(tmp);
}

static void
map_free(struct amap *m)
{
	size_t	i;

	for (i = 0; i < m->n; i++) {
		free(m->e[i].key);
		free(m->e[i].value);
	}
	free(m->e);
}

/* 0 done (or nothing to do), -1 errors */
static int
compile(const char *file, int virtual, int check_only)
{
	struct amap	 m;
	char		*db;

	if (file[0] == '\0')
		return 0;
	memset(&m, 0, sizeof(m));
	m.file = file;
	m.virtual = virtual;
	if (map_read(&m) == -1) {
		if (errno != ENOENT) {
			fprintf(stderr, "newaliases: %s: %s\n", file,
			    strerror(errno));
			return -1;
		}
		/* no text: no map either */
		xasprintf(&db, "%s.lmdb", file);
		if (!check_only && unlink(db) == 0)
			printf("%s: no such file: removed %s\n", file, db);
		else if (verbose)
			printf("%s: no such file, skipped\n", file);
		free(db);
		return 0;
	}
	if (m.errors) {
		fprintf(stderr, "newaliases: %s: %d error%s, map not "
		    "changed\n", file, m.errors, m.errors > 1 ? "s" : "");
		map_free(&m);
		return -1;
	}
	if (!check_only)
		map_write(&m);
	printf("%s: %zu %s, longest %zu bytes, %zu bytes total\n", file,
	    m.n, virtual ? "virtual aliases" : "aliases", m.longest,
	    m.total);
	map_free(&m);
	return 0;
}

static void __attribute__((noreturn))
usage(void)
{
	fprintf(stderr, "usage: newaliases [-nv] [-c facteur.conf]\n");
	exit(2);
}

int
main(int argc, char *argv[])
{
	struct config	*conf;
	const char	*path = NULL;
	char		 err[512];
	int		 ch, check_only = 0, rc = 0;

	while ((ch = getopt(argc, argv, "c:hnv")) != -1) {
		switch (ch) {
		case 'c':
			path = optarg;
			break;
		case 'n':
			check_only = 1;
			break;
		case 'v':
			verbose = 1;
			break;
		default:
			usage();
		}
	}
	if (optind != argc)
		usage();
	if (path == NULL && (path = getenv("FACTEUR_CONF")) == NULL)
		path = NEWALIASES_DEFAULT_CONF;
	if ((conf = config_load(path, err, sizeof(err))) == NULL) {
		fprintf(stderr, "newaliases: %s\n", err);
		return 1;
	}
	umask(022);
	if (compile(config_str(conf, NULL, "aliases_file"), 0,
	    check_only) == -1)
		rc = 1;
	if (compile(config_str(conf, NULL, "virtual_aliases_file"), 1,
	    check_only) == -1)
		rc = 1;
	config_free(conf);
	return rc;
}
