/*
 * One Maildir folder with its uidlist and its LMDB index (store.h).
 *
 * The Maildir is the truth, the uidlist the durable identity, the index a
 * cache (DESIGN.md "The mail store", "LMDB rules"):
 * - store_sync() begins an LMDB write transaction (which serialises every
 *   facteur process syncing this folder), re-reads new/ and cur/, takes
 *   the uidlist flock, reads the uidlist, gives UIDs to base names it does
 *   not know (in name order, which starts with the arrival time), forgets
 *   bases whose files are gone, writes the uidlist back when it changed
 *   (tmp + fsync + rename + fsync of the folder), then updates the index:
 *   new messages, flag changes and removals each take a new modseq. The
 *   transaction is committed last: a crash between the two leaves a
 *   uidlist ahead of the index, which the next sync repairs.
 * - The index is rebuilt when missing or corrupt; the uidlist keeps UIDs.
 *   A lost uidlist is rebuilt from the index when the index is intact,
 *   else the folder gets a new UIDVALIDITY (RFC 9051 2.3.1.1).
 * - HIGHESTMODSEQ never goes backwards (RFC 7162 3.1.2.1): it is kept in
 *   the index and in the uidlist's header, and a rebuilt index starts
 *   from the larger of that and the current time in seconds.
 * - No read transaction outlives a call; the messages as of the last sync
 *   are kept in memory (store_get).
 */
#include <sys/types.h>
#include <sys/file.h>
#include <sys/stat.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <lmdb.h>

#include "log.h"
#include "util.h"
#include "store.h"

#define INDEX_NAME	"facteur-index.lmdb"
#define UIDLIST_NAME	"facteur-uidlist"
#define UIDLIST_LOCK	"facteur-uidlist.lock"
#define INDEX_VERSION	1
#define MB_PATH_MAX	1024		/* a folder's path, relative */
#define MSG_NAME_MAX	(8 + 256 + 8)	/* "cur/NAME" */

struct store_mailbox {
	char		 path[MB_PATH_MAX];
	size_t		 mapsize;
	MDB_env		*env;
	MDB_dbi		 dbi_meta, dbi_msg;
	int		 lockfd;
	uint32_t	 uidvalidity, uidnext;
	uint64_t	 hms;
	char		*keywords[STORE_KEYWORDS_MAX];
	int		 nkeywords;
	struct store_msg *msgs;
	size_t		 nmsgs;
};

/* the index record of a message: this header, then the name */
struct rec {
	uint64_t	size, vsize, idate, modseq;
	uint32_t	flags, keywords;
};

/* one file seen in new/ or cur/ */
struct scan {
	struct store_name sn;
	char		 name[MSG_NAME_MAX];	/* "cur/NAME" */
	uint32_t	 uid;
};

static int	env_open(struct store_mailbox *, char *, size_t);

static int
lmdb_bad(int rc)
{
	return rc == MDB_CORRUPTED || rc == MDB_PAGE_NOTFOUND ||
	    rc == MDB_INVALID || rc == MDB_VERSION_MISMATCH ||
	    rc == MDB_BAD_TXN;
}

static int
md_mkdir(const char *path)
{
	if (mkdir(path, 0700) == 0 || errno == EEXIST)
		return 0;
	return -1;
}

static int
mkdirs(const char *path, char *err, size_t errsz)
{
	char		 p[PATH_MAX];
	const char	*sub[] = { "tmp", "new", "cur" };
	char		*s;
	size_t		 i;

	strlcpy(p, path, sizeof(p));
	for (s = strchr(p, '/'); s != NULL; s = strchr(s + 1, '/')) {
		*s = '\0';
		if (md_mkdir(p) == -1)
			goto fail;
		*s = '/';
	}
	if (md_mkdir(p) == -1)
		goto fail;
	for (i = 0; i < 3; i++) {
		snprintf(p, sizeof(p), "%s/%s", path, sub[i]);
		if (md_mkdir(p) == -1)
			goto fail;
	}
	return 0;
 fail:
	snprintf(err, errsz, "mkdir %s: %s", p, strerror(errno));
	return -1;
}

/* --- the directory --- */

static int
scan_cmp(const void *a, const void *b)
{
	const struct scan	*x = a, *y = b;
	int			 r;

	if ((r = strcmp(x->sn.base, y->sn.base)) != 0)
		return r;
	/* the same message in new/ and cur/ (a rename in progress): cur/ */
	return (int)(x->sn.flags & STORE_F_NEW) - (int)(y->sn.flags & STORE_F_NEW);
}

static int
scan_dirs(struct store_mailbox *mb, struct scan **out, size_t *nout,
    char *err, size_t errsz)
{
	const char	*sub[] = { "new", "cur" };
	char		 dir[PATH_MAX];
	struct scan	*v = NULL;
	size_t		 n = 0, cap = 0, i, j;
	DIR		*d;
	struct dirent	*de;

	for (i = 0; i < 2; i++) {
		snprintf(dir, sizeof(dir), "%s/%s", mb->path, sub[i]);
		if ((d = opendir(dir)) == NULL) {
			snprintf(err, errsz, "opendir %s: %s", dir,
			    strerror(errno));
			free(v);
			return -1;
		}
		while ((de = readdir(d)) != NULL) {
			if (n == cap) {
				cap = cap ? cap * 2 : 256;
				v = xreallocarray(v, cap, sizeof(*v));
			}
			if (store_name_parse(de->d_name, &v[n].sn) == -1)
				continue;
			if (i == 0)
				v[n].sn.flags |= STORE_F_NEW;
			snprintf(v[n].name, sizeof(v[n].name), "%s/%s",
			    sub[i], de->d_name);
			v[n].uid = 0;
			n++;
		}
		closedir(d);
	}
	if (n > 0)
		qsort(v, n, sizeof(*v), scan_cmp);
	for (i = j = 0; i < n; i++) {
		if (j > 0 && strcmp(v[j - 1].sn.base, v[i].sn.base) == 0) {
			log_debug("%s: %s and %s have the same base name",
			    mb->path, v[j - 1].name, v[i].name);
			continue;
		}
		v[j++] = v[i];
	}
	*out = v;
	*nout = j;
	return 0;
}

/* the CRLF size of a file, read in chunks */
static int
file_vsize(const char *path, uint64_t *vsize)
{
	char		 buf[64 * 1024];
	ssize_t		 r;
	uint64_t	 n = 0;
	int		 fd;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)) == -1)
		return -1;
	while ((r = read(fd, buf, sizeof(buf))) != 0) {
		if (r == -1 && errno == EINTR)
			continue;
		if (r == -1) {
			close(fd);
			return -1;
		}
		n += store_crlf_size(buf, (size_t)r);
	}
	close(fd);
	*vsize = n;
	return 0;
}

/* --- the uidlist file --- */

static int
uidlist_read(struct store_mailbox *mb, struct uidlist *ul)
{
	char		 path[PATH_MAX];
	struct stat	 st;
	char		*text;
	int		 fd, r;

	snprintf(path, sizeof(path), "%s/" UIDLIST_NAME, mb->path);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)) == -1) {
		if (errno != ENOENT)
			log_warn("%s", path);
		return -1;
	}
	if (fstat(fd, &st) == -1 || st.st_size > 256 * 1024 * 1024) {
		log_warnx("%s: unreadable or too large", path);
		close(fd);
		return -1;
	}
	text = xmalloc((size_t)st.st_size + 1);
	r = (int)(read(fd, text, (size_t)st.st_size) == st.st_size);
	close(fd);
	if (!r || uidlist_parse(ul, text, (size_t)st.st_size) == -1) {
		log_warnx("%s: corrupt, ignored", path);
		free(text);
		return -1;
	}
	free(text);
	return 0;
}

static int
uidlist_write(struct store_mailbox *mb, const struct uidlist *ul,
    char *err, size_t errsz)
{
	char		 tmp[PATH_MAX], path[PATH_MAX];
	const char	*what = "open";
	char		*text;
	size_t		 len;
	int		 fd;

	snprintf(tmp, sizeof(tmp), "%s/" UIDLIST_NAME ".tmp", mb->path);
	snprintf(path, sizeof(path), "%s/" UIDLIST_NAME, mb->path);
	text = uidlist_format(ul, &len);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW,
	    0600);
	if (fd == -1)
		goto fail;
	what = "write";
	if (write_all(fd, text, len) == -1)
		goto fail;
	what = "fsync";
	if (fsync(fd) == -1)
		goto fail;
	what = "close";
	if (close(fd) == -1) {
		fd = -1;
		goto fail;
	}
	fd = -1;
	what = "rename";
	if (rename(tmp, path) == -1)
		goto fail;
	free(text);
	if (fsync_dir(mb->path) == -1) {
		snprintf(err, errsz, "fsync %s: %s", mb->path, strerror(errno));
		return -1;
	}
	return 0;
 fail:
	snprintf(err, errsz, "%s %s: %s", what, tmp, strerror(errno));
	if (fd != -1)
		close(fd);
	unlink(tmp);
	free(text);
	return -1;
}

/* --- the index --- */

static int
meta_get(MDB_txn *txn, MDB_dbi dbi, const char *key, uint64_t *v)
{
	MDB_val	k, d;
	int	rc;

	k.mv_data = (void *)key;
	k.mv_size = strlen(key);
	if ((rc = mdb_get(txn, dbi, &k, &d)) != 0)
		return rc;
	if (d.mv_size != sizeof(*v))
		return MDB_CORRUPTED;
	memcpy(v, d.mv_data, sizeof(*v));
	return 0;
}

static int
meta_put(MDB_txn *txn, MDB_dbi dbi, const char *key, uint64_t v)
{
	MDB_val	k, d;

	k.mv_data = (void *)key;
	k.mv_size = strlen(key);
	d.mv_data = &v;
	d.mv_size = sizeof(v);
	return mdb_put(txn, dbi, &k, &d, 0);
}

static int
rec_put(struct store_mailbox *mb, MDB_txn *txn, uint32_t uid,
    const struct rec *r, const char *name)
{
	char	buf[sizeof(*r) + sizeof(((struct scan *)0)->name)];
	size_t	nlen = strlen(name);
	MDB_val	k, d;

	memcpy(buf, r, sizeof(*r));
	memcpy(buf + sizeof(*r), name, nlen);
	k.mv_data = &uid;
	k.mv_size = sizeof(uid);
	d.mv_data = buf;
	d.mv_size = sizeof(*r) + nlen;
	return mdb_put(txn, mb->dbi_msg, &k, &d, 0);
}

/* 0 found, MDB_NOTFOUND, or another error */
static int
rec_get(struct store_mailbox *mb, MDB_txn *txn, uint32_t uid, struct rec *r,
    char *name, size_t namesz)
{
	MDB_val	k, d;
	size_t	nlen;
	int	rc;

	k.mv_data = &uid;
	k.mv_size = sizeof(uid);
	if ((rc = mdb_get(txn, mb->dbi_msg, &k, &d)) != 0)
		return rc;
	if (d.mv_size <= sizeof(*r) || d.mv_size - sizeof(*r) >= namesz)
		return MDB_CORRUPTED;
	memcpy(r, d.mv_data, sizeof(*r));
	nlen = d.mv_size - sizeof(*r);
	memcpy(name, (char *)d.mv_data + sizeof(*r), nlen);
	name[nlen] = '\0';
	return 0;
}

/* a lost uidlist: take UIDs back from an intact index */
static int
uidlist_from_index(struct store_mailbox *mb, MDB_txn *txn,
    struct uidlist *ul)
{
	MDB_cursor		*cur;
	MDB_val			 k, d;
	struct store_name	 sn;
	char			 name[sizeof(((struct scan *)0)->name)];
	uint64_t		 v;
	uint32_t		 uid, maxuid = 0;
	size_t			 nlen;
	int			 rc;

	uidlist_clear(ul);
	if (meta_get(txn, mb->dbi_meta, "uidvalidity", &v) != 0 || v == 0 ||
	    v > UINT32_MAX)
		return -1;
	ul->uidvalidity = (uint32_t)v;
	if (mdb_cursor_open(txn, mb->dbi_msg, &cur) != 0)
		return -1;
	rc = mdb_cursor_get(cur, &k, &d, MDB_FIRST);
	for (; rc == 0; rc = mdb_cursor_get(cur, &k, &d, MDB_NEXT)) {
		if (k.mv_size != sizeof(uid) || d.mv_size <= sizeof(struct rec))
			break;
		memcpy(&uid, k.mv_data, sizeof(uid));
		nlen = d.mv_size - sizeof(struct rec);
		if (nlen < 5 || nlen >= sizeof(name))
			break;
		memcpy(name, (char *)d.mv_data + sizeof(struct rec), nlen);
		name[nlen] = '\0';
		if (store_name_parse(name + 4, &sn) == -1)
			break;
		uidlist_add(ul, uid, sn.base);
		if (uid > maxuid)
			maxuid = uid;
	}
	mdb_cursor_close(cur);
	if (rc != MDB_NOTFOUND)
		goto bad;
	ul->uidnext = maxuid + 1;
	if (meta_get(txn, mb->dbi_meta, "uidnext", &v) == 0 && v > maxuid &&
	    v <= UINT32_MAX)
		ul->uidnext = (uint32_t)v;
	if (uidlist_check(ul) == -1)
		goto bad;
	log_info("%s: uidlist rebuilt from the index uidvalidity=%u "
	    "messages=%zu", mb->path, ul->uidvalidity, ul->nent);
	return 0;
 bad:
	uidlist_clear(ul);
	return -1;
}

static int
uid_cmp(const void *a, const void *b)
{
	uint32_t	x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

static int
scan_uid_cmp(const void *a, const void *b)
{
	const struct scan	*x = a, *y = b;

	return x->uid < y->uid ? -1 : x->uid > y->uid;
}

/* the leading number of a base name (the arrival time in seconds) */
static uint64_t
base_time(const char *base)
{
	uint64_t	t = 0;

	for (; *base >= '0' && *base <= '9' && t < UINT64_MAX / 10; base++)
		t = t * 10 + (uint64_t)(*base - '0');
	return t;
}

/* new messages get UIDs in arrival order: the time the base name starts
   with, then the name (facteur's queue ids are fixed-width and sortable) */
static int
scan_new_cmp(const void *a, const void *b)
{
	const struct scan	*x = *(struct scan * const *)a;
	const struct scan	*y = *(struct scan * const *)b;
	uint64_t		 tx = base_time(x->sn.base);
	uint64_t		 ty = base_time(y->sn.base);

	if (tx != ty)
		return tx < ty ? -1 : 1;
	return strcmp(x->sn.base, y->sn.base);
}

static void
msgs_free(struct store_mailbox *mb)
{
	size_t	i;

	for (i = 0; i < mb->nmsgs; i++) {
		free(mb->msgs[i].name);
		free(mb->msgs[i].base);
	}
	free(mb->msgs);
	mb->msgs = NULL;
	mb->nmsgs = 0;
}

/*
 * Adds or updates the index record of one file; fills m. *changed is set
 * when the record was written. 1 when the file vanished meanwhile.
 */
static int
sync_one(struct store_mailbox *mb, MDB_txn *txn, const struct scan *s,
    struct store_msg *m, int *changed)
{
	char		 name[sizeof(s->name)], path[PATH_MAX];
	struct rec	 r;
	struct stat	 st;
	int		 rc;

	rc = rec_get(mb, txn, s->uid, &r, name, sizeof(name));
	if (rc != 0 && rc != MDB_NOTFOUND)
		return rc;
	if (rc == MDB_NOTFOUND) {
		snprintf(path, sizeof(path), "%s/%s", mb->path, s->name);
		if (stat(path, &st) == -1)
			return 1;
		memset(&r, 0, sizeof(r));
		r.size = (uint64_t)st.st_size;
		r.idate = (uint64_t)st.st_mtime;
		if (s->sn.vsize != UINT64_MAX && s->sn.size == r.size &&
		    s->sn.vsize >= r.size)
			r.vsize = s->sn.vsize;
		else if (file_vsize(path, &r.vsize) == -1)
			return 1;
		r.flags = s->sn.flags;
		r.keywords = s->sn.keywords;
		r.modseq = ++mb->hms;
		if ((rc = rec_put(mb, txn, s->uid, &r, s->name)) != 0)
			return rc;
		*changed = 1;
	} else if (strcmp(name, s->name) != 0) {
		if (r.flags != s->sn.flags || r.keywords != s->sn.keywords)
			r.modseq = ++mb->hms;
		r.flags = s->sn.flags;
		r.keywords = s->sn.keywords;
		if ((rc = rec_put(mb, txn, s->uid, &r, s->name)) != 0)
			return rc;
		*changed = 1;
	}
	m->uid = s->uid;
	m->flags = r.flags;
	m->keywords = r.keywords;
	m->size = r.size;
	m->vsize = r.vsize;
	m->idate = r.idate;
	m->modseq = r.modseq;
	m->name = xstrdup(s->name);
	m->base = xstrdup(s->sn.base);
	return 0;
}

/* removes the records of UIDs that are no longer in the folder */
static int
sync_expunged(struct store_mailbox *mb, MDB_txn *txn, const uint32_t *uids,
    size_t nuids, int *changed)
{
	MDB_cursor	*cur;
	MDB_val		 k, d;
	uint32_t	 uid;
	int		 rc;

	if ((rc = mdb_cursor_open(txn, mb->dbi_msg, &cur)) != 0)
		return rc;
	rc = mdb_cursor_get(cur, &k, &d, MDB_FIRST);
	while (rc == 0) {
		if (k.mv_size != sizeof(uid)) {
			rc = MDB_CORRUPTED;
			break;
		}
		memcpy(&uid, k.mv_data, sizeof(uid));
		if (bsearch(&uid, uids, nuids, sizeof(*uids), uid_cmp) ==
		    NULL) {
			if ((rc = mdb_cursor_del(cur, 0)) != 0)
				break;
			mb->hms++;
			*changed = 1;
		}
		rc = mdb_cursor_get(cur, &k, &d, MDB_NEXT);
	}
	mdb_cursor_close(cur);
	return rc == MDB_NOTFOUND ? 0 : rc;
}

static int
sync_txn(struct store_mailbox *mb, char *err, size_t errsz)
{
	MDB_txn		 *txn;
	struct uidlist	  ul;
	struct scan	 *scan = NULL, **fresh = NULL;
	struct store_msg *msgs = NULL;
	uint32_t	 *uids = NULL;
	uint64_t	  v, mvalid = 0;
	size_t		  nscan = 0, nfresh = 0, nmsgs = 0, i, idx;
	char		 *keep = NULL;
	int		  rc, dirty = 0, changed = 0, fresh_index, r;

	uidlist_init(&ul);
	if ((rc = mdb_txn_begin(mb->env, NULL, 0, &txn)) != 0) {
		snprintf(err, errsz, "%s: mdb_txn_begin: %s", mb->path,
		    mdb_strerror(rc));
		return rc;
	}
	if (scan_dirs(mb, &scan, &nscan, err, errsz) == -1) {
		mdb_txn_abort(txn);
		return -1;
	}
	if (flock(mb->lockfd, LOCK_EX) == -1)
		fatal("%s: flock " UIDLIST_LOCK, mb->path);

	/* the identity: the uidlist, else the index, else a new one */
	rc = meta_get(txn, mb->dbi_meta, "uidvalidity", &mvalid);
	if (rc != 0 && rc != MDB_NOTFOUND)
		goto lmdb;
	if (uidlist_read(mb, &ul) == 0)
		;
	else if (uidlist_from_index(mb, txn, &ul) == 0)
		dirty = 1;
	else {
		uidlist_init(&ul);
		ul.uidvalidity = (uint32_t)now_sec();
		if (mvalid != 0 && ul.uidvalidity <= mvalid)
			ul.uidvalidity = (uint32_t)mvalid + 1;
		ul.uidnext = 1;
		log_info("%s: new uidvalidity=%u", mb->path, ul.uidvalidity);
		dirty = 1;
	}
	fresh_index = mvalid != ul.uidvalidity;
	rc = meta_get(txn, mb->dbi_meta, "highestmodseq", &mb->hms);
	if (rc == MDB_NOTFOUND)
		mb->hms = 0;
	else if (rc != 0)
		goto lmdb;
	if (fresh_index) {
		/* the index is new, lost or of another uidvalidity */
		if ((rc = mdb_drop(txn, mb->dbi_msg, 0)) != 0)
			goto lmdb;
		if (ul.modseq > mb->hms)
			mb->hms = ul.modseq;
		if (now_sec() > mb->hms)
			mb->hms = now_sec();
		if ((rc = meta_put(txn, mb->dbi_meta, "uidvalidity",
		    ul.uidvalidity)) != 0 ||
		    (rc = meta_put(txn, mb->dbi_meta, "version",
		    INDEX_VERSION)) != 0)
			goto lmdb;
		changed = 1;
		if (mvalid != 0)
			log_info("%s: index rebuilt uidvalidity=%u", mb->path,
			    ul.uidvalidity);
	}

	/* UIDs: known bases keep theirs, new ones get the next ones */
	keep = xcalloc(ul.nent + 1, 1);
	fresh = xreallocarray(NULL, nscan + 1, sizeof(*fresh));
	for (i = 0; i < nscan; i++) {
		scan[i].uid = uidlist_find(&ul, scan[i].sn.base, &idx);
		if (scan[i].uid != 0)
			keep[idx] = 1;
		else
			fresh[nfresh++] = &scan[i];
	}
	for (i = 0; i < ul.nent; i++)
		if (!keep[i])
			dirty = 1;
	uidlist_keep(&ul, keep);
	if (nfresh > 0) {
		qsort(fresh, nfresh, sizeof(*fresh), scan_new_cmp);
		for (i = 0; i < nfresh; i++) {
			if (ul.uidnext == UINT32_MAX) {
				snprintf(err, errsz, "%s: out of UIDs",
				    mb->path);
				rc = -1;
				goto out;
			}
			fresh[i]->uid = ul.uidnext++;
			uidlist_add(&ul, fresh[i]->uid, fresh[i]->sn.base);
		}
		dirty = 1;
	}

	/* the index, in UID order */
	if (nscan > 0)
		qsort(scan, nscan, sizeof(*scan), scan_uid_cmp);
	msgs = xreallocarray(NULL, nscan + 1, sizeof(*msgs));
	uids = xreallocarray(NULL, nscan + 1, sizeof(*uids));
	for (i = 0; i < nscan; i++) {
		uids[i] = scan[i].uid;
		r = sync_one(mb, txn, &scan[i], &msgs[nmsgs], &changed);
		if (r == 0)
			nmsgs++;
		else if (r != 1) {
			rc = r;
			goto lmdb;
		}
	}
	if ((rc = sync_expunged(mb, txn, uids, nscan, &changed)) != 0)
		goto lmdb;
	if (!fresh_index && meta_get(txn, mb->dbi_meta, "uidnext", &v) == 0 &&
	    v != ul.uidnext)
		changed = 1;
	if (changed) {
		if ((rc = meta_put(txn, mb->dbi_meta, "highestmodseq",
		    mb->hms)) != 0 ||
		    (rc = meta_put(txn, mb->dbi_meta, "uidnext",
		    ul.uidnext)) != 0)
			goto lmdb;
	}
	if (dirty) {
		ul.modseq = mb->hms;
		if (uidlist_write(mb, &ul, err, errsz) == -1) {
			rc = -1;
			goto out;
		}
	}
	if (changed && (rc = mdb_txn_commit(txn)) != 0) {
		txn = NULL;
		goto lmdb;
	}
	if (!changed)
		mdb_txn_abort(txn);
	txn = NULL;
	flock(mb->lockfd, LOCK_UN);

	msgs_free(mb);
	mb->msgs = msgs;
	mb->nmsgs = nmsgs;
	msgs = NULL;
	mb->uidvalidity = ul.uidvalidity;
	mb->uidnext = ul.uidnext;
	for (r = 0; r < mb->nkeywords; r++)
		free(mb->keywords[r]);
	for (r = 0; r < ul.nkeywords; r++) {
		mb->keywords[r] = ul.keywords[r];
		ul.keywords[r] = NULL;
	}
	mb->nkeywords = ul.nkeywords;
	ul.nkeywords = 0;
	rc = 0;
	goto out;
 lmdb:
	snprintf(err, errsz, "%s/" INDEX_NAME ": %s", mb->path,
	    mdb_strerror(rc));
 out:
	if (txn != NULL)
		mdb_txn_abort(txn);
	if (rc != 0)
		flock(mb->lockfd, LOCK_UN);
	if (msgs != NULL) {
		for (i = 0; i < nmsgs; i++) {
			free(msgs[i].name);
			free(msgs[i].base);
		}
		free(msgs);
	}
	uidlist_clear(&ul);
	free(keep);
	free(fresh);
	free(scan);
	free(uids);
	return rc;
}

static void
env_close(struct store_mailbox *mb)
{
	if (mb->env != NULL)
		mdb_env_close(mb->env);
	mb->env = NULL;
}

static void
index_remove(struct store_mailbox *mb)
{
	char	path[PATH_MAX];

	snprintf(path, sizeof(path), "%s/" INDEX_NAME, mb->path);
	if (unlink(path) == -1 && errno != ENOENT)
		log_warn("unlink %s", path);
	snprintf(path, sizeof(path), "%s/" INDEX_NAME "-lock", mb->path);
	if (unlink(path) == -1 && errno != ENOENT)
		log_warn("unlink %s", path);
}

static int
env_open1(struct store_mailbox *mb, char *err, size_t errsz)
{
	char	 path[PATH_MAX];
	MDB_txn	*txn;
	int	 rc, dead;

	snprintf(path, sizeof(path), "%s/" INDEX_NAME, mb->path);
	if ((rc = mdb_env_create(&mb->env)) != 0)
		fatalx("mdb_env_create: %s", mdb_strerror(rc));
	if ((rc = mdb_env_set_mapsize(mb->env, mb->mapsize)) != 0 ||
	    (rc = mdb_env_set_maxdbs(mb->env, 4)) != 0)
		goto fail;
	if ((rc = mdb_env_open(mb->env, path, MDB_NOSUBDIR | MDB_NOTLS,
	    0600)) != 0)
		goto fail;
	if ((rc = mdb_reader_check(mb->env, &dead)) != 0)
		goto fail;
	if ((rc = mdb_txn_begin(mb->env, NULL, 0, &txn)) != 0)
		goto fail;
	if ((rc = mdb_dbi_open(txn, "meta", MDB_CREATE, &mb->dbi_meta)) != 0 ||
	    (rc = mdb_dbi_open(txn, "msg", MDB_CREATE | MDB_INTEGERKEY,
	    &mb->dbi_msg)) != 0) {
		mdb_txn_abort(txn);
		goto fail;
	}
	if ((rc = mdb_txn_commit(txn)) != 0)
		goto fail;
	return 0;
 fail:
	snprintf(err, errsz, "%s: %s", path, mdb_strerror(rc));
	env_close(mb);
	return rc;
}

/* opens the index; a corrupt one is removed and created again */
static int
env_open(struct store_mailbox *mb, char *err, size_t errsz)
{
	int	rc;

	if ((rc = env_open1(mb, err, errsz)) == 0)
		return 0;
	if (!lmdb_bad(rc) && rc != MDB_INCOMPATIBLE)
		return -1;
	log_warnx("%s: removing the index to rebuild it", err);
	index_remove(mb);
	return env_open1(mb, err, errsz) == 0 ? 0 : -1;
}

int
store_sync(struct store_mailbox *mb, char *err, size_t errsz)
{
	int	rc;

	rc = sync_txn(mb, err, errsz);
	if (rc == 0)
		return 0;
	if (rc == -1 || !lmdb_bad(rc))
		return -1;
	log_warnx("%s: removing the index to rebuild it", err);
	env_close(mb);
	index_remove(mb);
	if (env_open(mb, err, errsz) == -1)
		return -1;
	return sync_txn(mb, err, errsz) == 0 ? 0 : -1;
}

struct store_mailbox *
store_open(const char *path, size_t mapsize, char *err, size_t errsz)
{
	struct store_mailbox	*mb;
	char			 lock[PATH_MAX];

	if (strlen(path) >= MB_PATH_MAX || strstr(path, "..") != NULL) {
		snprintf(err, errsz, "%s: bad path", path);
		return NULL;
	}
	if (mkdirs(path, err, errsz) == -1)
		return NULL;
	mb = xcalloc(1, sizeof(*mb));
	strlcpy(mb->path, path, sizeof(mb->path));
	mb->mapsize = mapsize;
	snprintf(lock, sizeof(lock), "%s/" UIDLIST_LOCK, path);
	mb->lockfd = open(lock, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW,
	    0600);
	if (mb->lockfd == -1) {
		snprintf(err, errsz, "open %s: %s", lock, strerror(errno));
		free(mb);
		return NULL;
	}
	if (env_open(mb, err, errsz) == -1 || store_sync(mb, err,
	    errsz) == -1) {
		store_close(mb);
		return NULL;
	}
	return mb;
}

void
store_close(struct store_mailbox *mb)
{
	int	i;

	if (mb == NULL)
		return;
	msgs_free(mb);
	for (i = 0; i < mb->nkeywords; i++)
		free(mb->keywords[i]);
	env_close(mb);
	close(mb->lockfd);
	free(mb);
}

size_t
store_count(const struct store_mailbox *mb)
{
	return mb->nmsgs;
}

const struct store_msg *
store_get(const struct store_mailbox *mb, size_t i)
{
	return i < mb->nmsgs ? &mb->msgs[i] : NULL;
}

uint32_t
store_uidvalidity(const struct store_mailbox *mb)
{
	return mb->uidvalidity;
}

uint32_t
store_uidnext(const struct store_mailbox *mb)
{
	return mb->uidnext;
}

uint64_t
store_highestmodseq(const struct store_mailbox *mb)
{
	return mb->hms;
}

const char *
store_keyword(const struct store_mailbox *mb, int i)
{
	return i >= 0 && i < mb->nkeywords ? mb->keywords[i] : NULL;
}

/* looks for the message's base name in new/ and cur/; updates its name */
static int
msg_find(struct store_mailbox *mb, struct store_msg *m)
{
	const char		*sub[] = { "new", "cur" };
	char			 dir[PATH_MAX], name[MSG_NAME_MAX];
	struct store_name	 sn;
	DIR			*d;
	struct dirent		*de;
	int			 i, found = 0;

	for (i = 0; i < 2 && !found; i++) {
		snprintf(dir, sizeof(dir), "%s/%s", mb->path, sub[i]);
		if ((d = opendir(dir)) == NULL)
			return -1;
		while ((de = readdir(d)) != NULL) {
			if (store_name_parse(de->d_name, &sn) == 0 &&
			    strcmp(sn.base, m->base) == 0) {
				snprintf(name, sizeof(name), "%s/%s", sub[i],
				    de->d_name);
				found = 1;
				break;
			}
		}
		closedir(d);
	}
	if (!found) {
		errno = ENOENT;
		return -1;
	}
	free(m->name);
	m->name = xstrdup(name);
	return 0;
}

int
store_msg_open(struct store_mailbox *mb, size_t idx)
{
	struct store_msg	*m;
	char			 path[PATH_MAX];
	int			 fd, tries;

	if (idx >= mb->nmsgs) {
		errno = ENOENT;
		return -1;
	}
	m = &mb->msgs[idx];
	for (tries = 0; tries < 3; tries++) {
		snprintf(path, sizeof(path), "%s/%s", mb->path, m->name);
		fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
		if (fd != -1 || errno != ENOENT)
			return fd;
		if (msg_find(mb, m) == -1)
			return -1;
	}
	errno = ENOENT;
	return -1;
}

int
store_msg_remove(struct store_mailbox *mb, size_t idx)
{
	struct store_msg	*m;
	char			 path[PATH_MAX];
	int			 tries;

	if (idx >= mb->nmsgs)
		return 0;
	m = &mb->msgs[idx];
	for (tries = 0; tries < 3; tries++) {
		snprintf(path, sizeof(path), "%s/%s", mb->path, m->name);
		if (unlink(path) == 0)
			return 0;
		if (errno != ENOENT)
			return -1;
		if (msg_find(mb, m) == -1)
			return errno == ENOENT ? 0 : -1;
	}
	return 0;
}
