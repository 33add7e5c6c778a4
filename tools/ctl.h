/*
 * facteurctl, mailq and sendmail -bp: what the tool's files share.
 *
 * ctl_user.c edits the users file (the auth daemon notices by itself);
 * ctl_queue.c talks to facteurd over <run_dir>/control.sock (common/ipc.h
 * framing, self PROC_CTL, peer PROC_MASTER) to list and flush the queue
 * and to show the daemons' status.
 */
#ifndef FACTEUR_CTL_H
#define FACTEUR_CTL_H

struct config;

/* name in error messages: "facteurctl", "mailq" or "sendmail" */
extern const char	*ctl_progname;

/* "user add|passwd|del ADDRESS", "user list": argv[0] is "add" etc.;
   returns the exit status */
int	ctl_user(const struct config *, int argc, char **argv);

/* Prints the queue listing Postfix-style; returns 0, or -1 after printing
   why (facteur not running, queue daemon down, protocol error). */
int	ctl_queue_list(const struct config *);
/* Makes the deferred recipients of one message (id) or of all (id NULL or
   "") due now; returns 0 or -1 after printing why. */
int	ctl_queue_flush(const struct config *, const char *id);
/* One line per daemon from facteurd; 0 or -1 after printing why. */
int	ctl_status(const struct config *);

#endif
