/*
 * queue: owns the spool. Shared declarations of the queue daemon's files:
 *
 *	queue.c		daemon glue, IPC dispatch (smtpd, deliver, control)
 *	queue_fs.c	spool files: create, group commit (fsync worker
 *			threads), reconciliation at start
 *	queue_db.c	the LMDB index (queue.lmdb) and its record format
 *	queue_sched.c	messages in memory, deliveries, retries, expiry,
 *			the control listing
 *
 * The daemon runs chrooted (system mode) or chdir'ed (sandbox mode) in
 * spool_dir: every path here is relative ("tmp/ID", "queue/ID").
 *
 * Control listing (IPC_CTL_QUEUE_ENTRY, one frame per message, payload one
 * str) is one line of space-separated words:
 *
 *	id=ID arrival=SECS size=BYTES sender=ADDR held=0|1
 *	    rcpt=ADDR,STATE,ATTEMPTS,NEXT,ERROR rcpt=... [more=N]
 *
 * ID is the queue id, SECS the arrival time (Unix seconds), BYTES the
 * message size (after the envelope), ADDR and ERROR are envelope_encode()d
 * and additionally have ',' encoded as %2C so that they never hold a space
 * or a comma; the null sender is "<>", an empty ERROR is "-". STATE is one
 * of pending, deferred, delivered, bounced; ATTEMPTS the number of failed
 * attempts so far; NEXT the time (Unix seconds) of the next attempt of a
 * deferred recipient, else 0. When the line would not fit in one frame,
 * the recipient list is cut and "more=N" says how many were left out.
 * After the last entry comes IPC_CTL_QUEUE_END (u32 number of messages).
 */
#ifndef FACTEUR_QUEUE_H
#define FACTEUR_QUEUE_H

#include <sys/types.h>
#include <sys/queue.h>
#include <sys/tree.h>
#include <stddef.h>
#include <stdint.h>

#include "envelope.h"

#define QUEUE_TMP_DIR		"tmp"
#define QUEUE_QUEUE_DIR		"queue"
#define QUEUE_CORRUPT_DIR	"corrupt"
#define QUEUE_DB_FILE		"queue.lmdb"

#define QUEUE_MAX_INFLIGHT	32	/* deliveries sent to deliver at once */

struct ipc_chan;

/* settings, copied from the configuration */
struct queue_conf {
	uint64_t	retry_min;
	uint64_t	retry_max;
	uint64_t	lifetime;
	int		commit_threads;
	size_t		map_size;
};
extern struct queue_conf qconf;

enum rcpt_state {
	RS_PENDING = 0,
	RS_DEFERRED,
	RS_DELIVERED,
	RS_BOUNCED,
};

struct qrcpt {
	int		 state;		/* enum rcpt_state */
	uint32_t	 attempts;	/* failed attempts */
	uint64_t	 next;		/* next attempt (deferred) */
	char		*error;		/* last error, malloc'd, or NULL */
	/* in memory only */
	int		 inflight;	/* sent to deliver, no answer yet */
	int		 queued;	/* waiting in the delivery job list */
	int		 sent;		/* sent to deliver by this process */
};

#define QM_HELD		0x1
#define QM_EXPIRED	0x2

struct qmsg {
	RB_ENTRY(qmsg)		 entry;
	TAILQ_ENTRY(qmsg)	 dirty_entry;
	char			 id[QUEUEID_LEN + 1];
	struct envelope		 env;
	uint64_t		 offset;	/* body offset in queue/ID */
	uint64_t		 size;		/* message bytes after it */
	int			 flags;		/* QM_* (stored) */
	struct qrcpt		*rcpt;		/* env.nrcpt entries */
	/* in memory only */
	int			 fresh;		/* committed by this process */
	int			 dirty;		/* on the dirty list */
	int			 gone;		/* removed, record to delete */
	int			 seen;		/* reconciliation: file found */
};

/* queue_db.c */
void	 qdb_open(const char *path, size_t mapsize);
void	 qdb_reader_check(void);
/* encodes m as an index record, malloc'd; returns its length */
size_t	 qrec_encode(const struct qmsg *, char **out);
/* decodes a record into m (id set by the caller); 0 or -1 with err */
int	 qrec_decode(const char *, size_t, struct qmsg *, const char **err);
/* calls fn for every record in a read transaction (closed on return) */
void	 qdb_foreach(void (*fn)(const char *id, const char *val, size_t len,
	    void *), void *);
/* write transaction: begin, put/del, commit (synced). put and commit
   return -1 with errno ENOSPC when the map or disk is full (the
   transaction is then aborted); other LMDB errors are fatal. */
void	 qdb_begin(void);
int	 qdb_put(const char *id, const char *val, size_t len);
void	 qdb_del(const char *id);
int	 qdb_commit(void);
void	 qdb_abort(void);

/* queue_fs.c */
void	 queue_fs_init(void);
void	 queue_fs_reconcile(void);
void	 queue_fs_create(struct ipc_chan *, uint32_t reqid, const char *text);
void	 queue_fs_commit(struct ipc_chan *, uint32_t reqid, const char *id,
	    uint64_t size);
void	 queue_fs_abort(const char *id);
void	 queue_fs_smtpd_gone(void);
void	 queue_fs_remove(const char *id);
int	 queue_fs_open(const char *id);
size_t	 queue_fs_inprogress(void);

/* queue_sched.c */
struct qmsg	*qmsg_new(const char *id);
void		 qmsg_free(struct qmsg *);
struct qmsg	*qmsg_find(const char *id);
void		 qmsg_insert(struct qmsg *);
void		 qmsg_dirty(struct qmsg *);
void		 qmsg_foreach(void (*)(struct qmsg *, void *), void *);
/* drops m from memory and its record from the index (at the next flush) */
void		 qmsg_drop(struct qmsg *);
void		 sched_init(void);
void		 sched_message(struct qmsg *);
void		 sched_pump(void);
void		 sched_flush(void);
void		 sched_result(const char *id, uint32_t idx, uint32_t status,
		    const char *text);
void		 sched_deliver_gone(void);
void		 sched_list(struct ipc_chan *, uint32_t reqid);
uint32_t	 sched_flush_request(const char *id);
void		 sched_stats(char *, size_t);
void		 sched_count_received(void);
const char	*rcpt_state_name(int);
int		 rcpt_state_parse(const char *);
/* seconds since arrival, with the microseconds the queue id carries */
double		 qmsg_delay(const struct qmsg *);

#endif
