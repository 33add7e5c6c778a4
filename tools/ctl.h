/*
 * facteurctl, mailq and sendmail -bp: what the tool's files share.
 *
 *	facteurctl.c	options and commands
 *	ctl_user.c	edits the users file (the auth daemon notices by
 *			itself)
 *	ctl_conn.c	one request over <run_dir>/control.sock (common/ipc.h
 *			framing, self PROC_CTL, peer PROC_MASTER)
 *	ctl_queue.c	the queue: list, show, flush, hold, release, delete,
 *			requeue (queue/queue.h gives the listing record)
 *	ctl_status.c	the daemons and the queue's counters
 *	ctl_log.c	one message through the log
 *	ctl_json.c	JSON output (--json)
 */
#ifndef FACTEUR_CTL_H
#define FACTEUR_CTL_H

#include <stdint.h>
#include <stdio.h>

struct config;
struct ipc_msg;
struct ipc_wbuf;

/* name in error messages: "facteurctl", "mailq" or "sendmail" */
extern const char	*ctl_progname;

/* "user add|passwd|del ADDRESS", "user list": argv[0] is "add" etc.;
   returns the exit status */
int	ctl_user(const struct config *, int argc, char **argv);

/*
 * ctl_conn.c: sends one request of type (payload w) and calls fn for every
 * answer frame until fn returns 1 (done) or -1 (failed; fn printed why);
 * 0 means more frames are expected. Returns 0, or -1 after printing why
 * (facteur not running, no answer, connection refused).
 */
typedef int	ctl_frame_fn(void *arg, struct ipc_msg *);
int	ctl_request(const struct config *, uint32_t type,
	    const struct ipc_wbuf *, ctl_frame_fn *, void *arg);
/* the count of an IPC_CTL_QUEUE_END frame, or -1 after printing why (the
   queue daemon is down, a bad frame) */
int64_t	ctl_queue_end_count(struct ipc_msg *);
/* prints "unexpected frame" and returns -1 */
int	ctl_unexpected(struct ipc_msg *);

/* ctl_queue.c. Each returns 0, or -1 after printing why. */
/* Prints the queue listing Postfix-style (or one JSON document). */
int	ctl_queue_list(const struct config *);
int	ctl_queue_list_json(const struct config *);
/* Makes the deferred recipients of one message (id) or of all (id NULL or
   "") due now. */
int	ctl_queue_flush(const struct config *, const char *id);
/* One message: envelope, per-recipient state, headers. */
int	ctl_queue_show(const struct config *, const char *id, int json);
/* hold, release, delete, requeue (type IPC_CTL_QUEUE_*) of what the
   arguments select: IDs, ALL, --from ADDR, --to ADDR */
int	ctl_queue_select(const struct config *, uint32_t type, int argc,
	    char **argv);
/* a queue id as typed (any case) into buf (QUEUEID_LEN + 1), upper-case;
   -1 when it is not 16 hex digits */
int	ctl_queueid_arg(const char *, char *buf, size_t bufsz);

/* ctl_status.c: one line per daemon, then the queue's sizes and counters */
int	ctl_status(const struct config *);
int	ctl_status_json(const struct config *);

/* ctl_log.c: "log [-f FILE] ID"; returns the exit status */
int	ctl_log(const struct config *, int argc, char **argv);

/* ctl_json.c: a JSON string (quotes included; bytes that are not UTF-8
   become U+FFFD), a JSON number or null */
void	json_str(FILE *, const char *);
void	json_strn(FILE *, const char *, size_t);
void	json_key(FILE *, const char *key);	/* "key": */

#endif
