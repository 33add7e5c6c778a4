/*
 * queue: owns the spool. Shared declarations of the queue daemon's files:
 *
 *	queue.c		daemon glue, IPC dispatch (smtpd, deliver, control)
 *	queue_fs.c	spool files: create, group commit (fsync worker
 *			threads), reconciliation at start
 *	queue_db.c	the LMDB index (queue.lmdb) and its record format
 *	queue_sched.c	messages in memory, deliveries, retries, expiry,
 *			the control listing
 *	queue_expand.c	alias expansion through auth (IPC_AUTH_EXPAND)
 *	queue_bounce.c	delivery status notifications (RFC 3464 DSNs:
 *			bounces, delay warnings, success, double bounces)
 *	queue_ctl.c	control requests: show, hold, release, delete,
 *			requeue
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
 * of pending, deferred, delivered, bounced, expanded (an alias, replaced
 * by the recipients it expanded to, listed after the envelope's own:
 * final, like delivered and bounced); ATTEMPTS the number of failed
 * attempts so far; NEXT the time (Unix seconds) of the next attempt of a
 * deferred recipient, else 0. When the line would not fit in one frame,
 * the recipient list is cut and "more=N" says how many were left out.
 * After the last entry comes IPC_CTL_QUEUE_END (u32 number of messages).
 *
 * Words added at the end of the record (tools must ignore unknown words):
 *	orig=N,ADDR	once per recipient N (0-based, in rcpt= order) that
 *			an alias expansion produced: ADDR is the alias it
 *			came from (encoded like rcpt addresses)
 * For a bounced recipient ERROR starts with its DSN status code
 * ("5.1.1 no such user").
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
#define QUEUE_SHOW_MAX		(256 * 1024)	/* header bytes shown */

/* the mailbox of a recipient to expand (auth/aliases.h ALIASES_MAILBOX):
   any mailbox starting with '@' */
#define QUEUE_MAILBOX_EXPAND	"@alias/expand"

/* the envelope "proto" of the notifications queue writes itself */
#define QUEUE_PROTO_DSN		"DSN"		/* to the sender */
#define QUEUE_PROTO_DSN2	"DSN2"		/* double bounce, postmaster */

struct ipc_chan;

/* settings, copied from the configuration */
struct queue_conf {
	uint64_t	retry_min;
	uint64_t	retry_max;
	uint64_t	lifetime;
	int		commit_threads;
	size_t		map_size;
	uint64_t	delay_warning;		/* 0: never */
	uint64_t	bounce_size_limit;	/* full message up to this */
	char		hostname[256];
	char		postmaster[ADDR_MAX];	/* double bounces go there */
};
extern struct queue_conf qconf;

enum rcpt_state {
	RS_PENDING = 0,
	RS_DEFERRED,
	RS_DELIVERED,
	RS_BOUNCED,
	RS_EXPANDED,		/* an alias: its recipients follow */
};

#define QR_DSN_DONE	0x1	/* the final notification is written (or
				   none is due) */
#define QR_DELAY_SENT	0x2	/* a delay warning was written */

struct qrcpt {
	int		 state;		/* enum rcpt_state */
	uint32_t	 attempts;	/* failed attempts */
	uint64_t	 next;		/* next attempt (deferred) */
	char		*error;		/* last error, malloc'd, or NULL;
					   bounced: "X.Y.Z text" */
	int		 parent;	/* the alias it came from, or -1 */
	int		 dflags;	/* QR_* */
	/* in memory only */
	int		 expanding;	/* IPC_AUTH_EXPAND sent, no answer */
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
	int			 dsn_busy;	/* a notification is committing */
	uint64_t		 dsn_next;	/* not before (after a failure) */
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
/* called once the injected message is committed (status QUEUE_OK and its
   id) or failed (another queue_status, id "") */
typedef void	queue_inject_cb(int status, const char *id, void *arg);
void	 queue_fs_init(void);
/*
 * A message queue writes itself (a notification): env (its id is set
 * here) and the message text (CRLF), committed through the same path as
 * smtpd's. logextra is appended to the "from=" log line.
 */
void	 queue_fs_inject(struct envelope *, const char *text, size_t len,
	    const char *logextra, queue_inject_cb *, void *);
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
void		 sched_stats_count(int what);
void		 qmsg_delete(struct qmsg *);
/* n recipients' state, all pending, no parent */
struct qrcpt	*qrcpt_new(size_t n);
void		 sched_rcpt(struct qmsg *, uint32_t);
void		 rcpt_bounce(struct qmsg *, uint32_t, const char *dsn,
		    const char *text);
void		 rcpt_defer(struct qmsg *, uint32_t, const char *text);
int		 msg_check_done(struct qmsg *);
void		 job_add(struct qmsg *, uint32_t);
void		 run_due(void);
int		 rcpt_remote(const struct env_rcpt *);
int		 rcpt_final(const struct qrcpt *);
/* " orig_to=<ADDR>" for an expanded recipient, else "" (static buffer) */
const char	*rcpt_orig_to(const struct qmsg *, uint32_t);
void		 list_encode(const char *, char *, size_t);
void		 list_one(struct ipc_chan *, uint32_t reqid, struct qmsg *);
const char	*rcpt_state_name(int);
int		 rcpt_state_parse(const char *);
/* seconds since arrival, with the microseconds the queue id carries */
double		 qmsg_delay(const struct qmsg *);

/* queue_expand.c */
void	 expand_request(struct qmsg *, uint32_t);
void	 expand_result(uint32_t reqid, const void *, size_t);
void	 expand_auth_up(void);
void	 expand_auth_gone(void);

/* queue_bounce.c */
/* writes what m owes its sender (failure/success DSN, double bounce);
   returns 1 while a notification is still due or committing */
int	 bounce_pending(struct qmsg *);
/* a delay warning if one is due */
void	 bounce_delay_check(struct qmsg *);
extern uint64_t	 stat_dsn;

/* queue_ctl.c */
void	 ctl_show(struct ipc_chan *, uint32_t reqid, const char *id);
uint32_t ctl_select(uint32_t type, const char *selector);

#endif
