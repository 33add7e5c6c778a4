/*
 * The queue index: spool/queue.lmdb, one LMDB environment (MDB_NOSUBDIR,
 * MDB_NOTLS, never MDB_WRITEMAP), one unnamed database.
 *
 * Key: the queue id (16 upper-case hex digits, no NUL).
 * Value: a text record, "key value" lines, then an empty line, then a copy
 * of the message's envelope exactly as envelope_format() writes it (with
 * its "id" line and its own ending empty line):
 *
 *	qrec 2				record format version
 *	offset 612			body offset in queue/ID
 *	size 1834			message bytes after the envelope
 *	flags 0				1 held, 2 expired (reserved)
 *	rcpt pending 0 0 -1 0 -		one line per envelope recipient, in
 *	rcpt deferred 2 1764150000 -1 0 no%20relay%20configured
 *	rcpt delivered 0 0 -1 1 1764143001.0692F0A3B41C0A00_1.mail...
 *	<empty line>			envelope order: state, failed
 *	facteur-envelope 1		attempts, next attempt (Unix seconds,
 *	id 0692F0A3B41C0A00		0 unless deferred), parent (the
 *	...				recipient an alias expansion made it
 *	<empty line>			from, -1 none), notification flags
 *					(1 final DSN done, 2 delay warning
 *					sent), last error or stored name
 *					(envelope_encode()d, "-" when none)
 *
 * Version 1 records (no parent, no flags) are still read.
 *
 * The envelope copy is the file's envelope plus the recipients alias
 * expansion added (after the file's own; an expanded alias has the state
 * "expanded"), and with the mailbox a recipient was resolved to.
 *
 * States: pending, deferred, delivered, bounced, expanded. The index is a
 * cache of progress over spool/queue/: a missing record is rebuilt from
 * the file with every recipient pending (queue_fs.c), and aliases are
 * expanded again (a possible duplicate, never a loss).
 *
 * Rules (DESIGN.md, LMDB): a read transaction never outlives the call that
 * opened it; write transactions are synced at commit; MDB_MAP_FULL and
 * ENOSPC are temporary failures reported to the caller, any other LMDB
 * error is fatal (facteurd restarts us).
 */
#include <sys/types.h>
#include <sys/stat.h>

#include <errno.h>
#include <inttypes.h>
#include <lmdb.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "util.h"
#include "queue.h"

#define QREC_VERSION	2

static MDB_env	*env;
static MDB_dbi	 dbi;
static MDB_txn	*wtxn;

/* a full index is logged once a minute, not on every retry */
static void
qdb_warn_full(const char *what, const char *id, int rc)
{
	static uint64_t	last;
	uint64_t	now = now_sec();

	if (last != 0 && now < last + 60)
		return;
	last = now;
	log_warnx("%s: %s%s%s: %s (lmdb_map_size or disk full)",
	    QUEUE_DB_FILE, id, id[0] ? ": " : "", what, mdb_strerror(rc));
}

static int
qdb_full(int rc)
{
	return rc == MDB_MAP_FULL || rc == ENOSPC || rc == EDQUOT ||
	    rc == MDB_TXN_FULL;
}

void
qdb_open(const char *path, size_t mapsize)
{
	MDB_txn	*txn;
	int	 rc, dead = 0;

	if ((rc = mdb_env_create(&env)) != 0)
		fatalx("%s: mdb_env_create: %s", path, mdb_strerror(rc));
	if ((rc = mdb_env_set_mapsize(env, mapsize)) != 0)
		fatalx("%s: mdb_env_set_mapsize: %s", path, mdb_strerror(rc));
	if ((rc = mdb_env_open(env, path, MDB_NOSUBDIR | MDB_NOTLS, 0600)) != 0)
		fatalx("%s: mdb_env_open: %s", path, mdb_strerror(rc));
	if ((rc = mdb_reader_check(env, &dead)) != 0)
		fatalx("%s: mdb_reader_check: %s", path, mdb_strerror(rc));
	if (dead)
		log_info("%s: cleared %d stale readers", path, dead);
	if ((rc = mdb_txn_begin(env, NULL, 0, &txn)) != 0)
		fatalx("%s: mdb_txn_begin: %s", path, mdb_strerror(rc));
	if ((rc = mdb_dbi_open(txn, NULL, 0, &dbi)) != 0)
		fatalx("%s: mdb_dbi_open: %s", path, mdb_strerror(rc));
	if ((rc = mdb_txn_commit(txn)) != 0)
		fatalx("%s: mdb_txn_commit: %s", path, mdb_strerror(rc));
}

void
qdb_reader_check(void)
{
	int	rc, dead = 0;

	if ((rc = mdb_reader_check(env, &dead)) != 0)
		fatalx("%s: mdb_reader_check: %s", QUEUE_DB_FILE,
		    mdb_strerror(rc));
	if (dead)
		log_info("%s: cleared %d stale readers", QUEUE_DB_FILE, dead);
}

/* --- records --- */

struct sbuf {
	char	*p;
	size_t	 len, cap;
};

static void
sb_add(struct sbuf *b, const char *s, size_t n)
{
	if (b->len + n + 1 > b->cap) {
		while (b->len + n + 1 > b->cap)
			b->cap = b->cap ? b->cap * 2 : 1024;
		b->p = xreallocarray(b->p, b->cap, 1);
	}
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = '\0';
}

static void
sb_printf(struct sbuf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void
sb_printf(struct sbuf *b, const char *fmt, ...)
{
	char	 tmp[512];
	va_list	 ap;
	int	 n;

	va_start(ap, fmt);
	n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(tmp))
		fatalx("qrec: line too long");
	sb_add(b, tmp, n);
}

size_t
qrec_encode(const struct qmsg *m, char **out)
{
	struct sbuf	 b = { NULL, 0, 0 };
	char		*envtext, *enc;
	ssize_t		 envlen;
	size_t		 i, esz;

	sb_printf(&b, "qrec %d\noffset %" PRIu64 "\nsize %" PRIu64
	    "\nflags %d\n", QREC_VERSION, m->offset, m->size, m->flags);
	esz = IPC_MAX_STR * 3 + 1;
	enc = xmalloc(esz);
	for (i = 0; i < m->env.nrcpt; i++) {
		const struct qrcpt *r = &m->rcpt[i];

		envelope_encode(r->error ? r->error : "", enc, esz);
		sb_printf(&b, "rcpt %s %" PRIu32 " %" PRIu64 " %d %d ",
		    rcpt_state_name(r->state), r->attempts, r->next,
		    r->parent, r->dflags);
		sb_add(&b, enc, strlen(enc));
		sb_add(&b, "\n", 1);
	}
	free(enc);
	sb_add(&b, "\n", 1);
	if ((envlen = envelope_format(&m->env, &envtext)) == -1)
		fatalx("%s: envelope_format failed", m->id);
	sb_add(&b, envtext, envlen);
	free(envtext);
	*out = b.p;
	return b.len;
}

/* next line of [*p, end) into a NUL-terminated buffer; -1 at end/too long */
static int
rec_line(const char **p, const char *end, char *buf, size_t bufsz)
{
	const char	*nl;
	size_t		 n;

	if (*p >= end || (nl = memchr(*p, '\n', end - *p)) == NULL)
		return -1;
	n = nl - *p;
	if (n >= bufsz || memchr(*p, '\0', n) != NULL)
		return -1;
	memcpy(buf, *p, n);
	buf[n] = '\0';
	*p = nl + 1;
	return 0;
}

static int
rec_u64(const char *line, const char *key, uint64_t *v)
{
	size_t		 kl = strlen(key);
	char		*ep;

	if (strncmp(line, key, kl) != 0 || line[kl] != ' ')
		return -1;
	errno = 0;
	*v = strtoull(line + kl + 1, &ep, 10);
	if (errno || *ep != '\0' || ep == line + kl + 1)
		return -1;
	return 0;
}

int
qrec_decode(const char *val, size_t len, struct qmsg *m, const char **err)
{
	const char	*p = val, *end = val + len;
	char		*line, st[32], *dec;
	struct qrcpt	*rc = NULL;
	size_t		 nrc = 0, linesz = IPC_MAX_STR * 3 + 128, i;
	uint64_t	 v, flags;
	ssize_t		 envlen;
	int		 ret = -1, n, version, parent, dflags;

	line = xmalloc(linesz);
	dec = xmalloc(linesz);
	*err = "bad header";
	if (rec_line(&p, end, line, linesz) == -1 ||
	    rec_u64(line, "qrec", &v) == -1 || v < 1 || v > QREC_VERSION)
		goto done;
	version = (int)v;
	if (rec_line(&p, end, line, linesz) == -1 ||
	    rec_u64(line, "offset", &m->offset) == -1)
		goto done;
	if (rec_line(&p, end, line, linesz) == -1 ||
	    rec_u64(line, "size", &m->size) == -1)
		goto done;
	if (rec_line(&p, end, line, linesz) == -1 ||
	    rec_u64(line, "flags", &flags) == -1)
		goto done;
	m->flags = (int)(flags & (QM_HELD | QM_EXPIRED));
	*err = "bad recipient line";
	for (;;) {
		uint32_t	att;
		uint64_t	next;

		if (rec_line(&p, end, line, linesz) == -1)
			goto done;
		if (line[0] == '\0')
			break;
		if (nrc >= ENVELOPE_MAX_RCPT)
			goto done;
		parent = -1;
		dflags = 0;
		if (version == 1) {
			if (sscanf(line, "rcpt %31s %" SCNu32 " %" SCNu64
			    " %n", st, &att, &next, &n) != 3)
				goto done;
		} else if (sscanf(line, "rcpt %31s %" SCNu32 " %" SCNu64
		    " %d %d %n", st, &att, &next, &parent, &dflags, &n) != 5)
			goto done;
		if (parent < -1 || parent >= (int)nrc)
			goto done;	/* a parent comes before its children */
		rc = xreallocarray(rc, nrc + 1, sizeof(*rc));
		memset(&rc[nrc], 0, sizeof(rc[nrc]));
		if ((rc[nrc].state = rcpt_state_parse(st)) == -1)
			goto done;
		rc[nrc].attempts = att;
		rc[nrc].next = next;
		rc[nrc].parent = parent;
		rc[nrc].dflags = dflags & (QR_DSN_DONE | QR_DELAY_SENT);
		nrc++;
		if (envelope_decode(line + n, dec, linesz) == -1)
			goto done;
		if (dec[0] != '\0')
			rc[nrc - 1].error = xstrdup(dec);
	}
	envelope_init(&m->env);
	if ((envlen = envelope_parse(p, end - p, &m->env, err)) == -1)
		goto done;
	*err = "recipient count differs from the envelope";
	if (m->env.nrcpt != nrc)
		goto done;
	*err = "id differs from the key";
	if (strcmp(m->env.id, m->id) != 0)
		goto done;
	m->rcpt = rc;
	rc = NULL;
	ret = 0;
 done:
	if (rc != NULL) {
		for (i = 0; i < nrc; i++)
			free(rc[i].error);
		free(rc);
	}
	free(line);
	free(dec);
	return ret;
}

/* --- transactions --- */

void
qdb_foreach(void (*fn)(const char *, const char *, size_t, void *),
    void *arg)
{
	MDB_txn		*txn;
	MDB_cursor	*cur;
	MDB_val		 k, v;
	char		 id[QUEUEID_LEN + 1];
	int		 rc;

	if ((rc = mdb_txn_begin(env, NULL, MDB_RDONLY, &txn)) != 0)
		fatalx("%s: mdb_txn_begin: %s", QUEUE_DB_FILE,
		    mdb_strerror(rc));
	if ((rc = mdb_cursor_open(txn, dbi, &cur)) != 0)
		fatalx("%s: mdb_cursor_open: %s", QUEUE_DB_FILE,
		    mdb_strerror(rc));
	while ((rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) == 0) {
		if (k.mv_size != QUEUEID_LEN) {
			/* not ours: report it with an invalid id */
			fn("", v.mv_data, v.mv_size, arg);
			continue;
		}
		memcpy(id, k.mv_data, QUEUEID_LEN);
		id[QUEUEID_LEN] = '\0';
		fn(id, v.mv_data, v.mv_size, arg);
	}
	if (rc != MDB_NOTFOUND)
		fatalx("%s: mdb_cursor_get: %s", QUEUE_DB_FILE,
		    mdb_strerror(rc));
	mdb_cursor_close(cur);
	mdb_txn_abort(txn);
}

void
qdb_begin(void)
{
	int	rc;

	if (wtxn != NULL)
		fatalx("qdb_begin: transaction already open");
	if ((rc = mdb_txn_begin(env, NULL, 0, &wtxn)) != 0)
		fatalx("%s: mdb_txn_begin: %s", QUEUE_DB_FILE,
		    mdb_strerror(rc));
}

int
qdb_put(const char *id, const char *val, size_t len)
{
	MDB_val	k, v;
	int	rc;

	k.mv_data = (void *)id;
	k.mv_size = strlen(id);
	v.mv_data = (void *)val;
	v.mv_size = len;
	if ((rc = mdb_put(wtxn, dbi, &k, &v, 0)) != 0) {
		if (!qdb_full(rc))
			fatalx("%s: %s: mdb_put: %s", QUEUE_DB_FILE, id,
			    mdb_strerror(rc));
		qdb_warn_full("mdb_put", id, rc);
		qdb_abort();
		errno = ENOSPC;
		return -1;
	}
	return 0;
}

void
qdb_del(const char *id)
{
	MDB_val	k;
	int	rc;

	k.mv_data = (void *)id;
	k.mv_size = strlen(id);
	rc = mdb_del(wtxn, dbi, &k, NULL);
	if (rc != 0 && rc != MDB_NOTFOUND)
		fatalx("%s: %s: mdb_del: %s", QUEUE_DB_FILE, id,
		    mdb_strerror(rc));
}

int
qdb_commit(void)
{
	int	rc;

	rc = mdb_txn_commit(wtxn);
	wtxn = NULL;
	if (rc != 0) {
		if (!qdb_full(rc))
			fatalx("%s: mdb_txn_commit: %s", QUEUE_DB_FILE,
			    mdb_strerror(rc));
		qdb_warn_full("mdb_txn_commit", "", rc);
		errno = ENOSPC;
		return -1;
	}
	return 0;
}

void
qdb_abort(void)
{
	if (wtxn != NULL)
		mdb_txn_abort(wtxn);
	wtxn = NULL;
}
