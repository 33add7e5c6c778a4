/*
 * The spool files: creating a message file for smtpd, the group commit,
 * and the reconciliation of spool/queue/ with the index at start.
 *
 * A message is written in tmp/ID (created here, written by smtpd through
 * the passed fd) and committed into queue/ID in DESIGN.md's order, which
 * nothing here may reorder:
 *	1. fsync the file		(worker threads, queue_commit_threads)
 *	2. rename tmp/ID -> queue/ID	(main thread, per file)
 *	3. fsync queue/			(once for the batch)
 *	4. one synced LMDB transaction	(once for the batch)
 *	5. IPC_QUEUE_COMMITTED		(per file; smtpd then answers 250)
 * The batch is every fsync that completed by the time the main thread
 * reads the completion pipe: concurrent sessions share steps 3 and 4.
 *
 * Notifications (bounces, delay warnings) are written by queue itself
 * (queue_fs_inject) and committed by the same steps; step 5 is then a
 * callback instead of a frame to smtpd.
 */
#include <sys/types.h>
#include <sys/stat.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "daemon.h"
#include "ipc.h"
#include "log.h"
#include "util.h"
#include "queue.h"

#define ENVELOPE_READ_MAX	(4 * 1024 * 1024)

enum qfile_state {
	QF_OPEN,		/* smtpd is writing it */
	QF_SYNCING,		/* a worker owns fd and sync_err */
};

struct qfile {
	TAILQ_ENTRY(qfile)	 entry;		/* files (main thread) */
	TAILQ_ENTRY(qfile)	 job_entry;	/* jobs (under jobs_mtx) */
	char			 id[QUEUEID_LEN + 1];
	struct ipc_chan		*chan;		/* NULL once smtpd is gone */
	uint32_t		 reqid;		/* of the COMMIT */
	int			 state;
	int			 aborted;
	size_t			 hdrlen;
	uint64_t		 size;
	struct envelope		 env;
	int			 fd;		/* while syncing */
	int			 sync_err;	/* set by the worker */
	/* written by queue itself (queue_fs_inject) */
	int			 internal;
	queue_inject_cb		*cb;
	void			*cbarg;
	char			*logextra;
};

static TAILQ_HEAD(, qfile)	files = TAILQ_HEAD_INITIALIZER(files);
static TAILQ_HEAD(, qfile)	jobs = TAILQ_HEAD_INITIALIZER(jobs);
static pthread_mutex_t		jobs_mtx = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t		jobs_cond = PTHREAD_COND_INITIALIZER;
static int			done_pipe[2] = { -1, -1 };
static struct event		*done_ev;

static void
qfile_free(struct qfile *f)
{
	TAILQ_REMOVE(&files, f, entry);
	envelope_clear(&f->env);
	free(f->logextra);
	free(f);
}

static struct qfile *
qfile_find(const char *id)
{
	struct qfile	*f;

	TAILQ_FOREACH(f, &files, entry)
		if (strcmp(f->id, id) == 0)
			return f;
	return NULL;
}

static int
status_for(int err)
{
	return (err == ENOSPC || err == EDQUOT) ? QUEUE_NOSPACE :
	    QUEUE_TEMPFAIL;
}

static void
path_of(char *buf, size_t sz, const char *dir, const char *id)
{
	if ((size_t)snprintf(buf, sz, "%s/%s", dir, id) >= sz)
		fatalx("path too long: %s/%s", dir, id);
}

static void
unlink_in(const char *dir, const char *id)
{
	char	path[64];

	path_of(path, sizeof(path), dir, id);
	if (unlink(path) == -1 && errno != ENOENT)
		log_warn("%s: unlink %s", id, path);
}

/* --- the fsync workers --- */

static void *
commit_worker(void *arg)
{
	struct qfile	*f;
	ssize_t		 n;

	for (;;) {
		pthread_mutex_lock(&jobs_mtx);
		while (TAILQ_EMPTY(&jobs))
			pthread_cond_wait(&jobs_cond, &jobs_mtx);
		f = TAILQ_FIRST(&jobs);
		TAILQ_REMOVE(&jobs, f, job_entry);
		pthread_mutex_unlock(&jobs_mtx);

		f->sync_err = fsync(f->fd) == -1 ? errno : 0;
		do
			n = write(done_pipe[1], &f, sizeof(f));
		while (n == -1 && errno == EINTR);
		if (n != sizeof(f))
			fatal("commit worker: write to completion pipe");
	}
	return NULL;
}

static void
reply_created(struct ipc_chan *chan, uint32_t reqid, int status,
    const char *id, int fd)
{
	static struct ipc_wbuf	w;

	ipc_wbuf_init(&w);
	ipc_put_u32(&w, status);
	ipc_put_str(&w, id);
	if (ipc_sendw(chan, IPC_QUEUE_CREATED, reqid, fd, &w) == -1)
		log_warnx("%s: cannot answer smtpd", id[0] ? id : "-");
}

static void
reply_committed(struct qfile *f, int status)
{
	static struct ipc_wbuf	w;

	if (f->internal) {
		if (f->cb != NULL)
			f->cb(status, status == QUEUE_OK ? f->id : "",
			    f->cbarg);
		f->cb = NULL;
		return;
	}
	if (f->chan == NULL)
		return;
	ipc_wbuf_init(&w);
	ipc_put_u32(&w, status);
	ipc_put_str(&w, f->id);
	if (ipc_sendw(f->chan, IPC_QUEUE_COMMITTED, f->reqid, -1, &w) == -1)
		log_warnx("%s: cannot answer smtpd", f->id);
}

/* steps 3 to 5 for the files renamed into queue/ */
static void
commit_batch(struct qfile **ok, size_t n)
{
	struct qmsg	**m;
	char		 *rec;
	size_t		  i, len;
	int		  status = QUEUE_OK, failed = 0;

	if (n == 0)
		return;
	if (fsync_dir(QUEUE_QUEUE_DIR) == -1) {
		log_warn("fsync %s", QUEUE_QUEUE_DIR);
		status = status_for(errno);
		goto fail;
	}
	m = xcalloc(n, sizeof(*m));
	qdb_begin();
	for (i = 0; i < n; i++) {
		m[i] = qmsg_new(ok[i]->id);
		m[i]->env = ok[i]->env;		/* moves the rcpt array */
		envelope_init(&ok[i]->env);
		m[i]->offset = ok[i]->hdrlen;
		m[i]->size = ok[i]->size;
		m[i]->rcpt = qrcpt_new(m[i]->env.nrcpt);
		m[i]->fresh = 1;
		len = qrec_encode(m[i], &rec);
		if (!failed && qdb_put(m[i]->id, rec, len) == -1)
			failed = 1;
		free(rec);
	}
	if (!failed && qdb_commit() == -1)
		failed = 1;
	if (failed) {
		for (i = 0; i < n; i++)
			qmsg_free(m[i]);
		free(m);
		status = QUEUE_NOSPACE;
		goto fail;
	}
	for (i = 0; i < n; i++) {
		log_info("%s: from=<%s> size=%" PRIu64 " nrcpt=%zu proto=%s "
		    "client=[%s]%s", m[i]->id, m[i]->env.sender, m[i]->size,
		    m[i]->env.nrcpt, m[i]->env.proto, m[i]->env.client,
		    ok[i]->logextra ? ok[i]->logextra : "");
		qmsg_insert(m[i]);
		if (!ok[i]->internal)
			sched_count_received();
		reply_committed(ok[i], QUEUE_OK);
		qfile_free(ok[i]);
	}
	for (i = 0; i < n; i++)
		sched_message(m[i]);
	free(m);
	sched_pump();
	return;
 fail:
	for (i = 0; i < n; i++) {
		log_warnx("%s: commit failed: %s", ok[i]->id,
		    status == QUEUE_NOSPACE ? "no space" : "temporary error");
		unlink_in(QUEUE_QUEUE_DIR, ok[i]->id);
		reply_committed(ok[i], status);
		qfile_free(ok[i]);
	}
}

static void
commit_done(int fd, short ev, void *arg)
{
	struct qfile	**batch = NULL, **ok, *f;
	size_t		  n = 0, cap = 0, nok = 0, i;
	ssize_t		  r;
	char		  from[64], to[64];

	/* every completion available now is one batch */
	for (;;) {
		if (n == cap) {
			cap = cap ? cap * 2 : 64;
			batch = xreallocarray(batch, cap, sizeof(*batch));
		}
		r = read(fd, batch + n, (cap - n) * sizeof(*batch));
		if (r == -1 && errno == EINTR)
			continue;
		if (r == -1 && errno == EAGAIN)
			break;
		if (r <= 0 || r % sizeof(*batch) != 0)
			fatal("commit: read completion pipe");
		n += r / sizeof(*batch);
	}
	ok = xcalloc(n ? n : 1, sizeof(*ok));
	for (i = 0; i < n; i++) {
		f = batch[i];
		close(f->fd);
		f->fd = -1;
		if (f->aborted || (f->chan == NULL && !f->internal)) {
			unlink_in(QUEUE_TMP_DIR, f->id);
			qfile_free(f);
			continue;
		}
		if (f->sync_err) {
			errno = f->sync_err;
			log_warn("%s: fsync %s/%s", f->id, QUEUE_TMP_DIR, f->id);
			unlink_in(QUEUE_TMP_DIR, f->id);
			reply_committed(f, status_for(f->sync_err));
			qfile_free(f);
			continue;
		}
		path_of(from, sizeof(from), QUEUE_TMP_DIR, f->id);
		path_of(to, sizeof(to), QUEUE_QUEUE_DIR, f->id);
		if (rename(from, to) == -1) {
			log_warn("%s: rename %s %s", f->id, from, to);
			unlink_in(QUEUE_TMP_DIR, f->id);
			reply_committed(f, status_for(errno));
			qfile_free(f);
			continue;
		}
		ok[nok++] = f;
	}
	commit_batch(ok, nok);
	free(ok);
	free(batch);
}

/* --- start-up --- */

static void
mkdir_spool(const char *dir)
{
	if (mkdir(dir, 0700) == -1 && errno != EEXIST)
		fatal("mkdir %s", dir);
}

static void
clean_tmp(void)
{
	DIR		*d;
	struct dirent	*de;
	char		 path[PATH_MAX];
	int		 n = 0;

	if ((d = opendir(QUEUE_TMP_DIR)) == NULL)
		fatal("opendir %s", QUEUE_TMP_DIR);
	while ((de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 ||
		    strcmp(de->d_name, "..") == 0)
			continue;
		if ((size_t)snprintf(path, sizeof(path), "%s/%s",
		    QUEUE_TMP_DIR, de->d_name) >= sizeof(path))
			continue;
		if (unlink(path) == -1)
			log_warn("unlink %s", path);
		else
			n++;
	}
	closedir(d);
	if (n)
		log_info("removed %d stale files from %s/", n, QUEUE_TMP_DIR);
}

void
queue_fs_init(void)
{
	pthread_t	 t;
	sigset_t	 all, old;
	int		 i, n;

	mkdir_spool(QUEUE_TMP_DIR);
	mkdir_spool(QUEUE_QUEUE_DIR);
	mkdir_spool(QUEUE_CORRUPT_DIR);
	clean_tmp();

	if (pipe2(done_pipe, O_CLOEXEC) == -1)
		fatal("pipe");
	if (fd_nonblock(done_pipe[0]) == -1)
		fatal("fd_nonblock");
	done_ev = event_new(daemon_base(), done_pipe[0], EV_READ | EV_PERSIST,
	    commit_done, NULL);
	if (done_ev == NULL || event_add(done_ev, NULL) == -1)
		fatalx("commit: event_add");

	/* workers never take signals */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	n = qconf.commit_threads > 0 ? qconf.commit_threads : 1;
	for (i = 0; i < n; i++) {
		if ((errno = pthread_create(&t, NULL, commit_worker, NULL)))
			fatal("pthread_create");
		pthread_detach(t);
	}
	pthread_sigmask(SIG_SETMASK, &old, NULL);
}

/* --- IPC_QUEUE_CREATE, COMMIT, ABORT --- */

void
queue_fs_create(struct ipc_chan *chan, uint32_t reqid, const char *text)
{
	struct qfile	*f;
	const char	*err = NULL;
	char		*buf = NULL, *hdr = NULL, path[64];
	size_t		 len = strlen(text);
	ssize_t		 plen, hlen;
	int		 fd = -1, tries, status;

	/* be lenient about the envelope's final empty line */
	if (len < 2 || text[len - 1] != '\n' || text[len - 2] != '\n') {
		xasprintf(&buf, "%s%s", text,
		    (len && text[len - 1] == '\n') ? "\n" : "\n\n");
		text = buf;
		len = strlen(text);
	}
	f = xcalloc(1, sizeof(*f));
	f->fd = -1;
	envelope_init(&f->env);
	TAILQ_INSERT_TAIL(&files, f, entry);
	if ((plen = envelope_parse(text, len, &f->env, &err)) == -1 ||
	    (size_t)plen != len || f->env.nrcpt == 0) {
		log_warnx("smtpd: bad envelope refused: %s",
		    err ? err : (f->env.nrcpt ? "trailing data" :
		    "no recipient"));
		reply_created(chan, reqid, QUEUE_REJECT, "", -1);
		goto fail;
	}
	f->env.arrival = now_sec();
	for (tries = 0; tries < 10; tries++) {
		queueid_new(f->env.id);
		if (qmsg_find(f->env.id) != NULL) {	/* the clock went back */
			errno = EEXIST;
			continue;
		}
		path_of(path, sizeof(path), QUEUE_TMP_DIR, f->env.id);
		fd = open(path, O_CREAT | O_EXCL | O_WRONLY | O_APPEND |
		    O_CLOEXEC, 0600);
		if (fd != -1 || errno != EEXIST)
			break;
	}
	if (fd == -1) {
		status = status_for(errno);
		log_warn("open %s", path);
		reply_created(chan, reqid, status, "", -1);
		goto fail;
	}
	strlcpy(f->id, f->env.id, sizeof(f->id));
	if ((hlen = envelope_format(&f->env, &hdr)) == -1) {
		log_warnx("%s: envelope_format failed", f->id);
		status = QUEUE_TEMPFAIL;
		goto fail_file;
	}
	if (write_all(fd, hdr, hlen) == -1) {
		status = status_for(errno);
		log_warn("%s: write %s", f->id, path);
		goto fail_file;
	}
	f->hdrlen = hlen;
	f->chan = chan;
	f->state = QF_OPEN;
	reply_created(chan, reqid, QUEUE_OK, f->id, fd);
	close(fd);
	free(hdr);
	free(buf);
	return;
 fail_file:
	close(fd);
	unlink(path);
	reply_created(chan, reqid, status, "", -1);
 fail:
	free(hdr);
	free(buf);
	qfile_free(f);
}

void
queue_fs_inject(struct envelope *env, const char *text, size_t len,
    const char *logextra, queue_inject_cb *cb, void *arg)
{
	struct qfile	*f;
	char		*hdr = NULL, path[64];
	ssize_t		 hlen;
	int		 fd = -1, tries, err;

	env->arrival = now_sec();
	for (tries = 0; tries < 10; tries++) {
		queueid_new(env->id);
		if (qmsg_find(env->id) != NULL || qfile_find(env->id) != NULL) {
			errno = EEXIST;
			continue;
		}
		path_of(path, sizeof(path), QUEUE_TMP_DIR, env->id);
		fd = open(path, O_CREAT | O_EXCL | O_WRONLY | O_APPEND |
		    O_CLOEXEC, 0600);
		if (fd != -1 || errno != EEXIST)
			break;
	}
	if (fd == -1) {
		log_warn("open %s", path);
		cb(status_for(errno), "", arg);
		return;
	}
	if ((hlen = envelope_format(env, &hdr)) == -1) {
		log_warnx("%s: envelope_format failed", env->id);
		errno = EINVAL;
		goto fail;
	}
	if (write_all(fd, hdr, hlen) == -1 || write_all(fd, text, len) == -1) {
		log_warn("%s: write %s", env->id, path);
		goto fail;
	}
	free(hdr);
	f = xcalloc(1, sizeof(*f));
	strlcpy(f->id, env->id, sizeof(f->id));
	f->env = *env;			/* takes the rcpt array */
	envelope_init(env);
	f->internal = 1;
	f->cb = cb;
	f->cbarg = arg;
	f->logextra = logextra ? xstrdup(logextra) : NULL;
	f->hdrlen = hlen;
	f->size = len;
	f->fd = fd;
	f->state = QF_SYNCING;
	TAILQ_INSERT_TAIL(&files, f, entry);
	pthread_mutex_lock(&jobs_mtx);
	TAILQ_INSERT_TAIL(&jobs, f, job_entry);
	pthread_cond_signal(&jobs_cond);
	pthread_mutex_unlock(&jobs_mtx);
	return;
 fail:
	err = errno;
	free(hdr);
	close(fd);
	unlink(path);
	cb(status_for(err), "", arg);
}

void
queue_fs_commit(struct ipc_chan *chan, uint32_t reqid, const char *id,
    uint64_t size)
{
	struct qfile	 tmp, *f;
	struct stat	 st;
	char		 path[64];
	int		 fd;

	if ((f = qfile_find(id)) == NULL || f->state != QF_OPEN ||
	    f->chan != chan) {
		log_warnx("%s: commit of an unknown message", id);
		memset(&tmp, 0, sizeof(tmp));
		strlcpy(tmp.id, id, sizeof(tmp.id));
		tmp.chan = chan;
		tmp.reqid = reqid;
		reply_committed(&tmp, QUEUE_TEMPFAIL);
		return;
	}
	f->reqid = reqid;
	path_of(path, sizeof(path), QUEUE_TMP_DIR, id);
	if ((fd = open(path, O_WRONLY | O_CLOEXEC)) == -1) {
		log_warn("%s: open %s", id, path);
		goto fail;
	}
	if (fstat(fd, &st) == -1) {
		log_warn("%s: fstat %s", id, path);
		close(fd);
		goto fail;
	}
	if ((uint64_t)st.st_size != f->hdrlen + size) {
		log_warnx("%s: size mismatch: file has %lld bytes, expected "
		    "%zu + %" PRIu64, id, (long long)st.st_size, f->hdrlen,
		    size);
		close(fd);
		goto fail;
	}
	f->size = size;
	f->fd = fd;
	f->state = QF_SYNCING;
	pthread_mutex_lock(&jobs_mtx);
	TAILQ_INSERT_TAIL(&jobs, f, job_entry);
	pthread_cond_signal(&jobs_cond);
	pthread_mutex_unlock(&jobs_mtx);
	return;
 fail:
	unlink(path);
	reply_committed(f, QUEUE_TEMPFAIL);
	qfile_free(f);
}

void
queue_fs_abort(const char *id)
{
	struct qfile	*f;

	if ((f = qfile_find(id)) == NULL)
		return;
	if (f->state == QF_SYNCING) {
		f->aborted = 1;		/* dropped when the fsync is done */
		return;
	}
	unlink_in(QUEUE_TMP_DIR, id);
	qfile_free(f);
}

void
queue_fs_smtpd_gone(void)
{
	struct qfile	*f, *next;

	for (f = TAILQ_FIRST(&files); f != NULL; f = next) {
		next = TAILQ_NEXT(f, entry);
		f->chan = NULL;
		if (f->state == QF_OPEN) {
			unlink_in(QUEUE_TMP_DIR, f->id);
			qfile_free(f);
		}
	}
}

size_t
queue_fs_inprogress(void)
{
	struct qfile	*f;
	size_t		 n = 0;

	TAILQ_FOREACH(f, &files, entry)
		n++;
	return n;
}

/* --- committed files --- */

void
queue_fs_remove(const char *id)
{
	unlink_in(QUEUE_QUEUE_DIR, id);
}

int
queue_fs_open(const char *id)
{
	char	path[64];

	path_of(path, sizeof(path), QUEUE_QUEUE_DIR, id);
	return open(path, O_RDONLY | O_CLOEXEC);
}

/* --- reconciliation --- */

static void
move_corrupt(const char *name, const char *why)
{
	char		from[PATH_MAX], to[PATH_MAX];
	struct stat	st;
	int		i;

	snprintf(from, sizeof(from), "%s/%s", QUEUE_QUEUE_DIR, name);
	snprintf(to, sizeof(to), "%s/%s", QUEUE_CORRUPT_DIR, name);
	for (i = 1; lstat(to, &st) == 0 && i < 1000; i++)
		snprintf(to, sizeof(to), "%s/%s.%d", QUEUE_CORRUPT_DIR, name,
		    i);
	if (rename(from, to) == -1)
		fatal("rename %s %s", from, to);
	log_warnx("%s: unreadable spool file moved to %s: %s", name, to, why);
}

/* reads queue/ID's envelope; 0 or -1 with err */
static int
read_envelope(const char *id, struct qmsg *m, const char **err)
{
	struct stat	 st;
	char		 path[64], *buf;
	size_t		 n, got = 0;
	ssize_t		 r, elen;
	int		 fd;

	path_of(path, sizeof(path), QUEUE_QUEUE_DIR, id);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1 ||
	    fstat(fd, &st) == -1) {
		*err = strerror(errno);
		if (fd != -1)
			close(fd);
		return -1;
	}
	n = st.st_size < ENVELOPE_READ_MAX ? (size_t)st.st_size :
	    ENVELOPE_READ_MAX;
	buf = xmalloc(n + 1);
	while (got < n) {
		r = pread(fd, buf + got, n - got, got);
		if (r == -1 && errno == EINTR)
			continue;
		if (r <= 0) {
			*err = r == 0 ? "short read" : strerror(errno);
			free(buf);
			close(fd);
			return -1;
		}
		got += r;
	}
	close(fd);
	buf[n] = '\0';
	envelope_init(&m->env);
	elen = envelope_parse(buf, n, &m->env, err);
	free(buf);
	if (elen == -1)
		return -1;
	if (strcmp(m->env.id, id) != 0) {
		*err = "envelope id differs from the file name";
		return -1;
	}
	if (m->env.nrcpt == 0) {
		*err = "no recipient";
		return -1;
	}
	m->offset = elen;
	m->size = st.st_size - elen;
	return 0;
}

static void
load_record(const char *id, const char *val, size_t len, void *arg)
{
	struct qmsg	*m;
	const char	*err;
	char		***bad = arg;
	size_t		 n;

	if (!queueid_valid(id)) {
		log_warnx("index: record with a bad key ignored");
		return;
	}
	m = qmsg_new(id);
	if (qrec_decode(val, len, m, &err) == -1) {
		log_warnx("%s: bad index record (%s): rebuilt from the file",
		    id, err);
		qmsg_free(m);
		for (n = 0; (*bad)[n] != NULL; n++)
			;
		*bad = xreallocarray(*bad, n + 2, sizeof(**bad));
		(*bad)[n] = xstrdup(id);
		(*bad)[n + 1] = NULL;
		return;
	}
	qmsg_insert(m);
}

static void
drop_unseen(struct qmsg *m, void *arg)
{
	if (m->seen)
		return;
	log_warnx("%s: index record without a spool file: dropped", m->id);
	qmsg_drop(m);
}

void
queue_fs_reconcile(void)
{
	DIR		 *d;
	struct dirent	 *de;
	struct qmsg	 *m;
	const char	 *err;
	char		**bad, **b;
	int		  reindexed = 0;

	bad = xcalloc(1, sizeof(*bad));
	qdb_foreach(load_record, &bad);
	if (bad[0] != NULL) {
		qdb_begin();
		for (b = bad; *b != NULL; b++)
			qdb_del(*b);
		if (qdb_commit() == -1)
			fatalx("index: cannot remove bad records");
		for (b = bad; *b != NULL; b++)
			free(*b);
	}
	free(bad);

	if ((d = opendir(QUEUE_QUEUE_DIR)) == NULL)
		fatal("opendir %s", QUEUE_QUEUE_DIR);
	while ((de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 ||
		    strcmp(de->d_name, "..") == 0)
			continue;
		if (!queueid_valid(de->d_name)) {
			move_corrupt(de->d_name, "not a queue id");
			continue;
		}
		if ((m = qmsg_find(de->d_name)) != NULL) {
			m->seen = 1;
			continue;
		}
		m = qmsg_new(de->d_name);
		if (read_envelope(de->d_name, m, &err) == -1) {
			move_corrupt(de->d_name, err);
			qmsg_free(m);
			continue;
		}
		m->rcpt = qrcpt_new(m->env.nrcpt);
		m->seen = 1;
		qmsg_insert(m);
		qmsg_dirty(m);
		log_info("%s: re-indexed from the spool file, nrcpt=%zu",
		    m->id, m->env.nrcpt);
		reindexed++;
	}
	closedir(d);
	qmsg_foreach(drop_unseen, NULL);
	if (reindexed)
		log_info("re-indexed %d spool files", reindexed);
	sched_flush();
}
