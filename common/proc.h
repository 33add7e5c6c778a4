/*
 * The processes of facteur: one id per daemon role, used in IPC HELLO frames,
 * in PEER messages and in log lines.
 */
#ifndef FACTEUR_PROC_H
#define FACTEUR_PROC_H

enum proc_id {
	PROC_MASTER = 0,
	PROC_SMTPD,
	PROC_QUEUE,
	PROC_DELIVER,
	PROC_AUTH,
	PROC_POPD,		/* POP3 pre-login half */
	PROC_POPD_MAIL,		/* POP3 mail half */
	PROC_COUNT,
	PROC_CTL = 100		/* facteurctl, mailq on the control socket */
};

/* daemon names as installed under $(pkglibexecdir) and as seen in logs */
static inline const char *
proc_name(int id)
{
	static const char *names[PROC_COUNT] = {
		"facteurd", "smtpd", "queue", "deliver", "auth", "popd",
		"popd-mail"
	};
	if (id == PROC_CTL)
		return "facteurctl";
	return (id >= 0 && id < PROC_COUNT) ? names[id] : "?";
}

#endif
